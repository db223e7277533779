#!/bin/bash
# Build the kernel component's tree: Debian's kernel (the package
# linux-image-amd64 depends on, at the version in component.yaml) as /vmlinuz,
# and the initrd with the boot verifier (qemu-boot/initrd/mkinitrd.sh) as /initrd.img.
#
#   MKIMAGE_VERIFY=build/mkimage-verify components/kernel/build.sh OUTDIR
#   build/mkimage component pack OUTDIR --meta components/kernel/component.yaml -o kernel.comp
#
# OUTDIR must not exist or be empty. The .deb is fetched once with
# `apt-get download` into $KERNEL_CACHE (default build/cache/kernel; a relative
# path is taken from the repository's root) and reused from there, so the
# component's version always names what is inside it.
set -euo pipefail
out="${1:?usage: $0 OUTDIR}"
here="$(cd "$(dirname "$0")" && pwd)"
top="$(cd "$here/../.." && pwd)"
verifier="${MKIMAGE_VERIFY:?set MKIMAGE_VERIFY to the static verifier binary (make builds build/mkimage-verify)}"
cache="${KERNEL_CACHE:-build/cache/kernel}"
case "$cache" in /*) ;; *) cache="$top/$cache" ;; esac
if [ -e "$out" ] && [ -n "$(ls -A "$out")" ]; then
        echo "$0: $out is not empty (give a new or empty directory)" >&2; exit 1
fi
pinned="$(sed -n 's/^version: *//p' "$here/component.yaml")"
[ -n "$pinned" ] || { echo "$0: no version in $here/component.yaml" >&2; exit 1; }
version="$pinned"

# The .deb: from the cache, else the package linux-image-amd64 depends on, at
# exactly $version (apt names the file NAME_VERSION_ARCH.deb, ':' as %3a).
# When the archive has moved on (a security update replaced that version),
# the current one is taken instead, with a warning, and the component's
# metadata says so: OUTDIR.meta.yaml is component.yaml with the version used.
mkdir -p "$cache"
debs=("$cache"/linux-image-[0-9]*_"${version//:/%3a}"_amd64.deb)
if [ ! -f "${debs[0]}" ]; then
        pkg="$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -n 1)"
        [ -n "$pkg" ] || { echo "$0: cannot resolve linux-image-amd64 (apt-get update?)" >&2; exit 1; }
        # A scratch folder first: no half-downloaded .deb is ever left in the cache.
        dl="$(mktemp -d "$cache/.download.XXXXXX")"
        if ! (cd "$dl" && apt-get download -q "$pkg=$version" 2>/dev/null); then
                current="$(apt-cache show --no-all-versions "$pkg" | sed -n 's/^Version: //p')"
                echo "$0: warning: $pkg $version is no longer in the archive; using $current" \
                        "(set 'version: $current' in $here/component.yaml)" >&2
                version="$current"
                (cd "$dl" && apt-get download -q "$pkg=$version") || { rm -rf "$dl"; echo "$0: cannot fetch $pkg $version" >&2; exit 1; }
        fi
        mv "$dl"/*.deb "$cache"/ && rmdir "$dl"
        debs=("$cache"/"${pkg}_${version//:/%3a}"_amd64.deb)
fi
sed "s/^version: .*/version: $version/" "$here/component.yaml" >"$out.meta.yaml"
[ "${#debs[@]}" = 1 ] || { echo "$0: more than one kernel .deb for $version in $cache: ${debs[*]}" >&2; exit 1; }
deb="${debs[0]}"
[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || { echo "$0: $deb is not version $version" >&2; exit 1; }

# Unpack it and generate modules.dep (the .deb ships none).
kroot="$(mktemp -d "${TMPDIR:-/tmp}/kernel-root.XXXXXX")"
trap 'rm -rf "$kroot"' EXIT
dpkg -x "$deb" "$kroot"
kvers=("$kroot"/lib/modules/*)
[ "${#kvers[@]}" = 1 ] || { echo "$0: $deb holds ${#kvers[@]} module trees, want one" >&2; exit 1; }
kver="${kvers[0]##*/}"
depmod -b "$kroot" "$kver"

umask 022
mkdir -p "$out"
install -m 0644 "$kroot/boot/vmlinuz-$kver" "$out/vmlinuz"
bash "$top/qemu-boot/initrd/mkinitrd.sh" "$kroot" "$kver" "$verifier" "$out/initrd.img"
