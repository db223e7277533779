/* SPDX-License-Identifier: MIT */
/*
 * Scoped cleanup helpers (systemd style). Each destructor accepts NULL.
 *
 *   _cleanup_free_ char *p = malloc(n);
 *   _cleanup_close_ int fd = open(...);
 *   return TAKE_PTR(p);
 */
#ifndef MK_MACRO_H
#define MK_MACRO_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <errno.h>

#define _must_check_ __attribute__((warn_unused_result))
#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void mk_freep(void *p)
{
        free(*(void **)p);
}
static inline void mk_closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
static inline void mk_fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}

#define _cleanup_free_ _cleanup_(mk_freep)
#define _cleanup_close_ _cleanup_(mk_closep)
#define _cleanup_fclose_ _cleanup_(mk_fclosep)

#define TAKE_PTR(p)                                                                                                    \
        ({                                                                                                             \
                __typeof__(p) _tp_ = (p);                                                                              \
                (p) = NULL;                                                                                            \
                _tp_;                                                                                                  \
        })
#define TAKE_FD(fd)                                                                                                    \
        ({                                                                                                             \
                int _tf_ = (fd);                                                                                       \
                (fd) = -1;                                                                                             \
                _tf_;                                                                                                  \
        })

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

/* Define a cleanup function for a library type whose destructor takes T*. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                                        \
        static inline void func##p(type *p)                                                                            \
        {                                                                                                              \
                if (*p)                                                                                                \
                        func(*p);                                                                                      \
        }

#endif
