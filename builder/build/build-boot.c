/* SPDX-License-Identifier: MIT */
#include "builder/build/build-boot.h"
#include "signing/conventions/conventions.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "builder/esp/cpio.h"
#include "builder/image/digest.h"
#include "builder/esp/esp.h"
#include "builder/secureboot/uki.h"
#include "signing/base/macro.h"

#define BOOT_FILE_MAX (512u << 20) /* bytes: a kernel or an initrd larger than this is refused */
#define SYSTEMD_BOOT_DIR "/usr/lib/systemd/boot/efi"

/*
 * systemd-boot's file in systemd-boot-efi, the removable-media path UEFI
 * firmware starts, and the architecture's suffix for bootctl's own path
 * (MK_ESP_SYSTEMD_BOOT_FMT: the same bytes a second time), per architecture.
 */
static const struct {
        const char *loader, *esp_path, *efi_arch;
} loaders[_MK_ARCH_MAX] = {
        [MK_ARCH_X86_64] = {SYSTEMD_BOOT_DIR "/systemd-bootx64.efi", "EFI/BOOT/BOOTX64.EFI", "x64"},
        [MK_ARCH_AARCH64] = {SYSTEMD_BOOT_DIR "/systemd-bootaa64.efi", "EFI/BOOT/BOOTAA64.EFI", "aa64"},
        [MK_ARCH_RISCV64] = {SYSTEMD_BOOT_DIR "/systemd-bootriscv64.efi", "EFI/BOOT/BOOTRISCV64.EFI", "riscv64"},
};

/* bootctl's path of systemd-boot for arch, into out. */
static void bootctl_path(mk_arch arch, char *out, size_t size)
{
        snprintf(out, size, MK_ESP_SYSTEMD_BOOT_FMT, loaders[arch].efi_arch);
}

void mk_boot_stage_done(mk_boot_stage *s)
{
        free(s->vmlinuz);
        free(s->initrd);
        mk_uki_stage_done(&s->u);
        *s = (mk_boot_stage){0};
}

static int find_kernel(const mk_model *m, const mk_inputs *inputs, const mk_input **ret, mk_error *err)
{
        const mk_input *k = NULL;
        for (size_t i = 0; i < inputs->n; i++) {
                const mk_input *in = &inputs->items[i];
                if (mk_input_type(in) != COMPONENT_KERNEL)
                        continue;
                if (k)
                        return mk_error_set(err, EINVAL,
                                            "%s:%u:%u: components '%s' and '%s' are both of type kernel; an image "
                                            "boots one kernel (keep one)",
                                            m->path, in->mc->line, in->mc->col, k->mc->name, in->mc->name);
                k = in;
        }
        *ret = k;
        return 0;
}

/*
 * The kernel component's initrd (if any), zero-padded to a cpio block (the
 * kernel looks for the next archive at a 4-byte boundary after a compressed
 * one), then mkimage's newc archive with the trusted key and the model name.
 */
static int make_initrd(mk_boot_stage *s, const mk_model *m, const mk_seckey *key, sqimage *img, uint64_t sde,
                       mk_error *err)
{
        _cleanup_free_ char *ird = NULL;
        size_t ird_len = 0;
        int r = mk_sqimage_read_file(img, MK_INITRD_FILE, BOOT_FILE_MAX, &ird, &ird_len, err);
        if (r == -ENOENT) {
                mk_error_clear(err);
                ird_len = 0;
        } else if (r < 0)
                return r;

        char pub[MK_PUB_TEXT_SIZE];
        mk_seckey_pub_text(key, pub);
        _cleanup_free_ char *model_line = NULL;
        if (asprintf(&model_line, "%s\n", m->model) < 0)
                return mk_error_set(err, ENOMEM, "out of memory");
        const mk_cpio_entry e[] = {
                {MK_BOOT_TRUSTED_PUB, S_IFREG | 0644, pub, strlen(pub)},
                {MK_BOOT_MODEL_FILE, S_IFREG | 0644, model_line, strlen(model_line)},
        };
        _cleanup_free_ void *cpio = NULL;
        size_t cpio_len;
        if ((r = mk_cpio_newc(e, ELEMENTSOF(e), (uint32_t)sde, &cpio, &cpio_len, err)) < 0)
                return r;
        size_t padded = (ird_len + MK_CPIO_BLOCK - 1) / MK_CPIO_BLOCK * MK_CPIO_BLOCK;
        if (!(s->initrd = calloc(1, padded + cpio_len)))
                return mk_error_set(err, ENOMEM, "out of memory");
        if (ird_len)
                memcpy(s->initrd, ird, ird_len);
        memcpy(s->initrd + padded, cpio, cpio_len);
        s->initrd_len = padded + cpio_len;
        return 0;
}

int mk_boot_prepare(const mk_model *m, const mk_layout *l, const mk_inputs *inputs, const mk_seckey *key,
                    const mk_sb_opts *sb, uint64_t sde, mk_boot_stage *s, mk_error *err)
{
        *s = (mk_boot_stage){.esp = mk_layout_find(l, MK_ROLE_ESP, 0)};
        int r = find_kernel(m, inputs, &s->kernel, err);
        if (r < 0)
                return r;
        if (s->kernel && !s->esp)
                return mk_error_set(err, EINVAL,
                                    "%s:%u:%u: component '%s' is a kernel, but layout %s has no ESP to boot it from "
                                    "(add a partition with 'role: esp', or drop the component)",
                                    m->path, s->kernel->mc->line, s->kernel->mc->col, s->kernel->mc->name, l->path);
        if (!s->esp)
                return 0;
        if (access(loaders[m->arch].loader, R_OK) < 0)
                return mk_error_set(err, ENOENT,
                                    "%s: systemd-boot for %s is missing: %s (install the Debian package "
                                    "'systemd-boot-efi': apt-get install systemd-boot-efi)",
                                    m->path, mk_arch_name(m->arch), loaders[m->arch].loader);
        if ((r = mk_sha256_file(loaders[m->arch].loader, s->loader_sha, err)) < 0)
                return r;
        if (!s->kernel)
                return 0;

        sqimage *img = mk_component_image(s->kernel->comp);
        r = mk_sqimage_read_file(img, MK_KERNEL_FILE, BOOT_FILE_MAX, &s->vmlinuz, &s->vmlinuz_len, err);
        if (r == -ENOENT) {
                mk_error_clear(err);
                r = mk_error_set(err, ENOENT,
                                 "%s: kernel component '%s' holds no /vmlinuz (a kernel component carries /vmlinuz "
                                 "and /initrd.img at its top: rebuild it, see docs/component.md)",
                                 s->kernel->mc->path, s->kernel->mc->name);
        }
        if (r < 0 || (r = make_initrd(s, m, key, img, sde, err)) < 0)
                return r;
        if (s->vmlinuz_len == 0)
                return mk_error_set(err, EINVAL, "%s: kernel component '%s': /vmlinuz is empty (rebuild it)",
                                    s->kernel->mc->path, s->kernel->mc->name);
        mk_sha256_buffer(s->vmlinuz, s->vmlinuz_len, s->vmlinuz_sha);
        mk_sha256_buffer(s->initrd, s->initrd_len, s->initrd_sha);
        if (m->secure_boot.mode == MK_SB_OFF) {
                if (sb->key || sb->cert || sb->enroll)
                        return mk_error_set(err, EINVAL,
                                            "%s: the model says 'secure-boot: off', but %s is given (drop the option, "
                                            "or the model's 'secure-boot: off')",
                                            m->path,
                                            sb->key    ? "--sb-key"
                                            : sb->cert ? "--sb-cert"
                                                       : "--sb-enroll");
                return 0;
        }
        if (m->arch != MK_ARCH_X86_64)
                return mk_error_set(err, ENOTSUP,
                                    "%s: Secure Boot images are built for x86_64 only so far (set "
                                    "'secure-boot: off')",
                                    m->path);
        if ((r = mk_uki_prepare(&s->u, m, sb, loaders[m->arch].loader, s->vmlinuz_len, s->initrd_len, s->esp->length,
                                (int64_t)time(NULL), err)) < 0)
                return r;
        s->uki = true;
        mk_sha256_buffer(s->u.loader, s->u.loader_len, s->loader_sha);
        return 0;
}

int mk_boot_uki_slot(mk_boot_stage *s, const mk_model *m, mk_manifest *mf, mk_error *err)
{
        if (!s->uki || !s->kernel)
                return 0;
        int r = mk_uki_make_slot(&s->u, m, mf, s->vmlinuz, s->vmlinuz_len, s->initrd, s->initrd_len, err);
        if (r < 0)
                return r;
        mk_uki_slot *us = &s->u.slot[mf->slot - 'a'];
        char name[32];
        mk_uki_entry_name((char[2]){mf->slot, 0}, 0, name, sizeof(name));
        snprintf(us->esp_path, sizeof(us->esp_path), "/" MK_ESP_UKI_DIR "/%s", name);
        mf->uki.path = us->esp_path;
        mf->uki.signed_ = true;
        memcpy(mf->uki.pcr11, us->pcr11, 65);
        mf->uki.n_sections = MK_UKI_PARTS;
        for (size_t i = 0; i < MK_UKI_PARTS; i++) {
                mf->uki.sections[i].path = (char *)mk_uki_measured_sections[i];
                memcpy(mf->uki.sections[i].sha256, us->section_sha[i], 65);
        }
        return 0;
}

/* The boot entry of one slot: its ESP path and text (both malloc'd). */
static int entry_text(const mk_boot_stage *s, const mk_model *m, const mk_layout *l, char slot, char **ret_path,
                      char **ret_text, mk_error *err)
{
        (void)s;
        char slot_name[2] = {slot, 0}, title[256], lx[32], ird[32];
        snprintf(title, sizeof(title), "%s %s %" PRIu64 " (slot %c)", m->brand, m->model, m->version, slot);
        snprintf(lx, sizeof(lx), MK_SLOT_KERNEL_FMT, slot);
        snprintf(ird, sizeof(ird), MK_SLOT_INITRD_FMT, slot);
        _cleanup_free_ char *options = NULL;
        if (asprintf(&options, "console=%s%s%s", m->boot.console, m->boot.cmdline ? " " : "",
                     m->boot.cmdline ? m->boot.cmdline : "") < 0)
                return mk_error_set(err, ENOMEM, "out of memory");
        return mk_esp_entry(slot_name, l->boot_tries, m->version, title, lx, ird, options, ret_path, ret_text, err);
}

static int manifest_file(mk_manifest_file *f, const char *sha, mk_error *err, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static int manifest_file(mk_manifest_file *f, const char *sha, mk_error *err, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        int k = vasprintf(&f->path, fmt, ap);
        va_end(ap);
        if (k < 0) {
                f->path = NULL;
                return mk_error_set(err, ENOMEM, "out of memory");
        }
        memcpy(f->sha256, sha, 65);
        return 0;
}

/* loader.conf under Secure Boot: with the enrolment keys, systemd-boot enrols them in setup mode. */
static int enroll_conf(const mk_boot_stage *s, char **conf, mk_error *err)
{
        if (!s->u.auth[0])
                return 0;
        char *more = NULL;
        if (asprintf(&more, "%ssecure-boot-enroll force\n", *conf) < 0)
                return mk_error_set(err, ENOMEM, "out of memory");
        free(*conf);
        *conf = more;
        return 0;
}

int mk_boot_manifest_files(const mk_boot_stage *s, const mk_model *m, const mk_layout *l, char slot,
                           mk_manifest_file files[MK_BOOT_FILES], size_t *n, mk_error *err)
{
        *n = 0;
        if (!s->esp)
                return 0;
        _cleanup_free_ char *conf = NULL;
        int r = mk_esp_loader_conf(0, &conf, err);
        if (r < 0)
                return r;
        char conf_sha[65];
        if (s->uki && (r = enroll_conf(s, &conf, err)) < 0)
                return r;
        mk_sha256_buffer(conf, strlen(conf), conf_sha);
        if (s->uki && s->kernel) {
                char entry[32];
                mk_uki_entry_name((char[2]){slot, 0}, 0, entry, sizeof(entry));
                if ((r = manifest_file(&files[(*n)++], s->u.slot[slot - 'a'].sha256, err, "/" MK_ESP_UKI_DIR "/%s",
                                       entry)) < 0)
                        return r;
        } else if (s->kernel) {
                _cleanup_free_ char *path = NULL, *text = NULL;
                char entry[64], entry_sha[65];
                if ((r = entry_text(s, m, l, slot, &path, &text, err)) < 0)
                        return r;
                mk_sha256_buffer(text, strlen(text), entry_sha);
                if (!mk_bls_entry_name((char[2]){slot, 0}, 0, entry, sizeof(entry)))
                        return mk_error_set(err, EINVAL, "boot entry: slot name '%c' is too long", slot);
                if ((r = manifest_file(&files[(*n)++], s->vmlinuz_sha, err, "/" MK_SLOT_KERNEL_FMT, slot)) < 0 ||
                    (r = manifest_file(&files[(*n)++], s->initrd_sha, err, "/" MK_SLOT_INITRD_FMT, slot)) < 0 ||
                    (r = manifest_file(&files[(*n)++], entry_sha, err, "/" MK_ESP_ENTRIES_DIR "/%s", entry)) < 0)
                        return r;
        }
        char sd_path[64];
        bootctl_path(m->arch, sd_path, sizeof(sd_path));
        if ((r = manifest_file(&files[(*n)++], conf_sha, err, "/" MK_ESP_LOADER_CONF)) < 0 ||
            (r = manifest_file(&files[(*n)++], s->loader_sha, err, "/%s", sd_path)) < 0)
                return r;
        if ((r = manifest_file(&files[(*n)++], s->loader_sha, err, "/%s", loaders[m->arch].esp_path)) < 0)
                return r;
        for (int i = 0; i < 3 && s->uki && s->u.auth[0]; i++) {
                char sha[65];
                mk_sha256_buffer(s->u.auth[i], s->u.auth_len[i], sha);
                if ((r = manifest_file(&files[(*n)++], sha, err, "/" MK_ESP_KEYS_DIR "/%s", mk_uki_auth_names[i])) < 0)
                        return r;
        }
        return 0;
}

/* Everything the ESP holds; the strings are owned here. */
typedef struct esp_content {
        mk_esp_file files[3 + 7 * 2];
        size_t n;
        char *owned[1 + 8 * 2];
        size_t n_owned;
} esp_content;

static void content_done(esp_content *c)
{
        for (size_t i = 0; i < c->n_owned; i++)
                free(c->owned[i]);
}

static const char *own(esp_content *c, char *s)
{
        assert(c->n_owned < ELEMENTSOF(c->owned)); /* sized for two slots */
        c->owned[c->n_owned++] = s;
        return s;
}

static void add(esp_content *c, const char *path, const void *data, size_t size)
{
        assert(c->n < ELEMENTSOF(c->files));
        c->files[c->n++] = (mk_esp_file){.esp_path = path, .data = data, .size = size};
}

/* The boot entry, kernel and initrd of one slot. */
static int add_entry(esp_content *c, const mk_boot_stage *s, const mk_model *m, const mk_layout *l, char slot,
                     mk_error *err)
{
        char lx[32], ird[32];
        snprintf(lx, sizeof(lx), MK_SLOT_KERNEL_FMT, slot);
        snprintf(ird, sizeof(ird), MK_SLOT_INITRD_FMT, slot);
        char *path = NULL, *text = NULL;
        int r = entry_text(s, m, l, slot, &path, &text, err);
        if (r < 0)
                return r;
        own(c, path);
        add(c, path, own(c, text), strlen(text));
        add(c, own(c, strdup(lx)), s->vmlinuz, s->vmlinuz_len);
        add(c, own(c, strdup(ird)), s->initrd, s->initrd_len);
        return 0;
}

/* The slot's signed UKI as a type #2 entry with boot counting: EFI/Linux/slot-a+3.efi. */
static int add_uki(esp_content *c, const mk_boot_stage *s, const mk_layout *l, char slot, mk_error *err)
{
        char name[32], *path = NULL;
        mk_uki_entry_name((char[2]){slot, 0}, l->boot_tries, name, sizeof(name));
        if (asprintf(&path, MK_ESP_UKI_DIR "/%s", name) < 0)
                return mk_error_set(err, ENOMEM, "out of memory");
        const mk_uki_slot *us = &s->u.slot[slot - 'a'];
        add(c, own(c, path), us->data, us->len);
        return 0;
}

int mk_boot_write(const mk_boot_stage *s, const mk_model *m, const mk_layout *l, const char *image_path,
                  const char *image_name, const mk_boot_slot *slots, size_t n_slots, uint64_t sde, bool serial_room,
                  mk_error *err)
{
        static const char placeholder[MK_SERIAL_RESERVE];
        if (!s->esp)
                return 0;
        esp_content c = {0};
        char *conf = NULL;
        int r = mk_esp_loader_conf(0, &conf, err);
        if (r < 0)
                return r;
        char sd_path[64];
        bootctl_path(m->arch, sd_path, sizeof(sd_path));
        if (s->uki) {
                add(&c, loaders[m->arch].esp_path, s->u.loader, s->u.loader_len);
                add(&c, sd_path, s->u.loader, s->u.loader_len);
                if ((r = enroll_conf(s, &conf, err)) < 0) {
                        free(conf);
                        return r;
                }
                static const char *const keys[3] = {MK_ESP_KEYS_DIR "/PK.auth", MK_ESP_KEYS_DIR "/KEK.auth",
                                                    MK_ESP_KEYS_DIR "/db.auth"};
                for (int i = 0; i < 3 && s->u.auth[0]; i++)
                        add(&c, keys[i], s->u.auth[i], s->u.auth_len[i]);
        } else {
                c.files[c.n++] =
                        (mk_esp_file){.esp_path = loaders[m->arch].esp_path, .source = loaders[m->arch].loader};
                c.files[c.n++] = (mk_esp_file){.esp_path = sd_path, .source = loaders[m->arch].loader};
        }
        add(&c, MK_ESP_LOADER_CONF, own(&c, conf), strlen(conf));
        for (size_t i = 0; i < n_slots && r >= 0; i++) {
                const mk_boot_slot *bs = &slots[i];
                char *mf = NULL, *sig = NULL;
                if (asprintf(&mf, MK_SLOT_MANIFEST_FMT, bs->slot) < 0 ||
                    asprintf(&sig, MK_SLOT_MANIFEST_FMT MK_SIG_SUFFIX, bs->slot) < 0) {
                        free(mf);
                        r = mk_error_set(err, ENOMEM, "out of memory");
                        break;
                }
                add(&c, own(&c, mf), bs->manifest, bs->manifest_len);
                add(&c, own(&c, sig), bs->signature, bs->signature_len);
                if (serial_room) {
                        char *rec = NULL, *rsig = NULL;
                        if (asprintf(&rec, MK_SLOT_SERIAL_FMT, bs->slot) < 0 ||
                            asprintf(&rsig, MK_SLOT_SERIAL_FMT MK_SIG_SUFFIX, bs->slot) < 0) {
                                free(rec);
                                r = mk_error_set(err, ENOMEM, "out of memory");
                                break;
                        }
                        add(&c, own(&c, rec), placeholder, sizeof(placeholder));
                        add(&c, own(&c, rsig), placeholder, sizeof(placeholder));
                }
                if (s->kernel && s->uki)
                        r = add_uki(&c, s, l, bs->slot, err);
                else if (s->kernel)
                        r = add_entry(&c, s, m, l, bs->slot, err);
        }
        for (size_t i = 0; i < c.n_owned && r >= 0; i++)
                if (!c.owned[i])
                        r = mk_error_set(err, ENOMEM, "out of memory");
        if (r >= 0) {
                mk_esp_opts eo = {.label = "ESP",
                                  .volume_id = mk_esp_volume_id(m->brand, m->model),
                                  .source_date_epoch = sde,
                                  .name = image_name};
                r = mk_esp_write(image_path, s->esp->start, s->esp->length, c.files, c.n, &eo, err);
        }
        content_done(&c);
        return r;
}
