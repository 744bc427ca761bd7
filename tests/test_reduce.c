/* vkdl_reduce against the CPU twin: every op, every axis position, short and long axes, both
 * launch shapes (an invocation or a workgroup per output) and each way a workgroup combines. */
#include "harness.h"

#include <stdio.h>

static const char *const OPS[] = {"sum", "mean", "max", "argmax"};

enum data { D_UNIFORM, D_TIES, D_NEGATIVE };
static const char *const DATA_NAMES[] = {"", " ties", " negative"};

/* args: the axis. */
static vkdl_status reduce(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    return vkdl_reduce((vkdl_reduce_op)op->op, in[0], op->args[0], out[0]);
}

/* Reduce s along axis; many ties are small integers, negative data must not see MAX's -inf start. */
static void run(vkdl_reduce_op op, th_shape s, int axis, bool keep, enum data d, unsigned variants)
{
    static const th_input DATA[] = {{.lo = -1.0f, .hi = 1.0f}, {.fill = TH_FILL_LABELS, .hi = 4},
                                    {.lo = -3.0f, .hi = -1.0f}};
    th_op c = {.op = op, .args = {axis}, .n_in = 1, .n_out = 1, .in = {DATA[d]}, .forward = reduce,
               .tol = op == VKDL_ARGMAX ? &TH_TOL_EXACT : &TH_TOL_F32, .variants = variants};
    c.in[0].shape = s;
    int a = axis < 0 ? axis + s.ndim : axis;
    th_output *o = &c.out[0];
    o->dtype = op == VKDL_ARGMAX ? VKDL_I32 : VKDL_F32;
    for (int i = 0; i < s.ndim; i++) {
        if (i != a)
            o->shape.d[o->shape.ndim++] = s.d[i];
        else if (keep)
            o->shape.d[o->shape.ndim++] = 1;
    }
    char name[200], dims[100];
    snprintf(name, sizeof name, "%s %s axis %d%s%s", OPS[op], th_shape_str(&s, dims, sizeof dims), axis,
             keep ? " keep" : "", DATA_NAMES[d]);
    c.name = name;
    th_run_op(&c);
}

/* A view that starts mid-buffer, so the kernel's binding offsets are not zero. */
static void run_views(void *arg)
{
    (void)arg;
    int64_t xs[2] = {9, 130}, ys[1] = {9};
    th_pair xb = th_rand(VKDL_F32, 2, xs, -1.0f, 1.0f);
    th_pair yb = th_rand(VKDL_F32, 1, ys, -1.0f, 1.0f);
    th_pair x = th_slice(&xb, 3, 8);
    th_pair y = th_slice(&yb, 1, 6);
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

/* Every op on every axis of each shape, and the kept form on the first axis as a negative axis. The
 * variants force the other workgroup-combine paths, on shapes that take the workgroup-per-output
 * launch. 700001: past lavapipe's per-invocation loop limit even for a one-subgroup workgroup. */
static const struct {
    th_shape shape;
    unsigned variants;
} ROWS[] = {
    {TH_SHAPE(1), 0},
    {TH_SHAPE(3), 0},
    {TH_SHAPE(17), 0},
    {TH_SHAPE(127), 0},
    {TH_SHAPE(1000), 0},
    {TH_SHAPE(100000), TH_VS_ALL},
    {TH_SHAPE(700001), 0},
    {TH_SHAPE(4096, 3), 0},
    {TH_SHAPE(3, 4096), TH_VS_ALL},
    {TH_SHAPE(17, 127), 0},
    {TH_SHAPE(257, 1000), TH_VS_ALL},
    {TH_SHAPE(100000, 3), 0},
    {TH_SHAPE(4096, 300), 0},
    {TH_SHAPE(70001, 2), 0}, /* a strided axis longer than the loop limit */
    {TH_SHAPE(5, 1000, 3), TH_VS_ALL},
    {TH_SHAPE(2, 3, 4, 5), 0},
    {TH_SHAPE(2, 1, 3, 1, 17), 0},
    {TH_SHAPE(2, 1, 2, 3, 1, 2, 2, 3), 0},
};

/* Ties (first index wins, across invocations and subgroups) and all-negative data, on both axes. */
static const th_shape TIES[] = {TH_SHAPE(64, 1000), TH_SHAPE(1000, 64), TH_SHAPE(3, 100000)};

int main(int argc, char **argv)
{
    th_init(argc, argv);
    for (size_t i = 0; i < TH_LEN(ROWS); i++)
        for (int op = 0; op < VKDL_REDUCE_OP_COUNT; op++)
            for (int a = 0; a < ROWS[i].shape.ndim; a++) {
                run((vkdl_reduce_op)op, ROWS[i].shape, a, false, D_UNIFORM, ROWS[i].variants);
                if (a == 0)
                    run((vkdl_reduce_op)op, ROWS[i].shape, a - ROWS[i].shape.ndim, true, D_UNIFORM, ROWS[i].variants);
            }
    for (size_t i = 0; i < TH_LEN(TIES); i++)
        for (int a = 0; a < 2; a++) {
            run(VKDL_ARGMAX, TIES[i], a, false, D_TIES, TH_VS_ALL);
            run(VKDL_MAX, TIES[i], a, false, D_NEGATIVE, TH_VS_ALL);
            run(VKDL_SUM, TIES[i], a, false, D_TIES, TH_VS_ALL);
        }
    th_run("views at offsets", run_views, NULL);
    th_run("empty axis and empty output", run_empty, NULL);
    th_run("bad arguments", run_bad, NULL);
    return th_finish();
}
