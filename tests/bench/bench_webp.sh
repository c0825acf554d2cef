#!/usr/bin/env bash
# WebP variants (issue 19): bytes of a 100-tile viewport as JPEG vs lossy
# WebP and as PNG vs lossless WebP, the SSIM reached, the encode time per
# tile, made by tests/tools/mkwebp exactly as astropixel-sync will make them.
#
# Data (tests/sample/mksample, seed 1):
#  - "sample 2560": a 2560x2560 dataset whose deepest level (12) is exactly
#    10x10 full 256-px tiles, written once as JPEG (quality 85) and once as PNG
#    from the same pixels;
#  - "built-in": the default demo dataset (16384x8192, JPEG), the central
#    10x10 tiles of its deepest level (14).
# mksample's PNGs are stored-deflate (uncompressed, ~196 KiB a tile), which
# flatters any compressor; so lossless WebP is also compared with the same
# pixels re-encoded by libpng at zlib level 9 (mkwebp --png9), a PNG as a
# careful pipeline would store it. Prints tables; asserts nothing.
#
#   tests/bench/bench_webp.sh      BENCH_WEBP_SLOW=1 adds method 6 and lossless
#                                  level 9 (no smaller, 1.5x and 30x the time)
source "$(dirname "$0")/lib.sh"
MKWEBP=$BUILD_DIR/tests/tools/mkwebp
[ -x "$MKWEBP" ] && [ -x "$MKSAMPLE" ] ||
	{ echo "build $BUILD_DIR first (tests/tools/mkwebp needs libwebp-dev, libpng-dev, libjpeg-dev)"; exit 1; }
trap cleanup EXIT

# ---- data -------------------------------------------------------------------------
"$MKSAMPLE" --out "$STATE/j" --id 1 --width 2560 --height 2560 --only-levels 12 --quiet
"$MKSAMPLE" --out "$STATE/p" --id 1 --width 2560 --height 2560 --only-levels 12 --format png --quiet
"$MKSAMPLE" --out "$STATE/b" --id 1 --only-levels 14 --quiet
tiles() {	# DIR Z X0 X1 Y0 Y1 EXT: the files of a block of tiles
	local x y
	for x in $(seq "$3" "$4"); do for y in $(seq "$5" "$6"); do
		echo "$1/tiles/1/$2/$x/$y.$7"
	done; done
}
tiles "$STATE/j" 12 0 9 0 9 jpg > "$STATE/j.list"
tiles "$STATE/p" 12 0 9 0 9 png > "$STATE/p.list"
tiles "$STATE/b" 14 27 36 11 20 jpg > "$STATE/b.list"

# run LIST NAME [mkwebp options]: one mkwebp line per tile into $STATE/NAME.out
run() {
	local list=$1 name=$2 f
	shift 2
	: > "$STATE/$name.out"
	while read -r f; do
		"$MKWEBP" "$@" "$f" >> "$STATE/$name.out" 2>> "$STATE/$name.err" ||
			echo "  ($name: mkwebp failed on $f: $(tail -1 "$STATE/$name.err"))"
	done < "$list"
}
# col NAME KEY: the values of KEY=... of every line
col() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" "$STATE/$1.out"; }
sum() { awk '{s += $1} END {printf "%d", s}'; }
minv() { sort -g | head -1; }
maxv() { sort -g | tail -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
# row NAME LABEL [REF_KEY]: one line of the table; bytes against orig (or REF_KEY)
row() {
	local name=$1 label=$2 ref=${3:-orig} n orig webp q
	n=$(wc -l < "$STATE/$name.out")
	orig=$(col "$name" "$ref" | sum)
	webp=$(col "$name" webp | sum)
	q=$(col "$name" quality)
	if [ "$(echo "$q" | head -1)" = lossless ]; then q=lossless; else
		q="$(echo "$q" | minv)/$(echo "$q" | median)/$(echo "$q" | maxv)"
	fi
	printf '%-30s %5s %10s %10s %6s %15s %8s %8s %9s %7s %7s %7s\n' "$label" "$n" "$orig" "$webp" \
		"$(ratio "$webp" "$orig")" "$q" \
		"$(col "$name" ssim | minv)" "$(col "$name" ssim | median)" \
		"$(col "$name" ssim_rgb | minv)" \
		"$(col "$name" ms | awk '{s += $1} END {printf "%.1f", s / NR}')" \
		"$(col "$name" ms | median | awk '{printf "%.1f", $1}')" \
		"$(grep -c 'smaller=yes meets=yes' "$STATE/$name.out")"
}
header() {
	printf '%-30s %5s %10s %10s %6s %15s %8s %8s %9s %7s %7s %7s\n' "$1" tiles "$2" webp ratio \
		"quality min/med/max" "ssim min" "ssim med" "rgb min" "ms mean" "ms med" usable
}

machine
echo "load average at start: $(cut -d" " -f1-3 /proc/loadavg) (other work on the machine skews the times)"
echo "libwebp $(pkg-config --modversion libwebp 2>/dev/null), libpng $(pkg-config --modversion libpng 2>/dev/null), libjpeg-turbo $(pkg-config --modversion libjpeg 2>/dev/null)"
echo "ssim: luma (BT.601), 11x11 gaussian sigma 1.5, mean over the tile; rgb min: the mean of R, G, B SSIMs (information)"
echo "ms: wall time of one variant (decode, every encode and SSIM of the search); usable: smaller and meets the threshold"
echo

run "$STATE/j.list" j-search
[ -n "${BENCH_WEBP_SLOW:-}" ] && run "$STATE/j.list" j-m6 --method 6
run "$STATE/j.list" j-q75 --quality 75
run "$STATE/b.list" b-search
run "$STATE/b.list" b-q75 --quality 75
header "JPEG -> lossy WebP" "jpeg bytes"
row j-search "sample 2560, ssim>=0.98 (m4)"
[ -n "${BENCH_WEBP_SLOW:-}" ] && row j-m6 "sample 2560, ssim>=0.98 (m6)"
row j-q75 "sample 2560, fixed q75"
row b-search "built-in, ssim>=0.98 (m4)"
row b-q75 "built-in, fixed q75"
echo

run "$STATE/p.list" p-l6 --png9
[ -n "${BENCH_WEBP_SLOW:-}" ] && run "$STATE/p.list" p-l9 --png9 --lossless-level 9
header "PNG -> lossless WebP" "png bytes"
row p-l6 "mksample PNG (stored), lv 6"
[ -n "${BENCH_WEBP_SLOW:-}" ] && row p-l9 "mksample PNG (stored), lv 9"
row p-l6 "libpng -9 PNG, lv 6" png9
[ -n "${BENCH_WEBP_SLOW:-}" ] && row p-l9 "libpng -9 PNG, lv 9" png9
echo
echo "the same 100 viewport tiles: JPEG $(col j-search orig | sum) B, lossy WebP $(col j-search webp | sum) B;" \
	"PNG stored $(col p-l6 orig | sum) B, PNG -9 $(col p-l6 png9 | sum) B, lossless WebP $(col p-l6 webp | sum) B"
echo "goals (issue 19): lossy <= 0.75x JPEG at SSIM >= 0.98; lossless <= 0.85x PNG"
