/* vkdl_softmax / vkdl_log_softmax against the CPU twin: rows from 1 to 100000+ long, many rows,
 * large-magnitude and -inf inputs, and each way a workgroup combines its row. */
#include "harness.h"
#include "runtime/runtime.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum data { D_UNIFORM, D_WIDE, D_RAMP, D_MASKED };
static const char *const DATA_NAMES[] = {"", " wide", " ramp", " masked"};

typedef struct scase {
    bool log;
    int ndim;
    int64_t shape[VKDL_MAX_DIMS];
    enum th_variant variant;
    enum data data;
} scase;

static th_pair make_input(const scase *c)
{
    if (c->data == D_UNIFORM)
        return th_rand(VKDL_F32, c->ndim, c->shape, -5.0f, 5.0f);
    if (c->data == D_WIDE)  /* exp() of these overflows without the max subtracted */
        return th_rand(VKDL_F32, c->ndim, c->shape, -200.0f, 200.0f);
    int64_t n = 1, row = c->ndim ? c->shape[c->ndim - 1] : 1;
    for (int i = 0; i < c->ndim; i++)
        n *= c->shape[i];
    float *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++) {
        if (c->data == D_RAMP)  /* the running max grows at every element */
            v[i] = (float)(i % row) * 0.01f;
        else                    /* a causal-style mask: -inf past the diagonal, never a whole row */
            v[i] = (i % row) > (i / row) % row ? -INFINITY : th_randf(-5.0f, 5.0f);
    }
    th_pair p = th_from(VKDL_F32, c->ndim, c->shape, v, VKDL_F32);
    free(v);
    return p;
}

static void run_case(void *arg)
{
    const scase *c = arg;
    th_pair x = make_input(c);
    th_pair y = th_empty(VKDL_F32, c->ndim, c->shape);
    vkdl_status (*fn)(const vkdl_tensor *, vkdl_tensor *) = c->log ? vkdl_log_softmax : vkdl_softmax;
    TH_OK(fn(x.cpu, y.cpu));
    th_variant_begin(c->variant);
    TH_OK(fn(x.gpu, y.gpu));
    th_variant_end();
    th_compare(&y, TH_TOL_F32);
    th_free(&x);
    th_free(&y);
}

static void run(bool log, int ndim, const int64_t *shape, enum th_variant v, enum data d)
{
    scase c = {.log = log, .ndim = ndim, .variant = v, .data = d};
    if (ndim)
        memcpy(c.shape, shape, sizeof(int64_t) * (size_t)ndim);
    char name[200], dims[100];
    size_t used = 0;
    dims[0] = 0;
    for (int i = 0; i < ndim; i++)
        used += (size_t)snprintf(dims + used, sizeof dims - used, i ? "x%lld" : "%lld", (long long)shape[i]);
    snprintf(name, sizeof name, "%s %s%s%s", log ? "log_softmax" : "softmax", ndim ? dims : "scalar",
             DATA_NAMES[d], TH_VARIANT_NAMES[v]);
    th_run(name, run_case, &c);
}

static void both(int ndim, const int64_t *shape, enum th_variant v, enum data d)
{
    run(false, ndim, shape, v, d);
    run(true, ndim, shape, v, d);
}

/* Views that start mid-buffer, so the binding offsets are not zero; the elements around the
 * output view must be untouched. */
static void run_views(void *arg)
{
    (void)arg;
    int64_t s[2] = {9, 131};
    th_pair xb = th_rand(VKDL_F32, 2, s, -3.0f, 3.0f);
    th_pair yb = th_rand(VKDL_F32, 2, s, -3.0f, 3.0f);
    th_pair x, y;
    TH_OK(vkdl_tensor_slice(xb.cpu, 1, 6, &x.cpu));
    TH_OK(vkdl_tensor_slice(xb.gpu, 1, 6, &x.gpu));
    TH_OK(vkdl_tensor_slice(yb.cpu, 3, 8, &y.cpu));
    TH_OK(vkdl_tensor_slice(yb.gpu, 3, 8, &y.gpu));
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

int main(int argc, char **argv)
{
    th_init(argc, argv);

    /* 300001 and 2e6: past lavapipe's per-invocation loop limit for a one-subgroup row */
    static const int64_t lens[] = {1, 3, 17, 127, 256, 257, 1000, 100000, 150001, 300001, 2000000};
    for (size_t i = 0; i < VKDL_ARRAY_LEN(lens); i++)
        both(1, &lens[i], TH_V_DEFAULT, D_UNIFORM);
    both(0, NULL, TH_V_DEFAULT, D_UNIFORM);

    const int64_t m1[] = {4096, 3}, m2[] = {4096, 17}, m3[] = {64, 1000}, m4[] = {3, 100000};
    const int64_t m5[] = {5, 1}, m6[] = {70000, 2};
    const int64_t t4[] = {2, 3, 4, 5}, t6[] = {1, 2, 1, 3, 1, 7}, t8[] = {2, 1, 2, 3, 1, 2, 2, 129};
    const int64_t *shapes[] = {m1, m2, m3, m4, m5, m6};
    for (size_t i = 0; i < VKDL_ARRAY_LEN(shapes); i++)
        both(2, shapes[i], TH_V_DEFAULT, D_UNIFORM);
    both(4, t4, TH_V_DEFAULT, D_UNIFORM);
    both(6, t6, TH_V_DEFAULT, D_UNIFORM);
    both(8, t8, TH_V_DEFAULT, D_UNIFORM);

    for (int v = TH_V_DEFAULT; v < TH_V_COUNT; v++) {
        if (v != TH_V_DEFAULT) {
            both(2, m2, (enum th_variant)v, D_UNIFORM);
            both(2, m3, (enum th_variant)v, D_UNIFORM);
            both(2, m4, (enum th_variant)v, D_UNIFORM);
            both(1, &lens[0], (enum th_variant)v, D_UNIFORM);
            both(1, &lens[5], (enum th_variant)v, D_UNIFORM);
        }
        both(2, m3, (enum th_variant)v, D_WIDE);
        both(2, m4, (enum th_variant)v, D_RAMP);
        const int64_t sq[] = {3, 64, 64};
        both(3, sq, (enum th_variant)v, D_MASKED);
    }

    th_run("views at offsets", run_views, NULL);
    th_run("rows sum to 1", run_sums, NULL);
    th_run("empty tensors", run_empty, NULL);
    th_run("bad arguments", run_bad, NULL);
    return th_finish();
}
