#!/usr/bin/env bash
# Integration: astropixel-sync's tile index (issue 16.2) and WebP variants
# (issue 19.1) against OpenStack Swift + s3api (real SigV4 checks). What the
# bucket holds is read through Swift's own API, the order of requests from
# Swift's proxy log, and every index is decoded with tests/tools/mkindex.
#  - sync builds metadata/datasets/{id}.index from the local tree, writes it
#    there (and only when it changed) and PUTs it after every tile and the
#    metadata; it lists exactly the tiles of the tree and describes the
#    metadata's updated_at; an unchanged index is not sent again;
#  - --delete: the new index is PUT before the tiles it dropped are deleted;
#    a failed tile holds the index back (the bucket keeps the old one);
#  - --index-only on a bucket another tool filled (s3put.sh): the index of
#    exactly its tiles, the same bytes as mkindex makes from the same tree,
#    other objects ignored and counted, nothing else written; without a
#    bucket, the local tree's index, written there and nothing else;
#  - --webp: lossless variants decode to exactly the PNG's pixels, lossy ones
#    keep SSIM >= 0.98 against the decoded JPEG (tests/tools/webpcheck, the
#    same libraries); a variant not smaller than its PNG is neither written
#    nor uploaded, and the index says webp is absent there; a hand-made .webp
#    is kept byte for byte; a second run encodes and uploads nothing; a
#    changed source remakes exactly its variant; a removed source takes its
#    variant with it; the tree and the bucket stay mirrors;
#  - astropixel-tiles links none of libwebp, libpng, libjpeg (ldd); a build
#    without them refuses --webp and SYNC_WEBP=true with exit 2.
source "$(dirname "$0")/lib.sh"
SCRIPTS=$IT_ROOT/tests/scripts
SYNC=${SYNC:-$BUILD_DIR/astropixel-sync}
MKINDEX=$BUILD_DIR/tests/tools/mkindex
WEBPCHECK=$BUILD_DIR/tests/tools/webpcheck
MKWEBP=$BUILD_DIR/tests/tools/mkwebp
SECRET=testing

for t in "$SYNC" "$MKINDEX" "$WEBPCHECK" "$MKWEBP"; do
	[ -x "$t" ] || { fail "tools are built" "$t missing (WebP needs libwebp-dev, libpng-dev, libjpeg-dev)"; finish; exit 1; }
done

SW=$STATE/swift
require_swift
for b in idx other webp; do bash "$SCRIPTS/s3mb.sh" "$EP" "$b" >/dev/null 2>&1; done
AUTH=$(curl -s -D - -o /dev/null --max-time 10 -H 'X-Auth-User: test:tester' \
	-H "X-Auth-Key: $SECRET" "$EP/auth/v1.0" | tr -d '\r')
TOKEN=$(echo "$AUTH" | sed -n 's/^X-Auth-Token: //Ip')
SURL=$(echo "$AUTH" | sed -n 's/^X-Storage-Url: //Ip')
# listing BUCKET: "name md5 bytes" per object, sorted (Swift's own API: the oracle)
listing() {
	curl -s --max-time 30 -H "X-Auth-Token: $TOKEN" "$SURL/$1?format=json&limit=10000" |
		python3 -c 'import json,sys
for o in json.load(sys.stdin): print(o["name"], o["hash"], o["bytes"])' | sort
}
# local_listing DIR: the same for a tree (the .astropixel-sync cache is not part of it)
local_listing() { (cd "$1" && find . -type f -not -path './.astropixel-sync/*' | sed 's|^\./||' |
	sort | while read -r f; do echo "$f $(md5sum < "$f" | cut -d' ' -f1) $(stat -c %s "$f")"; done); }
fetch() { curl -s --max-time 10 -H "X-Auth-Token: $TOKEN" "$SURL/$1/$2" -o "$3"; }
# tiles_of DIR ID: the tiles a server reads from a tree, as mkindex --tiles prints them
tiles_of() { (cd "$1/tiles/$2" && find . -type f -regextype egrep -regex '\./[0-9]+/[0-9]+/[0-9]+\.(jpg|png|webp)' |
	sed 's|^\./||' | sort); }
dump_tiles() { "$MKINDEX" --dump --tiles "$1" | grep -E '^[0-9]+/[0-9]+/[0-9]+\.' | sort; }
# S3 requests of the proxy log: "METHOD key" for BUCKET, in order
requests() { grep -oE "\"?(PUT|DELETE) /$1/[^ ?]*" "$SW/proxy.log" | sed -E "s|^\"?([A-Z]+) /$1/|\1 |"; }
settle() { sleep 0.5; }	# Swift writes its log line as a request ends

senv() {
	cat <<ENV
AWS_ACCESS_KEY_ID=test:tester
AWS_SECRET_ACCESS_KEY=$SECRET
AWS_BUCKET_NAME=$1
S3_ENDPOINT_URL=$EP
S3_REGION=auto
LOCAL_STORAGE_DIR=$2
S3_TIMEOUT_MS=10000
ENV
}
N=0
run() {	# run ENVFILE ARGS...: sets RC, OUT, ERR
	local envf=$1
	shift
	N=$((N + 1))
	env -i PATH="$PATH" ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
		ENV_FILE="$envf" "$SYNC" "$@" > "$STATE/sync$N.out" 2> "$STATE/sync$N.err"
	RC=$?
	OUT=$(cat "$STATE/sync$N.out")
	ERR=$(cat "$STATE/sync$N.err")
}
field() { printf '%s' "$ERR" | sed -n "s/.*[:,] $1 \([0-9][0-9]*\).*/\1/p" | tail -1; }

# ==== the index written by sync ===================================================
DATA=$STATE/data
"$MKSAMPLE" --out "$DATA" --id 1 --width 600 --height 400 --quiet
"$MKSAMPLE" --out "$DATA" --id 2 --width 600 --height 400 --format png --quiet
senv idx "$DATA" > "$STATE/idx.env"
NFILES=$(find "$DATA" -type f | wc -l)
run "$STATE/idx.env" -v
expect "sync: exit 0, every file and the two indexes uploaded" "$RC/$(field uploaded)/$(field failed)" "0/$((NFILES + 2))/0"
check "  the index of dataset 1 is written to the local tree" test -s "$DATA/metadata/datasets/1.index"
check "  and of dataset 2" test -s "$DATA/metadata/datasets/2.index"
expect "  no temporary file left beside it" "$(find "$DATA/metadata" -name '.*' | wc -l)" 0
expect "  bucket = local tree, index included (Swift's listing)" "$(listing idx)" "$(local_listing "$DATA")"
expect_match "  -v says what the index lists" "$ERR" \
	'dataset 1: index of 17 tiles \(jpg 17, png 0, webp 0\), [0-9]+ bytes, written to'
fetch idx metadata/datasets/1.index "$STATE/b1.index"
expect "the bucket's index of dataset 1 decodes and lists exactly the tiles of the tree" \
	"$(dump_tiles "$STATE/b1.index")" "$(tiles_of "$DATA" 1)"
fetch idx metadata/datasets/2.index "$STATE/b2.index"
expect "  of dataset 2 (PNG) too" "$(dump_tiles "$STATE/b2.index")" "$(tiles_of "$DATA" 2)"
expect "  it describes the metadata's updated_at" \
	"$("$MKINDEX" --dump "$STATE/b1.index" | sed -n 's/^updated_at: "\(.*\)"$/\1/p')" \
	"$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["updated_at"])' "$DATA/metadata/datasets/1.json")"
settle
requests idx > "$STATE/req1"
last=$(grep -E '^PUT (tiles/1/|metadata/datasets/1\.)' "$STATE/req1" | tail -1)
expect "order: the index is dataset 1's last PUT (Swift's proxy log)" "$last" "PUT metadata/datasets/1.index"
ln_meta=$(grep -n '^PUT metadata/datasets/1\.json$' "$STATE/req1" | cut -d: -f1)
ln_idx=$(grep -n '^PUT metadata/datasets/1\.index$' "$STATE/req1" | cut -d: -f1)
ln_tile=$(grep -n '^PUT tiles/1/' "$STATE/req1" | tail -1 | cut -d: -f1)
[ -n "$ln_meta" ] && [ -n "$ln_idx" ] && [ "$ln_tile" -lt "$ln_meta" ] && [ "$ln_meta" -lt "$ln_idx" ] &&
	pass "  tiles, then the metadata, then the index (lines $ln_tile < $ln_meta < $ln_idx)" ||
	fail "  tiles, then the metadata, then the index" "last tile $ln_tile, metadata $ln_meta, index $ln_idx"
expect "  the index was PUT once" "$(grep -c '^PUT metadata/datasets/1\.index$' "$STATE/req1")" 1

stamp1=$(stat -c %Y.%N "$DATA/metadata/datasets/1.index")
run "$STATE/idx.env"
settle
expect "second run: nothing uploaded, the indexes skipped as up to date" "$RC/$(field uploaded)/$(field skipped)" "0/0/$((NFILES + 2))"
expect "  no PUT at all (proxy log)" "$(requests idx | wc -l)" "$(wc -l < "$STATE/req1")"
expect "  the local index is not rewritten" "$(stat -c %Y.%N "$DATA/metadata/datasets/1.index")" "$stamp1"

# a new updated_at: the index is rebuilt for it (a reader ignores one for other metadata)
sed -i 's/"updated_at": *"[^"]*"/"updated_at": "2026-02-02T10:00:00Z"/' "$DATA/metadata/datasets/1.json"
run "$STATE/idx.env" -v 1
fetch idx metadata/datasets/1.index "$STATE/b1.index"
expect "new metadata: the metadata and the index go again (2 uploads)" "$RC/$(field uploaded)" "0/2"
expect "  the bucket's index describes the new updated_at" \
	"$("$MKINDEX" --dump "$STATE/b1.index" | sed -n 's/^updated_at: //p')" '"2026-02-02T10:00:00Z"'

# ==== --delete keeps it true ===========================================================
mv "$DATA/tiles/1/10/2/1.jpg" "$STATE/gone.jpg"
run "$STATE/idx.env" --dry-run --delete 1
expect "--dry-run --delete: the index and the deletion are planned" \
	"$(printf '%s\n' "$OUT" | sed 's/ (.*//' | sort | tr '\n' ' ')" \
	"would delete tiles/1/10/2/1.jpg would upload metadata/datasets/1.index "
before=$(requests idx | wc -l)
run "$STATE/idx.env" --delete 1
settle
expect "--delete: the index uploaded, the tile deleted" "$RC/$(field uploaded)/$(field deleted)" "0/1/1"
requests idx | tail -n +"$((before + 1))" > "$STATE/req2"
expect "  the new index is PUT before the tile it dropped is deleted" "$(tr '\n' ' ' < "$STATE/req2")" \
	"PUT metadata/datasets/1.index DELETE tiles/1/10/2/1.jpg "
fetch idx metadata/datasets/1.index "$STATE/b1.index"
expect "  the bucket's index lists exactly the tiles left" "$(dump_tiles "$STATE/b1.index")" "$(tiles_of "$DATA" 1)"
expect "  bucket = local tree" "$(listing idx)" "$(local_listing "$DATA")"

# a tile that cannot be sent holds the index back: the old one stays
old_md5=$(md5sum < "$STATE/b1.index")
mv "$STATE/gone.jpg" "$DATA/tiles/1/10/2/1.jpg"
ln -s "$STATE/no-such-file.jpg" "$DATA/tiles/1/9/1/5.jpg"
run "$STATE/idx.env" 1
fetch idx metadata/datasets/1.index "$STATE/b1.index"
expect "a failed tile: exit 1, the new tile uploaded, 2 failed (the link and the held index)" \
	"$RC/$(field uploaded)/$(field failed)" "1/1/2"
expect_match "  the index is named as held back" "$ERR" 'metadata/datasets/1\.index: held back'
expect "  the bucket keeps the old index (it names no tile that is missing)" "$(md5sum < "$STATE/b1.index")" "$old_md5"
rm "$DATA/tiles/1/9/1/5.jpg"
run "$STATE/idx.env" 1
fetch idx metadata/datasets/1.index "$STATE/b1.index"
expect "  fixed: the next run sends the index, which lists the new tile" \
	"$RC/$(field uploaded)/$(dump_tiles "$STATE/b1.index" | grep -c '^10/2/1\.jpg$')" "0/1/1"

# ==== --index-only on a bucket another tool filled =========================================
OT=$STATE/other
"$MKSAMPLE" --out "$OT" --id 4 --width 600 --height 400 --quiet
rm "$OT/tiles/4/10/2/1.jpg"				# a hole
"$MKSAMPLE" --out "$STATE/png4" --id 4 --width 600 --height 400 --format png --quiet
mv "$OT/tiles/4/10/1/1.jpg" "$STATE/x.jpg"; cp "$STATE/png4/tiles/4/10/1/1.png" "$OT/tiles/4/10/1/1.png"	# PNG only
(cd "$OT" && find . -type f | sed 's|^\./||') | while read -r k; do
	bash "$SCRIPTS/s3put.sh" "$EP" other "$k" "$OT/$k"
done
echo notes > "$STATE/notes.txt"
bash "$SCRIPTS/s3put.sh" "$EP" other tiles/4/notes.txt "$STATE/notes.txt"		# not a tile
bash "$SCRIPTS/s3put.sh" "$EP" other tiles/4/10/0/0.jpeg "$OT/tiles/4/10/0/0.jpg"	# never read: the server asks .jpg
bash "$SCRIPTS/s3put.sh" "$EP" other tiles/4/10/9/9.jpg "$OT/tiles/4/10/0/0.jpg"	# outside the 3x2 grid
"$MKINDEX" --dir "$OT" 4 > /dev/null			# the same tree, indexed locally: the expected bytes
cat > "$STATE/other.env" <<ENV
USE_S3=true
AWS_ACCESS_KEY_ID=test:tester
AWS_SECRET_ACCESS_KEY=$SECRET
AWS_BUCKET_NAME=other
S3_ENDPOINT_URL=$EP
ENV
settle
before_list=$(listing other)
before=$(requests other | wc -l)
run "$STATE/other.env" --index-only
settle
expect "--index-only (no ids, no local tree): exit 0, one object uploaded" "$RC/$(field uploaded)/$(field failed)" "0/1/0"
expect "  the only new object is the index" "$(diff <(echo "$before_list") <(listing other) | grep '^[<>]' | cut -d' ' -f1-2)" \
	"> metadata/datasets/4.index"
expect "  the only request that wrote was its PUT" "$(requests other | tail -n +"$((before + 1))" | tr '\n' ' ')" \
	"PUT metadata/datasets/4.index "
fetch other metadata/datasets/4.index "$STATE/o4.index"
expect "  it lists exactly the tiles uploaded (hole absent, 10/1/1 as png only)" \
	"$(dump_tiles "$STATE/o4.index")" "$(tiles_of "$OT" 4)"
check "  byte for byte what mkindex builds from the same tree" cmp -s "$STATE/o4.index" "$OT/metadata/datasets/4.index"
expect_match "  the 3 other objects are ignored and counted" "$ERR" \
	'dataset 4: index of 16 tiles \(jpg 15, png 1, webp 0\).*; 3 objects ignored'
run "$STATE/other.env" --index-only 4
expect "  again, named: up to date, nothing uploaded" "$RC/$(field uploaded)/$(field skipped)" "0/0/1"
run "$STATE/other.env" --index-only 77
expect "  a dataset without metadata in the bucket: exit 1" "$RC" 1
expect_match "  naming what is missing" "$ERR" \
	'metadata/datasets/77\.index: no metadata/datasets/77\.json in the bucket'
run "$STATE/other.env" --index-only --delete
expect "  --index-only --delete: usage error" "$RC" 2

# without a bucket: the local tree's index, written there and nothing else
LO=$STATE/localonly
cp -a "$OT" "$LO"
rm -f "$LO/metadata/datasets/4.index"
printf 'LOCAL_STORAGE_DIR=%s\n' "$LO" > "$STATE/local.env"
before_list=$(local_listing "$LO")
run "$STATE/local.env" --index-only
expect "--index-only without a bucket: exit 0" "$RC" 0
expect "  only the index was added to the tree" \
	"$(diff <(echo "$before_list") <(local_listing "$LO") | grep '^[<>]' | cut -d' ' -f1-2)" "> metadata/datasets/4.index"
check "  the same bytes as from the bucket" cmp -s "$LO/metadata/datasets/4.index" "$STATE/o4.index"
expect_match "  and it says where it went" "$ERR" "written to $LO/metadata/datasets/4\\.index"

# --local: variants and index in the local tree, with a bucket configured or not, nothing sent
LW=$STATE/localwebp
"$MKSAMPLE" --out "$LW" --id 8 --width 600 --height 400 --quiet
printf 'LOCAL_STORAGE_DIR=%s\n' "$LW" > "$STATE/localw.env"
run "$STATE/localw.env" --local --webp --webp-jobs 2
expect "--local --webp without a bucket: exit 0" "$RC" 0
nw=$(find "$LW/tiles/8" -name '*.webp' | wc -l)
made=$(sed -n 's/.*dataset 8: WebP variants of [0-9]* tiles: \([0-9]*\) made.*/\1/p' <<< "$ERR")
expect "  the variants it says it made are in the tree" "$nw" "${made:-none}"
[ "$nw" -gt 5 ] && pass "  variants exist ($nw)" || fail "  variants exist" "$nw"
expect_match "  the index lists them" "$ERR" 'dataset 8: index of [0-9]+ tiles \(jpg [0-9]+, png 0, webp [1-9][0-9]*\).*written to'
run "$STATE/localw.env" --local --webp --webp-jobs 2
expect_match "  a second run encodes nothing" "$ERR" 'dataset 8: WebP variants of [0-9]+ tiles: 0 made'
expect_match "  and leaves the index as it was" "$ERR" 'dataset 8: index .* unchanged'
run "$STATE/local.env" --local --delete
expect "--local --delete: usage error" "$RC" 2
run "$STATE/local.env" --local --index-only
expect "--local --index-only: usage error" "$RC" 2

# ==== WebP variants ==========================================================================
WD=$STATE/webp
"$MKSAMPLE" --out "$WD" --id 5 --width 600 --height 400 --quiet
"$MKSAMPLE" --out "$WD" --id 6 --width 600 --height 400 --format png --quiet
# a hand-made variant (no mark): must be kept byte for byte
"$MKWEBP" --quality 40 --out "$WD/tiles/5/10/1/1.webp" "$WD/tiles/5/10/1/1.jpg" > /dev/null
hand=$(md5sum < "$WD/tiles/5/10/1/1.webp")
senv webp "$WD" > "$STATE/webp.env"
run "$STATE/webp.env" --webp --webp-jobs 2 -v
expect "--webp: exit 0" "$RC" 0
expect_match "  dataset 5: 16 variants made, the hand-made one kept" "$ERR" \
	'dataset 5: WebP variants of 17 tiles: 16 made .*1 hand-made kept'
expect_match "  on 2 threads" "$ERR" 'dataset 5: WebP variants .* 2 threads'
expect "  the hand-made 10/1/1.webp is untouched" "$(md5sum < "$WD/tiles/5/10/1/1.webp")" "$hand"
bad="" n=0
while read -r w; do
	s=${w%.webp}.jpg; [ -f "$s" ] || s=${w%.webp}.png
	[ "$w" = "$WD/tiles/5/10/1/1.webp" ] && continue
	line=$("$WEBPCHECK" "$s" "$w") || { bad="$bad ${w#"$WD"/}:undecodable"; continue; }
	n=$((n + 1))
	case "$line" in
	from=png\ identical=yes\ mark=yes*) ;;
	from=jpg\ ssim=*\ mark=yes*)
		python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= 0.98 else 1)' \
			"$(echo "$line" | sed 's/.*ssim=\([0-9.]*\).*/\1/')" || bad="$bad ${w#"$WD"/}:$line" ;;
	*) bad="$bad ${w#"$WD"/}:$line" ;;
	esac
done < <(find "$WD/tiles" -name '*.webp' | sort)
expect "  every variant made checks out (PNG: identical pixels; JPEG: SSIM >= 0.98; marked)${bad:+:$bad}" \
	"$n/${bad:-none}" "$(grep -oE 'dataset [56]: WebP variants of [0-9]+ tiles: [0-9]+ made' <<< "$ERR" | awk '{s += $(NF - 1)} END {print s}')/none"
lossless=$(find "$WD/tiles/6" -name '*.webp' | wc -l)
[ "$lossless" -gt 5 ] && pass "  lossless variants exist ($lossless)" || fail "  lossless variants exist" "$lossless"
# tiny PNG tiles of the top levels: their WebP is not smaller
expect_match "  a variant not smaller than its PNG is refused, and said so" "$OUT" \
	'^webp tiles/6/0/0/0\.webp: not made: [0-9]+ bytes \(lossless\), not smaller than the [0-9]+ of 0\.png'
check "  it is not in the local tree" test ! -e "$WD/tiles/6/0/0/0.webp"
expect "  nor in the bucket" "$(listing webp | grep -c '^tiles/6/0/0/0\.webp ')" 0
fetch webp metadata/datasets/6.index "$STATE/w6.index"
expect "  the index says webp is absent there, png present" \
	"$(dump_tiles "$STATE/w6.index" | grep -E '^0/0/0\.' | tr '\n' ' ')" "0/0/0.png "
expect "  the index lists exactly the tiles of the tree, variants included" \
	"$(dump_tiles "$STATE/w6.index")" "$(tiles_of "$WD" 6)"
expect "  tree and bucket are mirrors" "$(listing webp)" "$(local_listing "$WD")"
check "  the refusals are remembered outside the mirrored layout" test -s "$WD/.astropixel-sync/6.webp-refused"

before=$(requests webp | wc -l)
run "$STATE/webp.env" --webp -v
settle
expect "second --webp run: exit 0, 0 uploaded" "$RC/$(field uploaded)" "0/0"
expect_match "  nothing encoded: variants up to date, refusals remembered" "$ERR" \
	'dataset 6: WebP variants of 17 tiles: 0 made .*13 up to date.* refused before'
expect "  no variant line (no encode)" "$(printf '%s\n' "$OUT" | grep -c '^webp ')" 0
expect "  no PUT (proxy log)" "$(requests webp | wc -l)" "$before"

cp "$WD/tiles/5/10/0/1.jpg" "$WD/tiles/5/10/0/0.jpg"
run "$STATE/webp.env" --webp -v
expect "a changed JPEG: its variant alone is made again, both uploaded" \
	"$RC/$(field uploaded)/$(printf '%s\n' "$OUT" | grep -c '^webp ')" "0/2/1"
expect_match "  it is 10/0/0.webp" "$OUT" '^webp tiles/5/10/0/0\.webp: made from 0\.jpg'
check "  and matches the new source" bash -c "'$WEBPCHECK' '$WD/tiles/5/10/0/0.jpg' '$WD/tiles/5/10/0/0.webp' | grep -q mark=yes"

mv "$WD/tiles/5/10/2/1.jpg" "$STATE/src-gone.jpg"
run "$STATE/webp.env" --webp --delete -v 5
expect "a removed source: its variant (ours) is removed locally, both deleted in the bucket" \
	"$RC/$(field deleted)/$(test -e "$WD/tiles/5/10/2/1.webp" && echo kept || echo gone)" "0/2/gone"
fetch webp metadata/datasets/5.index "$STATE/w5.index"
expect "  the index lists neither" "$(dump_tiles "$STATE/w5.index" | grep -c '^10/2/1\.')" 0
expect "  tree and bucket are mirrors" "$(listing webp)" "$(local_listing "$WD")"

run "$STATE/webp.env" --webp --webp-quality 60 --dry-run 5
expect "other options (--webp-quality 60), dry run: exit 0" "$RC" 0
expect_match "  every JPEG variant of ours would be made again, the hand-made one kept" "$ERR" \
	'dataset 5: WebP variants of 16 tiles: 0 made \(0 bytes for 0\), 1 hand-made kept, 15 to make \(dry run'
expect "  a dry run writes nothing: the variants are those of the last run" \
	"$(local_listing "$WD")" "$(listing webp)"
run "$STATE/webp.env" --webp --webp-ssim 1.5
expect "--webp-ssim 1.5: usage error" "$RC" 2

# ==== linking ===================================================================================
libs=$(ldd "$BIN" | grep -oE 'lib(webp|webpmux|png16|png|jpeg)\.so[^ ]*' | tr '\n' ' ')
expect "astropixel-tiles links none of libwebp, libpng, libjpeg (ldd)" "${libs:-none}" none
check "  (the check can fail: astropixel-sync does link libwebp)" bash -c "ldd '$SYNC' | grep -q libwebp"

# a build without the image libraries (made here once, then kept up to date by make)
NW=$IT_ROOT/_build/nowebp
echo "# building astropixel-sync without WebP in $NW (configure --without-webp)"
mkdir -p "$NW"
if ( cd "$NW" && { [ -f Makefile ] || "$IT_ROOT/configure" -q --without-webp --enable-werror CFLAGS=-O0; } &&
	make -s -j2 astropixel-sync ) > "$STATE/nowebp-build.log" 2>&1; then
	SYNC_SAVED=$SYNC; SYNC=$NW/astropixel-sync
	run "$STATE/webp.env" --webp --dry-run
	expect_match "  (that build) --webp: exit 2, this build has no WebP support" "$RC $ERR" \
		'^2 .*--webp: this build has no WebP support'
	cp "$STATE/webp.env" "$STATE/webp-setting.env"; echo SYNC_WEBP=true >> "$STATE/webp-setting.env"
	run "$STATE/webp-setting.env" --dry-run
	expect_match "  SYNC_WEBP=true: exit 2 too" "$RC $ERR" '^2 .*SYNC_WEBP=true: this build has no WebP support'
	run "$STATE/webp.env" --help
	expect_match "  its --help says so" "$OUT" '^This build has no WebP support'
	mv "$STATE/sync$N.out" "$STATE/help.out"	# may hold any word: not scanned for the secret
	run "$STATE/webp.env" --dry-run
	expect "  without it, that build syncs" "$RC" 0
	SYNC=$SYNC_SAVED
	expect "  and it links no image library" "$(ldd "$NW/astropixel-sync" | grep -cE 'libwebp|libpng|libjpeg')" 0
else
	fail "a build without WebP (configure --without-webp)" "$(tail -5 "$STATE/nowebp-build.log")"
fi

# ==== valgrind (plain build): the encoding threads, --index-only from the bucket ===============
PLAIN=${PLAIN_BUILD_DIR:-$IT_ROOT/_build/plain}
if command -v valgrind >/dev/null && [ -x "$PLAIN/astropixel-sync" ]; then
	VG=$STATE/vg
	"$MKSAMPLE" --out "$VG" --id 8 --width 600 --height 400 --only-levels 8-10 --quiet
	"$MKSAMPLE" --out "$STATE/vgpng" --id 8 --width 600 --height 400 --only-levels 10 --format png --quiet
	cp "$STATE/vgpng/tiles/8/10/0/1.png" "$VG/tiles/8/10/0/1.png"	# beside its JPEG: not a source
	mv "$VG/tiles/8/10/1/1.jpg" "$STATE/vg-x.jpg"; cp "$STATE/vgpng/tiles/8/10/1/1.png" "$VG/tiles/8/10/1/1.png"
	bash "$SCRIPTS/s3mb.sh" "$EP" vgbucket >/dev/null 2>&1
	senv vgbucket "$VG" > "$STATE/vg.env"
	env -i PATH="$PATH" ENV_FILE="$STATE/vg.env" valgrind -q --leak-check=full --error-exitcode=99 \
		"$PLAIN/astropixel-sync" --webp --webp-jobs 2 > "$STATE/vg1.out" 2> "$STATE/vg1.err"
	expect "valgrind: a --webp run (2 encoding threads) is clean" "$?" 0
	sed 's/^LOCAL_STORAGE_DIR=.*/USE_S3=true/' "$STATE/vg.env" > "$STATE/vg-bucket.env"
	bash "$SCRIPTS/s3put.sh" "$EP" vgbucket tiles/8/10/9/9.jpg "$STATE/vg-x.jpg"	# outside the grid
	env -i PATH="$PATH" ENV_FILE="$STATE/vg-bucket.env" valgrind -q --leak-check=full --error-exitcode=99 \
		"$PLAIN/astropixel-sync" --index-only > "$STATE/vg2.out" 2> "$STATE/vg2.err"
	expect "valgrind: --index-only from the bucket is clean" "$?" 0
	expect_match "  (it ignored the object outside the grid)" "$(cat "$STATE/vg2.err")" '1 object ignored'
else
	echo "# valgrind or $PLAIN/astropixel-sync missing: valgrind checks skipped"
fi

cat "$STATE"/sync*.out "$STATE"/sync*.err > "$STATE/all.log" 2>/dev/null
check "no sanitizer report" asan_clean "$STATE/all.log"
check "the secret never appears in any output" bash -c "! grep -qw '$SECRET' '$STATE/all.log'"
finish
