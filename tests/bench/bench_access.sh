#!/usr/bin/env bash
# Observability overhead (issue 17), in one run: cache-hit throughput of a
# warm tile through lighttpd (2 responders each pool, wrk -t2 -c32), with
# metrics and the access log off (METRICS=false, no ACCESS_LOG) against on
# (METRICS=true, ACCESS_LOG to a file, a scraper reading /metrics every
# second meanwhile), alternating rounds so that both see the same machine.
# Goal (issue 17): on/off >= 0.97.
source "$(dirname "$0")/lib.sh"
machine
DUR=${BENCH_SECONDS:-4}
ROUNDS=${BENCH_ROUNDS:-5}

DATA=$STATE/data
"$MKSAMPLE" --out "$DATA" --id 1 --width 2048 --height 2048 --quiet
TILE=11/3/3.jpg
echo "tile: $TILE, $(stat -c %s "$DATA/tiles/1/$TILE") bytes; 2 responders per pool; wrk -t2 -c32 -d${DUR}s x $ROUNDS rounds"
common() {
	echo "LOCAL_STORAGE_DIR=$DATA"
	echo "LOG_LEVEL=warn"
	echo "TILE_RUNTIME_DIR=$STATE/run-$1"
}
{ common off; echo "METRICS=false"; } > "$STATE/off.env"
{ common on; echo "METRICS=true"; echo "ACCESS_LOG=$STATE/access.log"; } > "$STATE/on.env"
lighttpd_pool off "$BIN" 2 "$STATE/off.env" || { echo "pool off did not start"; exit 1; }
OFF=$BASE/1/$TILE
lighttpd_pool on "$BIN" 2 "$STATE/on.env" || { echo "pool on did not start"; exit 1; }
ON=$BASE/1/$TILE
METRICS_URL=$BASE/metrics
[ "$(curl -s -o /dev/null -w '%{http_code}' "$METRICS_URL")" = 200 ] || echo "  (the on pool does not answer /metrics)"
# warm both processes of both pools
for _ in $(seq 1 20); do curl -s -o /dev/null "$OFF"; curl -s -o /dev/null "$ON"; done

rps() { awk '/^Requests\/sec/ { printf "%.0f", $2 }' "$1"; }
run() {	# run NAME URL: one wrk round; prints req/s
	wrk -t2 -c32 -d"${DUR}s" "$2" > "$STATE/wrk.$1" 2>&1
	grep -q "Non-2xx\|Socket errors" "$STATE/wrk.$1" && echo "  ($1: $(grep -h 'Non-2xx\|Socket errors' "$STATE/wrk.$1"))" >&2
	rps "$STATE/wrk.$1"
}
# a Prometheus-like scraper on the on pool while it is measured
scraper() { while :; do curl -s -o /dev/null --max-time 2 "$METRICS_URL"; sleep 1; done; }
scraper &
SCRAPER=$!
track "$SCRAPER"
for r in $(seq 1 "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then o=$(run off "$OFF"); n=$(run on "$ON"); else n=$(run on "$ON"); o=$(run off "$OFF"); fi
	echo "$o $n"
	echo "  round $r: off $o req/s, on $n req/s" >&2
done > "$STATE/rounds"
kill "$SCRAPER" 2>/dev/null
off=$(awk '{print $1}' "$STATE/rounds" | median)
on=$(awk '{print $2}' "$STATE/rounds" | median)
lines=$(wc -l < "$STATE/access.log")
echo "cache hit, metrics + access log off: $off req/s (median)"
echo "cache hit, metrics + access log on:  $on req/s (median); $lines access log lines written"
awk -v a="$on" -v b="$off" 'BEGIN { printf "ratio on/off: %.3f (goal >= 0.97)\n", a / b }'
