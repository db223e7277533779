# qemu-boot/run, the QEMU boot harness, against a tiny bootable disk built
# here with the real tools, rootless: GPT (sfdisk) with an ESP (mkfs.vfat +
# mtools: systemd-boot, the Debian kernel, a busybox initrd) and a raw 1 MiB
# partition that holds a boot counter. The guest's /init prints
#   HARNESS-HELLO boot=N     N = the counter on /dev/vda2, incremented at boot
#   HARNESS-KEY <sha256>     of fw_cfg opt/mkimage/data-key (or "none")
#   HARNESS-GREETING <text>  fw_cfg opt/mkimage/greeting, if given
# then on boot 1 `reboot -f`; on boot 2 a prompt "HARNESS-PROMPT> " without a
# newline, 5 s of sleep, HARNESS-SECOND and `poweroff -f`.
# Every QEMU run is bounded by --timeout; 1.5-3 min in all under TCG.
. "$(dirname "$0")/../lib/testlib.sh"
. "$SRC/tests/lib/qemulib.sh"

# --- fixture (built once) -------------------------------------------------------
MODS="virtio_ring virtio virtio_blk virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci qemu_fw_cfg"
qemu_kernel $MODS

# The initrd: busybox-static, the modules, /init.
R="$T/initrd"
mkdir -p "$R/bin" "$R/lib/modules" "$R/proc" "$R/sys" "$R/dev"
cp /bin/busybox "$R/bin/busybox"
for m in $MODS; do find "$T/k/lib/modules" -name "$m.ko" -exec cp {} "$R/lib/modules/" \; ; done
cat >"$R/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
die() { echo "HARNESS-ERROR $*"; poweroff -f; }
for m in virtio_ring virtio virtio_blk virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci qemu_fw_cfg; do
        insmod /lib/modules/$m.ko || die "insmod $m"
done
i=0; while [ ! -b /dev/vda2 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
n=$(head -c 1 /dev/vda2) && n=$((n + 1)) || die "no boot counter on /dev/vda2"
printf '%d' $n | dd of=/dev/vda2 bs=1 count=1 conv=notrunc,fsync 2>/dev/null || die "write /dev/vda2"
echo "HARNESS-HELLO boot=$n"
fw=/sys/firmware/qemu_fw_cfg/by_name/opt/mkimage
if [ -e $fw/data-key/raw ]; then echo "HARNESS-KEY $(sha256sum <$fw/data-key/raw | cut -d' ' -f1)"
else echo "HARNESS-KEY none"; fi
[ ! -e $fw/greeting/raw ] || echo "HARNESS-GREETING $(cat $fw/greeting/raw)"
if [ $n -eq 1 ]; then reboot -f; fi
printf 'HARNESS-PROMPT> '
sleep 5
echo
echo HARNESS-SECOND
poweroff -f
EOF
chmod 755 "$R/init"
(cd "$R" && find . | sort | cpio -o -H newc --quiet -R 0:0 | gzip -1) >"$T/initrd.img"

# The disk: GPT, p1 ESP (32 MiB FAT), p2 raw 1 MiB holding the counter "0".
ESP="$T/esp.img"
mkfs.vfat -C -n HARNESS "$ESP" $((32 * 1024)) >/dev/null
mmd -i "$ESP" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries
mcopy -i "$ESP" /usr/lib/systemd/boot/efi/systemd-bootx64.efi ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$ESP" "$T"/k/boot/vmlinuz-* ::/vmlinuz
mcopy -i "$ESP" "$T/initrd.img" ::/initrd.img
printf 'timeout 0\n' >"$T/loader.conf"
printf 'title harness\nlinux /vmlinuz\ninitrd /initrd.img\noptions console=ttyS0\n' >"$T/t.conf"
mcopy -i "$ESP" "$T/loader.conf" ::/loader/loader.conf
mcopy -i "$ESP" "$T/t.conf" ::/loader/entries/t.conf
DISK="$T/disk.img"
truncate -s 40M "$DISK"
sfdisk -q "$DISK" <<'EOF'
label: gpt
start=2048, size=32M, type=U, name=esp
size=1M, type=L, name=counter
EOF
dd if="$ESP" of="$DISK" bs=1M seek=1 conv=notrunc,sparse status=none
printf 0 | dd of="$DISK" bs=1 seek=$((33 << 20)) conv=notrunc status=none
check fixture-counter test "$(dd if="$DISK" bs=1 skip=$((33 << 20)) count=1 status=none)" = 0
SUM_BEFORE=$(sha256sum <"$DISK")
head -c 64 /dev/urandom >"$T/key"
KEY_SUM=$(sha256sum <"$T/key" | cut -d' ' -f1)
echo "hello from the host" >"$T/greeting"

# Every run gets TMPDIR=$T/tmp, which must be empty afterwards (harness, tests/lib/qemulib.sh).
# --- (1)(2) in order across a reboot, the data key, --fw-cfg, --log, a partial line
harness boot --timeout 120 --verbose --data-key "$T/key" --fw-cfg greeting="$T/greeting" --log "$T/boot.log" \
        --expect 'HARNESS-HELLO boot=1' --expect 'HARNESS-KEY ' --expect 'HARNESS-HELLO boot=2' \
        --expect '^HARNESS-PROMPT> $' "$DISK"
expect_eq boot-exit-0 "$(cat "$T/boot.rc")" 0
expect_eq boot-all-matched "$(grep -c ': matched "' "$T/boot.err")" 4
# systemd-boot as Debian ships it is not signed: OVMF_CODE_4M.fd, and -v says why.
expect_eq boot-secure-boot-off "$(head -n 1 "$T/boot.err")" \
        "qemu-boot/run: Secure Boot off (the image is not signed: EFI/BOOT/BOOTX64.EFI on its ESP has no Authenticode signature)"
expect_eq boot-key-sha256 "$(console boot | awk '/^HARNESS-KEY/ { print $2; exit }')" "$KEY_SUM"
expect_eq boot-fw-cfg "$(console boot | grep -m1 '^HARNESS-GREETING')" "HARNESS-GREETING hello from the host"
# Both boots went through OVMF and systemd-boot in the same QEMU process.
expect_eq boot-reboot-via-firmware "$(grep -ac 'BdsDxe: starting' "$T/boot.out")" 2
# Stopped at the prompt (no newline yet), not at the poweroff 5 s later.
check boot-stops-at-match bash -c '! grep -aq HARNESS-SECOND "$1"' _ "$T/boot.out"
check boot-log-has-stdout cmp -s -n "$(stat -c %s "$T/boot.out")" "$T/boot.out" "$T/boot.log"
check boot-escapes-kept grep -aq $'\e\\[' "$T/boot.out"

# --- (4) order matters: HELLO comes twice, both before SECOND, never after it
harness order --timeout 120 --expect HARNESS-SECOND --expect HARNESS-HELLO "$DISK"
expect_eq order-exit-1 "$(cat "$T/order.rc")" 1
expect_eq order-message "$(head -n 1 "$T/order.err")" 'qemu-boot/run: QEMU exited before "HARNESS-HELLO" appeared'
expect_eq order-hello-was-there "$(console order | grep -E '^HARNESS-(HELLO|SECOND)' | cut -d' ' -f1 | tr '\n' ' ')" \
        "HARNESS-HELLO HARNESS-HELLO HARNESS-SECOND "
check order-qemu-status grep -qx 'qemu-boot/run: QEMU exit status: 0' "$T/order.err"
check order-console-tail grep -q '^HARNESS-SECOND' "$T/order.err"
check order-tail-40-lines test "$(sed -n '/last 40 console lines:$/,$p' "$T/order.err" | wc -l)" -eq 41

# --- --no-reboot, and a line is matched once: one boot has one HELLO
harness noreboot --timeout 120 --no-reboot --expect HARNESS-HELLO --expect HARNESS-HELLO "$DISK"
expect_eq noreboot-exit-1 "$(cat "$T/noreboot.rc")" 1
expect_eq noreboot-message "$(head -n 1 "$T/noreboot.err")" 'qemu-boot/run: QEMU exited before "HARNESS-HELLO" appeared'
expect_eq noreboot-one-boot "$(console noreboot | grep -c '^HARNESS-HELLO')" 1
check noreboot-no-key grep -q '^HARNESS-KEY none' <(console noreboot)

# --- without --expect: QEMU's own exit status (0 when -no-reboot turns the
# guest's reboot -f into QEMU's exit; 0 after poweroff -f, see order-qemu-status)
harness noexpect --timeout 120 --no-reboot "$DISK"
expect_eq noexpect-exit-0 "$(cat "$T/noexpect.rc")" 0
check noexpect-ran-to-reboot grep -q '^HARNESS-KEY none' <(console noexpect)

# --- (3) an expect that never comes: timeout, message and console tail
harness timeout --timeout 6 --expect HARNESS-HELLO --expect NEVER-APPEARS "$DISK"
expect_eq timeout-exit-124 "$(cat "$T/timeout.rc")" 124
expect_eq timeout-message "$(head -n 1 "$T/timeout.err")" 'qemu-boot/run: timeout after 6 s waiting for "HARNESS-HELLO"'
check timeout-console-tail grep -q 'last 40 console lines:' "$T/timeout.err"
check timeout-within-bounds awk -v t="$(cat "$T/timeout.time")" 'BEGIN { exit !(t >= 6 && t < 15) }'

# --- killed harness: QEMU and the temp dir go too
TMPDIR="$T/tmp" "$RUN" --timeout 60 "$DISK" >/dev/null 2>&1 &
pid=$!
sleep 3
kill -TERM $pid
rc=0; wait $pid || rc=$?
expect_eq sigterm-exit "$rc" 143
check sigterm-no-temp-files only_files "$T/tmp"
check sigterm-no-qemu bash -c '! pgrep -f "qemu-system-x86_64.*$1/" >/dev/null' _ "$T/tmp"

# --- (5) the image was never written
expect_eq image-unchanged "$(sha256sum <"$DISK")" "$SUM_BEFORE"

# --- (7) errors up front
expect_run missing-image 2 "qemu-boot/run: $T/nope.img: no such readable image file" "$RUN" "$T/nope.img"
expect_run missing-data-key 2 "qemu-boot/run: --data-key $T/nokey: no such readable file" \
        "$RUN" --data-key "$T/nokey" "$DISK"
expect_run missing-fw-cfg-file 2 "qemu-boot/run: --fw-cfg x: $T/nofile: no such readable file" \
        "$RUN" --fw-cfg x="$T/nofile" "$DISK"
expect_run bad-log 2 "qemu-boot/run: --log $T/nodir/x: cannot write there" "$RUN" --log "$T/nodir/x" "$DISK"
expect_run bad-option 2 "qemu-boot/run: unknown option '--expcet' (see --help)" "$RUN" --expcet x "$DISK"
expect_run bad-timeout 2 "qemu-boot/run: --timeout wants a whole number of seconds > 0, not 'soon'" \
        "$RUN" --timeout soon "$DISK"
expect_run bad-regex 2 "qemu-boot/run: --expect: not a valid extended regex: a(" "$RUN" --expect 'a(' "$DISK"
expect_run no-qemu 2 "qemu-boot/run: qemu-system-x86_64 not found: apt-get install qemu-system-x86 qemu-utils ovmf" \
        env PATH=/nonexistent /bin/bash "$RUN" "$DISK"
expect_run missing-attach 2 "qemu-boot/run: --attach $T/nope.mkb: no such readable file" \
        "$RUN" --attach "$T/nope.mkb" "$DISK"
expect_run bad-power-cut-at 2 "qemu-boot/run: --power-cut-at wants N, byte:B or step:NAME (+synced), not 'soon'" \
        "$RUN" --power-cut-at soon "$DISK"
expect_run power-cut-at-twice 2 "qemu-boot/run: --power-cut-at given twice" \
        "$RUN" --power-cut-at 3 --power-cut-at step:root "$DISK"
expect_run help 0 "" "$RUN" --help
check help-exit-codes grep -q '^  124  timeout' "$T/out"
check errors-no-temp-files only_files "$T/tmp"

for r in boot order noreboot noexpect; do echo "    [qemu-run] $r: $(cat "$T/$r.time") s" >&2; done
sed 's/^/    [qemu-run] /' "$T/boot.err" >&2
