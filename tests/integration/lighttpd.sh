#!/usr/bin/env bash
# Integration: a real lighttpd on 127.0.0.1 spawning astropixel-tiles (2
# processes) from deploy/lighttpd/astropixel-tiles.conf, local storage.
# Covers SPEC 3.1, 3.6, 4 and the bad-input list through real HTTP.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/smoke.sh"

start_lighttpd() { lighttpd_from_deploy "$STATE/app.env" 2; }

DATA=$STATE/data
make_fixture "$DATA"
cat > "$STATE/app.env" <<ENV
# test settings, read through ENV_FILE
LOCAL_STORAGE_DIR=$DATA
SECRET_KEY="it-secret-key"
TILE_RUNTIME_DIR=$STATE/run
LOG_LEVEL=info
ENV
start_lighttpd || { fail "lighttpd starts" "$(cat "$STATE/error.log" 2>/dev/null | tail -5)"; finish; exit 1; }
pass "lighttpd starts and spawns astropixel-tiles from deploy/lighttpd/astropixel-tiles.conf"

req GET "$BASE/health"
expect "health is 200" "$STATUS" 200
expect "health says ok" "$(json j.status)" ok
expect "health reports local storage ok" "$(json j.storage.local.state)" ok

# ---- single tile -----------------------------------------------------------
F=$DATA/tiles/1/10/1/1.jpg
req GET "$BASE/1/10/1/1.jpg"
expect "tile is 200" "$STATUS" 200
check "tile body is byte-exact" cmp -s "$BODY" "$F"
expect "Content-Type of the bytes" "$(header Content-Type)" image/jpeg
expect "Content-Length is the file size" "$(header Content-Length)" "$(stat -c %s "$F")"
ETAG=$(header ETag)
expect_match "strong ETag" "$ETAG" '^"[0-9a-f]{32}"$'
expect "public Cache-Control at the unversioned URL: short, revalidated" "$(header Cache-Control)" \
	"public, max-age=60, stale-while-revalidate=600"
expect "CORS header" "$(header Access-Control-Allow-Origin)" "*"
expect_match "first answer comes from local storage or memory" "$(header X-Tile-Source)" '^(local|memory-cache)$'
seen=""
for i in 1 2 3 4 5 6; do req GET "$BASE/1/10/1/1.jpg"; seen="$seen $(header X-Tile-Source)"; done
expect_match "repeat requests are answered from memory (X-Tile-Source)" "$seen" 'memory-cache'
req GET "$BASE/1/10/1/1.jpg" -H "If-None-Match: $ETAG"
expect "If-None-Match with the ETag is 304" "$STATUS" 304
expect "304 has no body" "$(stat -c %s "$BODY")" 0
req GET "$BASE/1/10/1/1.jpg" -H 'If-None-Match: "other"'
expect "If-None-Match with another ETag is 200" "$STATUS" 200
req HEAD "$BASE/1/10/1/1.jpg"
expect "HEAD is 200" "$STATUS" 200
expect "HEAD has the Content-Length of GET" "$(header Content-Length)" "$(stat -c %s "$F")"
expect "HEAD has no body" "$(stat -c %s "$BODY")" 0
req GET "$BASE/1/10/1/1.jpeg"
expect "jpeg extension serves the jpg tile" "$STATUS" 200
req GET "$BASE/4/10/1/1.jpg"
expect "format fallback: jpg missing, png served" "$STATUS/$(header Content-Type)" "200/image/png"
check "fallback body is the png file" cmp -s "$BODY" "$DATA/tiles/4/10/1/1.png"
req GET "$BASE/1/10/3/0.jpg"
expect "tile outside the grid is 404" "$STATUS" 404
expect_match "404 is JSON with detail" "$(body)" '^\{"detail":'
req GET "$BASE/1/11/0/0.jpg"
expect "z above max_zoom is 404" "$STATUS" 404
req GET "$BASE/99/0/0/0.jpg"
expect "unknown dataset is 404" "$STATUS" 404
req GET "$BASE/3/0/0/0.jpg"
expect "processing dataset is 503" "$STATUS" 503

# ---- access control ----------------------------------------------------------
OWNER=$("$MKTOKEN" it-secret-key 7 3600)
OTHER=$("$MKTOKEN" it-secret-key 8 3600)
EXPIRED=$("$MKTOKEN" it-secret-key 7 -120)
NONE=$("$MKTOKEN" it-secret-key 7 3600 --alg none)
HS512=$("$MKTOKEN" it-secret-key 7 3600 --alg HS512)
WRONGKEY=$("$MKTOKEN" another-key 7 3600)
req GET "$BASE/2/10/0/0.png"
expect "private tile without token is 401" "$STATUS" 401
expect "401 carries WWW-Authenticate: Bearer" "$(header WWW-Authenticate)" Bearer
req GET "$BASE/2/10/0/0.png" -H "Authorization: Bearer $OWNER"
expect "owner's Bearer token gets the private tile" "$STATUS" 200
expect_match "private tile is never Cache-Control public" "$(header Cache-Control)" '^private, max-age=[0-9]+$'
req GET "$BASE/2/10/0/0.png?token=$OWNER"
expect "owner's ?token= gets the private tile" "$STATUS" 200
req GET "$BASE/2/10/0/0.png" -H "Authorization: Bearer $OTHER"
expect "another user's token is 403" "$STATUS" 403
for t in EXPIRED NONE HS512 WRONGKEY; do
	req GET "$BASE/2/10/0/0.png" -H "Authorization: Bearer ${!t}"
	expect "token $t is 401" "$STATUS" 401
done
req GET "$BASE/2/10/0/0.png" -H "Authorization: Bearer garbage.token.here"
expect "malformed token is 401" "$STATUS" 401
req GET "$BASE/1/10/1/1.jpg" -H "Authorization: Bearer garbage"
expect "public tile ignores a bad token" "$STATUS" 200

# ---- bad input: a clear 4xx and the process keeps serving ------------------
bad() {	# bad DESC PATH [curl args]
	local d=$1 p=$2
	shift 2
	req GET "http://127.0.0.1:$PORT$p" --path-as-is "$@"
	if [ "$STATUS" -ge 400 ] && [ "$STATUS" -lt 500 ]; then pass "bad input ($d) is $STATUS"
	else fail "bad input ($d)" "status $STATUS"; fi
}
bad "dot-dot" "/api/tiles/1/../../../etc/passwd"
bad "dot-dot in tile" "/api/tiles/1/10/../1.jpg"
bad "encoded dot-dot" "/api/tiles/1/%2e%2e/%2e%2e/x.jpg"
bad "encoded slash" "/api/tiles/1/10%2F1/1.jpg"
bad "NUL byte" "/api/tiles/1/10/1/1.jpg%00.png"
bad "backslash" '/api/tiles/1/10/1\1.jpg'
bad "plus sign" "/api/tiles/1/10/+1/1.jpg"
bad "minus sign" "/api/tiles/1/10/-1/1.jpg"
bad "leading zero" "/api/tiles/1/10/01/1.jpg"
bad "overflow" "/api/tiles/1/10/99999999999/1.jpg"
bad "z above 30" "/api/tiles/1/31/0/0.jpg"
bad "unknown extension" "/api/tiles/1/10/1/1.gif"
bad "double extension" "/api/tiles/1/10/1/1.jpg.png"
bad "dataset id with sign" "/api/tiles/-1/0/0/0.jpg"
bad "empty segment" "/api/tiles/1//0/0.jpg"
bad "over-long URL" "/api/tiles/1/10/1/1.jpg?x=$(head -c 17000 /dev/zero | tr '\0' a)"
bad "over-long token" "/api/tiles/2/10/0/0.png?token=$(head -c 5000 /dev/zero | tr '\0' a)"
bad "over-long header" "/api/tiles/1/10/1/1.jpg" -H "If-None-Match: \"$(head -c 9000 /dev/zero | tr '\0' a)\""
req DELETE "$BASE/1/10/1/1.jpg"
expect "DELETE on a tile is 405" "$STATUS" 405
expect "405 names the allowed methods" "$(header Allow)" "GET, HEAD, OPTIONS"
req POST "$BASE/1/10/1/1.jpg"
expect "POST on a tile is 405" "$STATUS" 405
req GET "$BASE/1/cache-clear"
expect "GET on cache-clear is 405" "$STATUS" 405
req GET "$BASE/1/nonsense"
expect "unknown endpoint is 404" "$STATUS" 404
head -c 100000 /dev/zero > "$STATE/big.body"
req POST "$BASE/1/prefetch?z=10&x0=0&x1=0&y0=0&y1=0" --data-binary "@$STATE/big.body"
expect_match "oversized body is refused" "$STATUS" '^(413|400)$'

req GET "$BASE/health"
expect "still serving after bad input (health)" "$STATUS" 200
req GET "$BASE/1/10/1/1.jpg"
expect "still serving after bad input (tile)" "$STATUS" 200
alive=$(pgrep -f -- "$BIN" | wc -l)
expect "both responder processes are alive" "$alive" 2

# ---- the smoke suite shared with apache.sh and nginx.sh --------------------
run_smoke "$BASE" it-secret-key

stop_pid "$LPID"
cat "$STATE"/error.log "$STATE"/backend.log "$STATE"/lighttpd.out > "$STATE/all.log" 2>/dev/null
check "no sanitizer report in the logs" asan_clean "$STATE/all.log"
check "secrets never reach the log" bash -c "! grep -q 'it-secret-key' '$STATE/all.log'"
check "the responder's log reaches server.breakagelog" grep -q "astropixel-tiles" "$STATE/backend.log"
check "effective configuration is logged at start" grep -q "effective configuration:.*LOCAL_STORAGE_DIR=$DATA" "$STATE/all.log"
finish
