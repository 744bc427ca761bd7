#version 450
// Indexing kernels for any element size: both tensors of a copy are bound as uint words so no
// 8/16-bit storage feature is needed, and an invocation owns one output word, assembling its
// 4 / ESIZE elements from wherever they lie in x (a store of a shared word by two invocations
// would lose one of them), as in permute.comp.
//  - VIEW: a box of out from strided x indices, each mapped by a pad mode (vkdl_view_copy);
//  - default: MODE GATHER (ONNX Gather), GATHER_ELEMENTS, and GATHER_BACKWARD (f32), which sums
//    for each dx element the dout elements that picked it, in increasing index order, so the
//    result is the same bits on every run without atomics;
//  - SCATTER (4-byte elements): an invocation per out element starts from x and combines, in
//    row-major order, the updates aimed at it: the updates of its line along the axis.
#include "common.glsl"
#include "index.h"

layout(local_size_x_id = INDEX_SPEC_WG) in;
layout(constant_id = INDEX_SPEC_ESIZE) const uint ESIZE = 4;
layout(constant_id = INDEX_SPEC_MODE) const uint MODE = 0;
layout(constant_id = INDEX_SPEC_INT) const bool INT = false;

const uint PER = 4 / ESIZE;                     // elements per word
const uint BITS = 8 * ESIZE;
const uint MASK = ESIZE == 4 ? 0xffffffffu : (1u << (8 * ESIZE)) - 1u;

// lavapipe ends a shader's loops after 65535 iterations in all, so scans take UNROLL per iteration.
const uint UNROLL = 16;

#if defined(VIEW)
layout(std430, binding = 0) readonly buffer X { uint x[]; };
// Not writeonly: words shared with elements outside the box are updated with atomics.
layout(std430, binding = 1) buffer Y { uint y[]; };
layout(push_constant) uniform PC {
    uint off_x, off_y;  // element offsets
    INDEX_VIEW_PUSH
} pc;
#elif defined(SCATTER)
layout(std430, binding = 0) readonly buffer X { uint x[]; };
layout(std430, binding = 1) readonly buffer I { int idx[]; };
layout(std430, binding = 2) readonly buffer U { uint upd[]; };
layout(std430, binding = 3) writeonly buffer Y { uint y[]; };
layout(push_constant) uniform PC {
    uint off_x, off_i, off_u, off_y;
    INDEX_GATHER_PUSH
} pc;
#else
layout(std430, binding = 0) readonly buffer X { uint x[]; };   // x, or dout
layout(std430, binding = 1) readonly buffer I { int idx[]; };
layout(std430, binding = 2) buffer Y { uint y[]; };            // out, or dx
layout(push_constant) uniform PC {
    uint off_x, off_i, off_y;
    INDEX_GATHER_PUSH
} pc;
#endif

#if !defined(SCATTER)
uint element(uint s) { return (x[s / PER] >> (s % PER * BITS)) & MASK; }

// Word w of y gets `word` in the bits `mine`. The first or last word of an unaligned range holds
// elements of another tensor (or outside the box) that a concurrent invocation or dispatch may be
// writing, so such a word is updated atomically, touching only ours.
void store(uint w, uint word, uint mine) {
    if (mine == 0xffffffffu) {
        y[w] = word;
    } else if (mine != 0) {
        atomicAnd(y[w], ~mine);
        atomicOr(y[w], word);
    }
}
#endif

// An index along a dim of size n: negative counts from the end; false when outside [-n, n).
bool wrap_index(int v, uint n, out uint r) {
    r = v < 0 ? uint(v + int(n)) : uint(v);
    return v < 0 ? uint(-v) <= n : uint(v) < n;
}

#if defined(VIEW)
// The x index that index c of a dim of size n reads under the pad mode; false: the constant.
bool map_index(int c, uint n, out uint r) {
    r = 0;
    if (c >= 0 && uint(c) < n) {
        r = uint(c);
        return true;
    }
    if (MODE == INDEX_PAD_CONSTANT || MODE == INDEX_PAD_FILL)
        return false;
    if (MODE == INDEX_PAD_EDGE) {
        r = c < 0 ? 0u : n - 1u;
        return true;
    }
    uint period = MODE == INDEX_PAD_WRAP ? n : 2u * n - 2u;
    // % of a negative int is undefined in GLSL
    uint m = c < 0 ? period - 1u - uint(-(c + 1)) % period : uint(c) % period;
    r = m < n ? m : period - m;
    return true;
}

void main() {
    uint g = GLOBAL_ID;
    if (g >= pc.n)
        return;
    uint row = g / pc.wpr, k = g - row * pc.wpr;
    uint o = pc.off_y + pc.obase, s = pc.off_x + pc.xbase;
    bool inside = MODE != INDEX_PAD_FILL;
    for (uint d = 1; d < pc.ndim; d++) {
        uint q = row / pc.extent[d], i = row - q * pc.extent[d], r;
        row = q;
        o += i * pc.ostride[d];
        inside = map_index(pc.start[d] + int(i) * pc.step[d], pc.xdim[d], r) && inside;
        s += r * pc.xstride[d];
    }
    // This row of the box is out elements [o, o + extent[0]).
    uint r;
    if (PER == 1) {
        bool in_x = map_index(pc.start[0] + int(k) * pc.step[0], pc.xdim[0], r) && inside;
        y[o + k] = in_x ? x[s + r * pc.xstride[0]] : pc.fill;
        return;
    }
    uint w = o / PER + k, word = 0, mine = 0;
    [[unroll]] for (uint h = 0; h < PER; h++) {
        uint p = w * PER + h;
        if (p < o || p - o >= pc.extent[0])
            continue;
        bool in_x = map_index(pc.start[0] + int(p - o) * pc.step[0], pc.xdim[0], r) && inside;
        word |= (in_x ? element(s + r * pc.xstride[0]) : pc.fill & MASK) << (h * BITS);
        mine |= MASK << (h * BITS);
    }
    store(w, word, mine);
}

#elif defined(SCATTER)
uint combine(uint a, uint b) {
    if (MODE == INDEX_SCATTER_NONE)
        return b;
    if (INT) {
        int p = int(a), q = int(b);
        return uint(MODE == INDEX_SCATTER_ADD ? p + q
                    : MODE == INDEX_SCATTER_MUL ? p * q
                    : MODE == INDEX_SCATTER_MAX ? (q > p ? q : p) : (q < p ? q : p));
    }
    float p = uintBitsToFloat(a), q = uintBitsToFloat(b);
    return floatBitsToUint(MODE == INDEX_SCATTER_ADD ? p + q
                           : MODE == INDEX_SCATTER_MUL ? p * q
                           : MODE == INDEX_SCATTER_MAX ? (q > p ? q : p) : (q < p ? q : p));
}

void main() {
    uint j = GLOBAL_ID;
    if (j >= pc.n)
        return;
    // The updates that may land on element j: those with its coordinates off the axis.
    uint u0 = 0, us = 1, ustride = 0, c_axis = 0, rest = j;
    bool any = true;
    for (uint d = 0; d < pc.ndim; d++) {
        uint q = rest / pc.dim[d], c = rest - q * pc.dim[d];
        rest = q;
        if (d == pc.axis) {
            c_axis = c;
            ustride = us;
        } else {
            any = any && c < pc.aux[d];
            u0 += c * us;
        }
        us *= pc.aux[d];
    }
    uint v = x[pc.off_x + j], len = any ? pc.aux[pc.axis] : 0u;
    for (uint k0 = 0; k0 < len; k0 += UNROLL) {
        [[unroll]] for (uint kk = 0; kk < UNROLL; kk++) {
            uint k = k0 + kk, t;
            if (k < len && wrap_index(idx[pc.off_i + u0 + k * ustride], pc.dim[pc.axis], t) && t == c_axis)
                v = combine(v, upd[pc.off_u + u0 + k * ustride]);
        }
    }
    y[pc.off_y + j] = v;
}

#else
// The x element (from x's first) that out element j reads; false: a zero.
bool source(uint j, out uint s) {
    s = 0;
    if (MODE == INDEX_OP_GATHER) {
        uint inner = pc.dim[0], n_idx = pc.dim[1], q = j / inner, i = j - q * inner;
        uint o = q / n_idx, k = q - o * n_idx, v;
        if (!wrap_index(idx[pc.off_i + k], pc.aux[0], v))
            return false;
        s = (o * pc.aux[0] + v) * inner + i;
        return true;
    }
    uint v, xs = 1;
    if (!wrap_index(idx[pc.off_i + j], pc.aux[pc.axis], v))
        return false;
    for (uint d = 0; d < pc.ndim; d++) {
        uint q = j / pc.dim[d], c = j - q * pc.dim[d];
        j = q;
        s += (d == pc.axis ? v : c) * xs;
        xs *= pc.aux[d];
    }
    return true;
}

void main() {
    uint j = GLOBAL_ID;
    if (MODE == INDEX_OP_GATHER_BACKWARD) {
        if (j >= pc.n)
            return;
        uint inner = pc.dim[0], n_idx = pc.dim[1], N = pc.aux[0];
        uint q = j / inner, i = j - q * inner, o = q / N, v = q - o * N;
        float acc = 0.0;
        for (uint k0 = 0; k0 < n_idx; k0 += UNROLL) {
            [[unroll]] for (uint kk = 0; kk < UNROLL; kk++) {
                uint k = k0 + kk, t;
                if (k < n_idx && wrap_index(idx[pc.off_i + k], N, t) && t == v)
                    acc += uintBitsToFloat(x[pc.off_x + (o * n_idx + k) * inner + i]);
            }
        }
        y[pc.off_y + j] = floatBitsToUint(acc);
        return;
    }
    uint s;
    if (PER == 1) {
        if (j < pc.n)
            y[pc.off_y + j] = source(j, s) ? x[pc.off_x + s] : 0u;
        return;
    }
    uint w = pc.off_y / PER + j;
    if (w > (pc.off_y + pc.n - 1) / PER)
        return;
    uint word = 0, mine = 0;
    [[unroll]] for (uint h = 0; h < PER; h++) {
        uint p = w * PER + h;
        if (p < pc.off_y || p - pc.off_y >= pc.n)
            continue;
        word |= (source(p - pc.off_y, s) ? element(pc.off_x + s) : 0u) << (h * BITS);
        mine |= MASK << (h * BITS);
    }
    store(w, word, mine);
}
#endif
