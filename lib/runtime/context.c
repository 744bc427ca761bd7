/* Context: a backend (CPU or a Vulkan device) with its memory, pipelines and scheduler. */
#include "runtime/runtime.h"

#include <stdlib.h>
#include <string.h>

uint32_t vkdl_version(void) { return VKDL_VERSION; }
const char *vkdl_version_string(void) { return VKDL_VERSION_STRING; }

static bool env_flag(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

static void default_cache_dir(char *out, size_t n)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(out, n, "%s/vkdl", xdg);
    else if (home && *home)
        snprintf(out, n, "%s/.cache/vkdl", home);
    else
        out[0] = 0; /* nowhere to keep it: run without a disk cache */
}

vkdl_status vkdl_context_create(const vkdl_context_create_info *info, vkdl_context **out)
{
    if (!out)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "context_create: out is NULL");
    *out = NULL;
    vkdl_context_create_info defaults = {0};
    if (!info)
        info = &defaults;
    VKDL_TRY(vkdl_check_next("context_create", info->next));
    if (info->backend != VKDL_BACKEND_VULKAN && info->backend != VKDL_BACKEND_CPU)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "context_create: invalid backend %d", (int)info->backend);
    vkdl_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "context_create: out of host memory");
    ctx->backend = info->backend;
    ctx->flags = info->flags;
    if (env_flag("VKDL_VALIDATE"))
        ctx->flags |= VKDL_CONTEXT_VALIDATE;
    if (env_flag("VKDL_PROFILE"))
        ctx->flags |= VKDL_CONTEXT_PROFILE;
    if (env_flag("VKDL_PRECISE"))
        ctx->flags |= VKDL_CONTEXT_PRECISE;
    ctx->force_staging = env_flag("VKDL_FORCE_STAGING");
    const char *limit = getenv("VKDL_MEMORY_LIMIT");
    if (limit && *limit)
        ctx->bytes_limit = (size_t)strtoull(limit, NULL, 10);
    if (info->cache_dir)
        snprintf(ctx->cache_dir, sizeof ctx->cache_dir, "%s", info->cache_dir);
    else
        default_cache_dir(ctx->cache_dir, sizeof ctx->cache_dir);
    if (ctx->backend == VKDL_BACKEND_CPU) {
        *out = ctx;
        return VKDL_OK;
    }
    const char *select = info->device ? info->device : getenv("VKDL_DEVICE");
    vkdl_status s = vkdl_device_open(&ctx->dev, select, ctx->flags & VKDL_CONTEXT_VALIDATE);
    if (s == VKDL_OK)
        s = vkdl_memory_create(ctx, &ctx->mem);
    if (s == VKDL_OK)
        s = vkdl_pipelines_create(ctx, &ctx->pipes);
    if (s == VKDL_OK)
        s = vkdl_sched_create(ctx, &ctx->sched);
    if (s != VKDL_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", vkdl_last_error());
        vkdl_context_destroy(ctx);
        vkdl_fail(s, "%s", msg);
        return s;
    }
    *out = ctx;
    return VKDL_OK;
}

void vkdl_context_destroy(vkdl_context *ctx)
{
    if (!ctx)
        return;
    if (ctx->graph_destroy)
        ctx->graph_destroy(ctx);
    vkdl_slots_destroy(ctx);
    if (ctx->backend == VKDL_BACKEND_VULKAN) {
        if (ctx->sched)
            vkdl_sched_flush(ctx);
        vkdl_sched_destroy(ctx->sched);
        vkdl_pipelines_destroy(ctx->pipes);
        vkdl_memory_destroy(ctx->mem);
        vkdl_device_close(&ctx->dev);
    }
    free(ctx);
}

vkdl_status vkdl_sync(vkdl_context *ctx)
{
    if (!ctx)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "sync: context is NULL");
    if (ctx->backend == VKDL_BACKEND_CPU)
        return VKDL_OK;
    return vkdl_sched_flush(ctx);
}

const char *vkdl_context_device_name(const vkdl_context *ctx)
{
    if (!ctx)
        return "(null)";
    return ctx->backend == VKDL_BACKEND_CPU ? "cpu" : ctx->dev.caps.name;
}

vkdl_status vkdl_context_device_info(const vkdl_context *ctx, vkdl_device_info *out)
{
    if (!ctx || !out)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "context_device_info: %s is NULL", ctx ? "out" : "context");
    VKDL_TRY(vkdl_check_next("context_device_info", out->next));
    if (ctx->backend == VKDL_BACKEND_VULKAN) {
        vkdl_caps_info(&ctx->dev.caps, out);
        return VKDL_OK;
    }
    /* The CPU backend: the host, which runs every op without any device feature. */
    *out = (vkdl_device_info){.type = VKDL_DEVICE_TYPE_CPU};
    snprintf(out->name, sizeof out->name, "cpu");
    snprintf(out->driver_name, sizeof out->driver_name, "vkdl CPU backend");
    return VKDL_OK;
}

vkdl_backend vkdl_context_backend(const vkdl_context *ctx) { return ctx ? ctx->backend : VKDL_BACKEND_CPU; }

void vkdl_context_memory(const vkdl_context *ctx, size_t *current, size_t *peak)
{
    if (current)
        *current = ctx ? ctx->bytes_current : 0;
    if (peak)
        *peak = ctx ? ctx->bytes_peak : 0;
}

void vkdl_context_reset_peak(vkdl_context *ctx)
{
    if (ctx)
        ctx->bytes_peak = ctx->bytes_current;
}

uint64_t vkdl_context_validation_messages(const vkdl_context *ctx)
{
    return ctx && ctx->backend == VKDL_BACKEND_VULKAN ? __atomic_load_n(&ctx->dev.validation_messages, __ATOMIC_RELAXED) : 0;
}

vkdl_status vkdl_ctx_charge(vkdl_context *ctx, size_t bytes)
{
    if (ctx->bytes_limit && bytes > ctx->bytes_limit - (ctx->bytes_current < ctx->bytes_limit ? ctx->bytes_current : ctx->bytes_limit))
        return vkdl_fail(VKDL_ERROR_OUT_OF_DEVICE_MEMORY,
                         "tensor_create: %zu bytes more would pass the memory limit (%zu of %zu in use)", bytes,
                         ctx->bytes_current, ctx->bytes_limit);
    ctx->bytes_current += bytes;
    if (ctx->bytes_current > ctx->bytes_peak)
        ctx->bytes_peak = ctx->bytes_current;
    return VKDL_OK;
}

void vkdl_ctx_uncharge(vkdl_context *ctx, size_t bytes) { ctx->bytes_current -= bytes; }
