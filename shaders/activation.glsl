// Forward activations (op codes are unary.h's, the values of vkdl_unary_op), shared by unary.comp
// and the fused epilogue of matmul.comp so both compute exactly the same function. Vulkan promises
// no precision for sin and cos (2^-11 absolute, SwiftShader's), asin, acos, atan, the hyperbolic
// functions or log near 1 that f32 tolerances can rely on, so those are written out here as
// polynomials and from exp, log and sqrt.
#include "unary.h"

const uint RELU = UNARY_OP_RELU, GELU_TANH = UNARY_OP_GELU_TANH, GELU_ERF = UNARY_OP_GELU_ERF,
           SIGMOID = UNARY_OP_SIGMOID, TANH = UNARY_OP_TANH, EXP = UNARY_OP_EXP, LOG = UNARY_OP_LOG,
           SQRT = UNARY_OP_SQRT, NEG = UNARY_OP_NEG, ABS = UNARY_OP_ABS, FLOOR = UNARY_OP_FLOOR,
           CEIL = UNARY_OP_CEIL, ROUND = UNARY_OP_ROUND, SIGN = UNARY_OP_SIGN, RECIPROCAL = UNARY_OP_RECIPROCAL,
           SIN = UNARY_OP_SIN, COS = UNARY_OP_COS, TAN = UNARY_OP_TAN, ASIN = UNARY_OP_ASIN, ACOS = UNARY_OP_ACOS,
           ATAN = UNARY_OP_ATAN, SINH = UNARY_OP_SINH, COSH = UNARY_OP_COSH, ASINH = UNARY_OP_ASINH,
           ACOSH = UNARY_OP_ACOSH, ATANH = UNARY_OP_ATANH, ERF = UNARY_OP_ERF, SOFTPLUS = UNARY_OP_SOFTPLUS,
           SOFTSIGN = UNARY_OP_SOFTSIGN, SILU = UNARY_OP_SILU, MISH = UNARY_OP_MISH, HARDSWISH = UNARY_OP_HARDSWISH,
           LEAKY_RELU = UNARY_OP_LEAKY_RELU, ELU = UNARY_OP_ELU, SELU = UNARY_OP_SELU, CELU = UNARY_OP_CELU,
           HARDSIGMOID = UNARY_OP_HARDSIGMOID, CLIP = UNARY_OP_CLIP, THRESHOLDED_RELU = UNARY_OP_THRESHOLDED_RELU,
           SHRINK = UNARY_OP_SHRINK;

const float ACT_PI_2 = 1.5707963268, ACT_LN2 = 0.6931471806;

float act_nan() { return uintBitsToFloat(0x7fc00000u); }

// GLSL has no erf. Below |z| = 0.5 the Maclaurin series of erf (error < 2e-8); above, the
// Numerical Recipes fit of erfc(|z|) (relative error < 1.2e-7).
float erf_series(float z) {
    float t = z * z;
    return z * (1.1283791671 + t * (-0.3761263890 + t * (0.1128379167 + t * (-0.0268661706 +
           t * (0.0052239776 + t * -0.0008548254)))));
}

float erfc_fit(float a) {
    float t = 1.0 / (1.0 + 0.5 * a);
    return t * exp(-a * a - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
           t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
           t * (-0.82215223 + t * 0.17087277)))))))));
}

// 1 + erf(z) is what gelu needs, and for z << 0 it must come from erfc directly or it cancels to 0.
float one_plus_erf(float z) {
    if (abs(z) < 0.5) return 1.0 + erf_series(z);
    float erfc_a = erfc_fit(abs(z));
    return z < 0.0 ? erfc_a : 2.0 - erfc_a;
}

float erf_(float z) {
    if (abs(z) < 0.5) return erf_series(z);
    float r = 1.0 - erfc_fit(abs(z));
    return z < 0.0 ? -r : r;
}

// Drivers may lower tanh to (e^2x - 1)/(e^2x + 1), which is inf/inf = NaN for large x.
float safe_tanh(float v) {
    return 1.0 - 2.0 / (exp(2.0 * v) + 1.0);
}

// log(1 + v) without cancelling for small v: 2 atanh(s) with s = v / (2 + v), |s| <= 1/3 below
// |v| = 0.5, where its series has converged to 1e-9 by s^17.
float log1p_(float v) {
    if (abs(v) >= 0.5) return log(1.0 + v);
    float s = v / (2.0 + v), t = s * s;
    return 2.0 * s * (1.0 + t * (1.0 / 3.0 + t * (0.2 + t * (1.0 / 7.0 + t * (1.0 / 9.0 + t * (1.0 / 11.0 +
           t * (1.0 / 13.0 + t * (1.0 / 15.0 + t * (1.0 / 17.0)))))))));
}

// sin and cos of v (Cephes' sinf and cosf): v = j pi/4 + r with j even and |r| <= pi/4, pi/4 split
// in three parts (Cody-Waite) so r stays exact to |v| ~ 8192, then the quadrant j/2 picks the
// kernels and their signs.
void sincos_(float v, out float s, out float c) {
    float a = abs(v), j = floor(a * 1.2732395447);
    j += mod(j, 2.0);
    float r = ((a - j * 0.78515625) - j * 2.4187564849853515625e-4) - j * 3.77489497744594108e-8;
    float z = r * r;
    float sr = r + r * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4));
    float cr = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3 + z * 2.443315711809948e-5));
    uint q = uint(j * 0.5) & 3u;
    s = q == 0u ? sr : q == 1u ? cr : q == 2u ? -sr : -cr;
    c = q == 0u ? cr : q == 1u ? -sr : q == 2u ? -cr : sr;
    if (v < 0.0) s = -s;
}

float sin_(float v) {
    float s, c;
    sincos_(v, s, c);
    return s;
}

float cos_(float v) {
    float s, c;
    sincos_(v, s, c);
    return c;
}

float tan_(float v) {
    float s, c;
    sincos_(v, s, c);
    return s / c;
}

// Cephes' single-precision asinf kernel for |v| <= 0.5 (relative error ~1e-7).
float asin_kernel(float v) {
    float z = v * v;
    return v + v * z * (0.16666752422 + z * (0.074953002686 + z * (0.045470025998 + z * (0.024181311049 +
           z * 0.042163199048))));
}

// asin(a) for a in [0, 1]: above 0.5 from asin(a) = pi/2 - 2 asin(sqrt((1 - a) / 2)), which keeps
// 1 - a exact near 1.
float asin_pos(float a) {
    return a <= 0.5 ? asin_kernel(a) : ACT_PI_2 - 2.0 * asin_kernel(sqrt(0.5 * (1.0 - a)));
}

// acos from the same kernel (Cephes' acosf): near +-1 from the half angle, whose 1 -+ v is exact.
float acos_(float v) {
    if (v > 0.5) return 2.0 * asin_kernel(sqrt(0.5 * (1.0 - v)));
    if (v < -0.5) return 2.0 * ACT_PI_2 - 2.0 * asin_kernel(sqrt(0.5 * (1.0 + v)));
    return ACT_PI_2 - asin_kernel(v);
}

// Cephes' atanf: reduced to |v| <= tan(pi/8) by atan(a) = pi/4 + atan((a-1)/(a+1)) or pi/2 - atan(1/a).
float atan_(float v) {
    float a = abs(v), base = 0.0;
    if (a > 2.414213562) {
        base = ACT_PI_2;
        a = -1.0 / a;
    } else if (a > 0.4142135624) {
        base = 0.5 * ACT_PI_2;
        a = (a - 1.0) / (a + 1.0);
    }
    float z = a * a;
    float r = base + a + a * z * (-0.333329491539 + z * (0.199777106478 + z * (-0.138776856032 +
              z * 0.0805374449538)));
    return v < 0.0 ? -r : r;
}

// e^|v| / 2 from exp(|v| - ln 2), which overflows only where sinh and cosh do.
float half_exp(float v) { return exp(abs(v) - ACT_LN2); }

float sinh_(float v) {
    float a = abs(v);
    if (a < 0.5) {
        float t = v * v;
        return v + v * t * (1.0 / 6.0 + t * (1.0 / 120.0 + t * (1.0 / 5040.0)));
    }
    float h = half_exp(a), r = h - 0.25 / h;
    return v < 0.0 ? -r : r;
}

// Large |v|: log(2|v|), as |v| * |v| would overflow.
float asinh_(float v) {
    float a = abs(v);
    float r = a > 1e4 ? log(a) + ACT_LN2 : log1p_(a + a * a / (1.0 + sqrt(1.0 + a * a)));
    return v < 0.0 ? -r : r;
}

float acosh_(float v) {
    if (v < 1.0) return act_nan();
    if (v > 1e4) return log(v) + ACT_LN2;
    float t = v - 1.0;
    return log1p_(t + sqrt(t * (t + 2.0)));
}

float atanh_(float v) {
    float a = abs(v);
    if (a >= 1.0) return a == 1.0 ? v * (1.0 / 0.0) : act_nan();
    float r = 0.5 * log1p_(2.0 * a / (1.0 - a));
    return v < 0.0 ? -r : r;
}

// log(1 + e^v) = max(v, 0) + log(1 + e^-|v|): no overflow, and e^v for v << 0 keeps its digits.
float softplus_(float v) { return (v > 0.0 ? v : 0.0) + log1p_(exp(-abs(v))); }

// tanh(softplus v) = n / (n + 2) with n = e^v (e^v + 2), exact for v << 0 where 1 - 2/(...) cancels.
float mish_(float v) {
    if (v > 20.0) return v;
    float e = exp(v), n = e * (e + 2.0);
    return v * n / (n + 2.0);
}

// NaN gives NaN for every op, which neither max (relu) nor drivers' exp (SwiftShader's) promise.
float activation(uint op, float v, float alpha, float beta) {
    if (isnan(v)) return v;
    if (op == RELU) return max(v, 0.0);
    // 0.5(1 + tanh u) = sigmoid(2u): no cancellation for v << 0
    if (op == GELU_TANH) return v / (1.0 + exp(-1.5957691216 * (v + 0.044715 * v * v * v)));
    if (op == GELU_ERF) return 0.5 * v * one_plus_erf(v * 0.7071067812);
    if (op == SIGMOID) return 1.0 / (1.0 + exp(-v));
    if (op == TANH) return safe_tanh(v);
    if (op == EXP) return exp(v);
    if (op == LOG) return log(v);
    if (op == SQRT) return sqrt(v);
    if (op == NEG) return -v;
    if (op == ABS) return abs(v);
    if (op == FLOOR) return floor(v);
    if (op == CEIL) return ceil(v);
    if (op == ROUND) return roundEven(v);
    if (op == SIGN) return v > 0.0 ? 1.0 : v < 0.0 ? -1.0 : v;
    if (op == RECIPROCAL) return 1.0 / v;
    if (op == SIN) return sin_(v);
    if (op == COS) return cos_(v);
    if (op == TAN) return tan_(v);
    if (op == ASIN) return abs(v) > 1.0 ? act_nan() : v < 0.0 ? -asin_pos(-v) : asin_pos(v);
    if (op == ACOS) return abs(v) > 1.0 ? act_nan() : acos_(v);
    if (op == ATAN) return atan_(v);
    if (op == SINH) return sinh_(v);
    if (op == COSH) {
        float h = half_exp(v);
        return h + 0.25 / h;
    }
    if (op == ASINH) return asinh_(v);
    if (op == ACOSH) return acosh_(v);
    if (op == ATANH) return atanh_(v);
    if (op == ERF) return erf_(v);
    if (op == SOFTPLUS) return softplus_(v);
    if (op == SOFTSIGN) return v / (1.0 + abs(v));
    if (op == SILU) return v / (1.0 + exp(-v));
    if (op == MISH) return mish_(v);
    if (op == HARDSWISH) {
        float t = v + 3.0;
        return v * (t <= 0.0 ? 0.0 : t >= 6.0 ? 6.0 : t) / 6.0;
    }
    if (op == LEAKY_RELU) return v > 0.0 ? v : alpha * v;
    if (op == ELU) return v > 0.0 ? v : alpha * (exp(v) - 1.0);
    if (op == SELU) return beta * (v > 0.0 ? v : alpha * (exp(v) - 1.0));
    if (op == CELU) return v > 0.0 ? v : alpha * (exp(v / alpha) - 1.0);
    if (op == HARDSIGMOID) {
        float t = alpha * v + beta;
        return t <= 0.0 ? 0.0 : t >= 1.0 ? 1.0 : t;
    }
    if (op == CLIP) {
        float t = v < alpha ? alpha : v;
        return t > beta ? beta : t;
    }
    if (op == THRESHOLDED_RELU) return v <= alpha ? 0.0 : v;
    // SHRINK
    return abs(v) <= alpha ? 0.0 : v < 0.0 ? v + beta : v - beta;
}
