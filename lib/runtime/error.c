/* Names of the public enums (from their lists in vkdl.h) and the thread-local last-error message. */
#include "runtime/runtime.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

static _Thread_local char last_error[512];

/* fn and user change together, so both are read under one lock. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static vkdl_log_fn log_fn;
static void *log_user;

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

const char *vkdl_resize_mode_name(vkdl_resize_mode mode)
{
    switch ((int)mode) {
    VKDL_RESIZE_MODE_LIST(VKDL_CASE_STRING_)
    default: return "unknown";
    }
}

const char *vkdl_resize_coord_name(vkdl_resize_coord coord)
{
    switch ((int)coord) {
    VKDL_RESIZE_COORD_LIST(VKDL_CASE_STRING_)
    default: return "unknown";
    }
}

const char *vkdl_resize_nearest_name(vkdl_resize_nearest nearest)
{
    switch ((int)nearest) {
    VKDL_RESIZE_NEAREST_LIST(VKDL_CASE_STRING_)
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

const char *vkdl_scatter_reduce_name(vkdl_scatter_reduce reduce)
{
    switch ((int)reduce) {
    VKDL_SCATTER_REDUCE_LIST(VKDL_CASE_STRING_)
    default: return "unknown";
    }
}

const char *vkdl_last_error(void) { return last_error; }

void vkdl_set_log(vkdl_log_fn fn, void *user)
{
    pthread_mutex_lock(&log_lock);
    log_fn = fn;
    log_user = user;
    pthread_mutex_unlock(&log_lock);
}

void vkdl_log(vkdl_log_level level, const char *fmt, ...)
{
    char buf[1024], *msg = buf;
    va_list ap, again;
    va_start(ap, fmt);
    va_copy(again, ap);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    /* Validation messages can run to several kilobytes; a failed malloc delivers them cut short. */
    if (n >= (int)sizeof buf && (msg = malloc((size_t)n + 1)) != NULL)
        vsnprintf(msg, (size_t)n + 1, fmt, again);
    else
        msg = buf;
    va_end(again);
    va_end(ap);
    pthread_mutex_lock(&log_lock);
    vkdl_log_fn fn = log_fn;
    void *user = log_user;
    pthread_mutex_unlock(&log_lock);
    /* Called outside the lock, so that fn may itself call vkdl_set_log. */
    if (fn)
        fn(level, msg, user);
    else
        fprintf(stderr, "%s\n", msg);
    if (msg != buf)
        free(msg);
}

vkdl_status vkdl_fail(vkdl_status status, const char *fmt, ...)
{
    /* Formatted aside first: a caller may pass vkdl_last_error() itself as an argument, to wrap it. */
    char msg[sizeof last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(last_error, msg, sizeof msg);
    return status;
}

vkdl_status vkdl_check_chain(const char *op, const void *next, const vkdl_structure_type *accepted, size_t n)
{
    /* Each accepted type may appear once, so a longer chain (a cycle included) repeats one. */
    size_t links = 0;
    for (const vkdl_base_struct *ext = next; ext; ext = ext->next, links++) {
        size_t i = 0;
        while (i < n && accepted[i] != ext->type)
            i++;
        if (i == n)
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: unknown extension struct type %d", op, (int)ext->type);
        if (vkdl_find_ext(next, ext->type) != ext || links == n)
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: extension struct type %d appears twice in the chain",
                             op, (int)ext->type);
    }
    return VKDL_OK;
}

vkdl_status vkdl_check_next(const char *op, const void *next)
{
    return vkdl_check_chain(op, next, NULL, 0);
}

const void *vkdl_find_ext(const void *next, vkdl_structure_type type)
{
    for (const vkdl_base_struct *ext = next; ext; ext = ext->next)
        if (ext->type == type)
            return ext;
    return NULL;
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
