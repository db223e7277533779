/* SPDX-License-Identifier: MIT */
/* Canonical manifest YAML, written with libyaml's emitter (docs/manifest.md). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "signing/manifest/manifest.h"

typedef struct out {
        char *buf;
        size_t len, cap;
        int oom;
} out;

static int write_cb(void *data, unsigned char *buffer, size_t size)
{
        out *o = data;
        if (o->len + size + 1 > o->cap) {
                size_t cap = (o->len + size + 1) * 2;
                char *b = realloc(o->buf, cap);
                if (!b) {
                        o->oom = 1;
                        return 0;
                }
                o->buf = b;
                o->cap = cap;
        }
        memcpy(o->buf + o->len, buffer, size);
        o->len += size;
        o->buf[o->len] = '\0';
        return 1;
}

typedef struct em {
        yaml_emitter_t e;
        int failed;
} em;

static void ev(em *m, yaml_event_t *event, int ok)
{
        if (m->failed)
                return;
        if (!ok || !yaml_emitter_emit(&m->e, event))
                m->failed = 1;
}

static void scalar(em *m, const char *s)
{
        yaml_event_t e;
        /* An empty value must be quoted: a bare `key:` reads as null. */
        ev(m, &e,
           yaml_scalar_event_initialize(&e, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1,
                                        *s ? YAML_ANY_SCALAR_STYLE : YAML_SINGLE_QUOTED_SCALAR_STYLE));
}

static void kv(em *m, const char *k, const char *v)
{
        scalar(m, k);
        scalar(m, v);
}

static void kv_u64(em *m, const char *k, uint64_t v)
{
        char b[32];
        snprintf(b, sizeof(b), "%" PRIu64, v);
        kv(m, k, b);
}

static void map_start(em *m)
{
        yaml_event_t e;
        ev(m, &e, yaml_mapping_start_event_initialize(&e, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE));
}

static void map_end(em *m)
{
        yaml_event_t e;
        ev(m, &e, yaml_mapping_end_event_initialize(&e));
}

static void seq_start(em *m, size_t n)
{
        yaml_event_t e;
        ev(m, &e,
           yaml_sequence_start_event_initialize(&e, NULL, NULL, 1,
                                                n ? YAML_BLOCK_SEQUENCE_STYLE : YAML_FLOW_SEQUENCE_STYLE));
}

static void seq_end(em *m)
{
        yaml_event_t e;
        ev(m, &e, yaml_sequence_end_event_initialize(&e));
}

static void body(em *m, const mk_manifest *mf)
{
        char slot[2] = {mf->slot, 0};
        map_start(m);
        kv_u64(m, "mkimage-manifest", MK_MANIFEST_FORMAT);
        kv(m, "model", mf->model);
        kv(m, "brand", mf->brand);
        kv_u64(m, "version", mf->version);
        kv(m, "slot", slot);
        kv(m, "created", mf->created);
        scalar(m, "root");
        map_start(m);
        kv(m, "partition", mf->root.partition);
        kv(m, "partuuid", mf->root.partuuid);
        kv_u64(m, "size", mf->root.size);
        kv(m, "sha256", mf->root.sha256);
        scalar(m, "verity");
        map_start(m);
        kv(m, "partition", mf->root.verity.partition);
        kv(m, "partuuid", mf->root.verity.partuuid);
        kv(m, "hash-algorithm", "sha256");
        kv_u64(m, "data-block-size", mf->root.verity.data_block_size);
        kv_u64(m, "hash-block-size", mf->root.verity.hash_block_size);
        kv_u64(m, "data-blocks", mf->root.verity.data_blocks);
        kv(m, "salt", mf->root.verity.salt);
        kv(m, "root-hash", mf->root.verity.root_hash);
        map_end(m);
        map_end(m);
        if (mf->data.partition) {
                scalar(m, "data");
                map_start(m);
                kv(m, "partition", mf->data.partition);
                kv(m, "partuuid", mf->data.partuuid);
                kv(m, "encryption", mf->data.encryption);
                map_end(m);
        }
        scalar(m, "boot");
        seq_start(m, mf->n_boot);
        for (size_t i = 0; i < mf->n_boot; i++) {
                map_start(m);
                kv(m, "path", mf->boot[i].path);
                kv(m, "sha256", mf->boot[i].sha256);
                map_end(m);
        }
        seq_end(m);
        scalar(m, "components");
        seq_start(m, mf->n_components);
        for (size_t i = 0; i < mf->n_components; i++) {
                map_start(m);
                kv(m, "name", mf->components[i].name);
                kv(m, "version", mf->components[i].version);
                kv(m, "sha256", mf->components[i].sha256);
                kv(m, "signed-by", mf->components[i].signed_by);
                map_end(m);
        }
        seq_end(m);
        map_end(m);
}

int mk_manifest_emit(const mk_manifest *mf, char **ret, size_t *ret_len, mk_error *err)
{
        out o = {0};
        em m = {0};
        if (!yaml_emitter_initialize(&m.e))
                return mk_error_set(err, ENOMEM, "out of memory");
        yaml_emitter_set_output(&m.e, write_cb, &o);
        yaml_emitter_set_unicode(&m.e, 1);
        yaml_emitter_set_indent(&m.e, 2);
        yaml_emitter_set_width(&m.e, -1);
        yaml_event_t e;
        ev(&m, &e, yaml_stream_start_event_initialize(&e, YAML_UTF8_ENCODING));
        ev(&m, &e, yaml_document_start_event_initialize(&e, NULL, NULL, NULL, 1));
        body(&m, mf);
        ev(&m, &e, yaml_document_end_event_initialize(&e, 1));
        ev(&m, &e, yaml_stream_end_event_initialize(&e));
        yaml_emitter_delete(&m.e);
        if (m.failed || o.oom || !o.buf) {
                free(o.buf);
                return mk_error_set(err, o.oom ? ENOMEM : EINVAL, "cannot emit the manifest as YAML");
        }
        *ret = o.buf;
        *ret_len = o.len;
        return 0;
}
