#!/usr/bin/env bash
# Integration: caches at the edge (issue 15) through the real servers, from
# the deploy files: nginx with fastcgi_cache (deploy/nginx/astropixel-tiles-
# cache.conf + -cache-http.conf) and Apache with mod_cache_socache
# (deploy/apache/astropixel-tiles-cache.conf beside the mod_proxy_fcgi one),
# both in front of one pool of 2 responders started as the spawn unit does.
# For each: versioned public tiles are answered from the cache; a private
# tile never is (the owner fetches it, then an anonymous client gets 401 and
# another user 403, never the bytes); a ?token= request never fills a public
# entry; 304 through the cache; after cache-clear the info gives a new
# version, the new URL serves the new bytes and an old URL redirects to it;
# errors are not kept. Then with every responder stopped, cached public
# tiles are still served (stale too).
source "$(dirname "$0")/lib.sh"

for c in nginx apache2 spawn-fcgi setpriv; do
	command -v "$c" >/dev/null || { fail "$c is installed" "run tests/scripts/install-deps.sh"; finish; exit 1; }
done
for m in mod_cache.so mod_cache_socache.so mod_socache_shmcb.so mod_proxy_fcgi.so; do
	[ -f "$MODULES/$m" ] || { fail "apache2 has $m" "run tests/scripts/install-deps.sh"; finish; exit 1; }
done

DATA=$STATE/data
"$MKSAMPLE" --out "$DATA" --id 1 --width 2048 --height 2048 --owner 5 --quiet	# public, z11: 8 x 8
"$MKSAMPLE" --out "$DATA" --id 2 --width 600 --height 400 --private --owner 7 --quiet
"$MKSAMPLE" --out "$STATE/new" --id 1 --width 2048 --height 2048 --seed 42 --owner 5 --quiet
unit_state "$DATA"
cat >> "$STATE/app.env" <<ENV
UNVERSIONED_MAX_AGE=2
STALE_WHILE_REVALIDATE=2
ENV
start_unit_pool 2
OWNER=$("$MKTOKEN" it-secret-key 5 3600)
OWNER2=$("$MKTOKEN" it-secret-key 7 3600)
OTHER=$("$MKTOKEN" it-secret-key 8 3600)

# ---- nginx with its cache -------------------------------------------------------
NG=$STATE/nginx
mkdir -p "$NG/tmp" "$NG/www" "$NG/cache"
chown www-data:www-data "$NG/tmp" "$NG/cache"
sed -e "s|unix:/run/astropixel-tiles/astropixel-tiles.sock|unix:$SOCK|" \
	"$IT_ROOT/deploy/nginx/astropixel-tiles-upstream.conf" > "$NG/astropixel-tiles-upstream.conf"
sed -e "s|/var/cache/nginx/astropixel-tiles|$NG/cache|" \
	"$IT_ROOT/deploy/nginx/astropixel-tiles-cache-http.conf" > "$NG/cache-http.conf"
cp "$IT_ROOT/deploy/nginx/astropixel-tiles-cache.conf" "$NG/cache-location.conf"
cp /etc/nginx/fastcgi_params "$NG/fastcgi_params"
chmod -R a+rX "$NG"
NGINX_HTTP_EXTRA="include $NG/cache-http.conf;" nginx_conf cache "$NG/cache-location.conf"
start_nginx cache || { fail "nginx with fastcgi_cache starts" "$(tail -5 "$NG/cache-error.log" "$NG"/cache-out.*.log 2>/dev/null)"; finish; exit 1; }
NGINX_BASE="http://127.0.0.1:$PORT_/api/tiles"
NGINX_PID=$PID_
pass "nginx with fastcgi_cache from the deploy files (pid $NGINX_PID)"

# ---- Apache with mod_cache ---------------------------------------------------------
AP=$STATE/apache
mkdir -p "$AP/logs" "$AP/run" "$AP/htdocs"
chown www-data:www-data "$AP/run"
chmod -R a+rX "$AP"
{
	sed -e "s|/run/astropixel-tiles/astropixel-tiles.sock|$SOCK|g" "$IT_ROOT/deploy/apache/astropixel-tiles-proxy.conf"
	sed -e "s|\${APACHE_RUN_DIR}|$AP/run|g" "$IT_ROOT/deploy/apache/astropixel-tiles-cache.conf"
} > "$AP/cache.conf"
APACHE_MODULES_EXTRA="LoadModule cache_module $MODULES/mod_cache.so
LoadModule cache_socache_module $MODULES/mod_cache_socache.so
LoadModule socache_shmcb_module $MODULES/mod_socache_shmcb.so" apache_conf cache "$AP/cache.conf"
echo "Listen 127.0.0.1:1" > "$AP/cache.listen.conf"
apache2 -t -f "$AP/cache.httpd.conf" > "$STATE/ap-configtest.out" 2>&1
check "apache2 -t accepts the proxy + cache configuration" grep -q "Syntax OK" "$STATE/ap-configtest.out"
start_apache cache || { fail "apache with mod_cache starts" "$(tail -5 "$STATE/apache-cache.out" "$AP/logs/cache.error.log" 2>/dev/null)"; finish; exit 1; }
APACHE_BASE="http://127.0.0.1:$APORT/api/tiles"
APACHE_PID=$APID
trap 'stop_apache cache "$APACHE_PID"; cleanup' EXIT
pass "Apache with mod_cache_socache from the deploy files (pid $APACHE_PID)"

# cstatus FRONT: HIT, MISS, BYPASS, STALE, ... of the last req
cstatus() {
	case $1 in
	nginx) header X-Cache-Status ;;
	apache) header X-Cache | awk '{ print $1 }' ;;
	esac
}
hit() { [ "$(cstatus "$1")" = HIT ]; }
version() { req GET "$1/1/info"; json 'j.version'; }

front() {	# front NAME BASE: every check through one cache
	local f=$1 b=$2 v t etag v2 loc
	v=$(version "$b")
	expect_match "$f: info gives a version" "$v" '^[0-9a-f]{8}$'
	expect "$f:   and the template" "$(json 'j.tile_url_template')" "/api/tiles/1/v/$v/{z}/{x}/{y}.jpg"
	req GET "$b/1/info"
	expect "$f:   info is kept briefly (public, max-age=2) and answered from the cache" \
		"$(header Cache-Control)/$(cstatus "$f")" "public, max-age=2/HIT"

	# a versioned public tile: from the cache after the first request
	t=11/1/1.jpg
	req GET "$b/1/v/$v/$t"
	expect "$f: a versioned tile, first request: 200, immutable, filled" \
		"$STATUS/$(header Cache-Control)" "200/public, max-age=31536000, immutable"
	etag=$(header ETag)
	req GET "$b/1/v/$v/$t"
	expect "$f:   the second is a cache hit" "$STATUS/$(cstatus "$f")" "200/HIT"
	check "$f:   with the tile's bytes" cmp -s "$BODY" "$DATA/tiles/1/$t"
	req GET "$b/1/v/$v/$t" -H "If-None-Match: $etag"
	expect "$f: If-None-Match through the cache: 304" "$STATUS" 304
	req HEAD "$b/1/v/$v/$t"
	expect "$f: HEAD through the cache: 200, no body" "$STATUS/$(stat -c %s "$BODY")" "200/0"

	# a private tile: never from the shared cache
	req GET "$b/2/9/0/0.jpg" -H "Authorization: Bearer $OWNER2"
	expect "$f: the owner fetches a private tile" "$STATUS/$(header Cache-Control)" "200/private, max-age=2"
	req GET "$b/2/9/0/0.jpg"
	expect "$f:   then an anonymous client gets 401, not the bytes" "$STATUS" 401
	req GET "$b/2/9/0/0.jpg" -H "Authorization: Bearer $OTHER"
	expect "$f:   another user 403" "$STATUS" 403
	pv=$(req GET "$b/2/info" -H "Authorization: Bearer $OWNER2"; json 'j.version')
	req GET "$b/2/v/$pv/9/0/0.jpg?token=$OWNER2"
	expect "$f: the owner with ?token= at the versioned URL: 200, private" "$STATUS/$(header Cache-Control)" "200/private, max-age=3600"
	req GET "$b/2/v/$pv/9/0/0.jpg"
	expect "$f:   the same URL without the token: 401" "$STATUS" 401

	# a ?token= request never fills a public entry
	req GET "$b/1/v/$v/11/2/2.jpg?token=$OWNER"
	expect "$f: a public tile asked with ?token=: 200, private" "$STATUS/$(header Cache-Control)" "200/private, max-age=3600"
	req GET "$b/1/v/$v/11/2/2.jpg?token=$OWNER"
	expect_nomatch "$f:   and never answered from the cache" "$(cstatus "$f")" '^HIT'
	req GET "$b/1/v/$v/11/2/2.jpg"
	expect "$f:   nor did it fill the public entry" "$STATUS/$(cstatus "$f")" "200/MISS"

	# errors are not kept
	req GET "$b/1/v/$v/11/99/99.jpg"
	req GET "$b/1/v/$v/11/99/99.jpg"
	expect_nomatch "$f: a 404 is not answered from the cache" "$STATUS/$(cstatus "$f")" '^404/HIT'
}

front nginx "$NGINX_BASE"
front apache "$APACHE_BASE"
check "nginx: no cache file names a token" bash -c "! grep -rqaF -e '$OWNER' -e '$OWNER2' '$NG/cache'"

# ---- a clear: a new version, new bytes at the new URL, the old URL redirects ------
V1=$(version "$NGINX_BASE")
for f in nginx apache; do
	b=NGINX_BASE; [ $f = apache ] && b=APACHE_BASE
	req GET "${!b}/1/v/$V1/11/3/3.jpg"
	req GET "${!b}/1/v/$V1/11/3/3.jpg"
	expect "$f: 11/3/3 at version $V1 is cached" "$STATUS/$(cstatus "$f")" "200/HIT"
done
cp -r "$STATE/new/tiles/1/." "$DATA/tiles/1/"
req POST "$NGINX_BASE/1/cache-clear" -H "Authorization: Bearer $OWNER"
expect "the owner clears dataset 1 (through nginx: never cached)" "$STATUS/$(json 'j.scope')" "200/pool"
sleep 2.2	# the cached info (max-age=2) expires
for f in nginx apache; do
	b=NGINX_BASE; [ $f = apache ] && b=APACHE_BASE
	# an expired info may be answered stale once while it is refreshed
	# (fastcgi_cache_use_stale updating + background_update): a few asks
	for _ in $(seq 1 30); do V2=$(version "${!b}"); [ "$V2" != "$V1" ] && break; sleep 0.1; done
	expect_match "$f: after the clear, info gives a new version ($V1 -> $V2)" "$V2" "^[0-9a-f]{8}$"
	[ "$V2" != "$V1" ] && pass "$f:   different from the old one" || fail "$f:   different from the old one" "same $V2"
	req GET "${!b}/1/v/$V2/11/3/3.jpg"
	check "$f:   the new URL serves the new bytes" cmp -s "$BODY" "$STATE/new/tiles/1/11/3/3.jpg"
	req GET "${!b}/1/v/$V1/11/4/4.jpg"
	expect "$f:   an old-version URL (not cached) redirects to the new one" \
		"$STATUS/$(header Location)" "307//api/tiles/1/v/$V2/11/4/4.jpg"
	req GET "${!b}/1/v/$V1/11/3/3.jpg"
	expect_nomatch "$f:   an old-version URL still cached keeps its own (old) bytes: never the new ones under an old name" \
		"$(cmp -s "$BODY" "$STATE/new/tiles/1/11/3/3.jpg" && echo new)" new
done

# ---- every responder stopped: the cached public tiles are still served -----------
req GET "$NGINX_BASE/1/11/5/5.jpg"	# an unversioned entry (max-age=2), then let it expire
req GET "$APACHE_BASE/1/11/5/5.jpg"
for p in $POOL_PIDS; do stop_pid "$p"; done
sleep 2.5
for f in nginx apache; do
	b=NGINX_BASE; [ $f = apache ] && b=APACHE_BASE
	req GET "${!b}/1/v/$V2/11/3/3.jpg"
	expect "$f: responders down: a cached versioned tile is still served" "$STATUS/$(cstatus "$f")" "200/HIT"
	check "$f:   with its bytes" cmp -s "$BODY" "$STATE/new/tiles/1/11/3/3.jpg"
	req GET "${!b}/1/11/5/5.jpg"
	expect "$f: responders down: an expired unversioned tile is served stale" "$STATUS" 200
	req GET "${!b}/1/11/6/6.jpg"
	expect_match "$f: responders down: what was never cached is an error" "$STATUS" '^50[234]$'
done

cat "$NG/cache-error.log" "$AP/logs/cache.error.log" "$STATE/backend.log" > "$STATE/all.log" 2>/dev/null
check "no sanitizer report in the logs" asan_clean "$STATE/all.log"
check "the tokens never reach a log" bash -c "! grep -qF -e '$OWNER' -e '$OWNER2' -e '$OTHER' '$STATE/all.log'"
finish
