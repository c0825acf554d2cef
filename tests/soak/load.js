#!/usr/bin/env node
// Steady load for tests/integration/chaos.sh: CONNS keep-alive connections
// for DURATION seconds asking for tiles of the given datasets, each answer
// checked (200 with the tile's bytes by SHA-256, else a failure), each
// recorded with its start and end time (ms since the epoch) and its
// X-Tile-Source, so the script can count what failed around each event.
//
//   node load.js DATA_DIR BASE_URL CONNS MAX_S STOP_FILE OUT.json DS...
// It stops when STOP_FILE exists, or after MAX_S seconds.
// OUT.json: [[t0, t1, status, ok, source], ...]
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');
const crypto = require('crypto');

const [data, baseUrl, conns, dur, stop, out, ...dss] = process.argv.slice(2);
const base = new URL(baseUrl);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(conns) });
const tiles = [];
for (const ds of dss) {
	const root = path.join(data, 'tiles', ds);
	for (const z of fs.readdirSync(root))
		for (const x of fs.readdirSync(path.join(root, z)))
			for (const f of fs.readdirSync(path.join(root, z, x)))
				tiles.push({ url: `${base.pathname.replace(/\/$/, '')}/${ds}/${z}/${x}/${f}`,
					sha: crypto.createHash('sha256').update(fs.readFileSync(path.join(root, z, x, f))).digest('hex') });
}
const rec = [];
function one(t) {
	return new Promise((resolve) => {
		const t0 = Date.now();
		const done = (status, ok, src) => { rec.push([t0, Date.now(), status, ok ? 1 : 0, src || '']); resolve(); };
		const r = http.request({ host: base.hostname, port: base.port, path: t.url, agent, timeout: 15000 }, (res) => {
			const h = crypto.createHash('sha256');
			res.on('data', (c) => h.update(c));
			res.on('end', () => done(res.statusCode, res.statusCode === 200 && res.complete && h.digest('hex') === t.sha,
				res.headers['x-tile-source']));
			res.on('error', () => done('reset', false));
		});
		r.on('timeout', () => r.destroy(new Error('timeout')));
		r.on('error', (e) => done(e.code || 'error', false));
		r.end();
	});
}
(async () => {
	const deadline = Date.now() + Number(dur) * 1000;
	let stopped = false;
	const poll = setInterval(() => { if (fs.existsSync(stop)) stopped = true; }, 100);
	const ws = [];
	for (let i = 0; i < Number(conns); i++)
		ws.push((async () => { while (!stopped && Date.now() < deadline) await one(tiles[Math.floor(Math.random() * tiles.length)]); })());
	await Promise.all(ws);
	clearInterval(poll);
	agent.destroy();
	fs.writeFileSync(out, JSON.stringify(rec));
})();
