/* The scheduler: uploads interleaved with dispatches, the staging path, profiling and descriptor pools;
 * dispatches with empty bindings. lib/runtime/sched.c, dispatch.c */
#include "harness.h"
#include "runtime/runtime.h"
#include "runtime_checks.h"
#include "shaders.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static vkdl_context *staging_ctx(void)
{
    char *saved = th_env_set("VKDL_FORCE_STAGING", "1");
    vkdl_context *c = th_ctx_new(VKDL_BACKEND_VULKAN, 0, NULL);
    th_env_restore("VKDL_FORCE_STAGING", saved);
    return c;
}

/* Uploads interleaved with dispatches in one batch and across batches: each upload must land
 * after the dispatches recorded before it that read the old contents, and before those after. */
static void check_interleaved(vkdl_context *c)
{
    enum { N = 777, STEPS = 300 };
    vkdl_context *ctxs[2] = {c, th_cpu};
    float res[2][N];
    float *host = malloc(N * 4);
    for (int k = 0; k < 2; k++) {
        vkdl_tensor *x = th_mk1(ctxs[k], VKDL_F32, N), *y = th_mk1(ctxs[k], VKDL_F32, N),
                    *acc = th_mk1(ctxs[k], VKDL_F32, N);
        TH_OK(vkdl_tensor_fill(acc, 0));
        for (int s = 0; s < STEPS; s++) {
            for (int i = 0; i < N; i++)
                host[i] = (float)((i * 7 + s * 13) % 101) * 0.125f;
            TH_OK(vkdl_tensor_upload(x, host, VKDL_F32, N * 4));
            TH_OK(vkdl_scale(x, 0.5f, (float)(s % 5), y));
            TH_OK(vkdl_binary(VKDL_ADD, acc, y, acc));
            for (int i = 0; i < N; i++)
                host[i] = (float)((i * 3 + s) % 17);
            TH_OK(vkdl_tensor_upload(x, host, VKDL_F32, N * 4)); /* WAR against the scale */
            TH_OK(vkdl_binary(VKDL_SUB, acc, x, acc));
            if (s % 50 == 49) { /* a fill and an upload to the accumulator itself */
                TH_OK(vkdl_tensor_download(acc, res[k], VKDL_F32, N * 4));
                TH_OK(vkdl_tensor_fill(y, 1));
                TH_OK(vkdl_binary(VKDL_MUL, acc, y, acc));
                TH_OK(vkdl_tensor_upload(acc, res[k], VKDL_F32, N * 4));
            }
        }
        TH_OK(vkdl_tensor_download(acc, res[k], VKDL_F32, N * 4));
        vkdl_tensor_destroy(x);
        vkdl_tensor_destroy(y);
        vkdl_tensor_destroy(acc);
    }
    th_close_f32(res[0], res[1], N, "interleaved uploads and dispatches");
    free(host);
}

static void run_staging(void *arg)
{
    (void)arg;
    vkdl_context *c = staging_ctx();
    if (!c)
        return;
    th_check_zero_size(c);
    th_check_conversions(c);
    th_check_view_fill(c);
    th_check_keep_alive(c);
    th_check_reuse_pending(c);
    th_check_fill_all(c);
    th_graph_matches_cpu(c, "staging graph");
    check_interleaved(c);
    /* unary and broadcasting binary against the CPU */
    {
        int64_t sa[2] = {33, 65}, sb[1] = {65};
        float *a = malloc(33 * 65 * 4), *bv = malloc(65 * 4), *r[2];
        for (int i = 0; i < 33 * 65; i++)
            a[i] = th_randf(-3, 3);
        for (int i = 0; i < 65; i++)
            bv[i] = th_randf(0.5f, 2);
        vkdl_context *ctxs[2] = {c, th_cpu};
        for (int k = 0; k < 2; k++) {
            vkdl_tensor *x = th_mk(ctxs[k], VKDL_F32, 2, sa), *y = th_mk(ctxs[k], VKDL_F32, 1, sb),
                        *o = th_mk(ctxs[k], VKDL_F32, 2, sa);
            TH_OK(vkdl_tensor_upload(x, a, VKDL_F32, 33 * 65 * 4));
            TH_OK(vkdl_tensor_upload(y, bv, VKDL_F32, 65 * 4));
            TH_OK(vkdl_unary(VKDL_SIGMOID, x, o));
            TH_OK(vkdl_binary(VKDL_DIV, o, y, o));
            r[k] = malloc(33 * 65 * 4);
            TH_OK(vkdl_tensor_download(o, r[k], VKDL_F32, 33 * 65 * 4));
            vkdl_tensor_destroy(x);
            vkdl_tensor_destroy(y);
            vkdl_tensor_destroy(o);
        }
        th_close_f32(r[0], r[1], 33 * 65, "staging unary/binary");
        free(r[0]);
        free(r[1]);
        free(a);
        free(bv);
    }
    th_ctx_done(c);
}

static void run_interleaved(void *arg) { check_interleaved(*(vkdl_context **)arg); }

/* The profiling path (timestamp queries) and the descriptor-pool path (no push descriptors, as on
 * SwiftShader; pools recycled over many batches) run cleanly under validation. */
static void run_profile_and_pools(void *arg)
{
    (void)arg;
    vkdl_context *c = th_ctx_new(VKDL_BACKEND_VULKAN, VKDL_CONTEXT_PROFILE, NULL);
    if (c) {
        th_graph_matches_cpu(c, "profiled graph");
        th_ctx_done(c);
    }
    char *saved = th_env_set("VKDL_DISABLE_PUSH_DESCRIPTOR", "1");
    c = th_ctx_new(VKDL_BACKEND_VULKAN, 0, NULL);
    th_env_restore("VKDL_DISABLE_PUSH_DESCRIPTOR", saved);
    if (c) {
        th_graph_matches_cpu(c, "descriptor-pool graph");
        check_interleaved(c);
        th_check_reuse_pending(c);
        th_ctx_done(c);
    }
}

/* Transfers larger than a staging chunk, with odd byte counts, then more transfers in the same
 * batch; on a fresh context so the large one is the frame's first staging buffer. */
static void run_staging_large(void *arg)
{
    (void)arg;
    vkdl_context *c = staging_ctx();
    if (!c)
        return;
    const int64_t big = (17 << 20) + 3, small = 1001;
    vkdl_tensor *a = th_mk1(c, VKDL_U8, big), *b = th_mk1(c, VKDL_U8, small), *f = th_mk1(c, VKDL_F32, small),
                *g = th_mk1(c, VKDL_F32, small);
    uint8_t *ha = malloc((size_t)big), *back = malloc((size_t)big);
    uint8_t hb[1001], bb[1001];
    float hf[1001], gf[1001];
    for (int64_t i = 0; i < big; i++)
        ha[i] = (uint8_t)(i * 31 + 7);
    for (int i = 0; i < small; i++) {
        hb[i] = (uint8_t)(i * 5 + 1);
        hf[i] = (float)i;
    }
    TH_OK(vkdl_tensor_upload(a, ha, VKDL_U8, (size_t)big));
    TH_OK(vkdl_tensor_upload(b, hb, VKDL_U8, (size_t)small));
    TH_OK(vkdl_tensor_upload(f, hf, VKDL_F32, sizeof hf));
    TH_OK(vkdl_scale(f, 2, 1, g));
    TH_OK(vkdl_tensor_download(g, gf, VKDL_F32, sizeof gf));
    TH_OK(vkdl_tensor_download(b, bb, VKDL_U8, sizeof bb));
    TH_OK(vkdl_tensor_download(a, back, VKDL_U8, (size_t)big));
    TH_TRUE(memcmp(ha, back, (size_t)big) == 0);
    TH_TRUE(memcmp(hb, bb, sizeof hb) == 0);
    for (int i = 0; i < small; i++)
        if (gf[i] != 2 * hf[i] + 1) {
            th_fail("scale after a large upload: [%d] = %g", i, gf[i]);
            break;
        }
    /* the same again, now with the frame's staging buffers already made */
    for (int64_t i = 0; i < big; i++)
        ha[i] = (uint8_t)(i * 17 + 3);
    TH_OK(vkdl_tensor_upload(a, ha, VKDL_U8, (size_t)big));
    TH_OK(vkdl_tensor_upload(b, ha, VKDL_U8, (size_t)small));
    TH_OK(vkdl_tensor_upload(a, ha, VKDL_U8, (size_t)big));
    TH_OK(vkdl_tensor_download(a, back, VKDL_U8, (size_t)big));
    TH_TRUE(memcmp(ha, back, (size_t)big) == 0);
    TH_OK(vkdl_tensor_download(b, bb, VKDL_U8, sizeof bb));
    TH_TRUE(memcmp(ha, bb, sizeof bb) == 0);
    free(ha);
    free(back);
    vkdl_tensor_destroy(a);
    vkdl_tensor_destroy(b);
    vkdl_tensor_destroy(f);
    vkdl_tensor_destroy(g);
    th_ctx_done(c);
}

static const vkdl_kernel K_COPY = {
    VKDL_SPIRV(copy),
    .n_bindings = 2,
    .access = {VKDL_READ, VKDL_RW},
    .push_size = 2 * sizeof(uint32_t),
    .n_spec = 3,
};

/* A dispatch that binds nothing (no tensor, or one of zero elements) is a caller's mistake, named
 * as such, not a silent no-op. */
static void run_empty_binding(void *arg)
{
    (void)arg;
    int64_t zero = 0;
    vkdl_tensor *x = th_mk1(th_gpu, VKDL_F32, 4), *empty = th_mk(th_gpu, VKDL_F32, 1, &zero);
    if (!x || !empty) {
        vkdl_tensor_destroy(x);
        vkdl_tensor_destroy(empty);
        return;
    }
    TH_OK(vkdl_tensor_fill(x, 1));
    uint32_t spec[3] = {64, VKDL_F32, VKDL_F32}, push[2] = {4, 4};
    vkdl_dispatch_info d = {.kernel = &K_COPY, .spec = spec, .tensors = {empty, x}, .push = push, .groups = {1, 1, 1}};
    TH_STATUS(vkdl_dispatch(th_gpu, &d), VKDL_ERROR_INVALID_ARGUMENT, "binding 0 is empty");
    TH_TRUE(strstr(vkdl_last_error(), "copy") != NULL);
    d.tensors[0] = x;
    d.tensors[1] = NULL;
    TH_STATUS(vkdl_dispatch(th_gpu, &d), VKDL_ERROR_INVALID_ARGUMENT, "binding 1 is empty");
    d.tensors[1] = empty;
    TH_STATUS(vkdl_dispatch(th_gpu, &d), VKDL_ERROR_INVALID_ARGUMENT, "binding 1 is empty");
    /* nothing was recorded: x still holds what was filled */
    float h[4];
    TH_OK(vkdl_tensor_download(x, h, VKDL_F32, sizeof h));
    TH_TRUE(h[0] == 1 && h[3] == 1);
    vkdl_tensor_destroy(x);
    vkdl_tensor_destroy(empty);
}


/* A recording replays its commands with whatever the inputs hold at replay time; an op's scratch
 * (reduce PROD keeps a zero count and a product in tensors it frees) stays allocated for it; and
 * anything needing the host mid-capture fails the capture without running it. */
static void run_capture(void *arg)
{
    (void)arg;
    vkdl_context *ctx = th_gpu;
    int64_t shape[2] = {37, 300}, rows = 37;
    vkdl_tensor *x, *y, *p;
    if (!TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 2, shape, &x)))
        return;
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 2, shape, &y));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, &rows, &p));
    float *h = malloc(37 * 300 * sizeof *h), out[37];
    vkdl_recording *rec = NULL;
    TH_OK(vkdl_sched_capture_begin(ctx));
    TH_OK(vkdl_unary(VKDL_EXP, x, y));
    TH_OK(vkdl_reduce(VKDL_PROD, y, 1, p));
    if (TH_OK(vkdl_sched_capture_end(ctx, &rec))) {
        for (int run = 0; run < 3; run++) {
            for (int i = 0; i < 37 * 300; i++)
                h[i] = (i / 300 == 5 && run == 1) ? -INFINITY : 0.001f * (float)(run + 1);
            TH_OK(vkdl_tensor_upload(x, h, VKDL_F32, 37 * 300 * sizeof *h));
            /* Allocations between replays must not land in the recording's scratch. */
            vkdl_tensor *junk;
            TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 2, shape, &junk));
            TH_OK(vkdl_tensor_fill(junk, 7));
            TH_OK(vkdl_sched_replay(ctx, rec));
            TH_OK(vkdl_tensor_download(p, out, VKDL_F32, sizeof out));
            for (int r = 0; r < 37; r++) {
                float want = (r == 5 && run == 1) ? 0 : expf(0.3f * (float)(run + 1));
                if (fabsf(out[r] - want) > 1e-4f * want)
                    th_fail("run %d row %d: %g, want %g", run, r, out[r], want);
            }
            vkdl_tensor_destroy(junk);
        }
    }
    vkdl_recording_destroy(ctx, rec);
    TH_OK(vkdl_sched_capture_begin(ctx));
    TH_STATUS(vkdl_tensor_download(p, out, VKDL_F32, sizeof out), VKDL_ERROR_UNSUPPORTED, "cannot be recorded");
    TH_STATUS(vkdl_sched_capture_end(ctx, &rec), VKDL_ERROR_UNSUPPORTED, "cannot be recorded for replay");
    (void)TH_TRUE(rec == NULL);
    TH_OK(vkdl_sync(ctx));
    free(h);
    vkdl_tensor_destroy(x);
    vkdl_tensor_destroy(y);
    vkdl_tensor_destroy(p);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    th_run("runtime/interleaved/vulkan", run_interleaved, &th_gpu);
    th_run("runtime/profile-and-descriptor-pools", run_profile_and_pools, NULL);
    th_run("runtime/staging", run_staging, NULL);
    th_run("runtime/staging/large-odd-transfers", run_staging_large, NULL);
    th_run("runtime/empty-binding", run_empty_binding, NULL);
    th_run("runtime/capture-replay", run_capture, NULL);
    return th_finish();
}
