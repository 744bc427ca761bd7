/* The composite kernels (attention, LSTM, GRU, convolution, batch/layer norm, cross-entropy)
 * against golden fixtures from an independent implementation: PyTorch 1.13 in float64, stored as
 * f32 by tools/gen_fixtures.py in tests/data (regenerate with that script; PyTorch is not needed
 * here). Unlike the other op tests, which check the device against vkdl's own CPU twin, these
 * check both backends against PyTorch, so an error shared by the twin and the kernels shows up.
 * Each fixture runs on the CPU backend and on the device in every th_variant, so lavapipe and
 * SwiftShader also run the kernels real GPUs get ("[no cpu quirk]") and the paths without subgroup
 * arithmetic; attention_causal runs the default device path only, because lavapipe takes minutes
 * to compile the D = 64 shared-memory attention kernels without a warm pipeline cache, and
 * test_attention already checks those against the CPU twin. Every output and every gradient vkdl
 * produces is compared, forward outputs from the fixture's inputs and backward passes from
 * vkdl's own forward results (out, workspace, saved statistics), as training would use them.
 *
 * Tolerances: an element passes when |vkdl - torch| <= atol + rtol * |torch|.
 *  - TOL_FWD (atol 1e-4, rtol 1e-4): f32 arithmetic over at most a few hundred terms against a
 *    float64 reference whose inputs are exactly the stored f32 values, so only vkdl's rounding
 *    counts; values are O(1), so 1e-4 is ~1000 f32 ulps of headroom.
 *  - TOL_BWD (atol 2e-4, rtol 1e-3): the attention gradients, as in test_attention.c: dq/dk/dv sum
 *    p * (dp - D) terms that cancel, so their f32 rounding relative to the result is larger on
 *    devices that tile and reorder those sums.
 * On lavapipe and SwiftShader the largest differences are 7.6e-6 absolute (a conv dw element of
 * magnitude 5.5) and 1.4e-5 relative (elements above 1e-2): an order of magnitude of headroom. */
#include "fixture.h"
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const th_tol TOL_FWD = {1e-4, 1e-4, 0};
static const th_tol TOL_BWD = {2e-4, 1e-3, 0};

/* ------------------------------------------------------------------ per-case state */

/* Tensors of the running case, destroyed together at its end. */
static vkdl_tensor *owned[64];
static int n_owned;
static vkdl_context *cur_ctx;
static const fx_file *cur_fx;

static vkdl_tensor *track(vkdl_tensor *t)
{
    if (t && n_owned < (int)(sizeof owned / sizeof owned[0]))
        owned[n_owned++] = t;
    else if (t) {
        th_fail("too many tensors in one case");
        vkdl_tensor_destroy(t);
        t = NULL;
    }
    return t;
}

static void release_all(void)
{
    for (int i = 0; i < n_owned; i++)
        vkdl_tensor_destroy(owned[i]);
    n_owned = 0;
}

/* The fixture tensor called name; a missing one fails the case. */
static const fx_tensor *need(const char *name)
{
    const fx_tensor *t = fx_get(cur_fx, name);
    if (!t)
        th_fail("fixture has no tensor \"%s\"", name);
    return t;
}

/* A tensor of the current backend holding the fixture tensor `name` (NULL if absent). */
static vkdl_tensor *input(const char *name)
{
    const fx_tensor *f = fx_get(cur_fx, name);
    if (!f)
        return NULL;
    vkdl_tensor *t = NULL;
    if (!TH_OK(vkdl_tensor_create(cur_ctx, f->dtype, f->ndim, f->shape, &t)))
        return NULL;
    track(t);
    TH_OK(vkdl_tensor_upload(t, f->data, f->dtype, (size_t)f->numel * 4));
    return t;
}

/* An output tensor shaped like the fixture's expected tensor, NaN-filled so unwritten elements
 * fail the comparison. */
static vkdl_tensor *output_like(const char *name)
{
    const fx_tensor *f = need(name);
    vkdl_tensor *t = NULL;
    if (!f || !TH_OK(vkdl_tensor_create(cur_ctx, VKDL_F32, f->ndim, f->shape, &t)))
        return NULL;
    track(t);
    TH_OK(vkdl_tensor_fill(t, NAN));
    return t;
}

static vkdl_tensor *output_shape(int ndim, const int64_t *shape)
{
    vkdl_tensor *t = NULL;
    if (!TH_OK(vkdl_tensor_create(cur_ctx, VKDL_F32, ndim, shape, &t)))
        return NULL;
    track(t);
    TH_OK(vkdl_tensor_fill(t, NAN));
    return t;
}

static float scalar_f(const char *name)
{
    const fx_tensor *f = need(name);
    return f && f->dtype == VKDL_F32 && f->numel == 1 ? *(const float *)f->data : NAN;
}

static int scalar_i(const char *name, int i)
{
    const fx_tensor *f = need(name);
    return f && f->dtype == VKDL_I32 && f->numel > i ? ((const int32_t *)f->data)[i] : 0;
}

/* Compare vkdl's result with the fixture's `name`; logs the worst element. */
static bool check(const char *name, vkdl_tensor *got, th_tol tol)
{
    const fx_tensor *ref = need(name);
    if (!ref || !got)
        return false;
    if (vkdl_tensor_numel(got) != ref->numel || ref->dtype != VKDL_F32) {
        th_fail("%s: %lld elements, fixture has %lld", name, (long long)vkdl_tensor_numel(got),
                (long long)ref->numel);
        return false;
    }
    float *g = th_download(got);
    const float *r = ref->data;
    int64_t bad = 0, worst_i = 0;
    double worst = 0, worst_excess = -1;
    for (int64_t i = 0; g && i < ref->numel; i++) {
        double d = fabs((double)g[i] - r[i]), lim = tol.atol + tol.rtol * fabs(r[i]);
        if (!(d <= lim)) { /* NaN fails here */
            double excess = isnan(d) ? INFINITY : d / lim;
            if (!bad || excess > worst_excess)
                worst_excess = excess, worst = d, worst_i = i;
            bad++;
        }
    }
    if (bad)
        th_fail("%s: %lld of %lld elements out of tolerance; worst [%lld] vkdl %.9g torch %.9g (|diff| %.3g)", name,
                (long long)bad, (long long)ref->numel, (long long)worst_i, g[worst_i], r[worst_i], worst);
    free(g);
    return g && !bad;
}

/* ------------------------------------------------------------------ families */

static void run_attention(void)
{
    vkdl_tensor *q = input("q"), *k = input("k"), *v = input("v"), *mask = input("mask"), *dout = input("dout");
    vkdl_attention_info info = {.scale = scalar_f("scale"), .causal = scalar_i("causal", 0), .mask = mask};
    vkdl_tensor *out = output_like("out"), *lse = output_like("lse");
    vkdl_tensor *dq = output_like("dq"), *dk = output_like("dk"), *dv = output_like("dv");
    if (!TH_OK(vkdl_attention(q, k, v, out, lse, &info)))
        return;
    check("out", out, TOL_FWD);
    check("lse", lse, TOL_FWD);
    if (!TH_OK(vkdl_attention_backward(q, k, v, out, lse, dout, dq, dk, dv, &info)))
        return;
    check("dq", dq, TOL_BWD);
    check("dk", dk, TOL_BWD);
    check("dv", dv, TOL_BWD);
}

static void run_rnn(bool gru)
{
    vkdl_tensor *x = input("x"), *h0 = input("h0"), *c0 = gru ? NULL : input("c0");
    vkdl_tensor *w_ih = input("w_ih"), *w_hh = input("w_hh"), *b_ih = input("b_ih"), *b_hh = input("b_hh");
    vkdl_tensor *dout = input("dout"), *dh_n = input("dh_n"), *dc_n = gru ? NULL : input("dc_n");
    const fx_tensor *fo = need("out");
    if (!x || !fo || fo->ndim != 3)
        return;
    int64_t ws_shape[3];
    if (gru)
        vkdl_gru_workspace_shape(fo->shape[0], fo->shape[1], fo->shape[2], ws_shape);
    else
        vkdl_lstm_workspace_shape(fo->shape[0], fo->shape[1], fo->shape[2], ws_shape);
    vkdl_tensor *ws = output_shape(3, ws_shape);
    vkdl_tensor *out = output_like("out"), *h_n = output_like("h_n"), *c_n = gru ? NULL : output_like("c_n");
    vkdl_tensor *dx = output_like("dx"), *dh0 = output_like("dh0"), *dc0 = gru ? NULL : output_like("dc0");
    vkdl_tensor *dw_ih = output_like("dw_ih"), *dw_hh = output_like("dw_hh");
    vkdl_tensor *db_ih = output_like("db_ih"), *db_hh = output_like("db_hh");

    vkdl_status s = gru ? vkdl_gru(x, h0, w_ih, w_hh, b_ih, b_hh, out, h_n, ws)
                        : vkdl_lstm(x, h0, c0, w_ih, w_hh, b_ih, b_hh, out, h_n, c_n, ws);
    if (!TH_OK(s))
        return;
    check("out", out, TOL_FWD);
    check("h_n", h_n, TOL_FWD);
    if (!gru)
        check("c_n", c_n, TOL_FWD);
    s = gru ? vkdl_gru_backward(x, h0, w_ih, w_hh, out, ws, dout, dh_n, dx, dh0, dw_ih, dw_hh, db_ih, db_hh)
            : vkdl_lstm_backward(x, h0, c0, w_ih, w_hh, out, ws, dout, dh_n, dc_n, dx, dh0, dc0, dw_ih, dw_hh, db_ih,
                                 db_hh);
    if (!TH_OK(s))
        return;
    check("dx", dx, TOL_FWD);
    check("dh0", dh0, TOL_FWD);
    if (!gru)
        check("dc0", dc0, TOL_FWD);
    check("dw_ih", dw_ih, TOL_FWD);
    check("dw_hh", dw_hh, TOL_FWD);
    check("db_ih", db_ih, TOL_FWD);
    check("db_hh", db_hh, TOL_FWD);
}

static void run_lstm(void) { run_rnn(false); }
static void run_gru(void) { run_rnn(true); }

static void run_conv(void)
{
    vkdl_tensor *x = input("x"), *w = input("w"), *bias = input("bias"), *dy = input("dy");
    vkdl_conv2d_info info = {
        .stride = {scalar_i("stride", 0), scalar_i("stride", 1)},
        .padding = {scalar_i("padding", 0), scalar_i("padding", 1)},
        .dilation = {scalar_i("dilation", 0), scalar_i("dilation", 1)},
        .groups = scalar_i("groups", 0),
        .output_padding = {scalar_i("output_padding", 0), scalar_i("output_padding", 1)},
    };
    bool transpose = scalar_i("transpose", 0) != 0;
    vkdl_tensor *out = output_like("out"), *dx = output_like("dx"), *dw = output_like("dw");
    vkdl_tensor *dbias = output_like("dbias");
    if (transpose) {
        /* the gradient of a transposed convolution's input is the plain convolution of dy */
        vkdl_conv2d_info fwd = info;
        fwd.output_padding[0] = fwd.output_padding[1] = 0;
        if (TH_OK(vkdl_conv_transpose2d(x, w, bias, out, &info)))
            check("out", out, TOL_FWD);
        if (TH_OK(vkdl_conv2d(dy, w, NULL, dx, &fwd)))
            check("dx", dx, TOL_FWD);
        if (TH_OK(vkdl_conv_transpose2d_backward_weight(x, dy, dw, dbias, &info))) {
            check("dw", dw, TOL_FWD);
            check("dbias", dbias, TOL_FWD);
        }
        return;
    }
    if (TH_OK(vkdl_conv2d(x, w, bias, out, &info)))
        check("out", out, TOL_FWD);
    if (TH_OK(vkdl_conv2d_backward_data(dy, w, dx, &info)))
        check("dx", dx, TOL_FWD);
    if (TH_OK(vkdl_conv2d_backward_weight(x, dy, dw, dbias, &info))) {
        check("dw", dw, TOL_FWD);
        check("dbias", dbias, TOL_FWD);
    }
}

/* A norm's outputs and input gradients, named as in its fixture. */
typedef struct norm_out {
    vkdl_tensor *out, *save_mean, *save_rstd, *dx, *dgamma, *dbeta;
} norm_out;

static norm_out norm_outputs(void)
{
    norm_out o;
    o.out = output_like("out");
    o.save_mean = output_like("save_mean");
    o.save_rstd = output_like("save_rstd");
    o.dx = output_like("dx");
    o.dgamma = output_like("dgamma");
    o.dbeta = output_like("dbeta");
    return o;
}

/* After the forward's own outputs are checked: the statistics it saved, then the gradients of the backward
 * (whose status is s) computed from them. */
static void check_saved_and_grads(const norm_out *o, vkdl_status s)
{
    check("save_mean", o->save_mean, TOL_FWD);
    check("save_rstd", o->save_rstd, TOL_FWD);
    if (!TH_OK(s))
        return;
    check("dx", o->dx, TOL_FWD);
    check("dgamma", o->dgamma, TOL_FWD);
    check("dbeta", o->dbeta, TOL_FWD);
}

static void run_batchnorm(void)
{
    vkdl_tensor *x = input("x"), *gamma = input("gamma"), *beta = input("beta"), *dy = input("dy");
    vkdl_tensor *running_mean = input("running_mean"), *running_var = input("running_var");
    norm_out o = norm_outputs();
    if (!TH_OK(vkdl_batchnorm(x, gamma, beta, running_mean, running_var, 1, scalar_f("momentum"), scalar_f("eps"),
                              o.out, o.save_mean, o.save_rstd)))
        return;
    check("out", o.out, TOL_FWD);
    check("running_mean_after", running_mean, TOL_FWD);
    check("running_var_after", running_var, TOL_FWD);
    check_saved_and_grads(&o, vkdl_batchnorm_backward(dy, x, gamma, o.save_mean, o.save_rstd, o.dx, o.dgamma, o.dbeta));
}

static void run_layernorm(void)
{
    vkdl_tensor *x = input("x"), *gamma = input("gamma"), *beta = input("beta"), *dy = input("dy");
    norm_out o = norm_outputs();
    if (!TH_OK(vkdl_layernorm(x, gamma, beta, scalar_f("eps"), o.out, o.save_mean, o.save_rstd)))
        return;
    check("out", o.out, TOL_FWD);
    check_saved_and_grads(&o, vkdl_layernorm_backward(dy, x, gamma, o.save_mean, o.save_rstd, o.dx, o.dgamma, o.dbeta));
}

static void run_cross_entropy(void)
{
    vkdl_tensor *logits = input("logits"), *targets = input("targets");
    vkdl_cross_entropy_info info = {.use_ignore_index = 1, .ignore_index = scalar_i("ignore_index", 0),
                                    .label_smoothing = scalar_f("label_smoothing")};
    vkdl_tensor *loss = output_like("loss"), *dlogits = output_like("dlogits");
    if (TH_OK(vkdl_cross_entropy(logits, targets, loss, &info)))
        check("loss", loss, TOL_FWD);
    if (TH_OK(vkdl_cross_entropy_backward(logits, targets, scalar_f("dloss"), dlogits, &info)))
        check("dlogits", dlogits, TOL_FWD);
}

/* ------------------------------------------------------------------ cases */

typedef struct gcase {
    const char *file; /* in tests/data, without .bin */
    void (*run)(void);
    bool default_only; /* on the device, only TH_V_DEFAULT */
} gcase;

static const gcase CASES[] = {
    {"attention_basic", run_attention, false},
    {"attention_causal", run_attention, true},
    {"attention_gqa_mask", run_attention, false},
    {"lstm_small", run_lstm, false},
    {"lstm_unit", run_lstm, false},
    {"lstm_final_grads", run_lstm, false},
    {"gru_small", run_gru, false},
    {"gru_unit", run_gru, false},
    {"gru_final_grads", run_gru, false},
    {"conv2d_stride2", run_conv, false},
    {"conv2d_groups_dilation", run_conv, false},
    {"conv2d_depthwise", run_conv, false},
    {"conv_transpose2d", run_conv, false},
    {"batchnorm2d", run_batchnorm, false},
    {"batchnorm1d", run_batchnorm, false},
    {"layernorm", run_layernorm, false},
    {"cross_entropy_smooth_ignore", run_cross_entropy, false},
    {"cross_entropy_wide", run_cross_entropy, false},
};

typedef struct grun {
    const gcase *c;
    bool gpu;
    enum th_variant variant;
} grun;

static void run_golden(void *arg)
{
    const grun *r = arg;
    char name[256], path[1024], err[512];
    snprintf(name, sizeof name, "%s.bin", r->c->file);
    fx_path(name, path, sizeof path);
    fx_file *fx = fx_load(path, err, sizeof err);
    if (!fx) {
        th_fail("%s", err);
        return;
    }
    cur_fx = fx;
    th_variant_begin(r->variant);
    cur_ctx = r->gpu ? th_gpu : th_cpu;
    r->c->run();
    release_all();
    th_variant_end();
    cur_fx = NULL;
    fx_free(fx);
}

/* ------------------------------------------------------------------ the loader itself */

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n)
        th_fail("cannot write %s", path);
    if (f)
        fclose(f);
}

static void expect_rejected(const char *path, const char *what, const char *needle)
{
    char err[512] = "";
    fx_file *fx = fx_load(path, err, sizeof err);
    if (fx) {
        th_fail("%s: loaded", what);
        fx_free(fx);
    } else if (!strstr(err, needle)) {
        th_fail("%s: message \"%s\" lacks \"%s\"", what, err, needle);
    }
}

/* A real fixture loads with the expected contents; every truncation, a bad magic, a bad dtype,
 * too many dims and trailing bytes are each refused with a message. */
static void loader_checks(void *arg)
{
    (void)arg;
    char path[1024], tmp[] = "/tmp/vkdl_golden_XXXXXX";
    fx_path("lstm_unit.bin", path, sizeof path);
    FILE *f = fopen(path, "rb");
    uint8_t buf[4096];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f)
        fclose(f);
    if (!TH_TRUE(n > 12 && n < sizeof buf))
        return;
    char err[512];
    fx_file *fx = fx_load(path, err, sizeof err);
    if (!fx) {
        th_fail("%s", err);
        return;
    }
    const fx_tensor *x = fx_get(fx, "x");
    TH_TRUE(x && x->dtype == VKDL_F32 && x->ndim == 3 && x->numel == 1);
    TH_TRUE(fx_get(fx, "no such tensor") == NULL);
    TH_TRUE(fx_count(fx) > 10 && fx_at(fx, fx_count(fx)) == NULL);
    fx_free(fx);

    int fd = mkstemp(tmp);
    if (!TH_TRUE(fd >= 0))
        return;
    close(fd);
    for (size_t cut = 0; cut < n; cut++) {
        write_file(tmp, buf, cut);
        char what[64];
        snprintf(what, sizeof what, "truncated to %zu bytes", cut);
        expect_rejected(tmp, what, cut < 12 ? "" : "truncated");
    }
    uint8_t bad[4096];
    memcpy(bad, buf, n);
    bad[0] = 'X';
    write_file(tmp, bad, n);
    expect_rejected(tmp, "bad magic", "bad magic");

    /* the first tensor's header: u32 name_len at 12, then the name, dtype and ndim */
    uint32_t name_len = buf[12];
    memcpy(bad, buf, n);
    bad[16 + name_len] = 7;
    write_file(tmp, bad, n);
    expect_rejected(tmp, "bad dtype", "dtype code 7");
    memcpy(bad, buf, n);
    bad[20 + name_len] = 9;
    write_file(tmp, bad, n);
    expect_rejected(tmp, "9 dims", "9 dims");
    memcpy(bad, buf, n);
    bad[n] = 0;
    write_file(tmp, bad, n + 1);
    expect_rejected(tmp, "trailing byte", "unexpected bytes");
    expect_rejected("/nonexistent/vkdl.bin", "missing file", "cannot open");
    remove(tmp);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    th_run("golden loader", loader_checks, NULL);
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        char name[128];
        grun r = {&CASES[i], false, TH_V_DEFAULT};
        snprintf(name, sizeof name, "golden %s [cpu]", CASES[i].file);
        th_run(name, run_golden, &r);
        for (int v = 0; v < (CASES[i].default_only ? 1 : TH_V_COUNT); v++) {
            r = (grun){&CASES[i], true, (enum th_variant)v};
            snprintf(name, sizeof name, "golden %s [gpu]%s", CASES[i].file, TH_VARIANT_NAMES[v]);
            th_run(name, run_golden, &r);
        }
    }
    return th_finish();
}
