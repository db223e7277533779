# mkimage-update on the host (--disk IMAGE --booted a|b; docs/update.md): a
# v2 bundle installs into slot b of a v1 demo image and the result is what a
# v2 image's slot would be (mkimage verify, veritysetup, sgdisk, the slot's
# partition GUIDs from its root hash), slot a untouched; from a pipe too;
# then b -> a with v3; status and mark-good/mark-bad; refusals (older,
# equal, below the minimum, another model, another key, a damaged root
# block, usage) leave the running slot and its entry as they were; a crash
# before every write of one install (MKIMAGE_UPDATE_CRASH_AT=N) leaves slot a
# bootable and a second install completes; a cut at ten byte offsets of
# the slot's writes (MKIMAGE_UPDATE_CRASH_AT=byte:B) resumes at exactly the
# blocks written; mark-good blesses, then raises the minimum (--min-file).
. "$(dirname "$0")/../lib/testlib.sh"
. "$(dirname "$0")/../lib/updatelib.sh"
# The type #1 matrix (secure-boot: off); update-secureboot.sh runs the UKI one.
TYPE1=1
IMG="$T/v1.img"

for v in 0 1 2 3; do "$MKIMAGE" bundle "$(model $v)" -o "$T/v$v.mkb" >/dev/null; done
"$MKIMAGE" bundle "$(model 2 "" other-device)" -o "$T/other-model.mkb" >/dev/null
"$MKIMAGE" keygen "$T/other" >/dev/null
"$MKIMAGE" bundle "$(model 2)" --sign-key "$T/other.key" -o "$T/other-key.mkb" >/dev/null
"$MKIMAGE" build "$(model 1)" --data-key "$DATA_KEY" -o "$IMG" >/dev/null
rm -f "$IMG".manifest*.yaml* "$IMG.bmap" # a device's disk: its manifests are on its ESP only
check bundles-made test -s "$T/v2.mkb" -a -s "$T/v3.mkb" -a -s "$T/other-model.mkb" -a -s "$T/other-key.mkb"


# --- a -> b, version 2 ----------------------------------------------------------------
D="$T/dev.img"
cp --sparse=always "$IMG" "$D"
A_ROOT=$(slot_sum "$D" root-a) A_VERITY=$(slot_sum "$D" root-a-verity) A_ENTRY=$(entry "$D" a)
check install-v2 upd "$D" --booted a install "$T/v2.mkb"
upd "$D" --booted a install "$T/v2.mkb" >/dev/null 2>&1 # again: equal version, refused
expect_eq slot-a-root-untouched "$(slot_sum "$D" root-a)" "$A_ROOT"
expect_eq slot-a-verity-untouched "$(slot_sum "$D" root-a-verity)" "$A_VERITY"
expect_eq slot-a-entry-untouched "$(entry "$D" a)" "$A_ENTRY"
expect_eq slot-b-entry-fresh "$(entry "$D" b)" "slot-b+3.conf"
check verify-after-install "$MKIMAGE" verify "$D" --pub "$PUB"
check gpt-sound bash -c 'sgdisk -v "$1" | grep -q "No problems found"' _ "$D"
upd "$D" --booted a status --json >"$T/status.json"
expect_eq status-b-version "$(json_get "$T/status.json" 'd["slots"][1]["version"]')" 2
expect_eq status-b-trying "$(json_get "$T/status.json" 'd["slots"][1]["state"]')" trying
expect_eq status-a-version "$(json_get "$T/status.json" 'd["slots"][0]["version"]')" 1
expect_eq status-booted "$(json_get "$T/status.json" 'd["booted"]')" a
# slot b is a v2 image's slot b: the manifest's root hash, the GPT GUIDs from it, veritysetup
read -r es _ < <(part_offset "$D" esp)
mcopy -n -i "$D@@$es" ::/slot-b/manifest.yaml "$T/mb.yaml"
hash=$(sed -n 's/^    root-hash: //p' "$T/mb.yaml")
uuid=$(sfdisk --part-uuid "$D" 4)
expect_eq root-b-guid-from-hash "${uuid,,}" "${hash:0:8}-${hash:8:4}-${hash:12:4}-${hash:16:4}-${hash:20:12}"
read -r rs _ < <(part_offset "$D" root-b); read -r vs vn < <(part_offset "$D" root-b-verity)
size=$(sed -n 's/^  size: //p' "$T/mb.yaml")
slice "$D" "$rs" "$size" "$T/rb"
slice "$D" "$vs" "$vn" "$T/vb"
check veritysetup-slot-b veritysetup verify "$T/rb" "$T/vb" "$hash"
# the same slot as a v2 image built from the same inputs (the bundle's own root)
"$MKIMAGE" bundle --info "$T/v2.mkb" --json >"$T/v2.json"
expect_eq root-b-is-v2-root "$(sha256sum <"$T/rb" | cut -d' ' -f1)" "$(json_get "$T/v2.json" '[p["sha256"] for p in d["parts"] if p["kind"]=="root"][0]')"

# --- the device booted b and blesses it; then b -> a with version 3, from a pipe ----------
check mark-good-b upd "$D" --booted b mark-good
expect_eq blessed-entry "$(entry "$D" b)" "slot-b.conf"
check install-v3-from-pipe bash -c 'cat "$1" | "$2" --disk "$3" --pub "$4" --booted b install -' _ "$T/v3.mkb" "$UPD" "$D" "$PUB"
expect_eq slot-b-kept-blessed "$(entry "$D" b)" "slot-b.conf"
expect_eq slot-a-entry-v3 "$(entry "$D" a)" "slot-a+3.conf"
upd "$D" --booted b status --json >"$T/status3.json"
expect_eq status-a-version-3 "$(json_get "$T/status3.json" 'd["slots"][0]["version"]')" 3
check verify-after-second-install "$MKIMAGE" verify "$D" --pub "$PUB"
check mark-bad-a upd "$D" --booted a mark-bad
expect_eq marked-bad-entry "$(entry "$D" a)" "slot-a+0-1.conf"

# --- refusals: nothing of the running slot changes; before the first write for the checks of step 1
refuse() { # NAME WANT_IN_STDERR ARGS...: exit 1, the message, the image unchanged
        local name=$1 want=$2 before; shift 2
        cp --sparse=always "$IMG" "$T/r.img"; before=$(sha256sum <"$T/r.img")
        local rc=0; "$UPD" --disk "$T/r.img" --pub "$PUB" "$@" >"$T/r.out" 2>"$T/r.err" || rc=$?
        if [ $rc -ne 1 ]; then fail "$name" "exit $rc, want 1: $(cat "$T/r.err")"
        elif ! grep -qF -- "$want" "$T/r.err"; then fail "$name" "stderr [$(cat "$T/r.err")] lacks [$want]"
        elif [ "$(sha256sum <"$T/r.img")" != "$before" ]; then fail "$name" "the image changed"
        else pass "$name"; fi
}
refuse refuse-equal-version "version 1 is not above the running version 1 (a rollback needs --allow-downgrade)" \
        --booted a install "$T/v1.mkb"
refuse refuse-older-version "version 0 is not above the running version 1" --booted a install "$T/v0.mkb"
refuse refuse-below-minimum "version 2 is below this device's anti-rollback minimum 5" \
        --booted a --min-version 5 install "$T/v2.mkb"
refuse refuse-downgrade-below-minimum "version 0 is below this device's anti-rollback minimum 1" \
        --booted a --min-version 1 --allow-downgrade install "$T/v0.mkb"
refuse refuse-other-model "is for model other-device (brand example), this device is demo-x86_64 (brand example)" \
        --booted a install "$T/other-model.mkb"
refuse refuse-other-key "which is not a trusted key" --booted a install "$T/other-key.mkb"
refuse refuse-not-a-bundle "not an mkimage update bundle" --booted a install "$IMG"
head -c 3000 "$T/v2.mkb" >"$T/short.mkb"
refuse refuse-truncated "the bundle ends early" --booted a install "$T/short.mkb"
refuse refuse-missing-file "$T/nope.mkb: No such file or directory" --booted a install "$T/nope.mkb"
# a release without a kernel (no boot entry to commit): refused before anything is written
sed -e '/^  - name: kernel$/,/^    signer: dev$/d' "$(model 2)" >"$SRC/models/.test-update-$$-nokernel.yaml"
"$MKIMAGE" bundle "$SRC/models/.test-update-$$-nokernel.yaml" -o "$T/nokernel.mkb" >/dev/null
refuse refuse-no-boot-entry "slot b's manifest names no boot entry /loader/entries/slot-b.conf: the release has no kernel to boot" \
        --booted a install "$T/nokernel.mkb"
# a full ESP: found before anything is written, the disk unchanged
cp --sparse=always "$IMG" "$T/full-esp.img"
read -r es _ < <(part_offset "$T/full-esp.img" esp)
minfo -i "$T/full-esp.img@@$es" :: >"$T/minfo"
free=$(sed -n 's/^free clusters=\([0-9]*\).*/\1/p' "$T/minfo") spc=$(sed -n 's/^cluster size: \([0-9]*\) sectors$/\1/p' "$T/minfo")
head -c $(((free - 256) * spc * 512)) /dev/zero >"$T/junk" # all but 256 clusters
mcopy -i "$T/full-esp.img@@$es" "$T/junk" ::/junk && rm -f "$T/junk"
before=$(sha256sum <"$T/full-esp.img"); rc=0
"$UPD" --disk "$T/full-esp.img" --pub "$PUB" --booted a install "$T/v2.mkb" >/dev/null 2>"$T/fe.err" || rc=$?
expect_eq full-esp-refused "$rc" 1
check full-esp-message grep -q "install refused: the ESP has [0-9]* bytes free, slot b's boot files and manifest need [0-9]*: free space on the ESP" "$T/fe.err"
expect_eq full-esp-disk-unchanged "$(sha256sum <"$T/full-esp.img")" "$before"
# a downgrade that is allowed: version 0 with --allow-downgrade and no minimum
cp --sparse=always "$IMG" "$T/dg.img"
check allowed-downgrade "$UPD" --disk "$T/dg.img" --pub "$PUB" --booted a --allow-downgrade install "$T/v0.mkb"

# Z: the v1 disk with slot b's root zeroed, so that no block of it is already a new root's (an
# install keeps the blocks that already hold the new root, which a v1 root-b partly does)
Z="$T/z.img"
cp --sparse=always "$IMG" "$Z"
read -r zs zn < <(part_offset "$Z" root-b)
python3 -c 'import sys; f=open(sys.argv[1],"r+b"); f.seek(int(sys.argv[2])); f.write(bytes(int(sys.argv[3])))' "$Z" "$zs" "$zn"
# a damaged root block: refused while streaming, slot a and its entry untouched, slot b not bootable
cp "$T/v2.mkb" "$T/bad.mkb"
read -r roff rsize < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=[p for p in d["parts"] if p["kind"]=="root"][0]; print(r["offset"], r["size"])' "$T/v2.json")
python3 -c 'import sys; f=open(sys.argv[1],"r+b"); f.seek(int(sys.argv[2])); b=f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0]^1]))' "$T/bad.mkb" $((roff + rsize / 2))
cp --sparse=always "$Z" "$T/t.img"
rc=0; "$UPD" --disk "$T/t.img" --pub "$PUB" --booted a install "$T/bad.mkb" >"$T/t.out" 2>"$T/t.err" || rc=$?
expect_eq damaged-root-refused "$rc" 1
check damaged-root-message grep -q "root block $((rsize / 2 / 4096)) does not match slot b's hash tree (damaged or tampered): nothing of it was written" "$T/t.err"
expect_eq damaged-root-slot-a-root "$(slot_sum "$T/t.img" root-a)" "$A_ROOT"
expect_eq damaged-root-slot-a-entry "$(entry "$T/t.img" a)" "$A_ENTRY"
expect_eq damaged-root-slot-b-unbootable "$(entry "$T/t.img" b)" "slot-b+0-1.conf"
check damaged-then-good-install "$UPD" --disk "$T/t.img" --pub "$PUB" --booted a install "$T/v2.mkb"
check damaged-then-good-verifies "$MKIMAGE" verify "$T/t.img" --pub "$PUB"

# --- usage ----------------------------------------------------------------------------------
expect_run usage-no-booted 2 "mkimage-update: --disk needs --booted a|b (see --help)" "$UPD" --disk "$IMG" status
expect_run usage-no-command 2 "mkimage-update: name a command: install, status, mark-good or mark-bad (see --help)" "$UPD"
expect_run usage-install-no-bundle 2 "mkimage-update: install takes one BUNDLE (or - for standard input) (see --help)" \
        "$UPD" --disk "$IMG" --booted a install
check help "$UPD" --help

# --- an install cut in the root's second write resumes after the blocks the first wrote ------
w=0; for n in $(seq 1 10); do # the crash point of the second root write: the one after "root" starts
        cp --sparse=always "$Z" "$T/res.img"
        rc=0; MKIMAGE_UPDATE_CRASH_AT=$n upd "$T/res.img" --booted a install "$T/v2.mkb" >/dev/null 2>&1 || rc=$?
        [ $rc -eq 99 ] || break
        upd "$T/res.img" --booted a install - <"$T/v2.mkb" >"$T/res.out" 2>&1 || break
        if grep -q "^mkimage-update: resume: the first 256 of " "$T/res.out"; then w=$n; break; fi
done
check resume-after-first-root-write test "$w" -gt 0
check resume-from-pipe-verifies "$MKIMAGE" verify "$T/res.img" --pub "$PUB"
check resume-rewrites-the-rest grep -q "^mkimage-update: root: " "$T/res.out"
cp --sparse=always "$Z" "$T/once.img"; upd "$T/once.img" --booted a install "$T/v2.mkb" >/dev/null
expect_eq resume-gives-the-slot-of-one-install "$(slot_sum "$T/res.img" root-b)" "$(slot_sum "$T/once.img" root-b)"

# --- a crash before each write of one install: slot a always boots; a second install completes
crash_matrix crash-matrix "$IMG" "$T/v2.mkb" 8

# --- a cut at a byte offset of the slot's writes: the next install keeps exactly the whole
# blocks written before it (the verity area comes first, then the root, 1 MiB per write) -------
vlen=$(json_get "$T/v2.json" '[p["size"] for p in d["parts"] if p["kind"]=="verity" and p["slot"]=="b"][0]')
tot=$((vlen + rsize)) ok=1
for k in 0 1 2 3 4 5 6 7 8 9; do
        b=$((tot * (2 * k + 1) / 20))
        cp --sparse=always "$Z" "$T/byte.img"
        rc=0; MKIMAGE_UPDATE_CRASH_AT=byte:$b upd "$T/byte.img" --booted a install "$T/v2.mkb" >/dev/null 2>"$T/byte.err" || rc=$?
        want=$(((b - vlen) / 4096))
        upd "$T/byte.img" --booted a install "$T/v2.mkb" >"$T/byte.out" 2>&1 || { ok=0; echo "    byte $b: $(cat "$T/byte.out")" >&2; }
        if [ $rc -ne 99 ] || ! grep -q "crash hook: stopping after $b bytes of the slot" "$T/byte.err"; then
                ok=0; echo "    byte $b: exit $rc: $(cat "$T/byte.err")" >&2
        elif [ "$b" -gt "$vlen" ] && [ $want -gt 0 ] && ! grep -q "^mkimage-update: resume: the first $want of " "$T/byte.out"; then
                ok=0; echo "    byte $b: want a resume at block $want: $(grep resume "$T/byte.out")" >&2
        elif [ "$(slot_sum "$T/byte.img" root-b)" != "$(slot_sum "$T/once.img" root-b)" ]; then
                ok=0; echo "    byte $b: root-b is not one install's" >&2
        fi
done
check byte-cuts-resume-exactly test $ok = 1
# a cut right after the commit step: the new slot is whole and boots next
cp --sparse=always "$IMG" "$T/commit.img"
rc=0; MKIMAGE_UPDATE_CRASH_AT=step:commit upd "$T/commit.img" --booted a install "$T/v2.mkb" >/dev/null 2>&1 || rc=$?
expect_eq step-hook-exits "$rc" 99
expect_eq step-hook-after-commit "$(entry "$T/commit.img" b)" "slot-b+3.conf"
check step-hook-whole "$MKIMAGE" verify "$T/commit.img" --pub "$PUB"
expect_run hook-bad 2 "mkimage-update: MKIMAGE_UPDATE_CRASH_AT=soon: want N, byte:B or step:NAME (see --help)" \
        env MKIMAGE_UPDATE_CRASH_AT=soon "$UPD" --disk "$IMG" --booted a status

# --- mark-good: bless first, then raise the minimum kept in --min-file, never lower it -------
M="$T/mark.img" MIN="$T/min/min-version"
cp --sparse=always "$T/commit.img" "$M"
upd "$M" --booted b --min-file "$MIN" mark-good >"$T/mg.out"
expect_eq mark-good-blessed "$(entry "$M" b)" "slot-b.conf"
expect_eq mark-good-min-written "$(cat "$MIN")" 2
check mark-good-order bash -c 'grep -n "blessed loader/entries/slot-b+3.conf -> slot-b.conf" "$1" | grep -q "^1:" &&
        grep -n "minimum version raised from 0 to 2" "$1" | grep -q "^2:"' _ "$T/mg.out"
upd "$M" --booted b --min-file "$MIN" mark-good >"$T/mg2.out"
check mark-good-again-says-so grep -q "slot b's boot entry loader/entries/slot-b.conf is blessed already" "$T/mg2.out"
echo 5 >"$MIN"
upd "$M" --booted b --min-file "$MIN" mark-good >/dev/null
expect_eq mark-good-never-lowers "$(cat "$MIN")" 5
rc=0; upd "$M" --booted b --min-file "$MIN" install "$T/v3.mkb" >/dev/null 2>"$T/mg.err" || rc=$?
check min-file-read-by-install grep -q "version 3 is below this device's anti-rollback minimum 5" "$T/mg.err"
echo "five" >"$MIN"
expect_run min-file-malformed 1 "mkimage-update: $MIN: not a version number: the anti-rollback minimum is unreadable" \
        "$UPD" --disk "$M" --pub "$PUB" --booted b --min-file "$MIN" status
expect_run min-version-malformed 2 "mkimage-update: --min-version wants a version number (see --help)" \
        "$UPD" --disk "$M" --pub "$PUB" --booted b --min-version 2x status
