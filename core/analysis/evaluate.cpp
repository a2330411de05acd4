// Classifier evaluation and latency benchmarking.
//
// evaluate() always treats the model's output as logits: the loss is the cross-entropy of softmax(output),
// computed with log-sum-exp so large logits do not overflow. A model that already ends in Softmax therefore
// gets softmax applied twice for the loss (accuracy and top-5 are unaffected, since softmax keeps the order);
// that loss is still comparable between variants of the same model, which is what the workbench uses it for.
// Ties are broken by class index: the label counts as rank r where r is the number of classes with a larger
// score plus the number of lower-indexed classes with an equal score (what a stable descending sort gives).
#include "core/analysis/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/base/error.h"
#include "core/base/process.h"

namespace cw {

int64_t labelledSamples(const Dataset &data, int64_t limit)
{
    int64_t total = data.size();
    if (limit > 0)
        total = std::min(total, limit);
    if (total == 0)
        throw Error("dataset '" + data.name + "' is empty: nothing to evaluate");
    if (int64_t(data.labels.size()) < total)
        throw Error("dataset '" + data.name + "' has no labels (or fewer labels than samples): cannot measure accuracy");
    return total;
}

void scoreBatch(const Tensor &logits, const Dataset &data, int64_t begin, int64_t count, BatchScore &score)
{
    if (logits.rank() < 1 || logits.dim(0) != count || logits.numel() % std::max<int64_t>(count, 1) != 0)
        throw Error("model output " + shapeToString(logits.shape()) + " is not one row of class scores per sample (batch of " +
                    std::to_string(count) + ")");
    const int64_t k = logits.numel() / count;
    if (k < 1)
        throw Error("model output " + shapeToString(logits.shape()) + " has no class scores");
    const std::vector<float> scores = logits.toFloatVector();
    double batchLoss = 0; // summed within the batch, then added: the same sum however batches are grouped
    for (int64_t r = 0; r < count; ++r) {
        const float *row = scores.data() + r * k;
        const int64_t label = data.labels[size_t(begin + r)];
        if (label < 0 || label >= k)
            throw Error("dataset '" + data.name + "': label " + std::to_string(label) + " of sample " +
                        std::to_string(begin + r) + " is out of range for a model with " + std::to_string(k) +
                        " outputs");
        const float target = row[label];
        float maxv = row[0];
        int64_t rank = 0;
        for (int64_t j = 0; j < k; ++j) {
            maxv = std::max(maxv, row[j]);
            if (row[j] > target || (row[j] == target && j < label))
                ++rank;
        }
        double sum = 0;
        for (int64_t j = 0; j < k; ++j)
            sum += std::exp(double(row[j]) - maxv);
        batchLoss += double(maxv) + std::log(sum) - double(target);
        score.correct += rank < 1;
        score.correct5 += rank < 5;
    }
    score.lossSum += batchLoss;
}

int64_t evalBatchSize(const Graph &graph, const EvalOptions &options)
{
    return datasetBatchSize(graph, options.batchSize > 0 ? options.batchSize : 256);
}

std::vector<BatchScore> scoreSamples(const Session &session, const Dataset &data, const EvalOptions &options,
                                     int64_t begin, int64_t end, const ProgressFn &progress, const StopToken *stop)
{
    const int64_t total = labelledSamples(data, options.limit);
    if (begin < 0 || end > total || begin > end)
        throw Error("samples " + std::to_string(begin) + " to " + std::to_string(end) + " of a dataset of " +
                    std::to_string(total));
    const Graph &g = session.model().graph;
    if (g.inputs.empty() || g.outputs.empty())
        throw Error("model has no graph input or output to evaluate");
    const int64_t batchSize = evalBatchSize(g, options);
    const std::string &output = g.outputs.front().name;
    std::vector<BatchScore> scores;
    for (int64_t at = begin; at < end; at += batchSize) {
        checkStop(stop);
        const int64_t count = std::min(batchSize, end - at);
        const Tensor logits = session.run(makeBatchFeeds(g, options.inputs, data.batch(at, count)), {output}).at(output);
        scoreBatch(logits, data, at, count, scores.emplace_back());
        if (progress)
            progress(double(at + count - begin) / double(std::max<int64_t>(end - begin, 1)), "evaluating");
    }
    return scores;
}

EvalResult evalResult(const std::vector<BatchScore> &batches, int64_t samples)
{
    BatchScore sum;
    for (const BatchScore &b : batches) {
        sum.correct += b.correct;
        sum.correct5 += b.correct5;
        sum.lossSum += b.lossSum;
    }
    EvalResult result;
    result.samples = samples;
    result.accuracy = double(sum.correct) / double(samples);
    result.top5 = double(sum.correct5) / double(samples);
    result.loss = sum.lossSum / double(samples);
    return result;
}

EvalResult evaluate(const Session &session, const Dataset &data, const EvalOptions &options,
                    const ProgressFn &progress, const StopToken *stop)
{
    const int64_t total = labelledSamples(data, options.limit);
    return evalResult(scoreSamples(session, data, options, 0, total, progress, stop), total);
}

namespace {

// The model a benchmark runs: a fixed leading dimension of the first input becomes the batch when nothing else
// is (declared dynamic in this copy), so a model exported at batch 1 can be timed at 64.
Model benchmarkCopy(const Model &model, const BenchOptions &options)
{
    const Graph &g = model.graph;
    if (g.inputs.empty())
        throw Error("model has no graph input to benchmark");
    if (options.batch < 0)
        throw Error("benchmark batch size must not be negative, got " + std::to_string(options.batch));
    Model copy = model;
    ValueInfo &first = copy.graph.inputs.front();
    const bool pinned = options.inputs.tensors.count(first.name) || options.inputs.shapes.count(first.name);
    if (options.batch > 0 && batchSymbol(g).empty() && first.shapeKnown && !first.shape.empty() && !pinned &&
        first.shape[0] != options.batch) {
        first.shape[0] = -1;
        if (!first.dimNames.empty())
            first.dimNames[0].clear();
    }
    return copy;
}

FeedOptions benchmarkFeedOptions(const BenchOptions &options)
{
    FeedOptions f = options.inputs;
    f.batch = options.batch;
    return f;
}

} // namespace

FeedPlan planBenchmark(const Model &model, const BenchOptions &options)
{
    return planFeeds(benchmarkCopy(model, options).graph, benchmarkFeedOptions(options));
}

BenchResult benchmark(const Model &model, const BenchOptions &options, const ProgressFn &progress, const StopToken *stop)
{
    if (options.iterations < 1)
        throw Error("benchmark needs at least one timed iteration");
    Model copy = benchmarkCopy(model, options);
    const FeedOptions feedOptions = benchmarkFeedOptions(options);
    const FeedPlan plan = planFeeds(copy.graph, feedOptions);
    const std::map<std::string, Tensor> feeds = makeFeeds(plan, feedOptions);
    SessionOptions sessionOptions{options.threads};
    if (options.profile)
        sessionOptions.profile = std::make_shared<NodeProfile>();
    Session session(std::move(copy), sessionOptions);
    const int warmup = std::max(0, options.warmup);
    const int total = warmup + options.iterations;
    std::vector<double> times;
    times.reserve(size_t(options.iterations));
    for (int i = 0; i < total; ++i) {
        checkStop(stop);
        if (i == warmup && sessionOptions.profile) // the timed runs only
            sessionOptions.profile->clear();
        const auto t0 = std::chrono::steady_clock::now();
        const std::map<std::string, Tensor> out = session.run(feeds);
        const auto t1 = std::chrono::steady_clock::now();
        if (i >= warmup)
            times.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        if (progress)
            progress(double(i + 1) / double(total), i < warmup ? "warming up" : "timing");
    }

    BenchResult r;
    r.batch = plan.batch;
    r.inputs = plan.inputs;
    r.threads = session.threads();
    r.iterations = options.iterations;
    std::vector<double> sorted = times;
    std::sort(sorted.begin(), sorted.end());
    // Nearest-rank percentile: the smallest value with at least p% of the samples at or below it.
    auto percentile = [&](double p) {
        const size_t rank = size_t(std::ceil(p / 100.0 * double(sorted.size())));
        return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
    };
    r.p50Ms = percentile(50);
    r.p90Ms = percentile(90);
    r.minMs = sorted.front();
    double sum = 0;
    for (double t : times)
        sum += t;
    r.meanMs = sum / double(times.size());
    r.throughputPerS = r.meanMs > 0 ? double(r.batch) * 1000.0 / r.meanMs : 0;
    if (sessionOptions.profile) {
        for (const NodeProfile::Entry &e : sessionOptions.profile->entries()) {
            const double ms = 1000.0 * e.seconds / double(options.iterations);
            r.nodes.push_back({e.name, e.opType, ms, r.meanMs > 0 ? ms / r.meanMs : 0});
        }
        std::stable_sort(r.nodes.begin(), r.nodes.end(),
                         [](const NodeTime &a, const NodeTime &b) { return a.ms > b.ms; });
    }
    r.peakRssBytes = peakRssBytes();
    r.memoryBytes = session.constantBytes() + session.peakIntermediateBytes(feeds);
    return r;
}

uint64_t measureRunPeakRss(const std::string &modelPath, const BenchOptions &options,
                           const std::vector<ResolvedInput> &resolved, const StopToken *stop)
{
    const std::string cwb = siblingExecutable("cwb", "CW_CWB", CW_CWB_BUILD_PATH);
    if (cwb.empty())
        return 0;
    std::vector<std::string> argv{cwb, "bench", modelPath, "--iterations", "1", "--warmup", "0", "--json"};
    if (options.threads > 0)
        argv.push_back("--threads=" + std::to_string(options.threads));
    // Given tensors go to the child as .npy files beside the model; removed when this returns.
    std::vector<std::filesystem::path> temporaries;
    struct Remove {
        std::vector<std::filesystem::path> &paths;
        ~Remove()
        {
            std::error_code ec;
            for (const auto &p : paths)
                std::filesystem::remove(p, ec);
        }
    } remove{temporaries};
    for (const ResolvedInput &in : resolved) {
        if (in.source == FeedSource::Given && options.inputs.tensors.count(in.name)) {
            temporaries.push_back(modelPath + ".input" + std::to_string(temporaries.size()) + ".npy");
            writeNpy(options.inputs.tensors.at(in.name), temporaries.back().string());
            argv.push_back("--input=" + in.name + "=" + temporaries.back().string());
            continue;
        }
        if (in.source == FeedSource::Value && options.inputs.values.count(in.name)) {
            char number[40];
            std::snprintf(number, sizeof number, "%.17g", options.inputs.values.at(in.name));
            argv.push_back("--value=" + in.name + "=" + number);
        }
        if (!in.shape.empty()) {
            std::string dims;
            for (const int64_t d : in.shape)
                dims += (dims.empty() ? "" : ",") + std::to_string(d);
            argv.push_back("--shape=" + in.name + "=" + dims);
        }
    }
    ProcessOptions po;
    po.stderrTo = ProcessOptions::Stderr::Discard;
    po.stop = stop;
    const ProcessResult r = runProcess(argv, po);
    if (!r.exited || r.exitCode != 0)
        return 0;
    const nlohmann::json j = nlohmann::json::parse(r.output, nullptr, false);
    if (!j.is_object() || !j.contains("peak_rss_bytes") || !j["peak_rss_bytes"].is_number_unsigned())
        return 0;
    return j["peak_rss_bytes"].get<uint64_t>();
}

} // namespace cw
