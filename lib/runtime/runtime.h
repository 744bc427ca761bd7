/* The runtime layer (lib/runtime/): errors, shapes, devices, memory, tensors, kernels, scheduling
 * and the context. Internal to lib/; nothing here may use the layers above (ops, nn, io). */
#ifndef VKDL_RUNTIME_H
#define VKDL_RUNTIME_H

#include "vkdl.h"

#include <stdbool.h>
#include <vulkan/vulkan.h>

#define VKDL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* SplitMix64 (Steele et al., OOPSLA 2014): advances *state and returns the next 64 random bits;
 * integer-only, so seeded streams (initialisation, shuffles) are the same on every machine. */
static inline uint64_t vkdl_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ------------------------------------------------------------------ errors (error.c) */

/* Record a formatted message for vkdl_last_error() and return status (so `return vkdl_fail(...)`). */
vkdl_status vkdl_fail(vkdl_status status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Deliver one line to the vkdl_set_log callback, or to stderr by default. */
void vkdl_log(vkdl_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Map a VkResult to a status, recording "what: VK_ERROR_..." as the message. */
vkdl_status vkdl_vk_fail(VkResult r, const char *what);
const char *vkdl_vk_result_name(VkResult r);
/* The extension chain of an *_info struct (its next field): VKDL_OK when every link's type is one of
 * accepted[0..n) and none appears twice; otherwise "<op>: unknown extension struct type N". */
vkdl_status vkdl_check_chain(const char *op, const void *next, const vkdl_structure_type *accepted, size_t n);
/* vkdl_check_chain accepting no extension struct: next must be NULL. */
vkdl_status vkdl_check_next(const char *op, const void *next);
/* The first link of type in a chain vkdl_check_chain accepted, or NULL. */
const void *vkdl_find_ext(const void *next, vkdl_structure_type type);

#define VKDL_TRY(expr)                  \
    do {                                \
        vkdl_status try_s_ = (expr);    \
        if (try_s_ != VKDL_OK)          \
            return try_s_;              \
    } while (0)

/* ------------------------------------------------------------------ files (file.c) */

/* Writes a file's contents to f (named tmp, for messages); returns the status of the write. */
typedef vkdl_status (*vkdl_write_fn)(FILE *f, const char *tmp, void *user);
/* Replace path atomically: fn writes a temporary file next to it (unique per process and call),
 * which is synced and renamed over path, keeping the mode of the file it replaces (new files:
 * 0644 less the umask). On any failure the temporary is removed and path is untouched; failures
 * are recorded as "<op>: ...". */
vkdl_status vkdl_atomic_write(const char *op, const char *path, vkdl_write_fn fn, void *user);

/* ------------------------------------------------------------------ shapes (shape.c) */

/* "3x4x5" into buf (a scalar prints as "scalar"); returns buf. */
char *vkdl_shape_str(const vkdl_tensor *t, char *buf, size_t n);
#define VKDL_SHAPE_BUF 96
/* Checks shared by every op; on failure they record "<op>: ..." and return the status. */
vkdl_status vkdl_check_tensor(const char *op, const char *name, const vkdl_tensor *t);
/* t (not NULL) is a live handle: not one of a freed autograd graph. */
vkdl_status vkdl_check_live(const char *op, const char *name, const vkdl_tensor *t);
vkdl_status vkdl_check_same_ctx(const char *op, const vkdl_tensor *a, const vkdl_tensor *b);
vkdl_status vkdl_check_dtype(const char *op, const char *name, const vkdl_tensor *t, vkdl_dtype want);
vkdl_status vkdl_check_same_shape(const char *op, const vkdl_tensor *a, const vkdl_tensor *b);
/* Product of dims with overflow check (limit 2^62 elements). */
vkdl_status vkdl_numel_checked(const char *op, int ndim, const int64_t *shape, int64_t *numel);

/* ------------------------------------------------------------------ device (device.c) */

/* Driver quirks: each flag is set in one place (device.c, quirks_for) with the reason. */
enum vkdl_quirk {
    VKDL_QUIRK_CPU_FRIENDLY_KERNELS = 1u << 0, /* CPU-type drivers: no shared memory, texel loads */
    VKDL_QUIRK_NO_TIMESTAMPS = 1u << 1,        /* timestamps absent or meaningless */
    VKDL_QUIRK_LOOP_LIMIT = 1u << 2,           /* loops stop silently after caps.max_loop_iterations */
};

typedef struct vkdl_caps {
    char name[VK_MAX_PHYSICAL_DEVICE_NAME_SIZE];
    char driver_name[VK_MAX_DRIVER_NAME_SIZE];
    char driver_info[VK_MAX_DRIVER_INFO_SIZE];
    VkPhysicalDeviceType type;
    VkDriverId driver_id;
    uint32_t api_version, driver_version, vendor_id, device_id;
    uint8_t device_uuid[VK_UUID_SIZE], cache_uuid[VK_UUID_SIZE];

    uint32_t subgroup_size, subgroup_min, subgroup_max;
    VkSubgroupFeatureFlags subgroup_ops;
    bool subgroup_size_control;
    bool fp16, int8, storage16, storage8, push_descriptor, timestamps, coopmat;
    bool f16_texel;                 /* R16G16B16A16_SFLOAT and R16_SFLOAT uniform texel buffers */
    float timestamp_period;
    uint32_t n_coopmat;
    struct { uint32_t m, n, k, a_type, b_type, c_type, result_type, scope; } coopmat_shapes[16];

    uint32_t max_shared, max_wg_invocations, max_wg_size[3], max_wg_count[3], max_push_constants;
    VkDeviceSize max_storage_range, max_alloc, min_storage_align, min_texel_align;
    uint32_t max_texel_elements;
    bool uma;                       /* all device-local memory is host visible: no staging needed */
    VkPhysicalDeviceMemoryProperties mem;
    uint32_t quirks;
    uint32_t max_loop_iterations;   /* per invocation, all loops together; 0 = no limit */
    /* Kernel variants turned off by name with VKDL_DISABLE (a driver miscompiles one, say): the
     * ops pick another variant where they have one, else the dispatch fails as unsupported. */
    const char *kernels_off[16];
    uint32_t n_kernels_off;
} vkdl_caps;

typedef struct vkdl_device {
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice phys;
    VkDevice dev;
    VkQueue queue;
    uint32_t queue_family;
    vkdl_caps caps;
    uint64_t validation_messages;   /* written by the messenger callback */
    PFN_vkCmdPushDescriptorSetKHR push_descriptor_set;
} vkdl_device;

/* Open the chosen device; the VKDL_DISABLE / VKDL_LIMIT switches go into its caps here, once. */
vkdl_status vkdl_device_open(vkdl_device *d, const char *select, bool validate);
void vkdl_device_close(vkdl_device *d);
void vkdl_caps_print(FILE *out, const vkdl_caps *c);
/* The public view of c (out->next already checked). */
void vkdl_caps_info(const vkdl_caps *c, vkdl_device_info *out);

/* ------------------------------------------------------------------ memory (memory.c) */

typedef struct vkdl_block vkdl_block;

typedef struct vkdl_alloc {
    vkdl_block *block;
    VkDeviceSize offset, size;
} vkdl_alloc;

typedef struct vkdl_memory vkdl_memory; /* the suballocator */

vkdl_status vkdl_memory_create(vkdl_context *ctx, vkdl_memory **out);
void vkdl_memory_destroy(vkdl_memory *m);
vkdl_status vkdl_memory_alloc(vkdl_memory *m, VkDeviceSize size, vkdl_alloc *out);
void vkdl_memory_free(vkdl_memory *m, vkdl_alloc *a);
/* Release blocks that became empty (called when no work is in flight). */
void vkdl_memory_trim(vkdl_memory *m);
VkBuffer vkdl_block_buffer(const vkdl_block *b);
void *vkdl_block_map(const vkdl_block *b); /* NULL when not host visible */
VkDeviceSize vkdl_block_size(const vkdl_block *b);

/* Staging: host-visible chunks for copies to and from device-only memory. Each scheduler frame
 * owns one; its ranges stay valid until the frame's work has completed and it is reset. */
typedef struct vkdl_staging vkdl_staging;
typedef struct vkdl_staging_range {
    VkBuffer buffer;
    VkDeviceSize offset;
    void *map;                      /* host address of offset */
} vkdl_staging_range;

vkdl_status vkdl_staging_create(vkdl_context *ctx, vkdl_staging **out);
void vkdl_staging_destroy(vkdl_staging *s);
vkdl_status vkdl_staging_get(vkdl_staging *s, VkDeviceSize size, vkdl_staging_range *out);
void vkdl_staging_reset(vkdl_staging *s);

/* ------------------------------------------------------------------ tensors (tensor.c) */

typedef struct vkdl_storage {
    int refs;
    vkdl_context *ctx;
    size_t bytes;
    void *host;                     /* CPU backend, or mapped device memory; NULL if neither */
    vkdl_alloc alloc;               /* Vulkan backend */
} vkdl_storage;

/* vkdl_tensor.handle: what a handle is. Autograd graph handles live in context-owned slots that are
 * never returned to malloc while the context lives, so a handle kept past its graph's end is still
 * readable memory and is recognised as dead instead of being used after free. */
#define VKDL_HANDLE_USER 0x7e450001u   /* created by the user or a library object, freed by destroy */
#define VKDL_HANDLE_GRAPH 0x7e450002u  /* in a slot, owned by the autograd graph */
#define VKDL_HANDLE_DEAD 0x7e45deadu   /* in a slot whose graph was freed: no storage, quarantined */
/* A dead slot is reused only once this many graph frees (the one that killed it included) have
 * happened and more than VKDL_QUARANTINE_SLOTS dead slots wait: stale handles are reported for a
 * long while, and memory stays bounded. */
#define VKDL_QUARANTINE_FREES 3
#define VKDL_QUARANTINE_SLOTS 1024

struct vkdl_tensor {
    uint32_t handle;                /* VKDL_HANDLE_* */
    vkdl_context *ctx;
    vkdl_storage *st;
    size_t offset;                  /* bytes into the storage (views) */
    vkdl_dtype dtype;
    int ndim;
    int64_t shape[VKDL_MAX_DIMS];
    int64_t numel;
    /* autograd (autograd.c); views and copies start with all of these cleared */
    bool requires_grad;             /* a leaf whose gradient is kept */
    bool tracked;                   /* a leaf, or computed from one while recording */
    bool grad_owned;                /* grad is destroyed with the tensor (leaves) */
    bool grad_zero;                 /* grad holds zeros: the next gradient may overwrite it */
    bool grad_known;                /* (a gradient) every element is grad_value, known on the host */
    float grad_value;
    vkdl_tensor *grad;
    /* dead slots: the quarantine queue, and the count of graph frees when this one died */
    vkdl_tensor *next_dead;
    uint64_t died;
};

static inline size_t vkdl_tensor_bytes(const vkdl_tensor *t) { return (size_t)t->numel * vkdl_dtype_size(t->dtype); }
/* Host pointer to the first element (CPU backend only). */
static inline void *vkdl_tensor_host(const vkdl_tensor *t) { return (char *)t->st->host + t->offset; }
/* Storage shared by a tensor and its views (refcounted); tensors over an existing storage. */
vkdl_status vkdl_storage_create(vkdl_context *ctx, size_t bytes, vkdl_storage **out);
void vkdl_storage_release(vkdl_storage *st);
/* Free st now, whatever its count (a recording's kept storage). */
void vkdl_storage_free(vkdl_storage *st);
/* A tensor of the given shape on st (taking one reference), or on new storage when st is NULL. */
vkdl_status vkdl_tensor_create_on(vkdl_context *ctx, vkdl_dtype dtype, int ndim, const int64_t *shape,
                                  vkdl_storage *st, size_t offset, vkdl_tensor **out);
/* Move t onto st at byte offset (its contents are not copied; its own storage is released):
 * how an optimizer gathers a module's parameters into one flat tensor behind the same handles. */
void vkdl_tensor_rebind(vkdl_tensor *t, vkdl_storage *st, size_t offset);
/* Move t, a new handle nobody else holds yet, into a context-owned slot (*t changes). */
vkdl_status vkdl_tensor_to_slot(vkdl_tensor **t);
/* Free a slot handle's storage (and an owned gradient), mark it dead and quarantine the slot. */
void vkdl_tensor_retire(vkdl_tensor *t);
/* Count one graph free: dead slots age towards reuse. */
void vkdl_slots_advance(vkdl_context *ctx);
/* Free every quarantined slot (context destroy, after the graph has retired its handles). */
void vkdl_slots_destroy(vkdl_context *ctx);
/* Collapse to [outer, n, inner] around axis. */
void vkdl_split_axis(const vkdl_tensor *t, int axis, int64_t *outer, int64_t *n, int64_t *inner);

/* f32 <-> f16 / bf16, round to nearest even, NaN and inf kept. */
uint16_t vkdl_f32_to_f16(float f);
float vkdl_f16_to_f32(uint16_t h);
uint16_t vkdl_f32_to_bf16(float f);
float vkdl_bf16_to_f32(uint16_t h);
/* No tensor has this dtype: it is host data only (i64, f64, bool, ...). */
bool vkdl_dtype_host_only(vkdl_dtype d);
/* Convert n elements between dtypes (host memory), through double: floats to integers truncate
 * and saturate, NaN gives 0, anything to bool is != 0. */
void vkdl_convert(void *dst, vkdl_dtype dst_dtype, const void *src, vkdl_dtype src_dtype, size_t n);

/* ------------------------------------------------------------------ kernels (kernel.c) */

#define VKDL_MAX_BINDINGS 8
#define VKDL_MAX_SPEC 8

enum vkdl_access { VKDL_READ = 1, VKDL_WRITE = 2, VKDL_RW = 3 };

/* One compute kernel: embedded SPIR-V and its interface. Push constants start with one uint per
 * binding: the binding's offset inside its descriptor range, in units of bind_unit bytes
 * (0 = the tensor's element size); the kernel's own push constants follow. */
typedef struct vkdl_kernel {
    const char *name;
    const uint32_t *spirv;
    const size_t *spirv_size;
    uint32_t n_bindings;
    VkDescriptorType type[VKDL_MAX_BINDINGS]; /* 0 means STORAGE_BUFFER */
    VkFormat format[VKDL_MAX_BINDINGS];       /* texel buffers only */
    uint8_t access[VKDL_MAX_BINDINGS];        /* vkdl_access */
    uint8_t unit[VKDL_MAX_BINDINGS];
    uint32_t push_size;                       /* the kernel's own part, bytes */
    uint32_t n_spec;
    bool full_subgroups;            /* needs whole subgroups (subgroup ops across the group) */
} vkdl_kernel;

/* The name and embedded SPIR-V of a kernel row `name` in shaders/meson.build. */
#define VKDL_SPIRV(k) .name = #k, .spirv = vkdl_spv_##k, .spirv_size = &vkdl_spv_##k##_size

/* Split n workgroups into an x/y grid within the device limits; shaders use vkdl_group_id(). */
void vkdl_grid_1d(const vkdl_context *ctx, uint64_t n_groups, uint32_t groups[3]);
/* Does the device have the subgroup arithmetic the *_sg kernel variants are built with? */
static inline bool vkdl_has_subgroup_arith(const vkdl_caps *c)
{
    const uint32_t need = VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT;
    return (c->subgroup_ops & need) == need;
}
/* Workgroup size for kernels where one workgroup walks a row of n elements `passes` times
 * (reductions, softmax, norms): one subgroup on CPU drivers (no emulated barriers; *one_subgroup
 * is set), else up to 256 invocations, growing as needed so no invocation loops past the
 * driver's loop limit. Returns 0, with the failure recorded, when even the largest workgroup
 * would. subgroup_ok: the kernel variant in use has subgroup arithmetic. */
uint32_t vkdl_row_workgroup(const vkdl_context *ctx, const char *op, uint64_t n, uint32_t passes, bool subgroup_ok,
                            bool *one_subgroup);
/* Can t be bound at binding b of k (offset divisible into units, range within limits)? */
bool vkdl_binding_ok(const vkdl_context *ctx, const vkdl_kernel *k, uint32_t b, const vkdl_tensor *t);
/* Not turned off by VKDL_DISABLE=<kernel name>? (vkdl_binding_ok answers false for one that is.) */
bool vkdl_kernel_enabled(const vkdl_context *ctx, const vkdl_kernel *k);

/* ------------------------------------------------------------------ pipelines (pipeline.c) */

typedef struct vkdl_pipeline vkdl_pipeline;
typedef struct vkdl_pipelines vkdl_pipelines;

vkdl_status vkdl_pipelines_create(vkdl_context *ctx, vkdl_pipelines **out);
void vkdl_pipelines_destroy(vkdl_pipelines *p);
/* The pipeline for (kernel, spec constants), created on first use. */
vkdl_status vkdl_pipeline_get(vkdl_context *ctx, const vkdl_kernel *k, const uint32_t *spec, vkdl_pipeline **out);
VkPipeline vkdl_pipeline_handle(const vkdl_pipeline *p);
VkPipelineLayout vkdl_pipeline_layout(const vkdl_pipeline *p);
VkDescriptorSetLayout vkdl_pipeline_set_layout(const vkdl_pipeline *p);

/* ------------------------------------------------------------------ scheduling (sched.c) */

typedef struct vkdl_sched vkdl_sched;

vkdl_status vkdl_sched_create(vkdl_context *ctx, vkdl_sched **out);
void vkdl_sched_destroy(vkdl_sched *s);

/* Submit everything recorded and wait for it. */
vkdl_status vkdl_sched_flush(vkdl_context *ctx);
/* Total kernel time measured so far by a profiling context (VKDL_CONTEXT_PROFILE), in ms. */
double vkdl_sched_kernel_ms(const vkdl_context *ctx);
/* Host access to [offset, offset+size) of a block: waits if pending GPU work touches it. */
vkdl_status vkdl_sched_host_access(vkdl_context *ctx, const vkdl_block *b, VkDeviceSize offset, VkDeviceSize size);
/* Copy between host and a tensor on a device without host-visible memory (staging). */
vkdl_status vkdl_sched_upload(vkdl_context *ctx, const vkdl_tensor *t, const void *src);
vkdl_status vkdl_sched_download(vkdl_context *ctx, const vkdl_tensor *t, void *dst);
vkdl_status vkdl_sched_fill(vkdl_context *ctx, const vkdl_tensor *t, uint32_t pattern);

/* Record the commands issued until _end into a command buffer that vkdl_sched_replay re-submits
 * (plans of imported models). _end fails with VKDL_ERROR_UNSUPPORTED, naming the cause, when
 * something in between needed the host (an upload, a download, a sync); the commands were then
 * recorded but never run. Replay waits for completion. */
typedef struct vkdl_recording vkdl_recording;
vkdl_status vkdl_sched_capture_begin(vkdl_context *ctx);
vkdl_status vkdl_sched_capture_end(vkdl_context *ctx, vkdl_recording **out);
vkdl_status vkdl_sched_replay(vkdl_context *ctx, vkdl_recording *rec);
void vkdl_recording_destroy(vkdl_context *ctx, vkdl_recording *rec);
/* While capturing, storage whose last tensor is destroyed stays allocated until the recording is
 * destroyed (true: taken). */
bool vkdl_sched_keep_storage(vkdl_context *ctx, vkdl_storage *st);

/* The scheduler's side of recording a dispatch (for dispatch.c); all act on the current batch. */
/* A byte range [begin, end) of a memory block, the unit of hazard tracking. */
typedef struct vkdl_span {
    const vkdl_block *block;
    VkDeviceSize begin, end;
} vkdl_span;
/* Begin the current batch if needed; *cmd is its command buffer, valid until the next submit. */
vkdl_status vkdl_sched_begin(vkdl_context *ctx, VkCommandBuffer *cmd);
/* Record n ranges a command accesses (vkdl_access each), recording a barrier first on a hazard. */
vkdl_status vkdl_sched_track(vkdl_context *ctx, const vkdl_span *sp, const uint8_t *access, uint32_t n);
/* A descriptor set from the current batch's pools, valid until the batch has completed. */
vkdl_status vkdl_sched_descriptor_set(vkdl_context *ctx, VkDescriptorSetLayout layout, VkDescriptorSet *out);
/* Hand a texel view to the current batch, which destroys it once the batch has completed. */
vkdl_status vkdl_sched_keep_view(vkdl_context *ctx, VkBufferView view);
/* Timestamps around the next command when profiling: begin before recording it, end after. */
void vkdl_sched_profile_begin(vkdl_context *ctx, const char *name);
void vkdl_sched_profile_end(vkdl_context *ctx);
/* Close the command just recorded: submits the batch once it is full (VKDL_SERIALIZE: waits for it). */
vkdl_status vkdl_sched_end_command(vkdl_context *ctx);

/* ------------------------------------------------------------------ dispatch (dispatch.c) */

typedef struct vkdl_dispatch_info {
    const vkdl_kernel *kernel;
    const uint32_t *spec;           /* kernel->n_spec values */
    const vkdl_tensor *tensors[VKDL_MAX_BINDINGS];
    const void *push;               /* kernel->push_size bytes */
    uint32_t groups[3];
} vkdl_dispatch_info;

/* Record one dispatch into the current batch (barrier only on a hazard). Every binding must hold
 * a tensor with elements: an empty one (NULL, or zero-size) fails with INVALID_ARGUMENT naming
 * the kernel and binding, since ops skip work on empty tensors before dispatching. */
vkdl_status vkdl_dispatch(vkdl_context *ctx, const vkdl_dispatch_info *info);

/* Where binding b of a kernel sees a tensor: the descriptor's range and the element offset passed
 * in the push constants. */
typedef struct vkdl_bind_plan {
    VkDeviceSize offset, range;
    uint32_t elem_offset;
} vkdl_bind_plan;
/* Plan binding b of k for t; false with *why set when the device cannot bind it. */
bool vkdl_plan_binding(const vkdl_context *ctx, const vkdl_kernel *k, uint32_t b, const vkdl_tensor *t,
                       vkdl_bind_plan *p, const char **why);

/* ------------------------------------------------------------------ context (context.c) */

struct vkdl_context {
    vkdl_backend backend;
    uint32_t flags;
    vkdl_device dev;
    vkdl_memory *mem;
    vkdl_pipelines *pipes;
    vkdl_sched *sched;
    size_t bytes_current, bytes_peak, bytes_limit; /* tensor bytes; limit 0 = none */
    bool force_staging;             /* VKDL_FORCE_STAGING=1: exercise the discrete-GPU path */
    /* Owned by the nn layer, which the runtime cannot name: the autograd tape and the hook that
     * frees it when the context is destroyed (set by nn/autograd.c on first use). */
    struct vkdl_graph *graph;
    void (*graph_destroy)(vkdl_context *ctx);
    bool profile_quiet;             /* profile into vkdl_sched_kernel_ms without printing */
    uint64_t modules_created;       /* gives each module's dropout its own reproducible seed */
    bool no_grad;
    /* Dead graph handle slots, oldest first (tensor.c), and graph frees counted so far. */
    vkdl_tensor *dead_head, *dead_tail;
    size_t dead_count;
    uint64_t graph_frees;
    char cache_dir[512];
};

/* Account for tensor memory; fails with OUT_OF_DEVICE_MEMORY past the VKDL_MEMORY_LIMIT budget. */
vkdl_status vkdl_ctx_charge(vkdl_context *ctx, size_t bytes);
void vkdl_ctx_uncharge(vkdl_context *ctx, size_t bytes);

#endif
