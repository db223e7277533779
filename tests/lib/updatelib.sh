# Helpers for the cases that run mkimage-update on a host disk image
# (tests/cases/update.sh, delta.sh). Source after testlib.sh; needs UPD, PUB, MKIMAGE.

# upd IMG ARGS...: mkimage-update on IMG with the dev key
upd() { "$UPD" --disk "$1" --pub "$PUB" "${@:2}"; }
# slot_sum IMG PART: sha256 of a partition
slot_sum() { read -r s n < <(part_offset "$1" "$2"); python3 -c 'import hashlib,sys; f=open(sys.argv[1],"rb"); f.seek(int(sys.argv[2])); print(hashlib.sha256(f.read(int(sys.argv[3]))).hexdigest())' "$1" "$s" "$n"; }
# entry IMG SLOT: the slot's boot entry file name
entry() { read -r s _ < <(part_offset "$1" esp); mdir -b -i "$1@@$s" ::/loader/entries | sed -n "s|.*/\(slot-$2\(+[0-9-]*\)\{0,1\}\.conf\)$|\1|p"; }
# json_get FILE EXPR: a value of a JSON file (d is the document)
json_get() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
# slice FILE OFFSET SIZE OUT: SIZE bytes of FILE at OFFSET into OUT
slice() { python3 -c 'import sys; f=open(sys.argv[1],"rb"); f.seek(int(sys.argv[2])); open(sys.argv[4],"wb").write(f.read(int(sys.argv[3])))' "$@"; }

# crash_matrix NAME IMG BUNDLE MIN [ROOT_B]: for N = 1, 2, ... a copy of IMG (booted a) is
# installed with MKIMAGE_UPDATE_CRASH_AT=N until an install completes. After each crash slot a
# and its entry are as in IMG, slot b is either not bootable or whole (mkimage verify), and a
# second install completes, verifies (and gives root-b the sha256 ROOT_B when given). Passes
# NAME when that held for at least MIN crash points.
crash_matrix() {
        local name=$1 img=$2 bundle=$3 min=$4 want_b=${5:-} ok=1 n=0 w rc eb
        local a_root a_entry c="$T/crash.img"
        a_root=$(slot_sum "$img" root-a) a_entry=$(entry "$img" a)
        for w in $(seq 1 60); do
                cp --sparse=always "$img" "$c"
                rc=0; MKIMAGE_UPDATE_CRASH_AT=$w upd "$c" --booted a install "$bundle" >/dev/null 2>"$T/crash.err" || rc=$?
                [ $rc -eq 0 ] && break # past the last write: the install completed
                n=$w
                if [ $rc -ne 99 ]; then ok=0; echo "    crash at $w: exit $rc: $(cat "$T/crash.err")" >&2; break; fi
                # slot b: no tries, or no entry (between the old one's removal and the rename), or whole
                eb=$(entry "$c" b)
                if [ "$(slot_sum "$c" root-a)" != "$a_root" ] || [ "$(entry "$c" a)" != "$a_entry" ]; then
                        ok=0; echo "    crash at $w: slot a changed" >&2
                elif [ "$eb" != "slot-b+0-1.conf" ] && [ "$eb" != "slot-b+3.conf" ] && [ -n "$eb" ]; then
                        ok=0; echo "    crash at $w: slot b's entry is $eb" >&2
                elif [ "$eb" = "slot-b+3.conf" ] && ! "$MKIMAGE" verify "$c" --pub "$PUB" >/dev/null; then
                        ok=0; echo "    crash at $w: slot b bootable but not whole" >&2
                fi
                if ! upd "$c" --booted a install "$bundle" >/dev/null 2>"$T/crash.err" ||
                        ! "$MKIMAGE" verify "$c" --pub "$PUB" >/dev/null ||
                        { [ -n "$want_b" ] && [ "$(slot_sum "$c" root-b)" != "$want_b" ]; }; then
                        ok=0; echo "    crash at $w: the second install: $(cat "$T/crash.err")" >&2
                fi
        done
        check "$name" test $ok = 1 -a $n -ge "$min"
        echo "    [$SUITE] $name: a crash before each of $n writes of $(basename "$bundle"), then a second install" >&2
}
