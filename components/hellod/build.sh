#!/bin/bash
# Build the hellod component's tree: /usr/bin/hellod (static), /etc/hellod.conf,
# hellod.service (enabled in multi-user.target) and its health check
# hellod-health.service, required by boot-complete.target.
#
#   components/hellod/build.sh OUTDIR
#   build/mkimage component pack OUTDIR --meta components/hellod/component.yaml -o hellod.comp
set -euo pipefail
out="${1:?usage: $0 OUTDIR}"
here="$(cd "$(dirname "$0")" && pwd)"
if [ -e "$out" ] && [ -n "$(ls -A "$out")" ]; then
        echo "$0: $out is not empty (give a new or empty directory)" >&2; exit 1
fi
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-1767225600}"
umask 022
units="$out/usr/lib/systemd/system"
mkdir -p "$out/usr/bin" "$out/etc" "$out/usr/libexec/hellod" "$units/multi-user.target.wants" \
        "$units/boot-complete.target.requires"
# No debug info and no build paths in the binary: the same compiler gives the same bytes.
"${CC:-gcc}" -static -O2 -s -ffile-prefix-map="$here"=. -o "$out/usr/bin/hellod" "$here/hellod.c"
chmod 0755 "$out/usr/bin/hellod"
install -m 0644 "$here/hellod.conf" "$out/etc/hellod.conf"
install -m 0755 "$here/health" "$out/usr/libexec/hellod/health"
install -m 0644 "$here/hellod.service" "$here/hellod-health.service" "$units/"
ln -s ../hellod.service "$units/multi-user.target.wants/hellod.service"
ln -s ../hellod-health.service "$units/boot-complete.target.requires/hellod-health.service"
find "$out" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
