#version 450
// SUM / MEAN / MAX / ARGMAX along one axis of x viewed as [outer, n, inner]; output o covers
// (o / inner, o % inner). Two launch shapes, picked by MODE:
//  - INVOCATION: an invocation per output, looping over the axis. Neighbouring invocations read
//    neighbouring addresses when inner > 1, so this is the shape for many short reductions.
//  - WORKGROUP: a workgroup per output; invocations stride over the axis and combine in the
//    workgroup. This is the shape for long reductions (few outputs, or the contiguous last axis).
#ifdef SUBGROUP
#extension GL_KHR_shader_subgroup_basic : enable
#extension GL_KHR_shader_subgroup_arithmetic : enable
#endif
#include "common.glsl"
#include "reduce.h"

layout(local_size_x_id = REDUCE_SPEC_WG) in;
layout(constant_id = REDUCE_SPEC_OP) const uint OP = 0;
layout(constant_id = REDUCE_SPEC_MODE) const uint MODE = 0;
// WORKGROUP mode combines with subgroup ops when built with SUBGROUP (the device may lack
// them: then a shared-memory tree, which needs a power-of-two workgroup). ONE_SUBGROUP says the
// workgroup is a single subgroup, so no shared-memory step at all.
layout(constant_id = REDUCE_SPEC_ONE_SUBGROUP) const bool ONE_SUBGROUP = false;

const uint SUM = REDUCE_OP_SUM, MEAN = REDUCE_OP_MEAN, MAX = REDUCE_OP_MAX, ARGMAX = REDUCE_OP_ARGMAX;
const uint NONE = 0xffffffffu;

layout(std430, binding = 0) readonly buffer X { float x[]; };
// uint so one shader can store f32 bits or i32 indices.
layout(std430, binding = 1) writeonly buffer Y { uint y[]; };
layout(push_constant) uniform PC {
    uint off_x, off_y;
    REDUCE_PUSH
} pc;

shared float s_v[gl_WorkGroupSize.x];
shared uint s_i[gl_WorkGroupSize.x];

// One partial result. For sums, c is the Kahan compensation: long serial loops (INVOCATION with a
// long axis) would otherwise lose digits the double-precision CPU twin keeps.
struct Acc {
    float v;
    float c;
    uint i;
};

Acc acc_init() {
    return Acc(OP == SUM || OP == MEAN ? 0.0 : NEG_INF, 0.0, NONE);
}

void acc_add(inout Acc a, float v, uint k) {
    if (OP == SUM || OP == MEAN) {
        precise float y = v - a.c;
        precise float t = a.v + y;
        a.c = (t - a.v) - y;
        a.v = t;
    } else if (OP == MAX) {
        a.v = max(a.v, v);
    } else if (v > a.v || a.i == NONE) {
        // k only grows, so strict > keeps the first index of the maximum
        a.v = v;
        a.i = k;
    }
}

// Fold b into a; for ARGMAX equal values keep the smaller index.
void acc_merge(inout Acc a, Acc b) {
    if (OP == SUM || OP == MEAN)
        a.v += b.v;
    else if (OP == MAX)
        a.v = max(a.v, b.v);
    else if (b.i != NONE && (a.i == NONE || b.v > a.v || (b.v == a.v && b.i < a.i)))
        a = b;
}

#ifdef SUBGROUP
Acc subgroup_combine(Acc a) {
    if (OP == SUM || OP == MEAN) {
        a.v = subgroupAdd(a.v);
    } else if (OP == MAX) {
        a.v = subgroupMax(a.v);
    } else {
        // Invocations that saw no element hold -inf and NONE; min() over indices skips them.
        float m = subgroupMax(a.i == NONE ? NEG_INF : a.v);
        a.i = subgroupMin(a.i != NONE && a.v == m ? a.i : NONE);
        a.v = m;
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
        s_i[gl_SubgroupID] = a.i;
    }
    barrier();
    // Every invocation folds the few partials in the same order, so all agree bit for bit.
    a = Acc(s_v[0], 0.0, s_i[0]);
    for (uint k = 1; k < gl_NumSubgroups; k++)
        acc_merge(a, Acc(s_v[k], 0.0, s_i[k]));
    return a;
#else
    uint lid = gl_LocalInvocationID.x;
    s_v[lid] = a.v;
    s_i[lid] = a.i;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
        if (lid < s) {
            Acc b = Acc(s_v[lid], 0.0, s_i[lid]);
            acc_merge(b, Acc(s_v[lid + s], 0.0, s_i[lid + s]));
            s_v[lid] = b.v;
            s_i[lid] = b.i;
        }
        barrier();
    }
    return Acc(s_v[0], 0.0, s_i[0]);
#endif
}

uint finish(Acc a) {
    if (OP == ARGMAX)
        return a.i;
    if (OP == MEAN)
        return floatBitsToUint(a.v / float(pc.n));
    return floatBitsToUint(a.v);
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
        a.v -= a.c;
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
        a.v -= a.c;
        a = workgroup_combine(a);
        if (gl_LocalInvocationID.x == 0)
            y[pc.off_y + o] = finish(a);
    }
}
