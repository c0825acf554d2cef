#!/usr/bin/env bash
# Observability overhead (issue 17), in one run: cache-hit throughput of a
# warm tile through lighttpd (2 responders each pool, wrk -t2 -c32), with
# metrics and the access log off (METRICS=false, no ACCESS_LOG), metrics
# only, and both on (METRICS=true, ACCESS_LOG to a file; a scraper reads
# /metrics every second meanwhile), alternating rounds so that all three see
# the same machine.
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
{ common met; echo "METRICS=true"; } > "$STATE/met.env"
{ common on; echo "METRICS=true"; echo "ACCESS_LOG=$STATE/access.log"; } > "$STATE/on.env"
lighttpd_pool off "$BIN" 2 "$STATE/off.env" || { echo "pool off did not start"; exit 1; }
OFF=$BASE/1/$TILE
OFF_PID=$LPID
lighttpd_pool met "$BIN" 2 "$STATE/met.env" || { echo "pool met did not start"; exit 1; }
MET=$BASE/1/$TILE
MET_PID=$LPID
lighttpd_pool on "$BIN" 2 "$STATE/on.env" || { echo "pool on did not start"; exit 1; }
ON=$BASE/1/$TILE
ON_PID=$LPID
METRICS_URL=$BASE/metrics
[ "$(curl -s -o /dev/null -w '%{http_code}' "$METRICS_URL")" = 200 ] || echo "  (the on pool does not answer /metrics)"
# warm both processes of both pools
for _ in $(seq 1 20); do curl -s -o /dev/null "$OFF"; curl -s -o /dev/null "$MET"; curl -s -o /dev/null "$ON"; done

rps() { awk '/^Requests\/sec/ { printf "%.0f", $2 }' "$1"; }
# CPU time (ns) the responders of a lighttpd have run (schedstat: exact,
# and unlike throughput it does not move with what else the machine does)
cpu_ns() { local t=0 p; for p in $(pgrep -P "$1"); do t=$((t + $(cut -d' ' -f1 "/proc/$p/schedstat"))); done; echo "$t"; }
run() {	# run NAME URL LIGHTTPD_PID: one wrk round; prints req/s, notes CPU us per request
	local c0 c1 n
	c0=$(cpu_ns "$3")
	wrk -t2 -c32 -d"${DUR}s" "$2" > "$STATE/wrk.$1" 2>&1
	c1=$(cpu_ns "$3")
	grep -q "Non-2xx\|Socket errors" "$STATE/wrk.$1" && echo "  ($1: $(grep -h 'Non-2xx\|Socket errors' "$STATE/wrk.$1"))" >&2
	n=$(awk '/requests in/ { print $1 }' "$STATE/wrk.$1")
	awk -v c=$((c1 - c0)) -v n="$n" 'BEGIN { if (n > 0) printf "%.2f\n", c / n / 1000 }' >> "$STATE/cpu.$1"
	rps "$STATE/wrk.$1"
}
# a Prometheus-like scraper on the on pool while it is measured
scraper() { while :; do curl -s -o /dev/null --max-time 2 "$METRICS_URL"; sleep 1; done; }
scraper &
SCRAPER=$!
track "$SCRAPER"
for r in $(seq 1 "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then
		o=$(run off "$OFF" "$OFF_PID"); m=$(run met "$MET" "$MET_PID"); n=$(run on "$ON" "$ON_PID")
	else
		n=$(run on "$ON" "$ON_PID"); m=$(run met "$MET" "$MET_PID"); o=$(run off "$OFF" "$OFF_PID")
	fi
	echo "$o $m $n"
	echo "  round $r: off $o req/s, metrics $m req/s, metrics + access log $n req/s" >&2
done > "$STATE/rounds"
kill "$SCRAPER" 2>/dev/null
off=$(awk '{print $1}' "$STATE/rounds" | median)
met=$(awk '{print $2}' "$STATE/rounds" | median)
on=$(awk '{print $3}' "$STATE/rounds" | median)
lines=$(wc -l < "$STATE/access.log")
echo "cache hit, metrics + access log off: $off req/s (median)"
echo "cache hit, metrics on, no access log: $met req/s (median)"
echo "cache hit, metrics + access log on:  $on req/s (median); $lines access log lines written"
for p in off met on; do echo "responder CPU per request, $p: $(median < "$STATE/cpu.$p") us (median)"; done
awk -v a="$met" -v b="$off" 'BEGIN { printf "ratio metrics/off: %.3f\n", a / b }'
awk -v a="$on" -v b="$off" 'BEGIN { printf "ratio on/off: %.3f (goal >= 0.97)\n", a / b }'
echo "ratio on/off of the rounds (measured next to each other): median $(awk '{ printf "%.3f\n", $3 / $1 }' "$STATE/rounds" | median)"
awk -v a="$(median < "$STATE/cpu.off")" -v b="$(median < "$STATE/cpu.on")" \
	'BEGIN { printf "responder CPU per request off/on: %.3f (what the throughput ratio would be if the responders were the bottleneck)\n", a / b }'
