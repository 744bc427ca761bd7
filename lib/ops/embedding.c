/* vkdl_embedding and its deterministic backward. Shader: shaders/embedding.comp.
 * Tests: tests/test_embedding.c. */
#include "ops/ops.h"
#include "shaders.h"
#include "embedding.h"

#include <stdlib.h>
#include <string.h>

#define WG 64

/* ---------------------------------------------------------------- checks */

/* rows[..., D] (out or dout) must be idx's shape with D appended; table[V, D] (weight or dweight). */
static vkdl_status check_embedding(const char *op, const char *tname, const vkdl_tensor *table, const vkdl_tensor *idx,
                                   const char *rname, const vkdl_tensor *rows)
{
    VKDL_TRY(vkdl_check_tensor(op, tname, table));
    VKDL_TRY(vkdl_check_tensor(op, "idx", idx));
    VKDL_TRY(vkdl_check_tensor(op, rname, rows));
    VKDL_TRY(vkdl_check_same_ctx(op, table, idx));
    VKDL_TRY(vkdl_check_same_ctx(op, table, rows));
    VKDL_TRY(vkdl_check_dtype(op, tname, table, VKDL_F32));
    VKDL_TRY(vkdl_check_dtype(op, "idx", idx, VKDL_I32));
    VKDL_TRY(vkdl_check_dtype(op, rname, rows, VKDL_F32));
    char st[VKDL_SHAPE_BUF], si[VKDL_SHAPE_BUF], sr[VKDL_SHAPE_BUF];
    vkdl_shape_str(table, st, sizeof st);
    vkdl_shape_str(idx, si, sizeof si);
    vkdl_shape_str(rows, sr, sizeof sr);
    if (table->ndim != 2)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: %s is %s, expected [V, D]", op, tname, st);
    bool ok = rows->ndim == idx->ndim + 1 && rows->shape[idx->ndim] == table->shape[1];
    for (int i = 0; ok && i < idx->ndim; i++)
        ok = rows->shape[i] == idx->shape[i];
    if (!ok)
        return vkdl_fail(VKDL_ERROR_SHAPE_MISMATCH, "%s: %s is %s, expected idx's shape %s with %lld (D) appended", op,
                         rname, sr, si, (long long)table->shape[1]);
    if (rows->numel > UINT32_MAX || table->numel > UINT32_MAX)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "%s: %s %s or %s %s has more than 2^32 elements", op, rname, sr, tname,
                         st);
    return VKDL_OK;
}

/* ---------------------------------------------------------------- CPU twin */

static vkdl_status cpu_embedding(const vkdl_tensor *weight, const vkdl_tensor *idx, vkdl_tensor *out)
{
    int64_t V = weight->shape[0], D = weight->shape[1];
    const float *w = vkdl_tensor_host(weight);
    const int32_t *ix = vkdl_tensor_host(idx);
    float *o = vkdl_tensor_host(out);
    for (int64_t r = 0; r < idx->numel; r++) {
        if (ix[r] < 0 || ix[r] >= V)
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "embedding: idx[%lld] = %d is outside [0, %lld)",
                             (long long)r, (int)ix[r], (long long)V);
        memcpy(o + r * D, w + ix[r] * D, (size_t)D * sizeof *o);
    }
    return VKDL_OK;
}

static vkdl_status cpu_embedding_backward(const vkdl_tensor *dout, const vkdl_tensor *idx, vkdl_tensor *dweight)
{
    int64_t V = dweight->shape[0], D = dweight->shape[1];
    const float *g = vkdl_tensor_host(dout);
    const int32_t *ix = vkdl_tensor_host(idx);
    double *acc = calloc((size_t)dweight->numel, sizeof *acc);
    if (!acc)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "embedding_backward: out of host memory");
    for (int64_t r = 0; r < idx->numel; r++) {
        if (ix[r] < 0 || ix[r] >= V) {
            free(acc);
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "embedding_backward: idx[%lld] = %d is outside [0, %lld)",
                             (long long)r, (int)ix[r], (long long)V);
        }
        for (int64_t d = 0; d < D; d++)
            acc[ix[r] * D + d] += g[r * D + d];
    }
    float *dw = vkdl_tensor_host(dweight);
    for (int64_t i = 0; i < dweight->numel; i++)
        dw[i] = (float)acc[i];
    free(acc);
    return VKDL_OK;
}

/* ---------------------------------------------------------------- GPU launcher */

VKDL_PUSH_STRUCT(embedding_push, EMBEDDING_PUSH, 3);

static const vkdl_kernel K_EMBEDDING = {
    VKDL_SPIRV(embedding),
    .n_bindings = 3,
    .access = {VKDL_READ, VKDL_READ, VKDL_WRITE},
    .push_size = sizeof(struct embedding_push),
    .n_spec = EMBEDDING_SPEC_COUNT,
};

/* The table is [V, D]: weight (src) forward, dweight (dst) backward. */
static vkdl_status gpu_embedding(bool backward, const vkdl_tensor *src, const vkdl_tensor *idx, vkdl_tensor *dst,
                                 const vkdl_tensor *table)
{
    struct embedding_push pc = {
        .n = (uint32_t)dst->numel,
        .D = (uint32_t)table->shape[1],
        .V = (uint32_t)table->shape[0],
        .n_idx = (uint32_t)idx->numel,
    };
    uint32_t spec[EMBEDDING_SPEC_COUNT] = {[EMBEDDING_SPEC_WG] = WG, [EMBEDDING_SPEC_BACKWARD] = backward};
    vkdl_dispatch_info d = {.kernel = &K_EMBEDDING, .spec = spec, .tensors = {src, idx, dst}, .push = &pc};
    vkdl_grid_1d(dst->ctx, (uint64_t)(dst->numel + WG - 1) / WG, d.groups);
    return vkdl_dispatch(dst->ctx, &d);
}

/* ---------------------------------------------------------------- entry points */

vkdl_status vkdl_embedding(const vkdl_tensor *weight, const vkdl_tensor *idx, vkdl_tensor *out)
{
    VKDL_TRY(check_embedding("embedding", "weight", weight, idx, "out", out));
    if (out->numel == 0)
        return VKDL_OK;
    if (out->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_embedding(weight, idx, out);
    /* an empty table: every index is out of range, so zero rows */
    if (weight->numel == 0)
        return vkdl_tensor_fill(out, 0);
    return gpu_embedding(false, weight, idx, out, weight);
}

vkdl_status vkdl_embedding_backward(const vkdl_tensor *dout, const vkdl_tensor *idx, vkdl_tensor *dweight)
{
    VKDL_TRY(check_embedding("embedding_backward", "dweight", dweight, idx, "dout", dout));
    if (dweight->numel == 0)
        return VKDL_OK;
    if (dweight->ctx->backend == VKDL_BACKEND_CPU)
        return cpu_embedding_backward(dout, idx, dweight);
    /* no rows looked up: dout and idx have no memory to bind */
    if (dout->numel == 0)
        return vkdl_tensor_fill(dweight, 0);
    return gpu_embedding(true, dout, idx, dweight, dweight);
}
