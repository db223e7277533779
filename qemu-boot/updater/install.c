/* SPDX-License-Identifier: MIT */
/*
 * `mkimage-update install`: the protocol of docs/update.md, one console line
 * per step. Nothing is written before the bundle's signature, model and
 * version are checked and every size is known to fit; the target slot is
 * made unbootable before its first byte changes; every root block is
 * checked against the slot's authenticated hash tree before it is written
 * and again when read back; the new boot entry appears by one rename. The
 * entry is a type #1 one in loader/entries, or for a Secure Boot release
 * (its manifest has a uki block) the slot's signed UKI in EFI/Linux, which
 * is the whole boot unit (kernel, initrd, command line): either kind may
 * replace either.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "qemu-boot/updater/install.h"
#include "signing/base/fileio.h"
#include "signing/base/sha256.h"
#include "signing/conventions/conventions.h"
#include "signing/minisign/minisign.h"

static void inst_done(inst *s)
{
        mk_bundle_free(s->b);
        mk_pubkey_free(s->key);
        mk_manifest_free(s->running);
        mk_manifest_free(s->m);
        free(s->mf_text);
        free(s->mf_sig);
        free(s->verity);
        for (size_t i = 0; i < MK_BUNDLE_PARTS_MAX; i++)
                free(s->files[i]);
        for (size_t k = 0; s->local && s->m && k < s->m->n_boot; k++)
                free(s->local[k]);
        free(s->local);
        free(s->local_len);
        free(s->ranges);
}

static int sync_disk(inst *s, mk_error *err)
{
        if (fsync(s->c->disk.fd) < 0)
                return mk_error_set(err, errno, "%s: fsync: %s", s->c->disk.path, strerror(errno));
        return 0;
}

/* The running slot's manifest from the ESP, verified: what this device is. */
static int read_running(inst *s, mk_error *err)
{
        char path[64], sigp[80], *text = NULL, *sig = NULL;
        size_t len, slen;
        snprintf(path, sizeof(path), MK_SLOT_MANIFEST_FMT, s->c->booted);
        snprintf(sigp, sizeof(sigp), "%s" MK_SIG_SUFFIX, path);
        int r = upd_esp_read(&s->c->esp, path, MK_MANIFEST_MAX, &text, &len, err);
        if (r >= 0)
                r = upd_esp_read(&s->c->esp, sigp, MK_MINISIGN_FILE_MAX, &sig, &slen, err);
        if (r >= 0) {
                mk_verified v = {0};
                if (mk_verify_buffer_with_key(s->key, path, text, len, sigp, sig, slen, &v, err) != MK_VERIFY_OK)
                        r = -EKEYREJECTED;
                mk_verified_done(&v);
        }
        if (r >= 0)
                r = mk_manifest_parse(path, text, len, &s->running, err);
        free(text);
        free(sig);
        return r < 0 ? mk_error_prefix(err, r, "the running slot %c", s->c->booted) : 0;
}

/* Step 1: the bundle manifest (signature first), this device's model, the version rules. */
static int step_check(inst *s, int *fd, const char *name, mk_error *err)
{
        int r = mk_bundle_open(name, mk_bundle_read_fd, fd, NULL, s->key, &s->b, err);
        if (r < 0)
                return r;
        const mk_bundle_manifest *bm = s->b->manifest;
        if (strcmp(bm->model, s->running->model) || strcmp(bm->brand, s->running->brand))
                return mk_error_set(err, EPERM, "%s: is for model %s (brand %s), this device is %s (brand %s)", name,
                                    bm->model, bm->brand, s->running->model, s->running->brand);
        if (bm->version < s->c->min_version)
                return mk_error_set(err, EPERM, "%s: version %llu is below this device's anti-rollback minimum %llu",
                                    name, (unsigned long long)bm->version, (unsigned long long)s->c->min_version);
        if (bm->version <= s->running->version && !s->c->allow_downgrade)
                return mk_error_set(err, EPERM,
                                    "%s: version %llu is not above the running version %llu (a rollback needs "
                                    "--allow-downgrade)",
                                    name, (unsigned long long)bm->version, (unsigned long long)s->running->version);
        upd_say("check", "bundle %s: %s version %llu signed by %s; slot %c runs version %llu, installing into slot %c",
                name, bm->model, (unsigned long long)bm->version, s->b->signer, s->c->booted,
                (unsigned long long)s->running->version, s->target);
        return 0;
}

/* The target's manifest and signature (both slots' are read: the stream holds them in order). */
static int read_manifests(inst *s, mk_error *err)
{
        const mk_bundle_manifest *bm = s->b->manifest;
        for (char slot = 'a'; slot <= 'b'; slot++) {
                const mk_bundle_part *pm = mk_bundle_find(bm, MK_BPART_MANIFEST, slot),
                                     *ps = mk_bundle_find(bm, MK_BPART_SIGNATURE, slot);
                if (slot != s->target) {
                        int r = mk_bundle_skip_part(s->b, pm, err);
                        if (r < 0 || (r = mk_bundle_skip_part(s->b, ps, err)) < 0)
                                return r;
                        continue;
                }
                int r = mk_bundle_read_part(s->b, pm, MK_MANIFEST_MAX, &s->mf_text, err);
                if (r < 0 || (r = mk_bundle_read_part(s->b, ps, MK_MINISIGN_FILE_MAX, &s->mf_sig, err)) < 0)
                        return r;
                s->mf_len = pm->size;
                s->sig_len = ps->size;
                mk_verified v = {0};
                if (mk_verify_buffer_with_key(s->key, "its slot manifest", s->mf_text, s->mf_len, "its signature",
                                              s->mf_sig, s->sig_len, &v, err) != MK_VERIFY_OK)
                        return mk_error_prefix(err, -EKEYREJECTED, "%s", s->b->name);
                mk_verified_done(&v);
                if ((r = mk_manifest_parse(s->b->name, s->mf_text, s->mf_len, &s->m, err)) < 0)
                        return r;
                if (s->m->slot != slot || strcmp(s->m->model, bm->model) || s->m->version != bm->version)
                        return mk_error_set(err, EBADMSG,
                                            "%s: slot %c's manifest is not this bundle's (slot, model or "
                                            "version)",
                                            s->b->name, slot);
        }
        return 0;
}

/*
 * The target's boot entry as its manifest names it, without a counter into
 * out ("/EFI/Linux/slot-b.efi" for a release that boots a UKI, else
 * "/loader/entries/slot-b.conf"); its folder on the ESP into *ret_dir.
 */
static void entry_path(const inst *s, const char **ret_dir, char *out, size_t size)
{
        char name[32];
        bool uki = s->m->uki.path != NULL;
        if (uki)
                mk_uki_entry_name((char[]){s->target, 0}, 0, name, sizeof(name));
        else
                mk_bls_entry_name((char[]){s->target, 0}, 0, name, sizeof(name));
        *ret_dir = uki ? MK_ESP_UKI_DIR : MK_ESP_ENTRIES_DIR;
        snprintf(out, size, "/%s/%s", *ret_dir, name);
}

/*
 * The ESP has room for what the install writes there: every boot file of the
 * target that is not already on the ESP under the same path with the same
 * digest (the running slot's manifest says which are: loader.conf,
 * systemd-boot, the enrolment files), the entry (written once, under its
 * temporary name: a UKI is most of the bytes), the manifest and its
 * signature, each rounded up to whole clusters, with no credit for the
 * target's old files (its old entry, a UKI too perhaps, still stands while
 * the new one is written).
 */
static int check_esp_room(inst *s, mk_error *err)
{
        uint64_t avail, cluster, need = 0;
        int r = upd_esp_free(&s->c->esp, &avail, &cluster, err);
        if (r < 0)
                return r;
        const char *dir;
        char entry[64];
        entry_path(s, &dir, entry, sizeof(entry));
#define CLUSTERS(n) (((uint64_t)(n) + cluster - 1) / cluster * cluster)
        for (size_t k = 0; k < s->m->n_boot; k++) {
                const mk_manifest_file *f = &s->m->boot[k];
                bool there = false;
                for (size_t j = 0; j < s->running->n_boot && !there; j++)
                        there = !strcmp(s->running->boot[j].path, f->path) &&
                                !strcmp(s->running->boot[j].sha256, f->sha256);
                const mk_bundle_part *p = mk_bundle_find_file(s->b->manifest, f->sha256);
                uint64_t size = p ? p->size : s->local && s->local[k] ? s->local_len[k] : 0;
                if (!there || !strcmp(f->path, entry))
                        need += CLUSTERS(size);
        }
        need += CLUSTERS(s->mf_len) + CLUSTERS(s->sig_len);
#undef CLUSTERS
        if (need > avail)
                return mk_error_set(err, ENOSPC,
                                    "the ESP has %llu bytes free, slot %c's boot files and manifest need %llu: "
                                    "free space on the ESP (or give it a larger partition) and install again",
                                    (unsigned long long)avail, s->target, (unsigned long long)need);
        return 0;
}

/* Everything fits where it goes: found before the first write. */
static int check_room(inst *s, mk_error *err)
{
        upd_disk *d = &s->c->disk;
        int r = upd_disk_find(d, s->m->root.partition, &s->root_idx, &s->root_start, &s->root_size, err);
        if (r < 0 || (r = upd_disk_find(d, s->m->root.verity.partition, &s->verity_idx, &s->verity_start,
                                        &s->verity_size, err)) < 0)
                return r;
        if (strcmp(s->m->root.partition, s->running->root.partition) == 0)
                return mk_error_set(err, EINVAL, "slot %c's manifest names partition %s, which the running slot uses",
                                    s->target, s->m->root.partition);
        const char *dir;
        char entry[64];
        bool has_entry = false;
        entry_path(s, &dir, entry, sizeof(entry));
        if (s->m->uki.path && strcmp(s->m->uki.path, entry))
                return mk_error_set(err, EBADMSG, "%s: slot %c's manifest names UKI %s, not the slot's %s", s->b->name,
                                    s->target, s->m->uki.path, entry);
        for (size_t k = 0; k < s->m->n_boot && !has_entry; k++)
                has_entry = !strcmp(s->m->boot[k].path, entry);
        if (!has_entry)
                return mk_error_set(err, EINVAL,
                                    "%s: slot %c's manifest names no boot entry %s: the release has no kernel to "
                                    "boot (its model needs a kernel component)",
                                    s->b->name, s->target, entry);
        uint64_t hash = mk_verity_hash_size(s->m->root.verity.data_blocks);
        if (s->m->root.size > s->root_size)
                return mk_error_set(err, ENOSPC, "partition %s holds %llu bytes, the new root needs %llu",
                                    s->m->root.partition, (unsigned long long)s->root_size,
                                    (unsigned long long)s->m->root.size);
        if (hash > s->verity_size)
                return mk_error_set(err, ENOSPC, "partition %s holds %llu bytes, the new hash tree needs %llu",
                                    s->m->root.verity.partition, (unsigned long long)s->verity_size,
                                    (unsigned long long)hash);
        return 0;
}

/* Step 2: the target's entry gets no tries left, so nothing half-written can ever boot. */
static int step_disable(inst *s, mk_error *err)
{
        char entry[256], bad[300], from[320], to[320];
        const char *dir = MK_ESP_ENTRIES_DIR;
        int r = upd_esp_entry_in(&s->c->esp, s->target, &dir, entry, sizeof(entry), err);
        if (r == -ENOENT) {
                upd_say("disable", "slot %c has no boot entry: nothing to disable", s->target);
                return 0;
        }
        if (r < 0)
                return r;
        mk_bls_entry_bad_name(entry, bad, sizeof(bad));
        if (strcmp(entry, bad)) {
                snprintf(from, sizeof(from), "%s/%s", dir, entry);
                snprintf(to, sizeof(to), "%s/%s", dir, bad);
                upd_write_point();
                if ((r = upd_esp_rename(&s->c->esp, from, to, err)) < 0 || (r = sync_disk(s, err)) < 0)
                        return r;
        }
        upd_say("disable", "slot %c's boot entry is %s: it cannot boot until the install commits", s->target, bad);
        return 0;
}

/* The target's hash area: authenticated by its digest, checked against the signed root hash, written. */
static int step_verity(inst *s, mk_error *err)
{
        const mk_bundle_manifest *bm = s->b->manifest;
        const mk_bundle_part *pa = mk_bundle_find(bm, MK_BPART_VERITY, 'a'),
                             *pb = mk_bundle_find(bm, MK_BPART_VERITY, 'b');
        const mk_bundle_part *mine = s->target == 'a' ? pa : pb;
        int r = 0;
        if (s->target == 'b')
                r = mk_bundle_skip_part(s->b, pa, err);
        if (r < 0 || (r = mk_bundle_read_part(s->b, mine, (size_t)s->verity_size, &s->verity, err)) < 0)
                return r;
        s->verity_len = mine->size;
        if (s->target == 'a' && (r = mk_bundle_skip_part(s->b, pb, err)) < 0)
                return r;
        uint8_t salt[MK_VERITY_SALT], root[32];
        sodium_hex2bin(salt, sizeof(salt), s->m->root.verity.salt, 64, NULL, NULL, NULL);
        sodium_hex2bin(root, sizeof(root), s->m->root.verity.root_hash, 64, NULL, NULL, NULL);
        if ((r = mk_vtree_open(s->verity, s->verity_len, s->m->root.verity.data_blocks, salt, root, &s->tree, err)) < 0)
                return mk_error_prefix(err, r, "%s: slot %c's hash tree", s->b->name, s->target);
        upd_write_point();
        if ((r = upd_write_slot(s->c->disk.fd, s->verity, s->verity_len, s->verity_start)) < 0)
                return mk_error_set(err, -r, "%s: writing %s: %s", s->c->disk.path, s->m->root.verity.partition,
                                    strerror(-r));
        upd_say("verity", "slot %c's hash tree (%llu bytes) checked against root hash %.16s… and written to %s",
                s->target, (unsigned long long)s->verity_len, s->m->root.verity.root_hash, s->m->root.verity.partition);
        return 0;
}

/* The boot files the target's manifest names, each read and checked against its digest. */
static int read_files(inst *s, mk_error *err)
{
        const mk_bundle_manifest *bm = s->b->manifest;
        for (size_t i = 0; i < bm->n_parts; i++) {
                const mk_bundle_part *p = &bm->parts[i];
                if (p->kind != MK_BPART_FILE)
                        continue;
                bool used = false;
                for (size_t k = 0; k < s->m->n_boot && !used; k++)
                        used = !strcmp(s->m->boot[k].sha256, p->sha256);
                int r = used ? mk_bundle_read_part(s->b, p, FILE_MAX, &s->files[i], err)
                             : mk_bundle_skip_part(s->b, p, err);
                if (r < 0)
                        return r;
        }
        for (size_t k = 0; k < s->m->n_boot; k++)
                if (!mk_bundle_find_file(bm, s->m->boot[k].sha256) && !(s->local && s->local[k]))
                        return mk_error_set(err, EBADMSG,
                                            "%s: slot %c's manifest names %s, which the bundle does not hold",
                                            s->b->name, s->target, s->m->boot[k].path);
        return 0;
}

/*
 * Where an interrupted install of this root stopped: the first block of the
 * target partition that is not the new root's (each checked against the
 * tree, so what is kept is exactly what was signed, wherever it came from).
 * The stream is read past the bytes of the blocks before it (a pipe cannot
 * seek) and *ret is that block; 0 on a slot that holds something else.
 */
static int resume_point(inst *s, uint8_t *buf, uint64_t *ret, mk_error *err)
{
        uint64_t blocks = s->m->root.verity.data_blocks, k = 0;
        bool differs = false;
        while (k < blocks && !differs) {
                uint64_t n = blocks - k < CHUNK_BLOCKS ? blocks - k : CHUNK_BLOCKS;
                int r = mk_pread_all(s->c->disk.fd, buf, (size_t)n * MK_VERITY_BLOCK,
                                     s->root_start + k * MK_VERITY_BLOCK);
                if (r < 0)
                        return mk_error_set(err, -r, "%s: reading %s: %s", s->c->disk.path, s->m->root.partition,
                                            strerror(-r));
                uint64_t good = mk_vtree_check(&s->tree, k, buf, n, s->threads);
                differs = good < n;
                k += good;
        }
        *ret = k;
        if (k == 0)
                return 0;
        for (uint64_t left = inst_stream_before(s, k * MK_VERITY_BLOCK); left;) {
                size_t n = left < (uint64_t)CHUNK_BLOCKS * MK_VERITY_BLOCK ? (size_t)left
                                                                           : (size_t)CHUNK_BLOCKS * MK_VERITY_BLOCK;
                int r = mk_bundle_read(s->b, buf, n, err);
                if (r < 0)
                        return r;
                left -= n;
        }
        upd_say("resume",
                "the first %llu of %llu blocks of %s already hold the new root (each checked against its tree): "
                "writing from block %llu",
                (unsigned long long)k, (unsigned long long)blocks, s->m->root.partition, (unsigned long long)k);
        return 0;
}

/*
 * Step 3: the root, block by block against the tree (a delta's blocks
 * assembled from its ranges and its bytes), then (step 4) read back and
 * checked again.
 */
static int step_root(inst *s, mk_error *err)
{
        const mk_bundle_part *p = mk_bundle_find(s->b->manifest, MK_BPART_ROOT, 0);
        uint8_t *buf = malloc((size_t)CHUNK_BLOCKS * MK_VERITY_BLOCK);
        if (!buf)
                return mk_error_set(err, ENOMEM, "out of memory");
        int r = mk_bundle_seek(s->b, p, err);
        uint64_t blocks = s->m->root.verity.data_blocks, i = 0;
        size_t ri = 0;
        if (r >= 0 && s->m->root.size > blocks * MK_VERITY_BLOCK)
                r = mk_error_set(err, EBADMSG, "%s: slot %c's root is larger than its hash tree covers", s->b->name,
                                 s->target);
        if (r >= 0)
                r = resume_point(s, buf, &i, err);
        while (r >= 0 && i < blocks) {
                uint64_t n = blocks - i < CHUNK_BLOCKS ? blocks - i : CHUNK_BLOCKS;
                if ((r = inst_assemble(s, i * MK_VERITY_BLOCK, (i + n) * MK_VERITY_BLOCK, buf, &ri, err)) < 0)
                        break;
                uint64_t k = mk_vtree_check(&s->tree, i, buf, n, s->threads);
                if (k < n) {
                        r = mk_error_set(err, EBADMSG,
                                         "%s: root block %llu does not match slot %c's hash tree (%s): nothing of it "
                                         "was written",
                                         s->b->name, (unsigned long long)(i + k), s->target,
                                         s->n_ranges ? "a damaged running root, or a damaged or tampered bundle"
                                                     : "damaged or tampered");
                        goto out;
                }
                upd_write_point();
                uint64_t off = s->root_start + i * MK_VERITY_BLOCK;
                if ((r = upd_write_slot(s->c->disk.fd, buf, (size_t)n * MK_VERITY_BLOCK, off)) < 0) {
                        r = mk_error_set(err, -r, "%s: writing %s: %s", s->c->disk.path, s->m->root.partition,
                                         strerror(-r));
                        break;
                }
                /* start writing it out now, while the next blocks are checked: the flush below has less to wait for */
                (void)sync_file_range(s->c->disk.fd, (off_t)off, (off_t)n * MK_VERITY_BLOCK, SYNC_FILE_RANGE_WRITE);
                i += n;
                upd_progress(i * MK_VERITY_BLOCK, blocks * MK_VERITY_BLOCK, i == blocks);
        }
        if (r >= 0 && s->b->pos != p->offset + p->size)
                r = mk_error_set(err, EBADMSG, "%s: the root part holds bytes the root does not use", s->b->name);
        if (r < 0)
                goto out;
        upd_say("root", "%llu bytes streamed into %s, every block checked before it was written",
                (unsigned long long)s->m->root.size, s->m->root.partition);
        if ((r = sync_disk(s, err)) < 0)
                goto out;
        /*
         * A disk's cached pages are dropped first, so what is checked is what the medium returns (a card that
         * wraps or loses writes shows here). An image file's blocks would come back from the host's page cache,
         * the bytes just checked and written: nothing to learn, so it is not read back.
         */
        struct stat st;
        if (fstat(s->c->disk.fd, &st) < 0 || !S_ISBLK(st.st_mode)) {
                upd_say("readback",
                        "%s is an image file, not a disk: its blocks would come back from the page cache, "
                        "so it is not read back",
                        s->c->disk.path);
                goto out;
        }
        (void)posix_fadvise(s->c->disk.fd, (off_t)s->root_start, (off_t)(blocks * MK_VERITY_BLOCK),
                            POSIX_FADV_DONTNEED);
        for (i = 0; i < blocks;) {
                uint64_t n = blocks - i < CHUNK_BLOCKS ? blocks - i : CHUNK_BLOCKS;
                if ((r = mk_pread_all(s->c->disk.fd, buf, (size_t)n * MK_VERITY_BLOCK,
                                      s->root_start + i * MK_VERITY_BLOCK)) < 0) {
                        r = mk_error_set(err, -r, "%s: reading back %s: %s", s->c->disk.path, s->m->root.partition,
                                         strerror(-r));
                        goto out;
                }
                uint64_t k = mk_vtree_check(&s->tree, i, buf, n, s->threads);
                if (k < n) {
                        r = mk_error_set(err, EIO, "%s: block %llu of %s reads back wrong: the disk did not keep it",
                                         s->c->disk.path, (unsigned long long)(i + k), s->m->root.partition);
                        goto out;
                }
                i += n;
        }
        upd_say("readback", "%s read back: its hash tree gives root hash %.16s…, the manifest's", s->m->root.partition,
                s->m->root.verity.root_hash);
out:
        free(buf);
        return r;
}

/*
 * Step 5: partition GUIDs, boot files, manifest, then the entry: written
 * under a temporary name systemd-boot does not list (it takes *.conf in
 * loader/entries and *.efi in EFI/Linux), the target's old entry (disabled
 * in step 2, in either folder) removed, the entry renamed into place. The
 * old entry goes before the rename, so that the slot never has two: a cut
 * between the two leaves it with none, which boots nothing and which the
 * next install starts from like any other. A UKI holds the kernel and the
 * initrd: a type #1 release's copies of them in the slot's folder are
 * removed after the commit (a cut before leaves them unused).
 */
static int step_commit(inst *s, mk_error *err)
{
        const upd_esp *e = &s->c->esp;
        unsigned idx[2] = {s->root_idx, s->verity_idx};
        const char *uuid[2] = {s->m->root.partuuid, s->m->root.verity.partuuid};
        upd_write_point();
        int r = upd_disk_set_uuids(&s->c->disk, idx, uuid, 2, err);
        if (r < 0)
                return r;
        const char *entry_text = NULL, *dir;
        size_t entry_len = 0;
        char entry[64];
        entry_path(s, &dir, entry, sizeof(entry));
        for (size_t k = 0; k < s->m->n_boot; k++) {
                const mk_manifest_file *f = &s->m->boot[k];
                const mk_bundle_part *p = mk_bundle_find_file(s->b->manifest, f->sha256);
                const char *bytes = p ? (const char *)s->files[p - s->b->manifest->parts] : (const char *)s->local[k];
                size_t len = p ? (size_t)p->size : s->local_len[k];
                if (!strcmp(f->path, entry)) {
                        entry_text = bytes;
                        entry_len = len;
                        continue;
                }
                char *have = NULL, hex[65];
                size_t have_len = 0;
                mk_error ignore = {0};
                if (upd_esp_read(e, f->path + 1, FILE_MAX, &have, &have_len, &ignore) >= 0) {
                        mk_sha256_hex(have, have_len, hex);
                        free(have);
                        if (!strcmp(hex, f->sha256))
                                continue; /* already there, e.g. systemd-boot */
                }
                upd_write_point();
                if ((r = upd_esp_write(e, f->path + 1, bytes, len, err)) < 0)
                        return r;
        }
        char mpath[64], spath[80];
        snprintf(mpath, sizeof(mpath), MK_SLOT_MANIFEST_FMT, s->target);
        snprintf(spath, sizeof(spath), "%s" MK_SIG_SUFFIX, mpath);
        upd_write_point();
        if ((r = upd_esp_write(e, mpath, s->mf_text, s->mf_len, err)) < 0)
                return r;
        upd_write_point();
        if ((r = upd_esp_write(e, spath, s->mf_sig, s->sig_len, err)) < 0 || (r = sync_disk(s, err)) < 0)
                return r;
        if (!entry_text)
                return mk_error_set(err, EBADMSG, "%s: slot %c's manifest names no boot entry %s", s->b->name,
                                    s->target, entry);
        bool uki = s->m->uki.path != NULL;
        if (uki)
                upd_say("files", "slot %c's boot files and manifest written to the ESP", s->target);
        else
                upd_say("files", "slot %c's kernel, initrd and manifest written to the ESP", s->target);
        char name[64], tmp[96], old[256], final[96];
        const char *old_dir;
        if (!(uki ? mk_uki_entry_name : mk_bls_entry_name)((char[]){s->target, 0}, s->c->tries, name, sizeof(name)))
                return mk_error_set(err, EINVAL, "bad boot entry name");
        snprintf(tmp, sizeof(tmp), "%s/%s.new", dir, name);
        snprintf(final, sizeof(final), "%s/%s", dir, name);
        upd_write_point();
        if ((r = upd_esp_write(e, tmp, entry_text, entry_len, err)) < 0 || (r = sync_disk(s, err)) < 0)
                return r;
        if (upd_esp_entry_in(e, s->target, &old_dir, old, sizeof(old), err) == 0) {
                char p[320];
                snprintf(p, sizeof(p), "%s/%s", old_dir, old);
                upd_write_point();
                if ((r = upd_esp_remove(e, p, err)) < 0)
                        return r;
        }
        mk_error_clear(err);
        upd_write_point();
        if ((r = upd_esp_rename(e, tmp, final, err)) < 0 || (r = sync_disk(s, err)) < 0)
                return r;
        upd_say("commit", "slot %c's boot entry %s%s: version %llu boots next, with %u tries", s->target, name,
                uki ? " (its signed UKI in " MK_ESP_UKI_DIR ")" : "", (unsigned long long)s->m->version, s->c->tries);
        for (int i = 0; uki && i < 2; i++) {
                char p[64];
                snprintf(p, sizeof(p), i ? MK_SLOT_INITRD_FMT : MK_SLOT_KERNEL_FMT, s->target);
                upd_write_point();
                if ((r = upd_esp_remove(e, p, err)) < 0)
                        return r;
        }
        return uki ? sync_disk(s, err) : 0;
}

int upd_install(upd_ctx *c, const char *bundle, mk_error *err)
{
        inst s = {.c = c, .target = c->booted == 'a' ? 'b' : 'a', .threads = mk_vtree_threads()};
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int fd = strcmp(bundle, "-") ? open(bundle, O_RDONLY | O_CLOEXEC) : 0;
        const char *name = strcmp(bundle, "-") ? bundle : "the bundle on standard input";
        int r;
        if (fd < 0)
                return mk_error_set(err, errno, "%s: %s", bundle, strerror(errno));
        if ((r = mk_pubkey_load(c->pub, &s.key, err)) < 0 || (r = read_running(&s, err)) < 0 ||
            (r = step_check(&s, &fd, name, err)) < 0 || (r = read_manifests(&s, err)) < 0 ||
            (r = check_room(&s, err)) < 0 || (r = inst_check_delta(&s, err)) < 0 || (r = check_esp_room(&s, err)) < 0 ||
            (r = step_disable(&s, err)) < 0 || (r = step_verity(&s, err)) < 0 || (r = read_files(&s, err)) < 0 ||
            (r = step_root(&s, err)) < 0 || (r = step_commit(&s, err)) < 0)
                goto out;
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        upd_say("done", "slot %c holds version %llu (a %llu-byte bundle in %.1f s): reboot to start it", s.target,
                (unsigned long long)s.m->version, (unsigned long long)s.b->manifest->size, took);
out:
        if (fd > 0)
                close(fd);
        inst_done(&s);
        return r;
}
