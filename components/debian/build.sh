#!/bin/bash
# Build the Debian root component's payload: a minimal Debian 12 (bookworm)
# with systemd, as a tar archive (owners, modes, setuid bits and xattrs as
# dpkg left them), and the metadata to pack it with.
#
#   components/debian/build.sh OUT
#   build/mkimage component pack OUT --meta OUT.meta.yaml -o debian.comp
#
# OUT must not exist. mmdebstrap installs the minbase variant plus
# packages.txt (DEBIAN_PACKAGES=FILE for another list) from the archive this
# machine's apt uses (its sources file, DEBIAN_SOURCES to override), and the kernel modules of modules.txt for the
# kernel component's kernel go to /lib/modules. The result is reproducible
# for the same package versions and SOURCE_DATE_EPOCH: no machine-id (each
# device makes its own), no os-release (mkimage writes it from the model), no
# apt lists or caches, no logs, no /dev nodes (the kernel's devtmpfs), no
# apt sources and no apt or dpkg timers (the device never runs apt). Downloaded .debs are kept in
# $DEBIAN_CACHE (default build/cache/debian) and the kernel .deb in
# $KERNEL_CACHE (build/cache/kernel, shared with components/kernel), so a
# second run fetches only the package lists. Manuals, info pages, locales
# and documentation are not installed (dpkg path-exclude), each package's
# copyright file is.
#
# OUT.meta.yaml is component.yaml with the Debian version the root holds
# (/etc/debian_version), its setuid and setgid files, and its packages
# (name, version, architecture), the list the SBOM is made from.
set -euo pipefail
out="${1:?usage: $0 OUT}"
here="$(cd "$(dirname "$0")" && pwd)"
top="$(cd "$here/../.." && pwd)"
die() { echo "$0: $*" >&2; exit 1; }
[ ! -e "$out" ] || die "$out exists (give a new path)"
command -v mmdebstrap >/dev/null || die "mmdebstrap is missing (apt-get install mmdebstrap)"
[ "$(id -u)" = 0 ] || die "run as root: mmdebstrap's root mode keeps the owners and setuid bits dpkg sets"
abs() { case "$1" in /*) echo "$1" ;; *) echo "$top/$1" ;; esac; }
cache="$(abs "${DEBIAN_CACHE:-build/cache/debian}")"
kcache="$(abs "${KERNEL_CACHE:-build/cache/kernel}")"
sources="${DEBIAN_SOURCES:-}"
if [ -z "$sources" ]; then
        for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
                [ -s "$f" ] && { sources=$f; break; }
        done
fi
[ -n "$sources" ] && [ -s "$sources" ] || die "no apt sources file to take the archive from (set DEBIAN_SOURCES=FILE)"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-1767225600}"

list="${DEBIAN_PACKAGES:-$here/packages.txt}"
[ -r "$list" ] || die "$list: cannot read the package list"
packages="$(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$list" | paste -sd, -)"
kversion="$(sed -n 's/^version: *//p' "$top/components/kernel/component.yaml")"

work="$(mktemp -d "${TMPDIR:-/tmp}/debian-root.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$cache/archives" "$kcache"

# The kernel's modules: the .deb components/kernel uses (fetched once into the shared cache).
debs=("$kcache"/linux-image-[0-9]*_"${kversion//:/%3a}"_amd64.deb)
if [ ! -f "${debs[0]}" ]; then
        pkg="$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -n 1)"
        [ -n "$pkg" ] || die "cannot resolve linux-image-amd64 (apt-get update?)"
        (cd "$work" && apt-get download -q "$pkg=$kversion" >/dev/null 2>&1) ||
                die "cannot fetch $pkg $kversion from the archive (no network, or components/kernel/component.yaml names a version the archive no longer has)"
        mv "$work"/*.deb "$kcache"/
        debs=("$kcache"/"${pkg}_${kversion//:/%3a}"_amd64.deb)
fi
mkdir "$work/kernel"
dpkg -x "${debs[0]}" "$work/kernel"
kvers=("$work"/kernel/lib/modules/*)
[ "${#kvers[@]}" = 1 ] || die "${debs[0]} holds ${#kvers[@]} module trees, want one"
kver="${kvers[0]##*/}"
mkdir -p "$work/modules/lib/modules/$kver/kernel"
(
        cd "$work/kernel/lib/modules/$kver/kernel"
        n=0
        while read -r glob; do
                glob="${glob%%#*}" glob="${glob//[[:space:]]/}"
                [ -n "$glob" ] || continue
                for f in $glob; do
                        [ -e "$f" ] || die "modules.txt: '$glob' matches nothing in $kver (fix the glob)"
                        mkdir -p "$work/modules/lib/modules/$kver/kernel/$(dirname "$f")"
                        cp -a "$f" "$work/modules/lib/modules/$kver/kernel/$f"
                        n=$((n + 1))
                done
        done <"$here/modules.txt"
        echo "$n" >"$work/modules.count"
)
cp "$work/kernel/lib/modules/$kver"/modules.{builtin,builtin.modinfo,order} "$work/modules/lib/modules/$kver/"
depmod -b "$work/modules" "$kver"
find "$work/modules" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

# The root. Hooks: the .deb cache in and out, the package list and the Debian version out,
# the modules in, and what a read-only device root must not carry removed.
export MKDEB_WORK="$work"
if ! mmdebstrap --mode=root --variant=minbase --include="$packages" --format=tar \
        --skip=essential/unlink --skip=output/mknod --aptopt='Acquire::Retries "3"' \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --setup-hook='mkdir -p "$1/var/cache/apt/archives"' \
        --setup-hook="sync-in $cache/archives /var/cache/apt/archives" \
        --customize-hook="sync-out /var/cache/apt/archives $cache/archives" \
        --customize-hook='chroot "$1" dpkg-query -W -f "\${Package}\t\${Version}\t\${Architecture}\n" >"$MKDEB_WORK/packages.tsv"' \
        --customize-hook='cp "$1/etc/debian_version" "$MKDEB_WORK/debian_version"' \
        --customize-hook='mkdir -p "$1/usr/lib/modules"' \
        --customize-hook="sync-in $work/modules/lib/modules /usr/lib/modules" \
        --customize-hook='rm -f "$1"/etc/apt/sources.list "$1"/etc/apt/sources.list.d/* "$1"/etc/hostname "$1"/var/log/*.log "$1"/var/log/apt/* "$1"/var/cache/ldconfig/aux-cache' \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/debconf/*-old "$1"/var/lib/dpkg/*-old' \
        --customize-hook='rm -f "$1"/etc/machine-id "$1"/etc/os-release "$1"/usr/lib/os-release' \
        --customize-hook='rm -f "$1"/etc/systemd/system/timers.target.wants/apt-daily.timer "$1"/etc/systemd/system/timers.target.wants/apt-daily-upgrade.timer "$1"/etc/systemd/system/timers.target.wants/dpkg-db-backup.timer' \
        --customize-hook="python3 $here/strip-acls.py \"\$1\"" \
        bookworm "$work/root.tar" "$sources" >"$work/mmdebstrap.log" 2>&1; then
        log="$work/mmdebstrap.log"
        missing="$(sed -n "s/^E: Unable to locate package \(.*\)$/\1/p" "$log" | head -n 1)"
        [ -z "$missing" ] || die "$list: package '$missing' is not in the archive (check its name: apt-cache policy $missing)"
        if grep -qE "Could not connect|Failed to fetch|Temporary failure resolving|Could not resolve|Unable to connect|Connection failed" "$log"; then
                die "cannot reach the archive that $sources names (no network?): the recipe needs it for the package lists; .debs fetched once are reused from $cache"
        fi
        tail -n 15 "$log" >&2
        die "mmdebstrap failed (its last lines above)"
fi
[ -s "$work/packages.tsv" ] || die "mmdebstrap wrote no package list"

# /dev holds nothing: devtmpfs is the kernel's, a component never carries device nodes.
mmtarfilter --path-exclude='/dev/*' <"$work/root.tar" >"$work/root-nodev.tar"

# The metadata: component.yaml, the version, the setuid/setgid files found in the archive, the packages.
python3 - "$here/component.yaml" "$work/root-nodev.tar" "$work/packages.tsv" "$(cat "$work/debian_version")" \
        "$out.meta.yaml.tmp" <<'PY'
import re, sys, tarfile
meta, tar, tsv, version, out = sys.argv[1:6]
text = re.sub(r'(?m)^version: .*$', 'version: "%s"' % version.strip(), open(meta).read())
with tarfile.open(tar) as t:
    suid = sorted("/" + m.name.lstrip("./") for m in t.getmembers() if m.isfile() and m.mode & 0o6000)
pkgs = sorted(tuple(l.split("\t")) for l in open(tsv).read().splitlines() if l)
with open(out, "w") as f:
    f.write(text.rstrip("\n") + "\n")
    f.write("setuid:\n" + "".join("  - %s\n" % p for p in suid) if suid else "")
    f.write("packages:\n")
    for name, ver, arch in pkgs:
        f.write('  - {name: %s, version: "%s", architecture: %s}\n' % (name, ver, arch))
PY
mv "$work/root-nodev.tar" "$out"
mv "$out.meta.yaml.tmp" "$out.meta.yaml"
echo "$0: Debian $(cat "$work/debian_version"), $(wc -l <"$work/packages.tsv") packages, $(cat "$work/modules.count") kernel modules of $kver" >&2
