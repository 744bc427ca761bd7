/* Interface of pool.comp and its launcher lib/ops/pool.c (see interface.h). */
#ifndef VKDL_POOL_H
#define VKDL_POOL_H
#include "interface.h"

#define POOL_SPEC_WG 0      /* workgroup size (every build) */
#define POOL_SPEC_OP 1      /* the default build's POOL_OP_* */
#define POOL_SPEC_HAS_IDX 1 /* MAXPOOL: write the argmax too */
#define POOL_SPEC_COUNT 2
#define POOL_MAX_BWD_SPEC_COUNT 1 /* MAXPOOL_BWD has the workgroup size alone */

/* Ops of the default build. */
#define POOL_OP_AVG_FWD 0
#define POOL_OP_AVG_BWD 1
#define POOL_OP_GAP_BWD 2 /* global average pool backward */
#define POOL_OP_UP_FWD 3  /* nearest upsampling */
#define POOL_OP_UP_BWD 4

/* MAXPOOL: x is [planes, H, W], the pooled side [planes, OH, OW]; a kh x kw window with stride
 * (sh, sw) and padding (ph, pw). */
#define POOL_MAX_PUSH         \
    u32 n; /* dst elements */ \
    u32 H;                    \
    u32 W;                    \
    u32 OH;                   \
    u32 OW;                   \
    u32 kh;                   \
    u32 kw;                   \
    u32 sh;                   \
    u32 sw;                   \
    u32 ph;                   \
    u32 pw;

/* The default build: MAXPOOL's fields, and whether an average counts the padding. */
#define POOL_PUSH    \
    POOL_MAX_PUSH    \
    u32 include_pad;

/* MAXPOOL_BWD: this dispatch's outputs [begin, end) of each plane, added into the zeroed dx. */
#define POOL_MAX_BWD_PUSH \
    u32 planes;           \
    u32 hw;               \
    u32 ohw;              \
    u32 begin;            \
    u32 end;

#endif
