/* libFuzzer target: vkdl_onnx_load_memory on arbitrary bytes, and a plan on the CPU backend for
 * every model that loads with small, concrete input shapes. Built and run by tools/fuzz.sh. */
#include "vkdl.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

static vkdl_context *cpu;

static void quiet(vkdl_log_level level, const char *message, void *user)
{
    (void)level;
    (void)message;
    (void)user;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!cpu) {
        /* A valid model may still plan gigabytes of tensors: a budget turns that into a status. */
        setenv("VKDL_MEMORY_LIMIT", "268435456", 0);
        vkdl_set_log(quiet, NULL);
        vkdl_context_create_info ci = {.backend = VKDL_BACKEND_CPU};
        if (vkdl_context_create(&ci, &cpu) != VKDL_OK)
            return 0;
    }
    vkdl_onnx_model *m;
    if (vkdl_onnx_load_memory(data, size, NULL, &m) != VKDL_OK)
        return 0;
    /* Planning folds shapes and constants: part of what a hostile file reaches. Inputs whose
     * declared size would make the run itself large are left out. */
    int64_t total = 0;
    int n = vkdl_onnx_input_count(m);
    for (int i = 0; i < n; i++) {
        vkdl_host_tensor t;
        vkdl_onnx_input(m, i, &t);
        int64_t e = 1;
        for (int d = 0; d < t.ndim; d++)
            e = t.shape[d] < 0 || t.shape[d] > (1 << 20) ? (1 << 30) : e * t.shape[d];
        total += e > (1 << 20) ? (1 << 30) : e;
    }
    vkdl_onnx_plan *p;
    if (total <= (1 << 20) && vkdl_onnx_plan_create(cpu, m, NULL, &p) == VKDL_OK)
        vkdl_onnx_plan_destroy(p);
    vkdl_onnx_model_destroy(m);
    return 0;
}
