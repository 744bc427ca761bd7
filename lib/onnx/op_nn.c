/* ONNX's network layers: convolutions, pools, normalisations, Softmax and Hardmax, the losses,
 * MatMul, Gemm, Einsum and the recurrent layers. Each maps onto vkdl's kernels, or a composition
 * of them; 1-D convolutions and pools run as 2-D ones of height 1, 3-D ones as 2-D ones over
 * gathered or reshaped views. The host side (constant folding) works in double. */
#include "onnx/onnx.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The product of dims [from, to). */
static int64_t dims_prod(const int64_t *dims, int from, int to)
{
    int64_t p = 1;
    for (int d = from; d < to; d++)
        p *= dims[d];
    return p;
}

/* ---------------------------------------------------------------- windows (Conv, pools) */

/* A 1-D to 3-D window op's geometry, from its attributes and the input's spatial size. */
typedef struct window {
    int nsp;                        /* spatial dims in the ONNX tensor: 1 to 3 */
    int64_t in[3], k[3], out[3];    /* (h, w, d); 1-D runs as h = 1, and d is 1 below 3-D */
    int stride[3], dil[3], pad_begin[3], pad_end[3];
} window;

/* max_nsp: the most spatial dims the caller takes. */
static vkdl_status window_of(onnx_exec *e, const int64_t *spatial, int nsp, int max_nsp, const int64_t *kernel,
                             bool ceil_mode, window *w)
{
    if (nsp < 1 || nsp > max_nsp)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "%d spatial dims (1 to %d are supported)", nsp, max_nsp);
    memset(w, 0, sizeof *w);
    w->nsp = nsp;
    const int64_t *strides, *dils, *pads;
    int ns = onnx_attr_ints(e, "strides", &strides), nd = onnx_attr_ints(e, "dilations", &dils),
        np = onnx_attr_ints(e, "pads", &pads);
    if ((ns >= 0 && ns != nsp) || (nd >= 0 && nd != nsp) || (np >= 0 && np != 2 * nsp))
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "strides, dilations or pads do not match %d spatial dims",
                         nsp);
    const char *auto_pad = onnx_attr_str(e, "auto_pad", "NOTSET");
    for (int d = 0; d < 3; d++) {
        int src = d < 2 ? d - 2 + nsp : nsp == 3 ? 0 : -1;   /* 1-D: only w comes from the attributes */
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

/* xp [N, C, H', W'] = x [N, C, H, W] placed at (pad_begin[0], pad_begin[1]), value all around:
 * explicit padding where the kernels' symmetric padding cannot express it. */
static vkdl_status pad_spatial(const vkdl_tensor *x, vkdl_tensor *xp, const int *pad_begin, float value)
{
    vkdl_view_info vi = {.start = {0, 0, -pad_begin[0], -pad_begin[1]}, .mode = VKDL_PAD_CONSTANT, .value = value};
    return vkdl_view_copy(x, xp, &vi);
}

/* ---------------------------------------------------------------- Conv */

/* Conv over [N, C, D, H, W] as one 2-D convolution of batch N * OD: each output depth's input
 * slab is gathered into channels (per group: KD x C/group) by KD strided copies of the
 * depth-major input, with the weights permuted to match, and the result moved back. */
static vkdl_status conv3d_device(onnx_exec *e, const window *w, int64_t group, bool bias)
{
    const int64_t *x = onnx_in_dims(e, 0), *wd = onnx_in_dims(e, 1);
    if (!window_symmetric(w))
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "asymmetric padding of H or W in a 3-D convolution");
    int64_t N = x[0], C = x[1], D = x[2], HW = x[3] * x[4], O = wd[0], Cg = C / group, KD = w->k[2], OD = w->out[2];
    int64_t od[5] = {N, O, OD, w->out[0], w->out[1]};
    if (!e->run)
        VKDL_TRY(onnx_out_set(e, 0, VKDL_F32, 5, od));
    int64_t xt_d[5] = {N, D, C, x[3], x[4]}, xs_d[6] = {N, OD, group, KD, Cg, HW};
    int64_t wt_d[5] = {O, KD, Cg, wd[3], wd[4]}, y_d[4] = {N * OD, O, w->out[0], w->out[1]};
    int64_t xt6[6] = {N, D, group, 1, Cg, HW}, xs4[4] = {N * OD, group * KD * Cg, x[3], x[4]};
    int64_t w4[4] = {O, KD * Cg, wd[3], wd[4]}, yv[4] = {N, OD, O, w->out[0] * w->out[1]};
    int64_t ov[4] = {N, O, OD, w->out[0] * w->out[1]};
    vkdl_tensor *xt, *xs, *wt, *y, *in[3] = {0}, *xt6v, *xs4v, *w4v, *yvv, *ovv;
    VKDL_TRY(onnx_temp(e, VKDL_F32, 5, xt_d, &xt));
    VKDL_TRY(onnx_temp(e, VKDL_F32, 6, xs_d, &xs));
    VKDL_TRY(onnx_temp(e, VKDL_F32, 5, wt_d, &wt));
    VKDL_TRY(onnx_temp(e, VKDL_F32, 4, y_d, &y));
    if (e->run)
        for (int i = 0; i < (bias ? 3 : 2); i++)
            VKDL_TRY(onnx_in(e, i, &in[i]));
    VKDL_TRY(onnx_reshape(e, xt, 6, xt6, &xt6v));
    VKDL_TRY(onnx_reshape(e, xs, 4, xs4, &xs4v));
    VKDL_TRY(onnx_reshape(e, wt, 4, w4, &w4v));
    VKDL_TRY(onnx_reshape(e, y, 4, yv, &yvv));
    VKDL_TRY(onnx_reshape(e, onnx_out(e, 0), 4, ov, &ovv));
    if (!e->run)
        return VKDL_OK;
    static const int depth_major[5] = {0, 2, 1, 3, 4}, channels_first[4] = {0, 2, 1, 3};
    VKDL_TRY(vkdl_permute(in[0], depth_major, xt));
    VKDL_TRY(vkdl_permute(in[1], depth_major, wt));
    for (int64_t kd = 0; kd < KD; kd++) {
        vkdl_view_info vi = {.start = {0, kd * w->dil[2] - w->pad_begin[2]}, .step = {1, w->stride[2]},
                             .out_offset = {0, 0, 0, kd}, .extent = {N, OD, group, 1, Cg, HW},
                             .mode = VKDL_PAD_CONSTANT};
        VKDL_TRY(vkdl_view_copy(xt6v, xs, &vi));
    }
    vkdl_conv2d_info info = {.stride = {w->stride[0], w->stride[1]}, .padding = {w->pad_begin[0], w->pad_begin[1]},
                             .dilation = {w->dil[0], w->dil[1]}, .groups = (int)group};
    VKDL_TRY(vkdl_conv2d(xs4v, w4v, in[2], y, &info));
    return vkdl_permute(yvv, channels_first, ovv);
}

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
    bool bias;
    window w;
    VKDL_TRY(window_of(e, x + 2, nsp, 3, wd + 2, false, &w));
    bias = onnx_has_in(e, 2);
    if (bias && (onnx_in_ndim(e, 2) != 1 || onnx_in_dims(e, 2)[0] != wd[0]))
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "bias must be [%lld]", (long long)wd[0]);
    if (nsp == 3)
        return conv3d_device(e, &w, group, bias);
    bool prepad = !window_symmetric(&w);
    int64_t od[4] = {x[0], wd[0], w.out[0], w.out[1]};
    if (!e->run)
        VKDL_TRY(onnx_out_set(e, 0, VKDL_F32, rank, nsp == 2 ? od : (int64_t[]){x[0], wd[0], w.out[1]}));
    vkdl_tensor *xt = NULL, *wt = NULL, *bt = NULL, *x4, *w4, *o4, *xp = NULL;
    int64_t pd[4] = {x[0], x[1], w.in[0] + w.pad_begin[0] + w.pad_end[0], w.in[1] + w.pad_begin[1] + w.pad_end[1]};
    if (prepad)
        VKDL_TRY(onnx_temp(e, VKDL_F32, 4, pd, &xp));
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
    vkdl_conv2d_info info = {.stride = {w.stride[0], w.stride[1]}, .dilation = {w.dil[0], w.dil[1]},
                             .groups = (int)group};
    /* An activation fused into this Conv when the plan was made (lib/onnx/fuse.c). */
    vkdl_conv2d_epilogue_info epi = {.type = VKDL_STRUCTURE_TYPE_CONV2D_EPILOGUE_INFO};
    if (onnx_attr_get(e, "vkdl.act")) {
        epi.act = (vkdl_unary_op)onnx_attr_int(e, "vkdl.act", 0);
        epi.alpha = onnx_attr_float(e, "vkdl.act_alpha", 0);
        epi.beta = onnx_attr_float(e, "vkdl.act_beta", 0);
        info.next = &epi;
    }
    if (prepad) {
        VKDL_TRY(pad_spatial(x4, xp, w.pad_begin, 0));
        return vkdl_conv2d(xp, w4, bt, o4, &info);
    }
    info.padding[0] = w.pad_begin[0];
    info.padding[1] = w.pad_begin[1];
    return vkdl_conv2d(x4, w4, bt, o4, &info);
}

/* ---------------------------------------------------------------- ConvTranspose */

/* floor(t / 2), as ONNX's shape inference computes it for negative total paddings. */
static int64_t floor_half(int64_t t)
{
    return t >= 0 ? t / 2 : -((1 - t) / 2);
}

static vkdl_status conv_transpose_device(onnx_exec *e)
{
    int rank = onnx_in_ndim(e, 0);
    const int64_t *x = onnx_in_dims(e, 0), *wd = onnx_in_dims(e, 1);
    if (onnx_in_dtype(e, 0) != VKDL_F32 || onnx_in_dtype(e, 1) != VKDL_F32)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "only float convolutions");
    if (rank < 3 || onnx_in_ndim(e, 1) != rank)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "input rank %d, weight rank %d", rank, onnx_in_ndim(e, 1));
    int nsp = rank - 2;
    if (nsp > 2)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "%d spatial dims (1 or 2 are supported)", nsp);
    int64_t group = onnx_attr_int(e, "group", 1);
    if (group < 1 || x[1] != wd[0] || x[1] % group)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "group %lld, %lld input channels, weight %lldx%lld...",
                         (long long)group, (long long)x[1], (long long)wd[0], (long long)wd[1]);
    int64_t M = wd[1] * group;
    const int64_t *strides, *dils, *pads, *opad, *oshape;
    int ns = onnx_attr_ints(e, "strides", &strides), nd = onnx_attr_ints(e, "dilations", &dils),
        np = onnx_attr_ints(e, "pads", &pads), nop = onnx_attr_ints(e, "output_padding", &opad),
        nos = onnx_attr_ints(e, "output_shape", &oshape);
    if ((ns >= 0 && ns != nsp) || (nd >= 0 && nd != nsp) || (np >= 0 && np != 2 * nsp) || (nop >= 0 && nop != nsp) ||
        (nos >= 0 && nos != nsp))
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "strides, dilations, pads, output_padding or output_shape "
                         "do not match %d spatial dims", nsp);
    const char *auto_pad = onnx_attr_str(e, "auto_pad", "NOTSET");
    bool same = !strcmp(auto_pad, "SAME_UPPER") || !strcmp(auto_pad, "SAME_LOWER");
    if (!same && strcmp(auto_pad, "NOTSET") && strcmp(auto_pad, "VALID"))
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "auto_pad '%s'", auto_pad);
    /* The full transposed convolution (no padding) is cropped at pb and extended with zeros where
     * output_padding or output_shape reach past it. */
    int64_t in[2], k[2], full[2], out[2], pb[2];
    int stride[2], dil[2];
    bool crop = false, outside = false;
    for (int d = 0; d < 2; d++) {
        int src = d - (2 - nsp);
        in[d] = src >= 0 ? x[2 + src] : 1;
        k[d] = src >= 0 ? wd[2 + src] : 1;
        int64_t s = src >= 0 && ns >= 0 ? strides[src] : 1, dl = src >= 0 && nd >= 0 ? dils[src] : 1;
        int64_t op = src >= 0 && nop >= 0 ? opad[src] : 0;
        int64_t b = src >= 0 && np >= 0 && strcmp(auto_pad, "VALID") ? pads[src] : 0;
        int64_t end = src >= 0 && np >= 0 && strcmp(auto_pad, "VALID") ? pads[src + nsp] : 0;
        if (s < 1 || dl < 1 || op < 0 || b < 0 || end < 0 || s > INT32_MAX || dl > INT32_MAX || k[d] < 1)
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "kernel %lld, stride %lld, dilation %lld, pads %lld/%lld, "
                             "output_padding %lld", (long long)k[d], (long long)s, (long long)dl, (long long)b,
                             (long long)end, (long long)op);
        full[d] = (in[d] - 1) * s + (k[d] - 1) * dl + 1;
        if (nos >= 0 || same) {
            int64_t want = src < 0 ? 1 : nos >= 0 ? oshape[src] : in[d] * s, total = full[d] + op - want;
            b = !strcmp(auto_pad, "SAME_UPPER") ? floor_half(total) : total - floor_half(total);
            end = total - b;
        }
        out[d] = full[d] + op - b - end;
        if (out[d] < 1)
            return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "the padding leaves no output (%lld)", (long long)out[d]);
        pb[d] = b;
        stride[d] = (int)s;
        dil[d] = (int)dl;
        crop = crop || b != 0 || out[d] != full[d];
        outside = outside || b < 0 || b + out[d] > full[d];
    }
    bool bias = onnx_has_in(e, 2);
    if (bias && (onnx_in_ndim(e, 2) != 1 || onnx_in_dims(e, 2)[0] != M))
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "bias must be [%lld]", (long long)M);
    /* The zeros past the full result still get the bias: then it is added after the crop. */
    bool late_bias = bias && outside;
    int64_t od[4] = {x[0], M, out[0], out[1]}, fd[4] = {x[0], M, full[0], full[1]}, bd[4] = {1, M, 1, 1};
    if (!e->run)
        VKDL_TRY(onnx_out_set(e, 0, VKDL_F32, rank, nsp == 2 ? od : (int64_t[]){x[0], M, out[1]}));
    vkdl_tensor *xt = NULL, *wt = NULL, *bt = NULL, *x4, *w4, *o4, *ft = NULL, *ct = NULL, *b4 = NULL;
    if (crop)
        VKDL_TRY(onnx_temp(e, VKDL_F32, 4, fd, &ft));
    if (late_bias)
        VKDL_TRY(onnx_temp(e, VKDL_F32, 4, od, &ct));
    if (e->run) {
        VKDL_TRY(onnx_in(e, 0, &xt));
        VKDL_TRY(onnx_in(e, 1, &wt));
        if (bias)
            VKDL_TRY(onnx_in(e, 2, &bt));
    }
    VKDL_TRY(as_4d(e, xt, nsp, in, &x4));
    VKDL_TRY(as_4d(e, wt, nsp, k, &w4));
    VKDL_TRY(as_4d(e, onnx_out(e, 0), nsp, out, &o4));
    if (late_bias)
        VKDL_TRY(onnx_reshape(e, bt, 4, bd, &b4));
    if (!e->run)
        return VKDL_OK;
    vkdl_conv2d_info info = {.stride = {stride[0], stride[1]}, .dilation = {dil[0], dil[1]}, .groups = (int)group};
    VKDL_TRY(vkdl_conv_transpose2d(x4, w4, late_bias ? NULL : bt, crop ? ft : o4, &info));
    if (!crop)
        return VKDL_OK;
    vkdl_view_info vi = {.start = {0, 0, pb[0], pb[1]}, .mode = VKDL_PAD_CONSTANT};
    VKDL_TRY(vkdl_view_copy(ft, late_bias ? ct : o4, &vi));
    return late_bias ? vkdl_binary(VKDL_ADD, ct, b4, o4) : VKDL_OK;
}

/* ---------------------------------------------------------------- pools */

/* Whether a 2-D pooling stage of geometry w needs its input padded explicitly (asymmetric
 * padding, padding wider than half the window, or ceil_mode's last window reading past the end
 * padding, by ext). */
static bool pool_prepad(const window *w, int ext[2])
{
    bool prepad = !window_symmetric(w);
    for (int d = 0; d < 2; d++) {
        int64_t span = (w->k[d] - 1) * w->dil[d] + 1;
        int64_t past = (w->out[d] - 1) * w->stride[d] + span - (w->in[d] + w->pad_begin[d] + w->pad_end[d]);
        ext[d] = past > 0 ? (int)past : 0;
        prepad = prepad || ext[d] > 0 || 2 * w->pad_begin[d] > span;
    }
    return prepad;
}

/* One 2-D pooling of x4 [n, c, h, w] into o4 with the h and w entries of w. Padding the kernels
 * cannot express is made explicit in a padded copy of the input; an average that leaves the
 * padding out is then divided by the pooled mask of real elements. idx: MaxPool's per-plane
 * indices, or NULL. */
static vkdl_status pool_stage(onnx_exec *e, bool max, bool include_pad, const window *w, int64_t n, int64_t c,
                              vkdl_tensor *x4, vkdl_tensor *o4, vkdl_tensor *idx)
{
    int ext[2];
    bool prepad = pool_prepad(w, ext), dilated = w->dil[0] != 1 || w->dil[1] != 1;
    if (include_pad && (ext[0] || ext[1]))
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "count_include_pad with ceil_mode windows past the padding");
    bool divide = !max && !include_pad && prepad;
    int64_t od[4] = {n, c, w->out[0], w->out[1]}, in4[4] = {1, 1, w->in[0], w->in[1]};
    int64_t pd[4] = {n, c, w->in[0] + w->pad_begin[0] + w->pad_end[0] + ext[0],
                     w->in[1] + w->pad_begin[1] + w->pad_end[1] + ext[1]};
    int64_t md[4] = {1, 1, pd[2], pd[3]}, mo[4] = {1, 1, w->out[0], w->out[1]};
    vkdl_tensor *xp = NULL, *ones = NULL, *mask = NULL, *mpool = NULL, *sum = NULL;
    if (prepad)
        VKDL_TRY(onnx_temp(e, VKDL_F32, 4, pd, &xp));
    if (divide) {
        VKDL_TRY(onnx_temp(e, VKDL_F32, 4, in4, &ones));
        VKDL_TRY(onnx_temp(e, VKDL_F32, 4, md, &mask));
        VKDL_TRY(onnx_temp(e, VKDL_F32, 4, mo, &mpool));
        VKDL_TRY(onnx_temp(e, VKDL_F32, 4, od, &sum));
    }
    if (!e->run)
        return VKDL_OK;
    /* Dilation needs the extension, which then also carries the (symmetric) end padding. */
    vkdl_pool2d_ext_info dil = {.type = VKDL_STRUCTURE_TYPE_POOL2D_EXT_INFO, .dilation = {w->dil[0], w->dil[1]}};
    vkdl_pool2d_info info = {.next = dilated ? &dil : NULL, .kernel = {(int)w->k[0], (int)w->k[1]},
                             .stride = {w->stride[0], w->stride[1]}, .count_include_pad = include_pad};
    if (prepad) {
        VKDL_TRY(pad_spatial(x4, xp, w->pad_begin, max ? -INFINITY : 0));
        x4 = xp;
    } else {
        info.padding[0] = dil.pad_end[0] = w->pad_begin[0];
        info.padding[1] = dil.pad_end[1] = w->pad_begin[1];
    }
    if (max)
        return vkdl_maxpool2d(x4, o4, idx, &info);
    if (!divide)
        return vkdl_avgpool2d(x4, o4, &info);
    VKDL_TRY(vkdl_tensor_fill(ones, 1));
    VKDL_TRY(pad_spatial(ones, mask, w->pad_begin, 0));
    VKDL_TRY(vkdl_avgpool2d(mask, mpool, &info));
    VKDL_TRY(vkdl_avgpool2d(x4, sum, &info));
    return vkdl_binary(VKDL_DIV, sum, mpool, o4);
}

/* MaxPool, AveragePool. 3-D pools are separable: over (H, W) of [N, C D, H, W], then over D of
 * [N C, 1, D, OH OW] (the padding of both stages is a product, so an average's counts are too). */
static vkdl_status pool_device(onnx_exec *e)
{
    bool max = !strcmp(e->node->op_type, "MaxPool");
    int rank = onnx_in_ndim(e, 0), nsp = rank - 2;
    const int64_t *x = onnx_in_dims(e, 0);
    if (onnx_in_dtype(e, 0) != VKDL_F32)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "only float pooling");
    if (rank < 3)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "input rank %d", rank);
    const int64_t *kernel;
    int nk = onnx_attr_ints(e, "kernel_shape", &kernel);
    if (nk != nsp)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "kernel_shape has %d entries for %d spatial dims", nk, nsp);
    bool include_pad = !max && onnx_attr_int(e, "count_include_pad", 0);
    window w;
    VKDL_TRY(window_of(e, x + 2, nsp, 3, kernel, onnx_attr_int(e, "ceil_mode", 0) != 0, &w));
    if (!max && (w.dil[0] != 1 || w.dil[1] != 1 || w.dil[2] != 1))
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "dilations in AveragePool");
    int ext[2];
    bool indices = onnx_has_out(e, 1);
    if (indices && (nsp == 3 || pool_prepad(&w, ext)))
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "the Indices output of 3-D pools or with padding the kernel "
                         "cannot take");
    /* The kernel's indices count within a plane; ONNX's within the whole tensor, where f32 holds
     * them exactly up to 2^24 elements. */
    int64_t planes = x[0] * x[1], hw = w.in[0] * w.in[1];
    if (indices && planes * hw > (1 << 24))
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "the Indices output of inputs over 2^24 elements");
    bool col_major = onnx_attr_int(e, "storage_order", 0) != 0;
    int64_t od[5] = {x[0], x[1], w.out[0], w.out[1]}, o3[3] = {x[0], x[1], w.out[1]};
    int64_t o5[5] = {x[0], x[1], w.out[2], w.out[0], w.out[1]}, cd[4] = {x[0], x[1], 1, 1};
    if (!e->run) {
        const int64_t *o_onnx = nsp == 1 ? o3 : nsp == 2 ? od : o5;
        VKDL_TRY(onnx_out_set(e, 0, VKDL_F32, rank, o_onnx));
        if (indices)
            VKDL_TRY(onnx_out_set(e, 1, VKDL_I64, rank, o_onnx));
    }
    vkdl_tensor *xt = NULL, *x4, *o4, *i4 = NULL, *idx = NULL, *idxf = NULL, *off = NULL, *flat = NULL, *map = NULL;
    if (indices) {
        VKDL_TRY(onnx_temp(e, VKDL_I32, 4, od, &idx));
        VKDL_TRY(onnx_temp(e, VKDL_F32, 4, od, &idxf));
        VKDL_TRY(onnx_temp(e, VKDL_F32, 4, cd, &off));
        VKDL_TRY(onnx_temp(e, VKDL_F32, 4, od, &flat));
        if (col_major)
            VKDL_TRY(onnx_temp(e, VKDL_F32, 1, &hw, &map));
    }
    if (e->run)
        VKDL_TRY(onnx_in(e, 0, &xt));
    if (nsp == 3) {
        int64_t D = x[2], ohw = w.out[0] * w.out[1];
        int64_t xd[4] = {x[0], x[1] * D, x[3], x[4]}, y1d[4] = {x[0], x[1] * D, w.out[0], w.out[1]};
        int64_t y1v[4] = {x[0] * x[1], 1, D, ohw}, ov[4] = {x[0] * x[1], 1, w.out[2], ohw};
        window wd = {.nsp = 2, .in = {D, ohw, 1}, .k = {w.k[2], 1, 1}, .out = {w.out[2], ohw, 1},
                     .stride = {w.stride[2], 1, 1}, .dil = {w.dil[2], 1, 1}, .pad_begin = {w.pad_begin[2]},
                     .pad_end = {w.pad_end[2]}};
        vkdl_tensor *y1, *xv, *y1vv, *ovv;
        VKDL_TRY(onnx_temp(e, VKDL_F32, 4, y1d, &y1));
        VKDL_TRY(onnx_reshape(e, xt, 4, xd, &xv));
        VKDL_TRY(onnx_reshape(e, y1, 4, y1v, &y1vv));
        VKDL_TRY(onnx_reshape(e, onnx_out(e, 0), 4, ov, &ovv));
        VKDL_TRY(pool_stage(e, max, include_pad, &w, x[0], x[1] * D, xv, y1, NULL));
        return pool_stage(e, max, include_pad, &wd, x[0] * x[1], 1, y1vv, ovv, NULL);
    }
    VKDL_TRY(as_4d(e, xt, nsp, w.in, &x4));
    VKDL_TRY(as_4d(e, onnx_out(e, 0), nsp, w.out, &o4));
    if (indices)
        VKDL_TRY(as_4d(e, onnx_out(e, 1), nsp, w.out, &i4));
    VKDL_TRY(pool_stage(e, max, include_pad, &w, x[0], x[1], x4, o4, idx));
    if (!e->run || !indices)
        return VKDL_OK;
    /* Each plane's offset, and for storage_order 1 the column-major index of each row-major one
     * (looked up by the kernel's index). */
    float *buf = malloc((size_t)(planes > hw ? planes : hw) * sizeof *buf);
    if (!buf)
        return onnx_fail(e, VKDL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (int64_t p = 0; p < planes; p++)
        buf[p] = (float)(p * hw);
    vkdl_status s = vkdl_tensor_upload(off, buf, VKDL_F32, (size_t)planes * sizeof *buf);
    for (int64_t p = 0; col_major && p < hw; p++)
        buf[p] = (float)(p % w.in[1] * w.in[0] + p / w.in[1]);
    if (s == VKDL_OK && col_major)
        s = vkdl_tensor_upload(map, buf, VKDL_F32, (size_t)hw * sizeof *buf);
    free(buf);
    VKDL_TRY(s);
    VKDL_TRY(col_major ? vkdl_gather(map, idx, 0, idxf) : vkdl_copy(idx, idxf));
    VKDL_TRY(vkdl_binary(VKDL_ADD, idxf, off, flat));
    return vkdl_copy(flat, i4);
}

/* GlobalAveragePool, GlobalMaxPool over every spatial dim. */
static vkdl_status global_pool_device(onnx_exec *e)
{
    bool max = !strcmp(e->node->op_type, "GlobalMaxPool");
    int rank = onnx_in_ndim(e, 0);
    const int64_t *x = onnx_in_dims(e, 0);
    if (onnx_in_dtype(e, 0) != VKDL_F32 || rank < 3)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "float input of rank 3 or more");
    int64_t od[VKDL_MAX_DIMS], hw = 1;
    for (int d = 0; d < rank; d++) {
        od[d] = d < 2 ? x[d] : 1;
        hw *= d < 2 ? 1 : x[d];
    }
    if (hw == 0)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "empty spatial dims");
    if (!e->run)
        VKDL_TRY(onnx_out_set(e, 0, VKDL_F32, rank, od));
    vkdl_tensor *xt = NULL, *x3, *o3;
    if (e->run)
        VKDL_TRY(onnx_in(e, 0, &xt));
    int64_t d3[3] = {x[0], x[1], hw}, o3d[3] = {x[0], x[1], 1};
    VKDL_TRY(onnx_reshape(e, xt, 3, d3, &x3));
    VKDL_TRY(onnx_reshape(e, onnx_out(e, 0), 3, o3d, &o3));
    return e->run ? vkdl_reduce(max ? VKDL_MAX : VKDL_MEAN, x3, 2, o3) : VKDL_OK;
}

/* ---------------------------------------------------------------- BatchNormalization */

static vkdl_status batchnorm_host(onnx_exec *e)
{
    const onnx_host *t[5];
    static const char *const names[5] = {"X", "scale", "B", "input_mean", "input_var"};
    for (int i = 0; i < 5; i++)
        VKDL_TRY(onnx_need_host(e, i, names[i], &t[i]));
    const onnx_host *x = t[0];
    if (!onnx_dtype_is_float(x->dtype) || x->ndim < 2)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "float input of rank >= 2");
    if (onnx_attr_int(e, "training_mode", 0) || onnx_has_out(e, 1))
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "training mode (inference only)");
    for (int i = 1; i < 5; i++)
        if (t[i]->ndim != 1 || t[i]->dims[0] != x->dims[1])
            return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "scale, B, mean and var must be [%lld]",
                             (long long)x->dims[1]);
    double eps = onnx_attr_float(e, "epsilon", 1e-5f);
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, x->dtype, x->ndim, x->dims, &y));
    int64_t C = x->dims[1], hw = dims_prod(x->dims, 2, x->ndim);
    for (int64_t i = 0; i < x->numel; i++) {
        int64_t c = i / hw % C;
        double v = (onnx_get_f(x, i) - onnx_get_f(t[3], c)) / sqrt(onnx_get_f(t[4], c) + eps);
        onnx_set_f(y, i, v * onnx_get_f(t[1], c) + onnx_get_f(t[2], c));
    }
    return VKDL_OK;
}

/* Inference with the given statistics; training mode (opset 14) with the batch's, and the
 * running ones blended as ONNX does: mean * momentum + batch mean * (1 - momentum), the same for
 * the biased variance (recovered from the kernel's 1 / sqrt(var + eps)). */
static vkdl_status batchnorm_device(onnx_exec *e)
{
    int rank = onnx_in_ndim(e, 0);
    const int64_t *x = onnx_in_dims(e, 0);
    if (onnx_in_dtype(e, 0) != VKDL_F32 || rank < 2)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "float input of rank >= 2");
    bool training = onnx_attr_int(e, "training_mode", 0) != 0;
    if ((!training && onnx_has_out(e, 1)) || (training && e->opset < 14) || onnx_n_out(e) > 3)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "training mode before opset 14 (its saved statistics)");
    for (int i = 1; i < 5; i++)
        if (onnx_in_ndim(e, i) != 1 || onnx_in_dims(e, i)[0] != x[1])
            return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "scale, B, mean and var must be [%lld]", (long long)x[1]);
    if (!e->run) {
        VKDL_TRY(onnx_out_set(e, 0, VKDL_F32, rank, x));
        for (int i = 1; i < 3; i++)
            if (onnx_has_out(e, i))
                VKDL_TRY(onnx_out_set(e, i, VKDL_F32, 1, x + 1));
    }
    /* vkdl_batchnorm takes [N, C, H, W] or [N, C]: fold any further dims into W. */
    int64_t hw = 1;
    for (int d = 2; d < rank; d++)
        hw *= x[d];
    int64_t d4[4] = {x[0], x[1], 1, hw};
    vkdl_tensor *t[5] = {0}, *x4, *o4, *mean = NULL, *rstd = NULL, *a = NULL, *b = NULL;
    if (training) {
        VKDL_TRY(onnx_temp(e, VKDL_F32, 1, x + 1, &mean));
        VKDL_TRY(onnx_temp(e, VKDL_F32, 1, x + 1, &rstd));
        VKDL_TRY(onnx_temp(e, VKDL_F32, 1, x + 1, &a));
        VKDL_TRY(onnx_temp(e, VKDL_F32, 1, x + 1, &b));
    }
    if (e->run)
        for (int i = 0; i < 5; i++)
            VKDL_TRY(onnx_in(e, i, &t[i]));
    VKDL_TRY(onnx_reshape(e, t[0], 4, d4, &x4));
    VKDL_TRY(onnx_reshape(e, onnx_out(e, 0), 4, d4, &o4));
    if (!e->run)
        return VKDL_OK;
    float eps = onnx_attr_float(e, "epsilon", 1e-5f), m = onnx_attr_float(e, "momentum", 0.9f);
    if (!training)
        return vkdl_batchnorm(x4, t[1], t[2], t[3], t[4], 0, 0.1f, eps, o4, NULL, NULL);
    VKDL_TRY(vkdl_batchnorm(x4, t[1], t[2], NULL, NULL, 1, 0.1f, eps, o4, mean, rstd));
    if (onnx_has_out(e, 1)) {
        VKDL_TRY(vkdl_scale(t[3], m, 0, a));
        VKDL_TRY(vkdl_scale(mean, 1 - m, 0, b));
        VKDL_TRY(vkdl_binary(VKDL_ADD, a, b, onnx_out(e, 1)));
    }
    if (!onnx_has_out(e, 2))
        return VKDL_OK;
    /* var = rstd^-2 - eps, as exp(-2 log rstd). */
    VKDL_TRY(vkdl_unary(VKDL_LOG, rstd, a));
    VKDL_TRY(vkdl_scale(a, -2, 0, b));
    VKDL_TRY(vkdl_unary(VKDL_EXP, b, a));
    VKDL_TRY(vkdl_scale(a, 1 - m, -(1 - m) * eps, b));
    VKDL_TRY(vkdl_scale(t[4], m, 0, a));
    return vkdl_binary(VKDL_ADD, a, b, onnx_out(e, 2));
}

/* ---------------------------------------------------------------- LayerNormalization, InstanceNormalization,
 * MeanVarianceNormalization, LRN */

/* x as [rows, D] with D the dims from axis on; Scale and B must hold D elements (any shape that
 * broadcasts over those dims without repeating). */
static vkdl_status layer_norm_device(onnx_exec *e)
{
    int rank = onnx_in_ndim(e, 0);
    const int64_t *x = onnx_in_dims(e, 0);
    if (onnx_in_dtype(e, 0) != VKDL_F32 || onnx_in_dtype(e, 1) != VKDL_F32)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "only float input");
    if (onnx_attr_int(e, "stash_type", 1) != 1)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "stash_type %lld (only 1, float)",
                         (long long)onnx_attr_int(e, "stash_type", 1));
    int axis;
    VKDL_TRY(onnx_axis(e, onnx_attr_int(e, "axis", -1), rank, &axis));
    int64_t rows = dims_prod(x, 0, axis), D = dims_prod(x, axis, rank);
    bool bias = onnx_has_in(e, 2), expand[3] = {false, false, false};
    /* Scale and B broadcast over the normalised dims; one with fewer elements is expanded. */
    int nn = rank - axis;
    int64_t full[VKDL_MAX_DIMS], padded[3][VKDL_MAX_DIMS];
    memcpy(full, x + axis, (size_t)nn * sizeof *x);
    for (int i = 1; i < (bias ? 3 : 2); i++) {
        int n = onnx_in_ndim(e, i);
        const int64_t *sd = onnx_in_dims(e, i);
        if (onnx_in_dtype(e, i) != VKDL_F32)
            return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "only float Scale and B");
        if (n > nn)
            return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "Scale or B has rank %d, over the %d normalised dims", n,
                             nn);
        for (int d = 0; d < nn; d++) {
            padded[i][d] = d < nn - n ? 1 : sd[d - (nn - n)];
            if (padded[i][d] != full[d] && padded[i][d] != 1)
                return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "Scale or B does not broadcast to the normalised dims");
            expand[i] = expand[i] || padded[i][d] != full[d];
        }
    }
    if (D == 0)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "nothing to normalise");
    int64_t sd[VKDL_MAX_DIMS];
    for (int d = 0; d < rank; d++)
        sd[d] = d < axis ? x[d] : 1;
    if (!e->run) {
        VKDL_TRY(onnx_out_set(e, 0, VKDL_F32, rank, x));
        for (int i = 1; i < 3; i++)
            if (onnx_has_out(e, i))
                VKDL_TRY(onnx_out_set(e, i, VKDL_F32, rank, sd));
    }
    vkdl_tensor *t[3] = {0}, *x2, *o2, *gb[3] = {0}, *wide[3] = {0}, *narrow[3] = {0}, *mean = NULL, *rstd = NULL;
    for (int i = 1; i < 3; i++)
        if (expand[i])
            VKDL_TRY(onnx_temp(e, VKDL_F32, nn, full, &wide[i]));
    if (e->run)
        for (int i = 0; i < (bias ? 3 : 2); i++)
            VKDL_TRY(onnx_in(e, i, &t[i]));
    int64_t d2[2] = {rows, D};
    VKDL_TRY(onnx_reshape(e, t[0], 2, d2, &x2));
    VKDL_TRY(onnx_reshape(e, onnx_out(e, 0), 2, d2, &o2));
    for (int i = 1; i < (bias ? 3 : 2); i++) {
        if (expand[i])
            VKDL_TRY(onnx_reshape(e, t[i], nn, padded[i], &narrow[i]));
        VKDL_TRY(onnx_reshape(e, expand[i] ? wide[i] : t[i], 1, &D, &gb[i]));
    }
    if (onnx_has_out(e, 1))
        VKDL_TRY(onnx_reshape(e, onnx_out(e, 1), 1, &rows, &mean));
    if (onnx_has_out(e, 2))
        VKDL_TRY(onnx_reshape(e, onnx_out(e, 2), 1, &rows, &rstd));
    if (!e->run)
        return VKDL_OK;
    vkdl_view_info tile = {.mode = VKDL_PAD_WRAP};
    for (int i = 1; i < 3; i++)
        if (expand[i])
            VKDL_TRY(vkdl_view_copy(narrow[i], wide[i], &tile));
    return vkdl_layernorm(x2, gb[1], gb[2], onnx_attr_float(e, "epsilon", 1e-5f), o2, mean, rstd);
}

/* Each (n, c) plane normalised, then scaled and shifted per channel. */
static vkdl_status instance_norm_device(onnx_exec *e)
{
    int rank = onnx_in_ndim(e, 0);
    const int64_t *x = onnx_in_dims(e, 0);
    if (onnx_in_dtype(e, 0) != VKDL_F32 || rank < 3)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "float input of rank 3 or more");
    for (int i = 1; i < 3; i++)
        if (onnx_in_ndim(e, i) != 1 || onnx_in_dims(e, i)[0] != x[1])
            return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "scale and B must be [%lld]", (long long)x[1]);
    int64_t hw = dims_prod(x, 2, rank);
    if (hw == 0)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "empty spatial dims");
    int64_t d2[2] = {x[0] * x[1], hw}, d3[3] = {x[0], x[1], hw}, c2[2] = {x[1], 1};
    if (!e->run)
        VKDL_TRY(onnx_out_set(e, 0, VKDL_F32, rank, x));
    vkdl_tensor *t[3] = {0}, *x2, *n2, *o3, *sc, *bc, *norm, *scaled;
    VKDL_TRY(onnx_temp(e, VKDL_F32, 3, d3, &norm));
    VKDL_TRY(onnx_temp(e, VKDL_F32, 3, d3, &scaled));
    if (e->run)
        for (int i = 0; i < 3; i++)
            VKDL_TRY(onnx_in(e, i, &t[i]));
    VKDL_TRY(onnx_reshape(e, t[0], 2, d2, &x2));
    VKDL_TRY(onnx_reshape(e, norm, 2, d2, &n2));
    VKDL_TRY(onnx_reshape(e, onnx_out(e, 0), 3, d3, &o3));
    VKDL_TRY(onnx_reshape(e, t[1], 2, c2, &sc));
    VKDL_TRY(onnx_reshape(e, t[2], 2, c2, &bc));
    if (!e->run)
        return VKDL_OK;
    VKDL_TRY(vkdl_layernorm(x2, NULL, NULL, onnx_attr_float(e, "epsilon", 1e-5f), n2, NULL, NULL));
    VKDL_TRY(vkdl_binary(VKDL_MUL, norm, sc, scaled));
    return vkdl_binary(VKDL_ADD, scaled, bc, o3);
}

/* (x - mean) / sqrt(var + 1e-9) over the axes: they are moved last, normalised as one row per
 * combination of the other dims, and moved back. */
static vkdl_status mvn_device(onnx_exec *e)
{
    int rank = onnx_in_ndim(e, 0);
    const int64_t *x = onnx_in_dims(e, 0);
    if (onnx_in_dtype(e, 0) != VKDL_F32)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "only float input");
    const int64_t *axes;
    int na = onnx_attr_ints(e, "axes", &axes);
    static const int64_t def_axes[3] = {0, 2, 3};
    if (na < 0) {
        na = 3;
        axes = def_axes;
    }
    bool in_axes[VKDL_MAX_DIMS] = {0};
    for (int i = 0; i < na; i++) {
        int a;
        VKDL_TRY(onnx_axis(e, axes[i], rank, &a));
        if (in_axes[a])
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "axis %d repeats", a);
        in_axes[a] = true;
    }
    int perm[VKDL_MAX_DIMS], back[VKDL_MAX_DIMS], k = 0;
    int64_t pd[VKDL_MAX_DIMS], rows = 1, D = 1;
    for (int pass = 0; pass < 2; pass++)
        for (int d = 0; d < rank; d++)
            if (in_axes[d] == (pass == 1))
                perm[k++] = d;
    bool identity = true;
    for (int d = 0; d < rank; d++) {
        pd[d] = x[perm[d]];
        back[perm[d]] = d;
        identity = identity && perm[d] == d;
        if (in_axes[perm[d]])
            D *= pd[d];
        else
            rows *= pd[d];
    }
    if (D == 0)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "nothing to normalise");
    if (!e->run)
        VKDL_TRY(onnx_out_set(e, 0, VKDL_F32, rank, x));
    vkdl_tensor *xt = NULL, *xp = NULL, *op = NULL, *x2, *o2;
    if (!identity) {
        VKDL_TRY(onnx_temp(e, VKDL_F32, rank, pd, &xp));
        VKDL_TRY(onnx_temp(e, VKDL_F32, rank, pd, &op));
    }
    if (e->run)
        VKDL_TRY(onnx_in(e, 0, &xt));
    int64_t d2[2] = {rows, D};
    VKDL_TRY(onnx_reshape(e, identity ? xt : xp, 2, d2, &x2));
    VKDL_TRY(onnx_reshape(e, identity ? onnx_out(e, 0) : op, 2, d2, &o2));
    if (!e->run)
        return VKDL_OK;
    if (!identity)
        VKDL_TRY(vkdl_permute(xt, perm, xp));
    VKDL_TRY(vkdl_layernorm(x2, NULL, NULL, 1e-9f, o2, NULL, NULL));
    return identity ? VKDL_OK : vkdl_permute(op, back, onnx_out(e, 0));
}

/* y = x / (bias + alpha / size * sum of x^2 over the size channels around c)^beta: the sum is an
 * average pool over channels (of x^2 padded with zeros), the power exp(-beta log(.)). */
static vkdl_status lrn_device(onnx_exec *e)
{
    int rank = onnx_in_ndim(e, 0);
    const int64_t *x = onnx_in_dims(e, 0);
    if (onnx_in_dtype(e, 0) != VKDL_F32 || rank < 2)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "float input of rank 2 or more");
    int64_t size = onnx_attr_int(e, "size", 0);
    float alpha = onnx_attr_float(e, "alpha", 1e-4f), beta = onnx_attr_float(e, "beta", 0.75f),
          bias = onnx_attr_float(e, "bias", 1);
    if (size < 1 || size > 1024)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "size %lld", (long long)size);
    int64_t hw = dims_prod(x, 2, rank);
    int64_t d4[4] = {x[0], 1, x[1], hw}, p4[4] = {x[0], 1, x[1] + size - 1, hw};
    if (!e->run)
        VKDL_TRY(onnx_out_set(e, 0, VKDL_F32, rank, x));
    vkdl_tensor *xt = NULL, *x4, *o4, *sq, *padded, *avg, *den;
    VKDL_TRY(onnx_temp(e, VKDL_F32, 4, d4, &sq));
    VKDL_TRY(onnx_temp(e, VKDL_F32, 4, p4, &padded));
    VKDL_TRY(onnx_temp(e, VKDL_F32, 4, d4, &avg));
    VKDL_TRY(onnx_temp(e, VKDL_F32, 4, d4, &den));
    if (e->run)
        VKDL_TRY(onnx_in(e, 0, &xt));
    VKDL_TRY(onnx_reshape(e, xt, 4, d4, &x4));
    VKDL_TRY(onnx_reshape(e, onnx_out(e, 0), 4, d4, &o4));
    if (!e->run)
        return VKDL_OK;
    int pb[2] = {(int)((size - 1) / 2), 0};
    vkdl_pool2d_info info = {.kernel = {(int)size, 1}, .stride = {1, 1}};
    VKDL_TRY(vkdl_binary(VKDL_MUL, x4, x4, sq));
    VKDL_TRY(pad_spatial(sq, padded, pb, 0));
    VKDL_TRY(vkdl_avgpool2d(padded, avg, &info));
    VKDL_TRY(vkdl_scale(avg, alpha, bias, den));
    VKDL_TRY(vkdl_unary(VKDL_LOG, den, avg));
    VKDL_TRY(vkdl_scale(avg, -beta, 0, den));
    VKDL_TRY(vkdl_unary(VKDL_EXP, den, avg));
    return vkdl_binary(VKDL_MUL, x4, avg, o4);
}

/* ---------------------------------------------------------------- Softmax, LogSoftmax */

/* Softmax, LogSoftmax and Hardmax see x as [outer, n, inner] with n along the op's axis; before
 * opset 13, as the 2-D [prod(dims < axis), prod(dims >= axis)]. */
static vkdl_status softmax_geom(const onnx_exec *e, int rank, const int64_t *x, int64_t g[3])
{
    int axis;
    VKDL_TRY(onnx_axis(e, onnx_attr_int(e, "axis", e->opset < 13 ? 1 : -1), rank, &axis));
    g[0] = dims_prod(x, 0, axis);
    g[1] = e->opset < 13 ? dims_prod(x, axis, rank) : x[axis];
    g[2] = e->opset < 13 ? 1 : dims_prod(x, axis + 1, rank);
    return VKDL_OK;
}

static vkdl_status softmax_host(onnx_exec *e)
{
    const char *type = e->node->op_type;
    const onnx_host *x;
    VKDL_TRY(onnx_need_host(e, 0, "input", &x));
    if (!onnx_dtype_is_float(x->dtype))
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "%s input", vkdl_dtype_name(x->dtype));
    int64_t g[3];
    VKDL_TRY(softmax_geom(e, x->ndim, x->dims, g));
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, x->dtype, x->ndim, x->dims, &y));
    for (int64_t o = 0; o < g[0]; o++)
        for (int64_t i = 0; i < g[2]; i++) {
            int64_t base = o * g[1] * g[2] + i, arg = 0;
            double m = -INFINITY, sum = 0;
            for (int64_t a = 0; a < g[1]; a++)
                if (onnx_get_f(x, base + a * g[2]) > m || a == 0) {
                    m = onnx_get_f(x, base + a * g[2]);
                    arg = a;
                }
            for (int64_t a = 0; a < g[1]; a++)
                sum += exp(onnx_get_f(x, base + a * g[2]) - m);
            for (int64_t a = 0; a < g[1]; a++) {
                double v = onnx_get_f(x, base + a * g[2]) - m;
                onnx_set_f(y, base + a * g[2], !strcmp(type, "Hardmax") ? a == arg : !strcmp(type, "Softmax") ?
                           exp(v) / sum : v - log(sum));
            }
        }
    return VKDL_OK;
}

/* One-hot of the first maximum: zeros with ones scattered at the argmax. */
static vkdl_status hardmax_device(onnx_exec *e)
{
    int rank = onnx_in_ndim(e, 0);
    const int64_t *x = onnx_in_dims(e, 0);
    if (onnx_in_dtype(e, 0) != VKDL_F32)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "only float input");
    int64_t g[3];
    VKDL_TRY(softmax_geom(e, rank, x, g));
    if (g[1] == 0)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "an empty axis");
    int64_t g1[3] = {g[0], 1, g[2]};
    if (!e->run)
        VKDL_TRY(onnx_out_set(e, 0, VKDL_F32, rank, x));
    vkdl_tensor *xt = NULL, *x3, *o3, *zeros, *idx, *ones;
    VKDL_TRY(onnx_temp(e, VKDL_F32, 3, g, &zeros));
    VKDL_TRY(onnx_temp(e, VKDL_I32, 3, g1, &idx));
    VKDL_TRY(onnx_temp(e, VKDL_F32, 3, g1, &ones));
    if (e->run)
        VKDL_TRY(onnx_in(e, 0, &xt));
    VKDL_TRY(onnx_reshape(e, xt, 3, g, &x3));
    VKDL_TRY(onnx_reshape(e, onnx_out(e, 0), 3, g, &o3));
    if (!e->run)
        return VKDL_OK;
    VKDL_TRY(vkdl_tensor_fill(zeros, 0));
    VKDL_TRY(vkdl_tensor_fill(ones, 1));
    VKDL_TRY(vkdl_reduce(VKDL_ARGMAX, x3, 1, idx));
    return vkdl_scatter_elements(zeros, idx, ones, 1, VKDL_SCATTER_NONE, o3);
}

static vkdl_status softmax_device(onnx_exec *e)
{
    bool log = !strcmp(e->node->op_type, "LogSoftmax");
    int rank = onnx_in_ndim(e, 0);
    const int64_t *x = onnx_in_dims(e, 0);
    if (onnx_in_dtype(e, 0) != VKDL_F32)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "only float input");
    if (rank < 1)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "a scalar input has no axis to normalise");
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

/* ---------------------------------------------------------------- NegativeLogLikelihoodLoss,
 * SoftmaxCrossEntropyLoss */

/* The loss from log-probabilities lp [N, C, D] and the targets (input 1, known at plan time, so
 * the ignored ones become a mask and a safe index on the host), with the class weights of input
 * 2 when present: -lp[n, t, d] * w[t], then the reduction. */
static vkdl_status nll_tail(onnx_exec *e, vkdl_tensor *lp, int64_t N, int64_t C, int64_t D)
{
    const onnx_host *target;
    VKDL_TRY(onnx_need_host(e, 1, "the target", &target));
    const char *red = onnx_attr_str(e, "reduction", "mean");
    int mode = !strcmp(red, "none") ? 0 : !strcmp(red, "sum") ? 1 : !strcmp(red, "mean") ? 2 : -1;
    if (mode < 0)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "reduction '%s'", red);
    bool use_ii = onnx_attr_get(e, "ignore_index") != NULL;
    int64_t ii = onnx_attr_int(e, "ignore_index", 0), nd = N * D;
    for (int64_t i = 0; i < nd; i++) {
        int64_t t = onnx_get_i(target, i);
        if (!(use_ii && t == ii) && (t < 0 || t >= C))
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "target %lld (element %lld) is outside [0, %lld)",
                             (long long)t, (long long)i, (long long)C);
    }
    bool weight = onnx_has_in(e, 2);
    if (weight && (onnx_in_dtype(e, 2) != VKDL_F32 || onnx_in_ndim(e, 2) != 1 || onnx_in_dims(e, 2)[0] != C))
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "the weights must be float [%lld]", (long long)C);
    int64_t g3[3] = {N, 1, D}, row[2] = {1, nd}, one = 1;
    vkdl_tensor *idx, *mask, *picked, *gw = NULL, *wv = NULL, *prod, *sl = NULL, *sw = NULL, *q = NULL;
    vkdl_tensor *wt = NULL, *idx1 = NULL, *gw3 = NULL, *prod_row, *w_row = NULL, *out;
    VKDL_TRY(onnx_temp(e, VKDL_I32, 3, g3, &idx));
    VKDL_TRY(onnx_temp(e, VKDL_F32, 3, g3, &mask));
    VKDL_TRY(onnx_temp(e, VKDL_F32, 3, g3, &picked));
    if (weight) {
        VKDL_TRY(onnx_temp(e, VKDL_F32, 1, &nd, &gw));
        VKDL_TRY(onnx_temp(e, VKDL_F32, 3, g3, &wv));
    }
    VKDL_TRY(onnx_temp(e, VKDL_F32, 3, g3, &prod));
    if (mode) {
        VKDL_TRY(onnx_temp(e, VKDL_F32, 1, &one, &sl));
        if (mode == 2) {
            VKDL_TRY(onnx_temp(e, VKDL_F32, 1, &one, &sw));
            VKDL_TRY(onnx_temp(e, VKDL_F32, 1, &one, &q));
        }
    }
    if (weight && e->run)
        VKDL_TRY(onnx_in(e, 2, &wt));
    if (weight) {
        VKDL_TRY(onnx_reshape(e, idx, 1, &nd, &idx1));
        VKDL_TRY(onnx_reshape(e, gw, 3, g3, &gw3));
    }
    VKDL_TRY(onnx_reshape(e, prod, 2, row, &prod_row));
    if (mode == 2)
        VKDL_TRY(onnx_reshape(e, weight ? wv : mask, 2, row, &w_row));
    VKDL_TRY(onnx_reshape(e, onnx_out(e, 0), mode ? 1 : 3, mode ? &one : g3, &out));
    if (!e->run)
        return VKDL_OK;
    int32_t *hi = malloc((size_t)nd * sizeof *hi);
    float *hm = malloc((size_t)nd * sizeof *hm);
    vkdl_status s = hi && hm ? VKDL_OK : onnx_fail(e, VKDL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (int64_t i = 0; s == VKDL_OK && i < nd; i++) {
        int64_t t = onnx_get_i(target, i);
        bool ignored = use_ii && t == ii;
        hi[i] = ignored ? 0 : (int32_t)t;
        hm[i] = ignored ? 0.0f : 1.0f;
    }
    if (s == VKDL_OK)
        s = vkdl_tensor_upload(idx, hi, VKDL_I32, (size_t)nd * sizeof *hi);
    if (s == VKDL_OK)
        s = vkdl_tensor_upload(mask, hm, VKDL_F32, (size_t)nd * sizeof *hm);
    free(hi);
    free(hm);
    VKDL_TRY(s);
    VKDL_TRY(vkdl_gather_elements(lp, idx, 1, picked));
    if (weight) {
        VKDL_TRY(vkdl_gather(wt, idx1, 0, gw));
        VKDL_TRY(vkdl_binary(VKDL_MUL, gw3, mask, wv));
    }
    VKDL_TRY(vkdl_binary(VKDL_MUL, picked, weight ? wv : mask, prod));
    if (!mode)
        return vkdl_scale(prod, -1, 0, out);
    VKDL_TRY(vkdl_reduce(VKDL_SUM, prod_row, 1, sl));
    if (mode == 1)
        return vkdl_scale(sl, -1, 0, out);
    VKDL_TRY(vkdl_reduce(VKDL_SUM, w_row, 1, sw));
    VKDL_TRY(vkdl_binary(VKDL_DIV, sl, sw, q));
    return vkdl_scale(q, -1, 0, out);
}

/* Input [N, C, d...] and target [N, d...]: the loss's shapes. */
static vkdl_status loss_shapes(onnx_exec *e, int64_t *N, int64_t *C, int64_t *D)
{
    int rank = onnx_in_ndim(e, 0);
    const int64_t *x = onnx_in_dims(e, 0), *t = onnx_in_dims(e, 1);
    if (onnx_in_dtype(e, 0) != VKDL_F32)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "only float input");
    if (rank < 2 || onnx_in_ndim(e, 1) != rank - 1)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "input rank %d, target rank %d", rank, onnx_in_ndim(e, 1));
    for (int d = 0; d < rank - 1; d++)
        if (t[d] != x[d == 0 ? 0 : d + 1])
            return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "the target's dim %d is %lld, expected %lld", d,
                             (long long)t[d], (long long)x[d == 0 ? 0 : d + 1]);
    *N = x[0];
    *C = x[1];
    *D = dims_prod(x, 2, rank);
    if (*C == 0)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "no classes");
    if (!e->run) {
        bool none = !strcmp(onnx_attr_str(e, "reduction", "mean"), "none");
        VKDL_TRY(onnx_out_set(e, 0, VKDL_F32, none ? rank - 1 : 0, t));
    }
    return VKDL_OK;
}

static vkdl_status nll_device(onnx_exec *e)
{
    int64_t N, C, D;
    VKDL_TRY(loss_shapes(e, &N, &C, &D));
    vkdl_tensor *xt = NULL, *x3;
    if (e->run)
        VKDL_TRY(onnx_in(e, 0, &xt));
    int64_t d3[3] = {N, C, D};
    VKDL_TRY(onnx_reshape(e, xt, 3, d3, &x3));
    return nll_tail(e, x3, N, C, D);
}

/* log_softmax over the classes (moved last when there are further dims), then NLL. */
static vkdl_status sce_device(onnx_exec *e)
{
    int64_t N, C, D;
    VKDL_TRY(loss_shapes(e, &N, &C, &D));
    bool keep = onnx_has_out(e, 1);
    if (!e->run && keep)
        VKDL_TRY(onnx_out_set(e, 1, VKDL_F32, onnx_in_ndim(e, 0), onnx_in_dims(e, 0)));
    int64_t d3[3] = {N, C, D}, t3[3] = {N, D, C}, d2[2] = {N, C};
    vkdl_tensor *xt = NULL, *lp = NULL, *xp = NULL, *lpp = NULL, *x3, *lp3;
    if (!keep)
        VKDL_TRY(onnx_temp(e, VKDL_F32, 3, d3, &lp));
    if (D != 1) {
        VKDL_TRY(onnx_temp(e, VKDL_F32, 3, t3, &xp));
        VKDL_TRY(onnx_temp(e, VKDL_F32, 3, t3, &lpp));
    }
    if (e->run)
        VKDL_TRY(onnx_in(e, 0, &xt));
    VKDL_TRY(onnx_reshape(e, xt, D == 1 ? 2 : 3, D == 1 ? d2 : d3, &x3));
    VKDL_TRY(onnx_reshape(e, keep ? onnx_out(e, 1) : lp, D == 1 ? 2 : 3, D == 1 ? d2 : d3, &lp3));
    vkdl_tensor *lpn;
    VKDL_TRY(onnx_reshape(e, keep ? onnx_out(e, 1) : lp, 3, d3, &lpn));
    if (e->run) {
        static const int swap[3] = {0, 2, 1};
        if (D == 1) {
            VKDL_TRY(vkdl_log_softmax(x3, lp3));
        } else {
            VKDL_TRY(vkdl_permute(x3, swap, xp));
            VKDL_TRY(vkdl_log_softmax(xp, lpp));
            VKDL_TRY(vkdl_permute(lpp, swap, lp3));
        }
    }
    return nll_tail(e, lpn, N, C, D);
}

/* ---------------------------------------------------------------- MatMul, Gemm */

/* MatMul's shapes under NumPy's rules: a 1-D a is a row [1, K], a 1-D b a column [K, 1], and
 * both extra dims are dropped from the result. */
typedef struct mm_shape {
    int na, nb, nbatch, no;
    int64_t am[VKDL_MAX_DIMS], bm[VKDL_MAX_DIMS], batch[VKDL_MAX_DIMS], od[VKDL_MAX_DIMS];
    int64_t M, K, N;
} mm_shape;

static vkdl_status mm_shape_of(const onnx_exec *e, int ra, const int64_t *a, int rb, const int64_t *b, mm_shape *s)
{
    if (ra < 1 || rb < 1)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "scalar operands");
    s->na = ra == 1 ? 2 : ra;
    s->nb = rb == 1 ? 2 : rb;
    if (ra == 1) {
        s->am[0] = 1;
        s->am[1] = a[0];
    } else
        memcpy(s->am, a, (size_t)ra * sizeof *a);
    if (rb == 1) {
        s->bm[0] = b[0];
        s->bm[1] = 1;
    } else
        memcpy(s->bm, b, (size_t)rb * sizeof *b);
    s->M = s->am[s->na - 2];
    s->K = s->am[s->na - 1];
    s->N = s->bm[s->nb - 1];
    if (s->bm[s->nb - 2] != s->K)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "inner dims %lld and %lld differ", (long long)s->K,
                         (long long)s->bm[s->nb - 2]);
    VKDL_TRY(onnx_broadcast(e, s->na - 2, s->am, s->nb - 2, s->bm, &s->nbatch, s->batch));
    if (s->nbatch + 2 > VKDL_MAX_DIMS)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "rank %d", s->nbatch + 2);
    s->no = 0;
    for (int d = 0; d < s->nbatch; d++)
        s->od[s->no++] = s->batch[d];
    if (ra != 1)
        s->od[s->no++] = s->M;
    if (rb != 1)
        s->od[s->no++] = s->N;
    return VKDL_OK;
}

static vkdl_status matmul_host(onnx_exec *e)
{
    const onnx_host *a, *b;
    VKDL_TRY(onnx_need_host(e, 0, "A", &a));
    VKDL_TRY(onnx_need_host(e, 1, "B", &b));
    if (a->dtype != b->dtype)
        return onnx_fail(e, VKDL_ERROR_DTYPE_MISMATCH, "A is %s, B %s", vkdl_dtype_name(a->dtype),
                         vkdl_dtype_name(b->dtype));
    mm_shape s;
    VKDL_TRY(mm_shape_of(e, a->ndim, a->dims, b->ndim, b->dims, &s));
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, a->dtype, s.no, s.od, &y));
    bool fl = onnx_dtype_is_float(a->dtype);
    int64_t batches = dims_prod(s.batch, 0, s.nbatch);
    for (int64_t t = 0; t < batches; t++) {
        int64_t ab = onnx_bcast_src(t, s.nbatch, s.batch, s.na - 2, s.am),
                bb = onnx_bcast_src(t, s.nbatch, s.batch, s.nb - 2, s.bm);
        for (int64_t m = 0; m < s.M; m++)
            for (int64_t n = 0; n < s.N; n++) {
                double f = 0;
                int64_t v = 0;
                for (int64_t k = 0; k < s.K; k++) {
                    int64_t ia = (ab * s.M + m) * s.K + k, ib = (bb * s.K + k) * s.N + n;
                    if (fl)
                        f += onnx_get_f(a, ia) * onnx_get_f(b, ib);
                    else
                        v = (int64_t)((uint64_t)v + (uint64_t)onnx_get_i(a, ia) * (uint64_t)onnx_get_i(b, ib));
                }
                int64_t io = (t * s.M + m) * s.N + n;
                if (fl)
                    onnx_set_f(y, io, f);
                else
                    onnx_set_i(y, io, v);
            }
    }
    return VKDL_OK;
}

static vkdl_status matmul_device(onnx_exec *e)
{
    int ra = onnx_in_ndim(e, 0), rb = onnx_in_ndim(e, 1);
    const int64_t *a = onnx_in_dims(e, 0), *b = onnx_in_dims(e, 1);
    if (onnx_in_dtype(e, 0) != VKDL_F32 || onnx_in_dtype(e, 1) != VKDL_F32)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "only float MatMul");
    mm_shape sh;
    VKDL_TRY(mm_shape_of(e, ra, a, rb, b, &sh));
    int na = sh.na, nb = sh.nb, nbatch = sh.nbatch;
    const int64_t *am = sh.am, *bm = sh.bm, *batch = sh.batch;
    int64_t M = sh.M, K = sh.K, N = sh.N;
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
    if (!e->run)
        VKDL_TRY(onnx_out_set(e, 0, VKDL_F32, sh.no, sh.od));
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
    /* Fused while planning (lib/onnx/fuse.c): a bias [N] as a third input, and an activation with
     * its default parameters as vkdl.act. */
    vkdl_tensor *bias = NULL;
    if (onnx_has_in(e, 2)) {
        if (onnx_in_ndim(e, 2) != 1 || onnx_in_dims(e, 2)[0] != N)
            return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "a fused bias must be [%lld]", (long long)N);
        if (e->run)
            VKDL_TRY(onnx_in(e, 2, &bias));
    }
    vkdl_matmul_info mi = {.alpha = 1, .bias = bias};
    if (onnx_attr_get(e, "vkdl.act")) {
        mi.fuse_act = 1;
        mi.act = (vkdl_unary_op)onnx_attr_int(e, "vkdl.act", 0);
    }
    return e->run ? vkdl_matmul(a3, b3, o3, &mi) : VKDL_OK;
}

static vkdl_status gemm_host(onnx_exec *e)
{
    const onnx_host *a, *b, *c = NULL;
    VKDL_TRY(onnx_need_host(e, 0, "A", &a));
    VKDL_TRY(onnx_need_host(e, 1, "B", &b));
    if (onnx_has_in(e, 2))
        VKDL_TRY(onnx_need_host(e, 2, "C", &c));
    if (!onnx_dtype_is_float(a->dtype) || a->dtype != b->dtype || (c && c->dtype != a->dtype))
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "Gemm of %s on the host (float only)", vkdl_dtype_name(a->dtype));
    if (a->ndim != 2 || b->ndim != 2)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "A and B must be matrices");
    bool ta = onnx_attr_int(e, "transA", 0), tb = onnx_attr_int(e, "transB", 0);
    double alpha = onnx_attr_float(e, "alpha", 1), beta = onnx_attr_float(e, "beta", 1);
    int64_t M = ta ? a->dims[1] : a->dims[0], K = ta ? a->dims[0] : a->dims[1], N = tb ? b->dims[0] : b->dims[1];
    if ((tb ? b->dims[1] : b->dims[0]) != K)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "inner dims %lld and %lld differ", (long long)K,
                         (long long)(tb ? b->dims[1] : b->dims[0]));
    int64_t od[2] = {M, N};
    if (c) {
        int n;
        int64_t bd[2];
        VKDL_TRY(onnx_broadcast(e, c->ndim, c->dims, 2, od, &n, bd));
        if (n != 2 || bd[0] != M || bd[1] != N)
            return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "C does not broadcast to %lldx%lld", (long long)M,
                             (long long)N);
    }
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, a->dtype, 2, od, &y));
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double acc = 0;
            for (int64_t k = 0; k < K; k++)
                acc += onnx_get_f(a, ta ? k * M + m : m * K + k) * onnx_get_f(b, tb ? n * K + k : k * N + n);
            double v = alpha * acc;
            if (c)
                v += beta * onnx_get_f(c, onnx_bcast_src(m * N + n, 2, od, c->ndim, c->dims));
            onnx_set_f(y, m * N + n, v);
        }
    return VKDL_OK;
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

/* ---------------------------------------------------------------- Einsum */

typedef struct einsum_term {
    int n;
    char l[VKDL_MAX_DIMS];
} einsum_term;

static int term_find(const einsum_term *t, char c)
{
    for (int i = 0; i < t->n; i++)
        if (t->l[i] == c)
            return i;
    return -1;
}

static bool perm_identity(const int *perm, int n)
{
    for (int i = 0; i < n; i++)
        if (perm[i] != i)
            return false;
    return true;
}

/* x's letters rearranged in the order of `order` (letters of x): the permutation and its dims. */
static void term_perm(const einsum_term *x, const int64_t *dims, const einsum_term *order, int *perm, int64_t *pd)
{
    for (int i = 0; i < order->n; i++) {
        perm[i] = term_find(x, order->l[i]);
        pd[i] = dims[perm[i]];
    }
}

/* "ij,jk->ik": the operands' and the output's letters, checked against the inputs' ranks. An
 * ellipsis stands for the same dims in every term (written as the characters '0', '1'...);
 * the implicit output (no "->") has them, then the letters used once in alphabetical order.
 * repeats: a letter may repeat within an operand (a diagonal). */
static vkdl_status einsum_parse(const onnx_exec *e, const char *eq, bool repeats, einsum_term *t, int *n_ops)
{
    char term[3][64];
    int len[3] = {0, 0, 0}, k = 0;
    bool out = false;
    memset(t, 0, 3 * sizeof *t);
    *n_ops = 0;
    for (const char *p = eq; *p; p++) {
        if (*p == ' ')
            continue;
        if (*p == ',' && !out && k < 1) {
            k++;
        } else if (p[0] == '-' && p[1] == '>' && !out) {
            out = true;
            p++;
        } else if (len[out ? 2 : k] < 63 && *p != ',' && *p != '-') {
            term[out ? 2 : k][len[out ? 2 : k]++] = *p;
        } else {
            return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "equation '%s' (at most two operands)", eq);
        }
    }
    *n_ops = k + 1;
    if (*n_ops != onnx_n_in(e))
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "equation '%s' has %d operands, the node %d inputs", eq,
                         *n_ops, onnx_n_in(e));
    int ell = -1;
    for (int i = 0; i < 3; i++) {
        if (i == *n_ops && i < 2)
            continue;
        if (i == 2 && !out)
            break;
        int letters = 0, dots = -1;
        for (int j = 0; j < len[i]; j++) {
            char c = term[i][j];
            if (c == '.' && dots < 0 && j + 2 < len[i] && term[i][j + 1] == '.' && term[i][j + 2] == '.') {
                dots = j;
                j += 2;
            } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
                letters++;
            } else {
                return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "equation '%s': '%c'", eq, c);
            }
        }
        int ne = i < 2 ? onnx_in_ndim(e, i) - letters : dots >= 0 ? (ell > 0 ? ell : 0) : 0;
        if (ne < 0 || (dots < 0 && ne != 0) || letters + ne > VKDL_MAX_DIMS)
            return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "equation '%s': term %d does not fit rank %d", eq, i,
                             i < 2 ? onnx_in_ndim(e, i) : letters);
        if (i < 2 && dots >= 0) {
            if (ell >= 0 && ell != ne)
                return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "equation '%s': ellipses of different ranks", eq);
            ell = ne;
        }
        for (int j = 0; j < len[i]; j++) {
            if (j == dots) {
                for (int d = 0; d < ne; d++)
                    t[i].l[t[i].n++] = (char)('0' + d);
                j += 2;
                continue;
            }
            if ((!repeats || i == 2) && term_find(&t[i], term[i][j]) >= 0)
                return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "equation '%s': a letter repeated in one term", eq);
            t[i].l[t[i].n++] = term[i][j];
        }
    }
    if (!out) {
        for (int d = 0; d < (ell > 0 ? ell : 0); d++)
            t[2].l[t[2].n++] = (char)('0' + d);
        for (int c = 'A'; c <= 'z'; c++) {
            int uses = 0;
            for (int i = 0; i < *n_ops; i++)
                for (int j = 0; j < t[i].n; j++)
                    uses += t[i].l[j] == c;
            if (uses == 1 && t[2].n < VKDL_MAX_DIMS)
                t[2].l[t[2].n++] = (char)c;
        }
    }
    for (int i = 0; i < t[2].n; i++)
        if (term_find(&t[0], t[2].l[i]) < 0 && (*n_ops < 2 || term_find(&t[1], t[2].l[i]) < 0))
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "equation '%s': output letter '%c' is in no operand", eq,
                             t[2].l[i]);
    return VKDL_OK;
}

/* Any parsed equation, by walking every combination of the letters' values, in double (floats)
 * or int64 (integers). */
static vkdl_status einsum_host(onnx_exec *e)
{
    const char *eq = onnx_attr_str(e, "equation", "");
    einsum_term t[3];
    int n_ops;
    VKDL_TRY(einsum_parse(e, eq, true, t, &n_ops));
    const onnx_host *x[2];
    einsum_term all = {0};
    int64_t size[2 * VKDL_MAX_DIMS];
    for (int i = 0; i < n_ops; i++) {
        VKDL_TRY(onnx_need_host(e, i, "an operand", &x[i]));
        if (x[i]->dtype != x[0]->dtype || x[i]->ndim != t[i].n)
            return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "operand %d is %s of rank %d, its term %d letters", i,
                             vkdl_dtype_name(x[i]->dtype), x[i]->ndim, t[i].n);
        for (int d = 0; d < t[i].n; d++) {
            int j = term_find(&all, t[i].l[d]);
            if (j >= 0 && size[j] != x[i]->dims[d])
                return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "letter '%c' is %lld and %lld long (no broadcasting)",
                                 t[i].l[d], (long long)size[j], (long long)x[i]->dims[d]);
            if (j < 0 && all.n < VKDL_MAX_DIMS) {
                size[all.n] = x[i]->dims[d];
                all.l[all.n++] = t[i].l[d];
            } else if (j < 0) {
                return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "more than %d letters", VKDL_MAX_DIMS);
            }
        }
    }
    int64_t od[VKDL_MAX_DIMS];
    for (int d = 0; d < t[2].n; d++)
        od[d] = size[term_find(&all, t[2].l[d])];
    onnx_host *y;
    VKDL_TRY(onnx_out_host(e, 0, x[0]->dtype, t[2].n, od, &y));
    bool fl = onnx_dtype_is_float(x[0]->dtype);
    double *f = calloc((size_t)(y->numel ? y->numel : 1), sizeof *f);
    int64_t *v = calloc((size_t)(y->numel ? y->numel : 1), sizeof *v);
    if (!f || !v) {
        free(f);
        free(v);
        return onnx_fail(e, VKDL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    int64_t total = dims_prod(size, 0, all.n), idx[VKDL_MAX_DIMS] = {0};
    for (int64_t it = 0; it < total; it++) {
        int64_t flat[3] = {0, 0, 0};
        for (int k = 0; k < 3; k++)
            for (int d = 0; d < t[k].n; d++) {
                int j = term_find(&all, t[k].l[d]);
                flat[k] = flat[k] * size[j] + idx[j];
            }
        double pf = 1;
        int64_t pv = 1;
        for (int i = 0; i < n_ops; i++) {
            if (fl)
                pf *= onnx_get_f(x[i], flat[i]);
            else
                pv = (int64_t)((uint64_t)pv * (uint64_t)onnx_get_i(x[i], flat[i]));
        }
        f[flat[2]] += pf;
        v[flat[2]] = (int64_t)((uint64_t)v[flat[2]] + (uint64_t)pv);
        for (int d = all.n - 1; d >= 0 && ++idx[d] == size[d]; d--)
            idx[d] = 0;
    }
    for (int64_t i = 0; i < y->numel; i++) {
        if (fl)
            onnx_set_f(y, i, f[i]);
        else
            onnx_set_i(y, i, v[i]);
    }
    free(f);
    free(v);
    return VKDL_OK;
}

/* One operand: a permutation, then a sum over the letters the output drops. Two: one batched
 * matmul of [batch, M, K] by [batch, K, N] (letters in both operands and the output, in the first
 * and the output, in both operands only, in the second and the output), then a permutation. */
static vkdl_status einsum_device(onnx_exec *e)
{
    const char *eq = onnx_attr_str(e, "equation", "");
    einsum_term t[3];
    int n_ops;
    VKDL_TRY(einsum_parse(e, eq, false, t, &n_ops));
    int64_t size[128];
    for (int i = 0; i < 128; i++)
        size[i] = -1;
    for (int i = 0; i < n_ops; i++) {
        if (onnx_in_dtype(e, i) != VKDL_F32)
            return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "only float operands");
        if (onnx_in_ndim(e, i) != t[i].n)
            return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "operand %d has rank %d, its term %d letters", i,
                             onnx_in_ndim(e, i), t[i].n);
        for (int d = 0; d < t[i].n; d++) {
            int64_t *sz = &size[(int)t[i].l[d]];
            if (*sz >= 0 && *sz != onnx_in_dims(e, i)[d])
                return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "letter '%c' is %lld and %lld long (no broadcasting)",
                                 t[i].l[d], (long long)*sz, (long long)onnx_in_dims(e, i)[d]);
            *sz = onnx_in_dims(e, i)[d];
        }
    }
    int64_t od[VKDL_MAX_DIMS];
    for (int d = 0; d < t[2].n; d++)
        od[d] = size[(int)t[2].l[d]];
    if (!e->run)
        VKDL_TRY(onnx_out_set(e, 0, VKDL_F32, t[2].n, od));
    int64_t outer = dims_prod(od, 0, t[2].n);
    int perm[VKDL_MAX_DIMS];
    int64_t pd[VKDL_MAX_DIMS];
    if (n_ops == 1) {
        einsum_term order = t[2];
        for (int d = 0; d < t[0].n; d++)
            if (term_find(&t[2], t[0].l[d]) < 0)
                order.l[order.n++] = t[0].l[d];
        term_perm(&t[0], onnx_in_dims(e, 0), &order, perm, pd);
        bool permute = !perm_identity(perm, order.n), sum = order.n > t[2].n;
        int64_t d2[2] = {outer, dims_prod(pd, t[2].n, order.n)};
        vkdl_tensor *xt = NULL, *xp = NULL, *x2, *o1;
        if (permute && sum)
            VKDL_TRY(onnx_temp(e, VKDL_F32, order.n, pd, &xp));
        if (e->run)
            VKDL_TRY(onnx_in(e, 0, &xt));
        VKDL_TRY(onnx_reshape(e, xp ? xp : xt, 2, d2, &x2));
        VKDL_TRY(onnx_reshape(e, onnx_out(e, 0), 1, &outer, &o1));
        if (!e->run)
            return VKDL_OK;
        if (!sum)
            return permute ? vkdl_permute(xt, perm, onnx_out(e, 0)) : vkdl_copy(xt, onnx_out(e, 0));
        if (permute)
            VKDL_TRY(vkdl_permute(xt, perm, xp));
        return vkdl_reduce(VKDL_SUM, x2, 1, o1);
    }
    einsum_term batch = {0}, mm = {0}, kk = {0}, nn = {0};
    for (int d = 0; d < t[2].n; d++) {
        char c = t[2].l[d];
        bool in_a = term_find(&t[0], c) >= 0, in_b = term_find(&t[1], c) >= 0;
        einsum_term *cls = in_a && in_b ? &batch : in_a ? &mm : &nn;
        cls->l[cls->n++] = c;
    }
    for (int i = 0; i < 2; i++)
        for (int d = 0; d < t[i].n; d++) {
            char c = t[i].l[d];
            if (term_find(&t[2], c) >= 0)
                continue;
            if (term_find(&t[1 - i], c) < 0)
                return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "equation '%s': letter '%c' is summed within one operand",
                                 eq, c);
            if (i == 0)
                kk.l[kk.n++] = c;
        }
    einsum_term ao = batch, bo = batch, po = batch;
    for (int i = 0; i < mm.n; i++)
        ao.l[ao.n++] = po.l[po.n++] = mm.l[i];
    for (int i = 0; i < kk.n; i++)
        ao.l[ao.n++] = bo.l[bo.n++] = kk.l[i];
    for (int i = 0; i < nn.n; i++)
        bo.l[bo.n++] = po.l[po.n++] = nn.l[i];
    int pa[VKDL_MAX_DIMS], pb[VKDL_MAX_DIMS], pp[VKDL_MAX_DIMS];
    int64_t ad[VKDL_MAX_DIMS], bd[VKDL_MAX_DIMS], qd[VKDL_MAX_DIMS];
    term_perm(&t[0], onnx_in_dims(e, 0), &ao, pa, ad);
    term_perm(&t[1], onnx_in_dims(e, 1), &bo, pb, bd);
    term_perm(&po, od, &t[2], pp, pd);
    for (int d = 0; d < po.n; d++)
        qd[d] = size[(int)po.l[d]];
    int64_t B = dims_prod(ad, 0, batch.n), M = dims_prod(ad, batch.n, batch.n + mm.n),
            K = dims_prod(ad, batch.n + mm.n, ao.n), N = dims_prod(bd, batch.n + kk.n, bo.n);
    bool perm_a = !perm_identity(pa, ao.n), perm_b = !perm_identity(pb, bo.n), perm_o = !perm_identity(pp, po.n);
    int64_t a3[3] = {B, M, K}, b3[3] = {B, K, N}, o3[3] = {B, M, N};
    vkdl_tensor *at = NULL, *bt = NULL, *ap = NULL, *bp = NULL, *prod = NULL, *a3t, *b3t, *o3t;
    if (perm_a)
        VKDL_TRY(onnx_temp(e, VKDL_F32, ao.n, ad, &ap));
    if (perm_b)
        VKDL_TRY(onnx_temp(e, VKDL_F32, bo.n, bd, &bp));
    if (perm_o)
        VKDL_TRY(onnx_temp(e, VKDL_F32, po.n, qd, &prod));
    if (e->run) {
        VKDL_TRY(onnx_in(e, 0, &at));
        VKDL_TRY(onnx_in(e, 1, &bt));
    }
    int r = batch.n ? 3 : 2, o = batch.n ? 0 : 1;
    VKDL_TRY(onnx_reshape(e, perm_a ? ap : at, r, a3 + o, &a3t));
    VKDL_TRY(onnx_reshape(e, perm_b ? bp : bt, r, b3 + o, &b3t));
    VKDL_TRY(onnx_reshape(e, perm_o ? prod : onnx_out(e, 0), r, o3 + o, &o3t));
    if (!e->run)
        return VKDL_OK;
    if (perm_a)
        VKDL_TRY(vkdl_permute(at, pa, ap));
    if (perm_b)
        VKDL_TRY(vkdl_permute(bt, pb, bp));
    VKDL_TRY(vkdl_matmul(a3t, b3t, o3t, NULL));
    return perm_o ? vkdl_permute(prod, pp, onnx_out(e, 0)) : VKDL_OK;
}

/* ---------------------------------------------------------------- LSTM, GRU, RNN */

/* A box of src copied into dst: dst[out_offset + i] = src[start + i * step] for i < extent (3-D). */
static vkdl_status copy_box(const vkdl_tensor *src, vkdl_tensor *dst, int64_t s0, int64_t s1, int64_t o0, int64_t o1,
                            int64_t e0, int64_t e1, int64_t e2)
{
    vkdl_view_info vi = {.start = {s0, s1, 0}, .out_offset = {o0, o1, 0}, .extent = {e0, e1, e2}};
    return vkdl_view_copy(src, dst, &vi);
}

/* ONNX's GRU with linear_before_reset 0, h~ = tanh(x Wh + (r * h) Rh + Rbh + Wbh), composed per
 * step: xw [T, B, 3H] = x W^T + Wb for every step at once, then per step z and r from one matmul
 * of h by R's z and r rows, and h' = h~ + z (h - h~). g holds R's z|r rows [1, 2H, H] and h rows
 * [1, H, H], their biases (NULL without B), four [1, B, 2H] and eight [1, B, H] scratch tensors. */
static vkdl_status gru0_steps(const vkdl_tensor *x, const vkdl_tensor *h0, const vkdl_tensor *w, const vkdl_tensor *r,
                              const vkdl_tensor *wb, const vkdl_tensor *rb, vkdl_tensor *xw, vkdl_tensor *const *g,
                              const vkdl_tensor *bzr, const vkdl_tensor *bhn, vkdl_tensor *out, vkdl_tensor *hn)
{
    int64_t T = vkdl_tensor_dim(x, 0), B = vkdl_tensor_dim(x, 1), H = vkdl_tensor_dim(hn, 2);
    VKDL_TRY(copy_box(r, g[0], 0, 0, 0, 0, 1, 2 * H, H));
    VKDL_TRY(copy_box(r, g[1], 0, 2 * H, 0, 0, 1, H, H));
    if (rb) {
        VKDL_TRY(copy_box(rb, g[2], 0, 0, 0, 0, 1, 2 * H, 1));
        VKDL_TRY(copy_box(rb, g[3], 0, 2 * H, 0, 0, 1, H, 1));
    }
    vkdl_matmul_info xi = {.trans_b = 1, .alpha = 1, .bias = wb};
    VKDL_TRY(vkdl_matmul(x, w, xw, &xi));
    vkdl_tensor *xzr = g[4], *hzr = g[5], *sum = g[6], *zr = g[7], *z = g[8], *rr = g[9], *rh = g[10], *hh = g[11];
    vkdl_tensor *xh = g[12], *ht = g[13], *diff = g[14], *other = g[15];
    vkdl_matmul_info zi = {.trans_b = 1, .alpha = 1, .bias = bzr}, hi = {.trans_b = 1, .alpha = 1, .bias = bhn};
    const vkdl_tensor *h = h0;
    for (int64_t t = 0; t < T; t++) {
        /* The last step writes hn; the others alternate so that h and h' never share a tensor. */
        vkdl_tensor *next = (T - 1 - t) % 2 ? other : hn;
        vkdl_view_info at = {.start = {t, 0, 0}, .extent = {1, B, 2 * H}};
        VKDL_TRY(vkdl_view_copy(xw, xzr, &at));
        at.start[2] = 2 * H;
        at.extent[2] = H;
        VKDL_TRY(vkdl_view_copy(xw, xh, &at));
        VKDL_TRY(vkdl_matmul(h, g[0], hzr, &zi));
        VKDL_TRY(vkdl_binary(VKDL_ADD, xzr, hzr, sum));
        VKDL_TRY(vkdl_unary(VKDL_SIGMOID, sum, zr));
        VKDL_TRY(copy_box(zr, z, 0, 0, 0, 0, 1, B, H));
        vkdl_view_info rcol = {.start = {0, 0, H}, .extent = {1, B, H}};
        VKDL_TRY(vkdl_view_copy(zr, rr, &rcol));
        VKDL_TRY(vkdl_binary(VKDL_MUL, rr, h, rh));
        VKDL_TRY(vkdl_matmul(rh, g[1], hh, &hi));
        VKDL_TRY(vkdl_binary(VKDL_ADD, xh, hh, diff));
        VKDL_TRY(vkdl_unary(VKDL_TANH, diff, ht));
        VKDL_TRY(vkdl_binary(VKDL_SUB, h, ht, diff));
        VKDL_TRY(vkdl_binary(VKDL_MUL, z, diff, rh));
        VKDL_TRY(vkdl_binary(VKDL_ADD, ht, rh, next));
        VKDL_TRY(copy_box(next, out, 0, 0, t, 0, 1, B, H));
        h = next;
    }
    return VKDL_OK;
}

/* ONNX's LSTM with peepholes P (i, o, f), composed per step in ONNX's gate order i, o, f, c:
 * xw [T, B, 4H] = x W^T + Wb + Rb for every step at once, then per step the gates from one matmul
 * of h by R, with P_i and P_f times the previous cell and P_o times the new one. p: the three
 * peephole rows [1, 1, H]; g: three [1, B, 4H] and thirteen [1, B, H] scratch tensors. */
static vkdl_status lstmp_steps(const vkdl_tensor *x, const vkdl_tensor *h0, const vkdl_tensor *c0,
                               const vkdl_tensor *w, const vkdl_tensor *r, const vkdl_tensor *bsum,
                               vkdl_tensor *const *p, vkdl_tensor *xw, vkdl_tensor *const *g, vkdl_tensor *out,
                               vkdl_tensor *hn, vkdl_tensor *cn)
{
    int64_t T = vkdl_tensor_dim(x, 0), B = vkdl_tensor_dim(x, 1), H = vkdl_tensor_dim(hn, 2);
    vkdl_matmul_info xi = {.trans_b = 1, .alpha = 1, .bias = bsum}, hi = {.trans_b = 1, .alpha = 1};
    VKDL_TRY(vkdl_matmul(x, w, xw, &xi));
    vkdl_tensor *gx = g[0], *gh = g[1], *pre = g[2], *gate[4] = {g[3], g[4], g[5], g[6]}, *t1 = g[7], *t2 = g[8];
    vkdl_tensor *ig = g[9], *fg = g[10], *og = g[11], *cc = g[12], *th = g[13], *h_other = g[14], *c_other = g[15];
    const vkdl_tensor *h = h0, *c = c0;
    for (int64_t t = 0; t < T; t++) {
        /* The last step writes hn and cn; the others alternate so that no op reads what it writes. */
        vkdl_tensor *h_next = (T - 1 - t) % 2 ? h_other : hn, *c_next = (T - 1 - t) % 2 ? c_other : cn;
        vkdl_view_info at = {.start = {t, 0, 0}, .extent = {1, B, 4 * H}};
        VKDL_TRY(vkdl_view_copy(xw, gx, &at));
        VKDL_TRY(vkdl_matmul(h, r, gh, &hi));
        VKDL_TRY(vkdl_binary(VKDL_ADD, gx, gh, pre));
        for (int j = 0; j < 4; j++) {
            vkdl_view_info col = {.start = {0, 0, j * H}, .extent = {1, B, H}};
            VKDL_TRY(vkdl_view_copy(pre, gate[j], &col));
        }
        VKDL_TRY(vkdl_binary(VKDL_MUL, p[0], c, t1));
        VKDL_TRY(vkdl_binary(VKDL_ADD, gate[0], t1, t2));
        VKDL_TRY(vkdl_unary(VKDL_SIGMOID, t2, ig));
        VKDL_TRY(vkdl_binary(VKDL_MUL, p[2], c, t1));
        VKDL_TRY(vkdl_binary(VKDL_ADD, gate[2], t1, t2));
        VKDL_TRY(vkdl_unary(VKDL_SIGMOID, t2, fg));
        VKDL_TRY(vkdl_unary(VKDL_TANH, gate[3], cc));
        VKDL_TRY(vkdl_binary(VKDL_MUL, fg, c, t1));
        VKDL_TRY(vkdl_binary(VKDL_MUL, ig, cc, t2));
        VKDL_TRY(vkdl_binary(VKDL_ADD, t1, t2, c_next));
        VKDL_TRY(vkdl_binary(VKDL_MUL, p[1], c_next, t1));
        VKDL_TRY(vkdl_binary(VKDL_ADD, gate[1], t1, t2));
        VKDL_TRY(vkdl_unary(VKDL_SIGMOID, t2, og));
        VKDL_TRY(vkdl_unary(VKDL_TANH, c_next, th));
        VKDL_TRY(vkdl_binary(VKDL_MUL, og, th, h_next));
        VKDL_TRY(copy_box(h_next, out, 0, 0, t, 0, 1, B, H));
        h = h_next;
        c = c_next;
    }
    return VKDL_OK;
}

/* ONNX's recurrent layers on vkdl_lstm / vkdl_gru (one call per direction, with the gates'
 * weights reordered into PyTorch's order by copies, and a reversed direction run on the
 * time-reversed input); RNN, GRU with linear_before_reset 0 and LSTM with peepholes composed
 * from one matmul of every step's input and, per step, a matmul of the hidden state and
 * elementwise ops. Canonical tensors are time-major [T, B, ...]; layout 1 (batch-major) is
 * permuted on the way in and out. */
static vkdl_status rnn_device(onnx_exec *e)
{
    const char *type = e->node->op_type;
    bool lstm = !strcmp(type, "LSTM"), gru = !strcmp(type, "GRU");
    int G = lstm ? 4 : gru ? 3 : 1;
    /* vkdl's gate j is ONNX's gate src[j]: LSTM i, o, f, c to i, f, g, o; GRU z, r, h to r, z, n. */
    static const int lstm_src[4] = {0, 2, 3, 1}, gru_src[3] = {1, 0, 2}, same[4] = {0, 1, 2, 3};
    /* GRU with linear_before_reset 0 and LSTM with peepholes are composed per step like RNN, in
     * ONNX's gate order. */
    bool gru0 = gru && !onnx_attr_int(e, "linear_before_reset", 0), lstmp = lstm && onnx_has_in(e, 7);
    bool kernel = G > 1 && !gru0 && !lstmp;
    const int *src = kernel ? (lstm ? lstm_src : gru_src) : same;
    for (int i = 0; i < 3; i++)
        if (onnx_in_dtype(e, i) != VKDL_F32)
            return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "only float X, W and R");
    /* Exporters may spell out the default activations (PyTorch's RNN writes Tanh): those are
     * accepted, per direction; any other is refused. */
    const onnx_attr *acts = onnx_attr_get(e, "activations");
    if (acts) {
        static const char *const defaults[3][3] = {{"Tanh"}, {"Sigmoid", "Tanh"}, {"Sigmoid", "Tanh", "Tanh"}};
        int per = lstm ? 3 : gru ? 2 : 1, ndir = !strcmp(onnx_attr_str(e, "direction", "forward"), "bidirectional") ? 2 : 1;
        bool ok = acts->type == ONNX_ATTR_STRINGS && acts->n == per * ndir && !onnx_attr_get(e, "activation_alpha") &&
                  !onnx_attr_get(e, "activation_beta");
        for (int i = 0; ok && i < acts->n; i++)
            ok = !strcmp(acts->strings[i], defaults[per - 1][i % per]);
        if (!ok)
            return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "activations other than the defaults");
    }
    if (onnx_attr_get(e, "clip"))
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "clip");
    if (lstm && onnx_attr_int(e, "input_forget", 0))
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "input_forget");
    int64_t layout = onnx_attr_int(e, "layout", 0);
    const char *dir = onnx_attr_str(e, "direction", "forward");
    int dirs = !strcmp(dir, "bidirectional") ? 2 : 1;
    if (layout != 0 && layout != 1)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "layout %lld", (long long)layout);
    if (strcmp(dir, "forward") && strcmp(dir, "reverse") && dirs != 2)
        return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "direction '%s'", dir);
    if (onnx_in_ndim(e, 0) != 3 || onnx_in_ndim(e, 1) != 3 || onnx_in_ndim(e, 2) != 3)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "X, W and R must have rank 3");
    const int64_t *x = onnx_in_dims(e, 0), *w = onnx_in_dims(e, 1), *r = onnx_in_dims(e, 2);
    int64_t T = x[layout ? 1 : 0], B = x[layout ? 0 : 1], I = x[2], H = r[2], GH = G * H;
    if (onnx_attr_int(e, "hidden_size", H) != H || w[0] != dirs || w[1] != GH || w[2] != I || r[0] != dirs ||
        r[1] != GH || H < 1 || T < 1)
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "W %lldx%lldx%lld, R %lldx%lldx%lld for %d direction(s), "
                         "hidden_size %lld, input size %lld", (long long)w[0], (long long)w[1], (long long)w[2],
                         (long long)r[0], (long long)r[1], (long long)r[2], dirs,
                         (long long)onnx_attr_int(e, "hidden_size", H), (long long)I);
    bool bias = onnx_has_in(e, 3), has_h0 = onnx_has_in(e, 5), has_c0 = lstm && onnx_has_in(e, 6);
    if (bias && (onnx_in_ndim(e, 3) != 2 || onnx_in_dims(e, 3)[0] != dirs || onnx_in_dims(e, 3)[1] != 2 * GH))
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "B must be [%d, %lld]", dirs, (long long)(2 * GH));
    int64_t hd[3] = {layout ? B : dirs, layout ? dirs : B, H};
    for (int i = 5; i < (lstm ? 7 : 6); i++)
        if (onnx_has_in(e, i) && (onnx_in_ndim(e, i) != 3 || memcmp(onnx_in_dims(e, i), hd, sizeof hd)))
            return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "initial_h and initial_c must be %lldx%lldx%lld",
                             (long long)hd[0], (long long)hd[1], (long long)hd[2]);
    if (onnx_has_in(e, 4)) {
        const onnx_host *lens;
        VKDL_TRY(onnx_need_host(e, 4, "sequence_lens", &lens));
        for (int64_t i = 0; i < lens->numel; i++)
            if (onnx_get_i(lens, i) != T)
                return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "sequence_lens other than the sequence length %lld",
                                 (long long)T);
    }
    for (int i = 3; i < onnx_n_in(e) && i < 8; i++)
        if (i != 4 && onnx_has_in(e, i) && onnx_in_dtype(e, i) != VKDL_F32)
            return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "only float B, initial_h, initial_c and P");
    if (lstmp && (onnx_in_ndim(e, 7) != 2 || onnx_in_dims(e, 7)[0] != dirs || onnx_in_dims(e, 7)[1] != 3 * H))
        return onnx_fail(e, VKDL_ERROR_SHAPE_MISMATCH, "P must be [%d, %lld]", dirs, (long long)(3 * H));
    int64_t yd[4] = {T, dirs, B, H}, yl[4] = {B, T, dirs, H};
    if (!e->run) {
        if (onnx_has_out(e, 0))
            VKDL_TRY(onnx_out_set(e, 0, VKDL_F32, 4, layout ? yl : yd));
        if (onnx_has_out(e, 1))
            VKDL_TRY(onnx_out_set(e, 1, VKDL_F32, 3, hd));
        if (lstm && onnx_has_out(e, 2))
            VKDL_TRY(onnx_out_set(e, 2, VKDL_F32, 3, hd));
    }
    vkdl_tensor *in[8] = {0}, *xs = NULL, *ycan = NULL, *b3 = NULL, *p3 = NULL;
    int64_t tbi[3] = {T, B, I}, b3d[3] = {dirs, 2 * GH, 1}, p3d[3] = {dirs, 3, H};
    if (layout)
        VKDL_TRY(onnx_temp(e, VKDL_F32, 3, tbi, &xs));
    if (layout && onnx_has_out(e, 0))
        VKDL_TRY(onnx_temp(e, VKDL_F32, 4, yd, &ycan));
    if (e->run)
        for (int i = 0; i < 8 && i < onnx_n_in(e); i++)
            if (i != 4 && onnx_has_in(e, i))
                VKDL_TRY(onnx_in(e, i, &in[i]));
    if (bias)
        VKDL_TRY(onnx_reshape(e, in[3], 3, b3d, &b3));
    if (lstmp)
        VKDL_TRY(onnx_reshape(e, in[7], 3, p3d, &p3));
    if (e->run && layout) {
        static const int swap[3] = {1, 0, 2};
        VKDL_TRY(vkdl_permute(in[0], swap, xs));
    }
    if (!layout)
        xs = in[0];
    for (int d = 0; d < dirs; d++) {
        bool rev = d == 1 || !strcmp(dir, "reverse");
        int64_t wi[3] = {1, GH, I}, wh[3] = {1, GH, H}, bb[3] = {1, GH, 1}, bh[3] = {1, B, H}, td[3] = {T, B, H};
        int64_t hl[3] = {layout ? B : 1, layout ? 1 : B, H}, w2[2] = {GH, I}, r2[2] = {GH, H}, h2[2] = {B, H};
        int64_t t4[4] = {T, 1, B, H}, ws[3];
        (lstm ? vkdl_lstm_workspace_shape : vkdl_gru_workspace_shape)(T, B, H, ws);
        vkdl_tensor *xr = NULL, *wih, *whh, *bih = NULL, *bhh = NULL, *h0 = NULL, *c0 = NULL, *out, *hn, *cn = NULL;
        vkdl_tensor *wsp = NULL, *xw = NULL, *bsum = NULL, *pre = NULL, *zero = NULL;
        vkdl_tensor *wih2, *whh2 = NULL, *bih1 = NULL, *bhh1 = NULL, *h02 = NULL, *c02 = NULL, *hn2 = NULL;
        vkdl_tensor *cn2 = NULL, *out4, *hnl, *cnl = NULL, *g[16] = {0}, *zc = NULL, *pp[3] = {0};
        int64_t h2h[3] = {1, 2 * H, H}, hh3[3] = {1, H, H}, b2[3] = {1, 2 * H, 1}, b1[3] = {1, H, 1};
        int64_t bh2[3] = {1, B, 2 * H}, gh2 = 2 * H;
        if (rev)
            VKDL_TRY(onnx_temp(e, VKDL_F32, 3, tbi, &xr));
        VKDL_TRY(onnx_temp(e, VKDL_F32, 3, wi, &wih));
        VKDL_TRY(onnx_temp(e, VKDL_F32, 3, wh, &whh));
        if (bias) {
            VKDL_TRY(onnx_temp(e, VKDL_F32, 3, bb, &bih));
            VKDL_TRY(onnx_temp(e, VKDL_F32, 3, bb, &bhh));
        }
        if (has_h0)
            VKDL_TRY(onnx_temp(e, VKDL_F32, 3, hl, &h0));
        if (has_c0)
            VKDL_TRY(onnx_temp(e, VKDL_F32, 3, hl, &c0));
        VKDL_TRY(onnx_temp(e, VKDL_F32, 3, td, &out));
        VKDL_TRY(onnx_temp(e, VKDL_F32, 3, bh, &hn));
        if (lstm)
            VKDL_TRY(onnx_temp(e, VKDL_F32, 3, bh, &cn));
        if (kernel) {
            VKDL_TRY(onnx_temp(e, VKDL_F32, 3, ws, &wsp));
        } else if (lstmp) {
            int64_t tg[3] = {T, B, GH}, bh4[3] = {1, B, GH}, p1[3] = {1, 1, H};
            VKDL_TRY(onnx_temp(e, VKDL_F32, 3, tg, &xw));
            if (!has_h0)
                VKDL_TRY(onnx_temp(e, VKDL_F32, 3, bh, &zero));
            if (!has_c0)
                VKDL_TRY(onnx_temp(e, VKDL_F32, 3, bh, &zc));
            if (bias)
                VKDL_TRY(onnx_temp(e, VKDL_F32, 1, &GH, &bsum));
            for (int i = 0; i < 3; i++)
                VKDL_TRY(onnx_temp(e, VKDL_F32, 3, p1, &pp[i]));
            for (int i = 0; i < 16; i++)
                VKDL_TRY(onnx_temp(e, VKDL_F32, 3, i < 3 ? bh4 : bh, &g[i]));
        } else if (gru0) {
            int64_t tg[3] = {T, B, GH};
            VKDL_TRY(onnx_temp(e, VKDL_F32, 3, tg, &xw));
            if (!has_h0)
                VKDL_TRY(onnx_temp(e, VKDL_F32, 3, bh, &zero));
            /* g: R's z|r rows, R's h rows, their biases, then the step's scratch. */
            VKDL_TRY(onnx_temp(e, VKDL_F32, 3, h2h, &g[0]));
            VKDL_TRY(onnx_temp(e, VKDL_F32, 3, hh3, &g[1]));
            if (bias) {
                VKDL_TRY(onnx_temp(e, VKDL_F32, 3, b2, &g[2]));
                VKDL_TRY(onnx_temp(e, VKDL_F32, 3, b1, &g[3]));
            }
            for (int i = 4; i < 8; i++)
                VKDL_TRY(onnx_temp(e, VKDL_F32, 3, bh2, &g[i]));
            for (int i = 8; i < 16; i++)
                VKDL_TRY(onnx_temp(e, VKDL_F32, 3, bh, &g[i]));
        } else {
            VKDL_TRY(onnx_temp(e, VKDL_F32, 3, td, &xw));
            VKDL_TRY(onnx_temp(e, VKDL_F32, 3, bh, &pre));
            if (bias)
                VKDL_TRY(onnx_temp(e, VKDL_F32, 1, &H, &bsum));
            if (!has_h0)
                VKDL_TRY(onnx_temp(e, VKDL_F32, 3, bh, &zero));
        }
        VKDL_TRY(onnx_reshape(e, wih, 2, w2, &wih2));
        if (kernel)
            VKDL_TRY(onnx_reshape(e, whh, 2, r2, &whh2));
        if (bias) {
            VKDL_TRY(onnx_reshape(e, bih, 1, &GH, &bih1));
            VKDL_TRY(onnx_reshape(e, bhh, 1, &GH, &bhh1));
        }
        if (has_h0)
            VKDL_TRY(onnx_reshape(e, h0, kernel ? 2 : 3, kernel ? h2 : bh, &h02));
        if (has_c0)
            VKDL_TRY(onnx_reshape(e, c0, kernel ? 2 : 3, kernel ? h2 : bh, &c02));
        if (kernel)
            VKDL_TRY(onnx_reshape(e, hn, 2, h2, &hn2));
        vkdl_tensor *bzr = NULL, *bhn = NULL;
        if (gru0 && bias) {
            VKDL_TRY(onnx_reshape(e, g[2], 1, &gh2, &bzr));
            VKDL_TRY(onnx_reshape(e, g[3], 1, &H, &bhn));
        }
        if (lstm)
            VKDL_TRY(onnx_reshape(e, cn, 2, h2, &cn2));
        VKDL_TRY(onnx_reshape(e, out, 4, t4, &out4));
        VKDL_TRY(onnx_reshape(e, hn, 3, hl, &hnl));
        if (lstm)
            VKDL_TRY(onnx_reshape(e, cn, 3, hl, &cnl));
        if (!e->run)
            continue;
        const vkdl_tensor *xin = xs;
        if (rev) {
            vkdl_view_info vi = {.start = {T - 1, 0, 0}, .step = {-1, 1, 1}};
            VKDL_TRY(vkdl_view_copy(xs, xr, &vi));
            xin = xr;
        }
        for (int j = 0; j < G; j++) {
            VKDL_TRY(copy_box(in[1], wih, d, src[j] * H, 0, j * H, 1, H, I));
            VKDL_TRY(copy_box(in[2], whh, d, src[j] * H, 0, j * H, 1, H, H));
            if (bias) {
                VKDL_TRY(copy_box(b3, bih, d, src[j] * H, 0, j * H, 1, H, 1));
                VKDL_TRY(copy_box(b3, bhh, d, GH + src[j] * H, 0, j * H, 1, H, 1));
            }
        }
        if (has_h0)
            VKDL_TRY(copy_box(in[5], h0, layout ? 0 : d, layout ? d : 0, 0, 0, hl[0], hl[1], H));
        if (has_c0)
            VKDL_TRY(copy_box(in[6], c0, layout ? 0 : d, layout ? d : 0, 0, 0, hl[0], hl[1], H));
        if (lstmp) {
            for (int j = 0; j < 3; j++)
                VKDL_TRY(copy_box(p3, pp[j], d, j, 0, 0, 1, 1, H));
            if (bias)
                VKDL_TRY(vkdl_binary(VKDL_ADD, bih1, bhh1, bsum));
            if (!has_h0)
                VKDL_TRY(vkdl_tensor_fill(zero, 0));
            if (!has_c0)
                VKDL_TRY(vkdl_tensor_fill(zc, 0));
            VKDL_TRY(lstmp_steps(xin, has_h0 ? h02 : zero, has_c0 ? c02 : zc, wih2, whh, bsum, pp, xw, g, out, hn,
                                 cn));
        } else if (lstm) {
            VKDL_TRY(vkdl_lstm(xin, h02, c02, wih2, whh2, bih1, bhh1, out, hn2, cn2, wsp));
        } else if (gru && !gru0) {
            VKDL_TRY(vkdl_gru(xin, h02, wih2, whh2, bih1, bhh1, out, hn2, wsp));
        } else if (gru0) {
            VKDL_TRY(gru0_steps(xin, has_h0 ? h02 : zero, wih2, whh, bih1, bhh, xw, g, bzr, bhn, out, hn));
        } else {
            if (bias)
                VKDL_TRY(vkdl_binary(VKDL_ADD, bih1, bhh1, bsum));
            if (!has_h0)
                VKDL_TRY(vkdl_tensor_fill(zero, 0));
            vkdl_matmul_info xi = {.trans_b = 1, .alpha = 1, .bias = bsum};
            VKDL_TRY(vkdl_matmul(xin, wih2, xw, &xi));
            vkdl_matmul_info hi = {.trans_b = 1, .alpha = 1, .beta = 1};
            for (int64_t t = 0; t < T; t++) {
                VKDL_TRY(copy_box(xw, pre, t, 0, 0, 0, 1, B, H));
                VKDL_TRY(vkdl_matmul(t ? hn : has_h0 ? h02 : zero, whh, pre, &hi));
                VKDL_TRY(vkdl_unary(VKDL_TANH, pre, hn));
                VKDL_TRY(copy_box(hn, out, 0, 0, t, 0, 1, B, H));
            }
        }
        if (onnx_has_out(e, 0)) {
            vkdl_view_info vi = {.start = {rev ? T - 1 : 0, 0, 0, 0}, .step = {rev ? -1 : 1, 1, 1, 1},
                                 .out_offset = {0, d, 0, 0}, .extent = {T, 1, B, H}};
            VKDL_TRY(vkdl_view_copy(out4, layout ? ycan : onnx_out(e, 0), &vi));
        }
        if (onnx_has_out(e, 1))
            VKDL_TRY(copy_box(hnl, onnx_out(e, 1), 0, 0, layout ? 0 : d, layout ? d : 0, hl[0], hl[1], H));
        if (lstm && onnx_has_out(e, 2))
            VKDL_TRY(copy_box(cnl, onnx_out(e, 2), 0, 0, layout ? 0 : d, layout ? d : 0, hl[0], hl[1], H));
    }
    if (!e->run || !layout || !onnx_has_out(e, 0))
        return VKDL_OK;
    static const int to_batch[4] = {2, 0, 1, 3};
    return vkdl_permute(ycan, to_batch, onnx_out(e, 0));
}

const onnx_op onnx_ops_nn[] = {
    {"Conv", NULL, conv_device},
    {"MaxPool", NULL, pool_device},
    {"AveragePool", NULL, pool_device},
    {"GlobalAveragePool", NULL, global_pool_device},
    {"GlobalMaxPool", NULL, global_pool_device},
    {"ConvTranspose", NULL, conv_transpose_device},
    {"BatchNormalization", batchnorm_host, batchnorm_device},
    {"LayerNormalization", NULL, layer_norm_device},
    {"InstanceNormalization", NULL, instance_norm_device},
    {"MeanVarianceNormalization", NULL, mvn_device},
    {"LRN", NULL, lrn_device},
    {"Softmax", softmax_host, softmax_device},
    {"LogSoftmax", softmax_host, softmax_device},
    {"Hardmax", softmax_host, hardmax_device},
    {"NegativeLogLikelihoodLoss", NULL, nll_device},
    {"SoftmaxCrossEntropyLoss", NULL, sce_device},
    {"MatMul", matmul_host, matmul_device},
    {"Gemm", gemm_host, gemm_device},
    {"Einsum", einsum_host, einsum_device},
    {"LSTM", NULL, rnn_device},
    {"GRU", NULL, rnn_device},
    {"RNN", NULL, rnn_device},
};
const int onnx_ops_nn_count = (int)VKDL_ARRAY_LEN(onnx_ops_nn);
