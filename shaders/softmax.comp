#version 450
// Softmax / log-softmax over the rows of x viewed as [rows, n], a workgroup per row.
// Pass 1 finds the row max m and s = sum exp(x - m) together ("online" softmax: a running sum is
// rescaled whenever the running max grows), so the row is read twice rather than three times;
// pass 2 writes exp(x - m) / s, or x - m - log(s).
// Built with BACKWARD: from the forward output y, dx = y (dy - sum(dy y)) for softmax and
// dx = dy - exp(y) sum(dy) for log-softmax; one pass for the row's sum, one to write dx.
#ifdef SUBGROUP
#extension GL_KHR_shader_subgroup_basic : enable
#extension GL_KHR_shader_subgroup_arithmetic : enable
#endif
#include "common.glsl"
#include "softmax.h"

layout(local_size_x_id = SOFTMAX_SPEC_WG) in;
layout(constant_id = SOFTMAX_SPEC_LOG) const uint LOG = 0;
// Built with SUBGROUP, rows combine with subgroup ops, and ONE_SUBGROUP (the workgroup is a
// single subgroup) skips shared memory; without, a shared-memory tree (power-of-two workgroup).
layout(constant_id = SOFTMAX_SPEC_ONE_SUBGROUP) const bool ONE_SUBGROUP = false;

#ifdef BACKWARD
layout(std430, binding = 0) readonly buffer Y { float y[]; };
layout(std430, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, binding = 2) writeonly buffer DX { float dx[]; };
layout(push_constant) uniform PC {
    uint off_y, off_dy, off_dx;
    SOFTMAX_PUSH
} pc;

shared float s_s[gl_WorkGroupSize.x];

// Every invocation returns the row's sum, folded in the same order in all of them.
float workgroup_sum(float s) {
#ifdef SUBGROUP
    s = subgroupAdd(s);
    if (ONE_SUBGROUP)
        return s;
    if (subgroupElect())
        s_s[gl_SubgroupID] = s;
    barrier();
    s = s_s[0];
    for (uint k = 1; k < gl_NumSubgroups; k++)
        s += s_s[k];
    return s;
#else
    uint lid = gl_LocalInvocationID.x;
    s_s[lid] = s;
    barrier();
    for (uint h = gl_WorkGroupSize.x / 2; h > 0; h >>= 1) {
        if (lid < h)
            s_s[lid] += s_s[lid + h];
        barrier();
    }
    return s_s[0];
#endif
}

void main() {
    uint row = GROUP_ID;
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    if (row >= pc.rows)
        return;
    uint by = pc.off_y + row * pc.n, bd = pc.off_dy + row * pc.n, bx = pc.off_dx + row * pc.n;
    // Kahan: an invocation's share of a long row is a long serial sum.
    precise float s = 0.0, c = 0.0;
    for (uint k = gl_LocalInvocationID.x; k < pc.n; k += gl_WorkGroupSize.x) {
        precise float v = (LOG != 0 ? dy[bd + k] : dy[bd + k] * y[by + k]) - c;
        precise float t = s + v;
        c = (t - s) - v;
        s = t;
    }
    s = workgroup_sum(s);
    for (uint k = gl_LocalInvocationID.x; k < pc.n; k += gl_WorkGroupSize.x) {
        if (LOG != 0)
            dx[bx + k] = dy[bd + k] - exp(y[by + k]) * s;
        else
            dx[bx + k] = y[by + k] * (dy[bd + k] - s);
    }
}
#else
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform PC {
    uint off_x, off_y;
    SOFTMAX_PUSH
} pc;

shared float s_m[gl_WorkGroupSize.x];
shared float s_s[gl_WorkGroupSize.x];

// Scale a sum taken relative to max m so it is relative to M >= m. A part that saw only -inf
// (or nothing) contributes 0 rather than exp(-inf - -inf) = NaN.
float rescale(float s, float m, float M) {
    return m == NEG_INF ? 0.0 : s * exp(m - M);
}

void merge(inout float m, inout float s, float m2, float s2) {
    float M = max(m, m2);
    s = rescale(s, m, M) + rescale(s2, m2, M);
    m = M;
}

// Combine every invocation's (m, s); all return the row's.
void workgroup_combine(inout float m, inout float s) {
#ifdef SUBGROUP
    float M = subgroupMax(m);
    s = subgroupAdd(rescale(s, m, M));
    m = M;
    if (ONE_SUBGROUP)
        return;
    if (subgroupElect()) {
        s_m[gl_SubgroupID] = m;
        s_s[gl_SubgroupID] = s;
    }
    barrier();
    // Same order in every invocation, so all agree bit for bit.
    m = s_m[0];
    s = s_s[0];
    for (uint k = 1; k < gl_NumSubgroups; k++)
        merge(m, s, s_m[k], s_s[k]);
#else
    uint lid = gl_LocalInvocationID.x;
    s_m[lid] = m;
    s_s[lid] = s;
    barrier();
    for (uint h = gl_WorkGroupSize.x / 2; h > 0; h >>= 1) {
        if (lid < h) {
            float a = s_m[lid], b = s_s[lid];
            merge(a, b, s_m[lid + h], s_s[lid + h]);
            s_m[lid] = a;
            s_s[lid] = b;
        }
        barrier();
    }
    m = s_m[0];
    s = s_s[0];
#endif
}

void main() {
    uint row = GROUP_ID;
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    if (row >= pc.rows)
        return;
    uint bx = pc.off_x + row * pc.n, by = pc.off_y + row * pc.n;
    // Kahan-compensated: an invocation's share of a long row is a long serial sum. A new max
    // folds the compensation into the rescaled sum.
    float m = NEG_INF;
    precise float s = 0.0, c = 0.0;
    for (uint k = gl_LocalInvocationID.x; k < pc.n; k += gl_WorkGroupSize.x) {
        float v = x[bx + k];
        if (v > m) {
            s = rescale(s - c, m, v) + 1.0;
            c = 0.0;
            m = v;
        } else if (m != NEG_INF) {
            precise float e = exp(v - m) - c;
            precise float t = s + e;
            c = (t - s) - e;
            s = t;
        }
    }
    s -= c;
    workgroup_combine(m, s);
    if (LOG != 0) {
        float shift = m + log(s);
        for (uint k = gl_LocalInvocationID.x; k < pc.n; k += gl_WorkGroupSize.x)
            y[by + k] = x[bx + k] - shift;
    } else {
        float r = 1.0 / s;
        for (uint k = gl_LocalInvocationID.x; k < pc.n; k += gl_WorkGroupSize.x)
            y[by + k] = exp(x[bx + k] - m) * r;
    }
}
#endif
