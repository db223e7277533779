# The power-cut matrix under QEMU (docs/update.md, "Testing"): a v1 device
# installs v2 from a second virtio disk and QEMU is killed (SIGKILL: no
# flush, no shutdown) where the guest's updater freezes (qemu-boot/run
# --power-cut-at): after each protocol step's line, and at ten byte offsets
# spread over the slot's writes (every other one after a sync, so that a
# partial slot survives and the next install resumes it). Each cut device is
# then powered on again: it must boot a good slot (v1 in slot a, or v2 in
# slot b after the commit), never neither and never a failed verification,
# and a second install must complete; the disk then verifies and slot b's
# root is byte for byte a clean install's. Two devices run at a time. The
# devices boot with Secure Boot (the demo model's default; each keeps its
# NVRAM, --vars, across the cut), so the install swaps slot b's signed UKI.
. "$(dirname "$0")/../lib/testlib.sh"
. "$(dirname "$0")/../lib/updatelib.sh"

D0="$T/v1.img"
"$MKIMAGE" build models/demo-x86_64.yaml --data-key "$DATA_KEY" -o "$D0" >/dev/null
rm -f "$D0".manifest*.yaml* "$D0.bmap"
# slot b's root zeroed: no block of it is already the new root's, so every install writes it all
read -r zs zn < <(part_offset "$D0" root-b)
python3 -c 'import sys; f=open(sys.argv[1],"r+b"); f.seek(int(sys.argv[2])); f.write(bytes(int(sys.argv[3])))' "$D0" "$zs" "$zn"
"$MKIMAGE" bundle "$(model 2)" -o "$T/v2.mkb" >/dev/null
# the reference: a clean install on the host
cp --sparse=always "$D0" "$T/ref.img"
upd "$T/ref.img" --booted a install "$T/v2.mkb" >/dev/null
want_root=$(slot_sum "$T/ref.img" root-b) want_verity=$(slot_sum "$T/ref.img" root-b-verity)
"$MKIMAGE" bundle --info "$T/v2.mkb" --json >"$T/v2.json"
total=$(json_get "$T/v2.json" 'sum(p["size"] for p in d["parts"] if p["kind"]=="root" or (p["kind"]=="verity" and p["slot"]=="b"))')

points=(step:check step:disable step:verity step:root step:readback step:files step:commit)
for k in 0 1 2 3 4 5 6 7 8 9; do
        b=$((total * (2 * k + 1) / 20))
        [ $((k % 2)) -eq 0 ] && points+=("byte:$b") || points+=("byte:$b+synced")
done
guest_script "$T/install.sh" 2 "poweroff -f" "mkimage-update install /dev/vdb"

# one K WHERE: device K cut at WHERE, powered on again; its verdict in $T/K.res ("ok ..." or why not)
one() {
        local k=$1 where=$2 img="$T/d$1.img" rc=0 first why=''
        cp --sparse=always "$D0" "$img"
        "$RUN" --in-place --timeout "$BOOT_TIMEOUT" --data-key "$DATA_KEY" --vars "$T/$k.vars" --power-cut-at "$where" \
                --fw-cfg guest-script="$T/install.sh" --attach "$T/v2.mkb" --log "$T/$k.cut.log" "$img" \
                >/dev/null 2>"$T/$k.cut.err" || rc=$?
        if [ $rc -ne 0 ]; then
                echo "the cut did not happen (qemu-boot/run exit $rc): $(grep -a '^qemu-boot/run:' "$T/$k.cut.err" | head -2)" >"$T/$k.res"
                return
        fi
        "$RUN" --in-place --timeout "$BOOT_TIMEOUT" --data-key "$DATA_KEY" --vars "$T/$k.vars" \
                --fw-cfg guest-script="$T/install.sh" --attach "$T/v2.mkb" --log "$T/$k.log" "$img" >/dev/null 2>"$T/$k.err" || true
        tr -d '\r' <"$T/$k.log" >"$T/$k.txt"
        first=$(grep -a -m1 -o 'MKIMAGE-BOOT-OK slot=. version=[0-9]*' "$T/$k.txt")
        case "$first" in
        "MKIMAGE-BOOT-OK slot=a version=1" | "MKIMAGE-BOOT-OK slot=b version=2") ;;
        *) why="booted [${first:-nothing}]" ;;
        esac
        grep -aq 'VERIFY FAILED' "$T/$k.txt" && why="$why; a slot failed verification"
        grep -aqE '^(GUEST-INSTALLED|GUEST-DONE slot=b version=2)' "$T/$k.txt" ||
                why="$why; the second install did not complete: $(grep -a '^mkimage-update' "$T/$k.txt" | tail -2 | tr '\n' '|')"
        "$MKIMAGE" verify "$img" --pub "$PUB" --sb-cert "$BUILD/keys/sb/db.crt" >"$T/$k.verify" 2>&1 || why="$why; mkimage verify: $(grep -v OK "$T/$k.verify" | head -3 | tr '\n' '|')"
        [ "$(slot_sum "$img" root-b)" = "$want_root" ] || why="$why; root-b is not a clean install's"
        [ "$(slot_sum "$img" root-b-verity)" = "$want_verity" ] || why="$why; root-b-verity is not a clean install's"
        if [ -n "$why" ]; then
                echo "${why#; }" >"$T/$k.res"
        else
                echo "ok: then booted ${first#MKIMAGE-BOOT-OK }$(grep -aq '^mkimage-update: resume:' "$T/$k.txt" && echo ', the install resumed')" >"$T/$k.res"
        fi
        rm -f "$img" "$T/$k.vars"
}

for ((i = 0; i < ${#points[@]}; i += 2)); do
        one $i "${points[i]}" &
        [ $((i + 1)) -ge ${#points[@]} ] || one $((i + 1)) "${points[i + 1]}" &
        wait
done
resumed=0
for i in "${!points[@]}"; do
        res=$(cat "$T/$i.res" 2>/dev/null || echo "no verdict")
        case "$res" in
        ok:*)
                pass "cut-at-${points[i]}"
                echo "    [$SUITE] cut at ${points[i]}: $res" >&2
                case "$res" in *resumed*) resumed=$((resumed + 1)) ;; esac
                ;;
        *) fail "cut-at-${points[i]}" "$res" ;;
        esac
done
check some-cuts-resumed test $resumed -ge 3
echo "    [$SUITE] ${#points[@]} power cuts over a $total-byte slot write; $resumed installs resumed" >&2
