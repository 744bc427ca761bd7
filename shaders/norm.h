/* Interface of norm.comp and its launcher lib/ops/norm.c (see interface.h). */
#ifndef VKDL_NORM_H
#define VKDL_NORM_H
#include "interface.h"

#define NORM_SPEC_WG 0           /* workgroup size */
#define NORM_SPEC_FLAGS 1        /* NORM_FLAG_* */
#define NORM_SPEC_ONE_SUBGROUP 2 /* the workgroup is one subgroup: no shared memory */
#define NORM_SPEC_COUNT 3

/* Which optional tensors are present (the launcher binds a stand-in for the others), and the kind. */
#define NORM_FLAG_GAMMA (1u << 0)
#define NORM_FLAG_BETA (1u << 1)
#define NORM_FLAG_RMS (1u << 2) /* RMS norm: no mean */
#define NORM_FLAG_SAVE_MEAN (1u << 3)
#define NORM_FLAG_SAVE_RSTD (1u << 4)
#define NORM_FLAG_RUN_MEAN (1u << 5)
#define NORM_FLAG_RUN_VAR (1u << 6)
#define NORM_FLAG_TRAINING (1u << 7) /* batch norm: batch statistics, else the running ones */
#define NORM_FLAG_DX (1u << 8)
#define NORM_FLAG_DGAMMA (1u << 9)
#define NORM_FLAG_DBETA (1u << 10)

/* ROW_FWD: x viewed as [rows, n]. */
#define NORM_ROW_FWD_PUSH \
    u32 n;                \
    u32 rows;             \
    f32 eps;

/* ROW_BWD and COL_BWD. */
#define NORM_ROW_BWD_PUSH \
    u32 n;                \
    u32 rows;

/* BN_FWD: x viewed as [N, channels, hw]; count = N hw, the elements of one channel. */
#define NORM_BN_FWD_PUSH \
    u32 channels;        \
    u32 hw;              \
    u32 count;           \
    f32 eps;             \
    f32 momentum;

#define NORM_BN_BWD_PUSH \
    u32 channels;        \
    u32 hw;              \
    u32 count;

#endif
