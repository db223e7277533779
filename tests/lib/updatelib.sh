# Helpers for the cases that run mkimage-update on a host disk image or in a
# guest (tests/cases/update*.sh, delta.sh). Source after testlib.sh. It sets
# UPD (the updater), KEY and PUB (the dev key), RUN (qemu-boot/run) and
# BOOT_TIMEOUT, works from the checkout, and removes on exit the models that
# `model` makes in models/ (their relative paths resolve from there).
cd "$SRC"
export MTOOLS_SKIP_CHECK=1
UPD="$BUILD/mkimage-update"
KEY="$BUILD/keys/dev.key"
PUB="$BUILD/keys/dev.pub"
RUN="$SRC/qemu-boot/run"
BOOT_TIMEOUT=${BOOT_TIMEOUT:-300}
trap 'rm -f "$SRC"/models/.test-$SUITE-$$-*.yaml; rm -rf "$T"' EXIT

# hello VERSION LINE: the hello component at that version, with one more line in its config
hello() {
        local d="$T/hello-$1"
        components/hello/build.sh "$d/tree" >/dev/null
        echo "$2" >>"$d/tree/etc/hello.conf"
        sed "s/^version: 1.0.0$/version: $1/" components/hello/component.yaml >"$d/meta.yaml"
        "$MKIMAGE" component pack "$d/tree" --meta "$d/meta.yaml" -o "$d/hello.comp" >/dev/null &&
                "$MKIMAGE" sign "$d/hello.comp" --key "$KEY" >/dev/null && echo "$d/hello.comp"
}
# model VERSION [HELLO.comp] [NAME] [EXTRA.comp]: the demo model at that version (with that hello,
# that model name, one more app component signed by dev); with TYPE1=1, `secure-boot: off`
model() {
        local f="$SRC/models/.test-$SUITE-$$-$1${3:+-$3}${4:+-$(basename "$4" .comp)}${TYPE1:+-t1}.yaml"
        sed -e "s/^version: 1$/version: $1/" ${2:+-e "s|file: ../build/components/hello.comp|file: $2|"} \
                ${3:+-e "s/^model: demo-x86_64$/model: $3/"} models/demo-x86_64.yaml |
                if [ -n "${TYPE1:-}" ]; then
                        awk '/^secure-boot:/ { skip = 1; print "secure-boot: off"; next } skip && /^ / { next } { skip = 0; print }'
                else cat; fi >"$f"
        [ -z "${4:-}" ] || printf '  - name: %s\n    file: %s\n    signer: dev\n' "$(basename "$4" .comp)" "$4" |
                sed -i "/^components:/r /dev/stdin" "$f"
        echo "$f"
}

# upd IMG ARGS...: mkimage-update on IMG with the dev key
upd() { "$UPD" --disk "$1" --pub "$PUB" "${@:2}"; }
# slot_sum IMG PART: sha256 of a partition
slot_sum() { read -r s n < <(part_offset "$1" "$2"); python3 -c 'import hashlib,sys; f=open(sys.argv[1],"rb"); f.seek(int(sys.argv[2])); print(hashlib.sha256(f.read(int(sys.argv[3]))).hexdigest())' "$1" "$s" "$n"; }
# entry IMG SLOT: the slot's boot entry file name, a type #1 entry in loader/entries or a UKI in
# EFI/Linux (one line each: a slot with two prints both)
entry() {
        read -r s _ < <(part_offset "$1" esp)
        { mdir -b -i "$1@@$s" ::/loader/entries 2>/dev/null; mdir -b -i "$1@@$s" ::/EFI/Linux 2>/dev/null; } |
                sed -En "s;.*/(slot-$2(\+[0-9-]*)?\.(conf|efi))\$;\1;p"
}
# entry_sum IMG SLOT: sha256 of the slot's boot entry file (its UKI, for a Secure Boot slot)
entry_sum() {
        local e s
        e=$(entry "$1" "$2"); read -r s _ < <(part_offset "$1" esp)
        case "$e" in *.efi) e="EFI/Linux/$e" ;; *) e="loader/entries/$e" ;; esac
        mcopy -n -i "$1@@$s" "::/$e" "$T/.entry" && sha256sum <"$T/.entry" | cut -d' ' -f1
}
# verify_img IMG: mkimage verify with the dev key (and --sb-cert $SB_CERT when set: a Secure Boot image)
verify_img() { "$MKIMAGE" verify "$1" --pub "$PUB" ${SB_CERT:+--sb-cert "$SB_CERT"}; }
# json_get FILE EXPR: a value of a JSON file (d is the document)
json_get() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
# slice FILE OFFSET SIZE OUT: SIZE bytes of FILE at OFFSET into OUT
slice() { python3 -c 'import sys; f=open(sys.argv[1],"rb"); f.seek(int(sys.argv[2])); open(sys.argv[4],"wb").write(f.read(int(sys.argv[3])))' "$@"; }

# crash_matrix NAME IMG BUNDLE MIN [ROOT_B]: for N = 1, 2, ... a copy of IMG (booted a) is
# installed with MKIMAGE_UPDATE_CRASH_AT=N until an install completes. After each crash slot a
# and its entry (its bytes too: a UKI) are as in IMG, slot b is either not bootable or whole (verify_img), and a
# second install completes, verifies (and gives root-b the sha256 ROOT_B when given). Passes
# NAME when that held for at least MIN crash points.
crash_matrix() {
        local name=$1 img=$2 bundle=$3 min=$4 want_b=${5:-} ok=1 n=0 w rc eb
        local a_root a_entry a_sum c="$T/crash.img"
        a_root=$(slot_sum "$img" root-a) a_entry=$(entry "$img" a) a_sum=$(entry_sum "$img" a)
        for w in $(seq 1 60); do
                cp --sparse=always "$img" "$c"
                rc=0; MKIMAGE_UPDATE_CRASH_AT=$w upd "$c" --booted a install "$bundle" >/dev/null 2>"$T/crash.err" || rc=$?
                [ $rc -eq 0 ] && break # past the last write: the install completed
                n=$w
                if [ $rc -ne 99 ]; then ok=0; echo "    crash at $w: exit $rc: $(cat "$T/crash.err")" >&2; break; fi
                # slot b: no tries, or no entry (between the old one's removal and the rename), or whole
                eb=$(entry "$c" b)
                if [ "$(slot_sum "$c" root-a)" != "$a_root" ] || [ "$(entry "$c" a)" != "$a_entry" ] ||
                        [ "$(entry_sum "$c" a)" != "$a_sum" ]; then
                        ok=0; echo "    crash at $w: slot a changed" >&2
                elif [ -n "$eb" ] && ! [[ "$eb" =~ ^slot-b\+(0-1|3)\.(conf|efi)$ ]]; then
                        ok=0; echo "    crash at $w: slot b's entry is $eb" >&2
                elif [[ "$eb" = slot-b+3.* ]] && ! verify_img "$c" >/dev/null; then
                        ok=0; echo "    crash at $w: slot b bootable but not whole" >&2
                fi
                if ! upd "$c" --booted a install "$bundle" >/dev/null 2>"$T/crash.err" ||
                        ! verify_img "$c" >/dev/null ||
                        { [ -n "$want_b" ] && [ "$(slot_sum "$c" root-b)" != "$want_b" ]; }; then
                        ok=0; echo "    crash at $w: the second install: $(cat "$T/crash.err")" >&2
                fi
        done
        check "$name" test $ok = 1 -a $n -ge "$min"
        echo "    [$SUITE] $name: a crash before each of $n writes of $(basename "$bundle"), then a second install" >&2
}

# guest_script FILE WANT AFTER INSTALL [DISK...]: a guest script (qemu-boot/run --fw-cfg
# guest-script=FILE) for a device that should end at version WANT. It prints the running slot and
# `mkimage-update status --json` (GUEST-STATUS lines); at WANT, or when it installed WANT before (a
# mark on /data: a slot that fell back does not install again), it says GUEST-DONE and powers off.
# Else it tries to install each DISK, each expected to be refused (GUEST-REFUSED DISK, the status
# after it as GUEST-STATUS-AFTER-DISK), then runs INSTALL (an updater command line) and on success
# says GUEST-INSTALLED and runs AFTER (reboot -f or poweroff -f).
guest_script() {
        local f=$1 want=$2 after=$3 install=$4
        shift 4
        cat >"$f" <<EOS
slot=\$(cat /run/mkimage/slot) v=\$(cat /run/mkimage/version)
echo "GUEST: running slot=\$slot version=\$v"
echo "GUEST-STATUS \$(mkimage-update status --json)"
if [ "\$v" -ge $want ] || [ -e /data/guest-installed-$want ]; then
        echo "GUEST-DONE slot=\$slot version=\$v"
        poweroff -f
fi
for d in $*; do
        if mkimage-update install /dev/\$d; then echo "GUEST-TAMPER-INSTALLED \$d"; else echo "GUEST-REFUSED \$d"; fi
        echo "GUEST-STATUS-AFTER-\$d \$(mkimage-update status --json)"
done
if $install; then
        echo GUEST-INSTALLED
        touch /data/guest-installed-$want
        sync
        $after
fi
echo GUEST-INSTALL-FAILED
poweroff -f
EOS
}
# guest_status LOG PREFIX: the slots of the last status JSON on the console after PREFIX, one
# line per slot: "a good 1 booted" (the state, the version, booted or not)
guest_status() {
        tr -d '\r' <"$1" | grep -a "^$2 {" | tail -n 1 | cut -d' ' -f2- | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
for s in d["slots"]:
    print(s["slot"], s["state"], s["version"], "booted" if s["booted"] else "-")'
}
# host_status IMG BOOTED: the same lines from mkimage-update status --json on the host
host_status() {
        upd "$1" --booted "$2" status --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
for s in d["slots"]:
    print(s["slot"], s["state"], s["version"], "booted" if s["booted"] else "-")'
}
