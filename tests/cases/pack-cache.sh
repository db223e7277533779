# The content-addressed pack cache (mkimage component pack --cache DIR):
# an unchanged source comes from the cache, byte-identical to packing it
# again; any change to a file's bytes, a mode, the metadata or the options
# is a miss; a damaged entry is packed again and replaced.
. "$(dirname "$0")/../lib/testlib.sh"
cd "$T"
mkdir -p src/etc src/bin
echo "hello" >src/etc/hello.conf
head -c 300000 /dev/urandom >src/bin/tool
chmod 755 src/bin/tool
printf 'name: cached\nversion: 1.0\ntype: app\nlicense: MIT\nsupplier: test\n' >meta.yaml
pack() { "$MKIMAGE" component pack -v src --meta meta.yaml --cache cache/components -o "$@" 2>&1; }
plain() { "$MKIMAGE" component pack src --meta meta.yaml -o "$@" >/dev/null 2>&1; }

# (cache/ does not exist yet: the folders are created, as in a fresh clone)
expect_eq first-is-a-miss "$(pack a.comp)" "mkimage: packed cached 1.0 (app) into a.comp"
expect_eq second-is-a-hit "$(pack b.comp)" "mkimage: packed cached 1.0 (app) into b.comp (from the pack cache)"
plain ref.comp
check hit-equals-fresh-pack cmp -s b.comp ref.comp
expect_eq one-entry "$(ls cache/components | wc -l)" 1

miss() { # NAME: the source changed: a miss, and the same bytes as a pack without the cache
        local out
        out="$(pack "$1.comp")"
        plain "$1.ref"
        if [[ "$out" == *"from the pack cache"* ]]; then fail "$1-miss" "came from the cache"; else pass "$1-miss"; fi
        check "$1-equals-fresh-pack" cmp -s "$1.comp" "$1.ref"
}
echo "hello!" >src/etc/hello.conf
miss content
chmod 700 src/bin/tool
miss mode
printf 'name: cached\nversion: 1.1\ntype: app\nlicense: MIT\nsupplier: test\n' >meta.yaml
miss meta
out="$("$MKIMAGE" component pack -v src --meta meta.yaml --cache cache/components --level 3 -o lvl.comp 2>&1)"
if [[ "$out" == *"from the pack cache"* ]]; then fail options-miss "came from the cache"; else pass options-miss; fi
expect_eq entries-per-variant "$(ls cache/components | wc -l)" 5

# A damaged entry: packed again, correct, and the entry replaced.
entry="$(ls -t cache/components/*.comp | sed -n 2p)" # the "meta" variant, the current source
truncate -s 4096 "$entry"
out="$(pack d.comp)"
plain d.ref
if [[ "$out" == *"from the pack cache"* ]]; then fail damaged-entry-repacked "a damaged entry was used"; else pass damaged-entry-repacked; fi
check damaged-entry-output-correct cmp -s d.comp d.ref
check damaged-entry-replaced cmp -s "$entry" d.ref
