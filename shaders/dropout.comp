#version 450
// Dropout (forward and backward are the same map): out = keep ? x * scale : 0. The mask comes
// from Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011)
// keyed by the 64-bit seed, counter = element index / 4: one call gives the 4 uniforms of 4
// consecutive elements, so an invocation handles those 4. Element i is kept iff
// (word[i % 4] >> 8) * 2^-24 >= p, exactly as lib/ops/dropout.c computes it on the CPU.
#include "common.glsl"
#include "dropout.h"

layout(local_size_x_id = DROPOUT_SPEC_WG) in;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform PC {
    uint off_x, off_y;
    DROPOUT_PUSH
} pc;

uvec4 philox4x32_10(uvec4 c, uvec2 k) {
    [[unroll]] for (int r = 0; r < 10; r++) {
        if (r > 0)
            k += uvec2(0x9E3779B9u, 0xBB67AE85u);
        uint hi0, lo0, hi1, lo1;
        umulExtended(0xD2511F53u, c.x, hi0, lo0);
        umulExtended(0xCD9E8D57u, c.z, hi1, lo1);
        c = uvec4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    }
    return c;
}

void main() {
    uint g = GLOBAL_ID;
    uint first = 4 * g;
    if (g > (pc.n - 1) / 4)      // n > 0: empty tensors never dispatch
        return;
    uvec4 bits = philox4x32_10(uvec4(g, 0, 0, 0), uvec2(pc.key0, pc.key1));
    [[unroll]] for (uint j = 0; j < 4; j++) {
        uint i = first + j;
        if (i < pc.n) {
            bool keep = float(bits[j] >> 8) * (1.0 / 16777216.0) >= pc.p;
            y[pc.off_y + i] = keep ? x[pc.off_x + i] * pc.scale : 0.0;
        }
    }
}
