/* Interface of binary.comp and its launcher lib/ops/elementwise.c (see interface.h). */
#ifndef VKDL_BINARY_H
#define VKDL_BINARY_H
#include "interface.h"

#define BINARY_SPEC_WG 0   /* workgroup size */
#define BINARY_SPEC_OP 1   /* BINARY_OP_* */
#define BINARY_SPEC_NDIM 2 /* collapsed dims, at most BINARY_MAX_DIMS */
#define BINARY_SPEC_TYPE 3 /* BINARY_TYPE_* of a and b (of out in the WHERE build) */
#define BINARY_SPEC_COUNT 4
/* The BACKWARD build adds: */
#define BINARY_SPEC_WHICH 4 /* BINARY_WHICH_*: the operand whose gradient this is (f32 only) */
#define BINARY_SPEC_MODE 5  /* BINARY_MODE_* */
#define BINARY_BACKWARD_SPEC_COUNT 6

/* The values of vkdl_binary_op. */
#define BINARY_OP_ADD 0
#define BINARY_OP_SUB 1
#define BINARY_OP_MUL 2
#define BINARY_OP_DIV 3
#define BINARY_OP_POW 4
#define BINARY_OP_MINIMUM 5
#define BINARY_OP_MAXIMUM 6
#define BINARY_OP_FMOD 7
#define BINARY_OP_MOD 8
#define BINARY_OP_PRELU 9
#define BINARY_OP_EQUAL 10 /* from here on the output is u8 */
#define BINARY_OP_LESS 11
#define BINARY_OP_LESS_EQUAL 12
#define BINARY_OP_GREATER 13
#define BINARY_OP_GREATER_EQUAL 14
#define BINARY_OP_AND 15   /* from here on the inputs are u8 too */
#define BINARY_OP_OR 16
#define BINARY_OP_XOR 17

/* Element types: the values of vkdl_dtype. Every buffer is read and written as 32-bit words, u8
 * packed four to a word, so no 8-bit storage feature is needed (SwiftShader has none). */
#define BINARY_TYPE_F32 0
#define BINARY_TYPE_I32 3
#define BINARY_TYPE_U8 4

#define BINARY_WHICH_A 0
#define BINARY_WHICH_B 1

#define BINARY_MODE_INVOCATION 0 /* an invocation per gradient element */
#define BINARY_MODE_WORKGROUP 1  /* a power-of-two workgroup per gradient element, for long sums */

#define BINARY_MAX_DIMS 8

/* The collapsed output shape (BINARY_SPEC_NDIM dims used) with each operand's element strides
 * along it, 0 where the operand is broadcast. Binding offsets count elements of each tensor's
 * dtype; an invocation owns one 32-bit word of the output (four u8 elements), keeping the bytes of
 * a partial word that lie outside the tensor. */
#define BINARY_PUSH                \
    u32 n;                         \
    u32 words; /* output words */  \
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

/* ---------------------------------------------------------------- where (the WHERE build)
 * out = cond ? a : b, with out's element type BINARY_SPEC_TYPE and cond u8. Three operands'
 * strides would not fit the 128 guaranteed bytes of push constants, so each operand gives a mask
 * of the collapsed dims it is broadcast along instead: along the others its stride is the product
 * of the later dims' sizes it is not broadcast along (it is contiguous, see the launcher). */
#define WHERE_PUSH                                                     \
    u32 n;                                                             \
    u32 words;                                                         \
    u32 shape[BINARY_MAX_DIMS];                                        \
    u32 bcast[3]; /* bit d: cond, a, b broadcast along collapsed dim d */

#endif
