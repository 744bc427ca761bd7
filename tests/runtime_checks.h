/* Checks of tensors on a given context (every one fails the case it runs in on a mismatch). test_tensor
 * runs them on the shared CPU and Vulkan contexts; test_sched runs them again on a context that forces
 * every transfer through the staging path. */
#ifndef VKDL_RUNTIME_CHECKS_H
#define VKDL_RUNTIME_CHECKS_H

#include "harness.h"

/* Zero-element tensors of every dtype and rank, and the 0-d scalar. */
void th_check_zero_size(vkdl_context *c);
/* Host conversions on upload and download: rounding, overflow, subnormals, NaN, signed zero. */
void th_check_conversions(vkdl_context *c);
/* A view keeps the storage alive after its source handle is gone, with GPU work pending on it. */
void th_check_keep_alive(vkdl_context *c);
/* A tensor destroyed while GPU work that writes it is still pending does not corrupt its successor. */
void th_check_reuse_pending(vkdl_context *c);
/* Fill and upload through views at odd element offsets. */
void th_check_view_fill(vkdl_context *c);
/* fill(t, v) equals uploading v as f32 on the CPU backend, for every dtype, size and value. */
void th_check_fill_all(vkdl_context *c);

#endif
