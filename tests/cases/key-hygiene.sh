#!/bin/bash
# Key hygiene (issue 8): the signing key's secret bytes (the Ed25519 seed and
# the 64-byte secret key of the minisign .key file, docs/signing.md) and the
# LUKS2 data key never reach the image, the manifests, the logs (-v, --json,
# errors of a build that fails after the keys are loaded) or `inspect` output;
# raw, hex (both cases) or base64. And while a build holds them, they live
# only in memory left out of core dumps (MADV_DONTDUMP, "dd" in smaps).
source "$(dirname "$0")/../lib/testlib.sh"
umask 022
M="$MKIMAGE"

"$M" keygen "$T/k" >/dev/null 2>&1 || fail keygen "mkimage keygen failed"
sed -e "s|\.\./|$SRC/|g" -e '/- name: kernel/,+2d' -e "s|^signing-key: .*|signing-key: $T/k.key|" \
        "$SRC/models/demo-x86_64.yaml" >"$T/m.yaml"
# The components are signed by the dev key: trust it too, sign with ours.
sed -i "s|^  dev: .*|&\n  mine: $T/k.pub|" "$T/m.yaml"

# needles: the secret forms to look for, one hex line each.
python3 - "$T/k.key" "$DATA_KEY" >"$T/needles" <<'PY'
import base64, sys
lines = open(sys.argv[1]).read().splitlines()
raw = base64.b64decode(lines[1])
assert len(raw) == 158 and raw[:2] == b"Ed" and raw[2:4] == b"\0\0", "expected an unencrypted minisign key"
sk = raw[62:126]
secrets = {"seed": sk[:32], "secret-key": sk, "data-key": open(sys.argv[2], "rb").read()}
for name, s in secrets.items():
    for form, b in (("raw", s), ("hex", s.hex().encode()), ("HEX", s.hex().upper().encode()),
                    ("base64", base64.b64encode(s)), ("base64-half", base64.b64encode(s[:24]))):
        print(f"{name}/{form}", b.hex())
PY

# scan NAME FILE...: none of the needles occurs in any FILE.
scan() {
        local name="$1"; shift
        local found
        found="$(python3 - "$T/needles" "$@" <<'PY'
import mmap, os, sys
needles = [l.split() for l in open(sys.argv[1])]
for path in sys.argv[2:]:
    if os.path.getsize(path) == 0:
        continue
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        for name, h in needles:
            if m.find(bytes.fromhex(h)) >= 0:
                print(f"{name} in {path}")
PY
)"
        if [ -z "$found" ] && [ $# -gt 0 ]; then pass "$name"; else fail "$name" "${found:-no files}"; fi
}

mkdir "$T/o"
if "$M" build -v "$T/m.yaml" --data-key "$DATA_KEY" -o "$T/o/x.img" >"$T/build.log" 2>&1; then
        pass build
else
        fail build "$(tail -3 "$T/build.log")"
fi
"$M" build "$T/m.yaml" --data-key "$DATA_KEY" -o "$T/o/j.img" --json >"$T/json.log" 2>&1
"$M" inspect "$T/o/x.img" >"$T/inspect.log" 2>&1
"$M" inspect --json "$T/o/x.img" >"$T/inspect-json.log" 2>&1
"$M" verify "$T/o/x.img" --pub "$T/k.pub" >"$T/verify.log" 2>&1
check manifest-signed-by-test-key "$M" verify-sig "$T/o/x.img.manifest.yaml" --pub "$T/k.pub"

# A build that fails after both keys are loaded and used (the image is
# written, the manifests signed): a file-size limit hits the image.
mkdir "$T/f"
rc=0; (ulimit -f 20000; "$M" build -v "$T/m.yaml" --data-key "$DATA_KEY" -o "$T/f/x.img") >"$T/fail.log" 2>&1 || rc=$?
expect_eq failing-build-fails "$rc:$(ls -A "$T/f")" "1:"
# A build refused for its data key (wrong size), a sign with a bad file.
head -c 10 /dev/urandom >"$T/short.key" && chmod 600 "$T/short.key"
"$M" build -v "$T/m.yaml" --data-key "$T/short.key" -o "$T/f/x.img" >"$T/fail2.log" 2>&1
"$M" sign "$T/nope" --key "$T/k.key" >"$T/fail3.log" 2>&1

scan image "$T/o/x.img" "$T/o/j.img"
scan manifests "$T/o"/x.img.manifest*.yaml "$T/o"/x.img.manifest*.minisig
scan logs "$T/build.log" "$T/json.log" "$T/verify.log" "$T/fail.log" "$T/fail2.log" "$T/fail3.log"
scan inspect "$T/inspect.log" "$T/inspect-json.log"
# The scan finds what it looks for (or the checks above prove nothing).
cp "$T/k.key" "$T/decoy" && python3 -c 'import base64,sys; open(sys.argv[2],"ab").write(base64.b64decode(open(sys.argv[1]).read().splitlines()[1])[62:94])' "$T/k.key" "$T/decoy"
head -c 100 "$DATA_KEY" | od -An -tx1 | tr -d ' \n' >"$T/decoy2"
expect_eq scan-finds-seed "$(scan x "$T/decoy")" "FAIL: $SUITE/x: seed/raw in $T/decoy"
expect_eq scan-finds-data-key-hex "$(scan x "$T/decoy2")" "FAIL: $SUITE/x: data-key/hex in $T/decoy2"

# While a build holds both keys (stalled before the commit), they appear in
# no mapping a core dump would hold: only in MADV_DONTDUMP ("dd") memory.
mkdir "$T/s"
MKIMAGE_STALL_AT=commit "$M" build "$T/m.yaml" --data-key "$DATA_KEY" -o "$T/s/x.img" >/dev/null 2>"$T/stall.err" &
pid=$!
for _ in $(seq 300); do grep -q "stalled at stage 'commit'" "$T/stall.err" && break; sleep 0.1; done
if grep -q "stalled at stage 'commit'" "$T/stall.err"; then
        out="$(python3 - "$T/needles" "$pid" <<'PY'
import re, sys
needles = [(n, bytes.fromhex(h)) for n, h in (l.split() for l in open(sys.argv[1])) if n.endswith("/raw")]
pid = sys.argv[2]
maps, cur = [], None
for line in open(f"/proc/{pid}/smaps"):
    m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
    if m:
        cur = [int(m.group(1), 16), int(m.group(2), 16), m.group(3), None]
        maps.append(cur)
    elif line.startswith("VmFlags:"):
        cur[3] = line.split()[1:]
hits_dumped, hits_dd = [], []
with open(f"/proc/{pid}/mem", "rb", 0) as mem:
    for lo, hi, perm, flags in maps:
        if "r" not in perm or hi - lo > (1 << 30):
            continue
        try:
            mem.seek(lo); data = mem.read(hi - lo)
        except OSError:
            continue
        for n, b in needles:
            if data.find(b) >= 0:
                (hits_dd if "dd" in flags else hits_dumped).append(f"{n}@{lo:x}")
print("dumped:" + ",".join(hits_dumped), "dontdump:" + ",".join(sorted(set(h.split("@")[0] for h in hits_dd))))
PY
)"
        expect_eq keys-only-in-dontdump-memory "$out" "dumped: dontdump:data-key/raw,secret-key/raw,seed/raw"
else
        fail keys-only-in-dontdump-memory "the build did not stall: $(cat "$T/stall.err")"
fi
kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
check stalled-build-leaves-nothing only_files "$T/s"
