/* SPDX-License-Identifier: MIT */
/* The bundle's fixed header (signing/bundle/bundle.h): 64 bytes, little-endian, checked field by field. */
#include <errno.h>
#include <string.h>

#include "signing/bundle/bundle.h"

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
        for (unsigned i = 0; i < n; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
        uint64_t v = 0;
        for (unsigned i = n; i-- > 0;)
                v = v << 8 | p[i];
        return v;
}

void mk_bundle_header_encode(const mk_bundle_header *h, uint8_t out[MK_BUNDLE_HEADER])
{
        memset(out, 0, MK_BUNDLE_HEADER);
        memcpy(out, MK_BUNDLE_MAGIC, 8);
        put_le(out + 8, h->format, 4);
        put_le(out + 12, MK_BUNDLE_HEADER, 4);
        put_le(out + 16, h->manifest_len, 8);
        put_le(out + 24, h->sig_len, 8);
        put_le(out + 32, h->size, 8);
}

uint64_t mk_bundle_parts_start(const mk_bundle_header *h)
{
        uint64_t end = MK_BUNDLE_HEADER + h->manifest_len + h->sig_len;
        return (end + MK_BUNDLE_ALIGN - 1) / MK_BUNDLE_ALIGN * MK_BUNDLE_ALIGN;
}

int mk_bundle_header_decode(const char *name, const uint8_t in[MK_BUNDLE_HEADER], mk_bundle_header *ret, mk_error *err)
{
        if (memcmp(in, MK_BUNDLE_MAGIC, 8))
                return mk_error_set(err, EBADMSG,
                                    "%s: not an mkimage update bundle (no \"" MK_BUNDLE_MAGIC
                                    "\" at its start): make one with `mkimage bundle`",
                                    name);
        mk_bundle_header h = {
                .format = (uint32_t)get_le(in + 8, 4),
                .manifest_len = get_le(in + 16, 8),
                .sig_len = get_le(in + 24, 8),
                .size = get_le(in + 32, 8),
        };
        if (h.format != MK_BUNDLE_FORMAT)
                return mk_error_set(err, EPROTONOSUPPORT,
                                    "%s: bundle format %u, but this program reads format %d only (update it, or "
                                    "make the bundle with the matching mkimage)",
                                    name, h.format, MK_BUNDLE_FORMAT);
        if (get_le(in + 12, 4) != MK_BUNDLE_HEADER)
                return mk_error_set(err, EBADMSG, "%s: the header says it is %llu bytes, not %u", name,
                                    (unsigned long long)get_le(in + 12, 4), MK_BUNDLE_HEADER);
        for (unsigned i = 40; i < MK_BUNDLE_HEADER; i++)
                if (in[i])
                        return mk_error_set(err, EBADMSG, "%s: reserved header byte %u is not zero", name, i);
        if (h.manifest_len == 0 || h.manifest_len > MK_BUNDLE_MANIFEST_MAX)
                return mk_error_set(err, EBADMSG, "%s: the header gives a bundle manifest of %llu bytes (1 to %u)",
                                    name, (unsigned long long)h.manifest_len, MK_BUNDLE_MANIFEST_MAX);
        if (h.sig_len == 0 || h.sig_len > MK_MINISIGN_FILE_MAX)
                return mk_error_set(err, EBADMSG, "%s: the header gives a signature of %llu bytes (1 to %u)", name,
                                    (unsigned long long)h.sig_len, MK_MINISIGN_FILE_MAX);
        if (h.size > MK_BUNDLE_SIZE_MAX || h.size < mk_bundle_parts_start(&h))
                return mk_error_set(err, EBADMSG,
                                    "%s: the header gives a bundle size of %llu bytes, which does "
                                    "not hold its manifest, signature and parts",
                                    name, (unsigned long long)h.size);
        *ret = h;
        return 0;
}
