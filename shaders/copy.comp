#version 450
// out = x converted between dtypes (f32, f16, bf16, i32, u8). Everything is read and written as
// 32-bit words, so no 8/16-bit storage feature is needed (SwiftShader has none). Each invocation
// owns one output word; where the word extends past the tensor (a view that starts or ends
// mid-word) the bytes outside it are kept. Rounding matches the CPU twin: round to nearest even
// into f16/bf16, truncation with saturation into i32/u8, NaN to 0.
#include "common.glsl"
#include "convert.glsl"
#include "copy.h"

layout(local_size_x_id = COPY_SPEC_WG) in;
layout(constant_id = COPY_SPEC_SRC_T) const uint SRC_T = 0;
layout(constant_id = COPY_SPEC_DST_T) const uint DST_T = 0;

layout(std430, binding = 0) readonly buffer X { uint x[]; };
layout(std430, binding = 1) buffer Y { uint y[]; };
layout(push_constant) uniform PC {
    uint off_x, off_y;
    COPY_PUSH
} pc;

const uint F32 = COPY_DTYPE_F32, F16 = COPY_DTYPE_F16, BF16 = COPY_DTYPE_BF16, I32 = COPY_DTYPE_I32, U8 = COPY_DTYPE_U8;

uint dsize(uint t) { return t == F16 || t == BF16 ? 2 : t == U8 ? 1 : 4; }

uint load_bits(uint e) {
    uint a = pc.off_x + e;
    if (dsize(SRC_T) == 4) return x[a];
    if (dsize(SRC_T) == 2) return (x[a >> 1] >> (16 * (a & 1))) & 0xffff;
    return (x[a >> 2] >> (8 * (a & 3))) & 0xff;
}

float to_float(uint b) {
    if (SRC_T == F32) return uintBitsToFloat(b);
    if (SRC_T == F16) return unpackHalf2x16(b).x;   // exact
    if (SRC_T == BF16) return uintBitsToFloat(b << 16);
    if (SRC_T == I32) return float(int(b));
    return float(b);
}

uint from_float(float v) {
    if (DST_T == F32) return floatBitsToUint(v);
    if (DST_T == F16) return f32_to_f16(v);
    if (DST_T == BF16) return f32_to_bf16(v);
    if (DST_T == I32) {
        if (isnan(v)) return 0;
        if (v >= 2147483647.0) return 0x7fffffff;
        if (v <= -2147483648.0) return 0x80000000;
        return uint(int(v));
    }
    if (isnan(v) || v <= 0.0) return 0;
    return v >= 255.0 ? 255 : uint(v);
}

void main() {
    uint g = GLOBAL_ID;
    if (g >= pc.words)
        return;
    const uint k = 4 / dsize(DST_T);          // elements per output word
    uint w = pc.off_y / k + g;
    uint word = 0, keep = 0;
    [[unroll]] for (uint j = 0; j < k; j++) {
        uint p = w * k + j;                  // element position in the binding
        uint bits_mask = (k == 1 ? 0xffffffffu : ((1u << (32 / k)) - 1)) << (j * 32 / k);
        if (p < pc.off_y || p - pc.off_y >= pc.n) {
            keep |= bits_mask;
            continue;
        }
        uint b = load_bits(p - pc.off_y);
        uint r = SRC_T == DST_T ? b : from_float(to_float(b));
        word |= (r << (j * 32 / k)) & bits_mask;
    }
    if (keep != 0)
        word |= y[w] & keep;
    y[w] = word;
}
