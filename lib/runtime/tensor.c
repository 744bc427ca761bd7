/* Tensors: a refcounted storage (a suballocation, or host memory on the CPU backend) plus a
 * contiguous row-major shape. Views share the storage. */
#include "runtime/runtime.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *vkdl_dtype_name(vkdl_dtype d)
{
    switch (d) {
#define NAME_(name, value, str) case VKDL_##name: return str;
    VKDL_DTYPE_LIST(NAME_)
#undef NAME_
    }
    return "invalid-dtype";
}

size_t vkdl_dtype_size(vkdl_dtype d)
{
    switch (d) {
    case VKDL_F64: case VKDL_I64: case VKDL_U64: return 8;
    case VKDL_F32: case VKDL_I32: case VKDL_U32: return 4;
    case VKDL_F16: case VKDL_BF16: case VKDL_I16: case VKDL_U16: return 2;
    case VKDL_U8: case VKDL_I8: case VKDL_BOOL: return 1;
    }
    return 0;
}

bool vkdl_dtype_host_only(vkdl_dtype d)
{
    return d != VKDL_F32 && d != VKDL_F16 && d != VKDL_BF16 && d != VKDL_I32 && d != VKDL_U8;
}

/* ---------------------------------------------------------------- conversions */

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

uint16_t vkdl_f32_to_f16(float f)
{
    uint32_t x = f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t exp = (x >> 23) & 0xffu;
    uint32_t man = x & 0x7fffffu;
    if (exp == 0xff)                                     /* inf, NaN (kept quiet) */
        return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {                                        /* subnormal or zero in f16 */
        if (e < -10)
            return (uint16_t)sign;
        man |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t h = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1)))
            h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (man >> 13);
    uint32_t rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1)))
        h++;                                             /* may carry into the exponent: correct */
    return (uint16_t)(sign | h);
}

float vkdl_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f)
        return bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        float v = ldexpf((float)man, -24);
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t vkdl_f32_to_bf16(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40u);            /* keep NaN a NaN */
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

float vkdl_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

static double load_as_double(const void *p, vkdl_dtype d, size_t i)
{
    switch (d) {
    case VKDL_F32: return ((const float *)p)[i];
    case VKDL_F16: return vkdl_f16_to_f32(((const uint16_t *)p)[i]);
    case VKDL_BF16: return vkdl_bf16_to_f32(((const uint16_t *)p)[i]);
    case VKDL_I32: return ((const int32_t *)p)[i];
    case VKDL_U8: return ((const uint8_t *)p)[i];
    case VKDL_I64: return (double)((const int64_t *)p)[i];
    case VKDL_F64: return ((const double *)p)[i];
    case VKDL_I8: return ((const int8_t *)p)[i];
    case VKDL_I16: return ((const int16_t *)p)[i];
    case VKDL_U16: return ((const uint16_t *)p)[i];
    case VKDL_U32: return ((const uint32_t *)p)[i];
    case VKDL_U64: return (double)((const uint64_t *)p)[i];
    case VKDL_BOOL: return ((const uint8_t *)p)[i] != 0;
    }
    return 0;
}

static void store_double(void *p, vkdl_dtype d, size_t i, double v)
{
    switch (d) {
    case VKDL_F32: ((float *)p)[i] = (float)v; break;
    case VKDL_F16: ((uint16_t *)p)[i] = vkdl_f32_to_f16((float)v); break;
    case VKDL_BF16: ((uint16_t *)p)[i] = vkdl_f32_to_bf16((float)v); break;
    case VKDL_I32: /* saturate: casting an out-of-range double is undefined */
        ((int32_t *)p)[i] = isnan(v) ? 0 : v >= 2147483647.0 ? INT32_MAX : v <= -2147483648.0 ? INT32_MIN : (int32_t)v;
        break;
    case VKDL_U8:
        ((uint8_t *)p)[i] = isnan(v) || v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v;
        break;
    case VKDL_I64: /* saturate as for i32; 2^63 is the first double past INT64_MAX */
        ((int64_t *)p)[i] = isnan(v) ? 0 : v >= 0x1p63 ? INT64_MAX : v <= -0x1p63 ? INT64_MIN : (int64_t)v;
        break;
    case VKDL_F64: ((double *)p)[i] = v; break;
    case VKDL_I8: ((int8_t *)p)[i] = (int8_t)(isnan(v) ? 0 : v >= 127 ? 127 : v <= -128 ? -128 : v); break;
    case VKDL_I16: ((int16_t *)p)[i] = (int16_t)(isnan(v) ? 0 : v >= 32767 ? 32767 : v <= -32768 ? -32768 : v); break;
    case VKDL_U16: ((uint16_t *)p)[i] = (uint16_t)(isnan(v) || v <= 0 ? 0 : v >= 65535 ? 65535 : v); break;
    case VKDL_U32: ((uint32_t *)p)[i] = (uint32_t)(isnan(v) || v <= 0 ? 0 : v >= 4294967295.0 ? UINT32_MAX : v); break;
    case VKDL_U64: ((uint64_t *)p)[i] = isnan(v) || v <= 0 ? 0 : v >= 0x1p64 ? UINT64_MAX : (uint64_t)v; break;
    case VKDL_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    }
}

void vkdl_convert(void *dst, vkdl_dtype dd, const void *src, vkdl_dtype sd, size_t n)
{
    if (dd == sd) {
        memcpy(dst, src, n * vkdl_dtype_size(dd));
        return;
    }
    for (size_t i = 0; i < n; i++)
        store_double(dst, dd, i, load_as_double(src, sd, i));
}

/* ---------------------------------------------------------------- storage */

vkdl_status vkdl_storage_create(vkdl_context *ctx, size_t bytes, vkdl_storage **out)
{
    vkdl_storage *st = calloc(1, sizeof *st);
    if (!st)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "tensor_create: out of host memory");
    st->refs = 1;
    st->ctx = ctx;
    st->bytes = bytes;
    size_t peak = ctx->bytes_peak; /* a failed create must not count towards the peak */
    vkdl_status s = vkdl_ctx_charge(ctx, bytes);
    if (s != VKDL_OK) {
        free(st);
        return s;
    }
    if (bytes == 0) {
        *out = st;
        return VKDL_OK;
    }
    if (ctx->backend == VKDL_BACKEND_CPU) {
        /* aligned_alloc wants a multiple of the alignment */
        st->host = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
        if (!st->host)
            s = vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "tensor_create: cannot allocate %zu bytes", bytes);
    } else {
        s = vkdl_memory_alloc(ctx->mem, bytes, &st->alloc);
        if (s == VKDL_OK && vkdl_block_map(st->alloc.block))
            st->host = (char *)vkdl_block_map(st->alloc.block) + st->alloc.offset;
    }
    if (s != VKDL_OK) {
        vkdl_ctx_uncharge(ctx, bytes);
        ctx->bytes_peak = peak;
        free(st);
        return s;
    }
    *out = st;
    return VKDL_OK;
}

void vkdl_storage_release(vkdl_storage *st)
{
    if (--st->refs > 0)
        return;
    if (st->ctx->backend != VKDL_BACKEND_CPU && vkdl_sched_keep_storage(st->ctx, st))
        return;
    vkdl_storage_free(st);
}

void vkdl_storage_free(vkdl_storage *st)
{
    if (st->ctx->backend == VKDL_BACKEND_CPU)
        free(st->host);
    else if (st->alloc.block)
        vkdl_memory_free(st->ctx->mem, &st->alloc);
    vkdl_ctx_uncharge(st->ctx, st->bytes);
    free(st);
}

/* ---------------------------------------------------------------- tensors */

vkdl_status vkdl_tensor_create_on(vkdl_context *ctx, vkdl_dtype dtype, int ndim, const int64_t *shape,
                                  vkdl_storage *st, size_t offset, vkdl_tensor **out)
{
    if (!out)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "tensor_create: out is NULL");
    *out = NULL;
    if (!ctx)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "tensor_create: context is NULL");
    if (vkdl_dtype_size(dtype) == 0)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "tensor_create: invalid dtype %d", (int)dtype);
    if (vkdl_dtype_host_only(dtype))
        return vkdl_fail(VKDL_ERROR_DTYPE_MISMATCH, "tensor_create: %s is a host-only dtype (for upload and "
                         "download); create %s tensor", vkdl_dtype_name(dtype),
                         dtype == VKDL_BOOL ? "a u8" : dtype == VKDL_F64 ? "an f32" : "an i32");
    if (ndim < 0 || ndim > VKDL_MAX_DIMS)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "tensor_create: ndim %d not in [0, %d]", ndim, VKDL_MAX_DIMS);
    if (ndim > 0 && !shape)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "tensor_create: shape is NULL");
    int64_t numel;
    VKDL_TRY(vkdl_numel_checked("tensor_create", ndim, shape, &numel));
    if ((uint64_t)numel > (uint64_t)(SIZE_MAX / 2) / vkdl_dtype_size(dtype))
        return vkdl_fail(VKDL_ERROR_SIZE_OVERFLOW, "tensor_create: %lld elements of %s overflow the byte size",
                         (long long)numel, vkdl_dtype_name(dtype));
    size_t bytes = (size_t)numel * vkdl_dtype_size(dtype);
    if (st && (offset > st->bytes || bytes > st->bytes - offset))
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "tensor_create: %zu bytes at %zu do not fit a storage of %zu",
                         bytes, offset, st->bytes);

    vkdl_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "tensor_create: out of host memory");
    t->handle = VKDL_HANDLE_USER;
    t->ctx = ctx;
    t->dtype = dtype;
    t->ndim = ndim;
    t->numel = numel;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    if (st) {
        st->refs++;
        t->st = st;
        t->offset = offset;
    } else {
        vkdl_status s = vkdl_storage_create(ctx, bytes, &t->st);
        if (s != VKDL_OK) {
            free(t);
            return s;
        }
    }
    *out = t;
    return VKDL_OK;
}

vkdl_status vkdl_tensor_create(vkdl_context *ctx, vkdl_dtype dtype, int ndim, const int64_t *shape,
                               vkdl_tensor **out)
{
    return vkdl_tensor_create_on(ctx, dtype, ndim, shape, NULL, 0, out);
}

void vkdl_tensor_destroy(vkdl_tensor *t)
{
    if (!t || vkdl_check_live("tensor_destroy", "t", t) != VKDL_OK)
        return;
    if (t->handle == VKDL_HANDLE_GRAPH) {
        vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "tensor_destroy: t belongs to the autograd graph, which frees it");
        return;
    }
    if (t->grad_owned)
        vkdl_tensor_destroy(t->grad);
    vkdl_storage_release(t->st);
    free(t);
}

/* ---------------------------------------------------------------- graph handle slots */

static vkdl_tensor *slot_take(vkdl_context *ctx)
{
    vkdl_tensor *t = ctx->dead_head;
    if (!t || ctx->dead_count <= VKDL_QUARANTINE_SLOTS || ctx->graph_frees - t->died < VKDL_QUARANTINE_FREES)
        return malloc(sizeof *t);
    ctx->dead_head = t->next_dead;
    if (!ctx->dead_head)
        ctx->dead_tail = NULL;
    ctx->dead_count--;
    return t;
}

vkdl_status vkdl_tensor_to_slot(vkdl_tensor **t)
{
    vkdl_tensor *slot = slot_take((*t)->ctx);
    if (!slot)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "autograd: out of host memory");
    *slot = **t;
    slot->handle = VKDL_HANDLE_GRAPH;
    free(*t);
    *t = slot;
    return VKDL_OK;
}

void vkdl_tensor_retire(vkdl_tensor *t)
{
    vkdl_context *ctx = t->ctx;
    if (t->grad_owned)
        vkdl_tensor_destroy(t->grad);
    vkdl_storage_release(t->st);
    t->st = NULL;
    t->grad = NULL;
    t->grad_owned = false;
    t->handle = VKDL_HANDLE_DEAD;
    t->died = ctx->graph_frees;
    t->next_dead = NULL;
    if (ctx->dead_tail)
        ctx->dead_tail->next_dead = t;
    else
        ctx->dead_head = t;
    ctx->dead_tail = t;
    ctx->dead_count++;
}

void vkdl_slots_advance(vkdl_context *ctx) { ctx->graph_frees++; }

void vkdl_slots_destroy(vkdl_context *ctx)
{
    while (ctx->dead_head) {
        vkdl_tensor *t = ctx->dead_head;
        ctx->dead_head = t->next_dead;
        free(t);
    }
    ctx->dead_tail = NULL;
    ctx->dead_count = 0;
}

void vkdl_tensor_rebind(vkdl_tensor *t, vkdl_storage *st, size_t offset)
{
    st->refs++;
    vkdl_storage_release(t->st);
    t->st = st;
    t->offset = offset;
}

static vkdl_status make_view(vkdl_tensor *src, size_t offset, int ndim, const int64_t *shape, int64_t numel,
                             vkdl_tensor **out)
{
    vkdl_tensor *v = calloc(1, sizeof *v);
    if (!v)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "view: out of host memory");
    v->handle = VKDL_HANDLE_USER;
    v->ctx = src->ctx;
    v->st = src->st;
    v->dtype = src->dtype;
    v->offset = offset;
    v->ndim = ndim;
    v->numel = numel;
    memset(v->shape, 0, sizeof v->shape);
    for (int i = 0; i < ndim; i++)
        v->shape[i] = shape[i];
    v->st->refs++;
    *out = v;
    return VKDL_OK;
}

vkdl_status vkdl_tensor_reshape(vkdl_tensor *t, int ndim, const int64_t *shape, vkdl_tensor **out)
{
    if (!out)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "reshape: out is NULL");
    *out = NULL;
    VKDL_TRY(vkdl_check_tensor("reshape", "t", t));
    if (ndim < 0 || ndim > VKDL_MAX_DIMS || (ndim > 0 && !shape))
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "reshape: bad ndim %d or NULL shape", ndim);
    int64_t s[VKDL_MAX_DIMS];
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < ndim; i++) {
        s[i] = shape[i];
        if (s[i] == -1) {
            if (infer >= 0)
                return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "reshape: more than one -1 dim");
            infer = i;
            continue;
        }
        if (s[i] < 0)
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "reshape: dim %d is %lld", i, (long long)s[i]);
    }
    if (infer >= 0) {
        s[infer] = 1;
        VKDL_TRY(vkdl_numel_checked("reshape", ndim, s, &known));
        if (known == 0 || t->numel % known != 0) {
            char b[VKDL_SHAPE_BUF];
            return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "reshape: cannot infer a dim for %s", vkdl_shape_str(t, b, sizeof b));
        }
        s[infer] = t->numel / known;
    }
    int64_t numel;
    VKDL_TRY(vkdl_numel_checked("reshape", ndim, s, &numel));
    if (numel != t->numel) {
        char b[VKDL_SHAPE_BUF];
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "reshape: %s has %lld elements, new shape has %lld",
                         vkdl_shape_str(t, b, sizeof b), (long long)t->numel, (long long)numel);
    }
    return make_view(t, t->offset, ndim, s, numel, out);
}

vkdl_status vkdl_tensor_slice(vkdl_tensor *t, int64_t start, int64_t end, vkdl_tensor **out)
{
    if (!out)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "slice: out is NULL");
    *out = NULL;
    VKDL_TRY(vkdl_check_tensor("slice", "t", t));
    if (t->ndim == 0)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "slice: cannot slice a scalar");
    if (start < 0 || end < start || end > t->shape[0]) {
        char b[VKDL_SHAPE_BUF];
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "slice: rows [%lld, %lld) out of range for %s",
                         (long long)start, (long long)end, vkdl_shape_str(t, b, sizeof b));
    }
    int64_t row = t->shape[0] ? t->numel / t->shape[0] : 0;
    int64_t s[VKDL_MAX_DIMS];
    memcpy(s, t->shape, sizeof s);
    s[0] = end - start;
    return make_view(t, t->offset + (size_t)(start * row) * vkdl_dtype_size(t->dtype), t->ndim, s, s[0] * row, out);
}

/* ---------------------------------------------------------------- data movement */

static vkdl_status check_host_io(const char *op, const vkdl_tensor *t, const void *p, vkdl_dtype hd, size_t bytes)
{
    VKDL_TRY(vkdl_check_tensor(op, "tensor", t));
    if (!p && bytes)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: host pointer is NULL", op);
    if (vkdl_dtype_size(hd) == 0)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: invalid host dtype %d", op, (int)hd);
    size_t want = (size_t)t->numel * vkdl_dtype_size(hd);
    if (bytes != want) {
        char b[VKDL_SHAPE_BUF];
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT,
                         "%s: host buffer is %zu bytes, tensor %s of %s needs %zu", op, bytes,
                         vkdl_shape_str(t, b, sizeof b), vkdl_dtype_name(hd), want);
    }
    return VKDL_OK;
}

/* i64 host data must fit an integer tensor exactly, as a cast that wraps or saturates would corrupt
 * indices and labels unseen. */
static vkdl_status check_i64_range(const vkdl_tensor *t, const int64_t *v, size_t n)
{
    int64_t lo = t->dtype == VKDL_I32 ? INT32_MIN : 0, hi = t->dtype == VKDL_I32 ? INT32_MAX : UINT8_MAX;
    if (t->dtype != VKDL_I32 && t->dtype != VKDL_U8)
        return VKDL_OK;
    for (size_t i = 0; i < n; i++)
        if (v[i] < lo || v[i] > hi)
            return vkdl_fail(VKDL_ERROR_OUT_OF_RANGE, "upload: i64 element %zu is %lld, outside %s [%lld, %lld]", i,
                             (long long)v[i], vkdl_dtype_name(t->dtype), (long long)lo, (long long)hi);
    return VKDL_OK;
}

vkdl_status vkdl_tensor_upload(vkdl_tensor *t, const void *src, vkdl_dtype sd, size_t bytes)
{
    VKDL_TRY(check_host_io("upload", t, src, sd, bytes));
    if (sd == VKDL_I64)
        VKDL_TRY(check_i64_range(t, src, (size_t)t->numel));
    size_t n = (size_t)t->numel, tb = vkdl_tensor_bytes(t);
    if (n == 0)
        return VKDL_OK;
    vkdl_context *ctx = t->ctx;
    if (ctx->backend == VKDL_BACKEND_CPU) {
        vkdl_convert(vkdl_tensor_host(t), t->dtype, src, sd, n);
        return VKDL_OK;
    }
    if (t->st->host && !ctx->force_staging) {
        VKDL_TRY(vkdl_sched_host_access(ctx, t->st->alloc.block, t->st->alloc.offset + t->offset, tb));
        vkdl_convert(vkdl_tensor_host(t), t->dtype, src, sd, n);
        return VKDL_OK;
    }
    if (sd == t->dtype)
        return vkdl_sched_upload(ctx, t, src);
    void *tmp = malloc(tb);
    if (!tmp)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "upload: out of host memory");
    vkdl_convert(tmp, t->dtype, src, sd, n);
    vkdl_status s = vkdl_sched_upload(ctx, t, tmp);
    free(tmp);
    return s;
}

vkdl_status vkdl_tensor_download(vkdl_tensor *t, void *dst, vkdl_dtype dd, size_t bytes)
{
    VKDL_TRY(check_host_io("download", t, dst, dd, bytes));
    size_t n = (size_t)t->numel, tb = vkdl_tensor_bytes(t);
    if (n == 0)
        return VKDL_OK;
    vkdl_context *ctx = t->ctx;
    if (ctx->backend == VKDL_BACKEND_CPU) {
        vkdl_convert(dst, dd, vkdl_tensor_host(t), t->dtype, n);
        return VKDL_OK;
    }
    if (t->st->host && !ctx->force_staging) {
        VKDL_TRY(vkdl_sched_host_access(ctx, t->st->alloc.block, t->st->alloc.offset + t->offset, tb));
        vkdl_convert(dst, dd, vkdl_tensor_host(t), t->dtype, n);
        return VKDL_OK;
    }
    if (dd == t->dtype)
        return vkdl_sched_download(ctx, t, dst);
    void *tmp = malloc(tb);
    if (!tmp)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "download: out of host memory");
    vkdl_status s = vkdl_sched_download(ctx, t, tmp);
    if (s == VKDL_OK)
        vkdl_convert(dst, dd, tmp, t->dtype, n);
    free(tmp);
    return s;
}

vkdl_status vkdl_tensor_fill(vkdl_tensor *t, double value)
{
    VKDL_TRY(vkdl_check_tensor("fill", "tensor", t));
    size_t n = (size_t)t->numel, es = vkdl_dtype_size(t->dtype);
    if (n == 0)
        return VKDL_OK;
    uint8_t one[8]; /* the widest dtype store_double writes */
    store_double(one, t->dtype, 0, value);
    if (t->ctx->backend == VKDL_BACKEND_CPU) {
        char *p = vkdl_tensor_host(t);
        for (size_t i = 0; i < n; i++)
            memcpy(p + i * es, one, es);
        return VKDL_OK;
    }
    uint32_t pattern = 0;
    for (size_t i = 0; i < 4; i++)
        ((uint8_t *)&pattern)[i] = one[i % es];
    VkDeviceSize off = t->st->alloc.offset + t->offset, tb = vkdl_tensor_bytes(t);
    if (off % 4 == 0 && tb % 4 == 0)
        return vkdl_sched_fill(t->ctx, t, pattern);
    /* vkCmdFillBuffer needs 4-byte aligned ranges; odd 1- and 2-byte views go through the host. */
    void *tmp = malloc(n * es);
    if (!tmp)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "fill: out of host memory");
    for (size_t i = 0; i < n; i++)
        memcpy((char *)tmp + i * es, one, es);
    vkdl_status s = vkdl_tensor_upload(t, tmp, t->dtype, n * es);
    free(tmp);
    return s;
}

/* The getters answer a dead handle as they answer NULL, and record why. */
static bool live(const char *op, const vkdl_tensor *t) { return t && vkdl_check_live(op, "t", t) == VKDL_OK; }

vkdl_dtype vkdl_tensor_dtype(const vkdl_tensor *t) { return live("tensor_dtype", t) ? t->dtype : VKDL_F32; }
int vkdl_tensor_ndim(const vkdl_tensor *t) { return live("tensor_ndim", t) ? t->ndim : 0; }
int64_t vkdl_tensor_numel(const vkdl_tensor *t) { return live("tensor_numel", t) ? t->numel : 0; }
vkdl_context *vkdl_tensor_context(const vkdl_tensor *t) { return live("tensor_context", t) ? t->ctx : NULL; }

int64_t vkdl_tensor_dim(const vkdl_tensor *t, int i)
{
    if (!live("tensor_dim", t))
        return 0;
    if (i < 0)
        i += t->ndim;
    return i >= 0 && i < t->ndim ? t->shape[i] : 0;
}
