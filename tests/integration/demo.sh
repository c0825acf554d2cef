#!/usr/bin/env bash
# The README's first command: deploy/demo/run.sh builds, generates the
# built-in sample and serves it; every URL it prints answers as it says.
# Then its --redis and --nginx forms, as the README gives them.
source "$(dirname "$0")/lib.sh"
DEMO_DIR=$IT_ROOT/_build/demo
# start_demo OUT TRIES [ARGS...]: deploy/demo/run.sh ARGS on a free port, in
# its own process group; waits up to TRIES x 0.5 s for health; sets PORT, DPID
start_demo() {
	local out=$1 tries=$2 i
	shift 2
	PORT=$(free_port)
	PORT=$PORT setsid "$IT_ROOT/deploy/demo/run.sh" "$@" > "$out" 2>&1 &
	DPID=$!
	track "$DPID"
	for i in $(seq 1 "$tries"); do
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/api/tiles/health" && return 0
		kill -0 "$DPID" 2>/dev/null || return 1
		sleep 0.5
	done
	return 1
}
# the first run builds, generates the sample and makes its WebP variants
# (about 3 000 SSIM searches on every CPU): minutes on a 2-core machine
start_demo "$STATE/demo.out" 720 && pass "deploy/demo/run.sh serves on 127.0.0.1:$PORT" ||
	{ fail "demo starts" "$(tail -5 "$STATE/demo.out")"; finish; exit 1; }
expect "the sample has 2 739 tiles" "$(find "$DEMO_DIR/data/tiles/1" -name '*.jpg' | wc -l)" 2739
req GET "http://127.0.0.1:$PORT/"
expect "the viewer is the home page" "$STATUS/$(header Content-Type)" "200/text/html"
for u in $(grep -oE "http://127.0.0.1:$PORT/(api/tiles|iiif/3)/[^ ]+" "$STATE/demo.out" | sort -u); do
	req GET "$u"
	case "$u" in
	*/2/0/0/0.jpg) expect "printed URL answers 401 as it says: ${u#*/api/tiles/}" "$STATUS" 401 ;;
	*) expect "printed URL answers 200: $(echo "${u#*/api/tiles/}" | cut -c1-60)" "$STATUS" 200 ;;
	esac
done
req GET "http://127.0.0.1:$PORT/api/tiles/1/12/10/5.jpg"
expect "the suggested curl shows memory-cache the second time" "$(header X-Tile-Source)" memory-cache
expect "the sample has a WebP variant beside every JPEG tile of dataset 1 but the few not smaller" \
	"$(( $(find "$DEMO_DIR/data/tiles/1" -name '*.webp' | wc -l) > 2700 ))" 1
req GET "http://127.0.0.1:$PORT/api/tiles/1/info" -H 'Accept: application/json, image/webp'
expect_match "a browser that takes WebP gets the .webp template (the viewer shows WebP)" \
	"$(json 'j.tile_url_template')" '\{y\}\.webp$'
expect "  and the index's formats" "$(json 'j.formats.join(",")')" "jpg,webp"
req GET "http://127.0.0.1:$PORT/api/tiles/1/12/10/5.webp"
expect "a .webp tile of the sample is WebP" "$STATUS/$(header Content-Type)" "200/image/webp"
# stop the demo's lighttpd (the script exec'd into it) and everything under it
kill -TERM -- -"$DPID" 2>/dev/null
for _ in $(seq 1 50); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done

# ---- the README's "with Redis": deploy/demo/run.sh --redis -------------------------
start_demo "$STATE/demo-redis.out" 40 --redis && pass "deploy/demo/run.sh --redis serves on 127.0.0.1:$PORT" ||
	fail "demo --redis starts" "$(tail -5 "$STATE/demo-redis.out")"
req GET "http://127.0.0.1:$PORT/api/tiles/1/11/3/2.jpg"
expect "--redis: a tile" "$STATUS" 200
sleep 0.7	# a poll has connected every process
req GET "http://127.0.0.1:$PORT/api/tiles/health"
expect "--redis: health says l2 ok" "$(json 'j.l2')" ok
expect "--redis: the tile went to Redis (REDIS_STORE_LOCAL)" \
	"$(redis-cli -s "$DEMO_DIR/redis/redis.sock" --scan --pattern '*:t:1:*:11:3:2:jpg' | wc -l)" 1
rpid=$(pgrep -f "redis-server.*$DEMO_DIR/redis/redis.sock" | head -1)
kill -TERM -- -"$DPID" 2>/dev/null
for _ in $(seq 1 50); do kill -0 "${rpid:-0}" 2>/dev/null || break; sleep 0.1; done
check "--redis: its Redis stops with the demo" bash -c "! kill -0 ${rpid:-0} 2>/dev/null"

# ---- the README's "behind nginx with its cache": deploy/demo/run.sh --nginx ---------------
start_demo "$STATE/demo-nginx.out" 40 --nginx && pass "deploy/demo/run.sh --nginx serves on 127.0.0.1:$PORT" ||
	fail "demo --nginx starts" "$(tail -5 "$STATE/demo-nginx.out")"
req GET "http://127.0.0.1:$PORT/"
expect "--nginx: the viewer is the home page" "$STATUS/$(header Content-Type)" "200/text/html"
for n in 1 2; do req GET "http://127.0.0.1:$PORT/api/tiles/1/12/10/6.jpg"; c[$n]=$(header X-Cache-Status); done
expect "--nginx: the suggested curl: MISS, then HIT (nginx answered from its cache)" "${c[1]}/${c[2]}/$STATUS" "MISS/HIT/200"
cmp -s "$BODY" "$DEMO_DIR/data/tiles/1/12/10/6.jpg" && pass "--nginx:   with the tile's bytes" ||
	fail "--nginx: cached bytes" "differ from tiles/1/12/10/6.jpg"
req GET "http://127.0.0.1:$PORT/api/tiles/2/0/0/0.jpg?token=$(sed -n 's/^  owner 1 token *//p' "$STATE/demo-nginx.out")"
req GET "http://127.0.0.1:$PORT/api/tiles/2/0/0/0.jpg?token=$(sed -n 's/^  owner 1 token *//p' "$STATE/demo-nginx.out")"
expect "--nginx: a private tile with its token is never cached by nginx" "$STATUS/$(header X-Cache-Status)" "200/BYPASS"
req GET "http://127.0.0.1:$PORT/iiif/3/1/info.json"
expect "--nginx: IIIF reaches the responders" "$STATUS" 200
kill -TERM -- -"$DPID" 2>/dev/null
for _ in $(seq 1 50); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
for _ in $(seq 1 100); do pgrep -f "$DEMO_DIR/run/fcgi-[12].sock" > /dev/null || break; sleep 0.1; done
check "--nginx: the demo stops, responders included (within 10 s)" bash -c "! pgrep -f '$DEMO_DIR/run/fcgi-[12].sock' > /dev/null"
finish
