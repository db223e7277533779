/* SPDX-License-Identifier: MIT */
/*
 * Growing on first boot (docs/layout.md, "Growing on first boot"): on a disk
 * larger than the image, move the backup GPT to the disk's end, extend the
 * last partition when it carries the grow-fs flag (GPT attribute bit 59),
 * and later grow its ext4 online. LUKS2's data segment is "whole device",
 * so cryptsetup maps the grown partition without a header change.
 *
 * Crash safety rests on the order of the writes, each group flushed before
 * the next starts, and on every step being recomputed from the disk at each
 * boot (a boot after a power cut resumes):
 *   1. the new backup (entries, flush, header, flush) at the disk's end,
 *      already holding the grown entry; the primary and the old backup are
 *      untouched, so a cut here leaves the old, consistent GPT;
 *   2. the protective MBR's size, the primary entries, flush, the primary
 *      header (one sector: atomic), flush. A cut between entries and header
 *      leaves a primary whose entries fail their CRC; the backup at the end
 *      is then complete: UEFI firmware restores the primary from it, and so
 *      does repair_primary() below when the firmware did not;
 *   3. the kernel told the partition's new size (BLKPG), before anything on
 *      the disk is mounted;
 *   4. (grow_fs) after the data file system is mounted: EXT4_IOC_RESIZE_FS,
 *      which the kernel journals group by group.
 * The old backup, now inside the grown partition, is left as it is: nothing
 * reads a GPT there (readers go to LBA 1, the primary's alternate LBA and the
 * disk's last LBA), and zeroing it after the partition was extended could
 * overwrite file system blocks on a resumed boot.
 */
#include "qemu-boot/verifier/boot.h"

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/blkpg.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "signing/base/macro.h"

#define ALIGN_SECTORS 2048u /* partitions end on 1 MiB, as the layouts place them */
#define MIB (1024u * 1024u)
/* linux/ext4.h is not part of the kernel's UAPI headers; the number is stable ABI. */
#define EXT4_IOC_RESIZE_FS _IOW('f', 16, uint64_t)
#define HOLD_PATH "/sys/firmware/qemu_fw_cfg/by_name/opt/mkimage/grow-hold/raw"

/*
 * A test hook, harmless by construction: when the platform hands over
 * fw_cfg opt/mkimage/grow-hold (QEMU only), wait that many seconds (at most
 * 10) after each step's line, so that a harness can cut the power between
 * two steps (tests/cases/qemu-grow.sh). It only ever delays a boot.
 */
static void hold(void)
{
        char buf[8] = "";
        _cleanup_close_ int fd = open(HOLD_PATH, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || read(fd, buf, sizeof(buf) - 1) <= 0)
                return;
        unsigned s = (unsigned)strtoul(buf, NULL, 10);
        sleep(s > 10 ? 10 : s);
}

/*
 * The protective MBR (LBA 0) with its 0xEE entry's size set for a disk of
 * sectors; -EINVAL when LBA 0 is no protective MBR (a hybrid MBR is not ours to edit).
 */
static int protective_mbr(int fd, uint64_t sectors, uint8_t mbr[GPT_SECTOR])
{
        if (pread(fd, mbr, GPT_SECTOR, 0) != (ssize_t)GPT_SECTOR)
                return -EIO;
        if (mbr[510] != 0x55 || mbr[511] != 0xAA)
                return -EINVAL;
        int found = -1;
        for (int i = 0; i < 4; i++) {
                const uint8_t *p = mbr + 446 + 16 * i;
                if (p[4] == 0xEE && found < 0)
                        found = i;
                else if (p[4] != 0)
                        return -EINVAL;
        }
        if (found < 0)
                return -EINVAL;
        uint8_t *p = mbr + 446 + 16 * found;
        if ((uint32_t)(p[8] | p[9] << 8 | p[10] << 16 | (uint32_t)p[11] << 24) != 1)
                return -EINVAL;
        uint32_t size = sectors - 1 > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)(sectors - 1);
        p[12] = size & 0xff;
        p[13] = size >> 8 & 0xff;
        p[14] = size >> 16 & 0xff;
        p[15] = size >> 24;
        return 0;
}

/*
 * A cut between the primary entries and the primary header (step 2) leaves
 * a header that is sound by itself, entries that are exactly the backup's,
 * and a complete backup at the last LBA. Only that state is repaired: the
 * primary header is rebuilt from the backup. Returns 0 when repaired.
 */
static int repair_primary(int fd, const char *node, uint64_t sectors, const mk_gpt_table *p, mk_gpt_table *b)
{
        const char *why;
        if (!mk_gpt_header_ok(&p->h) || mk_gpt_read_table(fd, sectors - 1, sectors, b, &why) < 0 ||
            le64toh(b->h.alternate_lba) != 1 || memcmp(b->h.disk_guid, p->h.disk_guid, 16) ||
            p->h.n_entries != b->h.n_entries)
                return -EINVAL;
        _cleanup_free_ struct gpt_entry *e = malloc(sizeof(b->e));
        size_t len = (size_t)b->n * GPT_ENTRY_SIZE;
        uint64_t elba = le64toh(p->h.entries_lba);
        if (!e || elba < 2 || elba + GPT_ENTRY_SECTORS >= le64toh(b->h.first_usable) ||
            pread(fd, e, len, (off_t)(elba * GPT_SECTOR)) != (ssize_t)len || memcmp(e, b->e, len))
                return -EINVAL;
        mk_gpt_table t;
        mk_gpt_place(b, 1, elba, sectors - 1, &t);
        if (mk_gpt_write_table(fd, &t) < 0)
                return -EIO;
        say("grow: %s: primary GPT completed from the backup at LBA %" PRIu64, node, sectors - 1);
        /* The kernel found no partitions in the torn primary (it reads the backup only with "gpt" on its command line).
         */
        if (ioctl(fd, BLKRRPART) < 0)
                say("grow: %s: the kernel did not re-read the partitions: %s", node, strerror(errno));
        return 0;
}

/* Tell the kernel partition pno's new extent; BLKRRPART when it does not know the partition. */
static void tell_kernel(int fd, const char *node, unsigned pno, uint64_t first, uint64_t last)
{
        struct blkpg_partition part = {.start = (long long)(first * GPT_SECTOR),
                                       .length = (long long)((last - first + 1) * GPT_SECTOR),
                                       .pno = (int)pno};
        struct blkpg_ioctl_arg arg = {.op = BLKPG_RESIZE_PARTITION, .datalen = sizeof(part), .data = &part};
        if (ioctl(fd, BLKPG, &arg) < 0 && ioctl(fd, BLKRRPART) < 0) {
                say("grow: %s: the kernel keeps the old size of partition %u until the next boot: %s", node, pno,
                    strerror(errno));
                return;
        }
        say("grow: %s: the kernel sees partition %u as %" PRIu64 " MiB", node, pno,
            (last - first + 1) * GPT_SECTOR / MIB);
}

/* The grow itself, on an open disk; p, b, t: scratch tables. Returns 1 when the GPT was rewritten. */
static int grow_open(int fd, const char *node, mk_gpt_table *p, mk_gpt_table *b, mk_gpt_table *t)
{
        uint64_t bytes = 0;
        int ssz = 0;
        if (ioctl(fd, BLKGETSIZE64, &bytes) < 0 || ioctl(fd, BLKSSZGET, &ssz) < 0 || ssz != (int)GPT_SECTOR ||
            bytes / GPT_SECTOR < 2 * GPT_ENTRY_SECTORS + 3)
                return 0; /* not a disk of 512-byte sectors the layouts are made for */
        uint64_t sectors = bytes / GPT_SECTOR, last = sectors - 1;
        const char *why;
        int repaired = 0;
        if (mk_gpt_read_table(fd, 1, sectors, p, &why) < 0) {
                if (memcmp(p->h.signature, "EFI PART", 8))
                        return 0; /* no GPT: not ours */
                if (repair_primary(fd, node, sectors, p, b) < 0 || mk_gpt_read_table(fd, 1, sectors, p, &why) < 0) {
                        say("grow: %s: not touched: the primary GPT is invalid (%s)", node, why);
                        return 0;
                }
                repaired = 1;
        }
        /* The partition that ends last grows, and only when it asks to. */
        int gi = -1;
        for (uint32_t i = 0; i < p->n; i++)
                if (!mk_gpt_guid_is_zero(p->e[i].type) &&
                    (gi < 0 || le64toh(p->e[i].last_lba) > le64toh(p->e[gi].last_lba)))
                        gi = (int)i;
        if (gi < 0 || !(le64toh(p->e[gi].attrs) & GPT_ATTR_GROW_FS))
                return repaired;
        uint64_t alt = le64toh(p->h.alternate_lba);
        /* The backup the primary names agrees with it; or it is the one at the end that step 1 was rewriting. */
        if (mk_gpt_read_table(fd, alt, sectors, b, &why) == 0) {
                if (!mk_gpt_same(p, b) || le64toh(b->h.alternate_lba) != 1) {
                        say("grow: %s: not touched: the backup GPT at LBA %" PRIu64 " differs from the primary", node,
                            alt);
                        return repaired;
                }
        } else if (alt != last) {
                say("grow: %s: not touched: the backup GPT at LBA %" PRIu64 " is invalid (%s)", node, alt, why);
                return repaired;
        }
        uint64_t esec = ((uint64_t)p->n * GPT_ENTRY_SIZE + GPT_SECTOR - 1) / GPT_SECTOR;
        uint64_t usable = last - esec - 1, first = le64toh(p->e[gi].first_lba), end = le64toh(p->e[gi].last_lba);
        if (usable < le64toh(p->h.last_usable)) {
                say("grow: %s: not touched: the disk (%" PRIu64 " sectors) is smaller than its GPT", node, sectors);
                return repaired;
        }
        uint64_t aligned = (usable + 1) / ALIGN_SECTORS * ALIGN_SECTORS;
        uint64_t new_end = aligned > end + 1 ? aligned - 1 : end;
        *t = *p;
        t->h.last_usable = htole64(usable);
        t->e[gi].last_lba = htole64(new_end);
        mk_gpt_place(t, 1, le64toh(p->h.entries_lba), last, t);
        if (!memcmp(&t->h, &p->h, sizeof(t->h)) && !memcmp(t->e, p->e, sizeof(t->e)) && alt == last &&
            mk_gpt_same(p, b))
                return repaired; /* grown already */

        char name[37];
        mk_gpt_entry_name(&t->e[gi], name);
        say("grow: %s: the disk has %" PRIu64 " MiB, the GPT ends at LBA %" PRIu64
            ": growing partition %d (%s) from %" PRIu64 " to %" PRIu64 " MiB",
            node, bytes / MIB, alt, gi + 1, name, (end - first + 1) * GPT_SECTOR / MIB,
            (new_end - first + 1) * GPT_SECTOR / MIB);
        hold();
        uint8_t mbr[GPT_SECTOR];
        if (protective_mbr(fd, sectors, mbr) < 0) {
                say("grow: %s: not touched: LBA 0 is not a protective MBR", node);
                return repaired;
        }
        int r;
        mk_gpt_place(t, last, last - esec, 1, b);
        if ((r = mk_gpt_write_table(fd, b)) < 0) {
                say("grow: %s: cannot write the backup GPT: %s (the primary is unchanged)", node, strerror(-r));
                return repaired;
        }
        say("grow: %s: backup GPT moved to LBA %" PRIu64, node, last);
        hold();
        if ((r = mk_gpt_write_at(fd, mbr, sizeof(mbr), 0)) < 0 || (r = mk_gpt_write_table(fd, t)) < 0) {
                say("grow: %s: cannot rewrite the primary GPT: %s (the backup at the end holds it)", node,
                    strerror(-r));
                return 1;
        }
        say("grow: %s: primary GPT rewritten: partition %d (%s) is LBA %" PRIu64 "-%" PRIu64, node, gi + 1, name, first,
            new_end);
        hold();
        if (new_end != end) {
                tell_kernel(fd, node, (unsigned)gi + 1, first, new_end);
                hold();
        }
        return 1;
}

int grow_disk(const char *disk)
{
        char node[300];
        snprintf(node, sizeof(node), "/dev/%s", disk);
        _cleanup_close_ int fd = open(node, O_RDWR | O_CLOEXEC);
        _cleanup_free_ mk_gpt_table *p = calloc(3, sizeof(mk_gpt_table));
        if (fd < 0 || !p)
                return 0;
        return grow_open(fd, node, p, p + 1, p + 2);
}

void grow_disks(void)
{
        DIR *d = opendir("/sys/block");
        if (!d)
                return;
        struct dirent *e;
        while ((e = readdir(d)))
                if (e->d_name[0] != '.' && strncmp(e->d_name, "loop", 4) && strncmp(e->d_name, "ram", 3) &&
                    strncmp(e->d_name, "dm-", 3))
                        grow_disk(e->d_name);
        closedir(d);
}

/* The ext4 superblock's block count and block size; -EINVAL when node holds no ext4. */
static int ext4_size(const char *node, uint64_t *blocks, uint64_t *bsize)
{
        uint8_t sb[1024];
        _cleanup_close_ int fd = open(node, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || pread(fd, sb, sizeof(sb), 1024) != (ssize_t)sizeof(sb))
                return -EIO;
        uint32_t log, incompat, lo, hi;
        memcpy(&lo, sb + 4, 4);
        memcpy(&log, sb + 24, 4);
        memcpy(&incompat, sb + 96, 4);
        memcpy(&hi, sb + 0x150, 4);
        if (sb[56] != 0x53 || sb[57] != 0xEF || le32toh(log) > 6)
                return -EINVAL;
        *bsize = 1024ull << le32toh(log);
        *blocks = le32toh(lo) | (le32toh(incompat) & 0x80 ? (uint64_t)le32toh(hi) << 32 : 0);
        return 0;
}

void grow_fs(const char *dir, const char *node)
{
        uint64_t bytes = 0, blocks, bsize, now;
        _cleanup_close_ int dev = open(node, O_RDONLY | O_CLOEXEC);
        if (dev < 0 || ioctl(dev, BLKGETSIZE64, &bytes) < 0 || ext4_size(node, &blocks, &bsize) < 0)
                return;
        uint64_t want = bytes / bsize;
        if (want <= blocks)
                return;
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || ioctl(fd, EXT4_IOC_RESIZE_FS, &want) < 0) {
                say("grow: data not grown (ext4 on %s stays %" PRIu64 " MiB): %s", node, blocks * bsize / MIB,
                    strerror(errno));
                return;
        }
        /* The last block group may be too small to hold its own metadata: the kernel then leaves it out. */
        if (ext4_size(node, &now, &bsize) < 0 || now == blocks)
                return;
        say("grow: data grown from %" PRIu64 " to %" PRIu64 " MiB (ext4 on %s, %" PRIu64 " MiB)", blocks * bsize / MIB,
            now * bsize / MIB, node, bytes / MIB);
        hold();
}
