/* Workgroup sizing and binding checks that ops use to choose a kernel variant and its launch. */
#include "runtime/runtime.h"

#include <string.h>

bool vkdl_binding_ok(const vkdl_context *ctx, const vkdl_kernel *k, uint32_t b, const vkdl_tensor *t)
{
    vkdl_bind_plan p;
    const char *why;
    return t->st->alloc.block && vkdl_kernel_enabled(ctx, k) && vkdl_plan_binding(ctx, k, b, t, &p, &why);
}

bool vkdl_kernel_enabled(const vkdl_context *ctx, const vkdl_kernel *k)
{
    const vkdl_caps *c = &ctx->dev.caps;
    for (uint32_t i = 0; i < c->n_kernels_off; i++)
        if (strcmp(c->kernels_off[i], k->name) == 0)
            return false;
    return true;
}

uint32_t vkdl_row_workgroup(const vkdl_context *ctx, const char *op, uint64_t n, uint32_t passes, bool subgroup_ok,
                            bool *one_subgroup)
{
    const vkdl_caps *c = &ctx->dev.caps;
    uint64_t limit = c->max_loop_iterations ? c->max_loop_iterations : UINT64_MAX;
    uint64_t work = n * (passes ? passes : 1);
    *one_subgroup = false;
    if (subgroup_ok && (c->quirks & VKDL_QUIRK_CPU_FRIENDLY_KERNELS) && c->subgroup_min == c->subgroup_max &&
        work / c->subgroup_size < limit) {
        *one_subgroup = true;
        return c->subgroup_size;
    }
    uint32_t cap = c->max_wg_invocations < c->max_wg_size[0] ? c->max_wg_invocations : c->max_wg_size[0];
    uint32_t wg = 1;
    while (wg * 2 <= cap && wg < 256)
        wg *= 2;
    while (wg > 32 && wg / 2 >= n)
        wg /= 2; /* short rows: fewer idle invocations */
    while (work / wg >= limit && wg * 2 <= cap)
        wg *= 2;
    if (work / wg >= limit) {
        vkdl_fail(VKDL_ERROR_TOO_LARGE, "%s: a row of %llu elements exceeds what %s can loop over in one workgroup", op,
                  (unsigned long long)n, c->name);
        return 0;
    }
    return wg;
}

void vkdl_grid_1d(const vkdl_context *ctx, uint64_t n, uint32_t groups[3])
{
    uint64_t maxx = ctx->dev.caps.max_wg_count[0] ? ctx->dev.caps.max_wg_count[0] : 65535;
    if (n == 0)
        n = 1;
    groups[0] = (uint32_t)(n < maxx ? n : maxx);
    groups[1] = (uint32_t)((n + groups[0] - 1) / groups[0]);
    groups[2] = 1;
}

/* Plan every binding and check the launch against the device limits. */
