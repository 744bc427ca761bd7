#version 450
// Elementwise unary ops and y = alpha*x + beta; alpha and beta are also the parameters of the ops
// that take them. The op is a specialization constant, so each op is its own pipeline with no
// per-element branch. Built with BACKWARD: dx = dy * op'(x).
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

// At kinks PyTorch's choice (relu'(0) = 0, clip' = 1 at its bounds).
float grad(float v, float alpha, float beta) {
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
    if (OP == ABS) return sign(v); // 0 at 0
    if (OP == FLOOR || OP == CEIL || OP == ROUND || OP == SIGN) return 0.0;
    if (OP == RECIPROCAL) {
        float r = 1.0 / v;
        return -r * r;
    }
    if (OP == SIN) return cos_(v);
    if (OP == COS) return -sin_(v);
    if (OP == TAN) {
        float t = tan_(v);
        return 1.0 + t * t;
    }
    // (1 - v)(1 + v) rather than 1 - v^2, exact near +-1
    if (OP == ASIN) return inversesqrt((1.0 - v) * (1.0 + v));
    if (OP == ACOS) return -inversesqrt((1.0 - v) * (1.0 + v));
    if (OP == ATAN) return 1.0 / (1.0 + v * v);
    if (OP == SINH) {
        float h = half_exp(v);
        return h + 0.25 / h;
    }
    if (OP == COSH) return sinh_(v);
    if (OP == ASINH) return abs(v) > 1e4 ? 1.0 / abs(v) : inversesqrt(1.0 + v * v);
    if (OP == ACOSH) return inversesqrt((v - 1.0) * (v + 1.0));
    if (OP == ATANH) return 1.0 / ((1.0 - v) * (1.0 + v));
    if (OP == ERF) return 1.1283791671 * exp(-v * v);
    if (OP == SOFTPLUS) return sigmoid(v);
    if (OP == SOFTSIGN) {
        float d = 1.0 + abs(v);
        return 1.0 / (d * d);
    }
    if (OP == SILU) return sigmoid(v) * (1.0 + v * sigmoid(-v));
    if (OP == MISH) {
        // tanh(sp) + v sech^2(sp) sigmoid(v), sp = softplus v: with e = e^v and n = e (e + 2),
        // n / (n + 2) + 4 v e (e + 1) / (n + 2)^2
        if (v > 20.0) return 1.0;
        float e = exp(v), n = e * (e + 2.0), d = n + 2.0;
        return n / d + 4.0 * v * e * (e + 1.0) / (d * d);
    }
    if (OP == HARDSWISH) return v < -3.0 ? 0.0 : v <= 3.0 ? (2.0 * v + 3.0) / 6.0 : 1.0;
    if (OP == LEAKY_RELU) return v > 0.0 ? 1.0 : alpha;
    if (OP == ELU) return v > 0.0 ? 1.0 : alpha * exp(v);
    if (OP == SELU) return beta * (v > 0.0 ? 1.0 : alpha * exp(v));
    if (OP == CELU) return v > 0.0 ? 1.0 : exp(v / alpha);
    if (OP == HARDSIGMOID) {
        float t = alpha * v + beta;
        return t > 0.0 && t < 1.0 ? alpha : 0.0;
    }
    if (OP == CLIP) return v >= alpha && v <= beta ? 1.0 : 0.0;
    if (OP == THRESHOLDED_RELU) return v > alpha ? 1.0 : 0.0;
    return abs(v) > alpha ? 1.0 : 0.0; // SHRINK
}

void main() {
    uint i = GLOBAL_ID;
    if (i < pc.n)
        dx[pc.off_dx + i] = dy[pc.off_dy + i] * grad(x[pc.off_x + i], pc.alpha, pc.beta);
}
#else
float apply(float v) {
    if (OP == SCALE) return pc.alpha * v + pc.beta;
    return activation(OP, v, pc.alpha, pc.beta);
}

void main() {
    uint i = GLOBAL_ID;
    if (i < pc.n)
        y[pc.off_y + i] = apply(x[pc.off_x + i]);
}
#endif
