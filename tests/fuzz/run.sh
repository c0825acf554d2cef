#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz/ (configure --enable-fuzzing,
# clang, in _build/fuzz) and runs them. For each harness NAME: every file of
# its checked-in corpus (tests/fuzz/corpus/NAME/) once, then fuzzing from
# that corpus (working corpus _build/fuzz/corpus/NAME/, the checked-in one
# is never written), with NAME.dict and the flags of NAME.options if any.
#
#   tests/fuzz/run.sh [--long] [--time S] [--runs N] [--jobs N] [NAME...]
#   tests/fuzz/run.sh --build | --list
#
# Default (regression, what CI runs through tests/integration/fuzz.sh):
# FUZZ_TIME seconds of fuzzing per harness (10). --long: FUZZ_RUNS
# executions per harness (10^7) and a table of the figures. At most
# FUZZ_JOBS harnesses at a time (2). Prints "ok - NAME: ..." or
# "not ok - NAME: reason" per harness, then "N passed, M failed"; exits
# non-zero if any crash, leak, timeout, out-of-memory or sanitizer report
# was found, keeping the reproducer in _build/fuzz/artifacts/NAME/ (rerun
# it: _build/fuzz/tests/fuzz/fuzz_NAME FILE). Logs: _build/fuzz/logs/.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FZ=$ROOT/tests/fuzz
B=${FUZZ_BUILD_DIR:-$ROOT/_build/fuzz}
MODE=regress
TIME=${FUZZ_TIME:-10}
RUNS=${FUZZ_RUNS:-10000000}
JOBS=${FUZZ_JOBS:-2}
ONLY=()
ACTION=run
while [ $# -gt 0 ]; do
	case "$1" in
	--long) MODE=long ;;
	--time) TIME=$2; shift ;;
	--runs) RUNS=$2; shift ;;
	--jobs) JOBS=$2; shift ;;
	--build) ACTION=build ;;
	--list) ACTION=list ;;
	-h|--help) sed -n '2,18p' "$0"; exit 0 ;;
	-*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
	*) ONLY+=("$1") ;;
	esac
	shift
done

harnesses() {
	local f
	for f in "$FZ"/fuzz_*.c; do
		f=${f##*/fuzz_}
		echo "${f%.c}"
	done
}
if [ "$ACTION" = list ]; then harnesses; exit 0; fi

# ---- build --------------------------------------------------------------------
mkdir -p "$B/logs" "$B/tmp"
build() {
	cd "$ROOT" || return 1
	{ [ -x configure ] && [ configure -nt configure.ac ] && [ Makefile.in -nt Makefile.am ] &&
	  [ Makefile.in -nt tests/fuzz/Makefile.inc ]; } ||
		autoreconf -fi || return 1
	cd "$B" || return 1
	[ -f Makefile ] || "$ROOT/configure" -q --enable-fuzzing --enable-werror \
		CFLAGS="${FUZZ_CFLAGS:--O1 -g}" || return 1
	make -s -j"$JOBS" fuzzers
}
if ! build > "$B/logs/build.log" 2>&1; then
	tail -25 "$B/logs/build.log" | sed 's/^/# /'
	echo "not ok - build: configure --enable-fuzzing or make fuzzers failed (see $B/logs/build.log)"
	echo "0 passed, 1 failed"
	exit 1
fi
[ "$ACTION" = build ] && { echo "built in $B/tests/fuzz"; exit 0; }

# ---- one harness ----------------------------------------------------------------
# Writes $B/results/NAME: "ok|not ok<TAB>text" and, in --long mode, the
# figures "execs<TAB>exec/s<TAB>cov<TAB>ft<TAB>corpus<TAB>seconds".
stat_of() { sed -n "s/^stat::$1: *//p" "$2" | tail -1; }
run_one() {
	local n=$1 bin=$B/tests/fuzz/fuzz_$1 seeds=$FZ/corpus/$1 log=$B/logs/$1.log
	local work=$B/corpus/$1 art=$B/artifacts/$1/ res=$B/results/$1
	local opts=() files=() t0 t1 rc line execs rate cov ft corp found
	mkdir -p "$work" "$art"
	rm -f "$art"/*	# reproducers of this run only
	: > "$log"
	if [ ! -x "$bin" ]; then
		printf 'not ok\t%s\n' "fuzz_$n was not built (its configure condition is off?)" > "$res"
		return
	fi
	files=("$seeds"/*)
	if [ ! -f "${files[0]}" ]; then
		printf 'not ok\t%s\n' "no seed corpus in tests/fuzz/corpus/$n/" > "$res"
		return
	fi
	# one allocation over 512 MiB is a finding: no parser needs that much
	opts=(-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 -print_final_stats=1
	      -artifact_prefix="$art")
	[ -f "$FZ/$n.dict" ] && opts+=(-dict="$FZ/$n.dict")
	[ -f "$FZ/$n.options" ] && mapfile -t -O "${#opts[@]}" opts < <(grep -vE '^(#|$)' "$FZ/$n.options")
	# 1. every checked-in input once (seeds and regress-*: each must pass)
	echo "== corpus: ${#files[@]} files" >> "$log"
	if ! TMPDIR=$B/tmp "$bin" "${opts[@]}" "${files[@]}" >> "$log" 2>&1; then
		found=$(grep -m1 -E 'ERROR|FUZZ_CHECK|runtime error' "$log")
		printf 'not ok\t%s\n' "an input of tests/fuzz/corpus/$n fails: ${found:-see $log}" > "$res"
		return
	fi
	# 2. fuzzing from the corpus
	echo "== fuzzing ($MODE)" >> "$log"
	if [ "$MODE" = long ]; then opts+=(-runs="$RUNS"); else opts+=(-max_total_time="$TIME"); fi
	t0=$(date +%s)
	TMPDIR=$B/tmp "$bin" "${opts[@]}" "$work" "$seeds" >> "$log" 2>&1
	rc=$?
	t1=$(date +%s)
	execs=$(stat_of number_of_executed_units "$log")
	rate=$(stat_of average_exec_per_sec "$log")
	line=$(grep -E '^#[0-9]+' "$log" | grep -E 'cov: ' | tail -1)
	cov=$(echo "$line" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$line" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$line" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
	if [ "$rc" -ne 0 ]; then
		found=$(grep -m1 -E '^==[0-9]+==.*(ERROR|WARNING)|FUZZ_CHECK|runtime error|ERROR: libFuzzer' "$log")
		printf 'not ok\t%s\n' "finding after ${execs:-?} executions: ${found:-exit $rc}; reproducer in $art (log $log)" > "$res"
		return
	fi
	if [ "$MODE" = long ] && [ "${execs:-0}" -lt "$RUNS" ]; then
		printf 'not ok\t%s\n' "only ${execs:-0} of $RUNS executions (log $log)" > "$res"
		return
	fi
	printf 'ok\t%s\n' "${#files[@]} corpus inputs, then $((t1 - t0)) s of fuzzing: ${execs:-?} executions (${rate:-?}/s), cov ${cov:-?} ft ${ft:-?}, corpus ${corp:-?}" > "$res"
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "${execs:-0}" "${rate:-0}" "${cov:-0}" "${ft:-0}" "${corp:-0}" "$((t1 - t0))" > "$res.figures"
}

# ---- all of them, JOBS at a time -------------------------------------------------
NAMES=()
if [ ${#ONLY[@]} -gt 0 ]; then NAMES=("${ONLY[@]}"); else mapfile -t NAMES < <(harnesses); fi
rm -rf "$B/results"
mkdir -p "$B/results"
export ASAN_OPTIONS=${FUZZ_ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${FUZZ_UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
running=0
for n in "${NAMES[@]}"; do
	if [ ! -f "$FZ/fuzz_$n.c" ]; then
		printf 'not ok\t%s\n' "no harness tests/fuzz/fuzz_$n.c" > "$B/results/$n"
		continue
	fi
	run_one "$n" &
	running=$((running + 1))
	if [ "$running" -ge "$JOBS" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait

passed=0
failed=0
for n in "${NAMES[@]}"; do
	r=$B/results/$n
	[ -f "$r" ] || printf 'not ok\t%s\n' "no result" > "$r"
	IFS=$'\t' read -r status text < "$r"
	echo "$status - $n: $text"
	if [ "$status" = ok ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
if [ "$MODE" = long ]; then
	echo
	echo "| harness | executions | exec/s | cov | ft | corpus | seconds |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	for n in "${NAMES[@]}"; do
		[ -f "$B/results/$n.figures" ] || continue
		IFS=$'\t' read -r e r c f k s < "$B/results/$n.figures"
		echo "| $n | $e | $r | $c | $f | $k | $s |"
	done
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
