# The ESP in a real build (issue: ESP and data partitions): systemd-boot,
# loader.conf without a default, one BLS entry per slot with boot counting,
# per slot the kernel component's kernel and initrd (with mkimage's cpio
# holding the trusted key and the model name appended) and the signed
# manifest, whose `boot` list gives each file's SHA-256. Checked with the
# stock tools (fsck.vfat, mdir, mtype/mcopy, cpio, sha256sum) and `mkimage
# verify`/`inspect`; bad kernel components and layouts are refused.
. "$(dirname "$0")/../lib/testlib.sh"
cd "$SRC"
K="$BUILD/keys"
C="$BUILD/components"
EFI=/usr/lib/systemd/boot/efi/systemd-bootx64.efi
export MTOOLS_SKIP_CHECK=1 TZ=UTC

# A stand-in kernel component: random "vmlinuz" and a real gzip'd newc initrd.
kernel_comp() { # NAME DIR-SETUP-FUNCTION
        local d="$T/$1.tree"
        mkdir -p "$d/ird"
        "$2" "$d"
        printf 'name: %s\nversion: 6.1.0\ntype: kernel\nlicense: GPL-2.0-only\nsupplier: test\n' "$1" >"$T/$1.yaml"
        rm -rf "$d/ird"
        "$MKIMAGE" component pack "$d" --meta "$T/$1.yaml" -o "$T/$1.comp" >/dev/null &&
                "$MKIMAGE" sign "$T/$1.comp" --key "$K/dev.key" >/dev/null
}
full_kernel() {
        head -c 1234567 /dev/urandom >"$1/vmlinuz"
        printf '#!/bin/sh\necho test initrd\n' >"$1/ird/init"
        (cd "$1/ird" && echo init | cpio -o -H newc --quiet | gzip -n >../initrd.img)
}
no_vmlinuz() { echo "no kernel here" >"$1/README"; }
kernel_comp kernel full_kernel
kernel_comp nokernel no_vmlinuz

model() { # FILE LAYOUT KERNEL-COMP [SECOND-KERNEL-COMP]
        cat >"$1" <<EOM
model: esp-test
brand: example
version: 7
architecture: x86_64
grade: signed
layout: $2
signing-key: $K/dev.key
data:
  encryption: none
trusted-keys:
  dev: $K/dev.pub
boot:
  console: ttyS0,115200
  cmdline: quiet
secure-boot: off
components:
  - name: base
    file: $C/base.comp
    signer: dev
  - name: $(basename "$3" .comp)
    file: $3
    signer: dev
EOM
        if [ -n "${4:-}" ]; then
                printf '  - name: %s\n    file: %s\n    signer: dev\n' "$(basename "$4" .comp)" "$4" >>"$1"
        fi
}

mkdir -p "$T/o"
model "$T/m.yaml" "$SRC/layouts/uefi-ab.yaml" "$T/kernel.comp"
I="$T/o/esp.img"
if "$MKIMAGE" build "$T/m.yaml" -o "$I" >/dev/null 2>"$T/e"; then pass build; else fail build "$(cat "$T/e")"; fi
read -r ESP_OFF ESP_SIZE <<<"$(part_offset "$I" esp)"
dd if="$I" of="$T/esp.vfat" bs=1M iflag=skip_bytes,count_bytes skip="$ESP_OFF" count="$ESP_SIZE" status=none
E="$T/esp.vfat"

# fsck.vfat -n: read-only check, exit 0 and no complaint.
if fsck.vfat -n "$E" >"$T/fsck" 2>&1; then pass fsck-vfat-clean; else fail fsck-vfat-clean "$(cat "$T/fsck")"; fi

# The tree, exactly.
mdir -/ -b -i "$E" :: | sed 's#^::/##' | LC_ALL=C sort >"$T/tree"
cat >"$T/tree.want" <<EOF2
EFI/
EFI/BOOT/
EFI/BOOT/BOOTX64.EFI
EFI/systemd/
EFI/systemd/systemd-bootx64.efi
loader/
loader/entries/
loader/entries/slot-a+3.conf
loader/entries/slot-b+3.conf
loader/loader.conf
slot-a/
slot-a/initrd.img
slot-a/manifest.yaml
slot-a/manifest.yaml.minisig
slot-a/vmlinuz
slot-b/
slot-b/initrd.img
slot-b/manifest.yaml
slot-b/manifest.yaml.minisig
slot-b/vmlinuz
EOF2
LC_ALL=C sort -o "$T/tree.want" "$T/tree.want"
expect_file_eq esp-tree "$T/tree" "$T/tree.want"

get() { mcopy -n -i "$E" "::/$1" "$2"; }
get EFI/BOOT/BOOTX64.EFI "$T/boot.efi"
check systemd-boot-is-debians cmp -s "$T/boot.efi" "$EFI"
get EFI/systemd/systemd-bootx64.efi "$T/sd-boot.efi"
check systemd-boot-at-bootctl-path cmp -s "$T/sd-boot.efi" "$EFI"

get loader/loader.conf "$T/loader.conf"
check loader-no-default bash -c "! grep -q '^default' '$T/loader.conf'"
check loader-timeout-0 grep -qx 'timeout 0' "$T/loader.conf"

for s in a b; do
        get "loader/entries/slot-$s+3.conf" "$T/entry-$s"
done
expect_eq entry-a "$(grep -v '^title' "$T/entry-a")" "version 7
sort-key mkimage-4294967288-a
linux /slot-a/vmlinuz
initrd /slot-a/initrd.img
options console=ttyS0,115200 quiet mkimage.slot=a"
# Both slots hold the OS version; the sort-key puts slot a first (signing/conventions/).
expect_eq entry-b-version-same "$(sed -n 's/^version //p' "$T/entry-b")" 7
expect_eq entry-b-sort-key-after-a "$(sed -n 's/^sort-key //p' "$T/entry-b")" mkimage-4294967288-b
check entry-b-options grep -qx 'options console=ttyS0,115200 quiet mkimage.slot=b' "$T/entry-b"
check entry-title grep -qx 'title example esp-test 7 (slot a)' "$T/entry-a"

# Kernel and initrd: the component's bytes, the initrd with our cpio after it.
mkdir -p "$T/kx"
unsquashfs -q -d "$T/kx/t" "$T/kernel.comp" >/dev/null
get slot-a/vmlinuz "$T/vmlinuz-a"
check vmlinuz-is-components cmp -s "$T/vmlinuz-a" "$T/kx/t/vmlinuz"
get slot-a/initrd.img "$T/initrd-a"
orig=$(stat -c %s "$T/kx/t/initrd.img")
check initrd-starts-with-components cmp -s -n "$orig" "$T/initrd-a" "$T/kx/t/initrd.img"
pad=$(( (orig + 511) / 512 * 512 ))
tail -c +$((pad + 1)) "$T/initrd-a" >"$T/appendix.cpio"
expect_eq appendix-list "$(cpio -t --quiet <"$T/appendix.cpio" | tr '\n' ' ')" "etc etc/mkimage etc/mkimage/model etc/mkimage/trusted.pub "
(cd "$T/kx" && cpio -id --quiet <"$T/appendix.cpio")
expect_eq appendix-trusted-key "$(sed -n 2p "$T/kx/etc/mkimage/trusted.pub")" "$(sed -n 2p "$K/dev.pub")"
expect_eq appendix-model "$(cat "$T/kx/etc/mkimage/model")" esp-test
# The kernel unpacks the compressed initrd, then our archive: zero padding only between them.
expect_eq appendix-padding "$(head -c "$pad" "$T/initrd-a" | tail -c +$((orig + 1)) | tr -d '\0' | wc -c)" 0

# The manifest's boot list: every file of the slot with its SHA-256; the ESP's copy is the signed one.
for s in a b; do
        mf="$I.manifest.yaml"; [ $s = b ] && mf="$I.manifest-b.yaml"
        get "slot-$s/manifest.yaml" "$T/mf-$s"
        check "esp-manifest-$s-is-signed-one" cmp -s "$T/mf-$s" "$mf"
        get "slot-$s/manifest.yaml.minisig" "$T/sig-$s"
        check "esp-manifest-$s-signature" minisign -Vqm "$T/mf-$s" -x "$T/sig-$s" -p "$K/dev.pub"
        for f in vmlinuz initrd.img; do
                get "slot-$s/$f" "$T/f"
                want=$(grep -A1 "path: /slot-$s/$f" "$mf" | sed -n 's/^ *sha256: //p')
                expect_eq "boot-sha256-$s-$f" "$(sha256sum "$T/f" | cut -d' ' -f1)" "$want"
        done
done
check manifest-data-section grep -q '^data:' "$I.manifest.yaml"

# The root does not carry the kernel component's files.
read -r RA_OFF _ <<<"$(part_offset "$I" root-a)"
rsize=$(sed -n 's/^  size: //p' "$I.manifest.yaml")
dd if="$I" of="$T/ra.sqfs" bs=1M iflag=skip_bytes,count_bytes skip="$RA_OFF" count="$rsize" status=none
check root-has-no-vmlinuz bash -c "! unsquashfs -l '$T/ra.sqfs' | grep -q vmlinuz"

# verify and inspect.
expect_run verify-ok 0 "" "$MKIMAGE" verify "$I" --pub "$K/dev.pub"
check inspect-entries grep -q 'slot-a+3.conf *version 7 *sort-key mkimage-4294967288-a *linux /slot-a/vmlinuz' <("$MKIMAGE" inspect "$I")
"$MKIMAGE" inspect "$I" --json >"$T/insp.json"
expect_eq inspect-json-entries "$(python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
print(" ".join(e["file"]+":"+e["version"]+":"+e["sort-key"] for e in d["boot-entries"]))' "$T/insp.json")" \
        "slot-a+3.conf:7:mkimage-4294967288-a slot-b+3.conf:7:mkimage-4294967288-b"

copy_img() { # FROM TO: the image and its signed manifests
        cp --sparse=always "$1" "$2"
        for f in "$1".manifest*; do cp "$f" "$2${f#"$1"}"; done
}
# A changed kernel on the ESP: verify names the file and fails.
copy_img "$I" "$T/tampered.img"
head -c 1000 /dev/urandom >"$T/junk"
mcopy -o -i "$T/tampered.img@@$ESP_OFF" "$T/junk" ::/slot-b/vmlinuz
if "$MKIMAGE" verify "$T/tampered.img" --pub "$K/dev.pub" >"$T/v" 2>&1; then
        fail verify-tampered-kernel "verify passed"
else
        check verify-tampered-kernel grep -q 'esp: FAILED: /slot-b/vmlinuz has SHA-256' "$T/v"
fi
# A changed manifest copy on the ESP (the boot chain reads that one).
copy_img "$I" "$T/tampered2.img"
sed 's/^version: 7/version: 8/' "$I.manifest.yaml" >"$T/mf-edit"
mcopy -o -i "$T/tampered2.img@@$ESP_OFF" "$T/mf-edit" ::/slot-a/manifest.yaml
if "$MKIMAGE" verify "$T/tampered2.img" --pub "$K/dev.pub" >"$T/v" 2>&1; then
        fail verify-tampered-esp-manifest "verify passed"
else
        check verify-tampered-esp-manifest grep -q 'esp: FAILED: /slot-a/manifest.yaml differs from the signed manifest' "$T/v"
fi

# Reproducible: the same inputs give the same bytes (encryption none).
"$MKIMAGE" build "$T/m.yaml" -o "$T/o/again.img" >/dev/null 2>&1
check reproducible cmp -s "$I" "$T/o/again.img"

# Bad input: each a clear error, exit 1, nothing left behind.
mkdir -p "$T/bad"
model "$T/nok.yaml" "$SRC/layouts/uefi-ab.yaml" "$T/nokernel.comp"
expect_run kernel-without-vmlinuz 1 \
        "mkimage: $T/nokernel.comp: kernel component 'nokernel' holds no /vmlinuz (a kernel component carries /vmlinuz and /initrd.img at its top: rebuild it, see docs/component.md)" \
        "$MKIMAGE" build "$T/nok.yaml" -o "$T/bad/x.img"
check kernel-without-vmlinuz-no-output only_files "$T/bad"

kernel_comp kernel2 full_kernel
model "$T/two.yaml" "$SRC/layouts/uefi-ab.yaml" "$T/kernel.comp" "$T/kernel2.comp"
"$MKIMAGE" build "$T/two.yaml" -o "$T/bad/x.img" >/dev/null 2>"$T/e"; rc=$?
expect_eq two-kernels-exit "$rc" 1
check two-kernels-message grep -q "components 'kernel' and 'kernel2' are both of type kernel; an image boots one kernel (keep one)" "$T/e"
check two-kernels-no-output only_files "$T/bad"

# A layout without an ESP cannot boot a kernel.
sed '/^  - name: esp$/,/^  - name: root-a$/{/^  - name: root-a$/!d}' layouts/uefi-ab.yaml >"$T/noesp.yaml"
model "$T/noesp-model.yaml" "$T/noesp.yaml" "$T/kernel.comp"
"$MKIMAGE" build "$T/noesp-model.yaml" -o "$T/bad/x.img" >/dev/null 2>"$T/e"; rc=$?
expect_eq kernel-without-esp-exit "$rc" 1
check kernel-without-esp-message grep -q "component 'kernel' is a kernel, but layout $T/noesp.yaml has no ESP to boot it from (add a partition with 'role: esp', or drop the component)" "$T/e"
check kernel-without-esp-no-output only_files "$T/bad"

# SOURCE_DATE_EPOCH unset means time 0, which FAT cannot store: the ESP's files carry FAT's
# first second (1980-01-01 00:00) instead of the build failing, and two such builds are equal.
mkdir -p "$T/nosde"
for k in 1 2; do
        env -u SOURCE_DATE_EPOCH "$MKIMAGE" build "$T/m.yaml" -o "$T/nosde/$k.img" >/dev/null 2>"$T/e$k"
        expect_eq "no-sde-build-$k" "$?:$(cat "$T/e$k")" "0:"
done
if [ -f "$T/nosde/1.img" ]; then
        read -r off _ <<<"$(part_offset "$T/nosde/1.img" esp)"
        expect_eq no-sde-esp-dated-1980 "$(mdir -i "$T/nosde/1.img@@$off" ::/loader | awk '$NF == "loader.conf" { print $(NF - 2) }')" 1980-01-01
        check no-sde-reproducible cmp -s "$T/nosde/1.img" "$T/nosde/2.img"
        # The data file system carries no clock either (libext2fs stamps the clock for time 0):
        # every time is 1970-01-01 00:00:01, whenever the build ran.
        read -r doff dsize <<<"$(part_offset "$T/nosde/1.img" data)"
        dd if="$T/nosde/1.img" of="$T/nosde/data.ext4" bs=1M iflag=skip_bytes,count_bytes skip="$doff" count="$dsize" status=none
        times="$(debugfs -R 'stat <2>' "$T/nosde/data.ext4" 2>/dev/null | grep -oE '^ *(c|a|m|cr)time: 0x[0-9a-f]+' | awk '{print $2}' | sort -u)"
        wtime="$(dumpe2fs -h "$T/nosde/data.ext4" 2>/dev/null | sed -n 's/^Last write time: *//p')"
        expect_eq no-sde-data-times "$times|$(TZ=UTC date -d "$wtime" +%s)" "0x00000001|1"
fi
rm -rf "$T/nosde"
