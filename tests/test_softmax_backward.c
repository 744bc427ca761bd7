/* vkdl_softmax_backward / vkdl_log_softmax_backward: finite differences of the CPU forward, and the
 * GPU against the CPU twin (TH_TOL_F32) on rows from 1 to 100000 long and each way a workgroup
 * combines its row. lib/ops/softmax.c
 *
 * Gradchecks: central differences with step 1e-3 of the f32 forward, 1e-2 relative (the forward's
 * rounding over the step is ~1e-4). */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>

/* y is the output of the forward on the CPU, so the device backward starts from the same y. */
static vkdl_status softmax(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    return (op->op ? vkdl_log_softmax : vkdl_softmax)(in[0], out[0]);
}

static vkdl_status softmax_backward(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out,
                                    vkdl_tensor *const *dout, vkdl_tensor *const *din)
{
    (void)in;
    return (op->op ? vkdl_log_softmax_backward : vkdl_softmax_backward)(out[0], dout[0], din[0]);
}

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

/* Views at offsets: the elements around the output view stay untouched. */
static void run_views(void *arg)
{
    (void)arg;
    int64_t s[2] = {9, 131};
    th_pair yb = make_y(false, 2, s, 3.0f);
    th_pair gb = th_rand(VKDL_F32, 2, s, -1.0f, 1.0f);
    th_pair ob = th_rand(VKDL_F32, 2, s, -1.0f, 1.0f);
    th_pair y = th_slice(&yb, 1, 6);
    th_pair g = th_slice(&gb, 2, 7);
    th_pair o = th_slice(&ob, 3, 8);
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

/* Each row runs as softmax and as log_softmax, logits uniform in [-5, 5). */
static const struct {
    th_shape shape;
    unsigned variants;
} ROWS[] = {
    {TH_SHAPE(1), TH_VS_ALL},
    {TH_SHAPE(3), 0},
    {TH_SHAPE(17), 0},
    {TH_SHAPE(127), 0},
    {TH_SHAPE(256), 0},
    {TH_SHAPE(257), TH_VS_ALL},
    {TH_SHAPE(1000), 0},
    {TH_SHAPE(100000), 0},
    {TH_SCALAR, 0},
    {TH_SHAPE(4096, 3), 0},
    {TH_SHAPE(4096, 17), TH_VS_ALL},
    {TH_SHAPE(64, 1000), TH_VS_ALL},
    {TH_SHAPE(3, 100000), TH_VS_ALL},
    {TH_SHAPE(5, 1), 0},
    {TH_SHAPE(2, 3, 4, 5), 0},
    {TH_SHAPE(2, 1, 2, 3, 1, 2, 2, 129), 0},
};

static th_op row(const char *name, int log, th_shape s, float range)
{
    return (th_op){.name = name, .op = log, .n_in = 1, .n_out = 1, .in = {{.shape = s, .lo = -range, .hi = range}},
                   .out = {{.shape = s}}, .forward = softmax, .backward = softmax_backward, .tol = &TH_TOL_F32};
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    char name[200], dims[100];
    for (size_t i = 0; i < TH_LEN(ROWS); i++)
        for (int log = 0; log < 2; log++) {
            snprintf(name, sizeof name, "%s %s", log ? "log_softmax_backward" : "softmax_backward",
                     th_shape_str(&ROWS[i].shape, dims, sizeof dims));
            th_op c = row(name, log, ROWS[i].shape, 5.0f);
            c.variants = ROWS[i].variants;
            th_run_op(&c);
        }
    for (int log = 0; log < 2; log++) {
        th_op c = row(log ? "log_softmax_backward gradcheck" : "softmax_backward gradcheck", log,
                      (th_shape)TH_SHAPE(3, 7), 3.0f);
        c.grad = (th_grad){100, 1e-3, 1e-2};
        th_run_op(&c);
    }
    th_run("views at offsets", run_views, NULL);
    th_run("empty tensors", run_empty, NULL);
    th_run("bad arguments", run_bad, NULL);
    return th_finish();
}
