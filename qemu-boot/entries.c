/* SPDX-License-Identifier: MIT */
/* Boot Loader Specification boot counting: entry names of the A/B slots. */
#include "boot.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Digits at *p as a non-negative int; advances *p. -1 when there are none or too many. */
static int number(const char **p)
{
        int v = 0, n = 0;
        while (**p >= '0' && **p <= '9') {
                if (++n > 6)
                        return -1;
                v = v * 10 + (**p - '0');
                (*p)++;
        }
        return n ? v : -1;
}

bool entry_parse(const char *name, char *slot, int *left, int *done)
{
        if (strncmp(name, "slot-", 5) || (name[5] != 'a' && name[5] != 'b'))
                return false;
        const char *p = name + 6;
        int l = -1, d = 0;
        if (*p == '+') {
                p++;
                if ((l = number(&p)) < 0)
                        return false;
                if (*p == '-') {
                        p++;
                        if ((d = number(&p)) < 0)
                                return false;
                }
        }
        if (strcmp(p, ".conf"))
                return false;
        *slot = name[5];
        *left = l;
        *done = d;
        return true;
}

void entry_bad_name(const char *name, char *out, size_t size)
{
        char slot = 'a';
        int left, done = 0;
        /* systemd-boot counted this boot already (slot-a+3 -> slot-a+2-1): keep its count. */
        if (!entry_parse(name, &slot, &left, &done) || done < 1)
                done = 1;
        snprintf(out, size, "slot-%c+0-%d.conf", slot, done);
}

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
                if (!entry_parse(e->d_name, &s, &left, &done) || s != slot)
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
