#!/bin/bash
# Bad input (STYLE §14): one case per validation rule, each asserting the
# exact error. See tests/bad/README.md for the corpus and its conventions.
#
# For every tests/bad/models/NAME.yaml and tests/bad/layouts/NAME.yaml:
#   - the exit code is the file's "# exit: N" (default 1);
#   - stderr is exactly one line, "mkimage: " + the file's "# expect: " text;
#   - stdout is empty;
#   - the output folder is empty afterwards (no image, no .NAME.mkimage-*
#     temporary file).
# Then the CLI's usage (exit 2) and I/O (exit 1) errors, checked the same way.
# When an ASan+UBSan build of mkimage is present ($BUILD/asan/mkimage, made
# by `make check`) and is not older than $MKIMAGE, every corpus case runs
# under it too: the error paths must not leak or misbehave either.
source "$(dirname "$0")/../lib/testlib.sh"

BAD="$SRC/tests/bad"
OUT="$T/out"

# header FILE KEY: the text after "# KEY: " in the first two lines of FILE.
header() {
        head -n 2 "$1" | LC_ALL=C sed -n "s/^# $2: //p" | head -n 1
}

# run_case NAME WANT_RC WANT_STDERR_FILE CMD...: run CMD in tests/bad with a
# fresh, empty $OUT and check the exit code, stderr, stdout and leftovers.
run_case() {
        local name="$1" want_rc="$2" want_err="$3"; shift 3
        rm -rf "$OUT" && mkdir "$OUT" || { fail "$name" "cannot reset $OUT"; return; }
        local rc=0
        (cd "$BAD" && "$@") >"$T/stdout" 2>"$T/stderr" </dev/null || rc=$?
        local why=""
        [ "$rc" == "$want_rc" ] || why="exit $rc, want $want_rc"
        if ! cmp -s "$want_err" "$T/stderr"; then
                why="${why:+$why; }stderr [$(head -c 600 "$T/stderr")] want [$(cat "$want_err")]"
        fi
        [ -s "$T/stdout" ] && why="${why:+$why; }stdout not empty: [$(head -c 200 "$T/stdout")]"
        local left
        left="$(ls -A "$OUT")"
        [ -z "$left" ] || why="${why:+$why; }left behind in the output folder: $(echo $left)"
        if [ -z "$why" ]; then pass "$name"; else fail "$name" "$why"; fi
}

# expect_line NAME WANT_RC LINE CMD...: run_case with a one-line stderr.
expect_line() {
        local name="$1" rc="$2" line="$3"; shift 3
        printf '%s\n' "$line" >"$T/want"
        run_case "$name" "$rc" "$T/want" "$@"
}

binaries=("$MKIMAGE")
if [ -x "$BUILD/asan/mkimage" ] && ! [ "$BUILD/asan/mkimage" -ot "$MKIMAGE" ]; then
        binaries+=("$BUILD/asan/mkimage")
fi

# corpus KIND BIN TAG: every file of tests/bad/KIND/.
corpus() {
        local kind="$1" bin="$2" tag="$3" f name expect rc
        for f in "$BAD/$kind"/*.yaml; do
                name="$kind/$(basename "$f" .yaml)$tag"
                expect="$(header "$f" expect)"
                rc="$(header "$f" exit)"
                if [ -z "$expect" ]; then
                        fail "$name" "no '# expect: ' line at the top of $f"
                        continue
                fi
                if [ "$kind" == models ]; then
                        expect_line "$name" "${rc:-1}" "mkimage: $expect" \
                                "$bin" build "models/$(basename "$f")" -o "$OUT/x.img"
                else
                        expect_line "$name" "${rc:-1}" "mkimage: $expect" \
                                "$bin" build good-model.yaml --layout "layouts/$(basename "$f")" -o "$OUT/x.img"
                fi
        done
}

# The layout cases use good-model.yaml: it must build, or they prove nothing.
rm -rf "$OUT" && mkdir "$OUT"
if (cd "$BAD" && "$MKIMAGE" build good-model.yaml -o "$OUT/x.img") >"$T/stdout" 2>"$T/stderr" &&
        [ ! -s "$T/stderr" ] && only_files "$OUT" x.img x.img.manifest.yaml x.img.manifest.yaml.minisig x.img.manifest-b.yaml x.img.manifest-b.yaml.minisig; then
        pass "good-model-builds"
else
        fail "good-model-builds" "tests/bad/good-model.yaml must build cleanly (it uses build/keys/dev.pub and build/components/{base,hello}.comp like the demo model: run 'make components' first): $(head -c 400 "$T/stderr")"
fi
# ... and with its layout given explicitly, the way the layout cases run.
rm -rf "$OUT" && mkdir "$OUT"
if (cd "$BAD" && "$MKIMAGE" build good-model.yaml --layout ../../layouts/uefi-ab.yaml -o "$OUT/x.img") \
        >"$T/stdout" 2>"$T/stderr" && [ ! -s "$T/stderr" ] && only_files "$OUT" x.img x.img.manifest.yaml x.img.manifest.yaml.minisig x.img.manifest-b.yaml x.img.manifest-b.yaml.minisig; then
        pass "good-model-with-layout-option"
else
        fail "good-model-with-layout-option" "$(head -c 400 "$T/stderr")"
fi

for bin in "${binaries[@]}"; do
        tag=""
        [ "$bin" == "$MKIMAGE" ] || tag=":asan"
        corpus models "$bin" "$tag"
        corpus layouts "$bin" "$tag"
done

# --- the command line --------------------------------------------------------
M="$MKIMAGE"

# No arguments: the usage text on stderr, exit 2.
rm -rf "$OUT" && mkdir "$OUT"
rc=0
"$M" >"$T/stdout" 2>"$T/stderr" </dev/null || rc=$?
if [ "$rc" == 2 ] && [ ! -s "$T/stdout" ] && head -n 1 "$T/stderr" | grep -q '^Usage: mkimage VERB' &&
        grep -q '^  build MODEL.yaml' "$T/stderr"; then
        pass "cli/no-arguments"
else
        fail "cli/no-arguments" "exit $rc, stderr [$(head -c 300 "$T/stderr")]"
fi

expect_line cli/unknown-verb 2 \
        "mkimage: unknown verb 'frobnicate' (run 'mkimage --help' for the list)" \
        "$M" frobnicate good-model.yaml
expect_line cli/unknown-option 2 \
        "mkimage build: unknown or incomplete option '--frobnicate' (see 'mkimage build --help')" \
        "$M" build --frobnicate good-model.yaml -o "$OUT/x.img"
expect_line cli/unknown-short-option 2 \
        "mkimage build: unknown or incomplete option '-x' (see 'mkimage build --help')" \
        "$M" build -x good-model.yaml -o "$OUT/x.img"
expect_line cli/output-without-argument 2 \
        "mkimage build: unknown or incomplete option '-o' (see 'mkimage build --help')" \
        "$M" build good-model.yaml -o
expect_line cli/build-without-model 2 \
        "mkimage build: name one MODEL.yaml (see 'mkimage build --help')" \
        "$M" build -o "$OUT/x.img"
expect_line cli/two-models 2 \
        "mkimage build: give exactly one MODEL.yaml (see 'mkimage build --help')" \
        "$M" build good-model.yaml good-model.yaml -o "$OUT/x.img"
expect_line cli/two-models-implicit-build 2 \
        "mkimage build: give exactly one MODEL.yaml (see 'mkimage build --help')" \
        "$M" good-model.yaml models/alias.yaml -o "$OUT/x.img"
expect_line cli/inspect-without-image 2 \
        "mkimage inspect: name the IMAGE to inspect (see 'mkimage inspect --help')" \
        "$M" inspect
expect_line cli/inspect-two-images 2 \
        "mkimage inspect: give exactly one IMAGE (see 'mkimage inspect --help')" \
        "$M" inspect a.img b.img
expect_line cli/inspect-unknown-option 2 \
        "mkimage inspect: unknown option '--frobnicate' (see 'mkimage inspect --help')" \
        "$M" inspect --frobnicate a.img

# I/O errors: exit 1.
expect_line cli/inspect-missing-file 1 \
        "mkimage: $T/missing.img: No such file or directory" \
        "$M" inspect "$T/missing.img"
head -c 1048576 /dev/zero >"$T/zero.img"
expect_line cli/inspect-no-gpt 1 \
        "mkimage: $T/zero.img: no GPT partition table found (is this a disk image made by mkimage?)" \
        "$M" inspect "$T/zero.img"
expect_line cli/inspect-yaml-file 1 \
        "mkimage: good-model.yaml: $(stat -c %s "$SRC/tests/bad/good-model.yaml") bytes is too small to hold a GPT (is this a disk image?)" \
        "$M" inspect good-model.yaml
: >"$T/empty.img"
expect_line cli/inspect-empty-file 1 \
        "mkimage: $T/empty.img: 0 bytes is too small to hold a GPT (is this a disk image?)" \
        "$M" inspect "$T/empty.img"
mkdir -p "$T/adir"
expect_line cli/inspect-directory 1 \
        "mkimage: $T/adir: not a disk image file" \
        "$M" inspect "$T/adir"
expect_line cli/output-folder-missing 1 \
        "mkimage: $OUT/no-such-folder/x.img: the folder '$OUT/no-such-folder' does not exist (create it first)" \
        "$M" build good-model.yaml -o "$OUT/no-such-folder/x.img"
expect_line cli/output-is-directory 1 \
        "mkimage: $OUT: is a directory (give a file name for the image with -o)" \
        "$M" build good-model.yaml -o "$OUT"
expect_line cli/output-is-directory-slash 1 \
        "mkimage: $OUT/: is a directory (give a file name for the image with -o)" \
        "$M" build good-model.yaml -o "$OUT/"
expect_line cli/model-missing 1 \
        "mkimage: models/no-such-model.yaml: cannot open: No such file or directory" \
        "$M" build models/no-such-model.yaml -o "$OUT/x.img"
expect_line cli/model-is-directory 1 \
        "mkimage: models: is a directory (name a YAML file)" \
        "$M" build models -o "$OUT/x.img"
expect_line cli/layout-missing 1 \
        "mkimage: layouts/no-such-layout.yaml: cannot open: No such file or directory" \
        "$M" build good-model.yaml --layout layouts/no-such-layout.yaml -o "$OUT/x.img"

# A failed build must not replace an existing image either.
rm -rf "$OUT" && mkdir "$OUT"
echo "previous image" >"$OUT/x.img"
rc=0
(cd "$BAD" && "$M" build models/duplicate-key.yaml -o "$OUT/x.img") >/dev/null 2>&1 || rc=$?
if [ "$rc" == 1 ] && [ "$(cat "$OUT/x.img")" == "previous image" ] && only_files "$OUT" x.img; then
        pass "cli/failed-build-keeps-old-image"
else
        fail "cli/failed-build-keeps-old-image" "exit $rc; folder: $(ls -A "$OUT" | tr '\n' ' ')"
fi
