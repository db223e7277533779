# mkimage bundle (docs/update.md): a bundle from the demo model is the bundle
# cut from the demo image built from the same inputs, byte for byte, and two
# builds of it are identical; its parts are the image's own bytes (the root
# partition, both verity partitions, the slot manifests on the ESP, the boot
# files); the stock tools accept its pieces (minisign on the bundle manifest
# and on both slot manifests, veritysetup on the root with either slot's
# tree, unsquashfs); `mkimage verify` and `bundle --info` read it; usage and
# input errors say what to fix and leave nothing behind.
. "$(dirname "$0")/../lib/testlib.sh"
cd "$SRC"
export MTOOLS_SKIP_CHECK=1

KEY="$BUILD/keys/dev.key"
PUB="$BUILD/keys/dev.pub"
MODEL=models/demo-x86_64.yaml
IMG="$T/demo.img"
B="$T/demo.mkb"

"$MKIMAGE" build "$MODEL" --data-key "$DATA_KEY" -o "$IMG" >/dev/null
check build-from-model "$MKIMAGE" bundle "$MODEL" -o "$B"
check build-from-image "$MKIMAGE" bundle "$IMG" --sign-key "$KEY" -o "$T/from-image.mkb"
check model-equals-image cmp "$B" "$T/from-image.mkb"
"$MKIMAGE" bundle "$MODEL" -o "$T/again.mkb" >/dev/null
check two-builds-identical cmp "$B" "$T/again.mkb"
check no-temp-left bash -c '! ls -A "$1" | grep -q mkimage-' _ "$T"

# --- the parts, from the bundle manifest (a JSON copy through --info) --------------------
"$MKIMAGE" bundle --info "$B" --pub "$PUB" --json >"$T/info.json"
check info-json python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["model"]=="demo-x86_64" and d["version"]==1 and d["signed-by"]' "$T/info.json"
# part KIND SLOT: "OFFSET SIZE" of a part
part() {
        python3 - "$T/info.json" "$1" "$2" <<'PY'
import json, sys
for p in json.load(open(sys.argv[1]))["parts"]:
    if p["kind"] == sys.argv[2] and p.get("slot", "-") == sys.argv[3]:
        print(p["offset"], p["size"])
PY
}
# cut OFFSET SIZE OUT: bytes of the bundle into a file
cut_out() { python3 -c 'import sys; f=open(sys.argv[1],"rb"); f.seek(int(sys.argv[2])); open(sys.argv[4],"wb").write(f.read(int(sys.argv[3])))' "$B" "$1" "$2" "$3"; }
# image_part NAME SIZE OUT: the first SIZE bytes of a partition of the image
image_part() {
        read -r start _ < <(part_offset "$IMG" "$1")
        python3 -c 'import sys; f=open(sys.argv[1],"rb"); f.seek(int(sys.argv[2])); open(sys.argv[4],"wb").write(f.read(int(sys.argv[3])))' "$IMG" "$start" "$2" "$3"
}

read -r off size < <(part root -)
cut_out "$off" "$size" "$T/root.sqfs"
image_part root-a "$size" "$T/root-a.bytes"
check root-is-slot-a cmp "$T/root.sqfs" "$T/root-a.bytes"
for s in a b; do
        read -r off size < <(part verity $s)
        cut_out "$off" "$size" "$T/verity-$s"
        image_part root-$s-verity "$size" "$T/verity-$s.image"
        check verity-$s-is-partition cmp "$T/verity-$s" "$T/verity-$s.image"
        read -r off size < <(part manifest $s)
        cut_out "$off" "$size" "$T/manifest-$s.yaml"
        read -r off size < <(part signature $s)
        cut_out "$off" "$size" "$T/manifest-$s.yaml.minisig"
        suffix=$([ $s = a ] && echo manifest.yaml || echo manifest-b.yaml)
        check manifest-$s-is-image-s cmp "$T/manifest-$s.yaml" "$IMG.$suffix"
        check manifest-$s-minisign minisign -Vqm "$T/manifest-$s.yaml" -p "$PUB"
        hash=$(sed -n 's/^    root-hash: //p' "$T/manifest-$s.yaml")
        check veritysetup-slot-$s veritysetup verify "$T/root.sqfs" "$T/verity-$s" "$hash"
done
check slots-have-own-trees bash -c '! cmp -s "$1" "$2"' _ "$T/verity-a" "$T/verity-b"
check unsquashfs-root bash -c 'unsquashfs -l "$1" | grep -q "squashfs-root/etc"' _ "$T/root.sqfs"
# every file part is the ESP's file of that digest
read -r esp_off _ < <(part_offset "$IMG" esp)
python3 - "$T/info.json" >"$T/files" <<'PY'
import json, sys
for p in json.load(open(sys.argv[1]))["parts"]:
    if p["kind"] == "file":
        print(p["offset"], p["size"], p["sha256"])
PY
ok=1
while read -r off size sha; do
        cut_out "$off" "$size" "$T/file"
        [ "$(sha256sum <"$T/file" | cut -d' ' -f1)" = "$sha" ] || ok=0
done <"$T/files"
check files-match-digests test $ok = 1
mcopy -n -i "$IMG@@$esp_off" ::/slot-a/vmlinuz "$T/vmlinuz.esp"
check kernel-file-in-bundle grep -q "$(sha256sum <"$T/vmlinuz.esp" | cut -d' ' -f1)" "$T/files"
# the bundle manifest and its signature, as the header says where they are
python3 - "$B" "$T" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read(1 << 21)
m, s = struct.unpack_from("<QQ", d, 16)
open(sys.argv[2] + "/bundle.yaml", "wb").write(d[64:64 + m])
open(sys.argv[2] + "/bundle.yaml.minisig", "wb").write(d[64 + m:64 + m + s])
PY
check bundle-manifest-minisign minisign -Vqm "$T/bundle.yaml" -p "$PUB"
check bundle-manifest-model grep -qx 'model: demo-x86_64' "$T/bundle.yaml"
check bundle-signature-comment grep -q 'trusted comment: timestamp:1767225600	file:bundle.yaml	hashed' \
        "$T/bundle.yaml.minisig"

# --- verify and info ---------------------------------------------------------------------
check verify-ok "$MKIMAGE" verify "$B" --pub "$PUB"
"$MKIMAGE" verify "$B" --pub "$PUB" >"$T/verify.out"
# 7 for the manifests and verity, 7 boot files (2 UKIs, loader.conf, systemd-boot once, 3 .auth), the root
expect_eq verify-items "$(grep -c ': OK' "$T/verify.out")" 15
check verify-lists-root grep -qx "root: OK (sha256 and both slots' hash trees)" "$T/verify.out"
"$MKIMAGE" verify "$B" --pub "$PUB" --json >"$T/verify.json"
check verify-json python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ok"] and len(d["items"])==15' "$T/verify.json"
"$MKIMAGE" bundle --info "$B" >"$T/info.txt"
check info-unchecked grep -q 'signed   not checked (give --pub KEY.pub)' "$T/info.txt"
check info-components grep -q 'components base 1.0.0, hello 1.0.0, kernel' "$T/info.txt"
"$MKIMAGE" keygen "$T/other" >/dev/null
DEV_ID=$(python3 -c 'import base64,sys; r=base64.b64decode(open(sys.argv[1]).read().split("\n")[1]); print("%016X" % int.from_bytes(r[2:10],"little"))' "$PUB")
OTHER_ID=$(python3 -c 'import base64,sys; r=base64.b64decode(open(sys.argv[1]).read().split("\n")[1]); print("%016X" % int.from_bytes(r[2:10],"little"))' "$T/other.pub")
expect_run info-other-key 1 "mkimage: $B: the manifest's signature: signed by key $DEV_ID, which is not a trusted key (trusted: $OTHER_ID): verify its bundle manifest with that key's public key, or re-sign it with a trusted key" \
        "$MKIMAGE" bundle --info "$B" --pub "$T/other.pub"

expect_run verify-no-data-key 2 "mkimage verify: --data-key is for images: a bundle carries no data partition (see 'mkimage verify --help')" \
        "$MKIMAGE" verify "$B" --pub "$PUB" --data-key "$DATA_KEY"

# --- bad input ---------------------------------------------------------------------------
expect_run image-needs-key 2 "mkimage bundle: a bundle cut from an image needs --sign-key KEY (the key that signed it) (see 'mkimage bundle --help')" "$MKIMAGE" bundle "$IMG"
expect_run missing-image 1 "mkimage: $T/nope.img: No such file or directory" \
        "$MKIMAGE" bundle "$T/nope.img" --sign-key "$KEY" -o "$T/x.mkb"
expect_run other-key-than-manifests 1 "mkimage: the bundle's key (--sign-key) must be the key that signed the image's manifests: $IMG: ESP /slot-a/manifest.yaml.minisig: signed by key $DEV_ID, which is not a trusted key (trusted: $OTHER_ID): verify $IMG: ESP /slot-a/manifest.yaml with that key's public key, or re-sign it with a trusted key" \
        "$MKIMAGE" bundle "$IMG" --sign-key "$T/other.key" -o "$T/x.mkb"
check failed-writes-nothing test ! -e "$T/x.mkb"
expect_run info-not-a-bundle 1 "mkimage: $IMG: not an mkimage update bundle (no \"MKBUNDLE\" at its start): make one with \`mkimage bundle\`" \
        "$MKIMAGE" bundle --info "$IMG"
expect_run no-output-folder 1 "mkimage: $T/nodir/x.mkb: cannot make a temporary folder beside it: No such file or directory" \
        "$MKIMAGE" bundle "$MODEL" -o "$T/nodir/x.mkb"
expect_run pub-without-info 2 "mkimage bundle: --pub goes with --info (to check a bundle: mkimage verify BUNDLE --pub) (see 'mkimage bundle --help')" "$MKIMAGE" bundle "$MODEL" --pub "$PUB"
# an image with an empty slot b cannot give a bundle for either slot
cp "$IMG" "$T/one-slot.img"
read -r start size < <(part_offset "$T/one-slot.img" esp)
mdel -i "$T/one-slot.img@@$start" ::/slot-b/manifest.yaml
expect_run no-slot-b-manifest 1 "mkimage: $T/one-slot.img: slot b has no manifest on the ESP (a bundle is cut from an image whose two slots are populated): $T/one-slot.img: ESP at byte $start: /slot-b/manifest.yaml: \`mcopy -n -i $T/one-slot.img@@$start ::/slot-b/manifest.yaml -\` failed with exit status 1: mcopy: File \"::/slot-b/manifest.yaml\" not found" \
        "$MKIMAGE" bundle "$T/one-slot.img" --sign-key "$KEY" -o "$T/x.mkb"
# a root or a hash tree that is not what the manifests signed: refused, nothing written
cp "$IMG" "$T/bad-root.img"
read -r rstart _ < <(part_offset "$T/bad-root.img" root-a)
printf '\x5a' | dd of="$T/bad-root.img" bs=1 seek=$((rstart + 3 * 4096 + 17)) conv=notrunc status=none
expect_run damaged-root 1 "mkimage: $T/bad-root.img: block 3 of the root in partition root-a does not match its hash tree (check the image with \`mkimage verify\`)" \
        "$MKIMAGE" bundle "$T/bad-root.img" --sign-key "$KEY" -o "$T/x.mkb"
check damaged-root-writes-nothing bash -c '! ls -A "$1" | grep -q "x.mkb"' _ "$T"
cp "$IMG" "$T/bad-tree.img"
read -r vstart _ < <(part_offset "$T/bad-tree.img" root-a-verity)
printf '\x5a' | dd of="$T/bad-tree.img" bs=1 seek=$((vstart + 4096 + 5)) conv=notrunc status=none
expect_run damaged-tree 1 "mkimage: $T/bad-tree.img: partition root-a-verity does not hold slot a's hash tree (hash block 0 of tree level 0 does not hash to its entry one level up)" \
        "$MKIMAGE" bundle "$T/bad-tree.img" --sign-key "$KEY" -o "$T/x.mkb"
check damaged-tree-writes-nothing bash -c '! ls -A "$1" | grep -q "x.mkb"' _ "$T"
# Ctrl-C while the image is being built, and while the bundle is written: nothing is left
for stage in gpt commit; do
        MKIMAGE_STALL_AT=$stage "$MKIMAGE" bundle "$MODEL" -o "$T/int.mkb" >/dev/null 2>"$T/int.err" &
        pid=$!
        for _ in $(seq 100); do grep -q stalled "$T/int.err" && break; sleep 0.1; done
        kill -INT $pid
        rc=0; wait $pid || rc=$?
        expect_eq interrupted-at-$stage-exit "$rc" 130
        check interrupted-at-$stage-leaves-nothing bash -c '! ls -A "$1" | grep -q "int.mkb"' _ "$T"
done
