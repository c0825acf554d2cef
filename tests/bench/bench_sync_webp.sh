#!/usr/bin/env bash
# WebP variants made by astropixel-sync --webp (issue 19): encode time per
# tile through sync (the variant phase, on every CPU), bytes of the
# variants against their sources, what the ownership mark costs, and what a
# second run costs once everything is up to date. Into Swift + s3api (the
# upload is not what is measured: the variant phase is timed by sync itself).
#
# Data (tests/sample/mksample, seed 1):
#  - "built-in": the default demo dataset, 16384x8192 JPEG, 2 739 tiles;
#  - "png 4096": 4096x4096 as PNG (mksample's PNGs are stored-deflate, i.e.
#    uncompressed: the ratio flatters lossless WebP; bench_webp.sh compares
#    with the same pixels at zlib level 9).
# Prints figures; asserts nothing.
#
#   tests/bench/bench_sync_webp.sh        BENCH_WEBP_JOBS=N (default: every CPU)
source "$(dirname "$0")/lib.sh"
SYNC=$BUILD_DIR/astropixel-sync
[ -x "$SYNC" ] && [ -x "$MKSAMPLE" ] || { echo "build $BUILD_DIR first (astropixel-sync, mksample)"; exit 1; }
! "$SYNC" --help | grep -q 'no WebP support' || { echo "this astropixel-sync has no WebP support"; exit 1; }
JOBS=${BENCH_WEBP_JOBS:-$(nproc)}

SW=$STATE/swift
SWPORT=""
for i in 1 2 3; do
	SWPORT=$(free_port)
	bash "$SCRIPTS/swift.sh" start "$SW" "$SWPORT" > "$STATE/swift.log" 2>&1 && break
	SWPORT=""
done
trap 'bash "$SCRIPTS/swift.sh" stop "$SW" > /dev/null 2>&1; cleanup' EXIT
[ -n "$SWPORT" ] || { echo "swift+s3api did not start: $(tail -1 "$STATE/swift.log")"; exit 1; }
EP=http://127.0.0.1:$SWPORT

# bench NAME DIR: two runs of sync --webp into a fresh bucket; one line of figures
bench() {
	local name=$1 dir=$2 t0 t1 t2 note files src_bytes
	bash "$SCRIPTS/s3mb.sh" "$EP" "$name" > /dev/null 2>&1
	cat > "$STATE/$name.env" <<ENV
AWS_ACCESS_KEY_ID=test:tester
AWS_SECRET_ACCESS_KEY=testing
AWS_BUCKET_NAME=$name
S3_ENDPOINT_URL=$EP
LOCAL_STORAGE_DIR=$dir
S3_TIMEOUT_MS=30000
ENV
	files=$(find "$dir/tiles" -type f | wc -l)
	src_bytes=$(find "$dir/tiles" -type f -printf '%s\n' | awk '{s += $1} END {print s}')
	t0=$(date +%s%3N)
	env -i PATH="$PATH" ENV_FILE="$STATE/$name.env" "$SYNC" --webp --webp-jobs "$JOBS" -v \
		> "$STATE/$name.1.out" 2> "$STATE/$name.1.err"
	t1=$(date +%s%3N)
	env -i PATH="$PATH" ENV_FILE="$STATE/$name.env" "$SYNC" --webp --webp-jobs "$JOBS" \
		> "$STATE/$name.2.out" 2> "$STATE/$name.2.err"
	t2=$(date +%s%3N)
	note=$(grep -m1 'WebP variants of' "$STATE/$name.1.err")
	echo "$name: $files tiles, $src_bytes bytes of sources"
	echo "  first run:  $note"
	echo "              whole run (variants, index, upload of $(sed -n 's/.*uploaded \([0-9]*\) .*/\1/p' "$STATE/$name.1.err") objects) $(( (t1 - t0) / 1000 )).$(( (t1 - t0) % 1000 / 100 )) s"
	echo "  second run: $(grep -m1 'WebP variants of' "$STATE/$name.2.err" | sed 's/.*: WebP/WebP/')"
	echo "              whole run $(( (t2 - t1) / 1000 )).$(( (t2 - t1) % 1000 / 100 )) s, $(sed -n 's/.*uploaded \([0-9]*\) .*/\1/p' "$STATE/$name.2.err") uploaded"
	# the variants made: bytes, ratio, the mark's share, quality and SSIM spread
	grep '^webp .*: made from' "$STATE/$name.1.out" | python3 -c '
import re, sys, statistics as st
w = o = 0; q = []; s = []; ms = []; n = 0
for line in sys.stdin:
    m = re.search(r"made from \S+: (\d+) of (\d+) bytes.*?(quality (\d+), SSIM ([0-9.]+)|lossless).*?([0-9.]+) ms", line)
    if not m: continue
    n += 1; w += int(m.group(1)); o += int(m.group(2)); ms.append(float(m.group(6)))
    if m.group(4): q.append(int(m.group(4))); s.append(float(m.group(5)))
print("  variants: %d, %d bytes for %d of their sources: %.3f; the mark (50 B each) is %.1f %% of them" %
      (n, w, o, w / o if o else 0, 100.0 * 50 * n / w if w else 0))
if q: print("  quality min/median/max %d/%d/%d, SSIM min/median %.4f/%.4f" % (min(q), st.median(q), max(q), min(s), st.median(s)))
if ms: print("  ms a variant (one thread): median %.1f, mean %.1f, max %.1f" % (st.median(ms), st.mean(ms), max(ms)))
'
}

machine
echo "load average at start: $(cut -d" " -f1-3 /proc/loadavg); libwebp $(pkg-config --modversion libwebp 2>/dev/null); $JOBS encoding threads"
echo
"$MKSAMPLE" --out "$STATE/builtin" --id 1 --quiet
bench builtin "$STATE/builtin"
echo
"$MKSAMPLE" --out "$STATE/png" --id 2 --width 4096 --height 4096 --format png --quiet
bench png4096 "$STATE/png"
