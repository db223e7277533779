/* SPDX-License-Identifier: MIT */
/*
 * The data partition a verified manifest names. Its contents are made per
 * device and signed by nobody, so verify checks that they are sound rather
 * than that they are some bytes: with encryption luks2, the LUKS2 header
 * (verify-luks.c) and, given the data key, the ext4 inside, decrypted in
 * memory; with encryption none, the ext4 (verify-ext4.c). Everything read is
 * the image's; the data key is the caller's and only read.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "builder/image/inspect.h"
#include "signing/base/escape.h"
#include "signing/base/fileio.h"
#include "builder/verify/verify-internal.h"

typedef struct plain {
        int fd;
        uint64_t start, size;
        const char *name;
} plain;

/* An mk_vread_fn on a partition's own bytes. */
static int plain_read(void *ctx, uint64_t off, void *buf, size_t len, mk_error *err)
{
        const plain *p = ctx;
        if (off > p->size || len > p->size - off)
                return mk_error_set(err, EINVAL, "bytes %" PRIu64 "+%zu are outside partition %s", off, len, p->name);
        int r = mk_pread_all(p->fd, buf, len, p->start + off);
        return r < 0 ? mk_error_set(err, -r, "reading partition %s: %s", p->name, strerror(-r)) : 0;
}

static int fail_with(vctx *v, unsigned i, int r, const mk_error *e)
{
        return r == -ENOMEM ? r : mk_vitem_fail(v, VITEM_PART(i), "%s", e->msg);
}

static void ext4_words(const mk_vext4_info *x, char *buf, size_t n)
{
        if (x->csum)
                snprintf(buf, n,
                         "ext4 clean, %" PRIu64 " blocks of %" PRIu32 " bytes, the superblock's and %" PRIu64
                         " group descriptors' checksums right",
                         x->blocks, x->block_size, x->descs_checked);
        else
                snprintf(buf, n, "ext4 clean, %" PRIu64 " blocks of %" PRIu32 " bytes (no metadata_csum: no checksums)",
                         x->blocks, x->block_size);
}

static int check_plain(vctx *v, unsigned i, const char *name)
{
        const mk_gpt_part *p = &v->gpt->parts[i];
        plain ctx = {.fd = v->fd, .start = p->start, .size = p->size, .name = name};
        mk_vext4_info x;
        mk_error e = {0};
        int r = mk_vext4_check(plain_read, &ctx, p->size, &x, &e);
        if (r < 0)
                return fail_with(v, i, r, &e);
        char words[256];
        ext4_words(&x, words, sizeof(words));
        return mk_vitem_ok(v, VITEM_PART(i), "%s%s", words,
                           v->opts && v->opts->data_key ? "; --data-key not used: the partition is not encrypted" : "");
}

static int check_luks(vctx *v, unsigned i, const char *name)
{
        const mk_gpt_part *p = &v->gpt->parts[i];
        mk_error e = {0};
        mk_vluks *h = NULL;
        int r = mk_vluks_open(v->fd, p->start, p->size, name, &h, &e);
        if (r < 0)
                return fail_with(v, i, r, &e);
        const mk_vluks_info *in = mk_vluks_get_info(h);
        char head[256];
        snprintf(head, sizeof(head),
                 "LUKS2, 2 header copies checked, aes-xts-plain64, 512-byte sectors, %u keyslot%s, %" PRIu64
                 " bytes of data at byte %" PRIu64,
                 in->keyslots, in->keyslots == 1 ? "" : "s", in->data_len, in->data_off);
        if (!v->opts || !v->opts->data_key) {
                r = mk_vitem_ok(v, VITEM_PART(i), "%s; the ext4 inside not checked (give --data-key)", head);
                goto out;
        }
        char key[512];
        mk_quote(v->opts->data_key_name ? v->opts->data_key_name : "(given)", key, sizeof(key));
        int slot;
        mk_vext4_info x;
        if ((r = mk_vluks_unlock(h, v->opts->data_key, v->opts->data_key_len, key, &slot, &e)) < 0 ||
            (r = mk_vext4_check(mk_vluks_read, h, in->data_len, &x, &e)) < 0) {
                if (r != -ENOMEM && r != -EPERM)
                        mk_error_prefix(&e, r, "in the LUKS2 payload");
                r = fail_with(v, i, r, &e);
                goto out;
        }
        char words[256];
        ext4_words(&x, words, sizeof(words));
        r = mk_vitem_ok(v, VITEM_PART(i), "%s; keyslot %d opened by the data key; %s", head, slot, words);
out:
        mk_vluks_free(h);
        return r;
}

int mk_verify_data(vctx *v, unsigned i, const char *enc)
{
        if (v->data_done)
                return 0;
        v->data_done = true;
        mk_vitem_seen(v, VITEM_PART(i));
        const mk_gpt_part *p = &v->gpt->parts[i];
        char name[256], q[sizeof(name) - 2];
        snprintf(name, sizeof(name), "'%s'", mk_quote(p->name, q, sizeof(q)));
        unsigned char head[4096];
        ssize_t k = pread(v->fd, head, sizeof(head), (off_t)p->start);
        const char *has = mk_detect_content(head, k > 0 ? (size_t)k : 0);
        bool luks = strcmp(enc, "luks2") == 0;
        /* Content of another kind is a plain mismatch; a missing or damaged header is for the checks to describe. */
        bool other = strcmp(has, "empty") && strcmp(has, "unknown") && strcmp(has, luks ? "luks2" : "ext4");
        if (other)
                return mk_vitem_fail(v, VITEM_PART(i), "holds %s, but the manifest says %s (encryption: %s)", has,
                                     luks ? "luks2" : "ext4", enc);
        return luks ? check_luks(v, i, name) : check_plain(v, i, name);
}
