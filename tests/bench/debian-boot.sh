#!/bin/bash
# The Debian device's boot (models/debian-x86_64.yaml, docs/debian.md): what
# the verifier's whole-root read costs. Boots the image BENCH_BOOTS times
# (default 5) as an enrolled Secure Boot machine under QEMU (TCG), with the
# real verifier and with a benchmark build of it that skips the read
# (MK_VERIFY_BENCH_NO_READ: a second kernel component, made here, never
# shipped), and prints the medians: seconds from QEMU's start to
# MKIMAGE-BOOT-OK, the read as the verifier timed it, and the difference.
#
# Not a test: exits 0 whatever the figures; non-zero when a boot fails.
# Environment: BENCH_DIR (default build/bench), BENCH_BOOTS, BUILD (build).
set -euo pipefail
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
abs() { case "$1" in /*) printf '%s' "$1" ;; *) printf '%s' "$SRC/$1" ;; esac; }
BUILD="$(abs "${BUILD:-build}")"
BENCH_DIR="$(abs "${BENCH_DIR:-build/bench}")"
BOOTS="${BENCH_BOOTS:-5}"
W="$BENCH_DIR/debian-boot"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-1767225600}"
say() { printf 'bench-debian-boot: %s\n' "$*"; }
die() { printf 'bench-debian-boot: error: %s\n' "$*" >&2; exit 1; }
[[ "$BOOTS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_BOOTS must be a positive number, not '$BOOTS'"
for c in debian systemd-device hellod kernel; do
        [ -f "$BUILD/components/$c.comp" ] || die "$BUILD/components/$c.comp is missing: run make components"
done
rm -rf "$W"
mkdir -p "$W"
cd "$SRC"

# The benchmark verifier and its kernel component.
make -s BUILD="$W/obj" CFLAGS="-O2 -g -DMK_VERIFY_BENCH_NO_READ" "$W/obj/mkimage-verify" >"$W/make.log" 2>&1 ||
        die "building the benchmark verifier failed: $W/make.log"
MKIMAGE_VERIFY="$W/obj/mkimage-verify" bash components/kernel/build.sh "$W/kernel.tree" >"$W/kernel.log" 2>&1 ||
        die "the kernel component failed: $W/kernel.log"
meta=components/kernel/component.yaml
[ -f "$W/kernel.tree.meta.yaml" ] && meta="$W/kernel.tree.meta.yaml"
"$BUILD/mkimage" component pack "$W/kernel.tree" --meta "$meta" -o "$W/kernel-noread.comp" >/dev/null
"$BUILD/mkimage" sign "$W/kernel-noread.comp" --key "$BUILD/keys/dev.key" >/dev/null
rm -rf "$W/kernel.tree" "$W/kernel.tree.meta.yaml"

# Both images, from models next to the real one (its relative paths resolve from models/).
trap 'rm -f "$SRC"/models/.bench-debian-boot-$$-*.yaml' EXIT
for v in read noread; do
        m="$SRC/models/.bench-debian-boot-$$-$v.yaml"
        if [ $v = noread ]; then
                sed "s|file: ../build/components/kernel.comp|file: $W/kernel-noread.comp|" models/debian-x86_64.yaml >"$m"
        else
                cp models/debian-x86_64.yaml "$m"
        fi
        "$BUILD/mkimage" build "$m" --data-key "$BUILD/keys/data.key" -o "$W/$v.img" >/dev/null
done

# One enrolled variable store (systemd-boot enrols the keys on the first boot), copied for each boot.
qemu-boot/run --timeout 600 --vars "$W/enrolled.vars" --data-key "$BUILD/keys/data.key" \
        --expect 'MKIMAGE-BOOT-OK' "$W/read.img" >"$W/enrol.log" 2>&1 || die "the enrolment boot failed: $W/enrol.log"

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for v in read noread; do
        : >"$W/$v.times"
        : >"$W/$v.reads"
        for i in $(seq 1 "$BOOTS"); do
                cp "$W/enrolled.vars" "$W/boot.vars"
                t0=$EPOCHREALTIME
                qemu-boot/run --timeout 600 --vars "$W/boot.vars" --data-key "$BUILD/keys/data.key" \
                        --expect 'MKIMAGE-BOOT-OK slot=a' "$W/$v.img" >"$W/$v.$i.log" 2>&1 ||
                        die "boot $i of the $v image failed: $W/$v.$i.log"
                echo "$t0 $EPOCHREALTIME" | awk '{ printf "%.2f\n", $2 - $1 }' >>"$W/$v.times"
                sed -n 's/.*bytes read through dm-verity in \([0-9.]*\) s.*/\1/p' "$W/$v.$i.log" | head -n 1 >>"$W/$v.reads"
        done
done
size=$(sed -n 's/^  size: //p' "$W/read.img.manifest.yaml" | head -n 1)
tr=$(median <"$W/read.times")
tn=$(median <"$W/noread.times")
rd=$(median <"$W/read.reads")
say "root: $size bytes of squashfs; $BOOTS boots each, medians, QEMU start to MKIMAGE-BOOT-OK (TCG)"
say "with the whole-root read:    $tr s (the read itself: $rd s, $(awk -v s="$size" -v t="$rd" 'BEGIN { printf "%.0f", s / t / 1e6 }') MB/s)"
say "without it (benchmark build): $tn s"
say "added by the read: $(awk -v a="$tr" -v b="$tn" 'BEGIN { printf "%.2f", a - b }') s (goal: at most 1 s)"
