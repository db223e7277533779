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

#define FSINFO_LEAD 0x41615252u
#define FSINFO_STRUC 0x61417272u

/*
 * The FAT32 boot sector up to the fields mkimage reads
 * (the FAT specification's "BPB"), little-endian on disk:
 *
 *   0 jump[3]  3 oem[8]  11 bytes/sector  13 sectors/cluster  14 reserved sectors
 *  16 FATs  17 root entries  19 total16  21 media  22 FAT size16  24 sectors/track
 *  26 heads  28 hidden sectors  32 total32  36 FAT size32
 */
struct fat_bpb {
        uint8_t jump[3];
        char oem[8];
        uint16_t bytes_per_sector;
        uint8_t sectors_per_cluster;
        uint16_t reserved_sectors;
        uint8_t fats;
        uint16_t root_entries;
        uint16_t total_sectors16;
        uint8_t media;
        uint16_t fat_size16;
        uint16_t sectors_per_track;
        uint16_t heads;
        uint32_t hidden_sectors;
        uint32_t total_sectors32;
        uint32_t fat_size32;
} __attribute__((packed));
_Static_assert(sizeof(struct fat_bpb) == 40, "FAT32 BPB layout");

struct mk_fat_file {
        fat_vol v;
        char path[256];  /* the ESP path */
        uint64_t dirent; /* byte offset of the file's short directory entry */
        uint32_t size;
        uint32_t *chain;
        size_t n_chain;
};

int fat_io_fail(const fat_vol *v, int r, const char *doing, mk_error *err)
{
        return mk_error_set(err, -r, "%s: ESP: %s: %s", v->where, doing,
                            r == -EIO ? "the image ends early (truncated?)" : strerror(-r));
}

int mk_fat_geometry_decode(const uint8_t bs[512], mk_fat_geometry *ret)
{
        struct fat_bpb b;
        memcpy(&b, bs, sizeof(b));
        uint32_t bps = le16toh(b.bytes_per_sector), spc = b.sectors_per_cluster;
        /* A volume under 65536 sectors has its size in the 16-bit field. */
        uint64_t total = le16toh(b.total_sectors16) ? le16toh(b.total_sectors16) : le32toh(b.total_sectors32);
        uint64_t fatsz = le32toh(b.fat_size32), reserved = le16toh(b.reserved_sectors);
        uint64_t meta = reserved + (uint64_t)b.fats * fatsz;
        if (bs[510] != 0x55 || bs[511] != 0xAA || bps < 512 || bps > 4096 || (bps & (bps - 1)) || !spc ||
            (spc & (spc - 1)) || (uint64_t)bps * spc > 65536 || !b.fats || b.fats > 4 || !reserved ||
            le16toh(b.fat_size16) || le16toh(b.root_entries) || !fatsz || meta >= total)
                return -EINVAL;
        uint64_t clusters = (total - meta) / spc, entries = fatsz * bps / 4;
        if (clusters + 2 > entries)
                clusters = entries - 2;
        if (clusters + 1 > FAT_BAD - 1)
                clusters = FAT_BAD - 2;
        *ret = (mk_fat_geometry){.sector_size = bps,
                                 .cluster_size = bps * spc,
                                 .reserved = reserved,
                                 .n_fats = b.fats,
                                 .fat_sectors = fatsz,
                                 .total_sectors = total,
                                 .data_sector = meta,
                                 .max_cluster = (uint32_t)(clusters + 1),
                                 .fsinfo_sector = fat_rd16(bs + 48)};
        return 0;
}

int fat_vol_open(int fd, const char *name, uint64_t offset, fat_vol *v, mk_error *err)
{
        *v = (fat_vol){.fat = 0};
        snprintf(v->where, sizeof(v->where), "%s", name);
        uint8_t bs[512];
        int r = mk_pread_all(fd, bs, sizeof(bs), offset);
        if (r < 0)
                return fat_io_fail(v, r, "reading the boot sector", err);
        mk_fat_geometry g;
        if (mk_fat_geometry_decode(bs, &g) < 0)
                return mk_error_set(err, EINVAL,
                                    "%s: the ESP at byte %" PRIu64 " is not a FAT32 volume mkimage can patch (its "
                                    "boot sector is damaged or not FAT32): rebuild the image",
                                    v->where, offset);
        v->fat = offset + g.reserved * g.sector_size;
        v->fat_size = g.fat_sectors * g.sector_size;
        v->n_fats = g.n_fats;
        v->data = offset + g.data_sector * g.sector_size;
        v->csize = g.cluster_size;
        v->max_cluster = g.max_cluster;
        v->root = fat_rd32(bs + 44) & FAT_ENTRY_MASK;
        /* FSInfo: valid when its three signatures are. */
        if (g.fsinfo_sector && g.fsinfo_sector < g.reserved) {
                uint8_t s[512];
                uint64_t at = offset + (uint64_t)g.fsinfo_sector * g.sector_size;
                if ((r = mk_pread_all(fd, s, sizeof(s), at)) < 0)
                        return fat_io_fail(v, r, "reading FSInfo", err);
                if (fat_rd32(s) == FSINFO_LEAD && fat_rd32(s + 484) == FSINFO_STRUC && s[510] == 0x55 && s[511] == 0xAA)
                        v->fsinfo = at;
        }
        return 0;
}

int fat_chain_load(int fd, const fat_vol *v, uint32_t first, const char *what, uint32_t **ret, size_t *ret_n,
                   mk_error *err)
{
        uint32_t *c_ = NULL;
        size_t n = 0, cap = 0;
        for (uint32_t c = first; c;) {
                if (c < 2 || c > v->max_cluster || n > v->max_cluster) {
                        free(c_);
                        return mk_error_set(err, EINVAL,
                                            "%s: ESP: the cluster chain of %s is broken (cluster %" PRIu32
                                            "): run fsck.vfat on the ESP or rebuild the image",
                                            v->where, what, c);
                }
                if (n == cap) {
                        cap = cap ? 2 * cap : 16;
                        uint32_t *nv = reallocarray(c_, cap, sizeof(*c_));
                        if (!nv) {
                                free(c_);
                                return mk_error_set(err, ENOMEM, "out of memory");
                        }
                        c_ = nv;
                }
                c_[n++] = c;
                uint8_t e[4];
                int r = mk_pread_all(fd, e, 4, v->fat + 4ull * c);
                if (r < 0) {
                        free(c_);
                        return fat_io_fail(v, r, "reading the FAT", err);
                }
                uint32_t next = fat_rd32(e) & FAT_ENTRY_MASK;
                c = next >= FAT_BAD ? 0 : next;
                if (next == FAT_BAD || !next) {
                        free(c_);
                        return mk_error_set(err, EINVAL,
                                            "%s: ESP: the cluster chain of %s runs into a %s cluster: run fsck.vfat on "
                                            "the ESP or rebuild the image",
                                            v->where, what, next ? "bad" : "free");
                }
        }
        *ret = c_;
        *ret_n = n;
        return 0;
}

int mk_fat_locate(int fd, const char *name, uint64_t offset, const char *esp_path, mk_fat_file **ret, mk_error *err)
{
        mk_fat_file *f = calloc(1, sizeof(*f));
        if (!f)
                return mk_error_set(err, ENOMEM, "out of memory");
        snprintf(f->path, sizeof(f->path), "%s", esp_path);
        int r = fat_vol_open(fd, name, offset, &f->v, err);
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
                if ((r = fat_dir_load(fd, &f->v, dir, &d, err)) >= 0 && (r = fat_dir_find(&d, p, len, &en)) >= 0)
                        f->dirent = fat_dir_slot_off(&f->v, &d, en.slot);
                uint8_t e[FAT_DIRENT] = {0};
                if (r >= 0)
                        memcpy(e, en.e, FAT_DIRENT);
                fat_dir_done(&d);
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
                                r = fat_chain_load(fd, &f->v, first, esp_path, &f->chain, &f->n_chain, err);
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
                        return fat_io_fail(&f->v, r, "reading a file's clusters", err);
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
                return fat_io_fail(&w->f->v, r, doing, w->err);
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
                        return fat_io_fail(&w->f->v, r, "reading the FAT", w->err);
                uint32_t v = htole32((fat_rd32(e) & ~FAT_ENTRY_MASK) | (value & FAT_ENTRY_MASK));
                if ((r = put(w, &v, 4, at, "writing the FAT")) < 0)
                        return r;
        }
        return 0;
}

int fat_write_clusters(int fd, const fat_vol *v, const uint32_t *chain, const void *data, size_t len,
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
                                return fat_io_fail(v, r, "writing a file", err);
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
        int r = fat_write_clusters(fd, &f->v, f->chain, data, len, dirty, userdata, err);
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
                        return fat_io_fail(&f->v, r, "reading FSInfo", err);
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
