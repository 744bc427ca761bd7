#version 450
// Pooling and nearest upsampling of NCHW tensors, seen as planes: x is [planes, H, W] and the
// pooled / upsampled side is [planes, OH, OW]. Builds (#define rows in shaders/meson.build):
//  default      two-binding ops picked by OP; an invocation per destination element gathers
//               its sources, so every element has one writer and a fixed summation order;
//  MAXPOOL      max pool with the optional argmax (h * W + w in the plane);
//  MAXPOOL_BWD  dx from dy and the argmax alone (no window geometry): an invocation per plane
//               adds the plane's dy into the zeroed dx in output order, so outputs that share an
//               argmax are summed without races and deterministically; long planes take several
//               dispatches, each a range of the outputs.
#include "common.glsl"
#include "pool.h"

layout(local_size_x_id = POOL_SPEC_WG) in;

#if defined(MAXPOOL)

layout(constant_id = POOL_SPEC_HAS_IDX) const bool HAS_IDX = false;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(std430, binding = 2) writeonly buffer I { int idx[]; };
layout(push_constant) uniform PC {
    uint off_x, off_y, off_i;
    POOL_MAX_PUSH
} pc;

void main() {
    uint i = GLOBAL_ID;
    if (i >= pc.n)
        return;
    uint plane = i / (pc.OH * pc.OW), r = i - plane * pc.OH * pc.OW, oh = r / pc.OW, ow = r - oh * pc.OW;
    int h0 = int(oh * pc.sh) - int(pc.ph), w0 = int(ow * pc.sw) - int(pc.pw);
    int h1 = min(h0 + int(pc.kh), int(pc.H)), w1 = min(w0 + int(pc.kw), int(pc.W));
    uint base = pc.off_x + plane * pc.H * pc.W;
    // Padding is -inf, so only real elements compete; padding <= kernel / 2 (checked by the
    // launcher) puts at least one in every window. Strict > keeps the first maximum; a NaN wins,
    // as in PyTorch.
    float best = NEG_INF;
    int at = -1;
    for (int h = max(h0, 0); h < h1; h++) {
        for (int w = max(w0, 0); w < w1; w++) {
            float v = x[base + uint(h) * pc.W + uint(w)];
            if (at < 0 || v > best || isnan(v)) {
                best = v;
                at = h * int(pc.W) + w;
            }
        }
    }
    y[pc.off_y + i] = best;
    if (HAS_IDX)
        idx[pc.off_i + i] = at;
}

#elif defined(MAXPOOL_BWD)

layout(std430, binding = 0) readonly buffer DY { float dy[]; };
layout(std430, binding = 1) readonly buffer I { int idx[]; };
layout(std430, binding = 2) buffer DX { float dx[]; };
layout(push_constant) uniform PC {
    uint off_dy, off_i, off_dx;
    POOL_MAX_BWD_PUSH
} pc;

void main() {
    uint plane = GLOBAL_ID;
    if (plane >= pc.planes)
        return;
    uint bx = pc.off_dx + plane * pc.hw, by = plane * pc.ohw;
    // An index outside the plane (not from maxpool2d) adds nothing.
    for (uint k = pc.begin; k < pc.end; k++) {
        uint at = uint(idx[pc.off_i + by + k]);
        if (at < pc.hw)
            dx[bx + at] += dy[pc.off_dy + by + k];
    }
}

#else

layout(constant_id = POOL_SPEC_OP) const uint OP = 0;
const uint AVG_FWD = POOL_OP_AVG_FWD, AVG_BWD = POOL_OP_AVG_BWD, GAP_BWD = POOL_OP_GAP_BWD, UP_FWD = POOL_OP_UP_FWD,
           UP_BWD = POOL_OP_UP_BWD;

layout(std430, binding = 0) readonly buffer S { float src[]; };
layout(std430, binding = 1) writeonly buffer D { float dst[]; };
layout(push_constant) uniform PC {
    uint off_s, off_d;
    POOL_PUSH
} pc;

// Average pool divisor of output (oh, ow). Without ceil mode a window never passes the padded
// edge, so counting the padding gives the full kernel area.
float divisor(int oh, int ow) {
    if (pc.include_pad != 0)
        return float(pc.kh * pc.kw);
    int h0 = oh * int(pc.sh) - int(pc.ph), w0 = ow * int(pc.sw) - int(pc.pw);
    int hn = min(h0 + int(pc.kh), int(pc.H)) - max(h0, 0), wn = min(w0 + int(pc.kw), int(pc.W)) - max(w0, 0);
    return float(hn * wn);
}

void main() {
    uint i = GLOBAL_ID;
    if (i >= pc.n)
        return;
    float acc = 0.0;
    if (OP == AVG_FWD) {
        uint plane = i / (pc.OH * pc.OW), r = i - plane * pc.OH * pc.OW, oh = r / pc.OW, ow = r - oh * pc.OW;
        int h0 = int(oh * pc.sh) - int(pc.ph), w0 = int(ow * pc.sw) - int(pc.pw);
        int h1 = min(h0 + int(pc.kh), int(pc.H)), w1 = min(w0 + int(pc.kw), int(pc.W));
        uint base = pc.off_s + plane * pc.H * pc.W;
        for (int h = max(h0, 0); h < h1; h++)
            for (int w = max(w0, 0); w < w1; w++)
                acc += src[base + uint(h) * pc.W + uint(w)];
        acc /= divisor(int(oh), int(ow));
    } else if (OP == AVG_BWD) {
        // dx at (h, w) gathers every window that covers it: oh * sh - ph <= h < oh * sh - ph + kh.
        uint plane = i / (pc.H * pc.W), r = i - plane * pc.H * pc.W;
        int h = int(r / pc.W), w = int(r - uint(h) * pc.W);
        int sh = int(pc.sh), sw = int(pc.sw);
        int oh0 = max(h + int(pc.ph) - int(pc.kh) + sh, 0) / sh, oh1 = min((h + int(pc.ph)) / sh, int(pc.OH) - 1);
        int ow0 = max(w + int(pc.pw) - int(pc.kw) + sw, 0) / sw, ow1 = min((w + int(pc.pw)) / sw, int(pc.OW) - 1);
        uint base = pc.off_s + plane * pc.OH * pc.OW;
        for (int oh = oh0; oh <= oh1; oh++)
            for (int ow = ow0; ow <= ow1; ow++)
                acc += src[base + uint(oh) * pc.OW + uint(ow)] / divisor(oh, ow);
    } else if (OP == GAP_BWD) {
        acc = src[pc.off_s + i / (pc.H * pc.W)] / float(pc.H * pc.W);
    } else if (OP == UP_FWD) {
        uint plane = i / (pc.OH * pc.OW), r = i - plane * pc.OH * pc.OW, oh = r / pc.OW, ow = r - oh * pc.OW;
        acc = src[pc.off_s + plane * pc.H * pc.W + (oh / (pc.OH / pc.H)) * pc.W + ow / (pc.OW / pc.W)];
    } else {
        uint plane = i / (pc.H * pc.W), r = i - plane * pc.H * pc.W, h = r / pc.W, w = r - h * pc.W;
        uint fh = pc.OH / pc.H, fw = pc.OW / pc.W;
        uint base = pc.off_s + plane * pc.OH * pc.OW + h * fh * pc.OW + w * fw;
        for (uint a = 0; a < fh; a++)
            for (uint b = 0; b < fw; b++)
                acc += src[base + a * pc.OW + b];
    }
    dst[pc.off_d + i] = acc;
}

#endif
