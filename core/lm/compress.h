// Compression of a language model by a recipe: the schema of core/compress/recipe.h with the checkpoint's tensors
// as layers ("blk.3.ffn_down.weight"). The defaults apply to the weight matrices of the transformer blocks; the
// token embedding and the output head change only when "layers" names them (they are the tensors users keep at
// higher precision), and vectors (norms, biases) never do.
//
// Per matrix, in this order:
//   pruning      magnitude (the matrix's smallest |w|), nm (magnitude N:M along the input), wanda (|w|·‖x_j‖ per
//                output row) or sparsegpt (OBS reconstruction), by ratio or N:M; or structured, the same share of
//                every block's MLP channels (channel) or attention heads (heads; llama family), which narrows the
//                matrices and the file;
//   quantization rtn (round to nearest on the recipe's grid, or llama.cpp's own quantizer of the format), gptq or
//                awq (core/compress/reconstruct.h) on the recipe's grid; a "format" then stores the matrix in one of
//                llama.cpp's block formats, encoded exactly as llama-quantize encodes (core/quant/ggml_blocks.h).
//                Without a format a quantized matrix is stored as F16 holding its grid's values.
// Every compressed matrix is encoded once (LmCompressResult::encoded) and the runner computes with exactly what
// the encoding holds, so an export (exportGguf) is the model that was measured.
// Methods that need activations (wanda, sparsegpt, gptq, awq, and importance-weighted formats) read them from
// calibration text, block by block: the inputs each block's matrices see with the blocks before it already
// compressed, as GPTQ's sequential procedure does — or, with "sequential": false, the inputs of the unchanged
// model (the last block is compressed first), so that every matrix's result is independent of the others' and a
// cluster can compute them apart (LmCompressOptions::only, then applyEncoded).
//
// Fine-tuning ("finetune": epochs, lr, batch_size, samples, seed; GPT-2 and the llama family, core/lm/gpt_train.h)
// then trains every parameter of the compressed model on windows of ctx + 1 tokens of the calibration text
// (the first `samples` windows when samples > 0), epochs × windows / batch_size Adam steps on randomly drawn
// windows (warm-up over the first tenth, cosine decay to lr / 10, gradients clipped to norm 1). The loss is the
// next-token cross-entropy, or with "distill" the distillation loss of core/train/distill.h on the token logits
// with the uncompressed model as teacher (α · T² · KL + (1 − α) · CE; no feature losses). It is always
// quantization-aware: every tensor is trained through its storage (pruned weights stay zero; a quantized matrix
// computes with its grid's and format's values, and the straight-through gradient updates float masters), and
// is encoded once more from its master at the end — by the format's own quantizer, so GPTQ's and AWQ's
// choices are the fine-tuning's starting point. Tensors the recipe left alone are trained too and stored in
// their checkpoint type (result.encoded then holds every tensor).
//
// The model's loaded weights are replaced by what the compressed checkpoint holds (dequantized), so perplexity
// measured afterwards is the compressed model's, and the chosen storage types go with the model to exportGguf.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/base/progress.h"
#include "core/compress/recipe.h"
#include "core/lm/model.h"

namespace cw::lm {

struct LmCompressOptions {
    std::vector<int32_t> calibration; // calibration text's tokens (the methods that need activations; fine-tuning)
    int64_t ctx = 256;                // tokens per calibration chunk, each evaluated from an empty cache
    int64_t maxTokens = 8192;         // calibration tokens used at most
    bool importance = false;          // formats weighted by the calibration activations (llama.cpp's imatrix)
    double damping = 0.01;            // GPTQ / SparseGPT: λ = damping · mean(diag H)
    bool actOrder = true;             // GPTQ: columns in decreasing diag H
    int threads = 0;
    // Non-empty: compress these of the recipe's tensors only, the others stay as they are (one shard of a cluster
    // sweep, core/cluster/sweep.h). Only for a recipe that is not sequential and does not fine-tune.
    std::vector<std::string> only;
    // After each fine-tuning step, on the computing thread: the step (1-based), the steps in all, its loss.
    std::function<void(int64_t step, int64_t steps, double loss)> finetuneStep;
};

struct LmTensorResult {
    std::string name, role;
    int block = -1;
    std::string settings; // "gptq 4 bit, group 32 · Q4_0", "wanda 0.5", "unchanged"
    std::string type;     // storage type in an export: "Q4_K", "F16", ...
    bool changed = false; // compressed (else the tensor is kept as the checkpoint stores it)
    uint32_t ggmlType = 0; // a changed tensor's storage type (core/quant/ggml_blocks.h)
    int64_t params = 0, zeros = 0;
    uint64_t bytes = 0;   // as stored in an export
    double sqnrDb = 0;    // of the compressed matrix against the original (inf when unchanged)
};

// The fine-tuning stage (recipe "finetune"): what it did.
struct LmFinetuneResult {
    int64_t steps = 0, windows = 0, windowTokens = 0; // Adam steps over `windows` windows of windowTokens + 1 tokens
    bool distilled = false;                           // with the base model as teacher
    std::vector<double> loss;                         // training loss per step
    double seconds = 0;
};

struct LmCompressResult {
    std::vector<LmTensorResult> tensors; // every tensor of the checkpoint, in file order
    uint64_t bytes = 0;                  // all tensors as stored
    int64_t params = 0;                  // the variant's weights (fewer than the checkpoint's when channels were removed)
    int64_t baseParams = 0;              // the checkpoint's
    // Bits per weight of the checkpoint, so that variants that remove weights compare by size with the others.
    double bitsPerWeight() const
    {
        const int64_t n = baseParams ? baseParams : params;
        return n ? double(bytes) * 8.0 / double(n) : 0.0;
    }
    int64_t calibrationTokens = 0;
    std::map<std::string, EncodedTensor> encoded; // the compressed tensors as stored: exportGguf's `compressed`
    std::optional<LmFinetuneResult> finetune;
};

// Throws cw::Error naming the first layer override that is no tensor of the model, a method that does not apply
// to the tensor (gptq, awq, wanda or sparsegpt on the embedding or output head; anything on a vector), a format
// whose blocks do not divide the rows, a method or fine-tuning that needs calibration text when none is given,
// or distillation of features.
void validateLmRecipe(const Recipe &recipe, const LanguageModel &model, bool haveCalibration);

// The model must be loaded; its weights are replaced (load the checkpoint again to undo). Progress per matrix
// and per calibration pass; Cancel between them (the weights are then partly compressed: reload).
LmCompressResult compressLanguageModel(LanguageModel &model, const Recipe &recipe, const LmCompressOptions &options,
                                       const ProgressFn &progress = {}, const StopToken *stop = nullptr);

// The recipe's settings for one tensor, as compressLanguageModel applies them: its override, else the defaults for
// the blocks' matrices (channel pruning among them reaching the MLPs' only, head pruning the attention's), else none.
std::optional<LayerConfig> tensorSettings(const Recipe &recipe, const LanguageModel::TensorEntry &e);
// Whether a role is one of a block's MLP matrices (ffn_gate, ffn_up, ffn_down), whose hidden channels channel
// pruning removes.
bool isMlpMatrix(const std::string &role);
// Whether a role is one of a block's attention matrices (attn_q, attn_k, attn_v, attn_output), whose heads head
// pruning removes.
bool isAttentionMatrix(const std::string &role);
// How many of a block's `width` MLP channels channel pruning at `ratio` keeps: width · (1 − ratio), rounded to whole
// blocks of 32 (the rows of llama.cpp's formats) when the width is, at least 1.
int64_t keptChannels(int64_t width, double ratio);
// How many of a block's `kvHeads` key / value heads head pruning at `ratio` keeps (each with the query heads that
// read it): kvHeads · (1 − ratio), rounded, at least 1.
int64_t keptHeads(int64_t kvHeads, double ratio);

// The shape structured pruning by `prune` (channel, heads) gives a block's tensor, matrix or bias, as
// compressLanguageModel leaves it (in the runner's orientation, [out, in]); the entry's shape when it keeps it.
Shape narrowedShape(const Config &c, const LanguageModel::TensorEntry &e, const PruneConfig &prune);

// The tensors the recipe compresses, in file order.
std::vector<std::string> recipeTensors(const Recipe &recipe, const LanguageModel &model);

// The encoded tensors (LmCompressResult::encoded, perhaps of several shards) into the loaded model: the runner
// then computes with what they hold, as after compressLanguageModel, at the shapes they carry (MLP channels
// removed). cw::Error naming a tensor the model lacks, whose bytes do not fit its shape, or whose block's MLP
// tensors would disagree on their width, or attention tensors on their heads (checked before anything changes).
void applyEncoded(LanguageModel &model, const std::map<std::string, EncodedTensor> &encoded);

} // namespace cw::lm
