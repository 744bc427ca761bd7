/* 2-D convolution (NCHW, f32): conv2d, its data and weight gradients, conv_transpose2d and its
 * weight gradient. Shader: shaders/conv.comp (implicit GEMM, see its header). CPU twin: im2col in
 * host memory + OpenBLAS sgemm, direct loops for single-channel groups. Tests: tests/test_conv.c.
 *
 * Every op is expressed through one convolution y = conv(x, w): conv_transpose2d is the data
 * gradient of the convolution whose input is the transpose's output, and its gradients are
 * vkdl_conv2d (for its input) and the weight gradient with x and dy swapped. No float atomics:
 * the weight gradient is split along the pixels into partial sums that vkdl_reduce adds, so every
 * result is deterministic. */
#include "ops/ops.h"
#include "shaders.h"
#include "conv.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

/* Kernel sizes, strides and dilations travel as 16-bit halves of push constants. */
#define MAX_KERNEL_PARAM 65535

/* The convolution every op reduces to: x [n, c, h, w] -> y [n, o, oh, ow] with w [o, c / groups,
 * kh, kw]. For conv_transpose2d, x is the transpose's output and y its input. */
typedef struct conv_geom {
    int64_t n, c, h, w;
    int64_t o, oh, ow;
    int64_t kh, kw, groups;
    int sh, sw, ph, pw, dh, dw;
} conv_geom;

typedef struct conv_params {
    int stride[2], pad[2], dil[2], out_pad[2], groups;
    int act;                        /* the forward epilogue's vkdl_unary_op, or -1 */
    float act_alpha, act_beta;
} conv_params;

/* ---------------------------------------------------------------- checks */

static vkdl_status resolve_info(const char *op, const vkdl_conv2d_info *info, conv_params *p)
{
    static const vkdl_conv2d_info defaults = {0};
    if (!info)
        info = &defaults;
    /* Only the forward takes an epilogue. */
    static const vkdl_structure_type forward_ext[] = {VKDL_STRUCTURE_TYPE_CONV2D_EPILOGUE_INFO};
    bool forward = !strcmp(op, "conv2d");
    VKDL_TRY(vkdl_check_chain(op, info->next, forward_ext, forward ? 1 : 0));
    const vkdl_conv2d_epilogue_info *epi = vkdl_find_ext(info->next, VKDL_STRUCTURE_TYPE_CONV2D_EPILOGUE_INFO);
    p->act = -1;
    if (epi) {
        if ((unsigned)epi->act >= VKDL_UNARY_OP_COUNT)
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: epilogue act %d is not a vkdl_unary_op", op, (int)epi->act);
        if (epi->act == VKDL_CELU && epi->alpha == 0)
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: epilogue celu alpha is 0", op);
        p->act = (int)epi->act;
        p->act_alpha = epi->alpha;
        p->act_beta = epi->beta;
    }
    for (int i = 0; i < 2; i++) {
        if (info->stride[i] < 0 || info->dilation[i] < 0)
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT,
                             "%s: stride (%d, %d) and dilation (%d, %d) must be positive (0 means 1)", op,
                             info->stride[0], info->stride[1], info->dilation[0], info->dilation[1]);
        if (info->padding[i] < 0 || info->output_padding[i] < 0)
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT,
                             "%s: padding (%d, %d) and output_padding (%d, %d) must not be negative", op,
                             info->padding[0], info->padding[1], info->output_padding[0], info->output_padding[1]);
        p->stride[i] = info->stride[i] ? info->stride[i] : 1;
        p->dil[i] = info->dilation[i] ? info->dilation[i] : 1;
        p->pad[i] = info->padding[i];
        p->out_pad[i] = info->output_padding[i];
        if (p->stride[i] > MAX_KERNEL_PARAM || p->dil[i] > MAX_KERNEL_PARAM || p->pad[i] > MAX_KERNEL_PARAM)
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT,
                             "%s: stride %d, dilation %d or padding %d exceeds %d", op, p->stride[i], p->dil[i],
                             p->pad[i], MAX_KERNEL_PARAM);
    }
    /* PyTorch's rule: the extra rows must be ones the stride or the dilation could have produced. */
    for (int i = 0; i < 2; i++)
        if (p->out_pad[i] >= p->stride[i] && p->out_pad[i] >= p->dil[i])
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT,
                             "%s: output_padding (%d, %d) must be smaller than the stride (%d, %d) or the "
                             "dilation (%d, %d)", op, p->out_pad[0], p->out_pad[1], p->stride[0], p->stride[1],
                             p->dil[0], p->dil[1]);
    if (info->groups < 0)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: groups %d must be positive (0 means 1)", op, info->groups);
    p->groups = info->groups ? info->groups : 1;
    return VKDL_OK;
}

static vkdl_status check_4d(const char *op, const char *name, const vkdl_tensor *t, const vkdl_tensor *ref)
{
    char s[VKDL_SHAPE_BUF];
    VKDL_TRY(vkdl_check_tensor(op, name, t));
    if (ref)
        VKDL_TRY(vkdl_check_same_ctx(op, ref, t));
    VKDL_TRY(vkdl_check_dtype(op, name, t, VKDL_F32));
    if (t->ndim != 4)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: %s is %s, expected 4 dims (NCHW)", op, name,
                         vkdl_shape_str(t, s, sizeof s));
    if (t->numel > INT32_MAX)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "%s: %s %s has more than 2^31 elements", op, name,
                         vkdl_shape_str(t, s, sizeof s));
    return VKDL_OK;
}

static vkdl_status check_bias(const char *op, const char *name, const vkdl_tensor *b, const vkdl_tensor *ref,
                              int64_t channels)
{
    if (!b)
        return VKDL_OK;
    VKDL_TRY(vkdl_check_same_ctx(op, ref, b));
    VKDL_TRY(vkdl_check_dtype(op, name, b, VKDL_F32));
    if (b->ndim != 1 || b->shape[0] != channels) {
        char s[VKDL_SHAPE_BUF];
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: %s is %s, expected [%lld] (one per output channel)", op,
                         name, vkdl_shape_str(b, s, sizeof s), (long long)channels);
    }
    return VKDL_OK;
}

/* Output size of a convolution along one dim; < 1 when the kernel does not fit. */
static int64_t conv_out(int64_t in, int64_t k, int s, int p, int d)
{
    int64_t span = in + 2 * (int64_t)p - (int64_t)d * (k - 1) - 1;
    return span < 0 ? 0 : span / s + 1;
}

/* Channels and kernel from x (input side) and w; the y side is filled in by the caller. */
static vkdl_status geom_channels(const char *op, const char *xname, const vkdl_tensor *x, const vkdl_tensor *w,
                                 int64_t w_in, int64_t w_out, const conv_params *p, conv_geom *g)
{
    char sx[VKDL_SHAPE_BUF], sw[VKDL_SHAPE_BUF];
    vkdl_shape_str(x, sx, sizeof sx);
    vkdl_shape_str(w, sw, sizeof sw);
    memset(g, 0, sizeof *g);
    g->groups = p->groups;
    g->n = x->shape[0];
    g->c = x->shape[1];
    g->h = x->shape[2];
    g->w = x->shape[3];
    g->kh = w->shape[2];
    g->kw = w->shape[3];
    g->sh = p->stride[0], g->sw = p->stride[1];
    g->ph = p->pad[0], g->pw = p->pad[1];
    g->dh = p->dil[0], g->dw = p->dil[1];
    if (g->kh < 1 || g->kw < 1 || g->kh > MAX_KERNEL_PARAM || g->kw > MAX_KERNEL_PARAM)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: w is %s: kernel size must be 1..%d", op, sw,
                         MAX_KERNEL_PARAM);
    if (g->c % g->groups != 0 || w_out % g->groups != 0)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: groups %lld must divide the %lld input and %lld output "
                         "channels (%s %s, w %s)", op, (long long)g->groups, (long long)g->c, (long long)w_out,
                         xname, sx, sw);
    if (w_in * g->groups != g->c)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: %s is %s but w %s expects %lld input channels (%lld per "
                         "group, groups %lld)", op, xname, sx, sw, (long long)(w_in * g->groups), (long long)w_in,
                         (long long)g->groups);
    g->o = w_out;
    return VKDL_OK;
}

/* The pixel grid of y for the conv geometry; with output_padding, y may be the smaller grid the
 * transpose's data gradient needs (output_padding >= stride adds whole output rows). */
static vkdl_status geom_out(const char *op, conv_geom *g, const conv_params *p, const char *yname,
                            const vkdl_tensor *y)
{
    int64_t oh = conv_out(g->h, g->kh, g->sh, g->ph, g->dh), ow = conv_out(g->w, g->kw, g->sw, g->pw, g->dw);
    if (oh < 1 || ow < 1)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: kernel %lldx%lld (dilation %dx%d) is larger than the "
                         "padded input %lldx%lld (padding %dx%d)", op, (long long)g->kh, (long long)g->kw, g->dh,
                         g->dw, (long long)g->h, (long long)g->w, g->ph, g->pw);
    int64_t oh2 = conv_out(g->h - p->out_pad[0], g->kh, g->sh, g->ph, g->dh);
    int64_t ow2 = conv_out(g->w - p->out_pad[1], g->kw, g->sw, g->pw, g->dw);
    bool ok_h = y->shape[2] == oh || (p->out_pad[0] && y->shape[2] == oh2 && oh2 >= 1);
    bool ok_w = y->shape[3] == ow || (p->out_pad[1] && y->shape[3] == ow2 && ow2 >= 1);
    if (y->shape[0] != g->n || y->shape[1] != g->o || !ok_h || !ok_w) {
        char s[VKDL_SHAPE_BUF];
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: %s is %s, expected %lldx%lldx%lldx%lld", op, yname,
                         vkdl_shape_str(y, s, sizeof s), (long long)g->n, (long long)g->o, (long long)oh,
                         (long long)ow);
    }
    g->oh = y->shape[2];
    g->ow = y->shape[3];
    return VKDL_OK;
}

/* Geometry of conv_transpose2d: xt [N, C, H, W] is the conv's y, out [N, O, OH, OW] its x, and w
 * [C, O / groups, KH, KW] its weight. */
static vkdl_status geom_transpose(const char *op, const vkdl_tensor *xt, const vkdl_tensor *w, const char *outname,
                                  const vkdl_tensor *out, const conv_params *p, conv_geom *g)
{
    char sx[VKDL_SHAPE_BUF], sw[VKDL_SHAPE_BUF], so[VKDL_SHAPE_BUF];
    vkdl_shape_str(xt, sx, sizeof sx);
    vkdl_shape_str(w, sw, sizeof sw);
    vkdl_shape_str(out, so, sizeof so);
    int64_t c = xt->shape[1];
    if (w->shape[0] != c)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: x is %s but w %s expects %lld input channels", op, sx, sw,
                         (long long)w->shape[0]);
    if (c % p->groups != 0)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: groups %d must divide the %lld input channels of x %s", op,
                         p->groups, (long long)c, sx);
    int64_t kh = w->shape[2], kw = w->shape[3];
    if (kh < 1 || kw < 1 || kh > MAX_KERNEL_PARAM || kw > MAX_KERNEL_PARAM)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: w is %s: kernel size must be 1..%d", op, sw,
                         MAX_KERNEL_PARAM);
    int64_t o = w->shape[1] * p->groups;
    int64_t oh = (xt->shape[2] - 1) * p->stride[0] - 2 * (int64_t)p->pad[0] + (int64_t)p->dil[0] * (kh - 1) +
                 p->out_pad[0] + 1;
    int64_t ow = (xt->shape[3] - 1) * p->stride[1] - 2 * (int64_t)p->pad[1] + (int64_t)p->dil[1] * (kw - 1) +
                 p->out_pad[1] + 1;
    if (oh < 1 || ow < 1)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: padding (%d, %d) leaves no output for x %s and w %s "
                         "(output would be %lldx%lld)", op, p->pad[0], p->pad[1], sx, sw, (long long)oh,
                         (long long)ow);
    if (out->shape[0] != xt->shape[0] || out->shape[1] != o || out->shape[2] != oh || out->shape[3] != ow)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: %s is %s, expected %lldx%lldx%lldx%lld", op, outname, so,
                         (long long)xt->shape[0], (long long)o, (long long)oh, (long long)ow);
    memset(g, 0, sizeof *g);
    *g = (conv_geom){.n = out->shape[0], .c = o, .h = oh, .w = ow, .o = c, .oh = xt->shape[2], .ow = xt->shape[3],
                     .kh = kh, .kw = kw, .groups = p->groups, .sh = p->stride[0], .sw = p->stride[1],
                     .ph = p->pad[0], .pw = p->pad[1], .dh = p->dil[0], .dw = p->dil[1]};
    return VKDL_OK;
}

/* The three 4-D tensors every op takes (the first is the others' context) and the info. */
static vkdl_status check_args(const char *op, const char *n0, const vkdl_tensor *t0, const char *n1,
                              const vkdl_tensor *t1, const char *n2, const vkdl_tensor *t2,
                              const vkdl_conv2d_info *info, conv_params *p)
{
    VKDL_TRY(check_4d(op, n0, t0, NULL));
    VKDL_TRY(check_4d(op, n1, t1, t0));
    VKDL_TRY(check_4d(op, n2, t2, t0));
    return resolve_info(op, info, p);
}

/* A convolution x -> y with weight w [O, C / groups, KH, KW] and an optional bias on y's channels. */
static vkdl_status check_conv(const char *op, const char *xname, const vkdl_tensor *x, const vkdl_tensor *w,
                              const char *bname, const vkdl_tensor *bias, const char *yname, const vkdl_tensor *y,
                              const conv_params *p, conv_geom *g)
{
    VKDL_TRY(geom_channels(op, xname, x, w, w->shape[1], w->shape[0], p, g));
    VKDL_TRY(check_bias(op, bname, bias, x, g->o));
    return geom_out(op, g, p, yname, y);
}

/* A transposed convolution x -> out (see geom_transpose) and an optional bias on out's channels. */
static vkdl_status check_transpose(const char *op, const vkdl_tensor *x, const vkdl_tensor *w, const char *outname,
                                   const vkdl_tensor *out, const char *bname, const vkdl_tensor *bias,
                                   const conv_params *p, conv_geom *g)
{
    VKDL_TRY(geom_transpose(op, x, w, outname, out, p, g));
    return check_bias(op, bname, bias, x, g->c);
}

/* ---------------------------------------------------------------- CPU twin */

/* col[(c kh + i) kw + j][p] = x[c, oh s - pad + i d, ow s - pad + j d] for cg channels of one image. */
static void im2col(const conv_geom *g, int64_t cg, const float *x, float *col)
{
    int64_t p_n = g->oh * g->ow;
    for (int64_t c = 0; c < cg; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                float *row = col + ((c * g->kh + i) * g->kw + j) * p_n;
                for (int64_t oh = 0; oh < g->oh; oh++) {
                    int64_t ih = oh * g->sh - g->ph + i * g->dh;
                    for (int64_t ow = 0; ow < g->ow; ow++) {
                        int64_t iw = ow * g->sw - g->pw + j * g->dw;
                        bool in = ih >= 0 && ih < g->h && iw >= 0 && iw < g->w;
                        row[oh * g->ow + ow] = in ? x[(c * g->h + ih) * g->w + iw] : 0.0f;
                    }
                }
            }
}

/* x[c, ...] += the entries of col that im2col would have taken from there. */
static void col2im(const conv_geom *g, int64_t cg, const float *col, float *x)
{
    int64_t p_n = g->oh * g->ow;
    for (int64_t c = 0; c < cg; c++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                const float *row = col + ((c * g->kh + i) * g->kw + j) * p_n;
                for (int64_t oh = 0; oh < g->oh; oh++) {
                    int64_t ih = oh * g->sh - g->ph + i * g->dh;
                    if (ih < 0 || ih >= g->h)
                        continue;
                    for (int64_t ow = 0; ow < g->ow; ow++) {
                        int64_t iw = ow * g->sw - g->pw + j * g->dw;
                        if (iw >= 0 && iw < g->w)
                            x[(c * g->h + ih) * g->w + iw] += row[oh * g->ow + ow];
                    }
                }
            }
}

/* Single-channel groups (depthwise) have a K of only kh * kw: plain loops in double. */
static bool cpu_direct(const conv_geom *g) { return g->c / g->groups == 1; }

static bool is_pointwise(const conv_geom *g)
{
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0 && g->oh == g->h &&
           g->ow == g->w;
}

static void add_bias(const conv_geom *g, int64_t n, int64_t ch, int64_t plane, const float *b, float *y)
{
    for (int64_t i = 0; b && i < n * ch; i++)
        for (int64_t p = 0; p < plane; p++)
            y[i * plane + p] += b[i % ch];
}

static vkdl_status cpu_forward(const conv_geom *g, const float *x, const float *w, const float *b, float *y)
{
    int64_t cg = g->c / g->groups, og = g->o / g->groups, k = cg * g->kh * g->kw, p_n = g->oh * g->ow;
    if (k == 0) {
        memset(y, 0, (size_t)(g->n * g->o * p_n) * sizeof *y);
        add_bias(g, g->n, g->o, p_n, b, y);
        return VKDL_OK;
    }
    if (cpu_direct(g)) {
        for (int64_t n = 0; n < g->n; n++)
            for (int64_t o = 0; o < g->o; o++)
                for (int64_t oh = 0; oh < g->oh; oh++)
                    for (int64_t ow = 0; ow < g->ow; ow++) {
                        const float *xp = x + (n * g->c + o / og) * g->h * g->w;
                        double s = b ? b[o] : 0.0;
                        for (int64_t i = 0; i < g->kh; i++)
                            for (int64_t j = 0; j < g->kw; j++) {
                                int64_t ih = oh * g->sh - g->ph + i * g->dh, iw = ow * g->sw - g->pw + j * g->dw;
                                if (ih >= 0 && ih < g->h && iw >= 0 && iw < g->w)
                                    s += (double)xp[ih * g->w + iw] * w[(o * g->kh + i) * g->kw + j];
                            }
                        y[((n * g->o + o) * g->oh + oh) * g->ow + ow] = (float)s;
                    }
        return VKDL_OK;
    }
    bool pw = is_pointwise(g);
    float *col = pw ? NULL : malloc((size_t)(k * p_n) * sizeof *col);
    if (!pw && !col)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "conv2d: out of host memory for im2col");
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t gi = 0; gi < g->groups; gi++) {
            const float *xg = x + (n * g->c + gi * cg) * g->h * g->w;
            if (!pw)
                im2col(g, cg, xg, col);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)og, (int)p_n, (int)k, 1.0f, w + gi * og * k,
                        (int)k, pw ? xg : col, (int)p_n, 0.0f, y + (n * g->o + gi * og) * p_n, (int)p_n);
        }
    free(col);
    add_bias(g, g->n, g->o, p_n, b, y);
    return VKDL_OK;
}

/* dx of the convolution (x side), plus b[c] when given (conv_transpose2d's bias). */
static vkdl_status cpu_backward_data(const conv_geom *g, const float *dy, const float *w, const float *b, float *dx)
{
    int64_t cg = g->c / g->groups, og = g->o / g->groups, k = cg * g->kh * g->kw, p_n = g->oh * g->ow;
    int64_t plane = g->h * g->w;
    if (cpu_direct(g)) {
        for (int64_t n = 0; n < g->n; n++)
            for (int64_t c = 0; c < g->c; c++)
                for (int64_t ih = 0; ih < g->h; ih++)
                    for (int64_t iw = 0; iw < g->w; iw++) {
                        double s = b ? b[c] : 0.0;
                        for (int64_t o = c * og; o < (c + 1) * og; o++)
                            for (int64_t i = 0; i < g->kh; i++)
                                for (int64_t j = 0; j < g->kw; j++) {
                                    int64_t th = ih + g->ph - i * g->dh, tw = iw + g->pw - j * g->dw;
                                    if (th < 0 || tw < 0 || th % g->sh || tw % g->sw)
                                        continue;
                                    int64_t oh = th / g->sh, ow = tw / g->sw;
                                    if (oh < g->oh && ow < g->ow)
                                        s += (double)dy[((n * g->o + o) * g->oh + oh) * g->ow + ow] *
                                             w[(o * g->kh + i) * g->kw + j];
                                }
                        dx[(n * g->c + c) * plane + ih * g->w + iw] = (float)s;
                    }
        return VKDL_OK;
    }
    bool pw = is_pointwise(g);
    float *col = pw ? NULL : malloc((size_t)(k * p_n) * sizeof *col);
    if (!pw && !col)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "conv2d_backward_data: out of host memory for col2im");
    if (!pw || p_n == 0 || og == 0)
        memset(dx, 0, (size_t)(g->n * g->c * plane) * sizeof *dx);
    for (int64_t n = 0; p_n && og && n < g->n; n++)
        for (int64_t gi = 0; gi < g->groups; gi++) {
            float *dxg = dx + (n * g->c + gi * cg) * plane;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)k, (int)p_n, (int)og, 1.0f, w + gi * og * k,
                        (int)k, dy + (n * g->o + gi * og) * p_n, (int)p_n, 0.0f, pw ? dxg : col, (int)p_n);
            if (!pw)
                col2im(g, cg, col, dxg);
        }
    free(col);
    add_bias(g, g->n, g->c, plane, b, dx);
    return VKDL_OK;
}

static void cpu_bias_grad(int64_t n, int64_t ch, int64_t plane, const float *dy, float *db)
{
    for (int64_t c = 0; c < ch; c++) {
        double s = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t p = 0; p < plane; p++)
                s += dy[(i * ch + c) * plane + p];
        db[c] = (float)s;
    }
}

static vkdl_status cpu_backward_weight(const conv_geom *g, const float *x, const float *dy, float *dw)
{
    int64_t cg = g->c / g->groups, og = g->o / g->groups, k = cg * g->kh * g->kw, p_n = g->oh * g->ow;
    if (cpu_direct(g)) {
        for (int64_t o = 0; o < g->o; o++)
            for (int64_t i = 0; i < g->kh; i++)
                for (int64_t j = 0; j < g->kw; j++) {
                    double s = 0;
                    for (int64_t n = 0; n < g->n; n++) {
                        const float *xp = x + (n * g->c + o / og) * g->h * g->w;
                        const float *dyp = dy + (n * g->o + o) * p_n;
                        for (int64_t oh = 0; oh < g->oh; oh++) {
                            int64_t ih = oh * g->sh - g->ph + i * g->dh;
                            if (ih < 0 || ih >= g->h)
                                continue;
                            for (int64_t ow = 0; ow < g->ow; ow++) {
                                int64_t iw = ow * g->sw - g->pw + j * g->dw;
                                if (iw >= 0 && iw < g->w)
                                    s += (double)xp[ih * g->w + iw] * dyp[oh * g->ow + ow];
                            }
                        }
                    }
                    dw[(o * g->kh + i) * g->kw + j] = (float)s;
                }
        return VKDL_OK;
    }
    bool pw = is_pointwise(g);
    float *col = pw ? NULL : malloc((size_t)(k * p_n) * sizeof *col);
    if (!pw && !col)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "conv2d_backward_weight: out of host memory for im2col");
    memset(dw, 0, (size_t)(g->o * k) * sizeof *dw);
    for (int64_t n = 0; p_n && n < g->n; n++) /* BLAS rejects the zero leading dimension of p_n 0 */
        for (int64_t gi = 0; gi < g->groups; gi++) {
            const float *xg = x + (n * g->c + gi * cg) * g->h * g->w;
            if (!pw)
                im2col(g, cg, xg, col);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)og, (int)k, (int)p_n, 1.0f,
                        dy + (n * g->o + gi * og) * p_n, (int)p_n, pw ? xg : col, (int)p_n, 1.0f, dw + gi * og * k,
                        (int)k);
        }
    free(col);
    return VKDL_OK;
}

/* ---------------------------------------------------------------- GPU launcher */

VKDL_PUSH_STRUCT(conv_push, CONV_PUSH, 4);
VKDL_PUSH_STRUCT(conv_wgrad_push, CONV_WGRAD_PUSH, 3);

/* Forward / backward-data kernels have 4 bindings (the bias third), weight-gradient kernels 3. */
#define CONV_KERNEL(var, ta, fa, tb, fb, nb)                                                                   \
    {                                                                                                          \
        VKDL_SPIRV(var), .n_bindings = nb, .type = {ta, tb}, .format = {fa, fb},                               \
        .access = {VKDL_READ, VKDL_READ, nb == 4 ? VKDL_READ : VKDL_WRITE, VKDL_WRITE},                        \
        .push_size = nb == 4 ? sizeof(struct conv_push) : sizeof(struct conv_wgrad_push),                      \
        .n_spec = CONV_SPEC_COUNT,                                                                             \
    }
#define UTB VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER
#define R32 VK_FORMAT_R32_SFLOAT
#define RGBA32 VK_FORMAT_R32G32B32A32_SFLOAT

static const vkdl_kernel K_TEXEL4 = CONV_KERNEL(conv_texel4, UTB, R32, UTB, RGBA32, 4);
static const vkdl_kernel K_TEXEL1 = CONV_KERNEL(conv_texel1, UTB, R32, UTB, R32, 4);
static const vkdl_kernel K_STORAGE = CONV_KERNEL(conv_storage, 0, 0, 0, 0, 4);
static const vkdl_kernel K_TILED = CONV_KERNEL(conv_tiled, 0, 0, 0, 0, 4);
static const vkdl_kernel K_DIRECT_TEXEL = CONV_KERNEL(conv_direct_texel, UTB, R32, UTB, R32, 4);
static const vkdl_kernel K_DIRECT = CONV_KERNEL(conv_direct, 0, 0, 0, 0, 4);
static const vkdl_kernel K_WG_TEXEL4 = CONV_KERNEL(conv_wgrad_texel4, UTB, R32, UTB, RGBA32, 3);
static const vkdl_kernel K_WG_TEXEL1 = CONV_KERNEL(conv_wgrad_texel1, UTB, R32, UTB, R32, 3);
static const vkdl_kernel K_WG_STORAGE = CONV_KERNEL(conv_wgrad_storage, 0, 0, 0, 0, 3);
static const vkdl_kernel K_WG_TILED = CONV_KERNEL(conv_wgrad_tiled, 0, 0, 0, 0, 3);
static const vkdl_kernel K_WG_DIRECT_TEXEL = CONV_KERNEL(conv_wgrad_direct_texel, UTB, R32, UTB, R32, 3);
static const vkdl_kernel K_WG_DIRECT = CONV_KERNEL(conv_wgrad_direct, 0, 0, 0, 0, 3);

static bool cpu_style(const vkdl_context *ctx) { return ctx->dev.caps.quirks & VKDL_QUIRK_CPU_FRIENDLY_KERNELS; }
/* Direct kernels: on CPU drivers, small workgroups with many pixels per invocation spread
 * llvmpipe's per-workgroup cost (measured ~3x faster than 64 x 1 on a depthwise 3x3). */
static uint32_t direct_wg(const vkdl_context *ctx) { return cpu_style(ctx) ? 16 : 64; }
static uint32_t direct_rows(const vkdl_context *ctx) { return cpu_style(ctx) ? 16 : 4; }

static bool both_ok(const vkdl_context *ctx, const vkdl_kernel *k, const vkdl_tensor *a, const vkdl_tensor *b)
{
    return vkdl_binding_ok(ctx, k, 0, a) && vkdl_binding_ok(ctx, k, 1, b);
}

/* The GEMM tile shape for a kernel style: spec constants and the rows / columns a workgroup covers. */
typedef struct tile {
    uint32_t spec[CONV_SPEC_COUNT];
    uint32_t bm, bn;
} tile;

static tile make_tile(uint32_t wg_x, uint32_t wg_y, uint32_t tm, uint32_t tn, bool bwd, uint32_t bm, uint32_t bn)
{
    return (tile){
        .spec = {[CONV_SPEC_WG_X] = wg_x, [CONV_SPEC_WG_Y] = wg_y, [CONV_SPEC_TM] = tm, [CONV_SPEC_TN] = tn,
                 [CONV_SPEC_BWD] = bwd, [CONV_SPEC_BK] = 16},
        .bm = bm,
        .bn = bn,
    };
}

/* The GPU's shared-memory tiles, unless the device is a CPU driver or the tiled kernel is turned
 * off (VKDL_DISABLE): the CPU-driver kernels run anywhere. */
static bool use_tiled(const vkdl_context *ctx, const vkdl_kernel *tiled)
{
    return !cpu_style(ctx) && vkdl_kernel_enabled(ctx, tiled);
}

static tile pick_tile(const vkdl_context *ctx, int64_t rows, int64_t cols, bool bwd, bool tiled)
{
    const vkdl_caps *c = &ctx->dev.caps;
    if (!tiled) {
        /* As matmul: 8 lanes = one llvmpipe SIMD row; 8-row tiles where 16 would idle cores, and
         * 32-column tiles for narrow groups. */
        uint32_t tm = rows * cols <= 256 * 256 ? 8 : 16, tn = cols <= 32 ? 1 : 2;
        return make_tile(8, 1, tm, tn, bwd, tm, 8 * 4 * tn);
    }
    uint32_t wg = c->max_wg_invocations < 256 || c->max_shared < 8192 ? 8 : 16;
    return make_tile(wg, wg, 4, 4, bwd, wg * 4, wg * 4);
}

/* One forward / backward-data launch: src [N, SC, SH, SW] gathered into dst [N, DC, DH, DW] with the
 * rearranged weight wt [G, CR, KH, KW, CO]. Batches whose row grid exceeds the device's grid limit
 * go in chunks of images. */
static vkdl_status launch_fb(const struct conv_push *pp, bool bwd, uint32_t groups, const vkdl_tensor *src,
                             const vkdl_tensor *wt, const vkdl_tensor *bias, vkdl_tensor *dst)
{
    vkdl_context *ctx = dst->ctx;
    const vkdl_caps *c = &ctx->dev.caps;
    const vkdl_tensor *bias_bind = bias ? bias : wt;
    int64_t img_rows = (int64_t)pp->RH * pp->RW;
    if (img_rows == 0 || pp->N == 0)
        return VKDL_OK;
    if (groups > c->max_wg_count[2])
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "conv2d: %u groups exceed the device's grid limit %u", groups,
                         c->max_wg_count[2]);
    const vkdl_kernel *k;
    tile t = {{0}, 0, 0};
    bool direct = pp->CO <= CONV_DIRECT_MAX_CO;
    if (direct) {
        k = cpu_style(ctx) && both_ok(ctx, &K_DIRECT_TEXEL, src, wt) ? &K_DIRECT_TEXEL : &K_DIRECT;
        t = make_tile(direct_wg(ctx), 1, direct_rows(ctx), 2, bwd, direct_wg(ctx) * direct_rows(ctx), 1);
    } else {
        bool tiled = use_tiled(ctx, &K_TILED);
        t = pick_tile(ctx, img_rows * pp->N, pp->CO, bwd, tiled);
        if (tiled)
            k = &K_TILED;
        else if (pp->CO % 4 == 0 && both_ok(ctx, &K_TEXEL4, src, wt))
            k = &K_TEXEL4;
        else if (both_ok(ctx, &K_TEXEL1, src, wt))
            k = &K_TEXEL1;
        else
            k = &K_STORAGE;
    }
    int64_t maxx = c->max_wg_count[0];
    int64_t per = direct ? pp->N : maxx * t.bm / img_rows;
    if (per < 1)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "conv2d: a %ux%u output plane exceeds the device's grid limit",
                         pp->RH, pp->RW);
    vkdl_status s = VKDL_OK;
    for (int64_t n0 = 0; n0 < pp->N && s == VKDL_OK; n0 += per) {
        int64_t n1 = n0 + per < pp->N ? n0 + per : pp->N;
        vkdl_tensor *sv = NULL, *dv = NULL;
        bool whole = n0 == 0 && n1 == pp->N;
        if (!whole) {
            s = vkdl_tensor_slice((vkdl_tensor *)src, n0, n1, &sv);
            if (s == VKDL_OK)
                s = vkdl_tensor_slice(dst, n0, n1, &dv);
        }
        struct conv_push q = *pp;
        q.N = (uint32_t)(n1 - n0);
        uint64_t rows = (uint64_t)q.N * (uint64_t)img_rows;
        vkdl_dispatch_info d = {.kernel = k, .spec = t.spec, .tensors = {whole ? src : sv, wt, bias_bind,
                                whole ? dst : dv}, .push = &q};
        if (direct) {
            vkdl_grid_1d(ctx, (rows + t.bm - 1) / t.bm, d.groups);
        } else {
            d.groups[0] = (uint32_t)((rows + t.bm - 1) / t.bm);
            d.groups[1] = (uint32_t)((q.CO + t.bn - 1) / t.bn);
        }
        d.groups[2] = groups;
        if (s == VKDL_OK)
            s = vkdl_dispatch(ctx, &d);
        vkdl_tensor_destroy(sv);
        vkdl_tensor_destroy(dv);
    }
    return s;
}

/* w viewed as [a, b, c] into a new tensor [a, c, b] (the kernels' operand layouts). */
static vkdl_status rearrange(const vkdl_tensor *w, int64_t a, int64_t b, int64_t c, vkdl_tensor **out)
{
    static const int perm[4] = {0, 2, 1, 3};
    vkdl_tensor *view = NULL;
    int64_t shape[4] = {a, b, c, 1}, ps[4] = {a, c, b, 1};
    VKDL_TRY(vkdl_tensor_reshape((vkdl_tensor *)w, 4, shape, &view));
    vkdl_status s = vkdl_tensor_create(w->ctx, VKDL_F32, 4, ps, out);
    if (s == VKDL_OK)
        s = vkdl_permute(view, perm, *out);
    vkdl_tensor_destroy(view);
    if (s != VKDL_OK) {
        vkdl_tensor_destroy(*out);
        *out = NULL;
    }
    return s;
}

/* The output of an op whose reduction is empty: zeros, plus the bias. */
static vkdl_status fill_bias(vkdl_tensor *y, const vkdl_tensor *bias)
{
    VKDL_TRY(vkdl_tensor_fill(y, 0.0));
    if (!bias)
        return VKDL_OK;
    int64_t shape[3] = {bias->shape[0], 1, 1};
    vkdl_tensor *bv = NULL;
    VKDL_TRY(vkdl_tensor_reshape((vkdl_tensor *)bias, 3, shape, &bv));
    vkdl_status s = vkdl_binary(VKDL_ADD, y, bv, y);
    vkdl_tensor_destroy(bv);
    return s;
}

/* A 1x1 convolution with stride 1, no padding and one group is a batched matmul over the
 * [N, C, H W] views, and vkdl_matmul's kernels read both operands as plain rows: faster than the
 * gathered operand of the implicit GEMM. */
static bool matmul_shaped(const conv_geom *g) { return g->groups == 1 && is_pointwise(g); }

/* t [N, C, H, W] viewed as [N, C, H W], or [C, H W] when N is 1. */
static vkdl_status flat_view(const vkdl_tensor *t, vkdl_tensor **out)
{
    int64_t s3[3] = {t->shape[0], t->shape[1], t->shape[2] * t->shape[3]};
    return t->shape[0] == 1 ? vkdl_tensor_reshape((vkdl_tensor *)t, 2, s3 + 1, out)
                            : vkdl_tensor_reshape((vkdl_tensor *)t, 3, s3, out);
}

/* y = w x (+ bias) with w [O, C]: forward (trans 0) or, with w^T, backward-data (trans 1). */
static vkdl_status matmul_conv(const vkdl_tensor *w, const vkdl_tensor *x, const vkdl_tensor *bias, vkdl_tensor *y,
                               int trans)
{
    int64_t ws[2] = {w->shape[0], w->shape[1]}, bs[2] = {y->shape[1], 1};
    vkdl_tensor *wv = NULL, *xv = NULL, *yv = NULL, *bv = NULL;
    vkdl_matmul_info mi = {.trans_a = trans, .alpha = 1.0f};
    vkdl_status s = vkdl_tensor_reshape((vkdl_tensor *)w, 2, ws, &wv);
    if (s == VKDL_OK)
        s = flat_view(x, &xv);
    if (s == VKDL_OK)
        s = flat_view(y, &yv);
    if (s == VKDL_OK)
        s = vkdl_matmul(wv, xv, yv, &mi);
    if (s == VKDL_OK && bias)
        s = vkdl_tensor_reshape((vkdl_tensor *)bias, 2, bs, &bv);
    if (s == VKDL_OK && bias)
        s = vkdl_binary(VKDL_ADD, yv, bv, yv);
    vkdl_tensor_destroy(wv);
    vkdl_tensor_destroy(xv);
    vkdl_tensor_destroy(yv);
    vkdl_tensor_destroy(bv);
    return s;
}

/* dw [O, C] = sum_n dy[n] x[n]^T: per-image products into a scratch tensor, summed by vkdl_reduce. */
static vkdl_status matmul_wgrad(const vkdl_tensor *x, const vkdl_tensor *dy, vkdl_tensor *dw)
{
    int64_t n = x->shape[0], ws[2] = {dw->shape[0], dw->shape[1]}, ps[3] = {n, dw->shape[0], dw->shape[1]};
    vkdl_tensor *xv = NULL, *dyv = NULL, *dwv = NULL, *part = NULL;
    vkdl_matmul_info mi = {.trans_b = 1, .alpha = 1.0f};
    vkdl_status s = flat_view(x, &xv);
    if (s == VKDL_OK)
        s = flat_view(dy, &dyv);
    if (s == VKDL_OK)
        s = vkdl_tensor_reshape(dw, 2, ws, &dwv);
    if (s == VKDL_OK && n > 1)
        s = vkdl_tensor_create(dw->ctx, VKDL_F32, 3, ps, &part);
    if (s == VKDL_OK)
        s = vkdl_matmul(dyv, xv, part ? part : dwv, &mi);
    if (s == VKDL_OK && part)
        s = vkdl_reduce(VKDL_SUM, part, 0, dwv);
    vkdl_tensor_destroy(xv);
    vkdl_tensor_destroy(dyv);
    vkdl_tensor_destroy(dwv);
    vkdl_tensor_destroy(part);
    return s;
}

/* Forward (trans 0) and data-gradient (trans 1) cases no conv kernel runs for: an empty reduction
 * (zeros and the bias) and a 1x1 convolution (a matmul). Returns whether it handled dst, in *s. */
static bool shortcut(const conv_geom *g, const vkdl_tensor *src, const vkdl_tensor *w, const vkdl_tensor *bias,
                     vkdl_tensor *dst, int trans, vkdl_status *s)
{
    if (src->numel == 0 || w->numel == 0)
        *s = fill_bias(dst, bias);
    else if (matmul_shaped(g))
        *s = matmul_conv(w, src, bias, dst, trans);
    else
        return false;
    return true;
}

static uint32_t pack(int64_t lo, int64_t hi) { return (uint32_t)lo | (uint32_t)hi << 16; }

/* The epilogue as a pass of its own over y (the shortcut paths and the CPU twin). */
static vkdl_status act_in_place(const conv_params *p, vkdl_tensor *y)
{
    if (p->act < 0)
        return VKDL_OK;
    vkdl_unary_info ui = {.alpha = p->act_alpha, .beta = p->act_beta};
    return vkdl_unary_with((vkdl_unary_op)p->act, y, &ui, y);
}

static vkdl_status gpu_forward(const conv_geom *g, const conv_params *cp, const vkdl_tensor *x, const vkdl_tensor *w,
                               const vkdl_tensor *bias, vkdl_tensor *y)
{
    int64_t cg = g->c / g->groups, og = g->o / g->groups, kk = g->kh * g->kw;
    vkdl_status s;
    if (shortcut(g, x, w, bias, y, 0, &s))
        return s == VKDL_OK ? act_in_place(cp, y) : s;
    vkdl_tensor *wt = NULL;
    if (og > 1)
        VKDL_TRY(rearrange(w, g->groups, og, cg * kk, &wt));
    struct conv_push pp = {
        .N = (uint32_t)g->n, .RH = (uint32_t)g->oh, .RW = (uint32_t)g->ow,
        .SC = (uint32_t)g->c, .SH = (uint32_t)g->h, .SW = (uint32_t)g->w,
        .DC = (uint32_t)g->o, .DH = (uint32_t)g->oh, .DW = (uint32_t)g->ow,
        .CR = (uint32_t)cg, .CO = (uint32_t)og, .sh = (uint32_t)g->sh, .sw = (uint32_t)g->sw,
        .sh0 = -g->ph, .sw0 = -g->pw, .tsh = g->dh, .tsw = g->dw,
        .nk = pack(g->kh, g->kw), .kdim = pack(g->kh, g->kw), .khab = pack(0, 1), .kwab = pack(0, 1),
        .hasBias = bias != NULL, .act = (uint32_t)(cp->act + 1), .actAlpha = cp->act_alpha, .actBeta = cp->act_beta,
    };
    s = launch_fb(&pp, false, (uint32_t)g->groups, x, wt ? wt : w, bias, y);
    vkdl_tensor_destroy(wt);
    return s;
}

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* The kernel taps that reach dx rows ph + stride * r along one dim: k = first + i * step for
 * i < count, reading dy row r + off + i * tap_step. */
typedef struct phase_taps {
    int64_t first, step, count, off, tap_step;
} phase_taps;

static phase_taps taps_for_phase(int64_t ph, int64_t k, int s, int pad, int d)
{
    phase_taps t = {0, 1, 0, 0, 0};
    for (int64_t kh = 0; kh < k && kh < s; kh++)
        if (((ph + pad - kh * d) % s + s) % s == 0) {
            t.first = kh;
            t.step = s / gcd64(s, d);
            t.count = (k - 1 - kh) / t.step + 1;
            t.off = (ph + pad - kh * d) / s; /* exact */
            t.tap_step = -(t.step * d / s);
            break;
        }
    return t;
}

/* dx (the conv's x side) from dy and w, plus a bias on dx's channels: one launch per stride phase. */
static vkdl_status gpu_backward_data(const conv_geom *g, const vkdl_tensor *dy, const vkdl_tensor *w,
                                     const vkdl_tensor *bias, vkdl_tensor *dx)
{
    int64_t cg = g->c / g->groups, og = g->o / g->groups, kk = g->kh * g->kw;
    vkdl_status s;
    if (shortcut(g, dy, w, bias, dx, 1, &s))
        return s;
    vkdl_tensor *wt = NULL;
    if (cg > 1 && kk > 1)
        VKDL_TRY(rearrange(w, g->groups * og, cg, kk, &wt));
    s = VKDL_OK;
    for (int64_t ph = 0; ph < g->sh && ph < g->h && s == VKDL_OK; ph++)
        for (int64_t pw = 0; pw < g->sw && pw < g->w && s == VKDL_OK; pw++) {
            phase_taps th = taps_for_phase(ph, g->kh, g->sh, g->ph, g->dh);
            phase_taps tw = taps_for_phase(pw, g->kw, g->sw, g->pw, g->dw);
            struct conv_push pp = {
                .N = (uint32_t)g->n, .RH = (uint32_t)((g->h - ph + g->sh - 1) / g->sh),
                .RW = (uint32_t)((g->w - pw + g->sw - 1) / g->sw),
                .SC = (uint32_t)g->o, .SH = (uint32_t)g->oh, .SW = (uint32_t)g->ow,
                .DC = (uint32_t)g->c, .DH = (uint32_t)g->h, .DW = (uint32_t)g->w,
                .CR = (uint32_t)og, .CO = (uint32_t)cg, .dh0 = (uint32_t)ph, .dw0 = (uint32_t)pw,
                .sh = (uint32_t)g->sh, .sw = (uint32_t)g->sw,
                .sh0 = (int32_t)th.off, .sw0 = (int32_t)tw.off, .tsh = (int32_t)th.tap_step,
                .tsw = (int32_t)tw.tap_step,
                .nk = pack(th.count, tw.count), .kdim = pack(g->kh, g->kw),
                .khab = pack(th.first, th.step), .kwab = pack(tw.first, tw.step),
                .hasBias = bias != NULL,
            };
            s = launch_fb(&pp, true, (uint32_t)g->groups, dy, wt ? wt : w, bias, dx);
        }
    vkdl_tensor_destroy(wt);
    return s;
}

/* db[c] = dy summed over N and the plane, through vkdl_reduce. */
static vkdl_status gpu_bias_grad(const vkdl_tensor *dy, vkdl_tensor *db)
{
    int64_t n = dy->shape[0], ch = dy->shape[1], plane = dy->shape[2] * dy->shape[3];
    if (dy->numel == 0)
        return vkdl_tensor_fill(db, 0.0);
    int64_t s3[3] = {n, ch, plane}, s2[2] = {n, ch};
    vkdl_tensor *v = NULL, *part = NULL;
    VKDL_TRY(vkdl_tensor_reshape((vkdl_tensor *)dy, 3, s3, &v));
    vkdl_status s = vkdl_tensor_create(db->ctx, VKDL_F32, 2, s2, &part);
    if (s == VKDL_OK)
        s = vkdl_reduce(VKDL_SUM, v, 2, part);
    if (s == VKDL_OK)
        s = vkdl_reduce(VKDL_SUM, part, 0, db);
    vkdl_tensor_destroy(part);
    vkdl_tensor_destroy(v);
    return s;
}

static vkdl_status gpu_backward_weight(const conv_geom *g, const vkdl_tensor *x, const vkdl_tensor *dy,
                                       vkdl_tensor *dw)
{
    vkdl_context *ctx = dw->ctx;
    const vkdl_caps *c = &ctx->dev.caps;
    int64_t cg = g->c / g->groups, og = g->o / g->groups, kt = cg * g->kh * g->kw;
    int64_t p_n = g->oh * g->ow, np = g->n * p_n;
    if (np == 0 || x->numel == 0)
        return vkdl_tensor_fill(dw, 0.0);
    if (matmul_shaped(g))
        return matmul_wgrad(x, dy, dw);
    bool direct = og <= CONV_DIRECT_MAX_CO;
    bool tiled = !direct && use_tiled(ctx, &K_WG_TILED);
    tile t = direct ? make_tile(direct_wg(ctx), 1, 16, 2, false, 0, 0) : pick_tile(ctx, kt, og, false, tiled);
    /* Split the pixels until the grid fills the device: enough splits of at least min_len pixels
     * (which also bounds the f32 accumulation length); the partial sums stay under ~64 MiB. */
    int64_t tiles = direct ? (g->groups * og * kt + direct_wg(ctx) - 1) / direct_wg(ctx)
                           : ((kt + t.bm - 1) / t.bm) * ((og + t.bn - 1) / t.bn) * g->groups;
    int64_t target = cpu_style(ctx) ? 64 : 1024, min_len = 256;
    int64_t splits = (target + tiles - 1) / tiles;
    int64_t max_splits = (np + min_len - 1) / min_len;
    int64_t mem_splits = ((int64_t)16 << 20) / (g->o * kt);
    if (splits > max_splits)
        splits = max_splits;
    if (splits > mem_splits)
        splits = mem_splits;
    if (!direct && splits * g->groups > c->max_wg_count[2])
        splits = c->max_wg_count[2] / g->groups;
    if (splits < 1)
        splits = 1;
    int64_t len = (np + splits - 1) / splits;
    splits = (np + len - 1) / len;
    if (!direct && g->groups > c->max_wg_count[2])
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "conv2d_backward_weight: %lld groups exceed the device's grid "
                         "limit %u", (long long)g->groups, c->max_wg_count[2]);

    vkdl_tensor *dyt = NULL, *part = NULL;
    vkdl_status s = VKDL_OK;
    if (!direct)
        s = rearrange(dy, g->n, g->o, p_n, &dyt);
    if (s == VKDL_OK && splits > 1) {
        int64_t shape[3] = {splits, g->o, kt};
        s = vkdl_tensor_create(ctx, VKDL_F32, 3, shape, &part);
    }
    const vkdl_tensor *b = direct ? dy : dyt;
    const vkdl_kernel *k;
    if (direct)
        k = cpu_style(ctx) && both_ok(ctx, &K_WG_DIRECT_TEXEL, x, b) ? &K_WG_DIRECT_TEXEL : &K_WG_DIRECT;
    else if (tiled)
        k = &K_WG_TILED;
    else if (og % 4 == 0 && g->o % 4 == 0 && both_ok(ctx, &K_WG_TEXEL4, x, b))
        k = &K_WG_TEXEL4;
    else if (both_ok(ctx, &K_WG_TEXEL1, x, b))
        k = &K_WG_TEXEL1;
    else
        k = &K_WG_STORAGE;
    struct conv_wgrad_push pp = {
        .N = (uint32_t)g->n, .OH = (uint32_t)g->oh, .OW = (uint32_t)g->ow,
        .SC = (uint32_t)g->c, .SH = (uint32_t)g->h, .SW = (uint32_t)g->w, .O = (uint32_t)g->o,
        .CR = (uint32_t)cg, .CO = (uint32_t)og, .sh = (uint32_t)g->sh, .sw = (uint32_t)g->sw,
        .sh0 = -g->ph, .sw0 = -g->pw, .tsh = g->dh, .tsw = g->dw,
        .kdim = pack(g->kh, g->kw), .L = (uint32_t)len, .S = (uint32_t)splits, .G = (uint32_t)g->groups,
    };
    vkdl_dispatch_info d = {.kernel = k, .spec = t.spec, .tensors = {x, b, part ? part : dw}, .push = &pp};
    if (direct) {
        vkdl_grid_1d(ctx, (uint64_t)(splits * g->groups * og * kt + direct_wg(ctx) - 1) / direct_wg(ctx), d.groups);
    } else {
        d.groups[0] = (uint32_t)((kt + t.bm - 1) / t.bm);
        d.groups[1] = (uint32_t)((og + t.bn - 1) / t.bn);
        d.groups[2] = (uint32_t)(g->groups * splits);
    }
    if (s == VKDL_OK)
        s = vkdl_dispatch(ctx, &d);
    if (s == VKDL_OK && part) {
        int64_t shape[2] = {g->o, kt};
        vkdl_tensor *dv = NULL;
        s = vkdl_tensor_reshape(dw, 2, shape, &dv);
        if (s == VKDL_OK)
            s = vkdl_reduce(VKDL_SUM, part, 0, dv);
        vkdl_tensor_destroy(dv);
    }
    vkdl_tensor_destroy(part);
    vkdl_tensor_destroy(dyt);
    return s;
}

/* ---------------------------------------------------------------- entry points */

static const float *host_or_null(const vkdl_tensor *t) { return t ? vkdl_tensor_host(t) : NULL; }

/* dw (and dbias from db_src, the tensor whose channels the bias was added to) for geometry g. */
static vkdl_status backward_weight(const conv_geom *g, const vkdl_tensor *x, const vkdl_tensor *dy, vkdl_tensor *dw,
                                   const vkdl_tensor *db_src, vkdl_tensor *dbias)
{
    if (dw->ctx->backend == VKDL_BACKEND_CPU) {
        if (dbias)
            cpu_bias_grad(db_src->shape[0], db_src->shape[1], db_src->shape[2] * db_src->shape[3],
                          vkdl_tensor_host(db_src), vkdl_tensor_host(dbias));
        if (dw->numel == 0)
            return VKDL_OK;
        return cpu_backward_weight(g, vkdl_tensor_host(x), vkdl_tensor_host(dy), vkdl_tensor_host(dw));
    }
    if (dbias && dbias->numel)
        VKDL_TRY(gpu_bias_grad(db_src, dbias));
    if (dw->numel == 0)
        return VKDL_OK;
    return gpu_backward_weight(g, x, dy, dw);
}

/* The weight gradient of conv2d, or with transpose of conv_transpose2d (x and dy swap sides). */
static vkdl_status weight_grad(const char *op, bool transpose, const vkdl_tensor *x, const vkdl_tensor *dy,
                               vkdl_tensor *dw, vkdl_tensor *dbias, const vkdl_conv2d_info *info)
{
    conv_params p;
    conv_geom g;
    VKDL_TRY(check_args(op, "x", x, "dy", dy, "dw", dw, info, &p));
    if (transpose) {
        VKDL_TRY(check_transpose(op, x, dw, "dy", dy, "dbias", dbias, &p, &g));
        return backward_weight(&g, dy, x, dw, dy, dbias);
    }
    VKDL_TRY(check_conv(op, "x", x, dw, "dbias", dbias, "dy", dy, &p, &g));
    return backward_weight(&g, x, dy, dw, dy, dbias);
}

/* dst, the x side of geometry g, from src on its y side (the data gradient, or the transpose). */
static vkdl_status data_grad(const conv_geom *g, const vkdl_tensor *src, const vkdl_tensor *w,
                             const vkdl_tensor *bias, vkdl_tensor *dst)
{
    if (dst->numel == 0)
        return VKDL_OK;
    if (dst->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_backward_data(g, vkdl_tensor_host(src), vkdl_tensor_host(w), host_or_null(bias),
                                 vkdl_tensor_host(dst));
    return gpu_backward_data(g, src, w, bias, dst);
}

vkdl_status vkdl_conv2d(const vkdl_tensor *x, const vkdl_tensor *w, const vkdl_tensor *bias, vkdl_tensor *out,
                        const vkdl_conv2d_info *info)
{
    const char *op = "conv2d";
    conv_params p;
    conv_geom g;
    VKDL_TRY(check_args(op, "x", x, "w", w, "out", out, info, &p));
    VKDL_TRY(check_conv(op, "x", x, w, "bias", bias, "out", out, &p, &g));
    if (out->numel == 0)
        return VKDL_OK;
    if (x->ctx->backend == VKDL_BACKEND_CPU) {
        VKDL_TRY(cpu_forward(&g, vkdl_tensor_host(x), vkdl_tensor_host(w), host_or_null(bias), vkdl_tensor_host(out)));
        return act_in_place(&p, out);
    }
    return gpu_forward(&g, &p, x, w, bias, out);
}

vkdl_status vkdl_conv2d_backward_data(const vkdl_tensor *dy, const vkdl_tensor *w, vkdl_tensor *dx,
                                      const vkdl_conv2d_info *info)
{
    const char *op = "conv2d_backward_data";
    conv_params p;
    conv_geom g;
    VKDL_TRY(check_args(op, "dy", dy, "w", w, "dx", dx, info, &p));
    VKDL_TRY(check_conv(op, "dx", dx, w, NULL, NULL, "dy", dy, &p, &g));
    return data_grad(&g, dy, w, NULL, dx);
}

vkdl_status vkdl_conv2d_backward_weight(const vkdl_tensor *x, const vkdl_tensor *dy, vkdl_tensor *dw,
                                        vkdl_tensor *dbias, const vkdl_conv2d_info *info)
{
    return weight_grad("conv2d_backward_weight", false, x, dy, dw, dbias, info);
}

/* The data gradient of conv_transpose2d is vkdl_conv2d(dy, w, NULL, dx, info): the transpose's
 * output side is the convolution's input. */
vkdl_status vkdl_conv_transpose2d(const vkdl_tensor *x, const vkdl_tensor *w, const vkdl_tensor *bias,
                                  vkdl_tensor *out, const vkdl_conv2d_info *info)
{
    const char *op = "conv_transpose2d";
    conv_params p;
    conv_geom g;
    VKDL_TRY(check_args(op, "x", x, "w", w, "out", out, info, &p));
    VKDL_TRY(check_transpose(op, x, w, "out", out, "bias", bias, &p, &g));
    return data_grad(&g, x, w, bias, out);
}

vkdl_status vkdl_conv_transpose2d_backward_weight(const vkdl_tensor *x, const vkdl_tensor *dy, vkdl_tensor *dw,
                                                  vkdl_tensor *dbias, const vkdl_conv2d_info *info)
{
    return weight_grad("conv_transpose2d_backward_weight", true, x, dy, dw, dbias, info);
}
