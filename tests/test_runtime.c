/* The runtime itself: tensor creation and its failures, memory limits and reuse, host
 * conversions, views, fill, the staging path, the pipeline cache file, device selection, the
 * small public helpers, dispatches with empty bindings and the environment switches. lib/runtime/: context.c, tensor.c,
 * memory.c, pipeline.c, sched.c, dispatch.c, device.c, error.c, file.c */
#include "harness.h"
#include "runtime/runtime.h"
#include "shaders.h"

#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ helpers */

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static const vkdl_dtype ALL_DTYPES[] = {VKDL_F32, VKDL_F16, VKDL_BF16, VKDL_I32, VKDL_U8};

static uint32_t bits32(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float from_bits32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Bitwise equality, except that any NaN equals any NaN. */
static bool same_float(float a, float b) { return (isnan(a) && isnan(b)) || bits32(a) == bits32(b); }

static size_t mem_current(const vkdl_context *c)
{
    size_t cur;
    vkdl_context_memory(c, &cur, NULL);
    return cur;
}

static size_t mem_peak(const vkdl_context *c)
{
    size_t peak;
    vkdl_context_memory(c, NULL, &peak);
    return peak;
}

static vkdl_tensor *mk(vkdl_context *c, vkdl_dtype d, int ndim, const int64_t *shape)
{
    vkdl_tensor *t = NULL;
    TH_OK(vkdl_tensor_create(c, d, ndim, shape, &t));
    return t;
}

static vkdl_tensor *mk1(vkdl_context *c, vkdl_dtype d, int64_t n) { return mk(c, d, 1, &n); }

/* Set an environment variable for the next context_create; env_restore puts back what was there. */
static char *env_set(const char *name, const char *value)
{
    const char *old = getenv(name);
    char *saved = old ? strdup(old) : NULL;
    setenv(name, value, 1);
    return saved;
}

static void env_restore(const char *name, char *saved)
{
    if (saved)
        setenv(name, saved, 1);
    else
        unsetenv(name);
    free(saved);
}

/* An extra context for one case: validation on for Vulkan, no disk cache unless a directory is
 * given. */
static vkdl_context *ctx_new(vkdl_backend b, uint32_t flags, const char *cache_dir)
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

/* Sync, check that the context saw no validation messages and holds no tensor memory, destroy. */
static void ctx_done(vkdl_context *c)
{
    if (!c)
        return;
    TH_OK(vkdl_sync(c));
    uint64_t msgs = vkdl_context_validation_messages(c);
    if (msgs)
        th_fail("extra context (%s): %llu validation message(s)", vkdl_context_device_name(c), (unsigned long long)msgs);
    size_t cur = mem_current(c);
    if (cur)
        th_fail("extra context (%s): %zu bytes still in use", vkdl_context_device_name(c), cur);
    vkdl_context_destroy(c);
}

static const char *ctx_label(const vkdl_context *c) { return vkdl_context_device_name(c); }

/* Download n elements of t as f32. */
static bool download_f32(vkdl_tensor *t, float *out, size_t n)
{
    return TH_OK(vkdl_tensor_download(t, out, VKDL_F32, n * sizeof(float)));
}

/* out = scale(gelu_erf(x), -1.5, 0.25) + x  on any context; returns the f32 result (malloc'd). */
static float *run_small_graph(vkdl_context *c, const float *data, int64_t n)
{
    vkdl_tensor *x = mk1(c, VKDL_F32, n), *y = mk1(c, VKDL_F32, n), *z = mk1(c, VKDL_F32, n);
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

static bool close_f32(const float *got, const float *want, size_t n, const char *what)
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

/* Run the small graph on c and on the CPU backend and compare. */
static bool graph_matches_cpu(vkdl_context *c, const char *what)
{
    enum { N = 1025 };
    float data[N];
    for (int i = 0; i < N; i++)
        data[i] = th_randf(-4, 4);
    float *got = run_small_graph(c, data, N), *want = run_small_graph(th_cpu, data, N);
    bool ok = close_f32(got, want, N, what);
    free(got);
    free(want);
    return ok;
}

/* ------------------------------------------------------------------ 1. creation */

/* A create that must fail with status (message containing needle) and leave t NULL and the
 * context's current and peak memory as they were. */
#define BAD_CREATE(expr, status, needle)                                                                    \
    do {                                                                                                    \
        t = (vkdl_tensor *)&t;                                                                              \
        TH_STATUS(expr, status, needle);                                                                    \
        if (t != NULL && t != (vkdl_tensor *)&t)                                                            \
            th_fail("%s:%d: a failed create returned a tensor", __FILE__, __LINE__);                        \
        vkdl_context_memory(c, &cur, &peak);                                                                \
        if (cur != cur0 || peak != peak0)                                                                   \
            th_fail("%s:%d: %s: memory changed by a failed create: current %zu -> %zu, peak %zu -> %zu",    \
                    __FILE__, __LINE__, ctx_label(c), cur0, cur, peak0, peak);                              \
    } while (0)

static void check_bad_create(vkdl_context *c)
{
    int64_t s2[2] = {3, 4};
    vkdl_tensor *t;
    size_t cur0, peak0, cur, peak;
    vkdl_context_memory(c, &cur0, &peak0);

    BAD_CREATE(vkdl_tensor_create(NULL, VKDL_F32, 2, s2, &t), VKDL_ERROR_INVALID_ARGUMENT, "context is NULL");
    TH_TRUE(t == NULL); /* *out is cleared even before the context is checked */
    BAD_CREATE(vkdl_tensor_create(c, VKDL_F32, 2, s2, NULL), VKDL_ERROR_INVALID_ARGUMENT, "out is NULL");
    BAD_CREATE(vkdl_tensor_create(c, VKDL_F32, 2, NULL, &t), VKDL_ERROR_INVALID_ARGUMENT, "shape is NULL");
    BAD_CREATE(vkdl_tensor_create(c, VKDL_F32, -1, s2, &t), VKDL_ERROR_INVALID_ARGUMENT, "ndim -1");
    int64_t s9[VKDL_MAX_DIMS + 1];
    for (int i = 0; i < VKDL_MAX_DIMS + 1; i++)
        s9[i] = 1;
    BAD_CREATE(vkdl_tensor_create(c, VKDL_F32, VKDL_MAX_DIMS + 1, s9, &t), VKDL_ERROR_INVALID_ARGUMENT, "ndim 9");
    BAD_CREATE(vkdl_tensor_create(c, (vkdl_dtype)6, 2, s2, &t), VKDL_ERROR_INVALID_ARGUMENT, "invalid dtype");
    BAD_CREATE(vkdl_tensor_create(c, (vkdl_dtype)-1, 2, s2, &t), VKDL_ERROR_INVALID_ARGUMENT, "invalid dtype");
    int64_t neg[3] = {2, -3, 4};
    BAD_CREATE(vkdl_tensor_create(c, VKDL_F32, 3, neg, &t), VKDL_ERROR_INVALID_ARGUMENT, "negative");
    int64_t ovf[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
    BAD_CREATE(vkdl_tensor_create(c, VKDL_F32, 2, ovf, &t), VKDL_ERROR_SIZE_OVERFLOW, NULL);
    int64_t ovf3[3] = {(int64_t)1 << 30, (int64_t)1 << 30, (int64_t)1 << 30};
    BAD_CREATE(vkdl_tensor_create(c, VKDL_U8, 3, ovf3, &t), VKDL_ERROR_SIZE_OVERFLOW, NULL);
    /* 2^62 elements are countable, but not their bytes */
    int64_t ovfb[2] = {(int64_t)1 << 31, (int64_t)1 << 31};
    BAD_CREATE(vkdl_tensor_create(c, VKDL_F32, 2, ovfb, &t), VKDL_ERROR_SIZE_OVERFLOW, "byte size");
    TH_TRUE(t == NULL);
}

static void check_zero_size(vkdl_context *c)
{
    size_t cur0 = mem_current(c);
    int64_t shapes[][3] = {{0, 0, 0}, {3, 0, 0}, {0, 5, 2}, {4, 2, 0}};
    int ndims[] = {1, 2, 3, 3};
    for (size_t k = 0; k < LEN(shapes); k++)
        for (size_t d = 0; d < LEN(ALL_DTYPES); d++) {
            vkdl_tensor *t = mk(c, ALL_DTYPES[d], ndims[k], shapes[k]);
            if (!t)
                continue;
            float dummy = 1;
            TH_TRUE(vkdl_tensor_numel(t) == 0);
            TH_OK(vkdl_tensor_upload(t, &dummy, VKDL_F32, 0));
            TH_OK(vkdl_tensor_upload(t, NULL, VKDL_F32, 0));
            TH_OK(vkdl_tensor_download(t, &dummy, VKDL_F32, 0));
            TH_OK(vkdl_tensor_download(t, NULL, ALL_DTYPES[d], 0));
            TH_STATUS(vkdl_tensor_upload(t, &dummy, VKDL_F32, 4), VKDL_ERROR_INVALID_ARGUMENT, "bytes");
            TH_OK(vkdl_tensor_fill(t, 2.0));
            TH_TRUE(dummy == 1);
            vkdl_tensor *v = NULL, *r = NULL;
            TH_OK(vkdl_tensor_slice(t, 0, vkdl_tensor_dim(t, 0), &v));
            int64_t flat = 0;
            TH_OK(vkdl_tensor_reshape(t, 1, &flat, &r));
            TH_OK(vkdl_tensor_fill(v, 1.0));
            if (ALL_DTYPES[d] == VKDL_F32) {
                vkdl_tensor *o = mk(c, VKDL_F32, ndims[k], shapes[k]);
                TH_OK(vkdl_unary(VKDL_EXP, t, o));
                TH_OK(vkdl_binary(VKDL_ADD, t, o, o));
                vkdl_tensor_destroy(o);
            }
            vkdl_tensor_destroy(t);
            vkdl_tensor_destroy(v);
            vkdl_tensor_destroy(r);
        }
    /* a scalar has one element; a NULL shape is fine with ndim 0 */
    vkdl_tensor *s = mk(c, VKDL_F32, 0, NULL);
    float one = 42, back = 0;
    TH_OK(vkdl_tensor_upload(s, &one, VKDL_F32, 4));
    TH_OK(vkdl_tensor_download(s, &back, VKDL_F32, 4));
    TH_TRUE(back == 42);
    TH_TRUE(vkdl_tensor_numel(s) == 1 && vkdl_tensor_ndim(s) == 0);
    vkdl_tensor_destroy(s);
    TH_TRUE(mem_current(c) == cur0);
}

static void run_create(void *arg)
{
    vkdl_context *c = *(vkdl_context **)arg;
    check_bad_create(c);
    check_zero_size(c);
    vkdl_tensor_destroy(NULL);
    vkdl_context_destroy(NULL);
}

/* Countable but too large for the device: TOO_LARGE or OUT_OF_DEVICE_MEMORY naming the bytes. */
static void run_too_large(void *arg)
{
    (void)arg;
    size_t cur0, peak0, cur, peak;
    vkdl_context_memory(th_gpu, &cur0, &peak0);
    int64_t n = (int64_t)1 << 43; /* 2^45 bytes of f32 */
    vkdl_tensor *t = NULL;
    vkdl_status s = vkdl_tensor_create(th_gpu, VKDL_F32, 1, &n, &t);
    if (s != VKDL_ERROR_TOO_LARGE && s != VKDL_ERROR_OUT_OF_DEVICE_MEMORY)
        th_fail("2^45 bytes: %s: %s", vkdl_status_string(s), vkdl_last_error());
    else if (!strstr(vkdl_last_error(), "bytes"))
        th_fail("2^45 bytes: message \"%s\" lacks \"bytes\"", vkdl_last_error());
    TH_TRUE(t == NULL);
    vkdl_tensor_destroy(t);
    vkdl_context_memory(th_gpu, &cur, &peak);
    if (cur != cur0 || peak != peak0)
        th_fail("memory changed by a failed create: current %zu -> %zu, peak %zu -> %zu", cur0, cur, peak0, peak);
    /* the context still works */
    graph_matches_cpu(th_gpu, "after a failed create");
}

/* ------------------------------------------------------------------ 2. memory limit */

static void run_memory_limit(void *arg)
{
    vkdl_backend b = *(vkdl_backend *)arg;
    char *saved = env_set("VKDL_MEMORY_LIMIT", "1000000");
    vkdl_context *c = ctx_new(b, 0, NULL);
    env_restore("VKDL_MEMORY_LIMIT", saved);
    if (!c)
        return;
    enum { CHUNK = 25000, MAXT = 100 }; /* 100,000 bytes of f32 each */
    vkdl_tensor *ts[MAXT] = {0};
    int n = 0;
    vkdl_status s = VKDL_OK;
    while (n < MAXT) {
        vkdl_tensor *t = (vkdl_tensor *)&s;
        s = vkdl_tensor_create(c, VKDL_F32, 1, (int64_t[]){CHUNK}, &t);
        if (s != VKDL_OK) {
            TH_TRUE(t == NULL);
            break;
        }
        ts[n++] = t;
    }
    if (s != VKDL_ERROR_OUT_OF_DEVICE_MEMORY)
        th_fail("after %d tensors: %s: %s", n, vkdl_status_string(s), vkdl_last_error());
    else if (!strstr(vkdl_last_error(), "memory limit") || !strstr(vkdl_last_error(), "bytes"))
        th_fail("unclear message: \"%s\"", vkdl_last_error());
    TH_TRUE(n == 10);
    size_t cur, peak;
    vkdl_context_memory(c, &cur, &peak);
    TH_TRUE(cur == (size_t)n * CHUNK * 4);
    /* a single tensor past the limit fails the same way */
    vkdl_tensor *big = NULL;
    TH_STATUS(vkdl_tensor_create(c, VKDL_U8, 1, (int64_t[]){2000000}, &big), VKDL_ERROR_OUT_OF_DEVICE_MEMORY,
              "memory limit");
    /* every tensor made before the failure still works */
    float *buf = malloc(CHUNK * sizeof *buf), *back = malloc(CHUNK * sizeof *back);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < CHUNK; j++)
            buf[j] = (float)(i * 100000 + j);
        TH_OK(vkdl_tensor_upload(ts[i], buf, VKDL_F32, CHUNK * 4));
    }
    for (int i = 0; i < n; i++) {
        memset(back, 0, CHUNK * sizeof *back);
        TH_OK(vkdl_tensor_download(ts[i], back, VKDL_F32, CHUNK * 4));
        for (int j = 0; j < CHUNK; j++)
            if (back[j] != (float)(i * 100000 + j)) {
                th_fail("tensor %d [%d]: %g", i, j, back[j]);
                break;
            }
    }
    /* freeing one makes room for one */
    if (n > 0) {
        vkdl_tensor_destroy(ts[n - 1]);
        ts[n - 1] = NULL;
        TH_OK(vkdl_tensor_create(c, VKDL_F32, 1, (int64_t[]){CHUNK}, &ts[n - 1]));
    }
    for (int i = 0; i < n; i++)
        vkdl_tensor_destroy(ts[i]);
    vkdl_context_memory(c, &cur, &peak);
    TH_TRUE(cur == 0);
    TH_TRUE(peak >= (size_t)n * CHUNK * 4);
    vkdl_context_reset_peak(c);
    TH_TRUE(mem_peak(c) == 0);
    free(buf);
    free(back);
    ctx_done(c);
}

/* ------------------------------------------------------------------ 3. conversions */

static void check_upload_as(vkdl_context *c, vkdl_dtype td, const float *src, size_t n, const uint16_t *want16,
                            const float *want_f32, const char *what)
{
    vkdl_tensor *t = mk1(c, td, (int64_t)n);
    if (!t)
        return;
    TH_OK(vkdl_tensor_upload(t, src, VKDL_F32, n * 4));
    uint16_t *raw = calloc(n, 2);
    float *back = calloc(n, 4);
    TH_OK(vkdl_tensor_download(t, raw, td, n * 2));
    TH_OK(vkdl_tensor_download(t, back, VKDL_F32, n * 4));
    for (size_t i = 0; i < n; i++) {
        bool nan_want = isnan(want_f32[i]);
        bool raw_ok = nan_want ? (td == VKDL_F16 ? (raw[i] & 0x7c00) == 0x7c00 && (raw[i] & 0x3ff)
                                                 : (raw[i] & 0x7f80) == 0x7f80 && (raw[i] & 0x7f))
                               : raw[i] == want16[i];
        if (!raw_ok)
            th_fail("%s %s: %.9g -> 0x%04x, want 0x%04x", ctx_label(c), what, src[i], raw[i], want16[i]);
        if (!same_float(back[i], want_f32[i]))
            th_fail("%s %s: %.9g -> %.9g, want %.9g", ctx_label(c), what, src[i], back[i], want_f32[i]);
    }
    free(raw);
    free(back);
    vkdl_tensor_destroy(t);
}

static void check_conversions(vkdl_context *c)
{
    /* f32 -> f16, round to nearest even; overflow to inf; subnormals; NaN; signed zero */
    static const float f16_src[] = {1.0f, -2.5f, 65504.0f, 65519.0f, 65520.0f, 1e6f, 6e-8f,
                                    2.9802322387695312e-08f /* 2^-25: tie to 0 */, 3e-8f, 1e-9f, NAN, -0.0f,
                                    INFINITY, -INFINITY, 1.00048828125f /* 1+2^-11: tie to 1 */,
                                    1.00146484375f /* 1+3*2^-11: tie up */, 0.1f,
                                    6.1005353927612305e-05f /* largest subnormal + half ulp: carries to 2^-14 */,
                                    -65520.0f, -6e-8f};
    static const uint16_t f16_bits[] = {0x3c00, 0xc100, 0x7bff, 0x7bff, 0x7c00, 0x7c00, 0x0001, 0x0000, 0x0001,
                                        0x0000, 0x7e00, 0x8000, 0x7c00, 0xfc00, 0x3c00, 0x3c02, 0x2e66, 0x0400,
                                        0xfc00, 0x8001};
    static const float f16_back[] = {1.0f, -2.5f, 65504.0f, 65504.0f, INFINITY, INFINITY, 5.9604644775390625e-08f,
                                     0.0f, 5.9604644775390625e-08f, 0.0f, NAN, -0.0f, INFINITY, -INFINITY, 1.0f,
                                     1.001953125f, 0.0999755859375f, 6.103515625e-05f, -INFINITY,
                                     -5.9604644775390625e-08f};
    _Static_assert(sizeof f16_src / 4 == sizeof f16_bits / 2 && sizeof f16_bits / 2 == sizeof f16_back / 4, "");
    check_upload_as(c, VKDL_F16, f16_src, sizeof f16_src / 4, f16_bits, f16_back, "f32->f16");

    static const float bf16_src[] = {1.0f, -2.5f, 1.00390625f /* tie to 1 */, 1.01171875f /* tie up */,
                                     1.0039072036743164f /* above the tie */, FLT_MAX, 3.3895313892515355e38f,
                                     1e-40f, -0.0f, INFINITY, 0.1f, -1e-45f, NAN};
    static const uint16_t bf16_bits[] = {0x3f80, 0xc020, 0x3f80, 0x3f82, 0x3f81, 0x7f80, 0x7f7f,
                                         0x0001, 0x8000, 0x7f80, 0x3dcd, 0x8000, 0x7fc0};
    static const float bf16_back[] = {1.0f, -2.5f, 1.0f, 1.015625f, 1.0078125f, INFINITY, 3.3895313892515355e38f,
                                      9.183549615799121e-41f, -0.0f, INFINITY, 0.10009765625f, -0.0f, NAN};
    _Static_assert(sizeof bf16_src / 4 == sizeof bf16_bits / 2 && sizeof bf16_bits / 2 == sizeof bf16_back / 4, "");
    check_upload_as(c, VKDL_BF16, bf16_src, sizeof bf16_src / 4, bf16_bits, bf16_back, "f32->bf16");

    /* every f16 / bf16 bit pattern: raw round trip, and f16 -> f32 -> f16 is the identity */
    for (int k = 0; k < 2; k++) {
        vkdl_dtype d = k ? VKDL_BF16 : VKDL_F16;
        enum { N = 65536 };
        uint16_t *all = malloc(N * 2), *raw = malloc(N * 2);
        float *f = malloc(N * 4);
        for (int i = 0; i < N; i++)
            all[i] = (uint16_t)i;
        vkdl_tensor *t = mk1(c, d, N);
        TH_OK(vkdl_tensor_upload(t, all, d, N * 2));
        TH_OK(vkdl_tensor_download(t, raw, d, N * 2));
        if (memcmp(all, raw, N * 2) != 0)
            th_fail("%s %s: raw round trip changed the bits", ctx_label(c), vkdl_dtype_name(d));
        TH_OK(vkdl_tensor_download(t, f, VKDL_F32, N * 4));
        for (int i = 0; i < N; i++) {
            /* an independent decoder */
            float want;
            if (d == VKDL_BF16) {
                want = from_bits32((uint32_t)i << 16);
            } else {
                int e = (i >> 10) & 31, m = i & 1023;
                want = e == 31 ? (m ? NAN : INFINITY) : e == 0 ? ldexpf((float)m, -24) : ldexpf((float)(1024 + m), e - 25);
                if (i & 0x8000)
                    want = -want;
            }
            if (!same_float(f[i], want)) {
                th_fail("%s %s 0x%04x -> %.9g, want %.9g", ctx_label(c), vkdl_dtype_name(d), i, f[i], want);
                break;
            }
        }
        TH_OK(vkdl_tensor_upload(t, f, VKDL_F32, N * 4));
        TH_OK(vkdl_tensor_download(t, raw, d, N * 2));
        for (int i = 0; i < N; i++) {
            bool nan = d == VKDL_F16 ? (i & 0x7c00) == 0x7c00 && (i & 0x3ff) : (i & 0x7f80) == 0x7f80 && (i & 0x7f);
            bool raw_nan = d == VKDL_F16 ? (raw[i] & 0x7c00) == 0x7c00 && (raw[i] & 0x3ff)
                                         : (raw[i] & 0x7f80) == 0x7f80 && (raw[i] & 0x7f);
            if (nan ? !raw_nan : raw[i] != i) {
                th_fail("%s %s 0x%04x -> f32 -> 0x%04x", ctx_label(c), vkdl_dtype_name(d), i, raw[i]);
                break;
            }
        }
        vkdl_tensor_destroy(t);
        free(all);
        free(raw);
        free(f);
    }

    /* f32 -> i32 rounds toward zero and saturates; NaN is 0 */
    {
        static const float src[] = {0, 1, -1, 2.9f, -2.9f, 123456, -16777216, 3e9f, -3e9f, NAN, 0.5f, -0.0f};
        static const int32_t want[] = {0, 1, -1, 2, -2, 123456, -16777216, INT32_MAX, INT32_MIN, 0, 0, 0};
        static const float want_f[] = {0, 1, -1, 2, -2, 123456, -16777216, 2147483648.0f, -2147483648.0f, 0, 0, 0};
        enum { N = sizeof src / 4 };
        vkdl_tensor *t = mk1(c, VKDL_I32, N);
        int32_t got[N];
        float gotf[N];
        TH_OK(vkdl_tensor_upload(t, src, VKDL_F32, sizeof src));
        TH_OK(vkdl_tensor_download(t, got, VKDL_I32, sizeof got));
        TH_OK(vkdl_tensor_download(t, gotf, VKDL_F32, sizeof gotf));
        for (int i = 0; i < N; i++)
            if (got[i] != want[i] || !same_float(gotf[i], want_f[i]))
                th_fail("%s f32->i32: %.9g -> %d / %.9g, want %d", ctx_label(c), src[i], got[i], gotf[i], want[i]);
        vkdl_tensor_destroy(t);
    }
    /* f32 -> u8 rounds toward zero and clamps to [0, 255]; NaN is 0 */
    {
        static const float src[] = {0, 1, 255, 128, 3.7f, -5, 300, NAN, 254.99f, INFINITY, -INFINITY};
        static const uint8_t want[] = {0, 1, 255, 128, 3, 0, 255, 0, 254, 255, 0};
        enum { N = sizeof src / 4 };
        vkdl_tensor *t = mk1(c, VKDL_U8, N);
        uint8_t got[N];
        float gotf[N];
        TH_OK(vkdl_tensor_upload(t, src, VKDL_F32, sizeof src));
        TH_OK(vkdl_tensor_download(t, got, VKDL_U8, sizeof got));
        TH_OK(vkdl_tensor_download(t, gotf, VKDL_F32, sizeof gotf));
        for (int i = 0; i < N; i++)
            if (got[i] != want[i] || gotf[i] != (float)want[i])
                th_fail("%s f32->u8: %.9g -> %u / %.9g, want %u", ctx_label(c), src[i], got[i], gotf[i], want[i]);
        vkdl_tensor_destroy(t);
    }
    /* i32 / u8 / f16 / bf16 host data into f32 tensors */
    {
        static const int32_t src[] = {0, -1, 123456, 16777217, INT32_MIN, INT32_MAX};
        static const float want[] = {0, -1, 123456, 16777216, -2147483648.0f, 2147483648.0f};
        static const int32_t want_i[] = {0, -1, 123456, 16777216, INT32_MIN, INT32_MAX};
        enum { N = sizeof src / 4 };
        vkdl_tensor *t = mk1(c, VKDL_F32, N);
        float got[N];
        int32_t goti[N];
        TH_OK(vkdl_tensor_upload(t, src, VKDL_I32, sizeof src));
        TH_OK(vkdl_tensor_download(t, got, VKDL_F32, sizeof got));
        TH_OK(vkdl_tensor_download(t, goti, VKDL_I32, sizeof goti));
        for (int i = 0; i < N; i++)
            if (got[i] != want[i] || goti[i] != want_i[i])
                th_fail("%s i32->f32: %d -> %.9g / %d", ctx_label(c), src[i], got[i], goti[i]);
        vkdl_tensor_destroy(t);
    }
    {
        static const uint8_t src[] = {0, 7, 128, 255, 1};
        enum { N = sizeof src };
        vkdl_tensor *t = mk1(c, VKDL_F32, N);
        float got[N];
        uint8_t gotu[N];
        TH_OK(vkdl_tensor_upload(t, src, VKDL_U8, sizeof src));
        TH_OK(vkdl_tensor_download(t, got, VKDL_F32, sizeof got));
        TH_OK(vkdl_tensor_download(t, gotu, VKDL_U8, sizeof gotu));
        for (int i = 0; i < N; i++)
            if (got[i] != src[i] || gotu[i] != src[i])
                th_fail("%s u8->f32: %u -> %.9g / %u", ctx_label(c), src[i], got[i], gotu[i]);
        vkdl_tensor_destroy(t);
    }
    {
        static const uint16_t h[] = {0x3c00, 0x7bff, 0x0001, 0xfc00, 0x8000};
        static const float want_h[] = {1, 65504, 5.9604644775390625e-08f, -INFINITY, -0.0f};
        static const uint16_t b[] = {0x3f80, 0x0001, 0xff80, 0xc2f7};
        static const float want_b[] = {1, 9.183549615799121e-41f, -INFINITY, -123.5f};
        vkdl_tensor *t = mk1(c, VKDL_F32, 5), *u = mk1(c, VKDL_F32, 4);
        float got[5];
        TH_OK(vkdl_tensor_upload(t, h, VKDL_F16, sizeof h));
        TH_OK(vkdl_tensor_download(t, got, VKDL_F32, sizeof got));
        for (int i = 0; i < 5; i++)
            if (!same_float(got[i], want_h[i]))
                th_fail("%s f16->f32: 0x%04x -> %.9g", ctx_label(c), h[i], got[i]);
        TH_OK(vkdl_tensor_upload(u, b, VKDL_BF16, sizeof b));
        TH_OK(vkdl_tensor_download(u, got, VKDL_F32, 16));
        for (int i = 0; i < 4; i++)
            if (!same_float(got[i], want_b[i]))
                th_fail("%s bf16->f32: 0x%04x -> %.9g", ctx_label(c), b[i], got[i]);
        vkdl_tensor_destroy(t);
        vkdl_tensor_destroy(u);
    }
    /* bad host buffers */
    {
        vkdl_tensor *t = mk1(c, VKDL_F32, 10);
        float buf[11] = {0};
        TH_STATUS(vkdl_tensor_upload(t, buf, VKDL_F32, 39), VKDL_ERROR_INVALID_ARGUMENT, "bytes");
        TH_STATUS(vkdl_tensor_upload(t, buf, VKDL_F32, 44), VKDL_ERROR_INVALID_ARGUMENT, "bytes");
        TH_STATUS(vkdl_tensor_upload(t, buf, VKDL_F16, 40), VKDL_ERROR_INVALID_ARGUMENT, "20");
        TH_STATUS(vkdl_tensor_upload(t, buf, VKDL_F32, 0), VKDL_ERROR_INVALID_ARGUMENT, "bytes");
        TH_STATUS(vkdl_tensor_download(t, buf, VKDL_F32, 41), VKDL_ERROR_INVALID_ARGUMENT, "bytes");
        TH_STATUS(vkdl_tensor_download(t, buf, VKDL_U8, 40), VKDL_ERROR_INVALID_ARGUMENT, "bytes");
        TH_STATUS(vkdl_tensor_upload(t, NULL, VKDL_F32, 40), VKDL_ERROR_INVALID_ARGUMENT, "NULL");
        TH_STATUS(vkdl_tensor_download(t, NULL, VKDL_F32, 40), VKDL_ERROR_INVALID_ARGUMENT, "NULL");
        TH_STATUS(vkdl_tensor_upload(t, buf, (vkdl_dtype)7, 40), VKDL_ERROR_INVALID_ARGUMENT, "dtype");
        TH_STATUS(vkdl_tensor_download(t, buf, (vkdl_dtype)-3, 40), VKDL_ERROR_INVALID_ARGUMENT, "dtype");
        TH_STATUS(vkdl_tensor_upload(NULL, buf, VKDL_F32, 40), VKDL_ERROR_INVALID_ARGUMENT, "NULL");
        TH_STATUS(vkdl_tensor_download(NULL, buf, VKDL_F32, 40), VKDL_ERROR_INVALID_ARGUMENT, "NULL");
        TH_STATUS(vkdl_tensor_fill(NULL, 1.0), VKDL_ERROR_INVALID_ARGUMENT, "NULL");
        vkdl_tensor_destroy(t);
    }
}

static void run_conversions(void *arg) { check_conversions(*(vkdl_context **)arg); }

/* ------------------------------------------------------------------ 4. views */

static void check_reshape_slice(vkdl_context *c)
{
    int64_t s[2] = {4, 6};
    vkdl_tensor *t = mk(c, VKDL_F32, 2, s), *v = NULL;
    float data[24], back[24];
    for (int i = 0; i < 24; i++)
        data[i] = (float)i;
    TH_OK(vkdl_tensor_upload(t, data, VKDL_F32, sizeof data));

    TH_OK(vkdl_tensor_reshape(t, 2, (int64_t[]){-1, 3}, &v));
    if (v) {
        TH_TRUE(vkdl_tensor_ndim(v) == 2 && vkdl_tensor_dim(v, 0) == 8 && vkdl_tensor_dim(v, -1) == 3);
        TH_TRUE(vkdl_tensor_dim(v, 2) == 0 && vkdl_tensor_dim(v, -3) == 0);
        TH_OK(vkdl_tensor_download(v, back, VKDL_F32, sizeof back));
        TH_TRUE(memcmp(back, data, sizeof data) == 0);
    }
    vkdl_tensor_destroy(v);
    TH_OK(vkdl_tensor_reshape(t, 4, (int64_t[]){2, 1, -1, 4}, &v));
    TH_TRUE(vkdl_tensor_dim(v, 2) == 3);
    vkdl_tensor_destroy(v);
    TH_STATUS(vkdl_tensor_reshape(t, 3, (int64_t[]){-1, 2, -1}, &v), VKDL_ERROR_INVALID_ARGUMENT, "-1");
    TH_TRUE(v == NULL);
    TH_STATUS(vkdl_tensor_reshape(t, 2, (int64_t[]){5, 5}, &v), VKDL_ERROR_SHAPE_MISMATCH, "4x6");
    TH_STATUS(vkdl_tensor_reshape(t, 2, (int64_t[]){-1, 5}, &v), VKDL_ERROR_SHAPE_MISMATCH, "4x6");
    TH_STATUS(vkdl_tensor_reshape(t, 2, (int64_t[]){-2, -12}, &v), VKDL_ERROR_INVALID_ARGUMENT, NULL);
    TH_STATUS(vkdl_tensor_reshape(t, 0, NULL, &v), VKDL_ERROR_SHAPE_MISMATCH, "4x6");
    TH_STATUS(vkdl_tensor_reshape(t, VKDL_MAX_DIMS + 1, s, &v), VKDL_ERROR_INVALID_ARGUMENT, NULL);
    TH_STATUS(vkdl_tensor_reshape(t, 2, NULL, &v), VKDL_ERROR_INVALID_ARGUMENT, NULL);
    TH_STATUS(vkdl_tensor_reshape(NULL, 1, s, &v), VKDL_ERROR_INVALID_ARGUMENT, NULL);
    TH_STATUS(vkdl_tensor_reshape(t, 1, s, NULL), VKDL_ERROR_INVALID_ARGUMENT, NULL);

    TH_OK(vkdl_tensor_slice(t, 1, 3, &v));
    if (v) {
        TH_TRUE(vkdl_tensor_dim(v, 0) == 2 && vkdl_tensor_dim(v, 1) == 6 && vkdl_tensor_numel(v) == 12);
        TH_OK(vkdl_tensor_download(v, back, VKDL_F32, 12 * 4));
        TH_TRUE(memcmp(back, data + 6, 12 * 4) == 0);
    }
    vkdl_tensor_destroy(v);
    TH_OK(vkdl_tensor_slice(t, 4, 4, &v));
    TH_TRUE(vkdl_tensor_numel(v) == 0);
    vkdl_tensor_destroy(v);
    TH_STATUS(vkdl_tensor_slice(t, 3, 2, &v), VKDL_ERROR_INVALID_ARGUMENT, "out of range");
    TH_STATUS(vkdl_tensor_slice(t, 0, 5, &v), VKDL_ERROR_INVALID_ARGUMENT, "4x6");
    TH_STATUS(vkdl_tensor_slice(t, -1, 2, &v), VKDL_ERROR_INVALID_ARGUMENT, "out of range");
    TH_STATUS(vkdl_tensor_slice(NULL, 0, 1, &v), VKDL_ERROR_INVALID_ARGUMENT, NULL);
    TH_STATUS(vkdl_tensor_slice(t, 0, 1, NULL), VKDL_ERROR_INVALID_ARGUMENT, NULL);
    vkdl_tensor *sc = mk(c, VKDL_F32, 0, NULL);
    TH_STATUS(vkdl_tensor_slice(sc, 0, 1, &v), VKDL_ERROR_INVALID_ARGUMENT, "scalar");
    TH_TRUE(v == NULL);
    /* a 1-element tensor reshapes to a scalar and back */
    vkdl_tensor *one = NULL, *sc2 = NULL;
    TH_OK(vkdl_tensor_reshape(sc, 3, (int64_t[]){1, 1, -1}, &one));
    TH_OK(vkdl_tensor_reshape(one, 0, NULL, &sc2));
    TH_TRUE(vkdl_tensor_ndim(sc2) == 0 && vkdl_tensor_numel(sc2) == 1);
    vkdl_tensor_destroy(sc2);
    vkdl_tensor_destroy(one);
    vkdl_tensor_destroy(sc);
    vkdl_tensor_destroy(t);
}

/* A view keeps the storage alive after its source handle is gone, with GPU work pending on it. */
static void check_keep_alive(vkdl_context *c)
{
    size_t cur0 = mem_current(c);
    enum { R = 64, C = 33 };
    int64_t s[2] = {R, C};
    vkdl_tensor *src = mk(c, VKDL_F32, 2, s), *v = NULL, *r = NULL;
    float *data = malloc(R * C * 4), *back = malloc(R * C * 4);
    for (int i = 0; i < R * C; i++)
        data[i] = (float)i * 0.5f;
    TH_OK(vkdl_tensor_upload(src, data, VKDL_F32, R * C * 4));
    TH_OK(vkdl_scale(src, 2.0f, 1.0f, src)); /* pending on the device when the source dies */
    TH_OK(vkdl_tensor_slice(src, 10, 20, &v));
    TH_OK(vkdl_tensor_reshape(v, 1, (int64_t[]){-1}, &r));
    size_t held = mem_current(c);
    vkdl_tensor_destroy(src);
    TH_TRUE(mem_current(c) == held);
    /* new tensors must not land on the storage the views still use */
    vkdl_tensor *other = mk(c, VKDL_F32, 2, s);
    TH_OK(vkdl_tensor_fill(other, -99));
    TH_OK(vkdl_tensor_download(v, back, VKDL_F32, 10 * C * 4));
    for (int i = 0; i < 10 * C; i++)
        if (back[i] != data[10 * C + i] * 2 + 1) {
            th_fail("%s: view [%d] = %g, want %g", ctx_label(c), i, back[i], data[10 * C + i] * 2 + 1);
            break;
        }
    TH_OK(vkdl_unary(VKDL_NEG, r, r));
    vkdl_tensor_destroy(v);
    TH_OK(vkdl_tensor_download(r, back, VKDL_F32, 10 * C * 4));
    for (int i = 0; i < 10 * C; i++)
        if (back[i] != -(data[10 * C + i] * 2 + 1)) {
            th_fail("%s: reshaped view [%d] = %g", ctx_label(c), i, back[i]);
            break;
        }
    TH_OK(vkdl_tensor_fill(r, 3));
    vkdl_tensor_destroy(r);
    vkdl_tensor_destroy(other);
    TH_TRUE(mem_current(c) == cur0);
    free(data);
    free(back);
}

/* A tensor destroyed while GPU work that writes it is still pending: a new tensor that gets its
 * memory must not see that write land after its own upload. */
static void check_reuse_pending(vkdl_context *c)
{
    enum { N = 4096 };
    float *h = malloc(N * 4), *back = malloc(N * 4);
    for (int round = 0; round < 3; round++) {
        vkdl_tensor *x = mk1(c, VKDL_F32, N), *y = mk1(c, VKDL_F32, N);
        TH_OK(vkdl_tensor_fill(x, 5));
        for (int i = 0; i < 8; i++)
            TH_OK(vkdl_scale(x, 1, 1, y)); /* y = 6, pending */
        if (round == 1)
            TH_OK(vkdl_tensor_fill(y, 7));
        vkdl_tensor_destroy(y);
        vkdl_tensor *z = mk1(c, VKDL_F32, N);
        for (int i = 0; i < N; i++)
            h[i] = (float)i;
        if (round == 2) {
            TH_OK(vkdl_tensor_fill(z, 0));
            TH_OK(vkdl_binary(VKDL_ADD, z, x, z)); /* 5 */
        } else {
            TH_OK(vkdl_tensor_upload(z, h, VKDL_F32, N * 4));
        }
        vkdl_tensor_destroy(x);
        TH_OK(vkdl_tensor_download(z, back, VKDL_F32, N * 4));
        for (int i = 0; i < N; i++)
            if (back[i] != (round == 2 ? 5.0f : h[i])) {
                th_fail("%s: reused memory, round %d: [%d] = %g", ctx_label(c), round, i, back[i]);
                break;
            }
        vkdl_tensor_destroy(z);
    }
    free(h);
    free(back);
}

/* Fill (and upload) through views at odd element offsets; the neighbours stay as they were. */
static void check_view_fill(vkdl_context *c)
{
    /* f16 and bf16: 11 elements 1..11; [0,1) offset 0 size 2, [3,6) offset 6, [8,10) offset 16 size 4 */
    for (int k = 0; k < 2; k++) {
        vkdl_dtype d = k ? VKDL_BF16 : VKDL_F16;
        vkdl_tensor *t = mk1(c, d, 11), *a = NULL, *b = NULL, *e = NULL;
        float v[11], back[11];
        for (int i = 0; i < 11; i++)
            v[i] = (float)(i + 1);
        TH_OK(vkdl_tensor_upload(t, v, VKDL_F32, sizeof v));
        TH_OK(vkdl_tensor_slice(t, 0, 1, &a));
        TH_OK(vkdl_tensor_slice(t, 3, 6, &b));
        TH_OK(vkdl_tensor_slice(t, 8, 10, &e));
        TH_OK(vkdl_tensor_fill(a, -1));
        TH_OK(vkdl_tensor_fill(b, 7.5));
        TH_OK(vkdl_tensor_fill(e, 0.25));
        const float want[11] = {-1, 2, 3, 7.5f, 7.5f, 7.5f, 7, 8, 0.25f, 0.25f, 11};
        TH_OK(vkdl_tensor_download(t, back, VKDL_F32, sizeof back));
        for (int i = 0; i < 11; i++)
            if (back[i] != want[i])
                th_fail("%s %s view fill: [%d] = %g, want %g", ctx_label(c), vkdl_dtype_name(d), i, back[i], want[i]);
        /* upload and download through the odd view */
        float three[3] = {-4, -5, -6}, got3[3] = {0};
        TH_OK(vkdl_tensor_upload(b, three, VKDL_F32, sizeof three));
        TH_OK(vkdl_tensor_download(b, got3, VKDL_F32, sizeof got3));
        TH_TRUE(memcmp(three, got3, sizeof three) == 0);
        TH_OK(vkdl_tensor_download(t, back, VKDL_F32, sizeof back));
        TH_TRUE(back[2] == 3 && back[3] == -4 && back[5] == -6 && back[6] == 7);
        vkdl_tensor_destroy(a);
        vkdl_tensor_destroy(b);
        vkdl_tensor_destroy(e);
        vkdl_tensor_destroy(t);
    }
    /* 2-D f16 [5,3]: row 1 starts at byte 6 */
    {
        int64_t s[2] = {5, 3};
        vkdl_tensor *t = mk(c, VKDL_F16, 2, s), *row = NULL;
        TH_OK(vkdl_tensor_fill(t, 1));
        TH_OK(vkdl_tensor_slice(t, 1, 2, &row));
        TH_OK(vkdl_tensor_fill(row, 3));
        float back[15];
        TH_OK(vkdl_tensor_download(t, back, VKDL_F32, sizeof back));
        for (int i = 0; i < 15; i++)
            if (back[i] != (i >= 3 && i < 6 ? 3 : 1))
                th_fail("%s f16 row fill: [%d] = %g", ctx_label(c), i, back[i]);
        vkdl_tensor_destroy(row);
        vkdl_tensor_destroy(t);
    }
    /* u8: 13 elements 1..13; [1,2) one byte, [5,8) odd, [8,12) 4 aligned bytes, [12,13) the last */
    {
        vkdl_tensor *t = mk1(c, VKDL_U8, 13), *v[4] = {0};
        uint8_t init[13], back[13];
        for (int i = 0; i < 13; i++)
            init[i] = (uint8_t)(i + 1);
        TH_OK(vkdl_tensor_upload(t, init, VKDL_U8, sizeof init));
        const int64_t lo[4] = {1, 5, 8, 12}, hi[4] = {2, 8, 12, 13};
        const double val[4] = {100, 200, 50, 255};
        for (int i = 0; i < 4; i++) {
            TH_OK(vkdl_tensor_slice(t, lo[i], hi[i], &v[i]));
            TH_OK(vkdl_tensor_fill(v[i], val[i]));
        }
        const uint8_t want[13] = {1, 100, 3, 4, 5, 200, 200, 200, 50, 50, 50, 50, 255};
        TH_OK(vkdl_tensor_download(t, back, VKDL_U8, sizeof back));
        for (int i = 0; i < 13; i++)
            if (back[i] != want[i])
                th_fail("%s u8 view fill: [%d] = %u, want %u", ctx_label(c), i, back[i], want[i]);
        uint8_t two[3] = {9, 8, 7};
        TH_OK(vkdl_tensor_upload(v[1], two, VKDL_U8, 3));
        TH_OK(vkdl_tensor_download(t, back, VKDL_U8, sizeof back));
        TH_TRUE(back[4] == 5 && back[5] == 9 && back[7] == 7 && back[8] == 50);
        for (int i = 0; i < 4; i++)
            vkdl_tensor_destroy(v[i]);
        vkdl_tensor_destroy(t);
    }
}

static void run_views(void *arg)
{
    vkdl_context *c = *(vkdl_context **)arg;
    check_reshape_slice(c);
    check_keep_alive(c);
    check_reuse_pending(c);
    check_view_fill(c);
}

/* ------------------------------------------------------------------ 5. fill */

/* fill(t, v) equals uploading v as f32 on the CPU backend, for every dtype, size and value. */
static void check_fill_all(vkdl_context *c)
{
    static const double vals[] = {3.25, -1.5, 0, -0.0, 65504, 1e6, NAN, 0.1, 300, -2147483648.0, INFINITY};
    static const int64_t sizes[] = {1, 3, 1001, 1024, 4099};
    for (size_t di = 0; di < LEN(ALL_DTYPES); di++)
        for (size_t si = 0; si < LEN(sizes); si++)
            for (size_t vi = 0; vi < LEN(vals); vi++) {
                vkdl_dtype d = ALL_DTYPES[di];
                int64_t n = sizes[si];
                size_t es = vkdl_dtype_size(d);
                vkdl_tensor *t = mk1(c, d, n), *ref = mk1(th_cpu, d, n);
                float *host = malloc((size_t)n * 4);
                uint8_t *got = calloc((size_t)n, es), *want = calloc((size_t)n, es);
                for (int64_t i = 0; i < n; i++)
                    host[i] = (float)vals[vi];
                TH_OK(vkdl_tensor_upload(ref, host, VKDL_F32, (size_t)n * 4));
                TH_OK(vkdl_tensor_fill(t, vals[vi]));
                TH_OK(vkdl_tensor_download(t, got, d, (size_t)n * es));
                TH_OK(vkdl_tensor_download(ref, want, d, (size_t)n * es));
                if (memcmp(got, want, (size_t)n * es) != 0)
                    th_fail("%s: fill %s[%lld] with %g differs from the upload", ctx_label(c), vkdl_dtype_name(d),
                            (long long)n, vals[vi]);
                free(host);
                free(got);
                free(want);
                vkdl_tensor_destroy(t);
                vkdl_tensor_destroy(ref);
            }
    /* a few exact expectations */
    vkdl_tensor *h = mk1(c, VKDL_F16, 5), *i = mk1(c, VKDL_I32, 5), *u = mk1(c, VKDL_U8, 5), *b = mk1(c, VKDL_BF16, 5);
    uint16_t hb[5], bb[5];
    int32_t ib[5];
    uint8_t ub[5];
    TH_OK(vkdl_tensor_fill(h, 65504));
    TH_OK(vkdl_tensor_download(h, hb, VKDL_F16, sizeof hb));
    TH_TRUE(hb[0] == 0x7bff && hb[4] == 0x7bff);
    TH_OK(vkdl_tensor_fill(h, 65520));
    TH_OK(vkdl_tensor_download(h, hb, VKDL_F16, sizeof hb));
    TH_TRUE(hb[0] == 0x7c00 && hb[4] == 0x7c00);
    TH_OK(vkdl_tensor_fill(b, -2.5));
    TH_OK(vkdl_tensor_download(b, bb, VKDL_BF16, sizeof bb));
    TH_TRUE(bb[0] == 0xc020 && bb[4] == 0xc020);
    TH_OK(vkdl_tensor_fill(i, -1.5));
    TH_OK(vkdl_tensor_download(i, ib, VKDL_I32, sizeof ib));
    TH_TRUE(ib[0] == -1 && ib[4] == -1);
    TH_OK(vkdl_tensor_fill(i, 1e12));
    TH_OK(vkdl_tensor_download(i, ib, VKDL_I32, sizeof ib));
    TH_TRUE(ib[0] == INT32_MAX && ib[4] == INT32_MAX);
    TH_OK(vkdl_tensor_fill(u, 300));
    TH_OK(vkdl_tensor_download(u, ub, VKDL_U8, sizeof ub));
    TH_TRUE(ub[0] == 255 && ub[4] == 255);
    TH_OK(vkdl_tensor_fill(u, 7.9));
    TH_OK(vkdl_tensor_download(u, ub, VKDL_U8, sizeof ub));
    TH_TRUE(ub[0] == 7 && ub[4] == 7);
    vkdl_tensor_destroy(h);
    vkdl_tensor_destroy(i);
    vkdl_tensor_destroy(u);
    vkdl_tensor_destroy(b);
}

static void run_fill(void *arg) { check_fill_all(*(vkdl_context **)arg); }

/* ------------------------------------------------------------------ 6. staging */

static vkdl_context *staging_ctx(void)
{
    char *saved = env_set("VKDL_FORCE_STAGING", "1");
    vkdl_context *c = ctx_new(VKDL_BACKEND_VULKAN, 0, NULL);
    env_restore("VKDL_FORCE_STAGING", saved);
    return c;
}

/* Uploads interleaved with dispatches in one batch and across batches: each upload must land
 * after the dispatches recorded before it that read the old contents, and before those after. */
static void check_interleaved(vkdl_context *c)
{
    enum { N = 777, STEPS = 300 };
    vkdl_context *ctxs[2] = {c, th_cpu};
    float res[2][N];
    float *host = malloc(N * 4);
    for (int k = 0; k < 2; k++) {
        vkdl_tensor *x = mk1(ctxs[k], VKDL_F32, N), *y = mk1(ctxs[k], VKDL_F32, N), *acc = mk1(ctxs[k], VKDL_F32, N);
        TH_OK(vkdl_tensor_fill(acc, 0));
        for (int s = 0; s < STEPS; s++) {
            for (int i = 0; i < N; i++)
                host[i] = (float)((i * 7 + s * 13) % 101) * 0.125f;
            TH_OK(vkdl_tensor_upload(x, host, VKDL_F32, N * 4));
            TH_OK(vkdl_scale(x, 0.5f, (float)(s % 5), y));
            TH_OK(vkdl_binary(VKDL_ADD, acc, y, acc));
            for (int i = 0; i < N; i++)
                host[i] = (float)((i * 3 + s) % 17);
            TH_OK(vkdl_tensor_upload(x, host, VKDL_F32, N * 4)); /* WAR against the scale */
            TH_OK(vkdl_binary(VKDL_SUB, acc, x, acc));
            if (s % 50 == 49) { /* a fill and an upload to the accumulator itself */
                TH_OK(vkdl_tensor_download(acc, res[k], VKDL_F32, N * 4));
                TH_OK(vkdl_tensor_fill(y, 1));
                TH_OK(vkdl_binary(VKDL_MUL, acc, y, acc));
                TH_OK(vkdl_tensor_upload(acc, res[k], VKDL_F32, N * 4));
            }
        }
        TH_OK(vkdl_tensor_download(acc, res[k], VKDL_F32, N * 4));
        vkdl_tensor_destroy(x);
        vkdl_tensor_destroy(y);
        vkdl_tensor_destroy(acc);
    }
    close_f32(res[0], res[1], N, "interleaved uploads and dispatches");
    free(host);
}

static void run_staging(void *arg)
{
    (void)arg;
    vkdl_context *c = staging_ctx();
    if (!c)
        return;
    check_zero_size(c);
    check_conversions(c);
    check_view_fill(c);
    check_keep_alive(c);
    check_reuse_pending(c);
    check_fill_all(c);
    graph_matches_cpu(c, "staging graph");
    check_interleaved(c);
    /* unary and broadcasting binary against the CPU */
    {
        int64_t sa[2] = {33, 65}, sb[1] = {65};
        float *a = malloc(33 * 65 * 4), *bv = malloc(65 * 4), *r[2];
        for (int i = 0; i < 33 * 65; i++)
            a[i] = th_randf(-3, 3);
        for (int i = 0; i < 65; i++)
            bv[i] = th_randf(0.5f, 2);
        vkdl_context *ctxs[2] = {c, th_cpu};
        for (int k = 0; k < 2; k++) {
            vkdl_tensor *x = mk(ctxs[k], VKDL_F32, 2, sa), *y = mk(ctxs[k], VKDL_F32, 1, sb),
                        *o = mk(ctxs[k], VKDL_F32, 2, sa);
            TH_OK(vkdl_tensor_upload(x, a, VKDL_F32, 33 * 65 * 4));
            TH_OK(vkdl_tensor_upload(y, bv, VKDL_F32, 65 * 4));
            TH_OK(vkdl_unary(VKDL_SIGMOID, x, o));
            TH_OK(vkdl_binary(VKDL_DIV, o, y, o));
            r[k] = malloc(33 * 65 * 4);
            TH_OK(vkdl_tensor_download(o, r[k], VKDL_F32, 33 * 65 * 4));
            vkdl_tensor_destroy(x);
            vkdl_tensor_destroy(y);
            vkdl_tensor_destroy(o);
        }
        close_f32(r[0], r[1], 33 * 65, "staging unary/binary");
        free(r[0]);
        free(r[1]);
        free(a);
        free(bv);
    }
    ctx_done(c);
}

static void run_interleaved(void *arg) { check_interleaved(*(vkdl_context **)arg); }

/* The profiling path (timestamp queries) and the descriptor-pool path (no push descriptors, as on
 * SwiftShader; pools recycled over many batches) run cleanly under validation. */
static void run_profile_and_pools(void *arg)
{
    (void)arg;
    vkdl_context *c = ctx_new(VKDL_BACKEND_VULKAN, VKDL_CONTEXT_PROFILE, NULL);
    if (c) {
        graph_matches_cpu(c, "profiled graph");
        ctx_done(c);
    }
    char *saved = env_set("VKDL_DISABLE_PUSH_DESCRIPTOR", "1");
    c = ctx_new(VKDL_BACKEND_VULKAN, 0, NULL);
    env_restore("VKDL_DISABLE_PUSH_DESCRIPTOR", saved);
    if (c) {
        graph_matches_cpu(c, "descriptor-pool graph");
        check_interleaved(c);
        check_reuse_pending(c);
        ctx_done(c);
    }
}

/* Transfers larger than a staging chunk, with odd byte counts, then more transfers in the same
 * batch; on a fresh context so the large one is the frame's first staging buffer. */
static void run_staging_large(void *arg)
{
    (void)arg;
    vkdl_context *c = staging_ctx();
    if (!c)
        return;
    const int64_t big = (17 << 20) + 3, small = 1001;
    vkdl_tensor *a = mk1(c, VKDL_U8, big), *b = mk1(c, VKDL_U8, small), *f = mk1(c, VKDL_F32, small),
                *g = mk1(c, VKDL_F32, small);
    uint8_t *ha = malloc((size_t)big), *back = malloc((size_t)big);
    uint8_t hb[1001], bb[1001];
    float hf[1001], gf[1001];
    for (int64_t i = 0; i < big; i++)
        ha[i] = (uint8_t)(i * 31 + 7);
    for (int i = 0; i < small; i++) {
        hb[i] = (uint8_t)(i * 5 + 1);
        hf[i] = (float)i;
    }
    TH_OK(vkdl_tensor_upload(a, ha, VKDL_U8, (size_t)big));
    TH_OK(vkdl_tensor_upload(b, hb, VKDL_U8, (size_t)small));
    TH_OK(vkdl_tensor_upload(f, hf, VKDL_F32, sizeof hf));
    TH_OK(vkdl_scale(f, 2, 1, g));
    TH_OK(vkdl_tensor_download(g, gf, VKDL_F32, sizeof gf));
    TH_OK(vkdl_tensor_download(b, bb, VKDL_U8, sizeof bb));
    TH_OK(vkdl_tensor_download(a, back, VKDL_U8, (size_t)big));
    TH_TRUE(memcmp(ha, back, (size_t)big) == 0);
    TH_TRUE(memcmp(hb, bb, sizeof hb) == 0);
    for (int i = 0; i < small; i++)
        if (gf[i] != 2 * hf[i] + 1) {
            th_fail("scale after a large upload: [%d] = %g", i, gf[i]);
            break;
        }
    /* the same again, now with the frame's staging buffers already made */
    for (int64_t i = 0; i < big; i++)
        ha[i] = (uint8_t)(i * 17 + 3);
    TH_OK(vkdl_tensor_upload(a, ha, VKDL_U8, (size_t)big));
    TH_OK(vkdl_tensor_upload(b, ha, VKDL_U8, (size_t)small));
    TH_OK(vkdl_tensor_upload(a, ha, VKDL_U8, (size_t)big));
    TH_OK(vkdl_tensor_download(a, back, VKDL_U8, (size_t)big));
    TH_TRUE(memcmp(ha, back, (size_t)big) == 0);
    TH_OK(vkdl_tensor_download(b, bb, VKDL_U8, sizeof bb));
    TH_TRUE(memcmp(ha, bb, sizeof bb) == 0);
    free(ha);
    free(back);
    vkdl_tensor_destroy(a);
    vkdl_tensor_destroy(b);
    vkdl_tensor_destroy(f);
    vkdl_tensor_destroy(g);
    ctx_done(c);
}

/* ------------------------------------------------------------------ 7. pipeline cache file */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void rm_tree(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* The one pipelines-*.bin entry in dir (path into out); counts leftover *.tmp files too. */
static int find_cache(const char *dir, char *out, size_t n, int *tmp_files)
{
    DIR *d = opendir(dir);
    int found = 0;
    if (tmp_files)
        *tmp_files = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (strncmp(e->d_name, "pipelines-", 10) == 0 && len > 4 && strcmp(e->d_name + len - 4, ".bin") == 0) {
            snprintf(out, n, "%s/%s", dir, e->d_name);
            found++;
        }
        if (tmp_files && len > 4 && strcmp(e->d_name + len - 4, ".tmp") == 0)
            (*tmp_files)++;
    }
    closedir(d);
    return found;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (long)st.st_size : -1;
}

static bool cache_valid(const char *path, const char *when)
{
    FILE *f = fopen(path, "rb");
    char hdr[72];
    bool ok = false;
    long size = file_size(path);
    if (f && size > 100 && fread(hdr, 1, sizeof hdr, f) == sizeof hdr && memcmp(hdr, "VKDLPC01", 8) == 0) {
        uint32_t header_size;
        uint64_t data_size;
        memcpy(&header_size, hdr + 8, 4);
        memcpy(&data_size, hdr + 56, 8);
        ok = header_size == sizeof hdr && (uint64_t)size == header_size + data_size;
    }
    if (f)
        fclose(f);
    if (!ok)
        th_fail("%s: %s is not a valid cache file (size %ld)", when, path, size);
    return ok;
}

/* A context on dir runs the graph correctly, sees no validation message and is destroyed. */
static void use_cache_dir(const char *dir, uint32_t flags, const char *when)
{
    vkdl_context *c = ctx_new(VKDL_BACKEND_VULKAN, flags, dir);
    if (!c) {
        th_fail("%s: no context", when);
        return;
    }
    graph_matches_cpu(c, when);
    ctx_done(c);
}

static bool write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(data, 1, n, f) == n;
    if (f)
        ok = fclose(f) == 0 && ok;
    if (!ok)
        th_fail("cannot write %s", path);
    return ok;
}

static void *read_file(const char *path, size_t *n)
{
    long size = file_size(path);
    FILE *f = fopen(path, "rb");
    void *p = size > 0 ? malloc((size_t)size) : NULL;
    if (!f || !p || fread(p, 1, (size_t)size, f) != (size_t)size) {
        free(p);
        p = NULL;
    }
    if (f)
        fclose(f);
    *n = p ? (size_t)size : 0;
    return p;
}

static void flip_byte(const char *path, long at)
{
    size_t n;
    uint8_t *p = read_file(path, &n);
    if (!p || (size_t)at >= n) {
        th_fail("cannot flip byte %ld of %s", at, path);
        free(p);
        return;
    }
    p[at] ^= 0x5a;
    write_file(path, p, n);
    free(p);
}

/* Flip a byte of the Vulkan data and fix up the checksum (64-bit FNV-1a over the data), so that
 * only the checks after the checksum can notice. */
static void flip_data_fix_checksum(const char *path, long at)
{
    size_t n;
    uint8_t *p = read_file(path, &n);
    if (!p || n <= 72 || (size_t)at >= n) {
        th_fail("cannot corrupt %s at %ld (%zu bytes)", path, at, n);
        free(p);
        return;
    }
    p[at] ^= 0x5a;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 72; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    memcpy(p + 64, &h, 8);
    write_file(path, p, n);
    free(p);
}

static void run_cache_file(void *arg)
{
    (void)arg;
    char dir[] = "/tmp/vkdl-test-runtime-XXXXXX";
    if (!mkdtemp(dir)) {
        th_fail("mkdtemp: %s", strerror(errno));
        return;
    }
    char path[1024], when[128];
    int tmp_files = 0;
    use_cache_dir(dir, 0, "first use");
    if (find_cache(dir, path, sizeof path, NULL) != 1) {
        th_fail("no pipelines-*.bin in %s after the first context", dir);
        rm_tree(dir);
        return;
    }
    cache_valid(path, "first use");
    use_cache_dir(dir, 0, "second use");
    cache_valid(path, "second use");

    enum { TRUNC10, TRUNC_HALF, FLIP_DATA, RANDOM, FOREIGN_CACHE_UUID, FOREIGN_DEVICE_UUID, FOREIGN_VENDOR, SIZE_FIELD,
           APPENDED, EMPTY, VK_HEADER, VK_HEADER_CHECKSUM, VK_UUID_CHECKSUM, VK_BODY_CHECKSUM, N_CORRUPT };
    static const char *names[] = {"truncated to 10 bytes", "truncated to half", "a data byte flipped",
                                  "4 KB of random bytes", "another cache UUID", "another device UUID",
                                  "another vendor", "data size field off by one", "a byte appended", "empty",
                                  "Vulkan header byte flipped", "Vulkan vendor id flipped, checksum fixed",
                                  "Vulkan cache UUID flipped, checksum fixed",
                                  "Vulkan data flipped past its header, checksum fixed"};
    for (int k = 0; k < N_CORRUPT; k++) {
        long size = file_size(path);
        switch (k) {
        case TRUNC10: TH_TRUE(truncate(path, 10) == 0); break;
        case TRUNC_HALF: TH_TRUE(truncate(path, size / 2) == 0); break;
        case FLIP_DATA: flip_byte(path, 72 + (size - 72) / 2); break;
        case RANDOM: {
            uint32_t junk[1024];
            for (int i = 0; i < 1024; i++)
                junk[i] = (uint32_t)th_randu(UINT32_MAX);
            write_file(path, junk, sizeof junk);
            break;
        }
        case FOREIGN_CACHE_UUID: flip_byte(path, 8 + 16); break;
        case FOREIGN_DEVICE_UUID: flip_byte(path, 8 + 16 + 16 + 3); break;
        case FOREIGN_VENDOR: flip_byte(path, 12); break;
        case SIZE_FIELD: {
            size_t n;
            uint8_t *p = read_file(path, &n);
            if (p) {
                uint64_t ds;
                memcpy(&ds, p + 56, 8);
                ds -= 1;
                memcpy(p + 56, &ds, 8);
                write_file(path, p, n);
            }
            free(p);
            break;
        }
        case APPENDED: {
            FILE *f = fopen(path, "ab");
            TH_TRUE(f && fputc(0, f) == 0 && fclose(f) == 0);
            break;
        }
        case EMPTY: TH_TRUE(truncate(path, 0) == 0); break;
        case VK_HEADER: flip_byte(path, 72 + 9); break; /* the vendor id inside Vulkan's own header */
        case VK_HEADER_CHECKSUM: flip_data_fix_checksum(path, 72 + 9); break;
        case VK_UUID_CHECKSUM: flip_data_fix_checksum(path, 72 + 16 + 5); break;
        case VK_BODY_CHECKSUM: /* lavapipe and SwiftShader save only Vulkan's 32-byte header */
            if (size > 72 + 32)
                flip_data_fix_checksum(path, 72 + 32 + (size - 72 - 32) / 2);
            break;
        }
        snprintf(when, sizeof when, "cache %s", names[k]);
        use_cache_dir(dir, 0, when);
        cache_valid(path, when);
        if (find_cache(dir, path, sizeof path, &tmp_files) != 1 || tmp_files)
            th_fail("%s: %d temporary files left, or not exactly one cache file", when, tmp_files);
    }

    /* a directory where the file should be: ignored, not replaced, nothing left behind */
    TH_TRUE(remove(path) == 0);
    TH_TRUE(mkdir(path, 0755) == 0);
    use_cache_dir(dir, 0, "cache file is a directory");
    struct stat st;
    TH_TRUE(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
    find_cache(dir, path, sizeof path, &tmp_files);
    TH_TRUE(tmp_files == 0);
    TH_TRUE(rmdir(path) == 0);
    use_cache_dir(dir, 0, "after the directory");
    cache_valid(path, "after the directory");

    /* the cache directory is a file: nothing to save, nothing fails */
    char sub[1100];
    snprintf(sub, sizeof sub, "%s/plain-file", dir);
    write_file(sub, "x", 1);
    use_cache_dir(sub, 0, "cache dir is a file");
    TH_TRUE(file_size(sub) == 1);
    /* missing parent directories are made */
    snprintf(sub, sizeof sub, "%s/a/b/c", dir);
    use_cache_dir(sub, 0, "nested cache dir");
    char nested[1200];
    if (find_cache(sub, nested, sizeof nested, NULL) == 1)
        cache_valid(nested, "nested cache dir");
    else
        th_fail("no cache file in %s", sub);
    /* NO_DISK_CACHE writes nothing */
    snprintf(sub, sizeof sub, "%s/none", dir);
    use_cache_dir(sub, VKDL_CONTEXT_NO_DISK_CACHE, "no disk cache");
    TH_TRUE(access(sub, F_OK) != 0);
    TH_TRUE(mkdir(sub, 0755) == 0);
    use_cache_dir(sub, VKDL_CONTEXT_NO_DISK_CACHE, "no disk cache");
    TH_TRUE(find_cache(sub, nested, sizeof nested, &tmp_files) == 0 && tmp_files == 0);

    rm_tree(dir);
    TH_TRUE(access(dir, F_OK) != 0);
}

/* ------------------------------------------------------------------ 8. device selection */

static vkdl_status try_device(const char *device, vkdl_context **out)
{
    vkdl_context_create_info ci = {.backend = VKDL_BACKEND_VULKAN, .device = device,
                                   .flags = VKDL_CONTEXT_VALIDATE | VKDL_CONTEXT_NO_DISK_CACHE};
    return vkdl_context_create(&ci, out);
}

static void run_device_select(void *arg)
{
    (void)arg;
    vkdl_context *c = (vkdl_context *)&c;
    TH_STATUS(try_device("no-such-device-xyz", &c), VKDL_ERROR_NO_DEVICE, "no-such-device-xyz");
    TH_TRUE(c == NULL);
    TH_STATUS(try_device("99", &c), VKDL_ERROR_NO_DEVICE, "out of range");
    TH_STATUS(try_device("-1", &c), VKDL_ERROR_NO_DEVICE, "out of range");
    TH_TRUE(c == NULL);
    if (TH_OK(try_device("0", &c))) {
        graph_matches_cpu(c, "device 0");
        ctx_done(c);
    }
    /* case-insensitive name substrings: four characters of the chosen device's name, and all of it */
    const char *name = vkdl_context_device_name(th_gpu);
    char lower[256] = {0}, sub[5] = {0};
    for (size_t i = 0; name[i] && i < sizeof lower - 1; i++)
        lower[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
    memcpy(sub, lower, 4);
    c = NULL;
    if (TH_OK(try_device(sub, &c))) {
        char got[256] = {0};
        const char *gn = vkdl_context_device_name(c);
        for (size_t i = 0; gn[i] && i < sizeof got - 1; i++)
            got[i] = (char)(gn[i] >= 'A' && gn[i] <= 'Z' ? gn[i] - 'A' + 'a' : gn[i]);
        if (!strstr(got, sub))
            th_fail("\"%s\" chose %s", sub, gn);
        ctx_done(c);
    }
    c = NULL;
    if (TH_OK(try_device(lower, &c))) {
        if (strcmp(vkdl_context_device_name(c), name) != 0)
            th_fail("\"%s\" chose %s, not %s", lower, vkdl_context_device_name(c), name);
        ctx_done(c);
    }
    /* $VKDL_DEVICE when info->device is NULL; info->device wins over it */
    char *saved = env_set("VKDL_DEVICE", "no-such-device-xyz");
    c = NULL;
    TH_STATUS(try_device(NULL, &c), VKDL_ERROR_NO_DEVICE, "no-such-device-xyz");
    if (TH_OK(try_device(lower, &c)))
        ctx_done(c);
    env_restore("VKDL_DEVICE", saved);

    vkdl_context_create_info bad = {.backend = (vkdl_backend)7};
    c = (vkdl_context *)&c;
    TH_STATUS(vkdl_context_create(&bad, &c), VKDL_ERROR_INVALID_ARGUMENT, "backend");
    TH_TRUE(c == NULL);
    bad.backend = (vkdl_backend)-1;
    TH_STATUS(vkdl_context_create(&bad, &c), VKDL_ERROR_INVALID_ARGUMENT, "backend");
    TH_STATUS(vkdl_context_create(NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT, "out");
    /* the CPU backend ignores the device */
    vkdl_context_create_info cpu = {.backend = VKDL_BACKEND_CPU, .device = "no-such-device-xyz"};
    if (TH_OK(vkdl_context_create(&cpu, &c))) {
        TH_TRUE(strcmp(vkdl_context_device_name(c), "cpu") == 0);
        ctx_done(c);
    }
}

/* ------------------------------------------------------------------ 9. misc */

static void run_misc(void *arg)
{
    (void)arg;
    const vkdl_status last = VKDL_ERROR_CONTEXT_MISMATCH;
    for (int s = 0; s <= (int)last; s++) {
        const char *a = vkdl_status_string((vkdl_status)s);
        if (!a || !*a || strcmp(a, vkdl_status_string((vkdl_status)999)) == 0)
            th_fail("status %d has no string", s);
        for (int t = 0; t < s; t++)
            if (a && strcmp(a, vkdl_status_string((vkdl_status)t)) == 0)
                th_fail("statuses %d and %d share the string \"%s\"", t, s, a);
    }
    TH_TRUE(vkdl_status_string((vkdl_status)-1) != NULL);
    TH_TRUE(strcmp(vkdl_status_string(VKDL_OK), "ok") == 0);

    static const char *names[] = {"f32", "f16", "bf16", "i32", "u8"};
    static const size_t sizes[] = {4, 2, 2, 4, 1};
    for (int d = 0; d < 5; d++) {
        TH_TRUE(strcmp(vkdl_dtype_name(ALL_DTYPES[d]), names[d]) == 0);
        TH_TRUE(vkdl_dtype_size(ALL_DTYPES[d]) == sizes[d]);
    }
    TH_TRUE(vkdl_dtype_size((vkdl_dtype)6) == 0 && vkdl_dtype_size((vkdl_dtype)-1) == 0);
    TH_TRUE(vkdl_dtype_name((vkdl_dtype)6) != NULL && vkdl_dtype_name((vkdl_dtype)-1) != NULL);

    FILE *f = tmpfile();
    if (TH_TRUE(f != NULL)) {
        TH_OK(vkdl_devices_print(f, NULL));
        long len = ftell(f);
        char *buf = calloc((size_t)(len > 0 ? len : 0) + 1, 1);
        rewind(f);
        size_t n = len > 0 ? fread(buf, 1, (size_t)len, f) : 0;
        buf[n] = 0;
        TH_TRUE(strstr(buf, "chosen") != NULL);
        TH_TRUE(strstr(buf, vkdl_context_device_name(th_gpu)) != NULL);
        free(buf);
        rewind(f);
        TH_STATUS(vkdl_devices_print(f, "no-such-device-xyz"), VKDL_ERROR_NO_DEVICE, "no-such-device-xyz");
        fclose(f);
    }
    TH_STATUS(vkdl_devices_print(NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT, NULL);

    TH_STATUS(vkdl_sync(NULL), VKDL_ERROR_INVALID_ARGUMENT, NULL);
    TH_OK(vkdl_sync(th_cpu));
    TH_OK(vkdl_sync(th_gpu));
    TH_TRUE(vkdl_context_backend(th_cpu) == VKDL_BACKEND_CPU && vkdl_context_backend(th_gpu) == VKDL_BACKEND_VULKAN);
    TH_TRUE(strcmp(vkdl_context_device_name(th_cpu), "cpu") == 0 && *vkdl_context_device_name(th_gpu));
    TH_TRUE(vkdl_context_validation_messages(th_cpu) == 0 && vkdl_context_validation_messages(NULL) == 0);
    vkdl_context_memory(NULL, NULL, NULL);
    vkdl_context_reset_peak(NULL);
    TH_TRUE(vkdl_tensor_numel(NULL) == 0 && vkdl_tensor_ndim(NULL) == 0 && vkdl_tensor_dim(NULL, 0) == 0 &&
            vkdl_tensor_context(NULL) == NULL);

    /* ops on tensors of different contexts */
    vkdl_context *g2 = ctx_new(VKDL_BACKEND_VULKAN, 0, NULL);
    int64_t n = 8;
    vkdl_tensor *c1 = mk1(th_cpu, VKDL_F32, n), *v1 = mk1(th_gpu, VKDL_F32, n), *v2 = g2 ? mk1(g2, VKDL_F32, n) : NULL;
    TH_OK(vkdl_tensor_fill(c1, 1));
    TH_OK(vkdl_tensor_fill(v1, 1));
    TH_TRUE(vkdl_tensor_context(c1) == th_cpu && vkdl_tensor_context(v1) == th_gpu);
    TH_STATUS(vkdl_unary(VKDL_RELU, v1, c1), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    TH_STATUS(vkdl_scale(c1, 1, 0, v1), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    TH_STATUS(vkdl_binary(VKDL_ADD, v1, c1, v1), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    TH_STATUS(vkdl_binary(VKDL_ADD, c1, v1, v1), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    if (v2) {
        TH_OK(vkdl_tensor_fill(v2, 2));
        TH_STATUS(vkdl_binary(VKDL_MUL, v1, v1, v2), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
        TH_STATUS(vkdl_unary(VKDL_RELU, v2, v1), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    }
    float back[8];
    TH_OK(vkdl_tensor_download(v1, back, VKDL_F32, sizeof back));
    TH_TRUE(back[0] == 1 && back[7] == 1); /* untouched by the failed ops */
    vkdl_tensor_destroy(c1);
    vkdl_tensor_destroy(v1);
    vkdl_tensor_destroy(v2);
    ctx_done(g2);
}

/* ------------------------------------------------------------------ 10. memory reuse */

static void run_memory_churn(void *arg)
{
    vkdl_context *c = *(vkdl_context **)arg;
    size_t cur0 = mem_current(c);
    enum { LIVE = 12, ROUNDS = 1000 };
    vkdl_tensor *live[LIVE] = {0};
    int64_t len[LIVE] = {0};
    for (int r = 0; r < ROUNDS; r++) {
        int slot = (int)th_randu(LIVE);
        if (live[slot]) {
            /* the first and last bytes still hold what was written */
            uint8_t first = 0;
            vkdl_tensor *v = NULL;
            TH_OK(vkdl_tensor_slice(live[slot], len[slot] - 1, len[slot], &v));
            TH_OK(vkdl_tensor_download(v, &first, VKDL_U8, 1));
            if (first != (uint8_t)(len[slot] % 251))
                th_fail("%s: round %d: last byte %u, want %u", ctx_label(c), r, first, (unsigned)(len[slot] % 251));
            vkdl_tensor_destroy(v);
            vkdl_tensor_destroy(live[slot]);
            live[slot] = NULL;
        }
        /* log-uniform from 1 byte to 10 MB */
        int64_t n = (int64_t)exp(th_randf(0, (float)log(10e6)));
        if (n < 1)
            n = 1;
        len[slot] = n;
        live[slot] = mk1(c, VKDL_U8, n);
        if (!live[slot])
            break;
        TH_OK(vkdl_tensor_fill(live[slot], (double)(n % 251)));
    }
    for (int i = 0; i < LIVE; i++)
        vkdl_tensor_destroy(live[i]);
    TH_OK(vkdl_sync(c));
    TH_TRUE(mem_current(c) == cur0);

    /* a dedicated block: 20M floats */
    const int64_t n = 20000000;
    vkdl_tensor *x = mk1(c, VKDL_F32, n), *y = mk1(c, VKDL_F32, n);
    float *h = malloc((size_t)n * 4);
    TH_OK(vkdl_tensor_fill(x, 1.5));
    TH_OK(vkdl_scale(x, 2, 1, y));
    TH_OK(vkdl_tensor_download(y, h, VKDL_F32, (size_t)n * 4));
    for (int64_t i = 0; i < n; i += 9973)
        if (h[i] != 4.0f) {
            th_fail("%s: 20M scale [%lld] = %g", ctx_label(c), (long long)i, h[i]);
            break;
        }
    TH_TRUE(h[n - 1] == 4.0f);
    vkdl_tensor_destroy(x);
    vkdl_tensor_destroy(y);
    /* and again, after the first one was released */
    TH_OK(vkdl_sync(c));
    x = mk1(c, VKDL_F32, n);
    TH_OK(vkdl_tensor_fill(x, -2));
    TH_OK(vkdl_tensor_download(x, h, VKDL_F32, (size_t)n * 4));
    TH_TRUE(h[0] == -2 && h[n / 2] == -2 && h[n - 1] == -2);
    vkdl_tensor_destroy(x);
    free(h);
    TH_TRUE(mem_current(c) == cur0);
}

/* ------------------------------------------------------------------ 11. empty bindings */

static const vkdl_kernel K_COPY = {
    VKDL_SPIRV(copy),
    .n_bindings = 2,
    .access = {VKDL_READ, VKDL_RW},
    .push_size = 2 * sizeof(uint32_t),
    .n_spec = 3,
};

/* A dispatch that binds nothing (no tensor, or one of zero elements) is a caller's mistake, named
 * as such, not a silent no-op. */
static void run_empty_binding(void *arg)
{
    (void)arg;
    int64_t zero = 0;
    vkdl_tensor *x = mk1(th_gpu, VKDL_F32, 4), *empty = mk(th_gpu, VKDL_F32, 1, &zero);
    if (!x || !empty) {
        vkdl_tensor_destroy(x);
        vkdl_tensor_destroy(empty);
        return;
    }
    TH_OK(vkdl_tensor_fill(x, 1));
    uint32_t spec[3] = {64, VKDL_F32, VKDL_F32}, push[2] = {4, 4};
    vkdl_dispatch_info d = {.kernel = &K_COPY, .spec = spec, .tensors = {empty, x}, .push = push, .groups = {1, 1, 1}};
    TH_STATUS(vkdl_dispatch(th_gpu, &d), VKDL_ERROR_INVALID_ARGUMENT, "binding 0 is empty");
    TH_TRUE(strstr(vkdl_last_error(), "copy") != NULL);
    d.tensors[0] = x;
    d.tensors[1] = NULL;
    TH_STATUS(vkdl_dispatch(th_gpu, &d), VKDL_ERROR_INVALID_ARGUMENT, "binding 1 is empty");
    d.tensors[1] = empty;
    TH_STATUS(vkdl_dispatch(th_gpu, &d), VKDL_ERROR_INVALID_ARGUMENT, "binding 1 is empty");
    /* nothing was recorded: x still holds what was filled */
    float h[4];
    TH_OK(vkdl_tensor_download(x, h, VKDL_F32, sizeof h));
    TH_TRUE(h[0] == 1 && h[3] == 1);
    vkdl_tensor_destroy(x);
    vkdl_tensor_destroy(empty);
}

/* ------------------------------------------------------------------ 12. environment switches */

static vkdl_status ctx_with(const char *name, const char *value, vkdl_context **out)
{
    char *saved = env_set(name, value);
    vkdl_context_create_info ci = {.backend = VKDL_BACKEND_VULKAN, .flags = VKDL_CONTEXT_VALIDATE |
                                                                             VKDL_CONTEXT_NO_DISK_CACHE};
    *out = NULL;
    vkdl_status s = vkdl_context_create(&ci, out);
    env_restore(name, saved);
    return s;
}

/* A context made with the switch works: a scale and a sum over 100000 elements match the host. */
static void check_switched(const char *name, const char *value)
{
    vkdl_context *c;
    if (!TH_OK(ctx_with(name, value, &c)))
        return;
    const int64_t n = 100000;
    vkdl_tensor *x = mk1(c, VKDL_F32, n), *y = mk1(c, VKDL_F32, n), *s = mk(c, VKDL_F32, 0, &n);
    float got = 0;
    TH_OK(vkdl_tensor_fill(x, 0.5));
    TH_OK(vkdl_scale(x, 2, 1, y));
    TH_OK(vkdl_reduce(VKDL_SUM, y, -1, s));
    TH_OK(vkdl_tensor_download(s, &got, VKDL_F32, sizeof got));
    if (got != 200000.0f)
        th_fail("%s=%s: sum %g, expected 200000", name, value, got);
    vkdl_tensor_destroy(x);
    vkdl_tensor_destroy(y);
    vkdl_tensor_destroy(s);
    ctx_done(c);
}

/* VKDL_DISABLE, VKDL_LIMIT and VKDL_SERIALIZE reach the caps (only ever lowering them), and a bad
 * word fails context creation naming it and the valid ones. */
static void run_env_switches(void *arg)
{
    (void)arg;
    const vkdl_caps *dev = &th_gpu->dev.caps;
    vkdl_context *c;
    if (TH_OK(ctx_with("VKDL_DISABLE", "subgroup,f16,push_descriptor,cpu_quirk,timestamps,loop_limit,coopmat", &c))) {
        const vkdl_caps *k = &c->dev.caps;
        TH_TRUE(k->subgroup_ops == 0 && !k->fp16 && !k->f16_texel && !k->storage16 && !k->push_descriptor);
        TH_TRUE(!k->timestamps && (k->quirks & VKDL_QUIRK_NO_TIMESTAMPS) && !k->coopmat && k->n_coopmat == 0);
        TH_TRUE(!(k->quirks & (VKDL_QUIRK_CPU_FRIENDLY_KERNELS | VKDL_QUIRK_LOOP_LIMIT)) && !k->max_loop_iterations);
        ctx_done(c);
    }
    if (TH_OK(ctx_with("VKDL_DISABLE_PUSH_DESCRIPTOR", "1", &c))) {
        TH_TRUE(!c->dev.caps.push_descriptor && c->dev.caps.subgroup_ops == dev->subgroup_ops);
        ctx_done(c);
    }
    if (TH_OK(ctx_with("VKDL_LIMIT", "shared=1024,invocations=64,push=96,storage_range=65536,texel=0", &c))) {
        const vkdl_caps *k = &c->dev.caps;
        TH_TRUE(k->max_shared == 1024 && k->max_wg_invocations == 64 && k->max_push_constants == 96);
        TH_TRUE(k->max_storage_range == 65536 && k->max_texel_elements == 0 && k->max_wg_size[0] <= 64);
        ctx_done(c);
    }
    if (TH_OK(ctx_with("VKDL_LIMIT", "shared=18446744073709551615", &c))) {
        TH_TRUE(c->dev.caps.max_shared == dev->max_shared); /* never raised */
        ctx_done(c);
    }
    TH_STATUS(ctx_with("VKDL_DISABLE", "subgroup,fp16", &c), VKDL_ERROR_INVALID_ARGUMENT, "\"fp16\"");
    TH_TRUE(c == NULL && strstr(vkdl_last_error(), "subgroup, f16, push_descriptor") != NULL);
    TH_STATUS(ctx_with("VKDL_LIMIT", "subgroup=8", &c), VKDL_ERROR_INVALID_ARGUMENT, "\"subgroup\"");
    TH_STATUS(ctx_with("VKDL_LIMIT", "shared", &c), VKDL_ERROR_INVALID_ARGUMENT, "<name>=<decimal value>");
    TH_STATUS(ctx_with("VKDL_LIMIT", "shared=1k", &c), VKDL_ERROR_INVALID_ARGUMENT, "<name>=<decimal value>");
    TH_STATUS(ctx_with("VKDL_LIMIT", "shared=-1", &c), VKDL_ERROR_INVALID_ARGUMENT, "<name>=<decimal value>");
    TH_TRUE(c == NULL);
    check_switched("VKDL_SERIALIZE", "1");
    check_switched("VKDL_DISABLE", "subgroup,cpu_quirk,push_descriptor");
    check_switched("VKDL_LIMIT", "invocations=64,shared=4096");
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    static vkdl_backend vulkan = VKDL_BACKEND_VULKAN, cpu = VKDL_BACKEND_CPU;
    th_run("runtime/create/cpu", run_create, &th_cpu);
    th_run("runtime/create/vulkan", run_create, &th_gpu);
    th_run("runtime/create/too-large", run_too_large, NULL);
    th_run("runtime/memory-limit/vulkan", run_memory_limit, &vulkan);
    th_run("runtime/memory-limit/cpu", run_memory_limit, &cpu);
    th_run("runtime/conversions/cpu", run_conversions, &th_cpu);
    th_run("runtime/conversions/vulkan", run_conversions, &th_gpu);
    th_run("runtime/views/cpu", run_views, &th_cpu);
    th_run("runtime/views/vulkan", run_views, &th_gpu);
    th_run("runtime/fill/cpu", run_fill, &th_cpu);
    th_run("runtime/fill/vulkan", run_fill, &th_gpu);
    th_run("runtime/interleaved/vulkan", run_interleaved, &th_gpu);
    th_run("runtime/profile-and-descriptor-pools", run_profile_and_pools, NULL);
    th_run("runtime/staging", run_staging, NULL);
    th_run("runtime/staging/large-odd-transfers", run_staging_large, NULL);
    th_run("runtime/pipeline-cache-file", run_cache_file, NULL);
    th_run("runtime/device-select", run_device_select, NULL);
    th_run("runtime/misc", run_misc, NULL);
    th_run("runtime/memory-churn/cpu", run_memory_churn, &th_cpu);
    th_run("runtime/memory-churn/vulkan", run_memory_churn, &th_gpu);
    th_run("runtime/empty-binding", run_empty_binding, NULL);
    th_run("runtime/env-switches", run_env_switches, NULL);
    return th_finish();
}
