/* SPDX-License-Identifier: MIT */
/*
 * Work cut into parts, one thread per part: the block checks of
 * signing/verity/vtree-check.c and the verifier's whole-root read.
 */
#ifndef MK_PARALLEL_H
#define MK_PARALLEL_H

#include <stddef.h>

#define MK_PARALLEL_MAX 4u

/* The online CPUs, at least 1, at most MK_PARALLEL_MAX: how many parts to cut work into. */
unsigned mk_parallel_threads(void);

/*
 * fn on each of the n parts (n <= MK_PARALLEL_MAX; part i at (char *)parts + i * size): part 0 on
 * this thread, each other on a thread of its own, and one whose thread cannot start on this thread
 * after part 0. Returns when every part is done; the parts carry their results.
 */
void mk_parallel_run(void *parts, size_t n, size_t size, void *(*fn)(void *));

#endif
