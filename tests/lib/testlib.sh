# Shared helpers for tests/cases/*.sh. Each case prints "PASS: name" or
# "FAIL: name: why" lines; tests/run counts them.
#
# Environment: MKIMAGE (the binary), BUILD (build dir), SRC (repo root),
# T (a fresh scratch directory removed afterwards).

: "${SRC:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${BUILD:=$SRC/build}"
: "${MKIMAGE:=$BUILD/mkimage}"
case "$BUILD" in /*) ;; *) BUILD="$SRC/$BUILD" ;; esac
case "$MKIMAGE" in /*) ;; *) MKIMAGE="$SRC/$MKIMAGE" ;; esac
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-1767225600}"
T="$(mktemp -d "${TMPDIR:-/tmp}/mkimage-test.XXXXXX")"
trap 'rm -rf "$T"' EXIT
SUITE="$(basename "${BASH_SOURCE[1]}" .sh)"

pass() { echo "PASS: $SUITE/$1"; }
fail() { echo "FAIL: $SUITE/$1${2:+: $2}"; }

# check NAME CMD...: pass when CMD succeeds.
check() {
        local name="$1"; shift
        if "$@"; then pass "$name"; else fail "$name" "command failed: $*"; fi
}

# expect_eq NAME GOT WANT
expect_eq() {
        if [ "$2" == "$3" ]; then pass "$1"; else
                fail "$1" "got [$2] want [$3]"
        fi
}

# expect_file_eq NAME GOT_FILE WANT_FILE: compare, show a diff on mismatch.
expect_file_eq() {
        if diff -u "$3" "$2" >"$T/.diff" 2>&1; then pass "$1"; else
                fail "$1" "differs from $3"; sed 's/^/    /' "$T/.diff" | head -40 >&2
        fi
}

# only_files DIR NAME...: DIR holds exactly the named entries (no leftovers).
only_files() {
        local dir="$1"; shift
        local got want
        got="$(cd "$dir" && ls -A | sort | tr '\n' ' ')"
        want="$(printf '%s\n' "$@" | sed '/^$/d' | sort | tr '\n' ' ')"
        [ "$got" == "$want" ]
}
