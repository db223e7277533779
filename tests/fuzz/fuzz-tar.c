/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: tar archives as a tree source (builder/tree/tree-tar.c through
 * mk_tree_load, as `mkimage component pack` calls it on a tar source):
 * libarchive's ustar, pax and GNU tar readers behind the gzip, xz and zstd
 * filters, every member through the fstree path rules (names, parents, hard
 * links, symlinks, devices, xattrs), the spool file, then
 * mk_fstree_check_policy and a walk of the whole tree reading the first and
 * the last bytes of every regular file back from the spool. The archive is a
 * memfd (fuzz.h).
 *
 * libarchive and the decompressors are not instrumented: coverage comes from
 * our side of the calls only.
 */
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "builder/tree/fstree.h"
#include "builder/tree/tree-source.h"
#include "fuzz.h"

/*
 * The spool holds every member's data, and a few KiB of archive can claim
 * far more (a GNU sparse member with 4 GiB of holes, a compression bomb):
 * mk_tree_load_tar writes it all out (docs/fuzzing.md, finding 3). Here the
 * files this process writes stop at SPOOL_LIMIT (RLIMIT_FSIZE, with SIGXFSZ
 * ignored so the write fails with EFBIG instead of libFuzzer's -handle_xfsz
 * ending the run): such an input becomes a reported error, not gigabytes in
 * TMPDIR. The spool goes to /dev/shm unless TMPDIR is set; the reader
 * unlinks it as soon as it is created.
 */
#define SPOOL_LIMIT (16u << 20)
#define READ_PER_FILE (64u << 10)
#define READ_TOTAL (1u << 20)

static fuzz_file input;
static uint8_t *buf;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fuzz_file_open(&input, "fuzz.tar");
        buf = malloc(READ_PER_FILE);
        if (!buf)
                fuzz_die("out of memory");
        if (access("/dev/shm", W_OK) == 0)
                setenv("TMPDIR", "/dev/shm", 0);
        struct rlimit rl;
        if (getrlimit(RLIMIT_FSIZE, &rl) < 0)
                fuzz_die("getrlimit: %s", strerror(errno));
        if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > SPOOL_LIMIT) {
                rl.rlim_cur = SPOOL_LIMIT;
                if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
                        fuzz_die("setrlimit: %s", strerror(errno));
        }
        return 0;
}

typedef struct walk {
        fstree *tree;
        size_t nodes, read;
        mk_error err;
} walk;

static void read_file(walk *w, fsnode *n, uint64_t offset, size_t len)
{
        if (!len || w->read + len > READ_TOTAL)
                return;
        w->read += len;
        mk_error_clear(&w->err);
        if (mk_fsnode_read(n, offset, buf, len, &w->err) < 0 && !w->err.msg[0])
                fuzz_die("mk_fsnode_read failed without a message");
}

static int visit(fsnode *n, void *ctx)
{
        walk *w = ctx;
        w->nodes++;
        char *path = mk_fsnode_path(n);
        if (!path)
                fuzz_die("out of memory");
        fsnode *parent = mk_fsnode_parent(n);
        if (!parent != !*path)
                fuzz_die("'%s': only the root has no parent and an empty path", path);
        if (parent && mk_fsnode_get_kind(parent) != FSNODE_DIR)
                fuzz_die("'%s': the parent is not a directory", path);
        if (strlen(path) > FSTREE_PATH_MAX || strlen(mk_fsnode_name(n)) > FSTREE_NAME_MAX)
                fuzz_die("'%s': a path or a name over the limit", path);
        if (mk_fstree_lookup(w->tree, path) != n)
                fuzz_die("'%s': mk_fstree_lookup finds another node", path);
        free(path);
        for (size_t i = 0; i < mk_fsnode_nxattrs(n); i++) {
                size_t len;
                if (!mk_fsnode_xattr_key(n, i) || (!mk_fsnode_xattr_value(n, i, &len) && len))
                        fuzz_die("an xattr without a key or a value");
        }
        switch (mk_fsnode_get_kind(n)) {
        case FSNODE_DIR:
                for (size_t i = 0; i < mk_fsnode_nchildren(n); i++)
                        if (mk_fsnode_parent(mk_fsnode_child(n, i)) != n)
                                fuzz_die("a child whose parent is another directory");
                break;
        case FSNODE_SYMLINK: {
                const char *target = mk_fsnode_symlink_target(n);
                if (!target)
                        fuzz_die("symlink without a target");
                if (strlen(target) > FSTREE_SYMLINK_MAX)
                        fuzz_die("symlink target over FSTREE_SYMLINK_MAX");
                break;
        }
        case FSNODE_HARDLINK: {
                fsnode *target = mk_fsnode_hardlink_target(n);
                if (!target)
                        fuzz_die("hard link without a target");
                fsnode_kind k = mk_fsnode_get_kind(target);
                if (k == FSNODE_DIR || k == FSNODE_HARDLINK)
                        fuzz_die("hard link to a directory or to another hard link");
                if (mk_fsnode_nlink(target) < 2)
                        fuzz_die("hard link target with nlink %u", mk_fsnode_nlink(target));
                break;
        }
        case FSNODE_FILE: {
                uint64_t size = mk_fsnode_file_size(n);
                if (!mk_fsnode_file_source(n, NULL, NULL))
                        fuzz_die("regular file without a source");
                size_t len = size < READ_PER_FILE ? (size_t)size : READ_PER_FILE;
                read_file(w, n, 0, len);
                if (size > READ_PER_FILE)
                        read_file(w, n, size - READ_PER_FILE, READ_PER_FILE);
                break;
        }
        default:
                break;
        }
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        /* libFuzzer installs its own SIGXFSZ handler after LLVMFuzzerInitialize. */
        static int xfsz_ignored;
        if (!xfsz_ignored) {
                signal(SIGXFSZ, SIG_IGN);
                xfsz_ignored = 1;
        }
        fuzz_file_set(&input, data, size, 0);
        fstree *t = NULL;
        if (mk_fstree_new("fuzz.tar", &t) < 0)
                fuzz_die("out of memory");
        mk_error err = {0};
        /* A regular file, so mk_tree_load hands it to mk_tree_load_tar. */
        int r = mk_tree_load(input.path, t, 0, &err);
        fuzz_report("tar", r, &err);
        if (r < 0 && !err.msg[0])
                fuzz_die("mk_tree_load returned %d without a message", r);
        if (r >= 0) {
                mk_error_clear(&err);
                r = mk_fstree_check_policy(t, MK_FS_POLICY(0), &err);
                fuzz_report("policy (strict)", r, &err);
                if (r < 0 && !err.msg[0])
                        fuzz_die("mk_fstree_check_policy returned %d without a message", r);
                mk_error_clear(&err);
                if (mk_fstree_check_policy(
                            t, MK_FS_POLICY(FSTREE_ALLOW_DEVICES | FSTREE_ALLOW_SETUID | FSTREE_ALLOW_CAPS), &err) < 0)
                        fuzz_die("a policy allowing devices and setuid refused the tree: %s", err.msg);
                walk w = {.tree = t};
                mk_fstree_sort(t);
                if (mk_fstree_walk(t, visit, &w) < 0)
                        fuzz_die("mk_fstree_walk failed");
                if (w.nodes != mk_fstree_count(t))
                        fuzz_die("walked %zu nodes of %zu", w.nodes, mk_fstree_count(t));
        }
        /* A failed load leaves what it added so far: the tree is freed either way. */
        mk_fstree_free(t);
        return 0;
}
