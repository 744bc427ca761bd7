#version 450
// out = a op b with broadcasting. The launcher collapses dims that are contiguous in all three
// tensors, so NDIM (a specialization constant, the loop fully unrolled) is usually 1 to 3.
// Built with BACKWARD: the gradient of one operand (WHICH), an invocation or a workgroup per
// element of it (MODE).
#include "common.glsl"
#include "binary.h"

layout(local_size_x_id = BINARY_SPEC_WG) in;
layout(constant_id = BINARY_SPEC_OP) const uint OP = 0;
layout(constant_id = BINARY_SPEC_NDIM) const uint NDIM = 1;

#ifdef BACKWARD
layout(constant_id = BINARY_SPEC_WHICH) const uint WHICH = 0;
layout(constant_id = BINARY_SPEC_MODE) const uint MODE = 0;    // see main

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) readonly buffer DOUT { float dout[]; };
layout(std430, binding = 3) writeonly buffer G { float g[]; };
layout(push_constant) uniform PC {
    uint off_a, off_b, off_dout, off_g;
    BINARY_BACKWARD_PUSH
} pc;

bool is_reduced(int d) { return (pc.reduced & (1u << d)) != 0; }

// d out / d (the operand) times the upstream gradient d.
float partial(float x, float y, float d) {
    if (OP == BINARY_OP_ADD) return d;
    if (OP == BINARY_OP_SUB) return WHICH == BINARY_WHICH_A ? d : -d;
    if (OP == BINARY_OP_MUL) return d * (WHICH == BINARY_WHICH_A ? y : x);
    return WHICH == BINARY_WHICH_A ? d / y : -d * (x / y) / y;
}

shared float s_sum[gl_WorkGroupSize.x];

void main() {
    // MODE INVOCATION: invocation i sums all of element i's terms. MODE WORKGROUP: workgroup i
    // shares them out, invocation k taking terms k, k + WG, ..., for long sums (lavapipe also
    // ends a shader's loops after 65535 iterations in all).
    uint i = MODE == BINARY_MODE_INVOCATION ? GLOBAL_ID : GROUP_ID;
    // Uniform per workgroup in MODE WORKGROUP, so its barriers stay in uniform control flow.
    if (i >= pc.n)
        return;
    uint first = MODE == BINARY_MODE_INVOCATION ? 0 : gl_LocalInvocationID.x;
    uint step = MODE == BINARY_MODE_INVOCATION ? 1 : gl_WorkGroupSize.x;
    // The operand's elements are its kept dims in row-major order, so i splits over them.
    // dout's stride of dim d is the product of the sizes after it, kept as a running product
    // (a local array here would share its type with the push-constant arrays, and glslang then
    // gives it an ArrayStride that newer spirv-val rejects).
    uint o0 = 0, a0 = 0, b0 = 0, rest = i, ostride = 1;
    [[unroll]] for (int d = int(NDIM) - 1; d >= 0; d--) {
        if (!is_reduced(d)) {
            uint coord = rest % pc.shape[d];
            rest /= pc.shape[d];
            o0 += coord * ostride;
            a0 += coord * pc.stride_a[d];
            b0 += coord * pc.stride_b[d];
        }
        ostride *= pc.shape[d];
    }
    // Kahan sum in a fixed order: the same bits on every run, and digits kept over long sums.
    precise float sum = 0.0, comp = 0.0;
    for (uint r = first; r < pc.n_red; r += step) {
        uint o = o0, ia = a0, ib = b0, rr = r, os = 1;
        [[unroll]] for (int d = int(NDIM) - 1; d >= 0; d--) {
            if (is_reduced(d)) {
                uint coord = rr % pc.shape[d];
                rr /= pc.shape[d];
                o += coord * os;
                ia += coord * pc.stride_a[d];
                ib += coord * pc.stride_b[d];
            }
            os *= pc.shape[d];
        }
        precise float v = partial(a[pc.off_a + ia], b[pc.off_b + ib], dout[pc.off_dout + o]) - comp;
        precise float t = sum + v;
        comp = (t - sum) - v;
        sum = t;
    }
    if (MODE == BINARY_MODE_INVOCATION) {
        g[pc.off_g + i] = sum;
        return;
    }
    // A power-of-two tree, the same pairs on every run.
    uint lid = gl_LocalInvocationID.x;
    s_sum[lid] = sum;
    barrier();
    for (uint h = gl_WorkGroupSize.x / 2; h > 0; h >>= 1) {
        if (lid < h)
            s_sum[lid] += s_sum[lid + h];
        barrier();
    }
    if (lid == 0)
        g[pc.off_g + i] = s_sum[0];
}
#else
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer C { float c[]; };
layout(push_constant) uniform PC {
    uint off_a, off_b, off_c;
    BINARY_PUSH
} pc;

void main() {
    uint i = GLOBAL_ID;
    if (i >= pc.n)
        return;
    uint ia = 0, ib = 0, rest = i;
    [[unroll]] for (int d = int(NDIM) - 1; d >= 0; d--) {
        uint coord = rest % pc.shape[d];
        rest /= pc.shape[d];
        ia += coord * pc.stride_a[d];
        ib += coord * pc.stride_b[d];
    }
    float x = a[pc.off_a + ia], y = b[pc.off_b + ib], r;
    if (OP == BINARY_OP_ADD) r = x + y;
    else if (OP == BINARY_OP_SUB) r = x - y;
    else if (OP == BINARY_OP_MUL) r = x * y;
    else r = x / y;
    c[pc.off_c + i] = r;
}
#endif
