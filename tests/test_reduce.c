/* vkdl_reduce against the CPU twin: every op, every axis position, short and long axes, both
 * launch shapes (an invocation or a workgroup per output) and each way a workgroup combines. */
#include "harness.h"
#include "runtime/runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const OPS[] = {"sum", "mean", "max", "argmax"};

typedef struct rcase {
    vkdl_reduce_op op;
    int ndim;
    int64_t shape[VKDL_MAX_DIMS];
    int axis;
    bool keep;
    enum th_variant variant;
    int data;           /* 0 uniform [-1, 1), 1 small integers (many ties), 2 all negative */
} rcase;

static void out_shape(const rcase *c, int *nd, int64_t *s)
{
    int a = c->axis < 0 ? c->axis + c->ndim : c->axis;
    *nd = 0;
    for (int i = 0; i < c->ndim; i++) {
        if (i != a)
            s[(*nd)++] = c->shape[i];
        else if (c->keep)
            s[(*nd)++] = 1;
    }
}

static th_pair make_input(const rcase *c)
{
    if (c->data == 0)
        return th_rand(VKDL_F32, c->ndim, c->shape, -1.0f, 1.0f);
    if (c->data == 2)
        return th_rand(VKDL_F32, c->ndim, c->shape, -3.0f, -1.0f);
    int64_t n = 1;
    for (int i = 0; i < c->ndim; i++)
        n *= c->shape[i];
    float *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)th_randu(4);
    th_pair p = th_from(VKDL_F32, c->ndim, c->shape, v, VKDL_F32);
    free(v);
    return p;
}

static void run_case(void *arg)
{
    const rcase *c = arg;
    int ond;
    int64_t os[VKDL_MAX_DIMS];
    out_shape(c, &ond, os);
    th_pair x = make_input(c);
    th_pair y = th_empty(c->op == VKDL_ARGMAX ? VKDL_I32 : VKDL_F32, ond, os);
    TH_OK(vkdl_reduce(c->op, x.cpu, c->axis, y.cpu));
    th_variant_begin(c->variant);
    TH_OK(vkdl_reduce(c->op, x.gpu, c->axis, y.gpu));
    th_variant_end();
    th_compare(&y, c->op == VKDL_ARGMAX ? TH_TOL_EXACT : TH_TOL_F32);
    th_free(&x);
    th_free(&y);
}

static void run(const rcase *c)
{
    char name[200], dims[100];
    size_t used = 0;
    dims[0] = 0;
    for (int i = 0; i < c->ndim; i++)
        used += (size_t)snprintf(dims + used, sizeof dims - used, i ? "x%lld" : "%lld", (long long)c->shape[i]);
    snprintf(name, sizeof name, "%s %s axis %d%s%s%s", OPS[c->op], c->ndim ? dims : "scalar", c->axis,
             c->keep ? " keep" : "", c->data == 1 ? " ties" : c->data == 2 ? " negative" : "",
             TH_VARIANT_NAMES[c->variant]);
    th_run(name, run_case, (void *)c);
}

/* Every op and every axis of one shape, both output forms on the first axis. */
static void all_axes(int ndim, const int64_t *shape, enum th_variant v)
{
    for (int op = 0; op < VKDL_REDUCE_OP_COUNT; op++) {
        for (int a = 0; a < ndim; a++) {
            rcase c = {.op = (vkdl_reduce_op)op, .ndim = ndim, .axis = a, .variant = v};
            memcpy(c.shape, shape, sizeof(int64_t) * (size_t)ndim);
            run(&c);
            if (a == 0) {
                c.keep = true;
                c.axis = a - ndim; /* negative axis too */
                run(&c);
            }
        }
    }
}

/* A view that starts mid-buffer, so the kernel's binding offsets are not zero. */
static void run_views(void *arg)
{
    (void)arg;
    int64_t xs[2] = {9, 130}, ys[1] = {9};
    th_pair xb = th_rand(VKDL_F32, 2, xs, -1.0f, 1.0f);
    th_pair yb = th_rand(VKDL_F32, 1, ys, -1.0f, 1.0f);
    th_pair x, y;
    TH_OK(vkdl_tensor_slice(xb.cpu, 3, 8, &x.cpu));
    TH_OK(vkdl_tensor_slice(xb.gpu, 3, 8, &x.gpu));
    TH_OK(vkdl_tensor_slice(yb.cpu, 1, 6, &y.cpu));
    TH_OK(vkdl_tensor_slice(yb.gpu, 1, 6, &y.gpu));
    TH_OK(vkdl_reduce(VKDL_SUM, x.cpu, 1, y.cpu));
    TH_OK(vkdl_reduce(VKDL_SUM, x.gpu, 1, y.gpu));
    th_free(&x);
    th_free(&y);
    th_compare(&yb, TH_TOL_F32); /* the elements around the view are untouched */
    th_free(&xb);
    th_free(&yb);
}

/* Reducing an empty axis: SUM gives zeros, and an empty output is a no-op. */
static void run_empty(void *arg)
{
    (void)arg;
    int64_t xs[2] = {5, 0}, ys[1] = {5}, zs[2] = {0, 4}, zo[1] = {0};
    th_pair x = th_rand(VKDL_F32, 2, xs, -1.0f, 1.0f);
    th_pair y = th_empty(VKDL_F32, 1, ys);
    TH_OK(vkdl_reduce(VKDL_SUM, x.cpu, 1, y.cpu));
    TH_OK(vkdl_reduce(VKDL_SUM, x.gpu, 1, y.gpu));
    th_compare(&y, TH_TOL_EXACT);
    float z[5];
    TH_OK(vkdl_tensor_download(y.gpu, z, VKDL_F32, sizeof z));
    for (int i = 0; i < 5; i++)
        TH_TRUE(z[i] == 0.0f);
    th_pair x2 = th_rand(VKDL_F32, 2, zs, -1.0f, 1.0f);
    th_pair y2 = th_empty(VKDL_F32, 1, zo);
    TH_OK(vkdl_reduce(VKDL_MAX, x2.cpu, 1, y2.cpu));
    TH_OK(vkdl_reduce(VKDL_MAX, x2.gpu, 1, y2.gpu));
    th_free(&x);
    th_free(&y);
    th_free(&x2);
    th_free(&y2);
}

static void run_bad(void *arg)
{
    (void)arg;
    vkdl_context *ctx = th_gpu;
    int64_t s23[2] = {2, 3}, s2[1] = {2}, s3[1] = {3}, s20[2] = {2, 0}, s13[2] = {1, 3};
    vkdl_tensor *x = NULL, *y2 = NULL, *y3 = NULL, *yi = NULL, *ycpu = NULL, *e = NULL, *k13 = NULL;
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 2, s23, &x));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, s2, &y2));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, s3, &y3));
    TH_OK(vkdl_tensor_create(ctx, VKDL_I32, 1, s2, &yi));
    TH_OK(vkdl_tensor_create(th_cpu, VKDL_F32, 1, s2, &ycpu));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 2, s20, &e));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 2, s13, &k13));

    TH_STATUS(vkdl_reduce(VKDL_SUM, NULL, 1, y2), VKDL_ERROR_INVALID_ARGUMENT, "x is NULL");
    TH_STATUS(vkdl_reduce(VKDL_SUM, x, 1, NULL), VKDL_ERROR_INVALID_ARGUMENT, "out is NULL");
    TH_STATUS(vkdl_reduce(VKDL_REDUCE_OP_COUNT, x, 1, y2), VKDL_ERROR_INVALID_ARGUMENT, "invalid op");
    TH_STATUS(vkdl_reduce((vkdl_reduce_op)-1, x, 1, y2), VKDL_ERROR_INVALID_ARGUMENT, "invalid op");
    TH_STATUS(vkdl_reduce(VKDL_SUM, x, 2, y2), VKDL_ERROR_INVALID_ARGUMENT, "axis 2 out of range for x 2x3");
    TH_STATUS(vkdl_reduce(VKDL_SUM, x, -3, y2), VKDL_ERROR_INVALID_ARGUMENT, "axis -3 out of range");
    TH_STATUS(vkdl_reduce(VKDL_SUM, x, 1, y3), VKDL_ERROR_SHAPE_MISMATCH, "out is 3");
    TH_STATUS(vkdl_reduce(VKDL_SUM, x, 0, y2), VKDL_ERROR_SHAPE_MISMATCH, NULL);
    TH_STATUS(vkdl_reduce(VKDL_SUM, x, 1, k13), VKDL_ERROR_SHAPE_MISMATCH, NULL);
    TH_STATUS(vkdl_reduce(VKDL_SUM, x, 1, x), VKDL_ERROR_SHAPE_MISMATCH, NULL);
    TH_STATUS(vkdl_reduce(VKDL_ARGMAX, x, 1, y2), VKDL_ERROR_DTYPE_MISMATCH, "out is f32, expected i32");
    TH_STATUS(vkdl_reduce(VKDL_SUM, x, 1, yi), VKDL_ERROR_DTYPE_MISMATCH, "out is i32, expected f32");
    TH_STATUS(vkdl_reduce(VKDL_MAX, yi, 0, y2), VKDL_ERROR_DTYPE_MISMATCH, "x is i32");
    TH_STATUS(vkdl_reduce(VKDL_SUM, x, 1, ycpu), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    TH_STATUS(vkdl_reduce(VKDL_MAX, e, 1, y2), VKDL_ERROR_INVALID_ARGUMENT, "empty");
    TH_STATUS(vkdl_reduce(VKDL_ARGMAX, e, 1, yi), VKDL_ERROR_INVALID_ARGUMENT, "empty");

    vkdl_tensor_destroy(x);
    vkdl_tensor_destroy(y2);
    vkdl_tensor_destroy(y3);
    vkdl_tensor_destroy(yi);
    vkdl_tensor_destroy(ycpu);
    vkdl_tensor_destroy(e);
    vkdl_tensor_destroy(k13);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);

    /* 700001: past lavapipe's per-invocation loop limit even for a one-subgroup workgroup */
    static const int64_t lens[] = {1, 3, 17, 127, 1000, 100000, 700001};
    for (size_t i = 0; i < VKDL_ARRAY_LEN(lens); i++)
        all_axes(1, &lens[i], TH_V_DEFAULT);

    const int64_t s2a[] = {4096, 3}, s2b[] = {3, 4096}, s2c[] = {17, 127}, s2d[] = {257, 1000};
    const int64_t s2e[] = {100000, 3}, s2f[] = {4096, 300}, s2g[] = {70001, 2};
    const int64_t s3[] = {5, 1000, 3}, s4[] = {2, 3, 4, 5}, s5[] = {2, 1, 3, 1, 17};
    const int64_t s8[] = {2, 1, 2, 3, 1, 2, 2, 3};
    all_axes(2, s2a, TH_V_DEFAULT);
    all_axes(2, s2b, TH_V_DEFAULT);
    all_axes(2, s2c, TH_V_DEFAULT);
    all_axes(2, s2d, TH_V_DEFAULT);
    all_axes(2, s2e, TH_V_DEFAULT);
    all_axes(2, s2f, TH_V_DEFAULT);
    all_axes(2, s2g, TH_V_DEFAULT); /* a strided axis longer than the loop limit */
    all_axes(3, s3, TH_V_DEFAULT);
    all_axes(4, s4, TH_V_DEFAULT);
    all_axes(5, s5, TH_V_DEFAULT);
    all_axes(8, s8, TH_V_DEFAULT);

    /* The other workgroup-combine paths, on shapes that take the workgroup-per-output launch. */
    for (int v = TH_V_NO_CPU_QUIRK; v < TH_V_COUNT; v++) {
        all_axes(2, s2b, (enum th_variant)v);
        all_axes(2, s2d, (enum th_variant)v);
        all_axes(3, s3, (enum th_variant)v);
        all_axes(1, &lens[5], (enum th_variant)v);
    }

    /* Ties (first index wins, across invocations and subgroups) and all-negative data (the
     * -inf start of MAX must not leak out). */
    const int64_t ties[][2] = {{64, 1000}, {1000, 64}, {3, 100000}};
    for (size_t i = 0; i < VKDL_ARRAY_LEN(ties); i++) {
        for (int v = 0; v < TH_V_COUNT; v++) {
            for (int a = 0; a < 2; a++) {
                rcase c = {.op = VKDL_ARGMAX, .ndim = 2, .axis = a, .variant = (enum th_variant)v, .data = 1};
                memcpy(c.shape, ties[i], sizeof ties[i]);
                run(&c);
                c.op = VKDL_MAX;
                c.data = 2;
                run(&c);
                c.op = VKDL_SUM;
                c.data = 1;
                run(&c);
            }
        }
    }

    th_run("views at offsets", run_views, NULL);
    th_run("empty axis and empty output", run_empty, NULL);
    th_run("bad arguments", run_bad, NULL);
    return th_finish();
}
