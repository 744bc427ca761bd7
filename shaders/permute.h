/* Interface of permute.comp and its launcher lib/ops/permute.c (see interface.h). */
#ifndef VKDL_PERMUTE_H
#define VKDL_PERMUTE_H
#include "interface.h"

#define PERMUTE_SPEC_WG 0    /* workgroup size */
#define PERMUTE_SPEC_ESIZE 1 /* element bytes: 4, 2 or 1 */
#define PERMUTE_SPEC_COUNT 2

#define PERMUTE_MAX_DIMS 8

/* The collapsed output dims, innermost first, with the x stride (in elements) of each. */
#define PERMUTE_PUSH              \
    u32 n; /* elements */         \
    u32 ndim;                     \
    u32 dim[PERMUTE_MAX_DIMS];    \
    u32 stride[PERMUTE_MAX_DIMS];

#endif
