#!/bin/bash
# Delta bundles (`mkimage bundle ... --from OLD`, docs/update.md): a change to
# the hello component gives a bundle under 5 % of the full one, the same bytes
# from the old image and from the old bundle and across two runs; mkimage
# verify and --info read it; mkimage-update installs it on a v1 disk and the
# disk is byte for byte what the full bundle's install gives (checked with
# veritysetup too); then a v3 delta from v2 installs b -> a. Refused, with
# the running slot and its entry as they were: a delta for another base, a
# running root that is damaged where a range reads, ranges that lie (past
# the running root, overlapping, not adding up; re-signed with the real key,
# so only the updater's checks stand in the way), --from a newer release, a
# delta as --from, another model. A crash before each write of a delta
# install leaves slot a bootable and a second install completes.
. "$(dirname "$0")/../lib/testlib.sh"
. "$(dirname "$0")/../lib/updatelib.sh"


H2=$(hello 1.0.1 "greeting = version two") H3=$(hello 1.0.2 "greeting = version three")
check hello-components test -s "$H2" -a -s "$H3"
# The matrix below runs on type #1 images (secure-boot: off), whose kernel and initrd stay on the
# device between releases; the Secure Boot delta, whose UKIs change with every root, is at the end.
TYPE1=1
M1=$(model 1) M2=$(model 2 "$H2") M3=$(model 3 "$H3")
IMG="$T/v1.img"
"$MKIMAGE" build "$M1" --data-key "$DATA_KEY" -o "$IMG" >/dev/null
rm -f "$IMG".manifest*.yaml* "$IMG.bmap"
"$MKIMAGE" bundle "$M1" -o "$T/v1.mkb" >/dev/null
"$MKIMAGE" bundle "$M2" -o "$T/v2.mkb" >/dev/null
"$MKIMAGE" bundle "$M3" -o "$T/v3.mkb" >/dev/null

# --- the delta: small, the same from an image and from a bundle, reproducible ---------------
check delta-from-image "$MKIMAGE" bundle "$M2" --from "$IMG" -o "$T/d2.mkb"
check delta-from-bundle "$MKIMAGE" bundle "$M2" --from "$T/v1.mkb" -o "$T/d2b.mkb"
check delta-same-from-image-and-bundle cmp "$T/d2.mkb" "$T/d2b.mkb"
"$MKIMAGE" bundle "$M2" --from "$IMG" -o "$T/d2again.mkb" >/dev/null
check delta-reproducible cmp "$T/d2.mkb" "$T/d2again.mkb"
full=$(stat -c %s "$T/v2.mkb") delta=$(stat -c %s "$T/d2.mkb")
echo "    [delta] hello 1.0.0 -> 1.0.1: full bundle $full bytes, delta $delta bytes" >&2
check delta-under-5-percent test $((delta * 100)) -lt $((full * 5))
"$MKIMAGE" bundle "$M3" --from "$T/v2.mkb" -o "$T/d3.mkb" >/dev/null
check delta-verifies "$MKIMAGE" verify "$T/d2.mkb" --pub "$PUB"
"$MKIMAGE" bundle --info "$T/d2.mkb" --pub "$PUB" >"$T/d2.info"
check info-says-delta grep -q "^  delta    from version 1 (root " "$T/d2.info"
"$MKIMAGE" bundle --info "$T/d2.mkb" --json >"$T/d2.json"
expect_eq info-json-delta-from "$(json_get "$T/d2.json" 'd["delta-from"]["version"]')" 1
expect_eq info-json-ranges-part "$(json_get "$T/d2.json" '[p["kind"] for p in d["parts"]][4]')" ranges
"$MKIMAGE" bundle --info "$T/v2.mkb" --json >"$T/v2.json"
expect_eq full-has-no-delta-from "$(json_get "$T/v2.json" '"delta-from" in d')" False
# the kernel and the initrd did not change: the delta leaves them to the device's ESP
expect_eq delta-leaves-out-kernel "$(json_get "$T/d2.json" 'len([p for p in d["parts"] if p["kind"]=="file" and p["size"] > 100000])')" 0

# --- refusals of mkimage bundle -------------------------------------------------------------
# expect_fails NAME WANT CMD...: CMD exits 1 with one line on stderr that holds WANT
expect_fails() {
        local name=$1 want=$2 rc=0; shift 2
        "$@" >"$T/out" 2>"$T/err" || rc=$?
        if [ $rc -ne 1 ]; then fail "$name" "exit $rc, want 1: $(cat "$T/err")"
        elif [ "$(wc -l <"$T/err")" -ne 1 ] || ! grep -qF -- "$want" "$T/err"; then fail "$name" "stderr [$(cat "$T/err")] lacks [$want]"
        else pass "$name"; fi
}
expect_fails refuse-from-newer "is version 2, not below the bundle's version 2 (--from takes an earlier release)" \
        "$MKIMAGE" bundle "$M2" --from "$T/v2.mkb" -o "$T/x.mkb"
expect_fails refuse-from-delta "is a delta itself (from version 1); --from takes a full bundle or an image" \
        "$MKIMAGE" bundle "$M3" --from "$T/d2.mkb" -o "$T/x.mkb"
"$MKIMAGE" bundle "$(model 1 "" other-device)" -o "$T/other1.mkb" >/dev/null
expect_fails refuse-from-other-model "is model other-device (brand example), the bundle is for demo-x86_64" \
        "$MKIMAGE" bundle "$M2" --from "$T/other1.mkb" -o "$T/x.mkb"
expect_fails refuse-from-missing "$T/nope.img: No such file or directory" \
        "$MKIMAGE" bundle "$M2" --from "$T/nope.img" -o "$T/x.mkb"
check refused-leave-no-output test ! -e "$T/x.mkb"

# --- install: a delta gives the disk a full bundle gives ------------------------------------
cp --sparse=always "$IMG" "$T/full.img"
cp --sparse=always "$IMG" "$T/dev.img"
A_ROOT=$(slot_sum "$IMG" root-a) A_ENTRY=$(entry "$IMG" a)
upd "$T/full.img" --booted a install "$T/v2.mkb" >/dev/null
check install-delta upd "$T/dev.img" --booted a install "$T/d2.mkb"
check delta-install-is-full-install cmp "$T/full.img" "$T/dev.img"
check verify-after-delta "$MKIMAGE" verify "$T/dev.img" --pub "$PUB"
read -r es _ < <(part_offset "$T/dev.img" esp)
mcopy -n -i "$T/dev.img@@$es" ::/slot-b/manifest.yaml "$T/mb.yaml"
hash=$(sed -n 's/^    root-hash: //p' "$T/mb.yaml") size=$(sed -n 's/^  size: //p' "$T/mb.yaml")
read -r rs _ < <(part_offset "$T/dev.img" root-b); read -r vs vn < <(part_offset "$T/dev.img" root-b-verity)
slice "$T/dev.img" "$rs" "$size" "$T/rb"
slice "$T/dev.img" "$vs" "$vn" "$T/vb"
check veritysetup-delta-slot veritysetup verify "$T/rb" "$T/vb" "$hash"
check unsquashfs-delta-slot bash -c 'unsquashfs -cat "$1" etc/hello.conf | grep -q "greeting = version two"' _ "$T/rb"
# b boots, is blessed; v3 as a delta from v2 goes b -> a
upd "$T/dev.img" --booted b mark-good >/dev/null
check install-delta-b-to-a upd "$T/dev.img" --booted b install "$T/d3.mkb"
check verify-after-second-delta "$MKIMAGE" verify "$T/dev.img" --pub "$PUB"
upd "$T/dev.img" --booted b status --json >"$T/st.json"
expect_eq status-a-version-3 "$(json_get "$T/st.json" 'd["slots"][0]["version"]')" 3

# --- refusals of mkimage-update: before anything is written, or (a damaged running root) before the commit
refuse() { # NAME WANT IMAGE ARGS...: exit 1 with the message; slot a's root and entry as they were
        local name=$1 want=$2 img=$3 rc=0; shift 3
        "$UPD" --disk "$img" --pub "$PUB" "$@" >"$T/r.out" 2>"$T/r.err" || rc=$?
        if [ $rc -ne 1 ]; then fail "$name" "exit $rc, want 1: $(cat "$T/r.err")"
        elif ! grep -qF -- "$want" "$T/r.err"; then fail "$name" "stderr [$(cat "$T/r.err")] lacks [$want]"
        elif [ "$(slot_sum "$img" root-a)" != "$A_ROOT" ] || [ "$(entry "$img" a)" != "$A_ENTRY" ]; then
                fail "$name" "the running slot changed"
        else pass "$name"; fi
}
refuse_untouched() { # NAME WANT ARGS...: as refuse, on a fresh v1 disk, which must not change at all
        local name=$1 want=$2 before; shift 2
        cp --sparse=always "$IMG" "$T/u.img"; before=$(sha256sum <"$T/u.img")
        refuse "$name" "$want" "$T/u.img" "$@"
        [ "$(sha256sum <"$T/u.img")" = "$before" ] || fail "$name-disk-untouched" "the disk changed"
}
refuse_untouched refuse-other-base "is a delta from version 2 (root sha256" --booted a install "$T/d3.mkb"
refuse_untouched refuse-other-base-names-fix "install the full bundle" --booted a install "$T/d3.mkb"

# a running root damaged inside a range: every assembled block is checked, so the install fails
cp --sparse=always "$IMG" "$T/dmg.img"
read -r ra _ < <(part_offset "$T/dmg.img" root-a)
first_range=$(python3 -c '
import sys,struct,json
d=json.load(open(sys.argv[1])); p=[p for p in d["parts"] if p["kind"]=="ranges"][0]
f=open(sys.argv[2],"rb"); f.seek(p["offset"]); dst,src,ln=struct.unpack("<QQQ",f.read(24)); print(src+ln//2)' "$T/d2.json" "$T/d2.mkb")
python3 -c 'import sys; f=open(sys.argv[1],"r+b"); f.seek(int(sys.argv[2])); b=f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0]^0x40]))' "$T/dmg.img" $((ra + first_range))
A_ROOT_SAVED=$A_ROOT; A_ROOT=$(slot_sum "$T/dmg.img" root-a)
refuse refuse-damaged-running-root "a damaged running root, or a damaged or tampered bundle" "$T/dmg.img" --booted a install "$T/d2.mkb"
expect_eq damaged-running-root-b-unbootable "$(entry "$T/dmg.img" b)" "slot-b+0-1.conf"
A_ROOT=$A_ROOT_SAVED

# ranges that lie, in a bundle re-signed with the real key: the updater's own checks refuse them
# lie NAME PYTHON: rewrite the ranges part (r: a list of [dst, src, len]) and the root part (lit:
# its bytes), fix their sha256 in the bundle manifest, sign it again, keep every offset.
lie() {
        mkdir -p "$T/lie"
        python3 - "$T/d2.mkb" "$T/lie/$1.mkb" "$T/lie/bundle.yaml" "$2" <<'PY' || return 1
import hashlib, struct, sys
src, out, yml, code = sys.argv[1:5]
b = bytearray(open(src, "rb").read())
mlen, slen = struct.unpack_from("<QQ", b, 16)
text = b[64:64 + mlen].decode()
import re
parts = [dict(kind=m[0], offset=int(m[1]), size=int(m[2]), sha=m[3]) for m in
         re.findall(r"- kind: (\w+)\n(?:  slot: \w\n)?  offset: (\d+)\n  size: (\d+)\n  sha256: (\w+)", text)]
rg = [p for p in parts if p["kind"] == "ranges"][0]
raw = b[rg["offset"]:rg["offset"] + rg["size"]]
r = [list(struct.unpack_from("<QQQ", raw, i)) for i in range(0, len(raw), 24)]
exec(code)
new = b"".join(struct.pack("<QQQ", *x) for x in r)
assert len(new) == rg["size"], "a lie keeps the part's size"
b[rg["offset"]:rg["offset"] + rg["size"]] = new
text = text.replace(rg["sha"], hashlib.sha256(new).hexdigest())
open(yml, "w").write(text)
open(out, "wb").write(b)
PY
        "$MKIMAGE" sign "$T/lie/bundle.yaml" --key "$KEY" >/dev/null || return 1
        python3 - "$T/lie/$1.mkb" "$T/lie/bundle.yaml" <<'PY'
import struct, sys
out, yml = sys.argv[1:3]
b = bytearray(open(out, "rb").read())
mlen, slen = struct.unpack_from("<QQ", b, 16)
text, sig = open(yml, "rb").read(), open(yml + ".minisig", "rb").read()
assert len(text) == mlen and len(sig) == slen, "the same lengths"
b[64:64 + mlen] = text
b[64 + mlen:64 + mlen + slen] = sig
open(out, "wb").write(b)
PY
}
n_lies=0
for spec in \
        "past-running-root|r[0][1] = 1 << 40|ends past the running root" \
        "overlap|r[1][0] = r[0][0]|overlaps the one before it" \
        "past-new-root|r[-1][0] = 1 << 40|ends past the new root" \
        "not-adding-up|r[0][2] -= 4096|the ranges cover" \
        "empty|r[0][2] = 0|is empty"; do
        IFS='|' read -r name code want <<<"$spec"
        if lie "$name" "$code"; then
                n_lies=$((n_lies + 1))
                refuse_untouched "refuse-ranges-$name" "$want" --booted a install "$T/lie/$name.mkb"
        else fail "lie-$name" "could not make the bundle"; fi
done
check lies-made test $n_lies -eq 5
check lie-still-signed "$MKIMAGE" bundle --info "$T/lie/overlap.mkb" --pub "$PUB"
# ranges that are well-formed but copy the wrong bytes: refused block by block, before the commit
if lie wrong-source 'r[0][1] += 4096 if r[0][1] + r[0][2] + 4096 <= 1273856 else -4096'; then
        cp --sparse=always "$IMG" "$T/w.img"
        refuse refuse-ranges-wrong-source "does not match slot b's hash tree" "$T/w.img" --booted a install "$T/lie/wrong-source.mkb"
else fail lie-wrong-source "could not make the bundle"; fi

# --- a crash before each write of a delta install; then a second install completes --------
crash_matrix delta-crash-matrix "$IMG" "$T/d2.mkb" 6 "$(slot_sum "$T/full.img" root-b)"

# --- Secure Boot: the UKIs pin each release's root, so a delta carries them both -------------
# Their .linux and .initrd did not change, but .cmdline (the root hash) and the signature did: the
# delta is the two signed UKIs plus what a type #1 delta holds. Installed on a v1 device it gives
# the disk a full bundle gives, and the signatures check out.
unset TYPE1
S1=$(model 1) S2=$(model 2 "$H2")
"$MKIMAGE" build "$S1" --data-key "$DATA_KEY" -o "$T/s1.img" >/dev/null 2>"$T/e" || fail sb-build "$(cat "$T/e")"
"$MKIMAGE" bundle "$S2" -o "$T/s2.mkb" >/dev/null && "$MKIMAGE" bundle "$S2" --from "$T/s1.img" -o "$T/sd2.mkb" >/dev/null
"$MKIMAGE" bundle --info "$T/sd2.mkb" --json >"$T/sd2.json"
expect_eq sb-delta-carries-both-ukis \
        "$(json_get "$T/sd2.json" '" ".join(sorted(p["path"] for p in d["parts"] if p["kind"]=="file" and p["size"] > 100000))')" \
        "/EFI/Linux/slot-a.efi /EFI/Linux/slot-b.efi"
uki_bytes=$(json_get "$T/sd2.json" 'sum(p["size"] for p in d["parts"] if p["kind"]=="file" and p["path"].startswith("/EFI/Linux/"))')
sfull=$(stat -c %s "$T/s2.mkb") sdelta=$(stat -c %s "$T/sd2.mkb")
echo "    [delta] Secure Boot: full bundle $sfull bytes, delta $sdelta bytes, of which UKIs $uki_bytes" >&2
check sb-delta-rest-under-5-percent test $(((sdelta - uki_bytes) * 100)) -lt $(((sfull - uki_bytes) * 5))
cp --sparse=always "$T/s1.img" "$T/sfull.img" && cp --sparse=always "$T/s1.img" "$T/sdev.img"
upd "$T/sfull.img" --booted a install "$T/s2.mkb" >/dev/null
check sb-install-delta upd "$T/sdev.img" --booted a install "$T/sd2.mkb"
check sb-delta-install-is-full-install cmp "$T/sfull.img" "$T/sdev.img"
check sb-verify-after-delta "$MKIMAGE" verify "$T/sdev.img" --pub "$PUB" --sb-cert "$BUILD/keys/sb/db.crt"
