/* SPDX-License-Identifier: MIT */
/*
 * Reading a bundle front to back (signing/bundle/bundle.h): the header, the
 * signed bundle manifest, then the parts. Nothing is seekable: the same code
 * reads a file and a pipe, and every byte is read once.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "signing/base/sha256.h"
#include "signing/bundle/bundle.h"

/* ---- the stream ---------------------------------------------------------- */

int mk_bundle_read_fd(void *ctx, void *buf, size_t len, mk_error *err)
{
        int fd = *(int *)ctx;
        for (size_t done = 0; done < len;) {
                ssize_t n = read(fd, (char *)buf + done, len - done);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return mk_error_set(err, errno, "read: %s", strerror(errno));
                if (n == 0)
                        return mk_error_set(err, EIO, "the bundle ends early (truncated?)");
                done += (size_t)n;
        }
        return 0;
}

int mk_bundle_read(mk_bundle *b, void *buf, size_t len, mk_error *err)
{
        if (len > b->header.size - b->pos)
                return mk_error_set(err, EIO, "%s: a read past the bundle's end", b->name);
        int r = b->read(b->ctx, buf, len, err);
        if (r < 0)
                return mk_error_prefix(err, r, "%s: at byte %llu", b->name, (unsigned long long)b->pos);
        b->pos += len;
        return 0;
}

mk_bundle *mk_bundle_free(mk_bundle *b)
{
        if (!b)
                return NULL;
        free(b->manifest_text);
        free(b->sig_text);
        mk_bundle_manifest_free(b->manifest);
        free(b);
        return NULL;
}

/* A new NUL-terminated buffer of len bytes from the stream. */
static int read_text(mk_bundle *b, size_t len, char **ret, mk_error *err)
{
        char *t = malloc(len + 1);
        if (!t)
                return mk_error_set(err, ENOMEM, "out of memory");
        int r = mk_bundle_read(b, t, len, err);
        if (r < 0) {
                free(t);
                return r;
        }
        t[len] = '\0';
        *ret = t;
        return 0;
}

int mk_bundle_open(const char *name, mk_bundle_read_fn read_fn, void *ctx, const mk_keyset *trusted,
                   const mk_pubkey *key, mk_bundle **ret, mk_error *err)
{
        _cleanup_(mk_bundle_freep) mk_bundle *b = calloc(1, sizeof(*b));
        if (!b)
                return mk_error_set(err, ENOMEM, "out of memory");
        *b = (mk_bundle){.name = name, .read = read_fn, .ctx = ctx};
        uint8_t hdr[MK_BUNDLE_HEADER];
        b->header.size = MK_BUNDLE_HEADER; /* until the header is known */
        int r = mk_bundle_read(b, hdr, sizeof(hdr), err);
        if (r < 0 || (r = mk_bundle_header_decode(name, hdr, &b->header, err)) < 0)
                return r;
        if ((r = read_text(b, b->header.manifest_len, &b->manifest_text, err)) < 0 ||
            (r = read_text(b, b->header.sig_len, &b->sig_text, err)) < 0)
                return r;
        _cleanup_(mk_verified_donep) mk_verified v = {0};
        const char *what_m = "its bundle manifest", *what_s = "the manifest's signature";
        mk_verify_result vr = MK_VERIFY_OK;
        if (trusted)
                vr = mk_verify_buffer(trusted, what_m, b->manifest_text, b->header.manifest_len, what_s, b->sig_text,
                                      b->header.sig_len, &v, err);
        else if (key)
                vr = mk_verify_buffer_with_key(key, what_m, b->manifest_text, b->header.manifest_len, what_s,
                                               b->sig_text, b->header.sig_len, &v, err);
        if (vr != MK_VERIFY_OK) {
                static const int codes[] = {
                        [MK_VERIFY_ERROR_IO] = EIO,
                        [MK_VERIFY_ERROR_MALFORMED] = EBADMSG,
                        [MK_VERIFY_ERROR_UNTRUSTED] = ENOKEY,
                        [MK_VERIFY_ERROR_SIGNATURE] = EKEYREJECTED,
                        [MK_VERIFY_ERROR_COMMENT] = EKEYREJECTED,
                };
                return mk_error_prefix(err, -codes[vr], "%s", name);
        }
        if (v.signer)
                snprintf(b->signer, sizeof(b->signer), "%s", mk_pubkey_id_str(v.signer));
        char what[512];
        snprintf(what, sizeof(what), "%s: its bundle manifest", name);
        if ((r = mk_bundle_manifest_parse(what, b->manifest_text, b->header.manifest_len, &b->header, &b->manifest,
                                          err)) < 0)
                return r;
        *ret = TAKE_PTR(b);
        return 0;
}

int mk_bundle_seek(mk_bundle *b, const mk_bundle_part *p, mk_error *err)
{
        if (p->offset < b->pos)
                return mk_error_set(err, EINVAL, "%s: the %s part at %llu is behind the stream (at %llu)", b->name,
                                    mk_bundle_kind_str(p->kind), (unsigned long long)p->offset,
                                    (unsigned long long)b->pos);
        uint8_t buf[4096];
        while (b->pos < p->offset) {
                uint64_t at = b->pos;
                size_t n = p->offset - b->pos < sizeof(buf) ? (size_t)(p->offset - b->pos) : sizeof(buf);
                int r = mk_bundle_read(b, buf, n, err);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < n; i++)
                        if (buf[i])
                                return mk_error_set(err, EBADMSG,
                                                    "%s: byte %llu, in the padding before the %s part, is not zero",
                                                    b->name, (unsigned long long)(at + i), mk_bundle_kind_str(p->kind));
        }
        return 0;
}

int mk_bundle_read_part(mk_bundle *b, const mk_bundle_part *p, size_t max, uint8_t **ret, mk_error *err)
{
        if (p->size > max)
                return mk_error_set(err, EFBIG, "%s: the %s part is %llu bytes, more than the %zu this reader takes",
                                    b->name, mk_bundle_kind_str(p->kind), (unsigned long long)p->size, max);
        int r = mk_bundle_seek(b, p, err);
        if (r < 0)
                return r;
        uint8_t *buf = malloc((size_t)p->size + 1);
        if (!buf)
                return mk_error_set(err, ENOMEM, "out of memory");
        if ((r = mk_bundle_read(b, buf, (size_t)p->size, err)) < 0) {
                free(buf);
                return r;
        }
        buf[p->size] = 0;
        char hex[2 * MK_SHA256_BYTES + 1];
        mk_sha256_hex(buf, p->size, hex);
        if (strcmp(hex, p->sha256)) {
                free(buf);
                return mk_error_set(err, EBADMSG,
                                    "%s: the %s part%s%s at byte %llu does not match its signed sha256 (damaged "
                                    "or tampered)",
                                    b->name, mk_bundle_kind_str(p->kind), p->slot ? " of slot " : "",
                                    p->slot == 'a' ? "a"
                                    : p->slot      ? "b"
                                                   : "",
                                    (unsigned long long)p->offset);
        }
        *ret = buf;
        return 0;
}

int mk_bundle_skip_part(mk_bundle *b, const mk_bundle_part *p, mk_error *err)
{
        int r = mk_bundle_seek(b, p, err);
        uint8_t buf[4096];
        for (uint64_t left = p->size; r >= 0 && left;) {
                size_t n = left < sizeof(buf) ? (size_t)left : sizeof(buf);
                r = mk_bundle_read(b, buf, n, err);
                left -= n;
        }
        return r;
}
