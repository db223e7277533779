#!/bin/bash
# Faults while writing the output (issue 8): a full file system, a read-only
# output folder, `ulimit -f` exceeded (SIGXFSZ), two builds of one output at
# once. Each must end with one clear error (or success), exit 1 on failure,
# and leave no image and no temporary file behind.
# SIGINT/SIGTERM/SIGKILL mid-build and the stalled concurrent build are in
# tests/cases/build.sh. The mounts need root (tests run as root here).
source "$(dirname "$0")/../lib/testlib.sh"
umask 022
M="$MKIMAGE"
OUTS="x.img x.img.manifest.yaml x.img.manifest.yaml.minisig x.img.manifest-b.yaml x.img.manifest-b.yaml.minisig"

# The demo model without the (large) kernel component, paths made absolute.
sed -e "s|\.\./|$SRC/|g" -e '/- name: kernel/,+2d' "$SRC/models/demo-x86_64.yaml" >"$T/m.yaml"
build() { "$M" build "$T/m.yaml" --data-key "$DATA_KEY" -o "$1"; }

MNT="$T/mnt"
mkdir "$MNT"
trap 'umount "$MNT" 2>/dev/null; rm -rf "$T"' EXIT

# one_line_error NAME RC STDERR_FILE DIR PREFIX SUFFIX: exit RC, stderr is one
# line starting with PREFIX and ending with SUFFIX, DIR is empty.
one_line_error() {
        local name="$1" rc="$2" err="$3" dir="$4" prefix="$5" suffix="$6" why=""
        [ "$rc" == 1 ] || why="exit $rc, want 1"
        [ "$(wc -l <"$err")" == 1 ] || why="${why:+$why; }stderr is $(wc -l <"$err") lines"
        local line
        line="$(cat "$err")"
        [[ "$line" == "$prefix"* ]] || why="${why:+$why; }[$line] does not start with [$prefix]"
        [[ "$line" == *"$suffix" ]] || why="${why:+$why; }[$line] does not end with [$suffix]"
        [ -z "$(ls -A "$dir")" ] || why="${why:+$why; }left behind: $(ls -A "$dir" | tr '\n' ' ')"
        if [ -z "$why" ]; then pass "$name"; else fail "$name" "$why"; fi
}

# ---- a full file system --------------------------------------------------------
# The image is sparse (about 8 MiB allocated of 512 MiB): tmpfs sizes of 1, 2,
# 3 and 7 MiB run out in different writers (the root squashfs, the dm-verity
# tree, the LUKS2 header, the ESP). Each must fail with one line that names
# the output (not its temporary file) and says ENOSPC, exit 1, and leave
# nothing.
for sz in 1 2 3 7; do
        if mount -t tmpfs -o size=${sz}m tmpfs "$MNT"; then
                rc=0; build "$MNT/x.img" >/dev/null 2>"$T/err" || rc=$?
                one_line_error "full-fs-${sz}m" "$rc" "$T/err" "$MNT" "mkimage: $MNT/x.img: " ": No space left on device"
                umount "$MNT"
        else
                fail "full-fs-${sz}m" "cannot mount a tmpfs on $MNT (the test needs root)"
        fi
done
# With room enough, the same build succeeds there (the cases above fail only for space).
if mount -t tmpfs -o size=64m tmpfs "$MNT"; then
        rc=0; build "$MNT/x.img" >/dev/null 2>"$T/err" || rc=$?
        # shellcheck disable=SC2086
        if [ $rc = 0 ] && only_files "$MNT" $OUTS; then pass full-fs-64m-builds; else
                fail full-fs-64m-builds "exit $rc: $(cat "$T/err")"; fi
        umount "$MNT"
fi
# component pack into a full file system.
mkdir "$T/rnd" && head -c 3000000 /dev/urandom >"$T/rnd/blob"
if mount -t tmpfs -o size=1m tmpfs "$MNT"; then
        rc=0; "$M" component pack "$T/rnd" --meta "$SRC/components/hello/component.yaml" \
                -o "$MNT/x.comp" >/dev/null 2>"$T/err" || rc=$?
        one_line_error full-fs-1m-component-pack "$rc" "$T/err" "$MNT" "mkimage: $MNT/x.comp: " ": No space left on device"
        umount "$MNT"
fi

# ---- a read-only output folder --------------------------------------------------
# As root, modes are ignored: a read-only mount stands in for chmod 0555.
if mount -t tmpfs -o size=1m,ro tmpfs "$MNT"; then
        rc=0; build "$MNT/x.img" >/dev/null 2>"$T/err" || rc=$?
        expect_eq read-only-folder "$rc:$(cat "$T/err"):$(ls -A "$MNT")" \
                "1:mkimage: $MNT/x.img: cannot create a file in '$MNT': Read-only file system (check the folder's permissions):"
        umount "$MNT"
else
        fail read-only-folder "cannot mount a read-only tmpfs on $MNT"
fi
# ... and a folder of mode 0555 for an unprivileged user, where setpriv exists.
mkdir -p "$T/ro" && chmod 0555 "$T/ro" && chmod 0755 "$T"
rc=0
NB="$(nobody_copy "$M" "$SRC/components/hello")"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$NB/$(basename "$M")" component pack "$NB/hello" \
        --meta "$NB/hello/component.yaml" -o "$T/ro/x.comp" >/dev/null 2>"$T/err" || rc=$?
expect_eq read-only-folder-unprivileged "$rc:$(cat "$T/err"):$(ls -A "$T/ro")" \
        "1:mkimage: $T/ro/x.comp: cannot create a file in '$T/ro': Permission denied (check the folder's permissions):"
chmod 0700 "$T"

# ---- ulimit -f: SIGXFSZ is ignored, write() fails with EFBIG, nothing is left ------
mkdir "$T/fsz"
rc=0; (ulimit -f 10240; build "$T/fsz/x.img") >/dev/null 2>"$T/err" || rc=$?
expect_eq ulimit-f-build "$rc:$(cat "$T/err"):$(ls -A "$T/fsz")" \
        "1:mkimage: $T/fsz/x.img: while writing the superblock: File too large:"
rc=0; (ulimit -f 1000; "$M" component pack "$T/rnd" --meta "$SRC/components/hello/component.yaml" \
        -o "$T/fsz/x.comp") >/dev/null 2>"$T/err" || rc=$?
one_line_error ulimit-f-component-pack "$rc" "$T/err" "$T/fsz" "mkimage: $T/fsz/x.comp: " ": File too large"

# ---- two builds of one output at once ---------------------------------------------
# Started together (no stall): both succeed, one after the other; the result
# verifies and equals a serial build outside the LUKS2 data partition.
mkdir "$T/serial" "$T/two"
build "$T/serial/x.img" >/dev/null 2>&1
build "$T/two/x.img" >/dev/null 2>"$T/two1.err" & p1=$!
build "$T/two/x.img" >/dev/null 2>"$T/two2.err" & p2=$!
rc1=0; wait $p1 || rc1=$?
rc2=0; wait $p2 || rc2=$?
waitline="mkimage: warning: another build is writing into '$T/two'; waiting for it to finish"
errs="$(cat "$T/two1.err" "$T/two2.err")"
if [ "$rc1:$rc2" == 0:0 ] && { [ -z "$errs" ] || [ "$errs" == "$waitline" ]; }; then
        pass concurrent-both-succeed
else
        fail concurrent-both-succeed "exit $rc1 and $rc2: $errs"
fi
check concurrent-result-verifies bash -c '"$@" >/dev/null' _ "$M" verify "$T/two/x.img" --pub "$BUILD/keys/dev.pub"
check concurrent-equals-serial cmp_except_data "$T/two/x.img" "$T/serial/x.img"
for f in manifest.yaml manifest.yaml.minisig manifest-b.yaml manifest-b.yaml.minisig; do
        check "concurrent-equals-serial-$f" cmp "$T/two/x.img.$f" "$T/serial/x.img.$f"
done
# shellcheck disable=SC2086
check concurrent-only-outputs only_files "$T/two" $OUTS
