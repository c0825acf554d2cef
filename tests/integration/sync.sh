#!/usr/bin/env bash
# Integration: astropixel-sync against OpenStack Swift + s3api (real SigV4
# signature checks). What the bucket holds is checked through Swift's own
# API (an oracle independent of our S3 code) and read back through
# `astropixel-tiles --request` with USE_S3=true and an empty local tree, so
# the server proves it reads what sync wrote.
#  - full upload byte-exact, Content-Type and Cache-Control, metadata after
#    the tiles (the tile index each dataset gets, and its order, are
#    sync-index.sh's);
#  - second run sends nothing; a changed tile (other size, or same size) is
#    re-uploaded, exactly that one; --dry-run sends nothing; --delete;
#  - wrong credentials fail fast; configuration errors name the variable;
#    S3_VERIFY_TLS=false is warned about, even with --quiet;
#  - a local y.jpeg is uploaded as y.jpg, the key the server reads (y.jpg
#    wins over y.jpeg, with a warning); skips and --delete agree;
#  - SIGINT stops cleanly (130) and the next run sends exactly the rest
#    (3641 objects: the listing pages are followed);
#  - unreadable entries (dangling link, directory named like a tile), a file
#    changing during its PUT (delayproxy), an oversize tile, the in-flight
#    byte bound, a keep-alive connection dying under a PUT (body rewound);
#  - progress: the bar on a terminal (script), plain lines otherwise;
#  - no secret in any output, no sanitizer report, valgrind clean.
source "$(dirname "$0")/lib.sh"
SCRIPTS=$IT_ROOT/tests/scripts
SYNC=${SYNC:-$BUILD_DIR/astropixel-sync}
DELAYPROXY=$BUILD_DIR/tests/fault/delayproxy
SECRET=testing			# Swift tempauth: test:tester / testing
FAST_S=5			# wrong credentials must fail within this

[ -x "$SYNC" ] || { fail "astropixel-sync is built" "$SYNC missing"; finish; exit 1; }

# ---- data ---------------------------------------------------------------------
DATA=$STATE/data
"$MKSAMPLE" --out "$DATA" --id 1 --width 600 --height 400 --quiet
"$MKSAMPLE" --out "$DATA" --id 2 --width 600 --height 400 --format png --private --owner 7 --quiet
NDATA=$(( $(find "$DATA" -type f | wc -l) + 2 ))	# and the index sync writes for each dataset
BIG=$STATE/big			# 3640 tiles of 16 px + metadata: more than 3 listing pages
"$MKSAMPLE" --out "$BIG" --id 9 --width 960 --height 720 --tile-size 16 --quiet
NBIG=$(( $(find "$BIG" -type f | wc -l) + 1 ))	# + its index
EMPTY=$STATE/empty
mkdir -p "$EMPTY"

# ---- Swift ----------------------------------------------------------------------
SW=$STATE/swift
require_swift
for b in tiles big tty mem drop chg jpeg; do bash "$SCRIPTS/s3mb.sh" "$EP" "$b" >/dev/null 2>&1; done

# Swift's native API: the oracle for what a bucket (container) holds.
AUTH=$(curl -s -D - -o /dev/null --max-time 10 -H 'X-Auth-User: test:tester' \
	-H "X-Auth-Key: $SECRET" "$EP/auth/v1.0" | tr -d '\r')
TOKEN=$(echo "$AUTH" | sed -n 's/^X-Auth-Token: //Ip')
SURL=$(echo "$AUTH" | sed -n 's/^X-Storage-Url: //Ip')
# listing BUCKET: "name md5 bytes content_type" per object, sorted
listing() {
	curl -s --max-time 30 -H "X-Auth-Token: $TOKEN" "$SURL/$1?format=json&limit=10000" |
		python3 -c 'import json,sys
for o in json.load(sys.stdin): print(o["name"], o["hash"], o["bytes"], o["content_type"])' | sort
}
count() { listing "$1" | wc -l; }
etag_of() { listing "$1" | awk -v k="$2" '$1 == k {print $2}'; }
# local_listing DIR: "key md5 bytes" per file, sorted
local_listing() { (cd "$1" && find . -type f | sed 's|^\./||' | sort | while read -r f; do
	echo "$f $(md5sum < "$f" | cut -d' ' -f1) $(stat -c %s "$f")"; done); }
# s3head BUCKET KEY: a signed HEAD through the S3 API; sets HDRS
s3head() {
	curl -s -o /dev/null -D "$STATE/head.hdrs" --max-time 10 --aws-sigv4 "aws:amz:auto:s3" \
		--netrc-file "$SW/netrc" \
		-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
		-I "$EP/$1/$2"
}
hval() { grep -i "^$1:" "$STATE/head.hdrs" | head -1 | cut -d: -f2- | tr -d '\r' | sed 's/^ *//'; }

# ---- running sync ------------------------------------------------------------------
# senv BUCKET DIR [SECRET] [ENDPOINT]: the settings of one run
senv() {
	cat <<ENV
AWS_ACCESS_KEY_ID=test:tester
AWS_SECRET_ACCESS_KEY=${3:-$SECRET}
AWS_BUCKET_NAME=$1
S3_ENDPOINT_URL=${4:-$EP}
S3_REGION=auto
LOCAL_STORAGE_DIR=$2
S3_TIMEOUT_MS=10000
ENV
}
# run ENVFILE ARGS...: sets RC, OUT, ERR, MS (wall time)
N=0
run() {
	local envf=$1 t0
	shift
	N=$((N + 1))
	t0=$(date +%s%3N)
	env -i PATH="$PATH" ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
		ENV_FILE="$envf" "$SYNC" "$@" > "$STATE/sync$N.out" 2> "$STATE/sync$N.err"
	RC=$?
	MS=$(( $(date +%s%3N) - t0 ))
	OUT=$(cat "$STATE/sync$N.out")
	ERR=$(cat "$STATE/sync$N.err")
}
# summary field: "uploaded 12" -> 12
field() { printf '%s' "$ERR" | sed -n "s/.*[:,] $1 \([0-9][0-9]*\).*/\1/p" | tail -1; }

senv tiles "$DATA" > "$STATE/tiles.env"

# ---- full upload, read back byte-exact ------------------------------------------------
run "$STATE/tiles.env"
expect "full upload: exit 0" "$RC" 0
expect "full upload: every local file uploaded" "$(field uploaded)/$(field failed)" "$NDATA/0"
expect_nomatch "full upload: no TLS warning while S3_VERIFY_TLS is true" "$ERR" 'S3_VERIFY_TLS'
expect "bucket = local tree (keys, MD5, sizes) per Swift's own listing" \
	"$(listing tiles | cut -d' ' -f1-3)" "$(local_listing "$DATA")"

one() {	# one REQUEST [--header ...]: the server, bucket only (ONE_ENV, default tiles); sets STATUS
	env -i PATH="$PATH" ASAN_OPTIONS="${ASAN_OPTIONS:-}" ENV_FILE="${ONE_ENV:-$STATE/server.env}" \
		"$BIN" --request "$@" > "$STATE/one.out" 2>> "$STATE/server.err"
	STATUS=$(head -1 "$STATE/one.out" | awk '{print $2}')
	sed '1,/^\r$/d' "$STATE/one.out" > "$STATE/one.body"
}
cat > "$STATE/server.env" <<ENV
USE_S3=true
AWS_ACCESS_KEY_ID=test:tester
AWS_SECRET_ACCESS_KEY=$SECRET
AWS_BUCKET_NAME=tiles
S3_ENDPOINT_URL=$EP
LOCAL_STORAGE_DIR=$EMPTY
SECRET_KEY=sync-it-secret
TILE_RUNTIME_DIR=$STATE/run
TILE_CACHE_MAX_TILES=0
METADATA_CACHE_TTL=0
ENV
TOKEN7=$("$MKTOKEN" sync-it-secret 7 600)
good=0 bad=""
while read -r f; do
	rel=${f#"$DATA"/tiles/}
	if [ "${rel%%/*}" = 2 ]; then one "GET /api/tiles/$rel" --header "Authorization: Bearer $TOKEN7"
	else one "GET /api/tiles/$rel"; fi
	if [ "$STATUS" = 200 ] && cmp -s "$STATE/one.body" "$f"; then good=$((good + 1)); else bad="$bad $rel:$STATUS"; fi
done < <(find "$DATA/tiles" -type f | sort)
expect "the server (USE_S3=true, empty local tree) reads every tile back byte-exact${bad:+ (bad:$bad)}" \
	"$good" "$(find "$DATA/tiles" -type f | wc -l)"
curl -s --max-time 10 -H "X-Auth-Token: $TOKEN" "$SURL/tiles/metadata/datasets/1.json" > "$STATE/meta1.json"
check "metadata read back byte-exact" cmp -s "$STATE/meta1.json" "$DATA/metadata/datasets/1.json"

s3head tiles tiles/1/10/1/1.jpg
expect "tile Content-Type (signed HEAD through the S3 API)" "$(hval Content-Type)" image/jpeg
expect "tile Cache-Control: short (object keys do not change with a re-upload)" "$(hval Cache-Control)" \
	"public, max-age=60, stale-while-revalidate=600"
s3head tiles tiles/2/10/1/1.png
expect "png tile Content-Type" "$(hval Content-Type)" image/png
s3head tiles metadata/datasets/1.json
expect "metadata Content-Type and short Cache-Control" "$(hval Content-Type)|$(hval Cache-Control)" \
	"application/json|public, max-age=60"
# metadata after the tiles: its PUT is logged after every tile PUT of its dataset
for i in $(seq 1 20); do grep -q ' PUT /tiles/metadata/datasets/1.json ' "$SW/proxy.log" && break; sleep 0.1; done
order=$(grep -E ' PUT /tiles/(tiles/1/|metadata/datasets/1\.json) ' "$SW/proxy.log" |
	sed -E 's/.* PUT \/tiles\/([^ ]*) .*/\1/' | tail -1)
expect "dataset 1: the metadata is PUT after every tile (Swift's proxy log)" "$order" metadata/datasets/1.json

# ---- second run, changes ----------------------------------------------------------------
run "$STATE/tiles.env"
expect "second run: exit 0, uploads 0, skips all" "$RC/$(field uploaded)/$(field skipped)" "0/0/$NDATA"

cp "$DATA/tiles/1/10/0/0.jpg" "$DATA/tiles/1/10/1/0.jpg"	# other bytes, other size
run "$STATE/tiles.env" -v
expect "changed tile: exactly 1 uploaded" "$RC/$(field uploaded)" "0/1"
expect_match "  and it is the changed one" "$OUT" '^uploaded tiles/1/10/1/0\.jpg'
expect "  the bucket has its new MD5" "$(etag_of tiles tiles/1/10/1/0.jpg)" \
	"$(md5sum < "$DATA/tiles/1/10/1/0.jpg" | cut -d' ' -f1)"
# same size, one byte different: only the MD5 can tell
printf '\x55' | dd of="$DATA/tiles/1/10/2/0.jpg" bs=1 seek=200 conv=notrunc status=none
run "$STATE/tiles.env" -v
expect "same-size change found by MD5: exactly 1 uploaded" "$RC/$(field uploaded)/$(printf '%s\n' "$OUT" | grep -c '^uploaded')" "0/1/1"
one "GET /api/tiles/1/10/2/0.jpg"
check "  the server reads the new bytes" cmp -s "$STATE/one.body" "$DATA/tiles/1/10/2/0.jpg"

# ---- dry run, delete --------------------------------------------------------------------------
before=$(listing tiles)
printf '\x66' | dd of="$DATA/tiles/1/9/0/0.jpg" bs=1 seek=300 conv=notrunc status=none
mv "$DATA/tiles/1/10/2/1.jpg" "$STATE/gone.jpg"
run "$STATE/tiles.env" --dry-run --delete
expect "--dry-run: exit 0" "$RC" 0
expect_match "--dry-run lists the upload" "$OUT" '^would upload tiles/1/9/0/0\.jpg \([0-9]+ bytes, changed\)$'
expect_match "--dry-run lists the deletion" "$OUT" '^would delete tiles/1/10/2/1\.jpg$'
expect_match "--dry-run lists the index that no longer names it" "$OUT" \
	'^would upload metadata/datasets/1\.index \([0-9]+ bytes, changed\)$'
expect "--dry-run lists nothing else" "$(printf '%s\n' "$OUT" | wc -l)" 3
expect "--dry-run: the bucket is unchanged" "$(listing tiles)" "$before"
expect_match "--dry-run says nothing was sent" "$ERR" 'would upload 2 objects.*delete 1.*nothing was sent'

run "$STATE/tiles.env"
expect "without --delete: the change (and the index) are uploaded" "$RC/$(field uploaded)/$(field deleted)" "0/2/0"
expect "without --delete: the tile gone locally stays in the bucket" \
	"$(listing tiles | grep -c '^tiles/1/10/2/1.jpg ')" 1
expect_match "  and the summary says so" "$ERR" '1 object in the bucket is gone locally \(--delete removes them\)'
run "$STATE/tiles.env" --delete
expect "--delete: exit 0, 1 deleted" "$RC/$(field deleted)" "0/1"
expect_match "  the deletion is reported" "$OUT" '^deleted tiles/1/10/2/1\.jpg$'
expect "  the tile is gone from the bucket" "$(listing tiles | grep -c '^tiles/1/10/2/1.jpg ')" 0
expect "  bucket = local tree again" "$(listing tiles | cut -d' ' -f1-3)" "$(local_listing "$DATA")"
mv "$STATE/gone.jpg" "$DATA/tiles/1/10/2/1.jpg"

# ---- .jpeg files go to the key the server reads ---------------------------------------------------
JP=$STATE/jpegtree
"$MKSAMPLE" --out "$JP" --id 3 --width 600 --height 400 --quiet
mv "$JP/tiles/3/10/0/0.jpg" "$JP/tiles/3/10/0/0.jpeg"		# only the .jpeg: it is the tile
cp "$JP/tiles/3/10/2/0.jpg" "$JP/tiles/3/10/1/0.jpeg"		# beside 1/0.jpg, other bytes: .jpg wins
NJP=$(find "$JP" -type f | wc -l)	# one .jpeg is left out, the index comes in
senv jpeg "$JP" > "$STATE/jpeg.env"
run "$STATE/jpeg.env"
expect "y.jpeg: exit 0, every file but the shadowed .jpeg uploaded, and the index" "$RC/$(field uploaded)/$(field failed)" "0/$NJP/0"
expect "  the bucket holds no .jpeg key (Swift's listing)" "$(listing jpeg | grep -c '\.jpeg ')" 0
expect "  0.jpeg is the object 0.jpg, byte-exact (MD5)" "$(etag_of jpeg tiles/3/10/0/0.jpg)" \
	"$(md5sum < "$JP/tiles/3/10/0/0.jpeg" | cut -d' ' -f1)"
expect "  where 1/0.jpg and 1/0.jpeg both exist, 1/0.jpg is uploaded" "$(etag_of jpeg tiles/3/10/1/0.jpg)" \
	"$(md5sum < "$JP/tiles/3/10/1/0.jpg" | cut -d' ' -f1)"
expect_match "  and a warning names the .jpeg left out" "$ERR" \
	'warning: tiles/3/10/1/0\.jpeg ignored: tiles/3/10/1/0\.jpg is there too'
s3head jpeg tiles/3/10/0/0.jpg
expect "  its Content-Type" "$(hval Content-Type)" image/jpeg
sed 's/^AWS_BUCKET_NAME=.*/AWS_BUCKET_NAME=jpeg/' "$STATE/server.env" > "$STATE/server-jpeg.env"
ONE_ENV=$STATE/server-jpeg.env one "GET /api/tiles/3/10/0/0.jpg"
expect "  the server (bucket only) serves it as 3/10/0/0.jpg" "$STATUS" 200
check "  with the bytes of 0.jpeg" cmp -s "$STATE/one.body" "$JP/tiles/3/10/0/0.jpeg"
run "$STATE/jpeg.env" --delete
expect "y.jpeg, second run with --delete: nothing uploaded or deleted" \
	"$RC/$(field uploaded)/$(field deleted)/$(field skipped)" "0/0/0/$NJP"
expect "  0.jpg is still in the bucket" "$(listing jpeg | grep -c '^tiles/3/10/0/0\.jpg ')" 1
# what an older astropixel-sync left: a .jpeg object the server never reads
curl -s -o /dev/null --max-time 10 -X PUT -H "X-Auth-Token: $TOKEN" -H 'Content-Type: image/jpeg' \
	--data-binary @"$JP/tiles/3/10/0/0.jpeg" "$SURL/jpeg/tiles/3/10/0/0.jpeg"
run "$STATE/jpeg.env" --delete
expect "  a stale 0.jpeg object is deleted by --delete, 0.jpg kept" \
	"$RC/$(field deleted)/$(listing jpeg | grep -c '^tiles/3/10/0/0\.jpeg ')/$(listing jpeg | grep -c '^tiles/3/10/0/0\.jpg ')" "0/1/0/1"

# ---- credentials and configuration ---------------------------------------------------------------
cp "$DATA/tiles/1/10/0/1.jpg" "$DATA/tiles/1/10/1/1.jpg"	# a pending change
before=$(listing tiles)
senv tiles "$DATA" 'Wr0ngS3cretValue' > "$STATE/bad.env"
run "$STATE/bad.env" --verbose
expect "wrong secret: exit 1" "$RC" 1
[ "$MS" -lt $((FAST_S * 1000)) ] && pass "wrong secret: fails fast ($MS ms)" || fail "wrong secret: fails fast" "$MS ms"
expect_match "wrong secret: a clear message naming both variables" "$ERR" \
	'refused the credentials.*403.*AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY'
expect "wrong secret: nothing uploaded" "$(listing tiles)" "$before"
expect_nomatch "wrong secret: the secret is not printed, even with --verbose" "$OUT$ERR" 'Wr0ngS3cretValue'
sed 's/^AWS_ACCESS_KEY_ID=.*/AWS_ACCESS_KEY_ID=nobody:nobody/' "$STATE/tiles.env" > "$STATE/bad2.env"
run "$STATE/bad2.env"
expect_match "unknown access key: exit 1, clear message" "$RC $ERR" '^1 .*AWS_ACCESS_KEY_ID'
grep -v AWS_BUCKET_NAME "$STATE/tiles.env" > "$STATE/nobucket.env"
run "$STATE/nobucket.env"
expect_match "no bucket configured: exit 2 naming AWS_BUCKET_NAME" "$RC $ERR" '^2 .*AWS_BUCKET_NAME'
grep -v S3_ENDPOINT_URL "$STATE/tiles.env" > "$STATE/noep.env"
run "$STATE/noep.env"
expect_match "no endpoint: exit 2 naming S3_ENDPOINT_URL" "$RC $ERR" '^2 .*S3_ENDPOINT_URL'
grep -v AWS_SECRET_ACCESS_KEY "$STATE/tiles.env" > "$STATE/nosecret.env"
run "$STATE/nosecret.env"
expect_match "no secret: exit 2 naming AWS_SECRET_ACCESS_KEY" "$RC $ERR" '^2 .*AWS_SECRET_ACCESS_KEY'
senv nosuchbucket "$DATA" > "$STATE/nsb.env"
run "$STATE/nsb.env"
expect_match "missing bucket: exit 1 naming AWS_BUCKET_NAME" "$RC $ERR" '^1 .*no such bucket.*AWS_BUCKET_NAME'
cp "$STATE/tiles.env" "$STATE/notls.env"
echo S3_VERIFY_TLS=false >> "$STATE/notls.env"
run "$STATE/notls.env" --quiet --dry-run 2
expect_match "S3_VERIFY_TLS=false: a warning that the certificate is not verified, even with --quiet" \
	"$ERR" '^astropixel-sync: warning: S3_VERIFY_TLS=false: the TLS certificate of S3_ENDPOINT_URL is NOT verified'
run "$STATE/tiles.env" --workers 0
expect "--workers 0: usage error" "$RC" 2
run "$STATE/tiles.env" 42
expect_match "a dataset that is not in the local tree: exit 2" "$RC $ERR" '^2 .*dataset 42'
run "$STATE/tiles.env" 007
expect "a malformed dataset id: exit 2" "$RC" 2
run "$STATE/tiles.env" --help
expect "--help: exit 0" "$RC" 0
expect_match "--help lists the settings it reads, from the common table" "$OUT" '^  R2_UPLOAD_MAX_WORKERS +Parallel PUTs'
expect_nomatch "--help leaves out settings sync does not read" "$OUT" 'TILE_CACHE_MAX_TILES|SECRET_KEY '
mv "$STATE/sync$N.out" "$STATE/help.out"	# its text may contain any word: not an output to scan for the secret
# the pending change, and the tile --delete removed that is back locally
run "$STATE/tiles.env" 1
expect "the pending changes (two tiles, the index) go with the right secret" "$RC/$(field uploaded)" "0/3"

# ---- unreadable entries -------------------------------------------------------------------------
ln -s "$STATE/does-not-exist.jpg" "$DATA/tiles/1/9/1/5.jpg"
mkdir -p "$DATA/tiles/1/9/1/6.jpg"
: > "$DATA/tiles/1/9/1/notes.txt"
run "$STATE/tiles.env" 1
expect "unreadable entries: exit 1" "$RC" 1
expect_match "  the dangling link is listed with its reason" "$ERR" 'tiles/1/9/1/5\.jpg: vanished'
expect_match "  the directory named like a tile is listed" "$ERR" 'tiles/1/9/1/6\.jpg: not a regular file'
expect_match "  a file that is not a tile is ignored, with a note" "$ERR" 'ignored 1 entry.*notes\.txt'
expect "  nothing else was sent or failed" "$(field uploaded)/$(field failed)" "0/2"
rm -rf "$DATA/tiles/1/9/1/5.jpg" "$DATA/tiles/1/9/1/6.jpg" "$DATA/tiles/1/9/1/notes.txt"

# a file changing while its PUT is on the wire: 300 ms each way through delayproxy
DPPORT=$(free_port)
"$DELAYPROXY" "$DPPORT" 127.0.0.1 "$SWPORT" 300 --max-seconds 600 > "$STATE/dp.log" 2>&1 &
DPPID=$!; track $DPPID
for i in $(seq 1 50); do grep -q listening "$STATE/dp.log" && break; sleep 0.1; done
CHG=$STATE/chg
mkdir -p "$CHG/tiles/5/0/0"
head -c 5000 /dev/urandom > "$CHG/tiles/5/0/0/0.jpg"
senv chg "$CHG" "$SECRET" "http://127.0.0.1:$DPPORT" > "$STATE/chg.env"
( for i in $(seq 1 100); do touch "$CHG/tiles/5/0/0/0.jpg"; sleep 0.05; done ) &
TOUCHER=$!; track $TOUCHER
run "$STATE/chg.env" 5
stop_pid "$TOUCHER"
expect "a file changing during its upload: exit 1" "$RC" 1
expect_match "  reported as changed during upload" "$ERR" 'tiles/5/0/0/0\.jpg: changed during upload'
run "$STATE/chg.env" 5
expect "  the next run (file now still) has it in sync" "$RC" 0

# ---- interrupted run resumes ----------------------------------------------------------------------
senv big "$BIG" > "$STATE/big.env"
N=$((N + 1)); BIGN=$N
env -i PATH="$PATH" ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
	ENV_FILE="$STATE/big.env" "$SYNC" --workers 2 > "$STATE/sync$BIGN.out" 2> "$STATE/sync$BIGN.err" &
SPID=$!; track $SPID
# interrupt once some objects are in (bounded wait), whatever the machine's speed
for i in $(seq 1 100); do [ "$(count big)" -ge 50 ] && break; sleep 0.2; done
kill -INT "$SPID"
t0=$(date +%s%3N)
wait "$SPID"; RC=$?
t1=$(date +%s%3N)
ERR=$(cat "$STATE/sync$BIGN.err")
expect "SIGINT: exit 130" "$RC" 130
[ $((t1 - t0)) -lt 6000 ] && pass "SIGINT: stops promptly ($((t1 - t0)) ms)" || fail "SIGINT: stops promptly" "$((t1 - t0)) ms"
expect_match "SIGINT: the summary is printed" "$ERR" '^astropixel-sync: uploaded [0-9]+ .*objects/s'
expect_match "SIGINT: and how to finish" "$ERR" 'interrupted: [0-9]+ objects not sent; run again to finish'
partial=$(count big)
first=$(field uploaded)
[ "$partial" -gt 0 ] && [ "$partial" -lt "$NBIG" ] && pass "SIGINT: a partial bucket ($partial of $NBIG)" ||
	fail "SIGINT: a partial bucket" "$partial of $NBIG"
expect "SIGINT: what it reported uploaded is what the bucket holds" "$first" "$partial"
expect "SIGINT: the metadata waits for the tiles" "$(listing big | grep -c '^metadata/')" 0
run "$STATE/big.env" --workers 8 --progress-interval 1
expect "resume: exit 0" "$RC" 0
expect "resume: uploads exactly the rest, skips what is there" "$(field uploaded)/$(field skipped)" \
	"$((NBIG - partial))/$partial"
expect "resume: the bucket is complete (Swift's listing = local tree)" \
	"$(listing big | cut -d' ' -f1-3)" "$(local_listing "$BIG")"
expect_match "not a terminal: periodic plain progress lines" "$ERR" \
	'astropixel-sync: [0-9]+/[0-9]+ objects, [0-9.]+/[0-9.]+ MB, [0-9]+ obj/s, [0-9.]+ MB/s, ETA'
expect_nomatch "not a terminal: no carriage returns or escapes" "$ERR" $'[\r\033]'
run "$STATE/big.env"
expect "third run: 0 uploaded, all $NBIG skipped, the index too (listing pages followed)" \
	"$RC/$(field uploaded)/$(field skipped)" "0/0/$NBIG"

# ---- progress on a terminal ------------------------------------------------------------------------
if command -v script >/dev/null; then
	senv tty "$DATA" "$SECRET" "http://127.0.0.1:$DPPORT" > "$STATE/tty.env"
	env -i PATH="$PATH" ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
		ENV_FILE="$STATE/tty.env" script -qec "$SYNC --workers 2 1" /dev/null > "$STATE/tty.out" 2>&1
	RC=$?
	TTY=$(cat "$STATE/tty.out")
	expect "terminal: exit 0" "$RC" 0
	expect_match "terminal: a bar redrawn in place (\\r, erase to end of line)" "$TTY" \
		$'\\[#*\\.*\\] [0-9]+/[0-9]+ objects, .*ETA [0-9:-]+\033\\[K\r'
	redraws=$(printf '%s' "$TTY" | tr -cd '\r' | wc -c)
	[ "$redraws" -ge 3 ] && pass "terminal: redrawn several times ($redraws)" || fail "terminal: redrawn" "$redraws"
	expect_match "terminal: the summary on a clean line" "$TTY" $'\r\033\\[Kastropixel-sync: uploaded [0-9]+'
else
	fail "progress on a terminal" "script (util-linux) is not installed"
fi

# ---- memory bound, oversize ------------------------------------------------------------------------
MEM=$STATE/mem
mkdir -p "$MEM/tiles/6/0/0"
for i in $(seq 0 19); do head -c 4000000 /dev/urandom > "$MEM/tiles/6/0/0/$i.jpg"; done
head -c 5000000 /dev/urandom > "$MEM/tiles/6/0/0/99.jpg"
senv mem "$MEM" > "$STATE/mem.env"
run "$STATE/mem.env" --workers 50 --verbose
expect "20 files of 4 MB at 50 workers: 20 uploaded, the 5 MB one refused (exit 1)" \
	"$RC/$(field uploaded)/$(field failed)" "1/20/1"
expect_match "  the oversize tile is named with a clear reason" "$ERR" \
	'tiles/6/0/0/99\.jpg: 5000000 bytes: larger than 4194304'
peak=$(printf '%s' "$ERR" | sed -n 's/.*transfers and \([0-9]*\) bytes of file bodies.*/\1/p')
[ -n "$peak" ] && [ "$peak" -le 67108864 ] && [ "$peak" -gt 0 ] &&
	pass "  file bodies in memory stayed within 64 MiB (peak $peak bytes)" ||
	fail "  file bodies in memory within 64 MiB" "peak '${peak}'"
expect "  the bucket holds the 20" "$(count mem)" 20

# ---- a keep-alive connection dies under a PUT ------------------------------------------------------
# Every connection answers one request and closes on the next unanswered:
# libcurl resends on a fresh connection, which needs the body rewound.
DROPPORT=$(free_port)
python3 - "$DROPPORT" > "$STATE/dropper.log" 2>&1 <<'PY' &
import hashlib, socket, sys, threading, time
def serve(c):
    f, n = c.makefile("rb"), 0
    try:
        while True:
            line = f.readline()
            if not line:
                return
            method, target, _ = line.decode().split(" ", 2)
            hdrs = {}
            while True:
                h = f.readline().decode()
                if h in ("\r\n", "\n", ""):
                    break
                k, v = h.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
            body = f.read(int(hdrs.get("content-length", "0")))
            n += 1
            if n == 2:
                return
            if method == "GET" and "list-type=2" in target:
                x = b'<?xml version="1.0"?><ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>'
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(x) + x)
            elif method == "PUT":
                c.sendall(b'HTTP/1.1 200 OK\r\nETag: "%s"\r\nContent-Length: 0\r\n\r\n' % hashlib.md5(body).hexdigest().encode())
            else:
                c.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    finally:
        c.close()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
s.settimeout(0.5)
print("listening", flush=True)
end = time.time() + 60
while time.time() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
DROPPID=$!; track $DROPPID
for i in $(seq 1 50); do grep -q listening "$STATE/dropper.log" && break; sleep 0.1; done
senv drop "$DATA" "$SECRET" "http://127.0.0.1:$DROPPORT" > "$STATE/drop.env"
run "$STATE/drop.env" --workers 1 1
expect "connections dying under PUTs: every PUT resent on a fresh connection" \
	"$RC/$(field uploaded)/$(field failed)" "0/$(find "$DATA/tiles/1" "$DATA/metadata/datasets/1."* -type f | wc -l)/0"
expect_nomatch "  no 'rewind' failure" "$ERR" 'rewind'
stop_pid "$DROPPID"

# ---- valgrind (plain build) ------------------------------------------------------------------------
PLAIN=${PLAIN_BUILD_DIR:-$IT_ROOT/_build/plain}
if command -v valgrind >/dev/null && [ -x "$PLAIN/astropixel-sync" ]; then
	cp "$DATA/tiles/1/10/0/0.jpg" "$DATA/tiles/1/10/1/1.jpg"
	env -i PATH="$PATH" ENV_FILE="$STATE/tiles.env" valgrind -q --leak-check=full \
		--error-exitcode=99 "$PLAIN/astropixel-sync" --delete 1 > "$STATE/vg.out" 2> "$STATE/vg.err"
	expect "valgrind: an upload run is clean" "$?" 0
	env -i PATH="$PATH" ENV_FILE="$STATE/bad.env" valgrind -q --leak-check=full \
		--error-exitcode=99 "$PLAIN/astropixel-sync" 1 > "$STATE/vg2.out" 2> "$STATE/vg2.err"
	expect "valgrind: a refused run is clean (exit 1, not 99)" "$?" 1
else
	echo "# valgrind or $PLAIN/astropixel-sync missing: valgrind checks skipped"
fi

cat "$STATE"/sync*.out "$STATE"/sync*.err "$STATE/tty.out" "$STATE"/vg*.err > "$STATE/all.log" 2>/dev/null
check "no sanitizer report" asan_clean "$STATE/all.log"
check "the secret never appears in any output" bash -c "! grep -qw '$SECRET' '$STATE/all.log'"
finish
