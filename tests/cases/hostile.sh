#!/bin/bash
# Hostile models and components (issue 8): inputs built to hang, exhaust or
# trick mkimage. Each run is bounded (timeout 60, a 2 GiB address-space limit)
# and must end within its own time bound, with the exact outcome, and leave
# nothing behind in the output folder.
#
# Covered elsewhere, so not repeated here: YAML aliases and anchors (an alias
# bomb is refused at its first anchor: tests/bad/models/{alias,anchor}.yaml),
# non-UTF-8 and NUL bytes (tests/bad/models/non-utf8.yaml, nul-*.yaml), a
# scalar over 64 KiB and 40-deep nesting (tests/unit/test-model.c,
# tests/bad/models/deep-nesting.yaml), a character device as a component
# (tests/bad/models/component-not-regular.yaml), setuid files and hard links
# in components (tests/cases/component.sh: bad-*-setuid, tar-hardlink,
# extract-tree-listing), an oversized key file (tests/unit/test-signing.c).
source "$(dirname "$0")/../lib/testlib.sh"
umask 022
OUT="$T/out"
LIMIT_AS=$((2 << 30))

# bounded NAME SECS WANT_RC WANT_STDERR CMD...: run CMD under `timeout 60` and
# a 2 GiB address-space limit with a fresh, empty $OUT; it must exit WANT_RC
# within SECS seconds with exactly WANT_STDERR on stderr and leave $OUT empty
# (on success the caller checks $OUT itself). The wall time is in $ELAPSED.
# CMD may be a function exported with export -f.
bounded() {
        local name="$1" secs="$2" want_rc="$3" want="$4"; shift 4
        rm -rf "$OUT" && mkdir "$OUT" || { fail "$name" "cannot reset $OUT"; return; }
        local t0="$EPOCHREALTIME" rc=0
        timeout 60 prlimit --as="$LIMIT_AS" -- bash -c '"$@"' _ "$@" >"$T/stdout" 2>"$T/stderr" </dev/null || rc=$?
        ELAPSED="$(python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.2f}")' "$t0" "$EPOCHREALTIME")"
        local why=""
        [ "$rc" == "$want_rc" ] || why="exit $rc, want $want_rc"
        [ "$(cat "$T/stderr")" == "$want" ] || why="${why:+$why; }stderr [$(head -c 600 "$T/stderr")] want [$want]"
        python3 -c 'import sys; sys.exit(float(sys.argv[1]) > float(sys.argv[2]))' "$ELAPSED" "$secs" ||
                why="${why:+$why; }took ${ELAPSED}s, bound ${secs}s"
        if [ "$want_rc" != 0 ] && [ -n "$(ls -A "$OUT")" ]; then
                why="${why:+$why; }left behind: $(ls -A "$OUT" | tr '\n' ' ')"
        fi
        if [ -z "$why" ]; then pass "$name"; else fail "$name" "$why"; fi
}

# ---- models -------------------------------------------------------------------
# model FILE HELLO_COMP [PUB] [SECKEY]: a valid model (like tests/bad/good-model.yaml)
# with the hello component's file (line 15), the trusted key (line 10) and the
# signing key (line 8) replaceable.
model() {
        cat >"$1" <<EOF
model: hostile
brand: example
version: 1
architecture: x86_64
grade: signed
layout: $SRC/layouts/uefi-ab.yaml
# the signing key is on the next line
signing-key: ${4:-$BUILD/keys/dev.key}
trusted-keys:
  dev: ${3:-$BUILD/keys/dev.pub}
components:
  - name: base
    file: $BUILD/components/base.comp
    signer: dev
  - name: hello
    file: $2
    signer: dev
data:
  encryption: none
EOF
}
M="$MKIMAGE"
build() { "$M" build "$T/m.yaml" -o "$OUT/x.img"; }
export -f build
export M T OUT

# The model itself builds, or the cases below prove nothing.
model "$T/m.yaml" "$BUILD/components/hello.comp"
bounded model-baseline-builds 60 0 "" build
check model-baseline-output only_files "$OUT" x.img x.img.manifest.yaml x.img.manifest.yaml.minisig \
        x.img.manifest-b.yaml x.img.manifest-b.yaml.minisig

model "$T/m.yaml" /dev/zero
bounded model-component-dev-zero 5 1 \
        "mkimage: $T/m.yaml:15:5: component 'hello': /dev/zero is not a regular file (name a .comp artifact)" build

mkfifo "$T/fifo.comp"
model "$T/m.yaml" "$T/fifo.comp"
bounded model-component-fifo 5 1 \
        "mkimage: $T/m.yaml:15:5: component 'hello': $T/fifo.comp is not a regular file (name a .comp artifact)" build

mkdir "$T/dir.comp"
model "$T/m.yaml" "$T/dir.comp"
bounded model-component-directory 5 1 \
        "mkimage: $T/m.yaml:15:5: component 'hello': $T/dir.comp is a directory; grade 'signed' accepts only signed component artifacts (pack and sign it, or use 'grade: dangerous' for development)" build

# A FIFO nobody writes to where a signature or a key is read: opening it used
# to block forever (signing/minisign/minisign-io.c ms_open); now it reads as empty.
cp "$BUILD/components/hello.comp" "$T/h.comp" && mkfifo "$T/h.comp.minisig"
model "$T/m.yaml" "$T/h.comp"
bounded model-signature-fifo 5 1 \
        "mkimage: $T/m.yaml:15:5: component 'hello': $T/h.comp.minisig: is empty: a minisign signature has 4 lines: 'untrusted comment:', the base64 signature, 'trusted comment:', the base64 global signature (regenerate or re-copy it)" build
mkfifo "$T/pub.fifo"
model "$T/m.yaml" "$BUILD/components/hello.comp" "$T/pub.fifo"
bounded model-trusted-key-fifo 5 1 \
        "mkimage: $T/m.yaml:10:8: trusted key 'dev': $T/pub.fifo: is empty: a minisign public key has 2 lines: an 'untrusted comment:' line and a base64 line (regenerate or re-copy it)" build
mkfifo -m 0600 "$T/key.fifo"
model "$T/m.yaml" "$BUILD/components/hello.comp" "" "$T/key.fifo"
bounded model-signing-key-fifo 5 1 \
        "mkimage: $T/key.fifo: is empty: a minisign secret key has 2 lines: an 'untrusted comment:' line and a base64 line (regenerate or re-copy it)" build
# The same FIFO on the command line (mkimage sign --key).
printf 'x\n' >"$T/payload"
bounded sign-key-fifo 5 1 \
        "mkimage: $T/key.fifo: is empty: a minisign secret key has 2 lines: an 'untrusted comment:' line and a base64 line (regenerate or re-copy it)" \
        "$M" sign "$T/payload" --key "$T/key.fifo"
# ... while a pipe with a writer (process substitution) still works.
rm -rf "$OUT" && mkdir "$OUT"
if "$M" sign "$T/payload" --key <(cat "$BUILD/keys/dev.key") 2>"$T/stderr" &&
        "$M" verify-sig "$T/payload" --pub "$BUILD/keys/dev.pub" >/dev/null 2>>"$T/stderr"; then
        pass sign-key-from-pipe
else
        fail sign-key-from-pipe "$(cat "$T/stderr")"
fi

# A 40 MB model (one 40 MB scalar): refused by its size, before it is read.
model "$T/m.yaml" "$BUILD/components/hello.comp"
python3 -c 'import sys; open(sys.argv[1], "a").write("description: " + "x" * 40_000_000 + "\n")' "$T/m.yaml"
bounded model-40mb-scalar 5 1 \
        "mkimage: $T/m.yaml: larger than 4194304 bytes (is this the right file?)" build

# 10,000-deep nesting: refused at level 33, without recursing 10,000 deep.
{ printf 'model: ['; python3 -c 'print("[" * 10000 + "]" * 10000, end="")'; printf ']\n'; } >"$T/m.yaml"
bounded model-10000-deep 5 1 \
        "mkimage: $T/m.yaml:1:39: nesting is deeper than 32 levels (flatten the document)" build

# A node bomb without aliases: 300,000 list items in 1.2 MB.
{ printf 'model: ['; python3 -c 'print(",".join(["a"] * 300000), end="")'; printf ']\n'; } >"$T/m.yaml"
bounded model-300000-nodes 5 1 \
        "mkimage: $T/m.yaml:1:200003: more than 100000 YAML nodes (the document is too large)" build

# ---- components -------------------------------------------------------------------
cat >"$T/meta.yaml" <<'EOF'
name: hostile
version: 1.0.0
type: app
license: MIT
supplier: "Organization: Example"
source: https://example.com/hostile
EOF
pack() { "$M" component pack "$@" --meta "$T/meta.yaml" -o "$OUT/x.comp"; }
export -f pack

# 100,000 files in 100 folders: measured 1.9 s and 38 MiB here.
python3 - "$T/many" <<'PY'
import os, sys
for d in range(100):
    p = os.path.join(sys.argv[1], f"d{d:03}")
    os.makedirs(p)
    for i in range(1000):
        open(os.path.join(p, f"f{i:04}"), "w").close()
PY
bounded pack-100000-files 20 0 "" pack "$T/many"
echo "    100,000 files packed in ${ELAPSED}s" >&2
expect_eq pack-100000-files-listed "$(unsquashfs -lln "$OUT/x.comp" 2>/dev/null | grep -c '^-rw-r--r-- 0/0 *0 .* squashfs-root/d[0-9]*/f[0-9]*$')" 100000
rm -rf "$T/many"

# A 10 GiB sparse file: stays sparse in the component (no data blocks) and is
# packed in bounded time (5 s on an idle machine here, 13 s under load; 39 s
# idle before main.c raised the mmap threshold).
mkdir "$T/sparse" && truncate -s 10G "$T/sparse/disk.raw"
bounded pack-10g-sparse 50 0 "" pack "$T/sparse"
echo "    10 GiB sparse file packed in ${ELAPSED}s" >&2
if [ "$(stat -c %s "$OUT/x.comp")" -le 65536 ] &&
        unsquashfs -lln "$OUT/x.comp" 2>/dev/null | grep -q '^-rw-r--r-- 0/0 *10737418240 .* squashfs-root/disk.raw$'; then
        pass pack-10g-sparse-stays-sparse
else
        fail pack-10g-sparse-stays-sparse "component is $(stat -c %s "$OUT/x.comp") bytes: $(unsquashfs -lln "$OUT/x.comp" 2>&1 | tail -2)"
fi
rm -rf "$T/sparse"

# Names of 255 bytes (the limit of every Linux file system) and 256 (refused).
# No file system holds a 256-byte name, so both come from tar archives.
n255="$(printf 'n%.0s' $(seq 255))"
python3 - "$T" "$n255" <<'PY'
import io, sys, tarfile
def mk(path, name, pax=None):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        ti = tarfile.TarInfo(name)
        data = b"x\n"
        ti.size, ti.mode = len(data), 0o644
        ti.pax_headers = pax or {}
        t.addfile(ti, io.BytesIO(data))
d, n = sys.argv[1], sys.argv[2]
mk(d + "/n255.tar", n)
mk(d + "/n256.tar", n + "n")
# Extended attributes: a value of exactly 64 KiB packs, one byte more is refused.
mk(d + "/x64k.tar", "f", {"SCHILY.xattr.user.big": "v" * 65536})
mk(d + "/x64k1.tar", "f", {"SCHILY.xattr.user.big": "v" * 65537})
PY
bounded pack-name-255 5 0 "" pack "$T/n255.tar"
expect_eq pack-name-255-stored "$(unsquashfs -lln "$OUT/x.comp" 2>/dev/null | grep -c "squashfs-root/$n255\$")" 1
bounded pack-name-256-refused 5 1 \
        "mkimage: $T/n256.tar: entry '${n255}n': a name is 256 bytes long, the limit is 255 (shorten it)" pack "$T/n256.tar"
mkdir "$T/n255" && printf 'x\n' >"$T/n255/$n255"
bounded pack-name-255-dir 5 0 "" pack "$T/n255"

bounded pack-xattr-64k 5 0 "" pack "$T/x64k.tar"
expect_eq pack-xattr-64k-stored "$(rdsquashfs -x /f "$OUT/x.comp" | wc -c)" $((9 + 65536 + 1))
bounded pack-xattr-over-64k-refused 5 1 \
        "mkimage: $T/x64k1.tar: entry 'f': extended attribute 'user.big' is too large (names up to 255 bytes, values up to 64 KiB)" \
        pack "$T/x64k1.tar"

# A symlink loop (a -> b, b -> a) and a self loop: packed as symlinks, never followed.
mkdir "$T/loop" && ln -s b "$T/loop/a" && ln -s a "$T/loop/b" && ln -s self "$T/loop/self"
bounded pack-symlink-loop 5 0 "" pack "$T/loop"
expect_eq pack-symlink-loop-kept "$(unsquashfs -lln "$OUT/x.comp" 2>/dev/null | awk '$1 ~ /^l/ {print $(NF-2), $(NF-1), $NF}')" \
        "squashfs-root/a -> b
squashfs-root/b -> a
squashfs-root/self -> self"
# A symlinked directory loop (d/up -> ..): stored as a link, not walked.
mkdir -p "$T/uploop/d" && ln -s .. "$T/uploop/d/up"
bounded pack-symlink-dir-loop 5 0 "" pack "$T/uploop"
expect_eq pack-symlink-dir-loop-kept "$(unsquashfs -lln "$OUT/x.comp" 2>/dev/null | grep -c ' -> ')" 1
