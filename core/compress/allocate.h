// Allocation and prediction for compression recipes: what a recipe is expected to do to each layer before a
// job runs, and per-layer settings for one global target that spare the layers a sensitivity sweep found
// fragile.
//
// Prediction (predictLayer / predictModel) is an estimate, not a measurement: the size a job reports is the
// byte size of the saved file (compress.h). The estimate counts each weight as the file stores it:
//   - a quantized weight: quantizedBytes() (packed bits plus a scale, and a zero point when asymmetric, per
//     block) of the elements that remain;
//   - channel pruning removes round(ratio * channels) output channels (at least one stays), so the weight
//     shrinks by those rows; the matching input channels of the consumer shrink too, which the estimate does
//     not count (it looks at one layer at a time);
//   - unstructured magnitude and N:M pruning lower `nonzeros`; the file stores such a weight sparse (a bitmask
//     of the nonzero positions plus the nonzero values at 32 bits for float, the bit-width when quantized) when
//     that is smaller than dense by more than ~256 bytes of attributes, and dense otherwise;
//   - every other initializer (biases, BatchNorm vectors, skipped layers) keeps its float bytes.
// The proxy error is cw::weightError between the original weight and the weight the recipe would leave
// (pruned, then fake-quantized): SQNR in dB and relative L2 error, per layer and over all planned weights
// together (noise and signal energies summed, so large layers weigh more).
//
// Distribution by sensitivity (allocatePruneRatios / allocateBitWidths): given a global target — a mean
// pruning ratio over the parameters of the listed layers, or an average number of bits per weight — and a
// cw::SensitivityResult, choose per-layer settings that meet the target and put less compression on the layers
// whose measured drop is larger (accuracy; for a fidelity sweep the relative output noise power, which adds
// up over layers the way the allocation assumes). Each layer's drop is a piecewise-linear curve through (no
// compression, 0) and its measured trials (negative drops, which are noise, count as 0; the curve is made
// non-decreasing in compression), extended linearly past the last measured ratio. The cost of compressing a
// layer further is the drop per parameter saved, so a large layer with a small drop absorbs most of the
// budget. The curves are replaced by their lower convex hulls and the hull segments taken in order of
// increasing cost until the target is met (the optimum of the convexified problem); segments of equal cost
// are taken together in proportion to their length, so layers that cost nothing to compress share the work
// evenly. Pruning ratios are continuous, so the mean ratio meets the target exactly (up to rounding);
// bit-widths are whole numbers, so the average lands at or under the target and the remaining slack is given
// back to the layers where one more bit saves the most drop. Increasing the target never lowers any layer's
// compression. Without sensitivity data (or for layers it does not cover) the allocation is uniform: every
// layer gets the target ratio, or floor / ceil of the target bits weighted by parameters.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/compress/recipe.h"
#include "core/compress/sensitivity.h"
#include "core/graph/graph.h"

namespace cw {

struct LayerPrediction {
    std::string node, op, weight;
    int64_t params = 0;        // weight elements in the original model
    int64_t kept = 0;          // elements left after channel pruning (= params otherwise)
    int64_t nonzeros = 0;      // of the kept elements, those not pruned to zero
    int64_t floatBytes = 0;    // the weight's bytes now
    int64_t bytes = 0;         // predicted bytes as stored
    bool compressed = false;   // false: skipped or nothing configured (bytes == floatBytes, no error)
    double sqnrDb = 0;         // +inf when the weight is unchanged
    double relativeError = 0;
    double signalEnergy = 0;   // sum w^2 and sum (w - w')^2, for aggregating errors over layers
    double noiseEnergy = 0;
};

struct ModelPrediction {
    std::vector<LayerPrediction> layers; // aligned with the plan
    int64_t baseBytes = 0;     // all initializers as they are now
    int64_t bytes = 0;         // predicted: planned weights at their predicted bytes, everything else unchanged
    double ratio = 1;          // baseBytes / bytes
    double sqnrDb = 0;         // over all planned weights (+inf when nothing changes)
    double relativeError = 0;
};

// withError = false skips the (weight-sized) computation of the proxy error and only counts bytes. Throws
// cw::Error when the plan names a node or weight the model does not have.
LayerPrediction predictLayer(const Model &model, const LayerPlan &plan, bool withError = true);
ModelPrediction predictModel(const Model &model, const std::vector<LayerPlan> &plan, bool withError = true);
// Aggregates already computed layer predictions (the GUI recomputes only the layers whose settings changed).
// `model` is what the layers were predicted on; `stored`, when given, the model as saved, of which `model` is
// the compressionForm (recipe.h): base bytes and each layer's bytes now are then those it stores (a float16
// weight, a dynamic int8 layer's uint8 weight), and a layer left uncompressed keeps its stored bytes when the
// pipeline narrows it back (16-bit weights), else its float32 bytes (a dequantized integer layer).
ModelPrediction summarizePrediction(const Model &model, std::vector<LayerPrediction> layers,
                                    const Model *stored = nullptr);

struct AllocationLayer {
    std::string node;
    int64_t params = 0;
};

struct Allocation {
    std::vector<double> ratios;  // allocatePruneRatios: one per layer
    std::vector<int> bits;       // allocateBitWidths: one per layer
    double achieved = 0;         // parameter-weighted mean ratio / average bits per weight
    double predictedDrop = 0;    // sum of the layers' interpolated drops (the sweep's unit); 0 when uniform
    bool fromSensitivity = false;
    std::string note;            // why the allocation is uniform, or which layers had no measurements
};

// targetRatio in [0, maxRatio]; each layer's ratio in [0, maxRatio]. Uses sensitivity->layers[].prune
// against sensitivity->options.pruneRatios (magnitude-pruning trials, also the best available measure for N:M
// and channel pruning); layers are matched by node name. sensitivity may be null. Throws cw::Error for a
// target out of range or no layers.
Allocation allocatePruneRatios(const std::vector<AllocationLayer> &layers, double targetRatio,
                               const SensitivityResult *sensitivity, double maxRatio = 0.95);
// targetBits in [minBits, maxBits] (average over the listed layers' weights, scales not counted); each layer
// gets a whole number of bits in [minBits, maxBits]. Uses sensitivity->layers[].bits against
// sensitivity->options.bits; maxBits counts as lossless when it was not measured, and bit-widths between
// measured ones are interpolated.
Allocation allocateBitWidths(const std::vector<AllocationLayer> &layers, double targetBits,
                             const SensitivityResult *sensitivity, int minBits = 2, int maxBits = 8);

// The layers of a plan that an allocation distributes over: the ones not skipped, with their weight sizes.
std::vector<AllocationLayer> allocationLayers(const Model &model, const std::vector<LayerPlan> &plan);
// Writes an allocation into the recipe as per-layer overrides of the planned layers it lists (matched by
// node): the ratio into each layer's prune settings (the recipe's default method, or magnitude when it has
// none), or the bits into its weight quantization (the default granularity, or per channel).
void applyPruneAllocation(Recipe &recipe, const std::vector<LayerPlan> &plan,
                          const std::vector<AllocationLayer> &layers, const Allocation &allocation);
void applyBitAllocation(Recipe &recipe, const std::vector<LayerPlan> &plan,
                        const std::vector<AllocationLayer> &layers, const Allocation &allocation);

} // namespace cw
