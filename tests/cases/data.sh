# The data partition, checked with the stock tools: ext4 written at an offset
# inside a sparse image (e2fsck, dumpe2fs, debugfs), reproducible; LUKS2
# around it (cryptsetup luksDump, open --test-passphrase, an offline decrypt
# that must give back the plaintext file system byte for byte); bad input
# with its exact error; the same again as an unprivileged user.
#
# Driven through the helper mode of the unit test binary (see the top of
# tests/unit/test-data.c): $BUILD/tests/test-data.
. "$(dirname "$0")/../lib/testlib.sh"
cd "$T" || exit 1
export TZ=UTC LC_ALL=C
H="$BUILD/tests/test-data"
if [ ! -x "$H" ]; then
        fail setup "$H is missing (run 'make unit-bins')"
        exit 1
fi
MB=$((1 << 20))
OFF=$((16 * MB))    # where the partition starts inside the image
SIZE=$((256 * MB))  # the partition
SMALL=$((64 * MB))  # for the runs that repeat a path
UUID=01020304-0506-0708-090a-0b0c0d0e0f10

# new_image FILE [SIZE]: a sparse image with markers just before and after the partition.
new_image() {
        local size="${2:-$SIZE}"
        rm -f "$1"
        truncate -s $((OFF + size + MB)) "$1"
        printf 'MARK' | dd of="$1" bs=1 seek=$((OFF - 4)) conv=notrunc status=none
        printf 'TAIL' | dd of="$1" bs=1 seek=$((OFF + size)) conv=notrunc status=none
}
markers() { # FILE: prints the two markers
        echo "$(dd if="$1" bs=1 skip=$((OFF - 4)) count=4 status=none) $(dd if="$1" bs=1 skip=$((OFF + SIZE)) count=4 status=none)"
}
extract() { # IMAGE OUT OFFSET SIZE (whole MiB)
        dd if="$1" of="$2" bs=1M skip=$(($3 / MB)) count=$(($4 / MB)) status=none
}
fsck_clean() { # FS: e2fsck -fn passes
        e2fsck -fn "$1" >"$T/fsck.out" 2>&1 || { sed 's/^/    /' "$T/fsck.out" >&2; return 1; }
}
sb() { # FS FIELD: a dumpe2fs -h field
        dumpe2fs -h "$1" 2>/dev/null | sed -n "s/^$2:[[:space:]]*//p"
}
dbg() { # FS REQUEST
        debugfs -R "$2" "$1" 2>/dev/null
}

## ext4 from the built-in sample tree
new_image a.img
check ext4-write "$H" mkfs a.img $OFF $SIZE sample
expect_eq ext4-markers-intact "$(markers a.img)" "MARK TAIL"
extract a.img a.ext4 $OFF $SIZE
check ext4-e2fsck-clean fsck_clean a.ext4
truncate -s $SIZE ref.ext4
mke2fs -q -F -t ext4 ref.ext4 >/dev/null 2>&1
expect_eq ext4-features-as-mke2fs "$(sb a.ext4 'Filesystem features')" "$(sb ref.ext4 'Filesystem features')"
expect_eq ext4-uuid "$(sb a.ext4 'Filesystem UUID')" "$UUID"
expect_eq ext4-hash-seed "$(sb a.ext4 'Directory Hash Seed')" "a5a4a7a6-a1a0-a3a2-adac-afaea9a8abaa"
expect_eq ext4-label "$(sb a.ext4 'Filesystem volume name')" "data"
expect_eq ext4-times "$(sb a.ext4 'Filesystem created')|$(sb a.ext4 'Last write time')|$(sb a.ext4 'Last checked')" \
        "Thu Jan  1 00:00:00 2026|Thu Jan  1 00:00:00 2026|Thu Jan  1 00:00:00 2026"
expect_eq ext4-block-size "$(sb a.ext4 'Block size')/$(sb a.ext4 'Inode size')/$(sb a.ext4 'Block count')" "4096/256/65536"
expect_eq ext4-journal "$(sb a.ext4 'Total journal size')" "16M"
dbg a.ext4 'ls -l /' | sed 's/ *$//' >root.ls
cat >root.want <<'EOF'
      2   40751 (2)      0      0    4096  1-Jan-2026 00:00 .
      2   40751 (2)      0      0    4096  1-Jan-2026 00:00 ..
     11   40700 (2)      0      0   16384  1-Jan-2026 00:00 lost+found
     12  100644 (1)      0      0       6  1-Jan-2026 00:00 aaa-link
     13   40755 (2)      0      0    4096  1-Jan-2026 00:00 dev
     16   40755 (2)      0      0    4096  1-Jan-2026 00:00 etc
     18  120777 (7)      0      0      13  1-Jan-2026 00:00 link
     19   40755 (2)      0      0   12288  1-Jan-2026 00:00 many
    320   40755 (2)      0      0    4096  1-Jan-2026 00:00 run
    323   40755 (2)      0      0    4096  1-Jan-2026 00:00 srv
    326   41777 (2)      0      0    4096  1-Jan-2026 00:00 tmp

EOF
expect_file_eq ext4-ls-root root.ls root.want
{ dbg a.ext4 'ls -l /etc'; dbg a.ext4 'ls -l /dev'; dbg a.ext4 'ls -l /run'; dbg a.ext4 'ls -l /srv'; } |
        sed 's/ *$//' | grep -v ' \.\.\?$' >sub.ls
cat >sub.want <<'EOF'
     17  100600 (1)  70000  80000       0  1-Jan-2026 00:00 empty
     12  100644 (1)      0      0       6  1-Jan-2026 00:00 hello.txt

     14   20600 (3)      0      0       0  1-Jan-2026 00:00 console
     15   60660 (4)      0      6       0  1-Jan-2026 00:00 nvme

    321   10644 (5)      0      0       0  1-Jan-2026 00:00 fifo
    322  140755 (6)      0      0       0  1-Jan-2026 00:00 sock

    324  100640 (1)   1000    100   3000001  1-Jan-2026 00:00 big.bin
    325  120777 (7)      5      0      65  1-Jan-2026 00:00 long

EOF
expect_file_eq ext4-ls-subdirs sub.ls sub.want
expect_eq ext4-xattrs "$(dbg a.ext4 'ea_list /etc/hello.txt' | tr -s ' \n' ' ')" \
        'Extended attributes: user.probe (3) = "yes" security.big (600) '
expect_eq ext4-dir-xattr "$(dbg a.ext4 'ea_list /tmp' | sed -n 's/^ *//; /trusted/p')" 'trusted.dir (1) = "d"'
expect_eq ext4-hard-link "$(dbg a.ext4 'cat /aaa-link')|$(dbg a.ext4 'stat /etc/hello.txt' | grep -o 'Links: [0-9]*')" \
        "hello|Links: 2"
expect_eq ext4-devices "$(dbg a.ext4 'stat /dev/console' | grep -o 'Device major/minor number: [0-9:]*.*')|$(dbg a.ext4 'stat /dev/nvme' | grep -o 'Device major/minor number: .*')" \
        "Device major/minor number: 05:01 (hex 05:01)|Device major/minor number: 259:70000 (hex 103:11170)"
expect_eq ext4-symlinks "$(dbg a.ext4 'stat /link' | grep -o 'Fast link dest: .*')|$(dbg a.ext4 'cat /srv/long')" \
        'Fast link dest: "etc/hello.txt"|a/target/path/that/is/longer/than/sixty/bytes/so/it/needs/a/block'

new_image b.img
check ext4-write-again "$H" mkfs b.img $OFF $SIZE sample
check ext4-reproducible cmp a.img b.img

## ext4 from a host directory: content byte for byte, owners, xattrs, links
mkdir -p src/etc src/bin src/run src/dev
printf 'hello\n' >src/etc/hello.txt
head -c $((3 * MB + 123)) /dev/urandom >src/bin/blob
ln src/bin/blob src/bin/blob-link
ln -s hello.txt src/etc/link
mkfifo src/run/fifo
mknod src/dev/null c 1 3
chmod 0755 src/bin/blob
chown 1234:5678 src/etc/hello.txt
python3 -c 'import os; os.setxattr("src/etc/hello.txt", "user.comment", b"hi there")'
new_image d.img $SMALL
check dir-write "$H" mkfs d.img $OFF $SMALL src
extract d.img d.ext4 $OFF $SMALL
check dir-e2fsck-clean fsck_clean d.ext4
dbg d.ext4 'dump /bin/blob blob.out' >/dev/null
check dir-content-exact cmp src/bin/blob blob.out
expect_eq dir-owner-mode "$(dbg d.ext4 'stat /etc/hello.txt' | grep -o 'User: *[0-9]* *Group: *[0-9]*' | tr -s ' ')|$(dbg d.ext4 'stat /bin/blob' | grep -o 'Mode: *[0-7]*' | tr -s ' ')" \
        "User: 1234 Group: 5678|Mode: 0755"
expect_eq dir-same-inode "$(dbg d.ext4 'stat /bin/blob' | sed -n 's/^Inode: \([0-9]*\).*/\1/p')" \
        "$(dbg d.ext4 'stat /bin/blob-link' | sed -n 's/^Inode: \([0-9]*\).*/\1/p')"
expect_eq dir-xattr "$(dbg d.ext4 'ea_list /etc/hello.txt' | sed -n 's/^ *//; /user/p')" 'user.comment (8) = "hi there"'
expect_eq dir-fifo-dev "$(dbg d.ext4 'stat /run/fifo' | grep -o 'Type: [A-Za-z]*')|$(dbg d.ext4 'stat /dev/null' | grep -o 'Device major/minor number: [0-9:]*')" \
        "Type: FIFO|Device major/minor number: 01:03"

## content that does not fit: refused, nothing written
new_image c.img
expect_run too-big 1 "error: c.img: data partition (ext4 of 16.0 MiB at offset 16777216): the content of 'big' needs 20.0 MiB (20971520 bytes in 1 files, plus metadata) but the file system has 11.7 MiB free (make the data partition at least 25 MiB, or the content smaller)" \
        "$H" mkfs c.img $OFF $((16 * MB)) big:$((20 * MB))
new_image c2.img
check too-big-nothing-written cmp c.img c2.img

## LUKS2 around the file system
check keygen "$H" keygen key
expect_eq key-mode "$(stat -c '%a %s' key)" "600 64"
new_image e.img
check luks-write "$H" luks e.img $OFF $SIZE key pbkdf2 sample
expect_eq luks-markers-intact "$(markers e.img)" "MARK TAIL"
extract e.img e.part $OFF $SIZE
cryptsetup luksDump --disable-locks e.part >dump.txt 2>&1
expect_eq luks-dump "$(grep -E '^Version:|^Label:|^\s+offset:|^\s+length:|^\s+cipher:|^\s+sector:|^\s+PBKDF:|^\s+Iterations:' dump.txt | tr -s ' \t' ' ')" \
        "$(printf 'Version: 2\nLabel: data\n offset: 16777216 [bytes]\n length: (whole device)\n cipher: aes-xts-plain64\n sector: 512 [bytes]\n PBKDF: pbkdf2\n Iterations: 1000\n Iterations: 1000')"
check luks-open-key cryptsetup open --test-passphrase --disable-locks --key-file key e.part
# The keyslots area holds four keyslots of a 512-bit key: the device's, then e.g. a recovery key
# and a TPM-sealed one enrolled in the field.
expect_eq luks-keyslots-area "$(grep -E '^Keyslots area:' dump.txt | tr -s ' \t' ' ')" "Keyslots area: 1048576 [bytes]"
# Only keyslot 0's area holds libcryptsetup's bytes; the rest of the keyslots area stays zero (a hole
# in the image): no key material lives there, and a keyslot added later writes its whole area.
ks_off=$(sed -n 's/^\s*Area offset:\s*\([0-9]*\) \[bytes\]/\1/p' dump.txt | head -n 1)
ks_len=$(sed -n 's/^\s*Area length:\s*\([0-9]*\) \[bytes\]/\1/p' dump.txt | head -n 1)
expect_eq luks-unused-keyslots-zero "$(python3 - e.part "$ks_off" "$ks_len" <<'PY'
import sys
f = open(sys.argv[1], "rb")
off, n = int(sys.argv[2]), int(sys.argv[3])
f.seek(off); used = f.read(n)
f.seek(off + n); rest = f.read(32768 + 1048576 - off - n)
print("used-nonzero" if used.count(0) < n // 2 else "used-zero", "rest-zero" if rest and not any(rest) else "rest-nonzero")
PY
)" "used-nonzero rest-zero"
cp --sparse=always e.part slots.part
for i in 1 2 3; do
        head -c 32 /dev/urandom >"slot$i.key"
        cryptsetup luksAddKey --disable-locks --batch-mode --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
                --key-file key slots.part "slot$i.key" >/dev/null 2>&1 || break
done
expect_eq luks-room-for-three-more-keyslots "$(cryptsetup luksDump --disable-locks slots.part | grep -cE '^  [0-9]+: luks2')" 4
check luks-added-keyslot-opens cryptsetup open --test-passphrase --disable-locks --key-file slot3.key slots.part
rm -f slots.part
head -c 64 /dev/urandom >wrong.key
expect_eq luks-wrong-key-refused "$(cryptsetup open --test-passphrase --disable-locks --key-file wrong.key e.part >/dev/null 2>&1; echo $?)" 2
# Offline decryption moves the data to the start; newhdr must not exist yet.
cp --sparse=always e.part dec.img
check luks-decrypt cryptsetup reencrypt --decrypt --header newhdr dec.img --key-file key --force-offline-reencrypt \
        --disable-locks --batch-mode -q
extract dec.img dec.ext4 0 $((SIZE - 16 * MB))
check luks-decrypted-e2fsck fsck_clean dec.ext4
expect_eq luks-decrypted-cat "$(dbg dec.ext4 'cat /etc/hello.txt')" "hello"
# The plaintext is the same reproducible ext4 the payload started as.
new_image p.img
check plaintext-write "$H" mkfs p.img $((OFF + 16 * MB)) $((SIZE - 16 * MB)) sample
extract p.img p.ext4 $((OFF + 16 * MB)) $((SIZE - 16 * MB))
# Only what the ext4 writer wrote is encrypted (holes stay holes, the image
# stays sparse): every data range of the plaintext decrypts back exactly, and
# the holes were never needed (the decrypted file system checks clean above).
same_data() { # PLAIN-IMG OFFSET DECRYPTED: the plaintext's data ranges equal
        python3 - "$@" <<'PY'
import os, sys
img, base, dec = sys.argv[1], int(sys.argv[2]), sys.argv[3]
size = os.path.getsize(dec)
fd = os.open(img, os.O_RDONLY)
mapped = 0
with open(dec, "rb") as d:
    off = base
    while off < base + size:
        try:
            data = os.lseek(fd, off, os.SEEK_DATA)
        except OSError:
            break
        if data >= base + size:
            break
        hole = min(os.lseek(fd, data, os.SEEK_HOLE), base + size)
        n = hole - data
        d.seek(data - base)
        if os.pread(fd, n, data) != d.read(n):
            sys.exit("differs in %d..%d" % (data - base, hole - base))
        mapped += n
        off = hole
if mapped == 0:
    sys.exit("no data ranges")
PY
}
check luks-decrypts-to-plaintext same_data p.img $((OFF + 16 * MB)) dec.ext4
check luks-payload-sparse test "$(stat -c %b e.img)" -le "$(( $(stat -c %b p.img) + 16 * MB / 512 ))"
new_image f.img $SMALL
check luks-argon2id "$H" luks f.img $OFF $SMALL key argon2id none
extract f.img f.part $OFF $SMALL
expect_eq luks-argon2id-dump "$(cryptsetup luksDump --disable-locks f.part | grep -E '^\s+(PBKDF|Memory|Threads|Time cost):' | tr -s ' \t' ' ')" \
        "$(printf ' PBKDF: argon2id\n Time cost: 4\n Memory: 32768\n Threads: 1')"
check luks-argon2id-open cryptsetup open --test-passphrase --disable-locks --key-file key f.part

## bad key files
head -c 31 /dev/urandom >short.key
chmod 600 short.key
expect_run key-wrong-size 1 "error: short.key: 31 bytes is not a data key (a key file holds 32 to 512 random bytes; make one with '(umask 077; head -c 64 /dev/urandom > short.key)')" \
        "$H" keyload short.key
cp key open.key
chmod 644 open.key
expect_run key-wrong-mode 1 "error: open.key: mode 0644 lets others read the data key (run 'chmod 600 open.key')" \
        "$H" keyload open.key
expect_run key-no-overwrite 1 "error: key: already exists (a data key is never overwritten: remove it first or choose another name)" \
        "$H" keygen key
expect_run luks-bad-key 1 "error: open.key: mode 0644 lets others read the data key (run 'chmod 600 open.key')" \
        "$H" luks e.img $OFF $SIZE open.key pbkdf2 none

## the same as an unprivileged user: no root, no device-mapper, no loop device
mkdir nobody
chown nobody:nogroup nobody
chmod 755 "$T"
# shellcheck disable=SC2016
NB="$(nobody_copy "$H")"
if setpriv --reuid=nobody --regid=nogroup --clear-groups env H="$NB/$(basename "$H")" OFF=$OFF SIZE=$SMALL bash -euc '
        cd nobody
        truncate -s $((OFF + SIZE)) n.img
        "$H" keygen n.key
        "$H" luks n.img $OFF $SIZE n.key pbkdf2 sample
        dd if=n.img of=n.part bs=1M skip=$((OFF >> 20)) count=$((SIZE >> 20)) status=none
        cryptsetup open --test-passphrase --disable-locks --key-file n.key n.part
        cryptsetup reencrypt --decrypt --header n.hdr n.part --key-file n.key --force-offline-reencrypt \
                --disable-locks --batch-mode -q
        dd if=n.part of=n.ext4 bs=1M count=$(((SIZE >> 20) - 16)) status=none
        e2fsck -fn n.ext4 >/dev/null 2>&1
        debugfs -R "cat /etc/hello.txt" n.ext4 2>/dev/null
' >nobody.out 2>nobody.err; then
        expect_eq unprivileged "$(cat nobody.out)" "hello"
else
        fail unprivileged "$(head -c 600 nobody.err)"
fi

## the sanitizer build through the same path (leaks, overflows)
A="$BUILD/asan/tests/test-data"
if [ -x "$A" ]; then
        new_image g.img $SMALL
        expect_run asan-luks-write 0 "" "$A" luks g.img $OFF $SMALL key pbkdf2 src
fi
