#!/usr/bin/env bash
# What one tile miss costs on top of the origin: the same objects fetched
#  (ref) directly with curl from an nginx TLS + HTTP/2 origin, warm connection;
#  (ap)  through curl -> lighttpd -> astropixel-tiles -> the same origin, warm
#        connections, cache disabled so every request is a miss.
# Prints medians and p90 of per-request times, their difference (the added
# latency; goal under 1 ms) and ratio.
source "$(dirname "$0")/lib.sh"
N=${BENCH_N:-200}
machine
DATA=$STATE/data
"$MKSAMPLE" --out "$DATA" --id 1 --width 16384 --height 8192 --only-levels 13-14 --quiet
tls_origin "$DATA"
lighttpd_pool miss "$BUILD_DIR/astropixel-tiles" 1 "$STATE/app.env"
# N distinct tiles of level 14 (64 x 32), the same list for both paths
keys=$(for i in $(seq 0 $((N - 1))); do echo "14/$((i % 64))/$((i / 64 % 32)).jpg"; done)
times() {	# times URL_PREFIX [curl args]: per-transfer seconds, first (cold) dropped
	local p=$1; shift
	curl -s "$@" $(for k in $keys; do printf -- '-o /dev/null %s/%s ' "$p" "$k"; done) -w '%{time_total}\n' | tail -n +2
}
echo "one tile miss, $N distinct tiles, warm connections, 15 KB-ish JPEG tiles"
for round in 1 2 3; do
	times "https://127.0.0.1:$NGPORT/tiles/tiles/1" --http2 --cacert "$NG/ca.pem" > "$STATE/ref.$round"
	times "$BASE/1" > "$STATE/ap.$round"
done
cat "$STATE"/ref.* > "$STATE/ref"; cat "$STATE"/ap.* > "$STATE/ap"
p90() { sort -g | awk '{a[NR]=$1} END {print a[int(NR*0.9)]}'; }
r=$(median < "$STATE/ref"); a=$(median < "$STATE/ap")
printf '  direct curl (h2, TLS)            median %.3f ms  p90 %.3f ms\n' "$(echo "$r*1000" | bc -l)" "$(p90 < "$STATE/ref" | awk '{print $1*1000}')"
printf '  through lighttpd + astropixel    median %.3f ms  p90 %.3f ms\n' "$(echo "$a*1000" | bc -l)" "$(p90 < "$STATE/ap" | awk '{print $1*1000}')"
printf '  added latency: %.3f ms (goal < 1 ms), ratio %.2f\n' "$(echo "($a-$r)*1000" | bc -l)" "$(echo "$a/$r" | bc -l)"
grep -c ' /tiles/tiles/1/14/' "$NG/access.log" | xargs -I{} echo "  origin saw {} tile requests"
stop_pid "$LPID"
