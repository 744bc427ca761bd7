/* ONNX's elementwise ops: unary math and activations, Clip, the predicates (IsNaN, IsInf, Not),
 * binary and variadic arithmetic, comparisons and logic with broadcasting. The host side works in
 * double (floats) or int64 (integers) and rounds once into the output dtype; the device side maps
 * each op onto vkdl_unary_with / vkdl_binary. Combinations the kernels lack (uint8 Max, int8 data,
 * BitShift) run only when their inputs are known at plan time. */
#include "onnx/onnx.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */

/* The device has no kernel for this node on data of dtype dt: it runs on the host, so an input
 * computed on the device is refused with the plan-time message (give the graph input a value). */
/* Input 0, which every op here needs: a device function's first check. */
static vkdl_status need_in0(const onnx_exec *e)
{
    return onnx_has_in(e, 0) ? VKDL_OK : onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "input 0 is missing");
}

static vkdl_status host_only(onnx_exec *e, vkdl_dtype dt)
{
    char why[128];
    snprintf(why, sizeof why, "%s on %s data runs on the host only", e->node->op_type, vkdl_dtype_name(dt));
    for (int i = 0; i < onnx_n_in(e); i++) {
        const onnx_host *h;
        if (onnx_has_in(e, i) && !onnx_in_host(e, i))
            return onnx_need_host(e, i, why, &h);
    }
    return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "%s", why);
}

/* A float converted to an integer as a C cast does (NaN to 0, out of range saturated). */
static int64_t trunc_i(double v)
{
    return isnan(v) ? 0 : v >= 0x1p63 ? INT64_MAX : v <= -0x1p63 ? INT64_MIN : (int64_t)v;
}

/* A rank-0 scratch tensor set to value on every run (a broadcast operand). A u8 one is copied from
 * an i32 fill: filling a single byte goes through the host, which a recorded plan cannot replay. */
static vkdl_status scalar_temp(onnx_exec *e, vkdl_dtype dtype, double value, vkdl_tensor **out)
{
    vkdl_tensor *wide = NULL;
    if (dtype == VKDL_U8)
        VKDL_TRY(onnx_temp(e, VKDL_I32, 0, NULL, &wide));
    VKDL_TRY(onnx_temp(e, dtype, 0, NULL, out));
    if (!e->run)
        return VKDL_OK;
    if (!wide)
        return vkdl_tensor_fill(*out, value);
    VKDL_TRY(vkdl_tensor_fill(wide, value));
    return vkdl_copy(wide, *out);
}

/* ---------------------------------------------------------------- unary */

typedef struct unary_row {
    const char *type;
    vkdl_unary_op op;
    double (*f)(double x);          /* NULL for the ops with parameters, which have fp */
    double (*fp)(double x, double alpha, double beta);
    int64_t (*fi)(int64_t x);       /* integer inputs; NULL: floats only */
    const char *alpha, *beta;       /* the attributes that give alpha and beta, or NULL */
    float alpha_def, beta_def;
} unary_row;

static double relu_f(double x) { return x > 0 ? x : x == x ? 0 : x; }
static double sigmoid_f(double x) { return 1 / (1 + exp(-x)); }
static double neg_f(double x) { return -x; }
static double sign_f(double x) { return x > 0 ? 1 : x < 0 ? -1 : x; }
static double reciprocal_f(double x) { return 1 / x; }
static double softplus_f(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }
static double softsign_f(double x) { return x / (1 + fabs(x)); }
static double hardswish_f(double x) { return x * fmax(0, fmin(1, x / 6 + 0.5)); }
static double leaky_relu_f(double x, double a, double b) { (void)b; return x < 0 ? a * x : x; }
static double elu_f(double x, double a, double b) { (void)b; return x < 0 ? a * expm1(x) : x; }
static double selu_f(double x, double a, double g) { return g * (x <= 0 ? a * expm1(x) : x); }
static double celu_f(double x, double a, double b) { (void)b; return fmax(0, x) + fmin(0, a * expm1(x / a)); }
static double hardsigmoid_f(double x, double a, double b) { return fmax(0, fmin(1, a * x + b)); }
static double thresholded_relu_f(double x, double a, double b) { (void)b; return x > a ? x : x == x ? 0 : x; }
static double shrink_f(double x, double l, double b) { return x < -l ? x + b : x > l ? x - b : x == x ? 0 : x; }

static int64_t neg_i(int64_t x) { return (int64_t)(0 - (uint64_t)x); }
static int64_t abs_i(int64_t x) { return x < 0 ? neg_i(x) : x; }
static int64_t sign_i(int64_t x) { return (x > 0) - (x < 0); }
static int64_t relu_i(int64_t x) { return x > 0 ? x : 0; }

/* Round is nearbyint: halves to even in the default rounding mode. */
static const unary_row UNARY[] = {
    {"Relu", VKDL_RELU, relu_f, NULL, relu_i, NULL, NULL, 0, 0},
    {"Sigmoid", VKDL_SIGMOID, sigmoid_f, NULL, NULL, NULL, NULL, 0, 0},
    {"Tanh", VKDL_TANH, tanh, NULL, NULL, NULL, NULL, 0, 0},
    {"Exp", VKDL_EXP, exp, NULL, NULL, NULL, NULL, 0, 0},
    {"Log", VKDL_LOG, log, NULL, NULL, NULL, NULL, 0, 0},
    {"Sqrt", VKDL_SQRT, sqrt, NULL, NULL, NULL, NULL, 0, 0},
    {"Neg", VKDL_NEG, neg_f, NULL, neg_i, NULL, NULL, 0, 0},
    {"Abs", VKDL_ABS, fabs, NULL, abs_i, NULL, NULL, 0, 0},
    {"Floor", VKDL_FLOOR, floor, NULL, NULL, NULL, NULL, 0, 0},
    {"Ceil", VKDL_CEIL, ceil, NULL, NULL, NULL, NULL, 0, 0},
    {"Round", VKDL_ROUND, nearbyint, NULL, NULL, NULL, NULL, 0, 0},
    {"Sign", VKDL_SIGN, sign_f, NULL, sign_i, NULL, NULL, 0, 0},
    {"Reciprocal", VKDL_RECIPROCAL, reciprocal_f, NULL, NULL, NULL, NULL, 0, 0},
    {"Sin", VKDL_SIN, sin, NULL, NULL, NULL, NULL, 0, 0},
    {"Cos", VKDL_COS, cos, NULL, NULL, NULL, NULL, 0, 0},
    {"Tan", VKDL_TAN, tan, NULL, NULL, NULL, NULL, 0, 0},
    {"Asin", VKDL_ASIN, asin, NULL, NULL, NULL, NULL, 0, 0},
    {"Acos", VKDL_ACOS, acos, NULL, NULL, NULL, NULL, 0, 0},
    {"Atan", VKDL_ATAN, atan, NULL, NULL, NULL, NULL, 0, 0},
    {"Sinh", VKDL_SINH, sinh, NULL, NULL, NULL, NULL, 0, 0},
    {"Cosh", VKDL_COSH, cosh, NULL, NULL, NULL, NULL, 0, 0},
    {"Asinh", VKDL_ASINH, asinh, NULL, NULL, NULL, NULL, 0, 0},
    {"Acosh", VKDL_ACOSH, acosh, NULL, NULL, NULL, NULL, 0, 0},
    {"Atanh", VKDL_ATANH, atanh, NULL, NULL, NULL, NULL, 0, 0},
    {"Erf", VKDL_ERF, erf, NULL, NULL, NULL, NULL, 0, 0},
    {"Softplus", VKDL_SOFTPLUS, softplus_f, NULL, NULL, NULL, NULL, 0, 0},
    {"Softsign", VKDL_SOFTSIGN, softsign_f, NULL, NULL, NULL, NULL, 0, 0},
    {"HardSwish", VKDL_HARDSWISH, hardswish_f, NULL, NULL, NULL, NULL, 0, 0},
    {"LeakyRelu", VKDL_LEAKY_RELU, NULL, leaky_relu_f, NULL, "alpha", NULL, 0.01f, 0},
    {"Elu", VKDL_ELU, NULL, elu_f, NULL, "alpha", NULL, 1, 0},
    {"Selu", VKDL_SELU, NULL, selu_f, NULL, "alpha", "gamma", 1.67326319217681884765625f, 1.05070102214813232421875f},
    {"Celu", VKDL_CELU, NULL, celu_f, NULL, "alpha", NULL, 1, 0},
    {"HardSigmoid", VKDL_HARDSIGMOID, NULL, hardsigmoid_f, NULL, "alpha", "beta", 0.2f, 0.5f},
    {"ThresholdedRelu", VKDL_THRESHOLDED_RELU, NULL, thresholded_relu_f, NULL, "alpha", NULL, 1, 0},
    {"Shrink", VKDL_SHRINK, NULL, shrink_f, NULL, "lambd", "bias", 0.5f, 0},
};

static const unary_row *unary_find(const char *type)
{
    for (size_t i = 0; i < VKDL_ARRAY_LEN(UNARY); i++)
        if (!strcmp(UNARY[i].type, type))
            return &UNARY[i];
    return NULL;
}

static vkdl_status unary_params(const onnx_exec *e, const unary_row *r, float *alpha, float *beta)
{
    *alpha = r->alpha ? onnx_attr_float(e, r->alpha, r->alpha_def) : r->alpha_def;
    *beta = r->beta ? onnx_attr_float(e, r->beta, r->beta_def) : r->beta_def;
    if (r->op == VKDL_CELU && *alpha == 0)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "alpha is 0");
    return VKDL_OK;
}

static vkdl_status unary_host(onnx_exec *e)
{
    const unary_row *r = unary_find(e->node->op_type);
    const onnx_host *x;
    VKDL_TRY(onnx_need_host(e, 0, "X", &x));
    bool fl = onnx_dtype_is_float(x->dtype);
    if (!fl && !r->fi)
        return onnx_fail(e, VKDL_ERROR_DTYPE_MISMATCH, "%s takes float data, not %s", r->type,
                         vkdl_dtype_name(x->dtype));
    float alpha, beta;
    VKDL_TRY(unary_params(e, r, &alpha, &beta));
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, x->dtype, x->ndim, x->dims, &y));
    for (int64_t i = 0; i < x->numel; i++) {
        if (fl)
            onnx_set_f(y, i, r->f ? r->f(onnx_get_f(x, i)) : r->fp(onnx_get_f(x, i), alpha, beta));
        else
            onnx_set_i(y, i, r->fi(onnx_get_i(x, i)));
    }
    return VKDL_OK;
}

/* Integer Abs, Neg, Relu and Sign from i32 binary kernels: max(x, 0 - x), 0 - x, max(x, 0) and
 * min(max(x, -1), 1). */
static vkdl_status unary_i32_device(onnx_exec *e, const unary_row *r)
{
    int nd = onnx_in_ndim(e, 0);
    const int64_t *dims = onnx_in_dims(e, 0);
    bool is_abs = r->fi == abs_i, is_sign = r->fi == sign_i;
    vkdl_tensor *lo = NULL, *hi = NULL, *mid = NULL;
    VKDL_TRY(scalar_temp(e, VKDL_I32, is_sign ? -1 : 0, &lo));
    if (is_sign)
        VKDL_TRY(scalar_temp(e, VKDL_I32, 1, &hi));
    if (is_abs || is_sign)
        VKDL_TRY(onnx_temp(e, VKDL_I32, nd, dims, &mid));
    if (!e->run)
        return onnx_out_set(e, 0, onnx_in_dtype(e, 0), nd, dims);
    vkdl_tensor *x, *y = onnx_out(e, 0);
    VKDL_TRY(onnx_in(e, 0, &x));
    if (r->fi == neg_i)
        return vkdl_binary(VKDL_SUB, lo, x, y);
    if (r->fi == relu_i)
        return vkdl_binary(VKDL_MAXIMUM, x, lo, y);
    if (is_abs) {
        VKDL_TRY(vkdl_binary(VKDL_SUB, lo, x, mid));
        return vkdl_binary(VKDL_MAXIMUM, x, mid, y);
    }
    VKDL_TRY(vkdl_binary(VKDL_MAXIMUM, x, lo, mid));
    return vkdl_binary(VKDL_MINIMUM, mid, hi, y);
}

static vkdl_status unary_device(onnx_exec *e)
{
    const unary_row *r = unary_find(e->node->op_type);
    VKDL_TRY(need_in0(e));
    vkdl_dtype dt = onnx_in_dtype(e, 0), dd;
    if (!onnx_dtype_is_float(dt) && !r->fi)
        return onnx_fail(e, VKDL_ERROR_DTYPE_MISMATCH, "%s takes float data, not %s", r->type, vkdl_dtype_name(dt));
    if (onnx_device_dtype(dt, &dd) && dd == VKDL_I32 && r->fi)
        return unary_i32_device(e, r);
    if (!onnx_device_dtype(dt, &dd) || dd != VKDL_F32)
        return host_only(e, dt);
    vkdl_unary_info info = {0};
    VKDL_TRY(unary_params(e, r, &info.alpha, &info.beta));
    if (!e->run)
        return onnx_out_set(e, 0, dt, onnx_in_ndim(e, 0), onnx_in_dims(e, 0));
    vkdl_tensor *x;
    VKDL_TRY(onnx_in(e, 0, &x));
    return vkdl_unary_with(r->op, x, &info, onnx_out(e, 0));
}

/* ---------------------------------------------------------------- Clip */

/* Clip's bounds: attributes before opset 11, optional scalar inputs 1 and 2 after. */
static vkdl_status clip_bound(onnx_exec *e, int i, const char *attr, bool *has, double *attr_value)
{
    *has = false;
    if (e->opset < 11) {
        const onnx_attr *a = onnx_attr_get(e, attr);
        *has = a != NULL;
        *attr_value = a ? a->f : 0;
        return VKDL_OK;
    }
    if (!onnx_has_in(e, i))
        return VKDL_OK;
    *has = true;
    if (onnx_in_dtype(e, i) != onnx_in_dtype(e, 0))
        return onnx_fail(e, VKDL_ERROR_DTYPE_MISMATCH, "%s is %s, the input %s", attr,
                         vkdl_dtype_name(onnx_in_dtype(e, i)), vkdl_dtype_name(onnx_in_dtype(e, 0)));
    int64_t n;
    VKDL_TRY(vkdl_numel_checked("onnx", onnx_in_ndim(e, i), onnx_in_dims(e, i), &n));
    if (n != 1)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "%s must be a scalar, not %lld elements", attr, (long long)n);
    return VKDL_OK;
}

static vkdl_status clip_host(onnx_exec *e)
{
    const onnx_host *x, *b[2] = {NULL, NULL};
    VKDL_TRY(onnx_need_host(e, 0, "input", &x));
    bool has[2];
    double attr[2];
    VKDL_TRY(clip_bound(e, 1, "min", &has[0], &attr[0]));
    VKDL_TRY(clip_bound(e, 2, "max", &has[1], &attr[1]));
    for (int k = 0; k < 2; k++)
        if (has[k] && e->opset >= 11)
            VKDL_TRY(onnx_need_host(e, 1 + k, k ? "max" : "min", &b[k]));
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, x->dtype, x->ndim, x->dims, &y));
    if (onnx_dtype_is_float(x->dtype)) {
        double lo = !has[0] ? -INFINITY : b[0] ? onnx_get_f(b[0], 0) : attr[0];
        double hi = !has[1] ? INFINITY : b[1] ? onnx_get_f(b[1], 0) : attr[1];
        for (int64_t i = 0; i < x->numel; i++) {
            double v = onnx_get_f(x, i);
            v = v < lo ? lo : v;                         /* NaN stays NaN */
            onnx_set_f(y, i, v > hi ? hi : v);
        }
        return VKDL_OK;
    }
    int64_t lo = b[0] ? onnx_get_i(b[0], 0) : INT64_MIN, hi = b[1] ? onnx_get_i(b[1], 0) : INT64_MAX;
    for (int64_t i = 0; i < x->numel; i++) {
        int64_t v = onnx_get_i(x, i);
        v = v < lo ? lo : v;
        onnx_set_i(y, i, v > hi ? hi : v);
    }
    return VKDL_OK;
}

/* Float data with bounds known when planning: one unary CLIP. Otherwise out = min(max(x, lo), hi)
 * by two broadcasting binaries, the bounds as scalar tensors (inputs, or scratch filled from the
 * attributes). */
static vkdl_status clip_device(onnx_exec *e)
{
    VKDL_TRY(need_in0(e));
    vkdl_dtype dt = onnx_in_dtype(e, 0), dd;
    if (!onnx_device_dtype(dt, &dd) || dd == VKDL_U8)
        return host_only(e, dt);
    bool has[2];
    double attr[2];
    VKDL_TRY(clip_bound(e, 1, "min", &has[0], &attr[0]));
    VKDL_TRY(clip_bound(e, 2, "max", &has[1], &attr[1]));
    int nd = onnx_in_ndim(e, 0);
    const int64_t *dims = onnx_in_dims(e, 0);
    if (!has[0] && !has[1])
        return e->run ? VKDL_OK : onnx_out_view(e, 0, 0, nd, dims);
    vkdl_tensor *x = NULL, *bound[2] = {NULL, NULL}, *mid = NULL;
    const onnx_host *hb[2] = {NULL, NULL};
    bool known = dd == VKDL_F32;
    for (int k = 0; k < 2; k++)
        if (has[k] && e->opset >= 11)
            known &= (hb[k] = onnx_in_host(e, 1 + k)) != NULL;
    if (known) {
        vkdl_unary_info info = {.alpha = !has[0] ? -INFINITY : hb[0] ? (float)onnx_get_f(hb[0], 0) : (float)attr[0],
                                .beta = !has[1] ? INFINITY : hb[1] ? (float)onnx_get_f(hb[1], 0) : (float)attr[1]};
        if (!e->run)
            return onnx_out_set(e, 0, dt, nd, dims);
        VKDL_TRY(onnx_in(e, 0, &x));
        return vkdl_unary_with(VKDL_CLIP, x, &info, onnx_out(e, 0));
    }
    for (int k = 0; k < 2; k++)
        if (has[k] && e->opset < 11)
            VKDL_TRY(scalar_temp(e, dd, attr[k], &bound[k]));
    if (has[0] && has[1])
        VKDL_TRY(onnx_temp(e, dd, nd, dims, &mid));
    if (!e->run)
        return onnx_out_set(e, 0, dt, nd, dims);
    VKDL_TRY(onnx_in(e, 0, &x));
    for (int k = 0; k < 2; k++)
        if (has[k] && e->opset >= 11)
            VKDL_TRY(onnx_in(e, 1 + k, &bound[k]));
    if (!has[1])
        return vkdl_binary(VKDL_MAXIMUM, x, bound[0], onnx_out(e, 0));
    if (has[0]) {
        VKDL_TRY(vkdl_binary(VKDL_MAXIMUM, x, bound[0], mid));
        x = mid;
    }
    return vkdl_binary(VKDL_MINIMUM, x, bound[1], onnx_out(e, 0));
}

/* ---------------------------------------------------------------- IsNaN, IsInf, Not */

static bool isinf_detects(const onnx_exec *e, double v)
{
    return v > 0 ? onnx_attr_int(e, "detect_positive", 1) != 0 : onnx_attr_int(e, "detect_negative", 1) != 0;
}

static vkdl_status predicate_host(onnx_exec *e)
{
    const onnx_host *x;
    VKDL_TRY(onnx_need_host(e, 0, "X", &x));
    const char *t = e->node->op_type;
    bool is_not = !strcmp(t, "Not");
    if (is_not != (x->dtype == VKDL_BOOL) || (!is_not && !onnx_dtype_is_float(x->dtype)))
        return onnx_fail(e, VKDL_ERROR_DTYPE_MISMATCH, "%s does not take %s data", t, vkdl_dtype_name(x->dtype));
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, VKDL_BOOL, x->ndim, x->dims, &y));
    for (int64_t i = 0; i < x->numel; i++) {
        double v = onnx_get_f(x, i);
        onnx_set_i(y, i, is_not ? v == 0 : !strcmp(t, "IsNaN") ? isnan(v) : isinf(v) && isinf_detects(e, v));
    }
    return VKDL_OK;
}

/* Not: x XOR 1. IsNaN: (x == x) XOR 1. IsInf: |x| == inf, x == +inf or x == -inf alone, or x == NaN
 * (false everywhere) when it detects neither. */
static vkdl_status predicate_device(onnx_exec *e)
{
    VKDL_TRY(need_in0(e));
    const char *t = e->node->op_type;
    vkdl_dtype dt = onnx_in_dtype(e, 0), dd;
    bool is_not = !strcmp(t, "Not"), is_nan = !strcmp(t, "IsNaN");
    if (is_not != (dt == VKDL_BOOL) || (!is_not && !onnx_dtype_is_float(dt)))
        return onnx_fail(e, VKDL_ERROR_DTYPE_MISMATCH, "%s does not take %s data", t, vkdl_dtype_name(dt));
    if (!onnx_device_dtype(dt, &dd))
        return host_only(e, dt);
    int nd = onnx_in_ndim(e, 0);
    const int64_t *dims = onnx_in_dims(e, 0);
    bool is_inf = !is_not && !is_nan, pos = is_inf && isinf_detects(e, 1), neg = is_inf && isinf_detects(e, -1);
    vkdl_tensor *one = NULL, *mid = NULL, *inf = NULL;
    if (is_not || is_nan)
        VKDL_TRY(scalar_temp(e, VKDL_U8, 1, &one));
    if (is_nan || (pos && neg))
        VKDL_TRY(onnx_temp(e, is_nan ? VKDL_U8 : VKDL_F32, nd, dims, &mid));
    if (is_inf)
        VKDL_TRY(scalar_temp(e, VKDL_F32, pos ? INFINITY : neg ? -INFINITY : NAN, &inf));
    if (!e->run)
        return onnx_out_set(e, 0, VKDL_BOOL, nd, dims);
    vkdl_tensor *x, *y = onnx_out(e, 0);
    VKDL_TRY(onnx_in(e, 0, &x));
    if (is_not)
        return vkdl_binary(VKDL_XOR, x, one, y);
    if (is_nan) {
        VKDL_TRY(vkdl_binary(VKDL_EQUAL, x, x, mid));
        return vkdl_binary(VKDL_XOR, mid, one, y);
    }
    if (pos && neg) {
        VKDL_TRY(vkdl_unary(VKDL_ABS, x, mid));
        x = mid;
    }
    return vkdl_binary(VKDL_EQUAL, x, inf, y);
}

/* ---------------------------------------------------------------- binary and variadic */

typedef struct binary_row {
    const char *type;
    int op;                         /* vkdl_binary_op, or -1 when only the host has it */
    double (*f)(double, double);    /* NULL: no float version */
    int64_t (*fi)(int64_t, int64_t);    /* NULL: no integer version */
    bool boolean;                   /* the output is bool */
} binary_row;

static double add_f(double a, double b) { return a + b; }
static double sub_f(double a, double b) { return a - b; }
static double mul_f(double a, double b) { return a * b; }
static double div_f(double a, double b) { return a / b; }
static double min_f(double a, double b) { return isnan(a) || isnan(b) ? NAN : a < b ? a : b; }
static double max_f(double a, double b) { return isnan(a) || isnan(b) ? NAN : a > b ? a : b; }
/* NumPy's mod: the sign of the divisor. */
static double mod_f(double a, double b)
{
    double r = fmod(a, b);
    return r != 0 && (r < 0) != (b < 0) ? r + b : r;
}
static double prelu_f(double a, double b) { return a < 0 ? a * b : a; }
static double equal_f(double a, double b) { return a == b; }
static double less_f(double a, double b) { return a < b; }
static double less_equal_f(double a, double b) { return a <= b; }
static double greater_f(double a, double b) { return a > b; }
static double greater_equal_f(double a, double b) { return a >= b; }

static int64_t add_i(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }
static int64_t sub_i(int64_t a, int64_t b) { return (int64_t)((uint64_t)a - (uint64_t)b); }
static int64_t mul_i(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }
/* Integer division truncates toward zero, as ONNX Runtime's; dividing by zero gives 0. */
static int64_t div_i(int64_t a, int64_t b) { return b == 0 || (b == -1 && a == INT64_MIN) ? 0 : a / b; }
static int64_t fmod_i(int64_t a, int64_t b) { return b == 0 || b == -1 ? 0 : a % b; }
static int64_t mod_i(int64_t a, int64_t b)
{
    int64_t r = fmod_i(a, b);
    return r != 0 && (r < 0) != (b < 0) ? r + b : r;
}
/* By squaring; a negative exponent gives 0 but for bases 1 and -1, as vkdl's i32 POW. */
static int64_t pow_i(int64_t a, int64_t b)
{
    if (b < 0)
        return a == 1 ? 1 : a == -1 ? (b & 1 ? -1 : 1) : 0;
    int64_t r = 1;
    for (; b; b >>= 1, a = mul_i(a, a))
        if (b & 1)
            r = mul_i(r, a);
    return r;
}
static int64_t min_i(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max_i(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t prelu_i(int64_t a, int64_t b) { return a < 0 ? mul_i(a, b) : a; }
static int64_t equal_i(int64_t a, int64_t b) { return a == b; }
static int64_t less_i(int64_t a, int64_t b) { return a < b; }
static int64_t less_equal_i(int64_t a, int64_t b) { return a <= b; }
static int64_t greater_i(int64_t a, int64_t b) { return a > b; }
static int64_t greater_equal_i(int64_t a, int64_t b) { return a >= b; }
static int64_t and_i(int64_t a, int64_t b) { return a && b; }
static int64_t or_i(int64_t a, int64_t b) { return a || b; }
static int64_t xor_i(int64_t a, int64_t b) { return !a != !b; }
/* On the unsigned bits: a shift by the width or more gives 0 (the output dtype drops high bits). */
static int64_t shl_i(int64_t a, int64_t b) { return (uint64_t)b >= 64 ? 0 : (int64_t)((uint64_t)a << b); }
static int64_t shr_i(int64_t a, int64_t b) { return (uint64_t)b >= 64 ? 0 : (int64_t)((uint64_t)a >> b); }

static const binary_row BINARY[] = {
    {"Add", VKDL_ADD, add_f, add_i, false},
    {"Sub", VKDL_SUB, sub_f, sub_i, false},
    {"Mul", VKDL_MUL, mul_f, mul_i, false},
    {"Div", VKDL_DIV, div_f, div_i, false},
    {"Pow", VKDL_POW, pow, pow_i, false},
    {"Mod", VKDL_MOD, mod_f, mod_i, false},
    {"PRelu", VKDL_PRELU, prelu_f, prelu_i, false},
    {"Min", VKDL_MINIMUM, min_f, min_i, false},
    {"Max", VKDL_MAXIMUM, max_f, max_i, false},
    {"Sum", VKDL_ADD, add_f, add_i, false},
    {"Mean", VKDL_ADD, add_f, NULL, false},
    {"Equal", VKDL_EQUAL, equal_f, equal_i, true},
    {"Less", VKDL_LESS, less_f, less_i, true},
    {"LessOrEqual", VKDL_LESS_EQUAL, less_equal_f, less_equal_i, true},
    {"Greater", VKDL_GREATER, greater_f, greater_i, true},
    {"GreaterOrEqual", VKDL_GREATER_EQUAL, greater_equal_f, greater_equal_i, true},
    {"And", VKDL_AND, NULL, and_i, true},
    {"Or", VKDL_OR, NULL, or_i, true},
    {"Xor", VKDL_XOR, NULL, xor_i, true},
};
static const binary_row FMOD = {"Mod", VKDL_FMOD, fmod, fmod_i, false};
static const binary_row SHIFT[2] = {{"BitShift", -1, NULL, shl_i, false}, {"BitShift", -1, NULL, shr_i, false}};

static vkdl_status binary_find(const onnx_exec *e, const binary_row **out)
{
    const char *t = e->node->op_type;
    if (!strcmp(t, "BitShift")) {
        const char *dir = onnx_attr_str(e, "direction", "");
        if (strcmp(dir, "LEFT") && strcmp(dir, "RIGHT"))
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "direction '%s' (LEFT or RIGHT)", dir);
        *out = &SHIFT[!strcmp(dir, "RIGHT")];
        return VKDL_OK;
    }
    if (!strcmp(t, "Mod") && onnx_attr_int(e, "fmod", 0)) {
        *out = &FMOD;
        return VKDL_OK;
    }
    for (size_t i = 0; i < VKDL_ARRAY_LEN(BINARY); i++)
        if (!strcmp(BINARY[i].type, t))
            *out = &BINARY[i];
    return VKDL_OK;
}

/* Operand i's shape as it broadcasts. Before opset 7 PRelu's 1-D slope of the channel count
 * applies along axis 1 (as PyTorch exported it): it is [C, 1, ...]. */
static int operand_dims(const onnx_exec *e, int i, int64_t *dims)
{
    int n = onnx_in_ndim(e, i), rank = onnx_in_ndim(e, 0);
    memcpy(dims, onnx_in_dims(e, i), (size_t)n * sizeof *dims);
    if (i != 1 || e->opset >= 7 || strcmp(e->node->op_type, "PRelu") || n != 1 || rank < 2 ||
        dims[0] != onnx_in_dims(e, 0)[1])
        return n;
    for (int d = 1; d < rank - 1; d++)
        dims[d] = 1;
    return rank - 1;
}

static bool variadic(const binary_row *r)
{
    return !strcmp(r->type, "Min") || !strcmp(r->type, "Max") || !strcmp(r->type, "Sum") || !strcmp(r->type, "Mean");
}

/* Checks the inputs' count and dtypes, and broadcasts their shapes into n, dims. Pow's exponent may
 * have another dtype than its base; PRelu's slope broadcasts to X, not X to it. */
static vkdl_status binary_shape(onnx_exec *e, const binary_row *r, int *n, int64_t *dims)
{
    int count = onnx_n_in(e);
    if (variadic(r) ? count < 1 : count != 2)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "%d inputs", count);
    VKDL_TRY(need_in0(e));
    vkdl_dtype dt = onnx_in_dtype(e, 0);
    bool fl = onnx_dtype_is_float(dt);
    if (r->boolean && !r->f ? dt != VKDL_BOOL : fl ? !r->f : !r->fi)
        return onnx_fail(e, VKDL_ERROR_DTYPE_MISMATCH, "%s does not take %s data", r->type, vkdl_dtype_name(dt));
    *n = onnx_in_ndim(e, 0);
    memcpy(dims, onnx_in_dims(e, 0), (size_t)*n * sizeof *dims);
    for (int i = 1; i < count; i++) {
        if (!onnx_has_in(e, i))
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "input %d is missing", i);
        if (onnx_in_dtype(e, i) != dt && strcmp(r->type, "Pow"))
            return onnx_fail(e, VKDL_ERROR_DTYPE_MISMATCH, "inputs are %s and %s", vkdl_dtype_name(dt),
                             vkdl_dtype_name(onnx_in_dtype(e, i)));
        int64_t prev[VKDL_MAX_DIMS], od[VKDL_MAX_DIMS];
        int np = *n, on = operand_dims(e, i, od);
        memcpy(prev, dims, sizeof prev);
        VKDL_TRY(onnx_broadcast(e, np, prev, on, od, n, dims));
    }
    if (!strcmp(r->type, "PRelu") && (*n != onnx_in_ndim(e, 0) || memcmp(dims, onnx_in_dims(e, 0),
                                                                         (size_t)*n * sizeof *dims))) {
        char a[VKDL_SHAPE_BUF], b[VKDL_SHAPE_BUF];
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "slope %s does not broadcast to X %s",
                         onnx_dims_str(onnx_in_ndim(e, 1), onnx_in_dims(e, 1), a, sizeof a),
                         onnx_dims_str(onnx_in_ndim(e, 0), onnx_in_dims(e, 0), b, sizeof b));
    }
    return VKDL_OK;
}

static vkdl_status binary_host(onnx_exec *e)
{
    const binary_row *r = NULL;
    VKDL_TRY(binary_find(e, &r));
    int n, count = onnx_n_in(e);
    int64_t dims[VKDL_MAX_DIMS];
    VKDL_TRY(binary_shape(e, r, &n, dims));
    const onnx_host *in[ONNX_MAX_IO];
    for (int i = 0; i < count; i++)
        VKDL_TRY(onnx_need_host(e, i, "operand", &in[i]));
    int kn[ONNX_MAX_IO];
    int64_t kd[ONNX_MAX_IO][VKDL_MAX_DIMS];
    for (int k = 0; k < count; k++)
        kn[k] = operand_dims(e, k, kd[k]);
    vkdl_dtype dt = in[0]->dtype;
    onnx_host *c;
    VKDL_TRY(onnx_out_host(e, 0, r->boolean ? VKDL_BOOL : dt, n, dims, &c));
    bool fl = onnx_dtype_is_float(dt), mixed = count == 2 && onnx_dtype_is_float(in[1]->dtype) != fl;
    for (int64_t i = 0; i < c->numel; i++) {
        int64_t k0 = onnx_bcast_src(i, n, dims, kn[0], kd[0]);
        if (fl || mixed) {                               /* mixed: Pow's integer base, float exponent */
            double v = onnx_get_f(in[0], k0);
            for (int k = 1; k < count; k++)
                v = (mixed ? pow : r->f)(v, onnx_get_f(in[k], onnx_bcast_src(i, n, dims, kn[k], kd[k])));
            if (!strcmp(r->type, "Mean"))
                v /= count;
            if (fl)
                onnx_set_f(c, i, v);
            else
                onnx_set_i(c, i, trunc_i(v));
        } else {
            int64_t v = onnx_get_i(in[0], k0);
            for (int k = 1; k < count; k++)
                v = r->fi(v, onnx_get_i(in[k], onnx_bcast_src(i, n, dims, kn[k], kd[k])));
            onnx_set_i(c, i, v);
        }
    }
    return VKDL_OK;
}

/* The device kernels take f32 and i32 for arithmetic and comparisons, u8 for And, Or and Xor. */
static bool binary_device_ok(const binary_row *r, vkdl_dtype dt)
{
    vkdl_dtype dd;
    if (r->op < 0 || !onnx_device_dtype(dt, &dd))
        return false;
    return r->boolean && !r->f ? dd == VKDL_U8 : dd != VKDL_U8;
}

/* Equal on bools: (a XOR b) XOR 1. */
static vkdl_status equal_bool_device(onnx_exec *e, int n, const int64_t *dims)
{
    vkdl_tensor *one = NULL, *diff = NULL;
    VKDL_TRY(scalar_temp(e, VKDL_U8, 1, &one));
    VKDL_TRY(onnx_temp(e, VKDL_U8, n, dims, &diff));
    if (!e->run)
        return onnx_out_set(e, 0, VKDL_BOOL, n, dims);
    vkdl_tensor *a, *b;
    VKDL_TRY(onnx_in(e, 0, &a));
    VKDL_TRY(onnx_in(e, 1, &b));
    VKDL_TRY(vkdl_binary(VKDL_XOR, a, b, diff));
    return vkdl_binary(VKDL_XOR, diff, one, onnx_out(e, 0));
}

/* Pow with a float exponent on an integer base, or the reverse: in f32, then truncated into an
 * integer output as NumPy's astype would. */
static vkdl_status pow_mixed_device(onnx_exec *e, int n, const int64_t *dims)
{
    bool int_base = !onnx_dtype_is_float(onnx_in_dtype(e, 0));
    int conv = int_base ? 0 : 1;
    vkdl_tensor *c = NULL, *p = NULL;
    VKDL_TRY(onnx_temp(e, VKDL_F32, onnx_in_ndim(e, conv), onnx_in_dims(e, conv), &c));
    if (int_base)
        VKDL_TRY(onnx_temp(e, VKDL_F32, n, dims, &p));
    if (!e->run)
        return onnx_out_set(e, 0, onnx_in_dtype(e, 0), n, dims);
    vkdl_tensor *a, *b;
    VKDL_TRY(onnx_in(e, 0, &a));
    VKDL_TRY(onnx_in(e, 1, &b));
    VKDL_TRY(vkdl_copy(int_base ? a : b, c));
    if (!int_base)
        return vkdl_binary(VKDL_POW, a, c, onnx_out(e, 0));
    VKDL_TRY(vkdl_binary(VKDL_POW, c, b, p));
    return vkdl_copy(p, onnx_out(e, 0));
}

/* Variadic ops fold left to right; each partial result has the broadcast shape of the inputs so
 * far, in a scratch tensor, the last in the output (Mean's sum in scratch, then scaled). */
static vkdl_status binary_device(onnx_exec *e)
{
    const binary_row *r = NULL;
    VKDL_TRY(binary_find(e, &r));
    int n, count = onnx_n_in(e);
    int64_t dims[VKDL_MAX_DIMS];
    VKDL_TRY(binary_shape(e, r, &n, dims));
    vkdl_dtype dt = onnx_in_dtype(e, 0);
    if (r->op == VKDL_EQUAL && dt == VKDL_BOOL)
        return equal_bool_device(e, n, dims);
    for (int i = 0; i < count; i++)
        if (!binary_device_ok(r, onnx_in_dtype(e, i)))
            return host_only(e, onnx_in_dtype(e, i));
    if (count == 2 && onnx_dtype_is_float(dt) != onnx_dtype_is_float(onnx_in_dtype(e, 1)))
        return pow_mixed_device(e, n, dims);
    if (count == 1)
        return e->run ? VKDL_OK : onnx_out_view(e, 0, 0, n, dims);
    bool mean = !strcmp(r->type, "Mean");
    vkdl_dtype dd;
    onnx_device_dtype(dt, &dd);
    vkdl_tensor *part[ONNX_MAX_IO] = {NULL}, *opnd[ONNX_MAX_IO] = {NULL};
    int pn = onnx_in_ndim(e, 0);
    int64_t pd[VKDL_MAX_DIMS];
    memcpy(pd, onnx_in_dims(e, 0), (size_t)pn * sizeof *pd);
    for (int k = 0; k < count; k++) {
        int64_t prev[VKDL_MAX_DIMS], od[VKDL_MAX_DIMS];
        int np = pn, on = operand_dims(e, k, od);
        if (e->run)
            VKDL_TRY(onnx_in(e, k, &opnd[k]));
        if (on != onnx_in_ndim(e, k))
            VKDL_TRY(onnx_reshape(e, opnd[k], on, od, &opnd[k]));
        memcpy(prev, pd, sizeof prev);
        VKDL_TRY(onnx_broadcast(e, np, prev, on, od, &pn, pd));
        if (k > 0 && (k < count - 1 || mean))
            VKDL_TRY(onnx_temp(e, dd, pn, pd, &part[k]));
    }
    if (!e->run)
        return onnx_out_set(e, 0, r->boolean ? VKDL_BOOL : dt, n, dims);
    vkdl_tensor *acc = opnd[0];
    for (int k = 1; k < count; k++) {
        vkdl_tensor *dst = part[k] ? part[k] : onnx_out(e, 0);
        VKDL_TRY(vkdl_binary((vkdl_binary_op)r->op, acc, opnd[k], dst));
        acc = dst;
    }
    return mean ? vkdl_scale(acc, 1.0f / (float)count, 0, onnx_out(e, 0)) : VKDL_OK;
}

const onnx_op onnx_ops_elementwise[] = {
    {"Relu", unary_host, unary_device},
    {"Sigmoid", unary_host, unary_device},
    {"Tanh", unary_host, unary_device},
    {"Exp", unary_host, unary_device},
    {"Log", unary_host, unary_device},
    {"Sqrt", unary_host, unary_device},
    {"Neg", unary_host, unary_device},
    {"Abs", unary_host, unary_device},
    {"Floor", unary_host, unary_device},
    {"Ceil", unary_host, unary_device},
    {"Round", unary_host, unary_device},
    {"Sign", unary_host, unary_device},
    {"Reciprocal", unary_host, unary_device},
    {"Sin", unary_host, unary_device},
    {"Cos", unary_host, unary_device},
    {"Tan", unary_host, unary_device},
    {"Asin", unary_host, unary_device},
    {"Acos", unary_host, unary_device},
    {"Atan", unary_host, unary_device},
    {"Sinh", unary_host, unary_device},
    {"Cosh", unary_host, unary_device},
    {"Asinh", unary_host, unary_device},
    {"Acosh", unary_host, unary_device},
    {"Atanh", unary_host, unary_device},
    {"Erf", unary_host, unary_device},
    {"Softplus", unary_host, unary_device},
    {"Softsign", unary_host, unary_device},
    {"HardSwish", unary_host, unary_device},
    {"LeakyRelu", unary_host, unary_device},
    {"Elu", unary_host, unary_device},
    {"Selu", unary_host, unary_device},
    {"Celu", unary_host, unary_device},
    {"HardSigmoid", unary_host, unary_device},
    {"ThresholdedRelu", unary_host, unary_device},
    {"Shrink", unary_host, unary_device},
    {"Clip", clip_host, clip_device},
    {"IsNaN", predicate_host, predicate_device},
    {"IsInf", predicate_host, predicate_device},
    {"Not", predicate_host, predicate_device},
    {"Add", binary_host, binary_device},
    {"Sub", binary_host, binary_device},
    {"Mul", binary_host, binary_device},
    {"Div", binary_host, binary_device},
    {"Pow", binary_host, binary_device},
    {"Mod", binary_host, binary_device},
    {"PRelu", binary_host, binary_device},
    {"Min", binary_host, binary_device},
    {"Max", binary_host, binary_device},
    {"Sum", binary_host, binary_device},
    {"Mean", binary_host, binary_device},
    {"Equal", binary_host, binary_device},
    {"Less", binary_host, binary_device},
    {"LessOrEqual", binary_host, binary_device},
    {"Greater", binary_host, binary_device},
    {"GreaterOrEqual", binary_host, binary_device},
    {"And", binary_host, binary_device},
    {"Or", binary_host, binary_device},
    {"Xor", binary_host, binary_device},
    {"BitShift", binary_host, binary_device},
};
const int onnx_ops_elementwise_count = (int)VKDL_ARRAY_LEN(onnx_ops_elementwise);
