/* Recording a dispatch: each binding is planned once (descriptor range, and the element offset
 * the kernel adds through its push constants), its ranges go to the scheduler's hazard tracking,
 * and the descriptors are pushed or written into a set of the current batch. */
#include "runtime/runtime.h"

#include <string.h>

static bool is_texel(VkDescriptorType type)
{
    return type == VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER || type == VK_DESCRIPTOR_TYPE_STORAGE_TEXEL_BUFFER;
}

static VkDescriptorType binding_type(const vkdl_kernel *k, uint32_t b)
{
    return k->type[b] ? k->type[b] : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
}

static VkDeviceSize binding_align(const vkdl_caps *c, VkDescriptorType type)
{
    VkDeviceSize a = is_texel(type) ? c->min_texel_align : c->min_storage_align;
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

bool vkdl_plan_binding(const vkdl_context *ctx, const vkdl_kernel *k, uint32_t b, const vkdl_tensor *t,
                       vkdl_bind_plan *p, const char **why)
{
    const vkdl_caps *c = &ctx->dev.caps;
    VkDescriptorType type = binding_type(k, b);
    bool texel = is_texel(type);
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

/* Plan every binding and check the launch against the device limits. */
static vkdl_status plan_dispatch(const vkdl_context *ctx, const vkdl_dispatch_info *info, vkdl_bind_plan *plan,
                                 vkdl_span *sp, uint32_t *push, size_t push_cap)
{
    const vkdl_kernel *k = info->kernel;
    const vkdl_caps *c = &ctx->dev.caps;
    if (!vkdl_kernel_enabled(ctx, k))
        return vkdl_fail(VKDL_ERROR_UNSUPPORTED, "%s: this kernel is turned off by VKDL_DISABLE, and the op has no "
                         "other kernel for this case", k->name);
    uint32_t push_bytes = 4 * k->n_bindings + k->push_size;
    if (push_bytes > push_cap || push_bytes > c->max_push_constants)
        return vkdl_fail(VKDL_ERROR_UNSUPPORTED, "%s: %u bytes of push constants exceed the device's %u", k->name,
                         push_bytes, c->max_push_constants);
    for (uint32_t b = 0; b < k->n_bindings; b++) {
        const vkdl_tensor *t = info->tensors[b];
        const char *why = "";
        if (!t || !t->st->alloc.block)
            return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: binding %u is empty (%s)", k->name, b,
                             t ? "a zero-size tensor" : "no tensor");
        if (!vkdl_plan_binding(ctx, k, b, t, &plan[b], &why)) {
            char sh[VKDL_SHAPE_BUF];
            return vkdl_fail(VKDL_ERROR_TOO_LARGE, "%s: cannot bind tensor %u (%s %s): %s", k->name, b,
                             vkdl_shape_str(t, sh, sizeof sh), vkdl_dtype_name(t->dtype), why);
        }
        push[b] = plan[b].elem_offset;
        /* The whole bound range, not just the tensor's bytes: the alignment slack belongs to
         * neighbouring tensors, and to the driver (and synchronization validation) a dispatch
         * may touch anything its descriptors cover. */
        sp[b] = (vkdl_span){t->st->alloc.block, plan[b].offset, plan[b].offset + plan[b].range};
    }
    if (k->push_size)
        memcpy(push + k->n_bindings, info->push, k->push_size);
    const uint32_t *g = info->groups;
    if (g[0] > c->max_wg_count[0] || g[1] > c->max_wg_count[1] || g[2] > c->max_wg_count[2])
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "%s: grid %ux%ux%u exceeds the device's workgroup count limits", k->name,
                         g[0], g[1], g[2]);
    return VKDL_OK;
}

/* The descriptor writes for every binding; texel views are handed to the current batch. */
static vkdl_status write_descriptors(vkdl_context *ctx, const vkdl_dispatch_info *info, const vkdl_bind_plan *plan,
                                     VkWriteDescriptorSet *w, VkDescriptorBufferInfo *bi, VkBufferView *views)
{
    const vkdl_kernel *k = info->kernel;
    for (uint32_t b = 0; b < k->n_bindings; b++) {
        VkDescriptorType type = binding_type(k, b);
        VkBuffer buf = vkdl_block_buffer(info->tensors[b]->st->alloc.block);
        w[b] = (VkWriteDescriptorSet){
            .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
            .dstBinding = b,
            .descriptorCount = 1,
            .descriptorType = type,
        };
        if (!is_texel(type)) {
            bi[b] = (VkDescriptorBufferInfo){buf, plan[b].offset, plan[b].range};
            w[b].pBufferInfo = &bi[b];
            continue;
        }
        VkBufferViewCreateInfo vi = {
            .sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO,
            .buffer = buf,
            .format = k->format[b],
            .offset = plan[b].offset,
            .range = plan[b].range,
        };
        VkResult r = vkCreateBufferView(ctx->dev.dev, &vi, NULL, &views[b]);
        if (r != VK_SUCCESS)
            return vkdl_vk_fail(r, "dispatch: vkCreateBufferView");
        VKDL_TRY(vkdl_sched_keep_view(ctx, views[b]));
        w[b].pTexelBufferView = &views[b];
    }
    return VKDL_OK;
}

static vkdl_status bind_descriptors(vkdl_context *ctx, VkCommandBuffer cmd, const vkdl_pipeline *pl, uint32_t n,
                                    VkWriteDescriptorSet *w)
{
    if (ctx->dev.caps.push_descriptor) {
        ctx->dev.push_descriptor_set(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, vkdl_pipeline_layout(pl), 0, n, w);
        return VKDL_OK;
    }
    VkDescriptorSet set;
    VKDL_TRY(vkdl_sched_descriptor_set(ctx, vkdl_pipeline_set_layout(pl), &set));
    for (uint32_t b = 0; b < n; b++)
        w[b].dstSet = set;
    vkUpdateDescriptorSets(ctx->dev.dev, n, w, 0, NULL);
    vkCmdBindDescriptorSets(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, vkdl_pipeline_layout(pl), 0, 1, &set, 0, NULL);
    return VKDL_OK;
}

vkdl_status vkdl_dispatch(vkdl_context *ctx, const vkdl_dispatch_info *info)
{
    const vkdl_kernel *k = info->kernel;
    vkdl_bind_plan plan[VKDL_MAX_BINDINGS];
    vkdl_span sp[VKDL_MAX_BINDINGS];
    uint32_t push[32];
    VKDL_TRY(plan_dispatch(ctx, info, plan, sp, push, sizeof push));

    vkdl_pipeline *pl;
    VKDL_TRY(vkdl_pipeline_get(ctx, k, info->spec, &pl));
    VkCommandBuffer cmd;
    VKDL_TRY(vkdl_sched_begin(ctx, &cmd));
    VKDL_TRY(vkdl_sched_track(ctx, sp, k->access, k->n_bindings));
    VkWriteDescriptorSet w[VKDL_MAX_BINDINGS];
    VkDescriptorBufferInfo bi[VKDL_MAX_BINDINGS];
    VkBufferView views[VKDL_MAX_BINDINGS];
    VKDL_TRY(write_descriptors(ctx, info, plan, w, bi, views));

    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, vkdl_pipeline_handle(pl));
    VKDL_TRY(bind_descriptors(ctx, cmd, pl, k->n_bindings, w));
    vkCmdPushConstants(cmd, vkdl_pipeline_layout(pl), VK_SHADER_STAGE_COMPUTE_BIT, 0, 4 * k->n_bindings + k->push_size,
                       push);
    vkdl_sched_profile_begin(ctx, k->name);
    vkCmdDispatch(cmd, info->groups[0], info->groups[1], info->groups[2]);
    vkdl_sched_profile_end(ctx);
    return vkdl_sched_end_command(ctx);
}
