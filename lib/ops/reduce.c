/* vkdl_reduce: SUM, MEAN, MAX and ARGMAX along one axis. */
#include "ops/ops.h"
#include "shaders.h"
#include "reduce.h"

#include <math.h>

/* The public op enum is passed to the shader as it is. */
_Static_assert(VKDL_SUM == REDUCE_OP_SUM && VKDL_MEAN == REDUCE_OP_MEAN && VKDL_MAX == REDUCE_OP_MAX &&
                   VKDL_ARGMAX == REDUCE_OP_ARGMAX,
               "vkdl_reduce_op matches reduce.h");

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
    VKDL_TRY(vkdl_check_dtype("reduce", "out", out, op == VKDL_ARGMAX ? VKDL_I32 : VKDL_F32));

    char sx[VKDL_SHAPE_BUF], so[VKDL_SHAPE_BUF];
    vkdl_shape_str(x, sx, sizeof sx);
    vkdl_shape_str(out, so, sizeof so);
    int a = axis < 0 ? axis + x->ndim : axis;
    if (a < 0 || a >= x->ndim)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "reduce: axis %d out of range for x %s", axis, sx);
    if ((op == VKDL_MAX || op == VKDL_ARGMAX) && x->shape[a] == 0)
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

/* ---------------------------------------------------------------- CPU twin */

static vkdl_status cpu_reduce(vkdl_reduce_op op, const vkdl_tensor *x, int axis, vkdl_tensor *out)
{
    int64_t outer, n, inner;
    vkdl_split_axis(x, axis, &outer, &n, &inner);
    const float *xp = vkdl_tensor_host(x);
    float *yf = vkdl_tensor_host(out);
    int32_t *yi = vkdl_tensor_host(out);
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t j = 0; j < inner; j++) {
            const float *p = xp + o * n * inner + j;
            int64_t dst = o * inner + j;
            if (op == VKDL_SUM || op == VKDL_MEAN) {
                double s = 0;
                for (int64_t k = 0; k < n; k++)
                    s += p[k * inner];
                yf[dst] = (float)(op == VKDL_MEAN ? s / (double)n : s);
            } else {
                float best = p[0];
                int64_t at = 0;
                for (int64_t k = 1; k < n; k++) {
                    if (p[k * inner] > best) {
                        best = p[k * inner];
                        at = k;
                    }
                }
                if (op == VKDL_MAX)
                    yf[dst] = best;
                else
                    yi[dst] = (int32_t)at;
            }
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
        return vkdl_tensor_fill(out, op == VKDL_MEAN ? NAN : 0.0);

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

/* ---------------------------------------------------------------- entry points */

vkdl_status vkdl_reduce(vkdl_reduce_op op, const vkdl_tensor *x, int axis, vkdl_tensor *out)
{
    int a = 0;
    VKDL_TRY(check_reduce(op, x, axis, out, &a));
    if (x->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_reduce(op, x, a, out);
    return gpu_reduce(op, x, a, out);
}
