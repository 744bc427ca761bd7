/* LSTM and GRU layers, forward and backward through time, with PyTorch's semantics and weight
 * layout. Everything GEMM-shaped goes through vkdl_matmul and the other public ops, so the CPU
 * backend runs the same code; only the fused per-step gate kernels (shaders/rnn.comp) have their
 * own CPU twin here. Tests: tests/test_rnn.c.
 *
 * Forward: one matmul projects the input of every step (x[T*B, I] w_ih^T) into the workspace;
 * then per step one matmul adds h_prev w_hh^T (LSTM: accumulated in place with beta 1; GRU: into
 * a scratch, since r multiplies its n part) and one gate kernel finishes the step.
 * Backward, per step in reverse: one gate-backward kernel, then one matmul for the gradient
 * flowing into h_prev. The per-step pre-activation gradients are kept for the whole sequence, so
 * dw_ih, dw_hh, the biases and dx are each one or two large matmuls or reductions at the end.
 *
 * Workspace layout (f32, T*B*5H for LSTM, T*B*4H for GRU):
 *   LSTM: [T*B, 4H] gate activations i, f, g, o, then [T*B, H] cell states c;
 *   GRU:  [T*B, 3H] gate activations r, z, n, then [T*B, H] hn = w_hn h_prev + b_hn. */
#include "ops/ops.h"
#include "shaders.h"
#include "rnn.h"

#include <math.h>
#include <string.h>

#define WG 64

typedef struct rnn_dims {
    int64_t T, B, I, H;
    int G;                  /* gates: 4 LSTM, 3 GRU */
} rnn_dims;

/* The gradients the backward may write; each NULL when not wanted. */
typedef struct rnn_grads {
    vkdl_tensor *dx, *dh0, *dw_ih, *dw_hh, *db_ih, *db_hh;
} rnn_grads;

/* A temporary 2-D view [rows, cols] of t starting `off` elements in. It lives on the stack for
 * the duration of one call and borrows t's storage (no reference taken), so making one cannot
 * fail and needs no cleanup; t outlives it. */
static vkdl_tensor view2(const vkdl_tensor *t, int64_t off, int64_t rows, int64_t cols)
{
    vkdl_tensor v = *t;
    v.offset = t->offset + (size_t)off * sizeof(float);
    v.ndim = 2;
    memset(v.shape, 0, sizeof v.shape);
    v.shape[0] = rows;
    v.shape[1] = cols;
    v.numel = rows * cols;
    return v;
}

/* ---------------------------------------------------------------- checks */

static bool shape_is(const vkdl_tensor *t, int ndim, int64_t d0, int64_t d1, int64_t d2)
{
    int64_t d[3] = {d0, d1, d2};
    if (t->ndim != ndim)
        return false;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != d[i])
            return false;
    return true;
}

static vkdl_status expect_shape(const char *op, const char *name, const vkdl_tensor *t, const vkdl_tensor *ref,
                                int ndim, int64_t d0, int64_t d1, int64_t d2)
{
    VKDL_TRY(vkdl_check_same_ctx(op, t, ref));
    VKDL_TRY(vkdl_check_dtype(op, name, t, VKDL_F32));
    if (shape_is(t, ndim, d0, d1, d2))
        return VKDL_OK;
    char s[VKDL_SHAPE_BUF], want[VKDL_SHAPE_BUF];
    if (ndim == 1)
        snprintf(want, sizeof want, "%lld", (long long)d0);
    else if (ndim == 2)
        snprintf(want, sizeof want, "%lldx%lld", (long long)d0, (long long)d1);
    else
        snprintf(want, sizeof want, "%lldx%lldx%lld", (long long)d0, (long long)d1, (long long)d2);
    return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: %s is %s, expected %s", op, name, vkdl_shape_str(t, s, sizeof s),
                     want);
}

/* An optional tensor: NULL passes. */
static vkdl_status expect_opt(const char *op, const char *name, const vkdl_tensor *t, const vkdl_tensor *ref,
                              int ndim, int64_t d0, int64_t d1, int64_t d2)
{
    return t ? expect_shape(op, name, t, ref, ndim, d0, d1, d2) : VKDL_OK;
}

/* x, the weights and h0 (c0 checked by the caller); fills d. */
static vkdl_status check_inputs(const char *op, int G, const vkdl_tensor *x, const vkdl_tensor *h0,
                                const vkdl_tensor *w_ih, const vkdl_tensor *w_hh, rnn_dims *d)
{
    VKDL_TRY(vkdl_check_tensor(op, "x", x));
    VKDL_TRY(vkdl_check_tensor(op, "w_ih", w_ih));
    VKDL_TRY(vkdl_check_tensor(op, "w_hh", w_hh));
    VKDL_TRY(vkdl_check_dtype(op, "x", x, VKDL_F32));
    char sx[VKDL_SHAPE_BUF], sw[VKDL_SHAPE_BUF];
    if (x->ndim != 3)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: x is %s, expected [T, B, I]", op, vkdl_shape_str(x, sx, sizeof sx));
    VKDL_TRY(vkdl_check_same_ctx(op, w_ih, x));
    VKDL_TRY(vkdl_check_dtype(op, "w_ih", w_ih, VKDL_F32));
    if (w_ih->ndim != 2 || w_ih->shape[0] == 0 || w_ih->shape[0] % G != 0 || w_ih->shape[1] != x->shape[2])
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: w_ih is %s, expected [%d H, %lld] for x %s", op,
                         vkdl_shape_str(w_ih, sw, sizeof sw), G, (long long)x->shape[2],
                         vkdl_shape_str(x, sx, sizeof sx));
    *d = (rnn_dims){x->shape[0], x->shape[1], x->shape[2], w_ih->shape[0] / G, G};
    VKDL_TRY(expect_shape(op, "w_hh", w_hh, x, 2, G * d->H, d->H, 0));
    VKDL_TRY(expect_opt(op, "h0", h0, x, 2, d->B, d->H, 0));
    if (d->T * d->B * G * d->H > INT32_MAX || (d->I > 0 && d->T * d->B * d->I > INT32_MAX))
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "%s: x %s with hidden size %lld exceeds 2^31 elements per operand", op,
                         vkdl_shape_str(x, sx, sizeof sx), (long long)d->H);
    return VKDL_OK;
}

static vkdl_status check_workspace(const char *op, const vkdl_tensor *ws, const vkdl_tensor *x, const rnn_dims *d,
                                   int mult)
{
    VKDL_TRY(vkdl_check_tensor(op, "workspace", ws));
    VKDL_TRY(vkdl_check_same_ctx(op, ws, x));
    VKDL_TRY(vkdl_check_dtype(op, "workspace", ws, VKDL_F32));
    if (ws->numel != d->T * d->B * mult * d->H) {
        char s[VKDL_SHAPE_BUF];
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: workspace is %s, expected %lldx%lldx%lld (from %s_workspace_shape)",
                         op, vkdl_shape_str(ws, s, sizeof s), (long long)d->T, (long long)d->B,
                         (long long)(mult * d->H), op);
    }
    return VKDL_OK;
}

/* A required tensor of the given shape. */
static vkdl_status expect_tensor(const char *op, const char *name, const vkdl_tensor *t, const vkdl_tensor *ref,
                                 int ndim, int64_t d0, int64_t d1, int64_t d2)
{
    VKDL_TRY(vkdl_check_tensor(op, name, t));
    return expect_shape(op, name, t, ref, ndim, d0, d1, d2);
}

/* The per-step outputs of the forward, read again by the backward: out [T, B, H] and the workspace. */
static vkdl_status check_sequence(const char *op, const rnn_dims *d, const vkdl_tensor *x, const vkdl_tensor *out,
                                  const vkdl_tensor *workspace)
{
    VKDL_TRY(expect_tensor(op, "out", out, x, 3, d->T, d->B, d->H));
    return check_workspace(op, workspace, x, d, d->G + 1);
}

static vkdl_status check_biases(const char *op, const rnn_dims *d, const vkdl_tensor *x, const vkdl_tensor *b_ih,
                                const vkdl_tensor *b_hh)
{
    VKDL_TRY(expect_opt(op, "b_ih", b_ih, x, 1, d->G * d->H, 0, 0));
    return expect_opt(op, "b_hh", b_hh, x, 1, d->G * d->H, 0, 0);
}

/* The backward's inputs from upstream (dout, dh_n) and the optional gradients it writes. */
static vkdl_status check_grads(const char *op, const rnn_dims *d, const vkdl_tensor *x, const vkdl_tensor *dout,
                               const vkdl_tensor *dh_n, const rnn_grads *g)
{
    int64_t GH = d->G * d->H;
    VKDL_TRY(expect_tensor(op, "dout", dout, x, 3, d->T, d->B, d->H));
    VKDL_TRY(expect_opt(op, "dh_n", dh_n, x, 2, d->B, d->H, 0));
    VKDL_TRY(expect_opt(op, "dx", g->dx, x, 3, d->T, d->B, d->I));
    VKDL_TRY(expect_opt(op, "dh0", g->dh0, x, 2, d->B, d->H, 0));
    VKDL_TRY(expect_opt(op, "dw_ih", g->dw_ih, x, 2, GH, d->I, 0));
    VKDL_TRY(expect_opt(op, "dw_hh", g->dw_hh, x, 2, GH, d->H, 0));
    VKDL_TRY(expect_opt(op, "db_ih", g->db_ih, x, 1, GH, 0, 0));
    return expect_opt(op, "db_hh", g->db_hh, x, 1, GH, 0, 0);
}

/* ---------------------------------------------------------------- CPU twin */

static double sigm(double v) { return 1.0 / (1.0 + exp(-v)); }

#define HOST(t) ((float *)vkdl_tensor_host(t))

/* gates [B, 4H]: pre-activations in, activations out. */
static vkdl_status cpu_lstm_gates(const rnn_dims *d, vkdl_tensor *gates, const vkdl_tensor *c_prev, vkdl_tensor *c,
                                  vkdl_tensor *h)
{
    int64_t H = d->H;
    for (int64_t b = 0; b < d->B; b++) {
        float *g = HOST(gates) + b * 4 * H;
        for (int64_t j = 0; j < H; j++) {
            double gi = sigm(g[j]), gf = sigm(g[H + j]), gg = tanh(g[2 * H + j]), go = sigm(g[3 * H + j]);
            double cn = gf * HOST(c_prev)[b * H + j] + gi * gg;
            g[j] = (float)gi;
            g[H + j] = (float)gf;
            g[2 * H + j] = (float)gg;
            g[3 * H + j] = (float)go;
            HOST(c)[b * H + j] = (float)cn;
            HOST(h)[b * H + j] = (float)(go * tanh(cn));
        }
    }
    return VKDL_OK;
}

static vkdl_status cpu_lstm_gates_backward(const rnn_dims *d, const vkdl_tensor *gates, const vkdl_tensor *c,
                                           const vkdl_tensor *c_prev, const vkdl_tensor *dout, const vkdl_tensor *dh,
                                           vkdl_tensor *dc, vkdl_tensor *dgates)
{
    int64_t H = d->H;
    for (int64_t b = 0; b < d->B; b++) {
        const float *g = HOST(gates) + b * 4 * H;
        float *dg = HOST(dgates) + b * 4 * H;
        for (int64_t j = 0; j < H; j++) {
            int64_t e = b * H + j;
            double gi = g[j], gf = g[H + j], gg = g[2 * H + j], go = g[3 * H + j];
            double tc = tanh(HOST(c)[e]);
            double dht = (double)HOST(dout)[e] + HOST(dh)[e];
            double dct = HOST(dc)[e] + dht * go * (1 - tc * tc);
            dg[j] = (float)(dct * gg * gi * (1 - gi));
            dg[H + j] = (float)(dct * HOST(c_prev)[e] * gf * (1 - gf));
            dg[2 * H + j] = (float)(dct * gi * (1 - gg * gg));
            dg[3 * H + j] = (float)(dht * tc * go * (1 - go));
            HOST(dc)[e] = (float)(dct * gf);
        }
    }
    return VKDL_OK;
}

/* gates [B, 3H]: w_ih x + b_ih in, activations out; hh = w_hh h_prev; b_hh may be NULL. */
static vkdl_status cpu_gru_gates(const rnn_dims *d, vkdl_tensor *gates, const vkdl_tensor *hh, const vkdl_tensor *b_hh,
                                 const vkdl_tensor *h_prev, vkdl_tensor *h, vkdl_tensor *hn)
{
    int64_t H = d->H;
    const float *bias = b_hh ? HOST(b_hh) : NULL;
    for (int64_t b = 0; b < d->B; b++) {
        float *g = HOST(gates) + b * 3 * H;
        const float *p = HOST(hh) + b * 3 * H;
        for (int64_t j = 0; j < H; j++) {
            int64_t e = b * H + j;
            double r = sigm((double)g[j] + p[j] + (bias ? bias[j] : 0));
            double z = sigm((double)g[H + j] + p[H + j] + (bias ? bias[H + j] : 0));
            double hnv = (double)p[2 * H + j] + (bias ? bias[2 * H + j] : 0);
            double n = tanh(g[2 * H + j] + r * hnv);
            g[j] = (float)r;
            g[H + j] = (float)z;
            g[2 * H + j] = (float)n;
            HOST(hn)[e] = (float)hnv;
            HOST(h)[e] = (float)((1 - z) * n + z * HOST(h_prev)[e]);
        }
    }
    return VKDL_OK;
}

static vkdl_status cpu_gru_gates_backward(const rnn_dims *d, const vkdl_tensor *gates, const vkdl_tensor *hn,
                                          const vkdl_tensor *h_prev, const vkdl_tensor *dout, vkdl_tensor *dh,
                                          vkdl_tensor *dxg, vkdl_tensor *dhg)
{
    int64_t H = d->H;
    for (int64_t b = 0; b < d->B; b++) {
        const float *g = HOST(gates) + b * 3 * H;
        float *px = HOST(dxg) + b * 3 * H, *ph = HOST(dhg) + b * 3 * H;
        for (int64_t j = 0; j < H; j++) {
            int64_t e = b * H + j;
            double r = g[j], z = g[H + j], n = g[2 * H + j];
            double dht = (double)HOST(dout)[e] + HOST(dh)[e];
            double dpn = dht * (1 - z) * (1 - n * n);
            double dpz = dht * (HOST(h_prev)[e] - n) * z * (1 - z);
            double dpr = dpn * HOST(hn)[e] * r * (1 - r);
            px[j] = ph[j] = (float)dpr;
            px[H + j] = ph[H + j] = (float)dpz;
            px[2 * H + j] = (float)dpn;
            ph[2 * H + j] = (float)(dpn * r);
            HOST(dh)[e] = (float)(dht * z);
        }
    }
    return VKDL_OK;
}

/* ---------------------------------------------------------------- GPU launcher */

VKDL_PUSH_STRUCT(rnn_push, RNN_PUSH, 7);

#define GATE_KERNEL(var, n, ...)                                                                    \
    {                                                                                               \
        VKDL_SPIRV(var), .n_bindings = n, .access = {__VA_ARGS__},                                  \
        .push_size = sizeof(struct rnn_push), .n_spec = RNN_SPEC_COUNT,                             \
    }
static const vkdl_kernel K_LSTM = GATE_KERNEL(rnn_lstm, 4, VKDL_RW, VKDL_READ, VKDL_WRITE, VKDL_WRITE);
static const vkdl_kernel K_LSTM_BWD = GATE_KERNEL(rnn_lstm_bwd, 7, VKDL_READ, VKDL_READ, VKDL_READ, VKDL_READ,
                                                 VKDL_READ, VKDL_RW, VKDL_WRITE);
static const vkdl_kernel K_GRU = GATE_KERNEL(rnn_gru, 6, VKDL_RW, VKDL_READ, VKDL_READ, VKDL_READ, VKDL_WRITE,
                                             VKDL_WRITE);
static const vkdl_kernel K_GRU_BWD = GATE_KERNEL(rnn_gru_bwd, 7, VKDL_READ, VKDL_READ, VKDL_READ, VKDL_READ, VKDL_RW,
                                                 VKDL_WRITE, VKDL_WRITE);

static vkdl_status gate_dispatch(const vkdl_kernel *k, bool has_bias, const rnn_dims *d, const vkdl_tensor *t0,
                                 const vkdl_tensor *t1, const vkdl_tensor *t2, const vkdl_tensor *t3,
                                 const vkdl_tensor *t4, const vkdl_tensor *t5, const vkdl_tensor *t6)
{
    struct rnn_push pc = {(uint32_t)(d->B * d->H), (uint32_t)d->H};
    uint32_t spec[RNN_SPEC_COUNT] = {[RNN_SPEC_WG] = WG, [RNN_SPEC_HAS_BIAS] = has_bias};
    vkdl_dispatch_info info = {.kernel = k, .spec = spec, .tensors = {t0, t1, t2, t3, t4, t5, t6}, .push = &pc};
    vkdl_grid_1d(t0->ctx, ((uint64_t)pc.n + WG - 1) / WG, info.groups);
    return vkdl_dispatch(t0->ctx, &info);
}

/* ---------------------------------------------------------------- entry points */

/* The step kernels on either backend; arguments as their CPU twins. */
static vkdl_status lstm_gates(const rnn_dims *d, vkdl_tensor *gates, const vkdl_tensor *c_prev, vkdl_tensor *c,
                              vkdl_tensor *h)
{
    if (gates->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_lstm_gates(d, gates, c_prev, c, h);
    return gate_dispatch(&K_LSTM, false, d, gates, c_prev, c, h, NULL, NULL, NULL);
}

static vkdl_status lstm_gates_backward(const rnn_dims *d, const vkdl_tensor *gates, const vkdl_tensor *c,
                                       const vkdl_tensor *c_prev, const vkdl_tensor *dout, const vkdl_tensor *dh,
                                       vkdl_tensor *dc, vkdl_tensor *dgates)
{
    if (gates->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_lstm_gates_backward(d, gates, c, c_prev, dout, dh, dc, dgates);
    return gate_dispatch(&K_LSTM_BWD, false, d, gates, c, c_prev, dout, dh, dc, dgates);
}

static vkdl_status gru_gates(const rnn_dims *d, vkdl_tensor *gates, const vkdl_tensor *hh, const vkdl_tensor *b_hh,
                             const vkdl_tensor *h_prev, vkdl_tensor *h, vkdl_tensor *hn)
{
    if (gates->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_gru_gates(d, gates, hh, b_hh, h_prev, h, hn);
    /* the kernel ignores its bias binding without HAS_BIAS; hh stands in */
    return gate_dispatch(&K_GRU, b_hh != NULL, d, gates, hh, b_hh ? b_hh : hh, h_prev, h, hn, NULL);
}

static vkdl_status gru_gates_backward(const rnn_dims *d, const vkdl_tensor *gates, const vkdl_tensor *hn,
                                      const vkdl_tensor *h_prev, const vkdl_tensor *dout, vkdl_tensor *dh,
                                      vkdl_tensor *dxg, vkdl_tensor *dhg)
{
    if (gates->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_gru_gates_backward(d, gates, hn, h_prev, dout, dh, dxg, dhg);
    return gate_dispatch(&K_GRU_BWD, false, d, gates, hn, h_prev, dout, dh, dxg, dhg);
}

static const vkdl_matmul_info MM_NT = {.trans_b = 1, .alpha = 1};          /* a b^T */
static const vkdl_matmul_info MM_NT_ACC = {.trans_b = 1, .alpha = 1, .beta = 1};
static const vkdl_matmul_info MM_NN = {.alpha = 1};                       /* a b */
static const vkdl_matmul_info MM_NN_ACC = {.alpha = 1, .beta = 1};
static const vkdl_matmul_info MM_TN = {.trans_a = 1, .alpha = 1};         /* a^T b */
static const vkdl_matmul_info MM_TN_ACC = {.trans_a = 1, .alpha = 1, .beta = 1};

#define TRY_GOTO(expr)          \
    do {                        \
        s = (expr);             \
        if (s != VKDL_OK)       \
            goto done;          \
    } while (0)

/* A zero [B, H] tensor standing in for a NULL h0 or c0. */
static vkdl_status make_zeros(vkdl_context *ctx, const rnn_dims *d, vkdl_tensor **out)
{
    int64_t shape[2] = {d->B, d->H};
    VKDL_TRY(vkdl_tensor_create(ctx, VKDL_F32, 2, shape, out));
    vkdl_status s = vkdl_tensor_fill(*out, 0.0);
    if (s != VKDL_OK) {
        vkdl_tensor_destroy(*out);
        *out = NULL;
    }
    return s;
}

static vkdl_status make_scratch(vkdl_context *ctx, int64_t rows, int64_t cols, vkdl_tensor **out)
{
    int64_t shape[2] = {rows, cols};
    return vkdl_tensor_create(ctx, VKDL_F32, 2, shape, out);
}

/* dst = src, or zeros when src is NULL. */
static vkdl_status copy_or_zero(const vkdl_tensor *src, vkdl_tensor *dst)
{
    return src ? vkdl_copy(src, dst) : vkdl_tensor_fill(dst, 0.0);
}

/* The gradients that are sums over the sequence, from the pre-activation gradients of every
 * step: dxg [T*B, G H] on the input side and dhg on the hidden side (the same tensor for LSTM).
 * dw_ih = dxg^T x, dw_hh = dhg^T [h0; out[0..T-2]], db_ih / db_hh = column sums, dx = dxg w_ih. */
static vkdl_status sequence_grads(const rnn_dims *d, const vkdl_tensor *x, const vkdl_tensor *h0,
                                  const vkdl_tensor *w_ih, const vkdl_tensor *out, const vkdl_tensor *dxg,
                                  const vkdl_tensor *dhg, const rnn_grads *grads)
{
    vkdl_tensor *dx = grads->dx, *dw_ih = grads->dw_ih, *dw_hh = grads->dw_hh;
    vkdl_tensor *db_ih = grads->db_ih, *db_hh = grads->db_hh;
    int64_t T = d->T, B = d->B, GH = d->G * d->H, H = d->H;
    vkdl_tensor x2 = view2(x, 0, T * B, d->I);
    if (dw_ih) {
        vkdl_tensor w = view2(dw_ih, 0, GH, d->I);
        VKDL_TRY(vkdl_matmul(dxg, &x2, &w, &MM_TN));
    }
    if (dw_hh) {
        vkdl_tensor w = view2(dw_hh, 0, GH, H);
        bool any = false;
        if (T > 1) {
            vkdl_tensor g = view2(dhg, B * GH, (T - 1) * B, GH), h = view2(out, 0, (T - 1) * B, H);
            VKDL_TRY(vkdl_matmul(&g, &h, &w, &MM_TN));
            any = true;
        }
        if (h0 && T > 0) {
            vkdl_tensor g = view2(dhg, 0, B, GH);
            VKDL_TRY(vkdl_matmul(&g, h0, &w, any ? &MM_TN_ACC : &MM_TN));
            any = true;
        }
        if (!any)
            VKDL_TRY(vkdl_tensor_fill(dw_hh, 0.0));
    }
    if (db_ih) {
        vkdl_tensor b = view2(db_ih, 0, 1, GH);
        VKDL_TRY(vkdl_reduce(VKDL_SUM, dxg, 0, &b));
    }
    if (db_hh) {
        vkdl_tensor b = view2(db_hh, 0, 1, GH);
        VKDL_TRY(vkdl_reduce(VKDL_SUM, dhg, 0, &b));
    }
    if (dx) {
        vkdl_tensor dx2 = view2(dx, 0, T * B, d->I), w = view2(w_ih, 0, GH, d->I);
        VKDL_TRY(vkdl_matmul(dxg, &w, &dx2, &MM_NN));
    }
    return VKDL_OK;
}

void vkdl_lstm_workspace_shape(int64_t T, int64_t B, int64_t H, int64_t shape[3])
{
    shape[0] = T;
    shape[1] = B;
    shape[2] = 5 * H;
}

void vkdl_gru_workspace_shape(int64_t T, int64_t B, int64_t H, int64_t shape[3])
{
    shape[0] = T;
    shape[1] = B;
    shape[2] = 4 * H;
}

vkdl_status vkdl_lstm(const vkdl_tensor *x, const vkdl_tensor *h0, const vkdl_tensor *c0, const vkdl_tensor *w_ih,
                      const vkdl_tensor *w_hh, const vkdl_tensor *b_ih, const vkdl_tensor *b_hh, vkdl_tensor *out,
                      vkdl_tensor *h_n, vkdl_tensor *c_n, vkdl_tensor *workspace)
{
    const char *op = "lstm";
    rnn_dims d;
    VKDL_TRY(check_inputs(op, 4, x, h0, w_ih, w_hh, &d));
    int64_t T = d.T, B = d.B, H = d.H, G4 = 4 * d.H;
    VKDL_TRY(expect_opt(op, "c0", c0, x, 2, B, H, 0));
    VKDL_TRY(check_biases(op, &d, x, b_ih, b_hh));
    VKDL_TRY(check_sequence(op, &d, x, out, workspace));
    VKDL_TRY(expect_opt(op, "h_n", h_n, x, 2, B, H, 0));
    VKDL_TRY(expect_opt(op, "c_n", c_n, x, 2, B, H, 0));

    vkdl_status s = VKDL_OK;
    vkdl_tensor *zeros = NULL;
    if (!c0 && T > 0 && B > 0)
        TRY_GOTO(make_zeros(x->ctx, &d, &zeros));
    vkdl_tensor gates = view2(workspace, 0, T * B, G4), x2 = view2(x, 0, T * B, d.I);
    TRY_GOTO(vkdl_matmul(&x2, w_ih, &gates, &MM_NT));
    if (b_ih)
        TRY_GOTO(vkdl_binary(VKDL_ADD, &gates, b_ih, &gates));
    if (b_hh)
        TRY_GOTO(vkdl_binary(VKDL_ADD, &gates, b_hh, &gates));
    for (int64_t t = 0; t < T && B > 0; t++) {
        vkdl_tensor g = view2(workspace, t * B * G4, B, G4);
        vkdl_tensor c = view2(workspace, T * B * G4 + t * B * H, B, H);
        vkdl_tensor c_prev = t ? view2(workspace, T * B * G4 + (t - 1) * B * H, B, H) : *(c0 ? c0 : zeros);
        vkdl_tensor h = view2(out, t * B * H, B, H);
        if (t > 0) {
            vkdl_tensor h_prev = view2(out, (t - 1) * B * H, B, H);
            TRY_GOTO(vkdl_matmul(&h_prev, w_hh, &g, &MM_NT_ACC));
        } else if (h0) { /* a zero h0 adds nothing */
            TRY_GOTO(vkdl_matmul(h0, w_hh, &g, &MM_NT_ACC));
        }
        TRY_GOTO(lstm_gates(&d, &g, &c_prev, &c, &h));
    }
    if (T == 0) {
        if (h_n)
            TRY_GOTO(copy_or_zero(h0, h_n));
        if (c_n)
            TRY_GOTO(copy_or_zero(c0, c_n));
    } else {
        if (h_n) {
            vkdl_tensor h = view2(out, (T - 1) * B * H, B, H);
            TRY_GOTO(vkdl_copy(&h, h_n));
        }
        if (c_n) {
            vkdl_tensor c = view2(workspace, T * B * G4 + (T - 1) * B * H, B, H);
            TRY_GOTO(vkdl_copy(&c, c_n));
        }
    }
done:
    vkdl_tensor_destroy(zeros);
    return s;
}

vkdl_status vkdl_lstm_backward(const vkdl_tensor *x, const vkdl_tensor *h0, const vkdl_tensor *c0,
                               const vkdl_tensor *w_ih, const vkdl_tensor *w_hh, const vkdl_tensor *out,
                               const vkdl_tensor *workspace, const vkdl_tensor *dout, const vkdl_tensor *dh_n,
                               const vkdl_tensor *dc_n, vkdl_tensor *dx, vkdl_tensor *dh0, vkdl_tensor *dc0,
                               vkdl_tensor *dw_ih, vkdl_tensor *dw_hh, vkdl_tensor *db_ih, vkdl_tensor *db_hh)
{
    const char *op = "lstm_backward";
    rnn_dims d;
    VKDL_TRY(check_inputs(op, 4, x, h0, w_ih, w_hh, &d));
    int64_t T = d.T, B = d.B, H = d.H, G4 = 4 * d.H;
    rnn_grads grads = {dx, dh0, dw_ih, dw_hh, db_ih, db_hh};
    VKDL_TRY(expect_opt(op, "c0", c0, x, 2, B, H, 0));
    VKDL_TRY(check_sequence(op, &d, x, out, workspace));
    VKDL_TRY(check_grads(op, &d, x, dout, dh_n, &grads));
    VKDL_TRY(expect_opt(op, "dc_n", dc_n, x, 2, B, H, 0));
    VKDL_TRY(expect_opt(op, "dc0", dc0, x, 2, B, H, 0));

    vkdl_context *ctx = x->ctx;
    vkdl_status s = VKDL_OK;
    vkdl_tensor *zeros = NULL, *dg = NULL, *dh = NULL, *dc = NULL;
    TRY_GOTO(make_scratch(ctx, T * B, G4, &dg));
    TRY_GOTO(make_scratch(ctx, B, H, &dh));
    TRY_GOTO(make_scratch(ctx, B, H, &dc));
    TRY_GOTO(copy_or_zero(dh_n, dh));
    TRY_GOTO(copy_or_zero(dc_n, dc));
    if (!c0 && T > 0 && B > 0)
        TRY_GOTO(make_zeros(ctx, &d, &zeros));
    for (int64_t t = T - 1; t >= 0 && B > 0; t--) {
        vkdl_tensor g = view2(workspace, t * B * G4, B, G4);
        vkdl_tensor c = view2(workspace, T * B * G4 + t * B * H, B, H);
        vkdl_tensor c_prev = t ? view2(workspace, T * B * G4 + (t - 1) * B * H, B, H) : *(c0 ? c0 : zeros);
        vkdl_tensor dout_t = view2(dout, t * B * H, B, H);
        vkdl_tensor dg_t = view2(dg, t * B * G4, B, G4);
        TRY_GOTO(lstm_gates_backward(&d, &g, &c, &c_prev, &dout_t, dh, dc, &dg_t));
        if (t > 0 || dh0)
            TRY_GOTO(vkdl_matmul(&dg_t, w_hh, dh, &MM_NN));
    }
    if (dh0)
        TRY_GOTO(vkdl_copy(dh, dh0));
    if (dc0)
        TRY_GOTO(vkdl_copy(dc, dc0));
    TRY_GOTO(sequence_grads(&d, x, h0, w_ih, out, dg, dg, &grads));
done:
    vkdl_tensor_destroy(zeros);
    vkdl_tensor_destroy(dg);
    vkdl_tensor_destroy(dh);
    vkdl_tensor_destroy(dc);
    return s;
}

vkdl_status vkdl_gru(const vkdl_tensor *x, const vkdl_tensor *h0, const vkdl_tensor *w_ih, const vkdl_tensor *w_hh,
                     const vkdl_tensor *b_ih, const vkdl_tensor *b_hh, vkdl_tensor *out, vkdl_tensor *h_n,
                     vkdl_tensor *workspace)
{
    const char *op = "gru";
    rnn_dims d;
    VKDL_TRY(check_inputs(op, 3, x, h0, w_ih, w_hh, &d));
    int64_t T = d.T, B = d.B, H = d.H, G3 = 3 * d.H;
    VKDL_TRY(check_biases(op, &d, x, b_ih, b_hh));
    VKDL_TRY(check_sequence(op, &d, x, out, workspace));
    VKDL_TRY(expect_opt(op, "h_n", h_n, x, 2, B, H, 0));

    vkdl_status s = VKDL_OK;
    vkdl_tensor *zeros = NULL, *hh = NULL;
    if (T > 0 && B > 0) {
        TRY_GOTO(make_scratch(x->ctx, B, G3, &hh));
        if (!h0)
            TRY_GOTO(make_zeros(x->ctx, &d, &zeros));
    }
    vkdl_tensor gates = view2(workspace, 0, T * B, G3), x2 = view2(x, 0, T * B, d.I);
    TRY_GOTO(vkdl_matmul(&x2, w_ih, &gates, &MM_NT));
    if (b_ih)
        TRY_GOTO(vkdl_binary(VKDL_ADD, &gates, b_ih, &gates));
    for (int64_t t = 0; t < T && B > 0; t++) {
        vkdl_tensor g = view2(workspace, t * B * G3, B, G3);
        vkdl_tensor hn = view2(workspace, T * B * G3 + t * B * H, B, H);
        vkdl_tensor h = view2(out, t * B * H, B, H);
        vkdl_tensor h_prev = t ? view2(out, (t - 1) * B * H, B, H) : *(h0 ? h0 : zeros);
        if (t > 0 || h0)
            TRY_GOTO(vkdl_matmul(&h_prev, w_hh, hh, &MM_NT));
        else /* a zero h_prev: skip the matmul */
            TRY_GOTO(vkdl_tensor_fill(hh, 0.0));
        TRY_GOTO(gru_gates(&d, &g, hh, b_hh, &h_prev, &h, &hn));
    }
    if (h_n) {
        if (T == 0) {
            TRY_GOTO(copy_or_zero(h0, h_n));
        } else {
            vkdl_tensor h = view2(out, (T - 1) * B * H, B, H);
            TRY_GOTO(vkdl_copy(&h, h_n));
        }
    }
done:
    vkdl_tensor_destroy(zeros);
    vkdl_tensor_destroy(hh);
    return s;
}

vkdl_status vkdl_gru_backward(const vkdl_tensor *x, const vkdl_tensor *h0, const vkdl_tensor *w_ih,
                              const vkdl_tensor *w_hh, const vkdl_tensor *out,
                              const vkdl_tensor *workspace, const vkdl_tensor *dout, const vkdl_tensor *dh_n,
                              vkdl_tensor *dx, vkdl_tensor *dh0, vkdl_tensor *dw_ih, vkdl_tensor *dw_hh,
                              vkdl_tensor *db_ih, vkdl_tensor *db_hh)
{
    const char *op = "gru_backward";
    rnn_dims d;
    VKDL_TRY(check_inputs(op, 3, x, h0, w_ih, w_hh, &d));
    int64_t T = d.T, B = d.B, H = d.H, G3 = 3 * d.H;
    rnn_grads grads = {dx, dh0, dw_ih, dw_hh, db_ih, db_hh};
    VKDL_TRY(check_sequence(op, &d, x, out, workspace));
    VKDL_TRY(check_grads(op, &d, x, dout, dh_n, &grads));

    vkdl_context *ctx = x->ctx;
    vkdl_status s = VKDL_OK;
    vkdl_tensor *zeros = NULL, *dxg = NULL, *dhg = NULL, *dh = NULL;
    TRY_GOTO(make_scratch(ctx, T * B, G3, &dxg));
    TRY_GOTO(make_scratch(ctx, T * B, G3, &dhg));
    TRY_GOTO(make_scratch(ctx, B, H, &dh));
    TRY_GOTO(copy_or_zero(dh_n, dh));
    if (!h0 && T > 0 && B > 0)
        TRY_GOTO(make_zeros(ctx, &d, &zeros));
    for (int64_t t = T - 1; t >= 0 && B > 0; t--) {
        vkdl_tensor g = view2(workspace, t * B * G3, B, G3);
        vkdl_tensor hn = view2(workspace, T * B * G3 + t * B * H, B, H);
        vkdl_tensor h_prev = t ? view2(out, (t - 1) * B * H, B, H) : *(h0 ? h0 : zeros);
        vkdl_tensor dout_t = view2(dout, t * B * H, B, H);
        vkdl_tensor dxg_t = view2(dxg, t * B * G3, B, G3), dhg_t = view2(dhg, t * B * G3, B, G3);
        /* dh becomes dh z, the direct path to h_prev; the matmul adds the path through the gates */
        TRY_GOTO(gru_gates_backward(&d, &g, &hn, &h_prev, &dout_t, dh, &dxg_t, &dhg_t));
        if (t > 0 || dh0)
            TRY_GOTO(vkdl_matmul(&dhg_t, w_hh, dh, &MM_NN_ACC));
    }
    if (dh0)
        TRY_GOTO(vkdl_copy(dh, dh0));
    TRY_GOTO(sequence_grads(&d, x, h0, w_ih, out, dxg, dhg, &grads));
done:
    vkdl_tensor_destroy(zeros);
    vkdl_tensor_destroy(dxg);
    vkdl_tensor_destroy(dhg);
    vkdl_tensor_destroy(dh);
    return s;
}
