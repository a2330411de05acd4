// Sweeps beyond one machine: a long job written as a plan, computed in shards wherever the same cwb runs (the
// tasks of a Slurm job array, core/cluster/slurm.h, or any loop over processes), and merged back into a project.
//
// A plan (JSON, docs/cluster.md) names the work and what it is made from, so that every shard computes the same
// thing and the merge can tell parts of another plan apart:
//   {"format": "compression-workbench-sweep-plan", "version": 1, "kind": "sensitivity",
//    "tool": "compression-workbench 0.1.0 (6d045ae1b2c3)",     the cwb that wrote it (shards must be the same)
//    "directory": "/shared/work",                              where the command's relative paths start
//    "command": ["sensitivity", "demo", "--data", "fashion-mnist", "--limit", "500"],
//    "model": {"spec": "demo", "path": "", "bytes": 123, "sha256": "…"},
//    "data": [{"role": "evaluation", "spec": "fashion-mnist", "files": [{"path", "bytes", "sha256"}]}],
//    "items": ["conv1", "conv2", "fc1", "fc2"]}
// Shard I of N computes the items whose position i in "items" has i mod N = I (round robin, so that layers of
// different cost spread over the shards). The kinds:
//   "sensitivity"  an item is one layer with all its settings (cwb sensitivity … --plan);
//   "lm-sensitivity"  the same on a language model: an item is one weight matrix with all its settings (bit-widths,
//                  pruning ratios, llama.cpp formats), the data is the text ("role": "text");
//   "recipes"      an item is one recipe to try, named, with the recipe itself in the plan's "recipes" (aligned with
//                  "items"), the command is cwb compress's without --recipe (cwb compress … --recipe A --recipe B
//                  --plan); each item becomes a measured variant;
//   "lm-recipes"   the same on a language model (cwb compress LM --recipe A --recipe B … --plan): each item becomes
//                  a measured variant of the language model's project (core/project/lm_project.h);
//   "lm-matrices"  one recipe on a language model, "sequential": false, computed by matrix (cwb compress LM --recipe
//                  R --plan --by-matrix): an item is one tensor the recipe compresses (GPTQ, AWQ, SparseGPT... on the
//                  unchanged model's calibration inputs); the plan's "recipes" holds the one recipe, a part the
//                  shard's tensors encoded, and the merge assembles and measures the variant;
//   "distill"      one item, the student, trained by the command (cwb distill … --plan): one training run handed to
//                  a node; it becomes a measured variant (origin "distill") with the teacher's metrics as the base's;
//   "evaluate"     an evaluation (cwb eval … --plan): an item is a range "B:E" of whole batches of the samples, a
//                  part each range's scores per batch, the merge the accuracy, top-5 and loss of all;
//   "lm-perplexity"  a language model's perplexity (cwb perplexity … --plan): an item is a range of chunks.
//
// A part (PART.h5, a bundle of core/io/bundle.h with format "compression-workbench-sweep-part") holds the plan it
// was computed for, the shard, the tool, and the result for the shard's items: for sensitivity, the JSON of
// sensitivityToJson with only those layers (a language model: lm::sensitivityToJson with only those matrices); for recipes, each item's variant as a model of the bundle (its recipe
// and metrics in its analysis, as a variant saved alone) and the base's metrics as the shard measured them. mergeSensitivity() checks the parts against each other — one plan,
// one shard count, every shard once, every item exactly once, one tool — and assembles the result the whole
// sweep would have computed on one machine (the same layers in the same order with the same trials; the Spearman
// correlations recomputed over all of them).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/analysis/evaluate.h"
#include "core/compress/distill.h"
#include "core/compress/sensitivity.h"
#include "core/io/dataset.h"
#include "core/lm/perplexity.h"
#include "core/lm/sensitivity.h"
#include "core/project/lm_project.h"
#include "core/project/project.h"

namespace cw::cluster {

struct SweepPlan {
    std::string kind = "sensitivity";
    std::string tool;                 // toolDescription() of the cwb that wrote it
    std::string directory;            // absolute
    std::vector<std::string> command; // cwb's arguments after the program name
    std::string modelSpec;            // as the command names it ("demo", or a path)
    FileDigest model;                 // modelDigest(modelSpec)
    std::vector<DatasetRecord> data;  // the datasets the command reads, hashed
    std::vector<std::string> items;
    std::vector<std::string> recipes; // kind "recipes": each item's recipe (JSON), aligned with items
};

inline constexpr const char *kPlanFormat = "compression-workbench-sweep-plan";
inline constexpr const char *kPartFormat = "compression-workbench-sweep-part";
inline constexpr int64_t kSweepFormatVersion = 1;

std::string planToJson(const SweepPlan &plan);
// Throws cw::Error naming `source` and the key at fault.
SweepPlan planFromJson(const std::string &text, const std::string &source);
SweepPlan loadPlan(const std::string &path);
void savePlan(const SweepPlan &plan, const std::string &path); // atomic
// SHA-256 of the plan's JSON: what identifies the parts of one sweep.
std::string planDigest(const SweepPlan &plan);

// The plan of a sensitivity sweep: `command` is cwb's arguments ("sensitivity", MODEL, "--data", DATA, ...) run from
// `directory`; the model and the data are hashed now, and the items are `layers`, or every layer the sweep
// analyses (sensitivityLayers). Throws cw::Error when a file cannot be read or a layer is not the model's.
SweepPlan sensitivityPlan(const std::vector<std::string> &command, const std::string &modelSpec, const Model &model,
                          const std::string &dataSpec, const std::vector<std::string> &layers,
                          const std::string &directory);
// The plan of a list of recipes to try: `command` is cwb compress's arguments without --recipe, run from
// `directory`; the items are the recipes' names (a recipe without one gets "recipe N"; names must differ).
SweepPlan recipesPlan(const std::vector<std::string> &command, const std::string &modelSpec,
                      const std::vector<Recipe> &recipes, const std::optional<std::string> &evalData,
                      const std::optional<std::string> &trainData, const std::string &directory);

// The same on a language model (kind "lm-recipes"): the texts (lm::loadText) hashed, `evalText` what each variant's
// perplexity is measured on, `trainText` the calibration text.
SweepPlan lmRecipesPlan(const std::vector<std::string> &command, const std::string &modelSpec,
                        const std::vector<Recipe> &recipes, const std::string &evalText,
                        const std::optional<std::string> &trainText, const std::string &directory);

// One recipe on a language model computed by matrix (kind "lm-matrices"; cwb compress LM --recipe R --plan P
// --by-matrix): the items are the tensors the recipe compresses, each compressed alone on the unchanged model's
// calibration inputs (core/lm/compress.h); the merge assembles the variant and measures it. Throws cw::Error for a
// sequential recipe, one that fine-tunes or has no name, or one validateLmRecipe refuses.
SweepPlan lmMatricesPlan(const std::vector<std::string> &command, const std::string &modelSpec,
                         const lm::LanguageModel &model, const Recipe &recipe, const std::string &evalText,
                         const std::optional<std::string> &trainText, const std::string &directory);

// The arguments of `cwb sensitivity` that sweep as `options` on `modelSpec` and `dataSpec` read with `preprocess`
// (what the GUI's sweeps hand to a cluster): --limit, --batch, --prune, --bits, --granularity, --metric, --layer,
// the preprocessing and the graph inputs' values and shapes. Throws cw::Error for an input fed from memory
// (FeedOptions::tensors) or a group size other than the command line's, which arguments cannot express.
std::vector<std::string> sensitivityCommand(const std::string &modelSpec, const std::string &dataSpec,
                                            const Preprocess &preprocess, const SensitivityOptions &options);

// The plan of a language model's sensitivity sweep (kind "lm-sensitivity"): `command` is cwb sensitivity's arguments
// on the language model `modelSpec` (a file, a Hugging Face folder or "demo-lm") with the text `textSpec`
// (lm::loadText), run from `directory`; the model and the text's files are hashed now, and the items are `tensors`,
// or every matrix the sweep tests (lm::sensitivityTensors). Throws cw::Error for a tensor the model lacks.
SweepPlan lmSensitivityPlan(const std::vector<std::string> &command, const std::string &modelSpec,
                            const lm::LanguageModel &model, const std::string &textSpec,
                            const std::vector<std::string> &tensors, const std::string &directory);
// The arguments of `cwb sensitivity` that sweep a language model as `options` (what the GUI's LM sweeps hand to a
// cluster): --limit (chunks), --bits, --granularity, --prune, --formats, --layer. Throws cw::Error for what
// arguments cannot express (a context other than the model's default, a group size other than 32).
std::vector<std::string> lmSensitivityCommand(const std::string &modelSpec, const std::string &textSpec,
                                              const lm::SensitivityOptions &options);

// The arguments of `cwb compress` (without --recipe) that compress and measure as the GUI's Compress tab does:
// its evaluation and training data (specs; "" for none), --limit, --train-limit (when above 0: the samples the
// recipe reads), latency threads and iterations, threads, the preprocessing and the graph inputs' values and
// shapes. Throws cw::Error for an input fed from memory.
std::vector<std::string> compressCommand(const std::string &modelSpec, const std::string &evalSpec,
                                         const std::string &trainSpec, const Preprocess &preprocess,
                                         const CompressOptions &options, int64_t trainLimit);

// The arguments of `cwb distill` that train and measure as the GUI's Distill tab does: the teacher, the student,
// the losses, the training, the data (specs; evaluation "" for none), --limit, the latency settings, threads and
// the preprocessing. Throws cw::Error for an input fed from memory.
std::vector<std::string> distillCommand(const std::string &teacherSpec, const StudentSpec &student,
                                        const DistillJobOptions &options, const std::string &evalSpec,
                                        const std::string &trainSpec, const Preprocess &preprocess, int64_t evalLimit);
// The plan of one distillation (kind "distill"): `command` is cwb distill's arguments, run from `directory`; the
// teacher, the data and a student file (`studentFile`, "" for none) are hashed now; the item is `name` (the
// variant's; "" for "student").
SweepPlan distillPlan(const std::vector<std::string> &command, const std::string &teacherSpec,
                      const std::optional<std::string> &evalData, const std::string &trainData,
                      const std::string &studentFile, const std::string &name, const std::string &directory);

// The value of `option` ("--limit") in a plan's command, given as "--limit V" or "--limit=V" (the last one given);
// nullopt when absent.
std::optional<std::string> commandOption(const std::vector<std::string> &command, const std::string &option);

// An evaluation (kind "evaluate": cwb eval MODEL --data D … --plan P) of `samples` samples in batches of
// `batchSize`: the items are ranges "B:E" of whole batches (at most 256 of them), each shard scores its ranges batch by
// batch, and the merge sums the batches in order — evaluate()'s result exactly.
SweepPlan evaluatePlan(const std::vector<std::string> &command, const std::string &modelSpec,
                       const std::string &dataSpec, int64_t samples, int64_t batchSize, const std::string &directory);
// A language model's perplexity (kind "lm-perplexity": cwb perplexity LM --text T … --plan P) over `chunks` chunks:
// the items are ranges "B:E" of chunks; the merge is lm::perplexity()'s result exactly.
SweepPlan lmPerplexityPlan(const std::vector<std::string> &command, const std::string &modelSpec,
                           const std::string &textSpec, int64_t chunks, const std::string &directory);
// The arguments of `cwb eval` that evaluate as `options` (--limit, --batch; the inputs' values and shapes) on
// `modelSpec` and `dataSpec` read with `preprocess` (what Model → Evaluate hands to a cluster). Throws cw::Error for an
// input fed from memory.
std::vector<std::string> evaluateCommand(const std::string &modelSpec, const std::string &dataSpec,
                                         const Preprocess &preprocess, const EvalOptions &options);
// An item "B:E" as the range [B, E); cw::Error otherwise.
std::pair<int64_t, int64_t> parseRange(const std::string &item);
// A shard's result (SweepPart::result): each item's scores, per batch (of `batchSize`) or per chunk.
std::string evaluationPartResult(int64_t batchSize,
                                 const std::vector<std::pair<std::string, std::vector<BatchScore>>> &items);
std::string perplexityPartResult(const std::vector<std::pair<std::string, std::vector<lm::ChunkScore>>> &items);

// A path the plan's command names, as seen from anywhere: a relative one starts at the plan's directory; a built-in
// model's name ("demo") stays as it is.
std::string planPath(const SweepPlan &plan, const std::string &path);

// Whether the merge of a plan of `kind` adds to a project (an evaluation's does not: it is a measurement).
bool mergesIntoProject(const std::string &kind);

// "I/N" with 0 <= I < N; throws cw::Error otherwise.
std::pair<int, int> parseShard(const std::string &text);
// The items of shard `index` of `count`, in plan order.
std::vector<std::string> shardItems(const SweepPlan &plan, int index, int count);
// Before a shard computes: this cwb is the plan's, and the model and data files still have the plan's hashes.
// Throws cw::Error naming what differs.
void checkPlanInputs(const SweepPlan &plan);

struct SweepPart {
    SweepPlan plan;
    int shard = 0, shards = 1;
    std::string tool;          // the cwb that computed it
    std::string host;          // where (for the logs)
    double seconds = 0;        // its computation's wall time
    std::string result;        // sensitivity: sensitivityToJson of the shard's items
    // recipes: the shard's variants by item (models with their recipe and metrics), and the base's metrics
    // (metricsToJson; "" when the command does not measure)
    std::vector<std::pair<std::string, Model>> variants;
    std::string baseMetrics;
    // The bundle key of each variant's model, aligned with `variants` (partFromJson reads them; readPart then
    // loads the models under them; writePart chooses its own).
    std::vector<std::string> variantKeys;
    // lm-recipes: the shard's variants (named by their items) as a language model's project holds them (readPart
    // fills it; partFromJson keeps its document in lmDocument).
    LmProject lm;
    std::string lmDocument;
};
void writePart(const SweepPart &part, const std::string &path); // atomic
SweepPart readPart(const std::string &path);                    // errors name the file
// A part from its bundle's JSON document (readPart's second half; fuzzing): the variants' models are left empty,
// their bundle keys in variantKeys. Errors name `source`.
SweepPart partFromJson(const std::string &document, const std::string &source);

// Parts by file name. Throws cw::Error naming the file or the item at fault: parts of different plans (by digest)
// or shard counts, a shard given twice, a missing shard, an item missing, twice, or not in the plan, a part made by
// another tool, or baselines that differ.
SensitivityResult mergeSensitivity(const std::vector<std::pair<std::string, SweepPart>> &parts);

// The same for the parts of an "lm-sensitivity" sweep: the rows of every matrix in plan order, with the base
// perplexity (parts that measured another base, scored count or context are refused).
lm::SensitivityResult mergeLmSensitivity(const std::vector<std::pair<std::string, SweepPart>> &parts);

// The parts of an "evaluate" sweep, checked as above (and scored in batches of one size, each item holding one score
// per batch): the evaluation of all the plan's samples.
EvalResult mergeEvaluation(const std::vector<std::pair<std::string, SweepPart>> &parts);
// The parts of an "lm-perplexity" sweep: the perplexity of every chunk (seconds and tokens per second 0).
lm::PerplexityResult mergePerplexity(const std::vector<std::pair<std::string, SweepPart>> &parts);

// The parts of a "recipes" (or "distill") sweep, checked as above: every item's variant (variantFromModel, named
// by its item) in plan order, and the base's metrics (nullopt when not measured; parts that measured different base accuracies are
// refused).
struct MergedVariants {
    std::vector<Variant> variants;
    std::optional<VariantMetrics> base;
};
MergedVariants mergeVariants(const std::vector<std::pair<std::string, SweepPart>> &parts);
// The parts of an "lm-recipes" sweep, checked as above: every item's variant in plan order, in a project on the
// plan's model (its provenance: the plan's cwb compress command with --recipe ITEM.json, run in its directory).
LmProject mergeLmVariants(const std::vector<std::pair<std::string, SweepPart>> &parts);
// The parts of an "lm-matrices" sweep, checked as above: the recipe's variant assembled from every item's encoded
// tensor (its LmCompressResult; not yet measured: applyEncoded then measure), in a project on the plan's model.
LmProject mergeLmMatrices(const std::vector<std::pair<std::string, SweepPart>> &parts);

// The merged variants as a project holds them (origin "compress", or "distill" for a distillation; provenance: this
// run, the plan's directory and data, and as its command the plan's cwb compress command with --recipe ITEM.json,
// or its cwb distill command).
std::vector<ProjectVariant> projectVariants(const SweepPlan &plan, std::vector<Variant> variants);

} // namespace cw::cluster
