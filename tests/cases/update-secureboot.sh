# mkimage-update on the host with Secure Boot releases (docs/secure-boot.md,
# "Updates"): a v2 bundle of a Secure Boot model carries both slots' signed
# UKIs (mkimage verify BUNDLE; cut from a built image, the same bytes); installed into slot b of a v1 Secure Boot
# image it leaves exactly one entry per slot, EFI/Linux/slot-b+3.efi that
# sbverify accepts against the db certificate, whose .cmdline pins v2's
# root hash, slot a and its UKI untouched, the disk whole (mkimage verify
# --sb-cert); systemd-boot and the enrolment files are not rewritten; the
# same bundle moves a type #1 image's slot b to a UKI (its old entry, kernel
# and initrd gone, slot a's kept);
# a delta installs too; an ESP too full for the UKI is refused with ENOSPC
# and the disk unchanged; a crash before every write of one install leaves
# slot a and its UKI untouched and a second install completes; mark-good
# blesses the UKI and status shows it.
. "$(dirname "$0")/../lib/testlib.sh"
. "$(dirname "$0")/../lib/updatelib.sh"
KEYS="$T/keys"
"$MKIMAGE" sb-keygen "$KEYS" >/dev/null 2>"$T/keygen.err" || fail keygen "$(cat "$T/keygen.err")"
SB_CERT="$KEYS/db.crt"

sb() { # VERSION: the demo model at VERSION with a secure-boot section using $KEYS (in models/, as `model`)
        local f s
        f=$(TYPE1=1 model "$1") s="${f%.yaml}-sb.yaml"
        sed -i '/^secure-boot: off$/d' "$f"
        { cat "$f"; printf 'secure-boot:\n  key: %s/db.key\n  certificate: %s/db.crt\n  enroll-keys: %s\n' \
                "$KEYS" "$KEYS" "$KEYS"; } >"$s"
        echo "$s"
}
build() { # MODEL OUT: a device's disk (its manifests on its ESP only)
        "$MKIMAGE" build "$1" --data-key "$DATA_KEY" -o "$2" >/dev/null 2>"$T/build.err" || {
                fail "build-$(basename "$2")" "$(cat "$T/build.err")"
                exit 0
        }
        rm -f "$2".manifest*.yaml* "$2.bmap"
}
IMG="$T/sb1.img" PLAIN="$T/v1.img"
build "$(sb 1)" "$IMG"
build "$(TYPE1=1 model 1)" "$PLAIN"
"$MKIMAGE" bundle "$(sb 2)" -o "$T/sb2.mkb" >/dev/null
"$MKIMAGE" bundle "$(sb 3)" -o "$T/sb3.mkb" >/dev/null
check bundles-made test -s "$T/sb2.mkb" -a -s "$T/sb3.mkb"
check verify-sb-bundle bash -c '"$1" verify "$2" --pub "$3" >/dev/null' _ "$MKIMAGE" "$T/sb2.mkb" "$PUB"
"$MKIMAGE" bundle --info "$T/sb2.mkb" --pub "$PUB" --json >"$T/sb2.json"
"$MKIMAGE" bundle --info "$T/sb2.mkb" --pub "$PUB" >"$T/sb2.info"
# the bundle's boot files: both slots' UKIs (one part each: their command lines differ) among them
nfiles=$(json_get "$T/sb2.json" 'len([p for p in d["parts"] if p["kind"]=="file"])')
check bundle-holds-files test "$nfiles" -ge 2
check bundle-info-names-ukis bash -c 'grep -q "EFI/Linux/slot-a.efi" "$1" && grep -q "EFI/Linux/slot-b.efi" "$1"' _ "$T/sb2.info"
# cut from a built Secure Boot image: the same bytes (the ESP's counted UKIs are the manifest's)
"$MKIMAGE" build "$(sb 2)" --data-key "$DATA_KEY" -o "$T/sb2.img" >/dev/null
"$MKIMAGE" bundle "$T/sb2.img" --sign-key "$KEY" -o "$T/sb2-cut.mkb" >/dev/null 2>"$T/cut.err" || fail bundle-from-image "$(cat "$T/cut.err")"
check bundle-from-image-same cmp -s "$T/sb2-cut.mkb" "$T/sb2.mkb"
rm -f "$T/sb2.img"*

esp() { read -r es _ < <(part_offset "$1" esp); echo "$1@@$es"; }
get() { mcopy -n -i "$(esp "$1")" "::/$2" "$3"; } # IMG PATH OUT
clusters() { mshowfat -i "$(esp "$1")" "::/$2"; } # IMG PATH: the file's cluster chain (a rewrite moves it)

# --- a -> b, a Secure Boot v1 image, the v2 bundle ----------------------------------------
D="$T/dev.img"
cp --sparse=always "$IMG" "$D"
A_ROOT=$(slot_sum "$D" root-a) A_ENTRY=$(entry "$D" a)
get "$D" "EFI/Linux/$A_ENTRY" "$T/a-before.efi"
get "$D" EFI/systemd/systemd-bootx64.efi "$T/sd-before.efi"
SD_FAT=$(clusters "$D" EFI/systemd/systemd-bootx64.efi) PK_FAT=$(clusters "$D" loader/keys/auto/PK.auth)
expect_eq slot-a-entry-is-uki "$A_ENTRY" "slot-a+3.efi"
rc=0; upd "$D" --booted a install "$T/sb2.mkb" >"$T/i.out" 2>&1 || rc=$?
expect_eq install-sb2 "$rc" 0
check install-says-uki grep -q "^mkimage-update: commit: slot b's boot entry slot-b+3.efi (its signed UKI in EFI/Linux): version 2 boots next, with 3 tries" "$T/i.out"
check install-disabled-old-uki grep -q "^mkimage-update: disable: slot b's boot entry is slot-b+0-1.efi" "$T/i.out"
expect_eq one-entry-slot-a "$(entry "$D" a)" "$A_ENTRY"
expect_eq one-entry-slot-b "$(entry "$D" b)" "slot-b+3.efi"
check no-type1-entries bash -c '! mdir -b -i "$1" ::/loader/entries 2>/dev/null | grep -q conf' _ "$(esp "$D")"
check efi-linux-only-the-two bash -c '[ "$(mdir -b -i "$1" ::/EFI/Linux | sed "s|.*/||" | sort | tr "\n" " ")" = "slot-a+3.efi slot-b+3.efi " ]' _ "$(esp "$D")"
expect_eq slot-a-root-untouched "$(slot_sum "$D" root-a)" "$A_ROOT"
get "$D" EFI/Linux/slot-a+3.efi "$T/a-after.efi"
check slot-a-uki-untouched cmp -s "$T/a-before.efi" "$T/a-after.efi"
get "$D" EFI/Linux/slot-b+3.efi "$T/b.efi"
check sbverify-installed-uki bash -c 'sbverify --cert "$1" "$2" 2>&1 | grep -qx "Signature verification OK"' _ "$SB_CERT" "$T/b.efi"
get "$D" slot-b/manifest.yaml "$T/mb.yaml"
hash=$(sed -n 's/^    root-hash: //p' "$T/mb.yaml")
objcopy -O binary --only-section=.cmdline "$T/b.efi" "$T/b.cmdline"
check uki-cmdline-pins-v2-root bash -c 'grep -q "mkimage.slot=b roothash=$1 " "$2"' _ "$hash" "$T/b.cmdline"
check manifest-is-v2 grep -qx "version: 2" "$T/mb.yaml"
check verify-after-install verify_img "$D"
check verify-after-install-ok bash -c '"$1" verify "$2" --pub "$3" --sb-cert "$4" | grep -q "^esp: OK"' _ "$MKIMAGE" "$D" "$PUB" "$SB_CERT"
# systemd-boot and the enrolment keys were already there with the same digest: not rewritten
get "$D" EFI/systemd/systemd-bootx64.efi "$T/sd-after.efi"
check systemd-boot-same cmp -s "$T/sd-before.efi" "$T/sd-after.efi"
expect_eq systemd-boot-not-rewritten "$(clusters "$D" EFI/systemd/systemd-bootx64.efi)" "$SD_FAT"
expect_eq enrolment-not-rewritten "$(clusters "$D" loader/keys/auto/PK.auth)" "$PK_FAT"
upd "$D" --booted a status --json >"$T/status.json"
upd "$D" --booted a status >"$T/status.txt"
expect_eq status-b-trying "$(json_get "$T/status.json" 'd["slots"][1]["state"]')" trying
expect_eq status-b-version "$(json_get "$T/status.json" 'd["slots"][1]["version"]')" 2
expect_eq status-b-entry "$(json_get "$T/status.json" 'd["slots"][1]["entry"]')" slot-b+3.efi
check status-text-names-uki grep -q "entry slot-b+3.efi" "$T/status.txt"

# --tries N: the UKI's counter
cp --sparse=always "$IMG" "$T/tries.img"
upd "$T/tries.img" --booted a --tries 1 install "$T/sb2.mkb" >/dev/null
expect_eq tries-1-uki "$(entry "$T/tries.img" b)" "slot-b+1.efi"
rm -f "$T/tries.img"

# --- the device boots b and blesses it, then b -> a with v3 (UKI over a blessed UKI) -------
check mark-good-b upd "$D" --booted b mark-good
expect_eq blessed-uki "$(entry "$D" b)" "slot-b.efi"
check install-sb3-into-a upd "$D" --booted b install "$T/sb3.mkb"
expect_eq sb3-slot-a "$(entry "$D" a)" "slot-a+3.efi"
expect_eq sb3-slot-b-kept "$(entry "$D" b)" "slot-b.efi"
check verify-after-second-install verify_img "$D"
check mark-bad-a upd "$D" --booted a mark-bad
expect_eq marked-bad-uki "$(entry "$D" a)" "slot-a+0-1.efi"

# --- a type #1 image moves to Secure Boot: slot b ends with the UKI only ------------------
P="$T/plain.img"
cp --sparse=always "$PLAIN" "$P"
PA_ENTRY=$(entry "$P" a)
check install-sb2-over-type1 upd "$P" --booted a install "$T/sb2.mkb"
expect_eq type1-slot-a-kept "$(entry "$P" a)" "$PA_ENTRY"
expect_eq type1-slot-b-now-uki "$(entry "$P" b)" "slot-b+3.efi"
check type1-slot-b-conf-gone bash -c '! mdir -b -i "$1" ::/loader/entries | grep -q slot-b' _ "$(esp "$P")"
get "$P" EFI/Linux/slot-b+3.efi "$T/pb.efi"
check type1-sbverify bash -c 'sbverify --cert "$1" "$2" 2>&1 | grep -qx "Signature verification OK"' _ "$SB_CERT" "$T/pb.efi"
get "$P" EFI/BOOT/BOOTX64.EFI "$T/pboot.efi"
check type1-systemd-boot-now-signed bash -c 'sbverify --cert "$1" "$2" 2>&1 | grep -qx "Signature verification OK"' _ "$SB_CERT" "$T/pboot.efi"
check type1-kernel-initrd-removed bash -c '[ "$(mdir -b -i "$1" ::/slot-b | sed "s|.*/||" | sort | tr "\n" " ")" = "manifest.yaml manifest.yaml.minisig " ]' _ "$(esp "$P")"
check type1-slot-a-kernel-kept bash -c 'mdir -b -i "$1" ::/slot-a | grep -q vmlinuz' _ "$(esp "$P")"
# slot b verifies; the files both slots share (loader.conf, systemd-boot) are now slot b's, which
# slot a's type #1 manifest does not name: verify says so, and only that
verify_img "$P" >"$T/pv.out" 2>&1
check verify-type1-to-uki-slot-b bash -c 'grep -qx "root-b: OK" "$1" && grep -qx "root-b-verity: OK" "$1" &&
        grep -q "manifest-b.yaml: OK" "$1"' _ "$T/pv.out"
check verify-type1-to-uki-shared-files grep -q "^esp: FAILED: /loader/loader.conf has SHA-256 [0-9a-f]*…, slot a's manifest says" "$T/pv.out"

# --- a delta from v1 (systemd-boot and the enrolment files stay out: slot a has them) ----
"$MKIMAGE" bundle "$(sb 2)" --from "$IMG" -o "$T/sb2-delta.mkb" >/dev/null
check verify-sb-delta bash -c '"$1" verify "$2" --pub "$3" >/dev/null' _ "$MKIMAGE" "$T/sb2-delta.mkb" "$PUB"
cp --sparse=always "$IMG" "$T/delta.img"
check install-sb-delta upd "$T/delta.img" --booted a install "$T/sb2-delta.mkb"
expect_eq delta-slot-b "$(entry "$T/delta.img" b)" "slot-b+3.efi"
check verify-after-delta verify_img "$T/delta.img"
expect_eq delta-slot-b-is-full-install "$(slot_sum "$T/delta.img" root-b)" "$(slot_sum "$T/dev.img" root-b)"

# --- an ESP with room for everything but the UKI: ENOSPC, nothing written ----------------
F="$T/full-esp.img"
cp --sparse=always "$IMG" "$F"
minfo -i "$(esp "$F")" :: >"$T/minfo"
free=$(sed -n 's/^free clusters=\([0-9]*\).*/\1/p' "$T/minfo") spc=$(sed -n 's/^cluster size: \([0-9]*\) sectors$/\1/p' "$T/minfo")
uki=$(stat -c %s "$T/b.efi")
head -c $(((free * spc * 512 - uki + 1024 * 1024) / (spc * 512) * spc * 512)) /dev/zero >"$T/junk" # 1 MiB short of a UKI
mcopy -i "$(esp "$F")" "$T/junk" ::/junk && rm -f "$T/junk"
before=$(sha256sum <"$F"); rc=0
"$UPD" --disk "$F" --pub "$PUB" --booted a install "$T/sb2.mkb" >/dev/null 2>"$T/fe.err" || rc=$?
expect_eq full-esp-refused "$rc" 1
check full-esp-message grep -q "install refused: the ESP has [0-9]* bytes free, slot b's boot files and manifest need [0-9]*: free space on the ESP" "$T/fe.err"
expect_eq full-esp-disk-unchanged "$(sha256sum <"$F")" "$before"

# --- a crash before each write of one Secure Boot install: slot a and its UKI always boot --
crash_matrix crash-matrix "$IMG" "$T/sb2.mkb" 8 "$(slot_sum "$T/dev.img" root-b)"
# and a cut right after the commit: the new UKI is whole and the only entry of slot b
cp --sparse=always "$IMG" "$T/commit.img"
rc=0; MKIMAGE_UPDATE_CRASH_AT=step:commit upd "$T/commit.img" --booted a install "$T/sb2.mkb" >/dev/null 2>&1 || rc=$?
expect_eq step-hook-exits "$rc" 99
expect_eq step-hook-after-commit "$(entry "$T/commit.img" b)" "slot-b+3.efi"
check step-hook-whole verify_img "$T/commit.img"
