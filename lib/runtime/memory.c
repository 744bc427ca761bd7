/* Suballocator: tensors are ranges of large VkDeviceMemory blocks, each with one VkBuffer over
 * the whole block, so binding a tensor is (buffer, offset, range) and no Vulkan object is made per
 * tensor. Free ranges are kept sorted per block and merged with their neighbours. */
#include "runtime/runtime.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_BLOCK (64ull << 20)
#define ALIGN_MIN 64ull

typedef struct range {
    VkDeviceSize offset, size;
} range;

struct vkdl_block {
    VkDeviceMemory memory;
    VkBuffer buffer;
    void *map;
    VkDeviceSize size, used;
    bool dedicated;                 /* made for one large tensor; released when empty */
    range *free;
    size_t n_free, cap_free;
    vkdl_block *next;
};

struct vkdl_memory {
    vkdl_context *ctx;
    uint32_t type;                  /* memory type index for tensors */
    bool mapped;
    VkDeviceSize align, block_size;
    vkdl_block *blocks;
};

VkBuffer vkdl_block_buffer(const vkdl_block *b) { return b->buffer; }
void *vkdl_block_map(const vkdl_block *b) { return b->map; }
VkDeviceSize vkdl_block_size(const vkdl_block *b) { return b->size; }

static VkDeviceSize align_up(VkDeviceSize v, VkDeviceSize a) { return (v + a - 1) / a * a; }

static int find_type(const vkdl_caps *c, VkMemoryPropertyFlags want)
{
    for (uint32_t i = 0; i < c->mem.memoryTypeCount; i++)
        if ((c->mem.memoryTypes[i].propertyFlags & want) == want)
            return (int)i;
    return -1;
}

vkdl_status vkdl_memory_create(vkdl_context *ctx, vkdl_memory **out)
{
    const vkdl_caps *c = &ctx->dev.caps;
    vkdl_memory *m = calloc(1, sizeof *m);
    if (!m)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "context_create: out of host memory");
    m->ctx = ctx;
    const VkMemoryPropertyFlags mappable = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    int t = c->uma ? find_type(c, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | mappable) : -1;
    m->mapped = t >= 0;
    if (t < 0)
        t = find_type(c, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
    if (t < 0)
        t = find_type(c, 0);
    m->type = (uint32_t)t;
    m->align = ALIGN_MIN;
    if (c->min_storage_align > m->align)
        m->align = c->min_storage_align;
    if (c->min_texel_align > m->align)
        m->align = c->min_texel_align;
    m->block_size = DEFAULT_BLOCK;
    if (c->max_alloc && m->block_size > c->max_alloc)
        m->block_size = c->max_alloc;
    *out = m;
    return VKDL_OK;
}

static void block_destroy(vkdl_memory *m, vkdl_block *b)
{
    VkDevice dev = m->ctx->dev.dev;
    if (b->buffer)
        vkDestroyBuffer(dev, b->buffer, NULL);
    if (b->memory)
        vkFreeMemory(dev, b->memory, NULL);
    free(b->free);
    free(b);
}

void vkdl_memory_destroy(vkdl_memory *m)
{
    if (!m)
        return;
    while (m->blocks) {
        vkdl_block *b = m->blocks;
        m->blocks = b->next;
        block_destroy(m, b);
    }
    free(m);
}

static vkdl_status block_create(vkdl_memory *m, VkDeviceSize size, bool dedicated, vkdl_block **out)
{
    VkDevice dev = m->ctx->dev.dev;
    vkdl_block *b = calloc(1, sizeof *b);
    if (!b)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "tensor_create: out of host memory");
    b->size = size;
    b->dedicated = dedicated;
    VkBufferCreateInfo bi = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT |
                 VK_BUFFER_USAGE_STORAGE_TEXEL_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                 VK_BUFFER_USAGE_TRANSFER_DST_BIT,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    VkResult r = vkCreateBuffer(dev, &bi, NULL, &b->buffer);
    vkdl_status s = VKDL_OK;
    if (r != VK_SUCCESS) {
        s = vkdl_vk_fail(r, "tensor_create: vkCreateBuffer");
        goto fail;
    }
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(dev, b->buffer, &req);
    if (!(req.memoryTypeBits & (1u << m->type))) {
        s = vkdl_fail(VKDL_ERROR_VULKAN, "tensor_create: buffer cannot live in memory type %u", m->type);
        goto fail;
    }
    VkMemoryAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .allocationSize = req.size,
        .memoryTypeIndex = m->type,
    };
    r = vkAllocateMemory(dev, &ai, NULL, &b->memory);
    if (r != VK_SUCCESS) {
        s = vkdl_vk_fail(r, "tensor_create: vkAllocateMemory");
        goto fail;
    }
    r = vkBindBufferMemory(dev, b->buffer, b->memory, 0);
    if (r == VK_SUCCESS && m->mapped)
        r = vkMapMemory(dev, b->memory, 0, VK_WHOLE_SIZE, 0, &b->map);
    if (r != VK_SUCCESS) {
        s = vkdl_vk_fail(r, "tensor_create: binding or mapping a memory block");
        goto fail;
    }
    b->free = malloc(sizeof *b->free);
    if (!b->free) {
        s = vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "tensor_create: out of host memory");
        goto fail;
    }
    b->free[0] = (range){0, size};
    b->n_free = b->cap_free = 1;
    *out = b;
    return VKDL_OK;
fail:
    block_destroy(m, b);
    return s;
}

static bool block_take(vkdl_block *b, VkDeviceSize size, VkDeviceSize *offset)
{
    for (size_t i = 0; i < b->n_free; i++) {
        if (b->free[i].size < size)
            continue;
        *offset = b->free[i].offset;
        b->free[i].offset += size;
        b->free[i].size -= size;
        if (b->free[i].size == 0) {
            memmove(&b->free[i], &b->free[i + 1], (b->n_free - i - 1) * sizeof *b->free);
            b->n_free--;
        }
        b->used += size;
        return true;
    }
    return false;
}

/* Release empty blocks: dedicated ones always, regular ones when asked to (allocation failed). */
static void release_empty(vkdl_memory *m, bool regular_too)
{
    for (vkdl_block **pb = &m->blocks; *pb;) {
        vkdl_block *b = *pb;
        if (b->used == 0 && (b->dedicated || regular_too)) {
            *pb = b->next;
            block_destroy(m, b);
        } else {
            pb = &b->next;
        }
    }
}

vkdl_status vkdl_memory_alloc(vkdl_memory *m, VkDeviceSize size, vkdl_alloc *out)
{
    const vkdl_caps *c = &m->ctx->dev.caps;
    size = align_up(size, m->align);
    if (c->max_alloc && size > c->max_alloc)
        return vkdl_fail(VKDL_ERROR_TOO_LARGE, "tensor_create: %llu bytes exceed the device's maxMemoryAllocationSize (%llu)",
                         (unsigned long long)size, (unsigned long long)c->max_alloc);
    VkDeviceSize heap = c->mem.memoryHeaps[c->mem.memoryTypes[m->type].heapIndex].size;
    if (size > heap)
        return vkdl_fail(VKDL_ERROR_OUT_OF_DEVICE_MEMORY, "tensor_create: %llu bytes exceed the device heap (%llu)",
                         (unsigned long long)size, (unsigned long long)heap);
    bool dedicated = size > m->block_size / 2;
    if (!dedicated)
        for (vkdl_block *b = m->blocks; b; b = b->next)
            if (!b->dedicated && block_take(b, size, &out->offset)) {
                out->block = b;
                out->size = size;
                return VKDL_OK;
            }
    vkdl_block *b = NULL;
    vkdl_status s = block_create(m, dedicated ? size : m->block_size, dedicated, &b);
    if (s == VKDL_ERROR_OUT_OF_DEVICE_MEMORY) {
        /* Give back cached empty blocks and try once more before failing; the work in flight may
         * still use them, so wait for it first. */
        vkdl_sched_flush(m->ctx);
        release_empty(m, true);
        s = block_create(m, dedicated ? size : m->block_size, dedicated, &b);
        if (s != VKDL_OK)
            return vkdl_fail(s, "tensor_create: out of device memory allocating %llu bytes",
                             (unsigned long long)size);
    }
    if (s != VKDL_OK)
        return s;
    b->next = m->blocks;
    m->blocks = b;
    block_take(b, size, &out->offset);
    out->block = b;
    out->size = size;
    return VKDL_OK;
}

void vkdl_memory_free(vkdl_memory *m, vkdl_alloc *a)
{
    vkdl_block *b = a->block;
    if (!b)
        return;
    range r = {a->offset, a->size};
    size_t i = 0;
    while (i < b->n_free && b->free[i].offset < r.offset)
        i++;
    bool merge_prev = i > 0 && b->free[i - 1].offset + b->free[i - 1].size == r.offset;
    bool merge_next = i < b->n_free && r.offset + r.size == b->free[i].offset;
    if (merge_prev && merge_next) {
        b->free[i - 1].size += r.size + b->free[i].size;
        memmove(&b->free[i], &b->free[i + 1], (b->n_free - i - 1) * sizeof *b->free);
        b->n_free--;
    } else if (merge_prev) {
        b->free[i - 1].size += r.size;
    } else if (merge_next) {
        b->free[i].offset = r.offset;
        b->free[i].size += r.size;
    } else {
        if (b->n_free == b->cap_free) {
            size_t cap = b->cap_free * 2;
            range *nf = realloc(b->free, cap * sizeof *nf);
            if (!nf)
                return; /* the range leaks inside the block until it is destroyed; nothing unsafe */
            b->free = nf;
            b->cap_free = cap;
        }
        memmove(&b->free[i + 1], &b->free[i], (b->n_free - i) * sizeof *b->free);
        b->free[i] = r;
        b->n_free++;
    }
    b->used -= r.size;
    a->block = NULL;
}

void vkdl_memory_trim(vkdl_memory *m) { release_empty(m, false); }

/* ---------------------------------------------------------------- staging */

#define STAGING_CHUNK (16u << 20)

typedef struct chunk {
    VkBuffer buffer;
    VkDeviceMemory memory;
    void *map;
    VkDeviceSize size, used;
} chunk;

struct vkdl_staging {
    vkdl_context *ctx;
    uint32_t type;                  /* host-visible coherent memory type; UINT32_MAX if none */
    chunk *chunks;
    size_t n;
};

vkdl_status vkdl_staging_create(vkdl_context *ctx, vkdl_staging **out)
{
    vkdl_staging *s = calloc(1, sizeof *s);
    if (!s)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "context_create: out of host memory");
    s->ctx = ctx;
    int t = find_type(&ctx->dev.caps, VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT);
    s->type = t < 0 ? UINT32_MAX : (uint32_t)t;
    *out = s;
    return VKDL_OK;
}

static void chunk_free(VkDevice dev, chunk *c)
{
    if (c->buffer)
        vkDestroyBuffer(dev, c->buffer, NULL);
    if (c->memory)
        vkFreeMemory(dev, c->memory, NULL);
}

void vkdl_staging_destroy(vkdl_staging *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        chunk_free(s->ctx->dev.dev, &s->chunks[i]);
    free(s->chunks);
    free(s);
}

void vkdl_staging_reset(vkdl_staging *s)
{
    for (size_t i = 0; i < s->n; i++)
        s->chunks[i].used = 0;
}

static vkdl_status chunk_create(vkdl_staging *s, VkDeviceSize size, chunk *c)
{
    VkDevice dev = s->ctx->dev.dev;
    VkBufferCreateInfo bi = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
    };
    *c = (chunk){.size = size};
    VkResult r = vkCreateBuffer(dev, &bi, NULL, &c->buffer);
    VkMemoryRequirements req;
    if (r == VK_SUCCESS) {
        vkGetBufferMemoryRequirements(dev, c->buffer, &req);
        VkMemoryAllocateInfo ai = {
            .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
            .allocationSize = req.size,
            .memoryTypeIndex = s->type,
        };
        r = vkAllocateMemory(dev, &ai, NULL, &c->memory);
    }
    if (r == VK_SUCCESS)
        r = vkBindBufferMemory(dev, c->buffer, c->memory, 0);
    if (r == VK_SUCCESS)
        r = vkMapMemory(dev, c->memory, 0, VK_WHOLE_SIZE, 0, &c->map);
    if (r != VK_SUCCESS) {
        chunk_free(dev, c);
        return vkdl_vk_fail(r, "transfer: staging buffer");
    }
    return VKDL_OK;
}

vkdl_status vkdl_staging_get(vkdl_staging *s, VkDeviceSize size, vkdl_staging_range *out)
{
    /* Steps of 16 bytes, and chunks a multiple of them, so `used` never passes `size` (the
     * free-space test would wrap around and hand out offsets past the end). */
    VkDeviceSize rounded = (size + 15) & ~(VkDeviceSize)15;
    chunk *c = NULL;
    for (size_t i = 0; i < s->n && !c; i++)
        if (s->chunks[i].size - s->chunks[i].used >= size)
            c = &s->chunks[i];
    if (!c) {
        if (s->type == UINT32_MAX)
            return vkdl_fail(VKDL_ERROR_UNSUPPORTED, "transfer: the device has no host-visible memory");
        chunk *nc = realloc(s->chunks, (s->n + 1) * sizeof *nc);
        if (!nc)
            return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "transfer: out of host memory");
        s->chunks = nc;
        VKDL_TRY(chunk_create(s, rounded > STAGING_CHUNK ? rounded : STAGING_CHUNK, &s->chunks[s->n]));
        c = &s->chunks[s->n++];
    }
    *out = (vkdl_staging_range){c->buffer, c->used, (char *)c->map + c->used};
    c->used += rounded;
    return VKDL_OK;
}
