/* Plans: a model bound to input shapes on one context. Making one walks the sorted nodes once:
 * a node whose inputs are all known is computed on the host (constant folding and shape
 * arithmetic); any other becomes a device step, whose op states its outputs' shapes. Then every
 * device tensor gets an offset in one arena, shared by tensors whose lifetimes do not overlap, and
 * the steps run once to catch errors and build the pipelines. A run uploads, replays the steps,
 * and downloads. */
#include "onnx/plan.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ARENA_ALIGN 256

/* ---------------------------------------------------------------- what ops see */

vkdl_status onnx_fail(const onnx_exec *e, vkdl_status s, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vkdl_fail(s, "onnx: node '%s' (%s): %s", e->node->name, e->node->op_type, msg);
}

const char *plan_value_name(const vkdl_onnx_plan *p, int v)
{
    return v < p->m->n_values ? p->m->values[v].name : p->extra_names[v - p->m->n_values];
}

int plan_value_add(vkdl_onnx_plan *p, const char *name, onnx_host *h)
{
    int nm = p->m->n_values;
    if (p->n_values == p->cap_values) {
        int cap = 2 * p->cap_values;
        plan_value *v = realloc(p->v, (size_t)cap * sizeof *v);
        if (v)
            p->v = v;
        char **names = v ? realloc(p->extra_names, (size_t)(cap - nm) * sizeof *names) : NULL;
        if (!names) {
            onnx_host_free(h);
            return -1;
        }
        p->extra_names = names;
        p->cap_values = cap;
    }
    int i = p->n_values;
    char *copy = strdup(name);
    if (!copy) {
        onnx_host_free(h);
        return -1;
    }
    p->extra_names[i - nm] = copy;
    plan_value *v = &p->v[i];
    memset(v, 0, sizeof *v);
    v->kind = PV_HOST;
    v->alias = -1;
    v->dtype = h->dtype;
    v->ndim = h->ndim;
    memcpy(v->dims, h->dims, sizeof v->dims);
    v->host = *h;
    memset(h, 0, sizeof *h);
    p->n_values++;
    return i;
}

static plan_value *in_value(const onnx_exec *e, int i)
{
    return i >= 0 && i < e->node->n_in && e->node->in[i] >= 0 ? &e->plan->v[e->node->in[i]] : NULL;
}

static plan_value *out_value(const onnx_exec *e, int i)
{
    return i >= 0 && i < e->node->n_out && e->node->out[i] >= 0 ? &e->plan->v[e->node->out[i]] : NULL;
}

int onnx_n_in(const onnx_exec *e) { return e->node->n_in; }
int onnx_n_out(const onnx_exec *e) { return e->node->n_out; }
bool onnx_has_in(const onnx_exec *e, int i) { return in_value(e, i) != NULL; }
bool onnx_has_out(const onnx_exec *e, int i) { return out_value(e, i) != NULL; }

vkdl_dtype onnx_in_dtype(const onnx_exec *e, int i)
{
    const plan_value *v = in_value(e, i);
    return v ? v->dtype : VKDL_F32;
}

int onnx_in_ndim(const onnx_exec *e, int i)
{
    const plan_value *v = in_value(e, i);
    return v ? v->ndim : 0;
}

const int64_t *onnx_in_dims(const onnx_exec *e, int i)
{
    static const int64_t none[VKDL_MAX_DIMS];
    const plan_value *v = in_value(e, i);
    return v ? v->dims : none;
}

const onnx_host *onnx_in_host(const onnx_exec *e, int i)
{
    const plan_value *v = in_value(e, i);
    return v && v->kind == PV_HOST ? &v->host : NULL;
}

vkdl_status onnx_need_host(const onnx_exec *e, int i, const char *what, const onnx_host **out)
{
    *out = onnx_in_host(e, i);
    if (*out)
        return VKDL_OK;
    if (!onnx_has_in(e, i))
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "input %d (%s) is missing", i, what);
    return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "input '%s' (%s) must be known when the plan is made: it is "
                     "computed on the device (give the graph input it depends on a value in vkdl_onnx_plan_info)",
                     plan_value_name(e->plan, e->node->in[i]), what);
}

bool onnx_device_dtype(vkdl_dtype d, vkdl_dtype *out)
{
    switch (d) {
    case VKDL_F32: case VKDL_F16: case VKDL_BF16: *out = VKDL_F32; return true;
    case VKDL_I32: case VKDL_I64: *out = VKDL_I32; return true;
    case VKDL_U8: case VKDL_BOOL: *out = VKDL_U8; return true;
    default: return false;
    }
}

/* A host value's device copy, made once (its bytes count as constants). */
static vkdl_status upload_const(onnx_exec *e, plan_value *v, const char *name)
{
    vkdl_dtype dd;
    if (!onnx_device_dtype(v->dtype, &dd))
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "'%s' is %s, which has no device dtype", name,
                         vkdl_dtype_name(v->dtype));
    VKDL_TRY(vkdl_tensor_create(e->ctx, dd, v->ndim, v->dims, &v->dev));
    vkdl_status s = vkdl_tensor_upload(v->dev, v->host.data, v->dtype,
                                       (size_t)v->host.numel * vkdl_dtype_size(v->dtype));
    if (s != VKDL_OK) {
        vkdl_tensor_destroy(v->dev);
        v->dev = NULL;
        return onnx_fail(e, s, "uploading '%s': %s", name, vkdl_last_error());
    }
    e->plan->stats.constant_bytes += (size_t)v->host.numel * vkdl_dtype_size(dd);
    return VKDL_OK;
}

vkdl_status onnx_in(onnx_exec *e, int i, vkdl_tensor **out)
{
    *out = NULL;
    plan_value *v = in_value(e, i);
    if (!v)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "input %d is missing", i);
    if (v->kind == PV_HOST && !v->dev)
        VKDL_TRY(upload_const(e, v, plan_value_name(e->plan, e->node->in[i])));
    *out = v->dev;
    return VKDL_OK;
}

vkdl_tensor *onnx_out(onnx_exec *e, int i)
{
    plan_value *v = out_value(e, i);
    return v ? v->dev : NULL;
}

static vkdl_status set_shape(onnx_exec *e, plan_value *v, int ndim, const int64_t *dims)
{
    if (ndim < 0 || ndim > VKDL_MAX_DIMS)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "an output of rank %d (at most %d)", ndim, VKDL_MAX_DIMS);
    int64_t numel;
    if (vkdl_numel_checked("onnx", ndim, dims, &numel) != VKDL_OK)
        return onnx_fail(e, VKDL_ERROR_SIZE_OVERFLOW, "output shape: %s", vkdl_last_error());
    v->ndim = ndim;
    for (int d = 0; d < ndim; d++)
        v->dims[d] = dims[d];
    return VKDL_OK;
}

vkdl_status onnx_out_set(onnx_exec *e, int i, vkdl_dtype dtype, int ndim, const int64_t *dims)
{
    plan_value *v = out_value(e, i);
    if (e->run || !v)
        return VKDL_OK;
    vkdl_dtype dd;
    if (!onnx_device_dtype(dtype, &dd))
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "output %d would be %s on the device, which has no such dtype",
                         i, vkdl_dtype_name(dtype));
    v->kind = PV_DEVICE;
    v->dtype = dtype;
    v->alias = -1;
    return set_shape(e, v, ndim, dims);
}

vkdl_status onnx_out_view(onnx_exec *e, int i, int in, int ndim, const int64_t *dims)
{
    return onnx_out_view_as(e, i, in, onnx_in_dtype(e, in), ndim, dims);
}

vkdl_status onnx_out_view_as(onnx_exec *e, int i, int in, vkdl_dtype dtype, int ndim, const int64_t *dims)
{
    plan_value *v = out_value(e, i), *src = in_value(e, in);
    if (e->run || !v)
        return VKDL_OK;
    if (!src)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "input %d is missing", in);
    VKDL_TRY(set_shape(e, v, ndim, dims));
    int64_t a, b;
    vkdl_numel_checked("onnx", ndim, dims, &a);
    vkdl_numel_checked("onnx", src->ndim, src->dims, &b);
    if (a != b)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "a view of %lld elements of an input of %lld", (long long)a,
                         (long long)b);
    v->kind = PV_DEVICE;
    v->dtype = dtype;
    if (src->kind == PV_HOST) {
        /* A view of a constant is a constant: make the device copy now and view that. */
        VKDL_TRY(upload_const(e, src, plan_value_name(e->plan, e->node->in[in])));
        v->alias = -2 - e->node->in[in];
    } else {
        v->alias = src->alias != -1 ? src->alias : e->node->in[in];   /* always the owner of the bytes */
    }
    return VKDL_OK;
}

vkdl_status onnx_temp(onnx_exec *e, vkdl_dtype dtype, int ndim, const int64_t *dims, vkdl_tensor **out)
{
    vkdl_onnx_plan *p = e->plan;
    *out = NULL;
    if (e->run) {
        int k = p->step_temp0[e->step] + e->temp++;
        if (k >= p->n_temps || p->temps[k].step != e->step)
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "internal: scratch tensors differ between planning "
                             "and running");
        *out = p->temps[k].t;
        return VKDL_OK;
    }
    if (p->n_temps == p->cap_temps) {
        int cap = p->cap_temps ? 2 * p->cap_temps : 16;
        plan_temp *t = realloc(p->temps, (size_t)cap * sizeof *t);
        if (!t)
            return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "onnx: out of host memory");
        p->temps = t;
        p->cap_temps = cap;
    }
    plan_temp *t = &p->temps[p->n_temps];
    memset(t, 0, sizeof *t);
    t->step = e->step;
    t->dtype = dtype;
    int64_t numel;
    if (ndim < 0 || ndim > VKDL_MAX_DIMS || vkdl_numel_checked("onnx", ndim, dims, &numel) != VKDL_OK)
        return onnx_fail(e, VKDL_ERROR_SIZE_OVERFLOW, "scratch tensor shape out of range");
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++)
        t->dims[d] = dims[d];
    t->bytes = (size_t)numel * vkdl_dtype_size(dtype);
    p->n_temps++;
    return VKDL_OK;
}

vkdl_status onnx_const(onnx_exec *e, vkdl_dtype dtype, int ndim, const int64_t *dims, const void *data,
                       vkdl_dtype data_dtype, vkdl_tensor **out)
{
    vkdl_onnx_plan *p = e->plan;
    *out = NULL;
    if (e->run) {
        int k = p->step_temp0[e->step] + e->temp++;
        if (k >= p->n_temps || p->temps[k].step != e->step || !p->temps[k].constant)
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "internal: constants differ between planning and running");
        *out = p->temps[k].t;
        return VKDL_OK;
    }
    int64_t none[1] = {0};
    vkdl_tensor *unused;
    VKDL_TRY(onnx_temp(e, VKDL_U8, 1, none, &unused));
    plan_temp *t = &p->temps[p->n_temps - 1];
    t->constant = true;
    VKDL_TRY(vkdl_tensor_create(e->ctx, dtype, ndim, dims, &t->t));
    size_t bytes = (size_t)vkdl_tensor_numel(t->t) * vkdl_dtype_size(data_dtype);
    if (bytes) {
        vkdl_status s = vkdl_tensor_upload(t->t, data, data_dtype, bytes);
        if (s != VKDL_OK)
            return onnx_fail(e, s, "a constant table: %s", vkdl_last_error());
    }
    p->stats.constant_bytes += (size_t)vkdl_tensor_numel(t->t) * vkdl_dtype_size(dtype);
    *out = t->t;
    return VKDL_OK;
}

vkdl_status onnx_reshape(onnx_exec *e, vkdl_tensor *t, int ndim, const int64_t *dims, vkdl_tensor **out)
{
    vkdl_onnx_plan *p = e->plan;
    *out = NULL;
    if (!e->run) {
        int64_t none[1] = {0};
        VKDL_TRY(onnx_temp(e, VKDL_U8, 1, none, out));
        p->temps[p->n_temps - 1].view = true;
        return VKDL_OK;
    }
    int k = p->step_temp0[e->step] + e->temp++;
    if (k >= p->n_temps || p->temps[k].step != e->step || !p->temps[k].view)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "internal: views differ between planning and running");
    plan_temp *v = &p->temps[k];
    if (!v->t)
        VKDL_TRY(vkdl_tensor_reshape(t, ndim, dims, &v->t));
    *out = v->t;
    return VKDL_OK;
}

vkdl_status onnx_out_host(onnx_exec *e, int i, vkdl_dtype dtype, int ndim, const int64_t *dims, onnx_host **out)
{
    plan_value *v = out_value(e, i);
    *out = NULL;
    if (!v) {
        static onnx_host sink;                           /* an omitted output: computed, then dropped */
        onnx_host_free(&sink);
        VKDL_TRY(onnx_host_alloc(&sink, dtype, ndim, dims));
        *out = &sink;
        return VKDL_OK;
    }
    onnx_host_free(&v->host);
    vkdl_status s = onnx_host_alloc(&v->host, dtype, ndim, dims);
    if (s != VKDL_OK)
        return onnx_fail(e, s, "%s", vkdl_last_error());
    v->kind = PV_HOST;
    v->dtype = dtype;
    v->ndim = ndim;
    memcpy(v->dims, v->host.dims, sizeof v->dims);
    *out = &v->host;
    return VKDL_OK;
}

const onnx_attr *onnx_attr_get(const onnx_exec *e, const char *name)
{
    for (int i = 0; i < e->node->n_attrs; i++)
        if (!strcmp(e->node->attrs[i].name, name))
            return &e->node->attrs[i];
    return NULL;
}

int64_t onnx_attr_int(const onnx_exec *e, const char *name, int64_t def)
{
    const onnx_attr *a = onnx_attr_get(e, name);
    return a && a->type == ONNX_ATTR_INT ? a->i : a && a->type == ONNX_ATTR_FLOAT ? (int64_t)a->f : def;
}

float onnx_attr_float(const onnx_exec *e, const char *name, float def)
{
    const onnx_attr *a = onnx_attr_get(e, name);
    return a && a->type == ONNX_ATTR_FLOAT ? a->f : a && a->type == ONNX_ATTR_INT ? (float)a->i : def;
}

const char *onnx_attr_str(const onnx_exec *e, const char *name, const char *def)
{
    const onnx_attr *a = onnx_attr_get(e, name);
    return a && a->type == ONNX_ATTR_STRING ? a->s : def;
}

int onnx_attr_ints(const onnx_exec *e, const char *name, const int64_t **v)
{
    const onnx_attr *a = onnx_attr_get(e, name);
    if (!a || a->type != ONNX_ATTR_INTS) {
        *v = NULL;
        return -1;
    }
    *v = a->ints;
    return a->n;
}

vkdl_status onnx_int_list(onnx_exec *e, int i, const char *what, int max, int *n, int64_t *v)
{
    const onnx_host *h;
    VKDL_TRY(onnx_need_host(e, i, what, &h));
    if (h->ndim > 1 || onnx_dtype_is_float(h->dtype))
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "%s must be a 1-D integer tensor, not %s of rank %d", what,
                         vkdl_dtype_name(h->dtype), h->ndim);
    if (h->numel > max)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "%s has %lld entries (at most %d)", what, (long long)h->numel,
                         max);
    *n = (int)h->numel;
    for (int k = 0; k < *n; k++)
        v[k] = onnx_get_i(h, k);
    return VKDL_OK;
}

vkdl_status onnx_axis(const onnx_exec *e, int64_t axis, int ndim, int *out)
{
    int64_t a = axis < 0 ? axis + ndim : axis;
    if (a < 0 || a >= (ndim ? ndim : 1))
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "axis %lld out of range for rank %d", (long long)axis, ndim);
    *out = (int)a;
    return VKDL_OK;
}

vkdl_status onnx_broadcast(const onnx_exec *e, int na, const int64_t *a, int nb, const int64_t *b, int *nout,
                           int64_t *out)
{
    int n = na > nb ? na : nb;
    for (int d = 0; d < n; d++) {
        int64_t x = d - (n - na) >= 0 ? a[d - (n - na)] : 1, y = d - (n - nb) >= 0 ? b[d - (n - nb)] : 1;
        if (x != y && x != 1 && y != 1) {
            char sa[VKDL_SHAPE_BUF], sb[VKDL_SHAPE_BUF];
            return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "shapes %s and %s do not broadcast",
                             onnx_dims_str(na, a, sa, sizeof sa), onnx_dims_str(nb, b, sb, sizeof sb));
        }
        out[d] = x == 1 ? y : x;
    }
    *nout = n;
    return VKDL_OK;
}

/* ---------------------------------------------------------------- the op registry */

const onnx_op *onnx_op_find(const char *type)
{
    static const struct { const onnx_op *ops; const int *count; } families[] = {
        {onnx_ops_elementwise, &onnx_ops_elementwise_count},
        {onnx_ops_shape, &onnx_ops_shape_count},
        {onnx_ops_nn, &onnx_ops_nn_count},
        {onnx_ops_reduce, &onnx_ops_reduce_count},
        {onnx_ops_resize, &onnx_ops_resize_count},
        {onnx_ops_index, &onnx_ops_index_count},
    };
    for (size_t f = 0; f < VKDL_ARRAY_LEN(families); f++)
        for (int i = 0; i < *families[f].count; i++)
            if (!strcmp(families[f].ops[i].type, type))
                return &families[f].ops[i];
    return NULL;
}

/* ---------------------------------------------------------------- making a plan */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static vkdl_status bind_inputs(vkdl_onnx_plan *p, const vkdl_onnx_plan_info *info)
{
    const vkdl_onnx_model *m = p->m;
    int n = info ? info->n_inputs : 0;
    if (n < 0 || (n > 0 && !info->inputs))
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "onnx_plan_create: n_inputs %d with inputs %p", n,
                         info ? (const void *)info->inputs : NULL);
    for (int k = 0; k < n; k++) {
        const vkdl_host_tensor *t = &info->inputs[k];
        int found = -1;
        for (int i = 0; i < m->n_inputs && found < 0; i++)
            if (t->name && !strcmp(m->values[m->inputs[i]].name, t->name))
                found = i;
        if (found < 0)
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "onnx_plan_create: the model has no input '%s'",
                             t->name ? t->name : "(NULL)");
        int vi = m->inputs[found];
        const onnx_value *mv = &m->values[vi];
        plan_value *v = &p->v[vi];
        if (v->ndim >= 0 && v->kind != PV_NONE)
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "onnx_plan_create: input '%s' is given twice", t->name);
        if (t->ndim != mv->ndim)
            return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "onnx_plan_create: input '%s' has rank %d, the model says %d",
                             t->name, t->ndim, mv->ndim);
        for (int d = 0; d < t->ndim; d++)
            if (t->shape[d] < 0 || (mv->dims[d] >= 0 && mv->dims[d] != t->shape[d]))
                return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "onnx_plan_create: input '%s' dim %d is %lld, the model "
                                 "says %lld", t->name, d, (long long)t->shape[d], (long long)mv->dims[d]);
        v->ndim = t->ndim;
        memcpy(v->dims, t->shape, sizeof v->dims);
        v->kind = PV_DEVICE;
        if (t->data) {
            onnx_host given = {.dtype = t->dtype, .ndim = t->ndim, .data = (void *)t->data};
            memcpy(given.dims, t->shape, sizeof given.dims);
            VKDL_TRY(vkdl_numel_checked("onnx_plan_create", t->ndim, t->shape, &given.numel));
            if (!vkdl_dtype_size(t->dtype) || t->bytes != (size_t)given.numel * vkdl_dtype_size(t->dtype))
                return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "onnx_plan_create: input '%s' has %zu bytes, %lld "
                                 "elements of %s need %zu", t->name, t->bytes, (long long)given.numel,
                                 vkdl_dtype_name(t->dtype), (size_t)given.numel * vkdl_dtype_size(t->dtype));
            VKDL_TRY(onnx_host_alloc(&v->host, mv->dtype, t->ndim, t->shape));
            for (int64_t i = 0; i < given.numel; i++) {
                if (onnx_dtype_is_float(mv->dtype) || onnx_dtype_is_float(t->dtype))
                    onnx_set_f(&v->host, i, onnx_get_f(&given, i));
                else
                    onnx_set_i(&v->host, i, onnx_get_i(&given, i));
            }
            v->kind = PV_HOST;
            v->fixed = true;
        }
    }
    for (int i = 0; i < m->n_inputs; i++) {
        int vi = m->inputs[i];
        const onnx_value *mv = &m->values[vi];
        plan_value *v = &p->v[vi];
        v->dtype = mv->dtype;
        v->input = true;
        v->def = -1;
        if (v->kind == PV_NONE) {
            v->kind = PV_DEVICE;
            v->ndim = mv->ndim;
            memcpy(v->dims, mv->dims, sizeof v->dims);
            for (int d = 0; d < v->ndim; d++)
                if (v->dims[d] < 0)
                    return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "onnx_plan_create: input '%s' dim %d%s%s%s is "
                                     "symbolic: give its shape in vkdl_onnx_plan_info", mv->name, d,
                                     mv->dim_names[d] ? " ('" : "", mv->dim_names[d] ? mv->dim_names[d] : "",
                                     mv->dim_names[d] ? "')" : "");
        }
        vkdl_dtype dd;
        if (v->kind == PV_DEVICE && !onnx_device_dtype(v->dtype, &dd))
            return vkdl_fail(VKDL_ERROR_UNSUPPORTED, "onnx_plan_create: input '%s' is %s, which is computed on the "
                             "host only: give its values in vkdl_onnx_plan_info", mv->name,
                             vkdl_dtype_name(v->dtype));
        v->alias = -1;
    }
    return VKDL_OK;
}

/* Walk the nodes: fold on the host, or fuse, or plan a device step. */
static vkdl_status plan_nodes(vkdl_onnx_plan *p)
{
    vkdl_onnx_model *m = p->m;
    for (int n = 0; n < m->n_nodes; n++) {
        if (p->fused[n])
            continue;
        const onnx_node *node = &m->nodes[n];
        onnx_exec e = {.plan = p, .ctx = p->ctx, .node = node, .opset = m->opset, .step = p->n_steps};
        bool all_host = true;
        for (int i = 0; i < node->n_in; i++)
            if (node->in[i] >= 0 && p->v[node->in[i]].kind != PV_HOST)
                all_host = false;
        if (all_host && node->op->host) {
            VKDL_TRY(node->op->host(&e));
            p->stats.host_nodes++;
            continue;
        }
        const onnx_node *fused = NULL;
        VKDL_TRY(plan_fuse(p, n, &fused));
        if (fused)
            e.node = node = fused;
        if (!node->op->device) {
            for (int i = 0; i < node->n_in; i++)
                if (node->in[i] >= 0 && p->v[node->in[i]].kind != PV_HOST)
                    return onnx_fail(&e, VKDL_ERROR_UNSUPPORTED, "input '%s' (%d) must be known when the plan is "
                                     "made: the op runs on the host only", plan_value_name(p, node->in[i]), i);
            return onnx_fail(&e, VKDL_ERROR_UNSUPPORTED, "has no implementation");
        }
        p->step_temp0[p->n_steps] = p->n_temps;
        VKDL_TRY(node->op->device(&e));
        bool device = false;
        for (int k = 0; k < node->n_out; k++) {
            if (node->out[k] < 0)
                continue;
            if (p->v[node->out[k]].kind == PV_NONE)
                return onnx_fail(&e, VKDL_ERROR_INVALID_ARGUMENT, "internal: output %d was not planned", k);
            device |= p->v[node->out[k]].kind == PV_DEVICE;
        }
        if (!device) {                                   /* e.g. Shape: known from the shapes alone */
            p->stats.host_nodes++;
            continue;
        }
        p->steps[p->n_steps++] = node;
    }
    return VKDL_OK;
}

/* The value whose bytes v uses. */
static int root_of(const vkdl_onnx_plan *p, int v) { return p->v[v].alias >= 0 ? p->v[v].alias : v; }

/* Lifetimes in steps, then offsets: largest first, each at the lowest offset that no overlapping
 * lifetime already holds. */
static vkdl_status plan_memory(vkdl_onnx_plan *p)
{
    int nv = p->n_values;
    for (int v = 0; v < nv; v++) {
        plan_value *pv = &p->v[v];
        if (pv->kind != PV_DEVICE)
            continue;
        vkdl_dtype dd = VKDL_F32;
        onnx_device_dtype(pv->dtype, &dd);
        int64_t numel;
        vkdl_numel_checked("onnx", pv->ndim, pv->dims, &numel);
        pv->bytes = (size_t)numel * vkdl_dtype_size(dd);
        if (!pv->input)
            pv->def = INT_MAX;
        pv->last = -1;
    }
    for (int s = 0; s < p->n_steps; s++) {
        const onnx_node *node = p->steps[s];
        for (int k = 0; k < node->n_out; k++)
            if (node->out[k] >= 0 && p->v[node->out[k]].kind == PV_DEVICE && p->v[node->out[k]].alias < 0) {
                plan_value *r = &p->v[node->out[k]];
                r->def = r->def < s ? r->def : s;
                r->last = r->last > s ? r->last : s;
            }
        for (int k = 0; k < node->n_in + node->n_out; k++) {
            int v = k < node->n_in ? node->in[k] : node->out[k - node->n_in];
            if (v < 0 || p->v[v].kind != PV_DEVICE || p->v[v].alias < -1)
                continue;
            plan_value *r = &p->v[root_of(p, v)];
            r->last = r->last > s ? r->last : s;
        }
    }
    for (int i = 0; i < p->n_outputs; i++) {
        int v = p->outputs[i];
        if (p->v[v].kind == PV_DEVICE && p->v[v].alias >= -1)
            p->v[root_of(p, v)].last = INT_MAX;
    }
    /* Everything placed in the arena: device values that own their bytes, and scratch tensors. */
    int n_items = 0;
    for (int v = 0; v < nv; v++)
        if (p->v[v].kind == PV_DEVICE && p->v[v].alias == -1)
            n_items++;
    for (int t = 0; t < p->n_temps; t++)
        n_items += !p->temps[t].view && !p->temps[t].constant;
    struct item { size_t bytes, *offset; int def, last; } *items = calloc((size_t)n_items + 1, sizeof *items);
    if (!items)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "onnx: out of host memory");
    int k = 0;
    for (int v = 0; v < nv; v++) {
        plan_value *pv = &p->v[v];
        if (pv->kind != PV_DEVICE || pv->alias != -1)
            continue;
        if (pv->last < pv->def)
            pv->last = pv->def;                          /* written, never read: lives one step */
        items[k++] = (struct item){pv->bytes, &pv->offset, pv->def, pv->last};
    }
    for (int t = 0; t < p->n_temps; t++)
        if (!p->temps[t].view && !p->temps[t].constant)
            items[k++] = (struct item){p->temps[t].bytes, &p->temps[t].offset, p->temps[t].step, p->temps[t].step};
    /* Insertion sort by size, descending (stable, so equal sizes keep graph order). */
    for (int i = 1; i < n_items; i++) {
        struct item x = items[i];
        int j = i - 1;
        for (; j >= 0 && items[j].bytes < x.bytes; j--)
            items[j + 1] = items[j];
        items[j + 1] = x;
    }
    size_t top = 0, unshared = 0;
    for (int i = 0; i < n_items; i++) {
        size_t need = (items[i].bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN, off = 0;
        unshared += need;
        for (bool moved = true; moved;) {
            moved = false;
            for (int j = 0; j < i; j++) {
                if (items[j].last < items[i].def || items[i].last < items[j].def)
                    continue;                            /* lifetimes apart */
                size_t jo = *items[j].offset, jn = (items[j].bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
                if (off < jo + jn && jo < off + need) {
                    off = jo + jn;
                    moved = true;
                }
            }
        }
        *items[i].offset = off;
        if (off + need > top)
            top = off + need;
    }
    free(items);
    p->stats.arena_bytes = top;
    p->stats.unshared_bytes = unshared;
    return VKDL_OK;
}

static vkdl_status make_tensors(vkdl_onnx_plan *p)
{
    if (p->stats.arena_bytes)
        VKDL_TRY(vkdl_storage_create(p->ctx, p->stats.arena_bytes, &p->arena));
    for (int pass = 0; pass < 2; pass++)                 /* owners first, then views of them */
        for (int v = 0; v < p->n_values; v++) {
            plan_value *pv = &p->v[v];
            if (pv->kind != PV_DEVICE || (pass == 0) != (pv->alias == -1))
                continue;
            vkdl_dtype dd = VKDL_F32;
            onnx_device_dtype(pv->dtype, &dd);
            if (pv->alias < -1) {
                const plan_value *src = &p->v[-2 - pv->alias];
                VKDL_TRY(vkdl_tensor_create_on(p->ctx, dd, pv->ndim, pv->dims, src->dev->st, src->dev->offset,
                                               &pv->dev));
            } else if (pv->alias >= 0) {
                VKDL_TRY(vkdl_tensor_create_on(p->ctx, dd, pv->ndim, pv->dims, p->arena, p->v[pv->alias].offset,
                                               &pv->dev));
            } else {
                VKDL_TRY(vkdl_tensor_create_on(p->ctx, dd, pv->ndim, pv->dims, p->arena, pv->offset, &pv->dev));
            }
        }
    for (int t = 0; t < p->n_temps; t++)
        if (!p->temps[t].view && !p->temps[t].constant)
            VKDL_TRY(vkdl_tensor_create_on(p->ctx, p->temps[t].dtype, p->temps[t].ndim, p->temps[t].dims, p->arena,
                                       p->temps[t].offset, &p->temps[t].t));
    return VKDL_OK;
}

static vkdl_status run_steps(vkdl_onnx_plan *p)
{
    vkdl_onnx_model *m = p->m;
    for (int s = 0; s < p->n_steps; s++) {
        const onnx_node *node = p->steps[s];
        bool empty = true;
        for (int k = 0; k < node->n_out; k++)
            if (node->out[k] >= 0 && vkdl_tensor_numel(p->v[node->out[k]].dev) > 0)
                empty = false;
        if (empty)
            continue;                                    /* nothing to compute into */
        onnx_exec e = {.plan = p, .ctx = p->ctx, .node = node, .opset = m->opset, .run = true, .step = s};
        vkdl_status st = node->op->device(&e);
        if (st != VKDL_OK) {
            if (!strstr(vkdl_last_error(), "onnx: node"))
                return onnx_fail(&e, st, "%s", vkdl_last_error());
            return st;
        }
    }
    return VKDL_OK;
}

static vkdl_status alloc_outputs(vkdl_onnx_plan *p)
{
    p->outs = calloc((size_t)p->n_outputs + 1, sizeof *p->outs);
    if (!p->outs)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "onnx: out of host memory");
    for (int i = 0; i < p->n_outputs; i++) {
        const plan_value *v = &p->v[p->outputs[i]];
        if (v->kind == PV_HOST)
            VKDL_TRY(onnx_host_copy(&p->outs[i], &v->host));
        else
            VKDL_TRY(onnx_host_alloc(&p->outs[i], v->dtype, v->ndim, v->dims));
    }
    return VKDL_OK;
}

/* The values a run returns (the graph's outputs, or the names info asks for: an intermediate
 * value such as a backbone's features), and the nodes they need: any other node is marked done,
 * so it is neither computed nor planned. */
static vkdl_status choose_outputs(vkdl_onnx_plan *p, const vkdl_onnx_plan_info *info)
{
    vkdl_onnx_model *m = p->m;
    int n = info && info->n_outputs > 0 ? info->n_outputs : m->n_outputs;
    if (info && (info->n_outputs < 0 || (info->n_outputs > 0 && !info->outputs)))
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "onnx_plan_create: n_outputs %d with outputs %p",
                         info->n_outputs, (const void *)info->outputs);
    if (!(p->outputs = calloc((size_t)n + 1, sizeof *p->outputs)))
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "onnx: out of host memory");
    p->n_outputs = n;
    for (int i = 0; i < n; i++) {
        if (!info || info->n_outputs == 0) {
            p->outputs[i] = m->outputs[i];
            continue;
        }
        const char *name = info->outputs[i];
        int found = -1;
        for (int v = 0; v < m->n_values && found < 0 && name; v++)
            if (!strcmp(m->values[v].name, name))
                found = v;
        if (found < 0)
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "onnx_plan_create: the model has no value '%s' to "
                             "return", name ? name : "(NULL)");
        p->outputs[i] = found;
    }
    /* Nodes in topological order: walking back from the outputs marks what is needed. */
    bool *needed_value = calloc((size_t)m->n_values + 1, sizeof *needed_value);
    if (!needed_value)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "onnx: out of host memory");
    for (int i = 0; i < n; i++)
        needed_value[p->outputs[i]] = true;
    for (int k = m->n_nodes - 1; k >= 0; k--) {
        const onnx_node *node = &m->nodes[k];
        bool needed = false;
        for (int o = 0; o < node->n_out; o++)
            needed |= node->out[o] >= 0 && needed_value[node->out[o]];
        p->fused[k] = !needed;
        p->stats.unused_nodes += !needed;
        for (int i = 0; needed && i < node->n_in; i++)
            if (node->in[i] >= 0)
                needed_value[node->in[i]] = true;
    }
    free(needed_value);
    return VKDL_OK;
}

void vkdl_onnx_plan_destroy(vkdl_onnx_plan *p)
{
    if (!p)
        return;
    vkdl_recording_destroy(p->ctx, p->rec);
    if (p->v)
        for (int v = 0; v < p->n_values; v++) {
            vkdl_tensor_destroy(p->v[v].dev);
            if (!p->v[v].borrowed)
                onnx_host_free(&p->v[v].host);
        }
    for (int v = p->m->n_values; v < p->n_values; v++)
        free(p->extra_names[v - p->m->n_values]);
    for (int i = 0; i < p->n_synth; i++) {
        free(p->synth[i].in);
        free(p->synth[i].out);
        free(p->synth[i].name);
        free(p->synth[i].attrs);
    }
    free(p->synth);
    free(p->extra_names);
    free(p->uses);
    free(p->fused);
    free(p->outputs);
    for (int t = 0; t < p->n_temps; t++)
        vkdl_tensor_destroy(p->temps[t].t);
    if (p->arena)
        vkdl_storage_release(p->arena);
    if (p->outs)
        for (int i = 0; i < p->n_outputs; i++)
            onnx_host_free(&p->outs[i]);
    free(p->outs);
    free(p->temps);
    free(p->steps);
    free(p->step_temp0);
    free(p->v);
    onnx_model_release(p->m);
    free(p);
}

vkdl_status vkdl_onnx_plan_create(vkdl_context *ctx, const vkdl_onnx_model *model, const vkdl_onnx_plan_info *info,
                                  vkdl_onnx_plan **out)
{
    if (!out)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "onnx_plan_create: out is NULL");
    *out = NULL;
    if (!ctx || !model)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "onnx_plan_create: context or model is NULL");
    if (info)
        VKDL_TRY(vkdl_check_next("onnx_plan_create", info->next));
    double t0 = now_ms();
    vkdl_onnx_model *m = (vkdl_onnx_model *)model;
    vkdl_onnx_plan *p = calloc(1, sizeof *p);
    if (!p)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "onnx: out of host memory");
    p->ctx = ctx;
    p->m = m;
    m->refs++;
    p->n_values = m->n_values;
    p->cap_values = m->n_values + 16;
    p->v = calloc((size_t)p->cap_values, sizeof *p->v);
    p->extra_names = calloc(16, sizeof *p->extra_names);
    p->steps = calloc((size_t)m->n_nodes + 1, sizeof *p->steps);
    p->step_temp0 = calloc((size_t)m->n_nodes + 1, sizeof *p->step_temp0);
    p->uses = calloc((size_t)m->n_values + 1, sizeof *p->uses);
    p->fused = calloc((size_t)m->n_nodes + 1, sizeof *p->fused);
    p->synth = calloc((size_t)m->n_nodes + 1, sizeof *p->synth);
    vkdl_status s = VKDL_OK;
    if (!p->v || !p->extra_names || !p->steps || !p->step_temp0 || !p->uses || !p->fused || !p->synth)
        s = vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "onnx: out of host memory");
    for (int v = 0; s == VKDL_OK && v < m->n_values; v++) {
        plan_value *pv = &p->v[v];
        pv->alias = -1;
        pv->ndim = -1;
        if (m->values[v].init) {                         /* the model's bytes, not a copy */
            pv->kind = PV_HOST;
            pv->borrowed = true;
            pv->dtype = m->values[v].dtype;
            pv->ndim = m->values[v].init->ndim;
            memcpy(pv->dims, m->values[v].init->dims, sizeof pv->dims);
            pv->host = *m->values[v].init;
        }
    }
    if (s == VKDL_OK)
        s = choose_outputs(p, info);
    for (int n = 0; s == VKDL_OK && n < m->n_nodes; n++)
        for (int i = 0; i < m->nodes[n].n_in && !p->fused[n]; i++)
            if (m->nodes[n].in[i] >= 0)
                p->uses[m->nodes[n].in[i]]++;
    for (int i = 0; s == VKDL_OK && i < p->n_outputs; i++)
        p->uses[p->outputs[i]]++;
    p->stats.nodes = m->n_nodes;
    if (s == VKDL_OK)
        s = bind_inputs(p, info);
    if (s == VKDL_OK)
        s = plan_nodes(p);
    for (int i = 0; s == VKDL_OK && i < p->n_outputs; i++)
        if (p->v[p->outputs[i]].kind == PV_NONE)
            s = vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx_plan_create: output '%s' is never computed",
                          m->values[p->outputs[i]].name);
    if (s == VKDL_OK)
        s = plan_memory(p);
    if (s == VKDL_OK)
        s = make_tensors(p);
    if (s == VKDL_OK)
        s = alloc_outputs(p);
    /* A first run on zeros: every op's checks and pipelines now, not in the first real run. */
    if (s == VKDL_OK && p->arena) {
        vkdl_tensor *all;
        int64_t n = (int64_t)p->stats.arena_bytes;
        s = vkdl_tensor_create_on(ctx, VKDL_U8, 1, &n, p->arena, 0, &all);
        if (s == VKDL_OK) {
            s = vkdl_tensor_fill(all, 0);
            vkdl_tensor_destroy(all);
        }
    }
    if (s == VKDL_OK)
        s = run_steps(p);
    if (s == VKDL_OK)
        s = vkdl_sync(ctx);
    /* Then record the steps once; a plan whose steps cannot be recorded (or a profiled context,
     * which times each kernel) issues them on every run instead. */
    if (s == VKDL_OK && vkdl_context_backend(ctx) == VKDL_BACKEND_VULKAN && !(ctx->flags & VKDL_CONTEXT_PROFILE) &&
        p->n_steps > 0) {
        s = vkdl_sched_capture_begin(ctx);
        vkdl_status r = s == VKDL_OK ? run_steps(p) : s;
        if (s == VKDL_OK)
            s = vkdl_sched_capture_end(ctx, &p->rec);
        if (s == VKDL_ERROR_UNSUPPORTED || (s == VKDL_OK && r != VKDL_OK)) {
            vkdl_recording_destroy(ctx, p->rec);
            p->rec = NULL;
            s = VKDL_OK;
        }
    }
    if (s != VKDL_OK) {
        vkdl_onnx_plan_destroy(p);
        return s;
    }
    p->stats.device_steps = p->n_steps;
    for (int n = 0; n < m->n_nodes; n++)
        p->stats.fused_nodes += p->fused[n];
    p->stats.fused_nodes -= p->stats.unused_nodes;
    p->stats.recorded = p->rec != NULL;
    p->stats.compile_ms = now_ms() - t0;
    *out = p;
    return VKDL_OK;
}

/* ---------------------------------------------------------------- running */

vkdl_status vkdl_onnx_run(vkdl_onnx_plan *p, int n, const vkdl_host_tensor *inputs)
{
    if (!p || (n > 0 && !inputs) || n < 0)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "onnx_run: plan is NULL or inputs missing");
    vkdl_onnx_model *m = p->m;
    for (int i = 0; i < m->n_inputs; i++) {
        int vi = m->inputs[i];
        const plan_value *v = &p->v[vi];
        const char *name = m->values[vi].name;
        const vkdl_host_tensor *t = NULL;
        for (int k = 0; k < n && !t; k++)
            if (inputs[k].name && !strcmp(inputs[k].name, name))
                t = &inputs[k];
        if (!t) {
            if (v->fixed)
                continue;
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "onnx_run: input '%s' is not given", name);
        }
        char sa[VKDL_SHAPE_BUF], sb[VKDL_SHAPE_BUF];
        bool same = t->ndim == v->ndim;
        for (int d = 0; same && d < v->ndim; d++)
            same = t->shape[d] == v->dims[d];
        if (!same)
            return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "onnx_run: input '%s' is %s, the plan was made for %s", name,
                             onnx_dims_str(t->ndim, t->shape, sa, sizeof sa), onnx_dims_str(v->ndim, v->dims, sb, sizeof sb));
        size_t es = vkdl_dtype_size(t->dtype);
        int64_t numel;
        VKDL_TRY(vkdl_numel_checked("onnx_run", t->ndim, t->shape, &numel));
        if (!es || !t->data || t->bytes != (size_t)numel * es)
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "onnx_run: input '%s' has %zu bytes of %s at %p; %lld "
                             "elements need %zu", name, t->bytes, vkdl_dtype_name(t->dtype), t->data,
                             (long long)numel, (size_t)numel * (es ? es : 1));
        if (v->fixed) {
            bool equal = t->dtype == v->dtype && !memcmp(t->data, v->host.data, t->bytes);
            if (!equal)
                return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "onnx_run: input '%s' was fixed when the plan was made "
                                 "and these values differ: make a new plan", name);
            continue;
        }
        vkdl_status s = vkdl_tensor_upload(v->dev, t->data, t->dtype, t->bytes);
        if (s != VKDL_OK)
            return vkdl_fail(s, "onnx_run: input '%s': %s", name, vkdl_last_error());
    }
    VKDL_TRY(p->rec ? vkdl_sched_replay(p->ctx, p->rec) : run_steps(p));
    for (int i = 0; i < p->n_outputs; i++) {
        const plan_value *v = &p->v[p->outputs[i]];
        if (v->kind != PV_DEVICE)
            continue;
        onnx_host *o = &p->outs[i];
        VKDL_TRY(vkdl_tensor_download(v->dev, o->data, o->dtype, (size_t)o->numel * vkdl_dtype_size(o->dtype)));
    }
    return vkdl_sync(p->ctx);
}

int vkdl_onnx_plan_output_count(const vkdl_onnx_plan *p) { return p ? p->n_outputs : 0; }

vkdl_status vkdl_onnx_plan_output(const vkdl_onnx_plan *p, int i, vkdl_host_tensor *out)
{
    if (!p || !out)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "onnx_plan_output: plan or out is NULL");
    if (i < 0 || i >= p->n_outputs)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "onnx_plan_output: index %d not in [0, %d)", i,
                         p->n_outputs);
    const onnx_host *o = &p->outs[i];
    memset(out, 0, sizeof *out);
    out->name = plan_value_name(p, p->outputs[i]);
    out->dtype = o->dtype;
    out->ndim = o->ndim;
    memcpy(out->shape, o->dims, sizeof out->shape);
    out->data = o->data;
    out->bytes = (size_t)o->numel * vkdl_dtype_size(o->dtype);
    return VKDL_OK;
}

vkdl_status vkdl_onnx_plan_stats_get(const vkdl_onnx_plan *p, vkdl_onnx_plan_stats *out)
{
    if (!p || !out)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "onnx_plan_stats_get: plan or out is NULL");
    VKDL_TRY(vkdl_check_next("onnx_plan_stats_get", out->next));
    *out = p->stats;
    return VKDL_OK;
}
