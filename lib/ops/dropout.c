/* vkdl_dropout / vkdl_dropout_backward with a counter-based Philox-4x32-10 mask, the same bits on
 * every device and the CPU. Shader: shaders/dropout.comp. Tests: tests/test_dropout.c. */
#include "ops/ops.h"
#include "shaders.h"
#include "dropout.h"

#define WG 64

/* ---------------------------------------------------------------- checks */

/* Forward and backward are the same map of x (or dy) to out (or dx), named xname and oname. */
static vkdl_status check_dropout(const char *op, const char *xname, const char *oname, const vkdl_tensor *x, float p,
                                 const vkdl_tensor *out)
{
    VKDL_TRY(vkdl_check_tensor(op, xname, x));
    VKDL_TRY(vkdl_check_tensor(op, oname, out));
    VKDL_TRY(vkdl_check_same_ctx(op, x, out));
    VKDL_TRY(vkdl_check_dtype(op, xname, x, VKDL_F32));
    VKDL_TRY(vkdl_check_dtype(op, oname, out, VKDL_F32));
    VKDL_TRY(vkdl_check_same_shape(op, x, out));
    if (!(p >= 0.0f && p <= 1.0f))
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: p = %g is outside [0, 1]", op, (double)p);
    if (x->numel > UINT32_MAX)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "%s: %lld elements exceed 2^32", op, (long long)x->numel);
    return VKDL_OK;
}

/* ---------------------------------------------------------------- CPU twin */

void vkdl_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k0 += 0x9E3779B9u;
            k1 += 0xBB67AE85u;
        }
        uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* Computed in f32 exactly as dropout.comp does, so the masks agree bit for bit. */
static float dropout_scale(float p) { return p < 1.0f ? (float)(1.0 / (1.0 - (double)p)) : 0.0f; }

static void cpu_dropout(const vkdl_tensor *x, float p, uint64_t seed, vkdl_tensor *out)
{
    const float *px = vkdl_tensor_host(x);
    float *py = vkdl_tensor_host(out);
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    float scale = dropout_scale(p);
    for (int64_t g = 0; 4 * g < x->numel; g++) {
        const uint32_t ctr[4] = {(uint32_t)g, (uint32_t)((uint64_t)g >> 32), 0, 0};
        uint32_t bits[4];
        vkdl_philox4x32_10(ctr, key, bits);
        for (int64_t j = 0; j < 4 && 4 * g + j < x->numel; j++) {
            int64_t i = 4 * g + j;
            bool keep = (float)(bits[j] >> 8) * (1.0f / 16777216.0f) >= p;
            py[i] = keep ? px[i] * scale : 0.0f;
        }
    }
}

/* ---------------------------------------------------------------- GPU launcher */

VKDL_PUSH_STRUCT(dropout_push, DROPOUT_PUSH, 2);

static const vkdl_kernel K_DROPOUT = {
    VKDL_SPIRV(dropout),
    .n_bindings = 2,
    .access = {VKDL_READ, VKDL_WRITE},
    .push_size = sizeof(struct dropout_push),
    .n_spec = DROPOUT_SPEC_COUNT,
};

static vkdl_status gpu_dropout(const vkdl_tensor *x, float p, uint64_t seed, vkdl_tensor *out)
{
    struct dropout_push pc = {
        .n = (uint32_t)x->numel,
        .key0 = (uint32_t)seed,
        .key1 = (uint32_t)(seed >> 32),
        .p = p,
        .scale = dropout_scale(p),
    };
    uint32_t spec[DROPOUT_SPEC_COUNT] = {[DROPOUT_SPEC_WG] = WG};
    vkdl_dispatch_info d = {.kernel = &K_DROPOUT, .spec = spec, .tensors = {x, out}, .push = &pc};
    vkdl_grid_1d(x->ctx, ((uint64_t)x->numel + 4 * WG - 1) / (4 * WG), d.groups);
    return vkdl_dispatch(x->ctx, &d);
}

/* ---------------------------------------------------------------- entry points */

static vkdl_status dropout_common(const char *op, const char *xname, const char *oname, const vkdl_tensor *x, float p,
                                  uint64_t seed, vkdl_tensor *out)
{
    VKDL_TRY(check_dropout(op, xname, oname, x, p, out));
    if (x->numel == 0)
        return VKDL_OK;
    if (x->ctx->backend == VKDL_BACKEND_CPU) {
        cpu_dropout(x, p, seed, out);
        return VKDL_OK;
    }
    return gpu_dropout(x, p, seed, out);
}

vkdl_status vkdl_dropout(const vkdl_tensor *x, float p, uint64_t seed, vkdl_tensor *out)
{
    return dropout_common("dropout", "x", "out", x, p, seed, out);
}

vkdl_status vkdl_dropout_backward(const vkdl_tensor *dy, float p, uint64_t seed, vkdl_tensor *dx)
{
    return dropout_common("dropout_backward", "dy", "dx", dy, p, seed, dx);
}
