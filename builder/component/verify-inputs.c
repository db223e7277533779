/* SPDX-License-Identifier: MIT */
#include "builder/component/verify-inputs.h"
#include "signing/conventions/conventions.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "signing/base/macro.h"
#include "signing/minisign/minisign.h"

mk_inputs *mk_inputs_free(mk_inputs *in)
{
        if (!in)
                return NULL;
        for (size_t i = 0; i < in->n; i++)
                mk_component_close(in->items[i].comp);
        free(in->items);
        free(in);
        return NULL;
}

/* "models/demo-x86_64.yaml:12:5: component 'base': " */
#define AT_FMT_CTX "%s:%u:%u: component '%s'"
#define AT_FMT AT_FMT_CTX ": "
#define AT_ARGS(m, c) (m)->path, (c)->line, (c)->col, (c)->name

static int load_keys(const mk_model *m, mk_keyset **ret, mk_error *err)
{
        _cleanup_keyset_ mk_keyset *set = NULL;
        int r = mk_keyset_new(&set, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_keys; i++) {
                const mk_trusted_key *k = &m->keys[i];
                if ((r = mk_keyset_add_file(set, k->path, err)) < 0)
                        return mk_error_prefix(err, r, "%s:%u:%u: trusted key '%s'", m->path, k->line, k->col, k->name);
        }
        *ret = TAKE_PTR(set);
        return 0;
}

/* The key id of the trusted key the model names (already loaded in set). */
static const mk_pubkey *named_key(const mk_model *m, const mk_keyset *set, const char *name)
{
        const mk_trusted_key *k = mk_model_find_key(m, name);
        if (!k)
                return NULL;
        _cleanup_pubkey_ mk_pubkey *pk = NULL;
        if (mk_pubkey_load(k->path, &pk, NULL) < 0)
                return NULL;
        return mk_keyset_find(set, mk_pubkey_id(pk));
}

static const char *trusted_name_of(const mk_model *m, const mk_pubkey *key)
{
        for (size_t i = 0; i < m->n_keys; i++) {
                _cleanup_pubkey_ mk_pubkey *pk = NULL;
                if (mk_pubkey_load(m->keys[i].path, &pk, NULL) == 0 &&
                    !memcmp(mk_pubkey_id(pk), mk_pubkey_id(key), MK_KEYID_BYTES))
                        return m->keys[i].name;
        }
        return "?";
}

enum { PH_FREE, PH_HELPER, PH_DONE, PH_FAILED, PH_VERIFIER };

struct mk_prehashes {
        pthread_mutex_t lock;
        pthread_cond_t done;
        size_t n;
        struct ph_item {
                int state;
                uint8_t h[MK_PREHASH_BYTES];
        } * items;
};

mk_prehashes *mk_prehashes_new(size_t n)
{
        mk_prehashes *p = calloc(1, sizeof(*p));
        if (!p || !(p->items = calloc(n ? n : 1, sizeof(*p->items)))) {
                free(p);
                return NULL;
        }
        p->n = n;
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->done, NULL);
        return p;
}

void mk_prehashes_free(mk_prehashes *p)
{
        if (!p)
                return;
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->done);
        free(p->items);
        free(p);
}

bool mk_prehashes_fill(mk_prehashes *p, size_t i, const char *path)
{
        pthread_mutex_lock(&p->lock);
        bool mine = i < p->n && p->items[i].state == PH_FREE;
        if (mine)
                p->items[i].state = PH_HELPER;
        pthread_mutex_unlock(&p->lock);
        if (!mine)
                return false;
        /* Only a regular file: opening a FIFO would block (the verifier reports what it is). */
        struct stat st;
        mk_error err = {0};
        bool ok = stat(path, &st) == 0 && S_ISREG(st.st_mode) && mk_prehash_file(path, p->items[i].h, &err) == 0;
        pthread_mutex_lock(&p->lock);
        p->items[i].state = ok ? PH_DONE : PH_FAILED;
        pthread_cond_broadcast(&p->done);
        pthread_mutex_unlock(&p->lock);
        return true;
}

/* The verifier: component i's prehash when the helper made it (waiting if it is at it), else NULL. */
static const uint8_t *prehash_take(mk_prehashes *p, size_t i)
{
        if (!p || i >= p->n)
                return NULL;
        pthread_mutex_lock(&p->lock);
        if (p->items[i].state == PH_FREE)
                p->items[i].state = PH_VERIFIER;
        while (p->items[i].state == PH_HELPER)
                pthread_cond_wait(&p->done, &p->lock);
        const uint8_t *h = p->items[i].state == PH_DONE ? p->items[i].h : NULL;
        pthread_mutex_unlock(&p->lock);
        return h;
}

static int verify_one(const mk_model *m, const mk_keyset *set, const mk_model_component *c, mk_input *in,
                      const uint8_t *prehash, void (*warn)(void *, const char *), void *ud, mk_error *err)
{
        struct stat st;
        if (stat(c->path, &st) < 0)
                return mk_error_set(err, errno, AT_FMT "%s: %s (build the component, or fix 'file')", AT_ARGS(m, c),
                                    c->path, strerror(errno));
        if (S_ISDIR(st.st_mode)) {
                if (m->grade == MK_GRADE_SIGNED)
                        return mk_error_set(err, EPERM,
                                            AT_FMT
                                            "%s is a directory; grade 'signed' accepts only signed component "
                                            "artifacts (pack and sign it, or use 'grade: dangerous' for development)",
                                            AT_ARGS(m, c), c->path);
                mk_callback_printf(
                        warn, ud,
                        "component '%s': %s is an unsigned directory (accepted only because the grade is 'dangerous')",
                        c->name, c->path);
                in->is_dir = true;
                return 0;
        }
        if (!S_ISREG(st.st_mode))
                return mk_error_set(err, EINVAL, AT_FMT "%s is not a regular file (name a .comp artifact)",
                                    AT_ARGS(m, c), c->path);

        _cleanup_free_ char *sig = NULL;
        if (asprintf(&sig, "%s" MK_SIG_SUFFIX, c->path) < 0)
                return mk_error_set(err, ENOMEM, "out of memory");
        bool have_sig = stat(sig, &st) == 0;
        if (!have_sig && m->grade == MK_GRADE_SIGNED)
                return mk_error_set(err, ENOENT,
                                    AT_FMT
                                    "%s has no signature: %s is missing (sign it with 'mkimage sign %s --key KEY')",
                                    AT_ARGS(m, c), c->path, sig, c->path);
        if (have_sig && set) {
                _cleanup_verified_ mk_verified v = {0};
                mk_verify_result vr = mk_verify_file_prehashed(set, c->path, sig, prehash, &v, err);
                if (vr != MK_VERIFY_OK) {
                        if (!mk_error_isset(err))
                                mk_error_set(err, EKEYREJECTED, "%s: %s", sig, mk_verify_result_str(vr));
                        return mk_error_prefix(err, -err->code, AT_FMT_CTX, AT_ARGS(m, c));
                }
                const mk_pubkey *want = c->signer ? named_key(m, set, c->signer) : NULL;
                if (c->signer && (!want || memcmp(mk_pubkey_id(want), mk_pubkey_id(v.signer), MK_KEYID_BYTES) != 0))
                        return mk_error_set(
                                err, EKEYREJECTED,
                                AT_FMT "%s is signed by key %s ('%s'), but the model names signer '%s' (key %s) "
                                       "(sign it with that key, or fix 'signer')",
                                AT_ARGS(m, c), c->path, mk_pubkey_id_str(v.signer), trusted_name_of(m, v.signer),
                                c->signer, want ? mk_pubkey_id_str(want) : "?");
                in->signed_ok = true;
                snprintf(in->signer_id, sizeof(in->signer_id), "%s", mk_pubkey_id_str(v.signer));
        } else {
                mk_callback_printf(
                        warn, ud, "component '%s': %s is not signed%s (accepted only because the grade is 'dangerous')",
                        c->name, c->path, have_sig ? " by a trusted key" : "");
        }

        int r = mk_component_open(c->path, &in->comp, err);
        if (r < 0)
                return mk_error_prefix(err, r, AT_FMT_CTX, AT_ARGS(m, c));
        const component_meta *meta = mk_component_get_meta(in->comp);
        if (strcmp(meta->name, c->name) != 0)
                return mk_error_set(
                        err, EINVAL,
                        AT_FMT "%s holds component '%s', not '%s' (point 'file' at the right artifact or fix 'name')",
                        AT_ARGS(m, c), c->path, meta->name, c->name);
        if (c->version && strcmp(meta->version, c->version) != 0)
                return mk_error_set(
                        err, EINVAL,
                        AT_FMT "%s is version %s, but the model pins version %s (use that version or change the pin)",
                        AT_ARGS(m, c), c->path, meta->version, c->version);
        return 0;
}

int mk_inputs_verify(const mk_model *m, mk_prehashes *pre, void (*warn)(void *ud, const char *line), void *ud,
                     mk_inputs **ret, mk_error *err)
{
        _cleanup_keyset_ mk_keyset *set = NULL;
        int r;
        if (m->n_keys && (r = load_keys(m, &set, err)) < 0)
                return r;
        mk_inputs *in = calloc(1, sizeof(*in));
        if (!in || !(in->items = calloc(m->n_components, sizeof(*in->items)))) {
                free(in);
                return mk_error_set(err, ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < m->n_components; i++) {
                mk_input *it = &in->items[in->n++];
                it->mc = &m->components[i];
                if ((r = verify_one(m, set, it->mc, it, prehash_take(pre, i), warn, ud, err)) < 0) {
                        mk_inputs_free(in);
                        return r;
                }
        }
        *ret = in;
        return 0;
}

component_type mk_input_type(const mk_input *in)
{
        return in->comp ? mk_component_get_meta(in->comp)->type : COMPONENT_BASE;
}

bool mk_input_in_root(const mk_input *in)
{
        component_type t = mk_input_type(in);
        return t != COMPONENT_DATA && t != COMPONENT_KERNEL;
}
