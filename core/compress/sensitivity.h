// Sensitivity analysis: how much each layer's accuracy suffers when only that layer is pruned or quantized.
//
// Measured one at a time: for every layer with a float weight (stats.h's definition) and every setting
// (magnitude-pruning ratios, weight bit-widths), only that layer's weight is replaced (cw::pruneMagnitude /
// cw::fakeQuantize), the model is evaluated on the first `limit` samples of the dataset, and the trial's
// accuracy, loss and drop (baseline accuracy − trial accuracy) are recorded.
//
// Two measures of damage (SensitivityMetric):
//   accuracy  labelled data: the drop in top-1 accuracy, as above;
//   fidelity  any data, labels or not (detectors, voice activity, embeddings): the trial's first graph output is
//             compared with the unmodified model's on the same samples. `drop` is the relative noise power
//             sum (y' − y)² / sum y² (0 = identical; noise powers of independent errors add up, so the
//             allocation below can sum them over layers) and `outputSqnrDb` the same as SQNR in dB,
//             −10 log10(drop). Accuracy and loss are NaN.
//   Auto picks accuracy when the dataset has labels, fidelity otherwise.
//
// Activation caching: a trial only changes one weight, so the network before that layer computes exactly what
// the unmodified network computes. For each layer and batch the unmodified network runs once up to the
// values the rest of the network needs (the layer's input, plus any value a residual branch carries past it:
// the "frontier"), and each trial then runs only from the layer on (Session::run with the frontier as extra
// feeds skips everything before it). Layers are the outer loop, batches the inner one, so memory holds one
// batch's frontier at a time and each layer's results are final (and handed to onLayer) as soon as its
// sweep ends. The cached path gives the same logits, bit for bit, as evaluating the compressed model in
// full (cacheActivations = false does that; tests compare the two).
//
// Proxies without an evaluation: the weight-space SQNR of the compressed weight (cw::weightError) and the
// output-space error, the relative L2 error ||y' − y|| / ||y|| of the layer's own output on the first
// `calibrationBatches` batches. The Spearman rank correlation between each proxy's predicted damage (−SQNR,
// output error) and the measured drops, over all layer × setting trials of one kind, says how far the fast
// estimate can be trusted: +1 means it orders the trials exactly as the measurement does.
//
// A weight initializer shared by several nodes is compressed for all of them in that layer's trials (the
// trial replaces the initializer). Reproducible: data in file order, no randomness (pruning ties are broken by index). The stop token is
// checked between trials and batches; a cancelled run throws cw::Cancelled and returns nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/analysis/feeds.h"
#include "core/base/progress.h"
#include "core/graph/graph.h"
#include "core/io/dataset.h"
#include "core/quant/quantize.h"

namespace cw {

enum class SensitivityMetric { Auto, Accuracy, Fidelity };

struct SensitivityOptions {
    SensitivityMetric metric = SensitivityMetric::Auto;
    std::vector<double> pruneRatios{0.3, 0.5, 0.7, 0.9}; // each in [0, 1)
    std::vector<int> bits{8, 6, 4, 3, 2};                 // each in 2..8
    Granularity granularity = Granularity::Channel;
    int64_t groupSize = 64;            // for Granularity::Group
    int64_t limit = 1000;              // samples (first ones of the dataset); 0 = all
    int64_t batchSize = 250;
    int threads = 0;                   // 0 = all hardware threads
    int calibrationBatches = 2;        // for the output-error proxy
    bool cacheActivations = true;      // false: every trial evaluates the whole network (for measuring the gain)
    std::vector<std::string> layers;   // only these nodes ("" / empty = every layer with a float weight)
    FeedOptions inputs;                // the graph inputs after the first, which the dataset feeds
};

struct SensitivityTrial {
    double accuracy = 0;
    double loss = 0;
    double drop = 0;        // baseline accuracy − accuracy; fidelity: relative output noise power
    double outputSqnrDb = 0; // fidelity: SQNR of the first graph output against the base model (+inf: identical)
    double lossDelta = 0;   // loss − baseline loss
    double sqnrDb = 0;      // weight-space SQNR (+inf when the weight is unchanged)
    double outputError = 0; // relative L2 error of the layer's output on the calibration batches
};

struct LayerSensitivity {
    std::string name;    // node name
    std::string op;
    std::string weight;  // weight initializer name
    int64_t params = 0;
    std::vector<SensitivityTrial> prune; // aligned with options.pruneRatios
    std::vector<SensitivityTrial> bits;  // aligned with options.bits
};

struct SpearmanPair {
    double sqnr = 0;        // NaN when undefined (fewer than two trials, or a constant column)
    double outputError = 0;
};

struct SensitivityResult {
    SensitivityOptions options;
    SensitivityMetric metric = SensitivityMetric::Accuracy; // as measured (never Auto)
    std::string dataset;
    int64_t samples = 0;
    double baselineAccuracy = 0;
    double baselineLoss = 0;
    std::vector<LayerSensitivity> layers;
    SpearmanPair spearmanPrune, spearmanBits;
    double seconds = 0;     // wall time of the analysis
};

// Nodes analysed: those with a float weight initializer of rank >= 2, in execution order.
std::vector<std::string> sensitivityLayers(const Model &model);

// onLayer is called from the calling thread once a layer's sweep is complete (partial results for live
// views). Throws cw::Error for bad options, an unknown layer, or the accuracy metric on a dataset without
// labels.
SensitivityResult analyzeSensitivity(const Model &model, const Dataset &data, const SensitivityOptions &options = {},
                                     const ProgressFn &progress = {}, const StopToken *stop = nullptr,
                                     const std::function<void(const LayerSensitivity &)> &onLayer = {});

// Spearman rank correlation with average ranks for ties; NaN when undefined. Pairs where either value is NaN
// are left out.
double spearman(const std::vector<double> &a, const std::vector<double> &b);

// "accuracy" / "fidelity" (and "auto"); parseSensitivityMetric throws cw::Error for another name.
const char *sensitivityMetricName(SensitivityMetric metric);
SensitivityMetric parseSensitivityMetric(const std::string &name);
// Fills spearmanPrune / spearmanBits from the layers' trials.
void computeSpearman(SensitivityResult &result);

// The documented JSON (cwb sensitivity --json, the "sensitivity" entry of Model::analysis):
// {"baseline": {"accuracy", "loss"}, "layers": [{"name", "op", "params", "prune": {"0.5": {"accuracy", "drop",
// "loss"}}, "bits": {"8": {...}}, "proxy": {"prune": {"0.5": {"sqnr_db", "output_error"}}, "bits": {...}}}],
// "spearman": {"prune": {"sqnr", "output_error"}, "bits": {...}}, "dataset", "samples", "options": {...}}.
// Non-finite numbers are written as null. Setting keys: ratios as "%g" ("0.3"), bits as integers.
std::string sensitivityToJson(const SensitivityResult &result, int indent = -1);
// Throws cw::Error for text that is not such a document.
SensitivityResult sensitivityFromJson(const std::string &text);
std::string settingKey(double pruneRatio);

// Model::analysis key under which results are stored.
inline constexpr const char *kSensitivityKey = "sensitivity";

} // namespace cw
