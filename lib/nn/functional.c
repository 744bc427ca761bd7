/* The differentiable ops (vkdl_f_*): each forward allocates its output in the graph, runs the op,
 * and records a node whose backward sits right below it. Only output shapes are worked out here;
 * the ops themselves validate everything else and name the problem. */
#include "nn/nn.h"

#include <string.h>

#define OUT_NEW(ctx, ndim, shape, out) VKDL_TRY(vkdl_graph_tensor((ctx), VKDL_F32, (ndim), (shape), (out)))

/* Every vkdl_f_* starts here: a graph already back-propagated is freed now, before the inputs are
 * checked, so its tensors read as freed handles rather than being freed under the op. first is the
 * op's first tensor argument (it names the context). */
static vkdl_status begin(const char *op, const vkdl_tensor *first, vkdl_tensor **out)
{
    if (first)
        vkdl_graph_begin(first->ctx);
    if (!out)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: out is NULL", op);
    *out = NULL;
    return VKDL_OK;
}

static vkdl_status check_ndim(const char *op, const char *name, const vkdl_tensor *t, int ndim)
{
    VKDL_TRY(vkdl_check_tensor(op, name, t));
    if (t->ndim != ndim) {
        char b[VKDL_SHAPE_BUF];
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: %s must have %d dims, not %s", op, name, ndim,
                         vkdl_shape_str(t, b, sizeof b));
    }
    return VKDL_OK;
}

/* A graph-owned view of t in another shape (t's numel). */
static vkdl_status view(vkdl_tensor *t, int ndim, const int64_t *shape, vkdl_tensor **out)
{
    VKDL_TRY(vkdl_tensor_reshape(t, ndim, shape, out));
    return vkdl_graph_own(out);
}

/* A loss's upstream gradient: losses take it as a float when it is known on the host (the usual
 * case: the loss is what backward started from); otherwise dx is computed for 1 and then scaled. */
static float upstream_value(const vkdl_node *n)
{
    const vkdl_tensor *g = n->out->grad;
    return g->grad_known ? g->grad_value : 1.0f;
}

static vkdl_status apply_upstream(vkdl_node *n, vkdl_tensor *dx)
{
    vkdl_tensor *g = n->out->grad;
    if (!dx || g->grad_known)
        return VKDL_OK;
    return vkdl_binary(VKDL_MUL, dx, g, dx);
}

/* ---------------------------------------------------------------- unary, scale, binary */

static vkdl_status unary_bwd(vkdl_node *n)
{
    vkdl_tensor *dx;
    VKDL_TRY(vkdl_grad_begin(n->in[0], &dx));
    if (!dx)
        return VKDL_OK;
    VKDL_TRY(vkdl_unary_backward((vkdl_unary_op)n->p.s.op, n->in[0], n->out->grad, dx));
    return vkdl_grad_commit(n->in[0], dx);
}

vkdl_status vkdl_f_unary(vkdl_unary_op op, vkdl_tensor *x, vkdl_tensor **out)
{
    VKDL_TRY(begin("f_unary", x, out));
    VKDL_TRY(vkdl_check_tensor("f_unary", "x", x));
    vkdl_tensor *y;
    OUT_NEW(x->ctx, x->ndim, x->shape, &y);
    VKDL_TRY(vkdl_unary(op, x, y));
    vkdl_node *n;
    VKDL_TRY(vkdl_graph_record("unary", unary_bwd, y, 1, &x, &n));
    if (n)
        n->p.s.op = (int)op;
    *out = y;
    return VKDL_OK;
}

static vkdl_status scale_bwd(vkdl_node *n)
{
    vkdl_tensor *x = n->in[0], *dy = n->out->grad, *dx;
    VKDL_TRY(vkdl_grad_begin(x, &dx));
    if (!dx)
        return VKDL_OK;
    VKDL_TRY(vkdl_scale(dy, n->p.s.a, 0.0f, dx));
    if (dy->grad_known && dx == x->grad) {
        dx->grad_known = true;
        dx->grad_value = dy->grad_value * n->p.s.a;
    }
    return vkdl_grad_commit(x, dx);
}

vkdl_status vkdl_f_scale(vkdl_tensor *x, float alpha, float beta, vkdl_tensor **out)
{
    VKDL_TRY(begin("f_scale", x, out));
    VKDL_TRY(vkdl_check_tensor("f_scale", "x", x));
    vkdl_tensor *y;
    OUT_NEW(x->ctx, x->ndim, x->shape, &y);
    VKDL_TRY(vkdl_scale(x, alpha, beta, y));
    vkdl_node *n;
    VKDL_TRY(vkdl_graph_record("scale", scale_bwd, y, 1, &x, &n));
    if (n)
        n->p.s.a = alpha;
    *out = y;
    return VKDL_OK;
}

static vkdl_status binary_bwd(vkdl_node *n)
{
    vkdl_tensor *a = n->in[0], *b = n->in[1], *dy = n->out->grad;
    vkdl_binary_op op = (vkdl_binary_op)n->p.s.op;
    vkdl_tensor *da, *db;
    VKDL_TRY(vkdl_grad_begin(a, &da));
    /* a + a: both operands are one tensor, so its two gradients must not share one buffer. */
    if (b == a && da)
        VKDL_TRY(vkdl_graph_tensor(b->ctx, VKDL_F32, b->ndim, b->shape, &db));
    else
        VKDL_TRY(vkdl_grad_begin(b, &db));
    if (!da && !db)
        return VKDL_OK;
    VKDL_TRY(vkdl_binary_backward(op, a, b, dy, da, db));
    /* Sums of scalar losses keep their known upstream gradient, so loss backward stays exact. */
    if (dy->grad_known && (op == VKDL_ADD || op == VKDL_SUB)) {
        if (da && da == a->grad && a->numel == 1)
            da->grad_known = true, da->grad_value = dy->grad_value;
        if (db && db == b->grad && b->numel == 1 && b != a)
            db->grad_known = true, db->grad_value = op == VKDL_ADD ? dy->grad_value : -dy->grad_value;
    }
    VKDL_TRY(vkdl_grad_commit(a, da));
    if (b == a && db) {
        a->grad->grad_known = false;
        return vkdl_binary(VKDL_ADD, a->grad, db, a->grad);
    }
    return vkdl_grad_commit(b, db);
}

vkdl_status vkdl_f_binary(vkdl_binary_op op, vkdl_tensor *a, vkdl_tensor *b, vkdl_tensor **out)
{
    VKDL_TRY(begin("f_binary", a, out));
    VKDL_TRY(vkdl_check_tensor("f_binary", "a", a));
    VKDL_TRY(vkdl_check_tensor("f_binary", "b", b));
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    int64_t shape[VKDL_MAX_DIMS];
    for (int i = 0; i < nd; i++) {
        int ia = i - (nd - a->ndim), ib = i - (nd - b->ndim);
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            char x[VKDL_SHAPE_BUF], y[VKDL_SHAPE_BUF];
            return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "f_binary: %s and %s do not broadcast",
                             vkdl_shape_str(a, x, sizeof x), vkdl_shape_str(b, y, sizeof y));
        }
        shape[i] = da == 1 ? db : da;
    }
    vkdl_tensor *y;
    OUT_NEW(a->ctx, nd, shape, &y);
    VKDL_TRY(vkdl_binary(op, a, b, y));
    vkdl_tensor *in[2] = {a, b};
    vkdl_node *n;
    VKDL_TRY(vkdl_graph_record("binary", binary_bwd, y, 2, in, &n));
    if (n)
        n->p.s.op = (int)op;
    *out = y;
    return VKDL_OK;
}

/* ---------------------------------------------------------------- reduce, softmax */

static vkdl_status reduce_bwd(vkdl_node *n)
{
    vkdl_tensor *x = n->in[0], *dx;
    VKDL_TRY(vkdl_grad_begin(x, &dx));
    if (!dx)
        return VKDL_OK;
    VKDL_TRY(vkdl_reduce_backward((vkdl_reduce_op)n->p.s.op, x, n->out, n->out->grad, n->p.s.axis, dx));
    return vkdl_grad_commit(x, dx);
}

vkdl_status vkdl_f_reduce(vkdl_reduce_op op, vkdl_tensor *x, int axis, int keepdim, vkdl_tensor **out)
{
    VKDL_TRY(begin("f_reduce", x, out));
    VKDL_TRY(vkdl_check_tensor("f_reduce", "x", x));
    if (op == VKDL_ARGMAX || op == VKDL_ARGMIN)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "f_reduce: %s is not differentiable", vkdl_reduce_op_name(op));
    int ax = axis < 0 ? axis + x->ndim : axis;
    if (ax < 0 || ax >= x->ndim)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "f_reduce: axis %d out of range for %d dims", axis, x->ndim);
    int64_t shape[VKDL_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < x->ndim; i++)
        if (i != ax)
            shape[nd++] = x->shape[i];
        else if (keepdim)
            shape[nd++] = 1;
    vkdl_tensor *y;
    OUT_NEW(x->ctx, nd, shape, &y);
    VKDL_TRY(vkdl_reduce(op, x, ax, y));
    vkdl_node *n;
    VKDL_TRY(vkdl_graph_record("reduce", reduce_bwd, y, 1, &x, &n));
    if (n) {
        n->p.s.op = (int)op;
        n->p.s.axis = ax;
    }
    *out = y;
    return VKDL_OK;
}

static vkdl_status softmax_bwd(vkdl_node *n)
{
    vkdl_tensor *x = n->in[0], *dx;
    VKDL_TRY(vkdl_grad_begin(x, &dx));
    if (!dx)
        return VKDL_OK;
    if (n->p.s.op)
        VKDL_TRY(vkdl_log_softmax_backward(n->out, n->out->grad, dx));
    else
        VKDL_TRY(vkdl_softmax_backward(n->out, n->out->grad, dx));
    return vkdl_grad_commit(x, dx);
}

static vkdl_status softmax_any(vkdl_tensor *x, int log, vkdl_tensor **out)
{
    const char *op = log ? "f_log_softmax" : "f_softmax";
    VKDL_TRY(begin(op, x, out));
    VKDL_TRY(vkdl_check_tensor(op, "x", x));
    vkdl_tensor *y;
    OUT_NEW(x->ctx, x->ndim, x->shape, &y);
    VKDL_TRY(log ? vkdl_log_softmax(x, y) : vkdl_softmax(x, y));
    vkdl_node *n;
    VKDL_TRY(vkdl_graph_record(op, softmax_bwd, y, 1, &x, &n));
    if (n)
        n->p.s.op = log;
    *out = y;
    return VKDL_OK;
}

vkdl_status vkdl_f_softmax(vkdl_tensor *x, vkdl_tensor **out) { return softmax_any(x, 0, out); }
vkdl_status vkdl_f_log_softmax(vkdl_tensor *x, vkdl_tensor **out) { return softmax_any(x, 1, out); }

/* ---------------------------------------------------------------- reshape, permute */

/* Hand a gradient computed in some other shape (same numel) to x. */
static vkdl_status give_reshaped(vkdl_tensor *x, vkdl_tensor *g)
{
    vkdl_tensor *gv;
    VKDL_TRY(view(g, x->ndim, x->shape, &gv));
    if (!x->grad && !x->requires_grad) {
        x->grad = gv; /* an intermediate can simply borrow it */
        return VKDL_OK;
    }
    vkdl_tensor *dst;
    bool acc;
    VKDL_TRY(vkdl_grad_target(x, &dst, &acc));
    return acc ? vkdl_binary(VKDL_ADD, dst, gv, dst) : vkdl_copy(gv, dst);
}

static vkdl_status reshape_bwd(vkdl_node *n)
{
    if (!vkdl_grad_wanted(n->in[0]))
        return VKDL_OK;
    return give_reshaped(n->in[0], n->out->grad);
}

vkdl_status vkdl_f_reshape(vkdl_tensor *x, int ndim, const int64_t *shape, vkdl_tensor **out)
{
    VKDL_TRY(begin("f_reshape", x, out));
    VKDL_TRY(vkdl_check_tensor("f_reshape", "x", x));
    vkdl_tensor *y;
    VKDL_TRY(view(x, ndim, shape, &y));
    vkdl_node *n;
    VKDL_TRY(vkdl_graph_record("reshape", reshape_bwd, y, 1, &x, &n));
    *out = y;
    return VKDL_OK;
}

static vkdl_status permute_bwd(vkdl_node *n)
{
    vkdl_tensor *x = n->in[0], *dx;
    VKDL_TRY(vkdl_grad_begin(x, &dx));
    if (!dx)
        return VKDL_OK;
    int inv[VKDL_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++)
        inv[n->p.perm[i]] = i;
    VKDL_TRY(vkdl_permute(n->out->grad, inv, dx));
    return vkdl_grad_commit(x, dx);
}

vkdl_status vkdl_f_permute(vkdl_tensor *x, const int *perm, vkdl_tensor **out)
{
    VKDL_TRY(begin("f_permute", x, out));
    VKDL_TRY(vkdl_check_tensor("f_permute", "x", x));
    if (!perm)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "f_permute: perm is NULL");
    int64_t shape[VKDL_MAX_DIMS];
    int seen = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (perm[i] < 0 || perm[i] >= x->ndim || (seen >> perm[i] & 1))
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "f_permute: perm is not a permutation of %d dims", x->ndim);
        seen |= 1 << perm[i];
        shape[i] = x->shape[perm[i]];
    }
    vkdl_tensor *y;
    OUT_NEW(x->ctx, x->ndim, shape, &y);
    VKDL_TRY(vkdl_permute(x, perm, y));
    vkdl_node *n;
    VKDL_TRY(vkdl_graph_record("permute", permute_bwd, y, 1, &x, &n));
    if (n)
        memcpy(n->p.perm, perm, (size_t)x->ndim * sizeof *perm);
    *out = y;
    return VKDL_OK;
}

/* ---------------------------------------------------------------- matmul, linear */

/* dst (+)= alpha * op(p) op(q), accumulating through matmul's beta. */
static vkdl_status mm_into(vkdl_tensor *x, vkdl_tensor *p, vkdl_tensor *q, int tp, int tq, float alpha)
{
    vkdl_tensor *dst;
    bool acc;
    VKDL_TRY(vkdl_grad_target(x, &dst, &acc));
    if (!dst)
        return VKDL_OK;
    vkdl_matmul_info mi = {.trans_a = tp, .trans_b = tq, .alpha = alpha, .beta = acc ? 1.0f : 0.0f};
    return vkdl_matmul(p, q, dst, &mi);
}

static vkdl_status matmul_bwd(vkdl_node *n)
{
    vkdl_tensor *a = n->in[0], *b = n->in[1], *dc = n->out->grad;
    int ta = n->p.mm.trans_a, tb = n->p.mm.trans_b;
    float al = n->p.mm.alpha;
    /* With C = op(A) op(B): d op(A) = dC op(B)^T and d op(B) = op(A)^T dC, transposed back. */
    if (ta)
        VKDL_TRY(mm_into(a, b, dc, tb, 1, al));
    else
        VKDL_TRY(mm_into(a, dc, b, 0, !tb, al));
    if (!vkdl_grad_wanted(b))
        return VKDL_OK;
    if (b->ndim == 2 && a->ndim > 2) {
        /* b is shared by every batch: fold the batch into the rows (only when a is not transposed). */
        int64_t ra[2] = {-1, a->shape[a->ndim - 1]}, rc[2] = {-1, dc->shape[dc->ndim - 1]};
        vkdl_tensor *a2, *dc2;
        VKDL_TRY(view(a, 2, ra, &a2));
        VKDL_TRY(view(dc, 2, rc, &dc2));
        a = a2;
        dc = dc2;
        b = n->in[1];
    }
    if (tb)
        return mm_into(n->in[1], dc, a, 1, ta, al);
    return mm_into(n->in[1], a, dc, !ta, 0, al);
}

vkdl_status vkdl_f_matmul(vkdl_tensor *a, vkdl_tensor *b, const vkdl_matmul_info *info, vkdl_tensor **out)
{
    const char *op = "f_matmul";
    VKDL_TRY(begin(op, a, out));
    VKDL_TRY(vkdl_check_tensor(op, "a", a));
    VKDL_TRY(vkdl_check_tensor(op, "b", b));
    vkdl_matmul_info mi = {.alpha = 1.0f};
    if (info) {
        VKDL_TRY(vkdl_check_next(op, info->next));
        if (info->bias || info->fuse_act || info->beta != 0.0f)
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: bias, beta and fused activations are not differentiable here "
                             "(use vkdl_f_linear and vkdl_f_unary)", op);
        mi.trans_a = info->trans_a;
        mi.trans_b = info->trans_b;
        mi.alpha = info->alpha;
    }
    char x[VKDL_SHAPE_BUF], y[VKDL_SHAPE_BUF];
    if (a->ndim < 2 || b->ndim < 2 || (b->ndim != a->ndim && b->ndim != 2) || (b->ndim == 2 && a->ndim > 2 && mi.trans_a))
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: a %s and b %s: need equal batch dims, or a plain b with an "
                         "untransposed a", op, vkdl_shape_str(a, x, sizeof x), vkdl_shape_str(b, y, sizeof y));
    int64_t shape[VKDL_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    shape[a->ndim - 2] = a->shape[a->ndim - (mi.trans_a ? 1 : 2)];
    shape[a->ndim - 1] = b->shape[b->ndim - (mi.trans_b ? 2 : 1)];
    vkdl_tensor *c;
    OUT_NEW(a->ctx, a->ndim, shape, &c);
    VKDL_TRY(vkdl_matmul(a, b, c, &mi));
    vkdl_tensor *in[2] = {a, b};
    vkdl_node *n;
    VKDL_TRY(vkdl_graph_record(op, matmul_bwd, c, 2, in, &n));
    if (n)
        n->p.mm = mi;
    *out = c;
    return VKDL_OK;
}

static vkdl_status linear_bwd(vkdl_node *n)
{
    vkdl_tensor *x2 = n->saved[0], *w = n->in[1], *bias = n->in[2];
    int64_t rows[2] = {x2->shape[0], w->shape[0]};
    vkdl_tensor *dy2;
    VKDL_TRY(view(n->out->grad, 2, rows, &dy2));
    if (vkdl_grad_wanted(n->in[0])) {
        vkdl_tensor *dx2;
        VKDL_TRY(vkdl_graph_tensor(x2->ctx, VKDL_F32, 2, x2->shape, &dx2));
        VKDL_TRY(vkdl_matmul(dy2, w, dx2, NULL));
        VKDL_TRY(give_reshaped(n->in[0], dx2));
    }
    VKDL_TRY(mm_into(w, dy2, x2, 1, 0, 1.0f));
    vkdl_tensor *db;
    VKDL_TRY(vkdl_grad_begin(bias, &db));
    if (!db)
        return VKDL_OK;
    VKDL_TRY(vkdl_reduce(VKDL_SUM, dy2, 0, db));
    return vkdl_grad_commit(bias, db);
}

vkdl_status vkdl_f_linear(vkdl_tensor *x, vkdl_tensor *w, vkdl_tensor *bias, vkdl_tensor **out)
{
    const char *op = "f_linear";
    VKDL_TRY(begin(op, x, out));
    VKDL_TRY(vkdl_check_tensor(op, "x", x));
    VKDL_TRY(vkdl_check_dtype(op, "x", x, VKDL_F32));
    VKDL_TRY(check_ndim(op, "w", w, 2));
    char a[VKDL_SHAPE_BUF], b[VKDL_SHAPE_BUF];
    if (x->ndim < 1 || x->shape[x->ndim - 1] != w->shape[1])
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: x %s does not end in w's %lld inputs (w is %s)", op,
                         vkdl_shape_str(x, a, sizeof a), (long long)w->shape[1], vkdl_shape_str(w, b, sizeof b));
    int64_t shape[VKDL_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] = w->shape[0];
    vkdl_tensor *y, *x2, *y2;
    OUT_NEW(x->ctx, x->ndim, shape, &y);
    int64_t rows = 1;
    for (int i = 0; i + 1 < x->ndim; i++)
        rows *= x->shape[i];
    int64_t r[2] = {rows, w->shape[1]}, ry[2] = {rows, w->shape[0]};
    VKDL_TRY(view(x, 2, r, &x2));
    VKDL_TRY(view(y, 2, ry, &y2));
    vkdl_matmul_info mi = {.trans_b = 1, .alpha = 1.0f, .bias = bias};
    VKDL_TRY(vkdl_matmul(x2, w, y2, &mi));
    vkdl_tensor *in[3] = {x, w, bias};
    vkdl_node *n;
    VKDL_TRY(vkdl_graph_record(op, linear_bwd, y, 3, in, &n));
    if (n)
        n->saved[0] = x2;
    *out = y;
    return VKDL_OK;
}

/* ---------------------------------------------------------------- convolution */

static int64_t conv_len(int64_t in, int64_t k, int s, int p, int d)
{
    return (in + 2 * p - (int64_t)d * (k - 1) - 1) / s + 1;
}

static vkdl_conv2d_info conv_defaults(const vkdl_conv2d_info *info)
{
    vkdl_conv2d_info c = info ? *info : (vkdl_conv2d_info){0};
    for (int i = 0; i < 2; i++) {
        c.stride[i] = c.stride[i] ? c.stride[i] : 1;
        c.dilation[i] = c.dilation[i] ? c.dilation[i] : 1;
    }
    c.groups = c.groups ? c.groups : 1;
    return c;
}

/* conv2d (kind 0) and conv_transpose2d (kind 1): each one's data gradient is the other's forward
 * pass, and the weight gradient comes with the bias gradient from one kernel. */
static vkdl_status conv_bwd(vkdl_node *n)
{
    vkdl_tensor *x = n->in[0], *w = n->in[1], *bias = n->in[2], *dy = n->out->grad;
    bool transposed = n->kind;
    vkdl_tensor *dx, *dw, *db;
    VKDL_TRY(vkdl_grad_begin(x, &dx));
    if (dx) {
        vkdl_conv2d_info c = n->p.conv;
        if (transposed) /* output_padding only sizes the transpose's output, which is dy here */
            c.output_padding[0] = c.output_padding[1] = 0;
        VKDL_TRY(transposed ? vkdl_conv2d(dy, w, NULL, dx, &c) : vkdl_conv2d_backward_data(dy, w, dx, &c));
        VKDL_TRY(vkdl_grad_commit(x, dx));
    }
    VKDL_TRY(vkdl_grad_begin(w, &dw));
    VKDL_TRY(vkdl_grad_begin(bias, &db));
    if (!dw && !db)
        return VKDL_OK;
    if (!dw) /* the kernel computes both together; the weight half lands in scratch */
        VKDL_TRY(vkdl_graph_tensor(w->ctx, VKDL_F32, w->ndim, w->shape, &dw));
    VKDL_TRY(transposed ? vkdl_conv_transpose2d_backward_weight(x, dy, dw, db, &n->p.conv)
                        : vkdl_conv2d_backward_weight(x, dy, dw, db, &n->p.conv));
    if (vkdl_grad_wanted(w))
        VKDL_TRY(vkdl_grad_commit(w, dw));
    return vkdl_grad_commit(bias, db);
}

vkdl_status vkdl_f_conv2d(vkdl_tensor *x, vkdl_tensor *w, vkdl_tensor *bias, const vkdl_conv2d_info *info,
                          vkdl_tensor **out)
{
    const char *op = "f_conv2d";
    VKDL_TRY(begin(op, x, out));
    VKDL_TRY(check_ndim(op, "x", x, 4));
    VKDL_TRY(check_ndim(op, "w", w, 4));
    /* The graph differentiates the convolution alone: an epilogue is composed with vkdl_f_unary. */
    if (info)
        VKDL_TRY(vkdl_check_next(op, info->next));
    vkdl_conv2d_info c = conv_defaults(info);
    int64_t shape[4] = {x->shape[0], w->shape[0], 0, 0};
    for (int i = 0; i < 2; i++) {
        shape[2 + i] = conv_len(x->shape[2 + i], w->shape[2 + i], c.stride[i], c.padding[i], c.dilation[i]);
        if (c.stride[i] < 1 || shape[2 + i] < 1) {
            char a[VKDL_SHAPE_BUF], b[VKDL_SHAPE_BUF];
            return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: kernel %s does not fit input %s with this padding/stride", op,
                             vkdl_shape_str(w, b, sizeof b), vkdl_shape_str(x, a, sizeof a));
        }
    }
    vkdl_tensor *y;
    OUT_NEW(x->ctx, 4, shape, &y);
    VKDL_TRY(vkdl_conv2d(x, w, bias, y, &c));
    vkdl_tensor *in[3] = {x, w, bias};
    vkdl_node *n;
    VKDL_TRY(vkdl_graph_record(op, conv_bwd, y, 3, in, &n));
    if (n)
        n->p.conv = c;
    *out = y;
    return VKDL_OK;
}

vkdl_status vkdl_f_conv_transpose2d(vkdl_tensor *x, vkdl_tensor *w, vkdl_tensor *bias, const vkdl_conv2d_info *info,
                                    vkdl_tensor **out)
{
    const char *op = "f_conv_transpose2d";
    VKDL_TRY(begin(op, x, out));
    VKDL_TRY(check_ndim(op, "x", x, 4));
    VKDL_TRY(check_ndim(op, "w", w, 4));
    vkdl_conv2d_info c = conv_defaults(info);
    int64_t shape[4] = {x->shape[0], w->shape[1] * c.groups, 0, 0};
    for (int i = 0; i < 2; i++) {
        shape[2 + i] = (x->shape[2 + i] - 1) * c.stride[i] - 2 * c.padding[i] + (int64_t)c.dilation[i] * (w->shape[2 + i] - 1) +
                       c.output_padding[i] + 1;
        if (shape[2 + i] < 1)
            return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: the padding leaves no output", op);
    }
    vkdl_tensor *y;
    OUT_NEW(x->ctx, 4, shape, &y);
    VKDL_TRY(vkdl_conv_transpose2d(x, w, bias, y, &c));
    vkdl_tensor *in[3] = {x, w, bias};
    vkdl_node *n;
    VKDL_TRY(vkdl_graph_record(op, conv_bwd, y, 3, in, &n));
    if (n) {
        n->p.conv = c;
        n->kind = 1;
    }
    *out = y;
    return VKDL_OK;
}

/* ---------------------------------------------------------------- pooling */

static vkdl_status pool_shape(const char *op, const vkdl_tensor *x, const vkdl_pool2d_info *info, bool max,
                              int64_t shape[4])
{
    VKDL_TRY(check_ndim(op, "x", x, 4));
    return vkdl_pool2d_out_shape(op, x, info, max, shape);
}

static vkdl_status maxpool_bwd(vkdl_node *n)
{
    vkdl_tensor *x = n->in[0], *dx;
    VKDL_TRY(vkdl_grad_begin(x, &dx));
    if (!dx)
        return VKDL_OK;
    VKDL_TRY(vkdl_maxpool2d_backward(n->out->grad, n->saved[0], dx));
    return vkdl_grad_commit(x, dx);
}

vkdl_status vkdl_f_maxpool2d(vkdl_tensor *x, const vkdl_pool2d_info *info, vkdl_tensor **out)
{
    VKDL_TRY(begin("f_maxpool2d", x, out));
    int64_t shape[4];
    VKDL_TRY(pool_shape("f_maxpool2d", x, info, true, shape));
    vkdl_tensor *y, *idx = NULL;
    OUT_NEW(x->ctx, 4, shape, &y);
    bool track = !x->ctx->no_grad && vkdl_grad_wanted(x);
    if (track)
        VKDL_TRY(vkdl_graph_tensor(x->ctx, VKDL_I32, 4, shape, &idx));
    VKDL_TRY(vkdl_maxpool2d(x, y, idx, info));
    vkdl_node *n;
    VKDL_TRY(vkdl_graph_record("f_maxpool2d", maxpool_bwd, y, 1, &x, &n));
    if (n)
        n->saved[0] = idx;
    *out = y;
    return VKDL_OK;
}

static vkdl_status avgpool_bwd(vkdl_node *n)
{
    vkdl_tensor *x = n->in[0], *dx;
    VKDL_TRY(vkdl_grad_begin(x, &dx));
    if (!dx)
        return VKDL_OK;
    vkdl_pool2d_info info = vkdl_pool2d_params_info(&n->p.pool);
    VKDL_TRY(vkdl_avgpool2d_backward(n->out->grad, dx, &info));
    return vkdl_grad_commit(x, dx);
}

vkdl_status vkdl_f_avgpool2d(vkdl_tensor *x, const vkdl_pool2d_info *info, vkdl_tensor **out)
{
    VKDL_TRY(begin("f_avgpool2d", x, out));
    int64_t shape[4];
    VKDL_TRY(pool_shape("f_avgpool2d", x, info, false, shape));
    vkdl_tensor *y;
    OUT_NEW(x->ctx, 4, shape, &y);
    VKDL_TRY(vkdl_avgpool2d(x, y, info));
    vkdl_node *n;
    VKDL_TRY(vkdl_graph_record("f_avgpool2d", avgpool_bwd, y, 1, &x, &n));
    if (n)
        n->p.pool = vkdl_pool2d_params_of(info);
    *out = y;
    return VKDL_OK;
}

static vkdl_status gap_bwd(vkdl_node *n)
{
    vkdl_tensor *x = n->in[0], *dx;
    VKDL_TRY(vkdl_grad_begin(x, &dx));
    if (!dx)
        return VKDL_OK;
    VKDL_TRY(vkdl_global_avgpool2d_backward(n->out->grad, dx));
    return vkdl_grad_commit(x, dx);
}

vkdl_status vkdl_f_global_avgpool2d(vkdl_tensor *x, vkdl_tensor **out)
{
    VKDL_TRY(begin("f_global_avgpool2d", x, out));
    VKDL_TRY(check_ndim("f_global_avgpool2d", "x", x, 4));
    int64_t shape[4] = {x->shape[0], x->shape[1], 1, 1};
    vkdl_tensor *y;
    OUT_NEW(x->ctx, 4, shape, &y);
    VKDL_TRY(vkdl_global_avgpool2d(x, y));
    vkdl_node *n;
    VKDL_TRY(vkdl_graph_record("f_global_avgpool2d", gap_bwd, y, 1, &x, &n));
    *out = y;
    return VKDL_OK;
}

static vkdl_status upsample_bwd(vkdl_node *n)
{
    vkdl_tensor *x = n->in[0], *dx;
    VKDL_TRY(vkdl_grad_begin(x, &dx));
    if (!dx)
        return VKDL_OK;
    VKDL_TRY(vkdl_upsample_nearest2d_backward(n->out->grad, dx));
    return vkdl_grad_commit(x, dx);
}

vkdl_status vkdl_f_upsample_nearest2d(vkdl_tensor *x, int factor, vkdl_tensor **out)
{
    VKDL_TRY(begin("f_upsample_nearest2d", x, out));
    VKDL_TRY(check_ndim("f_upsample_nearest2d", "x", x, 4));
    if (factor < 1 || factor > 1024)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "f_upsample_nearest2d: factor %d not in [1, 1024]", factor);
    int64_t shape[4] = {x->shape[0], x->shape[1], x->shape[2] * factor, x->shape[3] * factor};
    vkdl_tensor *y;
    OUT_NEW(x->ctx, 4, shape, &y);
    VKDL_TRY(vkdl_upsample_nearest2d(x, y));
    vkdl_node *n;
    VKDL_TRY(vkdl_graph_record("f_upsample_nearest2d", upsample_bwd, y, 1, &x, &n));
    *out = y;
    return VKDL_OK;
}

/* ---------------------------------------------------------------- normalisation */

static vkdl_status norm_bwd(vkdl_node *n)
{
    vkdl_tensor *x = n->in[0], *gamma = n->in[1], *beta = n->in[2], *dy = n->out->grad;
    vkdl_tensor *dx, *dg, *db;
    VKDL_TRY(vkdl_grad_begin(x, &dx));
    VKDL_TRY(vkdl_grad_begin(gamma, &dg));
    VKDL_TRY(vkdl_grad_begin(beta, &db));
    if (n->kind)
        VKDL_TRY(vkdl_layernorm_backward(dy, x, gamma, n->saved[0], n->saved[1], dx, dg, db));
    else
        VKDL_TRY(vkdl_batchnorm_backward(dy, x, gamma, n->saved[0], n->saved[1], dx, dg, db));
    VKDL_TRY(vkdl_grad_commit(x, dx));
    VKDL_TRY(vkdl_grad_commit(gamma, dg));
    return vkdl_grad_commit(beta, db);
}

/* Evaluation mode is a per-channel affine map, y = x a + b with a = gamma / sqrt(running_var +
 * eps) and b = beta - running_mean a; built from differentiable ops when gradients are wanted
 * (fine-tuning with frozen statistics), so x, gamma and beta all get theirs. */
static vkdl_status batchnorm_eval_affine(vkdl_tensor *x, vkdl_tensor *gamma, vkdl_tensor *beta, vkdl_tensor *rm,
                                        vkdl_tensor *rv, float eps, vkdl_tensor **out)
{
    const char *op = "f_batchnorm";
    int64_t C = x->shape[1];
    vkdl_tensor *stats[2] = {rm, rv}, *pv[2] = {gamma, beta};
    const char *names[4] = {"running_mean", "running_var", "gamma", "beta"};
    for (int i = 0; i < 4; i++) {
        vkdl_tensor *t = i < 2 ? stats[i] : pv[i - 2];
        if (!t && i >= 2)
            continue;
        VKDL_TRY(check_ndim(op, names[i], t, 1));
        if (t->shape[0] != C)
            return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: %s has %lld elements, x has %lld channels", op, names[i],
                             (long long)t->shape[0], (long long)C);
    }
    vkdl_tensor *sd, *rstd, *a, *ma, *b, *a4, *b4, *xa;
    OUT_NEW(x->ctx, 1, &C, &sd);
    OUT_NEW(x->ctx, 1, &C, &rstd);
    VKDL_TRY(vkdl_scale(rv, 1.0f, eps, sd));
    VKDL_TRY(vkdl_unary(VKDL_SQRT, sd, sd));
    VKDL_TRY(vkdl_tensor_fill(rstd, 1.0));
    VKDL_TRY(vkdl_binary(VKDL_DIV, rstd, sd, rstd));
    if (gamma)
        VKDL_TRY(vkdl_f_binary(VKDL_MUL, gamma, rstd, &a));
    else
        a = rstd;
    VKDL_TRY(vkdl_f_binary(VKDL_MUL, rm, a, &ma));
    if (beta)
        VKDL_TRY(vkdl_f_binary(VKDL_SUB, beta, ma, &b));
    else
        VKDL_TRY(vkdl_f_scale(ma, -1.0f, 0.0f, &b));
    int64_t s4[4] = {1, C, 1, 1};
    int nd = x->ndim == 4 ? 4 : 2;
    VKDL_TRY(vkdl_f_reshape(a, nd, s4, &a4));
    VKDL_TRY(vkdl_f_reshape(b, nd, s4, &b4));
    VKDL_TRY(vkdl_f_binary(VKDL_MUL, x, a4, &xa));
    return vkdl_f_binary(VKDL_ADD, xa, b4, out);
}

vkdl_status vkdl_f_batchnorm(vkdl_tensor *x, vkdl_tensor *gamma, vkdl_tensor *beta, vkdl_tensor *running_mean,
                             vkdl_tensor *running_var, int training, float momentum, float eps, vkdl_tensor **out)
{
    const char *op = "f_batchnorm";
    VKDL_TRY(begin(op, x, out));
    VKDL_TRY(vkdl_check_tensor(op, "x", x));
    if (x->ndim != 2 && x->ndim != 4) {
        char b[VKDL_SHAPE_BUF];
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: x must be [N, C] or [N, C, H, W], not %s", op,
                         vkdl_shape_str(x, b, sizeof b));
    }
    vkdl_tensor *in[3] = {x, gamma, beta};
    bool track = !x->ctx->no_grad && (vkdl_grad_wanted(x) || vkdl_grad_wanted(gamma) || vkdl_grad_wanted(beta));
    if (track && !training)
        return batchnorm_eval_affine(x, gamma, beta, running_mean, running_var, eps, out);
    vkdl_tensor *y, *sm = NULL, *sr = NULL;
    OUT_NEW(x->ctx, x->ndim, x->shape, &y);
    if (training) {
        OUT_NEW(x->ctx, 1, &x->shape[1], &sm);
        OUT_NEW(x->ctx, 1, &x->shape[1], &sr);
    }
    VKDL_TRY(vkdl_batchnorm(x, gamma, beta, running_mean, running_var, training, momentum, eps, y, sm, sr));
    vkdl_node *n;
    VKDL_TRY(vkdl_graph_record(op, norm_bwd, y, 3, in, &n));
    if (n) {
        n->saved[0] = sm;
        n->saved[1] = sr;
        n->kind = 0;
    }
    *out = y;
    return VKDL_OK;
}

vkdl_status vkdl_f_layernorm(vkdl_tensor *x, vkdl_tensor *gamma, vkdl_tensor *beta, float eps, vkdl_tensor **out)
{
    const char *op = "f_layernorm";
    VKDL_TRY(begin(op, x, out));
    VKDL_TRY(vkdl_check_tensor(op, "x", x));
    if (x->ndim < 1)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: x must have a last dim", op);
    int64_t rows = x->shape[x->ndim - 1] ? x->numel / x->shape[x->ndim - 1] : 0;
    vkdl_tensor *y, *sm, *sr;
    OUT_NEW(x->ctx, x->ndim, x->shape, &y);
    OUT_NEW(x->ctx, 1, &rows, &sm);
    OUT_NEW(x->ctx, 1, &rows, &sr);
    VKDL_TRY(vkdl_layernorm(x, gamma, beta, eps, y, sm, sr));
    vkdl_tensor *in[3] = {x, gamma, beta};
    vkdl_node *n;
    VKDL_TRY(vkdl_graph_record(op, norm_bwd, y, 3, in, &n));
    if (n) {
        n->saved[0] = sm;
        n->saved[1] = sr;
        n->kind = 1;
    }
    *out = y;
    return VKDL_OK;
}

/* ---------------------------------------------------------------- attention, embedding, dropout */

static vkdl_status attention_bwd(vkdl_node *n)
{
    vkdl_tensor *t[3] = {n->in[0], n->in[1], n->in[2]}, *g[3];
    bool dup[3];
    for (int i = 0; i < 3; i++) {
        /* Self-attention on one tensor (q == k, ...): the repeats get their own buffers, added after. */
        dup[i] = (i > 0 && t[i] == t[0]) || (i > 1 && t[i] == t[1]);
        g[i] = NULL;
        if (!dup[i])
            VKDL_TRY(vkdl_grad_begin(t[i], &g[i]));
        /* The kernel writes all three; unwanted ones go to scratch. */
        if (!g[i])
            VKDL_TRY(vkdl_graph_tensor(t[i]->ctx, VKDL_F32, t[i]->ndim, t[i]->shape, &g[i]));
    }
    VKDL_TRY(vkdl_attention_backward(t[0], t[1], t[2], n->out, n->saved[0], n->out->grad, g[0], g[1], g[2],
                                     &n->p.attn));
    for (int i = 0; i < 3; i++) {
        if (!vkdl_grad_wanted(t[i]))
            continue;
        if (dup[i])
            VKDL_TRY(vkdl_binary(VKDL_ADD, t[i]->grad, g[i], t[i]->grad));
        else
            VKDL_TRY(vkdl_grad_commit(t[i], g[i]));
    }
    return VKDL_OK;
}

vkdl_status vkdl_f_attention(vkdl_tensor *q, vkdl_tensor *k, vkdl_tensor *v, const vkdl_attention_info *info,
                             vkdl_tensor **out)
{
    const char *op = "f_attention";
    VKDL_TRY(begin(op, q, out));
    VKDL_TRY(check_ndim(op, "q", q, 4));
    vkdl_tensor *y, *lse;
    OUT_NEW(q->ctx, 4, q->shape, &y);
    OUT_NEW(q->ctx, 3, q->shape, &lse);
    VKDL_TRY(vkdl_attention(q, k, v, y, lse, info));
    vkdl_tensor *in[3] = {q, k, v};
    vkdl_node *n;
    VKDL_TRY(vkdl_graph_record(op, attention_bwd, y, 3, in, &n));
    if (n) {
        n->saved[0] = lse;
        if (info)
            n->p.attn = *info;
    }
    *out = y;
    return VKDL_OK;
}

static vkdl_status embedding_bwd(vkdl_node *n)
{
    vkdl_tensor *w = n->in[0], *dw;
    VKDL_TRY(vkdl_grad_begin(w, &dw));
    if (!dw)
        return VKDL_OK;
    VKDL_TRY(vkdl_embedding_backward(n->out->grad, n->in[1], dw));
    return vkdl_grad_commit(w, dw);
}

vkdl_status vkdl_f_embedding(vkdl_tensor *weight, vkdl_tensor *idx, vkdl_tensor **out)
{
    const char *op = "f_embedding";
    VKDL_TRY(begin(op, weight, out));
    VKDL_TRY(check_ndim(op, "weight", weight, 2));
    VKDL_TRY(vkdl_check_tensor(op, "idx", idx));
    if (idx->ndim >= VKDL_MAX_DIMS)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: idx has too many dims (%d)", op, idx->ndim);
    int64_t shape[VKDL_MAX_DIMS];
    memcpy(shape, idx->shape, (size_t)idx->ndim * sizeof *shape);
    shape[idx->ndim] = weight->shape[1];
    vkdl_tensor *y;
    OUT_NEW(weight->ctx, idx->ndim + 1, shape, &y);
    VKDL_TRY(vkdl_embedding(weight, idx, y));
    vkdl_tensor *in[2] = {weight, idx};
    vkdl_node *n;
    VKDL_TRY(vkdl_graph_record(op, embedding_bwd, y, 1, in, &n));
    if (n)
        n->in[1] = idx;
    *out = y;
    return VKDL_OK;
}

static vkdl_status dropout_bwd(vkdl_node *n)
{
    vkdl_tensor *x = n->in[0], *dx;
    VKDL_TRY(vkdl_grad_begin(x, &dx));
    if (!dx)
        return VKDL_OK;
    VKDL_TRY(vkdl_dropout_backward(n->out->grad, n->p.s.a, n->p.s.seed, dx));
    return vkdl_grad_commit(x, dx);
}

vkdl_status vkdl_f_dropout(vkdl_tensor *x, float p, uint64_t seed, vkdl_tensor **out)
{
    VKDL_TRY(begin("f_dropout", x, out));
    VKDL_TRY(vkdl_check_tensor("f_dropout", "x", x));
    vkdl_tensor *y;
    OUT_NEW(x->ctx, x->ndim, x->shape, &y);
    VKDL_TRY(vkdl_dropout(x, p, seed, y));
    vkdl_node *n;
    VKDL_TRY(vkdl_graph_record("f_dropout", dropout_bwd, y, 1, &x, &n));
    if (n) {
        n->p.s.a = p;
        n->p.s.seed = seed;
    }
    *out = y;
    return VKDL_OK;
}

/* ---------------------------------------------------------------- losses */

enum { LOSS_MSE, LOSS_CE, LOSS_BCE };

static vkdl_status loss_bwd(vkdl_node *n)
{
    vkdl_tensor *pred = n->in[0], *target = n->in[1];
    float dloss = upstream_value(n);
    vkdl_tensor *dp;
    bool want_target = n->kind != LOSS_CE && vkdl_grad_wanted(target);
    VKDL_TRY(vkdl_grad_begin(pred, &dp));
    if (!dp && want_target)
        VKDL_TRY(vkdl_graph_tensor(pred->ctx, VKDL_F32, pred->ndim, pred->shape, &dp));
    if (!dp)
        return VKDL_OK;
    if (n->kind == LOSS_MSE)
        VKDL_TRY(vkdl_mse_loss_backward(pred, target, dloss, dp));
    else if (n->kind == LOSS_CE)
        VKDL_TRY(vkdl_cross_entropy_backward(pred, target, dloss, dp, n->has_info ? &n->p.ce : NULL));
    else
        VKDL_TRY(vkdl_bce_with_logits_backward(pred, target, dloss, dp));
    VKDL_TRY(apply_upstream(n, dp));
    if (want_target) {
        /* d/dtarget of (pred - target)^2 is the negative of d/dpred; of the BCE mean it is
         * -logits / numel. */
        vkdl_tensor *dt;
        VKDL_TRY(vkdl_grad_begin(target, &dt));
        if (n->kind == LOSS_MSE) {
            VKDL_TRY(vkdl_scale(dp, -1.0f, 0.0f, dt));
        } else {
            VKDL_TRY(vkdl_scale(pred, -dloss / (float)pred->numel, 0.0f, dt));
            VKDL_TRY(apply_upstream(n, dt));
        }
        VKDL_TRY(vkdl_grad_commit(target, dt));
    }
    return vkdl_grad_wanted(pred) ? vkdl_grad_commit(pred, dp) : VKDL_OK;
}

static vkdl_status loss_any(const char *op, int kind, vkdl_tensor *pred, vkdl_tensor *target,
                            const vkdl_cross_entropy_info *ce, vkdl_tensor **loss)
{
    VKDL_TRY(begin(op, pred, loss));
    VKDL_TRY(vkdl_check_tensor(op, "input", pred));
    int64_t one = 1;
    vkdl_tensor *l;
    OUT_NEW(pred->ctx, 1, &one, &l);
    if (kind == LOSS_MSE)
        VKDL_TRY(vkdl_mse_loss(pred, target, l));
    else if (kind == LOSS_CE)
        VKDL_TRY(vkdl_cross_entropy(pred, target, l, ce));
    else
        VKDL_TRY(vkdl_bce_with_logits(pred, target, l));
    vkdl_tensor *in[2] = {pred, target};
    vkdl_node *n;
    /* Class-index targets (cross-entropy) have no gradient; the others' targets may. */
    VKDL_TRY(vkdl_graph_record(op, loss_bwd, l, kind == LOSS_CE ? 1 : 2, in, &n));
    if (n) {
        n->in[1] = target;
        n->kind = kind;
        n->has_info = ce != NULL;
        if (ce)
            n->p.ce = *ce;
    }
    *loss = l;
    return VKDL_OK;
}

vkdl_status vkdl_f_mse_loss(vkdl_tensor *pred, vkdl_tensor *target, vkdl_tensor **loss)
{
    return loss_any("f_mse_loss", LOSS_MSE, pred, target, NULL, loss);
}

vkdl_status vkdl_f_cross_entropy(vkdl_tensor *logits, vkdl_tensor *targets, const vkdl_cross_entropy_info *info,
                                 vkdl_tensor **loss)
{
    return loss_any("f_cross_entropy", LOSS_CE, logits, targets, info, loss);
}

vkdl_status vkdl_f_bce_with_logits(vkdl_tensor *logits, vkdl_tensor *targets, vkdl_tensor **loss)
{
    return loss_any("f_bce_with_logits", LOSS_BCE, logits, targets, NULL, loss);
}

/* ---------------------------------------------------------------- recurrent layers */

enum { RNN_X, RNN_WIH, RNN_WHH, RNN_BIH, RNN_BHH, RNN_H0, RNN_C0 };

static vkdl_status rnn_bwd(vkdl_node *n)
{
    bool lstm = n->kind;
    vkdl_tensor *g[7];
    for (int i = 0; i < 7; i++) {
        g[i] = NULL;
        if (i == RNN_C0 && !lstm)
            continue;
        VKDL_TRY(vkdl_grad_begin(n->in[i], &g[i]));
    }
    if (lstm)
        VKDL_TRY(vkdl_lstm_backward(n->in[RNN_X], n->in[RNN_H0], n->in[RNN_C0], n->in[RNN_WIH], n->in[RNN_WHH], n->out,
                                    n->saved[0], n->out->grad, NULL, NULL, g[RNN_X], g[RNN_H0], g[RNN_C0], g[RNN_WIH],
                                    g[RNN_WHH], g[RNN_BIH], g[RNN_BHH]));
    else
        VKDL_TRY(vkdl_gru_backward(n->in[RNN_X], n->in[RNN_H0], n->in[RNN_WIH], n->in[RNN_WHH], n->out, n->saved[0],
                                   n->out->grad, NULL, g[RNN_X], g[RNN_H0], g[RNN_WIH], g[RNN_WHH], g[RNN_BIH],
                                   g[RNN_BHH]));
    for (int i = 0; i < 7; i++)
        if (g[i])
            VKDL_TRY(vkdl_grad_commit(n->in[i], g[i]));
    return VKDL_OK;
}

static vkdl_status rnn_any(bool lstm, vkdl_tensor *x, vkdl_tensor *h0, vkdl_tensor *c0, vkdl_tensor *w_ih,
                           vkdl_tensor *w_hh, vkdl_tensor *b_ih, vkdl_tensor *b_hh, vkdl_tensor **out,
                           vkdl_tensor **h_n, vkdl_tensor **c_n)
{
    const char *op = lstm ? "f_lstm" : "f_gru";
    VKDL_TRY(begin(op, x, out));
    if (h_n)
        *h_n = NULL;
    if (c_n)
        *c_n = NULL;
    VKDL_TRY(check_ndim(op, "x", x, 3));
    VKDL_TRY(check_ndim(op, "w_hh", w_hh, 2));
    int64_t T = x->shape[0], B = x->shape[1], H = w_hh->shape[1];
    int64_t shape[3] = {T, B, H}, hs[2] = {B, H}, ws[3];
    if (lstm)
        vkdl_lstm_workspace_shape(T, B, H, ws);
    else
        vkdl_gru_workspace_shape(T, B, H, ws);
    vkdl_tensor *y, *ws_t, *hn = NULL, *cn = NULL;
    OUT_NEW(x->ctx, 3, shape, &y);
    OUT_NEW(x->ctx, 3, ws, &ws_t);
    if (h_n)
        OUT_NEW(x->ctx, 2, hs, &hn);
    if (c_n && lstm)
        OUT_NEW(x->ctx, 2, hs, &cn);
    if (lstm)
        VKDL_TRY(vkdl_lstm(x, h0, c0, w_ih, w_hh, b_ih, b_hh, y, hn, cn, ws_t));
    else
        VKDL_TRY(vkdl_gru(x, h0, w_ih, w_hh, b_ih, b_hh, y, hn, ws_t));
    vkdl_tensor *in[7] = {x, w_ih, w_hh, b_ih, b_hh, h0, lstm ? c0 : NULL};
    vkdl_node *n;
    VKDL_TRY(vkdl_graph_record(op, rnn_bwd, y, 7, in, &n));
    if (n) {
        n->saved[0] = ws_t;
        n->kind = lstm;
    }
    *out = y;
    if (h_n)
        *h_n = hn;
    if (c_n)
        *c_n = cn;
    return VKDL_OK;
}

vkdl_status vkdl_f_lstm(vkdl_tensor *x, vkdl_tensor *h0, vkdl_tensor *c0, vkdl_tensor *w_ih, vkdl_tensor *w_hh,
                        vkdl_tensor *b_ih, vkdl_tensor *b_hh, vkdl_tensor **out, vkdl_tensor **h_n, vkdl_tensor **c_n)
{
    return rnn_any(true, x, h0, c0, w_ih, w_hh, b_ih, b_hh, out, h_n, c_n);
}

vkdl_status vkdl_f_gru(vkdl_tensor *x, vkdl_tensor *h0, vkdl_tensor *w_ih, vkdl_tensor *w_hh, vkdl_tensor *b_ih,
                       vkdl_tensor *b_hh, vkdl_tensor **out, vkdl_tensor **h_n)
{
    return rnn_any(false, x, h0, NULL, w_ih, w_hh, b_ih, b_hh, out, h_n, NULL);
}
