/* SPDX-License-Identifier: MIT */
/* Finding a slot's Boot Loader Specification entry on the ESP (names: signing/conventions/). */
#include "qemu-boot/verifier/boot.h"
#include "signing/conventions/conventions.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int entry_find(const char *dir, char slot, char *out, size_t size)
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
