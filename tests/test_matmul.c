/* vkdl_matmul against OpenBLAS (the CPU twin): every transpose combination, alpha/beta, batch
 * broadcasting, views, and shapes that are not multiples of any tile. lib/op_matmul.c,
 * shaders/matmul.comp. */
#include "harness.h"

#include <stdio.h>

typedef struct mm_case {
    int64_t batch, m, n, k;
    int ta, tb;
    float alpha, beta;
    int shared_b; /* b is a plain matrix used by every batch */
} mm_case;

static void run_mm(void *arg)
{
    const mm_case *c = arg;
    int64_t sa[3] = {c->batch, c->ta ? c->k : c->m, c->ta ? c->m : c->k};
    int64_t sb[3] = {c->batch, c->tb ? c->n : c->k, c->tb ? c->k : c->n};
    int64_t so[3] = {c->batch, c->m, c->n};
    th_pair a = th_rand(VKDL_F32, 3, sa, -1, 1);
    th_pair b = c->shared_b ? th_rand(VKDL_F32, 2, sb + 1, -1, 1) : th_rand(VKDL_F32, 3, sb, -1, 1);
    th_pair o = c->beta != 0 ? th_rand(VKDL_F32, 3, so, -1, 1) : th_empty(VKDL_F32, 3, so);
    vkdl_matmul_info info = {.trans_a = c->ta, .trans_b = c->tb, .alpha = c->alpha, .beta = c->beta};
    TH_OK(vkdl_matmul(a.cpu, b.cpu, o.cpu, &info));
    TH_OK(vkdl_matmul(a.gpu, b.gpu, o.gpu, &info));
    th_compare(&o, TH_TOL_GEMM);
    th_free(&a);
    th_free(&b);
    th_free(&o);
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
                    mm_case c = {1, m, n, k, ta, tb, 1.0f, 0.0f, 0};
                    snprintf(name, sizeof name, "matmul/t%d%d/%lldx%lldx%lld", ta, tb, (long long)m, (long long)n,
                             (long long)k);
                    th_run(name, run_mm, &c);
                }
    static const mm_case MORE[] = {
        {1, 1000, 1, 1000, 0, 0, 1, 0, 0},    /* matrix-vector */
        {1, 1, 1000, 1000, 0, 0, 1, 0, 0},    /* vector-matrix */
        {1, 1000, 1000, 3, 0, 0, 1, 0, 0},    /* outer-product-like */
        {1, 257, 255, 129, 0, 1, 0.5f, 0, 0},
        {1, 129, 131, 517, 1, 1, -1.5f, 0, 0},
        {1, 100, 70, 200, 0, 0, 2.0f, 0.5f, 0}, /* beta: accumulate into out */
        {1, 33, 17, 9, 1, 0, 1.0f, 1.0f, 0},
        {64, 17, 19, 23, 0, 0, 1, 0, 0},        /* batches */
        {300, 5, 7, 3, 0, 1, 1, 0, 0},          /* large batch of tiny matrices */
        {7, 33, 65, 127, 1, 0, 1, 0, 1},        /* b shared by every batch */
        {3, 64, 64, 64, 0, 0, 1, 0, 1},
        {1, 512, 512, 512, 0, 0, 1, 0, 0},
        {1, 1, 1, 1, 0, 0, 1, 0, 0},
    };
    for (size_t i = 0; i < sizeof MORE / sizeof *MORE; i++) {
        const mm_case *c = &MORE[i];
        snprintf(name, sizeof name, "matmul/b%lld/%lldx%lldx%lld/t%d%d/a%g/b%g%s", (long long)c->batch,
                 (long long)c->m, (long long)c->n, (long long)c->k, c->ta, c->tb, c->alpha, c->beta,
                 c->shared_b ? "/shared-b" : "");
        th_run(name, run_mm, (void *)c);
    }
    th_run("matmul/views", run_views, NULL);
    th_run("matmul/bad-input", run_bad, NULL);
    return th_finish();
}
