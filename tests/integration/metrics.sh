#!/usr/bin/env bash
# Integration (issue 17): pool-wide metrics and the access log through a
# real lighttpd spawning 4 responders, scraped by a real Prometheus (the
# Debian `prometheus` binary, on 127.0.0.1, 1 s scrape interval, asked
# through its HTTP API).
#  1. the live answer passes `promtool check metrics`; Prometheus scrapes it
#     (up == 1) and sees every process of the pool;
#  2. after N tile requests spread over the processes the pool's tile
#     request counter rises by exactly N, in the answer and in Prometheus;
#  3. a responder killed with SIGKILL and respawned: nothing lost, nothing
#     counted twice, Prometheus sees no counter reset;
#  4. METRICS_ALLOW not containing 127.0.0.1: 403, unless the client sends
#     METRICS_TOKEN (a wrong one is 403 too);
#  5. X-Request-Id: taken from the client (lighttpd passes it) or made, echoed,
#     and in the access log line; no token (query or metrics token) in any
#     log; SIGHUP reopens the access log after a rename.
source "$(dirname "$0")/lib.sh"

for tool in prometheus promtool lighttpd node; do
	if ! command -v "$tool" >/dev/null; then
		fail "$tool is installed" "not found (tests/scripts/install-deps.sh installs it)"
		finish
		exit 1
	fi
done

N=40
MTOKEN=it-metrics-token-6d2f0b9a
DATA=$STATE/data
make_fixture "$DATA"
JWT=$("$MKTOKEN" it-secret-key 7 600)
write_env() {	# FILE RUNDIR EXTRA...
	local f=$1 run=$2
	shift 2
	{
		echo "LOCAL_STORAGE_DIR=$DATA"
		echo "SECRET_KEY=it-secret-key"
		echo "TILE_RUNTIME_DIR=$run"
		echo "METRICS_TOKEN=$MTOKEN"
		echo "LOG_LEVEL=info"
		printf '%s\n' "$@"
	} > "$f"
}
write_env "$STATE/app.env" "$STATE/run" "ACCESS_LOG=$STATE/access.log"
mkdir -p "$STATE/h1"
lighttpd_instance "$STATE/h1" "$STATE/app.env" 4 ||
	{ fail "lighttpd starts with 4 responders" "$(tail -5 "$STATE/h1/error.log" 2>/dev/null)"; finish; exit 1; }
LPID=$IPID
LPORT=$IPORT
BASE=http://127.0.0.1:$LPORT/api/tiles
pass "lighttpd starts with 4 responders"

# metric VALUE of one series (exact name and labels as rendered) in file F
series() { awk -v s="$2" '$1 == s { print $2 }' "$1"; }
scrape() { curl -s --max-time 5 -o "$1" "$BASE/metrics"; }
tile_total() { scrape "$STATE/m.prom"; series "$STATE/m.prom" 'astropixel_requests_total{endpoint="tile",code="2xx"}'; }
responders() { pgrep -P "$LPID" -f -- "$BIN" | sort -n; }
# log_has N ERE: until the access log has N lines matching (lines are
# written within ~1.5 s, operations.md); bounded, 4 s
log_has() {
	local i
	for i in $(seq 1 40); do
		[ "$(grep -Ec -- "$2" "$STATE/access.log" 2>/dev/null)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# ---- 1. the exposition ----------------------------------------------------------
req GET "$BASE/metrics"
expect "metrics from loopback is 200" "$STATUS" 200
expect "Content-Type of the text exposition format" "$(header Content-Type)" \
	"text/plain; version=0.0.4; charset=utf-8"
if out=$(promtool check metrics < "$BODY" 2>&1) && [ -z "$out" ]; then
	pass "promtool check metrics passes on the live answer"
else
	fail "promtool check metrics passes on the live answer" "$(echo "$out" | head -5)"
fi
expect_match "build info is there" "$(body)" 'astropixel_build_info\{version="[^"]+"\} 1'
# every responder claims its slot at start; wait until lighttpd started all 4
for i in $(seq 1 50); do
	[ "$(responders | wc -l)" -eq 4 ] && break
	sleep 0.1
done
scrape "$STATE/m.prom"
expect "processes_alive counts the 4 responders" "$(series "$STATE/m.prom" astropixel_processes_alive)" 4

PPORT=$(free_port)
cat > "$STATE/prom.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: astropixel-tiles
    metrics_path: /api/tiles/metrics
    scrape_interval: 1s
    scrape_timeout: 900ms
    static_configs:
      - targets: ['127.0.0.1:$LPORT']
YML
check "the test's scrape config is valid (promtool check config)" promtool check config "$STATE/prom.yml"
prometheus --config.file="$STATE/prom.yml" --storage.tsdb.path="$STATE/tsdb" \
	--web.listen-address="127.0.0.1:$PPORT" > "$STATE/prometheus.log" 2>&1 &
PROM_PID=$!
track "$PROM_PID"
ready=0
for i in $(seq 1 150); do
	curl -sf --max-time 1 "http://127.0.0.1:$PPORT/-/ready" >/dev/null && { ready=1; break; }
	sleep 0.2
done
[ "$ready" = 1 ] && pass "Prometheus starts" || fail "Prometheus starts" "$(tail -3 "$STATE/prometheus.log")"
# promql EXPR: the value of the first sample of an instant query, "" if none
promql() {
	curl -s --max-time 5 "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1" -o "$BODY"
	json 'j.data.result.length ? j.data.result[0].value[1] : ""'
}
# promql_wait EXPR WANT: until the query gives WANT (bounded, 20 s); prints the last value
promql_wait() {
	local v=""
	for i in $(seq 1 40); do
		v=$(promql "$1")
		[ "$v" = "$2" ] && break
		sleep 0.5
	done
	echo "$v"
}
expect "Prometheus scrapes the endpoint (up == 1)" \
	"$(promql_wait 'up{job="astropixel-tiles"}' 1)" 1
expect "Prometheus sees the 4 processes" "$(promql_wait 'astropixel_processes_alive' 4)" 4

# ---- 2. N requests, counted exactly once for the pool ------------------------------
before=$(tile_total)
before=${before:-0}
# 8 at a time: lighttpd gives a request to its least busy process, so
# concurrent ones spread over the pool (one after the other all go to one)
for i in $(seq 1 "$N"); do echo "$BASE/1/10/$((i % 3))/$((i % 2)).jpg"; done > "$STATE/urls"
codes=$(xargs -P 8 -n 1 curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 < "$STATE/urls" | sort | uniq -c | awk '{ print $2 "x" $1 }')
expect "the $N tile requests are 200" "$codes" "200x$N"
after=$(tile_total)
expect "the pool's tile request counter rose by exactly $N" "$((after - before))" "$N"
log_has "$N" ' GET /api/tiles/1/10/' || fail "the access log has the $N lines" "$(grep -c ' GET /api/tiles/1/10/' "$STATE/access.log")"
pids=$(awk '$5 ~ /^\/api\/tiles\/1\/10\// { print $2 }' "$STATE/access.log" | sort -u | wc -l)
[ "$pids" -ge 2 ] && pass "the requests were answered by $pids different processes" ||
	fail "the requests were spread over the processes" "only $pids process answered them"
expect "Prometheus sees the same total" \
	"$(promql_wait 'sum(astropixel_requests_total{endpoint="tile",code="2xx"})' "$after")" "$after"
served=$(awk '$1 ~ /^astropixel_tiles_served_total/ { s += $2 } END { print s + 0 }' "$STATE/m.prom")
[ "$served" -ge "$N" ] && pass "tiles served by source add up ($served >= $N)" ||
	fail "tiles served by source add up" "$served < $N"
hits=$(series "$STATE/m.prom" 'astropixel_tiles_served_total{source="memory"}')
[ "${hits:-0}" -gt 0 ] && pass "repeated tiles are counted as memory hits ($hits)" ||
	fail "repeated tiles are counted as memory hits" "${hits:-none}"
local_ok=$(series "$STATE/m.prom" 'astropixel_storage_requests_total{backend="local",outcome="ok"}')
[ "${local_ok:-0}" -gt 0 ] && pass "local storage reads are counted ($local_ok)" ||
	fail "local storage reads are counted" "${local_ok:-none}"
count=$(series "$STATE/m.prom" 'astropixel_request_duration_seconds_count')
[ "${count:-0}" -ge "$N" ] && pass "request duration histogram counts every request" ||
	fail "request duration histogram counts every request" "${count:-none}"
req GET "$BASE/1/batch?tiles=10/0/0.jpg&tiles=10/1/0.jpg&tiles=10/2/0.jpg"
scrape "$STATE/m.prom"
expect "a batch of 3 lands in the batch size histogram" \
	"$(series "$STATE/m.prom" 'astropixel_batch_tiles_bucket{le="5"}')" 1

# ---- 3. SIGKILL and respawn: monotonic, exact --------------------------------------
started0=$(series "$STATE/m.prom" astropixel_processes_started_total)
t1=$(tile_total)
victim=$(responders | head -1)
kill -KILL "$victim"
for i in $(seq 1 100); do
	now=$(responders | tr '\n' ' ')
	if [ "$(responders | wc -l)" -eq 4 ] && ! responders | grep -qx "$victim"; then break; fi
	# lighttpd notices a dead backend when it next talks to it
	curl -s -o /dev/null --max-time 2 "$BASE/health"
	sleep 0.1
done
expect "lighttpd respawned the killed responder" "$(responders | wc -l)" 4
t2=$(tile_total)
[ "$t2" -ge "$t1" ] && pass "the total did not drop when a process died ($t1 -> $t2)" ||
	fail "the total did not drop when a process died" "$t1 -> $t2"
M=20
for i in $(seq 1 "$M"); do echo "$BASE/1/10/$((i % 3))/1.jpg"; done > "$STATE/urls"
codes=$(xargs -P 8 -n 1 curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 < "$STATE/urls" | sort | uniq -c | awk '{ print $2 "x" $1 }')
expect "the $M requests after the respawn are 200" "$codes" "200x$M"
t3=$(tile_total)
expect "after the respawn the total rose by exactly $M" "$((t3 - t2))" "$M"
scrape "$STATE/m.prom"
reclaimed=$(series "$STATE/m.prom" astropixel_processes_reclaimed_total)
[ "${reclaimed:-0}" -ge 1 ] && pass "the respawned process took over the dead one's slot" ||
	fail "the respawned process took over the dead one's slot" "reclaimed ${reclaimed:-none}"
started1=$(series "$STATE/m.prom" astropixel_processes_started_total)
[ "$started1" -gt "$started0" ] && pass "processes_started_total counts the respawn" ||
	fail "processes_started_total counts the respawn" "$started0 -> $started1"
expect "Prometheus follows the total after the respawn" \
	"$(promql_wait 'sum(astropixel_requests_total{endpoint="tile",code="2xx"})' "$t3")" "$t3"
expect "Prometheus saw no counter reset over the whole run" \
	"$(promql 'sum(resets(astropixel_requests_total[10m]))')" 0

# ---- 4. METRICS_ALLOW and METRICS_TOKEN ----------------------------------------------
write_env "$STATE/deny.env" "$STATE/run-deny" "METRICS_ALLOW=10.0.0.0/8,192.0.2.1"
mkdir -p "$STATE/h2"
if lighttpd_instance "$STATE/h2" "$STATE/deny.env" 1; then
	DPID=$IPID
	DBASE=http://127.0.0.1:$IPORT/api/tiles
	req GET "$DBASE/metrics"
	expect "127.0.0.1 outside METRICS_ALLOW gets 403" "$STATUS" 403
	expect_nomatch "the 403 shows no metric" "$(body)" 'astropixel_'
	req GET "$DBASE/metrics" -H "Authorization: Bearer wrong-$MTOKEN"
	expect "a wrong token gets 403" "$STATUS" 403
	req GET "$DBASE/metrics" -H "Authorization: Bearer $MTOKEN"
	expect "METRICS_TOKEN opens the metrics from outside METRICS_ALLOW" "$STATUS" 200
	expect_match "and they are the metrics" "$(body)" '^# HELP astropixel_'
	req GET "$DBASE/1/10/0/0.jpg"
	expect "tiles are served whatever METRICS_ALLOW says" "$STATUS" 200
	stop_pid "$DPID"
else
	fail "a second pool with METRICS_ALLOW=10.0.0.0/8 starts" "$(tail -5 "$STATE/h2/error.log" 2>/dev/null)"
fi

# ---- 5. request ids and the access log ----------------------------------------------
req GET "$BASE/1/10/0/0.jpg" -H 'X-Request-Id: it-req.42_a'
expect "a sane X-Request-Id is echoed" "$(header X-Request-Id)" it-req.42_a
req GET "$BASE/1/10/0/0.jpg"
ID=$(header X-Request-Id)
expect_match "without one, an id is made (16 hex digits)" "$ID" '^[0-9a-f]{16}$'
log_has 1 " $ID "
line=$(grep -F " $ID " "$STATE/access.log" | head -1)
expect_match "the access log line carries it, with status, bytes and source" "$line" \
	"^[0-9T:.-]+Z [0-9]+ $ID GET /api/tiles/1/10/0/0.jpg 200 [0-9]+ (memory-cache|local) [0-9.]+$"
req GET "$BASE/1/10/0/0.jpg" -H 'X-Request-Id: bad id with blanks'
expect_match "an insane X-Request-Id is replaced" "$(header X-Request-Id)" '^[0-9a-f]{16}$'
req GET "$BASE/nonsense"
expect_match "an error answer has an id too" "$STATUS/$(header X-Request-Id)" '^404/[0-9a-f]{16}$'
req GET "$BASE/2/10/0/0.png?token=$JWT"
expect "a private tile with ?token= is 200" "$STATUS" 200
req GET "$BASE/metrics" -H "Authorization: Bearer $MTOKEN"
log_has 1 'GET /api/tiles/metrics .* 200 '
log_has 1 'GET /api/tiles/2/10/0/0.png'
grep -q 'GET /api/tiles/2/10/0/0.png?token=\*\*\* 200 ' "$STATE/access.log" &&
	pass "the query token is masked in the access log" ||
	fail "the query token is masked in the access log" "$(grep '/2/10/0/0.png' "$STATE/access.log" | head -1)"
cat "$STATE/access.log" "$STATE/h1/backend.log" "$STATE/h1/error.log" "$STATE/h2/backend.log" \
	> "$STATE/all.log" 2>/dev/null
check "no token (query JWT, METRICS_TOKEN) in any log" \
	bash -c "! grep -qF -e '$JWT' -e '$MTOKEN' '$STATE/all.log'"
nlines=$(wc -l < "$STATE/access.log")
bad=$(awk 'NF != 9' "$STATE/access.log" | wc -l)
expect "every access log line has its 9 fields" "$bad" 0
mv "$STATE/access.log" "$STATE/access.log.1"
for p in $(responders); do kill -HUP "$p"; done
sleep 0.2
for i in 1 2 3 4 5 6 7 8; do curl -s -o /dev/null --max-time 5 "$BASE/health"; done
log_has 1 'GET /api/tiles/health '
[ -s "$STATE/access.log" ] && pass "after a rename and SIGHUP the responders write a new access log" ||
	fail "SIGHUP reopens the access log" "no new file"
expect "the responders survived SIGHUP" "$(responders | wc -l)" 4
[ "$(wc -l < "$STATE/access.log.1")" -ge "$nlines" ] && pass "the renamed log kept its lines" ||
	fail "the renamed log kept its lines" "$(wc -l < "$STATE/access.log.1") < $nlines"

stop_pid "$PROM_PID"
stop_pid "$LPID"
cat "$STATE"/h1/*.log "$STATE"/h2/*.log > "$STATE/all.log" 2>/dev/null
check "no sanitizer report in the logs" asan_clean "$STATE/all.log"
finish
