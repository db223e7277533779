/* SPDX-License-Identifier: MIT */
#include "builder/squashfs/sqfs-compressor.h"

#include <errno.h>
#include <string.h>
#include <sqfs/compressor.h>
#include <sqfs/super.h>

#include "signing/base/macro.h"

static const struct {
        const char *name;
        int id, min, max;
} compressors[] = {
        {"zstd", SQFS_COMP_ZSTD, SQFS_ZSTD_MIN_LEVEL, SQFS_ZSTD_MAX_LEVEL},
        {"xz", SQFS_COMP_XZ, SQFS_XZ_MIN_LEVEL, SQFS_XZ_MAX_LEVEL},
        {"gzip", SQFS_COMP_GZIP, SQFS_GZIP_MIN_LEVEL, SQFS_GZIP_MAX_LEVEL},
        {"lz4", SQFS_COMP_LZ4, 0, 0},
};

int mk_sqfs_compressor_from_name(const char *name, int *ret)
{
        for (size_t i = 0; i < ELEMENTSOF(compressors); i++)
                if (!strcmp(name, compressors[i].name)) {
                        *ret = compressors[i].id;
                        return 0;
                }
        return -EINVAL;
}

const char *mk_sqfs_compressor_name(int id)
{
        for (size_t i = 0; i < ELEMENTSOF(compressors); i++)
                if (compressors[i].id == id)
                        return compressors[i].name;
        return "unknown";
}

const char *mk_sqfs_compressor_names(void)
{
        return "zstd, xz, gzip, lz4";
}

int mk_sqfs_compressor_levels(int id, int *ret_min, int *ret_max)
{
        for (size_t i = 0; i < ELEMENTSOF(compressors); i++)
                if (compressors[i].id == id) {
                        *ret_min = compressors[i].min;
                        *ret_max = compressors[i].max;
                        return 0;
                }
        return -EINVAL;
}
