/* vkdl-bench: kernel throughput on the chosen device next to a CPU reference measured in the same
 * run (OpenBLAS for GEMM-shaped work), as GFLOP/s, their ratio and the fraction of the device's
 * peak.
 *
 *   vkdl-bench [options] matmul [M N K]      sweep 256..2048 without a shape; reference OpenBLAS
 *   vkdl-bench [options] conv [N]            ResNet-50 and MobileNet layers (batch N, default 8): fwd, bwd-data, bwd-weight
 *   vkdl-bench [options] attention [S D]     seq 128..4096, head_dim 64/128, causal or not, fwd and bwd
 *   vkdl-bench [options] lstm [T B I H]      a sequence forward and backward
 *   vkdl-bench [options] train [mnist|gpt]   training steps/s of examples 1 and 2 (default sizes) on
 *                                            the device and the CPU path, and the device step split
 *                                            into kernel time (timestamps) and overhead
 *   vkdl-bench [options] onnx MODEL [NAME=DxDx...]
 *                                            an imported model: plan compile time, latency per run on
 *                                            the device and on vkdl's CPU backend, peak device memory,
 *                                            next to ONNX Runtime's CPU build (npm onnxruntime-node,
 *                                            through node, 2 threads) measured in the same run
 *   options: --json --device D --peak GFLOPS --min-time S
 *   matmul options: --dtype f16|bf16 (a, b and out; the reference stays OpenBLAS sgemm in f32),
 *                   --bias (fused f32 bias), --act relu|gelu_tanh|... (fused activation)
 *
 * Each measurement is the best of repeated runs lasting at least --min-time seconds in all; GPU
 * timings include recording and submission, as a user sees them. conv, attention and lstm compare
 * with vkdl's CPU backend running the same op (OpenBLAS underneath where the op is GEMM-shaped),
 * counting the same FLOPs on both sides. */
#include "vkdl.h"
#include "runtime/runtime.h"

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
static vkdl_dtype mm_dtype = VKDL_F32;
static bool mm_bias;
static int mm_act = -1; /* vkdl_unary_op, -1: none */

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

static void report_ref(const char *op, const char *shape, const char *dtype, double flops, double t, double ref_t,
                       const char *ref);

static void report(const char *op, const char *shape, const char *dtype, double flops, double t, double ref_t)
{
    report_ref(op, shape, dtype, flops, t, ref_t, "openblas");
}

static void report_ref(const char *op, const char *shape, const char *dtype, double flops, double t, double ref_t,
                       const char *ref)
{
    double g = flops / t * 1e-9, rg = flops / ref_t * 1e-9, peak = device_peak();
    if (json) {
        printf("{\"op\": \"%s\", \"shape\": \"%s\", \"dtype\": \"%s\", \"device\": \"%s\", \"ms\": %.4f, "
               "\"gflops\": %.3f, \"ref\": \"%s\", \"ref_ms\": %.4f, \"ref_gflops\": %.3f, \"ratio\": %.4f, "
               "\"peak_gflops\": %.1f, \"peak_frac\": %.4f}\n",
               op, shape, dtype, vkdl_context_device_name(gpu), t * 1e3, g, ref, ref_t * 1e3, rg, g / rg,
               peak, peak > 0 ? g / peak : 0.0);
    } else {
        printf("%-14s %-30s %-4s %9.2f ms %8.2f GFLOP/s | %-8s %9.2f ms %8.2f GFLOP/s | ratio %6.3f", op, shape,
               dtype, t * 1e3, g, ref, ref_t * 1e3, rg, g / rg);
        if (peak > 0)
            printf(" | %5.1f%% of peak %.0f", 100 * g / peak, peak);
        printf("\n");
    }
    fflush(stdout);
}

/* ---------------------------------------------------------------- matmul */

typedef struct mm_bench {
    int m, n, k;
    vkdl_tensor *a, *b, *c, *bias;
    float *ha, *hb, *hc;
    vkdl_matmul_info info;
} mm_bench;

static void mm_gpu(void *arg)
{
    mm_bench *b = arg;
    CHECK(vkdl_matmul(b->a, b->b, b->c, &b->info));
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
    mm_bench b = {.m = m, .n = n, .k = k, .info = {.alpha = 1, .fuse_act = mm_act >= 0, .act = mm_act >= 0 ? mm_act : 0}};
    int64_t sa[2] = {m, k}, sb[2] = {k, n}, sc[2] = {m, n}, sbias[1] = {n};
    CHECK(vkdl_tensor_create(gpu, mm_dtype, 2, sa, &b.a));
    CHECK(vkdl_tensor_create(gpu, mm_dtype, 2, sb, &b.b));
    CHECK(vkdl_tensor_create(gpu, mm_dtype, 2, sc, &b.c));
    if (mm_bias) {
        CHECK(vkdl_tensor_create(gpu, VKDL_F32, 1, sbias, &b.bias));
        CHECK(vkdl_tensor_fill(b.bias, 0.5));
        b.info.bias = b.bias;
    }
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
    snprintf(shape, sizeof shape, "%dx%dx%d%s%s%s", m, n, k, mm_bias ? "+bias" : "", mm_act >= 0 ? "+" : "",
             mm_act >= 0 ? vkdl_unary_op_name(mm_act) : "");
    if (mm_dtype == VKDL_F32)
        report("matmul", shape, "f32", 2.0 * m * n * k, t, rt);
    else /* the reference is still OpenBLAS sgemm on f32 data */
        report_ref("matmul", shape, vkdl_dtype_name(mm_dtype), 2.0 * m * n * k, t, rt, "sgemm32");
    vkdl_tensor_destroy(b.bias);
    vkdl_tensor_destroy(b.a);
    vkdl_tensor_destroy(b.b);
    vkdl_tensor_destroy(b.c);
    free(b.ha);
    free(b.hb);
    free(b.hc);
}

/* ---------------------------------------------------------------- ops against the CPU backend */

static vkdl_context *cpu;

/* A tensor on ctx filled with a deterministic pattern in [-0.5, 0.5). */
static vkdl_tensor *filled(vkdl_context *ctx, int ndim, const int64_t *shape, unsigned seed)
{
    vkdl_tensor *t;
    CHECK(vkdl_tensor_create(ctx, VKDL_F32, ndim, shape, &t));
    size_t n = (size_t)vkdl_tensor_numel(t);
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = (float)((i * 2654435761u + seed * 40503u) % 1000) / 1000.0f - 0.5f;
    CHECK(vkdl_tensor_upload(t, v, VKDL_F32, n * sizeof *v));
    free(v);
    return t;
}

/* One op run on a context; `run` records it, then the context is synced. */
typedef struct op_run {
    vkdl_context *ctx;
    void (*run)(struct op_run *);
    vkdl_tensor *t[12];
    const void *info;
} op_run;

static void op_timed(void *arg)
{
    op_run *r = arg;
    r->run(r);
    CHECK(vkdl_sync(r->ctx));
}

static void op_free(op_run *r)
{
    for (size_t i = 0; i < sizeof r->t / sizeof *r->t; i++)
        vkdl_tensor_destroy(r->t[i]);
}

static void compare(const char *op, const char *shape, double flops, op_run *g, op_run *c)
{
    double t = best_time(op_timed, g), rt = best_time(op_timed, c);
    report_ref(op, shape, "f32", flops, t, rt, "cpu path");
}

/* conv: t[0] x, t[1] w, t[2] y (fwd out / bwd in), t[3] dx, t[4] dw */
static void conv_fwd(op_run *r) { CHECK(vkdl_conv2d(r->t[0], r->t[1], NULL, r->t[2], r->info)); }
static void conv_bwd_data(op_run *r) { CHECK(vkdl_conv2d_backward_data(r->t[2], r->t[1], r->t[3], r->info)); }
static void conv_bwd_weight(op_run *r) { CHECK(vkdl_conv2d_backward_weight(r->t[0], r->t[2], r->t[4], NULL, r->info)); }

typedef struct conv_shape {
    const char *name;
    int c, o, hw, k, stride, pad, groups;
} conv_shape;

static void bench_conv(int batch)
{
    static const conv_shape shapes[] = {
        {"resnet50.conv1", 3, 64, 224, 7, 2, 3, 1},
        {"resnet50.l1.3x3", 64, 64, 56, 3, 1, 1, 1},
        {"resnet50.l1.1x1", 64, 256, 56, 1, 1, 0, 1},
        {"resnet50.l2.3x3", 128, 128, 28, 3, 1, 1, 1},
        {"resnet50.l3.3x3", 256, 256, 14, 3, 1, 1, 1},
        {"resnet50.l4.3x3", 512, 512, 7, 3, 1, 1, 1},
        {"mobilenet.dw3x3", 32, 32, 112, 3, 1, 1, 32},
        {"mobilenet.pw1x1", 32, 64, 112, 1, 1, 0, 1},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const conv_shape *s = &shapes[i];
        vkdl_conv2d_info info = {.stride = {s->stride, s->stride}, .padding = {s->pad, s->pad}, .groups = s->groups};
        int oh = (s->hw + 2 * s->pad - s->k) / s->stride + 1;
        int64_t sx[4] = {batch, s->c, s->hw, s->hw}, sw[4] = {s->o, s->c / s->groups, s->k, s->k},
                sy[4] = {batch, s->o, oh, oh};
        op_run g = {.ctx = gpu, .info = &info}, c = {.ctx = cpu, .info = &info};
        op_run *rs[2] = {&g, &c};
        for (int j = 0; j < 2; j++) {
            rs[j]->t[0] = filled(rs[j]->ctx, 4, sx, 1);
            rs[j]->t[1] = filled(rs[j]->ctx, 4, sw, 2);
            rs[j]->t[2] = filled(rs[j]->ctx, 4, sy, 3);
            rs[j]->t[3] = filled(rs[j]->ctx, 4, sx, 4);
            rs[j]->t[4] = filled(rs[j]->ctx, 4, sw, 5);
        }
        double flops = 2.0 * batch * s->o * oh * oh * (double)(s->c / s->groups) * s->k * s->k;
        char shape[96];
        snprintf(shape, sizeof shape, "%s n%d %dx%d", s->name, batch, s->hw, s->hw);
        g.run = c.run = conv_fwd;
        compare("conv.fwd", shape, flops, &g, &c);
        g.run = c.run = conv_bwd_data;
        compare("conv.bwd_data", shape, flops, &g, &c);
        g.run = c.run = conv_bwd_weight;
        compare("conv.bwd_weight", shape, flops, &g, &c);
        op_free(&g);
        op_free(&c);
    }
}

/* attention: t[0..2] q k v, t[3] out, t[4] lse, t[5] dout, t[6..8] dq dk dv */
static void attn_fwd(op_run *r) { CHECK(vkdl_attention(r->t[0], r->t[1], r->t[2], r->t[3], r->t[4], r->info)); }
static void attn_bwd(op_run *r)
{
    CHECK(vkdl_attention_backward(r->t[0], r->t[1], r->t[2], r->t[3], r->t[4], r->t[5], r->t[6], r->t[7], r->t[8],
                                  r->info));
}

static void bench_attention_one(int seq, int d, int causal, int heads)
{
    vkdl_attention_info info = {.causal = causal};
    int64_t sq[4] = {1, heads, seq, d}, sl[3] = {1, heads, seq};
    op_run g = {.ctx = gpu, .info = &info}, c = {.ctx = cpu, .info = &info};
    op_run *rs[2] = {&g, &c};
    for (int j = 0; j < 2; j++) {
        for (int t = 0; t < 9; t++)
            rs[j]->t[t] = filled(rs[j]->ctx, t == 4 ? 3 : 4, t == 4 ? sl : sq, (unsigned)t + 1);
        rs[j]->run = attn_fwd;
        op_timed(rs[j]); /* out and lse for backward */
    }
    /* QK^T and PV: 2 GEMMs of seq x seq x d; causal does half. Backward: 5 GEMM-sized products. */
    double fwd = 4.0 * heads * seq * (double)seq * d * (causal ? 0.5 : 1.0);
    char shape[96];
    snprintf(shape, sizeof shape, "b1 h%d s%d d%d%s", heads, seq, d, causal ? " causal" : "");
    compare("attention.fwd", shape, fwd, &g, &c);
    g.run = c.run = attn_bwd;
    compare("attention.bwd", shape, 2.5 * fwd, &g, &c);
    op_free(&g);
    op_free(&c);
}

static void bench_attention(int seq, int d)
{
    if (seq > 0) {
        bench_attention_one(seq, d, 0, 4);
        bench_attention_one(seq, d, 1, 4);
        return;
    }
    static const int seqs[] = {128, 256, 512, 1024, 2048, 4096};
    for (int di = 0; di < 2; di++)
        for (size_t i = 0; i < sizeof seqs / sizeof *seqs; i++)
            for (int causal = 0; causal < 2; causal++)
                bench_attention_one(seqs[i], di ? 128 : 64, causal, seqs[i] >= 2048 ? 1 : 4);
}

/* lstm: t[0] x, t[1] w_ih, t[2] w_hh, t[3] b_ih, t[4] b_hh, t[5] out, t[6] h_n, t[7] c_n, t[8] ws,
 * t[9] dout, t[10] dx, t[11] dw_hh (dw_ih etc. skipped) */
static void lstm_fwd(op_run *r)
{
    CHECK(vkdl_lstm(r->t[0], NULL, NULL, r->t[1], r->t[2], r->t[3], r->t[4], r->t[5], r->t[6], r->t[7], r->t[8]));
}
static void lstm_bwd(op_run *r)
{
    CHECK(vkdl_lstm_backward(r->t[0], NULL, NULL, r->t[1], r->t[2], r->t[5], r->t[8], r->t[9], NULL, NULL, r->t[10],
                             NULL, NULL, NULL, r->t[11], NULL, NULL));
}

static void bench_lstm(int steps, int batch, int in, int hid)
{
    int64_t sx[3] = {steps, batch, in}, swi[2] = {4 * hid, in}, swh[2] = {4 * hid, hid}, sb[1] = {4 * hid}, so[3] = {steps, batch, hid},
            sh[2] = {batch, hid}, sws[3];
    vkdl_lstm_workspace_shape(steps, batch, hid, sws);
    op_run g = {.ctx = gpu}, c = {.ctx = cpu};
    op_run *rs[2] = {&g, &c};
    for (int j = 0; j < 2; j++) {
        vkdl_context *ctx = rs[j]->ctx;
        rs[j]->t[0] = filled(ctx, 3, sx, 1);
        rs[j]->t[1] = filled(ctx, 2, swi, 2);
        rs[j]->t[2] = filled(ctx, 2, swh, 3);
        rs[j]->t[3] = filled(ctx, 1, sb, 4);
        rs[j]->t[4] = filled(ctx, 1, sb, 5);
        rs[j]->t[5] = filled(ctx, 3, so, 6);
        rs[j]->t[6] = filled(ctx, 2, sh, 7);
        rs[j]->t[7] = filled(ctx, 2, sh, 8);
        rs[j]->t[8] = filled(ctx, 3, sws, 9);
        rs[j]->t[9] = filled(ctx, 3, so, 10);
        rs[j]->t[10] = filled(ctx, 3, sx, 11);
        rs[j]->t[11] = filled(ctx, 2, swh, 12);
        rs[j]->run = lstm_fwd;
        op_timed(rs[j]);
    }
    double fwd = 2.0 * steps * batch * 4.0 * hid * (double)(in + hid);
    char shape[96];
    snprintf(shape, sizeof shape, "T%d B%d I%d H%d", steps, batch, in, hid);
    compare("lstm.fwd", shape, fwd, &g, &c);
    g.run = c.run = lstm_bwd;
    compare("lstm.bwd", shape, 2.0 * fwd, &g, &c);
    op_free(&g);
    op_free(&c);
}

/* ---------------------------------------------------------------- training steps */

/* One model under training on one context: the README's examples 1 (mnist CNN) and 2 (char GPT)
 * at their default sizes, fed synthetic batches (throughput does not depend on the values). */
typedef struct trainer {
    vkdl_context *ctx;
    bool gpt;
    vkdl_module *model;
    vkdl_optim *opt;
    vkdl_tensor *x, *y, *pos;
    int64_t batch, seq;
} trainer;

#define GPT_V 73 /* the KJV text's distinct bytes */
#define GPT_D 64
#define GPT_T 64
#define GPT_LAYERS 2

static void trainer_init(trainer *tr, vkdl_context *ctx, bool gpt)
{
    *tr = (trainer){.ctx = ctx, .gpt = gpt};
    vkdl_module *l[16], *m;
    int n = 0;
#define ADD(call) do { CHECK(call); l[n++] = m; } while (0)
    if (!gpt) {
        vkdl_conv2d_info same = {.padding = {1, 1}};
        vkdl_pool2d_info pool = {.kernel = {2, 2}};
        ADD(vkdl_conv2d_create(ctx, 1, 16, 3, &same, 1, &m));
        ADD(vkdl_activation_create(ctx, VKDL_RELU, &m));
        ADD(vkdl_maxpool2d_create(ctx, &pool, &m));
        ADD(vkdl_conv2d_create(ctx, 16, 32, 3, &same, 1, &m));
        ADD(vkdl_activation_create(ctx, VKDL_RELU, &m));
        ADD(vkdl_maxpool2d_create(ctx, &pool, &m));
        ADD(vkdl_flatten_create(ctx, &m));
        ADD(vkdl_linear_create(ctx, 32 * 7 * 7, 128, 1, &m));
        ADD(vkdl_activation_create(ctx, VKDL_RELU, &m));
        ADD(vkdl_dropout_create(ctx, 0.25f, 1, &m));
        ADD(vkdl_linear_create(ctx, 128, 10, 1, &m));
        tr->batch = 64;
        int64_t xs[4] = {64, 1, 28, 28};
        tr->x = filled(ctx, 4, xs, 1);
    } else {
        ADD(vkdl_embedding_create(ctx, GPT_V, GPT_D, &m));
        ADD(vkdl_embedding_create(ctx, GPT_T, GPT_D, &m));
        for (int i = 0; i < GPT_LAYERS; i++)
            ADD(vkdl_transformer_block_create(ctx, GPT_D, 4, 4 * GPT_D, 1, 0.0f, &m));
        ADD(vkdl_layernorm_create(ctx, GPT_D, 1e-5f, &m));
        ADD(vkdl_linear_create(ctx, GPT_D, GPT_V, 1, &m));
        tr->batch = 16;
        tr->seq = GPT_T;
        int64_t xs[2] = {16, GPT_T}, T = GPT_T;
        int32_t ids[16 * GPT_T], pos[GPT_T];
        for (int i = 0; i < 16 * GPT_T; i++)
            ids[i] = (int32_t)((i * 2654435761u) % GPT_V);
        for (int i = 0; i < GPT_T; i++)
            pos[i] = i;
        CHECK(vkdl_tensor_create(ctx, VKDL_I32, 2, xs, &tr->x));
        CHECK(vkdl_tensor_upload(tr->x, ids, VKDL_I32, sizeof ids));
        CHECK(vkdl_tensor_create(ctx, VKDL_I32, 1, &T, &tr->pos));
        CHECK(vkdl_tensor_upload(tr->pos, pos, VKDL_I32, sizeof pos));
    }
#undef ADD
    CHECK(vkdl_sequential_create(ctx, n, l, &tr->model));
    int64_t ny = gpt ? tr->batch * tr->seq : tr->batch;
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)ny);
    for (int64_t i = 0; i < ny; i++)
        labels[i] = (int32_t)((i * 40503u) % (gpt ? GPT_V : 10));
    CHECK(vkdl_tensor_create(ctx, VKDL_I32, 1, &ny, &tr->y));
    CHECK(vkdl_tensor_upload(tr->y, labels, VKDL_I32, sizeof(int32_t) * (size_t)ny));
    free(labels);
    vkdl_optim_create_info oi = {.hyper = {.type = gpt ? VKDL_ADAMW : VKDL_ADAM, .lr = 1e-3f, .beta1 = 0.9f,
                                           .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = gpt ? 0.1f : 0.0f},
                                 .max_grad_norm = gpt ? 1.0f : 0.0f};
    CHECK(vkdl_optim_create(tr->model, &oi, &tr->opt));
}

static void train_step(void *arg)
{
    trainer *tr = arg;
    vkdl_tensor *out, *loss;
    if (!tr->gpt) {
        CHECK(vkdl_module_forward(tr->model, tr->x, &out));
    } else {
        vkdl_tensor *tok, *pos, *h, *flat;
        CHECK(vkdl_module_forward(vkdl_module_child(tr->model, 0), tr->x, &tok));
        CHECK(vkdl_module_forward(vkdl_module_child(tr->model, 1), tr->pos, &pos));
        CHECK(vkdl_f_binary(VKDL_ADD, tok, pos, &h));
        for (int i = 2; vkdl_module_child(tr->model, i); i++)
            CHECK(vkdl_module_forward(vkdl_module_child(tr->model, i), h, &h));
        int64_t fs[2] = {tr->batch * tr->seq, GPT_V};
        CHECK(vkdl_f_reshape(h, 2, fs, &flat));
        out = flat;
    }
    CHECK(vkdl_f_cross_entropy(out, tr->y, NULL, &loss));
    CHECK(vkdl_optim_zero_grad(tr->opt));
    CHECK(vkdl_backward(loss));
    CHECK(vkdl_optim_update(tr->opt));
}

static void trainer_free(trainer *tr)
{
    vkdl_optim_destroy(tr->opt);
    vkdl_module_destroy(tr->model);
    vkdl_tensor_destroy(tr->x);
    vkdl_tensor_destroy(tr->y);
    vkdl_tensor_destroy(tr->pos);
}

/* Steady-state seconds per step: steps run back to back (as a training loop does, letting the
 * host record step k+1 while the device runs step k), synced at the end. */
static double step_time(trainer *tr, int *steps_out)
{
    for (int i = 0; i < 3; i++)
        train_step(tr);
    CHECK(vkdl_sync(tr->ctx));
    int steps = 0;
    double start = now();
    while (steps < 5 || now() - start < min_time) {
        train_step(tr);
        if (++steps % 8 == 0)
            CHECK(vkdl_sync(tr->ctx));
    }
    CHECK(vkdl_sync(tr->ctx));
    *steps_out = steps;
    return (now() - start) / steps;
}

static void bench_train_one(bool gpt)
{
    const char *name = gpt ? "train.char_gpt" : "train.mnist_cnn";
    trainer g, c, p;
    int n;
    trainer_init(&g, gpu, gpt);
    double tg = step_time(&g, &n);
    trainer_free(&g);
    trainer_init(&c, cpu, gpt);
    double tc = step_time(&c, &n);
    trainer_free(&c);

    /* Kernel time from timestamps on a profiling context; the rest of a synced step is recording,
     * submission, barriers and waiting. */
    vkdl_context *prof;
    vkdl_context_create_info pi = {.backend = VKDL_BACKEND_VULKAN, .device = device, .flags = VKDL_CONTEXT_PROFILE};
    CHECK(vkdl_context_create(&pi, &prof));
    prof->profile_quiet = true;
    trainer_init(&p, prof, gpt);
    for (int i = 0; i < 3; i++)
        train_step(&p);
    CHECK(vkdl_sync(prof));
    double k0 = vkdl_sched_kernel_ms(prof), t0 = now(), host = 0;
    int steps = 0;
    while (steps < 5 || now() - t0 < min_time) {
        double h0 = now();
        train_step(&p);
        host += now() - h0;
        CHECK(vkdl_sync(prof));
        steps++;
    }
    double wall_ms = 1e3 * (now() - t0) / steps, kernel_ms = (vkdl_sched_kernel_ms(prof) - k0) / steps;
    double host_ms = 1e3 * host / steps;
    trainer_free(&p);
    vkdl_context_destroy(prof);

    double samples = gpt ? 16.0 * GPT_T : 64.0; /* tokens for the GPT, images for the CNN */
    const char *unit = gpt ? "tokens/s" : "samples/s";
    if (json) {
        printf("{\"op\":\"%s\",\"device\":\"%s\",\"per_s\":%.1f,\"cpu_per_s\":%.1f,\"ratio\":%.3f,\"unit\":\"%s\","
               "\"synced_step_ms\":%.3f,\"kernel_ms\":%.3f,\"record_ms\":%.3f}\n",
               name, vkdl_context_device_name(gpu), samples / tg, samples / tc, tc / tg, unit, wall_ms, kernel_ms,
               host_ms);
    } else {
        printf("%-16s %10.0f %s on the device, %10.0f on the CPU path: ratio %.2f\n", name, samples / tg, unit,
               samples / tc, tc / tg);
        printf("%-16s synced step %.2f ms = kernels %.2f ms (%.0f%%) + overhead %.2f ms; recording the step took %.2f ms\n",
               "", wall_ms, kernel_ms, wall_ms > 0 ? 100.0 * kernel_ms / wall_ms : 0.0, wall_ms - kernel_ms, host_ms);
    }
}

static void bench_train(const char *which)
{
    if (!which || !strcmp(which, "mnist"))
        bench_train_one(false);
    if (!which || !strcmp(which, "gpt"))
        bench_train_one(true);
}


/* ---------------------------------------------------------------- onnx */

typedef struct onnx_bench {
    vkdl_onnx_plan *plan;
    int n;
    vkdl_host_tensor *in;
} onnx_bench;

static void onnx_run_once(void *arg)
{
    onnx_bench *b = arg;
    CHECK(vkdl_onnx_run(b->plan, b->n, b->in));
}

/* Median latency of one backend; compile time and peak memory from its plan. */
static void onnx_measure(vkdl_context *ctx, const vkdl_onnx_model *m, const vkdl_host_tensor *given,
                         vkdl_host_tensor *in, int n, double *compile_ms, double *run_ms, double *first_ms, size_t *peak,
                         vkdl_onnx_plan_stats *st)
{
    vkdl_context_reset_peak(ctx);
    vkdl_onnx_plan_info info = {.n_inputs = n, .inputs = given};
    onnx_bench b = {.n = n, .in = in};
    CHECK(vkdl_onnx_plan_create(ctx, m, &info, &b.plan));
    double t0 = now();
    onnx_run_once(&b);
    *first_ms = (now() - t0) * 1e3;
    *run_ms = best_time(onnx_run_once, &b) * 1e3;
    *st = (vkdl_onnx_plan_stats){0};
    CHECK(vkdl_onnx_plan_stats_get(b.plan, st));
    *compile_ms = st->compile_ms;
    size_t cur;
    vkdl_context_memory(ctx, &cur, peak);
    vkdl_onnx_plan_destroy(b.plan);
}

static void bench_onnx(const char *path, int n_shapes, char **shapes)
{
    vkdl_onnx_model *m;
    CHECK(vkdl_onnx_load(path, &m));
    int n = vkdl_onnx_input_count(m);
    vkdl_host_tensor *in = calloc((size_t)n + 1, sizeof *in);
    char spec[64][160], cmd[16384];
    int at = snprintf(cmd, sizeof cmd, "node '%s/ort-bench.js' '%s' %g", VKDL_TOOLS_DIR, path, min_time);
    uint64_t state = 1;
    for (int i = 0; i < n && i < 64; i++) {
        vkdl_host_tensor d;
        CHECK(vkdl_onnx_input(m, i, &d));
        in[i] = d;
        for (int k = 0; k < n_shapes; k++) {
            size_t l = strlen(d.name);
            if (!strncmp(shapes[k], d.name, l) && shapes[k][l] == '=') {
                in[i].ndim = 0;
                for (char *p = shapes[k] + l + 1; *p && in[i].ndim < VKDL_MAX_DIMS; p += *p == 'x') {
                    in[i].shape[in[i].ndim++] = strtoll(p, &p, 10);
                }
            }
        }
        int64_t numel = 1;
        char dims[96] = "";
        size_t dl = 0;
        for (int dd = 0; dd < in[i].ndim; dd++) {
            if (in[i].shape[dd] < 0) {
                fprintf(stderr, "vkdl-bench: input '%s' dim %d is symbolic: give %s=DxDx... after the model\n", d.name,
                        dd, d.name);
                exit(2);
            }
            numel *= in[i].shape[dd];
            dl += (size_t)snprintf(dims + dl, sizeof dims - dl, dd ? "x%lld" : "%lld", (long long)in[i].shape[dd]);
        }
        if (!in[i].ndim)
            snprintf(dims, sizeof dims, "scalar");
        bool fl = d.dtype == VKDL_F32;
        in[i].bytes = (size_t)numel * vkdl_dtype_size(d.dtype);
        void *data = calloc(in[i].bytes + 1, 1);
        for (int64_t k = 0; fl && k < numel; k++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            ((float *)data)[k] = (float)((double)(state >> 11) / 9007199254740992.0);
        }
        in[i].data = data;
        snprintf(spec[i], sizeof spec[i], "%s=%s:%s", d.name, vkdl_dtype_name(d.dtype), dims);
        at += snprintf(cmd + at, sizeof cmd - (size_t)at, " '%s'", spec[i]);
    }
    /* Integer inputs are fixed as plan constants (they often decide shapes); floats are run inputs. */
    vkdl_host_tensor *given = calloc((size_t)n + 1, sizeof *given);
    for (int i = 0; i < n; i++) {
        given[i] = in[i];
        if (in[i].dtype == VKDL_F32)
            given[i].data = NULL;
    }
    double comp[2], run[2], first[2];
    size_t peak[2];
    vkdl_onnx_plan_stats st[2];
    vkdl_context *ctxs[2] = {gpu, cpu};
    for (int b = 0; b < 2; b++)
        onnx_measure(ctxs[b], m, given, in, n, &comp[b], &run[b], &first[b], &peak[b], &st[b]);
    /* The same inputs, plan-fixed ones included, go to ONNX Runtime. */
    double ort_ms = -1, ort_load = -1;
    char ort_ver[32] = "?";
    FILE *f = popen(cmd, "r");
    char line[1024] = "";
    if (f && fgets(line, sizeof line, f)) {
        const char *p;
        if ((p = strstr(line, "\"median_ms\":")))
            ort_ms = atof(p + 12);
        if ((p = strstr(line, "\"load_ms\":")))
            ort_load = atof(p + 10);
        if ((p = strstr(line, "\"ort\":\"")))
            snprintf(ort_ver, sizeof ort_ver, "%.*s", (int)strcspn(p + 7, "\""), p + 7);
    }
    if (f)
        pclose(f);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (json) {
        printf("{\"bench\":\"onnx\",\"model\":\"%s\",\"device\":\"%s\",\"device_ms\":%.4f,\"device_compile_ms\":%.1f,"
               "\"device_peak_bytes\":%zu,\"recorded\":%d,\"cpu_ms\":%.4f,\"cpu_compile_ms\":%.1f,\"ort_ms\":%.4f,"
               "\"ort_load_ms\":%.1f,\"ort\":\"%s\",\"nodes\":%d,\"device_steps\":%d,\"host_nodes\":%d}\n",
               base, vkdl_context_device_name(gpu), run[0], comp[0], peak[0], st[0].recorded, run[1], comp[1], ort_ms,
               ort_load, ort_ver, st[0].nodes, st[0].device_steps, st[0].host_nodes);
    } else {
        printf("onnx %s: %d nodes (%d device steps%s, %d folded on the host); inputs", base, st[0].nodes,
               st[0].device_steps, st[0].recorded ? ", recorded" : "", st[0].host_nodes);
        for (int i = 0; i < n; i++)
            printf(" %s", spec[i]);
        printf("\n  %-28s %10s %12s %12s %14s\n", "", "run ms", "first run ms", "compile ms", "peak MB");
        printf("  %-28.28s %10.3f %12.2f %12.1f %14.2f\n", vkdl_context_device_name(gpu), run[0], first[0], comp[0],
               peak[0] / 1e6);
        printf("  %-28s %10.3f %12.2f %12.1f %14.2f\n", "vkdl CPU backend", run[1], first[1], comp[1], peak[1] / 1e6);
        if (ort_ms >= 0)
            printf("  %-28s %10.3f %12s %12.1f %14s\n  ratio ONNX Runtime / device %.2f, ONNX Runtime / vkdl CPU %.2f "
                   "(above 1: vkdl is faster)\n", "ONNX Runtime (CPU, 2 thr)", ort_ms, "", ort_load, "", ort_ms / run[0],
                   ort_ms / run[1]);
        else
            printf("  ONNX Runtime: not measured (node or npm onnxruntime-node missing: run tools/setup.sh)\n");
    }
    for (int i = 0; i < n; i++)
        free((void *)in[i].data);
    free(in);
    free(given);
    vkdl_onnx_model_destroy(m);
}

static int usage(void)
{
    fprintf(stderr, "usage: vkdl-bench [--json] [--device D] [--peak GFLOPS] [--min-time S]\n"
                    "                  [--dtype f16|bf16] [--bias] [--act relu|gelu_tanh|...] (matmul)\n"
                    "                  matmul [M N K] | conv [N] | attention [SEQ D] | lstm [T B I H] | train [mnist|gpt]\n"
                    "                  | onnx MODEL [NAME=DxDx...]\n");
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
        else if (!strcmp(argv[i], "--dtype") && i + 1 < argc && (!strcmp(argv[i + 1], "f16") || !strcmp(argv[i + 1], "bf16")))
            mm_dtype = !strcmp(argv[++i], "f16") ? VKDL_F16 : VKDL_BF16;
        else if (!strcmp(argv[i], "--bias"))
            mm_bias = true;
        else if (!strcmp(argv[i], "--act") && i + 1 < argc) {
            for (int a = 0; a < VKDL_UNARY_OP_COUNT; a++)
                if (!strcmp(argv[i + 1], vkdl_unary_op_name(a)))
                    mm_act = a;
            if (mm_act < 0)
                return usage();
            i++;
        }
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
    } else if (!strcmp(op, "conv") || !strcmp(op, "attention") || !strcmp(op, "lstm") || !strcmp(op, "train") ||
               (!strcmp(op, "onnx") && i < argc)) {
        vkdl_context_create_info cc = {.backend = VKDL_BACKEND_CPU};
        CHECK(vkdl_context_create(&cc, &cpu));
        if (!strcmp(op, "conv"))
            bench_conv(i < argc ? atoi(argv[i]) : 8); /* a training batch */
        else if (!strcmp(op, "train"))
            bench_train(i < argc ? argv[i] : NULL);
        else if (!strcmp(op, "onnx"))
            bench_onnx(argv[i], argc - i - 1, argv + i + 1);
        else if (!strcmp(op, "attention"))
            bench_attention(i + 2 <= argc ? atoi(argv[i]) : 0, i + 2 <= argc ? atoi(argv[i + 1]) : 64);
        else
            bench_lstm(i + 4 <= argc ? atoi(argv[i]) : 64, i + 4 <= argc ? atoi(argv[i + 1]) : 32,
                       i + 4 <= argc ? atoi(argv[i + 2]) : 256, i + 4 <= argc ? atoi(argv[i + 3]) : 256);
        vkdl_context_destroy(cpu);
    } else {
        rc = usage();
    }
    vkdl_context_destroy(gpu);
    return rc;
}
