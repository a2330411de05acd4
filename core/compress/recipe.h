// Compression recipes: the whole configuration of one compression run — defaults, per-layer overrides,
// the fine-tuning schedule and the calibration — as a value that round-trips through JSON (docs/recipes.md).
//
// JSON schema (every key optional; a missing block means "not applied"):
//   {"name": "int8-pc",
//    "prune": {"method": "magnitude"|"block"|"nm"|"channel"|"wanda"|"sparsegpt"|"heads", "ratio": 0.5, "n": 2, "m": 4,
//              "scope": "layer"|"global", "norm": "l1"|"l2", "steps": 1, "power": 3,
//              "reconstruct": false, "reconstruct_samples": 2048},
//    "quantize": {"weights": {"bits": 8, "granularity": "tensor"|"channel"|"group", "group_size": 64,
//                             "symmetric": true, "method": "rtn"|"gptq"|"awq", "format": "q4_k"},
//                 "activations": {"bits": 8, "calibration": "minmax"|"percentile"|"mse"|"entropy",
//                                 "samples": 512, "percentile": 99.99},
//                 "bias_correction": true},
//    "finetune": {"epochs": 1, "lr": 1e-4, "batch_size": 64, "samples": 0, "qat": false, "seed": 1,
//                 "augment": {"shift": 2, "flip": true},
//                 "distill": {"temperature": 4, "alpha": 0.7, "features": ["conv2"], "feature_loss": "l2",
//                             "feature_weight": 1}},
//    "layers": {"NODE": {"prune": {...}, "quantize": {"weights": {...}}, "skip": true}},
//    "sequential": true}
//
// Language models (core/lm/compress.h) take the same schema with tensors as layers ("blk.0.attn_q.weight") and
// have more choices: pruning "wanda" and "sparsegpt" (by "ratio", or N:M when "n" and "m" are given) and "heads"
// (whole attention heads removed, by "ratio"), weight
// "method" "gptq" and "awq", and a storage "format", one of llama.cpp's (f32, f16, bf16, q8_0, q4_0, q4_1,
// q5_0, q5_1, q2_k ... q6_k), and "sequential" (Recipe::sequential). validateRecipe refuses them for other models.
// A layer override is merged key by key onto the defaults (an override {"prune": {"ratio": 0.3}} keeps the
// default method); "prune": null or "quantize": {"weights": null} in an override switches that technique
// off for the layer; "skip": true leaves the layer exactly as it is (float, unpruned, float activations).
// Parsing is strict: an unknown key, a value of the wrong type or out of range is a cw::Error whose message
// names the key path ("recipe: quantize.weights.bits: expected an integer in 2..8, got \"8\"").
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/graph/graph.h"
#include "core/quant/quantize.h"
#include "core/train/train.h"

namespace cw {

enum class PruneMethod { Magnitude, NM, Channel, Wanda, SparseGpt, Heads, Block };
enum class PruneScope { Layer, Global };
enum class ChannelNorm { L1, L2 };
enum class Calibration { MinMax, Percentile, Mse, Entropy };

struct PruneConfig {
    PruneMethod method = PruneMethod::Magnitude;
    double ratio = 0.5;          // magnitude: fraction of weights zeroed; block: fraction of blocks of 16 outputs
                                 // zeroed (prune.h, pruneBlocks); channel: fraction of output channels removed;
                                 // heads: fraction of attention heads removed
    int n = 2, m = 4;            // nm: n of every m consecutive weights along the reduction axis are kept
    bool nm = false;             // wanda / sparsegpt: the n:m pattern instead of the ratio (the JSON gave n, m)
    PruneScope scope = PruneScope::Layer; // magnitude only: one threshold per layer or one for all layers
    ChannelNorm norm = ChannelNorm::L1;   // channel only: ranking criterion
    int steps = 1;               // iterative pruning: ratio_k = ratio * (1 - (1 - k / steps)^power), k = 1..steps,
    double power = 3;            // with finetune.epochs of fine-tuning after every step
    // channel only: after every pruning step, the layers that lost input channels are refit by least squares to
    // give the base model's outputs on the first reconstructSamples training (or calibration) samples (prune.h,
    // reconstructPruned); needs data, not labels.
    bool reconstruct = false;
    int64_t reconstructSamples = 2048;
};

struct ActivationQuantConfig {
    int bits = 8;                // 8 only in this version (int8 kernels)
    Calibration calibration = Calibration::MinMax;
    int64_t samples = 512;       // calibration samples (first ones of the training data)
    double percentile = 99.99;   // for Calibration::Percentile
    // A fidelity floor in dB (core/compress/integer_fallback.h): the layers left to the quantizer start on integer
    // kernels, 1-D convolutions included, and those that cost most go back to float arithmetic until the first
    // output's SQNR (on the samples after the calibration samples) reaches it. nullopt: the layer types decide
    // (qrewrite.h).
    std::optional<double> minSqnrDb;
};

struct FinetuneConfig {
    int epochs = 0;              // 0 = no fine-tuning
    float lr = 1e-4f;
    int64_t batchSize = 64;
    int64_t samples = 0;         // > 0: fine-tune on the first `samples` training samples only
    bool qat = false;            // quantization-aware fine-tuning (straight-through estimator) after quantizing
    uint64_t seed = 1;           // shuffling order (and a distillation adapter's initial weights)
    // With the base model as teacher (knowledge distillation, core/train/distill.h): every fine-tuning stage
    // (after pruning, between iterative pruning steps, quantization-aware training).
    std::optional<DistillConfig> distill;
    TrainOptions::Augment augment; // image batches shifted / mirrored (core/train/train.h); images only
};

// The TrainOptions of a recipe's fine-tuning stage: its epochs, learning rate, batch size and samples, and the
// teacher when the recipe distils (teacher is then required).
TrainOptions finetuneOptions(const FinetuneConfig &finetune, int threads, const Model *teacher);

// Per-layer settings after merging an override onto the defaults.
struct LayerConfig {
    std::optional<PruneConfig> prune;   // nullopt: not pruned
    std::optional<QuantSpec> weights;   // nullopt: float weights
    bool skip = false;
    // With 8-bit activations: whether the layer runs on integer kernels (true, also a 1-D Conv) or keeps float
    // arithmetic behind its quantized weights (false); nullopt: every Conv but a 1-D one and every Gemm that can
    // (core/compress/qrewrite.h).
    std::optional<bool> integer;
};

struct Recipe {
    std::string name;
    std::optional<PruneConfig> prune;
    std::optional<QuantSpec> weights;
    std::optional<ActivationQuantConfig> activations; // requires weights (int8 kernels need int weights)
    bool biasCorrection = true;
    FinetuneConfig finetune;
    std::map<std::string, LayerConfig> layers;        // node name -> fully merged settings
    // Language models: each block's calibration inputs come from the blocks before it already compressed (true,
    // GPTQ's sequential procedure) or from the unchanged model (false: every matrix is compressed independently
    // of the others, so a cluster can compute them apart; core/lm/compress.h).
    bool sequential = true;
};

Recipe recipeFromJson(const std::string &text);
Recipe loadRecipe(const std::string &path);           // errors name the file
std::string recipeToJson(const Recipe &recipe, int indent = 2);
void saveRecipe(const Recipe &recipe, const std::string &path);

// Throws cw::Error naming the first override whose node does not exist in the model or has no float weight.
void validateRecipe(const Recipe &recipe, const Model &model);

// The effective settings of one compressible layer (a node with a float weight, Model::layers()' weightName).
struct LayerPlan {
    std::string node;
    std::string op;
    std::string weight;
    LayerConfig config;
    // Inside a control-flow subgraph (LayerNode::nested): weight-only quantization and unstructured / N:M / block
    // pruning; channel pruning leaves it whole and 8-bit activations do not reach it.
    bool nested = false;
};
// The form of a model the compression stages work on: floatWeightForm (graph/transform.h) — a copy (sharing
// the weights it leaves alone) whose 16-bit layer weights are widened to float32 (`widened`, when given,
// receives their types) and whose weight-only quantized and dynamic-int8 layers are float again — with shapes
// inferred. Recipes, plans, sensitivity and the recipe table name its layers; a model without such weights
// or layers comes back as it is.
Model compressionForm(const Model &model, std::map<std::string, DType> *widened = nullptr);

// One entry per compressible layer (cw::layerNodes) in execution order: the override if there is one, else the
// defaults.
std::vector<LayerPlan> planLayers(const Recipe &recipe, const Model &model);

// Why a model has no layer to compress (in its compressionForm), in words: it is already quantized (integer
// layers of another form than dynamic quantization's), or the layers of
// its control-flow subgraphs share their names or weights with other nodes (layerNodes). "" when it has
// layers (16-bit weights count: the pipeline compresses them in float32, transform.h).
std::string whyNoLayers(const Model &model);

// The shortest decimal that reads back as `f`, as a double: how a float setting is written to JSON (0.7, not
// 0.699999988).
double floatForJson(float f);

// One line describing a recipe: "magnitude 0.5 · w4 channel · a8 minmax · 1 ep" ("no compression" for none).
std::string recipeSummary(const Recipe &recipe);
std::string granularityLabel(const QuantSpec &spec); // "tensor", "channel", "group 64"
std::string pruneLabel(const PruneConfig &prune);    // "magnitude 0.5", "2:4"
// One layer's settings: "magnitude 0.5 · 4 bit, channel", "8 bit, group 64", "float", "skipped".
std::string layerSettingsLabel(const LayerConfig &config);

// Names used in JSON and the GUI ("magnitude", "nm", "channel", "minmax", ...); parse* throw cw::Error.
std::string toString(PruneMethod method);
std::string toString(Calibration calibration);
std::string toString(Granularity granularity);
PruneMethod parsePruneMethod(const std::string &text);
std::string toString(QuantMethod method);
QuantMethod parseQuantMethod(const std::string &text);
// The storage formats of language-model weights, as recipes name them: "f32", "f16", "bf16", "q8_0", ...
const std::vector<std::string> &weightFormats();
Calibration parseCalibration(const std::string &text);
Granularity parseGranularity(const std::string &text);

} // namespace cw
