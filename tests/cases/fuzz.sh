#!/bin/bash
# SPDX-License-Identifier: MIT
# The libFuzzer targets under `make check` (STYLE §15, docs/fuzzing.md): each
# fuzzer replays every file of its seed corpus (tests/fuzz/corpus/NAME/),
# then fuzzes FUZZ_CHECK_SECONDS (default 20) of fresh inputs on a scratch
# copy of it. One line per target: PASS: fuzz/NAME, or FAIL with the reason
# and the crash input, kept under $BUILD/fuzz/crashes/.
# `make check` builds the fuzzers; FUZZ_CHECK_SECONDS=0 replays only; the
# fuzzing is seeded (FUZZ_CHECK_SEED, default 1).
source "$(dirname "$0")/../lib/testlib.sh"

FUZZ="$BUILD/fuzz"
SECS="${FUZZ_CHECK_SECONDS:-20}"
# A fixed seed: `make check` explores the same mutations each run, so its verdict does not change by luck;
# `make fuzz` (random seeds, longer) is where new inputs are looked for. FUZZ_CHECK_SEED=N for another one.
SEED="${FUZZ_CHECK_SEED:-1}"
. "$SRC/tests/fuzz/common.sh"
JOBS="${FUZZ_JOBS:-$FUZZ_JOBS_DEFAULT}"

# why LOG: the first line that says what went wrong.
why() {
        grep -m1 -E "^==[0-9]+==ERROR|^SUMMARY|^fuzz: |ALARM: working|out-of-memory|runtime error|malloc\(.*exceeds" "$1" ||
                echo "see $1"
}

# keep LOG: copy the inputs libFuzzer wrote (crash-*, leak-*, ...) to $FUZZ/crashes.
keep() {
        local f out=""
        mkdir -p "$FUZZ/crashes"
        for f in $(grep -oE "Test unit written to [^ ]+" "$1" | sed 's/Test unit written to //'); do
                [ -f "$f" ] && cp "$f" "$FUZZ/crashes/" && out="$out $FUZZ/crashes/${f##*/}"
        done
        echo "${out:- (no input written)}"
}

# one NAME: replay, then fuzz; writes the verdict to $T/NAME.verdict.
one() {
        local name="$1" bin="$FUZZ/fuzz-$1" dir="$T/$1" dict
        local corpus="$SRC/tests/fuzz/corpus/$1"
        mkdir -p "$dir/work" "$dir/art"
        dict="$(fuzz_dict "$name")"
        # Replay: each seed file once (no fuzzing, nothing written anywhere).
        local files=("$corpus"/*)
        if ! (cd "$dir" && "$bin" -timeout=5 -rss_limit_mb=2048 -artifact_prefix="$dir/art/$name-replay-" \
                "${files[@]}" >"$dir/replay.log" 2>&1); then
                echo "FAIL replaying tests/fuzz/corpus/$name: $(why "$dir/replay.log"); input:$(keep "$dir/replay.log")" \
                        >"$T/$name.verdict"
                return
        fi
        if [ "$SECS" -gt 0 ]; then
                cp -R "$corpus/." "$dir/work/"
                if ! (cd "$dir" && "$bin" work -max_total_time="$SECS" -seed="$SEED" -timeout=5 -rss_limit_mb=2048 \
                        -artifact_prefix="$dir/art/$name-" -print_final_stats=1 ${dict:+-dict="$dict"} \
                        >"$dir/fuzz.log" 2>&1); then
                        echo "FAIL fuzzing: $(why "$dir/fuzz.log"); input:$(keep "$dir/fuzz.log")" >"$T/$name.verdict"
                        return
                fi
        fi
        local execs
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/fuzz.log" 2>/dev/null | tail -1)
        echo "PASS ${#files[@]} seeds, ${execs:-0} fresh executions" >"$T/$name.verdict"
}

names=()
for c in "$SRC"/tests/fuzz/fuzz-*.c; do
        n="${c##*/fuzz-}"
        names+=("${n%.c}")
done
built_one() {
        if [ ! -x "$FUZZ/fuzz-$1" ]; then
                echo "FAIL not built: $FUZZ/fuzz-$1 (make check builds it; or: make $FUZZ/fuzz-$1)" >"$T/$1.verdict"
                return
        fi
        one "$1"
}
fuzz_parallel "$JOBS" built_one "${names[@]}"

for n in "${names[@]}"; do
        v="$(cat "$T/$n.verdict" 2>/dev/null || echo "FAIL no verdict")"
        case "$v" in
        PASS*)
                pass "$n"
                echo "    [fuzz/$n] ${v#PASS }" >&2
                ;;
        *) fail "$n" "${v#FAIL }" ;;
        esac
done
