/* vkdl_reduce against the CPU twin: every op, every axis position, short and long axes, both
 * launch shapes (an invocation or a workgroup per output) and each way a workgroup combines; then
 * vkdl_cumsum (and its gradient) and vkdl_topk. */
#include "harness.h"

#include <math.h>
#include <stdio.h>

enum data { D_UNIFORM, D_TIES, D_NEGATIVE, D_SPECIAL };
static const char *const DATA_NAMES[] = {"", " ties", " negative", " nan inf"};

static bool is_arg(vkdl_reduce_op op) { return op == VKDL_ARGMAX || op == VKDL_ARGMIN; }

/* Small integers (many ties) with a few NaNs and infinities among them. */
static void gen_special(float *v, int64_t n, const th_shape *s, float lo, float hi)
{
    (void)s;
    static const float SPECIAL[] = {NAN, INFINITY, -INFINITY};
    for (int64_t i = 0; i < n; i++)
        v[i] = th_randu(97) == 0 ? SPECIAL[th_randu(3)] : (float)th_randu((uint32_t)hi) + lo;
}

/* args: the axis. */
static vkdl_status reduce(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    return vkdl_reduce((vkdl_reduce_op)op->op, in[0], op->args[0], out[0]);
}

/* Reduce s along axis; many ties are small integers, negative data must not see MAX's -inf start. */
static void run(vkdl_reduce_op op, th_shape s, int axis, bool keep, enum data d, unsigned variants)
{
    static const th_input DATA[] = {{.lo = -1.0f, .hi = 1.0f}, {.fill = TH_FILL_LABELS, .hi = 4},
                                    {.lo = -3.0f, .hi = -1.0f}, {.fill = TH_FILL_FN, .gen = gen_special, .hi = 4}};
    th_op c = {.op = op, .args = {axis}, .n_in = 1, .n_out = 1, .in = {DATA[d]}, .forward = reduce,
               .tol = is_arg(op) ? &TH_TOL_EXACT : &TH_TOL_F32, .variants = variants};
    c.in[0].shape = s;
    int a = axis < 0 ? axis + s.ndim : axis;
    th_output *o = &c.out[0];
    o->dtype = is_arg(op) ? VKDL_I32 : VKDL_F32;
    for (int i = 0; i < s.ndim; i++) {
        if (i != a)
            o->shape.d[o->shape.ndim++] = s.d[i];
        else if (keep)
            o->shape.d[o->shape.ndim++] = 1;
    }
    char name[200], dims[100];
    snprintf(name, sizeof name, "%s %s axis %d%s%s", vkdl_reduce_op_name(op), th_shape_str(&s, dims, sizeof dims), axis,
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

/* Reducing an empty axis gives each op's identity, and an empty output is a no-op. */
static void run_empty(void *arg)
{
    (void)arg;
    static const struct {
        vkdl_reduce_op op;
        float want;
    } IDENTITY[] = {{VKDL_SUM, 0.0f}, {VKDL_L1, 0.0f}, {VKDL_L2, 0.0f}, {VKDL_SUM_SQUARE, 0.0f},
                    {VKDL_PROD, 1.0f}, {VKDL_MEAN, NAN}, {VKDL_LOG_SUM_EXP, -INFINITY}};
    int64_t xs[2] = {5, 0}, ys[1] = {5}, zs[2] = {0, 4}, zo[1] = {0};
    th_pair x = th_rand(VKDL_F32, 2, xs, -1.0f, 1.0f);
    th_pair y = th_empty(VKDL_F32, 1, ys);
    for (size_t i = 0; i < TH_LEN(IDENTITY); i++) {
        TH_OK(vkdl_reduce(IDENTITY[i].op, x.cpu, 1, y.cpu));
        TH_OK(vkdl_reduce(IDENTITY[i].op, x.gpu, 1, y.gpu));
        th_compare(&y, TH_TOL_EXACT);
        float z[5];
        TH_OK(vkdl_tensor_download(y.gpu, z, VKDL_F32, sizeof z));
        for (int j = 0; j < 5; j++)
            TH_TRUE(z[j] == IDENTITY[i].want || (isnan(z[j]) && isnan(IDENTITY[i].want)));
    }
    th_pair x2 = th_rand(VKDL_F32, 2, zs, -1.0f, 1.0f);
    th_pair y2 = th_empty(VKDL_F32, 1, zo);
    TH_OK(vkdl_reduce(VKDL_MAX, x2.cpu, 1, y2.cpu));
    TH_OK(vkdl_reduce(VKDL_MAX, x2.gpu, 1, y2.gpu));
    TH_OK(vkdl_cumsum(x.cpu, 1, 0, 0, x.cpu));
    TH_OK(vkdl_cumsum(x.gpu, 1, 0, 0, x.gpu));
    TH_OK(vkdl_cumsum(x2.gpu, 0, 1, 1, x2.gpu));
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
    TH_STATUS(vkdl_reduce(VKDL_MIN, e, 1, y2), VKDL_ERROR_INVALID_ARGUMENT, "min over axis 1 of x 2x0, which is empty");
    TH_STATUS(vkdl_reduce(VKDL_ARGMIN, e, 1, yi), VKDL_ERROR_INVALID_ARGUMENT, "empty");
    TH_STATUS(vkdl_reduce(VKDL_ARGMIN, x, 1, y2), VKDL_ERROR_DTYPE_MISMATCH, "out is f32, expected i32");
    TH_STATUS(vkdl_reduce(VKDL_LOG_SUM_EXP, x, 1, yi), VKDL_ERROR_DTYPE_MISMATCH, "out is i32, expected f32");
    TH_STATUS(vkdl_reduce_backward(VKDL_ARGMAX, x, yi, y2, 1, x), VKDL_ERROR_INVALID_ARGUMENT,
              "reduce_backward: argmax is not differentiable");
    TH_STATUS(vkdl_reduce_backward(VKDL_MAX, x, y2, NULL, 1, x), VKDL_ERROR_INVALID_ARGUMENT, "dy is NULL");
    TH_STATUS(vkdl_reduce_backward(VKDL_MAX, x, y2, y3, 1, x), VKDL_ERROR_SHAPE_MISMATCH, NULL);
    TH_STATUS(vkdl_reduce_backward(VKDL_MAX, x, y2, y2, 1, k13), VKDL_ERROR_SHAPE_MISMATCH, NULL);
    TH_STATUS(vkdl_reduce_backward(VKDL_MAX, x, y2, yi, 1, x), VKDL_ERROR_DTYPE_MISMATCH, "dy is i32");
    TH_STATUS(vkdl_reduce_backward(VKDL_SUM, x, y2, y2, 1, ycpu), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    TH_STATUS(vkdl_reduce_backward(VKDL_SUM, x, y2, y2, 5, x), VKDL_ERROR_INVALID_ARGUMENT, "axis 5 out of range");

    int64_t s32[2] = {3, 2};
    vkdl_tensor *xi = NULL, *v22 = NULL, *v21 = NULL, *i21 = NULL, *x32 = NULL, *s0 = NULL;
    TH_OK(vkdl_tensor_create(ctx, VKDL_I32, 2, s23, &xi));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 2, (int64_t[]){2, 2}, &v22));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 2, (int64_t[]){2, 1}, &v21));
    TH_OK(vkdl_tensor_create(ctx, VKDL_I32, 2, (int64_t[]){2, 1}, &i21));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 2, s32, &x32));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 0, NULL, &s0));
    TH_STATUS(vkdl_cumsum(NULL, 0, 0, 0, x), VKDL_ERROR_INVALID_ARGUMENT, "x is NULL");
    TH_STATUS(vkdl_cumsum(x, 0, 0, 0, NULL), VKDL_ERROR_INVALID_ARGUMENT, "out is NULL");
    TH_STATUS(vkdl_cumsum(x, 2, 0, 0, x), VKDL_ERROR_INVALID_ARGUMENT, "cumsum: axis 2 out of range for x 2x3");
    TH_STATUS(vkdl_cumsum(x, -3, 0, 0, x), VKDL_ERROR_INVALID_ARGUMENT, "axis -3 out of range");
    TH_STATUS(vkdl_cumsum(x, 1, 0, 0, xi), VKDL_ERROR_DTYPE_MISMATCH, "out is i32, expected f32");
    TH_STATUS(vkdl_cumsum(k13, 1, 0, 0, x), VKDL_ERROR_SHAPE_MISMATCH, NULL);
    TH_STATUS(vkdl_cumsum(x, 1, 0, 0, x32), VKDL_ERROR_SHAPE_MISMATCH, NULL);
    TH_STATUS(vkdl_cumsum(x, 0, 0, 0, s0), VKDL_ERROR_SHAPE_MISMATCH, NULL);
    TH_STATUS(vkdl_cumsum(s0, 0, 0, 0, s0), VKDL_ERROR_INVALID_ARGUMENT, "axis 0 out of range");
    TH_STATUS(vkdl_cumsum(x, 1, 0, 0, ycpu), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    TH_STATUS(vkdl_topk(NULL, 1, 1, v21, NULL), VKDL_ERROR_INVALID_ARGUMENT, "x is NULL");
    TH_STATUS(vkdl_topk(x, 1, 1, NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT, "values is NULL");
    TH_STATUS(vkdl_topk(x, 0, 1, v21, NULL), VKDL_ERROR_INVALID_ARGUMENT, "topk: k 0 out of range [1, 3] for x 2x3");
    TH_STATUS(vkdl_topk(x, 4, 1, v21, NULL), VKDL_ERROR_INVALID_ARGUMENT, "k 4 out of range");
    TH_STATUS(vkdl_topk(x, -1, 1, v21, NULL), VKDL_ERROR_INVALID_ARGUMENT, "k -1 out of range");
    TH_STATUS(vkdl_topk(x, 1, 1, v22, NULL), VKDL_ERROR_SHAPE_MISMATCH, "values is 2x2");
    TH_STATUS(vkdl_topk(x, 2, 1, y2, NULL), VKDL_ERROR_SHAPE_MISMATCH, NULL);
    TH_STATUS(vkdl_topk(x, 2, 1, v22, i21), VKDL_ERROR_SHAPE_MISMATCH, NULL);
    TH_STATUS(vkdl_topk(x, 1, 1, v21, v21), VKDL_ERROR_DTYPE_MISMATCH, "indices is f32, expected i32");
    TH_STATUS(vkdl_topk(xi, 1, 1, v21, i21), VKDL_ERROR_DTYPE_MISMATCH, "x is i32");
    TH_STATUS(vkdl_topk(x, 1, 1, i21, NULL), VKDL_ERROR_DTYPE_MISMATCH, "values is i32");
    TH_STATUS(vkdl_topk(s0, 1, 1, s0, NULL), VKDL_ERROR_INVALID_ARGUMENT, "no last axis");
    TH_STATUS(vkdl_topk(e, 1, 1, v21, NULL), VKDL_ERROR_INVALID_ARGUMENT, "k 1 out of range [1, 0]");
    TH_STATUS(vkdl_topk(x, 1, 1, ycpu, NULL), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    vkdl_tensor_destroy(xi);
    vkdl_tensor_destroy(v22);
    vkdl_tensor_destroy(v21);
    vkdl_tensor_destroy(i21);
    vkdl_tensor_destroy(x32);
    vkdl_tensor_destroy(s0);

    vkdl_tensor_destroy(x);
    vkdl_tensor_destroy(y2);
    vkdl_tensor_destroy(y3);
    vkdl_tensor_destroy(yi);
    vkdl_tensor_destroy(ycpu);
    vkdl_tensor_destroy(e);
    vkdl_tensor_destroy(k13);
}

static vkdl_status reduce_bwd(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out,
                              vkdl_tensor *const *dout, vkdl_tensor *const *din)
{
    return vkdl_reduce_backward((vkdl_reduce_op)op->op, in[0], out[0], dout[0], op->args[0], din[0]);
}

/* Values of either sign in [0.5, 1.5) with exact zeros: none in some lines (of 5 along axis 1), one
 * or two in others, so PROD's gradient meets each case. */
static void gen_zeros(float *v, int64_t n, const th_shape *s, float lo, float hi)
{
    (void)s;
    for (int64_t i = 0; i < n; i++)
        v[i] = (th_randu(2) ? 1.0f : -1.0f) * th_randf(lo, hi);
    for (int64_t i = 0; i < n; i += 7)
        v[i] = 0.0f;
}

/* The gradient of every differentiable op along axis of s, checked by finite differences (the
 * forward is smooth where the data is: no ties, no zeros unless PROD's row asks for them). */
static void run_grad(vkdl_reduce_op op, th_shape s, int axis, bool keep, bool zeros)
{
    th_op c = {.op = op, .args = {axis}, .n_in = 1, .n_out = 1, .forward = reduce, .backward = reduce_bwd,
               .tol = &TH_TOL_F32, .grad = {.checks = 30, .eps = 1e-3, .tol = 5e-3}};
    c.in[0] = (th_input){
        .shape = s, .fill = zeros ? TH_FILL_FN : TH_FILL_SIGNED, .gen = gen_zeros, .lo = 0.5f, .hi = 1.5f};
    int a = axis < 0 ? axis + s.ndim : axis;
    th_output *o = &c.out[0];
    for (int i = 0; i < s.ndim; i++) {
        if (i != a)
            o->shape.d[o->shape.ndim++] = s.d[i];
        else if (keep)
            o->shape.d[o->shape.ndim++] = 1;
    }
    char name[200], dims[100];
    snprintf(name, sizeof name, "%s grad %s axis %d%s%s", vkdl_reduce_op_name(op), th_shape_str(&s, dims, sizeof dims),
             axis, keep ? " keep" : "", zeros ? " zeros" : "");
    c.name = name;
    th_run_op(&c);
}

/* args: axis, exclusive, reverse. */
static vkdl_status cumsum(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    return vkdl_cumsum(in[0], op->args[0], op->args[1], op->args[2], out[0]);
}

/* The gradient of a running sum is the running sum of dy the other way. */
static vkdl_status cumsum_bwd(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out,
                              vkdl_tensor *const *dout, vkdl_tensor *const *din)
{
    (void)in;
    (void)out;
    return vkdl_cumsum(dout[0], op->args[0], op->args[1], !op->args[2], din[0]);
}

/* Every flag combination on every axis of s; i32 data spans most of the range, so sums wrap. */
static void run_cumsum(th_shape s, vkdl_dtype dtype, float lo, float hi, bool grad)
{
    for (int a = 0; a < s.ndim; a++)
        for (int flags = 0; flags < 4; flags++) {
            int axis = a == s.ndim - 1 ? -1 : a;
            th_op c = {.n_in = 1, .n_out = 1, .forward = cumsum, .args = {axis, flags & 1, flags >> 1},
                       .tol = dtype == VKDL_I32 ? &TH_TOL_EXACT : &TH_TOL_F32};
            c.in[0] = (th_input){.shape = s, .dtype = dtype, .lo = lo, .hi = hi};
            c.out[0] = (th_output){.shape = s, .dtype = dtype};
            if (grad) {
                c.backward = cumsum_bwd;
                c.grad = (th_grad){.checks = 20, .eps = 1e-2, .tol = 1e-3};
            }
            char name[200], dims[100];
            snprintf(name, sizeof name, "cumsum %s %s axis %d%s%s%s", vkdl_dtype_name(dtype),
                     th_shape_str(&s, dims, sizeof dims), axis, flags & 1 ? " exclusive" : "",
                     flags & 2 ? " reverse" : "", grad ? " grad" : "");
            c.name = name;
            th_run_op(&c);
        }
}

/* args: k, largest; indices only when the case has a second output. */
static vkdl_status topk(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    return vkdl_topk(in[0], op->args[0], op->args[1], out[0], op->n_out > 1 ? out[1] : NULL);
}

static void run_topk(th_shape s, int64_t k, int largest, enum data d, bool with_indices)
{
    static const th_input DATA[] = {{.lo = -1.0f, .hi = 1.0f}, {.fill = TH_FILL_LABELS, .hi = 4},
                                    {.lo = -3.0f, .hi = -1.0f}, {.fill = TH_FILL_FN, .gen = gen_special, .hi = 4}};
    th_op c = {.n_in = 1, .n_out = with_indices ? 2 : 1, .forward = topk, .args = {(int)k, largest},
               .in = {DATA[d]}, .tol = &TH_TOL_EXACT};
    c.in[0].shape = s;
    th_shape o = s;
    o.d[o.ndim - 1] = k;
    c.out[0] = (th_output){.shape = o, .dtype = VKDL_F32};
    c.out[1] = (th_output){.shape = o, .dtype = VKDL_I32};
    char name[200], dims[100];
    snprintf(name, sizeof name, "topk %s k %lld%s%s%s", th_shape_str(&s, dims, sizeof dims), (long long)k,
             largest ? " largest" : " smallest", DATA_NAMES[d], with_indices ? "" : " no indices");
    c.name = name;
    th_run_op(&c);
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
    for (size_t i = 0; i < TH_LEN(TIES); i++)
        for (int a = 0; a < 2; a++) {
            run(VKDL_ARGMIN, TIES[i], a, false, D_TIES, TH_VS_ALL);
            run(VKDL_MIN, TIES[i], a, false, D_NEGATIVE, TH_VS_ALL);
            run(VKDL_LOG_SUM_EXP, TIES[i], a, false, D_NEGATIVE, TH_VS_ALL);
            /* the ops with a NaN rule (PROD is left out: an f32 product that overflows before a zero
             * gives NaN where the double oracle's gives 0) */
            static const vkdl_reduce_op SPECIAL[] = {VKDL_MAX, VKDL_MIN, VKDL_ARGMAX, VKDL_ARGMIN, VKDL_LOG_SUM_EXP};
            for (size_t j = 0; j < TH_LEN(SPECIAL); j++)
                run(SPECIAL[j], TIES[i], a, false, D_SPECIAL, TH_VS_ALL);
        }
    static const th_shape GRAD[] = {TH_SHAPE(7), TH_SHAPE(3, 5, 4)};
    for (size_t i = 0; i < TH_LEN(GRAD); i++)
        for (int op = 0; op < VKDL_REDUCE_OP_COUNT; op++)
            for (int a = 0; a < GRAD[i].ndim && !is_arg((vkdl_reduce_op)op); a++) {
                run_grad((vkdl_reduce_op)op, GRAD[i], a, false, false);
                if (a == GRAD[i].ndim - 1)
                    run_grad((vkdl_reduce_op)op, GRAD[i], -1, true, false);
            }
    run_grad(VKDL_PROD, (th_shape)TH_SHAPE(3, 5, 4), 1, false, true);
    run_grad(VKDL_PROD, (th_shape)TH_SHAPE(70, 3), 0, false, true);
    th_run("views at offsets", run_views, NULL);
    th_run("empty axis and empty output", run_empty, NULL);

    static const th_shape CUMSUM[] = {TH_SHAPE(1), TH_SHAPE(17), TH_SHAPE(5, 1, 3), TH_SHAPE(7, 257, 3),
                                      TH_SHAPE(3, 4099), TH_SHAPE(2, 3, 4, 5)};
    for (size_t i = 0; i < TH_LEN(CUMSUM); i++) {
        run_cumsum(CUMSUM[i], VKDL_F32, -1.0f, 1.0f, false);
        run_cumsum(CUMSUM[i], VKDL_I32, -2e9f, 2e9f, false);
    }
    /* positive data: near a zero crossing of a long sum the oracle's double outruns any f32 sum */
    run_cumsum((th_shape)TH_SHAPE(100000), VKDL_F32, 0.0f, 1.0f, false);
    run_cumsum((th_shape)TH_SHAPE(100000, 2), VKDL_F32, 0.0f, 1.0f, false);
    run_cumsum((th_shape)TH_SHAPE(100000), VKDL_I32, -2e9f, 2e9f, false);
    run_cumsum((th_shape)TH_SHAPE(3, 4, 5), VKDL_F32, -1.0f, 1.0f, true);

    /* sort: n up to 4096 in shared memory; selection beyond, over several dispatches where loops are limited */
    static const th_shape TOPK[] = {TH_SHAPE(1), TH_SHAPE(2), TH_SHAPE(17), TH_SHAPE(5, 33), TH_SHAPE(2, 3, 100),
                                    TH_SHAPE(3, 4096), TH_SHAPE(2, 5001)};
    for (size_t i = 0; i < TH_LEN(TOPK); i++) {
        int64_t n = TOPK[i].d[TOPK[i].ndim - 1];
        for (int largest = 0; largest < 2; largest++) {
            run_topk(TOPK[i], 1, largest, D_UNIFORM, true);
            run_topk(TOPK[i], n, largest, D_TIES, true);
            run_topk(TOPK[i], (n + 2) / 3, largest, D_SPECIAL, true);
        }
        run_topk(TOPK[i], (n + 1) / 2, 1, D_NEGATIVE, false);
    }
    th_run("bad arguments", run_bad, NULL);
    return th_finish();
}
