/* Max / average / global average pooling and nearest upsampling of NCHW tensors, forward and
 * backward. Shader: shaders/pool.comp. Tests: tests/test_pool.c.
 *
 * Output size is floor((H + 2 pad - kernel) / stride) + 1 (no ceil mode), so a window never
 * passes the padded edge; padding is at most half the kernel (as PyTorch requires), so every
 * window holds at least one real element. Every backward is deterministic: each dx element has
 * one writer and a fixed summation order. */
#include "ops/ops.h"
#include "shaders.h"
#include "pool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WG 64
/* Keeps window arithmetic (kernel area, padded extent) inside 32-bit integers in the shader. */
#define MAX_POOL_PARAM 65535

/* x (the input side, [N, C, H, W]) and y (the pooled side, [N, C, OH, OW]). */
typedef struct pool_geom {
    int64_t planes, h, w, oh, ow;
    int kh, kw, sh, sw, ph, pw;
    bool include_pad;
} pool_geom;

/* ---------------------------------------------------------------- checks */

static vkdl_status check_f32_4d(const char *op, const char *name, const vkdl_tensor *t, const vkdl_tensor *ref)
{
    VKDL_TRY(vkdl_check_tensor(op, name, t));
    if (ref)
        VKDL_TRY(vkdl_check_same_ctx(op, ref, t));
    VKDL_TRY(vkdl_check_dtype(op, name, t, VKDL_F32));
    if (t->ndim != 4) {
        char s[VKDL_SHAPE_BUF];
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: %s is %s, expected 4 dims [N, C, H, W]", op, name,
                         vkdl_shape_str(t, s, sizeof s));
    }
    if (t->numel > INT32_MAX) {
        char s[VKDL_SHAPE_BUF];
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "%s: %s %s has more than 2^31 elements", op, name,
                         vkdl_shape_str(t, s, sizeof s));
    }
    return VKDL_OK;
}

/* Same N and C in both, and no empty plane in x. */
static vkdl_status check_planes(const char *op, const char *xname, const vkdl_tensor *x, const char *yname,
                                const vkdl_tensor *y)
{
    char sx[VKDL_SHAPE_BUF], sy[VKDL_SHAPE_BUF];
    vkdl_shape_str(x, sx, sizeof sx);
    vkdl_shape_str(y, sy, sizeof sy);
    if (x->shape[0] != y->shape[0] || x->shape[1] != y->shape[1])
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: %s is %s but %s is %s: N and C differ", op, xname, sx, yname,
                         sy);
    if (x->shape[2] == 0 || x->shape[3] == 0)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: %s is %s, whose H x W plane is empty", op, xname, sx);
    return VKDL_OK;
}

/* Validate info against x (the input side) and y (the pooled side) and fill g. */
static vkdl_status pool_plan(const char *op, const char *xname, const vkdl_tensor *x, const char *yname,
                             const vkdl_tensor *y, const vkdl_pool2d_info *info, pool_geom *g)
{
    if (!info)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: info is NULL", op);
    VKDL_TRY(vkdl_check_next(op, info->next));
    VKDL_TRY(check_planes(op, xname, x, yname, y));
    int k[2] = {info->kernel[0], info->kernel[1]}, p[2] = {info->padding[0], info->padding[1]};
    int s[2] = {info->stride[0] ? info->stride[0] : k[0], info->stride[1] ? info->stride[1] : k[1]};
    if (k[0] < 1 || k[1] < 1)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: kernel %dx%d must be at least 1x1", op, k[0], k[1]);
    if (info->stride[0] < 0 || info->stride[1] < 0)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: stride %dx%d is negative", op, info->stride[0],
                         info->stride[1]);
    if (p[0] < 0 || p[1] < 0)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: padding %dx%d is negative", op, p[0], p[1]);
    if (k[0] > MAX_POOL_PARAM || k[1] > MAX_POOL_PARAM || s[0] > MAX_POOL_PARAM || s[1] > MAX_POOL_PARAM)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: kernel %dx%d or stride %dx%d exceeds %d", op, k[0], k[1],
                         s[0], s[1], MAX_POOL_PARAM);
    if (2 * (int64_t)p[0] > k[0] || 2 * (int64_t)p[1] > k[1])
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: padding %dx%d exceeds half the kernel %dx%d", op, p[0],
                         p[1], k[0], k[1]);
    char sx[VKDL_SHAPE_BUF], sy[VKDL_SHAPE_BUF];
    vkdl_shape_str(x, sx, sizeof sx);
    vkdl_shape_str(y, sy, sizeof sy);
    int64_t hp = x->shape[2] + 2 * (int64_t)p[0], wp = x->shape[3] + 2 * (int64_t)p[1];
    if (k[0] > hp || k[1] > wp)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH,
                         "%s: kernel %dx%d is larger than the padded input %lldx%lld (%s %s, padding %dx%d)", op,
                         k[0], k[1], (long long)hp, (long long)wp, xname, sx, p[0], p[1]);
    int64_t oh = (hp - k[0]) / s[0] + 1, ow = (wp - k[1]) / s[1] + 1;
    if (y->shape[2] != oh || y->shape[3] != ow)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: %s is %s, expected %lldx%lldx%lldx%lld for %s %s with kernel "
                         "%dx%d, stride %dx%d, padding %dx%d", op, yname, sy, (long long)x->shape[0],
                         (long long)x->shape[1], (long long)oh, (long long)ow, xname, sx, k[0], k[1], s[0], s[1], p[0],
                         p[1]);
    *g = (pool_geom){
        .planes = x->shape[0] * x->shape[1], .h = x->shape[2], .w = x->shape[3], .oh = oh, .ow = ow,
        .kh = k[0], .kw = k[1], .sh = s[0], .sw = s[1], .ph = p[0], .pw = p[1],
        .include_pad = info->count_include_pad != 0,
    };
    return VKDL_OK;
}

/* first (checked first, with no context to match) and second are f32 [N, C, H, W] of one context. */
static vkdl_status check_4d_pair(const char *op, const char *first_name, const vkdl_tensor *first,
                                 const char *second_name, const vkdl_tensor *second)
{
    VKDL_TRY(check_f32_4d(op, first_name, first, NULL));
    return check_f32_4d(op, second_name, second, first);
}

static vkdl_status check_maxpool(const vkdl_tensor *x, const vkdl_tensor *out, const vkdl_tensor *indices,
                                 const vkdl_pool2d_info *info, pool_geom *g)
{
    const char *op = "maxpool2d";
    VKDL_TRY(check_4d_pair(op, "x", x, "out", out));
    if (indices) {
        VKDL_TRY(vkdl_check_same_ctx(op, x, indices));
        VKDL_TRY(vkdl_check_dtype(op, "indices", indices, VKDL_I32));
        VKDL_TRY(vkdl_check_same_shape(op, out, indices));
    }
    return pool_plan(op, "x", x, "out", out, info, g);
}

static vkdl_status check_maxpool_backward(const vkdl_tensor *dy, const vkdl_tensor *indices, const vkdl_tensor *dx)
{
    const char *op = "maxpool2d_backward";
    VKDL_TRY(check_f32_4d(op, "dy", dy, NULL));
    VKDL_TRY(vkdl_check_tensor(op, "indices", indices));
    VKDL_TRY(vkdl_check_same_ctx(op, dy, indices));
    VKDL_TRY(vkdl_check_dtype(op, "indices", indices, VKDL_I32));
    VKDL_TRY(vkdl_check_same_shape(op, dy, indices));
    VKDL_TRY(check_f32_4d(op, "dx", dx, dy));
    return check_planes(op, "dx", dx, "dy", dy);
}

static vkdl_status check_global(const char *op, const char *xname, const vkdl_tensor *x, const char *yname,
                                const vkdl_tensor *y)
{
    if (x->shape[0] != y->shape[0] || x->shape[1] != y->shape[1] || y->shape[2] != 1 || y->shape[3] != 1) {
        char sx[VKDL_SHAPE_BUF], sy[VKDL_SHAPE_BUF];
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: %s is %s, expected %lldx%lldx1x1 for %s %s", op, yname,
                         vkdl_shape_str(y, sy, sizeof sy), (long long)x->shape[0], (long long)x->shape[1], xname,
                         vkdl_shape_str(x, sx, sizeof sx));
    }
    return VKDL_OK;
}

/* x [N, C, H, W] (the small side) and y [N, C, fh H, fw W]. */
static vkdl_status upsample_plan(const char *op, const char *xname, const vkdl_tensor *x, const char *yname,
                                 const vkdl_tensor *y, pool_geom *g)
{
    VKDL_TRY(check_planes(op, xname, x, yname, y));
    if (y->shape[2] % x->shape[2] || y->shape[3] % x->shape[3] || y->shape[2] < x->shape[2] ||
        y->shape[3] < x->shape[3]) {
        char sx[VKDL_SHAPE_BUF], sy[VKDL_SHAPE_BUF];
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH,
                         "%s: %s %s is not %s %s upsampled by integer factors (%lld/%lld, %lld/%lld)", op, yname,
                         vkdl_shape_str(y, sy, sizeof sy), xname, vkdl_shape_str(x, sx, sizeof sx),
                         (long long)y->shape[2], (long long)x->shape[2], (long long)y->shape[3],
                         (long long)x->shape[3]);
    }
    *g = (pool_geom){.planes = x->shape[0] * x->shape[1], .h = x->shape[2], .w = x->shape[3], .oh = y->shape[2],
                     .ow = y->shape[3]};
    return VKDL_OK;
}

/* ---------------------------------------------------------------- CPU twin */

static void cpu_maxpool(const pool_geom *g, const float *x, float *y, int32_t *idx)
{
    for (int64_t p = 0; p < g->planes; p++) {
        const float *xp = x + p * g->h * g->w;
        for (int64_t oh = 0; oh < g->oh; oh++) {
            for (int64_t ow = 0; ow < g->ow; ow++) {
                int64_t h0 = oh * g->sh - g->ph, w0 = ow * g->sw - g->pw;
                float best = -INFINITY;
                int64_t at = -1;
                for (int64_t h = h0 < 0 ? 0 : h0; h < h0 + g->kh && h < g->h; h++) {
                    for (int64_t w = w0 < 0 ? 0 : w0; w < w0 + g->kw && w < g->w; w++) {
                        float v = xp[h * g->w + w];
                        if (at < 0 || v > best || isnan(v)) {
                            best = v;
                            at = h * g->w + w;
                        }
                    }
                }
                int64_t o = (p * g->oh + oh) * g->ow + ow;
                y[o] = best;
                if (idx)
                    idx[o] = (int32_t)at;
            }
        }
    }
}

/* dx from dy and the argmax; fails on an index outside the plane. */
static vkdl_status cpu_maxpool_backward(const vkdl_tensor *dy, const vkdl_tensor *indices, vkdl_tensor *dx)
{
    int64_t planes = dx->shape[0] * dx->shape[1], hw = dx->shape[2] * dx->shape[3];
    int64_t ohw = dy->shape[2] * dy->shape[3];
    const float *pdy = vkdl_tensor_host(dy);
    const int32_t *pi = vkdl_tensor_host(indices);
    float *pdx = vkdl_tensor_host(dx);
    for (int64_t i = 0; i < dy->numel; i++) {
        if (pi[i] < 0 || pi[i] >= hw) {
            char s[VKDL_SHAPE_BUF];
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "maxpool2d_backward: indices[%lld] = %d is outside the "
                             "H x W plane of dx %s", (long long)i, (int)pi[i], vkdl_shape_str(dx, s, sizeof s));
        }
    }
    if (dx->numel) /* an empty tensor's host pointer is NULL */
        memset(pdx, 0, (size_t)dx->numel * sizeof *pdx);
    for (int64_t p = 0; p < planes; p++)
        for (int64_t k = 0; k < ohw; k++)
            pdx[p * hw + pi[p * ohw + k]] += pdy[p * ohw + k];
    return VKDL_OK;
}

static double avg_divisor(const pool_geom *g, int64_t oh, int64_t ow)
{
    if (g->include_pad)
        return (double)g->kh * g->kw;
    int64_t h0 = oh * g->sh - g->ph, w0 = ow * g->sw - g->pw;
    int64_t hn = (h0 + g->kh < g->h ? h0 + g->kh : g->h) - (h0 > 0 ? h0 : 0);
    int64_t wn = (w0 + g->kw < g->w ? w0 + g->kw : g->w) - (w0 > 0 ? w0 : 0);
    return (double)(hn * wn);
}

/* Forward (dy NULL: x -> y) or backward (dy -> dx, each dy spread over its window). */
static vkdl_status cpu_avgpool(const pool_geom *g, const float *src, float *dst, bool backward)
{
    double *acc = NULL;
    if (backward && !(acc = malloc((size_t)(g->h * g->w) * sizeof *acc)))
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "avgpool2d_backward: out of host memory");
    for (int64_t p = 0; p < g->planes; p++) {
        if (backward)
            memset(acc, 0, (size_t)(g->h * g->w) * sizeof *acc);
        for (int64_t oh = 0; oh < g->oh; oh++) {
            for (int64_t ow = 0; ow < g->ow; ow++) {
                int64_t h0 = oh * g->sh - g->ph, w0 = ow * g->sw - g->pw, o = (p * g->oh + oh) * g->ow + ow;
                double div = avg_divisor(g, oh, ow), s = 0;
                for (int64_t h = h0 < 0 ? 0 : h0; h < h0 + g->kh && h < g->h; h++) {
                    for (int64_t w = w0 < 0 ? 0 : w0; w < w0 + g->kw && w < g->w; w++) {
                        if (backward)
                            acc[h * g->w + w] += src[o] / div;
                        else
                            s += src[(p * g->h + h) * g->w + w];
                    }
                }
                if (!backward)
                    dst[o] = (float)(s / div);
            }
        }
        for (int64_t i = 0; backward && i < g->h * g->w; i++)
            dst[p * g->h * g->w + i] = (float)acc[i];
    }
    free(acc);
    return VKDL_OK;
}

static void cpu_global_avgpool(const vkdl_tensor *x, vkdl_tensor *out)
{
    int64_t planes = out->numel, hw = x->shape[2] * x->shape[3];
    const float *px = vkdl_tensor_host(x);
    float *py = vkdl_tensor_host(out);
    for (int64_t p = 0; p < planes; p++) {
        double s = 0;
        for (int64_t k = 0; k < hw; k++)
            s += px[p * hw + k];
        py[p] = (float)(s / (double)hw);
    }
}

static void cpu_global_avgpool_backward(const vkdl_tensor *dy, vkdl_tensor *dx)
{
    int64_t hw = dx->shape[2] * dx->shape[3];
    const float *pdy = vkdl_tensor_host(dy);
    float *pdx = vkdl_tensor_host(dx);
    for (int64_t i = 0; i < dx->numel; i++)
        pdx[i] = (float)((double)pdy[i / hw] / (double)hw);
}

static void cpu_upsample(const pool_geom *g, const vkdl_tensor *x, vkdl_tensor *out)
{
    const float *px = vkdl_tensor_host(x);
    float *py = vkdl_tensor_host(out);
    int64_t fh = g->oh / g->h, fw = g->ow / g->w;
    for (int64_t p = 0; p < g->planes; p++)
        for (int64_t oh = 0; oh < g->oh; oh++)
            for (int64_t ow = 0; ow < g->ow; ow++)
                py[(p * g->oh + oh) * g->ow + ow] = px[(p * g->h + oh / fh) * g->w + ow / fw];
}

static void cpu_upsample_backward(const pool_geom *g, const vkdl_tensor *dy, vkdl_tensor *dx)
{
    const float *pdy = vkdl_tensor_host(dy);
    float *pdx = vkdl_tensor_host(dx);
    int64_t fh = g->oh / g->h, fw = g->ow / g->w;
    for (int64_t p = 0; p < g->planes; p++)
        for (int64_t h = 0; h < g->h; h++)
            for (int64_t w = 0; w < g->w; w++) {
                double s = 0;
                for (int64_t a = 0; a < fh; a++)
                    for (int64_t b = 0; b < fw; b++)
                        s += pdy[(p * g->oh + h * fh + a) * g->ow + w * fw + b];
                pdx[(p * g->h + h) * g->w + w] = (float)s;
            }
}

/* ---------------------------------------------------------------- GPU launcher */

VKDL_PUSH_STRUCT(pool_push, POOL_PUSH, 2);
VKDL_PUSH_STRUCT(pool_max_push, POOL_MAX_PUSH, 3);
VKDL_PUSH_STRUCT(pool_max_bwd_push, POOL_MAX_BWD_PUSH, 3);

static const vkdl_kernel K_POOL = {
    VKDL_SPIRV(pool),
    .n_bindings = 2,
    .access = {VKDL_READ, VKDL_WRITE},
    .push_size = sizeof(struct pool_push),
    .n_spec = POOL_SPEC_COUNT,
};

static const vkdl_kernel K_POOL_MAX = {
    VKDL_SPIRV(pool_max),
    .n_bindings = 3,
    .access = {VKDL_READ, VKDL_WRITE, VKDL_WRITE},
    .push_size = sizeof(struct pool_max_push),
    .n_spec = POOL_SPEC_COUNT,
};

static const vkdl_kernel K_POOL_MAX_BWD = {
    VKDL_SPIRV(pool_max_bwd),
    .n_bindings = 3,
    .access = {VKDL_READ, VKDL_READ, VKDL_RW},
    .push_size = sizeof(struct pool_max_bwd_push),
    .n_spec = POOL_MAX_BWD_SPEC_COUNT,
};

/* The fields POOL_PUSH shares with POOL_MAX_PUSH: the window g over dst's n elements. */
#define WINDOW_FIELDS(g, count)                                                                         \
    .n = (uint32_t)(count), .H = (uint32_t)(g)->h, .W = (uint32_t)(g)->w, .OH = (uint32_t)(g)->oh,      \
    .OW = (uint32_t)(g)->ow, .kh = (uint32_t)(g)->kh, .kw = (uint32_t)(g)->kw, .sh = (uint32_t)(g)->sh, \
    .sw = (uint32_t)(g)->sw, .ph = (uint32_t)(g)->ph, .pw = (uint32_t)(g)->pw

/* One element of dst per invocation. */
static vkdl_status gpu_pool(uint32_t op, const pool_geom *g, const vkdl_tensor *src, vkdl_tensor *dst)
{
    struct pool_push pc = {WINDOW_FIELDS(g, dst->numel), .include_pad = g->include_pad};
    uint32_t spec[POOL_SPEC_COUNT] = {[POOL_SPEC_WG] = WG, [POOL_SPEC_OP] = op};
    vkdl_dispatch_info d = {.kernel = &K_POOL, .spec = spec, .tensors = {src, dst}, .push = &pc};
    vkdl_grid_1d(dst->ctx, ((uint64_t)dst->numel + WG - 1) / WG, d.groups);
    return vkdl_dispatch(dst->ctx, &d);
}

static vkdl_status gpu_maxpool(const pool_geom *g, const vkdl_tensor *x, vkdl_tensor *out, vkdl_tensor *indices)
{
    struct pool_max_push pc = {WINDOW_FIELDS(g, out->numel)};
    uint32_t spec[POOL_SPEC_COUNT] = {[POOL_SPEC_WG] = WG, [POOL_SPEC_HAS_IDX] = indices != NULL};
    vkdl_dispatch_info d = {
        .kernel = &K_POOL_MAX,
        .spec = spec,
        .tensors = {x, out, indices ? indices : out},
        .push = &pc,
    };
    vkdl_grid_1d(x->ctx, ((uint64_t)out->numel + WG - 1) / WG, d.groups);
    return vkdl_dispatch(x->ctx, &d);
}

static vkdl_status gpu_maxpool_backward(const vkdl_tensor *dy, const vkdl_tensor *indices, vkdl_tensor *dx)
{
    int64_t planes = dx->shape[0] * dx->shape[1], hw = dx->shape[2] * dx->shape[3];
    int64_t ohw = dy->shape[2] * dy->shape[3];
    VKDL_TRY(vkdl_tensor_fill(dx, 0.0));
    /* Each invocation walks its plane's outputs serially; llvmpipe (lavapipe) stops an
     * invocation's loops after 65535 iterations, so long planes take several dispatches. */
    const int64_t chunk = 32768;
    for (int64_t b = 0; b < ohw; b += chunk) {
        struct pool_max_bwd_push pc = {
            .planes = (uint32_t)planes,
            .hw = (uint32_t)hw,
            .ohw = (uint32_t)ohw,
            .begin = (uint32_t)b,
            .end = (uint32_t)(b + chunk < ohw ? b + chunk : ohw),
        };
        uint32_t spec[POOL_MAX_BWD_SPEC_COUNT] = {[POOL_SPEC_WG] = WG};
        vkdl_dispatch_info d = {.kernel = &K_POOL_MAX_BWD, .spec = spec, .tensors = {dy, indices, dx}, .push = &pc};
        vkdl_grid_1d(dx->ctx, ((uint64_t)planes + WG - 1) / WG, d.groups);
        VKDL_TRY(vkdl_dispatch(dx->ctx, &d));
    }
    return VKDL_OK;
}

/* A mean over the last axis of x seen as [planes, hw]: vkdl_reduce already picks the launch
 * shape (an invocation or a workgroup per plane) for the device. */
static vkdl_status gpu_global_avgpool(const vkdl_tensor *x, vkdl_tensor *out)
{
    int64_t xs[2] = {out->numel, x->shape[2] * x->shape[3]}, ys[1] = {out->numel};
    vkdl_tensor *xv = NULL, *yv = NULL;
    vkdl_status s = vkdl_tensor_reshape((vkdl_tensor *)x, 2, xs, &xv);
    if (s == VKDL_OK)
        s = vkdl_tensor_reshape(out, 1, ys, &yv);
    if (s == VKDL_OK)
        s = vkdl_reduce(VKDL_MEAN, xv, 1, yv);
    vkdl_tensor_destroy(xv);
    vkdl_tensor_destroy(yv);
    return s;
}

/* ---------------------------------------------------------------- entry points */

vkdl_status vkdl_maxpool2d(const vkdl_tensor *x, vkdl_tensor *out, vkdl_tensor *indices, const vkdl_pool2d_info *info)
{
    pool_geom g = {0};
    VKDL_TRY(check_maxpool(x, out, indices, info, &g));
    if (out->numel == 0)
        return VKDL_OK;
    if (x->ctx->backend == VKDL_BACKEND_CPU) {
        cpu_maxpool(&g, vkdl_tensor_host(x), vkdl_tensor_host(out), indices ? vkdl_tensor_host(indices) : NULL);
        return VKDL_OK;
    }
    return gpu_maxpool(&g, x, out, indices);
}

vkdl_status vkdl_maxpool2d_backward(const vkdl_tensor *dy, const vkdl_tensor *indices, vkdl_tensor *dx)
{
    VKDL_TRY(check_maxpool_backward(dy, indices, dx));
    if (dx->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_maxpool_backward(dy, indices, dx);
    if (dx->numel == 0)
        return VKDL_OK;
    return gpu_maxpool_backward(dy, indices, dx);
}

vkdl_status vkdl_avgpool2d(const vkdl_tensor *x, vkdl_tensor *out, const vkdl_pool2d_info *info)
{
    const char *op = "avgpool2d";
    VKDL_TRY(check_4d_pair(op, "x", x, "out", out));
    pool_geom g;
    VKDL_TRY(pool_plan(op, "x", x, "out", out, info, &g));
    if (out->numel == 0)
        return VKDL_OK;
    if (x->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_avgpool(&g, vkdl_tensor_host(x), vkdl_tensor_host(out), false);
    return gpu_pool(POOL_OP_AVG_FWD, &g, x, out);
}

vkdl_status vkdl_avgpool2d_backward(const vkdl_tensor *dy, vkdl_tensor *dx, const vkdl_pool2d_info *info)
{
    const char *op = "avgpool2d_backward";
    VKDL_TRY(check_4d_pair(op, "dy", dy, "dx", dx));
    pool_geom g;
    VKDL_TRY(pool_plan(op, "dx", dx, "dy", dy, info, &g));
    if (dx->numel == 0)
        return VKDL_OK;
    if (dx->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_avgpool(&g, vkdl_tensor_host(dy), vkdl_tensor_host(dx), true);
    return gpu_pool(POOL_OP_AVG_BWD, &g, dy, dx);
}

vkdl_status vkdl_global_avgpool2d(const vkdl_tensor *x, vkdl_tensor *out)
{
    const char *op = "global_avgpool2d";
    VKDL_TRY(check_4d_pair(op, "x", x, "out", out));
    VKDL_TRY(check_global(op, "x", x, "out", out));
    if (out->numel == 0)
        return VKDL_OK;
    if (x->ctx->backend == VKDL_BACKEND_CPU) {
        cpu_global_avgpool(x, out);
        return VKDL_OK;
    }
    return gpu_global_avgpool(x, out);
}

vkdl_status vkdl_global_avgpool2d_backward(const vkdl_tensor *dy, vkdl_tensor *dx)
{
    const char *op = "global_avgpool2d_backward";
    VKDL_TRY(check_4d_pair(op, "dy", dy, "dx", dx));
    VKDL_TRY(check_global(op, "dx", dx, "dy", dy));
    if (dx->numel == 0)
        return VKDL_OK;
    if (dx->ctx->backend == VKDL_BACKEND_CPU) {
        cpu_global_avgpool_backward(dy, dx);
        return VKDL_OK;
    }
    pool_geom g = {.planes = dy->numel, .h = dx->shape[2], .w = dx->shape[3], .oh = 1, .ow = 1};
    return gpu_pool(POOL_OP_GAP_BWD, &g, dy, dx);
}

vkdl_status vkdl_upsample_nearest2d(const vkdl_tensor *x, vkdl_tensor *out)
{
    const char *op = "upsample_nearest2d";
    VKDL_TRY(check_4d_pair(op, "x", x, "out", out));
    pool_geom g;
    VKDL_TRY(upsample_plan(op, "x", x, "out", out, &g));
    if (out->numel == 0)
        return VKDL_OK;
    if (x->ctx->backend == VKDL_BACKEND_CPU) {
        cpu_upsample(&g, x, out);
        return VKDL_OK;
    }
    return gpu_pool(POOL_OP_UP_FWD, &g, x, out);
}

vkdl_status vkdl_upsample_nearest2d_backward(const vkdl_tensor *dy, vkdl_tensor *dx)
{
    const char *op = "upsample_nearest2d_backward";
    VKDL_TRY(check_4d_pair(op, "dy", dy, "dx", dx));
    pool_geom g;
    VKDL_TRY(upsample_plan(op, "dx", dx, "dy", dy, &g));
    if (dx->numel == 0)
        return VKDL_OK;
    if (dx->ctx->backend == VKDL_BACKEND_CPU) {
        cpu_upsample_backward(&g, dy, dx);
        return VKDL_OK;
    }
    return gpu_pool(POOL_OP_UP_BWD, &g, dy, dx);
}
