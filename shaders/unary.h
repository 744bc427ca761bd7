/* Interface of unary.comp and its launcher lib/ops/elementwise.c (see interface.h). The op codes
 * are also those of activation.glsl, shared with matmul.comp's fused epilogue. */
#ifndef VKDL_UNARY_H
#define VKDL_UNARY_H
#include "interface.h"

#define UNARY_SPEC_WG 0 /* workgroup size */
#define UNARY_SPEC_OP 1 /* UNARY_OP_* */
#define UNARY_SPEC_COUNT 2

/* The values of vkdl_unary_op, and SCALE: y = alpha * x + beta (forward only). */
#define UNARY_OP_RELU 0
#define UNARY_OP_GELU_TANH 1
#define UNARY_OP_GELU_ERF 2
#define UNARY_OP_SIGMOID 3
#define UNARY_OP_TANH 4
#define UNARY_OP_EXP 5
#define UNARY_OP_LOG 6
#define UNARY_OP_SQRT 7
#define UNARY_OP_NEG 8
#define UNARY_OP_ABS 9
#define UNARY_OP_SCALE 100

#define UNARY_PUSH \
    u32 n;         \
    f32 alpha;     \
    f32 beta;

/* The BACKWARD build: dx = dy * op'(x). */
#define UNARY_BACKWARD_PUSH \
    u32 n;

#endif
