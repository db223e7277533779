/* SPDX-License-Identifier: MIT */
/* Many data blocks against a tree at once, on several threads (signing/verity/vtree.h). */
#include "signing/verity/vtree.h"

#include "signing/base/parallel.h"

#define THREADS_MAX MK_PARALLEL_MAX
#define PER_THREAD_MIN 64u /* fewer blocks than this per thread: not worth a thread */

unsigned mk_vtree_threads(void)
{
        return mk_parallel_threads();
}

typedef struct part {
        const mk_vtree *t;
        uint64_t first, n; /* tree blocks first.. first+n, at blocks */
        const uint8_t *blocks;
        uint64_t bad; /* the first that does not match, relative; n when none */
} part;

static void *check_part(void *arg)
{
        part *p = arg;
        p->bad = p->n;
        for (uint64_t k = 0; k < p->n; k++)
                if (!mk_vtree_block_ok(p->t, p->first + k, p->blocks + k * MK_VERITY_BLOCK)) {
                        p->bad = k;
                        break;
                }
        return NULL;
}

uint64_t mk_vtree_check(const mk_vtree *t, uint64_t first, const uint8_t *blocks, uint64_t n, unsigned threads)
{
        threads = threads < 1 ? 1 : threads > THREADS_MAX ? THREADS_MAX : threads;
        while (threads > 1 && n / threads < PER_THREAD_MIN)
                threads--;
        part parts[THREADS_MAX];
        uint64_t each = (n + threads - 1) / threads;
        for (unsigned i = 0; i < threads; i++) {
                uint64_t at = i * each < n ? i * each : n, k = n - at < each ? n - at : each;
                parts[i] = (part){.t = t, .first = first + at, .n = k, .blocks = blocks + at * MK_VERITY_BLOCK};
        }
        mk_parallel_run(parts, threads, sizeof(parts[0]), check_part);
        for (unsigned i = 0; i < threads; i++)
                if (parts[i].bad < parts[i].n)
                        return parts[i].first - first + parts[i].bad;
        return n;
}
