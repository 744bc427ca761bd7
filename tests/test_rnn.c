/* vkdl_lstm / vkdl_gru and their backward passes, one th_op row per case. Each case runs forward
 * and backward on both backends; on the CPU every gradient (x, h0, c0, every weight and bias) is checked against
 * finite differences of the CPU forward, with the loss covering out, h_n and c_n; then the device
 * results (outputs, workspace, all gradients) are compared with the CPU twin.
 * Tolerances: TH_TOL_GEMM for the device comparison, since every value comes out of matmuls whose
 * dot products run over I, H or T*B terms and then through up to 17 recurrent steps.
 * Gradcheck: step 1e-2, tolerance 1e-3 relative to max(1, |grad|). The forward is f32, so the
 * central difference carries ~1e-5 rounding error plus the O(step^2) truncation error; the worst
 * seen is below 1e-4, and a 1% error in any one gate's gradient fails. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum bias_mode { NO_BIAS, BOTH_BIASES, ONLY_B_HH };

typedef struct rcase {
    bool gru;
    int64_t T, B, I, H;
    bool h0;            /* pass h0 (and c0) */
    enum bias_mode bias;
    bool gradcheck;
} rcase;

enum { X, H0, C0, W_IH, W_HH, B_IH, B_HH };  /* inputs */
enum { OUT, H_N, WS, C_N };                   /* outputs (the GRU has no c_n) */

/* params: the rcase. Absent states and biases are passed as NULL. */
static vkdl_status forward(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    const rcase *c = op->params;
    vkdl_tensor *h0 = c->h0 ? in[H0] : NULL, *c0 = c->h0 ? in[C0] : NULL;
    vkdl_tensor *b_ih = c->bias == BOTH_BIASES ? in[B_IH] : NULL, *b_hh = c->bias != NO_BIAS ? in[B_HH] : NULL;
    if (c->gru)
        return vkdl_gru(in[X], h0, in[W_IH], in[W_HH], b_ih, b_hh, out[OUT], out[H_N], out[WS]);
    return vkdl_lstm(in[X], h0, c0, in[W_IH], in[W_HH], b_ih, b_hh, out[OUT], out[H_N], out[C_N], out[WS]);
}

/* Bias gradients are asked for only for biases that exist (no_grad); dh0 and dc0 always. */
static vkdl_status backward(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out,
                            vkdl_tensor *const *dout, vkdl_tensor *const *din)
{
    const rcase *c = op->params;
    vkdl_tensor *h0 = c->h0 ? in[H0] : NULL, *c0 = c->h0 ? in[C0] : NULL;
    if (c->gru)
        return vkdl_gru_backward(in[X], h0, in[W_IH], in[W_HH], out[OUT], out[WS], dout[OUT], dout[H_N],
                                 din[X], din[H0], din[W_IH], din[W_HH], din[B_IH], din[B_HH]);
    return vkdl_lstm_backward(in[X], h0, c0, in[W_IH], in[W_HH], out[OUT], out[WS], dout[OUT], dout[H_N],
                              dout[C_N], din[X], din[H0], din[C0], din[W_IH], din[W_HH], din[B_IH], din[B_HH]);
}

/* Inputs uniform in [-1, 1), weights and biases in PyTorch's init range; the gradcheck's loss
 * covers out, h_n and c_n (the workspace gets no gradient). dh0 is written also without h0 (the
 * gradient of a zero state), so it is compared but not finite-difference checked there. */
static th_op rnn_op(const rcase *c, const char *name)
{
    int64_t G = c->gru ? 3 : 4, GH = G * c->H;
    float k = 1.0f / sqrtf((float)c->H);
    th_shape bh = {2, {c->B, c->H}}, ws = {3, {0}};
    if (c->gru)
        vkdl_gru_workspace_shape(c->T, c->B, c->H, ws.d);
    else
        vkdl_lstm_workspace_shape(c->T, c->B, c->H, ws.d);
    th_op op = {.name = name, .params = c, .n_in = 7, .n_out = c->gru ? 3 : 4, .forward = forward,
                .backward = backward, .tol = &TH_TOL_GEMM};
    op.in[X] = (th_input){.shape = {3, {c->T, c->B, c->I}}, .lo = -1.0f, .hi = 1.0f};
    op.in[H0] = op.in[C0] = (th_input){.shape = bh, .lo = -1.0f, .hi = 1.0f};
    op.in[W_IH] = (th_input){.shape = {2, {GH, c->I}}, .lo = -k, .hi = k};
    op.in[W_HH] = (th_input){.shape = {2, {GH, c->H}}, .lo = -k, .hi = k};
    op.in[B_IH] = op.in[B_HH] = (th_input){.shape = {1, {GH}}, .lo = -k, .hi = k};
    op.out[OUT].shape = (th_shape){3, {c->T, c->B, c->H}};
    op.out[H_N].shape = op.out[C_N].shape = bh;
    op.out[WS] = (th_output){.shape = ws, .no_grad = true};
    op.no_grad = (c->gru ? 1u << C0 : 0) | (c->bias == BOTH_BIASES ? 0 : 1u << B_IH) |
                 (c->bias != NO_BIAS ? 0 : 1u << B_HH);
    op.no_gradcheck = c->h0 ? 0 : 1u << H0 | 1u << C0;
    if (c->gradcheck)
        op.grad = (th_grad){12, 1e-2, 1e-3};
    return op;
}

static void run(rcase c)
{
    static const char *const bias_names[] = {"", " bias", " b_hh only"};
    char name[160];
    snprintf(name, sizeof name, "%s T %lld B %lld I %lld H %lld%s%s%s", c.gru ? "gru" : "lstm", (long long)c.T,
             (long long)c.B, (long long)c.I, (long long)c.H, c.h0 ? (c.gru ? " h0" : " h0 c0") : "",
             bias_names[c.bias], c.gradcheck ? " gradcheck" : "");
    th_op op = rnn_op(&c, name);
    th_run_op(&op);
}

/* ---------------------------------------------------------------- bad input */

static vkdl_tensor *mk(vkdl_context *ctx, vkdl_dtype dt, int ndim, int64_t d0, int64_t d1, int64_t d2)
{
    int64_t shape[3] = {d0, d1, d2};
    vkdl_tensor *t = NULL;
    TH_OK(vkdl_tensor_create(ctx, dt, ndim, shape, &t));
    return t;
}

static void run_bad(void *arg)
{
    vkdl_context *ctx = arg;
    enum { T = 3, B = 2, I = 5, H = 4 };
    vkdl_tensor *x = mk(ctx, VKDL_F32, 3, T, B, I), *x2 = mk(ctx, VKDL_F32, 2, T * B, I, 0);
    vkdl_tensor *xi = mk(ctx, VKDL_I32, 3, T, B, I);
    vkdl_tensor *h = mk(ctx, VKDL_F32, 2, B, H, 0), *hbad = mk(ctx, VKDL_F32, 2, B + 1, H, 0);
    vkdl_tensor *wi = mk(ctx, VKDL_F32, 2, 4 * H, I, 0), *wh = mk(ctx, VKDL_F32, 2, 4 * H, H, 0);
    vkdl_tensor *wi_odd = mk(ctx, VKDL_F32, 2, 4 * H + 1, I, 0), *wi_i = mk(ctx, VKDL_F32, 2, 4 * H, I + 1, 0);
    vkdl_tensor *wh_bad = mk(ctx, VKDL_F32, 2, 4 * H, H + 1, 0);
    vkdl_tensor *b = mk(ctx, VKDL_F32, 1, 4 * H, 0, 0), *bbad = mk(ctx, VKDL_F32, 1, 3 * H, 0, 0);
    vkdl_tensor *out = mk(ctx, VKDL_F32, 3, T, B, H), *outbad = mk(ctx, VKDL_F32, 3, T, B, H + 1);
    vkdl_tensor *ws = mk(ctx, VKDL_F32, 3, T, B, 5 * H), *wsbad = mk(ctx, VKDL_F32, 3, T, B, 4 * H);
    vkdl_tensor *gwi = mk(ctx, VKDL_F32, 2, 3 * H, I, 0), *gwh = mk(ctx, VKDL_F32, 2, 3 * H, H, 0);
    vkdl_tensor *dwi_bad = mk(ctx, VKDL_F32, 2, 4 * H, I + 2, 0), *dx_bad = mk(ctx, VKDL_F32, 3, T + 1, B, I);

    TH_STATUS(vkdl_lstm(NULL, h, h, wi, wh, b, b, out, h, h, ws), VKDL_ERROR_INVALID_ARGUMENT, "lstm: x is NULL");
    TH_STATUS(vkdl_lstm(x, h, h, NULL, wh, b, b, out, h, h, ws), VKDL_ERROR_INVALID_ARGUMENT, "w_ih is NULL");
    TH_STATUS(vkdl_lstm(x, h, h, wi, wh, b, b, NULL, h, h, ws), VKDL_ERROR_INVALID_ARGUMENT, "out is NULL");
    TH_STATUS(vkdl_lstm(x, h, h, wi, wh, b, b, out, h, h, NULL), VKDL_ERROR_INVALID_ARGUMENT, "workspace is NULL");
    TH_STATUS(vkdl_lstm(xi, h, h, wi, wh, b, b, out, h, h, ws), VKDL_ERROR_DTYPE_MISMATCH, "x is i32");
    TH_STATUS(vkdl_lstm(x2, h, h, wi, wh, b, b, out, h, h, ws), VKDL_ERROR_SHAPE_MISMATCH, "x is 6x5, expected [T, B, I]");
    TH_STATUS(vkdl_lstm(x, h, h, wi_odd, wh, b, b, out, h, h, ws), VKDL_ERROR_SHAPE_MISMATCH,
              "w_ih is 17x5, expected [4 H, 5]");
    TH_STATUS(vkdl_lstm(x, h, h, wi_i, wh, b, b, out, h, h, ws), VKDL_ERROR_SHAPE_MISMATCH, "w_ih is 16x6");
    TH_STATUS(vkdl_lstm(x, h, h, wi, wh_bad, b, b, out, h, h, ws), VKDL_ERROR_SHAPE_MISMATCH,
              "w_hh is 16x5, expected 16x4");
    TH_STATUS(vkdl_lstm(x, hbad, h, wi, wh, b, b, out, h, h, ws), VKDL_ERROR_SHAPE_MISMATCH, "h0 is 3x4, expected 2x4");
    TH_STATUS(vkdl_lstm(x, h, hbad, wi, wh, b, b, out, h, h, ws), VKDL_ERROR_SHAPE_MISMATCH, "c0 is 3x4");
    TH_STATUS(vkdl_lstm(x, h, h, wi, wh, bbad, b, out, h, h, ws), VKDL_ERROR_SHAPE_MISMATCH, "b_ih is 12, expected 16");
    TH_STATUS(vkdl_lstm(x, h, h, wi, wh, b, bbad, out, h, h, ws), VKDL_ERROR_SHAPE_MISMATCH, "b_hh is 12");
    TH_STATUS(vkdl_lstm(x, h, h, wi, wh, b, b, outbad, h, h, ws), VKDL_ERROR_SHAPE_MISMATCH,
              "out is 3x2x5, expected 3x2x4");
    TH_STATUS(vkdl_lstm(x, h, h, wi, wh, b, b, out, hbad, h, ws), VKDL_ERROR_SHAPE_MISMATCH, "h_n is 3x4");
    TH_STATUS(vkdl_lstm(x, h, h, wi, wh, b, b, out, h, hbad, ws), VKDL_ERROR_SHAPE_MISMATCH, "c_n is 3x4");
    TH_STATUS(vkdl_lstm(x, h, h, wi, wh, b, b, out, h, h, wsbad), VKDL_ERROR_SHAPE_MISMATCH,
              "workspace is 3x2x16, expected 3x2x20");

    /* vkdl_lstm_backward(x, h, h, wi, wh, out, workspace, dout, dh_n, NULL, dx, h, h, dw_ih, wh, db_ih, b), each with
     * one argument bad */
    const struct {
        vkdl_tensor *ws, *dout, *dh_n, *dx, *dw_ih, *db_ih;
        vkdl_status want;
        const char *needle;
    } LB[] = {
        {ws, NULL, NULL, x, wi, b, VKDL_ERROR_INVALID_ARGUMENT, "lstm_backward: dout is NULL"},
        {ws, outbad, NULL, x, wi, b, VKDL_ERROR_SHAPE_MISMATCH, "dout is 3x2x5"},
        {ws, out, NULL, dx_bad, wi, b, VKDL_ERROR_SHAPE_MISMATCH, "dx is 4x2x5"},
        {ws, out, NULL, x, dwi_bad, b, VKDL_ERROR_SHAPE_MISMATCH, "dw_ih is 16x7, expected 16x5"},
        {ws, out, hbad, x, wi, b, VKDL_ERROR_SHAPE_MISMATCH, "dh_n is 3x4"},
        {ws, out, NULL, x, wi, bbad, VKDL_ERROR_SHAPE_MISMATCH, "db_ih is 12"},
        {wsbad, out, NULL, x, wi, b, VKDL_ERROR_SHAPE_MISMATCH, "lstm_backward: workspace"},
    };
    for (size_t i = 0; i < TH_LEN(LB); i++)
        if (!TH_STATUS(vkdl_lstm_backward(x, h, h, wi, wh, out, LB[i].ws, LB[i].dout, LB[i].dh_n, NULL, LB[i].dx, h, h,
                                          LB[i].dw_ih, wh, LB[i].db_ih, b),
                       LB[i].want, LB[i].needle))
            th_fail("lstm_backward bad-argument row %zu", i);

    TH_STATUS(vkdl_gru(x, h, wi, wh, NULL, NULL, out, h, ws), VKDL_ERROR_SHAPE_MISMATCH, "gru: w_ih is 16x5, expected [3 H, 5]");
    vkdl_tensor *gws = mk(ctx, VKDL_F32, 3, T, B, 4 * H);
    TH_STATUS(vkdl_gru(x, h, gwi, gwh, b, NULL, out, h, gws), VKDL_ERROR_SHAPE_MISMATCH, "b_ih is 16, expected 12");
    TH_STATUS(vkdl_gru(x, h, gwi, gwh, NULL, NULL, out, h, ws), VKDL_ERROR_SHAPE_MISMATCH,
              "workspace is 3x2x20, expected 3x2x16");
    TH_STATUS(vkdl_gru_backward(x, h, gwi, gwh, out, gws, out, NULL, x, h, gwi, gwh, NULL, b),
              VKDL_ERROR_SHAPE_MISMATCH, "gru_backward: db_hh is 16");
    TH_STATUS(vkdl_gru_backward(x, h, gwi, gwh, out, gws, out, NULL, x, h, wi, gwh, NULL, NULL),
              VKDL_ERROR_SHAPE_MISMATCH, "dw_ih is 16x5, expected 12x5");
    TH_STATUS(vkdl_gru_backward(x, h, gwi, gwh, out, gws, NULL, NULL, x, h, gwi, gwh, NULL, NULL),
              VKDL_ERROR_INVALID_ARGUMENT, "dout is NULL");

    vkdl_context *other = ctx == th_cpu ? th_gpu : th_cpu;
    vkdl_tensor *h_other = mk(other, VKDL_F32, 2, B, H, 0);
    TH_STATUS(vkdl_lstm(x, h_other, h, wi, wh, b, b, out, h, h, ws), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    TH_STATUS(vkdl_gru(x, h, gwi, gwh, NULL, NULL, out, h_other, gws), VKDL_ERROR_CONTEXT_MISMATCH, NULL);

    vkdl_tensor *ts[] = {x, x2, xi, h, hbad, wi, wh, wi_odd, wi_i, wh_bad, b, bbad, out, outbad, ws, wsbad,
                         gwi, gwh, dwi_bad, dx_bad, gws, h_other};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        vkdl_tensor_destroy(ts[i]);
}

/* T = 0: no steps; h_n = h0 and the weight gradients are zero. */
static void empty_known(const th_op *op, const th_op_result *cpu, const th_op_result *gpu)
{
    (void)op, (void)cpu;
    float *h_n = th_download(gpu->out[H_N]), *h0 = th_download(gpu->in[H0]), *dw = th_download(gpu->din[W_HH]);
    for (int i = 0; i < 12; i++)
        TH_TRUE(h_n[i] == h0[i]);
    TH_TRUE(dw[0] == 0.0f);
    free(h_n);
    free(h0);
    free(dw);
}

static void run_empty_sequence(bool gru)
{
    rcase c = {.gru = gru, .T = 0, .B = 3, .I = 2, .H = 4, .h0 = true, .bias = BOTH_BIASES};
    th_op op = rnn_op(&c, gru ? "T = 0 gru" : "T = 0 lstm");
    op.tol = &TH_TOL_EXACT;
    op.check = empty_known;
    th_run_op(&op);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    /* {T, B, I, H, h0, bias, gradcheck}: every T in {1, 3, 17}, B in {1, 3, 8} and I, H in
     * {1, 3, 17, 32} appears, with and without initial states and biases */
    static const rcase shapes[] = {
        {false, 1, 1, 1, 1, false, NO_BIAS, true},
        {false, 1, 3, 3, 1, true, BOTH_BIASES, true},
        {false, 3, 1, 17, 3, true, ONLY_B_HH, true},
        {false, 3, 3, 1, 17, false, BOTH_BIASES, true},
        {false, 3, 8, 3, 3, true, BOTH_BIASES, true},
        {false, 17, 3, 3, 3, true, BOTH_BIASES, true},
        {false, 17, 1, 1, 17, false, NO_BIAS, true},
        {false, 3, 3, 32, 32, true, BOTH_BIASES, true},
        {false, 17, 8, 32, 32, true, BOTH_BIASES, false},
        {false, 17, 8, 17, 17, false, BOTH_BIASES, false},
        {false, 3, 8, 32, 1, true, NO_BIAS, false},
        {false, 1, 8, 1, 32, false, ONLY_B_HH, false},
        {false, 17, 3, 17, 32, true, BOTH_BIASES, false},
        {false, 5, 64, 40, 128, true, BOTH_BIASES, false}, /* large batch and hidden size */
    };
    for (int gru = 0; gru < 2; gru++) {
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            rcase c = shapes[i];
            c.gru = gru;
            run(c);
        }
    }
    run_empty_sequence(false);
    run_empty_sequence(true);
    th_run("bad input [cpu]", run_bad, th_cpu);
    th_run("bad input [gpu]", run_bad, th_gpu);
    return th_finish();
}
