#!/bin/bash
# make bench, factory case: FACTORY_DEVICES devices (default 200) from the
# demo model with `mkimage factory`, against the naive route: one `mkimage
# build` per device with its own data key. The naive route is timed on
# NAIVE_SAMPLE devices (default 20) and scaled to the same count (each build
# is independent and the same work, so the time is linear); the factory batch
# runs FACTORY_ROUNDS times (default 3) and its median counts. Both run on the
# same file system, twice when possible:
#   - the build folder's file system (ext4 here: no reflink, so every image
#     copies the common part's ~38 MB and the disk's write speed bounds it);
#   - an XFS file system with reflink (a loop-mounted sparse file; root and
#     mkfs.xfs needed), where the common part is shared, not copied: the
#     file system a factory line gives the images.
# Prints, per file system,
#   factory images/s X   factory ratio X.XX (factory wall / naive wall)
# and the peak RSS at two device counts (it must not grow with the count).
set -euo pipefail
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
: "${BENCH_DIR:=$SRC/build/bench}" "${MKIMAGE:=$SRC/build/mkimage}"
N="${FACTORY_DEVICES:-200}" NAIVE="${NAIVE_SAMPLE:-20}" ROUNDS="${FACTORY_ROUNDS:-3}"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-1767225600}"
W="$BENCH_DIR/factory"
XFS_MNT="$W/xfs"
say() { printf 'bench: factory: %s\n' "$*"; }
cleanup() {
        mountpoint -q "$XFS_MNT" 2>/dev/null && umount "$XFS_MNT"
        rm -rf "$W"
}
cleanup
mkdir -p "$W"
trap cleanup EXIT
"$MKIMAGE" keygen "$W/brand" >/dev/null
devices() { { echo serial; for i in $(seq 1 "$1"); do printf 'SN-%05d\n' "$i"; done; } >"$2"; }
devices "$N" "$W/devices.csv"
devices $((N / 4)) "$W/quarter.csv"
model="$SRC/models/demo-x86_64.yaml"

timed() { # OUT CMD...: "wall maxrss_kib"
        local out=$1; shift
        /usr/bin/time -f '%e %M' -o "$out" "$@" >/dev/null
}
verdict() { awk -v a="$1" -v b="$2" -v op="$3" 'BEGIN { ok = op == "le" ? a <= b : a >= b; print ok ? "PASS" : "MISS" }'; }

# run_case DIR LABEL: both routes with their outputs in DIR.
run_case() {
        local dir=$1 label=$2 f_wall f_rss q_rss
        say "[$label] $N devices with mkimage factory in $dir ..."
        mkdir -p "$dir"
        sync
        local used0 used1
        used0=$(df -B1 --output=used "$dir" | tail -n 1)
        timed "$W/f.time" "$MKIMAGE" factory "$model" --devices "$W/devices.csv" -o "$dir/out" \
                --brand-key "$W/brand.key"
        read -r f_wall f_rss <"$W/f.time"
        sync
        used1=$(df -B1 --output=used "$dir" | tail -n 1)
        [ "$(wc -l <"$dir/out/factory-record.jsonl")" -eq "$N" ] ||
                { echo "bench: factory: not every device was built" >&2; exit 1; }
        # The blocks one image holds of its own (extents not shared with the common part: what was
        # written for the device), where the file system reports sharing (FIEMAP_EXTENT_SHARED).
        local own=""
        if command -v xfs_io >/dev/null && [ "$(stat -f -c %T "$dir")" = xfs ]; then
                own=$(xfs_io -r -c 'fiemap -v' "$dir/out/SN-00001.img" | awk '
                        function hex(s,  i, v) { v = 0; s = tolower(substr(s, 3))
                                for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
                                return v }
                        NR > 2 && $3 != "hole" && int(hex($5) / 8192) % 2 == 0 { n += $4 }
                        END { printf "%.2f", n * 512 / 1048576 }')
                own="; an image's own (unshared) blocks: $own MiB, its bmap $(($(stat -c %s "$dir/out/SN-00001.img.bmap") / 1024)) KiB"
        fi
        # What the batch took from the file system, per device (shared extents counted once;
        # the common part's and the bmaps included).
        local per_dev
        per_dev=$(awk -v a="$used0" -v b="$used1" -v n="$N" 'BEGIN { printf "%.2f", (b - a) / n / 1048576 }')
        rm -rf "$dir/out"
        # More rounds of the same batch: the wall time is their median (one run drifts with the
        # machine's background work).
        local walls="$f_wall"
        for _ in $(seq 2 "$ROUNDS"); do
                sync
                timed "$W/f.time" "$MKIMAGE" factory "$model" --devices "$W/devices.csv" -o "$dir/out" \
                        --brand-key "$W/brand.key"
                walls="$walls $(cut -d' ' -f1 "$W/f.time")"
                rm -rf "$dir/out"
        done
        f_wall=$(tr ' ' '\n' <<<"$walls" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
        timed "$W/q.time" "$MKIMAGE" factory "$model" --devices "$W/quarter.csv" -o "$dir/out" \
                --brand-key "$W/brand.key"
        read -r _ q_rss <"$W/q.time"
        rm -rf "$dir/out"

        say "[$label] naive route: $NAIVE x mkimage build with its own data key ..."
        mkdir -p "$dir/naive"
        sync
        local start end
        start=$(date +%s.%N)
        for i in $(seq 1 "$NAIVE"); do
                "$MKIMAGE" build "$model" --data-key-out "$dir/naive/$i.key" -o "$dir/naive/$i.img" >/dev/null
                rm -f "$dir/naive/$i.img"*
        done
        end=$(date +%s.%N)
        rm -rf "$dir/naive"
        local naive_each naive_wall rate ratio
        naive_each=$(awk -v a="$start" -v b="$end" -v n="$NAIVE" 'BEGIN { printf "%.3f", (b - a) / n }')
        naive_wall=$(awk -v e="$naive_each" -v n="$N" 'BEGIN { printf "%.1f", e * n }')
        rate=$(awk -v n="$N" -v w="$f_wall" 'BEGIN { printf "%.1f", n / w }')
        ratio=$(awk -v a="$f_wall" -v b="$naive_wall" 'BEGIN { printf "%.3f", a / b }')
        echo "factory [$label]: $N devices in $f_wall s (median of: $walls); naive: $naive_each s per build (x $N = $naive_wall s);" \
                "the file system lost $per_dev MiB per device$own"
        echo "factory [$label] images/s $rate   target >= 20: $(verdict "$rate" 20 ge)"
        echo "factory [$label] ratio $ratio   target <= 0.05: $(verdict "$ratio" 0.05 le)"
        echo "factory [$label] peak RSS $((f_rss / 1024)) MiB for $N devices, $((q_rss / 1024)) MiB for $((N / 4))" \
                "(independent of the count)"
}

# xfsprogs for the reflink case (as run.sh installs GNU time).
if [ "$(id -u)" = 0 ] && ! command -v mkfs.xfs >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends xfsprogs >/dev/null 2>&1 ||
                { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
                        apt-get install -y -qq --no-install-recommends xfsprogs >/dev/null 2>&1; } || true
fi
fstype=$(stat -f -c %T "$W")
run_case "$W" "$fstype, build folder"
if [ "$(id -u)" = 0 ] && command -v mkfs.xfs >/dev/null && command -v losetup >/dev/null; then
        truncate -s 64G "$W/xfs.img"
        mkfs.xfs -q -m reflink=1 "$W/xfs.img"
        mkdir -p "$XFS_MNT"
        mount -o loop "$W/xfs.img" "$XFS_MNT"
        run_case "$XFS_MNT" "xfs reflink"
else
        say "no XFS case: it needs root, mkfs.xfs (xfsprogs) and loop devices"
fi
