/* Batched matmul with optional transposes, alpha/beta and a fused epilogue (bias, activation), on
 * f32, f16 or bf16 operands with f32 accumulation. Shader: shaders/matmul.comp (one source: texel-
 * and storage-buffer register tiles for CPU drivers, shared-memory tiles for GPUs; 16-bit data
 * through f16 texel views or as 32-bit words, so no 16-bit storage feature is needed). CPU twin:
 * OpenBLAS sgemm on f32 copies, then the epilogue. Tests: tests/test_matmul.c. */
#include "ops/ops.h"
#include "shaders.h"
#include "matmul.h"
#include "unary.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The problem, shapes resolved: out[z] = act(alpha op(a[z]) op(b[z]) + bias) + beta out[z], z < batch. */
typedef struct mm_problem {
    int64_t batch, m, n, k;
    int64_t lda, ldb, ldc;
    int64_t stride_a, stride_b, stride_c; /* 0: the operand is shared by every batch */
    bool ta, tb;
    float alpha, beta;
    const vkdl_tensor *bias;        /* NULL: none */
    int act;                        /* vkdl_unary_op, or -1: none */
} mm_problem;

/* ---------------------------------------------------------------- checks */

static bool mm_dtype(vkdl_dtype t) { return t == VKDL_F32 || t == VKDL_F16 || t == VKDL_BF16; }

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
    p->bias = info->bias;
    p->act = info->fuse_act ? (int)info->act : -1;
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

/* Every argument check; fills p. */
static vkdl_status check_matmul(const vkdl_tensor *a, const vkdl_tensor *b, const vkdl_tensor *out,
                                const vkdl_matmul_info *info, mm_problem *p)
{
    VKDL_TRY(vkdl_check_tensor("matmul", "a", a));
    VKDL_TRY(vkdl_check_tensor("matmul", "b", b));
    VKDL_TRY(vkdl_check_tensor("matmul", "out", out));
    VKDL_TRY(vkdl_check_same_ctx("matmul", a, out));
    VKDL_TRY(vkdl_check_same_ctx("matmul", b, out));
    VKDL_TRY(vkdl_check_next("matmul", info->next));
    if (!mm_dtype(a->dtype))
        return vkdl_fail(VKDL_ERROR_DTYPE_MISMATCH, "matmul: a is %s; a and b must be f32, f16 or bf16",
                         vkdl_dtype_name(a->dtype));
    if (b->dtype != a->dtype)
        return vkdl_fail(VKDL_ERROR_DTYPE_MISMATCH, "matmul: b is %s but a is %s; they must match",
                         vkdl_dtype_name(b->dtype), vkdl_dtype_name(a->dtype));
    if (out->dtype != VKDL_F32 && out->dtype != a->dtype)
        return vkdl_fail(VKDL_ERROR_DTYPE_MISMATCH, "matmul: out is %s; it must be f32 or a's dtype %s",
                         vkdl_dtype_name(out->dtype), vkdl_dtype_name(a->dtype));
    if (info->fuse_act && (unsigned)info->act >= VKDL_UNARY_OP_COUNT)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "matmul: invalid act %d", (int)info->act);
    VKDL_TRY(plan(a, b, out, info, p));
    if (p->bias) {
        VKDL_TRY(vkdl_check_tensor("matmul", "bias", p->bias));
        VKDL_TRY(vkdl_check_same_ctx("matmul", p->bias, out));
        VKDL_TRY(vkdl_check_dtype("matmul", "bias", p->bias, VKDL_F32));
        if (p->bias->ndim != 1 || p->bias->shape[0] != p->n) {
            char sbias[VKDL_SHAPE_BUF], so[VKDL_SHAPE_BUF];
            return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "matmul: bias is %s, expected [%lld] for out %s",
                             vkdl_shape_str(p->bias, sbias, sizeof sbias), (long long)p->n,
                             vkdl_shape_str(out, so, sizeof so));
        }
    }
    if (a->numel > INT32_MAX || b->numel > INT32_MAX || out->numel > INT32_MAX)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "matmul: operands of more than 2^31 elements");
    return VKDL_OK;
}

/* ---------------------------------------------------------------- CPU twin */

/* Widen a 16-bit operand to f32 (exactly), so sgemm sees the values the GPU reads. */
static const float *widen(const vkdl_tensor *t, float **buf)
{
    *buf = NULL;
    if (t->dtype == VKDL_F32)
        return vkdl_tensor_host(t);
    *buf = malloc((size_t)(t->numel ? t->numel : 1) * sizeof **buf);
    if (*buf)
        vkdl_convert(*buf, VKDL_F32, vkdl_tensor_host(t), t->dtype, (size_t)t->numel);
    return *buf;
}

/* sgemm into an f32 accumulator, then the epilogue in the order the kernel applies it:
 * out = act(alpha AB + bias) + beta out, rounded once to out's dtype. The activation is
 * vkdl_unary's own CPU reference. */
static vkdl_status cpu_matmul(const mm_problem *p, const vkdl_tensor *a, const vkdl_tensor *b, vkdl_tensor *out)
{
    float *wa, *wb;
    const float *pa = widen(a, &wa), *pb = widen(b, &wb);
    int64_t mn = p->m * p->n, total = p->batch * mn;
    /* The result goes straight into out when nothing of the old out is needed after the GEMM. */
    bool direct = out->dtype == VKDL_F32 && p->beta == 0;
    vkdl_tensor *acc = direct ? out : NULL;
    vkdl_status s = VKDL_OK;
    if ((a->dtype != VKDL_F32 && !pa) || (b->dtype != VKDL_F32 && !pb))
        s = vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "matmul: out of host memory widening 16-bit operands");
    if (s == VKDL_OK && !direct)
        s = vkdl_tensor_create(out->ctx, VKDL_F32, 1, &total, &acc);
    if (s == VKDL_OK) {
        float *pc = vkdl_tensor_host(acc);
        for (int64_t z = 0; z < p->batch; z++) {
            float *c = pc + z * mn;
            if (p->k == 0) {
                memset(c, 0, (size_t)mn * sizeof *c);
                continue;
            }
            cblas_sgemm(CblasRowMajor, p->ta ? CblasTrans : CblasNoTrans, p->tb ? CblasTrans : CblasNoTrans,
                        (int)p->m, (int)p->n, (int)p->k, p->alpha, pa + z * p->stride_a, (int)p->lda,
                        pb + z * p->stride_b, (int)p->ldb, 0.0f, c, (int)p->ldc);
        }
        if (p->bias) {
            const float *pbias = vkdl_tensor_host(p->bias);
            for (int64_t i = 0; i < total; i++)
                pc[i] += pbias[i % p->n];
        }
        if (p->act >= 0) {
            vkdl_tensor *flat = NULL;
            s = vkdl_tensor_reshape(acc, 1, &total, &flat);
            if (s == VKDL_OK)
                s = vkdl_unary((vkdl_unary_op)p->act, flat, flat);
            vkdl_tensor_destroy(flat);
        }
        size_t osize = vkdl_dtype_size(out->dtype);
        char *po = vkdl_tensor_host(out);
        for (int64_t i = 0; s == VKDL_OK && !direct && i < total; i++) {
            float v = pc[i], old;
            if (p->beta != 0) {
                vkdl_convert(&old, VKDL_F32, po + (size_t)i * osize, out->dtype, 1);
                v = fmaf(p->beta, old, v);
            }
            vkdl_convert(po + (size_t)i * osize, out->dtype, &v, VKDL_F32, 1);
        }
    }
    if (!direct)
        vkdl_tensor_destroy(acc);
    free(wa);
    free(wb);
    return s;
}

/* ---------------------------------------------------------------- GPU launcher */

VKDL_PUSH_STRUCT(matmul_push, MATMUL_PUSH, 4);

/* The epilogue's act is a vkdl_unary_op, which activation.glsl reads as unary.h's codes (both run
 * 0, 1, ... in the same order), or the code for none. */
_Static_assert(VKDL_RELU == UNARY_OP_RELU && VKDL_UNARY_OP_COUNT == UNARY_OP_SHRINK + 1,
               "vkdl_unary_op and the UNARY_OP_* codes of the epilogue's activations agree");
_Static_assert(VKDL_UNARY_OP_COUNT <= MATMUL_ACT_NONE, "every activation has a code apart from none");

/* Variants of shaders/matmul.comp (see the comment at its top). On CPU-type drivers a register-
 * tiled kernel reading A and B through texel buffers: 4-element texels (RGBA32F, RGBA16F, or
 * RG32UI words for 16-bit data), 1- or 2-element texels when the operands are not 4-aligned,
 * storage buffers when no view fits; on GPUs shared-memory tiles. */
#define MM_KERNEL(var, ty, fmt)                                                                     \
    {                                                                                               \
        .name = "matmul", .spirv = vkdl_spv_##var, .spirv_size = &vkdl_spv_##var##_size,           \
        .n_bindings = 4, .type = {ty, ty}, .format = {fmt, fmt},                                    \
        .access = {VKDL_READ, VKDL_READ, VKDL_RW, VKDL_READ},                                      \
        .push_size = sizeof(struct matmul_push), .n_spec = MATMUL_SPEC_COUNT,                       \
    }
#define MM_TEXEL VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER
static const vkdl_kernel K_MM_TEXEL4 = MM_KERNEL(matmul_texel4, MM_TEXEL, VK_FORMAT_R32G32B32A32_SFLOAT);
static const vkdl_kernel K_MM_TEXEL1 = MM_KERNEL(matmul_texel1, MM_TEXEL, VK_FORMAT_R32_SFLOAT);
static const vkdl_kernel K_MM_TEXEL4_F16 = MM_KERNEL(matmul_texel4, MM_TEXEL, VK_FORMAT_R16G16B16A16_SFLOAT);
static const vkdl_kernel K_MM_TEXEL1_F16 = MM_KERNEL(matmul_texel1, MM_TEXEL, VK_FORMAT_R16_SFLOAT);
static const vkdl_kernel K_MM_TEXEL4_W16 = MM_KERNEL(matmul_texel4_w16, MM_TEXEL, VK_FORMAT_R32G32_UINT);
static const vkdl_kernel K_MM_TEXEL1_W16 = MM_KERNEL(matmul_texel1_w16, MM_TEXEL, VK_FORMAT_R32_UINT);
static const vkdl_kernel K_MM_STORAGE = MM_KERNEL(matmul_storage, 0, 0);
static const vkdl_kernel K_MM_TILED = MM_KERNEL(matmul_tiled, 0, 0);

static bool binds(const vkdl_context *ctx, const vkdl_kernel *k, const vkdl_tensor *a, const vkdl_tensor *b)
{
    return vkdl_binding_ok(ctx, k, 0, a) && vkdl_binding_ok(ctx, k, 1, b);
}

/* The CPU-driver kernel for these operands: the widest texel view whose preconditions hold. */
static const vkdl_kernel *cpu_kernel(const vkdl_context *ctx, const mm_problem *p, const vkdl_tensor *a,
                                     const vkdl_tensor *b)
{
    const vkdl_kernel *k4 = &K_MM_TEXEL4, *k1 = &K_MM_TEXEL1;
    if (a->dtype == VKDL_F16 && ctx->dev.caps.f16_texel)
        k4 = &K_MM_TEXEL4_F16, k1 = &K_MM_TEXEL1_F16;
    else if (a->dtype != VKDL_F32)
        k4 = &K_MM_TEXEL4_W16, k1 = &K_MM_TEXEL1_W16;
    bool aligned4 = p->lda % 4 == 0 && p->ldb % 4 == 0 && p->stride_a % 4 == 0 && p->stride_b % 4 == 0;
    if (aligned4 && binds(ctx, k4, a, b))
        return k4;
    if (binds(ctx, k1, a, b))
        return k1;
    return &K_MM_STORAGE;
}

/* What a binding of dtype t delivers (an f16 float view delivers floats). */
static uint32_t kind(vkdl_dtype t)
{
    return t == VKDL_F32 ? MATMUL_KIND_F32 : t == VKDL_F16 ? MATMUL_KIND_F16 : MATMUL_KIND_BF16;
}

static vkdl_status gpu_matmul_chunk(const mm_problem *p, const vkdl_tensor *a, const vkdl_tensor *b, vkdl_tensor *out)
{
    vkdl_context *ctx = out->ctx;
    const vkdl_caps *c = &ctx->dev.caps;
    const vkdl_kernel *k;
    uint32_t wg_x, wg_y = 1, tm, tn, bm, bn;
    /* With K = 0 the operands are empty (dispatch would skip them) and never read: out stands in
     * for them in the storage variant, which binds any tensor. */
    if (p->k == 0)
        a = b = out;
    /* The CPU-driver kernels run anywhere, so they also stand in for a tiled kernel turned off. */
    if (p->k == 0 || c->quirks & VKDL_QUIRK_CPU_FRIENDLY_KERNELS || !vkdl_kernel_enabled(ctx, &K_MM_TILED)) {
        k = p->k == 0 ? &K_MM_STORAGE : cpu_kernel(ctx, p, a, b);
        /* 8 lanes = one llvmpipe SIMD row; 16x8 register tiles, 8x8 for small outputs where
         * 16-row tiles would leave cores idle (measured on lavapipe). */
        wg_x = 8;
        tm = p->m * p->n <= 256 * 256 ? 8 : 16;
        tn = 2;
        bm = tm;
        bn = wg_x * 4 * tn;
    } else {
        k = &K_MM_TILED;
        wg_x = wg_y = 16;
        if (c->max_wg_invocations < 256 || c->max_shared < 8192)
            wg_x = wg_y = 8;
        tm = tn = 4;
        bm = wg_y * tm;
        bn = wg_x * tn;
    }
    bool float_view = k == &K_MM_TEXEL4_F16 || k == &K_MM_TEXEL1_F16;
    uint32_t epi = (float_view ? MATMUL_KIND_F32 : kind(a->dtype)) | kind(out->dtype) << MATMUL_EPI_OUT_SHIFT |
                   (p->bias || p->act >= 0 ? MATMUL_FLAG_EPILOGUE : 0);
    uint32_t spec[MATMUL_SPEC_COUNT] = {
        [MATMUL_SPEC_WG_X] = wg_x,     [MATMUL_SPEC_WG_Y] = wg_y,     [MATMUL_SPEC_TM] = tm,  [MATMUL_SPEC_TN] = tn,
        [MATMUL_SPEC_TRANS_A] = p->ta, [MATMUL_SPEC_TRANS_B] = p->tb, [MATMUL_SPEC_BK] = 16, [MATMUL_SPEC_EPI] = epi,
    };
    float act_alpha = 0, act_beta = 0;
    if (p->act >= 0)
        vkdl_unary_defaults((vkdl_unary_op)p->act, &act_alpha, &act_beta);
    struct matmul_push push = {
        .M = (uint32_t)p->m,
        .N = (uint32_t)p->n,
        .K = (uint32_t)p->k,
        .lda = (uint32_t)p->lda,
        .ldb = (uint32_t)p->ldb,
        .ldc = (uint32_t)p->ldc,
        .strideA = (uint32_t)p->stride_a,
        .strideB = (uint32_t)p->stride_b,
        .strideC = (uint32_t)p->stride_c,
        .alpha = p->alpha,
        .beta = p->beta,
        .hasBias = p->bias != NULL,
        .act = p->act >= 0 ? (uint32_t)p->act : MATMUL_ACT_NONE,
        .actAlpha = act_alpha,
        .actBeta = act_beta,
    };
    vkdl_dispatch_info d = {
        .kernel = k,
        .spec = spec,
        .tensors = {a, b, out, p->bias ? p->bias : out},
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

/* ---------------------------------------------------------------- entry points */

vkdl_status vkdl_matmul(const vkdl_tensor *a, const vkdl_tensor *b, vkdl_tensor *out, const vkdl_matmul_info *info)
{
    static const vkdl_matmul_info defaults = {.alpha = 1.0f};
    mm_problem p;
    VKDL_TRY(check_matmul(a, b, out, info ? info : &defaults, &p));
    if (out->numel == 0)
        return VKDL_OK;
    if (out->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_matmul(&p, a, b, out);
    return gpu_matmul(&p, a, b, out);
}
