#!/bin/bash
# SPDX-License-Identifier: MIT
# Run the libFuzzer targets (make fuzz; see docs/fuzzing.md).
#
#   tests/fuzz/run.sh [NAME...]     NAME: model, layout, gpt, ... (default: all built)
#
# Each fuzzer runs FUZZ_SECONDS (default 60) on a fresh copy of its seed
# corpus in $BUILD/fuzz/work/NAME/ (the checked-in corpus is never written),
# FUZZ_JOBS (default: the number of cores) at a time. Crashes, leaks,
# timeouts (-timeout=5) and out-of-memory inputs (-rss_limit_mb=2048) are
# kept under $BUILD/fuzz/crashes/ and make the run fail; each fuzzer's log is
# $BUILD/fuzz/work/NAME.log. Prints the executions per target.
#
# FUZZ_MERGE=1 afterwards merges the inputs that add coverage into
# tests/fuzz/corpus/NAME/ (libFuzzer -merge=1): a deliberate step, review
# and commit the new files like any other change.
set -uo pipefail
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${BUILD:-build}"
case "$BUILD" in /*) ;; *) BUILD="$SRC/$BUILD" ;; esac
SECONDS_EACH="${FUZZ_SECONDS:-60}"
. "$SRC/tests/fuzz/common.sh"
JOBS="${FUZZ_JOBS:-$FUZZ_JOBS_DEFAULT}"
OUT="$BUILD/fuzz"

# run_one NAME: fuzz one target; its summary line goes to work/NAME.result.
run_one() {
        local name="$1" bin="$OUT/fuzz-$1" work="$OUT/work/$1"
        local dict rc
        rm -rf "$work" "$work.log" "$work.result"
        mkdir -p "$work/corpus" "$OUT/crashes"
        cp -R "$SRC/tests/fuzz/corpus/$name/." "$work/corpus/" 2>/dev/null
        local before; before=$(find "$work/corpus" -type f | wc -l)
        dict="$(fuzz_dict "$name")"
        # A private cwd: libFuzzer writes nothing else, but a crashing
        # library call would leave its files here, not in the tree.
        (cd "$work" && "$bin" corpus -max_total_time="$SECONDS_EACH" -timeout=5 -rss_limit_mb=2048 \
                -artifact_prefix="$OUT/crashes/$name-" -print_final_stats=1 ${dict:+-dict="$dict"} \
                >"$work.log" 2>&1)
        rc=$?
        local execs secs after
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work.log" | tail -1)
        secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$work.log" | tail -1)
        after=$(find "$work/corpus" -type f | wc -l)
        local rate="?"
        [ -n "$execs" ] && [ -n "$secs" ] && [ "$secs" -gt 0 ] && rate=$((execs / secs))
        local found; found=$(grep -oE "Test unit written to [^ ]+" "$work.log" | sed 's/Test unit written to //' | tr '\n' ' ')
        if [ $rc -eq 0 ]; then
                printf 'ok   %-16s %10s execs in %4ss (%6s/s), corpus %d -> %d\n' "$name" "${execs:-?}" \
                        "${secs:-?}" "$rate" "$before" "$after" >"$work.result"
        else
                local what; what=$(grep -m1 -E "^==[0-9]+==ERROR|^SUMMARY|^fuzz: |ALARM: working on the last Unit|out-of-memory|runtime error" "$work.log")
                printf 'FAIL %-16s exit %d after %s execs: %s\n     input: %s\n     log: %s\n' "$name" $rc \
                        "${execs:-?}" "${what:-see the log}" "${found:-none written}" "$work.log" >"$work.result"
        fi
}

merge_one() {
        local name="$1"
        "$OUT/fuzz-$name" -merge=1 -timeout=5 -rss_limit_mb=2048 "$SRC/tests/fuzz/corpus/$name" \
                "$OUT/work/$name/corpus" >"$OUT/work/$name.merge.log" 2>&1 &&
                echo "merged into tests/fuzz/corpus/$name: $(sed -n 's/.*MERGE-OUTER: \([0-9]*\) new files.*/\1/p' \
                        "$OUT/work/$name.merge.log") new files"
}

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
        for b in "$OUT"/fuzz-*; do
                [ -x "$b" ] && names+=("${b##*/fuzz-}")
        done
fi
if [ ${#names[@]} -eq 0 ]; then
        echo "no fuzzers in $OUT: build them with 'make fuzz'" >&2
        exit 1
fi
for n in "${names[@]}"; do
        if [ ! -x "$OUT/fuzz-$n" ] || [ ! -d "$SRC/tests/fuzz/corpus/$n" ]; then
                echo "unknown fuzzer '$n' (no $OUT/fuzz-$n or tests/fuzz/corpus/$n)" >&2
                exit 1
        fi
done

echo "fuzzing ${#names[@]} targets, ${SECONDS_EACH}s each, $JOBS at a time (logs: $OUT/work/)"
fuzz_parallel "$JOBS" run_one "${names[@]}"

failed=0
for n in "${names[@]}"; do
        cat "$OUT/work/$n.result"
        grep -q '^FAIL' "$OUT/work/$n.result" && failed=$((failed + 1))
done
if [ "${FUZZ_MERGE:-0}" = 1 ]; then
        for n in "${names[@]}"; do merge_one "$n"; done
fi
if [ $failed -gt 0 ]; then
        echo "$failed fuzzer(s) failed; crash inputs are in $OUT/crashes/ (replay: $OUT/fuzz-NAME FILE)"
        exit 1
fi
echo "no crashes"
