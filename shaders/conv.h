/* Interface of conv.comp and its launcher lib/ops/conv.c (see interface.h; conv.comp's header
 * comment says what each variant computes from them). */
#ifndef VKDL_CONV_H
#define VKDL_CONV_H
#include "interface.h"

#define CONV_SPEC_WG_X 0 /* CPU kernel and DIRECT: invocations per workgroup; GPU: threads along columns */
#define CONV_SPEC_WG_Y 1 /* CPU kernel: 1; GPU: threads along rows */
#define CONV_SPEC_TM 2   /* rows (DIRECT: pixels) per invocation */
#define CONV_SPEC_TN 3   /* CPU kernel: vec4 column groups per invocation; GPU: columns per thread */
#define CONV_SPEC_BWD 4  /* the row grid is backward-data's (one stride phase of dx) */
#define CONV_SPEC_BK 5   /* GPU: reduction slice staged in shared memory */
#define CONV_SPEC_COUNT 6

/* DIRECT kernels compute one vec4 of destination channels per pixel. */
#define CONV_DIRECT_MAX_CO 4

/* Forward and backward-data (GEMM and DIRECT), after the offsets offA, offB, offBias, offD. nk,
 * kdim, khab and kwab pack two 16-bit halves, low | high << 16. */
#define CONV_PUSH                                                  \
    u32 N;    /* row grid: images, rows, columns */                \
    u32 RH;                                                        \
    u32 RW;                                                        \
    u32 SC;   /* source: channels (all groups), plane */           \
    u32 SH;                                                        \
    u32 SW;                                                        \
    u32 DC;   /* destination: channels, plane */                   \
    u32 DH;                                                        \
    u32 DW;                                                        \
    u32 CR;   /* reduction channels per group */                   \
    u32 CO;   /* destination channels per group */                 \
    u32 dh0;  /* phase (backward-data) */                          \
    u32 dw0;                                                       \
    u32 sh;   /* stride */                                         \
    u32 sw;                                                        \
    i32 sh0;  /* source pixel of row (0, 0) at tap (0, 0) */       \
    i32 sw0;                                                       \
    i32 tsh;  /* source step per tap */                            \
    i32 tsw;                                                       \
    u32 nk;   /* taps enumerated: nKH | nKW << 16 */               \
    u32 kdim; /* the weight's kernel size: KH | KW << 16 */        \
    u32 khab; /* first kernel index | index step << 16, per dim */ \
    u32 kwab;                                                      \
    u32 hasBias;                                                   \
    u32 act;  /* forward epilogue: vkdl_unary_op + 1, 0 none */    \
    f32 actAlpha;                                                  \
    f32 actBeta;

/* Weight gradient (WGRAD, GEMM and DIRECT), after the offsets offA, offB, offD. */
#define CONV_WGRAD_PUSH                      \
    u32 N;    /* pixel grid of dy */         \
    u32 OH;                                  \
    u32 OW;                                  \
    u32 SC;   /* x: channels, plane */       \
    u32 SH;                                  \
    u32 SW;                                  \
    u32 O;    /* dy channels (all groups) */ \
    u32 CR;   /* channels per group of x */  \
    u32 CO;   /* channels per group of dy */ \
    u32 sh;                                  \
    u32 sw;                                  \
    i32 sh0;                                 \
    i32 sw0;                                 \
    i32 tsh;                                 \
    i32 tsw;                                 \
    u32 kdim; /* KH | KW << 16 */            \
    u32 L;    /* pixels per split */         \
    u32 S;    /* splits */                   \
    u32 G;    /* groups */

#endif
