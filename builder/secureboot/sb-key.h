/* SPDX-License-Identifier: MIT */
/*
 * Secure Boot signing keys: a db key and its X.509 certificate (PEM), loaded
 * and checked before anything is written, and `mkimage sb-keygen DIR`, a
 * development PK/KEK/db set with the .auth files systemd-boot enrols.
 * docs/secure-boot.md.
 */
#ifndef MK_SB_KEY_H
#define MK_SB_KEY_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdint.h>

#include "signing/base/error.h"
#include "signing/base/macro.h"

typedef struct mk_sb_signer {
        EVP_PKEY *key; /* the private key (RSA 2048..4096 or EC P-256/P-384) */
        X509 *cert;    /* its certificate */
        char *key_path, *cert_path;
} mk_sb_signer;

/*
 * Load the PEM private key key_path and the PEM certificate cert_path and
 * check them: the certificate holds the key's public half, it is valid at
 * the time now (not before notBefore, not after notAfter), and it may sign
 * code (a keyUsage extension, when present, has digitalSignature; an
 * extendedKeyUsage, when present, has codeSigning). One error each, naming
 * the file and the fix: -ENOENT (missing), -EINVAL (not a PEM key or
 * certificate, an encrypted key), -EKEYREJECTED (mismatch, expired, not yet
 * valid, not for signing, a key of another kind or size than the struct's
 * comment names). *ret is freed with mk_sb_signer_free (which takes NULL);
 * it is never set on an error.
 */
int mk_sb_signer_load(const char *key_path, const char *cert_path, int64_t now, mk_sb_signer **ret, mk_error *err)
        __attribute__((warn_unused_result));
void mk_sb_signer_free(mk_sb_signer *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(mk_sb_signer *, mk_sb_signer_free)

/*
 * A certificate (PEM) alone, for `mkimage verify --sb-cert`: -ENOENT,
 * -EINVAL. Free with X509_free.
 */
int mk_sb_cert_load(const char *cert_path, X509 **ret, mk_error *err) __attribute__((warn_unused_result));

/*
 * `mkimage sb-keygen DIR`: DIR (created 0700 if missing; refused when it
 * already holds any of the files) gets PK, KEK and db, each as NAME.key
 * (0600), NAME.crt, NAME.esl (EFI signature list) and NAME.auth (signed for
 * enrolment: PK and KEK by PK, db by KEK), plus guid.txt (the owner GUID).
 * RSA 2048, SHA-256, valid 10 years from now, CN "<cn_prefix> PK" etc.
 * Written to temporary names and renamed in place: on failure nothing is left.
 */
int mk_sb_keygen(const char *dir, const char *cn_prefix, mk_error *err) __attribute__((warn_unused_result));

#endif
