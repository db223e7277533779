/* SPDX-License-Identifier: MIT */
#include "builder/secureboot/authenticode.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "builder/secureboot/der.h"
#include "builder/secureboot/pe.h"
#include "signing/base/macro.h"

#define WIN_CERT_REVISION_2 0x0200
#define WIN_CERT_TYPE_PKCS_SIGNED_DATA 0x0002
#define WIN_CERT_HEADER 8

static const uint8_t OID_SIGNED_DATA[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02};
static const uint8_t OID_SHA256[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01};
static const uint8_t OID_RSA[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
static const uint8_t OID_CONTENT_TYPE[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03};
static const uint8_t OID_MESSAGE_DIGEST[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04};
static const uint8_t OID_SPC_INDIRECT_DATA[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x01, 0x04};
static const uint8_t OID_SPC_PE_IMAGE_DATA[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x01, 0x0f};
static const uint8_t OID_SPC_SP_OPUS_INFO[] = {0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x01, 0x0c};
#define SPC_INDIRECT_DATA_TEXT "1.3.6.1.4.1.311.2.1.4"

/* SEQUENCE { OID, NULL } */
static void alg_id(mk_der *d, const uint8_t *oid, size_t n)
{
        mk_der a = {0};
        mk_der_tlv(&a, MK_DER_OID, oid, n);
        mk_der_tlv(&a, MK_DER_NULL, NULL, 0);
        mk_der_put(d, MK_DER_SEQUENCE, &a);
}

/*
 * The content of SpcIndirectDataContent (without its SEQUENCE header: that
 * is what the messageDigest attribute covers): the PE image data object
 * with the customary "<<<Obsolete>>>" file link, and the image's digest.
 */
static void indirect_content(mk_der *d, const uint8_t digest[32])
{
        static const char obsolete[] = "<<<Obsolete>>>";
        uint8_t bmp[2 * sizeof(obsolete)];
        size_t bl = 0;
        for (const char *c = obsolete; *c; c++)
                bmp[bl++] = 0, bmp[bl++] = (uint8_t)*c;
        mk_der file = {0}, link = {0}, pe_data = {0}, attr = {0}, info = {0};
        mk_der_tlv(&file, 0x80, bmp, bl);          /* unicode [0] IMPLICIT BMPString */
        mk_der_put(&link, MK_DER_CTX0 + 2, &file); /* file [2] EXPLICIT SpcString */
        mk_der_tlv(&pe_data, MK_DER_BIT_STRING, "", 1);
        mk_der_put(&pe_data, MK_DER_CTX0, &link); /* file [0] EXPLICIT SpcLink */
        mk_der_tlv(&attr, MK_DER_OID, OID_SPC_PE_IMAGE_DATA, sizeof(OID_SPC_PE_IMAGE_DATA));
        mk_der_put(&attr, MK_DER_SEQUENCE, &pe_data);
        mk_der_put(d, MK_DER_SEQUENCE, &attr);
        alg_id(&info, OID_SHA256, sizeof(OID_SHA256));
        mk_der_tlv(&info, MK_DER_OCTET_STRING, digest, 32);
        mk_der_put(d, MK_DER_SEQUENCE, &info);
}

/* SEQUENCE { OID, SET { value } } */
static void attribute(mk_der *d, const uint8_t *oid, size_t oid_len, uint8_t tag, const void *value, size_t len)
{
        mk_der a = {0}, set = {0};
        mk_der_tlv(&a, MK_DER_OID, oid, oid_len);
        mk_der_tlv(&set, tag, value, len);
        mk_der_put(&a, MK_DER_SET, &set);
        mk_der_put(d, MK_DER_SEQUENCE, &a);
}

/* DER orders the members of a SET OF by their encodings. */
static int der_cmp(const mk_der *a, const mk_der *b)
{
        size_t n = a->len < b->len ? a->len : b->len;
        int c = memcmp(a->p, b->p, n);
        return c ? c : (a->len > b->len) - (a->len < b->len);
}

static int rsa_sign(const mk_sb_signer *s, const mk_der *tbs, mk_der *sig, mk_error *err)
{
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        size_t n = 0;
        uint8_t *buf = NULL;
        int ok = ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, s->key) == 1 &&
                 EVP_DigestSign(ctx, NULL, &n, tbs->p, tbs->len) == 1 && (buf = malloc(n)) &&
                 EVP_DigestSign(ctx, buf, &n, tbs->p, tbs->len) == 1;
        EVP_MD_CTX_free(ctx);
        if (ok)
                mk_der_raw(sig, buf, n);
        free(buf);
        if (!ok) {
                char why[256];
                ERR_error_string_n(ERR_get_error(), why, sizeof(why));
                return mk_error_set(err, EIO, "%s: signing failed: %s", s->key_path, why);
        }
        return 0;
}

/* The PKCS#7 ContentInfo (DER) for an image whose Authenticode digest is digest. */
static int signed_data(const mk_sb_signer *s, const uint8_t digest[32], mk_der *out, mk_error *err)
{
        mk_der idc = {0}, attrs[3] = {{0}}, set = {0}, sig = {0};
        indirect_content(&idc, digest);
        uint8_t md[32];
        EVP_Digest(idc.p, idc.len, md, NULL, EVP_sha256(), NULL);
        mk_der oid = {0}, empty = {0};
        mk_der_tlv(&oid, MK_DER_OID, OID_SPC_INDIRECT_DATA, sizeof(OID_SPC_INDIRECT_DATA));
        attribute(&attrs[0], OID_CONTENT_TYPE, sizeof(OID_CONTENT_TYPE), MK_DER_OID, OID_SPC_INDIRECT_DATA,
                  sizeof(OID_SPC_INDIRECT_DATA));
        attribute(&attrs[1], OID_MESSAGE_DIGEST, sizeof(OID_MESSAGE_DIGEST), MK_DER_OCTET_STRING, md, sizeof(md));
        attribute(&attrs[2], OID_SPC_SP_OPUS_INFO, sizeof(OID_SPC_SP_OPUS_INFO), MK_DER_SEQUENCE, empty.p, 0);
        mk_der_free(&oid);
        for (int i = 0; i < 3; i++) /* three members: an insertion sort */
                for (int j = i; j > 0 && der_cmp(&attrs[j - 1], &attrs[j]) > 0; j--) {
                        mk_der t = attrs[j];
                        attrs[j] = attrs[j - 1], attrs[j - 1] = t;
                }
        for (int i = 0; i < 3; i++) {
                mk_der_raw(&set, attrs[i].p, attrs[i].len);
                mk_der_free(&attrs[i]);
        }
        /* The signature covers the attributes encoded as a SET; the SignerInfo holds them as [0]. */
        mk_der tbs = {0};
        mk_der_tlv(&tbs, MK_DER_SET, set.p, set.len);
        int r = tbs.oom ? mk_error_set(err, ENOMEM, "out of memory") : rsa_sign(s, &tbs, &sig, err);
        mk_der_free(&tbs);
        uint8_t *issuer = NULL, *serial = NULL, *cert = NULL;
        int il = i2d_X509_NAME(X509_get_issuer_name(s->cert), &issuer);
        int sl = i2d_ASN1_INTEGER((ASN1_INTEGER *)X509_get0_serialNumber(s->cert), &serial);
        int cl = i2d_X509(s->cert, &cert);
        if (r >= 0 && (il <= 0 || sl <= 0 || cl <= 0))
                r = mk_error_set(err, EINVAL, "%s: cannot encode the certificate", s->cert_path);
        if (r >= 0) {
                mk_der si = {0}, ias = {0}, sd = {0}, algs = {0}, content = {0}, ci = {0}, certs = {0};
                mk_der signers = {0}, inner = {0}, sd_seq = {0};
                mk_der_tlv(&si, MK_DER_INTEGER, "\x01", 1);
                mk_der_raw(&ias, issuer, (size_t)il);
                mk_der_raw(&ias, serial, (size_t)sl);
                mk_der_put(&si, MK_DER_SEQUENCE, &ias);
                alg_id(&si, OID_SHA256, sizeof(OID_SHA256));
                mk_der_put(&si, MK_DER_CTX0, &set);
                alg_id(&si, OID_RSA, sizeof(OID_RSA));
                mk_der_put(&si, MK_DER_OCTET_STRING, &sig);
                mk_der_put(&signers, MK_DER_SEQUENCE, &si);

                mk_der_tlv(&sd, MK_DER_INTEGER, "\x01", 1);
                alg_id(&algs, OID_SHA256, sizeof(OID_SHA256));
                mk_der_put(&sd, MK_DER_SET, &algs);
                mk_der_tlv(&content, MK_DER_OID, OID_SPC_INDIRECT_DATA, sizeof(OID_SPC_INDIRECT_DATA));
                mk_der_put(&inner, MK_DER_SEQUENCE, &idc);
                mk_der_put(&content, MK_DER_CTX0, &inner);
                mk_der_put(&sd, MK_DER_SEQUENCE, &content);
                mk_der_raw(&certs, cert, (size_t)cl);
                mk_der_put(&sd, MK_DER_CTX0, &certs);
                mk_der_put(&sd, MK_DER_SET, &signers);

                mk_der_put(&sd_seq, MK_DER_SEQUENCE, &sd);
                mk_der_tlv(&ci, MK_DER_OID, OID_SIGNED_DATA, sizeof(OID_SIGNED_DATA));
                mk_der_put(&ci, MK_DER_CTX0, &sd_seq);
                mk_der_put(out, MK_DER_SEQUENCE, &ci);
                if (out->oom)
                        r = mk_error_set(err, ENOMEM, "out of memory");
        }
        OPENSSL_free(issuer);
        OPENSSL_free(serial);
        OPENSSL_free(cert);
        mk_der_free(&idc);
        mk_der_free(&set);
        mk_der_free(&sig);
        return r;
}

int mk_authenticode_sign(const char *what, const uint8_t *image, size_t len, const mk_sb_signer *s, uint8_t **ret,
                         size_t *ret_len, mk_error *err)
{
        if (EVP_PKEY_get_base_id(s->key) != EVP_PKEY_RSA)
                return mk_error_set(err, ENOTSUP,
                                    "%s: not an RSA key; Secure Boot signing takes RSA (2048 to 4096 bits): firmware "
                                    "checks RSA signatures, and they are reproducible (mkimage sb-keygen makes one)",
                                    s->key_path);
        mk_pe pe;
        int r = mk_pe_parse(what, image, len, &pe, err);
        if (r < 0)
                return r;
        if (pe.cert_size)
                return mk_error_set(err, EINVAL, "%s: signed already (sign the unsigned file)", what);
        if (!pe.certdir_off)
                return mk_error_set(err, EINVAL, "%s: no certificate directory in its optional header", what);
        size_t padded = (len + 7) & ~(size_t)7;
        _cleanup_free_ uint8_t *buf = calloc(1, padded);
        if (!buf)
                return mk_error_set(err, ENOMEM, "out of memory");
        memcpy(buf, image, len);
        uint8_t digest[32];
        if ((r = mk_pe_parse(what, buf, padded, &pe, err)) < 0 || (r = mk_pe_authenticode_sha256(&pe, digest, err)) < 0)
                return r;
        mk_der sd = {0};
        if ((r = signed_data(s, digest, &sd, err)) < 0) {
                mk_der_free(&sd);
                return r;
        }
        size_t table = (WIN_CERT_HEADER + sd.len + 7) & ~(size_t)7;
        if (padded + table > UINT32_MAX) {
                mk_der_free(&sd);
                return mk_error_set(err, EFBIG, "%s: too large to sign", what);
        }
        uint8_t *out = calloc(1, padded + table);
        if (!out) {
                mk_der_free(&sd);
                return mk_error_set(err, ENOMEM, "out of memory");
        }
        memcpy(out, buf, padded);
        uint8_t *wc = out + padded;
        mk_put_le32(wc, (uint32_t)(WIN_CERT_HEADER + sd.len)); /* the table's size is padded, the entry's not */
        mk_put_le16(wc + 4, WIN_CERT_REVISION_2);
        mk_put_le16(wc + 6, WIN_CERT_TYPE_PKCS_SIGNED_DATA);
        memcpy(wc + WIN_CERT_HEADER, sd.p, sd.len);
        mk_der_free(&sd);
        mk_put_le32(out + pe.certdir_off, (uint32_t)padded);
        mk_put_le32(out + pe.certdir_off + 4, (uint32_t)table);
        mk_put_le32(out + pe.checksum_off, mk_pe_checksum(out, padded + table, pe.checksum_off));
        *ret = out;
        *ret_len = padded + table;
        return 0;
}

static char *subject_of(X509 *c)
{
        char buf[512];
        X509_NAME_oneline(X509_get_subject_name(c), buf, sizeof(buf));
        return strdup(buf);
}

/* The digest an SpcIndirectDataContent (its full DER) signs: its DigestInfo's SHA-256 octets. */
static bool signed_digest(const uint8_t *p, size_t n, const uint8_t **value, size_t *value_len, const uint8_t **dg)
{
        uint8_t tag;
        const uint8_t *c, *e, *alg, *oid;
        size_t cl, el, al, ol;
        if (!mk_der_next(&p, &n, &tag, &c, &cl) || tag != MK_DER_SEQUENCE)
                return false;
        *value = c, *value_len = cl;
        if (!mk_der_next(&c, &cl, &tag, &e, &el) || tag != MK_DER_SEQUENCE || /* the data object */
            !mk_der_next(&c, &cl, &tag, &e, &el) || tag != MK_DER_SEQUENCE)   /* DigestInfo */
                return false;
        if (!mk_der_next(&e, &el, &tag, &alg, &al) || tag != MK_DER_SEQUENCE ||
            !mk_der_next(&alg, &al, &tag, &oid, &ol) || tag != MK_DER_OID || ol != sizeof(OID_SHA256) ||
            memcmp(oid, OID_SHA256, ol))
                return false;
        if (!mk_der_next(&e, &el, &tag, dg, &ol) || tag != MK_DER_OCTET_STRING || ol != 32)
                return false;
        return true;
}

int mk_authenticode_verify(const char *what, const uint8_t *image, size_t len, X509 *cert, char **ret_subject,
                           mk_error *err)
{
        mk_pe pe;
        int r = mk_pe_parse(what, image, len, &pe, err);
        if (r < 0)
                return r;
        if (!pe.cert_size)
                return mk_error_set(err, ENOKEY, "%s: not signed (no Authenticode signature)", what);
        uint8_t digest[32];
        if ((r = mk_pe_authenticode_sha256(&pe, digest, err)) < 0)
                return mk_error_prefix(err, r, "%s", what);
        const uint8_t *wc = image + pe.cert_off;
        uint32_t wl = mk_le32(wc);
        if (pe.cert_size < WIN_CERT_HEADER || wl < WIN_CERT_HEADER || wl > pe.cert_size ||
            mk_le16(wc + 4) != WIN_CERT_REVISION_2 || mk_le16(wc + 6) != WIN_CERT_TYPE_PKCS_SIGNED_DATA)
                return mk_error_set(err, EINVAL, "%s: the certificate table holds no PKCS#7 signature", what);
        const unsigned char *der = wc + WIN_CERT_HEADER;
        PKCS7 *p7 = d2i_PKCS7(NULL, &der, wl - WIN_CERT_HEADER);
        const uint8_t *value = NULL, *dg = NULL;
        size_t value_len = 0;
        char oid[64] = "";
        if (p7 && PKCS7_type_is_signed(p7) && p7->d.sign->contents && p7->d.sign->contents->type)
                OBJ_obj2txt(oid, sizeof(oid), p7->d.sign->contents->type, 1);
        ASN1_TYPE *other = strcmp(oid, SPC_INDIRECT_DATA_TEXT) ? NULL : p7->d.sign->contents->d.other;
        if (!other || other->type != V_ASN1_SEQUENCE ||
            !signed_digest(other->value.sequence->data, (size_t)other->value.sequence->length, &value, &value_len,
                           &dg)) {
                PKCS7_free(p7);
                return mk_error_set(err, EINVAL, "%s: the signature is not an Authenticode SignedData", what);
        }
        if (CRYPTO_memcmp(dg, digest, 32)) {
                PKCS7_free(p7);
                return mk_error_set(err, EKEYREJECTED,
                                    "%s: the image changed after it was signed (its Authenticode digest is not the "
                                    "signed one)",
                                    what);
        }
        BIO *content = BIO_new_mem_buf(value, (int)value_len);
        int ok = content && PKCS7_verify(p7, NULL, NULL, content, NULL, PKCS7_BINARY | PKCS7_NOVERIFY) == 1;
        BIO_free(content);
        STACK_OF(X509) *signers = ok ? PKCS7_get0_signers(p7, NULL, 0) : NULL;
        X509 *signer = signers && sk_X509_num(signers) > 0 ? sk_X509_value(signers, 0) : NULL;
        if (!signer) {
                char why[256];
                ERR_error_string_n(ERR_get_error(), why, sizeof(why));
                sk_X509_free(signers);
                PKCS7_free(p7);
                return mk_error_set(err, EKEYREJECTED, "%s: the signature does not verify (%s)", what, why);
        }
        bool by_cert = X509_cmp(signer, cert) == 0 || (X509_check_issued(cert, signer) == X509_V_OK &&
                                                       X509_verify(signer, X509_get0_pubkey(cert)) == 1);
        char *subject = subject_of(signer), *want = subject_of(cert);
        sk_X509_free(signers);
        PKCS7_free(p7);
        ERR_clear_error();
        if (!by_cert)
                r = mk_error_set(err, EKEYREJECTED, "%s: signed by %s, not by the db certificate %s", what,
                                 subject ? subject : "?", want ? want : "?");
        free(want);
        if (ret_subject)
                *ret_subject = subject;
        else
                free(subject);
        return r;
}
