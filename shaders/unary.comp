#version 450
// Elementwise unary ops and y = alpha*x + beta. The op is a specialization constant, so each op
// is its own pipeline with no per-element branch. Built with BACKWARD: dx = dy * op'(x).
#include "common.glsl"
#include "unary.h"

layout(local_size_x_id = UNARY_SPEC_WG) in;
layout(constant_id = UNARY_SPEC_OP) const uint OP = 0;

#ifdef BACKWARD
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, binding = 2) writeonly buffer DX { float dx[]; };
layout(push_constant) uniform PC {
    uint off_x, off_dy, off_dx;
    UNARY_BACKWARD_PUSH
} pc;
#else
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform PC {
    uint off_x, off_y;
    UNARY_PUSH
} pc;
#endif

#include "activation.glsl"

const uint SCALE = UNARY_OP_SCALE;

#ifdef BACKWARD
// 1 / (1 + e^-v) and 1 / (1 + e^v) each from their own exp, so 1 - sigmoid never cancels.
float sigmoid(float v) { return 1.0 / (1.0 + exp(-v)); }

float grad(float v) {
    if (OP == RELU) return v > 0.0 ? 1.0 : 0.0;
    if (OP == GELU_TANH) {
        // 0.5(1 + tanh u) = s = sigmoid(2u) and 1 - tanh^2 u = 4 s (1 - s)
        float u2 = 1.5957691216 * (v + 0.044715 * v * v * v);
        float s = sigmoid(u2), sc = sigmoid(-u2);
        return s + 1.5957691216 * v * s * sc * (1.0 + 0.134145 * v * v);
    }
    if (OP == GELU_ERF) return 0.5 * one_plus_erf(v * 0.7071067812) + 0.3989422804 * v * exp(-0.5 * v * v);
    if (OP == SIGMOID) return sigmoid(v) * sigmoid(-v);
    if (OP == TANH) return 4.0 * sigmoid(2.0 * v) * sigmoid(-2.0 * v);
    if (OP == EXP) return exp(v);
    if (OP == LOG) return 1.0 / v;
    if (OP == SQRT) return 0.5 / sqrt(v);
    if (OP == NEG) return -1.0;
    return sign(v); // ABS: 0 at 0
}

void main() {
    uint i = GLOBAL_ID;
    if (i < pc.n)
        dx[pc.off_dx + i] = dy[pc.off_dy + i] * grad(x[pc.off_x + i]);
}
#else
float apply(float v) {
    if (OP == SCALE) return pc.alpha * v + pc.beta;
    return activation(OP, v);
}

void main() {
    uint i = GLOBAL_ID;
    if (i < pc.n)
        y[pc.off_y + i] = apply(x[pc.off_x + i]);
}
#endif
