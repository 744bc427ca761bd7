/* Interface of loss.comp and its launcher lib/ops/loss.c (see interface.h). */
#ifndef VKDL_LOSS_H
#define VKDL_LOSS_H
#include "interface.h"

#define LOSS_SPEC_WG 0           /* workgroup size (every build) */
#define LOSS_SPEC_MODE 1         /* the default build's LOSS_{MSE,BCE}_*, the SUM build's LOSS_SUM_* */
#define LOSS_SPEC_ONE_SUBGROUP 1 /* CE: the workgroup is one subgroup, no shared memory */
#define LOSS_SPEC_COUNT 2

/* Modes of the default build: partial sums of the terms, or the gradient. */
#define LOSS_MSE_PART 0
#define LOSS_BCE_PART 1
#define LOSS_MSE_GRAD 2
#define LOSS_BCE_GRAD 3

/* Modes of the SUM build, folding n partials into one value. */
#define LOSS_SUM_SCALED 0 /* sum * scale */
#define LOSS_SUM_RATIO 1  /* (loss, weight) pairs: sum of losses / sum of weights */
#define LOSS_SUM_COUNT 2  /* i32 targets: how many are not ignored */

/* The default build. */
#define LOSS_PUSH                                                                   \
    u32 n;                                                                          \
    u32 n_part; /* *_PART: invocations, each summing elements i, i + n_part, ... */ \
    f32 scale;  /* *_GRAD: dloss / n (times 2 for MSE) */

#define LOSS_SUM_PUSH                                                   \
    u32 n;          /* partials (pairs for RATIO, targets for COUNT) */ \
    f32 scale;      /* SCALED: the result is sum * scale */             \
    i32 ignore;     /* COUNT: targets equal to it are not counted, */   \
    u32 has_ignore; /* if this is nonzero */

/* CE: a workgroup per row of logits [rows, C]. */
#define LOSS_CE_PUSH              \
    u32 C;                        \
    u32 rows;                     \
    i32 ignore;                   \
    u32 has_ignore;               \
    f32 ls; /* label smoothing */

#define LOSS_CE_BACKWARD_PUSH \
    LOSS_CE_PUSH              \
    f32 dloss;

#endif
