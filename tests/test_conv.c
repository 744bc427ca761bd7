/* Convolution as th_op rows: the device against the CPU twin (forward, data and weight gradients,
 * conv_transpose2d), the CPU twin against naive loops (each row's extra check), finite differences
 * of every backward on the CPU, the adjoint identity <conv(x), dy> = <x, conv_backward_data(dy)>,
 * views, empty tensors and bad arguments.
 *
 * Tolerances: TH_TOL_GEMM for every device-vs-CPU comparison (the results are dot products over
 * C/groups * KH * KW taps, or over N * OH * OW pixels for the weight gradient, summed in another
 * order than BLAS does). The CPU twin against the naive double-precision loops uses TH_TOL_GEMM
 * too. Gradchecks use eps 1e-2 and tol 1e-2: the forward is linear in each input, so the central
 * difference is exact up to f32 rounding of the loss. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ccase {
    int64_t n, c, h, w, o, kh, kw;
    int s[2], p[2], d[2], groups, op[2];
    bool bias;
    unsigned variants;
    const char *disable; /* kernels turned off for the device side (VKDL_DISABLE words) */
} ccase;

static vkdl_conv2d_info info_of(const ccase *c)
{
    vkdl_conv2d_info i = {.stride = {c->s[0], c->s[1]}, .padding = {c->p[0], c->p[1]}, .dilation = {c->d[0], c->d[1]},
                          .groups = c->groups, .output_padding = {c->op[0], c->op[1]}};
    return i;
}

static int64_t dflt(int v) { return v ? v : 1; }

static int64_t out_dim(int64_t in, int64_t k, int s, int p, int d)
{
    return (in + 2 * p - dflt(d) * (k - 1) - 1) / dflt(s) + 1;
}

static int64_t tr_dim(int64_t in, int64_t k, int s, int p, int d, int op)
{
    return (in - 1) * dflt(s) - 2 * p + dflt(d) * (k - 1) + op + 1;
}

static int64_t groups_of(const ccase *c) { return c->groups ? c->groups : 1; }

/* ---------------------------------------------------------------- naive references */

/* y = conv(x, w) + b by definition, in double. */
static void naive_conv(const ccase *c, int64_t oh, int64_t ow, const float *x, const float *w, const float *b,
                       double *y)
{
    int64_t g = groups_of(c), cg = c->c / g, og = c->o / g;
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t o = 0; o < c->o; o++)
            for (int64_t i = 0; i < oh; i++)
                for (int64_t j = 0; j < ow; j++) {
                    double s = b ? b[o] : 0;
                    for (int64_t ci = 0; ci < cg; ci++)
                        for (int64_t a = 0; a < c->kh; a++)
                            for (int64_t e = 0; e < c->kw; e++) {
                                int64_t ih = i * dflt(c->s[0]) - c->p[0] + a * dflt(c->d[0]);
                                int64_t iw = j * dflt(c->s[1]) - c->p[1] + e * dflt(c->d[1]);
                                if (ih < 0 || ih >= c->h || iw < 0 || iw >= c->w)
                                    continue;
                                s += (double)x[((n * c->c + (o / og) * cg + ci) * c->h + ih) * c->w + iw] *
                                     w[((o * cg + ci) * c->kh + a) * c->kw + e];
                            }
                    y[((n * c->o + o) * oh + i) * ow + j] = s;
                }
}

/* out = conv_transpose(x, w) + b by scattering, in double: x [n, c, h, w], w [c, o/g, kh, kw]. */
static void naive_transpose(const ccase *c, int64_t oh, int64_t ow, const float *x, const float *w, const float *b,
                            double *y)
{
    int64_t g = groups_of(c), cg = c->c / g, og = c->o / g;
    for (int64_t i = 0; i < c->n * c->o * oh * ow; i++)
        y[i] = b ? b[(i / (oh * ow)) % c->o] : 0;
    for (int64_t n = 0; n < c->n; n++)
        for (int64_t ci = 0; ci < c->c; ci++)
            for (int64_t i = 0; i < c->h; i++)
                for (int64_t j = 0; j < c->w; j++)
                    for (int64_t oo = 0; oo < og; oo++)
                        for (int64_t a = 0; a < c->kh; a++)
                            for (int64_t e = 0; e < c->kw; e++) {
                                int64_t yh = i * dflt(c->s[0]) - c->p[0] + a * dflt(c->d[0]);
                                int64_t yw = j * dflt(c->s[1]) - c->p[1] + e * dflt(c->d[1]);
                                if (yh < 0 || yh >= oh || yw < 0 || yw >= ow)
                                    continue;
                                int64_t o = (ci / cg) * og + oo;
                                y[((n * c->o + o) * oh + yh) * ow + yw] +=
                                    (double)x[((n * c->c + ci) * c->h + i) * c->w + j] *
                                    w[((ci * og + oo) * c->kh + a) * c->kw + e];
                            }
}

static void compare_naive(const vkdl_tensor *t, const double *ref)
{
    float *v = th_download(t);
    int64_t n = vkdl_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        double tol = TH_TOL_GEMM.atol + TH_TOL_GEMM.rtol * fabs(ref[i]);
        if (!(fabs(v[i] - ref[i]) <= tol)) {
            th_fail("element %lld: %.9g, naive %.9g", (long long)i, v[i], ref[i]);
            break;
        }
    }
    free(v);
}

/* ---------------------------------------------------------------- rows: conv2d and conv_transpose2d */

enum kind { CONV, TRANSPOSE };

/* Inputs x, w, bias; output y. params: the ccase. */
static vkdl_status forward(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    const ccase *c = op->params;
    vkdl_conv2d_info info = info_of(c);
    vkdl_tensor *b = c->bias ? in[2] : NULL;
    if (op->op == TRANSPOSE)
        return vkdl_conv_transpose2d(in[0], in[1], b, out[0], &info);
    return vkdl_conv2d(in[0], in[1], b, out[0], &info);
}

/* The data gradient of a transposed convolution is the convolution of dy. */
static vkdl_status backward(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out,
                            vkdl_tensor *const *dout, vkdl_tensor *const *din)
{
    (void)out;
    const ccase *c = op->params;
    vkdl_conv2d_info info = info_of(c);
    vkdl_status s = op->op == TRANSPOSE ? vkdl_conv2d(dout[0], in[1], NULL, din[0], &info)
                                        : vkdl_conv2d_backward_data(dout[0], in[1], din[0], &info);
    if (s != VKDL_OK)
        return s;
    if (op->op == TRANSPOSE)
        return vkdl_conv_transpose2d_backward_weight(in[0], dout[0], din[1], din[2], &info);
    return vkdl_conv2d_backward_weight(in[0], dout[0], din[1], din[2], &info);
}

static th_shape out_shape(const ccase *c, enum kind k)
{
    if (k == TRANSPOSE)
        return (th_shape){4, {c->n, c->o, tr_dim(c->h, c->kh, c->s[0], c->p[0], c->d[0], c->op[0]),
                              tr_dim(c->w, c->kw, c->s[1], c->p[1], c->d[1], c->op[1])}};
    return (th_shape){4, {c->n, c->o, out_dim(c->h, c->kh, c->s[0], c->p[0], c->d[0]),
                          out_dim(c->w, c->kw, c->s[1], c->p[1], c->d[1])}};
}

/* The CPU twin is the oracle: its forward against the definition (convolutions only where the
 * naive loops stay small). */
static void check_naive(const th_op *op, const th_op_result *cpu, const th_op_result *gpu)
{
    (void)gpu;
    const ccase *c = op->params;
    th_shape ys = op->out[0].shape;
    int64_t n = ys.d[0] * ys.d[1] * ys.d[2] * ys.d[3];
    if (op->op == CONV && n * (c->c / groups_of(c)) * c->kh * c->kw > 400000)
        return;
    double *ref = malloc((size_t)n * sizeof *ref);
    const float *b = c->bias ? cpu->before[2] : NULL;
    if (op->op == TRANSPOSE)
        naive_transpose(c, ys.d[2], ys.d[3], cpu->before[0], cpu->before[1], b, ref);
    else
        naive_conv(c, ys.d[2], ys.d[3], cpu->before[0], cpu->before[1], b, ref);
    compare_naive(cpu->out[0], ref);
    free(ref);
}

/* Forward, data, weight and bias gradients, device against CPU, and the CPU against the naive
 * loops; a gradcheck row adds finite differences of every gradient. */
static th_op conv_op(const ccase *c, enum kind k, const char *name, bool gradcheck)
{
    int64_t g = groups_of(c);
    th_shape ws = k == TRANSPOSE ? (th_shape){4, {c->c, c->o / g, c->kh, c->kw}}
                                 : (th_shape){4, {c->o, c->c / g, c->kh, c->kw}};
    th_op op = {.name = name, .op = k, .params = c, .n_in = 3, .n_out = 1, .forward = forward, .backward = backward,
                .tol = &TH_TOL_GEMM, .check = check_naive, .variants = c->variants, .disable = c->disable,
                .in = {{.shape = {4, {c->n, c->c, c->h, c->w}}, .lo = -1, .hi = 1}, {.shape = ws, .lo = -1, .hi = 1},
                       {.shape = {1, {c->o}}, .lo = -1, .hi = 1}},
                .out = {{.shape = out_shape(c, k)}}, .no_grad = c->bias ? 0 : 4u};
    if (gradcheck)
        op.grad = (th_grad){60, 1e-2, 1e-2};
    return op;
}

static void conv(int64_t n, int64_t c, int64_t h, int64_t w, int64_t o, int64_t kh, int64_t kw, int s, int p, int d,
                 int groups, bool bias)
{
    ccase cc = {n, c, h, w, o, kh, kw, {s, s}, {p, p}, {d, d}, groups, {0, 0}, bias, 0, NULL};
    char name[200];
    snprintf(name, sizeof name, "conv2d x %lldx%lldx%lldx%lld w %lldx%lldx%lldx%lld s%d p%d d%d g%d%s",
             (long long)n, (long long)c, (long long)h, (long long)w, (long long)o, (long long)(c / (groups ? groups : 1)),
             (long long)kh, (long long)kw, s, p, d, groups, bias ? " bias" : "");
    th_op op = conv_op(&cc, CONV, name, false);
    th_run_op(&op);
}

/* Asymmetric stride / padding / dilation, and the GPU-style kernels. */
static void conv_full(const ccase *c, const char *what)
{
    char name[200];
    snprintf(name, sizeof name, "conv2d %s x %lldx%lldx%lldx%lld o %lld k %lldx%lld s%dx%d p%dx%d d%dx%d g%d", what,
             (long long)c->n, (long long)c->c, (long long)c->h, (long long)c->w, (long long)c->o, (long long)c->kh,
             (long long)c->kw, c->s[0], c->s[1], c->p[0], c->p[1], c->d[0], c->d[1], c->groups);
    th_op op = conv_op(c, CONV, name, false);
    th_run_op(&op);
}

static void transpose(const ccase *c)
{
    char name[200];
    snprintf(name, sizeof name, "conv_transpose2d x %lldx%lldx%lldx%lld o %lld k %lldx%lld s%dx%d p%dx%d d%dx%d "
             "op%dx%d g%d", (long long)c->n, (long long)c->c, (long long)c->h, (long long)c->w, (long long)c->o,
             (long long)c->kh, (long long)c->kw, c->s[0], c->s[1], c->p[0], c->p[1], c->d[0], c->d[1], c->op[0],
             c->op[1], c->groups);
    th_op op = conv_op(c, TRANSPOSE, name, false);
    th_run_op(&op);
}

/* Finite differences of the CPU forward against the CPU backward: the forward is linear in each
 * input, so the central difference is exact up to f32 rounding of the loss. */
static void gradcheck(const ccase *c, enum kind k)
{
    char name[200];
    snprintf(name, sizeof name, "gradcheck %s x %lldx%lldx%lldx%lld o %lld k %lldx%lld s%dx%d p%dx%d d%dx%d op%dx%d g%d",
             k == TRANSPOSE ? "conv_transpose2d" : "conv2d", (long long)c->n, (long long)c->c, (long long)c->h,
             (long long)c->w, (long long)c->o, (long long)c->kh, (long long)c->kw, c->s[0], c->s[1], c->p[0], c->p[1],
             c->d[0], c->d[1], c->op[0], c->op[1], c->groups);
    th_op op = conv_op(c, k, name, true);
    th_run_op(&op);
}

/* ---------------------------------------------------------------- adjoint, views, empty */

static double dot(const vkdl_tensor *a, const vkdl_tensor *b)
{
    float *u = th_download(a), *v = th_download(b);
    double s = 0;
    for (int64_t i = 0; i < vkdl_tensor_numel(a); i++)
        s += (double)u[i] * v[i];
    free(u);
    free(v);
    return s;
}

/* <conv(x), dy> = <x, backward_data(dy)> on both backends, for a strided, dilated, grouped case. */
static void run_adjoint(void *arg)
{
    (void)arg;
    vkdl_conv2d_info info = {.stride = {2, 3}, .padding = {1, 2}, .dilation = {2, 1}, .groups = 2};
    int64_t xs[4] = {2, 6, 13, 11}, ws[4] = {10, 3, 3, 4}, ys[4] = {2, 10, 6, 4};
    th_pair x = th_rand(VKDL_F32, 4, xs, -1, 1), w = th_rand(VKDL_F32, 4, ws, -1, 1);
    th_pair dy = th_rand(VKDL_F32, 4, ys, -1, 1), y = th_empty(VKDL_F32, 4, ys), dx = th_empty(VKDL_F32, 4, xs);
    for (int gpu = 0; gpu < 2; gpu++) {
        vkdl_tensor *X = gpu ? x.gpu : x.cpu, *W = gpu ? w.gpu : w.cpu, *DY = gpu ? dy.gpu : dy.cpu;
        vkdl_tensor *Y = gpu ? y.gpu : y.cpu, *DX = gpu ? dx.gpu : dx.cpu;
        TH_OK(vkdl_conv2d(X, W, NULL, Y, &info));
        TH_OK(vkdl_conv2d_backward_data(DY, W, DX, &info));
        double l = dot(Y, DY), r = dot(X, DX);
        if (!(fabs(l - r) <= 1e-4 * fmax(1, fabs(l))))
            th_fail("%s: <conv(x), dy> = %.9g but <x, backward_data(dy)> = %.9g", gpu ? "gpu" : "cpu", l, r);
    }
    th_pair *all[] = {&x, &w, &dy, &y, &dx};
    for (size_t i = 0; i < TH_LEN(all); i++)
        th_free(all[i]);
}

/* x, w and out as views that start mid-buffer (nonzero binding offsets); the elements around the
 * output view stay untouched. */
static const ccase VIEW_CASE = {2, 5, 7, 9, 8, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1, {0, 0}, false, 0, NULL};
static const th_op VIEWS = {
    .name = "conv2d views", .op = CONV, .params = &VIEW_CASE, .n_in = 3, .n_out = 1, .forward = forward,
    .tol = &TH_TOL_GEMM,
    .in = {{.shape = TH_SHAPE(2, 5, 7, 9), .lo = -1, .hi = 1, .pad = {1, 1}},
           {.shape = TH_SHAPE(8, 5, 3, 3), .lo = -1, .hi = 1, .pad = {3, 0}}, {.shape = TH_SHAPE(8)}},
    .out = {{.shape = TH_SHAPE(2, 8, 7, 9), .pad = {3, 0}}},
};

/* Zero input channels: the output is the bias; an empty batch is a no-op; empty-pixel gradients. */
static void run_empty(void *arg)
{
    (void)arg;
    int64_t xs[4] = {2, 0, 4, 4}, ws[4] = {3, 0, 3, 3}, ys[4] = {2, 3, 2, 2}, bs[1] = {3};
    th_pair x = th_rand(VKDL_F32, 4, xs, -1, 1), w = th_rand(VKDL_F32, 4, ws, -1, 1);
    th_pair b = th_rand(VKDL_F32, 1, bs, -1, 1), y = th_empty(VKDL_F32, 4, ys);
    TH_OK(vkdl_conv2d(x.cpu, w.cpu, b.cpu, y.cpu, NULL));
    TH_OK(vkdl_conv2d(x.gpu, w.gpu, b.gpu, y.gpu, NULL));
    th_compare(&y, TH_TOL_EXACT);
    int64_t xs2[4] = {0, 2, 4, 4}, ws2[4] = {3, 2, 3, 3}, ys2[4] = {0, 3, 2, 2};
    th_pair x2 = th_rand(VKDL_F32, 4, xs2, -1, 1), w2 = th_rand(VKDL_F32, 4, ws2, -1, 1);
    th_pair y2 = th_empty(VKDL_F32, 4, ys2), dw2 = th_empty(VKDL_F32, 4, ws2), db2 = th_empty(VKDL_F32, 1, bs);
    TH_OK(vkdl_conv2d(x2.gpu, w2.gpu, NULL, y2.gpu, NULL));
    TH_OK(vkdl_conv2d_backward_weight(x2.cpu, y2.cpu, dw2.cpu, db2.cpu, NULL));
    TH_OK(vkdl_conv2d_backward_weight(x2.gpu, y2.gpu, dw2.gpu, db2.gpu, NULL));
    th_compare(&dw2, TH_TOL_EXACT);
    th_compare(&db2, TH_TOL_EXACT);
    th_pair *all[] = {&x, &w, &b, &y, &x2, &w2, &y2, &dw2, &db2};
    for (size_t i = 0; i < TH_LEN(all); i++)
        th_free(all[i]);
}

/* ---------------------------------------------------------------- bad arguments */

static void run_bad(void *arg)
{
    (void)arg;
    vkdl_context *ctx = th_gpu;
    int64_t xs[4] = {2, 4, 8, 8}, ws[4] = {6, 4, 3, 3}, ys[4] = {2, 6, 6, 6}, bs[1] = {6};
    vkdl_tensor *x, *w, *y, *b, *t;
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, xs, &x));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, ws, &w));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, ys, &y));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, bs, &b));
    vkdl_conv2d_info info = {0};
    TH_STATUS(vkdl_conv2d(NULL, w, NULL, y, &info), VKDL_ERROR_INVALID_ARGUMENT, "conv2d: x is NULL");
    TH_STATUS(vkdl_conv2d(x, w, NULL, NULL, &info), VKDL_ERROR_INVALID_ARGUMENT, "out is NULL");
    TH_STATUS(vkdl_conv2d_backward_weight(x, y, NULL, NULL, &info), VKDL_ERROR_INVALID_ARGUMENT, "dw is NULL");

    int64_t xc[4] = {2, 5, 8, 8};
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, xc, &t));
    TH_STATUS(vkdl_conv2d(t, w, NULL, y, &info), VKDL_ERROR_SHAPE_MISMATCH, "expects 4 input channels");
    vkdl_tensor_destroy(t);
    info.groups = 4; /* w expects 4 * 4 channels */
    TH_STATUS(vkdl_conv2d(x, w, NULL, y, &info), VKDL_ERROR_SHAPE_MISMATCH, "groups 4 must divide");
    info.groups = 3; /* does not divide C = 4 */
    TH_STATUS(vkdl_conv2d(x, w, NULL, y, &info), VKDL_ERROR_SHAPE_MISMATCH, "groups 3 must divide");
    info.groups = -1;
    TH_STATUS(vkdl_conv2d(x, w, NULL, y, &info), VKDL_ERROR_INVALID_ARGUMENT, "groups -1");
    info.groups = 0;
    info.stride[1] = -2;
    TH_STATUS(vkdl_conv2d(x, w, NULL, y, &info), VKDL_ERROR_INVALID_ARGUMENT, "must be positive");
    info.stride[1] = 0;
    info.dilation[0] = -1;
    TH_STATUS(vkdl_conv2d(x, w, NULL, y, &info), VKDL_ERROR_INVALID_ARGUMENT, "must be positive");
    info.dilation[0] = 0;
    info.padding[0] = -1;
    TH_STATUS(vkdl_conv2d(x, w, NULL, y, &info), VKDL_ERROR_INVALID_ARGUMENT, "must not be negative");
    info.padding[0] = 0;

    int64_t big[4] = {6, 4, 11, 3};
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, big, &t));
    TH_STATUS(vkdl_conv2d(x, t, NULL, y, &info), VKDL_ERROR_SHAPE_MISMATCH, "larger than the padded input");
    vkdl_tensor_destroy(t);
    int64_t ybad[4] = {2, 6, 7, 6};
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, ybad, &t));
    TH_STATUS(vkdl_conv2d(x, w, NULL, t, &info), VKDL_ERROR_SHAPE_MISMATCH, "out is 2x6x7x6, expected 2x6x6x6");
    TH_STATUS(vkdl_conv2d_backward_data(t, w, x, &info), VKDL_ERROR_SHAPE_MISMATCH, "dy is 2x6x7x6");
    TH_STATUS(vkdl_conv2d_backward_weight(x, t, w, NULL, &info), VKDL_ERROR_SHAPE_MISMATCH, "dy is 2x6x7x6");
    vkdl_tensor_destroy(t);
    int64_t bbad[1] = {5};
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, bbad, &t));
    TH_STATUS(vkdl_conv2d(x, w, t, y, &info), VKDL_ERROR_SHAPE_MISMATCH, "bias is 5, expected [6]");
    TH_STATUS(vkdl_conv2d_backward_weight(x, y, w, t, &info), VKDL_ERROR_SHAPE_MISMATCH, "dbias is 5");
    vkdl_tensor_destroy(t);
    TH_OK(vkdl_tensor_create(ctx, VKDL_I32, 4, xs, &t));
    TH_STATUS(vkdl_conv2d(t, w, NULL, y, &info), VKDL_ERROR_DTYPE_MISMATCH, "conv2d");
    vkdl_tensor_destroy(t);
    int64_t x3[3] = {4, 8, 8};
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 3, x3, &t));
    TH_STATUS(vkdl_conv2d(t, w, NULL, y, &info), VKDL_ERROR_SHAPE_MISMATCH, "expected 4 dims");
    vkdl_tensor_destroy(t);
    TH_STATUS(vkdl_conv2d(x, w, NULL, y, &(vkdl_conv2d_info){.output_padding = {1, 0}}), VKDL_ERROR_INVALID_ARGUMENT,
              "output_padding (1, 0) must be smaller");

    /* conv_transpose2d: x [2, 6, 6, 6] with w [6, 4, 3, 3] gives out [2, 4, 8, 8]. */
    TH_OK(vkdl_conv_transpose2d(y, w, NULL, x, &info));
    vkdl_conv2d_info tr = {.stride = {2, 2}, .padding = {1, 1}, .dilation = {1, 1}, .groups = 1,
                           .output_padding = {2, 0}};
    TH_STATUS(vkdl_conv_transpose2d(y, w, NULL, x, &tr), VKDL_ERROR_INVALID_ARGUMENT, "output_padding (2, 0)");
    tr.output_padding[0] = 1;
    TH_STATUS(vkdl_conv_transpose2d(y, w, NULL, x, &tr), VKDL_ERROR_SHAPE_MISMATCH, "out is 2x4x8x8, expected 2x4x12x11");
    TH_STATUS(vkdl_conv_transpose2d(x, w, NULL, y, NULL), VKDL_ERROR_SHAPE_MISMATCH, "expects 6 input channels");
    TH_STATUS(vkdl_conv_transpose2d(y, w, b, x, NULL), VKDL_ERROR_SHAPE_MISMATCH, "bias is 6, expected [4]");
    vkdl_conv2d_info pad = {.padding = {9, 9}};
    TH_STATUS(vkdl_conv_transpose2d(y, w, NULL, x, &pad), VKDL_ERROR_SHAPE_MISMATCH, "leaves no output");
    TH_STATUS(vkdl_conv_transpose2d_backward_weight(y, x, w, b, NULL), VKDL_ERROR_SHAPE_MISMATCH, "dbias is 6");

    vkdl_tensor *cx;
    TH_OK(vkdl_tensor_create(th_cpu, VKDL_F32, 4, xs, &cx));
    TH_STATUS(vkdl_conv2d(cx, w, NULL, y, NULL), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    vkdl_tensor_destroy(cx);
    vkdl_tensor_destroy(x);
    vkdl_tensor_destroy(w);
    vkdl_tensor_destroy(y);
    vkdl_tensor_destroy(b);
}

/* ---------------------------------------------------------------- the suite */


/* ---------------------------------------------------------------- rows: the fused epilogue */

/* conv2d with vkdl_conv2d_epilogue_info: params points at an epi_case. */
typedef struct epi_case {
    ccase c;
    vkdl_unary_op act;
    float alpha, beta;
} epi_case;

static vkdl_status forward_epi(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    const epi_case *e = op->params;
    vkdl_conv2d_epilogue_info epi = {.type = VKDL_STRUCTURE_TYPE_CONV2D_EPILOGUE_INFO, .act = e->act,
                                     .alpha = e->alpha, .beta = e->beta};
    vkdl_conv2d_info info = info_of(&e->c);
    info.next = &epi;
    return vkdl_conv2d(in[0], in[1], e->c.bias ? in[2] : NULL, out[0], &info);
}

/* Each backend's fused result equals its own convolution followed by vkdl_unary_with. */
static void check_epi(const th_op *op, const th_op_result *cpu, const th_op_result *gpu)
{
    const epi_case *e = op->params;
    const th_op_result *r[2] = {cpu, gpu};
    for (int b = 0; b < 2; b++) {
        vkdl_context *ctx = vkdl_tensor_context(r[b]->out[0]);
        vkdl_tensor *y;
        int64_t shape[4];
        for (int d = 0; d < 4; d++)
            shape[d] = vkdl_tensor_dim(r[b]->out[0], d);
        if (!TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, shape, &y)))
            return;
        vkdl_conv2d_info info = info_of(&e->c);
        vkdl_unary_info ui = {.alpha = e->alpha, .beta = e->beta};
        if (TH_OK(vkdl_conv2d(r[b]->in[0], r[b]->in[1], e->c.bias ? r[b]->in[2] : NULL, y, &info)) &&
            TH_OK(vkdl_unary_with(e->act, y, &ui, y))) {
            th_pair pr = {r[b]->out[0], y};
            if (!th_compare(&pr, TH_TOL_F32))
                th_fail("%s: fused epilogue differs from conv then %s", TH_BACKEND[b], vkdl_unary_op_name(e->act));
        }
        vkdl_tensor_destroy(y);
    }
}

static void conv_epilogue(void)
{
    /* One geometry per kernel path: GEMM (texel4 with CO % 4 == 0, texel1 otherwise), the tiled GPU
     * kernel (the no-cpu-quirk variant), DIRECT (depthwise) and the 1x1 matmul shortcut. */
    static const ccase geoms[] = {
        {3, 16, 17, 17, 32, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1, {0, 0}, true, TH_VS_ALL, NULL},
        {1, 17, 17, 13, 17, 3, 3, {2, 2}, {1, 1}, {1, 1}, 1, {0, 0}, false, 0, NULL},
        {3, 17, 17, 17, 17, 3, 3, {1, 1}, {1, 1}, {1, 1}, 17, {0, 0}, true, TH_VS_ALL, NULL},
        {3, 16, 17, 17, 32, 1, 1, {1, 1}, {0, 0}, {1, 1}, 1, {0, 0}, true, 0, NULL},
    };
    static const struct { vkdl_unary_op act; float alpha, beta; } acts[] = {
        {VKDL_RELU, 0, 0}, {VKDL_LEAKY_RELU, 0.2f, 0}, {VKDL_HARDSIGMOID, 1.0f / 6, 0.5f}, {VKDL_HARDSWISH, 0, 0},
        {VKDL_CLIP, 0, 6}, {VKDL_SIGMOID, 0, 0},
    };
    static epi_case cases[TH_LEN(geoms) * TH_LEN(acts)];
    static char names[TH_LEN(cases)][160];
    size_t k = 0;
    for (size_t g = 0; g < TH_LEN(geoms); g++)
        for (size_t a = 0; a < TH_LEN(acts); a++, k++) {
            cases[k] = (epi_case){geoms[g], acts[a].act, acts[a].alpha, acts[a].beta};
            snprintf(names[k], sizeof names[k], "conv2d epilogue %s(%g,%g) geometry %zu", vkdl_unary_op_name(acts[a].act),
                     acts[a].alpha, acts[a].beta, g);
            th_op op = conv_op(&cases[k].c, CONV, names[k], false);
            op.params = &cases[k];
            op.forward = forward_epi;
            op.backward = NULL;
            op.check = check_epi;
            if (a > 0)
                op.variants = 0;                         /* every kernel variant once, with relu */
            th_run_op(&op);
        }
}

/* The epilogue is the forward's: the backward passes and autograd refuse it. */
static void run_epi_refusals(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    int64_t xs[4] = {1, 2, 5, 5}, ws[4] = {2, 2, 3, 3};
    vkdl_tensor *x, *w, *y;
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, xs, &x));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, ws, &w));
    int64_t ys[4] = {1, 2, 3, 3};
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, ys, &y));
    vkdl_conv2d_epilogue_info epi = {.type = VKDL_STRUCTURE_TYPE_CONV2D_EPILOGUE_INFO, .act = VKDL_RELU};
    vkdl_conv2d_info info = {.next = &epi};
    TH_STATUS(vkdl_conv2d_backward_data(y, w, x, &info), VKDL_ERROR_INVALID_ARGUMENT, "conv2d_backward_data");
    TH_STATUS(vkdl_conv2d_backward_weight(x, y, w, NULL, &info), VKDL_ERROR_INVALID_ARGUMENT, NULL);
    epi.act = (vkdl_unary_op)99;
    TH_STATUS(vkdl_conv2d(x, w, NULL, y, &info), VKDL_ERROR_INVALID_ARGUMENT, "epilogue act 99");
    vkdl_tensor *out;
    epi.act = VKDL_RELU;
    TH_STATUS(vkdl_f_conv2d(x, w, NULL, &info, &out), VKDL_ERROR_INVALID_ARGUMENT, "f_conv2d");
    vkdl_tensor_destroy(x);
    vkdl_tensor_destroy(w);
    vkdl_tensor_destroy(y);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);

    /* N, C, H, W, O, KH, KW, stride, pad, dilation, groups, bias */
    conv(1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, false);
    conv(1, 3, 5, 5, 3, 3, 3, 1, 1, 1, 1, true);
    conv(3, 17, 17, 17, 17, 3, 3, 1, 1, 1, 1, true);
    conv(3, 17, 31, 17, 17, 3, 3, 2, 1, 1, 1, false);
    conv(1, 3, 31, 31, 17, 7, 7, 2, 3, 1, 1, true);
    conv(3, 17, 17, 5, 3, 5, 3, 1, 2, 1, 1, true);
    conv(1, 17, 31, 31, 17, 5, 3, 3, 0, 2, 1, false);
    conv(3, 3, 17, 31, 17, 3, 3, 3, 3, 2, 1, true);
    conv(3, 17, 17, 17, 1, 1, 1, 1, 0, 1, 1, true);
    conv(1, 17, 5, 17, 17, 1, 1, 2, 0, 1, 1, false);
    conv(3, 16, 17, 17, 32, 1, 1, 1, 0, 1, 1, true);
    conv(3, 16, 17, 17, 32, 3, 3, 1, 1, 1, 1, true);
    conv(1, 8, 31, 17, 64, 3, 3, 2, 1, 1, 1, false);
    conv(3, 34, 17, 17, 34, 3, 3, 1, 1, 1, 2, true);
    conv(1, 6, 31, 31, 12, 5, 3, 2, 2, 1, 2, false);
    conv(3, 17, 17, 31, 17, 3, 3, 1, 1, 1, 17, true);
    conv(3, 17, 31, 31, 17, 3, 3, 2, 1, 1, 17, false);
    conv(1, 17, 17, 17, 34, 5, 3, 1, 2, 2, 17, true);
    conv(1, 3, 31, 31, 3, 7, 7, 3, 3, 2, 3, true);
    conv(3, 17, 1, 31, 17, 1, 5, 1, 2, 1, 1, true);
    conv(3, 17, 1, 31, 17, 1, 3, 2, 1, 2, 17, false);
    conv(1, 17, 5, 5, 17, 5, 5, 1, 0, 1, 1, true);
    conv(64, 16, 16, 16, 16, 3, 3, 1, 1, 1, 1, true);
    conv(64, 16, 16, 16, 16, 3, 3, 1, 1, 1, 16, true);

    static const ccase asym[] = {
        {3, 17, 17, 31, 17, 5, 3, {2, 1}, {2, 0}, {1, 2}, 1, {0, 0}, true, 0, NULL},
        {1, 6, 17, 17, 9, 3, 5, {3, 2}, {0, 3}, {2, 1}, 3, {0, 0}, false, 0, NULL},
        {3, 17, 17, 17, 17, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1, {0, 0}, true, TH_VS_ONLY(TH_V_NO_CPU_QUIRK), NULL},
        {3, 17, 31, 17, 34, 5, 3, {2, 3}, {2, 1}, {2, 1}, 1, {0, 0}, true, TH_VS_ONLY(TH_V_NO_CPU_QUIRK), NULL},
        {3, 34, 17, 17, 34, 3, 3, {2, 2}, {1, 1}, {1, 1}, 2, {0, 0}, false, TH_VS_ONLY(TH_V_NO_CPU_QUIRK), NULL},
        {3, 17, 17, 17, 17, 3, 3, {2, 1}, {1, 1}, {1, 1}, 17, {0, 0}, true, TH_VS_ONLY(TH_V_NO_CPU_QUIRK), NULL},
        {8, 16, 16, 16, 16, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1, {0, 0}, true, TH_VS_ONLY(TH_V_NO_CPU_QUIRK), NULL},
    };
    for (size_t i = 0; i < TH_LEN(asym); i++)
        conv_full(&asym[i], "asym");
    conv_epilogue();
    th_run_both("conv2d epilogue refusals", run_epi_refusals);
    /* The storage kernels, which CPU drivers take only when a texel view cannot hold an operand and
     * GPUs only with the tiled kernels turned off (the fallback of VKDL_DISABLE=conv_tiled). */
    static const char STORAGE[] = "conv_texel4,conv_texel1,conv_tiled,conv_wgrad_texel4,conv_wgrad_texel1,"
                                  "conv_wgrad_tiled";
    static const ccase storage[] = {
        {3, 17, 17, 31, 17, 5, 3, {2, 1}, {2, 0}, {1, 2}, 1, {0, 0}, true, TH_VS_ALL, STORAGE},
        {3, 34, 17, 17, 34, 3, 3, {2, 2}, {1, 1}, {1, 1}, 2, {0, 0}, false, TH_VS_ALL, STORAGE},
    };
    for (size_t i = 0; i < TH_LEN(storage); i++)
        conv_full(&storage[i], "storage-kernels");

    static const ccase trs[] = {
        {1, 3, 5, 5, 3, 3, 3, {1, 1}, {0, 0}, {1, 1}, 1, {0, 0}, true, 0, NULL},
        {3, 17, 5, 17, 17, 3, 3, {2, 2}, {1, 1}, {1, 1}, 1, {1, 1}, true, 0, NULL},
        {3, 16, 17, 17, 8, 5, 3, {3, 2}, {2, 1}, {1, 2}, 1, {2, 1}, false, 0, NULL},
        {1, 17, 17, 5, 17, 3, 3, {2, 2}, {1, 1}, {1, 1}, 17, {1, 0}, true, 0, NULL},
        {3, 6, 5, 5, 12, 3, 3, {1, 1}, {1, 1}, {2, 2}, 2, {1, 0}, true, 0, NULL},
        {3, 17, 17, 17, 17, 4, 4, {2, 2}, {1, 1}, {1, 1}, 1, {0, 0}, true, TH_VS_ONLY(TH_V_NO_CPU_QUIRK), NULL},
        {3, 17, 17, 17, 17, 3, 3, {3, 2}, {1, 1}, {1, 1}, 17, {2, 1}, true, TH_VS_ONLY(TH_V_NO_CPU_QUIRK), NULL},
    };
    for (size_t i = 0; i < TH_LEN(trs); i++)
        transpose(&trs[i]);

    static const ccase gcs[] = {
        {2, 3, 5, 4, 4, 3, 3, {1, 1}, {1, 1}, {1, 1}, 1, {0, 0}, true, 0, NULL},
        {1, 4, 7, 6, 6, 3, 2, {2, 3}, {1, 2}, {2, 1}, 2, {0, 0}, true, 0, NULL},
        {2, 3, 5, 5, 3, 3, 3, {2, 1}, {1, 0}, {1, 1}, 3, {0, 0}, true, 0, NULL},
        {1, 2, 1, 9, 3, 1, 3, {1, 2}, {0, 1}, {1, 2}, 1, {0, 0}, true, 0, NULL},
    };
    for (size_t i = 0; i < TH_LEN(gcs); i++)
        gradcheck(&gcs[i], CONV);
    static const ccase gct[] = {
        {2, 3, 3, 4, 4, 3, 3, {2, 2}, {1, 1}, {1, 1}, 1, {1, 0}, true, 0, NULL},
        {1, 4, 3, 3, 2, 3, 2, {1, 2}, {0, 1}, {2, 1}, 2, {1, 1}, true, 0, NULL},
    };
    for (size_t i = 0; i < TH_LEN(gct); i++)
        gradcheck(&gct[i], TRANSPOSE);

    th_run("conv2d adjoint of backward_data", run_adjoint, NULL);
    th_run_op(&VIEWS);
    th_run("conv2d empty", run_empty, NULL);
    th_run("conv2d bad arguments", run_bad, NULL);
    return th_finish();
}
