/* Interface of dropout.comp and its launcher lib/ops/dropout.c (see interface.h). */
#ifndef VKDL_DROPOUT_H
#define VKDL_DROPOUT_H
#include "interface.h"

#define DROPOUT_SPEC_WG 0 /* workgroup size */
#define DROPOUT_SPEC_COUNT 1

#define DROPOUT_PUSH                           \
    u32 n;                                     \
    u32 key0; /* the seed's low word */        \
    u32 key1; /* and high word */              \
    f32 p;                                     \
    f32 scale; /* 1 / (1 - p), 0 when p = 1 */

#endif
