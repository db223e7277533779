# Block copy (issue 9): components packed with the root's compressor, block
# size and options have their compressed data and fragment blocks carried
# into the root unchanged. The reference is the recompressing path, forced
# with MKIMAGE_NO_BLOCK_COPY=1: both roots must list the same (unsquashfs
# -lls), extract to the same tree with the same xattrs, be valid squashfs
# under dm-verity, and each path must be reproducible.
. "$(dirname "$0")/../lib/testlib.sh"
cd "$SRC"
K="$BUILD/keys"
C="$BUILD/components"

mval() { sed -n "s/^ *$2: //p" "$1" | head -1; }
extract() { # IMG PART OUT [BYTES]
        local start psize
        read -r start psize <<<"$(part_offset "$1" "$2")"
        dd if="$1" of="$3" bs=1M iflag=skip_bytes,count_bytes skip="$start" count="${4:-$psize}" status=none
}
# build NAME MODEL [ENV...]: build into $T/NAME/i.img, -v log in $T/NAME/log, root in $T/NAME/root.sqfs
build() {
        local name="$1" model="$2"; shift 2
        rm -rf "$T/$name"; mkdir -p "$T/$name"
        if ! env "$@" "$MKIMAGE" build -v "$model" $KEYOPT -o "$T/$name/i.img" >"$T/$name/log" 2>&1; then
                fail "$name-build" "$(grep -v "^mkimage: \(component .*: signature OK\|model \)" "$T/$name/log" | tail -3)"
                return 1
        fi
        local I="$T/$name/i.img"
        extract "$I" root-a "$T/$name/root.sqfs" "$(mval "$I.manifest.yaml" size)"
        extract "$I" root-a "$T/$name/root.data"
        extract "$I" root-a-verity "$T/$name/root.hash"
        TZ=UTC unsquashfs -lls "$T/$name/root.sqfs" | sed 1,3d >"$T/$name/lls"
        unsquashfs -q -n -d "$T/$name/x" "$T/$name/root.sqfs" >/dev/null 2>"$T/$name/unsq.err" ||
                fail "$name-unsquashfs" "$(cat "$T/$name/unsq.err")"
        xattrs "$T/$name/x" >"$T/$name/xattrs"
}
# xattrs DIR: every path's extended attributes, sorted (no getfattr needed).
xattrs() {
        python3 - "$1" <<'PY'
import os, sys
root = sys.argv[1]
for d, dirs, files in sorted(os.walk(root)):
    for n in sorted([d] + [os.path.join(d, f) for f in files + dirs]):
        for k in sorted(os.listxattr(n, follow_symlinks=False)):
            print(os.path.relpath(n, root), k, os.getxattr(n, k, follow_symlinks=False).hex())
PY
}
# compare A B TAG: A (block copy) and B (recompressed) hold the same root.
compare() {
        expect_file_eq "$3-lls-same" "$T/$1/lls" "$T/$2/lls"
        if diff -r --no-dereference "$T/$1/x" "$T/$2/x" >"$T/d" 2>&1; then pass "$3-contents-same"; else
                fail "$3-contents-same" "$(head -5 "$T/d")"
        fi
        expect_file_eq "$3-xattrs-same" "$T/$1/xattrs" "$T/$2/xattrs"
        local mf="$T/$1/i.img.manifest.yaml"
        if veritysetup verify "$T/$1/root.sqfs" "$T/$1/root.hash" "$(mval "$mf" root-hash)" >"$T/vs" 2>&1; then
                pass "$3-verity-verifies"
        else
                fail "$3-verity-verifies" "$(cat "$T/vs")"
        fi
}

# 1. The demo components: zstd 15, 128 KiB, like the demo model.
KEYOPT="--data-key $DATA_KEY"
build demo-copy models/demo-x86_64.yaml && build demo-recomp models/demo-x86_64.yaml MKIMAGE_NO_BLOCK_COPY=1 &&
        build demo-copy2 models/demo-x86_64.yaml && {
        compare demo-copy demo-recomp demo
        check demo-says-block-copy grep -qx 'mkimage: component base: block copy (zstd level 15, 128 KiB, same as the root)' "$T/demo-copy/log"
        check demo-says-recompressed grep -qx 'mkimage: component base: recompressed (block copy turned off by MKIMAGE_NO_BLOCK_COPY)' "$T/demo-recomp/log"
        check demo-copied-some grep -qE '^mkimage: root: .* [1-9][0-9]* files \([0-9]+ bytes\) block-copied$' "$T/demo-copy/log"
        check demo-reproducible cmp_except_data "$T/demo-copy/i.img" "$T/demo-copy2/i.img"
        check demo-reproducible-manifest cmp "$T/demo-copy/i.img.manifest.yaml" "$T/demo-copy2/i.img.manifest.yaml"
        sq_valid() { unsquashfs -s "$1" >/dev/null 2>&1; }
        check demo-squashfs-valid sq_valid "$T/demo-copy/root.sqfs"
}

# 2. Crafted components.
# a: fragments (many small files), a tail fragment, sparse files, hard links,
#    xattrs, empty files, a file of many blocks, a file b overrides.
A="$T/src/a"; B="$T/src/b"; X="$T/src/x"; L="$T/src/l"
mkdir -p "$A/small" "$A/etc" "$A/big" "$B/etc" "$B/opt" "$X/xz" "$L/l19"
for i in $(seq 1 300); do printf 'small file %d\n%*s\n' "$i" "$((i * 7 % 900))" "" >"$A/small/f$i"; done
head -c 1000000 /dev/urandom >"$A/big/random"                 # 7 full blocks + a tail fragment
python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 4096)' >"$A/big/exact" # 8 blocks, no fragment
truncate -s 10M "$A/big/sparse"                                 # all holes
# 200 files with a hole block then a tail: extended inodes (sparse bytes), which
# shift the inode table and with it the directory sizes -lls shows
mkdir -p "$A/holes"; for i in $(seq 1 200); do truncate -s 131072 "$A/holes/h$i"; echo "tail $i" >>"$A/holes/h$i"; done
{ head -c 131072 /dev/urandom; head -c 393216 /dev/zero; head -c 5000 /dev/urandom; } >"$A/big/holey" # data, zeros, tail
: >"$A/etc/empty1"; : >"$A/etc/empty2"
echo from-a >"$A/etc/motd"
echo shared >"$A/etc/hl1"; ln "$A/etc/hl1" "$A/etc/hl2"; ln "$A/etc/hl1" "$A/small/hl3"
echo attrs >"$A/etc/xa"
python3 -c 'import os, sys
os.setxattr(sys.argv[1] + "/etc/xa", "user.mkimage", b"blockcopy"); os.setxattr(sys.argv[1] + "/etc/xa", "user.two", b"2")
os.setxattr(sys.argv[1] + "/small", "user.dir", b"yes")' "$A"
cp "$A/big/random" "$A/big/random-dup"                          # deduplicated within a component
ln -s ../etc/motd "$A/big/link"
# b: overrides a's /etc/motd, shares no blocks with a
echo from-b >"$B/etc/motd"
head -c 400000 /dev/urandom >"$B/opt/data"
for i in $(seq 1 50); do echo "b $i" >"$B/opt/s$i"; done
# x: packed with xz (recompressed); l: zstd level 19 (copied, the level differs)
head -c 300000 /dev/urandom >"$X/xz/data"; echo xz >"$X/xz/small"
head -c 300000 /dev/urandom >"$L/l19/data"; echo l19 >"$L/l19/small"; seq 1 300000 >"$L/l19/text"
pack() { # NAME DIR [PACK OPTIONS]
        local n="$1" d="$2"; shift 2
        printf 'name: %s\nversion: 1.0\ntype: app\nlicense: MIT\nsupplier: test\n' "$n" >"$T/$n.yaml"
        "$MKIMAGE" component pack "$d" --meta "$T/$n.yaml" -o "$T/$n.comp" "$@" >/dev/null 2>"$T/pack.err" &&
                "$MKIMAGE" sign "$T/$n.comp" --key "$K/dev.key" >/dev/null 2>>"$T/pack.err" ||
                fail "pack-$n" "$(cat "$T/pack.err")"
}
pack a "$A"; pack b "$B"; pack x "$X" -c xz; pack l "$L" -l 19
cat >"$T/crafted.yaml" <<EOM
model: crafted
brand: example
version: 1
architecture: x86_64
grade: signed
layout: $SRC/layouts/uefi-ab.yaml
signing-key: $K/dev.key
data:
  encryption: none
trusted-keys:
  dev: $K/dev.pub
components:
  - name: base
    file: $C/base.comp
    signer: dev
  - name: a
    file: a.comp
    signer: dev
  - name: b
    file: b.comp
    signer: dev
    overrides: [/etc/motd]
  - name: x
    file: x.comp
    signer: dev
  - name: l
    file: l.comp
    signer: dev
rootfs:
  compressor: zstd
  level: 15
  block-size: 128K
EOM
KEYOPT=
build c-copy "$T/crafted.yaml" && build c-recomp "$T/crafted.yaml" MKIMAGE_NO_BLOCK_COPY=1 &&
        build c-copy2 "$T/crafted.yaml" && build c-recomp2 "$T/crafted.yaml" MKIMAGE_NO_BLOCK_COPY=1 && {
        compare c-copy c-recomp crafted
        check crafted-reproducible cmp "$T/c-copy/i.img" "$T/c-copy2/i.img"
        check crafted-recompressed-reproducible cmp "$T/c-recomp/i.img" "$T/c-recomp2/i.img"
        differ() { ! cmp -s "$1" "$2"; }
        check crafted-paths-differ differ "$T/c-copy/root.sqfs" "$T/c-recomp/root.sqfs"
        log="$T/c-copy/log"
        check crafted-a-copied grep -qx 'mkimage: component a: block copy (zstd level 15, 128 KiB, same as the root)' "$log"
        check crafted-x-recompressed grep -qx 'mkimage: component x: recompressed (xz vs zstd)' "$log"
        check crafted-l-copied grep -qx "mkimage: component l: block copy (zstd level 19, 128 KiB; the root's level is 15, the blocks are carried as packed)" "$log"
        expect_eq crafted-override "$(cat "$T/c-copy/x/etc/motd")" from-b
        expect_eq crafted-xattr "$(python3 -c 'import os, sys; print(os.getxattr(sys.argv[1], "user.mkimage").decode())' "$T/c-copy/x/etc/xa")" blockcopy
        expect_eq crafted-hardlinks "$(stat -c %h "$T/c-copy/x/etc/hl1") $(stat -c %i "$T/c-copy/x/etc/hl1")" \
                "3 $(stat -c %i "$T/c-copy/x/small/hl3")"
        check crafted-big-random cmp "$T/c-copy/x/big/random" "$A/big/random"
        check crafted-holey cmp "$T/c-copy/x/big/holey" "$A/big/holey"
        check crafted-sparse cmp "$T/c-copy/x/big/sparse" "$A/big/sparse"
        expect_eq crafted-empty "$(stat -c %s "$T/c-copy/x/etc/empty1")" 0
        # l's level-19 blocks came over byte for byte (a recompression at 15
        # would give other bytes). l.comp: superblock (96), options block (6),
        # l19/data's two raw 128 KiB blocks, then l19/text's first block.
        python3 - "$T/l.comp" "$T/c-copy/root.sqfs" "$T/c-recomp/root.sqfs" <<'PY' && pass crafted-blocks-carried || fail crafted-blocks-carried "l.comp's level-19 blocks not carried as they are"
import sys
l, c, r = (open(p, "rb").read() for p in sys.argv[1:])
start = 96 + 6 + 2 * 131072
blk = l[start:start + 4096]
sys.exit(0 if blk[:4] == bytes.fromhex("28b52ffd") and blk in c and blk not in r else 1)
PY
        # Dedup: random-dup shares random's blocks; the copy is no bigger than the recompressed root + fragment slack.
        c=$(stat -c %s "$T/c-copy/root.sqfs"); r=$(stat -c %s "$T/c-recomp/root.sqfs")
        if [ "$c" -le $((r + r / 10 + 65536)) ]; then pass crafted-size-sane; else fail crafted-size-sane "copy $c vs recompressed $r"; fi
}
