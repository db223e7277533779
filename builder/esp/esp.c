/* SPDX-License-Identifier: MIT */
#include "builder/esp/esp.h"
#include "builder/esp/esp-internal.h"
#include "signing/disk/fat.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "signing/base/escape.h"
#include "signing/base/fileio.h"
#include "builder/tree/fstree.h"
#include "signing/base/macro.h"
#include "builder/esp/subprocess.h"
#include "builder/model/uuid.h"

#define SECTOR 512u
#define FAT32_MIN_CLUSTERS 65525u /* fewer, and firmware takes the volume for FAT16 */
#define FAT_MAX_FILE 0xffffffffull
#define FAT_EPOCH_MIN 315532800ull  /* 1980-01-01T00:00:00Z */
#define FAT_EPOCH_MAX 4354819199ull /* 2107-12-31T23:59:59Z */

uint32_t mk_esp_volume_id(const char *brand, const char *model)
{
        uint8_t b[4];
        mk_derive_bytes(brand, model, "esp-volume-id", "esp", b, sizeof(b));
        return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* ---- names ---------------------------------------------------------------- */

const char *mk_esp_path_problem(const char *path)
{
        static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 !#$%&'()+,-.;=@^_`{}~";
        for (const char *c = path;; c++) {
                size_t len = strcspn(c, "/");
                if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
                        return "write it as NAME/NAME/..., without a leading '/' and without empty, '.' or '..' "
                               "parts";
                if (strspn(c, ok) < len)
                        return "FAT names here take only ASCII letters, digits, space and !#$%&'()+,-.;=@^_`{}~";
                if (c[len - 1] == '.' || c[len - 1] == ' ')
                        return "a FAT name must not end in '.' or ' '";
                if (len > 255)
                        return "a FAT name is at most 255 characters";
                c += len;
                if (!*c)
                        return NULL;
        }
}

static int path_error(const char *ctx, const char *path, const char *why, mk_error *err)
{
        char q[256];
        return mk_error_set(err, EINVAL, "%s: ESP path '%s': %s (rename it)", ctx, mk_quote(path, q, sizeof(q)), why);
}

/* ---- the plan: directories and files in write order ----------------------- */

typedef struct esp_plan {
        const char *ctx;
        mk_error *err;
        fstree *tree;
        char **dirs; /* "EFI", "EFI/BOOT", ... depth-first, sorted */
        size_t ndirs;
        size_t *files;     /* indexes into the caller's files, same order */
        char **file_paths; /* their normalized paths */
        size_t nfiles;
        uint64_t *dir_slots; /* 32-byte directory slots each directory needs, root included */
        size_t nslots;
} esp_plan;

static void plan_free(esp_plan *p)
{
        for (size_t i = 0; i < p->ndirs; i++)
                free(p->dirs[i]);
        for (size_t i = 0; i < p->nfiles; i++)
                free(p->file_paths[i]);
        free(p->dirs);
        free(p->files);
        free(p->file_paths);
        free(p->dir_slots);
        mk_fstree_free(p->tree);
}

static int plan_visit(fsnode *n, void *userdata)
{
        esp_plan *p = userdata;
        char *path = mk_fsnode_path(n);
        if (!path)
                return mk_error_set(p->err, ENOMEM, "out of memory");
        if (mk_fsnode_get_kind(n) != FSNODE_DIR) {
                uint64_t idx;
                mk_fsnode_file_source(n, &idx, NULL);
                p->files[p->nfiles] = (size_t)idx;
                p->file_paths[p->nfiles++] = path;
                return 0;
        }
        /* The root holds the volume label; the others "." and "..". Long names are counted for every name. */
        uint64_t slots = mk_fsnode_parent(n) ? 2 : 1;
        for (size_t i = 0; i < mk_fsnode_nchildren(n); i++) {
                const char *name = mk_fsnode_name(mk_fsnode_child(n, i));
                slots += 1 + (strlen(name) + FAT_LFN_CHARS - 1) / FAT_LFN_CHARS;
                for (size_t j = 0; j < i; j++) {
                        const char *other = mk_fsnode_name(mk_fsnode_child(n, j));
                        if (!strcasecmp(name, other)) {
                                char why[600], full[600];
                                snprintf(why, sizeof(why),
                                         "'%s' and '%s' are the same name on FAT (it ignores case); spell them "
                                         "the same",
                                         other, name);
                                snprintf(full, sizeof(full), "%s%s%s", path, *path ? "/" : "", name);
                                free(path);
                                return path_error(p->ctx, full, why, p->err);
                        }
                }
        }
        p->dir_slots[p->nslots++] = slots;
        if (mk_fsnode_parent(n))
                p->dirs[p->ndirs++] = path;
        else
                free(path);
        return 0;
}

/* Validate the paths and lay out the tree; sizes[i] is the length of files[i]. */
static int plan_build(const char *ctx, const mk_esp_file *files, const uint64_t *sizes, size_t n, esp_plan *p,
                      mk_error *err)
{
        const fsnode_attr a = {.perm = 0644};
        int r;

        p->ctx = ctx;
        p->err = err;
        if ((r = mk_fstree_new(ctx, &p->tree)) < 0)
                return mk_error_set(err, -r, "out of memory");
        for (size_t i = 0; i < n; i++) {
                const char *why = mk_esp_path_problem(files[i].esp_path);
                if (why)
                        return path_error(ctx, files[i].esp_path, why, err);
                /* The tree only gives structure and checks; the key is the index into files, never read. */
                r = mk_fstree_add_file(p->tree, files[i].esp_path, &a, mk_fs_source_memory(), i, NULL, sizes[i], NULL,
                                       err);
                if (r < 0)
                        return r;
        }
        mk_fstree_sort(p->tree);
        size_t count = mk_fstree_count(p->tree);
        p->dirs = calloc(count, sizeof(*p->dirs));
        p->files = calloc(count, sizeof(*p->files));
        p->file_paths = calloc(count, sizeof(*p->file_paths));
        p->dir_slots = calloc(count, sizeof(*p->dir_slots));
        if (!p->dirs || !p->files || !p->file_paths || !p->dir_slots)
                return mk_error_set(err, ENOMEM, "out of memory");
        return mk_fstree_walk(p->tree, plan_visit, p);
}

/* Bytes the plan takes in clusters of csize bytes. */
static uint64_t plan_bytes(const esp_plan *p, const uint64_t *sizes, uint64_t csize)
{
        uint64_t total = 0;
        for (size_t i = 0; i < p->nslots; i++)
                total += (p->dir_slots[i] * FAT_DIRENT + csize - 1) / csize * csize;
        for (size_t i = 0; i < p->nfiles; i++)
                total += (sizes[p->files[i]] + csize - 1) / csize * csize;
        return total;
}

/* where: what holds have bytes ("the partition holds", "the FAT32 file system has room for"). */
static int too_big(const char *ctx, const esp_plan *p, const uint64_t *sizes, uint64_t need, const char *where,
                   uint64_t have, uint64_t csize, mk_error *err)
{
        size_t big = 0;
        for (size_t i = 1; i < p->nfiles; i++)
                if (sizes[p->files[i]] > sizes[p->files[big]])
                        big = i;
        uint64_t short_mib = (need - have + (1u << 20) - 1) >> 20;
        return mk_error_set(err, EFBIG,
                            "%s: the ESP files do not fit: they need %" PRIu64 " bytes (in %" PRIu64
                            "-byte clusters, directories included) but %s %" PRIu64
                            " bytes; the largest is '%s' (%" PRIu64 " bytes). Make the ESP partition at least %" PRIu64
                            " MiB larger or the files smaller",
                            ctx, need, csize, where, have, p->nfiles ? p->file_paths[big] : "",
                            p->nfiles ? sizes[p->files[big]] : 0, short_mib);
}

/* ---- the image ------------------------------------------------------------ */

/* Open every source (host file or bytes in a memfd) and get its size. fds[i] >= 3 on success. */
static int open_sources(const char *ctx, const mk_esp_file *files, size_t n, int *fds, uint64_t *sizes, mk_error *err)
{
        for (size_t i = 0; i < n; i++) {
                const mk_esp_file *f = &files[i];
                const char *what = f->esp_path ? f->esp_path : "(null)";
                if (!f->esp_path || (f->source ? f->data || f->size : !f->data && f->size))
                        return mk_error_set(err, EINVAL,
                                            "%s: ESP file '%s': give either a source file or data (a bug in "
                                            "mkimage)",
                                            ctx, what);
                int fd;
                if (f->source) {
                        struct stat st;
                        fd = open(f->source, O_RDONLY | O_CLOEXEC);
                        if (fd < 0)
                                return mk_error_set(err, errno, "%s: ESP file '%s': cannot open %s: %s", ctx, what,
                                                    f->source, strerror(errno));
                        fds[i] = fd;
                        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                                return mk_error_set(err, EINVAL, "%s: ESP file '%s': %s is not a regular file", ctx,
                                                    what, f->source);
                        sizes[i] = (uint64_t)st.st_size;
                } else {
                        fd = memfd_create("mkimage-esp-file", MFD_CLOEXEC);
                        if (fd < 0)
                                return mk_error_set(err, errno, "%s: ESP file '%s': memfd_create: %s", ctx, what,
                                                    strerror(errno));
                        fds[i] = fd;
                        for (size_t done = 0; done < f->size;) {
                                ssize_t w = write(fd, (const char *)f->data + done, f->size - done);
                                if (w < 0 && errno == EINTR)
                                        continue;
                                if (w < 0)
                                        return mk_error_set(err, errno, "%s: ESP file '%s': %s", ctx, what,
                                                            strerror(errno));
                                done += (size_t)w;
                        }
                        if (lseek(fd, 0, SEEK_SET) < 0)
                                return mk_error_set(err, errno, "%s: ESP file '%s': %s", ctx, what, strerror(errno));
                        sizes[i] = f->size;
                }
                if (fd < 3) { /* mk_spawn reads stdin_fd 0 as /dev/null */
                        int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
                        close(fd);
                        fds[i] = moved;
                        if (moved < 0)
                                return mk_error_set(err, errno, "%s: %s", ctx, strerror(errno));
                }
                if (sizes[i] > FAT_MAX_FILE)
                        return mk_error_set(err, EFBIG,
                                            "%s: ESP file '%s' is %" PRIu64 " bytes; FAT32 holds files of at most "
                                            "4 GiB - 1 (4294967295 bytes)",
                                            ctx, what, sizes[i]);
        }
        return 0;
}

/* Zero [off, off + len): punch a hole (the image stays sparse), or write zeros. */
static int zero_range(int fd, const char *ctx, uint64_t off, uint64_t len, mk_error *err)
{
        if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
                return 0;
        if (errno != EOPNOTSUPP && errno != ENOSYS)
                return mk_error_set(err, errno, "%s: cannot clear the partition: %s", ctx, strerror(errno));
        size_t chunk = 1u << 20;
        _cleanup_free_ char *zeros = calloc(1, chunk);
        if (!zeros)
                return mk_error_set(err, ENOMEM, "out of memory");
        for (uint64_t done = 0; done < len;) {
                size_t k = len - done < chunk ? (size_t)(len - done) : chunk;
                ssize_t w = pwrite(fd, zeros, k, (off_t)(off + done));
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return mk_error_set(err, w < 0 ? errno : EIO, "%s: cannot clear the partition: %s", ctx,
                                            strerror(w < 0 ? errno : EIO));
                done += (uint64_t)w;
        }
        return 0;
}

/* Read back what mkfs.vfat made: the cluster size and the number of data clusters. */
static int read_geometry(int fd, const char *ctx, uint64_t off, uint64_t size, uint64_t *ret_csize,
                         uint64_t *ret_clusters, mk_error *err)
{
        uint8_t bs[512];
        if (pread(fd, bs, sizeof(bs), (off_t)off) != (ssize_t)sizeof(bs))
                return mk_error_set(err, EIO, "%s: cannot read back the boot sector mkfs.vfat wrote", ctx);
        mk_fat_geometry g;
        if (mk_fat_geometry_decode(bs, &g) < 0 || g.sector_size != SECTOR || g.total_sectors * SECTOR > size)
                return mk_error_set(err, EIO,
                                    "%s: mkfs.vfat wrote a boot sector mkimage does not understand "
                                    "(is dosfstools 4.2 installed?)",
                                    ctx);
        *ret_csize = g.cluster_size;
        *ret_clusters = g.max_cluster - 1;
        return 0;
}

static int run_mkfs(const char *img, int pass_fd, const char *ctx, uint64_t off, uint64_t size, const char *label,
                    uint32_t volid, unsigned spc, mk_error *err)
{
        char volid_s[16], off_s[32], blocks_s[32], spc_s[16];
        snprintf(volid_s, sizeof(volid_s), "%08" PRIX32, volid);
        snprintf(off_s, sizeof(off_s), "%" PRIu64, off / SECTOR);
        snprintf(blocks_s, sizeof(blocks_s), "%" PRIu64, size / 1024);
        snprintf(spc_s, sizeof(spc_s), "%u", spc);
        /*
         * --invariant fixes the label's time stamp; it also sets a volume id, so -i must come after it.
         * -s and -g are explicit: mkfs.vfat derives them from the size of the whole image file otherwise.
         */
        const char *argv[] = {"mkfs.vfat", "-F",       "32",          "-S", "512",    "-s", spc_s,
                              "-g",        "255/63",   "--invariant", "-i", volid_s,  "-n", label,
                              "--mbr=n",   "--offset", off_s,         img,  blocks_s, NULL};
        const mk_spawn_opts so = {.package = "dosfstools", .context = ctx, .pass_fd = pass_fd};
        return mk_spawn(argv, &so, err);
}

/*
 * Sectors per cluster for a FAT32 volume of size bytes: the table of
 * Microsoft's FAT specification (512-byte sectors), which keeps the cluster
 * count above the FAT32 minimum. Always given to mkfs.vfat: on its own,
 * mkfs.vfat 4.2 picks the cluster size from the size of the whole image file
 * (ignoring the block count), so the ESP's bytes would depend on the disk
 * size, and a small ESP on a large disk would get too few clusters.
 */
static unsigned fat32_sectors_per_cluster(uint64_t size)
{
        uint64_t sectors = size / SECTOR;
        if (sectors <= 532480) /* 260 MB */
                return 1;
        if (sectors <= 16777216) /* 8 GiB */
                return 8;
        if (sectors <= 33554432) /* 16 GiB */
                return 16;
        if (sectors <= 67108864) /* 32 GiB */
                return 32;
        return 64;
}

/*
 * Zero the range and make the file system; return its cluster size and
 * count. Should the count still be below the FAT32 minimum, halve the
 * cluster size until it is not (or the clusters are one sector).
 */
static int make_fat32(int fd, const char *img, int pass_fd, const char *ctx, uint64_t off, uint64_t size,
                      const char *label, uint32_t volid, uint64_t *ret_csize, uint64_t *ret_clusters, mk_error *err)
{
        unsigned spc = fat32_sectors_per_cluster(size);
        uint64_t csize = 0, clusters = 0;
        int r;
        for (;;) {
                if ((r = zero_range(fd, ctx, off, size, err)) < 0 ||
                    (r = run_mkfs(img, pass_fd, ctx, off, size, label, volid, spc, err)) < 0 ||
                    (r = read_geometry(fd, ctx, off, size, &csize, &clusters, err)) < 0)
                        return r;
                if (clusters >= FAT32_MIN_CLUSTERS)
                        break;
                if (csize == SECTOR)
                        return mk_error_set(err, EINVAL,
                                            "%s: %" PRIu64 " bytes is too small for FAT32 (%" PRIu64
                                            " clusters, it needs %u, or firmware reads it as FAT16); make the ESP "
                                            "partition at least 33 MiB",
                                            ctx, size, clusters, FAT32_MIN_CLUSTERS);
                spc = (unsigned)(csize / SECTOR / 2);
        }
        *ret_csize = csize;
        *ret_clusters = clusters;
        return 0;
}

static int valid_label(const char *s)
{
        size_t n = strlen(s);
        return n >= 1 && n <= 11 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

static void close_all(int *fds, size_t n)
{
        for (size_t i = 0; fds && i < n; i++)
                if (fds[i] >= 0)
                        close(fds[i]);
        free(fds);
}

/* Copy the planned directories and files in with mtools (IMAGE@@OFFSET addresses the file system). */
int mk_esp_mtools_setup(const char *img, const char *ctx, uint64_t off, uint64_t epoch, esp_mtools *t, mk_error *err)
{
        if ((size_t)snprintf(t->spec, sizeof(t->spec), "%s@@%" PRIu64, img, off) >= sizeof(t->spec))
                return mk_error_set(err, ENAMETOOLONG, "%s: the image path is too long for mtools", ctx);
        snprintf(t->sde, sizeof(t->sde), "SOURCE_DATE_EPOCH=%" PRIu64, epoch);
        /* Every setting that changes what mtools writes is pinned: user config and environment cannot leak in. */
        const char *env[] = {t->sde,
                             "TZ=UTC",
                             "HOME=/nonexistent",
                             "MTOOLSRC=/dev/null",
                             "MTOOLS_SKIP_CHECK=1",
                             "MTOOLS_NO_VFAT=0",
                             "MTOOLS_LOWER_CASE=0",
                             "MTOOLS_NAME_NUMERIC_TAIL=1",
                             "MTOOLS_FAT_COMPATIBILITY=0",
                             NULL};
        _Static_assert(ELEMENTSOF(env) == ELEMENTSOF(t->env), "mtools environment size");
        memcpy(t->env, env, sizeof(env));
        return 0;
}

static int run_mtools(const char *img, int pass_fd, const char *ctx, uint64_t off, const esp_plan *p, const int *fds,
                      uint64_t epoch, mk_error *err)
{
        esp_mtools t;
        int r = mk_esp_mtools_setup(img, ctx, off, epoch, &t, err);
        if (r < 0)
                return r;
        const char *spec = t.spec;
        mk_spawn_opts so = {.package = "mtools", .env = t.env, .context = ctx, .pass_fd = pass_fd};

        if (p->ndirs) {
                const char **argv = calloc(p->ndirs + 4, sizeof(*argv));
                char **targets = calloc(p->ndirs, sizeof(*targets));
                if (!argv || !targets)
                        r = mk_error_set(err, ENOMEM, "out of memory");
                for (size_t i = 0; r == 0 && i < p->ndirs; i++)
                        if (asprintf(&targets[i], "::/%s", p->dirs[i]) < 0) {
                                targets[i] = NULL;
                                r = mk_error_set(err, ENOMEM, "out of memory");
                        }
                if (r == 0) {
                        argv[0] = "mmd";
                        argv[1] = "-i";
                        argv[2] = spec;
                        for (size_t i = 0; i < p->ndirs; i++)
                                argv[3 + i] = targets[i];
                        r = mk_spawn(argv, &so, err);
                }
                for (size_t i = 0; targets && i < p->ndirs; i++)
                        free(targets[i]);
                free(targets);
                free(argv);
        }
        for (size_t i = 0; r == 0 && i < p->nfiles; i++) {
                _cleanup_free_ char *target = NULL;
                if (asprintf(&target, "::/%s", p->file_paths[i]) < 0)
                        return mk_error_set(err, ENOMEM, "out of memory");
                /* "-" reads the bytes from stdin; -o never asks (a question would eat the input). */
                const char *argv[] = {"mcopy", "-o", "-i", spec, "-", target, NULL};
                so.stdin_fd = fds[p->files[i]];
                r = mk_spawn(argv, &so, err);
        }
        return r;
}

int mk_esp_write(const char *image_path, uint64_t offset, uint64_t size, const mk_esp_file *files, size_t n,
                 const mk_esp_opts *o, mk_error *err)
{
        const char *label = o->label ? o->label : "ESP";
        char ctx[512];
        int r;

        snprintf(ctx, sizeof(ctx), "%s: ESP at byte %" PRIu64, o->name ? o->name : image_path, offset);
        if (!valid_label(label))
                return mk_error_set(err, EINVAL, "%s: volume label '%s' must be 1 to 11 of A-Z 0-9 _ -", ctx, label);
        /* FAT's clock starts in 1980: an earlier time (0, SOURCE_DATE_EPOCH unset) is stored as its first
         * second, as deterministic as the rest. Beyond 2107 nothing sensible can be stored. */
        uint64_t when = o->source_date_epoch < FAT_EPOCH_MIN ? FAT_EPOCH_MIN : o->source_date_epoch;
        if (when > FAT_EPOCH_MAX)
                return mk_error_set(err, EINVAL,
                                    "%s: time stamp %" PRIu64 " is beyond what FAT stores (2107-12-31); set "
                                    "SOURCE_DATE_EPOCH to at most %llu",
                                    ctx, o->source_date_epoch, FAT_EPOCH_MAX);
        if (offset % SECTOR || size % 1024 || size == 0)
                return mk_error_set(err, EINVAL,
                                    "%s: the ESP must start on a 512-byte sector and its size (%" PRIu64
                                    ") be a non-zero multiple of 1024 (a bug in the layout)",
                                    ctx, size);
        if (strstr(image_path, "@@"))
                return mk_error_set(err, EINVAL,
                                    "%s: mtools cannot address an image whose path contains '@@' "
                                    "(rename the output)",
                                    ctx);
        _cleanup_free_ uint64_t *sizes = calloc(n + 1, sizeof(*sizes));
        int *fds = calloc(n + 1, sizeof(*fds));
        if (!sizes || !fds) {
                free(fds);
                return mk_error_set(err, ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < n; i++)
                fds[i] = -1;
        esp_plan p = {0};
        r = open_sources(ctx, files, n, fds, sizes, err);
        if (r == 0)
                r = plan_build(ctx, files, sizes, n, &p, err);
        /* Before writing anything: the files alone, in the smallest clusters, must fit. */
        if (r == 0 && plan_bytes(&p, sizes, SECTOR) > size)
                r = too_big(ctx, &p, sizes, plan_bytes(&p, sizes, SECTOR), "the whole partition holds", size, SECTOR,
                            err);

        _cleanup_close_ int fd = -1;
        if (r == 0) {
                struct stat st;
                fd = open(image_path, O_RDWR | O_CLOEXEC);
                if (fd < 0 || fstat(fd, &st) < 0)
                        r = mk_error_set(err, errno, "%s: cannot open the image: %s", ctx, strerror(errno));
                else if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < offset + size)
                        r = mk_error_set(err, EINVAL,
                                         "%s: the image must be a regular file of at least %" PRIu64
                                         " bytes to hold the ESP (it is %" PRIu64 " bytes; a bug in mkimage)",
                                         ctx, offset + size, (uint64_t)st.st_size);
        }
        /*
         * The file system is made in memory (a memfd the tools get as fd 3),
         * then its data ranges are copied into the image: mkfs.vfat's fsync
         * would otherwise wait for everything written to the image so far.
         */
        _cleanup_close_ int mem = -1;
        if (r == 0 && ((mem = memfd_create("mkimage-esp", MFD_CLOEXEC)) < 0 || ftruncate(mem, (off_t)size) < 0))
                r = mk_error_set(err, errno, "%s: cannot make the ESP in memory: %s", ctx, strerror(errno));
        static const char tool_path[] = "/proc/self/fd/3";
        uint64_t csize = 0, clusters = 0;
        if (r == 0)
                r = make_fat32(mem, tool_path, mem, ctx, 0, size, label, o->volume_id, &csize, &clusters, err);
        if (r == 0 && plan_bytes(&p, sizes, csize) > clusters * csize)
                r = too_big(ctx, &p, sizes, plan_bytes(&p, sizes, csize), "the FAT32 file system has room for",
                            clusters * csize, csize, err);
        if (r == 0)
                r = run_mtools(tool_path, mem, ctx, 0, &p, fds, when, err);
        if (r == 0 && (r = zero_range(fd, ctx, offset, size, err)) == 0 &&
            (r = mk_copy_data(mem, 0, size, fd, offset)) < 0)
                r = mk_error_set(err, -r, "%s: writing the ESP: %s", ctx, strerror(-r));

        plan_free(&p);
        close_all(fds, n);
        return r;
}
