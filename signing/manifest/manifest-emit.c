/* SPDX-License-Identifier: MIT */
/* Canonical manifest YAML, written with libyaml's emitter (docs/manifest.md). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signing/manifest/manifest.h"
#include "signing/yaml/yamlemit.h"

static void body(mk_yemit *m, const mk_manifest *mf)
{
        char slot[2] = {mf->slot, 0};
        mk_yemit_map_start(m);
        mk_yemit_kv_u64(m, "mkimage-manifest", MK_MANIFEST_FORMAT);
        mk_yemit_kv(m, "model", mf->model);
        mk_yemit_kv(m, "brand", mf->brand);
        mk_yemit_kv_u64(m, "version", mf->version);
        mk_yemit_kv(m, "slot", slot);
        mk_yemit_kv(m, "created", mf->created);
        mk_yemit_scalar(m, "root");
        mk_yemit_map_start(m);
        mk_yemit_kv(m, "partition", mf->root.partition);
        mk_yemit_kv(m, "partuuid", mf->root.partuuid);
        mk_yemit_kv_u64(m, "size", mf->root.size);
        mk_yemit_kv(m, "sha256", mf->root.sha256);
        mk_yemit_scalar(m, "verity");
        mk_yemit_map_start(m);
        mk_yemit_kv(m, "partition", mf->root.verity.partition);
        mk_yemit_kv(m, "partuuid", mf->root.verity.partuuid);
        mk_yemit_kv(m, "hash-algorithm", "sha256");
        mk_yemit_kv_u64(m, "data-block-size", mf->root.verity.data_block_size);
        mk_yemit_kv_u64(m, "hash-block-size", mf->root.verity.hash_block_size);
        mk_yemit_kv_u64(m, "data-blocks", mf->root.verity.data_blocks);
        mk_yemit_kv(m, "salt", mf->root.verity.salt);
        mk_yemit_kv(m, "root-hash", mf->root.verity.root_hash);
        mk_yemit_map_end(m);
        mk_yemit_map_end(m);
        if (mf->data.partition) {
                mk_yemit_scalar(m, "data");
                mk_yemit_map_start(m);
                mk_yemit_kv(m, "partition", mf->data.partition);
                mk_yemit_kv(m, "partuuid", mf->data.partuuid);
                mk_yemit_kv(m, "encryption", mf->data.encryption);
                mk_yemit_map_end(m);
        }
        mk_yemit_scalar(m, "boot");
        mk_yemit_seq_start(m, mf->n_boot);
        for (size_t i = 0; i < mf->n_boot; i++) {
                mk_yemit_map_start(m);
                mk_yemit_kv(m, "path", mf->boot[i].path);
                mk_yemit_kv(m, "sha256", mf->boot[i].sha256);
                mk_yemit_map_end(m);
        }
        mk_yemit_seq_end(m);
        if (mf->uki.path) {
                mk_yemit_scalar(m, "uki");
                mk_yemit_map_start(m);
                mk_yemit_kv(m, "path", mf->uki.path);
                mk_yemit_kv(m, "secure-boot", mf->uki.signed_ ? "signed" : "unsigned");
                mk_yemit_kv(m, "pcr11", mf->uki.pcr11);
                mk_yemit_scalar(m, "sections");
                mk_yemit_seq_start(m, mf->uki.n_sections);
                for (size_t i = 0; i < mf->uki.n_sections; i++) {
                        mk_yemit_map_start(m);
                        mk_yemit_kv(m, "name", mf->uki.sections[i].path);
                        mk_yemit_kv(m, "sha256", mf->uki.sections[i].sha256);
                        mk_yemit_map_end(m);
                }
                mk_yemit_seq_end(m);
                mk_yemit_map_end(m);
        }
        mk_yemit_scalar(m, "components");
        mk_yemit_seq_start(m, mf->n_components);
        for (size_t i = 0; i < mf->n_components; i++) {
                mk_yemit_map_start(m);
                mk_yemit_kv(m, "name", mf->components[i].name);
                mk_yemit_kv(m, "version", mf->components[i].version);
                mk_yemit_kv(m, "sha256", mf->components[i].sha256);
                mk_yemit_kv(m, "signed-by", mf->components[i].signed_by);
                if (mf->components[i].n_setuid) {
                        mk_yemit_scalar(m, "setuid");
                        mk_yemit_seq_start(m, mf->components[i].n_setuid);
                        for (size_t k = 0; k < mf->components[i].n_setuid; k++)
                                mk_yemit_scalar(m, mf->components[i].setuid[k]);
                        mk_yemit_seq_end(m);
                }
                mk_yemit_map_end(m);
        }
        mk_yemit_seq_end(m);
        mk_yemit_map_end(m);
}

int mk_manifest_emit(const mk_manifest *mf, char **ret, size_t *ret_len, mk_error *err)
{
        mk_yemit m;
        int r = mk_yemit_begin(&m, err);
        if (r < 0)
                return r;
        body(&m, mf);
        return mk_yemit_end(&m, "the manifest", ret, ret_len, err);
}
