# The data partition in a real build: ext4 (libext2fs) holding the model's
# data components, inside LUKS2 (libcryptsetup) or plain; keys; the whole
# build as an unprivileged user.
. "$(dirname "$0")/../lib/testlib.sh"
cd "$SRC"
K="$BUILD/keys"
C="$BUILD/components"

extract() { # IMG NAME OUT
        local start size
        read -r start size <<<"$(sfdisk -J "$1" | python3 -c '
import json, sys
for p in json.load(sys.stdin)["partitiontable"]["partitions"]:
    if p["name"] == sys.argv[1]:
        print(p["start"] * 512, p["size"] * 512)' "$2")"
        dd if="$1" of="$3" bs=1M iflag=skip_bytes,count_bytes skip="$start" count="$size" status=none
}

# A data component: files, a symlink, a private directory.
mkdir -p "$T/d/etc/app" "$T/d/var/lib/app"
echo "state v1" >"$T/d/var/lib/app/state"; chmod 600 "$T/d/var/lib/app/state"
echo "conf" >"$T/d/etc/app/app.conf"; ln -s ../../var/lib/app/state "$T/d/etc/app/state"
printf 'name: appdata\nversion: 1.0\ntype: data\nlicense: MIT\nsupplier: test\n' >"$T/appdata.yaml"
"$MKIMAGE" component pack "$T/d" --meta "$T/appdata.yaml" -o "$T/appdata.comp" >/dev/null
"$MKIMAGE" sign "$T/appdata.comp" --key "$K/dev.key" >/dev/null

model() { # NAME ENCRYPTION [EXTRA COMPONENT FILE]
        cat >"$T/$1.yaml" <<EOM
model: data-test
brand: example
version: 1
architecture: x86_64
grade: signed
layout: $SRC/layouts/uefi-ab.yaml
signing-key: $K/dev.key
data:
  encryption: $2
  pbkdf: pbkdf2
trusted-keys:
  dev: $K/dev.pub
components:
  - name: base
    file: $C/base.comp
    signer: dev
  - name: appdata
    file: ${3:-appdata.comp}
    signer: dev
EOM
        [ "$2" = none ] && sed -i '/pbkdf/d' "$T/$1.yaml"
        return 0
}

# --- LUKS2 -------------------------------------------------------------
model luks luks2
mkdir -p "$T/o"
if (cd "$T" && "$MKIMAGE" build luks.yaml --data-key "$DATA_KEY" -o o/l.img) >/dev/null 2>"$T/e"; then
        pass build-luks2
else
        fail build-luks2 "$(cat "$T/e")"
fi
extract "$T/o/l.img" data "$T/data.luks"
cryptsetup luksDump "$T/data.luks" >"$T/dump" 2>&1
if grep -q '^Version:\s*2' "$T/dump" && grep -q 'cipher: aes-xts-plain64' "$T/dump" &&
   grep -q 'PBKDF:\s*pbkdf2' "$T/dump" && grep -q 'sector: 512 \[bytes\]' "$T/dump"; then
        pass luksdump-luks2-aes-xts-pbkdf2
else
        fail luksdump-luks2-aes-xts-pbkdf2 "$(head -30 "$T/dump")"
fi
check luks-key-accepted cryptsetup open --test-passphrase --disable-locks --key-file "$DATA_KEY" "$T/data.luks"
head -c 64 /dev/urandom >"$T/wrong.key"
check luks-wrong-key-refused bash -c '! cryptsetup open --test-passphrase --disable-locks --key-file "$1" "$2" 2>/dev/null' _ "$T/wrong.key" "$T/data.luks"
# Decrypt a copy offline (no device-mapper): reencrypt --decrypt exports the
# header to a new file and moves the plaintext to the head of the device.
cp "$T/data.luks" "$T/dec.img"
if cryptsetup reencrypt --decrypt --header "$T/newhdr" "$T/dec.img" --key-file "$DATA_KEY" \
        --force-offline-reencrypt --disable-locks --batch-mode >"$T/re" 2>&1; then
        pass luks-decrypts-offline
else
        fail luks-decrypts-offline "$(cat "$T/re")"
fi
check decrypted-e2fsck-clean e2fsck -fn "$T/dec.img"
debugfs -R 'ls -l /var/lib/app' "$T/dec.img" >"$T/ls" 2>/dev/null
if grep -qE '100600 +\(1\) +0 +0 +9 .* state' "$T/ls"; then pass data-component-in-ext4; else fail data-component-in-ext4 "$(cat "$T/ls")"; fi
expect_eq data-file-content "$(debugfs -R 'cat /var/lib/app/state' "$T/dec.img" 2>/dev/null)" "state v1"
expect_eq data-symlink "$(debugfs -R 'stat /etc/app/state' "$T/dec.img" 2>/dev/null | sed -n 's/^Fast link dest: "\(.*\)"/\1/p')" "../../var/lib/app/state"
# The data component is not in the root.
extract "$T/o/l.img" root-a "$T/ra"
check data-not-in-root bash -c '! unsquashfs -l "$1" 2>/dev/null | grep -q "var/lib/app/state"' _ "$T/ra"

# Everything but the LUKS2 partition is reproducible.
mkdir -p "$T/o2"
(cd "$T" && "$MKIMAGE" build luks.yaml --data-key "$DATA_KEY" -o o2/l.img) >/dev/null 2>&1
check luks-build-reproducible-outside-data cmp_except_data "$T/o/l.img" "$T/o2/l.img"

# --- encryption: none ----------------------------------------------------
model plain none
mkdir -p "$T/p1" "$T/p2"
(cd "$T" && "$MKIMAGE" build plain.yaml -o p1/p.img && "$MKIMAGE" build plain.yaml -o p2/p.img) >/dev/null 2>"$T/e" ||
        fail build-plain "$(cat "$T/e")"
check plain-whole-image-identical cmp "$T/p1/p.img" "$T/p2/p.img"
extract "$T/p1/p.img" data "$T/plain.ext4"
check plain-e2fsck-clean e2fsck -fn "$T/plain.ext4"
debugfs -R 'ls -l /' "$T/plain.ext4" >"$T/ls" 2>/dev/null
if grep -q ' etc$' "$T/ls" && grep -q ' var$' "$T/ls" && grep -q ' lost+found$' "$T/ls"; then
        pass plain-debugfs-lists-data-component
else
        fail plain-debugfs-lists-data-component "$(cat "$T/ls")"
fi

# --- keys -------------------------------------------------------------
mkdir -p "$T/g"
if (cd "$T" && "$MKIMAGE" build luks.yaml --data-key-out g/device.key -o g/l.img) >/dev/null 2>"$T/e" &&
   [ "$(stat -c '%a %s' "$T/g/device.key")" = "600 64" ]; then
        extract "$T/g/l.img" data "$T/g.luks"
        check generated-key-opens cryptsetup open --test-passphrase --disable-locks --key-file "$T/g/device.key" "$T/g.luks"
else
        fail generated-key-written "$(cat "$T/e"; stat -c '%a %s' "$T/g/device.key")"
fi
refuse() { # NAME REGEX ARGS...
        local name="$1" want="$2"; shift 2
        rm -rf "$T/r"; mkdir -p "$T/r"
        (cd "$T" && "$MKIMAGE" build "$@" -o r/x.img) >/dev/null 2>"$T/e"; local rc=$?
        if [ $rc = 1 ] && grep -qE -- "$want" "$T/e" && [ "$(wc -l <"$T/e")" = 1 ] && only_files "$T/r"; then
                pass "$name"
        else
                fail "$name" "rc $rc: $(cat "$T/e"); left: $(ls -A "$T/r")"
        fi
}
refuse key-out-exists "g/device.key: exists; --data-key-out never overwrites a key" luks.yaml --data-key-out g/device.key
refuse no-key "luks.yaml: the data partition is encrypted \(LUKS2\): pass --data-key FILE" luks.yaml
head -c 16 /dev/urandom >"$T/short.key"; chmod 600 "$T/short.key"
refuse key-wrong-size "short.key" luks.yaml --data-key short.key
cp "$DATA_KEY" "$T/open.key"; chmod 644 "$T/open.key"
refuse key-wrong-mode "chmod 600" luks.yaml --data-key open.key
refuse key-without-encryption "--data-key has no use: the model's data partition is not encrypted" plain.yaml --data-key "$DATA_KEY"

# A data component larger than the data partition (184 MiB here).
mkdir -p "$T/big"
head -c $((200 * 1024 * 1024)) /dev/zero | tr '\0' 'x' >"$T/big/blob"
printf 'name: appdata\nversion: 2.0\ntype: data\nlicense: MIT\nsupplier: test\n' >"$T/big.yaml"
"$MKIMAGE" component pack "$T/big" --meta "$T/big.yaml" -o "$T/big.comp" >/dev/null
"$MKIMAGE" sign "$T/big.comp" --key "$K/dev.key" >/dev/null
model toobig none big.comp
refuse data-too-big "data partition .*needs .* \(make the data partition at least" toobig.yaml

# --- rootless ---------------------------------------------------------
# The whole build as nobody: no root, loop device, mount or device-mapper.
N="$T/nobody"; mkdir -p "$N/c" "$N/o"
cp "$C/base.comp" "$C/base.comp.minisig" "$T/appdata.comp" "$T/appdata.comp.minisig" "$K/dev.pub" "$K/dev.key" "$DATA_KEY" "$N/c/"
sed -e "s|$K/dev.key|c/dev.key|; s|$K/dev.pub|c/dev.pub|; s|$C/base.comp|c/base.comp|; s|appdata.comp|c/appdata.comp|" "$T/luks.yaml" >"$N/m.yaml"
cp layouts/uefi-ab.yaml "$N/layout.yaml"; sed -i "s|$SRC/layouts/uefi-ab.yaml|layout.yaml|" "$N/m.yaml"
chown -R nobody:nogroup "$N"; chmod 755 "$T"
NB="$(nobody_copy "$MKIMAGE")"
if (cd "$N" && setpriv --reuid=nobody --regid=nogroup --clear-groups "$NB/$(basename "$MKIMAGE")" build m.yaml --data-key c/.data.key -o o/n.img) >/dev/null 2>"$T/e" &&
   "$MKIMAGE" verify "$N/o/n.img" --pub "$K/dev.pub" >/dev/null 2>&1; then
        pass build-as-nobody
else
        fail build-as-nobody "$(cat "$T/e"; "$MKIMAGE" verify "$N/o/n.img" --pub "$K/dev.pub" 2>&1 | grep -v ": OK$")"
fi
