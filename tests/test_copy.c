/* vkdl_copy between every pair of dtypes, on odd shapes and on views that start mid-word.
 * lib/op_copy.c, shaders/copy.comp. Conversions must match the CPU twin bit for bit. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static const vkdl_dtype DT[] = {VKDL_F32, VKDL_F16, VKDL_BF16, VKDL_I32, VKDL_U8};

typedef struct copy_case {
    vkdl_dtype src, dst;
    int64_t n;
} copy_case;

/* Values that stress rounding and saturation, then random ones across several magnitudes. */
static float *values(int64_t n)
{
    static const float special[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 1.5f, 2.5f, 255.0f, 256.0f, 300.7f, -3.7f,
                                    65504.0f, 65519.0f, 65520.0f, 1e9f, -1e9f, 3e9f, -3e9f, 6e-8f, 1e-40f,
                                    1.00048828125f, 1.0009765625f, 3.3895314e38f, NAN, INFINITY, -INFINITY};
    float *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++) {
        if (i < (int64_t)(sizeof special / sizeof *special))
            v[i] = special[i];
        else
            v[i] = th_randf(-1, 1) * powf(10.0f, (float)th_randu(8) - 2);
    }
    return v;
}

static void run_copy(void *arg)
{
    const copy_case *c = arg;
    float *v = values(c->n);
    int64_t rows = c->n + 3;
    /* Source and destination are views starting at row 1 and 3 of larger tensors, so both sit
     * mid-word for 1- and 2-byte dtypes; the rows around them must survive. */
    float *pad = values(rows);
    th_pair sbig = th_from(c->src, 1, &rows, pad, VKDL_F32);
    th_pair dbig = th_from(c->dst, 1, &rows, pad, VKDL_F32);
    vkdl_tensor *sc, *sg, *dc, *dg;
    TH_OK(vkdl_tensor_slice(sbig.cpu, 1, 1 + c->n, &sc));
    TH_OK(vkdl_tensor_slice(sbig.gpu, 1, 1 + c->n, &sg));
    TH_OK(vkdl_tensor_slice(dbig.cpu, 3, 3 + c->n, &dc));
    TH_OK(vkdl_tensor_slice(dbig.gpu, 3, 3 + c->n, &dg));
    TH_OK(vkdl_tensor_upload(sc, v, VKDL_F32, (size_t)c->n * 4));
    TH_OK(vkdl_tensor_upload(sg, v, VKDL_F32, (size_t)c->n * 4));
    TH_OK(vkdl_copy(sc, dc));
    TH_OK(vkdl_copy(sg, dg));
    th_compare(&dbig, TH_TOL_EXACT);
    vkdl_tensor_destroy(sc);
    vkdl_tensor_destroy(sg);
    vkdl_tensor_destroy(dc);
    vkdl_tensor_destroy(dg);
    th_free(&sbig);
    th_free(&dbig);
    free(v);
    free(pad);
}

static void run_bad(void *arg)
{
    (void)arg;
    int64_t s3 = 3, s4 = 4;
    th_pair a = th_empty(VKDL_F32, 1, &s3), b = th_empty(VKDL_F16, 1, &s4);
    TH_STATUS(vkdl_copy(a.gpu, b.gpu), VKDL_ERROR_SHAPE_MISMATCH, "3 elements");
    TH_STATUS(vkdl_copy(NULL, b.gpu), VKDL_ERROR_INVALID_ARGUMENT, "x is NULL");
    TH_STATUS(vkdl_copy(a.cpu, b.gpu), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    th_free(&a);
    th_free(&b);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    static const int64_t NS[] = {1, 3, 17, 127, 1000, 70001};
    char name[96];
    for (size_t s = 0; s < 5; s++)
        for (size_t d = 0; d < 5; d++)
            for (size_t i = 0; i < sizeof NS / sizeof *NS; i++) {
                copy_case c = {DT[s], DT[d], NS[i]};
                snprintf(name, sizeof name, "copy/%s-to-%s/%lld", vkdl_dtype_name(DT[s]), vkdl_dtype_name(DT[d]),
                         (long long)NS[i]);
                th_run(name, run_copy, &c);
            }
    th_run("copy/bad-input", run_bad, NULL);
    return th_finish();
}
