/* Tensors: creation and its failures, host conversions, views, fill. lib/runtime/tensor.c, shape.c */
#include "harness.h"
#include "runtime_checks.h"

#include <stdlib.h>
#include <string.h>

/* A create that must fail with status (message containing needle) and leave t NULL and the
 * context's current and peak memory as they were. */
#define BAD_CREATE(expr, status, needle)                                                                    \
    do {                                                                                                    \
        t = (vkdl_tensor *)&t;                                                                              \
        TH_STATUS(expr, status, needle);                                                                    \
        if (t != NULL && t != (vkdl_tensor *)&t)                                                            \
            th_fail("%s:%d: a failed create returned a tensor", __FILE__, __LINE__);                        \
        vkdl_context_memory(c, &cur, &peak);                                                                \
        if (cur != cur0 || peak != peak0)                                                                   \
            th_fail("%s:%d: %s: memory changed by a failed create: current %zu -> %zu, peak %zu -> %zu",    \
                    __FILE__, __LINE__, vkdl_context_device_name(c), cur0, cur, peak0, peak);               \
    } while (0)

static void check_bad_create(vkdl_context *c)
{
    int64_t s2[2] = {3, 4};
    vkdl_tensor *t;
    size_t cur0, peak0, cur, peak;
    vkdl_context_memory(c, &cur0, &peak0);

    BAD_CREATE(vkdl_tensor_create(NULL, VKDL_F32, 2, s2, &t), VKDL_ERROR_INVALID_ARGUMENT, "context is NULL");
    TH_TRUE(t == NULL); /* *out is cleared even before the context is checked */
    BAD_CREATE(vkdl_tensor_create(c, VKDL_F32, 2, s2, NULL), VKDL_ERROR_INVALID_ARGUMENT, "out is NULL");
    BAD_CREATE(vkdl_tensor_create(c, VKDL_F32, 2, NULL, &t), VKDL_ERROR_INVALID_ARGUMENT, "shape is NULL");
    BAD_CREATE(vkdl_tensor_create(c, VKDL_F32, -1, s2, &t), VKDL_ERROR_INVALID_ARGUMENT, "ndim -1");
    int64_t s9[VKDL_MAX_DIMS + 1];
    for (int i = 0; i < VKDL_MAX_DIMS + 1; i++)
        s9[i] = 1;
    BAD_CREATE(vkdl_tensor_create(c, VKDL_F32, VKDL_MAX_DIMS + 1, s9, &t), VKDL_ERROR_INVALID_ARGUMENT, "ndim 9");
    BAD_CREATE(vkdl_tensor_create(c, (vkdl_dtype)99, 2, s2, &t), VKDL_ERROR_INVALID_ARGUMENT, "invalid dtype");
    BAD_CREATE(vkdl_tensor_create(c, VKDL_F64, 2, s2, &t), VKDL_ERROR_DTYPE_MISMATCH, "f64 is a host-only dtype");
    BAD_CREATE(vkdl_tensor_create(c, VKDL_BOOL, 2, s2, &t), VKDL_ERROR_DTYPE_MISMATCH, "create a u8 tensor");
    BAD_CREATE(vkdl_tensor_create(c, (vkdl_dtype)-1, 2, s2, &t), VKDL_ERROR_INVALID_ARGUMENT, "invalid dtype");
    int64_t neg[3] = {2, -3, 4};
    BAD_CREATE(vkdl_tensor_create(c, VKDL_F32, 3, neg, &t), VKDL_ERROR_INVALID_ARGUMENT, "negative");
    int64_t ovf[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
    BAD_CREATE(vkdl_tensor_create(c, VKDL_F32, 2, ovf, &t), VKDL_ERROR_SIZE_OVERFLOW, NULL);
    int64_t ovf3[3] = {(int64_t)1 << 30, (int64_t)1 << 30, (int64_t)1 << 30};
    BAD_CREATE(vkdl_tensor_create(c, VKDL_U8, 3, ovf3, &t), VKDL_ERROR_SIZE_OVERFLOW, NULL);
    /* 2^62 elements are countable, but not their bytes */
    int64_t ovfb[2] = {(int64_t)1 << 31, (int64_t)1 << 31};
    BAD_CREATE(vkdl_tensor_create(c, VKDL_F32, 2, ovfb, &t), VKDL_ERROR_SIZE_OVERFLOW, "byte size");
    TH_TRUE(t == NULL);
}

static void run_create(void *arg)
{
    vkdl_context *c = *(vkdl_context **)arg;
    check_bad_create(c);
    th_check_zero_size(c);
    vkdl_tensor_destroy(NULL);
    vkdl_context_destroy(NULL);
}

/* Countable but too large for the device: TOO_LARGE or OUT_OF_DEVICE_MEMORY naming the bytes. */
static void run_too_large(void *arg)
{
    (void)arg;
    size_t cur0, peak0, cur, peak;
    vkdl_context_memory(th_gpu, &cur0, &peak0);
    int64_t n = (int64_t)1 << 43; /* 2^45 bytes of f32 */
    vkdl_tensor *t = NULL;
    vkdl_status s = vkdl_tensor_create(th_gpu, VKDL_F32, 1, &n, &t);
    if (s != VKDL_ERROR_TOO_LARGE && s != VKDL_ERROR_OUT_OF_DEVICE_MEMORY)
        th_fail("2^45 bytes: %s: %s", vkdl_status_string(s), vkdl_last_error());
    else if (!strstr(vkdl_last_error(), "bytes"))
        th_fail("2^45 bytes: message \"%s\" lacks \"bytes\"", vkdl_last_error());
    TH_TRUE(t == NULL);
    vkdl_tensor_destroy(t);
    vkdl_context_memory(th_gpu, &cur, &peak);
    if (cur != cur0 || peak != peak0)
        th_fail("memory changed by a failed create: current %zu -> %zu, peak %zu -> %zu", cur0, cur, peak0, peak);
    /* the context still works */
    th_graph_matches_cpu(th_gpu, "after a failed create");
}

static void run_conversions(void *arg) { th_check_conversions(*(vkdl_context **)arg); }

static void check_reshape_slice(vkdl_context *c)
{
    int64_t s[2] = {4, 6};
    vkdl_tensor *t = th_mk(c, VKDL_F32, 2, s), *v = NULL;
    float data[24], back[24];
    for (int i = 0; i < 24; i++)
        data[i] = (float)i;
    TH_OK(vkdl_tensor_upload(t, data, VKDL_F32, sizeof data));

    TH_OK(vkdl_tensor_reshape(t, 2, (int64_t[]){-1, 3}, &v));
    if (v) {
        TH_TRUE(vkdl_tensor_ndim(v) == 2 && vkdl_tensor_dim(v, 0) == 8 && vkdl_tensor_dim(v, -1) == 3);
        TH_TRUE(vkdl_tensor_dim(v, 2) == 0 && vkdl_tensor_dim(v, -3) == 0);
        TH_OK(vkdl_tensor_download(v, back, VKDL_F32, sizeof back));
        TH_TRUE(memcmp(back, data, sizeof data) == 0);
    }
    vkdl_tensor_destroy(v);
    TH_OK(vkdl_tensor_reshape(t, 4, (int64_t[]){2, 1, -1, 4}, &v));
    TH_TRUE(vkdl_tensor_dim(v, 2) == 3);
    vkdl_tensor_destroy(v);
    TH_STATUS(vkdl_tensor_reshape(t, 3, (int64_t[]){-1, 2, -1}, &v), VKDL_ERROR_INVALID_ARGUMENT, "-1");
    TH_TRUE(v == NULL);
    TH_STATUS(vkdl_tensor_reshape(t, 2, (int64_t[]){5, 5}, &v), VKDL_ERROR_SHAPE_MISMATCH, "4x6");
    TH_STATUS(vkdl_tensor_reshape(t, 2, (int64_t[]){-1, 5}, &v), VKDL_ERROR_SHAPE_MISMATCH, "4x6");
    TH_STATUS(vkdl_tensor_reshape(t, 2, (int64_t[]){-2, -12}, &v), VKDL_ERROR_INVALID_ARGUMENT, NULL);
    TH_STATUS(vkdl_tensor_reshape(t, 0, NULL, &v), VKDL_ERROR_SHAPE_MISMATCH, "4x6");
    TH_STATUS(vkdl_tensor_reshape(t, VKDL_MAX_DIMS + 1, s, &v), VKDL_ERROR_INVALID_ARGUMENT, NULL);
    TH_STATUS(vkdl_tensor_reshape(t, 2, NULL, &v), VKDL_ERROR_INVALID_ARGUMENT, NULL);
    TH_STATUS(vkdl_tensor_reshape(NULL, 1, s, &v), VKDL_ERROR_INVALID_ARGUMENT, NULL);
    TH_STATUS(vkdl_tensor_reshape(t, 1, s, NULL), VKDL_ERROR_INVALID_ARGUMENT, NULL);

    TH_OK(vkdl_tensor_slice(t, 1, 3, &v));
    if (v) {
        TH_TRUE(vkdl_tensor_dim(v, 0) == 2 && vkdl_tensor_dim(v, 1) == 6 && vkdl_tensor_numel(v) == 12);
        TH_OK(vkdl_tensor_download(v, back, VKDL_F32, 12 * 4));
        TH_TRUE(memcmp(back, data + 6, 12 * 4) == 0);
    }
    vkdl_tensor_destroy(v);
    TH_OK(vkdl_tensor_slice(t, 4, 4, &v));
    TH_TRUE(vkdl_tensor_numel(v) == 0);
    vkdl_tensor_destroy(v);
    TH_STATUS(vkdl_tensor_slice(t, 3, 2, &v), VKDL_ERROR_INVALID_ARGUMENT, "out of range");
    TH_STATUS(vkdl_tensor_slice(t, 0, 5, &v), VKDL_ERROR_INVALID_ARGUMENT, "4x6");
    TH_STATUS(vkdl_tensor_slice(t, -1, 2, &v), VKDL_ERROR_INVALID_ARGUMENT, "out of range");
    TH_STATUS(vkdl_tensor_slice(NULL, 0, 1, &v), VKDL_ERROR_INVALID_ARGUMENT, NULL);
    TH_STATUS(vkdl_tensor_slice(t, 0, 1, NULL), VKDL_ERROR_INVALID_ARGUMENT, NULL);
    vkdl_tensor *sc = th_mk(c, VKDL_F32, 0, NULL);
    TH_STATUS(vkdl_tensor_slice(sc, 0, 1, &v), VKDL_ERROR_INVALID_ARGUMENT, "scalar");
    TH_TRUE(v == NULL);
    /* a 1-element tensor reshapes to a scalar and back */
    vkdl_tensor *one = NULL, *sc2 = NULL;
    TH_OK(vkdl_tensor_reshape(sc, 3, (int64_t[]){1, 1, -1}, &one));
    TH_OK(vkdl_tensor_reshape(one, 0, NULL, &sc2));
    TH_TRUE(vkdl_tensor_ndim(sc2) == 0 && vkdl_tensor_numel(sc2) == 1);
    vkdl_tensor_destroy(sc2);
    vkdl_tensor_destroy(one);
    vkdl_tensor_destroy(sc);
    vkdl_tensor_destroy(t);
}

static void run_views(void *arg)
{
    vkdl_context *c = *(vkdl_context **)arg;
    check_reshape_slice(c);
    th_check_keep_alive(c);
    th_check_reuse_pending(c);
    th_check_view_fill(c);
}

static void run_fill(void *arg) { th_check_fill_all(*(vkdl_context **)arg); }

int main(int argc, char **argv)
{
    th_init(argc, argv);
    th_run("runtime/create/cpu", run_create, &th_cpu);
    th_run("runtime/create/vulkan", run_create, &th_gpu);
    th_run("runtime/create/too-large", run_too_large, NULL);
    th_run("runtime/conversions/cpu", run_conversions, &th_cpu);
    th_run("runtime/conversions/vulkan", run_conversions, &th_gpu);
    th_run("runtime/views/cpu", run_views, &th_cpu);
    th_run("runtime/views/vulkan", run_views, &th_gpu);
    th_run("runtime/fill/cpu", run_fill, &th_cpu);
    th_run("runtime/fill/vulkan", run_fill, &th_gpu);
    return th_finish();
}
