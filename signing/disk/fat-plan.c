/* SPDX-License-Identifier: MIT */
/*
 * The file editor's plan (fat-edit-internal.h): paths followed, room for
 * new entries found or made, and the writes that order a change. Facts used
 * (Microsoft FAT specification): a short entry holds the attributes at 11,
 * creation time and date at 14 and 16, the access date at 18, the first
 * cluster's high half at 20, the write time and date at 22 and 24, the low
 * half at 26 and the size at 28; a date is (year - 1980) << 9 | month << 5 |
 * day, a time hour << 11 | minute << 5 | seconds / 2. Readers stop at an
 * entry whose first byte is 0x00.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "signing/base/epoch.h"
#include "signing/base/fileio.h"
#include "signing/disk/fat-edit-internal.h"
#include "signing/disk/fat-name.h"

int mk_fat_split(const fat_vol *v, const char *path, bool may_be_root, fat_path *p, mk_error *err)
{
        p->n = 0;
        for (const char *s = path;;) {
                s += strspn(s, "/");
                if (!*s)
                        break;
                size_t len = strcspn(s, "/");
                if (p->n == FAT_PATH_MAX || len > FAT_NAME_MAX)
                        return mk_error_set(err, EINVAL,
                                            "%s: ESP: '%s' is not a path mkimage can follow (at most %d folders "
                                            "deep, 255 characters a name): shorten it",
                                            v->where, path, FAT_PATH_MAX - 1);
                p->part[p->n] = s;
                p->len[p->n++] = len;
                s += len;
        }
        if (!p->n && !may_be_root)
                return mk_error_set(err, EINVAL, "%s: ESP: '%s' is not a file path", v->where, path);
        return 0;
}

int mk_fat_walk(int fd, const fat_vol *v, const char *path, const fat_path *p, size_t n, size_t *ret_depth, fat_dir *d,
                mk_error *err)
{
        int r = mk_fat_dir_load(fd, v, v->root, d, err);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                fat_ent en;
                if (mk_fat_dir_find(d, p->part[i], p->len[i], &en) < 0) {
                        if (ret_depth) {
                                *ret_depth = i;
                                return 0;
                        }
                        r = mk_error_set(err, ENOENT, "%s: ESP: no '%.*s' (looking for '%s')", v->where,
                                         (int)(p->part[i] + p->len[i] - path), path, path);
                        break;
                }
                if (!(en.e[11] & FAT_ATTR_DIR)) {
                        r = mk_error_set(err, ENOTDIR, "%s: ESP: '%.*s' is a file, not a folder", v->where,
                                         (int)(p->part[i] + p->len[i] - path), path);
                        break;
                }
                uint32_t first = fat_entry_cluster(en.e);
                mk_fat_dir_done(d);
                r = mk_fat_dir_load(fd, v, first ? first : v->root, d, err);
        }
        if (r < 0) {
                mk_fat_dir_done(d);
                return r;
        }
        if (ret_depth)
                *ret_depth = n;
        return 0;
}

int mk_fat_dir_put(int fd, const fat_vol *v, const fat_dir *d, size_t slot, size_t n, mk_error *err)
{
        size_t per = v->csize / FAT_DIRENT;
        while (n) {
                size_t k = per - slot % per < n ? per - slot % per : n;
                int r = mk_pwrite_all(fd, d->buf + slot * FAT_DIRENT, k * FAT_DIRENT, fat_dir_slot_off(v, d, slot));
                if (r < 0)
                        return mk_fat_io_fail(v, r, "writing a folder", err);
                slot += k;
                n -= k;
        }
        return 0;
}

/*
 * Room for n slots in d: the first run of free ones, else clusters added at
 * its end (the new entry then starts in them; the end markers before them
 * turned into deleted entries, so that readers go on). The link from a
 * folder's clusters on disk to the added ones is left to mk_fat_dir_link.
 */
static int dir_room(fat_dir *d, const fat_vol *v, fat_map *m, size_t n, size_t *ret_slot)
{
        for (size_t i = 0, run = 0; i < d->n_slots; i++) {
                uint8_t c = d->buf[i * FAT_DIRENT];
                run = c == 0x00 || c == FAT_DELETED ? run + 1 : 0;
                if (run == n) {
                        *ret_slot = i + 1 - n;
                        return 0;
                }
        }
        size_t per = v->csize / FAT_DIRENT, k = (n + per - 1) / per, disk_slots = d->n_disk * per;
        uint32_t added[FAT_LFN_MAX_SLOTS + 1];
        int r = mk_fat_map_alloc(m, k, added);
        if (r < 0)
                return r;
        uint32_t *chain = reallocarray(d->chain, d->n_chain + k, sizeof(*chain));
        if (chain)
                d->chain = chain;
        uint8_t *buf = chain ? reallocarray(d->buf, d->n_chain + k, v->csize) : NULL;
        if (!buf)
                return -ENOMEM;
        d->buf = buf;
        for (size_t i = 0; i < d->n_slots; i++)
                if (d->buf[i * FAT_DIRENT] == 0x00) {
                        d->buf[i * FAT_DIRENT] = FAT_DELETED;
                        if (i < disk_slots) {
                                d->dirty_lo = i < d->dirty_lo ? i : d->dirty_lo;
                                d->dirty_hi = i + 1 > d->dirty_hi ? i + 1 : d->dirty_hi;
                        }
                }
        if (d->n_chain > d->n_disk && (r = mk_fat_map_set(m, d->chain[d->n_chain - 1], added[0])) < 0)
                return r;
        memset(d->buf + d->n_chain * v->csize, 0, k * v->csize);
        memcpy(d->chain + d->n_chain, added, k * sizeof(*added));
        *ret_slot = d->n_slots;
        d->n_chain += k;
        d->n_slots += k * per;
        return 0;
}

int mk_fat_dir_place(fat_dir *d, const fat_vol *v, fat_map *m, const char *name, size_t len,
                     const uint8_t entry[FAT_DIRENT], size_t *ret_first, size_t *ret_n)
{
        uint8_t sn[11];
        bool has_long;
        int r = mk_fat_name_short(d, name, len, sn, &has_long);
        size_t n = mk_fat_name_slots(len, has_long), slot;
        if (r < 0 || (r = dir_room(d, v, m, n, &slot)) < 0)
                return r;
        uint8_t *at = d->buf + slot * FAT_DIRENT;
        memcpy(at + (n - 1) * FAT_DIRENT, entry, FAT_DIRENT);
        mk_fat_name_compose(name, len, sn, has_long, at);
        *ret_first = slot;
        *ret_n = n;
        return 0;
}

int mk_fat_dir_stage(int fd, const fat_vol *v, fat_dir *d, mk_error *err)
{
        size_t per = v->csize / FAT_DIRENT;
        int r = 0;
        if (d->dirty_lo < d->dirty_hi)
                r = mk_fat_dir_put(fd, v, d, d->dirty_lo, d->dirty_hi - d->dirty_lo, err);
        if (r >= 0 && d->n_chain > d->n_disk)
                r = mk_fat_dir_put(fd, v, d, d->n_disk * per, (d->n_chain - d->n_disk) * per, err);
        d->dirty_lo = SIZE_MAX;
        d->dirty_hi = 0;
        return r;
}

int mk_fat_dir_link(int fd, const fat_vol *v, fat_dir *d, fat_map *m, mk_error *err)
{
        if (!d->n_disk || d->n_chain == d->n_disk)
                return 0;
        if (mk_fat_map_set(m, d->chain[d->n_disk - 1], d->chain[d->n_disk]) < 0)
                return mk_error_set(err, ENOMEM, "out of memory");
        d->n_disk = d->n_chain;
        return mk_fat_map_flush(fd, v, m, err);
}

/* The two commit writes of a new entry in a folder's clusters on disk: its short entry, then its long name. */
int mk_fat_dir_commit(int fd, const fat_vol *v, const fat_dir *d, size_t first, size_t n, mk_error *err)
{
        if (first >= d->n_disk * (v->csize / FAT_DIRENT))
                return 0; /* in added clusters: mk_fat_dir_link made it visible */
        int r = mk_fat_dir_put(fd, v, d, first + n - 1, 1, err);
        return r < 0 ? r : mk_fat_dir_put(fd, v, d, first, n - 1, err);
}

int mk_fat_stamp_now(const fat_vol *v, fat_stamp *ret, mk_error *err)
{
        uint64_t t = 0;
        const char *sde = getenv("SOURCE_DATE_EPOCH");
        int r = mk_source_date_epoch(UINT64_MAX, &t, err);
        if (r < 0)
                return mk_error_prefix(err, r, "%s: ESP: the time of new files", v->where);
        if (!sde || !*sde)
                t = (uint64_t)time(NULL);
        /* what a FAT date can hold: 1980-01-01 to 2107-12-31 */
        t = t < 315532800u ? 315532800u : t > 4354819199u ? 4354819199u : t;
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        ret->date = (uint16_t)((tm.tm_year + 1900 - 1980) << 9 | (tm.tm_mon + 1) << 5 | tm.tm_mday);
        ret->time = (uint16_t)(tm.tm_hour << 11 | tm.tm_min << 5 | tm.tm_sec / 2);
        return 0;
}

void mk_fat_entry_init(uint8_t e[FAT_DIRENT], uint8_t attr, uint32_t cluster, uint32_t size, const fat_stamp *s)
{
        memset(e, 0, FAT_DIRENT);
        memset(e, ' ', 11);
        e[11] = attr;
        fat_wr16(e + 14, s->time);
        fat_wr16(e + 16, s->date);
        fat_wr16(e + 18, s->date);
        mk_fat_entry_set(e, cluster, size, s);
}

void mk_fat_entry_set(uint8_t e[FAT_DIRENT], uint32_t cluster, uint32_t size, const fat_stamp *s)
{
        fat_wr16(e + 18, s->date);
        fat_wr16(e + 20, (uint16_t)(cluster >> 16));
        fat_wr16(e + 22, s->time);
        fat_wr16(e + 24, s->date);
        fat_wr16(e + 26, (uint16_t)cluster);
        fat_wr32(e + 28, size);
}
