/* vkdl_attention and vkdl_attention_backward: fused scaled-dot-product attention, flash style.
 * Forward: one pass, a query row per invocation with an online softmax over key tiles; it saves
 * the log-sum-exp for backward. Backward (FlashAttention-2): a pre-pass packs (lse, rowsum(dout *
 * out)) per query row into a small temporary; dq is a pass over query rows, dk/dv a pass over
 * key rows that loops over every query head of its kv group, so nothing is summed across
 * workgroups (no float atomics, deterministic). Memory beyond the tensors is 8 bytes per query
 * row. Shader: shaders/attention.comp. Tests: tests/test_attention.c. */
#include "ops/ops.h"
#include "shaders.h"
#include "attention.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEAD_DIM 256
#define LOG2E 1.4426950408889634

typedef struct attn_dims {
    int64_t B, H, Hkv, Sq, Sk, D;
    float scale;
    int causal;
    const vkdl_tensor *mask;
    int64_t mask_sb, mask_sh;       /* mask strides (elements) per batch and per head; 0 = shared */
} attn_dims;

/* ---------------------------------------------------------------- checks */

static vkdl_status check_f32(const char *op, const char *name, const vkdl_tensor *t, const vkdl_tensor *ref)
{
    VKDL_TRY(vkdl_check_tensor(op, name, t));
    VKDL_TRY(vkdl_check_same_ctx(op, t, ref));
    VKDL_TRY(vkdl_check_dtype(op, name, t, VKDL_F32));
    if (t->numel > UINT32_MAX) {
        char s[VKDL_SHAPE_BUF];
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "%s: %s %s has more than 2^32 elements", op, name,
                         vkdl_shape_str(t, s, sizeof s));
    }
    return VKDL_OK;
}

static bool has_shape(const vkdl_tensor *t, int ndim, int64_t a, int64_t b, int64_t c, int64_t d)
{
    const int64_t want[4] = {a, b, c, d};
    if (t->ndim != ndim)
        return false;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != want[i])
            return false;
    return true;
}

/* A tensor that must have exactly the shape of ref (out, dout, dq like q; dk, dv like k). */
static vkdl_status check_like(const char *op, const char *name, const vkdl_tensor *t, const char *ref_name,
                              const vkdl_tensor *ref)
{
    VKDL_TRY(check_f32(op, name, t, ref));
    if (!has_shape(t, ref->ndim, ref->shape[0], ref->shape[1], ref->shape[2], ref->shape[3])) {
        char s1[VKDL_SHAPE_BUF], s2[VKDL_SHAPE_BUF];
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: %s is %s but must match %s %s", op, name,
                         vkdl_shape_str(t, s1, sizeof s1), ref_name, vkdl_shape_str(ref, s2, sizeof s2));
    }
    return VKDL_OK;
}

static vkdl_status check_lse(const char *op, const vkdl_tensor *lse, const vkdl_tensor *q, const attn_dims *a)
{
    VKDL_TRY(check_f32(op, "lse", lse, q));
    if (!has_shape(lse, 3, a->B, a->H, a->Sq, 0)) {
        char s[VKDL_SHAPE_BUF];
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: lse is %s, expected [B,H,Sq] = %lldx%lldx%lld", op,
                         vkdl_shape_str(lse, s, sizeof s), (long long)a->B, (long long)a->H, (long long)a->Sq);
    }
    return VKDL_OK;
}

/* q, k, v and info, shared by forward and backward; fills a. */
static vkdl_status check_qkv(const char *op, const vkdl_tensor *q, const vkdl_tensor *k, const vkdl_tensor *v,
                             const vkdl_attention_info *info, attn_dims *a)
{
    char sq[VKDL_SHAPE_BUF], sk[VKDL_SHAPE_BUF], sv[VKDL_SHAPE_BUF];
    VKDL_TRY(info ? vkdl_check_next(op, info->next) : VKDL_OK);
    VKDL_TRY(vkdl_check_tensor(op, "q", q));
    VKDL_TRY(check_f32(op, "q", q, q));
    VKDL_TRY(check_f32(op, "k", k, q));
    VKDL_TRY(check_f32(op, "v", v, q));
    vkdl_shape_str(q, sq, sizeof sq);
    vkdl_shape_str(k, sk, sizeof sk);
    vkdl_shape_str(v, sv, sizeof sv);
    if (q->ndim != 4)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: q is %s, expected 4 dims [B,H,Sq,D]", op, sq);
    if (k->ndim != 4)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: k is %s, expected 4 dims [B,Hkv,Sk,D]", op, sk);
    if (!has_shape(v, 4, k->shape[0], k->shape[1], k->shape[2], k->shape[3]))
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: v is %s but must match k %s", op, sv, sk);
    a->B = q->shape[0];
    a->H = q->shape[1];
    a->Sq = q->shape[2];
    a->D = q->shape[3];
    a->Hkv = k->shape[1];
    a->Sk = k->shape[2];
    if (k->shape[0] != a->B)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: k %s has batch %lld but q %s has %lld", op, sk,
                         (long long)k->shape[0], sq, (long long)a->B);
    if (k->shape[3] != a->D)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: k %s has head dim %lld but q %s has %lld", op, sk,
                         (long long)k->shape[3], sq, (long long)a->D);
    if (a->D < 1 || a->D > MAX_HEAD_DIM)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: head dim %lld of q %s is outside 1..%d", op,
                         (long long)a->D, sq, MAX_HEAD_DIM);
    if (a->Hkv == 0 ? a->H != 0 : a->H % a->Hkv != 0)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: q %s has %lld heads, not a multiple of the %lld kv heads of k %s",
                         op, sq, (long long)a->H, (long long)a->Hkv, sk);

    a->scale = info && info->scale != 0.0f ? info->scale : (float)(1.0 / sqrt((double)a->D));
    if (!isfinite(a->scale))
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: scale %g is not finite", op, (double)a->scale);
    a->causal = info && info->causal;
    a->mask = info ? info->mask : NULL;
    a->mask_sb = a->mask_sh = 0;
    if (a->mask) {
        const vkdl_tensor *m = a->mask;
        char sm[VKDL_SHAPE_BUF];
        VKDL_TRY(check_f32(op, "mask", m, q));
        if (has_shape(m, 2, a->Sq, a->Sk, 0, 0)) {
            /* shared by every batch and head */
        } else if (has_shape(m, 4, a->B, 1, a->Sq, a->Sk)) {
            a->mask_sb = a->Sq * a->Sk;
        } else if (has_shape(m, 4, a->B, a->H, a->Sq, a->Sk)) {
            a->mask_sh = a->Sq * a->Sk;
            a->mask_sb = a->H * a->mask_sh;
        } else {
            return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH,
                             "%s: mask is %s, expected [Sq,Sk] = %lldx%lld or [B,1 or H,Sq,Sk] = %lldx(1 or %lld)x%lldx%lld",
                             op, vkdl_shape_str(m, sm, sizeof sm), (long long)a->Sq, (long long)a->Sk,
                             (long long)a->B, (long long)a->H, (long long)a->Sq, (long long)a->Sk);
        }
    }
    return VKDL_OK;
}

static vkdl_status check_forward(const vkdl_tensor *q, const vkdl_tensor *k, const vkdl_tensor *v,
                                 const vkdl_tensor *out, const vkdl_tensor *lse, const vkdl_attention_info *info,
                                 attn_dims *a)
{
    const char *op = "attention";
    VKDL_TRY(check_qkv(op, q, k, v, info, a));
    VKDL_TRY(check_like(op, "out", out, "q", q));
    return lse ? check_lse(op, lse, q, a) : VKDL_OK;
}

static vkdl_status check_backward(const vkdl_tensor *q, const vkdl_tensor *k, const vkdl_tensor *v,
                                  const vkdl_tensor *out, const vkdl_tensor *lse, const vkdl_tensor *dout,
                                  const vkdl_tensor *dq, const vkdl_tensor *dk, const vkdl_tensor *dv,
                                  const vkdl_attention_info *info, attn_dims *a)
{
    const char *op = "attention_backward";
    VKDL_TRY(check_qkv(op, q, k, v, info, a));
    VKDL_TRY(check_like(op, "out", out, "q", q));
    VKDL_TRY(check_like(op, "dout", dout, "q", q));
    VKDL_TRY(check_lse(op, lse, q, a));
    if (dq)
        VKDL_TRY(check_like(op, "dq", dq, "q", q));
    if (dk)
        VKDL_TRY(check_like(op, "dk", dk, "k", k));
    return dv ? check_like(op, "dv", dv, "v", v) : VKDL_OK;
}

/* ---------------------------------------------------------------- CPU twin */

/* Scores of query row (b, h, i) against every key, in double: -inf where causal hides the key.
 * Returns the row max. */
static double cpu_scores(const attn_dims *a, const float *q, const float *k, const float *mask, int64_t b,
                         int64_t h, int64_t i, double *s)
{
    int64_t D = a->D, hkv = h / (a->H / a->Hkv);
    const float *qi = q + ((b * a->H + h) * a->Sq + i) * D;
    const float *mrow = mask ? mask + b * a->mask_sb + h * a->mask_sh + i * a->Sk : NULL;
    double mx = -INFINITY;
    for (int64_t j = 0; j < a->Sk; j++) {
        if (a->causal && j > i + a->Sk - a->Sq) {
            s[j] = -INFINITY;
            continue;
        }
        const float *kj = k + ((b * a->Hkv + hkv) * a->Sk + j) * D;
        double dot = 0;
        for (int64_t d = 0; d < D; d++)
            dot += (double)qi[d] * kj[d];
        s[j] = a->scale * dot + (mrow ? mrow[j] : 0.0);
        mx = s[j] > mx ? s[j] : mx;
    }
    return mx;
}

static vkdl_status cpu_forward(const attn_dims *a, const vkdl_tensor *q, const vkdl_tensor *k, const vkdl_tensor *v,
                               vkdl_tensor *out, vkdl_tensor *lse)
{
    const float *pq = vkdl_tensor_host(q), *pk = vkdl_tensor_host(k), *pv = vkdl_tensor_host(v);
    const float *pm = a->mask ? vkdl_tensor_host(a->mask) : NULL;
    float *po = vkdl_tensor_host(out), *pl = lse ? vkdl_tensor_host(lse) : NULL;
    int64_t D = a->D;
    double *s = malloc((size_t)(a->Sk ? a->Sk : 1) * sizeof *s), *acc = malloc((size_t)D * sizeof *acc);
    if (!s || !acc) {
        free(s);
        free(acc);
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "attention: out of host memory");
    }
    for (int64_t b = 0; b < a->B; b++) {
        for (int64_t h = 0; h < a->H; h++) {
            int64_t hkv = h / (a->H / a->Hkv);
            for (int64_t i = 0; i < a->Sq; i++) {
                int64_t row = (b * a->H + h) * a->Sq + i;
                double mx = cpu_scores(a, pq, pk, pm, b, h, i, s);
                double sum = 0;
                memset(acc, 0, (size_t)D * sizeof *acc);
                if (mx != -INFINITY) {
                    for (int64_t j = 0; j < a->Sk; j++) {
                        double p = exp(s[j] - mx);
                        const float *vj = pv + ((b * a->Hkv + hkv) * a->Sk + j) * D;
                        sum += p;
                        for (int64_t d = 0; d < D; d++)
                            acc[d] += p * vj[d];
                    }
                }
                for (int64_t d = 0; d < D; d++)
                    po[row * D + d] = sum > 0 ? (float)(acc[d] / sum) : 0.0f;
                if (pl)
                    pl[row] = sum > 0 ? (float)(mx + log(sum)) : -INFINITY;
            }
        }
    }
    free(s);
    free(acc);
    return VKDL_OK;
}

/* The textbook gradients with P = exp(S - lse) from the given lse and Di = rowsum(dout * out). */
static vkdl_status cpu_backward(const attn_dims *a, const vkdl_tensor *q, const vkdl_tensor *k, const vkdl_tensor *v,
                                const vkdl_tensor *out, const vkdl_tensor *lse, const vkdl_tensor *dout,
                                vkdl_tensor *dq, vkdl_tensor *dk, vkdl_tensor *dv)
{
    const float *pq = vkdl_tensor_host(q), *pk = vkdl_tensor_host(k), *pv = vkdl_tensor_host(v);
    const float *pm = a->mask ? vkdl_tensor_host(a->mask) : NULL, *po = vkdl_tensor_host(out);
    const float *pl = vkdl_tensor_host(lse), *pg = vkdl_tensor_host(dout);
    int64_t D = a->D, nkv = a->B * a->Hkv * a->Sk * D;
    double *s = malloc((size_t)(a->Sk ? a->Sk : 1) * sizeof *s), *gq = malloc((size_t)D * sizeof *gq);
    double *gk = calloc((size_t)(nkv ? nkv : 1), sizeof *gk), *gv = calloc((size_t)(nkv ? nkv : 1), sizeof *gv);
    if (!s || !gq || !gk || !gv) {
        free(s);
        free(gq);
        free(gk);
        free(gv);
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "attention_backward: out of host memory");
    }
    for (int64_t b = 0; b < a->B; b++) {
        for (int64_t h = 0; h < a->H; h++) {
            int64_t hkv = h / (a->H / a->Hkv);
            for (int64_t i = 0; i < a->Sq; i++) {
                int64_t row = (b * a->H + h) * a->Sq + i;
                const float *qi = pq + row * D, *oi = po + row * D, *gi = pg + row * D;
                double di = 0;
                for (int64_t d = 0; d < D; d++)
                    di += (double)gi[d] * oi[d];
                cpu_scores(a, pq, pk, pm, b, h, i, s);
                memset(gq, 0, (size_t)D * sizeof *gq);
                for (int64_t j = 0; j < a->Sk; j++) {
                    if (pl[row] == -INFINITY || s[j] == -INFINITY)
                        continue;
                    int64_t kr = ((b * a->Hkv + hkv) * a->Sk + j) * D;
                    double p = exp(s[j] - pl[row]), dp = 0;
                    for (int64_t d = 0; d < D; d++)
                        dp += (double)gi[d] * pv[kr + d];
                    double ds = p * (dp - di) * a->scale;
                    for (int64_t d = 0; d < D; d++) {
                        gq[d] += ds * pk[kr + d];
                        gk[kr + d] += ds * qi[d];
                        gv[kr + d] += p * gi[d];
                    }
                }
                if (dq) {
                    float *pdq = vkdl_tensor_host(dq);
                    for (int64_t d = 0; d < D; d++)
                        pdq[row * D + d] = (float)gq[d];
                }
            }
        }
    }
    for (int64_t x = 0; x < nkv; x++) {
        if (dk)
            ((float *)vkdl_tensor_host(dk))[x] = (float)gk[x];
        if (dv)
            ((float *)vkdl_tensor_host(dv))[x] = (float)gv[x];
    }
    free(s);
    free(gq);
    free(gk);
    free(gv);
    return VKDL_OK;
}

/* ---------------------------------------------------------------- GPU launcher */

VKDL_PUSH_STRUCT(attention_push, ATTENTION_PUSH, 8);

/* Kernel variants, in the order pick() prefers them on CPU drivers (TILED is for GPUs). */
enum { TILED, TEX4, TEX1, VEC4, SCALAR, N_VARIANTS };
static const bool IS_VEC4[N_VARIANTS] = {true, true, false, true, false};

#define U16 16 /* storage binding read as vec4 */
#define R VKDL_READ
#define W VKDL_WRITE
#define TX VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER
#define F4 VK_FORMAT_R32G32B32A32_SFLOAT
#define F2 VK_FORMAT_R32G32_SFLOAT
#define F1 VK_FORMAT_R32_SFLOAT
#define ATTN_KERNEL(sym, nb, acc, units, types, formats)                                              \
    {VKDL_SPIRV(sym), .n_bindings = nb, .access = acc, .unit = units, .type = types, .format = formats, \
     .push_size = sizeof(struct attention_push), .n_spec = ATTENTION_SPEC_COUNT}

#define FMT_KV4 {0, F4, F4, F1}
#define FMT_KV1 {0, F1, F1, F1}
#define PRE_ACCESS {R, R, R, W}
#define FMT_QG4 {F4, 0, 0, F1, F4, F2}
#define FMT_QG1 {F1, 0, 0, F1, F1, F2}

/* Bindings: q, k, v, mask, out, lse. TEXEL kernels read k, v and the mask as texels. */
#define FWD_ACCESS {R, R, R, R, W, W}
#define FWD_UNITS {U16, U16, U16, 0, U16, 0}
#define FWD_TEX_UNITS {U16, 0, 0, 0, U16, 0}
#define FWD_TYPES {0, TX, TX, TX}
static const vkdl_kernel K_FWD[N_VARIANTS] = {
    ATTN_KERNEL(attention_fwd_tiled, 6, FWD_ACCESS, FWD_UNITS, {0}, {0}),
    ATTN_KERNEL(attention_fwd_tex4, 6, FWD_ACCESS, FWD_TEX_UNITS, FWD_TYPES, FMT_KV4),
    ATTN_KERNEL(attention_fwd_tex1, 6, FWD_ACCESS, {0}, FWD_TYPES, FMT_KV1),
    ATTN_KERNEL(attention_fwd_vec4, 6, FWD_ACCESS, FWD_UNITS, {0}, {0}),
    ATTN_KERNEL(attention_fwd, 6, FWD_ACCESS, {0}, {0}, {0}),
};
/* Bindings: out, dout, lse, stats. */
static const vkdl_kernel K_PRE = ATTN_KERNEL(attention_pre, 4, PRE_ACCESS, {0}, {0}, {0});
/* Bindings: q, k, v, mask, dout, stats, dq. TEXEL kernels read k, v and the mask as texels. */
#define DQ_ACCESS {R, R, R, R, R, R, W}
#define DQ_UNITS {U16, U16, U16, 0, U16, 0, U16}
#define DQ_TEX_UNITS {U16, 0, 0, 0, U16, 0, U16}
#define DQ_TYPES {0, TX, TX, TX}
static const vkdl_kernel K_DQ[N_VARIANTS] = {
    ATTN_KERNEL(attention_dq_tiled, 7, DQ_ACCESS, DQ_UNITS, {0}, {0}),
    ATTN_KERNEL(attention_dq_tex4, 7, DQ_ACCESS, DQ_TEX_UNITS, DQ_TYPES, FMT_KV4),
    ATTN_KERNEL(attention_dq_tex1, 7, DQ_ACCESS, {0}, DQ_TYPES, FMT_KV1),
    ATTN_KERNEL(attention_dq_vec4, 7, DQ_ACCESS, DQ_UNITS, {0}, {0}),
    ATTN_KERNEL(attention_dq, 7, DQ_ACCESS, {0}, {0}, {0}),
};
/* Bindings: q, k, v, mask, dout, stats, dk, dv. TEXEL kernels read q, the mask, dout and the
 * stats (one RG32F texel per query row) as texels. */
#define DKV_ACCESS {R, R, R, R, R, R, W, W}
#define DKV_UNITS {U16, U16, U16, 0, U16, 0, U16, U16}
#define DKV_TEX_UNITS {0, U16, U16, 0, 0, 0, U16, U16}
#define DKV_TYPES {TX, 0, 0, TX, TX, TX}
static const vkdl_kernel K_DKV[N_VARIANTS] = {
    ATTN_KERNEL(attention_dkv_tiled, 8, DKV_ACCESS, DKV_UNITS, {0}, {0}),
    ATTN_KERNEL(attention_dkv_tex4, 8, DKV_ACCESS, DKV_TEX_UNITS, DKV_TYPES, FMT_QG4),
    ATTN_KERNEL(attention_dkv_tex1, 8, DKV_ACCESS, {0}, DKV_TYPES, FMT_QG1),
    ATTN_KERNEL(attention_dkv_vec4, 8, DKV_ACCESS, DKV_UNITS, {0}, {0}),
    ATTN_KERNEL(attention_dkv, 8, DKV_ACCESS, {0}, {0}, {0}),
};

/* A launch configuration: kernel, whether it reads rows as vec4, workgroup size, tile rows. */
typedef struct attn_launch {
    const vkdl_kernel *k;
    bool vec4;
    uint32_t wg, tile;
} attn_launch;

static bool can_bind(const vkdl_context *ctx, const vkdl_kernel *k, const vkdl_tensor *const *bind)
{
    for (uint32_t b = 0; b < k->n_bindings; b++)
        if (!vkdl_binding_ok(ctx, k, b, bind[b]))
            return false;
    return true;
}

/* CPU drivers get one-subgroup workgroups reading rows from texel buffers, or from storage
 * buffers where a texel view cannot hold them (SwiftShader allows 65536 texels); GPUs get
 * shared-memory tiles (vec4). D % 4 != 0, or a view not 16-byte aligned, takes a scalar kernel.
 * extra_smem: bytes per tile row besides the two row tiles. */
static attn_launch pick(const vkdl_context *ctx, const vkdl_kernel *ks, const vkdl_tensor *const *bind,
                        int64_t D, uint32_t max_tile, uint32_t extra_smem)
{
    const vkdl_caps *c = &ctx->dev.caps;
    uint32_t lim = c->max_wg_invocations < c->max_wg_size[0] ? c->max_wg_invocations : c->max_wg_size[0];
    attn_launch l = {.k = &ks[SCALAR], .wg = 64, .tile = 8};
    if (c->quirks & VKDL_QUIRK_CPU_FRIENDLY_KERNELS) {
        /* a workgroup is one subgroup: one SIMD batch, no emulated barriers */
        for (int v = TEX4; v <= SCALAR; v++) {
            if ((IS_VEC4[v] && D % 4 != 0) || !can_bind(ctx, &ks[v], bind))
                continue;
            l.k = &ks[v];
            break;
        }
        l.wg = c->subgroup_size >= 4 && c->subgroup_size <= 64 ? c->subgroup_size : 8;
        l.tile = 16;
    } else if (D % 4 == 0 && can_bind(ctx, &ks[TILED], bind)) {
        l.k = &ks[TILED];
        uint32_t fit = c->max_shared / (uint32_t)(2 * D * sizeof(float) + extra_smem);
        l.tile = fit < max_tile ? fit : max_tile;
    }
    l.vec4 = IS_VEC4[l.k - ks];
    while (l.wg > lim)
        l.wg /= 2;
    if (l.tile < 1)
        l.tile = 1;
    return l;
}

static struct attention_push make_push(const attn_dims *a)
{
    return (struct attention_push){
        .B = (uint32_t)a->B, .H = (uint32_t)a->H, .Hkv = (uint32_t)a->Hkv, .Sq = (uint32_t)a->Sq,
        .Sk = (uint32_t)a->Sk, .scale_log2 = (float)(a->scale * LOG2E), .scale = a->scale,
        .causal = a->causal ? 1u : 0u, .mask_sb = (uint32_t)a->mask_sb, .mask_sh = (uint32_t)a->mask_sh,
    };
}

static vkdl_status launch(vkdl_context *ctx, const attn_launch *l, const attn_dims *a, uint64_t n_groups,
                          const vkdl_tensor *const *bind, bool out_a, bool out_b)
{
    struct attention_push pc = make_push(a);
    uint32_t dv = (uint32_t)(l->vec4 ? a->D / 4 : a->D);
    uint32_t spec[ATTENTION_SPEC_COUNT] = {
        [ATTENTION_SPEC_WG] = l->wg,
        [ATTENTION_SPEC_DV] = dv,
        [ATTENTION_SPEC_TILE] = l->tile,
        [ATTENTION_SPEC_HAS_MASK] = a->mask != NULL,
        [ATTENTION_SPEC_OUT_A] = out_a,
        [ATTENTION_SPEC_OUT_B] = out_b,
    };
    vkdl_dispatch_info d = {.kernel = l->k, .spec = spec, .push = &pc};
    for (uint32_t b = 0; b < l->k->n_bindings; b++)
        d.tensors[b] = bind[b];
    vkdl_grid_1d(ctx, n_groups, d.groups);
    return vkdl_dispatch(ctx, &d);
}

static uint64_t div_up(uint64_t n, uint64_t d) { return (n + d - 1) / d; }

static vkdl_status gpu_forward(const attn_dims *a, const vkdl_tensor *q, const vkdl_tensor *k, const vkdl_tensor *v,
                               vkdl_tensor *out, vkdl_tensor *lse)
{
    vkdl_context *ctx = q->ctx;
    if (out->numel == 0)
        return VKDL_OK;
    if (a->Sk == 0) {
        /* no keys: every row is fully masked */
        VKDL_TRY(vkdl_tensor_fill(out, 0.0));
        return lse ? vkdl_tensor_fill(lse, -INFINITY) : VKDL_OK;
    }
    /* Absent optional tensors bind a tensor of the same access that the kernel leaves alone
     * (the smallest at hand, so it fits a texel view wherever the real ones do). */
    const vkdl_tensor *bind[6] = {q, k, v, a->mask ? a->mask : lse ? lse : q, out, lse ? lse : out};
    attn_launch l = pick(ctx, K_FWD, bind, a->D, 32, 0);
    uint64_t groups = (uint64_t)(a->B * a->Hkv) * div_up((uint64_t)(a->Sq * (a->H / a->Hkv)), l.wg);
    return launch(ctx, &l, a, groups, bind, lse != NULL, false);
}

static vkdl_status gpu_backward(const attn_dims *a, const vkdl_tensor *q, const vkdl_tensor *k, const vkdl_tensor *v,
                                const vkdl_tensor *out, const vkdl_tensor *lse, const vkdl_tensor *dout,
                                vkdl_tensor *dq, vkdl_tensor *dk, vkdl_tensor *dv)
{
    vkdl_context *ctx = q->ctx;
    if (q->numel == 0 || a->Sk == 0) {
        /* with no query rows or no keys, every gradient is 0 */
        if (dq && dq->numel)
            VKDL_TRY(vkdl_tensor_fill(dq, 0.0));
        if (dk && dk->numel)
            VKDL_TRY(vkdl_tensor_fill(dk, 0.0));
        if (dv && dv->numel)
            VKDL_TRY(vkdl_tensor_fill(dv, 0.0));
        return VKDL_OK;
    }
    if (!dq && !dk && !dv)
        return VKDL_OK;

    int64_t rows = a->B * a->H * a->Sq;
    const int64_t st_shape[2] = {rows, 2};
    vkdl_tensor *stats = NULL;
    VKDL_TRY(vkdl_tensor_create(ctx, VKDL_F32, 2, st_shape, &stats));
    vkdl_status s;
    {
        const vkdl_tensor *bind[4] = {out, dout, lse, stats};
        attn_launch l = {.k = &K_PRE, .wg = 64, .tile = 1};
        s = launch(ctx, &l, a, div_up((uint64_t)rows, l.wg), bind, false, false);
    }
    const vkdl_tensor *mask = a->mask ? a->mask : stats;
    if (s == VKDL_OK && dq) {
        const vkdl_tensor *bind[7] = {q, k, v, mask, dout, stats, dq};
        attn_launch l = pick(ctx, K_DQ, bind, a->D, 32, 0);
        uint64_t groups = (uint64_t)(a->B * a->Hkv) * div_up((uint64_t)(a->Sq * (a->H / a->Hkv)), l.wg);
        s = launch(ctx, &l, a, groups, bind, false, false);
    }
    if (s == VKDL_OK && (dk || dv)) {
        const vkdl_tensor *bind[8] = {q, k, v, mask, dout, stats, dk ? dk : dv, dv ? dv : dk};
        attn_launch l = pick(ctx, K_DKV, bind, a->D, 32, 2 * sizeof(float));
        uint64_t groups = (uint64_t)(a->B * a->Hkv) * div_up((uint64_t)a->Sk, l.wg);
        s = launch(ctx, &l, a, groups, bind, dk != NULL, dv != NULL);
    }
    /* the scheduler tracks memory ranges, not handles: freeing now is safe with work pending */
    vkdl_tensor_destroy(stats);
    return s;
}

/* ---------------------------------------------------------------- entry points */

vkdl_status vkdl_attention(const vkdl_tensor *q, const vkdl_tensor *k, const vkdl_tensor *v, vkdl_tensor *out,
                           vkdl_tensor *lse, const vkdl_attention_info *info)
{
    attn_dims a;
    VKDL_TRY(check_forward(q, k, v, out, lse, info, &a));
    if (q->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_forward(&a, q, k, v, out, lse);
    return gpu_forward(&a, q, k, v, out, lse);
}

vkdl_status vkdl_attention_backward(const vkdl_tensor *q, const vkdl_tensor *k, const vkdl_tensor *v,
                                    const vkdl_tensor *out, const vkdl_tensor *lse, const vkdl_tensor *dout,
                                    vkdl_tensor *dq, vkdl_tensor *dk, vkdl_tensor *dv,
                                    const vkdl_attention_info *info)
{
    attn_dims a;
    VKDL_TRY(check_backward(q, k, v, out, lse, dout, dq, dk, dv, info, &a));
    if (q->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_backward(&a, q, k, v, out, lse, dout, dq, dk, dv);
    return gpu_backward(&a, q, k, v, out, lse, dout, dq, dk, dv);
}
