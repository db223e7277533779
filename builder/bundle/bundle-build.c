/* SPDX-License-Identifier: MIT */
/* `mkimage bundle MODEL.yaml`: build the image into a temporary folder, then cut the bundle from it. */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder/build/build.h"
#include "builder/bundle/bundle-write.h"
#include "builder/model/model.h"
#include "signing/base/tmpfiles.h"

/* Everything in the folder (the image and the files beside it), then the folder. */
static void remove_dir(const char *dir, int slot)
{
        DIR *d = opendir(dir);
        if (d) {
                struct dirent *e;
                while ((e = readdir(d)))
                        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                                unlinkat(dirfd(d), e->d_name, 0);
                closedir(d);
        }
        rmdir(dir);
        mk_tmp_forget(slot);
}

int mk_bundle_from_model(const mk_build_opts *bo_in, const mk_bundle_write_opts *o_in, mk_bundle_write_result *ret,
                         mk_error *err)
{
        char *key = NULL;
        if (!bo_in->sign_key) {
                mk_model *m = NULL;
                int r = mk_model_load(bo_in->model_path, &m, err);
                if (r < 0)
                        return r;
                key = m->signing_key ? strdup(m->signing_key) : NULL;
                bool had = m->signing_key != NULL;
                mk_model_free(m);
                if (!had)
                        return mk_error_set(err, EINVAL,
                                            "%s: the model has no signing-key: give the bundle's key with --sign-key",
                                            bo_in->model_path);
                if (!key)
                        return mk_error_set(err, ENOMEM, "out of memory");
        }
        char *copy = strdup(o_in->out_path);
        char tmpl[4096], image[4200];
        if (!copy) {
                free(key);
                return mk_error_set(err, ENOMEM, "out of memory");
        }
        const char *base = strrchr(o_in->out_path, '/') ? strrchr(o_in->out_path, '/') + 1 : o_in->out_path;
        int n = snprintf(tmpl, sizeof(tmpl), "%s/.%s.mkimage-bundle-XXXXXX", dirname(copy), base);
        free(copy);
        if (n < 0 || (size_t)n >= sizeof(tmpl)) {
                free(key);
                return mk_error_set(err, ENAMETOOLONG, "%s: path too long", o_in->out_path);
        }
        if (!mkdtemp(tmpl)) {
                int e = errno;
                free(key);
                return mk_error_set(err, e, "%s: cannot make a temporary folder beside it: %s", o_in->out_path,
                                    strerror(e));
        }
        int slot = mk_tmp_adopt(tmpl, true);
        snprintf(image, sizeof(image), "%s/slot.img", tmpl);
        mk_build_opts bo = *bo_in;
        bo.out_path = image;
        bo.data_key = bo.data_key_out = NULL;
        bo.factory_template = true; /* no data key, an empty data partition: the slots are the same */
        if (!bo.sign_key)
                bo.sign_key = key;
        int r = mk_build(&bo, NULL, err);
        if (r >= 0) {
                mk_bundle_write_opts o = *o_in;
                o.image_path = image;
                o.sign_key = bo.sign_key;
                r = mk_bundle_write(&o, ret, err);
        }
        remove_dir(tmpl, slot);
        free(key);
        return r;
}
