/* SPDX-License-Identifier: MIT */
/*
 * Bounded reading and strict line/base64 parsing shared by the key and
 * signature parsers, and the few file writers they need.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "signing/minisign/minisign-internal.h"
#include "signing/conventions/conventions.h"
#include "signing/base/tmpfiles.h"

#define TWO_LINES "2 lines: an 'untrusted comment:' line and a base64 line"

const ms_kind mk_ms_kind_pub = {"minisign public key", 2, TWO_LINES, MS_KEY_FILE_MAX};
const ms_kind mk_ms_kind_sec = {"minisign secret key", 2, TWO_LINES, MS_KEY_FILE_MAX};
const ms_kind mk_ms_kind_sig = {"minisign signature", 4,
                                "4 lines: 'untrusted comment:', the base64 signature, "
                                "'trusted comment:', the base64 global signature",
                                MK_MINISIGN_FILE_MAX};

int mk_ms_init(mk_error *err)
{
        if (sodium_init() < 0)
                return mk_error_set(err, ENOSYS,
                                    "libsodium failed to initialise "
                                    "(is /dev/urandom available?)");
        return 0;
}

void mk_keyid_format(const uint8_t id[MK_KEYID_BYTES], char out[MK_KEYID_STR_SIZE])
{
        uint64_t v = 0;
        /* minisign prints the key id as a little-endian uint64. */
        for (size_t i = MK_KEYID_BYTES; i-- > 0;)
                v = (v << 8) | id[i];
        snprintf(out, MK_KEYID_STR_SIZE, "%016" PRIX64, v);
}

void mk_ms_buf_free(char *buf, bool secret)
{
        if (secret)
                sodium_free(buf);
        else
                free(buf);
}

int mk_ms_open(const char *path, const char *what, int *ret_fd, struct stat *ret_st, mk_error *err)
{
        /* O_NONBLOCK: opening a named FIFO nobody writes to would wait
         * forever. Reads block again afterwards, so a pipe with a writer
         * (--key <(...)) still works; one without a writer reads as empty. */
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return mk_error_set(err, errno, "%s: cannot open%s%s: %s (check the path)", path, what ? " the " : "",
                                    what ? what : "", strerror(errno));
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
                int e = errno;
                close(fd);
                return mk_error_set(err, e, "%s: cannot open: %s", path, strerror(e));
        }
        if (fstat(fd, ret_st) < 0) {
                int e = errno;
                close(fd);
                return mk_error_set(err, e, "%s: cannot stat: %s", path, strerror(e));
        }
        if (S_ISDIR(ret_st->st_mode)) {
                close(fd);
                return mk_error_set(err, EISDIR, "%s: is a directory, not a %s: give the file's path", path,
                                    what ? what : "file");
        }
        *ret_fd = fd;
        return 0;
}

int mk_ms_read_file(const char *path, const ms_kind *kind, bool secret, char **ret_buf, size_t *ret_len, mk_error *err)
{
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r = mk_ms_open(path, kind->what, &fd, &st, err);
        if (r < 0)
                return r;
        /* Refuse an oversized file before reading any of it. */
        if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > kind->file_max)
                return mk_error_set(err, E2BIG,
                                    "%s: is %jd bytes, too large for a %s (at most %zu bytes): "
                                    "check that this is the right file",
                                    path, (intmax_t)st.st_size, kind->what, kind->file_max);
        if (secret && (st.st_mode & 0077))
                return mk_error_set(err, EPERM,
                                    "%s: secret key is accessible by group or others (mode %04o): "
                                    "run 'chmod 600 %s'",
                                    path, (unsigned)(st.st_mode & 07777), path);

        /* One allocation of the bound + 1: a pipe or device that keeps
         * giving bytes is cut off there, never read to the end. */
        size_t cap = kind->file_max + 1, len = 0;
        char *buf = secret ? sodium_malloc(cap) : malloc(cap);
        if (!buf)
                return mk_error_set(err, ENOMEM, "%s: out of memory reading the %s", path, kind->what);
        while (len < cap) {
                ssize_t n = read(fd, buf + len, cap - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int e = errno;
                        mk_ms_buf_free(buf, secret);
                        return mk_error_set(err, e, "%s: cannot read the %s: %s", path, kind->what, strerror(e));
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        if (len > kind->file_max) {
                mk_ms_buf_free(buf, secret);
                return mk_error_set(err, E2BIG,
                                    "%s: is larger than a %s can be (at most %zu bytes): "
                                    "check that this is the right file",
                                    path, kind->what, kind->file_max);
        }
        *ret_buf = buf;
        *ret_len = len;
        return 0;
}

int mk_ms_split_lines(const char *name, const ms_kind *kind, const char *buf, size_t len, ms_line *lines, mk_error *err)
{
        if (len == 0)
                return mk_error_set(err, EBADMSG, "%s: is empty: a %s has %s (regenerate or re-copy it)", name,
                                    kind->what, kind->layout);
        const char *nul = memchr(buf, '\0', len);
        if (nul)
                return mk_error_set(err, EBADMSG,
                                    "%s: contains a NUL byte at offset %zu: a %s is text (%s); "
                                    "check that this is the right file",
                                    name, (size_t)(nul - buf), kind->what, kind->layout);
        size_t total = buf[len - 1] != '\n';
        for (const char *p = buf; (p = memchr(p, '\n', (size_t)(buf + len - p))); p++)
                total++;
        if (total != kind->n_lines)
                return mk_error_set(err, EBADMSG,
                                    "%s: has %zu line%s, a %s has exactly %s: the file is "
                                    "truncated or not a %s (regenerate or re-copy it)",
                                    name, total, total == 1 ? "" : "s", kind->what, kind->layout, kind->what);

        const char *p = buf, *end = buf + len;
        for (size_t i = 0; i < kind->n_lines; i++) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                const char *le = nl ? nl : end;
                if (le > p && le[-1] == '\r')
                        return mk_error_set(err, EBADMSG,
                                            "%s:%zu: line ends with a carriage return (DOS line "
                                            "ends): convert the file with 'dos2unix %s'",
                                            name, i + 1, name);
                lines[i] = (ms_line){p, (size_t)(le - p)};
                p = nl ? nl + 1 : end;
        }
        return 0;
}

int mk_ms_check_comment_line(const char *name, const ms_kind *kind, const ms_line *line, unsigned lineno,
                             const char *prefix, size_t max, mk_error *err)
{
        size_t plen = strlen(prefix);
        if (line->len > max)
                return mk_error_set(err, E2BIG,
                                    "%s:%u: line is %zu bytes long, longer than the %zu bytes "
                                    "minisign allows: shorten the comment",
                                    name, lineno, line->len, max);
        if (line->len < plen || memcmp(line->p, prefix, plen) != 0)
                return mk_error_set(err, EBADMSG, "%s:%u: does not start with '%.*s': not a %s (a %s has %s)", name,
                                    lineno, (int)(plen - 1), prefix, kind->what, kind->what, kind->layout);
        return 0;
}

static bool is_base64_char(char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
               c == '=';
}

int mk_ms_decode_line(const char *name, const ms_kind *kind, const ms_line *line, unsigned lineno, const char *field,
                      void *out, size_t out_len, mk_error *err)
{
        size_t want = sodium_base64_ENCODED_LEN(out_len, sodium_base64_VARIANT_ORIGINAL) - 1;
        if (line->len != want)
                return mk_error_set(err, EBADMSG,
                                    "%s:%u: the %s is %zu characters of base64, a %s has exactly "
                                    "%zu: the file is truncated or damaged (regenerate or re-copy it)",
                                    name, lineno, field, line->len, kind->what, want);
        for (size_t i = 0; i < line->len; i++) {
                unsigned char c = (unsigned char)line->p[i];
                if (is_base64_char((char)c))
                        continue;
                char shown[8];
                snprintf(shown, sizeof(shown), c >= 0x20 && c < 0x7f ? "'%c'" : "\\x%02x", c);
                return mk_error_set(err, EBADMSG,
                                    "%s:%u: invalid base64 character %s at column %zu of the %s: "
                                    "the file is damaged (regenerate or re-copy it)",
                                    name, lineno, shown, i + 1, field);
        }
        size_t bin_len = 0;
        const char *b64_end = NULL;
        if (sodium_base642bin(out, out_len, line->p, line->len, NULL, &bin_len, &b64_end,
                              sodium_base64_VARIANT_ORIGINAL) != 0 ||
            b64_end != line->p + line->len || bin_len != out_len)
                return mk_error_set(err, EBADMSG,
                                    "%s:%u: the %s is not canonical base64 (misplaced '=' padding "
                                    "or stray bits): the file is damaged (regenerate or re-copy it)",
                                    name, lineno, field);
        return 0;
}

void mk_ms_alg_str(const uint8_t alg[2], char out[MS_ALG_STR_SIZE])
{
        if (alg[0] > 0x20 && alg[0] < 0x7f && alg[1] > 0x20 && alg[1] < 0x7f)
                snprintf(out, MS_ALG_STR_SIZE, "'%c%c'", alg[0], alg[1]);
        else
                snprintf(out, MS_ALG_STR_SIZE, "0x%02x%02x", alg[0], alg[1]);
}

int mk_ms_check_alg(const char *name, const ms_kind *kind, unsigned lineno, const char *field, const uint8_t got[2],
                    const char *want, const char *want_desc, mk_error *err)
{
        if (sodium_memcmp(got, want, 2) == 0)
                return 0;
        char alg[MS_ALG_STR_SIZE];
        mk_ms_alg_str(got, alg);
        return mk_error_set(err, EBADMSG,
                            "%s:%u: %s algorithm is %s, not '%s' (%s): not a %s (regenerate or "
                            "re-copy it)",
                            name, lineno, field, alg, want, want_desc, kind->what);
}

void mk_ms_base64(char *out, size_t out_size, const void *bin, size_t len)
{
        sodium_bin2base64(out, out_size, bin, len, sodium_base64_VARIANT_ORIGINAL);
}

int mk_ms_write_all(int fd, const char *name, const void *buf, size_t len, mk_error *err)
{
        const char *p = buf;
        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return mk_error_set(err, errno, "%s: cannot write: %s (is the disk full?)", name,
                                            strerror(errno));
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

int mk_ms_write_atomic(const char *path, const void *data, size_t len, mode_t mode, mk_error *err)
{
        _cleanup_free_ char *tmp = NULL;
        if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0) {
                tmp = NULL;
                return mk_error_set(err, ENOMEM, "%s: out of memory", path);
        }
        int slot = -1;
        int fd = mk_tmp_create(tmp, &slot);
        if (fd < 0)
                return mk_error_set(err, -fd,
                                    "%s: cannot create a temporary file beside it: %s "
                                    "(check that the directory exists and is writable)",
                                    path, strerror(-fd));
        int r = mk_ms_write_all(fd, tmp, data, len, err);
        if (r >= 0 && (fchmod(fd, mode) < 0 || fsync(fd) < 0))
                r = mk_error_set(err, errno, "%s: cannot write: %s", tmp, strerror(errno));
        if (close(fd) < 0 && r >= 0)
                r = mk_error_set(err, errno, "%s: cannot write: %s", tmp, strerror(errno));
        if (r >= 0 && rename(tmp, path) < 0)
                r = mk_error_set(err, errno, "%s: cannot rename %s over it: %s", path, tmp, strerror(errno));
        if (r < 0)
                unlink(tmp);
        mk_tmp_forget(slot);
        return r;
}

int mk_ms_hash_file(const char *path, uint8_t out[MS_PREHASH_BYTES], mk_error *err)
{
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r = mk_ms_open(path, NULL, &fd, &st, err);
        if (r < 0)
                return r;
        enum { CHUNK = 64 * 1024 };
        _cleanup_free_ uint8_t *chunk = malloc(CHUNK);
        if (!chunk)
                return mk_error_set(err, ENOMEM, "%s: out of memory", path);
        crypto_generichash_state st_hash;
        crypto_generichash_init(&st_hash, NULL, 0, MS_PREHASH_BYTES);
        for (;;) {
                ssize_t n = read(fd, chunk, CHUNK);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return mk_error_set(err, errno, "%s: cannot read: %s", path, strerror(errno));
                if (n == 0)
                        break;
                crypto_generichash_update(&st_hash, chunk, (size_t)n);
        }
        crypto_generichash_final(&st_hash, out, MS_PREHASH_BYTES);
        return 0;
}

int mk_ms_sig_path(const char *path, const char *sig_path, char **ret, mk_error *err)
{
        char *s;
        if (sig_path)
                s = strdup(sig_path);
        else if (asprintf(&s, "%s" MK_SIG_SUFFIX, path) < 0)
                s = NULL;
        if (!s)
                return mk_error_set(err, ENOMEM, "%s: out of memory", path);
        *ret = s;
        return 0;
}
