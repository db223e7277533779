/* SPDX-License-Identifier: MIT */
#include "builder/image/inspect.h"
#include "builder/secureboot/pe.h"
#include "signing/conventions/conventions.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "builder/model/dps.h"
#include "builder/esp/esp.h"
#include "signing/base/macro.h"
#include "builder/squashfs/sqfs-file.h"
#include "builder/squashfs/sqfs-read.h"

#define HEAD 4096
#define OS_RELEASE_MAX (64u << 10) /* bytes: os-release(5) is a few lines */

mk_inspect *mk_inspect_free(mk_inspect *i)
{
        if (!i)
                return NULL;
        for (size_t k = 0; k < i->n_entries; k++) {
                mk_boot_entry *e = &i->entries[k];
                free(e->file);
                free(e->title);
                free(e->version);
                free(e->sort_key);
                free(e->kernel);
                free(e->initrd);
                free(e->options);
        }
        free(i->entries);
        for (size_t k = 0; k < MK_GPT_PARTS_MAX; k++)
                free(i->os_release[k]);
        free(i->esp_note);
        free(i->gpt);
        free(i);
        return NULL;
}

const char *mk_detect_content(const unsigned char *h, size_t len)
{
        if (len < HEAD)
                return "unknown";
        if (!memcmp(h, "hsqs", 4))
                return "squashfs";
        if (!memcmp(h, "verity\0\0", 8))
                return "verity";
        if (!memcmp(h, "LUKS\xba\xbe", 6))
                return "luks2";
        if (h[510] == 0x55 && h[511] == 0xAA && (!memcmp(h + 82, "FAT32   ", 8) || !memcmp(h + 54, "FAT", 3)))
                return "vfat";
        if (h[1024 + 56] == 0x53 && h[1024 + 57] == 0xEF)
                return "ext4";
        for (size_t i = 0; i < HEAD; i++)
                if (h[i])
                        return "unknown";
        return "empty";
}

/* "key value" lines of an entry: the value of key (malloc'd) or NULL. */
static char *entry_value(const char *text, const char *key)
{
        size_t kl = strlen(key);
        for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
                if (strncmp(line, key, kl) || (line[kl] != ' ' && line[kl] != '\t'))
                        continue;
                const char *v = line + kl + strspn(line + kl, " \t");
                return strndup(v, strcspn(v, "\r\n"));
        }
        return NULL;
}

/*
 * The ESP's boot entries. Trouble reading them is a note, not an error,
 * except what only a crafted ESP does: more than MK_ESP_LIST_MAX entries, an
 * entry over MK_BOOT_ENTRY_MAX bytes (refused, so that the time and memory
 * inspect takes stay bounded).
 */
/* KEY's value in an os-release text (quotes dropped, escapes undone), malloc'd; NULL when absent. */
static char *os_value(const char *text, const char *key)
{
        size_t kl = strlen(key);
        for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
                if (strncmp(l, key, kl) || l[kl] != '=')
                        continue;
                const char *v = l + kl + 1, *end = strchr(v, '\n');
                size_t n = end ? (size_t)(end - v) : strlen(v);
                char *out = malloc(n + 1), q = (n && (*v == '"' || *v == '\'')) ? *v : 0;
                size_t k = 0;
                for (size_t i = q ? 1 : 0; out && i < n && v[i] != q; i++) {
                        if (q == '"' && v[i] == '\\' && i + 1 < n)
                                i++;
                        out[k++] = v[i];
                }
                if (out)
                        out[k] = '\0';
                return out;
        }
        return NULL;
}

/* A UKI's .osrel and .cmdline as an entry's fields; whether it carries a signature. */
static void uki_fields(const char *data, size_t len, mk_boot_entry *be)
{
        mk_pe pe;
        mk_error e = {0};
        if (mk_pe_parse("UKI", data, len, &pe, &e) < 0)
                return;
        be->is_signed = pe.cert_size != 0;
        const mk_pe_section *os = mk_pe_find(&pe, ".osrel"), *cmd = mk_pe_find(&pe, ".cmdline");
        if (os && os->vsize <= os->raw_size) {
                _cleanup_free_ char *t = strndup(data + os->raw_off, os->vsize);
                be->title = t ? os_value(t, "PRETTY_NAME") : NULL;
                be->version = t ? os_value(t, "IMAGE_VERSION") : NULL;
                be->sort_key = t ? os_value(t, "IMAGE_ID") : NULL;
        }
        if (cmd && cmd->vsize <= cmd->raw_size)
                be->options = strndup(data + cmd->raw_off, cmd->vsize);
        const mk_pe_section *lx = mk_pe_find(&pe, ".linux"), *ird = mk_pe_find(&pe, ".initrd");
        if (lx && asprintf(&be->kernel, ".linux (%u bytes)", lx->vsize) < 0)
                be->kernel = NULL;
        if (ird && asprintf(&be->initrd, ".initrd (%u bytes)", ird->vsize) < 0)
                be->initrd = NULL;
}

/* The entries in one folder of the ESP: type #1 texts (loader/entries) or UKIs (EFI/Linux). */
static int read_dir(const char *path, uint64_t off, const char *dir, bool uki, size_t max, mk_inspect *in,
                    mk_error *err)
{
        char **names = NULL;
        mk_error e = {0};
        int r = mk_esp_list(path, off, dir, MK_ESP_LIST_MAX, &names, &e);
        if (r == -E2BIG || r == -ENOMEM) {
                *err = e;
                return r;
        }
        if (r < 0) {
                if (r != -ENOENT && !in->esp_note) /* no folder: an ESP without entries */
                        in->esp_note = strdup(e.msg);
                return 0;
        }
        size_t n = 0;
        while (names[n])
                n++;
        mk_boot_entry *grown = realloc(in->entries, (in->n_entries + n + 1) * sizeof(*in->entries));
        if (!grown) {
                mk_esp_names_free(names);
                return mk_error_set(err, ENOMEM, "out of memory");
        }
        in->entries = grown;
        for (size_t i = 0; i < n; i++) {
                char rel[300], *text = NULL;
                size_t len;
                snprintf(rel, sizeof(rel), "%s/%s", dir, names[i]);
                mk_boot_entry *be = &in->entries[in->n_entries++];
                *be = (mk_boot_entry){.file = TAKE_PTR(names[i]), .uki = uki};
                mk_error_clear(&e);
                if ((r = mk_esp_read(path, off, rel, max, &text, &len, &e)) == -EFBIG || r == -ENOMEM) {
                        *err = e;
                        for (size_t k = i + 1; k < n; k++)
                                free(names[k]);
                        free(names);
                        return r;
                }
                if (r < 0)
                        continue;
                if (uki) {
                        uki_fields(text, len, be);
                } else {
                        be->title = entry_value(text, "title");
                        be->version = entry_value(text, "version");
                        be->sort_key = entry_value(text, "sort-key");
                        be->kernel = entry_value(text, "linux");
                        be->initrd = entry_value(text, "initrd");
                        be->options = entry_value(text, "options");
                }
                free(text);
        }
        mk_esp_names_free(names);
        return 0;
}

static int read_entries(const char *path, mk_inspect *in, mk_error *err)
{
        in->esp = -1;
        for (unsigned i = 0; i < in->gpt->n_parts && in->esp < 0; i++)
                if (!strcasecmp(in->gpt->parts[i].type_guid, MK_ESP_TYPE_GUID) && !strcmp(in->content[i], "vfat"))
                        in->esp = (int)i;
        if (in->esp < 0)
                return 0;
        uint64_t off = in->gpt->parts[in->esp].start;
        int r = read_dir(path, off, MK_ESP_ENTRIES_DIR, false, MK_BOOT_ENTRY_MAX, in, err);
        return r < 0 ? r : read_dir(path, off, MK_ESP_UKI_DIR, true, MK_UKI_INSPECT_MAX, in, err);
}

/* The summary of the os-release in the squashfs at off, or NULL (not one, or none in it). */
static char *read_os_release(int fd, const char *name, uint64_t off, uint64_t size)
{
        sqfs_file_t *f = NULL;
        sqimage *img = NULL;
        char *text = NULL, *pretty = NULL, *id = NULL, *ver = NULL, *out = NULL;
        size_t len;
        mk_error e = {0};
        if (mk_sqfile_open_fd(fd, name, off, size, 0, &f, &e) < 0 || mk_sqimage_open_file(f, name, &img, &e) < 0)
                return NULL;
        if (mk_sqimage_read_file(img, "usr/lib/os-release", OS_RELEASE_MAX, &text, &len, &e) >= 0) {
                pretty = os_value(text, "PRETTY_NAME");
                id = os_value(text, "IMAGE_ID");
                ver = os_value(text, "IMAGE_VERSION");
                if (asprintf(&out, "%s (IMAGE_ID %s, IMAGE_VERSION %s)", pretty ? pretty : "-", id ? id : "-",
                             ver ? ver : "-") < 0)
                        out = NULL;
        }
        free(text);
        free(pretty);
        free(id);
        free(ver);
        mk_sqimage_unref(img);
        return out;
}

int mk_inspect_image(const char *path, mk_inspect **ret, mk_error *err)
{
        _cleanup_free_ mk_inspect *in = calloc(1, sizeof(*in));
        if (!in)
                return mk_error_set(err, ENOMEM, "out of memory");
        int r = mk_gpt_read(path, &in->gpt, err);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                free(in->gpt);
                return mk_error_set(err, errno, "%s: %s", path, strerror(errno));
        }
        unsigned char head[HEAD];
        for (unsigned i = 0; i < in->gpt->n_parts; i++) {
                const mk_gpt_part *p = &in->gpt->parts[i];
                in->type_names[i] = mk_dps_type_name(p->type_guid);
                ssize_t k = pread(fd, head, sizeof(head), (off_t)p->start);
                in->content[i] = mk_detect_content(head, k > 0 ? (size_t)k : 0);
                if (!strcmp(in->content[i], "squashfs"))
                        in->os_release[i] = read_os_release(fd, path, p->start, p->size);
        }
        if ((r = read_entries(path, in, err)) < 0) {
                mk_inspect_free(TAKE_PTR(in));
                return r;
        }
        *ret = TAKE_PTR(in);
        return 0;
}
