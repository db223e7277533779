# Secure Boot under QEMU (issues: UEFI Secure Boot by default, 20): a signed
# image booted by qemu-boot/run with OVMF's Secure Boot build and a fresh
# variable store, as a device out of the box: systemd-boot enrols the image's
# development keys and resets, then the firmware enforces Secure Boot.
#   good      enrol, SecureBoot=1, slot a boots; its command line pins the
#             root; the root blesses EFI/Linux/slot-a+2-1.efi; with a TPM
#             (swtpm) attached the guest's PCR 11 is the pcr11 of slot a's
#             signed manifest
#   manifest  slot a's manifest replaced by a validly signed one of another
#             release -> the verifier refuses it (the UKI pins another root),
#             marks the UKI bad, slot b boots; no TPM: PCR11=none
# The firmware's refusals: each a copy of the good image whose slot-a UKI was
# changed after signing. The firmware refuses it (Access Denied), systemd-boot
# exits, the harness power-cycles the dead end, the tries run out, slot b
# boots; the verifier never runs for slot a:
#   initrd    one byte of the .initrd section flipped
#   cmdline   one byte of the .cmdline section flipped
#   unsigned  the signature removed (sbattach --remove)
#   otherkey  re-signed (sbsign) with the db key of another sb-keygen set
#   swap      the .initrd of an image whose initrd trusts another manifest
#             key (same size, other bytes) spliced into slot a's UKI
# Offline, `mkimage verify --sb-cert` refuses every tampered image with the
# message naming its fault, and passes the good one.
# At most two guests run at once; each is bounded by a timeout. docs/secure-boot.md.
. "$(dirname "$0")/../lib/testlib.sh"
cd "$SRC"
RUN="$SRC/qemu-boot/run"
export MTOOLS_SKIP_CHECK=1
BOOT_TIMEOUT=${QEMU_BOOT_TIMEOUT:-300}
KEYS="$T/keys" OTHER="$T/other-keys"
{ "$MKIMAGE" sb-keygen "$KEYS" && "$MKIMAGE" sb-keygen "$OTHER" --cn other &&
        "$MKIMAGE" keygen "$T/manifest2"; } >/dev/null 2>"$T/keygen.err" || { fail keygen "$(cat "$T/keygen.err")"; exit 0; }

model() { # FILE VERSION [SIGNING-KEY]: the demo model, its own secure-boot section (if any) replaced by ours
        sed -e "s#^version: .*#version: $2#" -e "s#\.\./build/#$BUILD/#g" -e "s#\.\./layouts/#$SRC/layouts/#" \
                -e '/^secure-boot:/,/^[^[:space:]]/{/^secure-boot:/d;/^[[:space:]]/d}' \
                ${3:+-e "s#^signing-key: .*#signing-key: $3#"} models/demo-x86_64.yaml >"$1"
        printf 'secure-boot:\n  key: %s/db.key\n  certificate: %s/db.crt\n  enroll-keys: %s\n' "$KEYS" "$KEYS" \
                "$KEYS" >>"$1"
}
build() { # MODEL OUT
        if "$MKIMAGE" build "$1" --data-key "$DATA_KEY" -o "$2" >/dev/null 2>"$T/e"; then return 0; fi
        fail "build-$(basename "$2")" "$(cat "$T/e")"
        return 1
}
boot() { # NAME IMAGE [run options...]: in the background, at most two at once; the status goes to $T/NAME.rc
        local name=$1 img=$2
        shift 2
        while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n || true; done
        {
                local start=$SECONDS rc=0
                "$RUN" --timeout "$BOOT_TIMEOUT" --data-key "$DATA_KEY" --vars "$T/$name.vars" --log "$T/$name.log" \
                        "$@" "$img" >/dev/null 2>"$T/$name.err" || rc=$?
                echo "$rc" >"$T/$name.rc"
                echo "qemu-secureboot: $name: exit $rc after $((SECONDS - start)) s" >&2
        } &
}
booted() { # NAME: the boot exited 0
        wait
        [ "$(cat "$T/$1.rc" 2>/dev/null)" = 0 ]
}
why() {
        grep -a '^qemu-boot/run:' "$T/$1.err" | head -4
        grep -a 'mkimage\|MKIMAGE\|Access Denied\|Secure' "$T/$1.log" | tail -20
}
copy() { # FROM TO: an image and its manifests
        cp --sparse=always "$1" "$2"
        for f in "$1".manifest*; do cp "$f" "$2${f#"$1"}"; done
}
section() { # UKI NAME: "SIZE FILE-OFFSET" (hex) of a section
        objdump -h "$1" | awk -v s="$2" '$2 == s {print $3, $6}'
}
flip() { # UKI SECTION: xor one byte in the middle of the section
        python3 - "$1" "$(section "$1" "$2")" <<'PY'
import sys
size, off = (int(x, 16) for x in sys.argv[2].split())
with open(sys.argv[1], "r+b") as f:
    f.seek(off + size // 2); b = f.read(1); f.seek(off + size // 2); f.write(bytes([b[0] ^ 0x01]))
PY
}
tamper() { # NAME: a copy of the good image whose slot-a UKI is $T/NAME.efi
        copy "$T/o/good.img" "$T/o/$1.img"
        mcopy -o -i "$T/o/$1.img@@$esp_off" "$T/$1.efi" ::/EFI/Linux/slot-a+3.efi
}
verify_refuses() { # NAME IMAGE WANT...: mkimage verify exits 1 and its report holds each WANT
        local name=$1 img=$2 rc=0 w
        shift 2
        "$MKIMAGE" verify "$img" --pub "$BUILD/keys/dev.pub" --sb-cert "$KEYS/db.crt" >"$T/v.out" 2>&1 || rc=$?
        if [ $rc != 1 ]; then
                fail "verify-refuses-$name" "exit $rc, want 1: $(grep -v ': OK' "$T/v.out")"
                return
        fi
        for w in "$@"; do
                grep -qF -- "$w" "$T/v.out" || { fail "verify-refuses-$name" "no [$w] in: $(grep -v ': OK' "$T/v.out")"; return; }
        done
        pass "verify-refuses-$name"
}

mkdir -p "$T/o"
model "$T/v1.yaml" 1
model "$T/v2.yaml" 2
model "$T/k2.yaml" 1 "$T/manifest2.key"
check model-has-one-secure-boot-section bash -c "[ \"\$(grep -c '^secure-boot:' '$T/v1.yaml')\" = 1 ]"
build "$T/v1.yaml" "$T/o/good.img" && build "$T/v2.yaml" "$T/o/v2.img" && build "$T/k2.yaml" "$T/o/k2.img" || exit 0
read -r esp_off _ <<<"$(part_offset "$T/o/good.img" esp)"
mcopy -n -i "$T/o/good.img@@$esp_off" ::/EFI/Linux/slot-a+3.efi "$T/good.efi"
mcopy -n -i "$T/o/good.img@@$esp_off" ::/EFI/Linux/slot-b+3.efi "$T/good-b.efi"
mcopy -n -i "$T/o/k2.img@@$esp_off" ::/EFI/Linux/slot-a+3.efi "$T/k2.efi"

# manifest: v2's slot-a manifest (signed by the same key, another root) on v1's ESP.
copy "$T/o/good.img" "$T/o/manifest.img"
mcopy -o -i "$T/o/manifest.img@@$esp_off" "$T/o/v2.img.manifest.yaml" ::/slot-a/manifest.yaml
mcopy -o -i "$T/o/manifest.img@@$esp_off" "$T/o/v2.img.manifest.yaml.minisig" ::/slot-a/manifest.yaml.minisig

# initrd, cmdline: one byte in the middle of the section, after signing.
for s in initrd cmdline; do
        cp "$T/good.efi" "$T/$s.efi" && flip "$T/$s.efi" ".$s" && tamper "$s"
        check "$s-tamper-breaks-signature" bash -c "! sbverify --cert '$KEYS/db.crt' '$T/$s.efi' >/dev/null 2>&1"
done
# unsigned: the signature table removed; otherkey: then signed by another db key.
cp "$T/good.efi" "$T/unsigned.efi" && sbattach --remove "$T/unsigned.efi" >/dev/null 2>&1 && tamper unsigned
check unsigned-has-no-signature bash -c "! sbverify --list '$T/unsigned.efi' 2>&1 | grep -q 'signature 1'"
sbsign --key "$OTHER/db.key" --cert "$OTHER/db.crt" --output "$T/otherkey.efi" "$T/unsigned.efi" >/dev/null 2>&1 &&
        tamper otherkey
check otherkey-signed-by-other-db bash -c "sbverify --cert '$OTHER/db.crt' '$T/otherkey.efi' >/dev/null 2>&1"
# swap: slot a's and b's initrds are the same bytes; k2's (another manifest key inside) is as long but differs.
check initrds-of-a-and-b-identical bash -c "objcopy -O binary --only-section=.initrd '$T/good.efi' '$T/a.initrd' &&
        objcopy -O binary --only-section=.initrd '$T/good-b.efi' '$T/b.initrd' && cmp -s '$T/a.initrd' '$T/b.initrd'"
expect_eq swap-initrd-same-place "$(section "$T/k2.efi" .initrd)" "$(section "$T/good.efi" .initrd)"
cp "$T/good.efi" "$T/swap.efi"
python3 - "$T/swap.efi" "$T/k2.efi" "$(section "$T/good.efi" .initrd)" <<'PY'
import sys
size, off = (int(x, 16) for x in sys.argv[3].split())
with open(sys.argv[2], "rb") as f:
    f.seek(off); d = f.read(size)
with open(sys.argv[1], "r+b") as f:
    f.seek(off); f.write(d)
PY
tamper swap
check swap-initrd-differs bash -c "objcopy -O binary --only-section=.initrd '$T/swap.efi' '$T/s.initrd' &&
        ! cmp -s '$T/s.initrd' '$T/a.initrd'"

# ---- offline: mkimage verify names each fault --------------------------------
check verify-good bash -c "'$MKIMAGE' verify '$T/o/good.img' --pub '$BUILD/keys/dev.pub' --sb-cert '$KEYS/db.crt' |
        grep -qx 'esp: OK (Secure Boot: 4 EFI binaries signed for /CN=mkimage development db; 2 UKIs match their manifests)'"
changed="esp: FAILED: /EFI/Linux/slot-a+3.efi has SHA-256"
resigned="Secure Boot: /EFI/Linux/slot-a+3.efi: the image changed after it was signed"
verify_refuses manifest "$T/o/manifest.img" "esp: FAILED: /slot-a/manifest.yaml differs from the signed manifest"
verify_refuses initrd "$T/o/initrd.img" "$changed" "slot a's UKI /EFI/Linux/slot-a+3.efi: section .initrd has SHA-256" \
        "$resigned"
verify_refuses cmdline "$T/o/cmdline.img" "$changed" \
        "slot a's UKI /EFI/Linux/slot-a+3.efi: section .cmdline has SHA-256" "$resigned"
verify_refuses unsigned "$T/o/unsigned.img" "$changed" \
        "Secure Boot: /EFI/Linux/slot-a+3.efi: not signed (no Authenticode signature)"
verify_refuses otherkey "$T/o/otherkey.img" "$changed" \
        "Secure Boot: /EFI/Linux/slot-a+3.efi: signed by /CN=other db, not by the db certificate /CN=mkimage development db"
verify_refuses swap "$T/o/swap.img" "$changed" "slot a's UKI /EFI/Linux/slot-a+3.efi: section .initrd has SHA-256" \
        "$resigned"

# ---- under QEMU ---------------------------------------------------------------
boot good "$T/o/good.img" --tpm "$T/tpm" \
        --expect 'Enrolling secure boot keys' \
        --expect 'EFI stub: UEFI Secure Boot is enabled' \
        --expect 'mkimage: root of slot a pinned by the command line: roothash=' \
        --expect 'MKIMAGE-BOOT-OK slot=a version=1' \
        --expect 'mkimage base: SecureBoot=1' \
        --expect 'mkimage base: PCR11=[0-9A-Fa-f]{64}' \
        --expect 'blessed EFI/Linux/slot-a\+2-1.efi -> slot-a.efi'
boot manifest "$T/o/manifest.img" \
        --expect 'mkimage: VERIFY FAILED: manifest of slot a does not match its kernel command line: roothash=' \
        --expect 'mkimage: slot a marked bad: EFI/Linux/slot-a\+0-1.efi' \
        --expect 'MKIMAGE-BOOT-OK slot=b version=1' \
        --expect 'mkimage base: SecureBoot=1' \
        --expect 'mkimage base: PCR11=none'
refused="initrd cmdline unsigned otherkey swap"
for s in $refused; do
        boot "$s" "$T/o/$s.img" --power-cycles 4 \
                --expect 'Enrolling secure boot keys' \
                --expect 'Error loading .*slot-a.*Access Denied' \
                --expect 'MKIMAGE-BOOT-OK slot=b version=1' \
                --expect 'mkimage base: SecureBoot=1'
done
wait

if booted good; then pass good-secure-boot; else fail good-secure-boot "$(why good)"; fi
check good-never-slot-b bash -c "! grep -aq 'MKIMAGE-BOOT-OK slot=b' '$T/good.log'"
check good-kernel-locked-down grep -aq 'Kernel is locked down from EFI Secure Boot' "$T/good.log"
want=$(sed -n 's/^  pcr11: //p' "$T/o/good.img.manifest.yaml")
got=$(sed -n 's/.*mkimage base: PCR11=\([0-9A-Fa-f]*\).*/\1/p' "$T/good.log" | head -1 | tr A-F a-f)
if [[ "$want" =~ ^[0-9a-f]{64}$ ]]; then
        expect_eq good-pcr11-is-the-manifests "$got" "$want"
else
        fail good-pcr11-is-the-manifests "no pcr11 in slot a's manifest: [$want]"
fi
if booted manifest; then pass foreign-manifest-refused-falls-back-to-b; else
        fail foreign-manifest-refused-falls-back-to-b "$(why manifest)"
fi
check manifest-never-slot-a bash -c "! grep -aq 'MKIMAGE-BOOT-OK slot=a' '$T/manifest.log'"
for s in $refused; do
        if booted "$s"; then pass "$s-uki-refused-by-firmware-falls-back-to-b"; else
                fail "$s-uki-refused-by-firmware-falls-back-to-b" "$(why "$s")"
        fi
        check "$s-never-slot-a" bash -c "! grep -aq 'MKIMAGE-BOOT-OK slot=a' '$T/$s.log'"
        check "$s-no-verifier-run-for-a" bash -c "! grep -aq 'mkimage: slot a: verifying' '$T/$s.log'"
done
exit 0
