#!/bin/bash
# Build the systemd-device component's tree (component.yaml says what it is
# for; docs/debian.md how a device uses it):
#   /data, /efi               the mount points the boot chain moves the data
#                             partition and the ESP to
#   /etc/machine-id           a symlink to /data/machine-id: systemd writes the
#                             device's id there on its first boot, and
#                             mkimage-machine-id.service keeps it
#   /etc/.updated             the root is never updated in place: systemd's
#                             ConditionNeedsUpdate=/etc units stay skipped
#   var.mount, tmp.mount      /var from /data/var, /tmp a tmpfs
#   journald.conf.d           the journal persistent (on /data)
#   mkimage-boot-assess       boot assessment after boot-complete.target
#   systemd-bless-boot drop-in the ESP writable while the entry is blessed
#   system-generators        the veritysetup and gpt-auto generators masked
#   /usr/sbin/mkimage-update  the updater (docs/update.md)
#
#   MKIMAGE_UPDATE=build/mkimage-update components/systemd-device/build.sh OUTDIR
#   build/mkimage component pack OUTDIR --meta components/systemd-device/component.yaml -o systemd-device.comp
set -euo pipefail
out="${1:?usage: $0 OUTDIR}"
here="$(cd "$(dirname "$0")" && pwd)"
updater="${MKIMAGE_UPDATE:?set MKIMAGE_UPDATE to the static updater binary (make builds build/mkimage-update)}"
[ -x "$updater" ] || { echo "$0: $updater is missing (make $updater)" >&2; exit 1; }
updater=$(realpath -- "$updater")
if [ -e "$out" ] && [ -n "$(ls -A "$out")" ]; then
        echo "$0: $out is not empty (give a new or empty directory)" >&2; exit 1
fi
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-1767225600}"
umask 022
mkdir -p "$out"
cd "$out"
mkdir -p data efi etc usr/sbin usr/lib/mkimage usr/lib/systemd/system usr/lib/systemd/journald.conf.d
ln -s /data/machine-id etc/machine-id
install -m 0755 "$updater" usr/sbin/mkimage-update
install -m 0755 "$here/boot-assess" "$here/machine-id-commit" usr/lib/mkimage/
install -m 0644 "$here/journald.conf" usr/lib/systemd/journald.conf.d/mkimage.conf
units=usr/lib/systemd/system
install -m 0644 "$here"/units/*.mount "$here"/units/*.service "$units/"
mkdir -p "$units/systemd-bless-boot.service.d"
install -m 0644 "$here"/units/systemd-bless-boot.service.d/*.conf "$units/systemd-bless-boot.service.d/"
# Enabled by links in the unit folder, as `systemctl enable` would in /etc.
mkdir -p "$units/local-fs.target.wants" "$units/multi-user.target.wants" "$units/sysinit.target.wants"
ln -s ../var.mount "$units/local-fs.target.wants/var.mount"
ln -s ../tmp.mount "$units/local-fs.target.wants/tmp.mount"
ln -s ../mkimage-machine-id.service "$units/sysinit.target.wants/mkimage-machine-id.service"
ln -s ../mkimage-boot-assess.service "$units/multi-user.target.wants/mkimage-boot-assess.service"
# The boot chain owns the partitions: it set up dm-verity for the root and mounted the ESP
# and the data partition. systemd's generators for the same (from the command line's
# systemd.verity_root_* and from the GPT types) would wait for devices or mount them again.
mkdir -p etc/systemd/system-generators
ln -s /dev/null etc/systemd/system-generators/systemd-veritysetup-generator
ln -s /dev/null etc/systemd/system-generators/systemd-gpt-auto-generator
# The stamp's time is the root's (SOURCE_DATE_EPOCH): /usr is not newer, nothing needs an update.
touch etc/.updated
find . -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
