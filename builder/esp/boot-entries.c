/* SPDX-License-Identifier: MIT */
/* systemd-boot's configuration on the ESP: loader.conf and one Boot Loader Specification entry per slot. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/esp/esp-internal.h"
#include "builder/esp/esp.h"
#include "signing/base/escape.h"
#include "signing/base/macro.h"
#include "signing/conventions/conventions.h"

/* ---- systemd-boot configuration ------------------------------------------- */

int mk_esp_loader_conf(unsigned timeout, char **ret_text, mk_error *err)
{
        char *s = NULL;
        if (asprintf(&s,
                     "# mkimage: no 'default' line on purpose; the entries' sort-keys pick the slot\n"
                     "timeout %u\n"
                     "editor no\n",
                     timeout) < 0)
                return mk_error_set(err, ENOMEM, "out of memory");
        *ret_text = s;
        return 0;
}

/* A one-line value: no control characters; empty allowed only when may_be_empty. */
static int check_value(const char *field, const char *v, bool may_be_empty, mk_error *err)
{
        char q[256];
        if (!v || (!*v && !may_be_empty))
                return mk_error_set(err, EINVAL, "boot entry: '%s' is empty (give a value)", field);
        for (const unsigned char *p = (const unsigned char *)v; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        return mk_error_set(err, EINVAL,
                                            "boot entry: '%s' value '%s' holds a control character (it must be "
                                            "one line)",
                                            field, mk_quote(v, q, sizeof(q)));
        return 0;
}

/* An ESP path for an entry, as "/x/y" in *ret (malloc'd). */
static int entry_path(const char *field, const char *path, char **ret, mk_error *err)
{
        int r = check_value(field, path, false, err);
        if (r < 0)
                return r;
        const char *rel = path + (path[0] == '/');
        const char *why = strchr(rel, ' ') ? "a boot entry path must not hold spaces" : mk_esp_path_problem(rel);
        if (why)
                return mk_error_set(err, EINVAL, "boot entry: '%s' path '%s': %s", field, path, why);
        if (asprintf(ret, "/%s", rel) < 0)
                return mk_error_set(err, ENOMEM, "out of memory");
        return 0;
}

int mk_esp_entry(const char *slot, unsigned tries, uint64_t version, const char *title, const char *linux_path,
                 const char *initrd_path, const char *options, char **ret_path, char **ret_text, mk_error *err)
{
        _cleanup_free_ char *lx = NULL, *ird = NULL, *path = NULL, *text = NULL;
        size_t sl = slot ? strlen(slot) : 0;
        int r;

        if (sl < 1 || sl > 16 || strspn(slot, "abcdefghijklmnopqrstuvwxyz0123456789") != sl)
                return mk_error_set(err, EINVAL, "boot entry: slot name '%s' must be 1 to 16 of a-z 0-9",
                                    slot ? slot : "");
        if ((r = check_value("title", title, false, err)) < 0 ||
            (r = check_value("options", options ? options : "", true, err)) < 0)
                return r;
        if (options && strstr(options, "mkimage.slot="))
                return mk_error_set(err, EINVAL,
                                    "boot entry: options '%s' set mkimage.slot themselves (mkimage adds "
                                    "mkimage.slot=%s; remove it)",
                                    options, slot);
        if ((r = entry_path("linux", linux_path, &lx, err)) < 0)
                return r;
        if (initrd_path && (r = entry_path("initrd", initrd_path, &ird, err)) < 0)
                return r;

        char name[64], sort_key[64];
        if (!mk_bls_entry_name(slot, tries, name, sizeof(name)))
                return mk_error_set(err, EINVAL, "boot entry: slot name '%s' is too long", slot);
        if (!mk_bls_sort_key(version, slot, sort_key, sizeof(sort_key)))
                return mk_error_set(err, EINVAL, "boot entry: version %" PRIu64 " is above %u", version,
                                    MK_BLS_SORT_KEY_TOP);
        if (asprintf(&path, MK_ESP_ENTRIES_DIR "/%s", name) < 0) {
                path = NULL;
                return mk_error_set(err, ENOMEM, "out of memory");
        }
        if (asprintf(&text,
                     "title %s\n"
                     "version %" PRIu64 "\n"
                     "sort-key %s\n"
                     "linux %s\n"
                     "%s%s%s"
                     "options %s%smkimage.slot=%s\n",
                     title, version, sort_key, lx, ird ? "initrd " : "", ird ? ird : "", ird ? "\n" : "",
                     options ? options : "", options && *options ? " " : "", slot) < 0) {
                text = NULL;
                return mk_error_set(err, ENOMEM, "out of memory");
        }
        *ret_path = TAKE_PTR(path);
        *ret_text = TAKE_PTR(text);
        return 0;
}
