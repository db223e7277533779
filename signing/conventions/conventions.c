/* SPDX-License-Identifier: MIT */
/* Boot Loader Specification entry names of the slots and their boot counters; DPS partition UUIDs. */
#include "signing/conventions/conventions.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

static bool entry_name(const char *slot, unsigned tries, const char *suffix, char *out, size_t size)
{
        char counter[16] = "";
        if (tries)
                snprintf(counter, sizeof(counter), "+%u", tries);
        int n = snprintf(out, size, MK_BLS_ENTRY_PREFIX "%s%s%s", slot, counter, suffix);
        return n >= 0 && (size_t)n < size;
}

bool mk_bls_entry_name(const char *slot, unsigned tries, char *out, size_t size)
{
        return entry_name(slot, tries, MK_BLS_ENTRY_SUFFIX, out, size);
}

bool mk_uki_entry_name(const char *slot, unsigned tries, char *out, size_t size)
{
        return entry_name(slot, tries, MK_UKI_ENTRY_SUFFIX, out, size);
}

bool mk_bls_entry_is_uki(const char *name)
{
        size_t n = strlen(name), k = strlen(MK_UKI_ENTRY_SUFFIX);
        return n > k && !strcmp(name + n - k, MK_UKI_ENTRY_SUFFIX);
}

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

bool mk_bls_entry_parse(const char *name, char *slot, int *left, int *done)
{
        const size_t plen = strlen(MK_BLS_ENTRY_PREFIX);
        if (strncmp(name, MK_BLS_ENTRY_PREFIX, plen) || (name[plen] != 'a' && name[plen] != 'b'))
                return false;
        const char *p = name + plen + 1;
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
        if (strcmp(p, MK_BLS_ENTRY_SUFFIX) && strcmp(p, MK_UKI_ENTRY_SUFFIX))
                return false;
        *slot = name[plen];
        *left = l;
        *done = d;
        return true;
}

void mk_bls_entry_bad_name(const char *name, char *out, size_t size)
{
        char slot = 'a';
        int left, done = 0;
        /* systemd-boot counted this boot already (slot-a+3 -> slot-a+2-1): keep its count. */
        if (!mk_bls_entry_parse(name, &slot, &left, &done) || done < 1)
                done = 1;
        snprintf(out, size, MK_BLS_ENTRY_PREFIX "%c+0-%d%s", slot, done,
                 mk_bls_entry_is_uki(name) ? MK_UKI_ENTRY_SUFFIX : MK_BLS_ENTRY_SUFFIX);
}

static void uuid_text(const uint8_t u[16], char out[37])
{
        snprintf(out, 37, "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X", u[0], u[1], u[2],
                 u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

void mk_dps_partuuids(const uint8_t root_hash[32], char root_uuid[37], char verity_uuid[37])
{
        uuid_text(root_hash, root_uuid);
        uuid_text(root_hash + 16, verity_uuid);
}

bool mk_bls_sort_key(uint64_t version, const char *slot, char *out, size_t size)
{
        if (version > MK_BLS_SORT_KEY_TOP)
                return false;
        /* Fixed width, so that strcmp orders the numbers: a higher version gives a smaller key. */
        int n = snprintf(out, size, MK_BLS_SORT_KEY_PREFIX "%010" PRIu64 "-%s", (uint64_t)MK_BLS_SORT_KEY_TOP - version,
                         slot);
        return n >= 0 && (size_t)n < size;
}

bool mk_min_version_parse(const char *text, uint64_t *ret)
{
        char *end;
        if (text[0] < '0' || text[0] > '9')
                return false;
        errno = 0;
        unsigned long long v = strtoull(text, &end, 10);
        if (errno || (*end && strcmp(end, "\n")))
                return false;
        *ret = v;
        return true;
}
