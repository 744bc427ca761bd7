/* Unary, scale and broadcasting binary ops: GPU against the CPU twin. lib/ops/elementwise.c */
#include "harness.h"

#include <stdio.h>

static const th_shape SHAPES[] = {
    {1, {1}}, {1, {3}}, {1, {17}}, {1, {127}}, {1, {1000}}, {2, {255, 257}}, {3, {4, 1000, 3}},
    {4, {2, 3, 5, 7}}, {1, {70001}}, {0, {0}},
};

static const char *UNARY_NAMES[] = {"relu", "gelu_tanh", "gelu_erf", "sigmoid", "tanh", "exp", "log", "sqrt", "neg", "abs"};

static vkdl_status unary(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    return vkdl_unary((vkdl_unary_op)op->op, in[0], out[0]);
}

static vkdl_status scale(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    const float *ab = op->params;
    return vkdl_scale(in[0], ab[0], ab[1], out[0]);
}

static vkdl_status binary(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    return vkdl_binary((vkdl_binary_op)op->op, in[0], in[1], out[0]);
}

/* One op on one shape, x uniform in [lo, hi). */
static th_op unary_row(const char *name, th_forward_fn fn, int which, const void *params, th_shape s, float lo,
                       float hi)
{
    return (th_op){.name = name, .op = which, .params = params, .n_in = 1, .n_out = 1,
                   .in = {{.shape = s, .lo = lo, .hi = hi}}, .out = {{.shape = s}}, .forward = fn,
                   .tol = &TH_TOL_F32};
}

/* Special values pass through the same way on both sides. */
static void run_unary_special(void *arg)
{
    (void)arg;
    const float v[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 88.0f, -88.0f, 100.0f, -100.0f, 1e30f, -1e30f};
    int64_t n = 10;
    for (int op = 0; op < VKDL_UNARY_OP_COUNT; op++) {
        if (op == VKDL_LOG || op == VKDL_SQRT || op == VKDL_EXP)
            continue; /* domain/overflow edges differ legitimately in the last ulp */
        th_pair x = th_from(VKDL_F32, 1, &n, v, VKDL_F32);
        th_pair y = th_empty(VKDL_F32, 1, &n);
        TH_OK(vkdl_unary(op, x.cpu, y.cpu));
        TH_OK(vkdl_unary(op, x.gpu, y.gpu));
        if (!th_compare(&y, TH_TOL_F32))
            th_fail("op %s", UNARY_NAMES[op]);
        th_free(&x);
        th_free(&y);
    }
}

/* Views whose offset is not aligned to the descriptor alignment, written in place. */
static void run_views(void *arg)
{
    (void)arg;
    int64_t s[2] = {37, 3};
    th_pair x = th_rand(VKDL_F32, 2, s, -2, 2);
    vkdl_tensor *xc, *xg;
    TH_OK(vkdl_tensor_slice(x.cpu, 5, 30, &xc));
    TH_OK(vkdl_tensor_slice(x.gpu, 5, 30, &xg));
    TH_OK(vkdl_unary(VKDL_TANH, xc, xc));
    TH_OK(vkdl_unary(VKDL_TANH, xg, xg));
    vkdl_tensor *rc, *rg;
    int64_t r[1] = {-1};
    TH_OK(vkdl_tensor_reshape(xc, 1, r, &rc));
    TH_OK(vkdl_tensor_reshape(xg, 1, r, &rg));
    TH_OK(vkdl_binary(VKDL_MUL, rc, rc, rc));
    TH_OK(vkdl_binary(VKDL_MUL, rg, rg, rg));
    th_compare(&x, TH_TOL_F32);
    vkdl_tensor_destroy(xc);
    vkdl_tensor_destroy(xg);
    vkdl_tensor_destroy(rc);
    vkdl_tensor_destroy(rg);
    th_free(&x);
}

/* A long chain of dependent and independent dispatches across several batches. */
static void run_chain(void *arg)
{
    (void)arg;
    int64_t n = 1000;
    th_pair a = th_rand(VKDL_F32, 1, &n, -1, 1);
    th_pair b = th_rand(VKDL_F32, 1, &n, -1, 1);
    for (int i = 0; i < 700; i++) {
        TH_OK(vkdl_binary(VKDL_ADD, a.cpu, b.cpu, a.cpu));
        TH_OK(vkdl_binary(VKDL_ADD, a.gpu, b.gpu, a.gpu));
        TH_OK(vkdl_scale(b.cpu, 0.99f, 0.001f, b.cpu));
        TH_OK(vkdl_scale(b.gpu, 0.99f, 0.001f, b.gpu));
    }
    th_compare(&a, (th_tol){1e-3, 1e-4, 1e-9});
    th_free(&a);
    th_free(&b);
}

static void run_bad(void *arg)
{
    (void)arg;
    int64_t s3[1] = {3}, s4[1] = {4}, s23[2] = {2, 3};
    th_pair a = th_rand(VKDL_F32, 1, s3, 0, 1), b = th_rand(VKDL_F32, 1, s4, 0, 1), m = th_rand(VKDL_F32, 2, s23, 0, 1);
    th_pair i = th_empty(VKDL_I32, 1, s3);
    TH_STATUS(vkdl_unary(VKDL_RELU, NULL, a.gpu), VKDL_ERROR_INVALID_ARGUMENT, "x is NULL");
    TH_STATUS(vkdl_unary(VKDL_RELU, a.gpu, NULL), VKDL_ERROR_INVALID_ARGUMENT, "out is NULL");
    TH_STATUS(vkdl_unary((vkdl_unary_op)99, a.gpu, a.gpu), VKDL_ERROR_INVALID_ARGUMENT, "invalid op");
    TH_STATUS(vkdl_unary(VKDL_RELU, a.gpu, b.gpu), VKDL_ERROR_SHAPE_MISMATCH, "3 vs 4");
    TH_STATUS(vkdl_unary(VKDL_RELU, a.gpu, i.gpu), VKDL_ERROR_DTYPE_MISMATCH, "i32");
    TH_STATUS(vkdl_unary(VKDL_RELU, a.cpu, a.gpu), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    TH_STATUS(vkdl_binary(VKDL_ADD, a.gpu, b.gpu, a.gpu), VKDL_ERROR_SHAPE_MISMATCH, "cannot broadcast a 3 and b 4");
    TH_STATUS(vkdl_binary(VKDL_ADD, m.gpu, a.gpu, a.gpu), VKDL_ERROR_SHAPE_MISMATCH, "out 3");
    TH_STATUS(vkdl_binary((vkdl_binary_op)-1, a.gpu, a.gpu, a.gpu), VKDL_ERROR_INVALID_ARGUMENT, NULL);
    th_free(&a);
    th_free(&b);
    th_free(&m);
    th_free(&i);
}

/* b stays away from 0 for div. */
#define BIN(o, sa, sb, so)                                                                                  \
    {.op = VKDL_##o, .n_in = 2, .n_out = 1, .out = {{.shape = so}}, .forward = binary, .tol = &TH_TOL_F32,     \
     .in = {{.shape = sa, .lo = -4, .hi = 4}, {.shape = sb, .lo = 0.5f, .hi = 4}}}
static const th_op BINARY[] = {
    BIN(ADD, TH_SHAPE(1000), TH_SHAPE(1000), TH_SHAPE(1000)),
    BIN(SUB, TH_SHAPE(17, 127), TH_SHAPE(127), TH_SHAPE(17, 127)),
    BIN(MUL, TH_SHAPE(17, 1), TH_SHAPE(1, 127), TH_SHAPE(17, 127)),
    BIN(DIV, TH_SHAPE(3, 1, 5), TH_SHAPE(1, 4, 1), TH_SHAPE(3, 4, 5)),
    BIN(ADD, TH_SCALAR, TH_SHAPE(2, 3, 4), TH_SHAPE(2, 3, 4)),
    BIN(MUL, TH_SHAPE(2, 1, 3, 1), TH_SHAPE(5, 1, 7), TH_SHAPE(2, 5, 3, 7)),
    BIN(SUB, TH_SHAPE(1), TH_SHAPE(1), TH_SHAPE(1)),
    BIN(ADD, TH_SHAPE(2, 1, 2, 1, 2, 1, 2, 1), TH_SHAPE(1, 2, 1, 2, 1, 2, 1, 2), TH_SHAPE(2, 2, 2, 2, 2, 2, 2, 2)),
    BIN(DIV, TH_SHAPE(4096, 33), TH_SHAPE(4096, 1), TH_SHAPE(4096, 33)),
    BIN(ADD, TH_SHAPE(0, 5), TH_SHAPE(5), TH_SHAPE(0, 5)),
};

int main(int argc, char **argv)
{
    th_init(argc, argv);
    char name[128];
    for (int op = 0; op < VKDL_UNARY_OP_COUNT; op++)
        for (size_t i = 0; i < TH_LEN(SHAPES); i++) {
            float lo = op == VKDL_LOG || op == VKDL_SQRT ? 1e-3f : op == VKDL_EXP ? -20 : -8;
            float hi = op == VKDL_LOG || op == VKDL_SQRT ? 50 : op == VKDL_EXP ? 20 : 8;
            snprintf(name, sizeof name, "unary/%s/%zu", UNARY_NAMES[op], i);
            th_op c = unary_row(name, unary, op, NULL, SHAPES[i], lo, hi);
            th_run_op(&c);
        }
    th_run("unary/special-values", run_unary_special, NULL);
    static const float SCALE[2] = {-2.5f, 0.75f};
    for (size_t i = 0; i < TH_LEN(SHAPES); i++) {
        snprintf(name, sizeof name, "scale/%zu", i);
        th_op c = unary_row(name, scale, 0, SCALE, SHAPES[i], -3, 3);
        th_run_op(&c);
    }
    for (size_t i = 0; i < TH_LEN(BINARY); i++) {
        th_op c = BINARY[i];
        snprintf(name, sizeof name, "binary/%zu", i);
        c.name = name;
        th_run_op(&c);
    }
    th_run("elementwise/unaligned-views", run_views, NULL);
    th_run("elementwise/chain-across-batches", run_chain, NULL);
    th_run("elementwise/bad-input", run_bad, NULL);
    return th_finish();
}
