// OpenSeadragon reads a dataset through the standards alone (issue 20): its
// IIIF tile source given nothing but info.json, and its DZI tile source given
// nothing but the .dzi descriptor, in Debian's Chromium driven by npm
// playwright-core (deploy/viewer/node_modules, installed by build.sh).
//
//   node tests/browser/iiif.test.mjs ORIGIN DATA_DIR MAX_ZOOM
//
// ORIGIN serves ORIGIN/iiif.html (a bare OpenSeadragon page, ?src=URL) and
// the API; DATA_DIR is the local tree holding dataset 1 (MAX_ZOOM its
// max_zoom). For each source: the image opens and is painted, every tile
// the viewer loaded answered 200, and every tile of every level as
// OpenSeadragon computes its URL (tileSource.getTileUrl) answers exactly
// the bytes stored for that tile. Prints "ok - ..." / "not ok - ...: why",
// then "N passed, M failed"; exit 1 if any failed. Screenshots go to
// IIIF_ARTIFACTS (default _build/artifacts).
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const [ORIGIN, DATA, MAXZ] = [(process.argv[2] || '').replace(/\/+$/, ''), process.argv[3], Number(process.argv[4])];
const CHROMIUM = process.env.IIIF_CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = process.env.IIIF_ARTIFACTS || path.join(ROOT, '_build/artifacts');
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	'--disable-background-networking', '--disable-component-update', '--disable-sync'];

let passed = 0, failed = 0;
const ok = (d) => { passed++; console.log(`ok - ${d}`); };
const notOk = (d, why) => { failed++; console.log(`not ok - ${d}: ${String(why).replace(/\s+/g, ' ').slice(0, 400)}`); };
const check = (d, cond, why) => (cond ? ok(d) : notOk(d, why));
const summary = () => { console.log(`${passed} passed, ${failed} failed`); return failed ? 1 : 0; };

if (!ORIGIN || !DATA || !Number.isInteger(MAXZ)) {
	notOk('usage', 'node tests/browser/iiif.test.mjs ORIGIN DATA_DIR MAX_ZOOM');
	process.exit(summary());
}
let chromium;
try {
	chromium = createRequire(path.join(ROOT, 'deploy/viewer/package.json'))('playwright-core').chromium;
} catch (e) {
	notOk('playwright-core is installed', `cannot load it from deploy/viewer/node_modules (run deploy/viewer/build.sh): ${e.message}`);
	process.exit(summary());
}

// Opens src in the bare page; returns what the viewer did and every tile URL
// its tile source computes.
async function openSource(page, src, shot, token) {
	const responses = [];
	const onResponse = (r) => { if (/\/(iiif\/3|api\/tiles)\//.test(r.url())) responses.push({ url: r.url(), status: r.status(), cc: r.headers()['cache-control'] || '', type: r.headers()['content-type'] || '' }); };
	page.on('response', onResponse);
	await page.goto(`${ORIGIN}/iiif.html?src=${encodeURIComponent(src)}${token ? `&token=${encodeURIComponent(token)}` : ''}`, { waitUntil: 'load' });
	await page.waitForFunction(() => window.openFailed || (window.viewer && window.viewer.world.getItemAt(0) &&
		window.viewer.world.getItemAt(0).getFullyLoaded() && !window.viewer.world.needsDraw()), null, { timeout: 20000, polling: 100 });
	await new Promise((r) => setTimeout(r, 200));
	const r = await page.evaluate(() => {
		if (window.openFailed) return { openFailed: window.openFailed };
		const v = window.viewer, ts = v.world.getItemAt(0).source, all = [];
		for (let level = ts.minLevel; level <= ts.maxLevel; level++) {
			const n = ts.getNumTiles(level);
			for (let x = 0; x < n.x; x++) for (let y = 0; y < n.y; y++) all.push({ level, x, y, url: ts.getTileUrl(level, x, y) });
		}
		const c = v.drawer.canvas, ctx = c.getContext && c.getContext('2d');
		let painted = -1;
		if (ctx) {
			const px = ctx.getImageData(0, 0, c.width, c.height).data;
			painted = 0;
			for (let i = 3; i < px.length; i += 4) if (px[i]) painted++;
			painted /= c.width * c.height;
		}
		return { all, loaded: window.loaded, failedTiles: window.failed, maxLevel: ts.maxLevel, minLevel: ts.minLevel, painted, width: ts.width, height: ts.height };
	});
	page.off('response', onResponse);
	if (shot) await page.screenshot({ path: path.join(ARTIFACTS, shot) }).catch(() => {});
	r.responses = responses;
	return r;
}

// Every URL's bytes against the stored tile (z from the level).
async function compareAll(name, all, zOf, id = 1) {
	let same = 0;
	const bad = [];
	for (const t of all) {
		const z = zOf(t.level);
		const file = path.join(DATA, `tiles/${id}`, String(z), String(t.x), `${t.y}.jpg`);
		let want;
		try { want = fs.readFileSync(file); } catch { bad.push(`${t.url}: no stored ${z}/${t.x}/${t.y}`); continue; }
		const res = await fetch(t.url);
		const got = Buffer.from(await res.arrayBuffer());
		if (res.status === 200 && got.equals(want)) same++;
		else bad.push(`${t.url} -> ${res.status} ${got.length} bytes, want ${z}/${t.x}/${t.y} (${want.length} bytes)`);
	}
	check(`${name}: every tile of every level (${all.length}) at the URL the client computes is the stored tile`,
		bad.length === 0 && same === all.length && all.length > 0, bad.slice(0, 3).join('; ') || 'no tiles');
}

fs.mkdirSync(ARTIFACTS, { recursive: true });
const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ap-chromium-iiif-'));
let context;
try {
	context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 800, height: 600 }, timeout: 30000 });
} catch (e) {
	notOk('chromium starts', e.message);
	process.exit(summary());
}
try {
	const page = await context.newPage();
	const errors = [];
	page.on('pageerror', (e) => errors.push(e.message));
	page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });

	// ---- IIIF: info.json alone
	const iiif = await openSource(page, `${ORIGIN}/iiif/3/1/info.json`, 'iiif-openseadragon.png');
	if (iiif.openFailed) {
		notOk('IIIF: OpenSeadragon opens info.json', iiif.openFailed);
	} else {
		ok(`IIIF: OpenSeadragon opens info.json (${iiif.width}x${iiif.height}, levels ${iiif.minLevel}..${iiif.maxLevel})`);
		check('IIIF: the image is painted', iiif.painted > 0.2, `painted fraction ${iiif.painted}`);
		const tiles = iiif.responses.filter((r) => /\/default\.(jpg|png|webp)$/.test(r.url));
		check(`IIIF: the viewer loaded tiles (${tiles.length}), all 200, none failed`,
			tiles.length > 0 && tiles.every((t) => t.status === 200) && iiif.failedTiles.length === 0,
			JSON.stringify(tiles.filter((t) => t.status !== 200).slice(0, 3)) + JSON.stringify(iiif.failedTiles.slice(0, 3)));
		check('IIIF: its tile URLs carry the version, answered immutable (public dataset)',
			tiles.length > 0 && tiles.every((t) => /\/iiif\/3\/1\/v\/[0-9a-f]+\//.test(t.url) && /immutable/.test(t.cc)),
			JSON.stringify(tiles.slice(0, 2)));
		const loadedUrls = new Set(iiif.loaded.map((t) => t.url));
		const allUrls = new Set(iiif.all.map((t) => t.url));
		check('IIIF: every loaded tile is one of the grid\'s URLs', [...loadedUrls].every((u) => allUrls.has(u)),
			[...loadedUrls].filter((u) => !allUrls.has(u)).slice(0, 3).join(' '));
		await compareAll('IIIF', iiif.all, (level) => MAXZ - (iiif.maxLevel - level));
	}

	// ---- IIIF: a larger dataset with clipped edges at every level (IIIF_MORE=id:max_zoom)
	const [moreId, moreZ] = (process.env.IIIF_MORE || '').split(':').map(Number);
	if (moreId) {
		const more = await openSource(page, `${ORIGIN}/iiif/3/${moreId}/info.json`, null);
		if (more.openFailed) notOk(`IIIF: dataset ${moreId} opens`, more.openFailed);
		else await compareAll(`IIIF, dataset ${moreId} ${more.width}x${more.height}`, more.all, (level) => moreZ - (more.maxLevel - level), moreId);
	}

	// ---- DZI: the descriptor alone
	const dzi = await openSource(page, `${ORIGIN}/api/tiles/1.dzi`, 'dzi-openseadragon.png');
	if (dzi.openFailed) {
		notOk('DZI: OpenSeadragon opens the .dzi', dzi.openFailed);
	} else {
		ok(`DZI: OpenSeadragon opens the .dzi (${dzi.width}x${dzi.height}, levels ${dzi.minLevel}..${dzi.maxLevel})`);
		check('DZI: its levels are the dataset\'s', dzi.maxLevel === MAXZ, `maxLevel ${dzi.maxLevel}, max_zoom ${MAXZ}`);
		check('DZI: the image is painted', dzi.painted > 0.2, `painted fraction ${dzi.painted}`);
		const tiles = dzi.responses.filter((r) => /_files\//.test(r.url));
		check(`DZI: the viewer loaded tiles (${tiles.length}), all 200`, tiles.length > 0 && tiles.every((t) => t.status === 200) && dzi.failedTiles.length === 0,
			JSON.stringify(tiles.filter((t) => t.status !== 200).slice(0, 3)));
		await compareAll('DZI', dzi.all, (level) => level);
	}
	check('no page errors', errors.length === 0, errors.slice(0, 3).join(' | '));

	// ---- Leaflet-IIIF: info.json alone (it builds tile URLs from the info URL
	// and its own zoom levels, ignoring scaleFactors)
	if (process.env.IIIF_LEAFLET) {
		const responses = [];
		const onResponse = (r) => { if (/\/iiif\/3\//.test(r.url())) responses.push({ url: r.url(), status: r.status() }); };
		page.on('response', onResponse);
		await page.goto(`${ORIGIN}/leaflet.html?src=${encodeURIComponent(`${ORIGIN}/iiif/3/1/info.json`)}`, { waitUntil: 'load' });
		try {
			await page.waitForFunction(() => window.layer && window.layer._tierSizes && window.loaded.length > 0 && !window.layer._loading,
				null, { timeout: 20000, polling: 100 });
			const lf = await page.evaluate(() => {
				const all = [], l = window.layer, m = window.map;
				for (let z = 0; z <= l.maxNativeZoom; z++) {
					m.setZoom(z, { animate: false });
					const [nx, ny] = l._tierSizes[z];
					for (let x = 0; x < nx; x++) for (let y = 0; y < ny; y++) all.push({ level: z, x, y, url: l.getTileUrl({ x, y, z }) });
				}
				return { all, maxNativeZoom: l.maxNativeZoom, loaded: window.loaded, failed: window.failed };
			});
			page.off('response', onResponse);
			await page.screenshot({ path: path.join(ARTIFACTS, 'iiif-leaflet.png') }).catch(() => {});
			const tiles = responses.filter((r) => /\/default\.jpg$/.test(r.url));
			check(`Leaflet-IIIF: opens info.json, its tiles (${tiles.length}) all 200`,
				tiles.length > 0 && tiles.every((t) => t.status === 200) && lf.failed.length === 0,
				JSON.stringify(tiles.filter((t) => t.status !== 200).slice(0, 3)) + JSON.stringify(lf.failed.slice(0, 2)));
			await compareAll('Leaflet-IIIF', lf.all, (level) => MAXZ - (lf.maxNativeZoom - level));
		} catch (e) {
			page.off('response', onResponse);
			notOk('Leaflet-IIIF: opens info.json', e.message);
		}
	}

	// ---- a private dataset: the owner's token in OpenSeadragon's ajax headers
	const TOKEN = process.env.IIIF_OWNER_TOKEN || '';
	if (TOKEN) {
		const priv = await openSource(page, `${ORIGIN}/iiif/3/2/info.json`, 'iiif-private.png', TOKEN);
		if (priv.openFailed) {
			notOk('IIIF private: OpenSeadragon opens info.json with the owner\'s token (ajaxHeaders)', priv.openFailed);
		} else {
			const tiles = priv.responses.filter((r) => /\/default\.(jpg|png|webp)$/.test(r.url));
			check(`IIIF private: opened with the token in ajaxHeaders, tiles (${tiles.length}) all 200, private`,
				tiles.length > 0 && tiles.every((t) => t.status === 200 && /^private/.test(t.cc)) && priv.painted > 0.2,
				JSON.stringify(tiles.slice(0, 2)) + ` painted ${priv.painted}`);
		}
		// another URL: the browser's own (private) cache holds the owner's answer
		const none = await openSource(page, `${ORIGIN}/iiif/3/2/info.json?without-token`, null);
		check('IIIF private: without the token OpenSeadragon cannot open it', !!none.openFailed, 'it opened');
	}
} catch (e) {
	notOk('the browser test runs', e.stack || e.message);
} finally {
	await context.close().catch(() => {});
	fs.rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(summary());
