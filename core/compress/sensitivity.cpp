#include "core/compress/sensitivity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <set>

#include <nlohmann/json.hpp>

#include "core/analysis/evaluate.h"
#include "core/analysis/stats.h"
#include "core/base/error.h"
#include "core/base/json_number.h"
#include "core/compress/prune.h"
#include "core/graph/transform.h"
#include "core/runtime/session.h"

namespace cw {

namespace {

using ojson = nlohmann::ordered_json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

struct Trial {
    std::unique_ptr<Session> session;
    BatchScore score;
    double errNum = 0, errDen = 0; // output-error proxy: sum of squared differences / squared norms
    double noise = 0, signal = 0;  // fidelity: the same over the first graph output
    double sqnrDb = 0;
};

// Adds sum (a - r)^2 and sum r^2 over two tensors of the same values.
void accumulateError(const Tensor &a, const Tensor &r, double &noise, double &signal)
{
    const std::vector<float> x = a.toFloatVector(), y = r.toFloatVector();
    for (size_t k = 0; k < std::min(x.size(), y.size()); ++k) {
        const double d = double(x[k]) - double(y[k]);
        noise += d * d;
        signal += double(y[k]) * double(y[k]);
    }
}

void validate(const SensitivityOptions &o)
{
    if (o.pruneRatios.empty() && o.bits.empty())
        throw Error("sensitivity analysis needs at least one pruning ratio or bit-width");
    for (double r : o.pruneRatios)
        if (!(r >= 0 && r < 1))
            throw Error("pruning ratio " + settingKey(r) + " is outside [0, 1)");
    for (int b : o.bits)
        if (b < 2 || b > 8)
            throw Error("bit-width " + std::to_string(b) + " is outside 2..8");
    if (o.limit < 0)
        throw Error("sample limit must not be negative");
    if (o.batchSize < 1)
        throw Error("batch size must be at least 1");
}

ojson number(double v)
{
    return std::isfinite(v) ? ojson(v) : ojson(nullptr);
}

double numberFrom(const ojson &j, const char *key, double ifNull)
{
    auto it = j.find(key);
    if (it == j.end() || it->is_null())
        return ifNull;
    return it->get<double>();
}

const char *granularityName(Granularity g)
{
    switch (g) {
    case Granularity::Tensor:
        return "tensor";
    case Granularity::Channel:
        return "channel";
    case Granularity::Group:
        return "group";
    }
    return "channel";
}

} // namespace

const char *sensitivityMetricName(SensitivityMetric metric)
{
    switch (metric) {
    case SensitivityMetric::Auto: return "auto";
    case SensitivityMetric::Accuracy: return "accuracy";
    case SensitivityMetric::Fidelity: return "fidelity";
    }
    return "auto";
}

SensitivityMetric parseSensitivityMetric(const std::string &name)
{
    for (SensitivityMetric m : {SensitivityMetric::Auto, SensitivityMetric::Accuracy, SensitivityMetric::Fidelity})
        if (name == sensitivityMetricName(m))
            return m;
    throw Error("unknown sensitivity metric '" + name + "' (accuracy, fidelity or auto)");
}

std::string settingKey(double pruneRatio)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", pruneRatio);
    return buf;
}

std::vector<std::string> sensitivityLayers(const Model &model)
{
    Model copy = compressionForm(model);
    copy.graph.ensureUniqueNodeNames();
    copy.graph.sortTopologically();
    std::vector<std::string> names;
    for (const LayerNode &l : layerNodes(copy.graph))
        names.push_back(l.node->name);
    return names;
}

double spearman(const std::vector<double> &a, const std::vector<double> &b)
{
    std::vector<std::pair<double, double>> pairs;
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
        if (!std::isnan(a[i]) && !std::isnan(b[i]))
            pairs.emplace_back(a[i], b[i]);
    const size_t n = pairs.size();
    if (n < 2)
        return kNaN;
    auto ranks = [&](bool first) {
        std::vector<size_t> idx(n);
        std::iota(idx.begin(), idx.end(), 0);
        auto val = [&](size_t i) { return first ? pairs[i].first : pairs[i].second; };
        std::sort(idx.begin(), idx.end(), [&](size_t x, size_t y) { return val(x) < val(y); });
        std::vector<double> r(n);
        for (size_t i = 0; i < n;) {
            size_t j = i;
            while (j + 1 < n && val(idx[j + 1]) == val(idx[i]))
                ++j;
            const double avg = (double(i) + double(j)) / 2.0 + 1.0; // ties share the mean of their ranks
            for (size_t k = i; k <= j; ++k)
                r[idx[k]] = avg;
            i = j + 1;
        }
        return r;
    };
    const std::vector<double> ra = ranks(true), rb = ranks(false);
    const double ma = std::accumulate(ra.begin(), ra.end(), 0.0) / double(n);
    const double mb = std::accumulate(rb.begin(), rb.end(), 0.0) / double(n);
    double sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; ++i) {
        sab += (ra[i] - ma) * (rb[i] - mb);
        saa += (ra[i] - ma) * (ra[i] - ma);
        sbb += (rb[i] - mb) * (rb[i] - mb);
    }
    if (saa == 0 || sbb == 0)
        return kNaN;
    return sab / std::sqrt(saa * sbb);
}

void computeSpearman(SensitivityResult &result)
{
    auto pair = [&](bool prune) {
        std::vector<double> drop, sqnrDamage, outErr;
        for (const LayerSensitivity &l : result.layers)
            for (const SensitivityTrial &t : prune ? l.prune : l.bits) {
                drop.push_back(t.drop);
                sqnrDamage.push_back(-t.sqnrDb); // higher SQNR = less damage
                outErr.push_back(t.outputError);
            }
        return SpearmanPair{spearman(sqnrDamage, drop), spearman(outErr, drop)};
    };
    result.spearmanPrune = pair(true);
    result.spearmanBits = pair(false);
}

SensitivityResult analyzeSensitivity(const Model &model, const Dataset &data, const SensitivityOptions &options,
                                     const ProgressFn &progress, const StopToken *stop,
                                     const std::function<void(const LayerSensitivity &)> &onLayer)
{
    const auto t0 = std::chrono::steady_clock::now();
    validate(options);
    const SensitivityMetric metric =
        options.metric != SensitivityMetric::Auto
            ? options.metric
            : (data.labels.empty() ? SensitivityMetric::Fidelity : SensitivityMetric::Accuracy);
    const bool fidelity = metric == SensitivityMetric::Fidelity;
    const int64_t total = fidelity ? (options.limit > 0 ? std::min(options.limit, data.size()) : data.size())
                                   : labelledSamples(data, options.limit);
    if (total <= 0)
        throw Error("dataset '" + data.name + "' has no samples");

    SessionOptions sessionOptions;
    sessionOptions.threads = options.threads;
    Model widened = compressionForm(model); // 16-bit weights widened (no value changes), dynamic int8 layers float
    const Session base(std::move(widened), sessionOptions);
    const Graph &g = base.model().graph;
    if (g.inputs.empty() || g.outputs.empty())
        throw Error("model has no graph input or output");
    const std::string outputName = g.outputs.front().name;

    // Layers in execution order, optionally restricted.
    std::vector<LayerNode> layers;
    {
        std::set<std::string> only(options.layers.begin(), options.layers.end());
        only.erase("");
        for (const std::string &name : only) {
            if (findLayer(g, name))
                continue;
            if (const Node *n = g.findNode(name))
                throw Error("node '" + name + "' (" + n->opType + ") has no float weight to prune or quantize");
            throw Error("model has no node named '" + name + "'");
        }
        for (const LayerNode &l : layerNodes(g))
            if (only.empty() || only.count(l.node->name))
                layers.push_back(l);
    }

    // Cached activations are values of the graph the Session runs (its fused form, runtime/fusion.h), where a
    // layer keeps its name and its input; a value fusion removed is never cached.
    const Graph &planned = base.executedGraph();
    std::map<std::string, size_t> producedAt;
    for (size_t i = 0; i < planned.nodes.size(); ++i)
        for (const std::string &o : planned.nodes[i].outputs)
            if (!o.empty())
                producedAt[o] = i;
    // Values computed before the node named `name` that it or a later node reads (or the wanted output itself);
    // none when the planned graph has no such node.
    auto frontierOf = [&](const std::string &name) {
        std::set<std::string> f;
        size_t i = 0;
        while (i < planned.nodes.size() && planned.nodes[i].name != name)
            ++i;
        if (i == planned.nodes.size())
            return std::vector<std::string>();
        auto before = [&](const std::string &v) {
            auto it = producedAt.find(v);
            return it != producedAt.end() && it->second < i;
        };
        for (size_t j = i; j < planned.nodes.size(); ++j) {
            for (const std::string &in : planned.nodes[j].inputs)
                if (!in.empty() && before(in))
                    f.insert(in);
            for (const std::string &in : implicitInputs(planned.nodes[j]))
                if (before(in))
                    f.insert(in);
        }
        if (before(outputName))
            f.insert(outputName);
        return std::vector<std::string>(f.begin(), f.end());
    };

    const int64_t batchSize = datasetBatchSize(g, options.batchSize);
    const int64_t batches = (total + batchSize - 1) / batchSize;
    const size_t settings = options.pruneRatios.size() + options.bits.size();
    const double units = double(batches) * ((fidelity ? 0.0 : 1.0) + double(layers.size()) * double(settings));
    double done = 0;
    auto report = [&](std::string_view stage) {
        if (progress)
            progress(std::min(1.0, done / units), stage);
    };

    SensitivityResult result;
    result.options = options;
    result.metric = metric;
    result.dataset = data.name;
    result.samples = total;

    // Baseline (the fidelity metric compares each batch with the base model's output instead).
    if (fidelity) {
        result.baselineAccuracy = result.baselineLoss = kNaN;
    } else {
        BatchScore s;
        for (int64_t b = 0; b < batches; ++b) {
            checkStop(stop);
            const int64_t begin = b * batchSize, count = std::min(batchSize, total - begin);
            const Tensor logits =
                base.run(makeBatchFeeds(g, options.inputs, data.batch(begin, count)), {outputName}).at(outputName);
            scoreBatch(logits, data, begin, count, s);
            done += 1;
            report("baseline");
        }
        result.baselineAccuracy = double(s.correct) / double(total);
        result.baselineLoss = s.lossSum / double(total);
    }

    for (size_t li = 0; li < layers.size(); ++li) {
        const Node &node = *layers[li].node;
        const std::string weightName = layers[li].weight;
        const Tensor &w = g.initializers.at(weightName);
        // A nested layer's output is no value of this graph (no output-error proxy); its trials rerun the
        // control-flow node that contains it.
        const std::string layerOut = node.outputs.empty() || layers[li].nested ? std::string() : node.outputs.front();
        const std::vector<std::string> frontier = frontierOf(g.nodes[layers[li].top].name);
        const std::string stage = "layer " + std::to_string(li + 1) + "/" + std::to_string(layers.size()) + ": " +
                                  node.name;

        LayerSensitivity layer;
        layer.name = node.name;
        layer.op = node.opType;
        layer.weight = weightName;
        layer.params = w.numel();

        // One session per setting, sharing every weight but this layer's.
        std::vector<Trial> trials(settings);
        const int axis = outputChannelAxis(node, w.shape());
        for (size_t s = 0; s < settings; ++s) {
            checkStop(stop);
            Tensor compressed;
            if (s < options.pruneRatios.size()) {
                compressed = pruneMagnitude(w, options.pruneRatios[s]);
            } else {
                QuantSpec spec;
                spec.bits = options.bits[s - options.pruneRatios.size()];
                spec.granularity = options.granularity;
                spec.groupSize = options.groupSize;
                compressed = fakeQuantize(w, spec, axis).dequantized;
            }
            trials[s].sqnrDb = weightError(w, compressed).sqnrDb;
            Model copy = base.model();
            copy.graph.initializers[weightName] = compressed;
            trials[s].session = std::make_unique<Session>(std::move(copy), sessionOptions);
        }

        for (int64_t b = 0; b < batches; ++b) {
            checkStop(stop);
            const int64_t begin = b * batchSize, count = std::min(batchSize, total - begin);
            std::map<std::string, Tensor> feeds = makeBatchFeeds(g, options.inputs, data.batch(begin, count));
            // The output-error proxy reads the layer's own output, which an inference Session's fusions may
            // remove (runtime/fusion.h); such a run takes the unfused graph, and from the graph inputs, so that it
            // computes the same with and without cached activations (which the fused graph computed).
            const std::map<std::string, Tensor> inputFeeds = feeds;
            Tensor baseOutput;
            if (options.cacheActivations && !frontier.empty()) {
                std::vector<std::string> wanted = frontier;
                const bool outputInFrontier =
                    std::find(frontier.begin(), frontier.end(), outputName) != frontier.end();
                if (fidelity && !outputInFrontier)
                    wanted.push_back(outputName);
                for (auto &[name, t] : base.run(feeds, wanted)) {
                    if (name == outputName)
                        baseOutput = t;
                    if (name != outputName || outputInFrontier)
                        feeds[name] = std::move(t);
                }
            }
            if (fidelity && baseOutput.isNull())
                baseOutput = base.run(feeds, {outputName}).at(outputName);
            const bool calibrate = b < options.calibrationBatches && !layerOut.empty();
            Tensor reference;
            if (calibrate)
                reference = base.run(inputFeeds, {layerOut}).at(layerOut);
            for (Trial &trial : trials) {
                checkStop(stop);
                // Uncached, feeds holds only the graph inputs and the trial runs the whole network.
                const Tensor logits = trial.session->run(feeds, {outputName}).at(outputName);
                if (fidelity)
                    accumulateError(logits, baseOutput, trial.noise, trial.signal);
                else
                    scoreBatch(logits, data, begin, count, trial.score);
                if (calibrate)
                    accumulateError(trial.session->run(inputFeeds, {layerOut}).at(layerOut), reference, trial.errNum,
                                    trial.errDen);
                done += 1;
                report(stage);
            }
        }

        for (size_t s = 0; s < settings; ++s) {
            SensitivityTrial t;
            if (fidelity) {
                const Trial &tr = trials[s];
                t.accuracy = t.loss = t.lossDelta = kNaN;
                t.drop = tr.signal > 0 ? tr.noise / tr.signal : (tr.noise > 0 ? kInf : 0.0);
                t.outputSqnrDb = t.drop > 0 ? -10.0 * std::log10(t.drop) : kInf;
            } else {
                t.accuracy = double(trials[s].score.correct) / double(total);
                t.loss = trials[s].score.lossSum / double(total);
                t.drop = result.baselineAccuracy - t.accuracy;
                t.lossDelta = t.loss - result.baselineLoss;
            }
            t.sqnrDb = trials[s].sqnrDb;
            t.outputError = layerOut.empty()        ? kNaN
                            : trials[s].errDen > 0 ? std::sqrt(trials[s].errNum / trials[s].errDen)
                                                   : (trials[s].errNum > 0 ? kNaN : 0.0);
            (s < options.pruneRatios.size() ? layer.prune : layer.bits).push_back(t);
        }
        result.layers.push_back(layer);
        if (onLayer)
            onLayer(result.layers.back());
    }
    computeSpearman(result);
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return result;
}

std::string sensitivityToJson(const SensitivityResult &r, int indent)
{
    const SensitivityOptions &o = r.options;
    ojson doc;
    doc["metric"] = sensitivityMetricName(r.metric);
    doc["baseline"] = {{"accuracy", number(r.baselineAccuracy)}, {"loss", number(r.baselineLoss)}};
    ojson layers = ojson::array();
    for (const LayerSensitivity &l : r.layers) {
        ojson jl;
        jl["name"] = l.name;
        jl["op"] = l.op;
        jl["weight"] = l.weight;
        jl["params"] = l.params;
        ojson prune = ojson::object(), bits = ojson::object(), pprune = ojson::object(), pbits = ojson::object();
        auto trial = [&](const SensitivityTrial &t) {
            if (r.metric == SensitivityMetric::Fidelity)
                return ojson{{"drop", number(t.drop)}, {"output_sqnr_db", number(t.outputSqnrDb)}};
            return ojson{{"accuracy", t.accuracy}, {"drop", t.drop}, {"loss", t.loss}, {"loss_delta", t.lossDelta}};
        };
        auto proxy = [](const SensitivityTrial &t) {
            return ojson{{"sqnr_db", number(t.sqnrDb)}, {"output_error", number(t.outputError)}};
        };
        for (size_t i = 0; i < l.prune.size() && i < o.pruneRatios.size(); ++i) {
            prune[settingKey(o.pruneRatios[i])] = trial(l.prune[i]);
            pprune[settingKey(o.pruneRatios[i])] = proxy(l.prune[i]);
        }
        for (size_t i = 0; i < l.bits.size() && i < o.bits.size(); ++i) {
            bits[std::to_string(o.bits[i])] = trial(l.bits[i]);
            pbits[std::to_string(o.bits[i])] = proxy(l.bits[i]);
        }
        jl["prune"] = prune;
        jl["bits"] = bits;
        jl["proxy"] = {{"prune", pprune}, {"bits", pbits}};
        layers.push_back(jl);
    }
    doc["layers"] = layers;
    doc["spearman"] = {
        {"prune", {{"sqnr", number(r.spearmanPrune.sqnr)}, {"output_error", number(r.spearmanPrune.outputError)}}},
        {"bits", {{"sqnr", number(r.spearmanBits.sqnr)}, {"output_error", number(r.spearmanBits.outputError)}}}};
    doc["dataset"] = r.dataset;
    doc["samples"] = r.samples;
    doc["seconds"] = r.seconds;
    doc["options"] = {{"prune", o.pruneRatios},
                      {"bits", o.bits},
                      {"granularity", granularityName(o.granularity)},
                      {"group_size", o.groupSize},
                      {"limit", o.limit},
                      {"batch_size", o.batchSize},
                      {"calibration_batches", o.calibrationBatches}};
    return doc.dump(indent);
}

SensitivityResult sensitivityFromJson(const std::string &text)
{
    SensitivityResult r;
    try {
        const ojson doc = ojson::parse(text);
        r.metric = parseSensitivityMetric(doc.value("metric", std::string("accuracy")));
        if (r.metric == SensitivityMetric::Auto)
            throw Error("sensitivity results name the metric 'auto'; a measured result has a definite one");
        r.baselineAccuracy = numberFrom(doc.at("baseline"), "accuracy", kNaN);
        r.baselineLoss = numberFrom(doc.at("baseline"), "loss", kNaN);
        r.dataset = doc.value("dataset", std::string());
        r.samples = integerFromJson(doc, "samples", int64_t(0));
        r.seconds = doc.value("seconds", 0.0);
        SensitivityOptions &o = r.options;
        if (doc.contains("options")) {
            const ojson &jo = doc.at("options");
            o.pruneRatios = jo.at("prune").get<std::vector<double>>();
            o.bits = integersFromJson<int>(jo.at("bits"));
            const std::string gran = jo.value("granularity", std::string("channel"));
            o.granularity = gran == "tensor" ? Granularity::Tensor : gran == "group" ? Granularity::Group : Granularity::Channel;
            o.groupSize = integerFromJson(jo, "group_size", int64_t(64));
            o.limit = integerFromJson(jo, "limit", int64_t(0));
            o.batchSize = integerFromJson(jo, "batch_size", int64_t(250));
            o.calibrationBatches = integerFromJson(jo, "calibration_batches", 2);
        } else if (!doc.at("layers").empty()) {
            const ojson &first = doc.at("layers").front();
            o.pruneRatios.clear();
            o.bits.clear();
            for (const auto &[k, v] : first.at("prune").items())
                o.pruneRatios.push_back(std::stod(k));
            for (const auto &[k, v] : first.at("bits").items())
                o.bits.push_back(std::stoi(k));
        }
        for (const ojson &jl : doc.at("layers")) {
            LayerSensitivity l;
            l.name = jl.at("name").get<std::string>();
            l.op = jl.value("op", std::string());
            l.weight = jl.value("weight", std::string());
            l.params = integerFromJson(jl, "params", int64_t(0));
            auto trial = [&](const char *kind, const std::string &key) {
                SensitivityTrial t;
                const ojson &jt = jl.at(kind).at(key);
                t.accuracy = numberFrom(jt, "accuracy", kNaN);
                t.drop = numberFrom(jt, "drop", kInf); // null: an infinite noise power
                t.outputSqnrDb = numberFrom(jt, "output_sqnr_db", kInf);
                t.loss = numberFrom(jt, "loss", kNaN);
                t.lossDelta = numberFrom(jt, "loss_delta", kNaN);
                if (jl.contains("proxy") && jl.at("proxy").contains(kind) && jl.at("proxy").at(kind).contains(key)) {
                    const ojson &jp = jl.at("proxy").at(kind).at(key);
                    t.sqnrDb = numberFrom(jp, "sqnr_db", std::numeric_limits<double>::infinity());
                    t.outputError = numberFrom(jp, "output_error", kNaN);
                }
                return t;
            };
            for (double ratio : o.pruneRatios)
                l.prune.push_back(trial("prune", settingKey(ratio)));
            for (int b : o.bits)
                l.bits.push_back(trial("bits", std::to_string(b)));
            r.layers.push_back(std::move(l));
        }
        const ojson &sp = doc.at("spearman");
        r.spearmanPrune = {numberFrom(sp.at("prune"), "sqnr", kNaN), numberFrom(sp.at("prune"), "output_error", kNaN)};
        r.spearmanBits = {numberFrom(sp.at("bits"), "sqnr", kNaN), numberFrom(sp.at("bits"), "output_error", kNaN)};
    } catch (const Error &) {
        throw;
    } catch (const std::exception &e) {
        throw Error(std::string("sensitivity results are malformed: ") + e.what());
    }
    return r;
}

} // namespace cw
