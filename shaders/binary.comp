#version 450
// out = a op b with broadcasting. The launcher collapses dims that are contiguous in all three
// tensors, so NDIM (a specialization constant, the loop fully unrolled) is usually 1 to 3.
#include "common.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint OP = 0;      // vkdl_binary_op
layout(constant_id = 2) const uint NDIM = 1;

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer C { float c[]; };
layout(push_constant) uniform PC {
    uint off_a, off_b, off_c;
    uint n;
    uint shape[8];     // collapsed output shape, NDIM used
    uint stride_a[8];  // 0 where a is broadcast
    uint stride_b[8];
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
    if (OP == 0) r = x + y;
    else if (OP == 1) r = x - y;
    else if (OP == 2) r = x * y;
    else r = x / y;
    c[pc.off_c + i] = r;
}
