/* Interface of copy.comp and its launcher lib/ops/copy.c (see interface.h). */
#ifndef VKDL_COPY_H
#define VKDL_COPY_H
#include "interface.h"

#define COPY_SPEC_WG 0    /* workgroup size */
#define COPY_SPEC_SRC_T 1 /* x's COPY_DTYPE_* */
#define COPY_SPEC_DST_T 2 /* out's COPY_DTYPE_* */
#define COPY_SPEC_COUNT 3

/* Element types: the values of vkdl_dtype. */
#define COPY_DTYPE_F32 0
#define COPY_DTYPE_F16 1
#define COPY_DTYPE_BF16 2
#define COPY_DTYPE_I32 3
#define COPY_DTYPE_U8 4

/* Binding offsets count elements of each tensor's dtype. */
#define COPY_PUSH                         \
    u32 n;     /* elements */             \
    u32 words; /* output words touched */

#endif
