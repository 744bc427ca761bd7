/* ONNX's shape and layout ops: views (Reshape, Flatten, Squeeze, Unsqueeze, Identity), shapes as
 * data (Shape, Size, Constant, ConstantOfShape, Range), Cast, CastLike and Transpose. Views cost nothing on
 * the device: the output shares the input's bytes. */
#include "onnx/onnx.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

/* Axes from an INTS attribute (older opsets) or from input i (newer): sorted, normalised against
 * rank, no repeats. n = -1 when neither is given. */
static vkdl_status axes_of(onnx_exec *e, int input, int rank, int *n, int *axes)
{
    int64_t raw[VKDL_MAX_DIMS * 2];
    const int64_t *a;
    int k = onnx_attr_ints(e, "axes", &a);
    if (k >= 0) {
        if (k > VKDL_MAX_DIMS * 2)
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "%d axes", k);
        memcpy(raw, a, (size_t)k * sizeof *a);
    } else if (onnx_has_in(e, input)) {
        VKDL_TRY(onnx_int_list(e, input, "axes", VKDL_MAX_DIMS * 2, &k, raw));
    } else {
        *n = -1;
        return VKDL_OK;
    }
    for (int i = 0; i < k; i++) {
        VKDL_TRY(onnx_axis(e, raw[i], rank, &axes[i]));
        for (int j = 0; j < i; j++)
            if (axes[j] == axes[i])
                return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "axis %d is listed twice", axes[i]);
    }
    for (int i = 1; i < k; i++)                          /* insertion sort */
        for (int j = i; j > 0 && axes[j - 1] > axes[j]; j--) {
            int t = axes[j];
            axes[j] = axes[j - 1];
            axes[j - 1] = t;
        }
    *n = k;
    return VKDL_OK;
}

/* Host side of the views: the output is a copy of input 0 in a new shape. */
static vkdl_status host_reshaped(onnx_exec *e, int ndim, const int64_t *dims)
{
    const onnx_host *x;
    VKDL_TRY(onnx_need_host(e, 0, "data", &x));
    int64_t numel;
    VKDL_TRY(vkdl_numel_checked("onnx", ndim, dims, &numel));
    if (numel != x->numel) {
        char a[VKDL_SHAPE_BUF], b[VKDL_SHAPE_BUF];
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "cannot view %s as %s", onnx_dims_str(x->ndim, x->dims, a, sizeof a),
                         onnx_dims_str(ndim, dims, b, sizeof b));
    }
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, x->dtype, ndim, dims, &y));
    if (x->numel)
        memcpy(y->data, x->data, (size_t)x->numel * vkdl_dtype_size(x->dtype));
    return VKDL_OK;
}

/* ---------------------------------------------------------------- views */

static vkdl_status identity_shape(onnx_exec *e, int *ndim, int64_t *dims)
{
    *ndim = onnx_in_ndim(e, 0);
    memcpy(dims, onnx_in_dims(e, 0), (size_t)*ndim * sizeof *dims);
    return VKDL_OK;
}

static vkdl_status reshape_shape(onnx_exec *e, int *ndim, int64_t *dims)
{
    int64_t want[VKDL_MAX_DIMS];
    int n;
    if (e->opset < 5) {
        const int64_t *a;
        n = onnx_attr_ints(e, "shape", &a);
        if (n < 0 || n > VKDL_MAX_DIMS)
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "needs a shape attribute of at most %d dims",
                             VKDL_MAX_DIMS);
        memcpy(want, a, (size_t)n * sizeof *a);
    } else {
        VKDL_TRY(onnx_int_list(e, 1, "shape", VKDL_MAX_DIMS, &n, want));
    }
    bool allowzero = onnx_attr_int(e, "allowzero", 0) != 0;
    int in_ndim = onnx_in_ndim(e, 0), infer = -1;
    const int64_t *in = onnx_in_dims(e, 0);
    int64_t known = 1, total;
    VKDL_TRY(vkdl_numel_checked("onnx", in_ndim, in, &total));
    for (int d = 0; d < n; d++) {
        int64_t w = want[d];
        if (w == 0 && !allowzero) {
            if (d >= in_ndim)
                return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "shape entry %d is 0 (copy) but the input has rank %d",
                                 d, in_ndim);
            w = in[d];
        }
        if (w == -1) {
            if (infer >= 0)
                return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "more than one -1 in the shape");
            infer = d;
            w = 1;
        } else if (w < 0) {
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "shape entry %d is %lld", d, (long long)w);
        }
        dims[d] = w;
        if (w && known > INT64_MAX / w)
            return onnx_fail(e, VKDL_ERROR_SIZE_OVERFLOW, "the shape's element count overflows");
        known *= w;
    }
    if (infer >= 0) {
        if (known == 0 || total % known)
            return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "cannot infer the -1 entry: %lld elements into blocks of "
                             "%lld", (long long)total, (long long)known);
        dims[infer] = total / known;
    }
    *ndim = n;
    return VKDL_OK;
}

static vkdl_status flatten_shape(onnx_exec *e, int *ndim, int64_t *dims)
{
    int rank = onnx_in_ndim(e, 0);
    int64_t axis = onnx_attr_int(e, "axis", 1);
    if (axis < 0)
        axis += rank;
    if (axis < 0 || axis > rank)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "axis %lld out of range for rank %d",
                         (long long)onnx_attr_int(e, "axis", 1), rank);
    const int64_t *in = onnx_in_dims(e, 0);
    dims[0] = dims[1] = 1;
    for (int d = 0; d < rank; d++)
        dims[d < axis ? 0 : 1] *= in[d];
    *ndim = 2;
    return VKDL_OK;
}

static vkdl_status squeeze_shape(onnx_exec *e, int *ndim, int64_t *dims)
{
    int rank = onnx_in_ndim(e, 0), n, axes[VKDL_MAX_DIMS * 2];
    const int64_t *in = onnx_in_dims(e, 0);
    VKDL_TRY(axes_of(e, 1, rank, &n, axes));
    int k = 0, a = 0;
    for (int d = 0; d < rank; d++) {
        bool drop = n < 0 ? in[d] == 1 : (a < n && axes[a] == d);
        if (n >= 0 && drop) {
            a++;
            if (in[d] != 1)
                return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "cannot squeeze axis %d of size %lld", d,
                                 (long long)in[d]);
        }
        if (!drop)
            dims[k++] = in[d];
    }
    *ndim = k;
    return VKDL_OK;
}

static vkdl_status unsqueeze_shape(onnx_exec *e, int *ndim, int64_t *dims)
{
    int rank = onnx_in_ndim(e, 0), n, axes[VKDL_MAX_DIMS * 2];
    const int64_t *in = onnx_in_dims(e, 0);
    /* Axes count against the output's rank, which the number of axes decides. */
    const int64_t *a;
    int k = onnx_attr_ints(e, "axes", &a);
    int64_t listed[VKDL_MAX_DIMS * 2];
    if (k < 0) {
        VKDL_TRY(onnx_int_list(e, 1, "axes", VKDL_MAX_DIMS * 2, &k, listed));
    }
    if (rank + k > VKDL_MAX_DIMS)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "rank %d (at most %d)", rank + k, VKDL_MAX_DIMS);
    VKDL_TRY(axes_of(e, 1, rank + k, &n, axes));
    int src = 0, j = 0;
    for (int d = 0; d < rank + n; d++)
        dims[d] = j < n && axes[j] == d ? (j++, 1) : in[src++];
    *ndim = rank + n;
    return VKDL_OK;
}

typedef vkdl_status (*shape_fn)(onnx_exec *e, int *ndim, int64_t *dims);

static shape_fn view_shape_fn(const char *type)
{
    if (!strcmp(type, "Reshape"))
        return reshape_shape;
    if (!strcmp(type, "Flatten"))
        return flatten_shape;
    if (!strcmp(type, "Squeeze"))
        return squeeze_shape;
    if (!strcmp(type, "Unsqueeze"))
        return unsqueeze_shape;
    return identity_shape;                               /* Identity, Dropout */
}

/* Dropout is the identity unless training_mode (input 2) is true, which draws random masks. */
static vkdl_status dropout_check(onnx_exec *e)
{
    if (!onnx_has_in(e, 2))
        return VKDL_OK;
    const onnx_host *t;
    VKDL_TRY(onnx_need_host(e, 2, "training_mode", &t));
    if (t->numel != 1)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "training_mode must be a scalar");
    if (onnx_get_i(t, 0))
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "training-mode dropout (random masks) in an imported model");
    return VKDL_OK;
}

static vkdl_status dropout_mask(onnx_exec *e, bool host)
{
    /* Inference: no element is dropped, so the optional mask is all true. */
    if (!onnx_has_out(e, 1))
        return VKDL_OK;
    if (host) {
        onnx_host *m;
        VKDL_TRY(onnx_out_host(e, 1, VKDL_BOOL, onnx_in_ndim(e, 0), onnx_in_dims(e, 0), &m));
        memset(m->data, 1, (size_t)m->numel);
        return VKDL_OK;
    }
    if (!e->run)
        return onnx_out_set(e, 1, VKDL_BOOL, onnx_in_ndim(e, 0), onnx_in_dims(e, 0));
    return vkdl_tensor_fill(onnx_out(e, 1), 1);
}

static vkdl_status view_host(onnx_exec *e)
{
    if (!strcmp(e->node->op_type, "Dropout"))
        VKDL_TRY(dropout_check(e));
    int ndim;
    int64_t dims[VKDL_MAX_DIMS];
    VKDL_TRY(view_shape_fn(e->node->op_type)(e, &ndim, dims));
    VKDL_TRY(host_reshaped(e, ndim, dims));
    return strcmp(e->node->op_type, "Dropout") ? VKDL_OK : dropout_mask(e, true);
}

static vkdl_status view_device(onnx_exec *e)
{
    if (!e->run && !strcmp(e->node->op_type, "Dropout"))
        VKDL_TRY(dropout_check(e));
    if (!e->run) {
        int ndim;
        int64_t dims[VKDL_MAX_DIMS];
        VKDL_TRY(view_shape_fn(e->node->op_type)(e, &ndim, dims));
        VKDL_TRY(onnx_out_view(e, 0, 0, ndim, dims));
    }
    return strcmp(e->node->op_type, "Dropout") ? VKDL_OK : dropout_mask(e, false);
}

/* ---------------------------------------------------------------- shapes as data */

static vkdl_status shape_any(onnx_exec *e)
{
    int rank = onnx_in_ndim(e, 0);
    const int64_t *in = onnx_in_dims(e, 0);
    onnx_host *y;
    if (!strcmp(e->node->op_type, "Size")) {
        VKDL_TRY(onnx_out_host(e, 0, VKDL_I64, 0, NULL, &y));
        int64_t n;
        VKDL_TRY(vkdl_numel_checked("onnx", rank, in, &n));
        onnx_set_i(y, 0, n);
        return VKDL_OK;
    }
    int64_t start = onnx_attr_int(e, "start", 0), end = onnx_attr_int(e, "end", rank);
    start = start < 0 ? start + rank : start;
    end = end < 0 ? end + rank : end;
    start = start < 0 ? 0 : start > rank ? rank : start;
    end = end < 0 ? 0 : end > rank ? rank : end;
    int64_t n = end > start ? end - start : 0;
    VKDL_TRY(onnx_out_host(e, 0, VKDL_I64, 1, &n, &y));
    for (int64_t d = 0; d < n; d++)
        onnx_set_i(y, d, in[start + d]);
    return VKDL_OK;
}

static vkdl_status constant_host(onnx_exec *e)
{
    onnx_host *y;
    const onnx_attr *a;
    if ((a = onnx_attr_get(e, "value")) && a->type == ONNX_ATTR_TENSOR) {
        VKDL_TRY(onnx_out_host(e, 0, a->t.dtype, a->t.ndim, a->t.dims, &y));
        if (a->t.numel)
            memcpy(y->data, a->t.data, (size_t)a->t.numel * vkdl_dtype_size(a->t.dtype));
        return VKDL_OK;
    }
    if ((a = onnx_attr_get(e, "value_float")) || (a = onnx_attr_get(e, "value_int"))) {
        bool f = a->type == ONNX_ATTR_FLOAT;
        VKDL_TRY(onnx_out_host(e, 0, f ? VKDL_F32 : VKDL_I64, 0, NULL, &y));
        if (f)
            onnx_set_f(y, 0, a->f);
        else
            onnx_set_i(y, 0, a->i);
        return VKDL_OK;
    }
    if ((a = onnx_attr_get(e, "value_floats")) || (a = onnx_attr_get(e, "value_ints"))) {
        bool f = a->type == ONNX_ATTR_FLOATS;
        int64_t n = a->n;
        VKDL_TRY(onnx_out_host(e, 0, f ? VKDL_F32 : VKDL_I64, 1, &n, &y));
        for (int64_t i = 0; i < n; i++) {
            if (f)
                onnx_set_f(y, i, a->floats[i]);
            else
                onnx_set_i(y, i, a->ints[i]);
        }
        return VKDL_OK;
    }
    return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "needs a tensor, float(s) or int(s) value (string and sparse values "
                     "are not supported)");
}

static vkdl_status constant_of_shape_host(onnx_exec *e)
{
    int n;
    int64_t dims[VKDL_MAX_DIMS];
    VKDL_TRY(onnx_int_list(e, 0, "shape", VKDL_MAX_DIMS, &n, dims));
    for (int d = 0; d < n; d++)
        if (dims[d] < 0)
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "shape entry %d is %lld", d, (long long)dims[d]);
    const onnx_attr *a = onnx_attr_get(e, "value");
    vkdl_dtype dt = a && a->type == ONNX_ATTR_TENSOR ? a->t.dtype : VKDL_F32;
    if (a && a->type == ONNX_ATTR_TENSOR && a->t.numel != 1)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "value must hold one element, not %lld",
                         (long long)a->t.numel);
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, dt, n, dims, &y));
    size_t es = vkdl_dtype_size(dt);
    if (a && a->type == ONNX_ATTR_TENSOR)
        for (int64_t i = 0; i < y->numel; i++)
            memcpy((char *)y->data + (size_t)i * es, a->t.data, es);
    return VKDL_OK;
}

static vkdl_status range_host(onnx_exec *e)
{
    const onnx_host *s, *l, *d;
    VKDL_TRY(onnx_need_host(e, 0, "start", &s));
    VKDL_TRY(onnx_need_host(e, 1, "limit", &l));
    VKDL_TRY(onnx_need_host(e, 2, "delta", &d));
    if (s->numel != 1 || l->numel != 1 || d->numel != 1)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "start, limit and delta must be scalars");
    bool fl = onnx_dtype_is_float(s->dtype);
    double start = onnx_get_f(s, 0), limit = onnx_get_f(l, 0), delta = onnx_get_f(d, 0);
    if (delta == 0 || isnan(delta))
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "delta is %g", delta);
    double count = ceil((limit - start) / delta);
    int64_t n = count > 0 ? (int64_t)count : 0;
    if (count > (double)(INT64_C(1) << 31))
        return onnx_fail(e, VKDL_ERROR_SIZE_OVERFLOW, "%g elements", count);
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, s->dtype, 1, &n, &y));
    for (int64_t i = 0; i < n; i++) {
        if (fl)
            onnx_set_f(y, i, start + (double)i * delta);
        else
            onnx_set_i(y, i, onnx_get_i(s, 0) + i * onnx_get_i(d, 0));
    }
    return VKDL_OK;
}

/* ---------------------------------------------------------------- Cast */

/* Cast's "to" attribute, or CastLike's second input's dtype. */
static vkdl_status cast_to(onnx_exec *e, vkdl_dtype *out)
{
    if (!strcmp(e->node->op_type, "CastLike")) {
        if (!onnx_has_in(e, 1))
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "input 1 (target_type) is missing");
        *out = onnx_in_dtype(e, 1);
        return VKDL_OK;
    }
    int64_t to = onnx_attr_int(e, "to", -1);
    if (!onnx_dtype_from_proto((int32_t)to, out))
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "cast to ONNX type %lld is not supported", (long long)to);
    return VKDL_OK;
}

static vkdl_status cast_host(onnx_exec *e)
{
    vkdl_dtype to;
    VKDL_TRY(cast_to(e, &to));
    const onnx_host *x;
    VKDL_TRY(onnx_need_host(e, 0, "input", &x));
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, to, x->ndim, x->dims, &y));
    bool fl = onnx_dtype_is_float(x->dtype) || onnx_dtype_is_float(to);
    for (int64_t i = 0; i < x->numel; i++) {
        if (to == VKDL_BOOL)
            onnx_set_i(y, i, fl ? onnx_get_f(x, i) != 0 : onnx_get_i(x, i) != 0);
        else if (fl)
            onnx_set_f(y, i, onnx_get_f(x, i));
        else
            onnx_set_i(y, i, onnx_get_i(x, i));
    }
    return VKDL_OK;
}

static vkdl_status cast_device(onnx_exec *e)
{
    vkdl_dtype to, from = onnx_in_dtype(e, 0), dto, dfrom;
    VKDL_TRY(cast_to(e, &to));
    /* CastLike reads only its target's dtype: a known input is cast on the host whatever dtypes. */
    if (onnx_in_host(e, 0))
        return e->run ? VKDL_OK : cast_host(e);
    if (!onnx_device_dtype(to, &dto) || !onnx_device_dtype(from, &dfrom)) {
        const onnx_host *h;                              /* a host-only dtype: computed on the host */
        return onnx_need_host(e, 0, "input", &h);
    }
    bool rounds = (to == VKDL_F16 || to == VKDL_BF16) && to != from;
    if (to == VKDL_BOOL && from != VKDL_BOOL) {
        /* x != 0 as (x == 0) xor 1: the comparisons take f32 and i32, so uint8 is widened first. */
        static const int32_t zero = 0;
        static const uint8_t one = 1;
        vkdl_tensor *z, *o, *eq, *wide = NULL;
        vkdl_dtype cmp = dfrom == VKDL_U8 ? VKDL_I32 : dfrom;
        VKDL_TRY(onnx_const(e, cmp, 0, NULL, &zero, VKDL_I32, &z));
        VKDL_TRY(onnx_const(e, VKDL_U8, 0, NULL, &one, VKDL_U8, &o));
        VKDL_TRY(onnx_temp(e, VKDL_U8, onnx_in_ndim(e, 0), onnx_in_dims(e, 0), &eq));
        if (dfrom == VKDL_U8)
            VKDL_TRY(onnx_temp(e, VKDL_I32, onnx_in_ndim(e, 0), onnx_in_dims(e, 0), &wide));
        if (!e->run)
            return onnx_out_set(e, 0, VKDL_BOOL, onnx_in_ndim(e, 0), onnx_in_dims(e, 0));
        vkdl_tensor *x;
        VKDL_TRY(onnx_in(e, 0, &x));
        if (wide)
            VKDL_TRY(vkdl_copy(x, wide));
        VKDL_TRY(vkdl_binary(VKDL_EQUAL, wide ? wide : x, z, eq));
        return vkdl_binary(VKDL_XOR, eq, o, onnx_out(e, 0));
    }
    if (dto == dfrom && !rounds)
        return e->run ? VKDL_OK : onnx_out_view_as(e, 0, 0, to, onnx_in_ndim(e, 0), onnx_in_dims(e, 0));
    vkdl_tensor *tmp = NULL;
    if (rounds)
        VKDL_TRY(onnx_temp(e, to, onnx_in_ndim(e, 0), onnx_in_dims(e, 0), &tmp));
    if (!e->run)
        return onnx_out_set(e, 0, to, onnx_in_ndim(e, 0), onnx_in_dims(e, 0));
    vkdl_tensor *x;
    VKDL_TRY(onnx_in(e, 0, &x));
    if (!rounds)
        return vkdl_copy(x, onnx_out(e, 0));
    /* Round through a real 16-bit tensor, so the f32 that holds it has exactly its values. */
    VKDL_TRY(vkdl_copy(x, tmp));
    return vkdl_copy(tmp, onnx_out(e, 0));
}

/* ---------------------------------------------------------------- Transpose */

static vkdl_status transpose_perm(onnx_exec *e, int rank, int *perm, int64_t *dims)
{
    const int64_t *p;
    int n = onnx_attr_ints(e, "perm", &p);
    if (n >= 0 && n != rank)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "perm has %d entries for rank %d", n, rank);
    unsigned seen = 0;
    for (int d = 0; d < rank; d++) {
        int64_t v = n < 0 ? rank - 1 - d : p[d];
        if (v < 0 || v >= rank || (seen >> v & 1))
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "perm is not a permutation of 0..%d", rank - 1);
        seen |= 1u << v;
        perm[d] = (int)v;
        dims[d] = onnx_in_dims(e, 0)[v];
    }
    return VKDL_OK;
}

static vkdl_status transpose_host(onnx_exec *e)
{
    const onnx_host *x;
    VKDL_TRY(onnx_need_host(e, 0, "data", &x));
    int perm[VKDL_MAX_DIMS];
    int64_t dims[VKDL_MAX_DIMS], xs[VKDL_MAX_DIMS];
    VKDL_TRY(transpose_perm(e, x->ndim, perm, dims));
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, x->dtype, x->ndim, dims, &y));
    int64_t st = 1;
    for (int d = x->ndim - 1; d >= 0; d--) {
        xs[d] = st;
        st *= x->dims[d];
    }
    size_t es = vkdl_dtype_size(x->dtype);
    for (int64_t i = 0; i < y->numel; i++) {
        int64_t rest = i, src = 0;
        for (int d = x->ndim - 1; d >= 0; d--) {
            src += rest % dims[d] * xs[perm[d]];
            rest /= dims[d];
        }
        memcpy((char *)y->data + (size_t)i * es, (const char *)x->data + (size_t)src * es, es);
    }
    return VKDL_OK;
}

static vkdl_status transpose_device(onnx_exec *e)
{
    int rank = onnx_in_ndim(e, 0), perm[VKDL_MAX_DIMS];
    int64_t dims[VKDL_MAX_DIMS];
    VKDL_TRY(transpose_perm(e, rank, perm, dims));
    if (!e->run)
        return onnx_out_set(e, 0, onnx_in_dtype(e, 0), rank, dims);
    vkdl_tensor *x;
    VKDL_TRY(onnx_in(e, 0, &x));
    return vkdl_permute(x, perm, onnx_out(e, 0));
}

const onnx_op onnx_ops_shape[] = {
    {"Identity", view_host, view_device},
    {"Dropout", view_host, view_device},
    {"Reshape", view_host, view_device},
    {"Flatten", view_host, view_device},
    {"Squeeze", view_host, view_device},
    {"Unsqueeze", view_host, view_device},
    {"Shape", shape_any, shape_any},
    {"Size", shape_any, shape_any},
    {"Constant", constant_host, NULL},
    {"ConstantOfShape", constant_of_shape_host, NULL},
    {"Range", range_host, NULL},
    {"Cast", cast_host, cast_device},
    {"CastLike", cast_host, cast_device},
    {"Transpose", transpose_host, transpose_device},
};
const int onnx_ops_shape_count = (int)VKDL_ARRAY_LEN(onnx_ops_shape);
