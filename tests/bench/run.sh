#!/usr/bin/env bash
# Runs every benchmark (figures, not tests) on the optimised build and prints
# their reports. Needs the packages of tests/scripts/install-deps.sh and a
# built tree (tests/run.sh builds _build/plain).
#   tests/bench/run.sh [cache|metrics|http|miss|batch|front|l2|edge|access|sync|webp|webp_view|sync_webp|index ...]
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PLAIN=${PLAIN_BUILD_DIR:-$ROOT/_build/plain}
make -s -C "$PLAIN" all >/dev/null && make -s -C "$PLAIN" check TESTS= >/dev/null ||
	{ echo "bench: build $PLAIN first (tests/run.sh does)"; exit 1; }
which=("$@")
[ ${#which[@]} -gt 0 ] || which=(cache metrics http miss batch front l2 edge access sync webp webp_view sync_webp index)
for b in "${which[@]}"; do
	echo "=== $b"
	case $b in
	cache) "$PLAIN/tests/bench/bench_cache_lookup" ;;
	metrics) "$PLAIN/tests/bench/bench_metrics" ;;
	sync) [ -f "$ROOT/tests/bench/bench_sync.sh" ] && bash "$ROOT/tests/bench/bench_sync.sh" ;;
	*) bash "$ROOT/tests/bench/bench_$b.sh" ;;
	esac
	echo
done
