# The demo build: GPT golden file, sfdisk --verify, sparseness, determinism,
# JSON output, interruption by SIGINT/SIGTERM.
. "$(dirname "$0")/../lib/testlib.sh"
cd "$SRC"

# IMG: drop the volatile device path; the slots' partition UUIDs are the halves of their root hashes
# (which follow the components' bytes): they read ROOT-A, ROOT-A-VERITY, ... when they are.
filter_sfdisk() {
        local h u args=()
        for s in a b; do
                h=$(sed -n 's/^    root-hash: //p' "$1.manifest$([ $s = b ] && echo -b).yaml" | tr a-f A-F)
                [ -n "$h" ] || continue
                u="${h:0:8}-${h:8:4}-${h:12:4}-${h:16:4}-${h:20:12}"
                args+=(-e "s|uuid=$u,|uuid=ROOT-${s^^},|")
                u="${h:32:8}-${h:40:4}-${h:44:4}-${h:48:4}-${h:52:12}"
                args+=(-e "s|uuid=$u,|uuid=ROOT-${s^^}-VERITY,|")
        done
        sed -e '/^device:/d' -e "s|^$1|IMG|" "${args[@]}"
}

mkdir -p "$T/o1" "$T/o2"
if "$MKIMAGE" build models/demo-x86_64.yaml --data-key "$DATA_KEY" -o "$T/o1/demo.img" >"$T/build.out" 2>"$T/build.err"; then
        pass build-demo
else
        fail build-demo "$(cat "$T/build.err")"
fi

sfdisk -d "$T/o1/demo.img" 2>&1 | filter_sfdisk "$T/o1/demo.img" >"$T/sfdisk.txt"
expect_file_eq sfdisk-golden "$T/sfdisk.txt" tests/golden/demo-x86_64.sfdisk

if sfdisk --verify "$T/o1/demo.img" 2>&1 | grep -q '^No errors detected'; then
        pass sfdisk-verify
else
        fail sfdisk-verify "$(sfdisk --verify "$T/o1/demo.img" 2>&1 | head -5)"
fi

apparent=$(stat -c %s "$T/o1/demo.img")
allocated=$(( $(stat -c %b "$T/o1/demo.img") * $(stat -c %B "$T/o1/demo.img") ))
# Sparse: 512 MiB apparent, about 72 MiB written (the ESP with two kernels and
# initrds, the roots, the LUKS2 header and the ext4's written blocks).
if [ "$apparent" -eq $((512 * 1024 * 1024)) ] && [ "$allocated" -lt $((100 * 1024 * 1024)) ]; then
        pass sparse
else
        fail sparse "apparent $apparent bytes, allocated $allocated bytes"
fi

"$MKIMAGE" build models/demo-x86_64.yaml --data-key "$DATA_KEY" -o "$T/o2/demo.img" >/dev/null 2>&1
check deterministic-except-luks2 cmp_except_data "$T/o1/demo.img" "$T/o2/demo.img"
for f in manifest.yaml manifest.yaml.minisig manifest-b.yaml manifest-b.yaml.minisig; do
        check "deterministic-$f" cmp "$T/o1/demo.img.$f" "$T/o2/demo.img.$f"
done
check only-outputs only_files "$T/o1" demo.img demo.img.manifest.yaml demo.img.manifest.yaml.minisig \
        demo.img.manifest-b.yaml demo.img.manifest-b.yaml.minisig

# The shorthand form and a default output name.
mkdir -p "$T/o3"
(cd "$T/o3" && "$MKIMAGE" "$SRC/models/demo-x86_64.yaml" --data-key "$DATA_KEY" >/dev/null 2>&1)
check shorthand-default-name cmp_except_data "$T/o1/demo.img" "$T/o3/demo-x86_64.img"

json=$("$MKIMAGE" build models/demo-x86_64.yaml --data-key "$DATA_KEY" -o "$T/o2/j.img" --json 2>&1)
expect_eq build-json "$(echo "$json" | sed 's/"root-hash":"[0-9a-f]\{64\}"/"root-hash":H/')" \
        "{\"ok\":true,\"image\":\"$T/o2/j.img\",\"size\":536870912,\"partitions\":6,\"root-size\":$(stat -c %s "$T/o1/demo.img" >/dev/null; sed -n 's/^  size: //p' "$T/o1/demo.img.manifest.yaml"),\"root-hash\":H}"

# inspect: the table names every partition, the JSON parses and agrees with sfdisk.
"$MKIMAGE" inspect "$T/o1/demo.img" >"$T/inspect.txt" 2>&1
if grep -qE '^2 +root-a +257MiB +34MiB +root-x86-64 +read-only +squashfs ' "$T/inspect.txt" &&
   grep -qE '^3 +root-a-verity +291MiB +1MiB +root-x86-64-verity +read-only +verity ' "$T/inspect.txt" &&
   grep -qE '^6 +data +327MiB +184MiB +linux-generic +grow-fs +luks2 ' "$T/inspect.txt" &&
   grep -qE '^  root-a +example demo-x86_64 1 \(IMAGE_ID demo-x86_64, IMAGE_VERSION 1\)$' "$T/inspect.txt"; then
        pass inspect-table
else
        fail inspect-table "$(cat "$T/inspect.txt")"
fi
"$MKIMAGE" inspect --json "$T/o1/demo.img" >"$T/inspect.json"
if python3 - "$T/inspect.json" "$T/o1/demo.img" <<'PY'
import json, subprocess, sys
got = json.load(open(sys.argv[1]))
ref = json.loads(subprocess.check_output(["sfdisk", "--json", sys.argv[2]]))["partitiontable"]
assert got["disk-guid"] == ref["id"], (got["disk-guid"], ref["id"])
assert len(got["partitions"]) == len(ref["partitions"])
for g, r in zip(got["partitions"], ref["partitions"]):
    assert g["start"] == r["start"] * 512 and g["size"] == r["size"] * 512, (g, r)
    assert g["partuuid"] == r["uuid"] and g["type-guid"] == r["type"] and g["name"] == r["name"], (g, r)
PY
then pass inspect-json-matches-sfdisk; else fail inspect-json-matches-sfdisk; fi

# A build interrupted by a signal leaves nothing behind.
for sig in INT TERM; do
        d="$T/int-$sig"; mkdir -p "$d"
        MKIMAGE_STALL_AT=gpt "$MKIMAGE" build models/demo-x86_64.yaml --data-key "$DATA_KEY" -o "$d/demo.img" 2>"$d.err" &
        pid=$!
        for _ in $(seq 100); do
                ls -A "$d" | grep -q mkimage- && break
                sleep 0.1
        done
        had_tmp=$(ls -A "$d" | grep -c mkimage-)
        kill -"$sig" "$pid"; wait "$pid"; rc=$?
        if [ "$had_tmp" = 1 ] && [ "$rc" -ne 0 ] && only_files "$d"; then
                pass "interrupt-$sig-leaves-nothing"
        else
                fail "interrupt-$sig-leaves-nothing" "tmp seen: $had_tmp, rc $rc, left: $(ls -A "$d")"
        fi
done

# A failed build replaces nothing: an existing image stays as it was. The failure comes after
# writing began: a fixed 1 MiB root is found too small only while the squashfs is written into
# the opened output (its temporary file), the stage after 'output'.
mkdir -p "$T/late" && cp "$T/o1/demo.img" "$T/late/keep.img"
python3 - "$SRC/layouts/uefi-ab.yaml" "$T/tiny-root.yaml" <<'PY'
import sys
t = open(sys.argv[1]).read().replace("size: auto\n    headroom: 32MiB", "size: 1MiB")
assert t.count("size: 1MiB") == 2
open(sys.argv[2], "w").write(t)
PY
MKIMAGE_STAGE_TIMES=1 "$MKIMAGE" build models/demo-x86_64.yaml --layout "$T/tiny-root.yaml" --data-key "$DATA_KEY" \
        -o "$T/late/keep.img" 2>"$T/late.err"
rc=$?
stages="$(sed -n 's/^mkimage: .* s  stage //p' "$T/late.err" | tr '\n' ' ')"
expect_eq failed-late-build-refused "$rc:$(grep -c 'the root does not fit' "$T/late.err"):${stages##* output }" "1:1:root "
check failed-build-keeps-old-output cmp "$T/o1/demo.img" "$T/late/keep.img"
if only_files "$T/late" keep.img; then pass failed-build-leaves-nothing; else fail failed-build-leaves-nothing "left: $(ls -A "$T/late" | tr "\n" " ")"; fi

# A build killed with SIGKILL leaves only its temporary file; the next build
# of that output removes it (it holds the folder's lock, so nobody else can
# own it) and says so.
d="$T/kill"; mkdir -p "$d"
MKIMAGE_STALL_AT=gpt "$MKIMAGE" build models/demo-x86_64.yaml --data-key "$DATA_KEY" -o "$d/demo.img" 2>/dev/null &
pid=$!
for _ in $(seq 100); do ls -A "$d" | grep -q mkimage- && break; sleep 0.1; done
kill -KILL "$pid"; wait "$pid" 2>/dev/null
left=$(ls -A "$d" | grep -c '^\.demo\.img\.mkimage-')
"$MKIMAGE" build models/demo-x86_64.yaml --data-key "$DATA_KEY" -o "$d/demo.img" >/dev/null 2>"$T/kill.err"
if [ "$left" = 1 ] && grep -q "^mkimage: warning: removed 1 stale temporary file of an interrupted build of $d/demo.img$" "$T/kill.err" &&
   only_files "$d" demo.img demo.img.manifest.yaml demo.img.manifest.yaml.minisig demo.img.manifest-b.yaml demo.img.manifest-b.yaml.minisig; then
        pass sigkill-stale-temporary-removed
else
        fail sigkill-stale-temporary-removed "left $left: $(cat "$T/kill.err"); now: $(ls -A "$d")"
fi

# Two builds of the same output at once: the second waits for the first and
# never mixes with it; the result is one complete, verifiable image.
d="$T/two"; mkdir -p "$d"
MKIMAGE_STALL_AT=gpt "$MKIMAGE" build models/demo-x86_64.yaml --data-key "$DATA_KEY" -o "$d/demo.img" 2>/dev/null &
first=$!
for _ in $(seq 100); do ls -A "$d" | grep -q mkimage- && break; sleep 0.1; done
"$MKIMAGE" build models/demo-x86_64.yaml --data-key "$DATA_KEY" -o "$d/demo.img" >/dev/null 2>"$T/two.err" &
second=$!
for _ in $(seq 100); do grep -q "waiting" "$T/two.err" && break; sleep 0.1; done
waited=$(grep -c "^mkimage: warning: another build is writing into '$d'; waiting for it to finish$" "$T/two.err")
kill -INT "$first"; wait "$first" 2>/dev/null
wait "$second"; rc=$?
if [ "$waited" = 1 ] && [ $rc = 0 ] && "$MKIMAGE" verify "$d/demo.img" --pub "$BUILD/keys/dev.pub" >/dev/null 2>&1 &&
   cmp_except_data "$d/demo.img" "$T/o1/demo.img"; then
        pass concurrent-builds-serialised
else
        fail concurrent-builds-serialised "waited $waited rc $rc: $(cat "$T/two.err")"
fi
