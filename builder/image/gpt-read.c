/* SPDX-License-Identifier: MIT */
/*
 * Reading a partition table back, for `inspect`, `verify` and the factory.
 * The disk is untrusted: this is our own parser (not libfdisk, which repairs
 * and guesses), reading a bounded number of bytes, checking every length and
 * offset before it is used, and judging the whole table: the protective MBR,
 * both headers and their CRCs, the entry arrays, every partition's range,
 * overlaps, and the backup against the primary. Layout (UEFI, all fields
 * little endian; LBA = 512 bytes):
 *
 *   LBA 0      protective MBR (type 0xEE entry, 0x55 0xAA at byte 510)
 *   LBA 1      header: "EFI PART", revision, header size, header CRC32,
 *              reserved, my LBA, alternate LBA, first and last usable LBA,
 *              disk GUID, entry array LBA, entry count, entry size, entry CRC32
 *   LBA 2..33  entries (128 bytes: type GUID, unique GUID, first LBA, last
 *              LBA inclusive, attributes, name in 36 UTF-16LE code units)
 *   ...        partitions
 *   LBA N-33   backup entries, LBA N-1 backup header (my/alternate swapped)
 */
#include "builder/image/gpt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "signing/base/macro.h"
#include "builder/model/layout.h"
#include "signing/disk/gpt.h"

#define HDR_MIN 92u
#define ENTRY_SIZE 128u

static uint32_t le32(const uint8_t *p)
{
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
        return le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* The mixed-endian GUID at p as upper-case text, as GPT tools print it. */
static void guid_text(const uint8_t *p, char out[37])
{
        snprintf(out, 37, "%08" PRIX32 "-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X", le32(p),
                 (unsigned)(p[4] | p[5] << 8), (unsigned)(p[6] | p[7] << 8), p[8], p[9], p[10], p[11], p[12], p[13],
                 p[14], p[15]);
}

static bool guid_is_zero(const uint8_t *p)
{
        for (int i = 0; i < 16; i++)
                if (p[i])
                        return false;
        return true;
}

/* The 36 UTF-16LE code units at p as UTF-8 (up to the first NUL); bad surrogates become U+FFFD. */
static void name_text(const uint8_t *p, char out[MK_GPT_NAME_BYTES + 1])
{
        size_t o = 0;
        for (unsigned i = 0; i < MK_GPT_NAME_MAX; i++) {
                uint32_t c = (uint32_t)(p[2 * i] | p[2 * i + 1] << 8);
                if (!c)
                        break;
                if (c >= 0xD800 && c <= 0xDBFF && i + 1 < MK_GPT_NAME_MAX) {
                        uint32_t lo = (uint32_t)(p[2 * i + 2] | p[2 * i + 3] << 8);
                        if (lo >= 0xDC00 && lo <= 0xDFFF) {
                                c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
                                i++;
                        } else
                                c = 0xFFFD;
                } else if (c >= 0xD800 && c <= 0xDFFF)
                        c = 0xFFFD;
                if (c < 0x80)
                        out[o++] = (char)c;
                else if (c < 0x800) {
                        out[o++] = (char)(0xC0 | c >> 6);
                        out[o++] = (char)(0x80 | (c & 0x3F));
                } else if (c < 0x10000) {
                        out[o++] = (char)(0xE0 | c >> 12);
                        out[o++] = (char)(0x80 | ((c >> 6) & 0x3F));
                        out[o++] = (char)(0x80 | (c & 0x3F));
                } else {
                        out[o++] = (char)(0xF0 | c >> 18);
                        out[o++] = (char)(0x80 | ((c >> 12) & 0x3F));
                        out[o++] = (char)(0x80 | ((c >> 6) & 0x3F));
                        out[o++] = (char)(0x80 | (c & 0x3F));
                }
        }
        out[o] = '\0';
}

static int read_exact(int fd, const char *name, uint64_t off, void *buf, size_t len, mk_error *err)
{
        for (size_t got = 0; got < len;) {
                ssize_t k = pread(fd, (uint8_t *)buf + got, len - got, (off_t)(off + got));
                if (k < 0)
                        return mk_error_set(err, errno, "%s: reading the partition table at byte %" PRIu64 ": %s", name,
                                            off + got, strerror(errno));
                if (k == 0)
                        return mk_error_set(err, EIO,
                                            "%s: the image ends at byte %" PRIu64
                                            " inside its partition table (the file is truncated)",
                                            name, off + got);
                got += (size_t)k;
        }
        return 0;
}

/* One header as read: the fields the reader uses, host order. */
typedef struct hdr_read {
        uint64_t my_lba, alt_lba, first_usable, last_usable, entries_lba;
        uint32_t n_entries, entry_size, entries_crc;
        uint8_t disk_guid[16];
} hdr_read;

/*
 * Check the header in sector at lba ("primary"/"backup" in messages).
 * Returns 0, -ENOENT when there is no signature, or -EINVAL with err set.
 */
static int parse_header(const char *name, const char *which, uint64_t lba, const uint8_t sec[MK_SECTOR], hdr_read *h,
                        mk_error *err)
{
        if (memcmp(sec, "EFI PART", 8))
                return -ENOENT;
        uint32_t size = le32(sec + 12);
        if (size < HDR_MIN || size > MK_SECTOR)
                return mk_error_set(err, EINVAL,
                                    "%s: the %s GPT header (LBA %" PRIu64 ") claims %" PRIu32
                                    " bytes, outside 92..512 (the table is damaged: rebuild the image)",
                                    name, which, lba, size);
        uint8_t copy[MK_SECTOR];
        memcpy(copy, sec, size);
        memset(copy + 16, 0, 4);
        if (mk_gpt_crc32(copy, size) != le32(sec + 16))
                return mk_error_set(err, EINVAL,
                                    "%s: the %s GPT header (LBA %" PRIu64 ") fails its CRC32 check "
                                    "(it was changed or damaged: rebuild the image)",
                                    name, which, lba);
        h->my_lba = le64(sec + 24);
        h->alt_lba = le64(sec + 32);
        h->first_usable = le64(sec + 40);
        h->last_usable = le64(sec + 48);
        memcpy(h->disk_guid, sec + 56, 16);
        h->entries_lba = le64(sec + 72);
        h->n_entries = le32(sec + 80);
        h->entry_size = le32(sec + 84);
        h->entries_crc = le32(sec + 88);
        if (h->my_lba != lba)
                return mk_error_set(err, EINVAL,
                                    "%s: the %s GPT header at LBA %" PRIu64 " says it is at LBA %" PRIu64
                                    " (the table is damaged: rebuild the image)",
                                    name, which, lba, h->my_lba);
        if (h->entry_size != ENTRY_SIZE)
                return mk_error_set(err, EINVAL,
                                    "%s: the %s GPT has %" PRIu32 "-byte partition entries; mkimage "
                                    "reads only 128-byte entries, the size GPT tools write (rebuild the image)",
                                    name, which, h->entry_size);
        if (h->n_entries == 0 || h->n_entries > MK_GPT_ENTRIES_MAX)
                return mk_error_set(err, EINVAL,
                                    "%s: the %s GPT claims %" PRIu32 " partition entries; mkimage reads "
                                    "1 to %u (rebuild the image)",
                                    name, which, h->n_entries, MK_GPT_ENTRIES_MAX);
        return 0;
}

/* Read and check the entry array of h; *ret is n_entries * 128 bytes (malloc'd). */
static int read_entries(int fd, const char *name, const char *which, uint64_t sectors, const hdr_read *h, uint8_t **ret,
                        mk_error *err)
{
        size_t len = (size_t)h->n_entries * ENTRY_SIZE;
        uint64_t n_sec = (len + MK_SECTOR - 1) / MK_SECTOR;
        if (h->entries_lba < 2 || h->entries_lba > sectors || n_sec > sectors - h->entries_lba)
                return mk_error_set(err, EINVAL,
                                    "%s: the %s GPT's partition entries (LBA %" PRIu64 ", %" PRIu64
                                    " sectors) lie outside the disk (%" PRIu64 " sectors; rebuild the image)",
                                    name, which, h->entries_lba, n_sec, sectors);
        _cleanup_free_ uint8_t *buf = malloc(len);
        if (!buf)
                return mk_error_set(err, ENOMEM, "out of memory");
        int r = read_exact(fd, name, h->entries_lba * MK_SECTOR, buf, len, err);
        if (r < 0)
                return r;
        if (mk_gpt_crc32(buf, len) != h->entries_crc)
                return mk_error_set(err, EINVAL,
                                    "%s: the %s GPT's partition entries fail their CRC32 check (they "
                                    "were changed or damaged: rebuild the image)",
                                    name, which);
        *ret = TAKE_PTR(buf);
        return 0;
}

static int check_mbr(const char *name, const uint8_t mbr[MK_SECTOR], mk_error *err)
{
        bool ee = false;
        for (int i = 0; i < 4; i++)
                ee |= mbr[446 + 16 * i + 4] == 0xEE;
        if (mbr[510] != 0x55 || mbr[511] != 0xAA || !ee)
                return mk_error_set(err, EINVAL,
                                    "%s: sector 0 is not a protective MBR (it needs the 0x55 0xAA "
                                    "signature and a 0xEE partition, or firmware and tools ignore the GPT: rebuild "
                                    "the image)",
                                    name);
        return 0;
}

/* Header fields that must agree between primary and backup. */
static const char *disagreement(const hdr_read *p, const hdr_read *b, uint64_t last_lba)
{
        if (p->alt_lba != b->my_lba || b->alt_lba != 1)
                return "they do not point at each other";
        if (memcmp(p->disk_guid, b->disk_guid, 16))
                return "the disk GUIDs differ";
        if (p->first_usable != b->first_usable || p->last_usable != b->last_usable)
                return "the usable areas differ";
        if (p->n_entries != b->n_entries || p->entries_crc != b->entries_crc)
                return "the partition entries differ";
        if (b->entries_lba <= p->last_usable || b->entries_lba >= last_lba)
                return "the backup entries overlap the partitions";
        return NULL;
}

static int parse_parts(const char *name, const hdr_read *h, const uint8_t *ent, uint64_t sectors, mk_gpt *g,
                       mk_error *err)
{
        uint64_t first_ok = h->entries_lba + ((uint64_t)h->n_entries * ENTRY_SIZE + MK_SECTOR - 1) / MK_SECTOR;
        if (h->first_usable < first_ok || h->first_usable > h->last_usable || h->last_usable >= h->alt_lba ||
            h->last_usable >= sectors)
                return mk_error_set(err, EINVAL,
                                    "%s: the GPT's usable area (LBA %" PRIu64 " to %" PRIu64
                                    ") does not fit between its own tables on a disk of %" PRIu64
                                    " sectors (rebuild the image)",
                                    name, h->first_usable, h->last_usable, sectors);
        for (uint32_t i = 0; i < h->n_entries; i++) {
                const uint8_t *e = ent + (size_t)i * ENTRY_SIZE;
                if (guid_is_zero(e))
                        continue;
                if (g->n_parts == MK_GPT_PARTS_MAX)
                        return mk_error_set(err, EINVAL,
                                            "%s: the GPT holds more than %u partitions, the most "
                                            "mkimage reads (rebuild the image)",
                                            name, MK_GPT_PARTS_MAX);
                mk_gpt_part *p = &g->parts[g->n_parts];
                p->number = i + 1;
                name_text(e + 56, p->name);
                uint64_t first = le64(e + 32), last = le64(e + 40);
                if (last < first)
                        return mk_error_set(err, EINVAL,
                                            "%s: partition %u '%s' ends (LBA %" PRIu64
                                            ") before it starts (LBA %" PRIu64 ") (rebuild the image)",
                                            name, p->number, p->name, last, first);
                if (last >= sectors)
                        return mk_error_set(err, EINVAL,
                                            "%s: partition %u '%s' ends at byte %" PRIu64
                                            ", past the end of the disk (%" PRIu64
                                            " bytes): the image is truncated or the table is wrong",
                                            name, p->number, p->name, (last + 1) * MK_SECTOR, sectors * MK_SECTOR);
                if (first < h->first_usable || last > h->last_usable)
                        return mk_error_set(err, EINVAL,
                                            "%s: partition %u '%s' (LBA %" PRIu64 " to %" PRIu64
                                            ") lies outside the GPT's usable area (LBA %" PRIu64 " to %" PRIu64
                                            ") (rebuild the image)",
                                            name, p->number, p->name, first, last, h->first_usable, h->last_usable);
                p->start = first * MK_SECTOR;
                p->size = (last - first + 1) * MK_SECTOR;
                guid_text(e + 16, p->uuid);
                guid_text(e, p->type_guid);
                p->attrs = le64(e + 48);
                for (unsigned k = 0; k < g->n_parts; k++) {
                        const mk_gpt_part *o2 = &g->parts[k];
                        if (p->start < o2->start + o2->size && o2->start < p->start + p->size)
                                return mk_error_set(err, EINVAL,
                                                    "%s: partitions %u '%s' and %u '%s' overlap (bytes %" PRIu64
                                                    " to %" PRIu64 " are in both; rebuild the image)",
                                                    name, o2->number, o2->name, p->number, p->name,
                                                    p->start > o2->start ? p->start : o2->start,
                                                    (p->start + p->size < o2->start + o2->size ? p->start + p->size
                                                                                               : o2->start + o2->size) -
                                                            1);
                }
                g->n_parts++;
        }
        return 0;
}

static int disk_bytes(int fd, const char *name, uint64_t *ret, mk_error *err)
{
        struct stat st;
        if (fstat(fd, &st) < 0)
                return mk_error_set(err, errno, "%s: %s", name, strerror(errno));
        if (S_ISBLK(st.st_mode)) {
                if (ioctl(fd, BLKGETSIZE64, ret) < 0)
                        return mk_error_set(err, errno, "%s: cannot read the device's size: %s", name, strerror(errno));
                return 0;
        }
        if (!S_ISREG(st.st_mode))
                return mk_error_set(err, EINVAL, "%s: not a disk image file", name);
        *ret = (uint64_t)st.st_size;
        return 0;
}

int mk_gpt_read_fd(int fd, const char *name, mk_gpt **ret, mk_error *err)
{
        uint64_t bytes;
        int r = disk_bytes(fd, name, &bytes, err);
        if (r < 0)
                return r;
        if (bytes < 68 * MK_SECTOR)
                return mk_error_set(err, EINVAL,
                                    "%s: %" PRIu64 " bytes is too small to hold a GPT (is this a disk "
                                    "image?)",
                                    name, bytes);
        uint64_t sectors = bytes / MK_SECTOR, last = sectors - 1;
        uint8_t sec[2][MK_SECTOR], bsec[MK_SECTOR];
        if ((r = read_exact(fd, name, 0, sec, sizeof(sec), err)) < 0 ||
            (r = read_exact(fd, name, last * MK_SECTOR, bsec, sizeof(bsec), err)) < 0)
                return r;
        hdr_read h = {0}, b = {0};
        mk_error pe = {0};
        int pr = parse_header(name, "primary", 1, sec[1], &h, &pe);
        if (pr == -ENOENT) {
                int br = parse_header(name, "backup", last, bsec, &b, &pe);
                if (br == -ENOENT)
                        return mk_error_set(err, EINVAL,
                                            "%s: no GPT partition table found (is this a disk image made by mkimage?)",
                                            name);
                return mk_error_set(err, EINVAL, "%s: the primary GPT header (LBA 1) is missing%s (rebuild the image)",
                                    name, br == 0 ? "; a backup GPT is at the end of the disk" : "");
        }
        if (pr < 0) {
                *err = pe;
                return pr;
        }
        if ((r = check_mbr(name, sec[0], err)) < 0)
                return r;
        if (h.alt_lba != last)
                return mk_error_set(err, EINVAL,
                                    "%s: the backup GPT header should be in the last sector (LBA %" PRIu64
                                    "), the primary says LBA %" PRIu64
                                    " (the image was cut or written into a different size: rebuild it)",
                                    name, last, h.alt_lba);
        _cleanup_free_ uint8_t *ent = NULL, *bent = NULL;
        if ((r = read_entries(fd, name, "primary", sectors, &h, &ent, err)) < 0)
                return r;
        if ((r = parse_header(name, "backup", last, bsec, &b, err)) == -ENOENT)
                return mk_error_set(err, EINVAL,
                                    "%s: the backup GPT header (LBA %" PRIu64 ") is missing "
                                    "(the table is damaged: rebuild the image)",
                                    name, last);
        if (r < 0)
                return r;
        const char *why = disagreement(&h, &b, last);
        if (!why && (r = read_entries(fd, name, "backup", sectors, &b, &bent, err)) < 0)
                return r;
        if (!why && memcmp(ent, bent, (size_t)h.n_entries * ENTRY_SIZE))
                why = "the partition entries differ";
        if (why)
                return mk_error_set(err, EINVAL,
                                    "%s: the backup GPT (LBA %" PRIu64 ") disagrees with the primary: %s "
                                    "(one of them was changed: rebuild the image)",
                                    name, last, why);
        _cleanup_free_ mk_gpt *g = calloc(1, sizeof(*g));
        if (!g)
                return mk_error_set(err, ENOMEM, "out of memory");
        g->disk_size = sectors * MK_SECTOR;
        guid_text(h.disk_guid, g->disk_uuid);
        if ((r = parse_parts(name, &h, ent, sectors, g, err)) < 0)
                return r;
        *ret = TAKE_PTR(g);
        return 0;
}

int mk_gpt_read_named(const char *path, const char *name, mk_gpt **ret, mk_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return mk_error_set(err, errno, "%s: %s", name, strerror(errno));
        return mk_gpt_read_fd(fd, name, ret, err);
}

int mk_gpt_read(const char *path, mk_gpt **ret, mk_error *err)
{
        return mk_gpt_read_named(path, path, ret, err);
}
