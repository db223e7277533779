# Growing on first boot (docs/layout.md, "Growing on first boot"), under QEMU:
# the demo image copied to a disk twice its size boots, and its first boot
# moves the backup GPT to the end and grows the data partition, its LUKS2
# volume and its ext4 to fill the disk, keeping what /data held.
#   grown       the first boot: one console line per step, MKIMAGE-BOOT-OK,
#               /data's df grew, the file the image put on /data is there;
#               afterwards on the host: sgdisk -v and sfdisk --verify clean,
#               the backup GPT in the last sector, the data partition ends at
#               the disk's last 1 MiB, its ext4 (decrypted offline) checks
#               clean and fills the LUKS2 payload
#   again       the next boot of the grown disk is quiet (nothing to grow)
#   cut-K       a power cut (SIGKILL of QEMU) right when the verifier printed
#               grow step K's line, then a normal boot: MKIMAGE-BOOT-OK,
#               the data kept, the disk fully grown and clean as above
#   torn        the primary GPT cut between its entries and its header (made
#               on the host from the grown disk's sectors): boots and grows
# Boots run two at a time, each bounded by a timeout. The data partition is
# checked offline (cryptsetup reencrypt --decrypt on a copy): the host has no
# device-mapper to open it.
. "$(dirname "$0")/../lib/testlib.sh"
cd "$SRC"
C="$BUILD/components"
K="$BUILD/keys"
RUN="$SRC/qemu-boot/run"
BOOT_TIMEOUT=${QEMU_BOOT_TIMEOUT:-180}
MiB=$((1024 * 1024))

if [ ! -f "$C/kernel.comp" ]; then
        fail kernel-component "$C/kernel.comp is missing (make components)"
        exit 0
fi
command -v sgdisk >/dev/null || apt-get install -y -q gdisk >/dev/null 2>&1 || true
if ! command -v sgdisk >/dev/null; then
        fail sgdisk "sgdisk is missing (apt-get install gdisk)"
        exit 0
fi

# A data component: a file on /data from before the grow.
mkdir -p "$T/kept/grow"
echo "written before the grow" >"$T/kept/grow/kept"
printf 'name: kept\nversion: 1\ntype: data\nlicense: MIT\nsupplier: test\n' >"$T/kept.yaml"
"$MKIMAGE" component pack "$T/kept" --meta "$T/kept.yaml" -o "$T/kept.comp" >/dev/null
"$MKIMAGE" sign "$T/kept.comp" --key "$K/dev.key" >/dev/null
sed -e "s#\.\./build/#$BUILD/#g" -e "s#\.\./layouts/#$SRC/layouts/#" models/demo-x86_64.yaml >"$T/demo.yaml"
printf '  - name: kept\n    file: %s\n    signer: dev\n' "$T/kept.comp" >"$T/extra"
sed -i "/^components:/r $T/extra" "$T/demo.yaml"
mkdir -p "$T/o"
if ! "$MKIMAGE" build "$T/demo.yaml" --data-key "$DATA_KEY" -o "$T/o/demo.img" >/dev/null 2>"$T/e"; then
        fail build "$(cat "$T/e")"
        exit 0
fi
size=$(stat -c %s "$T/o/demo.img")
read -r data_off data_len <<<"$(part_offset "$T/o/demo.img" data)"
big=$((2 * size))
# The grown data partition: to the last 1 MiB boundary before the backup entries (33 sectors).
want_end=$(((big / 512 - 33) / 2048 * 2048))
want_len=$((want_end * 512 - data_off))

# The guest's script: what /data holds and its size, then a clean power-off.
cat >"$T/guest.sh" <<'EOS'
echo "GROW-KEPT $(cat /data/grow/kept)"
echo "GROW-DF $(df -k /data | awk 'NR == 2 { print $2 }')"
mount -o remount,ro /data
sync
echo GROW-DONE
poweroff -f
EOS

boot() { # NAME IMAGE [run options...]: boot in place, console in $T/NAME.log
        local name=$1 img=$2
        shift 2
        "$RUN" --in-place --timeout "$BOOT_TIMEOUT" --data-key "$DATA_KEY" --log "$T/$name.log" "$@" "$img" \
                >/dev/null 2>"$T/$name.err"
}
why() { # NAME: the harness's verdict and the boot chain's lines
        grep -a '^qemu-boot/run:' "$T/$1.err" | head -3
        grep -a 'mkimage\|MKIMAGE\|GROW-' "$T/$1.log" | tail -20
}
normal_boot() { # NAME IMAGE: to MKIMAGE-BOOT-OK and the guest script's end
        boot "$1" "$2" --fw-cfg guest-script="$T/guest.sh" \
                --expect 'MKIMAGE-BOOT-OK slot=a version=1' \
                --expect '^GROW-KEPT written before the grow' --expect '^GROW-DONE'
}
# disk_ok NAME IMAGE: the host's view of a fully grown disk; FAIL lines name what is wrong.
disk_ok() {
        local name=$1 img=$2 off len sectors
        sgdisk -v "$img" >"$T/$name.sgdisk" 2>&1
        grep -q '^No problems found' "$T/$name.sgdisk" || { fail "$name-sgdisk-v" "$(cat "$T/$name.sgdisk")"; return 1; }
        sfdisk --verify "$img" >"$T/$name.sfdisk" 2>&1 || { fail "$name-sfdisk-verify" "$(cat "$T/$name.sfdisk")"; return 1; }
        sectors=$(($(stat -c %s "$img") / 512))
        [ "$(dd if="$img" bs=512 skip=$((sectors - 1)) count=1 status=none | head -c 8)" = "EFI PART" ] ||
                { fail "$name-backup-in-last-sector" "no GPT header in sector $((sectors - 1))"; return 1; }
        read -r off len <<<"$(part_offset "$img" data)"
        [ "$off" = "$data_off" ] && [ "$len" = "$want_len" ] ||
                { fail "$name-data-partition-grown" "data at $off, $len bytes; want $data_off, $want_len"; return 1; }
        # The data partition, decrypted offline: its ext4 checks clean and fills the LUKS2 payload.
        rm -f "$T/$name.hdr"
        dd if="$img" of="$T/$name.dec" bs=1M skip=$((off / MiB)) count=$((len / MiB)) conv=sparse status=none
        if ! cryptsetup reencrypt --decrypt --header "$T/$name.hdr" "$T/$name.dec" --key-file "$DATA_KEY" \
                --force-offline-reencrypt --disable-locks --batch-mode >"$T/$name.re" 2>&1; then
                fail "$name-luks2-decrypts" "$(cat "$T/$name.re")"
                return 1
        fi
        e2fsck -fn "$T/$name.dec" >"$T/$name.fsck" 2>&1 || { fail "$name-e2fsck-clean" "$(cat "$T/$name.fsck")"; return 1; }
        local blocks
        blocks=$(dumpe2fs -h "$T/$name.dec" 2>/dev/null | sed -n 's/^Block count: *//p')
        [ "$blocks" = $(((len - 16 * MiB) / 4096)) ] ||
                { fail "$name-ext4-fills-partition" "$blocks blocks of 4 KiB in a $len-byte partition"; return 1; }
        [ "$(debugfs -R 'cat /grow/kept' "$T/$name.dec" 2>/dev/null)" = "written before the grow" ] ||
                { fail "$name-data-kept" "/grow/kept is gone from the data file system"; return 1; }
        rm -f "$T/$name.dec" "$T/$name.hdr"
}
grown_copy() { # IMAGE: the demo image on a disk twice its size
        cp --sparse=always "$T/o/demo.img" "$1"
        truncate -s "$big" "$1"
}

# --- grown: the first boot ------------------------------------------------------
grown_copy "$T/o/grown.img"
if normal_boot grown "$T/o/grown.img"; then pass grown-boots; else fail grown-boots "$(why grown)"; fi
in_order() { # NAME REGEX...: the console holds lines matching the REGEXes, in this order
        local name=$1 line=0 n
        shift
        for re in "$@"; do
                n=$(tr -d '\r' <"$T/$name.log" | tail -n +$((line + 1)) | grep -a -n -m1 -E -e "$re" | cut -d: -f1)
                [ -n "$n" ] || { echo "no line matching [$re] after line $line" >&2; return 1; }
                line=$((line + n))
        done
}
check grown-one-line-per-step in_order grown \
        "^mkimage: grow: /dev/vda: the disk has $((big / MiB)) MiB, the GPT ends at LBA $((size / 512 - 1)): growing partition 6 \(data\) from $((data_len / MiB)) to $((want_len / MiB)) MiB$" \
        "^mkimage: grow: /dev/vda: backup GPT moved to LBA $((big / 512 - 1))$" \
        "^mkimage: grow: /dev/vda: primary GPT rewritten: partition 6 \(data\) is LBA $((data_off / 512))-$((want_end - 1))$" \
        "^mkimage: grow: /dev/vda: the kernel sees partition 6 as $((want_len / MiB)) MiB$" \
        "^mkimage: grow: data grown from $(((data_len - 16 * MiB) / MiB)) to $(((want_len - 16 * MiB) / MiB)) MiB" \
        '^MKIMAGE-BOOT-OK slot=a version=1'
df_kib=$(sed -n 's/^GROW-DF //p' "$T/grown.log" | tr -d '\r')
if [ -n "$df_kib" ] && [ "$df_kib" -gt $(((data_len - 16 * MiB) / 1024)) ]; then
        pass grown-df-larger
else fail grown-df-larger "df says ${df_kib:-nothing} KiB, the image's data file system had $(((data_len - 16 * MiB) / 1024))"; fi
disk_ok grown "$T/o/grown.img" && pass grown-disk-clean

# --- the power-cut matrix, two boots at a time ------------------------------------
# Step K's line: the verifier holds for a few seconds after each step when
# fw_cfg opt/mkimage/grow-hold is given (the steps take milliseconds), so the
# cut lands after step K and before step K+1.
echo 4 >"$T/hold"
# The next boot then resumes: "gpt" writes the GPT again (the primary was
# still the old one), "fs" finds the GPT done and grows the ext4, "done" finds
# the GPT done (the ext4 grown, or grown again if its journal had not
# committed the resize).
cuts=(
        "detect:gpt:: the disk has [0-9]+ MiB"
        "backup:gpt:backup GPT moved to LBA"
        "primary:fs:primary GPT rewritten"
        "kernel:fs:the kernel sees partition 6"
        "ext4:done:data grown from"
)
scenario() { # NAME RESUME REGEX: cut at REGEX, then a normal boot; prints PASS/FAIL lines
        local name=$1 resume=$2 re=$3
        grown_copy "$T/o/$name.img"
        if ! boot "$name-1" "$T/o/$name.img" --power-cut --fw-cfg grow-hold="$T/hold" \
                --expect "^mkimage: grow: .*$re"; then
                fail "$name-cut" "$(why "$name-1")"
                return
        fi
        if normal_boot "$name-2" "$T/o/$name.img"; then pass "$name-boots-after-cut"; else
                fail "$name-boots-after-cut" "$(why "$name-2")"
                return
        fi
        local gpt=0 fs=0
        grep -aq '^mkimage: grow: /dev/vda: backup GPT moved' "$T/$name-2.log" && gpt=1
        grep -aq '^mkimage: grow: data grown from' "$T/$name-2.log" && fs=1
        case "$resume:$gpt:$fs" in
        gpt:1:1 | fs:0:1 | done:0:*) pass "$name-resumes-$resume" ;;
        *) fail "$name-resumes-$resume" "GPT rewritten: $gpt, ext4 grown: $fs; $(why "$name-2")" ;;
        esac
        disk_ok "$name" "$T/o/$name.img" && pass "$name-grown-and-clean"
        rm -f "$T/o/$name.img"
}
# torn: the grown disk's protective MBR, primary entries and backup on the
# ungrown image, its old primary header kept (the cut between the two writes).
torn() {
        grown_copy "$T/o/torn.img"
        local last=$((big / 512 - 1))
        dd if="$T/o/grown.img" of="$T/o/torn.img" bs=512 count=1 conv=notrunc status=none
        dd if="$T/o/grown.img" of="$T/o/torn.img" bs=512 skip=2 seek=2 count=32 conv=notrunc status=none
        dd if="$T/o/grown.img" of="$T/o/torn.img" bs=512 skip=$((last - 32)) seek=$((last - 32)) count=33 \
                conv=notrunc status=none
        if normal_boot torn "$T/o/torn.img"; then pass torn-boots; else
                fail torn-boots "$(why torn)"
                return
        fi
        grep -aq '^mkimage: grow: data grown from' "$T/torn.log" || fail torn-ext4-grown "$(why torn)"
        disk_ok torn "$T/o/torn.img" && pass torn-grown-and-clean
}
again() { # the grown disk's next boot: nothing to do, nothing said
        if normal_boot again "$T/o/grown.img"; then pass again-boots; else
                fail again-boots "$(why again)"
                return
        fi
        if grep -aq 'mkimage: grow:' "$T/again.log"; then
                fail again-quiet "$(grep -a 'mkimage: grow:' "$T/again.log")"
        else pass again-quiet; fi
        disk_ok again "$T/o/grown.img" && pass again-disk-clean
}

# differs: a backup GPT that is valid but names the data partition otherwise
# (both CRCs right): two tables that disagree are not ours to judge, so the
# disk is not touched and the device boots as it is.
differs() {
        grown_copy "$T/o/differs.img"
        python3 - "$T/o/differs.img" $((size / 512 - 1)) <<'PY'
import struct, sys, zlib
f = open(sys.argv[1], "r+b"); lba = int(sys.argv[2])
f.seek(lba * 512); h = bytearray(f.read(92))
elba, n, esize = struct.unpack_from("<QII", h, 72)
f.seek(elba * 512); e = bytearray(f.read(n * esize))
e[5 * esize + 56] ^= 0x20  # "data" -> "Data"
struct.pack_into("<I", h, 88, zlib.crc32(e)); struct.pack_into("<I", h, 16, 0)
struct.pack_into("<I", h, 16, zlib.crc32(h))
f.seek(elba * 512); f.write(e); f.seek(lba * 512); f.write(h)
PY
        if normal_boot differs "$T/o/differs.img"; then pass differs-boots; else
                fail differs-boots "$(why differs)"
                return
        fi
        check differs-refused grep -aq "^mkimage: grow: /dev/vda: not touched: the backup GPT at LBA $((size / 512 - 1)) differs from the primary" "$T/differs.log"
        check differs-not-grown bash -c "! grep -aq 'mkimage: grow: .*\(moved\|rewritten\|data grown\)' '$T/differs.log'"
        local off len
        read -r off len <<<"$(part_offset "$T/o/differs.img" data)"
        expect_eq differs-partition-unchanged "$len" "$data_len"
}

jobs_out=()
run_bg() { # NAME CMD...: run in the background, output to $T/NAME.out; at most two at once
        while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n || true; done
        "${@:2}" >"$T/$1.out" 2>&1 &
        jobs_out+=("$T/$1.out")
}
for c in "${cuts[@]}"; do
        IFS=: read -r name resume re <<<"$c"
        run_bg "cut-$name" scenario "cut-$name" "$resume" "$re"
done
run_bg torn torn
wait
run_bg again again
run_bg differs differs
wait
cat "${jobs_out[@]}"
