/* SPDX-License-Identifier: MIT */
/*
 * Facts used (Microsoft FAT specification): FAT32 entries are 28 bits (the
 * top 4 are reserved and kept); 0 is free, 0x0FFFFFF7 bad, 0x0FFFFFF8 and
 * above end a chain; clusters are numbered from 2 at the data region
 * (reserved sectors + FATs). A directory is a chain of 32-byte entries;
 * name[0] 0x00 ends it, 0xE5 marks a deleted entry; attribute 0x0F marks a
 * long-name slot (sequence number with 0x40 on the last, 13 UCS-2
 * characters, the checksum of the short name it belongs to), stored before
 * its short entry, last slot first. FSInfo keeps a hint of the free count.
 */
#include "signing/disk/fat.h"

#include "signing/disk/fat-internal.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "signing/base/fileio.h"
#include "signing/base/macro.h"

struct mk_fat_file {
        fat_vol v;
        char path[256];  /* the ESP path */
        uint64_t dirent; /* byte offset of the file's short directory entry */
        uint32_t size;
        uint32_t *chain;
        size_t n_chain;
};

int mk_fat_locate(int fd, const char *name, uint64_t offset, const char *esp_path, mk_fat_file **ret, mk_error *err)
{
        mk_fat_file *f = calloc(1, sizeof(*f));
        if (!f)
                return mk_error_set(err, ENOMEM, "out of memory");
        snprintf(f->path, sizeof(f->path), "%s", esp_path);
        int r = mk_fat_vol_open(fd, name, offset, &f->v, err);
        uint32_t dir = f->v.root;
        for (const char *p = esp_path; r >= 0;) {
                p += strspn(p, "/");
                size_t len = strcspn(p, "/");
                const char *rest = p + len + strspn(p + len, "/");
                if (!len || len > FAT_NAME_MAX) {
                        r = mk_error_set(err, EINVAL, "%s: ESP: '%s' is not a file path", f->v.where, esp_path);
                        break;
                }
                fat_dir d = {0};
                fat_ent en;
                if ((r = mk_fat_dir_load(fd, &f->v, dir, &d, err)) >= 0 && (r = mk_fat_dir_find(&d, p, len, &en)) >= 0)
                        f->dirent = fat_dir_slot_off(&f->v, &d, en.slot);
                uint8_t e[FAT_DIRENT] = {0};
                if (r >= 0)
                        memcpy(e, en.e, FAT_DIRENT);
                mk_fat_dir_done(&d);
                if (r == -ENOENT)
                        r = mk_error_set(err, ENOENT, "%s: ESP: no '%.*s' (looking for '%s')", f->v.where,
                                         (int)(p + len - esp_path), esp_path, esp_path);
                if (r < 0)
                        break;
                uint32_t first = fat_entry_cluster(e);
                if (!*rest) {
                        if (e[11] & FAT_ATTR_DIR)
                                r = mk_error_set(err, EISDIR, "%s: ESP: '%s' is a folder, not a file", f->v.where,
                                                 esp_path);
                        else if (first)
                                r = mk_fat_chain_load(fd, &f->v, first, esp_path, &f->chain, &f->n_chain, err);
                        f->size = fat_rd32(e + 28);
                        if (r >= 0 && f->size > (uint64_t)f->n_chain * f->v.csize)
                                r = mk_error_set(err, EINVAL,
                                                 "%s: ESP: '%s' claims %" PRIu32 " bytes but holds %zu clusters: run "
                                                 "fsck.vfat on the ESP or rebuild the image",
                                                 f->v.where, esp_path, f->size, f->n_chain);
                        break;
                }
                if (!(e[11] & FAT_ATTR_DIR)) {
                        r = mk_error_set(err, ENOTDIR, "%s: ESP: '%.*s' is a file, not a folder", f->v.where,
                                         (int)(p + len - esp_path), esp_path);
                        break;
                }
                dir = first;
                p = rest;
        }
        if (r < 0) {
                mk_fat_file_free(f);
                return r;
        }
        *ret = f;
        return 0;
}
uint32_t mk_fat_file_size(const mk_fat_file *f)
{
        return f->size;
}

uint64_t mk_fat_file_capacity(const mk_fat_file *f)
{
        return (uint64_t)f->n_chain * f->v.csize;
}

int mk_fat_file_stream(int fd, const mk_fat_file *f,
                       int (*sink)(const void *data, size_t len, void *userdata, mk_error *err), void *userdata,
                       mk_error *err)
{
        if (f->size > mk_fat_file_capacity(f))
                return mk_error_set(err, EUCLEAN, "%s: /%s: its size is more than its clusters hold", f->v.where,
                                    f->path);
        size_t run_max = (size_t)1 << 20;
        _cleanup_free_ uint8_t *buf = malloc(run_max);
        if (!buf)
                return mk_error_set(err, ENOMEM, "out of memory");
        uint64_t left = f->size;
        for (size_t i = 0; i < f->n_chain && left;) {
                /* a run of consecutive clusters, read in one go (at most 1 MiB) */
                size_t k = 1;
                while (i + k < f->n_chain && f->chain[i + k] == f->chain[i] + k && (k + 1) * f->v.csize <= run_max)
                        k++;
                size_t n = k * f->v.csize < left ? k * f->v.csize : (size_t)left;
                int r = mk_pread_all(fd, buf, n, fat_cluster_off(&f->v, f->chain[i]));
                if (r < 0)
                        return mk_fat_io_fail(&f->v, r, "reading a file's clusters", err);
                if ((r = sink(buf, n, userdata, err)) < 0)
                        return r;
                left -= n;
                i += k;
        }
        return 0;
}

mk_fat_file *mk_fat_file_free(mk_fat_file *f)
{
        if (f) {
                free(f->chain);
                free(f);
        }
        return NULL;
}

void mk_fat_file_extent(const mk_fat_file *f, void (*range)(void *userdata, uint64_t off, uint64_t len), void *userdata)
{
        for (size_t i = 0; i < f->n_chain; i++) {
                range(userdata, fat_cluster_off(&f->v, f->chain[i]), f->v.csize);
                for (unsigned k = 0; k < f->v.n_fats; k++)
                        range(userdata, f->v.fat + k * f->v.fat_size + 4ull * f->chain[i], 4);
        }
        range(userdata, f->dirent, 32);
        if (f->v.fsinfo)
                range(userdata, f->v.fsinfo + 488, 4);
}

mk_fat_file *mk_fat_file_dup(const mk_fat_file *f, const char *name)
{
        mk_fat_file *d = malloc(sizeof(*d));
        if (!d)
                return NULL;
        *d = *f;
        snprintf(d->v.where, sizeof(d->v.where), "%s", name);
        d->chain = NULL;
        if (f->n_chain && !(d->chain = reallocarray(NULL, f->n_chain, sizeof(*d->chain)))) {
                free(d);
                return NULL;
        }
        if (f->n_chain)
                memcpy(d->chain, f->chain, f->n_chain * sizeof(*d->chain));
        return d;
}

typedef struct writer {
        int fd;
        mk_fat_file *f;
        void (*dirty)(void *, uint64_t, uint64_t);
        void *ud;
        mk_error *err;
} writer;

static int put(writer *w, const void *p, size_t len, uint64_t off, const char *doing)
{
        int r = mk_pwrite_all(w->fd, p, len, off);
        if (r < 0)
                return mk_fat_io_fail(&w->f->v, r, doing, w->err);
        if (w->dirty)
                w->dirty(w->ud, off, len);
        return 0;
}

/* Set a FAT entry in every copy, keeping its top 4 bits. */
static int set_entry(writer *w, uint32_t c, uint32_t value)
{
        for (unsigned k = 0; k < w->f->v.n_fats; k++) {
                uint64_t at = w->f->v.fat + k * w->f->v.fat_size + 4ull * c;
                uint8_t e[4];
                int r = mk_pread_all(w->fd, e, 4, at);
                if (r < 0)
                        return mk_fat_io_fail(&w->f->v, r, "reading the FAT", w->err);
                uint32_t v = htole32((fat_rd32(e) & ~FAT_ENTRY_MASK) | (value & FAT_ENTRY_MASK));
                if ((r = put(w, &v, 4, at, "writing the FAT")) < 0)
                        return r;
        }
        return 0;
}

int mk_fat_write_clusters(int fd, const fat_vol *v, const uint32_t *chain, const void *data, size_t len,
                          void (*dirty)(void *userdata, uint64_t off, uint64_t len), void *userdata, mk_error *err)
{
        static const uint8_t zero[4096];
        size_t keep = (len + v->csize - 1) / v->csize;
        /* a run of consecutive clusters at a time */
        for (size_t i = 0, done = 0; i < keep;) {
                size_t j = i + 1;
                while (j < keep && chain[j] == chain[j - 1] + 1)
                        j++;
                uint64_t at = fat_cluster_off(v, chain[i]), room = (uint64_t)(j - i) * v->csize;
                size_t n = len - done < room ? len - done : (size_t)room;
                for (uint64_t z = 0; z < room;) {
                        const void *p = z < n ? (const uint8_t *)data + done + z : zero;
                        size_t k = z < n ? n : room - z < sizeof(zero) ? (size_t)(room - z) : sizeof(zero);
                        int r = mk_pwrite_all(fd, p, k, at + z);
                        if (r < 0)
                                return mk_fat_io_fail(v, r, "writing a file", err);
                        if (dirty)
                                dirty(userdata, at + z, k);
                        z += k;
                }
                done += n;
                i = j;
        }
        return 0;
}

int mk_fat_rewrite(int fd, mk_fat_file *f, const void *data, size_t len,
                   void (*dirty)(void *userdata, uint64_t off, uint64_t len), void *userdata, mk_error *err)
{
        if (len > mk_fat_file_capacity(f))
                return mk_error_set(err, EFBIG,
                                    "%s: ESP: %zu bytes do not fit in the %" PRIu64 " bytes reserved for '%s' (shorten "
                                    "it, or raise the reservation and rebuild the common part)",
                                    f->v.where, len, mk_fat_file_capacity(f), f->path);
        writer w = {fd, f, dirty, userdata, err};
        size_t keep = (len + f->v.csize - 1) / f->v.csize;
        int r = mk_fat_write_clusters(fd, &f->v, f->chain, data, len, dirty, userdata, err);
        /* The directory entry: size, and no first cluster when empty. */
        uint32_t size = htole32((uint32_t)len);
        if (r >= 0)
                r = put(&w, &size, 4, f->dirent + 28, "writing a directory entry");
        if (r >= 0 && !keep && f->n_chain) {
                static const uint8_t none[2];
                if ((r = put(&w, none, 2, f->dirent + 20, "writing a directory entry")) >= 0)
                        r = put(&w, none, 2, f->dirent + 26, "writing a directory entry");
        }
        /* The chain ends at the last cluster kept; the rest are free. */
        if (r >= 0 && keep && keep < f->n_chain)
                r = set_entry(&w, f->chain[keep - 1], FAT_EOC);
        for (size_t i = keep; i < f->n_chain && r >= 0; i++)
                r = set_entry(&w, f->chain[i], 0);
        uint32_t freed = (uint32_t)(f->n_chain - keep);
        if (r >= 0 && freed && f->v.fsinfo) {
                uint8_t c[4];
                if ((r = mk_pread_all(fd, c, 4, f->v.fsinfo + 488)) < 0)
                        return mk_fat_io_fail(&f->v, r, "reading FSInfo", err);
                uint32_t count = fat_rd32(c);
                if (count != FAT_FSINFO_UNKNOWN && count + freed <= f->v.max_cluster - 1) {
                        uint32_t v = htole32(count + freed);
                        r = put(&w, &v, 4, f->v.fsinfo + 488, "writing FSInfo");
                }
        }
        if (r < 0)
                return r;
        f->n_chain = keep;
        f->size = (uint32_t)len;
        return 0;
}
