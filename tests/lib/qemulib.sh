# Helpers for the suites that boot hand-made disks with qemu-boot/run
# (tests/cases/qemu-run*.sh). Source after testlib.sh. It sets RUN (the
# harness) and works from the checkout; every run gets TMPDIR=$T/tmp.
cd "$SRC"
RUN="$SRC/qemu-boot/run"
export MTOOLS_SKIP_CHECK=1
mkdir -p "$T/tmp"

# qemu_kernel MODULE...: the Debian kernel of the kernel component's cache
# (build/cache/kernel, downloaded once when absent) unpacked into $T/k:
# $T/k/boot/vmlinuz-* and the MODULEs' .ko files under $T/k/lib/modules.
# On failure a FAIL line and exit 1.
qemu_kernel() {
        local cache="$BUILD/cache/kernel" deb pkg
        newest_deb() { ls "$cache"/linux-image-[0-9]*.deb 2>/dev/null | sort -V | tail -n 1; }
        deb=$(newest_deb) || true
        if [ -z "$deb" ]; then # into a scratch folder first: never a half-downloaded .deb in the cache
                pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/ { print $2; exit }')
                mkdir -p "$cache" "$T/dl"
                (cd "$T/dl" && apt-get download -q "$pkg" && mv ./*.deb "$cache/") >"$T/apt.log" 2>&1 || true
                deb=$(newest_deb) || true
        fi
        if [ -z "$deb" ]; then
                fail fixture "no kernel package in $cache and apt-get download failed: $(tail -n 3 "$T/apt.log")"
                exit 1
        fi
        mkdir -p "$T/k"
        dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$T/k" --wildcards './boot/vmlinuz-*' \
                $(for m in "$@"; do echo "./lib/modules/*/$m.ko"; done)
        if [ "$(find "$T/k" -name 'vmlinuz-*' -o -name '*.ko' | wc -l)" -ne $(($# + 1)) ]; then
                fail fixture "$deb: no kernel or not all of $* in it"
                exit 1
        fi
}

# harness NAME ARGS...: run the harness; $T/NAME.{out,err,rc,time}. Then
# $T/tmp must be empty, with no QEMU or swtpm left running on it.
harness() {
        local name=$1 rc=0 t0=$EPOCHREALTIME; shift
        TMPDIR="$T/tmp" "$RUN" "$@" >"$T/$name.out" 2>"$T/$name.err" || rc=$?
        echo $rc >"$T/$name.rc"
        echo "$t0 $EPOCHREALTIME" | awk '{ printf "%.1f\n", $2 - $1 }' >"$T/$name.time"
        if ! only_files "$T/tmp"; then fail "$name-no-temp-files" "left: $(ls -A "$T/tmp")"
        elif pgrep -f "(qemu-system-x86_64|swtpm).*$T/tmp/" >/dev/null; then
                fail "$name-no-temp-files" "QEMU or swtpm still running"
        else pass "$name-no-temp-files"; fi
}
console() { tr -d '\r' <"$T/$1.out"; } # NAME: the console as lines
