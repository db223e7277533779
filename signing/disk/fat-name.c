/* SPDX-License-Identifier: MIT */
/*
 * Names of new entries. Facts used (Microsoft FAT specification): an 8.3
 * name is upper-case letters, digits and $%'-_@~`!(){}^#& (base 1 to 8,
 * extension up to 3); any other name is stored as long-name slots (13 UCS-2
 * characters each, a 0x0000 after the last one when there is room, 0xFFFF
 * padding, 0x40 on the last-numbered slot, each carrying the checksum of the
 * short name) before a short alias: the basis (upper-cased, leading periods
 * and spaces dropped, characters an 8.3 name cannot hold as '_', the base up
 * to the first period, the extension after the last) with a numeric tail
 * "~N" that makes it unique in its folder.
 */
#include <errno.h>
#include <stdio.h>

#include "signing/disk/fat-name.h"

static bool short_char(char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c && strchr("$%'-_@~`!(){}^#&", c));
}

static char upper(char c)
{
        return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

const char *mk_fat_name_problem(const char *name, size_t len)
{
        if (!len || len > FAT_NAME_MAX)
                return "a name is 1 to 255 characters";
        if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
                return "'.' and '..' name folders themselves";
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)name[i];
                if (c < 0x20 || c > 0x7E)
                        return "only printable ASCII characters are written";
                if (strchr("\"*/:<>?\\|", c))
                        return "FAT names cannot hold \" * / : < > ? \\ |";
        }
        if (name[len - 1] == '.' || name[len - 1] == ' ')
                return "a FAT name cannot end with a period or a space";
        return NULL;
}

/* The name as an upper-case 8.3 name, when it is one. */
static bool as_short(const char *name, size_t len, uint8_t sn[11])
{
        const char *dot = memchr(name, '.', len);
        size_t base = dot ? (size_t)(dot - name) : len, ext = dot ? len - base - 1 : 0;
        if (!base || base > 8 || ext > 3 || (dot && !ext))
                return false;
        for (size_t i = 0; i < len; i++)
                if (name + i != dot && !short_char(name[i]))
                        return false;
        memset(sn, ' ', 11);
        memcpy(sn, name, base);
        if (ext)
                memcpy(sn + 8, dot + 1, ext);
        return true;
}

static bool taken(const fat_dir *d, const uint8_t sn[11])
{
        for (size_t i = 0; i < d->n_slots; i++) {
                const uint8_t *e = d->buf + i * FAT_DIRENT;
                if (e[0] == 0x00)
                        break;
                if (e[0] != FAT_DELETED && (e[11] & 0x3F) != FAT_ATTR_LFN && !memcmp(e, sn, 11))
                        return true;
        }
        return false;
}

int mk_fat_name_short(const fat_dir *d, const char *name, size_t len, uint8_t ret_sn[11], bool *ret_long)
{
        if (as_short(name, len, ret_sn)) {
                *ret_long = false;
                return 0;
        }
        size_t s = 0;
        while (s < len && (name[s] == '.' || name[s] == ' '))
                s++;
        const char *last = NULL;
        for (size_t i = s; i < len; i++)
                if (name[i] == '.')
                        last = name + i;
        char base[9] = "", ext[4] = "";
        size_t nb = 0, ne = 0;
        for (size_t i = s; i < len && name[i] != '.' && nb < 8; i++)
                if (name[i] != ' ')
                        base[nb++] = short_char(upper(name[i])) ? upper(name[i]) : '_';
        for (const char *p = last ? last + 1 : name + len; p < name + len && ne < 3; p++)
                if (*p != ' ')
                        ext[ne++] = short_char(upper(*p)) ? upper(*p) : '_';
        if (!nb)
                base[nb++] = '_';
        for (unsigned n = 1; n < 1000000; n++) {
                char tail[9];
                int t = snprintf(tail, sizeof(tail), "~%u", n);
                size_t keep = nb + (size_t)t > 8 ? 8 - (size_t)t : nb;
                memset(ret_sn, ' ', 11);
                memcpy(ret_sn, base, keep);
                memcpy(ret_sn + keep, tail, (size_t)t);
                memcpy(ret_sn + 8, ext, ne);
                if (!taken(d, ret_sn)) {
                        *ret_long = true;
                        return 0;
                }
        }
        return -EEXIST;
}

size_t mk_fat_name_slots(size_t len, bool has_long)
{
        return 1 + (has_long ? (len + FAT_LFN_CHARS - 1) / FAT_LFN_CHARS : 0);
}

void mk_fat_name_compose(const char *name, size_t len, const uint8_t sn[11], bool has_long, uint8_t *out)
{
        size_t n_lfn = mk_fat_name_slots(len, has_long) - 1;
        uint8_t sum = mk_fat_short_sum(sn);
        for (size_t k = 0; k < n_lfn; k++) {
                /* slot k of the run holds part n_lfn - k (1-based); the first one stored is the last part */
                size_t part = n_lfn - k;
                uint8_t *e = out + k * FAT_DIRENT;
                memset(e, 0, FAT_DIRENT);
                e[0] = (uint8_t)(part | (k == 0 ? 0x40 : 0));
                e[11] = FAT_ATTR_LFN;
                e[13] = sum;
                for (size_t i = 0; i < FAT_LFN_CHARS; i++) {
                        size_t at = (part - 1) * FAT_LFN_CHARS + i;
                        uint16_t ch = at < len ? (uint8_t)name[at] : at == len ? 0x0000 : 0xFFFF;
                        fat_wr16(e + mk_fat_lfn_pos[i], ch);
                }
        }
        memcpy(out + n_lfn * FAT_DIRENT, sn, 11);
}
