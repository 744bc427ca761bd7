#version 450
// Fused scaled-dot-product attention, flash style: the Sq x Sk score matrix is never stored.
// One source, four passes (PASS):
//  0 forward: a query row per invocation; keys are visited in blocks of T with an online softmax
//    (running max m and sum l, in log2 units; the accumulator is rescaled only when m grows);
//  1 backward pre-pass: per query row, the lse in log2 units and Di = rowsum(dout * out);
//  2 dq: a query row per invocation, looping over the keys it sees;
//  3 dk/dv: a key row per invocation, looping over the query rows of every head that shares its
//    kv head, so grouped-query sums stay inside one invocation: no atomics, deterministic.
// All rows of one workgroup share one kv head. Passes 0 and 2 number the G*Sq query rows of a
// kv group (G = H / Hkv) together, so even a decode step (Sq = 1) fills a workgroup.
// TILED (GPUs): the workgroup stages each tile of T rows of the other side in shared memory.
// Otherwise (CPU drivers, where shared memory and barriers are emulated): a workgroup is one
// subgroup and every invocation reads those rows itself, at the same address in every lane,
// with no barrier; TEXEL kernels read them through texel buffers (see the bindings below).
// VEC4: rows are read as vec4 (D % 4 == 0, 16-byte aligned views); DV is the row length in VTs.
// Loops over the head dim are left to the driver (it unrolls them when DV is small, keeping the
// rows in registers); loops over keys or queries are never unrolled: unrolling those too made
// lavapipe spend seconds compiling one D = 128 pipeline (tens of seconds at D = 256).
#include "common.glsl"
#include "attention.h"

#ifdef VEC4
#define VT vec4
#else
#define VT float
#endif

layout(local_size_x_id = ATTENTION_SPEC_WG) in;
layout(constant_id = ATTENTION_SPEC_DV) const uint DV = 1;
layout(constant_id = ATTENTION_SPEC_TILE) const uint T = 16;
layout(constant_id = ATTENTION_SPEC_HAS_MASK) const bool HAS_MASK = false;
layout(constant_id = ATTENTION_SPEC_OUT_A) const bool OUT_A = true;    // pass 0: write lse; pass 3: write dk
layout(constant_id = ATTENTION_SPEC_OUT_B) const bool OUT_B = true;    // pass 3: write dv

const float LN2 = 0.6931471805599453;
const float POS_INF = 1.0 / 0.0;

// Rows an invocation reads once (its own) come from storage buffers. The rows every invocation
// reads in turn (the other side), the mask and, in pass 3, the stats come through texel buffers
// in TEXEL kernels: on CPU drivers a storage load becomes a per-lane loop with bounds checks,
// while a texel fetch is a few vector loads.
#define OWN_IN(b, blk, name, type) layout(std430, binding = b) readonly buffer blk { type name[]; };
#define OUT(b, blk, name, type) layout(std430, binding = b) writeonly buffer blk { type name[]; };
#ifdef TEXEL
#define SIDE_IN(b, blk, name, type) layout(binding = b) uniform samplerBuffer name;
#ifdef VEC4
#define FETCH(buf, i) texelFetch(buf, int(i))
#else
#define FETCH(buf, i) texelFetch(buf, int(i)).x
#endif
#define FETCH1(buf, i) texelFetch(buf, int(i)).x
#else
#define SIDE_IN OWN_IN
#define FETCH(buf, i) buf[i]
#define FETCH1(buf, i) buf[i]
#endif

#if PASS == 0
OWN_IN(0, Q, q, VT)
SIDE_IN(1, K, k, VT)
SIDE_IN(2, V, v, VT)
SIDE_IN(3, M, mask, float)
OUT(4, O, o, VT)
OUT(5, L, lse, float)
layout(push_constant) uniform PC { uint off_q, off_k, off_v, off_mask, off_o, off_lse; ATTENTION_PUSH } pc;
#define A_BUF k
#define A_OFF pc.off_k
#define B_BUF v
#define B_OFF pc.off_v
#elif PASS == 1
OWN_IN(0, O, o, VT)
OWN_IN(1, GO, gout, VT)
OWN_IN(2, L, lse, float)
OUT(3, ST, st, float)
layout(push_constant) uniform PC { uint off_o, off_gout, off_lse, off_st; ATTENTION_PUSH } pc;
#elif PASS == 2
OWN_IN(0, Q, q, VT)
SIDE_IN(1, K, k, VT)
SIDE_IN(2, V, v, VT)
SIDE_IN(3, M, mask, float)
OWN_IN(4, GO, gout, VT)
OWN_IN(5, ST, st, float)       // (lse * log2 e, Di) per query row
OUT(6, DQ, dq, VT)
layout(push_constant) uniform PC { uint off_q, off_k, off_v, off_mask, off_gout, off_st, off_dq; ATTENTION_PUSH } pc;
#define A_BUF k
#define A_OFF pc.off_k
#define B_BUF v
#define B_OFF pc.off_v
#else
SIDE_IN(0, Q, q, VT)
OWN_IN(1, K, k, VT)
OWN_IN(2, V, v, VT)
SIDE_IN(3, M, mask, float)
SIDE_IN(4, GO, gout, VT)
SIDE_IN(5, ST, st, float)      // TEXEL: one RG32F texel (lse * log2 e, Di) per query row
OUT(6, DK, dk, VT)
OUT(7, DVB, dv, VT)
layout(push_constant) uniform PC {
    uint off_q, off_k, off_v, off_mask, off_gout, off_st, off_dk, off_dv;
    ATTENTION_PUSH
} pc;
#define A_BUF q
#define A_OFF pc.off_q
#define B_BUF gout
#define B_OFF pc.off_gout
#endif

#if PASS != 1
float mask_at(uint idx) {
    return HAS_MASK ? FETCH1(mask, pc.off_mask + idx) * LOG2E : 0.0;
}

#ifdef TILED
shared VT ta[T * DV];
shared VT tb[T * DV];
#if PASS == 3
shared vec2 tst[T];
#endif

// Stage rows [row, row + n) of the other side into the tiles (zeros past n). The whole
// workgroup calls it in uniform control flow.
void stage(uint row, uint n) {
    barrier();  // everyone is done with the previous tile
    for (uint x = gl_LocalInvocationID.x; x < T * DV; x += gl_WorkGroupSize.x) {
        bool in_tile = x < n * DV;
        ta[x] = in_tile ? A_BUF[A_OFF + row * DV + x] : VT(0);
        tb[x] = in_tile ? B_BUF[B_OFF + row * DV + x] : VT(0);
    }
#if PASS == 3
    for (uint t = gl_LocalInvocationID.x; t < T; t += gl_WorkGroupSize.x)
        tst[t] = t < n ? vec2(st[pc.off_st + 2 * (row + t)], st[pc.off_st + 2 * (row + t) + 1]) : vec2(0.0);
#endif
    barrier();
}
#define ROW_A(t, row, d) ta[(t) * DV + (d)]
#define ROW_B(t, row, d) tb[(t) * DV + (d)]
#else
#define ROW_A(t, row, d) FETCH(A_BUF, A_OFF + (row) * DV + (d))
#define ROW_B(t, row, d) FETCH(B_BUF, B_OFF + (row) * DV + (d))
#endif

// Last key query row i sees plus one, clamped to [0, Sk] (causal: bottom-right aligned).
uint key_end(uint i) {
    if (pc.causal == 0)
        return pc.Sk;
    return uint(clamp(int(i) + int(pc.Sk) - int(pc.Sq) + 1, 0, int(pc.Sk)));
}
#endif

void main() {
    const uint WG = gl_WorkGroupSize.x;
#if PASS == 1
    uint r = GLOBAL_ID;
    if (r >= pc.B * pc.H * pc.Sq)
        return;
    float di = 0.0;
    for (uint d = 0; d < DV; d++)
        di += dot(o[pc.off_o + r * DV + d], gout[pc.off_gout + r * DV + d]);
    float l = lse[pc.off_lse + r];
    // A fully masked row has lse -inf; +inf here makes every p = exp2(s - lse) exactly 0.
    st[pc.off_st + 2 * r] = l == NEG_INF ? POS_INF : l * LOG2E;
    st[pc.off_st + 2 * r + 1] = di;
#elif PASS == 0 || PASS == 2
    uint G = pc.H / pc.Hkv, R = G * pc.Sq;
    uint nblk = (R + WG - 1) / WG;
    uint grp = GROUP_ID;
    if (grp >= pc.B * pc.Hkv * nblk)
        return;
    uint bk = grp / nblk, r0 = (grp % nblk) * WG;
    uint b = bk / pc.Hkv, hkv = bk % pc.Hkv;
    uint rr = r0 + gl_LocalInvocationID.x;
    bool live = rr < R;
    rr = min(rr, R - 1);    // idle invocations mirror the last row, so every index stays in range
    uint i = rr % pc.Sq, h = hkv * G + rr / pc.Sq;
    uint qrow = (b * pc.H + h) * pc.Sq + i, krow0 = bk * pc.Sk;
    uint mrow = b * pc.mask_sb + h * pc.mask_sh + i * pc.Sk;
    uint jend = live ? key_end(i) : 0;
    // The workgroup's bound must be uniform: its last row, or row Sq-1 of a head it spans into.
    uint rlast = min(r0 + WG, R) - 1;
    uint wg_jend = key_end(r0 / pc.Sq != rlast / pc.Sq ? pc.Sq - 1 : rlast % pc.Sq);

    VT qr[DV], acc[DV];
    for (uint d = 0; d < DV; d++) {
        qr[d] = q[pc.off_q + qrow * DV + d] * pc.scale_log2;
        acc[d] = VT(0);
    }
#if PASS == 0
    float m = NEG_INF, l = 0.0;
    for (uint j0 = 0; j0 < wg_jend; j0 += T) {
#ifdef TILED
        stage(krow0 + j0, min(T, pc.Sk - j0));
#endif
        float s[T];
        float bmax = NEG_INF;
        [[dont_unroll]] for (uint t = 0; t < T; t++) {
            uint j = j0 + t;
            float x = NEG_INF;
            if (j < jend) {
                x = 0.0;
                for (uint d = 0; d < DV; d++)
                    x += dot(qr[d], ROW_A(t, krow0 + j, d));
                x += mask_at(mrow + j);
            }
            s[t] = x;
            bmax = max(bmax, x);
        }
        // bmax -inf: nothing visible in this block (no continue: stage() must stay uniform)
        if (bmax != NEG_INF) {
            float mn = max(m, bmax);
            if (mn != m) {
                float a = exp2(m - mn);     // 0 while m is still -inf
                l *= a;
                for (uint d = 0; d < DV; d++)
                    acc[d] *= a;
                m = mn;
            }
            [[dont_unroll]] for (uint t = 0; t < T; t++) {
                if (j0 + t < jend) {
                    float p = exp2(s[t] - m);
                    l += p;
                    for (uint d = 0; d < DV; d++)
                        acc[d] += p * ROW_B(t, krow0 + j0 + t, d);
                }
            }
        }
    }
    if (live) {
        // A row that saw no key (or only -inf) gives 0 and lse -inf rather than 0/0.
        float inv = l > 0.0 ? 1.0 / l : 0.0;
        for (uint d = 0; d < DV; d++)
            o[pc.off_o + qrow * DV + d] = acc[d] * inv;
        if (OUT_A)
            lse[pc.off_lse + qrow] = l > 0.0 ? (m + log2(l)) * LN2 : NEG_INF;
    }
#else
    VT gr[DV];
    for (uint d = 0; d < DV; d++)
        gr[d] = gout[pc.off_gout + qrow * DV + d];
    float lse2 = st[pc.off_st + 2 * qrow], di = st[pc.off_st + 2 * qrow + 1];
    for (uint j0 = 0; j0 < wg_jend; j0 += T) {
#ifdef TILED
        stage(krow0 + j0, min(T, pc.Sk - j0));
#endif
        [[dont_unroll]] for (uint t = 0; t < T; t++) {
            uint j = j0 + t;
            if (j < jend) {
                float s2 = 0.0, dp = 0.0;
                for (uint d = 0; d < DV; d++) {
                    s2 += dot(qr[d], ROW_A(t, krow0 + j, d));
                    dp += dot(gr[d], ROW_B(t, krow0 + j, d));
                }
                float ds = exp2(s2 + mask_at(mrow + j) - lse2) * (dp - di);
                for (uint d = 0; d < DV; d++)
                    acc[d] += ds * ROW_A(t, krow0 + j, d);
            }
        }
    }
    if (live) {
        for (uint d = 0; d < DV; d++)
            dq[pc.off_dq + qrow * DV + d] = acc[d] * pc.scale;
    }
#endif
#else // PASS 3
    uint G = pc.H / pc.Hkv;
    uint nblk = (pc.Sk + WG - 1) / WG;
    uint grp = GROUP_ID;
    if (grp >= pc.B * pc.Hkv * nblk)
        return;
    uint bk = grp / nblk, j0 = (grp % nblk) * WG;
    uint b = bk / pc.Hkv, hkv = bk % pc.Hkv;
    uint j = j0 + gl_LocalInvocationID.x;
    bool live = j < pc.Sk;
    j = min(j, pc.Sk - 1);
    uint krow = bk * pc.Sk + j;
    // Query i sees key j when i >= j - (Sk - Sq); the workgroup starts at its first key's bound.
    uint ibeg = 0, wg_ibeg = 0;
    if (pc.causal != 0) {
        int shift = int(pc.Sk) - int(pc.Sq);
        ibeg = uint(clamp(int(j) - shift, 0, int(pc.Sq)));
        wg_ibeg = uint(clamp(int(j0) - shift, 0, int(pc.Sq)));
    }
    if (!live)
        ibeg = pc.Sq;

    VT kr[DV], vr[DV], gk[DV], gv[DV];
    for (uint d = 0; d < DV; d++) {
        kr[d] = k[pc.off_k + krow * DV + d] * pc.scale_log2;
        vr[d] = v[pc.off_v + krow * DV + d];
        gk[d] = VT(0);
        gv[d] = VT(0);
    }
    for (uint hg = 0; hg < G; hg++) {
        uint h = hkv * G + hg;
        uint qrow0 = (b * pc.H + h) * pc.Sq;
        uint mcol = b * pc.mask_sb + h * pc.mask_sh + j;
        for (uint i0 = wg_ibeg; i0 < pc.Sq; i0 += T) {
#ifdef TILED
            stage(qrow0 + i0, min(T, pc.Sq - i0));
#endif
            [[dont_unroll]] for (uint t = 0; t < T; t++) {
                uint i = i0 + t;
                if (i >= ibeg && i < pc.Sq) {
                    uint row = qrow0 + i;
#ifdef TILED
                    vec2 stat = tst[t];
#elif defined(TEXEL)
                    vec2 stat = texelFetch(st, int(pc.off_st + row)).xy;
#else
                    vec2 stat = vec2(st[pc.off_st + 2 * row], st[pc.off_st + 2 * row + 1]);
#endif
                    float s2 = 0.0, dp = 0.0;
                    for (uint d = 0; d < DV; d++) {
                        s2 += dot(ROW_A(t, row, d), kr[d]);
                        dp += dot(ROW_B(t, row, d), vr[d]);
                    }
                    float p = exp2(s2 + mask_at(mcol + i * pc.Sk) - stat.x);
                    float ds = p * (dp - stat.y);
                    for (uint d = 0; d < DV; d++) {
                        gv[d] += p * ROW_B(t, row, d);
                        gk[d] += ds * ROW_A(t, row, d);
                    }
                }
            }
        }
    }
    if (live) {
        for (uint d = 0; d < DV; d++) {
            if (OUT_A)
                dk[pc.off_dk + krow * DV + d] = gk[d] * pc.scale;
            if (OUT_B)
                dv[pc.off_dv + krow * DV + d] = gv[d];
        }
    }
#endif
}
