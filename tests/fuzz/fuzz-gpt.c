/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: reading a disk image's partition table, mk_inspect_image
 * (mk_gpt_read through libfdisk, then the DPS type names and the content
 * sniffing at each partition's start). The input is the start of the disk,
 * zero-extended to the 68 sectors mk_gpt_read wants at least (primary and
 * backup GPT); longer inputs are the whole disk. The image is a memfd
 * (fuzz.h), opened read-only by libfdisk.
 *
 * libfdisk is not instrumented: the fuzzer gets no coverage from inside it,
 * only from our side of the calls; ASan still checks every byte we read.
 */
#include "fuzz.h"
#include "builder/image/gpt.h"
#include "builder/image/inspect.h"

#define MIN_DISK (68 * 512)

static fuzz_file input;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fuzz_file_open(&input, "disk.img");
        return 0;
}

static void check_str(const char *what, const char *s, size_t cap)
{
        if (strnlen(s, cap) == cap)
                fuzz_die("%s is not NUL-terminated", what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        fuzz_file_set(&input, data, size, MIN_DISK);
        mk_inspect *in = NULL;
        mk_error err = {0};
        int r = mk_inspect_image(input.path, &in, &err);
        fuzz_report("inspect", r, &err);
        if (r < 0) {
                if (in)
                        fuzz_die("mk_inspect_image failed but wrote *ret");
                if (!err.msg[0])
                        fuzz_die("mk_inspect_image returned %d without a message", r);
                return 0;
        }
        const mk_gpt *g = in->gpt;
        if (g->n_parts > 128)
                fuzz_die("%u partitions", g->n_parts);
        check_str("disk GUID", g->disk_uuid, sizeof(g->disk_uuid));
        for (unsigned i = 0; i < g->n_parts; i++) {
                const mk_gpt_part *p = &g->parts[i];
                check_str("name", p->name, sizeof(p->name));
                check_str("GUID", p->uuid, sizeof(p->uuid));
                check_str("type", p->type_guid, sizeof(p->type_guid));
                if (!in->content[i])
                        fuzz_die("partition %u: no content kind", p->number);
                if (in->type_names[i])
                        check_str("type name", in->type_names[i], 64);
        }
        mk_inspect_free(in);

        /* The content sniffer alone, on the raw input. */
        if (size >= 4096 && !mk_detect_content(data, size))
                fuzz_die("mk_detect_content returned NULL");
        return 0;
}
