/* ONNX's data-movement ops: windows (Concat, Split, Slice, Pad, Tile, Expand), indexing (Gather,
 * GatherElements, GatherND, ScatterElements, ScatterND, Compress, OneHot), rearrangements
 * (DepthToSpace, SpaceToDepth, ReverseSequence), masks (Trilu, EyeLike), Where, CumSum, TopK, and
 * NonZero, whose output shape depends on the data, on the host only. Windows are one vkdl_view_copy
 * each; index tables and masks that depend only on host values (GatherND's rows, Compress's
 * selection, Trilu's triangle) are computed here and uploaded, so the device runs a plain
 * vkdl_gather, vkdl_scatter_elements or vkdl_where. */
#include "onnx/onnx.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

/* The INTS attribute attr when present (older opsets), else host input i when present (newer);
 * *n = -1 when neither is given. */
static vkdl_status ints_of(onnx_exec *e, const char *attr, int input, int max, int *n, int64_t *v)
{
    const int64_t *a;
    int k = onnx_attr_ints(e, attr, &a);
    if (k >= 0) {
        if (k > max)
            return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "%s has %d entries (at most %d)", attr, k, max);
        memcpy(v, a, (size_t)k * sizeof *a);
        *n = k;
        return VKDL_OK;
    }
    if (input >= 0 && onnx_has_in(e, input))
        return onnx_int_list(e, input, attr, max, n, v);
    *n = -1;
    return VKDL_OK;
}

/* A scalar host input (k, depth, axis) as int64. */
static vkdl_status int_scalar(onnx_exec *e, int i, const char *what, int64_t *v)
{
    const onnx_host *h;
    *v = 0;
    VKDL_TRY(onnx_need_host(e, i, what, &h));
    if (h->numel != 1)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "%s must hold one element, not %lld", what,
                         (long long)h->numel);
    if (!onnx_dtype_is_float(h->dtype)) {
        *v = onnx_get_i(h, 0);
        return VKDL_OK;
    }
    double f = onnx_get_f(h, 0);
    if (!(fabs(f) < 0x1p62))
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "%s is %g", what, f);
    *v = (int64_t)f;
    return VKDL_OK;
}

static int64_t prod(int from, int to, const int64_t *dims)
{
    int64_t p = 1;
    for (int d = from; d < to; d++)
        p *= dims[d];
    return p;
}

static void unravel(int64_t i, int ndim, const int64_t *dims, int64_t *c)
{
    for (int d = ndim - 1; d >= 0; d--) {
        c[d] = dims[d] ? i % dims[d] : 0;
        i = dims[d] ? i / dims[d] : 0;
    }
}

static int64_t ravel(int ndim, const int64_t *dims, const int64_t *c)
{
    int64_t i = 0;
    for (int d = 0; d < ndim; d++)
        i = i * dims[d] + c[d];
    return i;
}

static void copy_elems(onnx_host *y, int64_t at, const onnx_host *x, int64_t from, int64_t n)
{
    size_t es = vkdl_dtype_size(x->dtype);
    if (n > 0)
        memcpy((char *)y->data + (size_t)at * es, (const char *)x->data + (size_t)from * es, (size_t)n * es);
}

/* The device dtype of input i, or UNSUPPORTED for dtypes only the host has. */
static vkdl_status dev_dtype(onnx_exec *e, int i, vkdl_dtype *out)
{
    if (!onnx_device_dtype(onnx_in_dtype(e, i), out))
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "%s data runs on the host only",
                         vkdl_dtype_name(onnx_in_dtype(e, i)));
    return VKDL_OK;
}

/* The device dtype of the data (input 0); numeric refuses bool and uint8, which vkdl's arithmetic
 * (scatter reductions, sums) does not take. */
static vkdl_status dev_data(onnx_exec *e, bool numeric, vkdl_dtype *out)
{
    VKDL_TRY(dev_dtype(e, 0, out));
    if (numeric && *out == VKDL_U8)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "%s data on the device (float and integer only)",
                         vkdl_dtype_name(onnx_in_dtype(e, 0)));
    return VKDL_OK;
}

/* The node's first n inputs, which the op requires, are present. */
static vkdl_status need_inputs(onnx_exec *e, int n)
{
    for (int i = 0; i < n; i++)
        if (!onnx_has_in(e, i))
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "input %d is required", i);
    return VKDL_OK;
}

static vkdl_status need_indices(onnx_exec *e, int i, const char *what)
{
    vkdl_dtype d = onnx_in_dtype(e, i);
    if (d != VKDL_I32 && d != VKDL_I64)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "%s must be int32 or int64, not %s", what,
                         vkdl_dtype_name(d));
    return VKDL_OK;
}

/* Index v of a dim of size n, negative counting from the end, or a failure naming it. */
static vkdl_status index_in(onnx_exec *e, const char *what, int64_t v, int64_t n, int64_t *out)
{
    *out = v < 0 ? v + n : v;
    if (*out < 0 || *out >= n)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "%s %lld is outside [-%lld, %lld)", what, (long long)v,
                         (long long)n, (long long)n);
    return VKDL_OK;
}

/* A window at the origin with unit steps (and ONES, shapes of one element). */
static const int64_t ZEROS[VKDL_MAX_DIMS], ONES[VKDL_MAX_DIMS] = {1, 1, 1, 1, 1, 1, 1, 1};

/* A constant tensor of dtype (i32 indices, u8 masks) holding a table computed on the host when
 * planning; the upload range-checks it, once. */
static vkdl_status host_table(onnx_exec *e, vkdl_dtype dtype, int ndim, const int64_t *dims, const int64_t *v,
                              vkdl_tensor **out)
{
    return onnx_const(e, dtype, ndim, dims, v, VKDL_I64, out);
}

/* A scratch one-element tensor of dtype, rank ndim, set to value on every run. */
static vkdl_status scalar_temp(onnx_exec *e, vkdl_dtype dtype, int ndim, double value, vkdl_tensor **out)
{
    VKDL_TRY(onnx_temp(e, dtype, ndim, ONES, out));
    return e->run ? vkdl_tensor_fill(*out, value) : VKDL_OK;
}

/* Host side of a window copy: out[o] = x[start + o * step] per dim, with x's rank given as dims
 * (Expand right-aligns x), indices outside x read as mode says (value for CONSTANT). */
static void host_window(const onnx_host *x, const int64_t *xdims, onnx_host *y, const int64_t *start,
                        const int64_t *step, vkdl_pad_mode mode, double fv, int64_t iv)
{
    int nd = y->ndim;
    bool fl = onnx_dtype_is_float(y->dtype);
    for (int64_t i = 0; i < y->numel; i++) {
        int64_t c[VKDL_MAX_DIMS];
        bool inside = true;
        unravel(i, nd, y->dims, c);
        for (int d = 0; d < nd; d++) {
            int64_t n = xdims[d], s = start[d] + c[d] * step[d];
            if (s < 0 || s >= n) {
                if (mode == VKDL_PAD_EDGE)
                    s = s < 0 ? 0 : n - 1;
                else if (mode == VKDL_PAD_WRAP)
                    s = (s % n + n) % n;
                else if (mode == VKDL_PAD_REFLECT && n == 1)
                    s = 0;
                else if (mode == VKDL_PAD_REFLECT) {
                    int64_t period = 2 * (n - 1), m = (s % period + period) % period;
                    s = m < n ? m : period - m;
                } else
                    inside = false;
            }
            c[d] = s;
        }
        if (!inside) {
            if (fl)
                onnx_set_f(y, i, fv);
            else
                onnx_set_i(y, i, iv);
        } else {
            copy_elems(y, i, x, ravel(nd, xdims, c), 1);
        }
    }
}

/* Device side of a window copy over all of out. */
static vkdl_status dev_window(const vkdl_tensor *x, vkdl_tensor *out, int ndim, const int64_t *start,
                              const int64_t *step, vkdl_pad_mode mode, float value)
{
    vkdl_view_info v = {.mode = mode, .value = value};
    memcpy(v.start, start, (size_t)ndim * sizeof *start);
    memcpy(v.step, step, (size_t)ndim * sizeof *step);
    return vkdl_view_copy(x, out, &v);
}

/* ---------------------------------------------------------------- Concat */

static vkdl_status concat_shape(onnx_exec *e, int *axis, int *ndim, int64_t *dims)
{
    VKDL_TRY(need_inputs(e, 1));
    int n = onnx_n_in(e), rank = onnx_in_ndim(e, 0);
    const onnx_attr *a = onnx_attr_get(e, "axis");
    if (!a && e->opset >= 4)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "needs an axis attribute");
    VKDL_TRY(onnx_axis(e, a ? a->i : 1, rank, axis));
    memcpy(dims, onnx_in_dims(e, 0), (size_t)rank * sizeof *dims);
    dims[*axis] = 0;
    for (int i = 0; i < n; i++) {
        if (!onnx_has_in(e, i))
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "input %d is omitted", i);
        const int64_t *d = onnx_in_dims(e, i);
        bool ok = onnx_in_ndim(e, i) == rank && onnx_in_dtype(e, i) == onnx_in_dtype(e, 0);
        for (int k = 0; ok && k < rank; k++)
            ok = k == *axis || d[k] == dims[k];
        if (!ok) {
            char s0[VKDL_SHAPE_BUF], si[VKDL_SHAPE_BUF];
            return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "input %d (%s %s) does not fit input 0 (%s %s) off axis %d",
                             i, vkdl_dtype_name(onnx_in_dtype(e, i)),
                             onnx_dims_str(onnx_in_ndim(e, i), d, si, sizeof si), vkdl_dtype_name(onnx_in_dtype(e, 0)),
                             onnx_dims_str(rank, onnx_in_dims(e, 0), s0, sizeof s0), *axis);
        }
        dims[*axis] += d[*axis];
    }
    *ndim = rank;
    return VKDL_OK;
}

static vkdl_status concat_host(onnx_exec *e)
{
    int axis, rank;
    int64_t dims[VKDL_MAX_DIMS];
    VKDL_TRY(concat_shape(e, &axis, &rank, dims));
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, onnx_in_dtype(e, 0), rank, dims, &y));
    int64_t outer = prod(0, axis, dims), inner = prod(axis + 1, rank, dims), at = 0;
    for (int64_t o = 0; o < outer; o++)
        for (int i = 0; i < onnx_n_in(e); i++) {
            const onnx_host *x = onnx_in_host(e, i);
            int64_t row = x->dims[axis] * inner;
            copy_elems(y, at, x, o * row, row);
            at += row;
        }
    return VKDL_OK;
}

static vkdl_status concat_device(onnx_exec *e)
{
    int axis, rank;
    int64_t dims[VKDL_MAX_DIMS];
    vkdl_dtype dd;
    VKDL_TRY(concat_shape(e, &axis, &rank, dims));
    VKDL_TRY(dev_data(e, false, &dd));
    if (!e->run)
        return onnx_out_set(e, 0, onnx_in_dtype(e, 0), rank, dims);
    int64_t off = 0;
    for (int i = 0; i < onnx_n_in(e); i++) {
        const int64_t *d = onnx_in_dims(e, i);
        if (prod(0, rank, d) == 0)
            continue;
        vkdl_tensor *x;
        VKDL_TRY(onnx_in(e, i, &x));
        vkdl_view_info v = {0};
        memcpy(v.extent, d, (size_t)rank * sizeof *d);
        v.out_offset[axis] = off;
        VKDL_TRY(vkdl_view_copy(x, onnx_out(e, 0), &v));
        off += d[axis];
    }
    return VKDL_OK;
}

/* ---------------------------------------------------------------- Split */

static vkdl_status split_sizes(onnx_exec *e, int *axis, int64_t *sizes)
{
    VKDL_TRY(need_inputs(e, 1));
    int rank = onnx_in_ndim(e, 0), nout = onnx_n_out(e), n;
    VKDL_TRY(onnx_axis(e, onnx_attr_int(e, "axis", 0), rank, axis));
    int64_t dim = onnx_in_dims(e, 0)[*axis], list[ONNX_MAX_IO];
    VKDL_TRY(ints_of(e, "split", 1, ONNX_MAX_IO, &n, list));
    if (n >= 0) {
        int64_t sum = 0;
        if (n != nout)
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "split has %d entries for %d outputs", n, nout);
        for (int k = 0; k < n; k++) {
            if (list[k] < 0)
                return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "split entry %d is %lld", k, (long long)list[k]);
            sizes[k] = list[k];
            sum += list[k];
        }
        if (sum != dim)
            return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "split sums to %lld, axis %d has %lld", (long long)sum,
                             *axis, (long long)dim);
        return VKDL_OK;
    }
    int64_t parts = onnx_attr_int(e, "num_outputs", nout);
    if (parts != nout)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "num_outputs is %lld for %d outputs", (long long)parts, nout);
    /* Opset 18 lets the last part be smaller; before, the parts must be equal. */
    int64_t chunk = (dim + nout - 1) / nout;
    if (e->opset < 18 && dim % nout)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "axis %d of size %lld does not split into %d equal parts",
                         *axis, (long long)dim, nout);
    for (int k = 0; k < nout; k++) {
        int64_t left = dim - k * chunk;
        sizes[k] = left < 0 ? 0 : left < chunk ? left : chunk;
    }
    return VKDL_OK;
}

static vkdl_status split_host(onnx_exec *e)
{
    int axis, rank = onnx_in_ndim(e, 0);
    int64_t sizes[ONNX_MAX_IO], dims[VKDL_MAX_DIMS], off = 0;
    VKDL_TRY(split_sizes(e, &axis, sizes));
    const onnx_host *x = onnx_in_host(e, 0);
    memcpy(dims, x->dims, (size_t)rank * sizeof *dims);
    int64_t outer = prod(0, axis, dims), inner = prod(axis + 1, rank, dims);
    for (int k = 0; k < onnx_n_out(e); k++) {
        dims[axis] = sizes[k];
        if (onnx_has_out(e, k)) {
            onnx_host *y;
            VKDL_TRY(onnx_out_host(e, k, x->dtype, rank, dims, &y));
            for (int64_t o = 0; o < outer; o++)
                copy_elems(y, o * sizes[k] * inner, x, (o * x->dims[axis] + off) * inner, sizes[k] * inner);
        }
        off += sizes[k];
    }
    return VKDL_OK;
}

static vkdl_status split_device(onnx_exec *e)
{
    int axis, rank = onnx_in_ndim(e, 0);
    int64_t sizes[ONNX_MAX_IO], dims[VKDL_MAX_DIMS], off = 0;
    vkdl_dtype dd;
    VKDL_TRY(split_sizes(e, &axis, sizes));
    VKDL_TRY(dev_data(e, false, &dd));
    memcpy(dims, onnx_in_dims(e, 0), (size_t)rank * sizeof *dims);
    vkdl_tensor *x = NULL;
    if (e->run)
        VKDL_TRY(onnx_in(e, 0, &x));
    for (int k = 0; k < onnx_n_out(e); k++) {
        dims[axis] = sizes[k];
        if (onnx_has_out(e, k)) {
            if (!e->run) {
                VKDL_TRY(onnx_out_set(e, k, onnx_in_dtype(e, 0), rank, dims));
            } else if (prod(0, rank, dims) > 0) {
                vkdl_view_info v = {0};
                v.start[axis] = off;
                VKDL_TRY(vkdl_view_copy(x, onnx_out(e, k), &v));
            }
        }
        off += sizes[k];
    }
    return VKDL_OK;
}

/* ---------------------------------------------------------------- Slice */

static vkdl_status slice_box(onnx_exec *e, int64_t *start, int64_t *step, int64_t *dims)
{
    VKDL_TRY(need_inputs(e, e->opset < 10 ? 1 : 3));
    int rank = onnx_in_ndim(e, 0), ns, ne, na, nst;
    const int64_t *in = onnx_in_dims(e, 0);
    int64_t starts[VKDL_MAX_DIMS], ends[VKDL_MAX_DIMS], axes[VKDL_MAX_DIMS], steps[VKDL_MAX_DIMS];
    bool old = e->opset < 10;
    VKDL_TRY(ints_of(e, "starts", old ? -1 : 1, VKDL_MAX_DIMS, &ns, starts));
    VKDL_TRY(ints_of(e, "ends", old ? -1 : 2, VKDL_MAX_DIMS, &ne, ends));
    VKDL_TRY(ints_of(e, "axes", old ? -1 : 3, VKDL_MAX_DIMS, &na, axes));
    VKDL_TRY(ints_of(e, "steps", old ? -1 : 4, VKDL_MAX_DIMS, &nst, steps));
    if (ns < 0 || ne != ns || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "starts, ends, axes and steps must have one length (%d, %d, "
                         "%d, %d)", ns, ne, na, nst);
    for (int d = 0; d < rank; d++) {
        start[d] = 0;
        step[d] = 1;
        dims[d] = in[d];
    }
    unsigned seen = 0;
    for (int k = 0; k < ns; k++) {
        int a;
        VKDL_TRY(onnx_axis(e, na >= 0 ? axes[k] : k, rank, &a));
        if (seen >> a & 1)
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "axis %d is sliced twice", a);
        seen |= 1u << a;
        int64_t st = nst >= 0 ? steps[k] : 1, n = in[a], s = starts[k], en = ends[k], len;
        if (st == 0)
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "step of axis %d is 0", a);
        if (st == INT64_MIN)
            st = -INT64_MAX;                             /* the same slice, and negatable */
        s = s < 0 ? s + n : s;
        en = en < 0 ? en + n : en;
        if (st > 0) {
            s = s < 0 ? 0 : s > n ? n : s;
            en = en < 0 ? 0 : en > n ? n : en;
            len = en > s ? (en - s - 1) / st + 1 : 0;
        } else {
            s = s < 0 ? 0 : s > n - 1 ? n - 1 : s;
            en = en < -1 ? -1 : en > n - 1 ? n - 1 : en;
            len = n > 0 && s > en ? (s - en - 1) / -st + 1 : 0;
        }
        start[a] = s;
        step[a] = len > 1 ? st : 1;                      /* a step past the end is no step */
        dims[a] = len;
    }
    return VKDL_OK;
}

static vkdl_status slice_host(onnx_exec *e)
{
    int64_t start[VKDL_MAX_DIMS], step[VKDL_MAX_DIMS], dims[VKDL_MAX_DIMS];
    VKDL_TRY(slice_box(e, start, step, dims));
    const onnx_host *x = onnx_in_host(e, 0);
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, x->dtype, x->ndim, dims, &y));
    host_window(x, x->dims, y, start, step, VKDL_PAD_CONSTANT, 0, 0);
    return VKDL_OK;
}

static vkdl_status slice_device(onnx_exec *e)
{
    int64_t start[VKDL_MAX_DIMS], step[VKDL_MAX_DIMS], dims[VKDL_MAX_DIMS];
    vkdl_dtype dd;
    VKDL_TRY(slice_box(e, start, step, dims));
    VKDL_TRY(dev_data(e, false, &dd));
    if (!e->run)
        return onnx_out_set(e, 0, onnx_in_dtype(e, 0), onnx_in_ndim(e, 0), dims);
    vkdl_tensor *x;
    VKDL_TRY(onnx_in(e, 0, &x));
    return dev_window(x, onnx_out(e, 0), onnx_in_ndim(e, 0), start, step, VKDL_PAD_CONSTANT, 0);
}

/* ---------------------------------------------------------------- Pad */

typedef struct pad_spec {
    int64_t start[VKDL_MAX_DIMS], step[VKDL_MAX_DIMS], dims[VKDL_MAX_DIMS];
    vkdl_pad_mode mode;
    double fv;
    int64_t iv;
} pad_spec;

static vkdl_status pad_spec_of(onnx_exec *e, pad_spec *p)
{
    VKDL_TRY(need_inputs(e, e->opset < 11 ? 1 : 2));
    int rank = onnx_in_ndim(e, 0), np, na;
    const int64_t *in = onnx_in_dims(e, 0);
    const char *mode = onnx_attr_str(e, "mode", "constant");
    static const char *const MODES[] = {"constant", "reflect", "edge", "wrap"};
    int found = -1;
    for (int m = 0; m <= VKDL_PAD_WRAP; m++)
        if (!strcmp(mode, MODES[m]))
            found = m;
    if (found < 0)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "mode '%s'", mode);
    p->mode = (vkdl_pad_mode)found;
    int64_t pads[2 * VKDL_MAX_DIMS], axes[VKDL_MAX_DIMS];
    int ax[VKDL_MAX_DIMS];
    bool old = e->opset < 11;
    VKDL_TRY(ints_of(e, old && e->opset < 2 ? "paddings" : "pads", old ? -1 : 1, 2 * VKDL_MAX_DIMS, &np, pads));
    VKDL_TRY(ints_of(e, "axes", old ? -1 : 3, VKDL_MAX_DIMS, &na, axes));
    if (na < 0) {
        na = rank;
        for (int d = 0; d < rank; d++)
            axes[d] = d;
    }
    if (np < 0)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "needs pads");
    if (np != 2 * na)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "pads has %d entries for %d axes", np, na);
    p->fv = 0;
    p->iv = 0;
    if (old) {
        p->fv = onnx_attr_float(e, "value", 0);
        p->iv = fabs(p->fv) < 0x1p63 ? (int64_t)p->fv : 0;     /* NaN and beyond int64 pad integers with 0 */
    } else if (onnx_has_in(e, 2) && p->mode == VKDL_PAD_CONSTANT) {
        const onnx_host *v = onnx_in_host(e, 2);
        if (onnx_in_ndim(e, 2) > 0 && prod(0, onnx_in_ndim(e, 2), onnx_in_dims(e, 2)) != 1)
            return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "constant_value must hold one element");
        if (onnx_in_dtype(e, 2) != onnx_in_dtype(e, 0))
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "constant_value is %s, data %s",
                             vkdl_dtype_name(onnx_in_dtype(e, 2)), vkdl_dtype_name(onnx_in_dtype(e, 0)));
        if (v) {                                         /* else pad_device reads it on the device */
            p->fv = onnx_get_f(v, 0);
            p->iv = onnx_get_i(v, 0);
        }
    }
    for (int d = 0; d < rank; d++) {
        p->start[d] = 0;
        p->step[d] = 1;
        p->dims[d] = in[d];
    }
    unsigned seen = 0;
    for (int k = 0; k < na; k++) {
        VKDL_TRY(onnx_axis(e, axes[k], rank, &ax[k]));
        int a = ax[k];
        if (seen >> a & 1)
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "axis %d is padded twice", a);
        seen |= 1u << a;
        int64_t pb = pads[k], pe = pads[k + na];
        if (pb < -in[a] || pe < -in[a] || pb > INT32_MAX || pe > INT32_MAX || in[a] + pb + pe < 0)
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "pads %lld and %lld do not fit axis %d of size %lld",
                             (long long)pb, (long long)pe, a, (long long)in[a]);
        /* Negative pads crop first; then reflect and wrap would bounce off the cropped edge, which
         * one window over the uncropped input cannot express. */
        if ((pb < 0 || pe < 0) && (pb > 0 || pe > 0) &&
            (p->mode == VKDL_PAD_REFLECT || p->mode == VKDL_PAD_WRAP))
            return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "%s padding that also crops (pads %lld and %lld of axis %d)",
                             mode, (long long)pb, (long long)pe, a);
        /* NumPy (ONNX's reference) wraps a pad longer than the axis off the padded array, not
         * modulo the axis. */
        if (p->mode == VKDL_PAD_WRAP && (pb > in[a] || pe > in[a]))
            return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "wrap padding longer than axis %d (pads %lld and %lld, "
                             "size %lld)", a, (long long)pb, (long long)pe, (long long)in[a]);
        if ((pb > 0 || pe > 0) && p->mode != VKDL_PAD_CONSTANT && in[a] == 0)
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "%s padding of axis %d, which is empty", mode, a);
        p->start[a] = -pb;
        p->dims[a] = in[a] + pb + pe;
    }
    return VKDL_OK;
}

static vkdl_status pad_host(onnx_exec *e)
{
    pad_spec p;
    VKDL_TRY(pad_spec_of(e, &p));
    const onnx_host *x = onnx_in_host(e, 0);
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, x->dtype, x->ndim, p.dims, &y));
    host_window(x, x->dims, y, p.start, p.step, p.mode, p.fv, p.iv);
    return VKDL_OK;
}

/* A constant computed on the device: it is broadcast over the output (read with WRAP from its
 * one element), then the part of x that survives is copied over it. */
static vkdl_status pad_device_value(onnx_exec *e, const pad_spec *p)
{
    int rank = onnx_in_ndim(e, 0);
    const int64_t *in = onnx_in_dims(e, 0);
    vkdl_tensor *x = NULL, *c = NULL, *cv;
    if (e->run) {
        VKDL_TRY(onnx_in(e, 0, &x));
        VKDL_TRY(onnx_in(e, 2, &c));
    }
    VKDL_TRY(onnx_reshape(e, c, rank, ONES, &cv));
    if (!e->run)
        return VKDL_OK;
    VKDL_TRY(dev_window(cv, onnx_out(e, 0), rank, ZEROS, ONES, VKDL_PAD_WRAP, 0));
    vkdl_view_info v = {0};
    for (int d = 0; d < rank; d++) {
        int64_t lo = p->start[d] < 0 ? -p->start[d] : 0;          /* leading padding */
        int64_t hi = in[d] - p->start[d] < p->dims[d] ? in[d] - p->start[d] : p->dims[d];
        v.start[d] = p->start[d] + lo;
        v.out_offset[d] = lo;
        v.extent[d] = hi - lo;
        if (v.extent[d] <= 0)
            return VKDL_OK;                              /* nothing of x is left */
    }
    return vkdl_view_copy(x, onnx_out(e, 0), &v);
}

static vkdl_status pad_device(onnx_exec *e)
{
    pad_spec p;
    vkdl_dtype dd;
    int rank = onnx_in_ndim(e, 0);
    VKDL_TRY(pad_spec_of(e, &p));
    VKDL_TRY(dev_data(e, false, &dd));
    bool dev_value = p.mode == VKDL_PAD_CONSTANT && onnx_has_in(e, 2) && !onnx_in_host(e, 2) && e->opset >= 11;
    double v = dd == VKDL_F32 ? p.fv : (double)p.iv;
    if (p.mode == VKDL_PAD_CONSTANT && !dev_value && (double)(float)v != v && !isnan(v) && dd != VKDL_F32)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "constant %lld is not exact in the device's float pad value",
                         (long long)p.iv);
    for (int d = 0; d < rank; d++)
        if (p.mode == VKDL_PAD_REFLECT && onnx_in_dims(e, 0)[d] == 1 && p.dims[d] > 1)
            return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "reflect padding of axis %d of size 1 on the device", d);
    if (!e->run)
        VKDL_TRY(onnx_out_set(e, 0, onnx_in_dtype(e, 0), rank, p.dims));
    if (dev_value)
        return pad_device_value(e, &p);
    if (!e->run)
        return VKDL_OK;
    vkdl_tensor *x;
    VKDL_TRY(onnx_in(e, 0, &x));
    return dev_window(x, onnx_out(e, 0), rank, p.start, p.step, p.mode, (float)v);
}

/* ---------------------------------------------------------------- Tile, Expand */

static vkdl_status tile_dims(onnx_exec *e, int64_t *dims)
{
    VKDL_TRY(need_inputs(e, 2));
    int rank = onnx_in_ndim(e, 0), n;
    int64_t rep[VKDL_MAX_DIMS];
    if (e->opset < 6)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "opset %d's tiles and axis inputs", e->opset);
    VKDL_TRY(onnx_int_list(e, 1, "repeats", VKDL_MAX_DIMS, &n, rep));
    if (n != rank)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "repeats has %d entries for rank %d", n, rank);
    for (int d = 0; d < rank; d++) {
        int64_t r = rep[d], x = onnx_in_dims(e, 0)[d];
        if (r < 0 || (x && r > INT64_MAX / x))
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "repeat %lld of axis %d", (long long)r, d);
        dims[d] = x * r;
    }
    return VKDL_OK;
}

static vkdl_status tile_host(onnx_exec *e)
{
    int64_t dims[VKDL_MAX_DIMS];
    VKDL_TRY(tile_dims(e, dims));
    const onnx_host *x = onnx_in_host(e, 0);
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, x->dtype, x->ndim, dims, &y));
    host_window(x, x->dims, y, ZEROS, ONES, VKDL_PAD_WRAP, 0, 0);
    return VKDL_OK;
}

static vkdl_status tile_device(onnx_exec *e)
{
    int64_t dims[VKDL_MAX_DIMS];
    vkdl_dtype dd;
    int rank = onnx_in_ndim(e, 0);
    VKDL_TRY(tile_dims(e, dims));
    VKDL_TRY(dev_data(e, false, &dd));
    if (!e->run)
        return onnx_out_set(e, 0, onnx_in_dtype(e, 0), rank, dims);
    vkdl_tensor *x;
    VKDL_TRY(onnx_in(e, 0, &x));
    return dev_window(x, onnx_out(e, 0), rank, ZEROS, ONES, VKDL_PAD_WRAP, 0);
}

/* Expand's output shape, and x's dims right-aligned to it (leading 1s). */
static vkdl_status expand_dims(onnx_exec *e, int *ndim, int64_t *dims, int64_t *xdims)
{
    VKDL_TRY(need_inputs(e, 2));
    int n, rank = onnx_in_ndim(e, 0);
    int64_t shape[VKDL_MAX_DIMS];
    VKDL_TRY(onnx_int_list(e, 1, "shape", VKDL_MAX_DIMS, &n, shape));
    for (int d = 0; d < n; d++)
        if (shape[d] < 0)
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "shape entry %d is %lld", d, (long long)shape[d]);
    VKDL_TRY(onnx_broadcast(e, rank, onnx_in_dims(e, 0), n, shape, ndim, dims));
    for (int d = 0; d < *ndim; d++)
        xdims[d] = d < *ndim - rank ? 1 : onnx_in_dims(e, 0)[d - (*ndim - rank)];
    return VKDL_OK;
}

static vkdl_status expand_host(onnx_exec *e)
{
    int ndim;
    int64_t dims[VKDL_MAX_DIMS], xdims[VKDL_MAX_DIMS];
    VKDL_TRY(expand_dims(e, &ndim, dims, xdims));
    const onnx_host *x = onnx_in_host(e, 0);
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, x->dtype, ndim, dims, &y));
    host_window(x, xdims, y, ZEROS, ONES, VKDL_PAD_WRAP, 0, 0);
    return VKDL_OK;
}

static vkdl_status expand_device(onnx_exec *e)
{
    int ndim;
    int64_t dims[VKDL_MAX_DIMS], xdims[VKDL_MAX_DIMS];
    vkdl_dtype dd;
    VKDL_TRY(expand_dims(e, &ndim, dims, xdims));
    VKDL_TRY(dev_data(e, false, &dd));
    if (!e->run)
        VKDL_TRY(onnx_out_set(e, 0, onnx_in_dtype(e, 0), ndim, dims));
    vkdl_tensor *x = NULL, *xv;
    if (e->run)
        VKDL_TRY(onnx_in(e, 0, &x));
    VKDL_TRY(onnx_reshape(e, x, ndim, xdims, &xv));
    if (!e->run)
        return VKDL_OK;
    return dev_window(xv, onnx_out(e, 0), ndim, ZEROS, ONES, VKDL_PAD_WRAP, 0);
}

/* ---------------------------------------------------------------- Gather, GatherElements, ScatterElements */

/* Planning: a host-known index input checked against the dim it indexes, so that no index the
 * device would skip or zero silently gets through. */
static vkdl_status check_known_indices(onnx_exec *e, int i, int64_t n)
{
    const onnx_host *h = onnx_in_host(e, i);
    int64_t v;
    for (int64_t k = 0; h && k < h->numel; k++)
        VKDL_TRY(index_in(e, "index", onnx_get_i(h, k), n, &v));
    return VKDL_OK;
}

static vkdl_status gather_shape(onnx_exec *e, int *axis, int *ndim, int64_t *dims)
{
    VKDL_TRY(need_inputs(e, 2));
    int rank = onnx_in_ndim(e, 0), q = onnx_in_ndim(e, 1);
    const int64_t *x = onnx_in_dims(e, 0);
    VKDL_TRY(need_indices(e, 1, "indices"));
    VKDL_TRY(onnx_axis(e, onnx_attr_int(e, "axis", 0), rank, axis));
    if (rank - 1 + q > VKDL_MAX_DIMS)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "output rank %d (at most %d)", rank - 1 + q, VKDL_MAX_DIMS);
    *ndim = 0;
    for (int d = 0; d < rank; d++) {
        if (d != *axis)
            dims[(*ndim)++] = x[d];
        else
            for (int k = 0; k < q; k++)
                dims[(*ndim)++] = onnx_in_dims(e, 1)[k];
    }
    return VKDL_OK;
}

static vkdl_status gather_host(onnx_exec *e)
{
    int axis, ndim;
    int64_t dims[VKDL_MAX_DIMS];
    VKDL_TRY(gather_shape(e, &axis, &ndim, dims));
    const onnx_host *x = onnx_in_host(e, 0), *idx = onnx_in_host(e, 1);
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, x->dtype, ndim, dims, &y));
    int64_t outer = prod(0, axis, x->dims), n = x->dims[axis], inner = prod(axis + 1, x->ndim, x->dims);
    int64_t k_n = idx->numel;
    for (int64_t k = 0; k < k_n; k++) {
        int64_t v;
        VKDL_TRY(index_in(e, "index", onnx_get_i(idx, k), n, &v));
        for (int64_t o = 0; o < outer; o++)
            copy_elems(y, (o * k_n + k) * inner, x, (o * n + v) * inner, inner);
    }
    return VKDL_OK;
}

static vkdl_status gather_device(onnx_exec *e)
{
    int axis, ndim;
    int64_t dims[VKDL_MAX_DIMS];
    vkdl_dtype dd;
    VKDL_TRY(gather_shape(e, &axis, &ndim, dims));
    VKDL_TRY(dev_data(e, false, &dd));
    if (!e->run) {
        VKDL_TRY(check_known_indices(e, 1, onnx_in_dims(e, 0)[axis]));
        return onnx_out_set(e, 0, onnx_in_dtype(e, 0), ndim, dims);
    }
    vkdl_tensor *x, *idx;
    VKDL_TRY(onnx_in(e, 0, &x));
    VKDL_TRY(onnx_in(e, 1, &idx));
    return vkdl_gather(x, idx, axis, onnx_out(e, 0));
}

/* GatherElements and ScatterElements: indices of data's rank, no longer than data off axis;
 * ScatterElements' updates (input 2) have the indices' shape. */
static vkdl_status elements_check(onnx_exec *e, int *axis)
{
    VKDL_TRY(need_inputs(e, strcmp(e->node->op_type, "GatherElements") ? 3 : 2));
    int rank = onnx_in_ndim(e, 0);
    const int64_t *x = onnx_in_dims(e, 0), *idx = onnx_in_dims(e, 1);
    VKDL_TRY(need_indices(e, 1, "indices"));
    VKDL_TRY(onnx_axis(e, onnx_attr_int(e, "axis", 0), rank, axis));
    bool ok = onnx_in_ndim(e, 1) == rank;
    for (int d = 0; ok && d < rank; d++)
        ok = d == *axis || idx[d] <= x[d];
    if (ok && onnx_n_in(e) > 2) {
        ok = onnx_in_ndim(e, 2) == rank && onnx_in_dtype(e, 2) == onnx_in_dtype(e, 0);
        for (int d = 0; ok && d < rank; d++)
            ok = onnx_in_dims(e, 2)[d] == idx[d];
    }
    if (!ok) {
        char sx[VKDL_SHAPE_BUF], si[VKDL_SHAPE_BUF];
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "indices %s (and updates) do not fit data %s on axis %d",
                         onnx_dims_str(onnx_in_ndim(e, 1), idx, si, sizeof si), onnx_dims_str(rank, x, sx, sizeof sx),
                         *axis);
    }
    return VKDL_OK;
}

/* The flat data index that element i of the indices names. */
static vkdl_status element_target(onnx_exec *e, const onnx_host *x, const onnx_host *idx, int axis, int64_t i,
                                  int64_t *t)
{
    int64_t c[VKDL_MAX_DIMS];
    unravel(i, idx->ndim, idx->dims, c);
    VKDL_TRY(index_in(e, "index", onnx_get_i(idx, i), x->dims[axis], &c[axis]));
    *t = ravel(x->ndim, x->dims, c);
    return VKDL_OK;
}

static vkdl_status gather_elements_host(onnx_exec *e)
{
    int axis;
    VKDL_TRY(elements_check(e, &axis));
    const onnx_host *x = onnx_in_host(e, 0), *idx = onnx_in_host(e, 1);
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, x->dtype, idx->ndim, idx->dims, &y));
    for (int64_t i = 0; i < idx->numel; i++) {
        int64_t t;
        VKDL_TRY(element_target(e, x, idx, axis, i, &t));
        copy_elems(y, i, x, t, 1);
    }
    return VKDL_OK;
}

static vkdl_status gather_elements_device(onnx_exec *e)
{
    int axis;
    vkdl_dtype dd;
    VKDL_TRY(elements_check(e, &axis));
    VKDL_TRY(dev_data(e, false, &dd));
    if (!e->run) {
        VKDL_TRY(check_known_indices(e, 1, onnx_in_dims(e, 0)[axis]));
        return onnx_out_set(e, 0, onnx_in_dtype(e, 0), onnx_in_ndim(e, 1), onnx_in_dims(e, 1));
    }
    vkdl_tensor *x, *idx;
    VKDL_TRY(onnx_in(e, 0, &x));
    VKDL_TRY(onnx_in(e, 1, &idx));
    return vkdl_gather_elements(x, idx, axis, onnx_out(e, 0));
}

static vkdl_status reduction_of(onnx_exec *e, vkdl_scatter_reduce *r)
{
    const char *s = onnx_attr_str(e, "reduction", "none");
    *r = VKDL_SCATTER_NONE;
    for (int k = 0; k < VKDL_SCATTER_REDUCE_COUNT; k++)
        if (!strcmp(s, vkdl_scatter_reduce_name((vkdl_scatter_reduce)k))) {
            *r = (vkdl_scatter_reduce)k;
            return VKDL_OK;
        }
    return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "reduction '%s'", s);
}

/* y[t] = y[t] combined with u[j] by r; integers wrap as two's complement. */
static void combine(onnx_host *y, int64_t t, const onnx_host *u, int64_t j, vkdl_scatter_reduce r)
{
    if (r == VKDL_SCATTER_NONE) {
        copy_elems(y, t, u, j, 1);
    } else if (onnx_dtype_is_float(y->dtype)) {
        double a = onnx_get_f(y, t), b = onnx_get_f(u, j);
        onnx_set_f(y, t, r == VKDL_SCATTER_ADD ? a + b : r == VKDL_SCATTER_MUL ? a * b : r == VKDL_SCATTER_MAX ?
                   (a >= b ? a : b) : (a <= b ? a : b));
    } else {
        int64_t a = onnx_get_i(y, t), b = onnx_get_i(u, j);
        onnx_set_i(y, t, r == VKDL_SCATTER_ADD ? (int64_t)((uint64_t)a + (uint64_t)b) :
                   r == VKDL_SCATTER_MUL ? (int64_t)((uint64_t)a * (uint64_t)b) :
                   r == VKDL_SCATTER_MAX ? (a >= b ? a : b) : (a <= b ? a : b));
    }
}

/* Scatter (opsets 9 and 10) is ScatterElements without reductions. */
static vkdl_status scatter_reduction(onnx_exec *e, vkdl_scatter_reduce *r)
{
    if (!strcmp(e->node->op_type, "Scatter")) {
        *r = VKDL_SCATTER_NONE;
        return VKDL_OK;
    }
    return reduction_of(e, r);
}

static vkdl_status scatter_elements_host(onnx_exec *e)
{
    int axis;
    vkdl_scatter_reduce r;
    VKDL_TRY(scatter_reduction(e, &r));
    VKDL_TRY(elements_check(e, &axis));
    const onnx_host *x = onnx_in_host(e, 0), *idx = onnx_in_host(e, 1), *u = onnx_in_host(e, 2);
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, x->dtype, x->ndim, x->dims, &y));
    copy_elems(y, 0, x, 0, x->numel);
    for (int64_t i = 0; i < idx->numel; i++) {
        int64_t t;
        VKDL_TRY(element_target(e, x, idx, axis, i, &t));
        combine(y, t, u, i, r);
    }
    return VKDL_OK;
}

static vkdl_status scatter_elements_device(onnx_exec *e)
{
    int axis;
    vkdl_scatter_reduce r;
    vkdl_dtype dd;
    VKDL_TRY(scatter_reduction(e, &r));
    VKDL_TRY(elements_check(e, &axis));
    VKDL_TRY(dev_data(e, true, &dd));
    if (!e->run) {
        VKDL_TRY(check_known_indices(e, 1, onnx_in_dims(e, 0)[axis]));
        return onnx_out_set(e, 0, onnx_in_dtype(e, 0), onnx_in_ndim(e, 0), onnx_in_dims(e, 0));
    }
    vkdl_tensor *x, *idx, *u;
    VKDL_TRY(onnx_in(e, 0, &x));
    VKDL_TRY(onnx_in(e, 1, &idx));
    VKDL_TRY(onnx_in(e, 2, &u));
    return vkdl_scatter_elements(x, idx, u, axis, r, onnx_out(e, 0));
}

/* ---------------------------------------------------------------- GatherND, ScatterND */

/* data viewed as [B * M, inner] rows: B batches (GatherND's batch_dims), M rows per batch that
 * the last indices dim (last entries) addresses, K index tuples per batch. */
typedef struct nd_spec {
    int b, last, ndim;
    int64_t B, M, K, inner;
    int64_t dims[VKDL_MAX_DIMS];    /* GatherND's output */
} nd_spec;

static vkdl_status nd_spec_of(onnx_exec *e, int b, nd_spec *s)
{
    VKDL_TRY(need_inputs(e, strcmp(e->node->op_type, "GatherND") ? 3 : 2));
    int r = onnx_in_ndim(e, 0), q = onnx_in_ndim(e, 1);
    const int64_t *x = onnx_in_dims(e, 0), *idx = onnx_in_dims(e, 1);
    const onnx_host *known;
    VKDL_TRY(need_indices(e, 1, "indices"));
    VKDL_TRY(onnx_need_host(e, 1, "indices", &known));  /* they decide which rows move */
    if (q < 1 || r < 1 || b < 0 || b >= q || b >= r)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "batch_dims %d for data of rank %d and indices of rank %d",
                         b, r, q);
    s->b = b;
    s->last = (int)(idx[q - 1] < 0 || idx[q - 1] > r ? -1 : idx[q - 1]);
    if (s->last < 1 || s->last > r - b)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "the indices' last dim is %lld for data of rank %d%s",
                         (long long)idx[q - 1], r, b ? " after batch_dims" : "");
    for (int d = 0; d < b; d++)
        if (idx[d] != x[d])
            return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "batch dim %d is %lld in the indices, %lld in data", d,
                             (long long)idx[d], (long long)x[d]);
    s->ndim = q - 1 + r - b - s->last;
    if (s->ndim > VKDL_MAX_DIMS)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "output rank %d (at most %d)", s->ndim, VKDL_MAX_DIMS);
    int n = 0;
    for (int d = 0; d < q - 1; d++)
        s->dims[n++] = idx[d];
    for (int d = b + s->last; d < r; d++)
        s->dims[n++] = x[d];
    s->B = prod(0, b, x);
    s->M = prod(b, b + s->last, x);
    s->inner = prod(b + s->last, r, x);
    s->K = prod(b, q - 1, idx);
    return VKDL_OK;
}

/* The B * K rows the index tuples name (malloc'ed into *rows). */
static vkdl_status nd_rows(onnx_exec *e, const nd_spec *s, int64_t **rows)
{
    const onnx_host *idx = onnx_in_host(e, 1);
    const int64_t *x = onnx_in_dims(e, 0);
    int64_t n = s->B * s->K;
    *rows = malloc((size_t)(n ? n : 1) * sizeof **rows);
    if (!*rows)
        return onnx_fail(e, VKDL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (int64_t t = 0; t < n; t++) {
        int64_t row = 0, v;
        for (int j = 0; j < s->last; j++) {
            vkdl_status st = index_in(e, "index", onnx_get_i(idx, t * s->last + j), x[s->b + j], &v);
            if (st != VKDL_OK) {
                free(*rows);
                *rows = NULL;
                return st;
            }
            row = row * x[s->b + j] + v;
        }
        (*rows)[t] = t / s->K * s->M + row;
    }
    return VKDL_OK;
}

static vkdl_status gathernd_host(onnx_exec *e)
{
    nd_spec s;
    int64_t *rows;
    VKDL_TRY(nd_spec_of(e, (int)onnx_attr_int(e, "batch_dims", 0), &s));
    VKDL_TRY(nd_rows(e, &s, &rows));
    const onnx_host *x = onnx_in_host(e, 0);
    onnx_host *y;
    vkdl_status st = onnx_out_host(e, 0, x->dtype, s.ndim, s.dims, &y);
    for (int64_t t = 0; st == VKDL_OK && t < s.B * s.K; t++)
        copy_elems(y, t * s.inner, x, rows[t] * s.inner, s.inner);
    free(rows);
    return st;
}

static vkdl_status gathernd_device(onnx_exec *e)
{
    nd_spec s;
    int64_t *rows;
    vkdl_dtype dd;
    VKDL_TRY(nd_spec_of(e, (int)onnx_attr_int(e, "batch_dims", 0), &s));
    VKDL_TRY(dev_data(e, false, &dd));
    VKDL_TRY(nd_rows(e, &s, &rows));
    int64_t n = s.B * s.K, xd[2] = {s.B * s.M, s.inner}, od[2] = {n, s.inner};
    vkdl_tensor *x = NULL, *it, *xv, *ov;
    vkdl_status st = host_table(e, VKDL_I32, 1, &n, rows, &it);
    free(rows);
    VKDL_TRY(st);
    if (!e->run)
        VKDL_TRY(onnx_out_set(e, 0, onnx_in_dtype(e, 0), s.ndim, s.dims));
    else
        VKDL_TRY(onnx_in(e, 0, &x));
    VKDL_TRY(onnx_reshape(e, x, 2, xd, &xv));
    VKDL_TRY(onnx_reshape(e, onnx_out(e, 0), 2, od, &ov));
    return e->run ? vkdl_gather(xv, it, 0, ov) : VKDL_OK;
}

/* ScatterND: updates are indices.shape[:-1] + data.shape[last:]. */
static vkdl_status scatternd_spec(onnx_exec *e, nd_spec *s)
{
    VKDL_TRY(nd_spec_of(e, 0, s));
    int q = onnx_in_ndim(e, 1);
    bool ok = onnx_in_ndim(e, 2) == s->ndim && onnx_in_dtype(e, 2) == onnx_in_dtype(e, 0);
    for (int d = 0; ok && d < s->ndim; d++)
        ok = onnx_in_dims(e, 2)[d] == s->dims[d];
    if (!ok) {
        char su[VKDL_SHAPE_BUF], sw[VKDL_SHAPE_BUF];
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "updates are %s %s, expected %s %s (indices' first %d dims "
                         "and data's last %d)", vkdl_dtype_name(onnx_in_dtype(e, 2)),
                         onnx_dims_str(onnx_in_ndim(e, 2), onnx_in_dims(e, 2), su, sizeof su),
                         vkdl_dtype_name(onnx_in_dtype(e, 0)), onnx_dims_str(s->ndim, s->dims, sw, sizeof sw), q - 1,
                         onnx_in_ndim(e, 0) - s->last);
    }
    return VKDL_OK;
}

static vkdl_status scatternd_host(onnx_exec *e)
{
    nd_spec s;
    int64_t *rows;
    vkdl_scatter_reduce r;
    VKDL_TRY(reduction_of(e, &r));
    VKDL_TRY(scatternd_spec(e, &s));
    VKDL_TRY(nd_rows(e, &s, &rows));
    const onnx_host *x = onnx_in_host(e, 0), *u = onnx_in_host(e, 2);
    onnx_host *y;
    vkdl_status st = onnx_out_host(e, 0, x->dtype, x->ndim, x->dims, &y);
    if (st == VKDL_OK)
        copy_elems(y, 0, x, 0, x->numel);
    for (int64_t t = 0; st == VKDL_OK && t < s.K; t++)
        for (int64_t j = 0; j < s.inner; j++)
            combine(y, rows[t] * s.inner + j, u, t * s.inner + j, r);
    free(rows);
    return st;
}

static vkdl_status scatternd_device(onnx_exec *e)
{
    nd_spec s;
    int64_t *rows;
    vkdl_scatter_reduce r;
    vkdl_dtype dd;
    VKDL_TRY(reduction_of(e, &r));
    VKDL_TRY(scatternd_spec(e, &s));
    VKDL_TRY(dev_data(e, true, &dd));
    VKDL_TRY(nd_rows(e, &s, &rows));
    /* vkdl_scatter_elements along the rows: each tuple's row index repeated across the row. */
    int64_t n = s.K * s.inner, td[2] = {s.K, s.inner}, xd[2] = {s.M, s.inner};
    int64_t *table = malloc((size_t)(n ? n : 1) * sizeof *table);
    if (!table) {
        free(rows);
        return onnx_fail(e, VKDL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    for (int64_t i = 0; i < n; i++)
        table[i] = rows[i / s.inner];
    free(rows);
    vkdl_tensor *it = NULL, *x = NULL, *u = NULL, *xv, *uv, *ov;
    vkdl_status st = n ? host_table(e, VKDL_I32, 2, td, table, &it) : VKDL_OK;
    free(table);
    VKDL_TRY(st);
    if (!e->run) {
        VKDL_TRY(onnx_out_set(e, 0, onnx_in_dtype(e, 0), onnx_in_ndim(e, 0), onnx_in_dims(e, 0)));
    } else {
        VKDL_TRY(onnx_in(e, 0, &x));
        if (n)
            VKDL_TRY(onnx_in(e, 2, &u));
    }
    if (!n)
        return e->run ? vkdl_copy(x, onnx_out(e, 0)) : VKDL_OK;
    VKDL_TRY(onnx_reshape(e, x, 2, xd, &xv));
    VKDL_TRY(onnx_reshape(e, u, 2, td, &uv));
    VKDL_TRY(onnx_reshape(e, onnx_out(e, 0), 2, xd, &ov));
    return e->run ? vkdl_scatter_elements(xv, it, uv, 0, r, ov) : VKDL_OK;
}

/* ---------------------------------------------------------------- Compress */

/* The positions the condition selects along axis (or the flattened input, axis -1). */
static vkdl_status compress_spec(onnx_exec *e, int *axis, int64_t **sel, int *ndim, int64_t *dims)
{
    VKDL_TRY(need_inputs(e, 2));
    const onnx_host *c;
    VKDL_TRY(onnx_need_host(e, 1, "condition", &c));
    int rank = onnx_in_ndim(e, 0);
    const int64_t *x = onnx_in_dims(e, 0);
    if (c->ndim != 1)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "condition must be 1-D, not of rank %d", c->ndim);
    *axis = -1;
    if (onnx_attr_get(e, "axis"))
        VKDL_TRY(onnx_axis(e, onnx_attr_int(e, "axis", 0), rank, axis));
    int64_t n = *axis < 0 ? prod(0, rank, x) : x[*axis], k = 0;
    *sel = malloc((size_t)(c->numel ? c->numel : 1) * sizeof **sel);
    if (!*sel)
        return onnx_fail(e, VKDL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (int64_t i = 0; i < c->numel; i++) {
        if (onnx_dtype_is_float(c->dtype) ? onnx_get_f(c, i) == 0 : onnx_get_i(c, i) == 0)
            continue;
        if (i >= n) {
            free(*sel);
            *sel = NULL;
            return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "condition selects entry %lld of %lld", (long long)i,
                             (long long)n);
        }
        (*sel)[k++] = i;
    }
    if (*axis < 0) {
        *ndim = 1;
        dims[0] = k;
    } else {
        *ndim = rank;
        memcpy(dims, x, (size_t)rank * sizeof *dims);
        dims[*axis] = k;
    }
    return VKDL_OK;
}

static vkdl_status compress_host(onnx_exec *e)
{
    int axis, ndim;
    int64_t dims[VKDL_MAX_DIMS], *sel;
    VKDL_TRY(compress_spec(e, &axis, &sel, &ndim, dims));
    const onnx_host *x = onnx_in_host(e, 0);
    onnx_host *y;
    vkdl_status st = onnx_out_host(e, 0, x->dtype, ndim, dims, &y);
    int a = axis < 0 ? 0 : axis;
    int64_t outer = axis < 0 ? 1 : prod(0, a, x->dims), inner = axis < 0 ? 1 : prod(a + 1, x->ndim, x->dims);
    int64_t n = axis < 0 ? x->numel : x->dims[a], k = dims[axis < 0 ? 0 : a];
    for (int64_t o = 0; st == VKDL_OK && o < outer; o++)
        for (int64_t j = 0; j < k; j++)
            copy_elems(y, (o * k + j) * inner, x, (o * n + sel[j]) * inner, inner);
    free(sel);
    return st;
}

static vkdl_status compress_device(onnx_exec *e)
{
    int axis, ndim;
    int64_t dims[VKDL_MAX_DIMS], *sel;
    vkdl_dtype dd;
    VKDL_TRY(compress_spec(e, &axis, &sel, &ndim, dims));
    VKDL_TRY(dev_data(e, false, &dd));
    int64_t k = dims[axis < 0 ? 0 : axis], flat = prod(0, onnx_in_ndim(e, 0), onnx_in_dims(e, 0));
    vkdl_tensor *it, *x = NULL, *xv = NULL;
    vkdl_status st = host_table(e, VKDL_I32, 1, &k, sel, &it);
    free(sel);
    VKDL_TRY(st);
    if (!e->run)
        VKDL_TRY(onnx_out_set(e, 0, onnx_in_dtype(e, 0), ndim, dims));
    else
        VKDL_TRY(onnx_in(e, 0, &x));
    if (axis < 0)
        VKDL_TRY(onnx_reshape(e, x, 1, &flat, &xv));
    return e->run ? vkdl_gather(axis < 0 ? xv : x, it, axis < 0 ? 0 : axis, onnx_out(e, 0)) : VKDL_OK;
}

/* ---------------------------------------------------------------- OneHot */

static vkdl_status onehot_spec(onnx_exec *e, int *axis, int64_t *depth, int *ndim, int64_t *dims)
{
    VKDL_TRY(need_inputs(e, 3));
    const onnx_host *v;
    int r = onnx_in_ndim(e, 0);
    VKDL_TRY(int_scalar(e, 1, "depth", depth));
    VKDL_TRY(onnx_need_host(e, 2, "values", &v));
    if (v->numel != 2)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "values must hold [off, on], not %lld elements",
                         (long long)v->numel);
    if (*depth < 1)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "depth is %lld", (long long)*depth);
    if (r + 1 > VKDL_MAX_DIMS)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "output rank %d (at most %d)", r + 1, VKDL_MAX_DIMS);
    VKDL_TRY(onnx_axis(e, onnx_attr_int(e, "axis", -1), r + 1, axis));
    *ndim = r + 1;
    for (int d = 0, k = 0; d <= r; d++)
        dims[d] = d == *axis ? *depth : onnx_in_dims(e, 0)[k++];
    int64_t n;
    if (*depth > INT32_MAX || vkdl_numel_checked("onnx", *ndim, dims, &n) != VKDL_OK)
        return onnx_fail(e, VKDL_ERROR_SIZE_OVERFLOW, "depth %lld makes too large an output", (long long)*depth);
    return VKDL_OK;
}

static vkdl_status onehot_host(onnx_exec *e)
{
    int axis, ndim;
    int64_t depth, dims[VKDL_MAX_DIMS];
    VKDL_TRY(onehot_spec(e, &axis, &depth, &ndim, dims));
    const onnx_host *idx = onnx_in_host(e, 0), *v = onnx_in_host(e, 2);
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, v->dtype, ndim, dims, &y));
    bool fl = onnx_dtype_is_float(idx->dtype);
    int64_t inner = prod(axis + 1, ndim, dims);
    for (int64_t i = 0; i < y->numel; i++) {
        int64_t d = i / inner % depth, src = i / inner / depth * inner + i % inner;
        double f = fl ? onnx_get_f(idx, src) : 0;
        int64_t k = !fl ? onnx_get_i(idx, src) : fabs(f) < 0x1p62 ? (int64_t)f : depth;  /* NaN matches nothing */
        copy_elems(y, i, v, (k < 0 ? k + depth : k) == d, 1);
    }
    return VKDL_OK;
}

/* The device compares each index with d and with d - depth for every d along axis (so negative
 * indices count from the end and any other index matches nothing), and picks on or off. */
static vkdl_status onehot_device(onnx_exec *e)
{
    int axis, ndim;
    int64_t depth, dims[VKDL_MAX_DIMS], udims[VKDL_MAX_DIMS], rdims[VKDL_MAX_DIMS];
    vkdl_dtype dv, di;
    VKDL_TRY(onehot_spec(e, &axis, &depth, &ndim, dims));
    const onnx_host *v = onnx_in_host(e, 2);
    if (!onnx_device_dtype(v->dtype, &dv))
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "%s values on the device", vkdl_dtype_name(v->dtype));
    VKDL_TRY(dev_dtype(e, 0, &di));
    if (di == VKDL_U8)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "indices of %s", vkdl_dtype_name(onnx_in_dtype(e, 0)));
    for (int d = 0; d < ndim; d++) {
        udims[d] = d == axis ? 1 : dims[d];
        rdims[d] = d == axis ? depth : 1;
    }
    int64_t *table = malloc((size_t)depth * 2 * sizeof *table);
    if (!table)
        return onnx_fail(e, VKDL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (int64_t d = 0; d < depth; d++) {
        table[d] = d;
        table[depth + d] = d - depth;
    }
    vkdl_tensor *pos, *neg, *m[3], *on, *off, *conv = NULL, *idx = NULL, *iv;
    vkdl_status st = host_table(e, VKDL_I32, ndim, rdims, table, &pos);
    if (st == VKDL_OK)
        st = host_table(e, VKDL_I32, ndim, rdims, table + depth, &neg);
    free(table);
    VKDL_TRY(st);
    for (int k = 0; k < 3; k++)
        VKDL_TRY(onnx_temp(e, VKDL_U8, ndim, dims, &m[k]));
    bool fl = onnx_dtype_is_float(v->dtype);
    VKDL_TRY(scalar_temp(e, dv, ndim, fl ? onnx_get_f(v, 1) : (double)onnx_get_i(v, 1), &on));
    VKDL_TRY(scalar_temp(e, dv, ndim, fl ? onnx_get_f(v, 0) : (double)onnx_get_i(v, 0), &off));
    if (di == VKDL_F32)
        VKDL_TRY(onnx_temp(e, VKDL_I32, onnx_in_ndim(e, 0), onnx_in_dims(e, 0), &conv));
    if (!e->run) {
        VKDL_TRY(onnx_out_set(e, 0, v->dtype, ndim, dims));
    } else {
        VKDL_TRY(onnx_in(e, 0, &idx));
        if (conv) {
            VKDL_TRY(vkdl_copy(idx, conv));                 /* truncates, as ONNX casts the indices */
            idx = conv;
        }
    }
    VKDL_TRY(onnx_reshape(e, idx, ndim, udims, &iv));
    if (!e->run)
        return VKDL_OK;
    VKDL_TRY(vkdl_binary(VKDL_EQUAL, iv, pos, m[0]));
    VKDL_TRY(vkdl_binary(VKDL_EQUAL, iv, neg, m[1]));
    VKDL_TRY(vkdl_binary(VKDL_OR, m[0], m[1], m[2]));
    return vkdl_where(m[2], on, off, onnx_out(e, 0));
}

/* ---------------------------------------------------------------- DepthToSpace, SpaceToDepth */

/* The input as 6 dims, the permutation that makes it the output's 6, and the output's 4 dims. */
static vkdl_status block_spec(onnx_exec *e, int64_t *x6, int *perm, int64_t *dims)
{
    VKDL_TRY(need_inputs(e, 1));
    static const int DCR[6] = {0, 3, 4, 1, 5, 2}, CRD[6] = {0, 1, 4, 2, 5, 3}, S2D[6] = {0, 3, 5, 1, 2, 4};
    const int64_t *x = onnx_in_dims(e, 0);
    int64_t b = onnx_attr_int(e, "blocksize", 0);
    if (onnx_in_ndim(e, 0) != 4)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "input must be [N, C, H, W], not of rank %d",
                         onnx_in_ndim(e, 0));
    if (b < 1 || b > INT32_MAX)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "blocksize is %lld", (long long)b);
    bool d2s = !strcmp(e->node->op_type, "DepthToSpace");
    const char *mode = onnx_attr_str(e, "mode", "DCR");
    if (d2s && strcmp(mode, "DCR") && strcmp(mode, "CRD"))
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "mode '%s'", mode);
    if (d2s && x[1] % (b * b))
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "%lld channels are not a multiple of blocksize^2 %lld",
                         (long long)x[1], (long long)(b * b));
    if (!d2s && (x[2] % b || x[3] % b))
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "H %lld and W %lld must be multiples of blocksize %lld",
                         (long long)x[2], (long long)x[3], (long long)b);
    const int *p = !d2s ? S2D : strcmp(mode, "DCR") ? CRD : DCR;
    int64_t c = x[1] / (b * b);
    if (!d2s)
        memcpy(x6, (int64_t[6]){x[0], x[1], x[2] / b, b, x[3] / b, b}, sizeof(int64_t[6]));
    else if (p == DCR)
        memcpy(x6, (int64_t[6]){x[0], b, b, c, x[2], x[3]}, sizeof(int64_t[6]));
    else
        memcpy(x6, (int64_t[6]){x[0], c, b, b, x[2], x[3]}, sizeof(int64_t[6]));
    memcpy(perm, p, sizeof(int[6]));
    dims[0] = x[0];
    dims[1] = d2s ? c : x[1] * b * b;
    dims[2] = d2s ? x[2] * b : x[2] / b;
    dims[3] = d2s ? x[3] * b : x[3] / b;
    return VKDL_OK;
}

static vkdl_status block_host(onnx_exec *e)
{
    int perm[6];
    int64_t x6[6], dims[4], o6[6], c[6], src[6];
    VKDL_TRY(block_spec(e, x6, perm, dims));
    const onnx_host *x = onnx_in_host(e, 0);
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, x->dtype, 4, dims, &y));
    for (int d = 0; d < 6; d++)
        o6[d] = x6[perm[d]];
    for (int64_t i = 0; i < y->numel; i++) {
        unravel(i, 6, o6, c);
        for (int d = 0; d < 6; d++)
            src[perm[d]] = c[d];
        copy_elems(y, i, x, ravel(6, x6, src), 1);
    }
    return VKDL_OK;
}

static vkdl_status block_device(onnx_exec *e)
{
    int perm[6];
    int64_t x6[6], dims[4], o6[6];
    vkdl_dtype dd;
    VKDL_TRY(block_spec(e, x6, perm, dims));
    VKDL_TRY(dev_data(e, false, &dd));
    for (int d = 0; d < 6; d++)
        o6[d] = x6[perm[d]];
    vkdl_tensor *x = NULL, *xv, *ov;
    if (!e->run)
        VKDL_TRY(onnx_out_set(e, 0, onnx_in_dtype(e, 0), 4, dims));
    else
        VKDL_TRY(onnx_in(e, 0, &x));
    VKDL_TRY(onnx_reshape(e, x, 6, x6, &xv));
    VKDL_TRY(onnx_reshape(e, onnx_out(e, 0), 6, o6, &ov));
    return e->run ? vkdl_permute(xv, perm, ov) : VKDL_OK;
}

/* ---------------------------------------------------------------- Trilu, EyeLike */

static vkdl_status trilu_spec(onnx_exec *e, int64_t *k, bool *upper)
{
    VKDL_TRY(need_inputs(e, 1));
    *k = 0;
    if (onnx_in_ndim(e, 0) < 2)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "input must have rank 2 or more, not %d", onnx_in_ndim(e, 0));
    if (onnx_n_in(e) > 1 && onnx_has_in(e, 1))
        VKDL_TRY(int_scalar(e, 1, "k", k));
    *upper = onnx_attr_int(e, "upper", 1) != 0;
    return VKDL_OK;
}

/* Whether Trilu keeps row i, column j. */
static bool trilu_keeps(int64_t i, int64_t j, int64_t k, bool upper) { return upper ? j - i >= k : j - i <= k; }

static vkdl_status trilu_host(onnx_exec *e)
{
    int64_t k;
    bool upper;
    VKDL_TRY(trilu_spec(e, &k, &upper));
    const onnx_host *x = onnx_in_host(e, 0);
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, x->dtype, x->ndim, x->dims, &y));
    int64_t n = x->dims[x->ndim - 2], m = x->dims[x->ndim - 1];
    for (int64_t i = 0; i < y->numel; i++)
        if (trilu_keeps(i / m % n, i % m, k, upper))
            copy_elems(y, i, x, i, 1);
    return VKDL_OK;
}

/* The device picks x or zero through a mask of the last two dims, shared by every matrix. */
static vkdl_status trilu_device(onnx_exec *e)
{
    int64_t k;
    bool upper;
    vkdl_dtype dd;
    int rank = onnx_in_ndim(e, 0);
    VKDL_TRY(trilu_spec(e, &k, &upper));
    VKDL_TRY(dev_data(e, false, &dd));
    const int64_t *x = onnx_in_dims(e, 0);
    int64_t n = x[rank - 2], m = x[rank - 1], nm = n * m;
    int64_t *table = malloc((size_t)(nm ? nm : 1) * sizeof *table);
    if (!table)
        return onnx_fail(e, VKDL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (int64_t i = 0; i < nm; i++)
        table[i] = trilu_keeps(i / m, i % m, k, upper);
    vkdl_tensor *mask, *zero, *xt;
    vkdl_status st = host_table(e, VKDL_U8, 2, x + rank - 2, table, &mask);
    free(table);
    VKDL_TRY(st);
    VKDL_TRY(scalar_temp(e, dd, 1, 0, &zero));
    if (!e->run)
        return onnx_out_set(e, 0, onnx_in_dtype(e, 0), rank, x);
    VKDL_TRY(onnx_in(e, 0, &xt));
    return vkdl_where(mask, xt, zero, onnx_out(e, 0));
}

/* EyeLike's output depends only on its input's shape, so it is always made on the host. */
static vkdl_status eyelike_host(onnx_exec *e)
{
    VKDL_TRY(need_inputs(e, 1));
    vkdl_dtype dt = onnx_in_dtype(e, 0);
    const onnx_attr *a = onnx_attr_get(e, "dtype");
    if (a && !onnx_dtype_from_proto((int32_t)a->i, &dt))
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "dtype %lld", (long long)a->i);
    if (onnx_in_ndim(e, 0) != 2)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "input must be 2-D, not of rank %d", onnx_in_ndim(e, 0));
    int64_t k = onnx_attr_int(e, "k", 0);
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, dt, 2, onnx_in_dims(e, 0), &y));
    int64_t n = y->dims[0], m = y->dims[1];
    for (int64_t i = 0; i < n && k < m && k > -n; i++)
        if (i + k >= 0 && i + k < m)
            onnx_set_i(y, i * m + i + k, 1);
    return VKDL_OK;
}

/* ---------------------------------------------------------------- ReverseSequence */

static vkdl_status reverse_spec(onnx_exec *e, int *bax, int *tax, const onnx_host **lens)
{
    VKDL_TRY(need_inputs(e, 2));
    int rank = onnx_in_ndim(e, 0);
    int64_t b = onnx_attr_int(e, "batch_axis", 1), t = onnx_attr_int(e, "time_axis", 0);
    if (rank < 2 || b < 0 || b > 1 || t < 0 || t > 1 || b == t)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "batch_axis %lld and time_axis %lld must be 0 and 1 in "
                         "some order, for input of rank >= 2 (%d)", (long long)b, (long long)t, rank);
    *bax = (int)b;
    *tax = (int)t;
    VKDL_TRY(onnx_need_host(e, 1, "sequence_lens", lens));
    const int64_t *x = onnx_in_dims(e, 0);
    if ((*lens)->ndim != 1 || (*lens)->dims[0] != x[b])
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "sequence_lens must be [%lld]", (long long)x[b]);
    for (int64_t i = 0; i < x[b]; i++) {
        int64_t l = onnx_get_i(*lens, i);
        if (l < 0 || l > x[t])
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "sequence_lens entry %lld is %lld, outside [0, %lld]",
                             (long long)i, (long long)l, (long long)x[t]);
    }
    return VKDL_OK;
}

static vkdl_status reverse_host(onnx_exec *e)
{
    int bax, tax;
    const onnx_host *lens;
    VKDL_TRY(reverse_spec(e, &bax, &tax, &lens));
    const onnx_host *x = onnx_in_host(e, 0);
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, x->dtype, x->ndim, x->dims, &y));
    for (int64_t i = 0; i < y->numel; i++) {
        int64_t c[VKDL_MAX_DIMS], l;
        unravel(i, x->ndim, x->dims, c);
        l = onnx_get_i(lens, c[bax]);
        if (c[tax] < l)
            c[tax] = l - 1 - c[tax];
        copy_elems(y, i, x, ravel(x->ndim, x->dims, c), 1);
    }
    return VKDL_OK;
}

/* A copy, then one reversed window per sequence longer than 1. */
static vkdl_status reverse_device(onnx_exec *e)
{
    int bax, tax;
    const onnx_host *lens;
    vkdl_dtype dd;
    VKDL_TRY(reverse_spec(e, &bax, &tax, &lens));
    VKDL_TRY(dev_data(e, false, &dd));
    if (!e->run)
        return onnx_out_set(e, 0, onnx_in_dtype(e, 0), onnx_in_ndim(e, 0), onnx_in_dims(e, 0));
    vkdl_tensor *x;
    VKDL_TRY(onnx_in(e, 0, &x));
    VKDL_TRY(vkdl_copy(x, onnx_out(e, 0)));
    for (int64_t b = 0; b < lens->numel; b++) {
        int64_t l = onnx_get_i(lens, b);
        if (l < 2)
            continue;
        vkdl_view_info v = {0};
        v.start[bax] = v.out_offset[bax] = b;
        v.extent[bax] = 1;
        v.start[tax] = l - 1;
        v.step[tax] = -1;
        v.extent[tax] = l;
        VKDL_TRY(vkdl_view_copy(x, onnx_out(e, 0), &v));
    }
    return VKDL_OK;
}

/* ---------------------------------------------------------------- NonZero, CumSum, Where, TopK */

static bool nonzero_at(const onnx_host *x, int64_t i)
{
    return onnx_dtype_is_float(x->dtype) ? onnx_get_f(x, i) != 0 : onnx_get_i(x, i) != 0;
}

static vkdl_status nonzero_host(onnx_exec *e)
{
    VKDL_TRY(need_inputs(e, 1));
    const onnx_host *x = onnx_in_host(e, 0);
    int64_t nnz = 0, dims[2], c[VKDL_MAX_DIMS];
    for (int64_t i = 0; i < x->numel; i++)
        nnz += nonzero_at(x, i);
    dims[0] = x->ndim;
    dims[1] = nnz;
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, VKDL_I64, 2, dims, &y));
    for (int64_t i = 0, k = 0; i < x->numel; i++) {
        if (!nonzero_at(x, i))
            continue;
        unravel(i, x->ndim, x->dims, c);
        for (int d = 0; d < x->ndim; d++)
            onnx_set_i(y, d * nnz + k, c[d]);
        k++;
    }
    return VKDL_OK;
}

/* NonZero's output shape depends on the data, so it runs on the host: its input must be known. */
static vkdl_status nonzero_device(onnx_exec *e)
{
    const onnx_host *h;
    VKDL_TRY(onnx_need_host(e, 0, "X, whose nonzeros decide the output's shape", &h));
    return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "internal: X is known but the host did not run");
}

static vkdl_status cumsum_axis(onnx_exec *e, int *axis)
{
    VKDL_TRY(need_inputs(e, 2));
    int64_t a;
    VKDL_TRY(int_scalar(e, 1, "axis", &a));
    return onnx_axis(e, a, onnx_in_ndim(e, 0), axis);
}

static vkdl_status cumsum_host(onnx_exec *e)
{
    const onnx_host *x = onnx_in_host(e, 0);
    int axis;
    VKDL_TRY(cumsum_axis(e, &axis));
    bool excl = onnx_attr_int(e, "exclusive", 0) != 0, rev = onnx_attr_int(e, "reverse", 0) != 0;
    bool fl = onnx_dtype_is_float(x->dtype);
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, x->dtype, x->ndim, x->dims, &y));
    int64_t outer = prod(0, axis, x->dims), n = x->dims[axis], inner = prod(axis + 1, x->ndim, x->dims);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            double f = 0;
            uint64_t s = 0;                              /* integers wrap as two's complement */
            for (int64_t k = 0; k < n; k++) {
                int64_t i = (o * n + (rev ? n - 1 - k : k)) * inner + in;
                if (!excl) {
                    f += fl ? onnx_get_f(x, i) : 0;
                    s += fl ? 0 : (uint64_t)onnx_get_i(x, i);
                }
                if (fl)
                    onnx_set_f(y, i, f);
                else
                    onnx_set_i(y, i, (int64_t)s);
                if (excl) {
                    f += fl ? onnx_get_f(x, i) : 0;
                    s += fl ? 0 : (uint64_t)onnx_get_i(x, i);
                }
            }
        }
    return VKDL_OK;
}

static vkdl_status cumsum_device(onnx_exec *e)
{
    int axis;
    vkdl_dtype dd;
    VKDL_TRY(cumsum_axis(e, &axis));
    VKDL_TRY(dev_data(e, true, &dd));
    if (!e->run)
        return onnx_out_set(e, 0, onnx_in_dtype(e, 0), onnx_in_ndim(e, 0), onnx_in_dims(e, 0));
    vkdl_tensor *x;
    VKDL_TRY(onnx_in(e, 0, &x));
    return vkdl_cumsum(x, axis, onnx_attr_int(e, "exclusive", 0) != 0, onnx_attr_int(e, "reverse", 0) != 0,
                       onnx_out(e, 0));
}

static vkdl_status where_shape(onnx_exec *e, int *n, int64_t *dims)
{
    VKDL_TRY(need_inputs(e, 3));
    int n1;
    int64_t d1[VKDL_MAX_DIMS];
    if (onnx_in_dtype(e, 1) != onnx_in_dtype(e, 2))
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "X is %s and Y %s", vkdl_dtype_name(onnx_in_dtype(e, 1)),
                         vkdl_dtype_name(onnx_in_dtype(e, 2)));
    if (onnx_in_dtype(e, 0) != VKDL_BOOL)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "condition is %s, not bool",
                         vkdl_dtype_name(onnx_in_dtype(e, 0)));
    VKDL_TRY(onnx_broadcast(e, onnx_in_ndim(e, 0), onnx_in_dims(e, 0), onnx_in_ndim(e, 1), onnx_in_dims(e, 1), &n1,
                            d1));
    return onnx_broadcast(e, n1, d1, onnx_in_ndim(e, 2), onnx_in_dims(e, 2), n, dims);
}

static vkdl_status where_device(onnx_exec *e)
{
    int n;
    int64_t dims[VKDL_MAX_DIMS];
    vkdl_dtype dd;
    VKDL_TRY(dev_dtype(e, 1, &dd));
    VKDL_TRY(where_shape(e, &n, dims));
    if (!e->run)
        return onnx_out_set(e, 0, onnx_in_dtype(e, 1), n, dims);
    vkdl_tensor *t[3];
    for (int i = 0; i < 3; i++)
        VKDL_TRY(onnx_in(e, i, &t[i]));
    return vkdl_where(t[0], t[1], t[2], onnx_out(e, 0));
}

static vkdl_status where_host(onnx_exec *e)
{
    const onnx_host *c = onnx_in_host(e, 0), *x = onnx_in_host(e, 1), *y = onnx_in_host(e, 2);
    int n;
    int64_t dims[VKDL_MAX_DIMS];
    VKDL_TRY(where_shape(e, &n, dims));
    onnx_host *out;
    VKDL_TRY(onnx_out_host(e, 0, x->dtype, n, dims, &out));
    for (int64_t i = 0; i < out->numel; i++) {
        bool pick = nonzero_at(c, onnx_bcast_src(i, n, dims, c->ndim, c->dims));
        const onnx_host *s = pick ? x : y;
        copy_elems(out, i, s, onnx_bcast_src(i, n, dims, s->ndim, s->dims), 1);
    }
    return VKDL_OK;
}

/* TopK's k (an attribute before opset 10, input 1 since) and axis. */
static vkdl_status topk_spec(onnx_exec *e, int *axis, int64_t *k)
{
    VKDL_TRY(need_inputs(e, e->opset < 10 ? 1 : 2));
    int rank = onnx_in_ndim(e, 0);
    if (e->opset < 10)
        *k = onnx_attr_int(e, "k", -1);
    else
        VKDL_TRY(int_scalar(e, 1, "K", k));
    VKDL_TRY(onnx_axis(e, onnx_attr_int(e, "axis", -1), rank, axis));
    int64_t n = onnx_in_dims(e, 0)[*axis];
    if (*k < 0 || *k > n)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "k is %lld for axis %d of size %lld", (long long)*k, *axis,
                         (long long)n);
    return VKDL_OK;
}

/* An element of a TopK line: floats keyed by f (i 0), integers by i (f 0), then position. */
typedef struct topk_item {
    double f;
    int64_t i, pos;
} topk_item;

/* a before b in ascending order, NaN above +inf as vkdl_topk orders it. */
static int topk_key_cmp(const topk_item *a, const topk_item *b)
{
    bool na = isnan(a->f), nb = isnan(b->f);
    if (na || nb)
        return na - nb;
    if (a->f != b->f)
        return a->f < b->f ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

static int topk_cmp_largest(const void *pa, const void *pb)
{
    const topk_item *a = pa, *b = pb;
    int c = topk_key_cmp(b, a);
    return c ? c : (a->pos > b->pos) - (a->pos < b->pos);
}

static int topk_cmp_smallest(const void *pa, const void *pb)
{
    const topk_item *a = pa, *b = pb;
    int c = topk_key_cmp(a, b);
    return c ? c : (a->pos > b->pos) - (a->pos < b->pos);
}

static vkdl_status topk_host(onnx_exec *e)
{
    int axis;
    int64_t k, dims[VKDL_MAX_DIMS];
    VKDL_TRY(topk_spec(e, &axis, &k));
    const onnx_host *x = onnx_in_host(e, 0);
    bool fl = onnx_dtype_is_float(x->dtype), largest = onnx_attr_int(e, "largest", 1) != 0;
    memcpy(dims, x->dims, (size_t)x->ndim * sizeof *dims);
    dims[axis] = k;
    onnx_host *v, *ix;
    VKDL_TRY(onnx_out_host(e, 0, x->dtype, x->ndim, dims, &v));
    VKDL_TRY(onnx_out_host(e, 1, VKDL_I64, x->ndim, dims, &ix));
    int64_t outer = prod(0, axis, x->dims), n = x->dims[axis], inner = prod(axis + 1, x->ndim, x->dims);
    topk_item *it = malloc((size_t)(n ? n : 1) * sizeof *it);
    if (!it)
        return onnx_fail(e, VKDL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            for (int64_t t = 0; t < n; t++) {
                int64_t src = (o * n + t) * inner + in;
                it[t] = (topk_item){.f = fl ? onnx_get_f(x, src) : 0, .i = fl ? 0 : onnx_get_i(x, src), .pos = t};
            }
            qsort(it, (size_t)n, sizeof *it, largest ? topk_cmp_largest : topk_cmp_smallest);
            for (int64_t j = 0; j < k; j++) {
                int64_t dst = (o * k + j) * inner + in;
                copy_elems(v, dst, x, (o * n + it[j].pos) * inner + in, 1);
                onnx_set_i(ix, dst, it[j].pos);
            }
        }
    free(it);
    return VKDL_OK;
}

/* vkdl_topk works along the last axis: another axis is moved last and back with vkdl_permute. */
static vkdl_status topk_device(onnx_exec *e)
{
    int axis, rank = onnx_in_ndim(e, 0), perm[VKDL_MAX_DIMS], back[VKDL_MAX_DIMS];
    int64_t k, dims[VKDL_MAX_DIMS], pd[VKDL_MAX_DIMS], pk[VKDL_MAX_DIMS];
    vkdl_dtype dd;
    VKDL_TRY(topk_spec(e, &axis, &k));
    VKDL_TRY(dev_data(e, false, &dd));
    if (dd != VKDL_F32)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "%s data on the device (float only)",
                         vkdl_dtype_name(onnx_in_dtype(e, 0)));
    const int64_t *x = onnx_in_dims(e, 0);
    memcpy(dims, x, (size_t)rank * sizeof *dims);
    dims[axis] = k;
    for (int d = 0, j = 0; d < rank; d++)
        if (d != axis)
            perm[j++] = d;
    perm[rank - 1] = axis;
    for (int d = 0; d < rank; d++) {
        pd[d] = x[perm[d]];
        pk[d] = dims[perm[d]];
        back[perm[d]] = d;
    }
    bool moved = axis != rank - 1;
    vkdl_tensor *xt = NULL, *xp = NULL, *vp = NULL, *ip = NULL, *vt = NULL, *it = NULL;
    if (moved) {
        VKDL_TRY(onnx_temp(e, VKDL_F32, rank, pd, &xp));
        VKDL_TRY(onnx_temp(e, VKDL_F32, rank, pk, &vp));
        VKDL_TRY(onnx_temp(e, VKDL_I32, rank, pk, &ip));
    }
    if (!onnx_has_out(e, 0))
        VKDL_TRY(onnx_temp(e, VKDL_F32, rank, dims, &vt));
    if (!e->run) {
        if (onnx_has_out(e, 0))
            VKDL_TRY(onnx_out_set(e, 0, onnx_in_dtype(e, 0), rank, dims));
        return onnx_has_out(e, 1) ? onnx_out_set(e, 1, VKDL_I64, rank, dims) : VKDL_OK;
    }
    VKDL_TRY(onnx_in(e, 0, &xt));
    if (onnx_has_out(e, 0))
        vt = onnx_out(e, 0);
    if (onnx_has_out(e, 1))
        it = onnx_out(e, 1);
    if (!moved)
        return vkdl_topk(xt, k, onnx_attr_int(e, "largest", 1) != 0, vt, it);
    VKDL_TRY(vkdl_permute(xt, perm, xp));
    VKDL_TRY(vkdl_topk(xp, k, onnx_attr_int(e, "largest", 1) != 0, vp, it ? ip : NULL));
    VKDL_TRY(vkdl_permute(vp, back, vt));
    return it ? vkdl_permute(ip, back, it) : VKDL_OK;
}

const onnx_op onnx_ops_index[] = {
    {"Concat", concat_host, concat_device},
    {"Split", split_host, split_device},
    {"Slice", slice_host, slice_device},
    {"Pad", pad_host, pad_device},
    {"Tile", tile_host, tile_device},
    {"Expand", expand_host, expand_device},
    {"Gather", gather_host, gather_device},
    {"GatherElements", gather_elements_host, gather_elements_device},
    {"ScatterElements", scatter_elements_host, scatter_elements_device},
    {"Scatter", scatter_elements_host, scatter_elements_device},
    {"GatherND", gathernd_host, gathernd_device},
    {"ScatterND", scatternd_host, scatternd_device},
    {"Compress", compress_host, compress_device},
    {"OneHot", onehot_host, onehot_device},
    {"DepthToSpace", block_host, block_device},
    {"SpaceToDepth", block_host, block_device},
    {"Trilu", trilu_host, trilu_device},
    {"EyeLike", eyelike_host, eyelike_host},
    {"ReverseSequence", reverse_host, reverse_device},
    {"NonZero", nonzero_host, nonzero_device},
    {"CumSum", cumsum_host, cumsum_device},
    {"Where", where_host, where_device},
    {"TopK", topk_host, topk_device},
};
const int onnx_ops_index_count = (int)VKDL_ARRAY_LEN(onnx_ops_index);
