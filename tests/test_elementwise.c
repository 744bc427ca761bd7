/* Unary, scale, broadcasting binary ops (f32, i32 and u8) and where: GPU against the CPU twin.
 * lib/ops/elementwise.c */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const th_shape SHAPES[] = {
    {1, {1}}, {1, {3}}, {1, {17}}, {1, {127}}, {1, {1000}}, {2, {255, 257}}, {3, {4, 1000, 3}},
    {4, {2, 3, 5, 7}}, {1, {70001}}, {0, {0}},
};

static vkdl_status unary(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    return vkdl_unary((vkdl_unary_op)op->op, in[0], out[0]);
}

/* params: a vkdl_unary_info, or NULL for the defaults. */
static vkdl_status unary_with(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    return vkdl_unary_with((vkdl_unary_op)op->op, in[0], op->params, out[0]);
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

static vkdl_status where(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    (void)op;
    return vkdl_where(in[0], in[1], in[2], out[0]);
}

/* Whole numbers in [lo, hi): ties and equal pairs come often. */
static void whole(float *v, int64_t n, const th_shape *s, float lo, float hi)
{
    (void)s;
    for (int64_t i = 0; i < n; i++)
        v[i] = floorf(th_randf(lo, hi));
}

/* One op on one shape, x uniform in [lo, hi). */
static th_op unary_row(const char *name, th_forward_fn fn, int which, const void *params, th_shape s, float lo,
                       float hi)
{
    return (th_op){.name = name, .op = which, .params = params, .n_in = 1, .n_out = 1,
                   .in = {{.shape = s, .lo = lo, .hi = hi}}, .out = {{.shape = s}}, .forward = fn,
                   .tol = &TH_TOL_F32};
}

/* x on both backends, then op with info on each and compare. */
static void unary_values(vkdl_unary_op op, const vkdl_unary_info *info, const float *v, int64_t n)
{
    th_pair x = th_from(VKDL_F32, 1, &n, v, VKDL_F32);
    th_pair y = th_empty(VKDL_F32, 1, &n);
    TH_OK(vkdl_unary_with(op, x.cpu, info, y.cpu));
    TH_OK(vkdl_unary_with(op, x.gpu, info, y.gpu));
    if (!th_compare(&y, TH_TOL_F32))
        th_fail("op %s", vkdl_unary_op_name(op));
    th_free(&x);
    th_free(&y);
}

/* Special values pass through the same way on both sides; NaN gives NaN. */
static void run_unary_special(void *arg)
{
    (void)arg;
    const float v[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 88.0f, -88.0f, 100.0f, -100.0f, 1e30f, -1e30f, NAN};
    for (int op = 0; op < VKDL_UNARY_OP_COUNT; op++) {
        /* domain/overflow edges differ legitimately in the last ulp, and sin, cos and tan are
         * accurate to |x| ~ 8192 only (their edges: run_unary_edges) */
        if (op == VKDL_LOG || op == VKDL_SQRT || op == VKDL_EXP || op == VKDL_SIN || op == VKDL_COS || op == VKDL_TAN)
            continue;
        unary_values(op, NULL, v, TH_LEN(v));
    }
    const vkdl_unary_info clip = {.alpha = 0, .beta = 6}, shrink = {.alpha = 1, .beta = 0.5f};
    unary_values(VKDL_CLIP, &clip, v, TH_LEN(v));
    unary_values(VKDL_SHRINK, &shrink, v, TH_LEN(v));
}

/* The ops near the edges of their domains, poles and overflow, and round's halves. */
static void run_unary_edges(void *arg)
{
    (void)arg;
    static const struct {
        vkdl_unary_op op;
        float v[8];
    } EDGES[] = {
        {VKDL_ROUND, {0.5f, 1.5f, 2.5f, -0.5f, -2.5f, 3.5f, 0.49999997f, -8388609.0f}},
        {VKDL_ASIN, {1, -1, 0.99999994f, -0.99999994f, 0.9999f, -0.5f, 0.5f, 1.0000001f}},
        {VKDL_ACOS, {1, -1, 0.99999994f, -0.99999994f, 0.9999f, -0.5f, 0.5f, -1.0000001f}},
        {VKDL_ATANH, {0.99999994f, -0.99999994f, 0.9999f, -0.9999f, 1e-6f, -1e-6f, 0.5f, 1.0000001f}},
        {VKDL_ACOSH, {1, 1.0000001f, 1.001f, 2, 1e4f, 1e30f, 3.4e38f, 0.9999999f}},
        {VKDL_ASINH, {1e-6f, -1e-6f, 0.4f, -0.6f, 1e4f, -1.1e4f, 1e30f, -3.4e38f}},
        {VKDL_TAN, {1.5f, -1.5f, 1.56f, -1.56f, 3.0f, 1e-6f, 0.7853982f, -1.0f}},
        {VKDL_SIN, {0, 1e-6f, 3.1415927f, -3.1415927f, 1.5707964f, 10, -1000.5f, 8000}},
        {VKDL_COS, {0, 1e-6f, 3.1415927f, -3.1415927f, 1.5707964f, 10, -1000.5f, 8000}},
        {VKDL_SINH, {89, -89, 89.4f, 80, -80, 0.49f, 0.51f, 1e-6f}},
        {VKDL_COSH, {89, -89, 89.4f, 80, -80, 0.49f, 0.51f, 1e-6f}},
        {VKDL_SOFTPLUS, {80, -80, 89, -89, 100, -100, 1e-3f, 20}},
        {VKDL_MISH, {80, -80, 20, 20.5f, -20, 1e-3f, -1e-3f, 100}},
        {VKDL_SILU, {80, -80, 20, -20, 1e-3f, -1e-3f, 100, -100}},
        {VKDL_ERF, {0.5f, -0.5f, 0.4999f, 1e-6f, 3, -3, 5, -10}},
        {VKDL_RECIPROCAL, {1e-30f, -1e-30f, 3e-38f, 3, -7, 1e30f, 1e37f, 0.1f}}, /* no denormals: may flush */
    };
    for (size_t i = 0; i < TH_LEN(EDGES); i++)
        unary_values(EDGES[i].op, NULL, EDGES[i].v, 8);
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
    TH_STATUS(vkdl_unary((vkdl_unary_op)-1, a.gpu, a.gpu), VKDL_ERROR_INVALID_ARGUMENT, "invalid op -1");
    TH_STATUS(vkdl_unary_with(VKDL_UNARY_OP_COUNT, a.gpu, NULL, a.gpu), VKDL_ERROR_INVALID_ARGUMENT, "invalid op 40");
    const int ext = 7;
    const vkdl_unary_info bad_next = {.next = &ext, .alpha = 1}, celu0 = {.alpha = 0};
    TH_STATUS(vkdl_unary_with(VKDL_ELU, a.gpu, &bad_next, a.gpu), VKDL_ERROR_INVALID_ARGUMENT, "unary: unknown extension");
    TH_STATUS(vkdl_unary_with(VKDL_CELU, a.gpu, &celu0, a.gpu), VKDL_ERROR_INVALID_ARGUMENT, "unary: celu alpha is 0");
    TH_STATUS(vkdl_unary_with(VKDL_ELU, NULL, &celu0, a.gpu), VKDL_ERROR_INVALID_ARGUMENT, "x is NULL");
    TH_STATUS(vkdl_unary(VKDL_RELU, a.gpu, b.gpu), VKDL_ERROR_SHAPE_MISMATCH, "3 vs 4");
    TH_STATUS(vkdl_unary(VKDL_RELU, a.gpu, i.gpu), VKDL_ERROR_DTYPE_MISMATCH, "i32");
    TH_STATUS(vkdl_unary(VKDL_RELU, a.cpu, a.gpu), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    TH_STATUS(vkdl_binary(VKDL_ADD, a.gpu, b.gpu, a.gpu), VKDL_ERROR_SHAPE_MISMATCH, "cannot broadcast a 3 and b 4");
    TH_STATUS(vkdl_binary(VKDL_ADD, m.gpu, a.gpu, a.gpu), VKDL_ERROR_SHAPE_MISMATCH, "out 3");
    TH_STATUS(vkdl_binary((vkdl_binary_op)-1, a.gpu, a.gpu, a.gpu), VKDL_ERROR_INVALID_ARGUMENT, NULL);
    TH_STATUS(vkdl_binary(VKDL_BINARY_OP_COUNT, a.gpu, a.gpu, a.gpu), VKDL_ERROR_INVALID_ARGUMENT, "invalid op 18");
    th_pair u = th_empty(VKDL_U8, 1, s3), h = th_empty(VKDL_F16, 1, s3);
    TH_STATUS(vkdl_binary(VKDL_ADD, a.gpu, i.gpu, a.gpu), VKDL_ERROR_DTYPE_MISMATCH, "b is i32, expected f32");
    TH_STATUS(vkdl_binary(VKDL_ADD, i.gpu, i.gpu, a.gpu), VKDL_ERROR_DTYPE_MISMATCH, "out is f32, expected i32");
    TH_STATUS(vkdl_binary(VKDL_MOD, u.gpu, u.gpu, u.gpu), VKDL_ERROR_DTYPE_MISMATCH,
              "a is u8, expected f32 or i32 for mod");
    TH_STATUS(vkdl_binary(VKDL_POW, h.gpu, h.gpu, h.gpu), VKDL_ERROR_DTYPE_MISMATCH, "a is f16, expected f32 or i32");
    TH_STATUS(vkdl_binary(VKDL_LESS, a.gpu, a.gpu, a.gpu), VKDL_ERROR_DTYPE_MISMATCH, "out is f32, expected u8");
    TH_STATUS(vkdl_binary(VKDL_EQUAL, i.gpu, a.gpu, u.gpu), VKDL_ERROR_DTYPE_MISMATCH, "b is f32, expected i32");
    TH_STATUS(vkdl_binary(VKDL_AND, a.gpu, u.gpu, u.gpu), VKDL_ERROR_DTYPE_MISMATCH, "a is f32, expected u8");
    TH_STATUS(vkdl_binary(VKDL_XOR, u.gpu, u.gpu, i.gpu), VKDL_ERROR_DTYPE_MISMATCH, "out is i32, expected u8");
    TH_STATUS(vkdl_where(NULL, a.gpu, a.gpu, a.gpu), VKDL_ERROR_INVALID_ARGUMENT, "cond is NULL");
    TH_STATUS(vkdl_where(u.gpu, a.gpu, a.gpu, NULL), VKDL_ERROR_INVALID_ARGUMENT, "out is NULL");
    TH_STATUS(vkdl_where(a.gpu, a.gpu, a.gpu, a.gpu), VKDL_ERROR_DTYPE_MISMATCH, "cond is f32, expected u8");
    TH_STATUS(vkdl_where(u.gpu, h.gpu, h.gpu, h.gpu), VKDL_ERROR_DTYPE_MISMATCH, "a is f16, expected f32, i32 or u8");
    TH_STATUS(vkdl_where(u.gpu, a.gpu, i.gpu, a.gpu), VKDL_ERROR_DTYPE_MISMATCH, "b is i32, expected f32");
    TH_STATUS(vkdl_where(u.gpu, i.gpu, i.gpu, a.gpu), VKDL_ERROR_DTYPE_MISMATCH, "out is f32, expected i32");
    TH_STATUS(vkdl_where(u.gpu, a.gpu, b.gpu, a.gpu), VKDL_ERROR_SHAPE_MISMATCH,
              "cannot broadcast cond 3, a 3 and b 4 to out 3");
    TH_STATUS(vkdl_where(u.gpu, a.gpu, a.gpu, m.gpu), VKDL_ERROR_SHAPE_MISMATCH, "to out 2x3");
    TH_STATUS(vkdl_where(u.cpu, a.gpu, a.gpu, a.gpu), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    th_free(&a);
    th_free(&b);
    th_free(&m);
    th_free(&i);
    th_free(&u);
    th_free(&h);
}

/* op on a and b (n values each, of dtype dt) on both backends: each must give want exactly. */
static void expect_known(vkdl_binary_op op, vkdl_dtype dt, int64_t n, const void *a, const void *b, const void *want)
{
    th_pair x = th_from(dt, 1, &n, a, dt), y = th_from(dt, 1, &n, b, dt), z = th_empty(dt, 1, &n);
    for (int k = 0; k < 2; k++) {
        int32_t got[16];
        vkdl_tensor *out = k ? z.gpu : z.cpu;
        TH_OK(vkdl_binary(op, k ? x.gpu : x.cpu, k ? y.gpu : y.cpu, out));
        TH_OK(vkdl_tensor_download(out, got, dt, (size_t)n * 4));
        if (memcmp(got, want, (size_t)n * 4) != 0)
            for (int64_t i = 0; i < n; i++)
                if (got[i] != ((const int32_t *)want)[i])
                    th_fail("%s %s on %s: element %lld differs", vkdl_binary_op_name(op), vkdl_dtype_name(dt),
                            TH_BACKEND[k], (long long)i);
    }
    th_free(&x);
    th_free(&y);
    th_free(&z);
}

/* i32 division, remainders and powers at their edges (negative operands, zero divisors, INT32_MIN
 * / -1, wrap-around), and f32 fmod, mod and pow where C and GLSL part ways. */
static void run_known(void *arg)
{
    (void)arg;
    static const int32_t A[10] = {7, -7, 7, -7, 5, INT32_MIN, INT32_MIN, 0, 3, -3};
    static const int32_t B[10] = {2, 2, -2, -2, 0, -1, 1, 0, -3, 7};
    static const int32_t DIV[10] = {3, -3, -3, 3, 0, INT32_MIN, INT32_MIN, 0, -1, 0};
    static const int32_t FMOD[10] = {1, -1, 1, -1, 0, 0, 0, 0, 0, -3};
    static const int32_t MOD[10] = {1, 1, -1, -1, 0, 0, 0, 0, 0, 4};
    expect_known(VKDL_DIV, VKDL_I32, 10, A, B, DIV);
    expect_known(VKDL_FMOD, VKDL_I32, 10, A, B, FMOD);
    expect_known(VKDL_MOD, VKDL_I32, 10, A, B, MOD);
    static const int32_t PA[10] = {2, -2, 3, 1, -1, -1, 2, 0, 0, 65536};
    static const int32_t PB[10] = {10, 3, -1, -5, -5, -4, 31, 0, 5, 2};
    static const int32_t POW[10] = {1024, -8, 0, 1, -1, 1, INT32_MIN, 1, 0, 0};
    expect_known(VKDL_POW, VKDL_I32, 10, PA, PB, POW);
    static const float FA[6] = {-7.5f, 7.5f, 7.5f, -7.5f, 6.0f, -6.0f};
    static const float FB[6] = {2.0f, -2.0f, 2.0f, -2.0f, 3.0f, 3.0f};
    static const float FFMOD[6] = {-1.5f, 1.5f, 1.5f, -1.5f, 0.0f, -0.0f};
    static const float FMODF[6] = {0.5f, -0.5f, 1.5f, -1.5f, 0.0f, 0.0f};
    expect_known(VKDL_FMOD, VKDL_F32, 6, FA, FB, FFMOD);
    expect_known(VKDL_MOD, VKDL_F32, 6, FA, FB, FMODF);
    static const float GA[6] = {-2.0f, -2.0f, 0.0f, 0.0f, 4.0f, -3.0f};
    static const float GB[6] = {3.0f, -2.0f, -1.0f, 0.0f, 0.5f, 0.0f};
    static const float GPOW[6] = {-8.0f, 0.25f, INFINITY, 1.0f, 2.0f, 1.0f};
    expect_known(VKDL_POW, VKDL_F32, 6, GA, GB, GPOW);
}

/* u8 outputs of a comparison and of where that start and end mid-word: the bytes around them keep
 * their values (the table's padded rows have zeros there, which a stray write of 0 would keep). */
static void run_u8_view(void *arg)
{
    (void)arg;
    for (int64_t n = 1; n <= 6; n++)
        for (int w = 0; w < 2; w++) {
            int64_t total = n + 5, s[1] = {total};
            th_pair base = th_empty(VKDL_U8, 1, s);
            th_pair a = th_rand(VKDL_I32, 1, &n, -2, 3), b = th_rand(VKDL_I32, 1, &n, -2, 3);
            th_pair c = th_rand(VKDL_U8, 1, &n, 0, 2), x = th_rand(VKDL_U8, 1, &n, 0, 100);
            TH_OK(vkdl_tensor_fill(base.cpu, 171));
            TH_OK(vkdl_tensor_fill(base.gpu, 171));
            th_pair out = th_slice(&base, 3, 3 + n);
            for (int k = 0; k < 2; k++) {
                vkdl_tensor *o = k ? out.gpu : out.cpu;
                if (w)
                    TH_OK(vkdl_where(k ? c.gpu : c.cpu, k ? x.gpu : x.cpu, o, o));
                else
                    TH_OK(vkdl_binary(VKDL_LESS_EQUAL, k ? a.gpu : a.cpu, k ? b.gpu : b.cpu, o));
            }
            if (!th_compare(&base, TH_TOL_EXACT))
                th_fail("%s, n = %lld", w ? "where" : "less_equal", (long long)n);
            float *h = th_download(base.gpu);
            for (int64_t i = 0; i < total; i++)
                if ((i < 3 || i >= 3 + n) && h[i] != 171)
                    th_fail("%s, n = %lld: byte %lld outside the view became %g", w ? "where" : "less_equal",
                            (long long)n, (long long)i, h[i]);
            free(h);
            th_free(&out);
            th_free(&base);
            th_free(&a);
            th_free(&b);
            th_free(&c);
            th_free(&x);
        }
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

/* Broadcast patterns (a, b, out) every new op and dtype runs on. */
static const th_shape PATTERNS[][3] = {
    {TH_SHAPE(1031), TH_SHAPE(1031), TH_SHAPE(1031)},
    {TH_SHAPE(1), TH_SHAPE(5), TH_SHAPE(5)},
    {TH_SHAPE(3, 1, 5), TH_SHAPE(1, 4, 1), TH_SHAPE(3, 4, 5)},
    {TH_SCALAR, TH_SHAPE(2, 3, 4), TH_SHAPE(2, 3, 4)},
    {TH_SHAPE(17, 3), TH_SHAPE(1), TH_SHAPE(17, 3)},
    {TH_SHAPE(2, 1, 2, 1, 2, 1, 2, 1), TH_SHAPE(1, 2, 1, 2, 1, 2, 1, 2), TH_SHAPE(2, 2, 2, 2, 2, 2, 2, 2)},
    {TH_SHAPE(0, 5), TH_SHAPE(5), TH_SHAPE(0, 5)},
};

/* Inputs for op on dtype dt: divisors away from 0 in f32 (i32 meets 0 on purpose: it gives 0),
 * positive bases for f32 pow, whole numbers where equal values matter. */
static void binary_inputs(vkdl_binary_op op, vkdl_dtype dt, th_input *a, th_input *b)
{
    *a = (th_input){.dtype = dt, .lo = -4, .hi = 4};
    *b = (th_input){.dtype = dt, .lo = -4, .hi = 4};
    if (op >= VKDL_AND) {
        *a = *b = (th_input){.dtype = VKDL_U8, .fill = TH_FILL_LABELS, .hi = 3};
    } else if (dt == VKDL_I32) {
        *a = (th_input){.dtype = dt, .lo = -50, .hi = 50};
        *b = (th_input){.dtype = dt, .lo = -8, .hi = 8};
        if (op == VKDL_POW)
            a->lo = -6, a->hi = 6, b->lo = -3, b->hi = 10;
        else if (op >= VKDL_EQUAL)
            a->lo = b->lo = -3, a->hi = b->hi = 3;
    } else if (op == VKDL_DIV || op == VKDL_FMOD || op == VKDL_MOD) {
        *b = (th_input){.fill = TH_FILL_SIGNED, .lo = 0.5f, .hi = 4};
    } else if (op == VKDL_POW) {
        a->lo = 0.1f;
        b->lo = -3, b->hi = 3;
    } else if (op == VKDL_MINIMUM || op == VKDL_MAXIMUM || op >= VKDL_EQUAL) {
        *a = *b = (th_input){.fill = TH_FILL_FN, .gen = whole, .lo = -2, .hi = 3};
    }
}

static th_op binary_row(const char *name, vkdl_binary_op op, vkdl_dtype dt, const th_shape *p)
{
    th_op c = {.name = name, .op = op, .n_in = 2, .n_out = 1, .forward = binary,
               .out = {{.shape = p[2], .dtype = op >= VKDL_EQUAL ? VKDL_U8 : dt}},
               .tol = dt == VKDL_F32 && op < VKDL_EQUAL ? &TH_TOL_F32 : &TH_TOL_EXACT};
    binary_inputs(op, dt, &c.in[0], &c.in[1]);
    c.in[0].shape = p[0];
    c.in[1].shape = p[1];
    return c;
}

/* Whole numbers in [lo, hi), every fifth one NaN. */
static void whole_nan(float *v, int64_t n, const th_shape *s, float lo, float hi)
{
    whole(v, n, s, lo, hi);
    for (int64_t i = th_randu(5); i < n; i += 5)
        v[i] = NAN;
}

#define NAN_ROW(o, dt)                                                                                            \
    {.name = "binary/" #o "/nan", .op = VKDL_##o, .n_in = 2, .n_out = 1, .forward = binary, .tol = &TH_TOL_EXACT, \
     .in = {{.shape = TH_SHAPE(97), .fill = TH_FILL_FN, .gen = whole_nan, .lo = -2, .hi = 2},                     \
            {.shape = TH_SHAPE(97), .fill = TH_FILL_FN, .gen = whole_nan, .lo = -2, .hi = 2}},                    \
     .out = {{.shape = TH_SHAPE(97), .dtype = dt}}}

/* i32 wrap-around, NaN operands, negative f32 bases with whole exponents (and 0^b), f32 min/max on any
 * values, and u8 outputs of odd sizes placed mid-word. */
static const th_op BINARY_EXTRA[] = {
    NAN_ROW(MINIMUM, VKDL_F32), NAN_ROW(MAXIMUM, VKDL_F32), NAN_ROW(EQUAL, VKDL_U8), NAN_ROW(LESS, VKDL_U8),
    NAN_ROW(GREATER_EQUAL, VKDL_U8),
    {.name = "binary/add/i32/wrap", .op = VKDL_ADD, .n_in = 2, .n_out = 1, .forward = binary, .tol = &TH_TOL_EXACT,
     .in = {{.shape = TH_SHAPE(257), .dtype = VKDL_I32, .lo = -2e9f, .hi = 2e9f},
            {.shape = TH_SHAPE(257), .dtype = VKDL_I32, .lo = -2e9f, .hi = 2e9f}},
     .out = {{.shape = TH_SHAPE(257), .dtype = VKDL_I32}}},
    {.name = "binary/mul/i32/wrap", .op = VKDL_MUL, .n_in = 2, .n_out = 1, .forward = binary, .tol = &TH_TOL_EXACT,
     .in = {{.shape = TH_SHAPE(257), .dtype = VKDL_I32, .lo = -1e6f, .hi = 1e6f},
            {.shape = TH_SHAPE(257), .dtype = VKDL_I32, .lo = -1e6f, .hi = 1e6f}},
     .out = {{.shape = TH_SHAPE(257), .dtype = VKDL_I32}}},
    {.name = "binary/pow/i32/wrap", .op = VKDL_POW, .n_in = 2, .n_out = 1, .forward = binary, .tol = &TH_TOL_EXACT,
     .in = {{.shape = TH_SHAPE(257), .dtype = VKDL_I32, .lo = -100, .hi = 100},
            {.shape = TH_SHAPE(257), .dtype = VKDL_I32, .lo = 0, .hi = 40}},
     .out = {{.shape = TH_SHAPE(257), .dtype = VKDL_I32}}},
    {.name = "binary/pow/f32/negative-base", .op = VKDL_POW, .n_in = 2, .n_out = 1, .forward = binary,
     .tol = &TH_TOL_F32,
     .in = {{.shape = TH_SHAPE(31, 1), .fill = TH_FILL_FN, .gen = whole, .lo = -4, .hi = 4},
            {.shape = TH_SHAPE(1, 9), .fill = TH_FILL_FN, .gen = whole, .lo = -3, .hi = 6}},
     .out = {{.shape = TH_SHAPE(31, 9)}}},
    {.name = "binary/minimum/f32/uniform", .op = VKDL_MINIMUM, .n_in = 2, .n_out = 1, .forward = binary,
     .tol = &TH_TOL_F32,
     .in = {{.shape = TH_SHAPE(1000), .lo = -4, .hi = 4}, {.shape = TH_SHAPE(1), .lo = -4, .hi = 4}},
     .out = {{.shape = TH_SHAPE(1000)}}},
    {.name = "binary/maximum/f32/uniform", .op = VKDL_MAXIMUM, .n_in = 2, .n_out = 1, .forward = binary,
     .tol = &TH_TOL_F32,
     .in = {{.shape = TH_SHAPE(1000), .lo = -4, .hi = 4}, {.shape = TH_SHAPE(1), .lo = -4, .hi = 4}},
     .out = {{.shape = TH_SHAPE(1000)}}},
    {.name = "binary/mod/f32/big", .op = VKDL_MOD, .n_in = 2, .n_out = 1, .forward = binary, .tol = &TH_TOL_F32,
     .in = {{.shape = TH_SHAPE(70001), .lo = -100, .hi = 100}, {.shape = TH_SHAPE(1), .lo = 0.7f, .hi = 0.8f}},
     .out = {{.shape = TH_SHAPE(70001)}}},
};

/* u8 outputs of odd sizes as views that start and end mid-word (the bytes around are compared). */
static const int64_t U8_SIZES[] = {1, 3, 5, 1031};

/* where's broadcast patterns (cond, a, b, out). */
static const th_shape WHERE_PATTERNS[][4] = {
    {TH_SHAPE(1031), TH_SHAPE(1031), TH_SHAPE(1031), TH_SHAPE(1031)},
    {TH_SHAPE(3, 1, 5), TH_SHAPE(1, 4, 1), TH_SHAPE(5), TH_SHAPE(3, 4, 5)},
    {TH_SCALAR, TH_SHAPE(2, 3), TH_SHAPE(3, 1, 1), TH_SHAPE(3, 2, 3)},
    {TH_SHAPE(4, 7), TH_SCALAR, TH_SHAPE(1), TH_SHAPE(4, 7)},
    {TH_SHAPE(1), TH_SHAPE(6, 1), TH_SCALAR, TH_SHAPE(6, 1)},
    {TH_SHAPE(1, 1), TH_SHAPE(1), TH_SCALAR, TH_SHAPE(1, 1)},
    {TH_SHAPE(5, 1), TH_SHAPE(1, 3), TH_SHAPE(5, 3), TH_SHAPE(5, 3)},
    {TH_SHAPE(2, 1, 2, 1, 2, 1, 2, 1), TH_SHAPE(1, 2, 1, 2, 1, 2, 1, 2), TH_SHAPE(2, 2, 1, 1, 2, 2, 1, 1),
     TH_SHAPE(2, 2, 2, 2, 2, 2, 2, 2)},
    {TH_SHAPE(0, 5), TH_SHAPE(5), TH_SHAPE(1, 5), TH_SHAPE(0, 5)},
    {TH_SHAPE(300, 1), TH_SHAPE(1, 70), TH_SHAPE(300, 70), TH_SHAPE(300, 70)},
};

static th_op where_row(const char *name, vkdl_dtype dt, const th_shape *p, int64_t pad)
{
    th_input v = {.dtype = dt, .lo = -100, .hi = 100};
    if (dt == VKDL_U8)
        v = (th_input){.dtype = dt, .fill = TH_FILL_LABELS, .hi = 256};
    th_op c = {.name = name, .n_in = 3, .n_out = 1, .forward = where, .tol = &TH_TOL_EXACT,
               .in = {{.shape = p[0], .dtype = VKDL_U8, .fill = TH_FILL_LABELS, .hi = 3}, v, v},
               .out = {{.shape = p[3], .dtype = dt, .pad = {pad, pad + 1}}}};
    c.in[1].shape = p[1];
    c.in[2].shape = p[2];
    return c;
}

/* The ops after abs on odd shapes, each over its natural range (SIGNED: +-[lo, hi)), with the
 * defaults and, for those that take parameters, explicit ones. */
typedef struct unary_case {
    vkdl_unary_op op;
    float lo, hi;
    bool is_signed;
    vkdl_unary_info info;
    bool has_info;
} unary_case;
#define U(o, l, h) {.op = VKDL_##o, .lo = l, .hi = h}
#define U_WITH(o, a, b) {.op = VKDL_##o, .lo = -8, .hi = 8, .info = {.alpha = a, .beta = b}, .has_info = true}
static const unary_case MORE_UNARY[] = {
    U(FLOOR, -8, 8), U(CEIL, -8, 8), U(ROUND, -8, 8), U(SIGN, -8, 8),
    {.op = VKDL_RECIPROCAL, .lo = 0.01f, .hi = 8, .is_signed = true},
    U(SIN, -8, 8), U(COS, -8, 8), U(TAN, -1.4f, 1.4f), U(ASIN, -1, 1), U(ACOS, -1, 1), U(ATAN, -20, 20),
    U(SINH, -10, 10), U(COSH, -10, 10), U(ASINH, -50, 50), U(ACOSH, 1, 50), U(ATANH, -1, 1), U(ERF, -4, 4),
    U(SOFTPLUS, -30, 30), U(SOFTSIGN, -8, 8), U(SILU, -20, 20), U(MISH, -20, 20), U(HARDSWISH, -6, 6),
    U(LEAKY_RELU, -8, 8), U(ELU, -8, 8), U(SELU, -8, 8), U(CELU, -8, 8), U(HARDSIGMOID, -8, 8), U(CLIP, -8, 8),
    U(THRESHOLDED_RELU, -8, 8), U(SHRINK, -8, 8),
    U_WITH(LEAKY_RELU, 0.2f, 0), U_WITH(ELU, 0.5f, 0), U_WITH(SELU, 1.5f, 2), U_WITH(CELU, -2, 0),
    U_WITH(HARDSIGMOID, 1.0f / 6, 0.5f), U_WITH(CLIP, 0, 6),
    U_WITH(CLIP, 2, -1), /* min > max gives max, as ONNX and NumPy */
    U_WITH(THRESHOLDED_RELU, -0.5f, 0), U_WITH(SHRINK, 1, 1),
    U_WITH(RELU, 5, 5), /* parameters an op does not take are ignored */
};

int main(int argc, char **argv)
{
    th_init(argc, argv);
    char name[128];
    for (int op = 0; op < VKDL_FLOOR; op++)
        for (size_t i = 0; i < TH_LEN(SHAPES); i++) {
            float lo = op == VKDL_LOG || op == VKDL_SQRT ? 1e-3f : op == VKDL_EXP ? -20 : -8;
            float hi = op == VKDL_LOG || op == VKDL_SQRT ? 50 : op == VKDL_EXP ? 20 : 8;
            snprintf(name, sizeof name, "unary/%s/%zu", vkdl_unary_op_name(op), i);
            th_op c = unary_row(name, unary, op, NULL, SHAPES[i], lo, hi);
            th_run_op(&c);
        }
    static const th_shape ODD[] = {{2, {7, 13}}, {1, {1}}, {3, {3, 1, 129}}};
    for (size_t k = 0; k < TH_LEN(MORE_UNARY); k++)
        for (size_t i = 0; i < TH_LEN(ODD); i++) {
            const unary_case *u = &MORE_UNARY[k];
            char with[64] = "";
            if (u->has_info)
                snprintf(with, sizeof with, "(%g,%g)", u->info.alpha, u->info.beta);
            snprintf(name, sizeof name, "unary/%s%s/%zu", vkdl_unary_op_name(u->op), with, i);
            th_op c = unary_row(name, u->has_info ? unary_with : unary, u->op, u->has_info ? &u->info : NULL, ODD[i],
                                u->lo, u->hi);
            c.in[0].fill = u->is_signed ? TH_FILL_SIGNED : TH_FILL_UNIFORM;
            th_run_op(&c);
        }
    th_run("unary/special-values", run_unary_special, NULL);
    th_run("unary/domain-edges", run_unary_edges, NULL);
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
    static const vkdl_dtype DT[2] = {VKDL_F32, VKDL_I32};
    for (int op = VKDL_ADD; op < VKDL_BINARY_OP_COUNT; op++)
        for (int t = 0; t < (op >= VKDL_AND ? 1 : 2); t++)
            for (size_t i = 0; i < TH_LEN(PATTERNS); i++) {
                if (op <= VKDL_DIV && DT[t] == VKDL_F32)
                    continue; /* the table above */
                snprintf(name, sizeof name, "binary/%s/%s/%zu", vkdl_binary_op_name(op),
                         op >= VKDL_AND ? "u8" : vkdl_dtype_name(DT[t]), i);
                th_op c = binary_row(name, op, DT[t], PATTERNS[i]);
                th_run_op(&c);
            }
    for (size_t i = 0; i < TH_LEN(BINARY_EXTRA); i++)
        th_run_op(&BINARY_EXTRA[i]);
    for (int op = VKDL_EQUAL; op < VKDL_BINARY_OP_COUNT; op++)
        for (size_t i = 0; i < TH_LEN(U8_SIZES); i++) {
            th_shape s = {1, {U8_SIZES[i]}};
            const th_shape p[3] = {s, s, s};
            snprintf(name, sizeof name, "binary/%s/u8-view/%lld", vkdl_binary_op_name(op), (long long)U8_SIZES[i]);
            th_op c = binary_row(name, op, VKDL_F32, p);
            c.out[0].pad[0] = 1 + (int64_t)i;
            c.out[0].pad[1] = 2;
            th_run_op(&c);
        }
    static const vkdl_dtype WHERE_DT[3] = {VKDL_F32, VKDL_I32, VKDL_U8};
    for (int t = 0; t < 3; t++)
        for (size_t i = 0; i < TH_LEN(WHERE_PATTERNS); i++) {
            snprintf(name, sizeof name, "where/%s/%zu", vkdl_dtype_name(WHERE_DT[t]), i);
            th_op c = where_row(name, WHERE_DT[t], WHERE_PATTERNS[i], WHERE_PATTERNS[i][3].ndim ? (int64_t)i % 3 : 0);
            th_run_op(&c);
        }
    th_run("binary/known-values", run_known, NULL);
    th_run("binary/u8-view-keeps-neighbours", run_u8_view, NULL);
    th_run("elementwise/unaligned-views", run_views, NULL);
    th_run("elementwise/chain-across-batches", run_chain, NULL);
    th_run("elementwise/bad-input", run_bad, NULL);
    return th_finish();
}
