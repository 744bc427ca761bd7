/* vkdl: deep learning on any Vulkan device, with a CPU twin for every op.
 *
 * Conventions (Vulkan/libuv style):
 *  - every call returns a vkdl_status; on failure vkdl_last_error() names the op and the shapes;
 *  - handles are opaque; objects come in create/destroy pairs; destroy(NULL) is a no-op;
 *  - ops write into an output tensor the caller created, so memory is never allocated behind
 *    the caller's back; all tensors of one op belong to one context;
 *  - GPU work is recorded and submitted lazily; vkdl_tensor_download() and vkdl_sync() wait;
 *  - a context and its tensors are used by one thread at a time; separate contexts are independent.
 */
#ifndef VKDL_H
#define VKDL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Only what this header declares is exported from the shared library. */
#if defined(VKDL_BUILD) && defined(__GNUC__)
#define VKDL_API __attribute__((visibility("default")))
#else
#define VKDL_API
#endif

#define VKDL_VERSION_MAJOR 0
#define VKDL_VERSION_MINOR 1
#define VKDL_MAX_DIMS 8

/* Every public enum is declared once as a list X(NAME, value, "string") that feeds the enum and
 * its name functions; each value is pinned, as it is part of the ABI. */
#define VKDL_STATUS_LIST(X)                                                                                 \
    X(OK, 0, "ok")                                                                                          \
    X(ERROR_INVALID_ARGUMENT, 1, "invalid argument")         /* NULL handle, bad enum, axis or parameter */ \
    X(ERROR_SHAPE_MISMATCH, 2, "shape mismatch")             /* shapes cannot be combined as required */    \
    X(ERROR_DTYPE_MISMATCH, 3, "dtype mismatch")             /* dtype not accepted, or tensors disagree */  \
    X(ERROR_SIZE_OVERFLOW, 4, "size overflow")               /* element count or byte size does not fit */  \
    X(ERROR_OUT_OF_HOST_MEMORY, 5, "out of host memory")                                                    \
    X(ERROR_OUT_OF_DEVICE_MEMORY, 6, "out of device memory")                                                \
    X(ERROR_TOO_LARGE, 7, "exceeds a device limit")          /* binding range, allocation size */           \
    X(ERROR_UNSUPPORTED, 8, "unsupported by the device")     /* the device lacks a feature the op needs */  \
    X(ERROR_NO_DEVICE, 9, "no suitable Vulkan device")       /* none at all, or none matches VKDL_DEVICE */ \
    X(ERROR_DEVICE_LOST, 10, "device lost")                                                                 \
    X(ERROR_VULKAN, 11, "Vulkan error")                      /* other Vulkan failures; message has VkResult */\
    X(ERROR_IO, 12, "I/O error")                                                                            \
    X(ERROR_CORRUPT_DATA, 13, "corrupt data")                /* a file or blob failed its checks */         \
    X(ERROR_CONTEXT_MISMATCH, 14, "tensors from different contexts") /* tensors of two contexts in one op */

#define VKDL_ENUM_VALUE_(name, value, string) VKDL_##name = value,

typedef enum vkdl_status { VKDL_STATUS_LIST(VKDL_ENUM_VALUE_) } vkdl_status;

/* A static English name for a status, e.g. "shape mismatch" ("unknown status" if out of range). */
VKDL_API const char *vkdl_status_string(vkdl_status status);
/* The status's identifier, e.g. "VKDL_ERROR_SHAPE_MISMATCH" ("unknown" if out of range). */
VKDL_API const char *vkdl_status_name(vkdl_status status);
/* The calling thread's message for its last failed call ("matmul: inner dims differ: ..."). */
VKDL_API const char *vkdl_last_error(void);

typedef enum vkdl_dtype {
    VKDL_F32 = 0,
    VKDL_F16,
    VKDL_BF16,
    VKDL_I32,
    VKDL_U8,
} vkdl_dtype;

/* "f32", "f16", ...; and the size of one element in bytes (0 for an invalid dtype). */
VKDL_API const char *vkdl_dtype_name(vkdl_dtype dtype);
VKDL_API size_t vkdl_dtype_size(vkdl_dtype dtype);

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
VKDL_API vkdl_status vkdl_context_create(const vkdl_context_create_info *info, vkdl_context **out);
/* Wait for outstanding work, save the pipeline cache, free everything. */
VKDL_API void vkdl_context_destroy(vkdl_context *ctx);
/* Submit recorded work and wait for it; reports any validation message seen so far. */
VKDL_API vkdl_status vkdl_sync(vkdl_context *ctx);
/* The device's name ("llvmpipe (LLVM 15...)", or "cpu" for the CPU backend). */
VKDL_API const char *vkdl_context_device_name(const vkdl_context *ctx);
VKDL_API vkdl_backend vkdl_context_backend(const vkdl_context *ctx);
/* Bytes of tensor memory in use now and at the peak since creation (or the last reset). */
VKDL_API void vkdl_context_memory(const vkdl_context *ctx, size_t *current, size_t *peak);
VKDL_API void vkdl_context_reset_peak(vkdl_context *ctx);
/* Number of validation-layer messages (warnings and errors) seen; 0 without validation. */
VKDL_API uint64_t vkdl_context_validation_messages(const vkdl_context *ctx);

/* Print every Vulkan device with its probed features, and which one `device` selects. */
VKDL_API vkdl_status vkdl_devices_print(FILE *out, const char *device);

/* ------------------------------------------------------------------ tensors */

/* A contiguous row-major tensor of up to VKDL_MAX_DIMS dims; contents are undefined. */
VKDL_API vkdl_status vkdl_tensor_create(vkdl_context *ctx, vkdl_dtype dtype, int ndim, const int64_t *shape,
                               vkdl_tensor **out);
/* Views share memory with their source and keep it alive; destroy each handle once. */
VKDL_API void vkdl_tensor_destroy(vkdl_tensor *t);
/* A view with the same elements in a new shape (one dim may be -1 to infer it). */
VKDL_API vkdl_status vkdl_tensor_reshape(vkdl_tensor *t, int ndim, const int64_t *shape, vkdl_tensor **out);
/* A view of rows [start, end) along the first dim. */
VKDL_API vkdl_status vkdl_tensor_slice(vkdl_tensor *t, int64_t start, int64_t end, vkdl_tensor **out);

/* Copy numel elements from host memory of dtype src_dtype (converted as needed: f32<->f16/bf16,
 * i32/u8<->f32); src_bytes must be exactly numel * size of src_dtype. */
VKDL_API vkdl_status vkdl_tensor_upload(vkdl_tensor *t, const void *src, vkdl_dtype src_dtype, size_t src_bytes);
/* Wait for pending writes to t and copy it to host memory, converting to dst_dtype. */
VKDL_API vkdl_status vkdl_tensor_download(vkdl_tensor *t, void *dst, vkdl_dtype dst_dtype, size_t dst_bytes);
/* Set every element to value (rounded to the tensor's dtype). */
VKDL_API vkdl_status vkdl_tensor_fill(vkdl_tensor *t, double value);

VKDL_API vkdl_dtype vkdl_tensor_dtype(const vkdl_tensor *t);
VKDL_API int vkdl_tensor_ndim(const vkdl_tensor *t);
/* Size of dim i; negative i counts from the end; 0 if out of range. */
VKDL_API int64_t vkdl_tensor_dim(const vkdl_tensor *t, int i);
VKDL_API int64_t vkdl_tensor_numel(const vkdl_tensor *t);
VKDL_API vkdl_context *vkdl_tensor_context(const vkdl_tensor *t);

/* ------------------------------------------------------------------ ops
 * f32 unless stated. Output shapes must be exactly what the op produces. */

#define VKDL_UNARY_OP_LIST(X)                                                     \
    X(RELU, 0, "relu")                                                            \
    X(GELU_TANH, 1, "gelu_tanh")    /* 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))) */ \
    X(GELU_ERF, 2, "gelu_erf")      /* 0.5x(1+erf(x/sqrt 2)) */                   \
    X(SIGMOID, 3, "sigmoid")                                                      \
    X(TANH, 4, "tanh")                                                            \
    X(EXP, 5, "exp")                                                              \
    X(LOG, 6, "log")                                                              \
    X(SQRT, 7, "sqrt")                                                            \
    X(NEG, 8, "neg")                                                              \
    X(ABS, 9, "abs")

#define VKDL_BINARY_OP_LIST(X) X(ADD, 0, "add") X(SUB, 1, "sub") X(MUL, 2, "mul") X(DIV, 3, "div")

#define VKDL_REDUCE_OP_LIST(X)                                                    \
    X(SUM, 0, "sum")                                                              \
    X(MEAN, 1, "mean")                                                            \
    X(MAX, 2, "max")                                                              \
    X(ARGMAX, 3, "argmax")          /* output i32: first index of the maximum */

typedef enum vkdl_unary_op { VKDL_UNARY_OP_LIST(VKDL_ENUM_VALUE_) VKDL_UNARY_OP_COUNT = 10 } vkdl_unary_op;
typedef enum vkdl_binary_op { VKDL_BINARY_OP_LIST(VKDL_ENUM_VALUE_) VKDL_BINARY_OP_COUNT = 4 } vkdl_binary_op;
typedef enum vkdl_reduce_op { VKDL_REDUCE_OP_LIST(VKDL_ENUM_VALUE_) VKDL_REDUCE_OP_COUNT = 4 } vkdl_reduce_op;

/* An op's lower-case name, e.g. "gelu_tanh", "add", "argmax" ("unknown" if out of range). */
VKDL_API const char *vkdl_unary_op_name(vkdl_unary_op op);
VKDL_API const char *vkdl_binary_op_name(vkdl_binary_op op);
VKDL_API const char *vkdl_reduce_op_name(vkdl_reduce_op op);

/* out = op(x), same shape. */
VKDL_API vkdl_status vkdl_unary(vkdl_unary_op op, const vkdl_tensor *x, vkdl_tensor *out);
/* out = alpha * x + beta. */
VKDL_API vkdl_status vkdl_scale(const vkdl_tensor *x, float alpha, float beta, vkdl_tensor *out);
/* out = a op b with numpy broadcasting; out has the broadcast shape. */
VKDL_API vkdl_status vkdl_binary(vkdl_binary_op op, const vkdl_tensor *a, const vkdl_tensor *b, vkdl_tensor *out);
/* Reduce along axis (negative counts from the end); out has that dim removed, or set to 1 if
 * its ndim equals x's (keepdim). */
VKDL_API vkdl_status vkdl_reduce(vkdl_reduce_op op, const vkdl_tensor *x, int axis, vkdl_tensor *out);
/* Numerically stable softmax / log-softmax along the last axis. */
VKDL_API vkdl_status vkdl_softmax(const vkdl_tensor *x, vkdl_tensor *out);
VKDL_API vkdl_status vkdl_log_softmax(const vkdl_tensor *x, vkdl_tensor *out);
/* out = x with dims permuted: out.shape[i] = x.shape[perm[i]]; any dtype. */
VKDL_API vkdl_status vkdl_permute(const vkdl_tensor *x, const int *perm, vkdl_tensor *out);
/* out = x (same numel, any shape), converting dtype where they differ (f32/f16/bf16/i32). */
VKDL_API vkdl_status vkdl_copy(const vkdl_tensor *x, vkdl_tensor *out);

typedef struct vkdl_matmul_info {
    int trans_a, trans_b;           /* use A^T / B^T */
    float alpha, beta;              /* out = act(alpha * op(A) op(B) + bias) + beta * out */
    const vkdl_tensor *bias;        /* optional f32 [N], added to every row (fused epilogue) */
    int fuse_act;                   /* nonzero: apply act in the epilogue */
    vkdl_unary_op act;
} vkdl_matmul_info;

/* Batched matmul: a is [..., M, K] (or [..., K, M] with trans_a), b is [..., K, N] (or [..., N, K]),
 * out is [..., M, N]. a and b have out's batch dims or are plain matrices shared by every batch.
 * a and b are both f32, f16 or bf16 (accumulation is f32); out is f32 or a's dtype.
 * The epilogue works in f32 on the accumulator: bias, then act, then beta times the old out (read
 * only when beta != 0); a 16-bit out is rounded once, to nearest even.
 * info NULL means no transposes, alpha 1, beta 0, no epilogue. */
VKDL_API vkdl_status vkdl_matmul(const vkdl_tensor *a, const vkdl_tensor *b, vkdl_tensor *out,
                        const vkdl_matmul_info *info);

/* ------------------------------------------------------------------ backward of the basic ops
 * Gradients are written (not accumulated) into the d* outputs; a NULL d* output is skipped. */

/* dx = dy * op'(x). */
VKDL_API vkdl_status vkdl_unary_backward(vkdl_unary_op op, const vkdl_tensor *x, const vkdl_tensor *dy, vkdl_tensor *dx);
/* Gradients of out = a op b: dout reduced over the dims a (or b) was broadcast along. */
VKDL_API vkdl_status vkdl_binary_backward(vkdl_binary_op op, const vkdl_tensor *a, const vkdl_tensor *b,
                                 const vkdl_tensor *dout, vkdl_tensor *da, vkdl_tensor *db);
/* From the forward output y: dx = y * (dy - sum(dy * y)) and dx = dy - exp(y) * sum(dy). */
VKDL_API vkdl_status vkdl_softmax_backward(const vkdl_tensor *y, const vkdl_tensor *dy, vkdl_tensor *dx);
VKDL_API vkdl_status vkdl_log_softmax_backward(const vkdl_tensor *y, const vkdl_tensor *dy, vkdl_tensor *dx);

/* ------------------------------------------------------------------ convolution (NCHW) */

typedef struct vkdl_conv2d_info {
    int stride[2];                  /* (h, w); 0 means 1 */
    int padding[2];                 /* zero padding on both sides */
    int dilation[2];                /* 0 means 1 */
    int groups;                     /* 0 means 1; C and O must divide by it (depthwise: groups = C) */
    int output_padding[2];          /* conv_transpose2d only: extra rows/cols on one side */
} vkdl_conv2d_info;

/* out[N,O,OH,OW] = conv(x[N,C,H,W], w[O,C/groups,KH,KW]) + bias[O] (bias may be NULL);
 * OH = (H + 2 pad - dil (KH - 1) - 1) / stride + 1. Conv1d is the case H = KH = 1. */
VKDL_API vkdl_status vkdl_conv2d(const vkdl_tensor *x, const vkdl_tensor *w, const vkdl_tensor *bias, vkdl_tensor *out,
                        const vkdl_conv2d_info *info);
/* dx from dy[N,O,OH,OW] and w. */
VKDL_API vkdl_status vkdl_conv2d_backward_data(const vkdl_tensor *dy, const vkdl_tensor *w, vkdl_tensor *dx,
                                      const vkdl_conv2d_info *info);
/* dw from x and dy, and dbias (may be NULL) = dy summed over N, OH, OW. */
VKDL_API vkdl_status vkdl_conv2d_backward_weight(const vkdl_tensor *x, const vkdl_tensor *dy, vkdl_tensor *dw,
                                        vkdl_tensor *dbias, const vkdl_conv2d_info *info);
/* The transpose (gradient) of conv2d: x[N,C,H,W], w[C,O/groups,KH,KW], out[N,O,OH,OW] with
 * OH = (H - 1) stride - 2 pad + dil (KH - 1) + output_padding + 1. Its backward passes are
 * vkdl_conv2d (for dx) and vkdl_conv_transpose2d_backward_weight. */
VKDL_API vkdl_status vkdl_conv_transpose2d(const vkdl_tensor *x, const vkdl_tensor *w, const vkdl_tensor *bias,
                                  vkdl_tensor *out, const vkdl_conv2d_info *info);
VKDL_API vkdl_status vkdl_conv_transpose2d_backward_weight(const vkdl_tensor *x, const vkdl_tensor *dy, vkdl_tensor *dw,
                                                  vkdl_tensor *dbias, const vkdl_conv2d_info *info);

/* ------------------------------------------------------------------ pooling and upsampling (NCHW) */

typedef struct vkdl_pool2d_info {
    int kernel[2];
    int stride[2];                  /* 0 means the kernel size */
    int padding[2];
    int count_include_pad;          /* avg pool: divide by the full window (PyTorch's default is 1) */
} vkdl_pool2d_info;

/* Max pool; indices (i32, same shape as out, may be NULL) hold argmax positions h*W+w for backward. */
VKDL_API vkdl_status vkdl_maxpool2d(const vkdl_tensor *x, vkdl_tensor *out, vkdl_tensor *indices, const vkdl_pool2d_info *info);
VKDL_API vkdl_status vkdl_maxpool2d_backward(const vkdl_tensor *dy, const vkdl_tensor *indices, vkdl_tensor *dx);
VKDL_API vkdl_status vkdl_avgpool2d(const vkdl_tensor *x, vkdl_tensor *out, const vkdl_pool2d_info *info);
VKDL_API vkdl_status vkdl_avgpool2d_backward(const vkdl_tensor *dy, vkdl_tensor *dx, const vkdl_pool2d_info *info);
/* out[N,C,1,1] = mean over H, W, and its backward. */
VKDL_API vkdl_status vkdl_global_avgpool2d(const vkdl_tensor *x, vkdl_tensor *out);
VKDL_API vkdl_status vkdl_global_avgpool2d_backward(const vkdl_tensor *dy, vkdl_tensor *dx);
/* Nearest-neighbour upsampling by the integer factors out.H / x.H and out.W / x.W; backward sums. */
VKDL_API vkdl_status vkdl_upsample_nearest2d(const vkdl_tensor *x, vkdl_tensor *out);
VKDL_API vkdl_status vkdl_upsample_nearest2d_backward(const vkdl_tensor *dy, vkdl_tensor *dx);

/* ------------------------------------------------------------------ normalisation */

/* Batch norm over N, H, W of x[N,C,H,W] (or x[N,C]). Training: batch statistics, saved for
 * backward (save_mean, save_rstd [C]), and running_* updated with momentum (unbiased variance);
 * eval: running statistics. gamma/beta may be NULL (1 and 0). */
VKDL_API vkdl_status vkdl_batchnorm(const vkdl_tensor *x, const vkdl_tensor *gamma, const vkdl_tensor *beta,
                           vkdl_tensor *running_mean, vkdl_tensor *running_var, int training, float momentum,
                           float eps, vkdl_tensor *out, vkdl_tensor *save_mean, vkdl_tensor *save_rstd);
/* Training-mode backward: dx, and dgamma/dbeta [C] (each may be NULL). */
VKDL_API vkdl_status vkdl_batchnorm_backward(const vkdl_tensor *dy, const vkdl_tensor *x, const vkdl_tensor *gamma,
                                    const vkdl_tensor *save_mean, const vkdl_tensor *save_rstd, vkdl_tensor *dx,
                                    vkdl_tensor *dgamma, vkdl_tensor *dbeta);
/* Layer norm over the last dim D of x[..., D]; gamma/beta [D] may be NULL; mean/rstd [rows] are
 * saved for backward (may be NULL in inference). */
VKDL_API vkdl_status vkdl_layernorm(const vkdl_tensor *x, const vkdl_tensor *gamma, const vkdl_tensor *beta, float eps,
                           vkdl_tensor *out, vkdl_tensor *save_mean, vkdl_tensor *save_rstd);
VKDL_API vkdl_status vkdl_layernorm_backward(const vkdl_tensor *dy, const vkdl_tensor *x, const vkdl_tensor *gamma,
                                    const vkdl_tensor *save_mean, const vkdl_tensor *save_rstd, vkdl_tensor *dx,
                                    vkdl_tensor *dgamma, vkdl_tensor *dbeta);
/* RMS norm over the last dim: out = x * rstd * gamma, rstd = 1/sqrt(mean(x^2) + eps). */
VKDL_API vkdl_status vkdl_rmsnorm(const vkdl_tensor *x, const vkdl_tensor *gamma, float eps, vkdl_tensor *out,
                         vkdl_tensor *save_rstd);
VKDL_API vkdl_status vkdl_rmsnorm_backward(const vkdl_tensor *dy, const vkdl_tensor *x, const vkdl_tensor *gamma,
                                  const vkdl_tensor *save_rstd, vkdl_tensor *dx, vkdl_tensor *dgamma);

/* ------------------------------------------------------------------ attention */

typedef struct vkdl_attention_info {
    float scale;                    /* 0 means 1/sqrt(head_dim) */
    int causal;                     /* query i sees keys j <= i + (Sk - Sq) */
    const vkdl_tensor *mask;        /* optional additive f32 mask [Sq, Sk] or [B, 1 or H, Sq, Sk] */
} vkdl_attention_info;

/* Fused scaled-dot-product attention (flash-style: never materialises the Sq x Sk matrix).
 * q[B,H,Sq,D], k and v [B,Hkv,Sk,D] with H % Hkv == 0 (grouped-query), out[B,H,Sq,D];
 * lse[B,H,Sq] (may be NULL) receives each row's log-sum-exp for backward. D <= 256. */
VKDL_API vkdl_status vkdl_attention(const vkdl_tensor *q, const vkdl_tensor *k, const vkdl_tensor *v, vkdl_tensor *out,
                           vkdl_tensor *lse, const vkdl_attention_info *info);
/* dq, dk, dv from dout, the forward inputs, out and lse (also without the Sq x Sk matrix). */
VKDL_API vkdl_status vkdl_attention_backward(const vkdl_tensor *q, const vkdl_tensor *k, const vkdl_tensor *v,
                                    const vkdl_tensor *out, const vkdl_tensor *lse, const vkdl_tensor *dout,
                                    vkdl_tensor *dq, vkdl_tensor *dk, vkdl_tensor *dv,
                                    const vkdl_attention_info *info);

/* ------------------------------------------------------------------ embedding and dropout */

/* out[..., D] = weight[idx[...], :]; idx is i32; an index outside [0, V) gives
 * VKDL_ERROR_INVALID_ARGUMENT on the CPU and zero rows on the GPU (checked where cheap). */
VKDL_API vkdl_status vkdl_embedding(const vkdl_tensor *weight, const vkdl_tensor *idx, vkdl_tensor *out);
/* dweight[V, D] = sum of dout rows per index (deterministic: the same bits on every run). */
VKDL_API vkdl_status vkdl_embedding_backward(const vkdl_tensor *dout, const vkdl_tensor *idx, vkdl_tensor *dweight);
/* out = x * mask / (1 - p), mask from Philox-4x32-10 keyed by seed and the element index: the same
 * mask on every device and the CPU. Backward applies the same mask to dy. */
VKDL_API vkdl_status vkdl_dropout(const vkdl_tensor *x, float p, uint64_t seed, vkdl_tensor *out);
VKDL_API vkdl_status vkdl_dropout_backward(const vkdl_tensor *dy, float p, uint64_t seed, vkdl_tensor *dx);

/* ------------------------------------------------------------------ losses
 * Each loss writes a scalar (shape [] or [1]) f32 mean over the batch; backward takes dloss as a
 * float (the upstream gradient of that scalar) and writes the input's gradient. */

/* mean((pred - target)^2) */
VKDL_API vkdl_status vkdl_mse_loss(const vkdl_tensor *pred, const vkdl_tensor *target, vkdl_tensor *loss);
VKDL_API vkdl_status vkdl_mse_loss_backward(const vkdl_tensor *pred, const vkdl_tensor *target, float dloss,
                                   vkdl_tensor *dpred);

typedef struct vkdl_cross_entropy_info {
    int ignore_index;               /* targets equal to it add nothing (set to e.g. -100) */
    float label_smoothing;          /* 0..1 */
} vkdl_cross_entropy_info;

/* Fused log-softmax + NLL over logits[N, C] with i32 targets[N], averaged over the targets that are
 * not ignored. info NULL: no ignore_index, no smoothing. */
VKDL_API vkdl_status vkdl_cross_entropy(const vkdl_tensor *logits, const vkdl_tensor *targets, vkdl_tensor *loss,
                               const vkdl_cross_entropy_info *info);
VKDL_API vkdl_status vkdl_cross_entropy_backward(const vkdl_tensor *logits, const vkdl_tensor *targets, float dloss,
                                        vkdl_tensor *dlogits, const vkdl_cross_entropy_info *info);
/* mean(max(x,0) - x t + log(1 + exp(-|x|))), targets f32 in [0, 1]. */
VKDL_API vkdl_status vkdl_bce_with_logits(const vkdl_tensor *logits, const vkdl_tensor *targets, vkdl_tensor *loss);
VKDL_API vkdl_status vkdl_bce_with_logits_backward(const vkdl_tensor *logits, const vkdl_tensor *targets, float dloss,
                                          vkdl_tensor *dlogits);

/* ------------------------------------------------------------------ recurrent layers
 * x[T, B, I], h0/c0 [B, H] (NULL means zeros), w_ih[G H, I], w_hh[G H, H], b_ih/b_hh [G H] (may be
 * NULL), with G = 4 (LSTM gates i, f, g, o) or 3 (GRU gates r, z, n), PyTorch's layout. out[T, B, H]
 * holds every step's h. The workspace (create with the size from *_workspace_shape) keeps what
 * backward needs. */

/* Shape of the f32 workspace for T steps: [T, B, 5 H] (LSTM) or [T, B, 4 H] (GRU). */
VKDL_API void vkdl_lstm_workspace_shape(int64_t T, int64_t B, int64_t H, int64_t shape[3]);
VKDL_API void vkdl_gru_workspace_shape(int64_t T, int64_t B, int64_t H, int64_t shape[3]);
VKDL_API vkdl_status vkdl_lstm(const vkdl_tensor *x, const vkdl_tensor *h0, const vkdl_tensor *c0, const vkdl_tensor *w_ih,
                      const vkdl_tensor *w_hh, const vkdl_tensor *b_ih, const vkdl_tensor *b_hh, vkdl_tensor *out,
                      vkdl_tensor *h_n, vkdl_tensor *c_n, vkdl_tensor *workspace);
/* Backward through time from dout[T,B,H] (and dh_n/dc_n, may be NULL): dx, dh0, dc0 and the
 * weight/bias gradients (any output may be NULL). */
VKDL_API vkdl_status vkdl_lstm_backward(const vkdl_tensor *x, const vkdl_tensor *h0, const vkdl_tensor *c0,
                               const vkdl_tensor *w_ih, const vkdl_tensor *w_hh, const vkdl_tensor *out,
                               const vkdl_tensor *workspace, const vkdl_tensor *dout, const vkdl_tensor *dh_n,
                               const vkdl_tensor *dc_n, vkdl_tensor *dx, vkdl_tensor *dh0, vkdl_tensor *dc0,
                               vkdl_tensor *dw_ih, vkdl_tensor *dw_hh, vkdl_tensor *db_ih, vkdl_tensor *db_hh);
VKDL_API vkdl_status vkdl_gru(const vkdl_tensor *x, const vkdl_tensor *h0, const vkdl_tensor *w_ih, const vkdl_tensor *w_hh,
                     const vkdl_tensor *b_ih, const vkdl_tensor *b_hh, vkdl_tensor *out, vkdl_tensor *h_n,
                     vkdl_tensor *workspace);
VKDL_API vkdl_status vkdl_gru_backward(const vkdl_tensor *x, const vkdl_tensor *h0, const vkdl_tensor *w_ih,
                              const vkdl_tensor *w_hh, const vkdl_tensor *b_hh, const vkdl_tensor *out,
                              const vkdl_tensor *workspace, const vkdl_tensor *dout, const vkdl_tensor *dh_n,
                              vkdl_tensor *dx, vkdl_tensor *dh0, vkdl_tensor *dw_ih, vkdl_tensor *dw_hh,
                              vkdl_tensor *db_ih, vkdl_tensor *db_hh);

/* ------------------------------------------------------------------ optimizers
 * Parameters, gradients and optimizer state are flat f32 tensors of equal numel: keep every
 * parameter of a model as a view of one flat tensor and a whole step is one dispatch. */

#define VKDL_OPTIMIZER_LIST(X)                                                                      \
    X(SGD, 0, "sgd")                /* momentum, dampening, nesterov, weight_decay (state: m) */        \
    X(ADAM, 1, "adam")              /* beta1, beta2, eps, L2 weight_decay (state: m, v) */              \
    X(ADAMW, 2, "adamw")            /* decoupled weight_decay (state: m, v) */                          \
    X(RMSPROP, 3, "rmsprop")        /* alpha, eps, momentum, weight_decay (state: v, and m if momentum) */

typedef enum vkdl_optimizer { VKDL_OPTIMIZER_LIST(VKDL_ENUM_VALUE_) } vkdl_optimizer;

/* "sgd", "adam", "adamw", "rmsprop" ("unknown" if out of range). */
VKDL_API const char *vkdl_optimizer_name(vkdl_optimizer type);

typedef struct vkdl_optim_info {
    vkdl_optimizer type;
    float lr, weight_decay;
    float momentum, dampening;
    int nesterov;
    float beta1, beta2, eps;        /* Adam/AdamW; RMSprop uses eps */
    float alpha;                    /* RMSprop smoothing */
    int64_t step;                   /* 1-based step count: Adam's bias correction; SGD with momentum
                                     * starts its buffer as the gradient at step 1 */
    const vkdl_tensor *grad_scale;  /* optional f32 [1]: gradients are multiplied by it (clipping) */
} vkdl_optim_info;

/* Update param in place from grad; m and v are the state tensors the optimizer needs (zeros at
 * the start), NULL where it needs none. */
VKDL_API vkdl_status vkdl_optim_step(const vkdl_optim_info *info, vkdl_tensor *param, const vkdl_tensor *grad, vkdl_tensor *m,
                            vkdl_tensor *v);
/* Global-norm clipping without a host round trip: norm[1] = ||grad||_2 and scale[1] =
 * min(1, max_norm / (norm + 1e-6)), for vkdl_optim_info.grad_scale (or vkdl_scale). */
VKDL_API vkdl_status vkdl_clip_grad_norm(const vkdl_tensor *grad, float max_norm, vkdl_tensor *norm, vkdl_tensor *scale);

/* ------------------------------------------------------------------ checkpoints (safetensors) */

/* Write tensors (any backend, any dtype) under their names to a safetensors file: written to a
 * temporary file in the same directory, then renamed, so a crash never leaves a torn checkpoint. */
VKDL_API vkdl_status vkdl_safetensors_save(const char *path, int count, const char *const *names, vkdl_tensor *const *tensors);
/* Fill existing tensors from the entries of those names (shapes must match; F32/F16/BF16/I32/U8
 * entries are converted to the tensor's dtype); other entries are ignored. */
VKDL_API vkdl_status vkdl_safetensors_load(const char *path, int count, const char *const *names, vkdl_tensor *const *tensors);

/* ------------------------------------------------------------------ autograd
 * Leaves are tensors marked with vkdl_tensor_set_requires_grad (a module's parameters are). The
 * vkdl_f_* functions below allocate their output; while grad mode is on and an input requires
 * gradients, they also record their backward on the context's tape. Every tensor a vkdl_f_*
 * function returns belongs to the context's graph: it stays valid until vkdl_backward() or
 * vkdl_graph_free() and must not be destroyed by the caller. Graph memory is pooled, so a
 * training loop that repeats the same shapes reaches a steady state within its first few steps and
 * allocates nothing after that. Inputs of recorded ops must stay alive and unchanged until backward. */

/* Mark a leaf: vkdl_backward accumulates its gradient into vkdl_tensor_grad(t). f32 only. */
VKDL_API vkdl_status vkdl_tensor_set_requires_grad(vkdl_tensor *t, int requires_grad);
VKDL_API int vkdl_tensor_requires_grad(const vkdl_tensor *t);
/* The accumulated gradient of a leaf (same shape), or NULL before its first backward. */
VKDL_API vkdl_tensor *vkdl_tensor_grad(const vkdl_tensor *t);
/* Back-propagate from loss (a one-element tensor, seed gradient 1), accumulating into the leaves'
 * gradients; then free the graph (loss included). */
VKDL_API vkdl_status vkdl_backward(vkdl_tensor *loss);
/* Free the graph without a backward pass (after evaluation, or to drop a step). */
VKDL_API void vkdl_graph_free(vkdl_context *ctx);
/* Switch recording on (the default) or off, e.g. for evaluation; returns the previous setting. */
VKDL_API int vkdl_grad_enabled(vkdl_context *ctx, int enabled);

/* Differentiable ops: the same semantics as the ops above, with the output allocated in the graph. */
VKDL_API vkdl_status vkdl_f_unary(vkdl_unary_op op, vkdl_tensor *x, vkdl_tensor **out);
VKDL_API vkdl_status vkdl_f_scale(vkdl_tensor *x, float alpha, float beta, vkdl_tensor **out);
VKDL_API vkdl_status vkdl_f_binary(vkdl_binary_op op, vkdl_tensor *a, vkdl_tensor *b, vkdl_tensor **out);
/* SUM or MEAN along axis; keepdim keeps it as size 1. */
VKDL_API vkdl_status vkdl_f_reduce(vkdl_reduce_op op, vkdl_tensor *x, int axis, int keepdim, vkdl_tensor **out);
VKDL_API vkdl_status vkdl_f_softmax(vkdl_tensor *x, vkdl_tensor **out);
VKDL_API vkdl_status vkdl_f_log_softmax(vkdl_tensor *x, vkdl_tensor **out);
/* A view in a new shape (one dim may be -1); its gradient flows back to x. */
VKDL_API vkdl_status vkdl_f_reshape(vkdl_tensor *x, int ndim, const int64_t *shape, vkdl_tensor **out);
VKDL_API vkdl_status vkdl_f_permute(vkdl_tensor *x, const int *perm, vkdl_tensor **out);
/* a[..., M, K] x b[..., K, N] with equal batch dims, or b a plain [K, N] matrix; info may set
 * trans_a, trans_b and alpha (no bias or epilogue: see vkdl_f_linear). */
VKDL_API vkdl_status vkdl_f_matmul(vkdl_tensor *a, vkdl_tensor *b, const vkdl_matmul_info *info, vkdl_tensor **out);
/* y[..., out] = x[..., in] w[out, in]^T + bias[out] (bias may be NULL): PyTorch's layout. */
VKDL_API vkdl_status vkdl_f_linear(vkdl_tensor *x, vkdl_tensor *w, vkdl_tensor *bias, vkdl_tensor **out);
VKDL_API vkdl_status vkdl_f_conv2d(vkdl_tensor *x, vkdl_tensor *w, vkdl_tensor *bias, const vkdl_conv2d_info *info,
                                   vkdl_tensor **out);
VKDL_API vkdl_status vkdl_f_conv_transpose2d(vkdl_tensor *x, vkdl_tensor *w, vkdl_tensor *bias,
                                             const vkdl_conv2d_info *info, vkdl_tensor **out);
VKDL_API vkdl_status vkdl_f_maxpool2d(vkdl_tensor *x, const vkdl_pool2d_info *info, vkdl_tensor **out);
VKDL_API vkdl_status vkdl_f_avgpool2d(vkdl_tensor *x, const vkdl_pool2d_info *info, vkdl_tensor **out);
VKDL_API vkdl_status vkdl_f_global_avgpool2d(vkdl_tensor *x, vkdl_tensor **out);
VKDL_API vkdl_status vkdl_f_upsample_nearest2d(vkdl_tensor *x, int factor, vkdl_tensor **out);
/* Training mode uses batch statistics and updates running_mean/var; eval uses the running ones
 * (and, when gradients are wanted, is differentiated as the per-channel affine map it is). */
VKDL_API vkdl_status vkdl_f_batchnorm(vkdl_tensor *x, vkdl_tensor *gamma, vkdl_tensor *beta, vkdl_tensor *running_mean,
                                      vkdl_tensor *running_var, int training, float momentum, float eps,
                                      vkdl_tensor **out);
VKDL_API vkdl_status vkdl_f_layernorm(vkdl_tensor *x, vkdl_tensor *gamma, vkdl_tensor *beta, float eps,
                                      vkdl_tensor **out);
VKDL_API vkdl_status vkdl_f_attention(vkdl_tensor *q, vkdl_tensor *k, vkdl_tensor *v, const vkdl_attention_info *info,
                                      vkdl_tensor **out);
VKDL_API vkdl_status vkdl_f_embedding(vkdl_tensor *weight, vkdl_tensor *idx, vkdl_tensor **out);
VKDL_API vkdl_status vkdl_f_dropout(vkdl_tensor *x, float p, uint64_t seed, vkdl_tensor **out);
VKDL_API vkdl_status vkdl_f_mse_loss(vkdl_tensor *pred, vkdl_tensor *target, vkdl_tensor **loss);
VKDL_API vkdl_status vkdl_f_cross_entropy(vkdl_tensor *logits, vkdl_tensor *targets,
                                          const vkdl_cross_entropy_info *info, vkdl_tensor **loss);
VKDL_API vkdl_status vkdl_f_bce_with_logits(vkdl_tensor *logits, vkdl_tensor *targets, vkdl_tensor **loss);
/* x[T, B, I] -> out[T, B, H]; h_n/c_n (may be NULL) receive the final states, without gradient. */
VKDL_API vkdl_status vkdl_f_lstm(vkdl_tensor *x, vkdl_tensor *h0, vkdl_tensor *c0, vkdl_tensor *w_ih, vkdl_tensor *w_hh,
                                 vkdl_tensor *b_ih, vkdl_tensor *b_hh, vkdl_tensor **out, vkdl_tensor **h_n,
                                 vkdl_tensor **c_n);
VKDL_API vkdl_status vkdl_f_gru(vkdl_tensor *x, vkdl_tensor *h0, vkdl_tensor *w_ih, vkdl_tensor *w_hh, vkdl_tensor *b_ih,
                                vkdl_tensor *b_hh, vkdl_tensor **out, vkdl_tensor **h_n);

/* ------------------------------------------------------------------ modules (layers)
 * A module owns its parameters (leaves requiring grad) and buffers (batch-norm statistics), named
 * as PyTorch's state_dict names them ("0.weight", "blocks.1.attn.q_proj.bias"). Containers take
 * ownership of their children. Input layouts: Linear [..., in]; Conv [N, C, H, W]; LayerNorm
 * [..., D]; Embedding i32 [...] -> [..., D]; attention and transformer blocks [B, T, D]; LSTM and
 * GRU [T, B, I] -> [T, B, H]. */

typedef struct vkdl_module vkdl_module;

VKDL_API vkdl_status vkdl_linear_create(vkdl_context *ctx, int64_t in, int64_t out, int bias, vkdl_module **m);
VKDL_API vkdl_status vkdl_conv2d_create(vkdl_context *ctx, int64_t in_ch, int64_t out_ch, int kernel,
                                        const vkdl_conv2d_info *info, int bias, vkdl_module **m);
VKDL_API vkdl_status vkdl_conv_transpose2d_create(vkdl_context *ctx, int64_t in_ch, int64_t out_ch, int kernel,
                                                  const vkdl_conv2d_info *info, int bias, vkdl_module **m);
VKDL_API vkdl_status vkdl_batchnorm2d_create(vkdl_context *ctx, int64_t channels, float momentum, float eps,
                                             vkdl_module **m);
VKDL_API vkdl_status vkdl_layernorm_create(vkdl_context *ctx, int64_t dim, float eps, vkdl_module **m);
VKDL_API vkdl_status vkdl_embedding_create(vkdl_context *ctx, int64_t vocab, int64_t dim, vkdl_module **m);
/* Multi-head self-attention: q/k/v/out projections around the fused attention kernel. */
VKDL_API vkdl_status vkdl_attention_create(vkdl_context *ctx, int64_t dim, int heads, int causal, vkdl_module **m);
/* Pre-norm GPT block: x + attn(ln1(x)), then + mlp(ln2(x)) with a GELU MLP of `hidden` units. */
VKDL_API vkdl_status vkdl_transformer_block_create(vkdl_context *ctx, int64_t dim, int heads, int64_t hidden,
                                                   int causal, float dropout, vkdl_module **m);
VKDL_API vkdl_status vkdl_lstm_create(vkdl_context *ctx, int64_t in, int64_t hidden, vkdl_module **m);
VKDL_API vkdl_status vkdl_gru_create(vkdl_context *ctx, int64_t in, int64_t hidden, vkdl_module **m);
/* Dropout with probability p in training mode (a new mask every call: the seed plus the call count);
 * identity in eval. */
VKDL_API vkdl_status vkdl_dropout_create(vkdl_context *ctx, float p, uint64_t seed, vkdl_module **m);
/* Parameter-free layers: an activation, pooling, and flatten ([N, ...] -> [N, rest]). */
VKDL_API vkdl_status vkdl_activation_create(vkdl_context *ctx, vkdl_unary_op op, vkdl_module **m);
VKDL_API vkdl_status vkdl_maxpool2d_create(vkdl_context *ctx, const vkdl_pool2d_info *info, vkdl_module **m);
VKDL_API vkdl_status vkdl_flatten_create(vkdl_context *ctx, vkdl_module **m);
/* Runs children in order; takes ownership of them (also on failure). Children are named "0", "1"... */
VKDL_API vkdl_status vkdl_sequential_create(vkdl_context *ctx, int count, vkdl_module *const *children,
                                            vkdl_module **m);
VKDL_API void vkdl_module_destroy(vkdl_module *m);

/* LSTM/GRU: when stateful, each forward starts from the final state of the previous one (carried
 * without gradient, for sampling and truncated back-propagation); reset zeros that state. */
VKDL_API vkdl_status vkdl_module_set_stateful(vkdl_module *m, int stateful);
VKDL_API vkdl_status vkdl_module_reset_state(vkdl_module *m);
/* y = m(x), recorded for backward when grad mode is on; y belongs to the graph. */
VKDL_API vkdl_status vkdl_module_forward(vkdl_module *m, vkdl_tensor *x, vkdl_tensor **y);
/* The i-th child of a container (NULL past the end). */
VKDL_API vkdl_module *vkdl_module_child(const vkdl_module *m, int i);
/* Training (dropout on, batch statistics) or evaluation mode, for m and all its children. */
VKDL_API void vkdl_module_set_training(vkdl_module *m, int training);
/* Re-initialise every parameter from seed, as PyTorch's defaults do: Kaiming-uniform weights and
 * uniform(+-1/sqrt(fan_in)) biases for Linear/Conv, Xavier-uniform attention projections, N(0,1)
 * embeddings, ones/zeros for norms; and reseed the dropout inside transformer blocks (a Dropout
 * layer keeps its own seed). Generated on the host: identical on every device. New layers start
 * initialised from their creation order, each differently. */
VKDL_API vkdl_status vkdl_module_init(vkdl_module *m, uint64_t seed);
/* Parameters and buffers, depth first: count, then the i-th name (relative to m, as m's own
 * state_dict would name it; valid until the next call on m) and tensor. */
VKDL_API int vkdl_module_param_count(const vkdl_module *m);
VKDL_API vkdl_status vkdl_module_param(const vkdl_module *m, int i, const char **name, vkdl_tensor **t);
/* Number of trainable scalars. */
VKDL_API int64_t vkdl_module_numel(const vkdl_module *m);

/* ------------------------------------------------------------------ training */

typedef struct vkdl_optim vkdl_optim;

typedef struct vkdl_optim_create_info {
    vkdl_optim_info hyper;          /* type and hyper-parameters; lr is the peak rate; step, grad_scale unused */
    int64_t warmup_steps;           /* linear warm-up from lr / warmup_steps to lr */
    int64_t total_steps;            /* > 0: cosine decay from lr to min_lr at total_steps (then min_lr) */
    float min_lr;
    float max_grad_norm;            /* > 0: clip the global gradient norm to it before each update */
} vkdl_optim_create_info;

/* An optimizer over m's parameters that require gradients (freeze one with
 * vkdl_tensor_set_requires_grad(t, 0) before this call). It repacks them (and their gradients) as
 * views of one flat tensor, so a whole update is a single dispatch; parameter handles stay valid. */
VKDL_API vkdl_status vkdl_optim_create(vkdl_module *m, const vkdl_optim_create_info *info, vkdl_optim **out);
VKDL_API void vkdl_optim_destroy(vkdl_optim *opt);
/* Zero every parameter's gradient (one fill). */
VKDL_API vkdl_status vkdl_optim_zero_grad(vkdl_optim *opt);
/* One update from the accumulated gradients, with the scheduled rate and clipping. */
VKDL_API vkdl_status vkdl_optim_update(vkdl_optim *opt);
/* Updates done so far, and the learning rate the next update will use. */
VKDL_API int64_t vkdl_optim_steps(const vkdl_optim *opt);
VKDL_API float vkdl_optim_lr(const vkdl_optim *opt);
/* The schedule alone: the rate of (1-based) update number step. */
VKDL_API float vkdl_lr_schedule(const vkdl_optim_create_info *info, int64_t step);

/* Save or restore a module's parameters and buffers under their state_dict names, its dropout
 * seeds and counts ("vkdl.rng", optional when loading) and, if opt is not NULL, the optimizer's
 * state and step count ("optim.m", "optim.v", "optim.step"), as safetensors. Loading then training
 * on continues bit for bit as if never interrupted. */
VKDL_API vkdl_status vkdl_checkpoint_save(const char *path, vkdl_module *m, vkdl_optim *opt);
VKDL_API vkdl_status vkdl_checkpoint_load(const char *path, vkdl_module *m, vkdl_optim *opt);

/* ------------------------------------------------------------------ data */

typedef struct vkdl_dataset vkdl_dataset;

/* MNIST-format IDX files (plain or gzip): x f32 [N, 1, H, W] scaled to [0, 1], y i32 [N]. */
VKDL_API vkdl_status vkdl_dataset_load_idx(const char *images, const char *labels, vkdl_dataset **out);
/* A numeric CSV table (plain or gzip; leading lines that do not parse as a row of numbers, such
 * as headers, are skipped): x f32 [N, F] from every column but label_column (negative counts from
 * the end), y i32 [N] from it. */
VKDL_API vkdl_status vkdl_dataset_load_csv(const char *path, int label_column, vkdl_dataset **out);
/* A text file as a byte-level language-modelling set: sample i is x = ids of text[i, i+block),
 * y = ids of text[i+1, i+block+1) (i32 [block] each); ids index the sorted distinct bytes. */
VKDL_API vkdl_status vkdl_dataset_load_text(const char *path, int64_t block, vkdl_dataset **out);
VKDL_API void vkdl_dataset_destroy(vkdl_dataset *ds);
/* Samples, classes (labels are 0..classes-1; vocabulary size for text) and one sample's x shape. */
VKDL_API int64_t vkdl_dataset_size(const vkdl_dataset *ds);
VKDL_API int vkdl_dataset_classes(const vkdl_dataset *ds);
VKDL_API int vkdl_dataset_sample_shape(const vkdl_dataset *ds, int64_t shape[VKDL_MAX_DIMS]);
/* The byte of text id `id` (text sets), and the id of a byte (-1 if absent). */
VKDL_API int vkdl_dataset_decode(const vkdl_dataset *ds, int id);
VKDL_API int vkdl_dataset_encode(const vkdl_dataset *ds, int byte);
/* Shuffle the sample order with a seed (reproducible); batches follow the current order. */
VKDL_API vkdl_status vkdl_dataset_shuffle(vkdl_dataset *ds, uint64_t seed);
/* Move the last n samples of the current order into a new dataset (a held-out split). */
VKDL_API vkdl_status vkdl_dataset_split(vkdl_dataset *ds, int64_t n, vkdl_dataset **out);
/* Standardise each feature to zero mean and unit variance using train's statistics, applied to
 * train and to other (may be NULL). */
VKDL_API vkdl_status vkdl_dataset_standardize(vkdl_dataset *train, vkdl_dataset *other);
/* Upload samples [first, first + count) of the current order into x [count, sample shape...] and
 * y ([count] labels, or [count, block] for text). */
VKDL_API vkdl_status vkdl_dataset_batch(const vkdl_dataset *ds, int64_t first, int64_t count, vkdl_tensor *x,
                                        vkdl_tensor *y);

/* ------------------------------------------------------------------ pictures (libpng) */

/* Write images x[N, C, H, W] (C = 1 or 3, values in [lo, hi]) as a PNG grid of `cols` columns. */
VKDL_API vkdl_status vkdl_png_write_grid(const char *path, vkdl_tensor *x, int cols, float lo, float hi);
/* Plot up to 4 series of n values (e.g. training and test loss per step) as a PNG line chart of
 * width x height pixels with axes; NULL series are skipped. */
VKDL_API vkdl_status vkdl_png_write_curve(const char *path, int width, int height, int count,
                                          const float *const *series, const int64_t *n);

#ifdef __cplusplus
}
#endif
#endif
