/* Interface of softmax.comp and its launcher lib/ops/softmax.c (see interface.h). */
#ifndef VKDL_SOFTMAX_H
#define VKDL_SOFTMAX_H
#include "interface.h"

#define SOFTMAX_SPEC_WG 0           /* workgroup size */
#define SOFTMAX_SPEC_LOG 1          /* 1: log-softmax */
#define SOFTMAX_SPEC_ONE_SUBGROUP 2 /* the workgroup is one subgroup: no shared memory */
#define SOFTMAX_SPEC_COUNT 3

/* The rows of x viewed as [rows, n]; forward and backward alike. */
#define SOFTMAX_PUSH \
    u32 n;           \
    u32 rows;

#endif
