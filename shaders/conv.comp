#version 450
// vkdl 2-D convolution (NCHW, f32) as implicit GEMM: the im2col matrix is never stored, each
// operand element is gathered from the activation on the fly (zero outside the plane).
//
// ONE MODEL FOR FORWARD AND BACKWARD-DATA (default build)
//   A "row" is one destination pixel (n, rh, rw) of a row grid N x RH x RW; a "column" is one
//   destination channel co of the group (gl_WorkGroupID.z = group g); the reduction runs over
//   taps (c, i, j): source channel c of the group and kernel tap i < nKH, j < nKW.
//     dst[n, g CO + co, DH0 + rh DS, ...] = sum  src[n, g CR + c, rh SS + sh0 + i tsh, ...]
//                                               * wt[g, c, khA + i khS, kwA + j kwS, co]
//   forward:       row grid = output pixels (DS = 1, SS = stride), src = x, sh0 = -pad, tsh = dil.
//   backward-data: one launch per stride phase (ph, pw): row grid = the dx pixels ph + stride * rh
//                  (DS = stride, SS = 1), src = dy; only the taps that land on the stride grid
//                  for this phase are enumerated (khA, khS), so nothing is masked per pixel.
//   wt is the weight rearranged by the launcher to [G, CR, KH, KW, CO], so the column operand is
//   contiguous along co (rows of a plain row-major B matrix).
//
// WEIGHT GRADIENT (-DWGRAD=1)
//   rows = taps k = (c, kh, kw) of the group, columns = co, reduction over the output pixels
//   (n, oh, ow) of split s (gl_WorkGroupID.z = g S + s):
//     part[s, g CO + co, k] = sum_(n,p) x[n, g CR + c, oh sh + sh0 + kh tsh, ...] * dyT[n, p, g CO + co]
//   dyT is dy transposed to [N, OH OW, O] by the launcher; the splits are summed by vkdl_reduce.
//
// DIRECT (-DDIRECT=1, with or without WGRAD): for groups with at most 4 output channels
//   (depthwise), where a GEMM tile would be mostly empty: TM destination pixels per invocation
//   (forward / backward-data, same push constants as the GEMM) or one weight element and split
//   per invocation (WGRAD; dy is read untransposed).
//
// KERNEL STYLES (same rationale as shaders/matmul.comp)
//   CPU (default): for CPU Vulkan drivers. No shared memory or barriers; a TM x (TN vec4) register
//     tile per invocation. The row operand is gathered with indices that are the same in every lane
//     of the workgroup (they depend on the workgroup id and loop counters only), which llvmpipe
//     turns into one load and a broadcast; the column operand is read per lane as vec4 texels.
//     TEXEL=4: column operand RGBA32F texels (needs CO (or O) % 4 == 0), row operand R32F texels;
//     TEXEL=1: both R32F; no define: storage buffers (views past maxTexelBufferElements).
//   GPU (-DGPU_TILED=1): BM x BN block per workgroup staged through shared memory in BK slices,
//     TM x TN register tile per thread, storage buffers.
//
// EPILOGUE (forward): bias, then the activation pc.act names (activation.glsl, as matmul's), on
//   the f32 accumulator as it is stored.
// SPECIALIZATION CONSTANTS AND PUSH CONSTANTS: conv.h.
// DISPATCH: CPU (ceil(M / TM), ceil(CO / (LX 4 TN)), G [x S]); GPU (ceil(M / (LY TM)),
//   ceil(CO / (LX TN)), G [x S]); DIRECT: vkdl_grid_1d over ceil(pixels / (WG TM)) (z = G), or
//   (WGRAD) over every (split, group, weight element).
#include "common.glsl"
#include "conv.h"
#if !defined(WGRAD)
#include "activation.glsl"
#endif

layout(constant_id = CONV_SPEC_TM) const uint TM = 16;
layout(constant_id = CONV_SPEC_TN) const uint TN = 2;
layout(constant_id = CONV_SPEC_BWD) const bool BWD = false;
layout(constant_id = CONV_SPEC_BK) const uint BK = 16;

#if defined(WGRAD)
layout(push_constant) uniform PC {
    uint offA, offB, offD;
    CONV_WGRAD_PUSH
} pc;
#else
layout(push_constant) uniform PC {
    uint offA, offB, offBias, offD;
    CONV_PUSH
} pc;
layout(set = 0, binding = 2) readonly buffer BiasBuf { float bias[]; };
#endif

// binding 0: the gathered (row) operand, binding 1: the column operand; last: the destination.
#if defined(WGRAD)
layout(set = 0, binding = 2) buffer DBuf { float d[]; };
#else
layout(set = 0, binding = 3) buffer DBuf { float d[]; };
#endif

#if defined(TEXEL)
layout(set = 0, binding = 0) uniform samplerBuffer Atex;
layout(set = 0, binding = 1) uniform samplerBuffer Btex;
#else
layout(set = 0, binding = 0) readonly buffer ABuf { float a[]; };
layout(set = 0, binding = 1) readonly buffer BBuf { float b[]; };
#endif

// Every read is clamped to the bound range: rows and columns past the end only feed discarded
// results, and padding taps are replaced by zero after the (clamped) load.
uint aLast, bLast;
#if defined(TEXEL)
float ldA1(uint e) { return texelFetch(Atex, int(min(e, aLast))).x; }
void initLast() { aLast = uint(textureSize(Atex)) - 1u; bLast = uint(textureSize(Btex)) - 1u; }
#else
float ldA1(uint e) { return a[min(e, aLast)]; }
void initLast() { aLast = uint(a.length()) - 1u; bLast = uint(b.length()) - 1u; }
#endif
#if defined(TEXEL) && TEXEL == 4
const uint OFFSCALE = 4u;   // offB arrives in RGBA texels
vec4 ldB4(uint e) { return texelFetch(Btex, int(min(e >> 2u, bLast))); }   // e % 4 == 0
#else
const uint OFFSCALE = 1u;
#if defined(TEXEL)
float ldB1(uint e) { return texelFetch(Btex, int(min(e, bLast))).x; }
#else
float ldB1(uint e) { return b[min(e, bLast)]; }
#endif
vec4 ldB4(uint e) { return vec4(ldB1(e), ldB1(e + 1u), ldB1(e + 2u), ldB1(e + 3u)); }
#endif

#if !defined(WGRAD)
// ---------------------------------------------------------------- forward / backward-data

uint M() { return pc.N * pc.RH * pc.RW; }

// Source pixel of row r at tap (0, 0), and the channel-0 offset of its image.
void rowSource(uint r, out uint base, out int ih, out int iw) {
    uint n = r / (pc.RH * pc.RW), rem = r - n * pc.RH * pc.RW, rh = rem / pc.RW, rw = rem - rh * pc.RW;
    base = pc.offA + (n * pc.SC + gl_WorkGroupID.z * pc.CR) * pc.SH * pc.SW;
    ih = int(BWD ? rh : rh * pc.sh) + pc.sh0;
    iw = int(BWD ? rw : rw * pc.sw) + pc.sw0;
}

// Destination element of row r, channel 0 of the group.
uint rowDest(uint r) {
    uint n = r / (pc.RH * pc.RW), rem = r - n * pc.RH * pc.RW, rh = rem / pc.RW, rw = rem - rh * pc.RW;
    uint dh = BWD ? pc.dh0 + rh * pc.sh : rh, dw = BWD ? pc.dw0 + rw * pc.sw : rw;
    return pc.offD + (n * pc.DC + gl_WorkGroupID.z * pc.CO) * pc.DH * pc.DW + dh * pc.DW + dw;
}

float biasOf(uint co) { return pc.hasBias != 0u ? bias[pc.offBias + gl_WorkGroupID.z * pc.CO + co] : 0.0; }

// The forward epilogue: bias, then the fused activation (if any), on the f32 accumulator.
float epilogue(float acc, uint co) {
    float v = acc + biasOf(co);
    return pc.act != 0u ? activation(pc.act - 1u, v, pc.actAlpha, pc.actBeta) : v;
}

// Row of wt for tap (c, i, j).
uint wRow(uint c, uint i, uint j) {
    uint KH = pc.kdim & 0xffffu, KW = pc.kdim >> 16;
    uint kh = (pc.khab & 0xffffu) + i * (pc.khab >> 16), kw = (pc.kwab & 0xffffu) + j * (pc.kwab >> 16);
    return (c * KH + kh) * KW + kw;
}

#if defined(DIRECT)
layout(local_size_x_id = CONV_SPEC_WG_X) in;

// Each lane takes TM rows WG apart (neighbouring lanes: neighbouring pixels), so the four
// lane-uniform weight loads of a tap feed TM pixels, and llvmpipe's per-workgroup cost is spread
// over WG * TM pixels.
void main() {
    initLast();
    uint WG = gl_WorkGroupSize.x;
    uint r0 = GROUP_ID * WG * TM + gl_LocalInvocationID.x;
    uint nKH = pc.nk & 0xffffu, nKW = pc.nk >> 16;
    uint base[TM];
    int ih0[TM], iw0[TM];
    [[unroll]] for (uint t = 0u; t < TM; ++t) rowSource(min(r0 + t * WG, M() - 1u), base[t], ih0[t], iw0[t]);
    uint bBase = pc.offB + gl_WorkGroupID.z * pc.CR * (pc.kdim & 0xffffu) * (pc.kdim >> 16) * pc.CO;
    vec4 acc[TM];
    [[unroll]] for (uint t = 0u; t < TM; ++t) acc[t] = vec4(0.0);
    for (uint c = 0u; c < pc.CR; ++c) {
        for (uint i = 0u; i < nKH; ++i) {
            for (uint j = 0u; j < nKW; ++j) {
                // Channels past CO read neighbouring weights (clamped); their sums are discarded.
                uint wr = bBase + wRow(c, i, j) * pc.CO;
                vec4 wv = vec4(ldB1(wr), ldB1(wr + 1u), ldB1(wr + 2u), ldB1(wr + 3u));
                [[unroll]] for (uint t = 0u; t < TM; ++t) {
                    int ih = ih0[t] + int(i) * pc.tsh, iw = iw0[t] + int(j) * pc.tsw;
                    float v = ldA1(base[t] + (c * pc.SH + uint(ih)) * pc.SW + uint(iw));
                    v = uint(ih) < pc.SH && uint(iw) < pc.SW ? v : 0.0;
                    acc[t] = fma(vec4(v), wv, acc[t]);
                }
            }
        }
    }
    [[unroll]] for (uint t = 0u; t < TM; ++t) {
        uint r = r0 + t * WG;
        if (r >= M()) break;
        uint dst = rowDest(r);
        [[unroll]] for (uint q = 0u; q < 4u; ++q)
            if (q < pc.CO) d[dst + q * pc.DH * pc.DW] = epilogue(acc[t][q], q);
    }
}

#elif !defined(GPU_TILED)
layout(local_size_x_id = CONV_SPEC_WG_X, local_size_y_id = CONV_SPEC_WG_Y, local_size_z = 1) in;
const uint LX = gl_WorkGroupSize.x;
const uint BN = LX * 4u * TN;

// Tile loops carry [[unroll]] so the arrays stay in registers once the spec constants are known.
void main() {
    initLast();
    uint lane = gl_LocalInvocationID.x;
    uint m0 = gl_WorkGroupID.x * TM;
    uint n0 = gl_WorkGroupID.y * BN;
    uint nKH = pc.nk & 0xffffu, nKW = pc.nk >> 16;
    uint SHW = pc.SH * pc.SW;

    uint base[TM];
    int ih0[TM], iw0[TM];
    [[unroll]] for (uint r = 0u; r < TM; ++r) rowSource(min(m0 + r, M() - 1u), base[r], ih0[r], iw0[r]);
    uint bBase = OFFSCALE * pc.offB + gl_WorkGroupID.z * pc.CR * (pc.kdim & 0xffffu) * (pc.kdim >> 16) * pc.CO;
    uint col[TN];
    [[unroll]] for (uint j = 0u; j < TN; ++j) col[j] = n0 + 4u * (j * LX + lane);
    vec4 acc[TM * TN];
    [[unroll]] for (uint t = 0u; t < TM * TN; ++t) acc[t] = vec4(0.0);

    for (uint c = 0u; c < pc.CR; ++c) {
        for (uint i = 0u; i < nKH; ++i) {
            uint rowAddr[TM];
            bool hok[TM];
            [[unroll]] for (uint r = 0u; r < TM; ++r) {
                int ih = ih0[r] + int(i) * pc.tsh;
                hok[r] = uint(ih) < pc.SH;
                rowAddr[r] = base[r] + c * SHW + uint(ih) * pc.SW;
            }
            for (uint j = 0u; j < nKW; ++j) {
                int dw = int(j) * pc.tsw;
                float av[TM];
                [[unroll]] for (uint r = 0u; r < TM; ++r) {
                    int iw = iw0[r] + dw;
                    float v = ldA1(rowAddr[r] + uint(iw));
                    av[r] = hok[r] && uint(iw) < pc.SW ? v : 0.0;
                }
                uint wr = bBase + wRow(c, i, j) * pc.CO;
                vec4 bv[TN];
                [[unroll]] for (uint jj = 0u; jj < TN; ++jj) bv[jj] = ldB4(wr + col[jj]);
                [[unroll]] for (uint r = 0u; r < TM; ++r)
                    [[unroll]] for (uint jj = 0u; jj < TN; ++jj)
                        acc[r * TN + jj] = fma(vec4(av[r]), bv[jj], acc[r * TN + jj]);
            }
        }
    }

    [[unroll]] for (uint r = 0u; r < TM; ++r) {
        if (m0 + r >= M()) break;
        uint dst = rowDest(m0 + r);
        [[unroll]] for (uint jj = 0u; jj < TN; ++jj)
            [[unroll]] for (uint q = 0u; q < 4u; ++q) {
                uint co = col[jj] + q;
                if (co < pc.CO) d[dst + co * pc.DH * pc.DW] = epilogue(acc[r * TN + jj][q], co);
            }
    }
}

#else
layout(local_size_x_id = CONV_SPEC_WG_X, local_size_y_id = CONV_SPEC_WG_Y, local_size_z = 1) in;
const uint LX = gl_WorkGroupSize.x;
const uint LY = gl_WorkGroupSize.y;
const uint NT = LX * LY;
const uint BM = LY * TM;
const uint BN = LX * TN;

shared float As[BK * BM];
shared float Bs[BK * BN];

void main() {
    initLast();
    uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    uint tid = ty * LX + tx;
    uint m0 = gl_WorkGroupID.x * BM;
    uint n0 = gl_WorkGroupID.y * BN;
    uint nKH = pc.nk & 0xffffu, nKW = pc.nk >> 16;
    uint K = pc.CR * nKH * nKW;
    uint bBase = pc.offB + gl_WorkGroupID.z * pc.CR * (pc.kdim & 0xffffu) * (pc.kdim >> 16) * pc.CO;

    float acc[TM][TN];
    [[unroll]] for (uint i = 0u; i < TM; ++i) [[unroll]] for (uint j = 0u; j < TN; ++j) acc[i][j] = 0.0;

    for (uint k0 = 0u; k0 < K; k0 += BK) {
        // Consecutive threads take consecutive rows (pixels): neighbouring source addresses.
        for (uint e = tid; e < BM * BK; e += NT) {
            uint mm = e % BM, kk = e / BM;
            uint m = m0 + mm, k = k0 + kk;
            float v = 0.0;
            if (m < M() && k < K) {
                uint j = k % nKW, t = k / nKW, i = t % nKH, c = t / nKH;
                uint base; int ih, iw;
                rowSource(m, base, ih, iw);
                ih += int(i) * pc.tsh;
                iw += int(j) * pc.tsw;
                if (uint(ih) < pc.SH && uint(iw) < pc.SW) v = ldA1(base + (c * pc.SH + uint(ih)) * pc.SW + uint(iw));
            }
            As[kk * BM + mm] = v;
        }
        for (uint e = tid; e < BN * BK; e += NT) {
            uint nn = e % BN, kk = e / BN;
            uint co = n0 + nn, k = k0 + kk;
            float v = 0.0;
            if (co < pc.CO && k < K) {
                uint j = k % nKW, t = k / nKW, i = t % nKH, c = t / nKH;
                v = ldB1(bBase + wRow(c, i, j) * pc.CO + co);
            }
            Bs[kk * BN + nn] = v;
        }
        barrier();
        [[unroll]] for (uint kk = 0u; kk < BK; ++kk) {
            float ar[TM], br[TN];
            [[unroll]] for (uint i = 0u; i < TM; ++i) ar[i] = As[kk * BM + ty + i * LY];
            [[unroll]] for (uint j = 0u; j < TN; ++j) br[j] = Bs[kk * BN + tx + j * LX];
            [[unroll]] for (uint i = 0u; i < TM; ++i)
                [[unroll]] for (uint j = 0u; j < TN; ++j) acc[i][j] = fma(ar[i], br[j], acc[i][j]);
        }
        barrier();
    }
    [[unroll]] for (uint i = 0u; i < TM; ++i) {
        uint m = m0 + ty + i * LY;
        if (m >= M()) break;
        uint dst = rowDest(m);
        [[unroll]] for (uint j = 0u; j < TN; ++j) {
            uint co = n0 + tx + j * LX;
            if (co < pc.CO) d[dst + co * pc.DH * pc.DW] = epilogue(acc[i][j], co);
        }
    }
}
#endif

#else
// ---------------------------------------------------------------- weight gradient

uint KT() { return pc.CR * (pc.kdim & 0xffffu) * (pc.kdim >> 16); }

// Tap k of group g: offset of its x channel plane and its source offsets.
void tapSource(uint g, uint k, out uint chan, out int hoff, out int woff) {
    uint KH = pc.kdim & 0xffffu, KW = pc.kdim >> 16;
    uint kw = k % KW, t = k / KW, kh = t % KH, c = t / KH;
    chan = pc.offA + (g * pc.CR + c) * pc.SH * pc.SW;
    hoff = int(kh) * pc.tsh + pc.sh0;
    woff = int(kw) * pc.tsw + pc.sw0;
}

// x at tap (chan, hoff, woff) for output pixel (n, oh, ow); zero in the padding.
float xAt(uint chan, int hoff, int woff, uint n, uint oh, uint ow) {
    int ih = int(oh * pc.sh) + hoff, iw = int(ow * pc.sw) + woff;
    float v = ldA1(chan + n * pc.SC * pc.SH * pc.SW + uint(ih) * pc.SW + uint(iw));
    return uint(ih) < pc.SH && uint(iw) < pc.SW ? v : 0.0;
}

#if defined(DIRECT)
layout(local_size_x_id = CONV_SPEC_WG_X) in;

void main() {
    initLast();
    uint E = pc.CO * KT();
    uint id = GLOBAL_ID;
    if (id >= pc.S * pc.G * E) return;
    uint e = id % E, t = id / E, g = t % pc.G, s = t / pc.G;
    uint co = e / KT(), k = e % KT();
    uint chan; int hoff, woff;
    tapSource(g, k, chan, hoff, woff);
    uint P = pc.OH * pc.OW;
    uint j0 = s * pc.L, j1 = min(j0 + pc.L, pc.N * P);
    uint n = j0 / P, p = j0 % P, oh = p / pc.OW, ow = p % pc.OW;
    float acc = 0.0;
    for (uint j = j0; j < j1; ++j) {
        float dyv = ldB1(pc.offB + (n * pc.O + g * pc.CO + co) * P + oh * pc.OW + ow);
        acc = fma(xAt(chan, hoff, woff, n, oh, ow), dyv, acc);
        if (++ow == pc.OW) { ow = 0u; if (++oh == pc.OH) { oh = 0u; ++n; } }
    }
    d[pc.offD + (s * pc.O + g * pc.CO + co) * KT() + k] = acc;
}

#elif !defined(GPU_TILED)
layout(local_size_x_id = CONV_SPEC_WG_X, local_size_y_id = CONV_SPEC_WG_Y, local_size_z = 1) in;
const uint LX = gl_WorkGroupSize.x;
const uint BN = LX * 4u * TN;

void main() {
    initLast();
    uint lane = gl_LocalInvocationID.x;
    uint g = gl_WorkGroupID.z / pc.S, s = gl_WorkGroupID.z % pc.S;
    uint m0 = gl_WorkGroupID.x * TM;
    uint n0 = gl_WorkGroupID.y * BN;

    uint chan[TM];
    int hoff[TM], woff[TM];
    [[unroll]] for (uint r = 0u; r < TM; ++r) tapSource(g, min(m0 + r, KT() - 1u), chan[r], hoff[r], woff[r]);
    uint bBase = OFFSCALE * pc.offB + g * pc.CO;
    uint col[TN];
    [[unroll]] for (uint j = 0u; j < TN; ++j) col[j] = n0 + 4u * (j * LX + lane);
    vec4 acc[TM * TN];
    [[unroll]] for (uint t = 0u; t < TM * TN; ++t) acc[t] = vec4(0.0);

    uint P = pc.OH * pc.OW;
    uint j0 = s * pc.L, j1 = min(j0 + pc.L, pc.N * P);
    uint n = j0 / P, p = j0 % P, oh = p / pc.OW, ow = p % pc.OW;
    for (uint j = j0; j < j1; ++j) {
        float av[TM];
        [[unroll]] for (uint r = 0u; r < TM; ++r) av[r] = xAt(chan[r], hoff[r], woff[r], n, oh, ow);
        vec4 bv[TN];
        [[unroll]] for (uint jj = 0u; jj < TN; ++jj) bv[jj] = ldB4(bBase + j * pc.O + col[jj]);
        [[unroll]] for (uint r = 0u; r < TM; ++r)
            [[unroll]] for (uint jj = 0u; jj < TN; ++jj)
                acc[r * TN + jj] = fma(vec4(av[r]), bv[jj], acc[r * TN + jj]);
        if (++ow == pc.OW) { ow = 0u; if (++oh == pc.OH) { oh = 0u; ++n; } }
    }

    [[unroll]] for (uint r = 0u; r < TM; ++r) {
        uint k = m0 + r;
        if (k >= KT()) break;
        [[unroll]] for (uint jj = 0u; jj < TN; ++jj)
            [[unroll]] for (uint q = 0u; q < 4u; ++q) {
                uint co = col[jj] + q;
                if (co < pc.CO) d[pc.offD + (s * pc.O + g * pc.CO + co) * KT() + k] = acc[r * TN + jj][q];
            }
    }
}

#else
layout(local_size_x_id = CONV_SPEC_WG_X, local_size_y_id = CONV_SPEC_WG_Y, local_size_z = 1) in;
const uint LX = gl_WorkGroupSize.x;
const uint LY = gl_WorkGroupSize.y;
const uint NT = LX * LY;
const uint BM = LY * TM;
const uint BN = LX * TN;

shared float As[BK * BM];
shared float Bs[BK * BN];

void main() {
    initLast();
    uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    uint tid = ty * LX + tx;
    uint g = gl_WorkGroupID.z / pc.S, s = gl_WorkGroupID.z % pc.S;
    uint m0 = gl_WorkGroupID.x * BM;
    uint n0 = gl_WorkGroupID.y * BN;
    uint P = pc.OH * pc.OW;
    uint j0 = s * pc.L, j1 = min(j0 + pc.L, pc.N * P);

    float acc[TM][TN];
    [[unroll]] for (uint i = 0u; i < TM; ++i) [[unroll]] for (uint j = 0u; j < TN; ++j) acc[i][j] = 0.0;

    for (uint k0 = j0; k0 < j1; k0 += BK) {
        for (uint e = tid; e < BM * BK; e += NT) {
            uint mm = e % BM, kk = e / BM;
            uint m = m0 + mm, j = k0 + kk;
            float v = 0.0;
            if (m < KT() && j < j1) {
                uint chan; int hoff, woff;
                tapSource(g, m, chan, hoff, woff);
                uint n = j / P, p = j % P;
                v = xAt(chan, hoff, woff, n, p / pc.OW, p % pc.OW);
            }
            As[kk * BM + mm] = v;
        }
        for (uint e = tid; e < BN * BK; e += NT) {
            uint nn = e % BN, kk = e / BN;
            uint co = n0 + nn, j = k0 + kk;
            float v = 0.0;
            if (co < pc.CO && j < j1) v = ldB1(pc.offB + j * pc.O + g * pc.CO + co);
            Bs[kk * BN + nn] = v;
        }
        barrier();
        [[unroll]] for (uint kk = 0u; kk < BK; ++kk) {
            float ar[TM], br[TN];
            [[unroll]] for (uint i = 0u; i < TM; ++i) ar[i] = As[kk * BM + ty + i * LY];
            [[unroll]] for (uint j = 0u; j < TN; ++j) br[j] = Bs[kk * BN + tx + j * LX];
            [[unroll]] for (uint i = 0u; i < TM; ++i)
                [[unroll]] for (uint j = 0u; j < TN; ++j) acc[i][j] = fma(ar[i], br[j], acc[i][j]);
        }
        barrier();
    }
    [[unroll]] for (uint i = 0u; i < TM; ++i) {
        uint k = m0 + ty + i * LY;
        if (k >= KT()) break;
        [[unroll]] for (uint j = 0u; j < TN; ++j) {
            uint co = n0 + tx + j * LX;
            if (co < pc.CO) d[pc.offD + (s * pc.O + g * pc.CO + co) * KT() + k] = acc[i][j];
        }
    }
}
#endif
#endif
