# The Debian device under QEMU (models/debian-x86_64.yaml: signed UKIs under
# Secure Boot, the Debian root run by systemd, read-only; the machine is new
# in each scenario: systemd-boot enrols the development keys first). Two
# QEMU at a time, each run bounded.
#   good     to multi-user.target; hellod-health passed, boot-complete.target,
#            systemd-bless-boot blessed slot a, then (not before) the minimum
#            was raised to 1 and MKIMAGE-BOOT-OK; / is the read-only squashfs,
#            /var on /data, /tmp a tmpfs, no failed unit. Rebooted: the same
#            machine id, the journal holds both boots
#   health   version 2 with a hellod that does not come up, installed into
#            slot b with one try: b boots, its health check fails,
#            boot-complete.target is not reached, b is not blessed and the
#            minimum stays 1; the next boot is slot a
#   tamper   one flipped byte in root-a: the verifier refuses slot a before
#            systemd runs, slot b boots
# Offline: mkimage verify and systemd-dissect accept the image; two builds
# give identical root partitions.
. "$(dirname "$0")/../lib/testlib.sh"
. "$SRC/tests/lib/updatelib.sh"
C="$BUILD/components"
SB_CERT="$BUILD/keys/sb/db.crt"
DATA_KEY="$BUILD/keys/data.key"
TIMEOUT=${QEMU_BOOT_TIMEOUT:-600}
for c in debian systemd-device hellod kernel; do
        if [ ! -f "$C/$c.comp" ]; then
                fail fixture "$C/$c.comp is missing (make components)"
                exit 0
        fi
done
[ -f "$DATA_KEY" ] || { umask 077 && head -c 64 /dev/urandom >"$DATA_KEY"; }

# dmodel VERSION [HELLOD.comp]: the Debian model at VERSION (with another hellod), in models/ so
# that its relative paths resolve; removed on exit (updatelib).
dmodel() {
        local f="$SRC/models/.test-$SUITE-$$-$1.yaml"
        sed -e "s/^version: 1$/version: $1/" ${2:+-e "s|file: ../build/components/hellod.comp|file: $2|"} \
                models/debian-x86_64.yaml >"$f"
        echo "$f"
}
M1=$(dmodel 1)
IMG="$T/debian.img"
if ! "$MKIMAGE" build "$M1" --data-key "$DATA_KEY" -o "$IMG" >/dev/null 2>"$T/build.err"; then
        fail build "$(cat "$T/build.err")"
        exit 0
fi
pass build
check verify verify_img "$IMG"
SOURCE_DATE_EPOCH=1767225600 "$MKIMAGE" build "$M1" --data-key "$DATA_KEY" -o "$T/again.img" >/dev/null 2>&1
expect_eq root-a-reproducible "$(slot_sum "$T/again.img" root-a)" "$(slot_sum "$IMG" root-a)"
rm -f "$T/again.img"*
if systemd-dissect "$IMG" >"$T/dissect" 2>&1; then
        check dissect-sees-the-root grep -q "IMAGE_ID=debian-x86_64\$" "$T/dissect"
else
        fail dissect-sees-the-root "$(cat "$T/dissect")"
fi

# hellod 1.0.1: its configuration sets no greeting, the service refuses to start.
mkdir -p "$T/bad"
components/hellod/build.sh "$T/bad/tree" >/dev/null
sed -i '/^greeting/d' "$T/bad/tree/etc/hellod.conf"
sed 's/^version: 1.0.0$/version: 1.0.1/' components/hellod/component.yaml >"$T/bad/meta.yaml"
"$MKIMAGE" component pack "$T/bad/tree" --meta "$T/bad/meta.yaml" -o "$T/bad/hellod.comp" >/dev/null &&
        "$MKIMAGE" sign "$T/bad/hellod.comp" --key "$KEY" >/dev/null
M2=$(dmodel 2 "$T/bad/hellod.comp")
cp --sparse=always "$IMG" "$T/health.img"
if "$MKIMAGE" bundle "$M2" -o "$T/v2.mkb" >/dev/null 2>"$T/bundle.err" &&
        upd "$T/health.img" --booted a --tries 1 install "$T/v2.mkb" >"$T/install.out" 2>&1; then
        pass health-v2-installed
else
        fail health-v2-installed "$(cat "$T/bundle.err" "$T/install.out")"
fi

cp --sparse=always "$IMG" "$T/tamper.img"
read -r off size < <(part_offset "$T/tamper.img" root-a)
python3 - "$T/tamper.img" $((off + size / 4)) <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0xff]))
PY

# The guest script (run by mkimage-boot-assess after MKIMAGE-BOOT-OK): what the booted system
# looks like, GUEST lines; the first boot of "good" reboots, every other boot powers off.
cat >"$T/guest.sh" <<'EOS'
n=$(cat /data/test-boots 2>/dev/null || echo 0); n=$((n + 1)); echo $n >/data/test-boots; sync
echo "GUEST boot=$n slot=$(cat /run/mkimage/slot) machine-id=$(cat /etc/machine-id)"
echo "GUEST failed-units=$(systemctl list-units --failed --plain --no-legend | wc -l)"
systemctl list-units --failed --plain --no-legend | sed 's/^/GUEST failed: /'
echo "GUEST root=$(findmnt -no FSTYPE,SOURCE /) $(findmnt -no OPTIONS / | cut -d, -f1)"
echo "GUEST var=$(findmnt -no SOURCE /var) tmp=$(findmnt -no FSTYPE /tmp)"
if touch /usr/.probe /etc/.probe 2>/dev/null; then echo "GUEST root-writable"; else echo "GUEST root-read-only"; fi
echo "GUEST min=$(cat /data/mkimage/min-version) entries=$(echo $(ls /efi/EFI/Linux))"
echo "GUEST journal-boots=$(journalctl --list-boots --no-pager -q | wc -l) boot-ok-last-boot=$(journalctl -b -1 -q --no-pager -o cat -t boot-assess 2>/dev/null | grep -c MKIMAGE-BOOT-OK)"
echo "GUEST last-boot hellod: $(journalctl -b -1 -q --no-pager -o cat -u hellod.service 2>/dev/null | grep -m1 'greeting')"
echo "GUEST health: $(journalctl -b 0 -q --no-pager -o cat -t health | grep -m1 'hellod health')"
echo "GUEST multi-user=$(systemctl is-active multi-user.target) boot-complete=$(systemctl is-active boot-complete.target)"
bless=$(systemctl show -P ExecMainExitTimestampMonotonic systemd-bless-boot.service)
assess=$(systemctl show -P ExecMainStartTimestampMonotonic mkimage-boot-assess.service)
echo "GUEST bless=$(systemctl show -P ActiveState systemd-bless-boot.service) $([ "${bless:-0}" -gt 0 ] && [ "$bless" -lt "$assess" ] && echo before-assess)"
if [ "$n" = 1 ] && [ -e /data/test-reboot ]; then systemctl --no-block reboot; else systemctl --no-block poweroff; fi
EOS
cat >"$T/reboot-once.sh" <<'EOS'
touch /data/test-reboot
EOS
cat "$T/reboot-once.sh" "$T/guest.sh" >"$T/guest-good.sh"

boot() { # NAME IMAGE GUEST-SCRIPT --expect...: a new machine, in place on IMAGE
        local name=$1 img=$2 gs=$3
        shift 3
        TMPDIR="$T" "$RUN" --timeout "$TIMEOUT" --in-place --vars "$T/$name.vars" --data-key "$DATA_KEY" \
                --fw-cfg guest-script="$gs" --log "$T/$name.log" "$@" "$img" >/dev/null 2>"$T/$name.err"
        echo $? >"$T/$name.rc"
}
why() { # NAME: the harness's verdict and the lines that matter
        grep -a '^qemu-boot/run:' "$T/$1.err" | head -3
        tr -d '\r' <"$T/$1.log" | grep -a 'mkimage\|MKIMAGE\|GUEST\|hellod\|FAILED\|Failed' | tail -25
}
line() { tr -d '\r' <"$T/$1.log" | grep -a "$2" | sed -n "${3:-1}p"; } # NAME PATTERN [N]

cp --sparse=always "$IMG" "$T/good.img"
boot good "$T/good.img" "$T/guest-good.sh" \
        --expect 'mkimage: root of slot a verified' \
        --expect 'mkimage-update: mark-good: minimum version raised from 0 to 1' \
        --expect 'MKIMAGE-BOOT-OK slot=a version=1' \
        --expect 'GUEST boot=1' \
        --expect 'MKIMAGE-BOOT-OK slot=a version=1' \
        --expect 'GUEST journal-boots' &
boot health "$T/health.img" "$T/guest.sh" \
        --expect 'mkimage: switching to the root of slot b \(version 2\)' \
        --expect 'mkimage systemd: failed: hellod.service' \
        --expect 'boot-complete.target was not reached: slot b is not blessed' \
        --expect 'mkimage: switching to the root of slot a \(version 1\)' \
        --expect 'MKIMAGE-BOOT-OK slot=a version=1' \
        --expect 'GUEST bless' &
wait
if [ "$(cat "$T/good.rc")" = 0 ]; then pass good-boot; else fail good-boot "$(why good)"; fi
# systemd-bless-boot blessed the entry (it ran, and ended before mkimage-boot-assess raised the minimum)
expect_eq good-bless-before-minimum "$(line good 'GUEST bless' | sed 's/.*GUEST //')" "bless=active before-assess"
expect_eq good-multi-user "$(line good 'GUEST multi-user' | sed 's/.*GUEST //')" "multi-user=active boot-complete=active"
expect_eq good-no-failed-units "$(line good 'GUEST failed-units' | sed 's/.*GUEST //')" "failed-units=0"
expect_eq good-root-read-only "$(line good 'GUEST root' | sed 's/.*GUEST //')" "root=squashfs /dev/mapper/root ro"
expect_eq good-root-not-writable "$(line good 'GUEST root-' | sed 's/.*GUEST //')" "root-read-only"
expect_eq good-var-data-tmp-tmpfs "$(line good 'GUEST var' | sed 's/.*GUEST //')" "var=/dev/mapper/data[/var] tmp=tmpfs"
expect_eq good-blessed-minimum "$(line good 'GUEST min' | sed 's/.*GUEST //')" "min=1 entries=slot-a.efi slot-b+3.efi"
id1=$(line good 'GUEST boot=1' | sed -n 's/.*machine-id=//p')
id2=$(line good 'GUEST boot=2' | sed -n 's/.*machine-id=//p')
check good-machine-id-made [ "${#id1}" = 32 ]
expect_eq good-machine-id-kept "$id2" "$id1"
expect_eq good-journal-persisted "$(line good 'GUEST journal-boots' 2 | sed 's/.*GUEST //')" \
        "journal-boots=2 boot-ok-last-boot=1"
expect_eq good-health-check-ran "$(line good 'GUEST health' | sed 's/.*GUEST //')" "health: hellod health: ok ('hello from a Debian device')"
if [ "$(cat "$T/health.rc")" = 0 ]; then pass health-falls-back; else fail health-falls-back "$(why health)"; fi
expect_eq health-why "$(line health 'GUEST last-boot hellod' | sed 's/.*GUEST //')" \
        "last-boot hellod: hellod: /etc/hellod.conf sets no greeting (add a line 'greeting = TEXT')"
check health-b-never-blessed bash -c "! tr -d '\r' <'$T/health.log' | grep -aq 'MKIMAGE-BOOT-OK slot=b'"
expect_eq health-minimum-kept "$(line health 'GUEST min' | sed 's/.*GUEST //')" "min=1 entries=slot-a.efi slot-b+0-1.efi"

boot tamper "$T/tamper.img" "$T/guest.sh" \
        --expect 'mkimage: VERIFY FAILED: root of slot a does not match its manifest' \
        --expect 'mkimage: switching to the root of slot b \(version 1\)' \
        --expect 'MKIMAGE-BOOT-OK slot=b version=1' \
        --expect 'GUEST bless'
if [ "$(cat "$T/tamper.rc")" = 0 ]; then pass tamper-falls-back; else fail tamper-falls-back "$(why tamper)"; fi
check tamper-systemd-never-ran-a bash -c "! tr -d '\r' <'$T/tamper.log' | sed -n '1,/switching to the root of slot b/p' | grep -aq 'switching to the root of slot a'"
mkdir -p "$BUILD/logs/$SUITE" # the consoles, for a look after a failure
for n in good health tamper; do
        tr -d '\r' <"$T/$n.log" >"$BUILD/logs/$SUITE/$n.log"
        echo "    [$SUITE] $n: $(tr -d '\r' <"$T/$n.log" | grep -ac '') console lines" >&2
done
