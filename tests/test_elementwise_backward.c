/* vkdl_unary_backward and vkdl_binary_backward: finite differences of the CPU forward, and the GPU
 * against the CPU twin (TH_TOL_F32). lib/ops/elementwise.c
 *
 * Gradchecks use central differences of the f32 forward with step 1e-3 (unary) or 1e-2 (binary,
 * whose perturbed operand may feed many outputs) and pass at 1e-2 relative: the f32 rounding of
 * the forward divided by the step is ~1e-4, and the truncation error is below 1e-3. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* params: a vkdl_unary_info, or NULL for the defaults (then through vkdl_unary and vkdl_unary_backward). */
static vkdl_status unary(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    if (!op->params)
        return vkdl_unary((vkdl_unary_op)op->op, in[0], out[0]);
    return vkdl_unary_with((vkdl_unary_op)op->op, in[0], op->params, out[0]);
}

static vkdl_status unary_backward(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out,
                                  vkdl_tensor *const *dout, vkdl_tensor *const *din)
{
    (void)out;
    if (!op->params)
        return vkdl_unary_backward((vkdl_unary_op)op->op, in[0], dout[0], din[0]);
    return vkdl_unary_backward_with((vkdl_unary_op)op->op, in[0], dout[0], op->params, din[0]);
}

static vkdl_status binary(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    return vkdl_binary((vkdl_binary_op)op->op, in[0], in[1], out[0]);
}

static vkdl_status binary_backward(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out,
                                   vkdl_tensor *const *dout, vkdl_tensor *const *din)
{
    (void)out;
    return vkdl_binary_backward((vkdl_binary_op)op->op, in[0], in[1], dout[0], din[0], din[1]);
}

/* Inputs in the op's domain, at least 0.05 away from the kinks of relu and abs at 0. */
static th_op unary_row(const char *name, vkdl_unary_op op, th_shape s, th_grad grad)
{
    th_input x = {.shape = s, .fill = TH_FILL_SIGNED, .lo = 0.05f, .hi = 8.0f};
    if (op == VKDL_LOG || op == VKDL_SQRT)
        x = (th_input){.shape = s, .lo = 0.05f, .hi = 20.0f};
    else if (op == VKDL_EXP)
        x = (th_input){.shape = s, .lo = -20.0f, .hi = 20.0f};
    return (th_op){.name = name, .op = op, .n_in = 1, .n_out = 1, .in = {x}, .out = {{.shape = s}},
                   .forward = unary, .backward = unary_backward, .tol = &TH_TOL_F32, .grad = grad};
}

/* relu and abs have derivative 0 at 0; large inputs saturate without NaN. */
static void run_unary_special(void *arg)
{
    (void)arg;
    const float v[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 30.0f, -30.0f, 88.0f, -88.0f, 1e4f, -1e4f};
    int64_t n = 10;
    float ones[10];
    for (int i = 0; i < 10; i++)
        ones[i] = 1.0f;
    for (int op = 0; op < VKDL_UNARY_OP_COUNT; op++) {
        /* outside their domain, overflowing, or (sin, cos, tan) past the reduction's range:
         * checked on random data */
        if (op == VKDL_LOG || op == VKDL_SQRT || op == VKDL_EXP || op == VKDL_ASIN || op == VKDL_ACOS ||
            op == VKDL_ACOSH || op == VKDL_ATANH || op == VKDL_SIN || op == VKDL_COS || op == VKDL_TAN)
            continue;
        th_pair x = th_from(VKDL_F32, 1, &n, v, VKDL_F32);
        th_pair dy = th_from(VKDL_F32, 1, &n, ones, VKDL_F32);
        th_pair dx = th_empty(VKDL_F32, 1, &n);
        TH_OK(vkdl_unary_backward(op, x.cpu, dy.cpu, dx.cpu));
        TH_OK(vkdl_unary_backward(op, x.gpu, dy.gpu, dx.gpu));
        if (!th_compare(&dx, TH_TOL_F32))
            th_fail("op %s", vkdl_unary_op_name(op));
        if (op == VKDL_RELU || op == VKDL_ABS) {
            float *g = th_download(dx.gpu);
            if (g[0] != 0.0f || g[1] != 0.0f)
                th_fail("%s'(0) is %g, %g on the GPU, expected 0", vkdl_unary_op_name(op), g[0], g[1]);
            free(g);
        }
        th_free(&x);
        th_free(&dy);
        th_free(&dx);
    }
}

/* out is empty along a dim b is broadcast over: db is the sum of nothing. */
static void run_binary_empty(void *arg)
{
    (void)arg;
    int64_t sa[2] = {0, 5}, sb[1] = {5};
    th_pair a = th_rand(VKDL_F32, 2, sa, -1, 1), b = th_rand(VKDL_F32, 1, sb, -1, 1);
    th_pair g = th_rand(VKDL_F32, 2, sa, -1, 1);
    th_pair da = th_empty(VKDL_F32, 2, sa), db = th_empty(VKDL_F32, 1, sb);
    TH_OK(vkdl_binary_backward(VKDL_MUL, a.cpu, b.cpu, g.cpu, da.cpu, db.cpu));
    TH_OK(vkdl_binary_backward(VKDL_MUL, a.gpu, b.gpu, g.gpu, da.gpu, db.gpu));
    th_compare(&db, TH_TOL_EXACT);
    float *h = th_download(db.gpu);
    for (int i = 0; i < 5; i++)
        if (h[i] != 0.0f)
            th_fail("db[%d] = %g, expected 0", i, h[i]);
    free(h);
    int64_t e[1] = {0};
    th_pair x = th_rand(VKDL_F32, 1, e, -1, 1), dx = th_empty(VKDL_F32, 1, e);
    TH_OK(vkdl_unary_backward(VKDL_TANH, x.gpu, x.gpu, dx.gpu));
    th_free(&x);
    th_free(&dx);
    th_free(&a);
    th_free(&b);
    th_free(&g);
    th_free(&da);
    th_free(&db);
}

/* Ties of minimum and maximum give each operand half the gradient, as torch.maximum does. */
static void run_ties(void *arg)
{
    (void)arg;
    static const float A[4] = {1, 2, 3, -1}, B[4] = {1, 5, 0, -1}, G[4] = {1, 2, 4, 8};
    static const float MAX_DA[4] = {0.5f, 0, 4, 4}, MAX_DB[4] = {0.5f, 2, 0, 4};
    static const float MIN_DA[4] = {0.5f, 2, 0, 4}, MIN_DB[4] = {0.5f, 0, 4, 4};
    int64_t n = 4;
    th_pair a = th_from(VKDL_F32, 1, &n, A, VKDL_F32), b = th_from(VKDL_F32, 1, &n, B, VKDL_F32);
    th_pair g = th_from(VKDL_F32, 1, &n, G, VKDL_F32), da = th_empty(VKDL_F32, 1, &n), db = th_empty(VKDL_F32, 1, &n);
    for (int op = VKDL_MINIMUM; op <= VKDL_MAXIMUM; op++)
        for (int k = 0; k < 2; k++) {
            TH_OK(vkdl_binary_backward(op, k ? a.gpu : a.cpu, k ? b.gpu : b.cpu, k ? g.gpu : g.cpu, k ? da.gpu : da.cpu,
                                       k ? db.gpu : db.cpu));
            float *ha = th_download(k ? da.gpu : da.cpu), *hb = th_download(k ? db.gpu : db.cpu);
            const float *wa = op == VKDL_MAXIMUM ? MAX_DA : MIN_DA, *wb = op == VKDL_MAXIMUM ? MAX_DB : MIN_DB;
            for (int i = 0; i < 4; i++)
                if (ha[i] != wa[i] || hb[i] != wb[i])
                    th_fail("%s on %s: element %d: da %g db %g, expected %g %g", vkdl_binary_op_name(op),
                            TH_BACKEND[k], i, ha[i], hb[i], wa[i], wb[i]);
            free(ha);
            free(hb);
        }
    th_free(&a);
    th_free(&b);
    th_free(&g);
    th_free(&da);
    th_free(&db);
}

/* Views at unaligned offsets, and the same bits on a second run. */
static void run_views(void *arg)
{
    (void)arg;
    int64_t s[2] = {37, 3}, r[1] = {3};
    th_pair base = th_rand(VKDL_F32, 2, s, -2, 2), b = th_rand(VKDL_F32, 1, r, 0.5f, 2);
    th_pair grad = th_rand(VKDL_F32, 2, s, -1, 1);
    th_pair out = th_rand(VKDL_F32, 2, s, -1, 1);
    th_pair a = th_slice(&base, 5, 30);
    th_pair g = th_slice(&grad, 1, 26);
    th_pair da = th_slice(&out, 11, 36);
    th_pair db = th_empty(VKDL_F32, 1, r), db2 = th_empty(VKDL_F32, 1, r);
    TH_OK(vkdl_binary_backward(VKDL_DIV, a.cpu, b.cpu, g.cpu, da.cpu, db.cpu));
    TH_OK(vkdl_binary_backward(VKDL_DIV, a.gpu, b.gpu, g.gpu, da.gpu, db.gpu));
    TH_OK(vkdl_binary_backward(VKDL_DIV, a.gpu, b.gpu, g.gpu, NULL, db2.gpu));
    th_compare(&out, TH_TOL_F32);
    th_compare(&db, TH_TOL_F32);
    float *h1 = th_download(db.gpu), *h2 = th_download(db2.gpu);
    if (memcmp(h1, h2, 3 * sizeof *h1) != 0)
        th_fail("db differs between two runs");
    free(h1);
    free(h2);
    TH_OK(vkdl_unary_backward(VKDL_GELU_ERF, a.cpu, g.cpu, da.cpu));
    TH_OK(vkdl_unary_backward(VKDL_GELU_ERF, a.gpu, g.gpu, da.gpu));
    th_compare(&out, TH_TOL_F32);
    th_free(&a);
    th_free(&g);
    th_free(&da);
    th_free(&db);
    th_free(&db2);
    th_free(&base);
    th_free(&b);
    th_free(&grad);
    th_free(&out);
}

static void run_bad(void *arg)
{
    (void)arg;
    int64_t s3[1] = {3}, s4[1] = {4}, s23[2] = {2, 3};
    th_pair a = th_rand(VKDL_F32, 1, s3, 0, 1), b = th_rand(VKDL_F32, 1, s4, 0, 1), m = th_rand(VKDL_F32, 2, s23, 0, 1);
    th_pair i = th_empty(VKDL_I32, 1, s3);
    TH_STATUS(vkdl_unary_backward(VKDL_RELU, NULL, a.gpu, a.gpu), VKDL_ERROR_INVALID_ARGUMENT, "x is NULL");
    TH_STATUS(vkdl_unary_backward(VKDL_RELU, a.gpu, NULL, a.gpu), VKDL_ERROR_INVALID_ARGUMENT, "dy is NULL");
    TH_STATUS(vkdl_unary_backward(VKDL_RELU, a.gpu, a.gpu, NULL), VKDL_ERROR_INVALID_ARGUMENT, "dx is NULL");
    TH_STATUS(vkdl_unary_backward(VKDL_UNARY_OP_COUNT, a.gpu, a.gpu, a.gpu), VKDL_ERROR_INVALID_ARGUMENT, "invalid op");
    const int ext = 7;
    const vkdl_unary_info bad_next = {.next = &ext, .alpha = 1}, celu0 = {.alpha = 0};
    TH_STATUS(vkdl_unary_backward_with(VKDL_ELU, a.gpu, a.gpu, &bad_next, a.gpu), VKDL_ERROR_INVALID_ARGUMENT,
              "unary_backward: unknown extension");
    TH_STATUS(vkdl_unary_backward_with(VKDL_CELU, a.gpu, a.gpu, &celu0, a.gpu), VKDL_ERROR_INVALID_ARGUMENT,
              "unary_backward: celu alpha is 0");
    TH_STATUS(vkdl_unary_backward_with((vkdl_unary_op)-3, a.gpu, a.gpu, NULL, a.gpu), VKDL_ERROR_INVALID_ARGUMENT,
              "invalid op -3");
    TH_STATUS(vkdl_unary_backward(VKDL_TANH, a.gpu, b.gpu, a.gpu), VKDL_ERROR_SHAPE_MISMATCH, "3 vs 4");
    TH_STATUS(vkdl_unary_backward(VKDL_TANH, a.gpu, a.gpu, b.gpu), VKDL_ERROR_SHAPE_MISMATCH, "3 vs 4");
    TH_STATUS(vkdl_unary_backward(VKDL_TANH, a.gpu, i.gpu, a.gpu), VKDL_ERROR_DTYPE_MISMATCH, "dy is i32");
    TH_STATUS(vkdl_unary_backward(VKDL_TANH, a.gpu, a.cpu, a.gpu), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    TH_STATUS(vkdl_binary_backward(VKDL_ADD, NULL, a.gpu, a.gpu, a.gpu, a.gpu), VKDL_ERROR_INVALID_ARGUMENT, "a is NULL");
    TH_STATUS(vkdl_binary_backward(VKDL_ADD, a.gpu, a.gpu, NULL, a.gpu, a.gpu), VKDL_ERROR_INVALID_ARGUMENT,
              "dout is NULL");
    TH_STATUS(vkdl_binary_backward((vkdl_binary_op)99, a.gpu, a.gpu, a.gpu, a.gpu, a.gpu), VKDL_ERROR_INVALID_ARGUMENT,
              "invalid op");
    th_pair u = th_empty(VKDL_U8, 1, s3);
    TH_STATUS(vkdl_binary_backward(VKDL_LESS, a.gpu, a.gpu, a.gpu, a.gpu, a.gpu), VKDL_ERROR_INVALID_ARGUMENT,
              "less is not differentiable");
    TH_STATUS(vkdl_binary_backward(VKDL_XOR, u.gpu, u.gpu, a.gpu, NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT,
              "xor is not differentiable");
    TH_STATUS(vkdl_binary_backward(VKDL_MOD, i.gpu, i.gpu, i.gpu, NULL, NULL), VKDL_ERROR_DTYPE_MISMATCH,
              "a is i32, expected f32");
    th_free(&u);
    TH_STATUS(vkdl_binary_backward(VKDL_MUL, a.gpu, b.gpu, a.gpu, a.gpu, b.gpu), VKDL_ERROR_SHAPE_MISMATCH,
              "cannot broadcast a 3 and b 4 to out 3");
    TH_STATUS(vkdl_binary_backward(VKDL_MUL, m.gpu, a.gpu, a.gpu, NULL, NULL), VKDL_ERROR_SHAPE_MISMATCH, "to out 3");
    TH_STATUS(vkdl_binary_backward(VKDL_MUL, m.gpu, a.gpu, m.gpu, a.gpu, NULL), VKDL_ERROR_SHAPE_MISMATCH, "2x3 vs 3");
    TH_STATUS(vkdl_binary_backward(VKDL_MUL, m.gpu, a.gpu, m.gpu, NULL, m.gpu), VKDL_ERROR_SHAPE_MISMATCH, "3 vs 2x3");
    TH_STATUS(vkdl_binary_backward(VKDL_MUL, a.gpu, a.gpu, a.gpu, i.gpu, NULL), VKDL_ERROR_DTYPE_MISMATCH, "da is i32");
    TH_STATUS(vkdl_binary_backward(VKDL_MUL, a.gpu, a.gpu, i.gpu, a.gpu, NULL), VKDL_ERROR_DTYPE_MISMATCH,
              "dout is i32");
    TH_STATUS(vkdl_binary_backward(VKDL_MUL, a.gpu, a.gpu, a.gpu, a.cpu, NULL), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    th_free(&a);
    th_free(&b);
    th_free(&m);
    th_free(&i);
}

/* b stays away from 0 for div; NO_DA / NO_DB ask for only the other gradient. */
#define BIN(o, sa, sb, so, skip)                                                                            \
    {.op = VKDL_##o, .n_in = 2, .n_out = 1, .out = {{.shape = so}}, .forward = binary,                     \
     .backward = binary_backward, .no_grad = skip, .tol = &TH_TOL_F32,                                     \
     .in = {{.shape = sa, .lo = -4, .hi = 4}, {.shape = sb, .lo = 0.5f, .hi = 4}}}
enum { BOTH = 0, NO_DB = 2, NO_DA = 1 };
static const th_op BINARY[] = {
    BIN(ADD, TH_SHAPE(1000), TH_SHAPE(1000), TH_SHAPE(1000), BOTH),
    BIN(SUB, TH_SHAPE(17, 127), TH_SHAPE(127), TH_SHAPE(17, 127), BOTH),
    BIN(MUL, TH_SHAPE(17, 1), TH_SHAPE(1, 127), TH_SHAPE(17, 127), BOTH),
    BIN(DIV, TH_SHAPE(3, 1, 5), TH_SHAPE(1, 4, 1), TH_SHAPE(3, 4, 5), BOTH),
    BIN(MUL, TH_SCALAR, TH_SHAPE(2, 3, 4), TH_SHAPE(2, 3, 4), BOTH),
    BIN(DIV, TH_SHAPE(2, 1, 3, 1), TH_SHAPE(5, 1, 7), TH_SHAPE(2, 5, 3, 7), BOTH),
    BIN(SUB, TH_SHAPE(1), TH_SHAPE(1), TH_SHAPE(1), BOTH),
    BIN(MUL, TH_SHAPE(2, 1, 2, 1, 2, 1, 2, 1), TH_SHAPE(1, 2, 1, 2, 1, 2, 1, 2), TH_SHAPE(2, 2, 2, 2, 2, 2, 2, 2),
        BOTH),
    BIN(DIV, TH_SHAPE(4096, 33), TH_SHAPE(4096, 1), TH_SHAPE(4096, 33), BOTH),
    BIN(ADD, TH_SHAPE(4096, 300), TH_SHAPE(300), TH_SHAPE(4096, 300), NO_DA),
    BIN(MUL, TH_SHAPE(100003), TH_SHAPE(1), TH_SHAPE(100003), BOTH),
    BIN(SUB, TH_SHAPE(7, 129, 3), TH_SHAPE(7, 1, 3), TH_SHAPE(7, 129, 3), NO_DB),
};

/* The new ops' inputs, off their kinks, ties and jumps: positive bases for pow; a and b of
 * minimum/maximum a whole number plus 0.25 and plus 0.75 (never closer than 0.5); a of prelu at
 * least 0.05 from 0; for fmod and mod, a a whole number plus [0.3, 0.7] and |b| in [1, 1.1], so
 * a / b stays 0.09 from the integers where they jump. */
static void whole_plus(float *v, int64_t n, const th_shape *s, float lo, float hi)
{
    (void)s;
    for (int64_t i = 0; i < n; i++)
        v[i] = floorf(th_randf(-3, 3)) + th_randf(lo, hi);
}

static void new_inputs(vkdl_binary_op op, th_input *a, th_input *b)
{
    if (op == VKDL_POW) {
        *a = (th_input){.lo = 0.5f, .hi = 2};
        *b = (th_input){.lo = -2, .hi = 2};
    } else if (op == VKDL_MINIMUM || op == VKDL_MAXIMUM) {
        *a = (th_input){.fill = TH_FILL_FN, .gen = whole_plus, .lo = 0.25f, .hi = 0.25f};
        *b = (th_input){.fill = TH_FILL_FN, .gen = whole_plus, .lo = 0.75f, .hi = 0.75f};
    } else if (op == VKDL_PRELU) {
        *a = (th_input){.fill = TH_FILL_SIGNED, .lo = 0.05f, .hi = 2};
        *b = (th_input){.lo = -1, .hi = 1};
    } else {
        *a = (th_input){.fill = TH_FILL_FN, .gen = whole_plus, .lo = 0.3f, .hi = 0.7f};
        *b = (th_input){.fill = TH_FILL_SIGNED, .lo = 1, .hi = 1.1f};
    }
}

static const vkdl_binary_op NEW_OPS[] = {VKDL_POW, VKDL_MINIMUM, VKDL_MAXIMUM, VKDL_PRELU, VKDL_FMOD, VKDL_MOD};
/* (a, b, out) shapes; the last three, small, also get a finite-difference check. */
static const th_shape NEW_SHAPES[][3] = {
    {TH_SHAPE(1031), TH_SHAPE(1031), TH_SHAPE(1031)},
    {TH_SHAPE(4096, 33), TH_SHAPE(4096, 1), TH_SHAPE(4096, 33)},
    {TH_SHAPE(100003), TH_SHAPE(1), TH_SHAPE(100003)},
    {TH_SHAPE(2, 1, 3, 1), TH_SHAPE(5, 1, 7), TH_SHAPE(2, 5, 3, 7)},
    {TH_SHAPE(3, 1), TH_SHAPE(1, 5), TH_SHAPE(3, 5)},
    {TH_SHAPE(2, 4, 3), TH_SHAPE(2, 1, 3), TH_SHAPE(2, 4, 3)},
    {TH_SCALAR, TH_SHAPE(3, 5), TH_SHAPE(3, 5)},
};

/* Smaller inputs, and steps of 1e-2 (see the top of the file). */
#define BIN_GRAD(o, sa, sb, so)                                                                             \
    {.op = VKDL_##o, .n_in = 2, .n_out = 1, .out = {{.shape = so}}, .forward = binary,                     \
     .backward = binary_backward, .tol = &TH_TOL_F32, .grad = {60, 1e-2, 1e-2},                            \
     .in = {{.shape = sa, .lo = -2, .hi = 2}, {.shape = sb, .lo = 0.5f, .hi = 2}}}
static const th_op BINARY_GRAD[] = {
    BIN_GRAD(ADD, TH_SHAPE(3, 4), TH_SHAPE(4), TH_SHAPE(3, 4)),
    BIN_GRAD(SUB, TH_SHAPE(3, 1), TH_SHAPE(1, 5), TH_SHAPE(3, 5)),
    BIN_GRAD(MUL, TH_SHAPE(2, 1, 3), TH_SHAPE(4, 1), TH_SHAPE(2, 4, 3)),
    BIN_GRAD(DIV, TH_SHAPE(2, 4, 3), TH_SHAPE(2, 1, 3), TH_SHAPE(2, 4, 3)),
    BIN_GRAD(DIV, TH_SHAPE(1), TH_SHAPE(3, 5), TH_SHAPE(3, 5)),
    BIN_GRAD(MUL, TH_SHAPE(17), TH_SHAPE(17), TH_SHAPE(17)),
};

/* The ops after abs, each over its natural range with its kinks (and jumps: thresholded relu,
 * shrink) at least 0.05 away; SIGNED: +-[lo, hi). floor, ceil and round have no gradcheck, as their
 * jumps are everywhere on the range. */
typedef struct unary_case {
    vkdl_unary_op op;
    float lo, hi;
    bool is_signed, no_gradcheck;
    vkdl_unary_info info;
    bool has_info;
} unary_case;
#define U(o, l, h) {.op = VKDL_##o, .lo = l, .hi = h}
#define U_SIGNED(o, l, h) {.op = VKDL_##o, .lo = l, .hi = h, .is_signed = true}
#define U_WITH(o, l, h, a, b) \
    {.op = VKDL_##o, .lo = l, .hi = h, .is_signed = true, .info = {.alpha = a, .beta = b}, .has_info = true}
static const unary_case MORE_UNARY[] = {
    {.op = VKDL_FLOOR, .lo = -8, .hi = 8, .no_gradcheck = true},
    {.op = VKDL_CEIL, .lo = -8, .hi = 8, .no_gradcheck = true},
    {.op = VKDL_ROUND, .lo = -8, .hi = 8, .no_gradcheck = true},
    U_SIGNED(SIGN, 0.05f, 8), U_SIGNED(RECIPROCAL, 0.2f, 8), U(SIN, -8, 8), U(COS, -8, 8), U(TAN, -1.4f, 1.4f),
    U_SIGNED(ASIN, 0.05f, 0.95f), U_SIGNED(ACOS, 0.05f, 0.95f), U(ATAN, -20, 20), U(SINH, -10, 10),
    U(COSH, -10, 10), U(ASINH, -50, 50), U(ACOSH, 1.05f, 50), U_SIGNED(ATANH, 0.05f, 0.95f), U(ERF, -4, 4),
    U(SOFTPLUS, -30, 30), U_SIGNED(SOFTSIGN, 0.05f, 8), U(SILU, -20, 20), U(MISH, -20, 20),
    U_SIGNED(HARDSWISH, 0.05f, 2.95f), U_SIGNED(LEAKY_RELU, 0.05f, 8), U_SIGNED(ELU, 0.05f, 8),
    U_SIGNED(SELU, 0.05f, 8), U_SIGNED(CELU, 0.05f, 8), U_SIGNED(HARDSIGMOID, 0.05f, 2.45f), U(CLIP, -8, 8),
    U_SIGNED(THRESHOLDED_RELU, 1.05f, 8), U_SIGNED(SHRINK, 0.55f, 8),
    U_WITH(LEAKY_RELU, 0.05f, 8, 0.2f, 0), U_WITH(ELU, 0.05f, 8, 0.5f, 0), U_WITH(SELU, 0.05f, 8, 1.5f, 2),
    U_WITH(CELU, 0.05f, 8, -2, 0), U_WITH(HARDSIGMOID, 0.05f, 2.95f, 1.0f / 6, 0.5f),
    U_WITH(CLIP, 0.05f, 5.95f, 0, 6), U_WITH(THRESHOLDED_RELU, 0.55f, 8, -0.5f, 0), U_WITH(SHRINK, 1.05f, 8, 1, 1),
};

int main(int argc, char **argv)
{
    th_init(argc, argv);
    char name[128];
    static const th_shape SHAPES[] = {
        {1, {1}}, {1, {17}}, {1, {127}}, {2, {255, 257}}, {3, {4, 1000, 3}}, {1, {70001}}, {0, {0}},
    };
    for (int op = 0; op < VKDL_FLOOR; op++) {
        for (size_t i = 0; i < TH_LEN(SHAPES); i++) {
            snprintf(name, sizeof name, "unary_backward/%s/%zu", vkdl_unary_op_name(op), i);
            th_op c = unary_row(name, (vkdl_unary_op)op, SHAPES[i], (th_grad){0});
            th_run_op(&c);
        }
        snprintf(name, sizeof name, "unary_backward/%s/gradcheck", vkdl_unary_op_name(op));
        th_op c = unary_row(name, (vkdl_unary_op)op, (th_shape)TH_SHAPE(23), (th_grad){100, 1e-3, 1e-2});
        th_run_op(&c);
    }
    static const th_shape ODD[] = {{2, {7, 13}}, {1, {1}}, {3, {3, 1, 129}}};
    for (size_t k = 0; k < TH_LEN(MORE_UNARY); k++) {
        const unary_case *u = &MORE_UNARY[k];
        char with[64] = "";
        if (u->has_info)
            snprintf(with, sizeof with, "(%g,%g)", u->info.alpha, u->info.beta);
        th_input x = {.fill = u->is_signed ? TH_FILL_SIGNED : TH_FILL_UNIFORM, .lo = u->lo, .hi = u->hi};
        for (size_t i = 0; i < TH_LEN(ODD); i++) {
            snprintf(name, sizeof name, "unary_backward/%s%s/%zu", vkdl_unary_op_name(u->op), with, i);
            th_op c = unary_row(name, u->op, ODD[i], (th_grad){0});
            c.in[0] = x;
            c.in[0].shape = ODD[i];
            c.params = u->has_info ? &u->info : NULL;
            th_run_op(&c);
        }
        if (u->no_gradcheck)
            continue;
        snprintf(name, sizeof name, "unary_backward/%s%s/gradcheck", vkdl_unary_op_name(u->op), with);
        th_op c = unary_row(name, u->op, (th_shape)TH_SHAPE(23), (th_grad){100, 1e-3, 1e-2});
        c.in[0] = x;
        c.in[0].shape = (th_shape)TH_SHAPE(23);
        c.params = u->has_info ? &u->info : NULL;
        th_run_op(&c);
    }
    th_run("unary_backward/special-values", run_unary_special, NULL);
    for (size_t i = 0; i < TH_LEN(BINARY); i++) {
        th_op c = BINARY[i];
        snprintf(name, sizeof name, "binary_backward/%s/%zu", vkdl_binary_op_name(c.op), i);
        c.name = name;
        th_run_op(&c);
    }
    for (size_t i = 0; i < TH_LEN(BINARY_GRAD); i++) {
        th_op c = BINARY_GRAD[i];
        snprintf(name, sizeof name, "binary_backward/%s/gradcheck/%zu", vkdl_binary_op_name(c.op), i);
        c.name = name;
        th_run_op(&c);
    }
    for (size_t o = 0; o < TH_LEN(NEW_OPS); o++)
        for (size_t i = 0; i < TH_LEN(NEW_SHAPES); i++) {
            const th_shape *p = NEW_SHAPES[i];
            bool small = i >= 4;
            snprintf(name, sizeof name, "binary_backward/%s/%zu%s", vkdl_binary_op_name(NEW_OPS[o]), i,
                     small ? "/gradcheck" : "");
            th_op c = {.name = name, .op = NEW_OPS[o], .n_in = 2, .n_out = 1, .out = {{.shape = p[2]}},
                       .forward = binary, .backward = binary_backward, .tol = &TH_TOL_F32};
            new_inputs(NEW_OPS[o], &c.in[0], &c.in[1]);
            c.in[0].shape = p[0];
            c.in[1].shape = p[1];
            if (small)
                c.grad = (th_grad){60, 1e-2, 1e-2};
            th_run_op(&c);
        }
    th_run("binary_backward/ties", run_ties, NULL);
    th_run("binary_backward/empty-out", run_binary_empty, NULL);
    th_run("elementwise_backward/unaligned-views", run_views, NULL);
    th_run("elementwise_backward/bad-input", run_bad, NULL);
    return th_finish();
}
