# Images survive real flashing (docs/layout.md, "What is written and what is a
# hole"): `bmaptool copy` with mkimage's own block map writes only the mapped
# blocks, so every byte that matters must be mapped; the rest of the target
# keeps what the media held. Targets are pre-filled with 0xA5 (used media, the
# test that matters), 0x00 and 0xFF (erased flash), the same size as the image.
#   demo      a build of the demo model, its bmap made by `bmaptool create` (what
#             a user runs on a build's image) and checked against mkimage's own
#             (tests/unit/test-bmap.c make), flashed onto 0xA5, 0x00, 0xFF
#   factory   a factory device's SERIAL.img with its own SERIAL.img.bmap, onto 0xA5
#   checks    stock tools on the flashed target: sfdisk --verify, sgdisk -v,
#             fsck.vfat -n (ESP), cryptsetup isLuks / luksDump / open, e2fsck -fn
#             of the opened (or offline-decrypted) data, veritysetup verify of
#             each root against its manifest's root hash, unsquashfs -l,
#             mkimage verify; then QEMU boots both 0xA5 targets (two at a time,
#             each bounded) to MKIMAGE-BOOT-OK
#   holed     proof that the checks can fail: a copy whose LUKS2 JSON area has a
#             hole where it held zeros, flashed with a fresh `bmaptool create`
#             map: refused by cryptsetup on 0xA5, accepted on 0x00
. "$(dirname "$0")/../lib/testlib.sh"
cd "$SRC"
K="$BUILD/keys"
RUN="$SRC/qemu-boot/run"
BMAP="$BUILD/tests/test-bmap"
BOOT_TIMEOUT=${QEMU_BOOT_TIMEOUT:-240}

for tool in bmaptool cryptsetup veritysetup unsquashfs fsck.vfat sfdisk e2fsck; do
        if ! command -v "$tool" >/dev/null; then
                fail tools "$tool is missing (make deps installs it)"
                exit 0
        fi
done
if [ ! -f "$BUILD/components/kernel.comp" ] || [ ! -x "$BMAP" ]; then
        fail fixtures "$BUILD/components/kernel.comp or $BMAP is missing (make components unit-bins)"
        exit 0
fi

# --- the images ------------------------------------------------------------------
sed -e "s#\.\./build/#$BUILD/#g" -e "s#\.\./layouts/#$SRC/layouts/#" models/demo-x86_64.yaml >"$T/demo.yaml"
mkdir -p "$T/o"
if ! "$MKIMAGE" build "$T/demo.yaml" --data-key "$DATA_KEY" -o "$T/o/demo.img" >/dev/null 2>"$T/e"; then
        fail build-demo "$(cat "$T/e")"
        exit 0
fi
# The demo image as a user flashes it: a block map from the stock tool, of the holes mkimage left.
check demo-bmap-created bmaptool create -o "$T/o/demo.img.bmap" "$T/o/demo.img"
# mkimage's own map (as the factory writes it) must list the same blocks as the stock tool's.
mapped() { # BMAP: one mapped block number per line
        python3 - "$1" <<'PY'
import re, sys
for a, b in re.findall(r"<Range[^>]*>\s*(\d+)(?:-(\d+))?\s*</Range>", open(sys.argv[1]).read()):
    for n in range(int(a), int(b or a) + 1):
        print(n)
PY
}
if "$BMAP" make "$T/o/demo.img" "$T/o/demo.img.mk-bmap" 2>"$T/e" &&
        cmp -s <(mapped "$T/o/demo.img.bmap") <(mapped "$T/o/demo.img.mk-bmap") &&
        [ -n "$(mapped "$T/o/demo.img.bmap")" ]; then
        pass demo-bmap-agrees
else
        fail demo-bmap-agrees "mkimage's block map and bmaptool create's differ: $(cat "$T/e")"
fi
"$MKIMAGE" keygen "$T/brand" >/dev/null
printf 'serial\nSN-FLASH1\n' >"$T/devices.csv"
if ! "$MKIMAGE" factory "$T/demo.yaml" --brand-key "$T/brand.key" --devices "$T/devices.csv" -o "$T/f" \
        >/dev/null 2>"$T/e"; then
        fail factory-build "$(cat "$T/e")"
        exit 0
fi
FIMG="$T/f/SN-FLASH1.img"
FKEY="$T/f/SN-FLASH1.data-key"

# --- flashing ----------------------------------------------------------------------
# fill FILE SIZE BYTE: a file of SIZE bytes, every one BYTE (hex), written out (not sparse).
fill() {
        python3 - "$1" "$2" "$3" <<'PY'
import sys
path, size, byte = sys.argv[1], int(sys.argv[2]), int(sys.argv[3], 16)
chunk = bytes([byte]) * (1 << 20)
with open(path, "wb") as f:
    for _ in range(size >> 20):
        f.write(chunk)
    f.write(chunk[: size & ((1 << 20) - 1)])
PY
}
# apply_bmap IMG BMAP TARGET: what bmaptool copy does to a block device, for when no loop device can be
# had (bmaptool truncates a regular file, which would zero the fill): each range copied, checksum checked.
apply_bmap() {
        python3 - "$@" <<'PY'
import hashlib, re, sys
img, bmap, target = sys.argv[1:]
text = open(bmap).read()
bs = int(re.search(r"<BlockSize>\s*(\d+)", text).group(1))
with open(img, "rb") as src, open(target, "r+b") as dst:
    for sha, a, b in re.findall(r'<Range chksum="([0-9a-f]+)">\s*(\d+)(?:-(\d+))?\s*</Range>', text):
        a = int(a); b = int(b or a)
        src.seek(a * bs); data = src.read((b - a + 1) * bs)
        if hashlib.sha256(data).hexdigest() != sha:
            sys.exit("checksum mismatch in blocks %d-%d" % (a, b))
        dst.seek(a * bs); dst.write(data)
PY
}
# flash IMG BMAP BYTE TARGET: TARGET (a file the size of IMG, filled with BYTE) as bmaptool copy
# leaves a device: through a loop device over it where one can be had.
flash() {
        local img=$1 map=$2 byte=$3 target=$4 loop
        fill "$target" "$(stat -c %s "$img")" "$byte" || return 1
        if loop=$(losetup -f --show "$target" 2>/dev/null); then
                bmaptool -q copy --bmap "$map" "$img" "$loop" >"$T/bm.log" 2>&1
                local rc=$?
                losetup -d "$loop"
                return $rc
        fi
        apply_bmap "$img" "$map" "$target" >"$T/bm.log" 2>&1
}
# part IMG NAME OUT: the partition NAME of IMG copied to OUT.
part() {
        local off size
        read -r off size <<<"$(part_offset "$1" "$2")"
        [ -n "$size" ] && dd if="$1" of="$3" bs=1M iflag=skip_bytes,count_bytes skip="$off" count="$size" \
                conv=sparse status=none
}
hash_of() { sed -n 's/^    root-hash: //p' "$1"; } # MANIFEST
# e2fsck_data NAME LUKSPART KEY: e2fsck -fn of the opened data partition: through dm-crypt where the
# device-mapper works, else of a copy decrypted offline (cryptsetup reencrypt --decrypt).
e2fsck_data() {
        local name=$1 luks=$2 key=$3 loop
        if dmsetup version >/dev/null 2>&1 && loop=$(losetup -f --show "$luks" 2>/dev/null); then
                local dm="mkimage-flash-$$-$name" rc=1
                if cryptsetup open --key-file "$key" "$loop" "$dm" >"$T/$name.open" 2>&1; then
                        e2fsck -fn "/dev/mapper/$dm" >"$T/$name.fsck" 2>&1 && rc=0
                        cryptsetup close "$dm"
                fi
                losetup -d "$loop"
                return $rc
        fi
        rm -f "$T/$name.hdr"
        cryptsetup reencrypt --decrypt --header "$T/$name.hdr" "$luks" --key-file "$key" \
                --force-offline-reencrypt --disable-locks --batch-mode >"$T/$name.open" 2>&1 &&
                e2fsck -fn "$luks" >"$T/$name.fsck" 2>&1
}
# check_target NAME TARGET IMG KEY: the stock tools on a flashed target (IMG: the image it came from,
# whose manifests are copied beside TARGET).
check_target() {
        local n=$1 target=$2 img=$3 key=$4 d="$T/$1.parts" s
        mkdir -p "$d"
        check "$n-sfdisk-verify" bash -c "sfdisk --verify '$target' 2>&1 | grep -q 'No errors detected'"
        if command -v sgdisk >/dev/null; then
                check "$n-sgdisk-verify" bash -c "sgdisk -v '$target' 2>&1 | grep -q 'No problems found'"
        else
                skip "$n-sgdisk-verify" "sgdisk is missing (apt-get install gdisk)"
        fi
        part "$target" esp "$d/esp"
        check "$n-esp-fsck" fsck.vfat -n "$d/esp"
        part "$target" data "$d/data"
        check "$n-data-isluks" cryptsetup isLuks --disable-locks "$d/data"
        check "$n-data-luksdump" bash -c "cryptsetup luksDump --disable-locks '$d/data' | grep -q '^Version:.*2'"
        check "$n-data-key-opens" cryptsetup open --test-passphrase --disable-locks --key-file "$key" "$d/data"
        if e2fsck_data "$n" "$d/data" "$key"; then pass "$n-data-e2fsck"; else
                fail "$n-data-e2fsck" "$(tail -n 5 "$T/$n.open" "$T/$n.fsck" 2>/dev/null)"
        fi
        for s in a b; do
                local m="$img.manifest.yaml"
                [ $s = b ] && m="$img.manifest-b.yaml"
                part "$target" "root-$s" "$d/root" && part "$target" "root-$s-verity" "$d/verity"
                check "$n-root-$s-veritysetup-verify" veritysetup verify "$d/root" "$d/verity" "$(hash_of "$m")"
                check "$n-root-$s-unsquashfs" bash -c "unsquashfs -l '$d/root' | grep -q '^squashfs-root/etc'"
        done
        rm -rf "$d"
        for m in "$img".manifest*; do cp "$m" "$target${m#"$img"}"; done
        check "$n-mkimage-verify" "$MKIMAGE" verify "$target" --pub "$K/dev.pub"
}

# --- the demo build and the factory device, flashed -------------------------------------
for byte in a5 00 ff; do
        if flash "$T/o/demo.img" "$T/o/demo.img.bmap" $byte "$T/demo-$byte.target"; then
                pass "demo-$byte-flashed"
                check_target "demo-$byte" "$T/demo-$byte.target" "$T/o/demo.img" "$DATA_KEY"
        else
                fail "demo-$byte-flashed" "$(tail -n 3 "$T/bm.log")"
        fi
        [ $byte = a5 ] || rm -f "$T/demo-$byte.target"*
done
if flash "$FIMG" "$FIMG.bmap" a5 "$T/factory-a5.target"; then
        pass factory-a5-flashed
        check_target factory-a5 "$T/factory-a5.target" "$FIMG" "$FKEY"
else
        fail factory-a5-flashed "$(tail -n 3 "$T/bm.log")"
fi

# --- holed: the same checks fail when a zero that matters is a hole ---------------------
# The JSON area of LUKS2's first metadata copy: 4..16 KiB of the partition, its text at the start and
# zeros after it, which the copy's checksum covers. The zeros from 8 KiB on become a hole.
cp --sparse=always "$T/o/demo.img" "$T/holed.img"
read -r doff _ <<<"$(part_offset "$T/holed.img" data)"
fallocate -p -o $((doff + 8192)) -l 8192 "$T/holed.img"
bmaptool create "$T/holed.img" -o "$T/holed.img.bmap" 2>/dev/null
for byte in a5 00; do
        if ! flash "$T/holed.img" "$T/holed.img.bmap" $byte "$T/holed.target"; then
                fail "holed-$byte-flashed" "$(tail -n 3 "$T/bm.log")"
                continue
        fi
        part "$T/holed.target" data "$T/holed.data"
        if [ $byte = a5 ]; then
                check holed-a5-not-luks bash -c "! cryptsetup isLuks --disable-locks '$T/holed.data'"
                check holed-a5-not-opened bash -c "! cryptsetup open --test-passphrase --disable-locks \
                        --key-file '$DATA_KEY' '$T/holed.data' 2>/dev/null"
        else
                check holed-00-opens cryptsetup open --test-passphrase --disable-locks --key-file "$DATA_KEY" \
                        "$T/holed.data"
        fi
        rm -f "$T/holed.target" "$T/holed.data"
done

# --- the 0xA5 targets boot, two at a time ---------------------------------------------------
boot() { # NAME TARGET KEY: the console in $T/NAME.log
        "$RUN" --timeout "$BOOT_TIMEOUT" --data-key "$3" --log "$T/$1.log" --expect 'MKIMAGE-BOOT-OK slot=a' "$2" \
                >/dev/null 2>"$T/$1.err"
}
booted() { # NAME RC
        if [ "$2" = 0 ]; then pass "$1-boots"; else
                fail "$1-boots" "exit $2: $(grep -a '^qemu-boot/run:' "$T/$1.err" | head -3) \
$(grep -a 'mkimage\|MKIMAGE' "$T/$1.log" 2>/dev/null | tail -8)"
        fi
}
pids=() names=()
for n in demo-a5 factory-a5; do
        [ -f "$T/$n.target" ] || continue
        key=$DATA_KEY
        [ $n = factory-a5 ] && key=$FKEY
        boot "$n" "$T/$n.target" "$key" &
        pids+=($!) names+=("$n")
done
for i in "${!pids[@]}"; do
        rc=0
        wait "${pids[$i]}" || rc=$?
        booted "${names[$i]}" $rc
done
