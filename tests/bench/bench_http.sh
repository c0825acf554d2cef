#!/usr/bin/env bash
# Cache hits through a real web server, and the memory of a full cache.
#  (b) wrk -t2 -c32 on one cached tile through lighttpd + astropixel-tiles
#      (2 processes), as a ratio to a do-nothing libfcgi responder that writes
#      the same bytes from memory under the same lighttpd, same run.
#      Goal: ratio >= 0.9.
#  (c) VmRSS of one responder process before and after its cache is filled to
#      TILE_CACHE_MAX_MB=64 with 15 KB tiles through batch requests.
#      TILE_CACHE_MAX_TILES=5000 (what 64 MiB of 15 KB tiles needs).
#      Goal: the whole process at most 64 MiB + 12 MiB.
source "$(dirname "$0")/lib.sh"
DUR=${BENCH_SECONDS:-8}
machine
DATA=$STATE/data
"$MKSAMPLE" --out "$DATA" --id 1 --width 4096 --height 4096 --quiet
TILE=$DATA/tiles/1/12/3/3.jpg
head -c 15360 /dev/urandom > "$STATE/tile15k"; printf '\xff\xd8\xff' | dd of="$STATE/tile15k" conv=notrunc 2>/dev/null
cp "$STATE/tile15k" "$TILE"	# the benchmark tile: 15 KB, like the design note's average
cat > "$STATE/app.env" <<ENV
LOCAL_STORAGE_DIR=$DATA
TILE_RUNTIME_DIR=$STATE/run
LOG_LEVEL=warn
ENV

echo "(b) cache-hit throughput, wrk -t2 -c32 -d${DUR}s, 15 KB tile, lighttpd, 2 processes"
# the two alternate, ROUNDS times, and the medians are compared: this
# machine's throughput drifts by 20-30 % between runs of the same thing
declare -A RPS
ROUNDS=${BENCH_ROUNDS:-3}
for round in $(seq 1 "$ROUNDS"); do
	for who in astropixel null; do
		if [ $who = astropixel ]; then lighttpd_pool $who "$BUILD_DIR/astropixel-tiles" 2 "$STATE/app.env"
		else NULL_ENV="NULL_BODY_FILE=$TILE" lighttpd_pool $who "$BUILD_DIR/tests/bench/null_responder" 2 "$STATE/app.env"; fi
		URL=$BASE/1/12/3/3.jpg
		for i in 1 2 3 4 5 6; do curl -s -o /dev/null "$URL"; done	# warm both processes
		src=$(curl -s -D - -o /dev/null "$URL" | grep -i '^x-tile-source' | tr -d '\r')
		r=$(wrk -t2 -c32 -d"${DUR}s" "$URL" 2>&1 | awk '/Requests\/sec/{print $2}')
		RPS[$who$round]=$r
		printf '  round %d  %-22s %10s req/s   (%s)\n' "$round" "$who" "$r" "$src"
		stop_pid "$LPID"
	done
done
a=$(for r in $(seq 1 "$ROUNDS"); do echo "${RPS[astropixel$r]}"; done | median)
n=$(for r in $(seq 1 "$ROUNDS"); do echo "${RPS[null$r]}"; done | median)
echo "  medians: astropixel-tiles cache hit $a req/s, do-nothing responder $n req/s: ratio $(echo "$a $n" | awk '{printf "%.2f", $1/$2}') (goal >= 0.9)"

echo "(c) resident memory of one process with a full 64 MiB cache"
mkdir -p "$DATA/tiles/9" && cat > "$DATA/metadata/datasets/9.json" <<JSON
{"id": 9, "name": "memory", "owner_id": null, "is_demo": true, "min_zoom": 0, "max_zoom": 16,
 "tile_size": 256, "width": 65536, "height": 65536, "processing_status": "completed"}
JSON
for x in $(seq 0 59); do
	mkdir -p "$DATA/tiles/9/16/$x"
	for y in $(seq 0 99); do ln "$STATE/tile15k" "$DATA/tiles/9/16/$x/$y.jpg"; done
done
lighttpd_pool mem "$BUILD_DIR/astropixel-tiles" 1 "$STATE/app.env"
cat >> "$STATE/app.env" <<ENV
TILE_CACHE_MAX_TILES=5000
TILE_CACHE_MAX_MB=64
ENV
stop_pid "$LPID"
lighttpd_pool mem "$BUILD_DIR/astropixel-tiles" 1 "$STATE/app.env"
curl -s -o /dev/null "$BASE/health"
PID=$(pgrep -f "^$BUILD_DIR/astropixel-tiles" | head -1)
rss() { awk '/VmRSS/{print $2}' "/proc/$PID/status"; }
before=$(rss)
for x in $(seq 0 59); do
	q=$(for y in $(seq 0 99); do printf 'tiles=16/%d/%d.jpg&' "$x" "$y"; done)
	curl -s -o /dev/null "$BASE/9/batch?$q"
done
curl -s "$BASE/9/cache-stats" > "$STATE/stats.json"
after=$(rss)
node -e "const s=JSON.parse(require('fs').readFileSync('$STATE/stats.json')).stats;
 console.log('  cache: ' + s.cache_size + ' tiles, ' + (s.cache_bytes/1048576).toFixed(1) + ' MiB counted of ' + (s.cache_max_bytes/1048576) + ' MiB, ' + s.evictions + ' evictions')"
echo "  VmRSS: $((before / 1024)) MiB idle -> $((after / 1024)) MiB full (+$(((after - before) / 1024)) MiB); goal: whole process <= 76 MiB"
stop_pid "$LPID"
