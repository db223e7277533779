#!/bin/bash
# Hostile components (issue 25): signed squashfs components crafted to crash,
# exhaust, forge output or slip through (tests/bad/components/README.md; made
# by tests/bad/components/make-corpus.py into $T). For each case, each of
#   show       mkimage component show X.comp
#   show-list  mkimage component show X.comp --list
#   build      mkimage build of a model with base + X (signed by dev)
# must: exit 1 (not a signal), print nothing on stdout and exactly one line
# on stderr, "mkimage: ...", naming X.comp and holding the case's substring
# (WANT below, case-insensitive), leave nothing in the output folder (the
# commands run in it), and stay within the time bound (1 s for show, 5 s for
# build) and 64 MiB of peak memory (the process's VmHWM, from wait4). Each
# run is capped at 60 s and a 2 GiB address space, so an exhaustion case
# fails instead of taking the machine down. control.comp, made the same way
# with nothing crafted, must pass all three, or the cases prove nothing.
# When $BUILD/asan/mkimage exists and is not older than $MKIMAGE, the two
# show commands run under it too (leaks included): exit and message checks,
# plus no AddressSanitizer or UBSan report; no time or memory bound there.
source "$(dirname "$0")/../lib/testlib.sh"
umask 022
OUT="$T/out"
SHOW_SECS=1
BUILD_SECS=5
MAX_KIB=$((64 << 10))

# case  substring the message must hold (besides the component's file name)
WANT="
deep               levels deep
name-slash         '/'
name-nul           NUL
name-dot           not a valid name
name-dotdot        not a valid name
dir-hardlink       directory hard link
shared-children    directory hard link
dir-loop           directory hard link
inode-count-lie    corrupt
setuid-undeclared  setuid
device-undeclared  device
"

# ---- the corpus -------------------------------------------------------------------
if python3 "$SRC/tests/bad/components/make-corpus.py" "$T" --key "$BUILD/keys/dev.key" --mkimage "$MKIMAGE" \
        >"$T/gen.log" 2>&1; then
        pass corpus-generated
else
        fail corpus-generated "$(tail -3 "$T/gen.log")"
        exit 0
fi
why=""
for c in control $(awk 'NF {print $1}' <<<"$WANT"); do
        [ -f "$T/$c.comp" ] || { why="$why $c.comp missing;"; continue; }
        "$MKIMAGE" verify-sig "$T/$c.comp" --pub "$BUILD/keys/dev.pub" >/dev/null 2>&1 || why="$why $c.comp: bad signature;"
done
if [ -z "$why" ]; then pass corpus-signed; else fail corpus-signed "$why"; fi

# ---- running one command ----------------------------------------------------------------
# measure LIMIT_AS CMD...: runs CMD (in $OUT, stdin /dev/null) with a 60 s
# timeout and, when LIMIT_AS is not 0, that address-space limit; stdout and
# stderr to $T/stdout and $T/stderr. Prints "RC SIGNAL SECONDS MAXRSS_KIB"
# (RC -1 and SIGNAL N when a signal ended it; "timeout" as SIGNAL when killed
# at 60 s).
cat >"$T/measure.py" <<'PY'
import os, resource, signal, subprocess, sys, time
limit, argv = int(sys.argv[1]), sys.argv[2:]
def pre():
    os.setpgid(0, 0)
    if limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
t0 = time.monotonic()
with open(os.environ["T"] + "/stdout", "wb") as o, open(os.environ["T"] + "/stderr", "wb") as e, \
        open(os.devnull, "rb") as i:
    p = subprocess.Popen(argv, stdin=i, stdout=o, stderr=e, cwd=os.environ["OUT"], preexec_fn=pre)
    timed_out = False
    deadline = t0 + 60
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            timed_out = True
            os.killpg(p.pid, signal.SIGKILL)
            pid, status, ru = os.wait4(p.pid, 0)
            break
        time.sleep(0.005)
secs = time.monotonic() - t0
sig = "timeout" if timed_out else (str(os.WTERMSIG(status)) if os.WIFSIGNALED(status) else "0")
rc = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
print(rc, sig, "%.2f" % secs, ru.ru_maxrss)
PY
export T OUT
# The interpreter itself, once: a python3 that is a shim (pyenv) costs ~1 s a start.
PY="$(python3 -c 'import sys; print(sys.executable)')"

# want CASE: the case's substring from WANT.
want() { awk -v c="$1" '$1 == c { sub(/^[^ ]+ +/, ""); print; exit }' <<<"$WANT"; }

# hostile NAME CASE SECS KIB CMD...: CMD must refuse CASE's component as
# the header says. SECS 0 / KIB 0: no time / memory bound (ASan), and then
# the stderr must hold no sanitizer report either.
hostile() {
        local name="$1" c="$2" secs="$3" kib="$4"; shift 4
        rm -rf "$OUT" && mkdir "$OUT" || { fail "$name" "cannot reset $OUT"; return; }
        local as=$((2 << 30))
        [ "$kib" == 0 ] && as=0
        local rc sig el rss
        read -r rc sig el rss < <("$PY" "$T/measure.py" "$as" "$@")
        local why="" w err
        w="$(want "$c")"
        err="$(head -c 600 "$T/stderr" | tr '\n' '|')"
        if [ "$sig" == timeout ]; then
                why="killed after 60 s (hang or exhaustion)"
        elif [ "$sig" != 0 ]; then
                why="killed by signal $sig ($(kill -l "$sig" 2>/dev/null))"
        elif [ "$rc" != 1 ]; then
                why="exit $rc, want 1"
        fi
        if [ "$(wc -l <"$T/stderr")" != 1 ] || [ "$(tail -c 1 "$T/stderr" | od -An -c | tr -d ' ')" != '\n' ]; then
                why="${why:+$why; }stderr is not one line: [$err]"
        elif ! grep -q '^mkimage: ' "$T/stderr"; then
                why="${why:+$why; }stderr does not start with 'mkimage: ': [$err]"
        else
                grep -qF "$c.comp" "$T/stderr" || why="${why:+$why; }message does not name $c.comp: [$err]"
                grep -qiF -- "$w" "$T/stderr" || why="${why:+$why; }message lacks \"$w\": [$err]"
        fi
        if [ "$kib" == 0 ] && grep -qE 'ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error' "$T/stderr"; then
                why="${why:+$why; }sanitizer report: $(grep -m1 -E 'ERROR: (Address|Leak)Sanitizer|runtime error' "$T/stderr")"
        fi
        [ -s "$T/stdout" ] && why="${why:+$why; }stdout not empty: [$(head -c 200 "$T/stdout" | tr '\n' '|')]"
        [ -z "$(ls -A "$OUT")" ] || why="${why:+$why; }left behind: $(ls -A "$OUT" | tr '\n' ' ')"
        if [ "$secs" != 0 ] && awk -v e="$el" -v s="$secs" 'BEGIN { exit !(e > s) }'; then
                why="${why:+$why; }took ${el}s, bound ${secs}s"
        fi
        if [ "$kib" != 0 ] && [ "$rss" -gt "$kib" ]; then
                why="${why:+$why; }peak memory $((rss >> 10)) MiB, bound $((kib >> 10)) MiB"
        fi
        if [ -z "$why" ]; then pass "$name"; else fail "$name" "$why"; fi
}

# model FILE NAME COMP: base + the component NAME at COMP, trusted key and
# signer dev (as in hostile.sh).
model() {
        cat >"$1" <<EOF
model: hostile
brand: example
version: 1
architecture: x86_64
grade: signed
layout: $SRC/layouts/uefi-ab.yaml
signing-key: $BUILD/keys/dev.key
trusted-keys:
  dev: $BUILD/keys/dev.pub
components:
  - name: base
    file: $BUILD/components/base.comp
    signer: dev
  - name: $2
    file: $3
    signer: dev
data:
  encryption: none
EOF
}

# ---- the control: the same pipeline, nothing crafted ----------------------------------
control() { # NAME WANT_STDOUT_LINES CMD...
        local name="$1" lines="$2"; shift 2
        rm -rf "$OUT" && mkdir "$OUT"
        local rc sig el rss
        read -r rc sig el rss < <("$PY" "$T/measure.py" $((2 << 30)) "$@")
        if [ "$rc:$sig" == 0:0 ] && [ ! -s "$T/stderr" ] && [ "$(wc -l <"$T/stdout")" -ge "$lines" ]; then
                pass "$name"
        else
                fail "$name" "exit $rc signal $sig: $(head -c 400 "$T/stderr")"
        fi
}
control control/show 6 "$MKIMAGE" component show "$T/control.comp"
control control/show-list 10 "$MKIMAGE" component show "$T/control.comp" --list
model "$T/m-control.yaml" control "$T/control.comp"
control control/build 1 "$MKIMAGE" build "$T/m-control.yaml" -o "$OUT/x.img"
check control/build-output only_files "$OUT" x.img x.img.manifest.yaml x.img.manifest.yaml.minisig \
        x.img.manifest-b.yaml x.img.manifest-b.yaml.minisig

# ---- the cases ----------------------------------------------------------------------
ASAN=""
if [ -x "$BUILD/asan/mkimage" ]; then
        if [ "$BUILD/asan/mkimage" -ot "$MKIMAGE" ]; then
                skip asan "$BUILD/asan/mkimage is older than $MKIMAGE (make check rebuilds it)"
        else
                ASAN="$BUILD/asan/mkimage"
        fi
fi
for c in $(awk 'NF {print $1}' <<<"$WANT"); do
        comp="$T/$c.comp"
        hostile "$c/show" "$c" "$SHOW_SECS" "$MAX_KIB" "$MKIMAGE" component show "$comp"
        hostile "$c/show-list" "$c" "$SHOW_SECS" "$MAX_KIB" "$MKIMAGE" component show "$comp" --list
        model "$T/m-$c.yaml" "$c" "$comp"
        hostile "$c/build" "$c" "$BUILD_SECS" "$MAX_KIB" "$MKIMAGE" build "$T/m-$c.yaml" -o "$OUT/x.img"
        if [ -n "$ASAN" ]; then
                ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1" \
                        hostile "$c/show:asan" "$c" 0 0 "$ASAN" component show "$comp"
                ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1" \
                        hostile "$c/show-list:asan" "$c" 0 0 "$ASAN" component show "$comp" --list
        fi
done
