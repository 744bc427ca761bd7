#version 450
// The fused per-step gate kernels of the recurrent layers (lib/ops/rnn.c); the matmuls around them
// are vkdl_matmul. One invocation per (batch row b, hidden unit j) of a [B, H] step; gate k of
// row b sits at [b, k H + j] of a [B, G H] tensor (PyTorch's gate order).
//  LSTM:          gates i, f, g, o; c = f c_prev + i g; h = o tanh(c)
//  LSTM BACKWARD: gradients of the gate pre-activations and of c_prev
//  GRU:           gates r, z, n; n = tanh(xn + r hn), h = (1 - z) n + z h_prev
//  GRU BACKWARD:  gradients of the input- and hidden-side pre-activations, and dh z
#include "common.glsl"
#include "rnn.h"

layout(local_size_x_id = RNN_SPEC_WG) in;

layout(push_constant) uniform PC {
#if defined(LSTM) && !defined(BACKWARD)
    uint off_gates, off_c_prev, off_c, off_h;
#elif defined(LSTM)
    uint off_gates, off_c, off_c_prev, off_dout, off_dh, off_dc, off_dgates;
#elif !defined(BACKWARD)
    uint off_gates, off_hh, off_bias, off_h_prev, off_h, off_hn;
#else
    uint off_gates, off_hn, off_h_prev, off_dout, off_dh, off_dxg, off_dhg;
#endif
    RNN_PUSH    // n = B * H
} pc;

float sigmoid(float v) {
    return 1.0 / (1.0 + exp(-v));
}

// Drivers may lower tanh to (e^2x - 1)/(e^2x + 1), which is inf/inf = NaN for large x.
float safe_tanh(float v) {
    return 1.0 - 2.0 / (exp(2.0 * v) + 1.0);
}

#if defined(LSTM) && !defined(BACKWARD)

layout(std430, binding = 0) buffer Gates { float gates[]; };   // pre-activations in, gates out
layout(std430, binding = 1) readonly buffer CPrev { float c_prev[]; };
layout(std430, binding = 2) writeonly buffer C { float c[]; };
layout(std430, binding = 3) writeonly buffer Hout { float h[]; };

void main() {
    uint e = GLOBAL_ID;
    if (e >= pc.n)
        return;
    uint b = e / pc.H, j = e - b * pc.H;
    uint base = pc.off_gates + b * 4 * pc.H + j;
    float gi = sigmoid(gates[base]);
    float gf = sigmoid(gates[base + pc.H]);
    float gg = safe_tanh(gates[base + 2 * pc.H]);
    float go = sigmoid(gates[base + 3 * pc.H]);
    float cn = gf * c_prev[pc.off_c_prev + e] + gi * gg;
    gates[base] = gi;
    gates[base + pc.H] = gf;
    gates[base + 2 * pc.H] = gg;
    gates[base + 3 * pc.H] = go;
    c[pc.off_c + e] = cn;
    h[pc.off_h + e] = go * safe_tanh(cn);
}

#elif defined(LSTM)

layout(std430, binding = 0) readonly buffer Gates { float gates[]; };
layout(std430, binding = 1) readonly buffer C { float c[]; };
layout(std430, binding = 2) readonly buffer CPrev { float c_prev[]; };
layout(std430, binding = 3) readonly buffer Dout { float dout[]; };
layout(std430, binding = 4) readonly buffer Dh { float dh_in[]; };     // from step t + 1
layout(std430, binding = 5) buffer Dc { float dc[]; };                 // in: from t + 1; out: for t - 1
layout(std430, binding = 6) writeonly buffer Dgates { float dgates[]; };

void main() {
    uint e = GLOBAL_ID;
    if (e >= pc.n)
        return;
    uint b = e / pc.H, j = e - b * pc.H;
    uint base = pc.off_gates + b * 4 * pc.H + j;
    float gi = gates[base], gf = gates[base + pc.H], gg = gates[base + 2 * pc.H], go = gates[base + 3 * pc.H];
    float tc = safe_tanh(c[pc.off_c + e]);
    float dh = dout[pc.off_dout + e] + dh_in[pc.off_dh + e];
    float dct = dc[pc.off_dc + e] + dh * go * (1.0 - tc * tc);
    uint ob = pc.off_dgates + b * 4 * pc.H + j;
    dgates[ob] = dct * gg * gi * (1.0 - gi);
    dgates[ob + pc.H] = dct * c_prev[pc.off_c_prev + e] * gf * (1.0 - gf);
    dgates[ob + 2 * pc.H] = dct * gi * (1.0 - gg * gg);
    dgates[ob + 3 * pc.H] = dh * tc * go * (1.0 - go);
    dc[pc.off_dc + e] = dct * gf;
}

#elif !defined(BACKWARD)

layout(constant_id = RNN_SPEC_HAS_BIAS) const bool HAS_BIAS = false;   // else binding 2 is a stand-in

layout(std430, binding = 0) buffer Gates { float gates[]; };   // W_ih x + b_ih in, r z n out
layout(std430, binding = 1) readonly buffer Hh { float hh[]; }; // W_hh h_prev
layout(std430, binding = 2) readonly buffer Bias { float b_hh[]; };
layout(std430, binding = 3) readonly buffer HPrev { float h_prev[]; };
layout(std430, binding = 4) writeonly buffer Hout { float h[]; };
layout(std430, binding = 5) writeonly buffer Hn { float hn_out[]; };  // W_hn h_prev + b_hn

void main() {
    uint e = GLOBAL_ID;
    if (e >= pc.n)
        return;
    uint b = e / pc.H, j = e - b * pc.H;
    uint base = pc.off_gates + b * 3 * pc.H + j;
    uint hb = pc.off_hh + b * 3 * pc.H + j;
    float br = 0.0, bz = 0.0, bn = 0.0;
    if (HAS_BIAS) {
        br = b_hh[pc.off_bias + j];
        bz = b_hh[pc.off_bias + pc.H + j];
        bn = b_hh[pc.off_bias + 2 * pc.H + j];
    }
    float r = sigmoid(gates[base] + hh[hb] + br);
    float z = sigmoid(gates[base + pc.H] + hh[hb + pc.H] + bz);
    float hn = hh[hb + 2 * pc.H] + bn;
    float nn = safe_tanh(gates[base + 2 * pc.H] + r * hn);
    gates[base] = r;
    gates[base + pc.H] = z;
    gates[base + 2 * pc.H] = nn;
    hn_out[pc.off_hn + e] = hn;
    h[pc.off_h + e] = (1.0 - z) * nn + z * h_prev[pc.off_h_prev + e];
}

#else

layout(std430, binding = 0) readonly buffer Gates { float gates[]; };
layout(std430, binding = 1) readonly buffer Hn { float hn[]; };
layout(std430, binding = 2) readonly buffer HPrev { float h_prev[]; };
layout(std430, binding = 3) readonly buffer Dout { float dout[]; };
layout(std430, binding = 4) buffer Dh { float dh_io[]; };   // in: from step t + 1; out: dh z
layout(std430, binding = 5) writeonly buffer Dxg { float dxg[]; };
layout(std430, binding = 6) writeonly buffer Dhg { float dhg[]; };

void main() {
    uint e = GLOBAL_ID;
    if (e >= pc.n)
        return;
    uint b = e / pc.H, j = e - b * pc.H;
    uint base = pc.off_gates + b * 3 * pc.H + j;
    float r = gates[base], z = gates[base + pc.H], nn = gates[base + 2 * pc.H];
    float dh = dout[pc.off_dout + e] + dh_io[pc.off_dh + e];
    float dpn = dh * (1.0 - z) * (1.0 - nn * nn);
    float dpz = dh * (h_prev[pc.off_h_prev + e] - nn) * z * (1.0 - z);
    float dpr = dpn * hn[pc.off_hn + e] * r * (1.0 - r);
    uint xb = pc.off_dxg + b * 3 * pc.H + j, hb = pc.off_dhg + b * 3 * pc.H + j;
    dxg[xb] = dpr;
    dxg[xb + pc.H] = dpz;
    dxg[xb + 2 * pc.H] = dpn;
    dhg[hb] = dpr;
    dhg[hb + pc.H] = dpz;
    dhg[hb + 2 * pc.H] = dpn * r;
    dh_io[pc.off_dh + e] = dh * z;
}

#endif
