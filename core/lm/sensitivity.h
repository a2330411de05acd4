// Sensitivity of a language model: each weight matrix alone quantized (round-to-nearest, symmetric, group-wise
// along its input), magnitude-pruned or stored in a llama.cpp format — and, when asked, each block's matrices all
// together —, the rest left as they are, and the perplexity on a calibration text measured against the unchanged
// model. The what-if behind choosing which tensors to keep at higher precision.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/base/progress.h"
#include "core/lm/model.h"
#include "core/lm/perplexity.h"
#include "core/quant/quantize.h"

namespace cw::lm {

struct SensitivityOptions {
    std::vector<int> bits = {4};      // each a setting: 2..8 bits
    Granularity granularity = Granularity::Group; // one scale per tensor, per row (output channel) or per group
    int64_t groupSize = 32;           // Group: weights per scale along a row
    std::vector<double> prune = {};   // each a setting: this fraction of the smallest |w| of the matrix set to 0
    // Each a setting: the matrix stored in this ggml format by llama.cpp's quantizer ("q4_k", ...; rows that are not
    // whole blocks fall back as llama-quantize falls back, ggml::fallbackType). What allocate.h chooses among.
    std::vector<std::string> formats = {};
    PerplexityOptions perplexity;     // the measurement (ctx, chunks, bos, threads)
    std::vector<std::string> tensors; // the tensors to test (names); empty: every matrix of the blocks
    // Each block's input on the calibration chunks computed once, on the unchanged model, for the trials of its
    // matrices, which then run from that block on (Context::evalFrom): the same numbers as running every trial
    // through the whole model, which false does.
    bool cacheBlockInputs = true;
    // Also each block whole: all its matrices tested changed together at each setting (rows "blk.N", role "block";
    // bytes their sum, SQNR over all of them), after the block's matrices alone.
    bool blocks = false;
};

struct SensitivityRow {
    std::string tensor; // the matrix; "blk.N" for a whole block (SensitivityOptions::blocks)
    std::string role;   // "attn_q", "ffn_down", ...; "block"
    int block = -1;
    std::string setting; // "4-bit g32", "prune 50%", "Q4_K"
    double perplexity = 0;
    double delta = 0;         // perplexity - base
    double relativeDelta = 0; // delta / base
    double sqnrDb = 0;        // of the changed weight against the original
    uint64_t bytes = 0;       // the matrix as stored with the setting (formats: as encoded; bits: packed with
                              // their scales; pruning: as the checkpoint stores it)
};

struct SensitivityResult {
    double basePerplexity = 0;
    int64_t scored = 0; // tokens scored per measurement
    int64_t ctx = 0;    // tokens per chunk measured
    std::vector<SensitivityRow> rows; // block by block, tensor-major, settings in the order given
};

// The matrices a sweep without SensitivityOptions::tensors tests: every 2-D weight of the blocks, in file order.
std::vector<std::string> sensitivityTensors(const LanguageModel &model);

// The model must be loaded; its weights are changed one at a time and restored (also on Cancel or an error),
// so nothing else may run it meanwhile. Progress per measurement; Cancel between measurements.
SensitivityResult analyzeSensitivity(LanguageModel &model, const std::vector<int32_t> &tokens,
                                     const SensitivityOptions &options, const ProgressFn &progress = {},
                                     const StopToken *stop = nullptr);

// As `cwb sensitivity LM --json` prints it: {"base_perplexity", "scored", "ctx", "rows": [{"tensor", "role",
// "block", "setting", "perplexity", "delta", "relative_delta", "sqnr_db", "bytes"}]} — the numbers exact, so that
// sensitivityFromJson gives the same result back (a cluster sweep's parts, core/cluster/sweep.h).
std::string sensitivityToJson(const SensitivityResult &result, int indent = -1);
// cw::Error naming `source` and the key at fault.
SensitivityResult sensitivityFromJson(const std::string &text, const std::string &source);

} // namespace cw::lm
