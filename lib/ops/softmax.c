/* vkdl_softmax and vkdl_log_softmax along the last axis, and their backward from the forward output. */
#include "ops/ops.h"
#include "shaders.h"
#include "softmax.h"

#include <math.h>

/* ---------------------------------------------------------------- checks */

static vkdl_status check_softmax(const char *name, const vkdl_tensor *x, const vkdl_tensor *out)
{
    VKDL_TRY(vkdl_check_tensor(name, "x", x));
    VKDL_TRY(vkdl_check_tensor(name, "out", out));
    VKDL_TRY(vkdl_check_same_ctx(name, x, out));
    VKDL_TRY(vkdl_check_dtype(name, "x", x, VKDL_F32));
    VKDL_TRY(vkdl_check_dtype(name, "out", out, VKDL_F32));
    VKDL_TRY(vkdl_check_same_shape(name, x, out));
    if (x->numel > UINT32_MAX)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "%s: %lld elements exceed 2^32", name, (long long)x->numel);
    return VKDL_OK;
}

static vkdl_status check_softmax_backward(const char *name, const vkdl_tensor *y, const vkdl_tensor *dy,
                                          const vkdl_tensor *dx)
{
    VKDL_TRY(vkdl_check_tensor(name, "y", y));
    VKDL_TRY(vkdl_check_tensor(name, "dy", dy));
    VKDL_TRY(vkdl_check_tensor(name, "dx", dx));
    VKDL_TRY(vkdl_check_same_ctx(name, y, dx));
    VKDL_TRY(vkdl_check_same_ctx(name, dy, dx));
    VKDL_TRY(vkdl_check_dtype(name, "y", y, VKDL_F32));
    VKDL_TRY(vkdl_check_dtype(name, "dy", dy, VKDL_F32));
    VKDL_TRY(vkdl_check_dtype(name, "dx", dx, VKDL_F32));
    VKDL_TRY(vkdl_check_same_shape(name, y, dy));
    VKDL_TRY(vkdl_check_same_shape(name, y, dx));
    if (y->numel > UINT32_MAX)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "%s: %lld elements exceed 2^32", name, (long long)y->numel);
    return VKDL_OK;
}

/* ---------------------------------------------------------------- CPU twin */

/* A scalar is one row of length 1. */
static int64_t row_len(const vkdl_tensor *x) { return x->ndim ? x->shape[x->ndim - 1] : 1; }

static vkdl_status cpu_softmax(const vkdl_tensor *x, vkdl_tensor *out, bool log_out)
{
    int64_t n = row_len(x);
    if (x->numel == 0)
        return VKDL_OK;
    int64_t rows = x->numel / n;
    const float *xp = vkdl_tensor_host(x);
    float *yp = vkdl_tensor_host(out);
    for (int64_t r = 0; r < rows; r++) {
        const float *p = xp + r * n;
        float *q = yp + r * n;
        double m = -INFINITY;
        for (int64_t k = 0; k < n; k++)
            m = p[k] > m ? p[k] : m;
        double s = 0;
        for (int64_t k = 0; k < n; k++)
            s += exp(p[k] - m);
        double shift = m + log(s);
        for (int64_t k = 0; k < n; k++)
            q[k] = (float)(log_out ? p[k] - shift : exp(p[k] - m) / s);
    }
    return VKDL_OK;
}

static vkdl_status cpu_softmax_backward(const vkdl_tensor *y, const vkdl_tensor *dy, vkdl_tensor *dx, bool log_out)
{
    int64_t n = row_len(y);
    int64_t rows = y->numel / n;
    const float *yp = vkdl_tensor_host(y), *dp = vkdl_tensor_host(dy);
    float *xp = vkdl_tensor_host(dx);
    for (int64_t r = 0; r < rows; r++) {
        const float *p = yp + r * n, *d = dp + r * n;
        float *q = xp + r * n;
        double s = 0;
        for (int64_t k = 0; k < n; k++)
            s += log_out ? (double)d[k] : (double)d[k] * p[k];
        for (int64_t k = 0; k < n; k++)
            q[k] = (float)(log_out ? d[k] - exp((double)p[k]) * s : p[k] * (d[k] - s));
    }
    return VKDL_OK;
}

/* ---------------------------------------------------------------- GPU launcher */

VKDL_PUSH_STRUCT(softmax_push, SOFTMAX_PUSH, 3);

static const vkdl_kernel K_SOFTMAX = {
    VKDL_SPIRV(softmax),
    .n_bindings = 2,
    .access = {VKDL_READ, VKDL_WRITE},
    .push_size = sizeof(struct softmax_push),
    .n_spec = SOFTMAX_SPEC_COUNT,
};

static const vkdl_kernel K_SOFTMAX_SG = {
    VKDL_SPIRV(softmax_sg),
    .n_bindings = 2,
    .access = {VKDL_READ, VKDL_WRITE},
    .push_size = sizeof(struct softmax_push),
    .n_spec = SOFTMAX_SPEC_COUNT,
};

static const vkdl_kernel K_SOFTMAX_BACKWARD = {
    VKDL_SPIRV(softmax_backward),
    .n_bindings = 3,
    .access = {VKDL_READ, VKDL_READ, VKDL_WRITE},
    .push_size = sizeof(struct softmax_push),
    .n_spec = SOFTMAX_SPEC_COUNT,
};

static const vkdl_kernel K_SOFTMAX_BACKWARD_SG = {
    VKDL_SPIRV(softmax_backward_sg),
    .n_bindings = 3,
    .access = {VKDL_READ, VKDL_READ, VKDL_WRITE},
    .push_size = sizeof(struct softmax_push),
    .n_spec = SOFTMAX_SPEC_COUNT,
};

static vkdl_status gpu_softmax(const char *name, const vkdl_tensor *x, vkdl_tensor *out, bool log_out)
{
    vkdl_context *ctx = x->ctx;
    const vkdl_caps *c = &ctx->dev.caps;
    int64_t n = row_len(x);
    if (x->numel == 0)
        return VKDL_OK;

    bool sg = vkdl_has_subgroup_arith(c);
    const vkdl_kernel *k = sg ? &K_SOFTMAX_SG : &K_SOFTMAX;

    /* two passes over the row: max and sum together, then the write */
    bool one_sg;
    uint32_t wg = vkdl_row_workgroup(ctx, name, (uint64_t)n, 2, sg, &one_sg);
    if (!wg)
        return VKDL_ERROR_TOO_LARGE;

    struct softmax_push pc = {(uint32_t)n, (uint32_t)(x->numel / n)};
    uint32_t spec[SOFTMAX_SPEC_COUNT] = {
        [SOFTMAX_SPEC_WG] = wg, [SOFTMAX_SPEC_LOG] = log_out, [SOFTMAX_SPEC_ONE_SUBGROUP] = one_sg};
    vkdl_dispatch_info info = {
        .kernel = k,
        .spec = spec,
        .tensors = {x, out},
        .push = &pc,
    };
    vkdl_grid_1d(ctx, pc.rows, info.groups);
    return vkdl_dispatch(ctx, &info);
}

/* The same launch shape as the forward: a workgroup per row. */
static vkdl_status gpu_softmax_backward(const vkdl_tensor *y, const vkdl_tensor *dy, vkdl_tensor *dx, bool log_out)
{
    vkdl_context *ctx = y->ctx;
    const vkdl_caps *c = &ctx->dev.caps;
    int64_t n = row_len(y);

    bool sg = vkdl_has_subgroup_arith(c);
    const vkdl_kernel *k = sg ? &K_SOFTMAX_BACKWARD_SG : &K_SOFTMAX_BACKWARD;

    bool one_sg;
    uint32_t wg = vkdl_row_workgroup(ctx, "softmax_backward", (uint64_t)n, 2, sg, &one_sg);
    if (!wg)
        return VKDL_ERROR_TOO_LARGE;

    struct softmax_push pc = {(uint32_t)n, (uint32_t)(y->numel / n)};
    uint32_t spec[SOFTMAX_SPEC_COUNT] = {
        [SOFTMAX_SPEC_WG] = wg, [SOFTMAX_SPEC_LOG] = log_out, [SOFTMAX_SPEC_ONE_SUBGROUP] = one_sg};
    vkdl_dispatch_info info = {
        .kernel = k,
        .spec = spec,
        .tensors = {y, dy, dx},
        .push = &pc,
    };
    vkdl_grid_1d(ctx, pc.rows, info.groups);
    return vkdl_dispatch(ctx, &info);
}

/* ---------------------------------------------------------------- entry points */

static vkdl_status softmax_common(const char *name, const vkdl_tensor *x, vkdl_tensor *out, bool log_out)
{
    VKDL_TRY(check_softmax(name, x, out));
    if (x->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_softmax(x, out, log_out);
    return gpu_softmax(name, x, out, log_out);
}

static vkdl_status softmax_backward_common(const char *name, const vkdl_tensor *y, const vkdl_tensor *dy,
                                           vkdl_tensor *dx, bool log_out)
{
    VKDL_TRY(check_softmax_backward(name, y, dy, dx));
    if (y->numel == 0)
        return VKDL_OK;
    if (y->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_softmax_backward(y, dy, dx, log_out);
    return gpu_softmax_backward(y, dy, dx, log_out);
}

vkdl_status vkdl_softmax(const vkdl_tensor *x, vkdl_tensor *out)
{
    return softmax_common("softmax", x, out, false);
}

vkdl_status vkdl_log_softmax(const vkdl_tensor *x, vkdl_tensor *out)
{
    return softmax_common("log_softmax", x, out, true);
}

vkdl_status vkdl_softmax_backward(const vkdl_tensor *y, const vkdl_tensor *dy, vkdl_tensor *dx)
{
    return softmax_backward_common("softmax_backward", y, dy, dx, false);
}

vkdl_status vkdl_log_softmax_backward(const vkdl_tensor *y, const vkdl_tensor *dy, vkdl_tensor *dx)
{
    return softmax_backward_common("log_softmax_backward", y, dy, dx, true);
}
