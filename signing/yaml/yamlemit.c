/* SPDX-License-Identifier: MIT */
/* Canonical YAML out, over libyaml's emitter (signing/yaml/yamlemit.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signing/yaml/yamldoc.h"
#include "signing/yaml/yamlemit.h"

static int write_cb(void *data, unsigned char *buffer, size_t size)
{
        mk_yemit *o = data;
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

static void ev(mk_yemit *m, yaml_event_t *event, int ok)
{
        if (m->failed)
                return;
        if (!ok || !yaml_emitter_emit(&m->e, event))
                m->failed = 1;
}

int mk_yemit_begin(mk_yemit *m, mk_error *err)
{
        *m = (mk_yemit){0};
        if (!yaml_emitter_initialize(&m->e))
                return mk_error_set(err, ENOMEM, "out of memory");
        yaml_emitter_set_output(&m->e, write_cb, m);
        yaml_emitter_set_unicode(&m->e, 1);
        yaml_emitter_set_indent(&m->e, 2);
        yaml_emitter_set_width(&m->e, -1);
        yaml_event_t e;
        ev(m, &e, yaml_stream_start_event_initialize(&e, YAML_UTF8_ENCODING));
        ev(m, &e, yaml_document_start_event_initialize(&e, NULL, NULL, NULL, 1));
        return 0;
}

void mk_yemit_scalar(mk_yemit *m, const char *s)
{
        yaml_event_t e;
        /* A string that reads as null when plain ("", "~", "null": a bare `key:` too) must be quoted. */
        ev(m, &e,
           yaml_scalar_event_initialize(&e, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1,
                                        mk_yaml_null_word(s) ? YAML_SINGLE_QUOTED_SCALAR_STYLE
                                                             : YAML_ANY_SCALAR_STYLE));
}

void mk_yemit_kv(mk_yemit *m, const char *k, const char *v)
{
        mk_yemit_scalar(m, k);
        mk_yemit_scalar(m, v);
}

void mk_yemit_kv_u64(mk_yemit *m, const char *k, uint64_t v)
{
        char b[32];
        snprintf(b, sizeof(b), "%" PRIu64, v);
        mk_yemit_kv(m, k, b);
}

void mk_yemit_map_start(mk_yemit *m)
{
        yaml_event_t e;
        ev(m, &e, yaml_mapping_start_event_initialize(&e, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE));
}

void mk_yemit_map_end(mk_yemit *m)
{
        yaml_event_t e;
        ev(m, &e, yaml_mapping_end_event_initialize(&e));
}

void mk_yemit_seq_start(mk_yemit *m, size_t n)
{
        yaml_event_t e;
        ev(m, &e,
           yaml_sequence_start_event_initialize(&e, NULL, NULL, 1,
                                                n ? YAML_BLOCK_SEQUENCE_STYLE : YAML_FLOW_SEQUENCE_STYLE));
}

void mk_yemit_seq_end(mk_yemit *m)
{
        yaml_event_t e;
        ev(m, &e, yaml_sequence_end_event_initialize(&e));
}

int mk_yemit_end(mk_yemit *m, const char *what, char **ret, size_t *ret_len, mk_error *err)
{
        yaml_event_t e;
        ev(m, &e, yaml_document_end_event_initialize(&e, 1));
        ev(m, &e, yaml_stream_end_event_initialize(&e));
        yaml_emitter_delete(&m->e);
        if (m->failed || m->oom || !m->buf) {
                free(m->buf);
                m->buf = NULL;
                return mk_error_set(err, m->oom ? ENOMEM : EINVAL, "cannot emit %s as YAML", what);
        }
        *ret = m->buf;
        *ret_len = m->len;
        m->buf = NULL;
        return 0;
}
