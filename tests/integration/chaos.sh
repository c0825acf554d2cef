#!/usr/bin/env bash
# Chaos under load (issue 18): lighttpd with 2 responders, a clean origin
# (faultd serving the tile tree as a bucket), a local fallback holding the
# same tiles, Redis as the shared tier, and 16 connections of steady load
# (tests/soak/load.js: every answer's bytes checked) while, one after the
# other:
#   1. kill -9 of one responder: only requests in flight on it fail (at most
#      one per connection), lighttpd brings a new one, then all answer again
#   2. SIGTERM of both responders: every request in flight on them at that
#      moment completes with the right bytes; lighttpd brings new ones
#   3. the origin killed, then restarted on its port: tiles answered from the
#      local fallback meanwhile, from the bucket again afterwards (after a
#      cache-clear, since Redis holds every tile by then)
#   4. Redis killed, then restarted: tiles still answered, health l2
#      degraded meanwhile, ok again afterwards, Redis hits again
# Under 60 s in all (the load stops 3 s after the last event). Counts are printed as "# chaos: ..." lines.
. "$(dirname "$0")/lib.sh"

FAULTD=$BUILD_DIR/tests/fault/faultd
CONNS=16
for c in lighttpd node redis-server redis-cli; do
	command -v "$c" > /dev/null || { fail "$c is installed" "run tests/scripts/install-deps.sh"; finish; exit 1; }
done
ORIGIN=$STATE/origin
make_fixture "$ORIGIN"
"$MKSAMPLE" --out "$ORIGIN" --id 5 --width 2048 --height 2048 --owner 7 --quiet
OWNER=$("$MKTOKEN" it-secret-key 7 3600)
chmod -R a+rX "$STATE"
FPORT=$(free_port)
start_origin() {
	"$FAULTD" "$FPORT" --max-seconds 300 --quiet --root "$ORIGIN" > "$STATE/faultd.out" 2>&1 &
	FPID=$!
	track "$FPID"
	wait_http "http://127.0.0.1:$FPORT/__stats" 50
}
start_origin || { fail "the origin starts" "$(cat "$STATE/faultd.out")"; finish; exit 1; }
start_redis "$STATE/redis" || { fail "redis starts" "$(tail -3 "$STATE/redis/redis.log")"; finish; exit 1; }

mkdir -p "$STATE/shm"
shipped_env "$ORIGIN"	# the local fallback holds every tile, as the bucket does
cat >> "$STATE/app.env" <<ENV
USE_S3=true
AWS_ACCESS_KEY_ID=chaos
AWS_SECRET_ACCESS_KEY=chaos-secret
AWS_BUCKET_NAME=tiles
S3_ENDPOINT_URL=http://127.0.0.1:$FPORT
S3_TIMEOUT_MS=1000
S3_CONNECT_TIMEOUT_MS=300
S3_FAILURE_THRESHOLD=2
S3_COOLDOWN_SECONDS=1
REDIS_URL=unix://$RSOCK
TILE_CACHE_MAX_TILES=10
LOG_LEVEL=warn
ENV
LT=$STATE/lt
mkdir -p "$LT"
if ! lighttpd_instance "$LT" "$STATE/app.env" 2; then
	fail "lighttpd starts" "$(tail -5 "$LT/error.log" "$LT/backend.log" 2>/dev/null)"
	finish
	exit 1
fi
BASE=http://127.0.0.1:$IPORT/api/tiles
kids() { ps -o pid= --ppid "$IPID" | tr -d ' ' | sort -n | tr '\n' ' '; }
# wait_kids N OLD: until lighttpd has N responders none of which is in OLD (bounded)
wait_kids() {
	local i k
	for i in $(seq 1 100); do
		k=$(kids)
		if [ "$(echo $k | wc -w)" -eq "$1" ]; then
			local stale=0 p
			for p in $2; do case " $k " in *" $p "*) stale=1 ;; esac; done
			[ $stale -eq 0 ] && return 0
		fi
		sleep 0.1
	done
	return 1
}
wait_kids 2 "" || fail "lighttpd spawned 2 responders" "$(kids)"
PIDS0=$(kids)
now() { date +%s%3N; }
ev() { echo "$1 $(now)" >> "$STATE/events"; }
health_l2() { req GET "$BASE/health"; json j.l2; }

# ---- the load, and the events on a schedule -------------------------------------
LOAD_S=90	# at most: it stops when the script is done
node "$IT_ROOT/tests/soak/load.js" "$ORIGIN" "$BASE" "$CONNS" "$LOAD_S" "$STATE/load.stop" "$STATE/load.json" 1 5 \
	> "$STATE/load.out" 2>&1 &
LOADPID=$!
track "$LOADPID"
sleep 3
# 1. kill -9 of one responder
VICTIM=${PIDS0%% *}
ev kill9
kill -KILL "$VICTIM"
if wait_kids 2 "$VICTIM"; then
	ev respawned
	pass "kill -9 of responder $VICTIM: lighttpd brought a new one ($(kids))"
else
	fail "lighttpd brings a new responder after kill -9" "responders now: $(kids)"
fi
sleep 2
# 2. SIGTERM of the whole pool
PIDS1=$(kids)
ev sigterm
for p in $PIDS1; do kill -TERM "$p"; done
wait_kids 2 "$PIDS1" && pass "SIGTERM of the pool ($PIDS1): lighttpd brought new responders ($(kids))" ||
	fail "lighttpd brings new responders after SIGTERM" "responders now: $(kids)"
ev sigterm_done
sleep 2
# 3. the origin down for 4 s, then back on its port
ev origin_down
kill -KILL "$FPID"
# Redis and memory hold every tile by now: a clear makes them misses, for
# the local fallback to answer
req POST "$BASE/5/cache-clear" -H "Authorization: Bearer $OWNER"
expect "origin down: cache-clear of dataset 5 (misses from now on)" "$STATUS/$(json j.cleared)" 200/true
sleep 4
ev origin_up
start_origin || fail "the origin restarts on its port" "$(cat "$STATE/faultd.out")"
sleep 1.5
# every tile is in Redis by now: a clear of dataset 5 makes them misses, so
# the bucket must be asked again
ev clear5
req POST "$BASE/5/cache-clear" -H "Authorization: Bearer $OWNER"
expect "origin back: cache-clear of dataset 5 (so that its tiles come from the bucket)" "$STATUS/$(json j.cleared)" 200/true
sleep 3
# 4. Redis down for 4 s, then back
ev redis_down
kill_redis KILL
sleep 1.5
L2_DOWN=$(health_l2)
sleep 2.5
ev redis_up
start_redis "$STATE/redis" || fail "redis restarts" "$(tail -3 "$STATE/redis/redis.log")"
ok=0
for i in $(seq 1 60); do
	[ "$(health_l2)" = ok ] && ok=$((ok + 1)) || ok=0
	[ $ok -ge 4 ] && break	# both processes (lighttpd alternates them)
	sleep 0.25
done
ev l2_ok
sleep 2
echo "# chaos: Redis holds $(rcli dbsize) keys again"
touch "$STATE/load.stop"
expect "Redis killed: health says l2 degraded" "$L2_DOWN" degraded
expect "Redis restarted: health says l2 ok again (4 answers in a row)" "$ok" 4
wait "$LOADPID"

# ---- what happened around each event -----------------------------------------------
node - "$STATE/load.json" "$STATE/events" > "$STATE/chaos.summary" <<'JS'
const fs = require('fs');
const rec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const ev = {};
for (const l of fs.readFileSync(process.argv[3], 'utf8').trim().split('\n')) { const [k, t] = l.split(' '); ev[k] = Number(t); }
const between = (a, b) => rec.filter((r) => r[0] >= a && r[0] < b);
const failed = (rs) => rs.filter((r) => !r[3]);
const src = (rs, s) => rs.filter((r) => r[3] && r[4] === s).length;
const end = Math.max(...rec.map((r) => r[1]));
const out = (k, v) => console.log(`${k} ${v}`);
out('TOTAL', rec.length);
out('FAILED_ALL', failed(rec).length);
out('BEFORE_FAILED', failed(rec.filter((r) => r[1] < ev.kill9)).length);
// 1. kill -9: what failed from the kill until the new responder answered
const k9 = failed(rec.filter((r) => r[1] >= ev.kill9 && r[0] < ev.respawned));
out('KILL9_FAILED', k9.length);
out('KILL9_STATUSES', JSON.stringify(k9.reduce((m, r) => (m[r[2]] = (m[r[2]] || 0) + 1, m), {})));
out('AFTER_KILL9_FAILED', failed(between(ev.respawned + 1000, ev.sigterm)).length);
// 2. SIGTERM: the requests in flight at that moment
const inflight = rec.filter((r) => r[0] < ev.sigterm && r[1] > ev.sigterm);
out('SIGTERM_INFLIGHT', inflight.length);
out('SIGTERM_INFLIGHT_FAILED', failed(inflight).length);
const st = failed(rec.filter((r) => r[0] >= ev.sigterm && r[0] < ev.sigterm_done));
out('SIGTERM_WINDOW_FAILED', st.length);
out('SIGTERM_WINDOW_STATUSES', JSON.stringify(st.reduce((m, r) => (m[r[2]] = (m[r[2]] || 0) + 1, m), {})));
out('AFTER_SIGTERM_FAILED', failed(between(ev.sigterm_done + 1000, ev.origin_down)).length);
// 3. origin down / up
const od = between(ev.origin_down, ev.origin_up);
out('ORIGIN_DOWN_N', od.length);
out('ORIGIN_DOWN_FAILED', failed(od).length);
out('ORIGIN_DOWN_LOCAL', src(od, 'local'));
out('ORIGIN_DOWN_R2', src(between(ev.origin_down + 1500, ev.origin_up), 'r2'));
for (const r of between(ev.origin_down + 1500, ev.origin_up).filter((r) => r[4] === 'r2'))
	out('ORIGIN_DOWN_R2_AT', `started ${r[0] - ev.origin_down} ms after the kill, answered after ${r[1] - r[0]} ms`);
const ou = between(ev.clear5, ev.redis_down);
out('ORIGIN_UP_FAILED', failed(between(ev.origin_up, ev.redis_down)).length);
out('ORIGIN_UP_R2', src(ou, 'r2'));
// 4. Redis down / up
const rd = between(ev.redis_down, ev.redis_up);
out('REDIS_DOWN_N', rd.length);
out('REDIS_DOWN_FAILED', failed(rd).length);
out('REDIS_DOWN_REDIS', src(between(ev.redis_down + 1000, ev.redis_up), 'redis'));
out('REDIS_BEFORE_REDIS', src(between(ev.kill9, ev.redis_down), 'redis'));
out('REDIS_UP_FAILED', failed(between(ev.redis_up, end + 1)).length);
out('REDIS_UP_REDIS', src(between(ev.l2_ok, end + 1), 'redis'));
out('REDIS_UP_N', between(ev.l2_ok, end + 1).length);
JS
val() { sed -n "s/^$1 //p" "$STATE/chaos.summary"; }
sed 's/^/# chaos: /' "$STATE/chaos.summary"
[ "$(val TOTAL)" -gt 1000 ] && pass "load: $(val TOTAL) requests on $CONNS connections" ||
	fail "the load ran" "$(val TOTAL) requests ($(tail -3 "$STATE/load.out"))"
expect "before any event, every answer right" "$(val BEFORE_FAILED)" 0
k9=$(val KILL9_FAILED)
if [ "$k9" -le "$CONNS" ]; then
	pass "kill -9: $k9 requests failed (those in flight on it: at most one per connection, $CONNS) $(val KILL9_STATUSES)"
else
	fail "kill -9 costs only the requests in flight on it" "$k9 failed (> $CONNS connections) $(val KILL9_STATUSES)"
fi
expect "kill -9: 1 s after the new responder, every answer right" "$(val AFTER_KILL9_FAILED)" 0
[ "$(val SIGTERM_INFLIGHT)" -gt 0 ] && expect "SIGTERM: all $(val SIGTERM_INFLIGHT) requests in flight completed with the right bytes" \
	"$(val SIGTERM_INFLIGHT_FAILED)" 0 || fail "SIGTERM: requests were in flight" "none"
echo "# chaos: while the pool restarted after SIGTERM, $(val SIGTERM_WINDOW_FAILED) new requests were refused by lighttpd: $(val SIGTERM_WINDOW_STATUSES)"
expect "SIGTERM: 1 s after the new pool, every answer right" "$(val AFTER_SIGTERM_FAILED)" 0
expect "origin down: all $(val ORIGIN_DOWN_N) answers right" "$(val ORIGIN_DOWN_FAILED)" 0
[ "$(val ORIGIN_DOWN_LOCAL)" -gt 0 ] && pass "origin down: $(val ORIGIN_DOWN_LOCAL) tiles from the local fallback" ||
	fail "origin down: local fallback used" "no local answers"
expect "origin down: no tile from the bucket after 1.5 s" "$(val ORIGIN_DOWN_R2)" 0
expect "origin back: every answer right" "$(val ORIGIN_UP_FAILED)" 0
[ "$(val ORIGIN_UP_R2)" -gt 0 ] && pass "origin back: $(val ORIGIN_UP_R2) tiles from the bucket again (after the clear)" ||
	fail "origin back: the bucket serves again" "no r2 answers"
[ "$(val REDIS_BEFORE_REDIS)" -gt 0 ] && pass "Redis up: $(val REDIS_BEFORE_REDIS) tiles from Redis before it was killed" ||
	fail "Redis serves tiles" "no redis answers"
expect "Redis down: all $(val REDIS_DOWN_N) answers right" "$(val REDIS_DOWN_FAILED)" 0
expect "Redis down: no tile from Redis after 1 s" "$(val REDIS_DOWN_REDIS)" 0
expect "Redis back: every answer right" "$(val REDIS_UP_FAILED)" 0
[ "$(val REDIS_UP_REDIS)" -gt 0 ] && pass "Redis back: $(val REDIS_UP_REDIS) of $(val REDIS_UP_N) tiles from Redis again" ||
	fail "Redis back: tiles from Redis again" "none after l2 ok"
bad=$(grep -hE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$LT/backend.log" | head -3)
expect "no sanitizer report" "$bad" ""
finish
