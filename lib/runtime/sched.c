/* The scheduler: commands (dispatches from dispatch.c; copies and fills here) are recorded into the
 * current batch (one command buffer); a batch is submitted at a sync point or when it reaches
 * BATCH_DISPATCHES, into a ring of frames, each with its own fence, descriptor pools, texel
 * views, staging memory (from memory.c) and timestamp queries.
 *
 * Hazards are tracked by byte range within a memory block: a dispatch gets a barrier only when it
 * reads a range written since the last barrier, or writes one read or written since then (RAW,
 * WAR, WAW). Independent dispatches run back to back without barriers.
 *
 * A recording is a frame outside the ring: between vkdl_sched_capture_begin and _end, commands go
 * into its own command buffer (kept, not submitted), with its own descriptor pools and views, and
 * the storage of any tensor freed meanwhile (an op's scratch) is kept with it, since every replay
 * writes there again. Anything that needs the host mid-stream (staging copies, mapped access, a
 * flush) cannot be recorded and fails the capture. */
#include "runtime/runtime.h"

#include <stdlib.h>
#include <string.h>

#define N_FRAMES 3
#define BATCH_DISPATCHES 256

typedef vkdl_span span;

typedef struct span_list {
    span *v;
    size_t n, cap;
} span_list;

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
    vkdl_staging *stage;
    VkQueryPool queries;
    const char *names[BATCH_DISPATCHES];
    uint32_t n_queries;
} frame;

struct vkdl_recording {
    frame f;
    vkdl_storage **kept;            /* storage released while recording, freed with the recording */
    size_t n_kept, cap_kept;
};

struct vkdl_sched {
    vkdl_context *ctx;
    frame frames[N_FRAMES];
    vkdl_recording *capture;        /* recording now, instead of into the ring */
    const char *capture_error;      /* what made the capture fail, if anything */
    int cur;
    span_list read, written;        /* since the last barrier in the current batch */
    bool profile;
    bool serialize;                 /* VKDL_SERIALIZE=1: every command waited for (driver-bug hunting) */
    uint64_t batches;
    double kernel_ms;               /* all profiled kernel time so far */
};

/* ---------------------------------------------------------------- span lists */

static frame *cur_frame(vkdl_sched *s) { return s->capture ? &s->capture->f : &s->frames[s->cur]; }

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
    return vkdl_staging_create(ctx, &f->stage);
}

static void frame_destroy(vkdl_sched *s, frame *f)
{
    VkDevice dev = s->ctx->dev.dev;
    frame_cleanup(s, f);
    for (size_t i = 0; i < f->n_dpools; i++)
        vkDestroyDescriptorPool(dev, f->dpools[i], NULL);
    vkdl_staging_destroy(f->stage);
    free(f->dpools);
    free(f->views);
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
    const char *e = getenv("VKDL_SERIALIZE");
    s->serialize = e && *e && strcmp(e, "0") != 0;
    if ((ctx->flags & VKDL_CONTEXT_PROFILE) && !ctx->dev.caps.timestamps)
        vkdl_log(VKDL_LOG_WARNING, "vkdl: profiling requested but %s has no compute timestamps", ctx->dev.caps.name);
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
            vkdl_log(VKDL_LOG_INFO, "vkdl profile: batch %llu: %u dispatches, %.3f ms on the GPU",
                     (unsigned long long)s->batches, n, total);
            for (uint32_t r = 0; r < n_rows; r++)
                vkdl_log(VKDL_LOG_INFO, "  %-24s %5u x  %9.3f ms  %5.1f%%", rows[r].name, rows[r].count, rows[r].ms,
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
    if (f->stage)
        vkdl_staging_reset(f->stage);
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
    frame *f = cur_frame(s);
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
    if (s->capture)
        return VKDL_OK;                                  /* the ring's batch waits for the capture's end */
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

/* Fail the capture in progress: what happened needs the host between commands. */
static vkdl_status not_recordable(vkdl_sched *s, const char *what)
{
    if (!s->capture_error)
        s->capture_error = what;
    return vkdl_fail(VKDL_ERROR_UNSUPPORTED, "capture: %s cannot be recorded for replay", what);
}

vkdl_status vkdl_sched_flush(vkdl_context *ctx)
{
    vkdl_sched *s = ctx->sched;
    if (s->capture)
        return not_recordable(s, "a wait for the device (sync, download or host access)");
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
    if (s->capture)
        return not_recordable(s, "host access to device memory");
    span sp = {b, offset, offset + size};
    for (int i = 0; i < N_FRAMES; i++) {
        frame *f = &s->frames[i];
        if ((f->recording || f->in_flight) && spans_overlap(&f->touched, sp))
            return vkdl_sched_flush(ctx);
    }
    return VKDL_OK;
}

vkdl_status vkdl_sched_track(vkdl_context *ctx, const span *sp, const uint8_t *access, uint32_t n)
{
    vkdl_sched *s = ctx->sched;
    frame *f = cur_frame(s);
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

vkdl_status vkdl_sched_end_command(vkdl_context *ctx)
{
    vkdl_sched *s = ctx->sched;
    if (s->capture)
        return VKDL_OK;                                  /* one command buffer, however long */
    if (s->serialize)
        return vkdl_sched_flush(ctx);
    if (++s->frames[s->cur].n_dispatch >= BATCH_DISPATCHES)
        return submit(s);
    return VKDL_OK;
}

vkdl_status vkdl_sched_begin(vkdl_context *ctx, VkCommandBuffer *cmd)
{
    frame *f = NULL;
    VKDL_TRY(begin(ctx->sched, &f));
    *cmd = f->cmd;
    return VKDL_OK;
}

vkdl_status vkdl_sched_keep_view(vkdl_context *ctx, VkBufferView view)
{
    vkdl_sched *s = ctx->sched;
    frame *f = cur_frame(s);
    if (f->n_views == f->cap_views) {
        size_t cap = f->cap_views ? 2 * f->cap_views : 64;
        VkBufferView *nv = realloc(f->views, cap * sizeof *nv);
        if (!nv) {
            vkDestroyBufferView(ctx->dev.dev, view, NULL);
            return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "dispatch: out of host memory");
        }
        f->views = nv;
        f->cap_views = cap;
    }
    f->views[f->n_views++] = view;
    return VKDL_OK;
}

vkdl_status vkdl_sched_descriptor_set(vkdl_context *ctx, VkDescriptorSetLayout layout, VkDescriptorSet *out)
{
    VkDevice dev = ctx->dev.dev;
    frame *f = cur_frame(ctx->sched);
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

void vkdl_sched_profile_begin(vkdl_context *ctx, const char *name)
{
    frame *f = cur_frame(ctx->sched);
    if (!f->queries)
        return;
    f->names[f->n_queries] = name;
    vkCmdWriteTimestamp(f->cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, f->queries, 2 * f->n_queries);
}

void vkdl_sched_profile_end(vkdl_context *ctx)
{
    frame *f = cur_frame(ctx->sched);
    if (!f->queries)
        return;
    vkCmdWriteTimestamp(f->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, f->queries, 2 * f->n_queries + 1);
    f->n_queries++;
}

/* ---------------------------------------------------------------- transfers */

vkdl_status vkdl_sched_upload(vkdl_context *ctx, const vkdl_tensor *t, const void *src)
{
    if (ctx->sched->capture)
        return not_recordable(ctx->sched, "an upload");
    frame *f = NULL;
    VKDL_TRY(begin(ctx->sched, &f));
    VkDeviceSize size = vkdl_tensor_bytes(t);
    vkdl_staging_range st;
    VKDL_TRY(vkdl_staging_get(f->stage, size, &st));
    memcpy(st.map, src, size);
    span sp = tensor_span(t);
    uint8_t acc = VKDL_WRITE;
    VKDL_TRY(vkdl_sched_track(ctx, &sp, &acc, 1));
    VkBufferCopy region = {st.offset, t->st->alloc.offset + t->offset, size};
    vkCmdCopyBuffer(f->cmd, st.buffer, vkdl_block_buffer(t->st->alloc.block), 1, &region);
    return vkdl_sched_end_command(ctx);
}

vkdl_status vkdl_sched_download(vkdl_context *ctx, const vkdl_tensor *t, void *dst)
{
    frame *f = NULL;
    VKDL_TRY(begin(ctx->sched, &f));
    VkDeviceSize size = vkdl_tensor_bytes(t);
    vkdl_staging_range st;
    VKDL_TRY(vkdl_staging_get(f->stage, size, &st));
    span sp = tensor_span(t);
    uint8_t acc = VKDL_READ;
    VKDL_TRY(vkdl_sched_track(ctx, &sp, &acc, 1));
    VkBufferCopy region = {t->st->alloc.offset + t->offset, st.offset, size};
    vkCmdCopyBuffer(f->cmd, vkdl_block_buffer(t->st->alloc.block), st.buffer, 1, &region);
    /* The frame's staging stays intact until the frame is reused, which flush does not do. */
    VKDL_TRY(vkdl_sched_flush(ctx));
    memcpy(dst, st.map, size);
    return VKDL_OK;
}

vkdl_status vkdl_sched_fill(vkdl_context *ctx, const vkdl_tensor *t, uint32_t pattern)
{
    frame *f = NULL;
    VKDL_TRY(begin(ctx->sched, &f));
    span sp = tensor_span(t);
    uint8_t acc = VKDL_WRITE;
    VKDL_TRY(vkdl_sched_track(ctx, &sp, &acc, 1));
    vkCmdFillBuffer(f->cmd, vkdl_block_buffer(t->st->alloc.block), t->st->alloc.offset + t->offset, vkdl_tensor_bytes(t),
                    pattern);
    return vkdl_sched_end_command(ctx);
}

/* ---------------------------------------------------------------- recordings */

vkdl_status vkdl_sched_capture_begin(vkdl_context *ctx)
{
    vkdl_sched *s = ctx->sched;
    if (s->capture)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "capture: already capturing");
    VKDL_TRY(submit(s));                                 /* earlier work goes first, in its own batch */
    vkdl_recording *rec = calloc(1, sizeof *rec);
    if (!rec)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "capture: out of host memory");
    bool profile = s->profile;
    s->profile = false;                                  /* per-kernel timestamps are the ring's */
    vkdl_status st = frame_init(s, &rec->f);
    s->profile = profile;
    VkResult r = VK_SUCCESS;
    if (st == VKDL_OK) {
        VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
        if ((r = vkBeginCommandBuffer(rec->f.cmd, &bi)) != VK_SUCCESS)
            st = vkdl_vk_fail(r, "capture: vkBeginCommandBuffer");
    }
    if (st != VKDL_OK) {
        frame_destroy(s, &rec->f);
        free(rec);
        return st;
    }
    /* Each replay starts after everything submitted before it (uploads of its inputs). */
    barrier(rec->f.cmd, VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                            VK_ACCESS_TRANSFER_WRITE_BIT,
            VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT);
    rec->f.recording = true;
    s->read.n = s->written.n = 0;
    s->capture = rec;
    s->capture_error = NULL;
    return VKDL_OK;
}

bool vkdl_sched_keep_storage(vkdl_context *ctx, vkdl_storage *st)
{
    vkdl_recording *rec = ctx->sched ? ctx->sched->capture : NULL;
    if (!rec)
        return false;
    if (rec->n_kept == rec->cap_kept) {
        size_t cap = rec->cap_kept ? 2 * rec->cap_kept : 16;
        vkdl_storage **k = realloc(rec->kept, cap * sizeof *k);
        if (!k) {
            not_recordable(ctx->sched, "a scratch tensor (out of host memory)");
            return false;
        }
        rec->kept = k;
        rec->cap_kept = cap;
    }
    rec->kept[rec->n_kept++] = st;
    return true;
}

void vkdl_recording_destroy(vkdl_context *ctx, vkdl_recording *rec)
{
    if (!rec)
        return;
    vkdl_sched *s = ctx->sched;
    frame_destroy(s, &rec->f);
    for (size_t i = 0; i < rec->n_kept; i++)
        vkdl_storage_free(rec->kept[i]);
    free(rec->kept);
    free(rec);
}

vkdl_status vkdl_sched_capture_end(vkdl_context *ctx, vkdl_recording **out)
{
    vkdl_sched *s = ctx->sched;
    vkdl_recording *rec = s->capture;
    *out = NULL;
    if (!rec)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "capture: not capturing");
    s->capture = NULL;
    s->read.n = s->written.n = 0;
    barrier(rec->f.cmd, VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_READ_BIT |
                            VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_HOST_READ_BIT,
            VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_HOST_BIT);
    rec->f.recording = false;
    VkResult r = vkEndCommandBuffer(rec->f.cmd);
    if (s->capture_error || r != VK_SUCCESS) {
        vkdl_status st = s->capture_error
                             ? vkdl_fail(VKDL_ERROR_UNSUPPORTED, "capture: %s cannot be recorded for replay",
                                         s->capture_error)
                             : vkdl_vk_fail(r, "capture: vkEndCommandBuffer");
        vkdl_recording_destroy(ctx, rec);
        return st;
    }
    *out = rec;
    return VKDL_OK;
}

vkdl_status vkdl_sched_replay(vkdl_context *ctx, vkdl_recording *rec)
{
    vkdl_sched *s = ctx->sched;
    if (s->capture)
        return not_recordable(s, "a replay inside a capture");
    VKDL_TRY(submit(s));
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &rec->f.cmd};
    VkResult r = vkQueueSubmit(ctx->dev.queue, 1, &si, rec->f.fence);
    if (r != VK_SUCCESS)
        return vkdl_vk_fail(r, "replay: vkQueueSubmit");
    s->batches++;
    /* Waiting here keeps the ring's hazard tracking whole: nothing of the replay is in flight later. */
    r = vkWaitForFences(ctx->dev.dev, 1, &rec->f.fence, VK_TRUE, UINT64_MAX);
    vkResetFences(ctx->dev.dev, 1, &rec->f.fence);
    if (r != VK_SUCCESS)
        return vkdl_vk_fail(r, "replay: vkWaitForFences");
    return VKDL_OK;
}
