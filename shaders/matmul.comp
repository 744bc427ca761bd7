#version 450
// vkdl batched SGEMM:  C_z = alpha * op(A_z) * op(B_z) + beta * C_z   (row-major, f32)
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
// VARIANTS (#defines) AND DESCRIPTOR TYPES (set 0)
//   -DTEXEL=4     CPU kernel. binding 0 = A, binding 1 = B: VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER,
//                 view format VK_FORMAT_R32G32B32A32_SFLOAT.  Fastest on lavapipe.
//   -DTEXEL=1     CPU kernel. A, B: UNIFORM_TEXEL_BUFFER, view format VK_FORMAT_R32_SFLOAT.
//                 No alignment preconditions (fallback when TEXEL=4 preconditions fail).
//   (none)        CPU kernel. A, B: VK_DESCRIPTOR_TYPE_STORAGE_BUFFER (float[]). Slow on llvmpipe;
//                 only for views larger than maxTexelBufferElements.
//   -DGPU_TILED=1 GPU kernel. A, B: STORAGE_BUFFER (float[]);  add -DTEXEL=1 for R32F texel buffers.
//   binding 2 = C: always VK_DESCRIPTOR_TYPE_STORAGE_BUFFER (float[]), read only when beta != 0.
//
// PUSH CONSTANTS (std430, 56 bytes):
//   struct { uint32_t offA, offB, offC;      // offsets of matrix 0 inside the bound ranges:
//                                            //   offA/offB in texels of the view format (TEXEL=4:
//                                            //   units of 4 floats), otherwise in floats; offC floats
//            uint32_t M, N, K;               // op(A) is MxK, op(B) is KxN, C is MxN
//            uint32_t lda, ldb, ldc;         // row pitches in floats of the STORED matrices
//            uint32_t strideA, strideB, strideC;  // batch strides in floats; 0 = broadcast operand
//            float alpha, beta; }            // beta == 0: C is never read (may hold NaN)
//
// SPECIALIZATION CONSTANTS
//   id 0: local_size_x  CPU: invocations per workgroup (default 8 = one llvmpipe SIMD row)
//                       GPU: LX threads along N (default 16)
//   id 1: local_size_y  CPU: must stay 1.  GPU: LY threads along M (default 16)
//   id 2: TM  rows per invocation (CPU default 16, use 8 when M*N <= 256*256; GPU default 4)
//   id 3: TN  CPU: vec4 column groups per invocation (default 2 -> 8 columns); GPU: columns per
//             thread (default 4)
//   id 4: TRANS_A (bool) A stored K x M (lda >= M) instead of M x K
//   id 5: TRANS_B (bool) B stored N x K (ldb >= K) instead of K x N
//   id 6: BK  GPU only: K slice staged in shared memory (default 16)
//   Shared memory (GPU) = 4*BK*(LY*TM + LX*TN) bytes (8 KiB with the defaults).
//
// DISPATCH  vkCmdDispatch(ceil(M / BM), ceil(N / BN), batch) with
//   CPU: BM = TM,       BN = local_size_x * 4 * TN     (defaults: BM = 16, BN = 64)
//   GPU: BM = LY * TM,  BN = LX * TN                   (defaults: BM = 64, BN = 64)
//
// PRECONDITIONS
//   All variants: every index fits in 32 bits; bound ranges cover all elements addressed.
//   Reads are clamped to the bound view/array, so columns/rows past M, N need no padding.
//   TEXEL=4 additionally needs offA, offB (as floats), lda, ldb, strideA, strideB all multiples
//   of 4, and the RGBA32F view must contain every texel holding a matrix element (round the view
//   size up to 16 bytes; allocate buffers with 16-byte-padded sizes). M, N, K themselves are
//   arbitrary (tails are masked). If any of this fails, use TEXEL=1 (same speed class, no
//   alignment rules). If a view would exceed maxTexelBufferElements, use the storage variant.
//   TEXEL=4 with TRANS_A also needs TM % 4 == 0 (A is then read as 4 consecutive rows per texel).

#extension GL_EXT_control_flow_attributes : require

layout(push_constant) uniform PC {
    uint offA, offB, offC;
    uint M, N, K;
    uint lda, ldb, ldc;
    uint strideA, strideB, strideC;
    float alpha, beta;
} pc;

#if defined(GPU_TILED)
layout(constant_id = 2) const uint TM = 4;
layout(constant_id = 3) const uint TN = 4;
#else
layout(constant_id = 2) const uint TM = 16;
layout(constant_id = 3) const uint TN = 2;
#endif
layout(constant_id = 4) const bool TRANS_A = false;
layout(constant_id = 5) const bool TRANS_B = false;
layout(constant_id = 6) const uint BK = 16;

layout(set = 0, binding = 2) buffer CBuf { float c[]; };

#if defined(TEXEL)
layout(set = 0, binding = 0) uniform samplerBuffer Atex;
layout(set = 0, binding = 1) uniform samplerBuffer Btex;
#else
layout(set = 0, binding = 0) readonly buffer ABuf { float a[]; };
layout(set = 0, binding = 1) readonly buffer BBuf { float b[]; };
#endif

// Index of the last readable texel/element: every read is clamped to it, so partial tiles never
// read outside the bound range (their values only land in discarded rows/columns, or are masked
// to zero in the K tail).
uint aLast, bLast;

#if defined(TEXEL) && TEXEL == 4
#if defined(GPU_TILED)
#error "GPU_TILED supports TEXEL=1 or storage buffers only"
#endif
const uint OFFSCALE = 4u;   // offA/offB arrive in RGBA texels
vec4 ldA4(uint e) { return texelFetch(Atex, int(min(e >> 2u, aLast))); }   // e % 4 == 0
vec4 ldB4(uint e) { return texelFetch(Btex, int(min(e >> 2u, bLast))); }
void initLast() { aLast = uint(textureSize(Atex)) - 1u; bLast = uint(textureSize(Btex)) - 1u; }
#else
const uint OFFSCALE = 1u;
#if defined(TEXEL)
float ldA1(uint e) { return texelFetch(Atex, int(min(e, aLast))).x; }
float ldB1(uint e) { return texelFetch(Btex, int(min(e, bLast))).x; }
void initLast() { aLast = uint(textureSize(Atex)) - 1u; bLast = uint(textureSize(Btex)) - 1u; }
#else
float ldA1(uint e) { return a[min(e, aLast)]; }
float ldB1(uint e) { return b[min(e, bLast)]; }
void initLast() { aLast = uint(a.length()) - 1u; bLast = uint(b.length()) - 1u; }
#endif
vec4 ldA4(uint e) { return vec4(ldA1(e), ldA1(e + 1u), ldA1(e + 2u), ldA1(e + 3u)); }
vec4 ldB4(uint e) { return vec4(ldB1(e), ldB1(e + 1u), ldB1(e + 2u), ldB1(e + 3u)); }
#endif

#if !defined(GPU_TILED)
// ---------------------------------------------------------------- CPU kernel
layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z = 1) in;
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

    [[unroll]] for (uint i = 0u; i < TM; ++i) {
        uint m = m0 + i;
        if (m >= pc.M) break;
        [[unroll]] for (uint j = 0u; j < TN; ++j) {
            uint n = n0 + 4u * (j * LX + lane);
            [[unroll]] for (uint q = 0u; q < 4u; ++q) {
                if (n + q < pc.N) {
                    uint e = oC + m * pc.ldc + n + q;
                    float v = pc.alpha * acc[i * TN + j][q];
                    if (pc.beta != 0.0) v = fma(pc.beta, c[e], v);
                    c[e] = v;
                }
            }
        }
    }
}

#else
// ---------------------------------------------------------------- GPU kernel
layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z = 1) in;
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
    uint oA = pc.offA + z * pc.strideA;
    uint oB = pc.offB + z * pc.strideB;
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
            if (n < pc.N) {
                uint e = oC + m * pc.ldc + n;
                float v = pc.alpha * acc[i][j];
                if (pc.beta != 0.0) v = fma(pc.beta, c[e], v);
                c[e] = v;
            }
        }
    }
}
#endif
