#!/usr/bin/env bash
# Soak (issue 18): CONNS (64) keep-alive connections for DURATION seconds
# through lighttpd with 2 responders and, separately, through nginx in front
# of a spawn-fcgi pool of 2, against an origin that injects faults at set
# rates (tests/fault/faultd in rate mode: resets, stalls, 5xx, truncated
# bodies, oversize objects). The mix (tests/soak/client.js): cache hits and
# misses, HEAD, If-None-Match, batches, prefetch, private tiles with good,
# expired, badly signed and foreign tokens, bad inputs, missing tiles and
# cache-clears. Checks, per web server:
#   - every answer is expected (right bytes by SHA-256, or the documented
#     status): 0 unexpected
#   - RSS of every responder grows < 5 % from 20 % of the run (at most
#     20 s) to its end; its fds other than sockets by at most SOAK_FD_SLACK
#     (2), its sockets stay within what the load can hold
#   - no responder died, nothing in the web server's error log about dropped
#     connections, no sanitizer report
# and prints p50/p99 and requests/s. Before the measured run, a warm-up
# (checked, not timed): every tile once, then WARMUP (5) s of the mix.
#
#   tests/soak/soak.sh [--duration S] [--conns N] [lighttpd|nginx ...]
#
# CI runs it through tests/integration/soak.sh (15 s per server). By hand:
#   tests/soak/soak.sh --duration 60
# It uses the optimised build (_build/plain, made by tests/run.sh) when it
# exists, so that RSS is the product's and not ASan's quarantine; else
# BUILD_DIR (_build/san).
. "$(dirname "$0")/../integration/lib.sh"

DURATION=${SOAK_DURATION:-15}
WARMUP=${SOAK_WARMUP:-5}	# seconds of the mix before the measured run
CONNS=${SOAK_CONNS:-64}
FD_SLACK=${SOAK_FD_SLACK:-2}
RATES=${SOAK_RATES:-reset=10,stall=3,5xx=20,truncated=10,oversize=5}
SERVERS=()
while [ $# -gt 0 ]; do
	case "$1" in
	--duration) DURATION=$2; shift ;;
	--conns) CONNS=$2; shift ;;
	-h|--help) sed -n '2,24p' "$0"; exit 0 ;;
	lighttpd|nginx) SERVERS+=("$1") ;;
	*) echo "soak.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
[ ${#SERVERS[@]} -gt 0 ] || SERVERS=(lighttpd nginx)
if [ -x "$IT_ROOT/_build/plain/astropixel-tiles" ] && [ -z "${SOAK_SAN:-}" ]; then
	BIN=$IT_ROOT/_build/plain/astropixel-tiles
fi
if [ -n "${SOAK_MALLOC_ENV:-}" ]; then	# experiment: allocator settings for the responders
	mkdir -p "$STATE/wrap"
	printf '#!/bin/sh\nexec env %s "%s" "$@"\n' "$SOAK_MALLOC_ENV" "$BIN" > "$STATE/wrap/astropixel-tiles"
	chmod 755 "$STATE/wrap/astropixel-tiles"
	BIN=$STATE/wrap/astropixel-tiles
fi
FAULTD=$BUILD_DIR/tests/fault/faultd
[ -x "$FAULTD" ] || FAULTD=$IT_ROOT/_build/plain/tests/fault/faultd
echo "# responder: $BIN; $CONNS connections, $WARMUP s of warm-up then $DURATION s per server; origin faults (per mille): $RATES"
for c in lighttpd nginx spawn-fcgi node setpriv; do
	command -v "$c" > /dev/null || { fail "$c is installed" "run tests/scripts/install-deps.sh"; finish; exit 1; }
done

# ---- the trees: ORIGIN has every tile (the bucket), LOCAL the metadata and
# the tiles of datasets 1 and 2 only (the fallback): dataset 5 (public,
# owner 7, 4096 px square: 341 tiles) is served from the bucket alone
ORIGIN=$STATE/origin
LOCAL=$STATE/local
make_fixture "$ORIGIN"
"$MKSAMPLE" --out "$ORIGIN" --id 5 --width 4096 --height 4096 --owner 7 --quiet
mkdir -p "$LOCAL/tiles"
cp -r "$ORIGIN/metadata" "$LOCAL/"
cp -r "$ORIGIN/tiles/1" "$ORIGIN/tiles/2" "$LOCAL/tiles/"
chmod -R a+rX "$STATE"

FPORT=$(free_port)
"$FAULTD" "$FPORT" --max-seconds $((DURATION * 3 + 120)) --quiet --root "$ORIGIN" \
	--rates "$RATES" --seed 18 > "$STATE/faultd.out" 2>&1 &
FPID=$!
track "$FPID"
wait_http "http://127.0.0.1:$FPORT/__stats" || { fail "faultd starts" "$(cat "$STATE/faultd.out")"; finish; exit 1; }

soak_env() {	# the responders' settings: the faulty bucket, the local fallback
	mkdir -p "$STATE/shm"
	shipped_env "$LOCAL"
	cat >> "$STATE/app.env" <<ENV
USE_S3=true
AWS_ACCESS_KEY_ID=soak
AWS_SECRET_ACCESS_KEY=soak-secret
AWS_BUCKET_NAME=tiles
S3_ENDPOINT_URL=http://127.0.0.1:$FPORT
S3_TIMEOUT_MS=1000
S3_COOLDOWN_SECONDS=2
TILE_CACHE_MAX_MB=8
TILE_CACHE_MAX_TILES=100
LOG_LEVEL=warn
ENV
}
OWNER=$("$MKTOKEN" it-secret-key 7 3600)
OTHER=$("$MKTOKEN" it-secret-key 8 3600)
EXPIRED=$("$MKTOKEN" it-secret-key 7 -3600)
# a signature character changed in its middle (every bit of it counts there)
i=$((${#OWNER} - 10))
c=${OWNER:$i:1}
[ "$c" = A ] && r=B || r=A
BADSIG=${OWNER:0:$i}$r${OWNER:$((i + 1))}

# soak_run NAME BASE PIDS LOG...: the client, then the checks
soak_run() {
	local name=$1 base=$2 pids=$3 report=$STATE/$1.report.json
	shift 3
	WARMUP=$WARMUP node -e '
const [base, data, dur, conns, pids, owner, other, expired, badsig, report] = process.argv.slice(1);
console.log(JSON.stringify({ base, data, duration_s: Number(dur), conns: Number(conns),
	pids: pids.trim().split(/\s+/).map(Number), sample_at_s: Number(dur) >= 60 ? 20 : Number(dur) * 0.2,	// the issue: from 20 s of 60
	warmup_s: Number(process.env.WARMUP),
	tokens: { owner, other, expired, badsig }, public_ds: [1, 5], private_ds: 2, clear_ds: 5,
	missing: ["4/10/2/1.jpg", "4/10/2/1.png"], report }));
' "$base" "$ORIGIN" "$DURATION" "$CONNS" "$pids" "$OWNER" "$OTHER" "$EXPIRED" "$BADSIG" "$report" \
		> "$STATE/$name.cfg.json"
	curl -s "http://127.0.0.1:$FPORT/__reset" > /dev/null
	node "$IT_ROOT/tests/soak/client.js" "$STATE/$name.cfg.json" > "$STATE/$name.client.out" 2>&1
	if [ ! -s "$report" ]; then
		fail "$name: the soak client ran" "$(tail -5 "$STATE/$name.client.out")"
		return
	fi
	curl -s "http://127.0.0.1:$FPORT/__stats" > "$STATE/$name.faultd.json"
	node - "$report" "$STATE/$name.faultd.json" "$name" > "$STATE/$name.summary" <<'JS'
const fs = require('fs');
const [rep, fst, name] = process.argv.slice(2);
const r = JSON.parse(fs.readFileSync(rep, 'utf8')), f = JSON.parse(fs.readFileSync(fst, 'utf8'));
const kinds = Object.entries(r.by_kind).map(([k, v]) => `${k} ${v.n}`).join(', ');
console.log(`INFO ${name}: ${r.total} requests (${r.rps}/s), p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, max ${r.max_ms} ms`);
console.log(`INFO ${name}: statuses ${JSON.stringify(r.statuses)}`);
console.log(`INFO ${name}: mix ${kinds}`);
console.log(`INFO ${name}: origin ${f.file} tile requests, faults ${JSON.stringify(f.faults)}`);
console.log(`INFO ${name}: ${r.clear_races} answers 502 because the metadata read of dataset 5 ` +
	'crossed a clear of it 4 times in a row (catalog.c, by design)');
console.log(`TOTAL ${r.total}`);
console.log(`UNEXPECTED ${r.unexpected}`);
for (const e of r.examples) console.log(`EXAMPLE ${e}`);
let faults = 0;
for (const v of Object.values(f.faults)) faults += v;
console.log(`FAULTS ${faults}`);
for (const k of ['tile', 'head', 'conditional', 'batch', 'prefetch', 'private-owner', 'private-expired',
	'private-badsig', 'bad-input', 'cache-clear']) console.log(`KIND ${k} ${(r.by_kind[k] || { n: 0 }).n}`);
for (const pid of Object.keys(r.samples.early))
	console.log(`INFO ${name}: responder ${pid} RSS kB every tenth: ` +
		r.samples.series.map(([t, m]) => (m[pid] && m[pid].rss_kb) || '-').join(' '));
for (const [pid, e] of Object.entries(r.samples.early)) {
	const z = r.samples.end[pid];
	if (e.gone || z.gone) { console.log(`GONE ${pid}`); continue; }
	console.log(`MEM ${pid} ${e.rss_kb} ${z.rss_kb} ${e.other} ${z.other} ${r.samples.early_at_s} ${r.samples.end_at_s} ${e.sockets} ${z.sockets}`);
}
JS
	sed -n 's/^INFO /# /p' "$STATE/$name.summary"
	local total unexpected faults
	total=$(sed -n 's/^TOTAL //p' "$STATE/$name.summary")
	unexpected=$(sed -n 's/^UNEXPECTED //p' "$STATE/$name.summary")
	faults=$(sed -n 's/^FAULTS //p' "$STATE/$name.summary")
	[ "${total:-0}" -gt $((DURATION * 100)) ] && pass "$name: $total requests in $DURATION s on $CONNS connections" ||
		fail "$name: the load held" "${total:-0} requests in $DURATION s"
	if [ "${unexpected:-1}" -eq 0 ]; then
		pass "$name: 0 unexpected answers of $total"
	else
		fail "$name: 0 unexpected answers" "$unexpected of $total: $(sed -n 's/^EXAMPLE //p' "$STATE/$name.summary" | head -5 | tr '\n' ';')"
	fi
	[ "${faults:-0}" -gt 0 ] && pass "$name: the origin injected $faults faults during the run" ||
		fail "$name: the origin injected faults" "none counted"
	local k n
	while read -r _ k n; do
		[ "$n" -gt 0 ] || fail "$name: the mix has $k requests" "none"
	done < <(grep '^KIND ' "$STATE/$name.summary")
	local pid r0 r1 f0 f1 t0 t1 s0 s1 gone
	gone=$(sed -n 's/^GONE //p' "$STATE/$name.summary" | tr '\n' ' ')
	expect "$name: every responder lived through the run (pids $pids)" "$gone" ""
	while read -r _ pid r0 r1 f0 f1 t0 t1 s0 s1; do
		if [ $((r1 * 100)) -lt $((r0 * 105)) ]; then
			pass "$name: responder $pid RSS ${r0} -> ${r1} kB from ${t0} s to ${t1} s (< 5 %)"
		else
			fail "$name: responder $pid RSS grows < 5 %" "${r0} -> ${r1} kB from ${t0} s to ${t1} s"
		fi
		if [ "$f1" -le $((f0 + FD_SLACK)) ]; then
			pass "$name: responder $pid fds other than sockets ${f0} -> ${f1} (flat)"
		else
			fail "$name: responder $pid fds other than sockets flat" "${f0} -> ${f1}"
		fi
		# sockets follow the load: the web server's connections (at most one
		# per client connection in flight, plus the ones nginx keeps: 32 per
		# worker) and the origin's (S3_MAX_HOST_CONNECTIONS, 100)
		if [ "$s1" -le $((2 * CONNS + 64 + 100)) ]; then
			pass "$name: responder $pid sockets ${s0} -> ${s1} (within the connections the load can hold)"
		else
			fail "$name: responder $pid sockets bounded" "${s0} -> ${s1}"
		fi
		echo "FIGURE $name $pid rss_kb $r0 $r1 other_fds $f0 $f1 sockets $s0 $s1" >> "$STATE/figures"
	done < <(grep '^MEM ' "$STATE/$name.summary")
	local bad
	bad=$(grep -hiE 'prematurely closed|connection reset|broken pipe|backend died|backend is overloaded|upstream timed out|recv\(\) failed|writev\(\) failed|no live upstreams' "$@" 2>/dev/null | head -3)
	expect "$name: no dropped connection in the web server's error log" "$bad" ""
	bad=$(grep -hE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$@" 2>/dev/null | head -3)
	expect "$name: no sanitizer report in the logs" "$bad" ""
}

# ---- lighttpd, 2 responders it spawns ---------------------------------------------
for s in "${SERVERS[@]}"; do
	case "$s" in
	lighttpd)
		soak_env
		mkdir -p "$STATE/lt"
		if ! lighttpd_instance "$STATE/lt" "$STATE/app.env" 2; then
			fail "lighttpd starts" "$(tail -5 "$STATE/lt/error.log" "$STATE/lt/backend.log" 2>/dev/null)"
			continue
		fi
		LT_PIDS=$(ps -o pid= --ppid "$IPID" | tr '\n' ' ')
		expect "lighttpd: 2 responders ($LT_PIDS)" "$(echo $LT_PIDS | wc -w)" 2
		soak_run lighttpd "http://127.0.0.1:$IPORT/api/tiles" "$LT_PIDS" "$STATE/lt/error.log" "$STATE/lt/backend.log"
		stop_pid "$IPID"
		;;
	nginx)
		: 
		NG=$STATE/nginx
		mkdir -p "$NG/tmp" "$NG/www"
		rm -rf "$STATE/shm/run"	# lighttpd's responders (root) made it: the pool runs as www-data
		unit_state "$LOCAL"
		soak_env	# unit_state wrote the shipped env again
		chown www-data:www-data "$NG/tmp"
		chmod -R a+rX "$STATE"
		start_unit_pool 2 > "$STATE/pool.out"
		grep '^not ok' "$STATE/pool.out"
		sed -e "s|unix:/run/astropixel-tiles/astropixel-tiles.sock|unix:$SOCK|" \
			"$IT_ROOT/deploy/nginx/astropixel-tiles-upstream.conf" > "$NG/astropixel-tiles-upstream.conf"
		cp "$IT_ROOT/deploy/nginx/astropixel-tiles.conf" "$NG/astropixel-tiles.conf"
		cp /etc/nginx/fastcgi_params "$NG/fastcgi_params"
		nginx_conf main "$NG/astropixel-tiles.conf"
		if ! start_nginx main; then
			fail "nginx starts" "$(cat "$NG"/main-out.*.log "$NG/main-error.log" 2>/dev/null | tail -5)"
			continue
		fi
		soak_run nginx "http://127.0.0.1:$PORT_/api/tiles" "$POOL_PIDS" "$NG/main-error.log" "$STATE/backend.log"
		stop_pid "$PID_"
		for p in $POOL_PIDS; do stop_pid "$p"; done
		;;
	esac
done
[ -f "$STATE/figures" ] && sed 's/^/# /' "$STATE/figures"
finish
