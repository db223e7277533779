# What a user expects of a command-line tool (issue 18): progress on a
# terminal and silence elsewhere, --json failures as one JSON object, bash
# completion and make install/uninstall, and docs true to the program (every
# option of every verb's --help in the man page, every MKIMAGE_* variable the
# code reads in its ENVIRONMENT section, the man page's examples run, every
# mkimage command line in docs/ and the README uses a verb and options that
# exist).
. "$(dirname "$0")/../lib/testlib.sh"
cd "$SRC"
K="$BUILD/keys"
MAN=docs/mkimage.1
export MTOOLS_SKIP_CHECK=1

# ---- progress ------------------------------------------------------------------
# On a pseudo-terminal (script(1)) the build draws its progress line; piped, it writes nothing.
model="$T/demo.yaml"
sed -e "s#\.\./build/#$BUILD/#g" -e "s#\.\./layouts/#$SRC/layouts/#" models/demo-x86_64.yaml >"$model"
if script -qefc "TERM=xterm '$MKIMAGE' build '$model' --data-key '$DATA_KEY' -o '$T/tty.img'" "$T/tty.log" \
        >/dev/null 2>&1; then
        # the root stage's line: "mkimage: root: X MiB of Y MiB (P%)", redrawn in place
        if grep -aqE $'\r\e\\[Kmkimage: root: [0-9.]+ [KMG]iB of [0-9.]+ [KMG]iB \\(100%\\)' "$T/tty.log"; then
                pass progress-on-a-terminal
        else
                fail progress-on-a-terminal "no progress line: $(tr '\r' '\n' <"$T/tty.log" | head -5)"
        fi
        # and erased before the result line: the last line is the result alone
        last="$(grep -av '^Script \|^$' "$T/tty.log" | tr -d '\r' | sed 's/\x1b\[K/\n/g' | grep -v '^$' | tail -n 1)"
        if [[ "$last" == "$T/tty.img: "*" MiB, "*" partitions" ]]; then
                pass progress-erased-before-result
        else
                fail progress-erased-before-result "last line: $last"
        fi
else
        fail progress-on-a-terminal "the build on a terminal failed: $(tail -3 "$T/tty.log")"
fi
"$MKIMAGE" build "$model" --data-key "$DATA_KEY" -o "$T/pipe.img" >"$T/pipe.out" 2>"$T/pipe.err"
check progress-quiet-when-not-a-terminal test ! -s "$T/pipe.err"
cmp_except_data "$T/tty.img" "$T/pipe.img"
check progress-changes-no-byte test $? -eq 0
MKIMAGE_PROGRESS=0 script -qefc "TERM=xterm '$MKIMAGE' build '$model' --data-key '$DATA_KEY' -o '$T/off.img'" \
        "$T/off.log" >/dev/null 2>&1
check progress-off-by-environment bash -c "! grep -aq 'mkimage: root:' '$T/off.log'"

# A factory batch on a terminal counts its devices.
"$MKIMAGE" keygen "$T/brand" >/dev/null
printf 'serial\nSN-1\nSN-2\nSN-3\n' >"$T/devices.csv"
script -qefc "TERM=xterm '$MKIMAGE' factory '$model' --brand-key '$T/brand.key' --devices '$T/devices.csv' -o '$T/f' --jobs 2" \
        "$T/factory.log" >/dev/null 2>&1
if grep -aqE $'\r\e\\[Kmkimage: devices: 3 of 3 \\(100%\\)' "$T/factory.log"; then
        pass progress-factory-devices
else
        fail progress-factory-devices "$(tr '\r' '\n' <"$T/factory.log" | grep -a devices | tail -3)"
fi

# ---- --json failures -------------------------------------------------------------
# json_fail NAME WANT-EXIT CMD...: stdout is exactly one JSON object {ok: false, exit, error}, exit
# matches, and error is what stderr says (without the "mkimage: " / "mkimage " prefix).
json_fail() {
        local name="$1" want="$2" rc=0
        shift 2
        "$@" >"$T/j.out" 2>"$T/j.err" || rc=$?
        if python3 - "$T/j.out" "$T/j.err" "$rc" "$want" <<'PY'; then pass "json-$name"; else fail "json-$name" "rc $rc, stdout: $(head -c 300 "$T/j.out")"; fi
import json, sys
out = open(sys.argv[1]).read()
err = open(sys.argv[2]).read().strip()
rc, want = int(sys.argv[3]), int(sys.argv[4])
lines = out.splitlines()
assert rc == want, rc
assert len(lines) == 1, lines
o = json.loads(lines[0])
assert o["ok"] is False and o["exit"] == want, o
assert err.startswith("mkimage") and err.split(" ", 1)[1] == o["error"], (err, o["error"])
PY
}
json_fail build-missing-model 1 "$MKIMAGE" build "$T/nope.yaml" --json
json_fail build-usage 2 "$MKIMAGE" build --json --frobnicate "$model"
json_fail inspect-missing 1 "$MKIMAGE" inspect "$T/nope.img" --json
json_fail verify-no-pub 2 "$MKIMAGE" verify "$T/pipe.img" --json
json_fail verify-missing-key 1 "$MKIMAGE" verify "$T/pipe.img" --json --pub "$T/nope.pub"
json_fail sde-bad 2 env SOURCE_DATE_EPOCH=soon "$MKIMAGE" build "$model" --json
# A verification failure prints the verify report (ok false), not a second object.
read -r off _ <<<"$(part_offset "$T/pipe.img" root-a)"
python3 -c 'import sys; f=open(sys.argv[1],"r+b"); f.seek(int(sys.argv[2])); b=f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0]^1]))' "$T/pipe.img" $((off + 8192))
rc=0
"$MKIMAGE" verify "$T/pipe.img" --pub "$K/dev.pub" --json >"$T/v.out" 2>/dev/null || rc=$?
check json-verify-failure-one-report python3 -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 1 and json.loads(lines[0])["ok"] is False and "items" in json.loads(lines[0])
assert int(sys.argv[2]) == 1' "$T/v.out" "$rc"
# Success keeps its shape, with "ok": true.
"$MKIMAGE" build "$model" --data-key "$DATA_KEY" -o "$T/j.img" --json >"$T/b.out" 2>/dev/null
check json-build-ok python3 -c '
import json, sys
o = json.loads(open(sys.argv[1]).read())
assert o["ok"] is True and o["image"].endswith("j.img") and len(o["root-hash"]) == 64' "$T/b.out"

# ---- completion, install, uninstall --------------------------------------------------
complete_words() { # WORDS...: what the completion offers for the last word
        PATH="$(dirname "$MKIMAGE"):$PATH" bash -c '
                source builder/cli/mkimage.bash-completion
                COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _mkimage
                printf "%s\n" "${COMPREPLY[@]}"' _ "$@"
}
[ "$(complete_words mkimage ver | sort | tr '\n' ' ')" = "verify verify-sig " ]
check completion-verbs test $? -eq 0
[ "$(complete_words mkimage build --data | sort | tr '\n' ' ')" = "--data-key --data-key-out " ]
check completion-build-options test $? -eq 0
[ "$(complete_words mkimage component p | tr '\n' ' ')" = "pack " ]
check completion-component-subverbs test $? -eq 0
# every option a verb's --help names is offered
for v in build inspect keygen sign verify-sig verify component factory sb-keygen; do
        want="$("$MKIMAGE" $v --help | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u | tr '\n' ' ')"
        words=(mkimage $v)
        [ $v = component ] && words+=(pack)
        got="$(complete_words "${words[@]}" -- | grep . | sort -u | tr '\n' ' ')"
        [ "$want" = "$got" ] || fail "completion-options-$v" "want $want, got $got"
done
pass completion-every-option

d="$T/root"
if make -s install DESTDIR="$d" PREFIX=/usr BUILD="$BUILD" >"$T/inst.log" 2>&1; then
        check install-binary test -x "$d/usr/bin/mkimage"
        check install-man test -s "$d/usr/share/man/man1/mkimage.1"
        check install-completion cmp builder/cli/mkimage.bash-completion "$d/usr/share/bash-completion/completions/mkimage"
        check installed-binary-runs "$d/usr/bin/mkimage" --version
        touch "$d/usr/bin/other"
        make -s uninstall DESTDIR="$d" PREFIX=/usr BUILD="$BUILD" >"$T/inst.log" 2>&1
        left="$(find "$d" -type f | sed "s#^$d##" | tr '\n' ' ')"
        [ "$left" = "/usr/bin/other " ]
        check uninstall-removes-exactly-what-install-wrote test $? -eq 0
else
        fail install "$(cat "$T/inst.log")"
fi

# ---- docs true to the program ----------------------------------------------------------
# every long option of every verb's --help is in the man page (as \-\-name)
missing=""
verbs="$("$MKIMAGE" --help | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p')"
for v in $verbs; do
        grep -qE "^\.(B|BI|BR|TP|RB).*${v//-/\\\\-}" "$MAN" || missing+=" verb:$v"
        for o in $("$MKIMAGE" $v --help | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u); do
                grep -qF -- "${o//-/\\-}" "$MAN" || missing+=" $v:$o"
        done
done
[ -z "$missing" ] && pass man-has-every-option || fail man-has-every-option "not in $MAN:$missing"
# every MKIMAGE_* variable the program reads is in ENVIRONMENT
envs="$(grep -rhoE 'getenv\("MKIMAGE_[A-Z_]+"\)|"MKIMAGE_[A-Z_]+"' builder signing | grep -oE 'MKIMAGE_[A-Z_]+' | sort -u)"
section="$(sed -n '/^\.SH ENVIRONMENT/,/^\.SH /p' "$MAN")"
missing=""
for e in $envs; do grep -qF -- "${e//_/_}" <<<"$section" || missing+=" $e"; done
[ -n "$envs" ] && [ -z "$missing" ] && pass man-has-every-variable || fail man-has-every-variable "missing:$missing"

# The man page's EXAMPLES, run for real in a scratch folder (paths mapped to this checkout).
ex="$T/examples"
mkdir -p "$ex/keys" "$ex/rootfs/meta" "$ex/build"
printf 'name: app\nversion: 1\ntype: app\nlicense: MIT\nsupplier: test\n' >"$ex/component.yaml"
echo hello >"$ex/rootfs/hello"
ln -s "$BUILD/components" "$ex/build/components"
mkdir -p "$ex/models" "$ex/layouts" && cp layouts/*.yaml "$ex/layouts/" && cp "$model" "$ex/models/demo-x86_64.yaml"
cp "$DATA_KEY" "$ex/data.key"
sed -n '/^\.SH EXAMPLES/,/^\.SH /p' "$MAN" | sed -n '/^\.EX/,/^\.EE/p' | grep -v '^\.E[XE]' |
        sed -e 's/\\-/-/g' -e 's/\\e$/\\/' >"$T/examples.txt"
python3 - "$T/examples.txt" >"$T/examples.sh" <<'PY'
import sys
cmds, cur = [], ""
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("$ "):
        cur = line[2:]
    elif cur and line.startswith(" "):
        cur += " " + line.strip()
    else:
        continue
    if cur.endswith("\\"):
        cur = cur[:-1]
        continue
    cmds.append(cur)
    cur = ""
for c in cmds:
    print(c)
PY
n=0
while IFS= read -r cmd; do
        n=$((n + 1))
        case "$cmd" in
        "make components") continue ;; # built by make check itself
        "mkimage build"*) cmd="$cmd --data-key data.key" ;;
        esac
        cmd="${cmd//\/tmp\/t.img/t.img}"
        cmd="${cmd//\$(cat \/run\/secrets\/release)/secret}"
        # the encrypted key the example names: made here
        [[ "$cmd" == *release.key* ]] && [ ! -f "$ex/release.key" ] &&
                printf 'secret\nsecret\n' | minisign -G -f -p "$ex/release.pub" -s "$ex/release.key" >/dev/null 2>&1
        [[ "$cmd" == *my-layout.yaml* ]] && cp layouts/uefi-ab.yaml "$ex/my-layout.yaml"
        if (cd "$ex" && PATH="$(dirname "$MKIMAGE"):$PATH" bash -c "$cmd") >"$T/ex.out" 2>&1; then
                pass "man-example-$n"
        else
                fail "man-example-$n" "'$cmd': $(tail -2 "$T/ex.out")"
        fi
done <"$T/examples.sh"
[ "$n" -ge 8 ] && pass man-examples-found || fail man-examples-found "only $n example commands in $MAN"

# Every mkimage command line in a code block of docs/*.md and the README: its verb exists and
# every --option it uses is one that verb's --help lists.
python3 - "$MKIMAGE" README.md docs/*.md <<'PY' >"$T/doccmds.txt"
import re, subprocess, sys
mk = sys.argv[1]
helps = {}
def opts(verb):
    if verb not in helps:
        r = subprocess.run([mk, verb, "--help"], capture_output=True, text=True)
        helps[verb] = set(re.findall(r"--[a-z][a-z0-9-]*", r.stdout)) if r.returncode == 0 else None
    return helps[verb]
bad, n = [], 0
for path in sys.argv[2:]:
    fence, cur = False, ""
    for no, line in enumerate(open(path), 1):
        if line.lstrip().startswith("```"):
            fence = not fence
            continue
        if not fence:
            continue
        s = cur + line.strip()
        if s.endswith("\\"):
            cur = s[:-1] + " "
            continue
        cur = ""
        m = re.search(r"(?:^|\$ |&& |\| |; |\()(?:\S*/)?mkimage ([a-z][a-z-]*)(.*)", s)
        if not m:
            continue
        verb, rest = m.group(1), m.group(2)
        if verb.endswith("yaml") or "." in verb:
            continue
        n += 1
        o = opts(verb)
        if o is None:
            bad.append(f"{path}:{no}: no verb '{verb}'")
            continue
        for opt in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", rest.split("#")[0]):
            if opt not in o:
                bad.append(f"{path}:{no}: mkimage {verb} has no {opt}")
print(n)
for b in bad:
    print(b)
PY
ndoc="$(head -n 1 "$T/doccmds.txt")"
if [ "${ndoc:-0}" -ge 5 ] && [ "$(wc -l <"$T/doccmds.txt")" -eq 1 ]; then
        pass docs-command-lines
else
        fail docs-command-lines "$ndoc command lines; $(tail -n +2 "$T/doccmds.txt" | head -5 | tr '\n' ';')"
fi

# docs/layout.md's example is layouts/uefi-ab.yaml (comments aside), and the plan it shows is what
# `mkimage build -v` of the demo model prints.
python3 - docs/layout.md layouts/uefi-ab.yaml <<'PY' >"$T/layout-doc.txt"
import sys
doc = open(sys.argv[1]).read()
ex = doc.index("## Example")
y0 = doc.index("```yaml\n", ex) + 8
y1 = doc.index("```", y0)
lay = "".join(l for l in open(sys.argv[2]).read().splitlines(True) if not l.startswith("#"))
print("yaml-same" if doc[y0:y1] == lay else "yaml-differs")
p0 = doc.index("```\n", y1 + 3) + 4
print(doc[p0:doc.index("```", p0)], end="")
PY
check layout-doc-example-is-the-layout test "$(head -n 1 "$T/layout-doc.txt")" = yaml-same
"$MKIMAGE" build -v "$model" --data-key "$DATA_KEY" -o "$T/plan.img" 2>&1 >/dev/null |
        sed -n 's/^mkimage:   \(.* start .* size .*\)$/\1/p' >"$T/plan.txt"
tail -n +2 "$T/layout-doc.txt" >"$T/plan-doc.txt"
check layout-doc-plan-is-the-plan cmp "$T/plan.txt" "$T/plan-doc.txt"
