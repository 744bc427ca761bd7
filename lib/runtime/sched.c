/* The scheduler: ops record dispatches into the current batch (one command buffer); a batch is
 * submitted at a sync point or when it reaches BATCH_DISPATCHES, into a ring of frames, each
 * with its own fence, descriptor pools, texel views, staging memory and timestamp queries.
 *
 * Hazards are tracked by byte range within a memory block: a dispatch gets a barrier only when it
 * reads a range written since the last barrier, or writes one read or written since then (RAW,
 * WAR, WAW). Independent dispatches run back to back without barriers. */
#include "runtime/runtime.h"

#include <stdlib.h>
#include <string.h>

#define N_FRAMES 3
#define BATCH_DISPATCHES 256
#define STAGING_CHUNK (16u << 20)

typedef struct span {
    const vkdl_block *block;
    VkDeviceSize begin, end;
} span;

typedef struct span_list {
    span *v;
    size_t n, cap;
} span_list;

typedef struct staging {
    VkBuffer buffer;
    VkDeviceMemory memory;
    void *map;
    VkDeviceSize size, used;
} staging;

typedef struct frame {
    VkCommandPool pool;
    VkCommandBuffer cmd;
    VkFence fence;
    bool recording, in_flight;
    uint32_t n_dispatch;
    span_list touched;              /* everything this batch accesses, for host-access checks */
    VkDescriptorPool *dpools;
    size_t n_dpools, cur_dpool;
    VkBufferView *views;
    size_t n_views, cap_views;
    staging *stage;
    size_t n_stage;
    VkQueryPool queries;
    const char *names[BATCH_DISPATCHES];
    uint32_t n_queries;
} frame;

struct vkdl_sched {
    vkdl_context *ctx;
    frame frames[N_FRAMES];
    int cur;
    span_list read, written;        /* since the last barrier in the current batch */
    uint32_t staging_type;
    bool profile;
    uint64_t batches;
    double kernel_ms;               /* all profiled kernel time so far */
};

/* ---------------------------------------------------------------- span lists */

static bool spans_push(span_list *l, span s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        span *nv = realloc(l->v, cap * sizeof *nv);
        if (!nv)
            return false;
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = s;
    return true;
}

static bool spans_overlap(const span_list *l, span s)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].block == s.block && l->v[i].begin < s.end && s.begin < l->v[i].end)
            return true;
    return false;
}

/* Rounded out to whole 32-bit words: kernels write 1- and 2-byte dtypes a word at a time, so
 * two views that share a word must be ordered like overlapping ones. */
static span tensor_span(const vkdl_tensor *t)
{
    VkDeviceSize b = t->st->alloc.offset + t->offset;
    return (span){t->st->alloc.block, b & ~(VkDeviceSize)3, (b + vkdl_tensor_bytes(t) + 3) & ~(VkDeviceSize)3};
}

/* ---------------------------------------------------------------- frames */

static void frame_cleanup(vkdl_sched *s, frame *f);

static vkdl_status frame_init(vkdl_sched *s, frame *f)
{
    vkdl_context *ctx = s->ctx;
    VkDevice dev = ctx->dev.dev;
    VkCommandPoolCreateInfo pi = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT,
        .queueFamilyIndex = ctx->dev.queue_family,
    };
    VkResult r = vkCreateCommandPool(dev, &pi, NULL, &f->pool);
    if (r != VK_SUCCESS)
        return vkdl_vk_fail(r, "context_create: vkCreateCommandPool");
    VkCommandBufferAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = f->pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    if ((r = vkAllocateCommandBuffers(dev, &ai, &f->cmd)) != VK_SUCCESS)
        return vkdl_vk_fail(r, "context_create: vkAllocateCommandBuffers");
    VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if ((r = vkCreateFence(dev, &fi, NULL, &f->fence)) != VK_SUCCESS)
        return vkdl_vk_fail(r, "context_create: vkCreateFence");
    if (s->profile) {
        VkQueryPoolCreateInfo qi = {
            .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
            .queryType = VK_QUERY_TYPE_TIMESTAMP,
            .queryCount = 2 * BATCH_DISPATCHES,
        };
        if ((r = vkCreateQueryPool(dev, &qi, NULL, &f->queries)) != VK_SUCCESS)
            return vkdl_vk_fail(r, "context_create: vkCreateQueryPool");
    }
    return VKDL_OK;
}

static void staging_free(VkDevice dev, staging *st)
{
    if (st->buffer)
        vkDestroyBuffer(dev, st->buffer, NULL);
    if (st->memory)
        vkFreeMemory(dev, st->memory, NULL);
}

static void frame_destroy(vkdl_sched *s, frame *f)
{
    VkDevice dev = s->ctx->dev.dev;
    frame_cleanup(s, f);
    for (size_t i = 0; i < f->n_dpools; i++)
        vkDestroyDescriptorPool(dev, f->dpools[i], NULL);
    for (size_t i = 0; i < f->n_stage; i++)
        staging_free(dev, &f->stage[i]);
    free(f->dpools);
    free(f->views);
    free(f->stage);
    free(f->touched.v);
    if (f->queries)
        vkDestroyQueryPool(dev, f->queries, NULL);
    if (f->fence)
        vkDestroyFence(dev, f->fence, NULL);
    if (f->cmd)
        vkFreeCommandBuffers(dev, f->pool, 1, &f->cmd);
    if (f->pool)
        vkDestroyCommandPool(dev, f->pool, NULL);
}

vkdl_status vkdl_sched_create(vkdl_context *ctx, vkdl_sched **out)
{
    vkdl_sched *s = calloc(1, sizeof *s);
    if (!s)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "context_create: out of host memory");
    s->ctx = ctx;
    s->profile = (ctx->flags & VKDL_CONTEXT_PROFILE) && ctx->dev.caps.timestamps;
    if ((ctx->flags & VKDL_CONTEXT_PROFILE) && !ctx->dev.caps.timestamps)
        fprintf(stderr, "vkdl: profiling requested but %s has no compute timestamps\n", ctx->dev.caps.name);
    const vkdl_caps *c = &ctx->dev.caps;
    s->staging_type = UINT32_MAX;
    for (uint32_t i = 0; i < c->mem.memoryTypeCount && s->staging_type == UINT32_MAX; i++) {
        VkMemoryPropertyFlags want = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
        if ((c->mem.memoryTypes[i].propertyFlags & want) == want)
            s->staging_type = i;
    }
    *out = s;
    for (int i = 0; i < N_FRAMES; i++)
        VKDL_TRY(frame_init(s, &s->frames[i]));
    return VKDL_OK;
}

void vkdl_sched_destroy(vkdl_sched *s)
{
    if (!s)
        return;
    for (int i = 0; i < N_FRAMES; i++)
        if (s->frames[i].in_flight)
            vkWaitForFences(s->ctx->dev.dev, 1, &s->frames[i].fence, VK_TRUE, UINT64_MAX);
    for (int i = 0; i < N_FRAMES; i++)
        frame_destroy(s, &s->frames[i]);
    free(s->read.v);
    free(s->written.v);
    free(s);
}

typedef struct prof_row {
    const char *name;
    double ms;
    uint32_t count;
} prof_row;

static int prof_cmp(const void *a, const void *b)
{
    double d = ((const prof_row *)b)->ms - ((const prof_row *)a)->ms;
    return (d > 0) - (d < 0);
}

static void report_profile(vkdl_sched *s, frame *f)
{
    uint32_t n = f->n_queries;
    if (!n)
        return;
    uint64_t *ts = malloc(2 * n * sizeof *ts);
    prof_row *rows = calloc(n, sizeof *rows);
    if (ts && rows &&
        vkGetQueryPoolResults(s->ctx->dev.dev, f->queries, 0, 2 * n, 2 * n * sizeof *ts, ts, sizeof *ts,
                              VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT) == VK_SUCCESS) {
        uint32_t n_rows = 0;
        double total = 0;
        for (uint32_t i = 0; i < n; i++) {
            double ms = (double)(ts[2 * i + 1] - ts[2 * i]) * s->ctx->dev.caps.timestamp_period * 1e-6;
            total += ms;
            uint32_t r = 0;
            while (r < n_rows && strcmp(rows[r].name, f->names[i]) != 0)
                r++;
            if (r == n_rows)
                rows[n_rows++].name = f->names[i];
            rows[r].ms += ms;
            rows[r].count++;
        }
        s->kernel_ms += total;
        if (!s->ctx->profile_quiet) {
            qsort(rows, n_rows, sizeof *rows, prof_cmp);
            fprintf(stderr, "vkdl profile: batch %llu: %u dispatches, %.3f ms on the GPU\n",
                    (unsigned long long)s->batches, n, total);
            for (uint32_t r = 0; r < n_rows; r++)
                fprintf(stderr, "  %-24s %5u x  %9.3f ms  %5.1f%%\n", rows[r].name, rows[r].count, rows[r].ms,
                        total > 0 ? 100.0 * rows[r].ms / total : 0.0);
        }
    }
    free(ts);
    free(rows);
}

double vkdl_sched_kernel_ms(const vkdl_context *ctx)
{
    return ctx->backend == VKDL_BACKEND_VULKAN && ctx->sched ? ctx->sched->kernel_ms : 0.0;
}

/* Recycle a completed frame's per-batch resources. */
static void frame_cleanup(vkdl_sched *s, frame *f)
{
    VkDevice dev = s->ctx->dev.dev;
    if (s->profile && f->queries)
        report_profile(s, f);
    f->n_queries = 0;
    for (size_t i = 0; i < f->n_views; i++)
        vkDestroyBufferView(dev, f->views[i], NULL);
    f->n_views = 0;
    for (size_t i = 0; i < f->n_dpools; i++)
        vkResetDescriptorPool(dev, f->dpools[i], 0);
    f->cur_dpool = 0;
    for (size_t i = 0; i < f->n_stage; i++)
        f->stage[i].used = 0;
    f->touched.n = 0;
    f->n_dispatch = 0;
}

static vkdl_status frame_wait(vkdl_sched *s, frame *f)
{
    if (!f->in_flight)
        return VKDL_OK;
    VkResult r = vkWaitForFences(s->ctx->dev.dev, 1, &f->fence, VK_TRUE, UINT64_MAX);
    if (r != VK_SUCCESS)
        return vkdl_vk_fail(r, "sync: vkWaitForFences");
    vkResetFences(s->ctx->dev.dev, 1, &f->fence);
    f->in_flight = false;
    frame_cleanup(s, f);
    return VKDL_OK;
}

static void barrier(VkCommandBuffer cmd, VkAccessFlags dst_access, VkPipelineStageFlags dst_stage);

/* The current frame, begun for recording. */
static vkdl_status begin(vkdl_sched *s, frame **out)
{
    frame *f = &s->frames[s->cur];
    if (!f->recording) {
        VKDL_TRY(frame_wait(s, f));
        VkResult r = vkResetCommandPool(s->ctx->dev.dev, f->pool, 0);
        VkCommandBufferBeginInfo bi = {
            .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
            .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
        };
        if (r == VK_SUCCESS)
            r = vkBeginCommandBuffer(f->cmd, &bi);
        if (r != VK_SUCCESS)
            return vkdl_vk_fail(r, "vkBeginCommandBuffer");
        if (f->queries)
            vkCmdResetQueryPool(f->cmd, f->queries, 0, 2 * BATCH_DISPATCHES);
        /* A barrier's scope reaches back into earlier submissions on the queue: one here orders
         * this batch after any still running, whose ranges we no longer track. */
        for (int i = 0; i < N_FRAMES; i++)
            if (s->frames[i].in_flight) {
                barrier(f->cmd, VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                                    VK_ACCESS_TRANSFER_WRITE_BIT,
                        VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT);
                break;
            }
        f->recording = true;
        s->read.n = s->written.n = 0;
    }
    *out = f;
    return VKDL_OK;
}

static void barrier(VkCommandBuffer cmd, VkAccessFlags dst_access, VkPipelineStageFlags dst_stage)
{
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
        .dstAccessMask = dst_access,
    };
    vkCmdPipelineBarrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, dst_stage, 0, 1,
                         &mb, 0, NULL, 0, NULL);
}

/* Submit the current batch without waiting. */
static vkdl_status submit(vkdl_sched *s)
{
    frame *f = &s->frames[s->cur];
    if (!f->recording)
        return VKDL_OK;
    /* Make every write of the batch visible to host reads of mapped memory after the fence. */
    barrier(f->cmd, VK_ACCESS_HOST_READ_BIT, VK_PIPELINE_STAGE_HOST_BIT);
    f->recording = false;
    VkResult r = vkEndCommandBuffer(f->cmd);
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &f->cmd};
    if (r == VK_SUCCESS)
        r = vkQueueSubmit(s->ctx->dev.queue, 1, &si, f->fence);
    if (r != VK_SUCCESS) {
        frame_cleanup(s, f);
        return vkdl_vk_fail(r, "vkQueueSubmit");
    }
    f->in_flight = true;
    s->batches++;
    s->cur = (s->cur + 1) % N_FRAMES;
    return VKDL_OK;
}

vkdl_status vkdl_sched_flush(vkdl_context *ctx)
{
    vkdl_sched *s = ctx->sched;
    vkdl_status st = submit(s);
    for (int i = 0; i < N_FRAMES; i++) {
        vkdl_status w = frame_wait(s, &s->frames[(s->cur + i) % N_FRAMES]);
        if (st == VKDL_OK)
            st = w;
    }
    if (st == VKDL_OK)
        vkdl_memory_trim(ctx->mem);
    return st;
}

vkdl_status vkdl_sched_host_access(vkdl_context *ctx, const vkdl_block *b, VkDeviceSize offset, VkDeviceSize size)
{
    vkdl_sched *s = ctx->sched;
    span sp = {b, offset, offset + size};
    for (int i = 0; i < N_FRAMES; i++) {
        frame *f = &s->frames[i];
        if ((f->recording || f->in_flight) && spans_overlap(&f->touched, sp))
            return vkdl_sched_flush(ctx);
    }
    return VKDL_OK;
}

/* Record the hazards of one command's ranges; emits a barrier first when needed. */
static vkdl_status track(vkdl_sched *s, frame *f, const span *sp, const uint8_t *access, uint32_t n)
{
    bool need = false;
    for (uint32_t i = 0; i < n && !need; i++) {
        if (!sp[i].block)
            continue;
        if (spans_overlap(&s->written, sp[i]))
            need = true;
        else if ((access[i] & VKDL_WRITE) && spans_overlap(&s->read, sp[i]))
            need = true;
    }
    if (need) {
        barrier(f->cmd, VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                            VK_ACCESS_TRANSFER_WRITE_BIT,
                VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT);
        s->read.n = s->written.n = 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (!sp[i].block)
            continue;
        bool ok = spans_push(&f->touched, sp[i]);
        if (access[i] & VKDL_READ)
            ok = ok && spans_push(&s->read, sp[i]);
        if (access[i] & VKDL_WRITE)
            ok = ok && spans_push(&s->written, sp[i]);
        if (!ok)
            return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "dispatch: out of host memory");
    }
    return VKDL_OK;
}

/* After recording a command: submit the batch if it is large enough. */
static vkdl_status end_command(vkdl_sched *s, frame *f)
{
    if (++f->n_dispatch >= BATCH_DISPATCHES)
        return submit(s);
    return VKDL_OK;
}

/* ---------------------------------------------------------------- dispatch */

typedef struct bind_plan {
    VkDeviceSize offset, range;
    uint32_t elem_offset;
} bind_plan;

static VkDeviceSize binding_align(const vkdl_caps *c, VkDescriptorType type)
{
    VkDeviceSize a = type == VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER || type == VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER
                         ? c->min_texel_align
                         : c->min_storage_align;
    return a ? a : 1;
}

static uint32_t format_size(VkFormat f)
{
    switch (f) {
    case VK_FORMAT_R32G32B32A32_SFLOAT: case VK_FORMAT_R32G32B32A32_UINT: return 16;
    case VK_FORMAT_R32G32_SFLOAT: case VK_FORMAT_R32G32_UINT: return 8;
    case VK_FORMAT_R16G16B16A16_SFLOAT: return 8;
    case VK_FORMAT_R16_SFLOAT: return 2;
    case VK_FORMAT_R8_UINT: return 1;
    default: return 4;
    }
}

static bool plan_binding(const vkdl_context *ctx, const vkdl_kernel *k, uint32_t b, const vkdl_tensor *t,
                         bind_plan *p, const char **why)
{
    const vkdl_caps *c = &ctx->dev.caps;
    VkDescriptorType type = k->type[b] ? k->type[b] : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    bool texel = type == VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER || type == VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER;
    VkDeviceSize base = t->st->alloc.offset + t->offset;
    VkDeviceSize align = binding_align(c, type);
    uint32_t unit = k->unit[b] ? k->unit[b] : (uint32_t)vkdl_dtype_size(t->dtype);
    if (texel)
        unit = format_size(k->format[b]);
    p->offset = base - base % align;
    VkDeviceSize rem = base - p->offset;
    if (rem % unit != 0) {
        *why = "view offset not a multiple of the kernel's load width";
        return false;
    }
    p->elem_offset = (uint32_t)(rem / unit);
    VkDeviceSize gran = texel ? unit : 4;
    p->range = (rem + vkdl_tensor_bytes(t) + gran - 1) / gran * gran;
    if (p->offset + p->range > vkdl_block_size(t->st->alloc.block)) {
        *why = "range rounds past its block";
        return false;
    }
    if (texel ? p->range / unit > c->max_texel_elements : p->range > c->max_storage_range) {
        *why = texel ? "more texels than maxTexelBufferElements" : "larger than maxStorageBufferRange";
        return false;
    }
    return true;
}

bool vkdl_binding_ok(const vkdl_context *ctx, const vkdl_kernel *k, uint32_t b, const vkdl_tensor *t)
{
    bind_plan p;
    const char *why;
    return t->st->alloc.block && plan_binding(ctx, k, b, t, &p, &why);
}

uint32_t vkdl_row_workgroup(const vkdl_context *ctx, const char *op, uint64_t n, uint32_t passes, bool subgroup_ok,
                            bool *one_subgroup)
{
    const vkdl_caps *c = &ctx->dev.caps;
    uint64_t limit = c->max_loop_iterations ? c->max_loop_iterations : UINT64_MAX;
    uint64_t work = n * (passes ? passes : 1);
    *one_subgroup = false;
    if (subgroup_ok && (c->quirks & VKDL_QUIRK_CPU_FRIENDLY_KERNELS) && c->subgroup_min == c->subgroup_max &&
        work / c->subgroup_size < limit) {
        *one_subgroup = true;
        return c->subgroup_size;
    }
    uint32_t cap = c->max_wg_invocations < c->max_wg_size[0] ? c->max_wg_invocations : c->max_wg_size[0];
    uint32_t wg = 1;
    while (wg * 2 <= cap && wg < 256)
        wg *= 2;
    while (wg > 32 && wg / 2 >= n)
        wg /= 2; /* short rows: fewer idle invocations */
    while (work / wg >= limit && wg * 2 <= cap)
        wg *= 2;
    if (work / wg >= limit) {
        vkdl_fail(VKDL_ERROR_TOO_LARGE, "%s: a row of %llu elements exceeds what %s can loop over in one workgroup", op,
                  (unsigned long long)n, c->name);
        return 0;
    }
    return wg;
}

void vkdl_grid_1d(const vkdl_context *ctx, uint64_t n, uint32_t groups[3])
{
    uint64_t maxx = ctx->dev.caps.max_wg_count[0] ? ctx->dev.caps.max_wg_count[0] : 65535;
    if (n == 0)
        n = 1;
    groups[0] = (uint32_t)(n < maxx ? n : maxx);
    groups[1] = (uint32_t)((n + groups[0] - 1) / groups[0]);
    groups[2] = 1;
}

static vkdl_status get_descriptor_set(vkdl_sched *s, frame *f, VkDescriptorSetLayout layout, VkDescriptorSet *out)
{
    VkDevice dev = s->ctx->dev.dev;
    for (;;) {
        if (f->cur_dpool == f->n_dpools) {
            VkDescriptorPoolSize sizes[] = {
                {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 4 * BATCH_DISPATCHES},
                {VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, 2 * BATCH_DISPATCHES},
            };
            VkDescriptorPoolCreateInfo pi = {
                .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                .maxSets = BATCH_DISPATCHES,
                .poolSizeCount = 2,
                .pPoolSizes = sizes,
            };
            VkDescriptorPool *np = realloc(f->dpools, (f->n_dpools + 1) * sizeof *np);
            if (!np)
                return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "dispatch: out of host memory");
            f->dpools = np;
            VkResult r = vkCreateDescriptorPool(dev, &pi, NULL, &f->dpools[f->n_dpools]);
            if (r != VK_SUCCESS)
                return vkdl_vk_fail(r, "dispatch: vkCreateDescriptorPool");
            f->n_dpools++;
        }
        VkDescriptorSetAllocateInfo ai = {
            .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
            .descriptorPool = f->dpools[f->cur_dpool],
            .descriptorSetCount = 1,
            .pSetLayouts = &layout,
        };
        VkResult r = vkAllocateDescriptorSets(dev, &ai, out);
        if (r == VK_SUCCESS)
            return VKDL_OK;
        if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL)
            return vkdl_vk_fail(r, "dispatch: vkAllocateDescriptorSets");
        f->cur_dpool++;
    }
}

vkdl_status vkdl_dispatch(vkdl_context *ctx, const vkdl_dispatch_info *info)
{
    vkdl_sched *s = ctx->sched;
    const vkdl_kernel *k = info->kernel;
    VkDevice dev = ctx->dev.dev;
    bind_plan plan[VKDL_MAX_BINDINGS];
    span sp[VKDL_MAX_BINDINGS];
    uint32_t push[32];
    if (4 * k->n_bindings + k->push_size > sizeof push || 4 * k->n_bindings + k->push_size > ctx->dev.caps.max_push_constants)
        return vkdl_fail(VKDL_ERROR_UNSUPPORTED, "%s: %u bytes of push constants exceed the device's %u", k->name,
                         4 * k->n_bindings + k->push_size, ctx->dev.caps.max_push_constants);
    for (uint32_t b = 0; b < k->n_bindings; b++) {
        const vkdl_tensor *t = info->tensors[b];
        const char *why = "";
        if (!t->st->alloc.block)
            return VKDL_OK; /* an empty tensor: nothing to compute */
        if (!plan_binding(ctx, k, b, t, &plan[b], &why)) {
            char sh[VKDL_SHAPE_BUF];
            return vkdl_fail(VKDL_ERROR_TOO_LARGE, "%s: cannot bind tensor %u (%s %s): %s", k->name, b,
                             vkdl_shape_str(t, sh, sizeof sh), vkdl_dtype_name(t->dtype), why);
        }
        push[b] = plan[b].elem_offset;
        /* The whole bound range, not just the tensor's bytes: the alignment slack belongs to
         * neighbouring tensors, and to the driver (and synchronization validation) a dispatch
         * may touch anything its descriptors cover. */
        sp[b] = (span){t->st->alloc.block, plan[b].offset, plan[b].offset + plan[b].range};
    }
    if (k->push_size)
        memcpy(push + k->n_bindings, info->push, k->push_size);
    if (info->groups[1] > ctx->dev.caps.max_wg_count[1] || info->groups[2] > ctx->dev.caps.max_wg_count[2] ||
        info->groups[0] > ctx->dev.caps.max_wg_count[0])
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "%s: grid %ux%ux%u exceeds the device's workgroup count limits", k->name,
                         info->groups[0], info->groups[1], info->groups[2]);

    vkdl_pipeline *pl;
    VKDL_TRY(vkdl_pipeline_get(ctx, k, info->spec, &pl));
    frame *f = NULL;
    VKDL_TRY(begin(s, &f));
    VKDL_TRY(track(s, f, sp, k->access, k->n_bindings));

    VkDescriptorBufferInfo bi[VKDL_MAX_BINDINGS];
    VkBufferView views[VKDL_MAX_BINDINGS];
    VkWriteDescriptorSet w[VKDL_MAX_BINDINGS];
    for (uint32_t b = 0; b < k->n_bindings; b++) {
        VkDescriptorType type = k->type[b] ? k->type[b] : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        VkBuffer buf = vkdl_block_buffer(info->tensors[b]->st->alloc.block);
        w[b] = (VkWriteDescriptorSet){
            .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
            .dstBinding = b,
            .descriptorCount = 1,
            .descriptorType = type,
        };
        if (type == VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER || type == VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER) {
            VkBufferViewCreateInfo vi = {
                .sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO,
                .buffer = buf,
                .format = k->format[b],
                .offset = plan[b].offset,
                .range = plan[b].range,
            };
            if (f->n_views == f->cap_views) {
                size_t cap = f->cap_views ? 2 * f->cap_views : 64;
                VkBufferView *nv = realloc(f->views, cap * sizeof *nv);
                if (!nv)
                    return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "dispatch: out of host memory");
                f->views = nv;
                f->cap_views = cap;
            }
            VkResult r = vkCreateBufferView(dev, &vi, NULL, &views[b]);
            if (r != VK_SUCCESS)
                return vkdl_vk_fail(r, "dispatch: vkCreateBufferView");
            f->views[f->n_views++] = views[b];
            w[b].pTexelBufferView = &views[b];
        } else {
            bi[b] = (VkDescriptorBufferInfo){buf, plan[b].offset, plan[b].range};
            w[b].pBufferInfo = &bi[b];
        }
    }

    VkCommandBuffer cmd = f->cmd;
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, vkdl_pipeline_handle(pl));
    if (ctx->dev.caps.push_descriptor) {
        ctx->dev.push_descriptor_set(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, vkdl_pipeline_layout(pl), 0, k->n_bindings, w);
    } else {
        VkDescriptorSet set;
        VKDL_TRY(get_descriptor_set(s, f, vkdl_pipeline_set_layout(pl), &set));
        for (uint32_t b = 0; b < k->n_bindings; b++)
            w[b].dstSet = set;
        vkUpdateDescriptorSets(dev, k->n_bindings, w, 0, NULL);
        vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, vkdl_pipeline_layout(pl), 0, 1, &set, 0, NULL);
    }
    vkCmdPushConstants(cmd, vkdl_pipeline_layout(pl), VK_SHADER_STAGE_COMPUTE_BIT, 0, 4 * k->n_bindings + k->push_size,
                       push);
    if (f->queries) {
        f->names[f->n_queries] = k->name;
        vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, f->queries, 2 * f->n_queries);
    }
    vkCmdDispatch(cmd, info->groups[0], info->groups[1], info->groups[2]);
    if (f->queries) {
        vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, f->queries, 2 * f->n_queries + 1);
        f->n_queries++;
    }
    return end_command(s, f);
}

/* ---------------------------------------------------------------- transfers */

static vkdl_status staging_get(vkdl_sched *s, frame *f, VkDeviceSize size, staging **out, VkDeviceSize *offset)
{
    for (size_t i = 0; i < f->n_stage; i++)
        if (f->stage[i].size - f->stage[i].used >= size) {
            *out = &f->stage[i];
            *offset = f->stage[i].used;
            f->stage[i].used += (size + 15) & ~(VkDeviceSize)15;
            return VKDL_OK;
        }
    if (s->staging_type == UINT32_MAX)
        return vkdl_fail(VKDL_ERROR_UNSUPPORTED, "transfer: the device has no host-visible memory");
    VkDevice dev = s->ctx->dev.dev;
    /* A multiple of the 16-byte step below, so `used` never passes `size` (the free-space test
     * above would wrap around and hand out offsets past the end). */
    VkDeviceSize rounded = (size + 15) & ~(VkDeviceSize)15;
    staging st = {.size = rounded > STAGING_CHUNK ? rounded : STAGING_CHUNK};
    VkBufferCreateInfo bi = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = st.size,
        .usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
    };
    VkResult r = vkCreateBuffer(dev, &bi, NULL, &st.buffer);
    VkMemoryRequirements req;
    if (r == VK_SUCCESS) {
        vkGetBufferMemoryRequirements(dev, st.buffer, &req);
        VkMemoryAllocateInfo ai = {
            .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
            .allocationSize = req.size,
            .memoryTypeIndex = s->staging_type,
        };
        r = vkAllocateMemory(dev, &ai, NULL, &st.memory);
    }
    if (r == VK_SUCCESS)
        r = vkBindBufferMemory(dev, st.buffer, st.memory, 0);
    if (r == VK_SUCCESS)
        r = vkMapMemory(dev, st.memory, 0, VK_WHOLE_SIZE, 0, &st.map);
    staging *ns = r == VK_SUCCESS ? realloc(f->stage, (f->n_stage + 1) * sizeof *ns) : NULL;
    if (!ns) {
        staging_free(dev, &st);
        return r != VK_SUCCESS ? vkdl_vk_fail(r, "transfer: staging buffer")
                               : vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "transfer: out of host memory");
    }
    f->stage = ns;
    st.used = (size + 15) & ~(VkDeviceSize)15;
    f->stage[f->n_stage] = st;
    *out = &f->stage[f->n_stage++];
    *offset = 0;
    return VKDL_OK;
}

vkdl_status vkdl_sched_upload(vkdl_context *ctx, const vkdl_tensor *t, const void *src)
{
    vkdl_sched *s = ctx->sched;
    frame *f = NULL;
    VKDL_TRY(begin(s, &f));
    VkDeviceSize size = vkdl_tensor_bytes(t), off;
    staging *st;
    VKDL_TRY(staging_get(s, f, size, &st, &off));
    memcpy((char *)st->map + off, src, size);
    span sp = tensor_span(t);
    uint8_t acc = VKDL_WRITE;
    VKDL_TRY(track(s, f, &sp, &acc, 1));
    VkBufferCopy region = {off, t->st->alloc.offset + t->offset, size};
    vkCmdCopyBuffer(f->cmd, st->buffer, vkdl_block_buffer(t->st->alloc.block), 1, &region);
    return end_command(s, f);
}

vkdl_status vkdl_sched_download(vkdl_context *ctx, const vkdl_tensor *t, void *dst)
{
    vkdl_sched *s = ctx->sched;
    frame *f = NULL;
    VKDL_TRY(begin(s, &f));
    VkDeviceSize size = vkdl_tensor_bytes(t), off;
    staging *st;
    VKDL_TRY(staging_get(s, f, size, &st, &off));
    span sp = tensor_span(t);
    uint8_t acc = VKDL_READ;
    VKDL_TRY(track(s, f, &sp, &acc, 1));
    VkBufferCopy region = {t->st->alloc.offset + t->offset, off, size};
    vkCmdCopyBuffer(f->cmd, vkdl_block_buffer(t->st->alloc.block), st->buffer, 1, &region);
    /* The frame's staging stays intact until the frame is reused, which flush does not do. */
    void *src = (char *)st->map + off;
    VKDL_TRY(vkdl_sched_flush(ctx));
    memcpy(dst, src, size);
    return VKDL_OK;
}

vkdl_status vkdl_sched_fill(vkdl_context *ctx, const vkdl_tensor *t, uint32_t pattern)
{
    vkdl_sched *s = ctx->sched;
    frame *f = NULL;
    VKDL_TRY(begin(s, &f));
    span sp = tensor_span(t);
    uint8_t acc = VKDL_WRITE;
    VKDL_TRY(track(s, f, &sp, &acc, 1));
    vkCmdFillBuffer(f->cmd, vkdl_block_buffer(t->st->alloc.block), t->st->alloc.offset + t->offset, vkdl_tensor_bytes(t),
                    pattern);
    return end_command(s, f);
}
