# The demo components built by `make components`: their listings equal the
# golden files (sizes of the two compiled/packaged binaries are masked, they
# follow Debian's busybox-static and the toolchain), their signatures verify
# with the stock minisign, and the packing is deterministic.
. "$(dirname "$0")/../lib/testlib.sh"
cd "$SRC"
C="$BUILD/components"

listing() { # COMP: unsquashfs -lls, binaries' sizes masked
        TZ=UTC unsquashfs -lls "$1" |
                sed -E 's#^(-\S+ \S+) +[0-9]+ (.* squashfs-root/(bin/busybox|usr/bin/hello|usr/sbin/mkimage-update))$#\1 SIZE \2#'
}

for c in base hello; do
        listing "$C/$c.comp" >"$T/$c.lls"
        expect_file_eq "golden-$c" "$T/$c.lls" "tests/golden/component-$c.lls"
        if minisign -Vm "$C/$c.comp" -p "$BUILD/keys/dev.pub" -x "$C/$c.comp.minisig" >/dev/null 2>&1; then
                pass "minisign-verifies-$c"
        else
                fail "minisign-verifies-$c"
        fi
done

# Rebuilding a component from its recipe gives the same bytes.
bash components/hello/build.sh "$T/hello" >/dev/null 2>&1
"$MKIMAGE" component pack "$T/hello" --meta components/hello/component.yaml -o "$T/hello.comp" >/dev/null 2>&1
check repack-identical cmp "$T/hello.comp" "$C/hello.comp"
