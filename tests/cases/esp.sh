# The ESP written in place into an image file (mkfs.vfat --offset + mtools
# IMAGE@@OFFSET), checked with the stock tools: fsck.vfat, mdir, mtype, minfo,
# cmp of two builds (plain and ASan binaries, different clocks and source
# mtimes), the too-big error, nothing written outside the partition; and the
# initrd appendix (newc cpio) read by GNU cpio.
. "$(dirname "$0")/../lib/testlib.sh"
cd "$SRC"
TOOL="$BUILD/tests/test-esp"
ASAN_TOOL="$BUILD/asan/tests/test-esp"
EFI=/usr/lib/systemd/boot/efi/systemd-bootx64.efi
OFF=$((1 << 20))
SIZE=$((64 << 20))
export MTOOLS_SKIP_CHECK=1 TZ=UTC

# Fixture: the boot files of two slots.
for s in a b; do
        mkdir -p "$T/fx/slot-$s"
        head -c 3000000 /dev/urandom >"$T/fx/slot-$s/vmlinuz"
        head -c 1500000 /dev/urandom >"$T/fx/slot-$s/initrd.img"
        printf 'mkimage-manifest: 1\nslot: %s\n' $s >"$T/fx/slot-$s/manifest.yaml"
        printf 'untrusted comment: signature of slot %s\n' $s >"$T/fx/slot-$s/manifest.yaml.minisig"
done

# new_image FILE: an 80 MiB sparse file with marker bytes just before the ESP,
# just after it, and at the very end.
new_image() {
        rm -f "$1"
        truncate -s 80M "$1"
        printf 'BEFORE-ESP-MARK!' | dd of="$1" bs=1 seek=$((OFF - 16)) conv=notrunc status=none
        printf 'AFTER--ESP-MARK!' | dd of="$1" bs=1 seek=$((OFF + SIZE)) conv=notrunc status=none
        printf 'END-OF-IMG-MARK!' | dd of="$1" bs=1 seek=$((80 * 1024 * 1024 - 16)) conv=notrunc status=none
}
markers() { # FILE: the three markers, one line
        echo "$(dd if="$1" bs=1 skip=$((OFF - 16)) count=16 status=none)" \
                "$(dd if="$1" bs=1 skip=$((OFF + SIZE)) count=16 status=none)" \
                "$(dd if="$1" bs=1 skip=$((80 * 1024 * 1024 - 16)) count=16 status=none)" \
                "$(stat -c %s "$1")"
}
MARKS="BEFORE-ESP-MARK! AFTER--ESP-MARK! END-OF-IMG-MARK! 83886080"
I="$T/one.img"

new_image "$I"
check write-demo-esp "$TOOL" demo "$I" $OFF $SIZE $EFI "$T/fx"
expect_eq markers-survive "$(markers "$I")" "$MARKS"

dd if="$I" of="$T/esp.part" bs=1M skip=1 count=64 status=none
if fsck.vfat -n "$T/esp.part" >"$T/fsck" 2>&1; then pass fsck-clean; else fail fsck-clean "$(cat "$T/fsck")"; fi
check fsck-no-remarks test "$(wc -l <"$T/fsck")" -eq 2 # version line + "N files, N/N clusters"

mdir -i "$I@@$OFF" -/ -b :: >"$T/tree"
cat >"$T/tree.want" <<'EOF'
::/EFI/
::/loader/
::/slot-a/
::/slot-b/
::/EFI/BOOT/
::/EFI/BOOT/BOOTX64.EFI
::/loader/entries/
::/loader/loader.conf
::/loader/entries/slot-a+3.conf
::/loader/entries/slot-b+3.conf
::/slot-a/initrd.img
::/slot-a/manifest.yaml
::/slot-a/manifest.yaml.minisig
::/slot-a/vmlinuz
::/slot-b/initrd.img
::/slot-b/manifest.yaml
::/slot-b/manifest.yaml.minisig
::/slot-b/vmlinuz
EOF
expect_file_eq mdir-tree "$T/tree" "$T/tree.want"

expect_eq loader-conf "$(mtype -i "$I@@$OFF" ::/loader/loader.conf)" \
        "# mkimage: no 'default' line on purpose; the entries' sort-keys pick the slot
timeout 0
editor no"
for s in a b; do # slot a boots first: the higher version, the smaller sort-key
        v=$([ $s = a ] && echo 2 || echo 1)
        expect_eq entry-slot-$s "$(mtype -i "$I@@$OFF" ::/loader/entries/slot-$s+3.conf)" "title Demo (slot $s)
version $v
sort-key mkimage-$((4294967295 - v))-$s
linux /slot-$s/vmlinuz
initrd /slot-$s/initrd.img
options console=ttyS0 mkimage.slot=$s"
done
mcopy -i "$I@@$OFF" ::/EFI/BOOT/BOOTX64.EFI "$T/boot.efi"
check bootx64-bytes cmp "$T/boot.efi" $EFI
ok=1
for s in a b; do
        for f in vmlinuz initrd.img manifest.yaml manifest.yaml.minisig; do
                mcopy -n -i "$I@@$OFF" "::/slot-$s/$f" "$T/got" && cmp -s "$T/got" "$T/fx/slot-$s/$f" || ok=0
        done
done
check slot-files-bytes test $ok = 1

minfo -i "$I@@$OFF" :: >"$T/minfo"
check fat32 grep -q 'disk type="FAT32   "' "$T/minfo"
check volume-label grep -q 'disk label="ESP        "' "$T/minfo"
expect_eq volume-label-entry "$(mlabel -s -i "$I@@$OFF" :: | sed "s/ *$//")" " Volume label is ESP"
check no-hidden-sectors grep -q '^hidden sectors: 0$' "$T/minfo"
expect_eq times-from-source-date-epoch \
        "$(mdir -i "$I@@$OFF" ::/slot-a | awk '/vmlinuz/ {print $3, $4}')" "2026-01-01 0:00"

# Reproducible: the ASan binary, two seconds later, sources with other mtimes,
# a partition full of junk beforehand: the same bytes, the whole image.
sleep 2
touch -d '2030-06-01 12:34:56' "$T"/fx/slot-*/*
I2="$T/two.img"
new_image "$I2"
head -c $SIZE /dev/zero | tr '\0' '\252' | dd of="$I2" bs=1M seek=1 conv=notrunc status=none
TZ=America/New_York check write-again-asan "$ASAN_TOOL" demo "$I2" $OFF $SIZE $EFI "$T/fx"
check two-builds-identical cmp "$I" "$I2"
check still-sparse test "$(du -k "$I2" | cut -f1)" -lt 20000

# The ESP's bytes depend on the inputs only: not on where the partition starts
# nor on the size of the image (mkfs.vfat would derive the cluster size and
# geometry from the image file's size), here a 10 GiB image at 2 MiB.
I4="$T/large.img"
truncate -s 10G "$I4"
check write-into-large-image "$TOOL" demo "$I4" $((2 << 20)) $SIZE $EFI "$T/fx"
check same-esp-any-offset-and-disk-size cmp "$T/esp.part" \
        <(dd if="$I4" bs=1M skip=2 count=64 status=none)
# The demo layout's 256 MiB ESP in a 1 GiB disk: still a valid FAT32 (65525+ clusters).
truncate -s 0 "$I4"
truncate -s 1G "$I4"
check write-256mib-esp "$TOOL" demo "$I4" $OFF $((256 << 20)) $EFI "$T/fx"
dd if="$I4" of="$T/esp256.part" bs=1M skip=1 count=256 status=none
check fsck-256mib-esp fsck.vfat -n "$T/esp256.part"
check fat32-cluster-count test "$(fsck.vfat -n "$T/esp256.part" | sed -n 's|.* files, [0-9]*/\([0-9]*\) clusters|\1|p')" -ge 65525
rm -f "$I4" "$T/esp256.part"

# A file that does not fit: a clear error, nothing written outside the partition.
I3="$T/big.img"
new_image "$I3"
truncate -s 70M "$T/huge"
if "$TOOL" esp "$I3" $OFF $SIZE EFI/BOOT/BOOTX64.EFI=@$EFI slot-a/vmlinuz=@"$T/huge" 2>"$T/err"; then
        fail too-big-refused "it was accepted"
else
        expect_eq too-big-message "$(cat "$T/err")" "$I3: ESP at byte 1048576: the ESP files do not fit: they need \
73543680 bytes (in 512-byte clusters, directories included) but the whole partition holds 67108864 bytes; the \
largest is 'slot-a/vmlinuz' (73400320 bytes). Make the ESP partition at least 7 MiB larger or the files smaller"
fi
expect_eq too-big-markers-survive "$(markers "$I3")" "$MARKS"
# Just too big: found after mkfs.vfat (FATs take their share); still nothing outside.
truncate -s $((SIZE - 200 * 1024)) "$T/huge"
if "$TOOL" esp "$I3" $OFF $SIZE slot-a/vmlinuz=@"$T/huge" 2>"$T/err"; then
        fail nearly-too-big-refused "it was accepted"
else
        check nearly-too-big-message grep -q "do not fit: .* but the FAT32 file system has room for" "$T/err"
fi
expect_eq nearly-too-big-markers-survive "$(markers "$I3")" "$MARKS"

# A missing tool names its package: with an empty PATH, mkfs.vfat is still
# found in /usr/sbin (the fallback), mmd in /usr/bin is not.
mkdir -p "$T/emptybin"
if PATH="$T/emptybin" "$TOOL" esp "$I3" $OFF $SIZE EFI/x=:x 2>"$T/err"; then
        fail missing-tool "it succeeded"
else
        check missing-tool-names-package grep -q "mmd: command not found in \$PATH, /usr/sbin or /sbin (install the \
Debian package 'mtools': apt-get install mtools)" "$T/err"
fi

# The initrd appendix: GNU cpio lists and extracts it, and reads it after another archive.
printf 'untrusted comment: minisign public key\nRWQAAAAAAAAAAA==\n' >"$T/trusted.pub"
check cpio-write "$TOOL" cpio "$T/app.cpio" etc/mkimage/trusted.pub=@"$T/trusted.pub" etc/mkimage/model=:demo-x86_64
check cpio-512-padded test $(($(stat -c %s "$T/app.cpio") % 512)) -eq 0
cpio -itv --quiet <"$T/app.cpio" >"$T/cpio.lst" 2>&1
cat >"$T/cpio.want" <<'EOF'
drwxr-xr-x   2 root     root            0 Jan  1  2026 etc
drwxr-xr-x   2 root     root            0 Jan  1  2026 etc/mkimage
-rw-r--r--   1 root     root           11 Jan  1  2026 etc/mkimage/model
-rw-r--r--   1 root     root           56 Jan  1  2026 etc/mkimage/trusted.pub
EOF
expect_file_eq cpio-listing "$T/cpio.lst" "$T/cpio.want"
mkdir -p "$T/x" "$T/base/bin" "$T/y"
(cd "$T/x" && cpio -idv --quiet <"$T/app.cpio" 2>/dev/null)
check cpio-extract-pub cmp "$T/x/etc/mkimage/trusted.pub" "$T/trusted.pub"
expect_eq cpio-extract-model "$(cat "$T/x/etc/mkimage/model")" "demo-x86_64"
echo hello >"$T/base/bin/hello"
(cd "$T/base" && find . | sort | cpio -o -H newc --quiet >"$T/base.cpio")
cat "$T/base.cpio" "$T/app.cpio" | (cd "$T/y" && cpio -id --quiet && cpio -id --quiet)
check cpio-after-base-archive test -f "$T/y/bin/hello" -a -f "$T/y/etc/mkimage/trusted.pub"
check cpio-reproducible cmp "$T/app.cpio" <("$ASAN_TOOL" cpio /dev/stdout etc/mkimage/model=:demo-x86_64 \
        etc/mkimage/trusted.pub=@"$T/trusted.pub")
