# Shared helpers of the integration tests (sourced, not run).
#
# Every test script: starts its own servers on free 127.0.0.1 ports under a
# private state directory, records every PID it starts and stops them by PID
# on exit, bounds every wait, prints "ok - ..." / "not ok - ... : reason"
# per check and ends with "N passed, M failed" (exit 1 if any failed).

set -uo pipefail
IT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$IT_ROOT/_build/san}
BIN=${BIN:-$BUILD_DIR/astropixel-tiles}
MKTOKEN=${MKTOKEN:-$BUILD_DIR/tests/tools/mktoken}
MKSAMPLE=${MKSAMPLE:-$BUILD_DIR/tests/sample/mksample}
PASSED=0
FAILED=0
PIDS=()
STATE=$(mktemp -d "${TMPDIR:-/tmp}/ap-it.XXXXXX")
chmod 755 "$STATE"

pass() { PASSED=$((PASSED + 1)); echo "ok - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "not ok - $1: $2"; }
# check DESC COMMAND...: passes if the command succeeds
check() { local d=$1; shift; if "$@" >/dev/null 2>&1; then pass "$d"; else fail "$d" "command failed: $*"; fi; }
# expect DESC GOT WANT
expect() { if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "got '$2', want '$3'"; fi; }
# expect_match DESC TEXT REGEX
expect_match() { if printf '%s' "$2" | grep -Eq -- "$3"; then pass "$1"; else fail "$1" "'$(printf '%s' "$2" | head -c 300)' does not match /$3/"; fi; }
expect_nomatch() { if printf '%s' "$2" | grep -Eq -- "$3"; then fail "$1" "'$(printf '%s' "$2" | head -c 300)' matches /$3/"; else pass "$1"; fi; }

finish() {
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}

# A free TCP port on 127.0.0.1 (bounded tries).
free_port() {
	local p i
	for i in $(seq 1 200); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		# any state: a port held by an established connection cannot be bound either
		if ! ss -Htan "( sport = :$p )" 2>/dev/null | grep -q .; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

track() { PIDS+=("$1"); }

stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
	[ -n "${KEEP_STATE:-}" ] || rm -rf "$STATE"
}
trap cleanup EXIT

# wait_http URL [tries]: until it answers at all (bounded)
wait_http() {
	local i
	for i in $(seq 1 "${2:-100}"); do
		curl -s -o /dev/null --max-time 1 "$1" && return 0
		sleep 0.1
	done
	return 1
}

# req METHOD URL [curl args...]: sets STATUS, HDRS (file), BODY (file)
HDRS=$STATE/last.headers
BODY=$STATE/last.body
req() {
	local m=$1 u=$2 how
	shift 2
	rm -f "$BODY" "$HDRS"
	# curl leaves no file for an empty body (304, HEAD)
	how=(-X "$m")
	# HEAD: ask for the body anyway on a closing connection, so bytes sent after
	# the headers would land in the file (curl then ends with a partial-file error)
	[ "$m" = HEAD ] && how=(-X HEAD -H 'Connection: close')
	[ "$m" = POST ] && how=(-X POST --data-binary '')
	STATUS=$(curl -s -o "$BODY" -D "$HDRS" -w '%{http_code}' --max-time 20 "${how[@]}" "$@" "$u") || STATUS=${STATUS:-000}
	[ -f "$BODY" ] || : > "$BODY"
	return 0
}
# header NAME: value of a response header of the last req (trimmed)
header() { grep -i "^$1:" "$HDRS" | head -1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }
body() { cat "$BODY"; }
# json EXPR: evaluates a JavaScript expression on the last body as `j`
json() { node -e "const j=JSON.parse(require('fs').readFileSync('$BODY','utf8')); const v=($1); console.log(typeof v==='object'?JSON.stringify(v):String(v))" 2>/dev/null; }

# make_fixture DIR: a small tree: dataset 1 public jpg 600x400, 2 private
# (owner 7) png, 3 processing, 4 public jpg with some tiles only as png.
make_fixture() {
	local d=$1
	"$MKSAMPLE" --out "$d" --id 1 --width 600 --height 400 --quiet
	"$MKSAMPLE" --out "$d" --id 2 --width 600 --height 400 --private --owner 7 --format png --quiet
	"$MKSAMPLE" --out "$d" --id 3 --width 600 --height 400 --status processing --quiet
	"$MKSAMPLE" --out "$d" --id 4 --width 600 --height 400 --quiet
	# dataset 4: tile 10/2/1 is missing in every format, 10/1/1 exists only as png
	rm -f "$d/tiles/4/10/2/1.jpg"
	rm -f "$d/tiles/4/10/1/1.jpg"
	"$MKSAMPLE" --out "$STATE/png4" --id 4 --width 600 --height 400 --format png --quiet
	cp "$STATE/png4/tiles/4/10/1/1.png" "$d/tiles/4/10/1/1.png"
}

# lighttpd_instance DIR ENV_FILE [PROCS]: a real lighttpd on a free port,
# started from deploy/lighttpd/astropixel-tiles.conf with its paths
# substituted (and PROCS responders instead of 2), everything of it under DIR
# (one "host"). Logs: DIR/error.log, DIR/backend.log (the responders'),
# DIR/lighttpd.out. Extra lighttpd lines can be given in $LIGHTTPD_EXTRA.
# Sets IPORT, IPID; waits until health answers.
lighttpd_instance() {
	local dir=$1 env=$2 procs=${3:-2}
	IPORT=$(free_port)
	mkdir -p "$dir/www"
	sed -e "s|/usr/local/sbin/astropixel-tiles|$BIN|" \
	    -e "s|/run/lighttpd/astropixel-tiles.sock|$dir/fcgi.$IPORT.sock|" \
	    -e "s|/usr/local/etc/astropixel-tiles/astropixel-tiles.env|$env|" \
	    -e "s|\"max-procs\" => 2|\"max-procs\" => $procs|" \
	    -e 's|"bin-copy-environment" => ( "PATH", "TMPDIR" )|"bin-copy-environment" => ( "PATH", "TMPDIR", "ASAN_OPTIONS", "UBSAN_OPTIONS" )|' \
	    "$IT_ROOT/deploy/lighttpd/astropixel-tiles.conf" > "$dir/astropixel-tiles.conf"
	cat > "$dir/lighttpd.conf" <<CONF
server.document-root = "$dir/www"
server.bind = "127.0.0.1"
server.port = $IPORT
server.errorlog = "$dir/error.log"
server.breakagelog = "$dir/backend.log"
${LIGHTTPD_EXTRA:-}
include "$dir/astropixel-tiles.conf"
CONF
	lighttpd -D -f "$dir/lighttpd.conf" >> "$dir/lighttpd.out" 2>&1 &
	IPID=$!
	track "$IPID"
	wait_http "http://127.0.0.1:$IPORT/api/tiles/health" 100
}

# lighttpd_from_deploy ENV_FILE [PROCS]: lighttpd_instance under $STATE; a
# previous one of this test is stopped first. Sets PORT, BASE, LPID.
LPID=""
lighttpd_from_deploy() {
	local rc
	[ -n "$LPID" ] && stop_pid "$LPID"
	lighttpd_instance "$STATE" "$1" "${2:-2}"
	rc=$?
	PORT=$IPORT
	LPID=$IPID
	BASE=http://127.0.0.1:$PORT/api/tiles
	return $rc
}

# start_swift / stop_swift: Swift + s3api (tests/scripts/swift.sh) under
# $STATE/swift on a free port, retried on port races; sets SWPORT, EP.
start_swift() {
	local i
	for i in 1 2 3 4 5; do
		SWPORT=${SWPORT:-$(free_port)}
		if bash "$IT_ROOT/tests/scripts/swift.sh" start "$STATE/swift" "$SWPORT" > "$STATE/swift-start.log" 2>&1; then
			EP=http://127.0.0.1:$SWPORT
			return 0
		fi
		unset SWPORT
	done
	return 1
}
stop_swift() { bash "$IT_ROOT/tests/scripts/swift.sh" stop "$STATE/swift" >/dev/null 2>&1 || true; }
# require_swift: starts it (stopped on exit) or ends the test with the reason
require_swift() {
	trap 'stop_swift; cleanup' EXIT
	if ! start_swift; then
		fail "Swift + s3api starts" "$(tail -5 "$STATE/swift-start.log")"
		finish
		exit 1
	fi
	pass "Swift + s3api starts (signature-checking S3 on 127.0.0.1:$SWPORT)"
}

# shipped_env DATA: $STATE/app.env = the sample env file as shipped, then the
# test's values (the last definition wins), readable by a worker user
shipped_env() {
	{
		cat "$IT_ROOT/deploy/astropixel-tiles.env"
		echo "# ---- test values ----"
		echo "LOCAL_STORAGE_DIR=$1"
		echo 'SECRET_KEY="it-secret-key"'
		echo "TILE_RUNTIME_DIR=$STATE/shm/run"
	} > "$STATE/app.env"
	chmod 644 "$STATE/app.env"
}

# asan_clean LOGFILE: no sanitizer report in a log
asan_clean() { ! grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$1"; }

# ---- a responder pool as the systemd units start it ----------------------------
SPAWN_UNIT=$IT_ROOT/deploy/systemd/astropixel-tiles-spawn.service
BIND_UNIT=$IT_ROOT/deploy/systemd/astropixel-tiles.service

# unit_state DATA: what the units' user (www-data) reads and writes: the
# binary copied to $STATE/bin, $STATE/run (the socket, SOCK), the shipped env
# file for DATA, and a stand-in for systemd-cat writing $STATE/backend.log
unit_state() {
	mkdir -p "$STATE/bin" "$STATE/run" "$STATE/shm"
	cp "$BIN" "$STATE/bin/astropixel-tiles"
	chmod 755 "$STATE/bin/astropixel-tiles"
	: > "$STATE/backend.log"
	chown www-data:www-data "$STATE/run" "$STATE/shm" "$STATE/backend.log"
	chmod -R a+rX "$STATE"
	shipped_env "$1"
	SOCK=$STATE/run/astropixel-tiles.sock
	cat > "$STATE/bin/journal" <<SH
#!/bin/sh
exec "\$@" 2>> "$STATE/backend.log"
SH
	chmod 755 "$STATE/bin/journal"
}

# unit_exec UNIT [N]: the unit's ExecStart with this test's paths (and -F N), as words
unit_exec() {
	sed -n 's/^ExecStart=//p' "$1" | sed \
		-e "s|/run/astropixel-tiles/astropixel-tiles.sock|$SOCK|g" \
		-e "s|/usr/local/sbin/astropixel-tiles|$STATE/bin/astropixel-tiles|g" \
		-e "s|/usr/bin/systemd-cat --identifier=astropixel-tiles|$STATE/bin/journal|g" \
		-e "s|-F [0-9][0-9]*|-F ${2:-2}|"
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

# start_unit_pool N: spawn-fcgi as the spawn unit runs it, N responders on
# SOCK as the unit's user (checked); sets POOL_PIDS
start_unit_pool() {
	local n=$1 p
	read -ra SPAWN_CMD <<< "$(unit_exec "$SPAWN_UNIT" "$n")"
	echo "# ExecStart of the spawn unit here: ${SPAWN_CMD[*]}"
	expect_match "spawn unit forks a pool (spawn-fcgi without -n)" "${SPAWN_CMD[*]}" "^/usr/bin/spawn-fcgi -F $n "
	(run_as_unit "$SPAWN_UNIT" "${SPAWN_CMD[@]}") > "$STATE/spawn.out" 2>&1
	expect "spawn-fcgi exits 0 after forking (Type=forking)" "$?" 0
	POOL_PIDS=$(sed -n 's/.*child spawned successfully: PID: \([0-9]*\).*/\1/p' "$STATE/spawn.out" | tr '\n' ' ')
	for p in $POOL_PIDS; do track "$p"; done
	expect "spawn-fcgi started $n responders (pids $POOL_PIDS)" "$(echo $POOL_PIDS | wc -w)" "$n"
	expect "the socket is the unit's user's, mode 0660" "$(stat -c '%U %a' "$SOCK" 2>/dev/null)" "www-data 660"
	expect "the responders run as the unit's user" \
		"$(for p in $POOL_PIDS; do ps -o user= -p "$p"; done | sort -u | tr -d ' \n')" www-data
}

# ---- a real Redis as the shared tier --------------------------------------------
# start_redis DIR [redis-server args...]: redis-server with the shipped
# deploy/redis/astropixel-tiles-redis.conf, its socket DIR/redis.sock (DIR
# 0700) and whatever the args add (--port P: also 127.0.0.1:P). The same
# args again restart it (restart_redis). Sets RPID (tracked), RSOCK; waits
# until it answers PING (bounded).
RARGS=()
start_redis() {
	local dir=$1 i
	shift
	RDIR=$dir
	RARGS=("$@")
	mkdir -p "$dir"
	chmod 700 "$dir"
	RSOCK=$dir/redis.sock
	redis-server "$IT_ROOT/deploy/redis/astropixel-tiles-redis.conf" --unixsocket "$RSOCK" \
		--unixsocketperm 700 --dir "$dir" --bind 127.0.0.1 "${RARGS[@]}" >> "$dir/redis.log" 2>&1 &
	RPID=$!
	track "$RPID"
	for i in $(seq 1 100); do
		[ "$(redis-cli -s "$RSOCK" ${REDISCLI_AUTH:+--no-auth-warning} ping 2>/dev/null)" = PONG ] && return 0
		# a password-protected one answers NOAUTH: it is up
		redis-cli -s "$RSOCK" ping 2>/dev/null | grep -q NOAUTH && return 0
		kill -0 "$RPID" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
# kill_redis [SIGNAL]: stops it at once (SIGKILL by default: no goodbye)
kill_redis() {
	kill "-${1:-KILL}" "$RPID" 2>/dev/null
	for _ in $(seq 1 100); do kill -0 "$RPID" 2>/dev/null || break; sleep 0.05; done
	rm -f "$RSOCK"
}
restart_redis() { kill_redis "${1:-KILL}"; start_redis "$RDIR" "${RARGS[@]}"; }
# rcli ARGS...: redis-cli on the socket
rcli() { redis-cli -s "$RSOCK" "$@"; }

# ---- nginx and Apache from the deploy files (nginx.sh, apache-proxy.sh, edge.sh) -
# nginx: $NG is its directory (tmp/ www/ inside, owned by www-data). Apache:
# $AP its directory (logs/ run/ htdocs/), $MODULES Apache's modules; extra
# LoadModule lines for a configuration in $APACHE_MODULES_EXTRA.
MODULES=${MODULES:-/usr/lib/apache2/modules}
# nginx_conf NAME SNIPPET [UPSTREAM_FILE]: an nginx.conf with its own pid, logs, listen file
nginx_conf() {
	cat > "$NG/$1-nginx.conf" <<CONF
daemon off;
user www-data www-data;
worker_processes 2;
pid $NG/$1.pid;
error_log $NG/$1-error.log info;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $NG/tmp/body;
	fastcgi_temp_path $NG/tmp/fastcgi;
	proxy_temp_path $NG/tmp/proxy;
	uwsgi_temp_path $NG/tmp/uwsgi;
	scgi_temp_path $NG/tmp/scgi;
	include ${3:-$NG/astropixel-tiles-upstream.conf};
	${NGINX_HTTP_EXTRA:-}
	server {
		include $NG/$1-listen.conf;
		server_name localhost;
		root $NG/www;
		include $2;
	}
}
CONF
}
# start_nginx NAME: sets PID_ and PORT_; free_port only knows listeners, a
# port may still be some connection's local one: then another
start_nginx() {
	local attempt
	for attempt in 1 2 3; do
		PORT_=$(free_port)
		echo "listen 127.0.0.1:$PORT_;" > "$NG/$1-listen.conf"
		setsid nginx -c "$NG/$1-nginx.conf" -p "$NG/" > "$NG/$1-out.$attempt.log" 2>&1 &
		PID_=$!
		track "$PID_"
		wait_http "http://127.0.0.1:$PORT_/api/tiles/health" 100 && return 0
		kill -0 "$PID_" 2>/dev/null && return 1	# running but not answering
	done
	return 1
}
apache_conf() {	# apache_conf NAME SNIPPET
	cat > "$AP/$1.httpd.conf" <<CONF
ServerRoot "$AP"
ServerName 127.0.0.1
Include "$AP/$1.listen.conf"
PidFile "$AP/run/$1.pid"
DefaultRuntimeDir "$AP/run"
Mutex file:$AP/run default
ErrorLog "$AP/logs/$1.error.log"
LogLevel warn proxy:warn proxy_fcgi:warn
User www-data
Group www-data
LoadModule mpm_event_module $MODULES/mod_mpm_event.so
LoadModule authz_core_module $MODULES/mod_authz_core.so
LoadModule mime_module $MODULES/mod_mime.so
LoadModule proxy_module $MODULES/mod_proxy.so
LoadModule proxy_fcgi_module $MODULES/mod_proxy_fcgi.so
LoadModule env_module $MODULES/mod_env.so
${APACHE_MODULES_EXTRA:-}
TypesConfig /etc/mime.types
DocumentRoot "$AP/htdocs"
<Directory />
	Require all denied
</Directory>
StartServers 2
ServerLimit 2
ThreadsPerChild 64
MaxRequestWorkers 128
MinSpareThreads 16
MaxSpareThreads 128
Include "$2"
CONF
}
APIDS=()
start_apache() {	# start_apache NAME: sets APORT, APID
	local attempt
	for attempt in 1 2 3; do
		APORT=$(free_port)
		echo "Listen 127.0.0.1:$APORT" > "$AP/$1.listen.conf"
		apache2 -f "$AP/$1.httpd.conf" -k start > "$STATE/apache-$1.out" 2>&1
		grep -q "Address already in use" "$STATE/apache-$1.out" || break
	done
	for _ in $(seq 1 50); do [ -s "$AP/run/$1.pid" ] && break; sleep 0.1; done
	APID=$(cat "$AP/run/$1.pid" 2>/dev/null)
	[ -n "$APID" ] && { track "$APID"; APIDS+=("$APID:$1"); }
	[ -n "$APID" ] && wait_http "http://127.0.0.1:$APORT/api/tiles/health" 100
}
stop_apache() {	# stop_apache NAME PID
	apache2 -f "$AP/$1.httpd.conf" -k stop > /dev/null 2>&1 || kill -TERM "$2" 2>/dev/null
	for _ in $(seq 1 100); do kill -0 "$2" 2>/dev/null || break; sleep 0.1; done
	stop_pid "$2"
}
