/* SPDX-License-Identifier: MIT */
#include "signing/base/parallel.h"

#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

unsigned mk_parallel_threads(void)
{
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return n < 1 ? 1u : n > (long)MK_PARALLEL_MAX ? MK_PARALLEL_MAX : (unsigned)n;
}

void mk_parallel_run(void *parts, size_t n, size_t size, void *(*fn)(void *))
{
        pthread_t ids[MK_PARALLEL_MAX];
        bool started[MK_PARALLEL_MAX] = {false};
        char *p = parts;
        if (n > MK_PARALLEL_MAX)
                n = MK_PARALLEL_MAX;
        for (size_t i = 1; i < n; i++)
                started[i] = pthread_create(&ids[i], NULL, fn, p + i * size) == 0;
        if (n > 0)
                fn(p);
        for (size_t i = 1; i < n; i++) {
                if (started[i])
                        pthread_join(ids[i], NULL);
                else
                        fn(p + i * size);
        }
}
