/* vkdl_embedding and vkdl_embedding_backward: the GPU against the CPU twin, finite differences of
 * the CPU forward, repeated and unreferenced rows, out-of-range indices, and the same bits on
 * every run. lib/ops/embedding.c
 *
 * The forward is a copy (TH_TOL_EXACT); the backward sums in f32 on the GPU and in double on the
 * CPU (TH_TOL_F32). Gradchecks: step 1e-2 (the forward is linear), 1e-2 relative. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Indices in [0, V) (V is hi), a few of them repeated many times. */
static void indices(float *v, int64_t n, const th_shape *s, float lo, float hi)
{
    (void)s, (void)lo;
    uint32_t V = (uint32_t)hi;
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)(th_randu(3) == 0 ? th_randu(V < 3 ? V : 3) : th_randu(V));
}

static vkdl_status embedding(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    (void)op;
    return vkdl_embedding(in[0], in[1], out[0]);
}

static vkdl_status embedding_backward(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out,
                                      vkdl_tensor *const *dout, vkdl_tensor *const *din)
{
    (void)op, (void)out;
    return vkdl_embedding_backward(dout[0], in[1], din[0]);
}

/* weight [V, D] and indices of shape idx: out is idx's shape with D appended. */
static th_op row(const char *name, int64_t V, int64_t D, th_shape idx)
{
    th_shape os = idx;
    os.d[os.ndim++] = D;
    return (th_op){.name = name, .n_in = 2, .n_out = 1, .forward = embedding, .backward = embedding_backward,
                   .tol = &TH_TOL_EXACT, .grad_tol = &TH_TOL_F32, .deterministic = true,
                   .in = {{.shape = {2, {V, D}}, .lo = -1, .hi = 1},
                          {.shape = idx, .dtype = VKDL_I32, .fill = TH_FILL_FN, .gen = indices, .hi = (float)V}},
                   .out = {{.shape = os}}};
}

/* Rows never looked up get exactly 0; every lookup of one row adds up. */
static void run_known(void *arg)
{
    (void)arg;
    int64_t ws[2] = {5, 2}, n = 4, os[2] = {4, 2};
    const int32_t ix[4] = {3, 1, 3, 3};
    const float gv[8] = {1, 2, 10, 20, 100, 200, 1000, 2000};
    th_pair idx = th_from(VKDL_I32, 1, &n, ix, VKDL_I32), g = th_from(VKDL_F32, 2, os, gv, VKDL_F32);
    th_pair dw = th_empty(VKDL_F32, 2, ws);
    TH_OK(vkdl_embedding_backward(g.gpu, idx.gpu, dw.gpu));
    const float want[10] = {0, 0, 10, 20, 0, 0, 1101, 2202, 0, 0};
    float *h = th_download(dw.gpu);
    if (memcmp(h, want, sizeof want) != 0)
        th_fail("dweight row 3 = %g %g, row 0 = %g %g", h[6], h[7], h[0], h[1]);
    free(h);
    th_free(&idx);
    th_free(&g);
    th_free(&dw);
}

/* Outside [0, V): INVALID_ARGUMENT on the CPU, zero rows on the GPU. */
static void run_out_of_range(void *arg)
{
    (void)arg;
    int64_t ws[2] = {4, 3}, n = 4, os[2] = {4, 3};
    const int32_t ix[4] = {1, 4, -1, 3};
    th_pair w = th_rand(VKDL_F32, 2, ws, 1, 2), idx = th_from(VKDL_I32, 1, &n, ix, VKDL_I32);
    th_pair out = th_empty(VKDL_F32, 2, os), dw = th_empty(VKDL_F32, 2, ws);
    TH_STATUS(vkdl_embedding(w.cpu, idx.cpu, out.cpu), VKDL_ERROR_INVALID_ARGUMENT, "idx[1] = 4 is outside [0, 4)");
    TH_STATUS(vkdl_embedding_backward(out.cpu, idx.cpu, dw.cpu), VKDL_ERROR_INVALID_ARGUMENT, "idx[1] = 4");
    TH_OK(vkdl_embedding(w.gpu, idx.gpu, out.gpu));
    float *h = th_download(out.gpu);
    for (int i = 0; i < 12; i++) {
        bool zero = i / 3 == 1 || i / 3 == 2;
        if (zero != (h[i] == 0.0f))
            th_fail("out[%d] = %g", i, h[i]);
    }
    free(h);
    th_free(&w);
    th_free(&idx);
    th_free(&out);
    th_free(&dw);
}

/* No lookups: dweight is all zeros; an empty output is a no-op. */
static void run_empty(void *arg)
{
    (void)arg;
    int64_t ws[2] = {3, 4}, e[1] = {0}, os[2] = {0, 4};
    th_pair w = th_rand(VKDL_F32, 2, ws, -1, 1), idx = th_empty(VKDL_I32, 1, e);
    th_pair out = th_empty(VKDL_F32, 2, os), dw = th_empty(VKDL_F32, 2, ws);
    TH_OK(vkdl_embedding(w.gpu, idx.gpu, out.gpu));
    TH_OK(vkdl_embedding_backward(out.cpu, idx.cpu, dw.cpu));
    TH_OK(vkdl_embedding_backward(out.gpu, idx.gpu, dw.gpu));
    th_compare(&dw, TH_TOL_EXACT);
    float *h = th_download(dw.gpu);
    for (int i = 0; i < 12; i++)
        if (h[i] != 0.0f) {
            th_fail("dweight[%d] = %g", i, h[i]);
            break;
        }
    free(h);
    th_free(&w);
    th_free(&idx);
    th_free(&out);
    th_free(&dw);
}

static void run_bad(void *arg)
{
    (void)arg;
    int64_t ws[2] = {5, 3}, w1[1] = {5}, n[1] = {4}, os[2] = {4, 3}, bad[2] = {4, 2}, bad3[3] = {4, 1, 3};
    th_pair w = th_rand(VKDL_F32, 2, ws, -1, 1), wv = th_rand(VKDL_F32, 1, w1, -1, 1);
    th_pair idx = th_empty(VKDL_I32, 1, n), fidx = th_empty(VKDL_F32, 1, n);
    th_pair out = th_empty(VKDL_F32, 2, os), ob = th_empty(VKDL_F32, 2, bad), ob3 = th_empty(VKDL_F32, 3, bad3);
    TH_STATUS(vkdl_embedding(NULL, idx.gpu, out.gpu), VKDL_ERROR_INVALID_ARGUMENT, "embedding: weight is NULL");
    TH_STATUS(vkdl_embedding(w.gpu, NULL, out.gpu), VKDL_ERROR_INVALID_ARGUMENT, "idx is NULL");
    TH_STATUS(vkdl_embedding(w.gpu, idx.gpu, NULL), VKDL_ERROR_INVALID_ARGUMENT, "out is NULL");
    TH_STATUS(vkdl_embedding(w.gpu, fidx.gpu, out.gpu), VKDL_ERROR_DTYPE_MISMATCH, "idx is f32, expected i32");
    TH_STATUS(vkdl_embedding(wv.gpu, idx.gpu, out.gpu), VKDL_ERROR_SHAPE_MISMATCH, "weight is 5, expected [V, D]");
    TH_STATUS(vkdl_embedding(w.gpu, idx.gpu, ob.gpu), VKDL_ERROR_SHAPE_MISMATCH,
              "out is 4x2, expected idx's shape 4 with 3 (D) appended");
    TH_STATUS(vkdl_embedding(w.gpu, idx.gpu, ob3.gpu), VKDL_ERROR_SHAPE_MISMATCH, "out is 4x1x3");
    TH_STATUS(vkdl_embedding(w.gpu, idx.cpu, out.gpu), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    TH_STATUS(vkdl_embedding_backward(NULL, idx.gpu, w.gpu), VKDL_ERROR_INVALID_ARGUMENT,
              "embedding_backward: dout is NULL");
    TH_STATUS(vkdl_embedding_backward(out.gpu, idx.gpu, NULL), VKDL_ERROR_INVALID_ARGUMENT, "dweight is NULL");
    TH_STATUS(vkdl_embedding_backward(ob.gpu, idx.gpu, w.gpu), VKDL_ERROR_SHAPE_MISMATCH, "dout is 4x2");
    TH_STATUS(vkdl_embedding_backward(out.gpu, fidx.gpu, w.gpu), VKDL_ERROR_DTYPE_MISMATCH, "idx is f32");
    th_free(&w);
    th_free(&wv);
    th_free(&idx);
    th_free(&fidx);
    th_free(&out);
    th_free(&ob);
    th_free(&ob3);
}

static const struct {
    int64_t V, D;
    th_shape idx;
} ROWS[] = {
    {1, 1, TH_SHAPE(1)},       {3, 17, TH_SHAPE(5)},     {17, 3, TH_SHAPE(4, 9)},     {127, 64, TH_SHAPE(8, 33)},
    {1000, 33, TH_SHAPE(257)}, {5, 127, TH_SHAPE(1000)}, {2, 5, TH_SHAPE(2, 3, 4)},   {50, 8, TH_SCALAR},
    {3, 2, TH_SHAPE(200003)}, /* longer than lavapipe's 65535 loop iterations */
};

int main(int argc, char **argv)
{
    th_init(argc, argv);
    char name[128];
    for (size_t i = 0; i < TH_LEN(ROWS); i++) {
        int64_t n = 1;
        for (int k = 0; k < ROWS[i].idx.ndim; k++)
            n *= ROWS[i].idx.d[k];
        snprintf(name, sizeof name, "embedding V %lld D %lld, %lld lookups", (long long)ROWS[i].V,
                 (long long)ROWS[i].D, (long long)n);
        th_op c = row(name, ROWS[i].V, ROWS[i].D, ROWS[i].idx);
        th_run_op(&c);
    }
    th_op grad = row("embedding gradcheck", 7, 3, (th_shape)TH_SHAPE(2, 5));
    grad.grad = (th_grad){100, 1e-2, 1e-2};
    th_run_op(&grad);
    th_run("embedding_backward known values", run_known, NULL);
    th_run("embedding indices out of range", run_out_of_range, NULL);
    th_run("embedding empty", run_empty, NULL);
    th_run("bad arguments", run_bad, NULL);
    return th_finish();
}
