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
VKDL_API const char *vkdl_status_string(vkdl_status status);
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

typedef enum vkdl_optimizer {
    VKDL_SGD = 0,                   /* momentum, dampening, nesterov, weight_decay (state: m) */
    VKDL_ADAM,                      /* beta1, beta2, eps, L2 weight_decay (state: m, v) */
    VKDL_ADAMW,                     /* decoupled weight_decay (state: m, v) */
    VKDL_RMSPROP,                   /* alpha, eps, momentum, weight_decay (state: v, and m if momentum) */
} vkdl_optimizer;

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

#ifdef __cplusplus
}
#endif
#endif
