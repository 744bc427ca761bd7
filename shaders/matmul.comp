#version 450
// vkdl batched GEMM with a fused epilogue (row-major, f32 accumulation):
//   C_z = act(alpha * op(A_z) * op(B_z) + bias) + beta * C_z
// A and B f32, f16 or bf16 (the same type); C f32 or A's type; bias f32 [N], added to every row.
//
// WHY THERE ARE TWO KERNELS
//   CPU kernel (default): for CPU Vulkan drivers (lavapipe/llvmpipe, SwiftShader). There one
//     invocation is one SIMD lane. Shared memory and barrier() are emulated (slow), and per-lane
//     storage-buffer loads become scalar loops with bounds checks. So: no shared memory, a
//     register tile per invocation, A and B read through texel buffers (a texel fetch compiles
//     to a few vector loads + shuffles). Each invocation owns TN*4 columns; the TM rows of A are
//     fetched with the SAME texel index in every lane of the workgroup, which hands every lane
//     the value directly. This beats subgroupBroadcast on Mesa 22.x llvmpipe, which emits a
//     find-the-active-lane loop for every broadcast (measured ~2x slower), so the kernel uses
//     no subgroup operations and works for any workgroup size.
//     Workgroups walk M fastest (gl_WorkGroupID.x = row tile) so consecutive workgroups reuse
//     the same K x BN panel of B from cache (mapping x to N tiles measured ~2x slower).
//   GPU kernel (-DGPU_TILED=1): classic shared-memory tiling for discrete GPUs: BM x BN block per
//     workgroup staged through shared memory in BK slices, TM x TN register tile per thread
//     (threads strided so shared reads are bank-conflict free and C writes coalesce).
//
// 16-BIT DATA WITHOUT 16-BIT STORAGE
//   No variant needs storageBuffer16BitAccess or shaderFloat16 (SwiftShader has neither), and all
//   arithmetic is f32, so VKDL_CONTEXT_PRECISE needs nothing special. f16/bf16 operands arrive
//   either through an f16 texel view that converts in the fetch (R16G16B16A16_SFLOAT / R16_SFLOAT,
//   where the device supports them as uniform texel buffers: then the shader is the f32 one), or
//   as 32-bit words holding two elements (element 2i in the low half) widened with
//   unpackHalf2x16 or a 16-bit shift (bf16). C is declared uint[]: f32 through bit casts, 16-bit
//   outputs as words. An invocation stores a whole word when it owns both of its elements and
//   otherwise replaces its half with atomicAnd + atomicOr, so the other half (the next row's
//   first column when the row length is odd, another thread's column in the GPU kernel, or
//   memory outside the tensor) is never clobbered. f16/bf16 results are rounded to nearest even
//   (convert.glsl), exactly as the CPU twin rounds.
//
// VARIANTS (#defines) AND DESCRIPTOR TYPES (set 0)
//   -DTEXEL=4     CPU kernel. binding 0 = A, binding 1 = B: VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER,
//                 view format VK_FORMAT_R32G32B32A32_SFLOAT (f32) or R16G16B16A16_SFLOAT (f16).
//                 Fastest on lavapipe.
//   -DTEXEL=1     CPU kernel. A, B: UNIFORM_TEXEL_BUFFER, view format VK_FORMAT_R32_SFLOAT (f32) or
//                 R16_SFLOAT (f16). No alignment preconditions (fallback when TEXEL=4's fail).
//   -DTEXEL=4 -DWORDS=1  TEXEL=4 for 16-bit data as words: R32G32_UINT view (4 elements a texel).
//   -DTEXEL=1 -DWORDS=1  TEXEL=1 for 16-bit data as words: R32_UINT view (2 elements a texel).
//   (none)        CPU kernel. A, B: VK_DESCRIPTOR_TYPE_STORAGE_BUFFER (uint[]: f32 bits, or two
//                 16-bit elements a word). Slow on llvmpipe; for views no texel variant can bind.
//   -DGPU_TILED=1 GPU kernel. A, B: STORAGE_BUFFER (uint[], as above).
//   binding 2 = C: always STORAGE_BUFFER (uint[]), read only when beta != 0.
//   binding 3 = bias: always STORAGE_BUFFER (float[]), read only when hasBias (bind any
//                 non-empty tensor otherwise).
//
// PUSH CONSTANTS (std430): offA, offB, offC, offBias, then MATMUL_PUSH (matmul.h). offA/offB are
//   offsets of matrix 0 inside the bound ranges in texels of the view format (TEXEL=4: units of 4
//   elements, TEXEL=1 WORDS=1: units of 2), otherwise in elements; offC, offBias in elements.
//
// SPECIALIZATION CONSTANTS
//   MATMUL_SPEC_WG_X     CPU: invocations per workgroup (default 8 = one llvmpipe SIMD row)
//                        GPU: LX threads along N (default 16)
//   MATMUL_SPEC_WG_Y     CPU: must stay 1.  GPU: LY threads along M (default 16)
//   MATMUL_SPEC_TM       rows per invocation (CPU default 16, use 8 when M*N <= 256*256; GPU default 4)
//   MATMUL_SPEC_TN       CPU: vec4 column groups per invocation (default 2 -> 8 columns); GPU: columns per
//                        thread (default 4)
//   MATMUL_SPEC_TRANS_A (bool) A stored K x M (lda >= M) instead of M x K
//   MATMUL_SPEC_TRANS_B (bool) B stored N x K (ldb >= K) instead of K x N
//   MATMUL_SPEC_BK       GPU only: K slice staged in shared memory (default 16)
//   MATMUL_SPEC_EPI      types and epilogue, packed (the pipeline key holds 8 constants):
//         bits 0-1  IN_KIND  what A/B bindings deliver: 0 floats (f32, or f16 through a float
//                            view), 1 f16 pairs in words, 2 bf16 pairs in words; texel variants
//                            without WORDS need 0, with WORDS 1 or 2
//         bits 2-3  OUT_KIND C's type: 0 f32, 1 f16, 2 bf16
//         bit  4    EPILOGUE bias and/or activation, chosen by push constants: one pipeline
//                            serves every activation (each pipeline costs the CPU drivers up to a
//                            second to compile, and the epilogue is a negligible part of the work)
//         default 0: f32 in and out, no epilogue
//   Shared memory (GPU) = 4*BK*(LY*TM + LX*TN) bytes (8 KiB with the defaults).
//
// DISPATCH  vkCmdDispatch(ceil(M / BM), ceil(N / BN), batch) with
//   CPU: BM = TM,       BN = local_size_x * 4 * TN     (defaults: BM = 16, BN = 64)
//   GPU: BM = LY * TM,  BN = LX * TN                   (defaults: BM = 64, BN = 64)
//
// PRECONDITIONS
//   All variants: every index fits in 32 bits; bound ranges cover all elements addressed (16-bit
//   storage bindings: rounded up to whole words).
//   Reads are clamped to the bound view/array, so columns/rows past M, N need no padding.
//   TEXEL=4 additionally needs offA, offB (as elements), lda, ldb, strideA, strideB all multiples
//   of 4, and the view must contain every texel holding a matrix element (round the view size
//   up to a whole texel; allocate buffers with 16-byte-padded sizes). M, N, K themselves are
//   arbitrary (tails are masked). If any of this fails, use TEXEL=1 (same speed class, no
//   alignment rules; with WORDS, offsets must be even). If a view would exceed
//   maxTexelBufferElements, use the storage variant.
//   TEXEL=4 with TRANS_A also needs TM % 4 == 0 (A is then read as 4 consecutive rows per texel).

#extension GL_EXT_control_flow_attributes : require

#include "activation.glsl"
#include "convert.glsl"
#include "matmul.h"

layout(push_constant) uniform PC {
    uint offA, offB, offC, offBias;
    MATMUL_PUSH
} pc;

#if defined(GPU_TILED)
layout(constant_id = MATMUL_SPEC_TM) const uint TM = 4;
layout(constant_id = MATMUL_SPEC_TN) const uint TN = 4;
#else
layout(constant_id = MATMUL_SPEC_TM) const uint TM = 16;
layout(constant_id = MATMUL_SPEC_TN) const uint TN = 2;
#endif
layout(constant_id = MATMUL_SPEC_TRANS_A) const bool TRANS_A = false;
layout(constant_id = MATMUL_SPEC_TRANS_B) const bool TRANS_B = false;
layout(constant_id = MATMUL_SPEC_BK) const uint BK = 16;
layout(constant_id = MATMUL_SPEC_EPI) const uint EPI = 0u;
const uint IN_KIND = EPI & MATMUL_EPI_KIND_MASK;
const uint OUT_KIND = (EPI >> MATMUL_EPI_OUT_SHIFT) & MATMUL_EPI_KIND_MASK;
const bool EPILOGUE = (EPI & MATMUL_FLAG_EPILOGUE) != 0u;
const uint NO_ACT = MATMUL_ACT_NONE;
const uint KIND_BF16 = MATMUL_KIND_BF16;

layout(set = 0, binding = 2) buffer CBuf { uint c[]; };
layout(set = 0, binding = 3) readonly buffer BiasBuf { float bias[]; };

#if defined(TEXEL) && defined(WORDS)
layout(set = 0, binding = 0) uniform usamplerBuffer Atex;
layout(set = 0, binding = 1) uniform usamplerBuffer Btex;
#elif defined(TEXEL)
layout(set = 0, binding = 0) uniform samplerBuffer Atex;
layout(set = 0, binding = 1) uniform samplerBuffer Btex;
#else
layout(set = 0, binding = 0) readonly buffer ABuf { uint a[]; };
layout(set = 0, binding = 1) readonly buffer BBuf { uint b[]; };
#endif

// The two 16-bit elements of a word (element 2i in the low half), widened exactly.
vec2 unpack2(uint w, uint kind) {
    if (kind == KIND_BF16) return vec2(uintBitsToFloat(w << 16u), uintBitsToFloat(w & 0xffff0000u));
    return unpackHalf2x16(w);
}
float unpackAt(uint w, uint e, uint kind) { return unpack2(w, kind)[e & 1u]; }

// Index of the last readable texel/element/word: every read is clamped to it, so partial tiles
// never read outside the bound range (their values only land in discarded rows/columns, or are
// masked to zero in the K tail).
uint aLast, bLast;

#if defined(TEXEL) && TEXEL == 4
#if defined(GPU_TILED)
#error "GPU_TILED supports TEXEL=1 or storage buffers only"
#endif
const uint OFFSCALE = 4u;   // offA/offB arrive in texels of 4 elements
#if defined(WORDS)
vec4 ldA4(uint e) { uvec2 t = texelFetch(Atex, int(min(e >> 2u, aLast))).xy; return vec4(unpack2(t.x, IN_KIND), unpack2(t.y, IN_KIND)); }
vec4 ldB4(uint e) { uvec2 t = texelFetch(Btex, int(min(e >> 2u, bLast))).xy; return vec4(unpack2(t.x, IN_KIND), unpack2(t.y, IN_KIND)); }
#else
vec4 ldA4(uint e) { return texelFetch(Atex, int(min(e >> 2u, aLast))); }   // e % 4 == 0
vec4 ldB4(uint e) { return texelFetch(Btex, int(min(e >> 2u, bLast))); }
#endif
void initLast() { aLast = uint(textureSize(Atex)) - 1u; bLast = uint(textureSize(Btex)) - 1u; }
#else
#if defined(TEXEL) && defined(WORDS)
const uint OFFSCALE = 2u;   // offA/offB arrive in words of 2 elements
float ldA1(uint e) { return unpackAt(texelFetch(Atex, int(min(e >> 1u, aLast))).x, e, IN_KIND); }
float ldB1(uint e) { return unpackAt(texelFetch(Btex, int(min(e >> 1u, bLast))).x, e, IN_KIND); }
void initLast() { aLast = uint(textureSize(Atex)) - 1u; bLast = uint(textureSize(Btex)) - 1u; }
#elif defined(TEXEL)
const uint OFFSCALE = 1u;
float ldA1(uint e) { return texelFetch(Atex, int(min(e, aLast))).x; }
float ldB1(uint e) { return texelFetch(Btex, int(min(e, bLast))).x; }
void initLast() { aLast = uint(textureSize(Atex)) - 1u; bLast = uint(textureSize(Btex)) - 1u; }
#else
const uint OFFSCALE = 1u;
float ldA1(uint e) {
    return IN_KIND == 0u ? uintBitsToFloat(a[min(e, aLast)]) : unpackAt(a[min(e >> 1u, aLast)], e, IN_KIND);
}
float ldB1(uint e) {
    return IN_KIND == 0u ? uintBitsToFloat(b[min(e, bLast)]) : unpackAt(b[min(e >> 1u, bLast)], e, IN_KIND);
}
void initLast() { aLast = uint(a.length()) - 1u; bLast = uint(b.length()) - 1u; }
#endif
vec4 ldA4(uint e) { return vec4(ldA1(e), ldA1(e + 1u), ldA1(e + 2u), ldA1(e + 3u)); }
vec4 ldB4(uint e) { return vec4(ldB1(e), ldB1(e + 1u), ldB1(e + 2u), ldB1(e + 3u)); }
#endif

// ---------------------------------------------------------------- epilogue
// act(alpha * acc + bias[n]); the beta term is added by storeRun.
float epilogue(float acc, uint n) {
    float v = pc.alpha * acc;
    if (EPILOGUE) {
        if (pc.hasBias != 0u) v += bias[pc.offBias + min(n, pc.N - 1u)];
        if (pc.act != NO_ACT) v = activation(pc.act, v, pc.actAlpha, pc.actBeta);
    }
    return v;
}

uint pack16(float v) { return OUT_KIND == KIND_BF16 ? f32_to_bf16(v) : f32_to_f16(v); }

// C[e0 + q] = v[q] + beta * C[e0 + q] for q < nv (1..4 consecutive elements of one row).
void storeRun(uint e0, vec4 v, uint nv) {
    if (OUT_KIND == 0u) {
        [[unroll]] for (uint q = 0u; q < 4u; ++q) {
            if (q < nv) {
                float x = v[q];
                if (pc.beta != 0.0) x = fma(pc.beta, uintBitsToFloat(c[e0 + q]), x);
                c[e0 + q] = floatBitsToUint(x);
            }
        }
        return;
    }
    uint end = e0 + nv;
    [[unroll]] for (uint t = 0u; t < 3u; ++t) {
        uint w = (e0 >> 1u) + t, lo = 2u * w;
        bool hasLo = lo >= e0 && lo < end, hasHi = lo + 1u < end;   // lo + 1 >= e0 always
        if (hasLo && hasHi) {
            vec2 x = vec2(v[lo - e0], v[lo + 1u - e0]);
            if (pc.beta != 0.0) x = fma(vec2(pc.beta), unpack2(c[w], OUT_KIND), x);
            c[w] = pack16(x.x) | (pack16(x.y) << 16u);
        } else if (hasLo || hasHi) {
            // The other half belongs to someone else: replace only ours, atomically.
            uint sh = hasHi ? 16u : 0u;
            float x = v[hasHi ? lo + 1u - e0 : lo - e0];
            if (pc.beta != 0.0) x = fma(pc.beta, unpack2(atomicOr(c[w], 0u) >> sh, OUT_KIND).x, x);
            atomicAnd(c[w], ~(0xffffu << sh));
            atomicOr(c[w], pack16(x) << sh);
        }
    }
}

#if !defined(GPU_TILED)
// ---------------------------------------------------------------- CPU kernel
layout(local_size_x_id = MATMUL_SPEC_WG_X, local_size_y_id = MATMUL_SPEC_WG_Y, local_size_z = 1) in;
const uint LX = gl_WorkGroupSize.x;
const uint BN = LX * 4u * TN;

// Tile loops carry [[unroll]] so the driver fully unrolls them once the spec constants are
// known; otherwise the tile arrays become indexed memory instead of registers.
vec4 acc[TM * TN];                    // acc[i*TN+j][q] = C(m0+i, n0 + 4*(j*LX+lane) + q)
uint aRow[TM];                        // start of A row m0+i (TRANS_A: column block start)
uint bOff[TRANS_B ? 4u * TN : TN];    // B column (or TRANS_B: row) starts of this lane

// One K step of 4: A values are fetched with a lane-uniform index, B per lane.
void step4(uint k0, bool tail) {
    uint kRem = pc.K - k0;            // only meaningful (1..3) when tail
    vec4 av[TM];                      // av[i][q] = A(m0+i, k0+q)
    if (TRANS_A) {
        [[unroll]] for (uint q = 0u; q < 4u; ++q) {
            [[unroll]] for (uint ib = 0u; ib < (TM + 3u) / 4u; ++ib) {
                vec4 t = ldA4(aRow[0] + (k0 + q) * pc.lda + 4u * ib);
                if (tail && q >= kRem) t = vec4(0.0);
                [[unroll]] for (uint r = 0u; r < 4u; ++r)
                    if (4u * ib + r < TM) av[4u * ib + r][q] = t[r];
            }
        }
    } else {
        [[unroll]] for (uint i = 0u; i < TM; ++i) {
            av[i] = ldA4(aRow[i] + k0);
            if (tail) [[unroll]] for (uint q = 0u; q < 4u; ++q) if (q >= kRem) av[i][q] = 0.0;
        }
    }
    vec4 bv[4][TN];                   // bv[q][j] = B(k0+q, this lane's column group j)
    [[unroll]] for (uint j = 0u; j < TN; ++j) {
        if (TRANS_B) {
            vec4 t0 = ldB4(bOff[4u * j + 0u] + k0);
            vec4 t1 = ldB4(bOff[4u * j + 1u] + k0);
            vec4 t2 = ldB4(bOff[4u * j + 2u] + k0);
            vec4 t3 = ldB4(bOff[4u * j + 3u] + k0);
            [[unroll]] for (uint q = 0u; q < 4u; ++q) bv[q][j] = vec4(t0[q], t1[q], t2[q], t3[q]);
        } else {
            [[unroll]] for (uint q = 0u; q < 4u; ++q) bv[q][j] = ldB4(bOff[j] + (k0 + q) * pc.ldb);
        }
        // Zero both operands past K: out-of-range data may be NaN and 0*NaN is NaN.
        if (tail) [[unroll]] for (uint q = 0u; q < 4u; ++q) if (q >= kRem) bv[q][j] = vec4(0.0);
    }
    [[unroll]] for (uint q = 0u; q < 4u; ++q)
        [[unroll]] for (uint i = 0u; i < TM; ++i)
            [[unroll]] for (uint j = 0u; j < TN; ++j)
                acc[i * TN + j] = fma(vec4(av[i][q]), bv[q][j], acc[i * TN + j]);
}

void main() {
    initLast();
    uint lane = gl_LocalInvocationID.x;
    uint z = gl_WorkGroupID.z;
    uint oA = OFFSCALE * pc.offA + z * pc.strideA;
    uint oB = OFFSCALE * pc.offB + z * pc.strideB;
    uint oC = pc.offC + z * pc.strideC;
    uint m0 = gl_WorkGroupID.x * TM;
    uint n0 = gl_WorkGroupID.y * BN;

    if (TRANS_A) aRow[0] = oA + m0;
    else [[unroll]] for (uint i = 0u; i < TM; ++i) aRow[i] = oA + min(m0 + i, pc.M - 1u) * pc.lda;
    [[unroll]] for (uint j = 0u; j < TN; ++j) {
        uint n = n0 + 4u * (j * LX + lane);
        if (TRANS_B) [[unroll]] for (uint q = 0u; q < 4u; ++q) bOff[4u * j + q] = oB + min(n + q, pc.N - 1u) * pc.ldb;
        else         bOff[j] = oB + n;
    }
    [[unroll]] for (uint i = 0u; i < TM * TN; ++i) acc[i] = vec4(0.0);

    uint k0 = 0u;
    for (; k0 + 4u <= pc.K; k0 += 4u) step4(k0, false);
    if (k0 < pc.K) step4(k0, true);

    if (OUT_KIND == 0u && !EPILOGUE) {
        [[unroll]] for (uint i = 0u; i < TM; ++i) {
            uint m = m0 + i;
            if (m >= pc.M) break;
            [[unroll]] for (uint j = 0u; j < TN; ++j) {
                uint n = n0 + 4u * (j * LX + lane);
                if (n < pc.N) storeRun(oC + m * pc.ldc + n, pc.alpha * acc[i * TN + j], min(pc.N - n, 4u));
            }
        }
    } else {
        // Activations and 16-bit packing are long: TM*TN*4 inlined copies would multiply the
        // driver's compile time (seconds on SwiftShader), so this epilogue is a loop over a copy
        // of the tile (a copy, so that acc itself stays in registers).
        vec4 tile[TM * TN];
        [[unroll]] for (uint t = 0u; t < TM * TN; ++t) tile[t] = acc[t];
        [[dont_unroll]] for (uint t = 0u; t < TM * TN; ++t) {
            uint m = m0 + t / TN, n = n0 + 4u * ((t % TN) * LX + lane);
            if (m >= pc.M) break;
            if (n >= pc.N) continue;
            vec4 v;
            [[dont_unroll]] for (uint q = 0u; q < 4u; ++q) v[q] = epilogue(tile[t][q], n + q);
            storeRun(oC + m * pc.ldc + n, v, min(pc.N - n, 4u));
        }
    }
}

#else
// ---------------------------------------------------------------- GPU kernel
layout(local_size_x_id = MATMUL_SPEC_WG_X, local_size_y_id = MATMUL_SPEC_WG_Y, local_size_z = 1) in;
const uint LX = gl_WorkGroupSize.x;
const uint LY = gl_WorkGroupSize.y;
const uint NT = LX * LY;
const uint BM = LY * TM;
const uint BN = LX * TN;

shared float As[BK * BM];   // [k][m]: a thread's TM values sit LY apart -> broadcast reads
shared float Bs[BK * BN];   // [k][n]: consecutive tx read consecutive banks

void main() {
    initLast();
    uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    uint tid = ty * LX + tx;
    uint z = gl_WorkGroupID.z;
    uint oA = OFFSCALE * pc.offA + z * pc.strideA;
    uint oB = OFFSCALE * pc.offB + z * pc.strideB;
    uint oC = pc.offC + z * pc.strideC;
    uint m0 = gl_WorkGroupID.x * BM;
    uint n0 = gl_WorkGroupID.y * BN;

    float acc[TM][TN];
    [[unroll]] for (uint i = 0u; i < TM; ++i) [[unroll]] for (uint j = 0u; j < TN; ++j) acc[i][j] = 0.0;

    for (uint k0 = 0u; k0 < pc.K; k0 += BK) {
        // Global -> shared with the contiguous stored dimension on consecutive threads (coalesced);
        // out-of-range elements are stored as 0 so the inner loop needs no bounds checks.
        for (uint e = tid; e < BM * BK; e += NT) {
            uint mm, kk;
            if (TRANS_A) { kk = e / BM; mm = e % BM; } else { mm = e / BK; kk = e % BK; }
            uint m = m0 + mm, k = k0 + kk;
            float v = 0.0;
            if (m < pc.M && k < pc.K) v = ldA1(oA + (TRANS_A ? k * pc.lda + m : m * pc.lda + k));
            As[kk * BM + mm] = v;
        }
        for (uint e = tid; e < BN * BK; e += NT) {
            uint nn, kk;
            if (TRANS_B) { nn = e / BK; kk = e % BK; } else { kk = e / BN; nn = e % BN; }
            uint n = n0 + nn, k = k0 + kk;
            float v = 0.0;
            if (n < pc.N && k < pc.K) v = ldB1(oB + (TRANS_B ? n * pc.ldb + k : k * pc.ldb + n));
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
        if (m >= pc.M) break;
        [[unroll]] for (uint j = 0u; j < TN; ++j) {
            uint n = n0 + tx + j * LX;
            if (n < pc.N) storeRun(oC + m * pc.ldc + n, vec4(epilogue(acc[i][j], n), 0.0, 0.0, 0.0), 1u);
        }
    }
}
#endif
