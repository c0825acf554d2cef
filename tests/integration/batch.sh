#!/usr/bin/env bash
# Integration: the batch endpoint and prefetch (SPEC 3.2, 3.5) through a real
# lighttpd (one responder process, so that "this process" is unambiguous)
# with the bucket played by nginx (path-style, signatures ignored), faultd
# (stalled origin) and delayproxy (25 ms each way).
source "$(dirname "$0")/lib.sh"
SCRIPTS=$IT_ROOT/tests/scripts
FAULTD=$BUILD_DIR/tests/fault/faultd
DELAYPROXY=$BUILD_DIR/tests/fault/delayproxy

DATA=$STATE/data
make_fixture "$DATA"
"$MKSAMPLE" --out "$DATA" --id 6 --width 4096 --height 2048 --seed 6 --quiet	# levels 0..12
LOCAL=$STATE/local
mkdir -p "$LOCAL" && cp -r "$DATA/metadata" "$LOCAL/"
mkdir -p "$LOCAL/tiles/4/10/0" && cp "$DATA/tiles/4/10/0/0.jpg" "$LOCAL/tiles/4/10/0/0.jpg"

NG=$STATE/nginx
NGPORT=$(free_port)
bash "$SCRIPTS/origin-nginx.sh" start "$NG" "$NGPORT" "$DATA" > "$STATE/nginx.log" 2>&1 ||
	{ fail "nginx origin starts" "$(tail -3 "$STATE/nginx.log")"; finish; exit 1; }
trap 'bash "$SCRIPTS/origin-nginx.sh" stop "$NG" >/dev/null 2>&1; cleanup' EXIT

start_pool() {	# start_pool ENDPOINT [extra env lines...]: lighttpd + 1 responder
	local ep=$1
	shift
	{
		echo "USE_S3=true"
		echo "AWS_ACCESS_KEY_ID=AKIDEXAMPLE"
		echo "AWS_SECRET_ACCESS_KEY=not-checked-by-nginx"
		echo "AWS_BUCKET_NAME=tiles"
		echo "S3_ENDPOINT_URL=$ep"
		echo "LOCAL_STORAGE_DIR=$LOCAL"
		echo "SECRET_KEY=batch-secret"
		echo "TILE_RUNTIME_DIR=$STATE/run"
		printf '%s\n' "$@"
	} > "$STATE/app.env"
	lighttpd_from_deploy "$STATE/app.env" 1
}
b64cmp() {	# b64cmp KEY FILE: the batch's base64 for KEY decodes to FILE
	node -e "const j=JSON.parse(require('fs').readFileSync('$BODY','utf8'));
		const b=Buffer.from(j.tiles['$1'],'base64'); const f=require('fs').readFileSync('$2');
		process.exit(b.equals(f)?0:1)"
}

start_pool "http://127.0.0.1:$NGPORT" || fail "pool starts" "$(tail -3 "$STATE/error.log")"

# ---- shape -------------------------------------------------------------------
req GET "$BASE/4/batch?tiles=10/0/0.jpg&tiles=10/1/1.jpg&tiles=10/2/1.jpg&tiles=9/9/9.jpg&tiles=10/0/0.jpg&tiles=10/0/0.jpeg"
expect "batch is 200" "$STATUS" 200
expect "batch is JSON" "$(header Content-Type)" application/json
expect "dataset_id" "$(json j.dataset_id)" 4
expect "keys are exactly the requested strings, duplicates once" "$(json 'Object.keys(j.tiles).join(",")')" "10/0/0.jpg,10/1/1.jpg,10/2/1.jpg,9/9/9.jpg,10/0/0.jpeg"
expect "count = tiles found" "$(json j.count)" 3
expect "missing lists absent and out-of-grid tiles" "$(json 'j.missing.join(",")')" "10/2/1.jpg,9/9/9.jpg"
expect "absent tiles are null" "$(json 'j.tiles["10/2/1.jpg"]')" null
expect "formats: the png fallback is reported" "$(json 'j.formats["10/1/1.jpg"]')" png
expect "formats: jpg" "$(json 'j.formats["10/0/0.jpg"]')" jpg
check "base64 of a jpg tile decodes to the file" b64cmp 10/0/0.jpg "$DATA/tiles/4/10/0/0.jpg"
check "base64 of the png fallback decodes to the png file" b64cmp 10/1/1.jpg "$DATA/tiles/4/10/1/1.png"
expect_match "cache_stats present" "$(json 'Object.keys(j.cache_stats).join(",")')" '^cache_hits,cache_misses,hit_rate,cache_size$'
expect "batch is not cacheable" "$(header Cache-Control)" no-store

# URLSearchParams encodes '/' as %2F: keys are the decoded strings
req GET "$BASE/4/batch?tiles=10%2F0%2F0.jpg"
expect "percent-encoded entries are decoded" "$STATUS/$(json 'Object.keys(j.tiles)[0]')" "200/10/0/0.jpg"

# ---- limits -----------------------------------------------------------------
q=""; for x in $(seq 0 12); do for y in $(seq 0 7); do q="$q&tiles=12/$x/$y.jpg"; done; done
q100=$(echo "$q" | tr '&' '\n' | sed -n '2,101p' | paste -sd'&')
q101=$(echo "$q" | tr '&' '\n' | sed -n '2,102p' | paste -sd'&')
req GET "$BASE/6/batch?$q100"
expect "100 tiles (BATCH_MAX_TILES) are accepted" "$STATUS/$(json j.count)" 200/100
check "  every one byte-exact (12/5/3.jpg)" b64cmp 12/5/3.jpg "$DATA/tiles/6/12/5/3.jpg"
req GET "$BASE/6/batch?$q101"
expect "101 tiles are a 400" "$STATUS" 400
expect_match "  naming the surplus entry" "$(json j.detail)" "#101 '12/12/4.jpg'"
req GET "$BASE/6/batch?$q100&tiles=12/0/0.jpg&tiles=12/0/0.jpg"
expect "12.6: 100 distinct tiles plus repeats of one of them are fine" "$STATUS/$(json j.count)" 200/100
# lighttpd refuses URLs that decode to invalid UTF-8 itself, nginx passes
# them on: the responder's own answer, through --request
utf8_json() {	# utf8_json QUERY: status and whether the body is valid UTF-8 JSON
	env -i PATH="$PATH" ASAN_OPTIONS="${ASAN_OPTIONS:-}" LOCAL_STORAGE_DIR="$DATA" \
		TILE_RUNTIME_DIR="$STATE/run-one" "$BIN" --request "GET /api/tiles/6/batch?$1" > "$STATE/one.out" 2>/dev/null
	sed '1,/^\r$/d' "$STATE/one.out" > "$STATE/one.body"
	printf '%s ' "$(head -1 "$STATE/one.out" | awk '{print $2}')"
	node -e "try { JSON.parse(new TextDecoder('utf-8', {fatal: true}).decode(require('fs').readFileSync(process.argv[1]))); console.log('utf8-json') } catch (e) { console.log('bad: ' + e.message) }" "$STATE/one.body"
}
expect "12.6: a 101st entry of raw bytes: 400, valid UTF-8 JSON" "$(utf8_json "$q100&tiles=%FF%FE%2F1")" "400 utf8-json"
expect "12.6: an entry of invalid UTF-8: 400, valid UTF-8 JSON" "$(utf8_json "tiles=%C3%28%80%FF%ED%A0%80")" "400 utf8-json"
expect "12.6: an over-long entry of invalid UTF-8: 400, valid UTF-8 JSON" "$(utf8_json "tiles=$(printf '%%E2%%82%.0s' $(seq 1 40))")" "400 utf8-json"
req GET "$BASE/6/batch?tiles=12/1/1.jpg&tiles=12/x/1.jpg"
expect "malformed entry is a 400" "$STATUS" 400
expect_match "  naming the malformed entry" "$(json j.detail)" "#2 '12/x/1.jpg'"
req GET "$BASE/6/batch?tiles=12/1/1.gif"
expect "unknown extension in an entry is a 400" "$STATUS" 400
req GET "$BASE/6/batch?tiles=../../etc/passwd"
expect "traversal in an entry is a 400" "$STATUS" 400
req GET "$BASE/6/batch"
expect "no tiles is a 400" "$STATUS" 400
req GET "$BASE/6/batch?tiles=$(head -c 200 /dev/zero | tr '\0' 1)/0/0.jpg"
expect "over-long entry is a 400" "$STATUS" 400
req POST "$BASE/6/batch?tiles=12/1/1.jpg"
expect "POST batch is 405" "$STATUS" 405

# ---- auth ---------------------------------------------------------------------
req GET "$BASE/2/batch?tiles=10/0/0.png"
expect "private batch without token is 401" "$STATUS" 401
req GET "$BASE/2/batch?tiles=10/0/0.png" -H "Authorization: Bearer $("$MKTOKEN" batch-secret 8 600)"
expect "private batch with another user's token is 403" "$STATUS" 403
req GET "$BASE/2/batch?tiles=10/0/0.png&token=$("$MKTOKEN" batch-secret 7 600)"
expect "private batch with the owner's ?token= is 200" "$STATUS/$(json j.count)" 200/1
req GET "$BASE/3/batch?tiles=0/0/0.jpg"
expect "batch of a processing dataset is 503" "$STATUS" 503

# ---- cache: hits without the network -----------------------------------------
: > "$NG/access.log"
req GET "$BASE/6/batch?tiles=12/0/0.jpg&tiles=12/1/0.jpg"
expect "repeat batch: tiles from memory, no origin request" "$STATUS/$(grep -c ' /tiles/tiles/6/12/' "$NG/access.log")" 200/0
req GET "$BASE/6/12/5/3.jpg"
expect "batch filled the cache for single tiles" "$(header X-Tile-Source)" memory-cache

# ---- statistics move with real lookups -------------------------------------------
stat() { req GET "$BASE/6/cache-stats"; json "j.stats.$1"; }
r0=$(stat total_requests); h0=$(stat cache_hits); m0=$(stat cache_misses)
req GET "$BASE/6/12/5/3.jpg"	# cached by the batch above
req GET "$BASE/6/8/0/0.jpg"	# not cached yet
r1=$(stat total_requests); h1=$(stat cache_hits); m1=$(stat cache_misses)
expect "stats: two lookups counted" "$((r1 - r0))" 2
expect "stats: one hit" "$((h1 - h0))" 1
expect "stats: one miss" "$((m1 - m0))" 1
req GET "$BASE/6/cache-stats"
expect_match "stats: hit_rate from the counters" "$(json j.stats.hit_rate)" "^$(node -e "console.log((100*$h1/$r1).toFixed(1))")%$"
expect "stats: the dataset's own tiles are counted" "$([ "$(json j.dataset.cached_tiles)" -ge 100 ] && echo yes)" yes
req GET "$BASE/2/cache-stats"
expect "stats of a private dataset need a token" "$STATUS" 401

# ---- prefetch -------------------------------------------------------------------
# (level 12 columns 0..12 are cached by the 100-tile batch above)
req POST "$BASE/6/prefetch?z=11&x0=6&x1=7&y0=1&y1=2"
expect "prefetch answers 202 at once" "$STATUS" 202
Q=$(json j.queued)
[ "${Q:-0}" -gt 0 ] && pass "prefetch queued $Q tiles (ring at z, overlaps at z-1, z+1)" || fail "prefetch queued tiles" "queued=$Q"
done_=""
for i in $(seq 1 50); do
	req GET "$BASE/6/cache-stats"
	[ "$(json j.stats.prefetch_queue)" = 0 ] && [ "$(json j.stats.prefetched)" -gt 0 ] && { done_=1; break; }
	sleep 0.1
done
[ -n "$done_" ] && pass "queue drained between requests: prefetched $(json j.stats.prefetched)" ||
	fail "queue drained" "$(body)"
req GET "$BASE/6/11/5/1.jpg"	# a neighbour of the viewport at z
expect "a prefetched neighbour comes from memory" "$(header X-Tile-Source)" memory-cache
req GET "$BASE/6/12/13/3.jpg"	# overlaps the viewport at z+1
expect "a prefetched z+1 tile comes from memory" "$(header X-Tile-Source)" memory-cache
req GET "$BASE/6/10/3/0.jpg"	# overlaps at z-1
expect "a prefetched z-1 tile comes from memory" "$(header X-Tile-Source)" memory-cache
req GET "$BASE/6/cache-stats"
[ "$(json j.stats.prefetch_hits)" -ge 3 ] && pass "prefetch_hits counts them ($(json j.stats.prefetch_hits))" ||
	fail "prefetch_hits" "$(json j.stats.prefetch_hits)"
req POST "$BASE/6/prefetch?z=11&x0=3&x1=2&y0=0&y1=0"
expect "prefetch with x1 < x0 is 400" "$STATUS" 400
req POST "$BASE/6/prefetch?z=11&x0=0&x1=100&y0=0&y1=0"
expect "prefetch wider than PREFETCH_VIEWPORT_MAX is clipped, not refused (202)" "$STATUS" 202
expect_match "  and queues no more than the queue holds" "$(json '[j.queued <= 256, j.queued <= j.queue].join()')" '^true,true$'
req POST "$BASE/6/prefetch?z=20&x0=0&x1=0&y0=0&y1=0"
expect "prefetch at a level outside the dataset is 404" "$STATUS" 404
req POST "$BASE/2/prefetch?z=10&x0=0&x1=0&y0=0&y1=0"
expect "prefetch of a private dataset without token is 401" "$STATUS" 401
req GET "$BASE/6/batch?tiles=11/1/2.jpg&prefetch=1"
expect "batch with prefetch=1 answers" "$STATUS" 200
for i in $(seq 1 50); do req GET "$BASE/6/cache-stats"; [ "$(json j.stats.prefetch_queue)" = 0 ] && break; sleep 0.1; done
req GET "$BASE/6/11/0/3.jpg"
expect "prefetch=1 on batch queued the neighbourhood" "$(header X-Tile-Source)" memory-cache

# ---- local storage only: the queue drains between requests too ---------------------
printf 'LOCAL_STORAGE_DIR=%s\nTILE_RUNTIME_DIR=%s/run-local\n' "$DATA" "$STATE" > "$STATE/local.env"
lighttpd_from_deploy "$STATE/local.env" 1 || fail "local-only pool starts" "$(tail -3 "$STATE/error.log")"
req POST "$BASE/6/prefetch?z=11&x0=2&x1=5&y0=1&y1=2"
q=$(json j.queued)
t0=$(date +%s%3N)
for i in $(seq 1 100); do req GET "$BASE/6/cache-stats"; [ "$(json j.stats.prefetch_queue)" = 0 ] && break; sleep 0.02; done
t1=$(date +%s%3N)
expect "local-only prefetch fills the cache ($q queued)" "$(json j.stats.prefetched)" "$q"
[ $((t1 - t0)) -lt 2000 ] && pass "  and drains at once between requests ($((t1 - t0)) ms)" ||
	fail "  local-only prefetch drains at once" "$((t1 - t0)) ms"

# ---- a foreground request is not delayed by prefetching ---------------------------
DPORT=$(free_port)
"$DELAYPROXY" "$DPORT" 127.0.0.1 "$NGPORT" 100 --max-seconds 120 > "$STATE/delayproxy.log" 2>&1 &
track $!
start_pool "http://127.0.0.1:$DPORT" "PREFETCH_PARALLEL=2" "METADATA_CACHE_TTL=600" ||
	fail "pool behind delayproxy starts" "$(tail -3 "$STATE/error.log")"
req GET "$BASE/6/12/0/0.jpg"	# warm: metadata, connection, one cached tile
req POST "$BASE/6/prefetch?z=11&x0=1&x1=6&y0=0&y1=3"
t0=$(date +%s%3N)
req GET "$BASE/6/12/0/0.jpg"
t1=$(date +%s%3N)
expect "cache hit during prefetch is from memory" "$(header X-Tile-Source)" memory-cache
req GET "$BASE/6/cache-stats"
inflight=$(json j.stats.prefetch_queue)
[ $((t1 - t0)) -lt 150 ] && pass "cache hit while prefetching answered in $((t1 - t0)) ms (queue still $inflight)" ||
	fail "cache hit while prefetching" "$((t1 - t0)) ms"
t0=$(date +%s%3N)
req GET "$BASE/6/9/1/0.jpg"	# a miss, not in the prefetch set
t1=$(date +%s%3N)
expect "a miss while prefetching is served" "$STATUS" 200
[ $((t1 - t0)) -lt 900 ] && pass "a miss while prefetching costs about one origin round trip ($((t1 - t0)) ms, RTT 200 ms)" ||
	fail "a miss while prefetching" "$((t1 - t0)) ms"

# ---- one deadline for the whole batch against a stalled origin -------------------
FPORT=$(free_port)
"$FAULTD" "$FPORT" --max-seconds 120 --quiet > "$STATE/faultd.out" 2>&1 &
track $!
wait_http "http://127.0.0.1:$FPORT/__stats"
# the bucket is named after the fault (every key URL contains /stall/); in
# an env file the last definition wins
start_pool "http://127.0.0.1:$FPORT" "AWS_BUCKET_NAME=stall" "BATCH_TIMEOUT_MS=1000" \
	"S3_TIMEOUT_MS=8000" || fail "pool (faultd) starts" "$(tail -3 "$STATE/error.log")"
t0=$(date +%s%3N)
req GET "$BASE/4/batch?tiles=10/0/0.jpg&tiles=10/1/0.jpg&tiles=9/0/0.jpg"
t1=$(date +%s%3N)
expect "stalled origin: the batch still answers 200" "$STATUS" 200
[ $((t1 - t0)) -lt 1800 ] && pass "stalled origin: answered at the batch deadline ($((t1 - t0)) ms, BATCH_TIMEOUT_MS=1000)" ||
	fail "stalled origin: batch deadline" "$((t1 - t0)) ms"
expect "stalled tiles are null and missing" "$(json 'j.count + ":" + j.missing.length + ":" + j.tiles["9/0/0.jpg"]')" "0:3:null"
req GET "$BASE/health"
expect "the process still answers after the deadline" "$STATUS" 200

stop_pid "$LPID"
cat "$STATE"/*.log "$STATE/lighttpd.out" > "$STATE/all.log" 2>/dev/null
check "no sanitizer report" asan_clean "$STATE/all.log"
finish
