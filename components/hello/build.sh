#!/bin/bash
# Build the hello component's tree: a static /usr/bin/hello and /etc/hello.conf
# (the metadata is components/hello/component.yaml, given to pack with --meta).
#
#   components/hello/build.sh OUTDIR
#   build/mkimage component pack OUTDIR --meta components/hello/component.yaml -o hello.comp
set -euo pipefail
out="${1:?usage: $0 OUTDIR}"
here="$(cd "$(dirname "$0")" && pwd)"
if [ -e "$out" ] && [ -n "$(ls -A "$out")" ]; then
        echo "$0: $out is not empty (give a new or empty directory)" >&2; exit 1
fi
umask 022
mkdir -p "$out/usr/bin" "$out/etc"
# No debug info and no build paths in the binary: the same compiler gives the same bytes.
"${CC:-gcc}" -static -O2 -s -ffile-prefix-map="$here"=. -o "$out/usr/bin/hello" "$here/hello.c"
chmod 0755 "$out/usr/bin/hello"
install -m 0644 "$here/etc/hello.conf" "$out/etc/hello.conf"
