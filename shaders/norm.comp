#version 450
// Normalisation kernels. Each build (a #define row in shaders/meson.build) is one kernel:
//  ROW_FWD  layer norm / RMS norm over the rows of x viewed as [rows, n], a workgroup per row;
//  ROW_BWD  their dx, a workgroup per row;
//  COL_BWD  their dgamma / dbeta, a workgroup per column;
//  BN_FWD   batch norm, training or eval, a workgroup per channel of x [N, C, HW];
//  BN_BWD   batch norm backward, a workgroup per channel.
// Mean and variance are two-pass around a pivot (the first element): sum(x - pivot), then
// sum((x - pivot - mean)^2). When |mean| >> std, E[x^2] - E[x]^2 cancels to noise, and even a
// plain two-pass loses digits to the rounding of the mean; x - pivot is (nearly) exact there.
// Long serial loops sum with Kahan compensation, as the CPU twin sums in double.
// Optional tensors are switched off by FLAGS; the launcher binds a stand-in tensor in their slot.
// Every sum is taken in a fixed order, so results are deterministic.
#ifdef SUBGROUP
#extension GL_KHR_shader_subgroup_basic : enable
#extension GL_KHR_shader_subgroup_arithmetic : enable
#endif
#include "common.glsl"
#include "norm.h"

layout(local_size_x_id = NORM_SPEC_WG) in;
layout(constant_id = NORM_SPEC_FLAGS) const uint FLAGS = 0;
// The workgroup is a single subgroup: combine without shared memory (SUBGROUP builds only).
layout(constant_id = NORM_SPEC_ONE_SUBGROUP) const bool ONE_SUBGROUP = false;

bool has(uint f) { return (FLAGS & f) != 0u; }

// Two Kahan sums at once: s the sums, c their compensations (true sum = s - c).
void kadd(inout vec2 s, inout vec2 c, vec2 v) {
    precise vec2 y = v - c;
    precise vec2 t = s + y;
    precise vec2 nc = (t - s) - y;
    c = nc;
    s = t;
}

shared vec2 s_red[gl_WorkGroupSize.x];

// Every invocation returns the workgroup's sum. Callable repeatedly: the leading barrier keeps
// a new round's writes from overtaking the previous round's reads of s_red.
vec2 workgroup_sum(vec2 v) {
#ifdef SUBGROUP
    v = subgroupAdd(v);
    if (ONE_SUBGROUP)
        return v;
    barrier();
    if (subgroupElect())
        s_red[gl_SubgroupID] = v;
    barrier();
    // Same order in every invocation, so all agree bit for bit.
    v = s_red[0];
    for (uint k = 1; k < gl_NumSubgroups; k++)
        v += s_red[k];
    return v;
#else
    uint lid = gl_LocalInvocationID.x;
    barrier();
    s_red[lid] = v;
    barrier();
    for (uint h = gl_WorkGroupSize.x / 2; h > 0; h >>= 1) {
        if (lid < h)
            s_red[lid] += s_red[lid + h];
        barrier();
    }
    return s_red[0];
#endif
}

#if defined(ROW_FWD)

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer G { float gamma[]; };
layout(std430, binding = 2) readonly buffer B { float beta[]; };
layout(std430, binding = 3) writeonly buffer Y { float y[]; };
layout(std430, binding = 4) writeonly buffer M { float save_mean[]; };
layout(std430, binding = 5) writeonly buffer R { float save_rstd[]; };
layout(push_constant) uniform PC {
    uint off_x, off_g, off_b, off_y, off_m, off_r;
    NORM_ROW_FWD_PUSH
} pc;

void main() {
    uint row = GROUP_ID;
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    if (row >= pc.rows)
        return;
    uint lid = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
    uint bx = pc.off_x + row * pc.n, by = pc.off_y + row * pc.n;
    float pivot = 0.0, mean_d = 0.0, rstd;
    vec2 s = vec2(0.0), c = vec2(0.0);
    if (has(NORM_FLAG_RMS)) {
        for (uint k = lid; k < pc.n; k += wg) {
            float v = x[bx + k];
            kadd(s, c, vec2(v * v, 0.0));
        }
        float ss = workgroup_sum(s - c).x;
        rstd = 1.0 / sqrt(ss / float(pc.n) + pc.eps);
    } else {
        pivot = x[bx];
        for (uint k = lid; k < pc.n; k += wg)
            kadd(s, c, vec2(x[bx + k] - pivot, 0.0));
        mean_d = workgroup_sum(s - c).x / float(pc.n);
        s = c = vec2(0.0);
        for (uint k = lid; k < pc.n; k += wg) {
            float d = (x[bx + k] - pivot) - mean_d;
            kadd(s, c, vec2(d * d, 0.0));
        }
        float var = workgroup_sum(s - c).x / float(pc.n);
        rstd = 1.0 / sqrt(var + pc.eps);
    }
    for (uint k = lid; k < pc.n; k += wg) {
        float v = has(NORM_FLAG_RMS) ? x[bx + k] : (x[bx + k] - pivot) - mean_d;
        v *= rstd;
        if (has(NORM_FLAG_GAMMA))
            v *= gamma[pc.off_g + k];
        if (has(NORM_FLAG_BETA))
            v += beta[pc.off_b + k];
        y[by + k] = v;
    }
    if (lid == 0) {
        if (has(NORM_FLAG_SAVE_MEAN))
            save_mean[pc.off_m + row] = pivot + mean_d;
        if (has(NORM_FLAG_SAVE_RSTD))
            save_rstd[pc.off_r + row] = rstd;
    }
}

#elif defined(ROW_BWD)

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer G { float gamma[]; };
layout(std430, binding = 2) readonly buffer M { float mean[]; };
layout(std430, binding = 3) readonly buffer R { float rstd[]; };
layout(std430, binding = 4) readonly buffer DY { float dy[]; };
layout(std430, binding = 5) writeonly buffer DX { float dx[]; };
layout(push_constant) uniform PC {
    uint off_x, off_g, off_m, off_r, off_dy, off_dx;
    NORM_ROW_BWD_PUSH
} pc;

// With g = gamma * dy and xhat the normalised x:
//   layer norm: dx = rstd (g - mean(g) - xhat mean(g xhat));  RMS norm: dx = rstd (g - xhat mean(g xhat)).
void main() {
    uint row = GROUP_ID;
    if (row >= pc.rows)
        return;
    uint lid = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x, base = row * pc.n;
    float mu = has(NORM_FLAG_RMS) ? 0.0 : mean[pc.off_m + row], r = rstd[pc.off_r + row];
    vec2 s = vec2(0.0), c = vec2(0.0);
    for (uint k = lid; k < pc.n; k += wg) {
        float xh = (x[pc.off_x + base + k] - mu) * r;
        float g = dy[pc.off_dy + base + k];
        if (has(NORM_FLAG_GAMMA))
            g *= gamma[pc.off_g + k];
        kadd(s, c, vec2(g, g * xh));
    }
    vec2 m = workgroup_sum(s - c) / float(pc.n);
    float m_g = has(NORM_FLAG_RMS) ? 0.0 : m.x;
    for (uint k = lid; k < pc.n; k += wg) {
        float xh = (x[pc.off_x + base + k] - mu) * r;
        float g = dy[pc.off_dy + base + k];
        if (has(NORM_FLAG_GAMMA))
            g *= gamma[pc.off_g + k];
        dx[pc.off_dx + base + k] = r * (g - m_g - xh * m.y);
    }
}

#elif defined(COL_BWD)

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer M { float mean[]; };
layout(std430, binding = 2) readonly buffer R { float rstd[]; };
layout(std430, binding = 3) readonly buffer DY { float dy[]; };
layout(std430, binding = 4) writeonly buffer DG { float dgamma[]; };
layout(std430, binding = 5) writeonly buffer DB { float dbeta[]; };
layout(push_constant) uniform PC {
    uint off_x, off_m, off_r, off_dy, off_dg, off_db;
    NORM_ROW_BWD_PUSH
} pc;

void main() {
    uint j = GROUP_ID;
    if (j >= pc.n)
        return;
    vec2 s = vec2(0.0), c = vec2(0.0);
    for (uint row = gl_LocalInvocationID.x; row < pc.rows; row += gl_WorkGroupSize.x) {
        float mu = has(NORM_FLAG_RMS) ? 0.0 : mean[pc.off_m + row];
        float xh = (x[pc.off_x + row * pc.n + j] - mu) * rstd[pc.off_r + row];
        float g = dy[pc.off_dy + row * pc.n + j];
        kadd(s, c, vec2(g * xh, g));
    }
    vec2 sum = workgroup_sum(s - c);
    if (gl_LocalInvocationID.x == 0) {
        if (has(NORM_FLAG_DGAMMA))
            dgamma[pc.off_dg + j] = sum.x;
        if (has(NORM_FLAG_DBETA))
            dbeta[pc.off_db + j] = sum.y;
    }
}

#elif defined(BN_FWD)

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer G { float gamma[]; };
layout(std430, binding = 2) readonly buffer B { float beta[]; };
layout(std430, binding = 3) buffer RM { float run_mean[]; };
layout(std430, binding = 4) buffer RV { float run_var[]; };
layout(std430, binding = 5) writeonly buffer Y { float y[]; };
layout(std430, binding = 6) writeonly buffer M { float save_mean[]; };
layout(std430, binding = 7) writeonly buffer R { float save_rstd[]; };
layout(push_constant) uniform PC {
    uint off_x, off_g, off_b, off_rm, off_rv, off_y, off_m, off_r;
    NORM_BN_FWD_PUSH
} pc;

// Element k of channel ch (k < count), relative to the tensor's start.
uint at(uint ch, uint k) {
    uint n = k / pc.hw;
    return (n * pc.channels + ch) * pc.hw + (k - n * pc.hw);
}

void main() {
    uint ch = GROUP_ID;
    if (ch >= pc.channels)
        return;
    uint lid = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
    float pivot, mean_d, rstd;
    if (has(NORM_FLAG_TRAINING)) {
        pivot = x[pc.off_x + at(ch, 0)];
        vec2 s = vec2(0.0), c = vec2(0.0);
        for (uint k = lid; k < pc.count; k += wg)
            kadd(s, c, vec2(x[pc.off_x + at(ch, k)] - pivot, 0.0));
        mean_d = workgroup_sum(s - c).x / float(pc.count);
        s = c = vec2(0.0);
        for (uint k = lid; k < pc.count; k += wg) {
            float d = (x[pc.off_x + at(ch, k)] - pivot) - mean_d;
            kadd(s, c, vec2(d * d, 0.0));
        }
        float m2 = workgroup_sum(s - c).x;
        rstd = 1.0 / sqrt(m2 / float(pc.count) + pc.eps);
        if (lid == 0) {
            float mean = pivot + mean_d, m = pc.momentum;
            if (has(NORM_FLAG_SAVE_MEAN))
                save_mean[pc.off_m + ch] = mean;
            if (has(NORM_FLAG_SAVE_RSTD))
                save_rstd[pc.off_r + ch] = rstd;
            // running_var takes the unbiased variance, as PyTorch does
            if (has(NORM_FLAG_RUN_MEAN))
                run_mean[pc.off_rm + ch] = (1.0 - m) * run_mean[pc.off_rm + ch] + m * mean;
            if (has(NORM_FLAG_RUN_VAR))
                run_var[pc.off_rv + ch] = (1.0 - m) * run_var[pc.off_rv + ch] + m * (m2 / float(pc.count - 1));
        }
    } else {
        pivot = run_mean[pc.off_rm + ch];
        mean_d = 0.0;
        rstd = 1.0 / sqrt(run_var[pc.off_rv + ch] + pc.eps);
    }
    float g = has(NORM_FLAG_GAMMA) ? gamma[pc.off_g + ch] : 1.0;
    float b = has(NORM_FLAG_BETA) ? beta[pc.off_b + ch] : 0.0;
    for (uint k = lid; k < pc.count; k += wg) {
        uint i = at(ch, k);
        y[pc.off_y + i] = ((x[pc.off_x + i] - pivot) - mean_d) * rstd * g + b;
    }
}

#elif defined(BN_BWD)

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer G { float gamma[]; };
layout(std430, binding = 2) readonly buffer M { float mean[]; };
layout(std430, binding = 3) readonly buffer R { float rstd[]; };
layout(std430, binding = 4) readonly buffer DY { float dy[]; };
layout(std430, binding = 5) writeonly buffer DX { float dx[]; };
layout(std430, binding = 6) writeonly buffer DG { float dgamma[]; };
layout(std430, binding = 7) writeonly buffer DB { float dbeta[]; };
layout(push_constant) uniform PC {
    uint off_x, off_g, off_m, off_r, off_dy, off_dx, off_dg, off_db;
    NORM_BN_BWD_PUSH
} pc;

uint at(uint ch, uint k) {
    uint n = k / pc.hw;
    return (n * pc.channels + ch) * pc.hw + (k - n * pc.hw);
}

// dx = rstd gamma (dy - mean(dy) - xhat mean(dy xhat)), dgamma = sum(dy xhat), dbeta = sum(dy).
void main() {
    uint ch = GROUP_ID;
    if (ch >= pc.channels)
        return;
    uint lid = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
    float mu = mean[pc.off_m + ch], r = rstd[pc.off_r + ch];
    vec2 s = vec2(0.0), c = vec2(0.0);
    for (uint k = lid; k < pc.count; k += wg) {
        uint i = at(ch, k);
        float g = dy[pc.off_dy + i];
        kadd(s, c, vec2(g, g * ((x[pc.off_x + i] - mu) * r)));
    }
    vec2 sum = workgroup_sum(s - c);
    if (lid == 0) {
        if (has(NORM_FLAG_DGAMMA))
            dgamma[pc.off_dg + ch] = sum.y;
        if (has(NORM_FLAG_DBETA))
            dbeta[pc.off_db + ch] = sum.x;
    }
    if (!has(NORM_FLAG_DX))
        return;
    vec2 m = sum / float(pc.count);
    float scale = r * (has(NORM_FLAG_GAMMA) ? gamma[pc.off_g + ch] : 1.0);
    for (uint k = lid; k < pc.count; k += wg) {
        uint i = at(ch, k);
        float xh = (x[pc.off_x + i] - mu) * r;
        dx[pc.off_dx + i] = scale * (dy[pc.off_dy + i] - m.x - xh * m.y);
    }
}

#endif
