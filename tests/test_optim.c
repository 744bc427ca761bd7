/* vkdl_optim_step and vkdl_clip_grad_norm against the CPU twin: every optimizer and option
 * combination over several steps (fresh gradients each step), numel 1 to 100003, parameters
 * that are views into a larger flat tensor, grad_scale read on the device, a few values worked
 * out by hand, determinism of the norm, and bad input. A case is a th_op row whose forward runs
 * its steps in a row (the parameters and state are updated in place, so compared after it).
 * Tolerance: TH_TOL_F32 for the state and parameters (elementwise f32 arithmetic; the twin
 * works in double). The norm is a sum of up to 1e5 squares: TH_TOL_GEMM, like other long sums. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ocase {
    vkdl_optim_info info; /* info.step: the steps taken before the first one here */
    int64_t n;
    int steps;
    bool scale;         /* pass a grad_scale tensor */
    const char *label;
} ocase;

/* Gradients with |g| in [0.5, 2.5): Adam's and RMSprop's first steps divide g (+ wd p) by about
 * its own magnitude, so where that sum cancels to near 0 the result is ill-conditioned and the
 * float kernel and the double twin could legitimately disagree in sign. */
static void gen_grad(float *g, int64_t n, const th_shape *s, float lo, float hi)
{
    (void)s, (void)lo, (void)hi;
    for (int64_t i = 0; i < n; i++) {
        float r = th_randf(-2.0f, 2.0f);
        g[i] = r < 0 ? r - 0.5f : r + 0.5f;
    }
}

enum { P, G, M, V, SCALE }; /* inputs */

/* steps optimizer steps in a row, each with its own row of g [steps, n]. params: the ocase. */
static vkdl_status steps(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    (void)out;
    const ocase *c = op->params;
    vkdl_status s = VKDL_OK;
    for (int k = 0; k < c->steps && s == VKDL_OK; k++) {
        vkdl_tensor *g = NULL;
        s = vkdl_tensor_slice(in[G], k, k + 1, &g);
        vkdl_optim_info info = c->info;
        info.step = c->info.step + k + 1;
        info.grad_scale = c->scale ? in[SCALE] : NULL;
        if (s == VKDL_OK)
            s = vkdl_optim_step(&info, in[P], g, in[M], in[V]);
        vkdl_tensor_destroy(g);
    }
    return s;
}

/* p uniform in [-1, 1), the state starting at 0, grad_scale 0.37; p, m and v are compared after
 * the steps. */
static void run(ocase cv)
{
    const ocase *c = &cv;
    static const char *const names[] = {"sgd", "adam", "adamw", "rmsprop"};
    char name[200];
    snprintf(name, sizeof name, "%s%s n %lld steps %d%s", names[c->info.type], c->label, (long long)c->n, c->steps,
             c->scale ? " grad_scale" : "");
    th_shape s = {1, {c->n}};
    th_op op = {.name = name, .params = c, .n_in = c->scale ? 5 : 4, .forward = steps, .tol = &TH_TOL_F32,
                .in = {{.shape = s, .lo = -1, .hi = 1, .inout = true},
                       {.shape = {2, {c->steps, c->n}}, .fill = TH_FILL_FN, .gen = gen_grad},
                       {.shape = s, .inout = true},
                       {.shape = s, .inout = true},
                       {.shape = TH_SHAPE(1), .lo = 0.37f, .hi = 0.37f}}};
    th_run_op(&op);
}

/* Parameters as views into one flat tensor: the kernel's binding offsets are not zero, and the
 * elements around the view stay untouched. */
static vkdl_status one_step(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    (void)out;
    const ocase *c = op->params;
    return vkdl_optim_step(&c->info, in[P], in[G], in[M], in[V]);
}

static const ocase VIEW_CASE = {
    {.type = VKDL_ADAM, .lr = 0.01f, .weight_decay = 0.1f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .step = 4},
    517, 1, false, ""};
static const th_op VIEWS = {
    .name = "views into a flat tensor", .params = &VIEW_CASE, .n_in = 4, .forward = one_step, .tol = &TH_TOL_F32,
    .in = {{.shape = TH_SHAPE(517), .lo = -1.0f, .hi = 1.0f, .pad = {3, 480}, .inout = true},
           {.shape = TH_SHAPE(517), .lo = -1.0f, .hi = 1.0f, .pad = {101, 382}},
           {.shape = TH_SHAPE(517), .lo = -0.1f, .hi = 0.1f, .pad = {7, 476}, .inout = true},
           {.shape = TH_SHAPE(517), .lo = 0.0f, .hi = 0.1f, .pad = {483, 0}, .inout = true}},
};

static vkdl_context *known_ctx;

static float known_step(const vkdl_optim_info *in, float p0, float g0, float m0, float v0, float *m1, float *v1)
{
    int64_t one[1] = {1};
    vkdl_tensor *p, *g, *m, *v;
    float r = NAN;
    TH_OK(vkdl_tensor_create(known_ctx, VKDL_F32, 1, one, &p));
    TH_OK(vkdl_tensor_create(known_ctx, VKDL_F32, 1, one, &g));
    TH_OK(vkdl_tensor_create(known_ctx, VKDL_F32, 1, one, &m));
    TH_OK(vkdl_tensor_create(known_ctx, VKDL_F32, 1, one, &v));
    TH_OK(vkdl_tensor_upload(p, &p0, VKDL_F32, 4));
    TH_OK(vkdl_tensor_upload(g, &g0, VKDL_F32, 4));
    TH_OK(vkdl_tensor_upload(m, &m0, VKDL_F32, 4));
    TH_OK(vkdl_tensor_upload(v, &v0, VKDL_F32, 4));
    TH_OK(vkdl_optim_step(in, p, g, m, v));
    TH_OK(vkdl_tensor_download(p, &r, VKDL_F32, 4));
    TH_OK(vkdl_tensor_download(m, m1, VKDL_F32, 4));
    TH_OK(vkdl_tensor_download(v, v1, VKDL_F32, 4));
    vkdl_tensor_destroy(p);
    vkdl_tensor_destroy(g);
    vkdl_tensor_destroy(m);
    vkdl_tensor_destroy(v);
    return r;
}

static bool near(float got, double want) { return fabs(got - want) <= 1e-6 + 1e-5 * fabs(want); }

#define EXPECT_NEAR(got, want) \
    ((near((got), (want))) ? true : (th_fail("%s:%d: %s = %.9g, expected %.9g", __FILE__, __LINE__, #got, (double)(got), (double)(want)), false))

/* Values worked out by hand from PyTorch's update rules, independent of the twin. */
static void run_known(void *arg)
{
    known_ctx = arg;
    float m, v, p;
    /* SGD, first step: the buffer starts as the gradient (no dampening), 0.5 + 0.1 * 0.5 = 0.55 */
    vkdl_optim_info sgd = {.type = VKDL_SGD, .lr = 0.1f, .momentum = 0.9f, .dampening = 0.5f, .weight_decay = 0.1f,
                           .step = 1};
    p = known_step(&sgd, 2.0f, 0.5f, 123.0f, 0, &m, &v);
    EXPECT_NEAR(m, 0.7);
    EXPECT_NEAR(p, 2.0 - 0.1 * 0.7);
    /* second step: buf = 0.9 * 0.7 + 0.5 * 0.7 */
    sgd.step = 2;
    p = known_step(&sgd, 2.0f, 0.5f, 0.7f, 0, &m, &v);
    EXPECT_NEAR(m, 0.9 * 0.7 + 0.5 * 0.7);
    /* nesterov: g + momentum * buf */
    sgd = (vkdl_optim_info){.type = VKDL_SGD, .lr = 0.1f, .momentum = 0.9f, .nesterov = 1, .step = 2};
    p = known_step(&sgd, 1.0f, 1.0f, 1.0f, 0, &m, &v);
    EXPECT_NEAR(m, 1.9);
    EXPECT_NEAR(p, 1.0 - 0.1 * (1.0 + 0.9 * 1.9));
    /* Adam, first step with bias correction: p -= lr * g / (|g| + eps) */
    vkdl_optim_info adam = {.type = VKDL_ADAM, .lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .step = 1};
    p = known_step(&adam, 1.0f, -3.0f, 0, 0, &m, &v);
    EXPECT_NEAR(p, 1.0 + 0.01 * 3.0 / (3.0 + 1e-8));
    EXPECT_NEAR(m, -0.3);
    EXPECT_NEAR(v, 0.009);
    /* AdamW decays the parameter, not the gradient: p (1 - lr wd) - lr sign(g) */
    adam.type = VKDL_ADAMW;
    adam.weight_decay = 0.5f;
    p = known_step(&adam, 1.0f, 2.0f, 0, 0, &m, &v);
    EXPECT_NEAR(p, 1.0 * (1 - 0.01 * 0.5) - 0.01);
    EXPECT_NEAR(m, 0.2);
    /* Adam's L2 decay enters the gradient: g = 2 + 0.5 * 1 */
    adam.type = VKDL_ADAM;
    p = known_step(&adam, 1.0f, 2.0f, 0, 0, &m, &v);
    EXPECT_NEAR(m, 0.25);
    /* RMSprop: v = (1 - alpha) g^2, p -= lr g / (sqrt(v) + eps) */
    vkdl_optim_info rms = {.type = VKDL_RMSPROP, .lr = 0.01f, .alpha = 0.99f, .eps = 1e-8f, .momentum = 0.5f};
    p = known_step(&rms, 1.0f, 2.0f, 0.1f, 0, &m, &v);
    EXPECT_NEAR(v, 0.04);
    EXPECT_NEAR(m, 0.05 + 2.0 / (0.2 + 1e-8));
    EXPECT_NEAR(p, 1.0 - 0.01 * (0.05 + 2.0 / (0.2 + 1e-8)));
}

/* ---------------------------------------------------------------- clipping */

/* max_norm below and above the norm (about sqrt(n / 3)), so both branches of min() run: outputs
 * norm and scale for each. params: n. */
static vkdl_status clip_both(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    int64_t n = *(const int64_t *)op->params;
    vkdl_status s = vkdl_clip_grad_norm(in[0], 0.5f * sqrtf((float)n / 3.0f), out[0], out[1]);
    return s != VKDL_OK ? s : vkdl_clip_grad_norm(in[0], 10.0f * sqrtf((float)n + 1.0f), out[2], out[3]);
}

static void clip_branches(const th_op *op, const th_op_result *cpu, const th_op_result *gpu)
{
    (void)op, (void)cpu;
    float below, above;
    TH_OK(vkdl_tensor_download(gpu->out[1], &below, VKDL_F32, 4));
    TH_OK(vkdl_tensor_download(gpu->out[3], &above, VKDL_F32, 4));
    TH_TRUE(below < 1.0f);
    TH_TRUE(above == 1.0f);
}

/* The norm is a long sum: TH_TOL_GEMM; the same bits again when rerun. */
static void run_clip(const int64_t *n)
{
    char name[64];
    snprintf(name, sizeof name, "clip_grad_norm n %lld", (long long)*n);
    th_op op = {.name = name, .params = n, .n_in = 1, .n_out = 4, .forward = clip_both, .tol = &TH_TOL_GEMM,
                .deterministic = true, .check = clip_branches,
                .in = {{.shape = {1, {*n}}, .lo = -1.0f, .hi = 1.0f}},
                .out = {{.shape = TH_SHAPE(1)}, {.shape = TH_SHAPE(1)}, {.shape = TH_SHAPE(1)}, {.shape = TH_SHAPE(1)}}};
    th_run_op(&op);
}

/* Clip and step with no host round trip: the factor goes straight into grad_scale. */
static vkdl_status clip_then_step(const th_op *op, vkdl_tensor *const *in, vkdl_tensor *const *out)
{
    (void)op;
    vkdl_optim_info info = {.type = VKDL_SGD, .lr = 0.1f, .momentum = 0.9f, .step = 3, .grad_scale = out[1]};
    vkdl_status s = vkdl_clip_grad_norm(in[1], 1.0f, out[0], out[1]);
    return s != VKDL_OK ? s : vkdl_optim_step(&info, in[0], in[1], in[2], NULL);
}

static const th_op CLIP_THEN_STEP = {
    .name = "clip then step through grad_scale", .n_in = 3, .n_out = 2, .forward = clip_then_step,
    .tol = &TH_TOL_F32,
    .in = {{.shape = TH_SHAPE(5000), .lo = -1.0f, .hi = 1.0f, .inout = true},
           {.shape = TH_SHAPE(5000), .lo = -1.0f, .hi = 1.0f},
           {.shape = TH_SHAPE(5000), .lo = -0.1f, .hi = 0.1f, .inout = true}},
    .out = {{.shape = TH_SHAPE(1), .tol = &TH_TOL_GEMM}, {.shape = TH_SHAPE(1), .tol = &TH_TOL_GEMM}},
};

static void run_empty(void *arg)
{
    (void)arg;
    int64_t zero[1] = {0}, one[1] = {1};
    th_pair p = th_empty(VKDL_F32, 1, zero), norm = th_empty(VKDL_F32, 1, one), scale = th_empty(VKDL_F32, 1, one);
    vkdl_optim_info in = {.type = VKDL_ADAM, .lr = 0.1f, .beta1 = 0.9f, .beta2 = 0.99f, .step = 1};
    TH_OK(vkdl_optim_step(&in, p.gpu, p.gpu, p.gpu, p.gpu));
    TH_OK(vkdl_clip_grad_norm(p.cpu, 2.0f, norm.cpu, scale.cpu));
    TH_OK(vkdl_clip_grad_norm(p.gpu, 2.0f, norm.gpu, scale.gpu));
    th_compare(&norm, TH_TOL_EXACT);
    th_compare(&scale, TH_TOL_EXACT);
    th_free(&p);
    th_free(&norm);
    th_free(&scale);
}

static void run_bad(void *arg)
{
    (void)arg;
    vkdl_context *ctx = th_gpu;
    int64_t s10[1] = {10}, s11[1] = {11}, s2[2] = {2, 5}, one[1] = {1}, two[1] = {2};
    vkdl_tensor *p, *g, *m, *v, *g11, *g2, *pi, *s2t, *n1;
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, s10, &p));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, s10, &g));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, s10, &m));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, s10, &v));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, s11, &g11));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 2, s2, &g2));
    TH_OK(vkdl_tensor_create(ctx, VKDL_I32, 1, s10, &pi));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, two, &s2t));
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, one, &n1));
    vkdl_optim_info adam = {.type = VKDL_ADAM, .lr = 0.1f, .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f, .step = 1};
    vkdl_optim_info in = adam;
    TH_STATUS(vkdl_optim_step(NULL, p, g, m, v), VKDL_ERROR_INVALID_ARGUMENT, "info is NULL");
    TH_STATUS(vkdl_optim_step(&in, NULL, g, m, v), VKDL_ERROR_INVALID_ARGUMENT, "param is NULL");
    TH_STATUS(vkdl_optim_step(&in, p, NULL, m, v), VKDL_ERROR_INVALID_ARGUMENT, "grad is NULL");
    TH_STATUS(vkdl_optim_step(&in, p, g, NULL, v), VKDL_ERROR_INVALID_ARGUMENT, "adam needs state m");
    TH_STATUS(vkdl_optim_step(&in, p, g, m, NULL), VKDL_ERROR_INVALID_ARGUMENT, "adam needs state v");
    TH_STATUS(vkdl_optim_step(&in, p, g11, m, v), VKDL_ERROR_SHAPE_MISMATCH, "grad has 11 elements, param has 10");
    TH_STATUS(vkdl_optim_step(&in, p, g, g11, v), VKDL_ERROR_SHAPE_MISMATCH, "m has 11 elements");
    TH_OK(vkdl_optim_step(&in, p, g2, m, v)); /* same numel, another shape: fine */
    TH_STATUS(vkdl_optim_step(&in, pi, g, m, v), VKDL_ERROR_DTYPE_MISMATCH, "param is i32");
    in.step = 0;
    TH_STATUS(vkdl_optim_step(&in, p, g, m, v), VKDL_ERROR_INVALID_ARGUMENT, "step 0 must be >= 1");
    in = adam;
    in.type = VKDL_ADAMW;
    in.step = -3;
    TH_STATUS(vkdl_optim_step(&in, p, g, m, v), VKDL_ERROR_INVALID_ARGUMENT, "adamw: step -3");
    in = adam;
    in.lr = -0.1f;
    TH_STATUS(vkdl_optim_step(&in, p, g, m, v), VKDL_ERROR_INVALID_ARGUMENT, "lr -0.1 must be");
    in = adam;
    in.beta1 = 1.0f;
    TH_STATUS(vkdl_optim_step(&in, p, g, m, v), VKDL_ERROR_INVALID_ARGUMENT, "betas");
    in = adam;
    in.weight_decay = -1.0f;
    TH_STATUS(vkdl_optim_step(&in, p, g, m, v), VKDL_ERROR_INVALID_ARGUMENT, "weight_decay");
    in = adam;
    in.type = (vkdl_optimizer)7;
    TH_STATUS(vkdl_optim_step(&in, p, g, m, v), VKDL_ERROR_INVALID_ARGUMENT, "invalid optimizer type 7");
    in = adam;
    in.grad_scale = s2t;
    TH_STATUS(vkdl_optim_step(&in, p, g, m, v), VKDL_ERROR_SHAPE_MISMATCH, "grad_scale has 2 elements");
    vkdl_optim_info sgd = {.type = VKDL_SGD, .lr = 0.1f};
    TH_OK(vkdl_optim_step(&sgd, p, g, NULL, NULL)); /* plain SGD needs no state, nor a step count */
    sgd.momentum = 0.9f;
    sgd.step = 1;
    TH_STATUS(vkdl_optim_step(&sgd, p, g, NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT, "sgd needs state m");
    sgd.step = 0;
    TH_STATUS(vkdl_optim_step(&sgd, p, g, m, NULL), VKDL_ERROR_INVALID_ARGUMENT, "step 0 must be >= 1");
    sgd.step = 1;
    sgd.nesterov = 1;
    sgd.dampening = 0.1f;
    TH_STATUS(vkdl_optim_step(&sgd, p, g, m, NULL), VKDL_ERROR_INVALID_ARGUMENT, "nesterov needs");
    vkdl_optim_info rms = {.type = VKDL_RMSPROP, .lr = 0.1f, .alpha = 0.99f};
    TH_STATUS(vkdl_optim_step(&rms, p, g, m, NULL), VKDL_ERROR_INVALID_ARGUMENT, "rmsprop needs state v");
    TH_OK(vkdl_optim_step(&rms, p, g, NULL, v));
    rms.momentum = 0.5f;
    TH_STATUS(vkdl_optim_step(&rms, p, g, NULL, v), VKDL_ERROR_INVALID_ARGUMENT, "rmsprop needs state m");
    rms.alpha = 1.5f;
    TH_STATUS(vkdl_optim_step(&rms, p, g, m, v), VKDL_ERROR_INVALID_ARGUMENT, "alpha 1.5");

    TH_STATUS(vkdl_clip_grad_norm(NULL, 1.0f, n1, n1), VKDL_ERROR_INVALID_ARGUMENT, "grad is NULL");
    TH_STATUS(vkdl_clip_grad_norm(g, 1.0f, NULL, n1), VKDL_ERROR_INVALID_ARGUMENT, "norm is NULL");
    TH_STATUS(vkdl_clip_grad_norm(g, 1.0f, s2t, n1), VKDL_ERROR_SHAPE_MISMATCH, "one element");
    TH_STATUS(vkdl_clip_grad_norm(g, -1.0f, n1, n1), VKDL_ERROR_INVALID_ARGUMENT, "max_norm -1");
    TH_STATUS(vkdl_clip_grad_norm(pi, 1.0f, n1, n1), VKDL_ERROR_DTYPE_MISMATCH, "grad is i32");
    vkdl_tensor *cpu_n;
    int64_t one_s[1] = {1};
    TH_OK(vkdl_tensor_create(th_cpu, VKDL_F32, 1, one_s, &cpu_n));
    TH_STATUS(vkdl_clip_grad_norm(g, 1.0f, cpu_n, n1), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    in = adam;
    in.grad_scale = cpu_n;
    TH_STATUS(vkdl_optim_step(&in, p, g, m, v), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    vkdl_tensor_destroy(cpu_n);
    vkdl_tensor *ts[] = {p, g, m, v, g11, g2, pi, s2t, n1};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        vkdl_tensor_destroy(ts[i]);
}

/* ---------------------------------------------------------------- zero means PyTorch's default */

/* Steps 1..3 of info from p = 0.5 with gradients 0, then +-1.5: the result's bits. */
static bool steps_bits(vkdl_context *ctx, const vkdl_optim_info *info, float out[8])
{
    int64_t shape[1] = {8};
    vkdl_tensor *p = NULL, *g = NULL, *m = NULL, *v = NULL;
    bool ok = TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, shape, &p)) && TH_OK(vkdl_tensor_fill(p, 0.5)) &&
              TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, shape, &g)) && TH_OK(vkdl_tensor_fill(g, 0.0)) &&
              TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, shape, &m)) && TH_OK(vkdl_tensor_fill(m, 0.0)) &&
              TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, shape, &v)) && TH_OK(vkdl_tensor_fill(v, 0.0));
    for (int step = 1; ok && step <= 3; step++) {
        vkdl_optim_info in = *info;
        in.step = step;
        ok = TH_OK(vkdl_optim_step(&in, p, g, m, v)) && TH_OK(vkdl_tensor_fill(g, step % 2 ? 1.5 : -1.5));
    }
    ok = ok && TH_OK(vkdl_tensor_download(p, out, VKDL_F32, 8 * sizeof(float)));
    vkdl_tensor *ts[] = {p, g, m, v};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        vkdl_tensor_destroy(ts[i]);
    return ok;
}

/* {.type, .lr} with every other field zero: finite after a zero gradient, and bit for bit the
 * optimizer with PyTorch's defaults spelled out. */
static void run_defaults(void *arg)
{
    vkdl_context *ctx = arg;
    static const vkdl_optim_info zeroed[] = {
        {.type = VKDL_SGD, .lr = 0.1f}, {.type = VKDL_ADAM, .lr = 1e-3f}, {.type = VKDL_ADAMW, .lr = 1e-3f},
        {.type = VKDL_RMSPROP, .lr = 1e-2f},
    };
    static const vkdl_optim_info spelled[] = {
        {.type = VKDL_SGD, .lr = 0.1f, .momentum = 0, .dampening = 0, .weight_decay = 0},
        {.type = VKDL_ADAM, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0},
        {.type = VKDL_ADAMW, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f},
        {.type = VKDL_RMSPROP, .lr = 1e-2f, .alpha = 0.99f, .eps = 1e-8f, .momentum = 0, .weight_decay = 0},
    };
    for (size_t i = 0; i < sizeof zeroed / sizeof zeroed[0]; i++) {
        float a[8], b[8];
        if (!steps_bits(ctx, &zeroed[i], a) || !steps_bits(ctx, &spelled[i], b))
            continue;
        for (int j = 0; j < 8; j++)
            if (!isfinite(a[j]) || memcmp(&a[j], &b[j], sizeof a[j]) != 0) {
                th_fail("%s: optimizer %d zeroed gives %.9g, spelled-out defaults %.9g",
                        vkdl_context_device_name(ctx), (int)zeroed[i].type, a[j], b[j]);
                break;
            }
    }
}

/* Impossible hyper-parameters are refused by vkdl_optim_step and vkdl_optim_create, naming the
 * field and its value. */
static void run_impossible(void *arg)
{
    (void)arg;
    vkdl_context *ctx = th_gpu;
    int64_t shape[1] = {4};
    vkdl_tensor *p = NULL, *g = NULL, *m = NULL, *v = NULL;
    vkdl_module *lin = NULL;
    vkdl_tensor **ts0[] = {&p, &g, &m, &v};
    for (size_t i = 0; i < sizeof ts0 / sizeof ts0[0]; i++)
        if (!TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, shape, ts0[i])))
            goto done;
    if (!TH_OK(vkdl_linear_create(ctx, 2, 2, 1, &lin)))
        goto done;
    const float nan = NAN;
    const struct { vkdl_optim_info info; const char *needle; } bad[] = {
        {{.type = VKDL_ADAM, .lr = -1e-3f}, "lr -0.001 must be"},
        {{.type = VKDL_ADAM, .lr = nan}, "lr nan must be"},
        {{.type = VKDL_ADAM, .lr = 1e-3f, .eps = -1e-8f}, "eps -1e-08 must be"},
        {{.type = VKDL_ADAM, .lr = 1e-3f, .eps = nan}, "eps nan must be"},
        {{.type = VKDL_ADAM, .lr = 1e-3f, .beta1 = 1.0f}, "beta1 1 must be in [0, 1)"},
        {{.type = VKDL_ADAMW, .lr = 1e-3f, .beta1 = -0.1f}, "beta1 -0.1 must be"},
        {{.type = VKDL_ADAM, .lr = 1e-3f, .beta2 = 1.5f}, "beta2 1.5 must be"},
        {{.type = VKDL_ADAM, .lr = 1e-3f, .beta2 = nan}, "beta2 nan must be"},
        {{.type = VKDL_RMSPROP, .lr = 1e-3f, .alpha = 1.0f}, "alpha 1 must be in [0, 1)"},
        {{.type = VKDL_RMSPROP, .lr = 1e-3f, .alpha = -0.5f}, "alpha -0.5 must be"},
        {{.type = VKDL_SGD, .lr = 1e-3f, .momentum = -0.9f}, "momentum -0.9 must be"},
        {{.type = VKDL_RMSPROP, .lr = 1e-3f, .momentum = nan}, "momentum nan must be"},
        {{.type = VKDL_SGD, .lr = 1e-3f, .weight_decay = -0.01f}, "weight_decay -0.01 must be"},
        {{.type = VKDL_ADAMW, .lr = 1e-3f, .weight_decay = nan}, "weight_decay nan must be"},
        {{.type = VKDL_SGD, .lr = 1e-3f, .momentum = 0.9f, .dampening = 2.0f}, "dampening 2 must be"},
        {{.type = VKDL_SGD, .lr = 1e-3f, .beta1 = nan}, "beta1 nan must be"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vkdl_optim_info in = bad[i].info;
        in.step = 1;
        TH_STATUS(vkdl_optim_step(&in, p, g, m, v), VKDL_ERROR_INVALID_ARGUMENT, bad[i].needle);
        vkdl_optim_create_info oi = {.hyper = bad[i].info};
        vkdl_optim *o = NULL;
        TH_STATUS(vkdl_optim_create(lin, &oi, &o), VKDL_ERROR_INVALID_ARGUMENT, bad[i].needle);
        vkdl_optim_destroy(o);
    }
done:
    vkdl_module_destroy(lin);
    vkdl_tensor *ts[] = {p, g, m, v};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        vkdl_tensor_destroy(ts[i]);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    static const int64_t sizes[] = {1, 3, 17, 1000, 100003};
    for (size_t k = 0; k < TH_LEN(sizes); k++) {
        int64_t n = sizes[k];
        run((ocase){{.type = VKDL_SGD, .lr = 0.1f}, n, 3, false, ""});
        run((ocase){{.type = VKDL_SGD, .lr = 0.1f, .weight_decay = 0.2f}, n, 3, true, " wd"});
        run((ocase){{.type = VKDL_SGD, .lr = 0.1f, .weight_decay = 0.01f, .momentum = 0.9f}, n, 4, false,
                    " momentum wd"});
        run((ocase){{.type = VKDL_SGD, .lr = 0.05f, .momentum = 0.8f, .dampening = 0.3f}, n, 4, true,
                    " momentum dampening"});
        run((ocase){{.type = VKDL_SGD, .lr = 0.05f, .weight_decay = 0.1f, .momentum = 0.9f, .nesterov = 1}, n, 4,
                    false, " nesterov wd"});
        run((ocase){{.type = VKDL_ADAM, .lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f}, n, 5, false, ""});
        run((ocase){{.type = VKDL_ADAM, .lr = 0.01f, .weight_decay = 0.1f, .beta1 = 0.8f, .beta2 = 0.99f,
                     .eps = 1e-6f}, n, 4, true, " wd"});
        run((ocase){{.type = VKDL_ADAMW, .lr = 0.01f, .weight_decay = 0.1f, .beta1 = 0.9f, .beta2 = 0.999f,
                     .eps = 1e-8f}, n, 5, false, " wd"});
        run((ocase){{.type = VKDL_ADAMW, .lr = 0.02f, .beta1 = 0.5f, .beta2 = 0.9f, .eps = 1e-3f}, n, 3, true, ""});
        run((ocase){{.type = VKDL_RMSPROP, .lr = 0.01f, .alpha = 0.99f, .eps = 1e-8f}, n, 4, false, ""});
        run((ocase){{.type = VKDL_RMSPROP, .lr = 0.01f, .alpha = 0.95f, .eps = 1e-8f, .momentum = 0.5f}, n, 4, false,
                    " momentum"});
        run((ocase){{.type = VKDL_RMSPROP, .lr = 0.01f, .alpha = 0.9f, .eps = 1e-6f, .momentum = 0.9f,
                     .weight_decay = 0.05f}, n, 4, true, " momentum wd"});
    }
    th_run_op(&VIEWS);
    th_run("hand-computed steps [cpu]", run_known, th_cpu);
    th_run("hand-computed steps [gpu]", run_known, th_gpu);
    static const int64_t clip_sizes[] = {1, 3, 17, 511, 512, 513, 1000, 100003, 3000000};
    for (size_t k = 0; k < TH_LEN(clip_sizes); k++)
        run_clip(&clip_sizes[k]);
    th_run_op(&CLIP_THEN_STEP);
    th_run("empty", run_empty, NULL);
    th_run("bad input", run_bad, NULL);
    th_run("zero means the default [cpu]", run_defaults, th_cpu);
    th_run("zero means the default [gpu]", run_defaults, th_gpu);
    th_run("impossible hyper-parameters", run_impossible, NULL);
    return th_finish();
}
