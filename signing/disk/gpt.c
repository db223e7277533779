/* SPDX-License-Identifier: MIT */
/*
 * A strict GPT reader and the pieces of a writer, for the first-boot grow
 * (grow.c). The disk is untrusted until these checks passed; the rules are
 * those of the builder's reader (builder/image/gpt-read.c), written again
 * here because the verifier links only the trust core (signing/).
 */
#include "signing/disk/gpt.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

uint32_t mk_gpt_crc32(const void *data, size_t n)
{
        static uint32_t table[256];
        if (!table[1])
                for (uint32_t i = 0; i < 256; i++) {
                        uint32_t c = i;
                        for (int k = 0; k < 8; k++)
                                c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                        table[i] = c;
                }
        const uint8_t *p = data;
        uint32_t c = 0xFFFFFFFFu;
        while (n--)
                c = table[(c ^ *p++) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
}

bool mk_gpt_guid_is_zero(const uint8_t g[16])
{
        for (int i = 0; i < 16; i++)
                if (g[i])
                        return false;
        return true;
}

static uint32_t header_crc(const struct gpt_header *h)
{
        struct gpt_header c = *h;
        c.header_crc = 0;
        return mk_gpt_crc32(&c, sizeof(c));
}

bool mk_gpt_header_ok(const struct gpt_header *h)
{
        return !memcmp(h->signature, "EFI PART", 8) && le32toh(h->header_size) == GPT_HEADER_SIZE &&
               le32toh(h->header_crc) == header_crc(h);
}

/* [a, a+n) and [b, b+m) share a sector. */
static bool overlap(uint64_t a, uint64_t n, uint64_t b, uint64_t m)
{
        return a < b + m && b < a + n;
}

static int bad(const char **why, const char *rule)
{
        *why = rule;
        return -EINVAL;
}

int mk_gpt_read_table(int fd, uint64_t lba, uint64_t sectors, mk_gpt_table *t, const char **why)
{
        uint8_t sector[GPT_SECTOR];
        memset(t, 0, sizeof(*t));
        if (lba >= sectors || pread(fd, sector, sizeof(sector), (off_t)(lba * GPT_SECTOR)) != (ssize_t)sizeof(sector)) {
                *why = "the header cannot be read";
                return -EIO;
        }
        memcpy(&t->h, sector, sizeof(t->h));
        const struct gpt_header *h = &t->h;
        if (memcmp(h->signature, "EFI PART", 8))
                return bad(why, "no GPT header (signature)");
        /* Only 92-byte headers: the builder writes them, and a longer one would carry unknown fields. */
        if (le32toh(h->revision) != 0x00010000u || le32toh(h->header_size) != GPT_HEADER_SIZE || h->reserved)
                return bad(why, "the header's revision, size or reserved field is not GPT 1.0's");
        if (le32toh(h->header_crc) != header_crc(h))
                return bad(why, "the header's CRC32 does not match");
        uint64_t my = le64toh(h->my_lba), alt = le64toh(h->alternate_lba), first = le64toh(h->first_usable),
                 last = le64toh(h->last_usable), elba = le64toh(h->entries_lba);
        uint32_t n = le32toh(h->n_entries);
        if (my != lba || alt >= sectors || alt == my || alt == 0)
                return bad(why, "the header's own or alternate LBA is wrong");
        if (n == 0 || n > GPT_ENTRIES_MAX || le32toh(h->entry_size) != GPT_ENTRY_SIZE)
                return bad(why, "not 1 to 128 entries of 128 bytes");
        uint64_t esec = ((uint64_t)n * GPT_ENTRY_SIZE + GPT_SECTOR - 1) / GPT_SECTOR;
        if (first < 2 || first > last || last >= sectors - 1 || elba < 2 || elba + esec > sectors - 1)
                return bad(why, "the usable area or the entry array lies outside the disk");
        if (overlap(elba, esec, first, last - first + 1) || overlap(my, 1, first, last - first + 1) ||
            overlap(alt, 1, first, last - first + 1) || overlap(elba, esec, my, 1) || overlap(elba, esec, alt, 1))
                return bad(why, "the entry array or a header overlaps the usable area or the other");
        t->n = n;
        size_t len = (size_t)n * GPT_ENTRY_SIZE;
        if (pread(fd, t->e, len, (off_t)(elba * GPT_SECTOR)) != (ssize_t)len) {
                *why = "the entry array cannot be read";
                return -EIO;
        }
        if (mk_gpt_crc32(t->e, len) != le32toh(h->entries_crc))
                return bad(why, "the entry array's CRC32 does not match");
        for (uint32_t i = 0; i < n; i++) {
                const struct gpt_entry *e = &t->e[i];
                if (mk_gpt_guid_is_zero(e->type))
                        continue;
                uint64_t s = le64toh(e->first_lba), l = le64toh(e->last_lba);
                if (s < first || s > l || l > last)
                        return bad(why, "a partition lies outside the usable area");
                for (uint32_t j = 0; j < i; j++)
                        if (!mk_gpt_guid_is_zero(t->e[j].type) &&
                            overlap(s, l - s + 1, le64toh(t->e[j].first_lba),
                                    le64toh(t->e[j].last_lba) - le64toh(t->e[j].first_lba) + 1))
                                return bad(why, "two partitions overlap");
        }
        return 0;
}

void mk_gpt_place(const mk_gpt_table *t, uint64_t lba, uint64_t entries_lba, uint64_t alt, mk_gpt_table *b)
{
        if (b != t)
                *b = *t;
        b->h.my_lba = htole64(lba);
        b->h.alternate_lba = htole64(alt);
        b->h.entries_lba = htole64(entries_lba);
        b->h.entries_crc = htole32(mk_gpt_crc32(b->e, (size_t)b->n * GPT_ENTRY_SIZE));
        b->h.header_crc = htole32(header_crc(&b->h));
}

bool mk_gpt_same(const mk_gpt_table *a, const mk_gpt_table *b)
{
        return a->n == b->n && !memcmp(a->h.disk_guid, b->h.disk_guid, 16) && a->h.first_usable == b->h.first_usable &&
               a->h.last_usable == b->h.last_usable && a->h.entries_crc == b->h.entries_crc &&
               !memcmp(a->e, b->e, (size_t)a->n * GPT_ENTRY_SIZE);
}

void mk_gpt_guid_text(const uint8_t g[16], char out[37])
{
        snprintf(out, 37, "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X", g[3], g[2], g[1],
                 g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]);
}

static int hexval(char c)
{
        return c >= '0' && c <= '9'   ? c - '0'
               : c >= 'a' && c <= 'f' ? c - 'a' + 10
               : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                      : -1;
}

bool mk_gpt_guid_parse(const char *s, uint8_t out[16])
{
        /* text byte order -> on-disk index: the first three fields are little-endian */
        static const uint8_t at[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
        uint8_t g[16];
        size_t k = 0;
        for (size_t i = 0; i < 36; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (s[i] != '-')
                                return false;
                        continue;
                }
                int hi = hexval(s[i]), lo = hi < 0 ? -1 : hexval(s[i + 1]);
                if (lo < 0)
                        return false;
                g[at[k++]] = (uint8_t)(hi << 4 | lo);
                i++;
        }
        if (s[36])
                return false;
        memcpy(out, g, 16);
        return true;
}

/* The partition's name (UTF-16LE) as ASCII, other characters as '?'. */
void mk_gpt_entry_name(const struct gpt_entry *e, char out[37])
{
        size_t i = 0;
        for (; i < 36 && e->name[i]; i++) {
                uint16_t c = le16toh(e->name[i]);
                out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
        }
        out[i] = '\0';
}

int mk_gpt_write_at(int fd, const void *buf, size_t len, uint64_t lba)
{
        if (pwrite(fd, buf, len, (off_t)(lba * GPT_SECTOR)) != (ssize_t)len)
                return errno ? -errno : -EIO;
        return 0;
}

/* Entries, flush, header sector, flush: the header never points at entries not yet on the disk. */
int mk_gpt_write_table(int fd, const mk_gpt_table *t)
{
        uint8_t sector[GPT_SECTOR] = {0};
        memcpy(sector, &t->h, sizeof(t->h));
        int r;
        if ((r = mk_gpt_write_at(fd, t->e, (size_t)t->n * GPT_ENTRY_SIZE, le64toh(t->h.entries_lba))) < 0 ||
            fdatasync(fd) < 0 || (r = mk_gpt_write_at(fd, sector, sizeof(sector), le64toh(t->h.my_lba))) < 0 ||
            fdatasync(fd) < 0)
                return r < 0 ? r : -errno;
        return 0;
}
