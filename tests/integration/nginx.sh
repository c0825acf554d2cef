#!/usr/bin/env bash
# Integration: a real nginx on 127.0.0.1 whose server block includes
# deploy/nginx/astropixel-tiles.conf, in front of a pool of 2 responders
# started with the command line of deploy/systemd/astropixel-tiles-spawn.service
# (spawn-fcgi forking them on one socket, as the unit's user), then of the
# single process of deploy/systemd/astropixel-tiles.service (--bind); paths
# substituted. Covers SPEC 3 and 4 through nginx (the shared smoke suite),
# issue 7 §3 (keep-alive to nginx does not starve anyone) and checks both
# units with systemd-analyze.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/smoke.sh"

N=2			# processes of the spawn-fcgi pool in this test
MAX_WAIT_S=1		# issue 7 §3: a request beside 8 busy clients answers within this
SPAWN_UNIT=$IT_ROOT/deploy/systemd/astropixel-tiles-spawn.service
BIND_UNIT=$IT_ROOT/deploy/systemd/astropixel-tiles.service

for c in nginx spawn-fcgi wrk setpriv; do
	if ! command -v "$c" >/dev/null; then
		fail "$c is installed" "run tests/scripts/install-deps.sh"
		finish
		exit 1
	fi
done

# ---- the units are valid systemd units ---------------------------------------
# (verified offline against a root that holds the programs they name)
if command -v systemd-analyze >/dev/null && [ -d /usr/lib/systemd/system ]; then
	R=$STATE/sdroot
	mkdir -p "$R/usr/local/sbin" "$R/usr/bin" "$R/etc/systemd/system" "$R/usr/lib/systemd"
	cp -r /usr/lib/systemd/system "$R/usr/lib/systemd/"
	cp "$BIN" "$R/usr/local/sbin/astropixel-tiles"
	cp "$(command -v spawn-fcgi)" "$(command -v systemd-cat)" "$R/usr/bin/"
	cp "$SPAWN_UNIT" "$BIND_UNIT" "$R/etc/systemd/system/"
	out=$(systemd-analyze verify --man=no --root="$R" /etc/systemd/system/astropixel-tiles.service \
		/etc/systemd/system/astropixel-tiles-spawn.service 2>&1)
	expect "systemd-analyze verify accepts both units" "$out" ""
	rm -rf "$R"
else
	echo "# skip: systemd-analyze not available, units not verified"
fi

# ---- state: what the unit's user (www-data) reads and writes -------------------
DATA=$STATE/data
make_fixture "$DATA"
NG=$STATE/nginx
mkdir -p "$STATE/bin" "$STATE/run" "$STATE/shm" "$NG/tmp" "$NG/www"
cp "$BIN" "$STATE/bin/astropixel-tiles"
chmod 755 "$STATE/bin/astropixel-tiles"
: > "$STATE/backend.log"
chown www-data:www-data "$STATE/run" "$STATE/shm" "$STATE/backend.log" "$NG/tmp"
chmod -R a+rX "$STATE"
shipped_env "$DATA"
SOCK=$STATE/run/astropixel-tiles.sock
# stands in for systemd-cat (no journald here): the responders' stderr to a log
cat > "$STATE/bin/journal" <<SH
#!/bin/sh
exec "\$@" 2>> "$STATE/backend.log"
SH
chmod 755 "$STATE/bin/journal"

# unit_exec UNIT: the unit's ExecStart with this test's paths, as words
unit_exec() {
	sed -n 's/^ExecStart=//p' "$1" | sed \
		-e "s|/run/astropixel-tiles/astropixel-tiles.sock|$SOCK|g" \
		-e "s|/usr/local/sbin/astropixel-tiles|$STATE/bin/astropixel-tiles|g" \
		-e "s|/usr/bin/systemd-cat --identifier=astropixel-tiles|$STATE/bin/journal|g" \
		-e "s|-F [0-9][0-9]*|-F $N|"
}
# run_as_unit UNIT CMD...: execs CMD as systemd would: the unit's
# User/Group/UMask and a clean environment holding its Environment= (and the
# sanitizer options). Replaces the calling shell: call it in a subshell.
run_as_unit() {
	local unit=$1 user group env_file keep=() v
	shift
	user=$(sed -n 's/^User=//p' "$unit")
	group=$(sed -n 's/^Group=//p' "$unit")
	env_file=$(sed -n 's/^Environment=ENV_FILE=//p' "$unit")
	[ "$env_file" = /usr/local/etc/astropixel-tiles/astropixel-tiles.env ] || return 1
	for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do [ -n "${!v:-}" ] && keep+=("$v=${!v}"); done
	umask "$(sed -n 's/^UMask=//p' "$unit")"
	exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		ENV_FILE="$STATE/app.env" "${keep[@]}" \
		setpriv --reuid="$user" --regid="$group" --init-groups -- "$@"
}

# backlog: connections waiting on the responders' socket, accepted by no one
backlog() { ss -xlnH 2>/dev/null | awk -v s="$SOCK" '$5 == s { print $3 }'; }

# ---- the pool: spawn-fcgi as the spawn unit runs it ---------------------------
read -ra SPAWN_CMD <<< "$(unit_exec "$SPAWN_UNIT")"
echo "# ExecStart of the spawn unit here: ${SPAWN_CMD[*]}"
expect_match "spawn unit forks a pool (spawn-fcgi without -n)" "${SPAWN_CMD[*]}" "^/usr/bin/spawn-fcgi -F $N "
(run_as_unit "$SPAWN_UNIT" "${SPAWN_CMD[@]}") > "$STATE/spawn.out" 2>&1
expect "spawn-fcgi exits 0 after forking (Type=forking)" "$?" 0
POOL_PIDS=$(sed -n 's/.*child spawned successfully: PID: \([0-9]*\).*/\1/p' "$STATE/spawn.out" | tr '\n' ' ')
for p in $POOL_PIDS; do track "$p"; done
expect "spawn-fcgi started $N responders (pids $POOL_PIDS)" "$(echo $POOL_PIDS | wc -w)" "$N"
expect "the socket is the unit's user's, mode 0660" "$(stat -c '%U %a' "$SOCK" 2>/dev/null)" "www-data 660"
expect "the responders run as the unit's user" \
	"$(for p in $POOL_PIDS; do ps -o user= -p "$p"; done | sort -u | tr -d ' \n')" www-data

# ---- nginx with the deploy snippet in its server block --------------------------
sed -e "s|unix:/run/astropixel-tiles/astropixel-tiles.sock|unix:$SOCK|" \
	"$IT_ROOT/deploy/nginx/astropixel-tiles.conf" > "$NG/astropixel-tiles.conf"
cp /etc/nginx/fastcgi_params "$NG/fastcgi_params"	# the distribution's, as in production
cat > "$NG/nginx.conf" <<CONF
daemon off;
user www-data www-data;
worker_processes 2;
pid $NG/nginx.pid;
error_log $NG/error.log info;
events { worker_connections 256; }
http {
	access_log $NG/access.log;
	client_body_temp_path $NG/tmp/body;
	fastcgi_temp_path $NG/tmp/fastcgi;
	proxy_temp_path $NG/tmp/proxy;
	uwsgi_temp_path $NG/tmp/uwsgi;
	scgi_temp_path $NG/tmp/scgi;
	server {
		include $NG/listen.conf;
		server_name localhost;
		root $NG/www;
		include $NG/astropixel-tiles.conf;
	}
}
CONF
# start_nginx CONF LISTEN_FILE: sets PID_ and PORT_; free_port only knows
# listeners, a port may still be some connection's local one: then another
start_nginx() {
	local attempt
	for attempt in 1 2 3; do
		PORT_=$(free_port)
		echo "listen 127.0.0.1:$PORT_;" > "$2"
		setsid nginx -c "$1" -p "$NG/" > "$NG/out.$attempt.log" 2>&1 &
		PID_=$!
		track "$PID_"
		wait_http "http://127.0.0.1:$PORT_/api/tiles/health" 100 && return 0
		kill -0 "$PID_" 2>/dev/null && return 1	# running but not answering
	done
	return 1
}
echo "listen 127.0.0.1:1;" > "$NG/listen.conf"
nginx -t -c "$NG/nginx.conf" -p "$NG/" > "$NG/configtest.out" 2>&1
check "nginx -t accepts the configuration" grep -q "test is successful" "$NG/configtest.out"
if ! start_nginx "$NG/nginx.conf" "$NG/listen.conf"; then
	fail "nginx starts" "$(cat "$NG"/out.*.log "$NG/error.log" 2>/dev/null | tail -5)"
	finish
	exit 1
fi
NPID=$PID_ PORT=$PORT_
BASE="http://127.0.0.1:$PORT/api/tiles"
pass "nginx starts with deploy/nginx/astropixel-tiles.conf in its server block (pid $NPID)"

req GET "$BASE/health"
expect "health through nginx is 200 ok" "$STATUS/$(json j.status)" "200/ok"
req GET "$BASE/1/10/1/1.jpg?x=1"
expect "REQUEST_URI reaches the responder unchanged (query string included)" "$STATUS" 200
head -c 10000 /dev/zero > "$STATE/big.body"
curl -s -o "$BODY" -w '%{http_code}' --max-time 20 -X POST --data-binary "@$STATE/big.body" \
	"$BASE/1/prefetch?z=10&x0=0&x1=0&y0=0&y1=0" > "$STATE/status" || true
expect "a request body over the responder's limit is a JSON 413" "$(cat "$STATE/status")/$(head -c 10 "$BODY")" '413/{"detail":'

run_smoke "$BASE" it-secret-key

# ---- keep-alive: clients holding connections to nginx starve no one -------------
# 8 clients keep their connections to nginx busy for 3 s; meanwhile single
# requests on fresh connections must each be answered within MAX_WAIT_S.
wrk -t2 -c8 -d3s "$BASE/1/10/1/1.jpg" > "$STATE/wrk.out" 2>&1 &
WPID=$!
sleep 0.5
worst=0
for i in 1 2 3 4 5; do
	t=$(curl -s -o /dev/null -w '%{time_total}' --max-time 5 -H 'Connection: close' \
		"$BASE/1/10/0/0.jpg" || echo 5)
	worst=$(awk -v a="$worst" -v b="$t" 'BEGIN { print (b > a) ? b : a }')
	sleep 0.3
done
wait "$WPID"
sleep 0.3
left=$(backlog)
echo "# nginx, $N responders, wrk -c8 holding connections: slowest of 5 concurrent curl requests ${worst}s"
echo "#   wrk: $(awk '/^Requests\/sec/ { print $2 " req/s" } /^ +Latency/ { print "max latency " $4 }' "$STATE/wrk.out" | tr '\n' ' ')"
expect "a request beside 8 busy keep-alive clients is answered within ${MAX_WAIT_S}s (slowest ${worst}s)" \
	"$(awk -v w="$worst" -v l="$MAX_WAIT_S" 'BEGIN { print (w < l) ? "yes" : "no" }')" yes
expect "after the load no connection is left waiting on the socket" "$left" 0
expect "wrk through nginx: no socket errors" "$(grep -c 'Socket errors' "$STATE/wrk.out")" 0
expect "wrk through nginx: no non-2xx answers" "$(grep -c 'Non-2xx' "$STATE/wrk.out")" 0

# The same load with fastcgi_keep_conn on (and an upstream that keeps
# connections), the setting that pins a classic single-threaded responder to
# one nginx worker's idle connection: the responder watches its kept
# connections and the socket together and serves them in turn, so nothing
# starves either. (Before it did, this very check showed 2 s timeouts and
# connections left waiting.) A second nginx on another port; its
# keepalive_requests is raised so that nginx does not recycle a kept
# connection after 1000 requests, which would unblock a pinned responder.
sed -e "s|fastcgi_pass unix:$SOCK;|fastcgi_pass kept;|" -e 's|fastcgi_keep_conn off;|fastcgi_keep_conn on;|' \
	"$NG/astropixel-tiles.conf" > "$NG/kept.conf"
sed -e "s|include $NG/astropixel-tiles.conf;|include $NG/kept.conf;|" -e "s|$NG/listen.conf|$NG/kept-listen.conf|" \
	-e "s|$NG/nginx.pid|$NG/kept.pid|" -e "s|$NG/error.log|$NG/kept-error.log|" \
	-e "s|^http {|http {\n\tupstream kept { server unix:$SOCK; keepalive 8; keepalive_requests 1000000; }|" \
	"$NG/nginx.conf" > "$NG/kept-nginx.conf"
start_nginx "$NG/kept-nginx.conf" "$NG/kept-listen.conf" || fail "control nginx starts" "$(tail -3 "$NG/kept-error.log")"
KPID=$PID_ PORT2=$PORT_
wrk -t2 -c8 -d3s "http://127.0.0.1:$PORT2/api/tiles/1/10/1/1.jpg" > "$STATE/kept-wrk.out" 2>&1 &
WPID=$!
sleep 0.5
kept_worst=0
for i in 1 2 3 4 5; do
	t=$(curl -s -o /dev/null -w '%{time_total}' --max-time 2 -H 'Connection: close' \
		"http://127.0.0.1:$PORT2/api/tiles/1/10/0/0.jpg")
	kept_worst=$(awk -v a="$kept_worst" -v b="$t" 'BEGIN { print (b > a) ? b : a }')
	sleep 0.3
done
wait "$WPID"
sleep 0.3
kept_left=$(backlog)	# connections waiting on the socket while responders hold kept ones
stop_pid "$KPID"
echo "# fastcgi_keep_conn on: slowest of 5 curl requests ${kept_worst}s (curl gives up at 2 s);" \
	"after the load, ${kept_left:-?} connections left waiting on the socket"
expect "with fastcgi_keep_conn on, a request beside 8 busy clients is still answered within ${MAX_WAIT_S}s (slowest ${kept_worst}s)" \
	"$(awk -v w="$kept_worst" -v l="$MAX_WAIT_S" 'BEGIN { print (w < l && w > 0) ? "yes" : "no" }')" yes
expect "with fastcgi_keep_conn on, no connection is left waiting on the socket" "${kept_left:-?}" 0
expect "with fastcgi_keep_conn on, wrk saw no socket errors" "$(grep -c 'Socket errors' "$STATE/kept-wrk.out")" 0
expect "with fastcgi_keep_conn on, wrk saw no non-2xx answers" "$(grep -c 'Non-2xx' "$STATE/kept-wrk.out")" 0
echo "#   wrk with keep-conn: $(awk '/^Requests\/sec/ { print $2 " req/s" } /^ +Latency/ { print "max latency " $4 }' "$STATE/kept-wrk.out" | tr '\n' ' ')"
req GET "$BASE/health"
expect "after the keep-alive nginx stops, the pool serves nginx again" "$STATUS" 200

# ---- stopping the pool (KillSignal=SIGTERM to every process) ---------------------
for p in $POOL_PIDS; do kill -TERM "$p"; done
gone=0
for _ in $(seq 1 50); do
	gone=0
	for p in $POOL_PIDS; do kill -0 "$p" 2>/dev/null || gone=$((gone + 1)); done
	[ "$gone" -eq "$N" ] && break
	sleep 0.1
done
expect "SIGTERM stops every process of the pool" "$gone" "$N"
expect "each process logged its orderly stop" "$(grep -c 'info: stopping after' "$STATE/backend.log")" "$N"

# ---- the --bind unit's single process on the same socket ---------------------------
read -ra BIND_CMD <<< "$(unit_exec "$BIND_UNIT")"
echo "# ExecStart of the --bind unit here: ${BIND_CMD[*]}"
# (under systemd the journal takes stderr; here the stand-in does)
run_as_unit "$BIND_UNIT" "$STATE/bin/journal" "${BIND_CMD[@]}" &
BPID=$!	# the responder itself: every step execs the next
track "$BPID"
for _ in $(seq 1 50); do
	[ "$(stat -c %U "$SOCK" 2>/dev/null)" = www-data ] && grep -q "listening on $SOCK" "$STATE/backend.log" && break
	sleep 0.1
done
req GET "$BASE/health"
expect "the --bind unit's process answers through the same nginx file" "$STATUS/$(json j.status)" "200/ok"
req GET "$BASE/2/10/0/0.png" -H "Authorization: Bearer $("$MKTOKEN" it-secret-key 7 3600)"
expect "a private tile through the --bind process" "$STATUS" 200
# issue 12.8: a kept connection survives a POST with a body. One process,
# nginx keeping up to 8 connections to it: 40 POSTs with a body between 40
# GETs must not make nginx open new connections (the responder counts the
# connections it accepted; health reports it).
: > "$NG/kept-error.log"
start_nginx "$NG/kept-nginx.conf" "$NG/kept-listen.conf" || fail "keep-conn nginx restarts" "$(tail -3 "$NG/kept-error.log")"
KPID=$PID_ KBASE="http://127.0.0.1:$PORT_/api/tiles"
head -c 300 /dev/urandom | base64 > "$STATE/post.body"
req GET "$KBASE/health"
a0=$(json j.fastcgi.connections_accepted)
bad=0
for i in $(seq 1 40); do
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X POST --data-binary "@$STATE/post.body" \
		"$KBASE/1/prefetch?z=10&x0=0&x1=0&y0=0&y1=0")
	[ "$code" = 202 ] || bad=$((bad + 1))
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$KBASE/1/10/1/1.jpg")
	[ "$code" = 200 ] || bad=$((bad + 1))
done
req GET "$KBASE/health"
a1=$(json j.fastcgi.connections_accepted)
stop_pid "$KPID"
expect "12.8: 40 POSTs with a body and 40 GETs over kept connections: all answered 2xx" "$bad" 0
expect "12.8: and nginx kept its connections (accepted $a0 -> $a1: at most its 8 more)" \
	"$([ -n "$a1" ] && [ $((a1 - a0)) -le 8 ] && echo yes)" yes
expect "12.8: no connection closed under nginx" "$(grep -c 'prematurely closed\|recv() failed' "$NG/kept-error.log")" 0

kill -TERM "$BPID"
wait "$BPID"
expect "the --bind process exits 0 on SIGTERM" "$?" 0

stop_pid "$NPID"
cat "$STATE/backend.log" "$STATE/spawn.out" "$NG"/*error.log "$NG"/out.*.log > "$STATE/all.log" 2>/dev/null
check "no sanitizer report in the logs" asan_clean "$STATE/all.log"
check "secrets never reach the log" bash -c "! grep -q 'it-secret-key' '$STATE/all.log'"
check "effective configuration is logged at start" grep -q "effective configuration:.*LOCAL_STORAGE_DIR=$DATA" "$STATE/backend.log"
finish
