/* Checks of tensors on a given context, run by test_tensor on the two shared contexts and by test_sched on a
 * context that forces the staging path: see runtime_checks.h. */
#include "runtime_checks.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

void th_check_zero_size(vkdl_context *c)
{
    size_t cur0 = th_mem_current(c);
    int64_t shapes[][3] = {{0, 0, 0}, {3, 0, 0}, {0, 5, 2}, {4, 2, 0}};
    int ndims[] = {1, 2, 3, 3};
    for (size_t k = 0; k < TH_LEN(shapes); k++)
        for (size_t d = 0; d < TH_LEN(TH_ALL_DTYPES); d++) {
            vkdl_tensor *t = th_mk(c, TH_ALL_DTYPES[d], ndims[k], shapes[k]);
            if (!t)
                continue;
            float dummy = 1;
            TH_TRUE(vkdl_tensor_numel(t) == 0);
            TH_OK(vkdl_tensor_upload(t, &dummy, VKDL_F32, 0));
            TH_OK(vkdl_tensor_upload(t, NULL, VKDL_F32, 0));
            TH_OK(vkdl_tensor_download(t, &dummy, VKDL_F32, 0));
            TH_OK(vkdl_tensor_download(t, NULL, TH_ALL_DTYPES[d], 0));
            TH_STATUS(vkdl_tensor_upload(t, &dummy, VKDL_F32, 4), VKDL_ERROR_INVALID_ARGUMENT, "bytes");
            TH_OK(vkdl_tensor_fill(t, 2.0));
            TH_TRUE(dummy == 1);
            vkdl_tensor *v = NULL, *r = NULL;
            TH_OK(vkdl_tensor_slice(t, 0, vkdl_tensor_dim(t, 0), &v));
            int64_t flat = 0;
            TH_OK(vkdl_tensor_reshape(t, 1, &flat, &r));
            TH_OK(vkdl_tensor_fill(v, 1.0));
            if (TH_ALL_DTYPES[d] == VKDL_F32) {
                vkdl_tensor *o = th_mk(c, VKDL_F32, ndims[k], shapes[k]);
                TH_OK(vkdl_unary(VKDL_EXP, t, o));
                TH_OK(vkdl_binary(VKDL_ADD, t, o, o));
                vkdl_tensor_destroy(o);
            }
            vkdl_tensor_destroy(t);
            vkdl_tensor_destroy(v);
            vkdl_tensor_destroy(r);
        }
    /* a scalar has one element; a NULL shape is fine with ndim 0 */
    vkdl_tensor *s = th_mk(c, VKDL_F32, 0, NULL);
    float one = 42, back = 0;
    TH_OK(vkdl_tensor_upload(s, &one, VKDL_F32, 4));
    TH_OK(vkdl_tensor_download(s, &back, VKDL_F32, 4));
    TH_TRUE(back == 42);
    TH_TRUE(vkdl_tensor_numel(s) == 1 && vkdl_tensor_ndim(s) == 0);
    vkdl_tensor_destroy(s);
    TH_TRUE(th_mem_current(c) == cur0);
}

static void check_upload_as(vkdl_context *c, vkdl_dtype td, const float *src, size_t n, const uint16_t *want16,
                            const float *want_f32, const char *what)
{
    vkdl_tensor *t = th_mk1(c, td, (int64_t)n);
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
            th_fail("%s %s: %.9g -> 0x%04x, want 0x%04x", vkdl_context_device_name(c), what, src[i], raw[i], want16[i]);
        if (!same_float(back[i], want_f32[i]))
            th_fail("%s %s: %.9g -> %.9g, want %.9g", vkdl_context_device_name(c), what, src[i], back[i], want_f32[i]);
    }
    free(raw);
    free(back);
    vkdl_tensor_destroy(t);
}

/* A fresh 1-D tensor of n `dtype` elements on c gets src (host data of src_dt) and is read back twice: as
 * got_dt into got, and as got2_dt into got2. */
static void convert_through(vkdl_context *c, vkdl_dtype dtype, int n, const void *src, vkdl_dtype src_dt, void *got,
                            vkdl_dtype got_dt, void *got2, vkdl_dtype got2_dt)
{
    vkdl_tensor *t = th_mk1(c, dtype, n);
    TH_OK(vkdl_tensor_upload(t, src, src_dt, (size_t)n * vkdl_dtype_size(src_dt)));
    TH_OK(vkdl_tensor_download(t, got, got_dt, (size_t)n * vkdl_dtype_size(got_dt)));
    TH_OK(vkdl_tensor_download(t, got2, got2_dt, (size_t)n * vkdl_dtype_size(got2_dt)));
    vkdl_tensor_destroy(t);
}

void th_check_conversions(vkdl_context *c)
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
        vkdl_tensor *t = th_mk1(c, d, N);
        TH_OK(vkdl_tensor_upload(t, all, d, N * 2));
        TH_OK(vkdl_tensor_download(t, raw, d, N * 2));
        if (memcmp(all, raw, N * 2) != 0)
            th_fail("%s %s: raw round trip changed the bits", vkdl_context_device_name(c), vkdl_dtype_name(d));
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
                th_fail("%s %s 0x%04x -> %.9g, want %.9g", vkdl_context_device_name(c), vkdl_dtype_name(d), i, f[i],
                        want);
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
                th_fail("%s %s 0x%04x -> f32 -> 0x%04x", vkdl_context_device_name(c), vkdl_dtype_name(d), i, raw[i]);
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
        int32_t got[N];
        float gotf[N];
        convert_through(c, VKDL_I32, N, src, VKDL_F32, got, VKDL_I32, gotf, VKDL_F32);
        for (int i = 0; i < N; i++)
            if (got[i] != want[i] || !same_float(gotf[i], want_f[i]))
                th_fail("%s f32->i32: %.9g -> %d / %.9g, want %d", vkdl_context_device_name(c), src[i], got[i],
                        gotf[i], want[i]);
    }
    /* f32 -> u8 rounds toward zero and clamps to [0, 255]; NaN is 0 */
    {
        static const float src[] = {0, 1, 255, 128, 3.7f, -5, 300, NAN, 254.99f, INFINITY, -INFINITY};
        static const uint8_t want[] = {0, 1, 255, 128, 3, 0, 255, 0, 254, 255, 0};
        enum { N = sizeof src / 4 };
        uint8_t got[N];
        float gotf[N];
        convert_through(c, VKDL_U8, N, src, VKDL_F32, got, VKDL_U8, gotf, VKDL_F32);
        for (int i = 0; i < N; i++)
            if (got[i] != want[i] || gotf[i] != (float)want[i])
                th_fail("%s f32->u8: %.9g -> %u / %.9g, want %u", vkdl_context_device_name(c), src[i], got[i],
                        gotf[i], want[i]);
    }
    /* i32 / u8 / f16 / bf16 host data into f32 tensors */
    {
        static const int32_t src[] = {0, -1, 123456, 16777217, INT32_MIN, INT32_MAX};
        static const float want[] = {0, -1, 123456, 16777216, -2147483648.0f, 2147483648.0f};
        static const int32_t want_i[] = {0, -1, 123456, 16777216, INT32_MIN, INT32_MAX};
        enum { N = sizeof src / 4 };
        float got[N];
        int32_t goti[N];
        convert_through(c, VKDL_F32, N, src, VKDL_I32, got, VKDL_F32, goti, VKDL_I32);
        for (int i = 0; i < N; i++)
            if (got[i] != want[i] || goti[i] != want_i[i])
                th_fail("%s i32->f32: %d -> %.9g / %d", vkdl_context_device_name(c), src[i], got[i], goti[i]);
    }
    {
        static const uint8_t src[] = {0, 7, 128, 255, 1};
        enum { N = sizeof src };
        float got[N];
        uint8_t gotu[N];
        convert_through(c, VKDL_F32, N, src, VKDL_U8, got, VKDL_F32, gotu, VKDL_U8);
        for (int i = 0; i < N; i++)
            if (got[i] != src[i] || gotu[i] != src[i])
                th_fail("%s u8->f32: %u -> %.9g / %u", vkdl_context_device_name(c), src[i], got[i], gotu[i]);
    }
    {
        static const uint16_t h[] = {0x3c00, 0x7bff, 0x0001, 0xfc00, 0x8000};
        static const float want_h[] = {1, 65504, 5.9604644775390625e-08f, -INFINITY, -0.0f};
        static const uint16_t b[] = {0x3f80, 0x0001, 0xff80, 0xc2f7};
        static const float want_b[] = {1, 9.183549615799121e-41f, -INFINITY, -123.5f};
        vkdl_tensor *t = th_mk1(c, VKDL_F32, 5), *u = th_mk1(c, VKDL_F32, 4);
        float got[5];
        TH_OK(vkdl_tensor_upload(t, h, VKDL_F16, sizeof h));
        TH_OK(vkdl_tensor_download(t, got, VKDL_F32, sizeof got));
        for (int i = 0; i < 5; i++)
            if (!same_float(got[i], want_h[i]))
                th_fail("%s f16->f32: 0x%04x -> %.9g", vkdl_context_device_name(c), h[i], got[i]);
        TH_OK(vkdl_tensor_upload(u, b, VKDL_BF16, sizeof b));
        TH_OK(vkdl_tensor_download(u, got, VKDL_F32, 16));
        for (int i = 0; i < 4; i++)
            if (!same_float(got[i], want_b[i]))
                th_fail("%s bf16->f32: 0x%04x -> %.9g", vkdl_context_device_name(c), b[i], got[i]);
        vkdl_tensor_destroy(t);
        vkdl_tensor_destroy(u);
    }
    /* bad host buffers */
    {
        vkdl_tensor *t = th_mk1(c, VKDL_F32, 10);
        float buf[11] = {0};
        TH_STATUS(vkdl_tensor_upload(t, buf, VKDL_F32, 39), VKDL_ERROR_INVALID_ARGUMENT, "bytes");
        TH_STATUS(vkdl_tensor_upload(t, buf, VKDL_F32, 44), VKDL_ERROR_INVALID_ARGUMENT, "bytes");
        TH_STATUS(vkdl_tensor_upload(t, buf, VKDL_F16, 40), VKDL_ERROR_INVALID_ARGUMENT, "20");
        TH_STATUS(vkdl_tensor_upload(t, buf, VKDL_F32, 0), VKDL_ERROR_INVALID_ARGUMENT, "bytes");
        TH_STATUS(vkdl_tensor_download(t, buf, VKDL_F32, 41), VKDL_ERROR_INVALID_ARGUMENT, "bytes");
        TH_STATUS(vkdl_tensor_download(t, buf, VKDL_U8, 40), VKDL_ERROR_INVALID_ARGUMENT, "bytes");
        TH_STATUS(vkdl_tensor_upload(t, NULL, VKDL_F32, 40), VKDL_ERROR_INVALID_ARGUMENT, "NULL");
        TH_STATUS(vkdl_tensor_download(t, NULL, VKDL_F32, 40), VKDL_ERROR_INVALID_ARGUMENT, "NULL");
        TH_STATUS(vkdl_tensor_upload(t, buf, (vkdl_dtype)99, 40), VKDL_ERROR_INVALID_ARGUMENT, "dtype");
        TH_STATUS(vkdl_tensor_download(t, buf, (vkdl_dtype)-3, 40), VKDL_ERROR_INVALID_ARGUMENT, "dtype");
        TH_STATUS(vkdl_tensor_upload(NULL, buf, VKDL_F32, 40), VKDL_ERROR_INVALID_ARGUMENT, "NULL");
        TH_STATUS(vkdl_tensor_download(NULL, buf, VKDL_F32, 40), VKDL_ERROR_INVALID_ARGUMENT, "NULL");
        TH_STATUS(vkdl_tensor_fill(NULL, 1.0), VKDL_ERROR_INVALID_ARGUMENT, "NULL");
        vkdl_tensor_destroy(t);
    }
}

/* A view keeps the storage alive after its source handle is gone, with GPU work pending on it. */
void th_check_keep_alive(vkdl_context *c)
{
    size_t cur0 = th_mem_current(c);
    enum { R = 64, C = 33 };
    int64_t s[2] = {R, C};
    vkdl_tensor *src = th_mk(c, VKDL_F32, 2, s), *v = NULL, *r = NULL;
    float *data = malloc(R * C * 4), *back = malloc(R * C * 4);
    for (int i = 0; i < R * C; i++)
        data[i] = (float)i * 0.5f;
    TH_OK(vkdl_tensor_upload(src, data, VKDL_F32, R * C * 4));
    TH_OK(vkdl_scale(src, 2.0f, 1.0f, src)); /* pending on the device when the source dies */
    TH_OK(vkdl_tensor_slice(src, 10, 20, &v));
    TH_OK(vkdl_tensor_reshape(v, 1, (int64_t[]){-1}, &r));
    size_t held = th_mem_current(c);
    vkdl_tensor_destroy(src);
    TH_TRUE(th_mem_current(c) == held);
    /* new tensors must not land on the storage the views still use */
    vkdl_tensor *other = th_mk(c, VKDL_F32, 2, s);
    TH_OK(vkdl_tensor_fill(other, -99));
    TH_OK(vkdl_tensor_download(v, back, VKDL_F32, 10 * C * 4));
    for (int i = 0; i < 10 * C; i++)
        if (back[i] != data[10 * C + i] * 2 + 1) {
            th_fail("%s: view [%d] = %g, want %g", vkdl_context_device_name(c), i, back[i], data[10 * C + i] * 2 + 1);
            break;
        }
    TH_OK(vkdl_unary(VKDL_NEG, r, r));
    vkdl_tensor_destroy(v);
    TH_OK(vkdl_tensor_download(r, back, VKDL_F32, 10 * C * 4));
    for (int i = 0; i < 10 * C; i++)
        if (back[i] != -(data[10 * C + i] * 2 + 1)) {
            th_fail("%s: reshaped view [%d] = %g", vkdl_context_device_name(c), i, back[i]);
            break;
        }
    TH_OK(vkdl_tensor_fill(r, 3));
    vkdl_tensor_destroy(r);
    vkdl_tensor_destroy(other);
    TH_TRUE(th_mem_current(c) == cur0);
    free(data);
    free(back);
}

/* A tensor destroyed while GPU work that writes it is still pending: a new tensor that gets its
 * memory must not see that write land after its own upload. */
void th_check_reuse_pending(vkdl_context *c)
{
    enum { N = 4096 };
    float *h = malloc(N * 4), *back = malloc(N * 4);
    for (int round = 0; round < 3; round++) {
        vkdl_tensor *x = th_mk1(c, VKDL_F32, N), *y = th_mk1(c, VKDL_F32, N);
        TH_OK(vkdl_tensor_fill(x, 5));
        for (int i = 0; i < 8; i++)
            TH_OK(vkdl_scale(x, 1, 1, y)); /* y = 6, pending */
        if (round == 1)
            TH_OK(vkdl_tensor_fill(y, 7));
        vkdl_tensor_destroy(y);
        vkdl_tensor *z = th_mk1(c, VKDL_F32, N);
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
                th_fail("%s: reused memory, round %d: [%d] = %g", vkdl_context_device_name(c), round, i, back[i]);
                break;
            }
        vkdl_tensor_destroy(z);
    }
    free(h);
    free(back);
}

/* Fill (and upload) through views at odd element offsets; the neighbours stay as they were. */
void th_check_view_fill(vkdl_context *c)
{
    /* f16 and bf16: 11 elements 1..11; [0,1) offset 0 size 2, [3,6) offset 6, [8,10) offset 16 size 4 */
    for (int k = 0; k < 2; k++) {
        vkdl_dtype d = k ? VKDL_BF16 : VKDL_F16;
        vkdl_tensor *t = th_mk1(c, d, 11), *a = NULL, *b = NULL, *e = NULL;
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
                th_fail("%s %s view fill: [%d] = %g, want %g", vkdl_context_device_name(c), vkdl_dtype_name(d), i,
                        back[i], want[i]);
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
        vkdl_tensor *t = th_mk(c, VKDL_F16, 2, s), *row = NULL;
        TH_OK(vkdl_tensor_fill(t, 1));
        TH_OK(vkdl_tensor_slice(t, 1, 2, &row));
        TH_OK(vkdl_tensor_fill(row, 3));
        float back[15];
        TH_OK(vkdl_tensor_download(t, back, VKDL_F32, sizeof back));
        for (int i = 0; i < 15; i++)
            if (back[i] != (i >= 3 && i < 6 ? 3 : 1))
                th_fail("%s f16 row fill: [%d] = %g", vkdl_context_device_name(c), i, back[i]);
        vkdl_tensor_destroy(row);
        vkdl_tensor_destroy(t);
    }
    /* u8: 13 elements 1..13; [1,2) one byte, [5,8) odd, [8,12) 4 aligned bytes, [12,13) the last */
    {
        vkdl_tensor *t = th_mk1(c, VKDL_U8, 13), *v[4] = {0};
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
                th_fail("%s u8 view fill: [%d] = %u, want %u", vkdl_context_device_name(c), i, back[i], want[i]);
        uint8_t two[3] = {9, 8, 7};
        TH_OK(vkdl_tensor_upload(v[1], two, VKDL_U8, 3));
        TH_OK(vkdl_tensor_download(t, back, VKDL_U8, sizeof back));
        TH_TRUE(back[4] == 5 && back[5] == 9 && back[7] == 7 && back[8] == 50);
        for (int i = 0; i < 4; i++)
            vkdl_tensor_destroy(v[i]);
        vkdl_tensor_destroy(t);
    }
}

/* fill(t, v) equals uploading v as f32 on the CPU backend, for every dtype, size and value. */
void th_check_fill_all(vkdl_context *c)
{
    static const double vals[] = {3.25, -1.5, 0, -0.0, 65504, 1e6, NAN, 0.1, 300, -2147483648.0, INFINITY};
    static const int64_t sizes[] = {1, 3, 1001, 1024, 4099};
    for (size_t di = 0; di < TH_LEN(TH_ALL_DTYPES); di++)
        for (size_t si = 0; si < TH_LEN(sizes); si++)
            for (size_t vi = 0; vi < TH_LEN(vals); vi++) {
                vkdl_dtype d = TH_ALL_DTYPES[di];
                int64_t n = sizes[si];
                size_t es = vkdl_dtype_size(d);
                vkdl_tensor *t = th_mk1(c, d, n), *ref = th_mk1(th_cpu, d, n);
                float *host = malloc((size_t)n * 4);
                uint8_t *got = calloc((size_t)n, es), *want = calloc((size_t)n, es);
                for (int64_t i = 0; i < n; i++)
                    host[i] = (float)vals[vi];
                TH_OK(vkdl_tensor_upload(ref, host, VKDL_F32, (size_t)n * 4));
                TH_OK(vkdl_tensor_fill(t, vals[vi]));
                TH_OK(vkdl_tensor_download(t, got, d, (size_t)n * es));
                TH_OK(vkdl_tensor_download(ref, want, d, (size_t)n * es));
                if (memcmp(got, want, (size_t)n * es) != 0)
                    th_fail("%s: fill %s[%lld] with %g differs from the upload", vkdl_context_device_name(c),
                            vkdl_dtype_name(d), (long long)n, vals[vi]);
                free(host);
                free(got);
                free(want);
                vkdl_tensor_destroy(t);
                vkdl_tensor_destroy(ref);
            }
    /* a few exact expectations */
    vkdl_tensor *h = th_mk1(c, VKDL_F16, 5), *i = th_mk1(c, VKDL_I32, 5), *u = th_mk1(c, VKDL_U8, 5),
                *b = th_mk1(c, VKDL_BF16, 5);
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
