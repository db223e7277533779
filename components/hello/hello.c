/* SPDX-License-Identifier: MIT */
/* hello: prints the greeting configured in /etc/hello.conf ("greeting = TEXT"). */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
        const char *path = argc > 1 ? argv[1] : "/etc/hello.conf";
        char line[256], greeting[256] = "hello";
        FILE *f = fopen(path, "r");
        if (!f) {
                perror(path);
                return 1;
        }
        while (fgets(line, sizeof line, f)) {
                char *v = line + strspn(line, " \t");
                if (strncmp(v, "greeting", 8) != 0)
                        continue;
                v += 8 + strspn(v + 8, " \t");
                if (*v != '=')
                        continue;
                v += 1 + strspn(v + 1, " \t");
                v[strcspn(v, "\r\n")] = '\0';
                snprintf(greeting, sizeof greeting, "%s", v);
        }
        fclose(f);
        printf("%s\n", greeting);
        return 0;
}
