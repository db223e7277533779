/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the Secure Boot signer (builder/secureboot/sb-key.c): a good
 * pair loads, and each refusal (missing, not PEM, encrypted, mismatched,
 * expired, not yet valid, not for signing, a weak key) comes with its exact
 * message; mk_sb_keygen's db pair loads and a second run is refused. The
 * keys and certificates are made here with libcrypto.
 */
#include <openssl/ec.h>
#include <stdarg.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "builder/secureboot/sb-key.h"
#include "check.h"
#include "signing-fixture.h"

#define T_2024 1704067200 /* 2024-01-01T00:00:00Z */
#define T_2025 1735689600 /* 2025-01-01 */
#define T_2026 1767225600 /* 2026-01-01: "now" of the tests */
#define T_2027 1798761600 /* 2027-01-01 */
#define T_2036 2082758400 /* 2036-01-01 */

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free)

/* One RSA 2048 key for every test that does not care which key (generating one takes a while). */
static EVP_PKEY *rsa_key;

typedef struct cert_opts {
        int64_t not_before, not_after; /* 0: 2024-01-01 and 2036-01-01 */
        const char *key_usage;         /* X509V3 text for keyUsage, or NULL: none */
        const char *ext_key_usage;     /* for extendedKeyUsage, or NULL */
} cert_opts;

/* A self-signed v3 certificate of key. */
static X509 *make_cert(EVP_PKEY *key, const cert_opts *o)
{
        X509 *x = X509_new();
        CHECK(x != NULL);
        X509_set_version(x, X509_VERSION_3);
        ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
        X509_NAME *name = X509_get_subject_name(x);
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)"test db", -1, -1, 0);
        X509_set_issuer_name(x, name);
        ASN1_TIME_set(X509_getm_notBefore(x), (time_t)(o->not_before ? o->not_before : T_2024));
        ASN1_TIME_set(X509_getm_notAfter(x), (time_t)(o->not_after ? o->not_after : T_2036));
        X509_set_pubkey(x, key);
        X509V3_CTX ctx;
        X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
        const struct {
                int nid;
                const char *value;
        } exts[] = {{NID_key_usage, o->key_usage}, {NID_ext_key_usage, o->ext_key_usage}};
        for (size_t i = 0; i < ELEMENTSOF(exts); i++) {
                if (!exts[i].value)
                        continue;
                X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, exts[i].nid, exts[i].value);
                CHECK(e != NULL && X509_add_ext(x, e, -1));
                X509_EXTENSION_free(e);
        }
        CHECK(X509_sign(x, key, EVP_sha256()) > 0);
        return x;
}

static void write_cert(const char *name, EVP_PKEY *key, const cert_opts *o)
{
        _cleanup_(X509_freep) X509 *x = make_cert(key, o);
        _cleanup_(BIO_freep) BIO *b = BIO_new_file(path_in(name), "w");
        CHECK(b && PEM_write_bio_X509(b, x));
}

/* The key as PKCS#8 PEM; with pass, encrypted (AES-256-CBC); traditional: the old "RSA PRIVATE KEY" form. */
static void write_key(const char *name, EVP_PKEY *key, const char *pass, bool traditional)
{
        _cleanup_(BIO_freep) BIO *b = BIO_new_file(path_in(name), "w");
        CHECK(b != NULL);
        const EVP_CIPHER *c = pass ? EVP_aes_256_cbc() : NULL;
        int pl = pass ? (int)strlen(pass) : 0;
        if (traditional)
                CHECK(PEM_write_bio_PrivateKey_traditional(b, key, c, (unsigned char *)pass, pl, NULL, NULL));
        else
                CHECK(PEM_write_bio_PKCS8PrivateKey(b, key, c, (char *)pass, pl, NULL, NULL));
}

/* A good key (a.key) and certificate (a.crt, keyUsage digitalSignature, codeSigning). */
static const cert_opts good = {.key_usage = "critical,digitalSignature", .ext_key_usage = "codeSigning"};

/*
 * Load key and cert (names in the scratch folder; key NULL: the certificate
 * alone, with mk_sb_cert_load): success when code is 0, else -code with
 * exactly the message fmt, ... (the paths it names, from path_in); *ret is
 * never set on a failure.
 */
static void expect_load(const char *key, const char *cert, int code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void expect_load(const char *key, const char *cert, int code, const char *fmt, ...)
{
        char want[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(want, sizeof(want), fmt, ap);
        va_end(ap);
        mk_error err = {0};
        /* a sentinel: must stay as it is on failure */
        mk_sb_signer *s = (mk_sb_signer *)&err;
        X509 *x = (X509 *)&err;
        int r = key ? mk_sb_signer_load(path_in(key), path_in(cert), T_2026, &s, &err)
                    : mk_sb_cert_load(path_in(cert), &x, &err);
        if (code) {
                expect_err(r, &err, code, want);
                CHECK(s == (mk_sb_signer *)&err && x == (X509 *)&err);
                return;
        }
        CHECK(r == 0);
        CHECK_STREQ(err.msg, "");
        if (r == 0 && !key)
                X509_free(x);
        if (r == 0 && key) {
                CHECK(s->key && s->cert);
                CHECK_STREQ(s->key_path, path_in(key));
                CHECK_STREQ(s->cert_path, path_in(cert));
                mk_sb_signer_free(s);
        }
}

static void test_good_pairs(void)
{
        write_key("a.key", rsa_key, NULL, false);
        write_cert("a.crt", rsa_key, &good);
        expect_load("a.key", "a.crt", 0, "%s", "");
        /* no keyUsage, no extendedKeyUsage: nothing restricts the certificate */
        write_cert("plain.crt", rsa_key, &(cert_opts){0});
        expect_load("a.key", "plain.crt", 0, "%s", "");
        /* the old RSA PEM form and an EC P-256 key */
        write_key("trad.key", rsa_key, NULL, true);
        expect_load("trad.key", "a.crt", 0, "%s", "");
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ec = EVP_EC_gen("P-256");
        write_key("ec.key", ec, NULL, false);
        write_cert("ec.crt", ec, &good);
        expect_load("ec.key", "ec.crt", 0, "%s", "");
        /* valid up to and with its notAfter */
        write_cert("edge.crt", rsa_key, &(cert_opts){.not_after = T_2026});
        expect_load("a.key", "edge.crt", 0, "%s", "");
        mk_sb_signer_free(NULL);
        expect_load(NULL, "a.crt", 0, "%s", "");
}

static void test_mismatch(void)
{
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *other = EVP_EC_gen("P-256");
        write_key("a.key", rsa_key, NULL, false);
        write_cert("other.crt", other, &good);
        expect_load("a.key", "other.crt", EKEYREJECTED,
                    "%s: certificate does not match the key %s (give the certificate made with this key)",
                    path_in("other.crt"), path_in("a.key"));
}

static void test_dates(void)
{
        write_key("a.key", rsa_key, NULL, false);
        write_cert("old.crt", rsa_key, &(cert_opts){.not_after = T_2025});
        expect_load("a.key", "old.crt", EKEYREJECTED,
                    "%s: certificate expired on 2025-01-01 (make a new one: mkimage sb-keygen DIR)",
                    path_in("old.crt"));
        write_cert("new.crt", rsa_key, &(cert_opts){.not_before = T_2027});
        expect_load("a.key", "new.crt", EKEYREJECTED,
                    "%s: certificate is not valid before 2027-01-01 (check the clock and SOURCE_DATE_EPOCH, or give "
                    "a certificate valid now)",
                    path_in("new.crt"));
}

#define LIKE_DB "(give a code-signing certificate, like the db.crt of mkimage sb-keygen DIR)"

static void test_not_for_signing(void)
{
        write_key("a.key", rsa_key, NULL, false);
        write_cert("ca.crt", rsa_key, &(cert_opts){.key_usage = "critical,keyCertSign"});
        expect_load("a.key", "ca.crt", EKEYREJECTED,
                    "%s: certificate is not for signing: its keyUsage lacks digitalSignature " LIKE_DB,
                    path_in("ca.crt"));
        write_cert("tls.crt", rsa_key, &(cert_opts){.key_usage = "digitalSignature", .ext_key_usage = "serverAuth"});
        expect_load("a.key", "tls.crt", EKEYREJECTED,
                    "%s: certificate is not for signing code: its extendedKeyUsage lacks codeSigning " LIKE_DB,
                    path_in("tls.crt"));
}

#define NO_FILE "%s: no such file (give the %s; a development set: mkimage sb-keygen DIR)"

static void test_missing(void)
{
        write_key("a.key", rsa_key, NULL, false);
        write_cert("a.crt", rsa_key, &good);
        expect_load("nope.key", "a.crt", ENOENT, NO_FILE, path_in("nope.key"), "private key");
        expect_load("a.key", "nope.crt", ENOENT, NO_FILE, path_in("nope.crt"), "certificate");
        expect_load(NULL, "nope.crt", ENOENT, NO_FILE, path_in("nope.crt"), "certificate");
}

#define NOT_PEM_KEY                                                                                                    \
        "%s: not a PEM private key, no valid '-----BEGIN PRIVATE KEY-----' block (convert a DER one: openssl pkey "    \
        "-inform DER -in %s -out KEY.key)"
#define NOT_PEM_CERT                                                                                                   \
        "%s: not a PEM certificate, no valid '-----BEGIN CERTIFICATE-----' block (convert a DER one: openssl x509 "    \
        "-inform DER -in %s -out CERT.crt)"

static void test_not_pem(void)
{
        write_key("a.key", rsa_key, NULL, false);
        write_cert("a.crt", rsa_key, &good);
        spit(path_in("junk"), "hello\n", 0600);
        expect_load("junk", "a.crt", EINVAL, NOT_PEM_KEY, path_in("junk"), path_in("junk"));
        expect_load("a.key", "junk", EINVAL, NOT_PEM_CERT, path_in("junk"), path_in("junk"));
        /* the two swapped */
        expect_load("a.crt", "a.key", EINVAL, "%s: holds a certificate, not a private key (give the key, NAME.key)",
                    path_in("a.crt"));
        expect_load(NULL, "a.key", EINVAL,
                    "%s: holds a private key, not a certificate (give the certificate, NAME.crt)", path_in("a.key"));
        /* a truncated certificate */
        _cleanup_free_ char *text = slurp(path_in("a.crt"));
        text[strlen(text) / 2] = '\0';
        spit(path_in("half.crt"), text, 0644);
        expect_load("a.key", "half.crt", EINVAL, NOT_PEM_CERT, path_in("half.crt"), path_in("half.crt"));
}

#define ENCRYPTED                                                                                                      \
        "%s: the private key is encrypted and mkimage never asks for a passphrase (decrypt it: openssl pkey -in %s "   \
        "-out KEY.key)"

static void test_encrypted(void)
{
        write_cert("a.crt", rsa_key, &good);
        write_key("enc.key", rsa_key, "secret", false);
        expect_load("enc.key", "a.crt", EINVAL, ENCRYPTED, path_in("enc.key"), path_in("enc.key"));
        write_key("enc-trad.key", rsa_key, "secret", true);
        expect_load("enc-trad.key", "a.crt", EINVAL, ENCRYPTED, path_in("enc-trad.key"), path_in("enc-trad.key"));
}

/* Keys of other kinds and sizes are refused before the pair is compared. */
static void test_key_kinds(void)
{
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *weak = EVP_RSA_gen(1024);
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *p521 = EVP_EC_gen("P-521");
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        const struct {
                EVP_PKEY *key;
                const char *file, *why;
        } cases[] = {
                {weak, "weak.key",
                 "a 1024-bit RSA key: too weak for Secure Boot (give an RSA key of 2048 to 4096 bits: mkimage "
                 "sb-keygen DIR makes 2048-bit ones)"},
                {p521, "p521.key",
                 "an EC key on the curve 'secp521r1': Secure Boot takes P-256 or P-384 (give an RSA 2048 key, or EC "
                 "on one of those curves)"},
                {ed, "ed.key", "a key of type ED25519: Secure Boot takes RSA or EC (give an RSA 2048 key)"},
        };
        write_cert("a.crt", rsa_key, &good);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                write_key(cases[i].file, cases[i].key, NULL, false);
                expect_load(cases[i].file, "a.crt", EKEYREJECTED, "%s: %s", path_in(cases[i].file), cases[i].why);
        }
}

/* mk_sb_keygen's db pair is a signer; a second run into the same folder is refused and changes nothing. */
static void test_keygen(void)
{
        mk_error err = {0};
        CHECK(mk_sb_keygen(path_in("ks"), "unit", &err) == 0);
        CHECK_STREQ(err.msg, "");
        _cleanup_(mk_sb_signer_freep) mk_sb_signer *s = NULL;
        CHECK(mk_sb_signer_load(path_in("ks/db.key"), path_in("ks/db.crt"), (int64_t)time(NULL), &s, &err) == 0);
        CHECK_STREQ(err.msg, "");
        _cleanup_free_ char *before = slurp(path_in("ks/db.key"));
        char want[512];
        snprintf(want, sizeof(want), "%s/PK.key exists: sb-keygen never overwrites keys (choose an empty DIR)",
                 path_in("ks"));
        mk_error err2 = {0};
        expect_err(mk_sb_keygen(path_in("ks"), "unit", &err2), &err2, EEXIST, want);
        _cleanup_free_ char *after = slurp(path_in("ks/db.key"));
        CHECK(before && after && !strcmp(before, after));
        /* a CN prefix that does not fit, and nothing made */
        char long_cn[80];
        memset(long_cn, 'x', 61);
        long_cn[61] = '\0';
        mk_error err3 = {0};
        expect_err(mk_sb_keygen(path_in("ks2"), long_cn, &err3), &err3, EINVAL,
                   "sb-keygen: the CN prefix is 61 bytes long: at most 60 fit a certificate's CN (give a shorter "
                   "--cn)");
        CHECK(access(path_in("ks2"), F_OK) < 0 && errno == ENOENT);
}

int main(void)
{
        check_suite_ = "sbkey";
        if (fixture_start() < 0)
                return 1;
        rsa_key = EVP_RSA_gen(2048);
        CHECK(rsa_key != NULL);
        RUN(test_good_pairs);
        RUN(test_mismatch);
        RUN(test_dates);
        RUN(test_not_for_signing);
        RUN(test_missing);
        RUN(test_not_pem);
        RUN(test_encrypted);
        RUN(test_key_kinds);
        RUN(test_keygen);
        EVP_PKEY_free(rsa_key);
        fixture_end();
        return check_exit();
}
