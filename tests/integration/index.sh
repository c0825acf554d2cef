#!/usr/bin/env bash
# Integration: the server's use of the tile index (issue 16.3/16.4) and the
# WebP variants it lists (issue 19.2), against OpenStack Swift + s3api, the
# bucket's requests counted in Swift's proxy log, and against the local tree,
# its reads counted with strace. Indexes are made by tests/tools/mkindex.
#  - PNG-only and WebP-only datasets asked as .jpg: one GET per tile, of the
#    format the index lists; a sparse dataset: holes 404 with no GET, in
#    single tiles, batch and prefetch (a hole is never queued);
#  - a corrupt index, one built for an older updated_at, one over
#    TILE_INDEX_MAX_BYTES: ignored with one log line, tiles probed (jpg 404
#    then png), never a wrong 404; no index: probing as before;
#  - info reports formats from the index (null without one);
#  - with Redis: a hole costs no Redis lookup either; a PNG-only tile asked
#    as .jpg is stored and found in Redis as the png;
#  - WebP: .webp asked costs one GET; with Accept: image/webp the info
#    template and the batch point at .webp for a dataset with variants, the
#    info answer carries Vary: Accept and is private; .jpg stays JPEG,
#    byte-identical, with no Vary on tile URLs.
source "$(dirname "$0")/lib.sh"
SCRIPTS=$IT_ROOT/tests/scripts
MKINDEX=$BUILD_DIR/tests/tools/mkindex
MKWEBP=$BUILD_DIR/tests/tools/mkwebp
for t in "$MKINDEX" "$MKWEBP"; do
	[ -x "$t" ] || { fail "tools are built" "$t missing (mkwebp needs libwebp-dev, libpng-dev, libjpeg-dev)"; finish; exit 1; }
done

DATA=$STATE/data
mk() { local id=$1; shift; "$MKSAMPLE" --out "$DATA" --id "$id" --width 600 --height 400 --seed "$id" --quiet "$@"; }
towebp() {	# towebp ID [keep]: a .webp beside (or instead of) every tile
	local f
	for f in $(find "$DATA/tiles/$1" -type f \( -name '*.jpg' -o -name '*.png' \)); do
		"$MKWEBP" --out "${f%.*}.webp" "$f" >/dev/null 2>&1 || return 1
		[ "${2:-}" = keep ] || rm -f "$f"
	done
}
mk 11 --format png			# PNG-only
mk 12 && towebp 12			# WebP-only
mk 13					# sparse: four holes
rm "$DATA"/tiles/13/10/0/0.jpg "$DATA"/tiles/13/10/1/1.jpg "$DATA"/tiles/13/10/2/0.jpg "$DATA"/tiles/13/9/1/0.jpg
mk 14 && towebp 14 keep			# JPEG with WebP variants
mk 15 --format png			# corrupt index
mk 16 --format png			# index older than the metadata
mk 17 --format png			# no index
mk 18 --format png			# index over the size limit (below)
"$MKINDEX" --dir "$DATA" 11 12 13 14 15 16 18 > "$STATE/mkindex.out" 2>&1 || fail "mkindex" "$(cat "$STATE/mkindex.out")"
python3 - "$DATA/metadata/datasets/15.index" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[len(b) // 2] ^= 0x40; open(p, 'wb').write(b)
PY
sed -i 's/"updated_at": "[^"]*"/"updated_at": "2026-03-01T00:00:00Z"/' "$DATA/metadata/datasets/16.json"
ntiles() { find "$DATA/tiles/$1" -type f | wc -l; }
pass "datasets made (PNG-only $(ntiles 11), WebP-only $(ntiles 12), sparse $(ntiles 13) tiles and 4 holes)"

# ---- Swift ------------------------------------------------------------------
SW=$STATE/swift
require_swift
bash "$SCRIPTS/s3mb.sh" "$EP" tiles > /dev/null 2>&1 || true
n=0
# tiles first, then the metadata, the index last (as astropixel-sync does)
while IFS= read -r f; do
	bash "$SCRIPTS/s3put.sh" "$EP" tiles "${f#"$DATA"/}" "$f" || { fail "seed bucket" "$f"; break; }
	n=$((n + 1))
done < <(find "$DATA/tiles" -type f | sort; find "$DATA/metadata" -name '*.json' | sort; find "$DATA/metadata" -name '*.index' | sort)
pass "seeded the bucket with $n objects"

mkdir -p "$STATE/empty"
cat > "$STATE/app.env" <<ENV
USE_S3=true
AWS_ACCESS_KEY_ID=test:tester
AWS_SECRET_ACCESS_KEY=testing
AWS_BUCKET_NAME=tiles
S3_ENDPOINT_URL=$EP
LOCAL_STORAGE_DIR=$STATE/empty
TILE_RUNTIME_DIR=$STATE/run
S3_TIMEOUT_MS=5000
TILE_CACHE_MAX_TILES=0
METADATA_CACHE_TTL=600
CORS_ALLOWED_ORIGIN=*
ENV
lighttpd_from_deploy "$STATE/app.env" 1 || fail "lighttpd starts" "$(tail -3 "$STATE/error.log")"

# GETs of the bucket's tiles/ID/ since mark: "key" per line, in order
mark() { sleep 0.3; MARK=$(wc -l < "$SW/proxy.log"); }
gets() { sleep 0.6; tail -n +$((MARK + 1)) "$SW/proxy.log" | grep -oE "\"?GET /tiles/tiles/$1/[^ ?]*" | sed -E 's|^"?GET /tiles/||'; }
ngets() { gets "$1" | grep -c . ; }
# tiles of dataset ID at levels 9 and 10, as z/x/y (whatever their format)
tiles_at() { (cd "$DATA/tiles/$1" && find 9 10 -type f | sed -E 's/\.[a-z]+$//' | sort); }
warm() { req GET "$BASE/$1/info"; }	# loads metadata and index

for id in 11 12; do
	want_type=image/png; [ $id = 12 ] && want_type=image/webp
	warm $id
	mark
	ok=0 total=0
	for t in $(tiles_at $id); do
		total=$((total + 1))
		req GET "$BASE/$id/$t.jpg"
		[ "$STATUS/$(header Content-Type)" = "200/$want_type" ] && ok=$((ok + 1))
	done
	expect "dataset $id ($want_type only) asked as .jpg: every tile 200 $want_type" "$ok" "$total"
	expect "  one bucket GET per tile ($total tiles)" "$(ngets $id)" "$total"
	expect "  and no GET of a .jpg" "$(gets $id | grep -c '\.jpg$')" 0
done

warm 13
mark
holes=0
for t in 10/0/0 10/1/1 10/2/0 9/1/0; do
	req GET "$BASE/13/$t.jpg"
	[ "$STATUS" = 404 ] && holes=$((holes + 1))
done
expect "sparse dataset: the four holes are 404" "$holes" 4
expect "  with zero bucket GETs" "$(ngets 13)" 0
req GET "$BASE/13/10/0/0.png"
expect "  a hole asked as .png: 404, no GET" "$STATUS/$(ngets 13)" 404/0
mark
req GET "$BASE/13/10/1/0.jpg"
expect "  a present tile: 200 with one GET" "$STATUS/$(ngets 13)" 200/1

mark
req GET "$BASE/13/batch?tiles=10/0/0.jpg&tiles=10/1/0.jpg&tiles=10/1/1.jpg&tiles=10/2/1.jpg&tiles=9/1/0.jpg"
expect "batch on the sparse dataset: holes missing" "$STATUS/$(json 'j.missing.sort().join()')" "200/10/0/0.jpg,10/1/1.jpg,9/1/0.jpg"
expect "  two GETs for the two present tiles" "$(ngets 13)" 2
mark
req GET "$BASE/11/batch?tiles=10/0/0.jpg&tiles=10/1/0.jpg&tiles=10/2/1.jpg"
expect "batch on PNG-only asked as .jpg: formats png" "$(json 'Object.values(j.formats).join()')" "png,png,png"
expect "  one GET per tile" "$(ngets 11)" 3

# prefetch around 9/0/0: ring 9/1/0 (hole), level 8 0/0, level 10 (0..1, 0..1) minus two holes
mark
req POST "$BASE/13/prefetch?z=9&x0=0&x1=0&y0=0&y1=0"
expect "prefetch on the sparse dataset queues no hole (3 of 6)" "$STATUS/$(json j.queued)" 202/3
sleep 1
expect "  its GETs: the three present tiles" "$(gets 13 | sort | tr '\n' ' ')" "tiles/13/10/0/1.jpg tiles/13/10/1/0.jpg tiles/13/8/0/0.jpg "

# ---- ignored indexes: probing, one log line each -------------------------------
for id in 15 16 17; do
	warm $id
	mark
	ok=0
	for t in 10/0/0 10/1/0 9/0/0; do
		req GET "$BASE/$id/$t.jpg"
		[ "$STATUS/$(header Content-Type)" = 200/image/png ] && ok=$((ok + 1))
	done
	what=corrupt; [ $id = 16 ] && what="older than the metadata"; [ $id = 17 ] && what="absent"
	expect "index $what (dataset $id): tiles asked as .jpg still 200 png" "$ok" 3
	expect "  probed: jpg 404, then png (two GETs a tile)" "$(gets $id | tr '\n' ' ')" \
		"tiles/$id/10/0/0.jpg tiles/$id/10/0/0.png tiles/$id/10/1/0.jpg tiles/$id/10/1/0.png tiles/$id/9/0/0.jpg tiles/$id/9/0/0.png "
done
log=$(cat "$STATE/backend.log" "$STATE/error.log" 2>/dev/null)
expect "corrupt index: one log line" "$(printf '%s\n' "$log" | grep -c 'dataset 15: tile index ignored (corrupt')" 1
expect "older index: one log line" "$(printf '%s\n' "$log" | grep -c 'dataset 16: tile index built for other metadata')" 1
expect "no index: no log line" "$(printf '%s\n' "$log" | grep -c 'dataset 17: tile index')" 0
mark
req GET "$BASE/17/10/2/1.webp"
expect "no index: a .webp asked of a PNG-only dataset probes webp, jpg, png (a tile not asked before)" "$STATUS/$(ngets 17)" 200/3
req GET "$BASE/11/info"
expect "info formats from the index" "$(json 'JSON.stringify(j.formats)')" '["png"]'
req GET "$BASE/14/info"
expect "  with variants" "$(json 'JSON.stringify(j.formats)')" '["jpg","webp"]'
req GET "$BASE/17/info"
expect "  without an index: null" "$(json 'j.formats')" null

# ---- WebP (issue 19.2) ------------------------------------------------------------
warm 14
mark
req GET "$BASE/14/10/1/0.webp"
expect ".webp of a dataset with variants: 200 image/webp" "$STATUS/$(header Content-Type)" 200/image/webp
expect "  one GET, of the .webp" "$(gets 14 | tr '\n' ' ')" "tiles/14/10/1/0.webp "
check "  byte-exact" cmp -s "$BODY" "$DATA/tiles/14/10/1/0.webp"
mark
req GET "$BASE/14/10/1/0.jpg" -H 'Accept: image/avif,image/webp,*/*'
expect ".jpg with Accept: image/webp: still JPEG" "$STATUS/$(header Content-Type)" 200/image/jpeg
check "  byte-identical to the JPEG" cmp -s "$BODY" "$DATA/tiles/14/10/1/0.jpg"
expect "  no Vary on the tile URL" "$(grep -ci '^Vary:.*accept' "$HDRS")" 0
expect "  one GET" "$(ngets 14)" 1
req GET "$BASE/14/info" -H 'Accept: image/webp,*/*'
expect_match "info with Accept: image/webp: template .webp" "$(json j.tile_url_template)" '/14/v/[^/]+/\{z\}/\{x\}/\{y\}\.webp$'
expect "  Vary: Accept" "$(header Vary)" Accept
expect_match "  private (no shared cache keeps it)" "$(header Cache-Control)" '^private'
etag_webp=$(header ETag)
req GET "$BASE/14/info"
expect_match "info without it: template .jpg" "$(json j.tile_url_template)" '\.jpg$'
expect "  Vary: Accept too" "$(header Vary)" Accept
[ "$(header ETag)" != "$etag_webp" ] && pass "  another ETag" || fail "  another ETag" "same as the webp answer"
req GET "$BASE/14/info" -H 'Accept: image/webp;q=0, */*'
expect_match "  image/webp;q=0: template .jpg" "$(json j.tile_url_template)" '\.jpg$'
req GET "$BASE/11/info" -H 'Accept: image/webp,*/*'
expect_match "dataset without variants, Accept: image/webp: template .jpg" "$(json j.tile_url_template)" '\.jpg$'
expect "  no Vary: Accept" "$(header Vary | grep -ci accept)" 0
expect_match "  public as before" "$(header Cache-Control)" '^public'
mark
req GET "$BASE/14/batch?tiles=10/0/0.jpg&tiles=10/1/0.jpg" -H 'Accept: image/webp'
expect "batch with Accept: image/webp: formats webp" "$(json 'Object.values(j.formats).join()')" "webp,webp"
expect "  GETs of the .webp only" "$(gets 14 | sort | tr '\n' ' ')" "tiles/14/10/0/0.webp tiles/14/10/1/0.webp "
req GET "$BASE/14/batch?tiles=10/0/0.jpg&tiles=10/1/0.jpg"
expect "batch without it: formats jpg" "$(json 'Object.values(j.formats).join()')" "jpg,jpg"
node -e "const j=JSON.parse(require('fs').readFileSync('$BODY','utf8')); process.stdout.write(Buffer.from(j.tiles['10/0/0.jpg'],'base64'))" > "$STATE/b.jpg"
check "  the JPEG, byte-identical" cmp -s "$STATE/b.jpg" "$DATA/tiles/14/10/0/0.jpg"
req GET "$BASE/12/batch?tiles=10/0/0.jpg" -H 'Accept: image/webp'
expect "batch of the WebP-only dataset: webp" "$(json 'j.formats["10/0/0.jpg"]')" webp

# ---- with the shared tier (Redis) -------------------------------------------------
if command -v redis-server > /dev/null; then
	start_redis "$STATE/redis" --port 0 || fail "redis-server starts" "$(tail -3 "$STATE/redis/redis.log")"
	cp "$STATE/app.env" "$STATE/redis.env"
	echo "REDIS_URL=unix://$RSOCK" >> "$STATE/redis.env"
	lighttpd_from_deploy "$STATE/redis.env" 1 || fail "lighttpd with Redis starts" "$(tail -3 "$STATE/error.log")"
	warm 11; warm 13
	rcli monitor > "$STATE/monitor.txt" 2>&1 &
	MON=$!
	track "$MON"
	sleep 0.3
	mark
	req GET "$BASE/13/10/0/0.jpg"
	sleep 0.3
	expect "Redis: a hole is 404 with no bucket GET" "$STATUS/$(ngets 13)" 404/0
	expect "  and no Redis lookup" "$(grep -c '"EVAL" "local p, id = ' "$STATE/monitor.txt")" 0
	req GET "$BASE/11/10/2/1.jpg"
	expect "Redis: PNG-only as .jpg, first time: from the bucket" "$STATUS/$(header X-Tile-Source)" 200/r2
	for i in $(seq 1 50); do
		[ -n "$(rcli --scan --pattern '*:t:11:*:10:2:1:png')" ] && break
		sleep 0.1
	done
	mark
	req GET "$BASE/11/10/2/1.jpg"
	expect "  then from Redis, the PNG" "$STATUS/$(header X-Tile-Source)/$(header Content-Type)" 200/redis/image/png
	expect "  no bucket GET" "$(ngets 11)" 0
	kill "$MON" 2>/dev/null
	expect "  the two requests: one Redis lookup each" "$(grep -c '"EVAL" "local p, id = ' "$STATE/monitor.txt")" 2
	expect "  Redis never held a jpg key for it" "$(rcli --scan --pattern '*:t:11:*:10:2:1:jpg' | wc -l)" 0
	stop_pid "$LPID"; LPID=""
else
	echo "# skip: redis-server is not installed (the Redis section)"
fi

# ---- the size limit ---------------------------------------------------------------
echo "TILE_INDEX_MAX_BYTES=40" >> "$STATE/app.env"
lighttpd_from_deploy "$STATE/app.env" 1 || fail "lighttpd restarts" "$(tail -3 "$STATE/error.log")"
warm 18
mark
req GET "$BASE/18/10/0/0.jpg"
expect "index over TILE_INDEX_MAX_BYTES: ignored, probed" "$STATUS/$(gets 18 | tr '\n' ' ')" "200/tiles/18/10/0/0.jpg tiles/18/10/0/0.png "
expect_match "  one log line" "$(grep -c 'dataset 18: tile index ignored (larger than 40 bytes' "$STATE/backend.log")" '^1$'
stop_pid "$LPID"; LPID=""

# ---- the local tree (no bucket), reads counted with strace ----------------------
cat > "$STATE/local.env" <<ENV
LOCAL_STORAGE_DIR=$DATA
TILE_RUNTIME_DIR=$STATE/run-local
TILE_CACHE_MAX_TILES=0
ENV
# opens REQUEST ID: status, then the tile files of ID the process opened
opens() {
	env -i PATH="$PATH" ASAN_OPTIONS="${ASAN_OPTIONS:-}" ENV_FILE="$STATE/local.env" \
		strace -f -qq -e trace=open,openat -o "$STATE/st.txt" "$BIN" --request "$1" > "$STATE/one.out" 2> "$STATE/one.err"
	printf '%s ' "$(head -1 "$STATE/one.out" | awk '{print $2}')"
	grep -oE "tiles/$2/[0-9]+/[0-9]+/[0-9]+\.[a-z]+" "$STATE/st.txt" | tr '\n' ' '
}
expect "local: PNG-only asked as .jpg opens the .png only" "$(opens 'GET /api/tiles/11/10/1/0.jpg' 11)" "200 tiles/11/10/1/0.png "
expect "local: a hole opens nothing" "$(opens 'GET /api/tiles/13/10/0/0.jpg' 13)" "404 "
expect "local: WebP-only asked as .jpg opens the .webp" "$(opens 'GET /api/tiles/12/10/1/0.jpg' 12)" "200 tiles/12/10/1/0.webp "
expect "local: corrupt index ignored, probed" "$(opens 'GET /api/tiles/15/10/1/0.jpg' 15)" "200 tiles/15/10/1/0.jpg tiles/15/10/1/0.png "
expect "local: older index ignored, probed" "$(opens 'GET /api/tiles/16/10/1/0.jpg' 16)" "200 tiles/16/10/1/0.jpg tiles/16/10/1/0.png "
rm "$DATA/tiles/17/10/2/1.png"
expect "local: a hole without index probes three formats" "$(opens 'GET /api/tiles/17/10/2/1.jpg' 17)" \
	"404 tiles/17/10/2/1.jpg tiles/17/10/2/1.png tiles/17/10/2/1.webp "

asan_clean "$STATE/backend.log" && pass "no sanitizer report" || fail "no sanitizer report" "$(grep -m3 -E 'ERROR|runtime error' "$STATE/backend.log")"
finish
