#version 450
// The reduce family's kernels, on x viewed as [outer, n, inner]:
//  - reduce (the default): one op along the axis; output o covers (o / inner, o % inner). Two
//    launch shapes, picked by MODE:
//     - INVOCATION: an invocation per output, looping over the axis. Neighbouring invocations read
//       neighbouring addresses when inner > 1, so this is the shape for many short reductions.
//     - WORKGROUP: a workgroup per output; invocations stride over the axis and combine in the
//       workgroup. This is the shape for long reductions (few outputs, or the contiguous last axis).
//  - BACKWARD: the gradient of the reduce kernel's ops, an invocation per element of x.
//  - CUMSUM: running sums along the axis, a workgroup per line.
//  - TOPK: the k best of each row of [rows, n], a workgroup per row.
#ifdef SUBGROUP
#extension GL_KHR_shader_subgroup_basic : enable
#extension GL_KHR_shader_subgroup_arithmetic : enable
#endif
#include "common.glsl"
#include "reduce.h"

layout(local_size_x_id = REDUCE_SPEC_WG) in;

const float POS_INF = 1.0 / 0.0;
#define NAN uintBitsToFloat(0x7fc00000u)

#if defined(BACKWARD)
layout(constant_id = REDUCE_SPEC_OP) const uint OP = 0;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Y { float y[]; };
layout(std430, binding = 2) readonly buffer DY { float dy[]; };
// uint so one binding holds MAX/MIN's index or PROD's zero count (f32 bits).
layout(std430, binding = 3) readonly buffer S { uint stat[]; };
layout(std430, binding = 4) readonly buffer P { float prod_nonzero[]; };
layout(std430, binding = 5) writeonly buffer DX { float dx[]; };
layout(push_constant) uniform PC {
    uint off_x, off_y, off_dy, off_s, off_p, off_dx;
    REDUCE_PUSH
} pc;

void main() {
    uint e = GLOBAL_ID;
    if (e >= pc.n_out)
        return;
    uint outer = e / (pc.n * pc.inner), rest = e - outer * pc.n * pc.inner;
    uint k = rest / pc.inner, line = outer * pc.inner + (rest - k * pc.inner);
    float v = x[pc.off_x + e], g = dy[pc.off_dy + line], r = y[pc.off_y + line], d;
    if (OP == REDUCE_OP_SUM)
        d = g;
    else if (OP == REDUCE_OP_MEAN)
        d = g / float(pc.n);
    else if (OP == REDUCE_OP_MAX || OP == REDUCE_OP_MIN)
        d = k == stat[pc.off_s + line] ? g : 0.0;
    else if (OP == REDUCE_OP_PROD) {
        // With no zero the product of the others is y / x; with one, only the zero's is nonzero.
        float zeros = uintBitsToFloat(stat[pc.off_s + line]);
        if (zeros == 0.0)
            d = g * r / v;
        else
            d = zeros == 1.0 && v == 0.0 ? g * prod_nonzero[pc.off_p + line] : 0.0;
    } else if (OP == REDUCE_OP_L1)
        d = g * sign(v);
    else if (OP == REDUCE_OP_L2)
        d = r == 0.0 ? 0.0 : g * v / r;
    else if (OP == REDUCE_OP_SUM_SQUARE)
        d = 2.0 * g * v;
    else
        d = r == NEG_INF ? 0.0 : g * exp(v - r);
    dx[pc.off_dx + e] = d;
}
#elif defined(CUMSUM)
layout(constant_id = CUMSUM_SPEC_INT) const bool INT = false;

// uint so one shader can move f32 bits or i32 values.
layout(std430, binding = 0) readonly buffer X { uint x[]; };
layout(std430, binding = 1) writeonly buffer Y { uint y[]; };
layout(push_constant) uniform PC {
    uint off_x, off_y;
    CUMSUM_PUSH
} pc;

shared uint s_sum[gl_WorkGroupSize.x];

// A running sum: i32 wraps like the CPU twin's; f32 keeps a Kahan compensation c, since a long
// line would otherwise lose digits the double-precision CPU twin keeps.
struct Run {
    uint s;
    float c;
};

void run_add(inout Run r, uint v) {
    if (INT) {
        r.s += v;
    } else {
        float a = uintBitsToFloat(r.s);
        precise float t = uintBitsToFloat(v) - r.c;
        precise float u = a + t;
        r.c = (u - a) - t;
        r.s = floatBitsToUint(u);
    }
}

// The sum with its compensation folded in.
uint run_total(Run r) {
    return INT ? r.s : floatBitsToUint(uintBitsToFloat(r.s) - r.c);
}

uint add(uint a, uint b) {
    return INT ? a + b : floatBitsToUint(uintBitsToFloat(a) + uintBitsToFloat(b));
}

void main() {
    // The whole workgroup takes this branch or none of it, so the barriers stay uniform.
    uint line = GROUP_ID;
    if (line >= pc.lines)
        return;
    bool exclusive = (pc.flags & (1u << CUMSUM_FLAG_EXCLUSIVE)) != 0u;
    bool reverse = (pc.flags & (1u << CUMSUM_FLAG_REVERSE)) != 0u;
    uint outer = line / pc.inner, j = line - outer * pc.inner;
    uint base = outer * pc.n * pc.inner + j;
    uint t = gl_LocalInvocationID.x;
    uint lo = min(t * pc.per, pc.n), hi = min(lo + pc.per, pc.n);

    // Positions count in the summing order; position p is element n - 1 - p when reversed.
    Run r = Run(0u, 0.0);
    for (uint p = lo; p < hi; p++)
        run_add(r, x[pc.off_x + base + (reverse ? pc.n - 1u - p : p) * pc.inner]);

    // Inclusive scan of the invocations' sums (Hillis-Steele), then each starts after its left
    // neighbours'.
    s_sum[t] = run_total(r);
    barrier();
    for (uint d = 1u; d < gl_WorkGroupSize.x; d <<= 1) {
        uint v = t >= d ? s_sum[t - d] : 0u;
        barrier();
        if (t >= d)
            s_sum[t] = add(s_sum[t], v);
        barrier();
    }
    r = Run(t > 0u ? s_sum[t - 1u] : 0u, 0.0);
    for (uint p = lo; p < hi; p++) {
        uint at = base + (reverse ? pc.n - 1u - p : p) * pc.inner;
        uint v = x[pc.off_x + at];
        if (exclusive)
            y[pc.off_y + at] = r.s;
        run_add(r, v);
        if (!exclusive)
            y[pc.off_y + at] = r.s;
    }
}
#elif defined(TOPK)
layout(constant_id = TOPK_SPEC_SORT_N) const uint SORT_N = 0;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) buffer V { float values[]; };
layout(std430, binding = 2) buffer I { uint indices[]; };
layout(push_constant) uniform PC {
    uint off_x, off_v, off_i;
    TOPK_PUSH
} pc;

// The rank of a value: a larger rank comes first. Its float order as a uint (-0 as +0, every NaN
// above +inf), reversed when the smallest come first (NaN then last).
uint rank(float v) {
    uint u = isnan(v) ? 0xffffffffu : v == 0.0 ? 0x80000000u : floatBitsToUint(v);
    if (!isnan(v) && v != 0.0)
        u = (u & 0x80000000u) != 0u ? ~u : u | 0x80000000u;
    return pc.largest != 0u ? u : ~u;
}

// Does (ra, ia) come before (rb, ib)? Equal ranks go by index.
bool before(uint ra, uint ia, uint rb, uint ib) {
    return ra > rb || (ra == rb && ia < ib);
}

// SORT_N 0 gives 1-element arrays: the selection needs workgroup-size ones.
shared uint s_r[SORT_N > gl_WorkGroupSize.x ? SORT_N : gl_WorkGroupSize.x];
shared uint s_i[SORT_N > gl_WorkGroupSize.x ? SORT_N : gl_WorkGroupSize.x];

void sort_row(uint row) {
    uint t = gl_LocalInvocationID.x, xb = pc.off_x + row * pc.n;
    // Padding ranks 0 with index NONE: after every element.
    for (uint p = t; p < SORT_N; p += gl_WorkGroupSize.x) {
        s_r[p] = p < pc.n ? rank(x[xb + p]) : 0u;
        s_i[p] = p < pc.n ? p : 0xffffffffu;
    }
    barrier();
    for (uint size = 2u; size <= SORT_N; size <<= 1) {
        for (uint j = size >> 1; j > 0u; j >>= 1) {
            for (uint q = t; q < SORT_N / 2u; q += gl_WorkGroupSize.x) {
                uint a = 2u * j * (q / j) + q % j, b = a + j;
                // Runs alternate direction so that each pair of runs makes a bitonic sequence.
                bool first_a = (a & size) == 0u;
                if (before(s_r[b], s_i[b], s_r[a], s_i[a]) == first_a) {
                    uint r = s_r[a], i = s_i[a];
                    s_r[a] = s_r[b];
                    s_i[a] = s_i[b];
                    s_r[b] = r;
                    s_i[b] = i;
                }
            }
            barrier();
        }
    }
    for (uint p = t; p < pc.k; p += gl_WorkGroupSize.x) {
        values[pc.off_v + row * pc.k + p] = x[xb + s_i[p]];
        indices[pc.off_i + row * pc.k + p] = s_i[p];
    }
}

// Each pass picks the best element ranked after the previous pick, by a strided scan and a
// shared-memory tree.
void select_row(uint row) {
    uint t = gl_LocalInvocationID.x, xb = pc.off_x + row * pc.n, ob = row * pc.k;
    bool any_prev = pc.first > 0u;
    uint pi = any_prev ? indices[pc.off_i + ob + pc.first - 1u] : 0u;
    uint pr = any_prev ? rank(x[xb + pi]) : 0u;
    for (uint pass = pc.first; pass < pc.last; pass++) {
        // (0, NONE) comes after every element
        uint br = 0u, bi = 0xffffffffu;
        for (uint p = t; p < pc.n; p += gl_WorkGroupSize.x) {
            uint r = rank(x[xb + p]);
            if ((!any_prev || before(pr, pi, r, p)) && before(r, p, br, bi)) {
                br = r;
                bi = p;
            }
        }
        s_r[t] = br;
        s_i[t] = bi;
        barrier();
        for (uint s = gl_WorkGroupSize.x / 2u; s > 0u; s >>= 1) {
            if (t < s && before(s_r[t + s], s_i[t + s], s_r[t], s_i[t])) {
                s_r[t] = s_r[t + s];
                s_i[t] = s_i[t + s];
            }
            barrier();
        }
        pr = s_r[0];
        pi = s_i[0];
        any_prev = true;
        barrier();
        if (t == 0u) {
            values[pc.off_v + ob + pass] = x[xb + pi];
            indices[pc.off_i + ob + pass] = pi;
        }
    }
}

void main() {
    // The whole workgroup takes this branch or none of it, so the barriers stay uniform.
    uint row = GROUP_ID;
    if (row >= pc.rows)
        return;
    if (SORT_N != 0u)
        sort_row(row);
    else
        select_row(row);
}
#else
layout(constant_id = REDUCE_SPEC_OP) const uint OP = 0;
layout(constant_id = REDUCE_SPEC_MODE) const uint MODE = 0;
// WORKGROUP mode combines with subgroup ops when built with SUBGROUP (the device may lack
// them: then a shared-memory tree, which needs a power-of-two workgroup). ONE_SUBGROUP says the
// workgroup is a single subgroup, so no shared-memory step at all.
layout(constant_id = REDUCE_SPEC_ONE_SUBGROUP) const bool ONE_SUBGROUP = false;

const uint SUM = REDUCE_OP_SUM, MEAN = REDUCE_OP_MEAN, MAX = REDUCE_OP_MAX, ARGMAX = REDUCE_OP_ARGMAX;
const uint MIN = REDUCE_OP_MIN, PROD = REDUCE_OP_PROD, ARGMIN = REDUCE_OP_ARGMIN, L1 = REDUCE_OP_L1;
const uint L2 = REDUCE_OP_L2, SUM_SQUARE = REDUCE_OP_SUM_SQUARE, LSE = REDUCE_OP_LOG_SUM_EXP;
const uint ZEROS = REDUCE_OP_ZEROS, PROD_NONZERO = REDUCE_OP_PROD_NONZERO;
const uint NONE = 0xffffffffu;
// Sums of x, |x|, x^2 or x == 0; products of x or of x's nonzeros; the extremes (with or without
// their index), which look for the least value when LEAST.
const bool ADDITIVE = OP == SUM || OP == MEAN || OP == L1 || OP == L2 || OP == SUM_SQUARE || OP == ZEROS;
const bool PRODUCT = OP == PROD || OP == PROD_NONZERO;
const bool ARG = OP == ARGMAX || OP == ARGMIN;
const bool EXTREME = ARG || OP == MAX || OP == MIN;
const bool LEAST = OP == MIN || OP == ARGMIN;

layout(std430, binding = 0) readonly buffer X { float x[]; };
// uint so one shader can store f32 bits or i32 indices.
layout(std430, binding = 1) writeonly buffer Y { uint y[]; };
layout(push_constant) uniform PC {
    uint off_x, off_y;
    REDUCE_PUSH
} pc;

shared float s_v[gl_WorkGroupSize.x];
shared float s_c[gl_WorkGroupSize.x];
shared uint s_i[gl_WorkGroupSize.x];

// One partial result. For sums, c is the Kahan compensation: long serial loops (INVOCATION with a
// long axis) would otherwise lose digits the double-precision CPU twin keeps. For LOG_SUM_EXP, v is
// the running maximum m and c the sum of exp(x - m).
struct Acc {
    float v;
    float c;
    uint i;
};

Acc acc_init() {
    float v = ADDITIVE ? 0.0 : PRODUCT ? 1.0 : LEAST ? POS_INF : NEG_INF;
    return Acc(v, 0.0, NONE);
}

// Does v replace the extreme w? NaN beats every number and no other NaN.
bool beats(float v, float w) {
    if (isnan(v) || isnan(w))
        return isnan(v) && !isnan(w);
    return LEAST ? v < w : v > w;
}

bool same(float v, float w) {
    return v == w || (isnan(v) && isnan(w));
}

// LOG_SUM_EXP: a's sum of exponentials rescaled to the maximum m (exp(0) exactly 1, and an infinite
// maximum must not meet inf - inf).
float lse_scaled(Acc a, float m) {
    return a.v == m ? a.c : a.c * exp(a.v - m);
}

// Fold b into a; for ARG* equal values keep the smaller index.
void acc_merge(inout Acc a, Acc b) {
    if (ADDITIVE) {
        a.v += b.v;
    } else if (PRODUCT) {
        a.v *= b.v;
    } else if (OP == LSE) {
        float m = isnan(a.v) || isnan(b.v) ? NAN : max(a.v, b.v);
        a.c = lse_scaled(a, m) + lse_scaled(b, m);
        a.v = m;
    } else if (!ARG) {
        if (beats(b.v, a.v))
            a.v = b.v;
    } else if (b.i != NONE && (a.i == NONE || beats(b.v, a.v) || (same(b.v, a.v) && b.i < a.i))) {
        a = b;
    }
}

void acc_add(inout Acc a, float v, uint k) {
    if (ADDITIVE) {
        float t = OP == L1 ? abs(v) : OP == L2 || OP == SUM_SQUARE ? v * v : OP == ZEROS ? float(v == 0.0) : v;
        precise float y = t - a.c;
        precise float s = a.v + y;
        a.c = (s - a.v) - y;
        a.v = s;
    } else if (ARG) {
        // k only grows, so beats() keeps the first index of the extreme
        if (a.i == NONE || beats(v, a.v)) {
            a.v = v;
            a.i = k;
        }
    } else {
        acc_merge(a, Acc(OP == PROD_NONZERO && v == 0.0 ? 1.0 : v, 1.0, k));
    }
}

#ifdef SUBGROUP
Acc subgroup_combine(Acc a) {
    if (ADDITIVE) {
        a.v = subgroupAdd(a.v);
    } else if (PRODUCT) {
        a.v = subgroupMul(a.v);
    } else if (ARG) {
        // A NaN wins at its first index; else invocations that saw no element hold NONE, and
        // min() over indices skips them.
        uint nan_i = subgroupMin(a.i != NONE && isnan(a.v) ? a.i : NONE);
        float m = LEAST ? subgroupMin(a.i == NONE ? POS_INF : a.v) : subgroupMax(a.i == NONE ? NEG_INF : a.v);
        a.i = subgroupMin(a.i != NONE && a.v == m ? a.i : NONE);
        a.v = m;
        if (nan_i != NONE)
            a = Acc(NAN, 0.0, nan_i);
    } else {
        // subgroupMax/Min may drop NaN, so NaN is counted apart.
        bool any_nan = subgroupMax(isnan(a.v) ? 1u : 0u) != 0u;
        float w = isnan(a.v) ? (LEAST ? POS_INF : NEG_INF) : a.v;
        float m = LEAST ? subgroupMin(w) : subgroupMax(w);
        if (OP == LSE)
            a.c = subgroupAdd(lse_scaled(a, m));
        a.v = any_nan ? NAN : m;
    }
    return a;
}
#endif

// Every invocation returns the workgroup's result.
Acc workgroup_combine(Acc a) {
#ifdef SUBGROUP
    a = subgroup_combine(a);
    if (ONE_SUBGROUP)
        return a;
    if (subgroupElect()) {
        s_v[gl_SubgroupID] = a.v;
        s_c[gl_SubgroupID] = a.c;
        s_i[gl_SubgroupID] = a.i;
    }
    barrier();
    // Every invocation folds the few partials in the same order, so all agree bit for bit.
    a = Acc(s_v[0], s_c[0], s_i[0]);
    for (uint k = 1; k < gl_NumSubgroups; k++)
        acc_merge(a, Acc(s_v[k], s_c[k], s_i[k]));
    return a;
#else
    uint lid = gl_LocalInvocationID.x;
    s_v[lid] = a.v;
    s_c[lid] = a.c;
    s_i[lid] = a.i;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
        if (lid < s) {
            Acc b = Acc(s_v[lid], s_c[lid], s_i[lid]);
            acc_merge(b, Acc(s_v[lid + s], s_c[lid + s], s_i[lid + s]));
            s_v[lid] = b.v;
            s_c[lid] = b.c;
            s_i[lid] = b.i;
        }
        barrier();
    }
    return Acc(s_v[0], s_c[0], s_i[0]);
#endif
}

uint finish(Acc a) {
    if (ARG)
        return a.i;
    if (OP == MEAN)
        return floatBitsToUint(a.v / float(pc.n));
    if (OP == L2)
        return floatBitsToUint(sqrt(a.v));
    if (OP == LSE)
        return floatBitsToUint(a.v == NEG_INF ? NEG_INF : a.v + log(a.c));
    return floatBitsToUint(a.v);
}

// The Kahan compensation folded in before partial sums meet (they merge without it).
void acc_settle(inout Acc a) {
    if (ADDITIVE) {
        a.v -= a.c;
        a.c = 0.0;
    }
}

void main() {
    if (MODE == REDUCE_MODE_INVOCATION) {
        uint o = GLOBAL_ID;
        if (o >= pc.n_out)
            return;
        uint outer = o / pc.inner, j = o - outer * pc.inner;
        uint base = pc.off_x + outer * pc.n * pc.inner + j;
        Acc a = acc_init();
        for (uint k = 0; k < pc.n; k++)
            acc_add(a, x[base + k * pc.inner], k);
        acc_settle(a);
        y[pc.off_y + o] = finish(a);
    } else {
        // The whole workgroup takes this branch or none of it, so the barriers stay uniform.
        uint o = GROUP_ID;
        if (o >= pc.n_out)
            return;
        uint outer = o / pc.inner, j = o - outer * pc.inner;
        uint base = pc.off_x + outer * pc.n * pc.inner + j;
        Acc a = acc_init();
        for (uint k = gl_LocalInvocationID.x; k < pc.n; k += gl_WorkGroupSize.x)
            acc_add(a, x[base + k * pc.inner], k);
        acc_settle(a);
        a = workgroup_combine(a);
        if (gl_LocalInvocationID.x == 0)
            y[pc.off_y + o] = finish(a);
    }
}
#endif
