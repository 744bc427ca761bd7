#version 450
// Losses. A scalar loss takes two dispatches so that it is the same bits on every run (no float
// atomics): one writes partial sums into a scratch tensor, a second (built with SUM) folds them
// in a fixed order. Variants:
//  - no define: MSE / BCE-with-logits, elementwise (MODE): partial sums, an invocation per
//    grid-stride slice of the input, or the gradient, an invocation per element;
//  - CE: cross-entropy, a workgroup per row of logits [rows, C]: row max and sum of exps
//    together (online, as in softmax.comp), then the row's loss as a (loss, weight) pair, or
//    with BACKWARD its gradient row. SUBGROUP / ONE_SUBGROUP pick how a row combines, as in
//    softmax.comp;
//  - SUM: one workgroup folding the partials into the scalar.
#if defined(CE) && defined(SUBGROUP)
#extension GL_KHR_shader_subgroup_basic : enable
#extension GL_KHR_shader_subgroup_arithmetic : enable
#endif
#include "common.glsl"
#include "loss.h"

layout(local_size_x_id = LOSS_SPEC_WG) in;

float nan_value() { return uintBitsToFloat(0x7fc00000u); }

// Kahan summation: serial sums here run over thousands of terms.
struct Sum {
    float s, c;
};

void sum_add(inout Sum a, float v) {
    precise float y = v - a.c;
    precise float t = a.s + y;
    a.c = (t - a.s) - y;
    a.s = t;
}

#if defined(SUM)
layout(constant_id = LOSS_SPEC_MODE) const uint MODE = 0;
const uint SCALED = LOSS_SUM_SCALED, RATIO = LOSS_SUM_RATIO, COUNT = LOSS_SUM_COUNT;

// f32 partials, (loss, weight) pairs for RATIO, or i32 targets for COUNT.
layout(std430, binding = 0) readonly buffer P { uint p[]; };
layout(std430, binding = 1) writeonly buffer OUT { float out_v[]; };
layout(push_constant) uniform PC {
    uint off_p, off_out;
    LOSS_SUM_PUSH
} pc;

shared float s_v[gl_WorkGroupSize.x];
shared float s_w[gl_WorkGroupSize.x];

void main() {
    uint lid = gl_LocalInvocationID.x;
    Sum v = Sum(0.0, 0.0), w = Sum(0.0, 0.0);
    for (uint i = lid; i < pc.n; i += gl_WorkGroupSize.x) {
        if (MODE == SCALED) {
            sum_add(v, uintBitsToFloat(p[pc.off_p + i]));
        } else if (MODE == RATIO) {
            sum_add(v, uintBitsToFloat(p[pc.off_p + 2 * i]));
            sum_add(w, uintBitsToFloat(p[pc.off_p + 2 * i + 1]));
        } else if (pc.has_ignore == 0 || int(p[pc.off_p + i]) != pc.ignore) {
            w.s += 1.0; // integers, exact below 2^24
        }
    }
    // A power-of-two tree: every run folds the same values in the same order.
    s_v[lid] = v.s - v.c;
    s_w[lid] = w.s - w.c;
    barrier();
    for (uint h = gl_WorkGroupSize.x / 2; h > 0; h >>= 1) {
        if (lid < h) {
            s_v[lid] += s_v[lid + h];
            s_w[lid] += s_w[lid + h];
        }
        barrier();
    }
    if (lid == 0) {
        // RATIO with every weight 0 (every target ignored) is 0 / 0 = NaN, as in PyTorch.
        float r = MODE == SCALED ? s_v[0] * pc.scale : MODE == RATIO ? s_v[0] / s_w[0] : s_w[0];
        out_v[pc.off_out] = r;
    }
}

#elif defined(CE)
layout(constant_id = LOSS_SPEC_ONE_SUBGROUP) const bool ONE_SUBGROUP = false;

layout(std430, binding = 0) readonly buffer L { float logits[]; };
layout(std430, binding = 1) readonly buffer T { int targets[]; };
#ifdef BACKWARD
layout(std430, binding = 2) readonly buffer CNT { float count[]; };    // rows not ignored
layout(std430, binding = 3) writeonly buffer DL { float dlogits[]; };
layout(push_constant) uniform PC {
    uint off_l, off_t, off_cnt, off_dl;
    LOSS_CE_BACKWARD_PUSH
} pc;
#else
layout(std430, binding = 2) writeonly buffer OUT { float out_v[]; };   // (loss, weight) per row
layout(push_constant) uniform PC {
    uint off_l, off_t, off_out;
    LOSS_CE_PUSH
} pc;
#endif

shared float s_m[gl_WorkGroupSize.x];
shared float s_s[gl_WorkGroupSize.x];
shared float s_x[gl_WorkGroupSize.x];

// Scale a sum of exps taken relative to max m so it is relative to M >= m; a part that saw
// only -inf (or nothing) contributes 0 rather than NaN.
float rescale(float s, float m, float M) {
    return m == NEG_INF ? 0.0 : s * exp(m - M);
}

// Fold (m2, s2, x2) into (m, s, x): x is the plain sum of the logits, for label smoothing.
void merge(inout float m, inout float s, inout float x, float m2, float s2, float x2) {
    float M = max(m, m2);
    s = rescale(s, m, M) + rescale(s2, m2, M);
    m = M;
    x += x2;
}

// Every invocation returns the row's (m, s, x).
void workgroup_combine(inout float m, inout float s, inout float x) {
#ifdef SUBGROUP
    float M = subgroupMax(m);
    s = subgroupAdd(rescale(s, m, M));
    m = M;
    x = subgroupAdd(x);
    if (ONE_SUBGROUP)
        return;
    if (subgroupElect()) {
        s_m[gl_SubgroupID] = m;
        s_s[gl_SubgroupID] = s;
        s_x[gl_SubgroupID] = x;
    }
    barrier();
    m = s_m[0];
    s = s_s[0];
    x = s_x[0];
    for (uint k = 1; k < gl_NumSubgroups; k++)
        merge(m, s, x, s_m[k], s_s[k], s_x[k]);
#else
    uint lid = gl_LocalInvocationID.x;
    s_m[lid] = m;
    s_s[lid] = s;
    s_x[lid] = x;
    barrier();
    for (uint h = gl_WorkGroupSize.x / 2; h > 0; h >>= 1) {
        if (lid < h) {
            float a = s_m[lid], b = s_s[lid], c = s_x[lid];
            merge(a, b, c, s_m[lid + h], s_s[lid + h], s_x[lid + h]);
            s_m[lid] = a;
            s_s[lid] = b;
            s_x[lid] = c;
        }
        barrier();
    }
    m = s_m[0];
    s = s_s[0];
    x = s_x[0];
#endif
}

void main() {
    uint row = GROUP_ID;
    // Uniform per workgroup, so the barriers below stay in uniform control flow.
    if (row >= pc.rows)
        return;
    uint base = pc.off_l + row * pc.C;
    int t = targets[pc.off_t + row];
    bool ignored = pc.has_ignore != 0 && t == pc.ignore;
    // Checked before any read at t: such a row gives NaN, never an out-of-bounds read.
    bool bad = !ignored && (t < 0 || uint(t) >= pc.C);

    float m = NEG_INF, s = 0.0;
    Sum x = Sum(0.0, 0.0);
    for (uint k = gl_LocalInvocationID.x; k < pc.C; k += gl_WorkGroupSize.x) {
        float v = logits[base + k];
        if (v > m) {
            s = rescale(s, m, v) + 1.0;
            m = v;
        } else if (m != NEG_INF) {
            s += exp(v - m);
        }
        sum_add(x, v);
    }
    float xs = x.s - x.c;
    workgroup_combine(m, s, xs);
    float lse = m + log(s);

#ifdef BACKWARD
    // Gradient of the mean: ((1 - ls) onehot + ls / C) is the smoothed target distribution.
    float g = ignored ? 0.0 : bad ? nan_value() : pc.dloss / count[pc.off_cnt];
    float off = pc.ls / float(pc.C);
    uint bd = pc.off_dl + row * pc.C;
    for (uint k = gl_LocalInvocationID.x; k < pc.C; k += gl_WorkGroupSize.x) {
        float p = exp(logits[base + k] - lse);
        float q = off + (int(k) == t ? 1.0 - pc.ls : 0.0);
        dlogits[bd + k] = ignored ? 0.0 : g * (p - q);
    }
#else
    if (gl_LocalInvocationID.x == 0) {
        float loss = 0.0, w = 0.0;
        if (bad) {
            loss = nan_value();
            w = 1.0;
        } else if (!ignored) {
            loss = (1.0 - pc.ls) * (lse - logits[base + uint(t)]);
            // mean over classes of -log p = lse - mean(x); skipped at ls = 0 so -inf logits
            // (masked classes) do not turn 0 * inf into NaN
            if (pc.ls != 0.0)
                loss += pc.ls * (lse - xs / float(pc.C));
            w = 1.0;
        }
        out_v[pc.off_out + 2 * row] = loss;
        out_v[pc.off_out + 2 * row + 1] = w;
    }
#endif
}

#else
layout(constant_id = LOSS_SPEC_MODE) const uint MODE = 0;
const uint MSE_PART = LOSS_MSE_PART, BCE_PART = LOSS_BCE_PART, MSE_GRAD = LOSS_MSE_GRAD, BCE_GRAD = LOSS_BCE_GRAD;

layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer T { float t[]; };
layout(std430, binding = 2) writeonly buffer OUT { float out_v[]; };
layout(push_constant) uniform PC {
    uint off_x, off_t, off_out;
    LOSS_PUSH
} pc;

float term(float v, float y) {
    if (MODE == MSE_PART) {
        float d = v - y;
        return d * d;
    }
    // max(v, 0) - v y + log(1 + exp(-|v|)): never exp of a large positive number
    return max(v, 0.0) - v * y + log(1.0 + exp(-abs(v)));
}

void main() {
    uint i = GLOBAL_ID;
    if (MODE == MSE_PART || MODE == BCE_PART) {
        if (i >= pc.n_part)
            return;
        Sum a = Sum(0.0, 0.0);
        for (uint k = i; k < pc.n; k += pc.n_part)
            sum_add(a, term(x[pc.off_x + k], t[pc.off_t + k]));
        out_v[pc.off_out + i] = a.s - a.c;
    } else {
        if (i >= pc.n)
            return;
        float v = x[pc.off_x + i], y = t[pc.off_t + i];
        float d = MODE == MSE_GRAD ? v - y : 1.0 / (1.0 + exp(-v)) - y;
        out_v[pc.off_out + i] = pc.scale * d;
    }
}
#endif
