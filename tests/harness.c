/* The shared op-test harness: see harness.h. */
#include "harness.h"
#include "runtime/runtime.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

vkdl_context *th_cpu, *th_gpu;

/* Documented in tests/README.md. */
const th_tol TH_TOL_F32 = {1e-5, 1e-4, 1e-9};
const th_tol TH_TOL_GEMM = {1e-4, 1e-4, 1e-10};
const th_tol TH_TOL_F16 = {2e-3, 2e-3, 1e-6};
const th_tol TH_TOL_BF16 = {1e-2, 1e-2, 1e-4};
const th_tol TH_TOL_EXACT = {0, 0, 0};

const vkdl_dtype TH_ALL_DTYPES[5] = {VKDL_F32, VKDL_F16, VKDL_BF16, VKDL_I32, VKDL_U8};

static int n_pass, n_fail, n_skip;
static bool case_failed, case_skipped;
static const char *filter;
static bool perf;
static uint64_t rng;

uint64_t th_mix(uint64_t *s)
{
    /* splitmix64: tiny, good enough for test data, identical everywhere */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

float th_urand(uint64_t *s, float lo, float hi)
{
    return lo + (hi - lo) * (float)((th_mix(s) >> 40) * (1.0 / 16777216.0));
}

float th_randf(float lo, float hi) { return th_urand(&rng, lo, hi); }
uint32_t th_randu(uint32_t n) { return n ? (uint32_t)(th_mix(&rng) % n) : 0; }

vkdl_context *th_ctx_of(int b) { return b ? th_gpu : th_cpu; }
const char *const TH_BACKEND[2] = {"cpu", "gpu"};

static void say(const char *prefix, const char *fmt, va_list ap)
{
    fprintf(stdout, "    %s", prefix);
    vfprintf(stdout, fmt, ap);
    fprintf(stdout, "\n");
}

void th_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say("", fmt, ap);
    va_end(ap);
    case_failed = true;
}

void th_skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say("skipped: ", fmt, ap);
    va_end(ap);
    case_skipped = true;
}

bool th_expect_ok(vkdl_status s, const char *expr, const char *file, int line)
{
    if (s == VKDL_OK)
        return true;
    th_fail("%s:%d: %s -> %s: %s", file, line, expr, vkdl_status_string(s), vkdl_last_error());
    return false;
}

bool th_expect_status(vkdl_status s, vkdl_status want, const char *needle, const char *expr, const char *file, int line)
{
    if (s != want) {
        th_fail("%s:%d: %s -> %s (want %s): %s", file, line, expr, vkdl_status_string(s), vkdl_status_string(want),
                vkdl_last_error());
        return false;
    }
    if (needle && !strstr(vkdl_last_error(), needle)) {
        th_fail("%s:%d: %s: message \"%s\" lacks \"%s\"", file, line, expr, vkdl_last_error(), needle);
        return false;
    }
    return true;
}

static void must(vkdl_status s, const char *what)
{
    if (s != VKDL_OK) {
        th_fail("%s: %s: %s", what, vkdl_status_string(s), vkdl_last_error());
    }
}

static th_pair make(vkdl_dtype dtype, int ndim, const int64_t *shape)
{
    th_pair p = {0};
    must(vkdl_tensor_create(th_cpu, dtype, ndim, shape, &p.cpu), "create cpu tensor");
    must(vkdl_tensor_create(th_gpu, dtype, ndim, shape, &p.gpu), "create gpu tensor");
    return p;
}

th_pair th_from(vkdl_dtype dtype, int ndim, const int64_t *shape, const void *data, vkdl_dtype data_dtype)
{
    th_pair p = make(dtype, ndim, shape);
    if (!p.cpu || !p.gpu)
        return p;
    size_t bytes = (size_t)vkdl_tensor_numel(p.cpu) * vkdl_dtype_size(data_dtype);
    must(vkdl_tensor_upload(p.cpu, data, data_dtype, bytes), "upload cpu");
    must(vkdl_tensor_upload(p.gpu, data, data_dtype, bytes), "upload gpu");
    return p;
}

th_pair th_rand(vkdl_dtype dtype, int ndim, const int64_t *shape, float lo, float hi)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++)
        v[i] = th_randf(lo, hi);
    /* Integer dtypes get integers; the conversion rounds toward zero. */
    th_pair p = th_from(dtype, ndim, shape, v, VKDL_F32);
    free(v);
    return p;
}

th_pair th_empty(vkdl_dtype dtype, int ndim, const int64_t *shape)
{
    th_pair p = make(dtype, ndim, shape);
    if (p.cpu && p.gpu && (dtype == VKDL_F32 || dtype == VKDL_F16 || dtype == VKDL_BF16)) {
        must(vkdl_tensor_fill(p.cpu, NAN), "fill cpu");
        must(vkdl_tensor_fill(p.gpu, NAN), "fill gpu");
    } else if (p.cpu && p.gpu) {
        must(vkdl_tensor_fill(p.cpu, -7), "fill cpu");
        must(vkdl_tensor_fill(p.gpu, -7), "fill gpu");
    }
    return p;
}

void th_free(th_pair *p)
{
    vkdl_tensor_destroy(p->cpu);
    vkdl_tensor_destroy(p->gpu);
    p->cpu = p->gpu = NULL;
}

th_pair th_slice(const th_pair *base, int64_t start, int64_t end)
{
    th_pair v = {NULL, NULL};
    TH_OK(vkdl_tensor_slice(base->cpu, start, end, &v.cpu));
    TH_OK(vkdl_tensor_slice(base->gpu, start, end, &v.gpu));
    return v;
}

bool th_compare(const th_pair *p, th_tol tol)
{
    if (!p->cpu || !p->gpu) {
        th_fail("compare: missing tensor");
        return false;
    }
    size_t n = (size_t)vkdl_tensor_numel(p->cpu);
    double *c = malloc((n ? n : 1) * sizeof *c), *g = malloc((n ? n : 1) * sizeof *g);
    float *tmp = malloc((n ? n : 1) * sizeof *tmp);
    bool ok = c && g && tmp;
    if (ok && n) {
        ok = th_expect_ok(vkdl_tensor_download(p->cpu, tmp, VKDL_F32, n * 4), "download cpu", __FILE__, __LINE__);
        for (size_t i = 0; ok && i < n; i++)
            c[i] = tmp[i];
        ok = ok && th_expect_ok(vkdl_tensor_download(p->gpu, tmp, VKDL_F32, n * 4), "download gpu", __FILE__, __LINE__);
        for (size_t i = 0; ok && i < n; i++)
            g[i] = tmp[i];
    }
    if (ok) {
        double err2 = 0, ref2 = 0, worst = 0;
        size_t worst_i = 0, bad = 0;
        for (size_t i = 0; i < n; i++) {
            double d = fabs(g[i] - c[i]);
            bool same_special = (isnan(c[i]) && isnan(g[i])) || (isinf(c[i]) && c[i] == g[i]);
            if (same_special)
                continue;
            if (!(d <= tol.atol + tol.rtol * fabs(c[i]))) { /* NaN in g fails here */
                if (bad == 0 || !(d <= worst))
                    worst = d, worst_i = i;
                bad++;
            }
            if (isfinite(d)) {
                err2 += d * d;
                ref2 += c[i] * c[i];
            }
        }
        /* errors at the atol level are tolerated even where the reference is ~0 */
        double nmse = err2 / (ref2 + (double)n * tol.atol * tol.atol + 1e-300);
        if (bad || nmse > tol.nmse) {
            th_fail("mismatch: %zu of %zu elements out of tolerance; worst [%zu] gpu %.9g cpu %.9g; nmse %.3g (max %.3g)",
                    bad, n, worst_i, g[worst_i], c[worst_i], nmse, tol.nmse);
            ok = false;
        }
    }
    free(c);
    free(g);
    free(tmp);
    return ok;
}

float *th_download(const vkdl_tensor *t)
{
    size_t n = (size_t)vkdl_tensor_numel(t);
    float *v = malloc((n ? n : 1) * sizeof *v);
    if (v && n)
        th_expect_ok(vkdl_tensor_download((vkdl_tensor *)t, v, VKDL_F32, n * sizeof *v), "th_download", __FILE__, __LINE__);
    return v;
}

/* sum(out * w) in double, from a download of out. */
static double weighted_sum(vkdl_tensor *out, const float *w)
{
    size_t n = (size_t)vkdl_tensor_numel(out);
    float *o = th_download(out);
    double l = 0;
    for (size_t i = 0; i < n; i++)
        l += (double)o[i] * w[i];
    free(o);
    return l;
}

/* The loss at the current inputs: recomputes the forward; clears *ok when it fails. */
typedef double (*loss_fn)(void *arg, bool *ok);

static bool gradcheck_loss(loss_fn loss, void *arg, int n_inputs, vkdl_tensor *const *inputs,
                           vkdl_tensor *const *grads, int max_checks, double eps, double tol)
{
    bool ok = true;
    for (int t = 0; t < n_inputs && ok; t++) {
        vkdl_tensor *x = inputs[t];
        if (!x || !grads[t])
            continue;
        size_t n = (size_t)vkdl_tensor_numel(x);
        float *xv = th_download(x), *g = th_download(grads[t]);
        size_t checks = n <= (size_t)max_checks ? n : (size_t)max_checks;
        int bad = 0;
        for (size_t c = 0; c < checks && ok; c++) {
            size_t i = n <= (size_t)max_checks ? c : th_randu((uint32_t)n);
            float orig = xv[i];
            xv[i] = orig + (float)eps;
            vkdl_tensor_upload(x, xv, VKDL_F32, n * sizeof *xv);
            double lp = loss(arg, &ok);
            xv[i] = orig - (float)eps;
            vkdl_tensor_upload(x, xv, VKDL_F32, n * sizeof *xv);
            double lm = loss(arg, &ok);
            xv[i] = orig;
            vkdl_tensor_upload(x, xv, VKDL_F32, n * sizeof *xv);
            /* the step actually taken, after rounding x +- eps to f32 */
            double h = ((double)(orig + (float)eps) - (double)(orig - (float)eps));
            double fd = (lp - lm) / h, an = g[i];
            double scale = fmax(1.0, fmax(fabs(fd), fabs(an)));
            if (!(fabs(fd - an) <= tol * scale)) {
                if (bad++ < 5)
                    th_fail("gradcheck: input %d element %zu: finite difference %.7g, backward %.7g", t, i, fd, an);
                ok = false;
            }
        }
        free(xv);
        free(g);
    }
    /* leave the outputs consistent with the unperturbed inputs */
    if (ok)
        loss(arg, &ok);
    return ok;
}

typedef struct one_out_loss {
    th_fwd_fn fwd;
    void *arg;
    vkdl_tensor *out;
    const float *w;
} one_out_loss;

static double one_out(void *arg, bool *ok)
{
    one_out_loss *a = arg;
    if (!th_expect_ok(a->fwd(a->arg, a->out), "gradcheck forward", __FILE__, __LINE__)) {
        *ok = false;
        return 0;
    }
    return weighted_sum(a->out, a->w);
}

bool th_gradcheck(th_fwd_fn fwd, void *arg, vkdl_tensor *out, const vkdl_tensor *dout, int n_inputs,
                  vkdl_tensor *const *inputs, vkdl_tensor *const *grads, int max_checks, double eps, double tol)
{
    float *w = th_download(dout);
    one_out_loss a = {fwd, arg, out, w};
    bool ok = gradcheck_loss(one_out, &a, n_inputs, inputs, grads, max_checks, eps, tol);
    free(w);
    return ok;
}

const char *const TH_VARIANT_NAMES[TH_V_COUNT] = {"", " [no cpu quirk]", " [no subgroup ops]"};

/* Contexts made with extra environment switches, by the switches' values. */
typedef struct env_ctx {
    char *disable, *limit;
    vkdl_context *ctx;
} env_ctx;
static env_ctx env_ctxs[8];
static int n_env_ctxs;
static vkdl_context *th_gpu_default;

static bool same_str(const char *a, const char *b) { return a == b || (a && b && strcmp(a, b) == 0); }

/* Set name to what the run was given plus extra (comma-joined); returns the run's value to restore. */
static char *env_add(const char *name, const char *extra)
{
    const char *old = getenv(name);
    char *saved = old ? strdup(old) : NULL;
    if (!extra)
        return saved;
    char joined[512];
    snprintf(joined, sizeof joined, "%s%s%s", old ? old : "", old && *old ? "," : "", extra);
    setenv(name, joined, 1);
    return saved;
}

static void env_put_back(const char *name, char *saved)
{
    if (saved)
        setenv(name, saved, 1);
    else
        unsetenv(name);
    free(saved);
}

static vkdl_context *gpu_context_create(void)
{
    vkdl_context_create_info ci = {.backend = VKDL_BACKEND_VULKAN, .flags = VKDL_CONTEXT_VALIDATE};
    vkdl_context *c = NULL;
    return vkdl_context_create(&ci, &c) == VKDL_OK ? c : NULL;
}

static vkdl_context *env_context(const char *disable, const char *limit)
{
    if (!disable && !limit)
        return th_gpu_default;
    for (int i = 0; i < n_env_ctxs; i++)
        if (same_str(env_ctxs[i].disable, disable) && same_str(env_ctxs[i].limit, limit))
            return env_ctxs[i].ctx;
    if (n_env_ctxs == (int)(sizeof env_ctxs / sizeof env_ctxs[0])) {
        th_fail("more than %d environment variants", n_env_ctxs);
        return NULL;
    }
    char *saved_disable = env_add("VKDL_DISABLE", disable), *saved_limit = env_add("VKDL_LIMIT", limit);
    vkdl_context *c = gpu_context_create();
    env_put_back("VKDL_DISABLE", saved_disable);
    env_put_back("VKDL_LIMIT", saved_limit);
    if (!c) {
        th_fail("context with VKDL_DISABLE+=%s VKDL_LIMIT+=%s: %s", disable ? disable : "", limit ? limit : "",
                vkdl_last_error());
        return NULL;
    }
    env_ctxs[n_env_ctxs++] = (env_ctx){disable ? strdup(disable) : NULL, limit ? strdup(limit) : NULL, c};
    return c;
}

void th_env_begin(const char *disable, const char *limit)
{
    vkdl_context *c = env_context(disable, limit);
    th_gpu = c ? c : th_gpu_default;
}

void th_env_end(void) { th_gpu = th_gpu_default; }

static const char *const VARIANT_DISABLE[TH_V_COUNT] = {NULL, "cpu_quirk", "cpu_quirk,subgroup"};

void th_variant_begin(enum th_variant v) { th_env_begin(VARIANT_DISABLE[v], NULL); }

void th_variant_end(void) { th_env_end(); }

/* Every Vulkan context of the run: the default one, then the variants made so far. */
static vkdl_context *gpu_context(int i) { return i == 0 ? th_gpu_default : env_ctxs[i - 1].ctx; }
static int n_gpu_contexts(void) { return 1 + n_env_ctxs; }

static uint64_t validation_messages(void)
{
    uint64_t n = 0;
    for (int i = 0; i < n_gpu_contexts(); i++)
        n += vkdl_context_validation_messages(gpu_context(i));
    return n;
}

static size_t gpu_memory(void)
{
    size_t total = 0, cur;
    for (int i = 0; i < n_gpu_contexts(); i++) {
        vkdl_context_memory(gpu_context(i), &cur, NULL);
        total += cur;
    }
    return total;
}

static uint64_t hash_name(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    while (*s)
        h = (h ^ (uint8_t)*s++) * 0x100000001b3ull;
    return h;
}

void th_run(const char *name, th_case_fn fn, void *arg)
{
    if (filter && !strstr(name, filter))
        return;
    case_failed = case_skipped = false;
    rng = hash_name(name);
    uint64_t before = validation_messages();
    size_t mem_before = gpu_memory(), cpu_before, cpu_after;
    vkdl_context_memory(th_cpu, &cpu_before, NULL);
    fn(arg);
    if (th_gpu != th_gpu_default) {
        th_fail("the case left an environment variant on (th_env_end missing)");
        th_env_end();
    }
    /* Autograd graph storage is pooled, and the pool lets go of what two graph frees in a row did
     * not use: after three, every byte still held is a leak. */
    for (int i = 0; i < 3; i++) {
        vkdl_graph_free(th_cpu);
        for (int c = 0; c < n_gpu_contexts(); c++)
            vkdl_graph_free(gpu_context(c));
    }
    for (int c = 0; c < n_gpu_contexts(); c++) {
        vkdl_status s = vkdl_sync(gpu_context(c));
        if (s != VKDL_OK)
            th_fail("sync after case: %s: %s", vkdl_status_string(s), vkdl_last_error());
    }
    uint64_t after = validation_messages();
    if (after != before)
        th_fail("%llu validation message(s) (printed above)", (unsigned long long)(after - before));
    size_t mem_after = gpu_memory();
    if (mem_after != mem_before)
        th_fail("leaked %lld bytes of device memory", (long long)mem_after - (long long)mem_before);
    vkdl_context_memory(th_cpu, &cpu_after, NULL);
    if (cpu_after != cpu_before)
        th_fail("leaked %lld bytes on the CPU backend", (long long)cpu_after - (long long)cpu_before);
    if (case_failed) {
        n_fail++;
        printf("FAIL %s\n", name);
    } else if (case_skipped) {
        n_skip++;
        printf("skip %s\n", name);
    } else {
        n_pass++;
        printf("ok   %s\n", name);
    }
    fflush(stdout);
}

void th_run_both(const char *name, th_case_fn fn)
{
    vkdl_context **ctx[2] = {&th_cpu, &th_gpu};
    char full[128];
    for (int b = 0; b < 2; b++) {
        snprintf(full, sizeof full, "%s/%s", name, TH_BACKEND[b]);
        th_run(full, fn, (void *)ctx[b]);
    }
}

void th_init(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    filter = getenv("TH_FILTER");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--perf") == 0)
            perf = true;
        else
            filter = argv[i];
    }
    vkdl_context_create_info ci = {.backend = VKDL_BACKEND_CPU};
    if (vkdl_context_create(&ci, &th_cpu) != VKDL_OK) {
        printf("cannot create the CPU context: %s\n0 passed, 1 failed\n", vkdl_last_error());
        exit(1);
    }
    if (!(th_gpu = th_gpu_default = gpu_context_create())) {
        printf("cannot create the Vulkan context: %s\n0 passed, 1 failed\n", vkdl_last_error());
        exit(1);
    }
    printf("device: %s\n", vkdl_context_device_name(th_gpu));
}

int th_finish(void)
{
    for (int i = 0; i < n_env_ctxs; i++) {
        vkdl_context_destroy(env_ctxs[i].ctx);
        free(env_ctxs[i].disable);
        free(env_ctxs[i].limit);
    }
    vkdl_context_destroy(th_gpu_default);
    vkdl_context_destroy(th_cpu);
    printf("%d passed, %d failed, %d skipped\n", n_pass, n_fail, n_skip);
    return n_fail ? 1 : 0;
}

size_t th_mem_current(const vkdl_context *c)
{
    size_t cur;
    vkdl_context_memory(c, &cur, NULL);
    return cur;
}

vkdl_tensor *th_mk(vkdl_context *c, vkdl_dtype d, int ndim, const int64_t *shape)
{
    vkdl_tensor *t = NULL;
    TH_OK(vkdl_tensor_create(c, d, ndim, shape, &t));
    return t;
}

vkdl_tensor *th_mk1(vkdl_context *c, vkdl_dtype d, int64_t n) { return th_mk(c, d, 1, &n); }

char *th_env_set(const char *name, const char *value)
{
    const char *old = getenv(name);
    char *saved = old ? strdup(old) : NULL;
    setenv(name, value, 1);
    return saved;
}

void th_env_restore(const char *name, char *saved)
{
    if (saved)
        setenv(name, saved, 1);
    else
        unsetenv(name);
    free(saved);
}

vkdl_context *th_ctx_new(vkdl_backend b, uint32_t flags, const char *cache_dir)
{
    vkdl_context_create_info ci = {.backend = b, .flags = flags, .cache_dir = cache_dir};
    if (b == VKDL_BACKEND_VULKAN)
        ci.flags |= VKDL_CONTEXT_VALIDATE;
    if (!cache_dir)
        ci.flags |= VKDL_CONTEXT_NO_DISK_CACHE;
    vkdl_context *c = NULL;
    TH_OK(vkdl_context_create(&ci, &c));
    return c;
}

void th_ctx_done(vkdl_context *c)
{
    if (!c)
        return;
    TH_OK(vkdl_sync(c));
    uint64_t msgs = vkdl_context_validation_messages(c);
    if (msgs)
        th_fail("extra context (%s): %llu validation message(s)", vkdl_context_device_name(c), (unsigned long long)msgs);
    size_t cur = th_mem_current(c);
    if (cur)
        th_fail("extra context (%s): %zu bytes still in use", vkdl_context_device_name(c), cur);
    vkdl_context_destroy(c);
}

/* Download n elements of t as f32. */
static bool download_f32(vkdl_tensor *t, float *out, size_t n)
{
    return TH_OK(vkdl_tensor_download(t, out, VKDL_F32, n * sizeof(float)));
}

/* out = scale(gelu_erf(x), -1.5, 0.25) + x  on any context; returns the f32 result (malloc'd). */
static float *run_small_graph(vkdl_context *c, const float *data, int64_t n)
{
    vkdl_tensor *x = th_mk1(c, VKDL_F32, n), *y = th_mk1(c, VKDL_F32, n), *z = th_mk1(c, VKDL_F32, n);
    float *res = calloc((size_t)n, sizeof *res);
    TH_OK(vkdl_tensor_upload(x, data, VKDL_F32, (size_t)n * 4));
    TH_OK(vkdl_unary(VKDL_GELU_ERF, x, y));
    TH_OK(vkdl_scale(y, -1.5f, 0.25f, y));
    TH_OK(vkdl_binary(VKDL_ADD, y, x, z));
    download_f32(z, res, (size_t)n);
    vkdl_tensor_destroy(x);
    vkdl_tensor_destroy(y);
    vkdl_tensor_destroy(z);
    return res;
}

bool th_close_f32(const float *got, const float *want, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= 1e-5 + 1e-4 * fabs(want[i]))) {
            th_fail("%s: [%zu] got %.9g want %.9g", what, i, got[i], want[i]);
            return false;
        }
    }
    return true;
}

bool th_graph_matches_cpu(vkdl_context *c, const char *what)
{
    enum { N = 1025 };
    float data[N];
    for (int i = 0; i < N; i++)
        data[i] = th_randf(-4, 4);
    float *got = run_small_graph(c, data, N), *want = run_small_graph(th_cpu, data, N);
    bool ok = th_close_f32(got, want, N, what);
    free(got);
    free(want);
    return ok;
}


const char *th_shape_str(const th_shape *s, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < s->ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, i ? "x%lld" : "%lld", (long long)s->d[i]);
    if (s->ndim == 0)
        snprintf(buf, n, "scalar");
    return buf;
}

/* The host values of an input of shape s (malloc'd, n of them). */
static float *op_values(const th_input *in, const th_shape *s, size_t *n_out)
{
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++)
        n *= s->d[i];
    float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (in->fill == TH_FILL_FN)
        in->gen(v, n, s, in->lo, in->hi);
    for (int64_t i = 0; in->fill != TH_FILL_FN && i < n; i++) {
        if (in->fill == TH_FILL_UNIFORM)
            v[i] = th_randf(in->lo, in->hi);
        else if (in->fill == TH_FILL_SIGNED)
            v[i] = (th_randu(2) ? 1.0f : -1.0f) * th_randf(in->lo, in->hi);
        else
            v[i] = (float)th_randu((uint32_t)in->hi);
    }
    *n_out = (size_t)n;
    return v;
}

static th_pair op_fill(const th_input *in, const th_shape *s)
{
    size_t n;
    float *v = op_values(in, s, &n);
    th_pair p = th_from(in->dtype, s->ndim, s->d, v, VKDL_F32);
    free(v);
    return p;
}

static th_shape padded(th_shape s, const int64_t *pad)
{
    s.d[0] += pad[0] + pad[1];
    return s;
}

static bool is_padded(const th_shape *s, const int64_t *pad) { return s->ndim > 0 && (pad[0] || pad[1]); }

/* The view of base that a padded tensor is; its contents are left as base's. */
static th_pair op_view(const th_pair *base, const th_shape *s, const int64_t *pad)
{
    th_pair v = {0};
    TH_OK(vkdl_tensor_slice(base->cpu, pad[0], pad[0] + s->d[0], &v.cpu));
    TH_OK(vkdl_tensor_slice(base->gpu, pad[0], pad[0] + s->d[0], &v.gpu));
    return v;
}

/* A padded input: the whole base filled, then the view's own data written over it. */
static th_pair op_input(const th_input *in, th_pair *base)
{
    if (!is_padded(&in->shape, in->pad))
        return op_fill(in, &in->shape);
    th_shape bs = padded(in->shape, in->pad);
    *base = op_fill(in, &bs);
    th_pair v = op_view(base, &in->shape, in->pad);
    size_t n;
    float *data = op_values(in, &in->shape, &n);
    TH_OK(vkdl_tensor_upload(v.cpu, data, VKDL_F32, n * sizeof *data));
    TH_OK(vkdl_tensor_upload(v.gpu, data, VKDL_F32, n * sizeof *data));
    free(data);
    return v;
}

static th_pair op_output(const th_output *out, th_pair *base)
{
    if (out->accumulate)
        return th_rand(out->dtype, out->shape.ndim, out->shape.d, -1, 1);
    if (!is_padded(&out->shape, out->pad))
        return th_empty(out->dtype, out->shape.ndim, out->shape.d);
    th_shape bs = padded(out->shape, out->pad);
    *base = th_empty(out->dtype, bs.ndim, bs.d);
    return op_view(base, &out->shape, out->pad);
}

/* The tensors of one run of an op case, on both backends. */
typedef struct op_tensors {
    th_pair in[TH_MAX_OP_TENSORS], out[TH_MAX_OP_TENSORS], dout[TH_MAX_OP_TENSORS], din[TH_MAX_OP_TENSORS];
    th_pair in_base[TH_MAX_OP_TENSORS], out_base[TH_MAX_OP_TENSORS]; /* of padded tensors */
    vkdl_tensor *cpu[4][TH_MAX_OP_TENSORS], *gpu[4][TH_MAX_OP_TENSORS]; /* in, out, dout, din */
    vkdl_tensor *mirror[2][TH_MAX_OP_TENSORS]; /* device copies of the CPU's in-place inputs and outputs */
} op_tensors;

static void op_split(op_tensors *t)
{
    th_pair *sets[4] = {t->in, t->out, t->dout, t->din};
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < TH_MAX_OP_TENSORS; i++) {
            t->cpu[k][i] = sets[k][i].cpu;
            t->gpu[k][i] = sets[k][i].gpu;
        }
}

static void op_free(op_tensors *t)
{
    for (int i = 0; i < TH_MAX_OP_TENSORS; i++) {
        th_free(&t->in[i]);
        th_free(&t->out[i]);
        th_free(&t->dout[i]);
        th_free(&t->din[i]);
        th_free(&t->in_base[i]);
        th_free(&t->out_base[i]);
        vkdl_tensor_destroy(t->mirror[0][i]);
        vkdl_tensor_destroy(t->mirror[1][i]);
    }
}

static bool is_float(vkdl_dtype d) { return d == VKDL_F32 || d == VKDL_F16 || d == VKDL_BF16; }

/* Whether output o takes a gradient in the backward (and so counts in the gradcheck loss). */
static bool has_grad(const th_output *out) { return is_float(out->dtype) && !out->no_grad; }

typedef struct op_loss_arg {
    const th_op *op;
    vkdl_tensor *const *in, *const *out;
    float *w[TH_MAX_OP_TENSORS]; /* each output's gradient, NULL for those without */
} op_loss_arg;

/* The CPU forward, then sum(out * dout) over every output with a gradient. */
static double op_loss(void *arg, bool *ok)
{
    op_loss_arg *a = arg;
    if (!th_expect_ok(a->op->forward(a->op, a->in, a->out), "gradcheck forward", __FILE__, __LINE__)) {
        *ok = false;
        return 0;
    }
    double l = 0;
    for (int o = 0; o < a->op->n_out; o++)
        if (a->w[o])
            l += weighted_sum(a->out[o], a->w[o]);
    return l;
}

static void op_gradcheck(const th_op *op, op_tensors *t)
{
    op_loss_arg a = {op, t->cpu[0], t->cpu[1], {0}};
    int n = 0;
    for (int o = 0; o < op->n_out; o++)
        if (has_grad(&op->out[o]) && ++n)
            a.w[o] = th_download(t->cpu[2][o]);
    vkdl_tensor *grads[TH_MAX_OP_TENSORS];
    for (int i = 0; i < TH_MAX_OP_TENSORS; i++)
        grads[i] = op->no_gradcheck & (1u << i) ? NULL : t->cpu[3][i];
    if (n == 0)
        th_fail("gradcheck needs an output with a gradient");
    else
        gradcheck_loss(op_loss, &a, op->n_in, t->cpu[0], grads, op->grad.checks, op->grad.eps, op->grad.tol);
    for (int o = 0; o < op->n_out; o++)
        free(a.w[o]);
}

/* A device tensor with the CPU one's contents. */
static vkdl_tensor *mirror_cpu(vkdl_tensor *cpu)
{
    int64_t shape[VKDL_MAX_DIMS];
    int nd = vkdl_tensor_ndim(cpu);
    for (int i = 0; i < nd; i++)
        shape[i] = vkdl_tensor_dim(cpu, i);
    vkdl_tensor *t = NULL;
    float *h = th_download(cpu);
    if (TH_OK(vkdl_tensor_create(th_gpu, vkdl_tensor_dtype(cpu), nd, shape, &t)))
        TH_OK(vkdl_tensor_upload(t, h, VKDL_F32, (size_t)vkdl_tensor_numel(cpu) * sizeof *h));
    free(h);
    return t;
}

static const th_tol *input_tol(const th_op *op, int i) { return op->in[i].tol ? op->in[i].tol : op->tol; }
static const th_tol *output_tol(const th_op *op, int o) { return op->out[o].tol ? op->out[o].tol : op->tol; }
static const th_tol *grad_tol(const th_op *op, int i)
{
    return op->in[i].grad_tol ? op->in[i].grad_tol : op->grad_tol ? op->grad_tol : op->tol;
}

static bool same_bits(vkdl_tensor *a, vkdl_tensor *b)
{
    size_t n = (size_t)vkdl_tensor_numel(a);
    float *h1 = th_download(a), *h2 = th_download(b);
    bool same = memcmp(h1, h2, n * sizeof *h1) == 0;
    free(h1);
    free(h2);
    return same;
}

static void op_forward_again(const th_op *op, op_tensors *t)
{
    vkdl_tensor *again[TH_MAX_OP_TENSORS] = {0};
    for (int o = 0; o < op->n_out; o++)
        TH_OK(vkdl_tensor_create(th_gpu, op->out[o].dtype, op->out[o].shape.ndim, op->out[o].shape.d, &again[o]));
    TH_OK(op->forward(op, t->gpu[0], again));
    for (int o = 0; o < op->n_out; o++) {
        if (again[o] && !same_bits(t->out[o].gpu, again[o]))
            th_fail("output %d differs between two runs", o);
        vkdl_tensor_destroy(again[o]);
    }
}

static void op_backward_again(const th_op *op, op_tensors *t)
{
    vkdl_tensor *again[TH_MAX_OP_TENSORS] = {0};
    for (int i = 0; i < op->n_in; i++)
        if (t->din[i].gpu)
            TH_OK(vkdl_tensor_create(th_gpu, VKDL_F32, op->in[i].shape.ndim, op->in[i].shape.d, &again[i]));
    TH_OK(op->backward(op, t->gpu[0], t->gpu[1], t->gpu[2], again));
    for (int i = 0; i < op->n_in; i++) {
        if (!again[i])
            continue;
        if (!same_bits(t->din[i].gpu, again[i]))
            th_fail("gradient of input %d differs between two runs", i);
        vkdl_tensor_destroy(again[i]);
    }
}

/* The device backward starts from copies of the CPU forward's outputs (and in-place inputs), so
 * only the backward is compared and the device forward's own results stay for the check.
 * Integer and no_grad outputs get no gradient. */
static void op_backward(const th_op *op, op_tensors *t)
{
    for (int o = 0; o < op->n_out; o++) {
        const th_output *out = &op->out[o];
        bool range = out->grad_lo != 0 || out->grad_hi != 0;
        if (has_grad(out))
            t->dout[o] = th_rand(VKDL_F32, out->shape.ndim, out->shape.d, range ? out->grad_lo : -1,
                                 range ? out->grad_hi : 1);
        t->mirror[1][o] = mirror_cpu(t->out[o].cpu);
    }
    for (int i = 0; i < op->n_in; i++) {
        if (op->in[i].inout)
            t->mirror[0][i] = mirror_cpu(t->in[i].cpu);
        if (!(op->no_grad & (1u << i)) && is_float(op->in[i].dtype))
            t->din[i] = th_empty(VKDL_F32, op->in[i].shape.ndim, op->in[i].shape.d);
    }
    op_split(t);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < TH_MAX_OP_TENSORS; i++)
            if (t->mirror[k][i])
                t->gpu[k][i] = t->mirror[k][i];
    TH_OK(op->backward(op, t->cpu[0], t->cpu[1], t->cpu[2], t->cpu[3]));
    TH_OK(op->backward(op, t->gpu[0], t->gpu[1], t->gpu[2], t->gpu[3]));
    for (int i = 0; i < op->n_in; i++)
        if (t->din[i].cpu && !th_compare(&t->din[i], *grad_tol(op, i)))
            th_fail("gradient of input %d", i);
    if (op->deterministic)
        op_backward_again(op, t);
    if (op->grad.checks > 0)
        op_gradcheck(op, t);
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < TH_MAX_OP_TENSORS; i++)
            t->gpu[k][i] = k ? t->out[i].gpu : t->in[i].gpu;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of a few synchronised device forwards, after one to warm up; printed, never asserted. */
static void op_perf(const th_op *op, op_tensors *t)
{
    enum { RUNS = 7 };
    double ms[RUNS];
    for (int r = -1; r < RUNS; r++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        TH_OK(op->forward(op, t->gpu[0], t->gpu[1]));
        TH_OK(vkdl_sync(th_gpu));
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (r >= 0)
            ms[r] = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) * 1e-6;
    }
    qsort(ms, RUNS, sizeof *ms, cmp_double);
    printf("    perf: %.3f ms (median of %d)\n", ms[RUNS / 2], RUNS);
}

typedef struct op_case {
    const th_op *op;
    enum th_variant v;
} op_case;

/* The extra check; both backends' inputs started with the same values. */
static void op_check(const th_op *op, op_tensors *t, float *const *before)
{
    th_op_result cpu = {t->cpu[0], t->cpu[1], t->cpu[3], before}, gpu = {t->gpu[0], t->gpu[1], t->gpu[3], before};
    op->check(op, &cpu, &gpu);
}

static void op_run_case(void *arg)
{
    const op_case *c = arg;
    const th_op *op = c->op;
    op_tensors t = {0};
    float *before[TH_MAX_OP_TENSORS] = {0};
    /* the device tensors belong to the variant's context, so they are made after it begins */
    char disable[256];
    snprintf(disable, sizeof disable, "%s%s%s", VARIANT_DISABLE[c->v] ? VARIANT_DISABLE[c->v] : "",
             VARIANT_DISABLE[c->v] && op->disable ? "," : "", op->disable ? op->disable : "");
    th_env_begin(*disable ? disable : NULL, op->limit);
    for (int i = 0; i < op->n_in; i++)
        t.in[i] = op_input(&op->in[i], &t.in_base[i]);
    for (int o = 0; o < op->n_out; o++)
        t.out[o] = op_output(&op->out[o], &t.out_base[o]);
    op_split(&t);
    for (int i = 0; op->check && i < op->n_in; i++)
        before[i] = th_download(t.in[i].cpu);
    TH_OK(op->forward(op, t.cpu[0], t.cpu[1]));
    TH_OK(op->forward(op, t.gpu[0], t.gpu[1]));
    for (int o = 0; o < op->n_out; o++)
        if (!th_compare(t.out_base[o].cpu ? &t.out_base[o] : &t.out[o], *output_tol(op, o)))
            th_fail("output %d", o);
    for (int i = 0; i < op->n_in; i++)
        if (op->in[i].inout && !th_compare(t.in_base[i].cpu ? &t.in_base[i] : &t.in[i], *input_tol(op, i)))
            th_fail("input %d after the forward", i);
    if (op->deterministic)
        op_forward_again(op, &t);
    if (op->backward)
        op_backward(op, &t);
    if (op->check)
        op_check(op, &t, before);
    if (perf)
        op_perf(op, &t);
    for (int i = 0; i < op->n_in; i++)
        free(before[i]);
    op_free(&t);
    th_env_end();
}

void th_run_op(const th_op *op)
{
    char name[256];
    for (int v = 0; v < TH_V_COUNT; v++) {
        if (op->variants ? !(op->variants & (1u << v)) : v != TH_V_DEFAULT)
            continue;
        snprintf(name, sizeof name, "%s%s", op->name, TH_VARIANT_NAMES[v]);
        op_case c = {op, (enum th_variant)v};
        th_run(name, op_run_case, &c);
    }
}

bool th_tmpdir_make(char *dir, size_t n, const char *tag)
{
    /* a long $TMPDIR would not leave room in dir for the files' names */
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, n, "%s/%s-XXXXXX", tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp", tag);
    if (mkdtemp(dir))
        return true;
    fprintf(stderr, "mkdtemp %s: %s\n", dir, strerror(errno));
    return false;
}

void th_tmpdir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.') {
            char p[512];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    if (d)
        closedir(d);
    rmdir(dir);
}

int th_tmpdir_count(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += strstr(e->d_name, part) != NULL;
    if (d)
        closedir(d);
    return n;
}
