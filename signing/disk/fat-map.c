/* SPDX-License-Identifier: MIT */
/*
 * The first FAT held in memory while files are edited (fat-edit.c): entries
 * changed here are written to every copy in one go per run of neighbours,
 * when the editor says so, so that it can order the writes (data, then the
 * FAT, then the folder entry). The free count is counted, never taken from
 * FSInfo, and written back there with the next-free hint.
 */
#include <errno.h>
#include <stdlib.h>

#include "signing/base/fileio.h"
#include "signing/disk/fat-map.h"

int mk_fat_map_load(int fd, const fat_vol *v, fat_map *m, mk_error *err)
{
        *m = (fat_map){.n = (size_t)v->max_cluster + 1};
        if (!(m->e = reallocarray(NULL, m->n, sizeof(*m->e))))
                return mk_error_set(err, ENOMEM, "out of memory");
        int r = mk_pread_all(fd, m->e, m->n * sizeof(*m->e), v->fat);
        if (r < 0) {
                mk_fat_map_done(m);
                return mk_fat_io_fail(v, r, "reading the FAT", err);
        }
        for (size_t c = 0; c < m->n; c++) {
                m->e[c] = le32toh(m->e[c]);
                if (c >= 2 && !(m->e[c] & FAT_ENTRY_MASK))
                        m->n_free++;
        }
        m->hint = 2;
        if (v->fsinfo) {
                uint8_t h[4];
                if ((r = mk_pread_all(fd, h, 4, v->fsinfo + 492)) < 0) {
                        mk_fat_map_done(m);
                        return mk_fat_io_fail(v, r, "reading FSInfo", err);
                }
                uint32_t hint = fat_rd32(h);
                if (hint >= 2 && hint <= v->max_cluster)
                        m->hint = hint;
        }
        return 0;
}

void mk_fat_map_done(fat_map *m)
{
        free(m->e);
        free(m->dirty);
        *m = (fat_map){.n = 0};
}

uint32_t mk_fat_map_get(const fat_map *m, uint32_t c)
{
        return c < m->n ? m->e[c] & FAT_ENTRY_MASK : FAT_BAD;
}

int mk_fat_map_set(fat_map *m, uint32_t c, uint32_t value)
{
        if (c < 2 || c >= m->n)
                return -EINVAL;
        if (m->n_dirty == m->cap_dirty) {
                size_t cap = m->cap_dirty ? 2 * m->cap_dirty : 64;
                uint32_t *d = reallocarray(m->dirty, cap, sizeof(*d));
                if (!d)
                        return -ENOMEM;
                m->dirty = d;
                m->cap_dirty = cap;
        }
        bool was_free = !(m->e[c] & FAT_ENTRY_MASK), is_free = !(value & FAT_ENTRY_MASK);
        m->n_free += (uint32_t)is_free - (uint32_t)was_free;
        m->e[c] = (m->e[c] & ~FAT_ENTRY_MASK) | (value & FAT_ENTRY_MASK);
        m->dirty[m->n_dirty++] = c;
        return 0;
}

int mk_fat_map_alloc(fat_map *m, size_t n, uint32_t *ret)
{
        if (n > m->n_free)
                return -ENOSPC;
        size_t got = 0;
        for (size_t step = 0, c = m->hint; got < n && step < m->n; step++, c = c + 1 < m->n ? c + 1 : 2)
                if (c >= 2 && !(m->e[c] & FAT_ENTRY_MASK)) {
                        ret[got] = (uint32_t)c;
                        if (got && mk_fat_map_set(m, ret[got - 1], (uint32_t)c) < 0)
                                return -ENOMEM;
                        if (mk_fat_map_set(m, (uint32_t)c, FAT_EOC) < 0)
                                return -ENOMEM;
                        got++;
                }
        if (got < n)
                return -ENOSPC;
        if (n)
                m->hint = ret[n - 1] + 1 < m->n ? ret[n - 1] + 1 : 2;
        return 0;
}

int mk_fat_map_free_chain(fat_map *m, uint32_t first)
{
        for (size_t steps = 0; first >= 2 && first < m->n && steps < m->n; steps++) {
                uint32_t next = m->e[first] & FAT_ENTRY_MASK;
                if (!next)
                        break;
                if (mk_fat_map_set(m, first, 0) < 0)
                        return -ENOMEM;
                first = next;
        }
        return 0;
}

static int cmp_u32(const void *a, const void *b)
{
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
        return x < y ? -1 : x > y;
}

int mk_fat_map_flush(int fd, const fat_vol *v, fat_map *m, mk_error *err)
{
        if (m->n_dirty)
                qsort(m->dirty, m->n_dirty, sizeof(*m->dirty), cmp_u32);
        uint32_t run[1024];
        for (size_t i = 0; i < m->n_dirty;) {
                /* a run of neighbouring entries, duplicates folded */
                uint32_t c0 = m->dirty[i];
                size_t n = 0;
                while (i < m->n_dirty && m->dirty[i] - c0 <= n && n < 1024) {
                        if (m->dirty[i] - c0 == n) {
                                run[n] = htole32(m->e[m->dirty[i]]);
                                n++;
                        }
                        i++;
                }
                for (unsigned k = 0; k < v->n_fats; k++) {
                        int r = mk_pwrite_all(fd, run, n * 4, v->fat + k * v->fat_size + 4ull * c0);
                        if (r < 0)
                                return mk_fat_io_fail(v, r, "writing the FAT", err);
                }
        }
        m->n_dirty = 0;
        return 0;
}

int mk_fat_map_fsinfo(int fd, const fat_vol *v, const fat_map *m, mk_error *err)
{
        if (!v->fsinfo)
                return 0;
        uint8_t b[8];
        fat_wr32(b, m->n_free);
        fat_wr32(b + 4, m->hint);
        int r = mk_pwrite_all(fd, b, sizeof(b), v->fsinfo + 488);
        return r < 0 ? mk_fat_io_fail(v, r, "writing FSInfo", err) : 0;
}
