#!/bin/bash
# Valgrind memcheck over the main verbs (issue 8): zero errors, zero definite
# leaks. The model is the demo without the kernel component (15 MB, slow under
# valgrind); everything else, LUKS2 with pbkdf2 included, is as in the demo.
# About 25 s in all here.
source "$(dirname "$0")/../lib/testlib.sh"
umask 022
M="$MKIMAGE"
if ! command -v valgrind >/dev/null; then
        fail valgrind-installed "valgrind is missing (make deps installs it)"
        exit 0
fi

sed -e "s|\.\./|$SRC/|g" -e '/- name: kernel/,+2d' "$SRC/models/demo-x86_64.yaml" >"$T/m.yaml"
sed -e 's/encryption: luks2/encryption: none/' -e '/^  \(cipher\|pbkdf\|key-source\):/d' "$T/m.yaml" >"$T/plain.yaml"
mkdir "$T/o"

# What valgrind logs about itself, not about mkimage: an ioctl it has no
# wrapper for (libfdisk asks each loop device for its backing file, to see
# whether the image is in use: LOOP_GET_STATUS64 on machines that have loop
# devices). Errors it might cause are still errors and still fail.
vg_report() {
        grep -v -e 'Warning: noted but unhandled ioctl 0x4c05 ' -e 'This could cause spurious value errors' \
                -e 'README_MISSING_SYSCALL_OR_IOCTL' "$T/vg.log"
}

# vg NAME CMD...: CMD under memcheck exits 0; any error or definite leak makes
# valgrind exit 99 and the report is shown.
vg() {
        local name="$1"; shift
        local rc=0
        timeout 300 valgrind -q --tool=memcheck --error-exitcode=99 --leak-check=full \
                --errors-for-leak-kinds=definite --log-file="$T/vg.log" "$@" >"$T/vg.out" 2>"$T/vg.err" || rc=$?
        if [ $rc = 0 ] && [ -z "$(vg_report)" ]; then
                pass "$name"
        else
                fail "$name" "exit $rc: $(head -c 300 "$T/vg.err") $(vg_report | head -c 3000)"
        fi
}

vg build-luks2 "$M" build "$T/m.yaml" --data-key "$DATA_KEY" -o "$T/o/x.img"
vg build-plain "$M" build "$T/plain.yaml" -o "$T/o/p.img"
vg verify "$M" verify "$T/o/x.img" --pub "$BUILD/keys/dev.pub"
vg verify-data-key "$M" verify "$T/o/x.img" --pub "$BUILD/keys/dev.pub" --data-key "$DATA_KEY"
vg verify-plain-data "$M" verify "$T/o/p.img" --pub "$BUILD/keys/dev.pub"
vg inspect "$M" inspect "$T/o/x.img"
vg inspect-json "$M" inspect --json "$T/o/p.img"

mkdir -p "$T/src/usr/bin" "$T/src/etc"
printf 'hello\n' >"$T/src/etc/hello.conf"
seq 1 20000 >"$T/src/usr/bin/tool" && chmod 755 "$T/src/usr/bin/tool"
ln "$T/src/usr/bin/tool" "$T/src/usr/bin/tool2" && ln -s tool "$T/src/usr/bin/t"
vg component-pack "$M" component pack "$T/src" --meta "$SRC/components/hello/component.yaml" -o "$T/o/c.comp"
vg component-show "$M" component show "$T/o/c.comp" --list
vg keygen "$M" keygen "$T/k"
vg sign "$M" sign "$T/o/c.comp" --key "$T/k.key"
vg verify-sig "$M" verify-sig "$T/o/c.comp" --pub "$T/k.pub"

# Error paths must not leak either.
vg-fail() {
        local name="$1" want="$2"; shift 2
        local rc=0
        timeout 300 valgrind -q --tool=memcheck --error-exitcode=99 --leak-check=full \
                --errors-for-leak-kinds=definite --log-file="$T/vg.log" "$@" >/dev/null 2>"$T/vg.err" || rc=$?
        if [ $rc = "$want" ] && [ -z "$(vg_report)" ]; then pass "$name"; else
                fail "$name" "exit $rc, want $want: $(head -c 300 "$T/vg.err") $(vg_report | head -c 3000)"; fi
}
head -c 64 /dev/urandom >"$T/wrong.key" && chmod 600 "$T/wrong.key"
vg-fail verify-wrong-data-key 1 "$M" verify "$T/o/x.img" --pub "$BUILD/keys/dev.pub" --data-key "$T/wrong.key"
cp --sparse=always "$T/o/x.img" "$T/o/y.img" && for f in "$T"/o/x.img.manifest*; do cp "$f" "$T/o/y.img${f#"$T/o/x.img"}"; done
read -r start _ <<<"$(part_offset "$T/o/y.img" data)"
printf '\x00' | dd of="$T/o/y.img" bs=1 seek=$((start + 16384 + 4196)) conv=notrunc status=none
vg-fail verify-luks2-second-copy-broken 1 "$M" verify "$T/o/y.img" --pub "$BUILD/keys/dev.pub" --data-key "$DATA_KEY"
vg-fail verify-sig-wrong-key 1 "$M" verify-sig "$T/o/c.comp" --pub "$BUILD/keys/dev.pub"
vg-fail build-untrusted-signer 1 "$M" build "$(sed "s|$BUILD/keys/dev.pub|$T/k.pub|" "$T/plain.yaml" >"$T/bad.yaml"; echo "$T/bad.yaml")" -o "$T/o/bad.img"
check error-paths-leave-nothing test ! -e "$T/o/bad.img"
