/* SPDX-License-Identifier: MIT */
#include "builder/build/build-uki.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/build/os-release.h"
#include "builder/image/digest.h"
#include "builder/secureboot/authenticode.h"
#include "builder/secureboot/pe.h"
#include "builder/secureboot/uki.h"
#include "signing/base/fileio.h"
#include "signing/base/macro.h"
#include "signing/conventions/conventions.h"

#define STUB_MAX (16u << 20)
#define AUTH_MAX (64u << 10)
#define LOADER_MAX (16u << 20)
/* FAT32's own tables, folders and cluster slack on an ESP of mkimage's size: a generous bound. */
#define ESP_OVERHEAD(size) ((size) / 32 + (1u << 20))

const char *const mk_uki_auth_names[3] = {"PK.auth", "KEK.auth", "db.auth"};

void mk_uki_stage_done(mk_uki_stage *u)
{
        mk_sb_signer_free(u->signer);
        free(u->stub);
        free(u->loader);
        for (int i = 0; i < 3; i++)
                free(u->auth[i]);
        for (int s = 0; s < 2; s++)
                free(u->slot[s].data);
        *u = (mk_uki_stage){0};
}

static int read_enrolment(mk_uki_stage *u, const char *dir, mk_error *err)
{
        for (int i = 0; i < 3; i++) {
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s/%s", dir, mk_uki_auth_names[i]) < 0)
                        return mk_error_set(err, ENOMEM, "out of memory");
                int r = mk_read_file(path, AUTH_MAX, &u->auth[i], &u->auth_len[i], err);
                if (r == -ENOENT) {
                        mk_error_clear(err);
                        return mk_error_set(err, ENOENT,
                                            "%s: missing; the enrolment folder holds PK.auth, KEK.auth and db.auth "
                                            "(mkimage sb-keygen DIR makes them)",
                                            path);
                }
                if (r < 0)
                        return r;
                if (u->auth_len[i] < 40)
                        return mk_error_set(err, EINVAL, "%s: %zu bytes, too short for a signed EFI variable", path,
                                            u->auth_len[i]);
        }
        return 0;
}

int mk_uki_prepare(mk_uki_stage *u, const mk_model *m, const mk_sb_opts *o, const char *loader_path, size_t kernel_len,
                   size_t initrd_len, uint64_t esp_size, int64_t now, mk_error *err)
{
        *u = (mk_uki_stage){0};
        const char *key = o->key ? o->key : m->secure_boot.key, *cert = o->cert ? o->cert : m->secure_boot.cert;
        const char *enroll = o->enroll ? o->enroll : m->secure_boot.enroll;
        _cleanup_free_ char *loader = NULL; /* before the first goto: the cleanup must see it set */
        size_t loader_len;
        mk_pe pe;
        int r;
        if (!key || !cert)
                return mk_error_set(err, EINVAL,
                                    "%s: Secure Boot is %s, but no %s is given (set 'secure-boot: {key: db.key, "
                                    "certificate: db.crt}' in the model, or --sb-key and --sb-cert; make a "
                                    "development set with 'mkimage sb-keygen DIR'; or say 'secure-boot: off' "
                                    "for an unsigned boot chain)",
                                    m->path, m->secure_boot.mode == MK_SB_ON ? "on" : "the default",
                                    !key ? "db key" : "db certificate");
        if ((r = mk_sb_signer_load(key, cert, now, &u->signer, err)) < 0)
                goto fail;
        u->stub_path = m->secure_boot.stub ? m->secure_boot.stub : MK_UKI_STUB_DEFAULT;
        r = mk_read_file(u->stub_path, STUB_MAX, &u->stub, &u->stub_len, err);
        if (r == -ENOENT && !m->secure_boot.stub) {
                mk_error_clear(err);
                r = mk_error_set(err, ENOENT,
                                 "%s: systemd's EFI stub is missing (install the Debian package 'systemd-boot-efi')",
                                 u->stub_path);
        }
        if (r < 0)
                goto fail;
        if ((r = mk_pe_parse(u->stub_path, u->stub, u->stub_len, &pe, err)) < 0)
                goto fail;
        if (pe.cert_size) {
                r = mk_error_set(err, EINVAL, "%s: the stub is signed already (use the unsigned stub)", u->stub_path);
                goto fail;
        }
        if ((r = mk_read_file(loader_path, LOADER_MAX, &loader, &loader_len, err)) < 0 ||
            (r = mk_authenticode_sign(loader_path, (const uint8_t *)loader, loader_len, u->signer, &u->loader,
                                      &u->loader_len, err)) < 0)
                goto fail;
        if (enroll && !o->no_enroll && (r = read_enrolment(u, enroll, err)) < 0)
                goto fail;
        /* Two UKIs, systemd-boot twice, the rest small: refuse now what mk_esp_write would refuse later. */
        uint64_t uki = u->stub_len + (uint64_t)kernel_len + initrd_len + 64 * 1024;
        uint64_t need = 2 * uki + 2 * (uint64_t)u->loader_len + 256 * 1024;
        if (need + ESP_OVERHEAD(esp_size) > esp_size) {
                r = mk_error_set(err, EFBIG,
                                 "%s: the ESP (%llu bytes) has no room for two UKIs of %llu bytes each (kernel %zu "
                                 "+ initrd %zu bytes) and systemd-boot: it needs about %llu bytes (make the ESP "
                                 "larger in the layout, or the kernel or initrd smaller)",
                                 m->path, (unsigned long long)esp_size, (unsigned long long)uki, kernel_len, initrd_len,
                                 (unsigned long long)(need + ESP_OVERHEAD(need)));
                goto fail;
        }
        return 0;
fail:
        mk_uki_stage_done(u);
        return r;
}

char *mk_uki_cmdline(const mk_model *m, const mk_manifest *mf)
{
        char *s = NULL;
        if (asprintf(&s,
                     "console=%s%s%s "
                     "mkimage.slot=%c roothash=%s systemd.verity_root_data=PARTUUID=%s "
                     "systemd.verity_root_hash=PARTUUID=%s",
                     m->boot.console, m->boot.cmdline ? " " : "", m->boot.cmdline ? m->boot.cmdline : "", mf->slot,
                     mf->root.verity.root_hash, mf->root.partuuid, mf->root.verity.partuuid) < 0)
                return NULL;
        return s;
}

/*
 * The UKI's os-release: the root's, with the slot in PRETTY_NAME and the
 * boot order's sort key as IMAGE_ID (systemd-boot sorts type #2 entries by
 * IMAGE_ID, then by version: conventions.h, mk_bls_sort_key).
 */
static char *osrel_text(const mk_model *m, char slot, mk_error *err)
{
        _cleanup_free_ char *base = NULL;
        char key[64];
        if (mk_os_release_text(m, &base, err) < 0)
                return NULL;
        if (!mk_bls_sort_key(m->version, (char[2]){slot, 0}, key, sizeof(key))) {
                mk_error_set(err, EINVAL, "%s: version %llu is too large for a boot entry", m->path,
                             (unsigned long long)m->version);
                return NULL;
        }
        size_t cap = strlen(base) + 512, n = 0;
        char *out = malloc(cap);
        if (!out) {
                mk_error_set(err, ENOMEM, "out of memory");
                return NULL;
        }
        for (char *line = base, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                if (!strncmp(line, "IMAGE_ID=", 9) || !strncmp(line, "PRETTY_NAME=", 12))
                        continue;
                n += (size_t)snprintf(out + n, cap - n, "%s\n", line);
        }
        snprintf(out + n, cap - n, "PRETTY_NAME=\"%s %s %llu (slot %c)\"\nIMAGE_ID=%s\n", m->brand, m->model,
                 (unsigned long long)m->version, slot, key);
        return out;
}

int mk_uki_make_slot(mk_uki_stage *u, const mk_model *m, const mk_manifest *mf, const char *vmlinuz, size_t vmlinuz_len,
                     const char *initrd, size_t initrd_len, mk_error *err)
{
        mk_uki_slot *us = &u->slot[mf->slot - 'a'];
        _cleanup_free_ char *osrel = osrel_text(m, mf->slot, err), *cmdline = mk_uki_cmdline(m, mf);
        if (!osrel)
                return -EINVAL;
        if (!cmdline)
                return mk_error_set(err, ENOMEM, "out of memory");
        const mk_uki_part parts[MK_UKI_PARTS] = {
                {".osrel", osrel, strlen(osrel)},
                {".cmdline", cmdline, strlen(cmdline)},
                {".linux", vmlinuz, vmlinuz_len},
                {".initrd", initrd, initrd_len},
        };
        _cleanup_free_ uint8_t *raw = NULL;
        size_t raw_len;
        int r = mk_uki_assemble(u->stub_path, u->stub, u->stub_len, parts, MK_UKI_PARTS, &raw, &raw_len, err);
        if (r < 0)
                return r;
        free(us->data);
        us->data = NULL;
        char what[64];
        snprintf(what, sizeof(what), "the UKI of slot %c", mf->slot);
        if ((r = mk_authenticode_sign(what, raw, raw_len, u->signer, &us->data, &us->len, err)) < 0)
                return r;
        mk_sha256_buffer(us->data, us->len, us->sha256);
        mk_uki_pcr11(parts, MK_UKI_PARTS, us->pcr11);
        size_t k = 0;
        for (const char *const *name = mk_uki_measured_sections; *name && k < MK_UKI_PARTS; name++)
                for (size_t i = 0; i < MK_UKI_PARTS; i++)
                        if (!strcmp(parts[i].name, *name))
                                mk_sha256_buffer(parts[i].data, parts[i].size, us->section_sha[k++]);
        return 0;
}
