#version 450
// out = a op b with broadcasting. The launcher collapses dims that are contiguous in all three
// tensors, so NDIM (a specialization constant, the loop fully unrolled) is usually 1 to 3.
// Built with BACKWARD (f32 only): the gradient of one operand (WHICH), an invocation or a
// workgroup per element of it (MODE). Built with WHERE: out = cond ? a : b over three operands.
#include "common.glsl"
#include "binary.h"

// x^y as C's pow for the cases a model meets: a negative base with an integral exponent, and
// 0^y (GLSL's pow leaves both undefined).
float fpow(float x, float y) {
    if (y == 0.0) return 1.0;
    if (x == 0.0) return y > 0.0 ? 0.0 : 1.0 / 0.0;
    float r = pow(abs(x), y);
    if (x > 0.0 || isnan(x)) return r;
    if (trunc(y) != y) return uintBitsToFloat(0x7fc00000u);    // NaN
    return fract(y * 0.5) != 0.0 ? -r : r;
}

layout(local_size_x_id = BINARY_SPEC_WG) in;
layout(constant_id = BINARY_SPEC_OP) const uint OP = 0;
layout(constant_id = BINARY_SPEC_NDIM) const uint NDIM = 1;

#ifdef BACKWARD
layout(constant_id = BINARY_SPEC_WHICH) const uint WHICH = 0;
layout(constant_id = BINARY_SPEC_MODE) const uint MODE = 0;    // see main

layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) readonly buffer DOUT { float dout[]; };
layout(std430, binding = 3) writeonly buffer G { float g[]; };
layout(push_constant) uniform PC {
    uint off_a, off_b, off_dout, off_g;
    BINARY_BACKWARD_PUSH
} pc;

bool is_reduced(int d) { return (pc.reduced & (1u << d)) != 0; }

// d out / d (the operand) times the upstream gradient d.
float partial(float x, float y, float d) {
    bool wa = WHICH == BINARY_WHICH_A;
    if (OP == BINARY_OP_ADD) return d;
    if (OP == BINARY_OP_SUB) return wa ? d : -d;
    if (OP == BINARY_OP_MUL) return d * (wa ? y : x);
    if (OP == BINARY_OP_DIV) return wa ? d / y : -d * (x / y) / y;
    if (OP == BINARY_OP_POW) {
        if (wa) return d * y * fpow(x, y - 1.0);
        return x == 0.0 ? 0.0 : d * fpow(x, y) * log(x);
    }
    if (OP == BINARY_OP_MINIMUM || OP == BINARY_OP_MAXIMUM) {
        // A tie gives each operand half, as torch.minimum / torch.maximum do.
        if (x == y) return 0.5 * d;
        bool a_wins = OP == BINARY_OP_MINIMUM ? x < y : x > y;
        return a_wins == wa ? d : 0.0;
    }
    if (OP == BINARY_OP_PRELU) return x > 0.0 ? (wa ? d : 0.0) : d * (wa ? y : x);
    if (OP == BINARY_OP_FMOD) return wa ? d : -trunc(x / y) * d;
    return wa ? d : -floor(x / y) * d;    // BINARY_OP_MOD
}

shared float s_sum[gl_WorkGroupSize.x];

void main() {
    // MODE INVOCATION: invocation i sums all of element i's terms. MODE WORKGROUP: workgroup i
    // shares them out, invocation k taking terms k, k + WG, ..., for long sums (lavapipe also
    // ends a shader's loops after 65535 iterations in all).
    uint i = MODE == BINARY_MODE_INVOCATION ? GLOBAL_ID : GROUP_ID;
    // Uniform per workgroup in MODE WORKGROUP, so its barriers stay in uniform control flow.
    if (i >= pc.n)
        return;
    uint first = MODE == BINARY_MODE_INVOCATION ? 0 : gl_LocalInvocationID.x;
    uint step = MODE == BINARY_MODE_INVOCATION ? 1 : gl_WorkGroupSize.x;
    // The operand's elements are its kept dims in row-major order, so i splits over them.
    // dout's stride of dim d is the product of the sizes after it, kept as a running product
    // (a local array here would share its type with the push-constant arrays, and glslang then
    // gives it an ArrayStride that newer spirv-val rejects).
    uint o0 = 0, a0 = 0, b0 = 0, rest = i, ostride = 1;
    [[unroll]] for (int d = int(NDIM) - 1; d >= 0; d--) {
        if (!is_reduced(d)) {
            uint coord = rest % pc.shape[d];
            rest /= pc.shape[d];
            o0 += coord * ostride;
            a0 += coord * pc.stride_a[d];
            b0 += coord * pc.stride_b[d];
        }
        ostride *= pc.shape[d];
    }
    // Kahan sum in a fixed order: the same bits on every run, and digits kept over long sums.
    precise float sum = 0.0, comp = 0.0;
    for (uint r = first; r < pc.n_red; r += step) {
        uint o = o0, ia = a0, ib = b0, rr = r, os = 1;
        [[unroll]] for (int d = int(NDIM) - 1; d >= 0; d--) {
            if (is_reduced(d)) {
                uint coord = rr % pc.shape[d];
                rr /= pc.shape[d];
                o += coord * os;
                ia += coord * pc.stride_a[d];
                ib += coord * pc.stride_b[d];
            }
            os *= pc.shape[d];
        }
        precise float v = partial(a[pc.off_a + ia], b[pc.off_b + ib], dout[pc.off_dout + o]) - comp;
        precise float t = sum + v;
        comp = (t - sum) - v;
        sum = t;
    }
    if (MODE == BINARY_MODE_INVOCATION) {
        g[pc.off_g + i] = sum;
        return;
    }
    // A power-of-two tree, the same pairs on every run.
    uint lid = gl_LocalInvocationID.x;
    s_sum[lid] = sum;
    barrier();
    for (uint h = gl_WorkGroupSize.x / 2; h > 0; h >>= 1) {
        if (lid < h)
            s_sum[lid] += s_sum[lid + h];
        barrier();
    }
    if (lid == 0)
        g[pc.off_g + i] = s_sum[0];
}
#else
layout(constant_id = BINARY_SPEC_TYPE) const uint TYPE = BINARY_TYPE_F32;

#ifdef WHERE
const uint OUT_T = TYPE;
layout(std430, binding = 0) readonly buffer COND { uint cond[]; };
layout(std430, binding = 1) readonly buffer A { uint a[]; };
layout(std430, binding = 2) readonly buffer B { uint b[]; };
layout(std430, binding = 3) buffer C { uint c[]; };    // read back for partial words
layout(push_constant) uniform PC {
    uint off_cond, off_a, off_b, off_c;
    WHERE_PUSH
} pc;
#else
const uint OUT_T = OP >= BINARY_OP_EQUAL ? BINARY_TYPE_U8 : TYPE;
layout(std430, binding = 0) readonly buffer A { uint a[]; };
layout(std430, binding = 1) readonly buffer B { uint b[]; };
layout(std430, binding = 2) buffer C { uint c[]; };    // read back for partial words
layout(push_constant) uniform PC {
    uint off_a, off_b, off_c;
    BINARY_PUSH
} pc;
#endif

// The bits of element e of a word buffer holding elements of type t (a u8 one zero-extended).
#define LOAD(buf, t, e) ((t) == BINARY_TYPE_U8 ? (buf[(e) >> 2] >> (8 * ((e) & 3))) & 0xff : buf[e])

#ifdef WHERE
uint element(uint e) {
    uint ic = 0, ia = 0, ib = 0, sc = 1, sa = 1, sb = 1, rest = e;
    [[unroll]] for (int d = int(NDIM) - 1; d >= 0; d--) {
        uint coord = rest % pc.shape[d], bit = 1u << d;
        rest /= pc.shape[d];
        if ((pc.bcast[0] & bit) == 0) ic += coord * sc, sc *= pc.shape[d];
        if ((pc.bcast[1] & bit) == 0) ia += coord * sa, sa *= pc.shape[d];
        if ((pc.bcast[2] & bit) == 0) ib += coord * sb, sb *= pc.shape[d];
    }
    return LOAD(cond, BINARY_TYPE_U8, pc.off_cond + ic) != 0 ? LOAD(a, TYPE, pc.off_a + ia)
                                                             : LOAD(b, TYPE, pc.off_b + ib);
}
#else
// i32 division and remainder that never divide by zero (the result is then 0) nor overflow
// (INT_MIN / -1 wraps to INT_MIN, as the CPU twin's); both are undefined in SPIR-V.
int idiv(int x, int y) {
    if (y == 0) return 0;
    if (y == -1) return int(0u - uint(x));
    return x / y;
}
int irem(int x, int y) { return y == 0 || y == -1 ? 0 : x - (x / y) * y; }

int ipow(int x, int y) {
    if (y < 0) return x == 1 ? 1 : x == -1 ? ((y & 1) != 0 ? -1 : 1) : 0;
    int r = 1;
    for (int e = y; e != 0; e >>= 1) {
        if ((e & 1) != 0) r *= x;
        x *= x;
    }
    return r;
}

// 0 with the sign of v.
float signed_zero(float v) { return uintBitsToFloat(floatBitsToUint(v) & 0x80000000u); }

// C's fmod(x, y) = x - trunc(x / y) y, the sign of x (a zero too); the quotient may be rounded
// across an integer, which leaves |r| >= |y| or the wrong sign: one step back fixes it.
float ffmod(float x, float y) {
    precise float r = x - trunc(x / y) * y;
    if (r != 0.0 && (r < 0.0) != (x < 0.0)) r += x < 0.0 ? -abs(y) : abs(y);
    if (abs(r) >= abs(y)) r -= x < 0.0 ? -abs(y) : abs(y);
    return r == 0.0 ? signed_zero(x) : r;
}

uint compute(uint xb, uint yb) {
    if (OP >= BINARY_OP_AND) {
        bool p = xb != 0, q = yb != 0;
        return uint(OP == BINARY_OP_AND ? p && q : OP == BINARY_OP_OR ? p || q : p != q);
    }
    if (TYPE == BINARY_TYPE_I32) {
        int x = int(xb), y = int(yb), r;
        if (OP == BINARY_OP_EQUAL) return uint(x == y);
        if (OP == BINARY_OP_LESS) return uint(x < y);
        if (OP == BINARY_OP_LESS_EQUAL) return uint(x <= y);
        if (OP == BINARY_OP_GREATER) return uint(x > y);
        if (OP == BINARY_OP_GREATER_EQUAL) return uint(x >= y);
        if (OP == BINARY_OP_ADD) r = x + y;
        else if (OP == BINARY_OP_SUB) r = x - y;
        else if (OP == BINARY_OP_MUL) r = x * y;
        else if (OP == BINARY_OP_DIV) r = idiv(x, y);
        else if (OP == BINARY_OP_POW) r = ipow(x, y);
        else if (OP == BINARY_OP_MINIMUM) r = min(x, y);
        else if (OP == BINARY_OP_MAXIMUM) r = max(x, y);
        else if (OP == BINARY_OP_FMOD) r = irem(x, y);
        else if (OP == BINARY_OP_MOD) {
            r = irem(x, y);
            if (r != 0 && (r < 0) != (y < 0)) r += y;
        } else r = x < 0 ? x * y : x;    // BINARY_OP_PRELU
        return uint(r);
    }
    float x = uintBitsToFloat(xb), y = uintBitsToFloat(yb), r;
    if (OP == BINARY_OP_EQUAL) return uint(x == y);
    if (OP == BINARY_OP_LESS) return uint(x < y);
    if (OP == BINARY_OP_LESS_EQUAL) return uint(x <= y);
    if (OP == BINARY_OP_GREATER) return uint(x > y);
    if (OP == BINARY_OP_GREATER_EQUAL) return uint(x >= y);
    if (OP == BINARY_OP_ADD) r = x + y;
    else if (OP == BINARY_OP_SUB) r = x - y;
    else if (OP == BINARY_OP_MUL) r = x * y;
    else if (OP == BINARY_OP_DIV) r = x / y;
    else if (OP == BINARY_OP_POW) r = fpow(x, y);
    else if (OP == BINARY_OP_MINIMUM) r = isnan(x) || isnan(y) ? x + y : x < y ? x : y;
    else if (OP == BINARY_OP_MAXIMUM) r = isnan(x) || isnan(y) ? x + y : x > y ? x : y;
    else if (OP == BINARY_OP_FMOD) r = ffmod(x, y);
    else if (OP == BINARY_OP_MOD) {
        r = ffmod(x, y);    // then moved to y's sign, a zero too (Python's float %)
        if (r != 0.0 && (r < 0.0) != (y < 0.0)) r += y;
        if (r == 0.0) r = signed_zero(y);
    } else r = x < 0.0 ? x * y : x;    // BINARY_OP_PRELU
    return floatBitsToUint(r);
}

uint element(uint e) {
    uint ia = 0, ib = 0, rest = e;
    [[unroll]] for (int d = int(NDIM) - 1; d >= 0; d--) {
        uint coord = rest % pc.shape[d];
        rest /= pc.shape[d];
        ia += coord * pc.stride_a[d];
        ib += coord * pc.stride_b[d];
    }
    uint in_t = OP >= BINARY_OP_AND ? BINARY_TYPE_U8 : TYPE;
    return compute(LOAD(a, in_t, pc.off_a + ia), LOAD(b, in_t, pc.off_b + ib));
}
#endif

void main() {
    uint g = GLOBAL_ID;
    if (g >= pc.words)
        return;
    const uint k = OUT_T == BINARY_TYPE_U8 ? 4 : 1;    // elements per output word
    uint w = pc.off_c / k + g;
    uint word = 0, keep = 0;
    [[unroll]] for (uint j = 0; j < k; j++) {
        uint p = w * k + j;                            // element position in the binding
        uint mask = (k == 1 ? 0xffffffffu : 0xffu) << (8 * j);
        if (p < pc.off_c || p - pc.off_c >= pc.n)
            keep |= mask;
        else
            word |= (element(p - pc.off_c) << (8 * j)) & mask;
    }
    if (keep != 0)
        word |= c[w] & keep;
    c[w] = word;
}
#endif
