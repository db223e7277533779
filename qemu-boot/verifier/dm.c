/* SPDX-License-Identifier: MIT */
/*
 * Device-mapper through its ioctls on /dev/mapper/control (linux/dm-ioctl.h):
 * no libdevmapper and no udev in the initrd. The calls: DM_DEV_CREATE,
 * DM_TABLE_LOAD (one target), DM_DEV_SUSPEND without flags (= resume), and
 * DM_TABLE_STATUS to print the table back.
 */
#include "qemu-boot/verifier/boot.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "signing/base/macro.h"

#define DM_BUF 16384

static void io_init(struct dm_ioctl *io, size_t size, const char *name)
{
        memset(io, 0, size);
        io->version[0] = DM_VERSION_MAJOR;
        io->version[1] = 0;
        io->version[2] = 0;
        io->data_size = (uint32_t)size;
        io->data_start = sizeof(*io);
        snprintf(io->name, sizeof(io->name), "%s", name);
}

static int control(mk_error *err)
{
        int fd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                /* devtmpfs has it as /dev/mapper/control once dm-mod is loaded; make it if not. */
                mkdir("/dev/mapper", 0755);
                if (mknod("/dev/mapper/control", S_IFCHR | 0600, makedev(10, 236)) == 0 || errno == EEXIST)
                        fd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);
        }
        if (fd < 0)
                return mk_error_set(err, errno, "cannot open /dev/mapper/control (is dm-mod loaded?): %s",
                                    strerror(errno));
        return fd;
}

/* The control device and a zeroed ioctl buffer of DM_BUF bytes; fd < 0 on failure (err set). */
static int dm_begin(char **ret_buf, mk_error *err)
{
        if (!(*ret_buf = calloc(1, DM_BUF)))
                return mk_error_set(err, ENOMEM, "out of memory");
        return control(err);
}

int dm_create(const char *name, const char *target, uint64_t sectors, const char *params, bool readonly, mk_error *err)
{
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = dm_begin(&buf, err);
        if (fd < 0)
                return fd;
        struct dm_ioctl *io = (struct dm_ioctl *)buf;
        io_init(io, sizeof(*io), name);
        /* EBUSY: the mapping exists; the new table replaces its table on resume. */
        if (ioctl(fd, DM_DEV_CREATE, io) < 0 && errno != EBUSY)
                return mk_error_set(err, errno, "device-mapper: cannot create %s: %s", name, strerror(errno));

        size_t plen = strlen(params) + 1;
        size_t need = sizeof(*io) + sizeof(struct dm_target_spec) + ((plen + 7) & ~(size_t)7);
        if (need > DM_BUF)
                return mk_error_set(err, E2BIG, "device-mapper: the %s table is too long", name);
        io_init(io, need, name);
        io->target_count = 1;
        io->flags = readonly ? DM_READONLY_FLAG : 0;
        struct dm_target_spec *t = (struct dm_target_spec *)(buf + sizeof(*io));
        t->sector_start = 0;
        t->length = sectors;
        snprintf(t->target_type, sizeof(t->target_type), "%s", target);
        memcpy(buf + sizeof(*io) + sizeof(*t), params, plen);
        if (ioctl(fd, DM_TABLE_LOAD, io) < 0)
                return mk_error_set(err, errno, "device-mapper: the kernel refused the %s table for %s: %s", target,
                                    name, strerror(errno));
        io_init(io, sizeof(*io), name);
        if (ioctl(fd, DM_DEV_SUSPEND, io) < 0) /* no DM_SUSPEND_FLAG: resume = activate the table */
                return mk_error_set(err, errno, "device-mapper: cannot activate %s: %s", name, strerror(errno));
        char node[128];
        snprintf(node, sizeof(node), "/dev/mapper/%s", name);
        unlink(node);
        if (mknod(node, S_IFBLK | (readonly ? 0400 : 0600), makedev(major(io->dev), minor(io->dev))) < 0)
                return mk_error_set(err, errno, "cannot create %s: %s", node, strerror(errno));
        return 0;
}

int dm_table(const char *name, char *out, size_t size, mk_error *err)
{
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = dm_begin(&buf, err);
        if (fd < 0)
                return fd;
        struct dm_ioctl *io = (struct dm_ioctl *)buf;
        io_init(io, DM_BUF, name);
        io->flags = DM_STATUS_TABLE_FLAG;
        if (ioctl(fd, DM_TABLE_STATUS, io) < 0 || io->target_count != 1 || io->data_start >= DM_BUF)
                return mk_error_set(err, errno ? errno : EIO, "device-mapper: cannot read the table of %s", name);
        buf[DM_BUF - 1] = '\0';
        const struct dm_target_spec *t = (const struct dm_target_spec *)(buf + io->data_start);
        char params[1024];
        snprintf(params, sizeof(params), "%s", (const char *)(t + 1));
        if (!strcmp(t->target_type, "crypt")) {
                /* "cipher key iv_offset dev offset": never print a key that is not a keyring reference. */
                char *key = strchr(params, ' ');
                if (key && key[1] != ':')
                        for (char *p = key + 1; *p && *p != ' '; p++)
                                *p = '0';
        }
        snprintf(out, size, "%llu %llu %s %s", (unsigned long long)t->sector_start, (unsigned long long)t->length,
                 t->target_type, params);
        return 0;
}
