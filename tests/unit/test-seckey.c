/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of minisign secret keys (signing/minisign/minisign-seckey.c):
 * every refusal with its exact message, the file mode and no overwrite,
 * encrypted keys (scrypt limits, the passphrase), checked against the real
 * minisign tool.
 */
#include <sodium.h>

#include "check.h"
#include "signing-fixture.h"
#include "signing/minisign/minisign.h"

/* An unencrypted key text made by keygen, read back. */
static char *plain_key_text(const char *prefix)
{
        mk_error err = {0};
        _cleanup_seckey_ mk_seckey *sk = NULL;
        CHECK(mk_seckey_generate(&sk, &err) == 0);
        CHECK(mk_keypair_write(sk, path_in(prefix), &err) == 0);
        char name[64];
        snprintf(name, sizeof(name), "%s.key", prefix);
        return slurp(path_in(name));
}

static void set_checksum(uint8_t *bin, size_t len, void *ctx)
{
        CHECK(len == 158);
        crypto_generichash_state st;
        crypto_generichash_init(&st, NULL, 0, 32);
        crypto_generichash_update(&st, bin, 2);           /* sig_alg */
        crypto_generichash_update(&st, bin + 54, 8 + 64); /* key id, sk */
        crypto_generichash_final(&st, bin + 126, 32);
        if (ctx)
                bin[126] ^= 0xff; /* a wrong checksum */
}

typedef struct enc_params {
        const char *pass;
        uint64_t ops, mem;
} enc_params;

/* Encrypt as minisign does ("Sc"), with chosen limits: checksum, then XOR
 * key id | sk | chk with scrypt(pass, salt). */
static void encrypt_key(uint8_t *bin, size_t len, void *ctx)
{
        const enc_params *p = ctx;
        set_checksum(bin, len, NULL);
        memcpy(bin + 2, "Sc", 2);
        randombytes_buf(bin + 6, 32);
        for (int i = 0; i < 8; i++) {
                bin[38 + i] = (uint8_t)(p->ops >> (8 * i));
                bin[46 + i] = (uint8_t)(p->mem >> (8 * i));
        }
        uint8_t stream[104] = {0};
        if (p->ops <= crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_SENSITIVE)
                CHECK(crypto_pwhash_scryptsalsa208sha256(stream, sizeof(stream), p->pass, strlen(p->pass), bin + 6,
                                                         p->ops, (size_t)p->mem) == 0);
        for (size_t i = 0; i < sizeof(stream); i++)
                bin[54 + i] ^= stream[i];
}

#define SEC_PREFIX "k.key:2: "

static void test_seckey_malformed(void)
{
        _cleanup_free_ char *ok = plain_key_text("sm");
        _cleanup_free_ char *alg = patch_line(ok, 2, 0, "ED", 2);
        _cleanup_free_ char *kdf = patch_line(ok, 2, 2, "Xy", 2);
        _cleanup_free_ char *chk_alg = patch_line(ok, 2, 4, "B3", 2);
        _cleanup_free_ char *bad_chk = edit_line(ok, 2, set_checksum, "bad");
        _cleanup_free_ char *bad_pk = flip_line(ok, 2, 54 + 8 + 40);
        _cleanup_free_ char *trunc = replace(ok, "AAAA=\n", "=\n");
        const struct {
                const char *text;
                const char *want;
        } cases[] = {
                {alg, SEC_PREFIX
                 "key algorithm is 'ED', not 'Ed' (Ed25519): not a minisign secret key (regenerate or re-copy it)"},
                {kdf, SEC_PREFIX
                 "key encryption is 'Xy', neither 'Sc' (scrypt) nor 0x0000 (unencrypted): not a minisign secret key"},
                {chk_alg, SEC_PREFIX "checksum algorithm is 'B3', not 'B2' (BLAKE2b): not a minisign secret key "
                                     "(regenerate or re-copy it)"},
                {bad_chk, SEC_PREFIX "the key's checksum does not match its contents: the secret key is damaged "
                                     "(restore it from a backup)"},
                {bad_pk, SEC_PREFIX "the public half of the secret key does not match its seed: the key is damaged "
                                    "(restore it from a backup)"},
                {trunc, SEC_PREFIX "the key is 208 characters of base64, a minisign secret key has exactly 212: the "
                                   "file is truncated or damaged (regenerate or re-copy it)"},
                {PUB_OK, SEC_PREFIX "the key is 56 characters of base64, a minisign secret key has exactly 212: the "
                                    "file is truncated or damaged (regenerate or re-copy it)"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                mk_error err = {0};
                mk_seckey *k = NULL;
                expect_err(mk_seckey_parse("k.key", cases[i].text, strlen(cases[i].text), NULL, &k, &err), &err,
                           EBADMSG, cases[i].want);
                CHECK(k == NULL);
        }
        /* An unencrypted key that carries its real checksum is fine too. */
        _cleanup_free_ char *with_chk = edit_line(ok, 2, set_checksum, NULL);
        mk_error err = {0};
        _cleanup_seckey_ mk_seckey *k = NULL;
        CHECK(mk_seckey_parse("k.key", with_chk, strlen(with_chk), NULL, &k, &err) == 0);
}

static void test_seckey_mode_and_overwrite(void)
{
        _cleanup_free_ char *ok = plain_key_text("mode");
        mk_error err = {0};
        mk_seckey *k = NULL;
        CHECK(chmod(path_in("mode.key"), 0644) == 0);
        char want[512];
        snprintf(want, sizeof(want), "%s: secret key is accessible by group or others (mode 0644): run 'chmod 600 %s'",
                 path_in("mode.key"), path_in("mode.key"));
        expect_err(mk_seckey_load(path_in("mode.key"), &k, &err), &err, EPERM, want);
        CHECK(chmod(path_in("mode.key"), 0640) == 0);
        mk_error_clear(&err);
        CHECK(mk_seckey_load(path_in("mode.key"), &k, &err) == -EPERM);

        /* keygen never overwrites, and leaves no half pair behind. */
        _cleanup_seckey_ mk_seckey *sk = NULL;
        CHECK(mk_seckey_generate(&sk, &err) == 0);
        mk_error_clear(&err);
        snprintf(want, sizeof(want),
                 "%s: already exists: keygen never overwrites a key, remove it or choose another PREFIX",
                 path_in("mode.key"));
        expect_err(mk_keypair_write(sk, path_in("mode"), &err), &err, EEXIST, want);
        _cleanup_free_ char *still = slurp(path_in("mode.key"));
        CHECK(still && !strcmp(still, ok));
        spit(path_in("half.pub"), "x", 0644);
        mk_error_clear(&err);
        CHECK(mk_keypair_write(sk, path_in("half"), &err) == -EEXIST);
        CHECK(access(path_in("half.key"), F_OK) != 0);
        CHECK(strstr(err.msg, "half.pub: already exists") != NULL);
}

static void test_encrypted_key_small_limits(void)
{
        _cleanup_free_ char *ok = plain_key_text("small");
        enc_params p = {"right", crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_INTERACTIVE};
        _cleanup_free_ char *enc = edit_line(ok, 2, encrypt_key, &p);
        mk_error err = {0};
        _cleanup_seckey_ mk_seckey *k = NULL;
        CHECK(mk_seckey_parse("k.key", enc, strlen(enc), "right", &k, &err) == 0);
        _cleanup_seckey_ mk_seckey *plain = NULL;
        CHECK(mk_seckey_parse("k.key", ok, strlen(ok), NULL, &plain, &err) == 0);
        CHECK(k && plain && !strcmp(mk_seckey_id_str(k), mk_seckey_id_str(plain)));

        mk_seckey *none = NULL;
        expect_err(mk_seckey_parse("k.key", enc, strlen(enc), "wrong", &none, &err), &err, EKEYREJECTED,
                   "k.key: wrong passphrase in MKIMAGE_KEY_PASSPHRASE: the key's checksum does not "
                   "match after decryption (set the passphrase the key was created with; or the "
                   "key file is damaged)");
        mk_error_clear(&err);
        expect_err(mk_seckey_parse("k.key", enc, strlen(enc), NULL, &none, &err), &err, ENOKEY,
                   "k.key: secret key is encrypted: set MKIMAGE_KEY_PASSPHRASE to its passphrase "
                   "(mkimage never prompts), or use an unencrypted key ('mkimage keygen' or "
                   "'minisign -G -W')");
        enc_params greedy = {"x", crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_SENSITIVE + 1,
                             crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_INTERACTIVE};
        _cleanup_free_ char *slow = edit_line(ok, 2, encrypt_key, &greedy);
        mk_error_clear(&err);
        expect_err(mk_seckey_parse("k.key", slow, strlen(slow), "x", &none, &err), &err, E2BIG,
                   "k.key:2: scrypt limits (opslimit 33554433, memlimit 16777216) exceed "
                   "minisign's (33554432, 1073741824): not a key minisign wrote; re-encrypt it with "
                   "'minisign -C'");
        CHECK(none == NULL);
}

static void test_encrypted_minisign_key(void)
{
        /* minisign -G reads the password twice from stdin when it is not a tty. */
        CHECK(sh("cd %s && printf 'pass phrase\\npass phrase\\n' | "
                 "minisign -G -p enc.pub -s enc.key >/dev/null 2>&1",
                 dir) == 0);
        mk_error err = {0};
        mk_seckey *k = NULL;
        unsetenv(MK_KEY_PASSPHRASE_ENV);
        CHECK(mk_seckey_load(path_in("enc.key"), &k, &err) == -ENOKEY);
        setenv(MK_KEY_PASSPHRASE_ENV, "pass phrase", 1);
        mk_error_clear(&err);
        CHECK(mk_seckey_load(path_in("enc.key"), &k, &err) == 0);
        unsetenv(MK_KEY_PASSPHRASE_ENV);
        _cleanup_pubkey_ mk_pubkey *pk = NULL;
        CHECK(mk_pubkey_load(path_in("enc.pub"), &pk, &err) == 0);
        CHECK(k && pk && !strcmp(mk_seckey_id_str(k), mk_pubkey_id_str(pk)));
        spit(path_in("enc.txt"), "signed with an encrypted key", 0644);
        CHECK(k && mk_sign_file(k, path_in("enc.txt"), NULL, NULL, &err) == 0);
        CHECK(sh("minisign -Vq -p %s -m %s", path_in("enc.pub"), path_in("enc.txt")) == 0);
        mk_seckey_free(k);
}

/* ---- trusted comments --------------------------------------------------- */
int main(void)
{
        check_suite_ = "seckey";
        if (fixture_start() < 0)
                return 1;
        RUN(test_seckey_malformed);
        RUN(test_seckey_mode_and_overwrite);
        RUN(test_encrypted_key_small_limits);
        RUN(test_encrypted_minisign_key);
        fixture_end();
        return check_exit();
}
