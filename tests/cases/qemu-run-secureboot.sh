# qemu-boot/run with Secure Boot, a kept variable store, power cycles on the
# firmware's dead end and a TPM, against disks signed here by hand
# (tests/lib/sbdisk.sh): systemd-boot and a UKI signed with our own db, the
# keys in loader/keys/auto for systemd-boot's `secure-boot-enroll force`.
# The UKI's initrd prints
#   SB-TEST SecureBoot=<byte> SetupMode=<byte>     the EFI variables
#   SB-TEST TPM pcr7=<hex> pcr11=<hex>             (or "SB-TEST TPM none")
# then `poweroff -f`. Every QEMU run is bounded by --timeout; 1.5-2 min
# in all under TCG on an idle machine.
. "$(dirname "$0")/../lib/testlib.sh"
. "$SRC/tests/lib/qemulib.sh"
. "$SRC/tests/lib/sbdisk.sh"

# --- fixture ------------------------------------------------------------------
for t in openssl cert-to-efi-sig-list sign-efi-sig-list sbsign sbverify objcopy swtpm; do
        command -v $t >/dev/null || { fail fixture "$t not found (make deps installs it)"; exit 1; }
done
qemu_kernel efivarfs
R="$T/initrd"
mkdir -p "$R/bin" "$R/lib/modules" "$R/proc" "$R/sys" "$R/dev"
cp /bin/busybox "$R/bin/busybox"
find "$T/k/lib/modules" -name efivarfs.ko -exec cp {} "$R/lib/modules/" \;
cat >"$R/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
insmod /lib/modules/efivarfs.ko && mount -t efivarfs efivarfs /sys/firmware/efi/efivars
# an EFI variable's file: 4 bytes of attributes, then the value
var() { set -- $(od -An -t x1 /sys/firmware/efi/efivars/$1-8be4df61-93ca-11d2-aa0d-00e098032b8c); echo ${5:-none}; }
echo "SB-TEST SecureBoot=$(var SecureBoot) SetupMode=$(var SetupMode)"
t=/sys/class/tpm/tpm0
if [ -e $t ]; then echo "SB-TEST TPM pcr7=$(cat $t/pcr-sha256/7) pcr11=$(cat $t/pcr-sha256/11)"
else echo "SB-TEST TPM none"; fi
poweroff -f
EOF
chmod 755 "$R/init"
(cd "$R" && find . | sort | cpio -o -H newc --quiet -R 0:0 | gzip -1) >"$T/initrd.img"
if sb_keys "$T/keys" && sb_uki "$T/uki.efi" "$T"/k/boot/vmlinuz-* "$T/initrd.img" console=ttyS0 &&
        sb_sign "$T/keys" "$T/uki.efi" "$T/uki.signed.efi" && sb_disk "$T/signed.img" "$T/keys" "$T/uki.signed.efi" >/dev/null &&
        sb_disk "$T/unsigned.img" "$T/keys" "$T/uki.efi" >/dev/null; then
        pass fixture
else
        fail fixture "could not make the keys, the UKI or the disks"
        exit 1
fi
check fixture-uki-signed bash -c 'sbverify --cert "$1" "$2" 2>/dev/null | grep -qx "Signature verification OK"' \
        _ "$T/keys/db.crt" "$T/uki.signed.efi"
# PCR 11 as systemd-stub 252 measures it: for .linux .osrel .cmdline .initrd,
# extend sha256(name NUL), then sha256(the section's bytes).
for s in linux osrel cmdline initrd; do objcopy -O binary --only-section=.$s "$T/uki.signed.efi" "$T/sec.$s"; done
PCR11=$(python3 - "$T" <<'PY'
import hashlib, sys
pcr = bytes(32)
for s in ["linux", "osrel", "cmdline", "initrd"]:
    for data in [("." + s).encode() + b"\0", open(f"{sys.argv[1]}/sec.{s}", "rb").read()]:
        pcr = hashlib.sha256(pcr + hashlib.sha256(data).digest()).digest()
print(pcr.hex().upper())
PY
)
SIGNED_SUM=$(sha256sum <"$T/signed.img")
UNSIGNED_SUM=$(sha256sum <"$T/unsigned.img")
SIGNED_LINE="qemu-boot/run: Secure Boot on (the image is signed: EFI/BOOT/BOOTX64.EFI on its ESP carries an Authenticode signature)"
SB_OK="SB-TEST SecureBoot=01 SetupMode=00"

# --- (a) a new --vars file: setup mode, systemd-boot enrols and resets, then SB
harness enrol --timeout 150 -v --vars "$T/vars.fd" --expect 'Enrolling secure boot keys' --expect '^SB-TEST TPM' "$T/signed.img"
expect_eq enrol-exit-0 "$(cat "$T/enrol.rc")" 0
expect_eq enrol-mode-signed "$(head -n 1 "$T/enrol.err")" "$SIGNED_LINE"
expect_eq enrol-secure-boot-on "$(console enrol | grep '^SB-TEST SecureBoot')" "$SB_OK"
check enrol-stub-says-so grep -aq 'EFI stub: UEFI Secure Boot is enabled.' "$T/enrol.out"
# the reset after the enrolment went back through the firmware in the same QEMU
expect_eq enrol-reset-continued "$(grep -ac 'BdsDxe: starting' "$T/enrol.out")" 2
expect_eq enrol-no-power-cycle "$(grep -c 'power cycle' "$T/enrol.err")" 0
expect_eq enrol-no-tpm "$(console enrol | grep '^SB-TEST TPM')" "SB-TEST TPM none"
check enrol-vars-kept-keys grep -aq 'mkimage test db' "$T/vars.fd"
check enrol-vars-size test "$(stat -c %s "$T/vars.fd")" = "$(stat -c %s /usr/share/OVMF/OVMF_VARS_4M.fd)"

# --- (b) the same --vars again: the keys are there, no enrolment, one boot
harness again --timeout 90 -v --vars "$T/vars.fd" --expect '^SB-TEST TPM' "$T/signed.img"
expect_eq again-exit-0 "$(cat "$T/again.rc")" 0
expect_eq again-secure-boot-on "$(console again | grep '^SB-TEST SecureBoot')" "$SB_OK"
expect_eq again-no-enrolment "$(grep -ac 'Enrolling secure boot keys' "$T/again.out")" 0
expect_eq again-one-boot "$(grep -ac 'BdsDxe: starting' "$T/again.out")" 1

# --- (c) the only UKI unsigned: refused, the firmware's dead end, power cycles
# on the same disk (the boot counter goes on across them), then status 1
cp "$T/vars.fd" "$T/vars-c.fd"
harness deadend --timeout 150 -v --vars "$T/vars-c.fd" --tpm "$T/tpm-c" --power-cycles 1 \
        --expect '^SB-TEST' "$T/unsigned.img"
expect_eq deadend-exit-1 "$(cat "$T/deadend.rc")" 1
expect_eq deadend-mode-signed "$(head -n 1 "$T/deadend.err")" "$SIGNED_LINE"
expect_eq deadend-power-cycle "$(grep 'power cycle' "$T/deadend.err")" \
        "qemu-boot/run: power cycle 1: the firmware found nothing to boot"
check deadend-gives-up grep -qx \
        'qemu-boot/run: the firmware found nothing to boot on power-on 2: giving up (--power-cycles 1)' "$T/deadend.err"
expect_eq deadend-refused-same-disk \
        "$(console deadend | grep -ao 'Error loading [^ ]*: Access Denied' | cut -d' ' -f3 | tr '\n' ' ')" \
        '\EFI\Linux\t+2-1.efi: \EFI\Linux\t+1-2.efi: \EFI\Linux\t+0-3.efi: \EFI\Linux\t+0-4.efi: '
expect_eq deadend-two-dead-ends "$(grep -ac "BdsDxe: No bootable option or device was found" "$T/deadend.out")" 2
expect_eq deadend-never-booted "$(console deadend | grep -c '^SB-TEST')" 0
check deadend-tpm-state test -s "$T/tpm-c/tpm2-00.permall"
expect_eq deadend-image-unchanged "$(sha256sum <"$T/unsigned.img")" "$UNSIGNED_SUM"

# --- (d) --tpm and --no-reboot on a new --vars: the enrolment reset starts
# QEMU (and swtpm) again; the guest sees the TPM, PCR 11 as computed here
harness tpm --timeout 150 -v --no-reboot --vars "$T/vars-d.fd" --tpm "$T/tpm-d" --expect '^SB-TEST TPM' "$T/signed.img"
expect_eq tpm-exit-0 "$(cat "$T/tpm.rc")" 0
check tpm-enrolment-restart grep -qx \
        'qemu-boot/run: the guest reset after enrolling Secure Boot keys: starting QEMU again (--no-reboot)' "$T/tpm.err"
expect_eq tpm-secure-boot-on "$(console tpm | grep '^SB-TEST SecureBoot')" "$SB_OK"
expect_eq tpm-pcr11 "$(console tpm | sed -n 's/^SB-TEST TPM pcr7=[0-9A-F]\{64\} pcr11=//p')" "$PCR11"
check tpm-pcr7-measured bash -c '! grep -q "^SB-TEST TPM pcr7=0\{64\} " <(tr -d "\r" <"$1")' _ "$T/tpm.out"
check tpm-state-kept test -s "$T/tpm-d/tpm2-00.permall"
expect_eq tpm-image-unchanged "$(sha256sum <"$T/signed.img")" "$SIGNED_SUM"

# --- a killed harness takes swtpm along too
TMPDIR="$T/tmp" "$RUN" --timeout 60 --tpm "$T/tpm-k" "$T/signed.img" >/dev/null 2>&1 &
pid=$!
sleep 3
check sigterm-swtpm-was-running bash -c 'pgrep -f "swtpm.*$1/" >/dev/null' _ "$T/tmp"
kill -TERM $pid
rc=0; wait $pid || rc=$?
expect_eq sigterm-exit "$rc" 143
check sigterm-no-temp-files only_files "$T/tmp"
check sigterm-no-swtpm bash -c '! pgrep -f "(swtpm|qemu-system-x86_64).*$1/" >/dev/null' _ "$T/tmp"

# --- the mode chosen and why (-v), a second of QEMU each
truncate -s 1M "$T/blank.img"
harness nosb --timeout 1 -v --no-secure-boot --expect NEVER "$T/signed.img"
expect_eq nosb-says-so "$(head -n 1 "$T/nosb.err")" "qemu-boot/run: Secure Boot off (--no-secure-boot)"
harness forced --timeout 1 -v --secure-boot --expect NEVER "$T/blank.img"
expect_eq forced-says-so "$(head -n 1 "$T/forced.err")" "qemu-boot/run: Secure Boot on (--secure-boot)"
harness blank --timeout 1 -v --expect NEVER "$T/blank.img"
expect_eq blank-says-why "$(head -n 1 "$T/blank.err")" "qemu-boot/run: Secure Boot off (the image is not signed: no partition table)"
for r in nosb forced blank; do expect_eq $r-timeout "$(cat "$T/$r.rc")" 124; done

# --- (e) usage errors, before anything is made
expect_run bad-power-cycles 2 "qemu-boot/run: --power-cycles wants a whole number from 0 to 9999, not 'many'" \
        "$RUN" --power-cycles many "$T/signed.img"
expect_run negative-power-cycles 2 "qemu-boot/run: --power-cycles wants a whole number from 0 to 9999, not '-1'" \
        "$RUN" --power-cycles -1 "$T/signed.img"
expect_run vars-missing-dir 2 "qemu-boot/run: --vars $T/nodir/vars.fd: cannot create it: $T/nodir is not a writable directory" \
        "$RUN" --vars "$T/nodir/vars.fd" "$T/signed.img"
expect_run vars-a-dir 2 "qemu-boot/run: --vars $T/keys: not a readable and writable file" "$RUN" --vars "$T/keys" "$T/signed.img"
expect_run vars-wrong-size 2 \
        "qemu-boot/run: --vars $T/keys/db.crt: $(stat -c %s "$T/keys/db.crt") bytes, not a variable store like /usr/share/OVMF/OVMF_VARS_4M.fd ($(stat -c %s /usr/share/OVMF/OVMF_VARS_4M.fd) bytes)" \
        "$RUN" --vars "$T/keys/db.crt" "$T/signed.img"
expect_run tpm-missing-dir 2 "qemu-boot/run: --tpm $T/nodir/tpm: cannot create it: $T/nodir is not a writable directory" \
        "$RUN" --tpm "$T/nodir/tpm" "$T/signed.img"
expect_run tpm-a-file 2 "qemu-boot/run: --tpm $T/keys/db.crt: not a readable and writable directory" \
        "$RUN" --tpm "$T/keys/db.crt" "$T/signed.img"
expect_run secure-boot-value 2 "qemu-boot/run: --secure-boot takes no argument (see --help)" \
        "$RUN" --secure-boot=yes "$T/signed.img"
check errors-made-nothing test ! -e "$T/nodir"
expect_run help 0 "" "$RUN" --help
check help-power-cycles grep -q '(default 3); once more ends the run with status 1' "$T/out"
check errors-no-temp-files only_files "$T/tmp"

for r in enrol again deadend tpm; do echo "    [qemu-run-secureboot] $r: $(cat "$T/$r.time") s" >&2; done
