#!/usr/bin/env bash
# What the tile index saves (issue 16.5): 100-tile viewports (batch, cache
# off: every tile a miss) from an origin 25 ms away each way, nginx TLS +
# HTTP/2 behind delayproxy, one responder process:
#   jpeg          a JPEG dataset asked as .jpg (the reference: one GET a tile);
#   png, index    a PNG-only dataset asked as .jpg, with its index (its
#                 objects are the JPEG dataset's bytes under .png keys, so
#                 that the comparison is of round trips, not of PNG's bytes);
#   png, none     the same without index (TILE_INDEX_MAX_BYTES=0): jpg 404, png;
#   holes, index  a JPEG dataset half of whose tiles are holes (checkerboard);
#   holes, none   the same without index: every hole costs jpg, png, webp 404s.
# Medians of 5 viewports (distinct tiles, so negative entries do not help),
# after one warm-up viewport; origin requests counted in nginx's access log.
# Goals: png with index <= 1.1x jpeg (without: about 2x); holes: 0 requests.
source "$(dirname "$0")/lib.sh"
DELAY=${BENCH_DELAY_MS:-25}
machine
DATA=$STATE/data
"$MKSAMPLE" --out "$DATA" --id 1 --width 16384 --height 8192 --only-levels 14-14 --quiet
cp -r "$DATA/tiles/1" "$DATA/tiles/2"
find "$DATA/tiles/2" -name '*.jpg' -exec sh -c 'mv "$1" "${1%.jpg}.png"' _ {} \;
sed 's/"id": *1\b/"id": 2/' "$DATA/metadata/datasets/1.json" > "$DATA/metadata/datasets/2.json"
"$MKSAMPLE" --out "$DATA" --id 4 --width 16384 --height 8192 --only-levels 14-14 --quiet
for x in $(seq 0 63); do for y in $(seq 0 31); do
	[ $(((x + y) % 2)) = 0 ] && rm -f "$DATA/tiles/4/14/$x/$y.jpg"
done; done
"$BUILD_DIR/tests/tools/mkindex" --dir "$DATA" 1 2 4 > /dev/null || { echo "mkindex failed"; exit 1; }
tls_origin "$DATA" "${DPORT:=$(free_port)}"
"$BUILD_DIR/tests/fault/delayproxy" "$DPORT" 127.0.0.1 "$NGPORT" "$DELAY" --max-seconds 600 > "$STATE/dp.log" 2>&1 &
track $!
sleep 0.3
viewport() {	# 100 tiles: a 10 x 10 block of level 14 at column $1, rows $2..$2+9
	for x in $(seq "$1" $(($1 + 9))); do for y in $(seq "$2" $(($2 + 9))); do printf 'tiles=14/%d/%d.jpg&' "$x" "$y"; done; done
}
reqs() { grep -c " /tiles/tiles/$1/14/" "$NG/access.log"; }
# run NAME ID: warm-up viewport, then 5 timed ones; sets T (median s), R (origin requests a viewport)
run() {
	local id=$2 before
	curl -s -o /dev/null "$BASE/$id/batch?$(viewport 0 0)"
	sleep 0.2
	before=$(reqs "$id")
	for i in 1 2 3 4 5; do
		curl -s -o "$STATE/$1.json" -w '%{time_total}\n' "$BASE/$id/batch?$(viewport $((i * 10)) 10)"
	done > "$STATE/$1.times"
	sleep 0.2
	T=$(median < "$STATE/$1.times")
	R=$((($(reqs "$id") - before) / 5))
	C=$(node -e "console.log(JSON.parse(require('fs').readFileSync('$STATE/$1.json')).count)")
}
lighttpd_pool index "$BUILD_DIR/astropixel-tiles" 1 "$STATE/app.env"
run jpeg 1; tj=$T rj=$R cj=$C
run holes 4; th=$T rh=$R ch=$C
run png 2; tp=$T rp=$R cp=$C
stop_pid "$LPID"
cp "$STATE/app.env" "$STATE/noindex.env"
echo "TILE_INDEX_MAX_BYTES=0" >> "$STATE/noindex.env"
: > "$NG/access.log"
lighttpd_pool noindex "$BUILD_DIR/astropixel-tiles" 1 "$STATE/noindex.env"
run holes-none 4; thn=$T rhn=$R chn=$C
run png-none 2; tpn=$T rpn=$R cpn=$C
stop_pid "$LPID"
ms() { echo "$1" | awk '{printf "%4.0f ms", $1 * 1000}'; }
ratio() { echo "$1 $2" | awk '{printf "%.2f", $1 / $2}'; }
echo "100-tile viewport (batch, misses), origin ${DELAY} ms away each way (RTT $((2 * DELAY)) ms), nginx TLS + HTTP/2"
echo "  jpeg dataset as .jpg           $(ms "$tj")  $rj origin requests, $cj tiles  (reference)"
echo "  png-only as .jpg, index        $(ms "$tp")  $rp origin requests, $cp tiles  $(ratio "$tp" "$tj")x jpeg (goal <= 1.1)"
echo "  png-only as .jpg, no index     $(ms "$tpn")  $rpn origin requests, $cpn tiles  $(ratio "$tpn" "$tj")x jpeg"
echo "  half holes, index              $(ms "$th")  $rh origin requests, $ch tiles  $(ratio "$th" "$tj")x jpeg"
echo "  half holes, no index           $(ms "$thn")  $rhn origin requests, $chn tiles  $(ratio "$thn" "$tj")x jpeg"
for f in jpeg png png-none holes holes-none; do echo "    $f: $(tr '\n' ' ' < "$STATE/$f.times")"; done
echo "  holes' origin requests: $((rh - ch)) with the index (goal 0), $((rhn - chn)) without"
