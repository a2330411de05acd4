// Fidelity: how closely a compressed variant reproduces its base model on the same inputs, output by output,
// for models without labels at hand (detectors, voice activity, segmentation, embeddings).
//
// Per output, over every element of every batch:
//   sqnr_db      10 log10(sum base^2 / sum (base - variant)^2); +inf when identical
//   cosine       sum(base * variant) / sqrt(sum base^2 * sum variant^2); 1 when both are all zero
//   max_abs      the largest |base - variant|
//   top1         the fraction of rows whose argmax agrees, for outputs that are a class distribution per row
//                ([N, C] with C >= 2); -1 otherwise
// Sums are accumulated in double. Non-finite elements count as an infinite error (sqnr -inf, cosine NaN).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/analysis/feeds.h"
#include "core/base/progress.h"
#include "core/base/tensor.h"
#include "core/io/dataset.h"
#include "core/runtime/session.h"

namespace cw {

struct OutputFidelity {
    std::string name;
    double sqnrDb = 0;
    double cosine = 0;
    double maxAbsError = 0;
    double top1Agreement = -1; // -1: not a class distribution
    int64_t elements = 0;
};

// Running sums over batches of one output.
class FidelityAccumulator {
public:
    // base and variant: the same output of the two models on the same batch (same shape; throws cw::Error
    // naming the output otherwise).
    void add(const std::string &name, const Tensor &base, const Tensor &variant);
    std::vector<OutputFidelity> results() const; // in the order the outputs were first added

private:
    struct Sums {
        double signal = 0, noise = 0, dot = 0, variantEnergy = 0, maxAbs = 0;
        int64_t elements = 0, rows = 0, agreeing = 0;
        bool classes = true;
    };
    std::vector<std::string> m_order;
    std::map<std::string, Sums> m_sums;
};

struct FidelityOptions {
    int64_t batchSize = 64;
    int64_t limit = 0;  // samples, 0 = the whole dataset
    FeedOptions inputs; // the graph inputs after the first (core/analysis/feeds.h), the same for both models
};

// Runs both sessions on the dataset's samples (their first graph input) and compares every graph output of
// the base with the variant's output of the same name. Labels are not used. Checks `stop` between batches.
std::vector<OutputFidelity> measureFidelity(const Session &base, const Session &variant, const Dataset &data,
                                            const FidelityOptions &options = {}, const ProgressFn &progress = {},
                                            const StopToken *stop = nullptr);

// {"outputs": [{"name", "sqnr_db", "cosine", "max_abs_error", "top1_agreement", "elements"}]}; infinities as
// the strings "inf" / "-inf".
std::string fidelityToJson(const std::vector<OutputFidelity> &outputs);
// The inverse; throws cw::Error on malformed text.
std::vector<OutputFidelity> fidelityFromJson(const std::string &text);

} // namespace cw
