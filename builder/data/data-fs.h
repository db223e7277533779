/* SPDX-License-Identifier: MIT */
/*
 * The data partition's file system, written the same way by `mkimage build`
 * (builder/build/build-data.c) and by each device of `mkimage factory`
 * (builder/factory/): the one home of where the ext4 goes, how its
 * identifiers are derived and which times it can hold.
 */
#ifndef MK_DATA_FS_H
#define MK_DATA_FS_H

#include <stdbool.h>
#include <stdint.h>

#include "builder/model/model.h"
#include "builder/tree/fstree.h"
#include "signing/base/error.h"

typedef struct mk_data_fs {
        uint64_t part_off, part_len; /* the partition in the image, bytes */
        bool encrypted;              /* the ext4 goes in the LUKS2 payload (the header is the caller's) */
        const char *salt;            /* what the UUID and hash seed are derived from with the model: the
                                      * partition's name (a build) or the device's serial (a factory) */
        uint64_t mtime;              /* SOURCE_DATE_EPOCH; later than ext4 can store: its last second */
        const char *name;            /* what messages call the image; NULL: image_path */
} mk_data_fs;

/* Write the ext4 holding content (NULL: empty) into the image open as fd (at image_path). */
int mk_data_fs_write(const char *image_path, int fd, const mk_model *m, const mk_data_fs *d, fstree *content,
                     mk_error *err) __attribute__((warn_unused_result));

#endif
