#!/usr/bin/env bash
# The metrics exposition and what is built on it: a rendered pool passes
# `promtool check metrics`, has only labels of bounded sets, the Prometheus
# configuration and alert rules are valid and their unit tests pass
# (metrics-alerts.test.yml), and the Grafana dashboard parses, holds the
# panels the operators asked for, and queries only metrics that exist, in
# valid PromQL. docs/operations.md lists every metric family.
source "$(dirname "$0")/lib.sh"
SAMPLE=${METRICS_SAMPLE:-$BUILD_DIR/tests/tools/metrics_sample}
PROM=$IT_ROOT/deploy/prometheus
DASH=$IT_ROOT/deploy/grafana/astropixel-tiles.json

if ! command -v promtool >/dev/null; then
	fail "promtool is installed" "not found: install the Debian package prometheus (tests/scripts/install-deps.sh)"
	finish
	exit 1
fi
if [ ! -x "$SAMPLE" ]; then
	fail "the sample renderer is built" "$SAMPLE missing: make check TESTS= builds it"
	finish
	exit 1
fi

"$SAMPLE" > "$STATE/metrics.prom" 2> "$STATE/sample.err"
expect "metrics_sample renders" "$?" "0"
if out=$(promtool check metrics < "$STATE/metrics.prom" 2>&1) && [ -z "$out" ]; then
	pass "promtool check metrics: no problem"
else
	fail "promtool check metrics: no problem" "$(echo "$out" | head -5)"
fi
fams=$(sed -n 's/^# TYPE \([a-z_]*\) .*/\1/p' "$STATE/metrics.prom")
expect "25 metric families" "$(echo "$fams" | wc -l)" "25"
bad=$(echo "$fams" | grep -v '^astropixel_' || true)
expect "every family has the astropixel_ prefix" "${bad:-none}" "none"
labels=$(grep -v '^#' "$STATE/metrics.prom" | grep -o '[a-z_]*="' | tr -d '="' | sort -u | tr '\n' ' ')
expect "labels only from bounded sets" "$labels" "backend breaker code endpoint le outcome source version "
series=$(grep -vc '^#' "$STATE/metrics.prom")
[ "$series" -lt 400 ] && pass "bounded series count ($series)" || fail "bounded series count" "$series"
for want in 'astropixel_requests_total{endpoint="tile",code="2xx"} ' \
	'astropixel_request_duration_seconds_bucket{le="0.0001"} ' \
	'astropixel_request_duration_seconds_bucket{le="10"} ' \
	'astropixel_storage_request_duration_seconds_bucket{backend="local",le="+Inf"} ' \
	'astropixel_processes_alive ' 'astropixel_build_info{version="'; do
	grep -qF -- "$want" "$STATE/metrics.prom" && pass "has $want" || fail "has $want" "no such line"
done

# ---- Prometheus configuration and alerts
if out=$(promtool check config "$PROM/astropixel-tiles.yml" 2>&1); then
	pass "promtool check config deploy/prometheus/astropixel-tiles.yml"
else
	fail "promtool check config deploy/prometheus/astropixel-tiles.yml" "$(echo "$out" | tail -3)"
fi
grep -q 'metrics_path: /api/tiles/metrics' "$PROM/astropixel-tiles.yml" &&
	pass "the scrape job reads /api/tiles/metrics" || fail "the scrape job reads /api/tiles/metrics" "no metrics_path"
if out=$(cd "$IT_ROOT/tests/integration" && promtool test rules metrics-alerts.test.yml 2>&1); then
	pass "promtool test rules: every alert fires on its case and not on a healthy pool"
else
	fail "promtool test rules" "$(echo "$out" | grep -v '^ *$' | head -12)"
fi

# ---- every metric named in the alerts and the dashboard is rendered
# sample names (with _bucket, _sum, _count) and family names
names=$({ grep -v '^#' "$STATE/metrics.prom" | sed 's/[{ ].*//'; echo "$fams"; } | sort -u)
unknown=""
for n in $(grep -o 'astropixel_[a-z_]*' "$PROM/astropixel-tiles-alerts.yml" | sort -u); do
	echo "$names" | grep -qx "$n" || unknown="$unknown $n"
done
expect "alerts use only rendered metrics" "${unknown:-none}" "none"

if ! node -e 'JSON.parse(require("fs").readFileSync(process.argv[1]))' "$DASH" 2>"$STATE/node.err"; then
	fail "the dashboard is JSON" "$(head -3 "$STATE/node.err")"
	finish
	exit 1
fi
pass "the dashboard is JSON"
node - "$DASH" > "$STATE/dash.txt" 2>&1 <<'JS'
const d = JSON.parse(require("fs").readFileSync(process.argv[2]));
const ids = new Set(), problems = [];
for (const p of d.panels) {
	if (ids.has(p.id)) problems.push(`panel id ${p.id} twice`);
	ids.add(p.id);
	if (!p.gridPos || !p.datasource || !(p.targets || []).length) problems.push(`panel "${p.title}" lacks gridPos, datasource or targets`);
	for (const t of p.targets || []) console.log(`expr\t${p.title}\t${t.expr}`);
	console.log(`title\t${p.title}`);
}
for (const v of d.templating.list) console.log(`expr\tvariable ${v.name}\t${v.definition}`);
for (const m of problems) console.log(`problem\t${m}`);
JS
expect "dashboard structure" "$(grep -c '^problem' "$STATE/dash.txt")" "0"
for t in "Hit ratio by source" "Latency p50 / p99" "Origin requests/s" "Breaker state" "Cache bytes" "Processes alive"; do
	grep -qxF "title	$t" "$STATE/dash.txt" && pass "dashboard panel: $t" || fail "dashboard panel: $t" "missing"
done
unknown=""
for n in $(grep '^expr' "$STATE/dash.txt" | grep -o 'astropixel_[a-z_]*' | sort -u); do
	echo "$names" | grep -qx "$n" || unknown="$unknown $n"
done
expect "dashboard queries only rendered metrics" "${unknown:-none}" "none"
# valid PromQL: the panel queries as recording rules, Grafana's variables filled in
{
	echo "groups:"
	echo "  - name: dashboard"
	echo "    rules:"
	i=0
	grep '^expr' "$STATE/dash.txt" | grep -v 'label_values' | cut -f3 | while IFS= read -r e; do
		i=$((i + 1))
		e=${e//\$__rate_interval/5m}
		e=${e//\$job/.+}
		printf '      - record: dashboard:q%d\n        expr: %s\n' "$i" "'${e//\'/\'\'}'"
	done
} > "$STATE/dash-rules.yml"
if out=$(promtool check rules "$STATE/dash-rules.yml" 2>&1); then
	pass "dashboard queries are valid PromQL ($(grep -c 'record:' "$STATE/dash-rules.yml") queries)"
else
	fail "dashboard queries are valid PromQL" "$(echo "$out" | tail -4)"
fi

# ---- the documentation names every family
missing=""
for f in $fams; do grep -q "\`$f\`" "$IT_ROOT/docs/operations.md" || missing="$missing $f"; done
expect "docs/operations.md documents every metric family" "${missing:-none missing}" "none missing"
finish
