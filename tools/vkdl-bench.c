/* vkdl-bench: kernel throughput on the chosen device next to a CPU reference measured in the same
 * run (OpenBLAS for GEMM-shaped work), as GFLOP/s, their ratio and the fraction of the device's
 * peak.
 *
 *   vkdl-bench [--json] [--device D] [--peak GFLOPS] [--min-time S] matmul [M N K]
 *
 * Without a shape, matmul sweeps 256, 512, 1024 and 2048 (square). Each measurement is the best of
 * repeated runs lasting at least --min-time seconds in all; GPU timings include recording and
 * submission, as a user sees them. */
#include "vkdl.h"

#include <cblas.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static bool json;
static double min_time = 1.0, peak_override;
static const char *device;
static vkdl_context *gpu;

#define CHECK(call)                                                                                         \
    do {                                                                                                    \
        vkdl_status s_ = (call);                                                                            \
        if (s_ != VKDL_OK) {                                                                                \
            fprintf(stderr, "vkdl-bench: %s: %s: %s\n", #call, vkdl_status_string(s_), vkdl_last_error()); \
            exit(1);                                                                                        \
        }                                                                                                   \
    } while (0)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Best time of fn over repeated calls (after one warm-up) totalling at least min_time. */
static double best_time(void (*fn)(void *), void *arg)
{
    fn(arg);
    double best = 1e30, start = now();
    int runs = 0;
    while (runs < 3 || now() - start < min_time) {
        double t0 = now();
        fn(arg);
        double t = now() - t0;
        if (t < best)
            best = t;
        if (++runs >= 1000)
            break;
    }
    return best;
}

/* Peak f32 GFLOP/s of the device when it is this CPU (lavapipe, SwiftShader): cores x clock x
 * FLOPs per cycle from the SIMD width with FMA. A GPU's peak is not discoverable through Vulkan;
 * pass --peak. */
static double cpu_peak_gflops(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return 0;
    char line[4096];
    double mhz = 0;
    int flops = 8; /* SSE: 4-wide mul + add */
    while (fgets(line, sizeof line, f)) {
        if (!mhz && strncmp(line, "cpu MHz", 7) == 0)
            mhz = atof(strchr(line, ':') + 1);
        if (strncmp(line, "flags", 5) == 0) {
            if (strstr(line, " avx512f") && strstr(line, " fma"))
                flops = 64;
            else if (strstr(line, " avx2") && strstr(line, " fma"))
                flops = 32;
        }
    }
    fclose(f);
    return (double)sysconf(_SC_NPROCESSORS_ONLN) * mhz * 1e-3 * flops;
}

static double device_peak(void)
{
    if (peak_override > 0)
        return peak_override;
    const char *name = vkdl_context_device_name(gpu);
    if (strstr(name, "llvmpipe") || strstr(name, "SwiftShader"))
        return cpu_peak_gflops();
    return 0;
}

static void report(const char *op, const char *shape, const char *dtype, double flops, double t, double ref_t)
{
    double g = flops / t * 1e-9, rg = flops / ref_t * 1e-9, peak = device_peak();
    if (json) {
        printf("{\"op\": \"%s\", \"shape\": \"%s\", \"dtype\": \"%s\", \"device\": \"%s\", \"ms\": %.4f, "
               "\"gflops\": %.3f, \"ref\": \"%s\", \"ref_ms\": %.4f, \"ref_gflops\": %.3f, \"ratio\": %.4f, "
               "\"peak_gflops\": %.1f, \"peak_frac\": %.4f}\n",
               op, shape, dtype, vkdl_context_device_name(gpu), t * 1e3, g, "openblas", ref_t * 1e3, rg, g / rg,
               peak, peak > 0 ? g / peak : 0.0);
    } else {
        printf("%-8s %-16s %-5s %10.2f ms %9.2f GFLOP/s | openblas %9.2f ms %9.2f GFLOP/s | ratio %6.3f",
               op, shape, dtype, t * 1e3, g, ref_t * 1e3, rg, g / rg);
        if (peak > 0)
            printf(" | %5.1f%% of peak %.0f", 100 * g / peak, peak);
        printf("\n");
    }
    fflush(stdout);
}

/* ---------------------------------------------------------------- matmul */

typedef struct mm_bench {
    int m, n, k;
    vkdl_tensor *a, *b, *c;
    float *ha, *hb, *hc;
} mm_bench;

static void mm_gpu(void *arg)
{
    mm_bench *b = arg;
    CHECK(vkdl_matmul(b->a, b->b, b->c, NULL));
    CHECK(vkdl_sync(gpu));
}

static void mm_ref(void *arg)
{
    mm_bench *b = arg;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b->m, b->n, b->k, 1.0f, b->ha, b->k, b->hb, b->n, 0.0f,
                b->hc, b->n);
}

static void bench_matmul(int m, int n, int k)
{
    mm_bench b = {.m = m, .n = n, .k = k};
    int64_t sa[2] = {m, k}, sb[2] = {k, n}, sc[2] = {m, n};
    CHECK(vkdl_tensor_create(gpu, VKDL_F32, 2, sa, &b.a));
    CHECK(vkdl_tensor_create(gpu, VKDL_F32, 2, sb, &b.b));
    CHECK(vkdl_tensor_create(gpu, VKDL_F32, 2, sc, &b.c));
    b.ha = malloc(sizeof(float) * (size_t)m * k);
    b.hb = malloc(sizeof(float) * (size_t)k * n);
    b.hc = malloc(sizeof(float) * (size_t)m * n);
    for (size_t i = 0; i < (size_t)m * k; i++)
        b.ha[i] = (float)(i % 7) - 3;
    for (size_t i = 0; i < (size_t)k * n; i++)
        b.hb[i] = (float)(i % 5) - 2;
    CHECK(vkdl_tensor_upload(b.a, b.ha, VKDL_F32, sizeof(float) * (size_t)m * k));
    CHECK(vkdl_tensor_upload(b.b, b.hb, VKDL_F32, sizeof(float) * (size_t)k * n));
    double t = best_time(mm_gpu, &b), rt = best_time(mm_ref, &b);
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%dx%d", m, n, k);
    report("matmul", shape, "f32", 2.0 * m * n * k, t, rt);
    vkdl_tensor_destroy(b.a);
    vkdl_tensor_destroy(b.b);
    vkdl_tensor_destroy(b.c);
    free(b.ha);
    free(b.hb);
    free(b.hc);
}

static int usage(void)
{
    fprintf(stderr, "usage: vkdl-bench [--json] [--device D] [--peak GFLOPS] [--min-time S] matmul [M N K]\n");
    return 2;
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--json"))
            json = true;
        else if (!strcmp(argv[i], "--device") && i + 1 < argc)
            device = argv[++i];
        else if (!strcmp(argv[i], "--peak") && i + 1 < argc)
            peak_override = atof(argv[++i]);
        else if (!strcmp(argv[i], "--min-time") && i + 1 < argc)
            min_time = atof(argv[++i]);
        else
            return usage();
    }
    if (i >= argc)
        return usage();
    vkdl_context_create_info ci = {.backend = VKDL_BACKEND_VULKAN, .device = device};
    CHECK(vkdl_context_create(&ci, &gpu));
    if (!json)
        printf("device: %s\n", vkdl_context_device_name(gpu));
    const char *op = argv[i++];
    int rc = 0;
    if (!strcmp(op, "matmul")) {
        if (i + 3 <= argc) {
            bench_matmul(atoi(argv[i]), atoi(argv[i + 1]), atoi(argv[i + 2]));
        } else {
            static const int sizes[] = {256, 512, 1024, 2048};
            for (size_t s = 0; s < 4; s++)
                bench_matmul(sizes[s], sizes[s], sizes[s]);
        }
    } else {
        rc = usage();
    }
    vkdl_context_destroy(gpu);
    return rc;
}
