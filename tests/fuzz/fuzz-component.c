/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: component images, squashfs (builder/squashfs/sqfs-read.c through
 * mk_component_open): the superblock, the tables, meta/component.yaml and its
 * parser, then the whole tree (mk_component_load_tree: names through the fstree
 * path rules, owners, modes, symlinks, devices, xattrs, hard links) and the
 * first bytes of every regular file. The image is a memfd (fuzz.h).
 *
 * libsquashfs and the decompressors are not instrumented: coverage comes
 * from our side of the calls only.
 */
#include "builder/component/component.h"
#include "builder/tree/fstree.h"
#include "fuzz.h"

/* corpus/component/open-inode-count.comp: an image claiming more inodes than
 * it has names is refused by mk_sqimage_load_tree (docs/fuzzing.md, finding 1). */

/*
 * libsquashfs 1.2 allocates an xattr value buffer of the size the image
 * states (up to 4 GiB, sqfs_xattr_reader_read_value) before it finds the
 * value runs past the table: harmless address space in a normal build, a
 * malloc-limit "crash" under libFuzzer. Allocations over 1 GiB fail here
 * instead (as under a ulimit), so the fuzzer checks that we report them.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
        return "allocator_may_return_null=1:max_allocation_size_mb=1024";
}

#define READ_PER_FILE (64u << 10)
#define READ_TOTAL (1u << 20)

static fuzz_file input;
static uint8_t *buf;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fuzz_file_open(&input, "fuzz.comp");
        buf = malloc(READ_PER_FILE);
        if (!buf)
                fuzz_die("out of memory");
        return 0;
}

typedef struct walk {
        size_t files, read;
        mk_error err;
} walk;

static int visit(fsnode *n, void *ctx)
{
        walk *w = ctx;
        char *path = mk_fsnode_path(n);
        if (!path)
                fuzz_die("out of memory");
        free(path);
        switch (mk_fsnode_get_kind(n)) {
        case FSNODE_SYMLINK:
                if (!mk_fsnode_symlink_target(n))
                        fuzz_die("symlink without a target");
                break;
        case FSNODE_HARDLINK:
                if (!mk_fsnode_hardlink_target(n))
                        fuzz_die("hard link without a target");
                break;
        case FSNODE_FILE: {
                uint64_t size = mk_fsnode_file_size(n);
                size_t len = size < READ_PER_FILE ? (size_t)size : READ_PER_FILE;
                if (w->read + len > READ_TOTAL)
                        break;
                w->files++;
                w->read += len;
                mk_error_clear(&w->err);
                if (len && mk_fsnode_read(n, 0, buf, len, &w->err) < 0 && !w->err.msg[0])
                        fuzz_die("mk_fsnode_read failed without a message");
                break;
        }
        default:
                break;
        }
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        fuzz_file_set(&input, data, size, 0);
        component *c = NULL;
        mk_error err = {0};
        int r = mk_component_open(input.path, &c, &err);
        fuzz_report("component", r, &err);
        if (r < 0) {
                if (c)
                        fuzz_die("mk_component_open failed but wrote *ret");
                if (!err.msg[0])
                        fuzz_die("mk_component_open returned %d without a message", r);
                return 0;
        }
        const component_meta *m = mk_component_get_meta(c);
        if (!m || !m->name || !m->raw)
                fuzz_die("open component without metadata");

        fstree *t = NULL;
        if (mk_fstree_new("fuzz.comp", &t) < 0)
                fuzz_die("out of memory");
        mk_error_clear(&err);
        r = mk_component_load_tree(c, t, NULL, 0, &err);
        fuzz_report("tree", r, &err);
        if (r < 0 && !err.msg[0])
                fuzz_die("mk_component_load_tree returned %d without a message", r);
        if (r >= 0) {
                mk_error_clear(&err);
                mk_fs_policy policy;
                mk_component_policy(m, &policy);
                r = mk_fstree_check_policy(t, &policy, &err);
                fuzz_report("policy", r, &err);
                walk w = {0};
                mk_fstree_sort(t);
                mk_fstree_walk(t, visit, &w);
        }
        /* The tree holds references to the image: free it first, then c. */
        mk_fstree_free(t);
        mk_component_close(c);
        return 0;
}
