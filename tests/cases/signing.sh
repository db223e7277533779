# keygen / sign / verify-sig: interoperability with the real minisign both
# ways, tampering, untrusted keys, and one bad-input case per parser rule,
# each asserting the exit status and the exact error text.
. "$(dirname "$0")/../lib/testlib.sh"
cd "$T"
M="$MKIMAGE"
unset MKIMAGE_KEY_PASSPHRASE


# flip_b64 FILE LINE OFFSET: flip the low bit of byte OFFSET of the base64
# data on line LINE, keeping the line valid base64.
flip_b64() {
        local file="$1" line="$2" off="$3"
        sed -n "${line}p" "$file" | base64 -d >"$T/bin"
        flip_byte "$T/bin" "$off"
        local new
        new="$(base64 -w0 <"$T/bin")"
        awk -v n="$line" -v new="$new" 'NR == n { $0 = new } { print }' "$file" >"$file.new"
        mv "$file.new" "$file"
}

# flip_byte FILE OFFSET: flip the low bit of one byte in place.
flip_byte() {
        local b
        b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
        printf "\\$(printf %03o $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# set_alg FILE LINE ALG: replace the first two decoded bytes (the algorithm)
# of the base64 data on line LINE.
set_alg() {
        local file="$1" line="$2" alg="$3"
        sed -n "${line}p" "$file" | base64 -d >"$T/bin"
        printf '%s' "$alg" | dd of="$T/bin" bs=1 seek=0 conv=notrunc status=none
        local new
        new="$(base64 -w0 <"$T/bin")"
        awk -v n="$line" -v new="$new" 'NR == n { $0 = new } { print }' "$file" >"$file.new"
        mv "$file.new" "$file"
}

keyid() { # the 16-digit key id mkimage writes into its .pub comment
        sed -n '1s/^untrusted comment: minisign public key //p' "$1"
}

# pub_id FILE: the key id of a .pub file as minisign displays it: bytes 2..9
# of the key read as a little-endian number, 16 uppercase hex digits.
pub_id() {
        sed -n 2p "$1" | base64 -d | od -An -tx1 -j2 -N8 |
                awk '{ for (i = NF; i > 0; i--) printf "%s", toupper($i) }'
}

# ---- keygen ------------------------------------------------------------------
if "$M" keygen k >"$T/out" 2>"$T/err" && [ "$(stat -c %a k.key)" = 600 ] && [ -f k.pub ]; then
        pass keygen
else
        fail keygen "$(cat "$T/err")"
fi
K=$(keyid k.pub)
expect_eq keygen-prints-id "$(sed -n 's/^Key id: //p' "$T/out")" "$K"
expect_eq keygen-id-16-digits "${#K}" 16
expect_eq keygen-id-matches-key "$(pub_id k.pub)" "$K"
cp k.key k.key.orig
expect_run keygen-no-overwrite 1 \
        "mkimage: k.key: already exists: keygen never overwrites a key, remove it or choose another PREFIX" \
        "$M" keygen k
check keygen-key-untouched cmp k.key k.key.orig
echo x >only.pub
expect_run keygen-no-overwrite-pub 1 \
        "mkimage: only.pub: already exists: keygen never overwrites a key, remove it or choose another PREFIX" \
        "$M" keygen only
check keygen-no-half-pair test ! -e only.key
expect_run keygen-missing-dir 1 \
        "mkimage: nodir/k.key: cannot create: No such file or directory (check that the directory exists and is writable)" \
        "$M" keygen nodir/k

# ---- mkimage signs, minisign verifies ------------------------------------------
printf 'component payload\n' >f.comp
expect_run sign 0 "" "$M" sign f.comp --key k.key
expect_eq sign-output "$(cat "$T/out")" "Signed f.comp with key $K: f.comp.minisig"
expect_eq sign-default-comment "$(sed -n 3p f.comp.minisig)" \
        "trusted comment: timestamp:$SOURCE_DATE_EPOCH	file:f.comp	hashed"
mkdir s && cp f.comp s/ && "$M" sign s/f.comp --key k.key >/dev/null 2>&1
check sign-no-temp-left only_files s f.comp f.comp.minisig
if minisign -V -p k.pub -m f.comp >"$T/ms.out" 2>&1; then pass minisign-verifies-ours; else
        fail minisign-verifies-ours "$(cat "$T/ms.out")"; fi
check minisign-requires-prehashed minisign -Vq -H -p k.pub -m f.comp
cp f.comp.minisig first.minisig
"$M" sign f.comp --key k.key >/dev/null 2>&1
check sign-deterministic cmp f.comp.minisig first.minisig
"$M" sign f.comp --key k.key --comment 'version 7 of f.comp' >/dev/null 2>&1
if minisign -V -p k.pub -m f.comp 2>&1 | grep -qx 'Trusted comment: version 7 of f.comp'; then
        pass sign-comment-minisign; else fail sign-comment-minisign; fi
expect_run verify-ours 0 "" "$M" verify-sig f.comp --pub k.pub
expect_eq verify-output "$(cat "$T/out")" "Signature by key $K verified: f.comp
Trusted comment: version 7 of f.comp"
expect_run sign-comment-newline 1 \
        "mkimage: f.comp: the trusted comment contains a line break: it must be one line, remove the newline" \
        "$M" sign f.comp --key k.key --comment "$(printf 'a\nb')"

# ---- minisign signs, mkimage verifies --------------------------------------------
minisign -G -W -p ms.pub -s ms.key >/dev/null 2>&1
MS=$(pub_id ms.pub)
printf 'data from minisign\n' >m.txt
minisign -S -s ms.key -m m.txt -t 'signed by minisign' >/dev/null
expect_run verify-minisign 0 "" "$M" verify-sig m.txt --pub ms.pub
expect_eq verify-minisign-output "$(cat "$T/out")" "Signature by key $MS verified: m.txt
Trusted comment: signed by minisign"
minisign -S -l -s ms.key -m m.txt -x m.txt.legacy -t 'legacy' >/dev/null
expect_run verify-minisign-legacy 0 "" "$M" verify-sig m.txt --pub ms.pub --sig m.txt.legacy
expect_eq verify-legacy-output "$(cat "$T/out")" "Signature by key $MS verified (legacy, not prehashed): m.txt
Trusted comment: legacy"
# A minisign secret key signs through mkimage, minisign verifies.
expect_run sign-with-minisign-key 0 "" "$M" sign m.txt --key ms.key
check minisign-verifies-minisign-key minisign -Vq -p ms.pub -m m.txt
expect_run verify-any-of-two 0 "" "$M" verify-sig m.txt --pub k.pub --pub ms.pub

# Encrypted minisign key: minisign -G reads the password from stdin (no tty).
printf 'correct horse\ncorrect horse\n' | minisign -G -p enc.pub -s enc.key >/dev/null 2>&1
printf 'encrypted\n' >e.txt
expect_run encrypted-needs-passphrase 1 \
        "mkimage: enc.key: secret key is encrypted: set MKIMAGE_KEY_PASSPHRASE to its passphrase (mkimage never prompts), or use an unencrypted key ('mkimage keygen' or 'minisign -G -W')" \
        "$M" sign e.txt --key enc.key
MKIMAGE_KEY_PASSPHRASE='correct horse' expect_run encrypted-sign 0 "" "$M" sign e.txt --key enc.key
check encrypted-minisign-verifies minisign -Vq -p enc.pub -m e.txt
MKIMAGE_KEY_PASSPHRASE='wrong horse' expect_run encrypted-wrong-passphrase 1 \
        "mkimage: enc.key: wrong passphrase in MKIMAGE_KEY_PASSPHRASE: the key's checksum does not match after decryption (set the passphrase the key was created with; or the key file is damaged)" \
        "$M" sign e.txt --key enc.key

# ---- one flipped bit anywhere is refused, naming the file ------------------------------
"$M" sign f.comp --key k.key >/dev/null 2>&1
cp f.comp f.orig; cp f.comp.minisig f.sig.orig; cp k.pub k.pub.orig
restore() { cp f.orig f.comp; cp f.sig.orig f.comp.minisig; cp k.pub.orig k.pub; }
BADSIG="mkimage: f.comp: signature f.comp.minisig by key $K does not match: the file or its signature was modified after signing, or k.pub is not the signer's public key"
BADTC="mkimage: f.comp.minisig: the trusted comment or the global signature (lines 3 and 4) does not verify with key $K: they were modified after signing (get an intact copy of the signature)"
flip_byte f.comp 3
expect_run tamper-file 1 "$BADSIG" "$M" verify-sig f.comp --pub k.pub
check tamper-file-minisign-agrees bash -c '! minisign -Vq -p k.pub -m f.comp 2>/dev/null'
restore; flip_b64 f.comp.minisig 2 40
expect_run tamper-signature-line 1 "$BADSIG" "$M" verify-sig f.comp --pub k.pub
restore; sed -i '3s/trusted comment: t/trusted comment: u/' f.comp.minisig
expect_run tamper-trusted-comment 1 "$BADTC" "$M" verify-sig f.comp --pub k.pub
check tamper-comment-minisign-agrees bash -c '! minisign -Vq -p k.pub -m f.comp 2>/dev/null'
restore; flip_b64 f.comp.minisig 4 10
expect_run tamper-global-signature 1 "$BADTC" "$M" verify-sig f.comp --pub k.pub
restore; flip_b64 k.pub 2 20
expect_run tamper-public-key 1 "$BADSIG" "$M" verify-sig f.comp --pub k.pub
restore; flip_b64 k.pub 2 2
KF=$(pub_id k.pub)
expect_run tamper-public-key-id 1 \
        "mkimage: f.comp.minisig: signed by key $K, which is not a trusted key (trusted: $KF): verify f.comp with that key's public key, or re-sign it with a trusted key" \
        "$M" verify-sig f.comp --pub k.pub
restore

# ---- untrusted signer ------------------------------------------------------------
expect_run untrusted-key 1 \
        "mkimage: m.txt.minisig: signed by key $MS, which is not a trusted key (trusted: $K): verify m.txt with that key's public key, or re-sign it with a trusted key" \
        "$M" verify-sig m.txt --pub k.pub

# ---- bad inputs: public keys -------------------------------------------------------
PUB2="2 lines: an 'untrusted comment:' line and a base64 line"
sed '2s/....$//' k.pub >trunc.pub
expect_run pub-truncated-base64 1 \
        "mkimage: trunc.pub:2: the key is 52 characters of base64, a minisign public key has exactly 56: the file is truncated or damaged (regenerate or re-copy it)" \
        "$M" verify-sig f.comp --pub trunc.pub
sed '2s/^\(.......\)./\1*/' k.pub >garbage.pub
expect_run pub-garbage-base64 1 \
        "mkimage: garbage.pub:2: invalid base64 character '*' at column 8 of the key: the file is damaged (regenerate or re-copy it)" \
        "$M" verify-sig f.comp --pub garbage.pub
cp k.pub alg.pub; set_alg alg.pub 2 'EC'
expect_run pub-wrong-algorithm 1 \
        "mkimage: alg.pub:2: key algorithm is 'EC', not 'Ed' (Ed25519): not a minisign public key (regenerate or re-copy it)" \
        "$M" verify-sig f.comp --pub alg.pub
{ printf 'untrusted comment: '; head -c 3000 /dev/zero | tr '\0' x; echo; sed -n 2p k.pub; } >long.pub
expect_run pub-overlong-line 1 \
        "mkimage: long.pub:1: line is 3019 bytes long, longer than the 1022 bytes minisign allows: shorten the comment" \
        "$M" verify-sig f.comp --pub long.pub
: >empty.pub
expect_run pub-empty 1 \
        "mkimage: empty.pub: is empty: a minisign public key has $PUB2 (regenerate or re-copy it)" \
        "$M" verify-sig f.comp --pub empty.pub
truncate -s 1G huge.pub
start=$(date +%s%N)
expect_run pub-1gib-no-newline 1 \
        "mkimage: huge.pub: is 1073741824 bytes, too large for a minisign public key (at most 4096 bytes): check that this is the right file" \
        "$M" verify-sig f.comp --pub huge.pub
ms=$(( ($(date +%s%N) - start) / 1000000 ))
if [ "$ms" -lt 1000 ]; then pass pub-1gib-fast; else fail pub-1gib-fast "took ${ms} ms"; fi
expect_run pub-missing 1 \
        "mkimage: nope.pub: cannot open the minisign public key: No such file or directory (check the path)" \
        "$M" verify-sig f.comp --pub nope.pub
expect_run pub-is-signature 1 \
        "mkimage: f.comp.minisig: has 4 lines, a minisign public key has exactly $PUB2: the file is truncated or not a minisign public key (regenerate or re-copy it)" \
        "$M" verify-sig f.comp --pub f.comp.minisig
printf 'untrusted comment: x\r\n%s\r\n' "$(sed -n 2p k.pub)" >dos.pub
expect_run pub-crlf 1 \
        "mkimage: dos.pub:1: line ends with a carriage return (DOS line ends): convert the file with 'dos2unix dos.pub'" \
        "$M" verify-sig f.comp --pub dos.pub

# ---- bad inputs: signatures ----------------------------------------------------------
SIG4="4 lines: 'untrusted comment:', the base64 signature, 'trusted comment:', the base64 global signature"
cp f.comp.minisig alg.minisig; set_alg alg.minisig 2 'Ee'
expect_run sig-wrong-algorithm 1 \
        "mkimage: alg.minisig:2: signature algorithm is 'Ee', neither 'ED' (prehashed) nor 'Ed' (legacy): not a minisign signature (re-sign the file)" \
        "$M" verify-sig f.comp --pub k.pub --sig alg.minisig
sed '4s/^\(.*\)......$/\1/' f.comp.minisig >trunc.minisig
expect_run sig-truncated-base64 1 \
        "mkimage: trunc.minisig:4: the global signature is 82 characters of base64, a minisign signature has exactly 88: the file is truncated or damaged (regenerate or re-copy it)" \
        "$M" verify-sig f.comp --pub k.pub --sig trunc.minisig
sed '2s/^\(..........\)./\1#/' f.comp.minisig >garbage.minisig
expect_run sig-garbage-base64 1 \
        "mkimage: garbage.minisig:2: invalid base64 character '#' at column 11 of the signature: the file is damaged (regenerate or re-copy it)" \
        "$M" verify-sig f.comp --pub k.pub --sig garbage.minisig
head -3 f.comp.minisig >three.minisig
expect_run sig-three-lines 1 \
        "mkimage: three.minisig: has 3 lines, a minisign signature has exactly $SIG4: the file is truncated or not a minisign signature (regenerate or re-copy it)" \
        "$M" verify-sig f.comp --pub k.pub --sig three.minisig
: >empty.minisig
expect_run sig-empty 1 \
        "mkimage: empty.minisig: is empty: a minisign signature has $SIG4 (regenerate or re-copy it)" \
        "$M" verify-sig f.comp --pub k.pub --sig empty.minisig
truncate -s 1G huge.minisig
start=$(date +%s%N)
expect_run sig-1gib-no-newline 1 \
        "mkimage: huge.minisig: is 1073741824 bytes, too large for a minisign signature (at most 16384 bytes): check that this is the right file" \
        "$M" verify-sig f.comp --pub k.pub --sig huge.minisig
ms=$(( ($(date +%s%N) - start) / 1000000 ))
if [ "$ms" -lt 1000 ]; then pass sig-1gib-fast; else fail sig-1gib-fast "took ${ms} ms"; fi
rm -f huge.pub huge.minisig
expect_run sig-missing 1 \
        "mkimage: nope.minisig: cannot open the minisign signature: No such file or directory (check the path)" \
        "$M" verify-sig f.comp --pub k.pub --sig nope.minisig
expect_run data-missing 1 \
        "mkimage: nope.comp: cannot open: No such file or directory (check the path)" \
        "$M" verify-sig nope.comp --pub k.pub --sig f.comp.minisig
expect_run sign-missing-file 1 \
        "mkimage: nope.comp: cannot open: No such file or directory (check the path)" \
        "$M" sign nope.comp --key k.key
check sign-missing-leaves-nothing test ! -e nope.comp.minisig

# ---- bad inputs: secret keys --------------------------------------------------------
chmod 644 k.key
expect_run seckey-mode-0644 1 \
        "mkimage: k.key: secret key is accessible by group or others (mode 0644): run 'chmod 600 k.key'" \
        "$M" sign f.comp --key k.key
chmod 600 k.key
expect_run seckey-is-public 1 \
        "mkimage: k.pub: secret key is accessible by group or others (mode 0644): run 'chmod 600 k.pub'" \
        "$M" sign f.comp --key k.pub
cp k.pub pub-as.key; chmod 600 pub-as.key
expect_run seckey-is-public-0600 1 \
        "mkimage: pub-as.key:2: the key is 56 characters of base64, a minisign secret key has exactly 212: the file is truncated or damaged (regenerate or re-copy it)" \
        "$M" sign f.comp --key pub-as.key
sed -n 2p k.key | base64 -d >"$T/bin"; printf 'Zz' | dd of="$T/bin" bs=1 seek=2 conv=notrunc status=none
{ sed -n 1p k.key; base64 -w0 <"$T/bin"; echo; } >kdf.key; chmod 600 kdf.key
expect_run seckey-unknown-kdf 1 \
        "mkimage: kdf.key:2: key encryption is 'Zz', neither 'Sc' (scrypt) nor 0x0000 (unencrypted): not a minisign secret key" \
        "$M" sign f.comp --key kdf.key

# ---- usage -------------------------------------------------------------------------
expect_run usage-sign-no-key 2 "mkimage sign: missing --key KEY (the secret key to sign with) (see 'mkimage sign --help')" \
        "$M" sign f.comp
expect_run usage-verify-no-pub 2 "mkimage verify-sig: missing --pub PUB (the public key to trust) (see 'mkimage verify-sig --help')" \
        "$M" verify-sig f.comp
expect_run usage-keygen-no-prefix 2 "mkimage keygen: missing PREFIX (see 'mkimage keygen --help')" \
        "$M" keygen
expect_run usage-extra-arg 2 "mkimage sign: unexpected argument 'g' (see 'mkimage sign --help')" \
        "$M" sign f.comp g --key k.key
expect_run usage-unknown-option 2 "mkimage verify-sig: unknown option '--bogus' (see 'mkimage verify-sig --help')" \
        "$M" verify-sig f.comp --pub k.pub --bogus
expect_run usage-option-of-other-verb 2 "mkimage sign: option '--pub' does not apply to 'sign' (see 'mkimage sign --help')" \
        "$M" sign f.comp --key k.key --pub k.pub
expect_run usage-missing-value 2 "mkimage sign: option '--key' needs a value (see 'mkimage sign --help')" \
        "$M" sign f.comp --key
for v in keygen sign verify-sig; do
        if "$M" "$v" --help 2>&1 | grep -q "^Usage: mkimage $v "; then pass "help-$v"; else fail "help-$v"; fi
done
