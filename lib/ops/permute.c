/* vkdl_permute: out.shape[i] = x.shape[perm[i]], any dtype. */
#include "ops/ops.h"
#include "shaders.h"
#include "permute.h"

#include <string.h>

_Static_assert(VKDL_MAX_DIMS <= PERMUTE_MAX_DIMS, "permute.comp takes every collapsed shape");

/* ---------------------------------------------------------------- checks */

static vkdl_status check_permute(const vkdl_tensor *x, const int *perm, const vkdl_tensor *out)
{
    VKDL_TRY(vkdl_check_tensor("permute", "x", x));
    VKDL_TRY(vkdl_check_tensor("permute", "out", out));
    if (!perm && x->ndim > 0)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "permute: perm is NULL");
    VKDL_TRY(vkdl_check_same_ctx("permute", x, out));
    VKDL_TRY(vkdl_check_dtype("permute", "out", out, x->dtype));

    char sx[VKDL_SHAPE_BUF], so[VKDL_SHAPE_BUF];
    vkdl_shape_str(x, sx, sizeof sx);
    vkdl_shape_str(out, so, sizeof so);
    bool seen[VKDL_MAX_DIMS] = {false};
    for (int i = 0; i < x->ndim; i++) {
        if (perm[i] < 0 || perm[i] >= x->ndim || seen[perm[i]])
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT,
                             "permute: perm[%d] = %d: not a permutation of the %d dims of x %s", i, perm[i],
                             x->ndim, sx);
        seen[perm[i]] = true;
    }
    bool ok = out->ndim == x->ndim;
    for (int i = 0; ok && i < x->ndim; i++)
        ok = out->shape[i] == x->shape[perm[i]];
    if (!ok)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "permute: out is %s, permuting x %s gives another shape",
                         so, sx);
    if (x->numel > UINT32_MAX)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "permute: x %s has more than 2^32 elements", sx);
    return VKDL_OK;
}

/* ---------------------------------------------------------------- CPU twin */

/* The permutation as output dims (innermost first) with the x stride of each, in elements:
 * size-1 dims dropped and neighbours that are also neighbours in x merged, which usually leaves
 * two or three dims. Returns the count (0 for a single element). Both backends walk these. */
static int collapse(const vkdl_tensor *x, const int *perm, int64_t dim[VKDL_MAX_DIMS], int64_t stride[VKDL_MAX_DIMS])
{
    int64_t xs[VKDL_MAX_DIMS];
    int64_t s = 1;
    for (int i = x->ndim - 1; i >= 0; i--) {
        xs[i] = s;
        s *= x->shape[i];
    }
    int nd = 0;
    for (int i = x->ndim - 1; i >= 0; i--) {
        int64_t d = x->shape[perm[i]], st = xs[perm[i]];
        if (d == 1)
            continue;
        if (nd > 0 && st == stride[nd - 1] * dim[nd - 1]) {
            dim[nd - 1] *= d;
            continue;
        }
        dim[nd] = d;
        stride[nd] = st;
        nd++;
    }
    return nd;
}

static vkdl_status cpu_permute(const vkdl_tensor *x, const int *perm, vkdl_tensor *out)
{
    if (out->numel == 0)
        return VKDL_OK;
    int64_t dim[VKDL_MAX_DIMS], stride[VKDL_MAX_DIMS], idx[VKDL_MAX_DIMS] = {0};
    int nd = collapse(x, perm, dim, stride);
    size_t es = vkdl_dtype_size(x->dtype);
    const char *src = vkdl_tensor_host(x);
    char *dst = vkdl_tensor_host(out);
    /* Walk the output in order with an odometer over the dims, tracking the source offset. */
    int64_t from = 0;
    for (int64_t j = 0; j < out->numel; j++) {
        memcpy(dst + (size_t)j * es, src + (size_t)from * es, es);
        for (int d = 0; d < nd; d++) {
            from += stride[d];
            if (++idx[d] < dim[d])
                break;
            from -= stride[d] * dim[d];
            idx[d] = 0;
        }
    }
    return VKDL_OK;
}

/* ---------------------------------------------------------------- GPU launcher */

VKDL_PUSH_STRUCT(permute_push, PERMUTE_PUSH, 2);

/* The output binding is read-write because words shared with a neighbouring tensor are merged
 * with atomics. */
static const vkdl_kernel K_PERMUTE = {
    VKDL_SPIRV(permute),
    .n_bindings = 2,
    .access = {VKDL_READ, VKDL_RW},
    .push_size = sizeof(struct permute_push),
    .n_spec = PERMUTE_SPEC_COUNT,
};

static vkdl_status gpu_permute(const vkdl_tensor *x, const int *perm, vkdl_tensor *out)
{
    vkdl_context *ctx = x->ctx;
    const vkdl_caps *c = &ctx->dev.caps;
    if (out->numel == 0)
        return VKDL_OK;
    int64_t dim[VKDL_MAX_DIMS], stride[VKDL_MAX_DIMS];
    struct permute_push pc = {.n = (uint32_t)out->numel};
    pc.ndim = (uint32_t)collapse(x, perm, dim, stride);
    for (uint32_t d = 0; d < pc.ndim; d++) {
        pc.dim[d] = (uint32_t)dim[d];
        pc.stride[d] = (uint32_t)stride[d];
    }

    uint32_t es = (uint32_t)vkdl_dtype_size(x->dtype), per = 4 / es;
    /* An invocation per output word; an unaligned view straddles one word more. */
    uint64_t words = per == 1 ? (uint64_t)out->numel : ((uint64_t)out->numel + per - 1) / per + 1;
    uint32_t wg = c->max_wg_invocations < c->max_wg_size[0] ? c->max_wg_invocations : c->max_wg_size[0];
    wg = wg < 256 ? wg : 256;
    uint32_t spec[PERMUTE_SPEC_COUNT] = {[PERMUTE_SPEC_WG] = wg, [PERMUTE_SPEC_ESIZE] = es};
    vkdl_dispatch_info info = {
        .kernel = &K_PERMUTE,
        .spec = spec,
        .tensors = {x, out},
        .push = &pc,
    };
    vkdl_grid_1d(ctx, (words + wg - 1) / wg, info.groups);
    return vkdl_dispatch(ctx, &info);
}

/* ---------------------------------------------------------------- entry points */

vkdl_status vkdl_permute(const vkdl_tensor *x, const int *perm, vkdl_tensor *out)
{
    VKDL_TRY(check_permute(x, perm, out));
    if (x->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_permute(x, perm, out);
    return gpu_permute(x, perm, out);
}
