/* Shape formatting and the argument checks every op shares. */
#include "runtime/runtime.h"

#include <stdio.h>

char *vkdl_shape_str(const vkdl_tensor *t, char *buf, size_t n)
{
    if (!t) {
        snprintf(buf, n, "NULL");
        return buf;
    }
    if (t->ndim == 0) {
        snprintf(buf, n, "scalar");
        return buf;
    }
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < t->ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, i ? "x%lld" : "%lld", (long long)t->shape[i]);
    return buf;
}

vkdl_status vkdl_check_tensor(const char *op, const char *name, const vkdl_tensor *t)
{
    if (!t)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", op, name);
    return vkdl_check_live(op, name, t);
}

vkdl_status vkdl_check_live(const char *op, const char *name, const vkdl_tensor *t)
{
    if (t->handle == VKDL_HANDLE_DEAD)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT,
                         "%s: %s belonged to an autograd graph that was freed (by vkdl_graph_free, or by the first "
                         "vkdl_f_* call after vkdl_backward)", op, name);
    if (t->handle != VKDL_HANDLE_USER && t->handle != VKDL_HANDLE_GRAPH)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: %s is not a live tensor handle", op, name);
    return VKDL_OK;
}

vkdl_status vkdl_check_same_ctx(const char *op, const vkdl_tensor *a, const vkdl_tensor *b)
{
    /* Ops check their optional tensors through here: a dead one must not get further. */
    VKDL_TRY(vkdl_check_live(op, "a tensor argument", a));
    VKDL_TRY(vkdl_check_live(op, "a tensor argument", b));
    if (a->ctx != b->ctx)
        return vkdl_fail(VKDL_ERROR_CONTEXT_MISMATCH, "%s: tensors belong to different contexts", op);
    return VKDL_OK;
}

vkdl_status vkdl_check_dtype(const char *op, const char *name, const vkdl_tensor *t, vkdl_dtype want)
{
    VKDL_TRY(vkdl_check_live(op, name, t));
    if (t->dtype != want)
        return vkdl_fail(VKDL_ERROR_DTYPE_MISMATCH, "%s: %s is %s, expected %s", op, name,
                         vkdl_dtype_name(t->dtype), vkdl_dtype_name(want));
    return VKDL_OK;
}

vkdl_status vkdl_check_same_shape(const char *op, const vkdl_tensor *a, const vkdl_tensor *b)
{
    VKDL_TRY(vkdl_check_live(op, "a tensor argument", a));
    VKDL_TRY(vkdl_check_live(op, "a tensor argument", b));
    bool same = a->ndim == b->ndim;
    for (int i = 0; same && i < a->ndim; i++)
        same = a->shape[i] == b->shape[i];
    if (!same) {
        char sa[VKDL_SHAPE_BUF], sb[VKDL_SHAPE_BUF];
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: shapes differ: %s vs %s", op,
                         vkdl_shape_str(a, sa, sizeof sa), vkdl_shape_str(b, sb, sizeof sb));
    }
    return VKDL_OK;
}

vkdl_status vkdl_numel_checked(const char *op, int ndim, const int64_t *shape, int64_t *numel)
{
    const int64_t limit = (int64_t)1 << 62;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: dim %d is negative (%lld)", op, i,
                             (long long)shape[i]);
        if (shape[i] != 0 && n > limit / shape[i])
            return vkdl_fail(VKDL_ERROR_SIZE_OVERFLOW, "%s: element count overflows at dim %d", op, i);
        n *= shape[i];
    }
    *numel = n;
    return VKDL_OK;
}

void vkdl_split_axis(const vkdl_tensor *t, int axis, int64_t *outer, int64_t *n, int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    for (int i = 0; i < axis; i++)
        *outer *= t->shape[i];
    for (int i = axis + 1; i < t->ndim; i++)
        *inner *= t->shape[i];
    *n = t->shape[axis];
}
