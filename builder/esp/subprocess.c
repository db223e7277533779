/* SPDX-License-Identifier: MIT */
#include "builder/esp/subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "signing/base/macro.h"

/* How much of a failed tool's output goes into the message (its end: the reason is usually last). */
#define OUTPUT_TAIL 1024
/* Directories searched after $PATH: Debian puts mkfs.* there, and users' PATH often lacks them. */
static const char *const sbin_dirs[] = {"/usr/sbin", "/sbin"};

static bool path_lists(const char *path, const char *dir)
{
        size_t n = strlen(dir);
        for (const char *p = path; p;) {
                const char *end = strchrnul(p, ':');
                if ((size_t)(end - p) == n && !memcmp(p, dir, n))
                        return true;
                p = *end ? end + 1 : NULL;
        }
        return false;
}

/* "PATH=" + the caller's PATH (or a default) + the sbin directories it lacks. */
static char *child_path(void)
{
        const char *path = getenv("PATH");
        if (!path || !*path)
                path = "/usr/local/bin:/usr/bin:/bin";
        char *s = NULL;
        if (asprintf(&s, "PATH=%s", path) < 0)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(sbin_dirs); i++) {
                if (path_lists(path, sbin_dirs[i]))
                        continue;
                char *t = NULL;
                int r = asprintf(&t, "%s:%s", s, sbin_dirs[i]);
                free(s);
                if (r < 0)
                        return NULL;
                s = t;
        }
        return s;
}

/* The executable for name in the directories of path ("a:b:c"); NULL with errno set if none. */
static char *find_tool(const char *name, const char *path)
{
        struct stat st;
        if (strchr(name, '/')) {
                if (stat(name, &st) < 0)
                        return NULL;
                return strdup(name);
        }
        for (const char *p = path; p;) {
                const char *end = strchrnul(p, ':');
                int len = (int)(end - p);
                char *cand = NULL;
                if (asprintf(&cand, "%.*s/%s", len, len ? p : ".", name) < 0)
                        return NULL;
                if (stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0)
                        return cand;
                free(cand);
                p = *end ? end + 1 : NULL;
        }
        errno = ENOENT;
        return NULL;
}

/* argv as one line, arguments with unusual characters in single quotes. */
static void format_cmdline(const char *const *argv, char *buf, size_t size)
{
        size_t used = 0;
        buf[0] = '\0';
        for (size_t i = 0; argv[i] && used < size; i++) {
                const char *a = argv[i];
                bool plain = *a && strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                                             "_./:@=+,-") == strlen(a);
                int r = snprintf(buf + used, size - used, plain ? "%s%s" : "%s'%s'", i ? " " : "", a);
                if (r < 0)
                        break;
                used += (size_t)r;
        }
}

/* The last bytes the tool wrote (stdout and stderr interleaved), trailing blanks removed. */
static void read_tail(int fd, char *buf, size_t size)
{
        buf[0] = '\0';
        off_t end = lseek(fd, 0, SEEK_END);
        if (end <= 0)
                return;
        size_t want = size - 4; /* room for "..." and the NUL */
        off_t start = (size_t)end > want ? end - (off_t)want : 0;
        size_t off = 0;
        if (start > 0) {
                memcpy(buf, "...", 3);
                off = 3;
        }
        ssize_t n = pread(fd, buf + off, (size_t)(end - start), start);
        if (n < 0)
                n = 0;
        off += (size_t)n;
        while (off > 0 && (buf[off - 1] == '\n' || buf[off - 1] == ' ' || buf[off - 1] == '\r' || buf[off - 1] == '\t'))
                off--;
        buf[off] = '\0';
        /* One error, one line: the tool's lines are joined with " / ", keeping the tail. */
        char *joined = malloc(3 * off + 1);
        if (!joined)
                return;
        size_t j = 0;
        for (size_t i = 0; i < off; i++) {
                if (buf[i] == '\r')
                        continue;
                if (buf[i] == '\n') {
                        memcpy(joined + j, " / ", 3);
                        j += 3;
                } else
                        joined[j++] = buf[i];
        }
        joined[j] = '\0';
        if (j + 1 <= size)
                memcpy(buf, joined, j + 1);
        else
                snprintf(buf, size, "...%s", joined + j - (size - 4));
        free(joined);
}

static bool env_sets(const char *const *env, const char *prefix)
{
        for (size_t i = 0; env && env[i]; i++)
                if (!strncmp(env[i], prefix, strlen(prefix)))
                        return true;
        return false;
}

static void destroy_actions(posix_spawn_file_actions_t **p)
{
        if (*p)
                posix_spawn_file_actions_destroy(*p);
}

static void destroy_attr(posix_spawnattr_t **p)
{
        if (*p)
                posix_spawnattr_destroy(*p);
}

static int start(const char *exe, const char *const *argv, char *const *envp, int stdin_fd, int stdout_fd, int out_fd,
                 int pass_fd, pid_t *ret_pid)
{
        posix_spawn_file_actions_t fa_storage;
        posix_spawnattr_t at_storage;
        _cleanup_(destroy_actions) posix_spawn_file_actions_t *fa = NULL;
        _cleanup_(destroy_attr) posix_spawnattr_t *at = NULL;
        int r;

        if ((r = posix_spawn_file_actions_init(&fa_storage)))
                return -r;
        fa = &fa_storage;
        if ((r = posix_spawnattr_init(&at_storage)))
                return -r;
        at = &at_storage;
        if (stdin_fd > 0)
                r = posix_spawn_file_actions_adddup2(fa, stdin_fd, 0);
        else
                r = posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0);
        if (r || (r = posix_spawn_file_actions_adddup2(fa, stdout_fd > 0 ? stdout_fd : out_fd, 1)) ||
            (r = posix_spawn_file_actions_adddup2(fa, out_fd, 2)))
                return -r;
        /* Last: fd 3 may be one of the above in the caller (dup2 onto itself clears close-on-exec). */
        if (pass_fd > 0 && (r = posix_spawn_file_actions_adddup2(fa, pass_fd, 3)))
                return -r;

        /* The child starts with no blocked signals and default handlers, whatever the caller set up. */
        sigset_t none, all;
        sigemptyset(&none);
        sigfillset(&all);
        if ((r = posix_spawnattr_setsigmask(at, &none)) || (r = posix_spawnattr_setsigdefault(at, &all)) ||
            (r = posix_spawnattr_setflags(at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)))
                return -r;

        r = posix_spawn(ret_pid, exe, fa, at, (char *const *)argv, envp);
        return -r;
}

int mk_spawn(const char *const *argv, const mk_spawn_opts *o, mk_error *err)
{
        static const mk_spawn_opts defaults = {0};
        if (!o)
                o = &defaults;
        const char *ctx = o->context ? o->context : "";
        const char *sep = o->context ? ": " : "";
        char cmd[512];

        if (!argv || !argv[0])
                return mk_error_set(err, EINVAL, "%s%sno command given (a bug in mkimage)", ctx, sep);
        format_cmdline(argv, cmd, sizeof(cmd));

        _cleanup_free_ char *path = child_path();
        if (!path)
                return mk_error_set(err, ENOMEM, "out of memory");
        _cleanup_free_ char *exe = find_tool(argv[0], path + strlen("PATH="));
        if (!exe) {
                if (errno == ENOMEM)
                        return mk_error_set(err, ENOMEM, "out of memory");
                if (o->package)
                        return mk_error_set(err, ENOENT,
                                            "%s%s%s: command not found in $PATH, /usr/sbin or /sbin (install the "
                                            "Debian package '%s': apt-get install %s)",
                                            ctx, sep, argv[0], o->package, o->package);
                return mk_error_set(err, ENOENT, "%s%s%s: command not found in $PATH, /usr/sbin or /sbin", ctx, sep,
                                    argv[0]);
        }

        size_t n_env = 0;
        while (o->env && o->env[n_env])
                n_env++;
        _cleanup_free_ char **envp = calloc(n_env + 3, sizeof(*envp));
        if (!envp)
                return mk_error_set(err, ENOMEM, "out of memory");
        size_t k = 0;
        for (size_t i = 0; i < n_env; i++)
                envp[k++] = (char *)o->env[i];
        if (!env_sets(o->env, "PATH="))
                envp[k++] = path;
        if (!env_sets(o->env, "LC_ALL="))
                envp[k++] = (char *)"LC_ALL=C";

        _cleanup_close_ int out = memfd_create("mkimage-spawn-output", MFD_CLOEXEC);
        if (out < 0)
                return mk_error_set(err, errno, "%s%scannot capture the output of %s: %s", ctx, sep, argv[0],
                                    strerror(errno));

        _cleanup_close_ int pipe_r = -1, pipe_w = -1;
        if (o->sink) {
                int p[2];
                if (pipe2(p, O_CLOEXEC) < 0)
                        return mk_error_set(err, errno, "%s%scannot read the output of %s: %s", ctx, sep, argv[0],
                                            strerror(errno));
                pipe_r = p[0], pipe_w = p[1];
        }
        pid_t pid;
        int r = start(exe, argv, envp, o->stdin_fd, o->sink ? pipe_w : o->stdout_fd, out, o->pass_fd, &pid);
        if (r == -ENOENT || r == -EACCES || r == -ENOEXEC)
                return mk_error_set(err, -r, "%s%scannot run %s (%s): %s%s%s", ctx, sep, argv[0], exe, strerror(-r),
                                    o->package ? "; reinstall the Debian package " : "", o->package ? o->package : "");
        if (r < 0)
                return mk_error_set(err, -r, "%s%scannot start %s: %s", ctx, sep, argv[0], strerror(-r));

        int sunk = 0;
        if (o->sink) {
                close(pipe_w);
                pipe_w = -1;
                _cleanup_free_ char *buf = malloc(64 << 10);
                if (!buf)
                        sunk = mk_error_set(err, ENOMEM, "out of memory");
                while (buf) {
                        ssize_t got = read(pipe_r, buf, 64 << 10);
                        if (got < 0 && errno == EINTR)
                                continue;
                        if (got < 0) {
                                sunk = mk_error_set(err, errno, "%s%sreading the output of %s: %s", ctx, sep, argv[0],
                                                    strerror(errno));
                                break;
                        }
                        if (got == 0 || (sunk = o->sink(buf, (size_t)got, o->sink_data, err)) < 0)
                                break;
                }
                if (sunk < 0)
                        kill(pid, SIGKILL);
        }
        int status;
        while (waitpid(pid, &status, 0) < 0) {
                if (errno != EINTR)
                        return mk_error_set(err, errno, "%s%swaiting for %s: %s", ctx, sep, argv[0], strerror(errno));
        }
        if (sunk < 0)
                return sunk;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;

        char output[OUTPUT_TAIL];
        read_tail(out, output, sizeof(output));
        char how[64];
        if (WIFEXITED(status))
                snprintf(how, sizeof(how), "exit status %d", WEXITSTATUS(status));
        else
                snprintf(how, sizeof(how), "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
        return mk_error_set(err, EIO, "%s%s`%s` failed with %s: %s", ctx, sep, cmd, how,
                            *output ? output : "(no output)");
}
