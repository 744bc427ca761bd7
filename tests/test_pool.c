/* Pooling, nearest upsampling and resize (lib/ops/pool.c) against the CPU twin: odd shapes over
 * kernels, strides and paddings (asymmetric, dilated, ceil mode), a large batch, ties (the first
 * maximum wins), overlapping windows that share an argmax, long planes, resize in every mode x
 * coordinate transform x rounding, every backward by finite differences of the CPU forward and GPU
 * against CPU, ONNX conformance values, and bad arguments.
 * Tolerances: max pool values, indices and dx, and nearest resize are compared exactly (the GPU
 * adds in the CPU's order, or copies, so the bits agree); the rest use TH_TOL_F32. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum op { MAXPOOL, AVGPOOL, GAP, UPSAMPLE, GMAX };
static const char *const OP_NAMES[] = {"maxpool2d", "avgpool2d", "global_avgpool2d", "upsample_nearest2d",
                                       "global_maxpool2d"};

typedef struct pcase {
    enum op op;
    int64_t x[4];           /* N, C, H, W of the input */
    vkdl_pool2d_info info;
    vkdl_pool2d_ext_info ext; /* chained on info when its type is set */
    int fh, fw;             /* upsample factors */
    bool ties;              /* max pool input of small integers */
} pcase;

/* c's info, with its extension chained when it has one. */
static vkdl_pool2d_info case_info(const pcase *c)
{
    vkdl_pool2d_info info = c->info;
    if (c->ext.type)
        info.next = &c->ext;
    return info;
}

#define EXT(...) {.type = VKDL_STRUCTURE_TYPE_POOL2D_EXT_INFO, __VA_ARGS__}

static void out_shape(const pcase *c, int64_t y[4])
{
    y[0] = c->x[0];
    y[1] = c->x[1];
    if (c->op == GAP || c->op == GMAX) {
        y[2] = y[3] = 1;
    } else if (c->op == UPSAMPLE) {
        y[2] = c->x[2] * c->fh;
        y[3] = c->x[3] * c->fw;
    } else {
        for (int i = 0; i < 2; i++) {
            int k = c->info.kernel[i], s = c->info.stride[i] ? c->info.stride[i] : k, p = c->info.padding[i];
            int pe = c->ext.type ? c->ext.pad_end[i] : p, d = c->ext.dilation[i] ? c->ext.dilation[i] : 1;
            int64_t span = c->x[2 + i] + p + pe - (d * (k - 1) + 1);
            y[2 + i] = span / s + 1;
            /* ceil mode: one more window where the last would not start in the end padding */
            if (c->ext.ceil_mode && span % s && (span / s + 1) * s < c->x[2 + i] + p)
                y[2 + i]++;
        }
    }
}

static void case_name(const pcase *c, const char *what, char *name, size_t n)
{
    int used = snprintf(name, n, "%s%s %lldx%lldx%lldx%lld", OP_NAMES[c->op], what, (long long)c->x[0],
                        (long long)c->x[1], (long long)c->x[2], (long long)c->x[3]);
    if (c->op == MAXPOOL || c->op == AVGPOOL)
        used += snprintf(name + used, n - (size_t)used, " k%dx%d s%dx%d p%dx%d%s%s", c->info.kernel[0],
                         c->info.kernel[1], c->info.stride[0], c->info.stride[1], c->info.padding[0],
                         c->info.padding[1], c->op == AVGPOOL && !c->info.count_include_pad ? " exclude-pad" : "",
                         c->ties ? " ties" : "");
    if (c->ext.type)
        snprintf(name + used, n - (size_t)used, " end%dx%d d%dx%d%s", c->ext.pad_end[0], c->ext.pad_end[1],
                 c->ext.dilation[0] ? c->ext.dilation[0] : 1, c->ext.dilation[1] ? c->ext.dilation[1] : 1,
                 c->ext.ceil_mode ? " ceil" : "");
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
    vkdl_pool2d_info info = case_info(c);
    switch (c->op) {
    case MAXPOOL: return vkdl_maxpool2d(in[0], out[0], out[1], &info);
    case AVGPOOL: return vkdl_avgpool2d(in[0], out[0], &info);
    case GAP: return vkdl_global_avgpool2d(in[0], out[0]);
    case GMAX: return vkdl_global_maxpool2d(in[0], out[0]);
    default: return vkdl_upsample_nearest2d(in[0], out[0]);
    }
}

static vkdl_status backward(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out,
                            vkdl_tensor *const *dout, vkdl_tensor *const *din)
{
    (void)in;
    const pcase *c = op->params;
    vkdl_pool2d_info info = case_info(c);
    switch (c->op) {
    case MAXPOOL: return vkdl_maxpool2d_backward(dout[0], out[1], din[0]);
    case AVGPOOL: return vkdl_avgpool2d_backward(dout[0], din[0], &info);
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
    else if (max || c->op == GMAX)
        x = (th_input){.shape = xs, .fill = TH_FILL_FN, .gen = ramp};
    return (th_op){.name = name, .params = c, .n_in = 1, .n_out = max ? 2 : 1, .in = {x},
                   .out = {{.shape = ys}, {.shape = ys, .dtype = VKDL_I32}}, .forward = forward,
                   .backward = c->op == GMAX ? NULL : backward,
                   .tol = max || c->op == UPSAMPLE || c->op == GMAX ? &TH_TOL_EXACT : &TH_TOL_F32,
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
    TH_STATUS(vkdl_maxpool2d(x, y, NULL, &pneg), VKDL_ERROR_INVALID_ARGUMENT, "padding -1x0 (end -1x0) is negative");
    TH_STATUS(vkdl_maxpool2d(x, y, NULL, &pad), VKDL_ERROR_INVALID_ARGUMENT,
              "padding 2x2 (end 2x2) exceeds half the kernel 3x3");
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
    TH_STATUS(vkdl_global_maxpool2d(x, y), VKDL_ERROR_SHAPE_MISMATCH, "out is 2x3x4x4, expected 2x3x1x1");
    TH_STATUS(vkdl_global_maxpool2d(xi, gy), VKDL_ERROR_DTYPE_MISMATCH, "x is i32");

    /* the extension chain: unknown types, a type twice, and bad extension fields */
    vkdl_base_struct unknown = {.type = (vkdl_structure_type)42};
    vkdl_pool2d_ext_info e = {.type = VKDL_STRUCTURE_TYPE_POOL2D_EXT_INFO, .next = &unknown}, e2 = e;
    vkdl_pool2d_info k2e = {.kernel = {2, 2}, .next = &e};
    TH_STATUS(vkdl_maxpool2d(x, y, NULL, &k2e), VKDL_ERROR_INVALID_ARGUMENT,
              "maxpool2d: unknown extension struct type 42");
    TH_STATUS(vkdl_avgpool2d(x, y, &(vkdl_pool2d_info){.kernel = {2, 2}, .next = &unknown}),
              VKDL_ERROR_INVALID_ARGUMENT, "avgpool2d: unknown extension struct type 42");
    e.next = &e2;
    e2.next = NULL;
    TH_STATUS(vkdl_avgpool2d_backward(y, x, &k2e), VKDL_ERROR_INVALID_ARGUMENT,
              "avgpool2d_backward: extension struct type 1 appears twice in the chain");
    e.next = &e; /* a cycle */
    TH_STATUS(vkdl_maxpool2d(x, y, NULL, &k2e), VKDL_ERROR_INVALID_ARGUMENT, "type 1 appears twice");
    TH_STATUS(vkdl_resize(x, u, &(vkdl_resize_info){.next = &e}), VKDL_ERROR_INVALID_ARGUMENT,
              "resize: unknown extension struct type 1");
    e = (vkdl_pool2d_ext_info){.type = VKDL_STRUCTURE_TYPE_POOL2D_EXT_INFO, .dilation = {2, 1}};
    TH_STATUS(vkdl_avgpool2d(x, y, &k2e), VKDL_ERROR_INVALID_ARGUMENT, "dilation 2x1 is for max pool only");
    e = (vkdl_pool2d_ext_info){.type = VKDL_STRUCTURE_TYPE_POOL2D_EXT_INFO, .dilation = {1, -2}};
    TH_STATUS(vkdl_maxpool2d(x, y, NULL, &k2e), VKDL_ERROR_INVALID_ARGUMENT, "dilation 1x-2 is negative");
    e = (vkdl_pool2d_ext_info){.type = VKDL_STRUCTURE_TYPE_POOL2D_EXT_INFO, .pad_end = {0, -1}};
    TH_STATUS(vkdl_maxpool2d(x, y, NULL, &k2e), VKDL_ERROR_INVALID_ARGUMENT, "padding 0x0 (end 0x-1) is negative");
    e = (vkdl_pool2d_ext_info){.type = VKDL_STRUCTURE_TYPE_POOL2D_EXT_INFO, .pad_end = {2, 0}};
    TH_STATUS(vkdl_maxpool2d(x, y, NULL, &k2e), VKDL_ERROR_INVALID_ARGUMENT,
              "padding 0x0 (end 2x0) exceeds half the kernel 2x2");
    e = (vkdl_pool2d_ext_info){.type = VKDL_STRUCTURE_TYPE_POOL2D_EXT_INFO, .ceil_mode = 1};
    TH_STATUS(vkdl_maxpool2d(x, yb, NULL, &(vkdl_pool2d_info){.kernel = {3, 3}, .stride = {2, 2}, .next = &e}),
              VKDL_ERROR_SHAPE_MISMATCH, "out is 2x3x5x4, expected 2x3x4x4");
    /* taps -2 and 1 of the first window both miss a 1-row x */
    int64_t x1s[4] = {1, 1, 1, 4}, y1s[4] = {1, 1, 2, 4};
    vkdl_tensor *x1, *y1;
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, x1s, &x1));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, y1s, &y1));
    e = (vkdl_pool2d_ext_info){.type = VKDL_STRUCTURE_TYPE_POOL2D_EXT_INFO, .dilation = {3, 1}, .pad_end = {2, 0}};
    TH_STATUS(vkdl_maxpool2d(x1, y1, NULL, &(vkdl_pool2d_info){.kernel = {2, 1}, .stride = {1, 1},
                                                               .padding = {2, 0}, .next = &e}),
              VKDL_ERROR_INVALID_ARGUMENT, "a window holds no element of x 1x1x1x4 (dilation 3x1, padding 2x0)");
    vkdl_tensor_destroy(x1);
    vkdl_tensor_destroy(y1);

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
        TH_OK(vkdl_global_maxpool2d(X, G));
        TH_OK(vkdl_resize(X, U, &(vkdl_resize_info){.mode = VKDL_RESIZE_LINEAR}));
        TH_OK(vkdl_resize_backward(U, X, &(vkdl_resize_info){.mode = VKDL_RESIZE_LINEAR}));
        TH_OK(vkdl_upsample_nearest2d(X, U));
        TH_OK(vkdl_upsample_nearest2d_backward(U, X));
    }
    th_free(&x);
    th_free(&y);
    th_free(&i);
    th_free(&g);
    th_free(&u);
}

/* ---------------------------------------------------------------- resize */

typedef struct rcase {
    th_shape x, y;
    vkdl_resize_info info;
} rcase;

/* params: the rcase. */
static vkdl_status resize_forward(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    const rcase *c = op->params;
    return vkdl_resize(in[0], out[0], &c->info);
}

static vkdl_status resize_backward(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out,
                                   vkdl_tensor *const *dout, vkdl_tensor *const *din)
{
    (void)in, (void)out;
    const rcase *c = op->params;
    return vkdl_resize_backward(dout[0], din[0], &c->info);
}

/* Forward (and backward for nearest and linear), GPU against CPU; with gradcheck, finite
 * differences of the CPU forward against the CPU backward. */
static void resize_run(const rcase *c, bool gradcheck)
{
    char name[240], sx[64], sy[64];
    const vkdl_resize_info *i = &c->info;
    int used = snprintf(name, sizeof name, "resize%s %s -> %s %s %s", gradcheck ? " gradcheck" : "",
                        th_shape_str(&c->x, sx, sizeof sx), th_shape_str(&c->y, sy, sizeof sy),
                        vkdl_resize_mode_name(i->mode), vkdl_resize_coord_name(i->coord));
    if (i->mode == VKDL_RESIZE_NEAREST)
        used += snprintf(name + used, sizeof name - (size_t)used, " %s", vkdl_resize_nearest_name(i->nearest));
    if (i->scale[0] || i->scale[1])
        used += snprintf(name + used, sizeof name - (size_t)used, " scale %gx%g", (double)i->scale[0],
                         (double)i->scale[1]);
    if (i->cubic_a)
        used += snprintf(name + used, sizeof name - (size_t)used, " a %g", (double)i->cubic_a);
    if (i->exclude_outside)
        snprintf(name + used, sizeof name - (size_t)used, " exclude_outside");
    bool nearest = i->mode == VKDL_RESIZE_NEAREST;
    th_op op = {.name = name, .params = c, .n_in = 1, .n_out = 1, .in = {{.shape = c->x, .lo = -2, .hi = 2}},
                .out = {{.shape = c->y}}, .forward = resize_forward,
                .backward = i->mode == VKDL_RESIZE_CUBIC ? NULL : resize_backward,
                .tol = nearest ? &TH_TOL_EXACT : &TH_TOL_F32, .grad_tol = &TH_TOL_F32, .deterministic = true};
    if (gradcheck)
        op.grad = (th_grad){300, 1e-3, 2e-3};
    th_run_op(&op);
}

/* Every mode x coordinate transform x rounding (and cubic with exclude_outside) over upsampling,
 * downsampling, given non-integer scales, 1-pixel inputs and outputs, and leading dims of 1 and 3. */
static void resize_grid(void)
{
    static const struct {
        th_shape x, y;
        float scale[2];
    } shapes[] = {
        {TH_SHAPE(2, 3, 5, 7), TH_SHAPE(2, 3, 11, 17), {0, 0}},
        {TH_SHAPE(1, 2, 13, 11), TH_SHAPE(1, 2, 5, 4), {0, 0}},
        {TH_SHAPE(1, 1, 6, 5), TH_SHAPE(1, 1, 10, 7), {1.7f, 1.45f}},
        {TH_SHAPE(1, 1, 7, 9), TH_SHAPE(1, 1, 4, 6), {0.6f, 0.7f}},
        {TH_SHAPE(1, 3, 1, 1), TH_SHAPE(1, 3, 3, 4), {0, 0}},
        {TH_SHAPE(2, 1, 5, 6), TH_SHAPE(2, 1, 1, 1), {0, 0}},
        {TH_SHAPE(3, 7, 5), TH_SHAPE(3, 4, 9), {0, 0}},
        {TH_SHAPE(6, 5), TH_SHAPE(3, 8), {0, 0}},
    };
    enum { N_SHAPES = sizeof shapes / sizeof shapes[0], N_PER_SHAPE = 4 * 5 + 5 + 2 * 5 };
    static rcase cases[N_SHAPES * N_PER_SHAPE];
    int n = 0;
    for (size_t s = 0; s < N_SHAPES; s++)
        for (int mode = 0; mode < VKDL_RESIZE_MODE_COUNT; mode++)
            for (int coord = 0; coord < VKDL_RESIZE_COORD_COUNT; coord++)
                for (int v = 0; v < (mode == VKDL_RESIZE_NEAREST ? 4 : mode == VKDL_RESIZE_CUBIC ? 2 : 1); v++) {
                    rcase *c = &cases[n++];
                    *c = (rcase){shapes[s].x, shapes[s].y,
                                 {.mode = mode, .coord = coord, .scale = {shapes[s].scale[0], shapes[s].scale[1]}}};
                    if (mode == VKDL_RESIZE_NEAREST)
                        c->info.nearest = v;
                    if (mode == VKDL_RESIZE_CUBIC && v) {
                        c->info.cubic_a = -0.5f;
                        c->info.exclude_outside = 1;
                    }
                    resize_run(c, false);
                }

    static const rcase big[] = {
        {TH_SHAPE(4, 16, 31, 33), TH_SHAPE(4, 16, 64, 70), {.mode = VKDL_RESIZE_LINEAR}},
        {TH_SHAPE(4, 16, 31, 33), TH_SHAPE(4, 16, 64, 70),
         {.mode = VKDL_RESIZE_NEAREST, .coord = VKDL_COORD_ASYMMETRIC, .nearest = VKDL_NEAREST_FLOOR}},
        {TH_SHAPE(4, 16, 31, 33), TH_SHAPE(4, 16, 64, 70), {.mode = VKDL_RESIZE_CUBIC}},
        {TH_SHAPE(2, 8, 97, 101), TH_SHAPE(2, 8, 13, 7), {.mode = VKDL_RESIZE_LINEAR,
                                                          .coord = VKDL_COORD_ALIGN_CORNERS}},
        /* a scale far from out / in: taps run past the edges and windows are pushed back in */
        {TH_SHAPE(1, 2, 5, 6), TH_SHAPE(1, 2, 9, 11), {.mode = VKDL_RESIZE_LINEAR, .scale = {0.5f, 0.4f}}},
        {TH_SHAPE(1, 2, 5, 6), TH_SHAPE(1, 2, 9, 11), {.mode = VKDL_RESIZE_CUBIC, .scale = {0.5f, 0.4f},
                                                       .exclude_outside = 1}},
        {TH_SHAPE(1, 2, 5, 6), TH_SHAPE(1, 2, 9, 11), {.mode = VKDL_RESIZE_NEAREST,
                                                       .coord = VKDL_COORD_ASYMMETRIC, .scale = {0.5f, 0.4f}}},
    };
    for (size_t i = 0; i < TH_LEN(big); i++)
        resize_run(&big[i], false);

    static const rcase gcs[] = {
        {TH_SHAPE(1, 2, 3, 4), TH_SHAPE(1, 2, 7, 9), {.mode = VKDL_RESIZE_LINEAR}},
        {TH_SHAPE(1, 2, 7, 9), TH_SHAPE(1, 2, 3, 4), {.mode = VKDL_RESIZE_LINEAR}},
        {TH_SHAPE(1, 2, 3, 4), TH_SHAPE(1, 2, 7, 9), {.mode = VKDL_RESIZE_LINEAR, .coord = VKDL_COORD_ALIGN_CORNERS}},
        {TH_SHAPE(2, 1, 4, 3), TH_SHAPE(2, 1, 6, 5), {.mode = VKDL_RESIZE_LINEAR,
                                                      .coord = VKDL_COORD_PYTORCH_HALF_PIXEL, .scale = {1.6f, 1.9f}}},
        {TH_SHAPE(1, 1, 5, 6), TH_SHAPE(1, 1, 1, 1), {.mode = VKDL_RESIZE_LINEAR,
                                                      .coord = VKDL_COORD_PYTORCH_HALF_PIXEL}},
        {TH_SHAPE(1, 2, 3, 4), TH_SHAPE(1, 2, 7, 9), {.mode = VKDL_RESIZE_NEAREST}},
        {TH_SHAPE(1, 2, 7, 9), TH_SHAPE(1, 2, 3, 4), {.mode = VKDL_RESIZE_NEAREST,
                                                      .coord = VKDL_COORD_TF_HALF_PIXEL_FOR_NN}},
        {TH_SHAPE(1, 2, 4, 5), TH_SHAPE(1, 2, 8, 8), {.mode = VKDL_RESIZE_NEAREST, .coord = VKDL_COORD_ASYMMETRIC,
                                                      .nearest = VKDL_NEAREST_ROUND_PREFER_CEIL}},
    };
    for (size_t i = 0; i < TH_LEN(gcs); i++)
        resize_run(&gcs[i], true);
}

/* Expected outputs of ONNX's conformance tests (onnx/backend/test/data/node/<name>, opset 11-13). */
typedef struct rknown {
    const char *name;
    int h, w, oh, ow;
    vkdl_resize_info info;
    float x[16], y[16];
} rknown;

static void run_resize_known(void *arg)
{
    const rknown *k = arg;
    int64_t xs[4] = {1, 1, k->h, k->w}, ys[4] = {1, 1, k->oh, k->ow};
    th_pair x = th_from(VKDL_F32, 4, xs, k->x, VKDL_F32), y = th_empty(VKDL_F32, 4, ys);
    for (int side = 0; side < 2; side++) {
        TH_OK(vkdl_resize(side ? x.gpu : x.cpu, side ? y.gpu : y.cpu, &k->info));
        float *got = th_download(side ? y.gpu : y.cpu);
        th_close_f32(got, k->y, (size_t)(k->oh * k->ow), side ? "device" : "cpu");
        free(got);
    }
    th_free(&x);
    th_free(&y);
}

static const rknown RESIZE_KNOWN[] = {
    {"test_resize_downsample_scales_linear", 2, 4, 1, 2, {.mode = VKDL_RESIZE_LINEAR, .scale = {0.6f, 0.6f}},
     {1, 2, 3, 4, 5, 6, 7, 8}, {2.6666665077209473f, 4.3333330154418945f}},
    {"test_resize_upsample_scales_linear_align_corners", 2, 2, 4, 4,
     {.mode = VKDL_RESIZE_LINEAR, .coord = VKDL_COORD_ALIGN_CORNERS, .scale = {2, 2}},
     {1, 2, 3, 4},
     {1.0f, 1.3333333730697632f, 1.6666666269302368f, 2.0f, 1.6666666269302368f, 2.0f, 2.3333332538604736f,
      2.6666667461395264f, 2.3333332538604736f, 2.6666667461395264f, 3.0f, 3.3333332538604736f, 3.0f,
      3.3333332538604736f, 3.6666667461395264f, 4.0f}},
    {"test_resize_downsample_sizes_nearest_tf_half_pixel_for_nn", 4, 4, 3, 2,
     {.mode = VKDL_RESIZE_NEAREST, .coord = VKDL_COORD_TF_HALF_PIXEL_FOR_NN},
     {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, {6, 8, 10, 12, 14, 16}},
    {"test_resize_downsample_scales_cubic_A_n0p5_exclude_outside", 4, 4, 3, 3,
     {.mode = VKDL_RESIZE_CUBIC, .cubic_a = -0.5f, .exclude_outside = 1, .scale = {0.8f, 0.8f}},
     {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
     {1.3681267499923706f, 2.669501304626465f, 4.013336658477783f, 6.573625087738037f, 7.875f, 9.21883487701416f,
      11.948966026306152f, 13.250341415405273f, 14.594176292419434f}},
    {"test_resize_downsample_sizes_linear_pytorch_half_pixel", 4, 4, 3, 1,
     {.mode = VKDL_RESIZE_LINEAR, .coord = VKDL_COORD_PYTORCH_HALF_PIXEL},
     {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, {1.6666666269302368f, 7.0f, 12.333333015441895f}},
    {"test_resize_downsample_scales_cubic_align_corners", 4, 4, 3, 3,
     {.mode = VKDL_RESIZE_CUBIC, .coord = VKDL_COORD_ALIGN_CORNERS, .scale = {0.8f, 0.8f}},
     {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
     {1.0f, 2.3951916694641113f, 3.7903831005096436f, 6.580766201019287f, 7.975957870483398f, 9.371149063110352f,
      12.161532402038574f, 13.556723594665527f, 14.951915740966797f}},
};

static void run_resize_bad(void *arg)
{
    (void)arg;
    vkdl_context *ctx = th_gpu;
    int64_t xs[4] = {2, 3, 4, 5}, ys[4] = {2, 3, 8, 9}, lead[4] = {2, 4, 8, 9}, s1[1] = {5}, e[4] = {2, 3, 0, 5};
    vkdl_tensor *x, *y, *yl, *xi, *x1, *xe;
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, xs, &x));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, ys, &y));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, lead, &yl));
    TH_OK(vkdl_tensor_create(ctx, VKDL_I32, 4, xs, &xi));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, s1, &x1));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, e, &xe));
    vkdl_resize_info ok = {.mode = VKDL_RESIZE_LINEAR}, cubic = {.mode = VKDL_RESIZE_CUBIC};
    vkdl_resize_info mode = {.mode = (vkdl_resize_mode)3}, coord = {.coord = (vkdl_resize_coord)7};
    vkdl_resize_info near = {.nearest = (vkdl_resize_nearest)-1}, scale = {.scale = {-1, 2}};
    vkdl_resize_info nan_a = {.mode = VKDL_RESIZE_CUBIC, .cubic_a = NAN};
    vkdl_resize_info rev = {.coord = VKDL_COORD_ALIGN_CORNERS, .scale = {0.1f, 0}};
    vkdl_pool2d_info next = {.next = &(vkdl_base_struct){.type = (vkdl_structure_type)42}};
    vkdl_resize_info ext = {.next = next.next};

    TH_STATUS(vkdl_resize(NULL, y, &ok), VKDL_ERROR_INVALID_ARGUMENT, "resize: x is NULL");
    TH_STATUS(vkdl_resize(x, y, NULL), VKDL_ERROR_INVALID_ARGUMENT, "resize: info is NULL");
    TH_STATUS(vkdl_resize(x, y, &ext), VKDL_ERROR_INVALID_ARGUMENT, "resize: unknown extension struct type 42");
    TH_STATUS(vkdl_resize(xi, y, &ok), VKDL_ERROR_DTYPE_MISMATCH, "x is i32, expected f32");
    TH_STATUS(vkdl_resize(x, yl, &ok), VKDL_ERROR_SHAPE_MISMATCH,
              "x is 2x3x4x5 and out is 2x4x8x9: expected [..., H, W] and [..., OH, OW] with equal leading dims");
    TH_STATUS(vkdl_resize(x1, x1, &ok), VKDL_ERROR_SHAPE_MISMATCH, "x is 5 and out is 5");
    TH_STATUS(vkdl_resize(xe, y, &ok), VKDL_ERROR_SHAPE_MISMATCH, "x is 2x3x0x5, whose H x W plane is empty");
    TH_STATUS(vkdl_resize(x, y, &mode), VKDL_ERROR_INVALID_ARGUMENT, "resize: mode 3 is not a vkdl_resize_mode");
    TH_STATUS(vkdl_resize(x, y, &coord), VKDL_ERROR_INVALID_ARGUMENT, "coord 7 is not a vkdl_resize_coord");
    TH_STATUS(vkdl_resize(x, y, &near), VKDL_ERROR_INVALID_ARGUMENT, "nearest -1 is not a vkdl_resize_nearest");
    TH_STATUS(vkdl_resize(x, y, &scale), VKDL_ERROR_INVALID_ARGUMENT, "scale -1x2 must be positive and finite");
    TH_STATUS(vkdl_resize(x, y, &nan_a), VKDL_ERROR_INVALID_ARGUMENT, "cubic_a nan is not finite");
    TH_STATUS(vkdl_resize_backward(y, x, &cubic), VKDL_ERROR_INVALID_ARGUMENT,
              "resize_backward: mode cubic has no backward");
    TH_STATUS(vkdl_resize_backward(y, x, &rev), VKDL_ERROR_INVALID_ARGUMENT, "reversing the axis");

    vkdl_tensor *t[] = {x, y, yl, xi, x1, xe};
    for (size_t i = 0; i < TH_LEN(t); i++)
        vkdl_tensor_destroy(t[i]);
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
        {.op = GMAX, .x = {2, 3, 7, 5}},
        {.op = GMAX, .x = {1, 1, 1, 1}},
        {.op = GMAX, .x = {3, 17, 31, 31}},
        {.op = GMAX, .x = {1, 2, 300, 300}},
        /* ONNX options: asymmetric pads, dilation, ceil mode (where it adds a window, and where the
         * added window would start in the end padding and is dropped) */
        {.op = MAXPOOL, .x = {2, 3, 7, 8}, .info = {.kernel = {3, 3}, .stride = {2, 2}, .padding = {0, 1}},
         .ext = EXT(.pad_end = {1, 0})},
        {.op = MAXPOOL, .x = {1, 2, 11, 13}, .info = {.kernel = {3, 2}, .stride = {1, 2}, .padding = {1, 1}},
         .ext = EXT(.pad_end = {2, 0}, .dilation = {2, 3})},
        {.op = MAXPOOL, .x = {2, 2, 8, 8}, .info = {.kernel = {3, 3}, .stride = {2, 2}}, .ext = EXT(.ceil_mode = 1)},
        {.op = MAXPOOL, .x = {1, 1, 5, 5}, .info = {.kernel = {2, 2}, .stride = {2, 2}, .padding = {1, 1}},
         .ext = EXT(.pad_end = {1, 1}, .ceil_mode = 1)},
        {.op = MAXPOOL, .x = {3, 3, 17, 19}, .info = {.kernel = {3, 3}, .stride = {3, 2}, .padding = {1, 0}},
         .ext = EXT(.pad_end = {0, 1}, .dilation = {2, 2}, .ceil_mode = 1), .ties = true},
        {.op = AVGPOOL, .x = {2, 3, 6, 6}, .info = {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1},
         .count_include_pad = 1}, .ext = EXT(.pad_end = {1, 1}, .ceil_mode = 1)},
        {.op = AVGPOOL, .x = {2, 3, 6, 6}, .info = {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}},
         .ext = EXT(.pad_end = {1, 1}, .ceil_mode = 1)},
        {.op = AVGPOOL, .x = {1, 2, 7, 9}, .info = {.kernel = {2, 3}, .stride = {2, 2}, .padding = {1, 0},
         .count_include_pad = 1}, .ext = EXT(.pad_end = {0, 1})},
        {.op = AVGPOOL, .x = {3, 5, 17, 13}, .info = {.kernel = {3, 2}, .stride = {3, 3}, .padding = {0, 1},
         .count_include_pad = 1}, .ext = EXT(.pad_end = {1, 0}, .ceil_mode = 1)},
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
        {.op = MAXPOOL, .x = {1, 2, 9, 8}, .info = {.kernel = {3, 2}, .stride = {2, 1}, .padding = {1, 0}},
         .ext = EXT(.pad_end = {0, 1}, .dilation = {2, 2}, .ceil_mode = 1)},
        {.op = AVGPOOL, .x = {2, 2, 6, 6}, .info = {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1},
         .count_include_pad = 1}, .ext = EXT(.pad_end = {1, 1}, .ceil_mode = 1)},
        {.op = AVGPOOL, .x = {1, 2, 7, 9}, .info = {.kernel = {2, 3}, .stride = {2, 2}, .padding = {1, 0}},
         .ext = EXT(.pad_end = {0, 1}, .ceil_mode = 1)},
    };
    for (size_t i = 0; i < TH_LEN(gcs); i++)
        gradcheck(&gcs[i]);

    resize_grid();
    for (size_t i = 0; i < TH_LEN(RESIZE_KNOWN); i++)
        th_run(RESIZE_KNOWN[i].name, run_resize_known, (void *)&RESIZE_KNOWN[i]);
    th_run("resize bad arguments", run_resize_bad, NULL);
    th_run("maxpool2d_backward index outside the plane", run_bad_index, NULL);
    th_run("empty batches", run_empty, NULL);
    th_run("bad arguments", run_bad, NULL);
    return th_finish();
}
