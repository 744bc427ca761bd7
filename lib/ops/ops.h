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

/* ------------------------------------------------------------------ optimizers (ops/optim.c) */

/* *out = *in with zero hyper-parameters replaced by PyTorch's defaults, after checking every one
 * (messages start with op); the optimizer's state tensors and step are not looked at. */
vkdl_status vkdl_optim_resolve(const char *op, const vkdl_optim_info *in, vkdl_optim_info *out);

#endif
