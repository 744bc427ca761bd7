/* vkdl_softmax_backward / vkdl_log_softmax_backward: finite differences of the CPU forward, and the
 * GPU against the CPU twin (TH_TOL_F32) on rows from 1 to 100000 long and each way a workgroup
 * combines its row. lib/op_softmax.c
 *
 * Gradchecks: central differences with step 1e-3 of the f32 forward, 1e-2 relative (the forward's
 * rounding over the step is ~1e-4). */
#include "harness.h"
#include "runtime/runtime.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct scase {
    bool log;
    int ndim;
    int64_t shape[VKDL_MAX_DIMS];
    enum th_variant variant;
} scase;

typedef vkdl_status (*fwd_fn)(const vkdl_tensor *, vkdl_tensor *);
typedef vkdl_status (*bwd_fn)(const vkdl_tensor *, const vkdl_tensor *, vkdl_tensor *);

/* y is the CPU forward of random logits, uploaded to both sides so both backward from the same y. */
static th_pair make_y(bool log, int ndim, const int64_t *shape, float range)
{
    th_pair x = th_rand(VKDL_F32, ndim, shape, -range, range);
    th_pair y = th_empty(VKDL_F32, ndim, shape);
    TH_OK((log ? vkdl_log_softmax : vkdl_softmax)(x.cpu, y.cpu));
    float *h = th_download(y.cpu);
    TH_OK(vkdl_tensor_upload(y.gpu, h, VKDL_F32, (size_t)vkdl_tensor_numel(y.cpu) * sizeof *h));
    free(h);
    th_free(&x);
    return y;
}

static void run_case(void *arg)
{
    const scase *c = arg;
    th_pair y = make_y(c->log, c->ndim, c->shape, 5.0f);
    th_pair dy = th_rand(VKDL_F32, c->ndim, c->shape, -1.0f, 1.0f);
    th_pair dx = th_empty(VKDL_F32, c->ndim, c->shape);
    bwd_fn fn = c->log ? vkdl_log_softmax_backward : vkdl_softmax_backward;
    TH_OK(fn(y.cpu, dy.cpu, dx.cpu));
    th_variant_begin(c->variant);
    TH_OK(fn(y.gpu, dy.gpu, dx.gpu));
    th_variant_end();
    th_compare(&dx, TH_TOL_F32);
    th_free(&y);
    th_free(&dy);
    th_free(&dx);
}

static void run(bool log, int ndim, const int64_t *shape, enum th_variant v)
{
    scase c = {.log = log, .ndim = ndim, .variant = v};
    if (ndim)
        memcpy(c.shape, shape, sizeof(int64_t) * (size_t)ndim);
    char name[200], dims[100];
    size_t used = 0;
    dims[0] = 0;
    for (int i = 0; i < ndim; i++)
        used += (size_t)snprintf(dims + used, sizeof dims - used, i ? "x%lld" : "%lld", (long long)shape[i]);
    snprintf(name, sizeof name, "%s %s%s", log ? "log_softmax_backward" : "softmax_backward", ndim ? dims : "scalar",
             TH_VARIANT_NAMES[v]);
    th_run(name, run_case, &c);
}

static void both(int ndim, const int64_t *shape, enum th_variant v)
{
    run(false, ndim, shape, v);
    run(true, ndim, shape, v);
}

typedef struct grad_arg {
    fwd_fn fwd;
    vkdl_tensor *x;
} grad_arg;

static vkdl_status forward(void *arg, vkdl_tensor *out)
{
    grad_arg *g = arg;
    return g->fwd(g->x, out);
}

static void run_grad(void *arg)
{
    bool log = *(const bool *)arg;
    int64_t s[2] = {3, 7};
    th_pair x = th_rand(VKDL_F32, 2, s, -3.0f, 3.0f);
    th_pair dy = th_rand(VKDL_F32, 2, s, -1.0f, 1.0f);
    th_pair y = th_empty(VKDL_F32, 2, s), dx = th_empty(VKDL_F32, 2, s);
    grad_arg g = {log ? vkdl_log_softmax : vkdl_softmax, x.cpu};
    TH_OK(g.fwd(x.cpu, y.cpu));
    TH_OK((log ? vkdl_log_softmax_backward : vkdl_softmax_backward)(y.cpu, dy.cpu, dx.cpu));
    th_gradcheck(forward, &g, y.cpu, dy.cpu, 1, &x.cpu, &dx.cpu, 100, 1e-3, 1e-2);
    th_free(&x);
    th_free(&dy);
    th_free(&y);
    th_free(&dx);
}

/* Views at offsets: the elements around the output view stay untouched. */
static void run_views(void *arg)
{
    (void)arg;
    int64_t s[2] = {9, 131};
    th_pair yb = make_y(false, 2, s, 3.0f);
    th_pair gb = th_rand(VKDL_F32, 2, s, -1.0f, 1.0f);
    th_pair ob = th_rand(VKDL_F32, 2, s, -1.0f, 1.0f);
    th_pair y, g, o;
    TH_OK(vkdl_tensor_slice(yb.cpu, 1, 6, &y.cpu));
    TH_OK(vkdl_tensor_slice(yb.gpu, 1, 6, &y.gpu));
    TH_OK(vkdl_tensor_slice(gb.cpu, 2, 7, &g.cpu));
    TH_OK(vkdl_tensor_slice(gb.gpu, 2, 7, &g.gpu));
    TH_OK(vkdl_tensor_slice(ob.cpu, 3, 8, &o.cpu));
    TH_OK(vkdl_tensor_slice(ob.gpu, 3, 8, &o.gpu));
    TH_OK(vkdl_softmax_backward(y.cpu, g.cpu, o.cpu));
    TH_OK(vkdl_softmax_backward(y.gpu, g.gpu, o.gpu));
    th_compare(&ob, TH_TOL_F32);
    TH_OK(vkdl_log_softmax_backward(y.cpu, g.cpu, o.cpu));
    TH_OK(vkdl_log_softmax_backward(y.gpu, g.gpu, o.gpu));
    th_compare(&ob, TH_TOL_F32);
    th_free(&y);
    th_free(&g);
    th_free(&o);
    th_free(&yb);
    th_free(&gb);
    th_free(&ob);
}

static void run_empty(void *arg)
{
    (void)arg;
    int64_t s0[2] = {0, 5}, s1[2] = {5, 0};
    for (int i = 0; i < 2; i++) {
        th_pair y = th_rand(VKDL_F32, 2, i ? s1 : s0, -1.0f, 1.0f);
        th_pair d = th_empty(VKDL_F32, 2, i ? s1 : s0);
        TH_OK(vkdl_softmax_backward(y.cpu, y.cpu, d.cpu));
        TH_OK(vkdl_log_softmax_backward(y.gpu, y.gpu, d.gpu));
        th_free(&y);
        th_free(&d);
    }
}

static void run_bad(void *arg)
{
    (void)arg;
    int64_t s23[2] = {2, 3}, s32[2] = {3, 2};
    th_pair y = th_rand(VKDL_F32, 2, s23, 0, 1), y32 = th_rand(VKDL_F32, 2, s32, 0, 1);
    th_pair yi = th_empty(VKDL_I32, 2, s23);
    TH_STATUS(vkdl_softmax_backward(NULL, y.gpu, y.gpu), VKDL_ERROR_INVALID_ARGUMENT, "softmax_backward: y is NULL");
    TH_STATUS(vkdl_softmax_backward(y.gpu, NULL, y.gpu), VKDL_ERROR_INVALID_ARGUMENT, "dy is NULL");
    TH_STATUS(vkdl_log_softmax_backward(y.gpu, y.gpu, NULL), VKDL_ERROR_INVALID_ARGUMENT,
              "log_softmax_backward: dx is NULL");
    TH_STATUS(vkdl_softmax_backward(yi.gpu, y.gpu, y.gpu), VKDL_ERROR_DTYPE_MISMATCH, "y is i32");
    TH_STATUS(vkdl_softmax_backward(y.gpu, yi.gpu, y.gpu), VKDL_ERROR_DTYPE_MISMATCH, "dy is i32");
    TH_STATUS(vkdl_log_softmax_backward(y.gpu, y.gpu, yi.gpu), VKDL_ERROR_DTYPE_MISMATCH, "dx is i32");
    TH_STATUS(vkdl_softmax_backward(y.gpu, y32.gpu, y.gpu), VKDL_ERROR_SHAPE_MISMATCH, "2x3 vs 3x2");
    TH_STATUS(vkdl_log_softmax_backward(y.gpu, y.gpu, y32.gpu), VKDL_ERROR_SHAPE_MISMATCH, "2x3 vs 3x2");
    TH_STATUS(vkdl_softmax_backward(y.gpu, y.cpu, y.gpu), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    th_free(&y);
    th_free(&y32);
    th_free(&yi);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);

    static const int64_t lens[] = {1, 3, 17, 127, 256, 257, 1000, 100000};
    for (size_t i = 0; i < VKDL_ARRAY_LEN(lens); i++)
        both(1, &lens[i], TH_V_DEFAULT);
    both(0, NULL, TH_V_DEFAULT);
    const int64_t m1[] = {4096, 3}, m2[] = {4096, 17}, m3[] = {64, 1000}, m4[] = {3, 100000}, m5[] = {5, 1};
    const int64_t t4[] = {2, 3, 4, 5}, t8[] = {2, 1, 2, 3, 1, 2, 2, 129};
    both(2, m1, TH_V_DEFAULT);
    both(2, m2, TH_V_DEFAULT);
    both(2, m3, TH_V_DEFAULT);
    both(2, m4, TH_V_DEFAULT);
    both(2, m5, TH_V_DEFAULT);
    both(4, t4, TH_V_DEFAULT);
    both(8, t8, TH_V_DEFAULT);
    for (int v = TH_V_NO_CPU_QUIRK; v < TH_V_COUNT; v++) {
        both(2, m2, (enum th_variant)v);
        both(2, m3, (enum th_variant)v);
        both(2, m4, (enum th_variant)v);
        both(1, &lens[0], (enum th_variant)v);
        both(1, &lens[5], (enum th_variant)v);
    }

    static const bool LOG[2] = {false, true};
    th_run("softmax_backward gradcheck", run_grad, (void *)&LOG[0]);
    th_run("log_softmax_backward gradcheck", run_grad, (void *)&LOG[1]);
    th_run("views at offsets", run_views, NULL);
    th_run("empty tensors", run_empty, NULL);
    th_run("bad arguments", run_bad, NULL);
    return th_finish();
}
