/* ONNX's network layers: Conv, MatMul, Gemm, pooling, BatchNormalization, Softmax. Each maps onto
 * vkdl's kernels; 1-D convolutions and pools run as 2-D ones of height 1. */
#include "onnx/onnx.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- windows (Conv, pools) */

/* A 1-D or 2-D window op's geometry, from its attributes and the input's spatial size. */
typedef struct window {
    int nsp;                        /* spatial dims in the ONNX tensor: 1 or 2 */
    int64_t in[2], k[2], out[2];    /* 2-D: (h, w); 1-D runs as h = 1 */
    int stride[2], dil[2], pad_begin[2], pad_end[2];
} window;

static vkdl_status window_of(onnx_exec *e, const int64_t *spatial, int nsp, const int64_t *kernel, bool ceil_mode,
                             window *w)
{
    if (nsp < 1 || nsp > 2)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "%d spatial dims (1 or 2 are supported)", nsp);
    memset(w, 0, sizeof *w);
    w->nsp = nsp;
    const int64_t *strides, *dils, *pads;
    int ns = onnx_attr_ints(e, "strides", &strides), nd = onnx_attr_ints(e, "dilations", &dils),
        np = onnx_attr_ints(e, "pads", &pads);
    if ((ns >= 0 && ns != nsp) || (nd >= 0 && nd != nsp) || (np >= 0 && np != 2 * nsp))
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "strides, dilations or pads do not match %d spatial dims",
                         nsp);
    const char *auto_pad = onnx_attr_str(e, "auto_pad", "NOTSET");
    for (int d = 0; d < 2; d++) {
        int src = d - (2 - nsp);                         /* 1-D: only w comes from the attributes */
        w->in[d] = src >= 0 ? spatial[src] : 1;
        w->k[d] = src >= 0 ? kernel[src] : 1;
        int64_t s = src >= 0 && ns >= 0 ? strides[src] : 1, dl = src >= 0 && nd >= 0 ? dils[src] : 1;
        int64_t pb = src >= 0 && np >= 0 ? pads[src] : 0, pe = src >= 0 && np >= 0 ? pads[src + nsp] : 0;
        if (s < 1 || dl < 1 || pb < 0 || pe < 0 || w->k[d] < 1 || s > INT32_MAX || dl > INT32_MAX || pb > INT32_MAX ||
            pe > INT32_MAX || w->k[d] > INT32_MAX)
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "kernel %lld, stride %lld, dilation %lld, pads %lld/%lld",
                             (long long)w->k[d], (long long)s, (long long)dl, (long long)pb, (long long)pe);
        int64_t span = (w->k[d] - 1) * dl + 1;
        if (!strcmp(auto_pad, "SAME_UPPER") || !strcmp(auto_pad, "SAME_LOWER")) {
            int64_t o = (w->in[d] + s - 1) / s, total = (o - 1) * s + span - w->in[d];
            total = total > 0 ? total : 0;
            pb = !strcmp(auto_pad, "SAME_UPPER") ? total / 2 : total - total / 2;
            pe = total - pb;
        } else if (!strcmp(auto_pad, "VALID")) {
            pb = pe = 0;
        } else if (strcmp(auto_pad, "NOTSET")) {
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "auto_pad '%s'", auto_pad);
        }
        int64_t room = w->in[d] + pb + pe - span;
        if (room < 0)
            return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "the window (%lld) is larger than the padded input (%lld)",
                             (long long)span, (long long)(w->in[d] + pb + pe));
        w->out[d] = (ceil_mode ? (room + s - 1) / s : room / s) + 1;
        if (ceil_mode && (w->out[d] - 1) * s >= w->in[d] + pb)
            w->out[d]--;                                 /* a window may not start in the end padding */
        w->stride[d] = (int)s;
        w->dil[d] = (int)dl;
        w->pad_begin[d] = (int)pb;
        w->pad_end[d] = (int)pe;
    }
    return VKDL_OK;
}

static bool window_symmetric(const window *w)
{
    return w->pad_begin[0] == w->pad_end[0] && w->pad_begin[1] == w->pad_end[1];
}

/* x [N, C, spatial...] as the 4-D tensor the kernels take. */
static vkdl_status as_4d(onnx_exec *e, vkdl_tensor *t, int nsp, const int64_t *dims2, vkdl_tensor **out)
{
    if (nsp == 2) {
        *out = t;
        return VKDL_OK;
    }
    int64_t d[4] = {vkdl_tensor_dim(t, 0), vkdl_tensor_dim(t, 1), dims2[0], dims2[1]};
    return onnx_reshape(e, t, 4, d, out);
}

/* ---------------------------------------------------------------- Conv */

static vkdl_status conv_device(onnx_exec *e)
{
    int rank = onnx_in_ndim(e, 0);
    const int64_t *x = onnx_in_dims(e, 0), *wd = onnx_in_dims(e, 1);
    if (onnx_in_dtype(e, 0) != VKDL_F32 || onnx_in_dtype(e, 1) != VKDL_F32)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "only float convolutions");
    if (rank < 3 || onnx_in_ndim(e, 1) != rank)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "input rank %d, weight rank %d", rank, onnx_in_ndim(e, 1));
    int nsp = rank - 2;
    int64_t group = onnx_attr_int(e, "group", 1);
    if (group < 1 || x[1] % group || wd[0] % group || wd[1] * group != x[1])
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "group %lld, %lld input channels, weight %lldx%lld...",
                         (long long)group, (long long)x[1], (long long)wd[0], (long long)wd[1]);
    window w;
    VKDL_TRY(window_of(e, x + 2, nsp, wd + 2, false, &w));
    if (!window_symmetric(&w))
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "asymmetric padding");
    bool bias = onnx_has_in(e, 2);
    if (bias && (onnx_in_ndim(e, 2) != 1 || onnx_in_dims(e, 2)[0] != wd[0]))
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "bias must be [%lld]", (long long)wd[0]);
    int64_t od[4] = {x[0], wd[0], w.out[0], w.out[1]};
    if (!e->run)
        VKDL_TRY(onnx_out_set(e, 0, VKDL_F32, rank, nsp == 2 ? od : (int64_t[]){x[0], wd[0], w.out[1]}));
    vkdl_tensor *xt = NULL, *wt = NULL, *bt = NULL, *x4, *w4, *o4;
    if (e->run) {
        VKDL_TRY(onnx_in(e, 0, &xt));
        VKDL_TRY(onnx_in(e, 1, &wt));
        if (bias)
            VKDL_TRY(onnx_in(e, 2, &bt));
    }
    VKDL_TRY(as_4d(e, xt, nsp, w.in, &x4));
    VKDL_TRY(as_4d(e, wt, nsp, w.k, &w4));
    VKDL_TRY(as_4d(e, onnx_out(e, 0), nsp, w.out, &o4));
    if (!e->run)
        return VKDL_OK;
    vkdl_conv2d_info info = {.stride = {w.stride[0], w.stride[1]}, .padding = {w.pad_begin[0], w.pad_begin[1]},
                             .dilation = {w.dil[0], w.dil[1]}, .groups = (int)group};
    return vkdl_conv2d(x4, w4, bt, o4, &info);
}

/* ---------------------------------------------------------------- pools */

static vkdl_status pool_device(onnx_exec *e)
{
    bool max = !strcmp(e->node->op_type, "MaxPool");
    int rank = onnx_in_ndim(e, 0);
    const int64_t *x = onnx_in_dims(e, 0);
    if (onnx_in_dtype(e, 0) != VKDL_F32)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "only float pooling");
    if (rank < 3)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "input rank %d", rank);
    if (onnx_has_out(e, 1))
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "the Indices output");
    const int64_t *kernel;
    int nk = onnx_attr_ints(e, "kernel_shape", &kernel);
    if (nk != rank - 2)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "kernel_shape has %d entries for %d spatial dims", nk,
                         rank - 2);
    window w;
    VKDL_TRY(window_of(e, x + 2, rank - 2, kernel, onnx_attr_int(e, "ceil_mode", 0) != 0, &w));
    if (!window_symmetric(&w) || w.dil[0] != 1 || w.dil[1] != 1 || onnx_attr_int(e, "ceil_mode", 0) ||
        2 * w.pad_begin[0] > w.k[0] || 2 * w.pad_begin[1] > w.k[1])
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "asymmetric padding, padding wider than half the window, "
                         "dilation or ceil_mode");
    int64_t od[4] = {x[0], x[1], w.out[0], w.out[1]};
    if (!e->run)
        VKDL_TRY(onnx_out_set(e, 0, VKDL_F32, rank, rank == 4 ? od : (int64_t[]){x[0], x[1], w.out[1]}));
    vkdl_tensor *xt = NULL, *x4, *o4;
    if (e->run)
        VKDL_TRY(onnx_in(e, 0, &xt));
    VKDL_TRY(as_4d(e, xt, rank - 2, w.in, &x4));
    VKDL_TRY(as_4d(e, onnx_out(e, 0), rank - 2, w.out, &o4));
    if (!e->run)
        return VKDL_OK;
    vkdl_pool2d_info info = {.kernel = {(int)w.k[0], (int)w.k[1]}, .stride = {w.stride[0], w.stride[1]},
                             .padding = {w.pad_begin[0], w.pad_begin[1]},
                             .count_include_pad = (int)onnx_attr_int(e, "count_include_pad", 0)};
    return max ? vkdl_maxpool2d(x4, o4, NULL, &info) : vkdl_avgpool2d(x4, o4, &info);
}

static vkdl_status global_pool_device(onnx_exec *e)
{
    int rank = onnx_in_ndim(e, 0);
    const int64_t *x = onnx_in_dims(e, 0);
    if (onnx_in_dtype(e, 0) != VKDL_F32 || rank < 3 || rank > 4)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "float input of rank 3 or 4");
    int64_t od[4] = {x[0], x[1], 1, 1};
    if (!e->run)
        VKDL_TRY(onnx_out_set(e, 0, VKDL_F32, rank, od));
    vkdl_tensor *xt = NULL, *x4, *o4;
    if (e->run)
        VKDL_TRY(onnx_in(e, 0, &xt));
    int64_t in2[2] = {rank == 4 ? x[2] : 1, x[rank - 1]}, one[2] = {1, 1};
    VKDL_TRY(as_4d(e, xt, rank - 2, in2, &x4));
    VKDL_TRY(as_4d(e, onnx_out(e, 0), rank - 2, one, &o4));
    return e->run ? vkdl_global_avgpool2d(x4, o4) : VKDL_OK;
}

/* ---------------------------------------------------------------- BatchNormalization */

static vkdl_status batchnorm_device(onnx_exec *e)
{
    int rank = onnx_in_ndim(e, 0);
    const int64_t *x = onnx_in_dims(e, 0);
    if (onnx_in_dtype(e, 0) != VKDL_F32 || rank < 2)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "float input of rank >= 2");
    if (onnx_attr_int(e, "training_mode", 0) || onnx_has_out(e, 1))
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "training mode (inference only)");
    for (int i = 1; i < 5; i++)
        if (onnx_in_ndim(e, i) != 1 || onnx_in_dims(e, i)[0] != x[1])
            return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "scale, B, mean and var must be [%lld]", (long long)x[1]);
    if (!e->run)
        VKDL_TRY(onnx_out_set(e, 0, VKDL_F32, rank, x));
    /* vkdl_batchnorm takes [N, C, H, W] or [N, C]: fold any further dims into W. */
    int64_t hw = 1;
    for (int d = 2; d < rank; d++)
        hw *= x[d];
    int64_t d4[4] = {x[0], x[1], 1, hw};
    vkdl_tensor *t[5] = {0}, *x4, *o4;
    if (e->run)
        for (int i = 0; i < 5; i++)
            VKDL_TRY(onnx_in(e, i, &t[i]));
    VKDL_TRY(onnx_reshape(e, t[0], 4, d4, &x4));
    VKDL_TRY(onnx_reshape(e, onnx_out(e, 0), 4, d4, &o4));
    if (!e->run)
        return VKDL_OK;
    return vkdl_batchnorm(x4, t[1], t[2], t[3], t[4], 0, 0.1f, onnx_attr_float(e, "epsilon", 1e-5f), o4, NULL, NULL);
}

/* ---------------------------------------------------------------- Softmax, LogSoftmax */

static vkdl_status softmax_device(onnx_exec *e)
{
    bool log = !strcmp(e->node->op_type, "LogSoftmax");
    int rank = onnx_in_ndim(e, 0);
    const int64_t *x = onnx_in_dims(e, 0);
    if (onnx_in_dtype(e, 0) != VKDL_F32)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "only float input");
    int axis;
    VKDL_TRY(onnx_axis(e, onnx_attr_int(e, "axis", e->opset < 13 ? 1 : -1), rank, &axis));
    if (!e->run)
        VKDL_TRY(onnx_out_set(e, 0, VKDL_F32, rank, x));
    vkdl_tensor *xt = NULL, *x2, *o2, *xp = NULL, *op = NULL;
    if (e->run)
        VKDL_TRY(onnx_in(e, 0, &xt));
    if (e->opset < 13 || axis == rank - 1) {
        /* Before opset 13 the input is read as 2-D [prod(dims < axis), prod(dims >= axis)]. */
        int64_t d2[2] = {1, 1};
        for (int d = 0; d < rank; d++)
            d2[d < (e->opset < 13 ? axis : rank - 1) ? 0 : 1] *= x[d];
        VKDL_TRY(onnx_reshape(e, xt, 2, d2, &x2));
        VKDL_TRY(onnx_reshape(e, onnx_out(e, 0), 2, d2, &o2));
        if (!e->run)
            return VKDL_OK;
        return log ? vkdl_log_softmax(x2, o2) : vkdl_softmax(x2, o2);
    }
    /* Along an inner axis: move it last, and back. */
    int perm[VKDL_MAX_DIMS], back[VKDL_MAX_DIMS];
    int64_t pd[VKDL_MAX_DIMS];
    for (int d = 0, k = 0; d < rank; d++)
        if (d != axis)
            perm[k++] = d;
    perm[rank - 1] = axis;
    for (int d = 0; d < rank; d++) {
        pd[d] = x[perm[d]];
        back[perm[d]] = d;
    }
    VKDL_TRY(onnx_temp(e, VKDL_F32, rank, pd, &xp));
    VKDL_TRY(onnx_temp(e, VKDL_F32, rank, pd, &op));
    if (!e->run)
        return VKDL_OK;
    VKDL_TRY(vkdl_permute(xt, perm, xp));
    VKDL_TRY(log ? vkdl_log_softmax(xp, op) : vkdl_softmax(xp, op));
    return vkdl_permute(op, back, onnx_out(e, 0));
}

/* ---------------------------------------------------------------- MatMul, Gemm */

static vkdl_status matmul_device(onnx_exec *e)
{
    int ra = onnx_in_ndim(e, 0), rb = onnx_in_ndim(e, 1);
    const int64_t *a = onnx_in_dims(e, 0), *b = onnx_in_dims(e, 1);
    if (onnx_in_dtype(e, 0) != VKDL_F32 || onnx_in_dtype(e, 1) != VKDL_F32)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "only float MatMul");
    if (ra < 1 || rb < 1)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "scalar operands");
    /* NumPy's rules: a 1-D a is a row [1, K], a 1-D b a column [K, 1], and both extra dims are
     * dropped from the result. */
    int64_t am[VKDL_MAX_DIMS], bm[VKDL_MAX_DIMS];
    int na = ra == 1 ? 2 : ra, nb = rb == 1 ? 2 : rb;
    if (ra == 1) {
        am[0] = 1;
        am[1] = a[0];
    } else
        memcpy(am, a, (size_t)ra * sizeof *a);
    if (rb == 1) {
        bm[0] = b[0];
        bm[1] = 1;
    } else
        memcpy(bm, b, (size_t)rb * sizeof *b);
    int64_t M = am[na - 2], K = am[na - 1], N = bm[nb - 1];
    if (bm[nb - 2] != K)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "inner dims %lld and %lld differ", (long long)K,
                         (long long)bm[nb - 2]);
    int nbatch;
    int64_t batch[VKDL_MAX_DIMS];
    VKDL_TRY(onnx_broadcast(e, na - 2, am, nb - 2, bm, &nbatch, batch));
    if (nbatch + 2 > VKDL_MAX_DIMS)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "rank %d", nbatch + 2);
    /* vkdl_matmul takes operands with the output's batch dims or plain matrices. */
    int64_t ab = 1, bb = 1, ob = 1;
    for (int d = 0; d < na - 2; d++)
        ab *= am[d];
    for (int d = 0; d < nb - 2; d++)
        bb *= bm[d];
    for (int d = 0; d < nbatch; d++)
        ob *= batch[d];
    if ((ab != 1 && ab != ob) || (bb != 1 && bb != ob) || (ab == ob && na - 2 != nbatch && ab != 1) ||
        (bb == ob && nb - 2 != nbatch && bb != 1))
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "batch dims that broadcast within both operands");
    int64_t od[VKDL_MAX_DIMS];
    int no = 0;
    for (int d = 0; d < nbatch; d++)
        od[no++] = batch[d];
    if (ra != 1)
        od[no++] = M;
    if (rb != 1)
        od[no++] = N;
    if (!e->run)
        VKDL_TRY(onnx_out_set(e, 0, VKDL_F32, no, od));
    vkdl_tensor *at = NULL, *bt = NULL, *a3, *b3, *o3;
    if (e->run) {
        VKDL_TRY(onnx_in(e, 0, &at));
        VKDL_TRY(onnx_in(e, 1, &bt));
    }
    int64_t a3d[3] = {ab, M, K}, b3d[3] = {bb, K, N}, o3d[3] = {ob, M, N};
    VKDL_TRY(onnx_reshape(e, at, ab == 1 ? 2 : 3, ab == 1 ? a3d + 1 : a3d, &a3));
    VKDL_TRY(onnx_reshape(e, bt, bb == 1 ? 2 : 3, bb == 1 ? b3d + 1 : b3d, &b3));
    VKDL_TRY(onnx_reshape(e, onnx_out(e, 0), ob == 1 && ab == 1 && bb == 1 ? 2 : 3,
                          ob == 1 && ab == 1 && bb == 1 ? o3d + 1 : o3d, &o3));
    return e->run ? vkdl_matmul(a3, b3, o3, NULL) : VKDL_OK;
}

static vkdl_status gemm_device(onnx_exec *e)
{
    if (onnx_in_dtype(e, 0) != VKDL_F32 || onnx_in_dtype(e, 1) != VKDL_F32)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "only float Gemm");
    if (onnx_in_ndim(e, 0) != 2 || onnx_in_ndim(e, 1) != 2)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "A and B must be matrices");
    int ta = (int)onnx_attr_int(e, "transA", 0), tb = (int)onnx_attr_int(e, "transB", 0);
    float alpha = onnx_attr_float(e, "alpha", 1), beta = onnx_attr_float(e, "beta", 1);
    const int64_t *a = onnx_in_dims(e, 0), *b = onnx_in_dims(e, 1);
    int64_t M = ta ? a[1] : a[0], K = ta ? a[0] : a[1], N = tb ? b[0] : b[1];
    if ((tb ? b[1] : b[0]) != K)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "inner dims %lld and %lld differ", (long long)K,
                         (long long)(tb ? b[1] : b[0]));
    int64_t od[2] = {M, N};
    bool has_c = onnx_has_in(e, 2) && beta != 0;
    int nc = onnx_in_ndim(e, 2);
    const int64_t *c = onnx_in_dims(e, 2);
    /* C of [N] or [1, N] with beta 1 is the matmul's fused bias. */
    bool c_bias = has_c && beta == 1 && ((nc == 1 && c[0] == N) || (nc == 2 && c[0] == 1 && c[1] == N));
    vkdl_tensor *prod = NULL, *cs = NULL, *c1 = NULL;
    if (has_c) {
        int n;
        int64_t bd[2];
        VKDL_TRY(onnx_broadcast(e, nc, c, 2, od, &n, bd));
        if (bd[0] != M || bd[1] != N)
            return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "C does not broadcast to %lldx%lld", (long long)M,
                             (long long)N);
        if (!c_bias) {
            VKDL_TRY(onnx_temp(e, VKDL_F32, 2, od, &prod));
            if (beta != 1)
                VKDL_TRY(onnx_temp(e, VKDL_F32, nc, c, &cs));
        }
    }
    if (!e->run)
        VKDL_TRY(onnx_out_set(e, 0, VKDL_F32, 2, od));
    vkdl_tensor *at = NULL, *bt = NULL, *ct = NULL;
    if (e->run) {
        VKDL_TRY(onnx_in(e, 0, &at));
        VKDL_TRY(onnx_in(e, 1, &bt));
        if (has_c)
            VKDL_TRY(onnx_in(e, 2, &ct));
    }
    int64_t n1 = N;
    if (c_bias)
        VKDL_TRY(onnx_reshape(e, ct, 1, &n1, &c1));
    if (!e->run)
        return VKDL_OK;
    vkdl_matmul_info mi = {.trans_a = ta, .trans_b = tb, .alpha = alpha, .bias = c1};
    if (c_bias)
        return vkdl_matmul(at, bt, onnx_out(e, 0), &mi);
    if (!has_c)
        return vkdl_matmul(at, bt, onnx_out(e, 0), &mi);
    VKDL_TRY(vkdl_matmul(at, bt, prod, &mi));
    if (cs)
        VKDL_TRY(vkdl_scale(ct, beta, 0, cs));
    return vkdl_binary(VKDL_ADD, prod, cs ? cs : ct, onnx_out(e, 0));
}

const onnx_op onnx_ops_nn[] = {
    {"Conv", NULL, conv_device},
    {"MaxPool", NULL, pool_device},
    {"AveragePool", NULL, pool_device},
    {"GlobalAveragePool", NULL, global_pool_device},
    {"BatchNormalization", NULL, batchnorm_device},
    {"Softmax", NULL, softmax_device},
    {"LogSoftmax", NULL, softmax_device},
    {"MatMul", NULL, matmul_device},
    {"Gemm", NULL, gemm_device},
};
const int onnx_ops_nn_count = (int)VKDL_ARRAY_LEN(onnx_ops_nn);
