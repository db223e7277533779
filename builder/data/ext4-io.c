/* SPDX-License-Identifier: MIT */
/*
 * libext2fs's I/O goes through an io_manager. unix_io opens the image by
 * name and fsync()s it on every flush and on close, so writing the data
 * partition used to wait for the disk to take everything written before it
 * (the roots, the ESP: hundreds of megabytes), twice. This one does plain
 * pread/pwrite on the file descriptor the build already holds, at the
 * partition's offset, and never syncs: the image is fsync()ed once, when it
 * is complete (mk_output_commit).
 *
 * libext2fs hands open() only a name, so the descriptor travels in a
 * thread-local slot that mk_ext4_io_initialize() fills just before
 * ext2fs_initialize() and clears after it.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "builder/data/ext4-internal.h"
#include "signing/base/fileio.h"

typedef struct mkio {
        int fd;          /* not owned */
        uint64_t offset; /* "offset=" option: where block 0 is */
} mkio;

static __thread int pending_fd = -1;

static errcode_t mkio_close(io_channel io);

static errcode_t mkio_open(const char *name, int flags, io_channel *ret)
{
        (void)flags;
        if (pending_fd < 0)
                return EXT2_ET_BAD_DEVICE_NAME;
        io_channel io = NULL;
        mkio *d = NULL;
        errcode_t e = ext2fs_get_memzero(sizeof(*io), &io);
        if (!e)
                e = ext2fs_get_memzero(sizeof(*d), &d);
        if (!e)
                e = ext2fs_get_mem(strlen(name) + 1, &io->name);
        if (e) {
                ext2fs_free_mem(&d);
                ext2fs_free_mem(&io);
                return e;
        }
        strcpy(io->name, name);
        d->fd = pending_fd;
        io->magic = EXT2_ET_MAGIC_IO_CHANNEL;
        io->manager = mk_ext4_io_manager;
        io->block_size = 1024;
        io->refcount = 1;
        io->private_data = d;
        *ret = io;
        return 0;
}

static errcode_t mkio_close(io_channel io)
{
        if (--io->refcount > 0)
                return 0;
        ext2fs_free_mem(&io->private_data);
        ext2fs_free_mem(&io->name);
        ext2fs_free_mem(&io);
        return 0;
}

static errcode_t mkio_set_blksize(io_channel io, int blksize)
{
        io->block_size = blksize;
        return 0;
}

/* count < 0 means -count bytes (libext2fs's convention), else blocks. */
static errcode_t span(io_channel io, unsigned long long block, int count, uint64_t *off, size_t *len)
{
        const mkio *d = io->private_data;
        uint64_t n = count < 0 ? (uint64_t) - (int64_t)count : (uint64_t)count * (uint64_t)io->block_size;
        uint64_t at = (uint64_t)block * (uint64_t)io->block_size;
        if (at / (uint64_t)io->block_size != block || at > UINT64_MAX - d->offset - n)
                return EXT2_ET_LLSEEK_FAILED;
        *off = d->offset + at;
        *len = (size_t)n;
        return 0;
}

static errcode_t mkio_read_blk64(io_channel io, unsigned long long block, int count, void *data)
{
        const mkio *d = io->private_data;
        uint64_t off;
        size_t len;
        errcode_t e = span(io, block, count, &off, &len);
        for (size_t done = 0; !e && done < len;) {
                ssize_t k = pread(d->fd, (char *)data + done, len - done, (off_t)(off + done));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return errno;
                if (k == 0) { /* beyond the end of the file: zeros, as a hole reads */
                        memset((char *)data + done, 0, len - done);
                        break;
                }
                done += (size_t)k;
        }
        return e;
}

static errcode_t mkio_write_at(const mkio *d, uint64_t off, size_t len, const void *data)
{
        int r = mk_pwrite_all(d->fd, data, len, off);
        return r == -EIO ? EXT2_ET_SHORT_WRITE : (errcode_t)-r;
}

static errcode_t mkio_write_blk64(io_channel io, unsigned long long block, int count, const void *data)
{
        uint64_t off;
        size_t len;
        errcode_t e = span(io, block, count, &off, &len);
        return e ? e : mkio_write_at(io->private_data, off, len, data);
}

static errcode_t mkio_read_blk(io_channel io, unsigned long block, int count, void *data)
{
        return mkio_read_blk64(io, block, count, data);
}

static errcode_t mkio_write_blk(io_channel io, unsigned long block, int count, const void *data)
{
        return mkio_write_blk64(io, block, count, data);
}

static errcode_t mkio_write_byte(io_channel io, unsigned long offset, int count, const void *data)
{
        const mkio *d = io->private_data;
        if (count < 0)
                return EXT2_ET_INVALID_ARGUMENT;
        return mkio_write_at(d, d->offset + offset, (size_t)count, data);
}

/* No fsync: the image is synced once, when it is complete. */
static errcode_t mkio_flush(io_channel io)
{
        (void)io;
        return 0;
}

static errcode_t mkio_set_option(io_channel io, const char *option, const char *arg)
{
        mkio *d = io->private_data;
        if (strcmp(option, "offset") || !arg)
                return EXT2_ET_INVALID_ARGUMENT;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(arg, &end, 10);
        if (errno || *end || end == arg)
                return EXT2_ET_INVALID_ARGUMENT;
        d->offset = v;
        return 0;
}

/*
 * Zeros libext2fs asks for (the inode tables and the journal of a file
 * system initialised in full) are written as data, never as a hole or an
 * unwritten extent (FALLOC_FL_ZERO_RANGE, as unix_io does): a block map
 * lists data extents only, and a block it leaves out reads on the device as
 * whatever the flash held, where ext4 has been told it holds zeros (an inode
 * table flagged ITABLE_ZEROED, a journal that must not replay). See
 * docs/layout.md, "What is written and what is a hole".
 */
static errcode_t mkio_zeroout(io_channel io, unsigned long long block, unsigned long long count)
{
        static const char zero[1 << 16];
        const mkio *d = io->private_data;
        if (count > INT32_MAX)
                return EXT2_ET_UNIMPLEMENTED; /* libext2fs writes zeros itself */
        uint64_t off;
        size_t len;
        errcode_t e = span(io, block, (int)count, &off, &len);
        for (size_t done = 0; !e && done < len;) {
                size_t n = len - done < sizeof(zero) ? len - done : sizeof(zero);
                e = mkio_write_at(d, off + done, n, zero);
                done += n;
        }
        return e;
}

static struct struct_io_manager mkio_manager = {
        .magic = EXT2_ET_MAGIC_IO_MANAGER,
        .name = "mkimage fd I/O manager",
        .open = mkio_open,
        .close = mkio_close,
        .set_blksize = mkio_set_blksize,
        .read_blk = mkio_read_blk,
        .write_blk = mkio_write_blk,
        .flush = mkio_flush,
        .write_byte = mkio_write_byte,
        .set_option = mkio_set_option,
        .read_blk64 = mkio_read_blk64,
        .write_blk64 = mkio_write_blk64,
        .zeroout = mkio_zeroout,
};

io_manager mk_ext4_io_manager = &mkio_manager;

errcode_t mk_ext4_io_initialize(const char *name, int fd, int flags, struct ext2_super_block *param, ext2_filsys *ret)
{
        pending_fd = fd;
        errcode_t e = ext2fs_initialize(name, flags, param, mk_ext4_io_manager, ret);
        pending_fd = -1;
        return e;
}
