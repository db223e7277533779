/* SPDX-License-Identifier: MIT */
/*
 * The little DER (ASN.1 distinguished encoding) that Authenticode needs:
 * building a structure bottom-up into growing buffers, and walking one
 * element by element with every length checked.
 */
#ifndef MK_DER_H
#define MK_DER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
        MK_DER_INTEGER = 0x02,
        MK_DER_BIT_STRING = 0x03,
        MK_DER_OCTET_STRING = 0x04,
        MK_DER_NULL = 0x05,
        MK_DER_OID = 0x06,
        MK_DER_SEQUENCE = 0x30,
        MK_DER_SET = 0x31,
        MK_DER_CTX0 = 0xa0, /* [0] constructed; [n] is MK_DER_CTX0 + n */
};

/* A growing buffer; a failed allocation sticks (oom) and every later call is a no-op. */
typedef struct mk_der {
        uint8_t *p;
        size_t len, cap;
        bool oom;
} mk_der;

void mk_der_raw(mk_der *d, const void *bytes, size_t n);
/* tag, the DER length of n, then the n bytes. */
void mk_der_tlv(mk_der *d, uint8_t tag, const void *content, size_t n);
/* Append inner as the content of one element tag; inner is freed. */
void mk_der_put(mk_der *d, uint8_t tag, mk_der *inner);
void mk_der_free(mk_der *d);

/*
 * The next element of [*p, *p + *n): its tag and content; *p and *n move past
 * it. false (nothing moved) when the bytes do not hold a complete element
 * with a definite, minimal-enough length.
 */
bool mk_der_next(const uint8_t **p, size_t *n, uint8_t *tag, const uint8_t **content, size_t *content_len);

#endif
