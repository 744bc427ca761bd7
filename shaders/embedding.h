/* Interface of embedding.comp and its launcher lib/ops/embedding.c (see interface.h). */
#ifndef VKDL_EMBEDDING_H
#define VKDL_EMBEDDING_H
#include "interface.h"

#define EMBEDDING_SPEC_WG 0       /* workgroup size */
#define EMBEDDING_SPEC_BACKWARD 1 /* 1: dweight from dout */
#define EMBEDDING_SPEC_COUNT 2

/* The table is [V, D]; the rows [n_idx, D]. */
#define EMBEDDING_PUSH           \
    u32 n; /* elements of dst */ \
    u32 D;                       \
    u32 V;                       \
    u32 n_idx;

#endif
