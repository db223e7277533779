/* SPDX-License-Identifier: MIT */
/*
 * A delta bundle's side of `mkimage-update install` (docs/update.md,
 * "Deltas"): its base checked against the running slot, its ranges, the
 * boot files taken from the ESP, and the new root assembled from the
 * running one and the stream. What comes out is checked block by block
 * against the new tree by install.c, as for a full bundle.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu-boot/updater/install.h"
#include "signing/base/fileio.h"
#include "signing/base/sha256.h"

int inst_check_delta(inst *s, mk_error *err)
{
        const mk_bundle_manifest *bm = s->b->manifest;
        const mk_manifest *run = s->running;
        if (!bm->delta)
                return 0;
        if (run->root.size != bm->from.root_size || strcmp(run->root.sha256, bm->from.root_sha256))
                return mk_error_set(err, EXDEV,
                                    "%s: is a delta from version %llu (root sha256 %.16s…), but slot %c runs version "
                                    "%llu (root sha256 %.16s…): install the full bundle",
                                    s->b->name, (unsigned long long)bm->from.version, bm->from.root_sha256,
                                    s->c->booted, (unsigned long long)run->version, run->root.sha256);
        unsigned idx;
        int r = upd_disk_find(&s->c->disk, run->root.partition, &idx, &s->run_start, &s->run_size, err);
        if (r < 0)
                return r;
        if (run->root.size > s->run_size)
                return mk_error_set(err, EBADMSG, "partition %s is smaller than the running root", run->root.partition);
        const mk_bundle_part *pg = mk_bundle_find(bm, MK_BPART_RANGES, 0), *pr = mk_bundle_find(bm, MK_BPART_ROOT, 0);
        uint8_t *buf = NULL;
        if ((r = mk_bundle_read_part(s->b, pg, (size_t)MK_BUNDLE_RANGES_MAX * MK_BUNDLE_RANGE_SIZE, &buf, err)) < 0)
                return r;
        r = mk_bundle_ranges_parse(s->b->name, buf, pg->size, s->m->root.size, run->root.size, pr->size, &s->ranges,
                                   &s->n_ranges, err);
        free(buf);
        if (r < 0)
                return r;
        if (!(s->local = calloc(s->m->n_boot + 1, sizeof(*s->local))) ||
            !(s->local_len = calloc(s->m->n_boot + 1, sizeof(*s->local_len))))
                return mk_error_set(err, ENOMEM, "out of memory");
        size_t taken = 0;
        for (size_t k = 0; k < s->m->n_boot; k++) {
                const mk_manifest_file *f = &s->m->boot[k];
                if (mk_bundle_find_file(bm, f->sha256))
                        continue;
                const char *path = NULL;
                for (size_t j = 0; j < run->n_boot && !path; j++)
                        if (!strcmp(run->boot[j].sha256, f->sha256))
                                path = run->boot[j].path;
                char *data = NULL, hex[65];
                size_t len = 0;
                if (!path)
                        return mk_error_set(err, EXDEV,
                                            "%s: leaves out %s (sha256 %.16s…), which the running slot does not "
                                            "have: install the full bundle",
                                            s->b->name, f->path, f->sha256);
                if ((r = upd_esp_read(&s->c->esp, path + 1, FILE_MAX, &data, &len, err)) < 0)
                        return mk_error_prefix(err, r, "the running slot's %s (for %s)", path, f->path);
                mk_sha256_hex(data, len, hex);
                if (strcmp(hex, f->sha256)) {
                        free(data);
                        return mk_error_set(err, EBADMSG,
                                            "the running slot's %s does not match its manifest (damaged ESP): "
                                            "install the full bundle",
                                            path);
                }
                s->local[k] = (uint8_t *)data;
                s->local_len[k] = len;
                taken++;
        }
        upd_say("delta", "from version %llu, which slot %c runs: %zu ranges of its root, %zu boot files from the ESP",
                (unsigned long long)bm->from.version, s->c->booted, s->n_ranges, taken);
        return 0;
}

int inst_assemble(inst *s, uint64_t from, uint64_t to, uint8_t *buf, size_t *ri, mk_error *err)
{
        uint64_t size = s->m->root.size;
        for (uint64_t pos = from; pos < to;) {
                const mk_bundle_range *g = *ri < s->n_ranges ? &s->ranges[*ri] : NULL;
                if (g && g->dst + g->len <= pos) {
                        (*ri)++;
                        continue;
                }
                uint8_t *dst = buf + (pos - from);
                if (g && g->dst <= pos) {
                        uint64_t end = g->dst + g->len < to ? g->dst + g->len : to;
                        int r = mk_pread_all(s->c->disk.fd, dst, (size_t)(end - pos),
                                             s->run_start + g->src + (pos - g->dst));
                        if (r < 0)
                                return mk_error_set(err, -r, "%s: reading the running root: %s", s->c->disk.path,
                                                    strerror(-r));
                        pos = end;
                        continue;
                }
                uint64_t end = g && g->dst < to ? g->dst : to;
                if (pos >= size) {
                        memset(dst, 0, (size_t)(end - pos));
                } else {
                        uint64_t lit = end < size ? end : size;
                        int r = mk_bundle_read(s->b, dst, (size_t)(lit - pos), err);
                        if (r < 0)
                                return r;
                        memset(dst + (lit - pos), 0, (size_t)(end - lit));
                }
                pos = end;
        }
        return 0;
}

uint64_t inst_stream_before(const inst *s, uint64_t pos)
{
        uint64_t end = pos < s->m->root.size ? pos : s->m->root.size, covered = 0;
        for (size_t k = 0; k < s->n_ranges && s->ranges[k].dst < end; k++) {
                uint64_t e = s->ranges[k].dst + s->ranges[k].len;
                covered += (e < end ? e : end) - s->ranges[k].dst;
        }
        return end - covered;
}
