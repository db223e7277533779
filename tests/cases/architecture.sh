#!/bin/bash
# SPDX-License-Identifier: MIT
# The shape of the code (docs/architecture.md): the trust core in signing/ is
# its own library and the programs on the device link only it; every public
# function carries the mk_ prefix; every folder is in the README's tour; the
# Makefile never installs on a plain `make` and tracks every header.
source "$(dirname "$0")/../lib/testlib.sh"
cd "$SRC"
# make names targets as `make check` did: relative to the checkout when the build is inside it.
B="${BUILD#"$SRC"/}"
CORE="$B/libmkimage-core.a"
LIB="$B/libmkimage.a"

# mk ARGS...: make from the checkout with this build folder, stdout+stderr to $T/make.
mk() { make --no-print-directory BUILD="$B" "$@" >"$T/make" 2>&1; }

# The trust core includes nothing outside itself; the verifier nothing of builder/.
if grep -rln '#include "\(builder\|qemu-boot\)/' signing >"$T/inc"; then
        fail core-includes-only-core "signing/ includes builder or device code: $(tr '\n' ' ' <"$T/inc")"
else pass core-includes-only-core; fi
if grep -rln '#include "builder/' qemu-boot >"$T/inc"; then
        fail verifier-includes-no-builder "$(tr '\n' ' ' <"$T/inc")"
else pass verifier-includes-no-builder; fi

# Every mk_ symbol the core uses is defined in the core (libc, libsodium, libyaml do the rest).
nm -g --defined-only "$CORE" | awk 'NF==3{print $3}' | sort -u >"$T/core-def"
nm -g --undefined-only "$CORE" | awk '{print $NF}' | grep '^mk_' | sort -u >"$T/core-undef"
missing="$(comm -23 "$T/core-undef" "$T/core-def" | tr '\n' ' ')"
if [ -s "$T/core-def" ] && [ -z "$missing" ]; then pass core-closed; else fail core-closed "core needs: ${missing:-no symbols read}"; fi
# ... and it holds no builder module (the builder's names are not in it).
if nm -g --defined-only "$LIB" | awk 'NF==3{print $3}' | sort -u | comm -12 - "$T/core-def" | grep -q .; then
        fail libs-disjoint "a symbol is defined in both libraries"
else pass libs-disjoint; fi

# A device program's real link line: its own objects and the core library only
# (the verifier: qemu-boot/verifier/; the updater: qemu-boot/updater/, docs/update.md).
links_core_only() { # name program objdir need
        local line others
        if ! mk -n -W "$CORE" "$B/$2"; then
                fail "$1" "make -n: $(tail -1 "$T/make")"
                return
        fi
        line="$(grep -- "-o $B/$2 " "$T/make")"
        others="$(tr ' ' '\n' <<<"$line" | grep -E '\.(o|a)$' | grep -v -e "^$B/obj/$3/" -e "^$CORE\$" | tr '\n' ' ')"
        if [ -n "$line" ] && [ -z "$others" ] && grep -q -- "$4" <<<"$line"; then
                pass "$1"
        else fail "$1" "link line [$line] extra [$others]"; fi
}
links_core_only verifier-links-core-only mkimage-verify qemu-boot/verifier "-lsodium -lyaml"
links_core_only updater-links-core-only mkimage-update qemu-boot/updater "-static"

# The guard: a builder object or the builder library on a device link line stops make.
for extra in "$B/obj/builder/model/uuid.o" "$LIB"; do
        name="guard-refuses-$(basename "$extra")"
        if mk -n DEVICE_LINK_EXTRA="$extra" "$B/mkimage-verify"; then
                fail "$name" "make accepted $extra on the verifier's link line"
        elif grep -q "may link only the trust core.*$(basename "$extra")" "$T/make"; then
                pass "$name"
        else fail "$name" "$(tail -1 "$T/make")"; fi
done

# Every global function and variable of both libraries starts with mk_.
bad="$(nm -g --defined-only "$CORE" "$LIB" | awk 'NF==3{print $3}' | grep -v '^mk_' | sort -u | tr '\n' ' ')"
if nm -g --defined-only "$LIB" | grep -q ' T mk_'; then
        if [ -z "$bad" ]; then pass public-names-prefixed; else fail public-names-prefixed "$bad"; fi
else fail public-names-prefixed "no symbols read from $LIB"; fi

# Code lives in folders that name its part; the README's tour lists each one.
flat="$(find signing builder qemu-boot -maxdepth 1 -type f \( -name '*.c' -o -name '*.h' \) | tr '\n' ' ')"
if [ -z "$flat" ]; then pass no-flat-sources; else fail no-flat-sources "$flat"; fi
untoured=""
tour="$(grep '^| `' README.md)"
for d in $(git -C "$SRC" ls-files 2>/dev/null | awk -F/ 'NF>1{print $1} NF>2{print $1"/"$2}' | sort -u); do
        # A folder has its own row, or (one level down) is named in its parent's row.
        grep -q "^| \`$d/\`" <<<"$tour" && continue
        parent="${d%/*}" leaf="${d##*/}"
        [ "$parent" != "$d" ] && grep "^| \`$parent/\`" <<<"$tour" | grep -qE "\`$leaf/?\`" && continue
        untoured="$untoured $d/"
done
[ -n "$(git -C "$SRC" ls-files 2>/dev/null | head -1)" ] || untoured=" (no git checkout to list folders from)"
if [ -z "$untoured" ]; then pass readme-tour-lists-folders; else fail readme-tour-lists-folders "missing:$untoured"; fi

# Plain `make` never installs: with a library missing it names `make deps` and builds nothing.
if make --no-print-directory BUILD="$T/b" PKGS="mkimage-no-such-lib" all >"$T/make" 2>&1; then
        fail make-names-deps "make succeeded without its libraries"
elif grep -q "run 'make deps' as root" "$T/make" && ! grep -q 'make deps: installing' "$T/make" && [ -z "$(find "$T/b" -name '*.o' 2>/dev/null)" ]; then
        pass make-names-deps
else fail make-names-deps "$(cat "$T/make")"; fi

# Header and source dependencies: a change rebuilds what uses it (make -n -W: nothing is touched).
dep() { # NAME CHANGED TARGET WANT
        if mk -n -W "$2" "$3" && grep -q -- "$4" "$T/make"; then pass "$1"; else fail "$1" "make -n -W $2 $3: $(head -3 "$T/make")"; fi
}
dep deps-unit-on-check-h tests/lib/check.h "$B/tests/test-model" "-o $B/tests/test-model "
dep deps-asan-unit-on-check-h tests/lib/check.h "$B/asan/tests/test-model" "-o $B/asan/tests/test-model "
dep deps-verifier-on-entries qemu-boot/verifier/entries.c "$B/mkimage-verify" "-o $B/mkimage-verify "
dep deps-verifier-on-conventions signing/conventions/conventions.h "$B/mkimage-verify" "-c qemu-boot/verifier/verify.c"
dep deps-mkimage-on-header builder/model/model.h "$B/mkimage" "-c builder/model/model.c"
if [ -x "$B/fuzz/fuzz-model" ]; then
        dep deps-fuzzer-on-fuzz-h tests/fuzz/fuzz.h "$B/fuzz/fuzz-model" "-o $B/fuzz/fuzz-model "
else skip deps-fuzzer-on-fuzz-h "$B/fuzz/fuzz-model is not built (make check builds the fuzzers)"; fi

# No two files depend on each other: the graph of "object A uses a symbol object
# B defines" over both libraries has no cycle. ext4.c <-> ext4-populate.c is one
# module behind builder/data/ext4-internal.h and may stay.
if python3 - "$B/obj" >"$T/cycles" <<'PY'; then
import glob, os, subprocess, sys
root = sys.argv[1]
defs, uses = {}, {}
for o in sorted(glob.glob(root + "/signing/**/*.o", recursive=True) + glob.glob(root + "/builder/**/*.o", recursive=True)):
    name = os.path.relpath(o, root)[:-2]
    uses[name] = set()
    for line in subprocess.check_output(["nm", o], text=True).splitlines():
        f = line.split()
        if len(f) == 3 and f[1] in "TDBR":
            defs[f[2]] = name
        elif len(f) == 2 and f[0] == "U":
            uses[name].add(f[1])
if len(uses) < 20:
    sys.exit("read only %d objects" % len(uses))
graph = {n: {defs[s] for s in u if s in defs and defs[s] != n} for n, u in uses.items()}
allowed = {frozenset({"builder/data/ext4", "builder/data/ext4-populate"})}
index, low, stack, on, cycles = {}, {}, [], set(), []
def visit(v):
    index[v] = low[v] = len(index); stack.append(v); on.add(v)
    for w in graph[v]:
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = set()
        while True:
            w = stack.pop(); on.discard(w); comp.add(w)
            if w == v:
                break
        if len(comp) > 1 and frozenset(comp) not in allowed:
            cycles.append(" <-> ".join(sorted(comp)))
for v in sorted(graph):
    if v not in index:
        visit(v)
print("\n".join(cycles))
sys.exit(1 if cycles else 0)
PY
        pass no-file-cycles
else fail no-file-cycles "$(tr '\n' ';' <"$T/cycles")"; fi

# Every file under the source folders is in git: an ignore pattern that swallows a new source
# (as `build/` once did with builder/build/) makes a clean clone fail to build.
if git -C "$SRC" rev-parse --git-dir >/dev/null 2>&1; then
        ignored="$(git -C "$SRC" ls-files --others --ignored --exclude-standard -- signing builder qemu-boot tests \
                components layouts models docs .ci | tr '\n' ' ')"
        if [ -z "$ignored" ]; then pass sources-not-ignored; else fail sources-not-ignored "ignored by git:$ignored"; fi
else fail sources-not-ignored "$SRC is not a git checkout"; fi

# No file over about 600 lines (650 is the hard limit): a longer one holds more than one concern.
long="$(git -C "$SRC" ls-files -- '*.c' '*.h' '*.sh' '*.py' tests/run qemu-boot/run .ci/run | while read -r f; do
        n=$(wc -l <"$SRC/$f"); [ "$n" -gt 650 ] && echo "$f:$n"; done | tr '\n' ' ')"
if [ -z "$long" ]; then pass no-long-files; else fail no-long-files "$long"; fi
