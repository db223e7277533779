/* SPDX-License-Identifier: MIT */
/* `mkimage verify` under Secure Boot: the UKIs against their manifests, the EFI binaries against the db. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "builder/esp/esp.h"
#include "builder/image/digest.h"
#include "builder/secureboot/authenticode.h"
#include "builder/secureboot/pe.h"
#include "builder/secureboot/uki.h"
#include "builder/verify/verify-internal.h"
#include "signing/base/macro.h"
#include "signing/conventions/conventions.h"

#define EFI_FILE_MAX (512u << 20)

/* What a slot's UKI pins: each value must be on its command line as one word. */
static bool has_word(const char *cmdline, const char *word)
{
        size_t n = strlen(word);
        for (const char *p = cmdline; (p = strstr(p, word)); p += n)
                if ((p == cmdline || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
                        return true;
        return false;
}

/*
 * A UKI whose bytes differ from the manifest's digest of the file failed the
 * ESP item already (verify-esp.c, "... has SHA-256 ..."): what the checks
 * here find in it (changed is true) is added to that failure, so the report
 * says what changed: a section, the command line, the signature.
 */
static bool uki_changed(const mk_manifest *m, const uint8_t *data, size_t len)
{
        for (size_t i = 0; i < m->n_boot; i++)
                if (!strcmp(m->boot[i].path, m->uki.path)) {
                        char hex[65];
                        mk_sha256_buffer(data, len, hex);
                        return strcmp(hex, m->boot[i].sha256) != 0;
                }
        return false;
}

static int check_uki(vctx *v, const mk_manifest *m, const char *path, const uint8_t *data, size_t len, bool changed)
{
        size_t esp = VITEM_PART(v->esp);
        mk_pe pe;
        mk_error e = {0};
        if (mk_pe_parse(path, data, len, &pe, &e) < 0)
                return mk_vitem_fail_add(v, esp, changed, "slot %c's UKI /%s: %s", m->slot, path, e.msg);
        mk_uki_part parts[MK_MANIFEST_UKI_SECTIONS];
        for (size_t i = 0; i < m->uki.n_sections; i++) {
                const mk_manifest_file *f = &m->uki.sections[i];
                const mk_pe_section *s = mk_pe_find(&pe, f->path);
                if (!s || s->vsize > s->raw_size)
                        return mk_vitem_fail_add(v, esp, changed,
                                                 "slot %c's UKI /%s has no section %s (the manifest lists it)", m->slot,
                                                 path, f->path);
                char hex[65];
                mk_sha256_buffer(data + s->raw_off, s->vsize, hex);
                if (strcmp(hex, f->sha256))
                        return mk_vitem_fail_add(v, esp, changed,
                                                 "slot %c's UKI /%s: section %s has SHA-256 %.16s…, the manifest "
                                                 "says %.16s… (changed after the build: rebuild the image)",
                                                 m->slot, path, f->path, hex, f->sha256);
                parts[i] = (mk_uki_part){.name = f->path, .data = data + s->raw_off, .size = s->vsize};
        }
        char pcr[65];
        mk_uki_pcr11(parts, m->uki.n_sections, pcr);
        if (strcmp(pcr, m->uki.pcr11))
                return mk_vitem_fail_add(v, esp, changed,
                                         "slot %c's UKI /%s gives PCR 11 %.16s…, the manifest says %.16s…", m->slot,
                                         path, pcr, m->uki.pcr11);
        const mk_pe_section *cmd = mk_pe_find(&pe, ".cmdline");
        _cleanup_free_ char *text =
                cmd && cmd->vsize <= cmd->raw_size ? strndup((const char *)data + cmd->raw_off, cmd->vsize) : NULL;
        char want[3][128];
        snprintf(want[0], sizeof(want[0]), "roothash=%s", m->root.verity.root_hash);
        snprintf(want[1], sizeof(want[1]), "systemd.verity_root_data=PARTUUID=%s", m->root.partuuid);
        snprintf(want[2], sizeof(want[2]), "systemd.verity_root_hash=PARTUUID=%s", m->root.verity.partuuid);
        for (int i = 0; i < 3; i++)
                if (!text || !has_word(text, want[i]))
                        return mk_vitem_fail_add(v, esp, changed,
                                                 "slot %c's UKI /%s: its command line does not pin the manifest's "
                                                 "root (%s missing)",
                                                 m->slot, path, want[i]);
        return 0;
}

/* Every file on the ESP whose name ends in .efi: the firmware or systemd-boot may start it. */
static bool is_efi(const char *p)
{
        size_t n = strlen(p);
        return n > 4 && !strcasecmp(p + n - 4, ".efi");
}

int mk_verify_sb(vctx *v, const mk_manifest *const ms[2])
{
        if (v->esp < 0)
                return 0;
        size_t esp = VITEM_PART(v->esp);
        uint64_t off = v->gpt->parts[v->esp].start;
        int ukis = 0, r;
        const char *changed[2] = {NULL, NULL}; /* the ESP paths of UKIs not as their manifest says */
        for (int s = 0; s < 2; s++) {
                const mk_manifest *m = ms[s];
                const char *path = NULL;
                if (!m || !m->uki.path)
                        continue;
                if ((r = mk_verify_find_entry(v, m->slot, &path)) < 0)
                        return r;
                if (!path)
                        continue;
                _cleanup_free_ char *data = NULL;
                size_t len;
                mk_error e = {0};
                if ((r = mk_esp_read(v->path, off, path, EFI_FILE_MAX, &data, &len, &e)) < 0) {
                        if (r == -ENOMEM || (r = mk_vitem_fail(v, esp, "slot %c's UKI: %s", m->slot, e.msg)) < 0)
                                return -ENOMEM;
                        continue;
                }
                if (uki_changed(m, (const uint8_t *)data, len))
                        changed[s] = path;
                if ((r = check_uki(v, m, path, (const uint8_t *)data, len, changed[s])) < 0)
                        return r;
                ukis++;
        }
        bool entries = false; /* a type #1 entry in a manifest's boot list */
        for (int s = 0; s < 2; s++)
                for (size_t k = 0; ms[s] && k < ms[s]->n_boot; k++)
                        entries |= !strncmp(ms[s]->boot[k].path, "/" MK_ESP_ENTRIES_DIR "/",
                                            sizeof(MK_ESP_ENTRIES_DIR) + 1);
        if (!ukis && entries)
                return mk_vitem_ok(v, esp, "Secure Boot: off (unsigned type #1 entries)");
        if (!ukis && (ms[0] || ms[1]))
                return mk_vitem_ok(v, esp, "no boot entries (the image has no kernel component)");
        if (!v->opts || !v->opts->sb_cert)
                return ukis ? mk_vitem_ok(v, esp,
                                          "Secure Boot: %d UKIs match their manifests; signatures not checked "
                                          "(give --sb-cert db.crt)",
                                          ukis)
                            : 0;
        int n = 0;
        for (size_t i = 0; v->esp_paths && v->esp_paths[i]; i++) {
                const char *p = v->esp_paths[i];
                if (!is_efi(p))
                        continue;
                _cleanup_free_ char *data = NULL;
                size_t len;
                mk_error e = {0};
                r = mk_esp_read(v->path, off, p, EFI_FILE_MAX, &data, &len, &e);
                if (r >= 0) {
                        char what[300];
                        snprintf(what, sizeof(what), "/%s", p);
                        r = mk_authenticode_verify(what, (const uint8_t *)data, len, v->opts->sb_cert, NULL, &e);
                }
                if (r == -ENOMEM)
                        return r;
                bool add = (changed[0] && !strcmp(p, changed[0])) || (changed[1] && !strcmp(p, changed[1]));
                if (r < 0 && mk_vitem_fail_add(v, esp, add, "Secure Boot: %s", e.msg) < 0)
                        return -ENOMEM;
                n += r >= 0;
        }
        char subject[256];
        X509_NAME_oneline(X509_get_subject_name(v->opts->sb_cert), subject, sizeof(subject));
        return mk_vitem_ok(v, esp, "Secure Boot: %d EFI binaries signed for %s; %d UKIs match their manifests", n,
                           subject, ukis);
}
