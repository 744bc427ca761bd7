/* Device selection by index, name and $VKDL_DEVICE; the environment switches VKDL_DISABLE, VKDL_LIMIT and
 * VKDL_SERIALIZE. lib/runtime/device.c */
#include "harness.h"
#include "runtime/runtime.h"

#include <string.h>

static vkdl_status try_device(const char *device, vkdl_context **out)
{
    vkdl_context_create_info ci = {.backend = VKDL_BACKEND_VULKAN, .device = device,
                                   .flags = VKDL_CONTEXT_VALIDATE | VKDL_CONTEXT_NO_DISK_CACHE};
    return vkdl_context_create(&ci, out);
}

static void run_device_select(void *arg)
{
    (void)arg;
    vkdl_context *c = (vkdl_context *)&c;
    TH_STATUS(try_device("no-such-device-xyz", &c), VKDL_ERROR_NO_DEVICE, "no-such-device-xyz");
    TH_TRUE(c == NULL);
    TH_STATUS(try_device("99", &c), VKDL_ERROR_NO_DEVICE, "out of range");
    TH_STATUS(try_device("-1", &c), VKDL_ERROR_NO_DEVICE, "out of range");
    TH_TRUE(c == NULL);
    if (TH_OK(try_device("0", &c))) {
        th_graph_matches_cpu(c, "device 0");
        th_ctx_done(c);
    }
    /* case-insensitive name substrings: four characters of the chosen device's name, and all of it */
    const char *name = vkdl_context_device_name(th_gpu);
    char lower[256] = {0}, sub[5] = {0};
    for (size_t i = 0; name[i] && i < sizeof lower - 1; i++)
        lower[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
    memcpy(sub, lower, 4);
    c = NULL;
    if (TH_OK(try_device(sub, &c))) {
        char got[256] = {0};
        const char *gn = vkdl_context_device_name(c);
        for (size_t i = 0; gn[i] && i < sizeof got - 1; i++)
            got[i] = (char)(gn[i] >= 'A' && gn[i] <= 'Z' ? gn[i] - 'A' + 'a' : gn[i]);
        if (!strstr(got, sub))
            th_fail("\"%s\" chose %s", sub, gn);
        th_ctx_done(c);
    }
    c = NULL;
    if (TH_OK(try_device(lower, &c))) {
        if (strcmp(vkdl_context_device_name(c), name) != 0)
            th_fail("\"%s\" chose %s, not %s", lower, vkdl_context_device_name(c), name);
        th_ctx_done(c);
    }
    /* $VKDL_DEVICE when info->device is NULL; info->device wins over it */
    char *saved = th_env_set("VKDL_DEVICE", "no-such-device-xyz");
    c = NULL;
    TH_STATUS(try_device(NULL, &c), VKDL_ERROR_NO_DEVICE, "no-such-device-xyz");
    if (TH_OK(try_device(lower, &c)))
        th_ctx_done(c);
    th_env_restore("VKDL_DEVICE", saved);

    vkdl_context_create_info bad = {.backend = (vkdl_backend)7};
    c = (vkdl_context *)&c;
    TH_STATUS(vkdl_context_create(&bad, &c), VKDL_ERROR_INVALID_ARGUMENT, "backend");
    TH_TRUE(c == NULL);
    bad.backend = (vkdl_backend)-1;
    TH_STATUS(vkdl_context_create(&bad, &c), VKDL_ERROR_INVALID_ARGUMENT, "backend");
    TH_STATUS(vkdl_context_create(NULL, NULL), VKDL_ERROR_INVALID_ARGUMENT, "out");
    /* the CPU backend ignores the device */
    vkdl_context_create_info cpu = {.backend = VKDL_BACKEND_CPU, .device = "no-such-device-xyz"};
    if (TH_OK(vkdl_context_create(&cpu, &c))) {
        TH_TRUE(strcmp(vkdl_context_device_name(c), "cpu") == 0);
        th_ctx_done(c);
    }
}

static vkdl_status ctx_with(const char *name, const char *value, vkdl_context **out)
{
    char *saved = th_env_set(name, value);
    vkdl_context_create_info ci = {.backend = VKDL_BACKEND_VULKAN, .flags = VKDL_CONTEXT_VALIDATE |
                                                                             VKDL_CONTEXT_NO_DISK_CACHE};
    *out = NULL;
    vkdl_status s = vkdl_context_create(&ci, out);
    th_env_restore(name, saved);
    return s;
}

/* A context made with the switch works: a scale and a sum over 100000 elements match the host. */
static void check_switched(const char *name, const char *value)
{
    vkdl_context *c;
    if (!TH_OK(ctx_with(name, value, &c)))
        return;
    const int64_t n = 100000;
    vkdl_tensor *x = th_mk1(c, VKDL_F32, n), *y = th_mk1(c, VKDL_F32, n), *s = th_mk(c, VKDL_F32, 0, &n);
    float got = 0;
    TH_OK(vkdl_tensor_fill(x, 0.5));
    TH_OK(vkdl_scale(x, 2, 1, y));
    TH_OK(vkdl_reduce(VKDL_SUM, y, -1, s));
    TH_OK(vkdl_tensor_download(s, &got, VKDL_F32, sizeof got));
    if (got != 200000.0f)
        th_fail("%s=%s: sum %g, expected 200000", name, value, got);
    vkdl_tensor_destroy(x);
    vkdl_tensor_destroy(y);
    vkdl_tensor_destroy(s);
    th_ctx_done(c);
}

/* VKDL_DISABLE, VKDL_LIMIT and VKDL_SERIALIZE reach the caps (only ever lowering them), and a bad
 * word fails context creation naming it and the valid ones. */
static void run_env_switches(void *arg)
{
    (void)arg;
    const vkdl_caps *dev = &th_gpu->dev.caps;
    vkdl_context *c;
    if (TH_OK(ctx_with("VKDL_DISABLE", "subgroup,f16,push_descriptor,cpu_quirk,timestamps,loop_limit,coopmat", &c))) {
        const vkdl_caps *k = &c->dev.caps;
        TH_TRUE(k->subgroup_ops == 0 && !k->fp16 && !k->f16_texel && !k->storage16 && !k->push_descriptor);
        TH_TRUE(!k->timestamps && (k->quirks & VKDL_QUIRK_NO_TIMESTAMPS) && !k->coopmat && k->n_coopmat == 0);
        TH_TRUE(!(k->quirks & (VKDL_QUIRK_CPU_FRIENDLY_KERNELS | VKDL_QUIRK_LOOP_LIMIT)) && !k->max_loop_iterations);
        th_ctx_done(c);
    }
    if (TH_OK(ctx_with("VKDL_DISABLE_PUSH_DESCRIPTOR", "1", &c))) {
        TH_TRUE(!c->dev.caps.push_descriptor && c->dev.caps.subgroup_ops == dev->subgroup_ops);
        th_ctx_done(c);
    }
    if (TH_OK(ctx_with("VKDL_LIMIT", "shared=1024,invocations=64,push=96,storage_range=65536,texel=0", &c))) {
        const vkdl_caps *k = &c->dev.caps;
        TH_TRUE(k->max_shared == 1024 && k->max_wg_invocations == 64 && k->max_push_constants == 96);
        TH_TRUE(k->max_storage_range == 65536 && k->max_texel_elements == 0 && k->max_wg_size[0] <= 64);
        th_ctx_done(c);
    }
    if (TH_OK(ctx_with("VKDL_LIMIT", "shared=18446744073709551615", &c))) {
        TH_TRUE(c->dev.caps.max_shared == dev->max_shared); /* never raised */
        th_ctx_done(c);
    }
    TH_STATUS(ctx_with("VKDL_DISABLE", "subgroup,fp16", &c), VKDL_ERROR_INVALID_ARGUMENT, "\"fp16\"");
    TH_TRUE(c == NULL && strstr(vkdl_last_error(), "subgroup, f16, push_descriptor") != NULL);
    TH_STATUS(ctx_with("VKDL_DISABLE", "matmul_nope", &c), VKDL_ERROR_INVALID_ARGUMENT, "or a kernel variant");
    /* A kernel variant turned off: an op with no other kernel for the case says so. */
    if (TH_OK(ctx_with("VKDL_DISABLE", "softmax,softmax_sg", &c))) {
        vkdl_tensor *x = th_mk1(c, VKDL_F32, 10), *y = th_mk1(c, VKDL_F32, 10);
        TH_OK(vkdl_tensor_fill(x, 1.0));
        TH_STATUS(vkdl_softmax(x, y), VKDL_ERROR_UNSUPPORTED, "turned off by VKDL_DISABLE");
        vkdl_tensor_destroy(x);
        vkdl_tensor_destroy(y);
        th_ctx_done(c);
    }
    TH_STATUS(ctx_with("VKDL_LIMIT", "subgroup=8", &c), VKDL_ERROR_INVALID_ARGUMENT, "\"subgroup\"");
    TH_STATUS(ctx_with("VKDL_LIMIT", "shared", &c), VKDL_ERROR_INVALID_ARGUMENT, "<name>=<decimal value>");
    TH_STATUS(ctx_with("VKDL_LIMIT", "shared=1k", &c), VKDL_ERROR_INVALID_ARGUMENT, "<name>=<decimal value>");
    TH_STATUS(ctx_with("VKDL_LIMIT", "shared=-1", &c), VKDL_ERROR_INVALID_ARGUMENT, "<name>=<decimal value>");
    TH_TRUE(c == NULL);
    check_switched("VKDL_SERIALIZE", "1");
    check_switched("VKDL_DISABLE", "subgroup,cpu_quirk,push_descriptor");
    check_switched("VKDL_LIMIT", "invocations=64,shared=4096");
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    th_run("runtime/device-select", run_device_select, NULL);
    th_run("runtime/env-switches", run_env_switches, NULL);
    return th_finish();
}
