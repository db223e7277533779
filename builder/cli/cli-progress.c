/* SPDX-License-Identifier: MIT */
/*
 * Progress on a terminal: one line on stderr, redrawn in place ("\r" and
 * erase to the end of the line) at most ten times a second, with the rate
 * and the time left once the work has run for a second. Nothing at all when
 * stderr is not a terminal (a log, a pipe, CI) or TERM is "dumb", or when
 * MKIMAGE_PROGRESS=0. Other lines on stderr (cli-common.c) first erase it.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "builder/cli/cli.h"

static struct {
        pthread_mutex_t lock;
        bool on;    /* progress is shown at all */
        bool drawn; /* a progress line is on the screen now */
        char what[32];
        double start, last_draw;
        uint64_t start_done;
} P = {.lock = PTHREAD_MUTEX_INITIALIZER};

static double now(void)
{
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

bool cli_progress_start(void)
{
        const char *env = getenv("MKIMAGE_PROGRESS"), *term = getenv("TERM");
        if (env && *env)
                P.on = strcmp(env, "0") != 0;
        else
                P.on = isatty(STDERR_FILENO) && !(term && !strcmp(term, "dumb"));
        return P.on;
}

static void erase_locked(void)
{
        if (P.drawn)
                fputs("\r\033[K", stderr);
        P.drawn = false;
}

void cli_progress_erase(void)
{
        pthread_mutex_lock(&P.lock);
        erase_locked();
        pthread_mutex_unlock(&P.lock);
}

/* 1536 MiB -> "1.5 GiB"; counts as they are. */
static void amount(char *buf, size_t len, double v, bool bytes)
{
        static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
        if (!bytes) {
                snprintf(buf, len, v == (double)(uint64_t)v ? "%.0f" : "%.1f", v);
                return;
        }
        size_t u = 0;
        while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
                v /= 1024;
                u++;
        }
        snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

void cli_progress(void *ud, const char *what, uint64_t done, uint64_t total, bool bytes)
{
        (void)ud;
        if (!P.on)
                return;
        pthread_mutex_lock(&P.lock);
        double t = now();
        if (strncmp(P.what, what, sizeof(P.what) - 1) != 0) {
                snprintf(P.what, sizeof(P.what), "%s", what);
                P.start = t;
                P.start_done = done;
                P.last_draw = 0;
        }
        if (t - P.last_draw < 0.1 && done < total && P.last_draw != 0) {
                pthread_mutex_unlock(&P.lock);
                return;
        }
        P.last_draw = t;
        char d[32], n[32], line[160];
        amount(d, sizeof d, (double)done, bytes);
        amount(n, sizeof n, (double)total, bytes);
        int k = total ? snprintf(line, sizeof line, "mkimage: %s: %s of %s", P.what, d, n)
                      : snprintf(line, sizeof line, "mkimage: %s ...", P.what);
        if (total && k > 0 && (size_t)k < sizeof line)
                k += snprintf(line + k, sizeof line - (size_t)k, " (%u%%)",
                              (unsigned)(done >= total ? 100 : done * 100 / total));
        double dt = t - P.start;
        if (dt >= 1 && done > P.start_done && k > 0 && (size_t)k < sizeof line) {
                double rate = (double)(done - P.start_done) / dt;
                char r[32];
                amount(r, sizeof r, rate, bytes);
                k += snprintf(line + k, sizeof line - (size_t)k, ", %s/s", r);
                if (done < total && (size_t)k < sizeof line)
                        snprintf(line + k, sizeof line - (size_t)k, ", %.0f s left", (double)(total - done) / rate);
        }
        fprintf(stderr, "\r\033[K%s", line);
        fflush(stderr);
        P.drawn = true;
        pthread_mutex_unlock(&P.lock);
}
