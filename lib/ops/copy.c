/* Copy with dtype conversion (f32, f16, bf16, i32, u8). Shader: shaders/copy.comp.
 * Tests: tests/test_copy.c. */
#include "ops/ops.h"
#include "shaders.h"

#define WG 256

static const vkdl_kernel K_COPY = {
    VKDL_SPIRV(copy),
    .n_bindings = 2,
    .access = {VKDL_READ, VKDL_RW}, /* partial words at the edges are read back */
    .push_size = 2 * sizeof(uint32_t),
    .n_spec = 3,
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
    struct {
        uint32_t n, words;
    } push = {(uint32_t)out->numel, (uint32_t)words};
    uint32_t spec[3] = {WG, (uint32_t)x->dtype, (uint32_t)out->dtype};
    vkdl_dispatch_info d = {.kernel = &K_COPY, .spec = spec, .tensors = {x, out}, .push = &push};
    vkdl_grid_1d(ctx, (words + WG - 1) / WG, d.groups);
    return vkdl_dispatch(ctx, &d);
}

vkdl_status vkdl_copy(const vkdl_tensor *x, vkdl_tensor *out)
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
    if (x->numel == 0)
        return VKDL_OK;
    if (out->ctx->backend == VKDL_BACKEND_CPU) {
        vkdl_convert(vkdl_tensor_host(out), out->dtype, vkdl_tensor_host(x), x->dtype, (size_t)x->numel);
        return VKDL_OK;
    }
    return gpu_copy(x, out);
}
