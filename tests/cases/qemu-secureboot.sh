# Secure Boot under QEMU (issue: UEFI Secure Boot by default): a signed image
# booted by qemu-boot/run with OVMF's Secure Boot build and a fresh variable
# store, as a device out of the box: systemd-boot enrols the image's
# development keys and resets, then the firmware enforces Secure Boot.
#   good      enrol, SecureBoot=1, slot a boots; its command line pins the
#             root; the root blesses EFI/Linux/slot-a+2-1.efi
#   manifest  slot a's manifest replaced by a validly signed one of another
#             release -> the verifier refuses it (the UKI pins another root),
#             marks the UKI bad, slot b boots
#   initrd    one byte of slot a's UKI .initrd flipped -> the firmware refuses
#             it (Access Denied), the harness power-cycles the dead end, the
#             tries run out, slot b boots
# Scenarios run two at a time; each is bounded by a timeout. docs/secure-boot.md.
. "$(dirname "$0")/../lib/testlib.sh"
cd "$SRC"
RUN="$SRC/qemu-boot/run"
export MTOOLS_SKIP_CHECK=1
BOOT_TIMEOUT=${QEMU_BOOT_TIMEOUT:-300}
KEYS="$T/keys"
"$MKIMAGE" sb-keygen "$KEYS" >/dev/null 2>"$T/keygen.err" || { fail keygen "$(cat "$T/keygen.err")"; exit 0; }

model() { # FILE VERSION
        sed -e "s#^version: .*#version: $2#" -e "s#\.\./build/#$BUILD/#g" -e "s#\.\./layouts/#$SRC/layouts/#" \
                models/demo-x86_64.yaml >"$1"
        printf 'secure-boot:\n  key: %s/db.key\n  certificate: %s/db.crt\n  enroll-keys: %s\n' "$KEYS" "$KEYS" \
                "$KEYS" >>"$1"
}
build() { # MODEL OUT
        if "$MKIMAGE" build "$1" --data-key "$DATA_KEY" -o "$2" >/dev/null 2>"$T/e"; then return 0; fi
        fail "build-$(basename "$2")" "$(cat "$T/e")"
        return 1
}
boot() { # NAME IMAGE [run options...]
        local name=$1 img=$2
        shift 2
        "$RUN" --timeout "$BOOT_TIMEOUT" --data-key "$DATA_KEY" --vars "$T/$name.vars" --log "$T/$name.log" "$@" \
                "$img" >/dev/null 2>"$T/$name.err"
}
why() {
        grep -a '^qemu-boot/run:' "$T/$1.err" | head -4
        grep -a 'mkimage\|MKIMAGE\|Access Denied\|Secure' "$T/$1.log" | tail -20
}
copy() { # FROM TO: an image and its manifests
        cp --sparse=always "$1" "$2"
        for f in "$1".manifest*; do cp "$f" "$2${f#"$1"}"; done
}

mkdir -p "$T/o"
model "$T/v1.yaml" 1
model "$T/v2.yaml" 2
build "$T/v1.yaml" "$T/o/good.img" && build "$T/v2.yaml" "$T/o/v2.img" || exit 0
read -r esp_off _ <<<"$(part_offset "$T/o/good.img" esp)"

# manifest: v2's slot-a manifest (signed by the same key, another root) on v1's ESP.
copy "$T/o/good.img" "$T/o/manifest.img"
mcopy -o -i "$T/o/manifest.img@@$esp_off" "$T/o/v2.img.manifest.yaml" ::/slot-a/manifest.yaml
mcopy -o -i "$T/o/manifest.img@@$esp_off" "$T/o/v2.img.manifest.yaml.minisig" ::/slot-a/manifest.yaml.minisig

# initrd: one byte in the middle of slot a's UKI .initrd section, after signing.
copy "$T/o/good.img" "$T/o/initrd.img"
mcopy -n -i "$T/o/initrd.img@@$esp_off" ::/EFI/Linux/slot-a+3.efi "$T/uki.efi"
python3 - "$T/uki.efi" "$(objdump -h "$T/uki.efi" | awk '$2 == ".initrd" {print $3, $6}')" <<'PY'
import sys
size, off = (int(x, 16) for x in sys.argv[2].split())
with open(sys.argv[1], "r+b") as f:
    f.seek(off + size // 2); b = f.read(1); f.seek(off + size // 2); f.write(bytes([b[0] ^ 0x01]))
PY
mcopy -o -i "$T/o/initrd.img@@$esp_off" "$T/uki.efi" ::/EFI/Linux/slot-a+3.efi
check initrd-tamper-breaks-signature bash -c "! sbverify --cert '$KEYS/db.crt' '$T/uki.efi' >/dev/null 2>&1"

boot good "$T/o/good.img" \
        --expect 'Enrolling secure boot keys' \
        --expect 'EFI stub: UEFI Secure Boot is enabled' \
        --expect 'mkimage: root of slot a pinned by the command line: roothash=' \
        --expect 'MKIMAGE-BOOT-OK slot=a version=1' \
        --expect 'mkimage base: SecureBoot=1' \
        --expect 'blessed EFI/Linux/slot-a\+2-1.efi -> slot-a.efi' &
pid_good=$!
boot manifest "$T/o/manifest.img" \
        --expect 'mkimage: VERIFY FAILED: manifest of slot a does not match its kernel command line: roothash=' \
        --expect 'mkimage: slot a marked bad: EFI/Linux/slot-a\+0-1.efi' \
        --expect 'MKIMAGE-BOOT-OK slot=b version=1' \
        --expect 'mkimage base: SecureBoot=1' &
pid_manifest=$!
if wait $pid_good; then pass good-secure-boot; else fail good-secure-boot "$(why good)"; fi
if wait $pid_manifest; then pass foreign-manifest-refused-falls-back-to-b; else
        fail foreign-manifest-refused-falls-back-to-b "$(why manifest)"
fi
check good-never-slot-b bash -c "! grep -aq 'MKIMAGE-BOOT-OK slot=b' '$T/good.log'"
check good-kernel-locked-down grep -aq 'Kernel is locked down from EFI Secure Boot' "$T/good.log"
check manifest-never-slot-a bash -c "! grep -aq 'MKIMAGE-BOOT-OK slot=a' '$T/manifest.log'"

if boot initrd "$T/o/initrd.img" --power-cycles 4 \
        --expect 'Enrolling secure boot keys' \
        --expect 'Error loading .*slot-a.*Access Denied' \
        --expect 'MKIMAGE-BOOT-OK slot=b version=1' \
        --expect 'mkimage base: SecureBoot=1'; then
        pass tampered-uki-refused-by-firmware-falls-back-to-b
else
        fail tampered-uki-refused-by-firmware-falls-back-to-b "$(why initrd)"
fi
check initrd-never-slot-a bash -c "! grep -aq 'MKIMAGE-BOOT-OK slot=a' '$T/initrd.log'"
check initrd-no-verifier-run-for-a bash -c "! grep -aq 'mkimage: slot a: verifying' '$T/initrd.log'"
exit 0
