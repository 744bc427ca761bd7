/* MSE, cross-entropy and BCE-with-logits losses and their backward: the GPU against the CPU twin
 * (TH_TOL_F32), finite differences of the CPU forward, ignore_index / label smoothing semantics,
 * out-of-range targets, and the same bits on a second run. lib/op_loss.c
 *
 * Gradchecks: central differences with step 1e-3 of the f32 scalar loss, 1e-2 relative. */
#include "harness.h"
#include "runtime/runtime.h"

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

typedef struct elem_case {
    bool bce;
    int ndim;
    int64_t shape[4];
    float range;
} elem_case;

typedef vkdl_status (*loss_fn)(const vkdl_tensor *, const vkdl_tensor *, vkdl_tensor *);
typedef vkdl_status (*loss_bwd_fn)(const vkdl_tensor *, const vkdl_tensor *, float, vkdl_tensor *);

static th_pair elem_targets(const elem_case *c)
{
    return c->bce ? th_rand(VKDL_F32, c->ndim, c->shape, 0, 1) : th_rand(VKDL_F32, c->ndim, c->shape, -2, 2);
}

static void run_elem(void *arg)
{
    const elem_case *c = arg;
    loss_fn fwd = c->bce ? vkdl_bce_with_logits : vkdl_mse_loss;
    loss_bwd_fn bwd = c->bce ? vkdl_bce_with_logits_backward : vkdl_mse_loss_backward;
    th_pair x = th_rand(VKDL_F32, c->ndim, c->shape, -c->range, c->range);
    th_pair t = elem_targets(c);
    /* a [] output on one case in two, [1] on the other */
    th_pair l = th_empty(VKDL_F32, c->ndim & 1, SCALAR1);
    th_pair dx = th_empty(VKDL_F32, c->ndim, c->shape);
    TH_OK(fwd(x.cpu, t.cpu, l.cpu));
    TH_OK(fwd(x.gpu, t.gpu, l.gpu));
    if (!th_compare(&l, TH_TOL_F32))
        th_fail("loss");
    TH_OK(bwd(x.cpu, t.cpu, 0.75f, dx.cpu));
    TH_OK(bwd(x.gpu, t.gpu, 0.75f, dx.gpu));
    if (!th_compare(&dx, TH_TOL_F32))
        th_fail("gradient");
    float first = download1(l.gpu);
    TH_OK(fwd(x.gpu, t.gpu, l.gpu));
    float again = download1(l.gpu);
    if (memcmp(&first, &again, sizeof first) != 0)
        th_fail("a second run gave %.9g, the first %.9g", again, first);
    th_free(&x);
    th_free(&t);
    th_free(&l);
    th_free(&dx);
}

typedef struct elem_fwd {
    loss_fn fn;
    vkdl_tensor *x, *t;
} elem_fwd;

static vkdl_status elem_forward(void *arg, vkdl_tensor *out)
{
    elem_fwd *f = arg;
    return f->fn(f->x, f->t, out);
}

static void run_elem_grad(void *arg)
{
    const elem_case *c = arg;
    th_pair x = th_rand(VKDL_F32, c->ndim, c->shape, -c->range, c->range);
    th_pair t = elem_targets(c);
    th_pair l = th_empty(VKDL_F32, 1, SCALAR1), dx = th_empty(VKDL_F32, c->ndim, c->shape);
    const float w = 0.75f;
    th_pair dl = th_from(VKDL_F32, 1, SCALAR1, &w, VKDL_F32);
    TH_OK((c->bce ? vkdl_bce_with_logits_backward : vkdl_mse_loss_backward)(x.cpu, t.cpu, w, dx.cpu));
    elem_fwd f = {c->bce ? vkdl_bce_with_logits : vkdl_mse_loss, x.cpu, t.cpu};
    th_gradcheck(elem_forward, &f, l.cpu, dl.cpu, 1, &x.cpu, &dx.cpu, 100, 1e-3, 1e-2);
    th_free(&x);
    th_free(&t);
    th_free(&l);
    th_free(&dx);
    th_free(&dl);
}

/* ---------------------------------------------------------------- cross-entropy */

typedef struct ce_case {
    int64_t N, C;
    bool ignore;        /* ignore_index -100 on about a quarter of the rows */
    float ls;
    enum th_variant variant;
    float range;
} ce_case;

static th_pair ce_targets(const ce_case *c)
{
    int32_t *t = malloc((size_t)(c->N ? c->N : 1) * sizeof *t);
    for (int64_t i = 0; i < c->N; i++)
        t[i] = c->ignore && th_randu(4) == 0 ? -100 : (int32_t)th_randu((uint32_t)c->C);
    th_pair p = th_from(VKDL_I32, 1, &c->N, t, VKDL_I32);
    free(t);
    return p;
}

static void run_ce(void *arg)
{
    const ce_case *c = arg;
    int64_t s[2] = {c->N, c->C};
    vkdl_cross_entropy_info info = {.use_ignore_index = 1, .ignore_index = -100, .label_smoothing = c->ls};
    const vkdl_cross_entropy_info *pi = c->ignore || c->ls != 0 ? &info : NULL;
    th_variant_begin(c->variant);
    th_pair x = th_rand(VKDL_F32, 2, s, -c->range, c->range);
    th_pair t = ce_targets(c);
    th_pair l = th_empty(VKDL_F32, 1, SCALAR1), dx = th_empty(VKDL_F32, 2, s);
    TH_OK(vkdl_cross_entropy(x.cpu, t.cpu, l.cpu, pi));
    TH_OK(vkdl_cross_entropy_backward(x.cpu, t.cpu, 1.5f, dx.cpu, pi));
    TH_OK(vkdl_cross_entropy(x.gpu, t.gpu, l.gpu, pi));
    TH_OK(vkdl_cross_entropy_backward(x.gpu, t.gpu, 1.5f, dx.gpu, pi));
    if (!th_compare(&l, TH_TOL_F32))
        th_fail("loss");
    if (!th_compare(&dx, TH_TOL_F32))
        th_fail("gradient");
    float first = download1(l.gpu);
    TH_OK(vkdl_cross_entropy(x.gpu, t.gpu, l.gpu, pi));
    float again = download1(l.gpu);
    if (memcmp(&first, &again, sizeof first) != 0)
        th_fail("a second run gave %.9g, the first %.9g", again, first);
    th_free(&x);
    th_free(&t);
    th_free(&l);
    th_free(&dx);
    th_variant_end();
}

static void ce_name(char *name, size_t n, const ce_case *c)
{
    snprintf(name, n, "cross_entropy %lldx%lld%s ls %g%s%s", (long long)c->N, (long long)c->C,
             c->ignore ? " ignore" : "", (double)c->ls, c->range > 10 ? " wide" : "", TH_VARIANT_NAMES[c->variant]);
}

typedef struct ce_fwd {
    vkdl_tensor *x, *t;
    const vkdl_cross_entropy_info *info;
} ce_fwd;

static vkdl_status ce_forward(void *arg, vkdl_tensor *out)
{
    ce_fwd *f = arg;
    return vkdl_cross_entropy(f->x, f->t, out, f->info);
}

static void run_ce_grad(void *arg)
{
    const ce_case *c = arg;
    int64_t s[2] = {c->N, c->C};
    vkdl_cross_entropy_info info = {.use_ignore_index = 1, .ignore_index = -100, .label_smoothing = c->ls};
    th_pair x = th_rand(VKDL_F32, 2, s, -3, 3);
    th_pair t = ce_targets(c);
    th_pair l = th_empty(VKDL_F32, 1, SCALAR1), dx = th_empty(VKDL_F32, 2, s);
    const float w = 1.5f;
    th_pair dl = th_from(VKDL_F32, 1, SCALAR1, &w, VKDL_F32);
    TH_OK(vkdl_cross_entropy_backward(x.cpu, t.cpu, w, dx.cpu, &info));
    ce_fwd f = {x.cpu, t.cpu, &info};
    th_gradcheck(ce_forward, &f, l.cpu, dl.cpu, 1, &x.cpu, &dx.cpu, 100, 1e-3, 1e-2);
    th_free(&x);
    th_free(&t);
    th_free(&l);
    th_free(&dx);
    th_free(&dl);
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

/* Every target ignored: the loss is NaN (0 / 0, as PyTorch) and the gradient all zeros. */
static void run_ce_all_ignored(void *arg)
{
    (void)arg;
    int64_t s[2] = {5, 7};
    const int32_t tg[5] = {-100, -100, -100, -100, -100};
    vkdl_cross_entropy_info info = {.use_ignore_index = 1, .ignore_index = -100, .label_smoothing = 0.1f};
    th_pair x = th_rand(VKDL_F32, 2, s, -1, 1), t = th_from(VKDL_I32, 1, &s[0], tg, VKDL_I32);
    th_pair l = th_empty(VKDL_F32, 1, SCALAR1), dx = th_empty(VKDL_F32, 2, s);
    TH_OK(vkdl_cross_entropy(x.cpu, t.cpu, l.cpu, &info));
    TH_OK(vkdl_cross_entropy(x.gpu, t.gpu, l.gpu, &info));
    if (!isnan(download1(l.cpu)) || !isnan(download1(l.gpu)))
        th_fail("loss is %g (cpu), %g (gpu), expected NaN", download1(l.cpu), download1(l.gpu));
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
    th_free(&x);
    th_free(&t);
    th_free(&l);
    th_free(&dx);
}

/* Ignoring is explicit: with every target class 0, a zeroed info and {.label_smoothing = 0.1f} ignore
 * nothing (a finite loss, equal to NULL's and to ignoring an absent -100), while use_ignore_index
 * with ignore_index 0 ignores every row (NaN, as PyTorch). */
static void run_ce_zeroed_info(void *arg)
{
    (void)arg;
    int64_t s[2] = {5, 7};
    const int32_t tg[5] = {0};
    th_pair x = th_rand(VKDL_F32, 2, s, -1, 1), t = th_from(VKDL_I32, 1, &s[0], tg, VKDL_I32);
    th_pair l = th_empty(VKDL_F32, 1, SCALAR1);
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
    TH_OK(vkdl_cross_entropy(x.cpu, t.cpu, l.cpu, &class0));
    TH_OK(vkdl_cross_entropy(x.gpu, t.gpu, l.gpu, &class0));
    if (!isnan(download1(l.cpu)) || !isnan(download1(l.gpu)))
        th_fail("ignoring class 0 of all-0 targets: loss %g (cpu), %g (gpu), expected NaN", download1(l.cpu),
                download1(l.gpu));
    th_free(&x);
    th_free(&t);
    th_free(&l);
}

/* A target outside [0, C): INVALID_ARGUMENT on the CPU; on the GPU a NaN loss and that row's
 * gradient NaN, the other rows still right. Without info, -100 is out of range too. */
static void run_ce_bad_target(void *arg)
{
    (void)arg;
    int64_t s[2] = {4, 6};
    const int32_t tg[4] = {1, 6, 0, -100};
    th_pair x = th_rand(VKDL_F32, 2, s, -1, 1), t = th_from(VKDL_I32, 1, &s[0], tg, VKDL_I32);
    th_pair l = th_empty(VKDL_F32, 1, SCALAR1), dx = th_empty(VKDL_F32, 2, s);
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
    th_free(&x);
    th_free(&t);
    th_free(&l);
    th_free(&dx);
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

    static const elem_case ELEM[] = {
        {false, 1, {1}, 3}, {false, 1, {17}, 3}, {false, 2, {127, 3}, 3}, {false, 1, {1000}, 3},
        {false, 1, {100003}, 3}, {false, 3, {3, 1000, 7}, 3}, {false, 1, {2000001}, 3},
        {true, 1, {1}, 5}, {true, 1, {17}, 5}, {true, 2, {127, 3}, 5}, {true, 1, {1000}, 5},
        {true, 1, {100003}, 30}, {true, 3, {3, 1000, 7}, 5}, {true, 1, {2000001}, 5},
    };
    for (size_t i = 0; i < VKDL_ARRAY_LEN(ELEM); i++) {
        snprintf(name, sizeof name, "%s/%zu", ELEM[i].bce ? "bce_with_logits" : "mse_loss", i);
        th_run(name, run_elem, (void *)&ELEM[i]);
    }
    static const elem_case ELEM_GRAD[] = {{false, 2, {3, 5}, 2}, {true, 2, {3, 5}, 4}};
    for (size_t i = 0; i < VKDL_ARRAY_LEN(ELEM_GRAD); i++) {
        snprintf(name, sizeof name, "%s/gradcheck", ELEM_GRAD[i].bce ? "bce_with_logits" : "mse_loss");
        th_run(name, run_elem_grad, (void *)&ELEM_GRAD[i]);
    }

    static const int64_t CE_SHAPES[][2] = {{1, 1}, {3, 17}, {17, 3}, {127, 1000}, {4096, 10}, {5, 30000}, {2, 257}, {70001, 3}};
    for (size_t i = 0; i < VKDL_ARRAY_LEN(CE_SHAPES); i++) {
        for (int k = 0; k < 4; k++) {
            ce_case c = {CE_SHAPES[i][0], CE_SHAPES[i][1], k & 1, k & 2 ? 0.1f : 0.0f, TH_V_DEFAULT, 5};
            ce_name(name, sizeof name, &c);
            th_run(name, run_ce, &c);
        }
    }
    for (int v = TH_V_DEFAULT; v < TH_V_COUNT; v++) {
        ce_case wide = {64, 1000, true, 0.05f, (enum th_variant)v, 100};
        ce_name(name, sizeof name, &wide);
        th_run(name, run_ce, &wide);
        if (v == TH_V_DEFAULT)
            continue;
        ce_case cs[] = {{3, 17, true, 0.1f, (enum th_variant)v, 5}, {127, 1000, true, 0.1f, (enum th_variant)v, 5},
                        {5, 30000, false, 0.0f, (enum th_variant)v, 5}};
        for (size_t i = 0; i < VKDL_ARRAY_LEN(cs); i++) {
            ce_name(name, sizeof name, &cs[i]);
            th_run(name, run_ce, &cs[i]);
        }
    }
    static const ce_case CE_GRAD[] = {{4, 5, false, 0, TH_V_DEFAULT, 3}, {6, 7, true, 0.2f, TH_V_DEFAULT, 3},
                                      {3, 1, false, 0.5f, TH_V_DEFAULT, 3}};
    for (size_t i = 0; i < VKDL_ARRAY_LEN(CE_GRAD); i++) {
        ce_name(name, sizeof name, &CE_GRAD[i]);
        strcat(name, " gradcheck");
        th_run(name, run_ce_grad, (void *)&CE_GRAD[i]);
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
