/* SPDX-License-Identifier: MIT */
/* `mkimage bundle`: a bundle cut from a built image (builder/bundle/bundle-write.h). */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "builder/bundle/bundle-delta.h"
#include "builder/bundle/bundle-write.h"
#include "builder/esp/esp.h"
#include "builder/image/digest.h"
#include "builder/image/gpt.h"
#include "builder/image/output.h"
#include "builder/image/verity.h"
#include "signing/base/epoch.h"
#include "signing/base/fileio.h"
#include "signing/bundle/bundle.h"
#include "signing/conventions/conventions.h"
#include "signing/manifest/manifest.h"
#include "signing/minisign/minisign.h"
#include "signing/verity/vtree.h"

#define BOOT_FILE_MAX ((size_t)512 << 20)
#define COPY_CHUNK ((size_t)1 << 20)

typedef struct blob {
        char *data; /* malloc'd */
        size_t len;
} blob;

typedef struct cut cut;

/* The check of a full bundle's root against its tree, on its own thread (check_root). */
typedef struct root_check {
        const cut *c;
        pthread_t thread;
        bool running;
        int r;
        mk_error err;
} root_check;

struct cut {
        const mk_bundle_write_opts *o;
        int fd; /* the image */
        mk_gpt *gpt;
        uint64_t esp_off;
        blob mf[2], sig[2]; /* slot a's and b's manifest and signature, from the ESP */
        mk_manifest *m[2];
        const mk_gpt_part *root_part, *verity_part[2];
        uint64_t hash_size;
        blob verity[2];
        blob files[2 * 16]; /* boot files, one per digest, sorted by digest */
        char file_sha[2 * 16][65];
        size_t n_files;
        mk_bundle_manifest bm;
        mk_bundle_part parts[MK_BUNDLE_PARTS_MAX];
        /* A delta (--from): its base, the ranges of the root it holds, their encoding, the bytes left. */
        bool delta;
        mk_delta_base base;
        mk_bundle_range *ranges;
        size_t n_ranges;
        blob ranges_blob;
        uint64_t literal_size;
        char literal_sha[65];
        root_check check;
};

/* Wait for the root's check; its result. */
static int check_wait(cut *c, mk_error *err)
{
        if (c->check.running) {
                pthread_join(c->check.thread, NULL);
                c->check.running = false;
        }
        return c->check.r < 0 ? mk_error_set(err, -c->check.r, "%s", c->check.err.msg) : 0;
}

static void cut_done(cut *c)
{
        mk_error ignore = {0};
        (void)check_wait(c, &ignore);
        for (int s = 0; s < 2; s++) {
                free(c->mf[s].data);
                free(c->sig[s].data);
                free(c->verity[s].data);
                mk_manifest_free(c->m[s]);
        }
        for (size_t i = 0; i < c->n_files; i++)
                free(c->files[i].data);
        free(c->ranges);
        free(c->ranges_blob.data);
        if (c->delta)
                mk_delta_base_done(&c->base);
        free(c->gpt);
        if (c->fd >= 0)
                close(c->fd);
}

static const mk_gpt_part *find_part(const mk_gpt *g, const char *name)
{
        for (unsigned i = 0; i < g->n_parts; i++)
                if (!strcmp(g->parts[i].name, name))
                        return &g->parts[i];
        return NULL;
}

/* The image open, its GPT read and its ESP found. */
static int open_image(cut *c, mk_error *err)
{
        const char *img = c->o->image_path;
        if ((c->fd = open(img, O_RDONLY | O_CLOEXEC)) < 0)
                return mk_error_set(err, errno, "%s: %s", img, strerror(errno));
        int r = mk_gpt_read_fd(c->fd, img, &c->gpt, err);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < c->gpt->n_parts; i++)
                if (!strcasecmp(c->gpt->parts[i].type_guid, MK_ESP_TYPE_GUID)) {
                        c->esp_off = c->gpt->parts[i].start;
                        return 0;
                }
        return mk_error_set(err, EBADMSG, "%s: no EFI system partition: not an image mkimage built", img);
}

/* Slot s's manifest and signature from the ESP, verified with key and parsed. */
static int read_manifest(cut *c, unsigned s, const mk_pubkey *key, mk_error *err)
{
        const char *img = c->o->image_path;
        char path[64], sig_path[80];
        snprintf(path, sizeof(path), MK_SLOT_MANIFEST_FMT, 'a' + s);
        snprintf(sig_path, sizeof(sig_path), "%s" MK_SIG_SUFFIX, path);
        int r = mk_esp_read(img, c->esp_off, path, MK_MANIFEST_MAX, &c->mf[s].data, &c->mf[s].len, err);
        if (r < 0)
                return mk_error_prefix(err, r,
                                       "%s: slot %c has no manifest on the ESP (a bundle is cut from an image whose "
                                       "two slots are populated)",
                                       img, 'a' + s);
        if ((r = mk_esp_read(img, c->esp_off, sig_path, MK_MINISIGN_FILE_MAX, &c->sig[s].data, &c->sig[s].len, err)) <
            0)
                return mk_error_prefix(err, r, "%s", img);
        char dname[256], sname[256];
        snprintf(dname, sizeof(dname), "%s: ESP /%s", img, path);
        snprintf(sname, sizeof(sname), "%s: ESP /%s", img, sig_path);
        mk_verified v = {0};
        mk_verify_result vr = mk_verify_buffer_with_key(key, dname, c->mf[s].data, c->mf[s].len, sname, c->sig[s].data,
                                                        c->sig[s].len, &v, err);
        if (vr != MK_VERIFY_OK)
                return mk_error_prefix(err, -EKEYREJECTED,
                                       "the bundle's key (--sign-key) must be the key that signed the image's "
                                       "manifests");
        mk_verified_done(&v);
        if ((r = mk_manifest_parse(dname, c->mf[s].data, c->mf[s].len, &c->m[s], err)) < 0)
                return r;
        if (c->m[s]->slot != 'a' + (int)s)
                return mk_error_set(err, EBADMSG, "%s: is slot %c's manifest", dname, c->m[s]->slot);
        return 0;
}

/* The two manifests describe one root and one release. */
static int check_agree(const cut *c, mk_error *err)
{
        const mk_manifest *a = c->m[0], *b = c->m[1];
        if (strcmp(a->model, b->model) || strcmp(a->brand, b->brand) || a->version != b->version ||
            a->root.size != b->root.size || strcmp(a->root.sha256, b->root.sha256))
                return mk_error_set(err, EBADMSG,
                                    "%s: slots a and b hold different releases (model, brand, version or root "
                                    "differ): a bundle is cut from a freshly built image",
                                    c->o->image_path);
        return 0;
}

/* The root and hash partitions the manifests name, and the hash areas (superblock + tree). */
static int read_slots(cut *c, mk_error *err)
{
        const char *img = c->o->image_path;
        c->hash_size = mk_verity_hash_size(c->m[0]->root.verity.data_blocks);
        if (!(c->root_part = find_part(c->gpt, c->m[0]->root.partition)) || c->root_part->size < c->m[0]->root.size)
                return mk_error_set(err, EBADMSG, "%s: no partition '%s' holding the %llu-byte root", img,
                                    c->m[0]->root.partition, (unsigned long long)c->m[0]->root.size);
        for (unsigned s = 0; s < 2; s++) {
                const char *name = c->m[s]->root.verity.partition;
                const mk_gpt_part *p = find_part(c->gpt, name);
                if (!p || p->size < c->hash_size)
                        return mk_error_set(err, EBADMSG, "%s: no partition '%s' holding slot %c's %llu-byte tree", img,
                                            name, 'a' + s, (unsigned long long)c->hash_size);
                c->verity_part[s] = p;
                if (!(c->verity[s].data = malloc(c->hash_size)))
                        return mk_error_set(err, ENOMEM, "out of memory");
                c->verity[s].len = c->hash_size;
                int r = mk_pread_all(c->fd, c->verity[s].data, c->hash_size, p->start);
                if (r < 0)
                        return mk_error_set(err, -r, "%s: reading partition %s: %s", img, name, strerror(-r));
        }
        return 0;
}

/*
 * Where the file a manifest names is on the ESP: the path itself, except for
 * a slot's boot entry, which the manifest names without its boot counter
 * ("/loader/entries/slot-a.conf", or a Secure Boot image's signed UKI
 * "/EFI/Linux/slot-a.efi") and the ESP holds with it ("slot-a+3.conf",
 * "slot-a+3.efi"), in the same folder and of the same kind.
 */
static int esp_source(cut *c, const char *path, char *out, size_t size, mk_error *err)
{
        static const char *const dirs[] = {MK_ESP_ENTRIES_DIR, MK_ESP_UKI_DIR};
        const char *dir = NULL;
        char slot, s;
        int left, done;
        snprintf(out, size, "%s", path);
        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && !dir; i++)
                if (path[0] == '/' && !strncmp(path + 1, dirs[i], strlen(dirs[i])) && path[strlen(dirs[i]) + 1] == '/')
                        dir = dirs[i];
        const char *base = dir ? path + strlen(dir) + 2 : NULL;
        if (!dir || !mk_bls_entry_parse(base, &slot, &left, &done))
                return 0;
        bool uki = mk_bls_entry_is_uki(base);
        char **names = NULL;
        int r = mk_esp_list(c->o->image_path, c->esp_off, dir, MK_ESP_LIST_MAX, &names, err);
        if (r < 0)
                return mk_error_prefix(err, r, "%s", c->o->image_path);
        size_t found = 0;
        for (size_t i = 0; names[i]; i++)
                if (mk_bls_entry_parse(names[i], &s, &left, &done) && s == slot &&
                    mk_bls_entry_is_uki(names[i]) == uki) {
                        snprintf(out, size, "/%s/%s", dir, names[i]);
                        found++;
                }
        mk_esp_names_free(names);
        if (found != 1)
                return mk_error_set(err, EBADMSG, "%s: slot %c has %zu boot entries on the ESP, mkimage writes one",
                                    c->o->image_path, slot, found);
        return 0;
}

static int cmp_sha(const void *x, const void *y)
{
        return strcmp(x, y);
}

/* Every boot file of both manifests, once per digest, checked against it. */
static int read_files(cut *c, mk_error *err)
{
        for (unsigned s = 0; s < 2; s++)
                for (size_t i = 0; i < c->m[s]->n_boot; i++) {
                        const mk_manifest_file *f = &c->m[s]->boot[i];
                        bool have = c->delta && mk_delta_base_has_file(&c->base, f->sha256);
                        for (size_t j = 0; j < c->n_files && !have; j++)
                                have = !strcmp(c->file_sha[j], f->sha256);
                        if (have)
                                continue;
                        if (c->n_files == sizeof(c->files) / sizeof(c->files[0]))
                                return mk_error_set(err, E2BIG, "%s: more boot files than a bundle holds",
                                                    c->o->image_path);
                        snprintf(c->file_sha[c->n_files++], 65, "%s", f->sha256);
                }
        qsort(c->file_sha, c->n_files, sizeof(c->file_sha[0]), cmp_sha);
        for (size_t j = 0; j < c->n_files; j++) {
                const char *path = NULL; /* a path with this digest */
                for (unsigned s = 0; s < 2 && !path; s++)
                        for (size_t i = 0; i < c->m[s]->n_boot && !path; i++)
                                if (!strcmp(c->m[s]->boot[i].sha256, c->file_sha[j]))
                                        path = c->m[s]->boot[i].path;
                char src[4096];
                int r = esp_source(c, path, src, sizeof(src), err);
                if (r < 0)
                        return r;
                if ((r = mk_esp_read(c->o->image_path, c->esp_off, src, BOOT_FILE_MAX, &c->files[j].data,
                                     &c->files[j].len, err)) < 0)
                        return mk_error_prefix(err, r, "%s", c->o->image_path);
                char hex[65];
                mk_sha256_buffer(c->files[j].data, c->files[j].len, hex);
                if (strcmp(hex, c->file_sha[j]))
                        return mk_error_set(err, EBADMSG,
                                            "%s: ESP %s does not match its manifest's sha256 (check the image with "
                                            "`mkimage verify`)",
                                            c->o->image_path, path);
        }
        return 0;
}

static uint64_t align_up(uint64_t v)
{
        return (v + MK_BUNDLE_ALIGN - 1) / MK_BUNDLE_ALIGN * MK_BUNDLE_ALIGN;
}

static void add_part(cut *c, mk_bundle_kind kind, char slot, uint64_t *at, uint64_t size, const char *sha256)
{
        mk_bundle_part *p = &c->parts[c->bm.n_parts++];
        *p = (mk_bundle_part){.kind = kind, .slot = slot, .offset = *at, .size = size};
        snprintf(p->sha256, sizeof(p->sha256), "%s", sha256);
        *at = align_up(*at + size);
}

/* Lay the parts out from start; the bundle ends where the root does. */
static void layout(cut *c, uint64_t start)
{
        uint64_t at = start;
        char hex[65];
        c->bm.n_parts = 0;
        for (unsigned s = 0; s < 2; s++) {
                mk_sha256_buffer(c->mf[s].data, c->mf[s].len, hex);
                add_part(c, MK_BPART_MANIFEST, (char)('a' + s), &at, c->mf[s].len, hex);
                mk_sha256_buffer(c->sig[s].data, c->sig[s].len, hex);
                add_part(c, MK_BPART_SIGNATURE, (char)('a' + s), &at, c->sig[s].len, hex);
        }
        if (c->delta) {
                mk_sha256_buffer(c->ranges_blob.data, c->ranges_blob.len, hex);
                add_part(c, MK_BPART_RANGES, 0, &at, c->ranges_blob.len, hex);
        }
        for (unsigned s = 0; s < 2; s++) {
                mk_sha256_buffer(c->verity[s].data, c->verity[s].len, hex);
                add_part(c, MK_BPART_VERITY, (char)('a' + s), &at, c->verity[s].len, hex);
        }
        for (size_t j = 0; j < c->n_files; j++)
                add_part(c, MK_BPART_FILE, 0, &at, c->files[j].len, c->file_sha[j]);
        mk_bundle_part *root = &c->parts[c->bm.n_parts];
        if (c->delta)
                add_part(c, MK_BPART_ROOT, 0, &at, c->literal_size, c->literal_sha);
        else
                add_part(c, MK_BPART_ROOT, 0, &at, c->m[0]->root.size, c->m[0]->root.sha256);
        c->bm.size = root->offset + root->size;
}

/*
 * The signed bundle manifest: the parts' offsets depend on its length and its signature's, so lay out,
 * emit and sign until the start of the parts stays where it was (twice in practice).
 */
static int make_manifest(cut *c, const mk_seckey *key, char **ret_text, char **ret_sig, mk_bundle_header *h,
                         mk_error *err)
{
        uint64_t start = align_up(MK_BUNDLE_HEADER + 1);
        for (int round = 0; round < 8; round++) {
                layout(c, start);
                char *text = NULL, *sig = NULL;
                size_t len;
                int r = mk_bundle_manifest_emit(&c->bm, &text, &len, err);
                if (r < 0)
                        return r;
                if ((r = mk_sign_buffer(key, MK_BUNDLE_SIG_NAME, text, len, NULL, &sig, err)) < 0) {
                        free(text);
                        return r;
                }
                *h = (mk_bundle_header){
                        .format = MK_BUNDLE_FORMAT, .manifest_len = len, .sig_len = strlen(sig), .size = c->bm.size};
                if (mk_bundle_parts_start(h) == start) {
                        *ret_text = text;
                        *ret_sig = sig;
                        return 0;
                }
                start = mk_bundle_parts_start(h);
                free(text);
                free(sig);
        }
        return mk_error_set(err, EDEADLK, "the bundle manifest's length does not settle");
}

/*
 * The root's bytes that no range covers (all of them in a full bundle), in
 * order, hashed into hex and, when out >= 0, written at at of out: the root
 * part. Ranges are sorted and disjoint (mk_delta_plan).
 */
static int walk_literal(cut *c, int out, uint64_t at, const char *out_name, char hex[65], mk_error *err)
{
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        char *buf = malloc(COPY_CHUNK);
        int r = 0;
        if (!md || !buf || !EVP_DigestInit_ex(md, EVP_sha256(), NULL)) {
                r = mk_error_set(err, ENOMEM, "out of memory");
                goto out;
        }
        uint64_t size = c->m[0]->root.size, done = 0, total = c->delta ? c->literal_size : size;
        for (size_t i = 0; i <= c->n_ranges; i++) {
                uint64_t from = i ? c->ranges[i - 1].dst + c->ranges[i - 1].len : 0,
                         to = i < c->n_ranges ? c->ranges[i].dst : size;
                while (from < to) {
                        size_t n = to - from < COPY_CHUNK ? (size_t)(to - from) : COPY_CHUNK;
                        if ((r = mk_pread_all(c->fd, buf, n, c->root_part->start + from)) < 0) {
                                r = mk_error_set(err, -r, "%s: reading the root: %s", c->o->image_path, strerror(-r));
                                goto out;
                        }
                        if (out >= 0 && (r = mk_pwrite_all(out, buf, n, at + done)) < 0) {
                                r = mk_error_set(err, -r, "%s: %s", out_name, strerror(-r));
                                goto out;
                        }
                        EVP_DigestUpdate(md, buf, n);
                        from += n;
                        done += n;
                        if (out >= 0 && c->o->progress)
                                c->o->progress(c->o->userdata, "bundle", done, total, true);
                }
        }
        uint8_t d[32];
        EVP_DigestFinal_ex(md, d, NULL);
        mk_hex(d, sizeof(d), hex);
out:
        free(buf);
        EVP_MD_CTX_free(md);
        return r;
}

/*
 * The image's root, block by block against slot a's hash tree (read from
 * its verity partition and checked against the manifest's root hash), on
 * every CPU but the one copying: the root is then exactly what the manifest
 * signed. Through a read-only mapping, so the checking copies nothing.
 */
static bool unhex(const char *hex, uint8_t *out, size_t size)
{
        size_t n = 0;
        return sodium_hex2bin(out, size, hex, strlen(hex), NULL, &n, NULL) == 0 && n == size;
}

static void *check_root(void *arg)
{
        root_check *k = arg;
        const cut *c = k->c;
        const mk_manifest *m = c->m[0];
        uint64_t blocks = m->root.verity.data_blocks, len = blocks * MK_VERITY_BLOCK;
        uint8_t salt[MK_VERITY_SALT], root[32];
        mk_vtree t;
        if (!unhex(m->root.verity.salt, salt, sizeof(salt)) || !unhex(m->root.verity.root_hash, root, sizeof(root))) {
                k->r = mk_error_set(&k->err, EBADMSG, "%s: slot a's manifest has a malformed salt or root hash",
                                    c->o->image_path);
                return NULL;
        }
        mk_error why = {0};
        if (m->root.size > len ||
            mk_vtree_open((const uint8_t *)c->verity[0].data, c->verity[0].len, blocks, salt, root, &t, &why) < 0) {
                k->r = mk_error_set(&k->err, EBADMSG, "%s: partition %s does not hold slot a's hash tree (%s)",
                                    c->o->image_path, c->verity_part[0]->name,
                                    m->root.size > len ? "it covers less than the root" : why.msg);
                return NULL;
        }
        long page = sysconf(_SC_PAGESIZE);
        uint64_t start = c->root_part->start, lead = start % (uint64_t)page;
        uint8_t *map = mmap(NULL, len + lead, PROT_READ, MAP_SHARED | MAP_POPULATE, c->fd, (off_t)(start - lead));
        if (map == MAP_FAILED) {
                k->r = mk_error_set(&k->err, errno, "%s: mapping the root: %s", c->o->image_path, strerror(errno));
                return NULL;
        }
        unsigned threads = mk_vtree_threads();
        uint64_t bad = mk_vtree_check(&t, 0, map + lead, blocks, threads);
        munmap(map, len + lead);
        if (bad < blocks)
                k->r = mk_error_set(&k->err, EBADMSG,
                                    "%s: block %llu of the root in partition %s does not match its hash tree (check "
                                    "the image with `mkimage verify`)",
                                    c->o->image_path, (unsigned long long)bad, c->root_part->name);
        return NULL;
}

/*
 * A full bundle's root: copied in the kernel (copy_file_range, as cp does),
 * each chunk's write-out started at once, while other threads check the
 * same bytes of the image against the tree (check_root, started earlier); a delta's literal
 * bytes through a buffer (walk_literal). Either way the root must be what
 * the manifests signed.
 */
static int copy_full_root(cut *c, int out, const mk_bundle_part *p, const char *out_name, mk_error *err)
{
        int r = 0;
        uint64_t start = c->root_part->start;
        for (uint64_t done = 0; done < p->size && r >= 0;) {
                uint64_t n = p->size - done < 8 * COPY_CHUNK ? p->size - done : 8 * COPY_CHUNK;
                if ((r = mk_copy_data(c->fd, start + done, n, out, p->offset + done)) < 0)
                        r = mk_error_set(err, -r, "%s: copying the root: %s", out_name, strerror(-r));
                else
                        (void)sync_file_range(out, (off_t)(p->offset + done), (off_t)n, SYNC_FILE_RANGE_WRITE);
                done += n;
                if (r >= 0 && c->o->progress)
                        c->o->progress(c->o->userdata, "bundle", done, p->size, true);
        }
        return r < 0 ? r : check_wait(c, err); /* cut_done waits for it too */
}

/* A full bundle's root check starts as soon as the tree is read: it runs while the boot files are read. */
static int check_start(cut *c, mk_error *err)
{
        c->check.c = c;
        int e = pthread_create(&c->check.thread, NULL, check_root, &c->check);
        if (e)
                return mk_error_set(err, e, "starting a thread: %s", strerror(e));
        c->check.running = true;
        return 0;
}

/* The root from the image into the bundle, hashed on the way: it must be what the manifests signed. */
static int copy_root(cut *c, int out, const mk_bundle_part *p, const char *out_name, mk_error *err)
{
        if (!c->delta)
                return copy_full_root(c, out, p, out_name, err);
        char hex[65] = "";
        int r = walk_literal(c, out, p->offset, out_name, hex, err);
        if (r >= 0 && strcmp(hex, p->sha256))
                r = mk_error_set(err, EBADMSG,
                                 "%s: the root in partition %s does not match its manifest's sha256 (check the "
                                 "image with `mkimage verify`)",
                                 c->o->image_path, c->root_part->name);
        return r;
}

static int write_bundle(cut *c, const char *text, const char *sig, const mk_bundle_header *h, mk_error *err)
{
        const char *out_name = c->o->out_path;
        mk_output *o = NULL;
        int r = mk_output_open(out_name, &o, err);
        if (r < 0)
                return r;
        int fd = mk_output_fd(o);
        uint8_t hdr[MK_BUNDLE_HEADER];
        mk_bundle_header_encode(h, hdr);
        const blob *small[MK_BUNDLE_PARTS_MAX] = {0};
        for (size_t i = 0, nf = 0; i < c->bm.n_parts; i++) {
                const mk_bundle_part *p = &c->parts[i];
                unsigned s = p->slot == 'b';
                small[i] = p->kind == MK_BPART_MANIFEST    ? &c->mf[s]
                           : p->kind == MK_BPART_SIGNATURE ? &c->sig[s]
                           : p->kind == MK_BPART_VERITY    ? &c->verity[s]
                           : p->kind == MK_BPART_RANGES    ? &c->ranges_blob
                           : p->kind == MK_BPART_FILE      ? &c->files[nf++]
                                                           : NULL;
        }
        if (ftruncate(fd, (off_t)h->size) < 0) {
                r = mk_error_set(err, errno, "%s: %s", out_name, strerror(errno));
                goto fail;
        }
        if ((r = mk_pwrite_all(fd, hdr, sizeof(hdr), 0)) < 0 ||
            (r = mk_pwrite_all(fd, text, h->manifest_len, MK_BUNDLE_HEADER)) < 0 ||
            (r = mk_pwrite_all(fd, sig, h->sig_len, MK_BUNDLE_HEADER + h->manifest_len)) < 0) {
                r = mk_error_set(err, -r, "%s: %s", out_name, strerror(-r));
                goto fail;
        }
        for (size_t i = 0; i < c->bm.n_parts; i++) {
                const mk_bundle_part *p = &c->parts[i];
                if (small[i] && (r = mk_pwrite_all(fd, small[i]->data, small[i]->len, p->offset)) >= 0)
                        (void)sync_file_range(fd, (off_t)p->offset, (off_t)small[i]->len, SYNC_FILE_RANGE_WRITE);
                if (r < 0) {
                        r = mk_error_set(err, -r, "%s: %s", out_name, strerror(-r));
                        goto fail;
                }
                if (p->kind == MK_BPART_ROOT && (r = copy_root(c, fd, p, out_name, err)) < 0)
                        goto fail;
        }
        return mk_output_commit(o, err);
fail:
        mk_output_abort(o);
        return r;
}

/* OLD as an image: its slots read as a bundle's would be, then handed over as the base. */
static int base_from_image(const char *path, const mk_pubkey *pk, mk_delta_base *b, mk_error *err)
{
        mk_bundle_write_opts oo = {.image_path = path};
        cut old = {.o = &oo, .fd = -1};
        int r = open_image(&old, err);
        if (r >= 0 && (r = read_manifest(&old, 0, pk, err)) >= 0 && (r = read_manifest(&old, 1, pk, err)) >= 0 &&
            (r = check_agree(&old, err)) >= 0 && (r = read_slots(&old, err)) >= 0) {
                *b = (mk_delta_base){
                        .name = path, .m = {old.m[0], old.m[1]}, .fd = old.fd, .root_off = old.root_part->start};
                old.m[0] = old.m[1] = NULL;
                old.fd = -1;
        }
        cut_done(&old);
        return r;
}

/* --from: the base, checked to be an earlier release of this model, and the ranges of the root it holds. */
static int plan_delta(cut *c, const mk_pubkey *pk, mk_error *err)
{
        const char *from = c->o->from_path;
        int r = mk_bundle_is_file(from) ? mk_delta_base_from_bundle(from, pk, &c->base, err)
                                        : base_from_image(from, pk, &c->base, err);
        if (r < 0)
                return r;
        c->delta = true;
        const mk_manifest *old = c->base.m[0], *m = c->m[0];
        if (strcmp(old->model, m->model) || strcmp(old->brand, m->brand))
                return mk_error_set(err, EINVAL, "%s: is model %s (brand %s), the bundle is for %s (brand %s)", from,
                                    old->model, old->brand, m->model, m->brand);
        if (old->version >= m->version)
                return mk_error_set(err, EINVAL,
                                    "%s: is version %llu, not below the bundle's version %llu (--from takes an "
                                    "earlier release)",
                                    from, (unsigned long long)old->version, (unsigned long long)m->version);
        uint64_t covered;
        if ((r = mk_delta_plan(c->fd, c->o->image_path, c->root_part->start, m->root.size, &c->base, &c->ranges,
                               &c->n_ranges, &covered, err)) < 0)
                return r;
        c->literal_size = m->root.size - covered;
        if (!(c->ranges_blob.data = malloc(c->n_ranges ? c->n_ranges * MK_BUNDLE_RANGE_SIZE : 1)))
                return mk_error_set(err, ENOMEM, "out of memory");
        c->ranges_blob.len = c->n_ranges * MK_BUNDLE_RANGE_SIZE;
        for (size_t i = 0; i < c->n_ranges; i++)
                mk_bundle_range_encode(&c->ranges[i], (uint8_t *)c->ranges_blob.data + i * MK_BUNDLE_RANGE_SIZE);
        c->bm.delta = true;
        c->bm.from = (mk_bundle_base){.version = old->version, .root_size = old->root.size};
        snprintf(c->bm.from.root_sha256, sizeof(c->bm.from.root_sha256), "%s", old->root.sha256);
        return walk_literal(c, -1, 0, NULL, c->literal_sha, err);
}

int mk_bundle_write(const mk_bundle_write_opts *o, mk_bundle_write_result *ret, mk_error *err)
{
        cut c = {.o = o, .fd = -1};
        _cleanup_seckey_ mk_seckey *sk = NULL;
        _cleanup_pubkey_ mk_pubkey *pk = NULL;
        char *text = NULL, *sig = NULL;
        mk_bundle_header h;
        int r = mk_seckey_load(o->sign_key, &sk, err);
        if (r < 0 || (r = mk_seckey_public(sk, &pk, err)) < 0)
                goto out;
        if ((r = open_image(&c, err)) < 0 || (r = read_manifest(&c, 0, pk, err)) < 0 ||
            (r = read_manifest(&c, 1, pk, err)) < 0 || (r = check_agree(&c, err)) < 0 || (r = read_slots(&c, err)) < 0)
                goto out;
        c.bm = (mk_bundle_manifest){
                .model = c.m[0]->model, .brand = c.m[0]->brand, .version = c.m[0]->version, .parts = c.parts};
        if ((o->from_path ? (r = plan_delta(&c, pk, err)) : (r = check_start(&c, err))) < 0 ||
            (r = read_files(&c, err)) < 0)
                goto out;
        mk_format_utc(o->source_date_epoch, c.bm.created);
        if ((r = make_manifest(&c, sk, &text, &sig, &h, err)) < 0 || (r = write_bundle(&c, text, sig, &h, err)) < 0)
                goto out;
        if (ret)
                *ret = (mk_bundle_write_result){.size = h.size,
                                                .version = c.m[0]->version,
                                                .n_parts = (unsigned)c.bm.n_parts,
                                                .root_size = c.m[0]->root.size,
                                                .delta = c.delta,
                                                .root_shipped = c.delta ? c.literal_size : c.m[0]->root.size,
                                                .n_ranges = c.n_ranges};
out:
        free(text);
        free(sig);
        cut_done(&c);
        return r;
}
