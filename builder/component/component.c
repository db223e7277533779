/* SPDX-License-Identifier: MIT */
/* Packing a component, and opening one again. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "builder/component/component.h"
#include "builder/component/pack-cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "signing/base/escape.h"
#include "signing/base/macro.h"
#include "builder/image/output.h"
#include "builder/squashfs/sqfs-file.h"
#include "builder/tree/tree-source.h"

/* The metadata: from --meta, or read out of the tree (a directory or a tar may hold it). */
static int find_meta(const char *src, fstree *t, const component_pack_opts *o, component_meta **ret, mk_error *err)
{
        fsnode *n = mk_fstree_lookup(t, COMPONENT_META_PATH);
        if (o->meta_path) {
                if (n)
                        return mk_error_set(err, EEXIST, "%s: holds %s and --meta %s was given (use one of the two)",
                                            src, COMPONENT_META_PATH, o->meta_path);
                return 0; /* loaded before the tree */
        }
        if (!n)
                return mk_error_set(err, ENOENT, "%s: no component metadata (add %s to it or pass --meta FILE)", src,
                                    COMPONENT_META_PATH);
        if (mk_fsnode_get_kind(n) != FSNODE_FILE)
                return mk_error_set(err, EINVAL, "%s: %s is not a regular file (make it one)", src,
                                    COMPONENT_META_PATH);
        uint64_t size = mk_fsnode_file_size(n);
        _cleanup_free_ char *name = NULL;
        if (asprintf(&name, "%s/%s", src, COMPONENT_META_PATH) < 0)
                return mk_error_set(err, ENOMEM, "out of memory");
        if (size > COMPONENT_META_MAX)
                return mk_error_set(err, EFBIG, "%s: %llu bytes, more than the limit of %u (keep the metadata short)",
                                    name, (unsigned long long)size, COMPONENT_META_MAX);
        _cleanup_free_ char *buf = malloc((size_t)size + 1);
        if (!buf)
                return mk_error_set(err, ENOMEM, "out of memory");
        int r = mk_fsnode_read(n, 0, buf, (size_t)size, err);
        if (r < 0)
                return r;
        return mk_component_meta_parse(name, buf, (size_t)size, ret, err);
}

/* meta/ is reserved: nothing but meta/component.yaml may be there. */
static int check_reserved(const char *src, fstree *t, mk_error *err)
{
        fsnode *m = mk_fstree_lookup(t, "meta");
        if (!m)
                return 0;
        if (mk_fsnode_get_kind(m) != FSNODE_DIR)
                return mk_error_set(err, EINVAL,
                                    "%s: entry 'meta': must be a directory (meta/ is reserved for "
                                    "component metadata; rename the entry)",
                                    src);
        mk_fstree_sort(t);
        for (size_t i = 0; i < mk_fsnode_nchildren(m); i++) {
                fsnode *c = mk_fsnode_child(m, i);
                if (!strcmp(mk_fsnode_name(c), "component.yaml"))
                        continue;
                char q[1024];
                return mk_error_set(err, EINVAL,
                                    "%s: entry 'meta/%s': meta/ is reserved for component metadata "
                                    "(move the entry elsewhere)",
                                    src, mk_quote(mk_fsnode_name(c), q, sizeof q));
        }
        return 0;
}

static int apply_owners(const char *src, fstree *t, const component_meta *m, mk_error *err)
{
        for (size_t i = 0; i < m->n_owners; i++) {
                const component_owner *o = &m->owners[i];
                fsnode *n = mk_fstree_lookup(t, o->path);
                if (!n)
                        return mk_error_set(err, ENOENT, "%s:%u:%u: owners item %zu: '%s' is not in %s (fix the path)",
                                            m->origin, o->line, o->col, i + 1, o->path, src);
                mk_fsnode_set_owner(n, o->has_uid ? o->uid : mk_fsnode_uid(n), o->has_gid ? o->gid : mk_fsnode_gid(n));
                if (o->has_mode)
                        mk_fsnode_set_perm(n, o->mode);
        }
        return 0;
}

/* Put the metadata at meta/component.yaml, 0644 root:root under a 0755 root:root meta/. */
static int add_meta(fstree *t, const component_meta *m, mk_error *err)
{
        fsnode *n = mk_fstree_lookup(t, COMPONENT_META_PATH);
        int r = 0;
        if (!n)
                r = mk_fstree_add_file_mem(t, COMPONENT_META_PATH, &(fsnode_attr){.perm = 0644}, m->raw, m->raw_len, &n,
                                           err);
        if (r < 0)
                return r;
        mk_fsnode_set_owner(n, 0, 0);
        mk_fsnode_set_perm(n, 0644);
        fsnode *d = mk_fsnode_parent(n);
        mk_fsnode_set_owner(d, 0, 0);
        mk_fsnode_set_perm(d, 0755);
        return 0;
}

/* Each path the metadata declares setuid/setgid or with capabilities is in the payload, and is so. */
static int check_declared(fstree *t, const component_meta *m, mk_error *err)
{
        for (int k = 0; k < 2; k++) {
                char **list = k ? m->caps : m->setuid;
                size_t n = k ? m->n_caps : m->n_setuid;
                for (size_t i = 0; i < n; i++) {
                        fsnode *node = mk_fstree_lookup(t, list[i]);
                        bool ok = node && mk_fsnode_get_kind(node) != FSNODE_DIR;
                        if (ok && !k)
                                ok = mk_fsnode_mode(node) & 06000;
                        if (ok && k) {
                                ok = false;
                                for (size_t x = 0; x < mk_fsnode_nxattrs(node); x++)
                                        ok |= !strcmp(mk_fsnode_xattr_key(node, x), FSTREE_XATTR_CAPS);
                        }
                        if (ok)
                                continue;
                        char q[1024];
                        return mk_error_set(err, EINVAL,
                                            "%s: '%s' lists /%s, but the payload %s (drop it from the list)", m->origin,
                                            k ? "capabilities" : "setuid", mk_quote(list[i], q, sizeof q),
                                            !node ? "has no such file"
                                            : k   ? "gives it no file capabilities"
                                                  : "has it without a setuid or setgid bit");
                }
        }
        return 0;
}

static int build_tree(const char *src, const component_pack_opts *o, fstree **ret_tree, component_meta **ret_meta,
                      mk_error *err)
{
        fstree *t = NULL;
        component_meta *m = NULL;
        int r = o->meta_path ? mk_component_meta_load(o->meta_path, &m, err) : 0;
        if (r < 0)
                return r;
        r = mk_fstree_new(src, &t);
        if (r < 0) {
                mk_component_meta_free(m);
                return mk_error_set(err, -r, "out of memory");
        }
        mk_fs_policy policy;
        if ((r = mk_tree_load(src, t, TREE_ROOT_OWNED, err)) >= 0 && (r = find_meta(src, t, o, &m, err)) >= 0 &&
            (r = check_reserved(src, t, err)) >= 0 && (r = apply_owners(src, t, m, err)) >= 0 &&
            (mk_component_policy(m, &policy), (r = mk_fstree_check_policy(t, &policy, err)) >= 0) &&
            (r = check_declared(t, m, err)) >= 0)
                r = add_meta(t, m, err);
        if (r < 0) {
                mk_component_meta_free(m);
                mk_fstree_free(t);
                return r;
        }
        *ret_tree = t;
        *ret_meta = m;
        return 0;
}

/* A cached pack is usable when it opens as a component. */
static int cached_pack_opens(const char *path)
{
        component *c = NULL;
        mk_error e = {0};
        int r = mk_component_open(path, &c, &e);
        if (r >= 0)
                mk_component_close(c);
        return r;
}

int mk_component_pack(const char *src, const char *out, component_pack_opts *o, component_meta **ret_meta,
                      mk_error *err)
{
        int r = mk_sqwrite_check_opts(&o->sq, err);
        if (r < 0)
                return r;
        struct stat st;
        if (stat(src, &st) < 0)
                return mk_error_set(err, errno, "%s: %s (give a directory or a tar archive)", src, strerror(errno));
        fstree *t = NULL;
        component_meta *m = NULL;
        if ((r = build_tree(src, o, &t, &m, err)) < 0)
                return r;
        char key[65] = "";
        o->cache_hit = false;
        if (o->cache_dir && (r = mk_pack_key(t, &o->sq, key, err)) >= 0 &&
            (r = mk_pack_cache_get(o->cache_dir, key, cached_pack_opens, out, err)) > 0)
                o->cache_hit = true;
        if (r < 0 || o->cache_hit) {
                mk_fstree_free(t);
                if (r >= 0 && ret_meta)
                        *ret_meta = TAKE_PTR(m);
                mk_component_meta_free(m);
                return r < 0 ? r : 0;
        }
        mk_output *out_file = NULL;
        sqfs_file_t *file = NULL;
        r = mk_output_open(out, &out_file, err);
        if (r >= 0)
                r = mk_sqfile_open_fd(mk_output_fd(out_file), out, 0, 0, SQFILE_WRITE | SQFILE_TRUNCATE, &file, err);
        if (r >= 0)
                r = mk_sqwrite_tree(t, file, &o->sq, NULL, err);
        sqfs_destroy(file);
        mk_fstree_free(t);
        if (r >= 0) {
                r = mk_output_commit(out_file, err);
                out_file = NULL;
        }
        mk_output_abort(out_file);
        if (r >= 0 && o->cache_dir)
                r = mk_pack_cache_put(o->cache_dir, key, out, err);
        if (r >= 0 && ret_meta)
                *ret_meta = TAKE_PTR(m);
        mk_component_meta_free(m);
        return r < 0 ? r : 0;
}

struct component {
        sqimage *img;
        component_meta *meta;
};

int mk_component_open(const char *path, component **ret, mk_error *err)
{
        _cleanup_free_ component *c = calloc(1, sizeof(*c));
        if (!c)
                return mk_error_set(err, ENOMEM, "out of memory");
        int r = mk_sqimage_open(path, &c->img, err);
        if (r < 0)
                return r;
        _cleanup_free_ char *buf = NULL, *name = NULL;
        size_t len;
        r = mk_sqimage_read_file(c->img, COMPONENT_META_PATH, COMPONENT_META_MAX, &buf, &len, err);
        if (r == -ENOENT) {
                mk_error_clear(err);
                r = mk_error_set(err, ENOENT,
                                 "%s: not a component: it has no %s (pack it with mkimage component "
                                 "pack)",
                                 path, COMPONENT_META_PATH);
        }
        if (r >= 0 && asprintf(&name, "%s:%s", path, COMPONENT_META_PATH) < 0)
                r = mk_error_set(err, ENOMEM, "out of memory");
        if (r >= 0)
                r = mk_component_meta_parse(name, buf, len, &c->meta, err);
        if (r < 0) {
                mk_sqimage_unref(c->img);
                return r;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

component *mk_component_close(component *c)
{
        if (c) {
                mk_sqimage_unref(c->img);
                mk_component_meta_free(c->meta);
                free(c);
        }
        return NULL;
}

const component_meta *mk_component_get_meta(const component *c)
{
        return c->meta;
}

sqimage *mk_component_image(component *c)
{
        return c->img;
}

int mk_component_load_tree(component *c, fstree *tree, const char *const *skip, size_t nskip, mk_error *err)
{
        _cleanup_free_ const char **all = calloc(nskip + 1, sizeof(*all));
        if (!all)
                return mk_error_set(err, ENOMEM, "out of memory");
        all[0] = "meta";
        for (size_t i = 0; i < nskip; i++)
                all[i + 1] = skip[i];
        mk_fs_policy policy;
        mk_component_policy(c->meta, &policy);
        return mk_sqimage_load_tree(c->img, tree, all, nskip + 1, &policy, err);
}
