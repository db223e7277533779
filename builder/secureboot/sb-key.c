/* SPDX-License-Identifier: MIT */
#include "builder/secureboot/sb-key.h"

#include <errno.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "signing/base/fileio.h"
#include "signing/base/macro.h"

/* A PEM key or certificate is a few kilobytes; a file this large is something else. */
#define PEM_MAX (256u << 10)

DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_TIME *, ASN1_TIME_free)

/* The key's text is wiped before it is freed: an unencrypted private key. */
typedef struct pem_text {
        char *buf;
        size_t len;
} pem_text;

static void pem_text_done(pem_text *t)
{
        if (t->buf)
                OPENSSL_cleanse(t->buf, t->len);
        free(t->buf);
}

/* path read whole into *t, and *ret_bio reading it; what (e.g. "private key") names it when the file is missing. */
static int read_pem(const char *path, const char *what, pem_text *t, BIO **ret_bio, mk_error *err)
{
        struct stat st;
        if (stat(path, &st) < 0 && errno == ENOENT)
                return mk_error_set(err, ENOENT,
                                    "%s: no such file (give the %s; a development set: mkimage sb-keygen DIR)", path,
                                    what);
        int r = mk_read_file(path, PEM_MAX, &t->buf, &t->len, err);
        if (r < 0)
                return r;
        *ret_bio = BIO_new_mem_buf(t->buf, (int)t->len);
        return *ret_bio ? 0 : mk_error_set(err, ENOMEM, "out of memory");
}

/* The passphrase callback: never prompts, only notes that the key is encrypted. */
static int refuse_passphrase(char *buf, int size, int rwflag, void *userdata)
{
        *(bool *)userdata = true;
        return -1;
}

/* "2025-01-01" for a certificate's time, or "an unreadable date". */
static void format_day(const ASN1_TIME *t, char *buf, size_t size)
{
        struct tm tm;
        if (!ASN1_TIME_to_tm(t, &tm) || !strftime(buf, size, "%Y-%m-%d", &tm))
                snprintf(buf, size, "an unreadable date");
}

int mk_sb_cert_load(const char *cert_path, X509 **ret, mk_error *err)
{
        _cleanup_(pem_text_done) pem_text t = {0};
        _cleanup_(BIO_freep) BIO *bio = NULL;
        int r = read_pem(cert_path, "certificate", &t, &bio, err);
        if (r < 0)
                return r;
        X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        ERR_clear_error();
        if (!cert) {
                if (strstr(t.buf, "-----BEGIN") && strstr(t.buf, "PRIVATE KEY-----"))
                        return mk_error_set(err, EINVAL,
                                            "%s: holds a private key, not a certificate (give the certificate, "
                                            "NAME.crt)",
                                            cert_path);
                return mk_error_set(err, EINVAL,
                                    "%s: not a PEM certificate, no valid '-----BEGIN CERTIFICATE-----' block "
                                    "(convert a DER one: openssl x509 -inform DER -in %s -out CERT.crt)",
                                    cert_path, cert_path);
        }
        *ret = cert;
        return 0;
}

static int load_key(const char *key_path, EVP_PKEY **ret, mk_error *err)
{
        _cleanup_(pem_text_done) pem_text t = {0};
        _cleanup_(BIO_freep) BIO *bio = NULL;
        int r = read_pem(key_path, "private key", &t, &bio, err);
        if (r < 0)
                return r;
        bool encrypted = false;
        EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, refuse_passphrase, &encrypted);
        ERR_clear_error();
        if (key) {
                *ret = key;
                return 0;
        }
        if (encrypted || strstr(t.buf, "-----BEGIN ENCRYPTED PRIVATE KEY-----"))
                return mk_error_set(err, EINVAL,
                                    "%s: the private key is encrypted and mkimage never asks for a passphrase "
                                    "(decrypt it: openssl pkey -in %s -out KEY.key)",
                                    key_path, key_path);
        if (strstr(t.buf, "-----BEGIN CERTIFICATE-----"))
                return mk_error_set(err, EINVAL, "%s: holds a certificate, not a private key (give the key, NAME.key)",
                                    key_path);
        return mk_error_set(err, EINVAL,
                            "%s: not a PEM private key, no valid '-----BEGIN PRIVATE KEY-----' block (convert a DER "
                            "one: openssl pkey -inform DER -in %s -out KEY.key)",
                            key_path, key_path);
}

/* RSA 2048 to 4096 bits or EC P-256/P-384: the signatures UEFI firmware checks. */
static int check_key_kind(const char *key_path, EVP_PKEY *key, mk_error *err)
{
        int id = EVP_PKEY_get_base_id(key);
        if (id == EVP_PKEY_RSA) {
                int bits = EVP_PKEY_get_bits(key);
                if (bits >= 2048 && bits <= 4096)
                        return 0;
                return mk_error_set(err, EKEYREJECTED,
                                    "%s: a %d-bit RSA key: too %s for Secure Boot (give an RSA key of 2048 to 4096 "
                                    "bits: mkimage sb-keygen DIR makes 2048-bit ones)",
                                    key_path, bits, bits < 2048 ? "weak" : "large");
        }
        if (id == EVP_PKEY_EC) {
                char group[80] = "";
                int nid = NID_undef;
                if (EVP_PKEY_get_group_name(key, group, sizeof(group), NULL)) {
                        nid = OBJ_sn2nid(group);
                        if (nid == NID_undef)
                                nid = EC_curve_nist2nid(group);
                }
                ERR_clear_error();
                if (nid == NID_X9_62_prime256v1 || nid == NID_secp384r1)
                        return 0;
                return mk_error_set(err, EKEYREJECTED,
                                    "%s: an EC key on the curve '%s': Secure Boot takes P-256 or P-384 (give an "
                                    "RSA 2048 key, or EC on one of those curves)",
                                    key_path, *group ? group : "unknown");
        }
        const char *name = OBJ_nid2sn(id);
        return mk_error_set(err, EKEYREJECTED,
                            "%s: a key of type %s: Secure Boot takes RSA or EC (give an RSA 2048 key)", key_path,
                            name && id != NID_undef ? name : "unknown");
}

/* Valid at now, and meant for signing code. */
static int check_cert(const char *cert_path, X509 *cert, int64_t now, mk_error *err)
{
        _cleanup_(ASN1_TIME_freep) ASN1_TIME *at = ASN1_TIME_set(NULL, (time_t)now);
        if (!at)
                return mk_error_set(err, ENOMEM, "out of memory");
        char day[32];
        int c = ASN1_TIME_compare(X509_get0_notBefore(cert), at);
        if (c == -2)
                return mk_error_set(err, EINVAL, "%s: the certificate's notBefore is not a valid time (make a new one)",
                                    cert_path);
        if (c > 0) {
                format_day(X509_get0_notBefore(cert), day, sizeof(day));
                return mk_error_set(err, EKEYREJECTED,
                                    "%s: certificate is not valid before %s (check the clock and "
                                    "SOURCE_DATE_EPOCH, or give a certificate valid now)",
                                    cert_path, day);
        }
        c = ASN1_TIME_compare(X509_get0_notAfter(cert), at);
        if (c == -2)
                return mk_error_set(err, EINVAL, "%s: the certificate's notAfter is not a valid time (make a new one)",
                                    cert_path);
        if (c < 0) {
                format_day(X509_get0_notAfter(cert), day, sizeof(day));
                return mk_error_set(err, EKEYREJECTED,
                                    "%s: certificate expired on %s (make a new one: mkimage sb-keygen DIR)", cert_path,
                                    day);
        }

        uint32_t flags = X509_get_extension_flags(cert);
        if (flags & EXFLAG_INVALID)
                return mk_error_set(err, EINVAL,
                                    "%s: the certificate's extensions do not parse (make a new one: mkimage sb-keygen "
                                    "DIR)",
                                    cert_path);
        if ((flags & EXFLAG_KUSAGE) && !(X509_get_key_usage(cert) & KU_DIGITAL_SIGNATURE))
                return mk_error_set(err, EKEYREJECTED,
                                    "%s: certificate is not for signing: its keyUsage lacks digitalSignature (give "
                                    "a code-signing certificate, like the db.crt of mkimage sb-keygen DIR)",
                                    cert_path);
        if ((flags & EXFLAG_XKUSAGE) && !(X509_get_extended_key_usage(cert) & XKU_CODE_SIGN))
                return mk_error_set(err, EKEYREJECTED,
                                    "%s: certificate is not for signing code: its extendedKeyUsage lacks codeSigning "
                                    "(give a code-signing certificate, like the db.crt of mkimage sb-keygen DIR)",
                                    cert_path);
        return 0;
}

void mk_sb_signer_free(mk_sb_signer *s)
{
        if (!s)
                return;
        EVP_PKEY_free(s->key);
        X509_free(s->cert);
        free(s->key_path);
        free(s->cert_path);
        free(s);
}

int mk_sb_signer_load(const char *key_path, const char *cert_path, int64_t now, mk_sb_signer **ret, mk_error *err)
{
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(X509_freep) X509 *cert = NULL;
        int r = load_key(key_path, &key, err);
        if (r < 0)
                return r;
        r = mk_sb_cert_load(cert_path, &cert, err);
        if (r < 0)
                return r;
        r = check_key_kind(key_path, key, err);
        if (r < 0)
                return r;
        /* The pair first: a certificate of another key is the likelier mistake than its dates. */
        int match = X509_check_private_key(cert, key);
        ERR_clear_error();
        if (match != 1)
                return mk_error_set(err, EKEYREJECTED,
                                    "%s: certificate does not match the key %s (give the certificate made with this "
                                    "key)",
                                    cert_path, key_path);
        r = check_cert(cert_path, cert, now, err);
        if (r < 0)
                return r;

        mk_sb_signer *s = calloc(1, sizeof(*s));
        if (!s)
                return mk_error_set(err, ENOMEM, "out of memory");
        s->key_path = strdup(key_path);
        s->cert_path = strdup(cert_path);
        if (!s->key_path || !s->cert_path) {
                mk_sb_signer_free(s);
                return mk_error_set(err, ENOMEM, "out of memory");
        }
        s->key = TAKE_PTR(key);
        s->cert = TAKE_PTR(cert);
        *ret = s;
        return 0;
}
