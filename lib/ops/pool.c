/* Max / average / global pooling, nearest upsampling and ONNX Resize of NCHW tensors, forward and
 * backward. Shader: shaders/pool.comp. Tests: tests/test_pool.c.
 *
 * Output size is floor((H + top + bottom - extent) / stride) + 1, extent = dilation (kernel - 1) + 1,
 * so a window never passes the padded edge; vkdl_pool2d_ext_info's ceil_mode rounds up instead and
 * drops a last window that would start in the end padding (PyTorch). Each pad is at most half the
 * extent (as PyTorch requires) and every window holds at least one real element (checked where
 * dilation could leave one empty). Every backward is deterministic: each dx element has one writer
 * and a fixed summation order. */
#include "ops/ops.h"
#include "shaders.h"
#include "pool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WG 64
/* Keeps window arithmetic (kernel area, padded extent) inside 32-bit integers in the shader. */
#define MAX_POOL_PARAM 65535

/* x (the input side, [N, C, H, W]) and y (the pooled side, [N, C, OH, OW]); (ph, pw) is the top/left
 * padding and (eh, ew) the end of the padded input (H + bottom pad, W + right pad). */
typedef struct pool_geom {
    int64_t planes, h, w, oh, ow, eh, ew;
    int kh, kw, sh, sw, ph, pw, dh, dw;
    bool include_pad;
} pool_geom;

/* One axis of a resize: x's length, the output's, the coordinate transform's scale and the output
 * length it implies (scale * len; the output's own when no scale is given). */
typedef struct resize_axis {
    int64_t len, olen;
    float scale, span;
} resize_axis;

/* x seen as [planes, H, W] -> [planes, OH, OW], and the info with cubic_a resolved. */
typedef struct resize_geom {
    int64_t planes;
    resize_axis h, w;
    vkdl_resize_info info;
} resize_geom;

_Static_assert(VKDL_RESIZE_NEAREST == RESIZE_NEAREST && VKDL_RESIZE_LINEAR == RESIZE_LINEAR &&
                   VKDL_RESIZE_CUBIC == RESIZE_CUBIC, "pool.h's resize modes are vkdl_resize_mode's");
_Static_assert(VKDL_COORD_HALF_PIXEL == RESIZE_COORD_HALF_PIXEL &&
                   VKDL_COORD_PYTORCH_HALF_PIXEL == RESIZE_COORD_PYTORCH_HALF_PIXEL &&
                   VKDL_COORD_ALIGN_CORNERS == RESIZE_COORD_ALIGN_CORNERS &&
                   VKDL_COORD_ASYMMETRIC == RESIZE_COORD_ASYMMETRIC &&
                   VKDL_COORD_TF_HALF_PIXEL_FOR_NN == RESIZE_COORD_TF_HALF_PIXEL_FOR_NN,
               "pool.h's coordinate transforms are vkdl_resize_coord's");
_Static_assert(VKDL_NEAREST_ROUND_PREFER_FLOOR == RESIZE_ROUND_PREFER_FLOOR &&
                   VKDL_NEAREST_ROUND_PREFER_CEIL == RESIZE_ROUND_PREFER_CEIL && VKDL_NEAREST_FLOOR == RESIZE_FLOOR &&
                   VKDL_NEAREST_CEIL == RESIZE_CEIL,
               "pool.h's nearest modes are vkdl_resize_nearest's");

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

/* Output length of one axis of x: len with pads p (begin) and pe (end), window extent ke, stride st. */
static int64_t pool_out_len(int64_t len, int p, int pe, int64_t ke, int st, bool ceil_mode)
{
    int64_t span = len + p + pe - ke;
    if (!ceil_mode)
        return span / st + 1;
    int64_t n = (span + st - 1) / st + 1;
    return (n - 1) * st >= len + p ? n - 1 : n;
}

/* Whether every window along one axis (starts o st - p, taps d apart) holds an element of x. */
static bool pool_windows_filled(int64_t len, int64_t olen, int k, int st, int p, int d)
{
    for (int64_t o = 0; o < olen; o++) {
        int64_t h0 = o * st - p, j = h0 < 0 ? (d - 1 - h0) / d : 0;
        if (j >= k || h0 + j * d >= len)
            return false;
    }
    return true;
}

/* Validate info (and its vkdl_pool2d_ext_info) for pooling x (the input side, 4-D) and fill g, the
 * output size included; dilation is for max pool only. */
static vkdl_status pool_geometry(const char *op, const char *xname, const vkdl_tensor *x,
                                 const vkdl_pool2d_info *info, bool max, pool_geom *g)
{
    static const vkdl_structure_type exts[] = {VKDL_STRUCTURE_TYPE_POOL2D_EXT_INFO};
    if (!info)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: info is NULL", op);
    VKDL_TRY(vkdl_check_chain(op, info->next, exts, 1));
    const vkdl_pool2d_ext_info *ext = vkdl_find_ext(info->next, VKDL_STRUCTURE_TYPE_POOL2D_EXT_INFO);
    int k[2] = {info->kernel[0], info->kernel[1]}, p[2] = {info->padding[0], info->padding[1]};
    int s[2] = {info->stride[0] ? info->stride[0] : k[0], info->stride[1] ? info->stride[1] : k[1]};
    int pe[2] = {ext ? ext->pad_end[0] : p[0], ext ? ext->pad_end[1] : p[1]};
    int d[2] = {ext && ext->dilation[0] ? ext->dilation[0] : 1, ext && ext->dilation[1] ? ext->dilation[1] : 1};
    bool ceil_mode = ext && ext->ceil_mode;
    if (k[0] < 1 || k[1] < 1)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: kernel %dx%d must be at least 1x1", op, k[0], k[1]);
    if (info->stride[0] < 0 || info->stride[1] < 0)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: stride %dx%d is negative", op, info->stride[0],
                         info->stride[1]);
    if (p[0] < 0 || p[1] < 0 || pe[0] < 0 || pe[1] < 0)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: padding %dx%d (end %dx%d) is negative", op, p[0], p[1],
                         pe[0], pe[1]);
    if (d[0] < 1 || d[1] < 1)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: dilation %dx%d is negative", op, d[0], d[1]);
    if (!max && (d[0] != 1 || d[1] != 1))
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: dilation %dx%d is for max pool only", op, d[0], d[1]);
    int64_t ke[2] = {(int64_t)d[0] * (k[0] - 1) + 1, (int64_t)d[1] * (k[1] - 1) + 1};
    if (ke[0] > MAX_POOL_PARAM || ke[1] > MAX_POOL_PARAM || s[0] > MAX_POOL_PARAM || s[1] > MAX_POOL_PARAM)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: kernel %dx%d (dilation %dx%d) or stride %dx%d exceeds %d",
                         op, k[0], k[1], d[0], d[1], s[0], s[1], MAX_POOL_PARAM);
    if (2 * (int64_t)p[0] > ke[0] || 2 * (int64_t)p[1] > ke[1] || 2 * (int64_t)pe[0] > ke[0] ||
        2 * (int64_t)pe[1] > ke[1])
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: padding %dx%d (end %dx%d) exceeds half the kernel %lldx%lld",
                         op, p[0], p[1], pe[0], pe[1], (long long)ke[0], (long long)ke[1]);
    char sx[VKDL_SHAPE_BUF];
    vkdl_shape_str(x, sx, sizeof sx);
    int64_t hp = x->shape[2] + p[0] + pe[0], wp = x->shape[3] + p[1] + pe[1];
    if (ke[0] > hp || ke[1] > wp)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH,
                         "%s: kernel %lldx%lld is larger than the padded input %lldx%lld (%s %s, padding %dx%d)", op,
                         (long long)ke[0], (long long)ke[1], (long long)hp, (long long)wp, xname, sx, p[0], p[1]);
    int64_t oh = pool_out_len(x->shape[2], p[0], pe[0], ke[0], s[0], ceil_mode);
    int64_t ow = pool_out_len(x->shape[3], p[1], pe[1], ke[1], s[1], ceil_mode);
    if (!pool_windows_filled(x->shape[2], oh, k[0], s[0], p[0], d[0]) ||
        !pool_windows_filled(x->shape[3], ow, k[1], s[1], p[1], d[1]))
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: a window holds no element of %s %s (dilation %dx%d, "
                         "padding %dx%d)", op, xname, sx, d[0], d[1], p[0], p[1]);
    *g = (pool_geom){
        .planes = x->shape[0] * x->shape[1], .h = x->shape[2], .w = x->shape[3], .oh = oh, .ow = ow,
        .eh = x->shape[2] + pe[0], .ew = x->shape[3] + pe[1],
        .kh = k[0], .kw = k[1], .sh = s[0], .sw = s[1], .ph = p[0], .pw = p[1], .dh = d[0], .dw = d[1],
        .include_pad = info->count_include_pad != 0,
    };
    return VKDL_OK;
}

/* pool_geometry, and y (the pooled side) of x's N and C and the output size. */
static vkdl_status pool_plan(const char *op, const char *xname, const vkdl_tensor *x, const char *yname,
                             const vkdl_tensor *y, const vkdl_pool2d_info *info, bool max, pool_geom *g)
{
    VKDL_TRY(check_planes(op, xname, x, yname, y));
    VKDL_TRY(pool_geometry(op, xname, x, info, max, g));
    if (y->shape[2] != g->oh || y->shape[3] != g->ow) {
        char sx[VKDL_SHAPE_BUF], sy[VKDL_SHAPE_BUF];
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: %s is %s, expected %lldx%lldx%lldx%lld for %s %s with kernel "
                         "%dx%d, stride %dx%d, padding %dx%d", op, yname, vkdl_shape_str(y, sy, sizeof sy),
                         (long long)x->shape[0], (long long)x->shape[1], (long long)g->oh, (long long)g->ow, xname,
                         vkdl_shape_str(x, sx, sizeof sx), g->kh, g->kw, g->sh, g->sw, g->ph, g->pw);
    }
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
    return pool_plan(op, "x", x, "out", out, info, true, g);
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

/* f32 x [..., H, W] and out [..., OH, OW] of one context with equal leading dims; x's plane is empty
 * only when out is empty. */
static vkdl_status check_resize_pair(const char *op, const char *xname, const vkdl_tensor *x, const char *yname,
                                     const vkdl_tensor *y)
{
    VKDL_TRY(vkdl_check_tensor(op, xname, x));
    VKDL_TRY(vkdl_check_tensor(op, yname, y));
    VKDL_TRY(vkdl_check_same_ctx(op, x, y));
    VKDL_TRY(vkdl_check_dtype(op, xname, x, VKDL_F32));
    VKDL_TRY(vkdl_check_dtype(op, yname, y, VKDL_F32));
    char sx[VKDL_SHAPE_BUF], sy[VKDL_SHAPE_BUF];
    vkdl_shape_str(x, sx, sizeof sx);
    vkdl_shape_str(y, sy, sizeof sy);
    bool lead = x->ndim == y->ndim && x->ndim >= 2;
    for (int i = 0; lead && i < x->ndim - 2; i++)
        lead = x->shape[i] == y->shape[i];
    if (!lead)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: %s is %s and %s is %s: expected [..., H, W] and [..., OH, OW] "
                         "with equal leading dims", op, xname, sx, yname, sy);
    if (x->numel > INT32_MAX || y->numel > INT32_MAX)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "%s: %s %s or %s %s has more than 2^31 elements", op, xname, sx, yname,
                         sy);
    if (y->numel && !x->numel)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: %s is %s, whose H x W plane is empty", op, xname, sx);
    return VKDL_OK;
}

static resize_axis resize_axis_of(int64_t len, int64_t olen, float scale)
{
    if (scale == 0)
        return (resize_axis){len, olen, (float)olen / (float)len, (float)olen};
    return (resize_axis){len, olen, scale, scale * (float)len};
}

/* Check info and fill g for x (the input side) and y (the resized side). */
static vkdl_status resize_plan(const char *op, const char *xname, const vkdl_tensor *x, const char *yname,
                               const vkdl_tensor *y, const vkdl_resize_info *info, resize_geom *g)
{
    VKDL_TRY(check_resize_pair(op, xname, x, yname, y));
    if (!info)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: info is NULL", op);
    VKDL_TRY(vkdl_check_next(op, info->next));
    if ((unsigned)info->mode >= VKDL_RESIZE_MODE_COUNT)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: mode %d is not a vkdl_resize_mode", op, (int)info->mode);
    if ((unsigned)info->coord >= VKDL_RESIZE_COORD_COUNT)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: coord %d is not a vkdl_resize_coord", op, (int)info->coord);
    if ((unsigned)info->nearest >= VKDL_RESIZE_NEAREST_COUNT)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: nearest %d is not a vkdl_resize_nearest", op,
                         (int)info->nearest);
    if (!isfinite(info->cubic_a))
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: cubic_a %g is not finite", op, (double)info->cubic_a);
    for (int i = 0; i < 2; i++)
        if (!(info->scale[i] >= 0) || !isfinite(info->scale[i]))
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: scale %gx%g must be positive and finite (0: out / in)",
                             op, (double)info->scale[0], (double)info->scale[1]);
    int nd = x->ndim;
    int64_t h = x->shape[nd - 2], w = x->shape[nd - 1];
    *g = (resize_geom){
        .planes = h && w ? x->numel / (h * w) : 0,
        .h = resize_axis_of(h, y->shape[nd - 2], info->scale[0]),
        .w = resize_axis_of(w, y->shape[nd - 1], info->scale[1]),
        .info = *info,
    };
    if (g->info.cubic_a == 0)
        g->info.cubic_a = -0.75f;
    return VKDL_OK;
}

/* resize_plan, and a mode with a backward whose window starts never decrease along an axis. */
static vkdl_status resize_backward_plan(const vkdl_tensor *dy, const vkdl_tensor *dx, const vkdl_resize_info *info,
                                        resize_geom *g)
{
    const char *op = "resize_backward";
    VKDL_TRY(resize_plan(op, "dx", dx, "dy", dy, info, g));
    if (info->mode == VKDL_RESIZE_CUBIC)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: mode cubic has no backward (nearest and linear do)", op);
    const resize_axis *ax[2] = {&g->h, &g->w};
    for (int i = 0; i < 2; i++)
        if (info->coord == VKDL_COORD_ALIGN_CORNERS && ax[i]->olen > 1 && ax[i]->span < 1)
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: align_corners with scale %g maps %lld to %g < 1, "
                             "reversing the axis", op, (double)ax[i]->scale, (long long)ax[i]->len,
                             (double)ax[i]->span);
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
                for (int64_t h = h0; h < h0 + (int64_t)g->kh * g->dh; h += g->dh) {
                    for (int64_t w = w0; w < w0 + (int64_t)g->kw * g->dw; w += g->dw) {
                        if (h < 0 || h >= g->h || w < 0 || w >= g->w)
                            continue;
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

/* The window within the padded input (never a ceil-mode overhang past it), or within x alone. */
static double avg_divisor(const pool_geom *g, int64_t oh, int64_t ow)
{
    int64_t h0 = oh * g->sh - g->ph, w0 = ow * g->sw - g->pw;
    if (g->include_pad)
        return (double)((h0 + g->kh < g->eh ? h0 + g->kh : g->eh) - h0) *
               (double)((w0 + g->kw < g->ew ? w0 + g->kw : g->ew) - w0);
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

/* As vkdl_reduce's MAX, which the device runs. */
static void cpu_global_maxpool(const vkdl_tensor *x, vkdl_tensor *out)
{
    int64_t hw = x->shape[2] * x->shape[3];
    const float *px = vkdl_tensor_host(x);
    float *py = vkdl_tensor_host(out);
    for (int64_t p = 0; p < out->numel; p++) {
        float best = px[p * hw];
        for (int64_t k = 1; k < hw; k++)
            best = px[p * hw + k] > best ? px[p * hw + k] : best;
        py[p] = best;
    }
}

/* ONNX's reference coordinate of output o on axis a; float steps as the shader rounds them. */
static float resize_coord(const resize_geom *g, const resize_axis *a, int64_t o)
{
    float x = (float)o;
    switch (g->info.coord) {
    case VKDL_COORD_ALIGN_CORNERS: return a->span == 1 ? 0.0f : x * (float)(a->len - 1) / (a->span - 1.0f);
    case VKDL_COORD_ASYMMETRIC: return x / a->scale;
    case VKDL_COORD_TF_HALF_PIXEL_FOR_NN: return (x + 0.5f) / a->scale;
    case VKDL_COORD_PYTORCH_HALF_PIXEL:
        if (a->span == 1)
            return -0.5f;
        return (x + 0.5f) / a->scale - 0.5f;
    default: return (x + 0.5f) / a->scale - 0.5f;
    }
}

/* The taps of output o on axis a: n source indices from the returned start (read clamped to the
 * edges) with weights c. As ONNX's reference: the n integers nearest the coordinate (the left one on
 * a tie, so the fraction r is in (0, 1]), kept within n / 2 of the edges. */
static int64_t resize_taps(const resize_geom *g, const resize_axis *a, int64_t o, float c[4], int *n)
{
    float x = resize_coord(g, a, o), fl = floorf(x), r = x == fl ? 1.0f : x - fl;
    int64_t i0 = (int64_t)fl - (x == fl);
    bool cubic = g->info.mode == VKDL_RESIZE_CUBIC;
    *n = cubic ? 4 : 2;
    int64_t start = cubic ? i0 - 1 : i0, lo = -*n / 2, hi = a->len - *n / 2;
    start = start < lo ? lo : start > hi ? hi : start;
    memset(c, 0, 4 * sizeof *c);
    if (g->info.mode == VKDL_RESIZE_NEAREST) {
        vkdl_resize_nearest m = g->info.nearest;
        bool up = r == 1.0f || m == VKDL_NEAREST_CEIL || (m == VKDL_NEAREST_ROUND_PREFER_FLOOR && r > 0.5f) ||
                  (m == VKDL_NEAREST_ROUND_PREFER_CEIL && r >= 0.5f);
        c[up] = 1.0f;
    } else if (!cubic) {
        c[0] = 1.0f - r;
        c[1] = r;
    } else {
        float A = g->info.cubic_a, q = 1.0f - r;
        c[0] = ((A * (r + 1) - 5 * A) * (r + 1) + 8 * A) * (r + 1) - 4 * A;
        c[1] = ((A + 2) * r - (A + 3)) * r * r + 1;
        c[2] = ((A + 2) * q - (A + 3)) * q * q + 1;
        c[3] = ((A * (q + 1) - 5 * A) * (q + 1) + 8 * A) * (q + 1) - 4 * A;
        if (g->info.exclude_outside) {
            float sum = 0;
            for (int t = 0; t < 4; t++) {
                c[t] = start + t >= 0 && start + t < a->len ? c[t] : 0.0f;
                sum += c[t];
            }
            for (int t = 0; t < 4; t++)
                c[t] /= sum;
        }
    }
    return start;
}

static int64_t clamp_index(int64_t i, int64_t len)
{
    return i < 0 ? 0 : i >= len ? len - 1 : i;
}

/* Forward (src x -> dst y) or backward (src dy -> dst dx: each dy spread over its taps' weights). */
static vkdl_status cpu_resize(const resize_geom *g, const float *src, float *dst, bool backward)
{
    int64_t H = g->h.len, W = g->w.len, OH = g->h.olen, OW = g->w.olen;
    bool nearest = g->info.mode == VKDL_RESIZE_NEAREST;
    double *acc = NULL;
    if (backward && !(acc = calloc((size_t)(g->planes * H * W), sizeof *acc)))
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "resize_backward: out of host memory");
    for (int64_t p = 0; p < g->planes; p++) {
        for (int64_t oh = 0; oh < OH; oh++) {
            float ch[4], cw[4];
            int nh, nw;
            int64_t h0 = resize_taps(g, &g->h, oh, ch, &nh);
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t w0 = resize_taps(g, &g->w, ow, cw, &nw), o = (p * OH + oh) * OW + ow;
                double sum = 0;
                for (int a = 0; a < nh; a++) {
                    double row = 0;
                    for (int b = 0; b < nw; b++) {
                        int64_t at = (p * H + clamp_index(h0 + a, H)) * W + clamp_index(w0 + b, W);
                        if (backward)
                            acc[at] += (double)src[o] * ch[a] * cw[b];
                        else if (!nearest || (ch[a] != 0 && cw[b] != 0)) /* nearest reads its one tap */
                            row += (double)cw[b] * src[at];
                    }
                    sum += ch[a] * row;
                }
                if (!backward)
                    dst[o] = (float)sum;
            }
        }
    }
    for (int64_t i = 0; backward && i < g->planes * H * W; i++)
        dst[i] = (float)acc[i];
    free(acc);
    return VKDL_OK;
}

/* ---------------------------------------------------------------- GPU launcher */

VKDL_PUSH_STRUCT(pool_push, POOL_PUSH, 2);
VKDL_PUSH_STRUCT(pool_max_push, POOL_MAX_PUSH, 3);
VKDL_PUSH_STRUCT(pool_max_bwd_push, POOL_MAX_BWD_PUSH, 3);
VKDL_PUSH_STRUCT(resize_push, RESIZE_PUSH, 2);

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

static const vkdl_kernel K_POOL_RESIZE = {
    VKDL_SPIRV(pool_resize),
    .n_bindings = 2,
    .access = {VKDL_READ, VKDL_WRITE},
    .push_size = sizeof(struct resize_push),
    .n_spec = RESIZE_SPEC_COUNT,
};

static const vkdl_kernel K_POOL_RESIZE_BWD = {
    VKDL_SPIRV(pool_resize_bwd),
    .n_bindings = 2,
    .access = {VKDL_READ, VKDL_WRITE},
    .push_size = sizeof(struct resize_push),
    .n_spec = RESIZE_SPEC_COUNT,
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
    .sw = (uint32_t)(g)->sw, .ph = (uint32_t)(g)->ph, .pw = (uint32_t)(g)->pw, .dh = (uint32_t)(g)->dh,   \
    .dw = (uint32_t)(g)->dw

/* One element of dst per invocation. */
static vkdl_status gpu_pool(uint32_t op, const pool_geom *g, const vkdl_tensor *src, vkdl_tensor *dst)
{
    struct pool_push pc = {WINDOW_FIELDS(g, dst->numel), .include_pad = g->include_pad, .eh = (uint32_t)g->eh,
                           .ew = (uint32_t)g->ew};
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

/* A mean or max over the last axis of x seen as [planes, hw]: vkdl_reduce already picks the launch
 * shape (an invocation or a workgroup per plane) for the device. */
static vkdl_status gpu_global_pool(vkdl_reduce_op op, const vkdl_tensor *x, vkdl_tensor *out)
{
    int64_t xs[2] = {out->numel, x->shape[2] * x->shape[3]}, ys[1] = {out->numel};
    vkdl_tensor *xv = NULL, *yv = NULL;
    vkdl_status s = vkdl_tensor_reshape((vkdl_tensor *)x, 2, xs, &xv);
    if (s == VKDL_OK)
        s = vkdl_tensor_reshape(out, 1, ys, &yv);
    if (s == VKDL_OK)
        s = vkdl_reduce(op, xv, 1, yv);
    vkdl_tensor_destroy(xv);
    vkdl_tensor_destroy(yv);
    return s;
}

/* An invocation per element of dst: y forward, dx backward. */
static vkdl_status gpu_resize(const resize_geom *g, const vkdl_tensor *src, vkdl_tensor *dst, bool backward)
{
    struct resize_push pc = {
        .n = (uint32_t)dst->numel, .H = (uint32_t)g->h.len, .W = (uint32_t)g->w.len, .OH = (uint32_t)g->h.olen,
        .OW = (uint32_t)g->w.olen, .scale_h = g->h.scale, .scale_w = g->w.scale, .len_h = g->h.span,
        .len_w = g->w.span, .cubic_a = g->info.cubic_a,
    };
    uint32_t spec[RESIZE_SPEC_COUNT] = {
        [POOL_SPEC_WG] = WG,
        [RESIZE_SPEC_MODE] = (uint32_t)g->info.mode,
        [RESIZE_SPEC_COORD] = (uint32_t)g->info.coord,
        [RESIZE_SPEC_NEAREST] = (uint32_t)g->info.nearest,
        [RESIZE_SPEC_EXCLUDE] = g->info.mode == VKDL_RESIZE_CUBIC && g->info.exclude_outside,
    };
    vkdl_dispatch_info d = {.kernel = backward ? &K_POOL_RESIZE_BWD : &K_POOL_RESIZE, .spec = spec,
                            .tensors = {src, dst}, .push = &pc};
    vkdl_grid_1d(dst->ctx, ((uint64_t)dst->numel + WG - 1) / WG, d.groups);
    return vkdl_dispatch(dst->ctx, &d);
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
    VKDL_TRY(pool_plan(op, "x", x, "out", out, info, false, &g));
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
    VKDL_TRY(pool_plan(op, "dx", dx, "dy", dy, info, false, &g));
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
    return gpu_global_pool(VKDL_MEAN, x, out);
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

vkdl_status vkdl_global_maxpool2d(const vkdl_tensor *x, vkdl_tensor *out)
{
    const char *op = "global_maxpool2d";
    VKDL_TRY(check_4d_pair(op, "x", x, "out", out));
    VKDL_TRY(check_global(op, "x", x, "out", out));
    if (out->numel == 0)
        return VKDL_OK;
    if (x->shape[2] == 0 || x->shape[3] == 0) {
        char sx[VKDL_SHAPE_BUF];
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: x is %s, whose H x W plane is empty", op,
                         vkdl_shape_str(x, sx, sizeof sx));
    }
    if (x->ctx->backend == VKDL_BACKEND_CPU) {
        cpu_global_maxpool(x, out);
        return VKDL_OK;
    }
    return gpu_global_pool(VKDL_MAX, x, out);
}

vkdl_status vkdl_resize(const vkdl_tensor *x, vkdl_tensor *out, const vkdl_resize_info *info)
{
    resize_geom g;
    VKDL_TRY(resize_plan("resize", "x", x, "out", out, info, &g));
    if (out->numel == 0)
        return VKDL_OK;
    if (x->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_resize(&g, vkdl_tensor_host(x), vkdl_tensor_host(out), false);
    return gpu_resize(&g, x, out, false);
}

vkdl_status vkdl_resize_backward(const vkdl_tensor *dy, vkdl_tensor *dx, const vkdl_resize_info *info)
{
    resize_geom g;
    VKDL_TRY(resize_backward_plan(dy, dx, info, &g));
    if (dx->numel == 0)
        return VKDL_OK;
    if (dx->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_resize(&g, vkdl_tensor_host(dy), vkdl_tensor_host(dx), true);
    return gpu_resize(&g, dy, dx, true);
}

vkdl_status vkdl_pool2d_out_shape(const char *op, const vkdl_tensor *x, const vkdl_pool2d_info *info, bool max,
                                  int64_t shape[4])
{
    pool_geom g;
    VKDL_TRY(pool_geometry(op, "x", x, info, max, &g));
    shape[0] = x->shape[0];
    shape[1] = x->shape[1];
    shape[2] = g.oh;
    shape[3] = g.ow;
    return VKDL_OK;
}

vkdl_pool2d_params vkdl_pool2d_params_of(const vkdl_pool2d_info *info)
{
    const vkdl_pool2d_ext_info *ext = vkdl_find_ext(info->next, VKDL_STRUCTURE_TYPE_POOL2D_EXT_INFO);
    vkdl_pool2d_params p = {.info = *info, .ext = ext ? *ext : (vkdl_pool2d_ext_info){0}};
    p.info.next = NULL;
    p.ext.next = NULL;
    return p;
}

vkdl_pool2d_info vkdl_pool2d_params_info(const vkdl_pool2d_params *p)
{
    vkdl_pool2d_info info = p->info;
    info.next = p->ext.type ? &p->ext : NULL;
    return info;
}
