/* SPDX-License-Identifier: MIT */
#include "builder/secureboot/der.h"

#include <stdlib.h>
#include <string.h>

void mk_der_raw(mk_der *d, const void *bytes, size_t n)
{
        if (d->oom)
                return;
        if (d->len + n > d->cap) {
                size_t cap = d->cap ? d->cap : 256;
                while (cap < d->len + n)
                        cap *= 2;
                uint8_t *p = realloc(d->p, cap);
                if (!p) {
                        d->oom = true;
                        return;
                }
                d->p = p, d->cap = cap;
        }
        if (n)
                memcpy(d->p + d->len, bytes, n);
        d->len += n;
}

void mk_der_tlv(mk_der *d, uint8_t tag, const void *content, size_t n)
{
        uint8_t h[6] = {tag};
        size_t hl = 2;
        if (n < 0x80)
                h[1] = (uint8_t)n;
        else if (n <= 0xff)
                h[1] = 0x81, h[2] = (uint8_t)n, hl = 3;
        else if (n <= 0xffff)
                h[1] = 0x82, h[2] = (uint8_t)(n >> 8), h[3] = (uint8_t)n, hl = 4;
        else
                h[1] = 0x83, h[2] = (uint8_t)(n >> 16), h[3] = (uint8_t)(n >> 8), h[4] = (uint8_t)n, hl = 5;
        mk_der_raw(d, h, hl);
        mk_der_raw(d, content, n);
}

void mk_der_put(mk_der *d, uint8_t tag, mk_der *inner)
{
        if (inner->oom)
                d->oom = true;
        mk_der_tlv(d, tag, inner->p, inner->len);
        mk_der_free(inner);
}

void mk_der_free(mk_der *d)
{
        free(d->p);
        *d = (mk_der){0};
}

bool mk_der_next(const uint8_t **p, size_t *n, uint8_t *tag, const uint8_t **content, size_t *content_len)
{
        const uint8_t *b = *p;
        size_t avail = *n;
        if (avail < 2 || (b[0] & 0x1f) == 0x1f) /* no multi-byte tags here */
                return false;
        size_t len = b[1], hl = 2;
        if (len & 0x80) {
                size_t k = len & 0x7f;
                if (k == 0 || k > 4 || avail < 2 + k)
                        return false;
                len = 0;
                for (size_t i = 0; i < k; i++)
                        len = len << 8 | b[2 + i];
                hl = 2 + k;
        }
        if (len > avail - hl)
                return false;
        *tag = b[0];
        *content = b + hl;
        *content_len = len;
        *p = b + hl + len;
        *n = avail - hl - len;
        return true;
}
