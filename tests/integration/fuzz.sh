#!/usr/bin/env bash
# Fuzzing in regression mode (issue 18): tests/fuzz/run.sh builds every
# libFuzzer harness (configure --enable-fuzzing, clang, in _build/fuzz),
# runs each over its checked-in corpus, then fuzzes it for FUZZ_TIME
# seconds (10). One "ok" per harness that did both without a finding.
# clang and libFuzzer are installed by tests/scripts/install-deps.sh: if
# they are missing this fails and says so, it never skips.
. "$(dirname "$0")/lib.sh"

FZ_OUT=$STATE/fuzz.out
FZ_NEED="clang libfuzzer-14-dev libclang-rt-14-dev (tests/scripts/install-deps.sh)"

if ! command -v clang > /dev/null 2>&1; then
	fail "clang is installed" "clang not found: install $FZ_NEED"
	finish
	exit 1
fi
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
	'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
	'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return d && n > 1 ? 0 : 0; }' \
	> "$STATE/probe.c"
if ! clang -fsanitize=fuzzer,address,undefined -o "$STATE/probe" "$STATE/probe.c" \
	> "$STATE/probe.log" 2>&1; then
	fail "clang links a libFuzzer harness" "$(head -3 "$STATE/probe.log" | tr '\n' ' ')- install $FZ_NEED"
	finish
	exit 1
fi
pass "clang links a libFuzzer harness with ASan and UBSan"

mapfile -t WANT < <(bash "$IT_ROOT/tests/fuzz/run.sh" --list)
bash "$IT_ROOT/tests/fuzz/run.sh" > "$FZ_OUT" 2>&1
rc=$?
seen=0
while IFS= read -r line; do
	case "$line" in
	"ok - "*) pass "${line#ok - }"; seen=$((seen + 1)) ;;
	"not ok - "*) r=${line#not ok - }; fail "${r%%: *}" "${r#*: }"; seen=$((seen + 1)) ;;
	"# "*) echo "$line" ;;
	esac
done < "$FZ_OUT"
expect "every harness reported (${WANT[*]})" "$seen" "${#WANT[@]}"
[ "$rc" -eq 0 ] || [ "$FAILED" -gt 0 ] || fail "tests/fuzz/run.sh exit status" "$rc (see $FZ_OUT)"
finish
