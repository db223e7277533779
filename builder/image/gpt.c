/* SPDX-License-Identifier: MIT */
#include "builder/image/gpt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libfdisk/libfdisk.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "signing/base/fileio.h"
#include "signing/base/macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct fdisk_context *, fdisk_unref_context)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct fdisk_partition *, fdisk_unref_partition)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct fdisk_parttype *, fdisk_unref_parttype)

/* The last message libfdisk wanted to show; reported when a call fails. */
typedef struct fdisk_msgs {
        char last[256];
} fdisk_msgs;

static int on_ask(struct fdisk_context *cxt, struct fdisk_ask *ask, void *data)
{
        fdisk_msgs *m = data;
        switch (fdisk_ask_get_type(ask)) {
        case FDISK_ASKTYPE_INFO:
        case FDISK_ASKTYPE_WARN:
        case FDISK_ASKTYPE_WARNX: {
                const char *s = fdisk_ask_print_get_mesg(ask);
                if (s)
                        snprintf(m->last, sizeof(m->last), "%s", s);
                return 0;
        }
        default:
                return -EINVAL; /* never answer a question */
        }
}

/* The device at path (name: what messages call it). */
static int new_context(const char *path, const char *name, int readonly, fdisk_msgs *msgs, struct fdisk_context **ret,
                       mk_error *err)
{
        struct fdisk_context *cxt = fdisk_new_context();
        if (!cxt)
                return mk_error_set(err, ENOMEM, "out of memory");
        fdisk_set_ask(cxt, on_ask, msgs);
        fdisk_disable_dialogs(cxt, 1);
        int r = fdisk_assign_device(cxt, path, readonly);
        if (r < 0) {
                fdisk_unref_context(cxt);
                return mk_error_set(err, -r, "%s: cannot open the disk image: %s", name, strerror(-r));
        }
        *ret = cxt;
        return 0;
}

static int fdisk_fail(const char *path, const char *what, int r, const fdisk_msgs *m, mk_error *err)
{
        if (r >= 0)
                r = -EIO;
        return mk_error_set(err, -r, "%s: %s failed: %s%s%s", path, what, strerror(-r), m->last[0] ? ": " : "",
                            m->last);
}

static int add_partition(struct fdisk_context *cxt, const char *path, size_t i, const mk_partition *p,
                         const fdisk_msgs *m, mk_error *err)
{
        _cleanup_(fdisk_unref_partitionp) struct fdisk_partition *pa = fdisk_new_partition();
        if (!pa)
                return mk_error_set(err, ENOMEM, "out of memory");
        _cleanup_(fdisk_unref_parttypep) struct fdisk_parttype *t =
                fdisk_label_get_parttype_from_string(fdisk_get_label(cxt, NULL), p->type_guid);
        if (!t)
                return mk_error_set(err, EINVAL, "%s: partition '%s': libfdisk refused type %s", path, p->name,
                                    p->type_guid);
        int r;
        if ((r = fdisk_partition_set_partno(pa, i)) < 0 ||
            (r = fdisk_partition_set_start(pa, p->start / MK_SECTOR)) < 0 ||
            (r = fdisk_partition_set_size(pa, p->length / MK_SECTOR)) < 0 ||
            (r = fdisk_partition_size_explicit(pa, 1)) < 0 || (r = fdisk_partition_set_name(pa, p->name)) < 0 ||
            (r = fdisk_partition_set_uuid(pa, p->uuid)) < 0 || (r = fdisk_partition_set_type(pa, t)) < 0)
                return fdisk_fail(path, "describing a partition", r, m, err);
        if ((r = fdisk_add_partition(cxt, pa, NULL)) < 0) {
                char what[96];
                snprintf(what, sizeof(what), "adding partition '%s'", p->name);
                return fdisk_fail(path, what, r, m, err);
        }
        if (p->attrs && (r = fdisk_gpt_set_partition_attrs(cxt, i, p->attrs)) < 0)
                return fdisk_fail(path, "setting partition attributes", r, m, err);
        return 0;
}

static int check_written(const char *path, const char *name, const mk_layout *l, mk_error *err);

/* Copy [from, to) of the memfd into the image at the same offset. */
static int put_back(int mem, int fd, const char *path, uint64_t from, uint64_t to, mk_error *err)
{
        _cleanup_free_ char *buf = malloc(to - from);
        if (!buf)
                return mk_error_set(err, ENOMEM, "out of memory");
        int r = mk_pread_all(mem, buf, to - from, from);
        if (r >= 0)
                r = mk_pwrite_all(fd, buf, to - from, from);
        return r < 0 ? mk_error_set(err, -r, "%s: writing the GPT: %s", path, strerror(-r)) : 0;
}

/*
 * libfdisk fsync()s the device it wrote, which for an image file means
 * waiting for every byte written to it so far (the root, hundreds of
 * megabytes). So the table is written into a memfd of the image's size, and
 * its two areas (protective MBR, header and entries up to the first usable
 * sector; the backup entries and header after the last) are copied into the
 * image; the image is fsync()ed once, when complete.
 */
int mk_gpt_write(const char *path, const char *name, const mk_layout *l, mk_error *err)
{
        _cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC);
        if (!name)
                name = path;
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0)
                return mk_error_set(err, errno, "%s: cannot open the disk image: %s", name, strerror(errno));
        if ((uint64_t)st.st_size != l->disk_size)
                return mk_error_set(err, EINVAL, "%s: the file is not %llu bytes long", name,
                                    (unsigned long long)l->disk_size);
        _cleanup_close_ int mem = memfd_create("mkimage-gpt", MFD_CLOEXEC);
        if (mem < 0 || ftruncate(mem, (off_t)l->disk_size) < 0)
                return mk_error_set(err, errno, "%s: cannot make the GPT in memory: %s", name, strerror(errno));
        char dev[64];
        snprintf(dev, sizeof(dev), "/proc/self/fd/%d", mem);
        fdisk_msgs m = {""};
        _cleanup_(fdisk_unref_contextp) struct fdisk_context *cxt = NULL;
        int r = new_context(dev, name, 0, &m, &cxt, err);
        if (r < 0)
                return r;
        if ((r = fdisk_create_disklabel(cxt, "gpt")) < 0)
                return fdisk_fail(name, "creating the GPT", r, &m, err);
        if ((r = fdisk_set_disklabel_id_from_string(cxt, l->disk_uuid)) < 0)
                return fdisk_fail(name, "setting the disk GUID", r, &m, err);
        for (size_t i = 0; i < l->n_parts; i++)
                if ((r = add_partition(cxt, name, i, &l->parts[i], &m, err)) < 0)
                        return r;
        if ((r = fdisk_write_disklabel(cxt)) < 0)
                return fdisk_fail(name, "writing the GPT", r, &m, err);
        uint64_t head = (uint64_t)fdisk_get_first_lba(cxt) * MK_SECTOR;
        uint64_t tail = ((uint64_t)fdisk_get_last_lba(cxt) + 1) * MK_SECTOR;
        if ((r = fdisk_deassign_device(cxt, 1)) < 0)
                return fdisk_fail(name, "closing the disk image", r, &m, err);
        if (head == 0 || head > tail || tail > l->disk_size || head > (1u << 20) || l->disk_size - tail > (1u << 20))
                return mk_error_set(err, EIO, "%s: libfdisk reported usable sectors %" PRIu64 " to %" PRIu64 " (a bug)",
                                    path, head / MK_SECTOR, tail / MK_SECTOR);
        if ((r = put_back(mem, fd, name, 0, head, err)) < 0 ||
            (r = put_back(mem, fd, name, tail, l->disk_size, err)) < 0)
                return r;
        return check_written(path, name, l, err);
}

/* libfdisk may align what it is given; the plan is what the manifest and the
 * writers rely on, so insist that the table says exactly that. */
static int check_written(const char *path, const char *name, const mk_layout *l, mk_error *err)
{
        _cleanup_free_ mk_gpt *g = NULL;
        int r = mk_gpt_read_named(path, name, &g, err);
        if (r < 0)
                return r;
        if (g->n_parts != l->n_parts)
                return mk_error_set(err, EIO, "%s: libfdisk wrote %u partitions, the plan has %zu", name, g->n_parts,
                                    l->n_parts);
        for (size_t i = 0; i < l->n_parts; i++) {
                const mk_partition *p = &l->parts[i];
                if (g->parts[i].start != p->start || g->parts[i].size != p->length)
                        return mk_error_set(
                                err, EIO,
                                "%s: libfdisk placed partition '%s' at %llu+%llu bytes, the plan says %llu+%llu "
                                "(a libfdisk alignment rule; please report this)",
                                name, p->name, (unsigned long long)g->parts[i].start,
                                (unsigned long long)g->parts[i].size, (unsigned long long)p->start,
                                (unsigned long long)p->length);
        }
        return 0;
}
