/* SPDX-License-Identifier: MIT */
/*
 * `verify` on the ESP: what the boot chain reads there must be what the
 * signed manifests say. Per verified manifest: each `boot` file's SHA-256
 * (systemd-boot, loader.conf, the slot's entry, kernel and initrd), and the
 * ESP's copy of the manifest and its signature, byte for byte against the
 * authenticated files beside the image. And nothing else on the ESP may
 * change what boots (mk_verify_esp_policy).
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

#define BOOT_FILE_MAX ((uint64_t)512 << 20)

static int find_esp(const vctx *v)
{
        for (unsigned i = 0; i < v->gpt->n_parts; i++)
                if (!strcasecmp(v->gpt->parts[i].type_guid, MK_ESP_TYPE_GUID))
                        return (int)i;
        return -1;
}

/*
 * The entry file name of a path on the ESP in loader/entries/ (type #1) or
 * EFI/Linux/ (a UKI, type #2), or NULL.
 */
static const char *entry_name(const char *path)
{
        static const char *const dirs[] = {MK_ESP_ENTRIES_DIR "/", MK_ESP_UKI_DIR "/"};
        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
                size_t n = strlen(dirs[i]);
                char slot;
                int left, done;
                if (strncasecmp(path, dirs[i], n) || !path[n] || strchr(path + n, '/'))
                        continue;
                /* in EFI/Linux only a slot's UKI is an entry: anything else there is a foreign EFI program */
                if (i == 0 || mk_bls_entry_parse(path + n, &slot, &left, &done))
                        return path + n;
        }
        return NULL;
}

int mk_verify_esp_scan(vctx *v)
{
        v->esp = find_esp(v);
        if (v->esp < 0)
                return 0;
        mk_error e = {0};
        int r = mk_esp_list_all(v->path, v->gpt->parts[v->esp].start, MK_ESP_ALL_MAX, &v->esp_paths, &e);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return mk_vitem_fail(v, VITEM_PART(v->esp), "%s", e.msg);
        for (size_t i = 0; v->esp_paths[i]; i++) {
                const char *name = entry_name(v->esp_paths[i]);
                char slot;
                int left, done;
                if (name && mk_bls_entry_parse(name, &slot, &left, &done) && left != 0)
                        v->live[slot - 'a'] = true;
        }
        return 0;
}

/* The one entry of slot on the ESP ("loader/entries/slot-a+2-1.conf"); NULL and a failure otherwise. */
int mk_verify_find_entry(vctx *v, char slot, const char **ret)
{
        *ret = NULL;
        size_t n = 0;
        for (size_t i = 0; v->esp_paths && v->esp_paths[i]; i++) {
                const char *name = entry_name(v->esp_paths[i]);
                char s;
                int left, done;
                if (name && mk_bls_entry_parse(name, &s, &left, &done) && s == slot) {
                        *ret = v->esp_paths[i];
                        n++;
                }
        }
        if (n == 1)
                return 0;
        const char *where = *ret && !strncasecmp(*ret, MK_ESP_UKI_DIR "/", strlen(MK_ESP_UKI_DIR) + 1)
                                    ? "/" MK_ESP_UKI_DIR
                                    : "/" MK_ESP_ENTRIES_DIR;
        *ret = NULL;
        if (n)
                return mk_vitem_fail(v, VITEM_PART(v->esp),
                                     "slot %c has %zu boot entries in %s, mkimage writes one (remove the others)", slot,
                                     n, where);
        return mk_vitem_fail(v, VITEM_PART(v->esp),
                             "slot %c has no boot entry in /" MK_ESP_ENTRIES_DIR " or /" MK_ESP_UKI_DIR
                             " (rebuild the image)",
                             slot);
}

/* Whether a path on the ESP is one the boot chain reads that mkimage writes besides the manifests' files. */
static bool harmless(const char *path)
{
        static const char *const ok[] = {"loader/random-seed"};
        for (size_t i = 0; i < ELEMENTSOF(ok); i++)
                if (!strcasecmp(path, ok[i]))
                        return true;
        return false;
}

static bool in_manifest(const mk_manifest *const ms[2], const char *path)
{
        for (int s = 0; s < 2; s++)
                for (size_t i = 0; ms[s] && i < ms[s]->n_boot; i++)
                        if (!strcasecmp(ms[s]->boot[i].path + 1, path))
                                return true;
        return false;
}

/* Whether slot's verified manifest m lists the slot's boot entry. */
static bool covers_entry(const mk_manifest *m, char slot)
{
        for (size_t i = 0; m && i < m->n_boot; i++) {
                const char *name = entry_name(m->boot[i].path + 1);
                char s;
                int left, done;
                if (name && mk_bls_entry_parse(name, &s, &left, &done) && s == slot)
                        return true;
        }
        return false;
}

int mk_verify_esp_policy(vctx *v, const mk_manifest *const ms[2])
{
        for (size_t i = 0; v->esp_paths && v->esp_paths[i]; i++) {
                const char *p = v->esp_paths[i];
                size_t len = strlen(p);
                if (p[len - 1] == '/' || in_manifest(ms, p) || harmless(p))
                        continue;
                const char *name = entry_name(p);
                char slot;
                int left, done, r = 0;
                /* a slot's entry is checked against its manifest; without one, the manifest's item says why */
                if (name && mk_bls_entry_parse(name, &slot, &left, &done) &&
                    (!ms[slot - 'a'] || covers_entry(ms[slot - 'a'], slot)))
                        continue;
                if (name && mk_bls_entry_parse(name, &slot, &left, &done))
                        r = mk_vitem_fail(v, VITEM_PART(v->esp),
                                          "/%s boots slot %c, whose manifest does not cover its boot entry "
                                          "(rebuild the image)",
                                          p, slot);
                else if (name)
                        r = mk_vitem_fail(v, VITEM_PART(v->esp),
                                          "/%s is not a boot entry of a slot (systemd-boot would offer it: remove it)",
                                          p);
                else if (!strncasecmp(p, "loader/", 7))
                        r = mk_vitem_fail(
                                v, VITEM_PART(v->esp),
                                "/%s can change what systemd-boot does, and no manifest covers it (remove it)", p);
                else if (len >= 4 && !strcasecmp(p + len - 4, ".efi"))
                        r = mk_vitem_fail(v, VITEM_PART(v->esp),
                                          "/%s is an EFI program no manifest covers (the firmware or systemd-boot may "
                                          "start it: remove it)",
                                          p);
                if (r < 0)
                        return r;
        }
        return 0;
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
        int idx = v->esp;
        if (idx < 0) {
                if (m->n_boot == 0)
                        return 0;
                return mk_vitem_fail(v, (size_t)m->slot - 'a',
                                     "the manifest names boot files, but the image has no ESP");
        }
        uint64_t off = v->gpt->parts[idx].start;
        mk_vitem_seen(v, VITEM_PART(idx));
        /* streamed: memory stays flat; no file is larger than the ESP that holds it */
        uint64_t most = v->gpt->parts[idx].size < BOOT_FILE_MAX ? v->gpt->parts[idx].size : BOOT_FILE_MAX;
        for (size_t i = 0; i < m->n_boot; i++) {
                uint64_t len;
                mk_error e = {0};
                char hex[65];
                const char *path = m->boot[i].path, *actual = NULL;
                const char *name = entry_name(path + 1);
                char slot;
                int left, done, r;
                /* the slot's entry is listed without its boot counter: read the one the ESP holds */
                if (name && mk_bls_entry_parse(name, &slot, &left, &done)) {
                        if ((r = mk_verify_find_entry(v, slot, &actual)) < 0)
                                return r;
                        if (!actual)
                                continue;
                        path = actual;
                }
                r = mk_esp_sha256(v->path, off, path, most, hex, &len, &e);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        if ((r = mk_vitem_fail(v, VITEM_PART(idx), "slot %c's boot file: %s", m->slot, e.msg)) < 0)
                                return r;
                        continue;
                }
                if (strcmp(hex, m->boot[i].sha256) &&
                    (r = mk_vitem_fail(v, VITEM_PART(idx),
                                       "%s%s has SHA-256 %.16s…, slot %c's manifest says %.16s… (the file was changed "
                                       "after signing: rebuild the image)",
                                       actual ? "/" : "", path, hex, m->slot, m->boot[i].sha256)) < 0)
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
