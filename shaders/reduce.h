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
#define REDUCE_OP_MIN 4
#define REDUCE_OP_PROD 5
#define REDUCE_OP_ARGMIN 6
#define REDUCE_OP_L1 7
#define REDUCE_OP_L2 8
#define REDUCE_OP_SUM_SQUARE 9
#define REDUCE_OP_LOG_SUM_EXP 10

/* Not public: the line statistics vkdl_reduce_backward's PROD needs (how many zeros, and the
 * product of the other elements). */
#define REDUCE_OP_ZEROS 11
#define REDUCE_OP_PROD_NONZERO 12

#define REDUCE_MODE_INVOCATION 0 /* an invocation per output */
#define REDUCE_MODE_WORKGROUP 1  /* a workgroup per output */

/* x viewed as [outer, n, inner]. */
#define REDUCE_PUSH                             \
    u32 n_out; /* outer * inner */              \
    u32 n;     /* length of the reduced axis */ \
    u32 inner;

/* The backward kernel (BACKWARD): an invocation per element of x, REDUCE_SPEC_OP the forward op;
 * y, dy and the line statistics (MAX/MIN: the extreme's index; PROD: zeros and product of the
 * nonzeros, f32) have an element per line. Uses REDUCE_PUSH with n_out = x's element count. */

/* The cumsum kernel (CUMSUM): a workgroup per line of x viewed as [outer, n, inner]; invocation t
 * scans elements [t * per, (t + 1) * per) of it. */
#define CUMSUM_SPEC_WG 0  /* workgroup size, a power of two */
#define CUMSUM_SPEC_INT 1 /* i32 data, else f32 */
#define CUMSUM_SPEC_COUNT 2

#define CUMSUM_FLAG_EXCLUSIVE 0
#define CUMSUM_FLAG_REVERSE 1

#define CUMSUM_PUSH                              \
    u32 lines; /* outer * inner */               \
    u32 n;     /* length of the summed axis */   \
    u32 inner;                                   \
    u32 per;   /* elements per invocation */     \
    u32 flags; /* 1u << CUMSUM_FLAG_* */

/* The top-k kernel (TOPK): a workgroup per row of x [rows, n]. SORT: a bitonic sort of the row,
 * padded to SORT_N, in shared memory; else passes first .. last - 1 of a selection, each picking
 * the best element ranked after the previous pass's pick (read back from indices). */
#define TOPK_SPEC_WG 0     /* workgroup size, a power of two */
#define TOPK_SPEC_SORT_N 1 /* 0: selection; else the sort's length, a power of two */
#define TOPK_SPEC_COUNT 2

#define TOPK_PUSH                                 \
    u32 rows;                                     \
    u32 n;                                        \
    u32 k;                                        \
    u32 largest;                                  \
    u32 first; /* selection: the passes to run */ \
    u32 last;

#endif
