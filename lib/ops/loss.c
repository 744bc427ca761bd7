/* Losses, each a scalar mean, and their backward: MSE, cross-entropy (fused log-softmax + NLL with
 * ignore_index and label smoothing) and BCE with logits. Shader: shaders/loss.comp.
 * Tests: tests/test_loss.c.
 *
 * A scalar is two dispatches, per-row or per-slice partial sums into a scratch tensor and then one
 * workgroup folding them in a fixed order, so a loss is the same bits on every run (no float
 * atomics). Cross-entropy whose every target is ignored is NaN (0 / 0), as in PyTorch; its
 * gradient is then all zeros, since ignored rows contribute nothing. A target outside [0, C) that
 * is not ignore_index is INVALID_ARGUMENT on the CPU; the GPU never reads at it and gives that
 * row a NaN loss (so the mean is NaN) and a NaN gradient row. */
#include "ops/ops.h"
#include "shaders.h"
#include "loss.h"

#include <math.h>
#include <stdlib.h>

#define WG 64           /* partial sums and the final fold */
#define WG_ELEM 256     /* elementwise gradients */
#define ELEMS_PER_PART 64
#define MAX_PARTS 16384 /* enough slices to fill a large GPU; the fold stays one workgroup */
#define MAX_PER_PART 32768 /* lavapipe ends a shader's loops after 65535 iterations in all */

/* ---------------------------------------------------------------- checks */

static vkdl_status check_scalar(const char *op, const vkdl_tensor *loss)
{
    VKDL_TRY(vkdl_check_dtype(op, "loss", loss, VKDL_F32));
    if (loss->numel != 1 || loss->ndim > 1) {
        char s[VKDL_SHAPE_BUF];
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: loss is %s, expected a scalar or [1]", op,
                         vkdl_shape_str(loss, s, sizeof s));
    }
    return VKDL_OK;
}

static vkdl_status check_pair(const char *op, const char *xname, const vkdl_tensor *x, const vkdl_tensor *t,
                              const vkdl_tensor *out)
{
    VKDL_TRY(vkdl_check_tensor(op, xname, x));
    VKDL_TRY(vkdl_check_tensor(op, "target", t));
    VKDL_TRY(vkdl_check_same_ctx(op, x, t));
    VKDL_TRY(vkdl_check_same_ctx(op, x, out));
    VKDL_TRY(vkdl_check_dtype(op, xname, x, VKDL_F32));
    VKDL_TRY(vkdl_check_dtype(op, "target", t, VKDL_F32));
    VKDL_TRY(vkdl_check_same_shape(op, x, t));
    if (x->numel > UINT32_MAX)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "%s: %lld elements exceed 2^32", op, (long long)x->numel);
    return VKDL_OK;
}

static const char *elem_x_name(bool bce) { return bce ? "logits" : "pred"; }

static vkdl_status check_elem_loss(const char *op, bool bce, const vkdl_tensor *x, const vkdl_tensor *t,
                                   const vkdl_tensor *loss)
{
    VKDL_TRY(vkdl_check_tensor(op, "loss", loss));
    VKDL_TRY(check_pair(op, elem_x_name(bce), x, t, loss));
    return check_scalar(op, loss);
}

static vkdl_status check_elem_loss_backward(const char *op, bool bce, const vkdl_tensor *x, const vkdl_tensor *t,
                                            const vkdl_tensor *dx)
{
    const char *dname = bce ? "dlogits" : "dpred";
    VKDL_TRY(vkdl_check_tensor(op, dname, dx));
    VKDL_TRY(check_pair(op, elem_x_name(bce), x, t, dx));
    VKDL_TRY(vkdl_check_dtype(op, dname, dx, VKDL_F32));
    return vkdl_check_same_shape(op, x, dx);
}

typedef struct ce_args {
    int64_t N, C;
    int32_t ignore;
    bool has_ignore;
    float ls;
} ce_args;

static vkdl_status ce_check(const char *op, const vkdl_tensor *logits, const vkdl_tensor *targets,
                            const vkdl_tensor *out, const char *out_name, const vkdl_cross_entropy_info *info,
                            ce_args *a)
{
    VKDL_TRY(info ? vkdl_check_next(op, info->next) : VKDL_OK);
    VKDL_TRY(vkdl_check_tensor(op, "logits", logits));
    VKDL_TRY(vkdl_check_tensor(op, "targets", targets));
    VKDL_TRY(vkdl_check_tensor(op, out_name, out));
    VKDL_TRY(vkdl_check_same_ctx(op, logits, targets));
    VKDL_TRY(vkdl_check_same_ctx(op, logits, out));
    VKDL_TRY(vkdl_check_dtype(op, "logits", logits, VKDL_F32));
    VKDL_TRY(vkdl_check_dtype(op, "targets", targets, VKDL_I32));
    VKDL_TRY(vkdl_check_dtype(op, out_name, out, VKDL_F32));
    char sl[VKDL_SHAPE_BUF], st[VKDL_SHAPE_BUF];
    vkdl_shape_str(logits, sl, sizeof sl);
    vkdl_shape_str(targets, st, sizeof st);
    if (logits->ndim != 2)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: logits is %s, expected [N, C]", op, sl);
    if (targets->ndim != 1 || targets->shape[0] != logits->shape[0])
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: targets is %s, expected [%lld] for logits %s", op, st,
                         (long long)logits->shape[0], sl);
    if (logits->shape[1] == 0)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: logits %s has no classes", op, sl);
    if (logits->numel > UINT32_MAX)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "%s: logits %s has more than 2^32 elements", op, sl);
    float ls = info ? info->label_smoothing : 0.0f;
    if (!(ls >= 0.0f && ls <= 1.0f))
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: label_smoothing %g is outside [0, 1]", op, (double)ls);
    bool ignore = info && info->use_ignore_index;
    *a = (ce_args){logits->shape[0], logits->shape[1], ignore ? info->ignore_index : 0, ignore, ls};
    return VKDL_OK;
}

/* ---------------------------------------------------------------- CPU twin */

static double elem_term(bool bce, double x, double t)
{
    if (!bce)
        return (x - t) * (x - t);
    return fmax(x, 0) - x * t + log1p(exp(-fabs(x)));
}

static void cpu_elem_loss(bool bce, const vkdl_tensor *x, const vkdl_tensor *t, vkdl_tensor *loss)
{
    const float *px = vkdl_tensor_host(x), *pt = vkdl_tensor_host(t);
    double s = 0;
    for (int64_t i = 0; i < x->numel; i++)
        s += elem_term(bce, px[i], pt[i]);
    *(float *)vkdl_tensor_host(loss) = (float)(s / (double)x->numel);
}

/* scale: dloss / n, times 2 for MSE. */
static void cpu_elem_loss_backward(bool bce, const vkdl_tensor *x, const vkdl_tensor *t, double scale, vkdl_tensor *dx)
{
    const float *px = vkdl_tensor_host(x), *pt = vkdl_tensor_host(t);
    float *pd = vkdl_tensor_host(dx);
    for (int64_t i = 0; i < x->numel; i++) {
        double v = px[i], d = bce ? 1 / (1 + exp(-v)) - pt[i] : v - pt[i];
        pd[i] = (float)(scale * d);
    }
}

/* Rows not ignored; fails on a target outside [0, C). */
static vkdl_status cpu_ce_count(const char *op, const ce_args *a, const int32_t *t, int64_t *count)
{
    *count = 0;
    for (int64_t r = 0; r < a->N; r++) {
        if (a->has_ignore && t[r] == a->ignore)
            continue;
        if (t[r] < 0 || t[r] >= a->C)
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: target %d of row %lld is outside [0, %lld)", op,
                             (int)t[r], (long long)r, (long long)a->C);
        (*count)++;
    }
    return VKDL_OK;
}

static double cpu_lse(const float *p, int64_t C)
{
    double m = -INFINITY, s = 0;
    for (int64_t k = 0; k < C; k++)
        m = p[k] > m ? p[k] : m;
    for (int64_t k = 0; k < C; k++)
        s += exp(p[k] - m);
    return m + log(s);
}

static vkdl_status cpu_cross_entropy(const ce_args *a, const vkdl_tensor *logits, const vkdl_tensor *targets,
                                     vkdl_tensor *loss)
{
    const float *x = vkdl_tensor_host(logits);
    const int32_t *t = vkdl_tensor_host(targets);
    int64_t count;
    VKDL_TRY(cpu_ce_count("cross_entropy", a, t, &count));
    double total = 0;
    for (int64_t r = 0; r < a->N; r++) {
        if (a->has_ignore && t[r] == a->ignore)
            continue;
        const float *p = x + r * a->C;
        double lse = cpu_lse(p, a->C), l = (1.0 - a->ls) * (lse - p[t[r]]);
        if (a->ls != 0) {
            double sx = 0;
            for (int64_t k = 0; k < a->C; k++)
                sx += p[k];
            l += a->ls * (lse - sx / (double)a->C);
        }
        total += l;
    }
    *(float *)vkdl_tensor_host(loss) = count ? (float)(total / (double)count) : NAN;
    return VKDL_OK;
}

static vkdl_status cpu_cross_entropy_backward(const ce_args *a, const vkdl_tensor *logits, const vkdl_tensor *targets,
                                              float dloss, vkdl_tensor *dlogits)
{
    const float *x = vkdl_tensor_host(logits);
    const int32_t *t = vkdl_tensor_host(targets);
    float *dx = vkdl_tensor_host(dlogits);
    int64_t count;
    VKDL_TRY(cpu_ce_count("cross_entropy_backward", a, t, &count));
    for (int64_t r = 0; r < a->N; r++) {
        const float *p = x + r * a->C;
        float *q = dx + r * a->C;
        bool ignored = a->has_ignore && t[r] == a->ignore;
        double lse = ignored ? 0 : cpu_lse(p, a->C), g = ignored ? 0 : dloss / (double)count;
        for (int64_t k = 0; k < a->C; k++) {
            double target = a->ls / (double)a->C + (k == t[r] ? 1.0 - a->ls : 0.0);
            q[k] = ignored ? 0.0f : (float)(g * (exp(p[k] - lse) - target));
        }
    }
    return VKDL_OK;
}

/* ---------------------------------------------------------------- GPU launcher */

VKDL_PUSH_STRUCT(loss_push, LOSS_PUSH, 3);
VKDL_PUSH_STRUCT(sum_push, LOSS_SUM_PUSH, 2);
VKDL_PUSH_STRUCT(ce_push, LOSS_CE_PUSH, 3);
VKDL_PUSH_STRUCT(ce_backward_push, LOSS_CE_BACKWARD_PUSH, 4);

static const vkdl_kernel K_LOSS = {
    VKDL_SPIRV(loss),
    .n_bindings = 3,
    .access = {VKDL_READ, VKDL_READ, VKDL_WRITE},
    .push_size = sizeof(struct loss_push),
    .n_spec = LOSS_SPEC_COUNT,
};

/* A power-of-two workgroup. */
static const vkdl_kernel K_LOSS_SUM = {
    VKDL_SPIRV(loss_sum),
    .n_bindings = 2,
    .access = {VKDL_READ, VKDL_WRITE},
    .push_size = sizeof(struct sum_push),
    .n_spec = LOSS_SPEC_COUNT,
};

#define CE_KERNEL(var, id, push, nb, ...) \
    static const vkdl_kernel var = {      \
        VKDL_SPIRV(id),                   \
        .n_bindings = nb,                 \
        .access = {__VA_ARGS__},          \
        .push_size = sizeof(struct push), \
        .n_spec = LOSS_SPEC_COUNT,        \
    }
CE_KERNEL(K_CE, loss_ce, ce_push, 3, VKDL_READ, VKDL_READ, VKDL_WRITE);
CE_KERNEL(K_CE_SG, loss_ce_sg, ce_push, 3, VKDL_READ, VKDL_READ, VKDL_WRITE);
CE_KERNEL(K_CE_BACKWARD, loss_ce_backward, ce_backward_push, 4, VKDL_READ, VKDL_READ, VKDL_READ, VKDL_WRITE);
CE_KERNEL(K_CE_BACKWARD_SG, loss_ce_backward_sg, ce_backward_push, 4, VKDL_READ, VKDL_READ, VKDL_READ, VKDL_WRITE);

/* Fold the n partials (pairs for LOSS_SUM_RATIO, i32 targets for LOSS_SUM_COUNT) into out[0]. */
static vkdl_status gpu_fold(const vkdl_tensor *parts, uint32_t mode, uint32_t n, float scale, int32_t ignore,
                            bool has_ignore, vkdl_tensor *out)
{
    struct sum_push pc = {.n = n, .scale = scale, .ignore = ignore, .has_ignore = has_ignore};
    uint32_t spec[LOSS_SPEC_COUNT] = {[LOSS_SPEC_WG] = WG, [LOSS_SPEC_MODE] = mode};
    vkdl_dispatch_info d = {.kernel = &K_LOSS_SUM, .spec = spec, .tensors = {parts, out}, .push = &pc,
                            .groups = {1, 1, 1}};
    return vkdl_dispatch(out->ctx, &d);
}

/* mean of MSE or BCE terms over x and t: slices into a scratch tensor, then the fold. */
static vkdl_status gpu_mean(uint32_t mode, const vkdl_tensor *x, const vkdl_tensor *t, vkdl_tensor *loss)
{
    vkdl_context *ctx = x->ctx;
    int64_t n_part = (x->numel + ELEMS_PER_PART - 1) / ELEMS_PER_PART;
    if (n_part > MAX_PARTS)
        n_part = MAX_PARTS;
    if (n_part < (x->numel + MAX_PER_PART - 1) / MAX_PER_PART)
        n_part = (x->numel + MAX_PER_PART - 1) / MAX_PER_PART;
    vkdl_tensor *parts;
    VKDL_TRY(vkdl_tensor_create(ctx, VKDL_F32, 1, &n_part, &parts));
    struct loss_push pc = {.n = (uint32_t)x->numel, .n_part = (uint32_t)n_part};
    uint32_t spec[LOSS_SPEC_COUNT] = {[LOSS_SPEC_WG] = WG, [LOSS_SPEC_MODE] = mode};
    vkdl_dispatch_info d = {.kernel = &K_LOSS, .spec = spec, .tensors = {x, t, parts}, .push = &pc};
    vkdl_grid_1d(ctx, (uint64_t)(n_part + WG - 1) / WG, d.groups);
    vkdl_status s = vkdl_dispatch(ctx, &d);
    if (s == VKDL_OK)
        s = gpu_fold(parts, LOSS_SUM_SCALED, (uint32_t)n_part, (float)(1.0 / (double)x->numel), 0, false, loss);
    /* freed safely while the dispatches are pending */
    vkdl_tensor_destroy(parts);
    return s;
}

static vkdl_status gpu_grad(uint32_t mode, const vkdl_tensor *x, const vkdl_tensor *t, float scale, vkdl_tensor *dx)
{
    struct loss_push pc = {.n = (uint32_t)x->numel, .scale = scale};
    uint32_t spec[LOSS_SPEC_COUNT] = {[LOSS_SPEC_WG] = WG_ELEM, [LOSS_SPEC_MODE] = mode};
    vkdl_dispatch_info d = {.kernel = &K_LOSS, .spec = spec, .tensors = {x, t, dx}, .push = &pc};
    vkdl_grid_1d(x->ctx, (uint64_t)(x->numel + WG_ELEM - 1) / WG_ELEM, d.groups);
    return vkdl_dispatch(x->ctx, &d);
}

/* A workgroup per row of C logits, which the kernels walk twice. */
static vkdl_status ce_launch(const vkdl_context *ctx, int64_t C, bool *sg, uint32_t spec[LOSS_SPEC_COUNT])
{
    bool one_sg;
    *sg = vkdl_has_subgroup_arith(&ctx->dev.caps);
    spec[LOSS_SPEC_WG] = vkdl_row_workgroup(ctx, "cross_entropy", (uint64_t)C, 2, *sg, &one_sg);
    spec[LOSS_SPEC_ONE_SUBGROUP] = one_sg;
    return spec[LOSS_SPEC_WG] ? VKDL_OK : VKDL_ERROR_TOO_LARGE;
}

static vkdl_status gpu_cross_entropy(const ce_args *a, const vkdl_tensor *logits, const vkdl_tensor *targets,
                                     vkdl_tensor *loss)
{
    vkdl_context *ctx = logits->ctx;
    int64_t n_parts = 2 * a->N;
    vkdl_tensor *parts;
    VKDL_TRY(vkdl_tensor_create(ctx, VKDL_F32, 1, &n_parts, &parts));
    bool sg;
    uint32_t spec[LOSS_SPEC_COUNT];
    vkdl_status s = ce_launch(ctx, a->C, &sg, spec);
    if (s != VKDL_OK) {
        vkdl_tensor_destroy(parts);
        return s;
    }
    struct ce_push pc = {.C = (uint32_t)a->C, .rows = (uint32_t)a->N, .ignore = a->ignore,
                         .has_ignore = a->has_ignore, .ls = a->ls};
    vkdl_dispatch_info d = {.kernel = sg ? &K_CE_SG : &K_CE, .spec = spec, .tensors = {logits, targets, parts},
                            .push = &pc};
    vkdl_grid_1d(ctx, (uint64_t)a->N, d.groups);
    s = vkdl_dispatch(ctx, &d);
    if (s == VKDL_OK)
        s = gpu_fold(parts, LOSS_SUM_RATIO, (uint32_t)a->N, 1, 0, false, loss);
    vkdl_tensor_destroy(parts);
    return s;
}

static vkdl_status gpu_cross_entropy_backward(const ce_args *a, const vkdl_tensor *logits,
                                              const vkdl_tensor *targets, float dloss, vkdl_tensor *dlogits)
{
    vkdl_context *ctx = logits->ctx;
    int64_t one = 1;
    vkdl_tensor *count;
    VKDL_TRY(vkdl_tensor_create(ctx, VKDL_F32, 1, &one, &count));
    /* The mean's denominator, counted on the device so no host round trip is needed. */
    vkdl_status s = gpu_fold(targets, LOSS_SUM_COUNT, (uint32_t)a->N, 1, a->ignore, a->has_ignore, count);
    bool sg = false;
    uint32_t spec[LOSS_SPEC_COUNT];
    if (s == VKDL_OK)
        s = ce_launch(ctx, a->C, &sg, spec);
    if (s == VKDL_OK) {
        struct ce_backward_push pc = {.C = (uint32_t)a->C, .rows = (uint32_t)a->N, .ignore = a->ignore,
                                      .has_ignore = a->has_ignore, .ls = a->ls, .dloss = dloss};
        vkdl_dispatch_info d = {.kernel = sg ? &K_CE_BACKWARD_SG : &K_CE_BACKWARD, .spec = spec,
                                .tensors = {logits, targets, count, dlogits}, .push = &pc};
        vkdl_grid_1d(ctx, (uint64_t)a->N, d.groups);
        s = vkdl_dispatch(ctx, &d);
    }
    vkdl_tensor_destroy(count);
    return s;
}

/* ---------------------------------------------------------------- entry points */

static vkdl_status elem_loss(const char *op, bool bce, const vkdl_tensor *x, const vkdl_tensor *t, vkdl_tensor *loss)
{
    VKDL_TRY(check_elem_loss(op, bce, x, t, loss));
    /* the mean of nothing, and x has no memory to bind */
    if (x->numel == 0)
        return vkdl_tensor_fill(loss, NAN);
    if (x->ctx->backend == VKDL_BACKEND_CPU) {
        cpu_elem_loss(bce, x, t, loss);
        return VKDL_OK;
    }
    return gpu_mean(bce ? LOSS_BCE_PART : LOSS_MSE_PART, x, t, loss);
}

static vkdl_status elem_loss_backward(const char *op, bool bce, const vkdl_tensor *x, const vkdl_tensor *t,
                                      float dloss, vkdl_tensor *dx)
{
    VKDL_TRY(check_elem_loss_backward(op, bce, x, t, dx));
    if (x->numel == 0)
        return VKDL_OK;
    double scale = (bce ? 1.0 : 2.0) * dloss / (double)x->numel;
    if (x->ctx->backend == VKDL_BACKEND_CPU) {
        cpu_elem_loss_backward(bce, x, t, scale, dx);
        return VKDL_OK;
    }
    return gpu_grad(bce ? LOSS_BCE_GRAD : LOSS_MSE_GRAD, x, t, (float)scale, dx);
}

vkdl_status vkdl_mse_loss(const vkdl_tensor *pred, const vkdl_tensor *target, vkdl_tensor *loss)
{
    return elem_loss("mse_loss", false, pred, target, loss);
}

vkdl_status vkdl_mse_loss_backward(const vkdl_tensor *pred, const vkdl_tensor *target, float dloss, vkdl_tensor *dpred)
{
    return elem_loss_backward("mse_loss_backward", false, pred, target, dloss, dpred);
}

vkdl_status vkdl_bce_with_logits(const vkdl_tensor *logits, const vkdl_tensor *targets, vkdl_tensor *loss)
{
    return elem_loss("bce_with_logits", true, logits, targets, loss);
}

vkdl_status vkdl_bce_with_logits_backward(const vkdl_tensor *logits, const vkdl_tensor *targets, float dloss,
                                          vkdl_tensor *dlogits)
{
    return elem_loss_backward("bce_with_logits_backward", true, logits, targets, dloss, dlogits);
}

vkdl_status vkdl_cross_entropy(const vkdl_tensor *logits, const vkdl_tensor *targets, vkdl_tensor *loss,
                               const vkdl_cross_entropy_info *info)
{
    const char *op = "cross_entropy";
    ce_args a;
    VKDL_TRY(ce_check(op, logits, targets, loss, "loss", info, &a));
    VKDL_TRY(check_scalar(op, loss));
    /* no rows: the mean over none */
    if (a.N == 0)
        return vkdl_tensor_fill(loss, NAN);
    if (logits->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_cross_entropy(&a, logits, targets, loss);
    return gpu_cross_entropy(&a, logits, targets, loss);
}

vkdl_status vkdl_cross_entropy_backward(const vkdl_tensor *logits, const vkdl_tensor *targets, float dloss,
                                        vkdl_tensor *dlogits, const vkdl_cross_entropy_info *info)
{
    const char *op = "cross_entropy_backward";
    ce_args a;
    VKDL_TRY(ce_check(op, logits, targets, dlogits, "dlogits", info, &a));
    VKDL_TRY(vkdl_check_same_shape(op, logits, dlogits));
    if (a.N == 0)
        return VKDL_OK;
    if (logits->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_cross_entropy_backward(&a, logits, targets, dloss, dlogits);
    return gpu_cross_entropy_backward(&a, logits, targets, dloss, dlogits);
}
