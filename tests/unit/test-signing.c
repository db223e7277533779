/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of signing/minisign/: key ids, round trips, every parser
 * refusal with its exact message, trusted comments (secret keys:
 * test-seckey.c). Interoperability is
 * checked against the real minisign tool (on PATH), never a mock.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "signing-fixture.h"
#include "signing/minisign/minisign.h"

static void test_keyid_format(void)
{
        static const uint8_t id[8] = {0xbe, 0x56, 0x47, 0x95, 0x8c, 0xdf, 0x5f, 0x31};
        char s[MK_KEYID_STR_SIZE];
        mk_keyid_format(id, s);
        CHECK_STREQ(s, "315FDF8C954756BE");

        mk_error err = {0};
        _cleanup_pubkey_ mk_pubkey *k = NULL;
        CHECK(mk_pubkey_parse("k.pub", PUB_OK, strlen(PUB_OK), &k, &err) == 0);
        CHECK(k && !strcmp(mk_pubkey_id_str(k), "299F6E737A08244B"));
        CHECK(k && mk_pubkey_id(k)[0] == 0x4b && mk_pubkey_id(k)[7] == 0x29);
        CHECK(k && !strcmp(mk_pubkey_origin(k), "k.pub"));

        /* Always 16 digits, leading zeros kept. */
        static const uint8_t one[8] = {0x01};
        mk_keyid_format(one, s);
        CHECK_STREQ(s, "0000000000000001");

        /* minisign writes the id into the comment line as the same number
         * (without leading zeros: "%" PRIX64, so compare numerically). */
        CHECK(sh("cd %s && minisign -G -W -p id.pub -s id.key >/dev/null 2>&1", dir) == 0);
        _cleanup_pubkey_ mk_pubkey *m = NULL;
        CHECK(mk_pubkey_load(path_in("id.pub"), &m, &err) == 0);
        _cleanup_free_ char *text = slurp(path_in("id.pub"));
        static const char prefix[] = "untrusted comment: minisign public key ";
        CHECK(text && !strncmp(text, prefix, strlen(prefix)));
        CHECK(m && strlen(mk_pubkey_id_str(m)) == 16);
        CHECK(text && m && strtoull(text + strlen(prefix), NULL, 16) == strtoull(mk_pubkey_id_str(m), NULL, 16));
}

/* ---- round trips -------------------------------------------------------- */

static void test_roundtrip_buffer(void)
{
        mk_error err = {0};
        _cleanup_seckey_ mk_seckey *sk = NULL;
        _cleanup_pubkey_ mk_pubkey *pk = NULL;
        CHECK(mk_seckey_generate(&sk, &err) == 0);
        CHECK(mk_seckey_public(sk, &pk, &err) == 0);
        CHECK(!strcmp(mk_seckey_id_str(sk), mk_pubkey_id_str(pk)));
        CHECK(!memcmp(mk_seckey_id(sk), mk_pubkey_id(pk), MK_KEYID_BYTES));

        static const char data[] = "mkimage-manifest: 1\nmodel: demo\n";
        _cleanup_free_ char *sig = NULL, *sig2 = NULL;
        CHECK(mk_sign_buffer(sk, "out/manifest.yaml", data, strlen(data), NULL, &sig, &err) == 0);
        CHECK(mk_sign_buffer(sk, "out/manifest.yaml", data, strlen(data), NULL, &sig2, &err) == 0);
        CHECK(sig && sig2 && !strcmp(sig, sig2)); /* deterministic */
        CHECK(sig && strstr(sig, "\ntrusted comment: timestamp:1767225600\tfile:manifest.yaml\thashed\n"));

        _cleanup_verified_ mk_verified v = {0};
        CHECK(mk_verify_buffer_with_key(pk, "manifest.yaml", data, strlen(data), "manifest.minisig", sig, strlen(sig),
                                        &v, &err) == MK_VERIFY_OK);
        CHECK(v.signer == pk && !v.legacy);
        CHECK_STREQ(v.trusted_comment, "timestamp:1767225600\tfile:manifest.yaml\thashed");

        /* Empty data and a custom comment. */
        _cleanup_free_ char *sig3 = NULL;
        _cleanup_verified_ mk_verified v3 = {0};
        CHECK(mk_sign_buffer(sk, "empty", "", 0, "version 7", &sig3, &err) == 0);
        CHECK(mk_verify_buffer_with_key(pk, "empty", "", 0, "empty.minisig", sig3, strlen(sig3), &v3, &err) ==
              MK_VERIFY_OK);
        CHECK_STREQ(v3.trusted_comment, "version 7");
}

static void test_roundtrip_files_and_minisign(void)
{
        mk_error err = {0};
        _cleanup_seckey_ mk_seckey *sk = NULL;
        CHECK(mk_seckey_generate(&sk, &err) == 0);
        CHECK(mk_keypair_write(sk, path_in("rt"), &err) == 0);
        struct stat st;
        CHECK(stat(path_in("rt.key"), &st) == 0 && (st.st_mode & 07777) == 0600);
        CHECK(stat(path_in("rt.pub"), &st) == 0 && (st.st_mode & 07777) == 0644);

        _cleanup_seckey_ mk_seckey *sk2 = NULL;
        _cleanup_pubkey_ mk_pubkey *pk = NULL;
        CHECK(mk_seckey_load(path_in("rt.key"), &sk2, &err) == 0);
        CHECK(mk_pubkey_load(path_in("rt.pub"), &pk, &err) == 0);
        CHECK(sk2 && pk && !strcmp(mk_seckey_id_str(sk2), mk_pubkey_id_str(pk)));

        spit(path_in("data.bin"), "some data\n", 0644);
        CHECK(mk_sign_file(sk2, path_in("data.bin"), NULL, NULL, &err) == 0);
        CHECK(access(path_in("data.bin.minisig"), F_OK) == 0);
        _cleanup_verified_ mk_verified v = {0};
        CHECK(mk_verify_file_with_key(pk, path_in("data.bin"), NULL, &v, &err) == MK_VERIFY_OK);
        CHECK_STREQ(v.trusted_comment, "timestamp:1767225600\tfile:data.bin\thashed");
        /* The stock tool accepts what we signed, with our public key... */
        CHECK(sh("minisign -Vq -p %s -m %s", path_in("rt.pub"), path_in("data.bin")) == 0);
        /* ...and signs with our secret key what we then verify. */
        CHECK(sh("minisign -S -s %s -m %s -x %s -t 'from minisign' >/dev/null", path_in("rt.key"), path_in("data.bin"),
                 path_in("ms.minisig")) == 0);
        _cleanup_verified_ mk_verified v2 = {0};
        CHECK(mk_verify_file_with_key(pk, path_in("data.bin"), path_in("ms.minisig"), &v2, &err) == MK_VERIFY_OK);
        CHECK_STREQ(v2.trusted_comment, "from minisign");
        if (err.code)
                fprintf(stderr, "%s\n", err.msg);
}

static void test_minisign_keys_and_legacy(void)
{
        mk_error err = {0};
        CHECK(sh("cd %s && minisign -G -W -p m.pub -s m.key >/dev/null 2>&1 && "
                 "printf 'hello' >m.txt && minisign -S -s m.key -m m.txt -t 'ms' >/dev/null && "
                 "minisign -S -l -s m.key -m m.txt -x m.txt.legacy -t 'old' >/dev/null",
                 dir) == 0);
        _cleanup_keyset_ mk_keyset *set = NULL;
        CHECK(mk_keyset_new(&set, &err) == 0);
        CHECK(mk_keyset_add_file(set, path_in("m.pub"), &err) == 0);
        _cleanup_verified_ mk_verified v = {0}, l = {0};
        CHECK(mk_verify_file(set, path_in("m.txt"), NULL, &v, &err) == MK_VERIFY_OK);
        CHECK(!v.legacy && v.trusted_comment && !strcmp(v.trusted_comment, "ms"));
        CHECK(mk_verify_file(set, path_in("m.txt"), path_in("m.txt.legacy"), &l, &err) == MK_VERIFY_OK);
        CHECK(l.legacy && l.trusted_comment && !strcmp(l.trusted_comment, "old"));
        CHECK(l.signer == mk_keyset_find(set, mk_pubkey_id(l.signer)));

        /* A legacy signature over a buffer, and over an empty file. */
        _cleanup_free_ char *legacy = slurp(path_in("m.txt.legacy"));
        _cleanup_verified_ mk_verified b = {0};
        CHECK(mk_verify_buffer(set, "m.txt", "hello", 5, "m.txt.legacy", legacy, strlen(legacy), &b, &err) ==
              MK_VERIFY_OK);
        CHECK(sh("cd %s && : >e.txt && minisign -S -l -s m.key -m e.txt >/dev/null", dir) == 0);
        _cleanup_verified_ mk_verified e = {0};
        CHECK(mk_verify_file(set, path_in("e.txt"), NULL, &e, &err) == MK_VERIFY_OK && e.legacy);

        /* minisign's secret key loads and signs what minisign verifies. */
        _cleanup_seckey_ mk_seckey *sk = NULL;
        CHECK(mk_seckey_load(path_in("m.key"), &sk, &err) == 0);
        CHECK(sk && mk_keyset_find(set, mk_seckey_id(sk)) != NULL);
        CHECK(mk_sign_file(sk, path_in("m.txt"), path_in("ours.minisig"), "ours", &err) == 0);
        CHECK(sh("minisign -Vq -H -p %s -m %s -x %s", path_in("m.pub"), path_in("m.txt"), path_in("ours.minisig")) ==
              0);
}

/* ---- verification refusals ---------------------------------------------- */

typedef struct signed_fixture {
        mk_seckey *sk;
        mk_pubkey *pk;
        char *sig;
} signed_fixture;

static const char DATA[] = "payload";

static void fixture_init(signed_fixture *f)
{
        mk_error err = {0};
        *f = (signed_fixture){0};
        CHECK(mk_seckey_generate(&f->sk, &err) == 0);
        CHECK(mk_seckey_public(f->sk, &f->pk, &err) == 0);
        CHECK(mk_sign_buffer(f->sk, "d", DATA, strlen(DATA), "tc", &f->sig, &err) == 0);
}

static void fixture_done(signed_fixture *f)
{
        mk_seckey_free(f->sk);
        mk_pubkey_free(f->pk);
        free(f->sig);
}

static mk_verify_result verify_text(const signed_fixture *f, const char *data, const char *sig, mk_error *err)
{
        mk_verified v = {.trusted_comment = NULL};
        mk_error_clear(err);
        mk_verify_result r =
                mk_verify_buffer_with_key(f->pk, "d", data, strlen(data), "d.minisig", sig, strlen(sig), &v, err);
        CHECK((r == MK_VERIFY_OK) == (v.trusted_comment != NULL));
        mk_verified_done(&v);
        return r;
}

static void test_verify_tampered(void)
{
        _cleanup_(fixture_done) signed_fixture f;
        fixture_init(&f);
        mk_error err = {0};
        CHECK(verify_text(&f, DATA, f.sig, &err) == MK_VERIFY_OK);

        char msg[512];
        snprintf(msg, sizeof(msg),
                 "d: signature d.minisig by key %s does not match: the file or its signature was "
                 "modified after signing, or secret key is not the signer's public key",
                 mk_pubkey_id_str(f.pk));
        CHECK(verify_text(&f, "paylOad", f.sig, &err) == MK_VERIFY_ERROR_SIGNATURE);
        CHECK(err.code == EKEYREJECTED);
        CHECK_STREQ(err.msg, msg);

        _cleanup_free_ char *bad_sig = flip_line(f.sig, 2, 40);
        CHECK(verify_text(&f, DATA, bad_sig, &err) == MK_VERIFY_ERROR_SIGNATURE);
        CHECK_STREQ(err.msg, msg);

        snprintf(msg, sizeof(msg),
                 "d.minisig: the trusted comment or the global signature (lines 3 and 4) does not "
                 "verify with key %s: they were modified after signing (get an intact copy of the "
                 "signature)",
                 mk_pubkey_id_str(f.pk));
        _cleanup_free_ char *bad_tc = replace(f.sig, "trusted comment: tc", "trusted comment: td");
        CHECK(verify_text(&f, DATA, bad_tc, &err) == MK_VERIFY_ERROR_COMMENT);
        CHECK(err.code == EKEYREJECTED);
        CHECK_STREQ(err.msg, msg);
        _cleanup_free_ char *bad_global = flip_line(f.sig, 4, 3);
        CHECK(verify_text(&f, DATA, bad_global, &err) == MK_VERIFY_ERROR_COMMENT);

        /* A different key id in the signature: untrusted, named. */
        _cleanup_free_ char *other_id = patch_line(f.sig, 2, 2, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
        CHECK(verify_text(&f, DATA, other_id, &err) == MK_VERIFY_ERROR_UNTRUSTED);
        CHECK(err.code == ENOKEY);
        snprintf(msg, sizeof(msg),
                 "d.minisig: signed by key 0807060504030201, which is not a trusted key (trusted: "
                 "%s): verify d with that key's public key, or re-sign it with a trusted key",
                 mk_pubkey_id_str(f.pk));
        CHECK_STREQ(err.msg, msg);

        _cleanup_free_ char *bad_alg = patch_line(f.sig, 2, 0, "EX", 2);
        CHECK(verify_text(&f, DATA, bad_alg, &err) == MK_VERIFY_ERROR_MALFORMED);
        CHECK(err.code == EBADMSG);
        CHECK_STREQ(err.msg, "d.minisig:2: signature algorithm is 'EX', neither 'ED' (prehashed) "
                             "nor 'Ed' (legacy): not a minisign signature (re-sign the file)");

        CHECK_STREQ(mk_verify_result_str(MK_VERIFY_ERROR_COMMENT), "bad-comment");
        CHECK_STREQ(mk_verify_result_str(MK_VERIFY_OK), "ok");
}

static void test_verify_keyset(void)
{
        _cleanup_(fixture_done) signed_fixture a, b;
        fixture_init(&a);
        fixture_init(&b);
        mk_error err = {0};
        _cleanup_keyset_ mk_keyset *set = NULL;
        CHECK(mk_keyset_new(&set, &err) == 0);
        mk_pubkey *ka = NULL, *kb = NULL, *ka2 = NULL;
        CHECK(mk_seckey_public(a.sk, &ka, &err) == 0 && mk_keyset_add(set, ka, &err) == 0);
        CHECK(mk_seckey_public(a.sk, &ka2, &err) == 0 && mk_keyset_add(set, ka2, &err) == 0);
        CHECK(mk_keyset_size(set) == 1); /* the same key twice is one key */

        _cleanup_verified_ mk_verified v = {0};
        CHECK(mk_verify_buffer(set, "d", DATA, strlen(DATA), "d.minisig", b.sig, strlen(b.sig), &v, &err) ==
              MK_VERIFY_ERROR_UNTRUSTED);
        CHECK(v.signer == NULL && v.trusted_comment == NULL); /* untouched on failure */
        CHECK(mk_seckey_public(b.sk, &kb, &err) == 0 && mk_keyset_add(set, kb, &err) == 0);
        mk_error_clear(&err);
        CHECK(mk_verify_buffer(set, "d", DATA, strlen(DATA), "d.minisig", b.sig, strlen(b.sig), &v, &err) ==
              MK_VERIFY_OK);
        CHECK(v.signer == kb);

        /* Same key id, another public key: refused, the key stays the caller's. */
        _cleanup_pubkey_ mk_pubkey *evil = NULL;
        char b64[128];
        uint8_t raw[42] = {'E', 'd'};
        memcpy(raw + 2, mk_pubkey_id(ka), 8);
        sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw), sodium_base64_VARIANT_ORIGINAL);
        CHECK(mk_pubkey_from_base64("evil", b64, &evil, &err) == 0);
        mk_error_clear(&err);
        char msg[300];
        snprintf(msg, sizeof(msg),
                 "evil: key id %s is already trusted with a different public key (from secret "
                 "key): two trusted keys cannot share a key id, remove one",
                 mk_pubkey_id_str(ka));
        expect_err(mk_keyset_add(set, evil, &err), &err, EEXIST, msg);
        CHECK(mk_keyset_size(set) == 2);
}

/* ---- parser refusals ---------------------------------------------------- */

#define PUB_LAYOUT "2 lines: an 'untrusted comment:' line and a base64 line"

static void test_pubkey_malformed(void)
{
        char longline[2100] = "untrusted comment: ";
        memset(longline + strlen(longline), 'x', 2000);
        strcat(longline, "\nRWRLJAh6c26fKV4cYZA0JOLSaMCgCcqE+V0JyR9KCkxAwl8FyOtLXDy1\n");
        _cleanup_free_ char *alg = patch_line(PUB_OK, 2, 0, "Ex", 2);
        _cleanup_free_ char *alg0 = patch_line(PUB_OK, 2, 0, "\0\0", 2);
        _cleanup_free_ char *crlf = replace(PUB_OK, "\n", "\r\n");
        _cleanup_free_ char *noprefix = replace(PUB_OK, "untrusted comment:", "untrusted-comment:");
        _cleanup_free_ char *trunc = replace(PUB_OK, "XDy1\n", "\n");
        _cleanup_free_ char *garbage = replace(PUB_OK, "RWRLJ", "RWRL!");
        _cleanup_free_ char *pad = replace(PUB_OK, "RWRLJ", "RWRL=");
        _cleanup_free_ char *extra = replace(PUB_OK, "Dy1\n", "Dy1\n\n");
        static const char nul[] = "untrusted comment: x\0y\nRW\n";
        const struct {
                const char *text;
                size_t len;
                int code;
                const char *want;
        } cases[] = {
                {"", 0, EBADMSG,
                 "k.pub: is empty: a minisign public key has " PUB_LAYOUT " (regenerate or re-copy it)"},
                {PUB_OK, 56, EBADMSG,
                 "k.pub: has 1 line, a minisign public key has exactly " PUB_LAYOUT
                 ": the file is truncated or not a minisign public key (regenerate or re-copy it)"},
                {extra, 0, EBADMSG,
                 "k.pub: has 3 lines, a minisign public key has exactly " PUB_LAYOUT
                 ": the file is truncated or not a minisign public key (regenerate or re-copy it)"},
                {nul, sizeof(nul) - 1, EBADMSG,
                 "k.pub: contains a NUL byte at offset 20: a minisign public key is text (" PUB_LAYOUT
                 "); check that this is the right file"},
                {crlf, 0, EBADMSG,
                 "k.pub:1: line ends with a carriage return (DOS line ends): convert the file with 'dos2unix k.pub'"},
                {noprefix, 0, EBADMSG,
                 "k.pub:1: does not start with 'untrusted comment:': not a minisign public key (a minisign public key "
                 "has " PUB_LAYOUT ")"},
                {longline, 0, E2BIG,
                 "k.pub:1: line is 2019 bytes long, longer than the 1022 bytes minisign allows: shorten the comment"},
                {trunc, 0, EBADMSG,
                 "k.pub:2: the key is 52 characters of base64, a minisign public key has exactly 56: the file is "
                 "truncated or damaged (regenerate or re-copy it)"},
                {garbage, 0, EBADMSG,
                 "k.pub:2: invalid base64 character '!' at column 5 of the key: the file is damaged (regenerate or "
                 "re-copy it)"},
                {pad, 0, EBADMSG,
                 "k.pub:2: the key is not canonical base64 (misplaced '=' padding or stray bits): the file is damaged "
                 "(regenerate or re-copy it)"},
                {alg, 0, EBADMSG,
                 "k.pub:2: key algorithm is 'Ex', not 'Ed' (Ed25519): not a minisign public key (regenerate or re-copy "
                 "it)"},
                {alg0, 0, EBADMSG,
                 "k.pub:2: key algorithm is 0x0000, not 'Ed' (Ed25519): not a minisign public key (regenerate or "
                 "re-copy it)"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                mk_error err = {0};
                mk_pubkey *k = NULL;
                size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text);
                int r = mk_pubkey_parse("k.pub", cases[i].text, len, &k, &err);
                expect_err(r, &err, cases[i].code, cases[i].want);
                CHECK(k == NULL);
                if (r == 0)
                        fprintf(stderr, "  case %zu parsed\n", i);
        }
        /* The last newline is optional. */
        mk_error err = {0};
        _cleanup_pubkey_ mk_pubkey *k = NULL;
        CHECK(mk_pubkey_parse("k.pub", PUB_OK, strlen(PUB_OK) - 1, &k, &err) == 0);
        mk_pubkey *k2 = NULL;
        expect_err(mk_pubkey_from_base64("-P", "RWRLJAh6c26f", &k2, &err), &err, EBADMSG,
                   "-P:1: the key is 12 characters of base64, a minisign public key has exactly 56: "
                   "the file is truncated or damaged (regenerate or re-copy it)");
}

#define SIG_LAYOUT                                                                                                     \
        "4 lines: 'untrusted comment:', the base64 signature, 'trusted comment:', the base64 "                         \
        "global signature"

static void test_sig_malformed(void)
{
        _cleanup_(fixture_done) signed_fixture f;
        fixture_init(&f);
        mk_error err = {0};
        const char *nl2 = strchr(strchr(f.sig, '\n') + 1, '\n');
        _cleanup_free_ char *two_lines = strndup(f.sig, (size_t)(nl2 - f.sig + 1));
        _cleanup_free_ char *no_tc = replace(f.sig, "trusted comment: tc", "comment: tc");
        /* 64 bytes end in "xx==": non-zero stray bits in the last char. */
        char *g = strstr(f.sig, "==\n");
        _cleanup_free_ char *stray = strdup(f.sig);
        stray[g - f.sig - 1] = (char)(g[-1] + 1); /* A->B, Q->R, g->h, w->x */
        _cleanup_free_ char *short_global = replace(f.sig, "==\n", "\n");
        char *huge = malloc(9000);
        memset(huge, 'x', 8999);
        huge[8999] = '\0';
        memcpy(huge, "trusted comment: ", 17);
        _cleanup_free_ char *huge_tc = replace(f.sig, "trusted comment: tc", huge);
        free(huge);
        const struct {
                const char *text;
                int code;
                const char *want;
        } cases[] = {
                {"", EBADMSG,
                 "d.minisig: is empty: a minisign signature has " SIG_LAYOUT " (regenerate or re-copy it)"},
                {two_lines, EBADMSG,
                 "d.minisig: has 2 lines, a minisign signature has exactly " SIG_LAYOUT
                 ": the file is truncated or not a minisign signature (regenerate or re-copy it)"},
                {no_tc, EBADMSG,
                 "d.minisig:3: does not start with 'trusted comment:': not a minisign signature (a minisign signature "
                 "has " SIG_LAYOUT ")"},
                {stray, EBADMSG,
                 "d.minisig:4: the global signature is not canonical base64 (misplaced '=' padding or stray bits): the "
                 "file is damaged (regenerate or re-copy it)"},
                {short_global, EBADMSG,
                 "d.minisig:4: the global signature is 86 characters of base64, a minisign signature has exactly 88: "
                 "the file is truncated or damaged (regenerate or re-copy it)"},
                {huge_tc, E2BIG,
                 "d.minisig:3: line is 8999 bytes long, longer than the 8190 bytes minisign allows: shorten the "
                 "comment"},
                {PUB_OK, EBADMSG,
                 "d.minisig: has 2 lines, a minisign signature has exactly " SIG_LAYOUT
                 ": the file is truncated or not a minisign signature (regenerate or re-copy it)"},
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                CHECK(verify_text(&f, DATA, cases[i].text, &err) == MK_VERIFY_ERROR_MALFORMED);
                CHECK(err.code == cases[i].code);
                CHECK_STREQ(err.msg, cases[i].want);
        }
}

static void test_files_bounded(void)
{
        mk_error err = {0};
        int fd = open(path_in("huge"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        CHECK(fd >= 0 && ftruncate(fd, 1LL << 30) == 0); /* 1 GiB, sparse, no newline */
        close(fd);
        double t0 = now();
        mk_pubkey *k = NULL;
        mk_seckey *s = NULL;
        char want[512];
        snprintf(want, sizeof(want),
                 "%s: is 1073741824 bytes, too large for a minisign public key (at most 4096 "
                 "bytes): check that this is the right file",
                 path_in("huge"));
        expect_err(mk_pubkey_load(path_in("huge"), &k, &err), &err, E2BIG, want);
        mk_error_clear(&err);
        CHECK(mk_seckey_load(path_in("huge"), &s, &err) == -E2BIG);
        mk_error_clear(&err);
        spit(path_in("small"), "x", 0644);
        mk_verified v = {0};
        CHECK(mk_verify_file_with_key(NULL, path_in("small"), path_in("huge"), &v, &err) == MK_VERIFY_ERROR_MALFORMED);
        CHECK(err.code == E2BIG && strstr(err.msg, "too large for a minisign signature (at most 16384"));
        CHECK(now() - t0 < 1.0);
        unlink(path_in("huge"));

        /* A device that never ends is cut off at the bound. */
        mk_error_clear(&err);
        expect_err(mk_pubkey_load("/dev/zero", &k, &err), &err, E2BIG,
                   "/dev/zero: is larger than a minisign public key can be (at most 4096 bytes): "
                   "check that this is the right file");
        mk_error_clear(&err);
        snprintf(want, sizeof(want),
                 "%s: cannot open the minisign public key: No such file or directory (check the path)",
                 path_in("missing.pub"));
        expect_err(mk_pubkey_load(path_in("missing.pub"), &k, &err), &err, ENOENT, want);
        mk_error_clear(&err);
        snprintf(want, sizeof(want), "%s: is a directory, not a minisign public key: give the file's path", dir);
        expect_err(mk_pubkey_load(dir, &k, &err), &err, EISDIR, want);
        mk_error_clear(&err);
        CHECK(mk_verify_file_with_key(NULL, path_in("missing"), path_in("missing.minisig"), &v, &err) ==
              MK_VERIFY_ERROR_IO);
        CHECK(err.code == ENOENT);
}

/* ---- secret keys -------------------------------------------------------- */

static void test_trusted_comment_rules(void)
{
        mk_error err = {0};
        _cleanup_seckey_ mk_seckey *sk = NULL;
        CHECK(mk_seckey_generate(&sk, &err) == 0);
        char *sig = NULL;
        expect_err(mk_sign_buffer(sk, "f", "x", 1, "two\nlines", &sig, &err), &err, EINVAL,
                   "f: the trusted comment contains a line break: it must be one line, remove the "
                   "newline");
        char *big = malloc(MK_TRUSTED_COMMENT_MAX + 2);
        memset(big, 'c', MK_TRUSTED_COMMENT_MAX + 1);
        big[MK_TRUSTED_COMMENT_MAX + 1] = '\0';
        mk_error_clear(&err);
        expect_err(mk_sign_buffer(sk, "f", "x", 1, big, &sig, &err), &err, E2BIG,
                   "f: the trusted comment is 8174 bytes, longer than the 8173 bytes minisign "
                   "allows: shorten it");
        big[MK_TRUSTED_COMMENT_MAX] = '\0'; /* the longest allowed verifies */
        CHECK(mk_sign_buffer(sk, "f", "x", 1, big, &sig, &err) == 0);
        _cleanup_pubkey_ mk_pubkey *pk = NULL;
        CHECK(mk_seckey_public(sk, &pk, &err) == 0);
        _cleanup_verified_ mk_verified v = {0};
        CHECK(mk_verify_buffer_with_key(pk, "f", "x", 1, "f.minisig", sig, strlen(sig), &v, &err) == MK_VERIFY_OK);
        free(sig);
        free(big);

        setenv("SOURCE_DATE_EPOCH", "12abc", 1);
        mk_error_clear(&err);
        char *c = NULL;
        expect_err(mk_default_trusted_comment("a/b/c.img", &c, &err), &err, EINVAL,
                   "SOURCE_DATE_EPOCH='12abc' is not a number of seconds since 1970 from 0 to "
                   "18446744073709551615: set it to a decimal Unix time (e.g. $(git log -1 --format=%ct)) or "
                   "unset it");
        unsetenv("SOURCE_DATE_EPOCH");
        CHECK(mk_default_trusted_comment("a/b/c.img", &c, &err) == 0);
        CHECK_STREQ(c, "timestamp:0\tfile:c.img\thashed");
        free(c);
        setenv("SOURCE_DATE_EPOCH", "1767225600", 1);
}

int main(void)
{
        check_suite_ = "signing";
        if (fixture_start() < 0)
                return 1;
        RUN(test_keyid_format);
        RUN(test_roundtrip_buffer);
        RUN(test_roundtrip_files_and_minisign);
        RUN(test_minisign_keys_and_legacy);
        RUN(test_verify_tampered);
        RUN(test_verify_keyset);
        RUN(test_pubkey_malformed);
        RUN(test_sig_malformed);
        RUN(test_files_bounded);
        RUN(test_trusted_comment_rules);
        fixture_end();
        return check_exit();
}
