/* vkdl_matmul against OpenBLAS (the CPU twin): every transpose combination, alpha/beta, batch
 * broadcasting, views, and shapes that are not multiples of any tile; the fused epilogue (bias and
 * every activation); f16 and bf16 operands with f32 or 16-bit outputs. lib/ops/matmul.c,
 * shaders/matmul.comp.
 *
 * Tolerances. 16-bit inputs are rounded on upload on both backends, so both GEMMs see the same
 * values and an f32 out keeps TH_TOL_GEMM. A 16-bit out is rounded once from f32 results that
 * differ by GEMM rounding (~1e-6 relative), which may land on neighbouring representable values:
 * one ulp, at most 2^-10 (f16) or 2^-7 (bf16) of the value, hence rtol 1e-3 and 8e-3; atol covers
 * results near zero where the f32 difference itself dominates. */
#include "harness.h"

#include <stdio.h>

static const th_tol MM_TOL_F16 = {1e-4, 1e-3, 1e-7};
static const th_tol MM_TOL_BF16 = {1e-3, 8e-3, 1e-5};

static const th_tol *out_tol(vkdl_dtype t)
{
    return t == VKDL_F16 ? &MM_TOL_F16 : t == VKDL_BF16 ? &MM_TOL_BF16 : &TH_TOL_GEMM;
}


typedef struct mm_case {
    int64_t batch, m, n, k;
    int ta, tb;
    float alpha, beta;
    int shared_b;           /* b is a plain matrix used by every batch */
    vkdl_dtype dtype, odt;  /* of a and b, and of out */
    int bias;
    int act1;               /* vkdl_unary_op + 1; 0: no activation */
} mm_case;

static const char *act_name(int act1) { return act1 ? vkdl_unary_op_name((vkdl_unary_op)(act1 - 1)) : "none"; }

/* params: the mm_case; the bias, when there is one, is the third input. */
static vkdl_status matmul(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    const mm_case *c = op->params;
    vkdl_matmul_info info = {.trans_a = c->ta, .trans_b = c->tb, .alpha = c->alpha, .beta = c->beta,
                             .fuse_act = c->act1 != 0, .act = (vkdl_unary_op)(c->act1 ? c->act1 - 1 : 0),
                             .bias = c->bias ? in[2] : NULL};
    return vkdl_matmul(in[0], in[1], out[0], &info);
}

/* On the device path `variants` picks (the default when 0), with the kernels named in disable
 * (VKDL_DISABLE words, or NULL) turned off. */
static void run_mm(const mm_case *c, const char *name, unsigned variants, const char *disable)
{
    /* these need positive pre-activations (reciprocal: none near 0, which magnifies rounding) */
    int act = c->act1 - 1;
    bool pos = act == VKDL_LOG || act == VKDL_SQRT || act == VKDL_RECIPROCAL || act == VKDL_ACOSH ||
               act == VKDL_ASIN || act == VKDL_ACOS || act == VKDL_ATANH;
    float lo = pos ? 0.05f : -1.0f;
    th_shape sa = {3, {c->batch, c->ta ? c->k : c->m, c->ta ? c->m : c->k}};
    th_shape sb = {3, {c->batch, c->tb ? c->n : c->k, c->tb ? c->k : c->n}};
    if (c->shared_b)
        sb = (th_shape){2, {sb.d[1], sb.d[2]}};
    th_op op = {.name = name, .params = c, .n_in = c->bias ? 3 : 2, .n_out = 1, .forward = matmul,
                .in = {{.shape = sa, .dtype = c->dtype, .lo = lo, .hi = 1},
                       {.shape = sb, .dtype = c->dtype, .lo = lo, .hi = 1},
                       {.shape = {1, {c->n}}, .lo = lo < 0 ? -1 : 0, .hi = 1}},
                .out = {{.shape = {3, {c->batch, c->m, c->n}}, .dtype = c->odt, .accumulate = c->beta != 0}},
                .tol = out_tol(c->odt), .variants = variants, .disable = disable};
    th_run_op(&op);
}

/* 16-bit operands and out as views at odd element offsets: the word-packed storage path, and
 * 16-bit outputs whose first and last words are shared with neighbouring data. */
static void run_views16(void *arg)
{
    vkdl_dtype dt = *(const vkdl_dtype *)arg;
    int64_t sa[2] = {40, 33}, sb[2] = {35, 19}, so[2] = {39, 19}, sbias[1] = {19};
    th_pair a = th_rand(dt, 2, sa, -1, 1), b = th_rand(dt, 2, sb, -1, 1), o = th_rand(dt, 2, so, -1, 1);
    th_pair bias = th_rand(VKDL_F32, 1, sbias, -1, 1);
    vkdl_tensor *v[2][3];
    for (int g = 0; g < 2; g++) {
        TH_OK(vkdl_tensor_slice(g ? a.gpu : a.cpu, 3, 39, &v[g][0]));
        TH_OK(vkdl_tensor_slice(g ? b.gpu : b.cpu, 1, 34, &v[g][1]));
        TH_OK(vkdl_tensor_slice(g ? o.gpu : o.cpu, 1, 37, &v[g][2])); /* 36 rows from element 19 */
        vkdl_matmul_info info = {.alpha = 1.0f, .beta = 0.5f, .bias = g ? bias.gpu : bias.cpu, .fuse_act = 1,
                                 .act = VKDL_GELU_TANH};
        TH_OK(vkdl_matmul(v[g][0], v[g][1], v[g][2], &info));
    }
    /* the rows outside the out view must be untouched */
    th_compare(&o, *out_tol(dt));
    for (int g = 0; g < 2; g++)
        for (int i = 0; i < 3; i++)
            vkdl_tensor_destroy(v[g][i]);
    th_free(&a);
    th_free(&b);
    th_free(&o);
    th_free(&bias);
}

/* Operands that are views at offsets no kernel alignment assumes. */
static void run_views(void *arg)
{
    (void)arg;
    int64_t sa[2] = {40, 33}, sb[2] = {35, 19}, so[2] = {37, 19};
    th_pair a = th_rand(VKDL_F32, 2, sa, -1, 1), b = th_rand(VKDL_F32, 2, sb, -1, 1);
    th_pair o = th_empty(VKDL_F32, 2, so);
    vkdl_tensor *ac, *ag, *bc, *bg, *rc, *rg;
    TH_OK(vkdl_tensor_slice(a.cpu, 3, 40, &ac));
    TH_OK(vkdl_tensor_slice(a.gpu, 3, 40, &ag));
    TH_OK(vkdl_tensor_slice(b.cpu, 1, 34, &bc));
    TH_OK(vkdl_tensor_slice(b.gpu, 1, 34, &bg));
    int64_t s2[2] = {33, 19};
    (void)s2;
    TH_OK(vkdl_matmul(ac, bc, o.cpu, NULL));
    TH_OK(vkdl_matmul(ag, bg, o.gpu, NULL));
    th_compare(&o, TH_TOL_GEMM);
    /* a reshaped view as a batch of matrices */
    int64_t s3[3] = {1, 37, 33};
    TH_OK(vkdl_tensor_reshape(ac, 3, s3, &rc));
    TH_OK(vkdl_tensor_reshape(ag, 3, s3, &rg));
    vkdl_tensor_destroy(ac);
    vkdl_tensor_destroy(ag);
    vkdl_tensor_destroy(bc);
    vkdl_tensor_destroy(bg);
    vkdl_tensor_destroy(rc);
    vkdl_tensor_destroy(rg);
    th_free(&a);
    th_free(&b);
    th_free(&o);
}

static void run_bad(void *arg)
{
    (void)arg;
    int64_t s34[2] = {3, 4}, s56[2] = {5, 6}, s36[2] = {3, 6}, s246[3] = {2, 4, 6}, s3246[3] = {3, 4, 6},
            s236[3] = {2, 3, 6}, s1[1] = {4};
    th_pair a = th_rand(VKDL_F32, 2, s34, 0, 1), b = th_rand(VKDL_F32, 2, s56, 0, 1), o = th_empty(VKDL_F32, 2, s36);
    th_pair b3 = th_rand(VKDL_F32, 3, s3246, 0, 1), o3 = th_empty(VKDL_F32, 3, s236), b2 = th_rand(VKDL_F32, 3, s246, 0, 1);
    th_pair v = th_rand(VKDL_F32, 1, s1, 0, 1), i = th_empty(VKDL_I32, 2, s34);
    TH_STATUS(vkdl_matmul(a.gpu, b.gpu, o.gpu, NULL), VKDL_ERROR_SHAPE_MISMATCH, "inner dims differ: a is 3x4, b is 5x6");
    TH_STATUS(vkdl_matmul(a.gpu, b2.gpu, o.gpu, NULL), VKDL_ERROR_SHAPE_MISMATCH, "batch dims");
    TH_STATUS(vkdl_matmul(a.gpu, b3.gpu, o3.gpu, NULL), VKDL_ERROR_SHAPE_MISMATCH, "batch dims of b");
    TH_STATUS(vkdl_matmul(v.gpu, v.gpu, o.gpu, NULL), VKDL_ERROR_SHAPE_MISMATCH, "at least 2 dims");
    TH_STATUS(vkdl_matmul(i.gpu, b.gpu, o.gpu, NULL), VKDL_ERROR_DTYPE_MISMATCH, NULL);
    TH_STATUS(vkdl_matmul(NULL, b.gpu, o.gpu, NULL), VKDL_ERROR_INVALID_ARGUMENT, "a is NULL");
    TH_STATUS(vkdl_matmul(a.cpu, b.gpu, o.gpu, NULL), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    th_free(&a);
    th_free(&b);
    th_free(&o);
    th_free(&b3);
    th_free(&o3);
    th_free(&b2);
    th_free(&v);
    th_free(&i);
}

static void run_bad_types(void *arg)
{
    (void)arg;
    int64_t s34[2] = {3, 4}, s45[2] = {4, 5}, s35[2] = {3, 5}, s5[1] = {5}, s6[1] = {6}, s15[2] = {1, 5};
    th_pair a = th_rand(VKDL_F32, 2, s34, 0, 1), b = th_rand(VKDL_F32, 2, s45, 0, 1), o = th_empty(VKDL_F32, 2, s35);
    th_pair a16 = th_rand(VKDL_F16, 2, s34, 0, 1), b16 = th_rand(VKDL_F16, 2, s45, 0, 1);
    th_pair ob = th_empty(VKDL_BF16, 2, s35), o16 = th_empty(VKDL_F16, 2, s35);
    th_pair bias = th_rand(VKDL_F32, 1, s5, 0, 1), bias6 = th_rand(VKDL_F32, 1, s6, 0, 1);
    th_pair bias2d = th_rand(VKDL_F32, 2, s15, 0, 1), bias16 = th_rand(VKDL_F16, 1, s5, 0, 1);
    TH_STATUS(vkdl_matmul(a16.gpu, b.gpu, o.gpu, NULL), VKDL_ERROR_DTYPE_MISMATCH, "b is f32 but a is f16");
    TH_STATUS(vkdl_matmul(a16.gpu, b16.gpu, ob.gpu, NULL), VKDL_ERROR_DTYPE_MISMATCH, "out is bf16; it must be f32 or a's dtype f16");
    TH_STATUS(vkdl_matmul(a.gpu, b.gpu, o16.gpu, NULL), VKDL_ERROR_DTYPE_MISMATCH, "out is f16");
    vkdl_matmul_info info = {.alpha = 1, .bias = bias6.gpu};
    TH_STATUS(vkdl_matmul(a.gpu, b.gpu, o.gpu, &info), VKDL_ERROR_SHAPE_MISMATCH, "bias is 6, expected [5]");
    info.bias = bias2d.gpu;
    TH_STATUS(vkdl_matmul(a.gpu, b.gpu, o.gpu, &info), VKDL_ERROR_SHAPE_MISMATCH, "bias is 1x5");
    info.bias = bias16.gpu;
    TH_STATUS(vkdl_matmul(a.gpu, b.gpu, o.gpu, &info), VKDL_ERROR_DTYPE_MISMATCH, "bias");
    info.bias = bias.cpu;
    TH_STATUS(vkdl_matmul(a.gpu, b.gpu, o.gpu, &info), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    info.bias = bias.gpu;
    info.fuse_act = 1;
    info.act = VKDL_UNARY_OP_COUNT;
    TH_STATUS(vkdl_matmul(a.gpu, b.gpu, o.gpu, &info), VKDL_ERROR_INVALID_ARGUMENT, "invalid act");
    info.act = VKDL_RELU;
    TH_OK(vkdl_matmul(a.gpu, b.gpu, o.gpu, &info));
    th_pair ps[] = {a, b, o, a16, b16, ob, o16, bias, bias6, bias2d, bias16};
    for (size_t i = 0; i < sizeof ps / sizeof *ps; i++)
        th_free(&ps[i]);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    static const int64_t DIMS[] = {1, 3, 17, 127, 64, 33};
    char name[128];
    /* every transpose combination on a grid of odd sizes */
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (size_t i = 0; i < 6; i++)
                for (size_t j = 0; j < 6; j += 2) {
                    int64_t m = DIMS[i], n = DIMS[(i + j + 1) % 6], k = DIMS[(i + 2 * j + 2) % 6];
                    mm_case c = {1, m, n, k, ta, tb, 1.0f, 0.0f, 0, VKDL_F32, VKDL_F32, 0, 0};
                    snprintf(name, sizeof name, "matmul/t%d%d/%lldx%lldx%lld", ta, tb, (long long)m, (long long)n,
                             (long long)k);
                    run_mm(&c, name, 0, NULL);
                }
    static const mm_case MORE[] = {
        {1, 1000, 1, 1000, 0, 0, 1, 0, 0, VKDL_F32, VKDL_F32, 0, 0}, /* matrix-vector */
        {1, 1, 1000, 1000, 0, 0, 1, 0, 0, VKDL_F32, VKDL_F32, 0, 0}, /* vector-matrix */
        {1, 1000, 1000, 3, 0, 0, 1, 0, 0, VKDL_F32, VKDL_F32, 0, 0}, /* outer-product-like */
        {1, 257, 255, 129, 0, 1, 0.5f, 0, 0, VKDL_F32, VKDL_F32, 0, 0},
        {1, 129, 131, 517, 1, 1, -1.5f, 0, 0, VKDL_F32, VKDL_F32, 0, 0},
        {1, 100, 70, 200, 0, 0, 2.0f, 0.5f, 0, VKDL_F32, VKDL_F32, 0, 0}, /* beta: accumulate into out */
        {1, 33, 17, 9, 1, 0, 1.0f, 1.0f, 0, VKDL_F32, VKDL_F32, 0, 0},
        {64, 17, 19, 23, 0, 0, 1, 0, 0, VKDL_F32, VKDL_F32, 0, 0}, /* batches */
        {300, 5, 7, 3, 0, 1, 1, 0, 0, VKDL_F32, VKDL_F32, 0, 0}, /* large batch of tiny matrices */
        {7, 33, 65, 127, 1, 0, 1, 0, 1, VKDL_F32, VKDL_F32, 0, 0}, /* b shared by every batch */
        {3, 64, 64, 64, 0, 0, 1, 0, 1, VKDL_F32, VKDL_F32, 0, 0},
        {1, 512, 512, 512, 0, 0, 1, 0, 0, VKDL_F32, VKDL_F32, 0, 0},
        {1, 1, 1, 1, 0, 0, 1, 0, 0, VKDL_F32, VKDL_F32, 0, 0},
    };
    for (size_t i = 0; i < sizeof MORE / sizeof *MORE; i++) {
        const mm_case *c = &MORE[i];
        snprintf(name, sizeof name, "matmul/b%lld/%lldx%lldx%lld/t%d%d/a%g/b%g%s", (long long)c->batch,
                 (long long)c->m, (long long)c->n, (long long)c->k, c->ta, c->tb, c->alpha, c->beta,
                 c->shared_b ? "/shared-b" : "");
        run_mm(c, name, 0, NULL);
    }
    /* The storage kernel, which CPU drivers take only when a texel view cannot hold an operand and
     * GPUs only with the tiled kernel turned off: the fallback of VKDL_DISABLE=matmul_tiled. */
    for (size_t i = 3; i < sizeof MORE / sizeof *MORE; i += 2) {
        const mm_case *c = &MORE[i];
        snprintf(name, sizeof name, "matmul/storage-kernel/b%lld/%lldx%lldx%lld/t%d%d", (long long)c->batch,
                 (long long)c->m, (long long)c->n, (long long)c->k, c->ta, c->tb);
        run_mm(c, name, TH_VS_ALL, "matmul_texel4,matmul_texel1,matmul_tiled");
    }
    th_run("matmul/views", run_views, NULL);
    th_run("matmul/bad-input", run_bad, NULL);

    /* fused epilogue: every activation (with its defaults), with and without bias, with alpha and
     * beta; not tan, whose poles magnify the GEMM's rounding past any tolerance */
    for (int act1 = 0; act1 <= VKDL_UNARY_OP_COUNT; act1++)
        for (int bias = 0; bias < 2 && act1 != VKDL_TAN + 1; bias++) {
            mm_case c = {3, 17, 37, 13, act1 % 2, act1 / 2 % 2, 0.75f, act1 % 3 ? 0.5f : 0.0f, act1 % 4 == 1,
                         VKDL_F32, VKDL_F32, bias, act1};
            snprintf(name, sizeof name, "matmul/epilogue/%s%s/b%g", act_name(act1), bias ? "+bias" : "", c.beta);
            run_mm(&c, name, 0, NULL);
        }
    /* f16 and bf16 operands, f32 or 16-bit out: odd shapes, the aligned shape that takes the
     * 4-wide texel path, batches, and the epilogue on 16-bit out. Every transpose combination
     * with 16-bit out; f32 out shares the load paths, so two combinations (each is a pipeline to
     * compile, the bulk of this test's time on CPU drivers). */
    static const int64_t SHAPES[][4] = {{1, 17, 19, 23}, {1, 1, 33, 7}, {1, 33, 1, 64}, {1, 5, 3, 1},
                                        {1, 64, 96, 128}, {5, 9, 11, 6}};
    static const vkdl_dtype DT[] = {VKDL_F16, VKDL_BF16};
    for (int d = 0; d < 2; d++)
        for (int o = 0; o < 2; o++)
            for (int t = 0; t < 4; t += o ? 1 : 3)
                for (size_t i = 0; i < sizeof SHAPES / sizeof *SHAPES; i++) {
                    const int64_t *sh = SHAPES[i];
                    if (sh[3] == 128 && t % 3 != 0)
                        continue; /* the 4-wide path's transposed loads are independent: t00, t11 */
                    vkdl_dtype odt = o ? DT[d] : VKDL_F32;
                    mm_case c = {sh[0], sh[1], sh[2], sh[3], t / 2, t % 2, 1.0f, 0.0f, 0, DT[d], odt, 0, 0};
                    snprintf(name, sizeof name, "matmul/%s-%s/t%d%d/b%lld/%lldx%lldx%lld", vkdl_dtype_name(DT[d]),
                             vkdl_dtype_name(odt), t / 2, t % 2, (long long)sh[0], (long long)sh[1],
                             (long long)sh[2], (long long)sh[3]);
                    run_mm(&c, name, 0, NULL);
                }
    static const mm_case MORE16[] = {
        {4, 31, 45, 27, 0, 1, -0.5f, 0.25f, 1, VKDL_F16, VKDL_F16, 1, VKDL_GELU_ERF + 1},
        {4, 31, 45, 27, 1, 0, -0.5f, 0.25f, 1, VKDL_BF16, VKDL_BF16, 1, VKDL_SIGMOID + 1},
        {2, 30, 64, 40, 0, 0, 1.5f, 1.0f, 0, VKDL_F16, VKDL_F16, 1, VKDL_RELU + 1},
        {2, 30, 64, 40, 1, 1, 1.5f, 1.0f, 0, VKDL_BF16, VKDL_F32, 1, VKDL_TANH + 1},
        {1, 255, 257, 129, 0, 0, 1.0f, 0.0f, 0, VKDL_F16, VKDL_F16, 0, 0},
        {1, 255, 257, 129, 0, 1, 1.0f, 0.0f, 0, VKDL_BF16, VKDL_BF16, 0, 0},
        {1, 5, 7, 0, 0, 0, 1.0f, 0.5f, 0, VKDL_F32, VKDL_F32, 1, VKDL_EXP + 1}, /* K = 0: act(bias) + beta out */
        {2, 5, 7, 0, 1, 0, 1.0f, 0.5f, 0, VKDL_F16, VKDL_F16, 1, VKDL_NEG + 1},
        {1, 5, 7, 0, 0, 0, 1.0f, 0.0f, 0, VKDL_BF16, VKDL_BF16, 0, 0},
    };
    for (size_t i = 0; i < sizeof MORE16 / sizeof *MORE16; i++) {
        const mm_case *c = &MORE16[i];
        snprintf(name, sizeof name, "matmul/%s-%s/b%lld/%lldx%lldx%lld/t%d%d/a%g/b%g/%s%s", vkdl_dtype_name(c->dtype),
                 vkdl_dtype_name(c->odt), (long long)c->batch, (long long)c->m, (long long)c->n, (long long)c->k,
                 c->ta, c->tb, c->alpha, c->beta, act_name(c->act1), c->bias ? "+bias" : "");
        run_mm(c, name, 0, NULL);
    }
    /* the GPU kernel (shared-memory tiles; 16-bit out through per-element atomics), forced on CPU
     * drivers by hiding their quirk */
    static const mm_case TILED[] = {
        {2, 37, 45, 29, 0, 1, 1.0f, 0.0f, 0, VKDL_F32, VKDL_F32, 0, 0},
        {2, 37, 45, 29, 1, 0, -0.5f, 0.25f, 1, VKDL_F32, VKDL_F32, 1, VKDL_GELU_TANH + 1},
        {2, 37, 45, 29, 1, 1, 0.5f, 0.5f, 0, VKDL_F16, VKDL_F16, 1, VKDL_SIGMOID + 1},
        {1, 33, 19, 70, 0, 0, 1.0f, 0.0f, 0, VKDL_BF16, VKDL_BF16, 0, 0},
        {1, 33, 19, 70, 0, 1, 1.0f, 0.0f, 0, VKDL_F16, VKDL_F32, 0, 0},
    };
    for (size_t i = 0; i < sizeof TILED / sizeof *TILED; i++) {
        const mm_case *c = &TILED[i];
        snprintf(name, sizeof name, "matmul/tiled/%s-%s/b%lld/%lldx%lldx%lld/t%d%d/%s%s", vkdl_dtype_name(c->dtype),
                 vkdl_dtype_name(c->odt), (long long)c->batch, (long long)c->m, (long long)c->n, (long long)c->k,
                 c->ta, c->tb, act_name(c->act1), c->bias ? "+bias" : "");
        run_mm(c, name, TH_VS_ONLY(TH_V_NO_CPU_QUIRK), NULL);
    }
    th_run("matmul/f16/views", run_views16, (void *)&DT[0]);
    th_run("matmul/bf16/views", run_views16, (void *)&DT[1]);
    th_run("matmul/bad-types", run_bad_types, NULL);
    return th_finish();
}
