/* SPDX-License-Identifier: MIT */
/*
 * One slot against its manifest. The order of the checks decides the blame:
 * the root partition's data is judged by its SHA-256 alone, the verity
 * partition by its superblock and the tree's own hash chain up to the signed
 * root hash (neither needs the data), and only when both are intact does
 * mk_verity_check compare the whole tree with the data.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "builder/image/digest.h"
#include "builder/image/inspect.h"
#include "builder/verify/verify-internal.h"
#include "builder/image/verity.h"
#include "signing/conventions/conventions.h"

/* The one partition called name, or -1 with the manifest item failed. */
static int find_part(vctx *v, unsigned s, const char *name, const char *key, int *ret)
{
        int found = -1;
        for (unsigned i = 0; i < v->gpt->n_parts; i++) {
                if (strcmp(v->gpt->parts[i].name, name) != 0)
                        continue;
                if (found >= 0)
                        return mk_vitem_fail(v, s, "%s '%s': the GPT has two partitions of that name (%u and %u)", key,
                                             name, v->gpt->parts[found].number, v->gpt->parts[i].number);
                found = (int)i;
        }
        if (found < 0)
                return mk_vitem_fail(v, s, "%s '%s' is not a partition of this image's GPT (wrong image or manifest?)",
                                     key, name);
        if (v->owner[found])
                return mk_vitem_fail(v, s, "%s '%s' is slot %c's partition already (each slot needs its own)", key,
                                     name, v->owner[found]);
        *ret = found;
        return 0;
}

static int check_partuuid(vctx *v, unsigned i, const char *want, bool *ok)
{
        const mk_gpt_part *p = &v->gpt->parts[i];
        *ok = strcasecmp(p->uuid, want) == 0;
        return *ok ? 0
                   : mk_vitem_fail(v, VITEM_PART(i),
                                   "partuuid %s differs from the manifest's %s (GPT entry changed, or "
                                   "the manifest is for another image)",
                                   p->uuid, want);
}

/*
 * A verity-protected root's partition UUID is the first half of its root hash,
 * its verity partition's the second half (signing/conventions/): a partition
 * that carries another UUID is not found by systemd (and an entry edited to
 * match a changed manifest is caught against the signed root hash).
 */
static int check_dps_uuid(vctx *v, unsigned i, const mk_manifest *m, bool verity, bool *ok)
{
        uint8_t root[32];
        char want[2][37];
        mk_vhex_decode(m->root.verity.root_hash, root, sizeof(root));
        mk_dps_partuuids(root, want[0], want[1]);
        const char *w = want[verity];
        *ok = strcasecmp(v->gpt->parts[i].uuid, w) == 0;
        return *ok ? 0
                   : mk_vitem_fail(v, VITEM_PART(i),
                                   "partuuid %s is not the one the root hash gives (%s: the %s 128 bits of "
                                   "root-hash, Discoverable Partitions Specification)",
                                   v->gpt->parts[i].uuid, w, verity ? "last" : "first");
}

/* The squashfs: fits, and hashes to root.sha256. *ok tells whether it is intact. */
static int check_data(vctx *v, unsigned i, const mk_manifest *m, bool *ok)
{
        const mk_gpt_part *p = &v->gpt->parts[i];
        int r = check_partuuid(v, i, m->root.partuuid, ok);
        if (r < 0 || !*ok || (r = check_dps_uuid(v, i, m, false, ok)) < 0 || !*ok)
                return r;
        *ok = false;
        if (m->root.size > p->size)
                return mk_vitem_fail(v, VITEM_PART(i),
                                     "the manifest's root size %llu bytes does not fit in the "
                                     "partition (%llu bytes)",
                                     (unsigned long long)m->root.size, (unsigned long long)p->size);
        char hex[65];
        mk_error e = {0};
        if ((r = mk_sha256_range(v->fd, p->name, p->start, m->root.size, hex, &e)) < 0)
                return r == -ENOMEM ? r : mk_vitem_fail(v, VITEM_PART(i), "%s", e.msg);
        if (strcmp(hex, m->root.sha256) != 0)
                return mk_vitem_fail(v, VITEM_PART(i),
                                     "sha256 of its first %llu bytes is %s, the manifest says %s "
                                     "(the root filesystem was modified)",
                                     (unsigned long long)m->root.size, hex, m->root.sha256);
        *ok = true;
        return 0;
}

/* The superblock and the tree; the tree against the data only when data_ok. */
static int check_verity(vctx *v, unsigned i, unsigned di, const mk_manifest *m, bool data_ok)
{
        const mk_gpt_part *p = &v->gpt->parts[i], *dp = &v->gpt->parts[di];
        bool ok;
        int r = check_partuuid(v, i, m->root.verity.partuuid, &ok);
        if (r < 0 || !ok || (r = check_dps_uuid(v, i, m, true, &ok)) < 0 || !ok)
                return r;
        uint64_t need = mk_verity_hash_size(m->root.verity.data_blocks);
        if (need > p->size)
                return mk_vitem_fail(v, VITEM_PART(i),
                                     "the dm-verity superblock and tree of %llu data blocks need %llu "
                                     "bytes, the partition has %llu",
                                     (unsigned long long)m->root.verity.data_blocks, (unsigned long long)need,
                                     (unsigned long long)p->size);
        mk_error e = {0};
        if ((r = mk_vtree_check_super(v->fd, p->start, m, &e)) < 0 ||
            (r = mk_vtree_check_hashes(v->fd, p->start, m, &e)) < 0)
                return r == -ENOMEM ? r : mk_vitem_fail(v, VITEM_PART(i), "%s", e.msg);
        if (!data_ok)
                return 0;
        uint8_t root[32];
        mk_vhex_decode(m->root.verity.root_hash, root, sizeof(root));
        if ((r = mk_verity_check(v->fd, dp->start, p->start, root, v->threads, NULL, &e)) < 0)
                return r == -ENOMEM ? r
                                    : mk_vitem_fail(v, VITEM_PART(i),
                                                    "the dm-verity tree does not match the intact "
                                                    "data of %s: %s",
                                                    dp->name, e.msg);
        return 0;
}

/*
 * The data partition the manifest names (shared by the slots): the GUID,
 * then its contents as `encryption` says (mk_verify_data, once).
 */
static int check_data_part(vctx *v, unsigned s, const mk_manifest *m)
{
        if (!m->data.partition)
                return 0;
        int found = -1;
        for (unsigned i = 0; i < v->gpt->n_parts && found < 0; i++)
                if (!strcmp(v->gpt->parts[i].name, m->data.partition))
                        found = (int)i;
        if (found < 0)
                return mk_vitem_fail(v, s, "data.partition '%s' is not a partition of this image's GPT",
                                     m->data.partition);
        bool ok;
        int r = check_partuuid(v, (unsigned)found, m->data.partuuid, &ok);
        mk_vitem_seen(v, VITEM_PART(found));
        if (r < 0 || !ok)
                return r;
        return mk_verify_data(v, (unsigned)found, m->data.encryption);
}

int mk_verify_slot(vctx *v, unsigned s, const mk_manifest *m)
{
        int r0 = check_data_part(v, s, m);
        if (r0 < 0)
                return r0;
        int di = -1, hi = -1;
        int r = find_part(v, s, m->root.partition, "root.partition", &di);
        if (r < 0 || di < 0 || (r = find_part(v, s, m->root.verity.partition, "root.verity.partition", &hi)) < 0 ||
            hi < 0)
                return r;
        v->owner[di] = v->owner[hi] = m->slot;
        mk_vitem_seen(v, VITEM_PART(di));
        mk_vitem_seen(v, VITEM_PART(hi));
        bool data_ok;
        if ((r = check_data(v, (unsigned)di, m, &data_ok)) < 0)
                return r;
        return check_verity(v, (unsigned)hi, (unsigned)di, m, data_ok);
}
