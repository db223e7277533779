# mkimage verify on the demo image: OK as built; the stock tools (veritysetup,
# minisign) accept the same slots and manifests; one flipped byte in a root
# partition, a verity superblock or tree, a manifest or a signature fails
# exactly the item it belongs to; missing manifests, a wrong key and usage
# errors. Until `build` writes the slots and manifests, the slots are filled
# here with the stock tools (squashfs from a component, `veritysetup format`)
# and the manifests written by hand and signed with `mkimage sign`.
. "$(dirname "$0")/../lib/testlib.sh"
cd "$SRC"

KEY="$BUILD/keys/dev.key"
PUB="$BUILD/keys/dev.pub"
IMG="$T/demo.img"

# part NAME FIELD: a partition's start or size in bytes, or its uuid (sfdisk -J).
part() {
        python3 - "$T/sfdisk.json" "$1" "$2" <<'PY'
import json, sys
for p in json.load(open(sys.argv[1]))["partitiontable"]["partitions"]:
    if p.get("name") == sys.argv[2]:
        v = p[sys.argv[3]]
        print(v * 512 if sys.argv[3] in ("start", "size") else v)
PY
}

# field FILE KEY: the value of "KEY:" in a canonical manifest (first match).
field() { sed -n "s/^ *$2: //p" "$1" | head -1; }

# flip FILE OFFSET: xor one byte with 0x01.
flip() {
        python3 - "$1" "$2" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1)
    f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 1]))
PY
}

# sig_swap FILE LINE: change one base64 digit of that line of a .minisig
# (the 60th), so that it still decodes but to other bytes.
sig_swap() {
        python3 - "$1" "$2" <<'PY'
import sys
lines = open(sys.argv[1]).read().split("\n")
l = lines[int(sys.argv[2]) - 1]
lines[int(sys.argv[2]) - 1] = l[:60] + ("B" if l[60] == "A" else "A") + l[61:]
open(sys.argv[1], "w").write("\n".join(lines))
PY
}

keyid() {
        python3 - "$PUB" <<'PY'
import base64, sys
raw = base64.b64decode(open(sys.argv[1]).read().split("\n")[1])
print("%016X" % int.from_bytes(raw[2:10], "little"))
PY
}

# assemble_slot IMAGE S [TREE_OF]: fill slot S (a|b) of IMAGE with
# $T/root.sqfs and a tree made by veritysetup (over TREE_OF, by default the
# same file), and write and sign its manifest by hand.
assemble_slot() {
        local img="$1" s="$2" mf="$1.manifest.yaml" tree_of="${3:-$T/root.sqfs}" salt roothash size
        [ "$s" = b ] && mf="$1.manifest-b.yaml"
        salt=$(printf 'salt-%s' "$s" | sha256sum | cut -c1-64)
        size=$(stat -c %s "$T/root.sqfs")
        : >"$T/hash-$s"
        roothash=$(veritysetup format --salt="$salt" "$tree_of" "$T/hash-$s" | sed -n 's/^Root hash:[[:space:]]*//p')
        # The partition UUIDs are the halves of the root hash (Discoverable Partitions).
        local h=${roothash^^} n=2
        [ "$s" = b ] && n=4
        local ru="${h:0:8}-${h:8:4}-${h:12:4}-${h:16:4}-${h:20:12}" vu="${h:32:8}-${h:40:4}-${h:44:4}-${h:48:4}-${h:52:12}"
        sfdisk -q --part-uuid "$img" $n "$ru" && sfdisk -q --part-uuid "$img" $((n + 1)) "$vu"
        dd if="$T/root.sqfs" of="$img" bs=4096 seek=$(($(part "root-$s" start) / 4096)) conv=notrunc status=none
        dd if="$T/hash-$s" of="$img" bs=4096 seek=$(($(part "root-$s-verity" start) / 4096)) conv=notrunc status=none
        cat >"$mf" <<EOF
mkimage-manifest: 1
model: demo-x86_64
brand: example
version: 1
slot: $s
created: 2026-01-01T00:00:00Z
root:
  partition: root-$s
  partuuid: $ru
  size: $size
  sha256: $(sha256sum <"$T/root.sqfs" | cut -c1-64)
  verity:
    partition: root-$s-verity
    partuuid: $vu
    hash-algorithm: sha256
    data-block-size: 4096
    hash-block-size: 4096
    data-blocks: $((size / 4096))
    salt: $salt
    root-hash: $roothash
$(sed -n '/^boot:/,/^components:/p' "$IMG${mf#"$1"}" | sed '$d')
components:
- name: base
  version: 1.0.0
  sha256: $(sha256sum <"$BUILD/components/base.comp" | cut -c1-64)
  signed-by: $(keyid)
EOF
        "$MKIMAGE" sign "$mf" --key "$KEY" >/dev/null
        # The ESP carries the slot's signed manifest too (the boot chain reads that copy).
        local esp_off
        esp_off=$(part esp start)
        MTOOLS_SKIP_CHECK=1 mcopy -o -i "$img@@$esp_off" "$mf" "::/slot-$s/manifest.yaml"
        MTOOLS_SKIP_CHECK=1 mcopy -o -i "$img@@$esp_off" "$mf.minisig" "::/slot-$s/manifest.yaml.minisig"
}

# --- the image -------------------------------------------------------------
# A type #1 image (secure-boot: off): the matrix re-signs manifests for changed roots, which a UKI's
# pinned command line would refuse first (secureboot.sh checks that).
demo_model "$T/off.yaml" off
if "$MKIMAGE" build "$T/off.yaml" --data-key "$DATA_KEY" -o "$IMG" --sign-key "$KEY" >/dev/null 2>"$T/build.err"; then
        pass build-demo
else
        fail build-demo "$(cat "$T/build.err")"
        exit 0
fi
check build-writes-manifests test -s "$IMG.manifest.yaml" -a -s "$IMG.manifest-b.yaml" \
        -a -s "$IMG.manifest.yaml.minisig" -a -s "$IMG.manifest-b.yaml.minisig"
sfdisk -J "$IMG" >"$T/sfdisk.json"

"$MKIMAGE" verify "$IMG" --pub "$PUB" >"$T/ok.out" 2>&1
rc=$?
want="$IMG.manifest.yaml: OK
$IMG.manifest-b.yaml: OK
esp: OK (Secure Boot: off (unsigned type #1 entries))
root-a: OK
root-a-verity: OK
root-b: OK
root-b-verity: OK
data: OK (LUKS2, 2 header copies checked, aes-xts-plain64, 512-byte sectors, 1 keyslot, * bytes of data at byte *; the ext4 inside not checked (give --data-key))"
got="$(cat "$T/ok.out")"
# shellcheck disable=SC2053 # the last line's sizes are a glob
if [ $rc -eq 0 ] && [[ "$got" == $want ]]; then
        pass verify-ok
else
        fail verify-ok "exit $rc: $(cat "$T/ok.out")"
fi

"$MKIMAGE" verify --json "$IMG" --pub "$PUB" >"$T/ok.json"
if python3 - "$T/ok.json" "$IMG" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["ok"] is True, j
names = [i["name"] for i in j["items"]]
assert names[:2] == [sys.argv[2] + ".manifest.yaml", sys.argv[2] + ".manifest-b.yaml"], names
assert names[2:] == ["esp", "root-a", "root-a-verity", "root-b", "root-b-verity", "data"], names
for i in j["items"]:
    assert i["status"] == "ok" and i["reason"] is None, i
    assert ("detail" in i) == (i["name"] in ("data", "esp")), i
assert j["items"][2]["detail"] == "Secure Boot: off (unsigned type #1 entries)", j
PY
then pass verify-json; else fail verify-json "$(cat "$T/ok.json")"; fi

# --- the stock tools agree -------------------------------------------------
for s in a b; do
        mf="$IMG.manifest.yaml"
        [ $s = b ] && mf="$IMG.manifest-b.yaml"
        check "minisign-accepts-manifest-$s" minisign -Vqm "$mf" -p "$PUB"
        dd if="$IMG" of="$T/data-$s" bs=1M skip=$(($(part "root-$s" start) >> 20)) \
                count=$(($(part "root-$s" size) >> 20)) conv=sparse status=none
        dd if="$IMG" of="$T/verity-$s" bs=4096 skip=$(($(part "root-$s-verity" start) / 4096)) \
                count=$(($(part "root-$s-verity" size) / 4096)) status=none
        check "veritysetup-verify-$s" veritysetup verify "$T/data-$s" "$T/verity-$s" "$(field "$mf" root-hash)"
        got=$(head -c "$(field "$mf" size)" "$T/data-$s" | sha256sum | cut -c1-64)
        expect_eq "sha256-$s" "$got" "$(field "$mf" sha256)"
        veritysetup dump "$T/verity-$s" >"$T/dump-$s" 2>&1
        tail -c +4097 "$T/verity-$s" >"$T/tree-$s"
        rm -f "$T/data-$s" "$T/verity-$s"
done
# Slot b is a copy of slot a with a salt of its own: its own tree and root hash, a superblock of its own.
check verity-b-own-tree bash -c "! cmp -s '$T/tree-a' '$T/tree-b'"
expect_eq verity-b-own-salt "$(diff <(grep -v -e '^UUID:' -e '^Salt:' -e 'header information' "$T/dump-a") <(grep -v -e '^UUID:' -e '^Salt:' -e 'header information' "$T/dump-b")):$(grep -c '^Salt:' "$T/dump-a")" ":1"
check verity-b-salt-differs bash -c "! cmp -s <(grep '^Salt:' '$T/dump-a') <(grep '^Salt:' '$T/dump-b')"
check verity-b-uuid-differs bash -c "! cmp -s <(grep '^UUID:' '$T/dump-a') <(grep '^UUID:' '$T/dump-b')"
rm -f "$T"/tree-? "$T"/dump-?

# Slots made by veritysetup, manifests written by hand: verify agrees.
cp --sparse=always "$IMG" "$T/vs.img"
cp "$BUILD/components/base.comp" "$T/root.sqfs"
truncate -s $((($(stat -c %s "$T/root.sqfs") + 4095) / 4096 * 4096)) "$T/root.sqfs"
assemble_slot "$T/vs.img" a
assemble_slot "$T/vs.img" b
"$MKIMAGE" verify "$T/vs.img" --pub "$PUB" >"$T/vs.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && [ "$(grep -c ': OK$' "$T/vs.out")" -eq 6 ] && grep -qx 'esp: OK (Secure Boot: off (unsigned type #1 entries))' "$T/vs.out"; then
        pass verify-veritysetup-slots
else
        fail verify-veritysetup-slots "exit $rc: $(cat "$T/vs.out")"
fi

# A signed manifest whose root hash belongs to other data: the data matches
# root.sha256 and the tree hashes up to the root hash, but mk_verity_check
# finds that the tree is not the data's.
cp "$T/root.sqfs" "$T/other.sqfs"
flip "$T/other.sqfs" 5000
assemble_slot "$T/vs.img" a "$T/other.sqfs"
"$MKIMAGE" verify "$T/vs.img" --pub "$PUB" >"$T/vs.out" 2>&1
rc=$?
if [ $rc -eq 1 ] && [ "$(grep -c ': FAILED: ' "$T/vs.out")" -eq 1 ] &&
   grep -q '^root-a-verity: FAILED: the dm-verity tree does not match the intact data of root-a: ' "$T/vs.out"; then
        pass tree-of-other-data
else
        fail tree-of-other-data "exit $rc: $(cat "$T/vs.out")"
fi
rm -f "$T"/vs.img* "$T"/*.sqfs "$T"/hash-?

# --- one changed byte fails exactly its item --------------------------------
# fresh_copy: $T/t.img and its manifests, copied from the demo image.
fresh_copy() {
        rm -f "$T"/t.img*
        cp --sparse=always "$IMG" "$T/t.img"
        for f in "$IMG".manifest*; do cp "$f" "$T/t.img${f#"$IMG"}"; done
}

# tampered NAME ITEM CMD...: on a fresh copy $T/t.img (+ manifests), run CMD,
# then verify must exit 1 with exactly one FAILED line, for ITEM.
tampered() {
        local name="$1" item="$2"; shift 2
        fresh_copy
        "$@"
        "$MKIMAGE" verify "$T/t.img" --pub "$PUB" >"$T/t.out" 2>&1
        local rc=$? failed
        [ -n "${VERIFY_SHOW:-}" ] && sed "s/^/    [$name] /" "$T/t.out" >&2
        failed=$(grep ': FAILED: ' "$T/t.out")
        if [ $rc -eq 1 ] && [ "$(printf '%s\n' "$failed" | wc -l)" -eq 1 ] && [[ "$failed" == "$item: FAILED: "* ]]; then
                pass "$name"
        else
                fail "$name" "exit $rc, want one FAILED line for $item: $(cat "$T/t.out")"
        fi
}

sq_a=$(field "$IMG.manifest.yaml" size)
sq_b=$(field "$IMG.manifest-b.yaml" size)
tampered flip-root-a root-a flip "$T/t.img" $(($(part root-a start) + sq_a / 2))
tampered flip-root-a-superblock-of-squashfs root-a flip "$T/t.img" $(($(part root-a start) + 40))
tampered flip-root-a-last-byte root-a flip "$T/t.img" $(($(part root-a start) + sq_a - 1))
tampered flip-root-b root-b flip "$T/t.img" $(($(part root-b start) + sq_b / 2))
tampered flip-root-a-verity-tree root-a-verity flip "$T/t.img" $(($(part root-a-verity start) + 2 * 4096 + 77))
tampered flip-root-a-verity-top root-a-verity flip "$T/t.img" $(($(part root-a-verity start) + 4096 + 5))
tampered flip-root-a-verity-salt root-a-verity flip "$T/t.img" $(($(part root-a-verity start) + 88 + 3))
tampered flip-root-a-verity-blocks root-a-verity flip "$T/t.img" $(($(part root-a-verity start) + 72))
tampered flip-root-a-verity-padding root-a-verity flip "$T/t.img" $(($(part root-a-verity start) + 1000))
tampered flip-root-b-verity-tree root-b-verity flip "$T/t.img" $(($(part root-b-verity start) + 2 * 4096 + 77))
tampered flip-root-b-verity-superblock root-b-verity flip "$T/t.img" $(($(part root-b-verity start) + 64))
tampered flip-manifest-a "$T/t.img.manifest.yaml" flip "$T/t.img.manifest.yaml" 100
tampered flip-manifest-b "$T/t.img.manifest-b.yaml" flip "$T/t.img.manifest-b.yaml" 300
tampered flip-minisig-a "$T/t.img.manifest.yaml" flip "$T/t.img.manifest.yaml.minisig" 80
tampered swap-minisig-a-signature "$T/t.img.manifest.yaml" sig_swap "$T/t.img.manifest.yaml.minisig" 2
tampered swap-minisig-a-global "$T/t.img.manifest.yaml" sig_swap "$T/t.img.manifest.yaml.minisig" 4
tampered missing-manifest-a "$T/t.img.manifest.yaml" rm "$T/t.img.manifest.yaml"
tampered missing-manifest-b "$T/t.img.manifest-b.yaml" rm "$T/t.img.manifest-b.yaml"
tampered missing-minisig-b "$T/t.img.manifest-b.yaml" rm "$T/t.img.manifest-b.yaml.minisig"
tampered manifest-a-as-b "$T/t.img.manifest-b.yaml" eval 'cp "$T/t.img.manifest.yaml" "$T/t.img.manifest-b.yaml" &&
        cp "$T/t.img.manifest.yaml.minisig" "$T/t.img.manifest-b.yaml.minisig"'
tampered gpt-partuuid root-a-verity sfdisk -q --part-uuid "$T/t.img" 3 11111111-2222-3333-4444-555555555555

# The reasons say what is wrong.
tampered reason-setup root-a flip "$T/t.img" $(($(part root-a start) + sq_a / 2))
if grep -q "^root-a: FAILED: sha256 of its first $sq_a bytes is [0-9a-f]\{64\}, the manifest says" "$T/t.out" &&
   grep -q '^root-a-verity: OK$' "$T/t.out"; then
        pass reason-root-data
else
        fail reason-root-data "$(cat "$T/t.out")"
fi
tampered reason-setup-2 "$T/t.img.manifest.yaml" rm "$T/t.img.manifest.yaml"
if grep -q "^$T/t.img.manifest.yaml: FAILED: missing: slot a's manifest" "$T/t.out" &&
   grep -q '^root-a: not checked (holds squashfs; no valid manifest covers it)$' "$T/t.out"; then
        pass reason-missing
else
        fail reason-missing "$(cat "$T/t.out")"
fi

# A slot b that holds nothing, and that the ESP does not boot (its entry is marked bad), needs no manifest.
fresh_copy
rm "$T"/t.img.manifest-b.*
MTOOLS_SKIP_CHECK=1 mren -i "$T/t.img@@$(part esp start)" ::/loader/entries/slot-b+3.conf ::/loader/entries/slot-b+0-3.conf
fallocate -p -o "$(part root-b start)" -l "$(part root-b size)" "$T/t.img" 2>/dev/null ||
        dd if=/dev/zero of="$T/t.img" bs=1M seek=$(($(part root-b start) >> 20)) count=1 conv=notrunc status=none
"$MKIMAGE" verify "$T/t.img" --pub "$PUB" >"$T/t.out" 2>&1
rc=$?
if [ $rc -eq 0 ] && grep -q "^$T/t.img.manifest-b.yaml: not present (the image has no populated slot b)$" "$T/t.out" &&
   grep -q '^root-b: not checked (no content yet)$' "$T/t.out"; then
        pass empty-slot-b-needs-no-manifest
else
        fail empty-slot-b-needs-no-manifest "exit $rc: $(cat "$T/t.out")"
fi

# --- keys, JSON on failure, usage ------------------------------------------
"$MKIMAGE" keygen "$T/other" >/dev/null 2>&1
"$MKIMAGE" verify "$IMG" --pub "$T/other.pub" >"$T/wk.out" 2>&1
rc=$?
if [ $rc -eq 1 ] && [ "$(grep -c ': FAILED: .*not a trusted key' "$T/wk.out")" -eq 2 ] &&
   grep -q "^$IMG.manifest.yaml: FAILED: " "$T/wk.out" && grep -q "^$IMG.manifest-b.yaml: FAILED: " "$T/wk.out" &&
   grep -q '^root-a: not checked (holds squashfs; no valid manifest covers it)$' "$T/wk.out"; then
        pass wrong-key
else
        fail wrong-key "exit $rc: $(cat "$T/wk.out")"
fi

fresh_copy
flip "$T/t.img" $(($(part root-b start) + sq_b / 2))
"$MKIMAGE" verify "$T/t.img" --pub "$PUB" --json >"$T/t.json"
rc=$?
if [ $rc -eq 1 ] && python3 - "$T/t.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["ok"] is False
bad = [i for i in j["items"] if i["status"] == "failed"]
assert len(bad) == 1 and bad[0]["name"] == "root-b" and "sha256" in bad[0]["reason"], bad
PY
then pass json-failed; else fail json-failed "exit $rc: $(cat "$T/t.json")"; fi

usage() { # NAME ARGS...: exit 2 and a message on stderr
        local name="$1"; shift
        "$MKIMAGE" verify "$@" >"$T/u.out" 2>"$T/u.err"
        local rc=$?
        if [ $rc -eq 2 ] && grep -q "^mkimage verify: .*(see 'mkimage verify --help')$" "$T/u.err"; then
                pass "$name"
        else
                fail "$name" "exit $rc: $(cat "$T/u.err")"
        fi
}
usage usage-no-pub "$IMG"
usage usage-no-image --pub "$PUB"
usage usage-pub-without-file "$IMG" --pub
usage usage-unknown-option "$IMG" --pub "$PUB" --fast
usage usage-two-images "$IMG" "$IMG" --pub "$PUB"

"$MKIMAGE" verify "$T/nonexistent.img" --pub "$PUB" >"$T/n.out" 2>&1
expect_eq missing-image "$?:$(head -c 40 "$T/n.out")" "1:mkimage: $(printf '%s' "$T/nonexistent.img" | head -c 31)"
"$MKIMAGE" verify "$IMG" --pub "$T/nonexistent.pub" >"$T/n.out" 2>&1
expect_eq missing-pub "$?" 1
help=$("$MKIMAGE" verify --help)
check help-text test "${help#Usage: mkimage verify IMAGE|BUNDLE --pub KEY.pub}" != "$help"
