/* The ops layer (lib/ops/): one file per op family, each holding its checks, CPU twin, GPU launcher
 * and public entry points, in that order. May use the runtime layer only. */
#ifndef VKDL_OPS_H
#define VKDL_OPS_H

#include "runtime/runtime.h"

/* ------------------------------------------------------------------ elementwise (ops/elementwise.c) */

/* The default alpha and beta of a unary op (vkdl.h's list), for every launcher of an activation;
 * 0 for ops without parameters. */
void vkdl_unary_defaults(vkdl_unary_op op, float *alpha, float *beta);

/* ------------------------------------------------------------------ dropout (ops/dropout.c) */

/* One Philox-4x32-10 block (Salmon et al., SC 2011): the mask generator of vkdl_dropout, whose
 * counter is (element index / 4, 0, 0, 0) and key the seed's (low, high) words. */
void vkdl_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* ------------------------------------------------------------------ pooling (ops/pool.c) */

/* [N, C, OH, OW] of max (max) or average pooling the 4-D x with info and its extension chain,
 * checked as vkdl_maxpool2d / vkdl_avgpool2d check them (messages start with op). */
vkdl_status vkdl_pool2d_out_shape(const char *op, const vkdl_tensor *x, const vkdl_pool2d_info *info, bool max,
                                  int64_t shape[4]);

/* A pooling info and its extension, kept past the call that passed them (a module, a graph node):
 * the caller's chain may be gone by the time they are used. */
typedef struct vkdl_pool2d_params {
    vkdl_pool2d_info info;          /* next is NULL */
    vkdl_pool2d_ext_info ext;       /* type 0 when info had none */
} vkdl_pool2d_params;

/* Copy info (checked with vkdl_pool2d_out_shape before) and the extension it chains. */
vkdl_pool2d_params vkdl_pool2d_params_of(const vkdl_pool2d_info *info);
/* p's info with its extension chained again, valid while p is. */
vkdl_pool2d_info vkdl_pool2d_params_info(const vkdl_pool2d_params *p);

/* ------------------------------------------------------------------ optimizers (ops/optim.c) */

/* *out = *in with zero hyper-parameters replaced by PyTorch's defaults, after checking every one
 * (messages start with op); the optimizer's state tensors and step are not looked at. */
vkdl_status vkdl_optim_resolve(const char *op, const vkdl_optim_info *in, vkdl_optim_info *out);

#endif
