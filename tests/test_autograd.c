/* Autograd end to end (lib/nn/autograd.c, lib/nn/functional.c): every vkdl_f_* op in a tiny graph whose
 * output is reduced to loss = sum(out * r) (r fixed random weights) with vkdl_f_reshape,
 * vkdl_f_binary and vkdl_f_reduce, or used directly when it is already a scalar loss. For each
 * case the leaf gradients from vkdl_backward on the Vulkan device are compared with the CPU
 * backend's (th_compare), and the CPU ones with central finite differences of the same scalar
 * (forward in f32 with grad mode off, weighted sum in double). Then gradient accumulation, the
 * known-upstream and multiplied-upstream paths of the losses, graph lifetime and pooled memory,
 * and bad input.
 *
 * Tolerances: finite differences use step 1e-3 (inputs of O(1)) and pass when
 * |fd - analytic| <= 5e-3 max(1, |fd|, |analytic|) (th_gradcheck's rule, tighter than its usual
 * 1e-2; every case passes at 1e-3): the f32 rounding of a loss of a few dozen terms divided by the
 * step is ~1e-4 and the truncation error below 1e-3. GPU against CPU gradients use TH_TOL_F32 for
 * elementwise chains and TH_TOL_GEMM where a GEMM-shaped op (matmul, linear, conv, attention, RNN)
 * sits in the chain, as those ops' own tests do: a gradient chain of a few ops adds only a few
 * roundings on top of the op's own.
 */
#include "harness.h"
#include "runtime/runtime.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_IN 8

enum gen { G_UNIFORM, G_AWAY0, G_DISTINCT, G_DATA };

typedef struct input {
    vkdl_dtype dtype;               /* F32 (0) unless I32 */
    int ndim;
    int64_t d[VKDL_MAX_DIMS];
    enum gen gen;
    float lo, hi;                   /* G_UNIFORM range; G_AWAY0: +-[lo, hi) */
    const float *data;              /* G_DATA */
    bool grad;                      /* a leaf that requires grad */
} input;

typedef struct gcase gcase;
typedef vkdl_status (*build_fn)(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out);

struct gcase {
    const char *name;
    build_fn build;
    int op, flag;                   /* the builder's parameters */
    float alpha;
    const void *info;
    int n_in;
    input in[MAX_IN];
    bool direct;                    /* build returns the scalar loss: no weighting */
    bool gemm;                      /* GPU tolerance TH_TOL_GEMM */
    int max_checks;                 /* finite differences per input; 0 = 64 */
};

#define F(nd, lo_, hi_, ...) {.ndim = (nd), .d = {__VA_ARGS__}, .lo = (lo_), .hi = (hi_), .grad = true}
#define K(nd, lo_, hi_, ...) {.ndim = (nd), .d = {__VA_ARGS__}, .lo = (lo_), .hi = (hi_)}
#define AWAY(nd, ...) {.ndim = (nd), .d = {__VA_ARGS__}, .gen = G_AWAY0, .lo = 0.1f, .hi = 2.0f, .grad = true}
#define DISTINCT(nd, ...) {.ndim = (nd), .d = {__VA_ARGS__}, .gen = G_DISTINCT, .grad = true}
#define I32(nd, data_, ...) {.dtype = VKDL_I32, .ndim = (nd), .d = {__VA_ARGS__}, .gen = G_DATA, .data = (data_)}

static int64_t numel_of(const input *in)
{
    int64_t n = 1;
    for (int i = 0; i < in->ndim; i++)
        n *= in->d[i];
    return n;
}

static void drain(vkdl_context *ctx)
{
    for (int i = 0; i < 3; i++)
        vkdl_graph_free(ctx);
}

static size_t mem_now(vkdl_context *ctx)
{
    size_t cur;
    vkdl_context_memory(ctx, &cur, NULL);
    return cur;
}

/* ---------------------------------------------------------------- the gradient check */

static float *host_data(const input *in)
{
    int64_t n = numel_of(in);
    float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++) {
        if (in->gen == G_DATA)
            v[i] = in->data[i];
        else if (in->gen == G_AWAY0)
            v[i] = (th_randu(2) ? 1.0f : -1.0f) * th_randf(in->lo, in->hi);
        else if (in->gen == G_DISTINCT)
            v[i] = 0.1f * (float)i - 0.05f * (float)n; /* 0.1 apart: no ties within a step */
        else
            v[i] = th_randf(in->lo, in->hi);
    }
    if (in->gen == G_DISTINCT)
        for (int64_t i = n - 1; i > 0; i--) {
            int64_t j = th_randu((uint32_t)(i + 1));
            float s = v[i];
            v[i] = v[j];
            v[j] = s;
        }
    return v;
}

static bool make_inputs(vkdl_context *ctx, const gcase *c, float *const *host, vkdl_tensor **t)
{
    for (int i = 0; i < c->n_in; i++) {
        const input *in = &c->in[i];
        size_t n = (size_t)numel_of(in);
        if (!TH_OK(vkdl_tensor_create(ctx, in->dtype, in->ndim, in->d, &t[i])) ||
            !TH_OK(vkdl_tensor_upload(t[i], host[i], VKDL_F32, n * sizeof(float))))
            return false;
        if (in->grad && !TH_OK(vkdl_tensor_set_requires_grad(t[i], 1)))
            return false;
    }
    return true;
}

/* The scalar the gradient is taken of: sum(flatten(out) * r). */
static vkdl_status weighted(vkdl_tensor *out, vkdl_tensor *r, vkdl_tensor **loss)
{
    int64_t flat = -1;
    vkdl_tensor *f, *m;
    VKDL_TRY(vkdl_f_reshape(out, 1, &flat, &f));
    VKDL_TRY(vkdl_f_binary(VKDL_MUL, f, r, &m));
    return vkdl_f_reduce(VKDL_SUM, m, 0, 0, loss);
}

/* The loss with grad mode off, summed in double. */
static bool eval_loss(vkdl_context *ctx, const gcase *c, vkdl_tensor *const *t, const float *r, int64_t nr,
                      double *loss)
{
    int was = vkdl_grad_enabled(ctx, 0);
    vkdl_tensor *out = NULL;
    bool ok = TH_OK(c->build(c, t, &out));
    if (ok && vkdl_tensor_numel(out) != nr) {
        th_fail("%s: output has %lld elements, expected %lld", c->name, (long long)vkdl_tensor_numel(out),
                (long long)nr);
        ok = false;
    }
    if (ok) {
        float *o = th_download(out);
        double l = 0;
        for (int64_t i = 0; i < nr; i++)
            l += (double)o[i] * (c->direct ? 1.0 : (double)r[i]);
        *loss = l;
        free(o);
    }
    vkdl_graph_free(ctx);
    vkdl_grad_enabled(ctx, was);
    return ok;
}

static bool backward(vkdl_context *ctx, const gcase *c, vkdl_tensor *const *t, const float *r, int64_t nr)
{
    vkdl_tensor *rt = NULL, *out = NULL, *loss = NULL;
    bool ok = c->direct || (TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, &nr, &rt)) &&
                            TH_OK(vkdl_tensor_upload(rt, r, VKDL_F32, (size_t)nr * sizeof *r)));
    ok = ok && TH_OK(c->build(c, t, &out));
    if (ok && c->direct && vkdl_tensor_numel(out) != 1) {
        th_fail("%s: a direct loss must have one element", c->name);
        ok = false;
    }
    ok = ok && (c->direct ? (loss = out, true) : TH_OK(weighted(out, rt, &loss)));
    ok = ok && TH_OK(vkdl_backward(loss));
    if (!ok)
        vkdl_graph_free(ctx);
    vkdl_tensor_destroy(rt);
    return ok;
}

/* Random weights r for the output (1 for a direct loss), sized by a forward with grad mode off. */
static bool weights(vkdl_context *ctx, const gcase *c, vkdl_tensor *const *t, float **r, int64_t *nr)
{
    *nr = 1;
    if (!c->direct) {
        int was = vkdl_grad_enabled(ctx, 0);
        vkdl_tensor *out;
        bool ok = TH_OK(c->build(c, t, &out));
        if (ok)
            *nr = vkdl_tensor_numel(out);
        vkdl_graph_free(ctx);
        vkdl_grad_enabled(ctx, was);
        if (!ok)
            return false;
    }
    *r = malloc((size_t)*nr * sizeof **r);
    for (int64_t i = 0; i < *nr; i++)
        (*r)[i] = c->direct ? 1.0f : th_randf(-1, 1);
    return true;
}

static void run_gcase(void *arg)
{
    const gcase *c = arg;
    float *host[MAX_IN] = {0};
    vkdl_tensor *tc[MAX_IN] = {0}, *tg[MAX_IN] = {0};
    float *r = NULL;
    int64_t nr = 0;
    for (int i = 0; i < c->n_in; i++)
        host[i] = host_data(&c->in[i]);
    bool ok = make_inputs(th_cpu, c, host, tc) && make_inputs(th_gpu, c, host, tg);
    ok = ok && weights(th_cpu, c, tc, &r, &nr);
    ok = ok && backward(th_cpu, c, tc, r, nr) && backward(th_gpu, c, tg, r, nr);
    for (int i = 0; ok && i < c->n_in; i++) {
        if (!c->in[i].grad)
            continue;
        th_pair g = {vkdl_tensor_grad(tc[i]), vkdl_tensor_grad(tg[i])};
        if (!g.cpu || !g.gpu) {
            th_fail("input %d has no gradient after backward (cpu %p, gpu %p)", i, (void *)g.cpu, (void *)g.gpu);
            ok = false;
            break;
        }
        if (!th_compare(&g, c->gemm ? TH_TOL_GEMM : TH_TOL_F32))
            th_fail("input %d: GPU gradient differs from the CPU's", i);
    }
    /* Finite differences of the CPU forward against the CPU backward. */
    const double h = 1e-3, tol = 5e-3;
    int max_checks = c->max_checks ? c->max_checks : 64;
    for (int i = 0; ok && i < c->n_in; i++) {
        if (!c->in[i].grad)
            continue;
        size_t n = (size_t)numel_of(&c->in[i]);
        float *an = th_download(vkdl_tensor_grad(tc[i]));
        size_t checks = n <= (size_t)max_checks ? n : (size_t)max_checks;
        int bad = 0;
        for (size_t k = 0; k < checks && ok; k++) {
            size_t j = n <= (size_t)max_checks ? k : th_randu((uint32_t)n);
            float orig = host[i][j];
            double lp = 0, lm = 0;
            host[i][j] = orig + (float)h;
            ok = TH_OK(vkdl_tensor_upload(tc[i], host[i], VKDL_F32, n * sizeof(float))) &&
                 eval_loss(th_cpu, c, tc, r, nr, &lp);
            host[i][j] = orig - (float)h;
            ok = ok && TH_OK(vkdl_tensor_upload(tc[i], host[i], VKDL_F32, n * sizeof(float))) &&
                 eval_loss(th_cpu, c, tc, r, nr, &lm);
            host[i][j] = orig;
            ok = ok && TH_OK(vkdl_tensor_upload(tc[i], host[i], VKDL_F32, n * sizeof(float)));
            double step = (double)(orig + (float)h) - (double)(orig - (float)h);
            double fd = (lp - lm) / step, a = an[j];
            if (ok && !(fabs(fd - a) <= tol * fmax(1.0, fmax(fabs(fd), fabs(a)))) && bad++ < 5)
                th_fail("input %d element %zu: finite difference %.7g, backward %.7g", i, j, fd, a);
        }
        free(an);
    }
    for (int i = 0; i < c->n_in; i++) {
        vkdl_tensor_destroy(tc[i]);
        vkdl_tensor_destroy(tg[i]);
        free(host[i]);
    }
    free(r);
}

/* ---------------------------------------------------------------- builders */

static vkdl_status b_unary(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out)
{
    return vkdl_f_unary((vkdl_unary_op)c->op, in[0], out);
}

static vkdl_status b_scale(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out)
{
    return vkdl_f_scale(in[0], c->alpha, -0.25f, out);
}

/* flag: both operands are in[0]. */
static vkdl_status b_binary(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out)
{
    return vkdl_f_binary((vkdl_binary_op)c->op, in[0], c->flag ? in[0] : in[1], out);
}

/* flag: keepdim. */
static vkdl_status b_reduce(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out)
{
    return vkdl_f_reduce((vkdl_reduce_op)c->op, in[0], 1, c->flag, out);
}

static vkdl_status b_softmax(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out)
{
    return c->flag ? vkdl_f_log_softmax(in[0], out) : vkdl_f_softmax(in[0], out);
}

/* flag: reshape an intermediate (tanh(x)) rather than the leaf. */
static vkdl_status b_reshape(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out)
{
    vkdl_tensor *x = in[0];
    if (c->flag)
        VKDL_TRY(vkdl_f_unary(VKDL_TANH, x, &x));
    int64_t s[3] = {3, -1, 2};
    return vkdl_f_reshape(x, 3, s, out);
}

static vkdl_status b_permute(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out)
{
    (void)c;
    static const int perm[3] = {2, 0, 1};
    return vkdl_f_permute(in[0], perm, out);
}

/* op: trans_a, flag: trans_b; with n_in 1, a and b are the same tensor. */
static vkdl_status b_matmul(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out)
{
    vkdl_matmul_info mi = {.trans_a = c->op, .trans_b = c->flag, .alpha = c->alpha};
    return vkdl_f_matmul(in[0], c->n_in > 1 ? in[1] : in[0], &mi, out);
}

static vkdl_status b_linear(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out)
{
    return vkdl_f_linear(in[0], in[1], c->n_in > 2 ? in[2] : NULL, out);
}

static vkdl_status b_conv(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out)
{
    return vkdl_f_conv2d(in[0], in[1], in[2], c->info, out);
}

static vkdl_status b_convt(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out)
{
    return vkdl_f_conv_transpose2d(in[0], in[1], in[2], c->info, out);
}

/* op: 0 max, 1 avg, 2 global avg, 3 upsample by 2. */
static vkdl_status b_pool(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out)
{
    switch (c->op) {
    case 0:
        return vkdl_f_maxpool2d(in[0], c->info, out);
    case 1:
        return vkdl_f_avgpool2d(in[0], c->info, out);
    case 2:
        return vkdl_f_global_avgpool2d(in[0], out);
    default:
        return vkdl_f_upsample_nearest2d(in[0], 2, out);
    }
}

static vkdl_status b_batchnorm(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out)
{
    /* flag: evaluation mode, differentiated as the affine map it is */
    return vkdl_f_batchnorm(in[0], in[1], in[2], in[3], in[4], !c->flag, 0.1f, 1e-5f, out);
}

static vkdl_status b_layernorm(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out)
{
    (void)c;
    return vkdl_f_layernorm(in[0], in[1], in[2], 1e-5f, out);
}

static vkdl_status b_attention(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out)
{
    vkdl_attention_info ai = {.causal = c->flag};
    /* op 1: self-attention on one tensor (q = k = v); op 2: k and v shared */
    if (c->op == 1)
        return vkdl_f_attention(in[0], in[0], in[0], &ai, out);
    if (c->op == 2)
        return vkdl_f_attention(in[0], in[1], in[1], &ai, out);
    return vkdl_f_attention(in[0], in[1], in[2], &ai, out);
}

static vkdl_status b_embedding(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out)
{
    (void)c;
    return vkdl_f_embedding(in[0], in[1], out);
}

static vkdl_status b_dropout(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out)
{
    return vkdl_f_dropout(in[0], c->alpha, 1234, out);
}

/* op: 0 mse, 1 cross entropy (info), 2 bce with logits. */
static vkdl_status b_loss(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out)
{
    if (c->op == 0)
        return vkdl_f_mse_loss(in[0], in[1], out);
    if (c->op == 1)
        return vkdl_f_cross_entropy(in[0], in[1], c->info, out);
    return vkdl_f_bce_with_logits(in[0], in[1], out);
}

static vkdl_status b_lstm(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out)
{
    (void)c;
    return vkdl_f_lstm(in[0], in[1], in[2], in[3], in[4], in[5], in[6], out, NULL, NULL);
}

static vkdl_status b_gru(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out)
{
    (void)c;
    return vkdl_f_gru(in[0], in[1], in[2], in[3], in[4], in[5], out, NULL);
}

/* A leaf feeding two branches: tanh(x) + 2x - 0.25. */
static vkdl_status b_branches(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out)
{
    (void)c;
    vkdl_tensor *a, *b;
    VKDL_TRY(vkdl_f_unary(VKDL_TANH, in[0], &a));
    VKDL_TRY(vkdl_f_scale(in[0], 2.0f, -0.25f, &b));
    return vkdl_f_binary(VKDL_ADD, a, b, out);
}

/* An intermediate read by two reshapes (the first borrows the gradient, the second adds to it) and
 * a permute: reshape(t) * reshape(t) + permute(t) with t = sigmoid(x). */
static vkdl_status b_branches_view(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out)
{
    (void)c;
    static const int perm[2] = {1, 0};
    int64_t s[2] = {4, 3};
    vkdl_tensor *t, *u, *v, *w, *m;
    VKDL_TRY(vkdl_f_unary(VKDL_SIGMOID, in[0], &t)); /* [3, 4] */
    VKDL_TRY(vkdl_f_reshape(t, 2, s, &u));
    VKDL_TRY(vkdl_f_reshape(t, 2, s, &v));
    VKDL_TRY(vkdl_f_permute(t, perm, &w));
    VKDL_TRY(vkdl_f_binary(VKDL_MUL, u, v, &m));
    return vkdl_f_binary(VKDL_ADD, m, w, out);
}

/* A scalar loss used twice: mse + mse (the known-gradient path through a + a). */
static vkdl_status b_loss_twice(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out)
{
    (void)c;
    vkdl_tensor *l;
    VKDL_TRY(vkdl_f_mse_loss(in[0], in[1], &l));
    return vkdl_f_binary(VKDL_ADD, l, l, out);
}

/* (mse + 0.5 ce) - bce: every loss sees a known upstream gradient (1, 0.5, -1). */
static vkdl_status b_loss_mix(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out)
{
    vkdl_tensor *la, *lb, *lc, *hb, *s;
    VKDL_TRY(vkdl_f_mse_loss(in[0], in[1], &la));
    VKDL_TRY(vkdl_f_cross_entropy(in[2], in[3], c->info, &lb));
    VKDL_TRY(vkdl_f_bce_with_logits(in[4], in[5], &lc));
    VKDL_TRY(vkdl_f_scale(lb, 0.5f, 0.0f, &hb));
    VKDL_TRY(vkdl_f_binary(VKDL_ADD, la, hb, &s));
    return vkdl_f_binary(VKDL_SUB, s, lc, out);
}

/* mse * s + ce / s with s a tracked scalar: the upstream gradients are only known on the device. */
static vkdl_status b_loss_mul(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out)
{
    vkdl_tensor *la, *lb, *a, *b;
    VKDL_TRY(vkdl_f_mse_loss(in[0], in[1], &la));
    VKDL_TRY(vkdl_f_cross_entropy(in[2], in[3], c->info, &lb));
    VKDL_TRY(vkdl_f_binary(VKDL_MUL, la, in[4], &a));
    VKDL_TRY(vkdl_f_binary(VKDL_DIV, lb, in[4], &b));
    return vkdl_f_binary(VKDL_ADD, a, b, out);
}

/* A small MLP: mse(linear(tanh(linear(x, w1, b1)), w2), target). */
static vkdl_status b_mlp(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out)
{
    (void)c;
    vkdl_tensor *h, *a, *y;
    VKDL_TRY(vkdl_f_linear(in[0], in[1], in[2], &h));
    VKDL_TRY(vkdl_f_unary(VKDL_TANH, h, &a));
    VKDL_TRY(vkdl_f_linear(a, in[3], NULL, &y));
    return vkdl_f_mse_loss(y, in[4], out);
}

/* Two consumers of a leaf, one of them a reshape: reshape(x) * reshape(tanh(x)). */
static vkdl_status b_leaf_views(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out)
{
    (void)c;
    int64_t s[2] = {4, 3};
    vkdl_tensor *t, *u, *v;
    VKDL_TRY(vkdl_f_unary(VKDL_TANH, in[0], &t));
    VKDL_TRY(vkdl_f_reshape(t, 2, s, &u));
    VKDL_TRY(vkdl_f_reshape(in[0], 2, s, &v));
    return vkdl_f_binary(VKDL_MUL, v, u, out);
}

/* A loss reshaped to a 0-dim scalar: the loss's upstream gradient arrives through a view. */
static vkdl_status b_loss_view(const gcase *c, vkdl_tensor *const *in, vkdl_tensor **out)
{
    vkdl_tensor *l;
    VKDL_TRY(b_loss(c, in, &l));
    return vkdl_f_reshape(l, 0, NULL, out);
}

/* ---------------------------------------------------------------- the cases */

static const float EMB_IDX[6] = {1, 3, 1, 4, 1, 0};
static const float CE_TGT[4] = {1, -100, 4, 0};
static const float CE_TGT_VALID[4] = {1, 3, 4, 0};
static const vkdl_cross_entropy_info CE_INFO = {.use_ignore_index = 1, .ignore_index = -100, .label_smoothing = 0.1f};
static const vkdl_conv2d_info CONV_INFO = {.stride = {2, 2}, .padding = {1, 1}, .groups = 2};
static const vkdl_conv2d_info CONVT_INFO = {.stride = {2, 2}, .padding = {1, 1}, .output_padding = {1, 1}};
static const vkdl_conv2d_info CONV_DIL_INFO = {.padding = {2, 1}, .dilation = {2, 1}};
static const vkdl_conv2d_info CONVT_GROUPS_INFO = {.stride = {2, 1}, .padding = {1, 0}, .output_padding = {1, 0},
                                                   .groups = 2};
static const vkdl_pool2d_info POOL_INFO = {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}};
static const vkdl_pool2d_info POOL_PAD_INFO = {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1},
                                               .count_include_pad = 1};
/* ONNX's pooling options: the graph keeps its own copy of the extension for the backward. */
static const vkdl_pool2d_ext_info POOL_EXT = {.type = VKDL_STRUCTURE_TYPE_POOL2D_EXT_INFO, .pad_end = {0, 1},
                                              .dilation = {2, 1}, .ceil_mode = 1};
static const vkdl_pool2d_ext_info POOL_CEIL = {.type = VKDL_STRUCTURE_TYPE_POOL2D_EXT_INFO, .pad_end = {1, 0},
                                               .ceil_mode = 1};
static const vkdl_pool2d_info POOL_EXT_INFO = {.next = &POOL_EXT, .kernel = {2, 3}, .stride = {2, 2},
                                               .padding = {1, 1}};
static const vkdl_pool2d_info POOL_CEIL_INFO = {.next = &POOL_CEIL, .kernel = {3, 3}, .stride = {2, 2},
                                                .padding = {0, 1}, .count_include_pad = 1};

static const gcase CASES[] = {
    {"unary/relu", b_unary, VKDL_RELU, .n_in = 1, .in = {AWAY(2, 3, 7)}},
    {"unary/gelu_tanh", b_unary, VKDL_GELU_TANH, .n_in = 1, .in = {F(2, -3, 3, 3, 7)}},
    {"unary/sigmoid", b_unary, VKDL_SIGMOID, .n_in = 1, .in = {F(2, -3, 3, 3, 7)}},
    {"unary/tanh", b_unary, VKDL_TANH, .n_in = 1, .in = {F(2, -3, 3, 3, 7)}},
    {"unary/exp", b_unary, VKDL_EXP, .n_in = 1, .in = {F(2, -2, 2, 3, 7)}},
    {"unary/mish", b_unary, VKDL_MISH, .n_in = 1, .in = {F(2, -3, 3, 3, 7)}},
    {"unary/selu", b_unary, VKDL_SELU, .n_in = 1, .in = {AWAY(2, 3, 7)}},
    {"unary/atan", b_unary, VKDL_ATAN, .n_in = 1, .in = {F(2, -3, 3, 3, 7)}},
    {"scale", b_scale, .alpha = 1.5f, .n_in = 1, .in = {F(1, -2, 2, 17)}},
    {"binary/add/row", b_binary, VKDL_ADD, .n_in = 2, .in = {F(2, -2, 2, 2, 3), F(1, -2, 2, 3)}},
    {"binary/add/col-row", b_binary, VKDL_ADD, .n_in = 2, .in = {F(2, -2, 2, 3, 1), F(2, -2, 2, 1, 4)}},
    {"binary/sub/row", b_binary, VKDL_SUB, .n_in = 2, .in = {F(2, -2, 2, 2, 3), F(1, -2, 2, 3)}},
    {"binary/sub/a-broadcast", b_binary, VKDL_SUB, .n_in = 2, .in = {F(1, -2, 2, 3), F(3, -2, 2, 2, 2, 3)}},
    {"binary/mul/row", b_binary, VKDL_MUL, .n_in = 2, .in = {F(2, -2, 2, 2, 3), F(1, -2, 2, 3)}},
    {"binary/mul/a-broadcast", b_binary, VKDL_MUL, .n_in = 2, .in = {F(2, -2, 2, 3, 1), F(3, -2, 2, 2, 3, 4)}},
    {"binary/div/row", b_binary, VKDL_DIV, .n_in = 2, .in = {F(2, -2, 2, 2, 3), F(1, 0.5f, 2, 3)}},
    {"binary/div/a-broadcast", b_binary, VKDL_DIV, .n_in = 2, .in = {F(1, -2, 2, 1), F(2, 0.5f, 2, 3, 4)}},
    {"binary/pow/row", b_binary, VKDL_POW, .n_in = 2, .in = {F(2, 0.5f, 2, 2, 3), F(1, -2, 2, 3)}},
    {"binary/maximum/col-row", b_binary, VKDL_MAXIMUM, .n_in = 2, .in = {F(2, -2, 2, 3, 1), F(2, -2, 2, 1, 4)}},
    {"binary/minimum/row", b_binary, VKDL_MINIMUM, .n_in = 2, .in = {F(2, -2, 2, 2, 3), F(1, -2, 2, 3)}},
    {"binary/prelu/row", b_binary, VKDL_PRELU, .n_in = 2, .in = {AWAY(2, 2, 3), F(1, -1, 1, 3)}},
    {"binary/fmod/row", b_binary, VKDL_FMOD, .n_in = 2, .in = {F(2, 0.3f, 0.7f, 2, 3), F(1, 1, 1.1f, 3)}},
    {"binary/mod/row", b_binary, VKDL_MOD, .n_in = 2, .in = {F(2, -0.7f, -0.3f, 2, 3), F(1, 1, 1.1f, 3)}},
    {"binary/add/same", b_binary, VKDL_ADD, 1, .n_in = 1, .in = {F(2, -2, 2, 3, 4)}},
    {"binary/sub/same", b_binary, VKDL_SUB, 1, .n_in = 1, .in = {F(2, -2, 2, 3, 4)}},
    {"binary/mul/same", b_binary, VKDL_MUL, 1, .n_in = 1, .in = {F(2, -2, 2, 3, 4)}},
    {"binary/div/same", b_binary, VKDL_DIV, 1, .n_in = 1, .in = {F(2, 0.5f, 2, 3, 4)}},
    {"reduce/sum", b_reduce, VKDL_SUM, 0, .n_in = 1, .in = {F(3, -2, 2, 2, 3, 4)}},
    {"reduce/sum/keepdim", b_reduce, VKDL_SUM, 1, .n_in = 1, .in = {F(3, -2, 2, 2, 3, 4)}},
    {"reduce/mean", b_reduce, VKDL_MEAN, 0, .n_in = 1, .in = {F(3, -2, 2, 2, 3, 4)}},
    {"reduce/mean/keepdim", b_reduce, VKDL_MEAN, 1, .n_in = 1, .in = {F(3, -2, 2, 2, 3, 4)}},
    {"reduce/max", b_reduce, VKDL_MAX, 0, .n_in = 1, .in = {DISTINCT(3, 2, 3, 4)}},
    {"reduce/min/keepdim", b_reduce, VKDL_MIN, 1, .n_in = 1, .in = {DISTINCT(3, 2, 3, 4)}},
    {"reduce/prod", b_reduce, VKDL_PROD, 0, .n_in = 1, .in = {AWAY(3, 2, 3, 4)}},
    {"reduce/l1", b_reduce, VKDL_L1, 0, .n_in = 1, .in = {AWAY(3, 2, 3, 4)}},
    {"reduce/l2", b_reduce, VKDL_L2, 1, .n_in = 1, .in = {F(3, -2, 2, 2, 3, 4)}},
    {"reduce/sum_square", b_reduce, VKDL_SUM_SQUARE, 0, .n_in = 1, .in = {F(3, -2, 2, 2, 3, 4)}},
    {"reduce/log_sum_exp", b_reduce, VKDL_LOG_SUM_EXP, 1, .n_in = 1, .in = {F(3, -2, 2, 2, 3, 4)}},
    {"softmax", b_softmax, .n_in = 1, .in = {F(2, -3, 3, 3, 5)}},
    {"log_softmax", b_softmax, 0, 1, .n_in = 1, .in = {F(2, -3, 3, 3, 5)}},
    {"reshape/leaf", b_reshape, .n_in = 1, .in = {F(2, -2, 2, 2, 6)}},
    {"reshape/intermediate", b_reshape, 0, 1, .n_in = 1, .in = {F(2, -2, 2, 2, 6)}},
    {"permute", b_permute, .n_in = 1, .in = {F(3, -2, 2, 2, 3, 4)}},
    {"matmul/nn", b_matmul, 0, 0, 1.0f, .n_in = 2, .in = {F(2, -1, 1, 3, 4), F(2, -1, 1, 4, 5)}, .gemm = true},
    {"matmul/tn", b_matmul, 1, 0, 0.5f, .n_in = 2, .in = {F(2, -1, 1, 4, 3), F(2, -1, 1, 4, 5)}, .gemm = true},
    {"matmul/nt", b_matmul, 0, 1, 1.0f, .n_in = 2, .in = {F(2, -1, 1, 3, 4), F(2, -1, 1, 5, 4)}, .gemm = true},
    {"matmul/tt", b_matmul, 1, 1, -0.7f, .n_in = 2, .in = {F(2, -1, 1, 4, 3), F(2, -1, 1, 5, 4)}, .gemm = true},
    {"matmul/batched/nn", b_matmul, 0, 0, 1.0f, .n_in = 2, .in = {F(3, -1, 1, 2, 3, 4), F(3, -1, 1, 2, 4, 5)},
     .gemm = true},
    {"matmul/batched/tt", b_matmul, 1, 1, 1.0f, .n_in = 2, .in = {F(3, -1, 1, 2, 4, 3), F(3, -1, 1, 2, 5, 4)},
     .gemm = true},
    {"matmul/plain-b/nn", b_matmul, 0, 0, 1.0f, .n_in = 2, .in = {F(3, -1, 1, 2, 3, 4), F(2, -1, 1, 4, 5)},
     .gemm = true},
    {"matmul/plain-b/nt", b_matmul, 0, 1, 2.0f, .n_in = 2, .in = {F(3, -1, 1, 2, 3, 4), F(2, -1, 1, 5, 4)},
     .gemm = true},
    {"matmul/x-xT", b_matmul, 0, 1, 1.0f, .n_in = 1, .in = {F(2, -1, 1, 3, 4)}, .gemm = true},
    {"linear/bias", b_linear, .n_in = 3, .in = {F(3, -1, 1, 2, 3, 4), F(2, -1, 1, 5, 4), F(1, -1, 1, 5)}, .gemm = true},
    {"linear/no-bias", b_linear, .n_in = 2, .in = {F(3, -1, 1, 2, 3, 4), F(2, -1, 1, 5, 4)}, .gemm = true},
    {"conv2d", b_conv, .info = &CONV_INFO, .n_in = 3,
     .in = {F(4, -1, 1, 2, 4, 5, 5), F(4, -0.5f, 0.5f, 4, 2, 3, 3), F(1, -1, 1, 4)}, .gemm = true},
    {"conv_transpose2d", b_convt, .info = &CONVT_INFO, .n_in = 3,
     .in = {F(4, -1, 1, 1, 2, 3, 3), F(4, -0.5f, 0.5f, 2, 3, 3, 3), F(1, -1, 1, 3)}, .gemm = true},
    {"conv2d/dilated", b_conv, .info = &CONV_DIL_INFO, .n_in = 3,
     .in = {F(4, -1, 1, 1, 2, 5, 4), F(4, -0.5f, 0.5f, 3, 2, 3, 2), F(1, -1, 1, 3)}, .gemm = true},
    {"conv_transpose2d/groups", b_convt, .info = &CONVT_GROUPS_INFO, .n_in = 3,
     .in = {F(4, -1, 1, 1, 4, 3, 3), F(4, -0.5f, 0.5f, 4, 1, 3, 2), F(1, -1, 1, 2)}, .gemm = true},
    {"maxpool2d", b_pool, 0, .info = &POOL_INFO, .n_in = 1, .in = {DISTINCT(4, 1, 2, 5, 5)}},
    {"avgpool2d", b_pool, 1, .info = &POOL_INFO, .n_in = 1, .in = {F(4, -1, 1, 1, 2, 5, 5)}},
    {"avgpool2d/count-pad", b_pool, 1, .info = &POOL_PAD_INFO, .n_in = 1, .in = {F(4, -1, 1, 1, 2, 5, 5)}},
    {"maxpool2d/ext", b_pool, 0, .info = &POOL_EXT_INFO, .n_in = 1, .in = {DISTINCT(4, 1, 2, 6, 7)}},
    {"avgpool2d/ceil", b_pool, 1, .info = &POOL_CEIL_INFO, .n_in = 1, .in = {F(4, -1, 1, 1, 2, 6, 6)}},
    {"global_avgpool2d", b_pool, 2, .n_in = 1, .in = {F(4, -1, 1, 2, 3, 3, 3)}},
    {"upsample_nearest2d", b_pool, 3, .n_in = 1, .in = {F(4, -1, 1, 1, 2, 2, 3)}},
    {"batchnorm/nchw", b_batchnorm, .n_in = 5,
     .in = {F(4, -2, 2, 3, 2, 2, 2), F(1, 0.5f, 1.5f, 2), F(1, -1, 1, 2), K(1, -1, 1, 2), K(1, 0.5f, 1.5f, 2)}},
    {"batchnorm/nc", b_batchnorm, .n_in = 5,
     .in = {F(2, -2, 2, 6, 3), F(1, 0.5f, 1.5f, 3), F(1, -1, 1, 3), K(1, -1, 1, 3), K(1, 0.5f, 1.5f, 3)}},
    {"batchnorm/eval/nchw", b_batchnorm, 0, 1, .n_in = 5,
     .in = {F(4, -2, 2, 3, 2, 2, 2), F(1, 0.5f, 1.5f, 2), F(1, -1, 1, 2), K(1, -1, 1, 2), K(1, 0.5f, 1.5f, 2)}},
    {"batchnorm/eval/nc", b_batchnorm, 0, 1, .n_in = 5,
     .in = {F(2, -2, 2, 6, 3), F(1, 0.5f, 1.5f, 3), F(1, -1, 1, 3), K(1, -1, 1, 3), K(1, 0.5f, 1.5f, 3)}},
    {"layernorm", b_layernorm, .n_in = 3, .in = {F(3, -2, 2, 2, 3, 5), F(1, 0.5f, 1.5f, 5), F(1, -1, 1, 5)}},
    {"attention", b_attention, .n_in = 3,
     .in = {F(4, -1, 1, 1, 4, 3, 4), F(4, -1, 1, 1, 2, 5, 4), F(4, -1, 1, 1, 2, 5, 4)}, .gemm = true},
    {"attention/causal", b_attention, 0, 1, .n_in = 3,
     .in = {F(4, -1, 1, 1, 4, 3, 4), F(4, -1, 1, 1, 2, 5, 4), F(4, -1, 1, 1, 2, 5, 4)}, .gemm = true},
    {"attention/self-qkv", b_attention, 1, 1, .n_in = 1, .in = {F(4, -1, 1, 1, 2, 5, 4)}, .gemm = true},
    {"attention/shared-kv", b_attention, 2, 0, .n_in = 2, .in = {F(4, -1, 1, 1, 4, 3, 4), F(4, -1, 1, 1, 2, 5, 4)},
     .gemm = true},
    {"embedding", b_embedding, .n_in = 2, .in = {F(2, -1, 1, 5, 3), I32(2, EMB_IDX, 2, 3)}},
    {"dropout", b_dropout, .alpha = 0.3f, .n_in = 1, .in = {F(2, -2, 2, 4, 5)}},
    {"mse_loss", b_loss, 0, .n_in = 2, .in = {F(2, -1, 1, 3, 4), F(2, -1, 1, 3, 4)}},
    {"mse_loss/direct", b_loss, 0, .n_in = 2, .in = {F(2, -1, 1, 3, 4), F(2, -1, 1, 3, 4)}, .direct = true},
    {"cross_entropy", b_loss, 1, .info = &CE_INFO, .n_in = 2, .in = {F(2, -2, 2, 4, 5), I32(1, CE_TGT, 4)}},
    {"cross_entropy/direct", b_loss, 1, .info = &CE_INFO, .n_in = 2, .in = {F(2, -2, 2, 4, 5), I32(1, CE_TGT, 4)},
     .direct = true},
    {"bce_with_logits", b_loss, 2, .n_in = 2, .in = {F(2, -2, 2, 3, 4), K(2, 0, 1, 3, 4)}},
    {"bce_with_logits/direct", b_loss, 2, .n_in = 2, .in = {F(2, -2, 2, 3, 4), K(2, 0, 1, 3, 4)}, .direct = true},
    {"bce_with_logits/target-grad", b_loss, 2, .n_in = 2, .in = {F(2, -2, 2, 3, 4), F(2, 0.1f, 0.9f, 3, 4)}},
    {"lstm", b_lstm, .n_in = 7,
     .in = {F(3, -1, 1, 3, 2, 3), F(2, -1, 1, 2, 4), F(2, -1, 1, 2, 4), F(2, -0.5f, 0.5f, 16, 3),
            F(2, -0.5f, 0.5f, 16, 4), F(1, -0.5f, 0.5f, 16), F(1, -0.5f, 0.5f, 16)},
     .gemm = true},
    {"gru", b_gru, .n_in = 6,
     .in = {F(3, -1, 1, 3, 2, 3), F(2, -1, 1, 2, 4), F(2, -0.5f, 0.5f, 12, 3), F(2, -0.5f, 0.5f, 12, 4),
            F(1, -0.5f, 0.5f, 12), F(1, -0.5f, 0.5f, 12)},
     .gemm = true},
    /* gradient accumulation inside one graph, and the upstream gradient of losses */
    {"twice/branches", b_branches, .n_in = 1, .in = {F(2, -2, 2, 3, 4)}},
    {"twice/branches-views", b_branches_view, .n_in = 1, .in = {F(2, -2, 2, 3, 4)}},
    {"upstream/loss+loss", b_loss_twice, .n_in = 2, .in = {F(2, -1, 1, 3, 4), F(2, -1, 1, 3, 4)}, .direct = true},
    {"upstream/mse+0.5ce-bce", b_loss_mix, .info = &CE_INFO, .n_in = 6,
     .in = {F(2, -1, 1, 3, 4), K(2, -1, 1, 3, 4), F(2, -2, 2, 4, 5), I32(1, CE_TGT, 4), F(2, -2, 2, 3, 4),
            K(2, 0, 1, 3, 4)},
     .direct = true},
    {"upstream/mse*s+ce/s", b_loss_mul, .info = &CE_INFO, .n_in = 5,
     .in = {F(2, -1, 1, 3, 4), K(2, -1, 1, 3, 4), F(2, -2, 2, 4, 5), I32(1, CE_TGT, 4), F(1, 0.5f, 1.5f, 1)},
     .direct = true},
    {"twice/leaf-views", b_leaf_views, .n_in = 1, .in = {F(2, -2, 2, 3, 4)}},
    {"upstream/loss-view", b_loss_view, 2, .n_in = 2, .in = {F(2, -2, 2, 3, 4), K(2, 0, 1, 3, 4)}, .direct = true},
    /* only some inputs require grad: the others' gradients go nowhere or to scratch */
    {"partial/linear/w-only", b_linear, .n_in = 3, .in = {K(3, -1, 1, 2, 3, 4), F(2, -1, 1, 5, 4), K(1, -1, 1, 5)},
     .gemm = true},
    {"partial/linear/x-bias", b_linear, .n_in = 3, .in = {F(2, -1, 1, 3, 4), K(2, -1, 1, 5, 4), F(1, -1, 1, 5)},
     .gemm = true},
    {"partial/linear/1d", b_linear, .n_in = 3, .in = {F(1, -1, 1, 4), F(2, -1, 1, 5, 4), F(1, -1, 1, 5)}, .gemm = true},
    {"partial/linear/empty-batch", b_linear, .n_in = 3, .in = {F(2, -1, 1, 0, 4), F(2, -1, 1, 5, 4), F(1, -1, 1, 5)},
     .gemm = true},
    {"partial/matmul/plain-b-only", b_matmul, 0, 0, 1.0f, .n_in = 2, .in = {K(3, -1, 1, 2, 3, 4), F(2, -1, 1, 4, 5)},
     .gemm = true},
    {"partial/matmul/a-only", b_matmul, 1, 0, 1.0f, .n_in = 2, .in = {F(2, -1, 1, 4, 3), K(2, -1, 1, 4, 5)},
     .gemm = true},
    {"partial/binary/b-only", b_binary, VKDL_DIV, .n_in = 2, .in = {K(2, -2, 2, 2, 3), F(1, 0.5f, 2, 3)}},
    {"partial/conv2d/bias-only", b_conv, .info = &CONV_INFO, .n_in = 3,
     .in = {K(4, -1, 1, 2, 4, 5, 5), K(4, -0.5f, 0.5f, 4, 2, 3, 3), F(1, -1, 1, 4)}, .gemm = true},
    {"partial/conv2d/x-only", b_conv, .info = &CONV_INFO, .n_in = 3,
     .in = {F(4, -1, 1, 2, 4, 5, 5), K(4, -0.5f, 0.5f, 4, 2, 3, 3), K(1, -1, 1, 4)}, .gemm = true},
    {"partial/conv_transpose2d/w-only", b_convt, .info = &CONVT_INFO, .n_in = 3,
     .in = {K(4, -1, 1, 1, 2, 3, 3), F(4, -0.5f, 0.5f, 2, 3, 3, 3), K(1, -1, 1, 3)}, .gemm = true},
    {"partial/batchnorm/x-only", b_batchnorm, .n_in = 5,
     .in = {F(4, -2, 2, 3, 2, 2, 2), K(1, 0.5f, 1.5f, 2), K(1, -1, 1, 2), K(1, -1, 1, 2), K(1, 0.5f, 1.5f, 2)}},
    {"partial/layernorm/gamma-only", b_layernorm, .n_in = 3,
     .in = {K(3, -2, 2, 2, 3, 5), F(1, 0.5f, 1.5f, 5), K(1, -1, 1, 5)}},
    {"partial/attention/v-only", b_attention, 0, 1, .n_in = 3,
     .in = {K(4, -1, 1, 1, 4, 3, 4), K(4, -1, 1, 1, 2, 5, 4), F(4, -1, 1, 1, 2, 5, 4)}, .gemm = true},
    {"partial/attention/q-only", b_attention, .n_in = 3,
     .in = {F(4, -1, 1, 1, 4, 3, 4), K(4, -1, 1, 1, 2, 5, 4), K(4, -1, 1, 1, 2, 5, 4)}, .gemm = true},
    {"partial/mse_loss/target-only", b_loss, 0, .n_in = 2, .in = {K(2, -1, 1, 3, 4), F(2, -1, 1, 3, 4)}},
    {"partial/lstm/weights-only", b_lstm, .n_in = 7,
     .in = {K(3, -1, 1, 3, 2, 3), K(2, -1, 1, 2, 4), K(2, -1, 1, 2, 4), F(2, -0.5f, 0.5f, 16, 3),
            F(2, -0.5f, 0.5f, 16, 4), K(1, -0.5f, 0.5f, 16), F(1, -0.5f, 0.5f, 16)},
     .gemm = true},
    {"partial/gru/x-h0", b_gru, .n_in = 6,
     .in = {F(3, -1, 1, 3, 2, 3), F(2, -1, 1, 2, 4), K(2, -0.5f, 0.5f, 12, 3), K(2, -0.5f, 0.5f, 12, 4),
            K(1, -0.5f, 0.5f, 12), K(1, -0.5f, 0.5f, 12)},
     .gemm = true},
    {"cross_entropy/no-info", b_loss, 1, .n_in = 2, .in = {F(2, -2, 2, 4, 5), I32(1, CE_TGT_VALID, 4)}, .direct = true},
    {"mlp/larger", b_mlp, .n_in = 5,
     .in = {F(2, -1, 1, 127, 33), F(2, -0.3f, 0.3f, 17, 33), F(1, -1, 1, 17), F(2, -0.5f, 0.5f, 3, 17),
            K(2, -1, 1, 127, 3)},
     .direct = true, .gemm = true, .max_checks = 8},
    {"mlp", b_mlp, .n_in = 5,
     .in = {F(2, -1, 1, 4, 3), F(2, -1, 1, 5, 3), F(1, -1, 1, 5), F(2, -1, 1, 2, 5), K(2, -1, 1, 4, 2)},
     .direct = true, .gemm = true},
};

/* ---------------------------------------------------------------- accumulation across passes */

static const gcase *find_case(const char *name)
{
    for (size_t i = 0; i < VKDL_ARRAY_LEN(CASES); i++)
        if (!strcmp(CASES[i].name, name))
            return &CASES[i];
    return NULL;
}

typedef struct acc_case {
    const char *name;
    bool exact;                     /* every leaf has one consumer, so no sum is reassociated */
} acc_case;

/* Two backward passes without zeroing give twice one pass: exactly, as the second adds the same
 * bits, unless a leaf has several consumers (x x^T: (g + a) + b is not 2 (a + b) bit for bit).
 * Zeroing with vkdl_tensor_fill, then one pass, gives the first pass's bits again. */
static void run_accumulate(void *arg)
{
    const acc_case *ac = arg;
    const gcase *c = find_case(ac->name);
    vkdl_context *ctxs[2] = {th_cpu, th_gpu};
    for (int k = 0; k < 2; k++) {
        float *host[MAX_IN] = {0};
        vkdl_tensor *t[MAX_IN] = {0};
        for (int i = 0; i < c->n_in; i++)
            host[i] = host_data(&c->in[i]);
        float *g1[MAX_IN] = {0}, *r = NULL;
        int64_t nr = 0;
        if (make_inputs(ctxs[k], c, host, t) && weights(ctxs[k], c, t, &r, &nr) && backward(ctxs[k], c, t, r, nr)) {
            for (int i = 0; i < c->n_in; i++)
                if (c->in[i].grad)
                    g1[i] = th_download(vkdl_tensor_grad(t[i]));
            for (int pass = 0; pass < 2; pass++) {
                if (!backward(ctxs[k], c, t, r, nr))
                    break;
                for (int i = 0; i < c->n_in; i++) {
                    if (!g1[i])
                        continue;
                    vkdl_tensor *g = vkdl_tensor_grad(t[i]);
                    float *g2 = th_download(g);
                    int64_t n = numel_of(&c->in[i]), bad = 0;
                    for (int64_t j = 0; j < n; j++) {
                        float want = pass ? g1[i][j] : 2.0f * g1[i][j];
                        double tol = ac->exact || pass ? 0.0 : 1e-6 * fmax(1.0, fabs(want));
                        if (!(fabs((double)g2[j] - want) <= tol) && bad++ < 3)
                            th_fail("%s pass %d: input %d [%lld] is %.9g, expected %.9g", vkdl_context_device_name(ctxs[k]),
                                    pass, i, (long long)j, g2[j], want);
                    }
                    free(g2);
                    if (pass == 0)
                        TH_OK(vkdl_tensor_fill(g, 0.0));
                }
            }
        }
        for (int i = 0; i < c->n_in; i++) {
            vkdl_tensor_destroy(t[i]);
            free(host[i]);
            free(g1[i]);
        }
        free(r);
    }
}

/* ---------------------------------------------------------------- lifetime and memory */

static vkdl_status mlp_loss(vkdl_tensor *x, vkdl_tensor *w, vkdl_tensor *b, vkdl_tensor *target, vkdl_tensor **loss)
{
    vkdl_tensor *y, *a;
    VKDL_TRY(vkdl_f_linear(x, w, b, &y));
    VKDL_TRY(vkdl_f_unary(VKDL_TANH, y, &a));
    return vkdl_f_mse_loss(a, target, loss);
}

typedef struct model {
    vkdl_tensor *x, *w, *b, *target;
} model;

static bool model_create(vkdl_context *ctx, model *m)
{
    int64_t sx[2] = {8, 4}, sw[2] = {3, 4}, sb[1] = {3}, st[2] = {8, 3};
    vkdl_tensor **t[4] = {&m->x, &m->w, &m->b, &m->target};
    const int64_t *shapes[4] = {sx, sw, sb, st};
    const int nd[4] = {2, 2, 1, 2};
    for (int i = 0; i < 4; i++) {
        int64_t n = 1;
        for (int j = 0; j < nd[i]; j++)
            n *= shapes[i][j];
        float v[32];
        for (int64_t j = 0; j < n; j++)
            v[j] = th_randf(-0.9f, 0.9f);
        if (!TH_OK(vkdl_tensor_create(ctx, VKDL_F32, nd[i], shapes[i], t[i])) ||
            !TH_OK(vkdl_tensor_upload(*t[i], v, VKDL_F32, (size_t)n * sizeof *v)))
            return false;
    }
    return TH_OK(vkdl_tensor_set_requires_grad(m->w, 1)) && TH_OK(vkdl_tensor_set_requires_grad(m->b, 1));
}

static void model_destroy(model *m)
{
    vkdl_tensor_destroy(m->x);
    vkdl_tensor_destroy(m->w);
    vkdl_tensor_destroy(m->b);
    vkdl_tensor_destroy(m->target);
}

static size_t grad_bytes(const model *m)
{
    return (size_t)(vkdl_tensor_numel(m->w) + vkdl_tensor_numel(m->b)) * sizeof(float);
}

/* A check of one backend, for a case that runs it on the CPU backend and then on the device. */
typedef void (*on_ctx_fn)(vkdl_context *ctx);

static void run_on_both(void *arg)
{
    on_ctx_fn fn = *(const on_ctx_fn *)arg;
    fn(th_cpu);
    fn(th_gpu);
}

/* vkdl_backward leaves the graph's tensors readable: a graph free retires them into the pool and two
 * more release its storage (drain). vkdl_graph_free frees a forward-only graph. With grad mode off
 * nothing is recorded. */
static void run_lifetime(vkdl_context *ctx)
{
    const char *dev = vkdl_context_device_name(ctx);
    model m = {0};
    drain(ctx);
    if (!model_create(ctx, &m)) {
        model_destroy(&m);
        return;
    }
    size_t base = mem_now(ctx);
    vkdl_tensor *loss;
    if (TH_OK(mlp_loss(m.x, m.w, m.b, m.target, &loss)) && TH_OK(vkdl_backward(loss))) {
        drain(ctx);
        if (mem_now(ctx) != base + grad_bytes(&m))
            th_fail("%s: after backward and three graph frees %zu bytes in use, expected %zu", dev, mem_now(ctx),
                    base + grad_bytes(&m));
    }
    base = mem_now(ctx);
    if (TH_OK(mlp_loss(m.x, m.w, m.b, m.target, &loss))) {
        if (mem_now(ctx) == base)
            th_fail("%s: the forward allocated nothing", dev);
        drain(ctx);
        if (mem_now(ctx) != base)
            th_fail("%s: vkdl_graph_free left %zu bytes of a forward-only graph", dev, mem_now(ctx) - base);
    }
    /* Grad mode off: nothing recorded, so backward has nothing to start from. */
    TH_TRUE(vkdl_grad_enabled(ctx, 0) == 1);
    if (TH_OK(mlp_loss(m.x, m.w, m.b, m.target, &loss)))
        TH_STATUS(vkdl_backward(loss), VKDL_ERROR_INVALID_ARGUMENT, "does not depend");
    TH_TRUE(vkdl_grad_enabled(ctx, 1) == 0);
    TH_TRUE(vkdl_grad_enabled(ctx, 1) == 1);
    drain(ctx);
    if (mem_now(ctx) != base)
        th_fail("%s: a failed backward left %zu bytes", dev, mem_now(ctx) - base);
    model_destroy(&m);
}

/* The same training step repeated: after the first steps every graph allocation is a pool hit, so
 * current and peak memory stay put. */
static void run_training_memory(vkdl_context *ctx)
{
    const char *dev = vkdl_context_device_name(ctx);
    model m = {0};
    if (!model_create(ctx, &m)) {
        model_destroy(&m);
        return;
    }
    TH_TRUE(vkdl_tensor_grad(m.w) == NULL);
    vkdl_optim_info sgd = {.type = VKDL_SGD, .lr = 0.2f};
    size_t cur10 = 0, peak10 = 0;
    float first = 0, last = 0;
    bool ok = true;
    for (int step = 1; ok && step <= 210; step++) {
        vkdl_tensor *loss;
        ok = TH_OK(mlp_loss(m.x, m.w, m.b, m.target, &loss));
        if (ok && (step == 1 || step == 210))
            ok = TH_OK(vkdl_tensor_download(loss, step == 1 ? &first : &last, VKDL_F32, sizeof(float)));
        ok = ok && TH_OK(vkdl_backward(loss));
        ok = ok && TH_OK(vkdl_optim_step(&sgd, m.w, vkdl_tensor_grad(m.w), NULL, NULL));
        ok = ok && TH_OK(vkdl_optim_step(&sgd, m.b, vkdl_tensor_grad(m.b), NULL, NULL));
        ok = ok && TH_OK(vkdl_tensor_fill(vkdl_tensor_grad(m.w), 0.0)) &&
             TH_OK(vkdl_tensor_fill(vkdl_tensor_grad(m.b), 0.0));
        if (step == 10)
            vkdl_context_memory(ctx, &cur10, &peak10);
    }
    if (!ok)
        vkdl_graph_free(ctx);
    size_t cur, peak;
    vkdl_context_memory(ctx, &cur, &peak);
    if (ok && (cur != cur10 || peak != peak10))
        th_fail("%s: memory at step 10 current %zu peak %zu, at step 210 current %zu peak %zu", dev, cur10, peak10,
                cur, peak);
    if (ok && !(last < 0.9f * first))
        th_fail("%s: training did not reduce the loss (%g -> %g)", dev, first, last);
    model_destroy(&m);
}

/* Dropout's gradient is the mask scaled by 1 / (1 - p): r * y / x for x != 0. */
static void run_dropout_mask(void *arg)
{
    (void)arg;
    const float p = 0.3f;
    vkdl_context *ctxs[2] = {th_cpu, th_gpu};
    int64_t n = 64;
    float x[64], r[64];
    for (int i = 0; i < n; i++) {
        x[i] = th_randf(0.5f, 1.5f);
        r[i] = th_randf(-1, 1);
    }
    for (int k = 0; k < 2; k++) {
        vkdl_tensor *xt = NULL, *rt = NULL, *y, *loss;
        if (TH_OK(vkdl_tensor_create(ctxs[k], VKDL_F32, 1, &n, &xt)) &&
            TH_OK(vkdl_tensor_upload(xt, x, VKDL_F32, sizeof x)) && TH_OK(vkdl_tensor_set_requires_grad(xt, 1)) &&
            TH_OK(vkdl_tensor_create(ctxs[k], VKDL_F32, 1, &n, &rt)) &&
            TH_OK(vkdl_tensor_upload(rt, r, VKDL_F32, sizeof r)) && TH_OK(vkdl_f_dropout(xt, p, 99, &y))) {
            float *yv = th_download(y);
            if (TH_OK(weighted(y, rt, &loss)) && TH_OK(vkdl_backward(loss))) {
                float *g = th_download(vkdl_tensor_grad(xt));
                int kept = 0;
                for (int i = 0; i < n; i++) {
                    bool keep = yv[i] != 0.0f;
                    kept += keep;
                    float want = keep ? r[i] / (1.0f - p) : 0.0f;
                    if (fabsf(g[i] - want) > 1e-6f * fabsf(want) || (keep && fabsf(yv[i] - x[i] / (1 - p)) > 1e-5f)) {
                        th_fail("%s: [%d] x %g y %g grad %g, expected %g", vkdl_context_device_name(ctxs[k]), i, x[i],
                                yv[i], g[i], want);
                        break;
                    }
                }
                if (kept < 30 || kept > 60)
                    th_fail("%s: %d of 64 kept at p = %g", vkdl_context_device_name(ctxs[k]), kept, p);
                free(g);
            }
            free(yv);
        }
        vkdl_graph_free(ctxs[k]);
        vkdl_tensor_destroy(xt);
        vkdl_tensor_destroy(rt);
    }
}

/* A leaf as the loss: backward seeds its gradient with 1, then adds 1. Attention with one tensor
 * as both k and v runs forward but refuses backward. */
static void run_misc(vkdl_context *ctx)
{
    vkdl_tensor *s = NULL, *q = NULL, *kv = NULL, *y, *loss;
    int64_t sq[4] = {1, 2, 3, 4};
    if (TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 0, NULL, &s)) && TH_OK(vkdl_tensor_fill(s, 3.0)) &&
        TH_OK(vkdl_tensor_set_requires_grad(s, 1))) {
        for (int pass = 1; pass <= 2; pass++) {
            float g = 0;
            if (TH_OK(vkdl_backward(s)) &&
                TH_OK(vkdl_tensor_download(vkdl_tensor_grad(s), &g, VKDL_F32, sizeof g)) && g != (float)pass)
                th_fail("%s: leaf loss gradient %g after %d passes", vkdl_context_device_name(ctx), g, pass);
        }
    }
    if (TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, sq, &q)) && TH_OK(vkdl_tensor_fill(q, 0.5)) &&
        TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, sq, &kv)) && TH_OK(vkdl_tensor_fill(kv, 0.25)) &&
        TH_OK(vkdl_tensor_set_requires_grad(kv, 1)) && TH_OK(vkdl_f_attention(q, kv, kv, NULL, &y)) &&
        TH_OK(vkdl_f_mse_loss(y, q, &loss)))
        TH_OK(vkdl_backward(loss));
    vkdl_graph_free(ctx);
    vkdl_tensor_destroy(s);
    vkdl_tensor_destroy(q);
    vkdl_tensor_destroy(kv);
}

/* ---------------------------------------------------------------- bad input */

static void run_bad(vkdl_context *ctx)
{
    int64_t s3[1] = {3}, s23[2] = {2, 3}, s45[2] = {4, 5}, s3d[3] = {1, 2, 3}, sw[4] = {2, 2, 3, 3};
    vkdl_tensor *x = NULL, *m = NULL, *w = NULL, *i32 = NULL, *c3 = NULL, *cw = NULL, *y = NULL, *loss = NULL;
    bool ok = TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, s3, &x)) && TH_OK(vkdl_tensor_fill(x, 0.5)) &&
              TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 2, s23, &m)) && TH_OK(vkdl_tensor_fill(m, 0.5)) &&
              TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 2, s45, &w)) && TH_OK(vkdl_tensor_fill(w, 0.5)) &&
              TH_OK(vkdl_tensor_create(ctx, VKDL_I32, 1, s3, &i32)) && TH_OK(vkdl_tensor_fill(i32, 1)) &&
              TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 3, s3d, &c3)) && TH_OK(vkdl_tensor_fill(c3, 0.5)) &&
              TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, sw, &cw)) && TH_OK(vkdl_tensor_fill(cw, 0.5)) &&
              TH_OK(vkdl_tensor_set_requires_grad(x, 1)) && TH_OK(vkdl_tensor_set_requires_grad(m, 1));
    if (ok) {
        TH_STATUS(vkdl_tensor_set_requires_grad(i32, 1), VKDL_ERROR_DTYPE_MISMATCH, "only f32");
        TH_STATUS(vkdl_tensor_set_requires_grad(NULL, 1), VKDL_ERROR_INVALID_ARGUMENT, "t is NULL");
        TH_TRUE(!vkdl_tensor_requires_grad(i32) && vkdl_tensor_requires_grad(x) && !vkdl_tensor_requires_grad(NULL));
        TH_TRUE(vkdl_tensor_grad(NULL) == NULL && vkdl_tensor_grad(x) == NULL);
        /* a non-scalar loss */
        if (TH_OK(vkdl_f_unary(VKDL_TANH, x, &y)))
            TH_STATUS(vkdl_backward(y), VKDL_ERROR_SHAPE_MISMATCH, "one element, not 3");
        TH_STATUS(vkdl_backward(NULL), VKDL_ERROR_INVALID_ARGUMENT, "loss is NULL");
        /* a loss that depends on no leaf */
        TH_OK(vkdl_tensor_set_requires_grad(x, 0));
        if (TH_OK(vkdl_f_reduce(VKDL_SUM, x, 0, 0, &loss)))
            TH_STATUS(vkdl_backward(loss), VKDL_ERROR_INVALID_ARGUMENT, "does not depend");
        TH_OK(vkdl_tensor_set_requires_grad(x, 1));
        TH_STATUS(vkdl_f_linear(m, w, NULL, &y), VKDL_ERROR_SHAPE_MISMATCH, "does not end in w's 5 inputs");
        TH_STATUS(vkdl_f_linear(i32, w, NULL, &y), VKDL_ERROR_DTYPE_MISMATCH, "f_linear: x is i32");
        TH_STATUS(vkdl_f_conv2d(c3, cw, NULL, NULL, &y), VKDL_ERROR_SHAPE_MISMATCH, "x must have 4 dims, not 1x2x3");
        static const int dup[2] = {0, 0}, big[2] = {0, 2};
        TH_STATUS(vkdl_f_permute(m, dup, &y), VKDL_ERROR_INVALID_ARGUMENT, "not a permutation");
        TH_STATUS(vkdl_f_permute(m, big, &y), VKDL_ERROR_INVALID_ARGUMENT, "not a permutation");
        TH_STATUS(vkdl_f_permute(m, NULL, &y), VKDL_ERROR_INVALID_ARGUMENT, "perm is NULL");
        TH_STATUS(vkdl_f_reduce(VKDL_ARGMAX, m, 1, 0, &y), VKDL_ERROR_INVALID_ARGUMENT, "argmax is not differentiable");
        TH_STATUS(vkdl_f_reduce(VKDL_SUM, m, 2, 0, &y), VKDL_ERROR_INVALID_ARGUMENT, "axis 2 out of range");
        TH_STATUS(vkdl_f_batchnorm(m, NULL, NULL, w, x, 0, 0.1f, 1e-5f, &y), VKDL_ERROR_SHAPE_MISMATCH,
                  "running_mean must have 1 dims");
        TH_STATUS(vkdl_f_binary(VKDL_ADD, m, w, &y), VKDL_ERROR_SHAPE_MISMATCH, "2x3 and 4x5 do not broadcast");
        vkdl_matmul_info bias = {.alpha = 1, .bias = x};
        TH_STATUS(vkdl_f_matmul(m, w, &bias, &y), VKDL_ERROR_INVALID_ARGUMENT, "not differentiable");
        TH_STATUS(vkdl_f_upsample_nearest2d(cw, 0, &y), VKDL_ERROR_INVALID_ARGUMENT, "factor 0");
        /* NULL out pointers */
        TH_STATUS(vkdl_f_unary(VKDL_TANH, x, NULL), VKDL_ERROR_INVALID_ARGUMENT, "f_unary: out is NULL");
        TH_STATUS(vkdl_f_scale(x, 1, 0, NULL), VKDL_ERROR_INVALID_ARGUMENT, "f_scale: out is NULL");
        TH_STATUS(vkdl_f_binary(VKDL_ADD, x, x, NULL), VKDL_ERROR_INVALID_ARGUMENT, "f_binary: out is NULL");
        TH_STATUS(vkdl_f_reduce(VKDL_SUM, x, 0, 0, NULL), VKDL_ERROR_INVALID_ARGUMENT, "f_reduce: out is NULL");
        TH_STATUS(vkdl_f_softmax(x, NULL), VKDL_ERROR_INVALID_ARGUMENT, "f_softmax: out is NULL");
        TH_STATUS(vkdl_f_reshape(x, 1, s3, NULL), VKDL_ERROR_INVALID_ARGUMENT, "f_reshape: out is NULL");
        TH_STATUS(vkdl_f_matmul(m, m, NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT, "f_matmul: out is NULL");
        TH_STATUS(vkdl_f_linear(m, w, NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT, "f_linear: out is NULL");
        TH_STATUS(vkdl_f_conv2d(cw, cw, NULL, NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT, "f_conv2d: out is NULL");
        TH_STATUS(vkdl_f_mse_loss(x, x, NULL), VKDL_ERROR_INVALID_ARGUMENT, "f_mse_loss: out is NULL");
        TH_STATUS(vkdl_f_lstm(c3, NULL, NULL, w, w, NULL, NULL, NULL, NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT,
                  "f_lstm: out is NULL");
        /* NULL inputs */
        TH_STATUS(vkdl_f_unary(VKDL_TANH, NULL, &y), VKDL_ERROR_INVALID_ARGUMENT, "x is NULL");
        TH_STATUS(vkdl_f_binary(VKDL_MUL, x, NULL, &y), VKDL_ERROR_INVALID_ARGUMENT, "b is NULL");
        TH_STATUS(vkdl_f_attention(NULL, x, x, NULL, &y), VKDL_ERROR_INVALID_ARGUMENT, "q is NULL");
        TH_TRUE(y == NULL); /* failed calls clear *out */
    }
    vkdl_graph_free(ctx);
    vkdl_tensor_destroy(x);
    vkdl_tensor_destroy(m);
    vkdl_tensor_destroy(w);
    vkdl_tensor_destroy(i32);
    vkdl_tensor_destroy(c3);
    vkdl_tensor_destroy(cw);
}

/* ---------------------------------------------------------------- graph handles after backward */

/* loss.backward(); loss.item(): vkdl_backward leaves the graph's tensors readable, with the
 * forward's values, until the next vkdl_f_* call; a second backward of the same graph is refused. */
static void run_read_after_backward(vkdl_context *ctx)
{
    model m = {0};
    vkdl_tensor *loss;
    float before = 0, after = 1;
    if (model_create(ctx, &m) && TH_OK(mlp_loss(m.x, m.w, m.b, m.target, &loss)) &&
        TH_OK(vkdl_tensor_download(loss, &before, VKDL_F32, sizeof before)) && TH_OK(vkdl_backward(loss)) &&
        TH_OK(vkdl_tensor_download(loss, &after, VKDL_F32, sizeof after))) {
        if (after != before)
            th_fail("%s: loss reads %g after backward, %g before", vkdl_context_device_name(ctx), after,
                    before);
        TH_STATUS(vkdl_backward(loss), VKDL_ERROR_INVALID_ARGUMENT, "already back-propagated");
        vkdl_tensor_destroy(loss); /* refused: the graph frees it */
        TH_TRUE(strstr(vkdl_last_error(), "belongs to the autograd graph") != NULL);
        TH_OK(vkdl_tensor_download(loss, &after, VKDL_F32, sizeof after));
    }
    vkdl_graph_free(ctx);
    model_destroy(&m);
}

/* A handle from a freed graph given to every public function that takes a tensor (in every tensor
 * argument, or in the info struct that carries one) is refused by name: no crash, no use after free. */
#define FREED "autograd graph that was freed"

typedef struct stale_env {
    vkdl_tensor *s;                 /* the stale handle */
    vkdl_tensor *u;                 /* a live f32 [2, 2] */
    vkdl_tensor *q;                 /* a live f32 [1, 1, 2, 2] */
    vkdl_module *lin;
    vkdl_dataset *ds;
} stale_env;

typedef vkdl_status (*stale_fn)(const stale_env *e);
typedef struct stale_case {
    const char *name;
    stale_fn call;
} stale_case;

/* Value-returning functions answer as for NULL; their status is read from that answer. */
static vkdl_status answered_null(bool null_like) { return null_like ? VKDL_ERROR_INVALID_ARGUMENT : VKDL_OK; }

#define STALE(fn, ...) static vkdl_status stale_##fn(const stale_env *e) { vkdl_tensor *s = e->s, *o = NULL; \
        (void)s; (void)o; __VA_ARGS__ }
STALE(tensor_destroy, vkdl_tensor_destroy(s); return VKDL_ERROR_INVALID_ARGUMENT;)
STALE(tensor_reshape, int64_t d = -1; return vkdl_tensor_reshape(s, 1, &d, &o);)
STALE(tensor_slice, return vkdl_tensor_slice(s, 0, 1, &o);)
STALE(tensor_upload, float v[24] = {0}; return vkdl_tensor_upload(s, v, VKDL_F32, sizeof v);)
STALE(tensor_download, float v[24]; return vkdl_tensor_download(s, v, VKDL_F32, sizeof v);)
STALE(tensor_fill, return vkdl_tensor_fill(s, 1.0);)
STALE(tensor_dtype, return answered_null(vkdl_tensor_dtype(s) == VKDL_F32);)
STALE(tensor_ndim, return answered_null(vkdl_tensor_ndim(s) == 0);)
STALE(tensor_dim, return answered_null(vkdl_tensor_dim(s, 0) == 0);)
STALE(tensor_numel, return answered_null(vkdl_tensor_numel(s) == 0);)
STALE(tensor_context, return answered_null(vkdl_tensor_context(s) == NULL);)
STALE(unary, return vkdl_unary(VKDL_RELU, s, s);)
STALE(scale, return vkdl_scale(s, 1, 0, s);)
STALE(binary, return vkdl_binary(VKDL_ADD, s, s, s);)
STALE(reduce, return vkdl_reduce(VKDL_SUM, s, 0, s);)
STALE(softmax, return vkdl_softmax(s, s);)
STALE(log_softmax, return vkdl_log_softmax(s, s);)
STALE(permute, int perm[1] = {0}; return vkdl_permute(s, perm, s);)
STALE(copy, return vkdl_copy(s, s);)
STALE(matmul, return vkdl_matmul(s, s, s, NULL);)
STALE(matmul_bias, vkdl_matmul_info i = {.alpha = 1, .bias = s}; return vkdl_matmul(e->u, e->u, e->u, &i);)
STALE(unary_backward, return vkdl_unary_backward(VKDL_RELU, s, s, s);)
STALE(binary_backward, return vkdl_binary_backward(VKDL_ADD, s, s, s, s, s);)
STALE(softmax_backward, return vkdl_softmax_backward(s, s, s);)
STALE(log_softmax_backward, return vkdl_log_softmax_backward(s, s, s);)
STALE(conv2d, return vkdl_conv2d(s, s, s, s, NULL);)
STALE(conv2d_backward_data, return vkdl_conv2d_backward_data(s, s, s, NULL);)
STALE(conv2d_backward_weight, return vkdl_conv2d_backward_weight(s, s, s, s, NULL);)
STALE(conv_transpose2d, return vkdl_conv_transpose2d(s, s, s, s, NULL);)
STALE(conv_transpose2d_backward_weight, return vkdl_conv_transpose2d_backward_weight(s, s, s, s, NULL);)
STALE(maxpool2d, vkdl_pool2d_info i = {.kernel = {1, 1}}; return vkdl_maxpool2d(s, s, s, &i);)
STALE(maxpool2d_backward, return vkdl_maxpool2d_backward(s, s, s);)
STALE(avgpool2d, vkdl_pool2d_info i = {.kernel = {1, 1}}; return vkdl_avgpool2d(s, s, &i);)
STALE(avgpool2d_backward, vkdl_pool2d_info i = {.kernel = {1, 1}}; return vkdl_avgpool2d_backward(s, s, &i);)
STALE(global_avgpool2d, return vkdl_global_avgpool2d(s, s);)
STALE(global_avgpool2d_backward, return vkdl_global_avgpool2d_backward(s, s);)
STALE(upsample_nearest2d, return vkdl_upsample_nearest2d(s, s);)
STALE(upsample_nearest2d_backward, return vkdl_upsample_nearest2d_backward(s, s);)
STALE(batchnorm, return vkdl_batchnorm(s, s, s, s, s, 1, 0.1f, 1e-5f, s, s, s);)
STALE(batchnorm_backward, return vkdl_batchnorm_backward(s, s, s, s, s, s, s, s);)
STALE(layernorm, return vkdl_layernorm(s, s, s, 1e-5f, s, s, s);)
STALE(layernorm_backward, return vkdl_layernorm_backward(s, s, s, s, s, s, s, s);)
STALE(rmsnorm, return vkdl_rmsnorm(s, s, 1e-5f, s, s);)
STALE(rmsnorm_backward, return vkdl_rmsnorm_backward(s, s, s, s, s, s);)
STALE(attention, return vkdl_attention(s, s, s, s, s, NULL);)
STALE(attention_mask, vkdl_attention_info i = {.mask = s}; return vkdl_attention(e->q, e->q, e->q, e->q, NULL, &i);)
STALE(attention_backward, return vkdl_attention_backward(s, s, s, s, s, s, s, s, s, NULL);)
STALE(embedding, return vkdl_embedding(s, s, s);)
STALE(embedding_backward, return vkdl_embedding_backward(s, s, s);)
STALE(dropout, return vkdl_dropout(s, 0.5f, 1, s);)
STALE(dropout_backward, return vkdl_dropout_backward(s, 0.5f, 1, s);)
STALE(mse_loss, return vkdl_mse_loss(s, s, s);)
STALE(mse_loss_backward, return vkdl_mse_loss_backward(s, s, 1, s);)
STALE(cross_entropy, return vkdl_cross_entropy(s, s, s, NULL);)
STALE(cross_entropy_backward, return vkdl_cross_entropy_backward(s, s, 1, s, NULL);)
STALE(bce_with_logits, return vkdl_bce_with_logits(s, s, s);)
STALE(bce_with_logits_backward, return vkdl_bce_with_logits_backward(s, s, 1, s);)
STALE(lstm, return vkdl_lstm(s, s, s, s, s, s, s, s, s, s, s);)
STALE(lstm_backward, return vkdl_lstm_backward(s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s);)
STALE(gru, return vkdl_gru(s, s, s, s, s, s, s, s, s);)
STALE(gru_backward, return vkdl_gru_backward(s, s, s, s, s, s, s, s, s, s, s, s, s, s);)
STALE(optim_step, vkdl_optim_info i = {.type = VKDL_SGD, .lr = 0.1f}; return vkdl_optim_step(&i, s, s, s, s);)
STALE(optim_step_grad_scale, vkdl_optim_info i = {.type = VKDL_SGD, .lr = 0.1f, .grad_scale = s};
      return vkdl_optim_step(&i, e->u, e->u, NULL, NULL);)
STALE(clip_grad_norm, return vkdl_clip_grad_norm(s, 1, s, s);)
STALE(safetensors_save, const char *n = "s"; return vkdl_safetensors_save("/nonexistent/stale.safetensors", 1, &n, &s);)
STALE(safetensors_load, const char *n = "s"; return vkdl_safetensors_load("/nonexistent/stale.safetensors", 1, &n, &s);)
STALE(tensor_set_requires_grad, return vkdl_tensor_set_requires_grad(s, 1);)
STALE(tensor_requires_grad, return answered_null(vkdl_tensor_requires_grad(s) == 0);)
STALE(tensor_grad, return answered_null(vkdl_tensor_grad(s) == NULL);)
STALE(backward, return vkdl_backward(s);)
STALE(f_unary, return vkdl_f_unary(VKDL_RELU, s, &o);)
STALE(f_scale, return vkdl_f_scale(s, 1, 0, &o);)
STALE(f_binary, return vkdl_f_binary(VKDL_ADD, s, s, &o);)
STALE(f_reduce, return vkdl_f_reduce(VKDL_SUM, s, 0, 0, &o);)
STALE(f_softmax, return vkdl_f_softmax(s, &o);)
STALE(f_log_softmax, return vkdl_f_log_softmax(s, &o);)
STALE(f_reshape, int64_t d = -1; return vkdl_f_reshape(s, 1, &d, &o);)
STALE(f_permute, int perm[1] = {0}; return vkdl_f_permute(s, perm, &o);)
STALE(f_matmul, return vkdl_f_matmul(s, s, NULL, &o);)
STALE(f_linear, return vkdl_f_linear(s, s, s, &o);)
STALE(f_conv2d, return vkdl_f_conv2d(s, s, s, NULL, &o);)
STALE(f_conv_transpose2d, return vkdl_f_conv_transpose2d(s, s, s, NULL, &o);)
STALE(f_maxpool2d, vkdl_pool2d_info i = {.kernel = {1, 1}}; return vkdl_f_maxpool2d(s, &i, &o);)
STALE(f_avgpool2d, vkdl_pool2d_info i = {.kernel = {1, 1}}; return vkdl_f_avgpool2d(s, &i, &o);)
STALE(f_global_avgpool2d, return vkdl_f_global_avgpool2d(s, &o);)
STALE(f_upsample_nearest2d, return vkdl_f_upsample_nearest2d(s, 2, &o);)
STALE(f_batchnorm, return vkdl_f_batchnorm(s, s, s, s, s, 1, 0.1f, 1e-5f, &o);)
STALE(f_layernorm, return vkdl_f_layernorm(s, s, s, 1e-5f, &o);)
STALE(f_attention, return vkdl_f_attention(s, s, s, NULL, &o);)
STALE(f_embedding, return vkdl_f_embedding(s, s, &o);)
STALE(f_dropout, return vkdl_f_dropout(s, 0.5f, 1, &o);)
STALE(f_mse_loss, return vkdl_f_mse_loss(s, s, &o);)
STALE(f_cross_entropy, return vkdl_f_cross_entropy(s, s, NULL, &o);)
STALE(f_bce_with_logits, return vkdl_f_bce_with_logits(s, s, &o);)
STALE(f_lstm, vkdl_tensor *h, *c; return vkdl_f_lstm(s, s, s, s, s, s, s, &o, &h, &c);)
STALE(f_gru, vkdl_tensor *h; return vkdl_f_gru(s, s, s, s, s, s, &o, &h);)
STALE(module_forward, return vkdl_module_forward(e->lin, s, &o);)
STALE(dataset_batch, return vkdl_dataset_batch(e->ds, 0, 1, s, s);)
STALE(png_write_grid, return vkdl_png_write_grid("/nonexistent/stale.png", s, 1, 0, 1);)
#undef STALE

#define SC(fn) {#fn, stale_##fn}
static const stale_case STALE_CASES[] = {
    SC(tensor_destroy), SC(tensor_reshape), SC(tensor_slice), SC(tensor_upload), SC(tensor_download),
    SC(tensor_fill), SC(tensor_dtype), SC(tensor_ndim), SC(tensor_dim), SC(tensor_numel), SC(tensor_context),
    SC(unary), SC(scale), SC(binary), SC(reduce), SC(softmax), SC(log_softmax), SC(permute), SC(copy),
    SC(matmul), SC(matmul_bias), SC(unary_backward), SC(binary_backward), SC(softmax_backward),
    SC(log_softmax_backward), SC(conv2d), SC(conv2d_backward_data), SC(conv2d_backward_weight),
    SC(conv_transpose2d), SC(conv_transpose2d_backward_weight), SC(maxpool2d), SC(maxpool2d_backward),
    SC(avgpool2d), SC(avgpool2d_backward), SC(global_avgpool2d), SC(global_avgpool2d_backward),
    SC(upsample_nearest2d), SC(upsample_nearest2d_backward), SC(batchnorm), SC(batchnorm_backward),
    SC(layernorm), SC(layernorm_backward), SC(rmsnorm), SC(rmsnorm_backward), SC(attention),
    SC(attention_mask), SC(attention_backward), SC(embedding), SC(embedding_backward), SC(dropout),
    SC(dropout_backward), SC(mse_loss), SC(mse_loss_backward), SC(cross_entropy), SC(cross_entropy_backward),
    SC(bce_with_logits), SC(bce_with_logits_backward), SC(lstm), SC(lstm_backward), SC(gru), SC(gru_backward),
    SC(optim_step), SC(optim_step_grad_scale), SC(clip_grad_norm), SC(safetensors_save), SC(safetensors_load),
    SC(tensor_set_requires_grad), SC(tensor_requires_grad), SC(tensor_grad), SC(backward), SC(f_unary),
    SC(f_scale), SC(f_binary), SC(f_reduce), SC(f_softmax), SC(f_log_softmax), SC(f_reshape), SC(f_permute),
    SC(f_matmul), SC(f_linear), SC(f_conv2d), SC(f_conv_transpose2d), SC(f_maxpool2d), SC(f_avgpool2d),
    SC(f_global_avgpool2d), SC(f_upsample_nearest2d), SC(f_batchnorm), SC(f_layernorm), SC(f_attention),
    SC(f_embedding), SC(f_dropout), SC(f_mse_loss), SC(f_cross_entropy), SC(f_bce_with_logits), SC(f_lstm),
    SC(f_gru), SC(module_forward), SC(dataset_batch), SC(png_write_grid),
};
#undef SC

static vkdl_dataset *stale_dataset(void)
{
    char path[] = "/tmp/vkdl-stale-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    vkdl_dataset *ds = NULL;
    if (f) {
        fputs("1,0\n2,1\n", f);
        fclose(f);
        TH_OK(vkdl_dataset_load_csv(path, -1, &ds));
    }
    if (fd >= 0)
        remove(path);
    return ds;
}

/* The stale handle is the loss of the graph two graphs back (each later graph was back-propagated
 * and then freed by the next forward), well inside the documented quarantine. */
static void run_stale_handles(vkdl_context *ctx)
{
    model m = {0};
    stale_env e = {0};
    int64_t sq[4] = {1, 1, 2, 2};
    vkdl_tensor *loss = NULL;
    bool ok = model_create(ctx, &m) && TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 2, sq + 2, &e.u)) &&
              TH_OK(vkdl_tensor_fill(e.u, 0.5)) && TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, sq, &e.q)) &&
              TH_OK(vkdl_tensor_fill(e.q, 0.5)) && TH_OK(vkdl_linear_create(ctx, 2, 2, 1, &e.lin)) &&
              (e.ds = stale_dataset()) != NULL;
    for (int g = 0; ok && g < 3; g++) {
        ok = TH_OK(mlp_loss(m.x, m.w, m.b, m.target, &loss)) && TH_OK(vkdl_backward(loss));
        if (g == 0)
            e.s = loss;
    }
    for (size_t i = 0; ok && i < VKDL_ARRAY_LEN(STALE_CASES); i++) {
        vkdl_tensor_fill(NULL, 0); /* a last error without the needle */
        vkdl_status s = STALE_CASES[i].call(&e);
        if (s != VKDL_ERROR_INVALID_ARGUMENT || !strstr(vkdl_last_error(), FREED))
            th_fail("%s: %s with a stale handle: %s (%s)", vkdl_context_device_name(ctx), STALE_CASES[i].name,
                    vkdl_status_string(s), vkdl_last_error());
    }
    vkdl_graph_free(ctx);
    vkdl_dataset_destroy(e.ds);
    vkdl_module_destroy(e.lin);
    vkdl_tensor_destroy(e.u);
    vkdl_tensor_destroy(e.q);
    model_destroy(&m);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    char name[128];
    for (size_t i = 0; i < VKDL_ARRAY_LEN(CASES); i++) {
        snprintf(name, sizeof name, "autograd/%s", CASES[i].name);
        th_run(name, run_gcase, (void *)&CASES[i]);
    }
    static const acc_case ACC[] = {
        {"mlp", true}, {"conv2d", true}, {"lstm", true}, {"upstream/mse+0.5ce-bce", true},
        {"attention/causal", true}, {"batchnorm/nchw", true}, {"embedding", true},
        {"matmul/x-xT", false}, {"twice/branches-views", false}, {"binary/mul/same", false},
    };
    for (size_t i = 0; i < VKDL_ARRAY_LEN(ACC); i++) {
        snprintf(name, sizeof name, "autograd/accumulate/%s", ACC[i].name);
        th_run(name, run_accumulate, (void *)&ACC[i]);
    }
    th_run("autograd/dropout-mask", run_dropout_mask, NULL);
    static const struct {
        const char *name;
        on_ctx_fn fn;
    } BOTH[] = {
        {"autograd/lifetime", run_lifetime},
        {"autograd/training-memory", run_training_memory},
        {"autograd/misc", run_misc},
        {"autograd/bad-input", run_bad},
        {"autograd/read-after-backward", run_read_after_backward},
        {"autograd/stale-handles", run_stale_handles},
    };
    for (size_t i = 0; i < VKDL_ARRAY_LEN(BOTH); i++)
        th_run(BOTH[i].name, run_on_both, (void *)&BOTH[i].fn);
    return th_finish();
}
