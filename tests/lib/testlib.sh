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
# A LUKS2 key for builds of models with an encrypted data partition.
DATA_KEY="$T/.data.key"
head -c 64 /dev/urandom >"$DATA_KEY" && chmod 600 "$DATA_KEY"

# cmp_except_data A B: two images are byte-identical outside their data
# partition (LUKS2 has random salts and a random volume key by design).
cmp_except_data() {
        python3 - "$1" "$2" <<'PY'
import json, subprocess, sys
def parts(p):
    t = json.loads(subprocess.check_output(["sfdisk", "-J", p]))["partitiontable"]
    return [(q["start"] * 512, q["size"] * 512) for q in t["partitions"] if q["type"].upper() == "0FC63DAF-8483-4772-8E79-3D69D8477DE4"]
a, b = sys.argv[1], sys.argv[2]
skip = parts(a)
if skip != parts(b):
    sys.exit(1)
with open(a, "rb") as fa, open(b, "rb") as fb:
    pos = 0
    fa.seek(0, 2); size = fa.tell(); fb.seek(0, 2)
    if fb.tell() != size:
        sys.exit(1)
    fa.seek(0); fb.seek(0)
    while pos < size:
        end = size
        for s, l in skip:
            if s <= pos < s + l:
                pos = s + l; fa.seek(pos); fb.seek(pos); end = None; break
            if pos < s < end:
                end = s
        if end is None:
            continue
        n = min(end - pos, 1 << 20)
        if fa.read(n) != fb.read(n):
            sys.exit(1)
        pos += n
PY
}

pass() { echo "PASS: $SUITE/$1"; }
fail() { echo "FAIL: $SUITE/$1${2:+: $2}"; }
# skip NAME REASON: a case that cannot run here, said and counted (tests/run lists them), never silent.
skip() { echo "SKIP: $SUITE/$1: $2"; }

# nobody_copy FILE...: copies of FILEs (binaries, inputs) in a folder user nobody can read, for cases
# that run as nobody: the checkout itself may sit in a folder others cannot enter (a 0700 home).
# Prints the folder; the copies keep their names.
nobody_copy() {
        local d="$T/for-nobody"
        mkdir -p "$d" && chmod 755 "$T" "$d" && cp -R "$@" "$d/" && chmod -R a+rX "$d" && echo "$d"
}

# check NAME CMD...: pass when CMD succeeds.
check() {
        local name="$1"; shift
        if "$@"; then pass "$name"; else fail "$name" "command failed: $*"; fi
}

# expect_run NAME RC WANT_STDERR CMD...: CMD exits RC and prints exactly
# WANT_STDERR on stderr (stdout goes to $T/out).
expect_run() {
        local name="$1" rc="$2" want="$3" got_rc=0 got
        shift 3
        "$@" >"$T/out" 2>"$T/err" || got_rc=$?
        got="$(cat "$T/err")"
        if [ "$got_rc" != "$rc" ]; then
                fail "$name" "exit $got_rc, want $rc: $got"
        elif [ "$got" != "$want" ]; then
                fail "$name" "stderr [$got] want [$want]"
        else
                pass "$name"
        fi
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

# part_offset IMG NAME: "START SIZE" in bytes of the GPT partition called NAME.
part_offset() {
        sfdisk -J "$1" | python3 -c '
import json, sys
for p in json.load(sys.stdin)["partitiontable"]["partitions"]:
    if p.get("name") == sys.argv[1]:
        print(p["start"] * 512, p["size"] * 512)' "$2"
}

# demo_model OUT [off]: models/demo-x86_64.yaml with absolute paths; with "off",
# its secure-boot section replaced by `secure-boot: off` (unsigned type #1
# entries), for the tests of what a type #1 ESP holds.
demo_model() {
        sed -e "s#\.\./build/#$BUILD/#g" -e "s#\.\./layouts/#$SRC/layouts/#" "$SRC/models/demo-x86_64.yaml" |
                if [ "${2:-}" = off ]; then
                        awk '/^secure-boot:/ { skip = 1; print "secure-boot: off"; next } skip && /^ / { next } { skip = 0; print }'
                else cat; fi >"$1"
}
