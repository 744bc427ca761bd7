#version 450
// Embedding lookup and its backward, an invocation per output element.
//  - forward: out[r, d] = weight[idx[r], d], a zero row where idx[r] is outside [0, V);
//  - BACKWARD (spec constant): dweight[v, d] = sum of dout[r, d] over the r with idx[r] == v,
//    taken in increasing r, so the result is the same bits on every run without atomics.
//    Invocations of one workgroup mostly share v, so the idx reads are uniform.
#include "common.glsl"
#include "embedding.h"

layout(local_size_x_id = EMBEDDING_SPEC_WG) in;
layout(constant_id = EMBEDDING_SPEC_BACKWARD) const bool BACKWARD = false;

layout(std430, binding = 0) readonly buffer SRC { float src[]; };    // weight, or dout
layout(std430, binding = 1) readonly buffer IDX { int idx[]; };
layout(std430, binding = 2) writeonly buffer DST { float dst[]; };   // out, or dweight

// lavapipe ends a shader's loops after 65535 iterations in all, so the scan over idx takes UNROLL
// indices per iteration.
const uint UNROLL = 16;

layout(push_constant) uniform PC {
    uint off_src, off_idx, off_dst;
    EMBEDDING_PUSH
} pc;

void main() {
    uint i = GLOBAL_ID;
    if (i >= pc.n)
        return;
    uint row = i / pc.D, d = i - row * pc.D;
    if (BACKWARD) {
        float acc = 0.0;
        for (uint r0 = 0; r0 < pc.n_idx; r0 += UNROLL) {
            [[unroll]] for (uint k = 0; k < UNROLL; k++) {
                uint r = r0 + k;
                if (r < pc.n_idx && idx[pc.off_idx + r] == int(row))
                    acc += src[pc.off_src + r * pc.D + d];
            }
        }
        dst[pc.off_dst + i] = acc;
    } else {
        int v = idx[pc.off_idx + row];
        dst[pc.off_dst + i] = v >= 0 && uint(v) < pc.V ? src[pc.off_src + uint(v) * pc.D + d] : 0.0;
    }
}
