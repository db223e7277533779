#!/bin/bash
# Assemble the mkimage initrd, reproducibly: busybox-static with its applet
# links, /init (qemu-boot/initrd/init), the verifier as /sbin/mkimage-verify,
# /sbin/cryptsetup with exactly the libraries ldd lists for it, and the kernel
# modules the boot chain loads (MODULES below, plus what modules.dep makes
# them need), listed in load order in /etc/mkimage/modules.
#
#   qemu-boot/initrd/mkinitrd.sh KROOT KVER VERIFIER OUT
#
# KROOT is the unpacked kernel package (dpkg -x) after `depmod -b KROOT KVER`;
# VERIFIER is the static verifier binary; OUT is the gzip'ed newc cpio. Every
# entry is owned by 0:0 and dated $SOURCE_DATE_EPOCH, entries are sorted: the
# same inputs give the same bytes.
set -euo pipefail
[ $# = 4 ] || { echo "usage: $0 KROOT KVER VERIFIER OUT" >&2; exit 2; }
kroot="$1" kver="$2" verifier="$3" out="$4"
here="$(cd "$(dirname "$0")" && pwd)"
epoch="${SOURCE_DATE_EPOCH:-1767225600}"
bb=/bin/busybox
cryptsetup=/usr/sbin/cryptsetup

# The modules to load, in this order (docs/facts.md section 2). The ones modules.dep
# does not pull in are listed on purpose: nls_ascii (+nls_cp437) for vfat's
# default iocharset on the ESP, ecb for xts(ecb(aes)) in dm-crypt, and
# crc32c_generic for ext4's metadata_csum.
MODULES=(
        # the disk (virtio-blk-pci)
        virtio_ring virtio virtio_blk virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
        qemu_fw_cfg                                     # the data key (fw_cfg)
        fat vfat nls_cp437 nls_ascii                    # the ESP
        squashfs reed_solomon dm-mod dm-bufio dm-verity # the verified root
        dm-crypt ecb xts                                # the LUKS2 data partition
        crc16 mbcache jbd2 ext4 crc32c_generic          # its ext4
        efivarfs                                        # the firmware variables (the root reads SecureBoot)
)

mods="$kroot/lib/modules/$kver"
[ -f "$mods/modules.dep" ] || { echo "$0: $mods/modules.dep is missing (run depmod -b $kroot $kver)" >&2; exit 1; }
[ -f "$verifier" ] && [ -x "$verifier" ] || { echo "$0: verifier $verifier is not an executable file" >&2; exit 1; }
[ -x "$bb" ] || { echo "$0: $bb is missing (apt-get install busybox-static)" >&2; exit 1; }
[ -x "$cryptsetup" ] || { echo "$0: $cryptsetup is missing (apt-get install cryptsetup-bin)" >&2; exit 1; }
# Absolute paths: the archive is assembled from inside a scratch directory.
mods="$(realpath "$mods")" verifier="$(realpath "$verifier")" out="$(realpath -m "$out")"

umask 022
stage="$(mktemp -d "${TMPDIR:-/tmp}/mkinitrd.XXXXXX")"
trap 'rm -rf "$stage" "$out.tmp"' EXIT
chmod 0755 "$stage"
cd "$stage"
mkdir -p proc sys dev run newroot esp tmp etc/mkimage bin sbin
chmod 1777 tmp

install -m 0755 "$here/init" init
install -m 0755 "$verifier" sbin/mkimage-verify
install -m 0755 "$bb" bin/busybox
# One symlink per applet, at the path busybox itself names (as components/base).
"$bb" --list-full | LC_ALL=C sort | while read -r applet; do
        [ "$applet" = bin/busybox ] && continue
        mkdir -p "$(dirname "$applet")"
        ln -sfn /bin/busybox "$applet"
done

# cryptsetup and the libraries ldd lists, dynamic loader included, each at the
# path ldd prints, as a regular file (symlinks resolved: soname = file name).
install -m 0755 "$cryptsetup" sbin/cryptsetup
ldd "$cryptsetup" | while read -r name arrow path _; do
        case "$name $arrow" in
        linux-vdso.so.*) continue ;;          # provided by the kernel
        /*) path="$name" ;;                   # the loader: "/lib64/ld-linux-x86-64.so.2 (0x...)"
        *" =>") [ "${path#/}" != "$path" ] || { echo "$0: ldd $cryptsetup: $name not found" >&2; exit 1; } ;;
        *) echo "$0: unexpected ldd line: $name $arrow $path" >&2; exit 1 ;;
        esac
        real="$(readlink -f "$path")"
        install -D -m "$(stat -c %a "$real")" "$real" ".$path"
done

# Modules: resolve dependencies from modules.dep (each line "path: deps...",
# paths relative to $mods), by the normalised name (dm-mod = dm_mod).
declare -A path_of deps_of builtin
while IFS=: read -r path deps; do
        name="${path##*/}" name="${name%%.ko*}"
        path_of[${name//-/_}]="$path"
        deps_of[$path]="$deps"
done <"$mods/modules.dep"
while read -r path; do
        name="${path##*/}" name="${name%%.ko*}"
        builtin[${name//-/_}]=1
done <"$mods/modules.builtin"

order=()
declare -A seen
add() { # PATH: its dependencies first (depth first), then itself; each once
        local path="$1" dep
        [ -z "${seen[$path]:-}" ] || return 0
        seen[$path]=1
        for dep in ${deps_of[$path]}; do add "$dep"; done
        order+=("$path")
}
for name in "${MODULES[@]}"; do
        key="${name//-/_}"
        [ -z "${builtin[$key]:-}" ] || continue
        [ -n "${path_of[$key]:-}" ] || { echo "$0: module $name is neither in modules.dep nor built in ($mods)" >&2; exit 1; }
        add "${path_of[$key]}"
done

# Copy them uncompressed (busybox insmod may not read .ko.xz/.ko.zst/.ko.gz)
# and list them in load order.
for path in "${order[@]}"; do
        dest="lib/modules/$kver/${path%.ko*}.ko"
        mkdir -p "${dest%/*}"
        case "$path" in
        *.ko) cat "$mods/$path" ;;
        *.ko.xz) xz -dc "$mods/$path" ;;
        *.ko.zst) zstd -dcq "$mods/$path" ;;
        *.ko.gz) gzip -dc "$mods/$path" ;;
        *) echo "$0: unknown module file type: $path" >&2; exit 1 ;;
        esac >"$dest"
        chmod 0644 "$dest"
        echo "/$dest"
done >etc/mkimage/modules
chmod 0644 etc/mkimage/modules

# Fixed time stamps (files and symlinks alike), then one sorted newc archive.
find . -exec touch -h -d "@$epoch" {} +
find . | LC_ALL=C sort | cpio -o -H newc --reproducible -R 0:0 --quiet | gzip -n -9 >"$out.tmp"
chmod 0644 "$out.tmp"
mv "$out.tmp" "$out"
