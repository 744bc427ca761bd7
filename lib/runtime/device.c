/* Instance, physical-device choice, feature probe, logical device and the quirk table. */
#include "runtime/runtime.h"
#include "shaders.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* VK_KHR_cooperative_matrix postdates the headers of some distributions (Debian 12); the probe
 * needs only these stable definitions from the registry. */
#define VKDL_KHR_COOPMAT_NAME "VK_KHR_cooperative_matrix"
#define VKDL_STYPE_COOPMAT_PROPS_KHR ((VkStructureType)1000506001)
typedef struct {
    VkStructureType sType;
    void *pNext;
    uint32_t MSize, NSize, KSize;
    uint32_t AType, BType, CType, ResultType;
    VkBool32 saturatingAccumulation;
    uint32_t scope;
} vkdl_coopmat_props_khr;
typedef VkResult(VKAPI_PTR *vkdl_pfn_coopmat_props)(VkPhysicalDevice, uint32_t *, vkdl_coopmat_props_khr *);

static const char *VALIDATION_LAYER = "VK_LAYER_KHRONOS_validation";

static VKAPI_ATTR VkBool32 VKAPI_CALL debug_callback(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                     VkDebugUtilsMessageTypeFlagsEXT type,
                                                     const VkDebugUtilsMessengerCallbackDataEXT *data, void *user)
{
    vkdl_device *d = user;
    if (severity < VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT)
        return VK_FALSE;
    __atomic_add_fetch(&d->validation_messages, 1, __ATOMIC_RELAXED);
    bool error = severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT;
    vkdl_log(error ? VKDL_LOG_ERROR : VKDL_LOG_WARNING, "vkdl: validation %s: %s", error ? "error" : "warning",
             data->pMessage ? data->pMessage : "(no message)");
    return VK_FALSE;
}

static bool has_layer(const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0)
        return false;
    VkLayerProperties *p = calloc(n, sizeof *p);
    bool found = false;
    if (p && vkEnumerateInstanceLayerProperties(&n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++)
            found = strcmp(p[i].layerName, name) == 0;
    free(p);
    return found;
}

static bool has_device_ext(VkPhysicalDevice pd, const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) != VK_SUCCESS)
        return false;
    VkExtensionProperties *p = calloc(n ? n : 1, sizeof *p);
    bool found = false;
    if (p && vkEnumerateDeviceExtensionProperties(pd, NULL, &n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++)
            found = strcmp(p[i].extensionName, name) == 0;
    free(p);
    return found;
}

static vkdl_status create_instance(vkdl_device *d, bool validate)
{
    uint32_t loader_version = VK_API_VERSION_1_0;
    vkEnumerateInstanceVersion(&loader_version);
    if (loader_version < VK_API_VERSION_1_2)
        return vkdl_fail(VKDL_ERROR_NO_DEVICE, "context_create: the Vulkan loader is %u.%u; vkdl needs 1.2",
                         VK_API_VERSION_MAJOR(loader_version), VK_API_VERSION_MINOR(loader_version));
    if (validate && !has_layer(VALIDATION_LAYER))
        return vkdl_fail(VKDL_ERROR_UNSUPPORTED, "context_create: validation requested but %s is not installed "
                         "(apt-get install vulkan-validationlayers)", VALIDATION_LAYER);
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "vkdl",
        .pEngineName = "vkdl",
        .engineVersion = VK_MAKE_API_VERSION(0, VKDL_VERSION_MAJOR, VKDL_VERSION_MINOR, VKDL_VERSION_PATCH),
        .apiVersion = VK_API_VERSION_1_3,
    };
    const char *exts[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
    VkDebugUtilsMessengerCreateInfoEXT dbg = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT | VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = debug_callback,
        .pUserData = d,
    };
    /* Synchronization validation checks the scheduler's barrier elision on every test run. */
    VkValidationFeatureEnableEXT enables[] = {VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT};
    VkValidationFeaturesEXT features = {
        .sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
        .pNext = &dbg,
        .enabledValidationFeatureCount = 1,
        .pEnabledValidationFeatures = enables,
    };
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pNext = validate ? &features : NULL, /* the messenger also sees vkCreate/DestroyInstance */
        .pApplicationInfo = &app,
        .enabledLayerCount = validate ? 1 : 0,
        .ppEnabledLayerNames = &VALIDATION_LAYER,
        .enabledExtensionCount = validate ? 1 : 0,
        .ppEnabledExtensionNames = exts,
    };
    VkResult r = vkCreateInstance(&ci, NULL, &d->instance);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER)
        return vkdl_fail(VKDL_ERROR_NO_DEVICE, "context_create: no Vulkan driver (install mesa-vulkan-drivers for lavapipe)");
    if (r != VK_SUCCESS)
        return vkdl_vk_fail(r, "context_create: vkCreateInstance");
    if (validate) {
        PFN_vkCreateDebugUtilsMessengerEXT create = (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
            d->instance, "vkCreateDebugUtilsMessengerEXT");
        if (!create || (r = create(d->instance, &dbg, NULL, &d->messenger)) != VK_SUCCESS)
            return vkdl_vk_fail(create ? r : VK_ERROR_EXTENSION_NOT_PRESENT, "context_create: debug messenger");
    }
    return VKDL_OK;
}

/* Each quirk names the driver it applies to and why; nothing else in vkdl tests driver ids. */
static uint32_t quirks_for(const vkdl_caps *c)
{
    uint32_t q = 0;
    /* CPU implementations (llvmpipe, SwiftShader) emulate shared memory and barriers and turn
     * per-lane storage loads into scalar loops; kernels that read through texel buffers and
     * share values with subgroup ops are several times faster there. */
    if (c->type == VK_PHYSICAL_DEVICE_TYPE_CPU)
        q |= VKDL_QUIRK_CPU_FRIENDLY_KERNELS;
    /* A device without compute timestamps (timestampComputeAndGraphics false, or a queue with
     * no valid bits) cannot profile. */
    if (!c->timestamps)
        q |= VKDL_QUIRK_NO_TIMESTAMPS;
    /* llvmpipe guards against endless loops with one counter per invocation, shared by all its
     * loops (gallivm's LP_MAX_TGSI_LOOP_ITERATIONS): past 65535 iterations it leaves every loop
     * without a word, so long per-invocation loops give wrong results. Kernels size their work
     * so that no invocation comes near it. */
    if (c->driver_id == VK_DRIVER_ID_MESA_LLVMPIPE)
        q |= VKDL_QUIRK_LOOP_LIMIT;
    return q;
}

/* Escape hatches for users' machines (VKDL_DISABLE), in the spirit of the quirks above: each
 * turns one capability off, so a driver bug on that path can be confirmed and worked around. */
enum { OFF_SUBGROUP, OFF_F16, OFF_PUSH_DESCRIPTOR, OFF_CPU_QUIRK, OFF_TIMESTAMPS, OFF_LOOP_LIMIT, OFF_COOPMAT };
static const char *const DISABLE_NAMES[] = {
    [OFF_SUBGROUP] = "subgroup",     [OFF_F16] = "f16",               [OFF_PUSH_DESCRIPTOR] = "push_descriptor",
    [OFF_CPU_QUIRK] = "cpu_quirk",   [OFF_TIMESTAMPS] = "timestamps", [OFF_LOOP_LIMIT] = "loop_limit",
    [OFF_COOPMAT] = "coopmat",
};

static void disable(vkdl_caps *c, int which)
{
    switch (which) {
    case OFF_SUBGROUP: c->subgroup_ops = 0; break;
    case OFF_F16: c->fp16 = c->f16_texel = c->storage16 = false; break;
    case OFF_PUSH_DESCRIPTOR: c->push_descriptor = false; break;
    case OFF_CPU_QUIRK: c->quirks &= ~(uint32_t)VKDL_QUIRK_CPU_FRIENDLY_KERNELS; break;
    case OFF_TIMESTAMPS: c->timestamps = false, c->quirks |= VKDL_QUIRK_NO_TIMESTAMPS; break;
    case OFF_LOOP_LIMIT: c->quirks &= ~(uint32_t)VKDL_QUIRK_LOOP_LIMIT, c->max_loop_iterations = 0; break;
    case OFF_COOPMAT: c->coopmat = false, c->n_coopmat = 0; break;
    }
}

enum { LIM_SHARED, LIM_INVOCATIONS, LIM_PUSH, LIM_STORAGE_RANGE, LIM_TEXEL };
static const char *const LIMIT_NAMES[] = {
    [LIM_SHARED] = "shared", [LIM_INVOCATIONS] = "invocations", [LIM_PUSH] = "push",
    [LIM_STORAGE_RANGE] = "storage_range", [LIM_TEXEL] = "texel",
};

static int word_index(const char *w, size_t n, const char *const *names, size_t n_names)
{
    for (size_t i = 0; i < n_names; i++)
        if (strlen(names[i]) == n && strncmp(w, names[i], n) == 0)
            return (int)i;
    return -1;
}

/* more: what else the variable accepts, after the list of names ("" for nothing). */
static vkdl_status bad_word(const char *var, const char *w, size_t n, const char *const *names, size_t n_names,
                            const char *more)
{
    char valid[160] = "";
    for (size_t i = 0; i < n_names; i++)
        snprintf(valid + strlen(valid), sizeof valid - strlen(valid), "%s%s", i ? ", " : "", names[i]);
    return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "context_create: %s: unknown name \"%.*s\" (valid: %s%s)", var,
                     (int)n, w, valid, more);
}

/* A kernel variant named as in shaders/meson.build (matmul_tiled, conv_texel4, ...). */
static vkdl_status disable_kernel(vkdl_caps *c, const char *w, size_t n)
{
    int k = word_index(w, n, vkdl_spv_names, VKDL_SPV_COUNT);
    if (k < 0)
        return bad_word("VKDL_DISABLE", w, n, DISABLE_NAMES, VKDL_ARRAY_LEN(DISABLE_NAMES),
                        ", or a kernel variant of shaders/meson.build such as matmul_tiled");
    if (c->n_kernels_off == VKDL_ARRAY_LEN(c->kernels_off))
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "context_create: VKDL_DISABLE: more than %zu kernel variants",
                         VKDL_ARRAY_LEN(c->kernels_off));
    c->kernels_off[c->n_kernels_off++] = vkdl_spv_names[k];
    return VKDL_OK;
}

static vkdl_status apply_disable(vkdl_caps *c, const char *list)
{
    for (const char *w = list; *w;) {
        size_t n = strcspn(w, ",");
        int i = word_index(w, n, DISABLE_NAMES, VKDL_ARRAY_LEN(DISABLE_NAMES));
        if (i >= 0)
            disable(c, i);
        else if (n > 0)
            VKDL_TRY(disable_kernel(c, w, n));
        w += n + (w[n] == ',');
    }
    return VKDL_OK;
}

/* Lower one limit; a value above what the device reports leaves the device's. */
static void lower(vkdl_caps *c, int which, uint64_t v)
{
    uint32_t v32 = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
    switch (which) {
    case LIM_SHARED: c->max_shared = v32 < c->max_shared ? v32 : c->max_shared; break;
    case LIM_INVOCATIONS:
        c->max_wg_invocations = v32 < c->max_wg_invocations ? v32 : c->max_wg_invocations;
        for (int d = 0; d < 3; d++)
            c->max_wg_size[d] = c->max_wg_size[d] < c->max_wg_invocations ? c->max_wg_size[d] : c->max_wg_invocations;
        break;
    case LIM_PUSH: c->max_push_constants = v32 < c->max_push_constants ? v32 : c->max_push_constants; break;
    case LIM_STORAGE_RANGE: c->max_storage_range = v < c->max_storage_range ? v : c->max_storage_range; break;
    case LIM_TEXEL: c->max_texel_elements = v32 < c->max_texel_elements ? v32 : c->max_texel_elements; break;
    }
}

/* VKDL_LIMIT=<name>=<value>,...: smaller device limits, so tests reach the paths that large
 * problems take on small devices. The subgroup size is not among them: kernels built for one
 * cannot be told it is another. */
static vkdl_status apply_limits(vkdl_caps *c, const char *list)
{
    for (const char *w = list; *w;) {
        size_t n = strcspn(w, ","), name_n = strcspn(w, "=,");
        int i = word_index(w, name_n, LIMIT_NAMES, VKDL_ARRAY_LEN(LIMIT_NAMES));
        if (i < 0 && n > 0)
            return bad_word("VKDL_LIMIT", w, name_n, LIMIT_NAMES, VKDL_ARRAY_LEN(LIMIT_NAMES), "");
        if (i >= 0) {
            char *end = NULL;
            const char *val = w + name_n + 1;
            unsigned long long v = name_n < n && *val >= '0' && *val <= '9' ? strtoull(val, &end, 10) : 0;
            if (!end || end != w + n)
                return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "context_create: VKDL_LIMIT: \"%.*s\" is not "
                                 "<name>=<decimal value>", (int)n, w);
            lower(c, i, v);
        }
        w += n + (w[n] == ',');
    }
    return VKDL_OK;
}

/* The environment's switches, applied once to the caps of the device being opened, before any
 * kernel is chosen (and before the device is created, so disabled features are not enabled). */
static vkdl_status apply_env(vkdl_caps *c)
{
    const char *e = getenv("VKDL_DISABLE_PUSH_DESCRIPTOR"); /* older spelling of VKDL_DISABLE=push_descriptor */
    if (e && *e && strcmp(e, "0") != 0)
        disable(c, OFF_PUSH_DESCRIPTOR);
    if ((e = getenv("VKDL_DISABLE")))
        VKDL_TRY(apply_disable(c, e));
    if ((e = getenv("VKDL_LIMIT")))
        VKDL_TRY(apply_limits(c, e));
    return VKDL_OK;
}

static void probe(VkPhysicalDevice pd, uint32_t family, vkdl_caps *c)
{
    memset(c, 0, sizeof *c);
    VkPhysicalDeviceSubgroupProperties sg = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceSubgroupSizeControlProperties sgc = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES, .pNext = &sg};
    VkPhysicalDeviceDriverProperties drv = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES, .pNext = &sgc};
    VkPhysicalDeviceIDProperties id = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_ID_PROPERTIES, .pNext = &drv};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &id};
    vkGetPhysicalDeviceProperties2(pd, &p2);
    const VkPhysicalDeviceProperties *p = &p2.properties;
    const VkPhysicalDeviceLimits *l = &p->limits;

    snprintf(c->name, sizeof c->name, "%s", p->deviceName);
    snprintf(c->driver_name, sizeof c->driver_name, "%s", drv.driverName);
    snprintf(c->driver_info, sizeof c->driver_info, "%s", drv.driverInfo);
    c->type = p->deviceType;
    c->driver_id = drv.driverID;
    c->api_version = p->apiVersion;
    c->driver_version = p->driverVersion;
    c->vendor_id = p->vendorID;
    c->device_id = p->deviceID;
    memcpy(c->device_uuid, id.deviceUUID, VK_UUID_SIZE);
    memcpy(c->cache_uuid, p->pipelineCacheUUID, VK_UUID_SIZE);

    c->subgroup_size = sg.subgroupSize;
    c->subgroup_ops = sg.supportedOperations & (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT ? ~0u : 0u);
    c->subgroup_min = sgc.minSubgroupSize ? sgc.minSubgroupSize : sg.subgroupSize;
    c->subgroup_max = sgc.maxSubgroupSize ? sgc.maxSubgroupSize : sg.subgroupSize;

    VkPhysicalDevice8BitStorageFeatures s8 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_8BIT_STORAGE_FEATURES};
    VkPhysicalDevice16BitStorageFeatures s16 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES, .pNext = &s8};
    VkPhysicalDeviceShaderFloat16Int8Features f16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES, .pNext = &s16};
    VkPhysicalDeviceSubgroupSizeControlFeatures sgcf = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES, .pNext = &f16};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &sgcf};
    vkGetPhysicalDeviceFeatures2(pd, &f2);
    c->fp16 = f16.shaderFloat16;
    c->int8 = f16.shaderInt8;
    c->storage16 = s16.storageBuffer16BitAccess;
    c->storage8 = s8.storageBuffer8BitAccess;
    c->subgroup_size_control = sgcf.subgroupSizeControl && sgcf.computeFullSubgroups;
    c->push_descriptor = has_device_ext(pd, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
    VkFormatProperties f16x4, f16x1;
    vkGetPhysicalDeviceFormatProperties(pd, VK_FORMAT_R16G16B16A16_SFLOAT, &f16x4);
    vkGetPhysicalDeviceFormatProperties(pd, VK_FORMAT_R16_SFLOAT, &f16x1);
    c->f16_texel = f16x4.bufferFeatures & f16x1.bufferFeatures & VK_FORMAT_FEATURE_UNIFORM_TEXEL_BUFFER_BIT;

    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, NULL);
    VkQueueFamilyProperties *qf = calloc(nq ? nq : 1, sizeof *qf);
    if (qf) {
        vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, qf);
        if (family < nq)
            c->timestamps = l->timestampComputeAndGraphics && qf[family].timestampValidBits > 0 && l->timestampPeriod > 0;
        free(qf);
    }
    c->timestamp_period = l->timestampPeriod;

    c->max_shared = l->maxComputeSharedMemorySize;
    c->max_wg_invocations = l->maxComputeWorkGroupInvocations;
    memcpy(c->max_wg_size, l->maxComputeWorkGroupSize, sizeof c->max_wg_size);
    memcpy(c->max_wg_count, l->maxComputeWorkGroupCount, sizeof c->max_wg_count);
    c->max_push_constants = l->maxPushConstantsSize;
    c->max_storage_range = l->maxStorageBufferRange;
    c->min_storage_align = l->minStorageBufferOffsetAlignment;
    c->min_texel_align = l->minTexelBufferOffsetAlignment;
    c->max_texel_elements = l->maxTexelBufferElements;

    VkPhysicalDeviceMaintenance3Properties m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceProperties2 pm = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &m3};
    vkGetPhysicalDeviceProperties2(pd, &pm);
    c->max_alloc = m3.maxMemoryAllocationSize;

    vkGetPhysicalDeviceMemoryProperties(pd, &c->mem);
    /* UMA: every device-local type is also host visible and coherent (lavapipe, most phones). */
    c->uma = true;
    bool any_local = false;
    for (uint32_t i = 0; i < c->mem.memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = c->mem.memoryTypes[i].propertyFlags;
        if (f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) {
            any_local = true;
            if (!(f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) || !(f & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT))
                c->uma = false;
        }
    }
    c->uma = c->uma && any_local;

    c->coopmat = has_device_ext(pd, VKDL_KHR_COOPMAT_NAME);
    /* Instance-level function; resolved through the loader's trampoline by name. */
    c->n_coopmat = 0;
    c->quirks = quirks_for(c);
    c->max_loop_iterations = c->quirks & VKDL_QUIRK_LOOP_LIMIT ? 65000 : 0;
}

static void probe_coopmat(VkInstance inst, VkPhysicalDevice pd, vkdl_caps *c)
{
    if (!c->coopmat)
        return;
    vkdl_pfn_coopmat_props fn = (vkdl_pfn_coopmat_props)vkGetInstanceProcAddr(
        inst, "vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR");
    if (!fn)
        return;
    vkdl_coopmat_props_khr props[16];
    for (int i = 0; i < 16; i++)
        props[i] = (vkdl_coopmat_props_khr){.sType = VKDL_STYPE_COOPMAT_PROPS_KHR};
    uint32_t n = 16;
    VkResult r = fn(pd, &n, props);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE)
        return;
    c->n_coopmat = n;
    for (uint32_t i = 0; i < n; i++)
        c->coopmat_shapes[i] = (__typeof__(c->coopmat_shapes[i])){props[i].MSize, props[i].NSize, props[i].KSize,
            props[i].AType, props[i].BType, props[i].CType, props[i].ResultType, props[i].scope};
}

static int compute_family(VkPhysicalDevice pd)
{
    uint32_t n = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, NULL);
    VkQueueFamilyProperties *q = calloc(n ? n : 1, sizeof *q);
    int best = -1;
    if (!q)
        return -1;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, q);
    /* Prefer a compute queue without graphics: on discrete GPUs it is the async compute engine. */
    for (uint32_t i = 0; i < n; i++)
        if (q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
            if (best < 0 || !(q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT))
                best = (int)i;
        }
    free(q);
    return best;
}

static int type_rank(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 4;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 3;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 1;
    default: return 0;
    }
}

static bool name_matches(const char *name, const char *pattern)
{
    size_t n = strlen(name), m = strlen(pattern);
    for (size_t i = 0; i + m <= n; i++) {
        size_t j = 0;
        while (j < m && tolower((unsigned char)name[i + j]) == tolower((unsigned char)pattern[j]))
            j++;
        if (j == m)
            return true;
    }
    return false;
}

/* Index of the chosen device among pds, or -1 with the failure recorded. */
static int choose(VkPhysicalDevice *pds, uint32_t n, const char *select)
{
    if (select && *select) {
        char *end;
        long idx = strtol(select, &end, 10);
        if (*end == 0) {
            if (idx < 0 || (uint32_t)idx >= n) {
                vkdl_fail(VKDL_ERROR_NO_DEVICE, "context_create: device index %ld out of range (%u devices)", idx, n);
                return -1;
            }
            return (int)idx;
        }
        for (uint32_t i = 0; i < n; i++) {
            VkPhysicalDeviceProperties p;
            vkGetPhysicalDeviceProperties(pds[i], &p);
            if (name_matches(p.deviceName, select))
                return (int)i;
        }
        vkdl_fail(VKDL_ERROR_NO_DEVICE, "context_create: no device name contains \"%s\"", select);
        return -1;
    }
    int best = -1, best_rank = -1;
    for (uint32_t i = 0; i < n; i++) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(pds[i], &p);
        if (p.apiVersion < VK_API_VERSION_1_2 || compute_family(pds[i]) < 0)
            continue;
        if (type_rank(p.deviceType) > best_rank) {
            best = (int)i;
            best_rank = type_rank(p.deviceType);
        }
    }
    if (best < 0)
        vkdl_fail(VKDL_ERROR_NO_DEVICE, "context_create: no Vulkan 1.2 device with a compute queue");
    return best;
}

static vkdl_status enumerate(VkInstance inst, VkPhysicalDevice **pds, uint32_t *n)
{
    *pds = NULL;
    *n = 0;
    VkResult r = vkEnumeratePhysicalDevices(inst, n, NULL);
    if (r != VK_SUCCESS)
        return vkdl_vk_fail(r, "context_create: vkEnumeratePhysicalDevices");
    if (*n == 0)
        return vkdl_fail(VKDL_ERROR_NO_DEVICE, "context_create: no Vulkan devices (install mesa-vulkan-drivers for lavapipe)");
    *pds = calloc(*n, sizeof **pds);
    if (!*pds)
        return vkdl_fail(VKDL_ERROR_OUT_OF_HOST_MEMORY, "context_create: out of host memory");
    r = vkEnumeratePhysicalDevices(inst, n, *pds);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        free(*pds);
        return vkdl_vk_fail(r, "context_create: vkEnumeratePhysicalDevices");
    }
    return VKDL_OK;
}

static vkdl_status create_device(vkdl_device *d)
{
    vkdl_caps *c = &d->caps;
    float prio = 1.0f;
    VkDeviceQueueCreateInfo q = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = d->queue_family,
        .queueCount = 1,
        .pQueuePriorities = &prio,
    };
    const char *exts[4];
    uint32_t n_ext = 0;
    if (c->push_descriptor)
        exts[n_ext++] = VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME;

    /* Only the structs whose features we turn on are chained (SwiftShader complains about others). */
    VkPhysicalDeviceVulkan12Features f12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
        .shaderFloat16 = c->fp16,
        .shaderInt8 = c->int8,
        .storageBuffer8BitAccess = c->storage8,
    };
    VkPhysicalDeviceVulkan11Features f11 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
        .pNext = &f12,
        .storageBuffer16BitAccess = c->storage16,
    };
    VkPhysicalDeviceSubgroupSizeControlFeatures sgc = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES,
        .pNext = &f11,
        .subgroupSizeControl = VK_TRUE,
        .computeFullSubgroups = VK_TRUE,
    };
    VkPhysicalDeviceFeatures2 f2 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
        .pNext = c->subgroup_size_control && c->api_version >= VK_API_VERSION_1_3 ? (void *)&sgc : (void *)&f11,
    };
    VkDeviceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .pNext = &f2,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &q,
        .enabledExtensionCount = n_ext,
        .ppEnabledExtensionNames = exts,
    };
    if (!(c->subgroup_size_control && c->api_version >= VK_API_VERSION_1_3))
        c->subgroup_size_control = false;
    VkResult r = vkCreateDevice(d->phys, &ci, NULL, &d->dev);
    if (r != VK_SUCCESS)
        return vkdl_vk_fail(r, "context_create: vkCreateDevice");
    vkGetDeviceQueue(d->dev, d->queue_family, 0, &d->queue);
    if (c->push_descriptor) {
        d->push_descriptor_set = (PFN_vkCmdPushDescriptorSetKHR)vkGetDeviceProcAddr(d->dev, "vkCmdPushDescriptorSetKHR");
        if (!d->push_descriptor_set)
            c->push_descriptor = false;
    }
    return VKDL_OK;
}

vkdl_status vkdl_device_open(vkdl_device *d, const char *select, bool validate)
{
    memset(d, 0, sizeof *d);
    vkdl_status s = create_instance(d, validate);
    VkPhysicalDevice *pds = NULL;
    uint32_t n = 0;
    if (s == VKDL_OK)
        s = enumerate(d->instance, &pds, &n);
    int idx = s == VKDL_OK ? choose(pds, n, select) : -1;
    if (s == VKDL_OK && idx < 0)
        s = VKDL_ERROR_NO_DEVICE;
    if (s == VKDL_OK) {
        d->phys = pds[idx];
        int fam = compute_family(d->phys);
        probe(d->phys, fam < 0 ? 0 : (uint32_t)fam, &d->caps);
        probe_coopmat(d->instance, d->phys, &d->caps);
        if (fam < 0 || d->caps.api_version < VK_API_VERSION_1_2)
            s = vkdl_fail(VKDL_ERROR_NO_DEVICE, "context_create: %s has no compute queue or is older than Vulkan 1.2",
                          d->caps.name);
        else
            d->queue_family = (uint32_t)fam;
    }
    free(pds);
    if (s == VKDL_OK)
        s = apply_env(&d->caps);
    if (s == VKDL_OK)
        s = create_device(d);
    if (s != VKDL_OK) {
        vkdl_device_close(d);
        return s;
    }
    return VKDL_OK;
}

void vkdl_device_close(vkdl_device *d)
{
    if (d->dev)
        vkDestroyDevice(d->dev, NULL);
    if (d->messenger) {
        PFN_vkDestroyDebugUtilsMessengerEXT destroy = (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
            d->instance, "vkDestroyDebugUtilsMessengerEXT");
        if (destroy)
            destroy(d->instance, d->messenger, NULL);
    }
    if (d->instance)
        vkDestroyInstance(d->instance, NULL);
    d->dev = VK_NULL_HANDLE;
    d->messenger = VK_NULL_HANDLE;
    d->instance = VK_NULL_HANDLE;
}

static const char *type_name(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU";
    default: return "other";
    }
}

void vkdl_caps_print(FILE *out, const vkdl_caps *c)
{
    fprintf(out, "  name                 %s (%s)\n", c->name, type_name(c->type));
    fprintf(out, "  driver               %s %s (id %d, version 0x%x)\n", c->driver_name, c->driver_info,
            (int)c->driver_id, c->driver_version);
    fprintf(out, "  vendor:device        0x%04x:0x%04x\n", c->vendor_id, c->device_id);
    fprintf(out, "  api                  %u.%u.%u\n", VK_API_VERSION_MAJOR(c->api_version),
            VK_API_VERSION_MINOR(c->api_version), VK_API_VERSION_PATCH(c->api_version));
    fprintf(out, "  device uuid          ");
    for (unsigned i = 0; i < VK_UUID_SIZE; i++)
        fprintf(out, "%02x", c->device_uuid[i]);
    static const struct { VkSubgroupFeatureFlags bit; const char *name; } ops[] = {
        {VK_SUBGROUP_FEATURE_BASIC_BIT, "basic"},         {VK_SUBGROUP_FEATURE_VOTE_BIT, "vote"},
        {VK_SUBGROUP_FEATURE_ARITHMETIC_BIT, "arithmetic"}, {VK_SUBGROUP_FEATURE_BALLOT_BIT, "ballot"},
        {VK_SUBGROUP_FEATURE_SHUFFLE_BIT, "shuffle"},     {VK_SUBGROUP_FEATURE_SHUFFLE_RELATIVE_BIT, "shuffle-relative"},
        {VK_SUBGROUP_FEATURE_CLUSTERED_BIT, "clustered"}, {VK_SUBGROUP_FEATURE_QUAD_BIT, "quad"},
    };
    fprintf(out, "\n  subgroup             size %u (min %u, max %u, size control %s), ops", c->subgroup_size,
            c->subgroup_min, c->subgroup_max, c->subgroup_size_control ? "yes" : "no");
    for (size_t i = 0; i < VKDL_ARRAY_LEN(ops); i++)
        if (c->subgroup_ops & ops[i].bit)
            fprintf(out, " %s", ops[i].name);
    fprintf(out, "\n");
    fprintf(out, "  shaderFloat16        %s\n  shaderInt8           %s\n", c->fp16 ? "yes" : "no", c->int8 ? "yes" : "no");
    fprintf(out, "  16/8-bit storage     %s / %s\n", c->storage16 ? "yes" : "no", c->storage8 ? "yes" : "no");
    fprintf(out, "  f16 texel buffers    %s\n", c->f16_texel ? "yes" : "no");
    fprintf(out, "  push descriptors     %s\n", c->push_descriptor ? "yes" : "no");
    fprintf(out, "  timestamps           %s (period %.3f ns)\n", c->timestamps ? "yes" : "no", c->timestamp_period);
    fprintf(out, "  cooperative matrix   %s", c->coopmat ? "yes" : "no");
    for (uint32_t i = 0; i < c->n_coopmat; i++)
        fprintf(out, "%s%ux%ux%u(A%u B%u C%u R%u)", i ? ", " : ": ", c->coopmat_shapes[i].m, c->coopmat_shapes[i].n,
                c->coopmat_shapes[i].k, c->coopmat_shapes[i].a_type, c->coopmat_shapes[i].b_type,
                c->coopmat_shapes[i].c_type, c->coopmat_shapes[i].result_type);
    fprintf(out, "\n  shared memory        %u bytes\n", c->max_shared);
    fprintf(out, "  workgroup            %u invocations, size %ux%ux%u, count %ux%ux%u\n", c->max_wg_invocations,
            c->max_wg_size[0], c->max_wg_size[1], c->max_wg_size[2], c->max_wg_count[0], c->max_wg_count[1],
            c->max_wg_count[2]);
    fprintf(out, "  push constants       %u bytes\n", c->max_push_constants);
    fprintf(out, "  storage range        %llu bytes (offset alignment %llu)\n", (unsigned long long)c->max_storage_range,
            (unsigned long long)c->min_storage_align);
    fprintf(out, "  texel buffers        %u elements (offset alignment %llu)\n", c->max_texel_elements,
            (unsigned long long)c->min_texel_align);
    fprintf(out, "  max allocation       %llu bytes\n", (unsigned long long)c->max_alloc);
    fprintf(out, "  memory               %s\n", c->uma ? "unified (device-local is host visible)" : "discrete (staging)");
    for (uint32_t i = 0; i < c->mem.memoryHeapCount; i++)
        fprintf(out, "    heap %u             %llu MiB%s\n", i, (unsigned long long)(c->mem.memoryHeaps[i].size >> 20),
                c->mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT ? " device-local" : "");
    fprintf(out, "  quirks              %s%s%s%s\n", c->quirks ? "" : " none",
            c->quirks & VKDL_QUIRK_CPU_FRIENDLY_KERNELS ? " cpu-friendly-kernels" : "",
            c->quirks & VKDL_QUIRK_NO_TIMESTAMPS ? " no-timestamps" : "",
            c->quirks & VKDL_QUIRK_LOOP_LIMIT ? " loop-limit" : "");
}

/* Every physical device on a throwaway instance d (close it with vkdl_device_close; free *pds). */
static vkdl_status list_devices(vkdl_device *d, VkPhysicalDevice **pds, uint32_t *n)
{
    memset(d, 0, sizeof *d);
    VKDL_TRY(create_instance(d, false));
    vkdl_status s = enumerate(d->instance, pds, n);
    if (s != VKDL_OK)
        vkdl_device_close(d);
    return s;
}

static void probe_all(VkInstance instance, VkPhysicalDevice pd, vkdl_caps *c)
{
    int fam = compute_family(pd);
    probe(pd, fam < 0 ? 0 : (uint32_t)fam, c);
    probe_coopmat(instance, pd, c);
}

vkdl_status vkdl_devices_print(FILE *out, const char *select)
{
    if (!out)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "devices_print: out is NULL");
    if (!select)
        select = getenv("VKDL_DEVICE");
    vkdl_device d;
    VkPhysicalDevice *pds;
    uint32_t n;
    VKDL_TRY(list_devices(&d, &pds, &n));
    int chosen = choose(pds, n, select);
    for (uint32_t i = 0; i < n; i++) {
        vkdl_caps c;
        probe_all(d.instance, pds[i], &c);
        fprintf(out, "device %u%s\n", i, (int)i == chosen ? "  <- chosen" : "");
        vkdl_caps_print(out, &c);
    }
    if (chosen < 0)
        fprintf(out, "no device chosen: %s\n", vkdl_last_error());
    free(pds);
    vkdl_device_close(&d);
    return chosen < 0 ? VKDL_ERROR_NO_DEVICE : VKDL_OK;
}

/* ---------------------------------------------------------------- devices as data */

void vkdl_caps_info(const vkdl_caps *c, vkdl_device_info *out)
{
    const void *next = out->next;
    memset(out, 0, sizeof *out);
    out->next = next;
    snprintf(out->name, sizeof out->name, "%s", c->name);
    snprintf(out->driver_name, sizeof out->driver_name, "%s", c->driver_name);
    snprintf(out->driver_info, sizeof out->driver_info, "%s", c->driver_info);
    out->type = (vkdl_device_type)c->type;
    out->vendor_id = c->vendor_id;
    out->device_id = c->device_id;
    out->api_version = c->api_version;
    out->driver_version = c->driver_version;
    for (uint32_t i = 0; i < c->mem.memoryHeapCount; i++)
        if (c->mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
            out->device_local_bytes += c->mem.memoryHeaps[i].size;
    out->subgroup_size = c->subgroup_size;
    const struct { bool on; uint32_t bit; } f[] = {
        {c->fp16, VKDL_FEATURE_FP16}, {c->int8, VKDL_FEATURE_INT8}, {c->storage16, VKDL_FEATURE_STORAGE_16BIT},
        {c->storage8, VKDL_FEATURE_STORAGE_8BIT},
        {(c->subgroup_ops & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) != 0, VKDL_FEATURE_SUBGROUP_ARITHMETIC},
        {c->push_descriptor, VKDL_FEATURE_PUSH_DESCRIPTOR}, {c->timestamps, VKDL_FEATURE_TIMESTAMPS},
        {c->coopmat, VKDL_FEATURE_COOPERATIVE_MATRIX},
    };
    for (size_t i = 0; i < VKDL_ARRAY_LEN(f); i++)
        out->features |= f[i].on ? f[i].bit : 0;
}

/* Probe device index (or only count them when caps is NULL) on a throwaway instance. */
static vkdl_status probe_index(const char *op, int index, int *count, vkdl_caps *caps)
{
    vkdl_device d;
    VkPhysicalDevice *pds;
    uint32_t n;
    VKDL_TRY(list_devices(&d, &pds, &n));
    *count = (int)n;
    vkdl_status s = VKDL_OK;
    if (caps && (index < 0 || (uint32_t)index >= n))
        s = vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "%s: device index %d out of range (%u devices)", op, index, n);
    else if (caps)
        probe_all(d.instance, pds[index], caps);
    free(pds);
    vkdl_device_close(&d);
    return s;
}

vkdl_status vkdl_device_count(int *count)
{
    if (!count)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "device_count: count is NULL");
    *count = 0;
    return probe_index("device_count", 0, count, NULL);
}

vkdl_status vkdl_device_get_info(int index, vkdl_device_info *out)
{
    if (!out)
        return vkdl_fail(VKDL_ERROR_INVALID_ARGUMENT, "device_get_info: out is NULL");
    VKDL_TRY(vkdl_check_next("device_get_info", out->next));
    vkdl_caps c;
    int count;
    VKDL_TRY(probe_index("device_get_info", index, &count, &c));
    vkdl_caps_info(&c, out);
    return VKDL_OK;
}
