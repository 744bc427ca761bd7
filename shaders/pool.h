/* Interface of pool.comp and its launcher lib/ops/pool.c (see interface.h). */
#ifndef VKDL_POOL_H
#define VKDL_POOL_H
#include "interface.h"

#define POOL_SPEC_WG 0      /* workgroup size (every build) */
#define POOL_SPEC_OP 1      /* the default build's POOL_OP_* */
#define POOL_SPEC_HAS_IDX 1 /* MAXPOOL: write the argmax too */
#define POOL_SPEC_COUNT 2
#define POOL_MAX_BWD_SPEC_COUNT 1 /* MAXPOOL_BWD has the workgroup size alone */
#define RESIZE_SPEC_MODE 1        /* RESIZE, RESIZE_BWD: the vkdl_resize_mode */
#define RESIZE_SPEC_COORD 2       /* the vkdl_resize_coord */
#define RESIZE_SPEC_NEAREST 3     /* the vkdl_resize_nearest */
#define RESIZE_SPEC_EXCLUDE 4     /* cubic taps outside x are dropped and the rest renormalised */
#define RESIZE_SPEC_COUNT 5

/* vkdl_resize_mode and vkdl_resize_coord / _nearest values the shader branches on (the launcher
 * asserts they match the public enums). */
#define RESIZE_NEAREST 0
#define RESIZE_LINEAR 1
#define RESIZE_CUBIC 2
#define RESIZE_COORD_HALF_PIXEL 0
#define RESIZE_COORD_PYTORCH_HALF_PIXEL 1
#define RESIZE_COORD_ALIGN_CORNERS 2
#define RESIZE_COORD_ASYMMETRIC 3
#define RESIZE_COORD_TF_HALF_PIXEL_FOR_NN 4
#define RESIZE_ROUND_PREFER_FLOOR 0
#define RESIZE_ROUND_PREFER_CEIL 1
#define RESIZE_FLOOR 2
#define RESIZE_CEIL 3

/* Ops of the default build. */
#define POOL_OP_AVG_FWD 0
#define POOL_OP_AVG_BWD 1
#define POOL_OP_GAP_BWD 2 /* global average pool backward */
#define POOL_OP_UP_FWD 3  /* nearest upsampling */
#define POOL_OP_UP_BWD 4

/* MAXPOOL: x is [planes, H, W], the pooled side [planes, OH, OW]; a kh x kw window with stride
 * (sh, sw), top/left padding (ph, pw) and dilation (dh, dw). */
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
    u32 pw;                   \
    u32 dh;                   \
    u32 dw;

/* The default build: MAXPOOL's fields (dilation 1), whether an average counts the padding, and the
 * padded input's end (H + bottom pad, W + right pad), past which a ceil-mode window is not counted. */
#define POOL_PUSH       \
    POOL_MAX_PUSH       \
    u32 include_pad;    \
    u32 eh;             \
    u32 ew;

/* MAXPOOL_BWD: this dispatch's outputs [begin, end) of each plane, added into the zeroed dx. */
#define POOL_MAX_BWD_PUSH \
    u32 planes;           \
    u32 hw;               \
    u32 ohw;              \
    u32 begin;            \
    u32 end;

/* RESIZE (x [planes, H, W] -> y [planes, OH, OW]; n = y elements) and RESIZE_BWD (dy -> dx; n = dx
 * elements). Per axis, the coordinate transform's scale s and the output length it implies, s * in
 * (the output's own length when no scale is given). */
#define RESIZE_PUSH \
    u32 n;          \
    u32 H;          \
    u32 W;          \
    u32 OH;         \
    u32 OW;         \
    f32 scale_h;    \
    f32 scale_w;    \
    f32 len_h;      \
    f32 len_w;      \
    f32 cubic_a;

#endif
