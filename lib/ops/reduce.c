/* vkdl_reduce (sums, extremes, products, norms and log-sum-exp along one axis) and its backward,
 * vkdl_cumsum and vkdl_topk. */
#include "ops/ops.h"
#include "shaders.h"
#include "reduce.h"

#include <math.h>
#include <string.h>

/* The public op enum is passed to the shader as it is. */
_Static_assert(VKDL_SUM == REDUCE_OP_SUM && VKDL_MEAN == REDUCE_OP_MEAN && VKDL_MAX == REDUCE_OP_MAX &&
                   VKDL_ARGMAX == REDUCE_OP_ARGMAX && VKDL_MIN == REDUCE_OP_MIN && VKDL_PROD == REDUCE_OP_PROD &&
                   VKDL_ARGMIN == REDUCE_OP_ARGMIN && VKDL_L1 == REDUCE_OP_L1 && VKDL_L2 == REDUCE_OP_L2 &&
                   VKDL_SUM_SQUARE == REDUCE_OP_SUM_SQUARE && VKDL_LOG_SUM_EXP == REDUCE_OP_LOG_SUM_EXP,
               "vkdl_reduce_op matches reduce.h");

static bool is_arg(vkdl_reduce_op op) { return op == VKDL_ARGMAX || op == VKDL_ARGMIN; }
static bool is_extreme(vkdl_reduce_op op) { return is_arg(op) || op == VKDL_MAX || op == VKDL_MIN; }

/* ---------------------------------------------------------------- checks */

/* On success *front is axis counted from the front. */
static vkdl_status check_reduce(vkdl_reduce_op op, const vkdl_tensor *x, int axis, const vkdl_tensor *out, int *front)
{
    VKDL_TRY(vkdl_check_tensor("reduce", "x", x));
    VKDL_TRY(vkdl_check_tensor("reduce", "out", out));
    VKDL_TRY(vkdl_check_same_ctx("reduce", x, out));
    if ((unsigned)op >= VKDL_REDUCE_OP_COUNT)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "reduce: invalid op %d", (int)op);
    VKDL_TRY(vkdl_check_dtype("reduce", "x", x, VKDL_F32));
    VKDL_TRY(vkdl_check_dtype("reduce", "out", out, is_arg(op) ? VKDL_I32 : VKDL_F32));

    char sx[VKDL_SHAPE_BUF], so[VKDL_SHAPE_BUF];
    vkdl_shape_str(x, sx, sizeof sx);
    vkdl_shape_str(out, so, sizeof so);
    int a = axis < 0 ? axis + x->ndim : axis;
    if (a < 0 || a >= x->ndim)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "reduce: axis %d out of range for x %s", axis, sx);
    if (is_extreme(op) && x->shape[a] == 0)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "reduce: %s over axis %d of x %s, which is empty",
                         vkdl_reduce_op_name(op), axis, sx);

    bool keep = out->ndim == x->ndim;
    bool ok = keep || out->ndim == x->ndim - 1;
    for (int i = 0, j = 0; ok && i < x->ndim; i++) {
        if (i == a && !keep)
            continue;
        ok = out->shape[j++] == (i == a ? 1 : x->shape[i]);
    }
    if (!ok)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH,
                         "reduce: out is %s, but reducing x %s over axis %d gives that shape with the axis "
                         "removed or kept as 1", so, sx, axis);
    if (x->numel > UINT32_MAX)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "reduce: x %s has more than 2^32 elements", sx);
    *front = a;
    return VKDL_OK;
}

/* dy and y have the forward's output shape (checked by check_reduce), dx x's. */
static vkdl_status check_reduce_backward(vkdl_reduce_op op, const vkdl_tensor *x, const vkdl_tensor *y,
                                         const vkdl_tensor *dy, int axis, const vkdl_tensor *dx, int *front)
{
    VKDL_TRY(vkdl_check_tensor("reduce_backward", "y", y));
    VKDL_TRY(vkdl_check_tensor("reduce_backward", "dy", dy));
    VKDL_TRY(vkdl_check_tensor("reduce_backward", "dx", dx));
    if (is_arg(op))
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "reduce_backward: %s is not differentiable",
                         vkdl_reduce_op_name(op));
    VKDL_TRY(check_reduce(op, x, axis, y, front));
    VKDL_TRY(vkdl_check_same_ctx("reduce_backward", x, dy));
    VKDL_TRY(vkdl_check_same_ctx("reduce_backward", x, dx));
    VKDL_TRY(vkdl_check_dtype("reduce_backward", "dy", dy, VKDL_F32));
    VKDL_TRY(vkdl_check_dtype("reduce_backward", "dx", dx, VKDL_F32));
    VKDL_TRY(vkdl_check_same_shape("reduce_backward", y, dy));
    return vkdl_check_same_shape("reduce_backward", x, dx);
}

/* On success *front is axis counted from the front. */
static vkdl_status check_cumsum(const vkdl_tensor *x, int axis, const vkdl_tensor *out, int *front)
{
    VKDL_TRY(vkdl_check_tensor("cumsum", "x", x));
    VKDL_TRY(vkdl_check_tensor("cumsum", "out", out));
    VKDL_TRY(vkdl_check_same_ctx("cumsum", x, out));
    if (x->dtype != VKDL_F32 && x->dtype != VKDL_I32)
        return vkdl_fail(VKDL_ERROR_DTYPE_MISMATCH, "cumsum: x is %s, expected f32 or i32", vkdl_dtype_name(x->dtype));
    VKDL_TRY(vkdl_check_dtype("cumsum", "out", out, x->dtype));
    VKDL_TRY(vkdl_check_same_shape("cumsum", x, out));
    char sx[VKDL_SHAPE_BUF];
    vkdl_shape_str(x, sx, sizeof sx);
    int a = axis < 0 ? axis + x->ndim : axis;
    if (a < 0 || a >= x->ndim)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "cumsum: axis %d out of range for x %s", axis, sx);
    if (x->numel > UINT32_MAX)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "cumsum: x %s has more than 2^32 elements", sx);
    *front = a;
    return VKDL_OK;
}

static vkdl_status check_topk(const vkdl_tensor *x, int64_t k, const vkdl_tensor *values, const vkdl_tensor *indices)
{
    VKDL_TRY(vkdl_check_tensor("topk", "x", x));
    VKDL_TRY(vkdl_check_tensor("topk", "values", values));
    VKDL_TRY(vkdl_check_same_ctx("topk", x, values));
    VKDL_TRY(vkdl_check_dtype("topk", "x", x, VKDL_F32));
    VKDL_TRY(vkdl_check_dtype("topk", "values", values, VKDL_F32));
    char sx[VKDL_SHAPE_BUF], sv[VKDL_SHAPE_BUF];
    vkdl_shape_str(x, sx, sizeof sx);
    vkdl_shape_str(values, sv, sizeof sv);
    if (x->ndim < 1)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "topk: x %s has no last axis", sx);
    int64_t n = x->shape[x->ndim - 1];
    if (k < 1 || k > n)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "topk: k %lld out of range [1, %lld] for x %s", (long long)k,
                         (long long)n, sx);
    bool ok = values->ndim == x->ndim && values->shape[x->ndim - 1] == k;
    for (int i = 0; ok && i < x->ndim - 1; i++)
        ok = values->shape[i] == x->shape[i];
    if (!ok)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "topk: values is %s, expected x %s with the last axis k %lld", sv,
                         sx, (long long)k);
    if (indices) {
        VKDL_TRY(vkdl_check_tensor("topk", "indices", indices));
        VKDL_TRY(vkdl_check_same_ctx("topk", x, indices));
        VKDL_TRY(vkdl_check_dtype("topk", "indices", indices, VKDL_I32));
        VKDL_TRY(vkdl_check_same_shape("topk", values, indices));
    }
    if (x->numel > UINT32_MAX || n > INT32_MAX)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "topk: x %s has more than 2^32 elements", sx);
    return VKDL_OK;
}

/* ---------------------------------------------------------------- CPU twin */

/* Does v replace the extreme w? NaN beats every number and no other NaN (as in the shader). */
static bool beats(bool least, float v, float w)
{
    if (isnan(v) || isnan(w))
        return isnan(v) && !isnan(w);
    return least ? v < w : v > w;
}

/* The n elements of a line, stride inner apart, reduced in double. */
static double reduce_line(vkdl_reduce_op op, const float *p, int64_t n, int64_t inner)
{
    double s = op == VKDL_PROD ? 1.0 : 0.0;
    switch (op) {
    case VKDL_MAX:
    case VKDL_MIN:
    case VKDL_ARGMAX:
    case VKDL_ARGMIN: {
        bool least = op == VKDL_MIN || op == VKDL_ARGMIN;
        int64_t at = 0;
        for (int64_t k = 1; k < n; k++)
            if (beats(least, p[k * inner], p[at * inner]))
                at = k;
        return is_arg(op) ? (double)at : p[at * inner];
    }
    case VKDL_LOG_SUM_EXP: {
        double m = -INFINITY;
        for (int64_t k = 0; k < n; k++)
            m = isnan(p[k * inner]) || isnan(m) ? NAN : fmax(m, p[k * inner]);
        if (!isfinite(m))
            return m;
        for (int64_t k = 0; k < n; k++)
            s += exp(p[k * inner] - m);
        return m + log(s);
    }
    default:
        for (int64_t k = 0; k < n; k++) {
            double v = p[k * inner];
            s = op == VKDL_PROD ? s * v : s + (op == VKDL_L1 ? fabs(v) : op == VKDL_SUM || op == VKDL_MEAN ? v : v * v);
        }
        return op == VKDL_MEAN ? s / (double)n : op == VKDL_L2 ? sqrt(s) : s;
    }
}

static vkdl_status cpu_reduce(vkdl_reduce_op op, const vkdl_tensor *x, int axis, vkdl_tensor *out)
{
    int64_t outer, n, inner;
    vkdl_split_axis(x, axis, &outer, &n, &inner);
    const float *xp = vkdl_tensor_host(x);
    float *yf = vkdl_tensor_host(out);
    int32_t *yi = vkdl_tensor_host(out);
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t j = 0; j < inner; j++) {
            double r = reduce_line(op, xp + o * n * inner + j, n, inner);
            if (is_arg(op))
                yi[o * inner + j] = (int32_t)r;
            else
                yf[o * inner + j] = (float)r;
        }
    }
    return VKDL_OK;
}

/* dx one line at a time: MAX and MIN find the first extreme as the forward did, PROD counts zeros. */
static vkdl_status cpu_reduce_backward(vkdl_reduce_op op, const vkdl_tensor *x, const vkdl_tensor *y,
                                       const vkdl_tensor *dy, int axis, vkdl_tensor *dx)
{
    int64_t outer, n, inner;
    vkdl_split_axis(x, axis, &outer, &n, &inner);
    const float *xp = vkdl_tensor_host(x), *yp = vkdl_tensor_host(y), *gp = vkdl_tensor_host(dy);
    float *dp = vkdl_tensor_host(dx);
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t j = 0; j < inner; j++) {
            const float *p = xp + o * n * inner + j;
            float *d = dp + o * n * inner + j;
            double g = gp[o * inner + j], r = yp[o * inner + j];
            vkdl_reduce_op arg = op == VKDL_MAX ? VKDL_ARGMAX : VKDL_ARGMIN;
            int64_t at = op == VKDL_MAX || op == VKDL_MIN ? (int64_t)reduce_line(arg, p, n, inner) : -1;
            int64_t zeros = 0;
            double nonzero = 1;
            for (int64_t k = 0; k < n; k++) {
                zeros += p[k * inner] == 0.0f;
                nonzero *= p[k * inner] == 0.0f ? 1.0 : p[k * inner];
            }
            for (int64_t k = 0; k < n; k++) {
                double v = p[k * inner], e;
                switch (op) {
                case VKDL_SUM: e = g; break;
                case VKDL_MEAN: e = g / (double)n; break;
                case VKDL_MAX:
                case VKDL_MIN: e = k == at ? g : 0.0; break;
                case VKDL_PROD: e = zeros == 0 ? g * nonzero / v : zeros == 1 && v == 0.0 ? g * nonzero : 0.0; break;
                case VKDL_L1: e = g * (double)((v > 0) - (v < 0)); break;
                case VKDL_L2: e = r == 0.0 ? 0.0 : g * v / r; break;
                case VKDL_SUM_SQUARE: e = 2.0 * g * v; break;
                default: e = r == -INFINITY ? 0.0 : g * exp(v - r); break;
                }
                d[k * inner] = (float)e;
            }
        }
    }
    return VKDL_OK;
}

/* Running sums in double (f32) or wrapping 32 bits (i32), in the summing order. */
static vkdl_status cpu_cumsum(const vkdl_tensor *x, int axis, int exclusive, int reverse, vkdl_tensor *out)
{
    int64_t outer, n, inner;
    vkdl_split_axis(x, axis, &outer, &n, &inner);
    bool f = x->dtype == VKDL_F32;
    const float *xf = vkdl_tensor_host(x);
    const uint32_t *xi = vkdl_tensor_host(x);
    float *yf = vkdl_tensor_host(out);
    uint32_t *yi = vkdl_tensor_host(out);
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t j = 0; j < inner; j++) {
            double s = 0;
            uint32_t si = 0;
            for (int64_t p = 0; p < n; p++) {
                int64_t at = (o * n + (reverse ? n - 1 - p : p)) * inner + j;
                if (exclusive) {
                    if (f)
                        yf[at] = (float)s;
                    else
                        yi[at] = si;
                }
                if (f)
                    s += xf[at];
                else
                    si += xi[at];
                if (!exclusive) {
                    if (f)
                        yf[at] = (float)s;
                    else
                        yi[at] = si;
                }
            }
        }
    }
    return VKDL_OK;
}

/* The order topk sorts by, as the shader computes it: a larger rank comes first; -0 ranks as +0,
 * every NaN above +inf, and the ranks are reversed when the smallest come first. */
static uint32_t topk_rank(float v, int largest)
{
    uint32_t u;
    if (isnan(v))
        u = 0xffffffffu;
    else if (v == 0.0f)
        u = 0x80000000u;
    else {
        memcpy(&u, &v, sizeof u);
        u = u & 0x80000000u ? ~u : u | 0x80000000u;
    }
    return largest ? u : ~u;
}

/* Selection, one pick at a time: plain and obviously in the order the header states. */
static vkdl_status cpu_topk(const vkdl_tensor *x, int64_t k, int largest, vkdl_tensor *values, vkdl_tensor *indices)
{
    int64_t n = x->shape[x->ndim - 1], rows = n ? x->numel / n : 0;
    const float *xp = vkdl_tensor_host(x);
    float *vp = vkdl_tensor_host(values);
    int32_t *ip = indices ? vkdl_tensor_host(indices) : NULL;
    for (int64_t r = 0; r < rows; r++) {
        const float *row = xp + r * n;
        int64_t prev = -1;
        for (int64_t t = 0; t < k; t++) {
            int64_t best = -1;
            for (int64_t i = 0; i < n; i++) {
                uint32_t ri = topk_rank(row[i], largest);
                bool after_prev = prev < 0 || ri < topk_rank(row[prev], largest) ||
                                  (ri == topk_rank(row[prev], largest) && i > prev);
                if (after_prev && (best < 0 || ri > topk_rank(row[best], largest)))
                    best = i;
            }
            vp[r * k + t] = row[best];
            if (ip)
                ip[r * k + t] = (int32_t)best;
            prev = best;
        }
    }
    return VKDL_OK;
}

/* ---------------------------------------------------------------- GPU launcher */

VKDL_PUSH_STRUCT(reduce_push, REDUCE_PUSH, 2);

static const vkdl_kernel K_REDUCE = {
    VKDL_SPIRV(reduce),
    .n_bindings = 2,
    .access = {VKDL_READ, VKDL_WRITE},
    .push_size = sizeof(struct reduce_push),
    .n_spec = REDUCE_SPEC_COUNT,
};

static const vkdl_kernel K_REDUCE_SG = {
    VKDL_SPIRV(reduce_sg),
    .n_bindings = 2,
    .access = {VKDL_READ, VKDL_WRITE},
    .push_size = sizeof(struct reduce_push),
    .n_spec = REDUCE_SPEC_COUNT,
};

/* The largest power-of-two workgroup the device allows, capped at 256 (SwiftShader's limit, and
 * enough to saturate a row reduction). */
static uint32_t max_pow2_wg(const vkdl_caps *c)
{
    uint32_t lim = c->max_wg_invocations < c->max_wg_size[0] ? c->max_wg_invocations : c->max_wg_size[0];
    uint32_t wg = 256;
    while (wg > 1 && wg > lim)
        wg /= 2;
    return wg;
}

/* What an empty axis reduces to (MAX, MIN and ARG* refuse one); the CPU twin gets there by itself. */
static double empty_value(vkdl_reduce_op op)
{
    switch (op) {
    case VKDL_MEAN: return NAN;
    case VKDL_PROD: return 1.0;
    case VKDL_LOG_SUM_EXP: return -INFINITY;
    default: return 0.0;
    }
}

static vkdl_status gpu_reduce(vkdl_reduce_op op, const vkdl_tensor *x, int axis, vkdl_tensor *out)
{
    vkdl_context *ctx = x->ctx;
    const vkdl_caps *c = &ctx->dev.caps;
    int64_t outer, n, inner;
    vkdl_split_axis(x, axis, &outer, &n, &inner);
    int64_t n_out = outer * inner;
    if (n_out == 0)
        return VKDL_OK;
    /* x has no memory to bind; the results are constants */
    if (n == 0)
        return vkdl_tensor_fill(out, empty_value(op));

    bool sg = vkdl_has_subgroup_arith(c);
    const vkdl_kernel *k = sg ? &K_REDUCE_SG : &K_REDUCE;

    /* A workgroup per output pays off when the axis is long and either contiguous or there are
     * too few outputs to occupy the device with an invocation each; it is also the only shape
     * whose per-invocation loop stays within a driver's loop limit on very long axes. */
    uint64_t limit = c->max_loop_iterations ? c->max_loop_iterations : UINT64_MAX;
    bool wg_mode = inner == 1 ? n >= 64 : (n >= 512 && n_out < 4096) || (uint64_t)n >= limit;
    uint32_t wg;
    bool one_sg = false;
    uint64_t n_groups;
    if (!wg_mode) {
        wg = max_pow2_wg(c) < 64 ? max_pow2_wg(c) : 64;
        n_groups = ((uint64_t)n_out + wg - 1) / wg;
    } else {
        n_groups = (uint64_t)n_out;
        wg = vkdl_row_workgroup(ctx, "reduce", (uint64_t)n, 1, sg, &one_sg);
        if (!wg)
            return VKDL_ERROR_TOO_LARGE;
    }

    struct reduce_push pc = {.n_out = (uint32_t)n_out, .n = (uint32_t)n, .inner = (uint32_t)inner};
    uint32_t spec[REDUCE_SPEC_COUNT] = {
        [REDUCE_SPEC_WG] = wg,
        [REDUCE_SPEC_OP] = (uint32_t)op,
        [REDUCE_SPEC_MODE] = wg_mode ? REDUCE_MODE_WORKGROUP : REDUCE_MODE_INVOCATION,
        [REDUCE_SPEC_ONE_SUBGROUP] = one_sg,
    };
    vkdl_dispatch_info info = {
        .kernel = k,
        .spec = spec,
        .tensors = {x, out},
        .push = &pc,
    };
    vkdl_grid_1d(ctx, n_groups, info.groups);
    return vkdl_dispatch(ctx, &info);
}

VKDL_PUSH_STRUCT(reduce_bwd_push, REDUCE_PUSH, 6);

static const vkdl_kernel K_REDUCE_BWD = {
    VKDL_SPIRV(reduce_bwd),
    .n_bindings = 6,
    .access = {VKDL_READ, VKDL_READ, VKDL_READ, VKDL_READ, VKDL_READ, VKDL_WRITE},
    .push_size = sizeof(struct reduce_bwd_push),
    .n_spec = REDUCE_SPEC_COUNT,
};

/* The line statistics MAX, MIN (the extreme's index) and PROD (zeros, product of the nonzeros) need
 * come from the forward kernel, into scratch tensors; other ops bind x in their place. */
static vkdl_status reduce_bwd_launch(vkdl_reduce_op op, const vkdl_tensor *x, const vkdl_tensor *y,
                                     const vkdl_tensor *dy, int axis, vkdl_tensor *dx, vkdl_tensor *stat,
                                     vkdl_tensor *prod)
{
    int64_t outer, n, inner;
    vkdl_split_axis(x, axis, &outer, &n, &inner);
    if (op == VKDL_MAX || op == VKDL_MIN)
        VKDL_TRY(gpu_reduce(op == VKDL_MAX ? VKDL_ARGMAX : VKDL_ARGMIN, x, axis, stat));
    if (op == VKDL_PROD) {
        VKDL_TRY(gpu_reduce((vkdl_reduce_op)REDUCE_OP_ZEROS, x, axis, stat));
        VKDL_TRY(gpu_reduce((vkdl_reduce_op)REDUCE_OP_PROD_NONZERO, x, axis, prod));
    }
    struct reduce_bwd_push pc = {.n_out = (uint32_t)x->numel, .n = (uint32_t)n, .inner = (uint32_t)inner};
    uint32_t spec[REDUCE_SPEC_COUNT] = {[REDUCE_SPEC_WG] = 64, [REDUCE_SPEC_OP] = (uint32_t)op};
    vkdl_dispatch_info info = {
        .kernel = &K_REDUCE_BWD,
        .spec = spec,
        .tensors = {x, y, dy, stat ? stat : x, prod ? prod : x, dx},
        .push = &pc,
    };
    vkdl_grid_1d(x->ctx, ((uint64_t)x->numel + 63) / 64, info.groups);
    return vkdl_dispatch(x->ctx, &info);
}

static vkdl_status gpu_reduce_backward(vkdl_reduce_op op, const vkdl_tensor *x, const vkdl_tensor *y,
                                       const vkdl_tensor *dy, int axis, vkdl_tensor *dx)
{
    if (x->numel == 0)
        return VKDL_OK;
    vkdl_tensor *stat = NULL, *prod = NULL;
    vkdl_status s = VKDL_OK;
    if (op == VKDL_MAX || op == VKDL_MIN || op == VKDL_PROD)
        s = vkdl_tensor_create(x->ctx, op == VKDL_PROD ? VKDL_F32 : VKDL_I32, y->ndim, y->shape, &stat);
    if (s == VKDL_OK && op == VKDL_PROD)
        s = vkdl_tensor_create(x->ctx, VKDL_F32, y->ndim, y->shape, &prod);
    if (s == VKDL_OK)
        s = reduce_bwd_launch(op, x, y, dy, axis, dx, stat, prod);
    vkdl_tensor_destroy(stat);
    vkdl_tensor_destroy(prod);
    return s;
}

VKDL_PUSH_STRUCT(cumsum_push, CUMSUM_PUSH, 2);

static const vkdl_kernel K_CUMSUM = {
    VKDL_SPIRV(reduce_cumsum),
    .n_bindings = 2,
    .access = {VKDL_READ, VKDL_WRITE},
    .push_size = sizeof(struct cumsum_push),
    .n_spec = CUMSUM_SPEC_COUNT,
};

/* A workgroup per line; each invocation sums up to 32 consecutive elements twice around a scan of
 * the workgroup's sums, so a long line spreads over up to 256 invocations. */
static vkdl_status gpu_cumsum(const vkdl_tensor *x, int axis, int exclusive, int reverse, vkdl_tensor *out)
{
    vkdl_context *ctx = x->ctx;
    const vkdl_caps *c = &ctx->dev.caps;
    int64_t outer, n, inner;
    vkdl_split_axis(x, axis, &outer, &n, &inner);
    if (x->numel == 0)
        return VKDL_OK;
    uint32_t wg = 1, cap = max_pow2_wg(c);
    while (wg < cap && (uint64_t)wg * 32 < (uint64_t)n)
        wg *= 2;
    uint64_t per = ((uint64_t)n + wg - 1) / wg;
    uint64_t limit = c->max_loop_iterations ? c->max_loop_iterations : UINT64_MAX;
    if (2 * per + 32 > limit) {
        char sx[VKDL_SHAPE_BUF];
        vkdl_shape_str(x, sx, sizeof sx);
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "cumsum: axis %d of x %s is longer than this driver's loops allow",
                         axis, sx);
    }
    struct cumsum_push pc = {
        .lines = (uint32_t)(outer * inner),
        .n = (uint32_t)n,
        .inner = (uint32_t)inner,
        .per = (uint32_t)per,
        .flags = (exclusive ? 1u << CUMSUM_FLAG_EXCLUSIVE : 0) | (reverse ? 1u << CUMSUM_FLAG_REVERSE : 0),
    };
    uint32_t spec[CUMSUM_SPEC_COUNT] = {[CUMSUM_SPEC_WG] = wg, [CUMSUM_SPEC_INT] = x->dtype == VKDL_I32};
    vkdl_dispatch_info info = {.kernel = &K_CUMSUM, .spec = spec, .tensors = {x, out}, .push = &pc};
    vkdl_grid_1d(ctx, (uint64_t)(outer * inner), info.groups);
    return vkdl_dispatch(ctx, &info);
}

VKDL_PUSH_STRUCT(topk_push, TOPK_PUSH, 3);

static const vkdl_kernel K_TOPK = {
    VKDL_SPIRV(reduce_topk),
    .n_bindings = 3,
    .access = {VKDL_READ, VKDL_WRITE, VKDL_RW},
    .push_size = sizeof(struct topk_push),
    .n_spec = TOPK_SPEC_COUNT,
};

/* A workgroup per row: a bitonic sort of the row in shared memory (8 bytes an element) when it
 * fits, else k selection passes, split over dispatches where the driver's loop limit asks. */
static vkdl_status topk_launch(const vkdl_tensor *x, int64_t k, int largest, vkdl_tensor *values, vkdl_tensor *indices)
{
    vkdl_context *ctx = x->ctx;
    const vkdl_caps *c = &ctx->dev.caps;
    int64_t n = x->shape[x->ndim - 1], rows = x->numel / n;
    uint32_t wg = max_pow2_wg(c), sort_n = 2;
    while (sort_n < n)
        sort_n *= 2;
    uint32_t fit = c->max_shared < 32768 ? c->max_shared : 32768;
    if ((uint64_t)sort_n * 8 > fit)
        sort_n = 0;
    else if (sort_n / 2 < wg)
        wg = sort_n / 2;
    struct topk_push pc = {.rows = (uint32_t)rows, .n = (uint32_t)n, .k = (uint32_t)k, .largest = largest != 0};
    uint32_t spec[TOPK_SPEC_COUNT] = {[TOPK_SPEC_WG] = wg, [TOPK_SPEC_SORT_N] = sort_n};
    vkdl_dispatch_info info = {.kernel = &K_TOPK, .spec = spec, .tensors = {x, values, indices}, .push = &pc};
    vkdl_grid_1d(ctx, (uint64_t)rows, info.groups);
    if (sort_n)
        return vkdl_dispatch(ctx, &info);
    /* a pass loops over n / wg elements and log2(wg) tree steps */
    uint64_t limit = c->max_loop_iterations ? c->max_loop_iterations : UINT64_MAX;
    uint64_t pass_cost = ((uint64_t)n + wg - 1) / wg + 16, passes = limit / pass_cost;
    if (passes == 0)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "topk: rows of %lld are longer than this driver's loops allow",
                         (long long)n);
    for (uint64_t first = 0; first < (uint64_t)k; first += passes) {
        pc.first = (uint32_t)first;
        pc.last = (uint32_t)(first + passes < (uint64_t)k ? first + passes : (uint64_t)k);
        VKDL_TRY(vkdl_dispatch(ctx, &info));
    }
    return VKDL_OK;
}

/* The kernel always writes indices: a scratch tensor stands in when the caller wants none. */
static vkdl_status gpu_topk(const vkdl_tensor *x, int64_t k, int largest, vkdl_tensor *values, vkdl_tensor *indices)
{
    if (x->numel == 0)
        return VKDL_OK;
    if (indices)
        return topk_launch(x, k, largest, values, indices);
    vkdl_tensor *scratch = NULL;
    vkdl_status s = vkdl_tensor_create(x->ctx, VKDL_I32, values->ndim, values->shape, &scratch);
    if (s == VKDL_OK)
        s = topk_launch(x, k, largest, values, scratch);
    vkdl_tensor_destroy(scratch);
    return s;
}

/* ---------------------------------------------------------------- entry points */

vkdl_status vkdl_reduce(vkdl_reduce_op op, const vkdl_tensor *x, int axis, vkdl_tensor *out)
{
    int a = 0;
    VKDL_TRY(check_reduce(op, x, axis, out, &a));
    if (x->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_reduce(op, x, a, out);
    return gpu_reduce(op, x, a, out);
}

vkdl_status vkdl_reduce_backward(vkdl_reduce_op op, const vkdl_tensor *x, const vkdl_tensor *y, const vkdl_tensor *dy,
                                 int axis, vkdl_tensor *dx)
{
    int a = 0;
    VKDL_TRY(check_reduce_backward(op, x, y, dy, axis, dx, &a));
    if (x->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_reduce_backward(op, x, y, dy, a, dx);
    return gpu_reduce_backward(op, x, y, dy, a, dx);
}

vkdl_status vkdl_cumsum(const vkdl_tensor *x, int axis, int exclusive, int reverse, vkdl_tensor *out)
{
    int a = 0;
    VKDL_TRY(check_cumsum(x, axis, out, &a));
    if (x->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_cumsum(x, a, exclusive, reverse, out);
    return gpu_cumsum(x, a, exclusive, reverse, out);
}

vkdl_status vkdl_topk(const vkdl_tensor *x, int64_t k, int largest, vkdl_tensor *values, vkdl_tensor *indices)
{
    VKDL_TRY(check_topk(x, k, values, indices));
    if (x->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_topk(x, k, largest, values, indices);
    return gpu_topk(x, k, largest, values, indices);
}
