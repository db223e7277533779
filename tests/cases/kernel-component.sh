# The kernel component built by `make components`: signed, type kernel,
# exactly /vmlinuz and /initrd.img; the initrd (gzip'ed newc cpio, entries
# sorted, 0:0, dated $SOURCE_DATE_EPOCH) holds /init, the verifier, cryptsetup
# with its ldd libraries (run with the initrd's own files) and the modules of
# /etc/mkimage/modules, dependencies first; qemu-boot/initrd/mkinitrd.sh rebuilds it
# byte for byte; and under QEMU (direct kernel boot, TCG) every module loads,
# fw_cfg shows the key, and cryptsetup opens a LUKS2 volume with it.
# About 40 s in all, half of it the QEMU boot.
. "$(dirname "$0")/../lib/testlib.sh"
cd "$SRC"
COMP="$BUILD/components/kernel.comp"
if [ ! -f "$COMP" ]; then
        fail built "$COMP is missing (run 'make components')"
        exit 1
fi
# The version the recipe used: the pin of component.yaml, or, when the archive has
# moved on (a security update replaced it), the current one, which the component
# then names (components/kernel/build.sh warns); the .deb below is checked to be it.
pinned="$(sed -n 's/^version: *//p' components/kernel/component.yaml)"
version="$("$MKIMAGE" component show "$COMP" | sed -n 's/^version: //p')"
[ "$version" = "$pinned" ] || echo "note: the kernel component is $version, component.yaml pins $pinned" >&2

# ---- the component ----------------------------------------------------------
check verify-sig "$MKIMAGE" verify-sig "$COMP" --pub "$BUILD/keys/dev.pub"
check minisign-verifies minisign -Vqm "$COMP" -p "$BUILD/keys/dev.pub" -x "$COMP.minisig"
"$MKIMAGE" component show "$COMP" --list >"$T/show" 2>&1
expect_eq show-type "$(sed -n 's/^type: //p' "$T/show")" kernel
expect_eq show-version "$(sed -n 's/^version: //p' "$T/show")" "$version"
expect_eq show-files "$(grep '^- ' "$T/show" | awk '{ print $2, $3, $4, $6 }')" \
        "$(printf '0644 0 0 /initrd.img\n0644 0 0 /vmlinuz')"
expect_eq lls-files "$(unsquashfs -lls "$COMP" | awk '{ print substr($1, 1, 1), $NF }' | grep -v ' squashfs-root/meta')" \
        "$(printf 'd squashfs-root\n- squashfs-root/initrd.img\n- squashfs-root/vmlinuz')"
unsquashfs -q -d "$T/c" "$COMP" >/dev/null 2>&1
# A bzImage: "HdrS" at offset 0x202.
expect_eq vmlinuz-is-bzimage "$(dd if="$T/c/vmlinuz" bs=1 skip=514 count=4 status=none)" HdrS

# ---- the initrd's archive -----------------------------------------------------
gzip -dc "$T/c/initrd.img" >"$T/initrd.cpio"
check initrd-cpio-t bash -c 'cpio -t --quiet <"$1" >"$2"' _ "$T/initrd.cpio" "$T/list"
check initrd-sorted bash -c 'LC_ALL=C sort -c "$1"' _ "$T/list"
# Every newc header: owner 0:0, mtime $SOURCE_DATE_EPOCH.
headers() {
        python3 - "$1" <<'PY'
import sys
data, pos = open(sys.argv[1], "rb").read(), 0
while True:
    h = data[pos:pos + 110]
    assert h[:6] == b"070701", "not a newc header at %d" % pos
    f = [int(h[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
    uid, gid, mtime, size, namesize = f[2], f[3], f[5], f[6], f[11]
    name = data[pos + 110:pos + 110 + namesize - 1].decode()
    if name == "TRAILER!!!":
        break
    print(uid, gid, mtime, name)
    pos = (pos + 110 + namesize + 3) & ~3
    pos = (pos + size + 3) & ~3
PY
}
if headers "$T/initrd.cpio" >"$T/headers" 2>"$T/err"; then
        expect_eq initrd-owner-mtime "$(awk -v e="$SOURCE_DATE_EPOCH" '$1 != 0 || $2 != 0 || $3 != e' "$T/headers")" ""
        expect_eq initrd-headers-match-cpio-t "$(cut -d' ' -f4- "$T/headers")" "$(cat "$T/list")"
else
        fail initrd-owner-mtime "cannot parse the newc archive: $(tail -n 1 "$T/err")"
fi

mkdir "$T/ird" && (cd "$T/ird" && cpio -id --quiet <"$T/initrd.cpio")
for f in init sbin/mkimage-verify sbin/cryptsetup bin/busybox; do
        check "has-$f" test -f "$T/ird/$f" -a -x "$T/ird/$f"
done
for d in proc sys dev run newroot esp tmp etc/mkimage; do
        check "has-dir-$d" test -d "$T/ird/$d"
done
missing=""
for a in sh mount umount insmod mkdir cat echo sleep ls mv sync reboot poweroff switch_root; do
        [ "$(readlink "$T/ird/bin/$a" || readlink "$T/ird/sbin/$a")" = /bin/busybox ] || missing="$missing $a"
done
expect_eq busybox-applets "$missing" ""
check init-is-qemu-boot-init cmp "$T/ird/init" qemu-boot/initrd/init
[ ! -f "$BUILD/mkimage-verify" ] || check verifier-is-build-mkimage-verify cmp "$T/ird/sbin/mkimage-verify" "$BUILD/mkimage-verify"

# cryptsetup: what ldd lists is there as a regular file at the same path, and
# it runs inside the initrd's own root (chroot: no host library can help).
missing=""
for lib in $(ldd "$T/ird/sbin/cryptsetup" | grep -o '/[^ ]*'); do
        [ -f "$T/ird$lib" ] && [ ! -L "$T/ird$lib" ] || missing="$missing $lib"
done
expect_eq cryptsetup-ldd-libs "$missing" ""
chroot_ird() { if [ "$(id -u)" = 0 ]; then chroot "$T/ird" "$@"; else unshare -r chroot "$T/ird" "$@"; fi; }
expect_eq cryptsetup-libs-resolve-inside "$(chroot_ird /lib64/ld-linux-x86-64.so.2 --list /sbin/cryptsetup 2>&1 | grep -c 'not found')" 0
expect_eq cryptsetup-runs-inside "$(chroot_ird /sbin/cryptsetup --version 2>&1 | cut -d' ' -f1)" cryptsetup

# Modules: each listed one is there as an uncompressed ELF .ko.
sed -n 's|^/lib/modules/\([^/]*\)/.*|\1|p' "$T/ird/etc/mkimage/modules" | sort -u >"$T/kvers"
expect_eq modules-one-kver "$(wc -l <"$T/kvers")" 1
kver="$(cat "$T/kvers")"
bad=""
while read -r m; do
        [ "$(head -c 4 "$T/ird$m" 2>/dev/null)" = $'\x7fELF' ] || bad="$bad $m"
done <"$T/ird/etc/mkimage/modules"
expect_eq modules-present "$bad" ""
names() { sed 's|.*/||; s|\.ko.*||; s|-|_|g' "$@"; }
# The set the boot chain needs (docs/facts.md section 2), none missing.
want="virtio_ring virtio virtio_blk virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci qemu_fw_cfg
fat vfat nls_cp437 nls_ascii squashfs reed_solomon dm_mod dm_bufio dm_verity dm_crypt ecb xts
crc16 mbcache jbd2 ext4 crc32c_generic"
expect_eq modules-needed "$(printf '%s\n' $want | grep -vxFf <(names "$T/ird/etc/mkimage/modules"))" ""
expect_eq modules-once "$(names "$T/ird/etc/mkimage/modules" | sort | uniq -d)" ""
expect_eq modules-only-listed "$(cd "$T/ird" && find lib/modules -name '*.ko*' | sed 's|^|/|' | sort)" \
        "$(sort "$T/ird/etc/mkimage/modules")"

# ---- against the kernel package -----------------------------------------------
# The cached .deb that build.sh used (components/kernel/build.sh), unpacked.
deb="$(ls "${KERNEL_CACHE:-$SRC/build/cache/kernel}"/linux-image-[0-9]*_"${version//:/%3a}"_amd64.deb 2>/dev/null | head -n 1)"
if [ -z "$deb" ]; then
        fail kernel-deb "no cached kernel .deb for $version (run 'make components')"
        exit 1
fi
dpkg -x "$deb" "$T/k" && depmod -b "$T/k" "$kver"
check vmlinuz-from-deb cmp "$T/c/vmlinuz" "$T/k/boot/vmlinuz-$kver"
# Every dependency modules.dep names comes earlier in the list; none is built in.
python3 - "$T/k/lib/modules/$kver" "$T/ird/etc/mkimage/modules" >"$T/deps" <<'PY'
import sys
mods, listed = sys.argv[1], [l.strip() for l in open(sys.argv[2]) if l.strip()]
prefix = "/lib/modules/" + mods.rstrip("/").split("/")[-1] + "/"
dep = {}
for line in open(mods + "/modules.dep"):
    path, deps = line.split(":", 1)
    dep[path] = deps.split()
builtin = set(l.strip() for l in open(mods + "/modules.builtin"))
seen = set()
for m in listed:
    rel = m[len(prefix):]
    rel = next((p for p in dep if p.split(".ko")[0] == rel.split(".ko")[0]), None)
    if rel is None:
        print("not in modules.dep:", m)
        continue
    if rel in builtin:
        print("built in:", m)
    for d in dep[rel]:
        if d not in seen:
            print("%s needs %s, which is not listed before it" % (m, d))
    seen.add(rel)
PY
expect_eq modules-deps-first "$(cat "$T/deps")" ""

# ---- reproducible -----------------------------------------------------------
# Rebuilt from the package with the initrd's own verifier: the same bytes as in
# the component, twice, whatever the umask and scratch directory.
cp "$T/ird/sbin/mkimage-verify" "$T/verifier"
bash qemu-boot/initrd/mkinitrd.sh "$T/k" "$kver" "$T/verifier" "$T/again1.img" 2>"$T/err1"
mkdir "$T/tmp2"
(umask 077 && TMPDIR="$T/tmp2" bash qemu-boot/initrd/mkinitrd.sh "$T/k" "$kver" "$T/verifier" "$T/again2.img") 2>"$T/err2"
check mkinitrd-twice-identical cmp "$T/again1.img" "$T/again2.img"
check mkinitrd-equals-component cmp "$T/again1.img" "$T/c/initrd.img"
expect_eq mkinitrd-mode "$(stat -c %a "$T/again2.img")" 644
expect_eq mkinitrd-quiet "$(cat "$T/err1" "$T/err2")" ""

# ---- boots ---------------------------------------------------------------------
# The component's own kernel and initrd, with /sbin/mkimage-verify replaced by
# a probe (a cpio appended to the initrd overrides the file, as the kernel
# unpacks archives in order). It opens a LUKS2 volume (pbkdf2, docs/facts.md section 3)
# with the key from fw_cfg, mounts its ext4 and powers off.
mkdir -p "$T/probe/sbin" "$T/fs"
cat >"$T/probe/sbin/mkimage-verify" <<'EOF'
#!/bin/sh
echo "PROBE modules=$(wc -l </proc/modules) listed=$(wc -l </etc/mkimage/modules)"
echo "PROBE fw_cfg=$(ls /sys/firmware/qemu_fw_cfg/by_name/opt/mkimage)"
echo "PROBE $(/sbin/cryptsetup --version)"
/sbin/cryptsetup open --key-file /sys/firmware/qemu_fw_cfg/by_name/opt/mkimage/data-key/raw /dev/vda data &&
        mkdir /run/data && mount -t ext4 /dev/mapper/data /run/data && echo "PROBE data=$(cat /run/data/hello)"
poweroff -f
EOF
chmod 0755 "$T/probe/sbin/mkimage-verify"
(cd "$T/probe" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -n >"$T/probe.cpio.gz"
cat "$T/c/initrd.img" "$T/probe.cpio.gz" >"$T/boot-initrd.img"
echo "hello luks" >"$T/fs/hello"
head -c 64 /dev/urandom >"$T/key"
truncate -s 32M "$T/data.img"
mkfs.ext4 -q -F -d "$T/fs" "$T/data.img" 16M
cryptsetup reencrypt --encrypt --type luks2 --force-offline-reencrypt --reduce-device-size 16M --disable-locks \
        --key-file "$T/key" -q --pbkdf pbkdf2 --pbkdf-force-iterations 1000 "$T/data.img" >/dev/null 2>&1
rc=0
timeout 240 qemu-system-x86_64 -machine q35,accel=tcg -cpu max -smp 2 -m 1024 -nographic -no-user-config \
        -nodefaults -serial stdio -no-reboot -kernel "$T/c/vmlinuz" -initrd "$T/boot-initrd.img" \
        -append "console=ttyS0 quiet" -fw_cfg "name=opt/mkimage/data-key,file=$T/key" \
        -drive "file=$T/data.img,format=raw,if=none,id=d0" -device virtio-blk-pci,drive=d0 \
        </dev/null >"$T/console" 2>&1 || rc=$?
# (the console starts with SeaBIOS' escape sequences: match inside lines)
probe() { tr -d '\r' <"$T/console" | grep -ao "PROBE $1.*" | head -n 1; }
expect_eq boot-poweroff "$rc" 0
n="$(wc -l <"$T/ird/etc/mkimage/modules")"
# (a BIOS boot: efivarfs, for the firmware's variables, is skipped without EFI)
expect_eq boot-modules-loaded "$(probe modules=)" "PROBE modules=$((n - 1)) listed=$n"
expect_eq boot-no-module-errors "$(grep -a 'mkimage: cannot load module' "$T/console")" ""
expect_eq boot-fw-cfg "$(probe fw_cfg=)" "PROBE fw_cfg=data-key"
expect_eq boot-cryptsetup-runs "$(probe cryptsetup | cut -d' ' -f2)" cryptsetup
expect_eq boot-luks2-open-mount "$(probe data=)" "PROBE data=hello luks"
[ -n "$(probe data=)" ] || tail -n 30 "$T/console" | sed 's/^/    console: /' >&2
