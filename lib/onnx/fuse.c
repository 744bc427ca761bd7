/* Rewrites a plan applies while it is made, where the nodes they read are already planned:
 * - Conv followed by an inference BatchNormalization, both with constant parameters, becomes one
 *   Conv with the normalisation folded into its weights and bias;
 * - Conv followed by an activation becomes one Conv whose kernel applies it as it stores each
 *   element (vkdl_conv2d_epilogue_info), told by three attributes the Conv reads: vkdl.act (a
 *   vkdl_unary_op), vkdl.act_alpha, vkdl.act_beta;
 * - x * Clip(x + 3, 0, 6) / 6 (hard-swish as exporters write it out) becomes one HardSwish step;
 * - MatMul followed by the Add of a constant bias [N], and then an activation with its default
 *   parameters, becomes one MatMul whose epilogue adds and applies them;
 * - layer normalisation written out over the last axis (ReduceMean, Sub, Pow 2, ReduceMean, Add
 *   eps, Sqrt, Div, then optionally Mul by a scale and Add a bias) becomes one LayerNormalization.
 * An intermediate value may be dropped only when nothing else reads it (p->uses). */
#include "onnx/plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The only node reading value v, if exactly one does (and v is no graph output); else -1. */
static int sole_reader(const vkdl_onnx_plan *p, int v)
{
    if (v < 0 || p->uses[v] != 1)
        return -1;
    const vkdl_onnx_model *m = p->m;
    for (int n = 0; n < m->n_nodes; n++)
        for (int i = 0; i < m->nodes[n].n_in && !p->fused[n]; i++)
            if (m->nodes[n].in[i] == v)
                return n;
    return -1;
}

static const onnx_host *host_of(const vkdl_onnx_plan *p, int v)
{
    return v >= 0 && p->v[v].kind == PV_HOST ? &p->v[v].host : NULL;
}

/* A host scalar (any rank, one element) equal to want. */
static bool host_is(const vkdl_onnx_plan *p, int v, double want)
{
    const onnx_host *h = host_of(p, v);
    return h && h->numel == 1 && onnx_dtype_is_float(h->dtype) && onnx_get_f(h, 0) == want;
}

/* The other input of binary node n, given one; -1 if neither is `one`. */
static int other_in(const onnx_node *n, int one)
{
    return n->n_in != 2 ? -1 : n->in[0] == one ? n->in[1] : n->in[1] == one ? n->in[0] : -1;
}

static const onnx_attr *attr(const onnx_node *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (!strcmp(n->attrs[i].name, name))
            return &n->attrs[i];
    return NULL;
}

/* A synthetic node of op type over value lists; attrs are borrowed from a model node. */
static vkdl_status synth(vkdl_onnx_plan *p, const char *type, const char *name, const onnx_node *attrs_of, int n_in,
                         const int *in, int n_out, const int *out, const onnx_node **result)
{
    onnx_node *s = &p->synth[p->n_synth];
    memset(s, 0, sizeof *s);
    s->op_type = (char *)type;
    s->op = onnx_op_find(type);
    s->name = strdup(name);
    s->in = malloc((size_t)n_in * sizeof *s->in);
    s->out = malloc((size_t)n_out * sizeof *s->out);
    if (!s->name || !s->in || !s->out) {
        free(s->name);
        free(s->in);
        free(s->out);
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "onnx: out of host memory");
    }
    memcpy(s->in, in, (size_t)n_in * sizeof *in);
    memcpy(s->out, out, (size_t)n_out * sizeof *out);
    s->n_in = n_in;
    s->n_out = n_out;
    /* The attribute structs are the model node's (borrowed), in an array of the plan's own with room
     * for the epilogue's three. */
    int n_attrs = attrs_of ? attrs_of->n_attrs : 0;
    if (!(s->attrs = calloc((size_t)n_attrs + 3, sizeof *s->attrs))) {
        free(s->name);
        free(s->in);
        free(s->out);
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "onnx: out of host memory");
    }
    if (n_attrs)
        memcpy(s->attrs, attrs_of->attrs, (size_t)n_attrs * sizeof *s->attrs);
    s->n_attrs = n_attrs;
    p->n_synth++;
    *result = s;
    return VKDL_OK;
}

/* ---------------------------------------------------------------- Conv + BatchNormalization */

static vkdl_status conv_bn(vkdl_onnx_plan *p, int n, const onnx_node **out)
{
    const vkdl_onnx_model *m = p->m;
    const onnx_node *conv = &m->nodes[n];
    if (conv->n_in < 2 || conv->n_out != 1 || conv->out[0] < 0)
        return VKDL_OK;
    const onnx_host *w = host_of(p, conv->in[1]), *b = conv->n_in > 2 ? host_of(p, conv->in[2]) : NULL;
    if (!w || w->dtype != VKDL_F32 || w->ndim < 3 || (conv->n_in > 2 && conv->in[2] >= 0 && !b))
        return VKDL_OK;
    int k = sole_reader(p, conv->out[0]);
    if (k < 0)
        return VKDL_OK;
    const onnx_node *bn = &m->nodes[k];
    if (strcmp(bn->op_type, "BatchNormalization") || bn->n_in != 5 || bn->in[0] != conv->out[0] || bn->out[0] < 0)
        return VKDL_OK;
    for (int i = 1; i < bn->n_out; i++)
        if (bn->out[i] >= 0)
            return VKDL_OK;                              /* training outputs: not an inference BN */
    const onnx_attr *tm = attr(bn, "training_mode");
    if (tm && tm->i)
        return VKDL_OK;
    int64_t O = w->dims[0];
    const onnx_host *prm[4];
    for (int i = 0; i < 4; i++) {
        prm[i] = host_of(p, bn->in[i + 1]);
        if (!prm[i] || prm[i]->numel != O || !onnx_dtype_is_float(prm[i]->dtype))
            return VKDL_OK;
    }
    if (b && (b->numel != O || b->dtype != VKDL_F32))
        return VKDL_OK;
    const onnx_attr *ea = attr(bn, "epsilon");
    double eps = ea && ea->type == ONNX_ATTR_FLOAT ? ea->f : 1e-5;
    onnx_host w2, b2;
    VKDL_TRY(onnx_host_copy(&w2, w));
    int64_t per = w->numel / (O ? O : 1);
    if (onnx_host_alloc(&b2, VKDL_F32, 1, &O) != VKDL_OK) {
        onnx_host_free(&w2);
        return VKDL_ERROR_OUT_OF_HOST_MEMORY;
    }
    for (int64_t o = 0; o < O; o++) {
        /* In double, then rounded once: the folded layer differs from the two by f32 rounding only. */
        double sc = onnx_get_f(prm[0], o) / sqrt(onnx_get_f(prm[3], o) + eps);
        for (int64_t i = 0; i < per; i++)
            ((float *)w2.data)[o * per + i] = (float)(((const float *)w->data)[o * per + i] * sc);
        double bias = b ? ((const float *)b->data)[o] : 0;
        ((float *)b2.data)[o] = (float)((bias - onnx_get_f(prm[2], o)) * sc + onnx_get_f(prm[1], o));
    }
    char name[512];
    snprintf(name, sizeof name, "%s+%s", plan_value_name(p, conv->in[1]), bn->name);
    int wv = plan_value_add(p, name, &w2);
    snprintf(name, sizeof name, "%s+%s(bias)", conv->name, bn->name);
    int bv = wv < 0 ? -1 : plan_value_add(p, name, &b2);
    if (bv < 0) {
        onnx_host_free(&w2);
        onnx_host_free(&b2);
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "onnx: out of host memory");
    }
    snprintf(name, sizeof name, "%s+%s", conv->name, bn->name);
    int in[3] = {conv->in[0], wv, bv};
    VKDL_TRY(synth(p, "Conv", name, conv, 3, in, 1, &bn->out[0], out));
    p->fused[n] = p->fused[k] = true;
    return VKDL_OK;
}


/* ---------------------------------------------------------------- Conv + activation */

/* The activation node k computes, as a vkdl_unary_op with its parameters; false if it is none
 * the epilogue takes (or its parameters are not known now). */
static bool activation_of(const vkdl_onnx_plan *p, const onnx_node *k, vkdl_unary_op *op, float *alpha, float *beta)
{
    const char *t = k->op_type;
    const onnx_attr *a = attr(k, "alpha"), *b = attr(k, "beta"), *g = attr(k, "gamma");
    static const struct { const char *type; vkdl_unary_op op; float alpha, beta; } plain[] = {
        {"Relu", VKDL_RELU, 0, 0}, {"Sigmoid", VKDL_SIGMOID, 0, 0}, {"Tanh", VKDL_TANH, 0, 0},
        {"HardSwish", VKDL_HARDSWISH, 0, 0}, {"Softplus", VKDL_SOFTPLUS, 0, 0}, {"LeakyRelu", VKDL_LEAKY_RELU, 0.01f, 0},
        {"HardSigmoid", VKDL_HARDSIGMOID, 0.2f, 0.5f}, {"Elu", VKDL_ELU, 1, 0},
        {"Selu", VKDL_SELU, 1.67326319217681884765625f, 1.05070102214813232421875f},
    };
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++)
        if (!strcmp(t, plain[i].type)) {
            *op = plain[i].op;
            *alpha = a && a->type == ONNX_ATTR_FLOAT ? a->f : plain[i].alpha;
            *beta = plain[i].op == VKDL_SELU ? (g && g->type == ONNX_ATTR_FLOAT ? g->f : plain[i].beta)
                                             : b && b->type == ONNX_ATTR_FLOAT ? b->f : plain[i].beta;
            return k->n_in == 1;
        }
    if (!strcmp(t, "Clip")) {
        *op = VKDL_CLIP;
        if (p->m->opset < 11) {
            const onnx_attr *lo = attr(k, "min"), *hi = attr(k, "max");
            *alpha = lo ? lo->f : -INFINITY;
            *beta = hi ? hi->f : INFINITY;
            return true;
        }
        const onnx_host *lo = k->n_in > 1 ? host_of(p, k->in[1]) : NULL, *hi = k->n_in > 2 ? host_of(p, k->in[2]) : NULL;
        if ((k->n_in > 1 && k->in[1] >= 0 && (!lo || lo->numel != 1)) ||
            (k->n_in > 2 && k->in[2] >= 0 && (!hi || hi->numel != 1)))
            return false;
        *alpha = lo ? (float)onnx_get_f(lo, 0) : -INFINITY;
        *beta = hi ? (float)onnx_get_f(hi, 0) : INFINITY;
        return true;
    }
    return false;
}

/* conv (a model node or one fusion made) whose only reader is an activation: one Conv with it as
 * the epilogue. */
static vkdl_status conv_act(vkdl_onnx_plan *p, int n, const onnx_node *conv, const onnx_node **out)
{
    const vkdl_onnx_model *m = p->m;
    if (conv->n_out != 1 || conv->out[0] < 0 || conv->out[0] >= m->n_values || conv->in[0] < 0 ||
        p->v[conv->in[0]].ndim < 3 || p->v[conv->in[0]].ndim > 4)
        return VKDL_OK;                                  /* the 3-D convolution has no epilogue */
    int k = sole_reader(p, conv->out[0]);
    vkdl_unary_op op;
    float alpha, beta;
    if (k < 0 || m->nodes[k].in[0] != conv->out[0] || m->nodes[k].out[0] < 0 ||
        !activation_of(p, &m->nodes[k], &op, &alpha, &beta))
        return VKDL_OK;
    const onnx_node *act = &m->nodes[k];
    char name[512];
    snprintf(name, sizeof name, "%s+%s", conv->name, act->name);
    onnx_node *s;
    if (conv >= p->synth && conv < p->synth + p->n_synth) {
        s = (onnx_node *)conv;                           /* extend the node fusion already made */
        char *nn = strdup(name);
        if (!nn)
            return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "onnx: out of host memory");
        free(s->name);
        s->name = nn;
        s->out[0] = act->out[0];
    } else {
        const onnx_node *made;
        VKDL_TRY(synth(p, "Conv", name, conv, conv->n_in, conv->in, 1, &act->out[0], &made));
        s = (onnx_node *)made;
    }
    static const char *names[3] = {"vkdl.act", "vkdl.act_alpha", "vkdl.act_beta"};
    for (int i = 0; i < 3; i++) {
        onnx_attr *at = &s->attrs[s->n_attrs++];
        memset(at, 0, sizeof *at);
        at->name = (char *)names[i];
        at->type = i ? ONNX_ATTR_FLOAT : ONNX_ATTR_INT;
        at->i = op;
        at->f = i == 1 ? alpha : beta;
    }
    p->fused[n] = p->fused[k] = true;
    *out = s;
    return VKDL_OK;
}

/* ---------------------------------------------------------------- hard-swish written out */

static vkdl_status hardswish_device(onnx_exec *e)
{
    if (!e->run)
        return onnx_out_set(e, 0, VKDL_F32, onnx_in_ndim(e, 0), onnx_in_dims(e, 0));
    vkdl_tensor *x;
    VKDL_TRY(onnx_in(e, 0, &x));
    return vkdl_unary(VKDL_HARDSWISH, x, onnx_out(e, 0));
}

static const onnx_op HARDSWISH = {"HardSwish (fused)", NULL, hardswish_device};

/* Clip to [0, 6], by attributes (opset < 11) or constant inputs. */
static bool clip_0_6(const vkdl_onnx_plan *p, const onnx_node *c)
{
    if (p->m->opset < 11) {
        const onnx_attr *lo = attr(c, "min"), *hi = attr(c, "max");
        return lo && hi && lo->f == 0 && hi->f == 6;
    }
    return c->n_in == 3 && host_is(p, c->in[1], 0) && host_is(p, c->in[2], 6);
}

static vkdl_status hardswish(vkdl_onnx_plan *p, int n, const onnx_node **out)
{
    const vkdl_onnx_model *m = p->m;
    const onnx_node *add = &m->nodes[n];
    if (add->n_in != 2 || add->out[0] < 0)
        return VKDL_OK;
    int x = host_is(p, add->in[1], 3) ? add->in[0] : host_is(p, add->in[0], 3) ? add->in[1] : -1;
    if (x < 0 || p->v[x].kind != PV_DEVICE || p->v[x].dtype != VKDL_F32)
        return VKDL_OK;
    int ci = sole_reader(p, add->out[0]);
    if (ci < 0 || strcmp(m->nodes[ci].op_type, "Clip") || m->nodes[ci].in[0] != add->out[0] ||
        !clip_0_6(p, &m->nodes[ci]))
        return VKDL_OK;
    const onnx_node *clip = &m->nodes[ci];
    int mi = sole_reader(p, clip->out[0]);
    if (mi < 0 || strcmp(m->nodes[mi].op_type, "Mul") || m->nodes[mi].n_in != 2)
        return VKDL_OK;
    const onnx_node *mul = &m->nodes[mi];
    if (!((mul->in[0] == x && mul->in[1] == clip->out[0]) || (mul->in[1] == x && mul->in[0] == clip->out[0])))
        return VKDL_OK;
    int di = sole_reader(p, mul->out[0]);
    if (di < 0)
        return VKDL_OK;
    const onnx_node *div = &m->nodes[di];
    bool by6 = !strcmp(div->op_type, "Div") && div->n_in == 2 && div->in[0] == mul->out[0] && host_is(p, div->in[1], 6);
    if (!by6 || div->out[0] < 0)
        return VKDL_OK;
    char name[512];
    snprintf(name, sizeof name, "%s..%s (hard-swish)", add->name, div->name);
    VKDL_TRY(synth(p, "HardSwish", name, NULL, 1, &x, 1, &div->out[0], out));
    ((onnx_node *)*out)->op = &HARDSWISH;
    p->fused[n] = p->fused[ci] = p->fused[mi] = p->fused[di] = true;
    return VKDL_OK;
}



/* ---------------------------------------------------------------- MatMul + bias (+ activation) */

static vkdl_status matmul_bias(vkdl_onnx_plan *p, int n, const onnx_node **out)
{
    const vkdl_onnx_model *m = p->m;
    const onnx_node *mm = &m->nodes[n];
    if (mm->n_in != 2 || mm->out[0] < 0 || mm->in[0] < 0 || mm->in[1] < 0 || p->v[mm->in[0]].dtype != VKDL_F32 ||
        p->v[mm->in[1]].ndim < 2)
        return VKDL_OK;                                  /* a 1-D b drops the last dim: no bias rows */
    int64_t N = p->v[mm->in[1]].dims[p->v[mm->in[1]].ndim - 1];
    int k = sole_reader(p, mm->out[0]);
    if (k < 0 || strcmp(m->nodes[k].op_type, "Add"))
        return VKDL_OK;
    int bv = other_in(&m->nodes[k], mm->out[0]);
    const onnx_host *bh = host_of(p, bv);
    if (!bh || bh->dtype != VKDL_F32 || bh->ndim != 1 || bh->numel != N || m->nodes[k].out[0] < 0)
        return VKDL_OK;
    int y = m->nodes[k].out[0];
    char name[512];
    snprintf(name, sizeof name, "%s+%s", mm->name, m->nodes[k].name);
    int in[3] = {mm->in[0], mm->in[1], bv};
    const onnx_node *made;
    VKDL_TRY(synth(p, "MatMul", name, NULL, 3, in, 1, &y, &made));
    p->fused[n] = p->fused[k] = true;
    *out = made;
    /* An activation after it, if vkdl_matmul's epilogue can take it: its parameters the defaults. */
    int ai = sole_reader(p, y);
    vkdl_unary_op op;
    float alpha, beta, da, db;
    if (ai < 0 || m->nodes[ai].in[0] != y || m->nodes[ai].out[0] < 0 ||
        !activation_of(p, &m->nodes[ai], &op, &alpha, &beta))
        return VKDL_OK;
    vkdl_unary_defaults(op, &da, &db);
    if (alpha != da || beta != db)
        return VKDL_OK;
    onnx_node *s = (onnx_node *)made;
    s->out[0] = m->nodes[ai].out[0];
    onnx_attr *a = &s->attrs[s->n_attrs++];
    memset(a, 0, sizeof *a);
    a->name = "vkdl.act";
    a->type = ONNX_ATTR_INT;
    a->i = op;
    p->fused[ai] = true;
    return VKDL_OK;
}

/* ---------------------------------------------------------------- layer normalisation written out */

/* node reduces only the last axis of a rank-r input and keeps it. */
static bool mean_last(const vkdl_onnx_plan *p, const onnx_node *n, int rank)
{
    if (strcmp(n->op_type, "ReduceMean") || n->out[0] < 0)
        return false;
    const onnx_attr *kd = attr(n, "keepdims"), *ax = attr(n, "axes");
    if (kd && kd->i == 0)
        return false;
    if (ax && ax->type == ONNX_ATTR_INTS)
        return ax->n == 1 && (ax->ints[0] == -1 || ax->ints[0] == rank - 1) && n->n_in == 1;
    const onnx_host *h = n->n_in > 1 ? host_of(p, n->in[1]) : NULL;   /* opset 18: axes as an input */
    return h && h->numel == 1 && (onnx_get_i(h, 0) == -1 || onnx_get_i(h, 0) == rank - 1);
}


static vkdl_status layernorm(vkdl_onnx_plan *p, int n, const onnx_node **out)
{
    const vkdl_onnx_model *m = p->m;
    const onnx_node *mean = &m->nodes[n];
    int x = mean->in[0];
    if (x < 0 || p->v[x].kind != PV_DEVICE || p->v[x].dtype != VKDL_F32 || p->v[x].ndim < 1 ||
        !mean_last(p, mean, p->v[x].ndim))
        return VKDL_OK;
    int64_t D = p->v[x].dims[p->v[x].ndim - 1];
    int k[12], nk = 0;                                   /* the absorbed nodes (at most 9), mean first */
    k[nk++] = n;
    int si = sole_reader(p, mean->out[0]);
    if (si < 0 || strcmp(m->nodes[si].op_type, "Sub") || m->nodes[si].in[0] != x || m->nodes[si].in[1] != mean->out[0])
        return VKDL_OK;
    int d = m->nodes[si].out[0];
    k[nk++] = si;
    /* d is read by the Pow and by the Div, and by nothing else. */
    if (d < 0 || p->uses[d] != 2)
        return VKDL_OK;
    int pw = -1, dv = -1;
    for (int j = 0; j < m->n_nodes; j++) {
        if (p->fused[j])
            continue;
        for (int i = 0; i < m->nodes[j].n_in; i++)
            if (m->nodes[j].in[i] == d) {
                if (!strcmp(m->nodes[j].op_type, "Pow") && i == 0 && host_is(p, m->nodes[j].in[1], 2))
                    pw = j;
                else if (!strcmp(m->nodes[j].op_type, "Div") && i == 0)
                    dv = j;
            }
    }
    if (pw < 0 || dv < 0)
        return VKDL_OK;
    k[nk++] = pw;
    int var = sole_reader(p, m->nodes[pw].out[0]);
    if (var < 0 || !mean_last(p, &m->nodes[var], p->v[x].ndim) || m->nodes[var].in[0] != m->nodes[pw].out[0])
        return VKDL_OK;
    k[nk++] = var;
    int ad = sole_reader(p, m->nodes[var].out[0]);
    int epsv = ad < 0 || strcmp(m->nodes[ad].op_type, "Add") ? -1 : other_in(&m->nodes[ad], m->nodes[var].out[0]);
    const onnx_host *eps = host_of(p, epsv);
    if (!eps || eps->numel != 1 || !onnx_dtype_is_float(eps->dtype))
        return VKDL_OK;
    k[nk++] = ad;
    int sq = sole_reader(p, m->nodes[ad].out[0]);
    if (sq < 0 || strcmp(m->nodes[sq].op_type, "Sqrt") || sole_reader(p, m->nodes[sq].out[0]) != dv ||
        m->nodes[dv].in[1] != m->nodes[sq].out[0])
        return VKDL_OK;
    k[nk++] = sq;
    k[nk++] = dv;
    int y = m->nodes[dv].out[0], scale = -1, bias = -1;
    /* An affine part: Mul by a constant [D], then Add a constant [D]. */
    int mu = sole_reader(p, y);
    if (mu >= 0 && !strcmp(m->nodes[mu].op_type, "Mul")) {
        int g = other_in(&m->nodes[mu], y);
        const onnx_host *gh = host_of(p, g);
        if (gh && gh->dtype == VKDL_F32 && gh->ndim == 1 && gh->numel == D) {
            scale = g;
            k[nk++] = mu;
            y = m->nodes[mu].out[0];
            int ab = sole_reader(p, y);
            if (ab >= 0 && !strcmp(m->nodes[ab].op_type, "Add")) {
                int b = other_in(&m->nodes[ab], y);
                const onnx_host *bh = host_of(p, b);
                if (bh && bh->dtype == VKDL_F32 && bh->ndim == 1 && bh->numel == D) {
                    bias = b;
                    k[nk++] = ab;
                    y = m->nodes[ab].out[0];
                }
            }
        }
    }
    if (y < 0)
        return VKDL_OK;
    if (scale < 0) {                                     /* LayerNormalization needs a Scale: ones */
        onnx_host ones;
        VKDL_TRY(onnx_host_alloc(&ones, VKDL_F32, 1, &D));
        for (int64_t i = 0; i < D; i++)
            ((float *)ones.data)[i] = 1;
        char name[300];
        snprintf(name, sizeof name, "%s (unit scale)", mean->name);
        if ((scale = plan_value_add(p, name, &ones)) < 0)
            return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "onnx: out of host memory");
    }
    char name[512];
    snprintf(name, sizeof name, "%s..%s (layer norm)", mean->name, m->nodes[k[nk - 1]].name);
    int in[3] = {x, scale, bias};
    const onnx_node *made;
    VKDL_TRY(synth(p, "LayerNormalization", name, NULL, bias >= 0 ? 3 : 2, in, 1, &y, &made));
    onnx_node *s = (onnx_node *)made;
    onnx_attr *a = &s->attrs[s->n_attrs++];
    memset(a, 0, sizeof *a);
    a->name = "axis";
    a->type = ONNX_ATTR_INT;
    a->i = -1;
    a = &s->attrs[s->n_attrs++];
    memset(a, 0, sizeof *a);
    a->name = "epsilon";
    a->type = ONNX_ATTR_FLOAT;
    a->f = (float)onnx_get_f(eps, 0);
    for (int i = 0; i < nk; i++)
        p->fused[k[i]] = true;
    *out = s;
    return VKDL_OK;
}

vkdl_status plan_fuse(vkdl_onnx_plan *p, int n, const onnx_node **out)
{
    *out = NULL;
    const char *type = p->m->nodes[n].op_type;
    if (!strcmp(type, "Conv")) {
        VKDL_TRY(conv_bn(p, n, out));
        return conv_act(p, n, *out ? *out : &p->m->nodes[n], out);
    }
    if (!strcmp(type, "Add"))
        return hardswish(p, n, out);
    if (!strcmp(type, "ReduceMean"))
        return layernorm(p, n, out);
    if (!strcmp(type, "MatMul"))
        return matmul_bias(p, n, out);
    return VKDL_OK;
}
