#!/bin/bash
# mkimage component pack/show: determinism, golden listings, extraction round
# trips, tar sources (plain, gzip, xz, zstd), and one case per refusal, each
# asserting the exact message, exit status 1 and an empty output folder.
source "$(dirname "$0")/../lib/testlib.sh"
export TZ=UTC
umask 022
M="$MKIMAGE"
MKTAR="python3 $SRC/tests/data/component/mktar.py"
GOLDEN="$SRC/tests/golden"

# ---- fixtures -------------------------------------------------------------
cat >"$T/meta.yaml" <<'EOF'
name: demo
version: 1.0.0
type: app
license: MIT OR Apache-2.0
supplier: "Organization: Example"
source: https://example.com/demo
EOF

mksrc() { # DIR: a directory tree with every kind a directory can hold
        local d="$1"
        mkdir -p "$d/etc" "$d/usr/bin" "$d/usr/share" "$d/home/user" "$d/var/tmp" "$d/run"
        printf 'greeting = hello\n' >"$d/etc/app.conf"
        chmod 0640 "$d/etc/app.conf"
        seq 1 60000 >"$d/usr/bin/tool"
        chmod 0755 "$d/usr/bin/tool"
        ln "$d/usr/bin/tool" "$d/usr/bin/tool-alias"
        ln -s tool "$d/usr/bin/sh"
        : >"$d/usr/share/empty"
        printf 'caf\xc3\xa9\n' >"$d/usr/share/café.txt"
        printf 'notes\n' >"$d/home/user/notes.txt"
        chmod 0600 "$d/home/user/notes.txt"
        chmod 0750 "$d/home/user"
        chmod 1777 "$d/var/tmp"
        mkfifo -m 0600 "$d/run/fifo"
}
mksrc "$T/src"
pack() { "$M" component pack "$@" 2>"$T/.err"; }

# ---- determinism ----------------------------------------------------------
pack "$T/src" --meta "$T/meta.yaml" -o "$T/a.comp" && pack "$T/src" --meta "$T/meta.yaml" -o "$T/b.comp"
check pack-twice-identical cmp "$T/a.comp" "$T/b.comp"
pack "$T/src" --meta "$T/meta.yaml" -o "$T/j1.comp" -j 1 && pack "$T/src" --meta "$T/meta.yaml" -o "$T/j2.comp" -j 2
check workers-1-2-identical cmp "$T/j1.comp" "$T/j2.comp"
check workers-default-identical cmp "$T/a.comp" "$T/j1.comp"
expect_eq padded-to-4096 "$(($(stat -c %s "$T/a.comp") % 4096))" 0
mkdir "$T/copy" && cp -a "$T/src/." "$T/copy/" && touch -d @1 "$T/copy/etc/app.conf"
pack "$T/copy" --meta "$T/meta.yaml" -o "$T/c.comp"
check host-mtimes-ignored cmp "$T/a.comp" "$T/c.comp"
SOURCE_DATE_EPOCH=1767225601 pack "$T/src" --meta "$T/meta.yaml" -o "$T/d.comp"
check source-date-epoch-used bash -c '! cmp -s "$1" "$2"' _ "$T/a.comp" "$T/d.comp"

# ---- golden listings (stock tools, nothing filtered) -----------------------
unsquashfs -lln "$T/a.comp" >"$T/dir.lln" 2>&1
expect_file_eq golden-dir-lln "$T/dir.lln" "$GOLDEN/component-dir.lln"
unsquashfs -s "$T/a.comp" | sed 's|'"$T"'/||' >"$T/dir.super" 2>&1
expect_file_eq golden-dir-superblock "$T/dir.super" "$GOLDEN/component-dir.super"
rdsquashfs -d "$T/a.comp" >"$T/dir.describe" 2>&1
expect_file_eq golden-dir-rdsquashfs "$T/dir.describe" "$GOLDEN/component-dir.describe"
"$M" component show "$T/a.comp" --list >"$T/dir.show" 2>&1
expect_file_eq golden-dir-show "$T/dir.show" "$GOLDEN/component-dir.show"

# ---- extraction equals the source -------------------------------------------
listing() { (cd "$1" && find . -printf '%p %y %m %l %n\n' | LC_ALL=C sort); }
unsquashfs -q -d "$T/x" "$T/a.comp" >/dev/null 2>&1
check extract-meta-is-the-yaml cmp "$T/x/meta/component.yaml" "$T/meta.yaml"
rm -rf "$T/x/meta"
expect_eq extract-tree-listing "$(listing "$T/x")" "$(listing "$T/src")"
check extract-diff diff -r --no-dereference -x fifo "$T/src" "$T/x"
rdsquashfs -u / -p "$T/rd" -C "$T/a.comp" >/dev/null 2>&1 && rm -rf "$T/rd/meta"
check rdsquashfs-extract-diff diff -r --no-dereference -x fifo "$T/src" "$T/rd"
# Extended attributes, where the file system of $T takes user.* ones.
mkdir "$T/xsrc" && cp -a "$T/src/." "$T/xsrc/"
if python3 -c 'import os,sys; os.setxattr(sys.argv[1], "user.comment", b"configured")' "$T/xsrc/etc/app.conf" 2>/dev/null; then
        pack "$T/xsrc" --meta "$T/meta.yaml" -o "$T/xattr.comp"
        expect_eq dir-xattr "$(rdsquashfs -x /etc/app.conf "$T/xattr.comp")" "user.comment=configured"
        unsquashfs -q -d "$T/xx" "$T/xattr.comp" >/dev/null 2>&1
        if command -v getfattr >/dev/null; then
                expect_eq dir-xattr-extracted "$(getfattr --only-values -n user.comment "$T/xx/etc/app.conf")" configured
        else
                expect_eq dir-xattr-extracted "$(python3 -c 'import os,sys; print(os.getxattr(sys.argv[1], "user.comment").decode())' "$T/xx/etc/app.conf")" configured
        fi
fi

# ---- tar sources --------------------------------------------------------------
$MKTAR "$T/good.tar" good
gzip -n -c "$T/good.tar" >"$T/good.tar.gz"
xz -c "$T/good.tar" >"$T/good.tar.xz"
zstd -q -c "$T/good.tar" >"$T/good.tar.zst"
for ext in tar tar.gz tar.xz tar.zst; do
        if pack "$T/good.$ext" --meta "$T/meta.yaml" -o "$T/tar-$ext.comp"; then pass "tar-$ext-packs"; else
                fail "tar-$ext-packs" "$(cat "$T/.err")"; fi
done
for ext in tar.gz tar.xz tar.zst; do
        check "tar-$ext-same-as-plain" cmp "$T/tar-tar.comp" "$T/tar-$ext.comp"
done
unsquashfs -lln "$T/tar-tar.comp" >"$T/tar.lln" 2>&1
expect_file_eq golden-tar-lln "$T/tar.lln" "$GOLDEN/component-tar.lln"
"$M" component show "$T/tar-tar.comp" --list >"$T/tar.show" 2>&1
expect_file_eq golden-tar-show "$T/tar.show" "$GOLDEN/component-tar.show"
expect_eq tar-xattr "$(rdsquashfs -x /etc/app.conf "$T/tar-tar.comp")" "user.comment=configured"
unsquashfs -q -d "$T/tx" "$T/tar-tar.comp" >/dev/null 2>&1
expect_eq tar-hardlink "$(stat -c %h "$T/tx/usr/bin/tool-alias")" 2
expect_eq tar-content "$(python3 -c 'import tarfile,sys,hashlib; t=tarfile.open(sys.argv[1]); print(hashlib.sha256(t.extractfile("./usr/bin/tool").read()).hexdigest())' "$T/good.tar")" \
        "$(sha256sum <"$T/tx/usr/bin/tool" | cut -d' ' -f1)"

# ---- metadata inside SRC, owners, allow-* ---------------------------------------
mkdir -p "$T/withmeta/meta" "$T/withmeta/bin"
cp "$T/meta.yaml" "$T/withmeta/meta/component.yaml"
printf 'x\n' >"$T/withmeta/bin/tool"
if pack "$T/withmeta" -o "$T/wm.comp"; then pass meta-from-src; else fail meta-from-src "$(cat "$T/.err")"; fi
expect_eq meta-from-src-stored "$(unsquashfs -cat "$T/wm.comp" meta/component.yaml)" "$(cat "$T/meta.yaml")"
{ cat "$T/meta.yaml"; printf 'setuid: [/bin/tool]\nowners:\n  - path: /bin/tool\n    uid: 0\n    gid: 50\n    mode: "4755"\n  - path: bin\n    mode: "0700"\n'; } >"$T/owners.yaml"
rm "$T/withmeta/meta/component.yaml"
if pack "$T/withmeta" --meta "$T/owners.yaml" -o "$T/ow.comp"; then pass owners-packs; else fail owners-packs "$(cat "$T/.err")"; fi
expect_eq owners-applied "$(unsquashfs -lln "$T/ow.comp" | awk '{print $1, $2, $NF}' | grep bin)" \
        "drwx------ 0/0 squashfs-root/bin
-rwsr-xr-x 0/50 squashfs-root/bin/tool"
$MKTAR "$T/device.tar" device
{ cat "$T/meta.yaml"; printf 'allow-devices: true\n'; } >"$T/dev.yaml"
if pack "$T/device.tar" --meta "$T/dev.yaml" -o "$T/dev.comp"; then pass allow-devices; else fail allow-devices "$(cat "$T/.err")"; fi
expect_eq allow-devices-node "$(unsquashfs -lln "$T/dev.comp" | awk '/dev\/null/ {print $1, $2, $3, $4}')" "crw-rw-rw- 0/0 1, 3"

# ---- the example components ------------------------------------------------------
if bash "$SRC/components/hello/build.sh" "$T/hello" >"$T/.err" 2>&1 &&
        pack "$T/hello" --meta "$SRC/components/hello/component.yaml" -o "$T/hello.comp"; then
        pass example-hello-packs
        expect_eq example-hello-runs "$("$T/hello/usr/bin/hello" "$T/hello/etc/hello.conf")" "hello from mkimage"
else
        fail example-hello-packs "$(cat "$T/.err")"
fi
if MKIMAGE_UPDATE="$BUILD/mkimage-update" bash "$SRC/components/base/build.sh" "$T/base" >"$T/.err" 2>&1 &&
        pack "$T/base" --meta "$SRC/components/base/component.yaml" -o "$T/base.comp"; then
        pass example-base-packs
        expect_eq example-base-root-locked "$(unsquashfs -cat "$T/base.comp" etc/shadow)" "root:*:0:0:99999:7:::"
        expect_eq example-base-updater "$(unsquashfs -lln "$T/base.comp" | awk '$NF=="squashfs-root/usr/sbin/mkimage-update" {print $1}')" -rwxr-xr-x
        expect_eq example-base-init "$(unsquashfs -lln "$T/base.comp" | awk '$NF=="/bin/busybox" && $(NF-2)=="squashfs-root/sbin/init" {print "ok"}')" ok
else
        fail example-base-packs "$(cat "$T/.err")"
fi

# ---- refusals: exact message, exit 1, nothing left behind --------------------------
# refuse NAME WANT-MESSAGE ARGS...: pack ARGS into an empty folder.
refuse() {
        local name="$1" want="$2"; shift 2
        rm -rf "$T/out" && mkdir "$T/out"
        "$M" component pack "$@" -o "$T/out/x.comp" 2>"$T/.err" >/dev/null
        local rc=$?
        if [ $rc -ne 1 ]; then fail "$name" "exit $rc, want 1: $(cat "$T/.err")"
        elif [ "$(cat "$T/.err")" != "$want" ]; then fail "$name" "got [$(cat "$T/.err")] want [$want]"
        elif ! only_files "$T/out"; then fail "$name" "left behind: $(ls -A "$T/out")"
        else pass "$name"; fi
}
for k in dotdot abs escape setuid nonutf8 newline reserved; do $MKTAR "$T/$k.tar" "$k"; done
refuse bad-tar-dotdot "mkimage: $T/dotdot.tar: entry '../x': '..' is not allowed in a path (entries must stay inside the tree; rebuild the archive without '..')" "$T/dotdot.tar" --meta "$T/meta.yaml"
refuse bad-tar-absolute "mkimage: $T/abs.tar: entry '/abs': absolute paths are not allowed (store entries relative to the root, e.g. tar -C ROOT -cf OUT.tar .)" "$T/abs.tar" --meta "$T/meta.yaml"
refuse bad-tar-device "mkimage: $T/device.tar: entry 'dev/null': character device (device nodes are refused unless the component metadata sets 'allow-devices: true'; /dev is the kernel's devtmpfs, not part of a component)" "$T/device.tar" --meta "$T/meta.yaml"
refuse bad-tar-symlink-escape "mkimage: $T/escape.tar: entry 'link/passwd': goes through symlink 'link' (a path may not pass through a symlink; store the entry under the real directory)" "$T/escape.tar" --meta "$T/meta.yaml"
refuse bad-tar-setuid "mkimage: $T/setuid.tar: entry 'bin/su': setuid file (mode 4755) the component metadata does not declare (add it to the metadata's 'setuid' list, or clear the bit)" "$T/setuid.tar" --meta "$T/meta.yaml"
refuse bad-tar-non-utf8 "mkimage: $T/nonutf8.tar: entry 'bad\\xff': name is not valid UTF-8 (rename it)" "$T/nonutf8.tar" --meta "$T/meta.yaml"
refuse bad-tar-newline "mkimage: $T/newline.tar: entry 'a\\nb': name contains a newline (rename it)" "$T/newline.tar" --meta "$T/meta.yaml"
refuse bad-tar-reserved-meta "mkimage: $T/reserved.tar: entry 'meta/notes.txt': meta/ is reserved for component metadata (move the entry elsewhere)" "$T/reserved.tar" --meta "$T/meta.yaml"
mkdir -p "$T/suid/bin" && printf 'x' >"$T/suid/bin/su" && chmod 4755 "$T/suid/bin/su"
refuse bad-dir-setuid "mkimage: $T/suid: entry 'bin/su': setuid file (mode 4755) the component metadata does not declare (add it to the metadata's 'setuid' list, or clear the bit)" "$T/suid" --meta "$T/meta.yaml"
# Declared setuid files and capabilities: exactly what is listed packs; a stale list is refused too.
{ cat "$T/meta.yaml"; printf 'setuid: [/bin/su]\n'; } >"$T/suid.yaml"
if pack "$T/suid" --meta "$T/suid.yaml" -o "$T/suid.comp"; then
        check setuid-declared-packs bash -c "unsquashfs -lln '$T/suid.comp' | grep -q '^-rwsr-xr-x .* squashfs-root/bin/su\$'"
        check setuid-shown bash -c "'$MKIMAGE' component show '$T/suid.comp' | grep -qx 'setuid: /bin/su'"
else fail setuid-declared-packs "$(cat "$T/.err")"; fi
{ cat "$T/meta.yaml"; printf 'setuid: [/bin/su, /bin/mount]\n'; } >"$T/stale.yaml"
refuse bad-setuid-not-in-payload "mkimage: $T/stale.yaml: 'setuid' lists /bin/mount, but the payload has no such file (drop it from the list)" "$T/suid" --meta "$T/stale.yaml"
chmod 0755 "$T/suid/bin/su"
refuse bad-setuid-not-setuid "mkimage: $T/suid.yaml: 'setuid' lists /bin/su, but the payload has it without a setuid or setgid bit (drop it from the list)" "$T/suid" --meta "$T/suid.yaml"
{ cat "$T/meta.yaml"; printf 'allow-setuid: true\n'; } >"$T/old.yaml"
refuse bad-allow-setuid-gone "mkimage: $T/old.yaml:7:15: 'allow-setuid' is gone: list the setuid and setgid files the component ships, as 'setuid: [/usr/bin/su, ...]'" "$T/suid" --meta "$T/old.yaml"
# A file capability (cap_net_raw+ep, VFS v2) as a pax xattr, as tar --xattrs writes it.
python3 - "$T/caps.tar" <<'PY'
import io, struct, sys, tarfile
caps = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    d = tarfile.TarInfo("bin"); d.type = tarfile.DIRTYPE; d.mode = 0o755; t.addfile(d)
    f = tarfile.TarInfo("bin/ping"); f.size = 1; f.mode = 0o755
    f.pax_headers = {"SCHILY.xattr.security.capability": caps.decode("latin-1")}
    t.addfile(f, io.BytesIO(b"x"))
PY
refuse bad-caps-undeclared "mkimage: $T/caps.tar: entry 'bin/ping': file capabilities (security.capability) the component metadata does not declare (add it to the metadata's 'capabilities' list, or remove the xattr)" "$T/caps.tar" --meta "$T/meta.yaml"
{ cat "$T/meta.yaml"; printf 'capabilities: [/bin/ping]\n'; } >"$T/caps.yaml"
if pack "$T/caps.tar" --meta "$T/caps.yaml" -o "$T/caps.comp"; then
        check caps-kept bash -c "rdsquashfs -x /bin/ping '$T/caps.comp' | grep -q '^security.capability'"
        check caps-shown bash -c "'$MKIMAGE' component show '$T/caps.comp' | grep -qx 'capabilities: /bin/ping'"
else fail caps-declared-packs "$(cat "$T/.err")"; fi
refuse bad-missing-src "mkimage: $T/nope: No such file or directory (give a directory or a tar archive)" "$T/nope" --meta "$T/meta.yaml"
printf 'not an archive\n' >"$T/junk.tar"
refuse bad-not-an-archive "mkimage: $T/junk.tar: cannot open the archive: Unrecognized archive format (give a directory or a tar archive: plain, gzip, xz or zstd)" "$T/junk.tar" --meta "$T/meta.yaml"
refuse bad-no-meta "mkimage: $T/src: no component metadata (add meta/component.yaml to it or pass --meta FILE)" "$T/src"
cp "$T/meta.yaml" "$T/withmeta/meta/component.yaml"
refuse bad-meta-twice "mkimage: $T/withmeta: holds meta/component.yaml and --meta $T/meta.yaml was given (use one of the two)" "$T/withmeta" --meta "$T/meta.yaml"
sed 's/^license:/licence:/' "$T/meta.yaml" >"$T/bad-key.yaml"
refuse bad-meta-unknown-key "mkimage: $T/bad-key.yaml:4:1: unknown key 'licence' in the component metadata (did you mean 'license'?)" "$T/src" --meta "$T/bad-key.yaml"
sed '/^name:/d' "$T/meta.yaml" >"$T/no-name.yaml"
refuse bad-meta-missing-name "mkimage: $T/no-name.yaml:1:1: the component metadata is missing the required key 'name' (add it)" "$T/src" --meta "$T/no-name.yaml"
sed 's/^type: app/type: application/' "$T/meta.yaml" >"$T/bad-type.yaml"
refuse bad-meta-type "mkimage: $T/bad-type.yaml:3:7: 'type' has an unknown value 'application' (use one of: base, kernel, app, config, data)" "$T/src" --meta "$T/bad-type.yaml"
sed 's/^license: .*/license: MIT and BSD/' "$T/meta.yaml" >"$T/bad-license.yaml"
refuse bad-meta-license "mkimage: $T/bad-license.yaml:4:10: 'license' is not a valid SPDX license expression: operators are written in capitals: AND, OR, WITH (e.g. MIT, GPL-2.0-only OR MIT, Apache-2.0 WITH LLVM-exception)" "$T/src" --meta "$T/bad-license.yaml"
{ cat "$T/meta.yaml"; printf 'owners:\n  - path: usr/bin/nope\n    uid: 1\n'; } >"$T/bad-owner.yaml"
refuse bad-meta-owner-path "mkimage: $T/bad-owner.yaml:8:5: owners item 1: 'usr/bin/nope' is not in $T/src (fix the path)" "$T/src" --meta "$T/bad-owner.yaml"
refuse bad-meta-missing-file "mkimage: $T/nope.yaml: No such file or directory (give the component metadata file)" "$T/src" --meta "$T/nope.yaml"

"$M" component pack "$T/src" --meta "$T/meta.yaml" >/dev/null 2>&1
expect_eq usage-missing-output $? 2
"$M" component pack "$T/src" --meta "$T/meta.yaml" -o "$T/x.comp" --compressor lzo >/dev/null 2>&1
expect_eq usage-bad-compressor $? 2
"$M" component show "$T/good.tar" >/dev/null 2>"$T/.err"
expect_eq show-not-squashfs "$?:$(cat "$T/.err")" "1:mkimage: $T/good.tar: not a valid squashfs image: not a squashfs image (bad magic) (pack it with mkimage component pack)"
gensquashfs -D "$T/src" -q "$T/plain.sqfs" >/dev/null 2>&1
"$M" component show "$T/plain.sqfs" >/dev/null 2>"$T/.err"
expect_eq show-not-a-component "$?:$(cat "$T/.err")" "1:mkimage: $T/plain.sqfs: not a component: it has no meta/component.yaml (pack it with mkimage component pack)"

# ---- SOURCE_DATE_EPOCH: one reader, one message, in every command that stores a time -----------
sde_msg="mkimage: SOURCE_DATE_EPOCH='12x' is not a number of seconds since 1970 from 0 to 4294967295: set it to a decimal Unix time (e.g. \$(git log -1 --format=%ct)) or unset it"
SOURCE_DATE_EPOCH=12x "$M" component pack "$T/src" --meta "$T/meta.yaml" -o "$T/sde.comp" 2>"$T/.err"
expect_eq sde-malformed-pack "$?:$(cat "$T/.err"):$(ls "$T" | grep -c sde)" "2:$sde_msg:0"
SOURCE_DATE_EPOCH=12x "$M" build "$SRC/models/demo-x86_64.yaml" -o "$T/sde.img" 2>"$T/.err"
expect_eq sde-malformed-build "$?:$(cat "$T/.err"):$(ls "$T" | grep -c sde)" "2:$sde_msg:0"
SOURCE_DATE_EPOCH=4294967296 "$M" component pack "$T/src" --meta "$T/meta.yaml" -o "$T/sde.comp" 2>"$T/.err"
expect_eq sde-too-late-pack "$?:$(cat "$T/.err")" "2:${sde_msg/12x/4294967296}"

# ---- the same paths under ASan+UBSan (leaks included) ------------------------------
if [ -x "$BUILD/asan/mkimage" ]; then
        A="$BUILD/asan/mkimage"
        for s in "$T/src" "$T/good.tar.zst"; do
                rm -f "$T/asan.comp"
                "$A" component pack "$s" --meta "$T/meta.yaml" -o "$T/asan.comp" -j 2 2>"$T/.err" &&
                        "$A" component show "$T/asan.comp" --list >/dev/null 2>>"$T/.err"
                rc=$?
                expect_eq "asan-pack-$(basename "$s")" "$rc:$(cat "$T/.err")" "0:"
        done
        check asan-same-bytes cmp "$T/asan.comp" "$T/tar-tar.comp"
        "$A" component pack "$T/escape.tar" --meta "$T/meta.yaml" -o "$T/asan.comp" 2>"$T/.err"
        expect_eq asan-refusal "$?:$(head -c 40 "$T/.err")" "$(printf '1:%.40s' "mkimage: $T/escape.tar: entry 'link/passwd'")"
fi
