/* Host tensors: initializers, shape arithmetic and everything the plan folds before a run. Ops
 * read and write elements through double (floats) or int64 (integers), so one implementation
 * serves every dtype exactly. */
#include "onnx/onnx.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

vkdl_status onnx_host_alloc(onnx_host *h, vkdl_dtype dtype, int ndim, const int64_t *dims)
{
    memset(h, 0, sizeof *h);
    if (ndim < 0 || ndim > VKDL_MAX_DIMS)
        return vkdl_fail(VKDL_ERROR_UNSUPPORTED, "onnx: rank %d (at most %d)", ndim, VKDL_MAX_DIMS);
    int64_t numel;
    VKDL_TRY(vkdl_numel_checked("onnx", ndim, dims, &numel));
    size_t es = vkdl_dtype_size(dtype);
    if (!es)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "onnx: invalid dtype %d", (int)dtype);
    /* 2 GiB, as much as a protobuf file can hold: a hostile shape cannot make the host allocate more. */
    if ((uint64_t)numel > ONNX_HOST_MAX_BYTES / es)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "onnx: a host tensor of %lld %s elements is over 2 GiB", (long long)numel,
                         vkdl_dtype_name(dtype));
    h->data = calloc((size_t)numel ? (size_t)numel : 1, es);
    if (!h->data)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "onnx: out of host memory for %lld elements",
                         (long long)numel);
    h->dtype = dtype;
    h->ndim = ndim;
    for (int d = 0; d < ndim; d++)
        h->dims[d] = dims[d];
    h->numel = numel;
    return VKDL_OK;
}

void onnx_host_free(onnx_host *h)
{
    if (!h)
        return;
    free(h->data);
    memset(h, 0, sizeof *h);
}

vkdl_status onnx_host_copy(onnx_host *dst, const onnx_host *src)
{
    VKDL_TRY(onnx_host_alloc(dst, src->dtype, src->ndim, src->dims));
    if (src->numel)
        memcpy(dst->data, src->data, (size_t)src->numel * vkdl_dtype_size(src->dtype));
    return VKDL_OK;
}

bool onnx_dtype_is_float(vkdl_dtype d)
{
    return d == VKDL_F32 || d == VKDL_F16 || d == VKDL_BF16 || d == VKDL_F64;
}

double onnx_get_f(const onnx_host *h, int64_t i)
{
    const void *p = h->data;
    switch (h->dtype) {
    case VKDL_F32: return ((const float *)p)[i];
    case VKDL_F64: return ((const double *)p)[i];
    case VKDL_F16: return vkdl_f16_to_f32(((const uint16_t *)p)[i]);
    case VKDL_BF16: return vkdl_bf16_to_f32(((const uint16_t *)p)[i]);
    case VKDL_U64: return (double)((const uint64_t *)p)[i];
    default: return (double)onnx_get_i(h, i);
    }
}

int64_t onnx_get_i(const onnx_host *h, int64_t i)
{
    const void *p = h->data;
    switch (h->dtype) {
    case VKDL_I64: return ((const int64_t *)p)[i];
    case VKDL_I32: return ((const int32_t *)p)[i];
    case VKDL_I16: return ((const int16_t *)p)[i];
    case VKDL_I8: return ((const int8_t *)p)[i];
    case VKDL_U8: return ((const uint8_t *)p)[i];
    case VKDL_BOOL: return ((const uint8_t *)p)[i] != 0;
    case VKDL_U16: return ((const uint16_t *)p)[i];
    case VKDL_U32: return ((const uint32_t *)p)[i];
    case VKDL_U64: return (int64_t)((const uint64_t *)p)[i];
    default: {
        double v = onnx_get_f(h, i);                     /* truncate and saturate, NaN to 0 */
        return isnan(v) ? 0 : v >= 0x1p63 ? INT64_MAX : v <= -0x1p63 ? INT64_MIN : (int64_t)v;
    }
    }
}

void onnx_set_f(onnx_host *h, int64_t i, double v)
{
    void *p = h->data;
    switch (h->dtype) {
    case VKDL_F32: ((float *)p)[i] = (float)v; return;
    case VKDL_F64: ((double *)p)[i] = v; return;
    case VKDL_F16: ((uint16_t *)p)[i] = vkdl_f32_to_f16((float)v); return;
    case VKDL_BF16: ((uint16_t *)p)[i] = vkdl_f32_to_bf16((float)v); return;
    case VKDL_BOOL: ((uint8_t *)p)[i] = v != 0; return;
    default:
        vkdl_convert((char *)p + (size_t)i * vkdl_dtype_size(h->dtype), h->dtype, &v, VKDL_F64, 1);
        return;
    }
}

void onnx_set_i(onnx_host *h, int64_t i, int64_t v)
{
    void *p = h->data;
    switch (h->dtype) {
    case VKDL_I64: ((int64_t *)p)[i] = v; return;
    case VKDL_I32: ((int32_t *)p)[i] = (int32_t)v; return;   /* wraps, as a C cast of the type would */
    case VKDL_I16: ((int16_t *)p)[i] = (int16_t)v; return;
    case VKDL_I8: ((int8_t *)p)[i] = (int8_t)v; return;
    case VKDL_U8: ((uint8_t *)p)[i] = (uint8_t)v; return;
    case VKDL_BOOL: ((uint8_t *)p)[i] = v != 0; return;
    case VKDL_U16: ((uint16_t *)p)[i] = (uint16_t)v; return;
    case VKDL_U32: ((uint32_t *)p)[i] = (uint32_t)v; return;
    case VKDL_U64: ((uint64_t *)p)[i] = (uint64_t)v; return;
    default: onnx_set_f(h, i, (double)v); return;
    }
}

char *onnx_dims_str(int ndim, const int64_t *dims, char *buf, size_t n)
{
    if (ndim <= 0) {
        snprintf(buf, n, "scalar");
        return buf;
    }
    size_t at = 0;
    buf[0] = 0;
    for (int d = 0; d < ndim && at < n; d++)
        at += (size_t)snprintf(buf + at, n - at, d ? "x%lld" : "%lld", (long long)dims[d]);
    return buf;
}

int64_t onnx_bcast_src(int64_t i, int nout, const int64_t *out, int nin, const int64_t *in)
{
    int64_t src = 0, stride = 1;
    for (int d = nout - 1, k = nin - 1; d >= 0; d--, k--) {
        int64_t c = i % out[d];
        i /= out[d];
        if (k >= 0) {
            if (in[k] != 1)
                src += c * stride;
            stride *= in[k];
        }
    }
    return src;
}
