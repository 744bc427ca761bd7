/* The nn layer (lib/nn/): autograd, the differentiable vkdl_f_* ops, modules and optimizers. May use
 * the ops and runtime layers. */
#ifndef VKDL_NN_H
#define VKDL_NN_H

#include "ops/ops.h"

/* ------------------------------------------------------------------ autograd (nn/autograd.c) */

typedef struct vkdl_node vkdl_node;
typedef vkdl_status (*vkdl_backward_fn)(vkdl_node *n);

/* One recorded op: its backward reads the gradient of out (and outs[1..]) and hands gradients to
 * the tracked inputs with vkdl_grad_*. Saved tensors are graph tensors kept for backward. */
struct vkdl_node {
    const char *op;
    vkdl_backward_fn backward;
    vkdl_tensor *out;
    vkdl_tensor *in[8];
    vkdl_tensor *saved[4];
    int kind;                       /* which variant of the op (loss type, lstm or gru, ...) */
    bool has_info;
    union {
        vkdl_conv2d_info conv;
        vkdl_pool2d_params pool;
        vkdl_attention_info attn;
        vkdl_cross_entropy_info ce;
        vkdl_matmul_info mm;
        int perm[VKDL_MAX_DIMS];
        struct { int op, axis; float a, b; uint64_t seed; } s;
    } p;
};

/* A tensor owned by the graph (pooled storage), freed by vkdl_graph_free or after vkdl_backward by
 * the next vkdl_graph_begin. */
vkdl_status vkdl_graph_tensor(vkdl_context *ctx, vkdl_dtype dtype, int ndim, const int64_t *shape, vkdl_tensor **out);
/* Hand a new view (or other handle nobody holds yet) to the graph, which frees it with the graph.
 * The handle moves into a slot: *t changes (on failure it is destroyed and *t is NULL). */
vkdl_status vkdl_graph_own(vkdl_tensor **t);
/* Called by every vkdl_f_* before it looks at its inputs: frees a graph vkdl_backward has finished. */
void vkdl_graph_begin(vkdl_context *ctx);
/* Record a node for out if recording is on and any input is tracked; *node is NULL otherwise. */
vkdl_status vkdl_graph_record(const char *op, vkdl_backward_fn fn, vkdl_tensor *out, int n_in, vkdl_tensor *const *in,
                              vkdl_node **node);
/* Does x want a gradient? */
static inline bool vkdl_grad_wanted(const vkdl_tensor *x) { return x && x->tracked; }
/* Where to write x's gradient: x->grad itself (*accumulate false, the caller overwrites it) or,
 * when x->grad already holds a gradient, that tensor with *accumulate true (callers that can add
 * in place, like matmul's beta, use it) — see vkdl_grad_temp for the rest. NULL if not wanted. */
vkdl_status vkdl_grad_target(vkdl_tensor *x, vkdl_tensor **dst, bool *accumulate);
/* For ops that only overwrite: a tensor to write x's gradient into, then vkdl_grad_commit(x, g)
 * adds it to x->grad if it was a temporary. *g is NULL if x wants no gradient. */
vkdl_status vkdl_grad_begin(vkdl_tensor *x, vkdl_tensor **g);
vkdl_status vkdl_grad_commit(vkdl_tensor *x, vkdl_tensor *g);
void vkdl_graph_destroy(vkdl_context *ctx);

#endif
