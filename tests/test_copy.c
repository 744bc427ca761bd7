/* vkdl_copy between every pair of dtypes, on odd shapes and on views that start mid-word.
 * lib/ops/copy.c, shaders/copy.comp. Conversions must match the CPU twin bit for bit. */
#include "harness.h"

#include <math.h>
#include <stdio.h>

static const vkdl_dtype DT[] = {VKDL_F32, VKDL_F16, VKDL_BF16, VKDL_I32, VKDL_U8};

/* Values that stress rounding and saturation, then random ones across several magnitudes. */
static void values(float *v, int64_t n, const th_shape *s, float lo, float hi)
{
    (void)s, (void)lo, (void)hi;
    static const float special[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 1.5f, 2.5f, 255.0f, 256.0f, 300.7f, -3.7f,
                                    65504.0f, 65519.0f, 65520.0f, 1e9f, -1e9f, 3e9f, -3e9f, 6e-8f, 1e-40f,
                                    1.00048828125f, 1.0009765625f, 3.3895314e38f, NAN, INFINITY, -INFINITY};
    for (int64_t i = 0; i < n; i++) {
        if (i < (int64_t)(sizeof special / sizeof *special))
            v[i] = special[i];
        else
            v[i] = th_randf(-1, 1) * powf(10.0f, (float)th_randu(8) - 2);
    }
}

static vkdl_status copy(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    (void)op;
    return vkdl_copy(in[0], out[0]);
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
                snprintf(name, sizeof name, "copy/%s-to-%s/%lld", vkdl_dtype_name(DT[s]), vkdl_dtype_name(DT[d]),
                         (long long)NS[i]);
                /* Source and destination are views starting at row 1 and 3 of larger tensors, so both
                 * sit mid-word for 1- and 2-byte dtypes; the rows around them must survive. */
                th_op c = {.name = name, .n_in = 1, .n_out = 1, .forward = copy, .tol = &TH_TOL_EXACT,
                           .in = {{.shape = {1, {NS[i]}}, .dtype = DT[s], .fill = TH_FILL_FN, .gen = values,
                                   .pad = {1, 2}}},
                           .out = {{.shape = {1, {NS[i]}}, .dtype = DT[d], .pad = {3, 0}}}};
                th_run_op(&c);
            }
    th_run("copy/bad-input", run_bad, NULL);
    return th_finish();
}
