/* The public API's own promises (include/vkdl.h): enum names from their lists, the version, chained
 * create-info structs, the log callback, device queries and host i64 data. */
#include "harness.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One row per value of a list: its value, its name function's answer. */
typedef struct enum_row {
    int value;
    const char *name;
} enum_row;

#define ROW_STATUS_(name, value, string) {value, vkdl_status_name((vkdl_status)(value))},
#define ROW_UNARY_(name, value, string) {value, vkdl_unary_op_name((vkdl_unary_op)(value))},
#define ROW_BINARY_(name, value, string) {value, vkdl_binary_op_name((vkdl_binary_op)(value))},
#define ROW_REDUCE_(name, value, string) {value, vkdl_reduce_op_name((vkdl_reduce_op)(value))},
#define ROW_OPTIMIZER_(name, value, string) {value, vkdl_optimizer_name((vkdl_optimizer)(value))},
#define ROW_SCATTER_(name, value, string) {value, vkdl_scatter_reduce_name((vkdl_scatter_reduce)(value))},
#define ROW_RESIZE_MODE_(name, value, string) {value, vkdl_resize_mode_name((vkdl_resize_mode)(value))},
#define ROW_RESIZE_COORD_(name, value, string) {value, vkdl_resize_coord_name((vkdl_resize_coord)(value))},
#define ROW_RESIZE_NEAREST_(name, value, string) {value, vkdl_resize_nearest_name((vkdl_resize_nearest)(value))},

/* Every value has a non-empty name no other value shares; a value outside the list (one past the
 * largest, and -1) is named "unknown...", never NULL. */
static void check_list(const char *what, const enum_row *rows, int n, const char *(*name)(int))
{
    int max = 0;
    for (int i = 0; i < n; i++) {
        const char *s = rows[i].name;
        if (!s || !*s || !strncmp(s, "unknown", 7)) {
            th_fail("%s %d has no name", what, rows[i].value);
            continue;
        }
        for (int j = 0; j < i; j++)
            if (rows[j].value == rows[i].value || (rows[j].name && !strcmp(s, rows[j].name)))
                th_fail("%s %d and %d share a value or the name \"%s\"", what, rows[j].value, rows[i].value, s);
        max = rows[i].value > max ? rows[i].value : max;
    }
    const int outside[] = {max + 1, -1};
    for (int i = 0; i < 2; i++) {
        const char *s = name(outside[i]);
        if (!s || strncmp(s, "unknown", 7))
            th_fail("%s %d outside the list is named \"%s\"", what, outside[i], s ? s : "(NULL)");
    }
}

static const char *status_name(int v) { return vkdl_status_name((vkdl_status)v); }
static const char *status_string(int v) { return vkdl_status_string((vkdl_status)v); }
static const char *unary_name(int v) { return vkdl_unary_op_name((vkdl_unary_op)v); }
static const char *binary_name(int v) { return vkdl_binary_op_name((vkdl_binary_op)v); }
static const char *reduce_name(int v) { return vkdl_reduce_op_name((vkdl_reduce_op)v); }
static const char *optimizer_name(int v) { return vkdl_optimizer_name((vkdl_optimizer)v); }
static const char *scatter_name(int v) { return vkdl_scatter_reduce_name((vkdl_scatter_reduce)v); }
static const char *resize_mode_name(int v) { return vkdl_resize_mode_name((vkdl_resize_mode)v); }
static const char *resize_coord_name(int v) { return vkdl_resize_coord_name((vkdl_resize_coord)v); }
static const char *resize_nearest_name(int v) { return vkdl_resize_nearest_name((vkdl_resize_nearest)v); }

#define LEN(a) ((int)(sizeof(a) / sizeof *(a)))
/* TH_TRUE as a statement, without the unused-value warning. */
#define EXPECT(cond) ((void)TH_TRUE(cond))

static void run_enum_names(void *arg)
{
    (void)arg;
    const enum_row status[] = {VKDL_STATUS_LIST(ROW_STATUS_)};
    const enum_row unary[] = {VKDL_UNARY_OP_LIST(ROW_UNARY_)};
    const enum_row binary[] = {VKDL_BINARY_OP_LIST(ROW_BINARY_)};
    const enum_row reduce[] = {VKDL_REDUCE_OP_LIST(ROW_REDUCE_)};
    const enum_row optimizer[] = {VKDL_OPTIMIZER_LIST(ROW_OPTIMIZER_)};
    const enum_row scatter[] = {VKDL_SCATTER_REDUCE_LIST(ROW_SCATTER_)};
    const enum_row mode[] = {VKDL_RESIZE_MODE_LIST(ROW_RESIZE_MODE_)};
    const enum_row coord[] = {VKDL_RESIZE_COORD_LIST(ROW_RESIZE_COORD_)};
    const enum_row nearest[] = {VKDL_RESIZE_NEAREST_LIST(ROW_RESIZE_NEAREST_)};
    check_list("status", status, LEN(status), status_name);
    check_list("unary op", unary, LEN(unary), unary_name);
    check_list("binary op", binary, LEN(binary), binary_name);
    check_list("reduce op", reduce, LEN(reduce), reduce_name);
    check_list("optimizer", optimizer, LEN(optimizer), optimizer_name);
    check_list("scatter reduce", scatter, LEN(scatter), scatter_name);
    check_list("resize mode", mode, LEN(mode), resize_mode_name);
    check_list("resize coord", coord, LEN(coord), resize_coord_name);
    check_list("resize nearest", nearest, LEN(nearest), resize_nearest_name);
    /* The English strings: non-empty for every status, distinct, and "unknown status" outside. */
    enum_row strings[LEN(status)];
    for (int i = 0; i < LEN(status); i++)
        strings[i] = (enum_row){status[i].value, vkdl_status_string((vkdl_status)status[i].value)};
    check_list("status string", strings, LEN(strings), status_string);
    EXPECT(LEN(unary) == VKDL_UNARY_OP_COUNT && LEN(binary) == VKDL_BINARY_OP_COUNT &&
           LEN(reduce) == VKDL_REDUCE_OP_COUNT && LEN(scatter) == VKDL_SCATTER_REDUCE_COUNT &&
           LEN(mode) == VKDL_RESIZE_MODE_COUNT && LEN(coord) == VKDL_RESIZE_COORD_COUNT &&
           LEN(nearest) == VKDL_RESIZE_NEAREST_COUNT);
    EXPECT(!strcmp(vkdl_status_name(VKDL_ERROR_SHAPE_MISMATCH), "VKDL_ERROR_SHAPE_MISMATCH"));
    EXPECT(!strcmp(vkdl_status_string(VKDL_ERROR_SHAPE_MISMATCH), "shape mismatch"));
    EXPECT(!strcmp(vkdl_unary_op_name(VKDL_GELU_TANH), "gelu_tanh"));
    EXPECT(!strcmp(vkdl_reduce_op_name(VKDL_ARGMAX), "argmax"));
    /* Pinned values: the ABI. */
    EXPECT(VKDL_ERROR_CONTEXT_MISMATCH == 14 && VKDL_ABS == 9 && VKDL_DIV == 3 && VKDL_ARGMAX == 3);
    EXPECT(VKDL_RMSPROP == 3 && VKDL_ERROR_OUT_OF_RANGE == 15 && VKDL_I64 == 5);
    EXPECT(VKDL_SCATTER_MIN == 4 && VKDL_PAD_WRAP == 3 && !strcmp(vkdl_scatter_reduce_name(VKDL_SCATTER_MAX), "max"));
    EXPECT(VKDL_RESIZE_CUBIC == 2 && VKDL_COORD_TF_HALF_PIXEL_FOR_NN == 4 && VKDL_NEAREST_CEIL == 3 &&
           VKDL_STRUCTURE_TYPE_POOL2D_EXT_INFO == 1);
    EXPECT(!strcmp(vkdl_resize_coord_name(VKDL_COORD_PYTORCH_HALF_PIXEL), "pytorch_half_pixel"));
}

static void run_version(void *arg)
{
    (void)arg;
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", VKDL_VERSION_MAJOR, VKDL_VERSION_MINOR, VKDL_VERSION_PATCH);
    EXPECT(vkdl_version() == VKDL_MAKE_VERSION(VKDL_VERSION_MAJOR, VKDL_VERSION_MINOR, VKDL_VERSION_PATCH));
    EXPECT(vkdl_version() == VKDL_VERSION);
    EXPECT(!strcmp(vkdl_version_string(), want) && !strcmp(vkdl_version_string(), VKDL_VERSION_STRING));
    EXPECT(VKDL_MAKE_VERSION(0, 1, 0) < VKDL_MAKE_VERSION(0, 1, 1));
    EXPECT(VKDL_MAKE_VERSION(0, 9, 9) < VKDL_MAKE_VERSION(1, 0, 0));
}

/* Every entry point that takes an *_info struct refuses an extension chain it does not know, before
 * doing anything; NULL next (a zero-initialised struct) keeps working. */
static void run_next_chain(void *arg)
{
    (void)arg;
    const vkdl_base_struct ext = {.type = (vkdl_structure_type)42};
    const char *want = "unknown extension struct type 42";
    vkdl_context *ctx;
    TH_STATUS(vkdl_context_create(&(vkdl_context_create_info){.next = &ext, .backend = VKDL_BACKEND_CPU}, &ctx),
              VKDL_ERROR_INVALID_ARGUMENT, "context_create: unknown extension struct type 42");
    int64_t s2[2] = {2, 2}, s4[4] = {1, 1, 2, 2}, s1 = 1, s3[3] = {1, 1, 2};
    for (int g = 0; g < 2; g++) {
        th_pair a = th_rand(VKDL_F32, 2, s2, -1, 1), b = th_rand(VKDL_F32, 2, s2, -1, 1), o = th_empty(VKDL_F32, 2, s2);
        th_pair x = th_rand(VKDL_F32, 4, s4, -1, 1), y = th_empty(VKDL_F32, 4, s4), l = th_empty(VKDL_F32, 1, &s1);
        th_pair t = th_from(VKDL_I32, 1, &s1, &(int32_t){1}, VKDL_I32), lse = th_empty(VKDL_F32, 3, s3);
        vkdl_tensor *A = g ? a.gpu : a.cpu, *B = g ? b.gpu : b.cpu, *O = g ? o.gpu : o.cpu, *X = g ? x.gpu : x.cpu;
        vkdl_tensor *Y = g ? y.gpu : y.cpu, *L = g ? l.gpu : l.cpu, *T = g ? t.gpu : t.cpu, *S = g ? lse.gpu : lse.cpu;
        vkdl_tensor *row;
        TH_OK(vkdl_tensor_slice(A, 0, 1, &row));
        TH_STATUS(vkdl_matmul(A, B, O, &(vkdl_matmul_info){.next = &ext, .alpha = 1}), VKDL_ERROR_INVALID_ARGUMENT, want);
        TH_STATUS(vkdl_conv2d(X, X, NULL, Y, &(vkdl_conv2d_info){.next = &ext}), VKDL_ERROR_INVALID_ARGUMENT, want);
        TH_STATUS(vkdl_avgpool2d(X, Y, &(vkdl_pool2d_info){.next = &ext, .kernel = {1, 1}}), VKDL_ERROR_INVALID_ARGUMENT,
                  want);
        TH_STATUS(vkdl_attention(X, X, X, Y, S, &(vkdl_attention_info){.next = &ext}), VKDL_ERROR_INVALID_ARGUMENT, want);
        TH_STATUS(vkdl_cross_entropy(row, T, L, &(vkdl_cross_entropy_info){.next = &ext}), VKDL_ERROR_INVALID_ARGUMENT,
                  want);
        TH_STATUS(vkdl_optim_step(&(vkdl_optim_info){.next = &ext, .lr = 1}, A, B, NULL, NULL),
                  VKDL_ERROR_INVALID_ARGUMENT, want);
        TH_STATUS(vkdl_view_copy(A, O, &(vkdl_view_info){.next = &ext}), VKDL_ERROR_INVALID_ARGUMENT, want);
        /* The same calls with next NULL succeed. */
        TH_OK(vkdl_matmul(A, B, O, &(vkdl_matmul_info){.alpha = 1}));
        TH_OK(vkdl_avgpool2d(X, Y, &(vkdl_pool2d_info){.kernel = {1, 1}}));
        TH_OK(vkdl_cross_entropy(row, T, L, &(vkdl_cross_entropy_info){0}));
        TH_OK(vkdl_view_copy(A, O, &(vkdl_view_info){0}));
        vkdl_tensor_destroy(row);
        th_pair *all[] = {&a, &b, &o, &x, &y, &l, &t, &lse};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++)
            th_free(all[i]);
    }
    vkdl_module *m = NULL;
    TH_STATUS(vkdl_maxpool2d_create(th_cpu, &(vkdl_pool2d_info){.next = &ext, .kernel = {2, 2}}, &m),
              VKDL_ERROR_INVALID_ARGUMENT, want);
    TH_STATUS(vkdl_conv2d_create(th_cpu, 1, 1, 1, &(vkdl_conv2d_info){.next = &ext}, 1, &m), VKDL_ERROR_INVALID_ARGUMENT,
              want);
    TH_OK(vkdl_linear_create(th_cpu, 2, 2, 1, &m));
    vkdl_optim *opt = NULL;
    TH_STATUS(vkdl_optim_create(m, &(vkdl_optim_create_info){.next = &ext, .hyper = {.lr = 1}}, &opt),
              VKDL_ERROR_INVALID_ARGUMENT, want);
    TH_STATUS(vkdl_optim_create(m, &(vkdl_optim_create_info){.hyper = {.next = &ext, .lr = 1}}, &opt),
              VKDL_ERROR_INVALID_ARGUMENT, want);
    TH_OK(vkdl_optim_create(m, &(vkdl_optim_create_info){.hyper = {.lr = 1}}, &opt));
    vkdl_optim_destroy(opt);
    vkdl_module_destroy(m);
}

typedef struct captured {
    int count;
    vkdl_log_level level;
    char first[256];
} captured;

static void capture(vkdl_log_level level, const char *message, void *user)
{
    captured *c = user;
    if (c->count++ == 0) {
        c->level = level;
        snprintf(c->first, sizeof c->first, "%s", message);
    }
}

/* One relu on a profiling context, then sync: the report (or, on a device without timestamps, the
 * warning that it cannot profile) is logged. */
static void profiled_dispatch(vkdl_context *ctx)
{
    int64_t n = 64;
    vkdl_tensor *t;
    TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, &n, &t));
    TH_OK(vkdl_tensor_fill(t, 1.0));
    TH_OK(vkdl_unary(VKDL_RELU, t, t));
    TH_OK(vkdl_sync(ctx));
    vkdl_tensor_destroy(t);
}

static bool is_profile_line(const char *s)
{
    return strstr(s, "vkdl profile: batch") || strstr(s, "has no compute timestamps");
}

static void run_log(void *arg)
{
    (void)arg;
    captured cap = {0};
    vkdl_set_log(capture, &cap);
    vkdl_context *ctx;
    vkdl_context_create_info ci = {.flags = VKDL_CONTEXT_PROFILE | VKDL_CONTEXT_VALIDATE};
    if (!TH_OK(vkdl_context_create(&ci, &ctx))) {
        vkdl_set_log(NULL, NULL);
        return;
    }
    profiled_dispatch(ctx);
    vkdl_set_log(NULL, NULL);
    if (!TH_TRUE(cap.count > 0 && is_profile_line(cap.first)))
        th_fail("    first message (%d in all): \"%s\"", cap.count, cap.first);
    EXPECT(cap.level == VKDL_LOG_INFO || cap.level == VKDL_LOG_WARNING);

    /* With the default restored the same lines go to stderr, and the callback hears nothing. */
    int count = cap.count;
    FILE *tmp = tmpfile();
    int saved = dup(2);
    if (!TH_TRUE(tmp && saved >= 0)) {
        vkdl_context_destroy(ctx);
        return;
    }
    fflush(stderr);
    dup2(fileno(tmp), 2);
    profiled_dispatch(ctx);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char text[4096] = {0};
    rewind(tmp);
    size_t got = fread(text, 1, sizeof text - 1, tmp);
    fclose(tmp);
    EXPECT(got > 0 && is_profile_line(text));
    EXPECT(cap.count == count);
    vkdl_context_destroy(ctx);
}

static bool info_filled(const vkdl_device_info *d)
{
    return d->name[0] && d->driver_name[0] && d->api_version && d->subgroup_size && d->device_local_bytes &&
           d->type <= VKDL_DEVICE_TYPE_CPU && !d->next;
}

static void run_devices(void *arg)
{
    (void)arg;
    int n = 0;
    TH_OK(vkdl_device_count(&n));
    EXPECT(n >= 1);
    vkdl_device_info ctx_info = {0}, info;
    TH_OK(vkdl_context_device_info(th_gpu, &ctx_info));
    EXPECT(info_filled(&ctx_info) && !strcmp(ctx_info.name, vkdl_context_device_name(th_gpu)));
    bool found = false;
    for (int i = 0; i < n; i++) {
        info = (vkdl_device_info){0};
        if (!TH_OK(vkdl_device_get_info(i, &info)))
            continue;
        if (!TH_TRUE(info_filled(&info)))
            th_fail("    device %d: \"%s\" driver \"%s\" api 0x%x subgroup %u memory %llu", i, info.name,
                    info.driver_name, info.api_version, info.subgroup_size, (unsigned long long)info.device_local_bytes);
        found = found || (!strcmp(info.name, ctx_info.name) && info.type == ctx_info.type &&
                          info.vendor_id == ctx_info.vendor_id && info.device_id == ctx_info.device_id);
    }
    EXPECT(found);
    info = (vkdl_device_info){0};
    TH_STATUS(vkdl_device_get_info(n, &info), VKDL_ERROR_INVALID_ARGUMENT, "out of range");
    TH_STATUS(vkdl_device_get_info(-1, &info), VKDL_ERROR_INVALID_ARGUMENT, "device index -1 out of range");
    TH_STATUS(vkdl_device_get_info(0, NULL), VKDL_ERROR_INVALID_ARGUMENT, "out is NULL");
    TH_STATUS(vkdl_device_count(NULL), VKDL_ERROR_INVALID_ARGUMENT, "count is NULL");
    const vkdl_base_struct ext = {.type = (vkdl_structure_type)7};
    info.next = &ext;
    TH_STATUS(vkdl_device_get_info(0, &info), VKDL_ERROR_INVALID_ARGUMENT, "unknown extension struct type 7");
    TH_STATUS(vkdl_context_device_info(th_gpu, &info), VKDL_ERROR_INVALID_ARGUMENT, "unknown extension struct type 7");
    info = (vkdl_device_info){0};
    TH_OK(vkdl_context_device_info(th_cpu, &info));
    EXPECT(!strcmp(info.name, "cpu") && info.type == VKDL_DEVICE_TYPE_CPU);
    printf("    %d device(s); this one: %s, %s %s, %u MiB device-local, subgroup %u, features 0x%x\n", n,
           ctx_info.name, ctx_info.driver_name, ctx_info.driver_info, (unsigned)(ctx_info.device_local_bytes >> 20),
           ctx_info.subgroup_size, ctx_info.features);
}

/* i64 host data into and out of i32, u8 and f32 tensors, on both backends. */
static void run_i64(void *arg)
{
    (void)arg;
    int64_t n = 6;
    const int64_t in[6] = {0, -1, 7, INT32_MAX, INT32_MIN, 123456789};
    for (int g = 0; g < 2; g++) {
        vkdl_context *ctx = g ? th_gpu : th_cpu;
        vkdl_tensor *t, *f, *u, *bad = NULL;
        TH_OK(vkdl_tensor_create(ctx, VKDL_I32, 1, &n, &t));
        TH_OK(vkdl_tensor_create(ctx, VKDL_F32, 1, &n, &f));
        TH_OK(vkdl_tensor_create(ctx, VKDL_U8, 1, &n, &u));
        TH_STATUS(vkdl_tensor_create(ctx, VKDL_I64, 1, &n, &bad), VKDL_ERROR_DTYPE_MISMATCH, "i64 is a host-only dtype");
        EXPECT(bad == NULL);
        TH_OK(vkdl_tensor_upload(t, in, VKDL_I64, sizeof in));
        int32_t got32[6];
        int64_t got64[6];
        TH_OK(vkdl_tensor_download(t, got32, VKDL_I32, sizeof got32));
        TH_OK(vkdl_tensor_download(t, got64, VKDL_I64, sizeof got64));
        for (int i = 0; i < 6; i++)
            if (got32[i] != in[i] || got64[i] != in[i])
                th_fail("element %d: uploaded %lld, read back %d as i32 and %lld as i64", i, (long long)in[i],
                        (int)got32[i], (long long)got64[i]);
        /* One element outside int32 fails the whole upload and leaves the tensor as it was. */
        const int64_t over[6] = {1, 2, 3, (int64_t)INT32_MAX + 1, -5000000000LL, 6};
        TH_STATUS(vkdl_tensor_upload(t, over, VKDL_I64, sizeof over), VKDL_ERROR_OUT_OF_RANGE,
                  "i64 element 3 is 2147483648, outside i32");
        TH_OK(vkdl_tensor_download(t, got64, VKDL_I64, sizeof got64));
        EXPECT(!memcmp(got64, in, sizeof in));
        TH_STATUS(vkdl_tensor_upload(u, in, VKDL_I64, sizeof in), VKDL_ERROR_OUT_OF_RANGE, "i64 element 1 is -1");
        TH_STATUS(vkdl_tensor_upload(t, in, VKDL_I64, sizeof in - 8), VKDL_ERROR_INVALID_ARGUMENT, "needs 48");
        /* Into a float tensor: rounded like NumPy; back to i64 truncated. */
        TH_OK(vkdl_tensor_upload(f, in, VKDL_I64, sizeof in));
        float gotf[6];
        TH_OK(vkdl_tensor_download(f, gotf, VKDL_F32, sizeof gotf));
        TH_OK(vkdl_tensor_download(f, got64, VKDL_I64, sizeof got64));
        for (int i = 0; i < 6; i++)
            if (gotf[i] != (float)in[i] || got64[i] != (int64_t)(float)in[i])
                th_fail("f32 element %d: uploaded %lld, read back %g and %lld", i, (long long)in[i], (double)gotf[i],
                        (long long)got64[i]);
        const float special[6] = {NAN, INFINITY, -INFINITY, -2.75f, 1e30f, 0.5f};
        const int64_t want[6] = {0, INT64_MAX, INT64_MIN, -2, INT64_MAX, 0};
        TH_OK(vkdl_tensor_upload(f, special, VKDL_F32, sizeof special));
        TH_OK(vkdl_tensor_download(f, got64, VKDL_I64, sizeof got64));
        EXPECT(!memcmp(got64, want, sizeof want));
        EXPECT(vkdl_dtype_size(VKDL_I64) == 8 && !strcmp(vkdl_dtype_name(VKDL_I64), "i64"));
        vkdl_tensor_destroy(t);
        vkdl_tensor_destroy(f);
        vkdl_tensor_destroy(u);
    }
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    th_run("api/enum-names", run_enum_names, NULL);
    th_run("api/version", run_version, NULL);
    th_run("api/next-chain", run_next_chain, NULL);
    th_run("api/log", run_log, NULL);
    th_run("api/devices", run_devices, NULL);
    th_run("api/i64", run_i64, NULL);
    return th_finish();
}
