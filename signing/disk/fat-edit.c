/* SPDX-License-Identifier: MIT */
/*
 * Creating, replacing, renaming and removing files of a FAT32 volume in an
 * image (fat-edit.h). Every change is planned in memory (the first FAT in a
 * fat_map, each folder it touches in a fat_dir) and then written in the
 * order the header gives (the plan's pieces are in fat-plan.c). Facts used
 * (Microsoft FAT specification): a folder's first two entries are "."
 * (itself) and ".." (its parent, cluster 0 for the root).
 */
#include "signing/disk/fat-edit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "signing/base/fileio.h"
#include "signing/disk/fat-edit-internal.h"
#include "signing/disk/fat-map.h"
#include "signing/disk/fat-name.h"

int mk_fat_read(int fd, const char *name, uint64_t offset, const char *esp_path, size_t max, char **ret,
                size_t *ret_len, mk_error *err)
{
        mk_fat_file *f = NULL;
        int r = mk_fat_locate(fd, name, offset, esp_path, &f, err);
        if (r < 0)
                return r;
        if (mk_fat_file_size(f) > max) {
                r = mk_error_set(err, EFBIG,
                                 "%s: ESP: '%s' is %" PRIu32 " bytes, more than the %zu it may be: replace it with "
                                 "the file the image was built with",
                                 name, esp_path, mk_fat_file_size(f), max);
                mk_fat_file_free(f);
                return r;
        }
        fat_sink s = {.buf = malloc((size_t)mk_fat_file_size(f) + 1)};
        if (!s.buf)
                r = mk_error_set(err, ENOMEM, "out of memory");
        else
                r = mk_fat_file_stream(fd, f, mk_fat_sink_add, &s, err);
        mk_fat_file_free(f);
        if (r < 0) {
                free(s.buf);
                return r;
        }
        s.buf[s.len] = 0;
        *ret = s.buf;
        *ret_len = s.len;
        return 0;
}

int mk_fat_sink_add(const void *data, size_t len, void *userdata, mk_error *err)
{
        fat_sink *s = userdata;
        memcpy(s->buf + s->len, data, len);
        s->len += len;
        return 0;
}

int mk_fat_list(int fd, const char *name, uint64_t offset, const char *esp_dir, char ***ret, size_t *ret_n,
                mk_error *err)
{
        fat_vol v;
        fat_path p;
        fat_dir d = {0};
        int r = mk_fat_vol_open(fd, name, offset, &v, err);
        if (r < 0 || (r = mk_fat_split(&v, esp_dir, true, &p, err)) < 0 ||
            (r = mk_fat_walk(fd, &v, esp_dir, &p, p.n, NULL, &d, err)) < 0)
                return r;
        size_t n = 0, pos = 0;
        char **names = calloc(d.n_slots + 1, sizeof(*names));
        fat_ent en;
        while (names && mk_fat_dir_next(&d, &pos, true, &en) > 0)
                if (!(names[n++] = strdup(en.name)))
                        names = mk_fat_names_free(names);
        mk_fat_dir_done(&d);
        if (!names)
                return mk_error_set(err, ENOMEM, "out of memory");
        *ret = names;
        *ret_n = n;
        return 0;
}

char **mk_fat_names_free(char **names)
{
        for (size_t i = 0; names && names[i]; i++)
                free(names[i]);
        free(names);
        return NULL;
}

int mk_fat_free_bytes(int fd, const char *name, uint64_t offset, uint64_t *ret_free, uint32_t *ret_cluster,
                      mk_error *err)
{
        fat_vol v;
        fat_map m;
        int r = mk_fat_vol_open(fd, name, offset, &v, err);
        if (r < 0 || (r = mk_fat_map_load(fd, &v, &m, err)) < 0)
                return r;
        *ret_free = (uint64_t)m.n_free * v.csize;
        *ret_cluster = v.csize;
        mk_fat_map_done(&m);
        return 0;
}

/* The message for a change that does not fit. */
static int no_room(const fat_vol *v, const fat_map *m, const char *path, const char *doing, mk_error *err)
{
        return mk_error_set(err, ENOSPC,
                            "%s: ESP: no room to %s '%s' (%" PRIu32 " free clusters of %" PRIu32
                            " bytes): remove files from the ESP, or give the layout a larger ESP and rebuild",
                            v->where, doing, path, m->n_free, v->csize);
}

static int no_alias(const fat_vol *v, const char *path, mk_error *err)
{
        return mk_error_set(err, EEXIST, "%s: ESP: no short alias is left for '%s': choose another name", v->where,
                            path);
}

/* The message for a plan that failed with r (-ENOSPC, -EEXIST: no alias, -ENOMEM). */
static int place_fail(const fat_vol *v, const fat_map *m, int r, const char *path, const char *doing, mk_error *err)
{
        if (r == -ENOSPC)
                return no_room(v, m, path, doing, err);
        if (r == -EEXIST)
                return no_alias(v, path, err);
        return mk_error_set(err, -r, "out of memory");
}

/* A new folder below parent (its first cluster allocated in m), holding "." and "..". */
static int dir_create(const fat_vol *v, fat_map *m, const fat_dir *parent, const fat_stamp *st, fat_dir *d)
{
        *d = (fat_dir){.created = true, .dirty_lo = SIZE_MAX};
        uint32_t c;
        int r = mk_fat_map_alloc(m, 1, &c);
        if (r < 0)
                return r;
        d->first = c;
        d->chain = malloc(sizeof(*d->chain));
        d->buf = calloc(1, v->csize);
        if (!d->chain || !d->buf)
                return -ENOMEM;
        d->chain[0] = c;
        d->n_chain = 1;
        d->n_slots = v->csize / FAT_DIRENT;
        mk_fat_entry_init(d->buf, FAT_ATTR_DIR, c, 0, st);
        d->buf[0] = '.';
        mk_fat_entry_init(d->buf + FAT_DIRENT, FAT_ATTR_DIR, parent->first == v->root ? 0 : parent->first, 0, st);
        d->buf[FAT_DIRENT] = d->buf[FAT_DIRENT + 1] = '.';
        return 0;
}

/* The planned write: the folders from the deepest existing one (dirs[0]) down to the file's. */
typedef struct plan {
        fat_vol v;
        fat_map m;
        fat_path p;
        fat_dir dirs[FAT_PATH_MAX];
        size_t n_dirs;
        uint32_t *chain;
} plan;

static void plan_done(plan *w)
{
        for (size_t i = 0; i < w->n_dirs; i++)
                mk_fat_dir_done(&w->dirs[i]);
        mk_fat_map_done(&w->m);
        free(w->chain);
}

static int write_planned(int fd, plan *w, const char *esp_path, const void *data, size_t len, mk_error *err)
{
        fat_vol *v = &w->v;
        fat_stamp st;
        size_t depth = 0;
        int r = mk_fat_stamp_now(v, &st, err);
        if (r < 0 || (r = mk_fat_split(v, esp_path, false, &w->p, err)) < 0 ||
            (r = mk_fat_map_load(fd, v, &w->m, err)) < 0)
                return r;
        for (size_t i = 0; i < w->p.n; i++) {
                const char *why = mk_fat_name_problem(w->p.part[i], w->p.len[i]);
                if (why)
                        return mk_error_set(err, EINVAL, "%s: ESP: cannot write '%s': %s (choose another name)",
                                            v->where, esp_path, why);
        }
        if (len > UINT32_MAX)
                return mk_error_set(err, EFBIG, "%s: ESP: '%s' is %zu bytes, more than a FAT file holds", v->where,
                                    esp_path, len);
        if ((r = mk_fat_walk(fd, v, esp_path, &w->p, w->p.n - 1, &depth, &w->dirs[0], err)) < 0)
                return r;
        w->n_dirs = 1;
        size_t last = w->p.n - 1;
        fat_ent old = {.e = NULL};
        uint8_t entry[FAT_DIRENT];
        if (depth == last && mk_fat_dir_find(&w->dirs[0], w->p.part[last], w->p.len[last], &old) == 0) {
                if (old.e[11] & FAT_ATTR_DIR)
                        return mk_error_set(err, EISDIR, "%s: ESP: '%s' is a folder, not a file", v->where, esp_path);
                memcpy(entry, old.e, FAT_DIRENT);
        }
        /* the plan, in memory: the file's clusters, the new folders, their entries */
        size_t n_clusters = (len + v->csize - 1) / v->csize, first = 0, n_slots = 0;
        if (!(w->chain = calloc(n_clusters + 1, sizeof(*w->chain))))
                return mk_error_set(err, ENOMEM, "out of memory");
        r = mk_fat_map_alloc(&w->m, n_clusters, w->chain);
        for (size_t i = depth; r >= 0 && i < last; i++, w->n_dirs++)
                r = dir_create(v, &w->m, &w->dirs[w->n_dirs - 1], &st, &w->dirs[w->n_dirs]);
        for (size_t i = depth; r >= 0 && i <= last; i++) {
                fat_dir *d = &w->dirs[i - depth];
                size_t f, n;
                if (i == last && old.e)
                        break;
                if (i < last)
                        mk_fat_entry_init(entry, FAT_ATTR_DIR, w->dirs[i - depth + 1].first, 0, &st);
                else
                        mk_fat_entry_init(entry, FAT_ATTR_ARCHIVE, w->chain[0], (uint32_t)len, &st);
                r = mk_fat_dir_place(d, v, &w->m, w->p.part[i], w->p.len[i], entry, &f, &n);
                if (i == depth)
                        first = f, n_slots = n;
        }
        if (r < 0)
                return place_fail(v, &w->m, r, esp_path, "write", err);
        /* data, then the FAT, then the entry (or the link that shows it), then the old chain freed */
        if ((r = mk_fat_write_clusters(fd, v, w->chain, data, len, NULL, NULL, err)) < 0)
                return r;
        for (size_t i = 0; i < w->n_dirs; i++)
                if ((r = mk_fat_dir_stage(fd, v, &w->dirs[i], err)) < 0)
                        return r;
        if ((r = mk_fat_map_flush(fd, v, &w->m, err)) < 0 || (r = mk_fat_dir_link(fd, v, &w->dirs[0], &w->m, err)) < 0)
                return r;
        if (old.e) {
                uint32_t old_first = fat_entry_cluster(old.e);
                mk_fat_entry_set(entry, w->chain[0], (uint32_t)len, &st);
                memcpy(w->dirs[0].buf + old.slot * FAT_DIRENT, entry, FAT_DIRENT);
                if ((r = mk_fat_dir_put(fd, v, &w->dirs[0], old.slot, 1, err)) < 0)
                        return r;
                if (old_first && mk_fat_map_free_chain(&w->m, old_first) < 0)
                        return mk_error_set(err, ENOMEM, "out of memory");
                if ((r = mk_fat_map_flush(fd, v, &w->m, err)) < 0)
                        return r;
        } else if ((r = mk_fat_dir_commit(fd, v, &w->dirs[0], first, n_slots, err)) < 0)
                return r;
        return mk_fat_map_fsinfo(fd, v, &w->m, err);
}

int mk_fat_write(int fd, const char *name, uint64_t offset, const char *esp_path, const void *data, size_t len,
                 mk_error *err)
{
        plan w = {.n_dirs = 0};
        int r = mk_fat_vol_open(fd, name, offset, &w.v, err);
        if (r >= 0)
                r = write_planned(fd, &w, esp_path, data, len, err);
        plan_done(&w);
        return r;
}

/* The image opened, the FAT loaded and path's folder walked: what rename and remove start with. */
static int open_parent(int fd, const char *name, uint64_t offset, const char *path, plan *w, fat_ent *ret,
                       mk_error *err)
{
        int r = mk_fat_vol_open(fd, name, offset, &w->v, err);
        if (r < 0 || (r = mk_fat_split(&w->v, path, false, &w->p, err)) < 0 ||
            (r = mk_fat_map_load(fd, &w->v, &w->m, err)) < 0 ||
            (r = mk_fat_walk(fd, &w->v, path, &w->p, w->p.n - 1, NULL, &w->dirs[0], err)) < 0)
                return r;
        w->n_dirs = 1;
        size_t last = w->p.n - 1;
        if (mk_fat_dir_find(&w->dirs[0], w->p.part[last], w->p.len[last], ret) < 0)
                return mk_error_set(err, ENOENT, "%s: ESP: no '%s' (looking for '%s')", w->v.where, path, path);
        return 0;
}

static int rename_planned(int fd, plan *w, const fat_ent *src, const char *from, const char *to, mk_error *err)
{
        fat_vol *v = &w->v;
        fat_path pt;
        fat_ent dst;
        int r = mk_fat_split(v, to, false, &pt, err);
        if (r < 0)
                return r;
        const fat_path *pf = &w->p;
        bool same = pf->n == pt.n;
        for (size_t i = 0; same && i + 1 < pt.n; i++)
                same = pf->len[i] == pt.len[i] && !strncasecmp(pf->part[i], pt.part[i], pt.len[i]);
        if (!same)
                return mk_error_set(err, EXDEV,
                                    "%s: ESP: cannot rename '%s' to '%s': they are in different folders (rename "
                                    "within a folder, or write the new file and remove the old one)",
                                    v->where, from, to);
        const char *leaf = pt.part[pt.n - 1];
        size_t len = pt.len[pt.n - 1];
        const char *why = mk_fat_name_problem(leaf, len);
        if (why)
                return mk_error_set(err, EINVAL, "%s: ESP: cannot rename '%s' to '%s': %s (choose another name)",
                                    v->where, from, to, why);
        fat_dir *d = &w->dirs[0];
        if (mk_fat_dir_find(d, leaf, len, &dst) == 0 && dst.slot != src->slot)
                return mk_error_set(err, EEXIST, "%s: ESP: cannot rename '%s' to '%s': '%s' exists (remove it first)",
                                    v->where, from, to, to);
        uint8_t entry[FAT_DIRENT], sn[11];
        memcpy(entry, src->e, FAT_DIRENT);
        entry[12] = 0; /* no NT case bits: the new name says its case */
        size_t old_n = src->slot - src->first + 1, first, n;
        for (size_t i = src->first; i <= src->slot; i++)
                d->buf[i * FAT_DIRENT] = FAT_DELETED;
        bool has_long;
        if (mk_fat_name_short(d, leaf, len, sn, &has_long) < 0)
                return no_alias(v, to, err);
        if (mk_fat_name_slots(len, has_long) <= old_n) {
                /* in place: the new name at the end of the old one's slots, one write */
                n = mk_fat_name_slots(len, has_long);
                first = src->slot + 1 - n;
                memcpy(d->buf + src->slot * FAT_DIRENT, entry, FAT_DIRENT);
                mk_fat_name_compose(leaf, len, sn, has_long, d->buf + first * FAT_DIRENT);
                return mk_fat_dir_put(fd, v, d, src->first, old_n, err);
        }
        /* else the old name goes first: a cut in between loses the file's clusters, never cross-links them */
        r = mk_fat_dir_place(d, v, &w->m, leaf, len, entry, &first, &n);
        if (r < 0)
                return place_fail(v, &w->m, r, to, "rename to", err);
        if (first <= src->slot && first + n > src->first) {
                size_t lo = first < src->first ? first : src->first;
                size_t hi = first + n > src->slot + 1 ? first + n : src->slot + 1;
                return mk_fat_dir_put(fd, v, d, lo, hi - lo, err);
        }
        if ((r = mk_fat_dir_put(fd, v, d, src->first, old_n - 1, err)) < 0 ||
            (r = mk_fat_dir_put(fd, v, d, src->slot, 1, err)) < 0 || (r = mk_fat_dir_stage(fd, v, d, err)) < 0 ||
            (r = mk_fat_map_flush(fd, v, &w->m, err)) < 0 || (r = mk_fat_dir_link(fd, v, d, &w->m, err)) < 0 ||
            (r = mk_fat_dir_commit(fd, v, d, first, n, err)) < 0)
                return r;
        return mk_fat_map_fsinfo(fd, v, &w->m, err);
}

int mk_fat_rename(int fd, const char *name, uint64_t offset, const char *from, const char *to, mk_error *err)
{
        plan w = {.n_dirs = 0};
        fat_ent src;
        int r = open_parent(fd, name, offset, from, &w, &src, err);
        if (r >= 0)
                r = rename_planned(fd, &w, &src, from, to, err);
        plan_done(&w);
        return r;
}

int mk_fat_remove(int fd, const char *name, uint64_t offset, const char *esp_path, mk_error *err)
{
        plan w = {.n_dirs = 0};
        fat_ent en;
        int r = open_parent(fd, name, offset, esp_path, &w, &en, err);
        fat_dir *d = &w.dirs[0];
        if (r >= 0 && (en.e[11] & FAT_ATTR_DIR))
                r = mk_error_set(err, EISDIR, "%s: ESP: '%s' is a folder, not a file", w.v.where, esp_path);
        if (r >= 0) {
                /* the long name first: a cut in between leaves the file under its short name */
                uint32_t c = fat_entry_cluster(en.e);
                for (size_t i = en.first; i <= en.slot; i++)
                        d->buf[i * FAT_DIRENT] = FAT_DELETED;
                if ((r = mk_fat_dir_put(fd, &w.v, d, en.first, en.slot - en.first, err)) >= 0 &&
                    (r = mk_fat_dir_put(fd, &w.v, d, en.slot, 1, err)) >= 0 && c &&
                    (r = mk_fat_map_free_chain(&w.m, c)) < 0)
                        r = mk_error_set(err, ENOMEM, "out of memory");
                if (r >= 0 && (r = mk_fat_map_flush(fd, &w.v, &w.m, err)) >= 0)
                        r = mk_fat_map_fsinfo(fd, &w.v, &w.m, err);
        }
        plan_done(&w);
        return r;
}
