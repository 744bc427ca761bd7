/* Interface of matmul.comp and its launcher lib/ops/matmul.c (see interface.h; matmul.comp's
 * header comment says how each variant uses them). */
#ifndef VKDL_MATMUL_H
#define VKDL_MATMUL_H
#include "interface.h"

#define MATMUL_SPEC_WG_X 0    /* CPU kernel: invocations per workgroup; GPU: threads along N */
#define MATMUL_SPEC_WG_Y 1    /* CPU kernel: 1; GPU: threads along M */
#define MATMUL_SPEC_TM 2      /* rows per invocation */
#define MATMUL_SPEC_TN 3      /* CPU kernel: vec4 column groups per invocation; GPU: columns per thread */
#define MATMUL_SPEC_TRANS_A 4 /* A stored K x M */
#define MATMUL_SPEC_TRANS_B 5 /* B stored N x K */
#define MATMUL_SPEC_BK 6      /* GPU: K slice staged in shared memory */
#define MATMUL_SPEC_EPI 7     /* the types and the epilogue, packed as below */
#define MATMUL_SPEC_COUNT 8

/* MATMUL_SPEC_EPI: bits 0-1 what the A and B bindings deliver, bits 2-3 C's type (each a
 * MATMUL_KIND_*), and whether there is an epilogue. */
#define MATMUL_EPI_KIND_MASK 3u
#define MATMUL_EPI_OUT_SHIFT 2u
#define MATMUL_FLAG_EPILOGUE (1u << 4)
/* A and B: floats (f32, or f16 through a float view), or 16-bit pairs in words; C: its dtype. */
#define MATMUL_KIND_F32 0u
#define MATMUL_KIND_F16 1u
#define MATMUL_KIND_BF16 2u

/* act: a vkdl_unary_op (unary.h's UNARY_OP_* codes, as activation.glsl reads them), or none. */
#define MATMUL_ACT_NONE 255u

/* After the binding offsets offA, offB, offC, offBias. op(A) is M x K, op(B) K x N; lda, ldb, ldc
 * are the row pitches of the stored matrices; strides are per batch (0: a shared operand); beta 0
 * never reads C; hasBias and act (with its parameters actAlpha, actBeta) only with
 * MATMUL_FLAG_EPILOGUE. */
#define MATMUL_PUSH \
    u32 M;          \
    u32 N;          \
    u32 K;          \
    u32 lda;        \
    u32 ldb;        \
    u32 ldc;        \
    u32 strideA;    \
    u32 strideB;    \
    u32 strideC;    \
    f32 alpha;      \
    f32 beta;       \
    u32 hasBias;    \
    u32 act;        \
    f32 actAlpha;   \
    f32 actBeta;

#endif
