/* SPDX-License-Identifier: MIT */
/*
 * hellod: an example service. It reads the greeting from /etc/hellod.conf
 * ("greeting = TEXT"), publishes it in /run/hellod/greeting (the folder
 * systemd makes for it, RuntimeDirectory=), tells systemd it is ready
 * (Type=notify: "READY=1" on $NOTIFY_SOCKET) and serves until SIGTERM.
 * Without a greeting it refuses to start, exit 1.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int notify_ready(void)
{
        const char *path = getenv("NOTIFY_SOCKET");
        if (!path || !*path)
                return 0; /* not run by systemd */
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        size_t len = strlen(path);
        if (len >= sizeof(sa.sun_path))
                return -1;
        memcpy(sa.sun_path, path, len);
        if (sa.sun_path[0] == '@')
                sa.sun_path[0] = '\0'; /* an abstract socket */
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -1;
        static const char msg[] = "READY=1";
        ssize_t k = sendto(fd, msg, sizeof(msg) - 1, 0, (struct sockaddr *)&sa,
                           (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
        close(fd);
        return k < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
        const char *conf = argc > 1 ? argv[1] : "/etc/hellod.conf";
        const char *out = argc > 2 ? argv[2] : "/run/hellod/greeting";
        char line[256], greeting[256] = "";
        FILE *f = fopen(conf, "r");
        if (!f) {
                fprintf(stderr, "hellod: %s: %s\n", conf, strerror(errno));
                return 1;
        }
        /* The last "greeting = TEXT" line wins (blanks around '=' optional; an empty TEXT is no greeting). */
        while (fgets(line, sizeof(line), f))
                (void)sscanf(line, " greeting = %255[^\r\n]", greeting);
        fclose(f);
        if (!*greeting) {
                fprintf(stderr, "hellod: %s sets no greeting (add a line 'greeting = TEXT')\n", conf);
                return 1;
        }
        f = fopen(out, "w");
        if (!f || fprintf(f, "%s\n", greeting) < 0 || fclose(f) != 0) {
                fprintf(stderr, "hellod: cannot write %s: %s\n", out, strerror(errno));
                return 1;
        }
        if (notify_ready() < 0) {
                fprintf(stderr, "hellod: cannot notify systemd: %s\n", strerror(errno));
                return 1;
        }
        printf("hellod: serving '%s'\n", greeting);
        fflush(stdout);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigprocmask(SIG_BLOCK, &set, NULL);
        int sig = 0;
        sigwait(&set, &sig);
        printf("hellod: stopping (signal %d)\n", sig);
        return 0;
}
