/* Unary, scale and broadcasting binary ops: GPU against the CPU twin. lib/op_elementwise.c */
#include "harness.h"

#include <stdio.h>

typedef struct shape {
    int ndim;
    int64_t d[VKDL_MAX_DIMS];
} shape;

static const shape SHAPES[] = {
    {1, {1}}, {1, {3}}, {1, {17}}, {1, {127}}, {1, {1000}}, {2, {255, 257}}, {3, {4, 1000, 3}},
    {4, {2, 3, 5, 7}}, {1, {70001}}, {0, {0}},
};

static const char *UNARY_NAMES[] = {"relu", "gelu_tanh", "gelu_erf", "sigmoid", "tanh", "exp", "log", "sqrt", "neg", "abs"};

typedef struct unary_case {
    vkdl_unary_op op;
    shape s;
} unary_case;

static void run_unary(void *arg)
{
    const unary_case *c = arg;
    float lo = -8, hi = 8;
    if (c->op == VKDL_LOG || c->op == VKDL_SQRT)
        lo = 1e-3f, hi = 50;
    if (c->op == VKDL_EXP)
        lo = -20, hi = 20;
    th_pair x = th_rand(VKDL_F32, c->s.ndim, c->s.d, lo, hi);
    th_pair y = th_empty(VKDL_F32, c->s.ndim, c->s.d);
    TH_OK(vkdl_unary(c->op, x.cpu, y.cpu));
    TH_OK(vkdl_unary(c->op, x.gpu, y.gpu));
    th_compare(&y, TH_TOL_F32);
    th_free(&x);
    th_free(&y);
}

static void run_scale(void *arg)
{
    const shape *s = arg;
    th_pair x = th_rand(VKDL_F32, s->ndim, s->d, -3, 3);
    th_pair y = th_empty(VKDL_F32, s->ndim, s->d);
    TH_OK(vkdl_scale(x.cpu, -2.5f, 0.75f, y.cpu));
    TH_OK(vkdl_scale(x.gpu, -2.5f, 0.75f, y.gpu));
    th_compare(&y, TH_TOL_F32);
    th_free(&x);
    th_free(&y);
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

typedef struct binary_case {
    vkdl_binary_op op;
    shape a, b, out;
} binary_case;

static void run_binary(void *arg)
{
    const binary_case *c = arg;
    th_pair a = th_rand(VKDL_F32, c->a.ndim, c->a.d, -4, 4);
    th_pair b = th_rand(VKDL_F32, c->b.ndim, c->b.d, 0.5f, 4); /* away from 0 for div */
    th_pair o = th_empty(VKDL_F32, c->out.ndim, c->out.d);
    TH_OK(vkdl_binary(c->op, a.cpu, b.cpu, o.cpu));
    TH_OK(vkdl_binary(c->op, a.gpu, b.gpu, o.gpu));
    th_compare(&o, TH_TOL_F32);
    th_free(&a);
    th_free(&b);
    th_free(&o);
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

int main(int argc, char **argv)
{
    th_init(argc, argv);
    char name[128];
    for (int op = 0; op < VKDL_UNARY_OP_COUNT; op++)
        for (size_t i = 0; i < sizeof SHAPES / sizeof *SHAPES; i++) {
            unary_case c = {op, SHAPES[i]};
            snprintf(name, sizeof name, "unary/%s/%zu", UNARY_NAMES[op], i);
            th_run(name, run_unary, &c);
        }
    th_run("unary/special-values", run_unary_special, NULL);
    for (size_t i = 0; i < sizeof SHAPES / sizeof *SHAPES; i++) {
        snprintf(name, sizeof name, "scale/%zu", i);
        th_run(name, run_scale, (void *)&SHAPES[i]);
    }
    static const binary_case BIN[] = {
        {VKDL_ADD, {1, {1000}}, {1, {1000}}, {1, {1000}}},
        {VKDL_SUB, {2, {17, 127}}, {1, {127}}, {2, {17, 127}}},
        {VKDL_MUL, {2, {17, 1}}, {2, {1, 127}}, {2, {17, 127}}},
        {VKDL_DIV, {3, {3, 1, 5}}, {3, {1, 4, 1}}, {3, {3, 4, 5}}},
        {VKDL_ADD, {0, {0}}, {3, {2, 3, 4}}, {3, {2, 3, 4}}},
        {VKDL_MUL, {4, {2, 1, 3, 1}}, {3, {5, 1, 7}}, {4, {2, 5, 3, 7}}},
        {VKDL_SUB, {1, {1}}, {1, {1}}, {1, {1}}},
        {VKDL_ADD, {8, {2, 1, 2, 1, 2, 1, 2, 1}}, {8, {1, 2, 1, 2, 1, 2, 1, 2}}, {8, {2, 2, 2, 2, 2, 2, 2, 2}}},
        {VKDL_DIV, {2, {4096, 33}}, {2, {4096, 1}}, {2, {4096, 33}}},
        {VKDL_ADD, {2, {0, 5}}, {1, {5}}, {2, {0, 5}}},
    };
    for (size_t i = 0; i < sizeof BIN / sizeof *BIN; i++) {
        snprintf(name, sizeof name, "binary/%zu", i);
        th_run(name, run_binary, (void *)&BIN[i]);
    }
    th_run("elementwise/unaligned-views", run_views, NULL);
    th_run("elementwise/chain-across-batches", run_chain, NULL);
    th_run("elementwise/bad-input", run_bad, NULL);
    return th_finish();
}
