#!/usr/bin/env bash
# Runs astropixel-tiles for real on a built-in sample: installs what is
# missing, builds, generates a synthetic star-field pyramid (about 2 700 JPEG
# tiles, their WebP variants and tile indexes, once) and serves it with
# lighttpd on http://127.0.0.1:${PORT:-8080}/ (the viewer) and /api/tiles/...
# (the API). Ctrl-C stops it.
#
# --redis: with the shared cache tier too, as recommended for a pool: a
# redis-server from deploy/redis/astropixel-tiles-redis.conf on a unix socket
# under _build/demo/redis (stopped with the demo), REDIS_URL pointing at it
# and REDIS_STORE_LOCAL=true (the sample is a local tree).
#
# --nginx: nginx with its cache in front instead of lighttpd, as recommended
# for a public site (deploy/nginx/astropixel-tiles-cache*.conf, the cache
# under _build/demo/nginx), with two responders on their own sockets
# (astropixel-tiles --bind); public tiles are then answered by nginx
# (X-Cache-Status: HIT). Both options may be given.
set -euo pipefail
WITH_REDIS="" WITH_NGINX="" STOP=""
for a in "$@"; do
	case "$a" in
	--redis) WITH_REDIS=1 ;;
	--nginx) WITH_NGINX=1 ;;
	*) echo "usage: $0 [--redis] [--nginx]" >&2; exit 2 ;;
	esac
done
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PORT=${PORT:-8080}
DEMO=$ROOT/_build/demo
JOBS=$(nproc 2>/dev/null || echo 2)
cd "$ROOT"

bash tests/scripts/install-deps.sh demo
[ -z "$WITH_REDIS" ] || bash tests/scripts/install-deps.sh demo-redis
[ -z "$WITH_NGINX" ] || bash tests/scripts/install-deps.sh demo-nginx
[ -x configure ] || autoreconf -fi >/dev/null 2>&1
mkdir -p "$DEMO/build" "$DEMO/www"
( cd "$DEMO/build" && { [ -f Makefile ] || ../../../configure -q CFLAGS="-O2 -g"; } &&
	make -s -j"$JOBS" astropixel-tiles astropixel-sync tests/sample/mksample tests/tools/mktoken ) >/dev/null

if [ ! -f "$DEMO/data/metadata/datasets/1.json" ]; then
	echo "generating the sample datasets (once) ..."
	"$DEMO/build/tests/sample/mksample" --out "$DEMO/data" --id 1 \
		--name "Synthetic deep field (public)"
	"$DEMO/build/tests/sample/mksample" --out "$DEMO/data" --id 2 --width 4096 --height 4096 \
		--seed 7 --private --owner 1 --name "Private observation (owner 1)"
fi
# WebP variants (served to browsers that take them) and the tile indexes, made
# once in the local tree; a build without libwebp makes only the indexes
if [ ! -f "$DEMO/data/metadata/datasets/1.index" ]; then
	echo "making WebP variants and tile indexes (once) ..."
	LOCAL_STORAGE_DIR="$DEMO/data" "$DEMO/build/astropixel-sync" --local --webp --quiet 2>/dev/null ||
		LOCAL_STORAGE_DIR="$DEMO/data" "$DEMO/build/astropixel-sync" --local --quiet
fi

# the viewer (static) next to the API
if [ -d deploy/viewer ]; then
	bash deploy/viewer/build.sh "$DEMO/www" "$DEMO/data/metadata/datasets" >/dev/null
else
	echo '<!doctype html><p>astropixel-tiles demo: try <a href="/api/tiles/1/0/0/0.jpg">/api/tiles/1/0/0/0.jpg</a></p>' > "$DEMO/www/index.html"
fi

cat > "$DEMO/app.env" <<ENV
LOCAL_STORAGE_DIR=$DEMO/data
SECRET_KEY=demo-secret-change-me
TILE_RUNTIME_DIR=$DEMO/run
ENV
if [ -n "$WITH_REDIS" ]; then
	mkdir -p "$DEMO/redis" && chmod 700 "$DEMO/redis"
	rm -f "$DEMO/redis/redis.sock"
	redis-server deploy/redis/astropixel-tiles-redis.conf --unixsocket "$DEMO/redis/redis.sock" \
		--unixsocketperm 700 --dir "$DEMO/redis" --maxmemory 256mb > "$DEMO/redis/redis.log" 2>&1 &
	RPID=$!
	STOP="$RPID"
	trap 'kill $STOP 2>/dev/null' EXIT
	for _ in $(seq 1 100); do [ -S "$DEMO/redis/redis.sock" ] && break; sleep 0.05; done
	printf 'REDIS_URL=unix://%s\nREDIS_STORE_LOCAL=true\n' "$DEMO/redis/redis.sock" >> "$DEMO/app.env"
fi
sed -e "s|/usr/local/sbin/astropixel-tiles|$DEMO/build/astropixel-tiles|" \
    -e "s|/run/lighttpd/astropixel-tiles.sock|$DEMO/fcgi.sock|" \
    -e "s|/usr/local/etc/astropixel-tiles/astropixel-tiles.env|$DEMO/app.env|" \
    deploy/lighttpd/astropixel-tiles.conf > "$DEMO/astropixel-tiles.conf"
cat > "$DEMO/lighttpd.conf" <<CONF
server.document-root = "$DEMO/www"
server.bind = "127.0.0.1"
server.port = $PORT
server.errorlog = "$DEMO/error.log"
server.breakagelog = "$DEMO/responders.log"
index-file.names = ( "index.html" )
mimetype.assign = ( ".html" => "text/html", ".js" => "text/javascript", ".css" => "text/css",
                    ".json" => "application/json", ".png" => "image/png", ".svg" => "image/svg+xml" )
include "$DEMO/astropixel-tiles.conf"
CONF

# nginx + its cache: the shipped files with this demo's paths
start_nginx_front() {
	local ng=$DEMO/nginx i
	rm -rf "$ng/cache"	# each start begins with an empty edge cache
	mkdir -p "$ng/tmp" "$ng/cache" "$DEMO/run" && chmod 700 "$ng" "$DEMO/run"
	cp /etc/nginx/fastcgi_params "$ng/"	# the snippet includes it beside nginx.conf
	{ echo "upstream astropixel_tiles {"
	  for i in 1 2; do echo "	server unix:$DEMO/run/fcgi-$i.sock;"; done
	  sed -n '/keepalive/p' deploy/nginx/astropixel-tiles-upstream.conf | grep -v '^ *#'
	  echo "}"; } > "$ng/upstream.conf"
	sed -e "s|/var/cache/nginx/astropixel-tiles|$ng/cache|" \
		deploy/nginx/astropixel-tiles-cache-http.conf > "$ng/cache-http.conf"
	for i in 1 2; do
		rm -f "$DEMO/run/fcgi-$i.sock"
		ENV_FILE=$DEMO/app.env "$DEMO/build/astropixel-tiles" --bind "$DEMO/run/fcgi-$i.sock" \
			>> "$DEMO/responders.log" 2>&1 &
		STOP="$STOP $!"
	done
	# a local demo: the workers run as whoever runs it (root included)
	cat > "$ng/nginx.conf" <<CONF
daemon off;
$([ "$(id -u)" = 0 ] && echo "user root root;")
pid $ng/nginx.pid;
error_log $DEMO/error.log;
events { worker_connections 1024; }
http {
	include /etc/nginx/mime.types;
	access_log off;
	client_body_temp_path $ng/tmp/body;
	fastcgi_temp_path $ng/tmp/fastcgi;
	proxy_temp_path $ng/tmp/proxy;
	uwsgi_temp_path $ng/tmp/uwsgi;
	scgi_temp_path $ng/tmp/scgi;
	include $ng/upstream.conf;
	include $ng/cache-http.conf;
	server {
		listen 127.0.0.1:$PORT;
		root $DEMO/www;
		index index.html;
		include $ROOT/deploy/nginx/astropixel-tiles-cache.conf;
	}
}
CONF
	for i in 1 2; do
		for _ in $(seq 1 100); do [ -S "$DEMO/run/fcgi-$i.sock" ] && break; sleep 0.05; done
	done
}
[ -z "$WITH_NGINX" ] || start_nginx_front

TOKEN=$("$DEMO/build/tests/tools/mktoken" demo-secret-change-me 1 86400)
B="http://127.0.0.1:$PORT"
cat <<MSG

astropixel-tiles is serving the sample on $B  (Ctrl-C stops)
logs: $DEMO/responders.log (astropixel-tiles), $DEMO/error.log (${WITH_NGINX:+nginx, its cache in $DEMO/nginx/cache}${WITH_NGINX:-lighttpd})${WITH_REDIS:+
shared tier: Redis on $DEMO/redis/redis.sock (health says "l2": "ok")}

  viewer          $B/            (dataset 2 is private: paste the token below
                                   into "Access token")
  a tile          $B/api/tiles/1/0/0/0.jpg
  a deeper tile   $B/api/tiles/1/12/10/5.jpg
  batch           $B/api/tiles/1/batch?tiles=12/10/5.jpg&tiles=12/11/5.jpg&tiles=13/20/10.jpg
  IIIF info.json  $B/iiif/3/1/info.json   (any IIIF viewer: Mirador, OpenSeadragon, ...)
  Deep Zoom       $B/api/tiles/1.dzi
  cache stats     $B/api/tiles/1/cache-stats
  health          $B/api/tiles/health
  private (401)   $B/api/tiles/2/0/0/0.jpg
  private, owner  $B/api/tiles/2/0/0/0.jpg?token=$TOKEN
  owner 1 token   $TOKEN

  try: curl -i $B/api/tiles/1/12/10/5.jpg   (twice: X-Tile-Source local, then memory-cache${WITH_NGINX:+;
       behind nginx: X-Cache-Status MISS, then HIT: nginx answered from its cache})

MSG
if [ -z "$WITH_REDIS$WITH_NGINX" ]; then
	exec lighttpd -D -f "$DEMO/lighttpd.conf"
fi
# Redis and the responders go when the web server does (the EXIT trap),
# Ctrl-C or SIGTERM
if [ -n "$WITH_NGINX" ]; then
	nginx -c "$DEMO/nginx/nginx.conf" -p "$DEMO/nginx/" &
else
	lighttpd -D -f "$DEMO/lighttpd.conf" &
fi
LPID=$!
trap 'kill $LPID $STOP 2>/dev/null' EXIT INT TERM
wait "$LPID"
