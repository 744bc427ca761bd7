/* demo: the smallest complete vkdl program. It opens the default Vulkan device (lavapipe where
 * there is no GPU), computes softmax(relu(A B) + bias) there and on the CPU backend, and checks
 * that the two agree.   usage: demo [device]   (index or name substring) */
#include "vkdl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define M 64
#define K 300
#define N 10

#define CHECK(call)                                                                              \
    do {                                                                                         \
        vkdl_status s_ = (call);                                                                 \
        if (s_ != VKDL_OK) {                                                                     \
            fprintf(stderr, "demo: %s failed: %s: %s\n", #call, vkdl_status_string(s_), vkdl_last_error()); \
            exit(1);                                                                             \
        }                                                                                        \
    } while (0)

/* Run the computation on one context and download the [M, N] result. */
static void compute(vkdl_context *ctx, const float *a, const float *b, const float *bias, float *out)
{
    int64_t sa[2] = {M, K}, sb[2] = {K, N}, sc[2] = {M, N}, sbias[1] = {N};
    vkdl_tensor *ta, *tb, *tbias, *tc, *tp;
    CHECK(vkdl_tensor_create(ctx, VKDL_F32, 2, sa, &ta));
    CHECK(vkdl_tensor_create(ctx, VKDL_F32, 2, sb, &tb));
    CHECK(vkdl_tensor_create(ctx, VKDL_F32, 1, sbias, &tbias));
    CHECK(vkdl_tensor_create(ctx, VKDL_F32, 2, sc, &tc));
    CHECK(vkdl_tensor_create(ctx, VKDL_F32, 2, sc, &tp));
    CHECK(vkdl_tensor_upload(ta, a, VKDL_F32, sizeof(float) * M * K));
    CHECK(vkdl_tensor_upload(tb, b, VKDL_F32, sizeof(float) * K * N));
    CHECK(vkdl_tensor_upload(tbias, bias, VKDL_F32, sizeof(float) * N));

    CHECK(vkdl_matmul(ta, tb, tc, NULL));              /* c = a b          */
    CHECK(vkdl_unary(VKDL_RELU, tc, tc));               /* in place         */
    CHECK(vkdl_binary(VKDL_ADD, tc, tbias, tc));        /* bias broadcasts  */
    CHECK(vkdl_softmax(tc, tp));
    CHECK(vkdl_tensor_download(tp, out, VKDL_F32, sizeof(float) * M * N)); /* waits for the GPU */

    vkdl_tensor_destroy(ta);
    vkdl_tensor_destroy(tb);
    vkdl_tensor_destroy(tbias);
    vkdl_tensor_destroy(tc);
    vkdl_tensor_destroy(tp);
}

int main(int argc, char **argv)
{
    static float a[M * K], b[K * N], bias[N], gpu[M * N], cpu[M * N];
    srand(1);
    for (int i = 0; i < M * K; i++)
        a[i] = (float)rand() / RAND_MAX - 0.5f;
    for (int i = 0; i < K * N; i++)
        b[i] = (float)rand() / RAND_MAX - 0.5f;
    for (int i = 0; i < N; i++)
        bias[i] = 0.1f * (float)i;

    vkdl_context *gctx, *cctx;
    vkdl_context_create_info info = {.backend = VKDL_BACKEND_VULKAN, .device = argc > 1 ? argv[1] : NULL};
    CHECK(vkdl_context_create(&info, &gctx));
    info.backend = VKDL_BACKEND_CPU;
    CHECK(vkdl_context_create(&info, &cctx));
    printf("device: %s\n", vkdl_context_device_name(gctx));

    compute(gctx, a, b, bias, gpu);
    compute(cctx, a, b, bias, cpu);

    double worst = 0;
    for (int i = 0; i < M * N; i++)
        worst = fmax(worst, fabs(gpu[i] - cpu[i]));
    printf("softmax(relu(A[%dx%d] B[%dx%d]) + bias), row 0: ", M, K, K, N);
    for (int j = 0; j < N; j++)
        printf("%.4f ", gpu[j]);
    printf("\nmax |gpu - cpu| = %.3g: %s\n", worst, worst < 1e-5 ? "ok" : "MISMATCH");

    vkdl_context_destroy(gctx);
    vkdl_context_destroy(cctx);
    return worst < 1e-5 ? 0 : 1;
}
