# Build-time verification of components: every artifact is checked against
# the model's trusted keys before the first byte of the output is written.
. "$(dirname "$0")/../lib/testlib.sh"
cd "$SRC"
K="$BUILD/keys"
C="$BUILD/components"

# model NAME [extra YAML...]: a model in $T/NAME.yaml using the copies in $T/c.
setup() {
        rm -rf "$T/c" "$T/out"; mkdir -p "$T/c" "$T/out"
        cp "$C"/base.comp "$C"/base.comp.minisig "$C"/hello.comp "$C"/hello.comp.minisig "$T/c/"
        cp "$K/dev.pub" "$T/c/dev.pub"
}
model() { # NAME GRADE BASE_SIGNER BASE_EXTRA
        cat >"$T/$1.yaml" <<EOM
model: t-$1
brand: example
version: 1
architecture: x86_64
grade: $2
layout: $SRC/layouts/uefi-ab.yaml
signing-key: $K/dev.key
data:
  encryption: none
trusted-keys:
  dev: c/dev.pub
  other: c/other.pub
components:
  - name: base
    file: c/base.comp
    signer: $3$4
  - name: hello
    file: c/hello.comp
    signer: dev
EOM
}
# refuse NAME WANT_REGEX: the build fails with exit 1, stderr matches, no output left.
refuse() {
        local name="$1" want="$2" rc
        (cd "$T" && "$MKIMAGE" build "$name.yaml" -o out/x.img) >"$T/stdout" 2>"$T/stderr"; rc=$?
        if [ $rc -eq 1 ] && grep -qE -- "$want" "$T/stderr" && [ "$(wc -l <"$T/stderr")" -eq 1 ] && only_files "$T/out"; then
                pass "$name"
        else
                fail "$name" "rc $rc, stderr: $(cat "$T/stderr"), left: $(ls -A "$T/out")"
        fi
}
flip() { # FILE OFFSET: xor one bit
        python3 - "$1" "$2" <<'PY'
import sys
p, off = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, 'rb').read()); b[off] ^= 0x01; open(p, 'wb').write(b)
PY
}

setup
"$MKIMAGE" keygen "$T/c/other" >/dev/null 2>&1
model ok signed dev
if (cd "$T" && "$MKIMAGE" build ok.yaml -o out/x.img) >/dev/null 2>"$T/stderr" && [ -f "$T/out/x.img" ]; then
        pass signed-components-accepted
else
        fail signed-components-accepted "$(cat "$T/stderr")"
fi

setup; "$MKIMAGE" keygen "$T/c/other" >/dev/null 2>&1
flip "$T/c/base.comp" 5000
model tampered-artifact signed dev
refuse tampered-artifact "^mkimage: tampered-artifact.yaml:14:5: component 'base': c/base.comp: signature c/base.comp.minisig by key [0-9A-F]{16} does not match"

for line in 2 3 4; do
        setup; "$MKIMAGE" keygen "$T/c/other" >/dev/null 2>&1
        model "tampered-sig-line$line" signed dev
        sed -i "${line}s/^\(.\{20\}\)\(.\)/\1$( [ $line = 3 ] && echo X || echo A)/" "$T/c/base.comp.minisig"
        cmp -s "$T/c/base.comp.minisig" "$C/base.comp.minisig" || refuse "tampered-sig-line$line" "component 'base': .*base.comp"
done

setup; "$MKIMAGE" keygen "$T/c/other" >/dev/null 2>&1
rm "$T/c/base.comp.minisig"
model unsigned-under-signed signed dev
refuse unsigned-under-signed "component 'base': .*c/base.comp has no signature: .*base.comp.minisig is missing \(sign it with 'mkimage sign"

# Signed by a key the model does not trust at all: the key id is named.
setup; "$MKIMAGE" keygen "$T/c/other" >/dev/null 2>&1
"$MKIMAGE" keygen "$T/stranger" >/dev/null 2>&1
rm "$T/c/base.comp.minisig"; "$MKIMAGE" sign "$T/c/base.comp" --key "$T/stranger.key" >/dev/null 2>&1
stranger_id=$(sed -n 's/.*minisign public key \([0-9A-F]\{16\}\).*/\1/p' "$T/stranger.pub")
model untrusted-key signed dev
refuse untrusted-key "component 'base': .*$stranger_id"

# Signed by a trusted key, but not the one the model names for the component.
setup; "$MKIMAGE" keygen "$T/c/other" >/dev/null 2>&1
rm "$T/c/base.comp.minisig"; "$MKIMAGE" sign "$T/c/base.comp" --key "$T/c/other.key" >/dev/null 2>&1
other_id=$(sed -n 's/.*minisign public key \([0-9A-F]\{16\}\).*/\1/p' "$T/c/other.pub")
model wrong-signer signed dev
refuse wrong-signer "component 'base': .*base.comp is signed by key $other_id \('other'\), but the model names signer 'dev'"

# A flipped bit in the trusted public key.
setup; "$MKIMAGE" keygen "$T/c/other" >/dev/null 2>&1
sed -i '2s/^\(.\{30\}\)./\1A/' "$T/c/dev.pub"
model tampered-pubkey signed dev
cmp -s "$T/c/dev.pub" "$K/dev.pub" || refuse tampered-pubkey "c/dev.pub|component 'base'"

# The artifact's metadata names another component.
setup; "$MKIMAGE" keygen "$T/c/other" >/dev/null 2>&1
cp "$C/hello.comp" "$T/c/base.comp"; cp "$C/hello.comp.minisig" "$T/c/base.comp.minisig"
model name-mismatch signed dev
refuse name-mismatch "component 'base': .*c/base.comp holds component 'hello', not 'base'"

# A pinned version that differs.
setup; "$MKIMAGE" keygen "$T/c/other" >/dev/null 2>&1
model version-pin signed dev $'\n    version: "99.0"'
refuse version-pin "component 'base': .*base.comp is version .*, but the model pins version 99.0"

# A missing artifact.
setup; "$MKIMAGE" keygen "$T/c/other" >/dev/null 2>&1
rm "$T/c/base.comp"
model missing-artifact signed dev
refuse missing-artifact "component 'base': .*c/base.comp: No such file or directory \(build the component, or fix 'file'\)"

# A directory under grade signed is refused; under dangerous it is accepted with a warning.
setup; "$MKIMAGE" keygen "$T/c/other" >/dev/null 2>&1
rm "$T/c/base.comp"; mkdir -p "$T/c/base.comp/etc"; echo x >"$T/c/base.comp/etc/x"
model dir-under-signed signed dev
refuse dir-under-signed "component 'base': .*c/base.comp is a directory; grade 'signed' accepts only signed component artifacts"
model dir-under-dangerous dangerous dev
if (cd "$T" && "$MKIMAGE" build dir-under-dangerous.yaml -o out/x.img) >/dev/null 2>"$T/stderr" &&
   grep -q "^mkimage: warning: component 'base': .*unsigned directory" "$T/stderr"; then
        pass dir-under-dangerous-warns
else
        fail dir-under-dangerous-warns "$(cat "$T/stderr")"
fi
