// l2load.js URLS_FILE CLIENTS: requests every URL of the file (one per line,
// in order) with CLIENTS keep-alive connections per host, each taking the
// next URL; prints one JSON line: answers by X-Tile-Source, by status, and
// latency percentiles (ms). Used by bench_l2.sh.
const http = require("http");
const fs = require("fs");
const urls = fs.readFileSync(process.argv[2], "utf8").split("\n").filter(Boolean);
const clients = Number(process.argv[3] || 8);
const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
const sources = {}, statuses = {}, lat = [];
let next = 0;
function one() {
	if (next >= urls.length) return Promise.resolve();
	const u = urls[next++], t0 = process.hrtime.bigint();
	return new Promise((resolve) => {
		http.get(u, { agent }, (res) => {
			res.resume();
			res.on("end", () => {
				lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
				const s = res.headers["x-tile-source"] || "none";
				sources[s] = (sources[s] || 0) + 1;
				statuses[res.statusCode] = (statuses[res.statusCode] || 0) + 1;
				resolve();
			});
		}).on("error", () => { statuses.error = (statuses.error || 0) + 1; resolve(); });
	}).then(one);
}
Promise.all(Array.from({ length: clients }, one)).then(() => {
	lat.sort((a, b) => a - b);
	const p = (q) => lat.length ? lat[Math.min(lat.length - 1, Math.floor(q * lat.length))] : NaN;
	console.log(JSON.stringify({ n: urls.length, sources, statuses, p50: p(0.5), p99: p(0.99) }));
	agent.destroy();
});
