# Shared by tests/fuzz/run.sh (make fuzz) and tests/cases/fuzz.sh (make check).
# Needs SRC (the repo root).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
FUZZ_JOBS_DEFAULT="$(nproc 2>/dev/null || echo 1)"

# The dictionary of a target, if it has one.
fuzz_dict() {
        case "$1" in
        pubkey | seckey | verify-sig) echo "$SRC/tests/fuzz/minisign.dict" ;;
        *) [ -f "$SRC/tests/fuzz/$1.dict" ] && echo "$SRC/tests/fuzz/$1.dict" ;;
        esac
}

# fuzz_parallel JOBS FUNC NAME...: run FUNC NAME for every name, at most JOBS at once.
fuzz_parallel() {
        local jobs="$1" fn="$2" running=0 n
        shift 2
        for n in "$@"; do
                "$fn" "$n" &
                running=$((running + 1))
                if [ "$running" -ge "$jobs" ]; then
                        wait -n
                        running=$((running - 1))
                fi
        done
        wait
}
