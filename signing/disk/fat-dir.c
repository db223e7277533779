/* SPDX-License-Identifier: MIT */
/*
 * Folders of a FAT32 volume read whole into memory and walked name by name
 * (fat-internal.h). Facts used (Microsoft FAT specification): a folder is a
 * chain of 32-byte entries; name[0] 0x00 ends it, 0xE5 marks a deleted entry,
 * 0x05 stands for a first byte 0xE5; attribute 0x0F marks a long-name slot
 * (sequence number with 0x40 on the last, 13 UCS-2 characters, the checksum
 * of the short name it belongs to), stored before its short entry, last slot
 * first. Windows NT keeps an 8.3 name's case in byte 12: 0x08 a lower-case
 * base, 0x10 a lower-case extension.
 */
#include <errno.h>
#include <stdlib.h>
#include <strings.h>

#include "signing/base/fileio.h"
#include "signing/disk/fat-internal.h"

const uint8_t mk_fat_lfn_pos[FAT_LFN_CHARS] = {1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30};

uint8_t mk_fat_short_sum(const uint8_t name[11])
{
        uint8_t s = 0;
        for (int i = 0; i < 11; i++)
                s = (uint8_t)(((s & 1) << 7) + (s >> 1) + name[i]);
        return s;
}

static char lower_if(char c, bool lower)
{
        return lower && c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

void mk_fat_short_name(const uint8_t *e, bool nt_case, char out[13])
{
        bool lb = nt_case && (e[12] & 0x08), le = nt_case && (e[12] & 0x10);
        size_t n = 0;
        for (int i = 0; i < 8 && e[i] != ' '; i++)
                out[n++] = lower_if((char)(i == 0 && e[i] == 0x05 ? 0xE5 : e[i]), lb);
        if (e[8] != ' ') {
                out[n++] = '.';
                for (int i = 8; i < 11 && e[i] != ' '; i++)
                        out[n++] = lower_if((char)e[i], le);
        }
        out[n] = 0;
}

int mk_fat_dir_load(int fd, const fat_vol *v, uint32_t first, fat_dir *d, mk_error *err)
{
        *d = (fat_dir){.first = first};
        int r = mk_fat_chain_load(fd, v, first, "a folder", &d->chain, &d->n_chain, err);
        if (r < 0)
                return r;
        d->n_disk = d->n_chain;
        d->n_slots = d->n_chain * (v->csize / FAT_DIRENT);
        d->dirty_lo = SIZE_MAX;
        if (!(d->buf = reallocarray(NULL, d->n_chain, v->csize))) {
                mk_fat_dir_done(d);
                return mk_error_set(err, ENOMEM, "out of memory");
        }
        /* runs of consecutive clusters in one read each */
        for (size_t i = 0; i < d->n_chain;) {
                size_t k = 1;
                while (i + k < d->n_chain && d->chain[i + k] == d->chain[i] + k)
                        k++;
                if ((r = mk_pread_all(fd, d->buf + i * v->csize, k * v->csize, fat_cluster_off(v, d->chain[i]))) < 0) {
                        mk_fat_dir_done(d);
                        return mk_fat_io_fail(v, r, "reading a folder", err);
                }
                i += k;
        }
        return 0;
}

void mk_fat_dir_done(fat_dir *d)
{
        free(d->chain);
        free(d->buf);
        *d = (fat_dir){.first = 0};
}

/* Long-name slots gathered while walking a folder. */
typedef struct lfn {
        char name[FAT_LFN_MAX_SLOTS * FAT_LFN_CHARS + 1]; /* ASCII; 0x7F for anything else (never matches) */
        unsigned expect;                                  /* next sequence number wanted, 0 when complete */
        bool active;
        uint8_t sum;
        size_t first; /* the slot of the last-numbered part (stored first) */
} lfn;

static void lfn_slot(lfn *l, const uint8_t *e, size_t slot)
{
        unsigned seq = e[0] & 0x1Fu;
        if (e[0] & 0x40) {
                if (!seq || seq > FAT_LFN_MAX_SLOTS) {
                        l->active = false;
                        return;
                }
                l->active = true;
                l->sum = e[13];
                l->expect = seq;
                l->first = slot;
                memset(l->name, 0, sizeof(l->name));
        }
        if (!l->active || seq != l->expect || e[13] != l->sum) {
                l->active = false;
                return;
        }
        for (unsigned i = 0; i < FAT_LFN_CHARS; i++) {
                uint16_t ch = fat_rd16(e + mk_fat_lfn_pos[i]);
                if (ch == 0 || ch == 0xFFFF)
                        break;
                l->name[(seq - 1) * FAT_LFN_CHARS + i] = ch < 0x80 ? (char)ch : 0x7F;
        }
        l->expect = seq - 1;
}

int mk_fat_dir_next(const fat_dir *d, size_t *pos, bool nt_case, fat_ent *out)
{
        lfn l = {.active = false};
        for (size_t i = *pos; i < d->n_slots; i++) {
                const uint8_t *e = d->buf + i * FAT_DIRENT;
                if (e[0] == 0x00)
                        break;
                if (e[0] == FAT_DELETED) {
                        l.active = false;
                        continue;
                }
                if ((e[11] & 0x3F) == FAT_ATTR_LFN) {
                        lfn_slot(&l, e, i);
                        continue;
                }
                bool long_ok = l.active && l.expect == 0 && l.sum == mk_fat_short_sum(e);
                l.active = false;
                if ((e[11] & FAT_ATTR_VOLUME) || e[0] == '.')
                        continue;
                out->first = long_ok ? l.first : i;
                out->slot = i;
                out->e = e;
                out->has_long = long_ok;
                mk_fat_short_name(e, nt_case, out->short_name);
                memcpy(out->name, long_ok ? l.name : out->short_name, strlen(long_ok ? l.name : out->short_name) + 1);
                *pos = i + 1;
                return 1;
        }
        *pos = d->n_slots;
        return 0;
}

int mk_fat_dir_find(const fat_dir *d, const char *name, size_t len, fat_ent *out)
{
        size_t pos = 0;
        fat_ent en;
        while (mk_fat_dir_next(d, &pos, false, &en) > 0)
                if ((strlen(en.name) == len && !strncasecmp(en.name, name, len)) ||
                    (strlen(en.short_name) == len && !strncasecmp(en.short_name, name, len))) {
                        *out = en;
                        return 0;
                }
        return -ENOENT;
}
