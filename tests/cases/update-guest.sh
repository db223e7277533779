# Updates installed by the device itself, under QEMU (docs/update.md): the
# base root's mkimage-update, the key the verifier handed over, bundles on a
# second virtio disk (qemu-boot/run --attach). One disk, in place, from v1:
#   1. a -> b: v2 (full, from the disk) installs, boots in slot b, its health
#      checks pass and mark-good blesses it, then raises the minimum;
#   2. five bad bundles are refused in the guest (a flipped root byte, another
#      signer, an equal version, a truncated stream, another model), slot b
#      and its entry untouched; then b -> a: v3 as a delta, streamed on
#      standard input, boots in slot a;
#   3. v4 whose health check fails boots once (one try), is not blessed, and
#      the device falls back to v3 in slot a; the minimum stays 3.
# The guest's `status --json` and the host's agree after every step. The device
# boots with Secure Boot (the demo model's default): its NVRAM (--vars) enrols
# the development keys on the first boot and keeps them, and every update
# swaps a slot's signed UKI, EFI/Linux/slot-X+N.efi.
. "$(dirname "$0")/../lib/testlib.sh"
. "$(dirname "$0")/../lib/updatelib.sh"
D="$T/dev.img"

# An app component whose health check fails.
mkdir -p "$T/unhealthy/etc/mkimage/health.d"
printf '#!/bin/sh\necho "unhealthy: the application did not come up"\nexit 1\n' >"$T/unhealthy/etc/mkimage/health.d/unhealthy"
chmod 755 "$T/unhealthy/etc/mkimage/health.d/unhealthy"
printf 'name: unhealthy\nversion: 1.0.0\ntype: app\nlicense: MIT\nsupplier: test\n' >"$T/unhealthy.yaml"
"$MKIMAGE" component pack "$T/unhealthy" --meta "$T/unhealthy.yaml" -o "$T/unhealthy.comp" >/dev/null
"$MKIMAGE" sign "$T/unhealthy.comp" --key "$KEY" >/dev/null
"$MKIMAGE" keygen "$T/other" >/dev/null 2>&1

H3=$(hello 1.0.2 "greeting = version three")
M2=$(model 2) M3=$(model 3 "$H3") M4=$(model 4 "" "" "$T/unhealthy.comp")
"$MKIMAGE" build models/demo-x86_64.yaml --data-key "$DATA_KEY" -o "$D" >/dev/null
rm -f "$D".manifest*.yaml* "$D.bmap"
"$MKIMAGE" bundle "$M2" -o "$T/v2.mkb" >/dev/null
"$MKIMAGE" bundle "$M3" -o "$T/v3.mkb" >/dev/null
"$MKIMAGE" bundle "$M3" --from "$T/v2.mkb" -o "$T/d3.mkb" >/dev/null
"$MKIMAGE" bundle "$M4" -o "$T/v4.mkb" >/dev/null
# the bad ones
cp "$T/v3.mkb" "$T/flip.mkb"
root_off=$("$MKIMAGE" bundle --info "$T/v3.mkb" --json | python3 -c 'import json,sys; print([p["offset"] for p in json.load(sys.stdin)["parts"] if p["kind"]=="root"][0])')
python3 -c 'import sys; f=open(sys.argv[1],"r+b"); f.seek(int(sys.argv[2])); b=f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0]^1]))' "$T/flip.mkb" $((root_off + 300000))
"$MKIMAGE" bundle "$M3" --sign-key "$T/other.key" -o "$T/signer.mkb" >/dev/null
head -c $(($(stat -c %s "$T/v3.mkb") / 2)) "$T/v3.mkb" >"$T/trunc.mkb"
"$MKIMAGE" bundle "$(model 3 "" other-device)" -o "$T/model.mkb" >/dev/null
for f in v2 v3 d3 v4 flip signer trunc model; do
        [ -s "$T/$f.mkb" ] || fail "bundle-$f" "not made"
done

boot() { # NAME [run options...]: boot the disk in place until the guest powers off; console in $T/NAME.txt
        local name=$1
        shift
        "$RUN" --in-place --timeout "$BOOT_TIMEOUT" --data-key "$DATA_KEY" --vars "$T/dev.vars" --log "$T/$name.log" "$@" "$D" \
                >/dev/null 2>"$T/$name.err" || true
        tr -d '\r' <"$T/$name.log" | sed -E 's/\x1b\[[0-9;?=]*[A-Za-z]//g' >"$T/$name.txt"
}
seen() { # NAME LINE...: the console of boot NAME has the LINEs (fixed strings), in this order
        local name=$1 from=1 n
        shift
        for line in "$@"; do
                n=$(tail -n +"$from" "$T/$name.txt" | grep -anF -m1 -- "$line" | cut -d: -f1)
                if [ -z "$n" ]; then
                        fail "$name: $line" "not on the console (after line $from); last lines: $(grep -a 'mkimage\|MKIMAGE\|GUEST' "$T/$name.txt" | tail -8 | tr '\n' '|')"
                        return
                fi
                from=$((from + n))
                pass "$name: $line"
        done
}
# agrees NAME BOOTED PREFIX: the guest's last status after PREFIX is the host's
agrees() {
        local g h
        g=$(guest_status "$T/$1.log" "$3") h=$(host_status "$D" "$2")
        if [ -n "$g" ] && [ "$g" = "$h" ]; then pass "$1: status-agrees ($(echo $h))"; else
                fail "$1: status-agrees" "guest [$(echo $g)] host [$(echo $h)]"
        fi
}

# --- 1. a -> b: v2 from the second disk ----------------------------------------------------
guest_script "$T/g1.sh" 2 "reboot -f" "mkimage-update install /dev/vdb"
boot v2 --fw-cfg guest-script="$T/g1.sh" --attach "$T/v2.mkb"
seen v2 "Enrolling secure boot keys" "EFI stub: UEFI Secure Boot is enabled" "MKIMAGE-BOOT-OK slot=a version=1" \
        "mkimage-update: check: bundle /dev/vdb: demo-x86_64 version 2 signed by" \
        "mkimage-update: disable: slot b's boot entry is slot-b+0-1.efi" \
        "mkimage-update: commit: slot b's boot entry slot-b+3.efi (its signed UKI in EFI/Linux): version 2 boots next, with 3 tries" \
        "GUEST-INSTALLED" \
        "mkimage: manifest of slot b: signature OK" \
        "MKIMAGE-BOOT-OK slot=b version=2" "mkimage base: SecureBoot=1" \
        "mkimage-update: mark-good: blessed EFI/Linux/slot-b+2-1.efi -> slot-b.efi" \
        "mkimage-update: mark-good: minimum version raised from 1 to 2 (/data/mkimage/min-version)" \
        "GUEST-DONE slot=b version=2"
agrees v2 b GUEST-STATUS
expect_eq v2-host-status "$(host_status "$D" b | tr '\n' ' ')" "a good 1 - b good 2 booted "
took=$(sed -n 's/^mkimage-update: done: .* bundle in \([0-9.]*\) s.*/\1/p' "$T/v2.txt")
echo "    [$SUITE] v2: a $(stat -c %s "$T/v2.mkb")-byte full bundle installed in the guest in ${took:-?} s" >&2

# --- 2. five bad bundles, then b -> a: v3 as a delta on standard input ----------------------
guest_script "$T/g2.sh" 3 "reboot -f" "mkimage-update install - </dev/vdg" vdb vdc vdd vde vdf
boot v3 --fw-cfg guest-script="$T/g2.sh" --attach "$T/flip.mkb" --attach "$T/signer.mkb" --attach "$T/v2.mkb" \
        --attach "$T/trunc.mkb" --attach "$T/model.mkb" --attach "$T/d3.mkb"
seen v3 "MKIMAGE-BOOT-OK slot=b version=2" \
        "does not match slot a's hash tree (damaged or tampered): nothing of it was written" "GUEST-REFUSED vdb" \
        "which is not a trusted key (trusted: " "GUEST-REFUSED vdc" \
        "version 2 is not above the running version 2 (a rollback needs --allow-downgrade)" "GUEST-REFUSED vdd" \
        "the bundle ends early (truncated?)" "GUEST-REFUSED vde" \
        "is for model other-device (brand example), this device is demo-x86_64" "GUEST-REFUSED vdf" \
        "mkimage-update: delta: from version 2, which slot b runs" \
        "mkimage-update: commit: slot a's boot entry slot-a+3.efi (its signed UKI in EFI/Linux): version 3 boots next" \
        "GUEST-INSTALLED" "MKIMAGE-BOOT-OK slot=a version=3" \
        "mkimage-update: mark-good: minimum version raised from 2 to 3" "GUEST-DONE slot=a version=3"
check v3-no-tamper-installed bash -c "! grep -aq GUEST-TAMPER-INSTALLED '$T/v3.txt'"
# after each refusal slot b, the running one, is as it was: blessed, version 2
for d in vdb vdc vdd vde vdf; do
        expect_eq "v3: running-slot-kept-after-$d" "$(guest_status "$T/v3.log" "GUEST-STATUS-AFTER-$d" | grep '^b')" \
                "b good 2 booted"
done
agrees v3 a GUEST-STATUS
expect_eq v3-host-status "$(host_status "$D" a | tr '\n' ' ')" "a good 3 booted b good 2 - "

# --- 3. v4 fails its health check: one try, then back to v3 -----------------------------------
guest_script "$T/g3.sh" 4 "reboot -f" "mkimage-update --tries 1 install /dev/vdb"
boot v4 --fw-cfg guest-script="$T/g3.sh" --attach "$T/v4.mkb"
seen v4 "MKIMAGE-BOOT-OK slot=a version=3" \
        "mkimage-update: commit: slot b's boot entry slot-b+1.efi (its signed UKI in EFI/Linux): version 4 boots next, with 1 tries" \
        "GUEST-INSTALLED" "MKIMAGE-BOOT-OK slot=b version=4" \
        "unhealthy: the application did not come up" "mkimage base: health check unhealthy FAILED" \
        "mkimage base: slot b is not blessed: it falls back after its tries; rebooting" \
        "MKIMAGE-BOOT-OK slot=a version=3" "GUEST-DONE slot=a version=3"
check v4-never-blessed bash -c "! grep -aq 'blessed EFI/Linux/slot-b' '$T/v4.txt'"
check v4-minimum-not-raised bash -c "! grep -aq 'minimum version raised from 3 to 4' '$T/v4.txt'"
agrees v4 a GUEST-STATUS
expect_eq v4-host-status "$(host_status "$D" a | tr '\n' ' ')" "a good 3 booted b bad 4 - "
for b in v2 v3 v4; do echo "    [$SUITE] $b: $(grep -ac '' "$T/$b.txt") console lines" >&2; done
