// The quantization rewrite: a float model (BatchNorm folded) + per-layer weight specs (+ activation ranges) →
// a graph in the quantized contract of docs/formats.md, "Quantized graphs".
//
// Weight-only layers: the float weight W becomes W_q (int8 symmetric or uint8 asymmetric, values within the
// layer's bit-width), W_scale, W_zp and a DequantizeLinear(W_q, W_scale, W_zp) node producing W for the
// unchanged float Conv / Gemm (the Session constant-folds it). Scales are scalar (tensor), [C] along the
// output-channel axis (channel), or ONNX-21 blocks along the reduction axis (group: block_size consecutive
// input channels of one kernel position for Conv, consecutive inputs for Gemm; a layer whose whole row fits
// in one group is quantized per channel instead, which is the same grid with fewer scales).
//
// With activation ranges (8-bit activations): every 2-D Conv (any group; a 1-D one where the recipe asks) and
// Gemm (transB = 1, alpha = beta = 1) whose weights are symmetric per-tensor or per-channel becomes QLinearConv /
// com.microsoft QGemm on uint8 activations; a Relu that is its output's sole consumer is fused (y_zp = 0, the
// Relu is removed); the logits Gemm (output is a graph output) keeps a float output. MaxPool, Flatten and Reshape
// run on the uint8 values as they are; every other consumer of a quantized value gets a DequantizeLinear in front
// of it, and a float value entering a quantized layer a QuantizeLinear. Layers that cannot run on integer kernels
// (group-wise or asymmetric weights, MatMul, ...), or that the recipe keeps float, stay weight-only.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/compress/calibrate.h"
#include "core/compress/recipe.h"
#include "core/graph/graph.h"
#include "core/quant/quantize.h"

namespace cw {

// Why this planned layer cannot run on QLinearConv / QGemm; empty when it can. A 1-D Conv can, but runs on integer
// kernels only where the recipe asks (LayerConfig::integer).
std::string whyNotInteger(const Node &node, const Graph &g, const LayerConfig &cfg);
// With 8-bit activations, whether this planned layer runs on integer kernels: it can, the recipe does not keep
// it float, and a 1-D Conv only where the recipe asks. With a fidelity floor (quantize.activations.min_sqnr_db),
// measurement decides for the layers the recipe leaves unset (core/compress/integer_fallback.h).
bool runsOnIntegerKernels(const Node &node, const Graph &g, const LayerConfig &cfg);

// The values that need activation ranges for a full integer rewrite of these layers: each integer layer's
// input and its (fused) output. Throws cw::Error naming the setting when a layer the recipe asks to run on
// integer kernels cannot.
std::vector<std::string> activationValuesToCalibrate(const Model &model, const std::vector<LayerPlan> &plan);

// Rewrites `model` in place. ranges empty: weight-only for every quantized layer. Returns the number of
// layers that run on integer kernels.
int rewriteQuantized(Model &model, const std::vector<LayerPlan> &plan,
                     const std::map<std::string, ActivationRange> &ranges);

} // namespace cw
