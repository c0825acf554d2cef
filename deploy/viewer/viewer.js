/*
 * astropixel-tiles viewer: OpenSeadragon on the tile API (SPEC §3).
 *
 *   descriptor   GET  {API}/{id}/info              geometry and the tile URL template at the
 *                                                  dataset's current version
 *   tiles        GET  {API}/{id}/v/{version}/{z}/{x}/{y}.jpg (the template)   level 0 = 1 px,
 *                                                  256-px tiles, no overlap; versioned URLs are
 *                                                  immutable, and a cache-clear changes them, so a
 *                                                  reload after a clear shows the new tiles through
 *                                                  every cache on the way
 *   statistics   GET  {API}/{id}/cache-stats       polled for the side panel
 *   comparison   HEAD the tiles of the view in the dataset's own format, once each (at
 *                most COMPARE_MAX a view), when they came as WebP: the saving shown
 *   prefetch     POST {API}/{id}/prefetch?z=&x0=&x1=&y0=&y1=   after each zoom/pan settles
 *
 * The list of datasets comes from datasets.json, written next to this file by
 * build.sh from the metadata directory; without it the user opens a dataset by
 * id and size (also ?dataset=ID&width=W&height=H). The geometry the server's
 * info gives wins; without info (an older server) the unversioned URLs are used.
 * Where the browser decodes WebP, info is asked with "Accept: image/webp" and
 * the server then gives a .webp template for datasets that have WebP variants
 * (tile URLs themselves never depend on Accept, so caches stay simple).
 * A token for private datasets is kept in sessionStorage and sent as
 * "Authorization: Bearer …" on tiles (OpenSeadragon ajaxHeaders), statistics
 * and prefetch requests; it never goes into a URL.
 */
(function () {
	'use strict';

	const API = (document.body.dataset.apiBase || '/api/tiles').replace(/\/+$/, '');
	const TOKEN_KEY = 'astropixel-tiles.token';
	const STATS_EVERY_MS = 1500;
	const PREFETCH_DEBOUNCE_MS = 300;
	const PREFETCH_MAX_SPAN = 64;	/* the server refuses wider viewports (SPEC §3.5) */
	const FORMATS = ['jpg', 'jpeg', 'png', 'webp'];
	const COMPARE_MAX = 120;	/* HEADs a settled view may cost for the saving figure */
	const COMPARE_PARALLEL = 4;
	const VIEW_BYTES_DEBOUNCE_MS = 250;
	/* a 1x1 lossless WebP: decodes where WebP is supported */
	const WEBP_PROBE = 'data:image/webp;base64,UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==';

	const $ = (id) => document.getElementById(id);
	const el = {
		pick: $('pick'), select: $('dataset'), tokenForm: $('token-form'), token: $('token'),
		tokenClear: $('token-clear'), tokenHelp: $('token-help'), viewer: $('viewer'),
		message: $('message'), messageTitle: $('message-title'), messageDetail: $('message-detail'),
		tileErrors: $('tile-errors'), statsSource: $('stats-source'), manual: $('manual'),
		manualForm: $('manual-form'), manualHelp: $('manual-help'),
		level: $('v-level'), loaded: $('v-loaded'), failed: $('v-failed'), prefetch: $('v-prefetch'),
		format: $('v-format'), viewBytes: $('v-bytes'), saving: $('v-saving'),
	};

	const state = {
		datasets: [],		/* from datasets.json */
		current: null,		/* the dataset shown (or being opened) */
		access: 'none',		/* none | checking | ok | denied */
		seq: 0,			/* bumps on every open: late answers of older ones are dropped */
		loaded: 0,
		failed: 0,
		lastFailure: '',
		prefetchKey: '',
		prefetchTimer: 0,
		statsBusy: false,
		statsTimer: 0,
		lastStats: null,
		tileBytes: new Map(),	/* "z/x/y" → body bytes of the tile as served */
		origBytes: new Map(),	/* "z/x/y" → bytes in the dataset's own format (HEAD) */
		comparing: new Set(),
		viewTimer: 0,
	};
	const webpSupported = new Promise((resolve) => {
		const img = new Image();
		img.onload = () => resolve(img.width === 1);
		img.onerror = () => resolve(false);
		img.src = WEBP_PROBE;
	});

	/* ---- token (sessionStorage: this tab only) --------------------------- */
	function getToken() {
		try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; }
	}
	function setToken(t) {
		try {
			if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
		} catch (e) { /* storage disabled: the token lives in the field only */ }
	}
	function authHeaders() {
		const t = getToken() || el.token.value.trim();
		return t ? { Authorization: 'Bearer ' + t } : {};
	}

	/* ---- geometry --------------------------------------------------------- */
	function maxZoomFor(w, h) {
		const m = Math.max(w, h);
		let z = 0;
		while (2 ** z < m) z++;
		return z;
	}
	function normalise(d) {
		const width = Number(d.width), height = Number(d.height);
		const out = {
			id: Number(d.id), width, height,
			name: d.name || ('Dataset ' + d.id),
			tile_size: Number(d.tile_size) || 256,
			min_zoom: Number.isInteger(d.min_zoom) ? d.min_zoom : 0,
			max_zoom: Number.isInteger(d.max_zoom) ? d.max_zoom : maxZoomFor(width, height),
			is_demo: d.is_demo !== false,
			format: FORMATS.includes(d.format) ? d.format : 'jpg',
		};
		return out;
	}
	function validDataset(d) {
		return Number.isInteger(d.id) && d.id >= 0 && Number.isInteger(d.width) && d.width > 0 &&
			Number.isInteger(d.height) && d.height > 0;
	}
	function tileUrl(d, z, x, y) {
		if (d.template)
			return d.template.replace('{z}', z).replace('{x}', x).replace('{y}', y);
		return `${API}/${d.id}/${z}/${x}/${y}.${d.format}`;
	}
	/* the tile range of the current view at the level being drawn, clamped to
	 * the grid and to the prefetch limit; null when the view misses the image */
	function viewportTiles(viewer, d) {
		const item = viewer.world.getItemAt(0);
		if (!item) return null;
		const r = item.viewportToImageRectangle(viewer.viewport.getBounds(true));
		const container = viewer.viewport.getContainerSize();
		if (!(r.width > 0) || !(r.height > 0) || !(container.x > 0)) return null;
		const density = OpenSeadragon.pixelDensityRatio || 1;
		const screenPerImagePx = (container.x * density) / r.width;
		let z = d.max_zoom + Math.ceil(Math.log2(screenPerImagePx) - 1e-9);
		z = Math.min(d.max_zoom, Math.max(d.min_zoom, z));
		const div = 2 ** (d.max_zoom - z), ts = d.tile_size;
		const cols = Math.ceil(Math.ceil(d.width / div) / ts);
		const rows = Math.ceil(Math.ceil(d.height / div) / ts);
		const left = Math.max(0, r.x), right = Math.min(d.width, r.x + r.width);
		const top = Math.max(0, r.y), bottom = Math.min(d.height, r.y + r.height);
		if (right <= left || bottom <= top) return null;
		const span = (a, b, n) => {
			let lo = Math.min(n - 1, Math.max(0, Math.floor(a / div / ts)));
			let hi = Math.min(n - 1, Math.max(lo, Math.ceil(b / div / ts) - 1));
			if (hi - lo >= PREFETCH_MAX_SPAN) {	/* keep the middle of the view */
				const mid = Math.floor((lo + hi) / 2);
				lo = Math.max(0, mid - PREFETCH_MAX_SPAN / 2 + 1);
				hi = lo + PREFETCH_MAX_SPAN - 1;
			}
			return [lo, hi];
		};
		const [x0, x1] = span(left, right, cols);
		const [y0, y1] = span(top, bottom, rows);
		return { z, x0, x1, y0, y1, cols, rows };
	}

	/* ---- formatting ------------------------------------------------------- */
	function bytes(n) {
		if (typeof n !== 'number' || !isFinite(n)) return '–';
		const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
		let i = 0;
		while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
		return (i === 0 ? String(n) : n.toFixed(n < 10 ? 1 : 0)) + ' ' + u[i];
	}
	function num(n) { return typeof n === 'number' ? n.toLocaleString('en-US') : '–'; }
	function setText(id, text) { const e = $(id); if (e) e.textContent = text; }
	async function detailOf(res) {
		try {
			const j = await res.json();
			return j && typeof j.detail === 'string' ? j.detail : '';
		} catch (e) { return ''; }
	}

	/* ---- messages over the viewer ---------------------------------------- */
	function showMessage(title, detail, kind) {
		el.messageTitle.textContent = title;
		el.messageDetail.textContent = detail || '';
		el.message.dataset.kind = kind || 'error';
		el.message.hidden = false;
	}
	function hideMessage() { el.message.hidden = true; }
	function showTileErrors() {
		if (!state.failed) { el.tileErrors.hidden = true; return; }
		el.tileErrors.textContent = `${state.failed} tile${state.failed === 1 ? '' : 's'} failed to load` +
			(state.lastFailure ? ` (last: ${state.lastFailure})` : '') + '.';
		el.tileErrors.hidden = false;
	}
	function resetCounters() {
		state.loaded = state.failed = 0;
		state.lastFailure = '';
		state.prefetchKey = '';
		el.loaded.textContent = '0';
		el.failed.textContent = '0';
		el.prefetch.textContent = '–';
		el.level.textContent = '–';
		state.tileBytes.clear();
		state.origBytes.clear();
		state.comparing.clear();
		el.format.textContent = el.viewBytes.textContent = el.saving.textContent = '–';
		showTileErrors();
	}
	function clearStats() {
		state.lastStats = null;
		for (const dd of document.querySelectorAll('#stats dd')) dd.textContent = '–';
		el.statsSource.textContent = 'waiting for the first answer…';
	}

	/* ---- access: what the API says about this dataset and token ---------- */
	function accessMessage(d, status, detail) {
		const hasToken = Object.keys(authHeaders()).length > 0;
		const what = `Dataset ${d.id} (“${d.name}”)`;
		switch (status) {
		case 401:
			return hasToken ?
				['Your token was refused: it is invalid or has expired',
					`${what} is private. Enter a valid token for it above.` + (detail ? ` Server: ${detail}` : '')] :
				['This dataset is private: enter a token',
					`${what} can only be viewed with its owner's access token. Paste the token in the “Access token” field above.`];
		case 403:
			return ['Your token does not grant access to this dataset',
				`${what} belongs to another user. Use a token of its owner.`];
		case 404:
			return ['Dataset not found', `The tile server knows no dataset ${d.id}.` + (detail ? ` (${detail})` : '')];
		case 503:
			return ['This dataset is not ready yet', detail || 'It is still being processed; try again later.'];
		default:
			return [`The tile server answered HTTP ${status}`, detail || 'Try again in a moment.'];
		}
	}
	function closeImage() {
		viewer.close();
		el.viewer.classList.add('no-image');	/* no empty navigator box */
	}
	function denyAccess(d, status, detail) {
		state.access = 'denied';
		closeImage();
		clearStats();
		const [title, text] = accessMessage(d, status, detail);
		showMessage(title, text, status === 401 || status === 403 ? 'auth' : 'error');
		el.statsSource.textContent = 'no access';
	}

	/* ---- statistics -------------------------------------------------------- */
	function renderStats(j) {
		const s = j && j.stats;
		if (!s) return;
		state.lastStats = j;
		if (s.enabled === false) {
			el.statsSource.textContent = 'The memory cache is disabled on the server.';
		} else {
			el.statsSource.textContent = `process ${s.pid} · ${new Date().toLocaleTimeString('en-GB')}`;
		}
		setText('s-hit_rate', s.hit_rate || '–');
		setText('s-hits', `${num(s.cache_hits)} / ${num(s.cache_misses)}`);
		setText('s-total_requests', num(s.total_requests));
		setText('s-cache_size', `${num(s.cache_size)} / ${num(s.cache_max)}`);
		setText('s-cache_bytes', `${bytes(s.cache_bytes)} / ${bytes(s.cache_max_bytes)}`);
		const ds = j.dataset || {};
		setText('s-dataset', `${num(ds.cached_tiles)} tiles, ${bytes(ds.cached_bytes)}`);
		setText('s-evictions', num(s.evictions));
		setText('s-prefetch_queue', num(s.prefetch_queue));
		setText('s-prefetched', num(s.prefetched));
		setText('s-prefetch_hits', num(s.prefetch_hits));
		setText('s-pid', String(s.pid ?? '–'));
	}
	async function refreshStats() {
		const d = state.current, seq = state.seq;
		if (!d || state.access !== 'ok' || state.statsBusy || document.hidden) return;
		state.statsBusy = true;
		try {
			const res = await fetch(`${API}/${d.id}/cache-stats`, { headers: authHeaders(), cache: 'no-store' });
			if (seq !== state.seq) return;
			if (res.ok) renderStats(await res.json());
			else if (res.status === 401 || res.status === 403) denyAccess(d, res.status, await detailOf(res));
			else el.statsSource.textContent = `statistics unavailable (HTTP ${res.status})`;
		} catch (e) {
			if (seq === state.seq) el.statsSource.textContent = 'statistics unavailable: the server cannot be reached';
		} finally {
			state.statsBusy = false;
		}
	}
	function startStats() {
		clearInterval(state.statsTimer);
		state.statsTimer = setInterval(refreshStats, STATS_EVERY_MS);
	}

	/* ---- prefetch ---------------------------------------------------------- */
	function schedulePrefetch() {
		clearTimeout(state.prefetchTimer);
		state.prefetchTimer = setTimeout(prefetchNow, PREFETCH_DEBOUNCE_MS);
	}
	async function prefetchNow() {
		const d = state.current, seq = state.seq;
		if (!d || state.access !== 'ok' || !viewer) return;
		const t = viewportTiles(viewer, d);
		if (!t) return;
		el.level.textContent = `${t.z} of ${d.min_zoom}–${d.max_zoom} (${t.cols}×${t.rows} tiles)`;
		const key = `${d.id}/${t.z}/${t.x0}-${t.x1}/${t.y0}-${t.y1}`;
		if (key === state.prefetchKey) return;
		state.prefetchKey = key;
		const range = `z ${t.z}, x ${t.x0}–${t.x1}, y ${t.y0}–${t.y1}`;
		const q = `z=${t.z}&x0=${t.x0}&x1=${t.x1}&y0=${t.y0}&y1=${t.y1}`;
		try {
			const res = await fetch(`${API}/${d.id}/prefetch?${q}`, { method: 'POST', headers: authHeaders() });
			if (seq !== state.seq) return;
			if (res.status === 202) {
				const j = await res.json();
				el.prefetch.textContent = `${range} → queued ${num(j.queued)} (queue ${num(j.queue)})`;
			} else {
				el.prefetch.textContent = `${range} → HTTP ${res.status} ${await detailOf(res)}`.trim();
			}
		} catch (e) {
			if (seq === state.seq) el.prefetch.textContent = `${range} → failed: the server cannot be reached`;
		}
		setTimeout(refreshStats, 500);	/* let the counters move */
	}

	/* ---- bytes of the view ------------------------------------------------------ */
	function extOf(url) { const m = /\.([a-z]+)(?:\?|$)/.exec(url || ''); return m ? m[1] : ''; }
	function scheduleViewBytes() {
		clearTimeout(state.viewTimer);
		state.viewTimer = setTimeout(updateViewBytes, VIEW_BYTES_DEBOUNCE_MS);
	}
	/* the tiles of the view at the level drawn, as "z/x/y" keys */
	function viewKeys(d) {
		const t = viewer && viewportTiles(viewer, d);
		if (!t) return [];
		const keys = [];
		for (let y = t.y0; y <= t.y1; y++)
			for (let x = t.x0; x <= t.x1; x++) keys.push(`${t.z}/${x}/${y}`);
		return keys;
	}
	function updateViewBytes() {
		const d = state.current;
		if (!d || state.access !== 'ok') return;
		let served = 0, orig = 0, n = 0, compared = 0;
		const missing = [];
		for (const k of viewKeys(d)) {
			const b = state.tileBytes.get(k);
			if (b === undefined) continue;
			n++;
			served += b;
			const o = state.origBytes.get(k);
			if (o !== undefined) { compared++; orig += o; } else missing.push(k);
		}
		el.viewBytes.textContent = n ? `${bytes(served)} (${num(n)} tile${n === 1 ? '' : 's'})` : '–';
		if (d.servedExt !== 'webp' || d.origExt === 'webp') {
			el.saving.textContent = d.servedExt ? `none: tiles come as ${d.servedExt.toUpperCase()}` : '–';
			return;
		}
		el.saving.textContent = compared && compared === n ?
			`${Math.round(100 * (1 - served / orig))} % (${bytes(orig)} as ${d.origExt.toUpperCase()})` :
			`measuring… (${num(compared)} of ${num(n)} tiles)`;
		compareTiles(d, missing.slice(0, COMPARE_MAX));
	}
	/* HEAD of the same tiles in the dataset's own format: Content-Length */
	async function compareTiles(d, keys) {
		const seq = state.seq;
		const todo = keys.filter((k) => !state.comparing.has(k));
		for (const k of todo) state.comparing.add(k);
		const one = async (k) => {
			const [z, x, y] = k.split('/');
			const url = tileUrl(d, z, x, y).replace(/\.webp(\?|$)/, `.${d.origExt}$1`);
			try {
				const res = await fetch(url, { method: 'HEAD', headers: authHeaders() });
				const len = Number(res.headers.get('Content-Length'));
				if (seq === state.seq && res.ok && Number.isFinite(len)) state.origBytes.set(k, len);
			} catch (e) { /* the figure stays "measuring" */ }
		};
		const queue = todo.slice();
		const workers = Array.from({ length: Math.min(COMPARE_PARALLEL, queue.length) }, async () => {
			while (queue.length) await one(queue.shift());
		});
		await Promise.all(workers);
		if (seq === state.seq && todo.length) updateViewBytes();
	}

	/* ---- the viewer ---------------------------------------------------------- */
	const viewer = OpenSeadragon({
		element: el.viewer,
		prefixUrl: 'vendor/openseadragon/images/',
		loadTilesWithAjax: true,	/* so the Authorization header can be sent */
		ajaxHeaders: {},
		showNavigator: true,
		navigatorPosition: 'BOTTOM_RIGHT',
		maxZoomPixelRatio: 2,
		visibilityRatio: 0.5,
		timeout: 30000,
		tileRetryMax: 1,
		tileRetryDelay: 1000,
	});

	viewer.addHandler('open', () => {
		el.viewer.classList.remove('no-image');
		state.prefetchKey = '';
		schedulePrefetch();
	});
	viewer.addHandler('open-failed', (e) => {
		showMessage('The image could not be opened', (e && e.message) || 'OpenSeadragon could not open the tile source.');
	});
	viewer.addHandler('animation-finish', () => {
		schedulePrefetch();
		scheduleViewBytes();
	});
	viewer.addHandler('tile-loaded', (e) => {
		state.loaded++;
		el.loaded.textContent = num(state.loaded);
		const body = e.tileRequest && e.tileRequest.response;
		if (e.tile && body && typeof body.byteLength === 'number' && e.tiledImage === viewer.world.getItemAt(0)) {
			state.tileBytes.set(`${e.tile.level}/${e.tile.x}/${e.tile.y}`, body.byteLength);
			scheduleViewBytes();
		}
	});
	viewer.addHandler('tile-load-failed', (e) => {
		if (e.maxReached === false) return;	/* it will be retried */
		if (!e.tiledImage || e.tiledImage !== viewer.world.getItemAt(0)) return;	/* a closed image */
		const d = state.current;
		const st = e.tileRequest && e.tileRequest.status;
		state.failed++;
		el.failed.textContent = num(state.failed);
		const t = e.tile;
		state.lastFailure = (st ? `HTTP ${st}` : (e.message || 'network error')) +
			(t ? ` for tile ${t.level}/${t.x}/${t.y}` : '');
		showTileErrors();
		if (d && (st === 401 || st === 403)) checkAccess(d);	/* e.g. the token expired */
	});

	async function checkAccess(d) {
		const seq = state.seq;
		let res;
		try {
			res = await fetch(`${API}/${d.id}/cache-stats`, { headers: authHeaders(), cache: 'no-store' });
		} catch (e) {
			if (seq !== state.seq) return false;
			state.access = 'denied';
			closeImage();
			showMessage('The tile server cannot be reached', `No answer from ${API}. Is the server running?`);
			return false;
		}
		if (seq !== state.seq) return false;
		if (!res.ok) {
			denyAccess(d, res.status, await detailOf(res));
			return false;
		}
		let j = null;
		try { j = await res.json(); } catch (e) { /* the panel stays empty */ }
		state.access = 'ok';
		if (j) renderStats(j);
		return true;
	}

	async function openDataset(d) {
		state.seq++;
		state.current = d;
		state.access = 'checking';
		resetCounters();
		clearStats();
		hideMessage();
		document.title = `${d.name} — astropixel-tiles`;
		const params = new URLSearchParams(location.search);
		params.set('dataset', String(d.id));
		if (d.manual) { params.set('width', d.width); params.set('height', d.height); } else { params.delete('width'); params.delete('height'); }
		history.replaceState(null, '', '?' + params.toString());
		if (state.datasets.some((x) => x.id === d.id)) el.select.value = String(d.id);

		if (!(await checkAccess(d))) return;
		const seq = state.seq;
		const info = await fetchInfo(d);
		if (seq !== state.seq) return;
		if (info) {
			Object.assign(d, { width: info.width, height: info.height, tile_size: info.tile_size,
				min_zoom: info.min_zoom, max_zoom: info.max_zoom });
			/* an absolute path on the API's origin (URL() would percent-encode the braces) */
			const t = info.tile_url_template;
			d.template = /^https?:\/\//.test(t) ? t : new URL(API + '/', location.href).origin + t;
			d.version = info.version;
			const own = Array.isArray(info.formats) ? info.formats.find((f) => f === 'jpg' || f === 'png') : null;
			d.origExt = own || (d.format === 'webp' ? 'jpg' : d.format);
		} else {
			d.template = null;
			d.origExt = d.format;
		}
		d.servedExt = extOf(d.template || tileUrl(d, 0, 0, 0));
		el.format.textContent = d.servedExt.toUpperCase() + (d.servedExt === 'webp' ? ' (variants made at upload)' : '');
		viewer.setAjaxHeaders(authHeaders(), true);
		viewer.open({
			width: d.width,
			height: d.height,
			tileSize: d.tile_size,
			tileOverlap: 0,
			minLevel: d.min_zoom,
			maxLevel: d.max_zoom,
			getTileUrl: (z, x, y) => tileUrl(d, z, x, y),
		});
	}

	/* the dataset's descriptor: revalidated on every open (ETag), so that a new
	 * version after a clear is seen at once; null if the server has none */
	async function fetchInfo(d) {
		try {
			const accept = (await webpSupported) ? 'application/json, image/webp' : 'application/json';
			const res = await fetch(`${API}/${d.id}/info`,
				{ headers: { ...authHeaders(), Accept: accept }, cache: 'no-cache' });
			if (!res.ok) return null;
			const j = await res.json();
			return j && typeof j.tile_url_template === 'string' && Number.isInteger(j.width) ? j : null;
		} catch (e) {
			return null;
		}
	}

	/* ---- controls -------------------------------------------------------------- */
	function reflectToken() {
		const t = getToken();
		el.token.value = t;
		el.tokenHelp.textContent = t ? 'token set (this tab only)' : 'kept in this tab only';
	}
	el.tokenForm.addEventListener('submit', (ev) => {
		ev.preventDefault();
		setToken(el.token.value.trim());
		reflectToken();
		if (state.current) openDataset(state.current);
	});
	el.tokenClear.addEventListener('click', () => {
		setToken('');
		reflectToken();
		if (state.current) openDataset(state.current);
	});
	el.select.addEventListener('change', () => {
		const d = state.datasets.find((x) => String(x.id) === el.select.value);
		if (d) openDataset(d);
	});
	el.manualForm.addEventListener('submit', (ev) => {
		ev.preventDefault();
		const f = new FormData(el.manualForm);
		const d = normalise({ id: Number(f.get('id')), width: Number(f.get('width')), height: Number(f.get('height')) });
		if (!validDataset(d)) {
			el.manualHelp.textContent = 'Enter a whole dataset id and a width and height of at least 1 px.';
			return;
		}
		d.manual = true;
		openDataset(d);
	});
	document.addEventListener('visibilitychange', () => { if (!document.hidden) refreshStats(); });

	async function loadDatasets() {
		try {
			const res = await fetch('datasets.json', { cache: 'no-cache' });
			if (!res.ok) return [];
			const j = await res.json();
			const list = Array.isArray(j) ? j : (j && j.datasets) || [];
			return list.map(normalise).filter(validDataset);
		} catch (e) {
			return [];
		}
	}

	async function start() {
		reflectToken();
		startStats();
		state.datasets = await loadDatasets();
		for (const d of state.datasets) {
			const o = document.createElement('option');
			o.value = String(d.id);
			const priv = !d.is_demo && !/private/i.test(d.name) ? ' (private)' : '';
			o.textContent = `${d.name}${priv} — ${d.width}×${d.height}`;
			o.title = `dataset ${d.id}, levels ${d.min_zoom}–${d.max_zoom}`;
			el.select.appendChild(o);
		}
		el.pick.hidden = state.datasets.length === 0;

		const params = new URLSearchParams(location.search);
		const wantId = params.has('dataset') ? Number(params.get('dataset')) : NaN;
		const w = Number(params.get('width')), h = Number(params.get('height'));
		let d = state.datasets.find((x) => x.id === wantId);
		if (!d && Number.isInteger(wantId) && w > 0 && h > 0) {
			d = normalise({ id: wantId, width: w, height: h });
			d.manual = true;
		}
		if (!d && !params.has('dataset')) d = state.datasets[0];
		if (d) {
			openDataset(d);
			return;
		}
		el.manual.open = true;
		if (Number.isInteger(wantId)) $('m-id').value = String(wantId);
		showMessage('Choose a dataset',
			params.has('dataset') ?
				`Dataset ${params.get('dataset')} is not in the list of this viewer: give its size under “Open a dataset by id”.` :
				'No dataset list (datasets.json) was found: open a dataset by id and size in the panel on the right.',
			'info');
	}

	/* for tests and debugging in the console */
	window.astropixelViewer = { viewer, state, viewportTiles: () => state.current && viewportTiles(viewer, state.current) };
	start();
})();
