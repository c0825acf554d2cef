#!/usr/bin/env bash
# WebP variants as a browser on a slow link sees them (issue 19): the time to
# load a 100-tile viewport through lighttpd + 2 responder processes (tiles
# cached in memory, so the link is all that differs), the client behind
# tests/fault/delayproxy: BENCH_VIEW_DELAY ms each way (25) and one shared
# downlink of BENCH_VIEW_RATE bytes/s (1 000 000, 8 Mbit/s, a phone on an
# average mobile link), 6 connections as a browser opens to one host over
# HTTP/1.1.
#
# Data (tests/sample/mksample, seed 1): a 2560x2560 dataset whose level 12 is
# exactly 10x10 full tiles, as JPEG (dataset 1) and as PNG from the same
# pixels (dataset 2); variants by `astropixel-sync --local --webp` (SSIM >=
# 0.98 for JPEG, lossless for PNG). mksample's PNGs are stored-deflate
# (see bench_webp.sh, which also compares with zlib level 9).
# Prints bytes and median load time of 5 rounds per format; asserts nothing.
source "$(dirname "$0")/lib.sh"
DELAY=${BENCH_VIEW_DELAY:-25}
RATE=${BENCH_VIEW_RATE:-1000000}
ROUNDS=${BENCH_VIEW_ROUNDS:-5}
DELAYPROXY=$BUILD_DIR/tests/fault/delayproxy
[ -x "$DELAYPROXY" ] && [ -x "$MKSAMPLE" ] && [ -x "$BUILD_DIR/astropixel-sync" ] ||
	{ echo "build $BUILD_DIR first (make; astropixel-sync needs libwebp for --webp)"; exit 1; }
trap cleanup EXIT
machine

DATA=$STATE/data
"$MKSAMPLE" --out "$DATA" --id 1 --width 2560 --height 2560 --only-levels 12 --quiet
"$MKSAMPLE" --out "$DATA" --id 2 --width 2560 --height 2560 --only-levels 12 --format png --quiet
t0=$(date +%s.%N)
LOCAL_STORAGE_DIR=$DATA "$BUILD_DIR/astropixel-sync" --local --webp --quiet ||
	{ echo "astropixel-sync --local --webp failed"; exit 1; }
echo "variants of 200 tiles made in $(echo "$(date +%s.%N) - $t0" | bc | xargs printf '%.1f') s ($(nproc) threads)"

cat > "$STATE/app.env" <<ENV
LOCAL_STORAGE_DIR=$DATA
TILE_RUNTIME_DIR=$STATE/run
LOG_LEVEL=warn
ENV
lighttpd_pool view "$BIN" 2 "$STATE/app.env" || { echo "lighttpd did not start"; exit 1; }
DPORT=$(free_port)
"$DELAYPROXY" "$DPORT" 127.0.0.1 "$PORT" "$DELAY" --rate-down "$RATE" --max-seconds 900 \
	> "$STATE/dp.out" 2> "$STATE/dp.err" &
track $!
for _ in $(seq 1 50); do grep -q listening "$STATE/dp.out" 2> /dev/null && break; sleep 0.1; done
SLOW=http://127.0.0.1:$DPORT/api/tiles

urls() {	# BASE DS EXT: the 100 tile URLs of level 12
	local x y
	for y in $(seq 0 9); do for x in $(seq 0 9); do
		printf 'url = "%s/%s/12/%s/%s.%s"\noutput = "/dev/null"\n' "$1" "$2" "$x" "$y" "$3"
	done; done
}
load() {	# BASE DS EXT: "SECONDS BYTES" of one viewport, 6 connections
	urls "$1" "$2" "$3" > "$STATE/urls"
	local t b
	t=$(date +%s.%N)
	b=$(curl -s --no-progress-meter --parallel --parallel-max 6 -K "$STATE/urls" -w '%{size_download} %{http_code}\n' |
		awk '$2 == 200 { s += $1; n++ } END { print (n == 100 ? s : "only " n " answers of 200") }')
	echo "$(echo "$(date +%s.%N) - $t" | bc) $b"
}
row() {	# LABEL DS EXT
	local i r times bytes
	load "$BASE" "$2" "$3" > /dev/null	# into both processes' memory, fast
	load "$BASE" "$2" "$3" > /dev/null
	times=""
	for i in $(seq 1 "$ROUNDS"); do
		r=$(load "$SLOW" "$2" "$3")
		times="$times ${r%% *}"
		bytes=${r#* }
	done
	T=$(printf '%s\n' $times | median)
	B=$bytes
	printf '  %-28s %10s bytes  %6.0f ms  (rounds:%s)\n' "$1" "$B" "$(echo "$T * 1000" | bc)" "$times"
}

echo "100-tile viewport through a ${DELAY} ms (each way), $RATE B/s link, 6 connections, median of $ROUNDS:"
row "JPEG (dataset 1, .jpg)" 1 jpg; JT=$T JB=$B
row "WebP from JPEG (.webp)" 1 webp; WT=$T WB=$B
row "PNG (dataset 2, .png)" 2 png; PT=$T PB=$B
row "WebP lossless (.webp)" 2 webp; LT=$T LB=$B
ratio() { echo "scale=3; $1 / $2" | bc | sed 's/^\./0./'; }
echo "ratios: WebP/JPEG bytes $(ratio "$WB" "$JB"), time $(ratio "$WT" "$JT"); lossless WebP/PNG bytes $(ratio "$LB" "$PB"), time $(ratio "$LT" "$PT")"
echo "floor: a 100-tile viewport needs at least 100/6 x ${DELAY}x2 ms of round trips; bytes / rate beyond that"
