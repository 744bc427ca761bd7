/* vkdl_dropout / vkdl_dropout_backward: the Philox-4x32-10 generator against the published
 * known-answer vectors (Random123's kat_vectors), GPU and CPU masks bit-identical (TH_TOL_EXACT),
 * the keep fraction, p = 0 and p = 1, and bad arguments. lib/ops/dropout.c */
#include "harness.h"
#include "ops/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void run_kat(void *arg)
{
    (void)arg;
    static const struct {
        uint32_t ctr[4], key[2], want[4];
    } KAT[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (size_t i = 0; i < TH_LEN(KAT); i++) {
        uint32_t got[4];
        vkdl_philox4x32_10(KAT[i].ctr, KAT[i].key, got);
        if (memcmp(got, KAT[i].want, sizeof got) != 0)
            th_fail("vector %zu: %08x %08x %08x %08x, expected %08x %08x %08x %08x", i, got[0], got[1], got[2], got[3],
                    KAT[i].want[0], KAT[i].want[1], KAT[i].want[2], KAT[i].want[3]);
    }
}

/* The GPU's generator through the public op: with seed 0, element j < 4 is kept iff p <= the
 * uniform (word_j >> 8) 2^-24 of counter 0, so dropping at exactly that uniform keeps it and at
 * the next float above drops it. Checks the shader against the first known-answer vector. */
static void run_kat_gpu(void *arg)
{
    (void)arg;
    const uint32_t want[4] = {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8};
    int64_t n = 4;
    const float ones[4] = {1, 1, 1, 1};
    th_pair x = th_from(VKDL_F32, 1, &n, ones, VKDL_F32), y = th_empty(VKDL_F32, 1, &n);
    for (int j = 0; j < 4; j++) {
        float u = (float)(want[j] >> 8) * (1.0f / 16777216.0f);
        float out[4];
        TH_OK(vkdl_dropout(x.gpu, u, 0, y.gpu));
        TH_OK(vkdl_tensor_download(y.gpu, out, VKDL_F32, sizeof out));
        if (out[j] == 0.0f)
            th_fail("element %d dropped at p = its uniform %.9g", j, u);
        TH_OK(vkdl_dropout(x.gpu, nextafterf(u, 2.0f), 0, y.gpu));
        TH_OK(vkdl_tensor_download(y.gpu, out, VKDL_F32, sizeof out));
        if (out[j] != 0.0f)
            th_fail("element %d kept at p just above its uniform %.9g", j, u);
    }
    th_free(&x);
    th_free(&y);
}

typedef struct dparams {
    float p;
    uint64_t seed;
} dparams;

static vkdl_status dropout(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    const dparams *d = op->params;
    return vkdl_dropout(in[0], d->p, d->seed, out[0]);
}

static vkdl_status dropout_backward(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out,
                                    vkdl_tensor *const *dout, vkdl_tensor *const *din)
{
    (void)in, (void)out;
    const dparams *d = op->params;
    return vkdl_dropout_backward(dout[0], d->p, d->seed, din[0]);
}

/* The mask of 1e6 elements keeps 1 - p of them to within 1%, and every kept one is x / (1 - p). */
static void run_fraction(void *arg)
{
    const float p = *(const float *)arg;
    int64_t n = 1000000;
    th_pair x = th_rand(VKDL_F32, 1, &n, 0.5f, 1.5f), y = th_empty(VKDL_F32, 1, &n);
    TH_OK(vkdl_dropout(x.gpu, p, 0x123456789abcdef0ull, y.gpu));
    float *hx = th_download(x.gpu), *hy = th_download(y.gpu);
    int64_t kept = 0;
    float scale = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < n; i++) {
        if (hy[i] != 0.0f) {
            kept++;
            if (fabsf(hy[i] - hx[i] * scale) > 1e-6f * hy[i]) {
                th_fail("y[%lld] = %g for x %g", (long long)i, hy[i], hx[i]);
                break;
            }
        }
    }
    double frac = (double)kept / (double)n;
    if (fabs(frac - (1.0 - p)) > 0.01 * (1.0 - p))
        th_fail("kept %.5f of the elements at p = %g", frac, (double)p);
    free(hx);
    free(hy);
    th_free(&x);
    th_free(&y);
}

/* Different seeds give different masks; the high word of the seed matters. */
static void run_seeds(void *arg)
{
    (void)arg;
    int64_t n = 1000;
    const uint64_t seeds[3] = {1, 2, 1 | (1ull << 32)};
    th_pair x = th_rand(VKDL_F32, 1, &n, 1, 2), y[3];
    float *h[3];
    for (int s = 0; s < 3; s++) {
        y[s] = th_empty(VKDL_F32, 1, &n);
        TH_OK(vkdl_dropout(x.gpu, 0.5f, seeds[s], y[s].gpu));
        h[s] = th_download(y[s].gpu);
    }
    for (int s = 1; s < 3; s++) {
        int same = 0;
        for (int64_t i = 0; i < n; i++)
            same += (h[0][i] == 0.0f) == (h[s][i] == 0.0f);
        if (same > 600)
            th_fail("seed %d: %d of 1000 mask bits equal seed 1's", s, same);
    }
    for (int s = 0; s < 3; s++) {
        free(h[s]);
        th_free(&y[s]);
    }
    th_free(&x);
}

static void run_edges(void *arg)
{
    (void)arg;
    int64_t n = 1001;
    th_pair x = th_rand(VKDL_F32, 1, &n, -2, 2), y = th_empty(VKDL_F32, 1, &n);
    TH_OK(vkdl_dropout(x.gpu, 0.0f, 7, y.gpu));
    float *hx = th_download(x.gpu), *hy = th_download(y.gpu);
    if (memcmp(hx, hy, (size_t)n * sizeof *hx) != 0)
        th_fail("p = 0 changed x");
    free(hy);
    TH_OK(vkdl_dropout(x.gpu, 1.0f, 7, y.gpu));
    TH_OK(vkdl_dropout_backward(x.cpu, 1.0f, 7, y.cpu));
    hy = th_download(y.gpu);
    float *hc = th_download(y.cpu);
    for (int64_t i = 0; i < n; i++) {
        if (hy[i] != 0.0f || hc[i] != 0.0f || signbit(hy[i]) != signbit(hc[i])) {
            th_fail("p = 1: y[%lld] = %g (gpu), %g (cpu)", (long long)i, hy[i], hc[i]);
            break;
        }
    }
    free(hx);
    free(hy);
    free(hc);
    int64_t e = 0;
    th_pair ex = th_rand(VKDL_F32, 1, &e, 0, 1), ey = th_empty(VKDL_F32, 1, &e);
    TH_OK(vkdl_dropout(ex.gpu, 0.5f, 1, ey.gpu));
    TH_OK(vkdl_dropout_backward(ex.cpu, 0.5f, 1, ey.cpu));
    th_free(&ex);
    th_free(&ey);
    th_free(&x);
    th_free(&y);
}

static void run_bad(void *arg)
{
    (void)arg;
    int64_t s3[1] = {3}, s4[1] = {4};
    th_pair a = th_rand(VKDL_F32, 1, s3, 0, 1), b = th_rand(VKDL_F32, 1, s4, 0, 1), i = th_empty(VKDL_I32, 1, s3);
    TH_STATUS(vkdl_dropout(NULL, 0.5f, 1, a.gpu), VKDL_ERROR_INVALID_ARGUMENT, "dropout: x is NULL");
    TH_STATUS(vkdl_dropout(a.gpu, 0.5f, 1, NULL), VKDL_ERROR_INVALID_ARGUMENT, "out is NULL");
    TH_STATUS(vkdl_dropout_backward(NULL, 0.5f, 1, a.gpu), VKDL_ERROR_INVALID_ARGUMENT, "dropout_backward: dy is NULL");
    TH_STATUS(vkdl_dropout(a.gpu, -0.1f, 1, a.gpu), VKDL_ERROR_INVALID_ARGUMENT, "p = -0.1 is outside [0, 1]");
    TH_STATUS(vkdl_dropout(a.gpu, 1.5f, 1, a.gpu), VKDL_ERROR_INVALID_ARGUMENT, "p = 1.5 is outside [0, 1]");
    TH_STATUS(vkdl_dropout_backward(a.cpu, NAN, 1, a.cpu), VKDL_ERROR_INVALID_ARGUMENT, "outside [0, 1]");
    TH_STATUS(vkdl_dropout(a.gpu, 0.5f, 1, b.gpu), VKDL_ERROR_SHAPE_MISMATCH, "3 vs 4");
    TH_STATUS(vkdl_dropout(i.gpu, 0.5f, 1, a.gpu), VKDL_ERROR_DTYPE_MISMATCH, "x is i32");
    TH_STATUS(vkdl_dropout_backward(a.gpu, 0.5f, 1, i.gpu), VKDL_ERROR_DTYPE_MISMATCH, "dx is i32");
    TH_STATUS(vkdl_dropout(a.gpu, 0.5f, 1, a.cpu), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    th_free(&a);
    th_free(&b);
    th_free(&i);
}

/* Forward and backward, GPU and CPU bit for bit. */
static const struct {
    int64_t n;
    dparams d;
} ROWS[] = {
    {1, {0.5f, 0}},    {3, {0.5f, 1}},               {17, {0.1f, 42}},      {127, {0.9f, 0xdeadbeefcafef00dull}},
    {1000, {0.5f, 5}}, {70001, {0.25f, 1ull << 40}}, {1000003, {0.5f, 77}}, {4, {0.75f, 3}},
};

/* A view at an unaligned offset: elements are numbered within the view, and the rest stays. */
static const dparams VIEW = {0.3f, 99};

int main(int argc, char **argv)
{
    th_init(argc, argv);
    th_run("philox4x32-10 known answers", run_kat, NULL);
    th_run("philox4x32-10 known answers on the device", run_kat_gpu, NULL);
    char name[128];
    for (size_t i = 0; i < TH_LEN(ROWS); i++) {
        snprintf(name, sizeof name, "dropout n %lld p %g seed %llx", (long long)ROWS[i].n, (double)ROWS[i].d.p,
                 (unsigned long long)ROWS[i].d.seed);
        th_op c = {.name = name, .params = &ROWS[i].d, .n_in = 1, .n_out = 1, .forward = dropout,
                   .backward = dropout_backward, .tol = &TH_TOL_EXACT,
                   .in = {{.shape = {1, {ROWS[i].n}}, .lo = -2, .hi = 2}}, .out = {{.shape = {1, {ROWS[i].n}}}}};
        th_run_op(&c);
    }
    static const float PS[] = {0.1f, 0.5f, 0.9f};
    for (size_t i = 0; i < TH_LEN(PS); i++) {
        snprintf(name, sizeof name, "keep fraction at p %g", (double)PS[i]);
        th_run(name, run_fraction, (void *)&PS[i]);
    }
    th_run("seeds give different masks", run_seeds, NULL);
    th_run("p = 0, p = 1 and empty", run_edges, NULL);
    th_op view = {.name = "views at offsets", .params = &VIEW, .n_in = 1, .n_out = 1, .forward = dropout,
                  .tol = &TH_TOL_EXACT, .in = {{.shape = TH_SHAPE(87), .lo = -1, .hi = 1, .pad = {3, 13}}},
                  .out = {{.shape = TH_SHAPE(87), .pad = {13, 3}}}};
    th_run_op(&view);
    th_run("bad arguments", run_bad, NULL);
    return th_finish();
}
