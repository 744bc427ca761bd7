/* vkdl_lstm / vkdl_gru and their backward passes. Each case runs forward and backward on both
 * backends; on the CPU every gradient (x, h0, c0, every weight and bias) is checked against
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
#include <string.h>

enum bias_mode { NO_BIAS, BOTH_BIASES, ONLY_B_HH };

typedef struct rcase {
    bool gru;
    int64_t T, B, I, H;
    bool h0;            /* pass h0 (and c0) */
    enum bias_mode bias;
    bool gradcheck;
} rcase;

/* Every tensor of one case, on both backends. y holds out, h_n and c_n back to back (so one
 * gradcheck loss covers all three) and dy their upstream gradients; the named ones are views. */
typedef struct rnn_set {
    th_pair x, h0, c0, w_ih, w_hh, b_ih, b_hh, ws;
    th_pair y, out, h_n, c_n;
    th_pair dy, dout, dh_n, dc_n;
    th_pair dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh;
} rnn_set;

static th_pair pair_view(const th_pair *base, int64_t start, int64_t end, int ndim, const int64_t *shape)
{
    th_pair v = {0};
    vkdl_tensor *tmp;
    vkdl_tensor *src[2] = {base->cpu, base->gpu}, **dst[2] = {&v.cpu, &v.gpu};
    for (int k = 0; k < 2; k++) {
        TH_OK(vkdl_tensor_slice(src[k], start, end, &tmp));
        TH_OK(vkdl_tensor_reshape(tmp, ndim, shape, dst[k]));
        vkdl_tensor_destroy(tmp);
    }
    return v;
}

/* Three views [T, B, H], [B, H], [B, H] of a flat tensor of T*B*H + 2*B*H elements. */
static void split3(const rcase *c, const th_pair *flat, th_pair *a, th_pair *b, th_pair *d)
{
    int64_t tbh = c->T * c->B * c->H, bh = c->B * c->H;
    int64_t s3[3] = {c->T, c->B, c->H}, s2[2] = {c->B, c->H};
    *a = pair_view(flat, 0, tbh, 3, s3);
    *b = pair_view(flat, tbh, tbh + bh, 2, s2);
    *d = pair_view(flat, tbh + bh, tbh + 2 * bh, 2, s2);
}

static void set_make(const rcase *c, rnn_set *s)
{
    memset(s, 0, sizeof *s);
    int64_t G = c->gru ? 3 : 4, GH = G * c->H;
    int64_t sx[3] = {c->T, c->B, c->I}, sbh[2] = {c->B, c->H}, swi[2] = {GH, c->I}, swh[2] = {GH, c->H}, sb[1] = {GH};
    float k = 1.0f / sqrtf((float)c->H); /* PyTorch's init range */
    s->x = th_rand(VKDL_F32, 3, sx, -1.0f, 1.0f);
    if (c->h0) {
        s->h0 = th_rand(VKDL_F32, 2, sbh, -1.0f, 1.0f);
        if (!c->gru)
            s->c0 = th_rand(VKDL_F32, 2, sbh, -1.0f, 1.0f);
    }
    s->w_ih = th_rand(VKDL_F32, 2, swi, -k, k);
    s->w_hh = th_rand(VKDL_F32, 2, swh, -k, k);
    if (c->bias == BOTH_BIASES)
        s->b_ih = th_rand(VKDL_F32, 1, sb, -k, k);
    if (c->bias != NO_BIAS)
        s->b_hh = th_rand(VKDL_F32, 1, sb, -k, k);
    int64_t sws[3];
    if (c->gru)
        vkdl_gru_workspace_shape(c->T, c->B, c->H, sws);
    else
        vkdl_lstm_workspace_shape(c->T, c->B, c->H, sws);
    s->ws = th_empty(VKDL_F32, 3, sws);
    int64_t sy[1] = {c->T * c->B * c->H + 2 * c->B * c->H};
    s->y = th_empty(VKDL_F32, 1, sy);
    s->dy = th_rand(VKDL_F32, 1, sy, -1.0f, 1.0f);
    split3(c, &s->y, &s->out, &s->h_n, &s->c_n);
    split3(c, &s->dy, &s->dout, &s->dh_n, &s->dc_n);
    s->dx = th_empty(VKDL_F32, 3, sx);
    s->dh0 = th_empty(VKDL_F32, 2, sbh);
    if (!c->gru)
        s->dc0 = th_empty(VKDL_F32, 2, sbh);
    s->dw_ih = th_empty(VKDL_F32, 2, swi);
    s->dw_hh = th_empty(VKDL_F32, 2, swh);
    s->db_ih = th_empty(VKDL_F32, 1, sb);
    s->db_hh = th_empty(VKDL_F32, 1, sb);
}

static void set_free(rnn_set *s)
{
    th_pair *all[] = {&s->x, &s->h0, &s->c0, &s->w_ih, &s->w_hh, &s->b_ih, &s->b_hh, &s->ws,
                      &s->out, &s->h_n, &s->c_n, &s->y, &s->dout, &s->dh_n, &s->dc_n, &s->dy,
                      &s->dx, &s->dh0, &s->dc0, &s->dw_ih, &s->dw_hh, &s->db_ih, &s->db_hh};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        th_free(all[i]);
}

/* Backend 0 is the CPU, 1 the device. */
static vkdl_tensor *on(const th_pair *p, int backend) { return backend ? p->gpu : p->cpu; }

static vkdl_status forward(const rcase *c, const rnn_set *s, int k)
{
    if (c->gru)
        return vkdl_gru(on(&s->x, k), on(&s->h0, k), on(&s->w_ih, k), on(&s->w_hh, k), on(&s->b_ih, k),
                        on(&s->b_hh, k), on(&s->out, k), on(&s->h_n, k), on(&s->ws, k));
    return vkdl_lstm(on(&s->x, k), on(&s->h0, k), on(&s->c0, k), on(&s->w_ih, k), on(&s->w_hh, k), on(&s->b_ih, k),
                     on(&s->b_hh, k), on(&s->out, k), on(&s->h_n, k), on(&s->c_n, k), on(&s->ws, k));
}

/* The GRU has no c_n, so its part of y keeps a constant (zero) value and gradient. */
static vkdl_status backward(const rcase *c, const rnn_set *s, int k)
{
    /* bias gradients are requested only for biases that exist */
    vkdl_tensor *db_ih = c->bias == BOTH_BIASES ? on(&s->db_ih, k) : NULL;
    vkdl_tensor *db_hh = c->bias != NO_BIAS ? on(&s->db_hh, k) : NULL;
    if (c->gru)
        return vkdl_gru_backward(on(&s->x, k), on(&s->h0, k), on(&s->w_ih, k), on(&s->w_hh, k), on(&s->b_hh, k),
                                 on(&s->out, k), on(&s->ws, k), on(&s->dout, k), on(&s->dh_n, k), on(&s->dx, k),
                                 on(&s->dh0, k), on(&s->dw_ih, k), on(&s->dw_hh, k), db_ih, db_hh);
    return vkdl_lstm_backward(on(&s->x, k), on(&s->h0, k), on(&s->c0, k), on(&s->w_ih, k), on(&s->w_hh, k),
                              on(&s->out, k), on(&s->ws, k), on(&s->dout, k), on(&s->dh_n, k), on(&s->dc_n, k),
                              on(&s->dx, k), on(&s->dh0, k), on(&s->dc0, k), on(&s->dw_ih, k), on(&s->dw_hh, k),
                              db_ih, db_hh);
}

typedef struct fwd_arg {
    const rcase *c;
    const rnn_set *s;
} fwd_arg;

static vkdl_status fwd_cpu(void *arg, vkdl_tensor *out)
{
    const fwd_arg *a = arg;
    (void)out; /* the views of y that the forward writes */
    return forward(a->c, a->s, 0);
}

static void run_case(void *arg)
{
    const rcase *c = arg;
    rnn_set s;
    set_make(c, &s);
    if (c->gru) { /* y's c_n part: a fixed value the forward never writes */
        TH_OK(vkdl_tensor_fill(s.c_n.cpu, 0));
        TH_OK(vkdl_tensor_fill(s.c_n.gpu, 0));
    }
    for (int k = 0; k < 2; k++) {
        TH_OK(forward(c, &s, k));
        TH_OK(backward(c, &s, k));
    }
    if (c->gradcheck) {
        fwd_arg fa = {c, &s};
        vkdl_tensor *inputs[] = {s.x.cpu, s.h0.cpu, s.c0.cpu, s.w_ih.cpu, s.w_hh.cpu, s.b_ih.cpu, s.b_hh.cpu};
        vkdl_tensor *grads[] = {s.dx.cpu,
                                c->h0 ? s.dh0.cpu : NULL,
                                c->h0 && !c->gru ? s.dc0.cpu : NULL,
                                s.dw_ih.cpu,
                                s.dw_hh.cpu,
                                c->bias == BOTH_BIASES ? s.db_ih.cpu : NULL,
                                c->bias != NO_BIAS ? s.db_hh.cpu : NULL};
        th_gradcheck(fwd_cpu, &fa, s.y.cpu, s.dy.cpu, 7, inputs, grads, 12, 1e-2, 1e-3);
    }
    th_pair *cmp[] = {&s.y, &s.ws, &s.dx, &s.dw_ih, &s.dw_hh};
    for (size_t i = 0; i < sizeof cmp / sizeof cmp[0]; i++)
        th_compare(cmp[i], TH_TOL_GEMM);
    th_compare(&s.dh0, TH_TOL_GEMM); /* written also without h0: the gradient of a zero state */
    if (!c->gru)
        th_compare(&s.dc0, TH_TOL_GEMM);
    if (c->bias == BOTH_BIASES)
        th_compare(&s.db_ih, TH_TOL_GEMM);
    if (c->bias != NO_BIAS)
        th_compare(&s.db_hh, TH_TOL_GEMM);
    set_free(&s);
}

static void run(rcase c)
{
    static const char *const bias_names[] = {"", " bias", " b_hh only"};
    char name[160];
    snprintf(name, sizeof name, "%s T %lld B %lld I %lld H %lld%s%s%s", c.gru ? "gru" : "lstm", (long long)c.T,
             (long long)c.B, (long long)c.I, (long long)c.H, c.h0 ? (c.gru ? " h0" : " h0 c0") : "",
             bias_names[c.bias], c.gradcheck ? " gradcheck" : "");
    th_run(name, run_case, &c);
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
    TH_STATUS(vkdl_lstm_backward(x, h, h, wi, wh, out, ws, NULL, NULL, NULL, x, h, h, wi, wh, b, b),
              VKDL_ERROR_INVALID_ARGUMENT, "lstm_backward: dout is NULL");
    TH_STATUS(vkdl_lstm_backward(x, h, h, wi, wh, out, ws, outbad, NULL, NULL, x, h, h, wi, wh, b, b),
              VKDL_ERROR_SHAPE_MISMATCH, "dout is 3x2x5");
    TH_STATUS(vkdl_lstm_backward(x, h, h, wi, wh, out, ws, out, NULL, NULL, dx_bad, h, h, wi, wh, b, b),
              VKDL_ERROR_SHAPE_MISMATCH, "dx is 4x2x5");
    TH_STATUS(vkdl_lstm_backward(x, h, h, wi, wh, out, ws, out, NULL, NULL, x, h, h, dwi_bad, wh, b, b),
              VKDL_ERROR_SHAPE_MISMATCH, "dw_ih is 16x7, expected 16x5");
    TH_STATUS(vkdl_lstm_backward(x, h, h, wi, wh, out, ws, out, hbad, NULL, x, h, h, wi, wh, b, b),
              VKDL_ERROR_SHAPE_MISMATCH, "dh_n is 3x4");
    TH_STATUS(vkdl_lstm_backward(x, h, h, wi, wh, out, ws, out, NULL, NULL, x, h, h, wi, wh, bbad, b),
              VKDL_ERROR_SHAPE_MISMATCH, "db_ih is 12");
    TH_STATUS(vkdl_lstm_backward(x, h, h, wi, wh, out, wsbad, out, NULL, NULL, x, h, h, wi, wh, b, b),
              VKDL_ERROR_SHAPE_MISMATCH, "lstm_backward: workspace");

    TH_STATUS(vkdl_gru(x, h, wi, wh, NULL, NULL, out, h, ws), VKDL_ERROR_SHAPE_MISMATCH, "gru: w_ih is 16x5, expected [3 H, 5]");
    vkdl_tensor *gws = mk(ctx, VKDL_F32, 3, T, B, 4 * H);
    TH_STATUS(vkdl_gru(x, h, gwi, gwh, b, NULL, out, h, gws), VKDL_ERROR_SHAPE_MISMATCH, "b_ih is 16, expected 12");
    TH_STATUS(vkdl_gru(x, h, gwi, gwh, NULL, NULL, out, h, ws), VKDL_ERROR_SHAPE_MISMATCH,
              "workspace is 3x2x20, expected 3x2x16");
    TH_STATUS(vkdl_gru_backward(x, h, gwi, gwh, b, out, gws, out, NULL, x, h, gwi, gwh, NULL, NULL),
              VKDL_ERROR_SHAPE_MISMATCH, "gru_backward: b_hh is 16");
    TH_STATUS(vkdl_gru_backward(x, h, gwi, gwh, NULL, out, gws, out, NULL, x, h, wi, gwh, NULL, NULL),
              VKDL_ERROR_SHAPE_MISMATCH, "dw_ih is 16x5, expected 12x5");
    TH_STATUS(vkdl_gru_backward(x, h, gwi, gwh, NULL, out, gws, NULL, NULL, x, h, gwi, gwh, NULL, NULL),
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
static void run_empty_sequence(void *arg)
{
    (void)arg;
    rcase c = {.T = 0, .B = 3, .I = 2, .H = 4, .h0 = true, .bias = BOTH_BIASES};
    for (int gru = 0; gru < 2; gru++) {
        c.gru = gru;
        rnn_set s;
        set_make(&c, &s);
        TH_OK(vkdl_tensor_fill(s.c_n.cpu, 0));
        TH_OK(vkdl_tensor_fill(s.c_n.gpu, 0));
        for (int k = 0; k < 2; k++) {
            TH_OK(forward(&c, &s, k));
            TH_OK(backward(&c, &s, k));
        }
        th_compare(&s.y, TH_TOL_EXACT);
        th_compare(&s.dw_ih, TH_TOL_EXACT);
        th_compare(&s.dw_hh, TH_TOL_EXACT);
        th_compare(&s.dh0, TH_TOL_EXACT);
        th_compare(&s.db_hh, TH_TOL_EXACT);
        float *h_n = th_download(s.h_n.gpu), *h0 = th_download(s.h0.gpu), *dw = th_download(s.dw_hh.gpu);
        for (int i = 0; i < 12; i++)
            TH_TRUE(h_n[i] == h0[i]);
        TH_TRUE(dw[0] == 0.0f);
        free(h_n);
        free(h0);
        free(dw);
        set_free(&s);
    }
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
    th_run("T = 0", run_empty_sequence, NULL);
    th_run("bad input [cpu]", run_bad, th_cpu);
    th_run("bad input [gpu]", run_bad, th_gpu);
    return th_finish();
}
