# The boot chain under QEMU (OVMF, systemd-boot, TCG): real images built by
# mkimage with the kernel component, booted with qemu-boot/run, asserted on
# the serial console. Each boot is bounded by a timeout.
#   good       slot a boots; / is squashfs on dm-verity, /data ext4 on
#              dm-crypt (the verifier prints the kernel's dm tables, the root
#              prints /proc/mounts); a file written to /data survives a reboot
#   tamper     one flipped byte in root-a's squashfs data -> falls back to b
#   bad-sig    slot a's manifest on the ESP changed -> refused, falls back to b
#   rollback   slot a carries an older (validly signed) manifest than the
#              stored minimum -> refused, falls back to b
#   order      slot a's entry marked bad -> b; slot b updated to a higher OS version
#              -> b boots first (the entries' sort-keys, signing/conventions/)
#   both       both roots broken -> a clear stop, QEMU powers off, no loop
. "$(dirname "$0")/../lib/testlib.sh"
cd "$SRC"
K="$BUILD/keys"
C="$BUILD/components"
RUN="$SRC/qemu-boot/run"
export MTOOLS_SKIP_CHECK=1
BOOT_TIMEOUT=${QEMU_BOOT_TIMEOUT:-240}

if [ ! -f "$C/kernel.comp" ]; then
        fail kernel-component "$C/kernel.comp is missing (make components)"
        exit 0
fi

# A data component that sets the stored anti-rollback minimum (for rollback).
mkdir -p "$T/minver/mkimage"
echo 2 >"$T/minver/mkimage/min-version"
printf 'name: minver\nversion: 1\ntype: data\nlicense: MIT\nsupplier: test\n' >"$T/minver.yaml"
"$MKIMAGE" component pack "$T/minver" --meta "$T/minver.yaml" -o "$T/minver.comp" >/dev/null
"$MKIMAGE" sign "$T/minver.comp" --key "$K/dev.key" >/dev/null

# The type #1 boot chain (secure-boot: off): the Secure Boot one is qemu-secureboot.sh.
model() { # FILE VERSION [EXTRA-DATA-COMPONENT]
        demo_model "$1" off
        sed -i "s#^version: .*#version: $2#" "$1"
        if [ -n "${3:-}" ]; then
                printf '  - name: %s\n    file: %s\n    signer: dev\n' "$(basename "$3" .comp)" "$3" >"$T/extra"
                sed -i "/^components:/r $T/extra" "$1"
        fi
}
build() { # MODEL OUT
        if "$MKIMAGE" build "$1" --data-key "$DATA_KEY" -o "$2" >/dev/null 2>"$T/e"; then return 0; fi
        fail "build-$(basename "$2")" "$(cat "$T/e")"
        return 1
}
flip() { # IMG PARTITION: flip one byte in the middle of the partition's squashfs
        local off size rsize
        read -r off size <<<"$(part_offset "$1" "$2")"
        rsize=$(sed -n 's/^  size: //p' "$1.manifest.yaml")
        python3 - "$1" $((off + rsize / 2)) <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0xff]))
PY
}
boot() { # NAME IMAGE [run options...]: boot, console in $T/NAME.log; 0 when every --expect matched
        local name=$1 img=$2
        shift 2
        "$RUN" --timeout "$BOOT_TIMEOUT" --data-key "$DATA_KEY" --log "$T/$name.log" "$@" "$img" \
                >/dev/null 2>"$T/$name.err"
}
# why NAME: the harness's verdict and the boot chain's lines, for a FAIL message.
# On a timeout the harness's report ends with the console's last lines: they say where a boot hung.
why() {
        grep -a '^qemu-boot/run:' "$T/$1.err" | head -3
        grep -a 'mkimage\|MKIMAGE\|PERSIST' "$T/$1.log" | tail -20
        echo "console tail:"
        sed -n '/^qemu-boot\/run: last 40 console lines:$/,$p' "$T/$1.err" | tail -n 15
}
logged() { grep -aEq "$2" "$T/$1.log"; } # NAME REGEX

mkdir -p "$T/o"
model "$T/demo.yaml" 1
build "$T/demo.yaml" "$T/o/good.img" || exit 0
check good-image-verifies "$MKIMAGE" verify "$T/o/good.img" --pub "$K/dev.pub"

# --- good: boots slot a, verity root, dm-crypt data, /data persists ------------
cat >"$T/persist.sh" <<'EOS'
if [ -f /data/persist ]; then
        echo "PERSIST-FOUND $(cat /data/persist)"
        poweroff -f
fi
echo "written before a reboot" >/data/persist
sync
echo PERSIST-WRITTEN
reboot -f
EOS
if boot good "$T/o/good.img" --fw-cfg guest-script="$T/persist.sh" \
        --expect 'mkimage: manifest of slot a: signature OK' \
        --expect 'mkimage: data: .* dm table data: 0 [0-9]+ crypt aes-xts-plain64 :64:logon:' \
        --expect 'mkimage: root of slot a verified: .* dm table root: 0 [0-9]+ verity 1 [0-9]+:[0-9]+ [0-9]+:[0-9]+ 4096 4096 [0-9]+ 1 sha256 [0-9a-f]{64} [0-9a-f]{64} 1 restart_on_corruption' \
        --expect 'MKIMAGE-BOOT-OK slot=a version=1' \
        --expect 'PERSIST-WRITTEN' \
        --expect 'MKIMAGE-BOOT-OK slot=a version=1' \
        --expect 'PERSIST-FOUND written before a reboot'; then
        pass good-boot-verity-crypt-persist
else
        fail good-boot-verity-crypt-persist "$(why good)"
fi
# The root prints /proc/mounts: / is the squashfs on the verity device, /data the ext4 on dm-crypt.
check good-root-squashfs-on-verity logged good '^  /dev/mapper/root / squashfs ro[,\ ]'
check good-data-ext4-on-crypt logged good '^  /dev/mapper/data /data ext4 rw[,\ ]'
check good-never-slot-b bash -c "! grep -aq 'MKIMAGE-BOOT-OK slot=b' '$T/good.log'"
check good-no-verify-failed bash -c "! grep -aq 'VERIFY FAILED' '$T/good.log'"
check good-blessed grep -aq 'blessed loader/entries/slot-a+2-1.conf -> slot-a.conf' "$T/good.log"
check good-min-version-raised grep -aq 'minimum version raised from 0 to 1' "$T/good.log"
check good-all-modules-loaded bash -c "! grep -aq 'cannot load module' '$T/good.log'"

# --- tamper: one byte in root-a's squashfs -----------------------------------------
cp --sparse=always "$T/o/good.img" "$T/o/tamper.img"
for f in "$T"/o/good.img.manifest*; do cp "$f" "$T/o/tamper.img${f#"$T/o/good.img"}"; done
flip "$T/o/tamper.img" root-a
if boot tamper "$T/o/tamper.img" \
        --expect 'mkimage: VERIFY FAILED: root of slot a does not match its manifest: dm-verity read error' \
        --expect 'mkimage: slot a marked bad: loader/entries/slot-a\+0-1.conf' \
        --expect 'MKIMAGE-BOOT-OK slot=b version=1'; then
        pass tamper-falls-back-to-b
else
        fail tamper-falls-back-to-b "$(why tamper)"
fi
check tamper-never-slot-a bash -c "! grep -aq 'MKIMAGE-BOOT-OK slot=a' '$T/tamper.log'"

# --- bad signature: slot a's manifest on the ESP edited ------------------------------
cp --sparse=always "$T/o/good.img" "$T/o/badsig.img"
read -r esp_off _ <<<"$(part_offset "$T/o/badsig.img" esp)"
sed 's/^version: 1$/version: 9/' "$T/o/good.img.manifest.yaml" >"$T/edited.yaml"
mcopy -o -i "$T/o/badsig.img@@$esp_off" "$T/edited.yaml" ::/slot-a/manifest.yaml
if boot badsig "$T/o/badsig.img" \
        --expect 'mkimage: VERIFY FAILED: manifest of slot a: bad signature' \
        --expect 'MKIMAGE-BOOT-OK slot=b version=1'; then
        pass bad-signature-falls-back-to-b
else
        fail bad-signature-falls-back-to-b "$(why badsig)"
fi
check bad-signature-never-slot-a bash -c "! grep -aq 'MKIMAGE-BOOT-OK slot=a' '$T/badsig.log'"

# --- rollback: slot a holds version 1's signed manifest, the device's minimum is 2 --
model "$T/v1.yaml" 1 "$T/minver.comp"
model "$T/v2.yaml" 2 "$T/minver.comp"
if build "$T/v1.yaml" "$T/o/v1.img" && build "$T/v2.yaml" "$T/o/rollback.img"; then
        read -r esp_off _ <<<"$(part_offset "$T/o/rollback.img" esp)"
        mcopy -o -i "$T/o/rollback.img@@$esp_off" "$T/o/v1.img.manifest.yaml" ::/slot-a/manifest.yaml
        mcopy -o -i "$T/o/rollback.img@@$esp_off" "$T/o/v1.img.manifest.yaml.minisig" ::/slot-a/manifest.yaml.minisig
        if boot rollback "$T/o/rollback.img" \
                --expect 'mkimage: manifest of slot a: signature OK .* version 1' \
                --expect 'mkimage: VERIFY FAILED: manifest of slot a has version 1, below the minimum 2 stored on this device \(rollback refused\)' \
                --expect 'MKIMAGE-BOOT-OK slot=b version=2'; then
                pass rollback-refused-falls-back-to-b
        else
                fail rollback-refused-falls-back-to-b "$(why rollback)"
        fi
        check rollback-never-slot-a bash -c "! grep -aq 'MKIMAGE-BOOT-OK slot=a' '$T/rollback.log'"
fi

# --- entry order: slot a's entry marked bad (+0-3) sorts last, slot b boots ------------
# A fresh build (the boots above renamed good.img's entries): the same bytes as good.img was.
build "$T/demo.yaml" "$T/o/order-bad.img" && cp --sparse=always "$T/o/order-bad.img" "$T/o/updated.img"
read -r esp_off _ <<<"$(part_offset "$T/o/order-bad.img" esp)"
mren -i "$T/o/order-bad.img@@$esp_off" ::/loader/entries/slot-a+3.conf ::/loader/entries/slot-a+0-3.conf
if boot order-bad "$T/o/order-bad.img" --expect 'MKIMAGE-BOOT-OK slot=b version=1'; then
        pass order-bad-slot-a-boots-b
else
        fail order-bad-slot-a-boots-b "$(why order-bad)"
fi

# --- entry order: slot b updated to OS version 2 sorts before slot a's version 1 --------
# A v1 image whose slot b is a v2 image's (partitions, their GPT UUIDs, entry and manifest),
# as the updater would leave it: slot a's entry is untouched.
model "$T/up2.yaml" 2
if build "$T/up2.yaml" "$T/o/up2.img"; then
        ok=1
        for p in root-b root-b-verity; do
                read -r off size <<<"$(part_offset "$T/o/updated.img" $p)"
                [ "$(part_offset "$T/o/up2.img" $p)" = "$off $size" ] || ok=0
                dd if="$T/o/up2.img" of="$T/o/updated.img" bs=1M iflag=skip_bytes,count_bytes oflag=seek_bytes \
                        skip="$off" seek="$off" count="$size" conv=notrunc,sparse status=none
        done
        sfdisk -q --part-uuid "$T/o/updated.img" 4 "$(sfdisk --part-uuid "$T/o/up2.img" 4)" &&
                sfdisk -q --part-uuid "$T/o/updated.img" 5 "$(sfdisk --part-uuid "$T/o/up2.img" 5)" || ok=0
        read -r esp_off _ <<<"$(part_offset "$T/o/up2.img" esp)"
        for f in loader/entries/slot-b+3.conf slot-b/manifest.yaml slot-b/manifest.yaml.minisig; do
                mcopy -n -i "$T/o/up2.img@@$esp_off" "::/$f" "$T/f" && mcopy -o -i "$T/o/updated.img@@$esp_off" "$T/f" "::/$f" || ok=0
        done
        if [ $ok = 1 ] && boot updated "$T/o/updated.img" --expect 'MKIMAGE-BOOT-OK slot=b version=2'; then
                pass order-higher-version-in-b-boots-first
        else
                fail order-higher-version-in-b-boots-first "layout ok=$ok; $(why updated)"
        fi
        check order-updated-never-slot-a bash -c "! grep -aq 'MKIMAGE-BOOT-OK slot=a' '$T/updated.log'"
fi

# --- both slots broken: a clear stop, QEMU powers off by itself -------------------
cp --sparse=always "$T/o/tamper.img" "$T/o/both.img"
cp "$T/o/good.img.manifest.yaml" "$T/o/both.img.manifest.yaml"
flip "$T/o/both.img" root-b
rc=0
boot both "$T/o/both.img" || rc=$?
expect_eq both-broken-qemu-stops "$rc" 0
check both-broken-stop-message grep -aq 'mkimage: NO BOOTABLE SLOT: slot b failed and slot a is marked bad' "$T/both.log"
expect_eq both-broken-two-failures "$(grep -ac 'VERIFY FAILED' "$T/both.log")" 2
check both-broken-never-boots bash -c "! grep -aq 'MKIMAGE-BOOT-OK' '$T/both.log'"
