/* Modules (lib/nn/module.c) through the public API only, on the CPU backend and the Vulkan device.
 *
 * Every layer type: the output shape on odd shapes (batch 1, 3, 17; odd channel counts; T = 1),
 * the module's output against the same computation written by hand (vkdl_matmul / vkdl_f_* calls
 * with the module's own parameters fetched by name, or a host loop), and the device's output
 * against the CPU backend's for the same init seed. Parameters are perturbed after init so that
 * zero biases and unit norms cannot hide a parameter wired to the wrong role. Then PyTorch
 * state_dict names, counts and numel; init bits and statistics; training/eval mode (dropout,
 * batch norm's running statistics, also differentiated); stateful LSTM/GRU, including the
 * gradient of a forward that starts from the carried state; bad input.
 *
 * Tolerances: the CPU-vs-device comparison uses TH_TOL_F32 for elementwise layers and TH_TOL_GEMM
 * where a dot product sits in the layer (linear, conv, attention, transformer block, RNN), as the
 * op tests do. The by-hand computations run on the same backend; those made of the same ops as
 * the module are bit-identical in practice but are compared with the same tolerances, because an
 * explicit softmax(QK^T)V is not the fused flash kernel and a host loop in double is not the f32
 * kernel. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define TRY(expr)                                                                                           \
    do {                                                                                                    \
        vkdl_status s_ = (expr);                                                                            \
        if (s_ != VKDL_OK)                                                                                  \
            return s_;                                                                                      \
    } while (0)

static int64_t numel_of(int nd, const int64_t *s)
{
    int64_t n = 1;
    for (int i = 0; i < nd; i++)
        n *= s[i];
    return n;
}

/* ---------------------------------------------------------------- helpers */

static vkdl_tensor *new_tensor(vkdl_context *ctx, vkdl_dtype dt, int nd, const int64_t *s, const void *data)
{
    vkdl_tensor *t = NULL;
    if (!TH_OK(vkdl_tensor_create(ctx, dt, nd, s, &t)))
        return NULL;
    if (data && !TH_OK(vkdl_tensor_upload(t, data, dt, (size_t)vkdl_tensor_numel(t) * vkdl_dtype_size(dt)))) {
        vkdl_tensor_destroy(t);
        return NULL;
    }
    return t;
}

/* A parameter or buffer by its full name (fails the case when absent). */
static vkdl_tensor *P(const vkdl_module *m, const char *name)
{
    int n = vkdl_module_param_count(m);
    for (int i = 0; i < n; i++) {
        const char *nm;
        vkdl_tensor *t;
        if (vkdl_module_param(m, i, &nm, &t) == VKDL_OK && !strcmp(nm, name))
            return t;
    }
    th_fail("no parameter \"%s\"", name);
    return NULL;
}

static bool has_shape(const vkdl_tensor *t, int nd, const int64_t *s, const char *what)
{
    bool ok = t && vkdl_tensor_ndim(t) == nd;
    for (int i = 0; ok && i < nd; i++)
        ok = vkdl_tensor_dim(t, i) == s[i];
    if (!ok) {
        char got[128] = "NULL", want[128] = "";
        if (t) {
            got[0] = 0;
            for (int i = 0; i < vkdl_tensor_ndim(t); i++)
                snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? "x" : "", (long long)vkdl_tensor_dim(t, i));
        }
        for (int i = 0; i < nd; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", i ? "x" : "", (long long)s[i]);
        th_fail("%s: shape %s, expected %s", what, got, want);
    }
    return ok;
}

/* Host arrays against each other, with th_compare's elementwise rule. */
static bool close_to(const float *ref, const float *got, int64_t n, th_tol tol, const char *what)
{
    int64_t bad = 0, worst = 0;
    double wd = -1;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)ref[i]);
        if (!(d <= tol.atol + tol.rtol * fabs((double)ref[i]))) {
            if (bad++ == 0 || !(d <= wd))
                wd = d, worst = i;
        }
    }
    if (bad)
        th_fail("%s: %lld of %lld elements out of tolerance; worst [%lld] %.9g, expected %.9g", what, (long long)bad,
                (long long)n, (long long)worst, got[worst], ref[worst]);
    return bad == 0;
}

static bool same_bits(const vkdl_tensor *a, const vkdl_tensor *b, const char *what)
{
    int64_t n = vkdl_tensor_numel(a);
    if (n != vkdl_tensor_numel(b)) {
        th_fail("%s: %lld vs %lld elements", what, (long long)n, (long long)vkdl_tensor_numel(b));
        return false;
    }
    float *x = th_download(a), *y = th_download(b);
    bool ok = memcmp(x, y, (size_t)n * sizeof *x) == 0;
    if (!ok)
        th_fail("%s: contents differ", what);
    free(x);
    free(y);
    return ok;
}

/* Add uniform(-amp, amp) noise to every trainable parameter (buffers keep their values). */
static void perturb(vkdl_module *m, uint64_t seed, float amp)
{
    int n = vkdl_module_param_count(m);
    uint64_t s = seed;
    for (int i = 0; i < n; i++) {
        vkdl_tensor *t;
        if (!TH_OK(vkdl_module_param(m, i, NULL, &t)) || !vkdl_tensor_requires_grad(t))
            continue;
        int64_t k = vkdl_tensor_numel(t);
        float *v = th_download(t);
        for (int64_t j = 0; j < k; j++)
            v[j] += th_urand(&s, -amp, amp);
        TH_OK(vkdl_tensor_upload(t, v, VKDL_F32, (size_t)k * sizeof *v));
        free(v);
    }
}

/* ---------------------------------------------------------------- forward of every layer */

typedef struct fwd_case fwd_case;
typedef vkdl_status (*make_fn)(vkdl_context *ctx, const fwd_case *c, vkdl_module **m);
/* The layer's output computed another way on the same backend, as a malloc'd host array. */
typedef float *(*hand_fn)(const fwd_case *c, vkdl_module *m, vkdl_tensor *x);

struct fwd_case {
    const char *name;
    make_fn make;
    hand_fn hand;
    int xnd;
    int64_t xs[5];
    int ynd;
    int64_t ys[5];
    int vocab;                      /* > 0: x holds i32 indices below it */
    int64_t a, b, c;                /* sizes: (in, out, kernel), (dim, heads, hidden), (vocab, dim) ... */
    int flag;                       /* bias / causal */
    float p, eps, momentum;
    vkdl_conv2d_info conv;
    vkdl_pool2d_info pool;
    vkdl_unary_op act;
    bool gemm;                      /* tolerance: TH_TOL_GEMM (else TH_TOL_F32) */
};

static float *download_free(vkdl_tensor *t)
{
    float *v = t ? th_download(t) : NULL;
    vkdl_tensor_destroy(t);
    return v;
}

/* linear: x w^T with vkdl_matmul, then + b on the host. */
static vkdl_status make_linear(vkdl_context *ctx, const fwd_case *c, vkdl_module **m)
{
    return vkdl_linear_create(ctx, c->a, c->b, c->flag, m);
}

static float *hand_linear(const fwd_case *c, vkdl_module *m, vkdl_tensor *x)
{
    vkdl_context *ctx = vkdl_tensor_context(x);
    int64_t rows = vkdl_tensor_numel(x) / c->a, s2[2] = {rows, c->a}, so[2] = {rows, c->b};
    vkdl_tensor *x2 = NULL, *y2 = new_tensor(ctx, VKDL_F32, 2, so, NULL);
    vkdl_matmul_info mi = {.trans_b = 1, .alpha = 1.0f};
    bool ok = y2 && TH_OK(vkdl_tensor_reshape(x, 2, s2, &x2)) && TH_OK(vkdl_matmul(x2, P(m, "weight"), y2, &mi));
    vkdl_tensor_destroy(x2);
    float *y = download_free(y2);
    if (ok && c->flag) {
        float *b = th_download(P(m, "bias"));
        for (int64_t r = 0; r < rows; r++)
            for (int64_t o = 0; o < c->b; o++)
                y[r * c->b + o] += b[o];
        free(b);
    }
    return y;
}

static vkdl_status make_conv(vkdl_context *ctx, const fwd_case *c, vkdl_module **m)
{
    return vkdl_conv2d_create(ctx, c->a, c->b, (int)c->c, &c->conv, c->flag, m);
}

static vkdl_status make_convt(vkdl_context *ctx, const fwd_case *c, vkdl_module **m)
{
    return vkdl_conv_transpose2d_create(ctx, c->a, c->b, (int)c->c, &c->conv, c->flag, m);
}

/* conv: the plain op (not the module's vkdl_f_ path) with the module's weight and bias. */
static float *hand_conv_any(const fwd_case *c, vkdl_module *m, vkdl_tensor *x, bool transposed)
{
    vkdl_tensor *y = new_tensor(vkdl_tensor_context(x), VKDL_F32, 4, c->ys, NULL);
    vkdl_tensor *b = c->flag ? P(m, "bias") : NULL;
    if (y && transposed)
        TH_OK(vkdl_conv_transpose2d(x, P(m, "weight"), b, y, &c->conv));
    else if (y)
        TH_OK(vkdl_conv2d(x, P(m, "weight"), b, y, &c->conv));
    return download_free(y);
}

static float *hand_conv(const fwd_case *c, vkdl_module *m, vkdl_tensor *x) { return hand_conv_any(c, m, x, false); }
static float *hand_convt(const fwd_case *c, vkdl_module *m, vkdl_tensor *x) { return hand_conv_any(c, m, x, true); }

/* batch norm in training mode, in double on the host; also checks the running statistics. */
static vkdl_status make_bn(vkdl_context *ctx, const fwd_case *c, vkdl_module **m)
{
    return vkdl_batchnorm2d_create(ctx, c->a, c->momentum, c->eps, m);
}

static float *hand_bn(const fwd_case *c, vkdl_module *m, vkdl_tensor *x)
{
    int64_t N = c->xs[0], C = c->xs[1], HW = c->xs[2] * c->xs[3], cnt = N * HW;
    float *xv = th_download(x), *g = th_download(P(m, "weight")), *b = th_download(P(m, "bias"));
    float *rm = th_download(P(m, "running_mean")), *rv = th_download(P(m, "running_var"));
    float *y = malloc((size_t)vkdl_tensor_numel(x) * sizeof *y), *erm = malloc((size_t)C * 4), *erv = malloc((size_t)C * 4);
    for (int64_t ch = 0; ch < C; ch++) {
        double s = 0, s2 = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < HW; i++)
                s += xv[(n * C + ch) * HW + i];
        double mean = s / (double)cnt;
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < HW; i++) {
                double d = xv[(n * C + ch) * HW + i] - mean;
                s2 += d * d;
            }
        double var = s2 / (double)cnt, rstd = 1.0 / sqrt(var + c->eps);
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < HW; i++) {
                int64_t k = (n * C + ch) * HW + i;
                y[k] = (float)((xv[k] - mean) * rstd * g[ch] + b[ch]);
            }
        /* From the initial zeros and ones, with the unbiased variance. */
        erm[ch] = (float)(c->momentum * mean);
        erv[ch] = (float)(1.0 - c->momentum + c->momentum * s2 / (double)(cnt - 1));
    }
    close_to(erm, rm, C, TH_TOL_F32, "running_mean after one training forward");
    close_to(erv, rv, C, TH_TOL_F32, "running_var after one training forward");
    free(xv), free(g), free(b), free(rm), free(rv), free(erm), free(erv);
    return y;
}

static vkdl_status make_ln(vkdl_context *ctx, const fwd_case *c, vkdl_module **m)
{
    return vkdl_layernorm_create(ctx, c->a, c->eps, m);
}

static float *hand_ln(const fwd_case *c, vkdl_module *m, vkdl_tensor *x)
{
    int64_t D = c->a, rows = vkdl_tensor_numel(x) / D;
    float *xv = th_download(x), *g = th_download(P(m, "weight")), *b = th_download(P(m, "bias"));
    float *y = malloc((size_t)vkdl_tensor_numel(x) * sizeof *y);
    for (int64_t r = 0; r < rows; r++) {
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < D; i++)
            s += xv[r * D + i];
        double mean = s / (double)D;
        for (int64_t i = 0; i < D; i++)
            s2 += (xv[r * D + i] - mean) * (xv[r * D + i] - mean);
        double rstd = 1.0 / sqrt(s2 / (double)D + c->eps);
        for (int64_t i = 0; i < D; i++)
            y[r * D + i] = (float)((xv[r * D + i] - mean) * rstd * g[i] + b[i]);
    }
    free(xv), free(g), free(b);
    return y;
}

static vkdl_status make_emb(vkdl_context *ctx, const fwd_case *c, vkdl_module **m)
{
    return vkdl_embedding_create(ctx, c->a, c->b, m);
}

static float *hand_emb(const fwd_case *c, vkdl_module *m, vkdl_tensor *x)
{
    int64_t n = vkdl_tensor_numel(x), D = c->b;
    int32_t *idx = malloc((size_t)n * sizeof *idx);
    TH_OK(vkdl_tensor_download(x, idx, VKDL_I32, (size_t)n * sizeof *idx));
    float *w = th_download(P(m, "weight")), *y = malloc((size_t)(n * D) * sizeof *y);
    for (int64_t i = 0; i < n; i++)
        memcpy(y + i * D, w + (int64_t)idx[i] * D, (size_t)D * sizeof *y);
    free(idx), free(w);
    return y;
}

/* [B, T, D] -> [B, H, T, D/H] */
static vkdl_status heads_of(vkdl_tensor *t, int heads, vkdl_tensor **out)
{
    int64_t s[4] = {vkdl_tensor_dim(t, 0), vkdl_tensor_dim(t, 1), heads, vkdl_tensor_dim(t, 2) / heads};
    static const int perm[4] = {0, 2, 1, 3};
    vkdl_tensor *r;
    TRY(vkdl_f_reshape(t, 4, s, &r));
    return vkdl_f_permute(r, perm, out);
}

static vkdl_status proj(const vkdl_module *m, const char *prefix, const char *which, vkdl_tensor *x, vkdl_tensor **y)
{
    char w[128], b[128];
    snprintf(w, sizeof w, "%s%s.weight", prefix, which);
    snprintf(b, sizeof b, "%s%s.bias", prefix, which);
    return vkdl_f_linear(x, P(m, w), P(m, b), y);
}

/* Multi-head attention the textbook way: softmax(q k^T / sqrt(d) + mask) v, never the fused kernel. */
static vkdl_status attention_by_hand(const vkdl_module *m, const char *prefix, vkdl_tensor *x, int heads, bool causal,
                                     vkdl_tensor **out)
{
    int64_t B = vkdl_tensor_dim(x, 0), T = vkdl_tensor_dim(x, 1), D = vkdl_tensor_dim(x, 2);
    vkdl_tensor *q, *k, *v, *qh, *kh, *vh, *sc, *pr, *o, *merged, *flat;
    TRY(proj(m, prefix, "q_proj", x, &q));
    TRY(proj(m, prefix, "k_proj", x, &k));
    TRY(proj(m, prefix, "v_proj", x, &v));
    TRY(heads_of(q, heads, &qh));
    TRY(heads_of(k, heads, &kh));
    TRY(heads_of(v, heads, &vh));
    vkdl_matmul_info mi = {.trans_b = 1, .alpha = 1.0f / sqrtf((float)(D / heads))};
    TRY(vkdl_f_matmul(qh, kh, &mi, &sc));
    if (causal) {
        float *mask = malloc((size_t)(T * T) * sizeof *mask);
        for (int64_t i = 0; i < T; i++)
            for (int64_t j = 0; j < T; j++)
                mask[i * T + j] = j <= i ? 0.0f : -1e30f;
        int64_t ms[2] = {T, T};
        vkdl_tensor *mt = new_tensor(vkdl_tensor_context(x), VKDL_F32, 2, ms, mask);
        free(mask);
        vkdl_status s = mt ? vkdl_f_binary(VKDL_ADD, sc, mt, &sc) : VKDL_ERROR_INVALID_ARGUMENT;
        vkdl_tensor_destroy(mt); /* grad mode is off here: no node keeps it */
        TRY(s);
    }
    TRY(vkdl_f_softmax(sc, &pr));
    TRY(vkdl_f_matmul(pr, vh, NULL, &o));
    static const int perm[4] = {0, 2, 1, 3};
    TRY(vkdl_f_permute(o, perm, &merged));
    int64_t fs[3] = {B, T, D};
    TRY(vkdl_f_reshape(merged, 3, fs, &flat));
    return proj(m, prefix, "out_proj", flat, out);
}

static vkdl_status make_attn(vkdl_context *ctx, const fwd_case *c, vkdl_module **m)
{
    return vkdl_attention_create(ctx, c->a, (int)c->b, c->flag, m);
}

static float *hand_attn(const fwd_case *c, vkdl_module *m, vkdl_tensor *x)
{
    vkdl_tensor *y = NULL;
    TH_OK(attention_by_hand(m, "", x, (int)c->b, c->flag, &y));
    return y ? th_download(y) : NULL;
}

static vkdl_status make_block(vkdl_context *ctx, const fwd_case *c, vkdl_module **m)
{
    return vkdl_transformer_block_create(ctx, c->a, (int)c->b, c->c, c->flag, 0.0f, m);
}

/* The documented pre-norm block: r = x + attn(ln1(x)); y = r + fc2(gelu(fc1(ln2(r)))). */
static float *hand_block(const fwd_case *c, vkdl_module *m, vkdl_tensor *x)
{
    vkdl_tensor *h, *a, *r, *h2, *f1, *g, *f2, *y = NULL;
    bool ok = TH_OK(vkdl_f_layernorm(x, P(m, "ln1.weight"), P(m, "ln1.bias"), 1e-5f, &h)) &&
              TH_OK(attention_by_hand(m, "attn.", h, (int)c->b, c->flag, &a)) &&
              TH_OK(vkdl_f_binary(VKDL_ADD, x, a, &r)) &&
              TH_OK(vkdl_f_layernorm(r, P(m, "ln2.weight"), P(m, "ln2.bias"), 1e-5f, &h2)) &&
              TH_OK(vkdl_f_linear(h2, P(m, "fc1.weight"), P(m, "fc1.bias"), &f1)) &&
              TH_OK(vkdl_f_unary(VKDL_GELU_TANH, f1, &g)) &&
              TH_OK(vkdl_f_linear(g, P(m, "fc2.weight"), P(m, "fc2.bias"), &f2)) &&
              TH_OK(vkdl_f_binary(VKDL_ADD, r, f2, &y));
    return ok ? th_download(y) : NULL;
}

static vkdl_status make_lstm(vkdl_context *ctx, const fwd_case *c, vkdl_module **m)
{
    return vkdl_lstm_create(ctx, c->a, c->b, m);
}

static vkdl_status make_gru(vkdl_context *ctx, const fwd_case *c, vkdl_module **m)
{
    return vkdl_gru_create(ctx, c->a, c->b, m);
}

static float *hand_rnn_any(vkdl_module *m, vkdl_tensor *x, bool lstm)
{
    vkdl_tensor *y = NULL, *wih = P(m, "weight_ih_l0"), *whh = P(m, "weight_hh_l0");
    vkdl_tensor *bih = P(m, "bias_ih_l0"), *bhh = P(m, "bias_hh_l0");
    if (lstm)
        TH_OK(vkdl_f_lstm(x, NULL, NULL, wih, whh, bih, bhh, &y, NULL, NULL));
    else
        TH_OK(vkdl_f_gru(x, NULL, wih, whh, bih, bhh, &y, NULL));
    return y ? th_download(y) : NULL;
}

static float *hand_lstm(const fwd_case *c, vkdl_module *m, vkdl_tensor *x) { (void)c; return hand_rnn_any(m, x, true); }
static float *hand_gru(const fwd_case *c, vkdl_module *m, vkdl_tensor *x) { (void)c; return hand_rnn_any(m, x, false); }

static vkdl_status make_dropout(vkdl_context *ctx, const fwd_case *c, vkdl_module **m)
{
    return vkdl_dropout_create(ctx, c->p, (uint64_t)c->a, m);
}

/* The first training call uses the seed itself. */
static float *hand_dropout(const fwd_case *c, vkdl_module *m, vkdl_tensor *x)
{
    (void)m;
    vkdl_tensor *y = NULL;
    TH_OK(vkdl_f_dropout(x, c->p, (uint64_t)c->a, &y));
    return y ? th_download(y) : NULL;
}

static vkdl_status make_act(vkdl_context *ctx, const fwd_case *c, vkdl_module **m)
{
    return vkdl_activation_create(ctx, c->act, m);
}

static float *hand_act(const fwd_case *c, vkdl_module *m, vkdl_tensor *x)
{
    (void)m;
    vkdl_tensor *y = NULL;
    TH_OK(vkdl_f_unary(c->act, x, &y));
    return y ? th_download(y) : NULL;
}

static vkdl_status make_pool(vkdl_context *ctx, const fwd_case *c, vkdl_module **m)
{
    return vkdl_maxpool2d_create(ctx, &c->pool, m);
}

/* ONNX's pooling options (ceil mode adds a fifth row), kept by the module past its create call. */
static const vkdl_pool2d_ext_info POOL_EXT = {.type = VKDL_STRUCTURE_TYPE_POOL2D_EXT_INFO, .pad_end = {0, 1},
                                              .dilation = {1, 2}, .ceil_mode = 1};

/* Max pooling on the host (padding never wins: it is -inf; the output size is the case's). */
static float *hand_pool(const fwd_case *c, vkdl_module *m, vkdl_tensor *x)
{
    (void)m;
    const vkdl_pool2d_info *p = &c->pool;
    const vkdl_pool2d_ext_info *e = p->next;
    int64_t NC = c->xs[0] * c->xs[1], H = c->xs[2], W = c->xs[3], OH = c->ys[2], OW = c->ys[3];
    int sh = p->stride[0] ? p->stride[0] : p->kernel[0], sw = p->stride[1] ? p->stride[1] : p->kernel[1];
    int dh = e && e->dilation[0] ? e->dilation[0] : 1, dw = e && e->dilation[1] ? e->dilation[1] : 1;
    float *xv = th_download(x), *y = malloc((size_t)(NC * OH * OW) * sizeof *y);
    for (int64_t i = 0; i < NC; i++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                float best = -INFINITY;
                for (int kh = 0; kh < p->kernel[0]; kh++)
                    for (int kw = 0; kw < p->kernel[1]; kw++) {
                        int64_t h = oh * sh - p->padding[0] + kh * dh, w = ow * sw - p->padding[1] + kw * dw;
                        if (h >= 0 && h < H && w >= 0 && w < W && xv[(i * H + h) * W + w] > best)
                            best = xv[(i * H + h) * W + w];
                    }
                y[(i * OH + oh) * OW + ow] = best;
            }
    free(xv);
    return y;
}

static vkdl_status make_flatten(vkdl_context *ctx, const fwd_case *c, vkdl_module **m)
{
    (void)c;
    return vkdl_flatten_create(ctx, m);
}

static float *hand_same(const fwd_case *c, vkdl_module *m, vkdl_tensor *x)
{
    (void)c, (void)m;
    return th_download(x);
}

/* conv(3->5, 3x3, pad 1) - relu - maxpool 2 - flatten - linear(30 -> 4) */
static vkdl_status make_seq(vkdl_context *ctx, const fwd_case *c, vkdl_module **m)
{
    (void)c;
    vkdl_conv2d_info same = {.padding = {1, 1}};
    vkdl_pool2d_info pool = {.kernel = {2, 2}};
    vkdl_module *k[5] = {0};
    vkdl_status s = vkdl_conv2d_create(ctx, 3, 5, 3, &same, 1, &k[0]);
    if (s == VKDL_OK)
        s = vkdl_activation_create(ctx, VKDL_RELU, &k[1]);
    if (s == VKDL_OK)
        s = vkdl_maxpool2d_create(ctx, &pool, &k[2]);
    if (s == VKDL_OK)
        s = vkdl_flatten_create(ctx, &k[3]);
    if (s == VKDL_OK)
        s = vkdl_linear_create(ctx, 30, 4, 1, &k[4]);
    if (s != VKDL_OK) {
        for (int i = 0; i < 5; i++)
            vkdl_module_destroy(k[i]);
        return s;
    }
    return vkdl_sequential_create(ctx, 5, k, m);
}

static float *hand_seq(const fwd_case *c, vkdl_module *m, vkdl_tensor *x)
{
    (void)c;
    vkdl_conv2d_info same = {.padding = {1, 1}};
    vkdl_pool2d_info pool = {.kernel = {2, 2}};
    int64_t fs[2] = {vkdl_tensor_dim(x, 0), 30};
    vkdl_tensor *a, *r, *p, *f, *y = NULL;
    bool ok = TH_OK(vkdl_f_conv2d(x, P(m, "0.weight"), P(m, "0.bias"), &same, &a)) &&
              TH_OK(vkdl_f_unary(VKDL_RELU, a, &r)) && TH_OK(vkdl_f_maxpool2d(r, &pool, &p)) &&
              TH_OK(vkdl_f_reshape(p, 2, fs, &f)) && TH_OK(vkdl_f_linear(f, P(m, "4.weight"), P(m, "4.bias"), &y));
    return ok ? th_download(y) : NULL;
}

static vkdl_status make_seq0(vkdl_context *ctx, const fwd_case *c, vkdl_module **m)
{
    (void)c;
    return vkdl_sequential_create(ctx, 0, NULL, m);
}

#define X(...) .xnd = (int)ARRAY_LEN(((int64_t[]){__VA_ARGS__})), .xs = {__VA_ARGS__}
#define Y(...) .ynd = (int)ARRAY_LEN(((int64_t[]){__VA_ARGS__})), .ys = {__VA_ARGS__}

static const fwd_case FWD[] = {
    {"linear/17x5->3", make_linear, hand_linear, X(17, 5), Y(17, 3), .a = 5, .b = 3, .flag = 1, .gemm = true},
    {"linear/1x1->1-nobias", make_linear, hand_linear, X(1, 1), Y(1, 1), .a = 1, .b = 1, .gemm = true},
    {"linear/3x2x7->9", make_linear, hand_linear, X(3, 2, 7), Y(3, 2, 9), .a = 7, .b = 9, .flag = 1, .gemm = true},
    {"linear/1x400->33", make_linear, hand_linear, X(1, 400), Y(1, 33), .a = 400, .b = 33, .flag = 1, .gemm = true},
    {"conv2d/3x3x9x7-k3p1->5", make_conv, hand_conv, X(3, 3, 9, 7), Y(3, 5, 9, 7), .a = 3, .b = 5, .c = 3,
     .flag = 1, .conv = {.padding = {1, 1}}, .gemm = true},
    {"conv2d/1x1x5x5-k5-nobias", make_conv, hand_conv, X(1, 1, 5, 5), Y(1, 1, 1, 1), .a = 1, .b = 1, .c = 5,
     .gemm = true},
    {"conv2d/17x2x5x4-k3s2p1g2->4", make_conv, hand_conv, X(17, 2, 5, 4), Y(17, 4, 3, 2), .a = 2, .b = 4, .c = 3,
     .flag = 1, .conv = {.stride = {2, 2}, .padding = {1, 1}, .groups = 2}, .gemm = true},
    {"conv_transpose2d/3x5x4x3-k3s2p1op1->3", make_convt, hand_convt, X(3, 5, 4, 3), Y(3, 3, 8, 6), .a = 5, .b = 3,
     .c = 3, .flag = 1, .conv = {.stride = {2, 2}, .padding = {1, 1}, .output_padding = {1, 1}}, .gemm = true},
    {"conv_transpose2d/1x1x1x1-k2-nobias", make_convt, hand_convt, X(1, 1, 1, 1), Y(1, 1, 2, 2), .a = 1, .b = 1,
     .c = 2, .gemm = true},
    {"batchnorm2d/3x5x4x3", make_bn, hand_bn, X(3, 5, 4, 3), Y(3, 5, 4, 3), .a = 5, .eps = 1e-5f, .momentum = 0.1f},
    {"batchnorm2d/1x3x3x1", make_bn, hand_bn, X(1, 3, 3, 1), Y(1, 3, 3, 1), .a = 3, .eps = 1e-3f, .momentum = 0.5f},
    {"batchnorm2d/17x1x2x2", make_bn, hand_bn, X(17, 1, 2, 2), Y(17, 1, 2, 2), .a = 1, .eps = 1e-5f, .momentum = 1.0f},
    {"layernorm/3x5x7", make_ln, hand_ln, X(3, 5, 7), Y(3, 5, 7), .a = 7, .eps = 1e-5f},
    {"layernorm/17x33", make_ln, hand_ln, X(17, 33), Y(17, 33), .a = 33, .eps = 1e-3f},
    {"layernorm/1x1", make_ln, hand_ln, X(1, 1), Y(1, 1), .a = 1, .eps = 1e-5f},
    {"embedding/3x5-v13-d7", make_emb, hand_emb, X(3, 5), Y(3, 5, 7), .vocab = 13, .a = 13, .b = 7},
    {"embedding/1-v1-d3", make_emb, hand_emb, X(1), Y(1, 3), .vocab = 1, .a = 1, .b = 3},
    {"embedding/17x1-v5-d1", make_emb, hand_emb, X(17, 1), Y(17, 1, 1), .vocab = 5, .a = 5, .b = 1},
    {"attention/3x5x12-h3-causal", make_attn, hand_attn, X(3, 5, 12), Y(3, 5, 12), .a = 12, .b = 3, .flag = 1,
     .gemm = true},
    {"attention/1x1x4-h1", make_attn, hand_attn, X(1, 1, 4), Y(1, 1, 4), .a = 4, .b = 1, .gemm = true},
    {"attention/2x17x6-h2", make_attn, hand_attn, X(2, 17, 6), Y(2, 17, 6), .a = 6, .b = 2, .gemm = true},
    {"transformer_block/3x5x12-h3-f17-causal", make_block, hand_block, X(3, 5, 12), Y(3, 5, 12), .a = 12, .b = 3,
     .c = 17, .flag = 1, .gemm = true},
    {"transformer_block/1x1x8-h2-f8", make_block, hand_block, X(1, 1, 8), Y(1, 1, 8), .a = 8, .b = 2, .c = 8,
     .gemm = true},
    {"transformer_block/2x17x6-h1-f5-causal", make_block, hand_block, X(2, 17, 6), Y(2, 17, 6), .a = 6, .b = 1,
     .c = 5, .flag = 1, .gemm = true},
    {"lstm/T3-B2-I5-H7", make_lstm, hand_lstm, X(3, 2, 5), Y(3, 2, 7), .a = 5, .b = 7, .gemm = true},
    {"lstm/T1-B1-I1-H1", make_lstm, hand_lstm, X(1, 1, 1), Y(1, 1, 1), .a = 1, .b = 1, .gemm = true},
    {"lstm/T4-B17-I3-H5", make_lstm, hand_lstm, X(4, 17, 3), Y(4, 17, 5), .a = 3, .b = 5, .gemm = true},
    {"gru/T3-B2-I5-H7", make_gru, hand_gru, X(3, 2, 5), Y(3, 2, 7), .a = 5, .b = 7, .gemm = true},
    {"gru/T1-B1-I1-H1", make_gru, hand_gru, X(1, 1, 1), Y(1, 1, 1), .a = 1, .b = 1, .gemm = true},
    {"gru/T4-B17-I3-H5", make_gru, hand_gru, X(4, 17, 3), Y(4, 17, 5), .a = 3, .b = 5, .gemm = true},
    {"dropout/3x17-p0.3", make_dropout, hand_dropout, X(3, 17), Y(3, 17), .a = 99, .p = 0.3f},
    {"dropout/1-p0", make_dropout, hand_same, X(1), Y(1), .a = 5, .p = 0.0f},
    {"activation/gelu-3x5", make_act, hand_act, X(3, 5), Y(3, 5), .act = VKDL_GELU_ERF},
    {"activation/tanh-1", make_act, hand_act, X(1), Y(1), .act = VKDL_TANH},
    {"maxpool2d/3x5x7x9-k2", make_pool, hand_pool, X(3, 5, 7, 9), Y(3, 5, 3, 4), .pool = {.kernel = {2, 2}}},
    {"maxpool2d/1x1x5x3-k3s2p1", make_pool, hand_pool, X(1, 1, 5, 3), Y(1, 1, 3, 2),
     .pool = {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}}},
    {"maxpool2d/1x2x8x8-ext", make_pool, hand_pool, X(1, 2, 8, 8), Y(1, 2, 5, 4),
     .pool = {.next = &POOL_EXT, .kernel = {2, 2}, .stride = {2, 2}, .padding = {1, 0}}},
    {"flatten/3x5x2x3", make_flatten, hand_same, X(3, 5, 2, 3), Y(3, 30)},
    {"flatten/1x1", make_flatten, hand_same, X(1, 1), Y(1, 1)},
    {"sequential/cnn-3x3x4x7", make_seq, hand_seq, X(3, 3, 4, 7), Y(3, 4), .gemm = true},
    {"sequential/empty-17x3", make_seq0, hand_same, X(17, 3), Y(17, 3)},
};

static void run_forward(void *arg)
{
    const fwd_case *c = arg;
    th_tol tol = c->gemm ? TH_TOL_GEMM : TH_TOL_F32;
    int64_t n = numel_of(c->xnd, c->xs), ny = numel_of(c->ynd, c->ys);
    float *xf = malloc((size_t)n * sizeof *xf);
    int32_t *xi = malloc((size_t)n * sizeof *xi);
    uint64_t s = 0x1234;
    for (int64_t i = 0; i < n; i++) {
        xf[i] = th_urand(&s, -1.5f, 1.5f);
        xi[i] = c->vocab ? (int32_t)(th_mix(&s) % (uint64_t)c->vocab) : 0;
    }
    vkdl_module *m[2] = {0};
    vkdl_tensor *x[2] = {0}, *y[2] = {0};
    for (int b = 0; b < 2; b++) {
        vkdl_context *ctx = th_ctx_of(b);
        if (!TH_OK(c->make(ctx, c, &m[b])) || !TH_OK(vkdl_module_init(m[b], 1234)))
            break;
        perturb(m[b], 77, 0.3f);
        x[b] = c->vocab ? new_tensor(ctx, VKDL_I32, c->xnd, c->xs, xi) : new_tensor(ctx, VKDL_F32, c->xnd, c->xs, xf);
        if (!x[b] || !TH_OK(vkdl_module_forward(m[b], x[b], &y[b])))
            break;
        char what[64];
        snprintf(what, sizeof what, "%s output", TH_BACKEND[b]);
        if (!has_shape(y[b], c->ynd, c->ys, what)) {
            y[b] = NULL;
            break;
        }
        int was = vkdl_grad_enabled(ctx, 0);
        float *ref = c->hand(c, m[b], x[b]);
        vkdl_grad_enabled(ctx, was);
        float *got = th_download(y[b]);
        snprintf(what, sizeof what, "%s: module against the computation by hand", TH_BACKEND[b]);
        if (ref)
            close_to(ref, got, ny, tol, what);
        free(ref);
        free(got);
    }
    if (y[0] && y[1])
        th_compare(&(th_pair){y[0], y[1]}, tol);
    for (int b = 0; b < 2; b++) {
        vkdl_graph_free(th_ctx_of(b));
        vkdl_tensor_destroy(x[b]);
        vkdl_module_destroy(m[b]);
    }
    free(xf);
    free(xi);
}

/* ---------------------------------------------------------------- names, counts, numel */

/* "name shape" per parameter, with " buffer" for tensors that do not require grad. */
static void expect_params(vkdl_module *m, const char *what, int n, const char *const *want, int64_t numel)
{
    int count = vkdl_module_param_count(m);
    if (count != n)
        th_fail("%s: %d parameters and buffers, expected %d", what, count, n);
    for (int i = 0; i < count && i < n; i++) {
        const char *name = NULL;
        vkdl_tensor *t = NULL;
        if (!TH_OK(vkdl_module_param(m, i, &name, &t)))
            return;
        char got[256];
        snprintf(got, sizeof got, "%s ", name);
        for (int d = 0; d < vkdl_tensor_ndim(t); d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "x" : "", (long long)vkdl_tensor_dim(t, d));
        if (!vkdl_tensor_requires_grad(t))
            snprintf(got + strlen(got), sizeof got - strlen(got), " buffer");
        if (strcmp(got, want[i]))
            th_fail("%s: parameter %d is \"%s\", expected \"%s\"", what, i, got, want[i]);
        if (vkdl_tensor_dtype(t) != VKDL_F32)
            th_fail("%s: %s is not f32", what, name);
    }
    if (vkdl_module_numel(m) != numel)
        th_fail("%s: numel %lld, expected %lld", what, (long long)vkdl_module_numel(m), (long long)numel);
    TH_STATUS(vkdl_module_param(m, count, NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT, "index");
    TH_STATUS(vkdl_module_param(m, -1, NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT, "index");
}

#define EXPECT(m, what, numel, ...)                                                                         \
    do {                                                                                                    \
        static const char *const want_[] = {__VA_ARGS__};                                                   \
        expect_params((m), (what), (int)ARRAY_LEN(want_), want_, (numel));                                  \
    } while (0)

static const char *const ATTN8[] = {"q_proj.weight 8x8", "q_proj.bias 8", "k_proj.weight 8x8", "k_proj.bias 8",
                                    "v_proj.weight 8x8", "v_proj.bias 8", "out_proj.weight 8x8", "out_proj.bias 8"};

static void run_names(void *arg)
{
    (void)arg;
    for (int b = 0; b < 2; b++) {
        vkdl_context *ctx = th_ctx_of(b);
        vkdl_module *m = NULL, *k[4] = {0};
        if (TH_OK(vkdl_linear_create(ctx, 3, 4, 1, &m)))
            EXPECT(m, "linear", 16, "weight 4x3", "bias 4");
        vkdl_module_destroy(m);
        if (TH_OK(vkdl_linear_create(ctx, 5, 2, 0, &m)))
            EXPECT(m, "linear without bias", 10, "weight 2x5");
        vkdl_module_destroy(m);
        vkdl_conv2d_info g3 = {.groups = 3};
        if (TH_OK(vkdl_conv2d_create(ctx, 3, 6, 3, &g3, 1, &m)))
            EXPECT(m, "conv2d groups 3", 60, "weight 6x1x3x3", "bias 6");
        vkdl_module_destroy(m);
        vkdl_conv2d_info g2 = {.groups = 2, .stride = {2, 2}};
        if (TH_OK(vkdl_conv_transpose2d_create(ctx, 4, 6, 2, &g2, 1, &m)))
            EXPECT(m, "conv_transpose2d groups 2", 54, "weight 4x3x2x2", "bias 6");
        vkdl_module_destroy(m);
        if (TH_OK(vkdl_batchnorm2d_create(ctx, 5, 0.1f, 1e-5f, &m)))
            EXPECT(m, "batchnorm2d", 10, "weight 5", "bias 5", "running_mean 5 buffer", "running_var 5 buffer");
        vkdl_module_destroy(m);
        if (TH_OK(vkdl_layernorm_create(ctx, 7, 1e-5f, &m)))
            EXPECT(m, "layernorm", 14, "weight 7", "bias 7");
        vkdl_module_destroy(m);
        if (TH_OK(vkdl_embedding_create(ctx, 11, 3, &m)))
            EXPECT(m, "embedding", 33, "weight 11x3");
        vkdl_module_destroy(m);
        if (TH_OK(vkdl_attention_create(ctx, 8, 2, 1, &m)))
            expect_params(m, "attention", 8, ATTN8, 288);
        vkdl_module_destroy(m);
        if (TH_OK(vkdl_transformer_block_create(ctx, 8, 2, 16, 1, 0.1f, &m)))
            EXPECT(m, "transformer_block", 600, "ln1.weight 8", "ln1.bias 8", "attn.q_proj.weight 8x8",
                   "attn.q_proj.bias 8", "attn.k_proj.weight 8x8", "attn.k_proj.bias 8", "attn.v_proj.weight 8x8",
                   "attn.v_proj.bias 8", "attn.out_proj.weight 8x8", "attn.out_proj.bias 8", "ln2.weight 8",
                   "ln2.bias 8", "fc1.weight 16x8", "fc1.bias 16", "fc2.weight 8x16", "fc2.bias 8");
        vkdl_module_destroy(m);
        if (TH_OK(vkdl_lstm_create(ctx, 3, 5, &m)))
            EXPECT(m, "lstm", 200, "weight_ih_l0 20x3", "weight_hh_l0 20x5", "bias_ih_l0 20", "bias_hh_l0 20");
        vkdl_module_destroy(m);
        if (TH_OK(vkdl_gru_create(ctx, 3, 5, &m)))
            EXPECT(m, "gru", 150, "weight_ih_l0 15x3", "weight_hh_l0 15x5", "bias_ih_l0 15", "bias_hh_l0 15");
        vkdl_module_destroy(m);
        vkdl_pool2d_info pool = {.kernel = {2, 2}};
        vkdl_module *free_[4] = {0};
        TH_OK(vkdl_dropout_create(ctx, 0.5f, 1, &free_[0]));
        TH_OK(vkdl_activation_create(ctx, VKDL_RELU, &free_[1]));
        TH_OK(vkdl_maxpool2d_create(ctx, &pool, &free_[2]));
        TH_OK(vkdl_flatten_create(ctx, &free_[3]));
        for (int i = 0; i < 4; i++) {
            if (free_[i] && (vkdl_module_param_count(free_[i]) != 0 || vkdl_module_numel(free_[i]) != 0))
                th_fail("parameter-free layer %d has parameters", i);
            vkdl_module_destroy(free_[i]);
        }

        /* Nested containers: "2.0.running_mean" as in nn.Sequential(..., nn.Sequential(bn), ...). */
        vkdl_module *inner = NULL, *seq = NULL;
        bool ok = TH_OK(vkdl_linear_create(ctx, 3, 4, 1, &k[0])) && TH_OK(vkdl_activation_create(ctx, VKDL_RELU, &k[1])) &&
                  TH_OK(vkdl_batchnorm2d_create(ctx, 4, 0.1f, 1e-5f, &inner)) &&
                  TH_OK(vkdl_sequential_create(ctx, 1, &inner, &k[2])) && TH_OK(vkdl_linear_create(ctx, 4, 2, 1, &k[3]));
        if (ok && TH_OK(vkdl_sequential_create(ctx, 4, k, &seq))) {
            EXPECT(seq, "nested sequential", 34, "0.weight 4x3", "0.bias 4", "2.0.weight 4", "2.0.bias 4",
                   "2.0.running_mean 4 buffer", "2.0.running_var 4 buffer", "3.weight 2x4", "3.bias 2");
            TH_TRUE(vkdl_module_child(seq, 0) == k[0] && vkdl_module_child(seq, 3) == k[3]);
            TH_TRUE(vkdl_module_child(vkdl_module_child(seq, 2), 0) == inner);
            /* A child names its parameters as its own state_dict would, without the parent's prefix. */
            EXPECT(vkdl_module_child(seq, 2), "child of a sequential", 8, "0.weight 4", "0.bias 4",
                   "0.running_mean 4 buffer", "0.running_var 4 buffer");
            TH_TRUE(!vkdl_module_child(seq, 4) && !vkdl_module_child(seq, -1) && !vkdl_module_child(k[0], 0) &&
                    !vkdl_module_child(NULL, 0));
        } else if (!ok) {
            for (int i = 0; i < 4; i++)
                vkdl_module_destroy(k[i]);
        }
        vkdl_module_destroy(seq);

        /* A GPT-style stack: the blocks' names carry their index. */
        vkdl_module *gpt[3] = {0};
        ok = TH_OK(vkdl_embedding_create(ctx, 11, 8, &gpt[0])) &&
             TH_OK(vkdl_transformer_block_create(ctx, 8, 2, 16, 1, 0.0f, &gpt[1])) &&
             TH_OK(vkdl_transformer_block_create(ctx, 8, 2, 16, 1, 0.0f, &gpt[2]));
        if (ok && TH_OK(vkdl_sequential_create(ctx, 3, gpt, &seq))) {
            const char *name = NULL;
            TH_TRUE(vkdl_module_param_count(seq) == 33 && vkdl_module_numel(seq) == 88 + 1200);
            if (TH_OK(vkdl_module_param(seq, 1, &name, NULL)))
                TH_TRUE(!strcmp(name, "1.ln1.weight"));
            if (TH_OK(vkdl_module_param(seq, 17 + 9, &name, NULL)))
                TH_TRUE(!strcmp(name, "2.attn.out_proj.bias"));
            if (TH_OK(vkdl_module_param(seq, 32, &name, NULL)))
                TH_TRUE(!strcmp(name, "2.fc2.bias"));
        } else if (!ok) {
            for (int i = 0; i < 3; i++)
                vkdl_module_destroy(gpt[i]);
        }
        vkdl_module_destroy(seq);
    }
}

/* ---------------------------------------------------------------- initialisation */

/* One of every layer with parameters, in a container (init does not need a forward). */
static vkdl_module *zoo(vkdl_context *ctx)
{
    vkdl_module *k[10] = {0}, *m = NULL;
    vkdl_conv2d_info none = {0};
    bool ok = TH_OK(vkdl_linear_create(ctx, 6, 5, 1, &k[0])) && TH_OK(vkdl_conv2d_create(ctx, 3, 4, 3, &none, 1, &k[1])) &&
              TH_OK(vkdl_conv_transpose2d_create(ctx, 4, 2, 3, &none, 1, &k[2])) &&
              TH_OK(vkdl_batchnorm2d_create(ctx, 3, 0.1f, 1e-5f, &k[3])) && TH_OK(vkdl_layernorm_create(ctx, 6, 1e-5f, &k[4])) &&
              TH_OK(vkdl_embedding_create(ctx, 9, 6, &k[5])) && TH_OK(vkdl_attention_create(ctx, 6, 2, 1, &k[6])) &&
              TH_OK(vkdl_transformer_block_create(ctx, 6, 3, 10, 1, 0.0f, &k[7])) && TH_OK(vkdl_lstm_create(ctx, 4, 3, &k[8])) &&
              TH_OK(vkdl_gru_create(ctx, 3, 5, &k[9]));
    if (!ok) {
        for (int i = 0; i < 10; i++)
            vkdl_module_destroy(k[i]);
        return NULL;
    }
    TH_OK(vkdl_sequential_create(ctx, 10, k, &m));
    return m;
}

/* Whether a parameter's init is constant (norm weights/biases, attention biases, buffers). */
static bool constant_init(const char *name)
{
    static const char *const pre[] = {"3.", "4.", "7.ln1.", "7.ln2.", "6.q_proj.bias", "6.k_proj.bias",
                                      "6.v_proj.bias", "6.out_proj.bias", "7.attn.q_proj.bias", "7.attn.k_proj.bias",
                                      "7.attn.v_proj.bias", "7.attn.out_proj.bias"};
    for (size_t i = 0; i < ARRAY_LEN(pre); i++)
        if (!strncmp(name, pre[i], strlen(pre[i])))
            return true;
    return false;
}

static void run_init_bits(void *arg)
{
    (void)arg;
    vkdl_module *a = zoo(th_cpu), *g = zoo(th_gpu), *a2 = zoo(th_cpu), *d = zoo(th_cpu);
    if (a && g && a2 && d && TH_OK(vkdl_module_init(a, 42)) && TH_OK(vkdl_module_init(g, 42)) &&
        TH_OK(vkdl_module_init(d, 43))) {
        /* Perturbed first: init must overwrite everything. */
        perturb(a2, 5, 1.0f);
        TH_OK(vkdl_module_init(a2, 42));
        int n = vkdl_module_param_count(a);
        TH_TRUE(n == 2 + 2 + 2 + 4 + 2 + 1 + 8 + 16 + 4 + 4);
        for (int i = 0; i < n; i++) {
            const char *name;
            vkdl_tensor *ta, *tg, *ta2, *td;
            if (!TH_OK(vkdl_module_param(a, i, &name, &ta)) || !TH_OK(vkdl_module_param(g, i, NULL, &tg)) ||
                !TH_OK(vkdl_module_param(a2, i, NULL, &ta2)) || !TH_OK(vkdl_module_param(d, i, NULL, &td)))
                break;
            char what[160];
            snprintf(what, sizeof what, "%s: cpu and gpu with seed 42", name);
            same_bits(ta, tg, what);
            snprintf(what, sizeof what, "%s: two cpu modules with seed 42", name);
            same_bits(ta, ta2, what);
            int64_t k = vkdl_tensor_numel(ta), differ = 0;
            float *x = th_download(ta), *y = th_download(td);
            for (int64_t j = 0; j < k; j++)
                differ += x[j] != y[j];
            if (constant_init(name) ? differ != 0 : differ < k * 9 / 10)
                th_fail("%s: seeds 42 and 43 differ in %lld of %lld elements", name, (long long)differ, (long long)k);
            free(x);
            free(y);
        }
    }
    vkdl_module_destroy(a);
    vkdl_module_destroy(g);
    vkdl_module_destroy(a2);
    vkdl_module_destroy(d);
}

typedef struct stats {
    double mean, var, absmax;
    int64_t n, quarters[4];         /* counts in four equal bins over [-bound, bound] */
} stats;

static stats stats_of(vkdl_tensor *t, double bound)
{
    stats s = {0};
    s.n = vkdl_tensor_numel(t);
    float *v = th_download(t);
    double sum = 0, sum2 = 0;
    for (int64_t i = 0; i < s.n; i++) {
        sum += v[i];
        s.absmax = fmax(s.absmax, fabs(v[i]));
        if (bound > 0) {
            int q = (int)floor((v[i] + bound) / (2 * bound) * 4);
            s.quarters[q < 0 ? 0 : q > 3 ? 3 : q]++;
        }
    }
    s.mean = sum / (double)s.n;
    for (int64_t i = 0; i < s.n; i++)
        sum2 += (v[i] - s.mean) * (v[i] - s.mean);
    s.var = sum2 / (double)s.n;
    free(v);
    return s;
}

/* uniform(-bound, bound): inside the bound, reaching near it, variance bound^2/3 within 6%, and
 * (for large tensors) a flat histogram. */
static void expect_uniform(vkdl_module *m, const char *name, double bound)
{
    vkdl_tensor *t = P(m, name);
    if (!t)
        return;
    stats s = stats_of(t, bound);
    double want = bound * bound / 3;
    bool ok = s.absmax <= bound * (1 + 1e-6) && s.absmax >= bound * (s.n >= 64 ? 0.9 : 0.3);
    ok = ok && (s.n < 1000 || (fabs(s.var / want - 1) < 0.06 && fabs(s.mean) < 0.02 * bound));
    for (int q = 0; q < 4 && s.n >= 10000; q++)
        ok = ok && fabs((double)s.quarters[q] / (double)s.n - 0.25) < 0.02;
    if (!ok)
        th_fail("%s: not uniform(+-%.6g): max |x| %.6g, mean %.3g, variance %.6g (want %.6g), quarters %lld %lld %lld "
                "%lld of %lld", name, bound, s.absmax, s.mean, s.var, want, (long long)s.quarters[0],
                (long long)s.quarters[1], (long long)s.quarters[2], (long long)s.quarters[3], (long long)s.n);
}

static void expect_constant(vkdl_module *m, const char *name, float value)
{
    vkdl_tensor *t = P(m, name);
    if (!t)
        return;
    float *v = th_download(t);
    for (int64_t i = 0; i < vkdl_tensor_numel(t); i++)
        if (v[i] != value) {
            th_fail("%s[%lld] is %g, expected %g", name, (long long)i, v[i], value);
            break;
        }
    free(v);
}

static void run_init_stats(void *arg)
{
    vkdl_context *ctx = th_ctx_of(*(const int *)arg);
    vkdl_module *m = NULL;
    if (TH_OK(vkdl_linear_create(ctx, 400, 64, 1, &m)) && TH_OK(vkdl_module_init(m, 7))) {
        expect_uniform(m, "weight", 1 / sqrt(400.0));
        expect_uniform(m, "bias", 1 / sqrt(400.0));
    }
    vkdl_module_destroy(m);
    vkdl_conv2d_info none = {0}, g2 = {.groups = 2};
    if (TH_OK(vkdl_conv2d_create(ctx, 3, 8, 5, &none, 1, &m)) && TH_OK(vkdl_module_init(m, 7))) {
        expect_uniform(m, "weight", 1 / sqrt(75.0));
        expect_uniform(m, "bias", 1 / sqrt(75.0));
    }
    vkdl_module_destroy(m);
    /* PyTorch takes a transposed convolution's fan-in from weight dim 1: (out / groups) k k. */
    if (TH_OK(vkdl_conv_transpose2d_create(ctx, 4, 6, 3, &g2, 1, &m)) && TH_OK(vkdl_module_init(m, 7))) {
        expect_uniform(m, "weight", 1 / sqrt(27.0));
        expect_uniform(m, "bias", 1 / sqrt(27.0));
    }
    vkdl_module_destroy(m);
    if (TH_OK(vkdl_lstm_create(ctx, 7, 16, &m)) && TH_OK(vkdl_module_init(m, 7)))
        for (int i = 0; i < 4; i++) {
            static const char *const names[4] = {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"};
            expect_uniform(m, names[i], 0.25);
        }
    vkdl_module_destroy(m);
    if (TH_OK(vkdl_gru_create(ctx, 5, 9, &m)) && TH_OK(vkdl_module_init(m, 7))) {
        expect_uniform(m, "weight_hh_l0", 1 / 3.0);
        expect_uniform(m, "bias_ih_l0", 1 / 3.0);
    }
    vkdl_module_destroy(m);
    if (TH_OK(vkdl_attention_create(ctx, 32, 4, 1, &m)) && TH_OK(vkdl_module_init(m, 7)))
        for (int i = 0; i < 4; i++) {
            static const char *const names[4] = {"q_proj", "k_proj", "v_proj", "out_proj"};
            char w[64], b[64];
            snprintf(w, sizeof w, "%s.weight", names[i]);
            snprintf(b, sizeof b, "%s.bias", names[i]);
            expect_uniform(m, w, sqrt(6.0 / 64.0));
            expect_constant(m, b, 0.0f);
        }
    vkdl_module_destroy(m);
    if (TH_OK(vkdl_embedding_create(ctx, 200, 64, &m)) && TH_OK(vkdl_module_init(m, 7))) {
        /* 12800 samples: the mean's standard error is 0.009, the standard deviation's 0.006. */
        stats s = stats_of(P(m, "weight"), 0);
        float *v = th_download(P(m, "weight"));
        int64_t within = 0;
        for (int64_t i = 0; i < s.n; i++)
            within += fabsf(v[i]) < 1.0f;
        free(v);
        double frac = (double)within / (double)s.n;
        if (!(fabs(s.mean) < 0.04 && fabs(sqrt(s.var) - 1) < 0.03 && fabs(frac - 0.6827) < 0.02 && s.absmax > 3))
            th_fail("embedding: not N(0, 1): mean %.4f, std %.4f, %.4f within 1 std, max |x| %.3f", s.mean, sqrt(s.var),
                    frac, s.absmax);
    }
    vkdl_module_destroy(m);
    /* Norms come back to ones and zeros however they were changed. */
    if (TH_OK(vkdl_batchnorm2d_create(ctx, 5, 0.1f, 1e-5f, &m))) {
        expect_constant(m, "running_var", 1.0f);
        for (int i = 0; i < 4; i++) {
            vkdl_tensor *t;
            if (TH_OK(vkdl_module_param(m, i, NULL, &t)))
                TH_OK(vkdl_tensor_fill(t, 3.5));
        }
        TH_OK(vkdl_module_init(m, 7));
        expect_constant(m, "weight", 1.0f);
        expect_constant(m, "bias", 0.0f);
        expect_constant(m, "running_mean", 0.0f);
        expect_constant(m, "running_var", 1.0f);
    }
    vkdl_module_destroy(m);
    if (TH_OK(vkdl_transformer_block_create(ctx, 8, 2, 8, 1, 0.0f, &m))) {
        perturb(m, 3, 0.5f);
        TH_OK(vkdl_module_init(m, 7));
        expect_constant(m, "ln1.weight", 1.0f);
        expect_constant(m, "ln2.bias", 0.0f);
        expect_constant(m, "attn.v_proj.bias", 0.0f);
        expect_uniform(m, "fc1.weight", 1 / sqrt(8.0));
        expect_uniform(m, "attn.k_proj.weight", sqrt(6.0 / 16.0));
    }
    vkdl_module_destroy(m);
    TH_STATUS(vkdl_module_init(NULL, 1), VKDL_ERROR_INVALID_ARGUMENT, "module");
}

/* ---------------------------------------------------------------- training and evaluation mode */

static void run_dropout_mode(void *arg)
{
    (void)arg;
    int64_t xs[2] = {17, 33}, n = 17 * 33;
    float *xv = malloc((size_t)n * sizeof *xv);
    uint64_t s = 11;
    for (int64_t i = 0; i < n; i++)
        xv[i] = th_urand(&s, 0.5f, 1.5f);
    vkdl_tensor *first[2] = {0};
    for (int b = 0; b < 2; b++) {
        vkdl_context *ctx = th_ctx_of(b);
        vkdl_module *d = NULL, *seq = NULL;
        vkdl_tensor *x = new_tensor(ctx, VKDL_F32, 2, xs, xv), *y1, *y2, *ye;
        if (!x || !TH_OK(vkdl_dropout_create(ctx, 0.5f, 3, &d)) || !TH_OK(vkdl_sequential_create(ctx, 1, &d, &seq))) {
            vkdl_tensor_destroy(x);
            break;
        }
        /* Training: zeros and 2x, a new mask on each call; evaluation (set on the container): x itself. */
        if (TH_OK(vkdl_module_forward(seq, x, &y1)) && TH_OK(vkdl_module_forward(seq, x, &y2))) {
            float *a = th_download(y1), *c = th_download(y2);
            int64_t zeros = 0, same = 0;
            for (int64_t i = 0; i < n; i++) {
                if (!(a[i] == 0.0f || a[i] == 2.0f * xv[i]))
                    th_fail("training: element %lld is %g for x %g", (long long)i, a[i], xv[i]);
                zeros += a[i] == 0.0f;
                same += a[i] == c[i];
            }
            TH_TRUE(zeros > n / 3 && zeros < 2 * n / 3 && same < n * 3 / 4);
            free(a);
            free(c);
            first[b] = y1;
        }
        vkdl_module_set_training(seq, 0);
        if (TH_OK(vkdl_module_forward(seq, x, &ye)))
            same_bits(ye, x, "evaluation-mode dropout");
        vkdl_module_set_training(seq, 1);
        if (TH_OK(vkdl_module_forward(seq, x, &ye))) {
            float *a = th_download(ye);
            int64_t zeros = 0;
            for (int64_t i = 0; i < n; i++)
                zeros += a[i] == 0.0f;
            TH_TRUE(zeros > 0);
            free(a);
        }
        vkdl_tensor_destroy(x);
        vkdl_module_destroy(seq);
    }
    /* Philox masks: the same on every device. */
    if (first[0] && first[1])
        th_compare(&(th_pair){first[0], first[1]}, TH_TOL_F32);
    vkdl_graph_free(th_cpu);
    vkdl_graph_free(th_gpu);
    free(xv);
}

static void run_batchnorm_mode(void *arg)
{
    (void)arg;
    int64_t xs[4] = {2, 3, 2, 3}, C = 3, HW = 6, n = 36;
    const float rm[3] = {0.5f, -1.0f, 2.0f}, rv[3] = {4.0f, 0.25f, 1.0f};
    const float gamma[3] = {1.5f, -0.5f, 0.75f}, beta[3] = {0.1f, 0.2f, -0.3f};
    float *xv = malloc((size_t)n * sizeof *xv), *want = malloc((size_t)n * sizeof *want);
    uint64_t s = 5;
    for (int64_t i = 0; i < n; i++) {
        xv[i] = th_urand(&s, -2.0f, 3.0f);
        int64_t c = i / HW % C;
        want[i] = (float)((xv[i] - rm[c]) / sqrt(rv[c] + 1e-5) * gamma[c] + beta[c]);
    }
    for (int b = 0; b < 2; b++) {
        vkdl_context *ctx = th_ctx_of(b);
        vkdl_module *bn = NULL, *k[2] = {0}, *seq = NULL;
        vkdl_tensor *x = new_tensor(ctx, VKDL_F32, 4, xs, xv), *y;
        vkdl_conv2d_info one = {0};
        if (!x || !TH_OK(vkdl_batchnorm2d_create(ctx, C, 0.1f, 1e-5f, &bn)) ||
            !TH_OK(vkdl_conv2d_create(ctx, 3, 3, 1, &one, 1, &k[0]))) {
            vkdl_tensor_destroy(x);
            vkdl_module_destroy(bn);
            break;
        }
        /* Looked up before the container renames them "1.running_mean"... */
        vkdl_tensor *rmt = P(bn, "running_mean"), *rvt = P(bn, "running_var"), *gt = P(bn, "weight"), *bt = P(bn, "bias");
        TH_OK(vkdl_tensor_upload(rmt, rm, VKDL_F32, sizeof rm));
        TH_OK(vkdl_tensor_upload(rvt, rv, VKDL_F32, sizeof rv));
        TH_OK(vkdl_tensor_upload(gt, gamma, VKDL_F32, sizeof gamma));
        TH_OK(vkdl_tensor_upload(bt, beta, VKDL_F32, sizeof beta));
        k[1] = bn;
        if (!TH_OK(vkdl_sequential_create(ctx, 2, k, &seq))) {
            vkdl_tensor_destroy(x);
            break;
        }
        /* Evaluation with grad mode off, then on (the eval map is differentiated as the affine map
         * it is): the running statistics in both, and left as they were. */
        vkdl_module_set_training(seq, 0);
        int was = vkdl_grad_enabled(ctx, 0);
        if (TH_OK(vkdl_module_forward(bn, x, &y))) {
            float *got = th_download(y);
            close_to(want, got, n, TH_TOL_F32, "evaluation uses the running statistics");
            free(got);
        }
        vkdl_grad_enabled(ctx, was);
        TH_OK(vkdl_tensor_set_requires_grad(x, 1));
        vkdl_tensor *flat, *loss;
        int64_t all = -1;
        if (TH_OK(vkdl_module_forward(bn, x, &y)) && TH_OK(vkdl_f_reshape(y, 1, &all, &flat)) &&
            TH_OK(vkdl_f_reduce(VKDL_SUM, flat, 0, 0, &loss))) {
            float *got = th_download(y);
            close_to(want, got, n, TH_TOL_F32, "evaluation with grad mode on");
            free(got);
            /* d sum(y) / d beta = N H W per channel; / d gamma = sum of the normalised x; / dx = a. */
            if (TH_OK(vkdl_backward(loss))) {
                float *dg = th_download(vkdl_tensor_grad(gt)), *db = th_download(vkdl_tensor_grad(bt));
                float *dx = th_download(vkdl_tensor_grad(x)), wdg[3] = {0}, wdb[3] = {12, 12, 12}, *wdx = malloc((size_t)n * 4);
                for (int64_t i = 0; i < n; i++) {
                    int64_t c = i / HW % C;
                    wdg[c] += (float)((xv[i] - rm[c]) / sqrt(rv[c] + 1e-5));
                    wdx[i] = (float)(gamma[c] / sqrt(rv[c] + 1e-5));
                }
                close_to(wdg, dg, C, TH_TOL_F32, "evaluation: d/dgamma");
                close_to(wdb, db, C, TH_TOL_F32, "evaluation: d/dbeta");
                close_to(wdx, dx, n, TH_TOL_F32, "evaluation: d/dx");
                free(dg), free(db), free(dx), free(wdx);
            }
        }
        TH_OK(vkdl_tensor_set_requires_grad(x, 0));
        if (TH_OK(vkdl_module_forward(seq, x, &y)))
            vkdl_graph_free(ctx);
        float *m2 = th_download(rmt), *v2 = th_download(rvt);
        TH_TRUE(!memcmp(m2, rm, sizeof rm) && !memcmp(v2, rv, sizeof rv));
        free(m2), free(v2);
        /* Training again: batch statistics (each channel's output mean is its beta), stats move. */
        vkdl_module_set_training(seq, 1);
        if (TH_OK(vkdl_module_forward(bn, x, &y))) {
            float *got = th_download(y), *moved = th_download(rmt);
            for (int64_t c = 0; c < C; c++) {
                double mean = 0;
                for (int64_t i = 0; i < n; i++)
                    if (i / HW % C == c)
                        mean += got[i] / 12.0;
                if (fabs(mean - beta[c]) > 1e-5)
                    th_fail("training: channel %lld output mean %g, expected %g", (long long)c, mean, beta[c]);
            }
            TH_TRUE(memcmp(moved, rm, sizeof rm) != 0);
            free(got), free(moved);
        }
        vkdl_graph_free(ctx);
        vkdl_tensor_destroy(x);
        vkdl_module_destroy(seq);
    }
    free(xv);
    free(want);
}

/* A transformer block's dropout is off in evaluation: it then equals the same block without one. */
static void run_block_dropout_mode(void *arg)
{
    (void)arg;
    int64_t xs[3] = {2, 5, 8};
    for (int b = 0; b < 2; b++) {
        vkdl_context *ctx = th_ctx_of(b);
        vkdl_module *d = NULL, *z = NULL;
        th_pair xp = th_rand(VKDL_F32, 3, xs, -1, 1);
        vkdl_tensor *x = b ? xp.gpu : xp.cpu, *yd, *yz, *yt;
        if (TH_OK(vkdl_transformer_block_create(ctx, 8, 2, 12, 1, 0.5f, &d)) &&
            TH_OK(vkdl_transformer_block_create(ctx, 8, 2, 12, 1, 0.0f, &z)) && TH_OK(vkdl_module_init(d, 9)) &&
            TH_OK(vkdl_module_init(z, 9))) {
            vkdl_module_set_training(d, 0);
            int was = vkdl_grad_enabled(ctx, 0);
            if (TH_OK(vkdl_module_forward(d, x, &yd)) && TH_OK(vkdl_module_forward(z, x, &yz)))
                same_bits(yd, yz, "evaluation-mode block with dropout 0.5 against dropout 0");
            vkdl_module_set_training(d, 1);
            if (TH_OK(vkdl_module_forward(d, x, &yt))) {
                float *a = th_download(yt), *c = th_download(yz);
                TH_TRUE(memcmp(a, c, (size_t)vkdl_tensor_numel(yt) * sizeof *a) != 0);
                free(a), free(c);
            }
            vkdl_grad_enabled(ctx, was);
        }
        vkdl_graph_free(ctx);
        vkdl_module_destroy(d);
        vkdl_module_destroy(z);
        th_free(&xp);
    }
}

/* ---------------------------------------------------------------- stateful LSTM / GRU */

static void run_stateful(void *arg)
{
    bool lstm = *(const int *)arg;
    const int64_t T = 6, B = 3, I = 4, H = 5;
    int64_t xs[3] = {T, B, I}, x1s[3] = {3, 1, I};
    float xv[6 * 3 * 4], x1v[3 * 4];
    uint64_t s = 21;
    for (size_t i = 0; i < ARRAY_LEN(xv); i++)
        xv[i] = th_urand(&s, -1, 1);
    for (size_t i = 0; i < ARRAY_LEN(x1v); i++)
        x1v[i] = th_urand(&s, -1, 1);
    float *last[2] = {0};
    for (int b = 0; b < 2; b++) {
        vkdl_context *ctx = th_ctx_of(b);
        vkdl_module *m = NULL;
        vkdl_tensor *x = new_tensor(ctx, VKDL_F32, 3, xs, xv), *x1 = new_tensor(ctx, VKDL_F32, 3, x1s, x1v);
        vkdl_tensor *xa = NULL, *xb = NULL, *y6, *ya, *yb, *yr, *y1, *y1s;
        bool ok = x && x1 && TH_OK(lstm ? vkdl_lstm_create(ctx, I, H, &m) : vkdl_gru_create(ctx, I, H, &m)) &&
                  TH_OK(vkdl_module_init(m, 4)) && TH_OK(vkdl_tensor_slice(x, 0, 3, &xa)) &&
                  TH_OK(vkdl_tensor_slice(x, 3, 6, &xb));
        int was = vkdl_grad_enabled(ctx, 0);
        if (ok && TH_OK(vkdl_module_forward(m, x, &y6)) && TH_OK(vkdl_module_forward(m, x1, &y1)) &&
            TH_OK(vkdl_module_set_stateful(m, 1)) && TH_OK(vkdl_module_forward(m, xa, &ya)) &&
            TH_OK(vkdl_module_forward(m, xb, &yb))) {
            float *f6 = th_download(y6), *fa = th_download(ya), *fb = th_download(yb);
            int64_t half = 3 * B * H;
            close_to(f6, fa, half, TH_TOL_GEMM, "stateful: first 3 steps");
            close_to(f6 + half, fb, half, TH_TOL_GEMM, "stateful: steps 4-6 carried over from steps 1-3");
            last[b] = fb;
            /* reset: the zero start again, bit for bit. */
            if (TH_OK(vkdl_module_reset_state(m)) && TH_OK(vkdl_module_forward(m, xa, &yr)))
                same_bits(yr, ya, "after reset_state");
            /* A new batch size starts from zeros too. */
            if (TH_OK(vkdl_module_forward(m, x1, &y1s)))
                same_bits(y1s, y1, "stateful: a new batch size starts from zeros");
            /* Not stateful any more: every forward starts from zeros. */
            if (TH_OK(vkdl_module_set_stateful(m, 0)) && TH_OK(vkdl_module_forward(m, xb, &yr)) &&
                TH_OK(vkdl_module_forward(m, xb, &y1s)))
                same_bits(yr, y1s, "stateless forwards");
            free(f6), free(fa);
        }
        vkdl_grad_enabled(ctx, was);
        vkdl_graph_free(ctx);
        vkdl_tensor_destroy(xa);
        vkdl_tensor_destroy(xb);
        vkdl_tensor_destroy(x);
        vkdl_tensor_destroy(x1);
        vkdl_module_destroy(m);
    }
    if (last[0] && last[1])
        close_to(last[0], last[1], 3 * B * H, TH_TOL_GEMM, "stateful steps 4-6: gpu against cpu");
    free(last[0]);
    free(last[1]);
}

/* Truncated back-propagation: the gradient of a stateful forward is the gradient of the same
 * recurrence started from the carried state (h0, and c0 for the LSTM). */
static const char *const RNN_PARAMS[4] = {"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"};

static vkdl_status mse_backward(vkdl_tensor *y, vkdl_tensor *target)
{
    vkdl_tensor *loss;
    TRY(vkdl_f_mse_loss(y, target, &loss));
    return vkdl_backward(loss);
}

static void run_stateful_grad(void *arg)
{
    bool lstm = *(const int *)arg;
    const int64_t B = 2, I = 3, H = 4;
    int64_t xs[3] = {6, B, I}, ts[3] = {3, B, H};
    float xv[6 * 2 * 3], tv[3 * 2 * 4];
    uint64_t s = 8;
    for (size_t i = 0; i < ARRAY_LEN(xv); i++)
        xv[i] = th_urand(&s, -1, 1);
    for (size_t i = 0; i < ARRAY_LEN(tv); i++)
        tv[i] = th_urand(&s, -0.5f, 0.5f);
    float *grads[2][4] = {{0}};
    for (int b = 0; b < 2; b++) {
        vkdl_context *ctx = th_ctx_of(b);
        vkdl_module *m = NULL;
        vkdl_tensor *x = new_tensor(ctx, VKDL_F32, 3, xs, xv), *tgt = new_tensor(ctx, VKDL_F32, 3, ts, tv);
        vkdl_tensor *xa = NULL, *xb = NULL, *y, *hn = NULL, *cn = NULL, *w[4] = {0};
        bool ok = x && tgt && TH_OK(lstm ? vkdl_lstm_create(ctx, I, H, &m) : vkdl_gru_create(ctx, I, H, &m)) &&
                  TH_OK(vkdl_module_init(m, 6)) && TH_OK(vkdl_tensor_slice(x, 0, 3, &xa)) &&
                  TH_OK(vkdl_tensor_slice(x, 3, 6, &xb));
        for (int i = 0; ok && i < 4; i++)
            ok = (w[i] = P(m, RNN_PARAMS[i])) != NULL;
        /* Reference: the state after steps 1-3 passed explicitly as h0/c0. */
        int was = vkdl_grad_enabled(ctx, 0);
        ok = ok && TH_OK(lstm ? vkdl_f_lstm(xa, NULL, NULL, w[0], w[1], w[2], w[3], &y, &hn, &cn)
                              : vkdl_f_gru(xa, NULL, w[0], w[1], w[2], w[3], &y, &hn));
        vkdl_grad_enabled(ctx, was);
        ok = ok && TH_OK(lstm ? vkdl_f_lstm(xb, hn, cn, w[0], w[1], w[2], w[3], &y, NULL, NULL)
                              : vkdl_f_gru(xb, hn, w[0], w[1], w[2], w[3], &y, NULL));
        ok = ok && TH_OK(mse_backward(y, tgt));
        float *ref[4] = {0};
        for (int i = 0; ok && i < 4; i++) {
            ref[i] = th_download(vkdl_tensor_grad(w[i]));
            TH_OK(vkdl_tensor_fill(vkdl_tensor_grad(w[i]), 0.0));
        }
        /* The module: steps 1-3 without a tape, then steps 4-6 from the carried state. */
        ok = ok && TH_OK(vkdl_module_set_stateful(m, 1));
        was = vkdl_grad_enabled(ctx, 0);
        ok = ok && TH_OK(vkdl_module_forward(m, xa, &y));
        vkdl_grad_enabled(ctx, was);
        vkdl_graph_free(ctx);
        ok = ok && TH_OK(vkdl_module_forward(m, xb, &y)) && TH_OK(mse_backward(y, tgt));
        for (int i = 0; ok && i < 4; i++) {
            grads[b][i] = th_download(vkdl_tensor_grad(w[i]));
            char what[96];
            snprintf(what, sizeof what, "%s: d%s of the stateful forward", TH_BACKEND[b], RNN_PARAMS[i]);
            close_to(ref[i], grads[b][i], vkdl_tensor_numel(w[i]), TH_TOL_GEMM, what);
        }
        for (int i = 0; i < 4; i++)
            free(ref[i]);
        vkdl_graph_free(ctx);
        vkdl_tensor_destroy(xa);
        vkdl_tensor_destroy(xb);
        vkdl_tensor_destroy(x);
        vkdl_tensor_destroy(tgt);
        vkdl_module_destroy(m);
    }
    int64_t sizes[4] = {(lstm ? 4 : 3) * H * I, (lstm ? 4 : 3) * H * H, (lstm ? 4 : 3) * H, (lstm ? 4 : 3) * H};
    for (int i = 0; i < 4; i++) {
        if (grads[0][i] && grads[1][i])
            close_to(grads[0][i], grads[1][i], sizes[i], TH_TOL_GEMM, "stateful gradients: gpu against cpu");
        free(grads[0][i]);
        free(grads[1][i]);
    }
}

/* ---------------------------------------------------------------- bad input */

/* A forward that must fail with SHAPE_MISMATCH (or DTYPE_MISMATCH) and name the layer. */
static void expect_bad_forward(vkdl_module *m, vkdl_context *ctx, vkdl_dtype dt, int nd, const int64_t *shape,
                               vkdl_status want, const char *layer)
{
    vkdl_tensor *x = NULL, *y = (vkdl_tensor *)&y;
    if (!m || !TH_OK(vkdl_tensor_create(ctx, dt, nd, shape, &x)) || !TH_OK(vkdl_tensor_fill(x, 0.0)))
        return;
    vkdl_status s = vkdl_module_forward(m, x, &y);
    if (s != want)
        th_fail("%s: a bad input gave %s (want %s): %s", layer, vkdl_status_string(s), vkdl_status_string(want),
                vkdl_last_error());
    else if (!strstr(vkdl_last_error(), layer))
        th_fail("%s: message \"%s\" does not name the layer", layer, vkdl_last_error());
    if (y)
        th_fail("%s: y not cleared on failure", layer);
    vkdl_graph_free(ctx);
    vkdl_tensor_destroy(x);
}

static void run_bad(void *arg)
{
    vkdl_context *ctx = th_ctx_of(*(const int *)arg), *other = ctx == th_cpu ? th_gpu : th_cpu;
    vkdl_module *m = (vkdl_module *)&m;
    vkdl_conv2d_info ci = {0};
    vkdl_pool2d_info pool = {.kernel = {2, 2}}, pool0 = {0};
    const vkdl_status INV = VKDL_ERROR_INVALID_ARGUMENT;

    /* NULL context or out, and *out cleared on failure. */
    TH_STATUS(vkdl_linear_create(NULL, 3, 4, 1, &m), INV, "context");
    TH_TRUE(m == NULL);
    TH_STATUS(vkdl_linear_create(ctx, 3, 4, 1, NULL), INV, "out");
    TH_STATUS(vkdl_flatten_create(NULL, &m), INV, "context");
    TH_STATUS(vkdl_sequential_create(NULL, 0, NULL, &m), INV, "context");

    /* Non-positive sizes and bad parameters. */
    TH_STATUS(vkdl_linear_create(ctx, 0, 4, 1, &m), INV, "linear_create");
    TH_STATUS(vkdl_linear_create(ctx, 3, -1, 1, &m), INV, "linear_create");
    TH_STATUS(vkdl_conv2d_create(ctx, 3, 4, 0, &ci, 1, &m), INV, "conv2d_create");
    TH_STATUS(vkdl_conv2d_create(ctx, 0, 4, 3, &ci, 1, &m), INV, "conv2d_create");
    vkdl_conv2d_info g2 = {.groups = 2};
    TH_STATUS(vkdl_conv2d_create(ctx, 3, 4, 3, &g2, 1, &m), INV, "groups");
    TH_STATUS(vkdl_conv_transpose2d_create(ctx, 4, 3, 3, &g2, 1, &m), INV, "conv_transpose2d_create");
    TH_STATUS(vkdl_batchnorm2d_create(ctx, 0, 0.1f, 1e-5f, &m), INV, "batchnorm2d_create");
    TH_STATUS(vkdl_batchnorm2d_create(ctx, 3, 1.5f, 1e-5f, &m), INV, "momentum");
    TH_STATUS(vkdl_batchnorm2d_create(ctx, 3, 0.1f, 0.0f, &m), INV, "eps");
    TH_STATUS(vkdl_layernorm_create(ctx, 0, 1e-5f, &m), INV, "layernorm_create");
    TH_STATUS(vkdl_layernorm_create(ctx, 4, -1.0f, &m), INV, "layernorm_create");
    TH_STATUS(vkdl_embedding_create(ctx, 0, 4, &m), INV, "embedding_create");
    TH_STATUS(vkdl_embedding_create(ctx, 4, -2, &m), INV, "embedding_create");
    TH_STATUS(vkdl_attention_create(ctx, 10, 3, 1, &m), INV, "heads");
    TH_STATUS(vkdl_attention_create(ctx, 8, 0, 1, &m), INV, "heads");
    TH_STATUS(vkdl_attention_create(ctx, 0, 1, 1, &m), INV, "attention_create");
    TH_STATUS(vkdl_transformer_block_create(ctx, 10, 4, 16, 1, 0.0f, &m), INV, "heads");
    TH_STATUS(vkdl_transformer_block_create(ctx, 8, 2, 0, 1, 0.0f, &m), INV, "hidden");
    TH_STATUS(vkdl_transformer_block_create(ctx, 8, 2, 16, 1, 1.0f, &m), INV, "dropout");
    TH_STATUS(vkdl_lstm_create(ctx, 3, 0, &m), INV, "lstm_create");
    TH_STATUS(vkdl_gru_create(ctx, 0, 3, &m), INV, "gru_create");
    TH_STATUS(vkdl_dropout_create(ctx, 1.0f, 0, &m), INV, "dropout_create");
    TH_STATUS(vkdl_dropout_create(ctx, -0.1f, 0, &m), INV, "dropout_create");
    TH_STATUS(vkdl_activation_create(ctx, VKDL_UNARY_OP_COUNT, &m), INV, "activation_create");
    TH_STATUS(vkdl_maxpool2d_create(ctx, NULL, &m), INV, "maxpool2d_create");
    TH_STATUS(vkdl_maxpool2d_create(ctx, &pool0, &m), INV, "maxpool2d_create");
    TH_TRUE(m == NULL);

    /* Sequential: bad counts, a NULL child (the others are still freed: see the ASan run), a child
     * from another context, and a NULL out (children freed as promised). */
    vkdl_module *k[3] = {0};
    TH_STATUS(vkdl_sequential_create(ctx, -1, k, &m), INV, "sequential_create");
    TH_STATUS(vkdl_sequential_create(ctx, 2, NULL, &m), INV, "sequential_create");
    if (TH_OK(vkdl_linear_create(ctx, 3, 4, 1, &k[0])) && TH_OK(vkdl_activation_create(ctx, VKDL_RELU, &k[2])))
        TH_STATUS(vkdl_sequential_create(ctx, 3, k, &m), INV, "child 1 is NULL");
    TH_TRUE(m == NULL);
    if (TH_OK(vkdl_linear_create(ctx, 3, 4, 1, &k[0])) && TH_OK(vkdl_linear_create(other, 4, 4, 1, &k[1])))
        TH_STATUS(vkdl_sequential_create(ctx, 2, k, &m), VKDL_ERROR_CONTEXT_MISMATCH, "another context");
    if (TH_OK(vkdl_linear_create(ctx, 3, 4, 1, &k[0])))
        TH_STATUS(vkdl_sequential_create(ctx, 1, k, NULL), INV, "out");
    if (TH_OK(vkdl_linear_create(ctx, 3, 4, 1, &k[0])))
        TH_STATUS(vkdl_sequential_create(NULL, 1, k, &m), INV, "context");

    /* Forward: NULL arguments, the wrong context, wrong shapes named by the layer. */
    vkdl_tensor *x = NULL, *y = NULL;
    int64_t s2[2] = {3, 5};
    if (TH_OK(vkdl_linear_create(ctx, 4, 2, 1, &m)) && TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 2, s2, &x))) {
        TH_STATUS(vkdl_module_forward(NULL, x, &y), INV, "module");
        TH_STATUS(vkdl_module_forward(m, NULL, &y), INV, NULL);
        TH_STATUS(vkdl_module_forward(m, x, NULL), INV, NULL);
        vkdl_tensor *xo = NULL;
        if (TH_OK(vkdl_tensor_create(other, VKDL_F32, 2, s2, &xo)))
            TH_STATUS(vkdl_module_forward(m, xo, &y), VKDL_ERROR_CONTEXT_MISMATCH, "context");
        vkdl_tensor_destroy(xo);
        TH_STATUS(vkdl_module_set_stateful(m, 1), INV, "LSTM");
        TH_STATUS(vkdl_module_reset_state(m), INV, "LSTM");
    }
    TH_STATUS(vkdl_module_set_stateful(NULL, 1), INV, NULL);
    TH_STATUS(vkdl_module_param(NULL, 0, NULL, NULL), INV, "module");
    TH_TRUE(vkdl_module_param_count(NULL) == 0 && vkdl_module_numel(NULL) == 0);
    vkdl_module_set_training(NULL, 0);
    vkdl_module_destroy(NULL);
    vkdl_tensor_destroy(x);
    expect_bad_forward(m, ctx, VKDL_F32, 2, s2, VKDL_ERROR_SHAPE_MISMATCH, "linear");
    vkdl_module_destroy(m);
    m = NULL;

    const int64_t x4[4] = {2, 2, 5, 5}, x3[3] = {2, 3, 7}, x2[2] = {3, 4};
    /* Each layer and an input it must refuse (a layer whose create failed is left NULL and skipped). */
    enum { CONV, CONV_K7, CONV_2IN, CONVT, BN, LN, EMB, ATTN, BLOCK, LSTM, GRU, POOL, N_LAYERS };
    vkdl_module *layer[N_LAYERS] = {NULL};
    TH_OK(vkdl_conv2d_create(ctx, 3, 4, 3, &ci, 1, &layer[CONV]));
    TH_OK(vkdl_conv2d_create(ctx, 2, 4, 7, &ci, 1, &layer[CONV_K7]));
    TH_OK(vkdl_conv2d_create(ctx, 2, 4, 3, &ci, 1, &layer[CONV_2IN]));
    TH_OK(vkdl_conv_transpose2d_create(ctx, 3, 4, 3, &ci, 1, &layer[CONVT]));
    TH_OK(vkdl_batchnorm2d_create(ctx, 3, 0.1f, 1e-5f, &layer[BN]));
    TH_OK(vkdl_layernorm_create(ctx, 5, 1e-5f, &layer[LN]));
    TH_OK(vkdl_embedding_create(ctx, 5, 3, &layer[EMB]));
    TH_OK(vkdl_attention_create(ctx, 8, 2, 1, &layer[ATTN]));
    TH_OK(vkdl_transformer_block_create(ctx, 8, 2, 16, 1, 0.0f, &layer[BLOCK]));
    TH_OK(vkdl_lstm_create(ctx, 3, 4, &layer[LSTM]));
    TH_OK(vkdl_gru_create(ctx, 3, 4, &layer[GRU]));
    TH_OK(vkdl_maxpool2d_create(ctx, &pool, &layer[POOL]));
    const struct {
        int layer, nd;
        const int64_t *shape;
        vkdl_status want;
        const char *name;
    } REFUSE[] = {
        {CONV, 4, x4, VKDL_ERROR_SHAPE_MISMATCH, "conv2d"},
        {CONV_K7, 4, x4, VKDL_ERROR_SHAPE_MISMATCH, "conv2d"},
        {CONV_2IN, 3, x3, VKDL_ERROR_SHAPE_MISMATCH, "conv2d"},
        {CONVT, 4, x4, VKDL_ERROR_SHAPE_MISMATCH, "conv_transpose2d"},
        {BN, 4, x4, VKDL_ERROR_SHAPE_MISMATCH, "batchnorm"},
        {LN, 3, x3, VKDL_ERROR_SHAPE_MISMATCH, "layernorm"},
        {EMB, 2, x2, VKDL_ERROR_DTYPE_MISMATCH, "embedding"},
        {ATTN, 3, x3, VKDL_ERROR_SHAPE_MISMATCH, "attention"},
        {ATTN, 2, x2, VKDL_ERROR_SHAPE_MISMATCH, "attention"},
        {BLOCK, 3, x3, VKDL_ERROR_SHAPE_MISMATCH, "transformer_block"},
        {LSTM, 2, x2, VKDL_ERROR_SHAPE_MISMATCH, "lstm"},
        {LSTM, 3, x3, VKDL_ERROR_SHAPE_MISMATCH, "lstm"},
        {GRU, 3, x3, VKDL_ERROR_SHAPE_MISMATCH, "gru"},
        {POOL, 2, x2, VKDL_ERROR_SHAPE_MISMATCH, "maxpool2d"},
    };
    for (size_t i = 0; i < TH_LEN(REFUSE); i++)
        expect_bad_forward(layer[REFUSE[i].layer], ctx, VKDL_F32, REFUSE[i].nd, REFUSE[i].shape, REFUSE[i].want,
                           REFUSE[i].name);
    for (int i = 0; i < N_LAYERS; i++)
        vkdl_module_destroy(layer[i]);
    /* Inside a container the failing layer still names itself. */
    k[0] = k[1] = NULL;
    if (TH_OK(vkdl_linear_create(ctx, 4, 7, 1, &k[0])) && TH_OK(vkdl_layernorm_create(ctx, 6, 1e-5f, &k[1])) &&
        TH_OK(vkdl_sequential_create(ctx, 2, k, &m)))
        expect_bad_forward(m, ctx, VKDL_F32, 2, x2, VKDL_ERROR_SHAPE_MISMATCH, "layernorm");
    vkdl_module_destroy(m);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    char name[160];
    for (size_t i = 0; i < ARRAY_LEN(FWD); i++) {
        snprintf(name, sizeof name, "modules/forward/%s", FWD[i].name);
        th_run(name, run_forward, (void *)&FWD[i]);
    }
    static const int CPU = 0, GPU = 1, LSTM = 1, GRU = 0;
    th_run("modules/names", run_names, NULL);
    th_run("modules/init/bits", run_init_bits, NULL);
    th_run("modules/init/statistics/cpu", run_init_stats, (void *)&CPU);
    th_run("modules/init/statistics/gpu", run_init_stats, (void *)&GPU);
    th_run("modules/mode/dropout", run_dropout_mode, NULL);
    th_run("modules/mode/batchnorm", run_batchnorm_mode, NULL);
    th_run("modules/mode/block-dropout", run_block_dropout_mode, NULL);
    th_run("modules/stateful/lstm", run_stateful, (void *)&LSTM);
    th_run("modules/stateful/gru", run_stateful, (void *)&GRU);
    th_run("modules/stateful/lstm-gradient", run_stateful_grad, (void *)&LSTM);
    th_run("modules/stateful/gru-gradient", run_stateful_grad, (void *)&GRU);
    th_run("modules/bad-input/cpu", run_bad, (void *)&CPU);
    th_run("modules/bad-input/gpu", run_bad, (void *)&GPU);
    return th_finish();
}
