/* SPDX-License-Identifier: MIT */
/*
 * Find partitions by GPT GUID without udev or libblkid: read each disk's
 * GPT (UEFI specification, "GUID Partition Table") and map the entry's index
 * to the kernel's partition device through sysfs.
 */
#include "qemu-boot/verifier/boot.h"

#include <ctype.h>
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define SECTOR GPT_SECTOR
#define GPT_MAX_ENTRIES 1024u

static int read_small(const char *path, char *buf, size_t size)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t k = read(fd, buf, size - 1);
        close(fd);
        if (k < 0)
                return -errno;
        buf[k] = '\0';
        buf[strcspn(buf, "\n")] = '\0';
        return 0;
}

/* The partition device of disk with number index (1-based), from /sys/block/DISK/<part>/partition. */
static int part_of(const char *disk, unsigned index, part_dev *ret)
{
        char path[300], buf[64];
        snprintf(path, sizeof(path), "/sys/block/%s", disk);
        DIR *d = opendir(path);
        if (!d)
                return -errno;
        int r = -ENOENT;
        struct dirent *e;
        while ((e = readdir(d))) {
                if (strncmp(e->d_name, disk, strlen(disk)))
                        continue;
                snprintf(path, sizeof(path), "/sys/block/%s/%s/partition", disk, e->d_name);
                if (read_small(path, buf, sizeof(buf)) < 0 || (unsigned)atoi(buf) != index)
                        continue;
                snprintf(path, sizeof(path), "/sys/block/%s/%s/dev", disk, e->d_name);
                if (read_small(path, buf, sizeof(buf)) < 0 || sscanf(buf, "%u:%u", &ret->major, &ret->minor) != 2)
                        continue;
                snprintf(path, sizeof(path), "/sys/block/%s/%s/size", disk, e->d_name);
                if (read_small(path, buf, sizeof(buf)) < 0)
                        continue;
                ret->size = strtoull(buf, NULL, 10) * SECTOR;
                snprintf(ret->disk, sizeof(ret->disk), "%s", disk);
                snprintf(ret->name, sizeof(ret->name), "%s", e->d_name);
                snprintf(ret->node, sizeof(ret->node), "/dev/%s", e->d_name);
                r = 0;
                break;
        }
        closedir(d);
        return r;
}

/* Search one disk's GPT; 0 and *ret when found, -ENOENT when not. */
static int search_disk(const char *disk, const char *guid, bool by_type, part_dev *ret)
{
        char node[300];
        snprintf(node, sizeof(node), "/dev/%s", disk);
        int fd = open(node, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        struct gpt_header h;
        int r = -ENOENT;
        if (pread(fd, &h, sizeof(h), SECTOR) != (ssize_t)sizeof(h) || memcmp(h.signature, "EFI PART", 8))
                goto out;
        uint32_t n = le32toh(h.n_entries), esize = le32toh(h.entry_size);
        if (n > GPT_MAX_ENTRIES || esize < sizeof(struct gpt_entry) || esize > 4096)
                goto out;
        uint64_t base = le64toh(h.entries_lba) * SECTOR;
        for (uint32_t i = 0; i < n && r == -ENOENT; i++) {
                struct gpt_entry e;
                if (pread(fd, &e, sizeof(e), (off_t)(base + (uint64_t)i * esize)) != (ssize_t)sizeof(e))
                        break;
                char text[37];
                mk_gpt_guid_text(by_type ? e.type : e.uuid, text);
                if (!strcasecmp(text, guid) && part_of(disk, i + 1, ret) == 0) {
                        ret->attrs = le64toh(e.attrs);
                        r = 0;
                }
        }
out:
        close(fd);
        return r;
}

static int search_all(const char *guid, bool by_type, part_dev *ret)
{
        DIR *d = opendir("/sys/block");
        if (!d)
                return -errno;
        int r = -ENOENT;
        struct dirent *e;
        while (r == -ENOENT && (e = readdir(d))) {
                if (e->d_name[0] == '.' || !strncmp(e->d_name, "loop", 4) || !strncmp(e->d_name, "ram", 3) ||
                    !strncmp(e->d_name, "dm-", 3))
                        continue;
                if (search_disk(e->d_name, guid, by_type, ret) == 0)
                        r = 0;
        }
        closedir(d);
        return r;
}

int find_partition(const char *guid, bool by_type, unsigned wait_ms, part_dev *ret, mk_error *err)
{
        /* Disks appear asynchronously after their driver loads: poll. */
        for (unsigned waited = 0;; waited += 100) {
                if (search_all(guid, by_type, ret) == 0)
                        return 0;
                if (waited >= wait_ms)
                        break;
                nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
        }
        return mk_error_set(err, ENOENT, "no partition with %s %s on any disk", by_type ? "type" : "PARTUUID", guid);
}
