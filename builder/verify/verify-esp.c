/* SPDX-License-Identifier: MIT */
/*
 * `verify` on the ESP: what the boot chain reads there must be what the
 * signed manifests say. Per verified manifest: each `boot` file's SHA-256,
 * and the ESP's copy of the manifest and its signature, byte for byte
 * against the authenticated files beside the image.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "builder/image/digest.h"
#include "signing/conventions/conventions.h"
#include "builder/esp/esp.h"
#include "signing/base/macro.h"
#include "builder/verify/verify-internal.h"

#define BOOT_FILE_MAX (512u << 20)

static int find_esp(const vctx *v)
{
        for (unsigned i = 0; i < v->gpt->n_parts; i++)
                if (!strcasecmp(v->gpt->parts[i].type_guid, MK_ESP_TYPE_GUID))
                        return (int)i;
        return -1;
}

/* The ESP file esp_path must hold exactly the len bytes of want. */
static int same_bytes(vctx *v, unsigned idx, uint64_t off, const char *esp_path, const char *want, size_t len,
                      const char *what)
{
        _cleanup_free_ char *got = NULL;
        size_t got_len;
        mk_error e = {0};
        int r = mk_esp_read(v->path, off, esp_path, MK_MANIFEST_MAX, &got, &got_len, &e);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return mk_vitem_fail(v, VITEM_PART(idx), "%s: %s", what, e.msg);
        if (got_len != len || memcmp(got, want, len))
                return mk_vitem_fail(v, VITEM_PART(idx),
                                     "/%s differs from the signed %s beside the image (the boot chain would refuse it: "
                                     "rebuild the image, or copy the signed file onto the ESP)",
                                     esp_path, what);
        return 0;
}

int mk_verify_esp(vctx *v, const mk_manifest *m, const char *manifest, size_t manifest_len, const char *sig,
                  size_t sig_len)
{
        int idx = find_esp(v);
        if (idx < 0) {
                if (m->n_boot == 0)
                        return 0;
                return mk_vitem_fail(v, (size_t)m->slot - 'a',
                                     "the manifest names boot files, but the image has no ESP");
        }
        uint64_t off = v->gpt->parts[idx].start;
        mk_vitem_seen(v, VITEM_PART(idx));
        for (size_t i = 0; i < m->n_boot; i++) {
                _cleanup_free_ char *buf = NULL;
                size_t len;
                mk_error e = {0};
                int r = mk_esp_read(v->path, off, m->boot[i].path, BOOT_FILE_MAX, &buf, &len, &e);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        if ((r = mk_vitem_fail(v, VITEM_PART(idx), "slot %c's boot file: %s", m->slot, e.msg)) < 0)
                                return r;
                        continue;
                }
                char hex[65];
                mk_sha256_buffer(buf, len, hex);
                if (strcmp(hex, m->boot[i].sha256) &&
                    (r = mk_vitem_fail(v, VITEM_PART(idx),
                                       "%s has SHA-256 %.16s…, slot %c's manifest says %.16s… (the file was changed "
                                       "after signing: rebuild the image)",
                                       m->boot[i].path, hex, m->slot, m->boot[i].sha256)) < 0)
                        return r;
        }
        char mpath[64], spath[80];
        snprintf(mpath, sizeof(mpath), MK_SLOT_MANIFEST_FMT, m->slot);
        snprintf(spath, sizeof(spath), "%s" MK_SIG_SUFFIX, mpath);
        int r = same_bytes(v, (unsigned)idx, off, mpath, manifest, manifest_len, "manifest");
        if (r >= 0)
                r = same_bytes(v, (unsigned)idx, off, spath, sig, sig_len, "manifest signature");
        return r;
}
