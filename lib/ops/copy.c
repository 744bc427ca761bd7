/* Copy with dtype conversion (f32, f16, bf16, i32, u8). Shader: shaders/copy.comp.
 * Tests: tests/test_copy.c. */
#include "ops/ops.h"
#include "shaders.h"
#include "copy.h"

#define WG 256

/* copy.comp takes the dtypes as they are. */
_Static_assert(VKDL_F32 == COPY_DTYPE_F32 && VKDL_F16 == COPY_DTYPE_F16 && VKDL_BF16 == COPY_DTYPE_BF16 &&
                   VKDL_I32 == COPY_DTYPE_I32 && VKDL_U8 == COPY_DTYPE_U8,
               "vkdl_dtype matches copy.h");

/* ---------------------------------------------------------------- checks */

static vkdl_status check_copy(const vkdl_tensor *x, const vkdl_tensor *out)
{
    VKDL_TRY(vkdl_check_tensor("copy", "x", x));
    VKDL_TRY(vkdl_check_tensor("copy", "out", out));
    VKDL_TRY(vkdl_check_same_ctx("copy", x, out));
    if (x->numel != out->numel) {
        char a[VKDL_SHAPE_BUF], b[VKDL_SHAPE_BUF];
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "copy: x %s has %lld elements, out %s has %lld",
                         vkdl_shape_str(x, a, sizeof a), (long long)x->numel, vkdl_shape_str(out, b, sizeof b),
                         (long long)out->numel);
    }
    if (x->numel > UINT32_MAX / 4)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "copy: %lld elements exceed 2^30", (long long)x->numel);
    return VKDL_OK;
}

/* ---------------------------------------------------------------- CPU twin */

static vkdl_status cpu_copy(const vkdl_tensor *x, vkdl_tensor *out)
{
    vkdl_convert(vkdl_tensor_host(out), out->dtype, vkdl_tensor_host(x), x->dtype, (size_t)x->numel);
    return VKDL_OK;
}

/* ---------------------------------------------------------------- GPU launcher */

VKDL_PUSH_STRUCT(copy_push, COPY_PUSH, 2);

static const vkdl_kernel K_COPY = {
    VKDL_SPIRV(copy),
    .n_bindings = 2,
    .access = {VKDL_READ, VKDL_RW}, /* partial words at the edges are read back */
    .push_size = sizeof(struct copy_push),
    .n_spec = COPY_SPEC_COUNT,
};

static vkdl_status gpu_copy(const vkdl_tensor *x, vkdl_tensor *out)
{
    vkdl_context *ctx = out->ctx;
    uint32_t k = 4 / (uint32_t)vkdl_dtype_size(out->dtype);
    /* The output's offset inside its binding decides how many words it straddles. */
    VkDeviceSize base = out->st->alloc.offset + out->offset;
    VkDeviceSize align = ctx->dev.caps.min_storage_align ? ctx->dev.caps.min_storage_align : 1;
    uint64_t off = (base % align) / vkdl_dtype_size(out->dtype);
    uint64_t words = (off + (uint64_t)out->numel + k - 1) / k - off / k;
    struct copy_push push = {.n = (uint32_t)out->numel, .words = (uint32_t)words};
    uint32_t spec[COPY_SPEC_COUNT] = {
        [COPY_SPEC_WG] = WG, [COPY_SPEC_SRC_T] = (uint32_t)x->dtype, [COPY_SPEC_DST_T] = (uint32_t)out->dtype};
    vkdl_dispatch_info d = {.kernel = &K_COPY, .spec = spec, .tensors = {x, out}, .push = &push};
    vkdl_grid_1d(ctx, (words + WG - 1) / WG, d.groups);
    return vkdl_dispatch(ctx, &d);
}

/* ---------------------------------------------------------------- entry points */

vkdl_status vkdl_copy(const vkdl_tensor *x, vkdl_tensor *out)
{
    VKDL_TRY(check_copy(x, out));
    if (x->numel == 0)
        return VKDL_OK;
    if (out->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_copy(x, out);
    return gpu_copy(x, out);
}
