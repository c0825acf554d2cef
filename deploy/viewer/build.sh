#!/usr/bin/env bash
# Builds the static viewer into a web server's document root:
#
#   deploy/viewer/build.sh OUT_DIR [METADATA_DIR]
#
# - installs the pinned npm packages (package-lock.json) with `npm ci` when
#   deploy/viewer/node_modules is missing or older than the lock file;
# - copies index.html, viewer.js, viewer.css and the OpenSeadragon build
#   (vendor/openseadragon/: openseadragon.min.js, images/, LICENSE.txt) into
#   OUT_DIR — vendored into the build output, never into git;
# - writes OUT_DIR/datasets.json from METADATA_DIR/*.json (the storage's
#   metadata/datasets folder): id, name, width, height, tile_size, min_zoom,
#   max_zoom, is_demo, format of every completed dataset. Without
#   METADATA_DIR there is no datasets.json and the viewer asks for a dataset
#   id and size.
# Idempotent; prints nothing on success; fails with a message on stderr.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
die() { echo "viewer/build.sh: $*" >&2; exit 1; }

[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: build.sh OUT_DIR [METADATA_DIR]"
OUT=$1
META=${2:-}
[ -z "$META" ] || [ -d "$META" ] || die "metadata directory '$META' does not exist"
command -v node >/dev/null 2>&1 || die "node is not installed (Node.js 18 or later is needed to install OpenSeadragon)"
command -v npm >/dev/null 2>&1 || die "npm is not installed (it comes with Node.js)"

OSD=$HERE/node_modules/openseadragon/build/openseadragon
# one npm ci at a time (the demo and the tests may build at once)
LOCK=${TMPDIR:-/tmp}/astropixel-viewer-npm.lock
exec 9>"$LOCK" || die "cannot open the lock file $LOCK"
flock -w 600 9 || die "another build holds $LOCK for more than 10 minutes"
stale() {
	[ -f "$OSD/openseadragon.min.js" ] || return 0
	[ -f "$HERE/node_modules/.package-lock.json" ] || return 0
	[ -f "$HERE/node_modules/playwright-core/package.json" ] || return 0	# the browser test needs it
	[ "$HERE/package-lock.json" -nt "$HERE/node_modules/.package-lock.json" ] && return 0
	[ "$HERE/package.json" -nt "$HERE/node_modules/.package-lock.json" ] && return 0
	return 1
}
if stale; then
	log=$(mktemp "${TMPDIR:-/tmp}/viewer-npm.XXXXXX")
	if ! (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error) > "$log" 2>&1; then
		tail -20 "$log" >&2
		rm -f "$log"
		die "npm ci failed in $HERE (is the npm registry reachable?)"
	fi
	rm -f "$log"
	[ -f "$OSD/openseadragon.min.js" ] || die "npm ci left no $OSD/openseadragon.min.js (package layout changed?)"
	touch "$HERE/node_modules/.package-lock.json"
fi

mkdir -p "$OUT/vendor/openseadragon/images" || die "cannot create $OUT"
cp -f "$HERE/index.html" "$HERE/viewer.js" "$HERE/viewer.css" "$OUT/"
cp -f "$OSD/openseadragon.min.js" "$OUT/vendor/openseadragon/"
cp -f "$OSD"/images/*.png "$OUT/vendor/openseadragon/images/"
[ ! -f "$HERE/node_modules/openseadragon/LICENSE.txt" ] ||
	cp -f "$HERE/node_modules/openseadragon/LICENSE.txt" "$OUT/vendor/openseadragon/"
exec 9>&-

if [ -z "$META" ]; then
	rm -f "$OUT/datasets.json"
	exit 0
fi
# datasets.json, written atomically; a file that is not a dataset is skipped
# with a warning, so one bad file does not hide the others
node - "$META" "$OUT/datasets.json" <<'JS' || die "cannot write $OUT/datasets.json"
const fs = require('fs'), path = require('path');
const [dir, out] = process.argv.slice(2);
const isInt = (v) => Number.isInteger(v);
const list = [];
for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
	let m;
	try {
		m = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
	} catch (e) {
		console.error(`viewer/build.sh: skipping ${f}: ${e.message}`);
		continue;
	}
	if (!m || !isInt(m.id) || !isInt(m.width) || !isInt(m.height) || m.width < 1 || m.height < 1) {
		console.error(`viewer/build.sh: skipping ${f}: no integer id, width and height`);
		continue;
	}
	if (m.processing_status && m.processing_status !== 'completed') continue;
	const maxZoom = isInt(m.max_zoom) ? m.max_zoom : Math.ceil(Math.log2(Math.max(m.width, m.height)));
	list.push({
		id: m.id,
		name: typeof m.name === 'string' && m.name ? m.name : `Dataset ${m.id}`,
		width: m.width,
		height: m.height,
		tile_size: isInt(m.tile_size) ? m.tile_size : 256,
		min_zoom: isInt(m.min_zoom) ? m.min_zoom : 0,
		max_zoom: maxZoom,
		is_demo: m.is_demo !== false,
		format: typeof m.format === 'string' ? m.format : 'jpg',
	});
}
list.sort((a, b) => a.id - b.id);
const tmp = `${out}.tmp${process.pid}`;
fs.writeFileSync(tmp, JSON.stringify({ datasets: list }, null, 1) + '\n');
fs.renameSync(tmp, out);
JS
