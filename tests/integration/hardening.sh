#!/usr/bin/env bash
# Integration: issue 12 (harden the core) through a real lighttpd with two
# responder processes, where the behaviour spans processes, and a real
# nginx as the bucket (public URL mode) whose access log counts every
# storage request:
#   1  the requested format, always, whatever any process cached before
#   2  absent tiles and formats are remembered (negative entries)
#   3  the catalogue cannot be thrashed by unknown ids; invalid metadata is
#      answered from memory and logged once per TTL
#   5  prefetch costs a bounded amount and keeps the ring at z first
#   7  shared state is private to the pool's user
source "$(dirname "$0")/lib.sh"
SCRIPTS=$IT_ROOT/tests/scripts
PROCS=2

DATA=$STATE/data
make_fixture "$DATA"
# 7: every tile as jpg, png and (a stand-in) webp; 8: png only; 9: sparse
"$MKSAMPLE" --out "$DATA" --id 7 --width 600 --height 400 --owner 5 --quiet
"$MKSAMPLE" --out "$STATE/png7" --id 7 --width 600 --height 400 --format png --quiet
(cd "$STATE/png7/tiles/7" && find . -name '*.png' | while read -r f; do cp "$f" "$DATA/tiles/7/$f"; done)
for f in $(cd "$DATA/tiles/7" && find . -name '*.png'); do
	printf 'RIFF\x20\x00\x00\x00WEBPVP8 webp-of-%s' "$f" > "$DATA/tiles/7/${f%.png}.webp"
done
"$MKSAMPLE" --out "$DATA" --id 8 --width 600 --height 400 --format png --quiet
"$MKSAMPLE" --out "$DATA" --id 9 --width 600 --height 400 --owner 5 --quiet
rm -f "$DATA/tiles/9/10/1/1.jpg" "$DATA/tiles/9/10/2/0.jpg"	# holes
"$MKSAMPLE" --out "$DATA" --id 11 --width 4096 --height 4096 --quiet	# 16x16 at z12, 8x8 at z11
# 12: a grid of 4096x4096 tiles at z12, metadata only (prefetch bounds)
printf '{"is_demo": true, "min_zoom": 0, "max_zoom": 12, "tile_size": 256, "width": 1048576, "height": 1048576}' \
	> "$DATA/metadata/datasets/12.json"
printf '{"min_zoom": 0, "max_zoom": "ten"}' > "$DATA/metadata/datasets/10.json"	# invalid

NG=$STATE/origin
NGPORT=$(free_port)
bash "$SCRIPTS/origin-nginx.sh" start "$NG" "$NGPORT" "$DATA" > "$STATE/origin.log" 2>&1 ||
	{ fail "nginx origin starts" "$(tail -3 "$STATE/origin.log")"; finish; exit 1; }
trap 'bash "$SCRIPTS/origin-nginx.sh" stop "$NG" >/dev/null 2>&1; cleanup' EXIT
pass "nginx origin (the bucket, public URL mode) on 127.0.0.1:$NGPORT"

RUN=$STATE/run
write_env() {	# write_env [extra lines...]
	{
		echo "USE_S3=true"
		echo "R2_PUBLIC_URL=http://127.0.0.1:$NGPORT"
		echo "SECRET_KEY=hard-secret"
		echo "TILE_RUNTIME_DIR=$RUN"
		echo "LOG_LEVEL=info"
		echo "METADATA_CACHE_TTL=300"	# no expiry within this test
		printf '%s\n' "$@"
	} > "$STATE/app.env"
}
OWNER=$("$MKTOKEN" hard-secret 5 3600)
gets() { grep -c " /$1 " "$NG/access.log"; }	# gets KEY: origin GETs of KEY so far
gets_re() { grep -cE " /$1 " "$NG/access.log"; }

# stats_pids DATASET: "pid cached_tiles negative_entries" of 8 parallel cache-stats
stats_pids() {
	local args=() n
	rm -rf "$STATE/st" && mkdir -p "$STATE/st"
	for n in $(seq 1 8); do args+=(-o "$STATE/st/$n.json" "$BASE/$1/cache-stats"); done
	curl -s --no-progress-meter --max-time 20 --parallel --parallel-immediate --parallel-max 8 "${args[@]}"
	node -e 'const fs=require("fs"),d=process.argv[1];
for (const f of fs.readdirSync(d)) { try { const j=JSON.parse(fs.readFileSync(d+"/"+f));
console.log(j.stats.pid, j.dataset.cached_tiles, j.stats.negative_entries); } catch (e) {} }' "$STATE/st"
}
# warm_all URL DATASET: parallel rounds until both processes cached URL's tile
warm_all() {
	local r args i
	declare -A seen=()
	for r in $(seq 1 30); do
		args=()
		for i in $(seq 1 8); do args+=(-o /dev/null "$1"); done
		curl -s --no-progress-meter --max-time 20 --parallel --parallel-immediate --parallel-max 8 "${args[@]}"
		while read -r pid n _; do [ "${n:-0}" -ge 1 ] 2>/dev/null && seen[$pid]=1; done < <(stats_pids "$2")
		[ "${#seen[@]}" -ge "$PROCS" ] && return 0
	done
	return 1
}
# par N URL: N requests at once; prints "status content-type etag" per answer
par() {
	local n=$1 u=$2 args=() i
	for i in $(seq 1 "$n"); do args+=(-o /dev/null "$u"); done
	curl -s --no-progress-meter --max-time 20 --parallel --parallel-immediate --parallel-max "$n" \
		-w '%{http_code} %{content_type} %header{etag}\n' "${args[@]}"
}

write_env
lighttpd_from_deploy "$STATE/app.env" "$PROCS" ||
	{ fail "lighttpd starts" "$(tail -5 "$STATE/error.log" "$STATE/backend.log")"; finish; exit 1; }
pass "lighttpd starts with $PROCS responders"

# ---- 1: the requested format, always ------------------------------------------
warm_all "$BASE/7/10/0/0.png" 7 && pass "1: 7/10/0/0.png is cached in both processes" ||
	fail "1: warming both processes" "$(stats_pids 7 | tr '\n' ' ')"
ans=$(par 16 "$BASE/7/10/0/0.jpg" | sort | uniq -c | sed 's/^ *//')
expect_match "1: 16 requests of .jpg after the png was cached everywhere: all the JPEG, one ETag ($ans)" \
	"$ans" '^16 200 image/jpeg "[0-9a-f]{32}"$'
req GET "$BASE/7/10/0/0.jpg"
check "1: and its bytes are the JPEG's" cmp -s "$BODY" "$DATA/tiles/7/10/0/0.jpg"
warm_all "$BASE/7/10/0/1.png" 7 >/dev/null
ans=$(par 16 "$BASE/7/10/0/1.webp" | awk '{print $1, $2}' | sort | uniq -c | sed 's/^ *//')
expect "1: .webp after a cached png: the webp, from every process" "$ans" "16 200 image/webp"
req GET "$BASE/7/batch?tiles=10/0/0.jpg&tiles=10/0/1.webp&tiles=10/0/0.png"
expect "1: batch gives each entry its own format" \
	"$(json '[j.formats["10/0/0.jpg"], j.formats["10/0/1.webp"], j.formats["10/0/0.png"]].join()')" "jpg,webp,png"
req POST "$BASE/7/prefetch?z=9&x0=0&x1=0&y0=0&y1=0&ext=png"
expect "1: prefetch takes the format the viewer asks for (ext=png)" "$STATUS" 202
sleep 1
ans=$(par 8 "$BASE/7/10/1/1.jpg" | awk '{print $1, $2}' | sort | uniq -c | sed 's/^ *//')
expect "1: after a png prefetch of the neighbourhood, .jpg is still the JPEG" "$ans" "8 200 image/jpeg"
req GET "$BASE/8/10/0/0.jpg"
expect "1: a png-only dataset asked as .jpg falls back to the png" "$STATUS/$(header Content-Type)" "200/image/png"

# ---- 2: absent tiles are remembered ---------------------------------------------------
before=$(gets_re 'tiles/9/10/1/1\.(jpg|png|webp)')
for i in $(seq 1 20); do req GET "$BASE/9/10/1/1.jpg"; [ "$STATUS" = 404 ] || break; done
expect "2: a hole asked 20 times is 404 every time" "$STATUS" 404
n=$(( $(gets_re 'tiles/9/10/1/1\.(jpg|png|webp)') - before ))
expect_match "2: and cost at most one walk of 3 formats per process ($n storage GETs for 20 asks)" \
	"$n" "^[1-6]$"
before=$(gets 'tiles/8/10/1/0.jpg')
for i in $(seq 1 20); do req GET "$BASE/8/10/1/0.jpg"; done
n=$(( $(gets 'tiles/8/10/1/0.jpg') - before ))
expect "2: a png dataset through .jpg: the last answer is the png" "$STATUS/$(header Content-Type)" "200/image/png"
expect_match "2: the missing jpg is asked at most once per process ($n GETs for 20 asks)" "$n" "^[12]$"
neg=$(stats_pids 9 | awk '{ if ($3 > m) m = $3 } END { print m + 0 }')
expect_match "2: cache-stats counts negative entries ($neg)" "$neg" '^[1-9][0-9]*$'
req POST "$BASE/9/cache-clear" -H "Authorization: Bearer $OWNER"
expect "2: owner's cache-clear" "$STATUS/$(json j.scope)" "200/pool"
before=$(gets 'tiles/9/10/1/1.jpg')
par 8 "$BASE/9/10/1/1.jpg" > /dev/null
n=$(( $(gets 'tiles/9/10/1/1.jpg') - before ))
expect_match "2: after the clear the hole is asked of storage again ($n)" "$n" '^[12]$'

# ---- 3: the catalogue cannot be thrashed -------------------------------------------------
before=$(gets 'metadata/datasets/1.json')
for i in $(seq 1 20); do
	req GET "$BASE/1025/0/0/0.jpg"; s1=$STATUS
	req GET "$BASE/1/10/0/0.jpg"; s2=$STATUS
done
expect "3: alternating unknown 1025 and known 1: 404 and 200" "$s1/$s2" "404/200"
n=$(( $(gets 'metadata/datasets/1.json') - before ))
expect_match "3: dataset 1's metadata read at most once per process ($n GETs for 20 asks)" "$n" '^[0-2]$'
warm_all "$BASE/1/10/0/0.jpg" 1 >/dev/null	# both processes know dataset 1
before=$(gets 'metadata/datasets/1.json')
args=()
for i in $(seq 1 300); do args+=(-o /dev/null "$BASE/$((100000 + RANDOM * 7 + i))/0/0/0.jpg"); done
curl -s --no-progress-meter --max-time 60 --parallel --parallel-max 8 "${args[@]}"
par 8 "$BASE/1/10/0/0.jpg" > "$STATE/after-random"
expect "3: after 300 random unknown ids, dataset 1 answers" "$(awk '{print $1}' "$STATE/after-random" | sort -u)" 200
expect "3: and its metadata was not read again" "$(( $(gets 'metadata/datasets/1.json') - before ))" 0
before=$(gets 'metadata/datasets/10.json')
for i in $(seq 1 10); do req GET "$BASE/10/0/0/0.jpg"; done
expect "3: invalid metadata is a 502" "$STATUS" 502
expect_match "3:   whose detail says why" "$(json j.detail)" 'invalid metadata'
n=$(( $(gets 'metadata/datasets/10.json') - before ))
expect_match "3: invalid metadata is read at most once per process ($n GETs for 10 asks)" "$n" '^[12]$'
n=$(grep -c 'dataset 10: invalid metadata' "$STATE/backend.log")
expect_match "3: and logged once per process per TTL, not per request ($n lines)" "$n" '^[12]$'

# ---- 5: prefetch costs a bounded amount ------------------------------------------------------
t0=$(date +%s%3N)
req POST "$BASE/12/prefetch?z=12&x0=0&x1=63&y0=0&y1=63"
t1=$(date +%s%3N)
expect "5: a 64x64 viewport prefetch is accepted" "$STATUS" 202
expect_match "5: queued is what is really queued (queued $(json j.queued), queue $(json j.queue))" \
	"$(json '[j.queued <= 256, j.queued <= j.queue, j.queued > 0].join()')" '^true,true,true$'
[ $((t1 - t0)) -lt 500 ] && pass "5: and answers at once ($((t1 - t0)) ms)" || fail "5: answers at once" "$((t1 - t0)) ms"
req POST "$BASE/12/prefetch?z=12&x0=0&x1=1000000&y0=0&y1=1000000"
expect "5: a viewport far larger than the grid is clipped, not refused" "$STATUS" 202
stop_pid "$LPID"

# the ring at z is kept in preference to z+-1: a queue of 24 and a 4x4
# viewport at z11 whose ring is 20 tiles, level z-1 4 and level z+1 64
write_env "PREFETCH_QUEUE_MAX=24" "PREFETCH_PARALLEL=4"
lighttpd_from_deploy "$STATE/app.env" 1 || fail "lighttpd (1 process) starts" "$(tail -3 "$STATE/error.log")"
req POST "$BASE/11/prefetch?z=11&x0=2&x1=5&y0=2&y1=5"
expect "5: prefetch of a 4x4 viewport with a queue of 24" "$STATUS/$(json j.queued)" "202/24"
for i in $(seq 1 50); do
	req GET "$BASE/11/cache-stats"
	[ "$(json j.stats.prefetch_queue)" = 0 ] && [ "$(json j.stats.prefetched)" -ge 24 ] 2>/dev/null && break
	sleep 0.1
done
expect "5: the queue drained in the background (prefetched)" "$(json j.stats.prefetched)" 24
mem=0
for x in 1 2 3 4 5 6; do for y in 1 2 3 4 5 6; do
	[ "$x" -ge 2 ] && [ "$x" -le 5 ] && [ "$y" -ge 2 ] && [ "$y" -le 5 ] && continue
	req GET "$BASE/11/11/$x/$y.jpg"
	[ "$(header X-Tile-Source)" = memory-cache ] && mem=$((mem + 1))
done; done
expect "5: every one of the 20 ring tiles was kept and prefetched (from memory)" "$mem" 20
stop_pid "$LPID"

# ---- 7: shared state private to the pool --------------------------------------------------------
write_env
lighttpd_from_deploy "$STATE/app.env" "$PROCS" || fail "lighttpd restarts" "$(tail -3 "$STATE/error.log")"
f=$(ls "$RUN"/generations-* 2>/dev/null | head -1)
expect "7: the runtime directory is 0700, the pool's user's" "$(stat -c '%a %u' "$RUN")" "700 $(id -u)"
expect "7: the generation file is 0600 in it" "$(stat -c '%a' "$f" 2>/dev/null)" 600
# truncated under the running pool: nobody dies, the clear says how far it reached
par 8 "$BASE/7/10/0/0.jpg" > /dev/null
pids_before=$(pgrep -f -- "$BIN" | sort | tr '\n' ' ')
: > "$f"
ans=$(par 16 "$BASE/7/10/0/0.jpg" | awk '{print $1}' | sort | uniq -c | sed 's/^ *//')
expect "7: after the file is truncated under them, the responders still answer" "$ans" "16 200"
expect "7: and none died (SIGBUS)" "$(pgrep -f -- "$BIN" | sort | tr '\n' ' ')" "$pids_before"
req POST "$BASE/7/cache-clear" -H "Authorization: Bearer $OWNER"
expect "7: cache-clear then says it reached this process only" "$STATUS/$(json j.scope)" "200/process"
req GET "$BASE/health"
expect_match "7: health warns that clears are no longer shared" "$(json 'j.warnings.join()')" 'not shared'
expect_match "7: the loss is logged" "$(cat "$STATE/backend.log")" 'truncated under this process'
stop_pid "$LPID"

# a lock held by someone else cannot hang a starting responder
rm -f "$f"
: > "$f" && chmod 600 "$f"
flock "$f" sleep 30 &
HOLDER=$!
track "$HOLDER"
sleep 0.2
t0=$(date +%s%3N)
lighttpd_from_deploy "$STATE/app.env" "$PROCS" && ok=yes || ok=no
t1=$(date +%s%3N)
expect "7: with the file's lock held elsewhere, the pool starts and answers ($((t1 - t0)) ms)" "$ok" yes
expect_match "7:   and says why clears stay local" "$(cat "$STATE/backend.log")" 'locked by another process'
stop_pid "$LPID"
stop_pid "$HOLDER"
rm -f "$f"

# refused at start: a directory open to others, a file open to the group
refused() {	# refused DESC WHAT-IN-LOG
	: > "$STATE/backend.log"
	lighttpd_from_deploy "$STATE/app.env" 1 >/dev/null 2>&1
	req GET "$BASE/health"
	if [ "$STATUS" != 200 ] && grep -q "TILE_RUNTIME_DIR: .*$2" "$STATE/backend.log"; then
		pass "7: $1: refused at start, naming TILE_RUNTIME_DIR"
	else
		fail "7: $1: refused at start" "health $STATUS; log: $(tail -2 "$STATE/backend.log")"
	fi
	stop_pid "$LPID"
}
chmod 0777 "$RUN"
refused "a world-writable runtime directory" "mode 0777 gives access to others"
chmod 0700 "$RUN"
: > "$RUN/$(basename "$f")" && chmod 0660 "$RUN/$(basename "$f")"
refused "a group-writable generation file" "mode 0660 gives access to others"
rm -f "$RUN/$(basename "$f")"
ln -s /tmp "$STATE/run-link"
write_env "TILE_RUNTIME_DIR=$STATE/run-link"
refused "a runtime directory that is a symbolic link" "symbolic link"

cat "$STATE"/error.log "$STATE"/backend.log > "$STATE/all.log" 2>/dev/null
check "no sanitizer report in the logs" asan_clean "$STATE/all.log"
finish
