/* Batch norm, layer norm and RMS norm (lib/op_norm.c) against the CPU twin: rows from 1 to
 * 100000 long, channels over up to 10^6 elements, optional tensors absent, every way a workgroup
 * combines, inputs with a large offset (x = 1000 + noise, where E[x^2] - E[x]^2 in f32 is all
 * rounding error), the running-statistics update and eval mode checked against the formula, and
 * every backward by finite differences of the CPU forward and GPU against CPU.
 * Tolerances: TH_TOL_F32 throughout, except that dx where it is rounding noise around 0 (batch
 * norm with two values per channel, RMS norm of rows of one) drops the NMSE part. The saved mean
 * of an offset input is ~1000, where the relative part of TH_TOL_F32 covers its f32 rounding. */
#include "harness.h"
#include "runtime/runtime.h"

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

/* x: uniform [-1.5, 2.5), or 1000 + uniform [-0.01, 0.01). Not centred on 0: a saved mean near 0
 * is all cancellation, and its relative error says nothing. */
static th_pair make_x(int ndim, const int64_t *s, bool offset)
{
    return offset ? th_rand(VKDL_F32, ndim, s, 999.99f, 1000.01f) : th_rand(VKDL_F32, ndim, s, -1.5f, 2.5f);
}

/* A pair holding the CPU tensor's contents on both sides, so GPU and CPU backward start from
 * identical saved statistics. */
static th_pair mirror(vkdl_tensor *cpu)
{
    float *v = th_download(cpu);
    int64_t shape[VKDL_MAX_DIMS];
    int nd = vkdl_tensor_ndim(cpu);
    for (int i = 0; i < nd; i++)
        shape[i] = vkdl_tensor_dim(cpu, i);
    th_pair p = th_from(VKDL_F32, nd, shape, v, VKDL_F32);
    free(v);
    return p;
}

static void free_all(th_pair *p, int n)
{
    for (int i = 0; i < n; i++)
        th_free(&p[i]);
}

/* ---------------------------------------------------------------- layer norm / RMS norm */

typedef struct row_case {
    bool rms;
    int ndim;
    int64_t shape[4];
    bool gamma, beta, save;
    bool offset;
    enum th_variant variant;
} row_case;

static void row_name(const row_case *c, const char *what, char *name, size_t n)
{
    char dims[64];
    size_t used = 0;
    for (int i = 0; i < c->ndim; i++)
        used += (size_t)snprintf(dims + used, sizeof dims - used, i ? "x%lld" : "%lld", (long long)c->shape[i]);
    snprintf(name, n, "%s%s %s%s%s%s%s%s", c->rms ? "rmsnorm" : "layernorm", what, dims, c->gamma ? "" : " no-gamma",
             c->beta || c->rms ? "" : " no-beta", c->save ? "" : " no-save", c->offset ? " offset" : "",
             TH_VARIANT_NAMES[c->variant]);
}

static vkdl_status row_forward(const row_case *c, vkdl_tensor *x, vkdl_tensor *g, vkdl_tensor *b, vkdl_tensor *y,
                               vkdl_tensor *m, vkdl_tensor *r)
{
    return c->rms ? vkdl_rmsnorm(x, g, EPS, y, r) : vkdl_layernorm(x, g, b, EPS, y, m, r);
}

static void run_row_fwd(void *arg)
{
    const row_case *c = arg;
    th_variant_begin(c->variant);
    int64_t d = c->shape[c->ndim - 1], rows = numel_of(c->ndim, c->shape) / d;
    th_pair x = make_x(c->ndim, c->shape, c->offset);
    th_pair g = th_rand(VKDL_F32, 1, &d, 0.5f, 1.5f), b = th_rand(VKDL_F32, 1, &d, -0.5f, 0.5f);
    th_pair y = th_empty(VKDL_F32, c->ndim, c->shape);
    th_pair m = th_empty(VKDL_F32, 1, &rows), r = th_empty(VKDL_F32, 1, &rows);
    TH_OK(row_forward(c, x.cpu, c->gamma ? g.cpu : NULL, c->beta ? b.cpu : NULL, y.cpu, c->save ? m.cpu : NULL,
                      c->save ? r.cpu : NULL));
    TH_OK(row_forward(c, x.gpu, c->gamma ? g.gpu : NULL, c->beta ? b.gpu : NULL, y.gpu, c->save ? m.gpu : NULL,
                      c->save ? r.gpu : NULL));
    th_compare(&y, TH_TOL_F32);
    if (c->save) {
        if (!c->rms)
            th_compare(&m, TH_TOL_F32);
        th_compare(&r, TH_TOL_F32);
    }
    if (c->offset && !c->gamma && !c->beta && !c->rms && rows > 0) {
        /* The normalised rows really have mean 0 and variance var / (var + eps). */
        float *v = th_download(y.gpu), *xv = th_download(x.cpu);
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
        free(xv);
    }
    th_free(&x);
    th_free(&g);
    th_free(&b);
    th_free(&y);
    th_free(&m);
    th_free(&r);
    th_variant_end();
}

/* GPU backward against CPU backward, from the CPU forward's saved statistics. */
static void run_row_bwd(void *arg)
{
    const row_case *c = arg;
    th_variant_begin(c->variant);
    int64_t d = c->shape[c->ndim - 1], rows = numel_of(c->ndim, c->shape) / d;
    th_pair x = make_x(c->ndim, c->shape, c->offset);
    th_pair g = th_rand(VKDL_F32, 1, &d, 0.5f, 1.5f);
    th_pair dy = th_rand(VKDL_F32, c->ndim, c->shape, -1.0f, 1.0f);
    th_pair y = th_empty(VKDL_F32, c->ndim, c->shape);
    th_pair m0 = th_empty(VKDL_F32, 1, &rows), r0 = th_empty(VKDL_F32, 1, &rows);
    TH_OK(row_forward(c, x.cpu, c->gamma ? g.cpu : NULL, NULL, y.cpu, m0.cpu, r0.cpu));
    th_pair m = mirror(m0.cpu), r = mirror(r0.cpu);
    th_pair dx = th_empty(VKDL_F32, c->ndim, c->shape);
    th_pair dg = th_empty(VKDL_F32, 1, &d), db = th_empty(VKDL_F32, 1, &d);
    /* save=false here means: only dx (the row kernel alone) */
    bool sums = c->save;
    if (c->rms) {
        TH_OK(vkdl_rmsnorm_backward(dy.cpu, x.cpu, c->gamma ? g.cpu : NULL, r.cpu, dx.cpu, sums ? dg.cpu : NULL));
        TH_OK(vkdl_rmsnorm_backward(dy.gpu, x.gpu, c->gamma ? g.gpu : NULL, r.gpu, dx.gpu, sums ? dg.gpu : NULL));
    } else {
        TH_OK(vkdl_layernorm_backward(dy.cpu, x.cpu, c->gamma ? g.cpu : NULL, m.cpu, r.cpu, dx.cpu,
                                      sums ? dg.cpu : NULL, sums && c->beta ? db.cpu : NULL));
        TH_OK(vkdl_layernorm_backward(dy.gpu, x.gpu, c->gamma ? g.gpu : NULL, m.gpu, r.gpu, dx.gpu,
                                      sums ? dg.gpu : NULL, sums && c->beta ? db.gpu : NULL));
    }
    /* RMS norm of one element is sign(x) whatever its size, so dx is rounding noise around 0:
     * only the elementwise bound applies, not the relative (NMSE) one. */
    th_tol dx_tol = TH_TOL_F32;
    if (d == 1)
        dx_tol.nmse = 1;
    th_compare(&dx, dx_tol);
    if (sums) {
        th_compare(&dg, TH_TOL_F32);
        if (c->beta && !c->rms)
            th_compare(&db, TH_TOL_F32);
    }
    th_pair all[] = {x, g, dy, y, m0, r0, m, r, dx, dg, db};
    free_all(all, (int)VKDL_ARRAY_LEN(all));
    th_variant_end();
}

typedef struct row_gc {
    const row_case *c;
    vkdl_tensor *x, *g, *b;
} row_gc;

static vkdl_status row_gc_fwd(void *arg, vkdl_tensor *out)
{
    row_gc *a = arg;
    return row_forward(a->c, a->x, a->g, a->b, out, NULL, NULL);
}

/* Finite differences of the CPU forward against the CPU backward. */
static void run_row_gradcheck(void *arg)
{
    const row_case *c = arg;
    int64_t d = c->shape[c->ndim - 1], rows = numel_of(c->ndim, c->shape) / d;
    vkdl_tensor *x, *g, *b, *y, *m, *r, *dy, *dx, *dg, *db;
    th_pair px = make_x(c->ndim, c->shape, false), pg = th_rand(VKDL_F32, 1, &d, 0.5f, 1.5f);
    th_pair pb = th_rand(VKDL_F32, 1, &d, -0.5f, 0.5f), pdy = th_rand(VKDL_F32, c->ndim, c->shape, -1.0f, 1.0f);
    x = px.cpu, g = pg.cpu, b = pb.cpu, dy = pdy.cpu;
    TH_OK(vkdl_tensor_create(th_cpu, VKDL_F32, c->ndim, c->shape, &y));
    TH_OK(vkdl_tensor_create(th_cpu, VKDL_F32, c->ndim, c->shape, &dx));
    TH_OK(vkdl_tensor_create(th_cpu, VKDL_F32, 1, &rows, &m));
    TH_OK(vkdl_tensor_create(th_cpu, VKDL_F32, 1, &rows, &r));
    TH_OK(vkdl_tensor_create(th_cpu, VKDL_F32, 1, &d, &dg));
    TH_OK(vkdl_tensor_create(th_cpu, VKDL_F32, 1, &d, &db));
    row_gc a = {c, x, c->gamma ? g : NULL, c->beta && !c->rms ? b : NULL};
    TH_OK(row_forward(c, x, a.g, a.b, y, m, r));
    if (c->rms)
        TH_OK(vkdl_rmsnorm_backward(dy, x, a.g, r, dx, dg));
    else
        TH_OK(vkdl_layernorm_backward(dy, x, a.g, m, r, dx, dg, db));
    vkdl_tensor *inputs[3] = {x, a.g, a.b}, *grads[3] = {dx, a.g ? dg : NULL, a.b ? db : NULL};
    th_gradcheck(row_gc_fwd, &a, y, dy, 3, inputs, grads, 200, GC_EPS, GC_TOL);
    th_free(&px);
    th_free(&pg);
    th_free(&pb);
    th_free(&pdy);
    vkdl_tensor *t[] = {y, dx, m, r, dg, db};
    for (size_t i = 0; i < VKDL_ARRAY_LEN(t); i++)
        vkdl_tensor_destroy(t[i]);
}

static void run_row(const row_case *c)
{
    char name[200];
    row_name(c, "", name, sizeof name);
    th_run(name, run_row_fwd, (void *)c);
    row_name(c, " backward", name, sizeof name);
    th_run(name, run_row_bwd, (void *)c);
}

/* ---------------------------------------------------------------- batch norm */

typedef struct bn_case {
    int ndim;
    int64_t shape[4];
    bool gamma, beta, running, save;
    bool offset;
    enum th_variant variant;
} bn_case;

static void bn_name(const bn_case *c, const char *what, char *name, size_t n)
{
    char dims[64];
    size_t used = 0;
    for (int i = 0; i < c->ndim; i++)
        used += (size_t)snprintf(dims + used, sizeof dims - used, i ? "x%lld" : "%lld", (long long)c->shape[i]);
    snprintf(name, n, "batchnorm%s %s%s%s%s%s%s%s", what, dims, c->gamma ? "" : " no-gamma", c->beta ? "" : " no-beta",
             c->running ? "" : " no-running", c->save ? "" : " no-save", c->offset ? " offset" : "",
             TH_VARIANT_NAMES[c->variant]);
}

static void run_bn_fwd(void *arg)
{
    const bn_case *c = arg;
    th_variant_begin(c->variant);
    int64_t ch = c->shape[1];
    th_pair x = make_x(c->ndim, c->shape, c->offset);
    th_pair g = th_rand(VKDL_F32, 1, &ch, 0.5f, 1.5f), b = th_rand(VKDL_F32, 1, &ch, -0.5f, 0.5f);
    th_pair rm = th_rand(VKDL_F32, 1, &ch, -1.0f, 1.0f), rv = th_rand(VKDL_F32, 1, &ch, 0.5f, 2.0f);
    th_pair y = th_empty(VKDL_F32, c->ndim, c->shape);
    th_pair m = th_empty(VKDL_F32, 1, &ch), r = th_empty(VKDL_F32, 1, &ch);
#define BN_ARGS(s)                                                                                             \
    x.s, c->gamma ? g.s : NULL, c->beta ? b.s : NULL, c->running ? rm.s : NULL, c->running ? rv.s : NULL, 1, 0.1f, \
        EPS, y.s, c->save ? m.s : NULL, c->save ? r.s : NULL
    TH_OK(vkdl_batchnorm(BN_ARGS(cpu)));
    TH_OK(vkdl_batchnorm(BN_ARGS(gpu)));
#undef BN_ARGS
    th_compare(&y, TH_TOL_F32);
    if (c->save) {
        th_compare(&m, TH_TOL_F32);
        th_compare(&r, TH_TOL_F32);
    }
    if (c->running) {
        th_compare(&rm, TH_TOL_F32);
        th_compare(&rv, TH_TOL_F32);
    }
    th_pair all[] = {x, g, b, rm, rv, y, m, r};
    free_all(all, (int)VKDL_ARRAY_LEN(all));
    th_variant_end();
}

static void run_bn_bwd(void *arg)
{
    const bn_case *c = arg;
    th_variant_begin(c->variant);
    int64_t ch = c->shape[1];
    th_pair x = make_x(c->ndim, c->shape, c->offset);
    th_pair g = th_rand(VKDL_F32, 1, &ch, 0.5f, 1.5f);
    th_pair dy = th_rand(VKDL_F32, c->ndim, c->shape, -1.0f, 1.0f);
    th_pair y = th_empty(VKDL_F32, c->ndim, c->shape);
    th_pair m0 = th_empty(VKDL_F32, 1, &ch), r0 = th_empty(VKDL_F32, 1, &ch);
    TH_OK(vkdl_batchnorm(x.cpu, g.cpu, NULL, NULL, NULL, 1, 0.1f, EPS, y.cpu, m0.cpu, r0.cpu));
    th_pair m = mirror(m0.cpu), r = mirror(r0.cpu);
    th_pair dx = th_empty(VKDL_F32, c->ndim, c->shape);
    th_pair dg = th_empty(VKDL_F32, 1, &ch), db = th_empty(VKDL_F32, 1, &ch);
    /* gamma/beta flags here pick which of gamma, dgamma and dbeta take part; save=false drops dx */
#define BN_BWD_ARGS(s)                                                                                          \
    dy.s, x.s, c->gamma ? g.s : NULL, m.s, r.s, c->save ? dx.s : NULL, c->gamma ? dg.s : NULL, c->beta ? db.s : NULL
    TH_OK(vkdl_batchnorm_backward(BN_BWD_ARGS(cpu)));
    TH_OK(vkdl_batchnorm_backward(BN_BWD_ARGS(gpu)));
#undef BN_BWD_ARGS
    /* With two values per channel the normalised output is +-1 whatever x is, so dx is rounding
     * noise around 0: only the elementwise bound applies, not the relative (NMSE) one. */
    th_tol dx_tol = TH_TOL_F32;
    if (numel_of(c->ndim, c->shape) / ch <= 2)
        dx_tol.nmse = 1;
    if (c->save)
        th_compare(&dx, dx_tol);
    if (c->gamma)
        th_compare(&dg, TH_TOL_F32);
    if (c->beta)
        th_compare(&db, TH_TOL_F32);
    th_pair all[] = {x, g, dy, y, m0, r0, m, r, dx, dg, db};
    free_all(all, (int)VKDL_ARRAY_LEN(all));
    th_variant_end();
}

static void run_bn(const bn_case *c)
{
    char name[200];
    bn_name(c, "", name, sizeof name);
    th_run(name, run_bn_fwd, (void *)c);
    bn_name(c, " backward", name, sizeof name);
    th_run(name, run_bn_bwd, (void *)c);
}

typedef struct bn_gc {
    vkdl_tensor *x, *g, *b;
} bn_gc;

static vkdl_status bn_gc_fwd(void *arg, vkdl_tensor *out)
{
    bn_gc *a = arg;
    return vkdl_batchnorm(a->x, a->g, a->b, NULL, NULL, 1, 0.1f, EPS, out, NULL, NULL);
}

static void run_bn_gradcheck(void *arg)
{
    const bn_case *c = arg;
    int64_t ch = c->shape[1];
    th_pair px = make_x(c->ndim, c->shape, false), pg = th_rand(VKDL_F32, 1, &ch, 0.5f, 1.5f);
    th_pair pb = th_rand(VKDL_F32, 1, &ch, -0.5f, 0.5f), pdy = th_rand(VKDL_F32, c->ndim, c->shape, -1.0f, 1.0f);
    vkdl_tensor *y, *m, *r, *dx, *dg, *db;
    TH_OK(vkdl_tensor_create(th_cpu, VKDL_F32, c->ndim, c->shape, &y));
    TH_OK(vkdl_tensor_create(th_cpu, VKDL_F32, c->ndim, c->shape, &dx));
    TH_OK(vkdl_tensor_create(th_cpu, VKDL_F32, 1, &ch, &m));
    TH_OK(vkdl_tensor_create(th_cpu, VKDL_F32, 1, &ch, &r));
    TH_OK(vkdl_tensor_create(th_cpu, VKDL_F32, 1, &ch, &dg));
    TH_OK(vkdl_tensor_create(th_cpu, VKDL_F32, 1, &ch, &db));
    bn_gc a = {px.cpu, c->gamma ? pg.cpu : NULL, c->beta ? pb.cpu : NULL};
    TH_OK(vkdl_batchnorm(a.x, a.g, a.b, NULL, NULL, 1, 0.1f, EPS, y, m, r));
    TH_OK(vkdl_batchnorm_backward(pdy.cpu, a.x, a.g, m, r, dx, dg, db));
    vkdl_tensor *inputs[3] = {a.x, a.g, a.b}, *grads[3] = {dx, a.g ? dg : NULL, a.b ? db : NULL};
    th_gradcheck(bn_gc_fwd, &a, y, pdy.cpu, 3, inputs, grads, 200, GC_EPS, GC_TOL);
    th_free(&px);
    th_free(&pg);
    th_free(&pb);
    th_free(&pdy);
    vkdl_tensor *t[] = {y, dx, m, r, dg, db};
    for (size_t i = 0; i < VKDL_ARRAY_LEN(t); i++)
        vkdl_tensor_destroy(t[i]);
}

/* Training updates running stats with the unbiased variance; eval normalises with them. Both
 * backends against the formula, in double from the inputs. */
static void run_bn_running(void *arg)
{
    (void)arg;
    const int64_t s[4] = {3, 5, 4, 3}, ch = 5, per = 3 * 4 * 3, hw = 12;
    const float mom = 0.25f;
    th_pair x = th_rand(VKDL_F32, 4, s, -3.0f, 5.0f);
    th_pair rm = th_rand(VKDL_F32, 1, &ch, -1.0f, 1.0f), rv = th_rand(VKDL_F32, 1, &ch, 0.5f, 2.0f);
    th_pair g = th_rand(VKDL_F32, 1, &ch, 0.5f, 1.5f), b = th_rand(VKDL_F32, 1, &ch, -0.5f, 0.5f);
    th_pair y = th_empty(VKDL_F32, 4, s), ye = th_empty(VKDL_F32, 4, s);
    float *xv = th_download(x.cpu), *rm0 = th_download(rm.cpu), *rv0 = th_download(rv.cpu);
    float *gv = th_download(g.cpu), *bv = th_download(b.cpu);
    double want_m[5], want_v[5];
    for (int c = 0; c < ch; c++) {
        double mu = 0, m2 = 0;
        for (int n = 0; n < 3; n++)
            for (int k = 0; k < hw; k++)
                mu += xv[(n * ch + c) * hw + k];
        mu /= per;
        for (int n = 0; n < 3; n++)
            for (int k = 0; k < hw; k++)
                m2 += (xv[(n * ch + c) * hw + k] - mu) * (xv[(n * ch + c) * hw + k] - mu);
        want_m[c] = (1 - mom) * rm0[c] + mom * mu;
        want_v[c] = (1 - mom) * rv0[c] + mom * m2 / (per - 1);
    }
    for (int side = 0; side < 2; side++) {
        vkdl_tensor *X = side ? x.gpu : x.cpu, *RM = side ? rm.gpu : rm.cpu, *RV = side ? rv.gpu : rv.cpu;
        vkdl_tensor *G = side ? g.gpu : g.cpu, *B = side ? b.gpu : b.cpu;
        TH_OK(vkdl_batchnorm(X, G, B, RM, RV, 1, mom, EPS, side ? y.gpu : y.cpu, NULL, NULL));
        float *gm = th_download(RM), *gvv = th_download(RV);
        for (int c = 0; c < ch; c++)
            if (fabs(gm[c] - want_m[c]) > 1e-5 * (1 + fabs(want_m[c])) ||
                fabs(gvv[c] - want_v[c]) > 1e-5 * (1 + fabs(want_v[c])))
                th_fail("%s channel %d: running mean %.7g var %.7g, want %.7g %.7g", side ? "gpu" : "cpu", c, gm[c],
                        gvv[c], want_m[c], want_v[c]);
        /* eval with the updated statistics */
        TH_OK(vkdl_batchnorm(X, G, B, RM, RV, 0, mom, EPS, side ? ye.gpu : ye.cpu, NULL, NULL));
        float *ev = th_download(side ? ye.gpu : ye.cpu);
        for (int64_t i = 0; i < 3 * ch * hw; i++) {
            int c = (int)((i / hw) % ch);
            double want = (xv[i] - gm[c]) / sqrt((double)gvv[c] + EPS) * gv[c] + bv[c];
            if (fabs(ev[i] - want) > 1e-5 * (1 + fabs(want))) {
                th_fail("%s eval [%lld]: %.7g, want %.7g", side ? "gpu" : "cpu", (long long)i, ev[i], want);
                break;
            }
        }
        free(gm);
        free(gvv);
        free(ev);
    }
    th_compare(&ye, TH_TOL_F32);
    free(xv);
    free(rm0);
    free(rv0);
    free(gv);
    free(bv);
    th_pair all[] = {x, rm, rv, g, b, y, ye};
    free_all(all, (int)VKDL_ARRAY_LEN(all));
}

/* Eval mode on odd shapes, with and without gamma/beta; save_* stay untouched. */
static void run_bn_eval(void *arg)
{
    const bn_case *c = arg;
    th_variant_begin(c->variant);
    int64_t ch = c->shape[1];
    th_pair x = make_x(c->ndim, c->shape, c->offset);
    th_pair g = th_rand(VKDL_F32, 1, &ch, 0.5f, 1.5f), b = th_rand(VKDL_F32, 1, &ch, -0.5f, 0.5f);
    th_pair rm = th_rand(VKDL_F32, 1, &ch, -1.0f, 1.0f), rv = th_rand(VKDL_F32, 1, &ch, 0.0f, 2.0f);
    th_pair y = th_empty(VKDL_F32, c->ndim, c->shape), m = th_rand(VKDL_F32, 1, &ch, 7.0f, 8.0f);
    TH_OK(vkdl_batchnorm(x.cpu, c->gamma ? g.cpu : NULL, c->beta ? b.cpu : NULL, rm.cpu, rv.cpu, 0, 0.1f, EPS, y.cpu,
                         m.cpu, NULL));
    TH_OK(vkdl_batchnorm(x.gpu, c->gamma ? g.gpu : NULL, c->beta ? b.gpu : NULL, rm.gpu, rv.gpu, 0, 0.1f, EPS, y.gpu,
                         m.gpu, NULL));
    th_compare(&y, TH_TOL_F32);
    th_compare(&m, TH_TOL_EXACT);
    th_compare(&rm, TH_TOL_EXACT);
    th_compare(&rv, TH_TOL_EXACT);
    th_pair all[] = {x, g, b, rm, rv, y, m};
    free_all(all, (int)VKDL_ARRAY_LEN(all));
    th_variant_end();
}

/* Views at element offsets that are not multiples of the descriptor alignment. */
static void run_views(void *arg)
{
    (void)arg;
    int64_t s[2] = {9, 37}, d = 37, v = 13;
    th_pair xb = th_rand(VKDL_F32, 2, s, -2.0f, 2.0f), yb = th_rand(VKDL_F32, 2, s, -2.0f, 2.0f);
    th_pair g = th_rand(VKDL_F32, 1, &d, 0.5f, 1.5f), rb = th_rand(VKDL_F32, 1, &v, -2.0f, 2.0f);
    th_pair x, y, r;
    TH_OK(vkdl_tensor_slice(xb.cpu, 3, 8, &x.cpu));
    TH_OK(vkdl_tensor_slice(xb.gpu, 3, 8, &x.gpu));
    TH_OK(vkdl_tensor_slice(yb.cpu, 1, 6, &y.cpu));
    TH_OK(vkdl_tensor_slice(yb.gpu, 1, 6, &y.gpu));
    TH_OK(vkdl_tensor_slice(rb.cpu, 5, 10, &r.cpu));
    TH_OK(vkdl_tensor_slice(rb.gpu, 5, 10, &r.gpu));
    TH_OK(vkdl_layernorm(x.cpu, g.cpu, NULL, EPS, y.cpu, NULL, r.cpu));
    TH_OK(vkdl_layernorm(x.gpu, g.gpu, NULL, EPS, y.gpu, NULL, r.gpu));
    th_free(&x);
    th_free(&y);
    th_free(&r);
    /* the elements around the views are untouched */
    th_compare(&yb, TH_TOL_F32);
    th_compare(&rb, TH_TOL_F32);
    th_pair all[] = {xb, yb, g, rb};
    free_all(all, (int)VKDL_ARRAY_LEN(all));
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
    free_all(all, (int)VKDL_ARRAY_LEN(all));
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

    TH_STATUS(vkdl_batchnorm(NULL, NULL, NULL, NULL, NULL, 1, 0.1f, EPS, y, NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT,
              "batchnorm: x is NULL");
    TH_STATUS(vkdl_batchnorm(x, NULL, NULL, NULL, NULL, 1, 0.1f, EPS, NULL, NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT,
              "out is NULL");
    TH_STATUS(vkdl_batchnorm(xi, NULL, NULL, NULL, NULL, 1, 0.1f, EPS, y, NULL, NULL), VKDL_ERROR_DTYPE_MISMATCH,
              "x is i32, expected f32");
    TH_STATUS(vkdl_batchnorm(x, c4, NULL, NULL, NULL, 1, 0.1f, EPS, y, NULL, NULL), VKDL_ERROR_SHAPE_MISMATCH,
              "gamma is 4, expected [3] (the channels of x 2x3x4x4)");
    TH_STATUS(vkdl_batchnorm(x, NULL, NULL, c3, c4, 1, 0.1f, EPS, y, NULL, NULL), VKDL_ERROR_SHAPE_MISMATCH,
              "running_var is 4");
    TH_STATUS(vkdl_batchnorm(x, NULL, NULL, NULL, NULL, 1, 0.1f, EPS, y1, NULL, NULL), VKDL_ERROR_SHAPE_MISMATCH,
              "2x3x4x4 vs 1x3x1x1");
    TH_STATUS(vkdl_batchnorm(x, NULL, NULL, NULL, NULL, 0, 0.1f, EPS, y, NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT,
              "eval mode needs running_mean and running_var");
    TH_STATUS(vkdl_batchnorm(x1, NULL, NULL, NULL, NULL, 1, 0.1f, EPS, y1, NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT,
              "more than one value per channel");
    TH_STATUS(vkdl_batchnorm(x5, NULL, NULL, NULL, NULL, 1, 0.1f, EPS, x5, NULL, NULL), VKDL_ERROR_SHAPE_MISMATCH,
              "expected [N, C]");
    TH_STATUS(vkdl_batchnorm(x, NULL, NULL, NULL, NULL, 1, 0.1f, -1.0f, y, NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT,
              "eps is -1");
    TH_STATUS(vkdl_batchnorm(x, NULL, NULL, NULL, NULL, 1, NAN, EPS, y, NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT,
              "momentum");
    TH_STATUS(vkdl_batchnorm(xc, NULL, NULL, NULL, NULL, 1, 0.1f, EPS, y, NULL, NULL), VKDL_ERROR_CONTEXT_MISMATCH,
              NULL);
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
    for (size_t i = 0; i < VKDL_ARRAY_LEN(t); i++)
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

    /* layer norm and RMS norm */
    static const row_case rows[] = {
        {.ndim = 2, .shape = {1, 1}, .gamma = true, .beta = true, .save = true},
        {.ndim = 2, .shape = {3, 17}, .gamma = true, .beta = true, .save = true},
        {.ndim = 2, .shape = {17, 127}, .gamma = true, .beta = true, .save = true},
        {.ndim = 3, .shape = {2, 3, 1000}, .gamma = true, .beta = true, .save = true},
        {.ndim = 2, .shape = {2, 100000}, .gamma = true, .beta = true, .save = true},
        {.ndim = 2, .shape = {3000, 3}, .gamma = true, .beta = true, .save = true},
        {.ndim = 1, .shape = {255}, .gamma = false, .beta = true, .save = false},
        {.ndim = 2, .shape = {5, 33}, .gamma = true, .beta = false, .save = true},
        {.ndim = 2, .shape = {7, 100}, .gamma = false, .beta = false, .save = true},
        {.ndim = 2, .shape = {7, 1000}, .gamma = false, .beta = false, .save = true, .offset = true},
        {.ndim = 2, .shape = {2, 100000}, .gamma = false, .beta = false, .save = true, .offset = true},
    };
    for (int rms = 0; rms < 2; rms++)
        for (size_t i = 0; i < VKDL_ARRAY_LEN(rows); i++) {
            row_case c = rows[i];
            c.rms = rms;
            run_row(&c);
        }
    static const row_case row_variants[] = {
        {.ndim = 2, .shape = {3, 17}, .gamma = true, .beta = true, .save = true},
        {.ndim = 2, .shape = {5, 3000}, .gamma = true, .beta = true, .save = true, .offset = true},
    };
    for (int v = TH_V_NO_CPU_QUIRK; v < TH_V_COUNT; v++)
        for (int rms = 0; rms < 2; rms++)
            for (size_t i = 0; i < VKDL_ARRAY_LEN(row_variants); i++) {
                row_case c = row_variants[i];
                c.rms = rms;
                c.variant = (enum th_variant)v;
                run_row(&c);
            }
    static const row_case row_gcs[] = {
        {.ndim = 2, .shape = {3, 7}, .gamma = true, .beta = true},
        {.ndim = 2, .shape = {2, 1}, .gamma = true, .beta = true},
        {.ndim = 3, .shape = {2, 2, 5}, .gamma = false, .beta = false},
    };
    for (int rms = 0; rms < 2; rms++)
        for (size_t i = 0; i < VKDL_ARRAY_LEN(row_gcs); i++) {
            row_case c = row_gcs[i];
            c.rms = rms;
            char name[200];
            row_name(&c, " gradcheck", name, sizeof name);
            th_run(name, run_row_gradcheck, &c);
        }

    /* batch norm */
    static const bn_case bns[] = {
        {.ndim = 4, .shape = {3, 17, 7, 7}, .gamma = true, .beta = true, .running = true, .save = true},
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
    };
    for (size_t i = 0; i < VKDL_ARRAY_LEN(bns); i++)
        run_bn(&bns[i]);
    static const bn_case bn_variants[] = {
        {.ndim = 4, .shape = {3, 17, 7, 7}, .gamma = true, .beta = true, .running = true, .save = true},
        {.ndim = 4, .shape = {4, 3, 17, 17}, .gamma = true, .beta = true, .running = true, .save = true,
         .offset = true},
    };
    for (int v = TH_V_NO_CPU_QUIRK; v < TH_V_COUNT; v++)
        for (size_t i = 0; i < VKDL_ARRAY_LEN(bn_variants); i++) {
            bn_case c = bn_variants[i];
            c.variant = (enum th_variant)v;
            run_bn(&c);
        }
    static const bn_case bn_gcs[] = {
        {.ndim = 4, .shape = {3, 2, 2, 3}, .gamma = true, .beta = true},
        {.ndim = 2, .shape = {5, 3}, .gamma = true, .beta = true},
        {.ndim = 4, .shape = {2, 2, 1, 3}, .gamma = false, .beta = false},
    };
    for (size_t i = 0; i < VKDL_ARRAY_LEN(bn_gcs); i++) {
        char name[200];
        bn_name(&bn_gcs[i], " gradcheck", name, sizeof name);
        th_run(name, run_bn_gradcheck, (void *)&bn_gcs[i]);
    }
    for (size_t i = 0; i < 6; i++) {
        char name[200];
        bn_case c = bns[i];
        c.gamma = c.beta = i % 2 == 0;
        bn_name(&c, " eval", name, sizeof name);
        th_run(name, run_bn_eval, &c);
    }
    th_run("batchnorm running statistics and eval against the formula", run_bn_running, NULL);
    th_run("batchnorm without running statistics", run_bn_untracked, NULL);
    th_run("views at offsets", run_views, NULL);
    th_run("empty batches", run_empty, NULL);
    th_run("bad arguments", run_bad, NULL);
    return th_finish();
}
