/* Pooling and nearest upsampling (lib/ops/pool.c) against the CPU twin: odd shapes over kernels,
 * strides and paddings, a large batch, ties (the first maximum wins), overlapping windows that
 * share an argmax, long planes, every backward by finite differences of the CPU forward and GPU
 * against CPU, and bad arguments.
 * Tolerances: max pool values, indices and dx are compared exactly (the GPU adds in the CPU's
 * order, so the bits agree); the rest use TH_TOL_F32. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum op { MAXPOOL, AVGPOOL, GAP, UPSAMPLE };
static const char *const OP_NAMES[] = {"maxpool2d", "avgpool2d", "global_avgpool2d", "upsample_nearest2d"};

typedef struct pcase {
    enum op op;
    int64_t x[4];           /* N, C, H, W of the input */
    vkdl_pool2d_info info;
    int fh, fw;             /* upsample factors */
    bool ties;              /* max pool input of small integers */
} pcase;

static void out_shape(const pcase *c, int64_t y[4])
{
    y[0] = c->x[0];
    y[1] = c->x[1];
    if (c->op == GAP) {
        y[2] = y[3] = 1;
    } else if (c->op == UPSAMPLE) {
        y[2] = c->x[2] * c->fh;
        y[3] = c->x[3] * c->fw;
    } else {
        for (int i = 0; i < 2; i++) {
            int k = c->info.kernel[i], s = c->info.stride[i] ? c->info.stride[i] : k, p = c->info.padding[i];
            y[2 + i] = (c->x[2 + i] + 2 * p - k) / s + 1;
        }
    }
}

static void case_name(const pcase *c, const char *what, char *name, size_t n)
{
    int used = snprintf(name, n, "%s%s %lldx%lldx%lldx%lld", OP_NAMES[c->op], what, (long long)c->x[0],
                        (long long)c->x[1], (long long)c->x[2], (long long)c->x[3]);
    if (c->op == MAXPOOL || c->op == AVGPOOL)
        snprintf(name + used, n - (size_t)used, " k%dx%d s%dx%d p%dx%d%s%s", c->info.kernel[0], c->info.kernel[1],
                 c->info.stride[0], c->info.stride[1], c->info.padding[0], c->info.padding[1],
                 c->op == AVGPOOL && !c->info.count_include_pad ? " exclude-pad" : "", c->ties ? " ties" : "");
    else if (c->op == UPSAMPLE)
        snprintf(name + used, n - (size_t)used, " x%dx%d", c->fh, c->fw);
}

/* Distinct values (a shuffled ramp, spaced 0.01 apart) so no window has a tie. */
static void ramp(float *v, int64_t n, const th_shape *s, float lo, float hi)
{
    (void)s, (void)lo, (void)hi;
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)(i - n / 2) * 0.01f;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = th_randu((uint32_t)(i + 1));
        float t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

/* params: the pcase. Max pool's second output is its indices. */
static vkdl_status forward(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    const pcase *c = op->params;
    switch (c->op) {
    case MAXPOOL: return vkdl_maxpool2d(in[0], out[0], out[1], &c->info);
    case AVGPOOL: return vkdl_avgpool2d(in[0], out[0], &c->info);
    case GAP: return vkdl_global_avgpool2d(in[0], out[0]);
    default: return vkdl_upsample_nearest2d(in[0], out[0]);
    }
}

static vkdl_status backward(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out,
                            vkdl_tensor *const *dout, vkdl_tensor *const *din)
{
    (void)in;
    const pcase *c = op->params;
    switch (c->op) {
    case MAXPOOL: return vkdl_maxpool2d_backward(dout[0], out[1], din[0]);
    case AVGPOOL: return vkdl_avgpool2d_backward(dout[0], din[0], &c->info);
    case GAP: return vkdl_global_avgpool2d_backward(dout[0], din[0]);
    default: return vkdl_upsample_nearest2d_backward(dout[0], din[0]);
    }
}

/* Forward and backward, GPU against CPU (max pool backward from the CPU forward's indices); max pool
 * inputs are the shuffled ramp, or small integers so most windows tie. */
static th_op row(const pcase *c, const char *name)
{
    th_shape xs = {4, {c->x[0], c->x[1], c->x[2], c->x[3]}}, ys = {4, {0}};
    out_shape(c, ys.d);
    bool max = c->op == MAXPOOL;
    th_input x = {.shape = xs, .lo = -2.0f, .hi = 2.0f};
    if (c->ties)
        x = (th_input){.shape = xs, .fill = TH_FILL_LABELS, .hi = 3};
    else if (max)
        x = (th_input){.shape = xs, .fill = TH_FILL_FN, .gen = ramp};
    return (th_op){.name = name, .params = c, .n_in = 1, .n_out = max ? 2 : 1, .in = {x},
                   .out = {{.shape = ys}, {.shape = ys, .dtype = VKDL_I32}}, .forward = forward, .backward = backward,
                   .tol = max || c->op == UPSAMPLE ? &TH_TOL_EXACT : &TH_TOL_F32,
                   .grad_tol = max ? &TH_TOL_EXACT : &TH_TOL_F32};
}

static void run(const pcase *c)
{
    char name[200];
    case_name(c, "", name, sizeof name);
    th_op op = row(c, name);
    th_run_op(&op);
}

/* Finite differences of the CPU forward against the CPU backward; the step stays below half the
 * 0.01 spacing of max pool inputs, so no argmax moves. */
static void gradcheck(const pcase *c)
{
    char name[200];
    case_name(c, " gradcheck", name, sizeof name);
    th_op op = row(c, name);
    op.grad = (th_grad){300, 1e-3, 2e-3};
    th_run_op(&op);
}

/* Shapes the forward rejects (kernel larger than the padded input) must say so. */
static void run_rejected(void *arg)
{
    const pcase *c = arg;
    int64_t ys[4] = {c->x[0], c->x[1], 1, 1};
    th_pair x = th_rand(VKDL_F32, 4, c->x, 0, 1), y = th_empty(VKDL_F32, 4, ys);
    th_op op = {.params = c};
    vkdl_tensor *out_gpu[2] = {y.gpu, NULL}, *out_cpu[2] = {y.cpu, NULL};
    TH_STATUS(forward(&op, &x.gpu, out_gpu), VKDL_ERROR_SHAPE_MISMATCH, "is larger than the padded input");
    TH_STATUS(forward(&op, &x.cpu, out_cpu), VKDL_ERROR_SHAPE_MISMATCH, "is larger than the padded input");
    th_free(&x);
    th_free(&y);
}

/* The odd-shape grid: every H x W pair and kernel, with stride, padding, N and C cycling. */
static void grid(void)
{
    static const int sizes[] = {1, 3, 7, 17, 31};
    static const int chans[] = {1, 3, 17};
    static pcase cases[5 * 5 * 3 * 3];
    int n = 0;
    for (int hi = 0; hi < 5; hi++)
        for (int wi = 0; wi < 5; wi++)
            for (int k = 1; k <= 3; k++) {
                int s = 1 + (hi + wi + k) % 3, p = (hi + k) % 2;
                if (2 * p > k)
                    p = 0;
                for (int v = 0; v < 3; v++) {
                    pcase *c = &cases[n++];
                    *c = (pcase){.op = v == 0 ? MAXPOOL : AVGPOOL,
                                 .x = {(hi + wi) % 2 ? 3 : 1, chans[(wi + k + v) % 3], sizes[hi], sizes[wi]},
                                 .info = {.kernel = {k, k == 1 ? 1 : k - (wi % 2)}, .stride = {s, 1 + (s % 3)},
                                          .padding = {p, 0}, .count_include_pad = v == 1}};
                    bool fits = c->x[2] + 2 * p >= k && c->x[3] >= c->info.kernel[1];
                    char name[200];
                    case_name(c, fits ? "" : " rejected", name, sizeof name);
                    if (fits)
                        run(c);
                    else
                        th_run(name, run_rejected, c);
                }
            }
}

static void run_bad(void *arg)
{
    (void)arg;
    vkdl_context *ctx = th_gpu;
    int64_t xs[4] = {2, 3, 8, 8}, ys[4] = {2, 3, 4, 4}, bad[4] = {2, 3, 5, 4}, g[4] = {2, 3, 1, 1};
    int64_t s3[3] = {2, 3, 8}, up_bad[4] = {2, 3, 12, 16}, up[4] = {2, 3, 16, 24}, c4[4] = {2, 4, 4, 4};
    vkdl_tensor *x, *y, *yb, *yi, *xi, *x3, *gy, *ub, *u, *xc, *yc4;
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, xs, &x));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, ys, &y));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, bad, &yb));
    TH_OK(vkdl_tensor_create(ctx, VKDL_I32, 4, ys, &yi));
    TH_OK(vkdl_tensor_create(ctx, VKDL_I32, 4, xs, &xi));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 3, s3, &x3));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, g, &gy));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, up_bad, &ub));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, up, &u));
    TH_OK(vkdl_tensor_create(th_cpu, VKDL_F32, 4, ys, &xc));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, c4, &yc4));
    vkdl_pool2d_info k2 = {.kernel = {2, 2}}, k0 = {.kernel = {0, 2}}, kneg = {.kernel = {2, 2}, .stride = {-1, 1}};
    vkdl_pool2d_info pad = {.kernel = {3, 3}, .padding = {2, 2}}, big = {.kernel = {11, 3}, .padding = {1, 1}};
    vkdl_pool2d_info pneg = {.kernel = {2, 2}, .padding = {-1, 0}};

    TH_STATUS(vkdl_maxpool2d(NULL, y, NULL, &k2), VKDL_ERROR_INVALID_ARGUMENT, "maxpool2d: x is NULL");
    TH_STATUS(vkdl_maxpool2d(x, NULL, NULL, &k2), VKDL_ERROR_INVALID_ARGUMENT, "maxpool2d: out is NULL");
    TH_STATUS(vkdl_maxpool2d(x, y, NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT, "maxpool2d: info is NULL");
    TH_STATUS(vkdl_maxpool2d(xi, y, NULL, &k2), VKDL_ERROR_DTYPE_MISMATCH, "x is i32, expected f32");
    TH_STATUS(vkdl_maxpool2d(x, y, y, &k2), VKDL_ERROR_DTYPE_MISMATCH, "indices is f32, expected i32");
    TH_STATUS(vkdl_maxpool2d(x, y, xi, &k2), VKDL_ERROR_SHAPE_MISMATCH, "2x3x4x4 vs 2x3x8x8");
    TH_STATUS(vkdl_maxpool2d(x3, y, NULL, &k2), VKDL_ERROR_SHAPE_MISMATCH, "x is 2x3x8, expected 4 dims");
    TH_STATUS(vkdl_maxpool2d(x, yb, NULL, &k2), VKDL_ERROR_SHAPE_MISMATCH,
              "out is 2x3x5x4, expected 2x3x4x4 for x 2x3x8x8 with kernel 2x2, stride 2x2, padding 0x0");
    TH_STATUS(vkdl_maxpool2d(x, yc4, NULL, &k2), VKDL_ERROR_SHAPE_MISMATCH, "N and C differ");
    TH_STATUS(vkdl_maxpool2d(x, y, NULL, &k0), VKDL_ERROR_INVALID_ARGUMENT, "kernel 0x2 must be at least 1x1");
    TH_STATUS(vkdl_maxpool2d(x, y, NULL, &kneg), VKDL_ERROR_INVALID_ARGUMENT, "stride -1x1 is negative");
    TH_STATUS(vkdl_maxpool2d(x, y, NULL, &pneg), VKDL_ERROR_INVALID_ARGUMENT, "padding -1x0 is negative");
    TH_STATUS(vkdl_maxpool2d(x, y, NULL, &pad), VKDL_ERROR_INVALID_ARGUMENT, "padding 2x2 exceeds half the kernel 3x3");
    TH_STATUS(vkdl_avgpool2d(x, y, &big), VKDL_ERROR_SHAPE_MISMATCH,
              "kernel 11x3 is larger than the padded input 10x10");
    TH_STATUS(vkdl_maxpool2d(x, xc, NULL, &k2), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    TH_STATUS(vkdl_maxpool2d_backward(y, NULL, x), VKDL_ERROR_INVALID_ARGUMENT, "indices is NULL");
    TH_STATUS(vkdl_maxpool2d_backward(y, y, x), VKDL_ERROR_DTYPE_MISMATCH, "indices is f32");
    TH_STATUS(vkdl_maxpool2d_backward(y, xi, x), VKDL_ERROR_SHAPE_MISMATCH, "shapes differ");
    TH_STATUS(vkdl_maxpool2d_backward(y, yi, yc4), VKDL_ERROR_SHAPE_MISMATCH, "N and C differ");
    TH_STATUS(vkdl_avgpool2d_backward(yb, x, &k2), VKDL_ERROR_SHAPE_MISMATCH, "dy is 2x3x5x4, expected 2x3x4x4");
    TH_STATUS(vkdl_avgpool2d_backward(y, x, NULL), VKDL_ERROR_INVALID_ARGUMENT, "info is NULL");
    TH_STATUS(vkdl_avgpool2d(x, y, &pad), VKDL_ERROR_INVALID_ARGUMENT, "exceeds half the kernel");
    TH_STATUS(vkdl_global_avgpool2d(x, y), VKDL_ERROR_SHAPE_MISMATCH, "out is 2x3x4x4, expected 2x3x1x1");
    TH_STATUS(vkdl_global_avgpool2d(x, NULL), VKDL_ERROR_INVALID_ARGUMENT, "out is NULL");
    TH_STATUS(vkdl_global_avgpool2d_backward(y, x), VKDL_ERROR_SHAPE_MISMATCH, "dy is 2x3x4x4, expected 2x3x1x1");
    TH_STATUS(vkdl_global_avgpool2d_backward(gy, xi), VKDL_ERROR_DTYPE_MISMATCH, "dx is i32");
    TH_STATUS(vkdl_upsample_nearest2d(x, ub), VKDL_ERROR_SHAPE_MISMATCH, "not x 2x3x8x8 upsampled by integer factors");
    TH_STATUS(vkdl_upsample_nearest2d(x, y), VKDL_ERROR_SHAPE_MISMATCH, "integer factors");
    TH_STATUS(vkdl_upsample_nearest2d_backward(ub, x), VKDL_ERROR_SHAPE_MISMATCH, "dy 2x3x12x16 is not dx 2x3x8x8");
    TH_STATUS(vkdl_upsample_nearest2d(u, NULL), VKDL_ERROR_INVALID_ARGUMENT, "out is NULL");
    TH_STATUS(vkdl_upsample_nearest2d(x, yc4), VKDL_ERROR_SHAPE_MISMATCH, "N and C differ");

    vkdl_tensor *t[] = {x, y, yb, yi, xi, x3, gy, ub, u, xc, yc4};
    for (size_t i = 0; i < TH_LEN(t); i++)
        vkdl_tensor_destroy(t[i]);
}

/* An index outside the plane: an error on the CPU, skipped on the device. */
static void run_bad_index(void *arg)
{
    (void)arg;
    int64_t ys[4] = {1, 1, 1, 2}, xs[4] = {1, 1, 2, 2};
    int32_t iv[2] = {3, 4};
    th_pair idx = th_from(VKDL_I32, 4, ys, iv, VKDL_I32), dy = th_rand(VKDL_F32, 4, ys, 1, 2);
    th_pair dx = th_empty(VKDL_F32, 4, xs);
    TH_STATUS(vkdl_maxpool2d_backward(dy.cpu, idx.cpu, dx.cpu), VKDL_ERROR_INVALID_ARGUMENT,
              "indices[1] = 4 is outside the H x W plane of dx 1x1x2x2");
    TH_OK(vkdl_maxpool2d_backward(dy.gpu, idx.gpu, dx.gpu));
    float *v = th_download(dx.gpu), *d = th_download(dy.gpu);
    TH_TRUE(v[0] == 0 && v[1] == 0 && v[2] == 0 && v[3] == d[0]);
    free(v);
    free(d);
    th_free(&idx);
    th_free(&dy);
    th_free(&dx);
}

/* Empty batches: nothing to do, and no dispatch of an empty tensor. */
static void run_empty(void *arg)
{
    (void)arg;
    int64_t xs[4] = {0, 3, 8, 8}, ys[4] = {0, 3, 4, 4}, gs[4] = {0, 3, 1, 1}, us[4] = {0, 3, 16, 16};
    vkdl_pool2d_info k2 = {.kernel = {2, 2}};
    th_pair x = th_empty(VKDL_F32, 4, xs), y = th_empty(VKDL_F32, 4, ys), i = th_empty(VKDL_I32, 4, ys);
    th_pair g = th_empty(VKDL_F32, 4, gs), u = th_empty(VKDL_F32, 4, us);
    for (int side = 0; side < 2; side++) {
        vkdl_tensor *X = side ? x.gpu : x.cpu, *Y = side ? y.gpu : y.cpu, *I = side ? i.gpu : i.cpu;
        vkdl_tensor *G = side ? g.gpu : g.cpu, *U = side ? u.gpu : u.cpu;
        TH_OK(vkdl_maxpool2d(X, Y, I, &k2));
        TH_OK(vkdl_maxpool2d_backward(Y, I, X));
        TH_OK(vkdl_avgpool2d(X, Y, &k2));
        TH_OK(vkdl_avgpool2d_backward(Y, X, &k2));
        TH_OK(vkdl_global_avgpool2d(X, G));
        TH_OK(vkdl_global_avgpool2d_backward(G, X));
        TH_OK(vkdl_upsample_nearest2d(X, U));
        TH_OK(vkdl_upsample_nearest2d_backward(U, X));
    }
    th_free(&x);
    th_free(&y);
    th_free(&i);
    th_free(&g);
    th_free(&u);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    grid();

    static const pcase big[] = {
        /* large batch */
        {.op = MAXPOOL, .x = {64, 17, 31, 31}, .info = {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}}},
        {.op = AVGPOOL, .x = {64, 17, 31, 31},
         .info = {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .count_include_pad = 1}},
        {.op = AVGPOOL, .x = {64, 17, 31, 31}, .info = {.kernel = {3, 3}, .stride = {1, 1}, .padding = {1, 1}}},
        {.op = GAP, .x = {64, 17, 31, 31}},
        {.op = UPSAMPLE, .x = {64, 17, 17, 31}, .fh = 2, .fw = 2},
        /* overlapping windows share argmaxes; ties take the first maximum */
        {.op = MAXPOOL, .x = {3, 3, 17, 17},
         .info = {.kernel = {3, 3}, .stride = {1, 1}, .padding = {1, 1}}, .ties = true},
        {.op = MAXPOOL, .x = {3, 3, 31, 17},
         .info = {.kernel = {3, 2}, .stride = {2, 1}, .padding = {1, 1}}, .ties = true},
        {.op = MAXPOOL, .x = {1, 1, 7, 7}, .info = {.kernel = {3, 3}, .padding = {1, 1}}, .ties = true},
        /* stride 0 means the kernel; a whole-plane kernel */
        {.op = MAXPOOL, .x = {3, 3, 7, 17}, .info = {.kernel = {7, 17}}},
        {.op = AVGPOOL, .x = {3, 3, 7, 17}, .info = {.kernel = {7, 17}}},
        /* long planes: max pool backward splits each plane's outputs over several dispatches */
        {.op = MAXPOOL, .x = {1, 2, 300, 300}, .info = {.kernel = {1, 1}}},
        {.op = GAP, .x = {1, 2, 300, 300}},
        {.op = GAP, .x = {1, 3, 1, 1}},
        {.op = GAP, .x = {3, 17, 7, 7}},
        {.op = UPSAMPLE, .x = {3, 17, 7, 7}, .fh = 1, .fw = 1},
        {.op = UPSAMPLE, .x = {1, 3, 3, 17}, .fh = 2, .fw = 3},
        {.op = UPSAMPLE, .x = {3, 1, 17, 1}, .fh = 3, .fw = 2},
    };
    for (size_t i = 0; i < TH_LEN(big); i++)
        run(&big[i]);

    static const pcase gcs[] = {
        {.op = MAXPOOL, .x = {2, 2, 5, 5}, .info = {.kernel = {3, 3}, .stride = {1, 1}, .padding = {1, 1}}},
        {.op = MAXPOOL, .x = {1, 3, 7, 6}, .info = {.kernel = {3, 2}, .stride = {2, 2}, .padding = {1, 1}}},
        {.op = AVGPOOL, .x = {2, 2, 5, 5},
         .info = {.kernel = {3, 3}, .stride = {1, 1}, .padding = {1, 1}, .count_include_pad = 1}},
        {.op = AVGPOOL, .x = {2, 2, 5, 5}, .info = {.kernel = {3, 3}, .stride = {2, 1}, .padding = {1, 1}}},
        {.op = AVGPOOL, .x = {1, 3, 7, 6}, .info = {.kernel = {2, 3}, .stride = {3, 2}, .padding = {1, 0}}},
        {.op = GAP, .x = {2, 3, 3, 5}},
        {.op = UPSAMPLE, .x = {2, 2, 3, 2}, .fh = 2, .fw = 3},
    };
    for (size_t i = 0; i < TH_LEN(gcs); i++)
        gradcheck(&gcs[i]);

    th_run("maxpool2d_backward index outside the plane", run_bad_index, NULL);
    th_run("empty batches", run_empty, NULL);
    th_run("bad arguments", run_bad, NULL);
    return th_finish();
}
