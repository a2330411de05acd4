// The compression pipeline: a base model + a recipe (+ data) → a variant, with its measured results.
//
// Stages, in order (each reports progress with its name and checks the stop token):
//   1. prune     — pruneIteratively() (prune.h), fine-tuning between steps when the recipe asks for it;
//   2. fold      — BatchNormalization folded into the preceding Conv / Gemm when anything is quantized;
//   3. quantize  — weights to their per-layer QuantSpec; with activations, calibration on the first
//                  `activations.samples` training samples, bias correction, and the graph rewritten to the
//                  integer operators (docs/formats.md, "Quantized graphs"); weight-only layers keep float
//                  arithmetic behind a DequantizeLinear of their integer weight;
//   4. qat       — with finetune.qat, quantization-aware fine-tuning (straight-through estimator) before the
//                  final rewrite;
//   5. measure   — accuracy / top-5 / loss on labelled evaluation data, fidelity to the base on any evaluation
//                  data, the byte size of the saved file, latency p50 / p90 at batch 1 and batch 64 (batch 64
//                  is skipped, with the reason kept, for a model that cannot run it).
// A cancelled run throws cw::Cancelled; the base model is never modified (the pipeline works on a deep copy).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "core/analysis/evaluate.h"
#include "core/analysis/fidelity.h"
#include "core/base/progress.h"
#include "core/compress/integer_fallback.h"
#include "core/compress/recipe.h"
#include "core/graph/graph.h"
#include "core/io/dataset.h"

namespace cw {

using LogFn = std::function<void(const std::string &line)>;

struct VariantMetrics {
    double accuracy = 0, top5 = 0, loss = 0; // on the evaluation data
    int64_t samples = 0;
    int64_t fileBytes = 0;         // bytes of the model saved as .h5
    int64_t onnxBytes = 0;         // bytes of the model exported as .onnx (0: not measured, see onnxSkipped)
    std::string onnxSkipped;       // why the ONNX export could not be sized ("" when it was)
    double compressionRatio = 0;   // base model's .h5 bytes / fileBytes
    double p50Batch1Ms = 0, p90Batch1Ms = 0;
    double p50Batch64Ms = 0, p90Batch64Ms = 0;
    int64_t memoryBytes = 0;       // peak memory of a batch-1 run (BenchResult::memoryBytes); 0: not measured
    // Peak resident set of a fresh `cwb bench` process that loads the saved variant and runs it once at batch 1
    // (measureRunPeakRss): what running the variant costs a process, libraries included. 0: not measured.
    int64_t peakRssBytes = 0;
    // Why batch 64 was not timed (a model whose graph fixes batch 1 inside, inputs whose batch cannot follow);
    // "" when it was.
    std::string batch64Skipped;
    int threads = 1;               // threads the latencies were measured with
    // Per output, the variant against the base model on the evaluation data (empty without data); the measure
    // for models whose data has no labels.
    std::vector<OutputFidelity> fidelity;
};

struct Variant {
    std::string name;
    Recipe recipe;
    Model model;
    VariantMetrics metrics;
    bool measured = false;
    std::optional<FallbackResult> fidelityFloor; // what a recipe's fidelity floor decided (integer_fallback.h)
};

struct CompressOptions {
    int threads = 0;               // 0 = all hardware threads (training, calibration, evaluation)
    int64_t evalLimit = 0;         // evaluation samples, 0 = all
    bool measure = true;           // stage 5
    int benchThreads = 1;          // latency is measured single-threaded by default (comparable across machines)
    int benchIterations = 50;
    // The graph inputs after the first (feeds.h): given data, values, shapes for calibration, bias correction
    // and evaluation (where the data feeds the first input) and for the latency runs (which make the first
    // input too). Fine-tuning feeds the first input only and refuses models with more.
    FeedOptions inputs;
    // The teacher of a recipe's finetune.distill: null for the base model, else another model whose input and
    // output fit the base's (a larger model, trained apart, teaches what the base itself cannot: docs/distillation.md).
    const Model *teacher = nullptr;
};

// train: calibration and fine-tuning data (may be null when the recipe needs neither; evaluation data without
// labels then calibrates); eval: evaluation data (may be null: accuracy is then left at 0 and `measured` only
// covers size and latency).
// Throws cw::Error for a recipe that does not fit the model (validateRecipe), data the recipe needs but
// was not given, or a model the stages cannot handle (the message names the node).
Variant compress(const Model &base, const Recipe &recipe, const Dataset *train, const Dataset *eval,
                 const CompressOptions &options = {}, const ProgressFn &progress = {},
                 const StopToken *stop = nullptr, const LogFn &log = {});

// Stage 5 alone (also used for the base model, so both rows of a comparison are measured the same way).
VariantMetrics measureModel(const Model &model, const Dataset *eval, const CompressOptions &options = {},
                            const ProgressFn &progress = {}, const StopToken *stop = nullptr);

// Stage 5 for a finished variant: measureModel, its fidelity to `reference` (the base, or a distillation's
// teacher) on the evaluation data, the compression ratio against the reference's saved size; the metrics are
// stored in variant.analysis["metrics"] (the saved size includes them).
VariantMetrics measureVariant(Model &variant, const Model &reference, const Dataset *eval,
                              const CompressOptions &options = {}, const ProgressFn &progress = {},
                              const StopToken *stop = nullptr);

// The variant's recipe and metrics travel with its model: Model::analysis["recipe"] (recipeToJson) and
// ["metrics"] (metricsToJson), so a saved .h5 variant carries both.
std::string metricsToJson(const VariantMetrics &metrics, int indent = -1);
VariantMetrics metricsFromJson(const std::string &text);
inline constexpr const char *kRecipeKey = "recipe";
inline constexpr const char *kMetricsKey = "metrics";

// Byte size of the model written in the native .h5 format, or another one by extension ("onnx"), through a
// temporary file.
int64_t savedSizeBytes(const Model &model, const std::string &extension = "h5");

} // namespace cw
