#!/usr/bin/env python3
# craft-gpt.py IMAGE CASE: damage the GPT of IMAGE (a copy; changed in place)
# the way CASE says, re-sealing every CRC32 the damage would otherwise break,
# so that only the property CASE names is wrong. The cases and the refusal
# each must get are in tests/bad/README.md ("Hostile disk images").
import struct
import sys
import zlib

SECTOR = 512


def crc(b):
    return zlib.crc32(b) & 0xFFFFFFFF


class Gpt:
    def __init__(self, f):
        self.f = f
        f.seek(0, 2)
        self.last = f.tell() // SECTOR - 1

    def read(self, lba, n=1):
        self.f.seek(lba * SECTOR)
        return bytearray(self.f.read(n * SECTOR))

    def write(self, lba, data):
        self.f.seek(lba * SECTOR)
        self.f.write(data)

    def header(self, lba):
        return self.read(lba)

    @staticmethod
    def fields(h):
        (my, alt, first, last, guid, ent_lba, n, size, ent_crc) = struct.unpack_from("<QQQQ16sQIII", h, 24)
        return dict(my=my, alt=alt, first=first, last=last, guid=guid, ent_lba=ent_lba, n=n, size=size, ent_crc=ent_crc)

    def entries(self, h):
        f = self.fields(h)
        nsec = (f["n"] * f["size"] + SECTOR - 1) // SECTOR
        return self.read(f["ent_lba"], nsec)[: f["n"] * f["size"]]

    @staticmethod
    def seal(h, ents):
        """Set the entry CRC and the header CRC of header h for entries ents."""
        struct.pack_into("<I", h, 88, crc(bytes(ents)))
        size = struct.unpack_from("<I", h, 12)[0]
        struct.pack_into("<I", h, 16, 0)
        struct.pack_into("<I", h, 16, crc(bytes(h[:size])))

    def store(self, lba, h, ents):
        self.seal(h, ents)
        self.write(lba, h)
        self.write(self.fields(h)["ent_lba"], ents)


def entry(ents, i, size=128):
    return ents[i * size : (i + 1) * size]


def set_first_last(ents, i, first, last):
    struct.pack_into("<QQ", ents, i * 128 + 32, first, last)


def main():
    path, case = sys.argv[1], sys.argv[2]
    with open(path, "r+b") as f:
        g = Gpt(f)
        p, b = g.header(1), g.header(g.last)
        pe, be = g.entries(p), g.entries(b)
        if case == "header-crc":
            p[40] ^= 1  # first usable LBA, CRC left as it was
            g.write(1, p)
        elif case == "entries-crc":
            pe[56] ^= 1  # a name byte of partition 1, CRC left as it was
            g.write(Gpt.fields(p)["ent_lba"], pe)
        elif case == "entry-size":
            # 256-byte entries: the same 128 entries' bytes read as 64 of twice the size
            for h, lba, e in ((p, 1, pe), (b, g.last, be)):
                struct.pack_into("<II", h, 80, 64, 256)
                g.store(lba, h, e)
        elif case == "no-mbr":
            m = g.read(0)
            m[510] = 0
            g.write(0, m)
        elif case == "overlap":
            # partition 3 starts inside partition 2
            f2 = struct.unpack_from("<QQ", pe, 128 + 32)
            f3 = struct.unpack_from("<QQ", pe, 256 + 32)
            for e in (pe, be):
                set_first_last(e, 2, f2[1] - 7, f3[1])
            g.store(1, p, pe)
            g.store(g.last, b, be)
        elif case == "past-end":
            # the last partition claims to reach past the disk
            n = sum(1 for i in range(128) if any(entry(pe, i)[:16]))
            first = struct.unpack_from("<Q", pe, (n - 1) * 128 + 32)[0]
            for e in (pe, be):
                set_first_last(e, n - 1, first, g.last + 2048)
            g.store(1, p, pe)
            g.store(g.last, b, be)
        elif case == "backup-differs":
            # the backup's copy of partition 1's name differs; both copies sealed
            be[56] ^= 0x20
            g.store(g.last, b, be)
        elif case == "backup-missing":
            g.write(g.last, bytes(SECTOR))
        elif case == "many-partitions":
            # 200 one-sector partitions in a 256-entry array (and its backup)
            n = 256
            nsec = n * 128 // SECTOR
            ents = bytearray(n * 128)
            src = entry(pe, 0)
            for i in range(200):
                e = bytearray(src)
                e[16:32] = struct.pack("<QQ", 0x1000 + i, 0x2000 + i)
                struct.pack_into("<QQ", e, 32, 2048 + i, 2048 + i)
                ents[i * 128 : (i + 1) * 128] = e
            bl = g.last - nsec
            for h, lba, ent_lba in ((p, 1, 2), (b, g.last, bl)):
                struct.pack_into("<QQ", h, 40, 2 + nsec, bl - 1)
                struct.pack_into("<Q", h, 72, ent_lba)
                struct.pack_into("<I", h, 80, n)
                g.store(lba, h, ents)
        elif case == "ends-before-start":
            f2 = struct.unpack_from("<QQ", pe, 128 + 32)
            for e in (pe, be):
                set_first_last(e, 1, f2[1], f2[0])
            g.store(1, p, pe)
            g.store(g.last, b, be)
        else:
            sys.exit(f"craft-gpt.py: unknown case {case}")


main()
