#!/bin/bash
# The update benchmark (issue 19; docs/update.md): on the warm benchmark's
# three-component root (run tests/bench/warm.sh first; it packs them into
# BENCH_DIR/warm), release 1 is built as an image; release 2 changes one file
# of one Debian package of the "rest" component (the package is repacked
# with the component, as a vendor's rebuild would). Printed:
#   bundle ratio   `mkimage bundle IMAGE` wall / `cp` + sync of the bundle's bytes
#                  (target <= 1.5)
#   install ratio  `mkimage-update --disk` install of the full bundle wall / `dd`
#                  of the same root bytes into the same partition, fsynced
#                  (the floor; target <= 1.3)
#   delta          the bundle from release 1 against the full one, and the root
#                  bytes it ships against the changed package's files as stored
#                  in the root plus 2 MiB (the target)
# Not a test: exits 0 whatever the figures; non-zero when a side fails. Paired
# runs, medians. Environment: BENCH_DIR, BENCH_ROUNDS, MKIMAGE, SIGN_KEY.
set -euo pipefail
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
abs() { case "$1" in /*) printf '%s' "$1" ;; *) printf '%s' "$SRC/$1" ;; esac; }
BENCH_DIR="$(abs "${BENCH_DIR:-build/bench}")"
MKIMAGE="$(abs "${MKIMAGE:-build/mkimage}")"
UPDATE="$(dirname "$MKIMAGE")/mkimage-update"
SIGN_KEY="$(abs "${SIGN_KEY:-build/keys/dev.key}")"
ROUNDS="${BENCH_ROUNDS:-3}"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-1767225600}" MTOOLS_SKIP_CHECK=1
W="$BENCH_DIR/warm"
U="$BENCH_DIR/update"
LOG="$U/run.log"

say() { printf 'bench-update: %s\n' "$*"; }
die() { printf 'bench-update: error: %s\n' "$*" >&2; exit 1; }
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive number, not '$ROUNDS'"
[ -f "$W/comps.stamp" ] && [ -f "$W/model.yaml" ] || die "no packed components in $W: run tests/bench/warm.sh first"
[ -x "$MKIMAGE" ] && [ -x "$UPDATE" ] || die "$MKIMAGE or $UPDATE is missing: run make first"
mkdir -p "$U"
: >"$LOG"
run() { "$@" >>"$LOG" 2>&1 || { tail -n 20 "$LOG" >&2; die "failed: $*"; }; }

# --- release 2: one file of one package changed, the rest component repacked (once) ------
PKG_FILE="$U/package"
if ! [ -f "$U/rest2.comp" ]; then
	rm -rf "$U/src"; mkdir -p "$U/src"
	pkg=""
	for deb in "$BENCH_DIR"/debs/*.deb; do
		case "$(basename "$deb")" in linux-image* | python3.11* | libpython3.11*) continue ;; esac
		dpkg -x "$deb" "$U/src"
		# the package: the first one (by name) of 1 to 8 MB installed
		size=$(dpkg-deb -f "$deb" Installed-Size)
		[ -z "$pkg" ] && [ "$size" -ge 1024 ] && [ "$size" -le 8192 ] && pkg="$deb"
	done
	[ -n "$pkg" ] || die "no package of 1 to 8 MB in the rest component"
	# its largest regular file gets one more line: a rebuilt package
	victim=$(dpkg-deb -c "$pkg" | awk '$1 ~ /^-/ { print $3, $6 }' | sort -n | tail -n 1 | cut -d' ' -f2)
	echo "changed by tests/bench/update.sh" >>"$U/src/${victim#./}"
	dpkg-deb -c "$pkg" | awk '$1 ~ /^-/ { print $6 }' | sed 's|^\./||' >"$U/package.files"
	printf '%s %s\n' "$(basename "$pkg")" "$victim" >"$PKG_FILE"
	chmod 755 "$U/src"
	printf 'name: rest\nversion: 1.1\ntype: app\nlicense: various\nsupplier: Debian\n' >"$U/rest.yaml"
	say "repacking rest with $(cat "$PKG_FILE") (once; kept in $U)"
	run "$MKIMAGE" component pack "$U/src" --meta "$U/rest.yaml" -c zstd -l 15 -b 131072 -o "$U/rest2.comp.tmp"
	mv "$U/rest2.comp.tmp" "$U/rest2.comp"
	run "$MKIMAGE" sign "$U/rest2.comp" --key "$SIGN_KEY"
	rm -rf "$U/src"
fi
# the kernel as a kernel component (warm.sh packs it as an app): an update needs boot entries
if ! [ -f "$U/kernel.comp" ]; then
	rm -rf "$U/ksrc"
	unsquashfs -q -n -d "$U/ksrc" "$W/kernel.comp" >>"$LOG" 2>&1 || die "unsquashfs of the kernel failed"
	rm -rf "$U/ksrc/meta"
	# a kernel component carries /vmlinuz and /initrd.img at its top (docs/component.md): the
	# package's kernel, and the demo kernel component's initramfs base
	cp "$U"/ksrc/boot/vmlinuz-* "$U/ksrc/vmlinuz"
	unsquashfs -q -n -cat "$(dirname "$MKIMAGE")/components/kernel.comp" initrd.img >"$U/ksrc/initrd.img" ||
		die "no initrd.img in the demo kernel component (run make components first)"
	printf 'name: kernel\nversion: 1.0\ntype: kernel\nlicense: GPL-2.0-only\nsupplier: Debian\n' >"$U/kernel.yaml"
	run "$MKIMAGE" component pack "$U/ksrc" --meta "$U/kernel.yaml" -c zstd -l 15 -b 131072 -o "$U/kernel.comp"
	run "$MKIMAGE" sign "$U/kernel.comp" --key "$SIGN_KEY"
	rm -rf "$U/ksrc"
fi
sed -e "s|^layout: layout.yaml|layout: $W/layout.yaml|" -e "s|file: \([a-z]*\).comp|file: $W/\1.comp|" \
	-e "s|file: $W/kernel.comp|file: $U/kernel.comp|" "$W/model.yaml" >"$U/v1.yaml"
printf 'boot:\n  console: ttyS0,115200\n' >>"$U/v1.yaml"
sed -e 's|^version: 1$|version: 2|' -e "s|file: $W/rest.comp|file: $U/rest2.comp|" "$U/v1.yaml" >"$U/v2.yaml"

say "building release 1 and release 2 images"
run "$MKIMAGE" build "$U/v1.yaml" -o "$U/v1.img"
run "$MKIMAGE" build "$U/v2.yaml" -o "$U/v2.img"
rm -f "$U"/v[12].img.manifest* "$U"/v[12].img.bmap

# --- the delta ------------------------------------------------------------------------
run "$MKIMAGE" bundle "$U/v2.img" --sign-key "$SIGN_KEY" -o "$U/v2.mkb"
run "$MKIMAGE" bundle "$U/v2.img" --sign-key "$SIGN_KEY" --from "$U/v1.img" -o "$U/v2-delta.mkb"
"$MKIMAGE" bundle --info "$U/v2-delta.mkb" --json >"$U/delta.json"
part_range() { sfdisk -J "$1" | python3 -c 'import json,sys
for p in json.load(sys.stdin)["partitiontable"]["partitions"]:
    if p.get("name") == sys.argv[1]: print(p["start"] * 512, p["size"] * 512)' "$2"; }
read -r RA _ < <(part_range "$U/v2.img" root-a)
# the changed package's files as stored in the new root: their data blocks and fragments
stored=$(python3 - "$U/v2.img" "$RA" "$U/package.files" <<'PY'
import subprocess, sys
img, off, files = sys.argv[1], int(sys.argv[2]), sys.argv[3]
# unsquashfs -lls gives sizes, not stored bytes; take the uncompressed size over the root's ratio
names = set(l.strip() for l in open(files) if l.strip())
out = subprocess.run(["unsquashfs", "-o", str(off), "-lls", "-n", img], capture_output=True, text=True).stdout
total = sum(int(l.split()[2]) for l in out.splitlines() if l[:1] == "-" and l.split(None, 5)[5].replace("squashfs-root/", "", 1) in names)
print(total)
PY
)
full=$(stat -c %s "$U/v2.mkb") delta=$(stat -c %s "$U/v2-delta.mkb")
shipped=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print([p["size"] for p in d["parts"] if p["kind"]=="root"][0])' "$U/delta.json")
bound=$((stored + 2 * 1024 * 1024))

# --- the ratios ---------------------------------------------------------------------------
timed() { # OUTFILE CMD...: "wall user sys maxrss", the wall to the millisecond (GNU time's is in hundredths)
	local out="$1" t0 t1; shift
	t0=$(date +%s%N)
	/usr/bin/time -f '%U %S %M' -o "$U/.time" "$@" >>"$LOG" 2>&1 || { tail -n 20 "$LOG" >&2; die "failed: $*"; }
	t1=$(date +%s%N)
	printf '%s %s\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')" "$(tail -n 1 "$U/.time")" >>"$out"
}
read -r RB RBN < <(part_range "$U/v1.img" root-b)
ROOT_SIZE=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["slots"][1]["root-size"])' "$U/delta.json")
dd if="$U/v2.img" of="$U/root.bin" bs=1M skip="$RA" count="$ROOT_SIZE" iflag=skip_bytes,count_bytes status=none
rm -f "$U"/*.times
say "$ROUNDS rounds of (mkimage bundle, cp + sync of the bundle, mkimage-update install, dd + fsync of the root)"
for ((i = 1; i <= ROUNDS; i++)); do
	rm -f "$U/b.mkb"; sync
	timed "$U/bundle.times" "$MKIMAGE" bundle "$U/v2.img" --sign-key "$SIGN_KEY" -o "$U/b.mkb"
	rm -f "$U/cp.out"; sync
	timed "$U/cp.times" sh -c 'cp "$1" "$2" && sync "$2"' cp "$U/v2.mkb" "$U/cp.out"
	cp --sparse=always "$U/v1.img" "$U/dev.img"; sync
	timed "$U/install.times" "$UPDATE" --disk "$U/dev.img" --booted a --pub "${SIGN_KEY%.key}.pub" install "$U/v2.mkb"
	cp --sparse=always "$U/v1.img" "$U/dev.img"; sync
	timed "$U/dd.times" dd if="$U/root.bin" of="$U/dev.img" bs=1M seek="$RB" oflag=seek_bytes conv=notrunc,fsync status=none
done
rm -f "$U/b.mkb" "$U/cp.out" "$U/dev.img" "$U/root.bin"

median() { awk "{ print $2 }" "$1" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) printf "%.3f", v[(NR + 1) / 2]; else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { if awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; then echo PASS; else echo MISS; fi; }
echo
printf '%-8s %8s %8s %9s\n' side wall cpu rss_mib
for s in bundle cp install dd; do
	printf '%-8s %8s %8s %9s\n' "$s" "$(median "$U/$s.times" '$1')" "$(median "$U/$s.times" '$2 + $3')" "$(median "$U/$s.times" '$4 / 1024')"
done
br="$(ratio "$(median "$U/bundle.times" '$1')" "$(median "$U/cp.times" '$1')")"
ir="$(ratio "$(median "$U/install.times" '$1')" "$(median "$U/dd.times" '$1')")"
echo "bundle ratio $br   (mkimage bundle / cp + sync of the bundle; target <= 1.5: $(verdict "$br" 1.5))"
echo "install ratio $ir   (mkimage-update install / dd + fsync of the root; target <= 1.3: $(verdict "$ir" 1.3))"
echo "delta: $(cat "$PKG_FILE") changed; full bundle $full bytes, delta $delta bytes ($(ratio $((delta * 100)) "$full") %)"
echo "delta root: $shipped bytes shipped; the package's files are $stored bytes uncompressed, + 2 MiB = $bound: $(verdict "$shipped" "$bound")"
