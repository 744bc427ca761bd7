/* Checkpoints of a model and its optimizer: safetensors files holding parameters, buffers, optimizer
 * state and dropout streams. */
#include "io/io.h"

#include <stdlib.h>
#include <string.h>

/* What a checkpoint holds: the module's parameters and buffers under their state_dict names; the
 * dropout seeds and call counts of its modules ("vkdl.rng", so masks continue where they
 * stopped; optional when loading, so plain PyTorch weights load too); and with an optimizer its
 * step count (low and high words) and state. */
typedef struct entries {
    const char **names;
    vkdl_tensor **tensors;
    int n;
    vkdl_param **params;
    char (*param_names)[VKDL_NAME_MAX];
    vkdl_tensor *rng, *step;
} entries;

static void entries_free(entries *e)
{
    free(e->names);
    free(e->tensors);
    free(e->params);
    free(e->param_names);
    vkdl_tensor_destroy(e->rng);
    vkdl_tensor_destroy(e->step);
}

static vkdl_status entries_make(const char *op, vkdl_module *m, vkdl_optim *o, entries *e)
{
    memset(e, 0, sizeof *e);
    if (!m)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: module is NULL", op);
    if (o && o->ctx != m->ctx)
        return vkdl_fail(VKDL_ERROR_CONTEXT_MISMATCH, "%s: optimizer and module use different contexts", op);
    int np;
    VKDL_TRY(vkdl_module_collect(m, false, &e->params, &e->param_names, &np));
    int cap = np + 4;
    e->names = calloc((size_t)cap, sizeof *e->names);
    e->tensors = calloc((size_t)cap, sizeof *e->tensors);
    int64_t rs[2] = {vkdl_module_rng_state(m, NULL, true), 4}, two = 2;
    vkdl_status s = e->names && e->tensors ? VKDL_OK
                                           : vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", op);
    if (s == VKDL_OK)
        s = vkdl_tensor_create(m->ctx, VKDL_I32, 2, rs, &e->rng);
    if (s == VKDL_OK && o)
        s = vkdl_tensor_create(m->ctx, VKDL_I32, 1, &two, &e->step);
    if (s != VKDL_OK) {
        entries_free(e);
        return s;
    }
    for (int i = 0; i < np; i++) {
        e->names[e->n] = e->param_names[i];
        e->tensors[e->n++] = e->params[i]->t;
    }
    if (o) {
        e->names[e->n] = "optim.step";
        e->tensors[e->n++] = e->step;
        if (o->m) {
            e->names[e->n] = "optim.m";
            e->tensors[e->n++] = o->m;
        }
        if (o->v) {
            e->names[e->n] = "optim.v";
            e->tensors[e->n++] = o->v;
        }
    }
    /* Last, so a load can require everything before it. */
    e->names[e->n] = "vkdl.rng";
    e->tensors[e->n++] = e->rng;
    return VKDL_OK;
}

vkdl_status vkdl_checkpoint_save(const char *path, vkdl_module *m, vkdl_optim *o)
{
    entries e;
    VKDL_TRY(entries_make("checkpoint_save", m, o, &e));
    int32_t *rng = malloc(sizeof(int32_t) * (size_t)e.rng->numel);
    vkdl_status s = rng ? VKDL_OK : vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "checkpoint_save: out of host memory");
    if (s == VKDL_OK) {
        vkdl_module_rng_state(m, rng, true);
        s = vkdl_tensor_upload(e.rng, rng, VKDL_I32, sizeof(int32_t) * (size_t)e.rng->numel);
    }
    free(rng);
    if (s == VKDL_OK && o) {
        int32_t w[2] = {(int32_t)(uint32_t)(o->steps & 0xffffffffu), (int32_t)(uint32_t)((uint64_t)o->steps >> 32)};
        s = vkdl_tensor_upload(e.step, w, VKDL_I32, sizeof w);
    }
    if (s == VKDL_OK)
        s = vkdl_safetensors_save(path, e.n, e.names, e.tensors);
    entries_free(&e);
    return s;
}

vkdl_status vkdl_checkpoint_load(const char *path, vkdl_module *m, vkdl_optim *o)
{
    entries e;
    VKDL_TRY(entries_make("checkpoint_load", m, o, &e));
    /* Everything but the dropout state is required (and checked before anything is written); the
     * dropout state may be absent, as in weights exported from PyTorch. */
    vkdl_status s = vkdl_safetensors_load(path, e.n - 1, e.names, e.tensors);
    bool found = false;
    int32_t *rng = malloc(sizeof(int32_t) * (size_t)e.rng->numel);
    if (s == VKDL_OK && !rng)
        s = vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "checkpoint_load: out of host memory");
    if (s == VKDL_OK)
        s = vkdl_safetensors_load_found(path, 1, &e.names[e.n - 1], &e.tensors[e.n - 1], &found);
    if (s == VKDL_OK && found)
        s = vkdl_tensor_download(e.rng, rng, VKDL_I32, sizeof(int32_t) * (size_t)e.rng->numel);
    if (s == VKDL_OK && found)
        vkdl_module_rng_state(m, rng, false);
    free(rng);
    if (s == VKDL_OK && o) {
        int32_t w[2];
        s = vkdl_tensor_download(e.step, w, VKDL_I32, sizeof w);
        int64_t steps = (int64_t)((uint64_t)(uint32_t)w[0] | (uint64_t)(uint32_t)w[1] << 32);
        if (s == VKDL_OK && steps < 0)
            s = vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "checkpoint_load: %s has a negative optim.step", path);
        if (s == VKDL_OK)
            o->steps = steps;
    }
    entries_free(&e);
    return s;
}
