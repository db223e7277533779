# mkimage verify on the data partition (docs/verify.md, "The data
# partition"): each LUKS2 header copy on its own (a flipped byte, a hole, a
# missing copy, copies that disagree), the header's keyslots with and
# without --data-key, the ext4 superblock and group descriptors inside LUKS2
# (decrypted in memory) and without encryption. The stock tools agree:
# `cryptsetup luksDump --debug --disable-locks` names the same broken copy
# (with locks on, luksDump would quietly repair it), `e2fsck -fn` and dumpe2fs
# agree on the ext4 (inside LUKS2: decrypted offline by `cryptsetup
# reencrypt --decrypt`). The LUKS2 cases that corrupt the ext4 rewrite one
# sector with the volume key cryptsetup dumps (python3-cryptography): no
# root or device-mapper needed.
. "$(dirname "$0")/../lib/testlib.sh"
cd "$SRC"

PUB="$BUILD/keys/dev.pub"
KEY="$BUILD/keys/dev.key"
L="$T/l.img"
P="$T/p.img"

# flip FILE OFFSET: xor one byte with 0x01.
flip() {
        python3 - "$1" "$2" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1)
    f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 1]))
PY
}

sed -e 's/encryption: luks2/encryption: none/' -e '/^  \(cipher\|pbkdf\|key-source\):/d' \
        -e "s|\.\./|$SRC/|g" models/demo-x86_64.yaml >"$T/plain.yaml"
if "$MKIMAGE" build models/demo-x86_64.yaml --data-key "$DATA_KEY" -o "$L" --sign-key "$KEY" >/dev/null 2>"$T/e" &&
   "$MKIMAGE" build models/demo-x86_64.yaml --data-key "$DATA_KEY" -o "$T/l2.img" --sign-key "$KEY" >/dev/null 2>>"$T/e" &&
   "$MKIMAGE" build "$T/plain.yaml" -o "$P" >/dev/null 2>>"$T/e"; then
        pass build-images
else
        fail build-images "$(cat "$T/e")"
        exit 0
fi
read -r D DSIZE <<<"$(part_offset "$L" data)"
read -r PD PDSIZE <<<"$(part_offset "$P" data)"
PAY=16777216 # where mkimage puts the LUKS2 payload
head -c 64 /dev/urandom >"$T/wrong.key" && chmod 600 "$T/wrong.key"

# fresh IMG: $T/t.img and its manifests, a copy of IMG.
fresh() {
        rm -f "$T"/t.img*
        cp --sparse=always "$1" "$T/t.img"
        for f in "$1".manifest*; do cp "$f" "$T/t.img${f#"$1"}"; done
}

# vd NAME RC REGEX [VERIFY ARGS...]: verify $T/t.img; it exits RC, its data
# line matches REGEX (grep -E) and no other line failed.
vd() {
        local name="$1" rc="$2" want="$3" got=0; shift 3
        "${VERIFY_BIN:-$MKIMAGE}" verify "$T/t.img" --pub "$PUB" "$@" >"$T/v.out" 2>"$T/v.err" || got=$?
        if [ "$got" = "$rc" ] && grep -qE "^data: $want" "$T/v.out" && [ ! -s "$T/v.err" ] &&
           [ "$(grep -c ': FAILED: ' "$T/v.out")" = "$([ "$rc" = 0 ] && echo 0 || echo 1)" ] &&
           ! grep -v '^data: ' "$T/v.out" | grep -q 'FAILED'; then
                pass "$name"
        else
                fail "$name" "exit $got, want $rc and data: $want: $(cat "$T/v.out" "$T/v.err")"
        fi
}

# dump_says NAME REGEX: luksDump of a copy of $T/t.img's data header, with --debug and without locks (so that
# it repairs nothing), prints REGEX.
dump_says() {
        dd if="$T/t.img" of="$T/hdr" bs=1M iflag=skip_bytes skip="$D" count=17 status=none
        cryptsetup luksDump --debug --disable-locks "$T/hdr" >"$T/dump" 2>&1
        if grep -qE "$2" "$T/dump"; then pass "$1"; else fail "$1" "luksDump: $(grep -i -e error -e checksum "$T/dump" | head -5)"; fi
}

HEAD="LUKS2, 2 header copies checked, aes-xts-plain64, 512-byte sectors, 1 keyslot, $((DSIZE - PAY)) bytes of data at byte $PAY"
EXT="ext4 clean, [0-9]+ blocks of 4096 bytes, the superblock's and [0-9]+ group descriptors' checksums right"

# --- LUKS2: the header -------------------------------------------------------
fresh "$L"
vd luks-ok 0 "OK \($HEAD; the ext4 inside not checked \(give --data-key\)\)$"
vd luks-ok-with-key 0 "OK \($HEAD; keyslot 0 opened by the data key; $EXT\)$" --data-key "$DATA_KEY"
dump_says luksdump-good-copies-clean '^Version:'

FIRST="FAILED: the LUKS2 header's first copy \(at byte 0 of partition 'data'\)"
SECOND="FAILED: the LUKS2 header's second copy \(at byte 16384 of partition 'data'\)"
fresh "$L"; flip "$T/t.img" $((D + 4096 + 100))
vd first-copy-json-flipped 1 "$FIRST fails its checksum \(sha256 [0-9a-f]{16}… stored, [0-9a-f]{16}… computed\)$"
dump_says luksdump-first-copy-broken 'LUKS2 header checksum error \(offset 0\)'
vd first-copy-flipped-also-with-key 1 "$FIRST fails its checksum" --data-key "$DATA_KEY"
fresh "$L"; flip "$T/t.img" $((D + 16384 + 4096 + 100))
vd second-copy-json-flipped 1 "$SECOND fails its checksum \(sha256 [0-9a-f]{16}… stored, [0-9a-f]{16}… computed\)$"
dump_says luksdump-second-copy-broken 'LUKS2 header checksum error \(offset 16384\)'
fresh "$L"; flip "$T/t.img" $((D + 4096 + 100)); flip "$T/t.img" $((D + 16384 + 4096 + 50))
vd both-copies-flipped 1 "$FIRST fails its checksum .*; its second copy \(at byte 16384\) fails its checksum"
dd if="$T/t.img" of="$T/hdr" bs=1M iflag=skip_bytes skip="$D" count=17 status=none
check luksdump-refuses-both-broken bash -c '! cryptsetup luksDump --disable-locks "$1" >/dev/null 2>&1' _ "$T/hdr"
fresh "$L"; flip "$T/t.img" $((D + 24)) # the label, in the binary header
vd first-copy-binary-header-flipped 1 "$FIRST fails its checksum"

# Holes where the header was (what a bmap copy onto used media leaves): zeros there.
fresh "$L"; fallocate --punch-hole -o $((D + 4096)) -l 4096 "$T/t.img"
vd first-copy-json-hole 1 "$FIRST fails its checksum"
dump_says luksdump-first-copy-hole 'LUKS2 header checksum error \(offset 0\)'
fresh "$L"; fallocate --punch-hole -o $((D + 16384 + 4096)) -l 4096 "$T/t.img"
vd second-copy-json-hole 1 "$SECOND fails its checksum"
fresh "$L"; fallocate --punch-hole -o $((D + 16384)) -l 16384 "$T/t.img"
vd second-copy-missing 1 "$SECOND has no LUKS2 second-copy magic$"
fresh "$L"; fallocate --punch-hole -o "$D" -l 4096 "$T/t.img"
vd first-copy-binary-hole 1 "$FIRST has no LUKS2 first-copy magic$"
fresh "$L"; fallocate --punch-hole -o "$D" -l 32768 "$T/t.img"
vd no-header 1 "$FIRST has no LUKS2 first-copy magic; its second copy is missing \(no second-copy magic at any offset LUKS2 allows, 16 KiB to 4 MiB\)$"

# Two copies that pass on their own but come from different headers (another build: other salts).
fresh "$L"
dd if="$T/l2.img" of="$T/t.img" bs=1 iflag=skip_bytes oflag=seek_bytes skip=$((D + 16384)) seek=$((D + 16384)) \
        count=16384 conv=notrunc status=none
vd copies-disagree 1 "FAILED: the LUKS2 header's two copies of partition 'data' hold different JSON metadata$"

# The keyslot area: not read without the key; with it, nothing opens.
fresh "$L"; fallocate --punch-hole -o $((D + 32768)) -l 258048 "$T/t.img"
vd keyslot-area-zeroed-without-key 0 "OK \($HEAD; the ext4 inside not checked"
vd keyslot-area-zeroed-with-key 1 "FAILED: the data key $DATA_KEY does not open any keyslot$" --data-key "$DATA_KEY"
dd if="$T/t.img" of="$T/hdr" bs=1M iflag=skip_bytes skip="$D" count=17 status=none
check cryptsetup-agrees-zeroed-keyslot bash -c '! cryptsetup open --test-passphrase --disable-locks --key-file "$1" "$2" 2>/dev/null' _ "$DATA_KEY" "$T/hdr"

fresh "$L"
vd wrong-data-key 1 "FAILED: the data key $T/wrong.key does not open any keyslot$" --data-key "$T/wrong.key"
dd if="$T/t.img" of="$T/hdr" bs=1M iflag=skip_bytes skip="$D" count=17 status=none
check cryptsetup-refuses-wrong-key bash -c '! cryptsetup open --test-passphrase --disable-locks --key-file "$1" "$2" 2>/dev/null' _ "$T/wrong.key" "$T/hdr"

# The ciphertext of the superblock changed: XTS garbles that 16-byte block of the plaintext.
fresh "$L"; flip "$T/t.img" $((D + PAY + 1024 + 20))
vd payload-superblock-flipped 1 "FAILED: in the LUKS2 payload: the ext4 superblock fails its checksum" --data-key "$DATA_KEY"

# A partition that holds something else than the manifest says.
fresh "$L"
dd if="$P" of="$T/t.img" bs=1M iflag=skip_bytes,count_bytes oflag=seek_bytes skip="$PD" seek="$D" count=$((1 << 20)) \
        conv=notrunc status=none
vd holds-ext4-not-luks2 1 "FAILED: holds ext4, but the manifest says luks2 \(encryption: luks2\)$"

# --- LUKS2: the ext4 inside ------------------------------------------------------
# The volume key, as cryptsetup gives it (no device-mapper here): a plaintext byte is changed by
# decrypting its sector, flipping it and encrypting it again, the way dm-crypt would write it.
dd if="$L" of="$T/hdr" bs=1M iflag=skip_bytes skip="$D" count=17 status=none
VK=$(cryptsetup luksDump --dump-volume-key --batch-mode --disable-locks --key-file "$DATA_KEY" "$T/hdr" 2>/dev/null |
        sed -n '/^MK dump:/,/^[^[:space:]M]/p' | grep -oE '\b[0-9a-f]{2}\b' | tr -d '\n')
# poke OFFSET: flip the byte at OFFSET of the plaintext payload of $T/t.img (AES-256-XTS, plain64).
poke() {
        python3 - "$T/t.img" "$1" "$VK" $((D + PAY)) <<'PY'
import sys
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
img, off, vk, base = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3]), int(sys.argv[4])
sec = off // 512
xts = Cipher(algorithms.AES(vk), modes.XTS(sec.to_bytes(16, "little")))
with open(img, "r+b") as f:
    f.seek(base + sec * 512)
    p = bytearray(xts.decryptor().update(f.read(512)))
    p[off % 512] ^= 1
    f.seek(base + sec * 512)
    f.write(xts.encryptor().update(bytes(p)))
PY
}
# fsck_payload NAME RC: e2fsck -fn of $T/t.img's payload, decrypted offline by cryptsetup, exits 0 (RC 0) or not.
fsck_payload() {
        local rc=0
        rm -f "$T/dec" "$T/newhdr"
        dd if="$T/t.img" of="$T/dec" bs=1M iflag=skip_bytes,count_bytes skip="$D" count="$DSIZE" conv=sparse status=none
        cryptsetup reencrypt --decrypt --header "$T/newhdr" "$T/dec" --key-file "$DATA_KEY" --force-offline-reencrypt \
                --disable-locks --batch-mode >"$T/fsck" 2>&1 && e2fsck -fn "$T/dec" >>"$T/fsck" 2>&1 || rc=$?
        if { [ "$2" = 0 ] && [ $rc = 0 ]; } || { [ "$2" != 0 ] && [ $rc != 0 ]; }; then pass "$1"; else
                fail "$1" "exit $rc: $(tail -5 "$T/fsck")"; fi
        rm -f "$T/dec" "$T/newhdr"
}
if [ ${#VK} = 128 ] && python3 -c 'import cryptography' 2>/dev/null; then
        fresh "$L"
        poke 100 # before the superblock: a byte neither verify nor e2fsck reads
        vd luks-ok-after-poke-elsewhere 0 "OK \($HEAD; keyslot 0 opened by the data key; $EXT\)$" --data-key "$DATA_KEY"
        fsck_payload e2fsck-clean-after-poke-elsewhere 0
        fresh "$L"; poke $((1024 + 20))
        vd luks-ext4-superblock-corrupted 1 "FAILED: in the LUKS2 payload: the ext4 superblock fails its checksum \(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\)$" \
                --data-key "$DATA_KEY"
        vd luks-ext4-corrupted-without-key-header-ok 0 "OK \($HEAD; the ext4 inside not checked"
        fsck_payload e2fsck-agrees-superblock-corrupted '!0'
        fresh "$L"; poke $((4096 + 8))
        vd luks-ext4-group-descriptor-corrupted 1 "FAILED: in the LUKS2 payload: ext4 group descriptor 0 fails its checksum" \
                --data-key "$DATA_KEY"
        fsck_payload e2fsck-agrees-group-descriptor-corrupted '!0'
else
        skip luks-ext4-corrupted "no volume key from cryptsetup luksDump --dump-volume-key, or no python3-cryptography"
fi

# --- encryption: none ------------------------------------------------------------
# extract_plain: the data partition of $T/t.img as $T/fs.
extract_plain() { dd if="$T/t.img" of="$T/fs" bs=1M iflag=skip_bytes,count_bytes skip="$PD" count="$PDSIZE" conv=sparse status=none; }
fresh "$P"
vd plain-ok 0 "OK \($EXT\)$"
vd plain-ok-key-not-used 0 "OK \($EXT; --data-key not used: the partition is not encrypted\)$" --data-key "$DATA_KEY"
extract_plain
check plain-e2fsck-clean bash -c 'e2fsck -fn "$1" >/dev/null 2>&1' _ "$T/fs"
fresh "$P"; flip "$T/t.img" $((PD + 1024 + 20))
vd plain-superblock-flipped 1 "FAILED: the ext4 superblock fails its checksum \(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\)$"
extract_plain
check plain-e2fsck-agrees-superblock bash -c '! e2fsck -fn "$1" >/dev/null 2>&1' _ "$T/fs"
fresh "$P"; flip "$T/t.img" $((PD + 4096 + 8))
vd plain-group-descriptor-flipped 1 "FAILED: ext4 group descriptor 0 fails its checksum"
extract_plain
check plain-e2fsck-agrees-group-descriptor bash -c '! e2fsck -fn "$1" >/dev/null 2>&1' _ "$T/fs"
fresh "$P"; flip "$T/t.img" $((PD + 1024 + 56))
vd plain-no-magic 1 "FAILED: no ext4 superblock \(magic 0xef52 at byte 1080, not 0xef53\)$"
# Not clean, with a right checksum: debugfs rewrites the superblock (and its checksum).
fresh "$P"; extract_plain
debugfs -w -R 'ssv state 0' "$T/fs" >/dev/null 2>&1
dd if="$T/fs" of="$T/t.img" bs=4096 count=1 oflag=seek_bytes seek="$PD" conv=notrunc status=none
vd plain-not-clean 1 "FAILED: the ext4 file system is not clean \(state 0x0000: not unmounted cleanly\)$"
check dumpe2fs-agrees-not-clean bash -c 'dumpe2fs -h "$1" 2>/dev/null | grep -q "^Filesystem state: *not clean"' _ "$T/fs"
fresh "$P"
dd if="$L" of="$T/t.img" bs=1M iflag=skip_bytes,count_bytes oflag=seek_bytes skip="$D" seek="$PD" count=$((1 << 20)) \
        conv=notrunc status=none
vd plain-holds-luks2 1 "FAILED: holds luks2, but the manifest says ext4 \(encryption: none\)$"

# --- JSON, usage ------------------------------------------------------------------
fresh "$L"
"$MKIMAGE" verify "$T/t.img" --pub "$PUB" --data-key "$DATA_KEY" --json >"$T/v.json"
if python3 - "$T/v.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["ok"] is True, j
d = [i for i in j["items"] if i["name"] == "data"][0]
assert d["status"] == "ok" and d["reason"] is None and "keyslot 0 opened by the data key" in d["detail"], d
assert all("detail" not in i for i in j["items"] if i["name"] not in ("data", "esp")), j
assert next(i for i in j["items"] if i["name"] == "esp")["detail"] == "Secure Boot: 2 UKIs match their manifests; signatures not checked (give --sb-cert db.crt)", j
PY
then pass json-detail; else fail json-detail "$(cat "$T/v.json")"; fi
"$MKIMAGE" verify "$T/t.img" --pub "$PUB" --data-key >/dev/null 2>"$T/u.err"
expect_eq usage-data-key-without-file "$?:$(cat "$T/u.err")" "2:mkimage verify: --data-key needs a key file (see 'mkimage verify --help')"
"$MKIMAGE" verify "$T/t.img" --pub "$PUB" --data-key "$T/no.key" >/dev/null 2>"$T/u.err"
expect_eq data-key-missing "$?:$(cat "$T/u.err")" "1:mkimage: $T/no.key: cannot open the data key: No such file or directory"
cp "$DATA_KEY" "$T/open.key" && chmod 644 "$T/open.key"
"$MKIMAGE" verify "$T/t.img" --pub "$PUB" --data-key "$T/open.key" >/dev/null 2>"$T/u.err"
check data-key-mode-refused grep -q "chmod 600" "$T/u.err"

# --- the same under ASan + UBSan ----------------------------------------------------
A="$BUILD/asan/mkimage"
if [ -x "$A" ] && ! [ "$A" -ot "$MKIMAGE" ]; then
        export ASAN_OPTIONS=detect_leaks=1
        fresh "$L"
        VERIFY_BIN="$A" vd asan-luks-ok-with-key 0 "OK \($HEAD; keyslot 0 opened by the data key; $EXT\)$" --data-key "$DATA_KEY"
        VERIFY_BIN="$A" vd asan-wrong-key 1 "FAILED: the data key $T/wrong.key does not open any keyslot$" --data-key "$T/wrong.key"
        flip "$T/t.img" $((D + 4096 + 100)); flip "$T/t.img" $((D + 16384 + 4096 + 50))
        VERIFY_BIN="$A" vd asan-both-copies-flipped 1 "$FIRST fails its checksum" --data-key "$DATA_KEY"
        fresh "$P"; flip "$T/t.img" $((PD + 4096 + 8))
        VERIFY_BIN="$A" vd asan-plain-group-descriptor 1 "FAILED: ext4 group descriptor 0 fails its checksum"
else
        skip asan "$A is missing or older than $MKIMAGE (make check builds it)"
fi
