/* Interface of attention.comp and its launcher lib/ops/attention.c (see interface.h). */
#ifndef VKDL_ATTENTION_H
#define VKDL_ATTENTION_H
#include "interface.h"

#define ATTENTION_SPEC_WG 0       /* workgroup size */
#define ATTENTION_SPEC_DV 1       /* row length in VTs (D, or D / 4 with VEC4) */
#define ATTENTION_SPEC_TILE 2     /* T: rows of the other side per tile */
#define ATTENTION_SPEC_HAS_MASK 3 /* an additive mask is bound */
#define ATTENTION_SPEC_OUT_A 4    /* pass 0: write lse; pass 3: write dk */
#define ATTENTION_SPEC_OUT_B 5    /* pass 3: write dv */
#define ATTENTION_SPEC_COUNT 6

/* Every pass, after its binding offsets. q is [B, H, Sq, D], k and v [B, Hkv, Sk, D];
 * scale_log2 = scale * log2(e) (scores are kept in log2 units so exp2 does the softmax);
 * causal: 0 or 1 (bottom-right aligned); mask strides in elements per batch and per head (0: shared),
 * a mask row being Sk long. */
#define ATTENTION_PUSH \
    u32 B;             \
    u32 H;             \
    u32 Hkv;           \
    u32 Sq;            \
    u32 Sk;            \
    f32 scale_log2;    \
    f32 scale;         \
    u32 causal;        \
    u32 mask_sb;       \
    u32 mask_sh;

#endif
