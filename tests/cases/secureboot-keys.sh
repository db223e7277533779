#!/bin/bash
# SPDX-License-Identifier: MIT
# mkimage sb-keygen (issue 20): the files of a development Secure Boot key set,
# their modes and names, checked with the stock tools (openssl, sbsign and
# sbverify with the db pair, the .auth files parsed and their PKCS#7
# signatures verified the way firmware does: PK and KEK by PK, db by KEK);
# refusals (files present, usage) and failures (a read-only or unwritable
# folder, a full file system, efitools missing, SIGTERM) that leave nothing.
# The mounts need root (tests run as root here).
source "$(dirname "$0")/../lib/testlib.sh"
umask 022
M="$MKIMAGE"
FILES="PK.key PK.crt PK.esl PK.auth KEK.key KEK.crt KEK.esl KEK.auth db.key db.crt db.esl db.auth guid.txt"
MNT="$T/mnt"
mkdir "$MNT"
trap 'umount "$MNT" 2>/dev/null; rm -rf "$T"' EXIT

# ---- a set ----------------------------------------------------------------------
K="$T/keys"
rc=0; "$M" sb-keygen "$K" >"$T/out" 2>"$T/err" || rc=$?
# shellcheck disable=SC2086
if [ $rc = 0 ] && only_files "$K" $FILES; then pass writes-the-files; else
        fail writes-the-files "exit $rc: $(cat "$T/err"); files: $(ls -A "$K" 2>&1 | tr '\n' ' ')"; fi
expect_file_eq prints-what-was-written "$T/out" <(cat <<EOF
Wrote $K/PK.key, PK.crt, PK.esl, PK.auth (platform key: signs PK.auth and KEK.auth)
Wrote $K/KEK.key, KEK.crt, KEK.esl, KEK.auth (key exchange key: signs db.auth)
Wrote $K/db.key, db.crt, db.esl, db.auth (signature database: signs systemd-boot and the UKIs)
Wrote $K/guid.txt (the owner GUID of the signature lists)
EOF
)
expect_eq warns-development-keys "$(cat "$T/err")" \
        "mkimage: warning: these are development keys: the private keys are unencrypted on disk; enrol them only on test machines, never on a product"
expect_eq keys-mode-0600 "$(stat -c %a "$K/PK.key" "$K/KEK.key" "$K/db.key" | tr '\n' ' ')" "600 600 600 "
expect_eq dir-made-0700 "$(stat -c %a "$K")" 700
expect_eq certs-mode-0644 "$(stat -c %a "$K/PK.crt" "$K/KEK.crt" "$K/db.crt" | tr '\n' ' ')" "644 644 644 "
check guid-is-a-uuid grep -qxE '[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}' "$K/guid.txt"
# each_set CMD...: CMD with NAME replaced by PK, KEK and db in turn succeeds for all three.
each_set() {
        local n
        for n in PK KEK db; do "${@//NAME/$n}" >/dev/null 2>&1 || return 1; done
}
openssl_text_has() { openssl "$1" -in "$2" -noout -text -passin pass: | grep -qF -- "$3"; }
check keys-are-unencrypted-rsa-2048 each_set openssl_text_has pkey "$K/NAME.key" "Private-Key: (2048 bit"
subjects=""
for n in PK KEK db; do subjects+="$(openssl x509 -in "$K/$n.crt" -noout -subject);"; done
expect_eq subjects "$subjects" "subject=CN = mkimage development PK;subject=CN = mkimage development KEK;subject=CN = mkimage development db;"
# Each self-signed, SHA-256, version 3, valid 3650 days from now.
check certs-self-signed each_set openssl verify -CAfile "$K/NAME.crt" -purpose any "$K/NAME.crt"
check certs-sha256 each_set openssl_text_has x509 "$K/NAME.crt" "Signature Algorithm: sha256WithRSAEncryption"
check certs-v3 each_set openssl_text_has x509 "$K/NAME.crt" "Version: 3 (0x2)"
nb="$(date -d "$(openssl x509 -in "$K/db.crt" -noout -startdate | cut -d= -f2)" +%s)"
na="$(date -d "$(openssl x509 -in "$K/db.crt" -noout -enddate | cut -d= -f2)" +%s)"
expect_eq valid-ten-years "$(((na - nb) / 86400))" 3650
[ $(($(date +%s) - nb)) -ge 0 ] && [ $(($(date +%s) - nb)) -lt 600 ]
check valid-from-now test $? -eq 0
expect_eq db-cert-for-code-signing \
        "$(openssl x509 -in "$K/db.crt" -noout -ext basicConstraints,keyUsage,extendedKeyUsage | tr -s ' \n' ' ')" \
        "X509v3 Basic Constraints: critical CA:FALSE X509v3 Key Usage: critical Digital Signature X509v3 Extended Key Usage: Code Signing "
expect_eq pk-cert-a-root "$(openssl x509 -in "$K/PK.crt" -noout -ext basicConstraints | tr -s ' \n' ' ')" \
        "X509v3 Basic Constraints: critical CA:TRUE "
# Serial numbers are random: two certificates never share one.
expect_eq serials-differ "$(for n in PK KEK db; do openssl x509 -in "$K/$n.crt" -noout -serial; done | sort -u | wc -l)" 3

"$M" sb-keygen "$T/lab" --cn "Example lab" >/dev/null 2>&1
expect_eq cn-prefix "$(openssl x509 -in "$T/lab/KEK.crt" -noout -subject)" "subject=CN = Example lab KEK"
check two-sets-two-guids bash -c "! cmp -s '$K/guid.txt' '$T/lab/guid.txt'"

# ---- the db pair signs what the firmware boots -------------------------------------
cp /usr/lib/systemd/boot/efi/systemd-bootx64.efi "$T/sd.efi"
if sbsign --key "$K/db.key" --cert "$K/db.crt" --output "$T/sd.signed.efi" "$T/sd.efi" >"$T/sbsign" 2>&1; then
        check sbverify-db bash -c "sbverify --cert '$K/db.crt' '$T/sd.signed.efi' >/dev/null 2>&1"
        check sbverify-refuses-other-set bash -c "! sbverify --cert '$T/lab/db.crt' '$T/sd.signed.efi' >/dev/null 2>&1"
else
        fail sbsign-db "$(cat "$T/sbsign")"
fi

# ---- the signature lists and the enrolment files -----------------------------------
# NAME.esl: one EFI_SIGNATURE_LIST of type X.509 holding the certificate (DER), owned by guid.txt.
# NAME.auth: EFI_VARIABLE_AUTHENTICATION_2 = EFI_TIME, WIN_CERTIFICATE_UEFI_GUID (revision 0x0200,
# type WIN_CERT_TYPE_EFI_GUID, CertType EFI_CERT_TYPE_PKCS7_GUID, a PKCS#7 SignedData), then the
# .esl. The signature covers name (UTF-16) | vendor GUID | attributes | EFI_TIME | .esl; firmware
# checks it with PKCS7_verify against the signer's certificate, any purpose, which openssl smime
# does here (SignedData wrapped in a ContentInfo first).
for n in PK KEK db; do openssl x509 -in "$K/$n.crt" -outform DER -out "$T/$n.der"; done
check auth-files-non-empty test -s "$K/PK.auth" -a -s "$K/KEK.auth" -a -s "$K/db.auth"
python3 - "$K" "$T" >"$T/lists" 2>&1 <<'PY'
import struct, subprocess, sys, uuid
K, T = sys.argv[1], sys.argv[2]
owner = uuid.UUID(open(f"{K}/guid.txt").read().strip())
X509_GUID = uuid.UUID("a5c059a1-94e4-4aa7-87b5-ab155c2bf072")
PKCS7_GUID = uuid.UUID("4aafd29d-68df-49ee-8aa9-347d375665a7")
GLOBAL = uuid.UUID("8be4df61-93ca-11d2-aa0d-00e098032b8c")
IMAGE_DB = uuid.UUID("d719b2cb-3d3a-4596-a3bc-dad00e67656f")
def der(tag, v):
    n = len(v)
    ln = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag]) + ln + v
def verifies(p7, data, cert):
    open(f"{T}/p7.der", "wb").write(der(0x30, bytes.fromhex("06092a864886f70d010702") + der(0xA0, p7)))
    open(f"{T}/signed.bin", "wb").write(data)
    return subprocess.run(["openssl", "smime", "-verify", "-inform", "DER", "-in", f"{T}/p7.der", "-binary",
                           "-content", f"{T}/signed.bin", "-CAfile", cert, "-purpose", "any", "-out", "/dev/null"],
                          capture_output=True).returncode == 0
for name, signer, other, vendor in (("PK", "PK", "KEK", GLOBAL), ("KEK", "PK", "KEK", GLOBAL), ("db", "KEK", "PK", IMAGE_DB)):
    esl = open(f"{K}/{name}.esl", "rb").read()
    stype, lsize, hsize, ssize = uuid.UUID(bytes_le=esl[:16]), *struct.unpack("<III", esl[16:28])
    assert stype == X509_GUID and lsize == len(esl) and hsize == 0 and 28 + ssize == lsize, f"{name}.esl: header"
    assert uuid.UUID(bytes_le=esl[28:44]) == owner, f"{name}.esl: owner is not guid.txt"
    assert esl[44:] == open(f"{T}/{name}.der", "rb").read(), f"{name}.esl: not the certificate"
    print(f"esl-{name} ok")
    auth = open(f"{K}/{name}.auth", "rb").read()
    year, month, day, hour, minute, second, pad1, ns, tz, dl, pad2 = struct.unpack("<HBBBBBBIhBB", auth[:16])
    assert 2000 < year < 2200 and 1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 60, f"{name}.auth: EFI_TIME"
    assert pad1 == ns == tz == dl == pad2 == 0, f"{name}.auth: EFI_TIME padding"
    length, rev, ctype = struct.unpack("<IHH", auth[16:24])
    assert rev == 0x0200 and ctype == 0x0EF1, f"{name}.auth: WIN_CERTIFICATE revision {rev:#x} type {ctype:#x}"
    assert uuid.UUID(bytes_le=auth[24:40]) == PKCS7_GUID, f"{name}.auth: CertType"
    assert 24 < length and 16 + length + len(esl) == len(auth) and auth[16 + length:] == esl, f"{name}.auth: the .esl after it"
    p7 = auth[40:16 + length]
    assert p7[0] == 0x30, f"{name}.auth: no DER SignedData"
    signed = name.encode("utf-16-le") + vendor.bytes_le + struct.pack("<I", 0x27) + auth[:16] + esl
    assert verifies(p7, signed, f"{K}/{signer}.crt"), f"{name}.auth: not signed by {signer}"
    assert not verifies(p7, signed, f"{K}/{other}.crt"), f"{name}.auth: verifies with {other}.crt too"
    assert not verifies(p7, signed[:-1] + bytes([signed[-1] ^ 1]), f"{K}/{signer}.crt"), f"{name}.auth: a changed list verifies"
    print(f"auth-{name} ok")
PY
for n in PK KEK db; do
        if grep -qx "esl-$n ok" "$T/lists"; then pass "esl-$n"; else fail "esl-$n" "$(tail -1 "$T/lists")"; fi
        if grep -qx "auth-$n ok" "$T/lists"; then pass "auth-$n-signed-by-$( [ $n = db ] && echo KEK || echo PK)"; else
                fail "auth-$n" "$(tail -1 "$T/lists")"; fi
done

# ---- never overwrites ---------------------------------------------------------------
sums() { (cd "$1" && ls -A && sha256sum -- * && stat -c '%n %a %Y' -- *); }
sums "$K" >"$T/before"
expect_run second-run-refused 1 "mkimage: $K/PK.key exists: sb-keygen never overwrites keys (choose an empty DIR)" \
        "$M" sb-keygen "$K"
sums "$K" >"$T/after"
check second-run-changes-nothing cmp -s "$T/before" "$T/after"
# One file of a set is enough to refuse; other files are fine and kept.
mkdir "$T/one" && echo old >"$T/one/db.auth"
expect_run one-file-refused 1 "mkimage: $T/one/db.auth exists: sb-keygen never overwrites keys (choose an empty DIR)" \
        "$M" sb-keygen "$T/one"
check one-file-refused-nothing-added only_files "$T/one" db.auth
rm "$T/one/db.auth" && ln -s nowhere "$T/one/KEK.crt"
expect_run dangling-link-refused 1 "mkimage: $T/one/KEK.crt exists: sb-keygen never overwrites keys (choose an empty DIR)" \
        "$M" sb-keygen "$T/one"
mkdir "$T/other" && echo notes >"$T/other/README"
rc=0; "$M" sb-keygen "$T/other" >/dev/null 2>&1 || rc=$?
# shellcheck disable=SC2086
if [ $rc = 0 ] && only_files "$T/other" README $FILES && [ "$(cat "$T/other/README")" = notes ]; then
        pass other-files-kept; else fail other-files-kept "exit $rc: $(ls -A "$T/other" | tr '\n' ' ')"; fi
expect_run parent-missing 1 \
        "mkimage: $T/no/keys: cannot make the folder: its parent does not exist (make the parent first, or give another DIR)" \
        "$M" sb-keygen "$T/no/keys"
touch "$T/file"
expect_run dir-is-a-file 1 "mkimage: $T/file: not a folder (give a new or an empty folder)" "$M" sb-keygen "$T/file"

# ---- usage ----------------------------------------------------------------------------
expect_run usage-no-dir 2 "mkimage sb-keygen: missing DIR (the folder to write the keys into) (see 'mkimage sb-keygen --help')" \
        "$M" sb-keygen
expect_run usage-two-dirs 2 "mkimage sb-keygen: unexpected argument 'b' (see 'mkimage sb-keygen --help')" \
        "$M" sb-keygen "$T/a" b
expect_run usage-cn-no-value 2 "mkimage sb-keygen: option '--cn' needs a value (see 'mkimage sb-keygen --help')" \
        "$M" sb-keygen "$T/a" --cn
expect_run usage-unknown-option 2 "mkimage sb-keygen: unknown option '--force' (see 'mkimage sb-keygen --help')" \
        "$M" sb-keygen "$T/a" --force
expect_run cn-too-long 1 "mkimage: sb-keygen: the CN prefix is 61 bytes long: at most 60 fit a certificate's CN (give a shorter --cn)" \
        "$M" sb-keygen "$T/a" --cn "$(printf 'x%.0s' {1..61})"
expect_run cn-empty 1 "mkimage: sb-keygen: the CN prefix is empty (give one, e.g. --cn 'Example')" \
        "$M" sb-keygen "$T/a" --cn ""
check usage-leaves-nothing test ! -e "$T/a"

# ---- failures leave nothing -----------------------------------------------------------
# A read-only folder (as root, modes are ignored: a read-only mount stands in for them).
if mount -t tmpfs -o size=1m,ro tmpfs "$MNT"; then
        expect_run read-only-dir 1 "mkimage: $MNT/keys: cannot make the folder: Read-only file system (give a folder you can write)" \
                "$M" sb-keygen "$MNT/keys"
        umount "$MNT"
else
        fail read-only-dir "cannot mount a read-only tmpfs on $MNT"
fi
# A folder of mode 0555 for an unprivileged user: DIR itself, and a DIR to make in it.
mkdir -p "$T/ro" && chmod 0555 "$T/ro" && chmod 0755 "$T"
NB="$(nobody_copy "$M")"
nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$NB/$(basename "$M")" "$@"; }
rc=0; nobody sb-keygen "$T/ro" >/dev/null 2>"$T/err" || rc=$?
expect_eq unwritable-dir "$rc:$(cat "$T/err"):$(ls -A "$T/ro")" \
        "1:mkimage: $T/ro: cannot write in the folder: Permission denied (give a folder you can write):"
rc=0; nobody sb-keygen "$T/ro/keys" >/dev/null 2>"$T/err" || rc=$?
expect_eq unwritable-parent "$rc:$(cat "$T/err"):$(ls -A "$T/ro")" \
        "1:mkimage: $T/ro/keys: cannot make the folder: Permission denied (give a folder you can write):"
chmod 0700 "$T"
# A full file system: tmpfs sizes (in 4 KiB pages, one a file here) that run out in different
# files: ours, and the tools' (they exit 0 after a failed write: what they wrote is checked).
for case in "4:PK.crt: No space left on device" "28:db.crt: No space left on device" \
        "8:PK.esl: cert-to-efi-sig-list wrote 0 bytes, not a whole EFI signature list (is the file system full?)" \
        "20:KEK.esl: cert-to-efi-sig-list wrote 0 bytes, not a whole EFI signature list (is the file system full?)" \
        "32:db.esl: cert-to-efi-sig-list wrote 0 bytes, not a whole EFI signature list (is the file system full?)" \
        "36:PK.auth: sign-efi-sig-list wrote 0 bytes, not a whole signed signature list (is the file system full?)" \
        "44:db.auth: sign-efi-sig-list wrote 0 bytes, not a whole signed signature list (is the file system full?)" \
        "48:guid.txt: No space left on device"; do
        sz="${case%%:*}" want="mkimage: $MNT/keys/${case#*:}"
        if mount -t tmpfs -o size=${sz}k tmpfs "$MNT"; then
                rc=0; "$M" sb-keygen "$MNT/keys" >/dev/null 2>"$T/err" || rc=$?
                expect_eq "full-fs-${sz}k" "$rc:$(cat "$T/err"):$(find "$MNT" -mindepth 1)" "1:$want:"
                umount "$MNT"
        else
                fail "full-fs-${sz}k" "cannot mount a tmpfs on $MNT"
        fi
done
# efitools missing: the keys are made, the first tool cannot run; the message names the package.
expect_run efitools-missing 1 \
        "mkimage: $T/noefi/PK.esl: cert-to-efi-sig-list: command not found in \$PATH, /usr/sbin or /sbin (install the Debian package 'efitools': apt-get install efitools)" \
        env PATH=/nonexistent "$M" sb-keygen "$T/noefi"
check efitools-missing-leaves-nothing test ! -e "$T/noefi"
# SIGTERM while a tool runs (a stand-in sign-efi-sig-list that waits): the signal handler removes
# the files written so far, the temporary folder and DIR.
mkdir "$T/fake"
printf '#!/bin/sh\necho $$ >%s/fake.pid\nexec sleep 60\n' "$T" >"$T/fake/sign-efi-sig-list"
chmod +x "$T/fake/sign-efi-sig-list"
PATH="$T/fake:$PATH" "$M" sb-keygen "$T/sig" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do [ -s "$T/fake.pid" ] && break; sleep 0.1; done
if [ -s "$T/fake.pid" ]; then
        had="$(find "$T/sig" -name '*.key' | wc -l)"
        kill -TERM $pid
        rc=0; wait $pid || rc=$?
        kill "$(cat "$T/fake.pid")" 2>/dev/null
        expect_eq sigterm-leaves-nothing "$had:$rc:$(ls -A "$T/sig" 2>&1)" \
                "3:143:ls: cannot access '$T/sig': No such file or directory"
else
        kill $pid 2>/dev/null
        fail sigterm-leaves-nothing "the stand-in tool never ran"
fi
