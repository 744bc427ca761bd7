// Forward activations (op codes are unary.h's, the values of vkdl_unary_op), shared by unary.comp
// and the fused epilogue of matmul.comp so both compute exactly the same function.
#include "unary.h"

const uint RELU = UNARY_OP_RELU, GELU_TANH = UNARY_OP_GELU_TANH, GELU_ERF = UNARY_OP_GELU_ERF,
           SIGMOID = UNARY_OP_SIGMOID, TANH = UNARY_OP_TANH, EXP = UNARY_OP_EXP, LOG = UNARY_OP_LOG,
           SQRT = UNARY_OP_SQRT, NEG = UNARY_OP_NEG, ABS = UNARY_OP_ABS;

// GLSL has no erf. 1 + erf(z) is what gelu needs, and for z << 0 it must come from erfc
// directly or it cancels to 0. Below |z| = 0.5 the Maclaurin series (error < 2e-8); above, the
// Numerical Recipes erfc fit (relative error < 1.2e-7).
float one_plus_erf(float z) {
    float a = abs(z);
    if (a < 0.5) {
        float t = z * z;
        return 1.0 + z * (1.1283791671 + t * (-0.3761263890 + t * (0.1128379167 + t * (-0.0268661706 +
               t * (0.0052239776 + t * -0.0008548254)))));
    }
    float t = 1.0 / (1.0 + 0.5 * a);
    float erfc_a = t * exp(-a * a - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
                   t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
                   t * (-0.82215223 + t * 0.17087277)))))))));
    return z < 0.0 ? erfc_a : 2.0 - erfc_a;
}

// Drivers may lower tanh to (e^2x - 1)/(e^2x + 1), which is inf/inf = NaN for large x.
float safe_tanh(float v) {
    return 1.0 - 2.0 / (exp(2.0 * v) + 1.0);
}

// unary.comp passes a specialization constant, so the chain folds to one expression; matmul's
// epilogue passes a push constant (a uniform branch, one pipeline for every activation).
float activation(uint op, float v) {
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
    return abs(v); // ABS
}
