/* SPDX-License-Identifier: MIT */
/* The disk the updater writes: an image file or a block device, its GPT read and rewritten strictly. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qemu-boot/updater/update.h"
#include "signing/conventions/conventions.h"

int upd_disk_open(const char *path, upd_disk *d, mk_error *err)
{
        *d = (upd_disk){.path = path, .fd = -1};
        struct stat st;
        uint64_t bytes = 0;
        if ((d->fd = open(path, O_RDWR | O_CLOEXEC)) < 0 || fstat(d->fd, &st) < 0)
                return mk_error_set(err, errno, "%s: %s", path, strerror(errno));
        if (S_ISBLK(st.st_mode)) {
                if (ioctl(d->fd, BLKGETSIZE64, &bytes) < 0)
                        return mk_error_set(err, errno, "%s: size: %s", path, strerror(errno));
        } else if (S_ISREG(st.st_mode)) {
                bytes = (uint64_t)st.st_size;
        } else {
                return mk_error_set(err, EINVAL, "%s: not a disk image or a block device", path);
        }
        d->sectors = bytes / GPT_SECTOR;
        const char *why = NULL;
        int r = mk_gpt_read_table(d->fd, 1, d->sectors, &d->primary, &why);
        if (r < 0)
                return mk_error_set(err, -r, "%s: the primary GPT: %s", path, why ? why : strerror(-r));
        if ((r = mk_gpt_read_table(d->fd, le64toh(d->primary.h.alternate_lba), d->sectors, &d->backup, &why)) < 0)
                return mk_error_set(err, -r, "%s: the backup GPT: %s", path, why ? why : strerror(-r));
        if (!mk_gpt_same(&d->primary, &d->backup))
                return mk_error_set(err, EINVAL, "%s: the primary and backup GPTs differ (repair the disk first)",
                                    path);
        return 0;
}

void upd_disk_close(upd_disk *d)
{
        if (d->fd >= 0)
                close(d->fd);
        d->fd = -1;
}

int upd_disk_find(const upd_disk *d, const char *name, unsigned *idx, uint64_t *start, uint64_t *size, mk_error *err)
{
        for (unsigned i = 0; i < d->primary.n; i++) {
                const struct gpt_entry *e = &d->primary.e[i];
                char n[37];
                if (mk_gpt_guid_is_zero(e->type))
                        continue;
                mk_gpt_entry_name(e, n);
                if (strcmp(n, name))
                        continue;
                *idx = i;
                *start = le64toh(e->first_lba) * GPT_SECTOR;
                *size = (le64toh(e->last_lba) - le64toh(e->first_lba) + 1) * GPT_SECTOR;
                return 0;
        }
        return mk_error_set(err, ENOENT, "%s: no partition named '%s'", d->path, name);
}

int upd_disk_esp(const upd_disk *d, uint64_t *start, uint64_t *size, mk_error *err)
{
        for (unsigned i = 0; i < d->primary.n; i++) {
                const struct gpt_entry *e = &d->primary.e[i];
                char t[37];
                mk_gpt_guid_text(e->type, t);
                if (strcasecmp(t, MK_ESP_TYPE_GUID))
                        continue;
                *start = le64toh(e->first_lba) * GPT_SECTOR;
                *size = (le64toh(e->last_lba) - le64toh(e->first_lba) + 1) * GPT_SECTOR;
                return 0;
        }
        return mk_error_set(err, ENOENT, "%s: no EFI system partition", d->path);
}

int upd_disk_set_uuids(upd_disk *d, const unsigned *idx, const char *const *uuid, size_t n, mk_error *err)
{
        mk_gpt_table t = d->primary, p, b;
        bool change = false;
        for (size_t k = 0; k < n; k++) {
                uint8_t g[16];
                if (!mk_gpt_guid_parse(uuid[k], g))
                        return mk_error_set(err, EINVAL, "'%s' is not a GUID", uuid[k]);
                change |= memcmp(t.e[idx[k]].uuid, g, 16) != 0;
                memcpy(t.e[idx[k]].uuid, g, 16);
        }
        if (!change)
                return 0;
        uint64_t alt = le64toh(d->primary.h.alternate_lba);
        mk_gpt_place(&t, 1, le64toh(d->primary.h.entries_lba), alt, &p);
        mk_gpt_place(&t, alt, le64toh(d->backup.h.entries_lba), 1, &b);
        int r = mk_gpt_write_table(d->fd, &b);
        if (r >= 0)
                r = mk_gpt_write_table(d->fd, &p);
        if (r < 0)
                return mk_error_set(err, -r, "%s: writing the GPT: %s", d->path, strerror(-r));
        d->primary = p;
        d->backup = b;
        return 0;
}
