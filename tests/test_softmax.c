/* vkdl_softmax / vkdl_log_softmax against the CPU twin: rows from 1 to 100000+ long, many rows,
 * large-magnitude and -inf inputs, and each way a workgroup combines its row. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum data { D_UNIFORM, D_WIDE, D_RAMP, D_MASKED };
static const char *const DATA_NAMES[] = {"", " wide", " ramp", " masked"};

/* The running max grows at every element. */
static void ramp(float *v, int64_t n, const th_shape *s, float lo, float hi)
{
    (void)lo, (void)hi;
    int64_t row = s->ndim ? s->d[s->ndim - 1] : 1;
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)(i % row) * 0.01f;
}

/* A causal-style mask: -inf past the diagonal, never a whole row. */
static void masked(float *v, int64_t n, const th_shape *s, float lo, float hi)
{
    (void)lo, (void)hi;
    int64_t row = s->ndim ? s->d[s->ndim - 1] : 1;
    for (int64_t i = 0; i < n; i++)
        v[i] = (i % row) > (i / row) % row ? -INFINITY : th_randf(-5.0f, 5.0f);
}

static th_input input(th_shape s, enum data d)
{
    if (d == D_WIDE) /* exp() of these overflows without the max subtracted */
        return (th_input){.shape = s, .lo = -200.0f, .hi = 200.0f};
    if (d == D_UNIFORM)
        return (th_input){.shape = s, .lo = -5.0f, .hi = 5.0f};
    return (th_input){.shape = s, .fill = TH_FILL_FN, .gen = d == D_RAMP ? ramp : masked};
}

static vkdl_status softmax(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    return (op->op ? vkdl_log_softmax : vkdl_softmax)(in[0], out[0]);
}

/* Views that start mid-buffer, so the binding offsets are not zero; the elements around the
 * output view must be untouched. */
static void run_views(void *arg)
{
    (void)arg;
    int64_t s[2] = {9, 131};
    th_pair xb = th_rand(VKDL_F32, 2, s, -3.0f, 3.0f);
    th_pair yb = th_rand(VKDL_F32, 2, s, -3.0f, 3.0f);
    th_pair x = th_slice(&xb, 1, 6);
    th_pair y = th_slice(&yb, 3, 8);
    TH_OK(vkdl_softmax(x.cpu, y.cpu));
    TH_OK(vkdl_softmax(x.gpu, y.gpu));
    th_free(&x);
    th_free(&y);
    th_compare(&yb, TH_TOL_F32);
    th_free(&xb);
    th_free(&yb);
}

/* Rows sum to 1, whatever the oracle says. */
static void run_sums(void *arg)
{
    (void)arg;
    int64_t s[2] = {7, 30000};
    th_pair x = th_rand(VKDL_F32, 2, s, -20.0f, 20.0f);
    th_pair y = th_empty(VKDL_F32, 2, s);
    TH_OK(vkdl_softmax(x.gpu, y.gpu));
    float *h = malloc(7 * 30000 * sizeof *h);
    TH_OK(vkdl_tensor_download(y.gpu, h, VKDL_F32, 7 * 30000 * sizeof *h));
    for (int r = 0; r < 7; r++) {
        double sum = 0;
        for (int k = 0; k < 30000; k++)
            sum += h[r * 30000 + k];
        if (fabs(sum - 1.0) > 1e-4)
            th_fail("row %d sums to %.9g", r, sum);
    }
    free(h);
    th_free(&x);
    th_free(&y);
}

static void run_empty(void *arg)
{
    (void)arg;
    int64_t s0[2] = {0, 5}, s1[2] = {5, 0};
    for (int i = 0; i < 2; i++) {
        th_pair x = th_rand(VKDL_F32, 2, i ? s1 : s0, -1.0f, 1.0f);
        th_pair y = th_empty(VKDL_F32, 2, i ? s1 : s0);
        TH_OK(vkdl_softmax(x.cpu, y.cpu));
        TH_OK(vkdl_log_softmax(x.gpu, y.gpu));
        th_free(&x);
        th_free(&y);
    }
}

static void run_bad(void *arg)
{
    (void)arg;
    vkdl_context *ctx = th_gpu;
    int64_t s23[2] = {2, 3}, s32[2] = {3, 2}, s6[1] = {6};
    vkdl_tensor *x = NULL, *y = NULL, *xi = NULL, *y32 = NULL, *y6 = NULL, *ycpu = NULL;
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 2, s23, &x));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 2, s23, &y));
    TH_OK(vkdl_tensor_create(ctx, VKDL_I32, 2, s23, &xi));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 2, s32, &y32));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, s6, &y6));
    TH_OK(vkdl_tensor_create(th_cpu, VKDL_F32, 2, s23, &ycpu));

    TH_STATUS(vkdl_softmax(NULL, y), VKDL_ERROR_INVALID_ARGUMENT, "softmax: x is NULL");
    TH_STATUS(vkdl_softmax(x, NULL), VKDL_ERROR_INVALID_ARGUMENT, "softmax: out is NULL");
    TH_STATUS(vkdl_log_softmax(NULL, y), VKDL_ERROR_INVALID_ARGUMENT, "log_softmax: x is NULL");
    TH_STATUS(vkdl_softmax(xi, y), VKDL_ERROR_DTYPE_MISMATCH, "x is i32");
    TH_STATUS(vkdl_log_softmax(x, xi), VKDL_ERROR_DTYPE_MISMATCH, "out is i32");
    TH_STATUS(vkdl_softmax(x, y32), VKDL_ERROR_SHAPE_MISMATCH, "2x3 vs 3x2");
    TH_STATUS(vkdl_log_softmax(x, y6), VKDL_ERROR_SHAPE_MISMATCH, NULL);
    TH_STATUS(vkdl_softmax(x, ycpu), VKDL_ERROR_CONTEXT_MISMATCH, NULL);

    vkdl_tensor_destroy(x);
    vkdl_tensor_destroy(y);
    vkdl_tensor_destroy(xi);
    vkdl_tensor_destroy(y32);
    vkdl_tensor_destroy(y6);
    vkdl_tensor_destroy(ycpu);
}

/* Each row runs as softmax and as log_softmax. 300001 and 2e6: past lavapipe's per-invocation loop
 * limit for a one-subgroup row. */
static const struct {
    th_shape shape;
    enum data data;
    unsigned variants;
} ROWS[] = {
    {TH_SHAPE(1), D_UNIFORM, TH_VS_ALL},
    {TH_SHAPE(3), D_UNIFORM, 0},
    {TH_SHAPE(17), D_UNIFORM, 0},
    {TH_SHAPE(127), D_UNIFORM, 0},
    {TH_SHAPE(256), D_UNIFORM, 0},
    {TH_SHAPE(257), D_UNIFORM, TH_VS_ALL},
    {TH_SHAPE(1000), D_UNIFORM, 0},
    {TH_SHAPE(100000), D_UNIFORM, 0},
    {TH_SHAPE(150001), D_UNIFORM, 0},
    {TH_SHAPE(300001), D_UNIFORM, 0},
    {TH_SHAPE(2000000), D_UNIFORM, 0},
    {TH_SCALAR, D_UNIFORM, 0},
    {TH_SHAPE(4096, 3), D_UNIFORM, 0},
    {TH_SHAPE(4096, 17), D_UNIFORM, TH_VS_ALL},
    {TH_SHAPE(64, 1000), D_UNIFORM, TH_VS_ALL},
    {TH_SHAPE(3, 100000), D_UNIFORM, TH_VS_ALL},
    {TH_SHAPE(5, 1), D_UNIFORM, 0},
    {TH_SHAPE(70000, 2), D_UNIFORM, 0},
    {TH_SHAPE(2, 3, 4, 5), D_UNIFORM, 0},
    {TH_SHAPE(1, 2, 1, 3, 1, 7), D_UNIFORM, 0},
    {TH_SHAPE(2, 1, 2, 3, 1, 2, 2, 129), D_UNIFORM, 0},
    {TH_SHAPE(64, 1000), D_WIDE, TH_VS_ALL},
    {TH_SHAPE(3, 100000), D_RAMP, TH_VS_ALL},
    {TH_SHAPE(3, 64, 64), D_MASKED, TH_VS_ALL},
};

int main(int argc, char **argv)
{
    th_init(argc, argv);
    char name[200], dims[100];
    for (size_t i = 0; i < TH_LEN(ROWS); i++)
        for (int log = 0; log < 2; log++) {
            snprintf(name, sizeof name, "%s %s%s", log ? "log_softmax" : "softmax",
                     th_shape_str(&ROWS[i].shape, dims, sizeof dims), DATA_NAMES[ROWS[i].data]);
            th_op c = {.name = name, .op = log, .n_in = 1, .n_out = 1, .in = {input(ROWS[i].shape, ROWS[i].data)},
                       .out = {{.shape = ROWS[i].shape}}, .forward = softmax, .tol = &TH_TOL_F32,
                       .variants = ROWS[i].variants};
            th_run_op(&c);
        }
    th_run("views at offsets", run_views, NULL);
    th_run("rows sum to 1", run_sums, NULL);
    th_run("empty tensors", run_empty, NULL);
    th_run("bad arguments", run_bad, NULL);
    return th_finish();
}
