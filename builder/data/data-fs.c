/* SPDX-License-Identifier: MIT */
#include "builder/data/data-fs.h"

#include "builder/data/ext4.h"
#include "builder/data/luks.h"
#include "builder/model/uuid.h"

int mk_data_fs_write(const char *image_path, int fd, const mk_model *m, const mk_data_fs *d, fstree *content,
                     mk_error *err)
{
        mk_ext4_opts eo = {.label = m->data.label,
                           .mtime = (int64_t)(d->mtime > MK_EXT4_MTIME_MAX ? MK_EXT4_MTIME_MAX : d->mtime),
                           .lazy_init = d->encrypted,
                           .name = d->name};
        mk_derive_bytes(m->brand, m->model, "ext4-uuid", d->salt, eo.uuid, sizeof(eo.uuid));
        mk_derive_bytes(m->brand, m->model, "ext4-hash-seed", d->salt, eo.hash_seed, sizeof(eo.hash_seed));
        uint64_t off = d->part_off, size = d->part_len;
        if (d->encrypted) {
                off += mk_luks2_data_offset(d->part_len);
                size = mk_luks2_payload_size(d->part_len);
        }
        return mk_ext4_write(image_path, fd, off, size, &eo, content, err);
}
