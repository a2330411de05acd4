// The pipeline owns the order of the stages and the bookkeeping between them (the plan is recomputed after
// every stage that changes the graph: channel pruning renames nothing but reshapes weights, BN folding
// replaces weight buffers). Each stage gets a slice of the overall progress.
#include "core/compress/compress.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <set>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/analysis/evaluate.h"
#include "core/analysis/feeds.h"
#include "core/analysis/stats.h"
#include "core/base/error.h"
#include "core/base/json_number.h"
#include "core/compress/calibrate.h"
#include "core/compress/integer_fallback.h"
#include "core/compress/prune.h"
#include "core/compress/qrewrite.h"
#include "core/graph/transform.h"
#include "core/io/model_io.h"
#include "core/runtime/half_floats.h"
#include "core/runtime/kernels.h"
#include "core/runtime/onednn.h"
#include "core/runtime/session.h"
#include "core/runtime/shape_inference.h"
#include "core/train/distill.h"
#include "core/train/train.h"

namespace cw {

namespace {

using ojson = nlohmann::ordered_json;

bool anyQuantized(const std::vector<LayerPlan> &plan)
{
    return std::any_of(plan.begin(), plan.end(), [](const LayerPlan &p) { return p.config.weights && !p.config.skip; });
}

// The integer layers whose int8 weights this CPU runs as two products (onednn::int8WeightsSplit: no VNNI and a
// weight beyond [-64, 64]): QGemms, and grouped or 1-D QLinearConvs. The other convolutions run in int16 pairs.
int splitIntegerLayers(const Model &m)
{
    int count = 0;
    for (const Node &n : m.graph.nodes) {
        if ((n.opType != "QLinearConv" && n.opType != "QGemm") || n.inputs.size() < 4)
            continue;
        auto it = m.graph.initializers.find(n.inputs[3]);
        if (it == m.graph.initializers.end() || it->second.dtype() != DType::Int8 ||
            (n.opType == "QLinearConv" && n.attrInt("group", 1) == 1 && it->second.rank() == 4))
            continue;
        if (onednn::int8WeightsSplit(it->second.data<int8_t>(), it->second.numel()))
            ++count;
    }
    return count;
}

bool anyPruned(const std::vector<LayerPlan> &plan)
{
    return std::any_of(plan.begin(), plan.end(), [](const LayerPlan &p) { return p.config.prune && !p.config.skip; });
}

// The model with every planned weight replaced by its quantized values (float, what the integer graph
// computes with): calibration and bias correction measure on it.
Model fakeQuantized(const Model &model, const std::vector<LayerPlan> &plan)
{
    Model m = model;
    for (const LayerPlan &p : plan) {
        if (!p.config.weights || p.config.skip)
            continue;
        const Node *node = findLayerNode(m.graph, p.node);
        const Tensor &w = m.graph.initializers.at(p.weight);
        int ch = 0, red = 1;
        layerAxes(*node, w.shape(), &ch, &red);
        m.graph.initializers[p.weight] = quantizeWeightInteger(w, *p.config.weights, ch, red).dequantize();
    }
    return m;
}

// Bias correction: for each quantized layer, the mean over calibration samples of (W - W_q) x per output
// channel, x being the layer's float input, is added to its bias, so the quantized layer's mean output equals
// the float layer's. Measured by running the layer alone with the weight difference as its weight.
void correctBiases(Model &model, const std::vector<LayerPlan> &plan, const Dataset &data, int64_t samples,
                   const CompressOptions &options, const ProgressFn &progress, const StopToken *stop, const LogFn &log)
{
    Graph &g = model.graph;
    struct Probe {
        std::string node, input, bias;
        std::unique_ptr<Session> session;
        std::vector<double> sum;
        int64_t count = 0;
    };
    std::vector<Probe> probes;
    std::vector<std::string> inputs;
    for (const LayerPlan &p : plan) {
        if (!p.config.weights || p.config.skip || p.nested) // a nested layer's input is not a value to probe
            continue;
        Node *node = g.findNode(p.node);
        if (!node || (node->opType != "Conv" && node->opType != "Gemm") || node->inputs.size() < 2 ||
            node->inputs[1] != p.weight || g.isInitializer(node->inputs[0]))
            continue;
        if (node->opType == "Gemm" && node->attrInt("transB", 0) != 1)
            continue;
        const Tensor &w = g.initializers.at(p.weight);
        int ch = 0, red = 1;
        layerAxes(*node, w.shape(), &ch, &red);
        const Tensor wq = quantizeWeightInteger(w, *p.config.weights, ch, red).dequantize();
        Tensor diff(DType::Float32, w.shape());
        for (int64_t i = 0; i < w.numel(); ++i)
            diff.f32()[i] = w.f32()[i] - wq.f32()[i];
        const int64_t channels = w.dim(0);
        // The layer needs a bias to correct: give it one of zeros if it has none.
        if (!node->hasInput(2)) {
            std::string name = p.node + ".bias";
            while (g.initializers.count(name))
                name += "_";
            g.initializers[name] = Tensor(DType::Float32, {channels});
            node->inputs.resize(3);
            node->inputs[2] = name;
            if (node->opType == "Gemm")
                node->attrs["beta"] = Attribute::makeFloat(1.f);
        }
        // A bias a node makes (the DequantizeLinear of a QDQ file's int32 bias) is left as it is.
        const auto bias = g.initializers.find(node->inputs[2]);
        if (bias == g.initializers.end() || bias->second.dtype() != DType::Float32 || bias->second.numel() != channels)
            continue;
        Model probe;
        probe.sourcePath = model.sourcePath;
        ValueInfo in;
        in.name = node->inputs[0];
        auto v = g.values.find(in.name);
        if (v != g.values.end())
            in = v->second;
        probe.graph.inputs = {in};
        Node n = *node;
        n.inputs = {node->inputs[0], "diff"};
        n.outputs = {"y"};
        if (n.opType == "Gemm")
            n.attrs.erase("beta");
        probe.graph.initializers["diff"] = diff;
        probe.graph.nodes = {n};
        probe.graph.outputs = {ValueInfo{"y", DType::Float32, {}, false, {}}};
        Probe pr;
        pr.node = p.node;
        pr.input = node->inputs[0];
        pr.bias = node->inputs[2];
        pr.session = std::make_unique<Session>(probe, SessionOptions{options.threads});
        pr.sum.assign(size_t(channels), 0.0);
        probes.push_back(std::move(pr));
        if (std::find(inputs.begin(), inputs.end(), in.name) == inputs.end())
            inputs.push_back(in.name);
    }
    if (probes.empty())
        return;
    const Session session(model, SessionOptions{options.threads});
    const int64_t n = std::min(samples > 0 ? samples : data.size(), data.size());
    const int64_t batch = datasetBatchSize(g, 64);
    for (int64_t b = 0; b < n; b += batch) {
        checkStop(stop);
        const int64_t count = std::min(batch, n - b);
        const std::map<std::string, Tensor> acts =
            session.run(makeBatchFeeds(g, options.inputs, data.batch(b, count)), inputs);
        for (Probe &pr : probes) {
            const Tensor y = pr.session->run(acts.at(pr.input));
            const int64_t channels = int64_t(pr.sum.size());
            const int64_t inner = y.numel() / (y.dim(0) * channels);
            const float *p = y.f32();
            for (int64_t i = 0; i < y.dim(0); ++i)
                for (int64_t c = 0; c < channels; ++c) {
                    double s = 0;
                    for (int64_t k = 0; k < inner; ++k)
                        s += p[(i * channels + c) * inner + k];
                    pr.sum[size_t(c)] += s;
                }
            pr.count += y.dim(0) * inner;
        }
        if (progress)
            progress(double(b + count) / double(n), "bias correction");
    }
    for (Probe &pr : probes) {
        Tensor bias = g.initializers.at(pr.bias).clone();
        double largest = 0;
        for (size_t c = 0; c < pr.sum.size(); ++c) {
            const double shift = pr.sum[c] / double(std::max<int64_t>(1, pr.count));
            bias.f32()[c] += float(shift);
            largest = std::max(largest, std::abs(shift));
        }
        g.initializers[pr.bias] = bias;
        if (log) {
            char line[160];
            std::snprintf(line, sizeof line, "bias correction: %s, largest shift %.3g", pr.node.c_str(), largest);
            log(line);
        }
    }
}

std::string shortFloat(double v)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v);
    return buf;
}

// The model saved to a temporary file, removed again when this goes out of scope.
class SavedCopy {
public:
    SavedCopy(const Model &model, const std::string &extension)
    {
        static std::atomic<int> counter{0};
        m_path = (std::filesystem::temp_directory_path() / ("cw-size-" + std::to_string(::getpid()) + "-" +
                                                            std::to_string(counter.fetch_add(1)) + "." + extension))
                     .string();
        try {
            saveModel(model, m_path);
        } catch (...) {
            std::error_code ec;
            std::filesystem::remove(m_path, ec);
            throw;
        }
    }
    ~SavedCopy()
    {
        std::error_code ec;
        std::filesystem::remove(m_path, ec);
    }
    SavedCopy(const SavedCopy &) = delete;
    SavedCopy &operator=(const SavedCopy &) = delete;
    const std::string &path() const { return m_path; }
    int64_t bytes() const
    {
        std::error_code ec;
        const auto size = std::filesystem::file_size(m_path, ec);
        if (ec)
            throw Error("cannot measure the saved size of the model: " + ec.message());
        return int64_t(size);
    }

private:
    std::string m_path;
};

} // namespace

int64_t savedSizeBytes(const Model &model, const std::string &extension)
{
    return SavedCopy(model, extension).bytes();
}

std::string metricsToJson(const VariantMetrics &m, int indent)
{
    ojson j;
    j["accuracy"] = m.accuracy;
    j["top5"] = m.top5;
    j["loss"] = m.loss;
    j["samples"] = m.samples;
    j["file_bytes"] = m.fileBytes;
    j["onnx_bytes"] = m.onnxSkipped.empty() && m.onnxBytes > 0 ? ojson(m.onnxBytes) : ojson(nullptr);
    if (!m.onnxSkipped.empty())
        j["onnx_skipped"] = m.onnxSkipped;
    j["compression_ratio"] = m.compressionRatio;
    j["latency_ms"] = {{"batch1", {{"p50", m.p50Batch1Ms}, {"p90", m.p90Batch1Ms}}},
                       {"batch64", m.batch64Skipped.empty()
                                       ? ojson{{"p50", m.p50Batch64Ms}, {"p90", m.p90Batch64Ms}}
                                       : ojson{{"skipped", m.batch64Skipped}}}};
    j["threads"] = m.threads;
    j["memory_bytes"] = m.memoryBytes > 0 ? ojson(m.memoryBytes) : ojson(nullptr);
    j["peak_rss_bytes"] = m.peakRssBytes > 0 ? ojson(m.peakRssBytes) : ojson(nullptr);
    if (!m.fidelity.empty())
        j["fidelity"] = ojson::parse(fidelityToJson(m.fidelity)).at("outputs");
    return j.dump(indent);
}

VariantMetrics metricsFromJson(const std::string &text)
{
    VariantMetrics m;
    // Counts are JSON integers, absent or null when not measured (0).
    const auto count = [](const nlohmann::json &j, const char *key) { return integerFromJson(j, key, int64_t(0)); };
    try {
        const nlohmann::json j = nlohmann::json::parse(text);
        m.accuracy = j.value("accuracy", 0.0);
        m.top5 = j.value("top5", 0.0);
        m.loss = j.value("loss", 0.0);
        m.samples = count(j, "samples");
        m.fileBytes = count(j, "file_bytes");
        m.onnxBytes = count(j, "onnx_bytes");
        m.onnxSkipped = j.value("onnx_skipped", std::string());
        m.compressionRatio = j.value("compression_ratio", 0.0);
        if (j.contains("latency_ms")) {
            const auto &l = j.at("latency_ms");
            m.p50Batch1Ms = l.at("batch1").value("p50", 0.0);
            m.p90Batch1Ms = l.at("batch1").value("p90", 0.0);
            m.p50Batch64Ms = l.at("batch64").value("p50", 0.0);
            m.p90Batch64Ms = l.at("batch64").value("p90", 0.0);
            m.batch64Skipped = l.at("batch64").value("skipped", std::string());
        }
        m.threads = j.contains("threads") ? int(std::clamp<int64_t>(count(j, "threads"), 1, 4096)) : 1;
        m.memoryBytes = count(j, "memory_bytes");
        m.peakRssBytes = count(j, "peak_rss_bytes");
        if (j.contains("fidelity"))
            m.fidelity = fidelityFromJson(nlohmann::json{{"outputs", j.at("fidelity")}}.dump());
    } catch (const nlohmann::json::exception &e) {
        throw Error(std::string("metrics: ") + e.what());
    }
    return m;
}

namespace {

// The latency runs of stage 5: batch 1 with benchIterations timed runs, batch 64 with half as many; samples of
// the evaluation data's size when the model leaves a size open.
BenchOptions measureBenchOptions(const Graph &graph, const CompressOptions &options, const Dataset *eval,
                                 int64_t batch)
{
    BenchOptions bo;
    bo.threads = options.benchThreads;
    bo.batch = batch;
    bo.iterations = std::max(1, batch == 1 ? options.benchIterations : options.benchIterations / 2);
    bo.warmup = std::max(1, bo.iterations / 10);
    bo.inputs = eval && eval->size() > 0 ? withSampleShape(graph, options.inputs, eval->batch(0, 1)) : options.inputs;
    return bo;
}

} // namespace

VariantMetrics measureModel(const Model &model, const Dataset *eval, const CompressOptions &options,
                            const ProgressFn &progress, const StopToken *stop)
{
    VariantMetrics m;
    const SavedCopy saved(model, "h5"); // its size, and the file the peak-memory run loads
    m.fileBytes = saved.bytes();
    try { // the size a user gets from Export… as ONNX, which stores integer weights unpacked
        m.onnxBytes = savedSizeBytes(model, "onnx");
    } catch (const Error &e) {
        m.onnxSkipped = e.what();
    }
    if (eval && !eval->labels.empty()) {
        const Session session(model, SessionOptions{options.threads});
        EvalOptions eo;
        eo.limit = options.evalLimit;
        eo.inputs = options.inputs;
        const EvalResult r = evaluate(session, *eval, eo, progressSlice(progress, 0.0, 0.6, "evaluating"), stop);
        m.accuracy = r.accuracy;
        m.top5 = r.top5;
        m.loss = r.loss;
        m.samples = r.samples;
    }
    checkStop(stop);
    const BenchOptions batch1 = measureBenchOptions(model.graph, options, eval, 1);
    const BenchResult b1 = benchmark(model, batch1, progressSlice(progress, 0.6, 0.75, "latency, batch 1"), stop);
    m.p50Batch1Ms = b1.p50Ms;
    m.p90Batch1Ms = b1.p90Ms;
    m.memoryBytes = b1.memoryBytes;
    m.threads = b1.threads;
    if (progress)
        progress(0.75, "peak memory of a run");
    m.peakRssBytes = int64_t(measureRunPeakRss(saved.path(), batch1, b1.inputs, stop));
    try {
        const BenchResult b64 = benchmark(model, measureBenchOptions(model.graph, options, eval, 64),
                                          progressSlice(progress, 0.8, 1.0, "latency, batch 64"), stop);
        m.p50Batch64Ms = b64.p50Ms;
        m.p90Batch64Ms = b64.p90Ms;
    } catch (const Cancelled &) {
        throw;
    } catch (const Error &e) {
        m.batch64Skipped = e.what();
    }
    return m;
}

VariantMetrics measureVariant(Model &variant, const Model &reference, const Dataset *eval,
                              const CompressOptions &options, const ProgressFn &progress, const StopToken *stop)
{
    VariantMetrics metrics = measureModel(variant, eval, options, progressSlice(progress, 0.0, 0.85, ""), stop);
    if (eval) {
        FidelityOptions fo;
        fo.limit = options.evalLimit;
        fo.inputs = options.inputs;
        metrics.fidelity = measureFidelity(Session(reference, SessionOptions{options.threads}),
                                           Session(variant, SessionOptions{options.threads}), *eval, fo,
                                           progressSlice(progress, 0.85, 1.0, "fidelity"), stop);
    }
    const int64_t referenceBytes = savedSizeBytes(reference);
    metrics.compressionRatio = metrics.fileBytes > 0 ? double(referenceBytes) / double(metrics.fileBytes) : 0.0;
    // The saved file carries the metrics, so its size depends on them: iterate to the fixed point (the numbers'
    // lengths settle after one or two rounds).
    for (int round = 0; round < 5; ++round) {
        variant.analysis[kMetricsKey] = metricsToJson(metrics);
        const int64_t bytes = savedSizeBytes(variant);
        if (bytes == metrics.fileBytes)
            break;
        metrics.fileBytes = bytes;
        metrics.compressionRatio = double(referenceBytes) / double(bytes);
    }
    return metrics;
}

Variant compress(const Model &base, const Recipe &recipe, const Dataset *train, const Dataset *eval,
                 const CompressOptions &options, const ProgressFn &progress, const StopToken *stop,
                 const LogFn &log)
{
    // The pipeline works on a deep copy of the model's compressionForm: 16-bit layer weights widened to float32,
    // narrowed back before the variant is measured; layers of dynamic quantization turned back into float.
    std::map<std::string, DType> widened;
    Model m = compressionForm(base, &widened).deepCopy();
    m.analysis.clear(); // the base's analysis results describe the base, not the variant
    validateRecipe(recipe, m);
    if (options.teacher && !recipe.finetune.distill)
        throw Error("a teacher is given, but the recipe does not distil (give its finetune a \"distill\" block)");
    if (options.measure) // inputs that cannot be made fail now, not after the compression
        try {
            planBenchmark(base, measureBenchOptions(base.graph, options, eval, 1));
        } catch (const Error &e) {
            throw Error(std::string("latency is measured at batch 1, and: ") + e.what());
        }
    // Data of another shape fails now, named, not after a pass over the other data or the compression.
    for (const auto &[data, role] : {std::pair{train, "training data"}, std::pair{eval, "evaluation data"}})
        if (data && data->size() > 0)
            try {
                requireRowsFit(base.graph, data->batch(0, 1));
            } catch (const Error &e) {
                throw Error(std::string(role) + " " + data->name + ": " + e.what());
            }
    auto say = [&](const std::string &line) {
        if (log)
            log(line);
    };
    Variant variant;
    variant.name = recipe.name.empty() ? "variant" : recipe.name;
    variant.recipe = recipe;
    std::vector<LayerPlan> plan = planLayers(recipe, m);
    if (plan.empty())
        say(whyNoLayers(m));
    const bool pruning = anyPruned(plan);
    const bool quantizing = anyQuantized(plan);
    // Bias correction needs data; layers that only keep the quantization the base stores them with (planLayers)
    // go without it when there is none.
    const bool recipeQuantizes =
        recipe.weights.has_value() || std::any_of(recipe.layers.begin(), recipe.layers.end(), [](const auto &entry) {
            return entry.second.weights && !entry.second.skip;
        });
    const bool correcting = quantizing && recipe.biasCorrection && (recipeQuantizes || train);
    const bool calibrating = quantizing && recipe.activations.has_value();
    const bool qat = quantizing && recipe.finetune.qat && recipe.finetune.epochs > 0;
    const bool finetuning = recipe.finetune.epochs > 0;
    // The schedule of iterative pruning (steps, power, reconstruction): the recipe's, or the first pruned layer's.
    PruneConfig schedule = recipe.prune.value_or(PruneConfig{});
    if (!recipe.prune)
        for (const LayerPlan &p : plan)
            if (p.config.prune && !p.config.skip) {
                schedule = *p.config.prune;
                break;
            }
    const bool reconstructing = pruning && schedule.reconstruct;
    // Evaluation data without labels is compared with the base (fidelity), so it may also calibrate: nothing
    // that could flatter a score is trained on it (fine-tuning needs labels and refuses it).
    if (quantizing && !recipeQuantizes)
        say("quantize: the layers keep the quantization the base stores them with (give \"quantize\" to change it)");
    if (!train && eval && eval->labels.empty() && (calibrating || correcting || reconstructing)) {
        train = eval;
        say("calibration data: the evaluation samples (no training data given; they have no labels)");
    }
    if (!train && (calibrating || finetuning || correcting || reconstructing))
        throw Error(std::string("the recipe needs training data for ") +
                    (calibrating     ? "activation calibration"
                     : finetuning    ? "fine-tuning"
                     : correcting    ? "bias correction"
                                     : "channel pruning's reconstruction") +
                    " (give --train-data, or calibration data)");
    // Fine-tuning learns from labels, or from a teacher alone: data without labels fails now, not after pruning.
    if (finetuning && train && train->labels.empty() &&
        !(recipe.finetune.distill && recipe.finetune.distill->alpha == 1.f))
        throw Error("the training dataset '" + train->name + "' has no labels, which fine-tuning needs: give labelled "
                    "data, or let the base model alone teach (\"finetune\": {\"distill\": {\"alpha\": 1}})");
    const double measureShare = options.measure ? 0.2 : 0.0;
    const double work = 1.0 - measureShare;

    // The teacher of distilling fine-tuning: the base (or the given teacher) in the form the pipeline starts from
    // (the base's: the same node and value names); after BatchNorm folding, a folded copy, so that features
    // compare like with like.
    std::optional<Model> teacher;
    if (recipe.finetune.distill && finetuning) {
        if (options.teacher) {
            teacher = compressionForm(*options.teacher);
            inferShapes(*teacher);
            requireStudentFits(*teacher, m);
        } else {
            teacher = compressionForm(base);
        }
        say(std::string("distill: ") +
            (options.teacher ? "the given teacher (" + std::to_string(teacher->graph.parameterCount()) + " parameters)"
                             : std::string("the base model")) +
            " teaches every fine-tuning stage (T " + shortFloat(recipe.finetune.distill->temperature) + ", alpha " +
            shortFloat(recipe.finetune.distill->alpha) + ")");
    }
    const Model *teacherPtr = teacher ? &*teacher : nullptr;

    // 1. prune
    std::map<std::string, Tensor> masks;
    if (pruning) {
        FinetuneConfig ft = recipe.finetune;
        if (qat)
            ft.epochs = 0; // the fine-tuning budget goes to quantization-aware training
        say("prune: " + std::to_string(schedule.steps) + " step(s)" +
            (ft.epochs > 0 && train ? ", " + std::to_string(ft.epochs) + " epoch(s) of fine-tuning per step" : ""));
        const PruneResult pr = pruneIteratively(m, plan, schedule, ft, train,
                                                progressSlice(progress, 0.0, work * 0.5, "prune"), stop, log, teacherPtr);
        masks = pr.masks;
        for (const PruneReport &r : pr.layers) {
            if (!r.skipped.empty())
                say("prune: " + r.node + " left whole: " + r.skipped);
            else if (r.channelsBefore != r.channelsAfter)
                say("prune: " + r.node + " " + std::to_string(r.channelsBefore) + " -> " +
                    std::to_string(r.channelsAfter) + " channels");
            else if (r.params > 0)
                say("prune: " + r.node + " " + shortFloat(100.0 * double(r.zeros) / double(r.params)) + "% zeros");
        }
        plan = planLayers(recipe, m);
    } else if (finetuning && !qat) {
        const TrainOptions to = finetuneOptions(recipe.finetune, options.threads, teacherPtr);
        say("fine-tune: " + std::to_string(to.epochs) + " epoch(s)");
        cw::train(m, *train, to, progressSlice(progress, 0.0, work * 0.5, "fine-tune"), stop);
    }
    checkStop(stop);

    if (quantizing) {
        // 8-bit activations are quantized from float32: a float16 / bfloat16 model computes in float32 from here
        // on (runtime/half_floats.h, its roundings to 16 bits dropped), so that its layers can run on integer
        // kernels; the weights left float then stay float32. A model fed 16-bit inputs keeps its arithmetic (the
        // variant would ask for other input types), and its layers weight-only quantization.
        const bool halfInputs = std::any_of(m.graph.inputs.begin(), m.graph.inputs.end(),
                                            [](const ValueInfo &v) { return isHalfType(v.dtype); });
        if (calibrating && !halfInputs)
            if (std::optional<Model> wide = float32Arithmetic(m, false)) {
                m = std::move(*wide);
                widened.clear();
                say("quantize: the 16-bit float arithmetic becomes float32, for the integer kernels");
            }
        // 2. fold
        const int folded = foldBatchNorm(m);
        if (folded)
            say("fold: " + std::to_string(folded) + " BatchNormalization node(s) folded into their layers");
        inferShapes(m);
        plan = planLayers(recipe, m);
        checkStop(stop);

        // 3. quantize (+ 4. qat): bias correction, calibration, rewrite
        std::map<std::string, ActivationRange> ranges;
        std::vector<std::string> values, candidates;
        const std::optional<double> floorDb = calibrating ? recipe.activations->minSqnrDb : std::nullopt;
        std::optional<Model> unquantized; // what the fidelity floor compares with
        if (floorDb) { // the layers left to the quantizer start on integer kernels (integer_fallback.h)
            candidates = markFallbackCandidates(m, plan);
            unquantized = m.deepCopy();
        }
        if (calibrating)
            values = activationValuesToCalibrate(m, plan);
        if (calibrating && values.empty())
            say("calibrate: no layer can run on integer kernels; the weights are quantized, the arithmetic stays float");
        auto calibrate = [&](double from, double to) {
            if (!calibrating || values.empty())
                return;
            // The ranges are those of the graph's own values (the quantization rewrite works on them), which an
            // inference Session's fusions would partly remove: the graph as it is.
            SessionOptions unfused{options.threads};
            unfused.fuse = false;
            const Session s(fakeQuantized(m, plan), unfused);
            ranges = calibrateActivations(s, *train, values, *recipe.activations, options.inputs, stop,
                                          progressSlice(progress, from, to, "calibrate"));
            say("calibrate: " + std::to_string(ranges.size()) + " activation(s), " + toString(recipe.activations->calibration) +
                " on " + std::to_string(std::min<int64_t>(recipe.activations->samples, train->size())) + " samples");
        };
        if (qat) {
            calibrate(work * 0.5, work * 0.55);
            if (teacher && folded) {
                Model foldedTeacher = teacher->deepCopy();
                foldBatchNorm(foldedTeacher);
                inferShapes(foldedTeacher);
                teacher = std::move(foldedTeacher);
            }
            TrainOptions to = finetuneOptions(recipe.finetune, options.threads, teacherPtr);
            to.masks = masks;
            for (const LayerPlan &p : plan) {
                if (!p.config.weights || p.config.skip)
                    continue;
                TrainOptions::FakeQuantWeight fq;
                fq.spec = *p.config.weights;
                int red = 1;
                layerAxes(*findLayerNode(m.graph, p.node), m.graph.initializers.at(p.weight).shape(), &fq.channelAxis, &red);
                fq.reductionAxis = red;
                to.fakeQuantWeights[p.weight] = fq;
            }
            for (const auto &[value, range] : ranges)
                to.fakeQuantActivations[value] = {range.lo, range.hi};
            say("qat: " + std::to_string(to.epochs) + " epoch(s), " + std::to_string(to.fakeQuantWeights.size()) +
                " fake-quantized weight(s), " + std::to_string(to.fakeQuantActivations.size()) + " activation(s)");
            cw::train(m, *train, to, progressSlice(progress, work * 0.55, work * 0.9, "qat"), stop);
        } else if (correcting) {
            correctBiases(m, plan, *train, recipe.activations ? recipe.activations->samples : 512, options,
                          progressSlice(progress, work * 0.5, work * 0.7, "bias correction"), stop, log);
        }
        calibrate(work * 0.9, work * 0.93);
        checkStop(stop);
        std::optional<FallbackResult> floor;
        if (floorDb && !ranges.empty()) {
            FallbackOptions fo;
            fo.floorDb = *floorDb;
            fo.samples = recipe.activations->samples;
            fo.inputs = options.inputs;
            fo.threads = options.threads;
            floor = keepFidelityFloor(m, *unquantized, plan, candidates, ranges, *train, fo,
                                      progressSlice(progress, work * 0.93, work * 0.98, "fidelity floor"), stop, say);
        }
        const int integerLayers = rewriteQuantized(m, plan, ranges);
        inferShapes(m);
        int quantizedLayers = 0;
        for (const LayerPlan &p : plan)
            quantizedLayers += p.config.weights && !p.config.skip;
        std::string floorSummary;
        if (floor) {
            char sqnr[64];
            std::snprintf(sqnr, sizeof sqnr, " (fidelity floor %.1f dB %s: %.1f dB", floor->floorDb,
                          floor->met() ? "met" : "not met", floor->finalSqnrDb);
            floorSummary = sqnr;
            for (size_t i = 0; i < floor->floatLayers.size(); ++i)
                floorSummary += (i ? ", " : "; float arithmetic: ") + floor->floatLayers[i];
            floorSummary += ")";
        }
        say("quantize: " + std::to_string(quantizedLayers) + " layer(s), " + std::to_string(integerLayers) +
            " on integer kernels" + floorSummary);
        variant.fidelityFloor = floor;
        if (const int split = splitIntegerLayers(m))
            say("note: this CPU has no VNNI, so " + std::to_string(split) + " of the integer layers (Gemms, grouped "
                "and 1-D convolutions with weights beyond ±64) run as two products to stay exact, about twice the "
                "arithmetic (a Gemm only on more than 16 rows: fewer run as one exact product of the engine's own); "
                "7-bit weights (\"bits\": 7) run as one (docs/performance.md, \"Int8 without VNNI\")");
    }
    checkStop(stop);
    if (progress)
        progress(work, "compressed");

    if (!widened.empty()) {
        narrowLayerWeights(m, widened);
        inferShapes(m);
    }
    clearStoredMarks(m); // how the base stored its layers: no longer true of the variant's
    m.analysis[kRecipeKey] = recipeToJson(recipe);
    if (options.measure) {
        variant.metrics = measureVariant(m, base, eval, options, progressSlice(progress, work, 1.0, "measure"), stop);
        variant.measured = true;
        say("measure: " +
            (variant.metrics.samples > 0 ? "accuracy " + shortFloat(variant.metrics.accuracy * 100) + "%, "
                                         : std::string()) +
            std::to_string(variant.metrics.fileBytes) + " bytes (" + shortFloat(variant.metrics.compressionRatio) +
            "x smaller), batch-1 p50 " + shortFloat(variant.metrics.p50Batch1Ms) + " ms");
    }
    variant.model = std::move(m);
    if (progress)
        progress(1.0, "done");
    return variant;
}

} // namespace cw
