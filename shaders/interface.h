/* The one way C and GLSL share a kernel family's interface. Each family's header (softmax.h, ...)
 * is included by its .comp and by its launcher in lib/ops/, and declares:
 *   - <FAMILY>_SPEC_<NAME>: specialization-constant ids, and <FAMILY>_SPEC_COUNT;
 *   - <FAMILY>_FLAG_<NAME>: flag bits (GLSL and C read `1u << n` alike);
 *   - <FAMILY>_PUSH: the kernel's own push-constant fields, one declaration per field (no commas),
 *     typed u32 / i32 / f32. The .comp writes them after its binding offsets:
 *         layout(push_constant) uniform PC { uint off_x, off_y; SOFTMAX_PUSH } pc;
 *     and the launcher declares  VKDL_PUSH_STRUCT(softmax_push, SOFTMAX_PUSH, 3);  (3: the most
 *     bindings any of its kernels has) and sets vkdl_kernel.push_size = sizeof(struct softmax_push).
 *     Fields are 4-byte scalars or arrays of them, so std430 and C lay them out identically. */
#ifndef VKDL_SHADER_INTERFACE_H
#define VKDL_SHADER_INTERFACE_H

#ifdef GL_core_profile /* GLSL */
#define u32 uint
#define i32 int
#define f32 float
#else /* C */
#include <stdint.h>
typedef uint32_t u32;
typedef int32_t i32;
typedef float f32;
/* Vulkan guarantees 128 bytes of push constants; binding offsets take 4 bytes per binding. */
#define VKDL_PUSH_GUARANTEED 128
/* The C twin of a family's push-constant fields, checked against the guaranteed size for a kernel
 * of up to n_bindings bindings (each one's offset precedes the fields). */
#define VKDL_PUSH_STRUCT(name, fields, n_bindings)                                                     \
    struct name {                                                                                      \
        fields                                                                                         \
    };                                                                                                 \
    _Static_assert(sizeof(struct name) % 4 == 0, #name " is a whole number of 32-bit words");          \
    _Static_assert(4 * (n_bindings) + sizeof(struct name) <= VKDL_PUSH_GUARANTEED,                     \
                   #name " and its binding offsets fit the 128 bytes every device guarantees")
#endif

#endif
