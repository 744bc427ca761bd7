/* ONNX's elementwise ops: unary math and activations, binary arithmetic with broadcasting. The
 * host side works in double (floats) or int64 (integers) and rounds once into the output dtype;
 * the device side maps each op onto vkdl_unary / vkdl_binary. */
#include "onnx/onnx.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- unary */

typedef struct unary_row {
    const char *type;
    int op;                         /* vkdl_unary_op, or -1 when only the host has it */
    double (*f)(double);
} unary_row;

static double relu_f(double x) { return x > 0 ? x : x == x ? 0 : x; }
static double sigmoid_f(double x) { return 1 / (1 + exp(-x)); }
static double neg_f(double x) { return -x; }

static const unary_row UNARY[] = {
    {"Relu", VKDL_RELU, relu_f},
    {"Sigmoid", VKDL_SIGMOID, sigmoid_f},
    {"Tanh", VKDL_TANH, tanh},
    {"Exp", VKDL_EXP, exp},
    {"Log", VKDL_LOG, log},
    {"Sqrt", VKDL_SQRT, sqrt},
    {"Neg", VKDL_NEG, neg_f},
    {"Abs", VKDL_ABS, fabs},
};

static const unary_row *unary_find(const char *type)
{
    for (size_t i = 0; i < VKDL_ARRAY_LEN(UNARY); i++)
        if (!strcmp(UNARY[i].type, type))
            return &UNARY[i];
    return NULL;
}

static vkdl_status unary_host(onnx_exec *e)
{
    const unary_row *r = unary_find(e->node->op_type);
    const onnx_host *x;
    VKDL_TRY(onnx_need_host(e, 0, "X", &x));
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, x->dtype, x->ndim, x->dims, &y));
    bool fl = onnx_dtype_is_float(x->dtype);
    for (int64_t i = 0; i < x->numel; i++) {
        if (fl)
            onnx_set_f(y, i, r->f(onnx_get_f(x, i)));
        else if (r->f == neg_f)
            onnx_set_i(y, i, -onnx_get_i(x, i));
        else if (r->f == fabs)
            onnx_set_i(y, i, onnx_get_i(x, i) < 0 ? -onnx_get_i(x, i) : onnx_get_i(x, i));
        else if (r->f == relu_f)
            onnx_set_i(y, i, onnx_get_i(x, i) > 0 ? onnx_get_i(x, i) : 0);
        else
            onnx_set_f(y, i, r->f((double)onnx_get_i(x, i)));
    }
    return VKDL_OK;
}

static vkdl_status unary_device(onnx_exec *e)
{
    const unary_row *r = unary_find(e->node->op_type);
    if (r->op < 0 || onnx_in_dtype(e, 0) != VKDL_F32)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "%s on %s data runs on the host only", r->type,
                         vkdl_dtype_name(onnx_in_dtype(e, 0)));
    if (!e->run)
        return onnx_out_set(e, 0, VKDL_F32, onnx_in_ndim(e, 0), onnx_in_dims(e, 0));
    vkdl_tensor *x;
    VKDL_TRY(onnx_in(e, 0, &x));
    return vkdl_unary((vkdl_unary_op)r->op, x, onnx_out(e, 0));
}

/* ---------------------------------------------------------------- binary */

typedef struct binary_row {
    const char *type;
    int op;                         /* vkdl_binary_op, or -1 */
    double (*f)(double, double);
    int64_t (*fi)(int64_t, int64_t);
} binary_row;

static double add_f(double a, double b) { return a + b; }
static double sub_f(double a, double b) { return a - b; }
static double mul_f(double a, double b) { return a * b; }
static double div_f(double a, double b) { return a / b; }
static int64_t add_i(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }
static int64_t sub_i(int64_t a, int64_t b) { return (int64_t)((uint64_t)a - (uint64_t)b); }
static int64_t mul_i(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }
/* Integer division truncates toward zero, as ONNX Runtime's; dividing by zero gives 0. */
static int64_t div_i(int64_t a, int64_t b) { return b == 0 || (b == -1 && a == INT64_MIN) ? 0 : a / b; }

static const binary_row BINARY[] = {
    {"Add", VKDL_ADD, add_f, add_i},
    {"Sub", VKDL_SUB, sub_f, sub_i},
    {"Mul", VKDL_MUL, mul_f, mul_i},
    {"Div", VKDL_DIV, div_f, div_i},
};

static const binary_row *binary_find(const char *type)
{
    for (size_t i = 0; i < VKDL_ARRAY_LEN(BINARY); i++)
        if (!strcmp(BINARY[i].type, type))
            return &BINARY[i];
    return NULL;
}

static vkdl_status binary_host(onnx_exec *e)
{
    const binary_row *r = binary_find(e->node->op_type);
    const onnx_host *a, *b;
    VKDL_TRY(onnx_need_host(e, 0, "A", &a));
    VKDL_TRY(onnx_need_host(e, 1, "B", &b));
    if (a->dtype != b->dtype)
        return onnx_fail(e, VKDL_ERROR_DTYPE_MISMATCH, "inputs are %s and %s", vkdl_dtype_name(a->dtype),
                         vkdl_dtype_name(b->dtype));
    int n;
    int64_t dims[VKDL_MAX_DIMS];
    VKDL_TRY(onnx_broadcast(e, a->ndim, a->dims, b->ndim, b->dims, &n, dims));
    onnx_host *c;
    VKDL_TRY(onnx_out_host(e, 0, a->dtype, n, dims, &c));
    bool fl = onnx_dtype_is_float(a->dtype);
    for (int64_t i = 0; i < c->numel; i++) {
        int64_t ia = onnx_bcast_src(i, n, dims, a->ndim, a->dims), ib = onnx_bcast_src(i, n, dims, b->ndim, b->dims);
        if (fl)
            onnx_set_f(c, i, r->f(onnx_get_f(a, ia), onnx_get_f(b, ib)));
        else
            onnx_set_i(c, i, r->fi(onnx_get_i(a, ia), onnx_get_i(b, ib)));
    }
    return VKDL_OK;
}

static vkdl_status binary_device(onnx_exec *e)
{
    const binary_row *r = binary_find(e->node->op_type);
    if (onnx_in_dtype(e, 0) != onnx_in_dtype(e, 1))
        return onnx_fail(e, VKDL_ERROR_DTYPE_MISMATCH, "inputs are %s and %s", vkdl_dtype_name(onnx_in_dtype(e, 0)),
                         vkdl_dtype_name(onnx_in_dtype(e, 1)));
    if (r->op < 0 || onnx_in_dtype(e, 0) != VKDL_F32)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "%s on %s data on the device", r->type,
                         vkdl_dtype_name(onnx_in_dtype(e, 0)));
    if (!e->run) {
        int n;
        int64_t dims[VKDL_MAX_DIMS];
        VKDL_TRY(onnx_broadcast(e, onnx_in_ndim(e, 0), onnx_in_dims(e, 0), onnx_in_ndim(e, 1), onnx_in_dims(e, 1), &n,
                                dims));
        return onnx_out_set(e, 0, onnx_in_dtype(e, 0), n, dims);
    }
    vkdl_tensor *a, *b;
    VKDL_TRY(onnx_in(e, 0, &a));
    VKDL_TRY(onnx_in(e, 1, &b));
    return vkdl_binary((vkdl_binary_op)r->op, a, b, onnx_out(e, 0));
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
    {"Add", binary_host, binary_device},
    {"Sub", binary_host, binary_device},
    {"Mul", binary_host, binary_device},
    {"Div", binary_host, binary_device},
};
const int onnx_ops_elementwise_count = (int)VKDL_ARRAY_LEN(onnx_ops_elementwise);
