// Evaluation of a classifier on a labelled dataset, and latency benchmarking.
//
// Both feed every graph input: evaluate() the first from the dataset and the others as feeds.h makes them
// (given data, a value, or seeded random data whose symbols follow the dataset batch); benchmark() all of them
// through feeds.h.
#pragma once

#include <cstdint>
#include <vector>

#include "core/analysis/feeds.h"
#include "core/base/progress.h"
#include "core/io/dataset.h"
#include "core/runtime/session.h"

namespace cw {

struct EvalOptions {
    int64_t batchSize = 256;
    int64_t limit = 0; // 0 = whole dataset
    // The graph inputs after the first (a recurrent state, a sample rate): given data, values, shapes. The
    // first input is the dataset's; naming it here is an error. `inputs.batch` is ignored: a batch of the
    // dataset fixes the batch symbol.
    FeedOptions inputs;
};

struct EvalResult {
    double accuracy = 0;  // top-1, in [0, 1]
    double top5 = 0;
    double loss = 0;      // mean softmax cross-entropy of the logits
    int64_t samples = 0;
};

// Runs the session's first input -> first output over the dataset in batches (the other inputs: options.inputs).
// Checks `stop` between batches (throws cw::Cancelled) and reports progress after each batch.
EvalResult evaluate(const Session &session, const Dataset &data, const EvalOptions &options = {},
                    const ProgressFn &progress = {}, const StopToken *stop = nullptr);

// Running totals over batches of logits [count, classes] against data.labels[begin, begin + count): top-1 and
// top-5 hits and the summed softmax cross-entropy (each batch's sum added as one number). evaluate() and the sensitivity trials both score with it, so
// a trial's accuracy equals an evaluation of the same model exactly.
struct BatchScore {
    int64_t correct = 0, correct5 = 0;
    double lossSum = 0;
};
void scoreBatch(const Tensor &logits, const Dataset &data, int64_t begin, int64_t count, BatchScore &score);
// Samples to score: the dataset's size, capped by limit > 0; throws cw::Error when there are none or when
// labels are missing.
int64_t labelledSamples(const Dataset &data, int64_t limit);

// The batch size evaluate() runs the graph at: options.batchSize (256 when 0), or what the graph's input fixes.
int64_t evalBatchSize(const Graph &graph, const EvalOptions &options);
// The samples [begin, end) run and scored in batches of evalBatchSize from `begin`, one score per batch: a part of
// an evaluation (a cluster's shard, core/cluster/sweep.h). With begin a multiple of the batch size, the batches are
// evaluate()'s own. Progress and Cancel as evaluate().
std::vector<BatchScore> scoreSamples(const Session &session, const Dataset &data, const EvalOptions &options,
                                     int64_t begin, int64_t end, const ProgressFn &progress = {},
                                     const StopToken *stop = nullptr);
// The result of the batches' scores summed in order, over `samples` samples: evaluate() exactly when they are all
// of its batches (scoreBatch sums each batch's loss before adding it, so grouping batches changes nothing).
EvalResult evalResult(const std::vector<BatchScore> &batches, int64_t samples);

struct BenchOptions {
    int64_t batch = 1;     // size of the batch symbol; 0: as inputs' data and shapes fix it, else 1
    int threads = 0;       // 0 = all
    int iterations = 100;
    int warmup = 10;
    FeedOptions inputs;    // data, values and shapes of the graph inputs (inputs.batch is ignored: see batch)
    bool profile = false;  // time each node's kernel too (BenchResult::nodes; the timing adds a little to each run)
};

// One node of the graph a Session runs (a fused node stands for the nodes fused into it) over the timed runs.
struct NodeTime {
    std::string name, opType;
    double ms = 0;    // per run: on several threads the sum over the parts of the batch that ran it
    double share = 0; // of the mean run's time (on several threads the shares may add up to more than 1)
};

struct BenchResult {
    double p50Ms = 0, p90Ms = 0, meanMs = 0, minMs = 0;
    double throughputPerS = 0; // samples per second at the mean latency
    int64_t batch = 1;
    int threads = 1;
    int iterations = 0;
    uint64_t peakRssBytes = 0;         // the process's peak resident set after the timed runs (loading included)
    // The model's own peak memory at this batch, measured on one more run (Session: constantBytes plus
    // peakIntermediateBytes): its weights as the engine holds them and the most activations alive at once.
    int64_t memoryBytes = 0;
    std::vector<ResolvedInput> inputs; // what each graph input was fed: shape, dtype, source
    std::vector<NodeTime> nodes;       // BenchOptions::profile: the nodes, the slowest first
};

// Times Session::run of every graph output on feeds made once by makeFeeds (feeds.h) with the batch symbol set
// to options.batch. A model exported with a fixed leading dimension on its first input (often 1) and no
// dynamic batch elsewhere still runs at the requested batch: that dimension is declared dynamic in the
// session's copy. Throws cw::Error when the inputs cannot be made (a symbol without a size, a contradiction).
BenchResult benchmark(const Model &model, const BenchOptions &options, const ProgressFn &progress = {},
                      const StopToken *stop = nullptr);
// The inputs benchmark() would make, without running anything (to check options before long work).
FeedPlan planBenchmark(const Model &model, const BenchOptions &options);

// The peak resident set of a fresh process that loads the model file at `modelPath` and runs it once: `cwb bench
// PATH --iterations 1 --warmup 0` with options.threads and the inputs `resolved` (what a benchmark() of the same
// options fed: the shape of each random input, each value, each given tensor), so the figure is the model's own
// and not that of the process measuring it. cwb is $CW_CWB, else beside the running executable, else the build
// tree's. Returns 0 when cwb cannot be found or the run fails; kills the child and throws cw::Cancelled when
// `stop` is set while it runs.
uint64_t measureRunPeakRss(const std::string &modelPath, const BenchOptions &options,
                           const std::vector<ResolvedInput> &resolved, const StopToken *stop = nullptr);

} // namespace cw
