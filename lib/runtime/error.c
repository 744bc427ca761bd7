/* Status strings and the thread-local last-error message. */
#include "runtime/runtime.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[512];

const char *vkdl_status_string(vkdl_status s)
{
    switch (s) {
    case VKDL_OK: return "ok";
    case VKDL_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case VKDL_ERROR_SHAPE_MISMATCH: return "shape mismatch";
    case VKDL_ERROR_DTYPE_MISMATCH: return "dtype mismatch";
    case VKDL_ERROR_SIZE_OVERFLOW: return "size overflow";
    case VKDL_ERROR_OUT_OF_HOST_MEMORY: return "out of host memory";
    case VKDL_ERROR_OUT_OF_DEVICE_MEMORY: return "out of device memory";
    case VKDL_ERROR_TOO_LARGE: return "exceeds a device limit";
    case VKDL_ERROR_UNSUPPORTED: return "unsupported by the device";
    case VKDL_ERROR_NO_DEVICE: return "no suitable Vulkan device";
    case VKDL_ERROR_DEVICE_LOST: return "device lost";
    case VKDL_ERROR_VULKAN: return "Vulkan error";
    case VKDL_ERROR_IO: return "I/O error";
    case VKDL_ERROR_CORRUPT_DATA: return "corrupt data";
    case VKDL_ERROR_CONTEXT_MISMATCH: return "tensors from different contexts";
    }
    return "unknown status";
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
