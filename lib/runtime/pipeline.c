/* Pipelines, created on first use and cached by (kernel, specialization constants), and the
 * on-disk VkPipelineCache. The cache file is trusted only when its header matches this device and
 * driver and its checksum holds; anything else is ignored and rewritten. */
#include "runtime/runtime.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct vkdl_pipeline {
    const vkdl_kernel *kernel;
    uint32_t spec[VKDL_MAX_SPEC];
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout layout;
    VkPipeline pipeline;
};

struct vkdl_pipelines {
    vkdl_context *ctx;
    VkPipelineCache cache;
    bool dirty;
    char path[600];
    vkdl_pipeline **items;
    size_t n, cap;
};

VkPipeline vkdl_pipeline_handle(const vkdl_pipeline *p) { return p->pipeline; }
VkPipelineLayout vkdl_pipeline_layout(const vkdl_pipeline *p) { return p->layout; }
VkDescriptorSetLayout vkdl_pipeline_set_layout(const vkdl_pipeline *p) { return p->set_layout; }

/* ---------------------------------------------------------------- cache file */

#define CACHE_MAGIC "VKDLPC01"

typedef struct cache_header {
    char magic[8];
    uint32_t header_size, vendor_id, device_id, driver_version;
    uint8_t cache_uuid[VK_UUID_SIZE], device_uuid[VK_UUID_SIZE];
    uint64_t data_size, checksum;
} cache_header;

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static void fill_header(const vkdl_caps *c, cache_header *h)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, CACHE_MAGIC, 8);
    h->header_size = sizeof *h;
    h->vendor_id = c->vendor_id;
    h->device_id = c->device_id;
    h->driver_version = c->driver_version;
    memcpy(h->cache_uuid, c->cache_uuid, VK_UUID_SIZE);
    memcpy(h->device_uuid, c->device_uuid, VK_UUID_SIZE);
}

/* Returns malloc'd Vulkan cache data when the file is ours and intact, else NULL. */
static void *load_cache(const char *path, const vkdl_caps *c, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    cache_header want, got;
    fill_header(c, &want);
    void *data = NULL;
    if (fread(&got, sizeof got, 1, f) != 1)
        goto out;
    want.data_size = got.data_size;
    want.checksum = got.checksum;
    /* Vulkan's own cache header is 32 bytes: length, version, vendor, device, cache UUID. */
    if (memcmp(&got, &want, sizeof got) != 0 || got.data_size < 32 || got.data_size > (256u << 20))
        goto out;
    data = malloc(got.data_size);
    if (!data || fread(data, 1, got.data_size, f) != got.data_size || fgetc(f) != EOF ||
        fnv1a(data, got.data_size) != got.checksum) {
        free(data);
        data = NULL;
        goto out;
    }
    uint32_t vk_hdr[4];
    memcpy(vk_hdr, data, sizeof vk_hdr);
    if (vk_hdr[0] < 32 || vk_hdr[1] != VK_PIPELINE_CACHE_HEADER_VERSION_ONE || vk_hdr[2] != c->vendor_id ||
        vk_hdr[3] != c->device_id || memcmp((uint8_t *)data + 16, c->cache_uuid, VK_UUID_SIZE) != 0) {
        free(data);
        data = NULL;
        goto out;
    }
    *size = got.data_size;
out:
    fclose(f);
    return data;
}

static int mkdirs(const char *dir)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(tmp, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

typedef struct cache_file {
    const cache_header *h;
    const void *data;
} cache_file;

static vkdl_status write_cache(FILE *f, const char *tmp, void *user)
{
    const cache_file *c = user;
    if (fwrite(c->h, sizeof *c->h, 1, f) != 1 || fwrite(c->data, 1, c->h->data_size, f) != c->h->data_size)
        return vkdl_fail(VKDL_ERROR_IO, "pipeline cache: writing '%s'", tmp);
    return VKDL_OK;
}

/* Atomically replaced: a reader never sees a torn file. Best effort and silent: a failure must
 * not replace the message of an error the caller may still be reading. */
static void save_cache(vkdl_pipelines *p)
{
    vkdl_context *ctx = p->ctx;
    size_t size = 0;
    if (!p->dirty || !p->path[0] || vkGetPipelineCacheData(ctx->dev.dev, p->cache, &size, NULL) != VK_SUCCESS || !size)
        return;
    void *data = malloc(size);
    if (!data)
        return;
    if (vkGetPipelineCacheData(ctx->dev.dev, p->cache, &size, data) != VK_SUCCESS || mkdirs(ctx->cache_dir) != 0) {
        free(data);
        return;
    }
    cache_header h;
    fill_header(&ctx->dev.caps, &h);
    h.data_size = size;
    h.checksum = fnv1a(data, size);
    char kept[512];
    snprintf(kept, sizeof kept, "%s", vkdl_last_error());
    if (vkdl_atomic_write("pipeline cache", p->path, write_cache, &(cache_file){&h, data}) != VKDL_OK)
        vkdl_fail(VKDL_OK, "%s", kept);
    free(data);
}

vkdl_status vkdl_pipelines_create(vkdl_context *ctx, vkdl_pipelines **out)
{
    vkdl_pipelines *p = calloc(1, sizeof *p);
    if (!p)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "context_create: out of host memory");
    p->ctx = ctx;
    const vkdl_caps *c = &ctx->dev.caps;
    void *data = NULL;
    size_t size = 0;
    if (!(ctx->flags & VKDL_CONTEXT_NO_DISK_CACHE) && ctx->cache_dir[0]) {
        char uuid[2 * VK_UUID_SIZE + 1];
        for (unsigned i = 0; i < VK_UUID_SIZE; i++)
            snprintf(uuid + 2 * i, 3, "%02x", c->device_uuid[i]);
        snprintf(p->path, sizeof p->path, "%s/pipelines-%s-%08x.bin", ctx->cache_dir, uuid, c->driver_version);
        data = load_cache(p->path, c, &size);
    }
    VkPipelineCacheCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
        .initialDataSize = data ? size : 0,
        .pInitialData = data,
    };
    VkResult r = vkCreatePipelineCache(ctx->dev.dev, &ci, NULL, &p->cache);
    if (r != VK_SUCCESS && data) {
        ci.initialDataSize = 0;     /* the driver refused our data after all: start empty */
        ci.pInitialData = NULL;
        r = vkCreatePipelineCache(ctx->dev.dev, &ci, NULL, &p->cache);
    }
    free(data);
    if (r != VK_SUCCESS) {
        free(p);
        return vkdl_vk_fail(r, "context_create: vkCreatePipelineCache");
    }
    *out = p;
    return VKDL_OK;
}

static void pipeline_destroy(VkDevice dev, vkdl_pipeline *pl)
{
    if (pl->pipeline)
        vkDestroyPipeline(dev, pl->pipeline, NULL);
    if (pl->layout)
        vkDestroyPipelineLayout(dev, pl->layout, NULL);
    if (pl->set_layout)
        vkDestroyDescriptorSetLayout(dev, pl->set_layout, NULL);
    free(pl);
}

void vkdl_pipelines_destroy(vkdl_pipelines *p)
{
    if (!p)
        return;
    VkDevice dev = p->ctx->dev.dev;
    save_cache(p);
    for (size_t i = 0; i < p->n; i++)
        pipeline_destroy(dev, p->items[i]);
    free(p->items);
    vkDestroyPipelineCache(dev, p->cache, NULL);
    free(p);
}

static vkdl_status build(vkdl_context *ctx, const vkdl_kernel *k, const uint32_t *spec, vkdl_pipeline *pl)
{
    VkDevice dev = ctx->dev.dev;
    const vkdl_caps *c = &ctx->dev.caps;
    char what[128];
    VkDescriptorSetLayoutBinding b[VKDL_MAX_BINDINGS];
    for (uint32_t i = 0; i < k->n_bindings; i++)
        b[i] = (VkDescriptorSetLayoutBinding){
            .binding = i,
            .descriptorType = k->type[i] ? k->type[i] : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .descriptorCount = 1,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        };
    VkDescriptorSetLayoutCreateInfo sl = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .flags = c->push_descriptor ? VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR : 0,
        .bindingCount = k->n_bindings,
        .pBindings = b,
    };
    VkResult r = vkCreateDescriptorSetLayout(dev, &sl, NULL, &pl->set_layout);
    if (r != VK_SUCCESS)
        goto fail;
    VkPushConstantRange pc = {
        .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        .size = 4 * k->n_bindings + k->push_size,
    };
    VkPipelineLayoutCreateInfo li = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
        .setLayoutCount = 1,
        .pSetLayouts = &pl->set_layout,
        .pushConstantRangeCount = 1,
        .pPushConstantRanges = &pc,
    };
    r = vkCreatePipelineLayout(dev, &li, NULL, &pl->layout);
    if (r != VK_SUCCESS)
        goto fail;
    VkShaderModuleCreateInfo mi = {
        .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
        .codeSize = *k->spirv_size,
        .pCode = k->spirv,
    };
    VkShaderModule mod;
    r = vkCreateShaderModule(dev, &mi, NULL, &mod);
    if (r != VK_SUCCESS)
        goto fail;
    VkSpecializationMapEntry me[VKDL_MAX_SPEC];
    for (uint32_t i = 0; i < k->n_spec; i++)
        me[i] = (VkSpecializationMapEntry){.constantID = i, .offset = 4 * i, .size = 4};
    VkSpecializationInfo si = {
        .mapEntryCount = k->n_spec,
        .pMapEntries = me,
        .dataSize = 4 * k->n_spec,
        .pData = spec,
    };
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {
            .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
            .flags = k->full_subgroups && c->subgroup_size_control ? VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT : 0,
            .stage = VK_SHADER_STAGE_COMPUTE_BIT,
            .module = mod,
            .pName = "main",
            .pSpecializationInfo = k->n_spec ? &si : NULL,
        },
        .layout = pl->layout,
    };
    r = vkCreateComputePipelines(dev, ctx->pipes->cache, 1, &ci, NULL, &pl->pipeline);
    vkDestroyShaderModule(dev, mod, NULL);
    if (r != VK_SUCCESS)
        goto fail;
    return VKDL_OK;
fail:
    snprintf(what, sizeof what, "%s: creating its pipeline", k->name);
    return vkdl_vk_fail(r, what);
}

vkdl_status vkdl_pipeline_get(vkdl_context *ctx, const vkdl_kernel *k, const uint32_t *spec, vkdl_pipeline **out)
{
    vkdl_pipelines *p = ctx->pipes;
    uint32_t key[VKDL_MAX_SPEC] = {0};
    if (k->n_spec)
        memcpy(key, spec, 4 * k->n_spec);
    for (size_t i = 0; i < p->n; i++) {
        vkdl_pipeline *pl = p->items[i];
        if (pl->kernel == k && memcmp(pl->spec, key, sizeof key) == 0) {
            if (i > 0) { /* keep hot pipelines near the front */
                p->items[i] = p->items[i - 1];
                p->items[i - 1] = pl;
            }
            *out = pl;
            return VKDL_OK;
        }
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 32;
        vkdl_pipeline **ni = realloc(p->items, cap * sizeof *ni);
        if (!ni)
            return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", k->name);
        p->items = ni;
        p->cap = cap;
    }
    vkdl_pipeline *pl = calloc(1, sizeof *pl);
    if (!pl)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", k->name);
    pl->kernel = k;
    memcpy(pl->spec, key, sizeof key);
    vkdl_status s = build(ctx, k, key, pl);
    if (s != VKDL_OK) {
        pipeline_destroy(ctx->dev.dev, pl);
        return s;
    }
    p->items[p->n++] = pl;
    p->dirty = true;
    *out = pl;
    return VKDL_OK;
}
