/* SPDX-License-Identifier: MIT */
#include "inspect.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dps.h"
#include "macro.h"

#define HEAD 4096

mk_inspect *mk_inspect_free(mk_inspect *i)
{
        if (!i)
                return NULL;
        free(i->gpt);
        free(i);
        return NULL;
}

const char *mk_detect_content(const unsigned char *h, size_t len)
{
        if (len < HEAD)
                return "unknown";
        if (!memcmp(h, "hsqs", 4))
                return "squashfs";
        if (!memcmp(h, "verity\0\0", 8))
                return "verity";
        if (!memcmp(h, "LUKS\xba\xbe", 6))
                return "luks2";
        if (h[510] == 0x55 && h[511] == 0xAA && (!memcmp(h + 82, "FAT32   ", 8) || !memcmp(h + 54, "FAT", 3)))
                return "vfat";
        if (h[1024 + 56] == 0x53 && h[1024 + 57] == 0xEF)
                return "ext4";
        for (size_t i = 0; i < HEAD; i++)
                if (h[i])
                        return "unknown";
        return "empty";
}

int mk_inspect_image(const char *path, mk_inspect **ret, mk_error *err)
{
        _cleanup_free_ mk_inspect *in = calloc(1, sizeof(*in));
        if (!in)
                return mk_error_set(err, ENOMEM, "out of memory");
        int r = mk_gpt_read(path, &in->gpt, err);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                free(in->gpt);
                return mk_error_set(err, errno, "%s: %s", path, strerror(errno));
        }
        unsigned char head[HEAD];
        for (unsigned i = 0; i < in->gpt->n_parts; i++) {
                const mk_gpt_part *p = &in->gpt->parts[i];
                in->type_names[i] = dps_type_name(p->type_guid);
                ssize_t k = pread(fd, head, sizeof(head), (off_t)p->start);
                in->content[i] = mk_detect_content(head, k > 0 ? (size_t)k : 0);
        }
        *ret = TAKE_PTR(in);
        return 0;
}
