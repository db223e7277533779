# A factory image under QEMU (OVMF, systemd-boot, TCG), asserted on the serial
# console, each boot bounded by a timeout:
#   own key     SN-BOOT1.img with SN-BOOT1.data-key boots slot a; the boot chain
#               opens the data partition (LUKS2) and the booted root names the
#               serial the factory wrote there (/data/identity/device.yaml)
#   other key   the same image with SN-BOOT2's key: cryptsetup refuses it; the
#               boot chain refuses to boot (a fault of the device, not of slot a:
#               no slot is marked bad) and powers off, nothing boots
. "$(dirname "$0")/../lib/testlib.sh"
cd "$SRC"
RUN="$SRC/qemu-boot/run"
BOOT_TIMEOUT=${QEMU_BOOT_TIMEOUT:-240}

if [ ! -f "$BUILD/components/kernel.comp" ]; then
        fail kernel-component "$BUILD/components/kernel.comp is missing (make components)"
        exit 0
fi

"$MKIMAGE" keygen "$T/brand" >/dev/null
printf 'serial\nSN-BOOT1\nSN-BOOT2\n' >"$T/devices.csv"
O="$T/o"
if ! "$MKIMAGE" factory models/demo-x86_64.yaml --brand-key "$T/brand.key" --devices "$T/devices.csv" -o "$O" \
        >/dev/null 2>"$T/factory.err"; then
        fail factory-build "$(cat "$T/factory.err")"
        exit 0
fi
IMG="$O/SN-BOOT1.img"

boot() { # CHECK NAME KEY TIMEOUT [run options...]: PASS when every --expect matched; console in $T/NAME.log
        local check=$1 name=$2 key=$3 timeout=$4
        shift 4
        if "$RUN" --timeout "$timeout" --data-key "$key" --log "$T/$name.log" "$@" "$IMG" >/dev/null 2>"$T/$name.err"; then
                pass "$check"
        else
                fail "$check" "$(why "$name")"
        fi
}
why() { # NAME: the harness's verdict and the boot chain's lines, for a FAIL message
        grep -a '^qemu-boot/run:' "$T/$1.err" | head -3
        grep -a 'mkimage\|MKIMAGE' "$T/$1.log" | tail -12
}
never() { ! grep -aqE "$2" "$T/$1.log"; } # NAME REGEX

# --- own key: slot a boots with /data open and names its serial -------------------
boot own-key-boots-and-names-serial own "$O/SN-BOOT1.data-key" "$BOOT_TIMEOUT" \
        --expect 'mkimage: data: .* dm table data: 0 [0-9]+ crypt aes-xts-plain64 ' \
        --expect 'MKIMAGE-BOOT-OK slot=a' \
        --expect 'device serial: SN-BOOT1'
check own-key-no-verify-failed never own 'VERIFY FAILED'
check own-key-serial-line-once [ "$(grep -ac 'mkimage base: device serial: ' "$T/own.log")" == 1 ]

# --- another device's key: the data partition stays shut, no slot is blamed -------
boot other-key-refused other "$O/SN-BOOT2.data-key" 120 \
        --expect 'mkimage: BOOT REFUSED: data partition [^ ]+: cryptsetup open failed \(exit status [0-9]+\): wrong key or damaged LUKS2 header' \
        --expect 'mkimage: not a fault of slot a .*: no slot marked bad; powering off'
check other-key-never-boots never other 'MKIMAGE-BOOT-OK|device serial:'
check other-key-no-slot-marked-bad never other 'slot [ab] marked bad:|VERIFY FAILED|slot b: verifying'
