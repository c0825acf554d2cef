#!/usr/bin/env bash
# The shared cache tier on Redis (issue 14), with and without it, in one run:
#
#  1. The issue's workload: 300 distinct z6 tiles requested 5 times each,
#     shuffled (the same order for every deployment), 8 keep-alive clients,
#     the bucket in public URL mode (nginx on loopback, its access log counts
#     the GETs); "hosts" are lighttpd instances with their own runtime
#     directories, requests go round-robin over them (a load balancer
#     without stickiness). For 1 x 1 (the reference), 1 x 4 and 2 x 4
#     processes, without and with REDIS_URL: origin GETs per distinct tile
#     and the share of answers not from the origin (memory or Redis).
#  2. The cost of an L2 hit: one cached tile through lighttpd, wrk -c1, from
#     memory (L1) and from Redis only (TILE_CACHE_MAX_TILES=0): p50s and
#     their difference.
#  3. A 100-tile batch from Redis only, against the same batch from memory
#     (median of 30).
# Goals (issue 14): origin GETs per distinct tile <= 1.05 for any number of
# processes and hosts; >= 79 % not from the origin at 2 x 4; an L2 hit adds
# < 0.3 ms over an L1 hit; a 100-tile batch from L2 < 5 ms on loopback.
source "$(dirname "$0")/lib.sh"
machine
command -v redis-server >/dev/null || { echo "redis-server is not installed (tests/scripts/install-deps.sh)"; exit 1; }
LOAD=$BENCH_ROOT/tests/bench/l2load.js

ORIGIN=$STATE/origin
mkdir -p "$ORIGIN/metadata/datasets" "$STATE/tile"
"$MKSAMPLE" --out "$STATE/tile" --id 1 --width 256 --height 256 --quiet
cp "$STATE/tile/tiles/1/0/0/0.jpg" "$STATE/one.jpg"
printf '{"is_demo": true, "min_zoom": 0, "max_zoom": 6, "tile_size": 256, "width": 16384, "height": 16384}' \
	> "$ORIGIN/metadata/datasets/1.json"
NG=$STATE/nginx
NGPORT=$(free_port)
bash "$SCRIPTS/origin-nginx.sh" start "$NG" "$NGPORT" "$ORIGIN" --any-tile "$STATE/one.jpg" > /dev/null ||
	{ echo "nginx origin failed"; exit 1; }
trap 'bash "$SCRIPTS/origin-nginx.sh" stop "$NG" >/dev/null 2>&1; cleanup' EXIT
start_redis "$STATE/redis" --maxmemory 512mb || { echo "redis-server failed"; exit 1; }

# the workload: 300 distinct z6 tiles x 5, shuffled with a fixed seed
node -e 'let s = 12345; const r = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
const t = []; for (let i = 0; i < 300; i++) t.push(`${(i * 37) % 64}/${Math.floor(i / 64) * 7 % 64}`);
const all = []; for (let k = 0; k < 5; k++) all.push(...t);
for (let i = all.length - 1; i > 0; i--) { const j = Math.floor(r() * (i + 1)); [all[i], all[j]] = [all[j], all[i]]; }
console.log(all.join("\n"));' > "$STATE/tiles.txt"
distinct=$(sort -u "$STATE/tiles.txt" | wc -l)

env_for() {	# env_for NAME [lines]: the env file of one host
	local n=$1
	shift
	{
		echo "USE_S3=true"
		echo "R2_PUBLIC_URL=http://127.0.0.1:$NGPORT"
		echo "METADATA_CACHE_TTL=3600"
		echo "TILE_RUNTIME_DIR=$STATE/run-$n"
		echo "PREFETCH_QUEUE_MAX=0"
		echo "LOG_LEVEL=warn"
		printf '%s\n' "$@"
	} > "$STATE/$n.env"
}
gets() { grep -c ' /tiles/1/6/' "$NG/access.log"; }

# deployment HOSTS PROCS LABEL [env lines]: prints one table row
deployment() {
	local hosts=$1 procs=$2 label=$3 bases=() pids=() h before out
	shift 3
	rcli flushall > /dev/null
	for h in $(seq 1 "$hosts"); do
		env_for "h$h" "$@"
		lighttpd_pool "dep$h" "$BUILD_DIR/astropixel-tiles" "$procs" "$STATE/h$h.env" ||
			{ echo "  $label: host $h did not start"; return; }
		bases+=("$BASE")
		pids+=("$LPID")
		curl -s -o /dev/null "$BASE/1/0/0/0.jpg"	# metadata and connections, outside the count
	done
	sleep 0.6	# every process has connected to Redis (its first poll)
	awk -v n="$hosts" -v b="${bases[*]}" 'BEGIN { split(b, B, " ") } { print B[(NR - 1) % n + 1] "/1/6/" $0 ".jpg" }' \
		"$STATE/tiles.txt" > "$STATE/urls.txt"
	before=$(gets)
	out=$(node "$LOAD" "$STATE/urls.txt" 8)
	node -e 'const j = JSON.parse(process.argv[1]), g = Number(process.argv[2]), d = Number(process.argv[3]);
const s = j.sources, notorigin = (s["memory-cache"] || 0) + (s.redis || 0);
console.log(`  ${process.argv[4].padEnd(26)} ${(g / d).toFixed(2).padStart(5)} GETs/tile  ${(100 * notorigin / j.n).toFixed(0).padStart(3)} % not from the origin` +
  `  (memory ${s["memory-cache"] || 0}, redis ${s.redis || 0}, r2 ${s.r2 || 0}; statuses ${JSON.stringify(j.statuses)}; p50 ${j.p50.toFixed(2)} ms)`);' \
		"$out" "$(( $(gets) - before ))" "$distinct" "$label"
	for h in "${pids[@]}"; do stop_pid "$h"; done
}

echo "1. $(wc -l < "$STATE/tiles.txt") requests of $distinct distinct z6 tiles (each 5 times, shuffled), 8 keep-alive clients, round-robin over the hosts"
deployment 1 1 "1 host x 1 process"
deployment 1 4 "1 host x 4 processes"
deployment 1 4 "1 host x 4, REDIS_URL" "REDIS_URL=unix://$RSOCK"
deployment 2 4 "2 hosts x 4 processes"
deployment 2 4 "2 hosts x 4, REDIS_URL" "REDIS_URL=unix://$RSOCK"

# ---- 2. the cost of an L2 hit ---------------------------------------------------------------------
to_ms() { awk '{v=$1; if (v ~ /us$/) print v*0.001; else if (v ~ /ms$/) print v+0; else if (v ~ /s$/) print v*1000; else print "nan"}'; }
p50() { awk '$1 == "50%" { print $2 }' "$1" | to_ms; }
ROUNDS=${BENCH_ROUNDS:-9}
echo "2. one cached tile through lighttpd, 1 process each, wrk -t1 -c1 -d2s, $ROUNDS alternating rounds: median p50"
rcli flushall > /dev/null
env_for l1 "REDIS_URL=unix://$RSOCK"
env_for l2 "REDIS_URL=unix://$RSOCK" "TILE_CACHE_MAX_TILES=0"
lighttpd_pool l1 "$BUILD_DIR/astropixel-tiles" 1 "$STATE/l1.env"
B1=$BASE P1=$LPID
lighttpd_pool l2 "$BUILD_DIR/astropixel-tiles" 1 "$STATE/l2.env"
B2=$BASE P2=$LPID
for _ in 1 2 3; do curl -s -o /dev/null "$B1/1/6/1/1.jpg"; curl -s -o /dev/null "$B2/1/6/1/1.jpg"; done
sleep 0.3
[ "$(curl -s -o /dev/null -w '%header{x-tile-source}' "$B2/1/6/1/1.jpg")" = redis ] || echo "  (the L2 pool did not answer from Redis)"
for r in $(seq 1 "$ROUNDS"); do
	wrk -t1 -c1 -d2s --latency "$B1/1/6/1/1.jpg" > "$STATE/wrk.l1.$r" 2>&1
	wrk -t1 -c1 -d2s --latency "$B2/1/6/1/1.jpg" > "$STATE/wrk.l2.$r" 2>&1
	echo "$(p50 "$STATE/wrk.l1.$r") $(p50 "$STATE/wrk.l2.$r")"
done > "$STATE/p50s"
stop_pid "$P1"
stop_pid "$P2"
a=$(awk '{ print $1 }' "$STATE/p50s" | median)
b=$(awk '{ print $2 }' "$STATE/p50s" | median)
d=$(awk '{ print $2 - $1 }' "$STATE/p50s" | median)
printf '  L1 (memory) hit  p50 %6.3f ms   (rounds: %s)\n' "$a" "$(awk '{ printf "%s ", $1 }' "$STATE/p50s")"
printf '  L2 (Redis) hit   p50 %6.3f ms   (rounds: %s)\n' "$b" "$(awk '{ printf "%s ", $2 }' "$STATE/p50s")"
printf '  an L2 hit adds   %6.3f ms (median of per-round differences; goal < 0.3 ms); in the quietest round %6.3f ms\n' "$d" \
	"$(sort -g -k1 "$STATE/p50s" | head -1 | awk '{ print $2 - $1 }')"

# ---- 3. a 100-tile batch from Redis ------------------------------------------------------------------
q=""
for i in $(seq 0 99); do q="$q&tiles=6/$((i % 10))/$((i / 10)).jpg"; done
batch_ms() {	# batch_ms ENV: median of 30 batches after a warm-up one
	local t
	lighttpd_pool batch "$BUILD_DIR/astropixel-tiles" 1 "$1"
	curl -s -o /dev/null "$BASE/1/batch?${q#&}"
	sleep 0.3
	for t in $(seq 1 30); do curl -s -o /dev/null -w '%{time_total}\n' "$BASE/1/batch?${q#&}"; done | awk '{ print $1 * 1000 }' | median
	stop_pid "$LPID"
}
echo "3. a 100-tile batch through lighttpd, 1 process, median of 30"
m1=$(batch_ms "$STATE/l1.env")
m2=$(batch_ms "$STATE/l2.env")
printf '  from memory (L1)   %6.2f ms\n  from Redis (L2)    %6.2f ms   (goal < 5 ms)   ratio %.2f\n' "$m1" "$m2" "$(echo "$m2 / $m1" | bc -l)"
rcli info commandstats | grep -E 'cmdstat_(eval|set)' | sed 's/^/  redis: /'
