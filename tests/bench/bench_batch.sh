#!/usr/bin/env bash
# A 100-tile viewport of misses from an origin 25 ms away (each direction),
# nginx TLS + HTTP/2 behind delayproxy (no netem here):
#   batch   GET /batch with 100 tiles through lighttpd + astropixel-tiles
#           (cache disabled: every batch is 100 misses), warm and cold;
#   (a)     the same 100 tiles one after another over one keep-alive
#           connection (curl, sequential) - the design this product replaces;
#   (b)     one round trip over a warm connection - the physical floor.
# Goals: batch >= 40x faster than (a); within 2x of (b) when warm; TCP
# connections opened for a cold batch against the h2 origin: 1.
source "$(dirname "$0")/lib.sh"
DELAY=${BENCH_DELAY_MS:-25}
machine
DATA=$STATE/data
"$MKSAMPLE" --out "$DATA" --id 1 --width 16384 --height 8192 --only-levels 13-14 --quiet
tls_origin "$DATA" "${DPORT:=$(free_port)}"
"$BUILD_DIR/tests/fault/delayproxy" "$DPORT" 127.0.0.1 "$NGPORT" "$DELAY" --max-seconds 600 > "$STATE/dp.log" 2>&1 &
track $!
sleep 0.3
viewport() {	# 100 tiles: a 10 x 10 block of level 14 starting at column $1
	for x in $(seq "$1" $(($1 + 9))); do for y in $(seq 10 19); do printf 'tiles=14/%d/%d.jpg&' "$x" "$y"; done; done
}
: > "$NG/access.log"
lighttpd_pool batch "$BUILD_DIR/astropixel-tiles" 1 "$STATE/app.env"
cold=$(curl -s -o "$STATE/b.json" -w '%{time_total}' "$BASE/1/batch?$(viewport 0)")
count=$(node -e "console.log(JSON.parse(require('fs').readFileSync('$STATE/b.json')).count)")
conns=$(awk '{print $1}' "$NG/access.log" | sort -u | wc -l)
proto=$(awk '{print $NF}' "$NG/access.log" | sort -u | tr '\n' ' ')
for i in 1 2 3 4 5; do
	curl -s -o /dev/null -w '%{time_total}\n' "$BASE/1/batch?$(viewport $((i * 10)))"
done > "$STATE/warm"
warm=$(median < "$STATE/warm")
conns_all=$(awk '{print $1}' "$NG/access.log" | sort -u | wc -l)
stop_pid "$LPID"
# (a) sequential over one keep-alive connection (HTTP/2, the same proxy)
urls=$(for x in $(seq 0 9); do for y in $(seq 10 19); do printf 'https://127.0.0.1:%d/tiles/tiles/1/14/%d/%d.jpg ' "$DPORT" "$x" "$y"; done; done)
seq_t=$(curl -s --http2 --cacert "$NG/ca.pem" $(for u in $urls; do printf -- '-o /dev/null %s ' "$u"; done) -w '%{time_total}\n' | awk '{s+=$1} END {print s}')
# (b) one round trip on a warm connection: the second of two requests
floor=$(curl -s --http2 --cacert "$NG/ca.pem" -o /dev/null "https://127.0.0.1:$DPORT/tiles/tiles/1/14/0/0.jpg" \
	-o /dev/null "https://127.0.0.1:$DPORT/tiles/tiles/1/14/0/1.jpg" -w '%{time_total}\n' | tail -1)
ms() { echo "$1" | awk '{printf "%.0f ms", $1 * 1000}'; }
echo "100-tile viewport of misses, origin ${DELAY} ms away each way (RTT $((2 * DELAY)) ms), nginx TLS + HTTP/2"
echo "  batch, cold process:  $(ms "$cold")  ($count tiles; TCP connections opened: $conns; protocol: $proto)"
echo "  batch, warm (median of 5): $(ms "$warm")  (connections after 6 batches: $conns_all)"
echo "  (a) sequential, one keep-alive connection: $(ms "$seq_t")"
echo "  (b) one round trip, warm connection: $(ms "$floor")"
echo "  speed-up over (a): $(echo "$seq_t $warm" | awk '{printf "%.1f", $1/$2}')x (goal >= 40x); batch / floor: $(echo "$warm $floor" | awk '{printf "%.2f", $1/$2}') (goal <= 2)"
