#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the tar archives of tests/cases/component.sh, byte for byte the same
every time (fixed times, owners and contents), without needing root: device
nodes, setuid bits and odd names are only header fields.

    mktar.py OUT.tar KIND      KIND: good dotdot abs device escape setuid
                                     nonutf8 newline reserved
"""
import io
import sys
import tarfile

MTIME = 1700000000


def pattern(n, seed):
    return bytes(((i // 7 + seed) * 2654435761 >> 13) & 0xFF for i in range(n))


def add(tar, name, kind=tarfile.REGTYPE, data=b"", mode=0o644, uid=0, gid=0, **kw):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.mode = mode
    ti.uid, ti.gid = uid, gid
    ti.uname = ti.gname = ""
    ti.mtime = MTIME
    for k, v in kw.items():
        setattr(ti, k, v)
    if kind == tarfile.REGTYPE:
        ti.size = len(data)
        tar.addfile(ti, io.BytesIO(data))
    else:
        tar.addfile(ti)


def good(tar):
    add(tar, "./", tarfile.DIRTYPE, mode=0o755)
    add(tar, "./etc/", tarfile.DIRTYPE, mode=0o755)
    add(tar, "./etc/app.conf", data=b"greeting = hello\n", mode=0o640, uid=0, gid=1000,
        pax_headers={"SCHILY.xattr.user.comment": "configured"})
    add(tar, "./home/user/", tarfile.DIRTYPE, mode=0o750, uid=1000, gid=1000)
    add(tar, "./home/user/notes.txt", data=b"caf\xc3\xa9\n", mode=0o600, uid=1000, gid=1000)
    add(tar, "./usr/bin/", tarfile.DIRTYPE, mode=0o755)
    add(tar, "./usr/bin/tool", data=pattern(300000, 3), mode=0o755)
    add(tar, "./usr/bin/tool-alias", tarfile.LNKTYPE, linkname="./usr/bin/tool")
    add(tar, "./usr/bin/sh", tarfile.SYMTYPE, linkname="tool", mode=0o777)
    add(tar, "./usr/share/empty", data=b"")
    add(tar, "./run/fifo", tarfile.FIFOTYPE, mode=0o600)
    add(tar, "./var/tmp/", tarfile.DIRTYPE, mode=0o1777)
    # The parent of this one comes later: the directory takes its attributes then.
    add(tar, "./opt/app/data.bin", data=pattern(5000, 9), mode=0o644, uid=42, gid=42)
    add(tar, "./opt/", tarfile.DIRTYPE, mode=0o700)


BAD = {
    "dotdot": lambda t: add(t, "../x", data=b"x"),
    "abs": lambda t: add(t, "/abs", data=b"x"),
    "device": lambda t: add(t, "dev/null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3),
    "escape": lambda t: (add(t, "link", tarfile.SYMTYPE, linkname="/etc", mode=0o777),
                         add(t, "link/passwd", data=b"root::0:0::/:/bin/sh\n")),
    "setuid": lambda t: add(t, "bin/su", data=b"x", mode=0o4755),
    "nonutf8": lambda t: add(t, b"bad\xff".decode("utf-8", "surrogateescape"), data=b"x"),
    "newline": lambda t: add(t, "a\nb", data=b"x"),
    "reserved": lambda t: add(t, "meta/notes.txt", data=b"x"),
}


def main():
    out, kind = sys.argv[1], sys.argv[2]
    fmt = tarfile.GNU_FORMAT if kind in ("nonutf8", "device") else tarfile.PAX_FORMAT
    with tarfile.open(out, "w", format=fmt, encoding="utf-8", errors="surrogateescape") as tar:
        (good if kind == "good" else BAD[kind])(tar)


main()
