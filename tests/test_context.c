/* The small public helpers of the context and the runtime: status strings, dtype names and sizes, device
 * listing, sync, NULL handling, and ops across contexts. lib/runtime/context.c, error.c, device.c */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void run_misc(void *arg)
{
    (void)arg;
    const vkdl_status last = VKDL_ERROR_CONTEXT_MISMATCH;
    for (int s = 0; s <= (int)last; s++) {
        const char *a = vkdl_status_string((vkdl_status)s);
        if (!a || !*a || strcmp(a, vkdl_status_string((vkdl_status)999)) == 0)
            th_fail("status %d has no string", s);
        for (int t = 0; t < s; t++)
            if (a && strcmp(a, vkdl_status_string((vkdl_status)t)) == 0)
                th_fail("statuses %d and %d share the string \"%s\"", t, s, a);
    }
    TH_TRUE(vkdl_status_string((vkdl_status)-1) != NULL);
    TH_TRUE(strcmp(vkdl_status_string(VKDL_OK), "ok") == 0);

    static const char *names[] = {"f32", "f16", "bf16", "i32", "u8"};
    static const size_t sizes[] = {4, 2, 2, 4, 1};
    for (int d = 0; d < 5; d++) {
        TH_TRUE(strcmp(vkdl_dtype_name(TH_ALL_DTYPES[d]), names[d]) == 0);
        TH_TRUE(vkdl_dtype_size(TH_ALL_DTYPES[d]) == sizes[d]);
    }
    TH_TRUE(vkdl_dtype_size((vkdl_dtype)13) == 0 && vkdl_dtype_size((vkdl_dtype)-1) == 0);
    TH_TRUE(vkdl_dtype_name((vkdl_dtype)13) != NULL && vkdl_dtype_name((vkdl_dtype)-1) != NULL);

    FILE *f = tmpfile();
    if (TH_TRUE(f != NULL)) {
        TH_OK(vkdl_devices_print(f, NULL));
        long len = ftell(f);
        char *buf = calloc((size_t)(len > 0 ? len : 0) + 1, 1);
        rewind(f);
        size_t n = len > 0 ? fread(buf, 1, (size_t)len, f) : 0;
        buf[n] = 0;
        TH_TRUE(strstr(buf, "chosen") != NULL);
        TH_TRUE(strstr(buf, vkdl_context_device_name(th_gpu)) != NULL);
        free(buf);
        rewind(f);
        TH_STATUS(vkdl_devices_print(f, "no-such-device-xyz"), VKDL_ERROR_NO_DEVICE, "no-such-device-xyz");
        fclose(f);
    }
    TH_STATUS(vkdl_devices_print(NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT, NULL);

    TH_STATUS(vkdl_sync(NULL), VKDL_ERROR_INVALID_ARGUMENT, NULL);
    TH_OK(vkdl_sync(th_cpu));
    TH_OK(vkdl_sync(th_gpu));
    TH_TRUE(vkdl_context_backend(th_cpu) == VKDL_BACKEND_CPU && vkdl_context_backend(th_gpu) == VKDL_BACKEND_VULKAN);
    TH_TRUE(strcmp(vkdl_context_device_name(th_cpu), "cpu") == 0 && *vkdl_context_device_name(th_gpu));
    TH_TRUE(vkdl_context_validation_messages(th_cpu) == 0 && vkdl_context_validation_messages(NULL) == 0);
    vkdl_context_memory(NULL, NULL, NULL);
    vkdl_context_reset_peak(NULL);
    TH_TRUE(vkdl_tensor_numel(NULL) == 0 && vkdl_tensor_ndim(NULL) == 0 && vkdl_tensor_dim(NULL, 0) == 0 &&
            vkdl_tensor_context(NULL) == NULL);

    /* ops on tensors of different contexts */
    vkdl_context *g2 = th_ctx_new(VKDL_BACKEND_VULKAN, 0, NULL);
    int64_t n = 8;
    vkdl_tensor *c1 = th_mk1(th_cpu, VKDL_F32, n), *v1 = th_mk1(th_gpu, VKDL_F32, n),
                *v2 = g2 ? th_mk1(g2, VKDL_F32, n) : NULL;
    TH_OK(vkdl_tensor_fill(c1, 1));
    TH_OK(vkdl_tensor_fill(v1, 1));
    TH_TRUE(vkdl_tensor_context(c1) == th_cpu && vkdl_tensor_context(v1) == th_gpu);
    TH_STATUS(vkdl_unary(VKDL_RELU, v1, c1), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    TH_STATUS(vkdl_scale(c1, 1, 0, v1), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    TH_STATUS(vkdl_binary(VKDL_ADD, v1, c1, v1), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    TH_STATUS(vkdl_binary(VKDL_ADD, c1, v1, v1), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    if (v2) {
        TH_OK(vkdl_tensor_fill(v2, 2));
        TH_STATUS(vkdl_binary(VKDL_MUL, v1, v1, v2), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
        TH_STATUS(vkdl_unary(VKDL_RELU, v2, v1), VKDL_ERROR_CONTEXT_MISMATCH, NULL);
    }
    float back[8];
    TH_OK(vkdl_tensor_download(v1, back, VKDL_F32, sizeof back));
    TH_TRUE(back[0] == 1 && back[7] == 1); /* untouched by the failed ops */
    vkdl_tensor_destroy(c1);
    vkdl_tensor_destroy(v1);
    vkdl_tensor_destroy(v2);
    th_ctx_done(g2);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    th_run("runtime/misc", run_misc, NULL);
    return th_finish();
}
