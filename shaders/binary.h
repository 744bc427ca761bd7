/* Interface of binary.comp and its launcher lib/ops/elementwise.c (see interface.h). */
#ifndef VKDL_BINARY_H
#define VKDL_BINARY_H
#include "interface.h"

#define BINARY_SPEC_WG 0   /* workgroup size */
#define BINARY_SPEC_OP 1   /* BINARY_OP_* */
#define BINARY_SPEC_NDIM 2 /* collapsed dims, at most BINARY_MAX_DIMS */
#define BINARY_SPEC_COUNT 3
/* The BACKWARD build adds: */
#define BINARY_SPEC_WHICH 3 /* BINARY_WHICH_*: the operand whose gradient this is */
#define BINARY_SPEC_MODE 4  /* BINARY_MODE_* */
#define BINARY_BACKWARD_SPEC_COUNT 5

/* The values of vkdl_binary_op. */
#define BINARY_OP_ADD 0
#define BINARY_OP_SUB 1
#define BINARY_OP_MUL 2
#define BINARY_OP_DIV 3

#define BINARY_WHICH_A 0
#define BINARY_WHICH_B 1

#define BINARY_MODE_INVOCATION 0 /* an invocation per gradient element */
#define BINARY_MODE_WORKGROUP 1  /* a power-of-two workgroup per gradient element, for long sums */

#define BINARY_MAX_DIMS 8

/* The collapsed output shape (BINARY_SPEC_NDIM dims used) with each operand's element strides
 * along it, 0 where the operand is broadcast. */
#define BINARY_PUSH                \
    u32 n;                         \
    u32 shape[BINARY_MAX_DIMS];    \
    u32 stride_a[BINARY_MAX_DIMS]; \
    u32 stride_b[BINARY_MAX_DIMS];

#define BINARY_BACKWARD_PUSH                                                 \
    u32 n;       /* elements of the operand whose gradient this is */        \
    u32 n_red;   /* out elements summed into each of them */                 \
    u32 reduced; /* bit d: the operand is broadcast along collapsed dim d */ \
    u32 shape[BINARY_MAX_DIMS];                                              \
    u32 stride_a[BINARY_MAX_DIMS];                                           \
    u32 stride_b[BINARY_MAX_DIMS];

#endif
