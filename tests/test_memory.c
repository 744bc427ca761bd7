/* Device memory: the memory limit, and reuse under churn and of dedicated blocks. lib/runtime/memory.c */
#include "harness.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static size_t mem_peak(const vkdl_context *c)
{
    size_t peak;
    vkdl_context_memory(c, NULL, &peak);
    return peak;
}

static void run_memory_limit(void *arg)
{
    vkdl_backend b = *(vkdl_backend *)arg;
    char *saved = th_env_set("VKDL_MEMORY_LIMIT", "1000000");
    vkdl_context *c = th_ctx_new(b, 0, NULL);
    th_env_restore("VKDL_MEMORY_LIMIT", saved);
    if (!c)
        return;
    enum { CHUNK = 25000, MAXT = 100 }; /* 100,000 bytes of f32 each */
    vkdl_tensor *ts[MAXT] = {0};
    int n = 0;
    vkdl_status s = VKDL_OK;
    while (n < MAXT) {
        vkdl_tensor *t = (vkdl_tensor *)&s;
        s = vkdl_tensor_create(c, VKDL_F32, 1, (int64_t[]){CHUNK}, &t);
        if (s != VKDL_OK) {
            TH_TRUE(t == NULL);
            break;
        }
        ts[n++] = t;
    }
    if (s != VKDL_ERROR_OUT_OF_DEVICE_MEMORY)
        th_fail("after %d tensors: %s: %s", n, vkdl_status_string(s), vkdl_last_error());
    else if (!strstr(vkdl_last_error(), "memory limit") || !strstr(vkdl_last_error(), "bytes"))
        th_fail("unclear message: \"%s\"", vkdl_last_error());
    TH_TRUE(n == 10);
    size_t cur, peak;
    vkdl_context_memory(c, &cur, &peak);
    TH_TRUE(cur == (size_t)n * CHUNK * 4);
    /* a single tensor past the limit fails the same way */
    vkdl_tensor *big = NULL;
    TH_STATUS(vkdl_tensor_create(c, VKDL_U8, 1, (int64_t[]){2000000}, &big), VKDL_ERROR_OUT_OF_DEVICE_MEMORY,
              "memory limit");
    /* every tensor made before the failure still works */
    float *buf = malloc(CHUNK * sizeof *buf), *back = malloc(CHUNK * sizeof *back);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < CHUNK; j++)
            buf[j] = (float)(i * 100000 + j);
        TH_OK(vkdl_tensor_upload(ts[i], buf, VKDL_F32, CHUNK * 4));
    }
    for (int i = 0; i < n; i++) {
        memset(back, 0, CHUNK * sizeof *back);
        TH_OK(vkdl_tensor_download(ts[i], back, VKDL_F32, CHUNK * 4));
        for (int j = 0; j < CHUNK; j++)
            if (back[j] != (float)(i * 100000 + j)) {
                th_fail("tensor %d [%d]: %g", i, j, back[j]);
                break;
            }
    }
    /* freeing one makes room for one */
    if (n > 0) {
        vkdl_tensor_destroy(ts[n - 1]);
        ts[n - 1] = NULL;
        TH_OK(vkdl_tensor_create(c, VKDL_F32, 1, (int64_t[]){CHUNK}, &ts[n - 1]));
    }
    for (int i = 0; i < n; i++)
        vkdl_tensor_destroy(ts[i]);
    vkdl_context_memory(c, &cur, &peak);
    TH_TRUE(cur == 0);
    TH_TRUE(peak >= (size_t)n * CHUNK * 4);
    vkdl_context_reset_peak(c);
    TH_TRUE(mem_peak(c) == 0);
    free(buf);
    free(back);
    th_ctx_done(c);
}

static void run_memory_churn(void *arg)
{
    vkdl_context *c = *(vkdl_context **)arg;
    size_t cur0 = th_mem_current(c);
    enum { LIVE = 12, ROUNDS = 1000 };
    vkdl_tensor *live[LIVE] = {0};
    int64_t len[LIVE] = {0};
    for (int r = 0; r < ROUNDS; r++) {
        int slot = (int)th_randu(LIVE);
        if (live[slot]) {
            /* the first and last bytes still hold what was written */
            uint8_t first = 0;
            vkdl_tensor *v = NULL;
            TH_OK(vkdl_tensor_slice(live[slot], len[slot] - 1, len[slot], &v));
            TH_OK(vkdl_tensor_download(v, &first, VKDL_U8, 1));
            if (first != (uint8_t)(len[slot] % 251))
                th_fail("%s: round %d: last byte %u, want %u", vkdl_context_device_name(c), r, first,
                        (unsigned)(len[slot] % 251));
            vkdl_tensor_destroy(v);
            vkdl_tensor_destroy(live[slot]);
            live[slot] = NULL;
        }
        /* log-uniform from 1 byte to 10 MB */
        int64_t n = (int64_t)exp(th_randf(0, (float)log(10e6)));
        if (n < 1)
            n = 1;
        len[slot] = n;
        live[slot] = th_mk1(c, VKDL_U8, n);
        if (!live[slot])
            break;
        TH_OK(vkdl_tensor_fill(live[slot], (double)(n % 251)));
    }
    for (int i = 0; i < LIVE; i++)
        vkdl_tensor_destroy(live[i]);
    TH_OK(vkdl_sync(c));
    TH_TRUE(th_mem_current(c) == cur0);

    /* a dedicated block: 20M floats */
    const int64_t n = 20000000;
    vkdl_tensor *x = th_mk1(c, VKDL_F32, n), *y = th_mk1(c, VKDL_F32, n);
    float *h = malloc((size_t)n * 4);
    TH_OK(vkdl_tensor_fill(x, 1.5));
    TH_OK(vkdl_scale(x, 2, 1, y));
    TH_OK(vkdl_tensor_download(y, h, VKDL_F32, (size_t)n * 4));
    for (int64_t i = 0; i < n; i += 9973)
        if (h[i] != 4.0f) {
            th_fail("%s: 20M scale [%lld] = %g", vkdl_context_device_name(c), (long long)i, h[i]);
            break;
        }
    TH_TRUE(h[n - 1] == 4.0f);
    vkdl_tensor_destroy(x);
    vkdl_tensor_destroy(y);
    /* and again, after the first one was released */
    TH_OK(vkdl_sync(c));
    x = th_mk1(c, VKDL_F32, n);
    TH_OK(vkdl_tensor_fill(x, -2));
    TH_OK(vkdl_tensor_download(x, h, VKDL_F32, (size_t)n * 4));
    TH_TRUE(h[0] == -2 && h[n / 2] == -2 && h[n - 1] == -2);
    vkdl_tensor_destroy(x);
    free(h);
    TH_TRUE(th_mem_current(c) == cur0);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    static vkdl_backend vulkan = VKDL_BACKEND_VULKAN, cpu = VKDL_BACKEND_CPU;
    th_run("runtime/memory-limit/vulkan", run_memory_limit, &vulkan);
    th_run("runtime/memory-limit/cpu", run_memory_limit, &cpu);
    th_run("runtime/memory-churn/cpu", run_memory_churn, &th_cpu);
    th_run("runtime/memory-churn/vulkan", run_memory_churn, &th_gpu);
    return th_finish();
}
