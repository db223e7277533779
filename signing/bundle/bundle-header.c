/* SPDX-License-Identifier: MIT */
/* The bundle's binary records (signing/bundle/bundle.h): the 64-byte header and a delta's ranges, little-endian,
 * checked field by field. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

bool mk_bundle_is_file(const char *path)
{
        char magic[8];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        bool yes = pread(fd, magic, sizeof(magic), 0) == (ssize_t)sizeof(magic) && !memcmp(magic, MK_BUNDLE_MAGIC, 8);
        close(fd);
        return yes;
}

/* ---- a delta's ranges ------------------------------------------------------- */

void mk_bundle_range_encode(const mk_bundle_range *r, uint8_t out[MK_BUNDLE_RANGE_SIZE])
{
        put_le(out, r->dst, 8);
        put_le(out + 8, r->src, 8);
        put_le(out + 16, r->len, 8);
}

int mk_bundle_ranges_parse(const char *name, const uint8_t *buf, size_t len, uint64_t root_size, uint64_t base_size,
                           uint64_t literal_size, mk_bundle_range **ret, size_t *ret_n, mk_error *err)
{
        if (len % MK_BUNDLE_RANGE_SIZE || len / MK_BUNDLE_RANGE_SIZE > MK_BUNDLE_RANGES_MAX)
                return mk_error_set(err, EBADMSG,
                                    "%s: the ranges part is %zu bytes, not a whole number of %u-byte records (at "
                                    "most %u)",
                                    name, len, MK_BUNDLE_RANGE_SIZE, MK_BUNDLE_RANGES_MAX);
        size_t n = len / MK_BUNDLE_RANGE_SIZE;
        mk_bundle_range *v = calloc(n ? n : 1, sizeof(*v));
        if (!v)
                return mk_error_set(err, ENOMEM, "out of memory");
        uint64_t end = 0, covered = 0;
        for (size_t i = 0; i < n; i++) {
                const uint8_t *p = buf + i * MK_BUNDLE_RANGE_SIZE;
                mk_bundle_range r = {get_le(p, 8), get_le(p + 8, 8), get_le(p + 16, 8)};
                const char *bad = !r.len                                           ? "is empty"
                                  : r.dst < end                                    ? "overlaps the one before it"
                                  : r.dst > root_size || r.len > root_size - r.dst ? "ends past the new root"
                                  : r.src > base_size || r.len > base_size - r.src ? "ends past the running root"
                                                                                   : NULL;
                if (bad) {
                        free(v);
                        return mk_error_set(err, EBADMSG,
                                            "%s: range #%zu (%llu bytes from %llu to %llu) %s (a %llu-byte root "
                                            "from a %llu-byte one)",
                                            name, i + 1, (unsigned long long)r.len, (unsigned long long)r.src,
                                            (unsigned long long)r.dst, bad, (unsigned long long)root_size,
                                            (unsigned long long)base_size);
                }
                v[i] = r;
                end = r.dst + r.len;
                covered += r.len;
        }
        if (root_size - covered != literal_size) {
                free(v);
                return mk_error_set(err, EBADMSG,
                                    "%s: the ranges cover %llu of the root's %llu bytes, which leaves %llu, but the "
                                    "root part holds %llu",
                                    name, (unsigned long long)covered, (unsigned long long)root_size,
                                    (unsigned long long)(root_size - covered), (unsigned long long)literal_size);
        }
        *ret = v;
        *ret_n = n;
        return 0;
}
