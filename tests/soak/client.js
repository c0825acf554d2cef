#!/usr/bin/env node
// The soak client (tests/soak/soak.sh): CONNS keep-alive connections for
// DURATION seconds, a mix of requests, every answer checked against the
// tile tree the origin serves. Prints one JSON summary on stdout.
//
//   node client.js CONFIG.json
//
// CONFIG: {base, data, duration_s, conns, tokens: {owner, other, expired,
// badsig}, pids: [..], sample_at_s, private_ds, public_ds: [..], clear_ds,
// missing: ["ds/z/x/y.ext"], report: FILE}
//
// An answer is expected when it is one the API documents for that request
// (docs/api.md): the right bytes of the right tile (by SHA-256, with a
// strong ETag stable for the tile), or a documented error status — for a
// tile that needs storage, 502/503/504 while the origin injects faults.
// Anything else (wrong bytes, another status, a partial body, a reset or a
// timeout on the client's side) is unexpected and is listed.
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');
const crypto = require('crypto');

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const base = new URL(cfg.base);
const agent = new http.Agent({ keepAlive: true, maxSockets: cfg.conns, maxFreeSockets: cfg.conns });
const STORAGE_ERR = [502, 503, 504];

// ---- the tree: every tile of the datasets the mix asks for
function tilesOf(ds) {
	const out = [];
	const root = path.join(cfg.data, 'tiles', String(ds));
	for (const z of fs.readdirSync(root))
		for (const x of fs.readdirSync(path.join(root, z)))
			for (const f of fs.readdirSync(path.join(root, z, x))) {
				const file = path.join(root, z, x, f);
				const b = fs.readFileSync(file);
				out.push({ ds, spec: `${z}/${x}/${f}`, size: b.length,
					sha: crypto.createHash('sha256').update(b).digest('hex'), b64: b.toString('base64') });
			}
	return out;
}
const tiles = {};
for (const ds of [...cfg.public_ds, cfg.private_ds]) tiles[ds] = tilesOf(ds);
const etags = new Map();	// "ds/spec" -> the first ETag seen

// ---- results
const st = { total: 0, unexpected: 0, clear_races: 0, by_kind: {}, statuses: {}, examples: [], lat: [], samples: {} };
function note(kind, status, ok, why, ms) {
	st.total++;
	st.lat.push(ms);
	const k = st.by_kind[kind] || (st.by_kind[kind] = { n: 0, unexpected: 0, statuses: {} });
	k.n++;
	k.statuses[status] = (k.statuses[status] || 0) + 1;
	st.statuses[status] = (st.statuses[status] || 0) + 1;
	if (!ok) {
		st.unexpected++;
		k.unexpected++;
		if (st.examples.length < 20) st.examples.push(`${kind}: ${why}`);
	}
}

function request(method, p, headers) {
	return new Promise((resolve) => {
		const t0 = process.hrtime.bigint();
		const r = http.request({ host: base.hostname, port: base.port, method, path: p, headers, agent,
			timeout: 15000 }, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
				body: Buffer.concat(chunks), complete: res.complete,
				ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
			res.on('error', (e) => resolve({ status: 'error', err: e.message, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
		});
		r.on('timeout', () => r.destroy(new Error('client timeout 15 s')));
		r.on('error', (e) => resolve({ status: 'error', err: e.message, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
		r.end();
	});
}

const pick = (a) => a[Math.floor(Math.random() * a.length)];
const api = base.pathname.replace(/\/$/, '');
const isJsonErr = (r) => /^application\/json/.test(r.headers['content-type'] || '') && /"detail"/.test(r.body.toString());

// A 200 with the tile's bytes, type and a stable strong ETag; or why not.
function tileBody(t, r, head) {
	const want = t.spec.endsWith('.png') ? 'image/png' : 'image/jpeg';
	if ((r.headers['content-type'] || '') !== want) return `content-type ${r.headers['content-type']}`;
	if (Number(r.headers['content-length']) !== t.size) return `content-length ${r.headers['content-length']} != ${t.size}`;
	if (!head && crypto.createHash('sha256').update(r.body).digest('hex') !== t.sha)
		return `wrong bytes (${r.body.length} of ${t.size})`;
	if (head && r.body.length) return 'HEAD with a body';
	const e = r.headers.etag, key = `${t.ds}/${t.spec}`;
	if (!/^"[^"]+"$/.test(e || '')) return `ETag ${e}`;
	if (!etags.has(key)) etags.set(key, e);
	else if (etags.get(key) !== e) return `ETag ${e} changed (was ${etags.get(key)})`;
	return null;
}

// ---- the mix: [weight, kind, fn] ; fn returns [status, ok, why]
const auth = (tok) => ({ Authorization: `Bearer ${tok}` });
const kinds = [
	[34, 'tile', async () => {
		const t = pick(tiles[pick(cfg.public_ds)]);
		const r = await request('GET', `${api}/${t.ds}/${t.spec}`);
		if (r.status === 200) { const w = tileBody(t, r, false); return [r, !w, w]; }
		return [r, STORAGE_ERR.includes(r.status) && isJsonErr(r), 'status'];
	}],
	[8, 'head', async () => {
		const t = pick(tiles[pick(cfg.public_ds)]);
		const r = await request('HEAD', `${api}/${t.ds}/${t.spec}`);
		if (r.status === 200) { const w = tileBody(t, r, true); return [r, !w, w]; }
		return [r, STORAGE_ERR.includes(r.status) && r.body.length === 0, 'status'];
	}],
	[10, 'conditional', async () => {
		const t = pick(tiles[pick(cfg.public_ds)]), e = etags.get(`${t.ds}/${t.spec}`);
		const r = await request('GET', `${api}/${t.ds}/${t.spec}`, e ? { 'If-None-Match': e } : {});
		if (r.status === 304) return [r, !!e && r.body.length === 0 && r.headers.etag === e, 'a 304 without our ETag'];
		if (r.status === 200) { const w = tileBody(t, r, false); return [r, !w, w]; }
		return [r, STORAGE_ERR.includes(r.status), 'status'];
	}],
	[8, 'batch', async () => {
		const ds = pick(cfg.public_ds), want = [];
		for (let i = 0; i < 6; i++) want.push(pick(tiles[ds]));
		const q = want.map((t) => 'tiles=' + encodeURIComponent(t.spec)).join('&') + '&tiles=9/999/999.jpg';
		const r = await request('GET', `${api}/${ds}/batch?${q}`);
		if (r.status !== 200) return [r, false, 'status'];
		let j;
		try { j = JSON.parse(r.body.toString()); } catch (e) { return [r, false, 'not JSON']; }
		if (j.tiles['9/999/999.jpg'] !== null) return [r, false, 'a tile outside the grid is not null'];
		for (const t of want) {
			const v = j.tiles[t.spec];
			if (v === null) { if (!j.missing.includes(t.spec)) return [r, false, `${t.spec} null, not missing`]; continue; }
			if (v !== t.b64) return [r, false, `${t.spec}: wrong bytes`];
		}
		return [r, true, null];
	}],
	[3, 'prefetch', async () => {
		const ds = pick(cfg.public_ds), t = pick(tiles[ds]), [z, x, y] = t.spec.split(/[/.]/).map(Number);
		const r = await request('POST', `${api}/${ds}/prefetch?z=${z}&x0=${x}&x1=${x + 1}&y0=${y}&y1=${y + 1}`,
			{ 'Content-Length': 0 });
		return [r, r.status === 202 || (r.status === 400 && isJsonErr(r)), 'status'];	// 400: x1 past the grid
	}],
	[6, 'private-owner', async () => {
		const t = pick(tiles[cfg.private_ds]);
		const r = await request('GET', `${api}/${t.ds}/${t.spec}`, auth(cfg.tokens.owner));
		if (r.status === 200) { const w = tileBody(t, r, false); return [r, !w, w]; }
		return [r, STORAGE_ERR.includes(r.status), 'status'];
	}],
	[2, 'private-anonymous', async () => {
		const r = await request('GET', `${api}/${cfg.private_ds}/${pick(tiles[cfg.private_ds]).spec}`);
		return [r, r.status === 401 && r.headers['www-authenticate'] === 'Bearer', 'status'];
	}],
	[3, 'private-expired', async () => {
		const r = await request('GET', `${api}/${cfg.private_ds}/${pick(tiles[cfg.private_ds]).spec}`, auth(cfg.tokens.expired));
		return [r, r.status === 401, 'status'];
	}],
	[3, 'private-badsig', async () => {
		const r = await request('GET', `${api}/${cfg.private_ds}/${pick(tiles[cfg.private_ds]).spec}?token=${cfg.tokens.badsig}`);
		return [r, r.status === 401, 'status'];
	}],
	[2, 'private-other', async () => {
		const r = await request('GET', `${api}/${cfg.private_ds}/${pick(tiles[cfg.private_ds]).spec}`, auth(cfg.tokens.other));
		return [r, r.status === 403, 'status'];
	}],
	[4, 'missing', async () => {
		const m = pick(cfg.missing);
		const r = await request('GET', `${api}/${m}`);
		return [r, (r.status === 404 || STORAGE_ERR.includes(r.status)) && isJsonErr(r), 'status'];
	}],
	[8, 'bad-input', async () => {
		// 'web': the web server may answer itself (it normalises the path: then
		// its own 404 outside /api/tiles), so the body need not be JSON
		const [p, want, method, web] = pick([
			['/1/10/0/abc.jpg', 400], ['/1/10/0/0.gif', 400], ['/1/010/0/0.jpg', 400], ['/1/31/0/0.jpg', 400],
			['/1/-1/0/0.jpg', 400], ['/1/10/9999/0.jpg', 404], ['/1/25/0/0.jpg', 404], ['/999/0/0/0.jpg', 404],
			['/1/%2e%2e/%2e%2e/etc/passwd', [400, 404], null, 'web'], ['/1/batch?tiles=10/x/1.jpg', 400], ['/1/batch', 400],
			['/1/prefetch?z=1&x0=5&x1=1', 400, 'POST'], ['/nothing-here', 404], ['/1/10/0/0.jpg', 405, 'PUT'],
			['/1/cache-clear', 405, 'GET'], ['/3/0/0/0.jpg', 503]]);
		const r = await request(method || 'GET', api + p, method ? { 'Content-Length': 0 } : {});
		return [r, [].concat(want).includes(r.status) && (web || isJsonErr(r)), `${method || 'GET'} ${p}: status ${r.status}, want ${want}`];
	}],
	[1, 'cache-clear', async () => {
		const r = await request('POST', `${api}/${cfg.clear_ds}/cache-clear`, { ...auth(cfg.tokens.owner), 'Content-Length': 0 });
		let j = {};
		try { j = JSON.parse(r.body.toString()); } catch (e) { /* checked below */ }
		return [r, r.status === 200 && j.cleared === true, 'status'];
	}],
	[1, 'cache-clear-anonymous', async () => {
		const r = await request('POST', `${api}/${cfg.clear_ds}/cache-clear`, { 'Content-Length': 0 });
		return [r, r.status === 401, 'status'];
	}],
];
const wsum = kinds.reduce((s, k) => s + k[0], 0);
function pickKind() {
	let r = Math.random() * wsum;
	for (const k of kinds) { if ((r -= k[0]) < 0) return k; }
	return kinds[0];
}

// ---- responders' RSS and fds: sockets (the web server's connections and
// the origin's, whose numbers follow the load) apart from the rest (files,
// the epoll set, timers, shared memory), which must stay flat
function sample() {
	const out = {};
	for (const pid of cfg.pids) {
		try {
			const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
			const m = { rss_kb: Number((s.match(/VmRSS:\s+(\d+)/) || [])[1]), fds: 0, sockets: 0, other: 0 };
			for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
				let l = '';
				try { l = fs.readlinkSync(`/proc/${pid}/fd/${fd}`); } catch (e) { continue; }
				m.fds++;
				if (l.startsWith('socket:')) m.sockets++; else m.other++;
			}
			out[pid] = m;
		} catch (e) { out[pid] = { gone: true }; }
	}
	return out;
}

// The catalogue reads a dataset's metadata again when a clear of it comes
// during the read, CATALOG_REREADS_MAX (3) times, then answers 502 (catalog.c,
// test_catalog.c: by design). The mix clears dataset clear_ds about ten
// times a second, so a request on it can meet that: expected, but counted
// and printed, never taken for anything else.
function clearRace(r) {
	return r.status === 502 && r.body &&
		r.body.toString().includes(`"dataset ${cfg.clear_ds}: metadata could not be read from storage"`);
}

async function worker(deadline) {
	while (Date.now() < deadline) {
		const [, kind, fn] = pickKind();
		let r, ok, why;
		try { [r, ok, why] = await fn(); } catch (e) { r = { status: 'exception', ms: 0 }; ok = false; why = e.stack; }
		if (r.status === 'error') { ok = false; why = r.err; }
		else if (!ok && clearRace(r)) { ok = true; st.clear_races++; }
		else if (r.complete === false) { ok = false; why = 'partial body'; }
		note(kind, r.status, ok, ok ? null : `${why} (status ${r.status}, server ${r.headers && r.headers.server}, ` +
			`body ${r.body ? JSON.stringify(r.body.toString().slice(0, 120)) : '-'})`, r.ms);
	}
}

// Warm-up (not timed, but checked): every tile once, CONNS at a time, then
// the mix for warmup_s seconds, so that the run measures a process in its
// steady state, not its first fill (a leak grows with the requests: a
// warm-up cannot hide it).
async function warmup() {
	const all = [];
	for (const ds of [...cfg.public_ds, cfg.private_ds]) for (const t of tiles[ds]) all.push(t);
	const next = async () => {
		for (let t; (t = all.pop());) {
			const r = await request('GET', `${api}/${t.ds}/${t.spec}`, t.ds === cfg.private_ds ? auth(cfg.tokens.owner) : {});
			const w = r.status === 200 ? tileBody(t, r, false) : STORAGE_ERR.includes(r.status) ? null : 'status';
			note('warmup', r.status, !w, `${t.ds}/${t.spec}: ${w}`, r.ms);
		}
	};
	const ws = [];
	for (let i = 0; i < cfg.conns; i++) ws.push(next());
	await Promise.all(ws);
	// then the whole mix for warmup_s: every code path has made its buffers
	const mix = [], until = Date.now() + (cfg.warmup_s || 0) * 1000;
	for (let i = 0; i < cfg.conns; i++) mix.push(worker(until));
	await Promise.all(mix);
	st.warmup_requests = st.total;
	st.lat = [];
}

(async () => {
	await warmup();
	const t0 = Date.now(), deadline = t0 + cfg.duration_s * 1000;
	// each point is the median of 5 readings 200 ms apart, both under load
	// (the end one over the run's last second): single readings move by the
	// buffers of the 64 requests in flight at that instant
	const point = (name, at) => setTimeout(() => {
		const rs = [];
		const one = () => {
			rs.push(sample());
			if (rs.length < 5) return setTimeout(one, 200);
			const m = {};
			for (const pid of cfg.pids) {
				if (rs.some((r) => r[pid].gone)) { m[pid] = { gone: true }; continue; }
				const med = (k) => rs.map((r) => r[pid][k]).sort((a, b) => a - b)[2];
				m[pid] = { rss_kb: med('rss_kb'), fds: med('fds'), sockets: med('sockets'), other: med('other') };
			}
			st.samples[name] = m;
			st.samples[name + '_at_s'] = (Date.now() - t0) / 1000;
		};
		one();
	}, at * 1000);
	point('early', cfg.sample_at_s);
	point('end', cfg.duration_s - 1);
	// the curve too, every tenth of the run (printed, not judged)
	st.samples.series = [];
	const tick = setInterval(() => st.samples.series.push([(Date.now() - t0) / 1000, sample()]),
		cfg.duration_s * 100);
	const ws = [];
	for (let i = 0; i < cfg.conns; i++) ws.push(worker(deadline));
	await Promise.all(ws);
	clearInterval(tick);
	for (let i = 0; i < 20 && !st.samples.end; i++) await new Promise((r) => setTimeout(r, 100));
	const gone = sample();	// a responder that died in the last second
	for (const pid of cfg.pids) if (gone[pid].gone) st.samples.end[pid] = { gone: true };
	agent.destroy();
	st.lat.sort((a, b) => a - b);
	const q = (p) => st.lat.length ? st.lat[Math.min(st.lat.length - 1, Math.floor(p * st.lat.length))] : 0;
	st.p50_ms = Number(q(0.5).toFixed(2));
	st.p99_ms = Number(q(0.99).toFixed(2));
	st.max_ms = Number((st.lat[st.lat.length - 1] || 0).toFixed(2));
	st.rps = Math.round(st.total / ((Date.now() - t0) / 1000));
	delete st.lat;
	const s = JSON.stringify(st);
	if (cfg.report) fs.writeFileSync(cfg.report, s + '\n');
	console.log(s);
})();
