/* Optimizers over a module and learning-rate schedules.
 *
 * vkdl_optim_create moves every trainable parameter of the module into one flat tensor (and every
 * gradient into another): the parameter handles are kept and re-pointed at their slice, so layers
 * and user code see no difference, while a whole update is one vkdl_optim_step dispatch and a
 * zero_grad one fill. Slices start on 16-element boundaries so every kernel can bind them. */
#include "nn/module.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PACK_ALIGN 16

float vkdl_lr_schedule(const vkdl_optim_create_info *info, int64_t step)
{
    if (!info)
        return 0.0f;
    double lr = info->hyper.lr;
    if (step < 1)
        step = 1;
    if (info->warmup_steps > 0 && step <= info->warmup_steps)
        return (float)(lr * (double)step / (double)info->warmup_steps);
    if (info->total_steps > 0) {
        int64_t w = info->warmup_steps > 0 ? info->warmup_steps : 0;
        double span = (double)(info->total_steps - w);
        double t = span > 0 ? (double)(step - w) / span : 1.0;
        if (t > 1.0)
            t = 1.0;
        return (float)(info->min_lr + 0.5 * (lr - info->min_lr) * (1.0 + cos(M_PI * t)));
    }
    return (float)lr;
}

static vkdl_status check_info(const vkdl_optim_create_info *info)
{
    const vkdl_optim_info *h = &info->hyper;
    VKDL_TRY(vkdl_check_next("optim_create", info->next));
    vkdl_optim_info resolved;
    VKDL_TRY(vkdl_optim_resolve("optim_create", h, &resolved));
    if (!(h->lr >= 0.0f) || !isfinite(h->lr) || !(info->min_lr >= 0.0f) || info->warmup_steps < 0 ||
        info->total_steps < 0 || !(info->max_grad_norm >= 0.0f))
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "optim_create: lr %g, min_lr %g, warmup %lld, total %lld, "
                         "max_grad_norm %g: need finite non-negative values", h->lr, info->min_lr,
                         (long long)info->warmup_steps, (long long)info->total_steps, info->max_grad_norm);
    if (info->total_steps > 0 && info->warmup_steps >= info->total_steps)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "optim_create: warm-up (%lld steps) must end before total_steps (%lld)",
                         (long long)info->warmup_steps, (long long)info->total_steps);
    return VKDL_OK;
}

static vkdl_status pack(vkdl_optim *o)
{
    int64_t total = 0;
    int64_t *off = malloc((size_t)(o->n_params ? o->n_params : 1) * sizeof *off);
    if (!off)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "optim_create: out of host memory");
    for (int i = 0; i < o->n_params; i++) {
        off[i] = total;
        total += (o->params[i]->t->numel + PACK_ALIGN - 1) / PACK_ALIGN * PACK_ALIGN;
    }
    vkdl_status s = vkdl_tensor_create(o->ctx, VKDL_F32, 1, &total, &o->flat);
    if (s == VKDL_OK)
        s = vkdl_tensor_create(o->ctx, VKDL_F32, 1, &total, &o->grad);
    if (s == VKDL_OK)
        s = vkdl_tensor_fill(o->flat, 0.0);
    if (s == VKDL_OK)
        s = vkdl_tensor_fill(o->grad, 0.0);
    for (int i = 0; s == VKDL_OK && i < o->n_params; i++) {
        vkdl_tensor *t = o->params[i]->t, *dst;
        s = vkdl_tensor_create_on(o->ctx, VKDL_F32, t->ndim, t->shape, o->flat->st, o->flat->offset + (size_t)off[i] * 4,
                                  &dst);
        if (s == VKDL_OK)
            s = vkdl_copy(t, dst);
        vkdl_tensor_destroy(dst);
    }
    /* The copies must finish before the old storage can be handed to anyone else. */
    if (s == VKDL_OK)
        s = vkdl_sync(o->ctx);
    for (int i = 0; s == VKDL_OK && i < o->n_params; i++) {
        vkdl_tensor *t = o->params[i]->t, *g;
        s = vkdl_tensor_create_on(o->ctx, VKDL_F32, t->ndim, t->shape, o->grad->st, o->grad->offset + (size_t)off[i] * 4,
                                  &g);
        if (s != VKDL_OK)
            break;
        vkdl_tensor_rebind(t, o->flat->st, o->flat->offset + (size_t)off[i] * sizeof(float));
        if (t->grad_owned)
            vkdl_tensor_destroy(t->grad);
        t->grad = g;
        t->grad_owned = true;
        t->grad_zero = true;
    }
    free(off);
    return s;
}

void vkdl_optim_destroy(vkdl_optim *o)
{
    if (!o)
        return;
    vkdl_tensor *ts[] = {o->flat, o->grad, o->m, o->v, o->norm, o->scale};
    for (size_t i = 0; i < VKDL_ARRAY_LEN(ts); i++)
        vkdl_tensor_destroy(ts[i]);
    free(o->params);
    free(o);
}

vkdl_status vkdl_optim_create(vkdl_module *m, const vkdl_optim_create_info *info, vkdl_optim **out)
{
    if (!out)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "optim_create: out is NULL");
    *out = NULL;
    if (!m || !info)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "optim_create: %s is NULL", m ? "info" : "module");
    VKDL_TRY(check_info(info));
    vkdl_optim *o = calloc(1, sizeof *o);
    if (!o)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "optim_create: out of host memory");
    o->ctx = m->ctx;
    o->info = *info;
    o->info.hyper.grad_scale = NULL;
    vkdl_status s = vkdl_module_collect(m, true, &o->params, NULL, &o->n_params);
    if (s == VKDL_OK && o->n_params == 0)
        s = vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "optim_create: the module has no trainable parameters");
    if (s == VKDL_OK)
        s = pack(o);
    const vkdl_optim_info *h = &info->hyper;
    bool need_m = h->type == VKDL_ADAM || h->type == VKDL_ADAMW || h->momentum != 0.0f;
    bool need_v = h->type == VKDL_ADAM || h->type == VKDL_ADAMW || h->type == VKDL_RMSPROP;
    int64_t one = 1;
    if (s == VKDL_OK && need_m)
        s = vkdl_tensor_create(o->ctx, VKDL_F32, 1, o->flat->shape, &o->m);
    if (s == VKDL_OK && need_m)
        s = vkdl_tensor_fill(o->m, 0.0);
    if (s == VKDL_OK && need_v)
        s = vkdl_tensor_create(o->ctx, VKDL_F32, 1, o->flat->shape, &o->v);
    if (s == VKDL_OK && need_v)
        s = vkdl_tensor_fill(o->v, 0.0);
    if (s == VKDL_OK && info->max_grad_norm > 0.0f)
        s = vkdl_tensor_create(o->ctx, VKDL_F32, 1, &one, &o->norm);
    if (s == VKDL_OK && info->max_grad_norm > 0.0f)
        s = vkdl_tensor_create(o->ctx, VKDL_F32, 1, &one, &o->scale);
    if (s != VKDL_OK) {
        vkdl_optim_destroy(o);
        return s;
    }
    *out = o;
    return VKDL_OK;
}

vkdl_status vkdl_optim_zero_grad(vkdl_optim *o)
{
    if (!o)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "optim_zero_grad: optimizer is NULL");
    VKDL_TRY(vkdl_tensor_fill(o->grad, 0.0));
    /* The first backward after this may write gradients instead of adding them. */
    for (int i = 0; i < o->n_params; i++)
        o->params[i]->t->grad_zero = true;
    return VKDL_OK;
}

vkdl_status vkdl_optim_update(vkdl_optim *o)
{
    if (!o)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "optim_update: optimizer is NULL");
    vkdl_optim_info h = o->info.hyper;
    h.step = o->steps + 1;
    h.lr = vkdl_lr_schedule(&o->info, h.step);
    if (o->info.max_grad_norm > 0.0f) {
        VKDL_TRY(vkdl_clip_grad_norm(o->grad, o->info.max_grad_norm, o->norm, o->scale));
        h.grad_scale = o->scale;
    }
    VKDL_TRY(vkdl_optim_step(&h, o->flat, o->grad, o->m, o->v));
    o->steps++;
    return VKDL_OK;
}

int64_t vkdl_optim_steps(const vkdl_optim *o) { return o ? o->steps : 0; }

float vkdl_optim_lr(const vkdl_optim *o) { return o ? vkdl_lr_schedule(&o->info, o->steps + 1) : 0.0f; }
