#!/usr/bin/env bash
# astropixel-tiles --request under valgrind memcheck (plain -O2 build, no
# sanitizers): every kind of request, zero errors, no leaks.
source "$(dirname "$0")/lib.sh"
PLAIN=${PLAIN_BUILD_DIR:-$IT_ROOT/_build/plain}
VBIN=$PLAIN/astropixel-tiles
MKTOKEN=$PLAIN/tests/tools/mktoken
MKSAMPLE=$PLAIN/tests/sample/mksample
DATA=$STATE/data
make_fixture "$DATA"
export LOCAL_STORAGE_DIR=$DATA SECRET_KEY=vg-secret TILE_RUNTIME_DIR=$STATE/run
OWNER=$("$MKTOKEN" vg-secret 7 3600)

vg() {	# vg DESC EXPECTED_STATUS REQUEST [--header ...]
	local d=$1 want=$2
	shift 2
	valgrind -q --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect "$VBIN" --request "$@" > "$STATE/out" 2> "$STATE/vg.log"
	local rc=$? st
	st=$(head -1 "$STATE/out" | awk '{print $2}')
	if [ $rc -eq 0 ] && [ "$st" = "$want" ]; then pass "valgrind clean: $d ($st)"
	else fail "valgrind: $d" "exit $rc, status $st: $(grep -m3 -E '==[0-9]+==' "$STATE/vg.log" | tr '\n' ' ')"; fi
}
vg "tile" 200 'GET /api/tiles/1/10/1/1.jpg'
vg "HEAD tile" 200 'HEAD /api/tiles/1/10/1/1.jpg'
vg "format fallback" 200 'GET /api/tiles/4/10/1/1.jpg'
vg "304" 304 'GET /api/tiles/1/10/1/1.jpg' --header "If-None-Match: \"$(sha256sum "$DATA/tiles/1/10/1/1.jpg" | cut -c1-32)\""
vg "missing tile" 404 'GET /api/tiles/4/10/2/1.jpg'
vg "unknown dataset" 404 'GET /api/tiles/77/0/0/0.jpg'
vg "private without token" 401 'GET /api/tiles/2/10/0/0.png'
vg "private with owner token" 200 'GET /api/tiles/2/10/0/0.png' --header "Authorization: Bearer $OWNER"
vg "private with ?token=" 200 "GET /api/tiles/2/10/0/0.png?token=$OWNER"
vg "batch" 200 'GET /api/tiles/1/batch?tiles=10/0/0.jpg&tiles=10/1/1.jpg&tiles=9/9/9.jpg&tiles=10/0/0.jpg'
vg "batch with prefetch" 200 'GET /api/tiles/1/batch?tiles=10/1/1.jpg&prefetch=1'
vg "bad batch" 400 'GET /api/tiles/1/batch?tiles=10/x/0.jpg'
vg "stats" 200 'GET /api/tiles/1/cache-stats'
vg "clear (owner)" 200 'POST /api/tiles/2/cache-clear' --header "Authorization: Bearer $OWNER"
vg "prefetch" 202 'POST /api/tiles/1/prefetch?z=9&x0=0&x1=1&y0=0&y1=0'
vg "health" 200 'GET /api/tiles/health'
vg "traversal" 400 'GET /api/tiles/1/%2e%2e/0/0.jpg'
vg "method" 405 'DELETE /api/tiles/1/0/0/0.jpg'
vg "long URL" 414 "GET /api/tiles/1/0/0/0.jpg?q=$(head -c 17000 /dev/zero | tr '\0' a)"
finish
