/* SPDX-License-Identifier: MIT */
/* Finding a slot's Boot Loader Specification entry on the ESP (names: signing/conventions/). */
#include "qemu-boot/verifier/boot.h"
#include "signing/conventions/conventions.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int find_in(const char *dir, char slot, char *out, size_t size)
{
        DIR *d = opendir(dir);
        if (!d)
                return -errno;
        int r = -ENOENT;
        struct dirent *e;
        while ((e = readdir(d))) {
                char s;
                int left, done;
                if (!mk_bls_entry_parse(e->d_name, &s, &left, &done) || s != slot)
                        continue;
                if (r == 0) {
                        r = -EEXIST;
                        break;
                }
                snprintf(out, size, "%s", e->d_name);
                r = 0;
        }
        closedir(d);
        return r;
}

int entry_find(const char *esp, char slot, const char **ret_dir, char *out, size_t size)
{
        static const char *const dirs[] = {MK_ESP_ENTRIES_DIR, MK_ESP_UKI_DIR};
        int r = -ENOENT;
        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
                char path[512], name[256];
                snprintf(path, sizeof(path), "%s/%s", esp, dirs[i]);
                int k = find_in(path, slot, name, sizeof(name));
                if (k == -ENOENT)
                        continue;
                if (k < 0 || r == 0)
                        return k < 0 ? k : -EEXIST; /* one entry per slot, in one of the two folders */
                snprintf(out, size, "%s", name);
                *ret_dir = dirs[i];
                r = 0;
        }
        return r;
}
