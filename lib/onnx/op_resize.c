/* ONNX's Resize (opsets 10 to 18) and Upsample (7 to 9) on vkdl_resize, which resizes the last
 * two dims: every other dim must keep its size. */
#include "onnx/onnx.h"

#include <math.h>
#include <string.h>

/* An option by its ONNX name, from a name function over count values. */
static int by_name(const char *s, int count, const char *(*name)(int))
{
    for (int i = 0; i < count; i++)
        if (!strcmp(s, name(i)))
            return i;
    return -1;
}

static const char *mode_name(int i) { return vkdl_resize_mode_name((vkdl_resize_mode)i); }
static const char *coord_name(int i) { return vkdl_resize_coord_name((vkdl_resize_coord)i); }
static const char *nearest_name(int i) { return vkdl_resize_nearest_name((vkdl_resize_nearest)i); }

static vkdl_status resize_device(onnx_exec *e)
{
    bool upsample = !strcmp(e->node->op_type, "Upsample");
    int rank = onnx_in_ndim(e, 0);
    const int64_t *x = onnx_in_dims(e, 0);
    if (onnx_in_dtype(e, 0) != VKDL_F32)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "only float input on the device");
    if (rank < 2 || rank > VKDL_MAX_DIMS)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "input rank %d", rank);
    vkdl_resize_info info = {0};
    const char *mode = onnx_attr_str(e, "mode", "nearest");
    /* Upsample and opset 10's Resize sample asymmetrically, and their "nearest" floors. */
    bool legacy = upsample || e->opset < 11;
    const char *coord = legacy ? "asymmetric" : onnx_attr_str(e, "coordinate_transformation_mode", "half_pixel");
    const char *nearest = legacy ? "floor" : onnx_attr_str(e, "nearest_mode", "round_prefer_floor");
    int md = by_name(!strcmp(mode, "bilinear") ? "linear" : mode, VKDL_RESIZE_MODE_COUNT, mode_name),
        cd = by_name(coord, VKDL_RESIZE_COORD_COUNT, coord_name),
        nd = by_name(nearest, VKDL_RESIZE_NEAREST_COUNT, nearest_name);
    if (md < 0 || cd < 0 || nd < 0)
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "mode '%s', coordinate_transformation_mode '%s', nearest_mode "
                         "'%s'", mode, coord, nearest);
    if (onnx_attr_int(e, "antialias", 0))
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "antialias");
    if (onnx_attr_get(e, "axes") || strcmp(onnx_attr_str(e, "keep_aspect_ratio_policy", "stretch"), "stretch"))
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "axes or keep_aspect_ratio_policy");
    info.mode = (vkdl_resize_mode)md;
    info.coord = (vkdl_resize_coord)cd;
    info.nearest = (vkdl_resize_nearest)nd;
    info.cubic_a = onnx_attr_float(e, "cubic_coeff_a", -0.75f);
    info.exclude_outside = (int)onnx_attr_int(e, "exclude_outside", 0);

    /* Scales from an attribute (Upsample 7), else the scales input (1 in Upsample 9 and Resize 10,
     * 2 from opset 11), else sizes (input 3). */
    int scales_in = upsample || e->opset < 11 ? 1 : 2;
    double scale[VKDL_MAX_DIMS];
    int64_t out[VKDL_MAX_DIMS];
    const onnx_host *h = NULL;
    const onnx_attr *sa = onnx_attr_get(e, "scales");
    bool have_scales = false;
    if (sa && sa->type == ONNX_ATTR_FLOATS) {
        if (sa->n != rank)
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "%d scales for rank %d", sa->n, rank);
        for (int d = 0; d < rank; d++)
            scale[d] = sa->floats[d];
        have_scales = true;
    } else if (onnx_has_in(e, scales_in) && (h = onnx_in_host(e, scales_in)) && h->numel > 0) {
        if (h->numel != rank)
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "%lld scales for rank %d", (long long)h->numel, rank);
        for (int d = 0; d < rank; d++)
            scale[d] = onnx_get_f(h, d);
        have_scales = true;
    } else if (onnx_has_in(e, scales_in) && !h) {
        return onnx_need_host(e, scales_in, "scales", &h);
    }
    if (have_scales) {
        for (int d = 0; d < rank; d++) {
            if (!(scale[d] > 0) || !isfinite(scale[d]))
                return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "scale %d is %g", d, scale[d]);
            double o = floor((double)x[d] * scale[d]);
            if (o > (double)INT32_MAX)
                return onnx_fail(e, VKDL_ERROR_SIZE_OVERFLOW, "output dim %d would be %g", d, o);
            out[d] = (int64_t)o;
        }
    } else {
        const onnx_host *sz;
        if (scales_in != 2 || !onnx_has_in(e, 3))
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "neither scales nor sizes");
        VKDL_TRY(onnx_need_host(e, 3, "sizes", &sz));
        if (sz->numel != rank)
            return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "%lld sizes for rank %d", (long long)sz->numel, rank);
        for (int d = 0; d < rank; d++) {
            out[d] = onnx_get_i(sz, d);
            if (out[d] < 0 || out[d] > INT32_MAX)
                return onnx_fail(e, VKDL_ERROR_INVALID_ARGUMENT, "size %d is %lld", d, (long long)out[d]);
            scale[d] = x[d] ? (double)out[d] / (double)x[d] : 1;
        }
    }
    if (!strcmp(coord, "tf_crop_and_resize"))
        return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "tf_crop_and_resize");
    for (int d = 0; d < rank - 2; d++)
        if (out[d] != x[d])
            return onnx_fail(e, VKDL_ERROR_UNSUPPORTED, "resizing dim %d (only the last two dims are resized)", d);
    /* A dim of scale 1 samples exactly its own elements in every mode, so the two resized dims
     * may include one that keeps its size (a rank-3 [N, C, W] input resizes C by 1). */
    info.scale[0] = (float)scale[rank - 2];
    info.scale[1] = (float)scale[rank - 1];
    if (!e->run)
        return onnx_out_set(e, 0, VKDL_F32, rank, out);
    vkdl_tensor *xt;
    VKDL_TRY(onnx_in(e, 0, &xt));
    return vkdl_resize(xt, onnx_out(e, 0), &info);
}

const onnx_op onnx_ops_resize[] = {
    {"Resize", NULL, resize_device},
    {"Upsample", NULL, resize_device},
};
const int onnx_ops_resize_count = (int)VKDL_ARRAY_LEN(onnx_ops_resize);
