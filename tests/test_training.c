/* Training (lib/nn/trainer.c over lib/nn/module.c, lib/io/checkpoint.c): optimizer objects, schedules and
 * checkpoints, through the public API only.
 *
 * - Loss curves: a small CNN (conv-relu-maxpool-flatten-linear) and a tiny causal transformer LM,
 *   same seed and same synthetic batches, 30 Adam steps on the CPU backend and on the device; the
 *   per-step losses must agree within curve_tol(step) = 2e-5 + 1e-5 step relative (3e-5 at step
 *   1, 3.2e-4 at step 30). The backends add in different orders (tiled GEMMs, subgroup and
 *   workgroup reductions against the CPU twins' loops and OpenBLAS), so the first loss differs by
 *   f32 reassociation only, and every update feeds the difference back into the weights, so the
 *   bound grows with the step. Measured (largest over the 30 steps): CNN 2.3e-7 on lavapipe and
 *   2.2e-7 on SwiftShader, LM 2.8e-7 on both; a GPU with other tile sizes and approximate
 *   exp/tanh should stay within a few 1e-6, so the bound leaves a margin of about 100. It is
 *   still tight enough to matter: running the device with a learning rate 0.1% too high exceeds
 *   it from step 2 on (4e-5 at step 2, 5e-4 at step 10), and a wrong gradient is far larger.
 * - Checkpoints: 10 steps, save, 10 more; a fresh model and optimizer loaded from the file repeat
 *   the last 10 steps bit for bit (losses, parameters and batch-norm buffers compared with
 *   memcmp) on each backend, with AdamW, warm-up + cosine schedule and gradient clipping, for a
 *   CNN with batch norm and for the LM with dropout 0.1 (the checkpoint carries the dropout
 *   seeds and call counts).
 * - Memory: device (and host-backend) memory in use and its peak are the same at step 10 and at
 *   step 1000 of a training loop.
 * - The optimizer against vkdl_optim_step applied by hand, zero_grad, the schedule's values,
 *   clipping, bad input; checkpoint errors (missing, truncated, other architecture). */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define CURVE_STEPS 30

static double curve_tol(int step) { return 2e-5 + 1e-5 * step; }

/* A checkpoint path of this process, so parallel runs do not collide. */
static const char *tmp_path(const char *tag)
{
    static char buf[4][256];
    static int next;
    char *p = buf[next++ % 4];
    const char *dir = getenv("TMPDIR");
    snprintf(p, 256, "%s/vkdl_test_training_%d_%s.safetensors", dir && *dir ? dir : "/tmp", (int)getpid(), tag);
    return p;
}

/* ---------------------------------------------------------------- models and data */

enum model_kind { M_CNN, M_LM, M_BN, M_MLP, M_LM_DROPOUT };

static bool is_lm(enum model_kind kind) { return kind == M_LM || kind == M_LM_DROPOUT; }

#define CNN_SIDE 8
#define CNN_CLASSES 3
#define LM_VOCAB 13
#define LM_T 8

static vkdl_module *seq_of(vkdl_context *ctx, int n, vkdl_module **k, bool ok)
{
    vkdl_module *m = NULL;
    if (!ok) {
        for (int i = 0; i < n; i++)
            vkdl_module_destroy(k[i]);
        return NULL;
    }
    TH_OK(vkdl_sequential_create(ctx, n, k, &m));
    return m;
}

static vkdl_module *build(vkdl_context *ctx, enum model_kind kind)
{
    vkdl_module *k[6] = {0};
    vkdl_conv2d_info same = {.padding = {1, 1}};
    vkdl_pool2d_info pool = {.kernel = {2, 2}};
    switch (kind) {
    case M_CNN: /* [B, 1, 8, 8] -> conv 4 -> relu -> pool -> [B, 64] -> 3 classes */
        return seq_of(ctx, 5, k,
                      TH_OK(vkdl_conv2d_create(ctx, 1, 4, 3, &same, 1, &k[0])) &&
                          TH_OK(vkdl_activation_create(ctx, VKDL_RELU, &k[1])) &&
                          TH_OK(vkdl_maxpool2d_create(ctx, &pool, &k[2])) && TH_OK(vkdl_flatten_create(ctx, &k[3])) &&
                          TH_OK(vkdl_linear_create(ctx, 64, CNN_CLASSES, 1, &k[4])));
    case M_LM: /* [B, T] ids -> embedding 16 -> causal block -> layer norm -> logits */
    case M_LM_DROPOUT:
        return seq_of(ctx, 4, k,
                      TH_OK(vkdl_embedding_create(ctx, LM_VOCAB, 16, &k[0])) &&
                          TH_OK(vkdl_transformer_block_create(ctx, 16, 2, 32, 1, kind == M_LM ? 0.0f : 0.1f, &k[1])) &&
                          TH_OK(vkdl_layernorm_create(ctx, 16, 1e-5f, &k[2])) &&
                          TH_OK(vkdl_linear_create(ctx, 16, LM_VOCAB, 1, &k[3])));
    case M_BN: /* conv 3 -> batch norm -> relu -> flatten -> linear */
        return seq_of(ctx, 5, k,
                      TH_OK(vkdl_conv2d_create(ctx, 1, 3, 3, &same, 1, &k[0])) &&
                          TH_OK(vkdl_batchnorm2d_create(ctx, 3, 0.1f, 1e-5f, &k[1])) &&
                          TH_OK(vkdl_activation_create(ctx, VKDL_RELU, &k[2])) && TH_OK(vkdl_flatten_create(ctx, &k[3])) &&
                          TH_OK(vkdl_linear_create(ctx, 3 * CNN_SIDE * CNN_SIDE, CNN_CLASSES, 1, &k[4])));
    case M_MLP:
        return seq_of(ctx, 3, k,
                      TH_OK(vkdl_linear_create(ctx, 8, 16, 1, &k[0])) &&
                          TH_OK(vkdl_activation_create(ctx, VKDL_GELU_TANH, &k[1])) &&
                          TH_OK(vkdl_linear_create(ctx, 16, 4, 1, &k[2])));
    }
    return NULL;
}

/* Batch `step` of a synthetic task, the same on every backend: images whose class is which third
 * of the columns is bright (CNN, BN), token runs t -> 3t + 1 mod V (LM), or the quadrant of the
 * first two coordinates of a random vector (MLP). x and y are created here; the caller destroys
 * them. */
static int64_t batch_size(enum model_kind kind) { return is_lm(kind) ? 4 : kind == M_MLP ? 8 : 12; }

static bool make_batch(vkdl_context *ctx, enum model_kind kind, int64_t step, vkdl_tensor **x, vkdl_tensor **y)
{
    *x = *y = NULL;
    uint64_t s = 0xda7a0000u + (uint64_t)step * 7919u;
    int64_t B = batch_size(kind);
    bool ok = true;
    if (is_lm(kind)) {
        int64_t xs[2] = {B, LM_T}, ys = B * LM_T;
        int32_t xv[4 * LM_T], yv[4 * LM_T];
        for (int64_t b = 0; b < B; b++) {
            int32_t t = (int32_t)(th_mix(&s) % LM_VOCAB);
            for (int64_t i = 0; i < LM_T; i++) {
                xv[b * LM_T + i] = t;
                t = (3 * t + 1) % LM_VOCAB;
                yv[b * LM_T + i] = t;
            }
        }
        ok = TH_OK(vkdl_tensor_create(ctx, VKDL_I32, 2, xs, x)) && TH_OK(vkdl_tensor_create(ctx, VKDL_I32, 1, &ys, y)) &&
             TH_OK(vkdl_tensor_upload(*x, xv, VKDL_I32, sizeof xv)) && TH_OK(vkdl_tensor_upload(*y, yv, VKDL_I32, sizeof yv));
    } else if (kind == M_MLP) {
        int64_t xs[2] = {B, 8};
        float xv[8 * 8];
        int32_t yv[8];
        for (int64_t b = 0; b < B; b++) {
            for (int i = 0; i < 8; i++)
                xv[b * 8 + i] = th_urand(&s, -1, 1);
            yv[b] = (xv[b * 8] > 0) + 2 * (xv[b * 8 + 1] > 0);
        }
        ok = TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 2, xs, x)) && TH_OK(vkdl_tensor_create(ctx, VKDL_I32, 1, &B, y)) &&
             TH_OK(vkdl_tensor_upload(*x, xv, VKDL_F32, sizeof xv)) && TH_OK(vkdl_tensor_upload(*y, yv, VKDL_I32, sizeof yv));
    } else {
        int64_t xs[4] = {B, 1, CNN_SIDE, CNN_SIDE};
        float xv[12 * CNN_SIDE * CNN_SIDE];
        int32_t yv[12];
        for (int64_t b = 0; b < B; b++) {
            int c = (int)(th_mix(&s) % CNN_CLASSES);
            yv[b] = c;
            for (int i = 0; i < CNN_SIDE * CNN_SIDE; i++) {
                int col = i % CNN_SIDE;
                xv[b * CNN_SIDE * CNN_SIDE + i] = th_urand(&s, -0.5f, 0.5f) + (col * CNN_CLASSES / CNN_SIDE == c ? 1.0f : 0.0f);
            }
        }
        ok = TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 4, xs, x)) && TH_OK(vkdl_tensor_create(ctx, VKDL_I32, 1, &B, y)) &&
             TH_OK(vkdl_tensor_upload(*x, xv, VKDL_F32, sizeof xv)) && TH_OK(vkdl_tensor_upload(*y, yv, VKDL_I32, sizeof yv));
    }
    if (!ok) {
        vkdl_tensor_destroy(*x);
        vkdl_tensor_destroy(*y);
        *x = *y = NULL;
    }
    return ok;
}

/* Forward and cross-entropy loss on batch `step` (recorded while grad mode is on). */
static bool forward_loss(vkdl_module *m, enum model_kind kind, vkdl_tensor *x, vkdl_tensor *y, vkdl_tensor **loss)
{
    vkdl_tensor *out = NULL, *flat = NULL;
    if (!TH_OK(vkdl_module_forward(m, x, &out)))
        return false;
    if (is_lm(kind)) {
        int64_t s2[2] = {-1, LM_VOCAB};
        if (!TH_OK(vkdl_f_reshape(out, 2, s2, &flat)))
            return false;
        out = flat;
    }
    return TH_OK(vkdl_f_cross_entropy(out, y, NULL, loss));
}

/* One training step on batch `step`: zero_grad, forward, backward, update. loss may be NULL (no
 * download, so no wait for the device). */
static bool train_step(vkdl_module *m, vkdl_optim *o, enum model_kind kind, int64_t step, float *loss)
{
    vkdl_context *ctx = NULL;
    vkdl_tensor *t;
    if (!TH_OK(vkdl_module_param(m, 0, NULL, &t)))
        return false;
    ctx = vkdl_tensor_context(t);
    vkdl_tensor *x, *y, *l = NULL;
    if (!make_batch(ctx, kind, step, &x, &y))
        return false;
    bool ok = TH_OK(vkdl_optim_zero_grad(o)) && forward_loss(m, kind, x, y, &l);
    if (ok && loss)
        ok = TH_OK(vkdl_tensor_download(l, loss, VKDL_F32, sizeof *loss));
    ok = ok && TH_OK(vkdl_backward(l)) && TH_OK(vkdl_optim_update(o));
    if (!ok)
        vkdl_graph_free(ctx);
    vkdl_tensor_destroy(x);
    vkdl_tensor_destroy(y);
    return ok;
}

static vkdl_optim_create_info adam(float lr)
{
    return (vkdl_optim_create_info){.hyper = {.type = VKDL_ADAM, .lr = lr, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f}};
}

/* Every parameter and buffer of m, concatenated on the host. */
static float *state_of(const vkdl_module *m, int64_t *n)
{
    int count = vkdl_module_param_count(m);
    *n = 0;
    for (int i = 0; i < count; i++) {
        vkdl_tensor *t;
        if (vkdl_module_param(m, i, NULL, &t) == VKDL_OK)
            *n += vkdl_tensor_numel(t);
    }
    float *all = malloc((size_t)(*n ? *n : 1) * sizeof *all);
    int64_t at = 0;
    for (int i = 0; i < count; i++) {
        vkdl_tensor *t;
        if (vkdl_module_param(m, i, NULL, &t) != VKDL_OK)
            continue;
        int64_t k = vkdl_tensor_numel(t);
        if (k)
            TH_OK(vkdl_tensor_download(t, all + at, VKDL_F32, (size_t)k * sizeof *all));
        at += k;
    }
    return all;
}

/* ---------------------------------------------------------------- CPU vs device loss curves */

static void run_curves(void *arg)
{
    enum model_kind kind = *(const enum model_kind *)arg;
    float loss[2][CURVE_STEPS];
    bool done[2] = {false, false};
    for (int b = 0; b < 2; b++) {
        vkdl_module *m = build(th_ctx_of(b), kind);
        vkdl_optim *o = NULL;
        vkdl_optim_create_info oi = adam(is_lm(kind) ? 1e-2f : 5e-3f);
        if (m && TH_OK(vkdl_module_init(m, 1)) && TH_OK(vkdl_optim_create(m, &oi, &o))) {
            done[b] = true;
            for (int s = 0; s < CURVE_STEPS && done[b]; s++)
                done[b] = train_step(m, o, kind, s, &loss[b][s]);
        }
        vkdl_optim_destroy(o);
        vkdl_module_destroy(m);
    }
    if (!done[0] || !done[1])
        return;
    double worst = 0;
    int worst_s = 0;
    for (int s = 0; s < CURVE_STEPS; s++) {
        double rel = fabs((double)loss[1][s] - loss[0][s]) / fabs((double)loss[0][s]);
        if (!(rel <= curve_tol(s + 1)))
            th_fail("step %d: device loss %.9g, cpu %.9g: relative difference %.3g > %.3g", s + 1, loss[1][s], loss[0][s],
                    rel, curve_tol(s + 1));
        if (!(rel <= worst))
            worst = rel, worst_s = s + 1;
    }
    printf("    loss %.5f -> %.5f; largest relative cpu/device difference %.2g (step %d)\n", loss[0][0],
           loss[0][CURVE_STEPS - 1], worst, worst_s);
    /* The task is learnable: otherwise agreeing curves would say little. */
    if (!(loss[0][CURVE_STEPS - 1] < 0.7f * loss[0][0]))
        th_fail("the loss did not fall: %g -> %g", loss[0][0], loss[0][CURVE_STEPS - 1]);
}

/* ---------------------------------------------------------------- checkpoint continuation */

static vkdl_optim_create_info adamw_sched(void)
{
    return (vkdl_optim_create_info){
        .hyper = {.type = VKDL_ADAMW, .lr = 1e-2f, .weight_decay = 0.05f, .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f},
        .warmup_steps = 4,
        .total_steps = 20,
        .min_lr = 1e-4f,
        .max_grad_norm = 0.5f,
    };
}

static void run_resume(void *arg)
{
    int b = *(const int *)arg;
    vkdl_context *ctx = th_ctx_of(b);
    enum model_kind kinds[2] = {M_BN, M_LM_DROPOUT};
    for (int k = 0; k < 2; k++) {
        enum model_kind kind = kinds[k];
        const char *path = tmp_path(TH_BACKEND[b]);
        vkdl_optim_create_info oi = adamw_sched();
        float first[10], again[10];
        float *p1 = NULL, *p2 = NULL;
        int64_t n1 = 0, n2 = 0;
        float lr1 = 0, lr2 = 0;
        vkdl_module *m = build(ctx, kind);
        vkdl_optim *o = NULL;
        bool ok = m && TH_OK(vkdl_module_init(m, 3)) && TH_OK(vkdl_optim_create(m, &oi, &o));
        for (int s = 0; ok && s < 10; s++)
            ok = train_step(m, o, kind, s, NULL);
        ok = ok && TH_OK(vkdl_checkpoint_save(path, m, o));
        lr1 = vkdl_optim_lr(o);
        for (int s = 10; ok && s < 20; s++)
            ok = train_step(m, o, kind, s, &first[s - 10]);
        if (ok)
            p1 = state_of(m, &n1);
        vkdl_optim_destroy(o);
        vkdl_module_destroy(m);
        o = NULL;

        /* A fresh model (another init) and optimizer take everything from the file. */
        m = ok ? build(ctx, kind) : NULL;
        ok = m && TH_OK(vkdl_module_init(m, 77)) && TH_OK(vkdl_optim_create(m, &oi, &o)) &&
             TH_OK(vkdl_checkpoint_load(path, m, o));
        if (ok) {
            TH_TRUE(vkdl_optim_steps(o) == 10);
            lr2 = vkdl_optim_lr(o);
            TH_TRUE(lr1 == lr2 && lr1 == vkdl_lr_schedule(&oi, 11));
        }
        for (int s = 10; ok && s < 20; s++)
            ok = train_step(m, o, kind, s, &again[s - 10]);
        if (ok) {
            p2 = state_of(m, &n2);
            if (memcmp(first, again, sizeof first)) {
                for (int s = 0; s < 10; s++)
                    if (first[s] != again[s]) {
                        th_fail("%s: resumed step %d: loss %.9g, uninterrupted %.9g", kind == M_BN ? "bn" : "lm",
                                s + 11, again[s], first[s]);
                        break;
                    }
            }
            if (n1 != n2 || memcmp(p1, p2, (size_t)n1 * sizeof *p1))
                th_fail("%s: parameters and buffers after the resumed run differ", kind == M_BN ? "bn" : "lm");
        }
        free(p1);
        free(p2);
        vkdl_optim_destroy(o);
        vkdl_module_destroy(m);
        remove(path);
    }
}

/* Saved on one backend, loaded on the other: the same values. */
static void run_cross_backend(void *arg)
{
    (void)arg;
    const char *path = tmp_path("cross");
    vkdl_module *g = build(th_gpu, M_BN), *c = build(th_cpu, M_BN);
    vkdl_optim *og = NULL, *oc = NULL;
    vkdl_optim_create_info oi = adamw_sched();
    bool ok = g && c && TH_OK(vkdl_module_init(g, 5)) && TH_OK(vkdl_optim_create(g, &oi, &og)) &&
              TH_OK(vkdl_optim_create(c, &oi, &oc));
    for (int s = 0; ok && s < 3; s++)
        ok = train_step(g, og, M_BN, s, NULL);
    if (ok && TH_OK(vkdl_checkpoint_save(path, g, og)) && TH_OK(vkdl_checkpoint_load(path, c, oc))) {
        int64_t n1, n2;
        float *a = state_of(g, &n1), *b = state_of(c, &n2);
        TH_TRUE(n1 == n2 && !memcmp(a, b, (size_t)n1 * sizeof *a));
        TH_TRUE(vkdl_optim_steps(oc) == 3);
        free(a);
        free(b);
    }
    vkdl_optim_destroy(og);
    vkdl_optim_destroy(oc);
    vkdl_module_destroy(g);
    vkdl_module_destroy(c);
    remove(path);
}

/* ---------------------------------------------------------------- memory stays flat */

static void run_memory(void *arg)
{
    int b = *(const int *)arg;
    vkdl_context *ctx = th_ctx_of(b);
    vkdl_module *m = build(ctx, M_MLP);
    vkdl_optim *o = NULL;
    vkdl_optim_create_info oi = adam(1e-3f);
    oi.max_grad_norm = 1.0f;
    oi.warmup_steps = 5;
    oi.total_steps = 2000;
    bool ok = m && TH_OK(vkdl_module_init(m, 2)) && TH_OK(vkdl_optim_create(m, &oi, &o));
    size_t cur10 = 0, peak10 = 0, cur = 0, peak = 0;
    float l0 = 0, l1 = 0;
    vkdl_context_reset_peak(ctx);
    /* The same batch every step, so only the optimizer's state and the pools could grow. */
    for (int s = 1; ok && s <= 1000; s++) {
        ok = train_step(m, o, M_MLP, 0, s == 1 ? &l0 : s == 1000 ? &l1 : NULL);
        if (s == 10)
            vkdl_context_memory(ctx, &cur10, &peak10);
    }
    if (ok) {
        TH_OK(vkdl_sync(ctx));
        vkdl_context_memory(ctx, &cur, &peak);
        if (cur != cur10 || peak != peak10)
            th_fail("memory at step 10: %zu bytes (peak %zu); at step 1000: %zu (peak %zu)", cur10, peak10, cur, peak);
        TH_TRUE(vkdl_optim_steps(o) == 1000);
        TH_TRUE(l1 < 0.5f * l0);
    }
    vkdl_optim_destroy(o);
    vkdl_module_destroy(m);
}

/* ---------------------------------------------------------------- the optimizer */

static bool fwd_bwd(vkdl_module *m, enum model_kind kind, int64_t step)
{
    vkdl_tensor *t, *x, *y, *l = NULL;
    if (!TH_OK(vkdl_module_param(m, 0, NULL, &t)) || !make_batch(vkdl_tensor_context(t), kind, step, &x, &y))
        return false;
    bool ok = forward_loss(m, kind, x, y, &l) && TH_OK(vkdl_backward(l));
    if (!ok)
        vkdl_graph_free(vkdl_tensor_context(t));
    vkdl_tensor_destroy(x);
    vkdl_tensor_destroy(y);
    return ok;
}

typedef struct opt_case {
    const char *name;
    vkdl_optim_create_info info;
} opt_case;

static const opt_case OPTS[] = {
    {"adam", {.hyper = {.type = VKDL_ADAM, .lr = 1e-2f, .weight_decay = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f,
                        .eps = 1e-8f}, .warmup_steps = 2, .total_steps = 6, .min_lr = 1e-3f}},
    {"adamw", {.hyper = {.type = VKDL_ADAMW, .lr = 3e-2f, .weight_decay = 0.1f, .beta1 = 0.8f, .beta2 = 0.99f,
                         .eps = 1e-6f}}},
    {"sgd-nesterov", {.hyper = {.type = VKDL_SGD, .lr = 0.1f, .weight_decay = 1e-3f, .momentum = 0.9f, .nesterov = 1},
                      .total_steps = 4}},
    {"sgd", {.hyper = {.type = VKDL_SGD, .lr = 0.5f}, .warmup_steps = 3}},
    {"rmsprop-momentum", {.hyper = {.type = VKDL_RMSPROP, .lr = 1e-2f, .alpha = 0.99f, .eps = 1e-8f, .momentum = 0.5f}}},
};

#define MLP_PARAMS 4

/* The packed parameters keep their handles and values, and each update is vkdl_optim_step
 * applied by hand to separate tensors with the scheduled rate (the same bits). */
static void run_by_hand(void *arg)
{
    const opt_case *c = arg;
    const vkdl_optimizer ty = c->info.hyper.type;
    bool need_m = ty == VKDL_ADAM || ty == VKDL_ADAMW || c->info.hyper.momentum != 0.0f;
    bool need_v = ty == VKDL_ADAM || ty == VKDL_ADAMW || ty == VKDL_RMSPROP;
    for (int b = 0; b < 2; b++) {
        vkdl_context *ctx = th_ctx_of(b);
        vkdl_module *m = build(ctx, M_MLP);
        vkdl_optim *o = NULL;
        vkdl_tensor *t[MLP_PARAMS] = {0}, *P[MLP_PARAMS] = {0}, *G[MLP_PARAMS] = {0}, *M[MLP_PARAMS] = {0},
                    *V[MLP_PARAMS] = {0};
        float *before[MLP_PARAMS] = {0};
        bool ok = m && TH_OK(vkdl_module_init(m, 4)) && vkdl_module_param_count(m) == MLP_PARAMS;
        for (int i = 0; ok && i < MLP_PARAMS; i++) {
            ok = TH_OK(vkdl_module_param(m, i, NULL, &t[i]));
            before[i] = ok ? th_download(t[i]) : NULL;
        }
        ok = ok && TH_OK(vkdl_optim_create(m, &c->info, &o));
        for (int i = 0; ok && i < MLP_PARAMS; i++) {
            vkdl_tensor *again;
            float *after = th_download(t[i]);
            int64_t n = vkdl_tensor_numel(t[i]);
            TH_OK(vkdl_module_param(m, i, NULL, &again));
            if (again != t[i] || memcmp(after, before[i], (size_t)n * sizeof *after))
                th_fail("parameter %d: handle or values changed by optim_create", i);
            free(after);
            float *g = vkdl_tensor_grad(t[i]) ? th_download(vkdl_tensor_grad(t[i])) : NULL;
            for (int64_t j = 0; g && j < n; j++)
                if (g[j] != 0.0f) {
                    th_fail("parameter %d: gradient not zero after optim_create", i);
                    break;
                }
            if (!g)
                th_fail("parameter %d: no gradient tensor after optim_create", i);
            free(g);
            int nd = vkdl_tensor_ndim(t[i]);
            int64_t sh[2] = {vkdl_tensor_dim(t[i], 0), vkdl_tensor_dim(t[i], 1)};
            ok = TH_OK(vkdl_tensor_create(ctx, VKDL_F32, nd, sh, &P[i])) && TH_OK(vkdl_tensor_create(ctx, VKDL_F32, nd, sh, &G[i])) &&
                 TH_OK(vkdl_tensor_create(ctx, VKDL_F32, nd, sh, &M[i])) && TH_OK(vkdl_tensor_create(ctx, VKDL_F32, nd, sh, &V[i])) &&
                 TH_OK(vkdl_tensor_upload(P[i], before[i], VKDL_F32, (size_t)n * 4)) && TH_OK(vkdl_tensor_fill(M[i], 0.0)) &&
                 TH_OK(vkdl_tensor_fill(V[i], 0.0));
        }
        for (int64_t k = 1; ok && k <= 5; k++) {
            ok = TH_OK(vkdl_optim_zero_grad(o)) && fwd_bwd(m, M_MLP, k);
            for (int i = 0; ok && i < MLP_PARAMS; i++)
                ok = TH_OK(vkdl_copy(vkdl_tensor_grad(t[i]), G[i]));
            if (!ok || !TH_TRUE(vkdl_optim_lr(o) == vkdl_lr_schedule(&c->info, k)) || !TH_OK(vkdl_optim_update(o)))
                break;
            vkdl_optim_info h = c->info.hyper;
            h.step = k;
            h.lr = vkdl_lr_schedule(&c->info, k);
            for (int i = 0; ok && i < MLP_PARAMS; i++)
                ok = TH_OK(vkdl_optim_step(&h, P[i], G[i], need_m ? M[i] : NULL, need_v ? V[i] : NULL));
            for (int i = 0; ok && i < MLP_PARAMS; i++) {
                int64_t n = vkdl_tensor_numel(t[i]);
                float *want = th_download(P[i]), *got = th_download(t[i]);
                if (memcmp(want, got, (size_t)n * sizeof *got)) {
                    th_fail("%s: step %lld, parameter %d differs from vkdl_optim_step by hand", TH_BACKEND[b], (long long)k, i);
                    ok = false;
                }
                free(want);
                free(got);
            }
            TH_TRUE(vkdl_optim_steps(o) == k);
        }
        for (int i = 0; i < MLP_PARAMS; i++) {
            free(before[i]);
            vkdl_tensor_destroy(P[i]);
            vkdl_tensor_destroy(G[i]);
            vkdl_tensor_destroy(M[i]);
            vkdl_tensor_destroy(V[i]);
        }
        vkdl_optim_destroy(o);
        vkdl_module_destroy(m);
    }
}

/* Every gradient of m concatenated on the host. */
static float *grads_of(const vkdl_module *m, int64_t *n)
{
    float *all = malloc(sizeof(float) * 4096);
    *n = 0;
    for (int i = 0; i < vkdl_module_param_count(m); i++) {
        vkdl_tensor *t, *g;
        if (!TH_OK(vkdl_module_param(m, i, NULL, &t)) || !(g = vkdl_tensor_grad(t)))
            continue;
        int64_t k = vkdl_tensor_numel(g);
        TH_OK(vkdl_tensor_download(g, all + *n, VKDL_F32, (size_t)k * sizeof *all));
        *n += k;
    }
    return all;
}

static void run_zero_grad(void *arg)
{
    (void)arg;
    for (int b = 0; b < 2; b++) {
        vkdl_module *m = build(th_ctx_of(b), M_MLP);
        vkdl_optim *o = NULL;
        vkdl_optim_create_info oi = {.hyper = {.type = VKDL_SGD, .lr = 0.1f}};
        if (!m || !TH_OK(vkdl_module_init(m, 8)) || !TH_OK(vkdl_optim_create(m, &oi, &o)) || !fwd_bwd(m, M_MLP, 0)) {
            vkdl_module_destroy(m);
            continue;
        }
        int64_t n, n2, n3;
        float *g1 = grads_of(m, &n), *g2 = NULL, *g3 = NULL;
        TH_TRUE(n == 8 * 16 + 16 + 16 * 4 + 4);
        /* Without zero_grad the next backward adds; after it, the gradient is written afresh. */
        if (fwd_bwd(m, M_MLP, 0)) {
            g2 = grads_of(m, &n2);
            float *twice = malloc((size_t)n * sizeof *twice);
            for (int64_t i = 0; i < n; i++)
                twice[i] = 2 * g1[i];
            if (memcmp(twice, g2, (size_t)n * sizeof *g2))
                th_fail("%s: a second backward did not double the gradients", TH_BACKEND[b]);
            free(twice);
        }
        if (TH_OK(vkdl_optim_zero_grad(o))) {
            free(g2);
            g2 = grads_of(m, &n2);
            for (int64_t i = 0; i < n2; i++)
                if (g2[i] != 0.0f) {
                    th_fail("%s: gradient %lld is %g after zero_grad", TH_BACKEND[b], (long long)i, g2[i]);
                    break;
                }
        }
        if (fwd_bwd(m, M_MLP, 0)) {
            g3 = grads_of(m, &n3);
            if (memcmp(g1, g3, (size_t)n * sizeof *g3))
                th_fail("%s: the gradient after zero_grad differs from the first one", TH_BACKEND[b]);
        }
        free(g1), free(g2), free(g3);
        vkdl_optim_destroy(o);
        vkdl_module_destroy(m);
    }
}

static void expect_lr(const vkdl_optim_create_info *oi, int64_t step, double want)
{
    float got = vkdl_lr_schedule(oi, step);
    if (!(fabs(got - want) <= 1e-6 * fabs(want) + 1e-9))
        th_fail("warm-up %lld, total %lld: step %lld has lr %.9g, expected %.9g", (long long)oi->warmup_steps,
                (long long)oi->total_steps, (long long)step, got, want);
}

static void run_schedule(void *arg)
{
    (void)arg;
    /* Linear warm-up from lr/4 to lr over steps 1-4, cosine to min_lr at step 14, then min_lr. */
    vkdl_optim_create_info oi = {.hyper = {.type = VKDL_SGD, .lr = 1.0f}, .warmup_steps = 4, .total_steps = 14,
                                 .min_lr = 0.1f};
    expect_lr(&oi, 1, 0.25);
    expect_lr(&oi, 2, 0.5);
    expect_lr(&oi, 3, 0.75);
    expect_lr(&oi, 4, 1.0);
    expect_lr(&oi, 9, 0.55);
    expect_lr(&oi, 6, 0.1 + 0.45 * (1 + cos(M_PI * 0.2)));
    expect_lr(&oi, 14, 0.1);
    expect_lr(&oi, 15, 0.1);
    expect_lr(&oi, 1000000, 0.1);
    for (int64_t s = 5; s < 14; s++)
        TH_TRUE(vkdl_lr_schedule(&oi, s + 1) < vkdl_lr_schedule(&oi, s));
    /* Cosine only: lr at step 0 (before the first update), min_lr at total. */
    vkdl_optim_create_info cos_only = {.hyper = {.type = VKDL_SGD, .lr = 2.0f}, .total_steps = 10};
    expect_lr(&cos_only, 5, 1.0);
    expect_lr(&cos_only, 10, 0.0);
    expect_lr(&cos_only, 1, 1.0 + cos(M_PI * 0.1));
    /* Warm-up only: then constant; neither: constant. */
    vkdl_optim_create_info warm = {.hyper = {.type = VKDL_SGD, .lr = 0.3f}, .warmup_steps = 3};
    expect_lr(&warm, 1, 0.1);
    expect_lr(&warm, 3, 0.3);
    expect_lr(&warm, 500, 0.3);
    vkdl_optim_create_info flat = {.hyper = {.type = VKDL_SGD, .lr = 0.3f}};
    expect_lr(&flat, 1, 0.3);
    expect_lr(&flat, 99, 0.3);
    TH_TRUE(vkdl_lr_schedule(NULL, 1) == 0.0f);
    /* The optimizer follows it: lr of the next update, updates done. */
    vkdl_module *m = build(th_cpu, M_MLP);
    vkdl_optim *o = NULL;
    if (m && TH_OK(vkdl_optim_create(m, &oi, &o))) {
        for (int64_t s = 1; s <= 16; s++) {
            if (vkdl_optim_steps(o) != s - 1 || vkdl_optim_lr(o) != vkdl_lr_schedule(&oi, s))
                th_fail("before update %lld: steps %lld, lr %g", (long long)s, (long long)vkdl_optim_steps(o),
                        vkdl_optim_lr(o));
            if (!TH_OK(vkdl_optim_update(o)))
                break;
        }
    }
    vkdl_optim_destroy(o);
    vkdl_module_destroy(m);
}

/* With SGD at lr 1 the update is the clipped gradient itself: its norm is min(norm, max_norm). */
static void run_clipping(void *arg)
{
    (void)arg;
    const float caps[2] = {0.01f, 100.0f};
    for (int b = 0; b < 2; b++)
        for (int c = 0; c < 2; c++) {
            vkdl_module *m = build(th_ctx_of(b), M_MLP);
            vkdl_optim *o = NULL;
            vkdl_optim_create_info oi = {.hyper = {.type = VKDL_SGD, .lr = 1.0f}, .max_grad_norm = caps[c]};
            if (!m || !TH_OK(vkdl_module_init(m, 12)) || !TH_OK(vkdl_optim_create(m, &oi, &o)) || !fwd_bwd(m, M_MLP, 3)) {
                vkdl_optim_destroy(o);
                vkdl_module_destroy(m);
                continue;
            }
            int64_t n, n2, n3;
            float *g = grads_of(m, &n), *p0 = state_of(m, &n2), *p1 = NULL;
            double norm = 0, dnorm = 0, worst = 0;
            for (int64_t i = 0; i < n; i++)
                norm += (double)g[i] * g[i];
            norm = sqrt(norm);
            if (TH_OK(vkdl_optim_update(o))) {
                p1 = state_of(m, &n3);
                double scale = norm > caps[c] ? caps[c] / (norm + 1e-6) : 1.0;
                for (int64_t i = 0; i < n; i++) {
                    double d = (double)p0[i] - p1[i];
                    dnorm += d * d;
                    worst = fmax(worst, fabs(d - scale * g[i]));
                }
                dnorm = sqrt(dnorm);
                double want = fmin(norm, caps[c]);
                /* p - s g rounds to f32 once: |error| <= ulp(|p|) ~ 6e-8 per element. */
                if (!(fabs(dnorm - want) <= 1e-3 * want) || !(worst <= 1e-6))
                    th_fail("%s: gradient norm %.6g, max %g: update norm %.6g (want %.6g), worst element error %.3g",
                            TH_BACKEND[b], norm, caps[c], dnorm, want, worst);
                TH_TRUE(c == 1 || norm > 10 * caps[c]);
            }
            free(g), free(p0), free(p1);
            vkdl_optim_destroy(o);
            vkdl_module_destroy(m);
        }
}

/* A parameter frozen before the optimizer is created is left out of it: not even weight decay
 * moves it, while the others train. */
static void run_frozen(void *arg)
{
    (void)arg;
    for (int b = 0; b < 2; b++) {
        vkdl_module *m = build(th_ctx_of(b), M_MLP);
        vkdl_tensor *w0 = NULL, *w2 = NULL;
        vkdl_optim *o = NULL;
        vkdl_optim_create_info oi = {.hyper = {.type = VKDL_ADAMW, .lr = 0.1f, .weight_decay = 0.5f, .beta1 = 0.9f,
                                               .beta2 = 0.99f, .eps = 1e-8f}};
        if (!m || !TH_OK(vkdl_module_init(m, 3)) || !TH_OK(vkdl_module_param(m, 0, NULL, &w0)) ||
            !TH_OK(vkdl_module_param(m, 2, NULL, &w2)) || !TH_OK(vkdl_tensor_set_requires_grad(w0, 0)) ||
            !TH_OK(vkdl_optim_create(m, &oi, &o))) {
            vkdl_module_destroy(m);
            continue;
        }
        TH_TRUE(vkdl_module_numel(m) == 16 + 16 * 4 + 4);
        float *a0 = th_download(w0), *a2 = th_download(w2);
        for (int i = 0; i < 3; i++) {
            TH_OK(vkdl_optim_zero_grad(o));
            if (fwd_bwd(m, M_MLP, i))
                TH_OK(vkdl_optim_update(o));
        }
        float *b0 = th_download(w0), *b2 = th_download(w2);
        if (memcmp(a0, b0, sizeof(float) * 16 * 8))
            th_fail("%s: the frozen weight changed", TH_BACKEND[b]);
        if (!memcmp(a2, b2, sizeof(float) * 4 * 16))
            th_fail("%s: the trainable weight did not change", TH_BACKEND[b]);
        free(a0), free(a2), free(b0), free(b2);
        vkdl_optim_destroy(o);
        vkdl_module_destroy(m);
    }
}

static void run_optim_bad(void *arg)
{
    vkdl_context *ctx = th_ctx_of(*(const int *)arg);
    const vkdl_status INV = VKDL_ERROR_INVALID_ARGUMENT;
    vkdl_module *m = build(ctx, M_MLP), *relu = NULL, *seq = NULL, *k[2] = {0};
    vkdl_optim *o = (vkdl_optim *)&o;
    vkdl_optim_create_info good = adam(1e-3f), bad;
    if (!m)
        return;
    TH_STATUS(vkdl_optim_create(m, &good, NULL), INV, "out");
    TH_STATUS(vkdl_optim_create(NULL, &good, &o), INV, "module");
    TH_TRUE(o == NULL);
    TH_STATUS(vkdl_optim_create(m, NULL, &o), INV, "info");
    bad = good, bad.hyper.lr = -1e-3f;
    TH_STATUS(vkdl_optim_create(m, &bad, &o), INV, "lr");
    bad = good, bad.hyper.lr = NAN;
    TH_STATUS(vkdl_optim_create(m, &bad, &o), INV, "lr");
    bad = good, bad.hyper.lr = INFINITY;
    TH_STATUS(vkdl_optim_create(m, &bad, &o), INV, "lr");
    bad = good, bad.min_lr = -1.0f;
    TH_STATUS(vkdl_optim_create(m, &bad, &o), INV, "min_lr");
    bad = good, bad.warmup_steps = 5, bad.total_steps = 5;
    TH_STATUS(vkdl_optim_create(m, &bad, &o), INV, "warm-up");
    bad = good, bad.warmup_steps = 9, bad.total_steps = 5;
    TH_STATUS(vkdl_optim_create(m, &bad, &o), INV, "warm-up");
    bad = good, bad.warmup_steps = -1;
    TH_STATUS(vkdl_optim_create(m, &bad, &o), INV, "warmup");
    bad = good, bad.total_steps = -1;
    TH_STATUS(vkdl_optim_create(m, &bad, &o), INV, "total");
    bad = good, bad.max_grad_norm = -1.0f;
    TH_STATUS(vkdl_optim_create(m, &bad, &o), INV, "max_grad_norm");
    bad = good, bad.hyper.type = (vkdl_optimizer)7;
    TH_STATUS(vkdl_optim_create(m, &bad, &o), INV, "optimizer");
    TH_TRUE(o == NULL);
    /* Modules without trainable parameters. */
    if (TH_OK(vkdl_activation_create(ctx, VKDL_RELU, &relu)))
        TH_STATUS(vkdl_optim_create(relu, &good, &o), INV, "no trainable parameters");
    vkdl_module_destroy(relu);
    if (TH_OK(vkdl_flatten_create(ctx, &k[0])) && TH_OK(vkdl_activation_create(ctx, VKDL_TANH, &k[1])) &&
        TH_OK(vkdl_sequential_create(ctx, 2, k, &seq)))
        TH_STATUS(vkdl_optim_create(seq, &good, &o), INV, "no trainable parameters");
    vkdl_module_destroy(seq);
    TH_STATUS(vkdl_optim_update(NULL), INV, "optimizer");
    TH_STATUS(vkdl_optim_zero_grad(NULL), INV, "optimizer");
    TH_TRUE(vkdl_optim_steps(NULL) == 0 && vkdl_optim_lr(NULL) == 0.0f);
    vkdl_optim_destroy(NULL);
    vkdl_module_destroy(m);
}

/* ---------------------------------------------------------------- checkpoint errors */

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static void run_checkpoint_bad(void *arg)
{
    vkdl_context *ctx = th_ctx_of(*(const int *)arg), *other = ctx == th_cpu ? th_gpu : th_cpu;
    const char *path = tmp_path("bad"), *missing = tmp_path("missing");
    vkdl_module *m = NULL, *wide = NULL, *seq = NULL, *one = NULL, *om = NULL;
    vkdl_optim *o = NULL, *oo = NULL;
    vkdl_optim_create_info oi = adam(1e-3f);
    remove(missing);
    if (!TH_OK(vkdl_linear_create(ctx, 4, 8, 1, &m)) || !TH_OK(vkdl_optim_create(m, &oi, &o)) ||
        !TH_OK(vkdl_checkpoint_save(path, m, o))) {
        vkdl_optim_destroy(o);
        vkdl_module_destroy(m);
        return;
    }
    TH_STATUS(vkdl_checkpoint_load(missing, m, o), VKDL_ERROR_IO, missing);
    TH_STATUS(vkdl_checkpoint_load(NULL, m, o), VKDL_ERROR_INVALID_ARGUMENT, NULL);
    TH_STATUS(vkdl_checkpoint_load(path, NULL, o), VKDL_ERROR_INVALID_ARGUMENT, "module");
    TH_STATUS(vkdl_checkpoint_save(path, NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT, "module");
    TH_STATUS(vkdl_checkpoint_save("/nonexistent-dir/x.safetensors", m, o), VKDL_ERROR_IO, "nonexistent-dir");

    /* Another architecture: a wider layer, and other names. */
    if (TH_OK(vkdl_linear_create(ctx, 4, 9, 1, &wide)))
        TH_STATUS(vkdl_checkpoint_load(path, wide, NULL), VKDL_ERROR_SHAPE_MISMATCH, "weight");
    if (TH_OK(vkdl_linear_create(ctx, 4, 8, 1, &one)) && TH_OK(vkdl_sequential_create(ctx, 1, &one, &seq)))
        TH_STATUS(vkdl_checkpoint_load(path, seq, NULL), VKDL_ERROR_INVALID_ARGUMENT, "\"0.weight\"");
    /* An optimizer and a module of different contexts. */
    if (TH_OK(vkdl_linear_create(other, 4, 8, 1, &om)) && TH_OK(vkdl_optim_create(om, &oi, &oo))) {
        TH_STATUS(vkdl_checkpoint_save(path, m, oo), VKDL_ERROR_CONTEXT_MISMATCH, "context");
        TH_STATUS(vkdl_checkpoint_load(path, m, oo), VKDL_ERROR_CONTEXT_MISMATCH, "context");
    }
    /* The model alone loads from a file with optimizer state; optimizer state needs it in the file. */
    TH_OK(vkdl_checkpoint_load(path, m, NULL));
    if (TH_OK(vkdl_checkpoint_save(path, m, NULL)))
        TH_STATUS(vkdl_checkpoint_load(path, m, o), VKDL_ERROR_INVALID_ARGUMENT, "optim.step");

    /* Truncated files: inside the data, and inside the header. */
    if (TH_OK(vkdl_checkpoint_save(path, m, o))) {
        long n = file_size(path);
        TH_TRUE(n > 100 && truncate(path, n - 8) == 0);
        TH_STATUS(vkdl_checkpoint_load(path, m, o), VKDL_ERROR_CORRUPT_DATA, path);
        TH_TRUE(truncate(path, 40) == 0);
        TH_STATUS(vkdl_checkpoint_load(path, m, o), VKDL_ERROR_CORRUPT_DATA, path);
        TH_TRUE(truncate(path, 4) == 0);
        TH_STATUS(vkdl_checkpoint_load(path, m, o), VKDL_ERROR_CORRUPT_DATA, "too short");
    }
    remove(path);
    vkdl_optim_destroy(o);
    vkdl_optim_destroy(oo);
    vkdl_module_destroy(m);
    vkdl_module_destroy(wide);
    vkdl_module_destroy(seq);
    vkdl_module_destroy(om);
}

/* The header's way to ask for a beta of 0 (zero means the default): 1e-30f gives the very update
 * of beta1 = 0 (m is the gradient itself) and beta2 = 0 (v its square), computed here in double. */
static void run_beta_zero(void *arg)
{
    vkdl_context *ctx = th_ctx_of(*(const int *)arg);
    enum { N = 7, STEPS = 3 };
    int64_t n = N;
    vkdl_tensor *p, *g, *m, *v;
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, &n, &p));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, &n, &g));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, &n, &m));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, &n, &v));
    float hp[N], hg[N];
    double want[N];
    for (int i = 0; i < N; i++)
        want[i] = hp[i] = 0.5f - 0.125f * (float)i;
    TH_OK(vkdl_tensor_upload(p, hp, VKDL_F32, sizeof hp));
    TH_OK(vkdl_tensor_fill(m, 0.0f));
    TH_OK(vkdl_tensor_fill(v, 0.0f));
    vkdl_optim_info h = {.type = VKDL_ADAM, .lr = 0.01f, .beta1 = 1e-30f, .beta2 = 1e-30f, .eps = 1e-3f};
    for (int t = 1; t <= STEPS; t++) {
        for (int i = 0; i < N; i++) {
            hg[i] = (float)(i + t) * 0.25f - 1.0f;
            want[i] -= 0.01 * hg[i] / (fabs(hg[i]) + 1e-3);
        }
        TH_OK(vkdl_tensor_upload(g, hg, VKDL_F32, sizeof hg));
        h.step = t;
        TH_OK(vkdl_optim_step(&h, p, g, m, v));
    }
    TH_OK(vkdl_tensor_download(p, hp, VKDL_F32, sizeof hp));
    for (int i = 0; i < N; i++)
        if (fabs(hp[i] - want[i]) > 1e-6)
            th_fail("p[%d] = %.9g, beta 0 by hand gives %.9g", i, hp[i], want[i]);
    vkdl_tensor_destroy(p);
    vkdl_tensor_destroy(g);
    vkdl_tensor_destroy(m);
    vkdl_tensor_destroy(v);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    static const enum model_kind CNN = M_CNN, LM = M_LM;
    static const int CPU = 0, GPU = 1;
    th_run("training/curves/cnn", run_curves, (void *)&CNN);
    th_run("training/curves/transformer-lm", run_curves, (void *)&LM);
    th_run("training/resume/cpu", run_resume, (void *)&CPU);
    th_run("training/resume/gpu", run_resume, (void *)&GPU);
    th_run("training/resume/cross-backend", run_cross_backend, NULL);
    th_run("training/memory/cpu", run_memory, (void *)&CPU);
    th_run("training/memory/gpu", run_memory, (void *)&GPU);
    char name[128];
    for (size_t i = 0; i < ARRAY_LEN(OPTS); i++) {
        snprintf(name, sizeof name, "training/optim/by-hand/%s", OPTS[i].name);
        th_run(name, run_by_hand, (void *)&OPTS[i]);
    }
    th_run("training/optim/zero-grad", run_zero_grad, NULL);
    th_run("training/optim/frozen", run_frozen, NULL);
    th_run("training/optim/schedule", run_schedule, NULL);
    th_run("training/optim/clipping", run_clipping, NULL);
    th_run("training/optim/beta-zero/cpu", run_beta_zero, (void *)&CPU);
    th_run("training/optim/beta-zero/gpu", run_beta_zero, (void *)&GPU);
    th_run("training/optim/bad-input/cpu", run_optim_bad, (void *)&CPU);
    th_run("training/optim/bad-input/gpu", run_optim_bad, (void *)&GPU);
    th_run("training/checkpoint/errors/cpu", run_checkpoint_bad, (void *)&CPU);
    th_run("training/checkpoint/errors/gpu", run_checkpoint_bad, (void *)&GPU);
    return th_finish();
}
