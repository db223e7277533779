# Strings from an image or a component reach the terminal escaped (issue 25):
# a GPT partition renamed to "x\n  root-b: OK\e[2J\x7f<U+009B>" and a crafted
# boot entry, printed by inspect and verify (text and --json); file names and
# metadata of a component, printed by component show (with and without
# --list); a path in a message of the CLI's error printer. No output carries a
# raw control byte (ESC, DEL, C1, a newline inside a name), none forges a
# "root-b: OK" line, and the text shows the escaped form (signing/base/escape.h).
. "$(dirname "$0")/../lib/testlib.sh"
cd "$SRC"

KEY="$BUILD/keys/dev.key"
PUB="$BUILD/keys/dev.pub"
IMG="$T/evil.img"
NAME="$(printf 'x\n  root-b: OK\033[2J\177\302\233')"
SHOWN='x\n  root-b: OK\x1b[2J\x7f\xc2\x9b' # NAME as the text output must print it

# clean FILE: FILE is UTF-8 text without a control character other than the newline (no ESC, DEL or C1 control).
clean() {
        python3 - "$1" <<'PY'
import sys
t = open(sys.argv[1], "rb").read().decode("utf-8")
bad = sorted({hex(ord(c)) for c in t if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0})
sys.exit("raw control characters %s" % bad if bad else 0)
PY
}

# no_forged FILE: no line of FILE starts with blanks and then "root-b: OK" (a line a name could forge).
no_forged() { ! grep -qE '^[[:space:]]+root-b: OK' "$1"; }

# has FILE TEXT: FILE holds TEXT literally (else its first lines, escaped, on stderr).
has() { grep -qF -- "$2" "$1" || { head -12 "$1" | cat -v | tr '\n' '|' >&2; false; }; }

# expect_all NAME CMD...: each CMD (separated by ';;') succeeds; the failure names the first that did not.
expect_all() {
        local name="$1" cmd=() why="" a
        shift
        for a in "$@" ';;'; do
                if [ "$a" = ';;' ]; then
                        if [ -z "$why" ] && ! "${cmd[@]}" 2>"$T/.why"; then why="${cmd[*]}: $(cat "$T/.why")"; fi
                        cmd=()
                else cmd+=("$a"); fi
        done
        if [ -z "$why" ]; then pass "$name"; else fail "$name" "$why"; fi
}

# ---- the crafted image ------------------------------------------------------
demo_model "$T/off.yaml" off # type #1 entries: a text file on the ESP to craft
if ! "$MKIMAGE" build "$T/off.yaml" --data-key "$DATA_KEY" -o "$IMG" --sign-key "$KEY" >/dev/null 2>"$T/build.err"; then
        fail build-demo "$(cat "$T/build.err")"
        exit 0
fi
num="$(sfdisk -J "$IMG" | python3 -c '
import json, re, sys
for p in json.load(sys.stdin)["partitiontable"]["partitions"]:
    if p.get("name") == "data":
        print(re.search(r"[0-9]+$", p["node"]).group(0))')"
esp_off="$(part_offset "$IMG" esp | cut -d' ' -f1)"
if ! sfdisk --part-label "$IMG" "$num" "$NAME" >"$T/sfdisk.out" 2>&1 || [ -z "$esp_off" ]; then
        fail rename-partition "$(cat "$T/sfdisk.out")"
        exit 0
fi
# A boot entry with a terminal escape, a window-title escape, DEL and invalid UTF-8 (a lone 0xff, overlong C0 80).
printf 'title t\nversion 9\033[2J\nlinux /k\033]0;pwned\007\ninitrd /i\noptions a\177b\377\300\200\n' >"$T/evil.conf"
MTOOLS_SKIP_CHECK=1 mcopy -o -i "$IMG@@$esp_off" "$T/evil.conf" ::/loader/entries/slot-c.conf

# ---- inspect ----------------------------------------------------------------
"$MKIMAGE" inspect "$IMG" >"$T/inspect.out" 2>&1
expect_all inspect-text clean "$T/inspect.out" ';;' no_forged "$T/inspect.out" ';;' \
        has "$T/inspect.out" "$SHOWN" ';;' has "$T/inspect.out" 'version 9\x1b[2J' ';;' \
        has "$T/inspect.out" 'linux /k\x1b]0;pwned\x07' ';;' has "$T/inspect.out" 'options a\x7fb\xff\xc0\x80'

# JSON: \u00XX for every control character; a byte that is not UTF-8 as the code point of its value.
"$MKIMAGE" inspect "$IMG" --json >"$T/inspect.json" 2>&1
json_inspect() {
        python3 - "$T/inspect.json" "$NAME" <<'PY'
import json, sys
raw = open(sys.argv[1], "rb").read()
assert raw.endswith(b"}\n") and not [b for b in raw[:-1] if b < 0x20 or b == 0x7F], "raw control byte"
j = json.loads(raw.decode("utf-8"))
names = [p["name"] for p in j["partitions"]]
assert sys.argv[2] in names, names
e = [e for e in j["boot-entries"] if e["file"] == "slot-c.conf"][0]
assert e["version"] == "9\x1b[2J" and e["linux"] == "/k\x1b]0;pwned\x07", e
assert e["options"] == "a\x7fb\u00ff\u00c0\u0080", e
PY
}
expect_all inspect-json clean "$T/inspect.json" ';;' json_inspect

# ---- verify -----------------------------------------------------------------
"$MKIMAGE" verify "$IMG" --pub "$PUB" >"$T/verify.out" 2>&1
expect_all verify-text clean "$T/verify.out" ';;' no_forged "$T/verify.out" ';;' \
        has "$T/verify.out" "$SHOWN: " ';;' test "$(grep -c '^root-b: OK$' "$T/verify.out")" = 1

"$MKIMAGE" verify "$IMG" --pub "$PUB" --json >"$T/verify.json" 2>&1
json_verify() {
        python3 - "$T/verify.json" "$NAME" <<'PY'
import json, sys
raw = open(sys.argv[1], "rb").read()
assert raw.endswith(b"}\n") and not [b for b in raw[:-1] if b < 0x20 or b == 0x7F], "raw control byte"
j = json.loads(raw.decode("utf-8"))
assert sys.argv[2] in [i["name"] for i in j["items"]], j
PY
}
expect_all verify-json clean "$T/verify.json" ';;' json_verify

# ---- the error printer ------------------------------------------------------
"$MKIMAGE" inspect "$T/no-such$(printf '\033[2J')" >"$T/err.out" 2>&1
expect_all error-message clean "$T/err.out" ';;' has "$T/err.out" "$T/no-such\\x1b[2J"

# ---- component show ---------------------------------------------------------
# Names a path may hold: a terminal escape, a C1 control (8-bit CSI), a literal backslash that reads like an
# escape; a symlink to a target with a BEL. The supplier holds a backslash too (YAML keeps it in a plain scalar).
mkdir -p "$T/csrc/etc"
printf x >"$T/csrc/etc/$(printf 'esc\033[2J')"
printf x >"$T/csrc/etc/$(printf 'c1\302\233x')"
printf x >"$T/csrc/etc/lit\\x1b"
ln -s "$(printf '/t\033]0;x\007')" "$T/csrc/etc/lnk"
printf 'name: demo\nversion: 1.0.0\ntype: app\nlicense: MIT\nsupplier: Ex\\x1b\n' >"$T/cmeta.yaml"
if "$MKIMAGE" component pack "$T/csrc" --meta "$T/cmeta.yaml" -o "$T/c.comp" 2>"$T/pack.err"; then
        "$MKIMAGE" component show "$T/c.comp" >"$T/show.out" 2>&1
        expect_all component-show clean "$T/show.out" ';;' has "$T/show.out" 'supplier: Ex\\x1b'
        "$MKIMAGE" component show "$T/c.comp" --list >"$T/list.out" 2>&1
        expect_all component-show-list clean "$T/list.out" ';;' has "$T/list.out" '/etc/esc\x1b[2J' ';;' \
                has "$T/list.out" '/etc/c1\xc2\x9bx' ';;' has "$T/list.out" '/etc/lit\\x1b' ';;' \
                has "$T/list.out" '/etc/lnk -> /t\x1b]0;x\x07' ';;' has "$T/list.out" 'supplier: Ex\\x1b'
else
        fail component-pack "$(cat "$T/pack.err")"
fi
