/* vkdl_attention / vkdl_attention_backward against the CPU twin (scores in double, softmax and
 * gradients by the plain formulas): head dims 1..256, sequence lengths 1..300 with Sq != Sk,
 * causal and not, every mask shape, grouped-query heads, views at unaligned offsets, each
 * device kernel (CPU-driver and shared-memory tiles), fully masked rows, gradchecks of the CPU
 * backward, bad arguments, and a 4096-long sequence whose peak memory must stay linear. The
 * numeric cases are th_op rows; views, optional outputs, empty and long sequences stay plain.
 *
 * Tolerances: the forward is TH_TOL_GEMM (atol 1e-4, rtol 1e-4): each output is a D-long f32 dot
 * product per key (the scores) feeding an f32 online softmax summed over up to 300 keys, against
 * a double reference. The backward uses TOL_BWD (atol 2e-4, rtol 1e-3, nmse 1e-8): its gradients
 * are sums over all query (dk, dv) or key (dq) rows of products whose magnitudes far exceed
 * the result (ds = p * (dp - Di) cancels), so the f32 rounding relative to the result grows. */
#include "harness.h"
#include "runtime/runtime.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const th_tol TOL_BWD = {2e-4, 1e-3, 1e-8};

/* The shared-memory kernels GPUs run, forced on CPU drivers. */
enum { TILED = TH_VS_ONLY(TH_V_NO_CPU_QUIRK) };

enum mask_kind { M_NONE, M_2D, M_B1, M_BH, M_DEAD_ROWS };
static const char *const MASK_NAMES[] = {"", " mask[Sq,Sk]", " mask[B,1,Sq,Sk]", " mask[B,H,Sq,Sk]", ""};

typedef struct acase {
    int64_t B, H, Hkv, Sq, Sk, D;
    int causal;
    enum mask_kind mask;
    unsigned variants;
    bool storage; /* the CPU-driver kernels on storage buffers: a device with no room for texel views
                   * (VKDL_LIMIT=texel=0) makes CPU drivers read every row from storage buffers */
    bool backward;
    float scale;
} acase;

/* Random values with about 1 in 8 entries -inf. */
static void gen_mask(float *m, int64_t n, const th_shape *s, float lo, float hi)
{
    (void)s, (void)lo, (void)hi;
    for (int64_t i = 0; i < n; i++)
        m[i] = th_randu(8) == 0 ? -INFINITY : th_randf(-2.0f, 2.0f);
}

/* Rows 6 and 7 of a 9 x 5 mask all -inf. */
static void gen_dead_rows(float *m, int64_t n, const th_shape *s, float lo, float hi)
{
    (void)s, (void)lo, (void)hi;
    for (int64_t i = 0; i < n; i++)
        m[i] = (i / 5 == 6 || i / 5 == 7) ? -INFINITY : 0.5f * (float)(i % 3);
}

/* Inputs q, k, v and the mask if any; outputs out and lse. params: the acase. */
static vkdl_status forward(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    const acase *c = op->params;
    vkdl_attention_info info = {.scale = c->scale, .causal = c->causal, .mask = c->mask ? in[3] : NULL};
    return vkdl_attention(in[0], in[1], in[2], out[0], out[1], &info);
}

static vkdl_status backward(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out,
                            vkdl_tensor *const *dout, vkdl_tensor *const *din)
{
    const acase *c = op->params;
    vkdl_attention_info info = {.scale = c->scale, .causal = c->causal, .mask = c->mask ? in[3] : NULL};
    return vkdl_attention_backward(in[0], in[1], in[2], out[0], out[1], dout[0], din[0], din[1], din[2], &info);
}

static th_shape mask_shape(const acase *c)
{
    if (c->mask == M_2D || c->mask == M_DEAD_ROWS)
        return (th_shape){2, {c->Sq, c->Sk}};
    return (th_shape){4, {c->B, c->mask == M_B1 ? 1 : c->H, c->Sq, c->Sk}};
}

/* lse gets no gradient (the backward does not take one), nor does the mask. */
static th_op attention_op(const acase *c, const char *name)
{
    th_shape sq = {4, {c->B, c->H, c->Sq, c->D}}, sk = {4, {c->B, c->Hkv, c->Sk, c->D}};
    th_op op = {.name = name, .params = c, .n_in = c->mask ? 4 : 3, .n_out = 2, .forward = forward,
                .backward = c->backward ? backward : NULL, .no_grad = 8u, .tol = &TH_TOL_GEMM, .grad_tol = &TOL_BWD,
                .variants = c->variants, .limit = c->storage ? "texel=0" : NULL,
                .in = {{.shape = sq, .lo = -1, .hi = 1},
                       {.shape = sk, .lo = -1, .hi = 1},
                       {.shape = sk, .lo = -1, .hi = 1},
                       {.shape = mask_shape(c), .fill = TH_FILL_FN,
                        .gen = c->mask == M_DEAD_ROWS ? gen_dead_rows : gen_mask}},
                .out = {{.shape = sq}, {.shape = {3, {c->B, c->H, c->Sq}}, .no_grad = true}}};
    return op;
}

static void run(acase c)
{
    char name[200];
    snprintf(name, sizeof name, "attention%s B%lld H%lld/%lld Sq%lld Sk%lld D%lld%s%s%s%s",
             c.backward ? "+backward" : "", (long long)c.B, (long long)c.H, (long long)c.Hkv, (long long)c.Sq,
             (long long)c.Sk, (long long)c.D, c.causal ? " causal" : "", MASK_NAMES[c.mask],
             c.scale != 0.0f ? " scale" : "", c.storage ? " [storage]" : "");
    th_op op = attention_op(&c, name);
    th_run_op(&op);
}

/* Finite differences of the CPU forward against the CPU backward. */
static void gradcheck(const acase *c)
{
    char name[96];
    snprintf(name, sizeof name, "gradcheck H%lld/%lld Sq%lld Sk%lld D%lld%s%s", (long long)c->H, (long long)c->Hkv,
             (long long)c->Sq, (long long)c->Sk, (long long)c->D, c->causal ? " causal" : "", MASK_NAMES[c->mask]);
    th_op op = attention_op(c, name);
    op.grad = (th_grad){200, 1e-3, 5e-3};
    th_run_op(&op);
}

/* ---------------------------------------------------------------- special cases */

static float *download(const vkdl_tensor *t) { return th_download(t); }

/* Rows that see no key (an all -inf mask row, and causal rows above the diagonal when Sq > Sk)
 * give out 0 and lse -inf; their gradients are 0 and nothing is NaN. Rows 0..3 are above the
 * causal diagonal (Sq - Sk = 4), rows 6 and 7 are masked. */
static void check_dead_rows(const th_op *op, const th_op_result *cpu, const th_op_result *gpu)
{
    const acase *c = op->params;
    const int64_t D = c->D;
    for (int be = 0; be < 2; be++) {
        const th_op_result *r = be ? gpu : cpu;
        float *o = download(r->out[0]), *l = download(r->out[1]), *g = download(r->din[0]);
        for (int64_t row = 0; row < c->H * c->Sq; row++) {
            int64_t i = row % c->Sq;
            bool dead = i < 4 || i == 6 || i == 7;
            if (dead && l[row] != -INFINITY)
                th_fail("%s: lse[%lld] = %g, expected -inf", be ? "gpu" : "cpu", (long long)row, l[row]);
            for (int64_t d = 0; d < D; d++) {
                float ov = o[row * D + d], gv = g[row * D + d];
                if (isnan(ov) || isnan(gv) || (dead && (ov != 0 || gv != 0))) {
                    th_fail("%s: row %lld: out %g dq %g", be ? "gpu" : "cpu", (long long)row, ov, gv);
                    break;
                }
            }
        }
        free(o);
        free(l);
        free(g);
    }
}

static void run_fully_masked(void)
{
    static const acase c = {.B = 1, .H = 2, .Hkv = 2, .Sq = 9, .Sk = 5, .D = 8, .causal = 1, .mask = M_DEAD_ROWS,
                            .variants = TH_VS_ONLY(TH_V_DEFAULT) | TILED, .backward = true};
    th_op op = attention_op(&c, "fully masked rows");
    op.check = check_dead_rows;
    th_run_op(&op);
}

/* q, k, v, out and the gradients as views 4 bytes into their buffers: not 16-byte aligned, so
 * the vec4 kernels cannot bind them and the scalar ones run; nothing around a view is written. */
static void run_views(void *arg)
{
    (void)arg;
    const int64_t B = 1, H = 2, Hkv = 1, Sq = 5, Sk = 7, D = 8;
    int64_t sq[4] = {B, H, Sq, D}, sk[4] = {B, Hkv, Sk, D}, sl[3] = {B, H, Sq};
    int64_t nq = B * H * Sq * D + 2, nk = B * Hkv * Sk * D + 2;
    th_pair bq[3], bk[4], vq[3], vk[4], bdq, vdq; /* q, out, dout; k, v, dk, dv; dq */
    for (int i = 0; i < 3; i++)
        bq[i] = th_rand(VKDL_F32, 1, &nq, -1.0f, 1.0f);
    for (int i = 0; i < 4; i++)
        bk[i] = th_rand(VKDL_F32, 1, &nk, -1.0f, 1.0f);
    bdq = th_rand(VKDL_F32, 1, &nq, -1.0f, 1.0f);
    th_pair lse = th_empty(VKDL_F32, 3, sl);
    vkdl_tensor *tmp;
#define VIEW(dst, src, shape)                                                  \
    do {                                                                       \
        TH_OK(vkdl_tensor_slice((src).cpu, 1, vkdl_tensor_numel((src).cpu) - 1, &tmp)); \
        TH_OK(vkdl_tensor_reshape(tmp, 4, shape, &(dst).cpu));                  \
        vkdl_tensor_destroy(tmp);                                              \
        TH_OK(vkdl_tensor_slice((src).gpu, 1, vkdl_tensor_numel((src).gpu) - 1, &tmp)); \
        TH_OK(vkdl_tensor_reshape(tmp, 4, shape, &(dst).gpu));                  \
        vkdl_tensor_destroy(tmp);                                              \
    } while (0)
    for (int i = 0; i < 3; i++)
        VIEW(vq[i], bq[i], sq);
    for (int i = 0; i < 4; i++)
        VIEW(vk[i], bk[i], sk);
    VIEW(vdq, bdq, sq);
#undef VIEW
    vkdl_attention_info info = {.causal = 1};
    TH_OK(vkdl_attention(vq[0].cpu, vk[0].cpu, vk[1].cpu, vq[1].cpu, lse.cpu, &info));
    TH_OK(vkdl_attention(vq[0].gpu, vk[0].gpu, vk[1].gpu, vq[1].gpu, lse.gpu, &info));
    TH_OK(vkdl_attention_backward(vq[0].cpu, vk[0].cpu, vk[1].cpu, vq[1].cpu, lse.cpu, vq[2].cpu, vdq.cpu, vk[2].cpu,
                                  vk[3].cpu, &info));
    TH_OK(vkdl_attention_backward(vq[0].gpu, vk[0].gpu, vk[1].gpu, vq[1].gpu, lse.gpu, vq[2].gpu, vdq.gpu, vk[2].gpu,
                                  vk[3].gpu, &info));
    for (int i = 0; i < 3; i++)
        th_free(&vq[i]);
    for (int i = 0; i < 4; i++)
        th_free(&vk[i]);
    th_free(&vdq);
    th_compare(&bq[1], TH_TOL_GEMM);
    th_compare(&bdq, TOL_BWD);
    th_compare(&bk[2], TOL_BWD);
    th_compare(&bk[3], TOL_BWD);
    for (int i = 0; i < 3; i++)
        th_free(&bq[i]);
    for (int i = 0; i < 4; i++)
        th_free(&bk[i]);
    th_free(&bdq);
    th_free(&lse);
}

/* Optional outputs: no lse in the forward; each gradient alone in the backward. Backward twice
 * gives the same bits. */
static void run_optional(void *arg)
{
    (void)arg;
    const int64_t B = 2, H = 4, Hkv = 2, Sq = 11, Sk = 13, D = 16;
    int64_t sq[4] = {B, H, Sq, D}, sk[4] = {B, Hkv, Sk, D}, sl[3] = {B, H, Sq};
    th_pair q = th_rand(VKDL_F32, 4, sq, -1.0f, 1.0f), k = th_rand(VKDL_F32, 4, sk, -1.0f, 1.0f);
    th_pair v = th_rand(VKDL_F32, 4, sk, -1.0f, 1.0f), dout = th_rand(VKDL_F32, 4, sq, -1.0f, 1.0f);
    th_pair out = th_empty(VKDL_F32, 4, sq), lse = th_empty(VKDL_F32, 3, sl);
    th_pair dq = th_empty(VKDL_F32, 4, sq), dk = th_empty(VKDL_F32, 4, sk), dv = th_empty(VKDL_F32, 4, sk);
    TH_OK(vkdl_attention(q.cpu, k.cpu, v.cpu, out.cpu, NULL, NULL));
    TH_OK(vkdl_attention(q.gpu, k.gpu, v.gpu, out.gpu, NULL, NULL));
    th_compare(&out, TH_TOL_GEMM);
    TH_OK(vkdl_attention(q.cpu, k.cpu, v.cpu, out.cpu, lse.cpu, NULL));
    TH_OK(vkdl_attention(q.gpu, k.gpu, v.gpu, out.gpu, lse.gpu, NULL));
    TH_OK(vkdl_attention_backward(q.cpu, k.cpu, v.cpu, out.cpu, lse.cpu, dout.cpu, dq.cpu, dk.cpu, dv.cpu, NULL));
    TH_OK(vkdl_attention_backward(q.gpu, k.gpu, v.gpu, out.gpu, lse.gpu, dout.gpu, NULL, NULL, dv.gpu, NULL));
    TH_OK(vkdl_attention_backward(q.gpu, k.gpu, v.gpu, out.gpu, lse.gpu, dout.gpu, NULL, dk.gpu, NULL, NULL));
    TH_OK(vkdl_attention_backward(q.gpu, k.gpu, v.gpu, out.gpu, lse.gpu, dout.gpu, dq.gpu, NULL, NULL, NULL));
    th_compare(&dq, TOL_BWD);
    th_compare(&dk, TOL_BWD);
    th_compare(&dv, TOL_BWD);
    float *a = download(dk.gpu);
    TH_OK(vkdl_attention_backward(q.gpu, k.gpu, v.gpu, out.gpu, lse.gpu, dout.gpu, dq.gpu, dk.gpu, dv.gpu, NULL));
    float *b = download(dk.gpu);
    if (memcmp(a, b, (size_t)(B * Hkv * Sk * D) * sizeof *a) != 0)
        th_fail("two backward runs differ");
    free(a);
    free(b);
    th_pair *all[] = {&q, &k, &v, &dout, &out, &lse, &dq, &dk, &dv};
    for (size_t i = 0; i < TH_LEN(all); i++)
        th_free(all[i]);
}

/* No keys: every row is fully masked. No queries: dk and dv are 0. */
static void run_empty(void *arg)
{
    (void)arg;
    int64_t sq[4] = {2, 2, 3, 4}, sk0[4] = {2, 1, 0, 4}, sl[3] = {2, 2, 3};
    int64_t sq0[4] = {2, 2, 0, 4}, sk[4] = {2, 1, 5, 4}, sl0[3] = {2, 2, 0};
    th_pair q = th_rand(VKDL_F32, 4, sq, -1.0f, 1.0f), k0 = th_empty(VKDL_F32, 4, sk0);
    th_pair out = th_empty(VKDL_F32, 4, sq), lse = th_empty(VKDL_F32, 3, sl), dq = th_empty(VKDL_F32, 4, sq);
    TH_OK(vkdl_attention(q.cpu, k0.cpu, k0.cpu, out.cpu, lse.cpu, NULL));
    TH_OK(vkdl_attention(q.gpu, k0.gpu, k0.gpu, out.gpu, lse.gpu, NULL));
    th_compare(&out, TH_TOL_EXACT);
    th_compare(&lse, TH_TOL_EXACT);
    TH_OK(vkdl_attention_backward(q.cpu, k0.cpu, k0.cpu, out.cpu, lse.cpu, q.cpu, dq.cpu, k0.cpu, k0.cpu, NULL));
    TH_OK(vkdl_attention_backward(q.gpu, k0.gpu, k0.gpu, out.gpu, lse.gpu, q.gpu, dq.gpu, k0.gpu, k0.gpu, NULL));
    th_compare(&dq, TH_TOL_EXACT);
    th_pair q0 = th_empty(VKDL_F32, 4, sq0), l0 = th_empty(VKDL_F32, 3, sl0);
    th_pair k = th_rand(VKDL_F32, 4, sk, -1.0f, 1.0f), dk = th_empty(VKDL_F32, 4, sk), dv = th_empty(VKDL_F32, 4, sk);
    TH_OK(vkdl_attention(q0.cpu, k.cpu, k.cpu, q0.cpu, l0.cpu, NULL));
    TH_OK(vkdl_attention(q0.gpu, k.gpu, k.gpu, q0.gpu, l0.gpu, NULL));
    TH_OK(vkdl_attention_backward(q0.cpu, k.cpu, k.cpu, q0.cpu, l0.cpu, q0.cpu, q0.cpu, dk.cpu, dv.cpu, NULL));
    TH_OK(vkdl_attention_backward(q0.gpu, k.gpu, k.gpu, q0.gpu, l0.gpu, q0.gpu, q0.gpu, dk.gpu, dv.gpu, NULL));
    th_compare(&dk, TH_TOL_EXACT);
    th_compare(&dv, TH_TOL_EXACT);
    th_pair *all[] = {&q, &k0, &out, &lse, &dq, &q0, &l0, &k, &dk, &dv};
    for (size_t i = 0; i < TH_LEN(all); i++)
        th_free(all[i]);
}

/* Seq 4096 forward and seq 2048 backward, D 64: the device memory beyond the tensors themselves
 * stays under 1 MB (a 4096 x 4096 score matrix would be 64 MB). The backward runs at 2048 to keep
 * the binary within its time budget on SwiftShader (about 15 s at 4096 there). */
static void run_long(void *arg)
{
    bool backward = arg != NULL;
    const int64_t S = backward ? 2048 : 4096, D = 64;
    int64_t s4[4] = {1, 1, S, D}, s3[3] = {1, 1, S};
    vkdl_tensor *t[9] = {0}; /* q, k, v, out, lse, dout, dq, dk, dv */
    int n = backward ? 9 : 5;
    for (int i = 0; i < n; i++)
        TH_OK(vkdl_tensor_create(th_gpu, VKDL_F32, i == 4 ? 3 : 4, i == 4 ? s3 : s4, &t[i]));
    float *h = malloc((size_t)(S * D) * sizeof *h);
    for (int i = 0; i < n && i < 6; i++) {
        if (i == 3 || i == 4)
            continue;
        for (int64_t x = 0; x < S * D; x++)
            h[x] = th_randf(-1.0f, 1.0f);
        TH_OK(vkdl_tensor_upload(t[i], h, VKDL_F32, (size_t)(S * D) * sizeof *h));
    }
    vkdl_attention_info info = {.causal = 1};
    if (backward)
        TH_OK(vkdl_attention(t[0], t[1], t[2], t[3], t[4], &info));
    TH_OK(vkdl_sync(th_gpu));
    size_t cur, peak;
    vkdl_context_memory(th_gpu, &cur, NULL);
    vkdl_context_reset_peak(th_gpu);
    if (backward)
        TH_OK(vkdl_attention_backward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], &info));
    else
        TH_OK(vkdl_attention(t[0], t[1], t[2], t[3], t[4], &info));
    TH_OK(vkdl_sync(th_gpu));
    vkdl_context_memory(th_gpu, NULL, &peak);
    if (peak - cur >= (1u << 20))
        th_fail("peak %zu bytes for %zu bytes of tensors", peak, cur);
    /* outputs are convex mixes of rows in [-1, 1] (forward), and finite (backward) */
    TH_OK(vkdl_tensor_download(t[backward ? 7 : 3], h, VKDL_F32, (size_t)(S * D) * sizeof *h));
    for (int64_t x = 0; x < S * D; x++) {
        if (!(fabsf(h[x]) <= (backward ? 1e3f : 1.0f))) {
            th_fail("%s[%lld] = %g", backward ? "dk" : "out", (long long)x, h[x]);
            break;
        }
    }
    free(h);
    for (int i = 0; i < n; i++)
        vkdl_tensor_destroy(t[i]);
}

static void run_bad(void *arg)
{
    (void)arg;
    vkdl_context *ctx = th_gpu;
    int64_t sq[4] = {2, 6, 5, 8}, sk[4] = {2, 2, 7, 8}, sk4[4] = {2, 4, 7, 8}, skd[4] = {2, 2, 7, 4};
    int64_t sv[4] = {2, 2, 6, 8}, sl[3] = {2, 6, 5}, slb[3] = {2, 6, 4}, sm[2] = {5, 7}, smb[2] = {7, 5};
    int64_t sm4[4] = {2, 3, 5, 7}, s3[3] = {6, 5, 8}, sbig[4] = {1, 1, 2, 300}, sbb[4] = {3, 2, 7, 8};
    vkdl_tensor *q, *k, *v, *k4, *kd, *vb, *out, *lse, *lseb, *m, *mb, *m4, *q3, *qi, *big, *kb, *qc;
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, sq, &q));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, sk, &k));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, sk, &v));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, sk4, &k4));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, skd, &kd));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, sv, &vb));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, sq, &out));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 3, sl, &lse));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 3, slb, &lseb));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 2, sm, &m));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 2, smb, &mb));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, sm4, &m4));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 3, s3, &q3));
    TH_OK(vkdl_tensor_create(ctx, VKDL_I32, 4, sq, &qi));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, sbig, &big));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, sbb, &kb));
    TH_OK(vkdl_tensor_create(th_cpu, VKDL_F32, 4, sq, &qc));

    TH_STATUS(vkdl_attention(NULL, k, v, out, lse, NULL), VKDL_ERROR_INVALID_ARGUMENT, "attention: q is NULL");
    TH_STATUS(vkdl_attention(q, NULL, v, out, lse, NULL), VKDL_ERROR_INVALID_ARGUMENT, "attention: k is NULL");
    TH_STATUS(vkdl_attention(q, k, v, NULL, lse, NULL), VKDL_ERROR_INVALID_ARGUMENT, "attention: out is NULL");
    TH_STATUS(vkdl_attention(qi, k, v, out, lse, NULL), VKDL_ERROR_DTYPE_MISMATCH, "q is i32");
    TH_STATUS(vkdl_attention(qc, k, v, out, lse, NULL), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    TH_STATUS(vkdl_attention(q3, k, v, out, lse, NULL), VKDL_ERROR_SHAPE_MISMATCH, "expected 4 dims");
    TH_STATUS(vkdl_attention(q, k4, k4, out, lse, NULL), VKDL_ERROR_SHAPE_MISMATCH, "not a multiple of the 4 kv heads");
    TH_STATUS(vkdl_attention(q, kd, kd, out, lse, NULL), VKDL_ERROR_SHAPE_MISMATCH, "head dim 4 but q");
    TH_STATUS(vkdl_attention(q, k, vb, out, lse, NULL), VKDL_ERROR_SHAPE_MISMATCH, "v is 2x2x6x8 but must match k");
    TH_STATUS(vkdl_attention(q, kb, kb, out, lse, NULL), VKDL_ERROR_SHAPE_MISMATCH, "has batch 3");
    TH_STATUS(vkdl_attention(q, k, v, lse, NULL, NULL), VKDL_ERROR_SHAPE_MISMATCH, "out is 2x6x5 but must match q");
    TH_STATUS(vkdl_attention(q, k, v, out, lseb, NULL), VKDL_ERROR_SHAPE_MISMATCH, "lse is 2x6x4, expected [B,H,Sq]");
    TH_STATUS(vkdl_attention(big, big, big, big, NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT, "head dim 300");
    vkdl_attention_info ib = {.mask = mb};
    TH_STATUS(vkdl_attention(q, k, v, out, lse, &ib), VKDL_ERROR_SHAPE_MISMATCH, "mask is 7x5, expected [Sq,Sk] = 5x7");
    ib.mask = m4;
    TH_STATUS(vkdl_attention(q, k, v, out, lse, &ib), VKDL_ERROR_SHAPE_MISMATCH, "mask is 2x3x5x7");
    ib.mask = m;
    ib.scale = INFINITY;
    TH_STATUS(vkdl_attention(q, k, v, out, lse, &ib), VKDL_ERROR_INVALID_ARGUMENT, "scale inf");

    TH_STATUS(vkdl_attention_backward(q, k, v, out, NULL, out, out, k, v, NULL), VKDL_ERROR_INVALID_ARGUMENT,
              "attention_backward: lse is NULL");
    TH_STATUS(vkdl_attention_backward(q, k, v, out, lse, NULL, out, k, v, NULL), VKDL_ERROR_INVALID_ARGUMENT,
              "attention_backward: dout is NULL");
    TH_STATUS(vkdl_attention_backward(q, k, v, out, lseb, out, out, k, v, NULL), VKDL_ERROR_SHAPE_MISMATCH, "lse is 2x6x4");
    TH_STATUS(vkdl_attention_backward(q, k, v, out, lse, out, k, k, v, NULL), VKDL_ERROR_SHAPE_MISMATCH,
              "dq is 2x2x7x8 but must match q");
    TH_STATUS(vkdl_attention_backward(q, k, v, out, lse, out, out, vb, v, NULL), VKDL_ERROR_SHAPE_MISMATCH,
              "dk is 2x2x6x8 but must match k");
    TH_STATUS(vkdl_attention_backward(q, k, v, out, lse, out, out, k, q, NULL), VKDL_ERROR_SHAPE_MISMATCH,
              "dv is 2x6x5x8 but must match v");
    TH_STATUS(vkdl_attention_backward(q, k4, k4, out, lse, out, out, k4, k4, NULL), VKDL_ERROR_SHAPE_MISMATCH,
              "not a multiple");

    vkdl_tensor *all[] = {q, k, v, k4, kd, vb, out, lse, lseb, m, mb, m4, q3, qi, big, kb, qc};
    for (size_t i = 0; i < TH_LEN(all); i++)
        vkdl_tensor_destroy(all[i]);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);

    /* head dims, causal and not, forward and backward */
    static const int64_t dims[] = {1, 3, 16, 64, 80, 128};
    for (size_t i = 0; i < TH_LEN(dims); i++)
        for (int causal = 0; causal < 2; causal++)
            run((acase){.B = 2, .H = 2, .Hkv = 2, .Sq = 17, .Sk = 17, .D = dims[i], .causal = causal, .backward = true});
    run((acase){.B = 1, .H = 2, .Hkv = 1, .Sq = 33, .Sk = 40, .D = 256, .causal = 1, .backward = true});

    /* sequence lengths, Sq != Sk both ways (causal is bottom-right aligned) */
    static const int64_t lens[][2] = {{1, 1}, {1, 300}, {3, 17}, {17, 3}, {127, 127}, {300, 300}, {127, 300}, {300, 127}};
    for (size_t i = 0; i < TH_LEN(lens); i++)
        for (int causal = 0; causal < 2; causal++)
            run((acase){.B = 1, .H = 1, .Hkv = 1, .Sq = lens[i][0], .Sk = lens[i][1], .D = 64, .causal = causal,
                        .backward = true});

    /* masks, grouped-query heads, batches, explicit scale */
    for (int mk = M_2D; mk <= M_BH; mk++)
        for (int causal = 0; causal < 2; causal++)
            run((acase){.B = 2, .H = 4, .Hkv = 2, .Sq = 17, .Sk = 33, .D = 16, .causal = causal,
                        .mask = (enum mask_kind)mk, .backward = true});
    run((acase){.B = 3, .H = 4, .Hkv = 1, .Sq = 17, .Sk = 127, .D = 64, .causal = 1, .backward = true});
    run((acase){.B = 3, .H = 6, .Hkv = 2, .Sq = 127, .Sk = 127, .D = 16, .mask = M_B1, .backward = true});
    run((acase){.B = 2, .H = 6, .Hkv = 2, .Sq = 3, .Sk = 127, .D = 3, .causal = 1, .mask = M_BH, .backward = true});
    run((acase){.B = 1, .H = 4, .Hkv = 1, .Sq = 1, .Sk = 300, .D = 128, .causal = 1, .backward = true});
    run((acase){.B = 2, .H = 2, .Hkv = 1, .Sq = 17, .Sk = 17, .D = 16, .scale = 0.7f, .backward = true});
    run((acase){.B = 1, .H = 2, .Hkv = 2, .Sq = 1000, .Sk = 1000, .D = 64, .causal = 1});

    /* the shared-memory kernels GPUs run */
    run((acase){.B = 2, .H = 2, .Hkv = 2, .Sq = 17, .Sk = 17, .D = 16, .causal = 1, .variants = TILED,
                .backward = true});
    run((acase){.B = 1, .H = 1, .Hkv = 1, .Sq = 127, .Sk = 300, .D = 64, .causal = 1, .mask = M_2D, .variants = TILED,
                .backward = true});
    run((acase){.B = 2, .H = 6, .Hkv = 2, .Sq = 70, .Sk = 17, .D = 64, .causal = 1, .mask = M_2D, .variants = TILED,
                .backward = true});
    run((acase){.B = 1, .H = 4, .Hkv = 1, .Sq = 1, .Sk = 100, .D = 256, .variants = TILED, .backward = true});
    run((acase){.B = 1, .H = 2, .Hkv = 1, .Sq = 17, .Sk = 9, .D = 3, .causal = 1, .variants = TILED, .backward = true});

    /* CPU drivers' kernels on storage buffers (tensors too large for texel views) */
    run((acase){.B = 2, .H = 6, .Hkv = 2, .Sq = 70, .Sk = 17, .D = 64, .causal = 1, .mask = M_BH, .storage = true,
                .backward = true});
    run((acase){.B = 1, .H = 2, .Hkv = 1, .Sq = 17, .Sk = 9, .D = 3, .causal = 1, .storage = true, .backward = true});

    /* finite differences of the CPU forward against the CPU backward */
    static const acase grads[] = {
        {.B = 1, .H = 2, .Hkv = 1, .Sq = 3, .Sk = 4, .D = 3},
        {.B = 1, .H = 2, .Hkv = 2, .Sq = 4, .Sk = 3, .D = 2, .causal = 1, .mask = M_2D},
        {.B = 2, .H = 2, .Hkv = 1, .Sq = 2, .Sk = 5, .D = 4, .causal = 1, .mask = M_BH, .scale = 0.3f},
    };
    for (size_t i = 0; i < TH_LEN(grads); i++)
        gradcheck(&grads[i]);

    run_fully_masked();
    th_run("views at unaligned offsets", run_views, NULL);
    th_run("optional outputs, deterministic backward", run_optional, NULL);
    th_run("empty sequences", run_empty, NULL);
    th_run("seq 4096 forward: memory stays linear", run_long, NULL);
    th_run("seq 2048 backward: memory stays linear", run_long, (void *)1);
    th_run("bad arguments", run_bad, NULL);
    return th_finish();
}
