/* Optimizer steps (SGD, Adam, AdamW, RMSprop with PyTorch's semantics) over one flat parameter
 * tensor in one dispatch, and global-norm gradient clipping. Shader: shaders/optim.comp.
 * Tests: tests/test_optim.c. */
#include "ops/ops.h"
#include "shaders.h"
#include "optim.h"

#include <math.h>

#define WG 256
#define CLIP_WG 64
/* The first clipping pass makes at most this many partial sums, so the final pass is short. */
#define CLIP_MAX_PARTIALS 1024

/* The public optimizer enum is passed to the shader as it is. */
_Static_assert(VKDL_SGD == OPTIM_TYPE_SGD && VKDL_ADAM == OPTIM_TYPE_ADAM && VKDL_ADAMW == OPTIM_TYPE_ADAMW &&
                   VKDL_RMSPROP == OPTIM_TYPE_RMSPROP,
               "vkdl_optimizer matches optim.h");

/* Per-step constants shared by both backends, derived once from the info in double. */
typedef struct optim_plan {
    bool use_m, use_v, first;
    double step_size, inv_sqrt_bc2;
} optim_plan;

/* ---------------------------------------------------------------- checks */

static bool is_finite_nonneg(float f) { return f >= 0 && isfinite(f); }

static vkdl_status check_state(const char *what, const vkdl_tensor *t, const vkdl_tensor *param, vkdl_optimizer type)
{
    if (!t)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "optim_step: %s needs state %s, which is NULL",
                         vkdl_optimizer_name(type), what);
    VKDL_TRY(vkdl_check_same_ctx("optim_step", t, param));
    VKDL_TRY(vkdl_check_dtype("optim_step", what, t, VKDL_F32));
    if (t->numel != param->numel)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "optim_step: %s has %lld elements, param has %lld", what,
                         (long long)t->numel, (long long)param->numel);
    return VKDL_OK;
}

static bool in_unit(float f) { return f >= 0 && f < 1; }

/* Zero means the default, so "{.type = VKDL_ADAM, .lr = 1e-3f}" is PyTorch's Adam. */
static void apply_defaults(vkdl_optim_info *h)
{
    bool adam = h->type == VKDL_ADAM || h->type == VKDL_ADAMW;
    if (adam && h->beta1 == 0)
        h->beta1 = 0.9f;
    if (adam && h->beta2 == 0)
        h->beta2 = 0.999f;
    if ((adam || h->type == VKDL_RMSPROP) && h->eps == 0)
        h->eps = 1e-8f;
    if (h->type == VKDL_ADAMW && h->weight_decay == 0)
        h->weight_decay = 0.01f;
    if (h->type == VKDL_RMSPROP && h->alpha == 0)
        h->alpha = 0.99f;
}

vkdl_status vkdl_optim_resolve(const char *op, const vkdl_optim_info *in, vkdl_optim_info *out)
{
    if (!in)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: info is NULL", op);
    VKDL_TRY(vkdl_check_next(op, in->next));
    if ((unsigned)in->type > VKDL_RMSPROP)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: invalid optimizer type %d", op, (int)in->type);
    const char *name = vkdl_optimizer_name(in->type);
    *out = *in;
    apply_defaults(out);
    /* Every field is checked, used by this optimizer or not: a NaN or a sign error anywhere is a bug. */
    const struct { const char *field; float value; bool ok; const char *want; } f[] = {
        {"lr", out->lr, is_finite_nonneg(out->lr), "finite and >= 0"},
        {"weight_decay", out->weight_decay, is_finite_nonneg(out->weight_decay), "finite and >= 0"},
        {"momentum", out->momentum, is_finite_nonneg(out->momentum), "finite and >= 0"},
        {"dampening", out->dampening, out->dampening >= 0 && out->dampening <= 1, "in [0, 1]"},
        {"betas: beta1", out->beta1, in_unit(out->beta1), "in [0, 1)"},
        {"betas: beta2", out->beta2, in_unit(out->beta2), "in [0, 1)"},
        {"eps", out->eps, is_finite_nonneg(out->eps), "finite and >= 0"},
        {"alpha", out->alpha, in_unit(out->alpha), "in [0, 1)"},
    };
    for (size_t i = 0; i < VKDL_ARRAY_LEN(f); i++)
        if (!f[i].ok)
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: %s: %s %g must be %s", op, name, f[i].field,
                             (double)f[i].value, f[i].want);
    if (out->type == VKDL_SGD && out->nesterov && (out->momentum == 0 || out->dampening != 0))
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: sgd: nesterov needs momentum > 0 (is %g) and "
                         "dampening 0 (is %g)", op, (double)out->momentum, (double)out->dampening);
    return VKDL_OK;
}

/* in: resolved by vkdl_optim_resolve. */
static vkdl_status validate(const vkdl_optim_info *in, const vkdl_tensor *param, const vkdl_tensor *grad,
                            const vkdl_tensor *m, const vkdl_tensor *v, optim_plan *plan)
{
    const char *name = vkdl_optimizer_name(in->type);
    VKDL_TRY(vkdl_check_tensor("optim_step", "param", param));
    VKDL_TRY(vkdl_check_tensor("optim_step", "grad", grad));
    VKDL_TRY(vkdl_check_same_ctx("optim_step", grad, param));
    VKDL_TRY(vkdl_check_dtype("optim_step", "param", param, VKDL_F32));
    VKDL_TRY(vkdl_check_dtype("optim_step", "grad", grad, VKDL_F32));
    if (grad->numel != param->numel)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "optim_step: grad has %lld elements, param has %lld",
                         (long long)grad->numel, (long long)param->numel);
    if (param->numel > UINT32_MAX)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "optim_step: %lld elements exceed 2^32", (long long)param->numel);
    if (in->grad_scale) {
        VKDL_TRY(vkdl_check_same_ctx("optim_step", in->grad_scale, param));
        VKDL_TRY(vkdl_check_dtype("optim_step", "grad_scale", in->grad_scale, VKDL_F32));
        if (in->grad_scale->numel != 1)
            return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "optim_step: grad_scale has %lld elements, expected 1",
                             (long long)in->grad_scale->numel);
    }

    *plan = (optim_plan){0};
    switch (in->type) {
    case VKDL_SGD:
        plan->use_m = in->momentum != 0;
        if (plan->use_m && in->step < 1)
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "optim_step: sgd with momentum: step %lld must be >= 1 "
                             "(step 1 starts the momentum buffer)", (long long)in->step);
        plan->first = in->step == 1;
        break;
    case VKDL_ADAM:
    case VKDL_ADAMW:
        if (in->step < 1)
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "optim_step: %s: step %lld must be >= 1 (bias correction)",
                             name, (long long)in->step);
        plan->use_m = plan->use_v = true;
        plan->step_size = in->lr / (1.0 - pow(in->beta1, (double)in->step));
        plan->inv_sqrt_bc2 = 1.0 / sqrt(1.0 - pow(in->beta2, (double)in->step));
        break;
    case VKDL_RMSPROP:
        plan->use_v = true;
        plan->use_m = in->momentum != 0;
        break;
    }
    if (plan->use_m)
        VKDL_TRY(check_state("m", m, param, in->type));
    if (plan->use_v)
        VKDL_TRY(check_state("v", v, param, in->type));
    return VKDL_OK;
}

static vkdl_status check_clip(const vkdl_tensor *grad, float max_norm, const vkdl_tensor *norm,
                              const vkdl_tensor *scale)
{
    const char *name = "clip_grad_norm";
    VKDL_TRY(vkdl_check_tensor(name, "grad", grad));
    VKDL_TRY(vkdl_check_tensor(name, "norm", norm));
    VKDL_TRY(vkdl_check_tensor(name, "scale", scale));
    VKDL_TRY(vkdl_check_same_ctx(name, grad, norm));
    VKDL_TRY(vkdl_check_same_ctx(name, grad, scale));
    VKDL_TRY(vkdl_check_dtype(name, "grad", grad, VKDL_F32));
    VKDL_TRY(vkdl_check_dtype(name, "norm", norm, VKDL_F32));
    VKDL_TRY(vkdl_check_dtype(name, "scale", scale, VKDL_F32));
    if (norm->numel != 1 || scale->numel != 1)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: norm and scale must have one element (have %lld and %lld)",
                         name, (long long)norm->numel, (long long)scale->numel);
    if (!is_finite_nonneg(max_norm))
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: max_norm %g must be finite and >= 0", name,
                         (double)max_norm);
    if (grad->numel > UINT32_MAX)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "%s: %lld elements exceed 2^32", name, (long long)grad->numel);
    return VKDL_OK;
}

/* ---------------------------------------------------------------- CPU twin */

static void cpu_optim(const vkdl_optim_info *in, const optim_plan *plan, vkdl_tensor *param, const vkdl_tensor *grad,
                      vkdl_tensor *m, vkdl_tensor *v)
{
    float *p = vkdl_tensor_host(param);
    const float *g = vkdl_tensor_host(grad);
    float *pm = plan->use_m ? vkdl_tensor_host(m) : NULL;
    float *pv = plan->use_v ? vkdl_tensor_host(v) : NULL;
    double scale = in->grad_scale ? *(const float *)vkdl_tensor_host(in->grad_scale) : 1.0;
    double lr = in->lr, wd = in->weight_decay, mom = in->momentum;
    for (int64_t i = 0; i < param->numel; i++) {
        double pi = p[i], gi = g[i] * scale;
        switch (in->type) {
        case VKDL_SGD:
            gi += wd * pi;
            if (plan->use_m) {
                double buf = plan->first ? gi : mom * pm[i] + (1.0 - in->dampening) * gi;
                pm[i] = (float)buf;
                gi = in->nesterov ? gi + mom * buf : buf;
            }
            pi -= lr * gi;
            break;
        case VKDL_ADAM:
        case VKDL_ADAMW: {
            if (in->type == VKDL_ADAMW)
                pi *= 1.0 - lr * wd;
            else
                gi += wd * pi;
            double mi = in->beta1 * (double)pm[i] + (1.0 - in->beta1) * gi;
            double vi = in->beta2 * (double)pv[i] + (1.0 - in->beta2) * gi * gi;
            pm[i] = (float)mi;
            pv[i] = (float)vi;
            pi -= plan->step_size * mi / (sqrt(vi) * plan->inv_sqrt_bc2 + in->eps);
            break;
        }
        case VKDL_RMSPROP: {
            gi += wd * pi;
            double vi = in->alpha * (double)pv[i] + (1.0 - in->alpha) * gi * gi;
            pv[i] = (float)vi;
            double u = gi / (sqrt(vi) + in->eps);
            if (plan->use_m) {
                u += mom * pm[i];
                pm[i] = (float)u;
            }
            pi -= lr * u;
            break;
        }
        }
        p[i] = (float)pi;
    }
}

static void cpu_clip(const vkdl_tensor *grad, float max_norm, vkdl_tensor *norm, vkdl_tensor *scale)
{
    const float *g = vkdl_tensor_host(grad);
    double ss = 0;
    for (int64_t i = 0; i < grad->numel; i++)
        ss += (double)g[i] * g[i];
    double n = sqrt(ss);
    *(float *)vkdl_tensor_host(norm) = (float)n;
    *(float *)vkdl_tensor_host(scale) = (float)fmin(1.0, max_norm / (n + 1e-6));
}

/* ---------------------------------------------------------------- GPU launcher */

VKDL_PUSH_STRUCT(optim_push, OPTIM_PUSH, 5);
VKDL_PUSH_STRUCT(clip_push, OPTIM_CLIP_PUSH, 3);

static const vkdl_kernel K_OPTIM = {
    VKDL_SPIRV(optim),
    .n_bindings = 5,
    .access = {VKDL_RW, VKDL_READ, VKDL_RW, VKDL_RW, VKDL_READ},
    .push_size = sizeof(struct optim_push),
    .n_spec = OPTIM_SPEC_COUNT,
};

static const vkdl_kernel K_CLIP = {
    VKDL_SPIRV(optim_clip),
    .n_bindings = 3,
    .access = {VKDL_READ, VKDL_WRITE, VKDL_WRITE},
    .push_size = sizeof(struct clip_push),
    .n_spec = OPTIM_CLIP_SPEC_COUNT,
};

static vkdl_status gpu_optim(const vkdl_optim_info *in, const optim_plan *plan, vkdl_tensor *param,
                             const vkdl_tensor *grad, vkdl_tensor *m, vkdl_tensor *v)
{
    struct optim_push pc = {
        .n = (uint32_t)param->numel,
        .lr = in->lr,
        .wd = in->weight_decay,
        .momentum = in->momentum,
        .dampening = in->dampening,
        .beta1 = in->beta1,
        .beta2 = in->beta2,
        .eps = in->eps,
        .alpha = in->alpha,
        .step_size = (float)plan->step_size,
        .inv_sqrt_bc2 = (float)plan->inv_sqrt_bc2,
        .first = plan->first,
    };
    uint32_t spec[OPTIM_SPEC_COUNT] = {
        [OPTIM_SPEC_WG] = WG,
        [OPTIM_SPEC_TYPE] = (uint32_t)in->type,
        [OPTIM_SPEC_USE_M] = plan->use_m,
        [OPTIM_SPEC_NESTEROV] = in->type == VKDL_SGD && in->nesterov,
        [OPTIM_SPEC_HAS_SCALE] = in->grad_scale != NULL,
    };
    /* A binding the kernel does not use still needs a buffer: param stands in (never touched). */
    vkdl_dispatch_info d = {
        .kernel = &K_OPTIM,
        .spec = spec,
        .tensors = {param, grad, plan->use_m ? m : param, plan->use_v ? v : param,
                    in->grad_scale ? in->grad_scale : grad},
        .push = &pc,
    };
    vkdl_grid_1d(param->ctx, (param->numel + WG - 1) / WG, d.groups);
    return vkdl_dispatch(param->ctx, &d);
}

static vkdl_status clip_pass(const vkdl_tensor *src, vkdl_tensor *dst, vkdl_tensor *scale, bool square, bool final,
                             uint32_t n_groups, float max_norm)
{
    uint32_t n = (uint32_t)src->numel;
    struct clip_push pc = {.n = n, .chunk = (n + n_groups - 1) / n_groups, .max_norm = max_norm};
    uint32_t spec[OPTIM_CLIP_SPEC_COUNT] = {
        [OPTIM_SPEC_WG] = CLIP_WG, [OPTIM_CLIP_SPEC_SQUARE] = square, [OPTIM_CLIP_SPEC_FINAL] = final};
    vkdl_dispatch_info d = {.kernel = &K_CLIP, .spec = spec, .tensors = {src, dst, scale}, .push = &pc};
    vkdl_grid_1d(src->ctx, n_groups, d.groups);
    return vkdl_dispatch(src->ctx, &d);
}

static vkdl_status gpu_clip(const vkdl_tensor *grad, float max_norm, vkdl_tensor *norm, vkdl_tensor *scale)
{
    /* Enough elements per workgroup that its loop amortises the tree, at most CLIP_MAX_PARTIALS. */
    uint64_t groups = ((uint64_t)grad->numel + 8 * CLIP_WG - 1) / (8 * CLIP_WG);
    if (groups > CLIP_MAX_PARTIALS)
        groups = CLIP_MAX_PARTIALS;
    if (groups == 1)
        return clip_pass(grad, norm, scale, true, true, 1, max_norm);
    int64_t shape[1] = {(int64_t)groups};
    vkdl_tensor *partial;
    VKDL_TRY(vkdl_tensor_create(grad->ctx, VKDL_F32, 1, shape, &partial));
    /* The first pass writes no clip factor; partial stands in for that binding. */
    vkdl_status s = clip_pass(grad, partial, partial, true, false, (uint32_t)groups, max_norm);
    if (s == VKDL_OK)
        s = clip_pass(partial, norm, scale, false, true, 1, max_norm);
    vkdl_tensor_destroy(partial);
    return s;
}

/* ---------------------------------------------------------------- entry points */

vkdl_status vkdl_optim_step(const vkdl_optim_info *info, vkdl_tensor *param, const vkdl_tensor *grad, vkdl_tensor *m,
                            vkdl_tensor *v)
{
    optim_plan plan = {0};
    vkdl_optim_info h;
    VKDL_TRY(vkdl_optim_resolve("optim_step", info, &h));
    VKDL_TRY(validate(&h, param, grad, m, v, &plan));
    if (param->numel == 0)
        return VKDL_OK;
    if (param->ctx->backend == VKDL_BACKEND_CPU) {
        cpu_optim(&h, &plan, param, grad, m, v);
        return VKDL_OK;
    }
    return gpu_optim(&h, &plan, param, grad, m, v);
}

vkdl_status vkdl_clip_grad_norm(const vkdl_tensor *grad, float max_norm, vkdl_tensor *norm, vkdl_tensor *scale)
{
    VKDL_TRY(check_clip(grad, max_norm, norm, scale));
    if (grad->ctx->backend == VKDL_BACKEND_CPU) {
        cpu_clip(grad, max_norm, norm, scale);
        return VKDL_OK;
    }
    if (grad->numel == 0) { /* nothing to bind: the norm of nothing is 0 */
        VKDL_TRY(vkdl_tensor_fill(norm, 0.0));
        return vkdl_tensor_fill(scale, fmin(1.0, max_norm / 1e-6));
    }
    return gpu_clip(grad, max_norm, norm, scale);
}
