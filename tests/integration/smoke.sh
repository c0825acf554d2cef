# The smoke suite every web-server test runs through its real server (sourced,
# after lib.sh; not run on its own).
#
#   run_smoke BASE_URL SECRET [FIXTURE_DIR]
#
# BASE_URL is the API root as the web server publishes it (…/api/tiles), the
# server is configured with the tree of lib.sh's make_fixture (FIXTURE_DIR,
# default $DATA) and SECRET_KEY=SECRET, and serves it with a pool of two or
# more processes. Covers SPEC 3.1-3.5 and 4 end to end: single tile, 304,
# HEAD, IIIF info.json and a tile under /iiif/3 (the web server's second
# location) and the DZI descriptor, a private tile with a Bearer token and
# with ?token=, batch, stats, prefetch, and an owner's cache clear observed
# from more than one process.

# Tiles of private dataset 2 (owner 7) used to observe the cache clear: ten
# distinct tiles, so that ten requests after the clear can each be a miss.
SMOKE_WARM_TILES="10/0/0 10/0/1 10/1/0 10/1/1 10/2/0 10/2/1 9/0/0 9/1/0 8/0/0 7/0/0"
SMOKE_PARALLEL=8	# transfers at once: a pool spreads them over its processes
SMOKE_ROUNDS=30		# bound of every wait-until-observed loop

# _smoke_stats_pids DIR: "pid cached_tiles" for every cache-stats body DIR/*.stats
_smoke_stats_pids() {
	node -e '
const fs = require("fs"), d = process.argv[1];
for (const f of fs.readdirSync(d).filter((n) => n.endsWith(".stats"))) {
	try {
		const j = JSON.parse(fs.readFileSync(d + "/" + f, "utf8"));
		console.log(j.stats.pid + " " + j.dataset.cached_tiles);
	} catch (e) { console.log("bad -1"); }
}' "$1"
}

# _smoke_round DIR BASE TOKEN WITH_TILES: SMOKE_PARALLEL requests at once
# (curl --parallel: truly concurrent, so that even a pool that always picks
# its most recently used idle process, as mod_fcgid does, spreads them). With
# WITH_TILES=1, first every warm tile twice ("code source" lines in
# DIR/tiles); then dataset 2's cache-stats SMOKE_PARALLEL times (DIR/N.stats).
_smoke_round() {
	local dir=$1 base=$2 auth=$3 with_tiles=$4 n t args=()
	rm -rf "$dir"
	mkdir -p "$dir"
	if [ "$with_tiles" = 1 ]; then
		# one -o per URL: curl applies an -o to the next URL only
		for t in $SMOKE_WARM_TILES $SMOKE_WARM_TILES; do args+=(-o /dev/null "$base/2/$t.png"); done
		curl -s --no-progress-meter --max-time 30 --parallel --parallel-immediate --parallel-max "$SMOKE_PARALLEL" \
			-H "Authorization: Bearer $auth" -w '%{http_code} %header{x-tile-source}\n' \
			"${args[@]}" > "$dir/tiles"
	fi
	args=()
	for n in $(seq 1 "$SMOKE_PARALLEL"); do args+=(-o "$dir/$n.stats" "$base/2/cache-stats"); done
	curl -s --no-progress-meter --max-time 30 --parallel --parallel-immediate --parallel-max "$SMOKE_PARALLEL" \
		-H "Authorization: Bearer $auth" "${args[@]}"
}

run_smoke() {
	local base=$1 secret=$2 d=${3:-$DATA}
	local owner other f etag t i r dir pid n clear_ok args_=()
	local -A warmed=() after=()
	owner=$("$MKTOKEN" "$secret" 7 3600)
	other=$("$MKTOKEN" "$secret" 8 3600)
	dir=$STATE/smoke
	echo "# smoke suite through $base"

	# ---- single tile, 304, HEAD (SPEC 3.1) ------------------------------------
	f=$d/tiles/1/10/1/1.jpg
	req GET "$base/1/10/1/1.jpg"
	expect "smoke: tile is 200" "$STATUS" 200
	check "smoke: tile body is byte-exact" cmp -s "$BODY" "$f"
	expect "smoke: tile Content-Type" "$(header Content-Type)" image/jpeg
	expect "smoke: tile Content-Length" "$(header Content-Length)" "$(stat -c %s "$f")"
	etag=$(header ETag)
	expect_match "smoke: tile has a strong ETag" "$etag" '^"[^"]+"$'
	expect_match "smoke: X-Tile-Source" "$(header X-Tile-Source)" '^(local|memory-cache)$'
	req GET "$base/1/10/1/1.jpg" -H "If-None-Match: $etag"
	expect "smoke: If-None-Match with the ETag is 304" "$STATUS" 304
	expect "smoke: 304 has no body" "$(stat -c %s "$BODY")" 0
	req HEAD "$base/1/10/1/1.jpg"
	expect "smoke: HEAD is 200" "$STATUS" 200
	expect "smoke: HEAD has GET's Content-Length" "$(header Content-Length)" "$(stat -c %s "$f")"
	expect "smoke: HEAD has no body" "$(stat -c %s "$BODY")" 0

	# ---- IIIF and DZI through the same server (docs/api.md "IIIF", "DZI") -----
	local iiif=${base%/api/tiles}/iiif/3 id
	req GET "$iiif/1/info.json"
	id=$(json j.id)
	expect "smoke: IIIF info.json reaches the responder (200, level0)" "$STATUS $(json j.profile)" "200 level0"
	expect_match "smoke: IIIF id is the absolute, versioned base URI of this server" "$id" "^${iiif}/1/v/[0-9a-f]+$"
	req GET "$id/512,256,88,144/88,144/0/default.jpg"
	expect "smoke: an IIIF tile under the id is the stored 10/2/1" "$STATUS/$(cmp -s "$BODY" "$d/tiles/1/10/2/1.jpg" && echo same)" "200/same"
	req GET "$iiif/2/info.json" -H "Authorization: Bearer $owner"
	expect "smoke: private IIIF info.json with the owner's Authorization: Bearer (200)" "$STATUS" 200
	req GET "$base/1.dzi"
	expect "smoke: DZI descriptor (200 application/xml)" "$STATUS $(header Content-Type)" "200 application/xml"

	# ---- private tile: Authorization header and ?token= (SPEC 4) ------------
	f=$d/tiles/2/10/0/0.png
	req GET "$base/2/10/0/0.png"
	expect "smoke: private tile without a token is 401" "$STATUS" 401
	expect "smoke: 401 carries WWW-Authenticate: Bearer" "$(header WWW-Authenticate)" Bearer
	req GET "$base/2/10/0/0.png" -H "Authorization: Bearer $owner"
	expect "smoke: owner's Authorization: Bearer reaches the responder (200)" "$STATUS" 200
	check "smoke: private tile body is byte-exact" cmp -s "$BODY" "$f"
	expect_match "smoke: private tile is not publicly cacheable" "$(header Cache-Control)" '^private'
	req GET "$base/2/10/0/0.png?token=$owner"
	expect "smoke: owner's ?token= gets the private tile (200)" "$STATUS" 200
	req GET "$base/2/10/0/0.png" -H "Authorization: Bearer $other"
	expect "smoke: another user's token is 403" "$STATUS" 403

	# ---- batch (SPEC 3.2) ------------------------------------------------------
	req GET "$base/1/batch?tiles=10/0/0.jpg&tiles=10/1/1.jpg&tiles=9/9/9.jpg"
	expect "smoke: batch is 200" "$STATUS" 200
	expect_match "smoke: batch is JSON" "$(header Content-Type)" '^application/json'
	expect "smoke: batch count" "$(json j.count)" 2
	expect "smoke: batch missing" "$(json 'j.missing')" '["9/9/9.jpg"]'
	expect "smoke: batch null for the missing tile" "$(json 'j.tiles["9/9/9.jpg"]')" null
	for t in 10/0/0 10/1/1; do
		expect "smoke: batch tile $t.jpg decodes to the file" "$(node -e '
const fs = require("fs");
const j = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
console.log(Buffer.from(j.tiles[process.argv[2]], "base64").equals(fs.readFileSync(process.argv[3])));
' "$BODY" "$t.jpg" "$d/tiles/1/$t.jpg" 2>&1)" true
	done

	# ---- stats (SPEC 3.3) ---------------------------------------------------------
	req GET "$base/1/cache-stats"
	expect "smoke: cache-stats is 200" "$STATUS" 200
	expect "smoke: cache-stats shape" "$(json '[j.dataset_id, typeof j.stats.enabled,
		typeof j.stats.cache_size, typeof j.stats.cache_max, typeof j.stats.cache_bytes,
		typeof j.stats.cache_max_bytes, typeof j.stats.total_requests, typeof j.stats.cache_hits,
		typeof j.stats.cache_misses, /^[0-9.]+%$/.test(j.stats.hit_rate), typeof j.stats.evictions,
		typeof j.stats.prefetch_queue, typeof j.stats.prefetched, typeof j.stats.prefetch_hits,
		j.stats.pid > 0, typeof j.dataset.cached_tiles, typeof j.dataset.cached_bytes].join()')" \
		"1,boolean,number,number,number,number,number,number,number,true,number,number,number,number,true,number,number"

	# ---- prefetch (SPEC 3.5) -----------------------------------------------------
	req POST "$base/1/prefetch?z=9&x0=0&x1=0&y0=0&y1=0"
	expect "smoke: prefetch is 202" "$STATUS" 202
	expect "smoke: prefetch answers queued and queue" "$(json '[typeof j.queued, typeof j.queue].join()')" "number,number"

	# ---- cache clear reaches every process (SPEC 3.4) ------------------------
	req POST "$base/2/cache-clear"
	expect "smoke: anonymous cache-clear is 401" "$STATUS" 401
	req POST "$base/2/cache-clear" -H "Authorization: Bearer $other"
	expect "smoke: non-owner cache-clear is 403" "$STATUS" 403

	# Warm the ten tiles until at least two processes hold all of them (their
	# cache-stats say so) and answers come from memory.
	for r in $(seq 1 "$SMOKE_ROUNDS"); do
		_smoke_round "$dir" "$base" "$owner" 1
		while read -r pid n; do
			[ "$n" -ge 10 ] 2>/dev/null && warmed[$pid]=1
		done < <(_smoke_stats_pids "$dir")
		[ "${#warmed[@]}" -ge 2 ] && grep -q ' memory-cache$' "$dir/tiles" && break
	done
	expect_match "smoke: ten private tiles are cached in >= 2 processes (pids ${!warmed[*]}, $r rounds)" \
		"${#warmed[@]}" '^([2-9]|[1-9][0-9]+)$'
	expect_match "smoke: warm tiles are answered from memory" \
		"$(sort "$dir/tiles" | uniq -c | tr '\n' ' ')" ' 200 memory-cache'

	req POST "$base/2/cache-clear" -H "Authorization: Bearer $owner"
	expect "smoke: owner's cache-clear is 200" "$STATUS" 200
	expect "smoke: cache-clear answers cleared" "$(json j.cleared)" true

	# Every process that answers now, warmed ones included, holds none of
	# dataset 2's tiles, whichever process took the clear.
	clear_ok=1
	for r in $(seq 1 "$SMOKE_ROUNDS"); do
		_smoke_round "$dir" "$base" "$owner" 0
		while read -r pid n; do
			after[$pid]=$n
			[ "$n" = 0 ] || clear_ok=0
		done < <(_smoke_stats_pids "$dir")
		n=0
		for pid in "${!after[@]}"; do [ -n "${warmed[$pid]:-}" ] && n=$((n + 1)); done
		[ "$n" -ge 2 ] && break
	done
	expect "smoke: after the clear, >= 2 warmed processes (${!warmed[*]}) answered cache-stats (${!after[*]})" \
		"$([ "$n" -ge 2 ] && echo yes)" yes
	expect "smoke: after the clear, every answering process holds 0 tiles of the dataset" \
		"$clear_ok" 1

	# Ten requests at once, one per warmed tile, spread over the pool: each
	# must be a miss, whichever process takes it.
	args_=()
	for t in $SMOKE_WARM_TILES; do args_+=(-o /dev/null "$base/2/$t.png"); done
	curl -s --no-progress-meter --max-time 30 --parallel --parallel-immediate --parallel-max 10 \
		-H "Authorization: Bearer $owner" -w '%{http_code} %header{x-tile-source}\n' \
		"${args_[@]}" > "$dir/after"
	expect "smoke: after the clear, 10 requests for warmed tiles all answer 200 local" \
		"$(sort "$dir/after" | uniq -c | sed 's/^ *//')" "10 200 local"
}

# Run on its own (tests/run.sh runs every tests/integration/*.sh but lib.sh),
# it has nothing to test: say so in the runner's format.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	echo "# smoke.sh is sourced by apache.sh, nginx.sh and lighttpd.sh; nothing to run alone"
	echo "0 passed, 0 failed"
fi
