#version 450
// out = x with dims permuted, for any element size. Both tensors are bound as uint words so no
// 8/16-bit storage feature is needed. An invocation owns one output word and assembles its
// 4 / ESIZE elements from wherever they lie in x: a store of a shared word by two invocations
// would lose one of them, so nobody writes a word another invocation writes.
// The dims arrive collapsed by the host (size-1 dims dropped, runs that stay adjacent merged),
// innermost output dim first, with the x stride (in elements) of each.
#include "common.glsl"
#include "permute.h"

layout(local_size_x_id = PERMUTE_SPEC_WG) in;
layout(constant_id = PERMUTE_SPEC_ESIZE) const uint ESIZE = 4;

const uint PER = 4 / ESIZE;                     // elements per word
const uint BITS = 8 * ESIZE;
const uint MASK = ESIZE == 4 ? 0xffffffffu : (1u << (8 * ESIZE)) - 1u;

layout(std430, binding = 0) readonly buffer X { uint x[]; };
// Not writeonly: words shared with a neighbouring tensor are updated with atomics.
layout(std430, binding = 1) buffer Y { uint y[]; };
layout(push_constant) uniform PC {
    uint off_x, off_y;  // element offsets
    PERMUTE_PUSH
} pc;

uint source_element(uint j) {
    uint src = 0;
    for (uint d = 0; d < pc.ndim; d++) {
        uint q = j / pc.dim[d];
        src += (j - q * pc.dim[d]) * pc.stride[d];
        j = q;
    }
    return src;
}

void main() {
    uint first = pc.off_y / PER;
    uint w = first + GLOBAL_ID;
    if (PER == 1) {
        if (GLOBAL_ID < pc.n)
            y[w] = x[pc.off_x + source_element(GLOBAL_ID)];
        return;
    }
    if (w > (pc.off_y + pc.n - 1) / PER)
        return;
    uint word = 0, mine = 0;
    [[unroll]] for (uint h = 0; h < PER; h++) {
        uint p = w * PER + h;
        if (p < pc.off_y || p - pc.off_y >= pc.n)
            continue;
        uint s = pc.off_x + source_element(p - pc.off_y);
        word |= ((x[s / PER] >> (s % PER * BITS)) & MASK) << (h * BITS);
        mine |= MASK << (h * BITS);
    }
    if (mine == 0xffffffffu) {
        y[w] = word;
    } else {
        // First or last word of an unaligned view: the other elements belong to another tensor
        // that a concurrent dispatch may be writing, so touch only ours, atomically.
        atomicAnd(y[w], ~mine);
        atomicOr(y[w], word);
    }
}
