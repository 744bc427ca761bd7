/* MSE, cross-entropy and BCE-with-logits losses and their backward: the GPU against the CPU twin
 * (TH_TOL_F32), finite differences of the CPU forward, ignore_index / label smoothing semantics,
 * out-of-range targets, and the same bits on a second run. lib/ops/loss.c
 *
 * Gradchecks: central differences with step 1e-3 of the f32 scalar loss, 1e-2 relative. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int64_t SCALAR1[1] = {1};

static float download1(vkdl_tensor *t)
{
    float v = NAN;
    TH_OK(vkdl_tensor_download(t, &v, VKDL_F32, sizeof v));
    return v;
}

/* ---------------------------------------------------------------- MSE and BCE */

/* op: 1 for bce_with_logits, 0 for mse_loss. The backward takes the loss's gradient as a float. */
static vkdl_status elem_loss(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    return (op->op ? vkdl_bce_with_logits : vkdl_mse_loss)(in[0], in[1], out[0]);
}

static vkdl_status elem_loss_backward(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out,
                                      vkdl_tensor *const *dout, vkdl_tensor *const *din)
{
    (void)out;
    return (op->op ? vkdl_bce_with_logits_backward : vkdl_mse_loss_backward)(in[0], in[1], download1(dout[0]),
                                                                              din[0]);
}

/* Logits in [-range, range), targets in [0, 1) for BCE and [-2, 2) for MSE; dloss 0.75. */
static th_op elem_row(const char *name, bool bce, th_shape s, float range, th_shape loss)
{
    return (th_op){.name = name, .op = bce, .n_in = 2, .n_out = 1, .forward = elem_loss,
                   .backward = elem_loss_backward, .no_grad = 2, .tol = &TH_TOL_F32, .deterministic = true,
                   .in = {{.shape = s, .lo = -range, .hi = range}, {.shape = s, .lo = bce ? 0 : -2, .hi = bce ? 1 : 2}},
                   .out = {{.shape = loss, .grad_lo = 0.75f, .grad_hi = 0.75f}}};
}

/* ---------------------------------------------------------------- cross-entropy */

typedef struct ce_params {
    vkdl_cross_entropy_info info;
    bool use_info; /* else NULL: no ignore_index, no smoothing */
} ce_params;

static vkdl_status ce(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    const ce_params *p = op->params;
    return vkdl_cross_entropy(in[0], in[1], out[0], p->use_info ? &p->info : NULL);
}

static vkdl_status ce_backward(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out,
                               vkdl_tensor *const *dout, vkdl_tensor *const *din)
{
    (void)out;
    const ce_params *p = op->params;
    return vkdl_cross_entropy_backward(in[0], in[1], download1(dout[0]), din[0], p->use_info ? &p->info : NULL);
}

/* ignore_index -100 on about a quarter of the rows, other targets in [0, C) (C is hi). */
static void targets_ignored(float *v, int64_t n, const th_shape *s, float lo, float hi)
{
    (void)s, (void)lo;
    for (int64_t i = 0; i < n; i++)
        v[i] = th_randu(4) == 0 ? -100.0f : (float)th_randu((uint32_t)hi);
}

/* Logits [N, C] in [-range, range); dloss 1.5. */
static th_op ce_row(char *name, size_t n, int64_t N, int64_t C, bool ignore, float range, const ce_params *p)
{
    snprintf(name, n, "cross_entropy %lldx%lld%s ls %g%s", (long long)N, (long long)C, ignore ? " ignore" : "",
             (double)p->info.label_smoothing, range > 10 ? " wide" : "");
    th_input t = {.shape = {1, {N}}, .dtype = VKDL_I32, .fill = TH_FILL_LABELS, .hi = (float)C};
    if (ignore) {
        t.fill = TH_FILL_FN;
        t.gen = targets_ignored;
    }
    return (th_op){.name = name, .params = p, .n_in = 2, .n_out = 1, .forward = ce, .backward = ce_backward,
                   .tol = &TH_TOL_F32, .deterministic = true,
                   .in = {{.shape = {2, {N, C}}, .lo = -range, .hi = range}, t},
                   .out = {{.shape = TH_SHAPE(1), .grad_lo = 1.5f, .grad_hi = 1.5f}}};
}

/* Hand-computed: PyTorch's smoothing is loss_i = (1 - ls) nll_i + ls mean_c(-logp_ic), and the
 * mean runs over the rows not ignored. */
static void run_ce_known(void *arg)
{
    (void)arg;
    int64_t s[2] = {3, 2};
    const float x[6] = {0, 0, 1, -1, 5, 5};
    const int32_t tg[3] = {0, 1, 7};
    vkdl_cross_entropy_info info = {.use_ignore_index = 1, .ignore_index = 7, .label_smoothing = 0.2f};
    th_pair xp = th_from(VKDL_F32, 2, s, x, VKDL_F32), tp = th_from(VKDL_I32, 1, &s[0], tg, VKDL_I32);
    th_pair l = th_empty(VKDL_F32, 0, NULL);
    /* row 0: nll = log 2 = smoothing term; row 1: lse = log(e + 1/e), nll = lse + 1, mean -logp = lse */
    double lse1 = log(exp(1.0) + exp(-1.0));
    double want = (log(2.0) + 0.8 * (lse1 + 1) + 0.2 * lse1) / 2;
    TH_OK(vkdl_cross_entropy(xp.cpu, tp.cpu, l.cpu, &info));
    TH_OK(vkdl_cross_entropy(xp.gpu, tp.gpu, l.gpu, &info));
    float c = download1(l.cpu), g = download1(l.gpu);
    if (fabs(c - want) > 1e-6 || fabs(g - want) > 1e-6)
        th_fail("loss cpu %.9g gpu %.9g, expected %.9g", c, g, want);
    th_free(&xp);
    th_free(&tp);
    th_free(&l);
}

/* A cross-entropy case's tensors on both backends: logits x uniform in [-1, 1) of s[0] rows by s[1] classes,
 * targets t from tg, a scalar loss l and (unless dx is NULL) the logits' gradient dx. */
static void ce_make(const int64_t *s, const int32_t *tg, th_pair *x, th_pair *t, th_pair *l, th_pair *dx)
{
    *x = th_rand(VKDL_F32, 2, s, -1, 1);
    *t = th_from(VKDL_I32, 1, &s[0], tg, VKDL_I32);
    *l = th_empty(VKDL_F32, 1, SCALAR1);
    if (dx)
        *dx = th_empty(VKDL_F32, 2, s);
}

static void ce_free(th_pair *x, th_pair *t, th_pair *l, th_pair *dx)
{
    th_free(x);
    th_free(t);
    th_free(l);
    if (dx)
        th_free(dx);
}

/* Cross-entropy of logits x and targets t into l on both backends is NaN on both. */
static void expect_nan_loss(const th_pair *x, const th_pair *t, const th_pair *l, const vkdl_cross_entropy_info *info,
                            const char *what)
{
    TH_OK(vkdl_cross_entropy(x->cpu, t->cpu, l->cpu, info));
    TH_OK(vkdl_cross_entropy(x->gpu, t->gpu, l->gpu, info));
    if (!isnan(download1(l->cpu)) || !isnan(download1(l->gpu)))
        th_fail("%s: loss %g (cpu), %g (gpu), expected NaN", what, download1(l->cpu), download1(l->gpu));
}

/* Every target ignored: the loss is NaN (0 / 0, as PyTorch) and the gradient all zeros. */
static void run_ce_all_ignored(void *arg)
{
    (void)arg;
    int64_t s[2] = {5, 7};
    const int32_t tg[5] = {-100, -100, -100, -100, -100};
    vkdl_cross_entropy_info info = {.use_ignore_index = 1, .ignore_index = -100, .label_smoothing = 0.1f};
    th_pair x, t, l, dx;
    ce_make(s, tg, &x, &t, &l, &dx);
    expect_nan_loss(&x, &t, &l, &info, "every target ignored");
    TH_OK(vkdl_cross_entropy_backward(x.cpu, t.cpu, 1, dx.cpu, &info));
    TH_OK(vkdl_cross_entropy_backward(x.gpu, t.gpu, 1, dx.gpu, &info));
    th_compare(&dx, TH_TOL_EXACT);
    float *h = th_download(dx.gpu);
    for (int i = 0; i < 35; i++)
        if (h[i] != 0.0f) {
            th_fail("dlogits[%d] = %g, expected 0", i, h[i]);
            break;
        }
    free(h);
    ce_free(&x, &t, &l, &dx);
}

/* Ignoring is explicit: with every target class 0, a zeroed info and {.label_smoothing = 0.1f} ignore
 * nothing (a finite loss, equal to NULL's and to ignoring an absent -100), while use_ignore_index
 * with ignore_index 0 ignores every row (NaN, as PyTorch). */
static void run_ce_zeroed_info(void *arg)
{
    (void)arg;
    int64_t s[2] = {5, 7};
    const int32_t tg[5] = {0};
    th_pair x, t, l;
    ce_make(s, tg, &x, &t, &l, NULL);
    const vkdl_cross_entropy_info zero = {0}, smooth = {.label_smoothing = 0.1f};
    const vkdl_cross_entropy_info smooth_absent = {.use_ignore_index = 1, .ignore_index = -100,
                                                   .label_smoothing = 0.1f};
    const vkdl_cross_entropy_info class0 = {.use_ignore_index = 1, .ignore_index = 0};
    const vkdl_cross_entropy_info *pairs[2][2] = {{NULL, &zero}, {&smooth_absent, &smooth}};
    for (int k = 0; k < 2; k++) {
        vkdl_tensor *xs[2] = {x.cpu, x.gpu}, *ts[2] = {t.cpu, t.gpu}, *ls[2] = {l.cpu, l.gpu};
        for (int d = 0; d < 2; d++) {
            float want = NAN, got = NAN;
            if (TH_OK(vkdl_cross_entropy(xs[d], ts[d], ls[d], pairs[k][0])))
                want = download1(ls[d]);
            if (TH_OK(vkdl_cross_entropy(xs[d], ts[d], ls[d], pairs[k][1])))
                got = download1(ls[d]);
            if (!isfinite(got) || got != want)
                th_fail("%s: all-0 targets, %s: loss %g, expected %g", d ? "gpu" : "cpu",
                        k ? "{.label_smoothing = 0.1f}" : "a zeroed info", got, want);
        }
    }
    expect_nan_loss(&x, &t, &l, &class0, "ignoring class 0 of all-0 targets");
    ce_free(&x, &t, &l, NULL);
}

/* A target outside [0, C): INVALID_ARGUMENT on the CPU; on the GPU a NaN loss and that row's
 * gradient NaN, the other rows still right. Without info, -100 is out of range too. */
static void run_ce_bad_target(void *arg)
{
    (void)arg;
    int64_t s[2] = {4, 6};
    const int32_t tg[4] = {1, 6, 0, -100};
    th_pair x, t, l, dx;
    ce_make(s, tg, &x, &t, &l, &dx);
    vkdl_cross_entropy_info info = {.use_ignore_index = 1, .ignore_index = -100};
    TH_STATUS(vkdl_cross_entropy(x.cpu, t.cpu, l.cpu, &info), VKDL_ERROR_INVALID_ARGUMENT,
              "target 6 of row 1 is outside [0, 6)");
    TH_STATUS(vkdl_cross_entropy_backward(x.cpu, t.cpu, 1, dx.cpu, &info), VKDL_ERROR_INVALID_ARGUMENT,
              "target 6 of row 1");
    TH_STATUS(vkdl_cross_entropy(x.cpu, t.cpu, l.cpu, NULL), VKDL_ERROR_INVALID_ARGUMENT, "row 1");
    TH_OK(vkdl_cross_entropy(x.gpu, t.gpu, l.gpu, &info));
    if (!isnan(download1(l.gpu)))
        th_fail("gpu loss is %g, expected NaN", download1(l.gpu));
    TH_OK(vkdl_cross_entropy_backward(x.gpu, t.gpu, 1, dx.gpu, &info));
    float *h = th_download(dx.gpu);
    for (int i = 0; i < 24; i++) {
        bool want_nan = i / 6 == 1;
        if (want_nan != (bool)isnan(h[i]) || (i / 6 == 3 && h[i] != 0.0f)) {
            th_fail("dlogits[%d] = %g", i, h[i]);
            break;
        }
    }
    free(h);
    ce_free(&x, &t, &l, &dx);
}

/* ---------------------------------------------------------------- edge cases */

static void run_empty(void *arg)
{
    (void)arg;
    int64_t e[1] = {0}, es[2] = {0, 4};
    th_pair x = th_rand(VKDL_F32, 1, e, -1, 1), l = th_empty(VKDL_F32, 1, SCALAR1);
    TH_OK(vkdl_mse_loss(x.gpu, x.gpu, l.gpu));
    if (!isnan(download1(l.gpu)))
        th_fail("mse of nothing is %g, expected NaN", download1(l.gpu));
    TH_OK(vkdl_bce_with_logits(x.cpu, x.cpu, l.cpu));
    if (!isnan(download1(l.cpu)))
        th_fail("bce of nothing is %g, expected NaN", download1(l.cpu));
    TH_OK(vkdl_mse_loss_backward(x.gpu, x.gpu, 1, x.gpu));
    th_pair lg = th_rand(VKDL_F32, 2, es, -1, 1), tg = th_empty(VKDL_I32, 1, e);
    TH_OK(vkdl_cross_entropy(lg.gpu, tg.gpu, l.gpu, NULL));
    if (!isnan(download1(l.gpu)))
        th_fail("cross_entropy of no rows is %g, expected NaN", download1(l.gpu));
    TH_OK(vkdl_cross_entropy_backward(lg.gpu, tg.gpu, 1, lg.gpu, NULL));
    th_free(&x);
    th_free(&l);
    th_free(&lg);
    th_free(&tg);
}

/* Huge logits: the stable forms give finite losses. */
static void run_bce_stable(void *arg)
{
    (void)arg;
    int64_t n = 4;
    const float x[4] = {200, -200, 90, -90}, t[4] = {1, 0, 0, 1};
    th_pair xp = th_from(VKDL_F32, 1, &n, x, VKDL_F32), tp = th_from(VKDL_F32, 1, &n, t, VKDL_F32);
    th_pair l = th_empty(VKDL_F32, 1, SCALAR1), dx = th_empty(VKDL_F32, 1, &n);
    TH_OK(vkdl_bce_with_logits(xp.cpu, tp.cpu, l.cpu));
    TH_OK(vkdl_bce_with_logits(xp.gpu, tp.gpu, l.gpu));
    th_compare(&l, TH_TOL_F32);
    if (fabs(download1(l.gpu) - 45.0) > 1e-4)
        th_fail("loss %.9g, expected 45", download1(l.gpu));
    TH_OK(vkdl_bce_with_logits_backward(xp.cpu, tp.cpu, 1, dx.cpu));
    TH_OK(vkdl_bce_with_logits_backward(xp.gpu, tp.gpu, 1, dx.gpu));
    th_compare(&dx, TH_TOL_F32);
    th_free(&xp);
    th_free(&tp);
    th_free(&l);
    th_free(&dx);
}

static void run_bad(void *arg)
{
    (void)arg;
    int64_t s3[1] = {3}, s4[1] = {4}, s23[2] = {2, 3}, s2[1] = {2}, s12[2] = {1, 2}, s20[2] = {2, 0};
    th_pair a = th_rand(VKDL_F32, 1, s3, 0, 1), b = th_rand(VKDL_F32, 1, s4, 0, 1);
    th_pair l = th_empty(VKDL_F32, 1, SCALAR1), l2 = th_empty(VKDL_F32, 1, s2), l12 = th_empty(VKDL_F32, 2, s12);
    th_pair li = th_empty(VKDL_I32, 1, SCALAR1);
    th_pair m = th_rand(VKDL_F32, 2, s23, 0, 1), t2 = th_rand(VKDL_I32, 1, s2, 0, 2), t3 = th_rand(VKDL_I32, 1, s3, 0, 2);
    th_pair tf = th_rand(VKDL_F32, 1, s2, 0, 2), m0 = th_rand(VKDL_F32, 2, s20, 0, 1);
    TH_STATUS(vkdl_mse_loss(NULL, a.gpu, l.gpu), VKDL_ERROR_INVALID_ARGUMENT, "mse_loss: pred is NULL");
    TH_STATUS(vkdl_mse_loss(a.gpu, NULL, l.gpu), VKDL_ERROR_INVALID_ARGUMENT, "target is NULL");
    TH_STATUS(vkdl_mse_loss(a.gpu, a.gpu, NULL), VKDL_ERROR_INVALID_ARGUMENT, "loss is NULL");
    TH_STATUS(vkdl_mse_loss(a.gpu, b.gpu, l.gpu), VKDL_ERROR_SHAPE_MISMATCH, "3 vs 4");
    TH_STATUS(vkdl_mse_loss(a.gpu, a.gpu, l2.gpu), VKDL_ERROR_SHAPE_MISMATCH, "loss is 2, expected a scalar");
    TH_STATUS(vkdl_mse_loss(a.gpu, a.gpu, l12.gpu), VKDL_ERROR_SHAPE_MISMATCH, "loss is 1x2");
    TH_STATUS(vkdl_mse_loss(a.gpu, a.gpu, li.gpu), VKDL_ERROR_DTYPE_MISMATCH, "loss is i32");
    TH_STATUS(vkdl_mse_loss(a.gpu, a.cpu, l.gpu), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    TH_STATUS(vkdl_mse_loss_backward(a.gpu, a.gpu, 1, NULL), VKDL_ERROR_INVALID_ARGUMENT, "dpred is NULL");
    TH_STATUS(vkdl_mse_loss_backward(a.gpu, a.gpu, 1, b.gpu), VKDL_ERROR_SHAPE_MISMATCH, "3 vs 4");
    TH_STATUS(vkdl_bce_with_logits(a.gpu, b.gpu, l.gpu), VKDL_ERROR_SHAPE_MISMATCH, "bce_with_logits");
    TH_STATUS(vkdl_bce_with_logits_backward(a.gpu, a.gpu, 1, li.gpu), VKDL_ERROR_DTYPE_MISMATCH, "dlogits is i32");
    TH_STATUS(vkdl_cross_entropy(NULL, t2.gpu, l.gpu, NULL), VKDL_ERROR_INVALID_ARGUMENT, "logits is NULL");
    TH_STATUS(vkdl_cross_entropy(m.gpu, NULL, l.gpu, NULL), VKDL_ERROR_INVALID_ARGUMENT, "targets is NULL");
    TH_STATUS(vkdl_cross_entropy(m.gpu, t3.gpu, l.gpu, NULL), VKDL_ERROR_SHAPE_MISMATCH,
              "targets is 3, expected [2] for logits 2x3");
    TH_STATUS(vkdl_cross_entropy(a.gpu, t3.gpu, l.gpu, NULL), VKDL_ERROR_SHAPE_MISMATCH, "logits is 3, expected [N, C]");
    TH_STATUS(vkdl_cross_entropy(m.gpu, tf.gpu, l.gpu, NULL), VKDL_ERROR_DTYPE_MISMATCH, "targets is f32");
    TH_STATUS(vkdl_cross_entropy(m.gpu, t2.gpu, l2.gpu, NULL), VKDL_ERROR_SHAPE_MISMATCH, "expected a scalar");
    TH_STATUS(vkdl_cross_entropy(m0.gpu, t2.gpu, l.gpu, NULL), VKDL_ERROR_INVALID_ARGUMENT, "no classes");
    vkdl_cross_entropy_info bad_ls = {.use_ignore_index = 1, .ignore_index = -100, .label_smoothing = 1.5f};
    TH_STATUS(vkdl_cross_entropy(m.gpu, t2.gpu, l.gpu, &bad_ls), VKDL_ERROR_INVALID_ARGUMENT,
              "label_smoothing 1.5 is outside [0, 1]");
    bad_ls.label_smoothing = NAN;
    TH_STATUS(vkdl_cross_entropy_backward(m.gpu, t2.gpu, 1, m.gpu, &bad_ls), VKDL_ERROR_INVALID_ARGUMENT,
              "label_smoothing");
    TH_STATUS(vkdl_cross_entropy_backward(m.gpu, t2.gpu, 1, NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT,
              "dlogits is NULL");
    TH_STATUS(vkdl_cross_entropy_backward(m.gpu, t2.gpu, 1, l12.gpu, NULL), VKDL_ERROR_SHAPE_MISMATCH, "2x3 vs 1x2");
    TH_STATUS(vkdl_cross_entropy(m.gpu, t2.cpu, l.gpu, NULL), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    th_free(&a);
    th_free(&b);
    th_free(&l);
    th_free(&l2);
    th_free(&l12);
    th_free(&li);
    th_free(&m);
    th_free(&t2);
    th_free(&t3);
    th_free(&tf);
    th_free(&m0);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    char name[160];

    /* a [] loss on one case in two, [1] on the other */
    static const struct {
        bool bce;
        th_shape s;
        float range;
    } ELEM[] = {
        {false, TH_SHAPE(1), 3}, {false, TH_SHAPE(17), 3}, {false, TH_SHAPE(127, 3), 3}, {false, TH_SHAPE(1000), 3},
        {false, TH_SHAPE(100003), 3}, {false, TH_SHAPE(3, 1000, 7), 3}, {false, TH_SHAPE(2000001), 3},
        {true, TH_SHAPE(1), 5}, {true, TH_SHAPE(17), 5}, {true, TH_SHAPE(127, 3), 5}, {true, TH_SHAPE(1000), 5},
        {true, TH_SHAPE(100003), 30}, {true, TH_SHAPE(3, 1000, 7), 5}, {true, TH_SHAPE(2000001), 5},
    };
    for (size_t i = 0; i < TH_LEN(ELEM); i++) {
        snprintf(name, sizeof name, "%s/%zu", ELEM[i].bce ? "bce_with_logits" : "mse_loss", i);
        th_shape loss = {ELEM[i].s.ndim & 1, {1}};
        th_op c = elem_row(name, ELEM[i].bce, ELEM[i].s, ELEM[i].range, loss);
        th_run_op(&c);
    }
    for (int bce = 0; bce < 2; bce++) {
        th_op c = elem_row(bce ? "bce_with_logits/gradcheck" : "mse_loss/gradcheck", bce, (th_shape)TH_SHAPE(3, 5),
                           bce ? 4 : 2, (th_shape)TH_SHAPE(1));
        c.grad = (th_grad){100, 1e-3, 1e-2};
        th_run_op(&c);
    }

    /* Every shape with and without ignore_index and smoothing; the variants on some of them. */
    static const struct {
        int64_t N, C;
        unsigned variants[4]; /* per ignore + 2 smoothing */
    } CE[] = {
        {1, 1, {0}},          {3, 17, {0, 0, 0, TH_VS_ALL}}, {17, 3, {0}},     {127, 1000, {0, 0, 0, TH_VS_ALL}},
        {4096, 10, {0}},      {5, 30000, {TH_VS_ALL}},       {2, 257, {0}},    {70001, 3, {0}},
    };
    for (size_t i = 0; i < TH_LEN(CE); i++)
        for (int k = 0; k < 4; k++) {
            ce_params p = {{.use_ignore_index = 1, .ignore_index = -100, .label_smoothing = k & 2 ? 0.1f : 0.0f},
                           k != 0};
            th_op c = ce_row(name, sizeof name, CE[i].N, CE[i].C, k & 1, 5, &p);
            c.variants = CE[i].variants[k];
            th_run_op(&c);
        }
    ce_params wide_p = {{.use_ignore_index = 1, .ignore_index = -100, .label_smoothing = 0.05f}, true};
    th_op wide = ce_row(name, sizeof name, 64, 1000, true, 100, &wide_p);
    wide.variants = TH_VS_ALL;
    th_run_op(&wide);
    static const struct {
        int64_t N, C;
        bool ignore;
        float ls;
    } CE_GRAD[] = {{4, 5, false, 0}, {6, 7, true, 0.2f}, {3, 1, false, 0.5f}};
    for (size_t i = 0; i < TH_LEN(CE_GRAD); i++) {
        ce_params p = {{.use_ignore_index = 1, .ignore_index = -100, .label_smoothing = CE_GRAD[i].ls}, true};
        th_op c = ce_row(name, sizeof name, CE_GRAD[i].N, CE_GRAD[i].C, CE_GRAD[i].ignore, 3, &p);
        strcat(name, " gradcheck");
        c.grad = (th_grad){100, 1e-3, 1e-2};
        th_run_op(&c);
    }
    th_run("cross_entropy known values", run_ce_known, NULL);
    th_run("cross_entropy all rows ignored", run_ce_all_ignored, NULL);
    th_run("cross_entropy ignores only when asked", run_ce_zeroed_info, NULL);
    th_run("cross_entropy target out of range", run_ce_bad_target, NULL);
    th_run("bce_with_logits huge logits", run_bce_stable, NULL);
    th_run("empty inputs", run_empty, NULL);
    th_run("bad arguments", run_bad, NULL);
    return th_finish();
}
