#!/usr/bin/env bash
# Signals: SIGTERM lets the request in flight finish (complete answer), then
# the process exits 0; an idle process exits 0 at once. The responder runs
# with --bind behind a real lighttpd (fastcgi "host"/"port", as nginx or
# spawn-fcgi deployments do); the slow request is a batch against a stalled
# origin (faultd), so "in flight" lasts BATCH_TIMEOUT_MS.
source "$(dirname "$0")/lib.sh"
FAULTD=$BUILD_DIR/tests/fault/faultd
DATA=$STATE/data
make_fixture "$DATA"
FPORT=$(free_port)
"$FAULTD" "$FPORT" --max-seconds 120 --quiet > "$STATE/faultd.out" 2>&1 &
track $!
wait_http "http://127.0.0.1:$FPORT/__stats" || fail "faultd starts" "$(cat "$STATE/faultd.out")"
cat > "$STATE/app.env" <<ENV
USE_S3=true
AWS_ACCESS_KEY_ID=AKIDEXAMPLE
AWS_SECRET_ACCESS_KEY=unused-secret
AWS_BUCKET_NAME=stall
S3_ENDPOINT_URL=http://127.0.0.1:$FPORT
LOCAL_STORAGE_DIR=$DATA
TILE_RUNTIME_DIR=$STATE/run
BATCH_TIMEOUT_MS=2000
S3_TIMEOUT_MS=8000
ENV
start_responder() {
	APORT=$(free_port)
	ALOG=$STATE/responder.$APORT.log
	ENV_FILE=$STATE/app.env "$BIN" --bind "127.0.0.1:$APORT" > "$STATE/responder.out" 2> "$ALOG" &
	APID=$!
	track $APID
	local i
	for i in $(seq 1 100); do grep -q "ready:" "$ALOG" && return 0; sleep 0.05; done
	return 1
}
start_responder
PORT=$(free_port)
mkdir -p "$STATE/www"
cat > "$STATE/lighttpd.conf" <<CONF
server.document-root = "$STATE/www"
server.bind = "127.0.0.1"
server.port = $PORT
server.errorlog = "$STATE/error.log"
server.modules += ( "mod_fastcgi" )
fastcgi.server = ( "/api/tiles" => (( "host" => "127.0.0.1", "port" => $APORT, "check-local" => "disable" )) )
CONF
lighttpd -D -f "$STATE/lighttpd.conf" > "$STATE/lighttpd.out" 2>&1 &
track $!
BASE=http://127.0.0.1:$PORT/api/tiles
wait_http "$BASE/health" || fail "lighttpd + --bind responder start" "$(tail -3 "$ALOG")"
req GET "$BASE/health"
expect "--bind responder answers through lighttpd" "$STATUS" 200

# a request in flight when SIGTERM arrives
curl -s -o "$STATE/batch.json" -w '%{http_code}' --max-time 20 "$BASE/4/batch?tiles=10/0/0.jpg&tiles=10/1/0.jpg" > "$STATE/batch.status" &
CPID=$!
sleep 0.7
t0=$(date +%s%3N)
kill -TERM "$APID"
wait "$CPID"
wait "$APID"; rc=$?
t1=$(date +%s%3N)
expect "the request in flight is answered (200)" "$(cat "$STATE/batch.status")" 200
check "  with a complete JSON body" node -e "JSON.parse(require('fs').readFileSync('$STATE/batch.json','utf8'))"
expect "then the process exits 0" "$rc" 0
[ $((t1 - t0)) -lt 4000 ] && pass "  once the request is done ($((t1 - t0)) ms after SIGTERM, batch deadline 2000 ms)" ||
	fail "  exit after the request" "$((t1 - t0)) ms"
check "the stop is logged" grep -q "stopping after [0-9]* requests" "$ALOG"

# an idle process exits at once
start_responder
t0=$(date +%s%3N)
kill -TERM "$APID"
wait "$APID"; rc=$?
t1=$(date +%s%3N)
expect "idle: SIGTERM exits 0" "$rc" 0
[ $((t1 - t0)) -lt 1500 ] && pass "  promptly ($((t1 - t0)) ms)" || fail "  promptly" "$((t1 - t0)) ms"
start_responder
kill -INT "$APID"
wait "$APID"; rc=$?
expect "idle: SIGINT exits 0" "$rc" 0
cat "$STATE"/responder.*.log > "$STATE/all.log"
check "no sanitizer report" asan_clean "$STATE/all.log"
finish
