/* The ONNX layer (lib/onnx/): loading (model.c) from files and memory, every refusal a hostile or
 * broken model must get, and plans (plan.c): symbolic dims, fixed inputs, folding, arena sharing
 * and results on the CPU backend and the device. Models are built here with protobuf-c's own
 * structs and packed, so the cases need no fixture files; ONNX's conformance data is
 * vkdl-onnx-test's job. */
#include "harness.h"
#include "onnx/onnx.h"

#include "onnx.pb-c.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXPECT(cond) ((void)TH_TRUE(cond))

/* ---------------------------------------------------------------- building models */

/* A model under construction: fixed-size pools of protobuf-c structs, packed by pack(). */
typedef struct mb {
    Onnx__ModelProto model;
    Onnx__GraphProto graph;
    Onnx__OperatorSetIdProto opset, *opsets[1];
    Onnx__NodeProto nodes[16], *node_ptrs[16];
    Onnx__AttributeProto attrs[16], *attr_ptrs[16];
    int n_attrs;
    Onnx__TensorProto inits[8], *init_ptrs[8];
    Onnx__StringStringEntryProto kv[8], *kv_ptrs[8];
    Onnx__ValueInfoProto vis[16], *in_ptrs[8], *out_ptrs[8];
    Onnx__TypeProto types[16];
    Onnx__TypeProto__Tensor tensor_types[16];
    Onnx__TensorShapeProto shapes[16];
    Onnx__TensorShapeProto__Dimension dims[64], *dim_ptrs[64];
    int n_vis, n_dims;
} mb;

static void mb_init(mb *b, int opset)
{
    memset(b, 0, sizeof *b);
    onnx__model_proto__init(&b->model);
    onnx__graph_proto__init(&b->graph);
    onnx__operator_set_id_proto__init(&b->opset);
    b->opset.domain = "";
    b->opset.has_version = 1;
    b->opset.version = opset;
    b->opsets[0] = &b->opset;
    b->model.has_ir_version = 1;
    b->model.ir_version = 8;
    b->model.n_opset_import = 1;
    b->model.opset_import = b->opsets;
    b->model.graph = &b->graph;
    b->graph.name = "g";
    b->graph.node = b->node_ptrs;
    b->graph.initializer = b->init_ptrs;
    b->graph.input = b->in_ptrs;
    b->graph.output = b->out_ptrs;
}

/* A graph input or output of elem_type with dims (-1: symbolic, named by sym). */
static void mb_io(mb *b, bool output, const char *name, int32_t elem, int ndim, const int64_t *shape,
                  const char *sym)
{
    int v = b->n_vis++;
    Onnx__ValueInfoProto *vi = &b->vis[v];
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(&b->types[v]);
    onnx__type_proto__tensor__init(&b->tensor_types[v]);
    onnx__tensor_shape_proto__init(&b->shapes[v]);
    vi->name = (char *)name;
    vi->type = &b->types[v];
    b->types[v].value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    b->types[v].tensor_type = &b->tensor_types[v];
    b->tensor_types[v].has_elem_type = 1;
    b->tensor_types[v].elem_type = elem;
    b->tensor_types[v].shape = &b->shapes[v];
    b->shapes[v].n_dim = (size_t)ndim;
    b->shapes[v].dim = &b->dim_ptrs[b->n_dims];
    for (int d = 0; d < ndim; d++) {
        Onnx__TensorShapeProto__Dimension *dim = &b->dims[b->n_dims];
        onnx__tensor_shape_proto__dimension__init(dim);
        if (shape[d] >= 0) {
            dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dim->dim_value = shape[d];
        } else {
            dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dim->dim_param = (char *)sym;
        }
        b->dim_ptrs[b->n_dims++] = dim;
    }
    if (output)
        b->out_ptrs[b->graph.n_output++] = vi;
    else
        b->in_ptrs[b->graph.n_input++] = vi;
}

static Onnx__NodeProto *mb_node(mb *b, const char *op, const char *name, int n_in, char **in, int n_out, char **out)
{
    Onnx__NodeProto *n = &b->nodes[b->graph.n_node];
    onnx__node_proto__init(n);
    n->op_type = (char *)op;
    n->name = (char *)name;
    n->n_input = (size_t)n_in;
    n->input = in;
    n->n_output = (size_t)n_out;
    n->output = out;
    n->attribute = &b->attr_ptrs[b->n_attrs];
    b->node_ptrs[b->graph.n_node++] = n;
    return n;
}

/* A new attribute of node n; a node's attributes are added together (they are one run of
 * attr_ptrs, which starts at its first). */
static Onnx__AttributeProto *mb_attr(mb *b, Onnx__NodeProto *n, const char *name, Onnx__AttributeProto__AttributeType t)
{
    Onnx__AttributeProto *a = &b->attrs[b->n_attrs];
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = t;
    if (n->n_attribute++ == 0)
        n->attribute = &b->attr_ptrs[b->n_attrs];
    b->attr_ptrs[b->n_attrs++] = a;
    return a;
}

static void mb_attr_int(mb *b, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = mb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = v;
}

static void mb_attr_float(mb *b, Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = mb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = v;
}

static void mb_attr_ints(mb *b, Onnx__NodeProto *n, const char *name, int count, int64_t *v)
{
    Onnx__AttributeProto *a = mb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->n_ints = (size_t)count;
    a->ints = v;
}

/* An initializer with raw data (raw NULL: none, for external data). */
static Onnx__TensorProto *mb_init_raw(mb *b, const char *name, int32_t elem, int ndim, int64_t *dims, void *raw,
                                      size_t bytes)
{
    Onnx__TensorProto *t = &b->inits[b->graph.n_initializer];
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = elem;
    t->n_dims = (size_t)ndim;
    t->dims = dims;
    if (raw) {
        t->has_raw_data = 1;
        t->raw_data.data = raw;
        t->raw_data.len = bytes;
    }
    b->init_ptrs[b->graph.n_initializer++] = t;
    return t;
}

static uint8_t *mb_pack(mb *b, size_t *size)
{
    *size = onnx__model_proto__get_packed_size(&b->model);
    uint8_t *buf = malloc(*size + 1);
    onnx__model_proto__pack(&b->model, buf);
    return buf;
}

static vkdl_status load_built(mb *b, const char *dir, vkdl_onnx_model **m)
{
    size_t size;
    uint8_t *buf = mb_pack(b, &size);
    vkdl_status s = vkdl_onnx_load_memory(buf, size, dir, m);
    free(buf);
    return s;
}

static const int32_t F = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, I64 = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;

/* y = Relu(x + w), x [2, n] with w [n] an initializer. */
static char *X_W[] = {"x", "w"}, *S[] = {"s"}, *Y[] = {"y"};
static void relu_add(mb *b, int64_t n, float *w, int64_t *wdim)
{
    mb_init(b, 13);
    int64_t shape[2] = {2, n};
    *wdim = n;
    mb_io(b, false, "x", F, 2, shape, NULL);
    mb_io(b, true, "y", F, 2, shape, NULL);
    mb_init_raw(b, "w", F, 1, wdim, w, (size_t)n * sizeof *w);
    mb_node(b, "Add", "add", 2, X_W, 1, S);
    mb_node(b, "Relu", "relu", 1, S, 1, Y);
}

/* ---------------------------------------------------------------- loading */

static void run_basic(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    mb b;
    float w[3] = {1, -2, 0.5f};
    int64_t wdim;
    relu_add(&b, 3, w, &wdim);
    vkdl_onnx_model *m;
    if (!TH_OK(load_built(&b, NULL, &m)))
        return;
    EXPECT(vkdl_onnx_input_count(m) == 1 && vkdl_onnx_output_count(m) == 1);
    vkdl_host_tensor info;
    TH_OK(vkdl_onnx_input(m, 0, &info));
    EXPECT(!strcmp(info.name, "x") && info.dtype == VKDL_F32 && info.ndim == 2 && info.shape[1] == 3);
    vkdl_onnx_plan *p;
    if (TH_OK(vkdl_onnx_plan_create(ctx, m, NULL, &p))) {
        vkdl_onnx_model_destroy(m);                      /* the plan keeps what it needs */
        m = NULL;
        float x[6] = {0, 0, 0, -1, 3, 1};
        vkdl_host_tensor in = {.name = "x", .dtype = VKDL_F32, .ndim = 2, .shape = {2, 3}, .data = x,
                               .bytes = sizeof x};
        for (int run = 0; run < 2; run++) {
            x[0] = (float)run;
            if (!TH_OK(vkdl_onnx_run(p, 1, &in)))
                break;
            vkdl_host_tensor out;
            TH_OK(vkdl_onnx_plan_output(p, 0, &out));
            const float *y = out.data;
            float want[6] = {1 + (float)run, 0, 0.5f, 0, 1, 1.5f};
            for (int i = 0; i < 6; i++)
                if (y[i] != want[i])
                    th_fail("run %d: y[%d] = %g, want %g", run, i, y[i], want[i]);
        }
        /* i64 data converts into a float input; a wrong shape or a missing input is refused. */
        int64_t xi[6] = {0};
        vkdl_host_tensor bad = in;
        bad.dtype = VKDL_I64;
        bad.data = xi;
        bad.bytes = sizeof xi;
        TH_OK(vkdl_onnx_run(p, 1, &bad));
        bad.shape[1] = 2;
        TH_STATUS(vkdl_onnx_run(p, 1, &bad), VKDL_ERROR_SHAPE_MISMATCH, "the plan was made for 2x3");
        TH_STATUS(vkdl_onnx_run(p, 0, NULL), VKDL_ERROR_INVALID_ARGUMENT, "input 'x' is not given");
        vkdl_onnx_plan_stats st = {0};
        TH_OK(vkdl_onnx_plan_stats_get(p, &st));
        EXPECT(st.nodes == 2 && st.device_steps == 2 && st.host_nodes == 0 && st.constant_bytes == 12);
        EXPECT(st.recorded == (vkdl_context_backend(ctx) == VKDL_BACKEND_VULKAN && !getenv("VKDL_PROFILE")));
        vkdl_onnx_plan_destroy(p);
    }
    vkdl_onnx_model_destroy(m);
}

/* Every refusal: status and a message naming what is wrong; *out stays NULL. */
static void expect_refused(mb *b, vkdl_status want, const char *needle)
{
    vkdl_onnx_model *m = (vkdl_onnx_model *)&m;
    TH_STATUS(load_built(b, NULL, &m), want, needle);
    EXPECT(m == NULL);
}

static void run_refusals(void *arg)
{
    (void)arg;
    mb b;
    float w[3] = {1, 2, 3};
    int64_t wdim;

    relu_add(&b, 3, w, &wdim);
    b.nodes[0].op_type = "Frobnicate";
    expect_refused(&b, VKDL_ERROR_UNSUPPORTED, "node 'add': op Frobnicate is not supported");

    relu_add(&b, 3, w, &wdim);
    static char *undefined[] = {"x", "nowhere"};
    b.nodes[0].input = undefined;
    expect_refused(&b, VKDL_ERROR_CORRUPT_DATA, "input 'nowhere' is not defined");

    relu_add(&b, 3, w, &wdim);                           /* add reads relu's output: a cycle */
    static char *cyc[] = {"x", "y"};
    b.nodes[0].input = cyc;
    expect_refused(&b, VKDL_ERROR_CORRUPT_DATA, "cycle");

    relu_add(&b, 3, w, &wdim);
    b.inits[0].raw_data.len = 8;
    expect_refused(&b, VKDL_ERROR_CORRUPT_DATA, "tensor 'w' is f32 of 3 elements (12 bytes) but has 8 bytes");

    relu_add(&b, 3, w, &wdim);                           /* 10^9 declared elements, 12 bytes of data */
    wdim = 1000000000;
    expect_refused(&b, VKDL_ERROR_CORRUPT_DATA, "1000000000 elements");

    relu_add(&b, 3, w, &wdim);
    wdim = INT64_C(1) << 40;
    expect_refused(&b, VKDL_ERROR_SIZE_OVERFLOW, "more than");

    relu_add(&b, 3, w, &wdim);
    wdim = -3;
    expect_refused(&b, VKDL_ERROR_CORRUPT_DATA, "negative dim");

    relu_add(&b, 3, w, &wdim);
    b.nodes[1].output = S;                               /* s defined twice */
    expect_refused(&b, VKDL_ERROR_CORRUPT_DATA, "output 's' is already defined");

    relu_add(&b, 3, w, &wdim);
    b.vis[1].name = "z";
    expect_refused(&b, VKDL_ERROR_CORRUPT_DATA, "graph output 'z' is not produced");

    relu_add(&b, 3, w, &wdim);
    b.opset.version = 99;
    expect_refused(&b, VKDL_ERROR_UNSUPPORTED, "opset 99");

    relu_add(&b, 3, w, &wdim);
    b.nodes[0].domain = "com.microsoft";
    expect_refused(&b, VKDL_ERROR_UNSUPPORTED, "domain 'com.microsoft'");

    relu_add(&b, 3, w, &wdim);
    b.tensor_types[0].elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__STRING;
    expect_refused(&b, VKDL_ERROR_UNSUPPORTED, "element type string");

    relu_add(&b, 3, w, &wdim);
    b.model.graph = NULL;
    expect_refused(&b, VKDL_ERROR_CORRUPT_DATA, "no graph");

    vkdl_onnx_model *m;
    TH_STATUS(vkdl_onnx_load_memory("\xff\xff\xff", 3, NULL, &m), VKDL_ERROR_CORRUPT_DATA, "not an ONNX model");
    TH_STATUS(vkdl_onnx_load_memory(NULL, 3, NULL, &m), VKDL_ERROR_INVALID_ARGUMENT, "data is NULL");
    TH_STATUS(vkdl_onnx_load(NULL, &m), VKDL_ERROR_INVALID_ARGUMENT, "path is NULL");
    TH_STATUS(vkdl_onnx_load("/nonexistent/model.onnx", &m), VKDL_ERROR_IO, "cannot open");
    TH_STATUS(vkdl_onnx_load("/", &m), VKDL_ERROR_IO, NULL);
}

/* Every prefix of a valid file loads or is refused cleanly (mostly as corrupt); never a crash. */
static void run_truncated(void *arg)
{
    (void)arg;
    mb b;
    float w[3] = {1, 2, 3};
    int64_t wdim;
    relu_add(&b, 3, w, &wdim);
    size_t size;
    uint8_t *buf = mb_pack(&b, &size);
    int refused = 0;
    for (size_t n = 0; n < size; n++) {
        vkdl_onnx_model *m = NULL;
        vkdl_status s = vkdl_onnx_load_memory(buf, n, NULL, &m);
        if (s == VKDL_OK)
            vkdl_onnx_model_destroy(m);
        else if (s != VKDL_ERROR_CORRUPT_DATA && s != VKDL_ERROR_UNSUPPORTED)
            th_fail("prefix of %zu bytes: status %s: %s", n, vkdl_status_name(s), vkdl_last_error());
        else
            refused++;
    }
    EXPECT(refused > (int)size / 2);
    free(buf);
}

/* External data: read relative to the model's directory, never outside it. */
static void run_external(void *arg)
{
    (void)arg;
    char dir[] = "/tmp/vkdl-onnx-XXXXXX";
    if (!mkdtemp(dir)) {
        th_fail("mkdtemp failed");
        return;
    }
    char path[256];
    float w[3] = {1, -2, 0.5f};
    snprintf(path, sizeof path, "%s/w.bin", dir);
    FILE *f = fopen(path, "wb");
    fwrite("pad!", 1, 4, f);
    fwrite(w, sizeof w, 1, f);
    fclose(f);
    mb b;
    int64_t wdim;
    static Onnx__StringStringEntryProto loc, off;
    static Onnx__StringStringEntryProto *entries[2] = {&loc, &off};
    const char *locations[] = {"w.bin", "../w.bin", "/etc/passwd", "link.bin"};
    snprintf(path, sizeof path, "%s/link.bin", dir);
    if (symlink("/etc/hostname", path) != 0)
        th_fail("symlink failed");
    for (int i = 0; i < 4; i++) {
        relu_add(&b, 3, w, &wdim);
        Onnx__TensorProto *t = &b.inits[0];
        t->has_raw_data = 0;
        t->has_data_location = 1;
        t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
        onnx__string_string_entry_proto__init(&loc);
        onnx__string_string_entry_proto__init(&off);
        loc.key = "location";
        loc.value = (char *)locations[i];
        off.key = "offset";
        off.value = "4";
        t->n_external_data = 2;
        t->external_data = entries;
        vkdl_onnx_model *m = NULL;
        if (i == 0) {
            TH_STATUS(load_built(&b, NULL, &m), VKDL_ERROR_INVALID_ARGUMENT, "without a directory");
            if (TH_OK(load_built(&b, dir, &m)))
                EXPECT(!memcmp(m->values[0].init->data, w, sizeof w));
            vkdl_onnx_model_destroy(m);
        } else {
            TH_STATUS(load_built(&b, dir, &m), VKDL_ERROR_CORRUPT_DATA, "the model's directory");
        }
    }
    unlink(path);
    snprintf(path, sizeof path, "%s/w.bin", dir);
    unlink(path);
    rmdir(dir);
}

/* ---------------------------------------------------------------- plans */

/* A symbolic batch dim is bound when the plan is made, by name. */
static void run_symbolic(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    mb b;
    mb_init(&b, 13);
    int64_t shape[2] = {-1, 4};
    mb_io(&b, false, "x", F, 2, shape, "batch");
    mb_io(&b, true, "y", F, 2, shape, "batch");
    static char *XX[] = {"x", "x"};
    mb_node(&b, "Mul", NULL, 2, XX, 1, Y);
    vkdl_onnx_model *m;
    if (!TH_OK(load_built(&b, NULL, &m)))
        return;
    EXPECT(vkdl_onnx_input_dim_name(m, 0, 0) && !strcmp(vkdl_onnx_input_dim_name(m, 0, 0), "batch"));
    vkdl_onnx_plan *p;
    TH_STATUS(vkdl_onnx_plan_create(ctx, m, NULL, &p), VKDL_ERROR_INVALID_ARGUMENT, "dim 0 ('batch') is symbolic");
    vkdl_host_tensor bind = {.name = "x", .ndim = 2, .shape = {5, 4}};
    vkdl_onnx_plan_info info = {.n_inputs = 1, .inputs = &bind};
    if (TH_OK(vkdl_onnx_plan_create(ctx, m, &info, &p))) {
        float x[20];
        for (int i = 0; i < 20; i++)
            x[i] = (float)i - 7;
        bind.dtype = VKDL_F32;
        bind.data = x;
        bind.bytes = sizeof x;
        vkdl_host_tensor out;
        if (TH_OK(vkdl_onnx_run(p, 1, &bind)) && TH_OK(vkdl_onnx_plan_output(p, 0, &out))) {
            EXPECT(out.ndim == 2 && out.shape[0] == 5 && out.shape[1] == 4);
            EXPECT(((const float *)out.data)[19] == 144);
        }
        vkdl_onnx_plan_destroy(p);
    }
    bind.shape[1] = 3;
    TH_STATUS(vkdl_onnx_plan_create(ctx, m, &info, &p), VKDL_ERROR_SHAPE_MISMATCH, "dim 1 is 3, the model says 4");
    vkdl_onnx_model_destroy(m);
}

/* A Reshape whose target is a graph input must have it fixed when planning; then it is folded,
 * and a run with other values is refused. */
static void run_fixed(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    mb b;
    mb_init(&b, 13);
    int64_t xs[2] = {2, 6}, ss[1] = {2}, ys[2] = {3, 4};
    mb_io(&b, false, "x", F, 2, xs, NULL);
    mb_io(&b, false, "shape", I64, 1, ss, NULL);
    mb_io(&b, true, "y", F, 2, ys, NULL);
    static char *XS[] = {"x", "shape"};
    mb_node(&b, "Reshape", "reshape", 2, XS, 1, Y);
    vkdl_onnx_model *m;
    if (!TH_OK(load_built(&b, NULL, &m)))
        return;
    vkdl_onnx_plan *p;
    TH_STATUS(vkdl_onnx_plan_create(ctx, m, NULL, &p), VKDL_ERROR_UNSUPPORTED,
              "input 'shape' (shape) must be known when the plan is made");
    int64_t target[2] = {3, -1}, other[2] = {4, 3};
    vkdl_host_tensor fixed = {.name = "shape", .dtype = VKDL_I64, .ndim = 1, .shape = {2}, .data = target,
                              .bytes = sizeof target};
    vkdl_onnx_plan_info info = {.n_inputs = 1, .inputs = &fixed};
    if (TH_OK(vkdl_onnx_plan_create(ctx, m, &info, &p))) {
        float x[12];
        for (int i = 0; i < 12; i++)
            x[i] = (float)i;
        vkdl_host_tensor in[2] = {{.name = "x", .dtype = VKDL_F32, .ndim = 2, .shape = {2, 6}, .data = x,
                                   .bytes = sizeof x}, fixed};
        vkdl_host_tensor out;
        if (TH_OK(vkdl_onnx_run(p, 1, in)) && TH_OK(vkdl_onnx_plan_output(p, 0, &out)))
            EXPECT(out.shape[0] == 3 && out.shape[1] == 4 && ((const float *)out.data)[11] == 11);
        TH_OK(vkdl_onnx_run(p, 2, in));                  /* the same values: accepted */
        in[1].data = other;
        TH_STATUS(vkdl_onnx_run(p, 2, in), VKDL_ERROR_INVALID_ARGUMENT, "was fixed when the plan was made");
        vkdl_onnx_plan_stats st = {0};
        TH_OK(vkdl_onnx_plan_stats_get(p, &st));
        EXPECT(st.device_steps == 1 && st.arena_bytes == 256);  /* a view of the input, in one aligned block */
        vkdl_onnx_plan_destroy(p);
    }
    vkdl_onnx_model_destroy(m);
}

/* A chain of 12 Relus: the arena holds two activations at a time, not twelve. */
static void run_arena(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    mb b;
    mb_init(&b, 13);
    int64_t shape[1] = {1000};
    mb_io(&b, false, "t0", F, 1, shape, NULL);
    mb_io(&b, true, "t12", F, 1, shape, NULL);
    static char names[13][8];
    static char *ins[12], *outs[12];
    for (int i = 0; i <= 12; i++)
        snprintf(names[i], sizeof names[i], "t%d", i);
    for (int i = 0; i < 12; i++) {
        ins[i] = names[i];
        outs[i] = names[i + 1];
        mb_node(&b, i % 2 ? "Neg" : "Relu", NULL, 1, &ins[i], 1, &outs[i]);
    }
    vkdl_onnx_model *m;
    if (!TH_OK(load_built(&b, NULL, &m)))
        return;
    vkdl_onnx_plan *p;
    if (TH_OK(vkdl_onnx_plan_create(ctx, m, NULL, &p))) {
        vkdl_onnx_plan_stats st = {0};
        TH_OK(vkdl_onnx_plan_stats_get(p, &st));
        if (st.arena_bytes > 3 * 4096 || st.unshared_bytes < 13 * 4000)
            th_fail("arena %zu bytes, unshared %zu", st.arena_bytes, st.unshared_bytes);
        float x[1000];
        for (int i = 0; i < 1000; i++)
            x[i] = (float)i - 500;
        vkdl_host_tensor in = {.name = "t0", .dtype = VKDL_F32, .ndim = 1, .shape = {1000}, .data = x,
                               .bytes = sizeof x};
        vkdl_host_tensor out;
        if (TH_OK(vkdl_onnx_run(p, 1, &in)) && TH_OK(vkdl_onnx_plan_output(p, 0, &out)))
            for (int i = 0; i < 1000; i++)
                if (((const float *)out.data)[i] != 0)
                    th_fail("t12[%d] = %g, want 0", i, ((const float *)out.data)[i]);
        vkdl_onnx_plan_destroy(p);
    }
    vkdl_onnx_model_destroy(m);
}

/* Nodes whose inputs are all initializers are folded on the host, in their own dtype. */
static void run_folding(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    mb b;
    mb_init(&b, 13);
    int64_t xs[2] = {2, 3}, one = 1;
    int64_t rows[1] = {2}, cols[1] = {3};
    mb_io(&b, false, "x", F, 2, xs, NULL);
    mb_io(&b, true, "y", F, 2, xs, NULL);
    mb_init_raw(&b, "a", I64, 1, &one, rows, sizeof rows);
    mb_init_raw(&b, "c", I64, 1, &one, cols, sizeof cols);
    static char *AC[] = {"a", "c"}, *SH[] = {"sh"}, *XSH[] = {"x", "sh"}, *R[] = {"r"}, *RX[] = {"r", "x"};
    mb_attr_int(&b, mb_node(&b, "Concat", NULL, 2, AC, 1, SH), "axis", 0);
    mb_node(&b, "Reshape", NULL, 2, XSH, 1, R);
    mb_node(&b, "Add", NULL, 2, RX, 1, Y);
    vkdl_onnx_model *m;
    vkdl_status s = load_built(&b, NULL, &m);
    if (s == VKDL_ERROR_UNSUPPORTED) {
        th_skip("Concat is not implemented yet: %s", vkdl_last_error());
        return;
    }
    if (!TH_OK(s))
        return;
    vkdl_onnx_plan *p;
    if (TH_OK(vkdl_onnx_plan_create(ctx, m, NULL, &p))) {
        vkdl_onnx_plan_stats st = {0};
        TH_OK(vkdl_onnx_plan_stats_get(p, &st));
        EXPECT(st.host_nodes == 1 && st.device_steps == 2);
        float x[6] = {1, 2, 3, 4, 5, 6};
        vkdl_host_tensor in = {.name = "x", .dtype = VKDL_F32, .ndim = 2, .shape = {2, 3}, .data = x,
                               .bytes = sizeof x};
        vkdl_host_tensor out;
        if (TH_OK(vkdl_onnx_run(p, 1, &in)) && TH_OK(vkdl_onnx_plan_output(p, 0, &out)))
            EXPECT(((const float *)out.data)[5] == 12);
        vkdl_onnx_plan_destroy(p);
    }
    vkdl_onnx_model_destroy(m);
}


/* Fusion: the same network with an intermediate also exported as a graph output (so it cannot be
 * dropped) is the reference; fused and unfused agree to f32 rounding. */
static void fused_pair(vkdl_context *ctx, mb *b, int extra_out, const int64_t *xshape, int n_fused)
{
    vkdl_onnx_model *m[2] = {0};
    vkdl_onnx_plan *p[2] = {0};
    float x[2 * 3 * 5 * 5];
    for (int i = 0; i < 150; i++)
        x[i] = (float)((i * 37) % 23) / 5.0f - 2.2f;
    const float *y[2] = {0};
    for (int k = 0; k < 2; k++) {
        if (k == 1)
            b->out_ptrs[b->graph.n_output++] = &b->vis[extra_out];
        if (!TH_OK(load_built(b, NULL, &m[k])) || !TH_OK(vkdl_onnx_plan_create(ctx, m[k], NULL, &p[k])))
            break;
        vkdl_onnx_plan_stats st = {0};
        TH_OK(vkdl_onnx_plan_stats_get(p[k], &st));
        if (st.fused_nodes != (k ? 0 : n_fused))
            th_fail("model %d: %d nodes fused, want %d", k, st.fused_nodes, k ? 0 : n_fused);
        vkdl_host_tensor in = {.name = "x", .dtype = VKDL_F32, .ndim = 4, .data = x, .bytes = sizeof x};
        memcpy(in.shape, xshape, 4 * sizeof *xshape);
        vkdl_host_tensor out;
        if (TH_OK(vkdl_onnx_run(p[k], 1, &in)) && TH_OK(vkdl_onnx_plan_output(p[k], 0, &out)))
            y[k] = out.data;
    }
    if (y[0] && y[1])
        for (int i = 0; i < 150; i++)
            if (fabsf(y[0][i] - y[1][i]) > 1e-5f + 1e-5f * fabsf(y[1][i]))
                th_fail("y[%d]: fused %.8g, unfused %.8g", i, y[0][i], y[1][i]);
    for (int k = 0; k < 2; k++) {
        vkdl_onnx_plan_destroy(p[k]);
        vkdl_onnx_model_destroy(m[k]);
    }
}

static void run_fusion_conv_bn(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    static char *XWB[] = {"x", "w", "b"}, *C[] = {"c"}, *BN[] = {"c", "s", "bb", "mean", "var"};
    static float w[3 * 3 * 3 * 3], bias[3] = {0.1f, -0.2f, 0.3f}, sc[3] = {1.5f, 0.5f, -1},
                 bb[3] = {0.25f, 0, -0.5f}, mean[3] = {0.1f, 0.2f, -0.3f}, var[3] = {0.5f, 2, 1e-3f};
    static int64_t wd[4] = {3, 3, 3, 3}, three = 3, pads[4] = {1, 1, 1, 1};
    for (int i = 0; i < 81; i++)
        w[i] = (float)((i * 13) % 11) / 10.0f - 0.5f;
    int64_t xs[4] = {2, 3, 5, 5};
    mb b;
    mb_init(&b, 13);
    mb_io(&b, false, "x", F, 4, xs, NULL);
    mb_io(&b, true, "y", F, 4, xs, NULL);
    mb_io(&b, true, "c", F, 4, xs, NULL);                /* vis[2]: the conv's output, exported in the reference */
    b.graph.n_output = 1;
    mb_init_raw(&b, "w", F, 4, wd, w, sizeof w);
    mb_init_raw(&b, "b", F, 1, &three, bias, sizeof bias);
    mb_init_raw(&b, "s", F, 1, &three, sc, sizeof sc);
    mb_init_raw(&b, "bb", F, 1, &three, bb, sizeof bb);
    mb_init_raw(&b, "mean", F, 1, &three, mean, sizeof mean);
    mb_init_raw(&b, "var", F, 1, &three, var, sizeof var);
    mb_attr_ints(&b, mb_node(&b, "Conv", "conv", 3, XWB, 1, C), "pads", 4, pads);
    mb_node(&b, "BatchNormalization", "bn", 5, BN, 1, Y);
    fused_pair(ctx, &b, 2, xs, 2);

    /* The same with an activation after the normalisation: all three become one Conv whose
     * kernel applies it (the leaky slope and the clip bounds are the nodes', not the defaults). */
    static char *Z[] = {"z"}, *ZLH[] = {"z", "lo", "hi"};
    static float c0 = 0, c1 = 1.5f;
    b.nodes[1].output = Z;
    mb_attr_float(&b, mb_node(&b, "LeakyRelu", "act", 1, Z, 1, Y), "alpha", 0.3f);
    b.graph.n_output = 1;
    fused_pair(ctx, &b, 2, xs, 3);
    mb_init_raw(&b, "lo", F, 0, NULL, &c0, 4);
    mb_init_raw(&b, "hi", F, 0, NULL, &c1, 4);
    b.nodes[2].op_type = "Clip";
    b.nodes[2].n_input = 3;
    b.nodes[2].input = ZLH;
    b.nodes[2].n_attribute = 0;
    b.graph.n_output = 1;
    fused_pair(ctx, &b, 2, xs, 3);
}

/* y = x * Clip(x + 3, 0, 6) / 6 */
static void run_fusion_hardswish(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    int64_t xs[4] = {2, 3, 5, 5};
    mb b;
    static char *X3[] = {"x", "three"}, *T[] = {"t"}, *TLH[] = {"t", "lo", "hi"}, *U[] = {"u"}, *XU[] = {"x", "u"},
                *V[] = {"v"}, *V6[] = {"v", "six"};
    static float c3 = 3, c0 = 0, c6 = 6;
    mb_init(&b, 13);
    mb_io(&b, false, "x", F, 4, xs, NULL);
    mb_io(&b, true, "y", F, 4, xs, NULL);
    mb_io(&b, true, "u", F, 4, xs, NULL);
    b.graph.n_output = 1;
    mb_init_raw(&b, "three", F, 0, NULL, &c3, 4);
    mb_init_raw(&b, "lo", F, 0, NULL, &c0, 4);
    mb_init_raw(&b, "hi", F, 0, NULL, &c6, 4);
    mb_init_raw(&b, "six", F, 0, NULL, &c6, 4);
    mb_node(&b, "Add", "add", 2, X3, 1, T);
    mb_node(&b, "Clip", "clip", 3, TLH, 1, U);
    mb_node(&b, "Mul", "mul", 2, XU, 1, V);
    mb_node(&b, "Div", "div", 2, V6, 1, Y);
    vkdl_onnx_model *probe;
    if (load_built(&b, NULL, &probe) == VKDL_ERROR_UNSUPPORTED) {
        th_skip("Clip is not implemented yet: %s", vkdl_last_error());
        return;
    }
    vkdl_onnx_model_destroy(probe);
    fused_pair(ctx, &b, 2, xs, 4);
}



/* Layer normalisation written out (as exporters of older opsets do) becomes one step. */
static void run_fusion_layernorm(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    int64_t xs[4] = {2, 3, 5, 5}, five = 5, axes[1] = {-1};
    static char *X[] = {"x"}, *M[] = {"m"}, *XM[] = {"x", "m"}, *D[] = {"d"}, *D2[] = {"d", "two"}, *P2[] = {"p2"},
                *V[] = {"v"}, *VE[] = {"v", "eps"}, *VEo[] = {"ve"}, *SD[] = {"sd"}, *DS[] = {"d", "sd"}, *Y0[] = {"y0"},
                *Y0G[] = {"y0", "g"}, *Y1[] = {"y1"}, *Y1B[] = {"y1", "b"};
    static float two = 2, eps = 1e-5f, g[5] = {1, 2, 0.5f, -1, 3}, bb[5] = {0.1f, 0, -0.2f, 0.3f, 1};
    mb b;
    mb_init(&b, 13);
    mb_io(&b, false, "x", F, 4, xs, NULL);
    mb_io(&b, true, "y", F, 4, xs, NULL);
    int64_t vs[4] = {2, 3, 5, 1};
    mb_io(&b, true, "v", F, 4, vs, NULL);
    b.graph.n_output = 1;
    mb_init_raw(&b, "two", F, 0, NULL, &two, 4);
    mb_init_raw(&b, "eps", F, 0, NULL, &eps, 4);
    mb_init_raw(&b, "g", F, 1, &five, g, sizeof g);
    mb_init_raw(&b, "b", F, 1, &five, bb, sizeof bb);
    Onnx__NodeProto *r1 = mb_node(&b, "ReduceMean", "mean", 1, X, 1, M);
    mb_node(&b, "Sub", "sub", 2, XM, 1, D);
    mb_node(&b, "Pow", "pow", 2, D2, 1, P2);
    Onnx__NodeProto *r2 = mb_node(&b, "ReduceMean", "var", 1, P2, 1, V);
    mb_node(&b, "Add", "add_eps", 2, VE, 1, VEo);
    mb_node(&b, "Sqrt", "sqrt", 1, VEo, 1, SD);
    mb_node(&b, "Div", "div", 2, DS, 1, Y0);
    mb_node(&b, "Mul", "scale", 2, Y0G, 1, Y1);
    mb_node(&b, "Add", "bias", 2, Y1B, 1, Y);
    mb_attr_ints(&b, r1, "axes", 1, axes);
    mb_attr_ints(&b, r2, "axes", 1, axes);
    fused_pair(ctx, &b, 2, xs, 9);
}


/* MatMul + Add(bias) + Relu: one matmul with its epilogue. */
static void run_fusion_matmul(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    int64_t xs[4] = {2, 3, 5, 5}, wd[2] = {5, 5}, five = 5;
    static char *XW[] = {"x", "w"}, *MM[] = {"mm"}, *MB[] = {"mm", "b"}, *T[] = {"t"};
    static float w[25], bb[5] = {0.5f, -1, 0, 2, -0.25f};
    for (int i = 0; i < 25; i++)
        w[i] = (float)((i * 7) % 5) / 4.0f - 0.5f;
    mb b;
    mb_init(&b, 13);
    mb_io(&b, false, "x", F, 4, xs, NULL);
    mb_io(&b, true, "y", F, 4, xs, NULL);
    mb_io(&b, true, "mm", F, 4, xs, NULL);
    b.graph.n_output = 1;
    mb_init_raw(&b, "w", F, 2, wd, w, sizeof w);
    mb_init_raw(&b, "b", F, 1, &five, bb, sizeof bb);
    mb_node(&b, "MatMul", "matmul", 2, XW, 1, MM);
    mb_node(&b, "Add", "bias", 2, MB, 1, T);
    mb_node(&b, "Relu", "relu", 1, T, 1, Y);
    fused_pair(ctx, &b, 2, xs, 3);
}


/* RNN activations spelled out as the defaults (PyTorch's exporter writes them) give the same
 * result as none; others are refused as unsupported. */
static void run_rnn_activations(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    int64_t xs[3] = {3, 2, 4}, ws[3] = {1, 5, 4}, rs[3] = {1, 5, 5}, ys[4] = {3, 1, 2, 5};
    static float w[20], r[25], x[24];
    for (int i = 0; i < 25; i++) {
        if (i < 20)
            w[i] = (float)((i * 7) % 9) / 9.0f - 0.4f;
        r[i] = (float)((i * 5) % 11) / 11.0f - 0.5f;
        if (i < 24)
            x[i] = (float)((i * 3) % 7) / 3.5f - 1;
    }
    static char *XWR[] = {"x", "w", "r"};
    static ProtobufCBinaryData names[2][1] = {{{4, (uint8_t *)"Tanh"}}, {{4, (uint8_t *)"Relu"}}};
    float first[30];
    for (int k = 0; k < 3; k++) {
        mb b;
        mb_init(&b, 13);
        mb_io(&b, false, "x", F, 3, xs, NULL);
        mb_io(&b, true, "y", F, 4, ys, NULL);
        mb_init_raw(&b, "w", F, 3, ws, w, sizeof w);
        mb_init_raw(&b, "r", F, 3, rs, r, sizeof r);
        Onnx__NodeProto *rnn = mb_node(&b, "RNN", "rnn", 3, XWR, 1, Y);
        mb_attr_int(&b, rnn, "hidden_size", 5);
        if (k > 0) {
            Onnx__AttributeProto *a = mb_attr(&b, rnn, "activations", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS);
            a->n_strings = 1;
            a->strings = names[k - 1];
        }
        vkdl_onnx_model *m;
        vkdl_onnx_plan *p;
        if (!TH_OK(load_built(&b, NULL, &m)))
            return;
        if (k == 2) {
            TH_STATUS(vkdl_onnx_plan_create(ctx, m, NULL, &p), VKDL_ERROR_UNSUPPORTED, "activations");
        } else if (TH_OK(vkdl_onnx_plan_create(ctx, m, NULL, &p))) {
            vkdl_host_tensor in = {.name = "x", .dtype = VKDL_F32, .ndim = 3, .shape = {3, 2, 4}, .data = x,
                                   .bytes = sizeof x};
            vkdl_host_tensor out;
            if (TH_OK(vkdl_onnx_run(p, 1, &in)) && TH_OK(vkdl_onnx_plan_output(p, 0, &out))) {
                if (k == 0)
                    memcpy(first, out.data, sizeof first);
                else if (memcmp(first, out.data, sizeof first))
                    th_fail("RNN with activations [Tanh] differs from the default");
            }
            vkdl_onnx_plan_destroy(p);
        }
        vkdl_onnx_model_destroy(m);
    }
}

/* A plan may return intermediate values instead of the graph's outputs (features for a new head);
 * what none of them needs is left out. */
static void run_chosen_outputs(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    mb b;
    float w[3] = {1, -2, 0.5f};
    int64_t wdim;
    relu_add(&b, 3, w, &wdim);
    vkdl_onnx_model *m;
    if (!TH_OK(load_built(&b, NULL, &m)))
        return;
    const char *names[1] = {"s"};
    vkdl_onnx_plan_info info = {.n_outputs = 1, .outputs = names};
    vkdl_onnx_plan *p;
    if (TH_OK(vkdl_onnx_plan_create(ctx, m, &info, &p))) {
        float x[6] = {0, 0, 0, -1, 3, 1};
        vkdl_host_tensor in = {.name = "x", .dtype = VKDL_F32, .ndim = 2, .shape = {2, 3}, .data = x,
                               .bytes = sizeof x};
        vkdl_host_tensor out;
        vkdl_onnx_plan_stats st = {0};
        TH_OK(vkdl_onnx_plan_stats_get(p, &st));
        EXPECT(st.unused_nodes == 1 && st.device_steps == 1 && vkdl_onnx_plan_output_count(p) == 1);
        if (TH_OK(vkdl_onnx_run(p, 1, &in)) && TH_OK(vkdl_onnx_plan_output(p, 0, &out)))
            EXPECT(!strcmp(out.name, "s") && ((const float *)out.data)[1] == -2 && ((const float *)out.data)[3] == 0);
        vkdl_onnx_plan_destroy(p);
    }
    names[0] = "nothing";
    TH_STATUS(vkdl_onnx_plan_create(ctx, m, &info, &p), VKDL_ERROR_INVALID_ARGUMENT, "no value 'nothing'");
    vkdl_onnx_model_destroy(m);
}

static void run_null(void *arg)
{
    vkdl_context *ctx = *(vkdl_context **)arg;
    vkdl_onnx_plan *p;
    TH_STATUS(vkdl_onnx_plan_create(ctx, NULL, NULL, &p), VKDL_ERROR_INVALID_ARGUMENT, "model is NULL");
    TH_STATUS(vkdl_onnx_plan_create(ctx, NULL, NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT, "out is NULL");
    TH_STATUS(vkdl_onnx_run(NULL, 0, NULL), VKDL_ERROR_INVALID_ARGUMENT, "plan is NULL");
    vkdl_host_tensor t;
    TH_STATUS(vkdl_onnx_plan_output(NULL, 0, &t), VKDL_ERROR_INVALID_ARGUMENT, NULL);
    TH_STATUS(vkdl_onnx_input(NULL, 0, &t), VKDL_ERROR_INVALID_ARGUMENT, NULL);
    EXPECT(vkdl_onnx_input_count(NULL) == 0 && vkdl_onnx_input_dim_name(NULL, 0, 0) == NULL);
    vkdl_onnx_model_destroy(NULL);
    vkdl_onnx_plan_destroy(NULL);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    th_run_both("onnx/basic", run_basic);
    th_run("onnx/refusals", run_refusals, NULL);
    th_run("onnx/truncated", run_truncated, NULL);
    th_run("onnx/external-data", run_external, NULL);
    th_run_both("onnx/symbolic-dims", run_symbolic);
    th_run_both("onnx/fixed-inputs", run_fixed);
    th_run_both("onnx/arena", run_arena);
    th_run_both("onnx/folding", run_folding);
    th_run_both("onnx/fusion/conv-batchnorm", run_fusion_conv_bn);
    th_run_both("onnx/fusion/hardswish", run_fusion_hardswish);
    th_run_both("onnx/fusion/layernorm", run_fusion_layernorm);
    th_run_both("onnx/fusion/matmul-bias-relu", run_fusion_matmul);
    th_run_both("onnx/chosen-outputs", run_chosen_outputs);
    th_run_both("onnx/rnn-default-activations", run_rnn_activations);
    th_run_both("onnx/null", run_null);
    return th_finish();
}
