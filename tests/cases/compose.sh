# Root slots: composition of the demo components into root-a, slot b copy,
# dm-verity checked by veritysetup, signed manifests checked by minisign,
# conflicts and overrides, sizing errors.
. "$(dirname "$0")/../lib/testlib.sh"
cd "$SRC"
K="$BUILD/keys"
C="$BUILD/components"

part() { # IMG NAME -> "start size" in bytes
        sfdisk -J "$1" | python3 -c '
import json, sys
t = json.load(sys.stdin)["partitiontable"]
for p in t["partitions"]:
    if p["name"] == sys.argv[1]:
        print(p["start"] * 512, p["size"] * 512)' "$2"
}
extract() { # IMG NAME OUT [BYTES]
        local start psize
        read -r start psize <<<"$(part "$1" "$2")"
        dd if="$1" of="$3" bs=1M iflag=skip_bytes,count_bytes skip="$start" count="${4:-$psize}" status=none
}
mval() { sed -n "s/^ *$2: //p" "$1" | head -1; }

mkdir -p "$T/o"
"$MKIMAGE" build models/demo-x86_64.yaml --data-key "$DATA_KEY" -o "$T/o/demo.img" 2>"$T/err" || fail build "$(cat "$T/err")"
I="$T/o/demo.img"
size=$(mval "$I.manifest.yaml" size)
extract "$I" root-a "$T/ra.sqfs" "$size"

TZ=UTC unsquashfs -lls "$T/ra.sqfs" |
        sed -E 's#^(-\S+ \S+) +[0-9]+ (.* squashfs-root/(bin/busybox|usr/bin/hello|usr/sbin/mkimage-update))$#\1 SIZE \2#' >"$T/root.lls"
expect_file_eq root-union-golden "$T/root.lls" tests/golden/demo-root.lls
expect_eq provenance-base "$(unsquashfs -cat "$T/ra.sqfs" usr/share/mkimage/components/base.yaml)" \
        "$(cat components/base/component.yaml)"
expect_eq provenance-hello "$(unsquashfs -cat "$T/ra.sqfs" usr/share/mkimage/components/hello.yaml)" \
        "$(cat components/hello/component.yaml)"

for s in a b; do
        mf="$I.manifest.yaml"; [ $s = b ] && mf="$I.manifest-b.yaml"
        extract "$I" "root-$s" "$T/r$s.data" "$size"
        extract "$I" "root-$s-verity" "$T/r$s.hash"
        if veritysetup verify "$T/r$s.data" "$T/r$s.hash" "$(mval "$mf" root-hash)" >"$T/vs" 2>&1; then
                pass "veritysetup-verifies-root-$s"
        else
                fail "veritysetup-verifies-root-$s" "$(cat "$T/vs")"
        fi
        expect_eq "manifest-sha256-$s" "$(sha256sum <"$T/r$s.data" | cut -d' ' -f1)" "$(mval "$mf" sha256)"
        expect_eq "manifest-slot-$s" "$(mval "$mf" slot)" "$s"
        expect_eq "manifest-salt-$s" "$(veritysetup dump "$T/r$s.hash" | sed -n 's/^Salt:\s*//p')" "$(mval "$mf" salt)"
        if minisign -Vm "$mf" -p "$K/dev.pub" >"$T/ms" 2>&1; then
                pass "minisign-verifies-manifest-$s"
        else
                fail "minisign-verifies-manifest-$s" "$(cat "$T/ms")"
        fi
done
check slot-b-is-copy cmp "$T/ra.data" "$T/rb.data"
expect_eq created-from-sde "$(mval "$I.manifest.yaml" created)" "$(date -u -d @"$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)"

# Two components that provide the same file: an error naming both and the path.
mkdir -p "$T/x/etc" "$T/y/etc"
echo from-x >"$T/x/etc/motd"; echo from-y >"$T/y/etc/motd"
for n in x y; do
        printf 'name: %s\nversion: 1.0\ntype: app\nlicense: MIT\nsupplier: test\n' $n >"$T/$n.yaml"
        "$MKIMAGE" component pack "$T/$n" --meta "$T/$n.yaml" -o "$T/$n.comp" >/dev/null
        "$MKIMAGE" sign "$T/$n.comp" --key "$K/dev.key" >/dev/null
done
model() { # NAME EXTRA_FOR_Y [LAYOUT]
        cat >"$T/$1.yaml" <<EOM
model: t
brand: example
version: 3
architecture: x86_64
grade: signed
layout: ${3:-$SRC/layouts/uefi-ab.yaml}
signing-key: $K/dev.key
data:
  encryption: none
trusted-keys:
  dev: $K/dev.pub
components:
  - name: base
    file: $C/base.comp
    signer: dev
  - name: x
    file: x.comp
    signer: dev
  - name: y
    file: y.comp
    signer: dev$2
EOM
}
refuse() { # NAME REGEX
        rm -rf "$T/out"; mkdir -p "$T/out"
        (cd "$T" && "$MKIMAGE" build "$1.yaml" -o out/z.img) >/dev/null 2>"$T/e"; local rc=$?
        if [ $rc = 1 ] && grep -qE -- "$2" "$T/e" && only_files "$T/out"; then pass "$1"; else
                fail "$1" "rc $rc: $(cat "$T/e"); left: $(ls -A "$T/out")"
        fi
}
model conflict ""
refuse conflict "^mkimage: conflict.yaml:19:5: components 'x' and 'y' both provide '/etc/motd' \(remove it from one, or list it under 'overrides:' of 'y' to let it win\)$"

model override $'\n    overrides: [/etc/motd]'
mkdir -p "$T/out2"
if (cd "$T" && "$MKIMAGE" build override.yaml -o out2/z.img) >/dev/null 2>"$T/e"; then
        extract "$T/out2/z.img" root-a "$T/z.sqfs" "$(mval "$T/out2/z.img.manifest.yaml" size)"
        expect_eq override-later-wins "$(unsquashfs -cat "$T/z.sqfs" etc/motd)" from-y
else
        fail override-later-wins "$(cat "$T/e")"
fi
model override-missing $'\n    overrides: [/etc/nothing]'
refuse override-missing "component 'y' overrides '/etc/nothing' but does not provide it"

# A component that declares a setuid file: the root holds it setuid, the signed manifest lists it.
mkdir -p "$T/s/usr/bin" && printf 'x' >"$T/s/usr/bin/sux" && chmod 4755 "$T/s/usr/bin/sux"
printf 'name: s\nversion: 1.0\ntype: app\nlicense: MIT\nsupplier: test\nsetuid: [/usr/bin/sux]\n' >"$T/s.yaml"
"$MKIMAGE" component pack "$T/s" --meta "$T/s.yaml" -o "$T/s.comp" >/dev/null && "$MKIMAGE" sign "$T/s.comp" --key "$K/dev.key" >/dev/null
model setuid $'\n    overrides: [/etc/motd]'
sed -i 's/^  - name: y$/  - name: s\n    file: s.comp\n    signer: dev\n  - name: y/' "$T/setuid.yaml"
mkdir -p "$T/out3"
if (cd "$T" && "$MKIMAGE" build setuid.yaml -o out3/z.img) >/dev/null 2>"$T/e"; then
        extract "$T/out3/z.img" root-a "$T/s.sqfs" "$(mval "$T/out3/z.img.manifest.yaml" size)"
        check setuid-in-root bash -c "unsquashfs -lln '$T/s.sqfs' usr/bin/sux | grep -q '^-rwsr-xr-x 0/0 .*/usr/bin/sux\$'"
        check setuid-in-manifest python3 -c '
import sys, yaml
m = yaml.safe_load(open(sys.argv[1]))
c = {c["name"]: c for c in m["components"]}
assert c["s"]["setuid"] == ["/usr/bin/sux"] and "setuid" not in c["x"], c' "$T/out3/z.img.manifest.yaml"
        check setuid-manifest-verifies "$MKIMAGE" verify "$T/out3/z.img" --pub "$K/dev.pub"
else
        fail setuid-in-root "$(cat "$T/e")"
fi

# A booted root without /sbin/init (the kernel component, no base): refused, nothing written.
model noinit $'\n    overrides: [/etc/motd]'
sed -i -e "s|^  - name: base$|  - name: kernel|" -e "s|file: $C/base.comp|file: $C/kernel.comp|" "$T/noinit.yaml"
echo 'secure-boot: off' >>"$T/noinit.yaml"
refuse noinit "^mkimage: noinit.yaml: the root has no /sbin/init, or it is not an executable file \(the kernel starts it after the initrd\): add a base component that provides it \(busybox's; systemd-sysv's in a Debian root\)$"

# /sbin/init as a hard link to an executable (as a tar stores a second name): a root that boots.
python3 - "$T/hl.tar" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    for d in ("bin", "sbin"):
        i = tarfile.TarInfo(d); i.type = tarfile.DIRTYPE; i.mode = 0o755; t.addfile(i)
    f = tarfile.TarInfo("bin/tool"); f.size = 2; f.mode = 0o755; t.addfile(f, io.BytesIO(b"#!"))
    h = tarfile.TarInfo("sbin/init"); h.type = tarfile.LNKTYPE; h.linkname = "bin/tool"; t.addfile(h)
PY
printf 'name: hl\nversion: 1.0\ntype: base\nlicense: MIT\nsupplier: test\n' >"$T/hl.yaml"
"$MKIMAGE" component pack "$T/hl.tar" --meta "$T/hl.yaml" -o "$T/hl.comp" >/dev/null && "$MKIMAGE" sign "$T/hl.comp" --key "$K/dev.key" >/dev/null
model hlinit $'\n    overrides: [/etc/motd]'
sed -i -e "s|^  - name: base$|  - name: hl|" -e "s|file: $C/base.comp|file: hl.comp|" "$T/hlinit.yaml"
printf '  - name: kernel\n    file: %s\n    signer: dev\nsecure-boot: off\n' "$C/kernel.comp" >>"$T/hlinit.yaml"
mkdir -p "$T/out4"
if (cd "$T" && "$MKIMAGE" build hlinit.yaml -o out4/z.img) >/dev/null 2>"$T/e"; then pass init-hard-link-boots; else
        fail init-hard-link-boots "$(cat "$T/e")"
fi

# A root that does not fit a fixed-size partition.
sed -e 's/^    size: auto\n    headroom: 32MiB//' layouts/uefi-ab.yaml | python3 -c '
import sys
s = sys.stdin.read()
s = s.replace("    size: auto\n    headroom: 32MiB\n    flags", "    size: 1MiB\n    flags", 1)
print(s, end="")' >"$T/small.yaml"
rm -rf "$T/out"; mkdir -p "$T/out"
"$MKIMAGE" build models/demo-x86_64.yaml --data-key "$DATA_KEY" --layout "$T/small.yaml" -o "$T/out/z.img" >/dev/null 2>"$T/e"; rc=$?
if [ $rc = 1 ] && grep -q "^mkimage: $T/small.yaml:12:5: the root does not fit: partition 'root-a' holds 1048576 bytes and the squashfs needs more (raise its size or use 'size: auto')$" "$T/e" && only_files "$T/out"; then
        pass too-small
else
        fail too-small "rc $rc: $(cat "$T/e"); left: $(ls -A "$T/out")"
fi

# No signing key anywhere.
model nokey ""
sed -i '/^signing-key:/d' "$T/nokey.yaml"
sed -i 's/^  - name: y/  - name: y\n    overrides: [\/etc\/motd]/' "$T/nokey.yaml"
refuse nokey "no key to sign the manifests \(pass --sign-key KEY or set 'signing-key' in the model\)"

# Slot b left empty: no slot-b manifest, root-b stays zero.
python3 -c '
import sys
s = open(sys.argv[1]).read().replace("content: copy", "content: empty")
open(sys.argv[2], "w").write(s)' layouts/uefi-ab.yaml "$T/empty-b.yaml"
mkdir -p "$T/eb"
if "$MKIMAGE" build models/demo-x86_64.yaml --data-key "$DATA_KEY" --layout "$T/empty-b.yaml" -o "$T/eb/e.img" 2>"$T/e" &&
        only_files "$T/eb" e.img e.img.manifest.yaml e.img.manifest.yaml.minisig &&
        "$MKIMAGE" inspect "$T/eb/e.img" | grep -qE '^4 +root-b .* empty '; then
        pass slot-b-empty
else
        fail slot-b-empty "$(cat "$T/e"; ls -A "$T/eb")"
fi
