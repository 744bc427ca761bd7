/* vkdl_softmax and vkdl_log_softmax along the last axis. */
#include "internal.h"
#include "shaders.h"

#include <math.h>

static vkdl_status cpu_softmax(const vkdl_tensor *x, vkdl_tensor *out, bool log_out);
static vkdl_status gpu_softmax(const char *name, const vkdl_tensor *x, vkdl_tensor *out, bool log_out);

static vkdl_status softmax_common(const char *name, const vkdl_tensor *x, vkdl_tensor *out, bool log_out)
{
    VKDL_TRY(vkdl_check_tensor(name, "x", x));
    VKDL_TRY(vkdl_check_tensor(name, "out", out));
    VKDL_TRY(vkdl_check_same_ctx(name, x, out));
    VKDL_TRY(vkdl_check_dtype(name, "x", x, VKDL_F32));
    VKDL_TRY(vkdl_check_dtype(name, "out", out, VKDL_F32));
    VKDL_TRY(vkdl_check_same_shape(name, x, out));
    if (x->numel > UINT32_MAX)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "%s: %lld elements exceed 2^32", name, (long long)x->numel);
    if (x->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_softmax(x, out, log_out);
    return gpu_softmax(name, x, out, log_out);
}

vkdl_status vkdl_softmax(const vkdl_tensor *x, vkdl_tensor *out)
{
    return softmax_common("softmax", x, out, false);
}

vkdl_status vkdl_log_softmax(const vkdl_tensor *x, vkdl_tensor *out)
{
    return softmax_common("log_softmax", x, out, true);
}

/* A scalar is one row of length 1. */
static int64_t row_len(const vkdl_tensor *x) { return x->ndim ? x->shape[x->ndim - 1] : 1; }

/* ---------------------------------------------------------------- CPU twin */

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

/* ---------------------------------------------------------------- Vulkan */

struct softmax_push {
    uint32_t n, rows;
};

/* Spec constants: workgroup size, log-softmax, one subgroup per workgroup. */
static const vkdl_kernel K_SOFTMAX = {
    .name = "softmax",
    .spirv = vkdl_spv_softmax,
    .spirv_size = &vkdl_spv_softmax_size,
    .n_bindings = 2,
    .access = {VKDL_READ, VKDL_WRITE},
    .push_size = sizeof(struct softmax_push),
    .n_spec = 3,
};

static const vkdl_kernel K_SOFTMAX_SG = {
    .name = "softmax_sg",
    .spirv = vkdl_spv_softmax_sg,
    .spirv_size = &vkdl_spv_softmax_sg_size,
    .n_bindings = 2,
    .access = {VKDL_READ, VKDL_WRITE},
    .push_size = sizeof(struct softmax_push),
    .n_spec = 3,
};

static vkdl_status gpu_softmax(const char *name, const vkdl_tensor *x, vkdl_tensor *out, bool log_out)
{
    vkdl_context *ctx = x->ctx;
    const vkdl_caps *c = &ctx->dev.caps;
    int64_t n = row_len(x);
    if (x->numel == 0)
        return VKDL_OK;

    const uint32_t need = VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT;
    bool sg = (c->subgroup_ops & need) == need;
    const vkdl_kernel *k = sg ? &K_SOFTMAX_SG : &K_SOFTMAX;

    uint32_t wg, one_sg = 0;
    if (sg && (c->quirks & VKDL_QUIRK_CPU_FRIENDLY_KERNELS) && c->subgroup_min == c->subgroup_max) {
        /* CPU drivers run a workgroup on one core anyway; one subgroup per row avoids their
         * emulated barriers and shared memory. */
        wg = c->subgroup_size;
        one_sg = 1;
    } else {
        /* Power of two (the shared-memory tree needs it), no wider than the row. */
        uint32_t lim = c->max_wg_invocations < c->max_wg_size[0] ? c->max_wg_invocations : c->max_wg_size[0];
        wg = 256;
        while (wg > 1 && wg > lim)
            wg /= 2;
        while (wg > 32 && wg / 2 >= (uint64_t)n)
            wg /= 2;
    }

    struct softmax_push pc = {(uint32_t)n, (uint32_t)(x->numel / n)};
    uint32_t spec[3] = {wg, log_out ? 1 : 0, one_sg};
    vkdl_dispatch_info info = {
        .kernel = k,
        .spec = spec,
        .tensors = {x, out},
        .push = &pc,
    };
    vkdl_grid_1d(ctx, pc.rows, info.groups);
    return vkdl_dispatch(ctx, &info);
}
