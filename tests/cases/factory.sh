# mkimage factory (issue: factory images): 5 devices from the demo model,
# checked with the real tools: mkimage verify, cryptsetup (each key opens its
# own data partition and no other), minisign -V of the serial records, cmp of
# the shared partitions, bmaptool copy; re-runs, shards and bad inputs.
. "$(dirname "$0")/../lib/testlib.sh"
cd "$SRC"
K="$BUILD/keys"
MODEL=models/demo-x86_64.yaml
"$MKIMAGE" keygen "$T/brand" >/dev/null
BRAND="$T/brand.key"
factory() { "$MKIMAGE" factory "$MODEL" --brand-key "$BRAND" "$@"; }
slice() { # IMG PARTITION OUT
        local off size
        read -r off size <<<"$(part_offset "$1" "$2")"
        dd if="$1" of="$3" bs=1M iflag=skip_bytes,count_bytes skip="$off" count="$size" status=none
}

printf 'serial\nSN-001\nSN-002\nSN-003\nSN-004\nSN-005\n' >"$T/devices.csv"
O="$T/fo"
if factory --devices "$T/devices.csv" -o "$O" --image-digest >"$T/log" 2>&1; then pass five-devices; else fail five-devices "$(cat "$T/log")"; fi
check five-outputs only_files "$O" factory-record.jsonl $(for s in SN-001 SN-002 SN-003 SN-004 SN-005; do
        echo $s.img $s.img.bmap $s.data-key $s.img.manifest.yaml $s.img.manifest.yaml.minisig \
                $s.img.manifest-b.yaml $s.img.manifest-b.yaml.minisig; done)
expect_eq record-lines "$(wc -l <"$O/factory-record.jsonl")" 5

brand_pub="$T/brand.pub"
for s in SN-001 SN-002 SN-003 SN-004 SN-005; do
        check "verify-$s" "$MKIMAGE" verify "$O/$s.img" --pub "$K/dev.pub"
        expect_eq "key-mode-$s" "$(stat -c '%a %s' "$O/$s.data-key")" "600 64"
done

# Data keys differ pairwise; each opens its own data partition and not another's.
expect_eq keys-distinct "$(sha256sum "$O"/*.data-key | cut -d' ' -f1 | sort -u | wc -l)" 5
for s in SN-001 SN-002 SN-003; do slice "$O/$s.img" data "$T/$s.data"; done
check own-key-opens cryptsetup open --test-passphrase --disable-locks --key-file "$O/SN-001.data-key" "$T/SN-001.data"
check own-key-opens-2 cryptsetup open --test-passphrase --disable-locks --key-file "$O/SN-002.data-key" "$T/SN-002.data"
check other-key-refused bash -c "! cryptsetup open --test-passphrase --disable-locks --key-file '$O/SN-002.data-key' '$T/SN-001.data' 2>/dev/null"
check other-key-refused-2 bash -c "! cryptsetup open --test-passphrase --disable-locks --key-file '$O/SN-001.data-key' '$T/SN-003.data' 2>/dev/null"
expect_eq luks-uuids-distinct "$(for s in SN-001 SN-002 SN-003; do cryptsetup luksUUID "$T/$s.data"; done | sort -u | wc -l)" 3

# The shared partitions are byte-identical across the images.
for p in root-a root-a-verity root-b root-b-verity; do
        slice "$O/SN-001.img" $p "$T/a.$p"
        ok=1
        for s in SN-002 SN-003 SN-004 SN-005; do
                slice "$O/$s.img" $p "$T/b.$p"
                cmp -s "$T/a.$p" "$T/b.$p" || ok=0
        done
        expect_eq "shared-$p-identical" $ok 1
        rm -f "$T/a.$p" "$T/b.$p"
done

# Serial records: on the ESP beside the manifest, signed with the brand key (stock minisign).
read -r esp_off _ <<<"$(part_offset "$O/SN-003.img" esp)"
export MTOOLS_SKIP_CHECK=1
for slot in a b; do
        mcopy -n -i "$O/SN-003.img@@$esp_off" "::/slot-$slot/serial.yaml" "$T/serial-$slot.yaml"
        mcopy -n -i "$O/SN-003.img@@$esp_off" "::/slot-$slot/serial.yaml.minisig" "$T/serial-$slot.yaml.minisig"
        check "serial-record-minisign-$slot" minisign -Vqm "$T/serial-$slot.yaml" -p "$brand_pub"
done
check serial-names-serial grep -qx 'serial: SN-003' "$T/serial-a.yaml"
# The records are written over the common part's placeholders in place: the FAT stays consistent
# (chains shrunk in both FATs, FSInfo's free count).
slice "$O/SN-003.img" esp "$T/esp"
fsck.vfat -n "$T/esp" >"$T/fsck.out" 2>&1
expect_eq esp-fsck-clean "$?:$(grep -ciE 'wrong|differ|lost|free cluster|incorrect' "$T/fsck.out")" "0:0"
rm -f "$T/esp"
rec=$(grep '"serial":"SN-003"' "$O/factory-record.jsonl")
dkey=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["device-key"])' "$rec")
check serial-names-device-key grep -qx "device-key: $dkey" "$T/serial-a.yaml"
check serial-manifest-digest grep -qx "manifest-sha256: $(sha256sum <"$O/SN-003.img.manifest.yaml" | cut -d' ' -f1)" "$T/serial-a.yaml"
# A changed record fails.
sed 's/SN-003/SN-999/' "$T/serial-a.yaml" >"$T/forged.yaml"; cp "$T/serial-a.yaml.minisig" "$T/forged.yaml.minisig"
check serial-record-forgery-refused bash -c "! minisign -Vqm '$T/forged.yaml' -p '$brand_pub' 2>/dev/null"

# The record: image and bmap digests, key ids, a fingerprint that is not the key.
python3 - "$O" "$T/brand.pub" >"$T/rec.out" 2>&1 <<'PY'
import hashlib, json, os, sys, base64
out, brand_pub = sys.argv[1], sys.argv[2]
brand_id = base64.b64decode(open(brand_pub).read().splitlines()[1])[2:10][::-1].hex().upper()
for line in open(os.path.join(out, "factory-record.jsonl")):
    r = json.loads(line)
    s = r["serial"]
    img = os.path.join(out, s + ".img")
    h = hashlib.sha256()
    with open(img, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    assert r["image-sha256"] == h.hexdigest(), (s, "image")
    assert r["bmap-sha256"] == hashlib.sha256(open(img + ".bmap", "rb").read()).hexdigest(), (s, "bmap")
    assert r["brand-key-id"] == brand_id, (s, r["brand-key-id"], brand_id)
    key = open(os.path.join(out, s + ".data-key"), "rb").read()
    fp = r["data-key-fingerprint"]
    assert len(fp) == 64 and key.hex() not in line and fp != hashlib.sha256(key).hexdigest(), s
    assert r["manifest-sha256"] == hashlib.sha256(open(img + ".manifest.yaml", "rb").read()).hexdigest()
print("ok")
PY
expect_eq record-fields "$(cat "$T/rec.out")" ok

# bmaptool copy of the block map reproduces the image's mapped bytes (and checks each range's SHA-256).
if command -v bmaptool >/dev/null; then
        truncate -s 512M "$T/flash.img"
        if bmaptool -q copy --bmap "$O/SN-004.img.bmap" "$O/SN-004.img" "$T/flash.img" 2>"$T/bm.err"; then
                check bmaptool-copy-identical cmp -s "$O/SN-004.img" "$T/flash.img"
        else
                fail bmaptool-copy-identical "$(cat "$T/bm.err")"
        fi
        rm -f "$T/flash.img"
else
        fail bmaptool-copy-identical "bmaptool is missing (apt-get install bmap-tools)"
fi

# A re-run skips complete devices and finishes the rest.
sed -i '/SN-005/d' "$O/factory-record.jsonl"
rm -f "$O/SN-005.img"
factory --devices "$T/devices.csv" -o "$O" --image-digest >"$T/rerun" 2>&1
check rerun-builds-only-missing grep -q '5 devices in this shard: 1 built, 4 already complete' "$T/rerun"
expect_eq rerun-record-complete "$(cut -d'"' -f4 "$O/factory-record.jsonl" | sort | tr '\n' ' ')" "SN-001 SN-002 SN-003 SN-004 SN-005 "

# Shards: two workers over one list; their records concatenate into the whole, disjoint.
printf '{"serial":"J1"}\n{"serial":"J2"}\n{"serial":"J3"}\n' >"$T/devices.jsonl"
factory --devices "$T/devices.jsonl" -o "$T/s0" --shard 0/2 >/dev/null 2>&1
factory --devices "$T/devices.jsonl" -o "$T/s1" --shard 1/2 >/dev/null 2>&1
expect_eq shards-concatenate "$(cat "$T/s0/factory-record.jsonl" "$T/s1/factory-record.jsonl" | cut -d'"' -f4 | sort | tr '\n' ' ')" "J1 J2 J3 "
expect_eq shard-0-takes-even-positions "$(cut -d'"' -f4 "$T/s0/factory-record.jsonl" | sort | tr '\n' ' ')" "J1 J3 "

# Bad input: one clear error, exit 1, nothing written.
bad() { # NAME WANT-STDERR DEVICES-TEXT [EXT]
        local f="$T/bad.${4:-csv}"
        printf '%b' "$3" >"$f"
        mkdir -p "$T/badout"
        expect_run "$1" 1 "$2" "$MKIMAGE" factory "$MODEL" --brand-key "$BRAND" --devices "$f" -o "$T/badout"
        check "$1-nothing-left" only_files "$T/badout"
}
bad duplicate-serial "mkimage: $T/bad.csv:4: serial 'A1' is listed twice (first at line 2; serials are unique)" 'serial\nA1\nA2\nA1\n'
bad bad-serial "mkimage: $T/bad.csv:3: serial 'a/b' may hold only letters, digits, '.', '_' and '-'" 'serial\nA1\na/b\n'
bad unknown-column "mkimage: $T/bad.csv:1: 'hostname' is not a device field of model demo-x86_64 (declare it in the model's 'factory.fields', or drop it; known: serial)" 'serial,hostname\nA1,h1\n'
bad short-row "mkimage: $T/bad.csv:3: 2 fields, but the header names 1 (one value per column)" 'serial\nA1\nA2,x\n'
bad malformed-json "mkimage: $T/bad.jsonl:2: not valid JSON: unexpected end of data (one JSON object a line)" '{"serial":"A1"}\n{"serial":\n' jsonl
# A model that declares per-device fields: a list without serials is refused.
sed -e "s#\.\./build/#$BUILD/#g" -e "s#\.\./layouts/#$SRC/layouts/#" "$MODEL" >"$T/fields.yaml"
printf 'factory:\n  fields: [hostname, region]\n' >>"$T/fields.yaml"
printf 'hostname,region\nh1,eu\n' >"$T/nos.csv"
mkdir -p "$T/nosout"
expect_run no-serial-column 1 \
        "mkimage: $T/nos.csv:1: the header row has no 'serial' column (the first line names the columns, e.g. serial,hostname)" \
        "$MKIMAGE" factory "$T/fields.yaml" --brand-key "$BRAND" --devices "$T/nos.csv" -o "$T/nosout"
check no-serial-column-nothing-left only_files "$T/nosout"

mkdir -p "$T/foreign"
echo hello >"$T/foreign/notes.txt"
expect_run foreign-files-refused 1 \
        "mkimage: $T/foreign: holds 'notes.txt', which is not an output of mkimage factory for this device list (give a new or empty folder, or the one an earlier run of this list wrote)" \
        "$MKIMAGE" factory "$MODEL" --brand-key "$BRAND" --devices "$T/devices.csv" -o "$T/foreign"
check foreign-files-untouched only_files "$T/foreign" notes.txt

# A full disk mid-batch: a clear error naming the device, no half image, complete devices kept.
MNT="$T/mnt"
mkdir -p "$MNT"
if mount -t tmpfs -o size=200m tmpfs "$MNT" 2>/dev/null; then
        (echo serial; for i in $(seq 1 12); do echo F$i; done) >"$T/many.csv"
        factory --devices "$T/many.csv" -o "$MNT/o" -j 1 >/dev/null 2>"$T/full.err"; rc=$?
        expect_eq full-disk-exit "$rc" 1
        check full-disk-message grep -q 'No space left on device' "$T/full.err"
        check full-disk-names-device grep -q 'device F[0-9]* (' "$T/full.err"
        n_img=$(ls "$MNT/o" | grep -c '\.img$' || true)
        expect_eq full-disk-images-match-records "$n_img" "$(wc -l <"$MNT/o/factory-record.jsonl")"
        check full-disk-no-temporaries bash -c "! ls -A '$MNT/o' | grep -q mkimage-"
        umount "$MNT"
else
        fail full-disk "cannot mount a tmpfs (the test needs root)"
fi


# SIGKILL half way through a batch (-j 2), then the same command again: the
# re-run removes the temporaries, keeps the devices already recorded, builds
# the rest, and ends with one record line per device. Two kills: of the
# factory process alone (its workers must stop too) and of its whole process
# group (no signal handler runs: temporaries are left for the re-run). The
# kill must land while the batch runs: if a run ends before its record has two
# lines (or with all of them: lines come a group commit at a time), the list
# doubles and the batch runs again.
outputs_of() { # SERIAL...: the files mkimage factory writes for these devices
        local s
        for s in "$@"; do
                echo "$s.img" "$s.img.bmap" "$s.data-key" "$s.img.manifest.yaml" "$s.img.manifest.yaml.minisig" \
                        "$s.img.manifest-b.yaml" "$s.img.manifest-b.yaml.minisig"
        done
}
# Processes left of the killed run's group (zombies wait for this machine's init to reap them).
survivors() { ps -e -o pgid=,stat=,pid=,args= | awk -v g="$1" '$1 == g && $2 !~ /^Z/'; }
lines_of() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
C="$T/crash"
CREC="$C/factory-record.jsonl"
crash_run=("$MKIMAGE" factory "$MODEL" --brand-key "$BRAND" --devices "$T/crash.csv" -o "$C" -j 2)
for mode in process group; do
        n=16 killed_at=-1
        for _ in 1 2 3 4; do
                rm -rf "$C"
                (echo serial; seq -f 'K%04g' 1 $n) >"$T/crash.csv"
                # In a process group of its own (setsid execs in place: $! is mkimage).
                setsid "${crash_run[@]}" >/dev/null 2>&1 &
                pid=$!
                deadline=$((SECONDS + 60))
                while [ "$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null)" != Z ] && [ $SECONDS -lt $deadline ] &&
                        [ "$(lines_of "$CREC")" -lt 2 ]; do
                        sleep 0.01
                done
                if [ $mode == process ]; then kill -KILL "$pid"; else kill -KILL -- "-$pid"; fi 2>/dev/null
                wait "$pid" 2>/dev/null
                rc=$?
                # 2 s for the workers to see their parent gone and remove their temporaries; count after that.
                grace_end=$(($(date +%s%N) + 2000000000))
                while [ -n "$(survivors "$pid")" ] && [ "$(date +%s%N)" -lt $grace_end ]; do sleep 0.02; done
                lines=$(lines_of "$CREC")
                left=$(find "$C" -maxdepth 1 -name '.*.mkimage-*' | wc -l) # the outputs' temporaries
                if [ $rc -eq 137 ] && [ "$lines" -ge 2 ] && [ "$lines" -lt $n ] && { [ $mode == process ] || [ "$left" -gt 0 ]; }; then
                        killed_at=$lines
                        break
                fi
                n=$((n * 2))
        done
        if [ "$killed_at" -ge 2 ]; then pass "crash-$mode-killed-mid-batch"; else
                fail "crash-$mode-killed-mid-batch" "last try: $n devices, exit $rc, $lines record lines, $left temporaries"
        fi
        # Nothing of the killed run goes on writing (no worker outlives the factory).
        if [ -n "$(survivors "$pid")" ]; then
                fail "crash-$mode-no-survivors" "$(survivors "$pid" | head -3 | tr '\n' ' ')"
                pkill -KILL -g "$pid"
        else
                pass "crash-$mode-no-survivors"
        fi
        head -n "$killed_at" "$CREC" >"$T/crash-before.jsonl" # without a torn last line
        serials=$(seq -f 'K%04g' 1 $n)
        if "${crash_run[@]}" >"$T/crash.log" 2>&1; then pass "crash-$mode-rerun-exit-0"; else
                fail "crash-$mode-rerun-exit-0" "$(tail -3 "$T/crash.log")"
        fi
        check "crash-$mode-rerun-skips-recorded" \
                grep -q "$n devices in this shard: $((n - killed_at)) built, $killed_at already complete" "$T/crash.log"
        check "crash-$mode-recorded-lines-kept" cmp -s <(head -n "$killed_at" "$CREC") "$T/crash-before.jsonl"
        # shellcheck disable=SC2086 # one word a serial
        python3 - "$C" $serials >"$T/crash-rec.out" 2>&1 <<'PY'
import collections, hashlib, json, os, sys
out, want = sys.argv[1], sys.argv[2:]
recs = [json.loads(line) for line in open(os.path.join(out, "factory-record.jsonl"))]
count = collections.Counter(r["serial"] for r in recs)
print("lines", "ok" if sorted(count) == want and set(count.values()) == {1} else
      f"duplicates {sorted(s for s, c in count.items() if c > 1)} missing {sorted(set(want) - set(count))}")
bad = []
for r in recs:
    with open(os.path.join(out, r["serial"] + ".img.bmap"), "rb") as f:
        if r["bmap-sha256"] != hashlib.sha256(f.read()).hexdigest() or r["image"] != r["serial"] + ".img":
            bad.append(r["serial"])
    if os.path.getsize(os.path.join(out, r["serial"] + ".data-key")) != 64:
        bad.append(r["serial"] + ".data-key")
print("bmap", "ok" if not bad else f"wrong: {bad[:5]}")
PY
        expect_eq "crash-$mode-record-one-line-per-device" "$(sed -n 's/^lines //p' "$T/crash-rec.out")" ok
        expect_eq "crash-$mode-record-bmap-digests" "$(sed -n 's/^bmap //p' "$T/crash-rec.out")" ok
        # shellcheck disable=SC2046,SC2086 # one word a file name
        if only_files "$C" factory-record.jsonl $(outputs_of $serials); then pass "crash-$mode-only-outputs"; else
                want=$( (outputs_of $serials; echo factory-record.jsonl) | tr ' ' '\n' | sort)
                fail "crash-$mode-only-outputs" "$(comm -3 <(find "$C" -mindepth 1 -printf '%f\n' | sort) <(echo "$want") | head -5 | tr '\n' ' ')"
        fi
        # Spot checks: the first device recorded before the kill, and the first one the re-run built
        # (likely one in flight when the kill came).
        first=$(head -n1 "$T/crash-before.jsonl" | cut -d'"' -f4)
        redone=$(sed -n "$((killed_at + 1))p" "$CREC" | cut -d'"' -f4)
        for s in "$first" "$redone"; do
                what=$([ "$s" == "$first" ] && echo before || echo after)
                check "crash-$mode-verify-$what-kill" "$MKIMAGE" verify "$C/$s.img" --pub "$K/dev.pub"
                slice "$C/$s.img" data "$T/crash.data"
                check "crash-$mode-key-opens-$what-kill" \
                        cryptsetup open --test-passphrase --disable-locks --key-file "$C/$s.data-key" "$T/crash.data"
        done
        rm -rf "$C" "$T/crash.data"
done

# Shards 0/3, 1/3 and 2/3 of one list, each into its own folder, together
# equal one unsharded run of it: the same devices (each once), the same files,
# the same reproducible record fields, fresh random ones; the LUKS2 UUID
# (derived from the serial) and the root slot's bytes are the same too.
printf 'serial\nQ1\nQ2\nQ3\nQ4\nQ5\nQ6\n' >"$T/six.csv"
ok=1
for i in whole 0 1 2; do
        shard=(--shard "$i/3")
        [ $i == whole ] && shard=()
        factory --devices "$T/six.csv" -o "$T/six-$i" "${shard[@]}" >/dev/null 2>"$T/six.err" || { ok=0; cat "$T/six.err" >&2; }
done
expect_eq shard3-runs-succeed $ok 1
# shellcheck disable=SC2046 # one word a file name
for i in 0 1 2; do
        check "shard3-$i-holds-positions-$i-and-$((i + 3))" only_files "$T/six-$i" factory-record.jsonl $(outputs_of Q$((i + 1)) Q$((i + 4)))
done
python3 - "$T"/six-whole "$T"/six-0 "$T"/six-1 "$T"/six-2 >"$T/six.out" 2>&1 <<'PY'
import collections, json, os, sys
whole, shards = sys.argv[1], sys.argv[2:]
def records(d):
    return [json.loads(line) for line in open(os.path.join(d, "factory-record.jsonl"))]
def files(d):
    return sorted(f for f in os.listdir(d) if f != "factory-record.jsonl")
w = {r["serial"]: r for r in records(whole)}
cat = [r for d in shards for r in records(d)]
count = collections.Counter(r["serial"] for r in cat)
print("serials", "ok" if sorted(count) == sorted(w) and len(w) == 6 and set(count.values()) == {1} else
      f"{sorted(count.items())} vs {sorted(w)}")
print("files", "ok" if sorted(f for d in shards for f in files(d)) == files(whole) else "differ")
fixed = ("serial", "image", "manifest-sha256", "brand-key-id")
random = ("device-key", "device-key-id", "data-key-fingerprint", "bmap-sha256")
print("fixed", "ok" if all(r[k] == w[r["serial"]][k] for r in cat for k in fixed) else "differ")
bad = [(r["serial"], k) for r in cat for k in random if not r.get(k) or r[k] == w[r["serial"]].get(k)]
print("random", "ok" if not bad else f"missing or equal: {bad[:4]}")
PY
for k in serials:concat-serials-equal-whole files:files-equal-whole fixed:fixed-fields-equal-whole \
        random:random-fields-fresh; do
        expect_eq "shard3-${k#*:}" "$(sed -n "s/^${k%%:*} //p" "$T/six.out")" ok
done
# Q5 is position 4: shard 1.
for i in whole 1; do
        slice "$T/six-$i/Q5.img" data "$T/six-$i.data"
        slice "$T/six-$i/Q5.img" root-a "$T/six-$i.root-a"
done
uuid=$(cryptsetup luksUUID "$T/six-1.data")
expect_eq shard3-luks-uuid-from-serial "$uuid:$(cryptsetup luksUUID "$T/six-whole.data")" "${uuid:-none}:$uuid"
check shard3-root-a-identical cmp -s "$T/six-1.root-a" "$T/six-whole.root-a"
rm -rf "$T"/six-*

# Ctrl-C (SIGINT to the whole process group, as a terminal sends it) and SIGTERM to the
# factory alone (its workers follow: PR_SET_PDEATHSIG): the exit is the signal's, no
# temporary file and no work folder (.mkimage-factory, the common part) is left, no
# worker outlives the factory, and every recorded device has its image.
for sig in INT TERM; do
        G="$T/sig-$sig"
        rm -rf "$G"
        (echo serial; seq -f 'S%04g' 1 400) >"$T/sig.csv"
        setsid "$MKIMAGE" factory "$MODEL" --brand-key "$BRAND" --devices "$T/sig.csv" -o "$G" -j 2 >/dev/null 2>&1 &
        pid=$!
        deadline=$((SECONDS + 60))
        while [ "$(lines_of "$G/factory-record.jsonl")" -lt 1 ] && [ $SECONDS -lt $deadline ]; do sleep 0.01; done
        if [ $sig == INT ]; then kill -INT -- "-$pid"; else kill -TERM "$pid"; fi 2>/dev/null
        wait "$pid" 2>/dev/null
        rc=$?
        grace_end=$(($(date +%s%N) + 2000000000))
        while [ -n "$(survivors "$pid")" ] && [ "$(date +%s%N)" -lt $grace_end ]; do sleep 0.02; done
        want=130
        [ $sig == TERM ] && want=143
        expect_eq "sig$sig-exit-by-signal" "$rc" $want
        expect_eq "sig$sig-no-survivors" "$(survivors "$pid" | wc -l)" 0
        expect_eq "sig$sig-nothing-half-made" "$(find "$G" -mindepth 1 -maxdepth 1 -name '.*' | wc -l)" 0
        # A device the signal caught between its rename and its record line is complete but unrecorded
        # (the re-run builds it again); a recorded device always has its image.
        n_img=$(find "$G" -maxdepth 1 -name '*.img' | wc -l)
        missing=0
        for s in $(cut -d'"' -f4 "$G/factory-record.jsonl" 2>/dev/null); do [ -f "$G/$s.img" ] || missing=$((missing + 1)); done
        expect_eq "sig$sig-recorded-images-present" "$missing" 0
        check "sig$sig-stopped-mid-batch" [ "$(lines_of "$G/factory-record.jsonl")" -ge 1 -a "$n_img" -lt 400 ]
        rm -rf "$G"
done

# One writer for the data file system (builder/data/data-fs.c): with SOURCE_DATE_EPOCH after 2038
# a build and a factory device both store ext4's last second, 2038-01-19 03:14:07 (the factory
# once wrote its own copy and refused such a time).
late=4102444800 # 2100-01-01
printf 'serial\nSN-LATE\n' >"$T/late.csv"
head -c 64 /dev/urandom >"$T/late.key" && chmod 600 "$T/late.key"
SOURCE_DATE_EPOCH=$late factory --devices "$T/late.csv" -o "$T/late" >"$T/late.log" 2>&1
expect_eq late-factory "$?:$(tail -1 "$T/late.log" | grep -c 'mkimage: ')" "0:0"
SOURCE_DATE_EPOCH=$late "$MKIMAGE" build "$MODEL" --data-key "$T/late.key" -o "$T/late.img" >"$T/late.log" 2>&1
expect_eq late-build "$?" 0
data_times() { # IMG KEY: the root folder's four times and the superblock's write time, as seconds
        slice "$1" data "$T/late.data"
        # Decrypted offline (no device-mapper here): the plaintext moves to the head of the copy.
        rm -f "$T/late.hdr"
        cryptsetup reencrypt --decrypt --header "$T/late.hdr" "$T/late.data" --key-file "$2" \
                --force-offline-reencrypt --disable-locks --batch-mode >/dev/null 2>&1 || return 1
        debugfs -R 'stat <2>' "$T/late.data" 2>/dev/null | grep -oE '^ *(c|a|m|cr)time: 0x[0-9a-f]+' |
                awk '{print $2}' | sort -u | tr '\n' ' '
        TZ=UTC date -d "$(dumpe2fs -h "$T/late.data" 2>/dev/null | sed -n 's/^Last write time: *//p')" +%s
        rm -f "$T/late.data" "$T/late.hdr"
}
expect_eq late-build-data-times "$(data_times "$T/late.img" "$T/late.key")" "0x7fffffff 2147483647"
expect_eq late-factory-data-times "$(data_times "$T/late/SN-LATE.img" "$T/late/SN-LATE.data-key")" "0x7fffffff 2147483647"
rm -rf "$T/late" "$T/late.img"*
