/* SPDX-License-Identifier: MIT */
/*
 * fstree: an in-memory file tree, the common currency between tree sources
 * (a host directory, a tar archive, another squashfs image) and the squashfs
 * writer.
 *
 * Nodes hold metadata only. A regular file's bytes stay where they are and
 * are reached through an fs_source (a read callback over a host file, a spool
 * file, memory, or a file inside another squashfs), so a tree of 100k files
 * and hundreds of MB costs a few hundred bytes per entry.
 *
 * Every path added is validated (see fstree_check_path); errors read
 * "ORIGIN: entry 'PATH': what (fix)", where ORIGIN is the name given to
 * mk_fstree_new (an archive or a directory). Children are kept unsorted while
 * the tree is built and sorted in strcmp byte order by mk_fstree_sort, which the
 * iteration functions need (squashfs directories must be sorted).
 */
#ifndef MK_FSTREE_H
#define MK_FSTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "signing/base/error.h"
#include "signing/base/macro.h"

#define FSTREE_NAME_MAX 255     /* bytes in one path component */
#define FSTREE_PATH_MAX 4095    /* bytes in a whole path */
#define FSTREE_SYMLINK_MAX 4095 /* bytes in a symlink target */
/*
 * Limits every tree source meets (a directory, a tar archive, a squashfs
 * component): deeper paths and more nodes are refused with a message, so the
 * tree's recursive walks are bounded by FSTREE_DEPTH_MAX frames and its
 * memory by FSTREE_NODES_MAX nodes (a few hundred bytes each), whatever an
 * input claims.
 */
#define FSTREE_DEPTH_MAX 256        /* names in one path */
#define FSTREE_NODES_MAX (1u << 20) /* nodes in a tree, hard-link names included */

typedef struct fstree fstree;
typedef struct fsnode fsnode;
typedef struct fs_source fs_source;

typedef enum fsnode_kind {
        FSNODE_DIR,
        FSNODE_FILE,
        FSNODE_SYMLINK,
        FSNODE_CHRDEV,
        FSNODE_BLKDEV,
        FSNODE_FIFO,
        FSNODE_SOCKET,
        FSNODE_HARDLINK, /* another name for mk_fsnode_hardlink_target() */
} fsnode_kind;

/* Attributes given when a node is added. perm holds the 07777 bits only. */
typedef struct fsnode_attr {
        uint32_t perm;
        uint32_t uid, gid;
        int64_t mtime;
} fsnode_attr;

/*
 * Where a regular file's bytes live. Implementations embed fs_source as their
 * first member and fill ops; the tree holds one reference per file node.
 */
typedef struct fs_source_ops {
        /*
         * Read exactly len bytes at offset of file (a FSNODE_FILE node whose
         * source is src; mk_fsnode_file_source() gives its key). Returns 0 or a
         * negative errno with err set, naming the file.
         */
        int (*read_at)(fs_source *src, const fsnode *file, uint64_t offset, void *buf, size_t len, mk_error *err);
        /* Release a file node's key pointer (NULL: nothing to release). */
        void (*free_key)(fs_source *src, void *key_ptr);
        /* Free the source itself once the last reference is gone. */
        void (*destroy)(fs_source *src);
} fs_source_ops;

struct fs_source {
        const fs_source_ops *ops;
        unsigned refs; /* set to 1 by the creator */
};

fs_source *mk_fs_source_ref(fs_source *src);
/* Drops one reference (NULL allowed); returns NULL. */
fs_source *mk_fs_source_unref(fs_source *src);

/* A source whose file keys are malloc'd buffers owned by the node. */
fs_source *mk_fs_source_memory(void);

/*
 * New empty tree with a root directory (0755, root:root, mtime 0). origin
 * names the input in error messages ("rootfs.tar", "build/hello"); it is
 * copied. Returns 0 or -ENOMEM.
 */
int mk_fstree_new(const char *origin, fstree **ret) __attribute__((warn_unused_result));
/* Frees the tree and drops its source references (NULL allowed); returns NULL. */
fstree *mk_fstree_free(fstree *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(fstree *, mk_fstree_free)

const char *mk_fstree_origin(const fstree *t);
fsnode *mk_fstree_root(fstree *t);
/* Number of nodes including the root and hard-link names. */
size_t mk_fstree_count(const fstree *t);

/*
 * Check a relative entry path as an archive would hold it: "./" prefixes,
 * "." and empty components and a trailing "/" are accepted and dropped;
 * refused are absolute paths, "..", names over FSTREE_NAME_MAX bytes, paths
 * over FSTREE_PATH_MAX bytes or FSTREE_DEPTH_MAX names, names that are not
 * valid UTF-8 or that contain a newline. On success *ret is the normalized path ("" for the root), newly
 * allocated. origin is used in the message.
 */
int mk_fstree_normalize_path(const char *origin, const char *path, char **ret, mk_error *err)
        __attribute__((warn_unused_result));

/*
 * Check one name as a directory listing holds it (squashfs, a host
 * directory): the rules of mk_fstree_normalize_path for one component, and
 * also refused: an empty name, ".", "..", a '/' or a NUL byte in it. len is
 * the name's length in bytes (it may hold a NUL). dir is the parent's path
 * for the message ("" for the root).
 */
int mk_fstree_check_name(const char *origin, const char *dir, const char *name, size_t len, mk_error *err)
        __attribute__((warn_unused_result));
/*
 * Add entries. path is validated and normalized as above. Missing parent
 * directories are created (0755 root:root, the tree's default mtime) and
 * take their real attributes if the directory is added later. A parent that
 * exists but is not a directory (for example a symlink: a tar holding
 * `link -> /etc` and then `link/passwd`) is refused. Adding a directory that
 * exists updates its attributes; any other existing path is refused
 * (-EEXIST). *ret (may be NULL) is the new node, owned by the tree.
 */
int mk_fstree_add_dir(fstree *t, const char *path, const fsnode_attr *a, fsnode **ret, mk_error *err)
        __attribute__((warn_unused_result));
/* A regular file of size bytes read from src (a reference is taken) with key off/ptr. */
int mk_fstree_add_file(fstree *t, const char *path, const fsnode_attr *a, fs_source *src, uint64_t key_off,
                       void *key_ptr, uint64_t size, fsnode **ret, mk_error *err) __attribute__((warn_unused_result));
/* A regular file whose len bytes are copied from data. */
int mk_fstree_add_file_mem(fstree *t, const char *path, const fsnode_attr *a, const void *data, size_t len,
                           fsnode **ret, mk_error *err) __attribute__((warn_unused_result));
int mk_fstree_add_symlink(fstree *t, const char *path, const fsnode_attr *a, const char *target, fsnode **ret,
                          mk_error *err) __attribute__((warn_unused_result));
/* kind is FSNODE_CHRDEV, FSNODE_BLKDEV (with rdev), FSNODE_FIFO or FSNODE_SOCKET. */
int mk_fstree_add_special(fstree *t, const char *path, const fsnode_attr *a, fsnode_kind kind, dev_t rdev, fsnode **ret,
                          mk_error *err) __attribute__((warn_unused_result));
/* Another name for the existing non-directory target (a path, validated the same way). */
int mk_fstree_add_hardlink(fstree *t, const char *path, const char *target, fsnode **ret, mk_error *err)
        __attribute__((warn_unused_result));

/*
 * Add an extended attribute; an existing key is replaced. Only the user.,
 * trusted. and security. namespaces can be stored in squashfs; others are
 * refused with a message naming the entry. value may hold any bytes.
 */
int mk_fstree_add_xattr(fstree *t, fsnode *n, const char *key, const void *value, size_t len, mk_error *err)
        __attribute__((warn_unused_result));

/* Find a node by path (normalized like mk_fstree_normalize_path; "" is the root), or NULL. */
fsnode *mk_fstree_lookup(fstree *t, const char *path);
/*
 * The node path names once every symlink on the way is followed inside the
 * tree, as in a chroot at its root (absolute targets start at the root, ".."
 * stops there; at most 40 links): NULL when it dangles, loops or is absent.
 */
fsnode *mk_fstree_resolve(fstree *t, const char *path);

/* Sort every directory's children in strcmp byte order (idempotent). */
void mk_fstree_sort(fstree *t);

/* Policy flags for mk_fstree_check_policy. */
enum {
        FSTREE_ALLOW_DEVICES = 1 << 0, /* character and block devices */
        FSTREE_ALLOW_SETUID = 1 << 1,  /* setuid/setgid bits on any non-directory */
        FSTREE_ALLOW_CAPS = 1 << 2,    /* a security.capability xattr on any file */
};
/* The xattr that holds a file's capabilities. */
#define FSTREE_XATTR_CAPS "security.capability"

/*
 * What a tree may hold beyond plain files: allow (FSTREE_ALLOW_*) permits a
 * kind everywhere; else setuid and caps name the files that may be
 * setuid/setgid or carry file capabilities, as paths relative to the root
 * ("usr/bin/su"), sorted in strcmp order (a component's declarations).
 */
typedef struct mk_fs_policy {
        unsigned allow;
        const char *const *setuid;
        size_t n_setuid;
        const char *const *caps;
        size_t n_caps;
} mk_fs_policy;
/* A policy of flags only. */
#define MK_FS_POLICY(flags) (&(const mk_fs_policy){.allow = (flags)})

/*
 * Refuse device nodes, setuid/setgid files and file capabilities that p does
 * not permit. The first offender in sorted walk order is reported. Sorts the
 * tree.
 */
int mk_fstree_check_policy(fstree *t, const mk_fs_policy *p, mk_error *err) __attribute__((warn_unused_result));
/*
 * The same rule for one node n of t, as a reader adds it (after its xattrs);
 * origin names the input (NULL: the tree's).
 */
int mk_fstree_check_node(fstree *t, const fsnode *n, const mk_fs_policy *p, const char *origin, mk_error *err)
        __attribute__((warn_unused_result));
/* Whether path (relative, "usr/bin/su") is in the sorted list. */
bool mk_fs_policy_lists(const char *const *list, size_t n, const char *path);

/*
 * Visit every node in depth-first pre-order, children in sorted order (call
 * mk_fstree_sort first). visit returns 0 to go on, a negative errno to stop
 * (returned as is), or 1 to skip a directory's children.
 */
int mk_fstree_walk(fstree *t, int (*visit)(fsnode *n, void *ctx), void *ctx);

/* Node accessors. */
fsnode_kind mk_fsnode_get_kind(const fsnode *n);
const char *mk_fsnode_name(const fsnode *n); /* "" for the root */
fsnode *mk_fsnode_parent(const fsnode *n);   /* NULL for the root */
/* The full path ("" for the root), newly allocated, or NULL on ENOMEM. */
char *mk_fsnode_path(const fsnode *n);
/* S_IF* type bits plus permission bits. For a hard link, the target's. */
uint32_t mk_fsnode_mode(const fsnode *n);
uint32_t mk_fsnode_uid(const fsnode *n);
uint32_t mk_fsnode_gid(const fsnode *n);
int64_t mk_fsnode_mtime(const fsnode *n);
/* Number of names of a non-directory node (1 + hard links to it). */
uint32_t mk_fsnode_nlink(const fsnode *n);
void mk_fsnode_set_owner(fsnode *n, uint32_t uid, uint32_t gid);
void mk_fsnode_set_perm(fsnode *n, uint32_t perm);

size_t mk_fsnode_nchildren(const fsnode *n);           /* 0 unless a directory */
fsnode *mk_fsnode_child(const fsnode *n, size_t i);    /* sorted after mk_fstree_sort */
const char *mk_fsnode_symlink_target(const fsnode *n); /* NULL unless a symlink */
dev_t mk_fsnode_rdev(const fsnode *n);                 /* 0 unless a device */
fsnode *mk_fsnode_hardlink_target(const fsnode *n);    /* NULL unless a hard link */
/* Regular files (hard links: their target's); 0 or NULL for other kinds. */
uint64_t mk_fsnode_file_size(const fsnode *n);
/* The file's source, and the key it was added with (either out-parameter may be NULL). */
fs_source *mk_fsnode_file_source(const fsnode *n, uint64_t *ret_key_off, void **ret_key_ptr);
/* Read len bytes at offset of a regular file through its source. */
int mk_fsnode_read(const fsnode *n, uint64_t offset, void *buf, size_t len, mk_error *err)
        __attribute__((warn_unused_result));

/* Extended attributes, sorted by key. */
size_t mk_fsnode_nxattrs(const fsnode *n);
const char *mk_fsnode_xattr_key(const fsnode *n, size_t i);
const void *mk_fsnode_xattr_value(const fsnode *n, size_t i, size_t *len);

/* A free 32-bit slot per node for algorithms walking the tree (e.g. the writer's indexes). */
uint32_t mk_fsnode_aux(const fsnode *n);
void mk_fsnode_set_aux(fsnode *n, uint32_t v);

#endif
