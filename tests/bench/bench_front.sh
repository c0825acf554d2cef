#!/usr/bin/env bash
# The event-driven front (issue 13), before and after, in one run:
#
#  1. Misses beside hits: an origin over TLS + HTTP/2, BENCH_RTT_MS/2 each
#     way (delayproxy), lighttpd in front of 2 responder processes; 32
#     clients ask distinct uncached tiles while 4 ask one cached tile, for
#     BENCH_SECONDS. Prints misses/s, miss p50, and the cached tile's p50 /
#     p99 beside them, for the responder before the event-driven front (the
#     parent of the commit that introduced it, built here from git, or
#     BEFORE_BIN) and after it (this tree).
#  2. Kept connections: wrk -t2 -c64 on a cached tile through nginx with
#     fastcgi_keep_conn on (upstream keepalive 8 and 64) and without it, and
#     through Apache + mod_proxy_fcgi with and without enablereuse=on, each
#     in front of 2 responders (spawn-fcgi); req/s, p99, max, and the
#     errors each web server logged.
# Goals (issue 13): 1. >= 550 misses/s, miss p50 <= 60 ms, cached p99 < 5 ms;
# 2. reuse >= the no-reuse throughput with max < 200 ms and 0 errors; nginx
# keep-conn >= 1.1x without, 0 prematurely closed.
source "$(dirname "$0")/lib.sh"
SECONDS_=${BENCH_SECONDS:-6}
RTT=${BENCH_RTT_MS:-50}
DELAYPROXY=$BUILD_DIR/tests/fault/delayproxy
machine

# ---- the responder before the front, for the same run ---------------------------
before_bin() {
	local c
	if [ -n "${BEFORE_BIN:-}" ]; then echo "$BEFORE_BIN"; return; fi
	c=$(git -C "$BENCH_ROOT" log --format=%H --grep='^Event-driven front (issue 13, core)' | tail -1)
	[ -n "$c" ] || return 1
	if [ ! -x "$STATE/before/b/astropixel-tiles" ]; then
		git -C "$BENCH_ROOT" worktree add -q --detach "$STATE/before" "$c^" >/dev/null 2>&1 || return 1
		(cd "$STATE/before" && autoreconf -fi && mkdir -p b && cd b && ../configure -q CFLAGS="-O2 -g" &&
			make -s -j"$(nproc)" astropixel-tiles) > "$STATE/before-build.log" 2>&1 || return 1
	fi
	echo "$STATE/before/b/astropixel-tiles"
}

# ---- part 1 -----------------------------------------------------------------------------
ORIGIN=$STATE/origin
mkdir -p "$ORIGIN/metadata/datasets" "$STATE/tile"
"$MKSAMPLE" --out "$STATE/tile" --id 1 --width 256 --height 256 --quiet
cp "$STATE/tile/tiles/1/0/0/0.jpg" "$STATE/one.jpg"
# a grid of 2^18 x 2^18 tiles at z18: every miss is a new tile
printf '{"is_demo": true, "min_zoom": 0, "max_zoom": 18, "tile_size": 256, "width": 67108864, "height": 67108864}' \
	> "$ORIGIN/metadata/datasets/1.json"
NG=$STATE/nginx
NGPORT=$(free_port)
bash "$SCRIPTS/origin-nginx.sh" start "$NG" "$NGPORT" "$ORIGIN" --tls --any-tile "$STATE/one.jpg" > /dev/null ||
	{ echo "nginx origin failed"; exit 1; }
DPPORT=$(free_port)
"$DELAYPROXY" "$DPPORT" 127.0.0.1 "$NGPORT" $((RTT / 2)) --max-seconds 600 > "$STATE/dp.out" 2>&1 &
DPPID=$!
track $DPPID
trap 'bash "$SCRIPTS/origin-nginx.sh" stop "$NG" >/dev/null 2>&1; git -C "$BENCH_ROOT" worktree remove --force "$STATE/before" >/dev/null 2>&1; cleanup' EXIT
sleep 0.3
cat > "$STATE/app.env" <<ENV
USE_S3=true
AWS_ACCESS_KEY_ID=AKIDEXAMPLE
AWS_SECRET_ACCESS_KEY=ignored-by-nginx
AWS_BUCKET_NAME=tiles
S3_ENDPOINT_URL=https://127.0.0.1:$DPPORT
S3_CA_BUNDLE=$NG/ca.pem
METADATA_CACHE_TTL=3600
TILE_RUNTIME_DIR=$STATE/run
LOG_LEVEL=warn
ENV
cat > "$STATE/misses.lua" <<'LUA'
-- distinct z18 tiles per thread and per run (a random base), never repeated
local threads = {}
function setup(thread)
	thread:set("tid", #threads)
	table.insert(threads, thread)
end
function init(args)
	n = 0
	base = tonumber(args[1]) or 0
end
request = function()
	n = n + 1
	local i = base + tid * 1000000 + n
	return wrk.format("GET", "/api/tiles/1/18/" .. (i % 262144) .. "/" .. math.floor(i / 262144) % 262144 .. ".jpg")
end
LUA
# ms of a wrk latency figure ("1.23ms", "850.00us", "1.02s")
to_ms() { awk '{v=$1; if (v ~ /us$/) print v*0.001; else if (v ~ /ms$/) print v+0; else if (v ~ /s$/) print v*1000; else print "nan"}'; }
lat() { awk -v p="$2" '$1 == p { print $2 }' "$1" | to_ms; }	# lat WRK_OUT 50%|99%

mix() {	# mix NAME LABEL BIN: one part-1 run
	local name=$1 label=$2 bin=$3 base=$((RANDOM * 32768 + RANDOM))
	lighttpd_pool "mix-$name" "$bin" 2 "$STATE/app.env" || { echo "  $label: pool did not start"; return; }
	for i in $(seq 1 20); do curl -s -o /dev/null "$BASE/1/0/0/0.jpg"; done	# the cached tile, both processes
	wrk -t2 -c32 -d"${SECONDS_}s" --latency -s "$STATE/misses.lua" "http://127.0.0.1:$PORT" -- "$base" > "$STATE/miss.$name" 2>&1 &
	local w=$!
	wrk -t1 -c4 -d"${SECONDS_}s" --latency "$BASE/1/0/0/0.jpg" > "$STATE/hit.$name" 2>&1
	wait $w
	printf '  %-28s %8s misses/s  miss p50 %7.1f ms | cached tile p50 %6.2f ms  p99 %8.2f ms  (%s hits/s)\n' \
		"$label" "$(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$STATE/miss.$name")" \
		"$(lat "$STATE/miss.$name" 50%)" "$(lat "$STATE/hit.$name" 50%)" "$(lat "$STATE/hit.$name" 99%)" \
		"$(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$STATE/hit.$name")"
	grep -h "Non-2xx\|Socket errors" "$STATE/miss.$name" "$STATE/hit.$name" | sed "s|^|    $name: |"
	KEEP_POOL=${KEEP_POOL:-}
	[ -n "$KEEP_POOL" ] || stop_pid "$LPID"
}
echo "1. misses beside hits: origin TLS+h2 ${RTT} ms RTT away, lighttpd, 2 processes, wrk 32 clients of misses + 4 of one cached tile, ${SECONDS_} s"
echo "   (closed-loop limit of 32 clients at ${RTT} ms: $((32 * 1000 / RTT)) misses/s)"
if b=$(before_bin); then mix before "before (one request/process)" "$b"; else echo "  before: could not build it (see $STATE/before-build.log)"; fi
mix after "after (event-driven)" "$BUILD_DIR/astropixel-tiles"
