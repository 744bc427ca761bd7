/* Tape-based reverse-mode autograd.
 *
 * The graph owns every tensor a vkdl_f_* function returns, the tensors saved for backward, and the
 * gradients of intermediates. Nodes are appended in execution order, so walking the tape backwards
 * is a topological order. vkdl_backward frees the nodes but leaves the tensors readable (PyTorch's
 * loss.backward(); loss.item()); the next vkdl_f_* call frees them before it looks at its inputs.
 * Their handles sit in context-owned slots (runtime), so a handle kept longer is reported as dead.
 * Storage of freed graph tensors goes to a pool keyed by exact byte size: a
 * training loop repeats the same sizes each step, so after the first step every allocation is a
 * pool hit and device memory stays flat. Pooled storage unused for two consecutive graph frees is
 * released, so a one-off evaluation at another batch size does not pin its memory. */
#include "nn/nn.h"

#include <stdlib.h>
#include <string.h>

typedef struct pooled {
    vkdl_storage *st;
    int idle;                       /* graph frees since it was last handed out */
} pooled;

typedef struct vkdl_graph {
    vkdl_node **nodes;
    size_t n_nodes, cap_nodes;
    vkdl_tensor **owned;
    size_t n_owned, cap_owned;
    pooled *pool;
    size_t n_pool, cap_pool;
    bool backpropagated;            /* nodes freed by vkdl_backward; tensors kept until the next op */
} vkdl_graph;

static bool grow(void **p, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return true;
    size_t c = *cap ? *cap * 2 : 64;
    void *q = realloc(*p, c * elem);
    if (!q)
        return false;
    *p = q;
    *cap = c;
    return true;
}

static vkdl_status graph_get(vkdl_context *ctx, vkdl_graph **out)
{
    if (!ctx->graph) {
        ctx->graph = calloc(1, sizeof *ctx->graph);
        if (!ctx->graph)
            return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "autograd: out of host memory");
        ctx->graph_destroy = vkdl_graph_destroy;
    }
    *out = ctx->graph;
    return VKDL_OK;
}

vkdl_status vkdl_graph_own(vkdl_tensor **t)
{
    vkdl_graph *g = NULL;
    vkdl_status s = graph_get((*t)->ctx, &g);
    if (s == VKDL_OK && !grow((void **)&g->owned, &g->cap_owned, g->n_owned, sizeof *g->owned))
        s = vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "autograd: out of host memory");
    if (s == VKDL_OK)
        s = vkdl_tensor_to_slot(t);
    if (s != VKDL_OK) {
        vkdl_tensor_destroy(*t);
        *t = NULL;
        return s;
    }
    g->owned[g->n_owned++] = *t;
    return VKDL_OK;
}

vkdl_status vkdl_graph_tensor(vkdl_context *ctx, vkdl_dtype dtype, int ndim, const int64_t *shape, vkdl_tensor **out)
{
    *out = NULL;
    vkdl_graph *g = NULL;
    VKDL_TRY(graph_get(ctx, &g));
    int64_t numel;
    VKDL_TRY(vkdl_numel_checked("autograd", ndim, shape, &numel));
    size_t bytes = (size_t)numel * vkdl_dtype_size(dtype);
    vkdl_storage *st = NULL;
    for (size_t i = 0; i < g->n_pool; i++)
        if (g->pool[i].st->bytes == bytes) {
            st = g->pool[i].st;
            g->pool[i] = g->pool[--g->n_pool];
            break;
        }
    vkdl_tensor *t;
    vkdl_status s = vkdl_tensor_create_on(ctx, dtype, ndim, shape, st, 0, &t);
    if (st)
        vkdl_storage_release(st); /* the tensor holds the one reference now */
    if (s != VKDL_OK)
        return s;
    VKDL_TRY(vkdl_graph_own(&t));
    *out = t;
    return VKDL_OK;
}

vkdl_status vkdl_graph_record(const char *op, vkdl_backward_fn fn, vkdl_tensor *out, int n_in, vkdl_tensor *const *in,
                              vkdl_node **node)
{
    *node = NULL;
    if (out->ctx->no_grad)
        return VKDL_OK;
    bool any = false;
    for (int i = 0; i < n_in; i++)
        any |= vkdl_grad_wanted(in[i]);
    if (!any)
        return VKDL_OK;
    vkdl_graph *g = NULL;
    VKDL_TRY(graph_get(out->ctx, &g));
    vkdl_node *n = calloc(1, sizeof *n);
    if (!n || !grow((void **)&g->nodes, &g->cap_nodes, g->n_nodes, sizeof *g->nodes)) {
        free(n);
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory recording the tape", op);
    }
    n->op = op;
    n->backward = fn;
    n->out = out;
    for (int i = 0; i < n_in && i < (int)VKDL_ARRAY_LEN(n->in); i++)
        n->in[i] = in[i];
    out->tracked = true;
    g->nodes[g->n_nodes++] = n;
    *node = n;
    return VKDL_OK;
}

static void free_nodes(vkdl_graph *g)
{
    for (size_t i = 0; i < g->n_nodes; i++)
        free(g->nodes[i]);
    g->n_nodes = 0;
}

static void graph_clear(vkdl_context *ctx, bool release_pool)
{
    vkdl_graph *g = ctx->graph;
    if (!g)
        return;
    free_nodes(g);
    g->backpropagated = false;
    if (g->n_owned)
        vkdl_slots_advance(ctx);
    for (size_t i = 0; i < g->n_pool; i++)
        g->pool[i].idle++;
    for (size_t i = 0; i < g->n_owned; i++) {
        vkdl_tensor *t = g->owned[i];
        vkdl_storage *st = t->st;
        bool whole = t->offset == 0 && st->refs == 1 && st->bytes == vkdl_tensor_bytes(t);
        if (whole && !release_pool && grow((void **)&g->pool, &g->cap_pool, g->n_pool, sizeof *g->pool)) {
            st->refs++;
            g->pool[g->n_pool++] = (pooled){st, 0};
        }
        vkdl_tensor_retire(t);
    }
    g->n_owned = 0;
    for (size_t i = 0; i < g->n_pool;) {
        if (release_pool || g->pool[i].idle >= 2) {
            vkdl_storage_release(g->pool[i].st);
            g->pool[i] = g->pool[--g->n_pool];
        } else {
            i++;
        }
    }
}

void vkdl_graph_begin(vkdl_context *ctx)
{
    if (ctx->graph && ctx->graph->backpropagated)
        graph_clear(ctx, false);
}

void vkdl_graph_free(vkdl_context *ctx)
{
    if (ctx)
        graph_clear(ctx, false);
}

void vkdl_graph_destroy(vkdl_context *ctx)
{
    if (!ctx->graph)
        return;
    graph_clear(ctx, true);
    free(ctx->graph->nodes);
    free(ctx->graph->owned);
    free(ctx->graph->pool);
    free(ctx->graph);
    ctx->graph = NULL;
}

int vkdl_grad_enabled(vkdl_context *ctx, int enabled)
{
    if (!ctx)
        return 0;
    int was = !ctx->no_grad;
    ctx->no_grad = !enabled;
    return was;
}

/* ---------------------------------------------------------------- leaves */

vkdl_status vkdl_tensor_set_requires_grad(vkdl_tensor *t, int requires_grad)
{
    VKDL_TRY(vkdl_check_tensor("set_requires_grad", "t", t));
    if (requires_grad && t->dtype != VKDL_F32)
        return vkdl_fail(VKDL_ERROR_DTYPE_MISMATCH, "set_requires_grad: only f32 tensors have gradients, not %s",
                         vkdl_dtype_name(t->dtype));
    t->requires_grad = requires_grad != 0;
    t->tracked = t->requires_grad;
    return VKDL_OK;
}

/* A dead handle answers as NULL does, with the reason recorded. */
static bool live(const char *op, const vkdl_tensor *t) { return t && vkdl_check_live(op, "t", t) == VKDL_OK; }

int vkdl_tensor_requires_grad(const vkdl_tensor *t) { return live("tensor_requires_grad", t) && t->requires_grad; }

vkdl_tensor *vkdl_tensor_grad(const vkdl_tensor *t)
{
    return live("tensor_grad", t) && t->requires_grad ? t->grad : NULL;
}

/* ---------------------------------------------------------------- gradient hand-off */

vkdl_status vkdl_grad_target(vkdl_tensor *x, vkdl_tensor **dst, bool *accumulate)
{
    *dst = NULL;
    *accumulate = false;
    if (!vkdl_grad_wanted(x))
        return VKDL_OK;
    if (!x->grad) {
        if (x->requires_grad) {
            /* A leaf's gradient outlives the graph. */
            VKDL_TRY(vkdl_tensor_create(x->ctx, VKDL_F32, x->ndim, x->shape, &x->grad));
            x->grad_owned = true;
        } else {
            VKDL_TRY(vkdl_graph_tensor(x->ctx, VKDL_F32, x->ndim, x->shape, &x->grad));
        }
    } else {
        *accumulate = !x->grad_zero;
    }
    x->grad_zero = false;
    x->grad->grad_known = false;
    *dst = x->grad;
    return VKDL_OK;
}

vkdl_status vkdl_grad_begin(vkdl_tensor *x, vkdl_tensor **g)
{
    bool acc;
    VKDL_TRY(vkdl_grad_target(x, g, &acc));
    if (*g && acc)
        VKDL_TRY(vkdl_graph_tensor(x->ctx, VKDL_F32, x->ndim, x->shape, g));
    return VKDL_OK;
}

vkdl_status vkdl_grad_commit(vkdl_tensor *x, vkdl_tensor *g)
{
    if (!g || g == x->grad)
        return VKDL_OK;
    return vkdl_binary(VKDL_ADD, x->grad, g, x->grad);
}

/* ---------------------------------------------------------------- backward */

vkdl_status vkdl_backward(vkdl_tensor *loss)
{
    VKDL_TRY(vkdl_check_tensor("backward", "loss", loss));
    vkdl_context *ctx = loss->ctx;
    vkdl_status s = VKDL_OK;
    if (loss->numel != 1) {
        char b[VKDL_SHAPE_BUF];
        s = vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "backward: loss must have one element, not %s",
                      vkdl_shape_str(loss, b, sizeof b));
    } else if (loss->handle == VKDL_HANDLE_GRAPH && ctx->graph->backpropagated) {
        s = vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT,
                      "backward: the graph was already back-propagated; run the forward again to record a new one");
    } else if (!loss->tracked) {
        s = vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT,
                      "backward: loss does not depend on any tensor that requires grad (or grad mode was off)");
    }
    vkdl_tensor *seed = NULL;
    bool acc = false;
    if (s == VKDL_OK)
        s = vkdl_grad_target(loss, &seed, &acc);
    if (s == VKDL_OK)
        s = acc ? vkdl_scale(seed, 1.0f, 1.0f, seed) : vkdl_tensor_fill(seed, 1.0);
    if (s == VKDL_OK && !acc) {
        seed->grad_known = true;
        seed->grad_value = 1.0f;
    }
    vkdl_graph *g = ctx->graph;
    for (size_t i = g ? g->n_nodes : 0; s == VKDL_OK && i-- > 0;) {
        vkdl_node *n = g->nodes[i];
        if (n->out->grad)
            s = n->backward(n);
    }
    /* Keep the message of a failure: freeing the nodes does not touch it. */
    if (g) {
        free_nodes(g);
        g->backpropagated = true;
    }
    return s;
}
