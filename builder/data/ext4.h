/* SPDX-License-Identifier: MIT */
/*
 * The data partition's file system: ext4 made with libext2fs directly at a
 * byte offset of the image file (no mount, no loop device, no temporary
 * copy), optionally populated from an fstree. The result is reproducible:
 * UUID, hash seed and every timestamp come from the options, so the same
 * inputs give the same bytes.
 *
 * The feature set is that of `mke2fs -t ext4` (has_journal ext_attr
 * resize_inode dir_index filetype extent 64bit flex_bg sparse_super
 * large_file huge_file dir_nlink extra_isize metadata_csum), with 4096-byte
 * blocks, 256-byte inodes, one inode per 16 KiB, 5 % reserved blocks and
 * the default journal size. See docs/data.md.
 */
#ifndef MK_DATA_H
#define MK_DATA_H

#include <stdint.h>

#include "signing/base/error.h"
#include "builder/tree/fstree.h"

#define MK_EXT4_BLOCK 4096u
#define MK_EXT4_MIN_SIZE (8u << 20)  /* below this ext4 gets no journal */
#define MK_EXT4_LABEL_MAX 16         /* bytes in the volume label */
#define MK_EXT4_MTIME_MAX 0x7fffffff /* timestamps past 2038 need extra bits libext2fs 1.47 does not write */

typedef struct mk_ext4_opts {
        const char *label;     /* volume label, at most 16 bytes; NULL or "" for none */
        uint8_t uuid[16];      /* file system UUID (derive it from the model) */
        uint8_t hash_seed[16]; /* directory hash seed (derived as well) */
        int64_t mtime;         /* every timestamp, 0 .. MK_EXT4_MTIME_MAX (SOURCE_DATE_EPOCH) */
        uint32_t inode_ratio;  /* bytes per inode, 4096 .. 64 MiB; 0 = 16384 as mke2fs */
        /* Leave the journal and the unused inode tables unwritten (mke2fs -E
         * lazy_itable_init=1,lazy_journal_init=1). Only for a file system inside
         * a fresh LUKS2 volume: there an unwritten block reads as random bytes
         * under a new volume key, never as an old journal that could replay. */
        bool lazy_init;
        const char *name; /* what messages call the image (its final name); NULL: image_path */
} mk_ext4_opts;

/*
 * Make an ext4 file system of size bytes (a multiple of 4096, at least
 * MK_EXT4_MIN_SIZE) at byte offset (a multiple of 512) of the image file:
 * fd is the image open read-write, image_path the same file (libext2fs opens
 * it by name; messages name it too). The file must already be at least
 * offset + size bytes long. The range is cleared first (holes punched, or
 * zeros written where the file system cannot punch), so the result does not
 * depend on what was there; bytes outside the range are never touched.
 *
 * content (may be NULL: an empty file system with lost+found) is copied in:
 * directories, regular files (read with mk_fsnode_read), symlinks, hard links,
 * character and block devices, fifos and sockets, with owners, permission
 * bits and extended attributes. The root directory takes the content root's
 * owner and mode. Timestamps are not copied: every inode time is o->mtime.
 * The content tree is sorted and the nodes' aux slots are used (their
 * values are lost).
 *
 * Content that does not fit (blocks or inodes) is refused before anything
 * is written, with a message naming the sizes and the smallest partition
 * size that would do; should libext2fs still run out of space while
 * writing, the message says so and names the entry. A file with more than
 * 65000 hard links or more than 4060 bytes of xattrs is refused by name.
 * Returns 0 or a negative errno with err set; on failure the range holds an
 * unusable file system and the caller discards the image.
 */
int mk_ext4_write(const char *image_path, int fd, uint64_t offset, uint64_t size, const mk_ext4_opts *o,
                  fstree *content, mk_error *err) __attribute__((warn_unused_result));

#endif
