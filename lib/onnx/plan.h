/* Plans' insides, shared by plan.c (making and running plans) and fuse.c (the rewrites a plan
 * applies while it is made). Internal to lib/onnx. */
#ifndef VKDL_ONNX_PLAN_H
#define VKDL_ONNX_PLAN_H

#include "onnx/onnx.h"

typedef enum pv_kind { PV_NONE, PV_HOST, PV_DEVICE } pv_kind;

typedef struct plan_value {
    pv_kind kind;
    vkdl_dtype dtype;               /* ONNX's */
    int ndim;
    int64_t dims[VKDL_MAX_DIMS];
    onnx_host host;                 /* PV_HOST */
    vkdl_tensor *dev;               /* PV_DEVICE: its tensor; PV_HOST: its upload, made when first read */
    int alias;                      /* PV_DEVICE: a view of this value's data, or -1 */
    int def, last;                  /* first and last step that touches it (its data, for an alias' root) */
    size_t offset, bytes;
    bool input, fixed;
    bool borrowed;                  /* host is the model's initializer: not freed with the plan */
} plan_value;

typedef struct plan_temp {
    int step;
    bool view;                      /* a view made on the first run (onnx_reshape), not arena bytes */
    bool constant;                  /* made and uploaded when planning (onnx_const), not arena bytes */
    vkdl_dtype dtype;
    int ndim;
    int64_t dims[VKDL_MAX_DIMS];
    size_t offset, bytes;
    vkdl_tensor *t;
} plan_temp;

struct vkdl_onnx_plan {
    vkdl_context *ctx;
    vkdl_onnx_model *m;
    plan_value *v;
    int n_values, cap_values;       /* the model's values, then those fusion adds (folded weights) */
    char **extra_names;             /* names of the added values */
    int *uses;                      /* per model value: nodes reading it, plus 1 for a graph output */
    bool *fused;                    /* per model node: merged into another step, or not needed */
    int *outputs, n_outputs;        /* the values a run returns: the graph's, or those the plan asked for */
    onnx_node *synth;               /* nodes fusion made (their in/out arrays are the plan's) */
    int n_synth;
    const onnx_node **steps;        /* device steps in order: model nodes or synthetic ones */
    int n_steps;
    plan_temp *temps;
    int n_temps, cap_temps;
    int *step_temp0;                /* each step's first temp */
    vkdl_storage *arena;
    vkdl_recording *rec;            /* the steps as one command buffer, or NULL: issued each run */
    onnx_host *outs;                /* the last run's outputs */
    vkdl_onnx_plan_stats stats;
};


/* The name of value v (a model value or one fusion added). */
const char *plan_value_name(const vkdl_onnx_plan *p, int v);
/* A new host value holding h (taken over); its index, or -1 when out of host memory. */
int plan_value_add(vkdl_onnx_plan *p, const char *name, onnx_host *h);

/* Try the rewrites that start at model node n (whose inputs are planned): on a match, *out is a
 * synthetic node standing for n and the nodes it absorbed (now marked fused), to be planned in
 * n's place. */
vkdl_status plan_fuse(vkdl_onnx_plan *p, int n, const onnx_node **out);

#endif
