#!/usr/bin/env bash
# The one command that runs every test on a fresh machine:
#   installs what is missing (apt), builds with -Werror under AddressSanitizer
#   + UndefinedBehaviorSanitizer, runs the unit tests and the SigV4 suite
#   (make check), every integration test against real servers, the
#   --request mode under valgrind, and `make distcheck` (with --distcheck or
#   in CI). Ends with "N passed, M failed".
#
#   tests/run.sh [--quick] [--distcheck] [integration-test-name...]
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
QUICK=0
DISTCHECK=${CI:+1}
ONLY=()
for a in "$@"; do
	case "$a" in
	--quick) QUICK=1 ;;
	--distcheck) DISTCHECK=1 ;;
	-h|--help) sed -n '2,9p' "$0"; exit 0 ;;
	*) ONLY+=("$a") ;;
	esac
done
JOBS=$(nproc 2>/dev/null || echo 2)
TOTAL_PASS=0
TOTAL_FAIL=0
FAILED_SUITES=()
LOGDIR=$ROOT/_build/logs
say() { printf '\n=== %s\n' "$*"; }
suite_result() {	# NAME PASSED FAILED
	TOTAL_PASS=$((TOTAL_PASS + $2))
	TOTAL_FAIL=$((TOTAL_FAIL + $3))
	[ "$3" -eq 0 ] || FAILED_SUITES+=("$1")
	printf '%-28s %4d passed, %d failed\n' "$1" "$2" "$3" >> "$LOGDIR/summary"
}
die() { echo "run.sh: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

say "dependencies"
bash tests/scripts/install-deps.sh all || die "installing packages failed"

say "build (sanitizers, -Werror)"
mkdir -p _build/san _build/plain "$LOGDIR"
: > "$LOGDIR/summary"
[ -x configure ] && [ configure -nt configure.ac ] && [ Makefile.in -nt Makefile.am ] ||
	autoreconf -fi > "$LOGDIR/autoreconf.log" 2>&1 || die "autoreconf failed: see $LOGDIR/autoreconf.log"
( cd _build/san && { [ -f Makefile ] || ../../configure -q --enable-werror --enable-sanitizers; } &&
	make -s -j"$JOBS" all && make -s -j"$JOBS" check TESTS= ) > "$LOGDIR/build-san.log" 2>&1 ||
	{ tail -40 "$LOGDIR/build-san.log"; die "sanitizer build failed"; }
( cd _build/plain && { [ -f Makefile ] || ../../configure -q --enable-werror CFLAGS="-O2 -g"; } &&
	make -s -j"$JOBS" all && make -s -j"$JOBS" check TESTS= ) > "$LOGDIR/build-plain.log" 2>&1 ||
	{ tail -40 "$LOGDIR/build-plain.log"; die "plain build failed"; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if [ ${#ONLY[@]} -eq 0 ]; then
	say "unit tests and SigV4 suite (make check, ASan+UBSan)"
	( cd _build/san && make -j"$JOBS" check ) > "$LOGDIR/check.log" 2>&1
	p=$(grep -E '^# PASS:' _build/san/test-suite.log 2>/dev/null | awk '{print $3}')
	p=$(sed -n 's/^# PASS: *//p' "$LOGDIR/check.log" | tail -1)
	f=$(sed -n 's/^# FAIL: *//p' "$LOGDIR/check.log" | tail -1)
	e=$(sed -n 's/^# ERROR: *//p' "$LOGDIR/check.log" | tail -1)
	f=$(( ${f:-0} + ${e:-0} ))
	[ -n "$p" ] || { p=0; f=$((f + 1)); }
	grep -hE '^\[  (PASSED|FAILED)  \]|passed, .* failed' _build/san/tests/unit/*.log _build/san/tests/sigv4/*.log 2>/dev/null | sed 's/^/  /'
	[ "$f" -eq 0 ] || grep -lE 'FAIL|ERROR' _build/san/tests/*/*.log 2>/dev/null | while read -r l; do echo "--- $l"; tail -30 "$l"; done
	suite_result "make check" "$p" "$f"
fi

say "integration tests (real servers)"
for t in tests/integration/*.sh; do
	name=$(basename "$t" .sh)
	case "$name" in lib|smoke) continue ;; esac	# sourced by the others
	if [ ${#ONLY[@]} -gt 0 ] && [[ " ${ONLY[*]} " != *" $name "* ]]; then continue; fi
	[ "$QUICK" = 1 ] && [ -f "tests/integration/$name.slow" ] && continue
	echo "--- $name"
	BUILD_DIR=$ROOT/_build/san PLAIN_BUILD_DIR=$ROOT/_build/plain timeout 600 bash "$t" > "$LOGDIR/it-$name.log" 2>&1
	rc=$?
	grep -E '^(not ok|# )' "$LOGDIR/it-$name.log" | sed 's/^/  /'
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$LOGDIR/it-$name.log" | tail -1)
	p=$(echo "$line" | awk '{print $1}'); f=$(echo "$line" | awk '{print $3}')
	[ -n "$p" ] || { p=0; f=1; echo "  (no summary: exit $rc)"; tail -15 "$LOGDIR/it-$name.log" | sed 's/^/  /'; }
	[ "$rc" -eq 0 ] || [ "${f:-1}" -gt 0 ] || f=1
	echo "  $p passed, $f failed"
	suite_result "$name" "$p" "$f"
done

if [ ${#ONLY[@]} -eq 0 ] && [ -n "${DISTCHECK:-}" ]; then
	say "make distcheck"
	if ( cd _build/plain && make -s distcheck DISTCHECK_CONFIGURE_FLAGS=--enable-werror ) > "$LOGDIR/distcheck.log" 2>&1; then
		suite_result distcheck 1 0
	else
		tail -30 "$LOGDIR/distcheck.log"
		suite_result distcheck 0 1
	fi
fi

say "summary (logs in _build/logs)"
cat "$LOGDIR/summary"
[ ${#FAILED_SUITES[@]} -eq 0 ] || echo "failed suites: ${FAILED_SUITES[*]}"
echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
[ "$TOTAL_FAIL" -eq 0 ]
