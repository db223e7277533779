/* SPDX-License-Identifier: MIT */
/*
 * The GPT as the verifier reads and rewrites it (UEFI specification, "GUID
 * Partition Table"). All fields are little endian on disk and stay so in
 * these structs: read them with le32toh/le64toh. Layout (LBA = 512 bytes,
 * N = the disk's sector count):
 *
 *   LBA 0        protective MBR (one 0xEE entry from LBA 1, 0x55 0xAA at 510)
 *   LBA 1        primary header, my_lba 1, alternate_lba N-1
 *   LBA 2..33    primary entries (128 x 128 bytes)
 *   ...          partitions, between first_usable and last_usable
 *   LBA N-33     backup entries
 *   LBA N-1      backup header, my_lba N-1, alternate_lba 1
 */
#ifndef MK_DISK_GPT_H
#define MK_DISK_GPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GPT_SECTOR 512u
#define GPT_ENTRIES_MAX 128u
#define GPT_ENTRY_SIZE 128u
#define GPT_ENTRY_SECTORS (GPT_ENTRIES_MAX * GPT_ENTRY_SIZE / GPT_SECTOR) /* 32 */
#define GPT_HEADER_SIZE 92u
/* Discoverable Partitions Specification: grow the file system to the partition. */
#define GPT_ATTR_GROW_FS (1ull << 59)

struct gpt_header {
        char signature[8]; /* "EFI PART" */
        uint32_t revision, header_size, header_crc, reserved;
        uint64_t my_lba, alternate_lba, first_usable, last_usable;
        uint8_t disk_guid[16];
        uint64_t entries_lba;
        uint32_t n_entries, entry_size, entries_crc;
} __attribute__((packed));
_Static_assert(sizeof(struct gpt_header) == GPT_HEADER_SIZE, "GPT header is 92 bytes");

struct gpt_entry {
        uint8_t type[16], uuid[16];
        uint64_t first_lba, last_lba, attrs; /* last_lba inclusive */
        uint16_t name[36];                   /* UTF-16LE */
} __attribute__((packed));
_Static_assert(sizeof(struct gpt_entry) == GPT_ENTRY_SIZE, "GPT entry is 128 bytes");

/* One header with its entry array, as read from (or to be written to) a disk. */
typedef struct mk_gpt_table {
        struct gpt_header h;
        uint32_t n; /* entries in use of e[] = le32toh(h.n_entries) */
        struct gpt_entry e[GPT_ENTRIES_MAX];
} mk_gpt_table;

uint32_t mk_gpt_crc32(const void *p, size_t n);

/* True when the 16 bytes are all zero (an unused entry's type). */
bool mk_gpt_guid_is_zero(const uint8_t g[16]);

/*
 * Read the header at lba of the disk fd (sectors long) and its entries, and
 * check them strictly: signature, revision 1.0, header size and CRC, my_lba,
 * a usable area inside the disk that the entries and both headers stay out
 * of, at most 128 entries of 128 bytes, the entries' CRC, every partition
 * inside the usable area and none overlapping another. Returns 0, or -EINVAL
 * (-EIO when unreadable) with *why naming the first failed rule (a static
 * string); *ret is then partly filled (for mk_gpt_header_ok's caller).
 */
int mk_gpt_read_table(int fd, uint64_t lba, uint64_t sectors, mk_gpt_table *ret, const char **why)
        __attribute__((warn_unused_result));

/* The header's own CRC is right (the entries unchecked). */
bool mk_gpt_header_ok(const struct gpt_header *h);

/*
 * The table as the other copy: b holds t's entries and usable area, with the
 * header at lba, its entries at entries_lba, alternate_lba alt; both CRCs
 * recomputed.
 */
void mk_gpt_place(const mk_gpt_table *t, uint64_t lba, uint64_t entries_lba, uint64_t alt, mk_gpt_table *b);

/* The two tables describe the same disk: GUID, usable area, entries (locations aside). */
bool mk_gpt_same(const mk_gpt_table *a, const mk_gpt_table *b);

/* A GPT GUID (its first three fields little-endian on disk) as upper-case text. */
void mk_gpt_guid_text(const uint8_t g[16], char out[37]);
/* The text form (either case) back into the on-disk bytes; false when s is not 8-4-4-4-12 hex digits. */
bool mk_gpt_guid_parse(const char *s, uint8_t out[16]);
/* The partition's name (UTF-16LE) as ASCII, other characters as '?'. */
void mk_gpt_entry_name(const struct gpt_entry *e, char out[37]);

/* pwrite len bytes at sector lba: 0 or -errno. */
int mk_gpt_write_at(int fd, const void *buf, size_t len, uint64_t lba) __attribute__((warn_unused_result));
/*
 * Write one copy of the table where its header says: the entries, flush,
 * the header's sector, flush, so that the header never points at entries
 * not yet on the disk. 0 or -errno.
 */
int mk_gpt_write_table(int fd, const mk_gpt_table *t) __attribute__((warn_unused_result));

#endif
