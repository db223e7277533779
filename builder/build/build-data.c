/* SPDX-License-Identifier: MIT */
#include "builder/build/build-data.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "builder/data/data-fs.h"
#include "builder/data/luks.h"
#include "signing/base/macro.h"
#include "builder/model/uuid.h"

bool mk_input_is_data(const mk_input *in)
{
        return mk_input_type(in) == COMPONENT_DATA;
}

void mk_data_stage_done(mk_data_stage *s)
{
        s->key = mk_data_key_free(s->key);
        s->content = mk_fstree_free(s->content);
}

static int load_content(const mk_model *m, mk_inputs *inputs, mk_data_stage *s, mk_error *err)
{
        int r;
        for (size_t i = 0; i < inputs->n; i++) {
                mk_input *in = &inputs->items[i];
                if (!mk_input_is_data(in))
                        continue;
                if (!s->part)
                        return mk_error_set(err, EINVAL,
                                            "%s:%u:%u: component '%s' is of type data, but the layout has no data "
                                            "partition (add one with 'role: data' or drop the component)",
                                            m->path, in->mc->line, in->mc->col, in->mc->name);
                if (!s->content && (r = mk_fstree_new("the data partition", &s->content)) < 0)
                        return mk_error_set(err, -r, "out of memory");
                if ((r = mk_component_load_tree(in->comp, s->content, NULL, 0, err)) < 0)
                        return r;
        }
        return 0;
}

int mk_data_prepare(const mk_model *m, const mk_layout *l, mk_inputs *inputs, const char *key_path, const char *key_out,
                    bool no_key, mk_data_stage *ret, mk_error *err)
{
        mk_data_stage s = {.part = mk_layout_find(l, MK_ROLE_DATA, 0)};
        s.encrypted = s.part && m->data.encryption == MK_ENC_LUKS2;
        int r = 0;
        if (key_path && key_out)
                r = mk_error_set(err, EINVAL, "give either --data-key or --data-key-out, not both");
        else if (!s.encrypted && (key_path || key_out))
                r = mk_error_set(err, EINVAL, "%s: --data-key%s has no use: %s (remove the option)", m->path,
                                 key_out ? "-out" : "",
                                 s.part ? "the model's data partition is not encrypted ('encryption: none')"
                                        : "the layout has no data partition");
        else if (s.encrypted && !key_path && !key_out && !no_key)
                r = mk_error_set(err, ENOKEY,
                                 "%s: the data partition is encrypted (LUKS2): pass --data-key FILE with the device's "
                                 "key, or --data-key-out FILE to generate one",
                                 m->path);
        else if (key_path)
                r = mk_data_key_load(key_path, &s.key, &s.key_len, err);
        else if (key_out) {
                struct stat st;
                if (lstat(key_out, &st) == 0)
                        r = mk_error_set(err, EEXIST,
                                         "%s: exists; --data-key-out never overwrites a key (choose a new name)",
                                         key_out);
                else if (!(s.key = sodium_malloc(MK_DATA_KEY_GEN)))
                        r = mk_error_set(err, ENOMEM, "out of memory");
                else {
                        randombytes_buf(s.key, MK_DATA_KEY_GEN);
                        s.key_len = MK_DATA_KEY_GEN;
                        s.key_generated = true;
                }
        }
        if (r >= 0)
                r = load_content(m, inputs, &s, err);
        if (r < 0) {
                mk_data_stage_done(&s);
                return r;
        }
        *ret = s;
        return 0;
}

mk_luks_pbkdf mk_data_luks_pbkdf(const mk_model *m)
{
        static const mk_luks_pbkdf kdf[] = {[MK_PBKDF_ARGON2ID] = MK_LUKS_ARGON2ID,
                                            [MK_PBKDF_ARGON2I] = MK_LUKS_ARGON2I,
                                            [MK_PBKDF_PBKDF2] = MK_LUKS_PBKDF2};
        return kdf[m->data.pbkdf];
}

int mk_data_write(const mk_data_stage *s, const mk_model *m, const char *image_path, const char *image_name, int fd,
                  uint64_t mtime, mk_error *err)
{
        if (!s->part)
                return 0;
        const mk_data_fs d = {.part_off = s->part->start,
                              .part_len = s->part->length,
                              .encrypted = s->encrypted,
                              .salt = s->part->name,
                              .mtime = mtime,
                              .name = image_name};
        int r = mk_data_fs_write(image_path, fd, m, &d, s->content, err);
        if (r < 0 || !s->encrypted)
                return r;
        char uuid[37];
        mk_uuid_derive(m->brand, m->model, "luks-uuid", s->part->name, uuid);
        mk_luks_opts lo = {.key = s->key,
                           .key_len = s->key_len,
                           .pbkdf = mk_data_luks_pbkdf(m),
                           .uuid = uuid,
                           .label = s->part->name,
                           .name = image_name};
        return mk_luks2_format(image_path, s->part->start, s->part->length, &lo, err);
}
