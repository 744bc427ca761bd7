/* Batched f32 matmul with optional transposes, alpha and beta. Shader: shaders/matmul.comp (one
 * source, three variants: storage-buffer register tiles, texel-buffer register tiles for CPU
 * drivers, shared-memory tiles for GPUs). CPU twin: OpenBLAS sgemm. Tests: tests/test_matmul.c. */
#include "internal.h"
#include "shaders.h"

#include <cblas.h>
#include <string.h>

/* The problem, shapes resolved: out[z] = alpha op(a[z]) op(b[z]) + beta out[z], z < batch. */
typedef struct mm_problem {
    int64_t batch, m, n, k;
    int64_t lda, ldb, ldc;
    int64_t stride_a, stride_b, stride_c; /* 0: the operand is shared by every batch */
    bool ta, tb;
    float alpha, beta;
} mm_problem;

static vkdl_status plan(const vkdl_tensor *a, const vkdl_tensor *b, const vkdl_tensor *out,
                        const vkdl_matmul_info *info, mm_problem *p)
{
    char sa[VKDL_SHAPE_BUF], sb[VKDL_SHAPE_BUF], so[VKDL_SHAPE_BUF];
    vkdl_shape_str(a, sa, sizeof sa);
    vkdl_shape_str(b, sb, sizeof sb);
    vkdl_shape_str(out, so, sizeof so);
    if (a->ndim < 2 || b->ndim < 2 || out->ndim < 2)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "matmul: a %s, b %s and out %s must have at least 2 dims", sa, sb, so);
    memset(p, 0, sizeof *p);
    p->ta = info->trans_a != 0;
    p->tb = info->trans_b != 0;
    p->alpha = info->alpha;
    p->beta = info->beta;
    int64_t ar = a->shape[a->ndim - 2], ac = a->shape[a->ndim - 1];
    int64_t br = b->shape[b->ndim - 2], bc = b->shape[b->ndim - 1];
    p->m = p->ta ? ac : ar;
    p->k = p->ta ? ar : ac;
    int64_t kb = p->tb ? bc : br;
    p->n = p->tb ? br : bc;
    if (p->k != kb)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "matmul: inner dims differ: a is %s%s, b is %s%s (%lld vs %lld)",
                         sa, p->ta ? " (transposed)" : "", sb, p->tb ? " (transposed)" : "", (long long)p->k,
                         (long long)kb);
    if (out->shape[out->ndim - 2] != p->m || out->shape[out->ndim - 1] != p->n)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "matmul: out is %s, expected [..., %lld, %lld] for a %s, b %s", so,
                         (long long)p->m, (long long)p->n, sa, sb);
    /* Batch dims: out's leading dims; a and b either match them or are plain matrices. */
    p->batch = 1;
    for (int i = 0; i < out->ndim - 2; i++)
        p->batch *= out->shape[i];
    for (int t = 0; t < 2; t++) {
        const vkdl_tensor *x = t ? b : a;
        bool shared = x->ndim == 2;
        bool same = x->ndim == out->ndim;
        for (int i = 0; same && i < out->ndim - 2; i++)
            same = x->shape[i] == out->shape[i];
        if (!shared && !same)
            return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "matmul: batch dims of %s %s do not match out %s",
                             t ? "b" : "a", t ? sb : sa, so);
        int64_t mat = x->shape[x->ndim - 2] * x->shape[x->ndim - 1];
        if (t)
            p->stride_b = shared ? 0 : mat;
        else
            p->stride_a = shared ? 0 : mat;
    }
    p->lda = ac;
    p->ldb = bc;
    p->ldc = p->n;
    p->stride_c = p->m * p->n;
    return VKDL_OK;
}

static vkdl_status cpu_matmul(const mm_problem *p, const vkdl_tensor *a, const vkdl_tensor *b, vkdl_tensor *out)
{
    const float *pa = vkdl_tensor_host(a), *pb = vkdl_tensor_host(b);
    float *pc = vkdl_tensor_host(out);
    for (int64_t z = 0; z < p->batch; z++) {
        float *c = pc + z * p->stride_c;
        if (p->beta == 0) /* BLAS may compute 0 * NaN; beta 0 means "do not read out" */
            memset(c, 0, (size_t)(p->m * p->n) * sizeof *c);
        if (p->k == 0) {
            for (int64_t i = 0; p->beta != 0 && i < p->m * p->n; i++)
                c[i] *= p->beta;
            continue;
        }
        cblas_sgemm(CblasRowMajor, p->ta ? CblasTrans : CblasNoTrans, p->tb ? CblasTrans : CblasNoTrans, (int)p->m,
                    (int)p->n, (int)p->k, p->alpha, pa + z * p->stride_a, (int)p->lda, pb + z * p->stride_b,
                    (int)p->ldb, p->beta, c, (int)p->ldc);
    }
    return VKDL_OK;
}

static vkdl_status gpu_matmul(const mm_problem *p, const vkdl_tensor *a, const vkdl_tensor *b, vkdl_tensor *out);

vkdl_status vkdl_matmul(const vkdl_tensor *a, const vkdl_tensor *b, vkdl_tensor *out, const vkdl_matmul_info *info)
{
    static const vkdl_matmul_info defaults = {.alpha = 1.0f};
    VKDL_TRY(vkdl_check_tensor("matmul", "a", a));
    VKDL_TRY(vkdl_check_tensor("matmul", "b", b));
    VKDL_TRY(vkdl_check_tensor("matmul", "out", out));
    VKDL_TRY(vkdl_check_same_ctx("matmul", a, out));
    VKDL_TRY(vkdl_check_same_ctx("matmul", b, out));
    VKDL_TRY(vkdl_check_dtype("matmul", "a", a, VKDL_F32));
    VKDL_TRY(vkdl_check_dtype("matmul", "b", b, VKDL_F32));
    VKDL_TRY(vkdl_check_dtype("matmul", "out", out, VKDL_F32));
    mm_problem p;
    VKDL_TRY(plan(a, b, out, info ? info : &defaults, &p));
    if (a->numel > INT32_MAX || b->numel > INT32_MAX || out->numel > INT32_MAX)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "matmul: operands of more than 2^31 elements");
    if (out->numel == 0)
        return VKDL_OK;
    if (out->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_matmul(&p, a, b, out);
    if (p.k == 0)
        return p.beta == 0 ? vkdl_tensor_fill(out, 0.0) : vkdl_scale(out, p.beta, 0.0f, out);
    return gpu_matmul(&p, a, b, out);
}

/* Variants of shaders/matmul.comp (see the comment at its top): on CPU-type drivers a register-
 * tiled kernel reading A and B through RGBA32F texel buffers (R32F when the operands are not
 * 16-byte aligned, storage buffers past maxTexelBufferElements); on GPUs shared-memory tiles. */
#define MM_KERNEL(var, ty, fmt)                                                                     \
    {                                                                                               \
        .name = "matmul", .spirv = vkdl_spv_##var, .spirv_size = &vkdl_spv_##var##_size,           \
        .n_bindings = 3, .type = {ty, ty}, .format = {fmt, fmt}, .access = {VKDL_READ, VKDL_READ, VKDL_RW}, \
        .push_size = 11 * sizeof(uint32_t), .n_spec = 7,                                          \
    }
static const vkdl_kernel K_MM_TEXEL4 = MM_KERNEL(matmul_texel4, VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER,
                                                 VK_FORMAT_R32G32B32A32_SFLOAT);
static const vkdl_kernel K_MM_TEXEL1 = MM_KERNEL(matmul_texel1, VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER,
                                                 VK_FORMAT_R32_SFLOAT);
static const vkdl_kernel K_MM_STORAGE = MM_KERNEL(matmul_storage, 0, 0);
static const vkdl_kernel K_MM_TILED = MM_KERNEL(matmul_tiled, 0, 0);

typedef struct mm_push {
    uint32_t m, n, k, lda, ldb, ldc, stride_a, stride_b, stride_c;
    float alpha, beta;
} mm_push;

static bool texel4_ok(const vkdl_context *ctx, const mm_problem *p, const vkdl_tensor *a, const vkdl_tensor *b)
{
    return p->lda % 4 == 0 && p->ldb % 4 == 0 && p->stride_a % 4 == 0 && p->stride_b % 4 == 0 &&
           vkdl_binding_ok(ctx, &K_MM_TEXEL4, 0, a) && vkdl_binding_ok(ctx, &K_MM_TEXEL4, 1, b);
}

static vkdl_status gpu_matmul_chunk(const mm_problem *p, const vkdl_tensor *a, const vkdl_tensor *b, vkdl_tensor *out)
{
    vkdl_context *ctx = out->ctx;
    const vkdl_caps *c = &ctx->dev.caps;
    const vkdl_kernel *k;
    uint32_t spec[7] = {0, 1, 0, 0, p->ta, p->tb, 16};
    uint32_t bm, bn;
    if (c->quirks & VKDL_QUIRK_CPU_FRIENDLY_KERNELS) {
        if (texel4_ok(ctx, p, a, b))
            k = &K_MM_TEXEL4;
        else if (vkdl_binding_ok(ctx, &K_MM_TEXEL1, 0, a) && vkdl_binding_ok(ctx, &K_MM_TEXEL1, 1, b))
            k = &K_MM_TEXEL1;
        else
            k = &K_MM_STORAGE;
        /* 8 lanes = one llvmpipe SIMD row; 16x8 register tiles, 8x8 for small outputs where
         * 16-row tiles would leave cores idle (measured on lavapipe). */
        spec[0] = 8;
        spec[2] = p->m * p->n <= 256 * 256 ? 8 : 16;
        spec[3] = 2;
        bm = spec[2];
        bn = spec[0] * 4 * spec[3];
    } else {
        k = &K_MM_TILED;
        spec[0] = 16;
        spec[1] = 16;
        if (c->max_wg_invocations < 256 || c->max_shared < 8192)
            spec[0] = spec[1] = 8;
        spec[2] = 4;
        spec[3] = 4;
        bm = spec[1] * spec[2];
        bn = spec[0] * spec[3];
    }
    mm_push push = {(uint32_t)p->m, (uint32_t)p->n, (uint32_t)p->k, (uint32_t)p->lda, (uint32_t)p->ldb,
                    (uint32_t)p->ldc, (uint32_t)p->stride_a, (uint32_t)p->stride_b, (uint32_t)p->stride_c,
                    p->alpha, p->beta};
    vkdl_dispatch_info d = {
        .kernel = k,
        .spec = spec,
        .tensors = {a, b, out},
        .push = &push,
        .groups = {(uint32_t)((p->m + bm - 1) / bm), (uint32_t)((p->n + bn - 1) / bn), (uint32_t)p->batch},
    };
    return vkdl_dispatch(ctx, &d);
}

/* The grid's z dimension is the batch; batches past the device's limit go in chunks of views. */
static vkdl_status gpu_matmul(const mm_problem *p, const vkdl_tensor *a, const vkdl_tensor *b, vkdl_tensor *out)
{
    int64_t zmax = out->ctx->dev.caps.max_wg_count[2];
    if (p->batch <= zmax)
        return gpu_matmul_chunk(p, a, b, out);
    vkdl_status s = VKDL_OK;
    for (int64_t z0 = 0; z0 < p->batch && s == VKDL_OK; z0 += zmax) {
        int64_t z1 = z0 + zmax < p->batch ? z0 + zmax : p->batch;
        const vkdl_tensor *src[3] = {a, b, out};
        vkdl_tensor *flat[3] = {0}, *part[3] = {0};
        for (int i = 0; i < 3 && s == VKDL_OK; i++) {
            bool batched = i == 2 || (i == 0 ? p->stride_a : p->stride_b) != 0;
            int64_t shape[3] = {p->batch, src[i]->shape[src[i]->ndim - 2], src[i]->shape[src[i]->ndim - 1]};
            if (!batched)
                continue;
            s = vkdl_tensor_reshape((vkdl_tensor *)src[i], 3, shape, &flat[i]);
            if (s == VKDL_OK)
                s = vkdl_tensor_slice(flat[i], z0, z1, &part[i]);
        }
        mm_problem q = *p;
        q.batch = z1 - z0;
        if (s == VKDL_OK)
            s = gpu_matmul_chunk(&q, part[0] ? part[0] : a, part[1] ? part[1] : b, part[2]);
        for (int i = 0; i < 3; i++) {
            vkdl_tensor_destroy(part[i]);
            vkdl_tensor_destroy(flat[i]);
        }
    }
    return s;
}
