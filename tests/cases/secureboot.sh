# Secure Boot images (issue: UEFI Secure Boot by default): the demo model with
# a secure-boot section gives signed systemd-boot and one signed UKI per slot
# as type #2 entries, checked with the stock tools: sbverify against the db
# certificate (and refused against another), objdump/objcopy for the UKI's
# sections, its command line pinning the manifest's root hash and partition
# UUIDs, PCR 11 recomputed from the extracted sections, the .osrel sort key,
# the enrolment files; two builds give the same ESP. Bad keys, certificates,
# stubs and ESPs are refused before anything is written. docs/secure-boot.md.
. "$(dirname "$0")/../lib/testlib.sh"
cd "$SRC"
export MTOOLS_SKIP_CHECK=1 TZ=UTC
KEYS="$T/keys"
"$MKIMAGE" sb-keygen "$KEYS" >/dev/null 2>"$T/keygen.err" || fail keygen "$(cat "$T/keygen.err")"

# plain.yaml: the demo model without its secure-boot section (Secure Boot by default, no keys named).
sed -e "s#\.\./build/#$BUILD/#g" -e "s#\.\./layouts/#$SRC/layouts/#" models/demo-x86_64.yaml |
        awk '/^secure-boot:/ { skip = 1; next } skip && /^ / { next } { skip = 0; print }' >"$T/plain.yaml"
check plain-model-has-no-secure-boot-section bash -c "! grep -q '^secure-boot' '$T/plain.yaml' && grep -q '^boot:' '$T/plain.yaml'"
sb_model() { # OUT [EXTRA-LINES]: the demo model with a secure-boot section using $KEYS
        { cat "$T/plain.yaml"; printf 'secure-boot:\n  key: %s/db.key\n  certificate: %s/db.crt\n  enroll-keys: %s\n%s' \
                "$KEYS" "$KEYS" "$KEYS" "${2:-}"; } >"$1"
}
sb_model "$T/sb.yaml"
I="$T/o1/demo.img"
mkdir -p "$T/o1" "$T/o2" "$T/x"
if ! "$MKIMAGE" build "$T/sb.yaml" --data-key "$DATA_KEY" -o "$I" >/dev/null 2>"$T/build.err"; then
        fail build "$(cat "$T/build.err")"
        exit 0
fi
pass build
read -r esp_off _ < <(part_offset "$I" esp)
get() { mcopy -n -i "$I@@$esp_off" "::/$1" "$T/x/$2"; }
get EFI/BOOT/BOOTX64.EFI boot.efi && get EFI/systemd/systemd-bootx64.efi sd.efi &&
        get EFI/Linux/slot-a+3.efi a.efi && get EFI/Linux/slot-b+3.efi b.efi && get loader/loader.conf loader.conf
check esp-has-no-type1-files bash -c "! mdir -b -i '$I@@$esp_off' ::/loader/entries 2>/dev/null | grep -q conf &&
        ! mdir -b -i '$I@@$esp_off' ::/slot-a 2>/dev/null | grep -q vmlinuz"
for f in boot sd a b; do
        check "sbverify-$f" bash -c "sbverify --cert '$KEYS/db.crt' '$T/x/$f.efi' 2>&1 | grep -qx 'Signature verification OK'"
done
openssl req -new -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -subj "/CN=another db/" \
        -keyout "$T/other.key" -out "$T/other.crt" 2>/dev/null
check sbverify-other-cert-refused bash -c "! sbverify --cert '$T/other.crt' '$T/x/a.efi' >/dev/null 2>&1"
check loader-conf-enrols grep -qx 'secure-boot-enroll force' "$T/x/loader.conf"
for k in PK KEK db; do
        get "loader/keys/auto/$k.auth" "$k.auth"
        check "enrol-$k" cmp -s "$T/x/$k.auth" "$KEYS/$k.auth"
done

check inspect-lists-signed-ukis bash -c "'$MKIMAGE' inspect '$I' | grep -Eq '^  slot-a\+3\.efi +UKI, signed version 1 +sort-key mkimage-4294967294-a '"
check verify-signed-image bash -c "'$MKIMAGE' verify '$I' --pub '$BUILD/keys/dev.pub' >/dev/null"

# The UKI's sections, read back with objcopy; addresses from objdump.
sect() { objcopy -O binary --only-section="$2" "$T/x/$1.efi" "$T/x/$1$2"; }
for s in .osrel .cmdline .linux .initrd; do sect a "$s"; done
objdump -h "$T/x/a.efi" >"$T/x/a.h"
check uki-section-order python3 - "$T/x/a.h" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()[:1].isdigit()]
names = [r[1] for r in rows]
vma = {r[1]: int(r[3], 16) for r in rows}
size = {r[1]: int(r[2], 16) for r in rows}
assert names[-4:] == [".osrel", ".cmdline", ".linux", ".initrd"], names
end = max(vma[n] + size[n] for n in names[:-4])
prev = end
for n in names[-4:]:
    assert vma[n] % 4096 == 0 and vma[n] >= prev, (n, hex(vma[n]), hex(prev))
    prev = vma[n] + size[n]
PY
mf="$I.manifest.yaml"
hash=$(sed -n 's/^    root-hash: //p' "$mf")
ru=$(sed -n '/^root:/,/^    partition/s/^  partuuid: //p' "$mf")
vu=$(sed -n '/^  verity:/,/^  [a-z]/s/^    partuuid: //p' "$mf")
expect_eq uki-cmdline-pins-root "$(cat "$T/x/a.cmdline")" \
        "console=ttyS0,115200 mkimage.slot=a roothash=$hash systemd.verity_root_data=PARTUUID=$ru systemd.verity_root_hash=PARTUUID=$vu"
expect_eq uki-osrel-sort-key "$(sed -n 's/^IMAGE_ID=//p' "$T/x/a.osrel")" mkimage-4294967294-a
expect_eq uki-linux-is-the-kernel "$(sha256sum <"$T/x/a.linux" | cut -d' ' -f1)" \
        "$(unsquashfs -cat "$BUILD/components/kernel.comp" vmlinuz | sha256sum | cut -d' ' -f1)"
check uki-initrd-carries-key bash -c "cpio -t <'$T/x/a.initrd' 2>/dev/null | grep -q . ; \
        python3 -c \"import sys; d=open('$T/x/a.initrd','rb').read(); sys.exit(0 if b'etc/mkimage/trusted.pub' in d else 1)\""
# PCR 11: extend with sha256(name NUL) then sha256(data), for .linux .osrel .cmdline .initrd.
pcr=$(python3 - "$T/x/a" <<'PY'
import hashlib, sys
pcr = bytes(32)
for n in (".linux", ".osrel", ".cmdline", ".initrd"):
    for d in (hashlib.sha256(n.encode() + b"\0").digest(), hashlib.sha256(open(sys.argv[1] + n, "rb").read()).digest()):
        pcr = hashlib.sha256(pcr + d).digest()
print(pcr.hex())
PY
)
expect_eq manifest-pcr11 "$(sed -n 's/^  pcr11: //p' "$mf")" "$pcr"
for s in .linux .osrel .cmdline .initrd; do
        expect_eq "manifest-section$s" "$(sed -n "/^  - name: $s\$/{n;s/^    sha256: //p}" "$mf")" \
                "$(sha256sum <"$T/x/a$s" | cut -d' ' -f1)"
done
expect_eq manifest-uki-file "$(sed -n '/slot-a.efi$/{n;s/.*sha256: //p}' "$mf" | head -1)" \
        "$(sha256sum <"$T/x/a.efi" | cut -d' ' -f1)"
sect b .cmdline
check slot-b-pins-its-own-root grep -q "mkimage.slot=b roothash=$(sed -n 's/^    root-hash: //p' "$I.manifest-b.yaml") " "$T/x/b.cmdline"

# ---- mkimage verify catches each tampering offline ------------------------------
check verify-sb-cert bash -c "'$MKIMAGE' verify '$I' --pub '$BUILD/keys/dev.pub' --sb-cert '$KEYS/db.crt' >/dev/null"
check verify-sb-cert-reports bash -c "'$MKIMAGE' verify '$I' --pub '$BUILD/keys/dev.pub' --sb-cert '$KEYS/db.crt' |
        grep -q '^esp: OK (Secure Boot: 4 EFI binaries signed for /CN=mkimage development db; 2 UKIs match their manifests)'"
expect_eq verify-other-cert-fails "$("$MKIMAGE" verify "$I" --pub "$BUILD/keys/dev.pub" --sb-cert "$T/other.crt" | grep '^esp:')" \
        "esp: FAILED: Secure Boot: /EFI/BOOT/BOOTX64.EFI: signed by /CN=mkimage development db, not by the db certificate /CN=another db"
tampered() { # NAME WANT-IN-ESP-LINE PYTHON-EDIT-OF-$1.efi: slot a's UKI changed on a copy of the image
        local name=$1 want=$2 edit=$3 img="$T/tamper-$1.img"
        cp --sparse=always "$I" "$img" && for f in "$I".manifest*; do cp "$f" "$img${f#"$I"}"; done
        cp "$T/x/a.efi" "$T/x/t.efi"
        python3 -c "$edit" "$T/x/t.efi" "$T/x" "$(objdump -h "$T/x/a.efi" | awk '$2 == ".initrd" {print $3, $6}')" \
                "$(objdump -h "$T/x/a.efi" | awk '$2 == ".cmdline" {print $3, $6}')"
        mcopy -o -i "$img@@$esp_off" "$T/x/t.efi" ::/EFI/Linux/slot-a+3.efi
        local got
        got=$("$MKIMAGE" verify "$img" --pub "$BUILD/keys/dev.pub" --sb-cert "$KEYS/db.crt" 2>&1 | grep '^esp:')
        case "$got" in *"$want"*) pass "verify-$name" ;; *) fail "verify-$name" "got [$got] want [$want]" ;; esac
}
# The manifest's digest of the whole UKI catches each one first (the first failure is the one reported).
changed="esp: FAILED: /EFI/Linux/slot-a+3.efi has SHA-256"
flip='import sys
size, off = (int(x, 16) for x in sys.argv[{i}].split())
d = bytearray(open(sys.argv[1], "rb").read()); d[off + size // 2] ^= 1; open(sys.argv[1], "wb").write(d)'
tampered initrd-byte "$changed" "${flip/\{i\}/3}"
tampered cmdline-byte "$changed" "${flip/\{i\}/4}"
tampered slot-b-uki "$changed" 'import shutil, sys; shutil.copy(sys.argv[2] + "/b.efi", sys.argv[1])'
tampered unsigned-uki "$changed" 'import struct, sys
d = bytearray(open(sys.argv[1], "rb").read()); pe = struct.unpack_from("<I", d, 0x3c)[0]; dd = pe + 24 + 112 + 32
off, size = struct.unpack_from("<II", d, dd); struct.pack_into("<II", d, dd, 0, 0); open(sys.argv[1], "wb").write(d[:off])'
"$MKIMAGE" build "$T/sb.yaml" --data-key "$DATA_KEY" -o "$T/o2/other.img" --sb-key "$T/other.key" --sb-cert "$T/other.crt" \
        >/dev/null 2>&1 && read -r oo _ < <(part_offset "$T/o2/other.img" esp) &&
        mcopy -n -i "$T/o2/other.img@@$oo" ::/EFI/Linux/slot-a+3.efi "$T/x/other-a.efi"
tampered other-db-key "$changed" \
        'import shutil, sys; shutil.copy(sys.argv[2] + "/other-a.efi", sys.argv[1])'
check other-key-uki-same-sections bash -c "objcopy -O binary --only-section=.initrd '$T/x/other-a.efi' '$T/x/oi' && cmp -s '$T/x/oi' '$T/x/a.initrd'"
rm -f "$T/o2/other.img"*
# Files added beside the UKIs: a foreign EFI program, a second UKI for slot a (systemd-boot would list both).
added() { # NAME WANT ESP-PATH: a copy of slot a's UKI put at ESP-PATH
        local img="$T/added-$1.img" got
        cp --sparse=always "$I" "$img" && for f in "$I".manifest*; do cp "$f" "$img${f#"$I"}"; done
        mcopy -o -i "$img@@$esp_off" "$T/x/a.efi" "::/$3"
        got=$("$MKIMAGE" verify "$img" --pub "$BUILD/keys/dev.pub" --sb-cert "$KEYS/db.crt" 2>&1 | grep '^esp:')
        case "$got" in "esp: FAILED: "*"$2"*) pass "verify-$1" ;; *) fail "verify-$1" "got [$got] want [$2]" ;; esac
        rm -f "$img"*
}
added foreign-efi "/EFI/Linux/evil.efi is an EFI program no manifest covers" EFI/Linux/evil.efi
added second-uki-for-slot-a "slot a has 2 boot entries" EFI/Linux/slot-a+1.efi

# Reproducible: a second build gives the same bytes outside the LUKS2 partition (the ESP included).
if "$MKIMAGE" build "$T/sb.yaml" --data-key "$DATA_KEY" -o "$T/o2/demo.img" >/dev/null 2>&1; then
        check reproducible cmp_except_data "$I" "$T/o2/demo.img"
else
        fail reproducible "second build failed"
fi

# Factory images never carry enrolment keys: the common part is built with them left out.
printf 'serial\nSN-1\n' >"$T/devices.csv"
"$MKIMAGE" keygen "$T/brand" >/dev/null 2>&1
if "$MKIMAGE" factory "$T/sb.yaml" --devices "$T/devices.csv" --brand-key "$T/brand.key" -o "$T/fac" \
        >/dev/null 2>"$T/fac.err"; then
        fi=$(ls "$T"/fac/*.img 2>/dev/null | head -1)
        read -r fo _ < <(part_offset "$fi" esp)
        check factory-no-enrol-keys bash -c "! mdir -i '$fi@@$fo' ::/loader/keys >/dev/null 2>&1 &&
                mtype -i '$fi@@$fo' ::/loader/loader.conf | grep -vq secure-boot-enroll &&
                ! mtype -i '$fi@@$fo' ::/loader/loader.conf | grep -q secure-boot-enroll"
else
        fail factory-no-enrol-keys "$(head -3 "$T/fac.err")"
fi

# ---- bad input: one error each, exit 1, nothing written -------------------------
refuse() { # NAME WANT-SUBSTRING MODEL [ARGS...]
        local name=$1 want=$2 model=$3 out="$T/bad/$1.img" rc=0
        shift 3
        mkdir -p "$T/bad"
        "$MKIMAGE" build "$model" --data-key "$DATA_KEY" -o "$out" "$@" >/dev/null 2>"$T/bad/$name.err" || rc=$?
        if [ "$rc" != 1 ]; then
                fail "$name" "exit $rc, want 1: $(cat "$T/bad/$name.err")"
        elif ! grep -qF -- "$want" "$T/bad/$name.err"; then
                fail "$name" "stderr [$(cat "$T/bad/$name.err")] lacks [$want]"
        elif [ -n "$(ls -A "$T/bad" | grep -v '\.err$')" ]; then
                fail "$name" "left behind: $(ls -A "$T/bad" | grep -v '\.err$' | tr '\n' ' ')"
        else
                pass "$name"
        fi
}
refuse cert-of-another-key "does not match" "$T/sb.yaml" --sb-cert "$T/other.crt"
python3 - "$T" <<'PY'
import datetime, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
t = sys.argv[1]
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
open(t + "/old.key", "wb").write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
def cert(path, days_from, days_to, usage):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, path)])
    now = datetime.datetime(2026, 1, 1)
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
         .serial_number(5).not_valid_before(now + datetime.timedelta(days=days_from))
         .not_valid_after(now + datetime.timedelta(days=days_to)))
    if usage:
        b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), True)
    open(t + "/" + path, "wb").write(b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
cert("expired.crt", -400, -30, False)
cert("ca-only.crt", -1, 3650, True)
PY
refuse cert-expired "expired" "$T/sb.yaml" --sb-key "$T/old.key" --sb-cert "$T/expired.crt"
refuse cert-not-for-signing "not for" "$T/sb.yaml" --sb-key "$T/old.key" --sb-cert "$T/ca-only.crt"
refuse key-missing "$T/nokey.key" "$T/sb.yaml" --sb-key "$T/nokey.key"
echo "not a PE file" >"$T/stub.txt"
sb_model "$T/badstub.yaml" "  stub: $T/stub.txt"$'\n'
refuse stub-not-pe "$T/stub.txt: not a PE image" "$T/badstub.yaml"
cp "$T/x/a.efi" "$T/signed-stub.efi"
sb_model "$T/signedstub.yaml" "  stub: $T/signed-stub.efi"$'\n'
refuse stub-signed "the stub is signed already" "$T/signedstub.yaml"
mkdir -p "$T/half" && cp "$KEYS/PK.auth" "$T/half/"
refuse enrol-folder-incomplete "$T/half/KEK.auth: missing" "$T/sb.yaml" --sb-enroll "$T/half"
# An ESP of 24 MiB holds one UKI of this kernel and initrd, not two.
sed 's/^    size: 256MiB$/    size: 24MiB/' layouts/uefi-ab.yaml >"$T/small-esp.yaml"
if grep -q '24MiB' "$T/small-esp.yaml"; then
        refuse esp-no-room-for-two-ukis "has no room for two UKIs" "$T/sb.yaml" --layout "$T/small-esp.yaml"
else
        fail esp-no-room-for-two-ukis "layouts/uefi-ab.yaml: no 256MiB ESP size to shrink"
fi
{ cat "$T/plain.yaml"; printf 'secure-boot: {}\n'; } >"$T/nokeys.yaml"
refuse no-key-given "Secure Boot is on, but no db key is given" "$T/nokeys.yaml"
# Secure Boot is the default: no section and no --sb-key is refused, naming both ways out.
refuse default-needs-a-key "$T/plain.yaml: Secure Boot is the default, but no db key is given (set 'secure-boot: {key: db.key, certificate: db.crt}' in the model, or --sb-key and --sb-cert; make a development set with 'mkimage sb-keygen DIR'; or say 'secure-boot: off' for an unsigned boot chain)" "$T/plain.yaml"
{ cat "$T/plain.yaml"; printf 'secure-boot: off\n'; } >"$T/off.yaml"
refuse off-with-sb-key "$T/off.yaml: the model says 'secure-boot: off', but --sb-key is given (drop the option, or the model's 'secure-boot: off')" \
        "$T/off.yaml" --sb-key "$KEYS/db.key" --sb-cert "$KEYS/db.crt"
mkdir -p "$T/o3"
if "$MKIMAGE" build "$T/plain.yaml" --data-key "$DATA_KEY" -o "$T/o3/default.img" --sb-key "$KEYS/db.key" \
        --sb-cert "$KEYS/db.crt" >/dev/null 2>"$T/e"; then
        check default-with-cli-keys-is-signed bash -c "'$MKIMAGE' inspect '$T/o3/default.img' | grep -qx 'Secure Boot: on (every entry a signed UKI; check the signatures with verify --sb-cert)'"
        check default-with-cli-keys-sbverify bash -c "mcopy -n -i '$T/o3/default.img@@$esp_off' ::/EFI/Linux/slot-a+3.efi '$T/o3/a.efi' && sbverify --cert '$KEYS/db.crt' '$T/o3/a.efi'"
else
        fail default-with-cli-keys "$(cat "$T/e")"
fi
# secure-boot: off, the explicit choice: type #1 entries, and inspect and verify say so.
if "$MKIMAGE" build "$T/off.yaml" --data-key "$DATA_KEY" -o "$T/o3/off.img" >/dev/null 2>"$T/e"; then
        "$MKIMAGE" inspect "$T/o3/off.img" >"$T/off.inspect"
        check off-inspect-says-off grep -qx "Secure Boot: OFF (type #1 entries: the kernel, initrd and command line on the ESP are not signed; the model said 'secure-boot: off')" "$T/off.inspect"
        check off-inspect-type1-entries grep -Eq '^  slot-a\+3\.conf ' "$T/off.inspect"
        check off-inspect-json python3 -c 'import json,subprocess,sys; d=json.loads(subprocess.check_output([sys.argv[1], "inspect", "--json", sys.argv[2]])); assert d["secure-boot"] == "off", d.get("secure-boot")' "$MKIMAGE" "$T/o3/off.img"
        check signed-inspect-json python3 -c 'import json,subprocess,sys; d=json.loads(subprocess.check_output([sys.argv[1], "inspect", "--json", sys.argv[2]])); assert d["secure-boot"] == "on", d.get("secure-boot")' "$MKIMAGE" "$I"
        check off-verify-says-off bash -c "'$MKIMAGE' verify '$T/o3/off.img' --pub '$BUILD/keys/dev.pub' | grep -qx 'esp: OK (Secure Boot: off (unsigned type #1 entries))'"
else
        fail off-build "$(cat "$T/e")"
fi
{ cat "$T/plain.yaml"; printf 'secure-boot: maybe\n'; } >"$T/bogus.yaml"
refuse secure-boot-bogus "'secure-boot' is 'off' or a mapping" "$T/bogus.yaml"
exit 0
