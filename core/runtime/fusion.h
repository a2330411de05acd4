// Graph-level optimisation for inference, applied when a Session is built (core/runtime/session.h).
//
// fuseForInference() rewrites a copy of the graph into fewer, larger steps that compute the same function:
//   - a BatchNormalization after a Conv or Gemm is folded into the layer's weight and bias (foldBatchNorm,
//     core/graph/transform.h);
//   - layer normalisation written as nine element-wise nodes (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div,
//     then Mul by gamma and Add of beta: PyTorch's export before opset 17) over trailing axes of a float32 value
//     becomes one LayerNormalization (the statistics in double: the outputs differ by float32 rounding), and the
//     activations after a float32 LayerNormalization become part of it like a Conv's (below), then a
//     QuantizeLinear with one scale and zero point that alone reads the result (fusedQuantize);
//   - a QuantizeLinear whose only reader is a com.microsoft QGemm's A, with the QGemm's own a_scale and a_zero_point
//     (one-element initializers), becomes part of the QGemm (quantizesInput): A is quantized inside its kernel;
//   - a chain of element-wise activations right after a float32 Conv — Relu, LeakyRelu, Clip, HardSwish,
//     HardSigmoid, Sigmoid, Tanh, and Max / Min with a one-element constant (a clip on one side) — becomes part
//     of the Conv: oneDNN applies it as post-ops while the output is still in registers, and the engine's own
//     convolution paths apply it to each output plane while it is in cache. After a float16 / bfloat16 Conv
//     only the clips fuse (Relu, Clip, Max / Min with bounds the type holds): they commute with the rounding
//     of the Conv's output, so the fused node's single rounding gives the graph's values exactly.
//   - the same chain after a float32 Gemm or MatMul, applied to the product's output by its kernel (the
//     standalone kernels' formulas: the values of the graph, bit for bit);
//   - a MaxPool that is the only reader of a float32 2-D convolution's output (after its activations) becomes
//     part of the Conv, which runs a few images at a time and pools them while they are in cache (its
//     attributes travel as "_pool_kernel_shape", "_pool_strides", ...: fusedMaxPoolPrefix());
//   - DequantizeLinear (a), DequantizeLinear (b) → Add → [Relu] → [QuantizeLinear], a quantized network's residual
//     join, becomes one com.microsoft QLinearAdd marked as that form (dequantizedAdd), which computes the graph's
//     float arithmetic element by element on the integers (the values of the graph, bit for bit);
//   - the activations between oneDNN convolutions, poolings and element-wise operators stay in oneDNN's
//     channel-blocked layout where every reader of a value can take it so (runtime/blocked.h marks them).
// A value is fused away only when its one consumer is the next step of the chain and it is not a graph output,
// so every value a caller can name in the fused graph has the same meaning as in the original. The Session keeps
// the original graph for the callers that read the values in between (runAll, or outputs and feeds named by an
// intermediate value).
//
// The activations of a fused Conv travel as internal node attributes ("_activations": the kinds,
// "_activation_alpha" / "_activation_beta": their parameters), read by the Conv kernel through
// fusedActivations(); they exist only in a Session's private copy and are never written to a file.
#pragma once

#include <algorithm>
#include <bit>
#include <string>
#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/graph/graph.h"

namespace cw {

// One element-wise function applied to a layer's output inside its kernel.
struct Activation {
    enum class Kind : int64_t { Relu = 1, LeakyRelu, Clip, HardSwish, HardSigmoid, Sigmoid, Tanh };
    Kind kind = Kind::Relu;
    float alpha = 0.f; // LeakyRelu: the slope; Clip: the lower bound; HardSigmoid: alpha
    float beta = 0.f;  // Clip: the upper bound; HardSigmoid: beta
};

// The element-wise formulas, shared by the standalone kernels (ops/activation.cpp) and the fused ones, written
// so that the compiler can vectorise a loop over them.
namespace act {
inline float relu(float v) { return v > 0.f ? v : 0.f; }
// max(v, 0) + alpha · min(v, 0): one of the two terms is a zero, so this is v or alpha · v exactly (-0 and NaN
// included), with no select for GCC to turn back into a branch (which mispredicts on every other element of
// real activations and keeps the loop from being vectorised).
inline float leakyRelu(float v, float alpha) { return std::max(v, 0.f) + alpha * std::min(v, 0.f); }
// ONNX applies the lower bound first, then the upper: with lo > hi every element becomes hi.
inline float clip(float v, float lo, float hi) { return std::min(std::max(v, lo), hi); }
inline float hardSigmoid(float v, float alpha, float beta) { return std::max(0.f, std::min(1.f, alpha * v + beta)); }
inline float hardSwish(float v) { return v * hardSigmoid(v, 1.f / 6.f, 0.5f); }
// e^v with Cephes' expf polynomial, branch-free so that a loop over it vectorises (std::exp is a call per
// element, with a slow path for every result that underflows). Within 1 ulp of e^v for v in [-87.3, 88]
// (test_ops: activationFormulas); v below is taken as -87.3 (e^v ≈ 1.2e-38: no denormals), above as 88
// (1.7e38); NaN stays NaN.
inline float exp(float v)
{
    v = std::min(std::max(v, -87.3f), 88.f);
    float n = (v * 1.44269504088896341f + 12582912.f) - 12582912.f; // v / ln 2 rounded to the nearest integer
    const float r = (v - n * 0.693359375f) - n * -2.12194440e-4f;  // v − n ln 2, ln 2 in two parts
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    n = n == n ? n : 0.f; // NaN: the polynomial carries it; the exponent needs an integer
    return (p * (r * r) + r + 1.f) * std::bit_cast<float>((int32_t(n) + 127) << 23);
}
inline float sigmoid(float v) { return 1.f / (1.f + act::exp(-v)); }
// Cephes' tanhf: an odd polynomial below |v| = 0.625, 1 − 2 / (e^2|v| + 1) with v's sign above; both computed
// and one chosen, so that it vectorises. Within 2 ulp of tanh (test_ops: activationFormulas).
inline float tanh(float v)
{
    const float a = std::fabs(v), z = v * v;
    const float small =
        ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z + 1.33314422036e-1f) * z -
         3.33332819422e-1f) * z * v + v;
    const float large = std::copysign(1.f - 2.f / (act::exp(2.f * a) + 1.f), v);
    return a < 0.625f ? small : large;
}
} // namespace act

// The activations fused into `node` (empty for a node without any), in the order they apply.
std::vector<Activation> fusedActivations(const Node &node);

// Whether a MaxPool was fused into `node` (a Conv), and the prefix of its attributes there.
bool hasFusedMaxPool(const Node &node);
std::string fusedMaxPoolPrefix();

// The table a QLinearConv's, QLinearMatMul's or QGemm's output is mapped through when the DequantizeLinear after
// it and the activations on that were fused into it, with the QuantizeLinear of their result (the 256 outputs of
// the QuantizeLinear's type for the 256 byte values the node writes) or without one (the 256 float32 values the
// chain ends with). nullptr when there is none.
const Tensor *fusedTable(const Node &node);

// The QuantizeLinear (one scale and zero point) fused after a LayerNormalization: its output is quantized row by
// row, with QuantizeLinear's arithmetic. On an integer product with a float table (fusedTable) whose chain is a
// DequantizeLinear alone: that DequantizeLinear's parameters, computed rather than looked up. nullopt otherwise.
struct FusedQuantize {
    float scale = 1.f;
    int32_t zeroPoint = 0;
    DType type = DType::UInt8; // or Int8
};
std::optional<FusedQuantize> fusedQuantize(const Node &node);

// A com.microsoft QLinearAdd made of DequantizeLinear (a), DequantizeLinear (b) → Add → [Relu] → [QuantizeLinear]
// (its inputs a, a_scale, a_zero_point, b, b_scale, b_zero_point, then the QuantizeLinear's y_scale and
// y_zero_point, or none when the chain ends in float): (a - a_zp) · a_scale + (b - b_zp) · b_scale, the Relu's
// max with 0, then quantized as QuantizeLinear does. nullopt for any other node (a QLinearAdd of a file computes
// with onnxruntime's formula).
struct DequantizedAdd {
    bool relu = false;
};
std::optional<DequantizedAdd> dequantizedAdd(const Node &node);

// Whether the QuantizeLinear before a QGemm's A was fused into it: A then arrives as float32, and the QGemm quantizes
// it with its own a_scale and a_zero_point, which are the QuantizeLinear's.
bool quantizesInput(const Node &node);

// y[i] = a_k(...a_1(y[i])) for i < n, with the formulas of the standalone kernels (ops/activation.cpp).
void applyActivations(const std::vector<Activation> &activations, float *y, int64_t n);

// The model with the fusions above applied (the input is not changed); `fused` receives the number of changes
// (nodes removed, values kept blocked). The graph must be sorted topologically.
Model fuseForInference(const Model &model, int *fused = nullptr);

} // namespace cw
