/* Interface of optim.comp and its launcher lib/ops/optim.c (see interface.h). */
#ifndef VKDL_OPTIM_H
#define VKDL_OPTIM_H
#include "interface.h"

#define OPTIM_SPEC_WG 0        /* workgroup size (both builds) */
#define OPTIM_SPEC_TYPE 1      /* OPTIM_TYPE_* */
#define OPTIM_SPEC_USE_M 2     /* momentum buffer (SGD, RMSprop) / Adam's m */
#define OPTIM_SPEC_NESTEROV 3
#define OPTIM_SPEC_HAS_SCALE 4 /* gradients times grad_scale[0] */
#define OPTIM_SPEC_COUNT 5

/* The CLIP build (global gradient norm) has its own: */
#define OPTIM_CLIP_SPEC_SQUARE 1 /* sum the squares of the input, else the input */
#define OPTIM_CLIP_SPEC_FINAL 2  /* one workgroup writing the norm and the clip factor */
#define OPTIM_CLIP_SPEC_COUNT 3

/* The values of vkdl_optimizer. */
#define OPTIM_TYPE_SGD 0
#define OPTIM_TYPE_ADAM 1
#define OPTIM_TYPE_ADAMW 2
#define OPTIM_TYPE_RMSPROP 3

#define OPTIM_PUSH                                                          \
    u32 n;                                                                  \
    f32 lr;                                                                 \
    f32 wd;                                                                 \
    f32 momentum;                                                           \
    f32 dampening;                                                          \
    f32 beta1;                                                              \
    f32 beta2;                                                              \
    f32 eps;                                                                \
    f32 alpha;                                                              \
    f32 step_size;    /* Adam: lr / (1 - beta1^step) */                     \
    f32 inv_sqrt_bc2; /* Adam: 1 / sqrt(1 - beta2^step) */                  \
    u32 first;        /* SGD: the momentum buffer starts as the gradient */

#define OPTIM_CLIP_PUSH                     \
    u32 n;                                  \
    u32 chunk; /* elements per workgroup */ \
    f32 max_norm;

#endif
