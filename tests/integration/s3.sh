#!/usr/bin/env bash
# Integration: the bucket back-end against real servers.
#  - OpenStack Swift + s3api (checks SigV4 signatures): byte-exact tiles and
#    metadata from the bucket, wrong secret refused, the bucket going away
#    mid-run (local fallback within the timeout, degradation in health,
#    recovery after restart);
#  - nginx over TLS + HTTP/2 with its own CA: sequential misses reuse one
#    connection, an untrusted certificate is refused unless the CA is set;
#  - faultd for what real servers will not do on demand: truncated body,
#    stalled body, 500-then-200, oversize object.
source "$(dirname "$0")/lib.sh"
SCRIPTS=$IT_ROOT/tests/scripts
FAULTD=$BUILD_DIR/tests/fault/faultd

DATA=$STATE/data	# what we upload to the bucket
LOCAL=$STATE/local	# the fallback tree
make_fixture "$DATA"
mv "$DATA/tiles/1/10/2/1.jpg" "$STATE/1-10-2-1.jpg"	# in no bucket
"$MKSAMPLE" --out "$DATA" --id 5 --width 600 --height 400 --seed 5 --quiet	# bucket only
mkdir -p "$LOCAL"
cp -r "$DATA/metadata" "$LOCAL/"
mkdir -p "$LOCAL/tiles/1/10/0" && cp "$DATA/tiles/1/10/0/0.jpg" "$LOCAL/tiles/1/10/0/0.jpg"
mkdir -p "$LOCAL/tiles/1/9/1" && cp "$DATA/tiles/1/9/1/0.jpg" "$LOCAL/tiles/1/9/1/0.jpg"
rm -rf "$LOCAL/metadata/datasets/5.json"

# ---- Swift ------------------------------------------------------------------
SW=$STATE/swift
require_swift
bash "$SCRIPTS/s3mb.sh" "$EP" tiles > /dev/null 2>&1 || true
n=0
while IFS= read -r f; do
	key=${f#"$DATA"/}
	bash "$SCRIPTS/s3put.sh" "$EP" tiles "$key" "$f" || { fail "seed bucket" "$key"; break; }
	n=$((n + 1))
done < <(find "$DATA/metadata" "$DATA/tiles/1" "$DATA/tiles/2" "$DATA/tiles/5" -type f | sort)
pass "seeded the bucket with $n objects"

# ---- the S3 client itself (src/s3.c through tests/tools/s3cli) ------------------
S3CLI=$BUILD_DIR/tests/tools/s3cli
cli() { env -i PATH="$PATH" ASAN_OPTIONS="${ASAN_OPTIONS:-}" USE_S3=true AWS_ACCESS_KEY_ID=test:tester \
	AWS_SECRET_ACCESS_KEY=testing AWS_BUCKET_NAME=tiles S3_ENDPOINT_URL="$EP" "$S3CLI" "$@"; }
F=$DATA/tiles/1/10/1/1.jpg
cli PUT probe/one.jpg "$F" --header 'Content-Type: image/jpeg' 2> "$STATE/cli.err"
expect "s3 client PUT is accepted (signed body hash)" "$(grep -o 'status [0-9]*' "$STATE/cli.err")" "status 200"
cli HEAD probe/one.jpg > /dev/null 2> "$STATE/cli.err"
expect "s3 client HEAD: 200" "$(grep -o 'status [0-9]*' "$STATE/cli.err")" "status 200"
expect "  ETag is the MD5 of the object" "$(sed -n 's/^etag "\(.*\)"$/\1/p' "$STATE/cli.err")" "$(md5sum < "$F" | cut -c1-32)"
ET=$(sed -n 's/^etag //p' "$STATE/cli.err")
cli GET probe/one.jpg > "$STATE/cli.out" 2> "$STATE/cli.err"
check "s3 client GET is byte-exact" cmp -s "$STATE/cli.out" "$F"
cli GET probe/one.jpg --header 'Range: bytes=0-9' > "$STATE/cli.out" 2> "$STATE/cli.err"
expect "s3 client GET with Range: 206" "$(grep -o 'status [0-9]*' "$STATE/cli.err")" "status 206"
check "  the 10 bytes asked for" cmp -s "$STATE/cli.out" <(head -c 10 "$F")
cli GET probe/one.jpg --header "If-None-Match: $ET" > "$STATE/cli.out" 2> "$STATE/cli.err"
expect "s3 client GET with If-None-Match: 304" "$(grep -o 'status [0-9]*' "$STATE/cli.err")" "status 304"
cli GET probe/none.jpg > /dev/null 2> "$STATE/cli.err"
expect "s3 client GET of a missing key: 404" "$(grep -o 'status [0-9]*' "$STATE/cli.err")" "status 404"
want=$(find "$DATA/tiles/1" -type f | wc -l)
cli LIST tiles/1/ 3 > "$STATE/list.out" 2> "$STATE/cli.err"
expect "ListObjectsV2 paged 3 at a time lists every object" "$(wc -l < "$STATE/list.out")" "$want"
expect_match "  over several pages" "$(cat "$STATE/cli.err")" "pages $(( (want + 2) / 3 )) objects $want"
env -i PATH="$PATH" USE_S3=true AWS_ACCESS_KEY_ID=test:tester AWS_SECRET_ACCESS_KEY=wrong \
	AWS_BUCKET_NAME=tiles S3_ENDPOINT_URL="$EP" "$S3CLI" HEAD probe/one.jpg > /dev/null 2> "$STATE/cli.err"
expect "a wrong secret is refused by the server" "$(grep -o 'status [0-9]*' "$STATE/cli.err")" "status 403"

s3env() {	# the settings of a responder reading the Swift bucket
	cat <<ENV
USE_S3=true
AWS_ACCESS_KEY_ID=test:tester
AWS_SECRET_ACCESS_KEY=${1:-testing}
AWS_BUCKET_NAME=tiles
S3_ENDPOINT_URL=$EP
LOCAL_STORAGE_DIR=$LOCAL
SECRET_KEY=s3-it-secret
TILE_RUNTIME_DIR=$STATE/run
S3_TIMEOUT_MS=2000
S3_CONNECT_TIMEOUT_MS=1000
S3_FAILURE_THRESHOLD=2
S3_COOLDOWN_SECONDS=2
S3_MAX_RETRIES=1
TILE_CACHE_MAX_TILES=0
METADATA_CACHE_TTL=0
ENV
}
one() {	# one REQUEST [--header ...]: one request through --request mode; sets STATUS, OUT
	env -i PATH="$PATH" ASAN_OPTIONS="${ASAN_OPTIONS:-}" ENV_FILE="$STATE/one.env" \
		"$BIN" --request "$@" > "$STATE/one.out" 2> "$STATE/one.err"
	STATUS=$(head -1 "$STATE/one.out" | awk '{print $2}')
	sed '1,/^\r$/d' "$STATE/one.out" > "$STATE/one.body"
	grep -qi "^$" "$STATE/one.out"
}
src_of() { grep -ai '^X-Tile-Source:' "$STATE/one.out" | cut -d' ' -f2 | tr -d '\r'; }

s3env > "$STATE/one.env"
one 'GET /api/tiles/1/10/1/1.jpg'
expect "bucket tile is 200" "$STATUS" 200
expect "X-Tile-Source: r2" "$(src_of)" r2
check "bucket tile is byte-exact" cmp -s "$STATE/one.body" "$DATA/tiles/1/10/1/1.jpg"
one 'GET /api/tiles/5/10/2/1.jpg'
expect "dataset whose metadata exists only in the bucket is served" "$STATUS/$(src_of)" 200/r2
check "that tile is byte-exact" cmp -s "$STATE/one.body" "$DATA/tiles/5/10/2/1.jpg"
one 'GET /api/tiles/2/10/0/0.png' --header "Authorization: Bearer $("$MKTOKEN" s3-it-secret 7 600)"
expect "private png from the bucket for its owner" "$STATUS/$(src_of)" 200/r2
one 'GET /api/tiles/1/10/2/1.jpg' 
expect "tile missing in the bucket in every format is 404" "$STATUS" 404

mkdir -p "$LOCAL/tiles/1/10/2" && cp "$STATE/1-10-2-1.jpg" "$LOCAL/tiles/1/10/2/1.jpg"
one 'GET /api/tiles/1/10/2/1.jpg'
expect "tile only in the local tree is served from local after the bucket's 404s" "$STATUS/$(src_of)" 200/local
rm -rf "$LOCAL/tiles/1/10/2"

# wrong secret: Swift refuses the signature
s3env wrong-secret > "$STATE/one.env"
one 'GET /api/tiles/1/10/1/1.jpg'
expect "wrong secret: refused by the server, no local copy -> 502" "$STATUS" 502
expect_match "wrong secret: a clear log line" "$(cat "$STATE/one.err")" 'access denied.*AWS_SECRET_ACCESS_KEY'
check "wrong secret: the secret is not logged" bash -c "! grep -q wrong-secret '$STATE/one.err'"
one 'GET /api/tiles/1/10/0/0.jpg'
expect "wrong secret: a tile present locally is still served" "$STATUS/$(src_of)" 200/local

# the bucket goes away mid-run, behind a real lighttpd pool
s3env > "$STATE/app.env"
lighttpd_from_deploy "$STATE/app.env" 1 || fail "lighttpd starts" "$(tail -3 "$STATE/error.log")"
req GET "$BASE/1/10/0/0.jpg"
expect "pool: bucket tile before the outage" "$STATUS/$(header X-Tile-Source)" 200/r2
stop_swift
t0=$(date +%s%3N)
req GET "$BASE/1/10/0/0.jpg"
t1=$(date +%s%3N)
expect "bucket down: tile present locally is served from local" "$STATUS/$(header X-Tile-Source)" 200/local
[ $((t1 - t0)) -lt 3500 ] && pass "bucket down: answered within the timeout ($((t1 - t0)) ms)" ||
	fail "bucket down: answered within the timeout" "$((t1 - t0)) ms"
t0=$(date +%s%3N)
req GET "$BASE/1/10/1/1.jpg"
t1=$(date +%s%3N)
expect_match "bucket down, no local copy: 502 or 504" "$STATUS" '^50[24]$'
[ $((t1 - t0)) -lt 3500 ] && pass "bucket down, no local copy: no hang ($((t1 - t0)) ms)" ||
	fail "bucket down, no local copy: no hang" "$((t1 - t0)) ms"
req GET "$BASE/health"
expect "health reports the degradation" "$STATUS/$(json j.status)" 200/degraded
expect_match "health says what is wrong" "$(body)" 'unreachable'
t0=$(date +%s%3N)
req GET "$BASE/1/9/1/0.jpg"
t1=$(date +%s%3N)
expect "circuit open: local tile served" "$STATUS/$(header X-Tile-Source)" 200/local
[ $((t1 - t0)) -lt 300 ] && pass "circuit open: the dead bucket is skipped ($((t1 - t0)) ms)" ||
	fail "circuit open: the dead bucket is skipped" "$((t1 - t0)) ms"
start_swift || fail "Swift restarts" "$(tail -3 "$STATE/swift-start.log")"
sleep 2.2	# S3_COOLDOWN_SECONDS
ok=""
for i in 1 2 3 4 5 6 7 8 9 10; do
	req GET "$BASE/1/10/0/0.jpg"
	[ "$(header X-Tile-Source)" = r2 ] && { ok=1; break; }
	sleep 0.5
done
[ -n "$ok" ] && pass "recovery: bucket tiles again after the restart" || fail "recovery" "still $(header X-Tile-Source)"
req GET "$BASE/health"
expect "health ok again" "$(json j.status)" ok
stop_pid "$LPID"
stop_swift

# ---- nginx over TLS + HTTP/2 ---------------------------------------------------
NG=$STATE/nginx
NGPORT=$(free_port)
bash "$SCRIPTS/origin-nginx.sh" start "$NG" "$NGPORT" "$DATA" --tls > "$STATE/nginx-start.log" 2>&1 ||
	fail "nginx TLS origin starts" "$(tail -3 "$STATE/nginx-start.log")"
trap 'bash "$SCRIPTS/origin-nginx.sh" stop "$NG" >/dev/null 2>&1; stop_swift; cleanup' EXIT
h2env() {
	s3env | grep -v -e S3_ENDPOINT_URL -e TILE_CACHE_MAX_TILES
	echo "S3_ENDPOINT_URL=https://127.0.0.1:$NGPORT"
	echo "TILE_CACHE_MAX_TILES=0"
	[ -n "${1:-}" ] && echo "S3_CA_BUNDLE=$1"
}
h2env > "$STATE/one.env"
one 'GET /api/tiles/1/10/1/1.jpg'
expect "untrusted certificate (no CA configured) is refused" "$STATUS" 502
expect_match "the refusal is logged" "$(cat "$STATE/one.err")" '(SSL|certificate)'
h2env "$NG/ca.pem" > "$STATE/one.env"
one 'GET /api/tiles/1/10/1/1.jpg'
expect "with S3_CA_BUNDLE the TLS origin serves" "$STATUS/$(src_of)" 200/r2
check "TLS tile byte-exact" cmp -s "$STATE/one.body" "$DATA/tiles/1/10/1/1.jpg"

# one process, many sequential misses: one connection, HTTP/2
h2env "$NG/ca.pem" > "$STATE/app.env"
: > "$NG/access.log"
lighttpd_from_deploy "$STATE/app.env" 1 || fail "lighttpd (TLS origin) starts" "$(tail -3 "$STATE/error.log")"
okc=0
for t in 10/0/0 10/1/0 10/2/0 10/0/1 10/1/1 9/0/0 9/1/0 8/0/0 7/0/0 6/0/0 10/0/0 10/1/0; do
	req GET "$BASE/1/$t.jpg"
	[ "$STATUS/$(header X-Tile-Source)" = 200/r2 ] && okc=$((okc + 1))
done
expect "12 sequential misses all served from the TLS origin" "$okc" 12
tiles_log=$(grep ' /tiles/tiles/' "$NG/access.log")
conns=$(echo "$tiles_log" | awk '{print $1}' | sort -u | wc -l)
expect "12 sequential misses reuse one TCP connection" "$conns" 1
expect_match "the misses went over HTTP/2" "$(echo "$tiles_log" | awk '{print $NF}' | sort -u | tr '\n' ' ')" '^HTTP/2.0 $'
stop_pid "$LPID"

# ---- faultd: truncated, stalled, flaky, oversize ----------------------------------
FPORT=$(free_port)
"$FAULTD" "$FPORT" --max-seconds 120 --quiet > "$STATE/faultd.out" 2>&1 &
FPID=$!; track $FPID
wait_http "http://127.0.0.1:$FPORT/__stats" || fail "faultd starts" "$(cat "$STATE/faultd.out")"
fenv() {	# fenv MODE: the bucket is named after the fault, so every key URL contains /MODE/
	s3env | grep -v -e S3_ENDPOINT_URL -e AWS_BUCKET_NAME -e S3_TIMEOUT_MS
	echo "S3_ENDPOINT_URL=http://127.0.0.1:$FPORT"
	echo "AWS_BUCKET_NAME=$1"
	echo "S3_TIMEOUT_MS=1500"
}
fenv truncated > "$STATE/one.env"
one 'GET /api/tiles/1/10/1/1.jpg'
expect "truncated body is never served (502)" "$STATUS" 502
expect_match "truncation is named in the log" "$(cat "$STATE/one.err")" 'truncated|transfer closed|Partial'
fenv truncated > "$STATE/one.env"
one 'GET /api/tiles/1/10/0/0.jpg'
expect "truncated body with a local copy: local served, not the partial bytes" "$STATUS/$(src_of)" 200/local
check "  and the bytes are the local file" cmp -s "$STATE/one.body" "$LOCAL/tiles/1/10/0/0.jpg"
fenv stall > "$STATE/one.env"
t0=$(date +%s%3N)
one 'GET /api/tiles/1/10/1/1.jpg'
t1=$(date +%s%3N)
expect "stalled body is a 504" "$STATUS" 504
[ $((t1 - t0)) -lt 2300 ] && pass "stalled body answered within S3_TIMEOUT_MS ($((t1 - t0)) ms)" ||
	fail "stalled body answered within S3_TIMEOUT_MS" "$((t1 - t0)) ms"
curl -s "http://127.0.0.1:$FPORT/__reset" > /dev/null
fenv flaky > "$STATE/one.env"
one 'GET /api/tiles/1/10/1/1.jpg'
expect "500 then 200: the retry succeeds" "$STATUS/$(src_of)" 200/r2
req GET "http://127.0.0.1:$FPORT/__stats"
expect "  the origin saw the retry (2 requests for that tile)" "$(json 'j.paths["/flaky/tiles/1/10/1/1.jpg"]')" 2
fenv oversize > "$STATE/one.env"
t0=$(date +%s%3N)
one 'GET /api/tiles/1/10/1/1.jpg'
t1=$(date +%s%3N)
expect "oversize object is refused (502)" "$STATUS" 502
expect_match "  refused before downloading it ($((t1 - t0)) ms)" "$(cat "$STATE/one.err")" 'larger than'
fenv always500 > "$STATE/one.env"
one 'GET /api/tiles/1/10/1/1.jpg'
expect "persistent 500 after retries is a 502" "$STATUS" 502

# ---- issue 12.4: the circuit breaker judges the bucket, not one object -----------
# One process behind lighttpd (the breaker is per process), S3_FAILURE_THRESHOLD=2:
# objects that are unusable, or a wait for a transfer slot, must never take
# the bucket offline for every dataset.
bucket_state() { req GET "$BASE/health"; json 'j.storage.bucket.state'; }
BIG=$STATE/bigtree
mkdir -p "$BIG/tiles/1/10/1" "$BIG/tiles/1/10/0"
cp -r "$DATA/metadata" "$BIG/"
head -c $((5 * 1024 * 1024)) /dev/urandom > "$BIG/tiles/1/10/1/1.jpg"	# over TILE_MAX_BYTES
cp "$DATA/tiles/1/10/0/0.jpg" "$BIG/tiles/1/10/0/0.jpg"
NG2=$STATE/nginx-big
NG2PORT=$(free_port)
bash "$SCRIPTS/origin-nginx.sh" start "$NG2" "$NG2PORT" "$BIG" > "$STATE/nginx-big.log" 2>&1 ||
	fail "nginx origin with an oversize object starts" "$(tail -3 "$STATE/nginx-big.log")"
trap 'bash "$SCRIPTS/origin-nginx.sh" stop "$NG2" >/dev/null 2>&1; bash "$SCRIPTS/origin-nginx.sh" stop "$NG" >/dev/null 2>&1; stop_swift; cleanup' EXIT
{ s3env | grep -v -e S3_ENDPOINT_URL -e LOCAL_STORAGE_DIR; echo "S3_ENDPOINT_URL=http://127.0.0.1:$NG2PORT"; } > "$STATE/app.env"
lighttpd_from_deploy "$STATE/app.env" 1 || fail "lighttpd (breaker) starts" "$(tail -3 "$STATE/error.log")"
for i in 1 2 3 4 5 6; do req GET "$BASE/1/10/1/1.jpg"; done
expect "12.4: an object over TILE_MAX_BYTES asked 6 times: 502 each time" "$STATUS" 502
expect "12.4:   and the bucket stays in service" "$(bucket_state)" ok
req GET "$BASE/1/10/0/0.jpg"
expect "12.4:   other tiles still come from the bucket" "$STATUS/$(header X-Tile-Source)" 200/r2
stop_pid "$LPID"
fenv truncated > "$STATE/app.env"	# metadata from the local tree, which lacks 10/1/1
lighttpd_from_deploy "$STATE/app.env" 1 || fail "lighttpd (truncated) starts" "$(tail -3 "$STATE/error.log")"
for i in 1 2 3 4 5 6; do req GET "$BASE/1/10/1/1.jpg"; done
expect "12.4: bodies shorter than their Content-Length, 6 times: 502 each time" "$STATUS" 502
expect_match "12.4:   and the bucket is not taken offline" "$(bucket_state)" '^(ok|failing)$'
asked() { curl -s "http://127.0.0.1:$FPORT/__stats" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).paths["/truncated/tiles/1/10/1/1.jpg"]||0))'; }
n1=$(asked)
req GET "$BASE/1/10/1/1.jpg"
n2=$(asked)
expect "12.4:   the next request still asks the bucket (never skipped: $n1 -> $n2 GETs)" "$([ "$n2" -gt "$n1" ] && echo yes)" yes
stop_pid "$LPID"
curl -s "http://127.0.0.1:$FPORT/__reset" > /dev/null
# one transfer slot and a slow origin: the queued transfers time out locally
SPORT=$(free_port)
"$FAULTD" "$SPORT" --max-seconds 60 --delay-ms 900 --quiet > "$STATE/faultd-slow.out" 2>&1 &
track $!
wait_http "http://127.0.0.1:$SPORT/__stats" || fail "slow faultd starts" "$(cat "$STATE/faultd-slow.out")"
{ s3env | grep -v -e S3_ENDPOINT_URL -e AWS_BUCKET_NAME -e S3_TIMEOUT_MS
  echo "S3_ENDPOINT_URL=http://127.0.0.1:$SPORT"; echo "AWS_BUCKET_NAME=slow"
  echo "S3_TIMEOUT_MS=1200"; echo "S3_MAX_CONCURRENT_STREAMS=1"; echo "BATCH_TIMEOUT_MS=3000"; } > "$STATE/app.env"
lighttpd_from_deploy "$STATE/app.env" 1 || fail "lighttpd (one slot) starts" "$(tail -3 "$STATE/error.log")"
for i in 1 2; do req GET "$BASE/1/batch?tiles=10/0/0.jpg&tiles=10/1/0.jpg&tiles=10/2/0.jpg&tiles=10/0/1.jpg&tiles=10/1/1.jpg&cb=$i"; done
expect_match "12.4: a batch on one transfer slot: some tiles wait too long for the slot" "$(json j.missing.length)" '^[1-9]$'
expect "12.4:   waiting for a slot is not the bucket's failure" "$(bucket_state)" ok
stop_pid "$LPID"

cat "$STATE"/*.log "$STATE/one.err" 2>/dev/null > "$STATE/all.log"
check "no sanitizer report" asan_clean "$STATE/all.log"
check "the S3 secret never reaches a log" bash -c "! grep -q 'AWS_SECRET_ACCESS_KEY=testing' '$STATE/all.log'"
finish
