/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: minisign secret keys (mk_seckey_parse). An encrypted key
 * ("Sc") is decrypted with the passphrase "fuzz" only when its scrypt limits
 * are tiny (a few ms) or above minisign's, which mk_seckey_parse refuses
 * before any work; in between it gets no passphrase (ENOKEY) so that no
 * input costs the seconds a real scrypt takes. A key that parses must sign
 * and verify.
 */
#include "fuzz.h"
#include "signing/minisign/minisign-internal.h"

#define CHEAP_OPSLIMIT 65536u
#define CHEAP_MEMLIMIT (16u << 20)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        mk_error err = {0};
        if (mk_ms_init(&err) < 0)
                fuzz_die("%s", err.msg);
        return 0;
}

static uint64_t le64(const uint8_t b[8])
{
        uint64_t v = 0;
        for (size_t i = 8; i-- > 0;)
                v = (v << 8) | b[i];
        return v;
}

/* The passphrase to give: NULL when the scrypt this input asks for is costly. */
static const char *pick_passphrase(const uint8_t *data, size_t size)
{
        const uint8_t *nl = memchr(data, '\n', size);
        if (!nl)
                return NULL;
        const char *line = (const char *)nl + 1;
        size_t rest = size - (size_t)(nl + 1 - data);
        const char *end = memchr(line, '\n', rest);
        size_t len = end ? (size_t)(end - line) : rest;
        struct ms_sec_raw raw;
        size_t bin_len = 0;
        if (sodium_base642bin((unsigned char *)&raw, sizeof(raw), line, len, NULL, &bin_len, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            bin_len != sizeof(raw) || memcmp(raw.kdf_alg, MS_KDF_SCRYPT, 2) != 0)
                return "fuzz";
        uint64_t ops = le64(raw.kdf_opslimit_le), mem = le64(raw.kdf_memlimit_le);
        if (ops <= CHEAP_OPSLIMIT && mem <= CHEAP_MEMLIMIT)
                return "fuzz";
        if (ops > crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_SENSITIVE ||
            mem > crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_SENSITIVE)
                return "fuzz"; /* refused before scrypt runs */
        return NULL;
}

static void check_key(const mk_seckey *k)
{
        mk_pubkey *pub = NULL;
        char *sig = NULL;
        mk_verified v = {0};
        mk_error err = {0};
        static const char msg[] = "fuzz";
        if (mk_seckey_public(k, &pub, &err) < 0)
                fuzz_die("mk_seckey_public: %s", err.msg);
        if (memcmp(mk_pubkey_id(pub), mk_seckey_id(k), MK_KEYID_BYTES) ||
            strcmp(mk_pubkey_id_str(pub), mk_seckey_id_str(k)))
                fuzz_die("public half has another key id");
        if (mk_sign_buffer(k, "msg", msg, sizeof(msg), "fuzz", &sig, &err) < 0)
                fuzz_die("mk_sign_buffer with a parsed key: %s", err.msg);
        mk_verify_result res =
                mk_verify_buffer_with_key(pub, "msg", msg, sizeof(msg), "msg.minisig", sig, strlen(sig), &v, &err);
        if (res != MK_VERIFY_OK)
                fuzz_die("a signature by a parsed key does not verify (%s): %s", mk_verify_result_str(res), err.msg);
        mk_verified_done(&v);
        free(sig);
        mk_pubkey_free(pub);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *pass = pick_passphrase(data, size);
        mk_seckey *k = NULL;
        mk_error err = {0};
        int r = mk_seckey_parse("fuzz.key", data, size, pass, &k, &err);
        fuzz_report(pass ? "seckey (passphrase)" : "seckey", r, &err);
        if (r < 0) {
                if (k)
                        fuzz_die("mk_seckey_parse failed but wrote *ret_key");
                if (!err.msg[0])
                        fuzz_die("mk_seckey_parse returned %d without a message", r);
                return 0;
        }
        check_key(k);
        mk_seckey_free(k);
        return 0;
}
