/* The ONNX layer (lib/onnx/): models read through protobuf-c (model.c), host tensors and the
 * host evaluator's helpers (host.c), plans (plan.c) and the ops, one file per family (op_*.c),
 * each with a host implementation (any dtype, used when every input is known at plan time) and
 * a device one (vkdl ops on f32 / i32 / u8 tensors). Internal to lib/; uses every layer below. */
#ifndef VKDL_ONNX_H
#define VKDL_ONNX_H

#include "ops/ops.h"

/* ------------------------------------------------------------------ host tensors (host.c) */

/* A host tensor that owns its data (numel elements of dtype, row-major). */
typedef struct onnx_host {
    vkdl_dtype dtype;
    int ndim;
    int64_t dims[VKDL_MAX_DIMS];
    int64_t numel;
    void *data;
} onnx_host;

#define ONNX_HOST_MAX_BYTES ((uint64_t)1 << 31)

/* Allocate a tensor of dtype and shape with zeroed data; checks the element count. */
vkdl_status onnx_host_alloc(onnx_host *h, vkdl_dtype dtype, int ndim, const int64_t *dims);
void onnx_host_free(onnx_host *h);
/* A deep copy. */
vkdl_status onnx_host_copy(onnx_host *dst, const onnx_host *src);
/* Element i read as double / as int64 (exact for every integer dtype up to 2^63; u64 above
 * wraps), and written from them (rounded and saturated as vkdl_convert does). */
double onnx_get_f(const onnx_host *h, int64_t i);
int64_t onnx_get_i(const onnx_host *h, int64_t i);
void onnx_set_f(onnx_host *h, int64_t i, double v);
void onnx_set_i(onnx_host *h, int64_t i, int64_t v);
bool onnx_dtype_is_float(vkdl_dtype d);
/* "3x4x5" ("scalar" for rank 0). */
char *onnx_dims_str(int ndim, const int64_t *dims, char *buf, size_t n);
/* The flat index, in a tensor of shape in (right-aligned to out, NumPy broadcasting), of the
 * element that out's flat index i reads. */
int64_t onnx_bcast_src(int64_t i, int nout, const int64_t *out, int nin, const int64_t *in);
/* Read a TensorProto (e.g. a conformance test's input_0.pb) from memory; name receives its name
 * (malloc'ed, may be NULL). */
vkdl_status onnx_tensor_parse(const void *data, size_t size, onnx_host *out, char **name);

/* ------------------------------------------------------------------ models (model.c) */

/* ONNX's TensorProto.DataType to vkdl's dtype; false for types vkdl has no dtype for (string,
 * complex). */
bool onnx_dtype_from_proto(int32_t elem_type, vkdl_dtype *out);

typedef enum onnx_attr_type {   /* AttributeProto.AttributeType's values */
    ONNX_ATTR_FLOAT = 1, ONNX_ATTR_INT = 2, ONNX_ATTR_STRING = 3, ONNX_ATTR_TENSOR = 4, ONNX_ATTR_GRAPH = 5,
    ONNX_ATTR_FLOATS = 6, ONNX_ATTR_INTS = 7, ONNX_ATTR_STRINGS = 8,
} onnx_attr_type;

typedef struct onnx_attr {
    char *name;
    int type;                       /* onnx_attr_type, or another AttributeType value */
    float f;
    int64_t i;
    char *s;                        /* NUL-terminated copy of a STRING */
    int n;                          /* FLOATS / INTS / STRINGS count */
    char **strings;                 /* STRINGS, each NUL-terminated */
    float *floats;
    int64_t *ints;
    onnx_host t;                    /* TENSOR */
} onnx_attr;

typedef struct onnx_value {
    char *name;
    vkdl_dtype dtype;
    bool typed;                     /* dtype is known (a declared type or an initializer) */
    int ndim;                       /* -1: rank unknown */
    int64_t dims[VKDL_MAX_DIMS];    /* -1: symbolic or unknown */
    char *dim_names[VKDL_MAX_DIMS];
    onnx_host *init;                /* initializer, or NULL */
    int producer;                   /* node index, or -1 */
} onnx_value;

struct onnx_op;
typedef struct onnx_node {
    char *name;                     /* the node's name, or "<op_type> #index" when it has none */
    char *op_type;
    const struct onnx_op *op;
    int n_in, n_out;
    int *in, *out;                  /* value indices; -1 for an omitted optional input or output */
    int n_attrs;
    onnx_attr *attrs;
} onnx_node;

struct vkdl_onnx_model {
    int refs;                       /* the caller's and each plan's */
    int opset;                      /* of the default domain */
    int n_values, n_nodes, n_inputs, n_outputs;
    onnx_value *values;
    onnx_node *nodes;               /* topologically sorted */
    int *inputs, *outputs;          /* value indices; inputs exclude initializers */
};

void onnx_model_release(vkdl_onnx_model *m);

/* ------------------------------------------------------------------ ops and the executor (plan.c) */

#define ONNX_MAX_IO 32

typedef struct onnx_exec onnx_exec;
typedef struct onnx_op {
    const char *type;               /* "Conv" */
    /* Computes the outputs from host inputs (onnx_in_host / onnx_out_host); NULL if none. */
    vkdl_status (*host)(onnx_exec *e);
    /* Planning (e->run false): sets every output's dtype and shape (onnx_out_set, onnx_out_view)
     * and reads what it needs from host inputs. Running (e->run true): records the vkdl ops. */
    vkdl_status (*device)(onnx_exec *e);
} onnx_op;

const onnx_op *onnx_op_find(const char *op_type);

/* What an op implementation sees of its node. */
struct onnx_exec {
    struct vkdl_onnx_plan *plan;
    vkdl_context *ctx;
    const onnx_node *node;
    int opset;
    bool run;
    int step;
    int temp;                       /* the next scratch tensor's index within the step */
};

/* Status with "onnx: node '<name>' (<op>): <message>". */
vkdl_status onnx_fail(const onnx_exec *e, vkdl_status s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Inputs: present (not omitted), dtype (ONNX's), shape, host value (NULL unless known at plan time). */
int onnx_n_in(const onnx_exec *e);
int onnx_n_out(const onnx_exec *e);
bool onnx_has_in(const onnx_exec *e, int i);
bool onnx_has_out(const onnx_exec *e, int i);
vkdl_dtype onnx_in_dtype(const onnx_exec *e, int i);
int onnx_in_ndim(const onnx_exec *e, int i);
const int64_t *onnx_in_dims(const onnx_exec *e, int i);
const onnx_host *onnx_in_host(const onnx_exec *e, int i);
/* The host value of input i, or a failure saying it must be known when the plan is made. */
vkdl_status onnx_need_host(const onnx_exec *e, int i, const char *what, const onnx_host **out);
/* Input i as a device tensor (running only); a host value is uploaded once and kept. */
vkdl_status onnx_in(onnx_exec *e, int i, vkdl_tensor **out);
/* Output i as a device tensor (running only). */
vkdl_tensor *onnx_out(onnx_exec *e, int i);

/* Planning: output i has this dtype (ONNX's) and shape. */
vkdl_status onnx_out_set(onnx_exec *e, int i, vkdl_dtype dtype, int ndim, const int64_t *dims);
/* Planning: output i is input in's data in a new shape (same numel), no copy. */
vkdl_status onnx_out_view(onnx_exec *e, int i, int in, int ndim, const int64_t *dims);
/* The same, read as another ONNX dtype with the same device dtype (a Cast from int32 to int64). */
vkdl_status onnx_out_view_as(onnx_exec *e, int i, int in, vkdl_dtype dtype, int ndim, const int64_t *dims);
/* A scratch device tensor for this step, made when planning and the same one on every run
 * (call in the same order in both phases). While planning *out is NULL. */
vkdl_status onnx_temp(onnx_exec *e, vkdl_dtype dtype, int ndim, const int64_t *dims, vkdl_tensor **out);
/* A device tensor holding data (numel elements of data_dtype, converted) that this step reads on
 * every run: made and uploaded once, when planning (call in the same order in both phases; data
 * is read only when planning). */
vkdl_status onnx_const(onnx_exec *e, vkdl_dtype dtype, int ndim, const int64_t *dims, const void *data,
                       vkdl_dtype data_dtype, vkdl_tensor **out);
/* Running: t (an input, output or scratch tensor of this step) viewed in another shape; the view
 * is made on the first run and kept (call in the same order in both phases). */
vkdl_status onnx_reshape(onnx_exec *e, vkdl_tensor *t, int ndim, const int64_t *dims, vkdl_tensor **out);
/* Host evaluation: allocate output i. */
vkdl_status onnx_out_host(onnx_exec *e, int i, vkdl_dtype dtype, int ndim, const int64_t *dims, onnx_host **out);

/* The device dtype that holds an ONNX dtype (f32 for floats, i32 for integers of up to 64 bits,
 * u8 for bool and uint8), or false when it has none. */
bool onnx_device_dtype(vkdl_dtype d, vkdl_dtype *out);

/* Attributes of the node; the defaults when absent. */
const onnx_attr *onnx_attr_get(const onnx_exec *e, const char *name);
int64_t onnx_attr_int(const onnx_exec *e, const char *name, int64_t def);
float onnx_attr_float(const onnx_exec *e, const char *name, float def);
const char *onnx_attr_str(const onnx_exec *e, const char *name, const char *def);
/* INTS attribute: count and values (-1 and NULL when absent). */
int onnx_attr_ints(const onnx_exec *e, const char *name, const int64_t **v);

/* Shape helpers for ops. */
/* Host input i read as a list of at most max int64 (a 1-D shape, axes, starts, pads, ...). */
vkdl_status onnx_int_list(onnx_exec *e, int i, const char *what, int max, int *n, int64_t *v);
/* Normalise axis (negative counts from the end) into [0, ndim); fails naming the attribute. */
vkdl_status onnx_axis(const onnx_exec *e, int64_t axis, int ndim, int *out);
/* NumPy broadcast of a and b into out (ndim = max). */
vkdl_status onnx_broadcast(const onnx_exec *e, int na, const int64_t *a, int nb, const int64_t *b, int *nout,
                           int64_t *out);

/* Each family's table. */
#define ONNX_OP_TABLE(family) \
    extern const onnx_op onnx_ops_##family[]; \
    extern const int onnx_ops_##family##_count;
ONNX_OP_TABLE(elementwise)
ONNX_OP_TABLE(shape)
ONNX_OP_TABLE(nn)
ONNX_OP_TABLE(reduce)
ONNX_OP_TABLE(resize)
ONNX_OP_TABLE(index)
#undef ONNX_OP_TABLE

#endif
