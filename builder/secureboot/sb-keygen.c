/* SPDX-License-Identifier: MIT */
/*
 * `mkimage sb-keygen DIR`: the keys and certificates with libcrypto, the EFI
 * signature lists and the signed enrolment files with Debian's efitools
 * (cert-to-efi-sig-list, sign-efi-sig-list) run as child processes.
 */
#include "builder/secureboot/sb-key.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "builder/esp/subprocess.h"
#include "signing/base/fileio.h"
#include "signing/base/tmpfiles.h"

#define N_SETS 3
#define N_FILES (N_SETS * 4 + 1) /* NAME.{key,crt,esl,auth} per set, then guid.txt */
#define VALID_DAYS 3650
#define RSA_BITS 2048
/* A certificate's CN holds at most 64 characters (RFC 5280's ub-common-name); " KEK" is the longest suffix. */
#define CN_PREFIX_MAX 60
/* A signature list or an enrolment file holds one certificate: a few kilobytes. */
#define TOOL_OUTPUT_MAX (64u << 10)
/* A path in the temporary folder: the folder's name and a file name of ours. */
#define PATH_BUF (PATH_MAX + 32)

static const char *const set_names[N_SETS] = {"PK", "KEK", "db"};
static const char *const exts[4] = {"key", "crt", "esl", "auth"};
/* Who signs each set's .auth: PK signs itself and KEK, KEK signs db. */
static const int signed_by[N_SETS] = {0, 0, 1};

DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free)
DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_free)

typedef struct keygen {
        const char *dir;
        char tmp[PATH_MAX]; /* DIR/.sb-keygen-XXXXXX: everything is written here first */
        int dir_fd, tmp_fd;
        bool made_dir;
        int dir_slot, tmp_slot, slots[N_FILES];
        char guid[37];
        EVP_PKEY *keys[N_SETS];
        X509 *certs[N_SETS];
} keygen;

static void file_name(int i, char *buf, size_t size)
{
        if (i == N_FILES - 1)
                snprintf(buf, size, "guid.txt");
        else
                snprintf(buf, size, "%s.%s", set_names[i / 4], exts[i % 4]);
}

/* "TMP/NAME" for the tools' command lines; buf holds PATH_BUF. */
static const char *tmp_path(const keygen *g, int set, int ext, char *buf)
{
        snprintf(buf, PATH_BUF, "%s/%s.%s", g->tmp, set_names[set], exts[ext]);
        return buf;
}

/* OpenSSL's reason for the last failure, for a message. */
static int openssl_fail(mk_error *err, const char *what)
{
        char why[256] = "unknown error";
        unsigned long e = ERR_peek_last_error();
        if (e)
                ERR_error_string_n(e, why, sizeof(why));
        ERR_clear_error();
        return mk_error_set(err, EIO, "sb-keygen: cannot %s: %s", what, why);
}

static int check_prefix(const char *cn_prefix, mk_error *err)
{
        size_t n = strlen(cn_prefix);
        if (n == 0)
                return mk_error_set(err, EINVAL, "sb-keygen: the CN prefix is empty (give one, e.g. --cn 'Example')");
        if (n > CN_PREFIX_MAX)
                return mk_error_set(err, EINVAL,
                                    "sb-keygen: the CN prefix is %zu bytes long: at most %d fit a certificate's CN "
                                    "(give a shorter --cn)",
                                    n, CN_PREFIX_MAX);
        for (const unsigned char *c = (const unsigned char *)cn_prefix; *c; c++)
                if (*c < 0x20 || *c == 0x7f)
                        return mk_error_set(err, EINVAL,
                                            "sb-keygen: the CN prefix holds a control character (give printable "
                                            "text)");
        return 0;
}

/* DIR exists as a folder without any of our files, or is made (0700). */
static int prepare_dir(keygen *g, mk_error *err)
{
        struct stat st;
        if (stat(g->dir, &st) < 0) {
                if (errno != ENOENT)
                        return mk_error_set(err, errno, "%s: %s", g->dir, strerror(errno));
                if (mkdir(g->dir, 0700) < 0) {
                        if (errno == ENOENT)
                                return mk_error_set(err, ENOENT,
                                                    "%s: cannot make the folder: its parent does not exist (make the "
                                                    "parent first, or give another DIR)",
                                                    g->dir);
                        return mk_error_set(err, errno, "%s: cannot make the folder: %s (give a folder you can write)",
                                            g->dir, strerror(errno));
                }
                g->made_dir = true;
        } else if (!S_ISDIR(st.st_mode)) {
                return mk_error_set(err, ENOTDIR, "%s: not a folder (give a new or an empty folder)", g->dir);
        }
        g->dir_fd = open(g->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (g->dir_fd < 0)
                return mk_error_set(err, errno, "%s: %s", g->dir, strerror(errno));
        for (int i = 0; i < N_FILES; i++) {
                char name[16];
                file_name(i, name, sizeof(name));
                if (fstatat(g->dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                        return mk_error_set(err, EEXIST,
                                            "%s/%s exists: sb-keygen never overwrites keys (choose an empty DIR)",
                                            g->dir, name);
                if (errno != ENOENT)
                        return mk_error_set(err, errno, "%s/%s: %s", g->dir, name, strerror(errno));
        }
        int n = snprintf(g->tmp, sizeof(g->tmp), "%s/.sb-keygen-XXXXXX", g->dir);
        if (n < 0 || (size_t)n >= sizeof(g->tmp))
                return mk_error_set(err, ENAMETOOLONG, "%s: path too long", g->dir);
        if (!mkdtemp(g->tmp)) {
                g->tmp[0] = '\0';
                return mk_error_set(err, errno, "%s: cannot write in the folder: %s (give a folder you can write)",
                                    g->dir, strerror(errno));
        }
        /* The temporary folder's slot comes first: a signal removes it before DIR. */
        g->tmp_slot = mk_tmp_adopt(g->tmp, true);
        if (g->made_dir)
                g->dir_slot = mk_tmp_adopt(g->dir, true);
        g->tmp_fd = open(g->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (g->tmp_fd < 0)
                return mk_error_set(err, errno, "%s: %s", g->tmp, strerror(errno));
        return 0;
}

/* A new file idx in the temporary folder holding data, created with mode (never widened afterwards). */
static int write_new(keygen *g, int idx, mode_t mode, const void *data, size_t len, mk_error *err)
{
        char name[16];
        file_name(idx, name, sizeof(name));
        int fd = openat(g->tmp_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return mk_error_set(err, errno, "%s/%s: %s", g->dir, name, strerror(errno));
        char path[PATH_BUF];
        snprintf(path, sizeof(path), "%s/%s", g->tmp, name);
        g->slots[idx] = mk_tmp_adopt(path, false);
        for (size_t off = 0; off < len;) {
                ssize_t k = write(fd, (const char *)data + off, len - off);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        int e = errno;
                        close(fd);
                        return mk_error_set(err, e, "%s/%s: %s", g->dir, name, strerror(e));
                }
                off += (size_t)k;
        }
        if (close(fd) < 0)
                return mk_error_set(err, errno, "%s/%s: %s", g->dir, name, strerror(errno));
        return 0;
}

/* A PEM text written by emit into a BIO (secure memory for a key: wiped when freed), then to file idx. */
static int write_pem(keygen *g, int idx, mode_t mode, bool secret, int (*emit)(BIO *, void *), void *obj, mk_error *err)
{
        _cleanup_(BIO_freep) BIO *bio = BIO_new(secret ? BIO_s_secmem() : BIO_s_mem());
        if (!bio || !emit(bio, obj))
                return openssl_fail(err, "write a PEM file");
        char *data = NULL;
        long len = BIO_get_mem_data(bio, &data);
        if (len <= 0)
                return openssl_fail(err, "write a PEM file");
        return write_new(g, idx, mode, data, (size_t)len, err);
}

static int emit_key(BIO *bio, void *key)
{
        return PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
}

static int emit_cert(BIO *bio, void *cert)
{
        return PEM_write_bio_X509(bio, cert);
}

static bool add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
        bool ok = e && X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
        return ok;
}

/* A random positive 127-bit serial number, as RFC 5280 asks (at most 20 octets, unpredictable). */
static bool set_serial(X509 *x)
{
        unsigned char b[16];
        if (RAND_bytes(b, sizeof(b)) != 1)
                return false;
        b[0] = (b[0] & 0x7f) | 0x40;
        _cleanup_(BN_freep) BIGNUM *bn = BN_bin2bn(b, sizeof(b), NULL);
        return bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
}

/*
 * The self-signed certificate of set k: PK and KEK are the roots firmware
 * trusts (CA, may sign); db signs code (not a CA, digitalSignature,
 * codeSigning: what mk_sb_signer_load asks of a db certificate).
 */
static X509 *make_cert(int k, EVP_PKEY *key, const char *cn_prefix, time_t now)
{
        X509 *x = X509_new();
        char cn[CN_PREFIX_MAX + 8];
        snprintf(cn, sizeof(cn), "%s %s", cn_prefix, set_names[k]);
        X509_NAME *name = x ? X509_get_subject_name(x) : NULL;
        bool ok = x && X509_set_version(x, X509_VERSION_3) && set_serial(x) &&
                  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) &&
                  X509_set_issuer_name(x, name) && ASN1_TIME_set(X509_getm_notBefore(x), now) &&
                  ASN1_TIME_adj(X509_getm_notAfter(x), now, VALID_DAYS, 0) && X509_set_pubkey(x, key);
        X509V3_CTX ctx;
        if (ok) {
                X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
                bool db = k == N_SETS - 1;
                ok = add_ext(x, &ctx, NID_basic_constraints, db ? "critical,CA:FALSE" : "critical,CA:TRUE") &&
                     add_ext(x, &ctx, NID_key_usage,
                             db ? "critical,digitalSignature" : "critical,digitalSignature,keyCertSign,cRLSign") &&
                     (!db || add_ext(x, &ctx, NID_ext_key_usage, "codeSigning")) &&
                     add_ext(x, &ctx, NID_subject_key_identifier, "hash") &&
                     add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always") &&
                     X509_sign(x, key, EVP_sha256()) > 0;
        }
        if (!ok) {
                X509_free(x);
                return NULL;
        }
        return x;
}

/* A random (version 4) GUID, the owner of every signature list. */
static int make_guid(keygen *g, mk_error *err)
{
        unsigned char b[16];
        if (RAND_bytes(b, sizeof(b)) != 1)
                return openssl_fail(err, "make a random GUID");
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        snprintf(g->guid, sizeof(g->guid), "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                 b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
        return 0;
}

/* Run an efitools tool that writes file idx (registered first: a signal removes it too). */
static int run_tool(keygen *g, int idx, const char *const *argv, mk_error *err)
{
        char name[16], path[PATH_BUF], context[PATH_BUF];
        file_name(idx, name, sizeof(name));
        snprintf(path, sizeof(path), "%s/%s", g->tmp, name);
        snprintf(context, sizeof(context), "%s/%s", g->dir, name);
        g->slots[idx] = mk_tmp_adopt(path, false);
        mk_spawn_opts o = {.package = "efitools", .context = context};
        return mk_spawn(argv, &o, err);
}

static uint32_t le32_at(const char *p)
{
        uint32_t v;
        memcpy(&v, p, sizeof(v));
        return le32toh(v);
}

/*
 * The tools do not report a failed write (on a full file system they leave a
 * short file and exit with status 0), so what they wrote is checked:
 * NAME.esl is one EFI_SIGNATURE_LIST (type GUID, then ListSize, HeaderSize
 * and SignatureSize, 32 bits each) of one entry, the owner GUID and the
 * certificate; NAME.auth is an EFI_TIME (16 bytes), a WIN_CERTIFICATE of
 * dwLength bytes (its first 32 bits) and then NAME.esl.
 */
static int check_output(keygen *g, int k, int ext, mk_error *err)
{
        char path[PATH_BUF], esl_path[PATH_BUF];
        _cleanup_free_ char *buf = NULL, *esl = NULL;
        size_t len = 0, esl_len = 0;
        int r = mk_read_file(tmp_path(g, k, ext, path), TOOL_OUTPUT_MAX, &buf, &len, err);
        if (r >= 0 && ext == 3)
                r = mk_read_file(tmp_path(g, k, 2, esl_path), TOOL_OUTPUT_MAX, &esl, &esl_len, err);
        if (r < 0)
                return r;
        bool ok;
        if (ext == 2) {
                int der = i2d_X509(g->certs[k], NULL);
                ok = der > 0 && len == 28 + 16 + (size_t)der && le32_at(buf + 16) == len;
        } else {
                ok = len >= 24 && 16 + (uint64_t)le32_at(buf + 16) + esl_len == len &&
                     !memcmp(buf + len - esl_len, esl, esl_len);
        }
        if (!ok)
                return mk_error_set(err, EIO, "%s/%s.%s: %s wrote %zu bytes, not a whole %s (is the file system full?)",
                                    g->dir, set_names[k], exts[ext],
                                    ext == 2 ? "cert-to-efi-sig-list" : "sign-efi-sig-list", len,
                                    ext == 2 ? "EFI signature list" : "signed signature list");
        return 0;
}

static int make_set(keygen *g, int k, const char *cn_prefix, time_t now, mk_error *err)
{
        g->keys[k] = EVP_RSA_gen(RSA_BITS);
        if (!g->keys[k])
                return openssl_fail(err, "generate an RSA key");
        g->certs[k] = make_cert(k, g->keys[k], cn_prefix, now);
        if (!g->certs[k])
                return openssl_fail(err, "make a certificate");
        int r = write_pem(g, 4 * k, 0600, true, emit_key, g->keys[k], err);
        if (r >= 0)
                r = write_pem(g, 4 * k + 1, 0644, false, emit_cert, g->certs[k], err);
        if (r < 0)
                return r;
        char crt[PATH_BUF], esl[PATH_BUF];
        const char *argv[] = {"cert-to-efi-sig-list", "-g", g->guid, tmp_path(g, k, 1, crt),
                              tmp_path(g, k, 2, esl), NULL};
        r = run_tool(g, 4 * k + 2, argv, err);
        return r < 0 ? r : check_output(g, k, 2, err);
}

static int sign_set(keygen *g, int k, mk_error *err)
{
        char key[PATH_BUF], crt[PATH_BUF], esl[PATH_BUF], auth[PATH_BUF];
        int s = signed_by[k];
        const char *argv[] = {"sign-efi-sig-list",
                              "-g",
                              g->guid,
                              "-k",
                              tmp_path(g, s, 0, key),
                              "-c",
                              tmp_path(g, s, 1, crt),
                              set_names[k],
                              tmp_path(g, k, 2, esl),
                              tmp_path(g, k, 3, auth),
                              NULL};
        int r = run_tool(g, 4 * k + 3, argv, err);
        return r < 0 ? r : check_output(g, k, 3, err);
}

/* Every file on disk, then each renamed into DIR without replacing anything; all or none. */
static int commit(keygen *g, mk_error *err)
{
        for (int i = 0; i < N_FILES; i++) {
                char name[16];
                file_name(i, name, sizeof(name));
                _cleanup_close_ int fd = openat(g->tmp_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0 || fsync(fd) < 0)
                        return mk_error_set(err, errno, "%s/%s: %s", g->dir, name, strerror(errno));
        }
        /* No signal between the first rename and the last: DIR gets the whole set or nothing. */
        sigset_t all, old;
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, &old);
        int r = 0, moved = 0;
        for (; moved < N_FILES; moved++) {
                char name[16];
                file_name(moved, name, sizeof(name));
                int rr = renameat2(g->tmp_fd, name, g->dir_fd, name, RENAME_NOREPLACE);
                if (rr < 0 && errno == EINVAL) /* a file system without RENAME_NOREPLACE: a link never replaces */
                        rr = linkat(g->tmp_fd, name, g->dir_fd, name, 0) < 0 ? -1 : unlinkat(g->tmp_fd, name, 0);
                if (rr < 0) {
                        int e = errno;
                        r = e == EEXIST ? mk_error_set(err, EEXIST,
                                                       "%s/%s exists: sb-keygen never overwrites keys (choose an "
                                                       "empty DIR)",
                                                       g->dir, name)
                                        : mk_error_set(err, e, "%s/%s: %s", g->dir, name, strerror(e));
                        break;
                }
        }
        if (r < 0)
                for (int i = 0; i < moved; i++) {
                        char name[16];
                        file_name(i, name, sizeof(name));
                        unlinkat(g->dir_fd, name, 0);
                }
        else if (g->made_dir) {
                mk_tmp_forget(g->dir_slot);
                g->dir_slot = -1;
                g->made_dir = false; /* it holds the keys now */
        }
        sigprocmask(SIG_SETMASK, &old, NULL);
        if (r == 0 && fsync(g->dir_fd) < 0)
                return mk_error_set(err, errno, "%s: %s", g->dir, strerror(errno));
        return r;
}

/* What is left in the temporary folder, the folder, and DIR when this call made it and failed. */
static void keygen_done(keygen *g)
{
        for (int i = 0; i < N_FILES; i++) {
                char name[16];
                file_name(i, name, sizeof(name));
                if (g->tmp_fd >= 0)
                        unlinkat(g->tmp_fd, name, 0);
                mk_tmp_forget(g->slots[i]);
        }
        if (g->tmp_fd >= 0)
                close(g->tmp_fd);
        if (g->tmp[0])
                rmdir(g->tmp);
        mk_tmp_forget(g->tmp_slot);
        if (g->dir_fd >= 0)
                close(g->dir_fd);
        if (g->made_dir)
                rmdir(g->dir);
        mk_tmp_forget(g->dir_slot);
        for (int k = 0; k < N_SETS; k++) {
                EVP_PKEY_free(g->keys[k]);
                X509_free(g->certs[k]);
        }
}

int mk_sb_keygen(const char *dir, const char *cn_prefix, mk_error *err)
{
        if (!cn_prefix)
                cn_prefix = "mkimage development";
        int r = check_prefix(cn_prefix, err);
        if (r < 0)
                return r;
        _cleanup_(keygen_done) keygen g = {.dir = dir, .dir_fd = -1, .tmp_fd = -1, .dir_slot = -1, .tmp_slot = -1};
        for (int i = 0; i < N_FILES; i++)
                g.slots[i] = -1;
        r = prepare_dir(&g, err);
        if (r < 0)
                return r;
        r = make_guid(&g, err);
        time_t now = time(NULL);
        for (int k = 0; k < N_SETS && r >= 0; k++)
                r = make_set(&g, k, cn_prefix, now, err);
        for (int k = 0; k < N_SETS && r >= 0; k++)
                r = sign_set(&g, k, err);
        if (r >= 0) {
                char line[40];
                snprintf(line, sizeof(line), "%s\n", g.guid);
                r = write_new(&g, N_FILES - 1, 0644, line, strlen(line), err);
        }
        if (r >= 0)
                r = commit(&g, err);
        return r;
}
