#!/bin/bash
# Hostile disk images (issue 25): crafted partition tables and ESPs against
# `inspect` and `verify`. Each class must be refused with exit 1 and its one
# exact message, within a second and 64 MiB of memory (the peak of mkimage
# and the tools it starts), and again under ASan+UBSan and valgrind without a
# report. The GPT cases are made by tests/bad/images/craft-gpt.py (it re-seals
# every CRC, so only the named property is wrong); the ESP cases with mtools.
# The demo image they start from passes first, so every refusal is the
# crafted property's.
source "$(dirname "$0")/../lib/testlib.sh"
cd "$SRC"
export MTOOLS_SKIP_CHECK=1

PUB="$BUILD/keys/dev.pub"
GOOD="$T/good.img"
CRAFT="$SRC/tests/bad/images/craft-gpt.py"
ASAN="$BUILD/asan/mkimage"
MEM_KIB=$((64 * 1024))

# A type #1 image (secure-boot: off): its ESP holds the text entries the matrix crafts; the signed
# UKIs' own hostile cases are in secureboot.sh.
demo_model "$T/off.yaml" off
if ! "$MKIMAGE" build "$T/off.yaml" --data-key "$DATA_KEY" -o "$GOOD" >"$T/build.out" 2>&1; then
        fail build-demo "$(cat "$T/build.out")"
        exit 0
fi
check good-inspect "$MKIMAGE" inspect "$GOOD" >/dev/null
check good-verify "$MKIMAGE" verify "$GOOD" --pub "$PUB" >/dev/null
read -r ESP_OFF ESP_SIZE < <(part_offset "$GOOD" esp)

# copy NAME: a fresh copy of the good image (and its manifests) as $T/NAME.img
copy() {
        cp --sparse=always "$GOOD" "$T/$1.img" || return 1
        for m in "$GOOD".manifest*; do cp "$m" "$T/$1.img${m#"$GOOD"}"; done
}

# bounded NAME WANT_RC WANT_STDERR WANT_STDOUT_LINE CMD...: CMD exits WANT_RC, prints exactly
# WANT_STDERR on stderr and (if WANT_STDOUT_LINE is not empty) a line equal to it on stdout,
# within 1 s and MEM_KIB; then the same under ASan (no report, same exit) and valgrind
# (no error), when they are there.
bounded() {
        local name="$1" want_rc="$2" want_err="$3" want_line="$4"; shift 4
        local rc secs kib why=""
        read -r rc secs kib < <(python3 "$SRC/tests/lib/bounded.py" "$T/stdout" "$T/stderr" "$@")
        [ "$rc" == "$want_rc" ] || why="exit $rc, want $want_rc"
        [ "$(cat "$T/stderr")" == "$want_err" ] ||
                why="${why:+$why; }stderr [$(head -c 400 "$T/stderr")] want [$want_err]"
        if [ -n "$want_line" ] && ! grep -qxF -- "$want_line" "$T/stdout"; then
                why="${why:+$why; }no line [$want_line] in [$(head -c 600 "$T/stdout")]"
        fi
        python3 -c 'import sys; sys.exit(float(sys.argv[1]) > 1.0)' "$secs" || why="${why:+$why; }took ${secs}s"
        [ "$kib" -le "$MEM_KIB" ] || why="${why:+$why; }peak memory ${kib} KiB"
        if [ -z "$why" ]; then pass "$name"; else fail "$name" "$why"; fi
        if [ -x "$ASAN" ]; then
                local arc=0
                "$ASAN" "${@:2}" >/dev/null 2>"$T/asan.err" || arc=$?
                if [ "$arc" != "$want_rc" ] || grep -qE 'AddressSanitizer|runtime error|LeakSanitizer' "$T/asan.err"; then
                        fail "$name-asan" "exit $arc: $(head -c 600 "$T/asan.err")"
                else
                        pass "$name-asan"
                fi
        fi
        # valgrind where it is quick: inspect, and refusals at the partition table (a verify that
        # hashes both roots takes minutes under it; ASan covers those)
        if command -v valgrind >/dev/null && { [ "$2" == inspect ] || [[ "$name" == gpt-* ]]; }; then
                local vrc=0
                valgrind -q --error-exitcode=99 --trace-children=no "$MKIMAGE" "${@:2}" >/dev/null 2>"$T/vg.err" || vrc=$?
                if [ "$vrc" != "$want_rc" ]; then
                        fail "$name-valgrind" "exit $vrc: $(grep -m3 '==' "$T/vg.err")"
                else
                        pass "$name-valgrind"
                fi
        fi
}

# ---- partition tables ----------------------------------------------------------
# case|message after "mkimage: IMG: " (inspect and verify say the same)
gpt_cases=(
        "header-crc|the primary GPT header (LBA 1) fails its CRC32 check (it was changed or damaged: rebuild the image)"
        "entries-crc|the primary GPT's partition entries fail their CRC32 check (they were changed or damaged: rebuild the image)"
        "entry-size|the primary GPT has 256-byte partition entries; mkimage reads only 128-byte entries, the size GPT tools write (rebuild the image)"
        "no-mbr|sector 0 is not a protective MBR (it needs the 0x55 0xAA signature and a 0xEE partition, or firmware and tools ignore the GPT: rebuild the image)"
        "overlap|partitions 2 'root-a' and 3 'root-a-verity' overlap (bytes 305131520 to 305135615 are in both; rebuild the image)"
        "past-end|partition 6 'data' ends at byte 537919488, past the end of the disk (536870912 bytes): the image is truncated or the table is wrong"
        "backup-differs|the backup GPT (LBA 1048575) disagrees with the primary: the partition entries differ (one of them was changed: rebuild the image)"
        "backup-missing|the backup GPT header (LBA 1048575) is missing (the table is damaged: rebuild the image)"
        "many-partitions|the GPT holds more than 128 partitions, the most mkimage reads (rebuild the image)"
        "ends-before-start|partition 2 'root-a' ends (LBA 526336) before it starts (LBA 595967) (rebuild the image)"
)
for c in "${gpt_cases[@]}"; do
        name="${c%%|*}" msg="${c#*|}"
        copy "$name" && python3 "$CRAFT" "$T/$name.img" "$name" || { fail "gpt-$name" "cannot craft"; continue; }
        img="$T/$name.img"
        bounded "gpt-$name-inspect" 1 "mkimage: $img: $msg" "" "$MKIMAGE" inspect "$img"
        bounded "gpt-$name-verify" 1 "mkimage: $img: $msg" "" "$MKIMAGE" verify "$img" --pub "$PUB"
done

# The same checks on the untouched table, so none of them can be a check that always fails:
# sfdisk reads the crafted tables' twins without complaint.
copy cut && truncate -s $(( $(stat -c %s "$GOOD") - 512 * 2048 )) "$T/cut.img"
bounded gpt-truncated-image 1 \
        "mkimage: $T/cut.img: the backup GPT header should be in the last sector (LBA 1046527), the primary says LBA 1048575 (the image was cut or written into a different size: rebuild it)" \
        "" "$MKIMAGE" inspect "$T/cut.img"

# ---- the ESP -----------------------------------------------------------------------
esp() { # IMG CMD ARGS...: an mtools command on the image's ESP
        local img="$1" cmd="$2"; shift 2
        "$cmd" -i "$img@@$ESP_OFF" "$@"
}
echo 'not a program' >"$T/x.efi"

copy rdinit && esp "$T/rdinit.img" mcopy ::/loader/entries/slot-a+3.conf "$T/e.conf" &&
        sed -i 's/^options /options rdinit=\/bin\/sh /' "$T/e.conf" &&
        esp "$T/rdinit.img" mcopy -o "$T/e.conf" ::/loader/entries/slot-a+3.conf
want_sha="$(sed -n '/slot-a.conf/{n;s/.*sha256: //p}' "$GOOD.manifest.yaml" | cut -c1-16)"
got_sha="$(sha256sum "$T/e.conf" | cut -c1-16)"
bounded esp-entry-options 1 "" \
        "esp: FAILED: /loader/entries/slot-a+3.conf has SHA-256 $got_sha…, slot a's manifest says $want_sha… (the file was changed after signing: rebuild the image)" \
        "$MKIMAGE" verify "$T/rdinit.img" --pub "$PUB"

copy editor && printf 'timeout 0\neditor yes\n' >"$T/loader.conf" &&
        esp "$T/editor.img" mcopy -o "$T/loader.conf" ::/loader/loader.conf
want_sha="$(sed -n '/loader.conf/{n;s/.*sha256: //p}' "$GOOD.manifest.yaml" | cut -c1-16)"
got_sha="$(sha256sum "$T/loader.conf" | cut -c1-16)"
bounded esp-loader-editor 1 "" \
        "esp: FAILED: /loader/loader.conf has SHA-256 $got_sha…, slot a's manifest says $want_sha… (the file was changed after signing: rebuild the image)" \
        "$MKIMAGE" verify "$T/editor.img" --pub "$PUB"

copy uki && esp "$T/uki.img" mmd ::/EFI/Linux && esp "$T/uki.img" mcopy "$T/x.efi" ::/EFI/Linux/evil.efi
bounded esp-foreign-efi 1 "" \
        "esp: FAILED: /EFI/Linux/evil.efi is an EFI program no manifest covers (the firmware or systemd-boot may start it: remove it)" \
        "$MKIMAGE" verify "$T/uki.img" --pub "$PUB"

copy entry && esp "$T/entry.img" mcopy "$T/x.efi" ::/loader/entries/other.conf
bounded esp-foreign-entry 1 "" \
        "esp: FAILED: /loader/entries/other.conf is not a boot entry of a slot (systemd-boot would offer it: remove it)" \
        "$MKIMAGE" verify "$T/entry.img" --pub "$PUB"

copy keys && esp "$T/keys.img" mmd ::/loader/keys && esp "$T/keys.img" mcopy "$T/x.efi" ::/loader/keys/db.auth
bounded esp-loader-keys 1 "" \
        "esp: FAILED: /loader/keys/db.auth can change what systemd-boot does, and no manifest covers it (remove it)" \
        "$MKIMAGE" verify "$T/keys.img" --pub "$PUB"

copy twice && esp "$T/twice.img" mcopy ::/loader/entries/slot-a+3.conf "$T/e2.conf" &&
        esp "$T/twice.img" mcopy "$T/e2.conf" ::/loader/entries/slot-a+1-2.conf
bounded esp-two-entries-one-slot 1 "" \
        "esp: FAILED: slot a has 2 boot entries in /loader/entries, mkimage writes one (remove the others)" \
        "$MKIMAGE" verify "$T/twice.img" --pub "$PUB"

# Slot b wiped (zeros) and its manifests gone while the ESP still boots it: not "not present".
copy wiped && read -r b_off b_size < <(part_offset "$GOOD" root-b) &&
        dd if=/dev/zero of="$T/wiped.img" bs=1M seek=$((b_off >> 20)) count=$((b_size >> 20)) conv=notrunc status=none &&
        rm -f "$T/wiped.img.manifest-b.yaml"*
bounded slot-b-wiped-but-booted 1 "" \
        "$T/wiped.img.manifest-b.yaml: FAILED: missing: slot b's manifest $T/wiped.img.manifest-b.yaml does not exist (put it beside the image, with its .minisig)" \
        "$MKIMAGE" verify "$T/wiped.img" --pub "$PUB"
# and when its entry is marked bad (+0-N), the same image is a one-slot image: OK
esp "$T/wiped.img" mren ::/loader/entries/slot-b+3.conf ::/loader/entries/slot-b+0-3.conf
bounded slot-b-wiped-and-bad 0 "" "" "$MKIMAGE" verify "$T/wiped.img" --pub "$PUB"

# Exhaustion: a hundred boot entries (the limit is 64), and an entry of 1 MiB (the limit is 64 KiB).
copy many && mkdir "$T/many" && for i in $(seq 1 100); do echo "title $i" >"$T/many/e$i.conf"; done &&
        esp "$T/many.img" mcopy "$T"/many/*.conf ::/loader/entries/
bounded esp-many-entries 1 \
        "mkimage: $T/many.img: ESP at byte $ESP_OFF: /loader/entries: holds 102 entries, more than the 64 mkimage reads there" \
        "" "$MKIMAGE" inspect "$T/many.img"
copy huge && head -c $((1 << 20)) /dev/zero | tr '\0' 'x' >"$T/huge.conf" &&
        esp "$T/huge.img" mcopy "$T/huge.conf" ::/loader/entries/huge.conf
bounded esp-huge-entry 1 \
        "mkimage: $T/huge.img: ESP at byte $ESP_OFF: /loader/entries/huge.conf: is more than 65536 bytes, the most mkimage reads there" \
        "" "$MKIMAGE" inspect "$T/huge.img"
