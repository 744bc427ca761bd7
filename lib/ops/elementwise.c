/* Elementwise ops: unary (relu, gelu, ...), scale, and binary with numpy broadcasting, and the
 * backward of unary and binary. Shaders: shaders/unary.comp, shaders/binary.comp (backward: their
 * BACKWARD builds). Tests: tests/test_elementwise.c, tests/test_elementwise_backward.c. */
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
_Static_assert(VKDL_RELU == UNARY_OP_RELU && VKDL_GELU_TANH == UNARY_OP_GELU_TANH &&
                   VKDL_GELU_ERF == UNARY_OP_GELU_ERF && VKDL_SIGMOID == UNARY_OP_SIGMOID &&
                   VKDL_TANH == UNARY_OP_TANH && VKDL_EXP == UNARY_OP_EXP && VKDL_LOG == UNARY_OP_LOG &&
                   VKDL_SQRT == UNARY_OP_SQRT && VKDL_NEG == UNARY_OP_NEG && VKDL_ABS == UNARY_OP_ABS,
               "vkdl_unary_op matches unary.h");
_Static_assert(VKDL_UNARY_OP_COUNT <= UNARY_OP_SCALE, "UNARY_OP_SCALE is no vkdl_unary_op");
_Static_assert(VKDL_ADD == BINARY_OP_ADD && VKDL_SUB == BINARY_OP_SUB && VKDL_MUL == BINARY_OP_MUL &&
                   VKDL_DIV == BINARY_OP_DIV,
               "vkdl_binary_op matches binary.h");
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

static vkdl_status check_unary_op(const char *name, vkdl_unary_op op)
{
    if ((unsigned)op >= VKDL_UNARY_OP_COUNT)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: invalid op %d", name, (int)op);
    return VKDL_OK;
}

static vkdl_status check_unary_backward(vkdl_unary_op op, const vkdl_tensor *x, const vkdl_tensor *dy,
                                        const vkdl_tensor *dx)
{
    const char *name = "unary_backward";
    VKDL_TRY(check_unary_op(name, op));
    VKDL_TRY(check_unary(name, x, dx, "dx"));
    VKDL_TRY(vkdl_check_tensor(name, "dy", dy));
    VKDL_TRY(vkdl_check_same_ctx(name, dy, dx));
    VKDL_TRY(vkdl_check_dtype(name, "dy", dy, VKDL_F32));
    return vkdl_check_same_shape(name, x, dy);
}

/* A valid op and three f32 tensors of one context; c is named c_name in the public signature. */
static vkdl_status check_binary(const char *name, vkdl_binary_op op, const vkdl_tensor *a, const vkdl_tensor *b,
                                const vkdl_tensor *c, const char *c_name)
{
    if ((unsigned)op >= VKDL_BINARY_OP_COUNT)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: invalid op %d", name, (int)op);
    VKDL_TRY(vkdl_check_tensor(name, "a", a));
    VKDL_TRY(vkdl_check_tensor(name, "b", b));
    VKDL_TRY(vkdl_check_tensor(name, c_name, c));
    VKDL_TRY(vkdl_check_same_ctx(name, a, c));
    VKDL_TRY(vkdl_check_same_ctx(name, b, c));
    VKDL_TRY(vkdl_check_dtype(name, "a", a, VKDL_F32));
    VKDL_TRY(vkdl_check_dtype(name, "b", b, VKDL_F32));
    return vkdl_check_dtype(name, c_name, c, VKDL_F32);
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

/* Broadcast a and b to out's shape and collapse dims that stay contiguous in all three, giving
 * shape and element strides (0 = broadcast) of at most VKDL_MAX_DIMS dims. */
typedef struct bcast {
    int ndim;
    int64_t shape[VKDL_MAX_DIMS], sa[VKDL_MAX_DIMS], sb[VKDL_MAX_DIMS];
} bcast;

static vkdl_status broadcast(const char *op, const vkdl_tensor *a, const vkdl_tensor *b, const vkdl_tensor *out,
                             bcast *bc)
{
    int n = out->ndim;
    char s1[VKDL_SHAPE_BUF], s2[VKDL_SHAPE_BUF], s3[VKDL_SHAPE_BUF];
    if (a->ndim > n || b->ndim > n)
        goto mismatch;
    int64_t sa[VKDL_MAX_DIMS], sb[VKDL_MAX_DIMS];
    int64_t ra = 1, rb = 1;
    for (int i = n - 1; i >= 0; i--) {
        int ia = i - (n - a->ndim), ib = i - (n - b->ndim);
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1, d = out->shape[i];
        int64_t want = da != 1 ? da : db;
        if ((da != 1 && db != 1 && da != db) || d != want)
            goto mismatch;
        sa[i] = da == 1 ? 0 : ra;
        sb[i] = db == 1 ? 0 : rb;
        ra *= da;
        rb *= db;
    }
    /* Collapse: dim i merges into the next one when each operand's stride at i is the next
     * stride times the next size (contiguous), or both strides are 0. */
    bc->ndim = 0;
    for (int i = 0; i < n; i++) {
        if (out->shape[i] == 1)
            continue; /* size-1 dims add nothing */
        int k = bc->ndim;
        if (k > 0 && bc->sa[k - 1] == sa[i] * out->shape[i] && bc->sb[k - 1] == sb[i] * out->shape[i]) {
            bc->shape[k - 1] *= out->shape[i];
            bc->sa[k - 1] = sa[i];
            bc->sb[k - 1] = sb[i];
            continue;
        }
        bc->shape[k] = out->shape[i];
        bc->sa[k] = sa[i];
        bc->sb[k] = sb[i];
        bc->ndim++;
    }
    if (bc->ndim == 0) {
        bc->ndim = 1;
        bc->shape[0] = 1;
        bc->sa[0] = bc->sb[0] = 0;
    }
    return VKDL_OK;
mismatch:
    return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: cannot broadcast a %s and b %s to out %s", op,
                     vkdl_shape_str(a, s1, sizeof s1), vkdl_shape_str(b, s2, sizeof s2),
                     vkdl_shape_str(out, s3, sizeof s3));
}

/* ---------------------------------------------------------------- CPU twin */

static double unary_ref(int op, double v, double alpha, double beta)
{
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

/* d op(v) / dv; relu and abs take 0 at 0. */
static double unary_grad_ref(vkdl_unary_op op, double v)
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
    case VKDL_UNARY_OP_COUNT: break;
    }
    return NAN;
}

static void cpu_unary_backward(vkdl_unary_op op, const vkdl_tensor *x, const vkdl_tensor *dy, vkdl_tensor *dx)
{
    const float *px = vkdl_tensor_host(x), *pdy = vkdl_tensor_host(dy);
    float *pdx = vkdl_tensor_host(dx);
    for (int64_t i = 0; i < x->numel; i++)
        pdx[i] = (float)(pdy[i] * unary_grad_ref(op, px[i]));
}

static void cpu_binary(vkdl_binary_op op, const bcast *bc, const vkdl_tensor *a, const vkdl_tensor *b,
                       vkdl_tensor *out)
{
    const float *pa = vkdl_tensor_host(a), *pb = vkdl_tensor_host(b);
    float *pc = vkdl_tensor_host(out);
    for (int64_t i = 0; i < out->numel; i++) {
        int64_t rest = i, ia = 0, ib = 0;
        for (int d = bc->ndim - 1; d >= 0; d--) {
            int64_t c = rest % bc->shape[d];
            rest /= bc->shape[d];
            ia += c * bc->sa[d];
            ib += c * bc->sb[d];
        }
        float x = pa[ia], y = pb[ib];
        pc[i] = op == VKDL_ADD ? x + y : op == VKDL_SUB ? x - y : op == VKDL_MUL ? x * y : x / y;
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
    case VKDL_BINARY_OP_COUNT: break;
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
        int64_t rest = i, ia = 0, ib = 0;
        for (int d = bc->ndim - 1; d >= 0; d--) {
            int64_t c = rest % bc->shape[d];
            rest /= bc->shape[d];
            ia += c * bc->sa[d];
            ib += c * bc->sb[d];
        }
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
    .access = {VKDL_READ, VKDL_READ, VKDL_WRITE},
    .push_size = sizeof(struct binary_push),
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

static vkdl_status gpu_unary_backward(vkdl_unary_op op, const vkdl_tensor *x, const vkdl_tensor *dy, vkdl_tensor *dx)
{
    struct unary_backward_push push = {.n = (uint32_t)x->numel};
    uint32_t spec[UNARY_SPEC_COUNT] = {[UNARY_SPEC_WG] = WG, [UNARY_SPEC_OP] = (uint32_t)op};
    vkdl_dispatch_info d = {.kernel = &K_UNARY_BACKWARD, .spec = spec, .tensors = {x, dy, dx}, .push = &push};
    vkdl_grid_1d(x->ctx, (x->numel + WG - 1) / WG, d.groups);
    return vkdl_dispatch(x->ctx, &d);
}

static vkdl_status gpu_binary(vkdl_binary_op op, const bcast *bc, const vkdl_tensor *a, const vkdl_tensor *b,
                              vkdl_tensor *out)
{
    struct binary_push push = {.n = (uint32_t)out->numel};
    for (int i = 0; i < bc->ndim; i++) {
        push.shape[i] = (uint32_t)bc->shape[i];
        push.stride_a[i] = (uint32_t)bc->sa[i];
        push.stride_b[i] = (uint32_t)bc->sb[i];
    }
    uint32_t spec[BINARY_SPEC_COUNT] = {
        [BINARY_SPEC_WG] = WG, [BINARY_SPEC_OP] = (uint32_t)op, [BINARY_SPEC_NDIM] = (uint32_t)bc->ndim};
    vkdl_dispatch_info d = {.kernel = &K_BINARY, .spec = spec, .tensors = {a, b, out}, .push = &push};
    vkdl_grid_1d(out->ctx, (out->numel + WG - 1) / WG, d.groups);
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
        push.stride_a[i] = (uint32_t)bc->sa[i];
        push.stride_b[i] = (uint32_t)bc->sb[i];
        if ((which == BINARY_WHICH_B ? bc->sb[i] : bc->sa[i]) == 0) {
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

vkdl_status vkdl_unary(vkdl_unary_op op, const vkdl_tensor *x, vkdl_tensor *out)
{
    VKDL_TRY(check_unary_op("unary", op));
    VKDL_TRY(check_unary("unary", x, out, "out"));
    return run_unary(op, x, out, 1, 0);
}

vkdl_status vkdl_scale(const vkdl_tensor *x, float alpha, float beta, vkdl_tensor *out)
{
    VKDL_TRY(check_unary("scale", x, out, "out"));
    return run_unary(UNARY_OP_SCALE, x, out, alpha, beta);
}

vkdl_status vkdl_unary_backward(vkdl_unary_op op, const vkdl_tensor *x, const vkdl_tensor *dy, vkdl_tensor *dx)
{
    VKDL_TRY(check_unary_backward(op, x, dy, dx));
    if (x->numel == 0)
        return VKDL_OK;
    if (x->ctx->backend == VKDL_BACKEND_CPU) {
        cpu_unary_backward(op, x, dy, dx);
        return VKDL_OK;
    }
    return gpu_unary_backward(op, x, dy, dx);
}

vkdl_status vkdl_binary(vkdl_binary_op op, const vkdl_tensor *a, const vkdl_tensor *b, vkdl_tensor *out)
{
    const char *name = "binary";
    VKDL_TRY(check_binary(name, op, a, b, out, "out"));
    bcast bc = {0};
    VKDL_TRY(broadcast(name, a, b, out, &bc));
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
    VKDL_TRY(check_binary(name, op, a, b, dout, "dout"));
    VKDL_TRY(check_operand_grad(name, "da", da, a, dout));
    VKDL_TRY(check_operand_grad(name, "db", db, b, dout));
    bcast bc = {0};
    VKDL_TRY(broadcast(name, a, b, dout, &bc));
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
