/* Modules: layers that own parameters (leaves) and buffers, and containers of layers.
 *
 * Every module is the same struct with a small ops table; each layer's forward is a few
 * vkdl_f_* calls, so its backward comes from the tape. Names follow PyTorch's state_dict so
 * checkpoints line up with torch.nn models of the same structure. */
#include "nn/module.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- construction */

static vkdl_status module_new(vkdl_context *ctx, const vkdl_module_ops *ops, const char *op, vkdl_module **out)
{
    if (!out)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: out is NULL", op);
    *out = NULL;
    if (!ctx)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: context is NULL", op);
    vkdl_module *m = calloc(1, sizeof *m);
    if (!m)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", op);
    m->ops = ops;
    m->ctx = ctx;
    m->training = true;
    /* Until vkdl_module_init gives it one from the user's seed, a module's weights and dropout
     * masks come from its creation number: reproducible, and different for every layer. */
    m->seed = 0x9e3779b97f4a7c15ull * ++ctx->modules_created;
    *out = m;
    return VKDL_OK;
}

/* Fail construction: free what was built so far. */
static vkdl_status module_abort(vkdl_module *m, vkdl_module **out, vkdl_status s)
{
    vkdl_module_destroy(m);
    *out = NULL;
    return s;
}

static vkdl_status add_param(vkdl_module *m, const char *name, int ndim, const int64_t *shape, vkdl_init init,
                             double fan_in, double fan_out, bool buffer)
{
    if (m->n_params == VKDL_MODULE_MAX_PARAMS)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "module: too many parameters");
    vkdl_param *p = &m->params[m->n_params];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->init = init;
    p->fan_in = fan_in;
    p->fan_out = fan_out;
    p->buffer = buffer;
    VKDL_TRY(vkdl_tensor_create(m->ctx, VKDL_F32, ndim, shape, &p->t));
    m->n_params++;
    if (!buffer)
        VKDL_TRY(vkdl_tensor_set_requires_grad(p->t, 1));
    return VKDL_OK;
}

static vkdl_status add_child(vkdl_module *m, const char *name, vkdl_module *child)
{
    if (!child)
        return VKDL_ERROR_INVALID_ARGUMENT;
    vkdl_child *c = realloc(m->children, (size_t)(m->n_children + 1) * sizeof *c);
    if (!c) {
        vkdl_module_destroy(child);
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "module: out of host memory");
    }
    m->children = c;
    snprintf(c[m->n_children].name, sizeof c->name, "%s", name);
    c[m->n_children].m = child;
    m->n_children++;
    return VKDL_OK;
}

void vkdl_module_destroy(vkdl_module *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_params; i++)
        vkdl_tensor_destroy(m->params[i].t);
    for (int i = 0; i < m->n_children; i++)
        vkdl_module_destroy(m->children[i].m);
    free(m->children);
    vkdl_tensor_destroy(m->state[0]);
    vkdl_tensor_destroy(m->state[1]);
    free(m);
}

/* ---------------------------------------------------------------- generic entry points */

vkdl_status vkdl_module_forward(vkdl_module *m, vkdl_tensor *x, vkdl_tensor **y)
{
    if (!y)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "module_forward: y is NULL");
    *y = NULL;
    if (!m)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "module_forward: module is NULL");
    vkdl_graph_begin(m->ctx);
    VKDL_TRY(vkdl_check_tensor(m->ops->type, "x", x));
    if (x->ctx != m->ctx)
        return vkdl_fail(VKDL_ERROR_CONTEXT_MISMATCH, "%s: x belongs to another context than the module", m->ops->type);
    return m->ops->forward(m, x, y);
}

vkdl_module *vkdl_module_child(const vkdl_module *m, int i)
{
    return m && i >= 0 && i < m->n_children ? m->children[i].m : NULL;
}

void vkdl_module_set_training(vkdl_module *m, int training)
{
    if (!m)
        return;
    m->training = training != 0;
    for (int i = 0; i < m->n_children; i++)
        vkdl_module_set_training(m->children[i].m, training);
}

/* Depth first; names are built relative to the module the walk started from, as PyTorch's
 * state_dict() of that module names them. */
static void collect(const vkdl_module *m, const char *prefix, vkdl_param **out, char (*names)[VKDL_NAME_MAX], int *n,
                    bool trainable_only)
{
    for (int i = 0; i < m->n_params; i++)
        if (!trainable_only || (!m->params[i].buffer && m->params[i].t->requires_grad)) {
            if (out)
                out[*n] = (vkdl_param *)&m->params[i];
            if (names)
                snprintf(names[*n], VKDL_NAME_MAX, "%s%s", prefix, m->params[i].name);
            (*n)++;
        }
    for (int i = 0; i < m->n_children; i++) {
        char sub[VKDL_NAME_MAX];
        snprintf(sub, sizeof sub, "%s%s.", prefix, m->children[i].name);
        collect(m->children[i].m, sub, out, names, n, trainable_only);
    }
}

vkdl_status vkdl_module_collect(const vkdl_module *m, bool trainable_only, vkdl_param ***out,
                                char (**names)[VKDL_NAME_MAX], int *count)
{
    int n = 0;
    collect(m, "", NULL, NULL, &n, trainable_only);
    *out = calloc(n ? (size_t)n : 1, sizeof **out);
    if (names)
        *names = calloc(n ? (size_t)n : 1, sizeof **names);
    if (!*out || (names && !*names)) {
        free(*out);
        if (names)
            free(*names);
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "module: out of host memory");
    }
    *count = 0;
    collect(m, "", *out, names ? *names : NULL, count, trainable_only);
    return VKDL_OK;
}

int vkdl_module_param_count(const vkdl_module *m)
{
    int n = 0;
    if (m)
        collect(m, "", NULL, NULL, &n, false);
    return n;
}

vkdl_status vkdl_module_param(const vkdl_module *m, int i, const char **name, vkdl_tensor **t)
{
    if (!m)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "module_param: module is NULL");
    vkdl_param **all;
    char (*names)[VKDL_NAME_MAX];
    int n;
    VKDL_TRY(vkdl_module_collect(m, false, &all, &names, &n));
    if (i < 0 || i >= n) {
        free(all);
        free(names);
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "module_param: index %d not in [0, %d)", i, n);
    }
    /* The name lives in the module until the next call (the walk builds it). */
    vkdl_module *mm = (vkdl_module *)m;
    snprintf(mm->name_cache, sizeof mm->name_cache, "%s", names[i]);
    if (name)
        *name = mm->name_cache;
    if (t)
        *t = all[i]->t;
    free(all);
    free(names);
    return VKDL_OK;
}

int64_t vkdl_module_numel(const vkdl_module *m)
{
    vkdl_param **all;
    int n;
    if (!m || vkdl_module_collect(m, true, &all, NULL, &n) != VKDL_OK)
        return 0;
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        total += all[i]->t->numel;
    free(all);
    return total;
}

/* ---------------------------------------------------------------- initialisation */

/* Uniform in (0, 1), never 0 (Box-Muller takes its log). */
static double uniform01(uint64_t *s) { return ((double)(vkdl_splitmix64(s) >> 11) + 0.5) / 9007199254740992.0; }

static vkdl_status init_param(vkdl_param *p, uint64_t seed, int index)
{
    int64_t n = p->t->numel;
    float *h = malloc((size_t)(n ? n : 1) * sizeof *h);
    if (!h)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "module_init: out of host memory");
    /* Each parameter has its own stream, so adding a layer does not change the others' values. */
    uint64_t s = seed ^ (0x632be59bd9b4e019ull * (uint64_t)(index + 1));
    vkdl_splitmix64(&s);
    double bound = 0.0;
    switch (p->init) {
    case VKDL_INIT_FAN_IN:  /* PyTorch's kaiming_uniform_(a=sqrt(5)) and its bias rule */
        bound = p->fan_in > 0 ? 1.0 / sqrt(p->fan_in) : 0.0;
        break;
    case VKDL_INIT_XAVIER:
        bound = sqrt(6.0 / (p->fan_in + p->fan_out));
        break;
    default:
        break;
    }
    for (int64_t i = 0; i < n; i++) {
        switch (p->init) {
        case VKDL_INIT_ZEROS: h[i] = 0.0f; break;
        case VKDL_INIT_ONES: h[i] = 1.0f; break;
        case VKDL_INIT_NORMAL: {
            double u1 = uniform01(&s), u2 = uniform01(&s);
            h[i] = (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
            break;
        }
        default: h[i] = (float)((2.0 * uniform01(&s) - 1.0) * bound); break;
        }
    }
    vkdl_status st = vkdl_tensor_upload(p->t, h, VKDL_F32, (size_t)n * sizeof *h);
    free(h);
    return st;
}

/* Each module's dropout seed from the init seed and its place in the tree; call counts restart. */
static void seed_modules(vkdl_module *m, uint64_t seed, uint64_t *index)
{
    uint64_t s = seed ^ (0xd1b54a32d192ed03ull * ++*index);
    /* A Dropout layer keeps the seed it was created with; layers with built-in dropout get one. */
    m->seed = m->fixed_seed ? m->seed_base : vkdl_splitmix64(&s);
    m->calls = 0;
    for (int i = 0; i < m->n_children; i++)
        seed_modules(m->children[i].m, seed, index);
}

static void walk_rng(vkdl_module *m, int32_t *state, bool get, int *n)
{
    int32_t *r = state ? state + 4 * *n : NULL;
    if (r && get) {
        r[0] = (int32_t)(uint32_t)m->seed, r[1] = (int32_t)(uint32_t)(m->seed >> 32);
        r[2] = (int32_t)(uint32_t)m->calls, r[3] = (int32_t)(uint32_t)(m->calls >> 32);
    } else if (r) {
        m->seed = (uint64_t)(uint32_t)r[0] | (uint64_t)(uint32_t)r[1] << 32;
        m->calls = (uint64_t)(uint32_t)r[2] | (uint64_t)(uint32_t)r[3] << 32;
    }
    (*n)++;
    for (int i = 0; i < m->n_children; i++)
        walk_rng(m->children[i].m, state, get, n);
}

int vkdl_module_rng_state(vkdl_module *m, int32_t *state, bool get)
{
    int n = 0;
    walk_rng(m, state, get, &n);
    return n;
}

vkdl_status vkdl_module_init(vkdl_module *m, uint64_t seed)
{
    if (!m)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "module_init: module is NULL");
    uint64_t index = 0;
    seed_modules(m, seed, &index);
    vkdl_param **all;
    int n;
    VKDL_TRY(vkdl_module_collect(m, false, &all, NULL, &n));
    vkdl_status s = VKDL_OK;
    for (int i = 0; i < n && s == VKDL_OK; i++)
        s = init_param(all[i], seed, i);
    free(all);
    return s;
}

/* ---------------------------------------------------------------- stateful recurrent layers */

vkdl_status vkdl_module_set_stateful(vkdl_module *m, int stateful)
{
    if (!m || (m->ops != &vkdl_lstm_ops && m->ops != &vkdl_gru_ops))
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "module_set_stateful: only LSTM and GRU modules have a state");
    m->stateful = stateful != 0;
    return vkdl_module_reset_state(m);
}

vkdl_status vkdl_module_reset_state(vkdl_module *m)
{
    if (!m || (m->ops != &vkdl_lstm_ops && m->ops != &vkdl_gru_ops))
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "module_reset_state: only LSTM and GRU modules have a state");
    for (int i = 0; i < 2; i++)
        if (m->state[i])
            VKDL_TRY(vkdl_tensor_fill(m->state[i], 0.0));
    return VKDL_OK;
}

/* ---------------------------------------------------------------- layers */

static vkdl_status linear_forward(vkdl_module *m, vkdl_tensor *x, vkdl_tensor **y)
{
    return vkdl_f_linear(x, m->params[0].t, m->n_params > 1 ? m->params[1].t : NULL, y);
}
static const vkdl_module_ops linear_ops = {"linear", linear_forward};

vkdl_status vkdl_linear_create(vkdl_context *ctx, int64_t in, int64_t out, int bias, vkdl_module **m)
{
    VKDL_TRY(module_new(ctx, &linear_ops, "linear_create", m));
    if (in < 1 || out < 1)
        return module_abort(*m, m, vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "linear_create: in %lld and out %lld must be "
                                             "positive", (long long)in, (long long)out));
    int64_t ws[2] = {out, in};
    vkdl_status s = add_param(*m, "weight", 2, ws, VKDL_INIT_FAN_IN, (double)in, (double)out, false);
    if (s == VKDL_OK && bias)
        s = add_param(*m, "bias", 1, &out, VKDL_INIT_FAN_IN, (double)in, (double)out, false);
    if (s == VKDL_OK)
        s = vkdl_module_init(*m, (*m)->seed);
    return s == VKDL_OK ? VKDL_OK : module_abort(*m, m, s);
}

static vkdl_status conv_forward(vkdl_module *m, vkdl_tensor *x, vkdl_tensor **y)
{
    vkdl_tensor *b = m->n_params > 1 ? m->params[1].t : NULL;
    if (m->transposed)
        return vkdl_f_conv_transpose2d(x, m->params[0].t, b, &m->conv, y);
    return vkdl_f_conv2d(x, m->params[0].t, b, &m->conv, y);
}
static const vkdl_module_ops conv_ops = {"conv2d", conv_forward};

static vkdl_status conv_create(vkdl_context *ctx, bool transposed, int64_t in_ch, int64_t out_ch, int kernel,
                               const vkdl_conv2d_info *info, int bias, vkdl_module **m)
{
    const char *op = transposed ? "conv_transpose2d_create" : "conv2d_create";
    VKDL_TRY(info ? vkdl_check_next(op, info->next) : VKDL_OK);
    VKDL_TRY(module_new(ctx, &conv_ops, op, m));
    vkdl_conv2d_info c = info ? *info : (vkdl_conv2d_info){0};
    int groups = c.groups ? c.groups : 1;
    if (in_ch < 1 || out_ch < 1 || kernel < 1 || groups < 1 || in_ch % groups || out_ch % groups)
        return module_abort(*m, m, vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: in %lld, out %lld, kernel %d, groups %d: "
                                             "need positive sizes and channels divisible by groups", op,
                                             (long long)in_ch, (long long)out_ch, kernel, groups));
    (*m)->conv = c;
    (*m)->transposed = transposed;
    int64_t k2 = (int64_t)kernel * kernel;
    /* conv: [out, in/groups, k, k]; transposed: [in, out/groups, k, k]. PyTorch takes fan_in from
     * dim 1 in both cases, and so do we. */
    int64_t ws[4] = {transposed ? in_ch : out_ch, (transposed ? out_ch : in_ch) / groups, kernel, kernel};
    double fan_in = (double)(ws[1] * k2), fan_out = (double)(ws[0] * k2);
    vkdl_status s = add_param(*m, "weight", 4, ws, VKDL_INIT_FAN_IN, fan_in, fan_out, false);
    if (s == VKDL_OK && bias)
        s = add_param(*m, "bias", 1, &out_ch, VKDL_INIT_FAN_IN, fan_in, fan_out, false);
    if (s == VKDL_OK)
        s = vkdl_module_init(*m, (*m)->seed);
    return s == VKDL_OK ? VKDL_OK : module_abort(*m, m, s);
}

vkdl_status vkdl_conv2d_create(vkdl_context *ctx, int64_t in_ch, int64_t out_ch, int kernel,
                               const vkdl_conv2d_info *info, int bias, vkdl_module **m)
{
    return conv_create(ctx, false, in_ch, out_ch, kernel, info, bias, m);
}

vkdl_status vkdl_conv_transpose2d_create(vkdl_context *ctx, int64_t in_ch, int64_t out_ch, int kernel,
                                         const vkdl_conv2d_info *info, int bias, vkdl_module **m)
{
    return conv_create(ctx, true, in_ch, out_ch, kernel, info, bias, m);
}

static vkdl_status batchnorm_forward(vkdl_module *m, vkdl_tensor *x, vkdl_tensor **y)
{
    vkdl_param *p = m->params;
    return vkdl_f_batchnorm(x, p[0].t, p[1].t, p[2].t, p[3].t, m->training, m->momentum, m->eps, y);
}
static const vkdl_module_ops batchnorm_ops = {"batchnorm2d", batchnorm_forward};

vkdl_status vkdl_batchnorm2d_create(vkdl_context *ctx, int64_t channels, float momentum, float eps, vkdl_module **m)
{
    VKDL_TRY(module_new(ctx, &batchnorm_ops, "batchnorm2d_create", m));
    if (channels < 1 || !(momentum >= 0.0f && momentum <= 1.0f) || !(eps > 0.0f))
        return module_abort(*m, m, vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "batchnorm2d_create: channels %lld, momentum %g, "
                                             "eps %g out of range", (long long)channels, momentum, eps));
    (*m)->momentum = momentum;
    (*m)->eps = eps;
    vkdl_status s = add_param(*m, "weight", 1, &channels, VKDL_INIT_ONES, 0, 0, false);
    if (s == VKDL_OK)
        s = add_param(*m, "bias", 1, &channels, VKDL_INIT_ZEROS, 0, 0, false);
    if (s == VKDL_OK)
        s = add_param(*m, "running_mean", 1, &channels, VKDL_INIT_ZEROS, 0, 0, true);
    if (s == VKDL_OK)
        s = add_param(*m, "running_var", 1, &channels, VKDL_INIT_ONES, 0, 0, true);
    if (s == VKDL_OK)
        s = vkdl_module_init(*m, (*m)->seed);
    return s == VKDL_OK ? VKDL_OK : module_abort(*m, m, s);
}

static vkdl_status layernorm_forward(vkdl_module *m, vkdl_tensor *x, vkdl_tensor **y)
{
    return vkdl_f_layernorm(x, m->params[0].t, m->params[1].t, m->eps, y);
}
static const vkdl_module_ops layernorm_ops = {"layernorm", layernorm_forward};

vkdl_status vkdl_layernorm_create(vkdl_context *ctx, int64_t dim, float eps, vkdl_module **m)
{
    VKDL_TRY(module_new(ctx, &layernorm_ops, "layernorm_create", m));
    if (dim < 1 || !(eps > 0.0f))
        return module_abort(*m, m, vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "layernorm_create: dim %lld and eps %g must be "
                                             "positive", (long long)dim, eps));
    (*m)->eps = eps;
    vkdl_status s = add_param(*m, "weight", 1, &dim, VKDL_INIT_ONES, 0, 0, false);
    if (s == VKDL_OK)
        s = add_param(*m, "bias", 1, &dim, VKDL_INIT_ZEROS, 0, 0, false);
    if (s == VKDL_OK)
        s = vkdl_module_init(*m, (*m)->seed);
    return s == VKDL_OK ? VKDL_OK : module_abort(*m, m, s);
}

static vkdl_status embedding_forward(vkdl_module *m, vkdl_tensor *x, vkdl_tensor **y)
{
    return vkdl_f_embedding(m->params[0].t, x, y);
}
static const vkdl_module_ops embedding_ops = {"embedding", embedding_forward};

vkdl_status vkdl_embedding_create(vkdl_context *ctx, int64_t vocab, int64_t dim, vkdl_module **m)
{
    VKDL_TRY(module_new(ctx, &embedding_ops, "embedding_create", m));
    if (vocab < 1 || dim < 1)
        return module_abort(*m, m, vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "embedding_create: vocab %lld and dim %lld must "
                                             "be positive", (long long)vocab, (long long)dim));
    int64_t ws[2] = {vocab, dim};
    vkdl_status s = add_param(*m, "weight", 2, ws, VKDL_INIT_NORMAL, 0, 0, false);
    if (s == VKDL_OK)
        s = vkdl_module_init(*m, (*m)->seed);
    return s == VKDL_OK ? VKDL_OK : module_abort(*m, m, s);
}

/* [B, T, D] -> [B, H, T, D/H] and back. */
static vkdl_status split_heads(vkdl_tensor *x, int heads, vkdl_tensor **out)
{
    int64_t s[4] = {x->shape[0], x->shape[1], heads, x->shape[2] / heads};
    vkdl_tensor *r;
    VKDL_TRY(vkdl_f_reshape(x, 4, s, &r));
    static const int perm[4] = {0, 2, 1, 3};
    return vkdl_f_permute(r, perm, out);
}

static vkdl_status attention_forward(vkdl_module *m, vkdl_tensor *x, vkdl_tensor **y)
{
    if (x->ndim != 3 || x->shape[2] != m->dim) {
        char b[VKDL_SHAPE_BUF];
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "attention: x must be [B, T, %lld], not %s", (long long)m->dim,
                         vkdl_shape_str(x, b, sizeof b));
    }
    vkdl_tensor *p[3], *h[3], *a, *merged, *flat;
    for (int i = 0; i < 3; i++) {
        VKDL_TRY(vkdl_module_forward(m->children[i].m, x, &p[i]));
        VKDL_TRY(split_heads(p[i], m->heads, &h[i]));
    }
    vkdl_attention_info ai = {.causal = m->causal};
    VKDL_TRY(vkdl_f_attention(h[0], h[1], h[2], &ai, &a));
    static const int perm[4] = {0, 2, 1, 3};
    VKDL_TRY(vkdl_f_permute(a, perm, &merged));
    VKDL_TRY(vkdl_f_reshape(merged, 3, x->shape, &flat));
    return vkdl_module_forward(m->children[3].m, flat, y);
}
static const vkdl_module_ops attention_ops = {"attention", attention_forward};

vkdl_status vkdl_attention_create(vkdl_context *ctx, int64_t dim, int heads, int causal, vkdl_module **m)
{
    VKDL_TRY(module_new(ctx, &attention_ops, "attention_create", m));
    if (dim < 1 || heads < 1 || dim % heads || dim / heads > 256)
        return module_abort(*m, m, vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "attention_create: dim %lld must be a positive "
                                             "multiple of heads %d with head size <= 256", (long long)dim, heads));
    (*m)->dim = dim;
    (*m)->heads = heads;
    (*m)->causal = causal != 0;
    static const char *names[4] = {"q_proj", "k_proj", "v_proj", "out_proj"};
    for (int i = 0; i < 4; i++) {
        vkdl_module *lin;
        vkdl_status s = vkdl_linear_create(ctx, dim, dim, 1, &lin);
        if (s == VKDL_OK) {
            /* Xavier-uniform projections with zero biases, as nn.MultiheadAttention does. */
            lin->params[0].init = VKDL_INIT_XAVIER;
            lin->params[1].init = VKDL_INIT_ZEROS;
            s = add_child(*m, names[i], lin);
        }
        if (s != VKDL_OK)
            return module_abort(*m, m, s);
    }
    vkdl_status s = vkdl_module_init(*m, (*m)->seed);
    return s == VKDL_OK ? VKDL_OK : module_abort(*m, m, s);
}

static vkdl_status block_forward(vkdl_module *m, vkdl_tensor *x, vkdl_tensor **y)
{
    vkdl_module **c = (vkdl_module *[5]){m->children[0].m, m->children[1].m, m->children[2].m, m->children[3].m,
                                         m->children[4].m};
    vkdl_tensor *t, *a, *r1, *h, *g, *o, *r2;
    /* Checked here so that the message names the block, not the layer norm inside it. */
    if (x->ndim != 3 || x->shape[2] != m->dim) {
        char b[VKDL_SHAPE_BUF];
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "transformer_block: x must be [B, T, %lld], not %s",
                         (long long)m->dim, vkdl_shape_str(x, b, sizeof b));
    }
    VKDL_TRY(vkdl_module_forward(c[0], x, &t));
    VKDL_TRY(vkdl_module_forward(c[1], t, &a));
    if (m->training && m->p > 0.0f)
        VKDL_TRY(vkdl_f_dropout(a, m->p, m->seed + 2 * m->calls, &a));
    VKDL_TRY(vkdl_f_binary(VKDL_ADD, x, a, &r1));
    VKDL_TRY(vkdl_module_forward(c[2], r1, &t));
    VKDL_TRY(vkdl_module_forward(c[3], t, &h));
    VKDL_TRY(vkdl_f_unary(VKDL_GELU_TANH, h, &g));
    VKDL_TRY(vkdl_module_forward(c[4], g, &o));
    if (m->training && m->p > 0.0f)
        VKDL_TRY(vkdl_f_dropout(o, m->p, m->seed + 2 * m->calls + 1, &o));
    if (m->training)
        m->calls++;
    VKDL_TRY(vkdl_f_binary(VKDL_ADD, r1, o, &r2));
    *y = r2;
    return VKDL_OK;
}
static const vkdl_module_ops block_ops = {"transformer_block", block_forward};

vkdl_status vkdl_transformer_block_create(vkdl_context *ctx, int64_t dim, int heads, int64_t hidden, int causal,
                                          float dropout, vkdl_module **m)
{
    VKDL_TRY(module_new(ctx, &block_ops, "transformer_block_create", m));
    if (hidden < 1 || !(dropout >= 0.0f && dropout < 1.0f))
        return module_abort(*m, m, vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "transformer_block_create: hidden %lld must be "
                                             "positive and dropout %g in [0, 1)", (long long)hidden, dropout));
    (*m)->p = dropout;
    (*m)->dim = dim;
    vkdl_module *c[5] = {0};
    vkdl_status s = vkdl_layernorm_create(ctx, dim, 1e-5f, &c[0]);
    if (s == VKDL_OK)
        s = vkdl_attention_create(ctx, dim, heads, causal, &c[1]);
    if (s == VKDL_OK)
        s = vkdl_layernorm_create(ctx, dim, 1e-5f, &c[2]);
    if (s == VKDL_OK)
        s = vkdl_linear_create(ctx, dim, hidden, 1, &c[3]);
    if (s == VKDL_OK)
        s = vkdl_linear_create(ctx, hidden, dim, 1, &c[4]);
    static const char *names[5] = {"ln1", "attn", "ln2", "fc1", "fc2"};
    for (int i = 0; i < 5; i++) {
        if (s == VKDL_OK)
            s = add_child(*m, names[i], c[i]);
        else
            vkdl_module_destroy(c[i]);
    }
    if (s != VKDL_OK)
        return module_abort(*m, m, s);
    return VKDL_OK;
}

static vkdl_status rnn_forward(vkdl_module *m, vkdl_tensor *x, vkdl_tensor **y)
{
    bool lstm = m->ops == &vkdl_lstm_ops;
    vkdl_param *p = m->params;
    if (x->ndim != 3) {
        char b[VKDL_SHAPE_BUF];
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: x must be [T, B, I], not %s", m->ops->type,
                         vkdl_shape_str(x, b, sizeof b));
    }
    vkdl_tensor *h0 = NULL, *c0 = NULL, *hn = NULL, *cn = NULL;
    if (m->stateful) {
        int64_t hs[2] = {x->shape[1], m->dim};
        if (!m->state[0] || m->state[0]->shape[0] != hs[0]) {
            /* A new batch size starts from zeros. */
            for (int i = 0; i < 2; i++) {
                vkdl_tensor_destroy(m->state[i]);
                m->state[i] = NULL;
            }
            for (int i = 0; i < (lstm ? 2 : 1); i++) {
                VKDL_TRY(vkdl_tensor_create(m->ctx, VKDL_F32, 2, hs, &m->state[i]));
                VKDL_TRY(vkdl_tensor_fill(m->state[i], 0.0));
            }
        }
        /* Backward reads h0/c0 after the copies below overwrite the state: give it snapshots. */
        VKDL_TRY(vkdl_f_scale(m->state[0], 1.0f, 0.0f, &h0));
        if (lstm)
            VKDL_TRY(vkdl_f_scale(m->state[1], 1.0f, 0.0f, &c0));
    }
    if (lstm)
        VKDL_TRY(vkdl_f_lstm(x, h0, c0, p[0].t, p[1].t, p[2].t, p[3].t, y, m->stateful ? &hn : NULL,
                             m->stateful ? &cn : NULL));
    else
        VKDL_TRY(vkdl_f_gru(x, h0, p[0].t, p[1].t, p[2].t, p[3].t, y, m->stateful ? &hn : NULL));
    if (m->stateful) {
        VKDL_TRY(vkdl_copy(hn, m->state[0]));
        if (lstm)
            VKDL_TRY(vkdl_copy(cn, m->state[1]));
    }
    return VKDL_OK;
}
const vkdl_module_ops vkdl_lstm_ops = {"lstm", rnn_forward};
const vkdl_module_ops vkdl_gru_ops = {"gru", rnn_forward};

static vkdl_status rnn_create(vkdl_context *ctx, bool lstm, int64_t in, int64_t hidden, vkdl_module **m)
{
    const char *op = lstm ? "lstm_create" : "gru_create";
    VKDL_TRY(module_new(ctx, lstm ? &vkdl_lstm_ops : &vkdl_gru_ops, op, m));
    if (in < 1 || hidden < 1)
        return module_abort(*m, m, vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: in %lld and hidden %lld must be positive",
                                             op, (long long)in, (long long)hidden));
    (*m)->dim = hidden;
    int64_t g = (lstm ? 4 : 3) * hidden;
    int64_t wih[2] = {g, in}, whh[2] = {g, hidden};
    /* PyTorch: every weight and bias uniform(+-1/sqrt(hidden)). */
    vkdl_status s = add_param(*m, "weight_ih_l0", 2, wih, VKDL_INIT_FAN_IN, (double)hidden, 0, false);
    if (s == VKDL_OK)
        s = add_param(*m, "weight_hh_l0", 2, whh, VKDL_INIT_FAN_IN, (double)hidden, 0, false);
    if (s == VKDL_OK)
        s = add_param(*m, "bias_ih_l0", 1, &g, VKDL_INIT_FAN_IN, (double)hidden, 0, false);
    if (s == VKDL_OK)
        s = add_param(*m, "bias_hh_l0", 1, &g, VKDL_INIT_FAN_IN, (double)hidden, 0, false);
    if (s == VKDL_OK)
        s = vkdl_module_init(*m, (*m)->seed);
    return s == VKDL_OK ? VKDL_OK : module_abort(*m, m, s);
}

vkdl_status vkdl_lstm_create(vkdl_context *ctx, int64_t in, int64_t hidden, vkdl_module **m)
{
    return rnn_create(ctx, true, in, hidden, m);
}

vkdl_status vkdl_gru_create(vkdl_context *ctx, int64_t in, int64_t hidden, vkdl_module **m)
{
    return rnn_create(ctx, false, in, hidden, m);
}

static vkdl_status dropout_forward(vkdl_module *m, vkdl_tensor *x, vkdl_tensor **y)
{
    if (!m->training || m->p == 0.0f)
        return vkdl_f_scale(x, 1.0f, 0.0f, y);
    /* A fresh mask per call: the seed walks with the call count. */
    return vkdl_f_dropout(x, m->p, m->seed + m->calls++, y);
}
static const vkdl_module_ops dropout_ops = {"dropout", dropout_forward};

vkdl_status vkdl_dropout_create(vkdl_context *ctx, float p, uint64_t seed, vkdl_module **m)
{
    VKDL_TRY(module_new(ctx, &dropout_ops, "dropout_create", m));
    if (!(p >= 0.0f && p < 1.0f))
        return module_abort(*m, m, vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "dropout_create: p %g not in [0, 1)", p));
    (*m)->p = p;
    (*m)->seed_base = seed;
    (*m)->seed = seed;
    (*m)->fixed_seed = true;
    return VKDL_OK;
}

static vkdl_status activation_forward(vkdl_module *m, vkdl_tensor *x, vkdl_tensor **y)
{
    return vkdl_f_unary(m->act, x, y);
}
static const vkdl_module_ops activation_ops = {"activation", activation_forward};

vkdl_status vkdl_activation_create(vkdl_context *ctx, vkdl_unary_op op, vkdl_module **m)
{
    VKDL_TRY(module_new(ctx, &activation_ops, "activation_create", m));
    if ((unsigned)op >= VKDL_UNARY_OP_COUNT)
        return module_abort(*m, m, vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "activation_create: bad op %d", (int)op));
    (*m)->act = op;
    return VKDL_OK;
}

static vkdl_status maxpool_forward(vkdl_module *m, vkdl_tensor *x, vkdl_tensor **y)
{
    vkdl_pool2d_info info = vkdl_pool2d_params_info(&m->pool);
    return vkdl_f_maxpool2d(x, &info, y);
}
static const vkdl_module_ops maxpool_ops = {"maxpool2d", maxpool_forward};

vkdl_status vkdl_maxpool2d_create(vkdl_context *ctx, const vkdl_pool2d_info *info, vkdl_module **m)
{
    static const vkdl_structure_type exts[] = {VKDL_STRUCTURE_TYPE_POOL2D_EXT_INFO};
    VKDL_TRY(info ? vkdl_check_chain("maxpool2d_create", info->next, exts, 1) : VKDL_OK);
    VKDL_TRY(module_new(ctx, &maxpool_ops, "maxpool2d_create", m));
    if (!info || info->kernel[0] < 1 || info->kernel[1] < 1)
        return module_abort(*m, m, vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "maxpool2d_create: need info with a positive kernel"));
    (*m)->pool = vkdl_pool2d_params_of(info);
    return VKDL_OK;
}

static vkdl_status flatten_forward(vkdl_module *m, vkdl_tensor *x, vkdl_tensor **y)
{
    int64_t s[2] = {x->ndim ? x->shape[0] : 1, -1};
    if (x->ndim && x->shape[0] == 0)
        s[1] = 0;
    return vkdl_f_reshape(x, 2, s, y);
}
static const vkdl_module_ops flatten_ops = {"flatten", flatten_forward};

vkdl_status vkdl_flatten_create(vkdl_context *ctx, vkdl_module **m)
{
    return module_new(ctx, &flatten_ops, "flatten_create", m);
}

static vkdl_status sequential_forward(vkdl_module *m, vkdl_tensor *x, vkdl_tensor **y)
{
    vkdl_tensor *h = x;
    for (int i = 0; i < m->n_children; i++)
        VKDL_TRY(vkdl_module_forward(m->children[i].m, h, &h));
    if (m->n_children == 0)
        return vkdl_f_scale(x, 1.0f, 0.0f, y);
    *y = h;
    return VKDL_OK;
}
static const vkdl_module_ops sequential_ops = {"sequential", sequential_forward};

vkdl_status vkdl_sequential_create(vkdl_context *ctx, int count, vkdl_module *const *children, vkdl_module **m)
{
    vkdl_status s = module_new(ctx, &sequential_ops, "sequential_create", m);
    if (s == VKDL_OK && (count < 0 || (count > 0 && !children)))
        s = vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "sequential_create: count %d with %s children", count,
                      children ? "these" : "NULL");
    for (int i = 0; s == VKDL_OK && i < count; i++)
        if (!children[i] || children[i]->ctx != ctx)
            s = vkdl_fail(children[i] ? VKDL_ERROR_CONTEXT_MISMATCH : VKDL_ERROR_INVALID_ARGUMENT,
                          "sequential_create: child %d is %s", i, children[i] ? "from another context" : "NULL");
    int i = 0;
    for (; s == VKDL_OK && i < count; i++) {
        char name[16];
        snprintf(name, sizeof name, "%d", i);
        s = add_child(*m, name, children[i]);
    }
    if (s != VKDL_OK) {
        /* Ownership was promised even on failure. */
        for (; children && i < count; i++)
            vkdl_module_destroy(children[i]);
        /* m itself may be the NULL that made module_new fail. */
        if (m && *m)
            return module_abort(*m, m, s);
        return s;
    }
    return VKDL_OK;
}
