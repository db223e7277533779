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

#define FAT_ENTRY_MASK 0x0FFFFFFFu
#define FAT_BAD 0x0FFFFFF7u
#define FAT_EOC 0x0FFFFFFFu
#define ATTR_VOLUME 0x08u
#define ATTR_DIR 0x10u
#define ATTR_LFN 0x0Fu
#define LFN_MAX_SLOTS 20u /* 255 characters */
#define NAME_MAX_ 255u
#define FSINFO_LEAD 0x41615252u
#define FSINFO_STRUC 0x61417272u
#define FSINFO_UNKNOWN 0xFFFFFFFFu

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
        char where[96];    /* "IMAGE" for messages, shortened */
        char path[256];    /* the ESP path */
        uint64_t fat;      /* byte offset of the first FAT in the image */
        uint64_t fat_size; /* bytes per FAT */
        unsigned n_fats;
        uint64_t data;  /* byte offset of cluster 2 */
        uint32_t csize; /* bytes per cluster */
        uint32_t max_cluster;
        uint64_t fsinfo; /* byte offset of FSInfo, 0 when it has none usable */
        uint64_t dirent; /* byte offset of the file's short directory entry */
        uint32_t size;
        uint32_t *chain;
        size_t n_chain;
};

static uint32_t rd32(const uint8_t *p)
{
        uint32_t v;
        memcpy(&v, p, 4);
        return le32toh(v);
}

static uint16_t rd16(const uint8_t *p)
{
        uint16_t v;
        memcpy(&v, p, 2);
        return le16toh(v);
}

static int io_fail(const mk_fat_file *f, int r, const char *doing, mk_error *err)
{
        return mk_error_set(err, -r, "%s: ESP: %s: %s", f->where, doing,
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
                                 .fsinfo_sector = rd16(bs + 48)};
        return 0;
}

static int geometry(int fd, uint64_t offset, mk_fat_file *f, mk_error *err)
{
        uint8_t bs[512];
        int r = mk_pread_all(fd, bs, sizeof(bs), offset);
        if (r < 0)
                return io_fail(f, r, "reading the boot sector", err);
        mk_fat_geometry g;
        if (mk_fat_geometry_decode(bs, &g) < 0)
                return mk_error_set(err, EINVAL,
                                    "%s: the ESP at byte %" PRIu64 " is not a FAT32 volume mkimage can patch (its "
                                    "boot sector is damaged or not FAT32): rebuild the image",
                                    f->where, offset);
        f->fat = offset + g.reserved * g.sector_size;
        f->fat_size = g.fat_sectors * g.sector_size;
        f->n_fats = g.n_fats;
        f->data = offset + g.data_sector * g.sector_size;
        f->csize = g.cluster_size;
        f->max_cluster = g.max_cluster;
        /* FSInfo: valid when its three signatures are. */
        if (g.fsinfo_sector && g.fsinfo_sector < g.reserved) {
                uint8_t s[512];
                uint64_t at = offset + (uint64_t)g.fsinfo_sector * g.sector_size;
                if ((r = mk_pread_all(fd, s, sizeof(s), at)) < 0)
                        return io_fail(f, r, "reading FSInfo", err);
                if (rd32(s) == FSINFO_LEAD && rd32(s + 484) == FSINFO_STRUC && s[510] == 0x55 && s[511] == 0xAA)
                        f->fsinfo = at;
        }
        return 0;
}

static bool valid_cluster(const mk_fat_file *f, uint32_t c)
{
        return c >= 2 && c <= f->max_cluster;
}

/* The cluster chain from first, bounded by the volume's cluster count. */
static int load_chain(int fd, const mk_fat_file *f, uint32_t first, const char *what, uint32_t **ret, size_t *ret_n,
                      mk_error *err)
{
        uint32_t *v = NULL;
        size_t n = 0, cap = 0;
        for (uint32_t c = first; c;) {
                if (!valid_cluster(f, c) || n > f->max_cluster) {
                        free(v);
                        return mk_error_set(err, EINVAL,
                                            "%s: ESP: the cluster chain of %s is broken (cluster %" PRIu32
                                            "): run fsck.vfat on the ESP or rebuild the image",
                                            f->where, what, c);
                }
                if (n == cap) {
                        cap = cap ? 2 * cap : 16;
                        uint32_t *nv = reallocarray(v, cap, sizeof(*v));
                        if (!nv) {
                                free(v);
                                return mk_error_set(err, ENOMEM, "out of memory");
                        }
                        v = nv;
                }
                v[n++] = c;
                uint8_t e[4];
                int r = mk_pread_all(fd, e, 4, f->fat + 4ull * c);
                if (r < 0) {
                        free(v);
                        return io_fail(f, r, "reading the FAT", err);
                }
                uint32_t next = rd32(e) & FAT_ENTRY_MASK;
                c = next >= FAT_BAD ? 0 : next;
                if (next == FAT_BAD || !next) {
                        free(v);
                        return mk_error_set(err, EINVAL,
                                            "%s: ESP: the cluster chain of %s runs into a %s cluster: run fsck.vfat on "
                                            "the ESP or rebuild the image",
                                            f->where, what, next ? "bad" : "free");
                }
        }
        *ret = v;
        *ret_n = n;
        return 0;
}

static uint8_t short_sum(const uint8_t name[11])
{
        uint8_t s = 0;
        for (int i = 0; i < 11; i++)
                s = (uint8_t)(((s & 1) << 7) + (s >> 1) + name[i]);
        return s;
}

/* The 8.3 name of a short entry as "BASE.EXT". */
static void short_name(const uint8_t *e, char out[13])
{
        size_t n = 0;
        for (int i = 0; i < 8 && e[i] != ' '; i++)
                out[n++] = (char)(i == 0 && e[i] == 0x05 ? 0xE5 : e[i]);
        if (e[8] != ' ') {
                out[n++] = '.';
                for (int i = 8; i < 11 && e[i] != ' '; i++)
                        out[n++] = (char)e[i];
        }
        out[n] = 0;
}

/* Long-name slots gathered while walking a directory. */
typedef struct lfn {
        char name[LFN_MAX_SLOTS * FAT_LFN_CHARS + 1]; /* ASCII; 0x7F for anything else (never matches) */
        unsigned expect;                              /* next sequence number wanted, 0 when complete */
        bool active;
        uint8_t sum;
} lfn;

static void lfn_slot(lfn *l, const uint8_t *e)
{
        static const uint8_t pos[FAT_LFN_CHARS] = {1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30};
        unsigned seq = e[0] & 0x1Fu;
        if (e[0] & 0x40) {
                if (!seq || seq > LFN_MAX_SLOTS) {
                        l->active = false;
                        return;
                }
                l->active = true;
                l->sum = e[13];
                l->expect = seq;
                memset(l->name, 0, sizeof(l->name));
        }
        if (!l->active || seq != l->expect || e[13] != l->sum) {
                l->active = false;
                return;
        }
        for (unsigned i = 0; i < FAT_LFN_CHARS; i++) {
                uint16_t ch = rd16(e + pos[i]);
                if (ch == 0 || ch == 0xFFFF)
                        break;
                l->name[(seq - 1) * FAT_LFN_CHARS + i] = ch < 0x80 ? (char)ch : 0x7F;
        }
        l->expect = seq - 1;
}

/* Find name in the directory starting at cluster dir; its short entry's offset and bytes. */
static int find_entry(int fd, mk_fat_file *f, uint32_t dir, const char *name, size_t name_len, uint64_t *ret_off,
                      uint8_t ret_e[FAT_DIRENT], mk_error *err)
{
        _cleanup_free_ uint32_t *chain = NULL;
        size_t n = 0;
        int r = load_chain(fd, f, dir, "a directory", &chain, &n, err);
        if (r < 0)
                return r;
        _cleanup_free_ uint8_t *buf = malloc(f->csize);
        if (!buf)
                return mk_error_set(err, ENOMEM, "out of memory");
        lfn l = {0};
        for (size_t i = 0; i < n; i++) {
                uint64_t at = f->data + (uint64_t)(chain[i] - 2) * f->csize;
                if ((r = mk_pread_all(fd, buf, f->csize, at)) < 0)
                        return io_fail(f, r, "reading a directory", err);
                for (uint32_t o = 0; o < f->csize; o += FAT_DIRENT) {
                        const uint8_t *e = buf + o;
                        if (e[0] == 0x00)
                                return -ENOENT;
                        if (e[0] == 0xE5) {
                                l.active = false;
                                continue;
                        }
                        if ((e[11] & 0x3F) == ATTR_LFN) {
                                lfn_slot(&l, e);
                                continue;
                        }
                        bool long_ok = l.active && l.expect == 0 && l.sum == short_sum(e);
                        l.active = false;
                        if (e[11] & ATTR_VOLUME)
                                continue;
                        char sn[13];
                        short_name(e, sn);
                        const char *cand = long_ok ? l.name : sn;
                        if (strlen(cand) == name_len && !strncasecmp(cand, name, name_len)) {
                                *ret_off = at + o;
                                memcpy(ret_e, e, FAT_DIRENT);
                                return 0;
                        }
                }
        }
        return -ENOENT;
}

int mk_fat_locate(int fd, const char *name, uint64_t offset, const char *esp_path, mk_fat_file **ret, mk_error *err)
{
        mk_fat_file *f = calloc(1, sizeof(*f));
        if (!f)
                return mk_error_set(err, ENOMEM, "out of memory");
        snprintf(f->where, sizeof(f->where), "%s", name);
        snprintf(f->path, sizeof(f->path), "%s", esp_path);
        int r = geometry(fd, offset, f, err);
        uint8_t rs[512];
        if (r >= 0 && (r = mk_pread_all(fd, rs, sizeof(rs), offset)) < 0)
                r = io_fail(f, r, "reading the boot sector", err);
        uint32_t dir = r >= 0 ? rd32(rs + 44) & FAT_ENTRY_MASK : 0; /* the root directory's cluster */
        uint8_t e[FAT_DIRENT] = {0};
        for (const char *p = esp_path; r >= 0;) {
                p += strspn(p, "/");
                size_t len = strcspn(p, "/");
                const char *rest = p + len + strspn(p + len, "/");
                if (!len || len > NAME_MAX_) {
                        r = mk_error_set(err, EINVAL, "%s: ESP: '%s' is not a file path", f->where, esp_path);
                        break;
                }
                r = find_entry(fd, f, dir, p, len, &f->dirent, e, err);
                if (r == -ENOENT)
                        r = mk_error_set(err, ENOENT, "%s: ESP: no '%.*s' (looking for '%s')", f->where,
                                         (int)(p + len - esp_path), esp_path, esp_path);
                if (r < 0)
                        break;
                uint32_t first = (uint32_t)rd16(e + 20) << 16 | rd16(e + 26);
                if (!*rest) {
                        if (e[11] & ATTR_DIR)
                                r = mk_error_set(err, EISDIR, "%s: ESP: '%s' is a folder, not a file", f->where,
                                                 esp_path);
                        else if (first)
                                r = load_chain(fd, f, first, esp_path, &f->chain, &f->n_chain, err);
                        f->size = rd32(e + 28);
                        if (r >= 0 && f->size > (uint64_t)f->n_chain * f->csize)
                                r = mk_error_set(err, EINVAL,
                                                 "%s: ESP: '%s' claims %" PRIu32 " bytes but holds %zu clusters: run "
                                                 "fsck.vfat on the ESP or rebuild the image",
                                                 f->where, esp_path, f->size, f->n_chain);
                        break;
                }
                if (!(e[11] & ATTR_DIR)) {
                        r = mk_error_set(err, ENOTDIR, "%s: ESP: '%.*s' is a file, not a folder", f->where,
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

uint64_t mk_fat_file_capacity(const mk_fat_file *f)
{
        return (uint64_t)f->n_chain * f->csize;
}

int mk_fat_file_stream(int fd, const mk_fat_file *f,
                       int (*sink)(const void *data, size_t len, void *userdata, mk_error *err), void *userdata,
                       mk_error *err)
{
        if (f->size > mk_fat_file_capacity(f))
                return mk_error_set(err, EUCLEAN, "%s: /%s: its size is more than its clusters hold", f->where,
                                    f->path);
        size_t run_max = (size_t)1 << 20;
        _cleanup_free_ uint8_t *buf = malloc(run_max);
        if (!buf)
                return mk_error_set(err, ENOMEM, "out of memory");
        uint64_t left = f->size;
        for (size_t i = 0; i < f->n_chain && left;) {
                /* a run of consecutive clusters, read in one go (at most 1 MiB) */
                size_t k = 1;
                while (i + k < f->n_chain && f->chain[i + k] == f->chain[i] + k && (k + 1) * f->csize <= run_max)
                        k++;
                size_t n = k * f->csize < left ? k * f->csize : (size_t)left;
                int r = mk_pread_all(fd, buf, n, f->data + (uint64_t)(f->chain[i] - 2) * f->csize);
                if (r < 0)
                        return io_fail((mk_fat_file *)f, r, "reading a file's clusters", err);
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
                range(userdata, f->data + (uint64_t)(f->chain[i] - 2) * f->csize, f->csize);
                for (unsigned k = 0; k < f->n_fats; k++)
                        range(userdata, f->fat + k * f->fat_size + 4ull * f->chain[i], 4);
        }
        range(userdata, f->dirent, 32);
        if (f->fsinfo)
                range(userdata, f->fsinfo + 488, 4);
}

mk_fat_file *mk_fat_file_dup(const mk_fat_file *f, const char *name)
{
        mk_fat_file *d = malloc(sizeof(*d));
        if (!d)
                return NULL;
        *d = *f;
        snprintf(d->where, sizeof(d->where), "%s", name);
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
                return io_fail(w->f, r, doing, w->err);
        if (w->dirty)
                w->dirty(w->ud, off, len);
        return 0;
}

/* Set a FAT entry in every copy, keeping its top 4 bits. */
static int set_entry(writer *w, uint32_t c, uint32_t value)
{
        for (unsigned k = 0; k < w->f->n_fats; k++) {
                uint64_t at = w->f->fat + k * w->f->fat_size + 4ull * c;
                uint8_t e[4];
                int r = mk_pread_all(w->fd, e, 4, at);
                if (r < 0)
                        return io_fail(w->f, r, "reading the FAT", w->err);
                uint32_t v = htole32((rd32(e) & ~FAT_ENTRY_MASK) | (value & FAT_ENTRY_MASK));
                if ((r = put(w, &v, 4, at, "writing the FAT")) < 0)
                        return r;
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
                                    f->where, len, mk_fat_file_capacity(f), f->path);
        writer w = {fd, f, dirty, userdata, err};
        size_t keep = (len + f->csize - 1) / f->csize;
        static const uint8_t zero[4096];
        /* The content, a run of consecutive clusters at a time; the last cluster's tail zeroed. */
        int r = 0;
        for (size_t i = 0, done = 0; i < keep && r >= 0;) {
                size_t j = i + 1;
                while (j < keep && f->chain[j] == f->chain[j - 1] + 1)
                        j++;
                uint64_t at = f->data + (uint64_t)(f->chain[i] - 2) * f->csize, room = (uint64_t)(j - i) * f->csize;
                size_t n = len - done < room ? len - done : (size_t)room;
                r = put(&w, (const uint8_t *)data + done, n, at, "writing a file");
                for (uint64_t z = n; r >= 0 && z < room;) {
                        size_t k = room - z < sizeof(zero) ? (size_t)(room - z) : sizeof(zero);
                        r = put(&w, zero, k, at + z, "writing a file");
                        z += k;
                }
                done += n;
                i = j;
        }
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
        if (r >= 0 && freed && f->fsinfo) {
                uint8_t c[4];
                if ((r = mk_pread_all(fd, c, 4, f->fsinfo + 488)) < 0)
                        return io_fail(f, r, "reading FSInfo", err);
                uint32_t count = rd32(c);
                if (count != FSINFO_UNKNOWN && count + freed <= f->max_cluster - 1) {
                        uint32_t v = htole32(count + freed);
                        r = put(&w, &v, 4, f->fsinfo + 488, "writing FSInfo");
                }
        }
        if (r < 0)
                return r;
        f->n_chain = keep;
        f->size = (uint32_t)len;
        return 0;
}
