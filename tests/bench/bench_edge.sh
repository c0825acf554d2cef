#!/usr/bin/env bash
# Caches at the edge (issue 15), in one run: a warm public tile at its
# versioned URL through the recommended deployments, beside the same file
# served statically by the same web server and beside the FastCGI path
# (the same server without its cache), wrk -t2 -c32, alternating rounds:
#   nginx:  fastcgi_cache (deploy/nginx/astropixel-tiles-cache.conf) | static | FastCGI
#   Apache: mod_cache_socache (deploy/apache/astropixel-tiles-cache.conf) | static | FastCGI
# Goal (issue 15): versioned hits through nginx's cache >= 0.95x nginx's
# static file (the FastCGI path was 0.33x).
source "$(dirname "$0")/lib.sh"
machine
DUR=${BENCH_SECONDS:-4}
ROUNDS=${BENCH_ROUNDS:-3}

DATA=$STATE/data
"$MKSAMPLE" --out "$DATA" --id 1 --width 2048 --height 2048 --quiet
unit_state "$DATA" > /dev/null
start_unit_pool 2 > "$STATE/pool.out"
grep -q "^not ok" "$STATE/pool.out" && { cat "$STATE/pool.out"; exit 1; }
TILE=11/3/3.jpg
FILE=$DATA/tiles/1/$TILE
echo "tile: $TILE, $(stat -c %s "$FILE") bytes; 2 responders (spawn-fcgi)"

# ---- nginx: cache, static, FastCGI -------------------------------------------------
NG=$STATE/nginx
mkdir -p "$NG/tmp" "$NG/www/static" "$NG/cache"
cp "$FILE" "$NG/www/static/tile.jpg"
chown www-data:www-data "$NG/tmp" "$NG/cache"
sed -e "s|unix:/run/astropixel-tiles/astropixel-tiles.sock|unix:$SOCK|" \
	"$BENCH_ROOT/deploy/nginx/astropixel-tiles-upstream.conf" > "$NG/astropixel-tiles-upstream.conf"
sed -e "s|/var/cache/nginx/astropixel-tiles|$NG/cache|" \
	"$BENCH_ROOT/deploy/nginx/astropixel-tiles-cache-http.conf" > "$NG/cache-http.conf"
cp /etc/nginx/fastcgi_params "$NG/fastcgi_params"
{ cat "$BENCH_ROOT/deploy/nginx/astropixel-tiles-cache.conf"; echo 'location /static/ { }'; } > "$NG/cached.conf"
{ cat "$BENCH_ROOT/deploy/nginx/astropixel-tiles.conf"; echo 'location /static/ { }'; } > "$NG/plain.conf"
chmod -R a+rX "$NG"
# what Debian's nginx.conf sets, and a file-descriptor cache for the static file
DEBIAN_HTTP="sendfile on; tcp_nopush on; open_file_cache max=100;"
NGINX_HTTP_EXTRA="include $NG/cache-http.conf; $DEBIAN_HTTP" nginx_conf cached "$NG/cached.conf"
NGINX_HTTP_EXTRA="$DEBIAN_HTTP" nginx_conf plain "$NG/plain.conf"
start_nginx cached || { echo "nginx (cache) did not start"; exit 1; }
NC=http://127.0.0.1:$PORT_ NC_PID=$PID_
start_nginx plain || { echo "nginx (plain) did not start"; exit 1; }
NP=http://127.0.0.1:$PORT_ NP_PID=$PID_

V=$(curl -s "$NC/api/tiles/1/info" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).version))')
for _ in 1 2 3; do curl -s -o /dev/null "$NC/api/tiles/1/v/$V/$TILE"; done
[ "$(curl -s -o /dev/null -w '%header{x-cache-status}' "$NC/api/tiles/1/v/$V/$TILE")" = HIT ] || echo "  (nginx: the tile is not a cache hit)"

rps() { awk '/^Requests\/sec/ { printf "%.0f", $2 }' "$1"; }
run() {	# run NAME URL: one wrk round; prints req/s
	wrk -t2 -c32 -d"${DUR}s" "$2" > "$STATE/wrk.$1" 2>&1
	grep -q "Non-2xx\|Socket errors" "$STATE/wrk.$1" && echo "  ($1: $(grep -h 'Non-2xx\|Socket errors' "$STATE/wrk.$1"))" >&2
	rps "$STATE/wrk.$1"
}
compare() {	# compare LABEL CACHED_URL STATIC_URL FASTCGI_URL
	local c s f r
	for r in $(seq 1 "$ROUNDS"); do
		echo "$(run c "$2") $(run s "$3") $(run f "$4")"
	done > "$STATE/rounds"
	c=$(awk '{ print $1 }' "$STATE/rounds" | median)
	s=$(awk '{ print $2 }' "$STATE/rounds" | median)
	f=$(awk '{ print $3 }' "$STATE/rounds" | median)
	printf '  %-7s cache %7.0f req/s   static %7.0f req/s   FastCGI %7.0f req/s   cache/static %.2f   FastCGI/static %.2f   (rounds: %s)\n' \
		"$1" "$c" "$s" "$f" "$(echo "$c / $s" | bc -l)" "$(echo "$f / $s" | bc -l)" "$(tr '\n' ';' < "$STATE/rounds")"
}
echo "wrk -t2 -c32 -d${DUR}s, $ROUNDS alternating rounds, medians:"
compare nginx "$NC/api/tiles/1/v/$V/$TILE" "$NP/static/tile.jpg" "$NP/api/tiles/1/v/$V/$TILE"
stop_pid "$NC_PID"
stop_pid "$NP_PID"

# ---- Apache: mod_cache, static, FastCGI --------------------------------------------
AP=$STATE/apache
mkdir -p "$AP/logs" "$AP/run" "$AP/htdocs/static"
cp "$FILE" "$AP/htdocs/static/tile.jpg"
chown www-data:www-data "$AP/run"
chmod -R a+rX "$AP"
STATIC="<Directory \"$AP/htdocs/static\">
	Require all granted
</Directory>"
{ sed -e "s|/run/astropixel-tiles/astropixel-tiles.sock|$SOCK|g" "$BENCH_ROOT/deploy/apache/astropixel-tiles-proxy.conf"
  sed -e "s|\${APACHE_RUN_DIR}|$AP/run|g" "$BENCH_ROOT/deploy/apache/astropixel-tiles-cache.conf"
  echo "$STATIC"; } > "$AP/cached.conf"
{ sed -e "s|/run/astropixel-tiles/astropixel-tiles.sock|$SOCK|g" "$BENCH_ROOT/deploy/apache/astropixel-tiles-proxy.conf"
  echo "$STATIC"; } > "$AP/plain.conf"
APACHE_MODULES_EXTRA="LoadModule cache_module $MODULES/mod_cache.so
LoadModule cache_socache_module $MODULES/mod_cache_socache.so
LoadModule socache_shmcb_module $MODULES/mod_socache_shmcb.so" apache_conf cached "$AP/cached.conf"
apache_conf plain "$AP/plain.conf"
start_apache cached || { echo "apache (cache) did not start: $(tail -3 "$AP/logs/cached.error.log")"; exit 1; }
AC=http://127.0.0.1:$APORT AC_PID=$APID
start_apache plain || { echo "apache (plain) did not start"; exit 1; }
APL=http://127.0.0.1:$APORT APL_PID=$APID
trap 'stop_apache cached "$AC_PID"; stop_apache plain "$APL_PID"; cleanup' EXIT
for _ in 1 2 3; do curl -s -o /dev/null "$AC/api/tiles/1/v/$V/$TILE"; done
curl -s -o /dev/null -w '%header{x-cache}' "$AC/api/tiles/1/v/$V/$TILE" | grep -q '^HIT' || echo "  (Apache: the tile is not a cache hit)"
compare Apache "$AC/api/tiles/1/v/$V/$TILE" "$APL/static/tile.jpg" "$APL/api/tiles/1/v/$V/$TILE"
