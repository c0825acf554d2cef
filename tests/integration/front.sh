#!/usr/bin/env bash
# Integration: the event-driven front (issue 13) through a real lighttpd
# with ONE responder process, so that everything below happens on the same
# process, and a real origin (nginx over TLS + HTTP/2) 400 ms away (a delay
# proxy, 200 ms each way), whose access log counts the storage requests:
#  - a cached tile is answered at once while 30 misses wait on the origin;
#  - misses run in parallel: 30 of them take about one round trip, not 30;
#  - two requests (and ten) for the same missing tile cause one transfer;
#  - a client that goes away mid-miss frees its request, and the transfer's
#    result still fills the cache for the next one;
#  - metadata of a dataset not yet known is read once for many requests;
#  - SIGTERM lets the misses in flight finish before the process exits.
source "$(dirname "$0")/lib.sh"
SCRIPTS=$IT_ROOT/tests/scripts
DELAYPROXY=$BUILD_DIR/tests/fault/delayproxy
ONE_WAY_MS=200

DATA=$STATE/data
"$MKSAMPLE" --out "$DATA" --id 1 --width 4096 --height 4096 --quiet	# z12: 16 x 16
"$MKSAMPLE" --out "$DATA" --id 2 --width 1024 --height 1024 --quiet
NG=$STATE/nginx
NGPORT=$(free_port)
bash "$SCRIPTS/origin-nginx.sh" start "$NG" "$NGPORT" "$DATA" --tls > "$STATE/origin.log" 2>&1 ||
	{ fail "nginx TLS origin starts" "$(tail -3 "$STATE/origin.log")"; finish; exit 1; }
trap 'bash "$SCRIPTS/origin-nginx.sh" stop "$NG" >/dev/null 2>&1; cleanup' EXIT
DPPORT=$(free_port)
"$DELAYPROXY" "$DPPORT" 127.0.0.1 "$NGPORT" "$ONE_WAY_MS" --max-seconds 300 > "$STATE/dp.out" 2>&1 &
track $!
sleep 0.3
cat > "$STATE/app.env" <<ENV
USE_S3=true
AWS_ACCESS_KEY_ID=AKIDEXAMPLE
AWS_SECRET_ACCESS_KEY=ignored-by-nginx
AWS_BUCKET_NAME=tiles
S3_ENDPOINT_URL=https://127.0.0.1:$DPPORT
S3_CA_BUNDLE=$NG/ca.pem
S3_TIMEOUT_MS=8000
TILE_RUNTIME_DIR=$STATE/run
PREFETCH_QUEUE_MAX=0
LOG_LEVEL=info
ENV
lighttpd_from_deploy "$STATE/app.env" 1 || { fail "lighttpd starts" "$(tail -3 "$STATE/error.log")"; finish; exit 1; }
pass "lighttpd with one responder, origin over TLS + HTTP/2 $((2 * ONE_WAY_MS)) ms away"
gets() { grep -cE " /tiles/tiles/$1 " "$NG/access.log"; }
ms() { awk '{ printf "%d", $1 * 1000 }'; }

req GET "$BASE/1/12/0/0.jpg"	# metadata, the connection, and the tile we call cached
expect "a first tile through the origin" "$STATUS/$(header X-Tile-Source)" 200/r2

# ---- a hit beside 30 misses in flight on the same process ---------------------
args=()
for x in $(seq 1 15); do for y in 1 2; do args+=(-o /dev/null "$BASE/1/12/$x/$y.jpg"); done; done
t0=$(date +%s%3N)
curl -s --max-time 20 --parallel --parallel-immediate --parallel-max 30 -w '%{http_code}\n' "${args[@]}" > "$STATE/misses" &
MISSES=$!
sleep 0.15	# the 30 misses are parked on the origin now
hit=$(curl -s -o /dev/null -w '%{time_total} %{http_code} %header{x-tile-source}' "$BASE/1/12/0/0.jpg")
wait "$MISSES"
t1=$(date +%s%3N)
expect "30 misses at once: all 200" "$(sort "$STATE/misses" | uniq -c | sed 's/^ *//')" "30 200"
expect_match "a cached tile beside them is answered from memory ($hit)" "$hit" ' 200 memory-cache$'
expect "  at once (under 50 ms, while the misses wait $((2 * ONE_WAY_MS)) ms)" \
	"$(echo "$hit" | awk '{ print ($1 < 0.05) ? "yes" : "no" }')" yes
expect "30 misses in parallel take about one round trip ($((t1 - t0)) ms, not $((30 * 2 * ONE_WAY_MS)))" \
	"$([ $((t1 - t0)) -lt $((4 * 2 * ONE_WAY_MS)) ] && echo yes)" yes

# ---- coalescing: one transfer for many requests of one missing tile ---------------
before=$(gets '1/12/5/5\.jpg')
curl -s --max-time 20 --parallel --parallel-immediate --parallel-max 10 -w '%{http_code} %header{x-tile-source}\n' \
	$(for i in $(seq 1 10); do printf -- '-o /dev/null %s ' "$BASE/1/12/5/5.jpg"; done) > "$STATE/same"
expect "10 requests at once for one missing tile: all 200" "$(awk '{print $1}' "$STATE/same" | sort | uniq -c | sed 's/^ *//')" "10 200"
expect "  and the origin saw one GET for it" "$(( $(gets '1/12/5/5\.jpg') - before ))" 1

# ---- a client that goes away mid-miss ---------------------------------------------
before=$(gets '1/12/7/7\.jpg')
curl -s -o /dev/null --max-time 0.1 "$BASE/1/12/7/7.jpg"
expect "a client gave up on a miss after 100 ms" "$?" 28
sleep $(echo "scale=2; (2 * $ONE_WAY_MS + 300) / 1000" | bc)
req GET "$BASE/1/12/7/7.jpg"
expect "the next request for that tile is answered from memory: the transfer filled the cache" \
	"$STATUS/$(header X-Tile-Source)" "200/memory-cache"
expect "  one GET at the origin" "$(( $(gets '1/12/7/7\.jpg') - before ))" 1
req GET "$BASE/health"
expect "the process serves on (health)" "$STATUS" 200

# ---- metadata read once for many requests of an unknown dataset --------------------
before=$(grep -c 'metadata/datasets/2.json' "$NG/access.log")
curl -s --max-time 20 --parallel --parallel-immediate --parallel-max 8 -w '%{http_code}\n' \
	$(for y in 0 1 2 3; do for x in 0 1; do printf -- '-o /dev/null %s ' "$BASE/2/10/$x/$y.jpg"; done; done) > "$STATE/meta"
expect "8 requests at once of a dataset not known yet: all 200" "$(sort "$STATE/meta" | uniq -c | sed 's/^ *//')" "8 200"
expect "  its metadata read once" "$(( $(grep -c 'metadata/datasets/2.json' "$NG/access.log") - before ))" 1

# ---- SIGTERM lets the misses in flight finish --------------------------------------
args=()
for x in 1 2 3 4 5 6; do args+=(-o /dev/null "$BASE/1/11/$x/0.jpg"); done
curl -s --max-time 20 --parallel --parallel-immediate --parallel-max 6 -w '%{http_code}\n' "${args[@]}" > "$STATE/term" &
TERMC=$!
sleep 0.15
pid=$(pgrep -f -x -- "$BIN" | head -1)
kill -TERM "$pid"
wait "$TERMC"
expect "6 misses in flight when SIGTERM arrives are all answered" "$(sort "$STATE/term" | uniq -c | sed 's/^ *//')" "6 200"
for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
check "and then the process exits" bash -c "! kill -0 $pid 2>/dev/null"
check "with its orderly stop logged" grep -q "info: stopping after" "$STATE/backend.log"

stop_pid "$LPID"
cat "$STATE/error.log" "$STATE/backend.log" > "$STATE/all.log" 2>/dev/null
check "no sanitizer report in the logs" asan_clean "$STATE/all.log"
finish
