// Mixed precision to a budget: one storage format per weight matrix of a language model, chosen from a
// sensitivity sweep over formats (core/lm/sensitivity.h, SensitivityOptions::formats), so that the matrices
// together take at most a target number of bits per weight and the sum of their measured perplexity increases
// is small — llama-quantize's mixes (Q4_K_M keeps some matrices at Q6_K) chosen by measurement instead of a
// fixed rule.
//
// Every swept matrix starts in its largest format; then, while the matrices take more than the budget, the
// matrix whose next smaller format costs the least perplexity per byte saved steps down (a matrix's measured
// increases are made non-decreasing as its formats shrink; increases below zero, noise, count as zero). Locked
// matrices stay in the largest format. The budget counts the swept matrices only: bits per weight =
// 8 · Σ bytes / Σ values over them (the embedding, the output head and the vectors keep what the recipe says).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "core/compress/recipe.h"
#include "core/lm/sensitivity.h"

namespace cw::lm {

struct FormatChoice {
    std::string tensor;
    std::string format;   // "Q4_K", as the sweep names it
    uint64_t bytes = 0;
    int64_t params = 0;
    double delta = 0;     // its measured perplexity increase (as used: non-decreasing, at least 0)
};

struct FormatAllocation {
    std::vector<FormatChoice> choices; // the sweep's tensors, in its order
    double bitsPerWeight = 0;          // over those tensors
    double predictedDelta = 0;         // Σ of the chosen increases (each matrix measured alone)
};

// sweep: a sensitivity result with format settings (other settings are ignored); targetBitsPerWeight above 0.
// cw::Error when the sweep has no format settings, or the target is below what the smallest formats give
// (the message names that floor).
FormatAllocation allocateFormats(const SensitivityResult &sweep, const LanguageModel &model, double targetBitsPerWeight,
                                 const std::set<std::string> &locked = {});

// The bits per weight over the sweep's matrices at which the GGUF file of the allocation's recipe (exportGguf of
// compressLanguageModel's result) takes at most `fileBytes`: the file's other bytes — its header and metadata, the
// tensors outside the sweep as the checkpoint stores them — and each swept matrix's alignment (32 bytes) taken off
// first. A GGUF checkpoint only (a safetensors one is converted to other metadata). cw::Error naming the smallest
// size possible when the rest of the file alone takes `fileBytes`.
double bitsPerWeightForFileSize(const SensitivityResult &sweep, const LanguageModel &model, uint64_t fileBytes);

// A recipe storing each allocated matrix in its format (layers overrides; round to nearest, llama.cpp's quantizer),
// named `name` ("": "mix-4.45bpw", by its bits per weight).
Recipe recipeFromAllocation(const FormatAllocation &allocation, const std::string &name = "");

} // namespace cw::lm
