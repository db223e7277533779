#!/usr/bin/env python3
# make-corpus.py OUTDIR [--key KEY] [--mkimage BIN] [CASE...]: writes the
# hostile components of issue 25 into OUTDIR, each NAME.comp signed
# (NAME.comp.minisig, `mkimage sign NAME.comp --key KEY`). Every case carries a
# valid meta/component.yaml naming it, so it fails only for the one property
# it crafts; control.comp is made the same way with nothing crafted and must
# pass. The cases and what mkimage must do with each are in README.md here.
#
# How they are made: mksquashfs (squashfs-tools) from a host tree, then, for
# the cases no file system can hold (names with '/', NUL, "." or "..", a
# directory reachable by two names, a cycle), the image is patched in place.
# It is written with uncompressed metadata (-noI -noD), so the inode and the
# directory tables are plain bytes: a name is rewritten keeping its length,
# an entry is repointed by rewriting its (offset, inode delta); no metadata
# block changes its size, so every block header stays valid. The result is
# checked by parsing it again (check_*), so a change in mksquashfs's layout
# fails here instead of producing a silently different case.
#
# Deterministic: the same mksquashfs and key give the same bytes (no wall
# clock: -mkfs-time 0 -all-time 0, -processors 1; mkimage sign uses
# SOURCE_DATE_EPOCH). stdlib only; needs mksquashfs (apt-get install
# squashfs-tools) and, for deep.comp, its pseudo-file support (4.4 or later).
import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", "..", ".."))

# build/components/hello.comp's meta/component.yaml (components/hello/), with
# the name replaced by the case's.
META = """\
# A hostile component (tests/bad/components/README.md): only the property
# its name says is wrong.
name: {name}
version: 1.0.0
type: app
license: MIT
supplier: "Organization: mkimage project"
source: https://example.com/mkimage/{name}
"""

MKSQUASHFS = ["-noI", "-noD", "-noF", "-noX", "-no-xattrs", "-all-root",
              "-mkfs-time", "0", "-all-time", "0", "-processors", "1",
              "-quiet", "-no-progress", "-noappend"]

DEEP_LEVELS = 3000
SHARED_LEVELS = 40

# ---- squashfs 4.0 -------------------------------------------------------------
# superblock (96 bytes, little endian):
#   0 magic  4 inode_count  8 mod_time  12 block_size  16 fragment_entry_count
#  20 compression_id(16)  22 block_log(16)  24 flags(16)  26 no_ids(16)
#  28 s_major(16)  30 s_minor(16)  32 root_inode_ref(64)  40 bytes_used
#  48 id_table_start  56 xattr_id_table_start  64 inode_table_start
#  72 directory_table_start  80 fragment_table_start  88 export_table_start
SUPER = struct.Struct("<IIIIIHHHHHHQQQQQQQQ")
SUPER_FIELDS = ("magic inode_count mod_time block_size fragment_entry_count compression_id "
                "block_log flags no_ids s_major s_minor root_inode_ref bytes_used "
                "id_table_start xattr_id_table_start inode_table_start "
                "directory_table_start fragment_table_start export_table_start").split()
assert SUPER.size == 96
MAGIC = 0x73717368
META_BLOCK = 8192
DIR_BASIC, FILE_BASIC, SYMLINK_BASIC = 1, 2, 3
DIR_EXT = 8


class Image:
    """A squashfs image with uncompressed metadata, as a mutable bytearray."""

    def __init__(self, data):
        self.b = bytearray(data)
        self.sb = dict(zip(SUPER_FIELDS, SUPER.unpack_from(self.b, 0)))
        if self.sb["magic"] != MAGIC or (self.sb["s_major"], self.sb["s_minor"]) != (4, 0):
            raise SystemExit("make-corpus: not a squashfs 4.0 image")

    def set_super(self, field, value):
        self.sb[field] = value
        SUPER.pack_into(self.b, 0, *(self.sb[f] for f in SUPER_FIELDS))

    def meta(self, table, block, offset, n):
        """n bytes of the metadata table at `table`, from (block, offset);
        returns (bytes, file position of each byte)."""
        out, where = bytearray(), []
        pos = table + block
        while len(out) < n:
            (hdr,) = struct.unpack_from("<H", self.b, pos)
            if not hdr & 0x8000:
                raise SystemExit("make-corpus: compressed metadata block at %d (need -noI -noD)" % pos)
            size = hdr & 0x7FFF
            if size == 0 or size > META_BLOCK:
                raise SystemExit("make-corpus: bad metadata block header at %d" % pos)
            take = range(pos + 2 + offset, pos + 2 + size)
            for p in take:
                if len(out) == n:
                    break
                out.append(self.b[p])
                where.append(p)
            pos += 2 + size
            offset = 0
        return bytes(out), where

    def poke(self, where, data):
        assert len(where) == len(data)
        for p, v in zip(where, data):
            self.b[p] = v

    def inode(self, ref):
        """The inode at ref (block << 16 | offset): a dict."""
        block, offset = ref >> 16, ref & 0xFFFF
        it = self.sb["inode_table_start"]
        raw, _ = self.meta(it, block, offset, 16)
        itype, mode, uid, gid, mtime, number = struct.unpack("<HHHHII", raw)
        node = dict(ref=ref, type=itype, mode=mode, number=number)
        if itype == DIR_BASIC:
            raw, _ = self.meta(it, block, offset, 32)
            start, nlink, size, doff, parent = struct.unpack_from("<IIHHI", raw, 16)
            node.update(start=start, nlink=nlink, size=size, offset=doff, parent=parent)
        elif itype == DIR_EXT:
            raw, _ = self.meta(it, block, offset, 40)
            nlink, size, start, parent, _count, doff, _xattr = struct.unpack_from("<IIIIHHI", raw, 16)
            node.update(start=start, nlink=nlink, size=size, offset=doff, parent=parent)
        return node

    def listing(self, d):
        """The entries of directory inode d, in order: dicts with the name, the
        child's ref, number and type, and where the entry's fields are."""
        n = d["size"] - 3  # file_size counts "." and ".." as 3 bytes
        if n <= 0:
            return []
        raw, where = self.meta(self.sb["directory_table_start"], d["start"], d["offset"], n)
        ents, i = [], 0
        while i < n:
            count, start, base = struct.unpack_from("<III", raw, i)
            i += 12
            for _ in range(count + 1):
                off, delta, etype, nsize = struct.unpack_from("<HhHH", raw, i)
                name = raw[i + 8 : i + 8 + nsize + 1]
                ents.append(dict(name=name, ref=(start << 16) | off, number=base + delta, type=etype,
                                 hdr_start=start, hdr_number=base,
                                 at=where[i : i + 4], name_at=where[i + 8 : i + 8 + nsize + 1]))
                i += 8 + nsize + 1
        return ents

    def root(self):
        return self.inode(self.sb["root_inode_ref"])

    def entry(self, path):
        """The directory entry at path (a tuple of byte names) and its parent dir."""
        d = self.root()
        for k, part in enumerate(path):
            for e in self.listing(d):
                if e["name"] == part:
                    break
            else:
                raise SystemExit("make-corpus: no entry %r" % b"/".join(path[: k + 1]))
            if k == len(path) - 1:
                return e, d
            d = self.inode(e["ref"])

    def rename(self, path, new):
        e, _ = self.entry(path)
        if len(new) != len(e["name"]):
            raise SystemExit("make-corpus: %r and %r differ in length" % (e["name"], new))
        self.poke(e["name_at"], new)

    def repoint(self, path, target):
        """Make the entry at path refer to the inode the entry at target refers to."""
        e, _ = self.entry(path)
        t, _ = self.entry(target)
        self.repoint_entry(e, t["ref"], t["number"], t["type"])

    def repoint_entry(self, e, ref, number, etype):
        if ref >> 16 != e["hdr_start"]:
            # Another inode block would need a new directory header: not
            # needed for images this small (one inode metadata block).
            raise SystemExit("make-corpus: target inode is in another metadata block")
        if etype != e["type"]:
            raise SystemExit("make-corpus: entry type %d, target type %d" % (e["type"], etype))
        delta = number - e["hdr_number"]
        if not -32768 <= delta <= 32767:
            raise SystemExit("make-corpus: inode number delta %d out of range" % delta)
        self.poke(e["at"], struct.pack("<Hh", ref & 0xFFFF, delta))


# ---- host trees -----------------------------------------------------------------
def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def tree(tmp, name):
    """A fresh source folder holding meta/component.yaml for component `name`."""
    src = os.path.join(tmp, name)
    os.mkdir(src)
    os.mkdir(os.path.join(src, "meta"), 0o755)
    write(os.path.join(src, "meta", "component.yaml"), META.format(name=name))
    return src


# mksquashfs refuses SOURCE_DATE_EPOCH beside -mkfs-time/-all-time, which
# set the same (0); mkimage sign still gets it.
SQ_ENV = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}


def mksquashfs(src, out, *extra):
    r = subprocess.run(["mksquashfs", src, out] + MKSQUASHFS + list(extra), env=SQ_ENV,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0 or r.stderr.strip():
        raise SystemExit("make-corpus: mksquashfs %s: %s" % (src, r.stderr.strip() or "exit %d" % r.returncode))


def patched(tmp, name, src, craft):
    """mksquashfs src, then craft(Image) in place; returns the image bytes."""
    raw = os.path.join(tmp, name + ".raw")
    mksquashfs(src, raw)
    with open(raw, "rb") as f:
        img = Image(f.read())
    craft(img)
    return bytes(img.b)


def chain(src, names, levels):
    """levels nested directories under src, each named names[0]; at every
    level the other names are empty sibling directories. Made relative to a
    directory fd, so the depth is not bounded by PATH_MAX."""
    fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(levels):
            for n in names:
                os.mkdir(n, 0o755, dir_fd=fd)
            nfd = os.open(names[0], os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
    finally:
        os.close(fd)


# ---- the cases ------------------------------------------------------------------
# Each returns the bytes of NAME.comp.

def case_control(tmp, name):
    src = tree(tmp, name)
    write(os.path.join(src, "etc", "hello.conf"), "greeting = hello\n")
    os.makedirs(os.path.join(src, "d1"))
    write(os.path.join(src, "d1", "f"), "f\n")
    out = os.path.join(tmp, name + ".raw")
    mksquashfs(src, out)
    return open(out, "rb").read()


def case_deep(tmp, name):
    # The host tree can be made (chain() does, relative to a dir fd), but
    # mksquashfs reads it by full path and skips everything past PATH_MAX
    # ("File name too long, ignoring"), so the chain is given to it as
    # pseudo-file definitions instead, which it never resolves on the host.
    # The metadata is xz-compressed: uncompressed it is 184 KiB, this 20 KiB.
    src = tree(tmp, name)
    pf = os.path.join(tmp, name + ".pseudo")
    with open(pf, "w") as f:
        for i in range(1, DEEP_LEVELS + 1):
            f.write("/".join(["a"] * i) + " d 755 0 0\n")
    out = os.path.join(tmp, name + ".raw")
    r = subprocess.run(["mksquashfs", src, out, "-comp", "xz", "-all-root", "-mkfs-time", "0",
                        "-all-time", "0", "-processors", "1", "-quiet", "-no-progress",
                        "-noappend", "-no-xattrs", "-pf", pf], env=SQ_ENV,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0 or r.stderr.strip():
        raise SystemExit("make-corpus: mksquashfs %s: %s" % (name, r.stderr.strip()))
    return open(out, "rb").read()


def case_name_slash(tmp, name):
    # a_b -> "a/b", beside a real a/b: a reader that joins names into paths
    # without checking sees a duplicate, or writes a/b through the entry.
    src = tree(tmp, name)
    write(os.path.join(src, "a_b"), "entry named a/b\n")
    write(os.path.join(src, "a", "b"), "the real a/b\n")
    return patched(tmp, name, src, lambda i: i.rename((b"a_b",), b"a/b"))


def case_name_nul(tmp, name):
    src = tree(tmp, name)
    write(os.path.join(src, "x_y"), "entry named x\\0y\n")
    return patched(tmp, name, src, lambda i: i.rename((b"x_y",), b"x\0y"))


def case_name_dot(tmp, name):
    src = tree(tmp, name)
    write(os.path.join(src, "x"), "entry named .\n")
    return patched(tmp, name, src, lambda i: i.rename((b"x",), b"."))


def case_name_dotdot(tmp, name):
    # A directory named "..": its file would land outside the tree (../escape).
    src = tree(tmp, name)
    write(os.path.join(src, "xx", "escape"), "outside the tree\n")
    return patched(tmp, name, src, lambda i: i.rename((b"xx",), b".."))


def case_dir_hardlink(tmp, name):
    src = tree(tmp, name)
    write(os.path.join(src, "d1", "f"), "in d1\n")
    os.mkdir(os.path.join(src, "d2"))
    return patched(tmp, name, src, lambda i: i.repoint((b"d2",), (b"d1",)))


def case_shared_children(tmp, name):
    # l/l/.../l (SHARED_LEVELS deep) with an empty sibling m at every level;
    # each m is repointed at its sibling l: every level has two names for
    # the next, 2^40 paths to the bottom in a few KiB.
    src = tree(tmp, name)
    chain(src, ["l", "m"], SHARED_LEVELS)

    def craft(img):
        d = img.root()
        for _ in range(SHARED_LEVELS):
            ents = {e["name"]: e for e in img.listing(d)}
            lent, ment = ents[b"l"], ents[b"m"]
            img.repoint_entry(ment, lent["ref"], lent["number"], lent["type"])
            d = img.inode(lent["ref"])

    return patched(tmp, name, src, craft)


def case_dir_loop(tmp, name):
    # d/loop is repointed at d, the directory that holds it: d/loop/loop/...
    src = tree(tmp, name)
    os.makedirs(os.path.join(src, "d", "loop"))
    write(os.path.join(src, "d", "f"), "in d\n")

    def craft(img):
        e, parent = img.entry((b"d", b"loop"))
        img.repoint_entry(e, parent["ref"], parent["number"], DIR_BASIC)

    return patched(tmp, name, src, craft)


def case_inode_count_lie(tmp, name):
    src = tree(tmp, name)
    write(os.path.join(src, "f"), "f\n")
    return patched(tmp, name, src, lambda i: i.set_super("inode_count", 0xFFFFFFF0))


def case_setuid_undeclared(tmp, name):
    # A setuid-root file (-all-root) not declared in the metadata's 'setuid' list.
    src = tree(tmp, name)
    write(os.path.join(src, "usr", "bin", "su"), "#!/bin/sh\nexec /bin/sh\n", 0o4755)
    os.chmod(os.path.join(src, "usr", "bin", "su"), 0o4755)  # past the umask
    out = os.path.join(tmp, name + ".raw")
    mksquashfs(src, out)
    return open(out, "rb").read()


def case_device_undeclared(tmp, name):
    # A character device (1,1: /dev/mem) without 'allow-devices: true'.
    # mknod needs root (or CAP_MKNOD); a pseudo-file definition gives the
    # same bytes without it, so it is used whoever runs this.
    src = tree(tmp, name)
    os.makedirs(os.path.join(src, "dev"))
    out = os.path.join(tmp, name + ".raw")
    mksquashfs(src, out, "-p", "dev/mem c 600 0 0 1 1")
    return open(out, "rb").read()


CASES = [
    ("control", case_control),
    ("deep", case_deep),
    ("name-slash", case_name_slash),
    ("name-nul", case_name_nul),
    ("name-dot", case_name_dot),
    ("name-dotdot", case_name_dotdot),
    ("dir-hardlink", case_dir_hardlink),
    ("shared-children", case_shared_children),
    ("dir-loop", case_dir_loop),
    ("inode-count-lie", case_inode_count_lie),
    ("setuid-undeclared", case_setuid_undeclared),
    ("device-undeclared", case_device_undeclared),
]


def check(name, data):
    """Parse the written image again and assert the crafted property."""
    if name in ("deep", "control", "setuid-undeclared", "device-undeclared"):
        return
    img = Image(data)
    root = img.root()
    names = {e["name"]: e for e in img.listing(root)}
    want = {"name-slash": b"a/b", "name-nul": b"x\0y", "name-dot": b".", "name-dotdot": b".."}
    if name in want:
        assert want[name] in names, (name, list(names))
    elif name == "dir-hardlink":
        assert names[b"d1"]["ref"] == names[b"d2"]["ref"] and names[b"d1"]["number"] == names[b"d2"]["number"]
    elif name == "shared-children":
        d, seen = root, 0
        while True:
            ents = {e["name"]: e for e in img.listing(d) if e["name"] in (b"l", b"m")}
            if not ents:
                break
            assert ents[b"l"]["ref"] == ents[b"m"]["ref"], seen
            seen += 1
            d = img.inode(ents[b"l"]["ref"])
        assert seen == SHARED_LEVELS, seen
    elif name == "dir-loop":
        e, parent = img.entry((b"d", b"loop"))
        assert e["ref"] == parent["ref"] and e["number"] == parent["number"]
    elif name == "inode-count-lie":
        assert img.sb["inode_count"] == 0xFFFFFFF0


def main():
    ap = argparse.ArgumentParser(description="Write the hostile components of tests/bad/components/README.md.")
    ap.add_argument("outdir")
    ap.add_argument("--key", default=os.path.join(REPO, "build", "keys", "dev.key"),
                    help="minisign secret key to sign with (default: build/keys/dev.key)")
    ap.add_argument("--mkimage", default=os.environ.get("MKIMAGE", os.path.join(REPO, "build", "mkimage")),
                    help="the mkimage binary that signs (default: $MKIMAGE or build/mkimage)")
    ap.add_argument("cases", nargs="*", help="only these cases (default: all)")
    a = ap.parse_args()
    known = [n for n, _ in CASES]
    for c in a.cases:
        if c not in known:
            ap.error("unknown case %r (one of: %s)" % (c, ", ".join(known)))
    if not shutil.which("mksquashfs"):
        sys.exit("make-corpus: mksquashfs not found (apt-get install squashfs-tools)")
    os.makedirs(a.outdir, exist_ok=True)
    old = os.umask(0o022)
    with tempfile.TemporaryDirectory(prefix="make-corpus.") as tmp:
        for name, fn in CASES:
            if a.cases and name not in a.cases:
                continue
            data = fn(tmp, name)
            check(name, data)
            out = os.path.join(a.outdir, name + ".comp")
            with open(out, "wb") as f:
                f.write(data)
            r = subprocess.run([a.mkimage, "sign", out, "--key", a.key],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if r.returncode != 0:
                sys.exit("make-corpus: signing %s: %s" % (out, r.stderr.strip()))
            print("%s (%d bytes) + .minisig" % (out, len(data)))
    os.umask(old)
    if not a.cases or "deep" in a.cases:
        # deep.comp's metadata is compressed: count its levels with unsquashfs.
        r = subprocess.run(["unsquashfs", "-lls", os.path.join(a.outdir, "deep.comp")],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        longest = max(len(l.split()[-1]) for l in r.stdout.splitlines() if l.startswith(b"d"))
        # squashfs-root + 3000 x "/a"
        assert longest == len("squashfs-root") + 2 * DEEP_LEVELS, longest


if __name__ == "__main__":
    main()
