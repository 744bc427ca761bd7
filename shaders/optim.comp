#version 450
// Optimizer steps over one flat parameter tensor (an invocation per element), and, built with
// CLIP, the global gradient norm for clipping.
#include "common.glsl"
#include "optim.h"

layout(local_size_x_id = OPTIM_SPEC_WG) in;

#ifndef CLIP

layout(constant_id = OPTIM_SPEC_TYPE) const uint TYPE = 0;
layout(constant_id = OPTIM_SPEC_USE_M) const bool USE_M = false;
layout(constant_id = OPTIM_SPEC_NESTEROV) const bool NESTEROV = false;
layout(constant_id = OPTIM_SPEC_HAS_SCALE) const bool HAS_SCALE = false;

const uint SGD = OPTIM_TYPE_SGD, ADAM = OPTIM_TYPE_ADAM, ADAMW = OPTIM_TYPE_ADAMW, RMSPROP = OPTIM_TYPE_RMSPROP;

// Unused state bindings are bound to some other tensor and never touched.
layout(std430, binding = 0) buffer P { float p[]; };
layout(std430, binding = 1) readonly buffer G { float g[]; };
layout(std430, binding = 2) buffer M { float m[]; };
layout(std430, binding = 3) buffer V { float v[]; };
layout(std430, binding = 4) readonly buffer S { float s[]; };
layout(push_constant) uniform PC {
    uint off_p, off_g, off_m, off_v, off_s;
    OPTIM_PUSH
} pc;

void main() {
    uint i = GLOBAL_ID;
    if (i >= pc.n)
        return;
    float pi = p[pc.off_p + i];
    float gi = g[pc.off_g + i];
    if (HAS_SCALE)
        gi *= s[pc.off_s];
    if (TYPE == SGD) {
        gi += pc.wd * pi;
        if (USE_M) {
            float buf = pc.first != 0 ? gi : pc.momentum * m[pc.off_m + i] + (1.0 - pc.dampening) * gi;
            m[pc.off_m + i] = buf;
            gi = NESTEROV ? gi + pc.momentum * buf : buf;
        }
        pi -= pc.lr * gi;
    } else if (TYPE == ADAM || TYPE == ADAMW) {
        if (TYPE == ADAMW)
            pi *= 1.0 - pc.lr * pc.wd;
        else
            gi += pc.wd * pi;
        float mi = pc.beta1 * m[pc.off_m + i] + (1.0 - pc.beta1) * gi;
        float vi = pc.beta2 * v[pc.off_v + i] + (1.0 - pc.beta2) * gi * gi;
        m[pc.off_m + i] = mi;
        v[pc.off_v + i] = vi;
        pi -= pc.step_size * mi / (sqrt(vi) * pc.inv_sqrt_bc2 + pc.eps);
    } else {
        gi += pc.wd * pi;
        float vi = pc.alpha * v[pc.off_v + i] + (1.0 - pc.alpha) * gi * gi;
        v[pc.off_v + i] = vi;
        float u = gi / (sqrt(vi) + pc.eps);
        if (USE_M) {
            u += pc.momentum * m[pc.off_m + i];
            m[pc.off_m + i] = u;
        }
        pi -= pc.lr * u;
    }
    p[pc.off_p + i] = pi;
}

#else

// Sum of squares in two passes with no atomics, so the result has the same bits on every run:
// pass SQUARE sums src^2 over a contiguous chunk per workgroup into dst[group]; a FINAL pass
// (one workgroup) turns its sum into the norm in dst[0] and the clip factor in scale[0].
layout(constant_id = OPTIM_CLIP_SPEC_SQUARE) const bool SQUARE = true;
layout(constant_id = OPTIM_CLIP_SPEC_FINAL) const bool FINAL = true;

layout(std430, binding = 0) readonly buffer Src { float src[]; };
layout(std430, binding = 1) writeonly buffer Dst { float dst[]; };
layout(std430, binding = 2) writeonly buffer Scale { float scale[]; };
layout(push_constant) uniform PC {
    uint off_src, off_dst, off_scale;
    OPTIM_CLIP_PUSH
} pc;

shared float s_sum[gl_WorkGroupSize.x];

void main() {
    uint lid = gl_LocalInvocationID.x;
    uint begin = GROUP_ID * pc.chunk;
    uint end = min(pc.n, begin + pc.chunk);
    float acc = 0.0;
    for (uint k = begin + lid; k < end; k += gl_WorkGroupSize.x) {
        float e = src[pc.off_src + k];
        acc += SQUARE ? e * e : e;
    }
    // A power-of-two tree in a fixed order: deterministic on every device.
    s_sum[lid] = acc;
    barrier();
    for (uint w = gl_WorkGroupSize.x / 2; w > 0; w >>= 1) {
        if (lid < w)
            s_sum[lid] += s_sum[lid + w];
        barrier();
    }
    if (lid != 0)
        return;
    float total = s_sum[0];
    if (FINAL) {
        float norm = sqrt(total);
        dst[pc.off_dst] = norm;
        scale[pc.off_scale] = min(1.0, pc.max_norm / (norm + 1e-6));
    } else {
        dst[pc.off_dst + GROUP_ID] = total;
    }
}

#endif
