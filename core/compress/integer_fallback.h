// A fidelity floor for 8-bit activations (recipe "quantize.activations.min_sqnr_db"): which layers keep float
// arithmetic is decided by measurement on data rather than by layer type.
//
// With the floor set, every layer the recipe leaves to the quantizer (LayerConfig::integer unset) and that can run
// on integer kernels starts on them, 1-D convolutions included (by default they keep float arithmetic,
// qrewrite.h). The variant's first graph output is compared with the model before quantization (float weights,
// float arithmetic, no bias correction or quantization-aware training) as SQNR (analysis/fidelity.h), on as many
// samples as calibration took: those after the calibration samples when the data has them (a floor met on the
// samples the ranges were fitted to may not hold on others), else the calibration samples themselves. Below the
// floor, each candidate is measured once with only itself back on float arithmetic, and the candidates go back in
// the order of the SQNR that gave (the layer whose integer arithmetic costs most first), each step measured on the
// whole variant, until the floor holds or none is left. Layers the recipe sets (integer true or false) are never
// changed. The weights stay quantized throughout, so a floor that weight quantization alone misses is reported,
// not met.
//
// Cost: one measurement (the base and the variant run over those samples) when the floor holds;
// otherwise 1 + candidates + steps.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/analysis/feeds.h"
#include "core/base/progress.h"
#include "core/compress/recipe.h"
#include "core/graph/graph.h"
#include "core/io/dataset.h"

namespace cw {

// Whether a fidelity floor decides this planned layer's arithmetic: its `integer` is unset, its weights are
// quantized, it is not inside a subgraph, and it can run on integer kernels (whyNotInteger).
bool fidelityFloorDecides(const LayerPlan &p, const Graph &g);

// Marks every layer of `plan` the fidelity floor decides as integer (LayerConfig::integer = true), before
// calibration, and returns their names in plan order.
std::vector<std::string> markFallbackCandidates(const Model &model, std::vector<LayerPlan> &plan);

// SQNR of the variant's first output against the model before quantization.
struct FallbackResult {
    double floorDb = 0;
    double initialSqnrDb = 0;           // with every candidate on integer kernels
    double finalSqnrDb = 0;             // with the layers that went back on float arithmetic
    std::vector<std::string> floatLayers; // those layers, in the order they went
    bool met() const { return finalSqnrDb >= floorDb; }
};

struct FallbackOptions {
    double floorDb = 0;
    int64_t samples = 512; // calibration's: the first samples of the data
    FeedOptions inputs;    // the graph inputs after the first
    int threads = 0;
};

// `model`: the form rewriteQuantized() takes (BatchNorm folded, shapes inferred), biases corrected or trained
// with fake quantization as the recipe asks; `reference`: the same model before any of that, which the variant is
// compared with; `ranges`: the calibrated ranges of every candidate's values. Sets LayerConfig::integer = false in
// `plan` for each layer that goes back to float arithmetic; `log` gets a line per measurement. Checks `stop`
// between measurements and batches.
FallbackResult keepFidelityFloor(const Model &model, const Model &reference, std::vector<LayerPlan> &plan,
                                 const std::vector<std::string> &candidates,
                                 const std::map<std::string, ActivationRange> &ranges, const Dataset &data,
                                 const FallbackOptions &options, const ProgressFn &progress = {},
                                 const StopToken *stop = nullptr,
                                 const std::function<void(const std::string &)> &log = {});

} // namespace cw
