#!/bin/bash
# make bench, factory case: FACTORY_DEVICES devices (default 200) from the
# demo model with `mkimage factory`, against the naive route: one `mkimage
# build` per device with its own data key. The naive route is timed on
# NAIVE_SAMPLE devices (default 20) and scaled to the same count (each build
# is independent and the same work, so the time is linear). Prints
#   factory images/s X   factory ratio X.XX (factory wall / naive wall)
# and the peak RSS at two device counts (it must not grow with the count).
set -euo pipefail
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
: "${BENCH_DIR:=$SRC/build/bench}" "${MKIMAGE:=$SRC/build/mkimage}"
N="${FACTORY_DEVICES:-200}" NAIVE="${NAIVE_SAMPLE:-20}"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-1767225600}"
W="$BENCH_DIR/factory"
say() { printf 'bench: factory: %s\n' "$*"; }
rm -rf "$W"
mkdir -p "$W"
trap 'rm -rf "$W"' EXIT
"$MKIMAGE" keygen "$W/brand" >/dev/null
devices() { { echo serial; for i in $(seq 1 "$1"); do printf 'SN-%05d\n' "$i"; done; } >"$2"; }
devices "$N" "$W/devices.csv"
devices $((N / 4)) "$W/quarter.csv"
model="$SRC/models/demo-x86_64.yaml"

timed() { # OUT CMD...: "wall maxrss_kib"
        local out=$1; shift
        /usr/bin/time -f '%e %M' -o "$out" "$@" >/dev/null
}
say "$N devices with mkimage factory ..."
timed "$W/f.time" "$MKIMAGE" factory "$model" --devices "$W/devices.csv" -o "$W/out" --brand-key "$W/brand.key"
read -r f_wall f_rss <"$W/f.time"
[ "$(wc -l <"$W/out/factory-record.jsonl")" -eq "$N" ] || { echo "bench: factory: not every device was built" >&2; exit 1; }
rm -rf "$W/out"
timed "$W/q.time" "$MKIMAGE" factory "$model" --devices "$W/quarter.csv" -o "$W/out" --brand-key "$W/brand.key"
read -r _ q_rss <"$W/q.time"
rm -rf "$W/out"

say "naive route: $NAIVE x mkimage build with its own data key ..."
mkdir -p "$W/naive"
start=$(date +%s.%N)
for i in $(seq 1 "$NAIVE"); do
        "$MKIMAGE" build "$model" --data-key-out "$W/naive/$i.key" -o "$W/naive/$i.img" >/dev/null
        rm -f "$W/naive/$i.img"*
done
end=$(date +%s.%N)
naive_each=$(awk -v a="$start" -v b="$end" -v n="$NAIVE" 'BEGIN { printf "%.3f", (b - a) / n }')
naive_wall=$(awk -v e="$naive_each" -v n="$N" 'BEGIN { printf "%.1f", e * n }')
rate=$(awk -v n="$N" -v w="$f_wall" 'BEGIN { printf "%.1f", n / w }')
ratio=$(awk -v a="$f_wall" -v b="$naive_wall" 'BEGIN { printf "%.3f", a / b }')
verdict() { awk -v a="$1" -v b="$2" -v op="$3" 'BEGIN { ok = op == "le" ? a <= b : a >= b; print ok ? "PASS" : "MISS" }'; }
echo "factory: $N devices in $f_wall s; naive: $naive_each s per build (x $N = $naive_wall s)"
echo "factory images/s $rate   target >= 20: $(verdict "$rate" 20 ge)"
echo "factory ratio $ratio   target <= 0.05: $(verdict "$ratio" 0.05 le)"
echo "factory peak RSS $((f_rss / 1024)) MiB for $N devices, $((q_rss / 1024)) MiB for $((N / 4)) (independent of the count)"
