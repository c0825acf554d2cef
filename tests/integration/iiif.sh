#!/usr/bin/env bash
# IIIF Image API 3.0 level 0 and DZI (issue 20), through a real lighttpd from
# deploy/lighttpd/astropixel-tiles.conf (2 responders, /api/tiles and
# /iiif/3): info.json field by field against the level-0 rules (ids absolute
# and versioned, tiles and scale factors, sizes that are answered, formats,
# JSON-LD on request, CORS, ETag/304, short cache, redirects, formats from
# a tile index with WebP variants), tiles under
# the base URI are the stored tiles with the versioned tiles' headers,
# private datasets need the token (and are answered private), bad IIIF
# parameters are 400 with a detail and the responders keep serving, the
# DZI descriptor and its _files tiles, a dataset whose levels are not DZI's
# has no descriptor; then in Chromium (tests/browser/iiif.test.mjs)
# OpenSeadragon shows dataset 1 from info.json alone and from the .dzi
# alone, Leaflet-IIIF (npm, tests/browser/leaflet) from info.json alone, a
# private dataset with the owner's token in OpenSeadragon's ajaxHeaders
# (and not without), and for each client every tile of every level at the
# URL the client computes is the stored tile (dataset 6, 2000x1100, too).
# Mirador is not driven: it is a React application without a prebuilt
# bundle on npm (some 40 dependencies and React/MUI peers to bundle first);
# it reads the same info.json as OpenSeadragon, which it embeds.
# The same info.json and a tile through nginx's deploy snippet (cached).
source "$(dirname "$0")/lib.sh"
T0=$(date +%s)
SECRET=iiif-test-secret
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
ARTIFACTS=${ARTIFACTS:-$IT_ROOT/_build/artifacts}

missing=""
for c in node npm lighttpd curl; do command -v $c >/dev/null 2>&1 || missing="$missing $c"; done
[ -x "$CHROMIUM" ] || missing="$missing chromium($CHROMIUM)"
[ -x "$BIN" ] || missing="$missing $BIN"
[ -x "$MKSAMPLE" ] || missing="$missing $MKSAMPLE"
[ -x "$MKTOKEN" ] || missing="$missing $MKTOKEN"
if [ -n "$missing" ]; then
	fail "iiif test prerequisites" "missing:$missing (tests/scripts/install-deps.sh all; make)"
	finish
	exit 1
fi

DATA=$STATE/data
make_fixture "$DATA"
# dataset 6: larger, clipped at the right and bottom of every level
"$MKSAMPLE" --out "$DATA" --id 6 --width 2000 --height 1100 --quiet
# dataset 7: JPEG with WebP variants and a tile index (tests/tools, as index.sh)
MKINDEX=$BUILD_DIR/tests/tools/mkindex
MKWEBP=$BUILD_DIR/tests/tools/mkwebp
WEBP=""
if [ -x "$MKINDEX" ] && [ -x "$MKWEBP" ]; then
	"$MKSAMPLE" --out "$DATA" --id 7 --width 600 --height 400 --seed 7 --quiet
	WEBP=1
	for f in $(find "$DATA/tiles/7" -type f -name '*.jpg'); do
		"$MKWEBP" --out "${f%.jpg}.webp" "$f" > /dev/null 2>&1 || WEBP=""
	done
	"$MKINDEX" --dir "$DATA" 7 > "$STATE/mkindex.out" 2>&1 || WEBP=""
fi
# dataset 5: levels that are not DZI's (max_zoom one above the image's)
"$MKSAMPLE" --out "$DATA" --id 5 --width 600 --height 400 --quiet
sed -i 's/"max_zoom": 10/"max_zoom": 11/' "$DATA/metadata/datasets/5.json"
cat > "$STATE/app.env" <<ENV
LOCAL_STORAGE_DIR=$DATA
SECRET_KEY=$SECRET
TILE_RUNTIME_DIR=$STATE/run
LOG_LEVEL=info
ENV
mkdir -p "$STATE/www"
LIGHTTPD_EXTRA='mimetype.assign = ( ".html" => "text/html", ".js" => "text/javascript", ".png" => "image/png" )' \
	lighttpd_from_deploy "$STATE/app.env" 2 || { fail "lighttpd starts" "$(tail -5 "$STATE/error.log" 2>/dev/null)"; finish; exit 1; }
ORIGIN=http://127.0.0.1:$PORT
I=$ORIGIN/iiif/3
pass "lighttpd serves /api/tiles and /iiif/3 from one pool of the deploy file"
PIDS_BEFORE=$(pgrep -d' ' -P "$LPID" | tr ' ' '\n' | sort | tr '\n' ' ')
OWNER=$("$MKTOKEN" "$SECRET" 7 3600)
OTHER=$("$MKTOKEN" "$SECRET" 8 3600)

# ---- info.json, field by field ------------------------------------------------
req GET "$BASE/1/info"
VERSION=$(json j.version)
req GET "$I/1/info.json"
expect "info.json: 200" "$STATUS" 200
expect "info.json: Content-Type application/json by default" "$(header Content-Type)" "application/json"
expect "info.json: @context is the 3.0 context" "$(json 'j["@context"]')" "http://iiif.io/api/image/3/context.json"
expect "info.json: id is the absolute base URI at the current version" "$(json j.id)" "$I/1/v/$VERSION"
expect "info.json: type ImageService3" "$(json j.type)" ImageService3
expect "info.json: protocol" "$(json j.protocol)" "http://iiif.io/api/image"
expect "info.json: profile level0" "$(json j.profile)" level0
expect "info.json: width, height" "$(json 'j.width + "x" + j.height')" 600x400
expect "info.json: one tiles entry, 256 px square" "$(json 'j.tiles.length + " " + j.tiles[0].width + " " + (j.tiles[0].height === undefined || j.tiles[0].height === 256)')" "1 256 true"
expect "info.json: scaleFactors 1, 2, 4 (to the single-tile level 150x100)" "$(json 'j.tiles[0].scaleFactors.join(",")')" "1,2,4"
expect "info.json: scale factors are powers of 2 from 1" "$(json 'j.tiles[0].scaleFactors.every((f, i) => f === 2 ** i)')" true
expect "info.json: preferredFormats jpg (a jpg dataset), no extraFormats" "$(json 'j.preferredFormats.join(",") + " " + (j.extraFormats === undefined)')" "jpg true"
expect "info.json: no size limits (level 0 never resizes: maxWidth/maxHeight/maxArea absent)" "$(json '[j.maxWidth, j.maxHeight, j.maxArea].every((v) => v === undefined)')" true
expect "info.json: the id has no trailing slash" "$(json '!j.id.endsWith("/")')" true
expect "info.json: sizes start at the single-tile level" "$(json 'j.sizes[0].width + "x" + j.sizes[0].height')" 150x100
ETAG=$(header ETag)
expect_match "info.json: a strong ETag" "$ETAG" '^"[0-9a-f]{32}"$'
expect "info.json: short public cache" "$(header Cache-Control)" "public, max-age=60"
expect "info.json: CORS" "$(header Access-Control-Allow-Origin)" "*"
expect "info.json: Vary Accept" "$(header Vary)" Accept
cp "$BODY" "$STATE/info1.json"
req GET "$I/1/info.json" -H "If-None-Match: $ETAG"
expect "info.json: If-None-Match -> 304 without body" "$STATUS/$(wc -c < "$BODY")" "304/0"
req GET "$I/1/info.json" -H 'Accept: application/ld+json;profile="http://iiif.io/api/image/3/context.json"'
expect "info.json: JSON-LD type when Accept asks for it" "$(header Content-Type)" 'application/ld+json;profile="http://iiif.io/api/image/3/context.json"'
check "info.json: the JSON-LD body is the same document" cmp -s "$BODY" "$STATE/info1.json"
req HEAD "$I/1/info.json"
expect "info.json: HEAD 200, no body" "$STATUS/$(wc -c < "$BODY")" "200/0"
req GET "$I/1/v/$VERSION/info.json"
expect "info.json at the current version: 200, same document" "$STATUS/$(cmp -s "$BODY" "$STATE/info1.json" && echo same)" "200/same"
req GET "$I/1/v/0bad0bad/info.json"
expect "info.json at another version: 307 to the current one" "$STATUS $(header Location)" "307 /iiif/3/1/v/$VERSION/info.json"
req GET "$I/1"
expect "the base URI: 303 to info.json" "$STATUS $(header Location)" "303 /iiif/3/1/info.json"
req GET "$I/1/info.json" -H "Host: tiles.example.org:8080"
expect "info.json: the id follows the Host header" "$(json j.id)" "http://tiles.example.org:8080/iiif/3/1/v/$VERSION"
req GET "$I/1/info.json" -H "Host: tiles.example.org"
expect "info.json: a Host without port gets the server's (not 80 here)" "$(json j.id)" "http://tiles.example.org:$PORT/iiif/3/1/v/$VERSION"
req GET "$I/1/info.json" -H 'Host: evil.example/x?'
expect "info.json: a Host that is not a host name is refused (400)" "$STATUS" 400
req OPTIONS "$I/1/info.json" -H "Origin: http://elsewhere.example" -H "Access-Control-Request-Method: GET"
expect "info.json: CORS preflight 204" "$STATUS" 204
req GET "$I/999/info.json"
expect "info.json of an unknown dataset: 404" "$STATUS" 404
req GET "$I/3/info.json"
expect "info.json of a dataset still processing: 503" "$STATUS" 503

# every listed size is answered, as a stored tile of that size
sizes_ok=0; sizes_n=0
while read -r w h; do
	sizes_n=$((sizes_n + 1))
	req GET "$I/1/v/$VERSION/full/$w,$h/0/default.jpg"
	z=""
	for cand in $(seq 0 10); do
		d=$((1 << (10 - cand)))
		[ $(( (600 + d - 1) / d )) = "$w" ] && [ $(( (400 + d - 1) / d )) = "$h" ] && { z=$cand; break; }
	done
	[ "$STATUS" = 200 ] && [ -n "$z" ] && cmp -s "$BODY" "$DATA/tiles/1/$z/0/0.jpg" && sizes_ok=$((sizes_ok + 1))
done < <(node -e "for (const s of require('$STATE/info1.json').sizes) console.log(s.width, s.height)")
expect "every size of info.json ($sizes_n) is answered with the stored single tile of that level" "$sizes_ok" "$sizes_n"

# formats from the tile index: WebP variants preferred, listed as extra
if [ -n "$WEBP" ]; then
	req GET "$I/7/info.json"
	expect "info.json with a tile index of JPEG + WebP: preferredFormats webp, jpg; extraFormats webp" \
		"$(json 'j.preferredFormats.join(",") + " " + j.extraFormats.join(",")')" "webp,jpg webp"
	req GET "$(json j.id)/512,256,88,144/88,144/0/default.webp"
	expect "...and default.webp is the stored WebP variant" "$STATUS $(header Content-Type)/$(cmp -s "$BODY" "$DATA/tiles/7/10/2/1.webp" && echo same)" "200 image/webp/same"
else
	echo "# WebP part skipped: tests/tools/mkindex or mkwebp not built (libwebp-dev, libpng-dev, libjpeg-dev)"
fi

# ---- tiles ---------------------------------------------------------------------------
req GET "$I/1/v/$VERSION/512,256,88,144/88,144/0/default.jpg"
expect "a clipped corner tile is the stored 10/2/1" "$STATUS/$(cmp -s "$BODY" "$DATA/tiles/1/10/2/1.jpg" && echo same)" "200/same"
expect "...with the versioned tiles' headers" "$(header Content-Type) | $(header Cache-Control) | $(header X-Tile-Source)" "image/jpeg | public, max-age=31536000, immutable | local"
TETAG=$(header ETag)
req GET "$BASE/1/v/$VERSION/10/2/1.jpg"
expect "...and the same ETag as /api/tiles/1/v/{version}/10/2/1.jpg" "$(header ETag)" "$TETAG"
req GET "$I/1/v/$VERSION/512,256,88,144/88,144/0/default.jpg" -H "If-None-Match: $TETAG"
expect "an IIIF tile revalidates: 304" "$STATUS" 304
req GET "$I/1/v/$VERSION/512,256,88,144/88,144/0/default.jpg"
expect "the second time from memory" "$(header X-Tile-Source)" memory-cache
req GET "$I/1/512,256,88,144/88,/0/default.jpg"
expect "without a version: the unversioned tiles' cache" "$STATUS $(header Cache-Control)" "200 public, max-age=60, stale-while-revalidate=600"
req GET "$I/1/v/0bad0bad/512,256,88,144/88,144/0/default.jpg"
expect "a tile under another version: 307 to the current one" "$STATUS $(header Location)" "307 /iiif/3/1/v/$VERSION/512,256,88,144/88,144/0/default.jpg"
req GET "$I/1/v/$VERSION/0,0,512,400/256,200/0/default.jpg"
expect "scale 2, tile 0,0 is the stored 9/0/0" "$STATUS/$(cmp -s "$BODY" "$DATA/tiles/1/9/0/0.jpg" && echo same)" "200/same"
req GET "$I/4/full/150,100/0/default.jpg"
expect "a public dataset's tile missing in jpg comes in the format stored (fallback)" "$STATUS" 200

# ---- private datasets ------------------------------------------------------------------
req GET "$I/2/info.json"
expect "private info.json without a token: 401" "$STATUS" 401
req GET "$I/2/info.json" -H "Authorization: Bearer $OTHER"
expect "private info.json, another user's token: 403" "$STATUS" 403
req GET "$I/2/info.json" -H "Authorization: Bearer $OWNER"
expect "private info.json with the owner's token: 200, private" "$STATUS $(header Cache-Control)" "200 private, max-age=60"
expect "a png dataset prefers png (and lists it as extra)" "$(json 'j.preferredFormats.join(",") + " " + j.extraFormats.join(",")')" "png png"
PV=$(json j.id | sed 's|.*/v/||')
req GET "$I/2/info.json?token=$OWNER"
expect "private info.json with ?token=: 200, private" "$STATUS $(header Cache-Control)" "200 private, max-age=60"
req GET "$I/2/v/$PV/0,0,256,256/256,256/0/default.png"
expect "private tile without a token: 401" "$STATUS" 401
req GET "$I/2/v/$PV/0,0,256,256/256,256/0/default.png?token=$OWNER"
expect "private tile with ?token=: the stored 10/0/0, private" "$STATUS/$(cmp -s "$BODY" "$DATA/tiles/2/10/0/0.png" && echo same) $(header Cache-Control)" "200/same private, max-age=3600"
req GET "$I/2/v/$PV/0,0,256,256/9,9/0/default.png"
expect "a bad request on a private dataset without token: 401 before any detail" "$STATUS" 401

# ---- bad parameters: 400 with a detail; the responders keep serving ---------------------
bad=0; n=0; nodetail=""
for p in full/max/90/default.jpg full/150,100/0/gray.jpg full/150,100/0/default.tif square/256,/0/default.jpg \
	pct:10,10,10,10/max/0/default.jpg full/pct:50/0/default.jpg 'full/^max/0/default.jpg' 'full/!150,100/0/default.jpg' \
	full/max/0/default.jpg full/300,200/0/default.jpg 1,0,256,256/256,/0/default.jpg 0,0,256,256/128,/0/default.jpg \
	0,0,0,0/max/0/default.jpg 9999,0,10,10/10,/0/default.jpg 0,0,99999999999999999999,1/1,/0/default.jpg \
	full/150,100/0/default full/,/0/default.jpg full/150,100/!0/default.jpg "0,0,256,256$(printf '%070d' 0)/256,/0/default.jpg"; do
	n=$((n + 1))
	req GET "$I/1/$p"
	d=$(json j.detail)
	if [ "$STATUS" = 400 ] && [ -n "$d" ] && [ "$d" != undefined ]; then bad=$((bad + 1)); else nodetail="$nodetail $p:$STATUS"; fi
done
expect "bad IIIF requests ($n kinds) are 400 with a detail" "$bad${nodetail:+ ($nodetail)}" "$n"
req GET "$I/1/full/max/90/default.jpg"
expect_match "...that says why" "$(json j.detail)" "rotation"
req GET "$I/1/full/150%2C100/0/default.jpg"
expect "an encoded comma is refused (400)" "$STATUS" 400
req GET "$I/1/v/$VERSION/full/150,100/0/default.jpg"
expect "after them: tiles still served" "$STATUS" 200
req GET "$BASE/health"
expect "after them: health 200" "$STATUS" 200
PIDS_AFTER=$(pgrep -d' ' -P "$LPID" | tr ' ' '\n' | sort | tr '\n' ' ')
expect "after them: the same responder processes" "$PIDS_AFTER" "$PIDS_BEFORE"

# ---- DZI ---------------------------------------------------------------------------------
req GET "$BASE/1.dzi"
expect "DZI: 200 application/xml" "$STATUS $(header Content-Type)" "200 application/xml"
expect_match "DZI: the descriptor" "$(body)" '<Image xmlns="http://schemas.microsoft.com/deepzoom/2008" Format="jpg" Overlap="0" TileSize="256"><Size Width="600" Height="400"/></Image>'
expect "DZI: short cache, ETag" "$(header Cache-Control) $(header ETag | grep -c '^"')" "public, max-age=60 1"
req GET "$BASE/1_files/10/2_1.jpg"
expect "DZI: {id}_files/{level}/{x}_{y}.jpg is the stored tile" "$STATUS/$(cmp -s "$BODY" "$DATA/tiles/1/10/2/1.jpg" && echo same)" "200/same"
req GET "$BASE/5.dzi"
expect "DZI: levels that are not DZI's: 404" "$STATUS" 404
expect_match "...saying why" "$(json j.detail)" "not DZI's"
req GET "$BASE/5_files/10/0_0.jpg"
expect "DZI: no _files tiles for it either" "$STATUS" 404
req GET "$BASE/2.dzi"
expect "DZI: private without token: 401" "$STATUS" 401
req GET "$BASE/2.dzi?token=$OWNER"
expect "DZI: private with the owner's token: 200, private" "$STATUS $(header Cache-Control)" "200 private, max-age=60"

# ---- OpenSeadragon in Chromium -------------------------------------------------------------
if bash "$IT_ROOT/deploy/viewer/build.sh" "$STATE/viewer" "$DATA/metadata/datasets" > "$STATE/build.out" 2>&1; then
	cp -a "$STATE/viewer/vendor" "$STATE/www/"
	cat > "$STATE/www/iiif.html" <<'HTML'
<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>IIIF / DZI in OpenSeadragon</title></head>
<body style="margin:0;background:#000"><div id="osd" style="width:800px;height:600px"></div>
<script src="vendor/openseadragon/openseadragon.min.js"></script>
<script>
window.loaded = []; window.failed = [];
const q = new URLSearchParams(location.search), src = q.get('src'), token = q.get('token');
const v = OpenSeadragon({ id: 'osd', prefixUrl: 'vendor/openseadragon/images/', tileSources: src,
	showNavigationControl: false, animationTime: 0, blendTime: 0, drawer: 'canvas',
	loadTilesWithAjax: !!token, ajaxHeaders: token ? { Authorization: 'Bearer ' + token } : {} });
v.addHandler('tile-loaded', (e) => window.loaded.push({ level: e.tile.level, x: e.tile.x, y: e.tile.y, url: e.tile.getUrl() }));
v.addHandler('tile-load-failed', (e) => window.failed.push({ url: e.tile.getUrl(), message: e.message }));
v.addHandler('open-failed', (e) => { window.openFailed = e.message || 'open failed'; });
window.viewer = v;
</script></body></html>
HTML
	pass "OpenSeadragon vendored next to a bare page given only a tile source URL"
	# Leaflet + Leaflet-IIIF (npm, pinned in tests/browser/leaflet/package-lock.json)
	LF=$IT_ROOT/tests/browser/leaflet
	if [ -f "$LF/node_modules/leaflet-iiif/leaflet-iiif.js" ] ||
		(cd "$LF" && timeout 120 npm ci --no-audit --no-fund --loglevel=error) > "$STATE/npm-leaflet.out" 2>&1; then
		mkdir -p "$STATE/www/vendor/leaflet"
		cp "$LF/node_modules/leaflet/dist/leaflet.js" "$LF/node_modules/leaflet/dist/leaflet.css" \
			"$LF/node_modules/leaflet-iiif/leaflet-iiif.js" "$STATE/www/vendor/leaflet/"
		cat > "$STATE/www/leaflet.html" <<'HTML'
<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>IIIF in Leaflet-IIIF</title>
<link rel="stylesheet" href="vendor/leaflet/leaflet.css"></head>
<body style="margin:0"><div id="map" style="width:800px;height:600px;background:#000"></div>
<script src="vendor/leaflet/leaflet.js"></script>
<script src="vendor/leaflet/leaflet-iiif.js"></script>
<script>
window.loaded = []; window.failed = [];
const src = new URLSearchParams(location.search).get('src');
const map = L.map('map', { center: [0, 0], crs: L.CRS.Simple, zoom: 0, zoomAnimation: false, fadeAnimation: false });
const layer = L.tileLayer.iiif(src).addTo(map);
layer.on('tileload', (e) => window.loaded.push({ z: e.coords.z, x: e.coords.x, y: e.coords.y, url: e.tile.src }));
layer.on('tileerror', (e) => window.failed.push({ url: e.tile.src }));
window.map = map; window.layer = layer;
</script></body></html>
HTML
		LEAFLET=1
	else
		echo "# Leaflet-IIIF part skipped: npm ci failed in tests/browser/leaflet ($(tail -1 "$STATE/npm-leaflet.out"))"
	fi
	summary=""
	while IFS= read -r line; do
		case "$line" in
		"ok - "*) pass "browser: ${line#ok - }" ;;
		"not ok - "*) rest=${line#not ok - }; fail "browser: ${rest%%: *}" "${rest#*: }" ;;
		*" passed, "*" failed") summary=$line ;;
		*) echo "# $line" ;;
		esac
	done < <(IIIF_MORE=6:11 IIIF_LEAFLET=${LEAFLET:-} IIIF_OWNER_TOKEN=$OWNER IIIF_CHROMIUM=$CHROMIUM IIIF_ARTIFACTS=$ARTIFACTS timeout -k 5 120 node "$IT_ROOT/tests/browser/iiif.test.mjs" "$ORIGIN" "$DATA" 10 2> "$STATE/node.err")
	[ -n "$summary" ] || fail "the browser part ran to its end" "$(tail -5 "$STATE/node.err" | tr '\n' ' ')"
else
	fail "deploy/viewer/build.sh vendors OpenSeadragon" "$(tail -5 "$STATE/build.out")"
fi

# ---- nginx's deploy snippet reaches /iiif/3 too --------------------------------------------
if command -v nginx >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
	NG=$STATE/nginx
	mkdir -p "$NG/tmp" "$NG/www" "$NG/cache"
	chown www-data:www-data "$NG/tmp" "$NG/cache"
	SOCK=$NG/fcgi.sock
	sed "s|unix:/run/astropixel-tiles/astropixel-tiles.sock|unix:$SOCK|" "$IT_ROOT/deploy/nginx/astropixel-tiles-upstream.conf" > "$NG/astropixel-tiles-upstream.conf"
	sed "s|/var/cache/nginx/astropixel-tiles|$NG/cache|" "$IT_ROOT/deploy/nginx/astropixel-tiles-cache-http.conf" > "$NG/cache-http.conf"
	cp "$IT_ROOT/deploy/nginx/astropixel-tiles-cache.conf" "$NG/cache-location.conf"
	cp /etc/nginx/fastcgi_params "$NG/fastcgi_params"
	chmod -R a+rX "$NG"
	NGINX_HTTP_EXTRA="include $NG/cache-http.conf;" nginx_conf cache "$NG/cache-location.conf"
	ENV_FILE=$STATE/app.env "$BIN" --bind "$SOCK" > "$NG/responder.log" 2>&1 &
	RPID_=$!
	track "$RPID_"
	for _ in $(seq 1 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
	chmod 666 "$SOCK" 2>/dev/null
	if start_nginx cache; then
		NB=http://127.0.0.1:$PORT_
		req GET "$NB/iiif/3/1/info.json"
		expect "nginx (cache snippet): info.json 200 with the nginx host in its id" "$STATUS $(json j.id)" "200 $NB/iiif/3/1/v/$VERSION"
		req GET "$NB/iiif/3/1/v/$VERSION/512,256,88,144/88,144/0/default.jpg"
		req GET "$NB/iiif/3/1/v/$VERSION/512,256,88,144/88,144/0/default.jpg"
		expect "nginx (cache snippet): an IIIF tile, the second time from nginx's cache" "$STATUS $(header X-Cache-Status)" "200 HIT"
		# a URL not asked before: the forged answer would be what the cache keeps
		req GET "$NB/iiif/3/1/v/$VERSION/info.json" -H "Host: forged.example"
		expect "nginx (cache snippet): a forged Host gets an id of that host" "$(json j.id)" "http://forged.example:$PORT_/iiif/3/1/v/$VERSION"
		req GET "$NB/iiif/3/1/v/$VERSION/info.json"
		expect "nginx (cache snippet): ...which never reaches others (the host is in the cache key)" "$(json j.id)" "$NB/iiif/3/1/v/$VERSION"
	else
		fail "nginx starts with the cache snippet" "$(tail -3 "$NG"/cache-error.log 2>/dev/null)"
	fi
else
	echo "# nginx part skipped: needs nginx and root (its workers run as www-data)"
fi

stop_pid "$LPID"
cat "$STATE"/error.log "$STATE"/backend.log "$STATE"/lighttpd.out "$STATE"/nginx/responder.log > "$STATE/all.log" 2>/dev/null
check "no sanitizer report in the server logs" asan_clean "$STATE/all.log"
check "tokens never reach the logs" bash -c "! grep -qF -e '$OWNER' -e '$OTHER' '$STATE/all.log'"
echo "# took $(( $(date +%s) - T0 )) s"
finish
