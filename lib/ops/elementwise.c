/* Elementwise ops: unary (relu, gelu, ...), scale, binary with numpy broadcasting (f32, i32 and
 * u8 data) and where, and the backward of unary and binary. Shaders: shaders/unary.comp,
 * shaders/binary.comp (backward: their BACKWARD builds; where: its WHERE build). Tests:
 * tests/test_elementwise.c, tests/test_elementwise_backward.c. */
#include "ops/ops.h"
#include "shaders.h"
#include "unary.h"
#include "binary.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WG 256
#define WG_SUM 64           /* workgroup of the long-sum mode */
#define LONG_SUM 1024       /* terms per gradient element from which a workgroup shares them */

/* The public op enums are passed to the shaders as they are. */
#define UNARY_CODE_(name, value, string) \
    _Static_assert(VKDL_##name == UNARY_OP_##name, "vkdl_unary_op " string " matches unary.h");
VKDL_UNARY_OP_LIST(UNARY_CODE_)
#undef UNARY_CODE_
_Static_assert(VKDL_UNARY_OP_COUNT <= UNARY_OP_SCALE, "UNARY_OP_SCALE is no vkdl_unary_op");
_Static_assert(VKDL_ADD == BINARY_OP_ADD && VKDL_SUB == BINARY_OP_SUB && VKDL_MUL == BINARY_OP_MUL &&
                   VKDL_DIV == BINARY_OP_DIV && VKDL_POW == BINARY_OP_POW && VKDL_MINIMUM == BINARY_OP_MINIMUM &&
                   VKDL_MAXIMUM == BINARY_OP_MAXIMUM && VKDL_FMOD == BINARY_OP_FMOD && VKDL_MOD == BINARY_OP_MOD &&
                   VKDL_PRELU == BINARY_OP_PRELU && VKDL_EQUAL == BINARY_OP_EQUAL && VKDL_LESS == BINARY_OP_LESS &&
                   VKDL_LESS_EQUAL == BINARY_OP_LESS_EQUAL && VKDL_GREATER == BINARY_OP_GREATER &&
                   VKDL_GREATER_EQUAL == BINARY_OP_GREATER_EQUAL && VKDL_AND == BINARY_OP_AND &&
                   VKDL_OR == BINARY_OP_OR && VKDL_XOR == BINARY_OP_XOR && VKDL_BINARY_OP_COUNT == BINARY_OP_XOR + 1,
               "vkdl_binary_op matches binary.h");
_Static_assert(VKDL_F32 == BINARY_TYPE_F32 && VKDL_I32 == BINARY_TYPE_I32 && VKDL_U8 == BINARY_TYPE_U8,
               "vkdl_dtype matches binary.h");
_Static_assert(VKDL_MAX_DIMS <= BINARY_MAX_DIMS, "binary.comp takes every collapsed shape");

/* ---------------------------------------------------------------- checks */

/* x and out (out_name: its name in the public signature) are f32 tensors of one shape and context. */
static vkdl_status check_unary(const char *op, const vkdl_tensor *x, const vkdl_tensor *out, const char *out_name)
{
    VKDL_TRY(vkdl_check_tensor(op, "x", x));
    VKDL_TRY(vkdl_check_tensor(op, out_name, out));
    VKDL_TRY(vkdl_check_same_ctx(op, x, out));
    VKDL_TRY(vkdl_check_dtype(op, "x", x, VKDL_F32));
    VKDL_TRY(vkdl_check_dtype(op, out_name, out, VKDL_F32));
    VKDL_TRY(vkdl_check_same_shape(op, x, out));
    if (x->numel > UINT32_MAX)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "%s: %lld elements exceed 2^32", op, (long long)x->numel);
    return VKDL_OK;
}

void vkdl_unary_defaults(vkdl_unary_op op, float *alpha, float *beta)
{
    *alpha = *beta = 0;
    switch (op) {
    case VKDL_LEAKY_RELU: *alpha = 0.01f; break;
    case VKDL_ELU:
    case VKDL_CELU:
    case VKDL_THRESHOLDED_RELU: *alpha = 1; break;
    case VKDL_SELU:
        *alpha = 1.67326319217681884765625f;
        *beta = 1.05070102214813232421875f;
        break;
    case VKDL_HARDSIGMOID:
        *alpha = 0.2f;
        *beta = 0.5f;
        break;
    case VKDL_CLIP:
        *alpha = -INFINITY;
        *beta = INFINITY;
        break;
    case VKDL_SHRINK: *alpha = 0.5f; break;
    default: break;
    }
}

/* A valid op, and its parameters in *p: info's, or the defaults where info is NULL. */
static vkdl_status check_unary_op(const char *name, vkdl_unary_op op, const vkdl_unary_info *info,
                                  vkdl_unary_info *p)
{
    if ((unsigned)op >= VKDL_UNARY_OP_COUNT)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: invalid op %d", name, (int)op);
    *p = (vkdl_unary_info){0};
    if (!info) {
        vkdl_unary_defaults(op, &p->alpha, &p->beta);
        return VKDL_OK;
    }
    VKDL_TRY(vkdl_check_next(name, info->next));
    if (op == VKDL_CELU && info->alpha == 0)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: celu alpha is 0", name);
    p->alpha = info->alpha;
    p->beta = info->beta;
    return VKDL_OK;
}

static vkdl_status check_unary_backward(vkdl_unary_op op, const vkdl_tensor *x, const vkdl_tensor *dy,
                                        const vkdl_tensor *dx, const vkdl_unary_info *info, vkdl_unary_info *p)
{
    const char *name = "unary_backward";
    VKDL_TRY(check_unary_op(name, op, info, p));
    VKDL_TRY(check_unary(name, x, dx, "dx"));
    VKDL_TRY(vkdl_check_tensor(name, "dy", dy));
    VKDL_TRY(vkdl_check_same_ctx(name, dy, dx));
    VKDL_TRY(vkdl_check_dtype(name, "dy", dy, VKDL_F32));
    return vkdl_check_same_shape(name, x, dy);
}

static bool is_comparison(vkdl_binary_op op) { return op >= VKDL_EQUAL && op <= VKDL_GREATER_EQUAL; }
static bool is_logical(vkdl_binary_op op) { return op >= VKDL_AND; }

/* A valid op and three tensors of one context; c is named c_name in the public signature. */
static vkdl_status check_binary(const char *name, vkdl_binary_op op, const vkdl_tensor *a, const vkdl_tensor *b,
                                const vkdl_tensor *c, const char *c_name)
{
    if ((unsigned)op >= VKDL_BINARY_OP_COUNT)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: invalid op %d", name, (int)op);
    VKDL_TRY(vkdl_check_tensor(name, "a", a));
    VKDL_TRY(vkdl_check_tensor(name, "b", b));
    VKDL_TRY(vkdl_check_tensor(name, c_name, c));
    VKDL_TRY(vkdl_check_same_ctx(name, a, c));
    return vkdl_check_same_ctx(name, b, c);
}

/* The dtypes vkdl.h lists for op: logical ops u8 throughout; the others a and b both f32 or both
 * i32, and out the same (u8 for comparisons). */
static vkdl_status check_binary_dtypes(vkdl_binary_op op, const vkdl_tensor *a, const vkdl_tensor *b,
                                       const vkdl_tensor *out)
{
    const char *name = "binary";
    if (is_logical(op)) {
        VKDL_TRY(vkdl_check_dtype(name, "a", a, VKDL_U8));
        VKDL_TRY(vkdl_check_dtype(name, "b", b, VKDL_U8));
        return vkdl_check_dtype(name, "out", out, VKDL_U8);
    }
    if (a->dtype != VKDL_F32 && a->dtype != VKDL_I32)
        return vkdl_fail(VKDL_ERROR_DTYPE_MISMATCH, "binary: a is %s, expected f32 or i32 for %s",
                         vkdl_dtype_name(a->dtype), vkdl_binary_op_name(op));
    VKDL_TRY(vkdl_check_dtype(name, "b", b, a->dtype));
    return vkdl_check_dtype(name, "out", out, is_comparison(op) ? VKDL_U8 : a->dtype);
}

/* Only ADD to PRELU have a gradient, and only in f32. */
static vkdl_status check_binary_backward(vkdl_binary_op op, const vkdl_tensor *a, const vkdl_tensor *b,
                                         const vkdl_tensor *dout)
{
    const char *name = "binary_backward";
    VKDL_TRY(check_binary(name, op, a, b, dout, "dout"));
    if (is_comparison(op) || is_logical(op))
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "binary_backward: %s is not differentiable",
                         vkdl_binary_op_name(op));
    VKDL_TRY(vkdl_check_dtype(name, "a", a, VKDL_F32));
    VKDL_TRY(vkdl_check_dtype(name, "b", b, VKDL_F32));
    return vkdl_check_dtype(name, "dout", dout, VKDL_F32);
}

/* cond u8; a, b and out one dtype of f32, i32 and u8; all of one context. */
static vkdl_status check_where(const vkdl_tensor *cond, const vkdl_tensor *a, const vkdl_tensor *b,
                               const vkdl_tensor *out)
{
    const char *name = "where";
    VKDL_TRY(vkdl_check_tensor(name, "cond", cond));
    VKDL_TRY(vkdl_check_tensor(name, "a", a));
    VKDL_TRY(vkdl_check_tensor(name, "b", b));
    VKDL_TRY(vkdl_check_tensor(name, "out", out));
    VKDL_TRY(vkdl_check_same_ctx(name, cond, out));
    VKDL_TRY(vkdl_check_same_ctx(name, a, out));
    VKDL_TRY(vkdl_check_same_ctx(name, b, out));
    VKDL_TRY(vkdl_check_dtype(name, "cond", cond, VKDL_U8));
    if (a->dtype != VKDL_F32 && a->dtype != VKDL_I32 && a->dtype != VKDL_U8)
        return vkdl_fail(VKDL_ERROR_DTYPE_MISMATCH, "where: a is %s, expected f32, i32 or u8",
                         vkdl_dtype_name(a->dtype));
    VKDL_TRY(vkdl_check_dtype(name, "b", b, a->dtype));
    return vkdl_check_dtype(name, "out", out, a->dtype);
}

/* An optional gradient g (named g_name) of operand x: f32, x's shape, dout's context. */
static vkdl_status check_operand_grad(const char *name, const char *g_name, const vkdl_tensor *g,
                                      const vkdl_tensor *x, const vkdl_tensor *dout)
{
    if (!g)
        return VKDL_OK;
    VKDL_TRY(vkdl_check_same_ctx(name, g, dout));
    VKDL_TRY(vkdl_check_dtype(name, g_name, g, VKDL_F32));
    return vkdl_check_same_shape(name, x, g);
}

/* Broadcast up to three operands to out's shape and collapse dims that stay contiguous in all of
 * them, giving shape and each operand's element strides (0 = broadcast) of at most VKDL_MAX_DIMS
 * dims. Along a dim it is not broadcast along, an operand's stride is the product of the sizes of
 * the later dims it is not broadcast along (binary.comp's WHERE build relies on it). */
typedef struct bcast {
    int ndim;
    int64_t shape[VKDL_MAX_DIMS], s[3][VKDL_MAX_DIMS];
} bcast;

static vkdl_status broadcast_fail(const char *op, int n_x, const vkdl_tensor *const *x, const char *const *names,
                                  const vkdl_tensor *out)
{
    char msg[4 * (VKDL_SHAPE_BUF + 16)], sh[VKDL_SHAPE_BUF];
    size_t len = 0;
    for (int k = 0; k < n_x; k++)
        len += (size_t)snprintf(msg + len, sizeof msg - len, "%s%s %s", k == 0 ? "" : k + 1 < n_x ? ", " : " and ",
                                names[k], vkdl_shape_str(x[k], sh, sizeof sh));
    return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: cannot broadcast %s to out %s", op, msg,
                     vkdl_shape_str(out, sh, sizeof sh));
}

static vkdl_status broadcast(const char *op, int n_x, const vkdl_tensor *const *x, const char *const *names,
                             const vkdl_tensor *out, bcast *bc)
{
    int n = out->ndim;
    int64_t s[3][VKDL_MAX_DIMS], r[3] = {1, 1, 1};
    for (int k = 0; k < n_x; k++)
        if (x[k]->ndim > n)
            return broadcast_fail(op, n_x, x, names, out);
    for (int i = n - 1; i >= 0; i--) {
        int64_t want = 1;
        for (int k = 0; k < n_x; k++) {
            int ik = i - (n - x[k]->ndim);
            int64_t dk = ik >= 0 ? x[k]->shape[ik] : 1;
            if (dk != 1 && want != 1 && dk != want)
                return broadcast_fail(op, n_x, x, names, out);
            if (dk != 1)
                want = dk;
            s[k][i] = dk == 1 ? 0 : r[k];
            r[k] *= dk;
        }
        if (out->shape[i] != want)
            return broadcast_fail(op, n_x, x, names, out);
    }
    /* Collapse: dim i merges into the previous kept dim when each operand's stride there is its
     * stride at i times the size of i (contiguous, or 0 at both). */
    memset(bc, 0, sizeof *bc);
    for (int i = 0; i < n; i++) {
        if (out->shape[i] == 1)
            continue; /* size-1 dims add nothing */
        bool merge = bc->ndim > 0;
        for (int k = 0; k < n_x; k++)
            merge = merge && bc->s[k][bc->ndim - 1] == s[k][i] * out->shape[i];
        if (!merge)
            bc->shape[bc->ndim++] = 1;
        int d = bc->ndim - 1;
        bc->shape[d] *= out->shape[i];
        for (int k = 0; k < n_x; k++)
            bc->s[k][d] = s[k][i];
    }
    if (bc->ndim == 0) {
        bc->ndim = 1;
        bc->shape[0] = 1;
    }
    return VKDL_OK;
}

static vkdl_status broadcast2(const char *op, const vkdl_tensor *a, const vkdl_tensor *b, const vkdl_tensor *out,
                              bcast *bc)
{
    const vkdl_tensor *x[2] = {a, b};
    static const char *const names[2] = {"a", "b"};
    return broadcast(op, 2, x, names, out, bc);
}

/* The operands' element indices of out's element i. */
static void bcast_index(const bcast *bc, int64_t i, int64_t idx[3])
{
    idx[0] = idx[1] = idx[2] = 0;
    for (int d = bc->ndim - 1; d >= 0; d--) {
        int64_t c = i % bc->shape[d];
        i /= bc->shape[d];
        for (int k = 0; k < 3; k++)
            idx[k] += c * bc->s[k][d];
    }
}

/* ---------------------------------------------------------------- CPU twin */

/* PyTorch's formulas, in double; NaN gives NaN (relu's comparison alone would give 0). */
static double unary_ref(int op, double v, double alpha, double beta)
{
    if (isnan(v))
        return v;
    switch (op) {
    case VKDL_RELU: return v > 0 ? v : 0;
    case VKDL_GELU_TANH: return 0.5 * v * (1 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
    case VKDL_GELU_ERF: return 0.5 * v * (1 + erf(v * 0.7071067811865476));
    case VKDL_SIGMOID: return 1 / (1 + exp(-v));
    case VKDL_TANH: return tanh(v);
    case VKDL_EXP: return exp(v);
    case VKDL_LOG: return log(v);
    case VKDL_SQRT: return sqrt(v);
    case VKDL_NEG: return -v;
    case VKDL_ABS: return fabs(v);
    case VKDL_FLOOR: return floor(v);
    case VKDL_CEIL: return ceil(v);
    case VKDL_ROUND: return nearbyint(v); /* the default rounding mode: halves to even */
    case VKDL_SIGN: return v > 0 ? 1 : v < 0 ? -1 : v;
    case VKDL_RECIPROCAL: return 1 / v;
    case VKDL_SIN: return sin(v);
    case VKDL_COS: return cos(v);
    case VKDL_TAN: return tan(v);
    case VKDL_ASIN: return asin(v);
    case VKDL_ACOS: return acos(v);
    case VKDL_ATAN: return atan(v);
    case VKDL_SINH: return sinh(v);
    case VKDL_COSH: return cosh(v);
    case VKDL_ASINH: return asinh(v);
    case VKDL_ACOSH: return acosh(v);
    case VKDL_ATANH: return atanh(v);
    case VKDL_ERF: return erf(v);
    case VKDL_SOFTPLUS: return (v > 0 ? v : 0) + log1p(exp(-fabs(v)));
    case VKDL_SOFTSIGN: return v / (1 + fabs(v));
    case VKDL_SILU: return v / (1 + exp(-v));
    case VKDL_MISH: return v * tanh((v > 0 ? v : 0) + log1p(exp(-fabs(v))));
    case VKDL_HARDSWISH: {
        double t = v + 3;
        return v * (t <= 0 ? 0 : t >= 6 ? 6 : t) / 6;
    }
    case VKDL_LEAKY_RELU: return v > 0 ? v : alpha * v;
    case VKDL_ELU: return v > 0 ? v : alpha * expm1(v);
    case VKDL_SELU: return beta * (v > 0 ? v : alpha * expm1(v));
    case VKDL_CELU: return v > 0 ? v : alpha * expm1(v / alpha);
    case VKDL_HARDSIGMOID: {
        double t = alpha * v + beta;
        return t <= 0 ? 0 : t >= 1 ? 1 : t;
    }
    case VKDL_CLIP: {
        double t = v < alpha ? alpha : v;
        return t > beta ? beta : t;
    }
    case VKDL_THRESHOLDED_RELU: return v <= alpha ? 0 : v;
    case VKDL_SHRINK: return fabs(v) <= alpha ? 0 : v < 0 ? v + beta : v - beta;
    case UNARY_OP_SCALE: return alpha * v + beta;
    }
    return NAN;
}

/* op: a vkdl_unary_op or UNARY_OP_SCALE. */
static void cpu_unary(int op, const vkdl_tensor *x, vkdl_tensor *out, float alpha, float beta)
{
    const float *px = vkdl_tensor_host(x);
    float *py = vkdl_tensor_host(out);
    for (int64_t i = 0; i < x->numel; i++)
        py[i] = (float)unary_ref(op, px[i], alpha, beta);
}

/* d op(v) / dv; at a kink the side PyTorch takes (relu and abs: 0 at 0, clip: 1 at its bounds). */
static double unary_grad_ref(vkdl_unary_op op, double v, double alpha, double beta)
{
    switch (op) {
    case VKDL_RELU: return v > 0 ? 1 : 0;
    case VKDL_GELU_TANH: {
        double k = 0.7978845608028654, t = tanh(k * (v + 0.044715 * v * v * v));
        return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * k * (1 + 3 * 0.044715 * v * v);
    }
    case VKDL_GELU_ERF: return 0.5 * (1 + erf(v * 0.7071067811865476)) + v * exp(-0.5 * v * v) * 0.3989422804014327;
    case VKDL_SIGMOID: {
        double s = 1 / (1 + exp(-v));
        return s * (1 - s);
    }
    case VKDL_TANH: {
        double t = tanh(v);
        return 1 - t * t;
    }
    case VKDL_EXP: return exp(v);
    case VKDL_LOG: return 1 / v;
    case VKDL_SQRT: return 0.5 / sqrt(v);
    case VKDL_NEG: return -1;
    case VKDL_ABS: return v > 0 ? 1 : v < 0 ? -1 : 0;
    case VKDL_FLOOR:
    case VKDL_CEIL:
    case VKDL_ROUND:
    case VKDL_SIGN: return 0;
    case VKDL_RECIPROCAL: return -1 / (v * v);
    case VKDL_SIN: return cos(v);
    case VKDL_COS: return -sin(v);
    case VKDL_TAN: return 1 / (cos(v) * cos(v));
    case VKDL_ASIN: return 1 / sqrt(1 - v * v);
    case VKDL_ACOS: return -1 / sqrt(1 - v * v);
    case VKDL_ATAN: return 1 / (1 + v * v);
    case VKDL_SINH: return cosh(v);
    case VKDL_COSH: return sinh(v);
    case VKDL_ASINH: return 1 / sqrt(v * v + 1);
    case VKDL_ACOSH: return 1 / sqrt(v * v - 1);
    case VKDL_ATANH: return 1 / (1 - v * v);
    case VKDL_ERF: return 1.1283791670955126 * exp(-v * v);
    case VKDL_SOFTPLUS: return 1 / (1 + exp(-v));
    case VKDL_SOFTSIGN: return 1 / ((1 + fabs(v)) * (1 + fabs(v)));
    case VKDL_SILU: {
        double s = 1 / (1 + exp(-v));
        return s * (1 + v * (1 - s));
    }
    case VKDL_MISH: {
        double t = tanh((v > 0 ? v : 0) + log1p(exp(-fabs(v))));
        return t + v * (1 - t * t) / (1 + exp(-v));
    }
    case VKDL_HARDSWISH: return v < -3 ? 0 : v <= 3 ? (2 * v + 3) / 6 : 1;
    case VKDL_LEAKY_RELU: return v > 0 ? 1 : alpha;
    case VKDL_ELU: return v > 0 ? 1 : alpha * exp(v);
    case VKDL_SELU: return beta * (v > 0 ? 1 : alpha * exp(v));
    case VKDL_CELU: return v > 0 ? 1 : exp(v / alpha);
    case VKDL_HARDSIGMOID: {
        double t = alpha * v + beta;
        return t > 0 && t < 1 ? alpha : 0;
    }
    case VKDL_CLIP: return v >= alpha && v <= beta ? 1 : 0;
    case VKDL_THRESHOLDED_RELU: return v > alpha ? 1 : 0;
    case VKDL_SHRINK: return fabs(v) > alpha ? 1 : 0;
    case VKDL_UNARY_OP_COUNT: break;
    }
    return NAN;
}

static void cpu_unary_backward(vkdl_unary_op op, const vkdl_tensor *x, const vkdl_tensor *dy, vkdl_tensor *dx,
                               const vkdl_unary_info *p)
{
    const float *px = vkdl_tensor_host(x), *pdy = vkdl_tensor_host(dy);
    float *pdx = vkdl_tensor_host(dx);
    for (int64_t i = 0; i < x->numel; i++)
        pdx[i] = (float)(pdy[i] * unary_grad_ref(op, px[i], p->alpha, p->beta));
}

/* C's fmod, then moved to y's sign (a zero too): Python's and NumPy's floor modulo. */
static float floor_mod(float x, float y)
{
    float r = fmodf(x, y);
    if (r != 0 && (r < 0) != (y < 0))
        r += y;
    return r == 0 ? copysignf(0, y) : r;
}

static float binary_f32(vkdl_binary_op op, float x, float y)
{
    switch (op) {
    case VKDL_ADD: return x + y;
    case VKDL_SUB: return x - y;
    case VKDL_MUL: return x * y;
    case VKDL_DIV: return x / y;
    case VKDL_POW: return (float)pow(x, y);
    case VKDL_MINIMUM: return isnan(x) || isnan(y) ? NAN : x < y ? x : y;
    case VKDL_MAXIMUM: return isnan(x) || isnan(y) ? NAN : x > y ? x : y;
    case VKDL_FMOD: return fmodf(x, y);
    case VKDL_MOD: return floor_mod(x, y);
    case VKDL_PRELU: return x < 0 ? x * y : x;
    default: break;
    }
    return NAN;
}

/* Two's complement wrap-around, computed in uint32_t where signed overflow would be undefined;
 * division and remainder by 0 give 0, and INT32_MIN / -1 wraps to INT32_MIN. */
static int32_t binary_i32(vkdl_binary_op op, int32_t x, int32_t y)
{
    uint32_t ux = (uint32_t)x, uy = (uint32_t)y;
    switch (op) {
    case VKDL_ADD: return (int32_t)(ux + uy);
    case VKDL_SUB: return (int32_t)(ux - uy);
    case VKDL_MUL: return (int32_t)(ux * uy);
    case VKDL_DIV: return y == 0 ? 0 : y == -1 ? (int32_t)(0u - ux) : x / y;
    case VKDL_POW: {
        if (y < 0)
            return x == 1 ? 1 : x == -1 ? (y % 2 ? -1 : 1) : 0;
        uint32_t r = 1;
        for (; uy; uy >>= 1, ux *= ux)
            if (uy & 1)
                r *= ux;
        return (int32_t)r;
    }
    case VKDL_MINIMUM: return x < y ? x : y;
    case VKDL_MAXIMUM: return x > y ? x : y;
    case VKDL_FMOD: return y == 0 || y == -1 ? 0 : x % y;
    case VKDL_MOD: {
        int32_t r = y == 0 || y == -1 ? 0 : x % y;
        return r != 0 && (r < 0) != (y < 0) ? r + y : r;
    }
    case VKDL_PRELU: return x < 0 ? (int32_t)(ux * uy) : x;
    default: break;
    }
    return 0;
}

/* Comparisons are exact on f32 and i32 values alike in double. */
static uint8_t binary_u8(vkdl_binary_op op, double x, double y)
{
    switch (op) {
    case VKDL_EQUAL: return x == y;
    case VKDL_LESS: return x < y;
    case VKDL_LESS_EQUAL: return x <= y;
    case VKDL_GREATER: return x > y;
    case VKDL_GREATER_EQUAL: return x >= y;
    case VKDL_AND: return x != 0 && y != 0;
    case VKDL_OR: return x != 0 || y != 0;
    case VKDL_XOR: return (x != 0) != (y != 0);
    default: break;
    }
    return 0;
}

static double load_f64(const vkdl_tensor *t, int64_t i)
{
    const void *p = vkdl_tensor_host(t);
    switch (t->dtype) {
    case VKDL_F32: return ((const float *)p)[i];
    case VKDL_I32: return ((const int32_t *)p)[i];
    default: return ((const uint8_t *)p)[i];
    }
}

static void cpu_binary(vkdl_binary_op op, const bcast *bc, const vkdl_tensor *a, const vkdl_tensor *b,
                       vkdl_tensor *out)
{
    void *pc = vkdl_tensor_host(out);
    const void *pa = vkdl_tensor_host(a), *pb = vkdl_tensor_host(b);
    for (int64_t i = 0; i < out->numel; i++) {
        int64_t idx[3];
        bcast_index(bc, i, idx);
        if (out->dtype == VKDL_U8)
            ((uint8_t *)pc)[i] = binary_u8(op, load_f64(a, idx[0]), load_f64(b, idx[1]));
        else if (out->dtype == VKDL_I32)
            ((int32_t *)pc)[i] = binary_i32(op, ((const int32_t *)pa)[idx[0]], ((const int32_t *)pb)[idx[1]]);
        else
            ((float *)pc)[i] = binary_f32(op, ((const float *)pa)[idx[0]], ((const float *)pb)[idx[1]]);
    }
}

static void cpu_where(const bcast *bc, const vkdl_tensor *cond, const vkdl_tensor *a, const vkdl_tensor *b,
                      vkdl_tensor *out)
{
    size_t size = vkdl_dtype_size(out->dtype);
    const uint8_t *pc = vkdl_tensor_host(cond);
    const char *pa = vkdl_tensor_host(a), *pb = vkdl_tensor_host(b);
    char *po = vkdl_tensor_host(out);
    for (int64_t i = 0; i < out->numel; i++) {
        int64_t idx[3];
        bcast_index(bc, i, idx);
        const char *src = pc[idx[0]] ? pa + idx[1] * size : pb + idx[2] * size;
        memcpy(po + i * size, src, size);
    }
}

/* d(a op b)/da (which BINARY_WHICH_A) or d/db (BINARY_WHICH_B), times the upstream gradient g. */
static double binary_partial(vkdl_binary_op op, int which, double a, double b, double g)
{
    switch (op) {
    case VKDL_ADD: return g;
    case VKDL_SUB: return which ? -g : g;
    case VKDL_MUL: return g * (which ? a : b);
    case VKDL_DIV: return which ? -g * a / (b * b) : g / b;
    case VKDL_POW: return which ? (a == 0 ? 0 : g * pow(a, b) * log(a)) : g * b * pow(a, b - 1);
    case VKDL_MINIMUM:
    case VKDL_MAXIMUM: {
        if (a == b)
            return 0.5 * g; /* a tie: half each, as torch.minimum / torch.maximum */
        bool a_wins = op == VKDL_MINIMUM ? a < b : a > b;
        return a_wins == !which ? g : 0;
    }
    case VKDL_PRELU: return a > 0 ? (which ? 0 : g) : g * (which ? a : b);
    case VKDL_FMOD: return which ? -trunc(a / b) * g : g;
    case VKDL_MOD: return which ? -floor(a / b) * g : g;
    default: break;
    }
    return NAN;
}

/* Accumulate in double per element of da / db, then round once. */
static vkdl_status cpu_binary_backward(vkdl_binary_op op, const bcast *bc, const vkdl_tensor *a, const vkdl_tensor *b,
                                       const vkdl_tensor *dout, vkdl_tensor *da, vkdl_tensor *db)
{
    const float *pa = vkdl_tensor_host(a), *pb = vkdl_tensor_host(b), *pd = vkdl_tensor_host(dout);
    double *ga = da ? calloc((size_t)a->numel + 1, sizeof *ga) : NULL;
    double *gb = db ? calloc((size_t)b->numel + 1, sizeof *gb) : NULL;
    if ((da && !ga) || (db && !gb)) {
        free(ga);
        free(gb);
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "binary_backward: out of host memory");
    }
    for (int64_t i = 0; i < dout->numel; i++) {
        int64_t idx[3];
        bcast_index(bc, i, idx);
        int64_t ia = idx[0], ib = idx[1];
        if (ga)
            ga[ia] += binary_partial(op, 0, pa[ia], pb[ib], pd[i]);
        if (gb)
            gb[ib] += binary_partial(op, 1, pa[ia], pb[ib], pd[i]);
    }
    for (int64_t i = 0; ga && i < a->numel; i++)
        ((float *)vkdl_tensor_host(da))[i] = (float)ga[i];
    for (int64_t i = 0; gb && i < b->numel; i++)
        ((float *)vkdl_tensor_host(db))[i] = (float)gb[i];
    free(ga);
    free(gb);
    return VKDL_OK;
}

/* ---------------------------------------------------------------- GPU launcher */

VKDL_PUSH_STRUCT(unary_push, UNARY_PUSH, 2);
VKDL_PUSH_STRUCT(unary_backward_push, UNARY_BACKWARD_PUSH, 3);
VKDL_PUSH_STRUCT(binary_push, BINARY_PUSH, 3);
VKDL_PUSH_STRUCT(binary_backward_push, BINARY_BACKWARD_PUSH, 4);
VKDL_PUSH_STRUCT(where_push, WHERE_PUSH, 4);

static const vkdl_kernel K_UNARY = {
    VKDL_SPIRV(unary),
    .n_bindings = 2,
    .access = {VKDL_READ, VKDL_WRITE},
    .push_size = sizeof(struct unary_push),
    .n_spec = UNARY_SPEC_COUNT,
};

static const vkdl_kernel K_UNARY_BACKWARD = {
    VKDL_SPIRV(unary_backward),
    .n_bindings = 3,
    .access = {VKDL_READ, VKDL_READ, VKDL_WRITE},
    .push_size = sizeof(struct unary_backward_push),
    .n_spec = UNARY_SPEC_COUNT,
};

static const vkdl_kernel K_BINARY = {
    VKDL_SPIRV(binary),
    .n_bindings = 3,
    .access = {VKDL_READ, VKDL_READ, VKDL_RW}, /* partial u8 words at the edges are read back */
    .push_size = sizeof(struct binary_push),
    .n_spec = BINARY_SPEC_COUNT,
};

static const vkdl_kernel K_BINARY_WHERE = {
    VKDL_SPIRV(binary_where),
    .n_bindings = 4,
    .access = {VKDL_READ, VKDL_READ, VKDL_READ, VKDL_RW},
    .push_size = sizeof(struct where_push),
    .n_spec = BINARY_SPEC_COUNT,
};

static const vkdl_kernel K_BINARY_BACKWARD = {
    VKDL_SPIRV(binary_backward),
    .n_bindings = 4,
    .access = {VKDL_READ, VKDL_READ, VKDL_READ, VKDL_WRITE},
    .push_size = sizeof(struct binary_backward_push),
    .n_spec = BINARY_BACKWARD_SPEC_COUNT,
};

/* op: a vkdl_unary_op or UNARY_OP_SCALE. */
static vkdl_status gpu_unary(int op, const vkdl_tensor *x, vkdl_tensor *out, float alpha, float beta)
{
    struct unary_push push = {.n = (uint32_t)x->numel, .alpha = alpha, .beta = beta};
    uint32_t spec[UNARY_SPEC_COUNT] = {[UNARY_SPEC_WG] = WG, [UNARY_SPEC_OP] = (uint32_t)op};
    vkdl_dispatch_info d = {.kernel = &K_UNARY, .spec = spec, .tensors = {x, out}, .push = &push};
    vkdl_grid_1d(x->ctx, (x->numel + WG - 1) / WG, d.groups);
    return vkdl_dispatch(x->ctx, &d);
}

static vkdl_status gpu_unary_backward(vkdl_unary_op op, const vkdl_tensor *x, const vkdl_tensor *dy, vkdl_tensor *dx,
                                      const vkdl_unary_info *p)
{
    struct unary_backward_push push = {.n = (uint32_t)x->numel, .alpha = p->alpha, .beta = p->beta};
    uint32_t spec[UNARY_SPEC_COUNT] = {[UNARY_SPEC_WG] = WG, [UNARY_SPEC_OP] = (uint32_t)op};
    vkdl_dispatch_info d = {.kernel = &K_UNARY_BACKWARD, .spec = spec, .tensors = {x, dy, dx}, .push = &push};
    vkdl_grid_1d(x->ctx, (x->numel + WG - 1) / WG, d.groups);
    return vkdl_dispatch(x->ctx, &d);
}

/* The 32-bit words out's elements touch in its binding: a u8 view may start and end mid-word. */
static uint32_t out_words(const vkdl_tensor *out)
{
    uint64_t k = 4 / vkdl_dtype_size(out->dtype);
    VkDeviceSize base = out->st->alloc.offset + out->offset;
    VkDeviceSize align = out->ctx->dev.caps.min_storage_align ? out->ctx->dev.caps.min_storage_align : 1;
    uint64_t off = (base % align) / vkdl_dtype_size(out->dtype);
    return (uint32_t)((off + (uint64_t)out->numel + k - 1) / k - off / k);
}

static vkdl_status gpu_binary(vkdl_binary_op op, const bcast *bc, const vkdl_tensor *a, const vkdl_tensor *b,
                              vkdl_tensor *out)
{
    struct binary_push push = {.n = (uint32_t)out->numel, .words = out_words(out)};
    for (int i = 0; i < bc->ndim; i++) {
        push.shape[i] = (uint32_t)bc->shape[i];
        push.stride_a[i] = (uint32_t)bc->s[0][i];
        push.stride_b[i] = (uint32_t)bc->s[1][i];
    }
    uint32_t spec[BINARY_SPEC_COUNT] = {[BINARY_SPEC_WG] = WG, [BINARY_SPEC_OP] = (uint32_t)op,
                                        [BINARY_SPEC_NDIM] = (uint32_t)bc->ndim, [BINARY_SPEC_TYPE] = a->dtype};
    vkdl_dispatch_info d = {.kernel = &K_BINARY, .spec = spec, .tensors = {a, b, out}, .push = &push};
    vkdl_grid_1d(out->ctx, (push.words + WG - 1) / WG, d.groups);
    return vkdl_dispatch(out->ctx, &d);
}

static vkdl_status gpu_where(const bcast *bc, const vkdl_tensor *cond, const vkdl_tensor *a, const vkdl_tensor *b,
                             vkdl_tensor *out)
{
    struct where_push push = {.n = (uint32_t)out->numel, .words = out_words(out)};
    for (int i = 0; i < bc->ndim; i++) {
        push.shape[i] = (uint32_t)bc->shape[i];
        for (int k = 0; k < 3; k++)
            if (bc->s[k][i] == 0)
                push.bcast[k] |= 1u << i;
    }
    uint32_t spec[BINARY_SPEC_COUNT] = {
        [BINARY_SPEC_WG] = WG, [BINARY_SPEC_NDIM] = (uint32_t)bc->ndim, [BINARY_SPEC_TYPE] = out->dtype};
    vkdl_dispatch_info d = {.kernel = &K_BINARY_WHERE, .spec = spec, .tensors = {cond, a, b, out}, .push = &push};
    vkdl_grid_1d(out->ctx, (push.words + WG - 1) / WG, d.groups);
    return vkdl_dispatch(out->ctx, &d);
}

/* One gradient: each element of the operand sums dout over the dims the operand was broadcast
 * along, in a fixed order (deterministic, no atomics). */
static vkdl_status gpu_binary_grad(vkdl_binary_op op, int which, const bcast *bc, const vkdl_tensor *a,
                                   const vkdl_tensor *b, const vkdl_tensor *dout, vkdl_tensor *g)
{
    struct binary_backward_push push = {.n = (uint32_t)g->numel, .n_red = 1};
    for (int i = 0; i < bc->ndim; i++) {
        push.shape[i] = (uint32_t)bc->shape[i];
        push.stride_a[i] = (uint32_t)bc->s[0][i];
        push.stride_b[i] = (uint32_t)bc->s[1][i];
        if (bc->s[which == BINARY_WHICH_B][i] == 0) {
            push.reduced |= 1u << i;
            push.n_red *= (uint32_t)bc->shape[i];
        }
    }
    bool long_sum = push.n_red >= LONG_SUM;
    uint32_t spec[BINARY_BACKWARD_SPEC_COUNT] = {
        [BINARY_SPEC_WG] = long_sum ? WG_SUM : WG,
        [BINARY_SPEC_OP] = (uint32_t)op,
        [BINARY_SPEC_NDIM] = (uint32_t)bc->ndim,
        [BINARY_SPEC_WHICH] = (uint32_t)which,
        [BINARY_SPEC_MODE] = long_sum ? BINARY_MODE_WORKGROUP : BINARY_MODE_INVOCATION,
    };
    vkdl_dispatch_info d = {.kernel = &K_BINARY_BACKWARD, .spec = spec, .tensors = {a, b, dout, g}, .push = &push};
    vkdl_grid_1d(g->ctx, long_sum ? (uint64_t)g->numel : (uint64_t)(g->numel + WG - 1) / WG, d.groups);
    return vkdl_dispatch(g->ctx, &d);
}

/* ---------------------------------------------------------------- entry points */

/* op: a vkdl_unary_op or UNARY_OP_SCALE. */
static vkdl_status run_unary(int op, const vkdl_tensor *x, vkdl_tensor *out, float alpha, float beta)
{
    if (x->numel == 0)
        return VKDL_OK;
    if (x->ctx->backend == VKDL_BACKEND_CPU) {
        cpu_unary(op, x, out, alpha, beta);
        return VKDL_OK;
    }
    return gpu_unary(op, x, out, alpha, beta);
}

vkdl_status vkdl_unary_with(vkdl_unary_op op, const vkdl_tensor *x, const vkdl_unary_info *info, vkdl_tensor *out)
{
    vkdl_unary_info p;
    VKDL_TRY(check_unary_op("unary", op, info, &p));
    VKDL_TRY(check_unary("unary", x, out, "out"));
    return run_unary(op, x, out, p.alpha, p.beta);
}

vkdl_status vkdl_unary(vkdl_unary_op op, const vkdl_tensor *x, vkdl_tensor *out)
{
    return vkdl_unary_with(op, x, NULL, out);
}

vkdl_status vkdl_scale(const vkdl_tensor *x, float alpha, float beta, vkdl_tensor *out)
{
    VKDL_TRY(check_unary("scale", x, out, "out"));
    return run_unary(UNARY_OP_SCALE, x, out, alpha, beta);
}

vkdl_status vkdl_unary_backward_with(vkdl_unary_op op, const vkdl_tensor *x, const vkdl_tensor *dy,
                                     const vkdl_unary_info *info, vkdl_tensor *dx)
{
    vkdl_unary_info p;
    VKDL_TRY(check_unary_backward(op, x, dy, dx, info, &p));
    if (x->numel == 0)
        return VKDL_OK;
    if (x->ctx->backend == VKDL_BACKEND_CPU) {
        cpu_unary_backward(op, x, dy, dx, &p);
        return VKDL_OK;
    }
    return gpu_unary_backward(op, x, dy, dx, &p);
}

vkdl_status vkdl_unary_backward(vkdl_unary_op op, const vkdl_tensor *x, const vkdl_tensor *dy, vkdl_tensor *dx)
{
    return vkdl_unary_backward_with(op, x, dy, NULL, dx);
}

vkdl_status vkdl_binary(vkdl_binary_op op, const vkdl_tensor *a, const vkdl_tensor *b, vkdl_tensor *out)
{
    const char *name = "binary";
    VKDL_TRY(check_binary(name, op, a, b, out, "out"));
    VKDL_TRY(check_binary_dtypes(op, a, b, out));
    bcast bc;
    VKDL_TRY(broadcast2(name, a, b, out, &bc));
    if (out->numel > UINT32_MAX)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "binary: %lld elements exceed 2^32", (long long)out->numel);
    if (out->numel == 0)
        return VKDL_OK;
    if (out->ctx->backend == VKDL_BACKEND_CPU) {
        cpu_binary(op, &bc, a, b, out);
        return VKDL_OK;
    }
    return gpu_binary(op, &bc, a, b, out);
}

vkdl_status vkdl_binary_backward(vkdl_binary_op op, const vkdl_tensor *a, const vkdl_tensor *b,
                                 const vkdl_tensor *dout, vkdl_tensor *da, vkdl_tensor *db)
{
    const char *name = "binary_backward";
    VKDL_TRY(check_binary_backward(op, a, b, dout));
    VKDL_TRY(check_operand_grad(name, "da", da, a, dout));
    VKDL_TRY(check_operand_grad(name, "db", db, b, dout));
    bcast bc;
    VKDL_TRY(broadcast2(name, a, b, dout, &bc));
    if (dout->numel > UINT32_MAX)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "binary_backward: %lld elements exceed 2^32", (long long)dout->numel);
    /* An empty dout has no memory to bind; an operand broadcast along its empty dim gets zeros. */
    if (dout->numel == 0) {
        if (da && da->numel)
            VKDL_TRY(vkdl_tensor_fill(da, 0));
        if (db && db->numel)
            VKDL_TRY(vkdl_tensor_fill(db, 0));
        return VKDL_OK;
    }
    if (dout->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_binary_backward(op, &bc, a, b, dout, da, db);
    if (da)
        VKDL_TRY(gpu_binary_grad(op, BINARY_WHICH_A, &bc, a, b, dout, da));
    if (db)
        VKDL_TRY(gpu_binary_grad(op, BINARY_WHICH_B, &bc, a, b, dout, db));
    return VKDL_OK;
}

vkdl_status vkdl_where(const vkdl_tensor *cond, const vkdl_tensor *a, const vkdl_tensor *b, vkdl_tensor *out)
{
    VKDL_TRY(check_where(cond, a, b, out));
    const vkdl_tensor *x[3] = {cond, a, b};
    static const char *const names[3] = {"cond", "a", "b"};
    bcast bc;
    VKDL_TRY(broadcast("where", 3, x, names, out, &bc));
    if (out->numel > UINT32_MAX)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "where: %lld elements exceed 2^32", (long long)out->numel);
    if (out->numel == 0)
        return VKDL_OK;
    if (out->ctx->backend == VKDL_BACKEND_CPU) {
        cpu_where(&bc, cond, a, b, out);
        return VKDL_OK;
    }
    return gpu_where(&bc, cond, a, b, out);
}
