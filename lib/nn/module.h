/* The module and optimizer structs, shared by nn/module.c (layers), nn/trainer.c (optimizers) and
 * io/checkpoint.c (checkpoints of both). */
#ifndef VKDL_MODULE_H
#define VKDL_MODULE_H

#include "nn/nn.h"

#define VKDL_MODULE_MAX_PARAMS 8
#define VKDL_NAME_MAX 128

typedef enum vkdl_init {
    VKDL_INIT_FAN_IN,               /* uniform(+-1/sqrt(fan_in)) */
    VKDL_INIT_XAVIER,               /* uniform(+-sqrt(6/(fan_in + fan_out))) */
    VKDL_INIT_NORMAL,               /* N(0, 1) */
    VKDL_INIT_ZEROS,
    VKDL_INIT_ONES,
} vkdl_init;

typedef struct vkdl_param {
    char name[32];                  /* within its module: "weight" */
    vkdl_tensor *t;
    vkdl_init init;
    double fan_in, fan_out;
    bool buffer;                    /* saved and loaded, never trained */
} vkdl_param;

typedef struct vkdl_module_ops {
    const char *type;
    vkdl_status (*forward)(vkdl_module *m, vkdl_tensor *x, vkdl_tensor **y);
} vkdl_module_ops;

typedef struct vkdl_child {
    char name[32];
    vkdl_module *m;
} vkdl_child;

struct vkdl_module {
    const vkdl_module_ops *ops;
    vkdl_context *ctx;
    bool training;
    int n_params;
    vkdl_param params[VKDL_MODULE_MAX_PARAMS];
    int n_children;
    vkdl_child *children;
    /* per-type settings */
    vkdl_conv2d_info conv;
    bool transposed;
    vkdl_pool2d_params pool;
    vkdl_unary_op act;
    float p, eps, momentum;
    int64_t dim;
    int heads;
    bool causal;
    uint64_t seed, calls;           /* dropout masks: a new seed per training call */
    bool stateful;
    vkdl_tensor *state[2];          /* LSTM/GRU carried h (and c) */
    uint64_t seed_base;             /* the seed the user gave a Dropout layer */
    bool fixed_seed;                /* vkdl_module_init keeps seed_base */
    char name_cache[VKDL_NAME_MAX]; /* vkdl_module_param's answer */
};

/* Every trainable parameter packed into one flat tensor (nn/trainer.c). */
struct vkdl_optim {
    vkdl_context *ctx;
    vkdl_optim_create_info info;
    vkdl_param **params;
    int n_params;
    vkdl_tensor *flat, *grad;       /* all parameters, all gradients */
    vkdl_tensor *m, *v;             /* optimizer state, NULL where the method has none */
    vkdl_tensor *norm, *scale;      /* gradient clipping */
    int64_t steps;
};

extern const vkdl_module_ops vkdl_lstm_ops, vkdl_gru_ops;

/* Parameters and buffers depth first (trainable_only: parameters that require grad), with their
 * names relative to m when names is not NULL; free(*out) and free(*names) after. */
vkdl_status vkdl_module_collect(const vkdl_module *m, bool trainable_only, vkdl_param ***out,
                                char (**names)[VKDL_NAME_MAX], int *count);

/* Every module's dropout seed and call count, depth first, as 4 i32 each (seed low, high, calls
 * low, high): read into state (get) or restored from it; state NULL just counts. Returns the count. */
int vkdl_module_rng_state(vkdl_module *m, int32_t *state, bool get);

#endif
