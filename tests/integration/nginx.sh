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

# ---- the pool: spawn-fcgi as the spawn unit runs it (lib.sh) -------------------
DATA=$STATE/data
make_fixture "$DATA"
NG=$STATE/nginx
mkdir -p "$NG/tmp" "$NG/www"
unit_state "$DATA"
chown www-data:www-data "$NG/tmp"
chmod -R a+rX "$STATE"
start_unit_pool "$N"

# ---- nginx with the deploy files: the upstream in http { }, the snippet in server { }
sed -e "s|unix:/run/astropixel-tiles/astropixel-tiles.sock|unix:$SOCK|" \
	"$IT_ROOT/deploy/nginx/astropixel-tiles-upstream.conf" > "$NG/astropixel-tiles-upstream.conf"
cp "$IT_ROOT/deploy/nginx/astropixel-tiles.conf" "$NG/astropixel-tiles.conf"
cp /etc/nginx/fastcgi_params "$NG/fastcgi_params"	# the distribution's, as in production
nginx_conf main "$NG/astropixel-tiles.conf"
echo "listen 127.0.0.1:1;" > "$NG/main-listen.conf"
nginx -t -c "$NG/main-nginx.conf" -p "$NG/" > "$NG/configtest.out" 2>&1
check "nginx -t accepts the configuration" grep -q "test is successful" "$NG/configtest.out"
if ! start_nginx main; then
	fail "nginx starts" "$(cat "$NG"/main-out.*.log "$NG/main-error.log" 2>/dev/null | tail -5)"
	finish
	exit 1
fi
NPID=$PID_ PORT=$PORT_
BASE="http://127.0.0.1:$PORT/api/tiles"
pass "nginx starts with the deploy files (keep-conn, upstream keepalive; pid $NPID)"

req GET "$BASE/health"
expect "health through nginx is 200 ok" "$STATUS/$(json j.status)" "200/ok"
req GET "$BASE/1/10/1/1.jpg?x=1"
expect "REQUEST_URI reaches the responder unchanged (query string included)" "$STATUS" 200
head -c 10000 /dev/zero > "$STATE/big.body"
curl -s -o "$BODY" -w '%{http_code}' --max-time 20 -X POST --data-binary "@$STATE/big.body" \
	"$BASE/1/prefetch?z=10&x0=0&x1=0&y0=0&y1=0" > "$STATE/status" || true
expect "a request body over the responder's limit is a JSON 413" "$(cat "$STATE/status")/$(head -c 10 "$BODY")" '413/{"detail":'

run_smoke "$BASE" it-secret-key

# ---- load with kept connections (issue 13): every kept connection holds -------
# wrk -c64 on a cached tile for 3 s, a POST with a body and a batch in the
# middle; nginx's error log must show no connection the responders closed
# under it (nginx retries a GET on another connection and hides it from the
# client: only its log tells), and wrk no error and no non-2xx.
head -c 300 /dev/urandom | base64 > "$STATE/post.body"
# what nginx logs when an upstream connection breaks (not a client leaving)
upstream_errors() {
	grep -cE 'upstream prematurely closed|(recv|readv|writev|send|sendfile)\(\) failed .*(upstream|fastcgi)|reset by peer.*upstream' "$1"
}
load() {	# load NAME BASE: prints "req/s p99 max", checks logs
	local name=$1 base=$2 post mid
	: > "$NG/$name-error.log"
	wrk -t2 -c64 -d3s --latency "$base/1/10/1/1.jpg" > "$STATE/$name-wrk.out" 2>&1 &
	local w=$!
	sleep 1
	post=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST --data-binary "@$STATE/post.body" \
		"$base/1/prefetch?z=10&x0=0&x1=0&y0=0&y1=0")
	mid=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$base/1/batch?tiles=10/0/0.jpg&tiles=10/1/1.jpg")
	wait "$w"
	expect "$name: a POST with a body in the middle of the load is answered" "$post" 202
	expect "$name: a batch in the middle of the load is answered" "$mid" 200
	expect "$name: wrk saw no socket errors and no non-2xx" "$(grep -c 'Socket errors\|Non-2xx' "$STATE/$name-wrk.out")" 0
	expect "$name: nginx logged no connection the responders closed under it" \
		"$(upstream_errors "$NG/$name-error.log")" 0
	echo "# $name: $(awk '/^Requests\/sec/ { print $2 }' "$STATE/$name-wrk.out") req/s," \
		"p99 $(awk '$1 == "99%" { print $2 }' "$STATE/$name-wrk.out")," \
		"max $(awk '/^ +Latency/ { print $4 }' "$STATE/$name-wrk.out")"
}
load main "$BASE"
# the issue's failing case: an upstream that keeps only 8 per worker
sed -e 's/keepalive 32;/keepalive 8;/' "$NG/astropixel-tiles-upstream.conf" > "$NG/k8-upstream.conf"
nginx_conf k8 "$NG/astropixel-tiles.conf" "$NG/k8-upstream.conf"
start_nginx k8 || fail "nginx (keepalive 8) starts" "$(tail -3 "$NG/k8-error.log")"
K8PID=$PID_
load k8 "http://127.0.0.1:$PORT_/api/tiles"
stop_pid "$K8PID"
# and the classic setting: no kept connections at all
sed -e 's|fastcgi_keep_conn on;|fastcgi_keep_conn off;|' "$NG/astropixel-tiles.conf" > "$NG/nokeep.conf"
nginx_conf nokeep "$NG/nokeep.conf"
start_nginx nokeep || fail "nginx (no keep-conn) starts" "$(tail -3 "$NG/nokeep-error.log")"
NKPID=$PID_
load nokeep "http://127.0.0.1:$PORT_/api/tiles"
stop_pid "$NKPID"
left=$(backlog)
expect "after the load no connection is left waiting on the socket" "$left" 0
req GET "$BASE/health"
expect "after the load the pool serves nginx again" "$STATUS" 200

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
read -ra BIND_CMD <<< "$(unit_exec "$BIND_UNIT" "$N")"
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
# the shipped nginx keeping up to 32 connections per worker to it: 40 POSTs
# with a body between 40 GETs must not make nginx open new connections (the
# responder counts the connections it accepted; health reports it).
: > "$NG/main-error.log"
KBASE=$BASE
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
expect "12.8: 40 POSTs with a body and 40 GETs over kept connections: all answered 2xx" "$bad" 0
expect "12.8: and nginx kept its connections (accepted $a0 -> $a1: at most 2 workers x 2 more)" \
	"$([ -n "$a1" ] && [ $((a1 - a0)) -le 4 ] && echo yes)" yes
expect "12.8: no connection closed under nginx" "$(upstream_errors "$NG/main-error.log")" 0

kill -TERM "$BPID"
wait "$BPID"
expect "the --bind process exits 0 on SIGTERM" "$?" 0

stop_pid "$NPID"
cat "$STATE/backend.log" "$STATE/spawn.out" "$NG"/*error.log "$NG"/*-out.*.log > "$STATE/all.log" 2>/dev/null
check "no sanitizer report in the logs" asan_clean "$STATE/all.log"
check "secrets never reach the log" bash -c "! grep -q 'it-secret-key' '$STATE/all.log'"
check "effective configuration is logged at start" grep -q "effective configuration:.*LOCAL_STORAGE_DIR=$DATA" "$STATE/backend.log"
finish
