/* ONNX's reductions: ReduceSum, ReduceMean, ReduceMax, ... over any set of axes, ArgMax/ArgMin.
 * The host side accumulates floats in double and integers in int64; the device side makes the
 * reduced axes one contiguous block (permuting into scratch when they are not), views the input as
 * [outer, reduced, inner] and runs one vkdl_reduce over the middle axis. */
#include "onnx/onnx.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum reduce_kind {
    R_SUM, R_MEAN, R_MAX, R_MIN, R_PROD, R_L1, R_L2, R_SUM_SQUARE, R_LOG_SUM, R_LOG_SUM_EXP,
} reduce_kind;

typedef struct reduce_row {
    const char *type;
    reduce_kind kind;
    vkdl_reduce_op op;              /* what the device runs (then LOG for ReduceLogSum) */
} reduce_row;

static const reduce_row REDUCE[] = {
    {"ReduceSum", R_SUM, VKDL_SUM},
    {"ReduceMean", R_MEAN, VKDL_MEAN},
    {"ReduceMax", R_MAX, VKDL_MAX},
    {"ReduceMin", R_MIN, VKDL_MIN},
    {"ReduceProd", R_PROD, VKDL_PROD},
    {"ReduceL1", R_L1, VKDL_L1},
    {"ReduceL2", R_L2, VKDL_L2},
    {"ReduceSumSquare", R_SUM_SQUARE, VKDL_SUM_SQUARE},
    {"ReduceLogSum", R_LOG_SUM, VKDL_SUM},
    {"ReduceLogSumExp", R_LOG_SUM_EXP, VKDL_LOG_SUM_EXP},
};

static const reduce_row *reduce_find(const char *type)
{
    for (size_t i = 0; i < VKDL_ARRAY_LEN(REDUCE); i++)
        if (!strcmp(REDUCE[i].type, type))
            return &REDUCE[i];
    return NULL;
}

/* A float converted to an integer as a C cast does (NaN to 0, out of range saturated). */
static int64_t trunc_i(double v)
{
    return isnan(v) ? 0 : v >= 0x1p63 ? INT64_MAX : v <= -0x1p63 ? INT64_MIN : (int64_t)v;
}

/* The device has no kernel for this: the node runs on the host, so data computed on the device is
 * refused with the plan-time message (give the graph input it comes from a value). */
static vkdl_status host_only(onnx_exec *e)
{
    char why[128];
    snprintf(why, sizeof why, "%s on %s data runs on the host only", e->node->op_type,
             vkdl_dtype_name(onnx_in_dtype(e, 0)));
    const onnx_host *h;
    VKDL_TRY(onnx_need_host(e, 0, why, &h));
    return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "%s", why);
}

/* ---------------------------------------------------------------- shapes */

/* Which axes are reduced: the axes attribute (ReduceSum before opset 13, the others before 18) or
 * input 1; none given means all, or with noop_with_empty_axes (*noop) the input unchanged. */
static vkdl_status reduce_axes(onnx_exec *e, int rank, bool *mask, bool *noop)
{
    int64_t raw[VKDL_MAX_DIMS];
    const int64_t *a;
    int n = onnx_attr_ints(e, "axes", &a);
    if (n > VKDL_MAX_DIMS)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "%d axes for rank %d", n, rank);
    if (n >= 0) {
        memcpy(raw, a, (size_t)n * sizeof *a);
    } else if (onnx_has_in(e, 1)) {
        const onnx_host *h;
        VKDL_TRY(onnx_need_host(e, 1, "axes", &h));
        if (h->ndim > 1 || onnx_dtype_is_float(h->dtype) || h->numel > VKDL_MAX_DIMS)
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "axes must be a 1-D integer tensor of at most %d "
                             "entries, not %s of %lld", VKDL_MAX_DIMS, vkdl_dtype_name(h->dtype), (long long)h->numel);
        n = (int)h->numel;
        for (int k = 0; k < n; k++)
            raw[k] = onnx_get_i(h, k);
    }
    *noop = n <= 0 && onnx_attr_int(e, "noop_with_empty_axes", 0);
    for (int d = 0; d < rank; d++)
        mask[d] = n <= 0 && !*noop;
    for (int k = 0; k < n; k++) {
        int ax;
        VKDL_TRY(onnx_axis(e, raw[k], rank, &ax));
        if (mask[ax])
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "axis %d is listed twice", ax);
        mask[ax] = true;
    }
    return VKDL_OK;
}

/* The output's shape: reduced dims kept as 1 (keepdims) or dropped. */
static int reduced_shape(int rank, const int64_t *dims, const bool *mask, bool keep, int64_t *out)
{
    int n = 0;
    for (int d = 0; d < rank; d++)
        if (!mask[d] || keep)
            out[n++] = mask[d] ? 1 : dims[d];
    return n;
}

/* ---------------------------------------------------------------- host */

static double fold_f(reduce_kind k, double acc, double v)
{
    switch (k) {
    case R_MAX: return isnan(acc) || isnan(v) ? NAN : v > acc ? v : acc;
    case R_MIN: return isnan(acc) || isnan(v) ? NAN : v < acc ? v : acc;
    case R_PROD: return acc * v;
    case R_L1: return acc + fabs(v);
    case R_L2: case R_SUM_SQUARE: return acc + v * v;
    default: return acc + v;                             /* SUM, MEAN, LOG_SUM, LOG_SUM_EXP's exp(x - max) */
    }
}

static int64_t fold_i(reduce_kind k, int64_t acc, int64_t v)
{
    switch (k) {
    case R_MAX: return v > acc ? v : acc;
    case R_MIN: return v < acc ? v : acc;
    case R_PROD: return (int64_t)((uint64_t)acc * (uint64_t)v);
    case R_L1: return (int64_t)((uint64_t)acc + (uint64_t)(v < 0 ? 0 - (uint64_t)v : (uint64_t)v));
    case R_SUM_SQUARE: return (int64_t)((uint64_t)acc + (uint64_t)v * (uint64_t)v);
    default: return (int64_t)((uint64_t)acc + (uint64_t)v);
    }
}

/* Input element i's index in the output (its reduced coordinates dropped). */
static int64_t out_index(int64_t i, int rank, const int64_t *dims, const bool *mask)
{
    int64_t o = 0, stride = 1;
    for (int d = rank - 1; d >= 0; d--) {
        int64_t c = i % dims[d];
        i /= dims[d];
        if (!mask[d]) {
            o += c * stride;
            stride *= dims[d];
        }
    }
    return o;
}

static vkdl_status reduce_host(onnx_exec *e)
{
    const reduce_row *r = reduce_find(e->node->op_type);
    const onnx_host *x;
    VKDL_TRY(onnx_need_host(e, 0, "data", &x));
    bool mask[VKDL_MAX_DIMS], noop;
    VKDL_TRY(reduce_axes(e, x->ndim, mask, &noop));
    if (noop) {
        onnx_host *y;
        VKDL_TRY(onnx_out_host(e, 0, x->dtype, x->ndim, x->dims, &y));
        if (x->numel)
            memcpy(y->data, x->data, (size_t)x->numel * vkdl_dtype_size(x->dtype));
        return VKDL_OK;
    }
    int64_t dims[VKDL_MAX_DIMS], count = 1;
    int n = reduced_shape(x->ndim, x->dims, mask, onnx_attr_int(e, "keepdims", 1) != 0, dims);
    for (int d = 0; d < x->ndim; d++)
        count *= mask[d] ? x->dims[d] : 1;
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, x->dtype, n, dims, &y));
    /* Integers stay in int64 where the result is an integer sum, product or extreme. */
    bool exact = !onnx_dtype_is_float(x->dtype) && r->kind != R_L2 && r->kind != R_LOG_SUM &&
                 r->kind != R_LOG_SUM_EXP;
    double *af = calloc((size_t)y->numel + 1, sizeof *af), *mx = calloc((size_t)y->numel + 1, sizeof *mx);
    int64_t *ai = calloc((size_t)y->numel + 1, sizeof *ai);
    if (!af || !mx || !ai) {
        free(af), free(mx), free(ai);
        return onnx_fail(e, VKDL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    for (int64_t o = 0; o < y->numel; o++) {
        af[o] = r->kind == R_PROD ? 1 : r->kind == R_MAX ? -INFINITY : r->kind == R_MIN ? INFINITY : 0;
        ai[o] = r->kind == R_PROD ? 1 : r->kind == R_MAX ? INT64_MIN : r->kind == R_MIN ? INT64_MAX : 0;
        mx[o] = -INFINITY;
    }
    if (r->kind == R_LOG_SUM_EXP)                        /* each output's maximum keeps exp in range */
        for (int64_t i = 0; i < x->numel; i++) {
            int64_t o = out_index(i, x->ndim, x->dims, mask);
            mx[o] = fold_f(R_MAX, mx[o], onnx_get_f(x, i));
        }
    for (int64_t i = 0; i < x->numel; i++) {
        int64_t o = out_index(i, x->ndim, x->dims, mask);
        if (exact)
            ai[o] = fold_i(r->kind, ai[o], onnx_get_i(x, i));
        else if (r->kind == R_LOG_SUM_EXP)
            af[o] += isinf(mx[o]) ? 0 : exp(onnx_get_f(x, i) - mx[o]);
        else
            af[o] = fold_f(r->kind, af[o], onnx_get_f(x, i));
    }
    for (int64_t o = 0; o < y->numel; o++) {
        if (exact) {
            onnx_set_i(y, o, r->kind != R_MEAN ? ai[o] : count ? ai[o] / count : 0);
            continue;
        }
        double v = af[o];
        switch (r->kind) {
        case R_MEAN: v /= (double)count; break;
        case R_L2: v = sqrt(v); break;
        case R_LOG_SUM: v = log(v); break;
        case R_LOG_SUM_EXP: v = isinf(mx[o]) || isnan(mx[o]) ? mx[o] : mx[o] + log(v); break;
        default: break;
        }
        if (onnx_dtype_is_float(x->dtype))
            onnx_set_f(y, o, v);
        else
            onnx_set_i(y, o, trunc_i(v));
    }
    free(af), free(mx), free(ai);
    return VKDL_OK;
}

/* ---------------------------------------------------------------- device */

/* x viewed as [outer, reduced, inner] with the reduced axes contiguous: either they already are
 * (*perm_needed false), or perm moves them after the kept ones. */
static void reduce_layout(int rank, const int64_t *dims, const bool *mask, int64_t *v3, bool *perm_needed, int *perm)
{
    int first = -1, last = -1, k = 0;
    for (int d = 0; d < rank; d++)
        if (mask[d]) {
            first = first < 0 ? d : first;
            last = d;
        }
    bool contiguous = true;
    for (int d = first; d >= 0 && d <= last; d++)
        contiguous &= mask[d];
    *perm_needed = !contiguous;
    v3[0] = v3[1] = v3[2] = 1;
    for (int d = 0; d < rank; d++) {
        int part = mask[d] ? 1 : contiguous && first >= 0 && d > last ? 2 : 0;
        v3[part] *= dims[d];
    }
    for (int d = 0; d < rank; d++)
        if (!mask[d])
            perm[k++] = d;
    for (int d = 0; d < rank; d++)
        if (mask[d])
            perm[k++] = d;
}

static vkdl_status reduce_device(onnx_exec *e)
{
    const reduce_row *r = reduce_find(e->node->op_type);
    if (!onnx_has_in(e, 0))
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "input 0 is missing");
    vkdl_dtype dt = onnx_in_dtype(e, 0);
    int rank = onnx_in_ndim(e, 0);
    const int64_t *xd = onnx_in_dims(e, 0);
    bool mask[VKDL_MAX_DIMS], noop;
    VKDL_TRY(reduce_axes(e, rank, mask, &noop));
    if (noop)
        return e->run ? VKDL_OK : onnx_out_view(e, 0, 0, rank, xd);
    int64_t dims[VKDL_MAX_DIMS];
    int n = reduced_shape(rank, xd, mask, onnx_attr_int(e, "keepdims", 1) != 0, dims);
    if (!onnx_dtype_is_float(dt) || dt == VKDL_F64)
        return host_only(e);
    int64_t v3[3], o3[3];
    int perm[VKDL_MAX_DIMS];
    bool permute;
    reduce_layout(rank, xd, mask, v3, &permute, perm);
    memcpy(o3, v3, sizeof o3);
    o3[1] = 1;
    if (v3[1] == 0 && (r->kind == R_MAX || r->kind == R_MIN)) {   /* vkdl_reduce refuses an empty axis */
        if (!e->run)
            return onnx_out_set(e, 0, dt, n, dims);
        return vkdl_tensor_fill(onnx_out(e, 0), r->kind == R_MAX ? -INFINITY : INFINITY);
    }
    vkdl_tensor *src = NULL, *sum = NULL, *xv, *ov;
    if (permute) {
        int64_t pd[VKDL_MAX_DIMS];
        for (int d = 0; d < rank; d++)
            pd[d] = xd[perm[d]];
        VKDL_TRY(onnx_temp(e, VKDL_F32, rank, pd, &src));
    }
    if (r->kind == R_LOG_SUM)
        VKDL_TRY(onnx_temp(e, VKDL_F32, 3, o3, &sum));
    if (!e->run)
        VKDL_TRY(onnx_out_set(e, 0, dt, n, dims));
    if (e->run && !permute)
        VKDL_TRY(onnx_in(e, 0, &src));
    if (e->run && permute) {
        vkdl_tensor *x;
        VKDL_TRY(onnx_in(e, 0, &x));
        VKDL_TRY(vkdl_permute(x, perm, src));
    }
    VKDL_TRY(onnx_reshape(e, src, 3, v3, &xv));
    VKDL_TRY(onnx_reshape(e, onnx_out(e, 0), 3, o3, &ov));
    if (!e->run)
        return VKDL_OK;
    if (r->kind != R_LOG_SUM)
        return vkdl_reduce(r->op, xv, 1, ov);
    VKDL_TRY(vkdl_reduce(VKDL_SUM, xv, 1, sum));
    return vkdl_unary(VKDL_LOG, sum, ov);
}

/* ---------------------------------------------------------------- ArgMax, ArgMin */

typedef struct arg_params {
    int axis;
    bool keep, last, max;
    int64_t v3[3];                  /* x as [outer, axis, inner] */
    int n;
    int64_t dims[VKDL_MAX_DIMS];    /* the output's shape */
} arg_params;

static vkdl_status arg_params_of(onnx_exec *e, arg_params *p)
{
    int rank = onnx_in_ndim(e, 0);
    const int64_t *xd = onnx_in_dims(e, 0);
    if (!onnx_has_in(e, 0))
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "input 0 is missing");
    if (rank < 1)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "needs an input of rank 1 or more");
    VKDL_TRY(onnx_axis(e, onnx_attr_int(e, "axis", 0), rank, &p->axis));
    if (xd[p->axis] == 0)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "axis %d is empty", p->axis);
    p->keep = onnx_attr_int(e, "keepdims", 1) != 0;
    p->last = onnx_attr_int(e, "select_last_index", 0) != 0;
    p->max = !strcmp(e->node->op_type, "ArgMax");
    bool mask[VKDL_MAX_DIMS] = {false};
    mask[p->axis] = true;
    p->n = reduced_shape(rank, xd, mask, p->keep, p->dims);
    p->v3[0] = p->v3[1] = p->v3[2] = 1;
    for (int d = 0; d < rank; d++)
        p->v3[d < p->axis ? 0 : d == p->axis ? 1 : 2] *= xd[d];
    return VKDL_OK;
}

/* Whether v takes the place of best: NaN beats every number, as NumPy's argmax; ties go to the
 * first index, or the last with select_last_index. */
static bool arg_takes(const arg_params *p, const onnx_host *x, int64_t v, int64_t best)
{
    if (!onnx_dtype_is_float(x->dtype)) {
        int64_t a = onnx_get_i(x, v), b = onnx_get_i(x, best);
        return (p->max ? a > b : a < b) || (p->last && a == b);
    }
    double a = onnx_get_f(x, v), b = onnx_get_f(x, best);
    if (isnan(b))
        return p->last && isnan(a);
    return isnan(a) || (p->max ? a > b : a < b) || (p->last && a == b);
}

static vkdl_status arg_host(onnx_exec *e)
{
    const onnx_host *x;
    VKDL_TRY(onnx_need_host(e, 0, "data", &x));
    arg_params p;
    VKDL_TRY(arg_params_of(e, &p));
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, VKDL_I64, p.n, p.dims, &y));
    for (int64_t o = 0; o < p.v3[0] * p.v3[2]; o++) {
        int64_t base = o / p.v3[2] * p.v3[1] * p.v3[2] + o % p.v3[2], best = 0;
        for (int64_t k = 1; k < p.v3[1]; k++)
            if (arg_takes(&p, x, base + k * p.v3[2], base + best * p.v3[2]))
                best = k;
        onnx_set_i(y, o, best);
    }
    return VKDL_OK;
}

/* select_last_index: the axis reversed into scratch, its first extreme found, then n - 1 - index. */
static vkdl_status arg_device(onnx_exec *e)
{
    vkdl_dtype dt = onnx_in_dtype(e, 0);
    arg_params p;
    VKDL_TRY(arg_params_of(e, &p));
    if (!onnx_dtype_is_float(dt) || dt == VKDL_F64)
        return host_only(e);
    int64_t o3[3] = {p.v3[0], 1, p.v3[2]};
    vkdl_tensor *rev = NULL, *idx = NULL, *top = NULL, *xv, *ov;
    if (p.last) {
        VKDL_TRY(onnx_temp(e, VKDL_F32, 3, p.v3, &rev));
        VKDL_TRY(onnx_temp(e, VKDL_I32, 3, o3, &idx));
        VKDL_TRY(onnx_temp(e, VKDL_I32, 0, NULL, &top));
    }
    if (!e->run)
        VKDL_TRY(onnx_out_set(e, 0, VKDL_I64, p.n, p.dims));
    vkdl_tensor *x = NULL;
    if (e->run)
        VKDL_TRY(onnx_in(e, 0, &x));
    VKDL_TRY(onnx_reshape(e, x, 3, p.v3, &xv));
    VKDL_TRY(onnx_reshape(e, onnx_out(e, 0), 3, o3, &ov));
    if (!e->run)
        return VKDL_OK;
    vkdl_reduce_op op = p.max ? VKDL_ARGMAX : VKDL_ARGMIN;
    if (!p.last)
        return vkdl_reduce(op, xv, 1, ov);
    vkdl_view_info flip = {.start = {0, p.v3[1] - 1, 0}, .step = {1, -1, 1}};
    VKDL_TRY(vkdl_view_copy(xv, rev, &flip));
    VKDL_TRY(vkdl_reduce(op, rev, 1, idx));
    VKDL_TRY(vkdl_tensor_fill(top, (double)(p.v3[1] - 1)));
    return vkdl_binary(VKDL_SUB, top, idx, ov);
}

const onnx_op onnx_ops_reduce[] = {
    {"ReduceSum", reduce_host, reduce_device},
    {"ReduceMean", reduce_host, reduce_device},
    {"ReduceMax", reduce_host, reduce_device},
    {"ReduceMin", reduce_host, reduce_device},
    {"ReduceProd", reduce_host, reduce_device},
    {"ReduceL1", reduce_host, reduce_device},
    {"ReduceL2", reduce_host, reduce_device},
    {"ReduceSumSquare", reduce_host, reduce_device},
    {"ReduceLogSum", reduce_host, reduce_device},
    {"ReduceLogSumExp", reduce_host, reduce_device},
    {"ArgMax", arg_host, arg_device},
    {"ArgMin", arg_host, arg_device},
};
const int onnx_ops_reduce_count = (int)VKDL_ARRAY_LEN(onnx_ops_reduce);
