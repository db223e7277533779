/* SPDX-License-Identifier: MIT */
#include "builder/build/compose.h"

#include <errno.h>
#include <sqfs/super.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signing/base/macro.h"
#include "builder/squashfs/sqfs-copy.h"
#include "builder/build/build-data.h"
#include "builder/build/os-release.h"
#include "builder/tree/tree-source.h"

/* Load one input into tree, leaving out skip[] (paths without the leading '/'; meta/ always). */
static int load_input(mk_input *in, fstree *tree, const char *const *skip, size_t nskip, mk_error *err)
{
        if (in->is_dir)
                return mk_tree_load_dir(in->mc->path, tree, TREE_ROOT_OWNED, err);
        return mk_component_load_tree(in->comp, tree, skip, nskip, err);
}

typedef struct conflict_ctx {
        const mk_model *m;
        mk_inputs *inputs;
        fstree **trees;
        size_t k; /* the component being checked against those before it */
        mk_error *err;
} conflict_ctx;

static bool overridden(const mk_model_component *mc, const char *path)
{
        for (size_t i = 0; i < mc->n_overrides; i++)
                if (!strcmp(mc->overrides[i] + 1, path))
                        return true;
        return false;
}

/* Is path overridden by a component after j? */
static bool overridden_after(const mk_inputs *inputs, size_t j, const char *path)
{
        for (size_t k = j + 1; k < inputs->n; k++)
                if (overridden(inputs->items[k].mc, path))
                        return true;
        return false;
}

static int check_node(fsnode *n, void *ud)
{
        conflict_ctx *c = ud;
        if (mk_fsnode_get_kind(n) == FSNODE_DIR)
                return 0;
        _cleanup_free_ char *path = mk_fsnode_path(n);
        if (!path)
                return mk_error_set(c->err, ENOMEM, "out of memory");
        for (size_t j = 0; j < c->k; j++) {
                fsnode *o = c->trees[j] ? mk_fstree_lookup(c->trees[j], path) : NULL;
                if (!o)
                        continue;
                bool o_dir = mk_fsnode_get_kind(o) == FSNODE_DIR;
                const mk_model_component *a = c->inputs->items[j].mc, *b = c->inputs->items[c->k].mc;
                if (!o_dir && overridden_after(c->inputs, j, path))
                        continue;
                return mk_error_set(c->err, EEXIST,
                                    "%s:%u:%u: components '%s' and '%s' both provide '/%s' (remove it from one, or "
                                    "list it under 'overrides:' of '%s' to let it win)",
                                    c->m->path, b->line, b->col, a->name, b->name, path, b->name);
        }
        return 0;
}

static int check_overrides(const mk_model *m, mk_inputs *inputs, fstree **trees, mk_error *err)
{
        for (size_t k = 0; k < inputs->n; k++) {
                const mk_model_component *mc = inputs->items[k].mc;
                for (size_t i = 0; i < mc->n_overrides; i++) {
                        fsnode *n = trees[k] ? mk_fstree_lookup(trees[k], mc->overrides[i] + 1) : NULL;
                        if (!n || mk_fsnode_get_kind(n) == FSNODE_DIR)
                                return mk_error_set(
                                        err, ENOENT,
                                        "%s:%u:%u: component '%s' overrides '%s' but does not provide it as a "
                                        "file (remove it from 'overrides')",
                                        m->path, mc->line, mc->col, mc->name, mc->overrides[i]);
                        for (size_t j = 0; j < k; j++)
                                if (inputs->items[j].is_dir && trees[j] &&
                                    mk_fstree_lookup(trees[j], mc->overrides[i] + 1))
                                        return mk_error_set(
                                                err, ENOTSUP,
                                                "%s:%u:%u: component '%s' overrides '%s' of the unsigned directory "
                                                "input '%s', which cannot be filtered (pack that input as a component)",
                                                m->path, mc->line, mc->col, mc->name, mc->overrides[i],
                                                inputs->items[j].mc->name);
                }
        }
        return 0;
}

static int add_provenance(fstree *tree, mk_inputs *inputs, mk_error *err)
{
        const fsnode_attr dir = {.perm = 0755}, file = {.perm = 0644};
        for (size_t i = 0; i < inputs->n; i++) {
                if (!inputs->items[i].comp)
                        continue;
                const component_meta *meta = mk_component_get_meta(inputs->items[i].comp);
                char path[256];
                snprintf(path, sizeof(path), MK_PROVENANCE_DIR "/%s.yaml", meta->name);
                int r;
                if (!mk_fstree_lookup(tree, MK_PROVENANCE_DIR) &&
                    (r = mk_fstree_add_dir(tree, MK_PROVENANCE_DIR, &dir, NULL, err)) < 0)
                        return r;
                if ((r = mk_fstree_add_file_mem(tree, path, &file, meta->raw, meta->raw_len, NULL, err)) < 0)
                        return r;
        }
        return 0;
}

/* A root that a kernel boots has the init it starts: /sbin/init, through any symlinks, an executable file. */
static int check_init(const mk_model *m, const mk_inputs *inputs, fstree *tree, mk_error *err)
{
        bool boots = false;
        for (size_t k = 0; k < inputs->n; k++)
                boots |= mk_input_type(&inputs->items[k]) == COMPONENT_KERNEL;
        fsnode *init = boots ? mk_fstree_resolve(tree, "sbin/init") : NULL;
        if (init && mk_fsnode_get_kind(init) == FSNODE_HARDLINK)
                init = mk_fsnode_hardlink_target(init);
        if (!boots || (init && mk_fsnode_get_kind(init) == FSNODE_FILE && (mk_fsnode_mode(init) & 0111)))
                return 0;
        return mk_error_set(err, ENOENT,
                            "%s: the root has no /sbin/init, or it is not an executable file (the kernel starts it "
                            "after the initrd): add a base component that provides it (busybox's; systemd-sysv's "
                            "in a Debian root)",
                            m->path);
}

int mk_compose_tree(const mk_model *m, mk_inputs *inputs, fstree **ret, mk_error *err)
{
        int r = 0;
        fstree **trees = calloc(inputs->n, sizeof(*trees));
        if (!trees)
                return mk_error_set(err, ENOMEM, "out of memory");
        /* Pass 1: each component alone, to find clashes and check overrides. */
        for (size_t k = 0; k < inputs->n && r >= 0; k++) {
                if (!mk_input_in_root(&inputs->items[k]))
                        continue; /* goes to the data partition or the ESP */
                if ((r = mk_fstree_new(inputs->items[k].mc->name, &trees[k])) < 0)
                        break;
                if ((r = load_input(&inputs->items[k], trees[k], NULL, 0, err)) < 0)
                        break;
                const char *own = mk_os_release_clash(trees[k]);
                if (own)
                        r = mk_error_set(err, EEXIST,
                                         "%s:%u:%u: component '%s' provides '%s', which mkimage generates from the "
                                         "model (name, brand, version; docs/model.md): remove it from the component",
                                         m->path, inputs->items[k].mc->line, inputs->items[k].mc->col,
                                         inputs->items[k].mc->name, own);
        }
        if (r >= 0)
                r = check_overrides(m, inputs, trees, err);
        for (size_t k = 1; k < inputs->n && r >= 0; k++) {
                if (!trees[k])
                        continue;
                conflict_ctx c = {.m = m, .inputs = inputs, .trees = trees, .k = k, .err = err};
                r = mk_fstree_walk(trees[k], check_node, &c);
        }
        for (size_t k = 0; k < inputs->n; k++)
                mk_fstree_free(trees[k]);
        free(trees);
        if (r < 0)
                return r;

        /* Pass 2: the merged tree, leaving out what later components override. */
        _cleanup_(mk_fstree_freep) fstree *tree = NULL;
        if ((r = mk_fstree_new("the root", &tree)) < 0)
                return mk_error_set(err, -r, "out of memory");
        size_t total = 1; /* never 0 for calloc */
        for (size_t k = 0; k < inputs->n; k++)
                total += inputs->items[k].mc->n_overrides;
        _cleanup_free_ const char **skip = calloc(total, sizeof(*skip));
        if (!skip)
                return mk_error_set(err, ENOMEM, "out of memory");
        for (size_t j = 0; j < inputs->n; j++) {
                if (!mk_input_in_root(&inputs->items[j]))
                        continue;
                size_t nskip = 0;
                for (size_t k = j + 1; k < inputs->n; k++)
                        for (size_t i = 0; i < inputs->items[k].mc->n_overrides; i++)
                                skip[nskip++] = inputs->items[k].mc->overrides[i] + 1;
                if ((r = load_input(&inputs->items[j], tree, skip, nskip, err)) < 0)
                        return r;
        }
        if ((r = add_provenance(tree, inputs, err)) < 0 || (r = mk_os_release_add(tree, m, err)) < 0 ||
            (r = check_init(m, inputs, tree, err)) < 0)
                return r;
        *ret = TAKE_PTR(tree);
        return 0;
}

void mk_compose_opts(const mk_model *m, unsigned jobs, uint32_t mtime, sqwrite_opts *ret)
{
        static const int ids[] = {[MK_COMP_ZSTD] = SQFS_COMP_ZSTD,
                                  [MK_COMP_XZ] = SQFS_COMP_XZ,
                                  [MK_COMP_GZIP] = SQFS_COMP_GZIP,
                                  [MK_COMP_LZ4] = SQFS_COMP_LZ4};
        *ret = (sqwrite_opts){.compressor = ids[m->rootfs.compressor],
                              .level = (int)m->rootfs.level,
                              .block_size = m->rootfs.block_size,
                              .workers = jobs,
                              .mtime = mtime,
                              .pad = 4096};
        const char *no = getenv("MKIMAGE_NO_BLOCK_COPY");
        ret->block_copy = !no || !*no;
}

bool mk_compose_data_path(const mk_input *in, const sqwrite_opts *so, char *buf, size_t len)
{
        if (!mk_input_in_root(in))
                return false;
        if (!in->comp) {
                snprintf(buf, len, "recompressed (an unpacked directory)");
                return true;
        }
        sqfs_compressor_config_t src, dst;
        char why[160];
        mk_sqimage_compressor_config(mk_component_image(in->comp), &src);
        if (mk_sqwrite_compressor_config(so, &dst)) {
                snprintf(buf, len, "recompressed");
                return true;
        }
        bool ok = mk_sqcopy_compatible(&src, &dst, why, sizeof why);
        if (ok && !so->block_copy)
                snprintf(buf, len, "recompressed (block copy turned off by MKIMAGE_NO_BLOCK_COPY)");
        else
                snprintf(buf, len, "%s (%s)", ok ? "block copy" : "recompressed", why);
        return true;
}
