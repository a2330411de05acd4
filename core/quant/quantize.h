// Weight quantization: uniform integer grids of 2–8 bits, symmetric or asymmetric, per tensor, per output
// channel or per group of consecutive weights along the input dimension.
//
// fakeQuantize() returns the dequantized weights (what the quantized layer computes with) and the grid of
// each block, so the Inspect view can draw the levels and clipping range and report the error the choice
// would cause. Symmetric grids use levels q * scale, q in [-(2^(b-1) - 1), 2^(b-1) - 1] (no -2^(b-1), so the
// grid is symmetric); asymmetric grids use (q - zeroPoint) * scale, q in [0, 2^b - 1], with zero exactly
// representable. Scales come from the block's min / max (no clipping search in this version); values round to
// the nearest level, ties to even. NaN weights stay NaN, +-Inf clamp to the grid's ends, and neither counts
// towards a block's range.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/base/tensor.h"
#include "core/graph/graph.h"

namespace cw {

enum class Granularity { Tensor, Channel, Group };

// How the quantized values are chosen: round-to-nearest on the grid (what fakeQuantize does), or, for the weight
// matrices of language models (core/lm/compress.h), GPTQ's or AWQ's reconstruction from calibration activations.
enum class QuantMethod { Rtn, Gptq, Awq };

struct QuantSpec {
    int bits = 8;                         // 2..8
    Granularity granularity = Granularity::Channel;
    int64_t groupSize = 64;               // for Group: consecutive weights along the reduction axis
    bool symmetric = true;
    QuantMethod method = QuantMethod::Rtn;
    // Language models: the ggml block format the weight is stored in ("q4_k", "q8_0", "f16", ...; lower case),
    // "" for the grid above. Encoding follows llama.cpp's quantizer exactly (core/quant/ggml_blocks.h).
    std::string format;
};

struct QuantGrid {
    float scale = 1.f;
    int32_t zeroPoint = 0;
    int32_t qmin = 0, qmax = 0;
    float lo() const { return float(qmin - zeroPoint) * scale; }  // clipping range in weight units
    float hi() const { return float(qmax - zeroPoint) * scale; }
};

struct QuantResult {
    Tensor dequantized;            // same shape as the input
    std::vector<QuantGrid> grids;  // one per block: 1, channels, or channels * groups (channel-major)
};

// w: the weight; channelAxis: its output-channel axis (stats.h outputChannelAxis). Throws cw::Error for bits
// outside 2..8 or a group size < 1.
QuantResult fakeQuantize(const Tensor &w, const QuantSpec &spec, int channelAxis = 0);

struct WeightError {
    double mse = 0;
    double sqnrDb = 0;         // 10 log10(signal power / noise power); +inf when exact
    double relativeError = 0;  // ||w - w'|| / ||w||
    double signal = 0, noise = 0; // Σ w², Σ (w - w')² over the finite weights (to add up several tensors)
};
WeightError weightError(const Tensor &original, const Tensor &approx);
// 10 log10(signal / noise): +inf without noise, -inf without signal.
double sqnrFromPowers(double signal, double noise);

// Bytes of the weight stored at this spec: packed bits, plus a float scale (and int8 zero point when
// asymmetric) per block.
int64_t quantizedBytes(const Shape &shape, const QuantSpec &spec, int channelAxis = 0);

// An integer weight and the DequantizeLinear parameters that give the float weight back.
struct IntegerWeight {
    Tensor q;          // int8 (symmetric) or uint8 (asymmetric), the weight's shape
    Tensor scale;      // float: scalar, [C], or the blocked shape
    Tensor zeroPoint;  // same shape and dtype family as scale (int8 zeros / uint8)
    int axis = -1;     // -1: per tensor
    int64_t blockSize = 0; // > 0: blocked along `axis`
    Tensor dequantize() const; // float, the weight's shape
};

// reductionAxis: the axis groups are cut along (Conv: 1, Gemm transB = 1: 1, transB = 0 / MatMul: 0).
IntegerWeight quantizeWeightInteger(const Tensor &w, const QuantSpec &spec, int channelAxis, int reductionAxis);

// An 8-bit activation range and its grid (calibration chooses the range: core/compress/calibrate.h).
struct ActivationRange {
    float lo = 0.f, hi = 0.f;
};

// uint8 asymmetric grid of a range: scale = (hi - lo) / 255, zero point = round(-lo / scale).
struct ActivationGrid {
    float scale = 1.f;
    uint8_t zeroPoint = 0;
};
ActivationGrid activationGrid(const ActivationRange &range);

} // namespace cw
