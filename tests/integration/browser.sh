#!/usr/bin/env bash
# Browser test (issue 9): the viewer built by deploy/viewer/build.sh, served by
# a real lighttpd next to astropixel-tiles (2 processes, from
# deploy/lighttpd/astropixel-tiles.conf), driven in Debian's Chromium by npm
# playwright-core (tests/browser/viewer.test.mjs). Covers: the page loads
# without console errors, tiles arrive (200) and are painted, zooming POSTs a
# prefetch (202), revisiting shows memory-cache hits in the stats panel, a
# private dataset shows a clear message without a token (and another user's
# token) and its tiles with the owner's; tiles come at the versioned URLs of
# the info template, and after the owner's clear a reload shows the new tiles;
# a dataset with WebP variants (astropixel-sync --local --webp) is shown in
# WebP tiles, painted, with the view's bytes and the saving in the panel.
# Screenshot: _build/artifacts/viewer.png.
#
# Needs node + npm (the machine image) and chromium + lighttpd
# (tests/scripts/install-deps.sh); a missing one is a failure, not a skip.
source "$(dirname "$0")/lib.sh"
T0=$(date +%s)
ARTIFACTS=${ARTIFACTS:-$IT_ROOT/_build/artifacts}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
SECRET=browser-test-secret

missing=""
command -v node >/dev/null 2>&1 || missing="$missing node"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -x "$CHROMIUM" ] || missing="$missing chromium($CHROMIUM)"
command -v lighttpd >/dev/null 2>&1 || missing="$missing lighttpd"
[ -x "$BIN" ] || missing="$missing $BIN"
[ -x "$MKSAMPLE" ] || missing="$missing $MKSAMPLE"
[ -x "$MKTOKEN" ] || missing="$missing $MKTOKEN"
if [ -n "$missing" ]; then
	fail "browser test prerequisites" "missing:$missing (install with tests/scripts/install-deps.sh all; build with make)"
	finish
	exit 1
fi

# ---- a small sample: public 4096x2048 (13 levels), private 2048x2048 of user 7
DATA=$STATE/data
"$MKSAMPLE" --out "$DATA" --id 1 --width 4096 --height 2048 --owner 7 --quiet --name "Browser test field (public)" &&
	"$MKSAMPLE" --out "$STATE/new" --id 1 --width 4096 --height 2048 --seed 99 --owner 7 --quiet &&
	"$MKSAMPLE" --out "$DATA" --id 2 --width 2048 --height 2048 --seed 7 --private --owner 7 --quiet \
		--name "Browser test field (private, owner 7)" &&
	"$MKSAMPLE" --out "$DATA" --id 3 --width 2048 --height 1024 --seed 3 --quiet \
		--name "Browser test field (WebP variants)" ||
	{ fail "sample datasets" "mksample failed"; finish; exit 1; }
# dataset 3 gets WebP variants and its index in the local tree (dataset 1 none:
# a dataset without variants must behave as before)
if LOCAL_STORAGE_DIR=$DATA "$BUILD_DIR/astropixel-sync" --local --webp --quiet 3 2> "$STATE/sync.err"; then
	pass "astropixel-sync --local --webp makes dataset 3's variants ($(find "$DATA/tiles/3" -name '*.webp' | wc -l))"
else
	fail "astropixel-sync --local --webp makes dataset 3's variants" "$(tail -3 "$STATE/sync.err")"
fi

# ---- the viewer -----------------------------------------------------------------
if bash "$IT_ROOT/deploy/viewer/build.sh" "$STATE/www" "$DATA/metadata/datasets" 2> "$STATE/build.err"; then
	pass "deploy/viewer/build.sh builds the viewer"
else
	fail "deploy/viewer/build.sh builds the viewer" "$(tail -5 "$STATE/build.err")"
	finish
	exit 1
fi
expect "build.sh prints nothing on stderr" "$(cat "$STATE/build.err")" ""
cp -a "$STATE/www" "$STATE/www.first"
bash "$IT_ROOT/deploy/viewer/build.sh" "$STATE/www" "$DATA/metadata/datasets" > "$STATE/build2.out" 2>&1
check "build.sh is idempotent (same output twice)" diff -r "$STATE/www" "$STATE/www.first"
expect "build.sh is quiet" "$(cat "$STATE/build2.out")" ""
check "OpenSeadragon is vendored into the build output" test -s "$STATE/www/vendor/openseadragon/openseadragon.min.js"
check "datasets.json lists the three datasets" node -e "
	const j = require('$STATE/www/datasets.json');
	const ids = j.datasets.map((d) => d.id).join(',');
	if (ids !== '1,2,3' || j.datasets[0].max_zoom !== 12 || j.datasets[1].is_demo !== false) process.exit(1);"

# ---- lighttpd + astropixel-tiles (as tests/integration/lighttpd.sh does) ---------
cat > "$STATE/app.env" <<ENV
LOCAL_STORAGE_DIR=$DATA
SECRET_KEY=$SECRET
TILE_RUNTIME_DIR=$STATE/run
LOG_LEVEL=info
ENV
start_lighttpd() {	# the viewer as the document root, next to the API
	LIGHTTPD_EXTRA='index-file.names = ( "index.html" )
mimetype.assign = ( ".html" => "text/html", ".js" => "text/javascript", ".css" => "text/css",
                    ".json" => "application/json", ".png" => "image/png", ".svg" => "image/svg+xml" )' \
		lighttpd_from_deploy "$STATE/app.env" 2
	ORIGIN="http://127.0.0.1:$PORT"
}
start_lighttpd || { fail "lighttpd starts" "$(tail -5 "$STATE/error.log" 2>/dev/null)"; finish; exit 1; }
pass "lighttpd serves the viewer and spawns astropixel-tiles"

req GET "$ORIGIN/"
expect "the viewer page is served at /" "$STATUS/$(header Content-Type)" "200/text/html"
req GET "$ORIGIN/datasets.json"
expect "datasets.json is served as JSON" "$STATUS/$(header Content-Type)" "200/application/json"

# ---- the browser ---------------------------------------------------------------------
mkdir -p "$ARTIFACTS"
rm -f "$ARTIFACTS/viewer.png" "$ARTIFACTS/viewer-private.png"
export VIEWER_OWNER_TOKEN VIEWER_OTHER_TOKEN VIEWER_ARTIFACTS=$ARTIFACTS VIEWER_CHROMIUM=$CHROMIUM
# the clear-and-reload step copies other tiles of dataset 1 over the served ones
export VIEWER_DATA=$DATA VIEWER_NEW_TILES=$STATE/new/tiles/1
VIEWER_OWNER_TOKEN=$("$MKTOKEN" "$SECRET" 7 3600)
VIEWER_OTHER_TOKEN=$("$MKTOKEN" "$SECRET" 8 3600)
summary=""
while IFS= read -r line; do
	case "$line" in
	"ok - "*) pass "browser: ${line#ok - }" ;;
	"not ok - "*) rest=${line#not ok - }; fail "browser: ${rest%%: *}" "${rest#*: }" ;;
	*" passed, "*" failed") summary=$line ;;
	"node exited "*) node_rc=${line#node exited } ;;
	"#"*) echo "$line" ;;
	*) echo "# $line" ;;
	esac
done < <(timeout -k 5 150 node "$IT_ROOT/tests/browser/viewer.test.mjs" "$ORIGIN" 2> "$STATE/node.err"; echo "node exited $?")
if [ -z "$summary" ]; then
	fail "the browser test ran to its end" "node exited ${node_rc:-?}: $(tail -5 "$STATE/node.err" | tr '\n' ' ')"
elif [ "${node_rc:-1}" != 0 ] && ! printf '%s' "$summary" | grep -Eq ' [1-9][0-9]* failed'; then
	fail "the browser test exits 0 when all its checks pass" "node exited $node_rc"
fi
check "screenshot saved as $ARTIFACTS/viewer.png" test -s "$ARTIFACTS/viewer.png"

stop_pid "$LPID"
cat "$STATE"/error.log "$STATE"/backend.log "$STATE"/lighttpd.out > "$STATE/all.log" 2>/dev/null
check "no sanitizer report in the server logs" asan_clean "$STATE/all.log"
check "the tokens never reach the log" bash -c "! grep -qF -e '$VIEWER_OWNER_TOKEN' -e '$VIEWER_OTHER_TOKEN' '$STATE/all.log'"
echo "# took $(( $(date +%s) - T0 )) s"
finish
