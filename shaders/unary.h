/* Interface of unary.comp and its launcher lib/ops/elementwise.c (see interface.h). The op codes
 * are also those of activation.glsl, shared with matmul.comp's fused epilogue. */
#ifndef VKDL_UNARY_H
#define VKDL_UNARY_H
#include "interface.h"

#define UNARY_SPEC_WG 0 /* workgroup size */
#define UNARY_SPEC_OP 1 /* UNARY_OP_* */
#define UNARY_SPEC_COUNT 2

/* The values of vkdl_unary_op, and SCALE: y = alpha * x + beta (forward only). alpha and beta
 * are also the parameters of LEAKY_RELU and the ops after it, resolved on the host. */
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
#define UNARY_OP_FLOOR 10
#define UNARY_OP_CEIL 11
#define UNARY_OP_ROUND 12
#define UNARY_OP_SIGN 13
#define UNARY_OP_RECIPROCAL 14
#define UNARY_OP_SIN 15
#define UNARY_OP_COS 16
#define UNARY_OP_TAN 17
#define UNARY_OP_ASIN 18
#define UNARY_OP_ACOS 19
#define UNARY_OP_ATAN 20
#define UNARY_OP_SINH 21
#define UNARY_OP_COSH 22
#define UNARY_OP_ASINH 23
#define UNARY_OP_ACOSH 24
#define UNARY_OP_ATANH 25
#define UNARY_OP_ERF 26
#define UNARY_OP_SOFTPLUS 27
#define UNARY_OP_SOFTSIGN 28
#define UNARY_OP_SILU 29
#define UNARY_OP_MISH 30
#define UNARY_OP_HARDSWISH 31
#define UNARY_OP_LEAKY_RELU 32
#define UNARY_OP_ELU 33
#define UNARY_OP_SELU 34
#define UNARY_OP_CELU 35
#define UNARY_OP_HARDSIGMOID 36
#define UNARY_OP_CLIP 37
#define UNARY_OP_THRESHOLDED_RELU 38
#define UNARY_OP_SHRINK 39
#define UNARY_OP_SCALE 100

#define UNARY_PUSH \
    u32 n;         \
    f32 alpha;     \
    f32 beta;

/* The BACKWARD build: dx = dy * op'(x). */
#define UNARY_BACKWARD_PUSH \
    u32 n;                  \
    f32 alpha;              \
    f32 beta;

#endif
