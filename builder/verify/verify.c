/* SPDX-License-Identifier: MIT */
/*
 * `verify`: find and authenticate the manifests, then hand each one to
 * mk_verify_slot. A manifest's bytes are read once, and that one buffer is both
 * signature-checked and parsed: nothing can change between the two.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "signing/base/fileio.h"
#include "signing/conventions/conventions.h"
#include "builder/image/inspect.h"
#include "signing/base/macro.h"
#include "builder/esp/esp.h"
#include "builder/verify/verify-internal.h"

static const char *const manifest_suffix[VITEM_MANIFESTS] = {MK_IMAGE_MANIFEST_A, MK_IMAGE_MANIFEST_B};

/* True when the GPT has a partition called "root-<slot>" holding anything. */
static bool slot_populated(const vctx *v, const char *const *content, char slot)
{
        char name[8];
        snprintf(name, sizeof(name), "root-%c", slot);
        for (unsigned i = 0; i < v->gpt->n_parts; i++)
                if (!strcmp(v->gpt->parts[i].name, name) && strcmp(content[i], "empty") != 0)
                        return true;
        return false;
}

/* Either slot's manifest is beside the image (a build's output): then those are the ones checked. */
static bool beside_any(const vctx *v)
{
        for (unsigned s = 0; s < VITEM_MANIFESTS; s++)
                if (access(v->rep->items[s].name, F_OK) == 0)
                        return true;
        return false;
}

/*
 * Authenticate and parse slot s's manifest. *ret is set only when it is
 * signed by key, well-formed and for slot s; otherwise the manifest item
 * says why. Returns 0, or -ENOMEM.
 */
static int load_manifest(vctx *v, unsigned s, const mk_pubkey *key, bool required, mk_manifest **ret)
{
        const char *path = v->rep->items[s].name;
        char slot = (char)('a' + s);
        _cleanup_free_ char *sig_path = NULL, *buf = NULL, *sig = NULL;
        size_t len, sig_len;
        mk_error e = {0};
        int r = mk_read_file(path, MK_MANIFEST_MAX, &buf, &len, &e);
        bool from_esp = false;
        if (r == -ENOENT && v->esp >= 0 && !beside_any(v)) {
                /* a device's disk (an updated one too) has no manifest beside it at all: the ESP's copies then */
                char esp_path[64], esp_sig[80];
                snprintf(esp_path, sizeof(esp_path), MK_SLOT_MANIFEST_FMT, slot);
                snprintf(esp_sig, sizeof(esp_sig), "%s" MK_SIG_SUFFIX, esp_path);
                uint64_t off = v->gpt->parts[v->esp].start;
                mk_error ignore = {0};
                if (mk_esp_read(v->path, off, esp_path, MK_MANIFEST_MAX, &buf, &len, &ignore) == 0 &&
                    mk_esp_read(v->path, off, esp_sig, MK_MINISIGN_FILE_MAX, &sig, &sig_len, &ignore) == 0) {
                        from_esp = true;
                        r = 0;
                } else {
                        free(buf);
                        buf = NULL;
                }
        }
        if (r == -ENOENT && !required)
                return mk_vitem_skip(v, s, "not present (the image has no populated slot %c)", slot);
        if (r == -ENOENT)
                return mk_vitem_fail(v, s,
                                     "missing: slot %c's manifest %s does not exist (put it beside the image, "
                                     "with its .minisig)",
                                     slot, path);
        if (r < 0)
                return r == -ENOMEM ? r : mk_vitem_fail(v, s, "%s", e.msg);
        if (asprintf(&sig_path, "%s" MK_SIG_SUFFIX, path) < 0)
                return -ENOMEM;
        if (!from_esp)
                r = mk_read_file(sig_path, MK_MINISIGN_FILE_MAX, &sig, &sig_len, &e);
        if (r == -ENOENT)
                return mk_vitem_fail(v, s, "%s: missing: the manifest is not signed (put its signature beside it)",
                                     sig_path);
        if (r < 0)
                return r == -ENOMEM ? r : mk_vitem_fail(v, s, "%s", e.msg);
        _cleanup_verified_ mk_verified ver = {0};
        mk_verify_result vr = mk_verify_buffer_with_key(key, path, buf, len, sig_path, sig, sig_len, &ver, &e);
        if (vr != MK_VERIFY_OK)
                return mk_vitem_fail(v, s, "%s", e.msg);
        mk_manifest *m;
        if ((r = mk_manifest_parse(path, buf, len, &m, &e)) < 0)
                return r == -ENOMEM ? r : mk_vitem_fail(v, s, "%s", e.msg);
        if (m->slot != slot) {
                char other = m->slot;
                mk_manifest_free(m);
                return mk_vitem_fail(v, s,
                                     "%s is slot %c's manifest, but this file is where slot %c's belongs "
                                     "(copy the right manifest here)",
                                     path, other, slot);
        }
        mk_vitem_seen(v, s);
        if (from_esp && (r = mk_vitem_ok(v, s, "the ESP's copy: none beside the image")) < 0) {
                mk_manifest_free(m);
                return r;
        }
        if ((r = mk_verify_esp(v, m, buf, len, sig, sig_len)) < 0) {
                mk_manifest_free(m);
                return r;
        }
        *ret = m;
        return 0;
}

/* Both slots come from one model: slot b must say what slot a says. */
static int cross_check(vctx *v, const mk_manifest *a, const mk_manifest *b)
{
        if (strcmp(a->model, b->model) != 0)
                return mk_vitem_fail(v, 1, "model '%s' differs from slot a's manifest ('%s')", b->model, a->model);
        if (strcmp(a->brand, b->brand) != 0)
                return mk_vitem_fail(v, 1, "brand '%s' differs from slot a's manifest ('%s')", b->brand, a->brand);
        return 0; /* the versions may differ: an updated disk holds two releases */
}

/* Set up the report: manifest items named by path, partition items by GPT name. */
static int report_new(vctx *v)
{
        v->rep = calloc(1, sizeof(*v->rep));
        if (!v->rep)
                return -ENOMEM;
        v->rep->n_items = VITEM_MANIFESTS + v->gpt->n_parts;
        if (!(v->rep->items = calloc(v->rep->n_items, sizeof(*v->rep->items))))
                return -ENOMEM;
        for (unsigned s = 0; s < VITEM_MANIFESTS; s++)
                if (asprintf(&v->rep->items[s].name, "%s%s", v->path, manifest_suffix[s]) < 0)
                        return -ENOMEM;
        for (unsigned i = 0; i < v->gpt->n_parts; i++) {
                const mk_gpt_part *p = &v->gpt->parts[i];
                int k = p->name[0] ? asprintf(&v->rep->items[VITEM_PART(i)].name, "%s", p->name)
                                   : asprintf(&v->rep->items[VITEM_PART(i)].name, "partition %u", p->number);
                if (k < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int run(vctx *v, const mk_pubkey *key, mk_error *err)
{
        const char *content[MK_GPT_PARTS_MAX];
        unsigned char head[4096];
        for (unsigned i = 0; i < v->gpt->n_parts; i++) {
                ssize_t k = pread(v->fd, head, sizeof(head), (off_t)v->gpt->parts[i].start);
                content[i] = mk_detect_content(head, k > 0 ? (size_t)k : 0);
        }
        _cleanup_(mk_manifest_freep) mk_manifest *ma = NULL;
        _cleanup_(mk_manifest_freep) mk_manifest *mb = NULL;
        int r;
        /* a slot the ESP still boots must be whole, even when its partitions were wiped */
        if ((r = mk_verify_esp_scan(v)) < 0 || (r = load_manifest(v, 0, key, true, &ma)) < 0 ||
            (r = load_manifest(v, 1, key, slot_populated(v, content, 'b') || v->live[1], &mb)) < 0 ||
            (ma && mb && (r = cross_check(v, ma, mb)) < 0) || (ma && (r = mk_verify_slot(v, 0, ma)) < 0) ||
            (mb && (r = mk_verify_slot(v, 1, mb)) < 0) ||
            (r = mk_verify_esp_policy(v, (const mk_manifest *const[2]){ma, mb})) < 0 ||
            (r = mk_verify_sb(v, (const mk_manifest *const[2]){ma, mb})) < 0)
                return mk_error_set(err, -r, "%s: %s", v->path, strerror(-r));
        for (unsigned i = 0; i < v->gpt->n_parts; i++) {
                if (v->seen[VITEM_PART(i)])
                        continue;
                r = !strcmp(content[i], "empty")
                            ? mk_vitem_skip(v, VITEM_PART(i), "not checked (no content yet)")
                            : mk_vitem_skip(v, VITEM_PART(i), "not checked (holds %s; no valid manifest covers it)",
                                            content[i]);
                if (r < 0)
                        return mk_error_set(err, ENOMEM, "out of memory");
        }
        v->rep->ok = true;
        for (size_t i = 0; i < v->rep->n_items; i++)
                if (v->rep->items[i].status == MK_CHECK_FAILED)
                        v->rep->ok = false;
        return 0;
}

int mk_verify_image_with(const char *path, const mk_verify_opts *o, mk_verify_report **ret, mk_error *err)
{
        vctx v = {.path = path, .fd = -1, .esp = -1, .opts = o};
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        v.threads = n < 1 ? 1 : n > 16 ? 16 : (unsigned)n;
        int r = mk_gpt_read(path, &v.gpt, err);
        if (r < 0)
                return r;
        if ((v.fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
                r = mk_error_set(err, errno, "%s: %s", path, strerror(errno));
        else if (report_new(&v) < 0)
                r = mk_error_set(err, ENOMEM, "out of memory");
        else
                r = run(&v, o->key, err);
        if (v.fd >= 0)
                close(v.fd);
        free(v.gpt);
        mk_esp_names_free(v.esp_paths);
        if (r < 0) {
                mk_verify_report_free(v.rep);
                return r;
        }
        *ret = v.rep;
        return 0;
}

int mk_verify_image(const char *path, const mk_pubkey *key, mk_verify_report **ret, mk_error *err)
{
        return mk_verify_image_with(path, &(mk_verify_opts){.key = key}, ret, err);
}
