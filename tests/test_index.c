/* vkdl_view_copy, vkdl_gather (and backward), vkdl_gather_elements and vkdl_scatter_elements
 * against their CPU twins: each ONNX use of the window copy (Slice, Pad in every mode, Concat,
 * Tile, Expand, reversal), every element size (u8 and f16 outputs share 32-bit words with
 * neighbours that must survive), views, ranks 0 to 6, size-1 and empty dims, negative, repeated
 * and out-of-range indices, every scatter reduction, and bad arguments. lib/ops/index.c
 *
 * Copies are exact (TH_TOL_EXACT); so are the gather backward and the scatter reductions, which
 * add in the same order on both backends. Gradchecks: step 1e-2 (the forward is linear). */
#include "harness.h"

#include <math.h>
#include <stdio.h>

/* Integers in [lo, hi): indices, negative ones counting from the end. */
static void indices(float *v, int64_t n, const th_shape *s, float lo, float hi)
{
    (void)s;
    for (int64_t i = 0; i < n; i++)
        v[i] = floorf(th_randf(lo, hi));
}

/* Whole values over each integer dtype's range, so every byte pattern is exercised. */
#define U8(...) {.shape = TH_SHAPE(__VA_ARGS__), .dtype = VKDL_U8, .lo = 0, .hi = 256}
#define I32(...) {.shape = TH_SHAPE(__VA_ARGS__), .dtype = VKDL_I32, .lo = -1e6f, .hi = 1e6f}
#define F16(...) {.shape = TH_SHAPE(__VA_ARGS__), .dtype = VKDL_F16, .lo = -10, .hi = 10}
#define F32(...) {.shape = TH_SHAPE(__VA_ARGS__), .lo = -10, .hi = 10}
#define IDX(lo_, hi_, ...) \
    {.shape = TH_SHAPE(__VA_ARGS__), .dtype = VKDL_I32, .fill = TH_FILL_FN, .gen = indices, .lo = lo_, .hi = hi_}
#define I32_SCALAR {.shape = TH_SCALAR, .dtype = VKDL_I32, .lo = -9, .hi = 9}
#define IDX_SCALAR(lo_, hi_) {.shape = TH_SCALAR, .dtype = VKDL_I32, .fill = TH_FILL_FN, .gen = indices, .lo = lo_, .hi = hi_}
#define OUT_SCALAR(dt) {.shape = TH_SCALAR, .dtype = dt}
#define OUT(dt, ...) {.shape = TH_SHAPE(__VA_ARGS__), .dtype = dt}
/* An output the op writes only part of: it starts random, and what is left must survive. */
#define PART(dt, ...) {.shape = TH_SHAPE(__VA_ARGS__), .dtype = dt, .accumulate = true}

/* ---------------------------------------------------------------- view_copy */

static vkdl_status view(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    return vkdl_view_copy(in[0], out[0], op->params);
}

/* ONNX Concat along args[0]: one call per input, each at its offset along the axis. */
static vkdl_status concat(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    vkdl_view_info info = {0};
    for (int i = 0; i < op->n_in; i++) {
        vkdl_status s = vkdl_view_copy(in[i], out[0], &info);
        if (s != VKDL_OK)
            return s;
        info.out_offset[op->args[0]] += vkdl_tensor_dim(in[i], op->args[0]);
    }
    return VKDL_OK;
}

static const vkdl_view_info SLICE = {.start = {1, 2}, .step = {2, 3}};
static const vkdl_view_info SLICE_ROWS = {.start = {2, 0}};
static const vkdl_view_info REVERSE = {.start = {6, 12}, .step = {-1, -1}};
static const vkdl_view_info REVERSE_INNER = {.start = {0, 0, 100}, .step = {1, 1, -1}};
static const vkdl_view_info STEP_BACK = {.start = {16, 28}, .step = {-3, -4}};
static const vkdl_view_info PAD_CONSTANT = {.start = {-2, -3}, .mode = VKDL_PAD_CONSTANT, .value = 1.5f};
static const vkdl_view_info PAD_REFLECT = {.start = {-2, -3}, .mode = VKDL_PAD_REFLECT};
static const vkdl_view_info PAD_EDGE = {.start = {-2, -3}, .mode = VKDL_PAD_EDGE};
static const vkdl_view_info PAD_WRAP = {.start = {-2, -3}, .mode = VKDL_PAD_WRAP};
/* Pads wider than the input: reflect and wrap go round more than once. */
static const vkdl_view_info PAD_REFLECT_WIDE = {.start = {-7, -9}, .mode = VKDL_PAD_REFLECT};
static const vkdl_view_info PAD_WRAP_WIDE = {.start = {-7, -9}, .mode = VKDL_PAD_WRAP};
static const vkdl_view_info PAD_ROWS = {.start = {-1, 0}, .mode = VKDL_PAD_CONSTANT, .value = 7};
static const vkdl_view_info PAD_6D = {.start = {-1, -1, -1, -1, -1, -1}, .mode = VKDL_PAD_CONSTANT, .value = -2};
static const vkdl_view_info PAD_6D_EDGE = {.start = {-1, 0, -2, -1, 0, -1}, .mode = VKDL_PAD_EDGE};
static const vkdl_view_info SLICE_6D = {.start = {1, 0, 2, 1, 0, 4}, .step = {1, 1, -1, 2, 1, -2}};
static const vkdl_view_info SLICE_8D = {.start = {1, 1, 0, 0, 0}, .step = {1, -1, 2}};
static const vkdl_view_info PAD_7D = {.start = {-1, 0, -1, 0, 0, -1, -1}, .mode = VKDL_PAD_WRAP};
static const vkdl_view_info TILE = {.mode = VKDL_PAD_WRAP};
static const vkdl_view_info BOX = {.out_offset = {1, 2}, .extent = {2, 3}, .start = {0, 1}};
static const vkdl_view_info BOX_INNER = {.out_offset = {0, 3}, .extent = {0, 5}};
static const vkdl_view_info BOX_ONE_COLUMN = {.out_offset = {0, 4}, .extent = {0, 1}, .start = {0, 2}};
static const vkdl_view_info SIZE1 = {.start = {0, 2, 0, -1}, .step = {1, 1, 1, 1}, .mode = VKDL_PAD_CONSTANT};
static const vkdl_view_info SCALAR_PAD = {.start = {-1}, .mode = VKDL_PAD_CONSTANT, .value = 3};

#define VIEW(name_, info_, x_, o_) \
    {.name = "view/" name_, .params = &info_, .n_in = 1, .n_out = 1, .forward = view, .in = {x_}, .out = {o_}, \
     .tol = &TH_TOL_EXACT, .deterministic = true}
/* out starts random, so a second run into fresh tensors differs outside the box */
#define VIEW_PART(name_, info_, x_, o_) \
    {.name = "view/" name_, .params = &info_, .n_in = 1, .n_out = 1, .forward = view, .in = {x_}, .out = {o_}, \
     .tol = &TH_TOL_EXACT}
#define PLAIN(name_, x_, o_) \
    {.name = "view/" name_, .n_in = 1, .n_out = 1, .forward = view, .in = {x_}, .out = {o_}, .tol = &TH_TOL_EXACT}

static const th_op VIEWS[] = {
    VIEW("slice f32 steps 2 and 3", SLICE, F32(7, 13), OUT(VKDL_F32, 3, 4)),
    VIEW("slice u8 steps 2 and 3", SLICE, U8(7, 13), OUT(VKDL_U8, 3, 4)),
    VIEW("slice f16 steps 2 and 3", SLICE, F16(7, 13), OUT(VKDL_F16, 3, 4)),
    VIEW("slice u8 rows", SLICE_ROWS, U8(7, 13), OUT(VKDL_U8, 3, 13)),
    VIEW("reversal f32", REVERSE, F32(7, 13), OUT(VKDL_F32, 7, 13)),
    VIEW("reversal u8", REVERSE, U8(7, 13), OUT(VKDL_U8, 7, 13)),
    VIEW("reversal f16", REVERSE, F16(7, 13), OUT(VKDL_F16, 7, 13)),
    VIEW("reversal i32 inner dim", REVERSE_INNER, I32(3, 2, 101), OUT(VKDL_I32, 3, 2, 101)),
    VIEW("slice u8 steps -3 and -4", STEP_BACK, U8(17, 29), OUT(VKDL_U8, 6, 7)),
    VIEW("pad constant f32", PAD_CONSTANT, F32(5, 7), OUT(VKDL_F32, 9, 13)),
    VIEW("pad constant u8", PAD_CONSTANT, U8(5, 7), OUT(VKDL_U8, 9, 13)),
    VIEW("pad constant f16", PAD_CONSTANT, F16(5, 7), OUT(VKDL_F16, 9, 13)),
    VIEW("pad constant i32", PAD_CONSTANT, I32(5, 7), OUT(VKDL_I32, 9, 13)),
    VIEW("pad reflect f32", PAD_REFLECT, F32(5, 7), OUT(VKDL_F32, 9, 13)),
    VIEW("pad reflect u8", PAD_REFLECT, U8(5, 7), OUT(VKDL_U8, 9, 13)),
    VIEW("pad reflect f16 wide", PAD_REFLECT_WIDE, F16(3, 4), OUT(VKDL_F16, 17, 23)),
    VIEW("pad edge f32", PAD_EDGE, F32(5, 7), OUT(VKDL_F32, 9, 13)),
    VIEW("pad edge u8", PAD_EDGE, U8(1, 1), OUT(VKDL_U8, 5, 7)),
    VIEW("pad wrap i32", PAD_WRAP, I32(5, 7), OUT(VKDL_I32, 9, 13)),
    VIEW("pad wrap u8 wide", PAD_WRAP_WIDE, U8(2, 3), OUT(VKDL_U8, 17, 23)),
    VIEW("pad constant f32 large", PAD_CONSTANT, F32(61, 253), OUT(VKDL_F32, 67, 263)),
    VIEW("pad reflect u8 large", PAD_REFLECT, U8(37, 129), OUT(VKDL_U8, 41, 135)),
    VIEW("pad constant of an empty x", PAD_ROWS, F32(0, 3), OUT(VKDL_F32, 2, 3)),
    VIEW("pad constant u8 of an empty x", PAD_ROWS, U8(0, 5), OUT(VKDL_U8, 3, 5)),
    VIEW("pad constant f32 rank 6", PAD_6D, F32(2, 3, 2, 3, 2, 5), OUT(VKDL_F32, 4, 5, 4, 5, 4, 7)),
    VIEW("pad constant u8 rank 6", PAD_6D, U8(2, 3, 2, 3, 2, 5), OUT(VKDL_U8, 4, 5, 4, 5, 4, 7)),
    VIEW("pad edge f16 rank 6", PAD_6D_EDGE, F16(2, 3, 2, 3, 2, 5), OUT(VKDL_F16, 4, 3, 5, 5, 2, 7)),
    VIEW("slice i32 rank 6", SLICE_6D, I32(3, 2, 4, 5, 2, 9), OUT(VKDL_I32, 2, 2, 3, 2, 2, 3)),
    VIEW("tile f32", TILE, F32(2, 3), OUT(VKDL_F32, 6, 9)),
    VIEW("tile u8", TILE, U8(2, 3), OUT(VKDL_U8, 6, 9)),
    VIEW("tile f16 rank 3", TILE, F16(2, 1, 3), OUT(VKDL_F16, 4, 5, 9)),
    VIEW("expand f32 inner size 1", TILE, F32(3, 1), OUT(VKDL_F32, 3, 7)),
    VIEW("expand u8 outer size 1", TILE, U8(1, 5), OUT(VKDL_U8, 4, 5)),
    VIEW("expand f16 rank 4", TILE, F16(1, 3, 1, 5), OUT(VKDL_F16, 2, 3, 7, 5)),
    VIEW_PART("box f32", BOX, F32(5, 7), PART(VKDL_F32, 4, 7)),
    VIEW_PART("box u8", BOX, U8(5, 7), PART(VKDL_U8, 4, 7)),
    VIEW_PART("box f16", BOX, F16(5, 7), PART(VKDL_F16, 4, 7)),
    VIEW_PART("box u8 inner columns", BOX_INNER, U8(3, 5), PART(VKDL_U8, 3, 11)),
    VIEW_PART("box f16 one column", BOX_ONE_COLUMN, F16(6, 3), PART(VKDL_F16, 6, 7)),
    VIEW("size-1 dims u8 rank 4", SIZE1, U8(1, 3, 1, 5), OUT(VKDL_U8, 1, 1, 1, 5)),
    VIEW("scalar padded to rank 1", SCALAR_PAD, F32(1), OUT(VKDL_F32, 3)),
    PLAIN("info NULL f32 rank 1", F32(1), OUT(VKDL_F32, 1)),
    PLAIN("info NULL u8 rank 1 prime", U8(1009), OUT(VKDL_U8, 1009)),
    PLAIN("info NULL u8 rank 6", U8(2, 3, 2, 3, 2, 5), OUT(VKDL_U8, 2, 3, 2, 3, 2, 5)),
    PLAIN("info NULL f32 rank 8", F32(2, 3, 2, 3, 2, 1, 2, 3), OUT(VKDL_F32, 2, 3, 2, 3, 2, 1, 2, 3)),
    VIEW("slice f16 rank 8 outer dims", SLICE_8D, F16(3, 2, 3, 2, 3, 2, 2, 3), OUT(VKDL_F16, 2, 1, 2, 2, 3, 2, 2, 3)),
    VIEW("pad wrap u8 rank 7", PAD_7D, U8(2, 3, 2, 1, 2, 3, 5), OUT(VKDL_U8, 3, 4, 3, 2, 3, 4, 7)),
    PLAIN("info NULL f16 rank 5", F16(2, 1, 3, 5, 7), OUT(VKDL_F16, 2, 1, 3, 5, 7)),
    PLAIN("info NULL i32 scalar", I32_SCALAR, OUT_SCALAR(VKDL_I32)),
    /* views: both tensors start mid-buffer, and the rows around out must survive */
    {.name = "view/slice u8 of views", .params = &SLICE, .n_in = 1, .n_out = 1, .forward = view,
     .in = {{.shape = TH_SHAPE(7, 13), .dtype = VKDL_U8, .lo = 0, .hi = 256, .pad = {1, 2}}},
     .out = {{.shape = TH_SHAPE(3, 4), .dtype = VKDL_U8, .pad = {1, 1}}}, .tol = &TH_TOL_EXACT},
    {.name = "view/pad reflect f16 of views", .params = &PAD_REFLECT, .n_in = 1, .n_out = 1, .forward = view,
     .in = {{.shape = TH_SHAPE(5, 7), .dtype = VKDL_F16, .lo = -10, .hi = 10, .pad = {3, 1}}},
     .out = {{.shape = TH_SHAPE(9, 13), .dtype = VKDL_F16, .pad = {1, 3}}}, .tol = &TH_TOL_EXACT},
    {.name = "view/reversal i32 of views", .params = &REVERSE, .n_in = 1, .n_out = 1, .forward = view,
     .in = {{.shape = TH_SHAPE(7, 13), .dtype = VKDL_I32, .lo = -1e6f, .hi = 1e6f, .pad = {2, 0}}},
     .out = {{.shape = TH_SHAPE(7, 13), .dtype = VKDL_I32, .pad = {0, 2}}}, .tol = &TH_TOL_EXACT},
    {.name = "view/concat f32 axis 1", .args = {1}, .n_in = 2, .n_out = 1, .forward = concat,
     .in = {F32(3, 5), F32(3, 8)}, .out = {OUT(VKDL_F32, 3, 13)}, .tol = &TH_TOL_EXACT},
    {.name = "view/concat u8 axis 1 of three", .args = {1}, .n_in = 3, .n_out = 1, .forward = concat,
     .in = {U8(3, 5), U8(3, 6), U8(3, 1)}, .out = {OUT(VKDL_U8, 3, 12)}, .tol = &TH_TOL_EXACT},
    {.name = "view/concat f16 axis 0", .args = {0}, .n_in = 2, .n_out = 1, .forward = concat,
     .in = {F16(3, 5), F16(1, 5)}, .out = {OUT(VKDL_F16, 4, 5)}, .tol = &TH_TOL_EXACT},
    {.name = "view/concat u8 axis 2 into a view", .args = {2}, .n_in = 2, .n_out = 1, .forward = concat,
     .in = {U8(2, 3, 3), U8(2, 3, 2)}, .out = {{.shape = TH_SHAPE(2, 3, 5), .dtype = VKDL_U8, .pad = {1, 1}}},
     .tol = &TH_TOL_EXACT},
};

/* ---------------------------------------------------------------- gather */

static vkdl_status gather(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    return vkdl_gather(in[0], in[1], op->args[0], out[0]);
}

static vkdl_status gather_backward(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out,
                                   vkdl_tensor *const *dout, vkdl_tensor *const *din)
{
    (void)out;
    return vkdl_gather_backward(dout[0], in[1], op->args[0], din[0]);
}

#define GATHER(name_, axis_, x_, idx_, o_) \
    {.name = "gather/" name_, .args = {axis_}, .n_in = 2, .n_out = 1, .forward = gather, .in = {x_, idx_}, \
     .out = {o_}, .tol = &TH_TOL_EXACT, .deterministic = true}
#define GATHER_GRAD(name_, axis_, x_, idx_, o_) \
    {.name = "gather/" name_, .args = {axis_}, .n_in = 2, .n_out = 1, .forward = gather, \
     .backward = gather_backward, .in = {x_, idx_}, .out = {o_}, .tol = &TH_TOL_EXACT, .deterministic = true, \
     .grad = {.checks = 40, .eps = 1e-2, .tol = 1e-2}}

static const th_op GATHERS[] = {
    GATHER_GRAD("f32 axis 0 negative indices", 0, F32(7, 5), IDX(-7, 7, 4), OUT(VKDL_F32, 4, 5)),
    GATHER_GRAD("f32 axis 1 2-D idx", 1, F32(3, 11, 4), IDX(-11, 11, 2, 3), OUT(VKDL_F32, 3, 2, 3, 4)),
    GATHER_GRAD("f32 axis -1 repeats", -1, F32(5, 3), IDX(0, 3, 17), OUT(VKDL_F32, 5, 17)),
    GATHER_GRAD("f32 scalar idx", 1, F32(5, 6), IDX_SCALAR(-6, 6), OUT(VKDL_F32, 5)),
    GATHER_GRAD("f32 large", 0, F32(300, 7), IDX(-300, 300, 1000), OUT(VKDL_F32, 1000, 7)),
    GATHER_GRAD("f32 empty idx", 1, F32(3, 4), IDX(0, 4, 0), OUT(VKDL_F32, 3, 0)),
    GATHER("u8 axis 1", 1, U8(3, 7, 5), IDX(-7, 7, 3), OUT(VKDL_U8, 3, 3, 5)),
    GATHER("u8 axis 2 odd rows", 2, U8(3, 5, 7), IDX(-7, 7, 2, 3), OUT(VKDL_U8, 3, 5, 2, 3)),
    GATHER("f16 axis 0", 0, F16(9, 3), IDX(-9, 9, 5), OUT(VKDL_F16, 5, 3)),
    GATHER("f16 rank 4 axis 2", 2, F16(2, 3, 4, 5), IDX(0, 4, 3), OUT(VKDL_F16, 2, 3, 3, 5)),
    GATHER("i32 axis 1 rank 3 idx", 1, I32(2, 6, 3), IDX(-6, 6, 2, 1, 2), OUT(VKDL_I32, 2, 2, 1, 2, 3)),
    {.name = "gather/u8 into a view", .args = {0}, .n_in = 2, .n_out = 1, .forward = gather,
     .in = {U8(7, 3), IDX(-7, 7, 5)}, .out = {{.shape = TH_SHAPE(5, 3), .dtype = VKDL_U8, .pad = {1, 1}}},
     .tol = &TH_TOL_EXACT},
};

/* ---------------------------------------------------------------- gather_elements */

static vkdl_status gather_elements(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    return vkdl_gather_elements(in[0], in[1], op->args[0], out[0]);
}

#define ELEMENTS(name_, axis_, x_, idx_, o_) \
    {.name = "gather_elements/" name_, .args = {axis_}, .n_in = 2, .n_out = 1, .forward = gather_elements, \
     .in = {x_, idx_}, .out = {o_}, .tol = &TH_TOL_EXACT, .deterministic = true}

static const th_op ELEMENTS_ROWS[] = {
    ELEMENTS("f32 axis 1", 1, F32(4, 6), IDX(-6, 6, 4, 3), OUT(VKDL_F32, 4, 3)),
    ELEMENTS("f32 axis 0 longer idx", 0, F32(3, 5), IDX(-3, 3, 7, 5), OUT(VKDL_F32, 7, 5)),
    ELEMENTS("f32 shorter off the axis", 0, F32(4, 6), IDX(-4, 4, 3, 2), OUT(VKDL_F32, 3, 2)),
    ELEMENTS("u8 rank 3 axis 2", 2, U8(3, 4, 5), IDX(-5, 5, 3, 4, 7), OUT(VKDL_U8, 3, 4, 7)),
    ELEMENTS("f16 rank 3 axis -2", -2, F16(3, 4, 5), IDX(-4, 4, 2, 9, 5), OUT(VKDL_F16, 2, 9, 5)),
    ELEMENTS("i32 rank 1", 0, I32(17), IDX(-17, 17, 31), OUT(VKDL_I32, 31)),
    ELEMENTS("u8 large", 1, U8(33, 65), IDX(-65, 65, 33, 131), OUT(VKDL_U8, 33, 131)),
};

/* ---------------------------------------------------------------- scatter_elements */

static vkdl_status scatter(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    return vkdl_scatter_elements(in[0], in[1], in[2], op->args[0], (vkdl_scatter_reduce)op->op, out[0]);
}

/* Indices in a range smaller than the idx dim repeat: several updates land on one element. */
#define SCATTER(name_, reduce_, axis_, x_, idx_, u_, o_) \
    {.name = "scatter_elements/" name_, .op = reduce_, .args = {axis_}, .n_in = 3, .n_out = 1, \
     .forward = scatter, .in = {x_, idx_, u_}, .out = {o_}, .tol = &TH_TOL_EXACT, .deterministic = true}
/* Products of many updates stay finite with factors near 1. */
#define NEAR1(...) {.shape = TH_SHAPE(__VA_ARGS__), .lo = 0.5f, .hi = 1.5f}

static const th_op SCATTERS[] = {
    SCATTER("none f32 axis 0 duplicates", VKDL_SCATTER_NONE, 0, F32(5, 7), IDX(-5, 5, 9, 7), F32(9, 7),
            OUT(VKDL_F32, 5, 7)),
    SCATTER("add f32 axis 0", VKDL_SCATTER_ADD, 0, F32(5, 7), IDX(-5, 5, 9, 7), F32(9, 7), OUT(VKDL_F32, 5, 7)),
    SCATTER("mul f32 axis 1", VKDL_SCATTER_MUL, 1, NEAR1(4, 6), IDX(-6, 6, 4, 13), NEAR1(4, 13),
            OUT(VKDL_F32, 4, 6)),
    SCATTER("max f32 axis 1", VKDL_SCATTER_MAX, 1, F32(4, 6), IDX(-6, 6, 4, 13), F32(4, 13), OUT(VKDL_F32, 4, 6)),
    SCATTER("min f32 shorter off the axis", VKDL_SCATTER_MIN, 0, F32(6, 5), IDX(-6, 6, 9, 3), F32(9, 3),
            OUT(VKDL_F32, 6, 5)),
    SCATTER("none i32 rank 3 axis 1", VKDL_SCATTER_NONE, 1, I32(3, 4, 5), IDX(-4, 4, 2, 6, 5), I32(2, 6, 5),
            OUT(VKDL_I32, 3, 4, 5)),
    SCATTER("add i32 axis -1", VKDL_SCATTER_ADD, -1, I32(3, 5), IDX(-5, 5, 3, 11), I32(3, 11), OUT(VKDL_I32, 3, 5)),
    SCATTER("mul i32 wraps", VKDL_SCATTER_MUL, 0, I32(4, 3), IDX(-4, 4, 8, 3), I32(8, 3), OUT(VKDL_I32, 4, 3)),
    SCATTER("max i32", VKDL_SCATTER_MAX, 0, I32(4, 3), IDX(-4, 4, 8, 3), I32(8, 3), OUT(VKDL_I32, 4, 3)),
    SCATTER("min i32 rank 1", VKDL_SCATTER_MIN, 0, I32(17), IDX(-17, 17, 40), I32(40), OUT(VKDL_I32, 17)),
    SCATTER("add f32 large", VKDL_SCATTER_ADD, 1, F32(37, 70), IDX(-70, 70, 30, 500), F32(30, 500),
            OUT(VKDL_F32, 37, 70)),
    SCATTER("none f32 no updates", VKDL_SCATTER_NONE, 0, F32(3, 4), IDX(0, 3, 0, 4), F32(0, 4), OUT(VKDL_F32, 3, 4)),
};

/* ---------------------------------------------------------------- bad arguments */

static void run_bad(void *arg)
{
    (void)arg;
    vkdl_context *c = th_gpu;
    int64_t s23[2] = {2, 3}, s45[2] = {4, 5}, s3[1] = {3}, s0[2] = {0, 3}, s14[2] = {1, 4};
    vkdl_tensor *x = th_mk(c, VKDL_F32, 2, s23), *o = th_mk(c, VKDL_F32, 2, s45), *o16 = th_mk(c, VKDL_F16, 2, s45);
    vkdl_tensor *o1 = th_mk(c, VKDL_F32, 1, s3), *e = th_mk(c, VKDL_F32, 2, s0), *x1 = th_mk(c, VKDL_F32, 2, s14);
    vkdl_tensor *ocpu = th_mk(th_cpu, VKDL_F32, 2, s45), *u8 = th_mk(c, VKDL_U8, 2, s23);
    const vkdl_base_struct ext = {.type = (vkdl_structure_type)42};

    TH_STATUS(vkdl_view_copy(NULL, o, NULL), VKDL_ERROR_INVALID_ARGUMENT, "view_copy: x is NULL");
    TH_STATUS(vkdl_view_copy(x, NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT, "view_copy: out is NULL");
    TH_STATUS(vkdl_view_copy(x, o16, &(vkdl_view_info){0}), VKDL_ERROR_DTYPE_MISMATCH, "out is f16, expected f32");
    TH_STATUS(vkdl_view_copy(x, ocpu, NULL), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    TH_STATUS(vkdl_view_copy(x, o1, &(vkdl_view_info){0}), VKDL_ERROR_SHAPE_MISMATCH, "ranks differ");
    TH_STATUS(vkdl_view_copy(x, o, NULL), VKDL_ERROR_SHAPE_MISMATCH, NULL);
    TH_STATUS(vkdl_view_copy(x, o, &(vkdl_view_info){.next = &ext}), VKDL_ERROR_INVALID_ARGUMENT,
              "view_copy: unknown extension struct type 42");
    TH_STATUS(vkdl_view_copy(x, o, &(vkdl_view_info){.mode = (vkdl_pad_mode)7}), VKDL_ERROR_INVALID_ARGUMENT,
              "mode 7 is not a vkdl_pad_mode");
    TH_STATUS(vkdl_view_copy(x, o, &(vkdl_view_info){.out_offset = {0, 3}, .extent = {0, 3}}),
              VKDL_ERROR_SHAPE_MISMATCH, "the box of dim 1 (offset 3, extent 3) is outside out 4x5");
    TH_STATUS(vkdl_view_copy(x, o, &(vkdl_view_info){.out_offset = {5}}), VKDL_ERROR_SHAPE_MISMATCH,
              "the box of dim 0");
    TH_STATUS(vkdl_view_copy(x, o, &(vkdl_view_info){.out_offset = {-1}}), VKDL_ERROR_SHAPE_MISMATCH,
              "the box of dim 0");
    TH_STATUS(vkdl_view_copy(x1, o, &(vkdl_view_info){.start = {-1}, .mode = VKDL_PAD_REFLECT}),
              VKDL_ERROR_INVALID_ARGUMENT, "reflect mode reads indices -1 to 2 of dim 0 of x 1x4, which needs at "
              "least 2 elements");
    TH_STATUS(vkdl_view_copy(e, o, &(vkdl_view_info){.mode = VKDL_PAD_WRAP}), VKDL_ERROR_INVALID_ARGUMENT,
              "wrap mode reads indices 0 to 3 of dim 0");
    TH_STATUS(vkdl_view_copy(x, o, &(vkdl_view_info){.step = {(int64_t)1 << 40}}), VKDL_ERROR_TOO_LARGE,
              "beyond 32 bits");
    /* the default mode is constant: reading past x pads with the value */
    TH_OK(vkdl_view_copy(x, o, &(vkdl_view_info){0}));

    int64_t si[1] = {2}, sg[3] = {2, 2, 3};
    vkdl_tensor *idx = th_mk(c, VKDL_I32, 1, si), *g = th_mk(c, VKDL_F32, 2, s23), *fidx = th_mk(c, VKDL_F32, 1, si);
    vkdl_tensor *g3 = th_mk(c, VKDL_F32, 3, sg);
    TH_STATUS(vkdl_gather(x, idx, 2, g), VKDL_ERROR_INVALID_ARGUMENT, "gather: axis 2 is outside the 2 dims of x 2x3");
    TH_STATUS(vkdl_gather(x, idx, -3, g), VKDL_ERROR_INVALID_ARGUMENT, "axis -3");
    TH_STATUS(vkdl_gather(x, fidx, 0, g), VKDL_ERROR_DTYPE_MISMATCH, "idx is f32, expected i32");
    TH_STATUS(vkdl_gather(x, idx, 0, g3), VKDL_ERROR_SHAPE_MISMATCH,
              "gather: out is 2x2x3, expected x 2x3 with dim 0 replaced by idx's 2");
    TH_STATUS(vkdl_gather(x, idx, 0, u8), VKDL_ERROR_DTYPE_MISMATCH, "out is u8, expected f32");
    TH_STATUS(vkdl_gather(NULL, idx, 0, g), VKDL_ERROR_INVALID_ARGUMENT, "gather: x is NULL");
    TH_STATUS(vkdl_gather_backward(g, idx, 0, u8), VKDL_ERROR_DTYPE_MISMATCH, "gather_backward: dx is u8");
    TH_STATUS(vkdl_gather_backward(g3, idx, 0, x), VKDL_ERROR_SHAPE_MISMATCH, "gather_backward: dout is 2x2x3");

    int64_t sx3[3] = {2, 3, 4};
    vkdl_tensor *x3 = th_mk(c, VKDL_F32, 3, sx3), *i23 = th_mk(c, VKDL_I32, 2, s23), *i45 = th_mk(c, VKDL_I32, 2, s45);
    vkdl_tensor *i14 = th_mk(c, VKDL_I32, 2, s14);
    TH_STATUS(vkdl_gather_elements(x3, i23, 0, g), VKDL_ERROR_SHAPE_MISMATCH, "idx is 2x3, expected x's rank");
    TH_STATUS(vkdl_gather_elements(x, i14, 0, g), VKDL_ERROR_SHAPE_MISMATCH, "gather_elements: idx is 1x4");
    TH_STATUS(vkdl_gather_elements(x, i23, 0, o), VKDL_ERROR_SHAPE_MISMATCH, NULL);
    TH_STATUS(vkdl_gather_elements(x, i23, 5, g), VKDL_ERROR_INVALID_ARGUMENT, "axis 5");
    TH_STATUS(vkdl_gather_elements(x, x, 0, g), VKDL_ERROR_DTYPE_MISMATCH, "idx is f32");

    vkdl_tensor *xi = th_mk(c, VKDL_I32, 2, s23);
    TH_STATUS(vkdl_scatter_elements(u8, i23, u8, 0, VKDL_SCATTER_NONE, u8), VKDL_ERROR_DTYPE_MISMATCH,
              "scatter_elements: x is u8, expected f32 or i32");
    TH_STATUS(vkdl_scatter_elements(x, i23, xi, 0, VKDL_SCATTER_ADD, g), VKDL_ERROR_DTYPE_MISMATCH,
              "updates is i32, expected f32");
    TH_STATUS(vkdl_scatter_elements(x, i23, x, 0, (vkdl_scatter_reduce)5, g), VKDL_ERROR_INVALID_ARGUMENT,
              "reduce 5 is not a vkdl_scatter_reduce");
    TH_STATUS(vkdl_scatter_elements(x, i23, x1, 0, VKDL_SCATTER_ADD, g), VKDL_ERROR_SHAPE_MISMATCH, NULL);
    TH_STATUS(vkdl_scatter_elements(x, i45, o, 1, VKDL_SCATTER_ADD, x), VKDL_ERROR_SHAPE_MISMATCH,
              "scatter_elements: idx is 4x5");
    TH_STATUS(vkdl_scatter_elements(x, i23, x, 0, VKDL_SCATTER_ADD, o), VKDL_ERROR_SHAPE_MISMATCH, NULL);
    TH_STATUS(vkdl_scatter_elements(x, i23, x, -3, VKDL_SCATTER_MAX, g), VKDL_ERROR_INVALID_ARGUMENT, "axis -3");

    vkdl_tensor *all[] = {x, o, o16, o1, e, x1, ocpu, u8, idx, g, fidx, g3, x3, i23, i45, i14, xi};
    for (size_t i = 0; i < TH_LEN(all); i++)
        vkdl_tensor_destroy(all[i]);
}

/* Out-of-range indices: the CPU names the index; the device writes zeros (gathers) or skips the
 * update (scatter), as documented. */
static void run_out_of_range(void *arg)
{
    (void)arg;
    int64_t s23[2] = {2, 3}, s2[1] = {2}, s22[2] = {2, 2};
    const int32_t bad[2] = {1, 3}, bad_neg[2] = {-4, 0}, bad22[4] = {0, 1, 2, 9};
    const float xv[6] = {1, 2, 3, 4, 5, 6};
    for (int b = 0; b < 2; b++) {
        vkdl_context *c = th_ctx_of(b);
        vkdl_tensor *x = th_mk(c, VKDL_F32, 2, s23), *idx = th_mk(c, VKDL_I32, 1, s2), *out = th_mk(c, VKDL_F32, 2, s22);
        vkdl_tensor *i22 = th_mk(c, VKDL_I32, 2, s22), *o22 = th_mk(c, VKDL_F32, 2, s22);
        TH_OK(vkdl_tensor_upload(x, xv, VKDL_F32, sizeof xv));
        TH_OK(vkdl_tensor_upload(idx, bad, VKDL_I32, sizeof bad));
        TH_OK(vkdl_tensor_upload(i22, bad22, VKDL_I32, sizeof bad22));
        if (b == 0) {
            TH_STATUS(vkdl_gather(x, idx, 1, out), VKDL_ERROR_INVALID_ARGUMENT, "gather: idx[1] = 3 is outside [-3, 3)");
            TH_STATUS(vkdl_gather_elements(x, i22, 1, o22), VKDL_ERROR_INVALID_ARGUMENT,
                      "gather_elements: idx[3] = 9 is outside [-3, 3)");
            TH_OK(vkdl_tensor_upload(idx, bad_neg, VKDL_I32, sizeof bad_neg));
            TH_STATUS(vkdl_gather(x, idx, 1, out), VKDL_ERROR_INVALID_ARGUMENT, "idx[0] = -4");
            TH_STATUS(vkdl_gather_backward(out, idx, 1, x), VKDL_ERROR_INVALID_ARGUMENT,
                      "gather_backward: idx[0] = -4 is outside [-3, 3)");
            TH_STATUS(vkdl_scatter_elements(x, i22, o22, 1, VKDL_SCATTER_NONE, x), VKDL_ERROR_INVALID_ARGUMENT,
                      "scatter_elements: idx[3] = 9 is outside [-3, 3)");
        } else {
            TH_OK(vkdl_gather(x, idx, 1, out));
            TH_OK(vkdl_gather_elements(x, i22, 1, o22));
            float g[4], ge[4];
            TH_OK(vkdl_tensor_download(out, g, VKDL_F32, sizeof g));
            TH_OK(vkdl_tensor_download(o22, ge, VKDL_F32, sizeof ge));
            TH_TRUE(g[0] == 2 && g[1] == 0 && g[2] == 5 && g[3] == 0);
            TH_TRUE(ge[0] == 1 && ge[1] == 2 && ge[2] == 6 && ge[3] == 0);
            /* the scatter skips idx[3]: out[1][2] keeps x's 6 */
            const float uv[4] = {10, 20, 30, 40};
            TH_OK(vkdl_tensor_upload(o22, uv, VKDL_F32, sizeof uv));
            TH_OK(vkdl_scatter_elements(x, i22, o22, 1, VKDL_SCATTER_NONE, x));
            float xs[6];
            TH_OK(vkdl_tensor_download(x, xs, VKDL_F32, sizeof xs));
            TH_TRUE(xs[0] == 10 && xs[1] == 20 && xs[2] == 3 && xs[3] == 4 && xs[4] == 5 && xs[5] == 30);
        }
        vkdl_tensor_destroy(x);
        vkdl_tensor_destroy(idx);
        vkdl_tensor_destroy(out);
        vkdl_tensor_destroy(i22);
        vkdl_tensor_destroy(o22);
    }
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    for (size_t i = 0; i < TH_LEN(VIEWS); i++)
        th_run_op(&VIEWS[i]);
    for (size_t i = 0; i < TH_LEN(GATHERS); i++)
        th_run_op(&GATHERS[i]);
    for (size_t i = 0; i < TH_LEN(ELEMENTS_ROWS); i++)
        th_run_op(&ELEMENTS_ROWS[i]);
    for (size_t i = 0; i < TH_LEN(SCATTERS); i++)
        th_run_op(&SCATTERS[i]);
    th_run("bad arguments", run_bad, NULL);
    th_run("out-of-range indices", run_out_of_range, NULL);
    return th_finish();
}
