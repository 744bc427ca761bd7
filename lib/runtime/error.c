/* Names of the public enums (from their lists in vkdl.h) and the thread-local last-error message. */
#include "runtime/runtime.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[512];

#define VKDL_CASE_STRING_(name, value, string) case VKDL_##name: return string;
#define VKDL_CASE_NAME_(name, value, string) case VKDL_##name: return "VKDL_" #name;

/* Each switch is on an int so that an out-of-range value (or a *_COUNT) reaches its default. */
const char *vkdl_status_string(vkdl_status s)
{
    switch ((int)s) {
    VKDL_STATUS_LIST(VKDL_CASE_STRING_)
    default: return "unknown status";
    }
}

const char *vkdl_status_name(vkdl_status s)
{
    switch ((int)s) {
    VKDL_STATUS_LIST(VKDL_CASE_NAME_)
    default: return "unknown";
    }
}

const char *vkdl_unary_op_name(vkdl_unary_op op)
{
    switch ((int)op) {
    VKDL_UNARY_OP_LIST(VKDL_CASE_STRING_)
    default: return "unknown";
    }
}

const char *vkdl_binary_op_name(vkdl_binary_op op)
{
    switch ((int)op) {
    VKDL_BINARY_OP_LIST(VKDL_CASE_STRING_)
    default: return "unknown";
    }
}

const char *vkdl_reduce_op_name(vkdl_reduce_op op)
{
    switch ((int)op) {
    VKDL_REDUCE_OP_LIST(VKDL_CASE_STRING_)
    default: return "unknown";
    }
}

const char *vkdl_optimizer_name(vkdl_optimizer type)
{
    switch ((int)type) {
    VKDL_OPTIMIZER_LIST(VKDL_CASE_STRING_)
    default: return "unknown";
    }
}

const char *vkdl_last_error(void) { return last_error; }

vkdl_status vkdl_fail(vkdl_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

vkdl_status vkdl_check_next(const char *op, const void *next)
{
    if (!next)
        return VKDL_OK;
    const vkdl_base_struct *ext = next;
    return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: unknown extension struct type %d", op, (int)ext->type);
}

const char *vkdl_vk_result_name(VkResult r)
{
    switch (r) {
#define X(n) case n: return #n;
    X(VK_SUCCESS) X(VK_NOT_READY) X(VK_TIMEOUT) X(VK_INCOMPLETE)
    X(VK_ERROR_OUT_OF_HOST_MEMORY) X(VK_ERROR_OUT_OF_DEVICE_MEMORY) X(VK_ERROR_INITIALIZATION_FAILED)
    X(VK_ERROR_DEVICE_LOST) X(VK_ERROR_MEMORY_MAP_FAILED) X(VK_ERROR_LAYER_NOT_PRESENT)
    X(VK_ERROR_EXTENSION_NOT_PRESENT) X(VK_ERROR_FEATURE_NOT_PRESENT) X(VK_ERROR_INCOMPATIBLE_DRIVER)
    X(VK_ERROR_TOO_MANY_OBJECTS) X(VK_ERROR_FORMAT_NOT_SUPPORTED) X(VK_ERROR_FRAGMENTED_POOL)
    X(VK_ERROR_OUT_OF_POOL_MEMORY) X(VK_ERROR_INVALID_SHADER_NV) X(VK_ERROR_UNKNOWN)
#undef X
    default: return "VkResult(?)";
    }
}

vkdl_status vkdl_vk_fail(VkResult r, const char *what)
{
    vkdl_status s = VKDL_ERROR_VULKAN;
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY)
        s = VKDL_ERROR_OUT_OF_DEVICE_MEMORY;
    else if (r == VK_ERROR_OUT_OF_HOST_MEMORY)
        s = VKDL_ERROR_OUT_OF_HOST_MEMORY;
    else if (r == VK_ERROR_DEVICE_LOST)
        s = VKDL_ERROR_DEVICE_LOST;
    return vkdl_fail(s, "%s: %s (%d)", what, vkdl_vk_result_name(r), (int)r);
}
