# The Debian root component (components/debian/, issue: a real Debian system
# as the root), as `make components` built it: mmdebstrap's minbase plus
# systemd-sysv, udev and kmod, packed and signed. Checked with the stock tools
# (unsquashfs, minisign) against the root's own dpkg database: the metadata
# lists exactly the installed packages and exactly the setuid/setgid files;
# /dev is empty; no machine-id, os-release, apt timers, apt lists, caches,
# sources or logs; /sbin/init is systemd; the kernel component's modules are where udev looks. A second
# run of the recipe (from the download cache) packs to the same bytes. A
# package that does not exist and an archive that cannot be reached each get
# one error, and nothing is left behind.
. "$(dirname "$0")/../lib/testlib.sh"
cd "$SRC"
COMP="$BUILD/components/debian.comp"
if [ ! -s "$COMP" ]; then
        fail debian-component "$COMP is missing (make components builds it)"
        exit 0
fi
check signature minisign -Vqm "$COMP" -p "$BUILD/keys/dev.pub"
"$MKIMAGE" component show "$COMP" --packages >"$T/show" 2>"$T/show.err" || fail show "$(cat "$T/show.err")"
check show-name grep -qx 'name: debian' "$T/show"
check show-version-is-debians grep -qx "version: $(unsquashfs -cat "$COMP" etc/debian_version)" "$T/show"
unsquashfs -lln "$COMP" >"$T/list"
unsquashfs -cat "$COMP" var/lib/dpkg/status >"$T/status"

# The recorded packages are the installed ones (dpkg's status file in the root), name, version, architecture.
packages_are_dpkgs() {
        python3 - "$T/status" "$T/show" <<'PY'
import re, sys
status, show = open(sys.argv[1]).read(), open(sys.argv[2]).read().splitlines()
inst = set()
for stanza in status.split("\n\n"):
    f = dict(re.findall(r"(?m)^(Package|Version|Architecture|Status): (.*)$", stanza))
    if f.get("Status", "").endswith(" installed"):
        inst.add((f["Package"], f["Version"], f["Architecture"]))
rec = {tuple(l.split()) for l in show if l.startswith("  ")}
if inst != rec or len(inst) < 50:
    sys.exit("missing from the metadata: %s; not installed: %s" % (sorted(inst - rec)[:5], sorted(rec - inst)[:5]))
PY
}
check packages-are-dpkgs packages_are_dpkgs
for p in systemd systemd-sysv udev kmod base-files libc6; do
        check "package-$p" grep -Eq "^  $p [^ ]+ (amd64|all)\$" "$T/show"
done

# setuid/setgid files: the metadata's list is exactly what the payload holds.
awk '$1 ~ /^-/ && ($1 ~ /^...[sS]/ || $1 ~ /^......[sS]/) { sub("^squashfs-root", "", $NF); print $NF }' "$T/list" | sort >"$T/suid.found"
sed -n 's/^setuid: //p' "$T/show" | sort >"$T/suid.declared"
check setuid-some test -s "$T/suid.found"
check setuid-declared-equals-found cmp -s "$T/suid.found" "$T/suid.declared"
check setuid-mount-and-su bash -c "grep -qx /usr/bin/mount '$T/suid.declared' && grep -qx /usr/bin/su '$T/suid.declared'"

# What a read-only device root must not carry, and what it must.
check no-device-nodes bash -c "! grep -Eq '^[cb]' '$T/list'"
check dev-empty bash -c "grep -Eq '^d.* squashfs-root/dev\$' '$T/list' && ! grep -q ' squashfs-root/dev/' '$T/list'"
check no-machine-id bash -c "grep -q ' squashfs-root/etc/hostname\$\| squashfs-root/etc/passwd\$' '$T/list' && ! grep -q ' squashfs-root/etc/machine-id\$' '$T/list'"
check no-os-release bash -c "! grep -Eq ' squashfs-root/(etc|usr/lib)/os-release( |\$)' '$T/list'"
check no-apt-timers bash -c "! grep -Eq ' squashfs-root/etc/systemd/system/timers.target.wants/(apt-daily|apt-daily-upgrade|dpkg-db-backup).timer' '$T/list'"
check no-apt-lists bash -c "! grep -E ' squashfs-root/var/lib/apt/lists/[^/]+\$' '$T/list' | grep -vq '/lock\$\|/partial\$\|/auxfiles\$'"
check no-deb-cache bash -c "! grep -q '\\.deb\$' '$T/list'"
check no-apt-sources bash -c "! grep -Eq ' squashfs-root/etc/apt/sources.list(\\.d/.+)?\$' '$T/list'"
check no-logs bash -c "! grep -Eq ' squashfs-root/var/log/.*\\.log\$' '$T/list'"
check init-is-systemd bash -c "grep -Eq '^l.* squashfs-root/usr/sbin/init -> /lib/systemd/systemd\$' '$T/list' &&
        grep -Eq '^l.* squashfs-root/sbin -> usr/sbin\$' '$T/list'"
kver=$(sed -n 's|.* squashfs-root/usr/lib/modules/\([^/]*\)/modules.dep$|\1|p' "$T/list")
check modules-dep test -n "$kver"
check modules-for-the-kernel-component bash -c "unsquashfs -cat '$BUILD/components/kernel.comp' vmlinuz | strings | grep -q '^$kver ('"
check module-virtio-net grep -Eq " squashfs-root/usr/lib/modules/$kver/kernel/drivers/net/virtio_net.ko" "$T/list"
check modules-dep-names-virtio-net bash -c "unsquashfs -cat '$COMP' usr/lib/modules/$kver/modules.dep | grep -q '^kernel/drivers/net/virtio_net.ko'"
echo "    [$SUITE] $(stat -c %s "$COMP") bytes, $(grep -c '^  ' "$T/show") packages, $(wc -l <"$T/suid.found") setuid/setgid files, kernel $kver" >&2

# Reproducible: a second run of the recipe, from the caches, packs to the same bytes.
if bash components/debian/build.sh "$T/again.tar" >/dev/null 2>"$T/again.err" &&
        "$MKIMAGE" component pack "$T/again.tar" --meta "$T/again.tar.meta.yaml" -o "$T/again.comp" >/dev/null 2>>"$T/again.err"; then
        check second-run-same-bytes cmp "$COMP" "$T/again.comp"
else
        fail second-run-same-bytes "$(tail -5 "$T/again.err")"
fi
rm -f "$T/again.tar" "$T/again.comp"

# Bad input: one error each, nothing left behind.
recipe_fails() { # NAME WANT ENV...
        local name=$1 want=$2 rc=0
        shift 2
        mkdir -p "$T/bad"
        env "$@" bash components/debian/build.sh "$T/bad/out.tar" >/dev/null 2>"$T/$name.err" || rc=$?
        if [ $rc = 0 ]; then fail "$name" "the recipe succeeded"
        elif ! grep -qF -- "$want" "$T/$name.err"; then fail "$name" "stderr [$(tail -3 "$T/$name.err")] lacks [$want]"
        elif [ -n "$(ls -A "$T/bad")" ]; then fail "$name" "left behind: $(ls -A "$T/bad")"
        else pass "$name"; fi
}
printf 'systemd-sysv\nmkimage-no-such-package\n' >"$T/pkgs.txt"
recipe_fails no-such-package "$T/pkgs.txt: package 'mkimage-no-such-package' is not in the archive" DEBIAN_PACKAGES="$T/pkgs.txt"
printf 'Types: deb\nURIs: http://127.0.0.1:9/debian\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' >"$T/unreachable.sources"
recipe_fails archive-unreachable "cannot reach the archive that $T/unreachable.sources names (no network?)" \
        DEBIAN_SOURCES="$T/unreachable.sources"
exit 0
