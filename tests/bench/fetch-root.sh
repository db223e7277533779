#!/bin/bash
# Fetches the benchmark's test root once: Debian 12 packages downloaded with
# `apt-get download` and unpacked with `dpkg -x` into BENCH_DIR/root (see
# tests/bench/README.md and the perf anchors). Idempotent: a stamp file
# records a complete root; a half-done root is removed and fetched again.
#
# Environment: BENCH_DIR (default build/bench).
set -euo pipefail
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
BENCH_DIR="${BENCH_DIR:-$SRC/build/bench}"
case "$BENCH_DIR" in /*) ;; *) BENCH_DIR="$SRC/$BENCH_DIR" ;; esac
ROOT="$BENCH_DIR/root"
DEBS="$BENCH_DIR/debs"
STAMP="$BENCH_DIR/root.stamp"

say() { printf 'bench: %s\n' "$*"; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

report() {
	local bytes entries files links dirs
	bytes="$(du -sb --apparent-size "$ROOT" | cut -f1)"
	entries="$(find "$ROOT" | wc -l)"
	files="$(find "$ROOT" -type f | wc -l)"
	links="$(find "$ROOT" -type l | wc -l)"
	dirs="$(find "$ROOT" -type d | wc -l)"
	say "test root $ROOT: $bytes bytes ($((bytes / 1000000)) MB)," \
		"$entries entries with the root itself ($files files, $links symlinks, $dirs dirs)"
}

if [ -f "$STAMP" ] && [ -d "$ROOT" ]; then
	report
	exit 0
fi

command -v apt-get >/dev/null && command -v dpkg >/dev/null ||
	die "needs apt-get and dpkg (a Debian 12 host)"

# The lists are needed to resolve the kernel and to download.
if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
	[ "$(id -u)" = 0 ] || die "apt lists are empty; run as root: apt-get update"
	say "apt-get update"
	apt-get update -qq
fi

# The kernel image package linux-image-amd64 depends on, e.g.
# linux-image-6.1.0-NN-amd64.
kernel="$(apt-cache depends linux-image-amd64 2>/dev/null |
	sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -n1)"
[ -n "$kernel" ] || die "cannot resolve the kernel package linux-image-amd64 depends on"

PKGS=(
	"$kernel"
	python3.11 python3.11-minimal libpython3.11-stdlib libpython3.11-minimal
	perl-modules-5.36 libperl5.36 perl-base coreutils
	binutils binutils-x86-64-linux-gnu libbinutils cpp-12 libicu72
)

mkdir -p "$DEBS"
cd "$DEBS"
for p in "${PKGS[@]}"; do
	if compgen -G "${p}_*.deb" >/dev/null; then continue; fi
	say "apt-get download $p"
	# apt-get download as root drops to the _apt user, which cannot write
	# here; that is only a warning and the file lands anyway.
	apt-get download -q "$p" 2>&1 | grep -v -e '^W: Download is performed unsandboxed' \
		-e '^Get:' -e '^Fetched ' -e '^$' >&2 || true
	compgen -G "${p}_*.deb" >/dev/null || die "apt-get download $p produced no .deb"
done

rm -rf "$ROOT" "$STAMP"
mkdir -p "$ROOT"
for p in "${PKGS[@]}"; do
	deb="$(ls -1 "${p}"_*.deb | sort -V | tail -n1)"
	say "dpkg -x $deb"
	dpkg -x "$deb" "$ROOT"
done
# dpkg -x sets the root's mode from the package; make it a plain 0755 dir.
chmod 0755 "$ROOT"

printf '%s\n' "${PKGS[@]}" >"$STAMP"
report
