/* ONNX models: protobuf-c reads the file (C generated at build time from Debian's onnx.proto), and
 * this file turns it into vkdl's own graph, checking everything a hostile file could get wrong:
 * sizes, names, cycles, types, external data locations. The protobuf tree is freed before
 * returning, so a model holds only what a plan needs. */
#include "onnx/onnx.h"

#include "onnx.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A model's declared sizes are checked against what the file can hold, and this bounds what a
 * single initializer or attribute tensor may ask for (4 GiB of f32). */
#define MAX_INIT_ELEMENTS (INT64_C(1) << 30)
#define MAX_FILE_BYTES ((size_t)1 << 31)

bool onnx_dtype_from_proto(int32_t t, vkdl_dtype *out)
{
    switch (t) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: *out = VKDL_F32; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8: *out = VKDL_U8; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: *out = VKDL_I8; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16: *out = VKDL_U16; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: *out = VKDL_I16; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: *out = VKDL_I32; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: *out = VKDL_I64; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: *out = VKDL_BOOL; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16: *out = VKDL_F16; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: *out = VKDL_F64; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: *out = VKDL_U32; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64: *out = VKDL_U64; return true;
    case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16: *out = VKDL_BF16; return true;
    }
    return false;
}

static const char *proto_type_name(int32_t t)
{
    static const char *names[] = {"undefined", "float", "uint8", "int8", "uint16", "int16", "int32", "int64",
                                  "string", "bool", "float16", "double", "uint32", "uint64", "complex64",
                                  "complex128", "bfloat16"};
    return t >= 0 && t < (int32_t)VKDL_ARRAY_LEN(names) ? names[t] : "unknown";
}

/* ---------------------------------------------------------------- tensors */

/* The elements of a TensorProto's typed field, converted into h (already allocated). */
static vkdl_status typed_data(const Onnx__TensorProto *t, onnx_host *h)
{
    int64_t n = h->numel;                                /* checked against the field's count */
    for (int64_t i = 0; i < n; i++) {
        switch (h->dtype) {
        case VKDL_F32: ((float *)h->data)[i] = t->float_data[i]; break;
        case VKDL_F64: ((double *)h->data)[i] = t->double_data[i]; break;
        case VKDL_I64: ((int64_t *)h->data)[i] = t->int64_data[i]; break;
        case VKDL_U32: ((uint32_t *)h->data)[i] = (uint32_t)t->uint64_data[i]; break;
        case VKDL_U64: ((uint64_t *)h->data)[i] = t->uint64_data[i]; break;
        case VKDL_F16: case VKDL_BF16: case VKDL_U16: ((uint16_t *)h->data)[i] = (uint16_t)t->int32_data[i]; break;
        case VKDL_I16: ((int16_t *)h->data)[i] = (int16_t)t->int32_data[i]; break;
        case VKDL_I32: ((int32_t *)h->data)[i] = t->int32_data[i]; break;
        case VKDL_I8: ((int8_t *)h->data)[i] = (int8_t)t->int32_data[i]; break;
        case VKDL_U8: ((uint8_t *)h->data)[i] = (uint8_t)t->int32_data[i]; break;
        case VKDL_BOOL: ((uint8_t *)h->data)[i] = t->int32_data[i] != 0; break;
        }
    }
    return VKDL_OK;
}

/* Where external data lives: dir/location, refusing absolute paths, "..", and links that leave
 * dir. */
static vkdl_status external_path(const char *what, const char *dir, const char *location, char *out, size_t n)
{
    if (!dir)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT,
                         "onnx: tensor '%s' has external data '%s' but the model was loaded from memory "
                         "without a directory", what, location);
    if (!location[0] || location[0] == '/' || strstr(location, ".."))
        return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: tensor '%s': external data location '%s' leaves the "
                         "model's directory", what, location);
    if ((size_t)snprintf(out, n, "%s/%s", dir, location) >= n)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "onnx: tensor '%s': external data path too long", what);
    char real_dir[PATH_MAX], real_file[PATH_MAX];
    if (!realpath(dir, real_dir) || !realpath(out, real_file))
        return vkdl_fail(VKDL_ERROR_IO, "onnx: tensor '%s': external data '%s': %s", what, out, strerror(errno));
    size_t l = strlen(real_dir);
    if (strncmp(real_file, real_dir, l) != 0 || real_file[l] != '/')
        return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: tensor '%s': external data '%s' resolves outside the "
                         "model's directory", what, location);
    return VKDL_OK;
}

static vkdl_status external_data(const char *what, const Onnx__TensorProto *t, const char *dir, onnx_host *h)
{
    const char *location = NULL;
    long long offset = 0, length = -1;
    for (size_t i = 0; i < t->n_external_data; i++) {
        const Onnx__StringStringEntryProto *kv = t->external_data[i];
        if (!kv->key || !kv->value)
            continue;
        char *end;
        if (!strcmp(kv->key, "location")) {
            location = kv->value;
        } else if (!strcmp(kv->key, "offset") || !strcmp(kv->key, "length")) {
            errno = 0;
            long long v = strtoll(kv->value, &end, 10);
            if (errno || *end || v < 0)
                return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: tensor '%s': external data %s '%s' is not a "
                                 "byte count", what, kv->key, kv->value);
            *(!strcmp(kv->key, "offset") ? &offset : &length) = v;
        }
    }
    if (!location)
        return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: tensor '%s': external data without a location", what);
    size_t bytes = (size_t)h->numel * vkdl_dtype_size(h->dtype);
    if (length >= 0 && (uint64_t)length != bytes)
        return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: tensor '%s': external data length %lld, the shape needs "
                         "%zu bytes", what, length, bytes);
    char path[PATH_MAX];
    VKDL_TRY(external_path(what, dir, location, path, sizeof path));
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return vkdl_fail(VKDL_ERROR_IO, "onnx: tensor '%s': cannot open external data '%s': %s", what, path,
                         strerror(errno));
    /* The file must hold the bytes before any memory is set aside for them. */
    struct stat st;
    vkdl_status s = VKDL_OK;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        s = vkdl_fail(VKDL_ERROR_IO, "onnx: tensor '%s': external data '%s' is not a regular file", what, path);
    else if ((uint64_t)st.st_size < (uint64_t)offset + bytes)
        s = vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: tensor '%s': external data '%s' is shorter than offset "
                      "%lld + %zu bytes", what, path, offset, bytes);
    else
        s = onnx_host_alloc(h, h->dtype, t->n_dims ? (int)t->n_dims : 0, t->dims);
    for (size_t got = 0; s == VKDL_OK && got < bytes;) {
        ssize_t r = pread(fd, (char *)h->data + got, bytes - got, (off_t)((uint64_t)offset + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            s = vkdl_fail(VKDL_ERROR_IO, "onnx: tensor '%s': reading external data '%s' failed", what, path);
            onnx_host_free(h);
        } else {
            got += (size_t)r;
        }
    }
    close(fd);
    return s;
}

/* A TensorProto as a host tensor; dir resolves external data (may be NULL). */
static vkdl_status tensor_from_proto(const Onnx__TensorProto *t, const char *dir, onnx_host *out)
{
    const char *what = t->name && t->name[0] ? t->name : "(unnamed)";
    vkdl_dtype dt;
    if (!onnx_dtype_from_proto(t->data_type, &dt))
        return vkdl_fail(VKDL_ERROR_UNSUPPORTED, "onnx: tensor '%s' has element type %s, which vkdl does not "
                         "support", what, proto_type_name(t->data_type));
    if (t->n_dims > VKDL_MAX_DIMS)
        return vkdl_fail(VKDL_ERROR_UNSUPPORTED, "onnx: tensor '%s' has %zu dims (at most %d)", what, t->n_dims,
                         VKDL_MAX_DIMS);
    int64_t numel = 1;
    for (size_t d = 0; d < t->n_dims; d++) {
        if (t->dims[d] < 0)
            return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: tensor '%s' has a negative dim %lld", what,
                             (long long)t->dims[d]);
        if (t->dims[d] > 0 && numel > MAX_INIT_ELEMENTS / t->dims[d])
            return vkdl_fail(VKDL_ERROR_SIZE_OVERFLOW, "onnx: tensor '%s' declares more than %lld elements", what,
                             (long long)MAX_INIT_ELEMENTS);
        numel *= t->dims[d];
    }
    size_t bytes = (size_t)numel * vkdl_dtype_size(dt);
    bool external = t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    /* Check the size against the data before allocating, so a file cannot ask for memory it does
     * not back. */
    if (!external && t->has_raw_data && t->raw_data.len != bytes)
        return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: tensor '%s' is %s of %lld elements (%zu bytes) but has "
                         "%zu bytes of data", what, vkdl_dtype_name(dt), (long long)numel, bytes, t->raw_data.len);
    if (!external && !t->has_raw_data) {
        size_t have;
        switch (dt) {
        case VKDL_F32: have = t->n_float_data; break;
        case VKDL_F64: have = t->n_double_data; break;
        case VKDL_I64: have = t->n_int64_data; break;
        case VKDL_U32: case VKDL_U64: have = t->n_uint64_data; break;
        default: have = t->n_int32_data; break;
        }
        if ((uint64_t)have != (uint64_t)numel)
            return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: tensor '%s' declares %lld elements but holds %zu", what,
                             (long long)numel, have);
    }
    out->dtype = dt;
    out->numel = numel;
    if (external)
        return external_data(what, t, dir, out);
    VKDL_TRY(onnx_host_alloc(out, dt, (int)t->n_dims, t->dims));
    vkdl_status s;
    if (t->has_raw_data) {
        if (bytes)
            memcpy(out->data, t->raw_data.data, bytes);
        s = VKDL_OK;
    } else
        s = typed_data(t, out);
    if (s != VKDL_OK)
        onnx_host_free(out);
    return s;
}

vkdl_status onnx_tensor_parse(const void *data, size_t size, onnx_host *out, char **name)
{
    memset(out, 0, sizeof *out);
    if (name)
        *name = NULL;
    Onnx__TensorProto *t = onnx__tensor_proto__unpack(NULL, size, data);
    if (!t)
        return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: not a TensorProto (%zu bytes)", size);
    vkdl_status s = tensor_from_proto(t, NULL, out);
    if (s == VKDL_OK && name && t->name && !(*name = strdup(t->name))) {
        onnx_host_free(out);
        s = vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "onnx: out of host memory");
    }
    onnx__tensor_proto__free_unpacked(t, NULL);
    return s;
}

/* ---------------------------------------------------------------- names */

/* Open addressing from value names to indices; the table outlives nothing but the load. */
typedef struct name_map {
    int cap;
    int *slot;                      /* value index + 1; 0 empty */
    const onnx_value *values;
} name_map;

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;                 /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int map_find(const name_map *m, const char *name)
{
    for (uint64_t i = name_hash(name) & (uint64_t)(m->cap - 1);; i = (i + 1) & (uint64_t)(m->cap - 1)) {
        int v = m->slot[i];
        if (!v)
            return -1;
        if (!strcmp(m->values[v - 1].name, name))
            return v - 1;
    }
}

static void map_put(name_map *m, const char *name, int index)
{
    uint64_t i = name_hash(name) & (uint64_t)(m->cap - 1);
    while (m->slot[i])
        i = (i + 1) & (uint64_t)(m->cap - 1);
    m->slot[i] = index + 1;
}

/* ---------------------------------------------------------------- building the model */

typedef struct loader {
    vkdl_onnx_model *m;
    int cap_values;
    name_map map;
    const char *dir;
} loader;

static vkdl_status oom(void) { return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "onnx: out of host memory"); }

static char *dup_str(const char *s) { return strdup(s ? s : ""); }

/* The value named name, created (untyped, rank unknown) if new. */
static vkdl_status value_get(loader *L, const char *name, int *out)
{
    int v = map_find(&L->map, name);
    if (v >= 0) {
        *out = v;
        return VKDL_OK;
    }
    vkdl_onnx_model *m = L->m;
    if (m->n_values == L->cap_values)
        return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: more value names than the graph declares room for");
    onnx_value *val = &m->values[m->n_values];
    memset(val, 0, sizeof *val);
    val->ndim = -1;
    val->producer = -1;
    if (!(val->name = strdup(name)))
        return oom();
    map_put(&L->map, name, m->n_values);
    *out = m->n_values++;
    return VKDL_OK;
}

/* Type and shape from a ValueInfoProto (graph input/output or value_info). */
static vkdl_status value_info(loader *L, const Onnx__ValueInfoProto *vi, int v)
{
    onnx_value *val = &L->m->values[v];
    const Onnx__TypeProto *tp = vi->type;
    if (!tp)
        return VKDL_OK;
    if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return vkdl_fail(VKDL_ERROR_UNSUPPORTED, "onnx: value '%s' is a sequence, map or optional, which vkdl "
                         "does not support", val->name);
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (tt->has_elem_type && tt->elem_type) {
        if (!onnx_dtype_from_proto(tt->elem_type, &val->dtype))
            return vkdl_fail(VKDL_ERROR_UNSUPPORTED, "onnx: value '%s' has element type %s, which vkdl does not "
                             "support", val->name, proto_type_name(tt->elem_type));
        val->typed = true;
    }
    if (!tt->shape || val->init)
        return VKDL_OK;
    if (tt->shape->n_dim > VKDL_MAX_DIMS)
        return vkdl_fail(VKDL_ERROR_UNSUPPORTED, "onnx: value '%s' has %zu dims (at most %d)", val->name,
                         tt->shape->n_dim, VKDL_MAX_DIMS);
    val->ndim = (int)tt->shape->n_dim;
    for (int d = 0; d < val->ndim; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[d];
        val->dims[d] = -1;
        if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            if (dim->dim_value < 0)
                return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: value '%s' dim %d is %lld", val->name, d,
                                 (long long)dim->dim_value);
            val->dims[d] = dim->dim_value;
        } else if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM && dim->dim_param &&
                   dim->dim_param[0]) {
            free(val->dim_names[d]);
            if (!(val->dim_names[d] = strdup(dim->dim_param)))
                return oom();
        }
    }
    return VKDL_OK;
}

static vkdl_status copy_attr(const onnx_node *node, const Onnx__AttributeProto *a, onnx_attr *out)
{
    if (!(out->name = dup_str(a->name)))
        return oom();
    out->type = a->type;
    out->f = a->f;
    out->i = a->i;
    switch ((int)a->type) {
    case ONNX_ATTR_STRING:
        if (!(out->s = malloc(a->s.len + 1)))
            return oom();
        if (a->s.len)
            memcpy(out->s, a->s.data, a->s.len);
        out->s[a->s.len] = 0;
        break;
    case ONNX_ATTR_FLOATS:
    case ONNX_ATTR_INTS: {
        size_t n = (int)a->type == ONNX_ATTR_FLOATS ? a->n_floats : a->n_ints;
        if (n > INT32_MAX)
            return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: node '%s': attribute '%s' has %zu values", node->name,
                             out->name, n);
        out->n = (int)n;
        size_t es = (int)a->type == ONNX_ATTR_FLOATS ? sizeof(float) : sizeof(int64_t);
        void *p = malloc(n ? n * es : 1);
        if (!p)
            return oom();
        if (n)
            memcpy(p, (int)a->type == ONNX_ATTR_FLOATS ? (const void *)a->floats : (const void *)a->ints, n * es);
        if ((int)a->type == ONNX_ATTR_FLOATS)
            out->floats = p;
        else
            out->ints = p;
        break;
    }
    case ONNX_ATTR_STRINGS:
        if (a->n_strings > 4096)
            return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: node '%s': attribute '%s' has %zu strings", node->name,
                             out->name, a->n_strings);
        if (!(out->strings = calloc(a->n_strings + 1, sizeof *out->strings)))
            return oom();
        for (size_t i = 0; i < a->n_strings; i++, out->n++) {
            if (!(out->strings[i] = malloc(a->strings[i].len + 1)))
                return oom();
            if (a->strings[i].len)
                memcpy(out->strings[i], a->strings[i].data, a->strings[i].len);
            out->strings[i][a->strings[i].len] = 0;
        }
        break;
    case ONNX_ATTR_TENSOR:
        if (!a->t)
            return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: node '%s': tensor attribute '%s' has no tensor",
                             node->name, out->name);
        return tensor_from_proto(a->t, NULL, &out->t);
    default:
        break;                                           /* graphs, strings lists: the op refuses them */
    }
    return VKDL_OK;
}

static vkdl_status add_node(loader *L, const Onnx__NodeProto *np, int index)
{
    vkdl_onnx_model *m = L->m;
    onnx_node *node = &m->nodes[index];
    char fallback[64];
    snprintf(fallback, sizeof fallback, "%s #%d", np->op_type ? np->op_type : "?", index);
    if (!(node->name = strdup(np->name && np->name[0] ? np->name : fallback)) ||
        !(node->op_type = dup_str(np->op_type)))
        return oom();
    if (np->n_input > ONNX_MAX_IO || np->n_output > ONNX_MAX_IO)
        return vkdl_fail(VKDL_ERROR_UNSUPPORTED, "onnx: node '%s' (%s) has %zu inputs and %zu outputs (at most %d)",
                         node->name, node->op_type, np->n_input, np->n_output, ONNX_MAX_IO);
    if (np->domain && np->domain[0] && strcmp(np->domain, "ai.onnx"))
        return vkdl_fail(VKDL_ERROR_UNSUPPORTED, "onnx: node '%s' (%s) is in domain '%s'; vkdl supports only "
                         "ONNX's default domain", node->name, node->op_type, np->domain);
    node->n_in = (int)np->n_input;
    node->n_out = (int)np->n_output;
    node->in = calloc(np->n_input + 1, sizeof *node->in);
    node->out = calloc(np->n_output + 1, sizeof *node->out);
    node->attrs = calloc(np->n_attribute + 1, sizeof *node->attrs);
    if (!node->in || !node->out || !node->attrs)
        return oom();
    for (int i = 0; i < node->n_in; i++) {
        node->in[i] = -1;
        if (np->input[i] && np->input[i][0]) {
            node->in[i] = map_find(&L->map, np->input[i]);
            if (node->in[i] < 0)
                return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: node '%s' (%s): input '%s' is not defined by the "
                                 "graph's inputs, initializers or any node", node->name, node->op_type,
                                 np->input[i]);
        }
    }
    for (size_t a = 0; a < np->n_attribute; a++) {
        node->n_attrs++;                                 /* counted first: a half-copied one is freed too */
        VKDL_TRY(copy_attr(node, np->attribute[a], &node->attrs[a]));
    }
    node->op = onnx_op_find(node->op_type);
    if (!node->op)
        return vkdl_fail(VKDL_ERROR_UNSUPPORTED, "onnx: node '%s': op %s is not supported", node->name,
                         node->op_type);
    return VKDL_OK;
}

/* Kahn's algorithm over the nodes, whose outputs were registered first: the model's nodes in
 * an order where every input is produced before it is read; a cycle names one of its nodes. */
static vkdl_status topo_sort(loader *L, const Onnx__GraphProto *g)
{
    vkdl_onnx_model *m = L->m;
    int n = m->n_nodes;
    int *pending = calloc((size_t)n + 1, sizeof *pending), *order = malloc(((size_t)n + 1) * sizeof *order);
    int *users_start = calloc((size_t)m->n_values + 1, sizeof *users_start), *users = NULL;
    vkdl_status s = VKDL_OK;
    if (!pending || !order || !users_start) {
        s = oom();
        goto done;
    }
    size_t edges = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < m->nodes[i].n_in; k++) {
            int v = m->nodes[i].in[k];
            if (v >= 0 && m->values[v].producer >= 0) {
                pending[i]++;
                users_start[v + 1]++;
                edges++;
            }
        }
    for (int v = 0; v < m->n_values; v++)
        users_start[v + 1] += users_start[v];
    if (!(users = malloc((edges + 1) * sizeof *users))) {
        s = oom();
        goto done;
    }
    int *fill = calloc((size_t)m->n_values + 1, sizeof *fill);
    if (!fill) {
        s = oom();
        goto done;
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < m->nodes[i].n_in; k++) {
            int v = m->nodes[i].in[k];
            if (v >= 0 && m->values[v].producer >= 0)
                users[users_start[v] + fill[v]++] = i;
        }
    free(fill);
    int head = 0, tail = 0;
    for (int i = 0; i < n; i++)
        if (!pending[i])
            order[tail++] = i;
    while (head < tail) {
        const onnx_node *node = &m->nodes[order[head++]];
        for (int k = 0; k < node->n_out; k++) {
            int v = node->out[k];
            if (v < 0)
                continue;
            for (int u = users_start[v]; u < users_start[v + 1]; u++)
                if (--pending[users[u]] == 0)
                    order[tail++] = users[u];
        }
    }
    if (tail < n) {
        int stuck = 0;
        while (!pending[stuck])
            stuck++;
        s = vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: the graph has a cycle through node '%s' (%s)",
                      m->nodes[stuck].name, m->nodes[stuck].op_type);
        goto done;
    }
    /* Reorder the nodes and renumber producers. */
    onnx_node *sorted = malloc(((size_t)n + 1) * sizeof *sorted);
    if (!sorted) {
        s = oom();
        goto done;
    }
    for (int i = 0; i < n; i++)
        sorted[i] = m->nodes[order[i]];
    free(m->nodes);
    m->nodes = sorted;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < sorted[i].n_out; k++)
            if (sorted[i].out[k] >= 0)
                m->values[sorted[i].out[k]].producer = i;
    (void)g;
done:
    free(pending);
    free(order);
    free(users_start);
    free(users);
    return s;
}

static vkdl_status build(loader *L, const Onnx__ModelProto *mp)
{
    vkdl_onnx_model *m = L->m;
    const Onnx__GraphProto *g = mp->graph;
    if (!g)
        return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: the model has no graph");
    m->opset = -1;
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        if (!o->domain || !o->domain[0] || !strcmp(o->domain, "ai.onnx"))
            m->opset = (int)(o->version < 0 ? 0 : o->version > 1000 ? 1000 : o->version);
    }
    if (m->opset < 0)
        m->opset = 1;                                    /* IR version 2 models carry no opset import */
    if (m->opset > 18)
        return vkdl_fail(VKDL_ERROR_UNSUPPORTED, "onnx: opset %d is newer than vkdl supports (7 to 18)", m->opset);
    if (g->n_node > INT32_MAX / 2 || g->n_input > INT32_MAX / 2 || g->n_initializer > INT32_MAX / 2)
        return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: the graph is too large");
    /* Every value is a graph input, an initializer or a node output: this bounds the names. */
    size_t outs = 0;
    for (size_t i = 0; i < g->n_node; i++)
        outs += g->node[i]->n_output;
    size_t cap = g->n_input + g->n_initializer + outs + g->n_output + 1;
    if (cap > INT32_MAX / 4)
        return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: the graph is too large");
    L->cap_values = (int)cap;
    L->map.cap = 16;
    while ((size_t)L->map.cap < 2 * cap)
        L->map.cap *= 2;
    m->values = calloc(cap, sizeof *m->values);
    m->nodes = calloc(g->n_node + 1, sizeof *m->nodes);
    m->inputs = calloc(g->n_input + 1, sizeof *m->inputs);
    m->outputs = calloc(g->n_output + 1, sizeof *m->outputs);
    L->map.slot = calloc((size_t)L->map.cap, sizeof *L->map.slot);
    L->map.values = m->values;
    if (!m->values || !m->nodes || !m->inputs || !m->outputs || !L->map.slot)
        return oom();

    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        if (!t->name || !t->name[0])
            return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: initializer %zu has no name", i);
        if (map_find(&L->map, t->name) >= 0)
            return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: initializer '%s' is defined twice", t->name);
        int v;
        VKDL_TRY(value_get(L, t->name, &v));
        onnx_value *val = &m->values[v];
        if (!(val->init = calloc(1, sizeof *val->init)))
            return oom();
        VKDL_TRY(tensor_from_proto(t, L->dir, val->init));
        val->dtype = val->init->dtype;
        val->typed = true;
        val->ndim = val->init->ndim;
        memcpy(val->dims, val->init->dims, sizeof val->dims);
    }
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *vi = g->input[i];
        if (!vi->name || !vi->name[0])
            return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: graph input %zu has no name", i);
        int v;
        VKDL_TRY(value_get(L, vi->name, &v));
        if (m->values[v].init) {
            /* Older exporters list initializers as inputs too: their declared type must agree. */
            vkdl_dtype dt;
            const Onnx__TypeProto *tp = vi->type;
            if (tp && tp->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && tp->tensor_type &&
                tp->tensor_type->has_elem_type && tp->tensor_type->elem_type &&
                (!onnx_dtype_from_proto(tp->tensor_type->elem_type, &dt) || dt != m->values[v].dtype))
                return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: input '%s' is declared %s but its initializer is %s",
                                 vi->name, proto_type_name(tp->tensor_type->elem_type),
                                 vkdl_dtype_name(m->values[v].dtype));
            continue;
        }
        for (int k = 0; k < m->n_inputs; k++)
            if (m->inputs[k] == v)
                return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: graph input '%s' is listed twice", vi->name);
        VKDL_TRY(value_info(L, vi, v));
        if (!m->values[v].typed)
            return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: graph input '%s' has no element type", vi->name);
        if (m->values[v].ndim < 0)
            return vkdl_fail(VKDL_ERROR_UNSUPPORTED, "onnx: graph input '%s' has no shape", vi->name);
        m->inputs[m->n_inputs++] = v;
    }
    /* Outputs first, so that a node reading a later node's output finds it (and topo_sort orders). */
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *np = g->node[i];
        for (size_t k = 0; k < np->n_output; k++) {
            const char *name = np->output[k];
            if (!name || !name[0])
                continue;
            if (map_find(&L->map, name) >= 0)
                return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: node %zu (%s): output '%s' is already defined",
                                 i, np->op_type ? np->op_type : "?", name);
            int v;
            VKDL_TRY(value_get(L, name, &v));
            m->values[v].producer = (int)i;
        }
    }
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *np = g->node[i];
        m->n_nodes = (int)i + 1;
        VKDL_TRY(add_node(L, np, (int)i));
        onnx_node *node = &m->nodes[i];
        for (int k = 0; k < node->n_out; k++)
            node->out[k] = np->output[k] && np->output[k][0] ? map_find(&L->map, np->output[k]) : -1;
    }
    VKDL_TRY(topo_sort(L, g));
    for (size_t i = 0; i < g->n_value_info; i++) {
        int v = g->value_info[i]->name ? map_find(&L->map, g->value_info[i]->name) : -1;
        if (v >= 0 && m->values[v].producer >= 0)
            VKDL_TRY(value_info(L, g->value_info[i], v));
    }
    for (size_t i = 0; i < g->n_output; i++) {
        const Onnx__ValueInfoProto *vi = g->output[i];
        int v = vi->name ? map_find(&L->map, vi->name) : -1;
        if (v < 0)
            return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: graph output '%s' is not produced by the graph",
                             vi->name ? vi->name : "");
        if (m->values[v].producer >= 0)
            VKDL_TRY(value_info(L, vi, v));
        m->outputs[m->n_outputs++] = v;
    }
    if (m->n_outputs == 0)
        return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx: the graph has no outputs");
    return VKDL_OK;
}

static void attr_free(onnx_attr *a)
{
    for (int i = 0; a->strings && i < a->n; i++)
        free(a->strings[i]);
    free(a->strings);
    free(a->name);
    free(a->s);
    free(a->floats);
    free(a->ints);
    onnx_host_free(&a->t);
}

void onnx_model_release(vkdl_onnx_model *m)
{
    if (!m || --m->refs > 0)
        return;
    for (int i = 0; i < m->n_values; i++) {
        onnx_value *v = &m->values[i];
        free(v->name);
        for (int d = 0; d < VKDL_MAX_DIMS; d++)
            free(v->dim_names[d]);
        if (v->init) {
            onnx_host_free(v->init);
            free(v->init);
        }
    }
    for (int i = 0; i < m->n_nodes; i++) {
        onnx_node *n = &m->nodes[i];
        free(n->name);
        free(n->op_type);
        free(n->in);
        free(n->out);
        for (int a = 0; a < n->n_attrs; a++)
            attr_free(&n->attrs[a]);
        free(n->attrs);
    }
    free(m->values);
    free(m->nodes);
    free(m->inputs);
    free(m->outputs);
    free(m);
}

void vkdl_onnx_model_destroy(vkdl_onnx_model *m) { onnx_model_release(m); }

vkdl_status vkdl_onnx_load_memory(const void *data, size_t size, const char *dir, vkdl_onnx_model **out)
{
    if (!out)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "onnx_load: out is NULL");
    *out = NULL;
    if (!data && size)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "onnx_load: data is NULL");
    if (size > MAX_FILE_BYTES)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "onnx_load: %zu bytes is more than protobuf allows (2 GiB); keep "
                         "large weights in external data", size);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, size, data);
    if (!mp)
        return vkdl_fail(VKDL_ERROR_CORRUPT_DATA, "onnx_load: not an ONNX model (protobuf parsing failed on %zu "
                         "bytes: truncated or not a ModelProto)", size);
    vkdl_onnx_model *m = calloc(1, sizeof *m);
    vkdl_status s;
    if (!m) {
        s = oom();
    } else {
        m->refs = 1;
        loader L = {.m = m, .dir = dir};
        s = build(&L, mp);
        free(L.map.slot);
    }
    onnx__model_proto__free_unpacked(mp, NULL);
    if (s != VKDL_OK) {
        onnx_model_release(m);
        return s;
    }
    *out = m;
    return VKDL_OK;
}

vkdl_status vkdl_onnx_load(const char *path, vkdl_onnx_model **out)
{
    if (!out)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "onnx_load: out is NULL");
    *out = NULL;
    if (!path)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "onnx_load: path is NULL");
    /* O_NONBLOCK: a FIFO at path must not block the open; only a regular file is read. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return vkdl_fail(VKDL_ERROR_IO, "onnx_load: cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    void *buf = NULL;
    vkdl_status s = VKDL_OK;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        s = vkdl_fail(VKDL_ERROR_IO, "onnx_load: '%s' is not a regular file", path);
    else if ((uint64_t)st.st_size > MAX_FILE_BYTES)
        s = vkdl_fail(VKDL_ERROR_TOO_LARGE, "onnx_load: '%s' is %lld bytes, more than protobuf allows (2 GiB)", path,
                      (long long)st.st_size);
    else if (!(buf = malloc((size_t)st.st_size + 1)))
        s = oom();
    size_t size = s == VKDL_OK ? (size_t)st.st_size : 0;
    for (size_t got = 0; s == VKDL_OK && got < size;) {
        ssize_t r = read(fd, (char *)buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            s = vkdl_fail(VKDL_ERROR_IO, "onnx_load: reading '%s' failed: %s", path, r ? strerror(errno) : "short file");
        else
            got += (size_t)r;
    }
    close(fd);
    if (s == VKDL_OK) {
        char dir[PATH_MAX];
        const char *slash = strrchr(path, '/');
        if (!slash)
            snprintf(dir, sizeof dir, ".");
        else
            snprintf(dir, sizeof dir, "%.*s", (int)(slash - path == 0 ? 1 : slash - path), path);
        s = vkdl_onnx_load_memory(buf, size, dir, out);
        if (s != VKDL_OK)
            vkdl_fail(s, "%s (in '%s')", vkdl_last_error(), path);
    }
    free(buf);
    return s;
}

/* ---------------------------------------------------------------- inspection */

static vkdl_status describe(const vkdl_onnx_model *m, int count, const int *list, int i, vkdl_host_tensor *out,
                            const char *what)
{
    if (!m || !out)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "onnx_%s: model or out is NULL", what);
    if (i < 0 || i >= count)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "onnx_%s: index %d not in [0, %d)", what, i, count);
    const onnx_value *v = &m->values[list[i]];
    memset(out, 0, sizeof *out);
    out->name = v->name;
    out->dtype = v->dtype;
    out->ndim = v->ndim < 0 ? 0 : v->ndim;
    for (int d = 0; d < out->ndim; d++)
        out->shape[d] = v->dims[d];
    return VKDL_OK;
}

int vkdl_onnx_input_count(const vkdl_onnx_model *m) { return m ? m->n_inputs : 0; }
int vkdl_onnx_output_count(const vkdl_onnx_model *m) { return m ? m->n_outputs : 0; }

vkdl_status vkdl_onnx_input(const vkdl_onnx_model *m, int i, vkdl_host_tensor *out)
{
    return describe(m, m ? m->n_inputs : 0, m ? m->inputs : NULL, i, out, "input");
}

vkdl_status vkdl_onnx_output(const vkdl_onnx_model *m, int i, vkdl_host_tensor *out)
{
    return describe(m, m ? m->n_outputs : 0, m ? m->outputs : NULL, i, out, "output");
}

const char *vkdl_onnx_input_dim_name(const vkdl_onnx_model *m, int i, int d)
{
    if (!m || i < 0 || i >= m->n_inputs || d < 0 || d >= VKDL_MAX_DIMS)
        return NULL;
    return m->values[m->inputs[i]].dim_names[d];
}
