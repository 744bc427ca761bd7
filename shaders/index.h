/* Interface of index.comp and its launcher lib/ops/index.c (see interface.h). */
#ifndef VKDL_INDEX_H
#define VKDL_INDEX_H
#include "interface.h"

#define INDEX_SPEC_WG 0    /* workgroup size */
#define INDEX_SPEC_ESIZE 1 /* element bytes: 4, 2 or 1 */
#define INDEX_SPEC_MODE 2  /* view: an INDEX_PAD_*; gather and scatter: an INDEX_OP_* */
#define INDEX_SPEC_INT 3   /* scatter: the elements are i32 (else f32) */
#define INDEX_SPEC_COUNT 4

/* vkdl_pad_mode's values, and FILL: every element of the box is the constant. */
#define INDEX_PAD_CONSTANT 0
#define INDEX_PAD_REFLECT 1
#define INDEX_PAD_EDGE 2
#define INDEX_PAD_WRAP 3
#define INDEX_PAD_FILL 4

#define INDEX_OP_GATHER 0
#define INDEX_OP_GATHER_BACKWARD 1
#define INDEX_OP_GATHER_ELEMENTS 2
/* scatter: vkdl_scatter_reduce's values */
#define INDEX_SCATTER_NONE 0
#define INDEX_SCATTER_ADD 1
#define INDEX_SCATTER_MUL 2
#define INDEX_SCATTER_MAX 3
#define INDEX_SCATTER_MIN 4

/* The view kernel walks at most this many box dims; the launcher loops over any outer ones. */
#define INDEX_VIEW_DIMS 4
#define INDEX_MAX_DIMS 8

/* The box's dims, innermost first (dim 0 is out's innermost, so a box row is contiguous in out):
 * an invocation per out word (per element for 4-byte ones) of each row, wpr of them per row. */
#define INDEX_VIEW_PUSH                                                            \
    u32 n; /* invocations */                                                       \
    u32 ndim;                                                                      \
    u32 wpr;                                                                       \
    u32 obase; /* out element of the box's first, from out's own first */          \
    u32 xbase; /* x element added for the dims the launcher folded */              \
    u32 fill;  /* the constant's bits */                                           \
    u32 extent[INDEX_VIEW_DIMS];                                                   \
    u32 ostride[INDEX_VIEW_DIMS];                                                  \
    u32 xdim[INDEX_VIEW_DIMS];                                                     \
    u32 xstride[INDEX_VIEW_DIMS];                                                  \
    i32 start[INDEX_VIEW_DIMS];                                                    \
    i32 step[INDEX_VIEW_DIMS];

/* Dims innermost first. Gather and its backward: dim = {inner, idx elements}, aux[0] = x's (dx's)
 * axis dim. GatherElements: dim = idx's, aux = x's. Scatter: dim = x's, aux = idx's. */
#define INDEX_GATHER_PUSH               \
    u32 n; /* elements written */       \
    u32 ndim;                           \
    u32 axis;                           \
    u32 dim[INDEX_MAX_DIMS];            \
    u32 aux[INDEX_MAX_DIMS];

#endif
