/* SPDX-License-Identifier: MIT */
/*
 * Data key files. The key is the LUKS2 keyslot passphrase, used byte for
 * byte (cryptsetup --key-file reads it the same way), so any length works
 * for cryptsetup; mkimage asks for 32..512 bytes: at least 256 bits, and
 * small enough to pass through QEMU's fw_cfg to the boot chain. Keys live
 * in libsodium's guarded, locked memory and are wiped when freed.
 */
#include "builder/data/luks.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "signing/base/macro.h"

#define MAKE_ONE "(umask 077; head -c 64 /dev/urandom > %s)"

int mk_data_key_load(const char *path, uint8_t **ret_key, size_t *ret_len, mk_error *err)
{
        if (sodium_init() < 0)
                return mk_error_set(err, EIO, "%s: libsodium failed to initialize", path);
        /* O_NONBLOCK: a fifo must not hang the build; it is refused below. */
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return mk_error_set(err, errno, "%s: cannot open the data key: %m", path);
        struct stat st;
        if (fstat(fd, &st) < 0)
                return mk_error_set(err, errno, "%s: %m", path);
        if (!S_ISREG(st.st_mode))
                return mk_error_set(err, EINVAL,
                                    "%s: not a regular file (a data key is a file of %u to %u random bytes)", path,
                                    MK_DATA_KEY_MIN, MK_DATA_KEY_MAX);
        if (st.st_mode & 077)
                return mk_error_set(err, EACCES, "%s: mode %04o lets others read the data key (run 'chmod 600 %s')",
                                    path, (unsigned)(st.st_mode & 07777), path);
        if (st.st_size < MK_DATA_KEY_MIN || st.st_size > MK_DATA_KEY_MAX)
                return mk_error_set(err, EINVAL,
                                    "%s: %jd bytes is not a data key (a key file holds %u to %u random bytes; make "
                                    "one with '" MAKE_ONE "')",
                                    path, (intmax_t)st.st_size, MK_DATA_KEY_MIN, MK_DATA_KEY_MAX, path);
        size_t len = (size_t)st.st_size;
        uint8_t *key = sodium_malloc(len + 1); /* one spare byte to notice a file that grew */
        if (!key)
                return mk_error_set(err, ENOMEM, "%s: cannot allocate locked memory for the key", path);
        size_t got = 0;
        while (got < len + 1) {
                ssize_t n = read(fd, key + got, len + 1 - got);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int e = errno;
                        sodium_free(key);
                        return mk_error_set(err, e, "%s: reading the data key: %s", path, strerror(e));
                }
                if (n == 0)
                        break;
                got += (size_t)n;
        }
        if (got != len) {
                sodium_free(key);
                return mk_error_set(err, EIO, "%s: the data key changed size while being read (try again)", path);
        }
        *ret_key = key;
        *ret_len = len;
        return 0;
}

uint8_t *mk_data_key_free(uint8_t *key)
{
        if (key)
                sodium_free(key); /* wipes */
        return NULL;
}

int mk_data_key_generate(const char *path, mk_error *err)
{
        if (sodium_init() < 0)
                return mk_error_set(err, EIO, "%s: libsodium failed to initialize", path);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0 && errno == EEXIST)
                return mk_error_set(err, EEXIST,
                                    "%s: already exists (a data key is never overwritten: remove it first or choose "
                                    "another name)",
                                    path);
        if (fd < 0)
                return mk_error_set(err, errno, "%s: cannot create the data key: %m", path);
        uint8_t *key = sodium_malloc(MK_DATA_KEY_GEN);
        int r = 0;
        if (!key)
                r = mk_error_set(err, ENOMEM, "%s: cannot allocate locked memory for the key", path);
        else if (fchmod(fd, 0600) < 0) /* a umask like 0277 would leave it unreadable */
                r = mk_error_set(err, errno, "%s: %m", path);
        if (!r) {
                randombytes_buf(key, MK_DATA_KEY_GEN);
                size_t done = 0;
                while (!r && done < MK_DATA_KEY_GEN) {
                        ssize_t n = write(fd, key + done, MK_DATA_KEY_GEN - done);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0)
                                r = mk_error_set(err, n < 0 ? errno : EIO, "%s: writing the data key: %m", path);
                        else
                                done += (size_t)n;
                }
        }
        if (!r && fsync(fd) < 0)
                r = mk_error_set(err, errno, "%s: writing the data key: %m", path);
        if (close(fd) < 0 && !r)
                r = mk_error_set(err, errno, "%s: writing the data key: %m", path);
        mk_data_key_free(key);
        if (r < 0)
                unlink(path);
        return r;
}
