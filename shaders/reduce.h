/* Interface of reduce.comp and its launcher lib/ops/reduce.c (see interface.h). */
#ifndef VKDL_REDUCE_H
#define VKDL_REDUCE_H
#include "interface.h"

#define REDUCE_SPEC_WG 0           /* workgroup size */
#define REDUCE_SPEC_OP 1           /* REDUCE_OP_* */
#define REDUCE_SPEC_MODE 2         /* REDUCE_MODE_* */
#define REDUCE_SPEC_ONE_SUBGROUP 3 /* the workgroup is one subgroup: no shared memory */
#define REDUCE_SPEC_COUNT 4

/* The values of vkdl_reduce_op. */
#define REDUCE_OP_SUM 0
#define REDUCE_OP_MEAN 1
#define REDUCE_OP_MAX 2
#define REDUCE_OP_ARGMAX 3

#define REDUCE_MODE_INVOCATION 0 /* an invocation per output */
#define REDUCE_MODE_WORKGROUP 1  /* a workgroup per output */

/* x viewed as [outer, n, inner]. */
#define REDUCE_PUSH                             \
    u32 n_out; /* outer * inner */              \
    u32 n;     /* length of the reduced axis */ \
    u32 inner;

#endif
