/* SPDX-License-Identifier: MIT */
/*
 * The tree's nodes, shared by the files of builder/tree/ that build it
 * (fstree.c), read it (fstree-node.c) and check its paths (fstree-path.c).
 * Everything else goes through fstree.h.
 */
#ifndef MK_FSTREE_INTERNAL_H
#define MK_FSTREE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "builder/tree/fstree.h"

#define FSTREE_QBUF 1024 /* room for a quoted path in a message */

typedef struct fs_xattr {
        char *key;
        void *value;
        size_t len;
} fs_xattr;

struct fsnode {
        fsnode *parent;
        fsnode *hnext; /* hash chain */
        fsnode_kind kind;
        bool implicit; /* a directory created as someone's parent, not yet added */
        uint32_t perm, uid, gid, nlink, aux;
        int64_t mtime;
        fs_xattr *xattrs;
        size_t nxattrs;
        union {
                struct {
                        fsnode **child;
                        size_t n, cap;
                        bool sorted;
                } dir;
                struct {
                        fs_source *src;
                        uint64_t off, size;
                        void *ptr;
                } file;
                char *target;
                dev_t rdev;
                fsnode *link;
        } u;
        char name[];
};

/* Nodes are found by (parent, name) in one hash table for the whole tree, so
 * a directory of 100k entries costs no more to fill than 100k directories. */
struct fstree {
        char *origin;
        fsnode *root;
        fsnode **buckets;
        size_t nbuckets, count;
};

#endif
