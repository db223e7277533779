#!/bin/bash
# Assemble the base root from Debian's busybox-static: /bin/busybox, its
# applet links, /sbin/init, an /etc skeleton with root locked, no default
# password, no root login and no network service, and the updater
# /usr/sbin/mkimage-update (docs/update.md).
#
#   MKIMAGE_UPDATE=build/mkimage-update components/base/build.sh OUTDIR
#   build/mkimage component pack OUTDIR --meta components/base/component.yaml -o base.comp
#
# OUTDIR must not exist or be empty. The result depends only on the installed
# busybox-static package (apt-get install busybox-static) and the updater
# (static, stripped, built by make).
set -euo pipefail
out="${1:?usage: $0 OUTDIR}"
here="$(cd "$(dirname "$0")" && pwd)"
bb=/bin/busybox
[ -x "$bb" ] || { echo "$0: $bb is missing (apt-get install busybox-static)" >&2; exit 1; }
updater="${MKIMAGE_UPDATE:?set MKIMAGE_UPDATE to the static updater binary (make builds build/mkimage-update)}"
[ -x "$updater" ] || { echo "$0: $updater is missing (make $updater)" >&2; exit 1; }
updater=$(realpath -- "$updater")
if [ -e "$out" ] && [ -n "$(ls -A "$out")" ]; then
        echo "$0: $out is not empty (give a new or empty directory)" >&2; exit 1
fi
umask 022
mkdir -p "$out"
cd "$out"
# efi and data: mount points the boot chain moves the ESP and the data partition to.
mkdir -p bin sbin usr/bin usr/sbin etc/init.d dev proc sys run var root tmp efi data
chmod 0700 root
chmod 1777 tmp
install -m 0755 "$bb" bin/busybox
install -m 0755 "$updater" usr/sbin/mkimage-update
# Health checks: every executable here must succeed before the slot is blessed (etc/init.d/rcS).
mkdir -p etc/mkimage/health.d

# One symlink per applet, at the path busybox itself names.
"$bb" --list-full | LC_ALL=C sort | while read -r applet; do
        [ "$applet" = bin/busybox ] && continue
        mkdir -p "$(dirname "$applet")"
        ln -sfn /bin/busybox "$applet"
done

# Accounts: root is locked ('*' in shadow: no password can match) and has no
# login shell; there are no other users.
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\n' >etc/passwd
printf 'root:x:0:\n' >etc/group
printf 'root:*:0:0:99999:7:::\n' >etc/shadow
chmod 0644 etc/passwd etc/group
chmod 0640 etc/shadow
printf 'mkimage\n' >etc/hostname

# busybox init: mount the API file systems directly (no shell involved),
# run rcS once (it reports the boot and blesses the slot), then a root shell
# on the console (a development image; press Enter to get it).
cat >etc/inittab <<'INITTAB'
::sysinit:/bin/mount -t proc -o nosuid,nodev,noexec proc /proc
::sysinit:/bin/mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
::sysinit:/bin/mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /tmp
::sysinit:/etc/init.d/rcS
::askfirst:-/bin/sh
::shutdown:/bin/umount -a -r
INITTAB
chmod 0644 etc/inittab
install -m 0755 "$here/rcS" etc/init.d/rcS
