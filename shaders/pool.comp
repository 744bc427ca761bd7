#version 450
// Pooling and nearest upsampling of NCHW tensors, seen as planes: x is [planes, H, W] and the
// pooled / upsampled side is [planes, OH, OW]. Builds (#define rows in shaders/meson.build):
//  default      two-binding ops picked by OP; an invocation per destination element gathers
//               its sources, so every element has one writer and a fixed summation order;
//  MAXPOOL      max pool with the optional argmax (h * W + w in the plane);
//  MAXPOOL_BWD  dx from dy and the argmax alone (no window geometry): an invocation per plane
//               adds the plane's dy into the zeroed dx in output order, so outputs that share an
//               argmax are summed without races and deterministically; long planes take several
//               dispatches, each a range of the outputs;
//  RESIZE       ONNX Resize of each plane: an invocation per output element sums its TAPS x TAPS
//               source taps (edges repeat), rows first as ONNX's reference does, or reads nearest's
//               one tap;
//  RESIZE_BWD   its backward (nearest and linear): an invocation per dx element finds, by binary
//               search on each axis, the outputs whose taps reach it and gathers their dy.
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
    int dh = int(pc.dh), dw = int(pc.dw);
    // The window's taps h0 + j dh, j < kh, that fall inside x (the launcher puts one in every window).
    int jh0 = h0 < 0 ? (dh - 1 - h0) / dh : 0, jh1 = min(int(pc.kh), (int(pc.H) - 1 - h0) / dh + 1);
    int jw0 = w0 < 0 ? (dw - 1 - w0) / dw : 0, jw1 = min(int(pc.kw), (int(pc.W) - 1 - w0) / dw + 1);
    uint base = pc.off_x + plane * pc.H * pc.W;
    // Padding is -inf, so only real elements compete. Strict > keeps the first maximum; a NaN wins,
    // as in PyTorch.
    float best = NEG_INF;
    int at = -1;
    for (int h = h0 + jh0 * dh; h < h0 + jh1 * dh; h += dh) {
        for (int w = w0 + jw0 * dw; w < w0 + jw1 * dw; w += dw) {
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

#elif defined(RESIZE) || defined(RESIZE_BWD)

layout(constant_id = RESIZE_SPEC_MODE) const uint MODE = 0;
layout(constant_id = RESIZE_SPEC_COORD) const uint COORD = 0;
layout(constant_id = RESIZE_SPEC_NEAREST) const uint NEAREST = 0;
layout(constant_id = RESIZE_SPEC_EXCLUDE) const bool EXCLUDE = false;
const int TAPS = MODE == RESIZE_CUBIC ? 4 : 2;

layout(std430, binding = 0) readonly buffer S { float src[]; };
layout(std430, binding = 1) writeonly buffer D { float dst[]; };
layout(push_constant) uniform PC {
    uint off_s, off_d;
    RESIZE_PUSH
} pc;

// Where output o samples an axis of x of length len (s: the scale, olen: s * len), as ONNX's
// reference computes it. precise: the CPU twin rounds each step alike, so both pick one pixel.
float source_coord(uint o, int len, float s, float olen) {
    precise float x = float(o), r;
    if (COORD == RESIZE_COORD_ALIGN_CORNERS)
        r = olen == 1.0 ? 0.0 : x * float(len - 1) / (olen - 1.0);
    else if (COORD == RESIZE_COORD_ASYMMETRIC)
        r = x / s;
    else if (COORD == RESIZE_COORD_TF_HALF_PIXEL_FOR_NN)
        r = (x + 0.5) / s;
    else if (COORD == RESIZE_COORD_PYTORCH_HALF_PIXEL && olen == 1.0)
        r = -0.5;
    else
        r = (x + 0.5) / s - 0.5;
    return r;
}

// The TAPS source indices start, start + 1, ... of output o (read clamped to the edges) and their
// weights c. As in the reference, the window is the TAPS integers nearest the coordinate (the
// left one on a tie, so the fraction r is in (0, 1]), kept within TAPS / 2 of the edges.
int taps(uint o, int len, float s, float olen, out float c[4]) {
    precise float x = source_coord(o, len, s, olen), fl = floor(x);
    precise float r = x == fl ? 1.0 : x - fl;
    int i0 = int(fl) - (x == fl ? 1 : 0);
    int start = clamp(MODE == RESIZE_CUBIC ? i0 - 1 : i0, -TAPS / 2, len - TAPS / 2);
    c = float[4](0.0, 0.0, 0.0, 0.0);
    if (MODE == RESIZE_NEAREST) {
        bool up = r == 1.0 || NEAREST == RESIZE_CEIL || (NEAREST == RESIZE_ROUND_PREFER_FLOOR && r > 0.5) ||
                  (NEAREST == RESIZE_ROUND_PREFER_CEIL && r >= 0.5);
        c[up ? 1 : 0] = 1.0;
    } else if (MODE == RESIZE_LINEAR) {
        c[0] = 1.0 - r;
        c[1] = r;
    } else {
        float a = pc.cubic_a, q = 1.0 - r;
        c[0] = ((a * (r + 1.0) - 5.0 * a) * (r + 1.0) + 8.0 * a) * (r + 1.0) - 4.0 * a;
        c[1] = ((a + 2.0) * r - (a + 3.0)) * r * r + 1.0;
        c[2] = ((a + 2.0) * q - (a + 3.0)) * q * q + 1.0;
        c[3] = ((a * (q + 1.0) - 5.0 * a) * (q + 1.0) + 8.0 * a) * (q + 1.0) - 4.0 * a;
        if (EXCLUDE) {
            float sum = 0.0;
            for (int t = 0; t < 4; t++) {
                c[t] = start + t >= 0 && start + t < len ? c[t] : 0.0;
                sum += c[t];
            }
            for (int t = 0; t < 4; t++)
                c[t] /= sum;
        }
    }
    return start;
}

#if defined(RESIZE)

void main() {
    uint i = GLOBAL_ID;
    if (i >= pc.n)
        return;
    uint plane = i / (pc.OH * pc.OW), r = i - plane * pc.OH * pc.OW, oh = r / pc.OW, ow = r - oh * pc.OW;
    int H = int(pc.H), W = int(pc.W);
    float ch[4], cw[4];
    int h0 = taps(oh, H, pc.scale_h, pc.len_h, ch), w0 = taps(ow, W, pc.scale_w, pc.len_w, cw);
    uint base = pc.off_s + plane * pc.H * pc.W;
    float acc = 0.0;
    if (MODE == RESIZE_NEAREST) {
        int h = clamp(h0 + (ch[1] != 0.0 ? 1 : 0), 0, H - 1), w = clamp(w0 + (cw[1] != 0.0 ? 1 : 0), 0, W - 1);
        acc = src[base + uint(h * W + w)];
    } else {
        for (int a = 0; a < TAPS; a++) {
            uint row = base + uint(clamp(h0 + a, 0, H - 1) * W);
            float s = 0.0;
            for (int b = 0; b < TAPS; b++)
                s += cw[b] * src[row + uint(clamp(w0 + b, 0, W - 1))];
            acc += ch[a] * s;
        }
    }
    dst[pc.off_d + i] = acc;
}

#else

// The weight output o gives x's index h along an axis: its taps' that read h (after clamping).
float weight(uint o, int h, int len, float s, float olen) {
    float c[4];
    int start = taps(o, len, s, olen, c);
    float w = 0.0;
    for (int t = 0; t < TAPS; t++)
        w += clamp(start + t, 0, len - 1) == h ? c[t] : 0.0;
    return w;
}

// The first output in [0, olen) whose window starts at or after lo (window starts never decrease).
uint first_start(int lo, int len, uint olen, float s, float olenf) {
    uint a = 0, b = olen;
    float c[4];
    while (a < b) {
        uint m = (a + b) / 2;
        if (taps(m, len, s, olenf, c) < lo)
            a = m + 1;
        else
            b = m;
    }
    return a;
}

// The outputs [o0, o1) whose taps can reach h: windows starting in [h - TAPS + 1, h], and at an edge
// also those hanging over it.
void reach(int h, int len, uint olen, float s, float olenf, out uint o0, out uint o1) {
    o0 = h == 0 ? 0 : first_start(h - TAPS + 1, len, olen, s, olenf);
    o1 = h == len - 1 ? olen : first_start(h + 1, len, olen, s, olenf);
}

void main() {
    uint i = GLOBAL_ID;
    if (i >= pc.n)
        return;
    uint plane = i / (pc.H * pc.W), r = i - plane * pc.H * pc.W, h = r / pc.W, w = r - h * pc.W;
    int H = int(pc.H), W = int(pc.W);
    uint oh0, oh1, ow0, ow1;
    reach(int(h), H, pc.OH, pc.scale_h, pc.len_h, oh0, oh1);
    reach(int(w), W, pc.OW, pc.scale_w, pc.len_w, ow0, ow1);
    uint base = pc.off_s + plane * pc.OH * pc.OW;
    float acc = 0.0;
    for (uint oh = oh0; oh < oh1; oh++) {
        float wh = weight(oh, int(h), H, pc.scale_h, pc.len_h);
        if (wh == 0.0)
            continue;
        float s = 0.0;
        for (uint ow = ow0; ow < ow1; ow++)
            s += weight(ow, int(w), W, pc.scale_w, pc.len_w) * src[base + oh * pc.OW + ow];
        acc += wh * s;
    }
    dst[pc.off_d + i] = acc;
}

#endif

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

// Average pool divisor of output (oh, ow): the window within the padded input, or within x alone.
// A ceil-mode window may pass the end padding, and that overhang never counts.
float divisor(int oh, int ow) {
    int h0 = oh * int(pc.sh) - int(pc.ph), w0 = ow * int(pc.sw) - int(pc.pw);
    if (pc.include_pad != 0)
        return float((min(h0 + int(pc.kh), int(pc.eh)) - h0) * (min(w0 + int(pc.kw), int(pc.ew)) - w0));
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
