/* Indexing: vkdl_view_copy (strided windows with padding: ONNX Slice, Pad, Tile, Expand, Concat),
 * vkdl_gather and its backward, vkdl_gather_elements and vkdl_scatter_elements.
 * Shader: shaders/index.comp. Tests: tests/test_index.c. */
#include "ops/ops.h"
#include "shaders.h"
#include "index.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(VKDL_MAX_DIMS <= INDEX_MAX_DIMS, "index.comp takes every rank");
_Static_assert(INDEX_PAD_CONSTANT == VKDL_PAD_CONSTANT && INDEX_PAD_REFLECT == VKDL_PAD_REFLECT &&
                   INDEX_PAD_EDGE == VKDL_PAD_EDGE && INDEX_PAD_WRAP == VKDL_PAD_WRAP,
               "index.comp reads vkdl_pad_mode's values");
_Static_assert(INDEX_SCATTER_NONE == VKDL_SCATTER_NONE && INDEX_SCATTER_ADD == VKDL_SCATTER_ADD &&
                   INDEX_SCATTER_MUL == VKDL_SCATTER_MUL && INDEX_SCATTER_MAX == VKDL_SCATTER_MAX &&
                   INDEX_SCATTER_MIN == VKDL_SCATTER_MIN,
               "index.comp reads vkdl_scatter_reduce's values");

static const char *const PAD_NAMES[] = {"constant", "reflect", "edge", "wrap"};

/* A view_copy with its defaults resolved, as both backends walk it. */
typedef struct view_box {
    int64_t start[VKDL_MAX_DIMS], step[VKDL_MAX_DIMS], off[VKDL_MAX_DIMS], ext[VKDL_MAX_DIMS];
    vkdl_pad_mode mode;
    uint32_t fill; /* the constant's bits in x's dtype */
    int64_t numel;
} view_box;

/* ---------------------------------------------------------------- checks */

static vkdl_status check_view(const vkdl_tensor *x, const vkdl_tensor *out, const vkdl_view_info *info, view_box *b)
{
    VKDL_TRY(vkdl_check_tensor("view_copy", "x", x));
    VKDL_TRY(vkdl_check_tensor("view_copy", "out", out));
    VKDL_TRY(vkdl_check_same_ctx("view_copy", x, out));
    VKDL_TRY(vkdl_check_dtype("view_copy", "out", out, x->dtype));
    char sx[VKDL_SHAPE_BUF], so[VKDL_SHAPE_BUF];
    vkdl_shape_str(x, sx, sizeof sx);
    vkdl_shape_str(out, so, sizeof so);
    *b = (view_box){.mode = VKDL_PAD_CONSTANT, .numel = 1};
    if (!info) {
        VKDL_TRY(vkdl_check_same_shape("view_copy", x, out));
    } else {
        VKDL_TRY(vkdl_check_next("view_copy", info->next));
        if ((unsigned)info->mode > VKDL_PAD_WRAP)
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "view_copy: mode %d is not a vkdl_pad_mode", (int)info->mode);
        b->mode = info->mode;
        vkdl_convert(&b->fill, x->dtype, &info->value, VKDL_F32, 1);
    }
    if (out->ndim != x->ndim)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "view_copy: x is %s and out %s: their ranks differ", sx, so);
    for (int d = 0; d < x->ndim; d++) {
        b->step[d] = 1;
        if (!info)
            continue;
        b->start[d] = info->start[d];
        b->step[d] = info->step[d] ? info->step[d] : 1;
        b->off[d] = info->out_offset[d];
        b->ext[d] = info->extent[d];
        if (b->off[d] < 0 || b->off[d] > out->shape[d] || b->ext[d] < 0 || b->off[d] + b->ext[d] > out->shape[d])
            return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH,
                             "view_copy: the box of dim %d (offset %lld, extent %lld) is outside out %s", d,
                             (long long)b->off[d], (long long)b->ext[d], so);
    }
    for (int d = 0; d < x->ndim; d++) {
        if (!b->ext[d])
            b->ext[d] = out->shape[d] - b->off[d];
        b->numel *= b->ext[d];
    }
    if (out->numel > UINT32_MAX || x->numel > UINT32_MAX)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "view_copy: x %s or out %s has more than 2^32 elements", sx, so);
    if (b->numel == 0)
        return VKDL_OK;
    for (int d = 0; d < x->ndim; d++) {
        int64_t first = b->start[d], last = first + (b->ext[d] - 1) * b->step[d];
        if (first < INT32_MIN || first > INT32_MAX || b->step[d] < INT32_MIN || b->step[d] > INT32_MAX ||
            last < INT32_MIN || last > INT32_MAX)
            return vkdl_fail(VKDL_ERROR_TOO_LARGE, "view_copy: the x indices of dim %d run from %lld to %lld, "
                             "beyond 32 bits", d, (long long)first, (long long)last);
        int64_t lo = first < last ? first : last, hi = first < last ? last : first;
        if ((lo >= 0 && hi < x->shape[d]) || b->mode == VKDL_PAD_CONSTANT)
            continue;
        if (x->shape[d] < (b->mode == VKDL_PAD_REFLECT ? 2 : 1))
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "view_copy: %s mode reads indices %lld to %lld of dim %d of "
                             "x %s, which needs at least %d elements", PAD_NAMES[b->mode], (long long)lo,
                             (long long)hi, d, sx, b->mode == VKDL_PAD_REFLECT ? 2 : 1);
    }
    return VKDL_OK;
}

/* axis of a rank-ndim tensor, negative counting from the end, into *a. */
static vkdl_status check_axis(const char *op, int axis, int ndim, const char *sx, int *a)
{
    *a = axis < 0 ? axis + ndim : axis;
    if (*a < 0 || *a >= ndim)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: axis %d is outside the %d dims of x %s", op, axis, ndim, sx);
    return VKDL_OK;
}

/* x (dx), idx and out (dout) of a gather: out = x.shape[:axis] + idx.shape + x.shape[axis+1:]. */
static vkdl_status check_gather(const char *op, const char *xname, const vkdl_tensor *x, const vkdl_tensor *idx,
                                int axis, const char *oname, const vkdl_tensor *out, bool want_f32, int *a)
{
    VKDL_TRY(vkdl_check_tensor(op, xname, x));
    VKDL_TRY(vkdl_check_tensor(op, "idx", idx));
    VKDL_TRY(vkdl_check_tensor(op, oname, out));
    VKDL_TRY(vkdl_check_same_ctx(op, x, idx));
    VKDL_TRY(vkdl_check_same_ctx(op, x, out));
    if (want_f32)
        VKDL_TRY(vkdl_check_dtype(op, xname, x, VKDL_F32));
    VKDL_TRY(vkdl_check_dtype(op, "idx", idx, VKDL_I32));
    VKDL_TRY(vkdl_check_dtype(op, oname, out, x->dtype));
    char sx[VKDL_SHAPE_BUF], si[VKDL_SHAPE_BUF], so[VKDL_SHAPE_BUF];
    vkdl_shape_str(x, sx, sizeof sx);
    vkdl_shape_str(idx, si, sizeof si);
    vkdl_shape_str(out, so, sizeof so);
    VKDL_TRY(check_axis(op, axis, x->ndim, sx, a));
    bool ok = out->ndim == x->ndim - 1 + idx->ndim;
    for (int d = 0; ok && d < out->ndim; d++) {
        int64_t want = d < *a ? x->shape[d] : d < *a + idx->ndim ? idx->shape[d - *a] : x->shape[d - idx->ndim + 1];
        ok = out->shape[d] == want;
    }
    if (!ok)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: %s is %s, expected %s %s with dim %d replaced by idx's %s",
                         op, oname, so, xname, sx, *a, si);
    if (x->numel > UINT32_MAX || out->numel > UINT32_MAX)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "%s: %s %s or %s %s has more than 2^32 elements", op, xname, sx, oname,
                         so);
    return VKDL_OK;
}

/* idx of x's rank, no longer than x off the axis (so every element it names exists). */
static vkdl_status check_elements(const char *op, const vkdl_tensor *x, const vkdl_tensor *idx, int axis, int *a)
{
    VKDL_TRY(vkdl_check_dtype(op, "idx", idx, VKDL_I32));
    char sx[VKDL_SHAPE_BUF], si[VKDL_SHAPE_BUF];
    vkdl_shape_str(x, sx, sizeof sx);
    vkdl_shape_str(idx, si, sizeof si);
    VKDL_TRY(check_axis(op, axis, x->ndim, sx, a));
    bool ok = idx->ndim == x->ndim;
    for (int d = 0; ok && d < x->ndim; d++)
        ok = d == *a || idx->shape[d] <= x->shape[d];
    if (!ok)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: idx is %s, expected x's rank with no dim but %d longer "
                         "than x %s", op, si, *a, sx);
    if (x->numel > UINT32_MAX || idx->numel > UINT32_MAX)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "%s: x %s or idx %s has more than 2^32 elements", op, sx, si);
    return VKDL_OK;
}

static vkdl_status check_gather_elements(const vkdl_tensor *x, const vkdl_tensor *idx, int axis,
                                         const vkdl_tensor *out, int *a)
{
    VKDL_TRY(vkdl_check_tensor("gather_elements", "x", x));
    VKDL_TRY(vkdl_check_tensor("gather_elements", "idx", idx));
    VKDL_TRY(vkdl_check_tensor("gather_elements", "out", out));
    VKDL_TRY(vkdl_check_same_ctx("gather_elements", x, idx));
    VKDL_TRY(vkdl_check_same_ctx("gather_elements", x, out));
    VKDL_TRY(vkdl_check_dtype("gather_elements", "out", out, x->dtype));
    VKDL_TRY(check_elements("gather_elements", x, idx, axis, a));
    return vkdl_check_same_shape("gather_elements", idx, out);
}

static vkdl_status check_scatter(const vkdl_tensor *x, const vkdl_tensor *idx, const vkdl_tensor *updates, int axis,
                                 vkdl_scatter_reduce reduce, const vkdl_tensor *out, int *a)
{
    VKDL_TRY(vkdl_check_tensor("scatter_elements", "x", x));
    VKDL_TRY(vkdl_check_tensor("scatter_elements", "idx", idx));
    VKDL_TRY(vkdl_check_tensor("scatter_elements", "updates", updates));
    VKDL_TRY(vkdl_check_tensor("scatter_elements", "out", out));
    VKDL_TRY(vkdl_check_same_ctx("scatter_elements", x, idx));
    VKDL_TRY(vkdl_check_same_ctx("scatter_elements", x, updates));
    VKDL_TRY(vkdl_check_same_ctx("scatter_elements", x, out));
    if (x->dtype != VKDL_F32 && x->dtype != VKDL_I32)
        return vkdl_fail(VKDL_ERROR_DTYPE_MISMATCH, "scatter_elements: x is %s, expected f32 or i32",
                         vkdl_dtype_name(x->dtype));
    VKDL_TRY(vkdl_check_dtype("scatter_elements", "updates", updates, x->dtype));
    VKDL_TRY(vkdl_check_dtype("scatter_elements", "out", out, x->dtype));
    if ((unsigned)reduce >= VKDL_SCATTER_REDUCE_COUNT)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "scatter_elements: reduce %d is not a vkdl_scatter_reduce",
                         (int)reduce);
    VKDL_TRY(check_elements("scatter_elements", x, idx, axis, a));
    VKDL_TRY(vkdl_check_same_shape("scatter_elements", idx, updates));
    return vkdl_check_same_shape("scatter_elements", x, out);
}

/* ---------------------------------------------------------------- CPU twin */

/* The x index that index c of a dim of size n reads; *inside turns false for the constant. */
static int64_t map_index(vkdl_pad_mode mode, int64_t c, int64_t n, bool *inside)
{
    if (c >= 0 && c < n)
        return c;
    switch (mode) {
    case VKDL_PAD_EDGE: return c < 0 ? 0 : n - 1;
    case VKDL_PAD_WRAP: return (c % n + n) % n;
    case VKDL_PAD_REFLECT: {
        int64_t period = 2 * (n - 1), m = (c % period + period) % period;
        return m < n ? m : period - m;
    }
    default: *inside = false; return 0;
    }
}

static void cpu_view_copy(const vkdl_tensor *x, vkdl_tensor *out, const view_box *b)
{
    size_t es = vkdl_dtype_size(x->dtype);
    const char *src = vkdl_tensor_host(x);
    char *dst = vkdl_tensor_host(out);
    int64_t i[VKDL_MAX_DIMS] = {0};
    for (int64_t e = 0; e < b->numel; e++) {
        int64_t o = 0, s = 0;
        bool inside = true;
        for (int d = 0; d < x->ndim; d++) {
            o = o * out->shape[d] + b->off[d] + i[d];
            s = s * x->shape[d] + map_index(b->mode, b->start[d] + i[d] * b->step[d], x->shape[d], &inside);
        }
        memcpy(dst + (size_t)o * es, inside ? src + (size_t)s * es : (const char *)&b->fill, es);
        for (int d = x->ndim - 1; d >= 0 && ++i[d] == b->ext[d]; d--)
            i[d] = 0;
    }
}

/* An index along a dim of size n, negative counting from the end, into *r; false when outside [-n, n). */
static bool wrap_index(int32_t v, int64_t n, int64_t *r)
{
    *r = v < 0 ? v + n : v;
    return *r >= 0 && *r < n;
}

static vkdl_status bad_index(const char *op, const vkdl_tensor *idx, int64_t k, int64_t n)
{
    return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: idx[%lld] = %d is outside [-%lld, %lld)", op, (long long)k,
                     (int)((const int32_t *)vkdl_tensor_host(idx))[k], (long long)n, (long long)n);
}

static vkdl_status cpu_gather(const vkdl_tensor *x, const vkdl_tensor *idx, int axis, vkdl_tensor *out)
{
    int64_t outer, N, inner;
    vkdl_split_axis(x, axis, &outer, &N, &inner);
    size_t es = vkdl_dtype_size(x->dtype), row = (size_t)inner * es;
    const char *src = vkdl_tensor_host(x);
    const int32_t *ix = vkdl_tensor_host(idx);
    char *dst = vkdl_tensor_host(out);
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t k = 0; k < idx->numel; k++) {
            int64_t v;
            if (!wrap_index(ix[k], N, &v))
                return bad_index("gather", idx, k, N);
            memcpy(dst + (size_t)(o * idx->numel + k) * row, src + (size_t)(o * N + v) * row, row);
        }
    }
    return VKDL_OK;
}

static vkdl_status cpu_gather_backward(const vkdl_tensor *dout, const vkdl_tensor *idx, int axis, vkdl_tensor *dx)
{
    int64_t outer, N, inner;
    vkdl_split_axis(dx, axis, &outer, &N, &inner);
    const float *g = vkdl_tensor_host(dout);
    const int32_t *ix = vkdl_tensor_host(idx);
    float *d = vkdl_tensor_host(dx);
    for (int64_t k = 0; k < idx->numel; k++) {
        int64_t v;
        if (!wrap_index(ix[k], N, &v))
            return bad_index("gather_backward", idx, k, N);
    }
    memset(d, 0, (size_t)dx->numel * sizeof *d);
    /* every dx element sums its terms in increasing k, as the shader does */
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t k = 0; k < idx->numel; k++) {
            int64_t v;
            wrap_index(ix[k], N, &v);
            for (int64_t i = 0; i < inner; i++)
                d[(o * N + v) * inner + i] += g[(o * idx->numel + k) * inner + i];
        }
    }
    return VKDL_OK;
}

/* Row-major element e of shape `dims` (ndim of them) as coordinates. */
static void coords_of(int64_t e, int ndim, const int64_t *dims, int64_t *c)
{
    for (int d = ndim - 1; d >= 0; d--) {
        c[d] = e % dims[d];
        e /= dims[d];
    }
}

static int64_t offset_of(int ndim, const int64_t *dims, const int64_t *c)
{
    int64_t o = 0;
    for (int d = 0; d < ndim; d++)
        o = o * dims[d] + c[d];
    return o;
}

static vkdl_status cpu_gather_elements(const vkdl_tensor *x, const vkdl_tensor *idx, int axis, vkdl_tensor *out)
{
    size_t es = vkdl_dtype_size(x->dtype);
    const char *src = vkdl_tensor_host(x);
    const int32_t *ix = vkdl_tensor_host(idx);
    char *dst = vkdl_tensor_host(out);
    for (int64_t e = 0; e < idx->numel; e++) {
        int64_t c[VKDL_MAX_DIMS];
        coords_of(e, idx->ndim, idx->shape, c);
        if (!wrap_index(ix[e], x->shape[axis], &c[axis]))
            return bad_index("gather_elements", idx, e, x->shape[axis]);
        memcpy(dst + (size_t)e * es, src + (size_t)offset_of(x->ndim, x->shape, c) * es, es);
    }
    return VKDL_OK;
}

/* a combined with b; i32 arithmetic wraps, as on the GPU. */
static uint32_t combine(vkdl_scatter_reduce reduce, bool is_int, uint32_t a, uint32_t b)
{
    if (reduce == VKDL_SCATTER_NONE)
        return b;
    if (is_int) {
        int32_t p = (int32_t)a, q = (int32_t)b;
        switch (reduce) {
        case VKDL_SCATTER_ADD: return a + b;
        case VKDL_SCATTER_MUL: return a * b;
        case VKDL_SCATTER_MAX: return q > p ? b : a;
        default: return q < p ? b : a;
        }
    }
    float p, q, r;
    memcpy(&p, &a, 4);
    memcpy(&q, &b, 4);
    switch (reduce) {
    case VKDL_SCATTER_ADD: r = p + q; break;
    case VKDL_SCATTER_MUL: r = p * q; break;
    case VKDL_SCATTER_MAX: r = q > p ? q : p; break;
    default: r = q < p ? q : p; break;
    }
    uint32_t u;
    memcpy(&u, &r, 4);
    return u;
}

static vkdl_status cpu_scatter(const vkdl_tensor *x, const vkdl_tensor *idx, const vkdl_tensor *updates, int axis,
                               vkdl_scatter_reduce reduce, vkdl_tensor *out)
{
    const int32_t *ix = vkdl_tensor_host(idx);
    const uint32_t *u = vkdl_tensor_host(updates);
    uint32_t *o = vkdl_tensor_host(out);
    for (int64_t e = 0; e < idx->numel; e++) {
        int64_t v;
        if (!wrap_index(ix[e], x->shape[axis], &v))
            return bad_index("scatter_elements", idx, e, x->shape[axis]);
    }
    memmove(o, vkdl_tensor_host(x), (size_t)x->numel * 4);
    for (int64_t e = 0; e < idx->numel; e++) {
        int64_t c[VKDL_MAX_DIMS];
        coords_of(e, idx->ndim, idx->shape, c);
        wrap_index(ix[e], x->shape[axis], &c[axis]);
        int64_t t = offset_of(x->ndim, x->shape, c);
        o[t] = combine(reduce, x->dtype == VKDL_I32, o[t], u[e]);
    }
    return VKDL_OK;
}

/* ---------------------------------------------------------------- GPU launcher */

VKDL_PUSH_STRUCT(view_push, INDEX_VIEW_PUSH, 2);
VKDL_PUSH_STRUCT(gather_push, INDEX_GATHER_PUSH, 4);

/* Outputs of the copies are read-write because words shared with elements they must not touch
 * are merged with atomics. */
static const vkdl_kernel K_VIEW = {
    VKDL_SPIRV(index_view),
    .n_bindings = 2,
    .access = {VKDL_READ, VKDL_RW},
    .push_size = sizeof(struct view_push),
    .n_spec = INDEX_SPEC_COUNT,
};

static const vkdl_kernel K_GATHER = {
    VKDL_SPIRV(index_gather),
    .n_bindings = 3,
    .access = {VKDL_READ, VKDL_READ, VKDL_RW},
    .push_size = sizeof(struct gather_push),
    .n_spec = INDEX_SPEC_COUNT,
};

static const vkdl_kernel K_SCATTER = {
    VKDL_SPIRV(index_scatter),
    .n_bindings = 4,
    .access = {VKDL_READ, VKDL_READ, VKDL_READ, VKDL_WRITE},
    .push_size = sizeof(struct gather_push),
    .n_spec = INDEX_SPEC_COUNT,
};

static uint32_t workgroup(const vkdl_context *ctx)
{
    const vkdl_caps *c = &ctx->dev.caps;
    uint32_t wg = c->max_wg_invocations < c->max_wg_size[0] ? c->max_wg_invocations : c->max_wg_size[0];
    return wg < 256 ? wg : 256;
}

/* One box dim as the view kernel walks it. */
typedef struct view_dim {
    int64_t ext, ostride, xdim, xstride, start, step;
} view_dim;

/* The box's dims as the kernel walks them, innermost first; returns their count. Dims of extent 1
 * read one x index: they go into *obase and *xbase (*fill: that index is outside x, in constant
 * mode), except out's innermost, which keeps every box row contiguous in out. */
static int view_dims(const vkdl_tensor *x, const vkdl_tensor *out, const view_box *b, view_dim *dims,
                     int64_t *obase, int64_t *xbase, bool *fill)
{
    int64_t os = 1, xs = 1;
    int nd = 0;
    for (int d = x->ndim - 1; d >= 0; d--) {
        *obase += b->off[d] * os;
        if (b->ext[d] == 1 && d < x->ndim - 1) {
            bool inside = true;
            *xbase += map_index(b->mode, b->start[d], x->shape[d], &inside) * xs;
            *fill = *fill || !inside;
        } else {
            dims[nd++] = (view_dim){b->ext[d], os, x->shape[d], xs, b->start[d], b->step[d]};
        }
        os *= out->shape[d];
        xs *= x->shape[d];
    }
    if (nd == 0)
        dims[nd++] = (view_dim){1, 1, 1, 1, 0, 1};
    /* A dim copied whole (all of x's and out's dim, forwards) merges with the dim outside it when
     * that one reads forwards within x: most plain copies and concatenations become one row. */
    int m = 0;
    for (int d = 1; d < nd; d++) {
        view_dim *in = &dims[m], *o = &dims[d];
        int64_t merged_end = (o->start + o->ext) * in->xdim;
        bool whole = in->start == 0 && in->step == 1 && in->ext == in->xdim && o->ostride == in->ostride * in->ext &&
                     o->xstride == in->xstride * in->xdim;
        if (whole && o->step == 1 && o->start >= 0 && o->start + o->ext <= o->xdim && merged_end <= INT32_MAX) {
            *in = (view_dim){o->ext * in->ext, in->ostride, o->xdim * in->xdim, in->xstride, o->start * in->xdim, 1};
            continue;
        }
        dims[++m] = *o;
    }
    return m + 1;
}

static vkdl_status gpu_view_copy(const vkdl_tensor *x, vkdl_tensor *out, const view_box *b)
{
    vkdl_context *ctx = x->ctx;
    view_dim dims[VKDL_MAX_DIMS];
    int64_t obase = 0, xbase = 0;
    bool fill = x->numel == 0;
    int nd = view_dims(x, out, b, dims, &obase, &xbase, &fill);
    uint32_t es = (uint32_t)vkdl_dtype_size(x->dtype), per = 4 / es, wg = workgroup(ctx);
    int inner = nd < INDEX_VIEW_DIMS ? nd : INDEX_VIEW_DIMS;
    struct view_push pc = {.ndim = (uint32_t)inner, .fill = b->fill};
    uint64_t rows = 1;
    for (int d = 0; d < inner; d++) {
        pc.extent[d] = (uint32_t)dims[d].ext;
        pc.ostride[d] = (uint32_t)dims[d].ostride;
        pc.xdim[d] = (uint32_t)dims[d].xdim;
        pc.xstride[d] = (uint32_t)dims[d].xstride;
        pc.start[d] = (int32_t)dims[d].start;
        pc.step[d] = (int32_t)dims[d].step;
        rows *= d ? (uint64_t)dims[d].ext : 1;
    }
    /* an invocation per word of each row; an unaligned row straddles one word more */
    pc.wpr = per == 1 ? (uint32_t)dims[0].ext : (uint32_t)((dims[0].ext + per - 1) / per + 1);
    uint64_t n = rows * pc.wpr;
    if (n > UINT32_MAX)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "view_copy: %llu invocations exceed 2^32", (unsigned long long)n);
    pc.n = (uint32_t)n;

    /* The dims beyond the kernel's: one dispatch per index of them, folded into the bases. */
    int64_t i[VKDL_MAX_DIMS] = {0};
    for (;;) {
        int64_t ob = obase, xb = xbase;
        bool all_fill = fill;
        for (int d = inner; d < nd; d++) {
            bool inside = true;
            ob += i[d] * dims[d].ostride;
            xb += map_index(b->mode, dims[d].start + i[d] * dims[d].step, dims[d].xdim, &inside) * dims[d].xstride;
            all_fill = all_fill || !inside;
        }
        pc.obase = (uint32_t)ob;
        pc.xbase = all_fill ? 0 : (uint32_t)xb;
        uint32_t spec[INDEX_SPEC_COUNT] = {[INDEX_SPEC_WG] = wg, [INDEX_SPEC_ESIZE] = es,
                                           [INDEX_SPEC_MODE] = all_fill ? INDEX_PAD_FILL : (uint32_t)b->mode};
        /* FILL reads no x, which may have no memory to bind */
        vkdl_dispatch_info info = {.kernel = &K_VIEW, .spec = spec, .tensors = {all_fill ? out : x, out}, .push = &pc};
        vkdl_grid_1d(ctx, (n + wg - 1) / wg, info.groups);
        VKDL_TRY(vkdl_dispatch(ctx, &info));
        int d = inner;
        while (d < nd && ++i[d] == dims[d].ext)
            i[d++] = 0;
        if (d == nd)
            return VKDL_OK;
    }
}

/* dims and aux of the gather push, innermost first, from row-major shapes. */
static void push_dims(struct gather_push *pc, int ndim, const int64_t *dims, const int64_t *aux)
{
    pc->ndim = (uint32_t)ndim;
    for (int d = 0; d < ndim; d++) {
        pc->dim[d] = (uint32_t)dims[ndim - 1 - d];
        pc->aux[d] = (uint32_t)aux[ndim - 1 - d];
    }
}

/* A gather-family kernel writing n elements of dst (an invocation per word for copies). */
static vkdl_status gpu_gather(uint32_t mode, const vkdl_tensor *src, const vkdl_tensor *idx, vkdl_tensor *dst,
                              struct gather_push *pc)
{
    vkdl_context *ctx = dst->ctx;
    uint32_t es = (uint32_t)vkdl_dtype_size(dst->dtype), per = 4 / es, wg = workgroup(ctx);
    pc->n = (uint32_t)dst->numel;
    uint64_t words = per == 1 ? (uint64_t)dst->numel : ((uint64_t)dst->numel + per - 1) / per + 1;
    uint32_t spec[INDEX_SPEC_COUNT] = {[INDEX_SPEC_WG] = wg, [INDEX_SPEC_ESIZE] = es, [INDEX_SPEC_MODE] = mode};
    vkdl_dispatch_info info = {.kernel = &K_GATHER, .spec = spec, .tensors = {src, idx, dst}, .push = pc};
    vkdl_grid_1d(ctx, (words + wg - 1) / wg, info.groups);
    return vkdl_dispatch(ctx, &info);
}

/* ---------------------------------------------------------------- entry points */

vkdl_status vkdl_view_copy(const vkdl_tensor *x, vkdl_tensor *out, const vkdl_view_info *info)
{
    view_box b;
    VKDL_TRY(check_view(x, out, info, &b));
    if (b.numel == 0)
        return VKDL_OK;
    if (x->ctx->backend == VKDL_BACKEND_CPU) {
        cpu_view_copy(x, out, &b);
        return VKDL_OK;
    }
    return gpu_view_copy(x, out, &b);
}

vkdl_status vkdl_gather(const vkdl_tensor *x, const vkdl_tensor *idx, int axis, vkdl_tensor *out)
{
    int a;
    VKDL_TRY(check_gather("gather", "x", x, idx, axis, "out", out, false, &a));
    if (out->numel == 0)
        return VKDL_OK;
    if (x->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_gather(x, idx, a, out);
    /* an empty axis: every index is out of range, so zeros */
    if (x->numel == 0)
        return vkdl_tensor_fill(out, 0);
    int64_t outer, N, inner;
    vkdl_split_axis(x, a, &outer, &N, &inner);
    struct gather_push pc = {.dim = {(uint32_t)inner, (uint32_t)idx->numel}, .aux = {(uint32_t)N}};
    return gpu_gather(INDEX_OP_GATHER, x, idx, out, &pc);
}

vkdl_status vkdl_gather_backward(const vkdl_tensor *dout, const vkdl_tensor *idx, int axis, vkdl_tensor *dx)
{
    int a;
    VKDL_TRY(check_gather("gather_backward", "dx", dx, idx, axis, "dout", dout, true, &a));
    if (dx->numel == 0)
        return VKDL_OK;
    if (dx->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_gather_backward(dout, idx, a, dx);
    /* nothing was picked: dout and idx have no memory to bind */
    if (dout->numel == 0)
        return vkdl_tensor_fill(dx, 0);
    int64_t outer, N, inner;
    vkdl_split_axis(dx, a, &outer, &N, &inner);
    struct gather_push pc = {.dim = {(uint32_t)inner, (uint32_t)idx->numel}, .aux = {(uint32_t)N}};
    return gpu_gather(INDEX_OP_GATHER_BACKWARD, dout, idx, dx, &pc);
}

vkdl_status vkdl_gather_elements(const vkdl_tensor *x, const vkdl_tensor *idx, int axis, vkdl_tensor *out)
{
    int a;
    VKDL_TRY(check_gather_elements(x, idx, axis, out, &a));
    if (out->numel == 0)
        return VKDL_OK;
    if (x->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_gather_elements(x, idx, a, out);
    if (x->numel == 0)
        return vkdl_tensor_fill(out, 0);
    struct gather_push pc = {.axis = (uint32_t)(x->ndim - 1 - a)};
    push_dims(&pc, x->ndim, idx->shape, x->shape);
    return gpu_gather(INDEX_OP_GATHER_ELEMENTS, x, idx, out, &pc);
}

vkdl_status vkdl_scatter_elements(const vkdl_tensor *x, const vkdl_tensor *idx, const vkdl_tensor *updates, int axis,
                                  vkdl_scatter_reduce reduce, vkdl_tensor *out)
{
    int a;
    VKDL_TRY(check_scatter(x, idx, updates, axis, reduce, out, &a));
    if (out->numel == 0)
        return VKDL_OK;
    if (x->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_scatter(x, idx, updates, a, reduce, out);
    /* no updates: out = x, and idx and updates have no memory to bind */
    if (idx->numel == 0)
        return vkdl_copy(x, out);
    vkdl_context *ctx = x->ctx;
    uint32_t wg = workgroup(ctx);
    struct gather_push pc = {.n = (uint32_t)out->numel, .axis = (uint32_t)(x->ndim - 1 - a)};
    push_dims(&pc, x->ndim, x->shape, idx->shape);
    uint32_t spec[INDEX_SPEC_COUNT] = {[INDEX_SPEC_WG] = wg, [INDEX_SPEC_ESIZE] = 4, [INDEX_SPEC_MODE] = reduce,
                                       [INDEX_SPEC_INT] = x->dtype == VKDL_I32};
    vkdl_dispatch_info info = {.kernel = &K_SCATTER, .spec = spec, .tensors = {x, idx, updates, out}, .push = &pc};
    vkdl_grid_1d(ctx, ((uint64_t)out->numel + wg - 1) / wg, info.groups);
    return vkdl_dispatch(ctx, &info);
}
