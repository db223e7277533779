# Updates that boot (docs/update.md), under QEMU: a v1 demo image gets v2
# into slot b by mkimage-update on the host (--disk); booted in place, the
# device starts slot b at version 2, blesses it and raises its minimum; the
# updater then sees b good and installs v3 into slot a, which boots next; a
# v4 whose root is damaged after the install is refused by the verifier at
# boot and the device falls back to slot a, v3, by itself.
. "$(dirname "$0")/../lib/testlib.sh"
. "$(dirname "$0")/../lib/updatelib.sh"
D="$T/dev.img"
for v in 2 3 4; do "$MKIMAGE" bundle "$(model $v)" -o "$T/v$v.mkb" >/dev/null; done
"$MKIMAGE" build models/demo-x86_64.yaml --data-key "$DATA_KEY" -o "$D" >/dev/null
rm -f "$D".manifest*.yaml* "$D.bmap"
echo 1 >"$T/poweroff"

boot() { # NAME: boot the disk in place until the guest powers off; console in $T/NAME.log
        "$RUN" --in-place --timeout "$BOOT_TIMEOUT" --data-key "$DATA_KEY" --vars "$T/dev.vars" --fw-cfg poweroff="$T/poweroff" \
                --log "$T/$1.log" "$D" >/dev/null 2>"$T/$1.err" || true
        tr -d '\r' <"$T/$1.log" >"$T/$1.txt"
}
seen() { # NAME LINE: the console of boot NAME has LINE (a fixed string)
        if grep -aqF -- "$2" "$T/$1.txt"; then pass "$1: $2"; else
                fail "$1: $2" "not on the console; last lines: $(grep -a 'mkimage\|MKIMAGE' "$T/$1.txt" | tail -5 | tr '\n' '|')"
        fi
}
state() { # BOOTED SLOT: the slot's state and version as status --json says
        "$UPD" --disk "$D" --pub "$PUB" --booted "$1" status --json |
                python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["slots"][ord(sys.argv[1])-97]; print(s["state"], s["version"])' "$2"
}

check install-v2 "$UPD" --disk "$D" --pub "$PUB" --booted a install "$T/v2.mkb"
boot v2
seen v2 "MKIMAGE-BOOT-OK slot=b version=2"
seen v2 "mkimage-update: mark-good: blessed EFI/Linux/slot-b+2-1.efi -> slot-b.efi"
seen v2 "mkimage-update: mark-good: minimum version raised from 0 to 2 (/data/mkimage/min-version)"
expect_eq status-after-v2-boot "$(state b b)" "good 2"

check install-v3 "$UPD" --disk "$D" --pub "$PUB" --booted b --min-version 2 install "$T/v3.mkb"
boot v3
seen v3 "MKIMAGE-BOOT-OK slot=a version=3"
expect_eq status-after-v3-boot "$(state a a)" "good 3"
expect_eq status-b-kept "$(state a b)" "good 2"

# v4 into slot b, then one byte of slot b's root changed on the disk: the verifier refuses it
check install-v4 "$UPD" --disk "$D" --pub "$PUB" --booted a --min-version 3 install "$T/v4.mkb"
read -r rs _ < <(part_offset "$D" root-b)
python3 -c 'import sys; f=open(sys.argv[1],"r+b"); f.seek(int(sys.argv[2])); b=f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0]^1]))' "$D" $((rs + 600000))
boot v4
seen v4 "mkimage: VERIFY FAILED"
seen v4 "MKIMAGE-BOOT-OK slot=a version=3"
expect_eq status-after-fallback "$(state a b)" "bad 4"
for b in v2 v3 v4; do echo "    [update-boot] $b: $(grep -ac '' "$T/$b.txt") console lines" >&2; done
