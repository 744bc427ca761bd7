/* Batch norm, layer norm and RMS norm (lib/ops/norm.c) against the CPU twin: rows from 1 to
 * 100000 long, channels over up to 10^6 elements, optional tensors absent, every way a workgroup
 * combines, inputs with a large offset (x = 1000 + noise, where E[x^2] - E[x]^2 in f32 is all
 * rounding error), the running-statistics update and eval mode checked against the formula, and
 * every backward by finite differences of the CPU forward and GPU against CPU. Each case is a
 * th_op row; the forward, backward, gradcheck and eval rows of a shape differ in what they pass.
 * Tolerances: TH_TOL_F32 throughout, except that dx where it is rounding noise around 0 (batch
 * norm with two values per channel, RMS norm of rows of one) drops the NMSE part. The saved mean
 * of an offset input is ~1000, where the relative part of TH_TOL_F32 covers its f32 rounding. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const float EPS = 1e-5f;

/* Gradcheck steps: f32 forward outputs of size ~1 give finite-difference noise ~1e-4 at this
 * step, and the curvature error is below that. */
#define GC_EPS 1e-3
#define GC_TOL 5e-3

static int64_t numel_of(int ndim, const int64_t *s)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= s[i];
    return n;
}

/* Each case family's rows, by what the row runs (th_op.op). */
enum kind { FWD, BWD, GRADCHECK, EVAL, RUNNING };
static const char *const KIND_NAMES[] = {"", " backward", " gradcheck", " eval", ""};

/* x: uniform [-1.5, 2.5), or 1000 + uniform [-0.01, 0.01). Not centred on 0: a saved mean near 0
 * is all cancellation, and its relative error says nothing. */
static th_input input_x(int ndim, const int64_t *s, bool offset)
{
    th_input x = {.shape = {ndim, {0}}, .lo = offset ? 999.99f : -1.5f, .hi = offset ? 1000.01f : 2.5f};
    memcpy(x.shape.d, s, (size_t)ndim * sizeof *s);
    return x;
}

static th_input input_vec(int64_t n, float lo, float hi) { return (th_input){.shape = {1, {n}}, .lo = lo, .hi = hi}; }

/* Where dx is rounding noise around 0 (the normalised output is +-1 whatever x is), only the
 * elementwise bound applies, not the relative (NMSE) one. */
static const th_tol NOISE_DX = {1e-5, 1e-4, 1};

/* ---------------------------------------------------------------- layer norm / RMS norm */

typedef struct row_case {
    bool rms;
    int ndim;
    int64_t shape[4];
    bool gamma, beta, save;
    bool offset;
    unsigned variants;
} row_case;

static void row_name(const row_case *c, enum kind k, char *name, size_t n)
{
    char dims[64];
    th_shape s = {c->ndim, {0}};
    memcpy(s.d, c->shape, sizeof c->shape);
    snprintf(name, n, "%s%s %s%s%s%s%s", c->rms ? "rmsnorm" : "layernorm", KIND_NAMES[k],
             th_shape_str(&s, dims, sizeof dims), c->gamma ? "" : " no-gamma", c->beta || c->rms ? "" : " no-beta",
             c->save ? "" : " no-save", c->offset ? " offset" : "");
}

/* Inputs x, gamma, beta; outputs y, then save_mean (layer norm) and save_rstd. The forward rows
 * pass what the case's flags say; the backward rows' forward has no beta and always saves (its
 * flags pick the gradients); gradcheck rows pass gamma and beta as flagged and always save. */
static vkdl_status row_forward(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    const row_case *c = op->params;
    bool save = op->op != FWD || c->save;
    vkdl_tensor *g = c->gamma ? in[1] : NULL, *b = c->beta && op->op != BWD ? in[2] : NULL;
    vkdl_tensor *m = save && !c->rms ? out[1] : NULL, *r = save ? out[c->rms ? 1 : 2] : NULL;
    return c->rms ? vkdl_rmsnorm(in[0], g, EPS, out[0], r) : vkdl_layernorm(in[0], g, b, EPS, out[0], m, r);
}

static vkdl_status row_backward(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out,
                                vkdl_tensor *const *dout, vkdl_tensor *const *din)
{
    const row_case *c = op->params;
    vkdl_tensor *g = c->gamma ? in[1] : NULL;
    if (c->rms)
        return vkdl_rmsnorm_backward(dout[0], in[0], g, out[1], din[0], din[1]);
    return vkdl_layernorm_backward(dout[0], in[0], g, out[1], out[2], din[0], din[1], din[2]);
}

/* Offset rows without gamma and beta really have mean 0 and variance var / (var + eps). */
static void row_moments(const th_op *op, const th_op_result *cpu, const th_op_result *gpu)
{
    (void)cpu;
    const row_case *c = op->params;
    int64_t d = c->shape[c->ndim - 1], rows = numel_of(c->ndim, c->shape) / d;
    const float *xv = gpu->before[0];
    float *v = th_download(gpu->out[0]);
    for (int64_t i = 0; i < rows; i++) {
        double mu = 0, s = 0;
        for (int64_t k = 0; k < d; k++)
            mu += xv[i * d + k];
        mu /= (double)d;
        for (int64_t k = 0; k < d; k++)
            s += (xv[i * d + k] - mu) * (xv[i * d + k] - mu);
        double want = (s / (double)d) / (s / (double)d + EPS), mean = 0, var = 0;
        for (int64_t k = 0; k < d; k++)
            mean += v[i * d + k];
        mean /= (double)d;
        for (int64_t k = 0; k < d; k++)
            var += (v[i * d + k] - mean) * (v[i * d + k] - mean);
        var /= (double)d;
        if (d > 1 && (fabs(mean) > 1e-4 || fabs(var - want) > 1e-4)) {
            th_fail("row %lld: mean %g, variance %g, want 0 and %g", (long long)i, mean, var, want);
            break;
        }
    }
    free(v);
}

static th_op row_op(const row_case *c, enum kind k, const char *name)
{
    int64_t d = c->shape[c->ndim - 1], rows = numel_of(c->ndim, c->shape) / d;
    bool save = k != FWD || c->save;
    th_op op = {.name = name, .op = k, .params = c, .n_in = 3, .forward = row_forward, .tol = &TH_TOL_F32,
                .variants = k == GRADCHECK ? 0 : c->variants};
    op.in[0] = input_x(c->ndim, c->shape, c->offset && k != GRADCHECK);
    op.in[1] = input_vec(d, 0.5f, 1.5f);
    op.in[2] = input_vec(d, -0.5f, 0.5f);
    op.n_out = 1 + (save ? (c->rms ? 1 : 2) : 0);
    op.out[0].shape = op.in[0].shape;
    for (int o = 1; o < op.n_out; o++)
        op.out[o] = (th_output){.shape = {1, {rows}}, .no_grad = true};
    if (k == FWD && c->offset && !c->gamma && !c->beta && !c->rms && rows > 0)
        op.check = row_moments;
    if (k == FWD)
        return op;
    op.backward = row_backward;
    if (d == 1)
        op.in[0].grad_tol = &NOISE_DX;
    /* backward rows: save=false means only dx (the row kernel alone) */
    bool dg = k == BWD ? c->save : c->gamma, db = !c->rms && (k == BWD ? c->save && c->beta : c->beta);
    op.no_grad = (dg ? 0 : 2u) | (db ? 0 : 4u);
    if (k == GRADCHECK)
        op.grad = (th_grad){200, GC_EPS, GC_TOL};
    return op;
}

static void run_row(const row_case *c, enum kind k)
{
    char name[200];
    row_name(c, k, name, sizeof name);
    th_op op = row_op(c, k, name);
    th_run_op(&op);
}

/* ---------------------------------------------------------------- batch norm */

typedef struct bn_case {
    int ndim;
    int64_t shape[4];
    bool gamma, beta, running, save;
    bool offset;
    unsigned variants;
} bn_case;

static void bn_name(const bn_case *c, enum kind k, char *name, size_t n)
{
    char dims[64];
    th_shape s = {c->ndim, {0}};
    memcpy(s.d, c->shape, sizeof c->shape);
    snprintf(name, n, "batchnorm%s %s%s%s%s%s%s", KIND_NAMES[k], th_shape_str(&s, dims, sizeof dims),
             c->gamma ? "" : " no-gamma", c->beta ? "" : " no-beta", c->running ? "" : " no-running",
             c->save ? "" : " no-save", c->offset ? " offset" : "");
}

static const float RUNNING_MOMENTUM = 0.25f;

/* Inputs x, gamma, beta, running_mean, running_var; outputs y, save_mean, save_rstd. Forward rows
 * pass what the flags say; backward rows' forward has neither beta nor running statistics and
 * always saves (the flags pick dx, dgamma, dbeta); gradcheck rows pass gamma and beta as flagged;
 * eval rows pass the running statistics and a save_mean that must stay untouched. */
static vkdl_status bn_forward(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    const bn_case *c = op->params;
    vkdl_tensor *g = c->gamma ? in[1] : NULL, *b = c->beta && op->op != BWD ? in[2] : NULL;
    bool running = op->op == EVAL || op->op == RUNNING || (op->op == FWD && c->running);
    bool save = op->op == BWD || op->op == GRADCHECK || (op->op == FWD && c->save);
    float mom = op->op == RUNNING ? RUNNING_MOMENTUM : 0.1f;
    return vkdl_batchnorm(in[0], g, b, running ? in[3] : NULL, running ? in[4] : NULL, op->op != EVAL, mom, EPS,
                          out[0], save || op->op == EVAL ? out[1] : NULL, save ? out[2] : NULL);
}

static vkdl_status bn_backward(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out,
                               vkdl_tensor *const *dout, vkdl_tensor *const *din)
{
    const bn_case *c = op->params;
    return vkdl_batchnorm_backward(dout[0], in[0], c->gamma ? in[1] : NULL, out[1], out[2], din[0], din[1], din[2]);
}

static th_op bn_op(const bn_case *c, enum kind k, const char *name)
{
    int64_t ch = c->shape[1];
    bool save = k == BWD || k == GRADCHECK || c->save;
    th_op op = {.name = name, .op = k, .params = c, .n_in = 5, .forward = bn_forward, .tol = &TH_TOL_F32,
                .variants = k == FWD || k == BWD ? c->variants : 0};
    op.in[0] = input_x(c->ndim, c->shape, c->offset && k != GRADCHECK);
    op.in[1] = input_vec(ch, 0.5f, 1.5f);
    op.in[2] = input_vec(ch, -0.5f, 0.5f);
    op.in[3] = input_vec(ch, -1.0f, 1.0f);
    op.in[4] = input_vec(ch, k == EVAL ? 0.0f : 0.5f, 2.0f);
    op.out[0].shape = op.in[0].shape;
    op.n_out = k == EVAL ? 2 : save ? 3 : 1;
    for (int o = 1; o < 3; o++)
        op.out[o] = (th_output){.shape = {1, {ch}}, .no_grad = true};
    if (k == EVAL) {
        /* running statistics are only read, and save_mean is left alone */
        op.in[3].inout = op.in[4].inout = true;
        op.in[3].tol = op.in[4].tol = op.out[1].tol = &TH_TOL_EXACT;
        op.out[1].accumulate = true;
    }
    if (k == FWD)
        op.in[3].inout = op.in[4].inout = c->running;
    if (k == FWD || k == EVAL || k == RUNNING)
        return op;
    op.backward = bn_backward;
    op.no_grad = 8u | 16u;
    if (k == BWD)
        op.no_grad |= (c->save ? 0 : 1u) | (c->gamma ? 0 : 2u) | (c->beta ? 0 : 4u);
    else
        op.no_grad |= (c->gamma ? 0 : 2u) | (c->beta ? 0 : 4u);
    if (numel_of(c->ndim, c->shape) / ch <= 2)
        op.in[0].grad_tol = &NOISE_DX;
    if (k == GRADCHECK)
        op.grad = (th_grad){200, GC_EPS, GC_TOL};
    return op;
}

static void run_bn(const bn_case *c, enum kind k)
{
    char name[200];
    bn_name(c, k, name, sizeof name);
    th_op op = bn_op(c, k, name);
    th_run_op(&op);
}

/* Training updates running stats with the unbiased variance; eval then normalises with them. Both
 * backends against the formula, in double from the inputs, and eval device against CPU. */
static void bn_formula(const th_op *op, const th_op_result *cpu, const th_op_result *gpu)
{
    const bn_case *c = op->params;
    const int64_t ch = c->shape[1], hw = c->shape[2] * c->shape[3], nb = c->shape[0], per = nb * hw;
    const float *xv = cpu->before[0], *rm0 = cpu->before[3], *rv0 = cpu->before[4];
    const float *gv = cpu->before[1], *bv = cpu->before[2];
    double *want_m = malloc((size_t)ch * sizeof *want_m), *want_v = malloc((size_t)ch * sizeof *want_v);
    for (int k = 0; k < ch; k++) {
        double mu = 0, m2 = 0;
        for (int64_t n = 0; n < nb; n++)
            for (int64_t i = 0; i < hw; i++)
                mu += xv[(n * ch + k) * hw + i];
        mu /= (double)per;
        for (int64_t n = 0; n < nb; n++)
            for (int64_t i = 0; i < hw; i++)
                m2 += (xv[(n * ch + k) * hw + i] - mu) * (xv[(n * ch + k) * hw + i] - mu);
        want_m[k] = (1 - RUNNING_MOMENTUM) * rm0[k] + RUNNING_MOMENTUM * mu;
        want_v[k] = (1 - RUNNING_MOMENTUM) * rv0[k] + RUNNING_MOMENTUM * m2 / (double)(per - 1);
    }
    th_pair ye = th_empty(VKDL_F32, c->ndim, c->shape);
    for (int side = 0; side < 2; side++) {
        const th_op_result *r = side ? gpu : cpu;
        const char *who = side ? "gpu" : "cpu";
        float *gm = th_download(r->in[3]), *gvv = th_download(r->in[4]);
        for (int k = 0; k < ch; k++)
            if (fabs(gm[k] - want_m[k]) > 1e-5 * (1 + fabs(want_m[k])) ||
                fabs(gvv[k] - want_v[k]) > 1e-5 * (1 + fabs(want_v[k])))
                th_fail("%s channel %d: running mean %.7g var %.7g, want %.7g %.7g", who, k, gm[k], gvv[k],
                        want_m[k], want_v[k]);
        vkdl_tensor *y = side ? ye.gpu : ye.cpu;
        TH_OK(vkdl_batchnorm(r->in[0], r->in[1], r->in[2], r->in[3], r->in[4], 0, RUNNING_MOMENTUM, EPS, y, NULL,
                             NULL));
        float *ev = th_download(y);
        for (int64_t i = 0; i < nb * ch * hw; i++) {
            int k = (int)((i / hw) % ch);
            double want = (xv[i] - gm[k]) / sqrt((double)gvv[k] + EPS) * gv[k] + bv[k];
            if (fabs(ev[i] - want) > 1e-5 * (1 + fabs(want))) {
                th_fail("%s eval [%lld]: %.7g, want %.7g", who, (long long)i, ev[i], want);
                break;
            }
        }
        free(gm);
        free(gvv);
        free(ev);
    }
    th_compare(&ye, TH_TOL_F32);
    th_free(&ye);
    free(want_m);
    free(want_v);
}

static void run_bn_running(void)
{
    static const bn_case c = {.ndim = 4, .shape = {3, 5, 4, 3}, .gamma = true, .beta = true, .running = true};
    th_op op = bn_op(&c, RUNNING, "batchnorm running statistics and eval against the formula");
    op.in[0].lo = -3.0f, op.in[0].hi = 5.0f;
    op.in[3].inout = op.in[4].inout = true;
    op.n_out = 1;
    op.check = bn_formula;
    th_run_op(&op);
}

/* Views at element offsets that are not multiples of the descriptor alignment; the elements
 * around them stay untouched. */
static vkdl_status views_forward(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    (void)op;
    return vkdl_layernorm(in[0], in[1], NULL, EPS, out[0], NULL, out[1]);
}

static const th_op VIEWS = {
    .name = "views at offsets", .n_in = 2, .n_out = 2, .forward = views_forward, .tol = &TH_TOL_F32,
    .in = {{.shape = TH_SHAPE(5, 37), .lo = -2.0f, .hi = 2.0f, .pad = {3, 1}},
           {.shape = TH_SHAPE(37), .lo = 0.5f, .hi = 1.5f}},
    .out = {{.shape = TH_SHAPE(5, 37), .pad = {1, 3}}, {.shape = TH_SHAPE(5), .pad = {5, 3}}},
};

static void free_all(th_pair *p, int n)
{
    for (int i = 0; i < n; i++)
        th_free(&p[i]);
}

/* Empty batches: nothing to normalise, but parameter gradients are sums over nothing. */
static void run_empty(void *arg)
{
    (void)arg;
    int64_t s[2] = {0, 7}, d = 7, bs[4] = {0, 3, 2, 2}, c = 3;
    th_pair x = th_rand(VKDL_F32, 2, s, 0, 1), y = th_empty(VKDL_F32, 2, s), m = th_empty(VKDL_F32, 1, s);
    th_pair dg = th_empty(VKDL_F32, 1, &d), db = th_empty(VKDL_F32, 1, &d);
    TH_OK(vkdl_layernorm(x.cpu, NULL, NULL, EPS, y.cpu, m.cpu, m.cpu));
    TH_OK(vkdl_layernorm(x.gpu, NULL, NULL, EPS, y.gpu, m.gpu, m.gpu));
    TH_OK(vkdl_layernorm_backward(x.cpu, x.cpu, NULL, m.cpu, m.cpu, y.cpu, dg.cpu, db.cpu));
    TH_OK(vkdl_layernorm_backward(x.gpu, x.gpu, NULL, m.gpu, m.gpu, y.gpu, dg.gpu, db.gpu));
    th_compare(&dg, TH_TOL_EXACT);
    th_compare(&db, TH_TOL_EXACT);
    th_pair bx = th_rand(VKDL_F32, 4, bs, 0, 1), by = th_empty(VKDL_F32, 4, bs);
    th_pair rm = th_rand(VKDL_F32, 1, &c, 0, 1), bg = th_empty(VKDL_F32, 1, &c);
    TH_OK(vkdl_batchnorm(bx.gpu, NULL, NULL, rm.gpu, rm.gpu, 0, 0.1f, EPS, by.gpu, NULL, NULL));
    TH_OK(vkdl_batchnorm_backward(bx.cpu, bx.cpu, NULL, rm.cpu, rm.cpu, by.cpu, bg.cpu, NULL));
    TH_OK(vkdl_batchnorm_backward(bx.gpu, bx.gpu, NULL, rm.gpu, rm.gpu, by.gpu, bg.gpu, NULL));
    th_compare(&bg, TH_TOL_EXACT);
    th_pair all[] = {x, y, m, dg, db, bx, by, rm, bg};
    free_all(all, (int)TH_LEN(all));
}

static void run_bad(void *arg)
{
    (void)arg;
    vkdl_context *ctx = th_gpu;
    int64_t s4[4] = {2, 3, 4, 4}, s1[4] = {1, 3, 1, 1}, s5[5] = {1, 1, 1, 1, 1}, v3[1] = {3}, v4[1] = {4};
    int64_t r2[2] = {2, 4}, r0[2] = {2, 0}, v2[1] = {2};
    vkdl_tensor *x, *y, *xi, *c3, *c4, *x1, *y1, *x5, *xc, *rx, *ry, *rz, *rs, *r3, *rzy;
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, s4, &x));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, s4, &y));
    TH_OK(vkdl_tensor_create(ctx, VKDL_I32, 4, s4, &xi));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, v3, &c3));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, v4, &c4));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, s1, &x1));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, s1, &y1));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 5, s5, &x5));
    TH_OK(vkdl_tensor_create(th_cpu, VKDL_F32, 4, s4, &xc));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 2, r2, &rx));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 2, r2, &ry));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 2, r0, &rz));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 2, r0, &rzy));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, v2, &rs));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, v3, &r3));

    /* vkdl_batchnorm(x, gamma, NULL, running_mean, running_var, training, momentum, eps, out, NULL, NULL), each
     * with one argument bad */
    const struct {
        vkdl_tensor *x, *gamma, *rm, *rv;
        int training;
        float momentum, eps;
        vkdl_tensor *out;
        vkdl_status want;
        const char *needle;
    } BN[] = {
        {NULL, NULL, NULL, NULL, 1, 0.1f, EPS, y, VKDL_ERROR_INVALID_ARGUMENT, "batchnorm: x is NULL"},
        {x, NULL, NULL, NULL, 1, 0.1f, EPS, NULL, VKDL_ERROR_INVALID_ARGUMENT, "out is NULL"},
        {xi, NULL, NULL, NULL, 1, 0.1f, EPS, y, VKDL_ERROR_DTYPE_MISMATCH, "x is i32, expected f32"},
        {x, c4, NULL, NULL, 1, 0.1f, EPS, y, VKDL_ERROR_SHAPE_MISMATCH,
          "gamma is 4, expected [3] (the channels of x 2x3x4x4)"},
        {x, NULL, c3, c4, 1, 0.1f, EPS, y, VKDL_ERROR_SHAPE_MISMATCH, "running_var is 4"},
        {x, NULL, NULL, NULL, 1, 0.1f, EPS, y1, VKDL_ERROR_SHAPE_MISMATCH, "2x3x4x4 vs 1x3x1x1"},
        {x, NULL, NULL, NULL, 0, 0.1f, EPS, y, VKDL_ERROR_INVALID_ARGUMENT,
          "eval mode needs running_mean and running_var"},
        {x1, NULL, NULL, NULL, 1, 0.1f, EPS, y1, VKDL_ERROR_INVALID_ARGUMENT, "more than one value per channel"},
        {x5, NULL, NULL, NULL, 1, 0.1f, EPS, x5, VKDL_ERROR_SHAPE_MISMATCH, "expected [N, C]"},
        {x, NULL, NULL, NULL, 1, 0.1f, -1.0f, y, VKDL_ERROR_INVALID_ARGUMENT, "eps is -1"},
        {x, NULL, NULL, NULL, 1, NAN, EPS, y, VKDL_ERROR_INVALID_ARGUMENT, "momentum"},
        {xc, NULL, NULL, NULL, 1, 0.1f, EPS, y, VKDL_ERROR_CONTEXT_MISMATCH, NULL},
    };
    for (size_t i = 0; i < TH_LEN(BN); i++)
        if (!TH_STATUS(vkdl_batchnorm(BN[i].x, BN[i].gamma, NULL, BN[i].rm, BN[i].rv, BN[i].training, BN[i].momentum,
                                      BN[i].eps, BN[i].out, NULL, NULL),
                       BN[i].want, BN[i].needle))
            th_fail("batchnorm bad-argument row %zu", i);
    TH_STATUS(vkdl_batchnorm_backward(y, x, NULL, NULL, c3, y, NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT,
              "batchnorm_backward: save_mean is NULL");
    TH_STATUS(vkdl_batchnorm_backward(y, x, NULL, c3, c4, y, NULL, NULL), VKDL_ERROR_SHAPE_MISMATCH, "save_rstd is 4");
    TH_STATUS(vkdl_batchnorm_backward(y1, x, NULL, c3, c3, y, NULL, NULL), VKDL_ERROR_SHAPE_MISMATCH, "shapes differ");
    TH_STATUS(vkdl_batchnorm_backward(y, x, NULL, c3, c3, xi, NULL, NULL), VKDL_ERROR_DTYPE_MISMATCH, "dx is i32");

    TH_STATUS(vkdl_layernorm(NULL, NULL, NULL, EPS, ry, NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT,
              "layernorm: x is NULL");
    TH_STATUS(vkdl_layernorm(rx, c3, NULL, EPS, ry, NULL, NULL), VKDL_ERROR_SHAPE_MISMATCH,
              "gamma is 3, expected [4] (the last dim of x 2x4)");
    TH_STATUS(vkdl_layernorm(rx, NULL, NULL, EPS, ry, r3, NULL), VKDL_ERROR_SHAPE_MISMATCH,
              "save_mean has 3 elements, expected 2 (one per row of x 2x4)");
    TH_STATUS(vkdl_layernorm(rx, NULL, NULL, EPS, x, NULL, NULL), VKDL_ERROR_SHAPE_MISMATCH, "2x4 vs 2x3x4x4");
    TH_STATUS(vkdl_layernorm(rz, NULL, NULL, EPS, rzy, NULL, NULL), VKDL_ERROR_SHAPE_MISMATCH,
              "last dim of at least 1");
    TH_STATUS(vkdl_layernorm(rx, NULL, NULL, INFINITY, ry, NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT, "eps");
    TH_STATUS(vkdl_layernorm_backward(ry, rx, NULL, rs, NULL, ry, NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT,
              "save_rstd is NULL");
    TH_STATUS(vkdl_layernorm_backward(ry, rx, NULL, rs, rs, ry, c3, NULL), VKDL_ERROR_SHAPE_MISMATCH, "dgamma is 3");
    TH_STATUS(vkdl_rmsnorm(rx, NULL, EPS, ry, r3), VKDL_ERROR_SHAPE_MISMATCH, "rmsnorm: save_rstd has 3 elements");
    TH_STATUS(vkdl_rmsnorm(xi, NULL, EPS, ry, NULL), VKDL_ERROR_DTYPE_MISMATCH, "rmsnorm: x is i32");
    TH_STATUS(vkdl_rmsnorm_backward(ry, rx, NULL, NULL, ry, NULL), VKDL_ERROR_INVALID_ARGUMENT,
              "rmsnorm_backward: save_rstd is NULL");
    TH_STATUS(vkdl_rmsnorm_backward(ry, rx, c4, rs, xc, NULL), VKDL_ERROR_CONTEXT_MISMATCH, NULL);

    vkdl_tensor *t[] = {x, y, xi, c3, c4, x1, y1, x5, xc, rx, ry, rz, rs, r3, rzy};
    for (size_t i = 0; i < TH_LEN(t); i++)
        vkdl_tensor_destroy(t[i]);
}

/* Running statistics may be NULL in training (not tracked, PyTorch's track_running_stats=False):
 * the output is the same as with them, a lone running_mean is still updated, and vkdl_f_batchnorm
 * trains through it; eval refuses NULL statistics, whether or not gradients are wanted. */
static void run_bn_untracked(void *arg)
{
    (void)arg;
    vkdl_context *ctxs[2] = {th_cpu, th_gpu};
    int64_t xs[4] = {3, 2, 2, 2}, cs[1] = {2};
    for (int k = 0; k < 2; k++) {
        vkdl_context *ctx = ctxs[k];
        vkdl_tensor *x = NULL, *y0 = NULL, *y1 = NULL, *rm = NULL, *rv = NULL, *fy, *loss;
        float xv[24], a[24], b[24], m[2];
        for (int i = 0; i < 24; i++)
            xv[i] = th_randf(-1, 1);
        if (TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, xs, &x)) &&
            TH_OK(vkdl_tensor_upload(x, xv, VKDL_F32, sizeof xv)) &&
            TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, xs, &y0)) &&
            TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, xs, &y1)) &&
            TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, cs, &rm)) && TH_OK(vkdl_tensor_fill(rm, 0.0)) &&
            TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, cs, &rv)) && TH_OK(vkdl_tensor_fill(rv, 1.0)) &&
            TH_OK(vkdl_batchnorm(x, NULL, NULL, NULL, NULL, 1, 0.1f, EPS, y0, NULL, NULL)) &&
            TH_OK(vkdl_batchnorm(x, NULL, NULL, rm, NULL, 1, 0.1f, EPS, y1, NULL, NULL)) &&
            TH_OK(vkdl_tensor_download(y0, a, VKDL_F32, sizeof a)) &&
            TH_OK(vkdl_tensor_download(y1, b, VKDL_F32, sizeof b)) &&
            TH_OK(vkdl_tensor_download(rm, m, VKDL_F32, sizeof m))) {
            if (memcmp(a, b, sizeof a) != 0)
                th_fail("%s: untracked and tracked training outputs differ", vkdl_context_device_name(ctx));
            if (m[0] == 0.0f && m[1] == 0.0f)
                th_fail("%s: a lone running_mean was not updated", vkdl_context_device_name(ctx));
            TH_STATUS(vkdl_f_batchnorm(x, NULL, NULL, NULL, NULL, 0, 0.1f, EPS, &fy), VKDL_ERROR_INVALID_ARGUMENT,
                      "eval mode needs running_mean and running_var");
            if (TH_OK(vkdl_tensor_set_requires_grad(x, 1))) {
                TH_STATUS(vkdl_f_batchnorm(x, NULL, NULL, NULL, NULL, 0, 0.1f, EPS, &fy),
                          VKDL_ERROR_INVALID_ARGUMENT, "running_mean is NULL");
                if (TH_OK(vkdl_f_batchnorm(x, NULL, NULL, NULL, NULL, 1, 0.1f, EPS, &fy)) &&
                    TH_OK(vkdl_f_mse_loss(fy, y0, &loss)))
                    TH_OK(vkdl_backward(loss));
            }
        }
        vkdl_graph_free(ctx);
        vkdl_tensor *ts[] = {x, y0, y1, rm, rv};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
            vkdl_tensor_destroy(ts[i]);
    }
}

int main(int argc, char **argv)
{
    th_init(argc, argv);

    /* layer norm and RMS norm, forward and backward */
    static const row_case rows[] = {
        {.ndim = 2, .shape = {1, 1}, .gamma = true, .beta = true, .save = true},
        {.ndim = 2, .shape = {3, 17}, .gamma = true, .beta = true, .save = true, .variants = TH_VS_ALL},
        {.ndim = 2, .shape = {17, 127}, .gamma = true, .beta = true, .save = true},
        {.ndim = 3, .shape = {2, 3, 1000}, .gamma = true, .beta = true, .save = true},
        {.ndim = 2, .shape = {2, 100000}, .gamma = true, .beta = true, .save = true},
        {.ndim = 2, .shape = {3000, 3}, .gamma = true, .beta = true, .save = true},
        {.ndim = 1, .shape = {255}, .gamma = false, .beta = true, .save = false},
        {.ndim = 2, .shape = {5, 33}, .gamma = true, .beta = false, .save = true},
        {.ndim = 2, .shape = {7, 100}, .gamma = false, .beta = false, .save = true},
        {.ndim = 2, .shape = {7, 1000}, .gamma = false, .beta = false, .save = true, .offset = true},
        {.ndim = 2, .shape = {2, 100000}, .gamma = false, .beta = false, .save = true, .offset = true},
        {.ndim = 2, .shape = {5, 3000}, .gamma = true, .beta = true, .save = true, .offset = true,
         .variants = TH_VS_ALL},
    };
    static const row_case row_gcs[] = {
        {.ndim = 2, .shape = {3, 7}, .gamma = true, .beta = true},
        {.ndim = 2, .shape = {2, 1}, .gamma = true, .beta = true},
        {.ndim = 3, .shape = {2, 2, 5}, .gamma = false, .beta = false},
    };
    static row_case rms_rows[TH_LEN(rows)], rms_gcs[TH_LEN(row_gcs)];
    for (size_t i = 0; i < TH_LEN(rows); i++) {
        rms_rows[i] = rows[i];
        rms_rows[i].rms = true;
    }
    for (size_t i = 0; i < TH_LEN(row_gcs); i++) {
        rms_gcs[i] = row_gcs[i];
        rms_gcs[i].rms = true;
    }
    const row_case *families[2][2] = {{rows, row_gcs}, {rms_rows, rms_gcs}};
    for (int rms = 0; rms < 2; rms++) {
        for (size_t i = 0; i < TH_LEN(rows); i++) {
            run_row(&families[rms][0][i], FWD);
            run_row(&families[rms][0][i], BWD);
        }
        for (size_t i = 0; i < TH_LEN(row_gcs); i++)
            run_row(&families[rms][1][i], GRADCHECK);
    }

    /* batch norm */
    static const bn_case bns[] = {
        {.ndim = 4, .shape = {3, 17, 7, 7}, .gamma = true, .beta = true, .running = true, .save = true,
         .variants = TH_VS_ALL},
        {.ndim = 4, .shape = {2, 3, 1, 1}, .gamma = true, .beta = true, .running = true, .save = true},
        {.ndim = 4, .shape = {1, 3, 17, 31}, .gamma = true, .beta = true, .running = true, .save = true},
        {.ndim = 4, .shape = {3, 1, 31, 3}, .gamma = false, .beta = true, .running = true, .save = true},
        {.ndim = 2, .shape = {127, 17}, .gamma = true, .beta = false, .running = true, .save = true},
        {.ndim = 3, .shape = {3, 5, 7}, .gamma = false, .beta = false, .running = false, .save = true},
        {.ndim = 4, .shape = {2, 3, 3, 3}, .gamma = true, .beta = true, .running = false, .save = false},
        {.ndim = 4, .shape = {64, 3, 17, 17}, .gamma = true, .beta = true, .running = true, .save = true},
        {.ndim = 4, .shape = {16, 2, 250, 250}, .gamma = true, .beta = true, .running = true, .save = true},
        {.ndim = 4, .shape = {4, 3, 17, 17}, .gamma = false, .beta = false, .running = true, .save = true,
         .offset = true},
        {.ndim = 4, .shape = {4, 3, 17, 17}, .gamma = true, .beta = true, .running = true, .save = true,
         .offset = true, .variants = TH_VS_ALL},
    };
    for (size_t i = 0; i < TH_LEN(bns); i++) {
        run_bn(&bns[i], FWD);
        run_bn(&bns[i], BWD);
    }
    static const bn_case bn_gcs[] = {
        {.ndim = 4, .shape = {3, 2, 2, 3}, .gamma = true, .beta = true},
        {.ndim = 2, .shape = {5, 3}, .gamma = true, .beta = true},
        {.ndim = 4, .shape = {2, 2, 1, 3}, .gamma = false, .beta = false},
    };
    for (size_t i = 0; i < TH_LEN(bn_gcs); i++)
        run_bn(&bn_gcs[i], GRADCHECK);
    /* eval mode on the first six shapes, with and without gamma and beta */
    static bn_case evals[6];
    for (size_t i = 0; i < TH_LEN(evals); i++) {
        evals[i] = bns[i];
        evals[i].gamma = evals[i].beta = i % 2 == 0;
        evals[i].variants = 0;
        run_bn(&evals[i], EVAL);
    }
    run_bn_running();
    th_run("batchnorm without running statistics", run_bn_untracked, NULL);
    th_run_op(&VIEWS);
    th_run("empty batches", run_empty, NULL);
    th_run("bad arguments", run_bad, NULL);
    return th_finish();
}
