/* SPDX-License-Identifier: MIT */
/* The build's manifests: one per populated slot, signed, written beside the image and kept for its ESP. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "builder/build/build-internal.h"
#include "signing/base/epoch.h"
#include "builder/image/digest.h"
#include "signing/base/fileio.h"
#include "signing/base/macro.h"
#include "signing/conventions/conventions.h"
#include "signing/manifest/manifest.h"

static int open_manifest_outputs(build *b, size_t s, mk_error *err)
{
        char path[4200];
        int r;
        snprintf(path, sizeof(path), "%s%s", b->out_path, MK_IMAGE_MANIFEST(s));
        if ((r = mk_output_open(path, &b->mf_out[s][0], err)) < 0)
                return r;
        snprintf(path, sizeof(path), "%s%s" MK_SIG_SUFFIX, b->out_path, MK_IMAGE_MANIFEST(s));
        return mk_output_open(path, &b->mf_out[s][1], err);
}

int mk_build_write_file(int fd, const char *name, const char *data, size_t len, mk_error *err)
{
        int r = mk_pwrite_all(fd, data, len, 0);
        return r < 0 ? mk_error_set(err, -r, "%s: cannot write: %s", name, strerror(-r)) : 0;
}

static void fill_manifest(build *b, size_t s, mk_manifest *mf)
{
        char slot = (char)('a' + s);
        const mk_partition *root = mk_layout_find(b->l, MK_ROLE_ROOT, slot);
        const mk_partition *hash = mk_layout_find(b->l, MK_ROLE_ROOT_VERITY, slot);
        *mf = (mk_manifest){
                .model = (char *)b->m->model, .brand = (char *)b->m->brand, .version = b->m->version, .slot = slot};
        mk_format_utc(b->o->source_date_epoch, mf->created);
        mf->root.partition = (char *)root->name;
        memcpy(mf->root.partuuid, root->uuid, 37);
        mf->root.size = b->root_size;
        memcpy(mf->root.sha256, b->root_sha256, 65);
        mf->root.verity.partition = (char *)hash->name;
        memcpy(mf->root.verity.partuuid, hash->uuid, 37);
        mf->root.verity.data_block_size = mf->root.verity.hash_block_size = MK_VERITY_BLOCK;
        mf->root.verity.data_blocks = b->verity[s].data_blocks;
        mk_hex(b->verity[s].salt, MK_VERITY_SALT, mf->root.verity.salt);
        mk_hex(b->verity[s].root_hash, 32, mf->root.verity.root_hash);
        if (b->data.part) {
                mf->data.partition = (char *)b->data.part->name;
                memcpy(mf->data.partuuid, b->data.part->uuid, 37);
                snprintf(mf->data.encryption, sizeof(mf->data.encryption), "%s", b->data.encrypted ? "luks2" : "none");
        }
}

int mk_build_write_manifest(build *b, size_t s, mk_error *err)
{
        mk_manifest mf;
        fill_manifest(b, s, &mf);
        mk_manifest_file boot[MK_BOOT_FILES];
        int r = mk_boot_uki_slot(&b->boot, b->m, &mf, err);
        if (r < 0)
                return r;
        r = mk_boot_manifest_files(&b->boot, b->m, b->l, mf.slot, boot, &mf.n_boot, err);
        mf.boot = boot;
        if (r < 0) {
                for (size_t i = 0; i < mf.n_boot; i++)
                        free(boot[i].path);
                return r;
        }
        mk_manifest_component comps[ELEMENTSOF(b->comp_sha)];
        mf.components = comps;
        mf.n_components = b->inputs->n;
        for (size_t i = 0; i < b->inputs->n; i++) {
                const mk_input *in = &b->inputs->items[i];
                const component_meta *cm = in->comp ? mk_component_get_meta(in->comp) : NULL;
                comps[i] = (mk_manifest_component){.name = (char *)in->mc->name};
                comps[i].version = cm ? cm->version : "unversioned";
                memcpy(comps[i].sha256, b->comp_sha[i], 65);
                memcpy(comps[i].signed_by, in->signer_id, sizeof(comps[i].signed_by));
                /* The setuid files it declares, absolute: the device's signed record of them. */
                if (cm && cm->n_setuid && r >= 0) {
                        if (!(comps[i].setuid = calloc(cm->n_setuid, sizeof(char *))))
                                r = mk_error_set(err, ENOMEM, "out of memory");
                        for (size_t k = 0; r >= 0 && k < cm->n_setuid; k++) {
                                if (asprintf(&comps[i].setuid[k], "/%s", cm->setuid[k]) < 0) {
                                        comps[i].setuid[k] = NULL;
                                        r = mk_error_set(err, ENOMEM, "out of memory");
                                }
                                comps[i].n_setuid = k + 1;
                        }
                }
        }
        char **yaml = &b->mf_text[s][0], **sig = &b->mf_text[s][1];
        size_t len;
        if (r >= 0)
                r = mk_manifest_emit(&mf, yaml, &len, err);
        for (size_t i = 0; i < b->inputs->n; i++) {
                for (size_t k = 0; k < comps[i].n_setuid; k++)
                        free(comps[i].setuid[k]);
                free(comps[i].setuid);
        }
        for (size_t i = 0; i < mf.n_boot; i++)
                free(boot[i].path);
        if (r < 0)
                return r;
        if ((r = mk_sign_buffer(b->key, MK_MANIFEST_FILE, *yaml, len, NULL, sig, err)) < 0)
                return r;
        if ((r = open_manifest_outputs(b, s, err)) < 0)
                return r;
        if ((r = mk_build_write_file(mk_output_fd(b->mf_out[s][0]), mk_output_final_path(b->mf_out[s][0]), *yaml, len,
                                     err)) < 0)
                return r;
        return mk_build_write_file(mk_output_fd(b->mf_out[s][1]), mk_output_final_path(b->mf_out[s][1]), *sig,
                                   strlen(*sig), err);
}
