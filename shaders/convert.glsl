// f32 -> f16 / bf16 bit patterns, round to nearest even with NaN and inf kept, exactly as the CPU
// twins' vkdl_f32_to_f16 / vkdl_f32_to_bf16. Integer arithmetic only: packHalf2x16's rounding is
// implementation-defined. Shared by copy.comp and matmul.comp.

uint f32_to_f16(float f) {
    uint u = floatBitsToUint(f);
    uint sign = (u >> 16) & 0x8000;
    uint e = (u >> 23) & 0xff, m = u & 0x7fffff;
    if (e == 0xff) return sign | 0x7c00 | (m != 0 ? 0x200 | (m >> 13) : 0);
    int ex = int(e) - 112;
    if (ex >= 31) return sign | 0x7c00;
    if (ex <= 0) {
        if (ex < -10) return sign;
        m |= 0x800000;
        uint shift = uint(14 - ex);
        uint h = m >> shift, rem = m & ((1u << shift) - 1), half_ = 1u << (shift - 1);
        if (rem > half_ || (rem == half_ && (h & 1) != 0)) h++;
        return sign | h;
    }
    uint h = (uint(ex) << 10) | (m >> 13), rem = m & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1) != 0)) h++;
    return sign | h;
}

uint f32_to_bf16(float f) {
    uint u = floatBitsToUint(f);
    if ((u & 0x7fffffff) > 0x7f800000) return (u >> 16) | 0x40;
    return (u + 0x7fff + ((u >> 16) & 1)) >> 16;
}
