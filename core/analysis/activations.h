// Activation samples: the values a model's intermediate tensors take on real inputs, for the Inspect view's
// activation histogram (and later for calibrating activation quantization).
//
// collectActivations() runs the model on the first `samples` rows of a dataset, batch by batch, asking the
// session only for the requested values (Session::run with output names, so every other intermediate is
// freed as soon as it can be). Per value it keeps exact min / max and NaN / Inf counts over every element,
// and a deterministic, evenly strided sample of at most `maxValuesPerName` finite values for histograms
// (the stride is fixed after the first batch from the per-row element count, so every row contributes
// equally). The stop token is checked between batches.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/analysis/feeds.h"
#include "core/analysis/stats.h"
#include "core/base/progress.h"
#include "core/io/dataset.h"
#include "core/runtime/session.h"

namespace cw {

struct ActivationSample {
    std::string name;          // value name (a node output)
    std::vector<float> values; // strided sample of the finite values
    int64_t total = 0;         // elements seen (all rows, NaN / Inf included)
    int64_t nanCount = 0, infCount = 0;
    double min = 0, max = 0;   // over every finite element seen
    int64_t stride = 1;        // one kept value per `stride` elements
    Histogram binned;          // read back from a model's analysis (activationsFromJson): the kept values binned,
                               // `values` then empty
};

struct ActivationOptions {
    int64_t batchSize = 64;
    int64_t maxValuesPerName = 1 << 20;
    FeedOptions inputs; // the graph inputs after the first, which the dataset feeds (feeds.h: makeBatchFeeds)
};

// samples <= 0 or more than the dataset holds: the whole dataset. Unknown value names throw cw::Error
// (from the session, naming the value).
std::vector<ActivationSample> collectActivations(const Session &session, const Dataset &data, int64_t samples,
                                                 const std::vector<std::string> &valueNames,
                                                 const ActivationOptions &options = {},
                                                 const StopToken *stop = nullptr, const ProgressFn &progress = {});

// Kept with a model (Model::analysis[kActivationsKey], so with a project's base) so that a reopened project
// shows its activation histograms without running the model again: per value its counts, exact range and stride,
// and the kept values binned, kStoredActivationBins bins over their range (the values themselves would take
// megabytes; a value with no finite one kept is left out). Views rebin them to the bins they show (rebinHistogram, stats.h).
inline constexpr const char *kActivationsKey = "activations";
inline constexpr int kStoredActivationBins = 512;
struct StoredActivations {
    std::string dataset;                  // the data they were collected on
    int64_t samples = 0;                  // rows of it
    std::vector<ActivationSample> values; // each with `binned`, `values` empty
};
std::string activationsToJson(const std::vector<ActivationSample> &samples, const std::string &dataset, int64_t rows);
// Throws cw::Error for malformed text.
StoredActivations activationsFromJson(const std::string &text);

} // namespace cw
