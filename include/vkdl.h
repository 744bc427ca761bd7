/* vkdl: deep learning on any Vulkan device, with a CPU twin for every op.
 *
 * Conventions (Vulkan/libuv style):
 *  - every call returns a vkdl_status; on failure vkdl_last_error() names the op and the shapes;
 *  - handles are opaque; objects come in create/destroy pairs; destroy(NULL) is a no-op;
 *  - ops write into an output tensor the caller created, so memory is never allocated behind
 *    the caller's back; all tensors of one op belong to one context;
 *  - GPU work is recorded and submitted lazily; vkdl_tensor_download() and vkdl_sync() wait.
 */
#ifndef VKDL_H
#define VKDL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VKDL_VERSION_MAJOR 0
#define VKDL_VERSION_MINOR 1
#define VKDL_MAX_DIMS 8

typedef enum vkdl_status {
    VKDL_OK = 0,
    VKDL_ERROR_INVALID_ARGUMENT,    /* NULL handle, bad enum, bad axis or parameter */
    VKDL_ERROR_SHAPE_MISMATCH,      /* shapes cannot be combined as the op requires */
    VKDL_ERROR_DTYPE_MISMATCH,      /* dtype not accepted by the op, or tensors disagree */
    VKDL_ERROR_SIZE_OVERFLOW,       /* element count or byte size does not fit */
    VKDL_ERROR_OUT_OF_HOST_MEMORY,
    VKDL_ERROR_OUT_OF_DEVICE_MEMORY,
    VKDL_ERROR_TOO_LARGE,           /* exceeds a device limit (binding range, allocation size) */
    VKDL_ERROR_UNSUPPORTED,         /* the device lacks a feature the op needs */
    VKDL_ERROR_NO_DEVICE,           /* no Vulkan device, or none matches VKDL_DEVICE */
    VKDL_ERROR_DEVICE_LOST,
    VKDL_ERROR_VULKAN,              /* any other Vulkan failure; the message has the VkResult */
    VKDL_ERROR_IO,
    VKDL_ERROR_CORRUPT_DATA,        /* a file or blob failed its checks */
    VKDL_ERROR_CONTEXT_MISMATCH,    /* tensors from different contexts in one op */
} vkdl_status;

/* A static English name for a status, e.g. "shape mismatch". */
const char *vkdl_status_string(vkdl_status status);
/* The calling thread's message for its last failed call ("matmul: inner dims differ: ..."). */
const char *vkdl_last_error(void);

typedef enum vkdl_dtype {
    VKDL_F32 = 0,
    VKDL_F16,
    VKDL_BF16,
    VKDL_I32,
    VKDL_U8,
} vkdl_dtype;

/* "f32", "f16", ...; and the size of one element in bytes (0 for an invalid dtype). */
const char *vkdl_dtype_name(vkdl_dtype dtype);
size_t vkdl_dtype_size(vkdl_dtype dtype);

/* ------------------------------------------------------------------ context */

typedef struct vkdl_context vkdl_context;
typedef struct vkdl_tensor vkdl_tensor;

typedef enum vkdl_backend {
    VKDL_BACKEND_VULKAN = 0,        /* the default */
    VKDL_BACKEND_CPU,               /* the reference implementation every kernel is tested against */
} vkdl_backend;

typedef enum vkdl_context_flags {
    VKDL_CONTEXT_VALIDATE = 1 << 0,       /* Khronos validation layer + messenger (also VKDL_VALIDATE=1) */
    VKDL_CONTEXT_PROFILE = 1 << 1,        /* per-kernel GPU times on stderr (also VKDL_PROFILE=1) */
    VKDL_CONTEXT_PRECISE = 1 << 2,        /* no reduced-precision arithmetic (also VKDL_PRECISE=1) */
    VKDL_CONTEXT_NO_DISK_CACHE = 1 << 3,  /* neither read nor write the pipeline cache file */
} vkdl_context_flags;

typedef struct vkdl_context_create_info {
    vkdl_backend backend;
    /* Device index or case-insensitive name substring; NULL means $VKDL_DEVICE, else the best
     * device (discrete > integrated > virtual > CPU). */
    const char *device;
    uint32_t flags;                 /* vkdl_context_flags */
    /* Directory for the pipeline cache; NULL means $XDG_CACHE_HOME/vkdl or ~/.cache/vkdl. */
    const char *cache_dir;
} vkdl_context_create_info;

/* Create a context (info may be NULL for all defaults). */
vkdl_status vkdl_context_create(const vkdl_context_create_info *info, vkdl_context **out);
/* Wait for outstanding work, save the pipeline cache, free everything. */
void vkdl_context_destroy(vkdl_context *ctx);
/* Submit recorded work and wait for it; reports any validation message seen so far. */
vkdl_status vkdl_sync(vkdl_context *ctx);
/* The device's name ("llvmpipe (LLVM 15...)", or "cpu" for the CPU backend). */
const char *vkdl_context_device_name(const vkdl_context *ctx);
vkdl_backend vkdl_context_backend(const vkdl_context *ctx);
/* Bytes of tensor memory in use now and at the peak since creation (or the last reset). */
void vkdl_context_memory(const vkdl_context *ctx, size_t *current, size_t *peak);
void vkdl_context_reset_peak(vkdl_context *ctx);
/* Number of validation-layer messages (warnings and errors) seen; 0 without validation. */
uint64_t vkdl_context_validation_messages(const vkdl_context *ctx);

/* Print every Vulkan device with its probed features, and which one `device` selects. */
vkdl_status vkdl_devices_print(FILE *out, const char *device);

/* ------------------------------------------------------------------ tensors */

/* A contiguous row-major tensor of up to VKDL_MAX_DIMS dims; contents are undefined. */
vkdl_status vkdl_tensor_create(vkdl_context *ctx, vkdl_dtype dtype, int ndim, const int64_t *shape,
                               vkdl_tensor **out);
/* Views share memory with their source and keep it alive; destroy each handle once. */
void vkdl_tensor_destroy(vkdl_tensor *t);
/* A view with the same elements in a new shape (one dim may be -1 to infer it). */
vkdl_status vkdl_tensor_reshape(vkdl_tensor *t, int ndim, const int64_t *shape, vkdl_tensor **out);
/* A view of rows [start, end) along the first dim. */
vkdl_status vkdl_tensor_slice(vkdl_tensor *t, int64_t start, int64_t end, vkdl_tensor **out);

/* Copy numel elements from host memory of dtype src_dtype (converted as needed: f32<->f16/bf16,
 * i32/u8<->f32); src_bytes must be exactly numel * size of src_dtype. */
vkdl_status vkdl_tensor_upload(vkdl_tensor *t, const void *src, vkdl_dtype src_dtype, size_t src_bytes);
/* Wait for pending writes to t and copy it to host memory, converting to dst_dtype. */
vkdl_status vkdl_tensor_download(vkdl_tensor *t, void *dst, vkdl_dtype dst_dtype, size_t dst_bytes);
/* Set every element to value (rounded to the tensor's dtype). */
vkdl_status vkdl_tensor_fill(vkdl_tensor *t, double value);

vkdl_dtype vkdl_tensor_dtype(const vkdl_tensor *t);
int vkdl_tensor_ndim(const vkdl_tensor *t);
/* Size of dim i; negative i counts from the end; 0 if out of range. */
int64_t vkdl_tensor_dim(const vkdl_tensor *t, int i);
int64_t vkdl_tensor_numel(const vkdl_tensor *t);
vkdl_context *vkdl_tensor_context(const vkdl_tensor *t);

/* ------------------------------------------------------------------ ops
 * f32 unless stated. Output shapes must be exactly what the op produces. */

typedef enum vkdl_unary_op {
    VKDL_RELU = 0,
    VKDL_GELU_TANH,                 /* 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))) */
    VKDL_GELU_ERF,                  /* 0.5x(1+erf(x/sqrt 2)) */
    VKDL_SIGMOID,
    VKDL_TANH,
    VKDL_EXP,
    VKDL_LOG,
    VKDL_SQRT,
    VKDL_NEG,
    VKDL_ABS,
    VKDL_UNARY_OP_COUNT
} vkdl_unary_op;

typedef enum vkdl_binary_op {
    VKDL_ADD = 0,
    VKDL_SUB,
    VKDL_MUL,
    VKDL_DIV,
    VKDL_BINARY_OP_COUNT
} vkdl_binary_op;

typedef enum vkdl_reduce_op {
    VKDL_SUM = 0,
    VKDL_MEAN,
    VKDL_MAX,
    VKDL_ARGMAX,                    /* output i32: first index of the maximum */
    VKDL_REDUCE_OP_COUNT
} vkdl_reduce_op;

/* out = op(x), same shape. */
vkdl_status vkdl_unary(vkdl_unary_op op, const vkdl_tensor *x, vkdl_tensor *out);
/* out = alpha * x + beta. */
vkdl_status vkdl_scale(const vkdl_tensor *x, float alpha, float beta, vkdl_tensor *out);
/* out = a op b with numpy broadcasting; out has the broadcast shape. */
vkdl_status vkdl_binary(vkdl_binary_op op, const vkdl_tensor *a, const vkdl_tensor *b, vkdl_tensor *out);
/* Reduce along axis (negative counts from the end); out has that dim removed, or set to 1 if
 * its ndim equals x's (keepdim). */
vkdl_status vkdl_reduce(vkdl_reduce_op op, const vkdl_tensor *x, int axis, vkdl_tensor *out);
/* Numerically stable softmax / log-softmax along the last axis. */
vkdl_status vkdl_softmax(const vkdl_tensor *x, vkdl_tensor *out);
vkdl_status vkdl_log_softmax(const vkdl_tensor *x, vkdl_tensor *out);
/* out = x with dims permuted: out.shape[i] = x.shape[perm[i]]; any dtype. */
vkdl_status vkdl_permute(const vkdl_tensor *x, const int *perm, vkdl_tensor *out);
/* out = x (same numel, any shape), converting dtype where they differ (f32/f16/bf16/i32). */
vkdl_status vkdl_copy(const vkdl_tensor *x, vkdl_tensor *out);

typedef struct vkdl_matmul_info {
    int trans_a, trans_b;           /* use A^T / B^T */
    float alpha, beta;              /* out = alpha * op(A) op(B) + beta * out */
} vkdl_matmul_info;

/* Batched matmul: a is [..., M, K] (or [..., K, M] with trans_a), b is [..., K, N] (or [..., N, K]),
 * out is [..., M, N]. Batch dims broadcast (a 2-D operand is shared by every batch).
 * info NULL means no transposes, alpha 1, beta 0. */
vkdl_status vkdl_matmul(const vkdl_tensor *a, const vkdl_tensor *b, vkdl_tensor *out,
                        const vkdl_matmul_info *info);

#ifdef __cplusplus
}
#endif
#endif
