// cwb: the headless twin of the workbench. Argument parsing and printing only; every computation is a core
// function shared with the GUI. Human-readable output by default, JSON with --json; on failure one line on
// stderr and a non-zero exit code.
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "core/analysis/evaluate.h"
#include "core/analysis/stats.h"
#include "core/base/error.h"
#include "core/compress/compress.h"
#include "core/compress/sensitivity.h"
#include "core/io/dataset.h"
#include "core/io/model_io.h"
#include "core/quant/quantize.h"
#include "core/runtime/ops.h"
#include "core/runtime/session.h"
#include "core/train/demo_models.h"
#include "core/train/train.h"

using nlohmann::json;

namespace {

const char *kUsage = R"(usage: cwb COMMAND [options]

commands:
  info MODEL [--json]                          nodes, op types, shapes, parameters, bytes
  run MODEL --input IN.npy --output OUT.npy    inference (other inputs/outputs: --input NAME=PATH, --output NAME=PATH)
  eval MODEL --data DATA [--limit N] [--batch B] [--threads T] [--json]
       [--scale S] [--mean M[,M...]] [--std S[,S...]] [--layout nchw|nhwc|auto]   preprocessing of the data
  bench MODEL [--batch B] [--threads T] [--iterations N] [--warmup N] [--json]
  train --arch cnn|resnet -o OUT.h5 [--data DATA] [--epochs E] [--batch B] [--lr LR] [--seed S] [--limit N] [--threads T] [--json]
  export MODEL -o OUT.onnx|OUT.h5
  ops                                          operators the engine supports
  stats MODEL [--layer NAME] [--outlier-k K] [--threads T] [--json]
                                               weight statistics per layer and output channel, bytes per bit-width
  sensitivity MODEL --data DATA [--prune 0.3,0.5,0.7,0.9] [--bits 8,6,4,3,2] [--limit N] [--layer NAME]
              [--granularity tensor|channel|group] [--batch B] [--threads T] [--no-cache] [-o OUT.h5] [--json]
                                               accuracy drop when each layer alone is pruned / quantized
  compress MODEL --recipe R.json -o OUT.h5|OUT.onnx [--data DATA] [--train-data DATA] [--limit N]
           [--train-limit N] [--threads T] [--bench-threads T] [--iterations N] [--no-measure] [--json]
                                               prune / quantize / fine-tune by a recipe (docs/recipes.md), then
                                               measure the variant and the base model the same way: accuracy,
                                               top-5, loss on --data, saved file size, latency p50/p90 at batch
                                               1 and 64 (--bench-threads, default 1); --train-data is used for
                                               calibration and fine-tuning (default for --data fashion-mnist:
                                               fashion-mnist:train)

MODEL is a .onnx or .h5 path, or "demo" / "demo-resnet" (built in).
DATA is a path (IDX .gz, .npy, .npz, .h5) or "fashion-mnist" (test split) / "fashion-mnist:train".
)";

// Parsed command line: positionals and --key value options (flags have an empty value).
struct Args {
    std::vector<std::string> positional;
    std::multimap<std::string, std::string> options;

    bool flag(const std::string &key) const { return options.count(key) != 0; }
    std::optional<std::string> value(const std::string &key) const
    {
        auto it = options.find(key);
        if (it == options.end())
            return std::nullopt;
        return it->second;
    }
    std::vector<std::string> values(const std::string &key) const
    {
        std::vector<std::string> result;
        auto [lo, hi] = options.equal_range(key);
        for (auto it = lo; it != hi; ++it)
            result.push_back(it->second);
        return result;
    }
    std::string require(const std::string &key) const
    {
        auto v = value(key);
        if (!v || v->empty())
            throw cw::Error("missing required option --" + key);
        return *v;
    }
    int64_t integer(const std::string &key, int64_t fallback) const
    {
        auto v = value(key);
        if (!v)
            return fallback;
        try {
            size_t used = 0;
            const long long n = std::stoll(*v, &used);
            if (used != v->size())
                throw std::invalid_argument("");
            return n;
        } catch (const std::exception &) {
            throw cw::Error("--" + key + " expects an integer, got '" + *v + "'");
        }
    }
    double number(const std::string &key, double fallback) const
    {
        auto v = value(key);
        if (!v)
            return fallback;
        try {
            size_t used = 0;
            const double n = std::stod(*v, &used);
            if (used != v->size())
                throw std::invalid_argument("");
            return n;
        } catch (const std::exception &) {
            throw cw::Error("--" + key + " expects a number, got '" + *v + "'");
        }
    }
};

Args parseArgs(int argc, char **argv, int first, const std::vector<std::string> &flags,
               const std::vector<std::string> &valued)
{
    Args args;
    auto contains = [](const std::vector<std::string> &list, const std::string &s) {
        return std::find(list.begin(), list.end(), s) != list.end();
    };
    for (int i = first; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-o")
            a = "--output";
        if (a.rfind("--", 0) == 0 && a.size() > 2) {
            std::string key = a.substr(2), val;
            const size_t eq = key.find('=');
            bool inlineValue = false;
            if (eq != std::string::npos && contains(valued, key.substr(0, eq))) {
                val = key.substr(eq + 1);
                key = key.substr(0, eq);
                inlineValue = true;
            }
            if (contains(flags, key)) {
                args.options.emplace(key, "");
            } else if (contains(valued, key)) {
                if (!inlineValue) {
                    if (i + 1 >= argc)
                        throw cw::Error("option --" + key + " needs a value");
                    val = argv[++i];
                }
                args.options.emplace(key, val);
            } else {
                throw cw::Error("unknown option " + a);
            }
        } else {
            args.positional.push_back(a);
        }
    }
    return args;
}

std::string humanBytes(double bytes)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB"};
    int u = 0;
    while (bytes >= 1024 && u < 3) {
        bytes /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u ? "%.2f %s" : "%.0f %s", bytes, units[u]);
    return buf;
}

json shapeJson(const cw::Shape &s)
{
    json j = json::array();
    for (int64_t d : s)
        j.push_back(d < 0 ? json("N") : json(d));
    return j;
}

std::string modelArg(const Args &args)
{
    if (args.positional.empty())
        throw cw::Error("missing MODEL argument");
    if (args.positional.size() > 1)
        throw cw::Error("unexpected argument '" + args.positional[1] + "'");
    return args.positional[0];
}

// Progress on stderr only when it is a terminal, so pipes and CI logs stay clean.
cw::ProgressFn terminalProgress()
{
    if (!isatty(fileno(stderr)))
        return {};
    return [](double fraction, std::string_view stage) {
        std::fprintf(stderr, "\r%-24.*s %5.1f%%", int(stage.size()), stage.data(), fraction * 100.0);
        if (fraction >= 1.0)
            std::fprintf(stderr, "\r%40s\r", "");
        std::fflush(stderr);
    };
}

int cmdInfo(int argc, char **argv)
{
    const Args args = parseArgs(argc, argv, 2, {"json"}, {});
    const cw::Model model = cw::loadModel(modelArg(args));
    const auto layers = model.layers();
    const cw::Graph &g = model.graph;
    if (args.flag("json")) {
        json j;
        j["model"] = model.sourcePath;
        j["opset"] = model.opsetVersion;
        j["producer"] = model.producerName;
        j["parameters"] = g.parameterCount();
        j["parameter_bytes"] = g.parameterBytes();
        j["metadata"] = model.metadata;
        for (const cw::ValueInfo &v : g.inputs)
            j["inputs"].push_back({{"name", v.name}, {"dtype", cw::dtypeName(v.dtype)}, {"shape", shapeJson(v.shape)}});
        for (const cw::ValueInfo &v : g.outputs)
            j["outputs"].push_back({{"name", v.name}, {"dtype", cw::dtypeName(v.dtype)}, {"shape", shapeJson(v.shape)}});
        std::map<std::string, int> opCounts;
        j["nodes"] = json::array();
        for (const cw::LayerInfo &l : layers) {
            ++opCounts[l.opType];
            json node{{"name", l.name}, {"op", l.opType}, {"params", l.params}, {"bytes", l.bytes}};
            node["input_shapes"] = json::array();
            for (const cw::Shape &s : l.inputShapes)
                node["input_shapes"].push_back(shapeJson(s));
            node["output_shapes"] = json::array();
            for (const cw::Shape &s : l.outputShapes)
                node["output_shapes"].push_back(shapeJson(s));
            if (!l.weightName.empty()) {
                node["weight"] = l.weightName;
                node["weight_shape"] = shapeJson(l.weightShape);
            }
            j["nodes"].push_back(node);
        }
        j["op_counts"] = opCounts;
        std::cout << j.dump(2) << '\n';
        return 0;
    }
    std::printf("model      %s\n", model.sourcePath.c_str());
    std::printf("opset      %lld   producer %s\n", (long long)model.opsetVersion, model.producerName.c_str());
    for (const cw::ValueInfo &v : g.inputs)
        std::printf("input      %s %s %s\n", v.name.c_str(), cw::dtypeName(v.dtype), cw::shapeToString(v.shape).c_str());
    for (const cw::ValueInfo &v : g.outputs)
        std::printf("output     %s %s %s\n", v.name.c_str(), cw::dtypeName(v.dtype), cw::shapeToString(v.shape).c_str());
    std::printf("parameters %lld (%s)\n\n", (long long)g.parameterCount(), humanBytes(double(g.parameterBytes())).c_str());
    std::printf("%-28s %-20s %-22s %-22s %10s %12s\n", "node", "op", "input", "output", "params", "bytes");
    for (const cw::LayerInfo &l : layers) {
        const std::string in = l.inputShapes.empty() ? "" : cw::shapeToString(l.inputShapes.front());
        const std::string out = l.outputShapes.empty() ? "" : cw::shapeToString(l.outputShapes.front());
        std::printf("%-28s %-20s %-22s %-22s %10lld %12zu\n", l.name.c_str(), l.opType.c_str(), in.c_str(), out.c_str(),
                    (long long)l.params, l.bytes);
    }
    return 0;
}

// "NAME=PATH" or "PATH" (the graph's first input / output).
std::pair<std::string, std::string> namedPath(const std::string &arg, const std::string &defaultName)
{
    const size_t eq = arg.find('=');
    if (eq == std::string::npos)
        return {defaultName, arg};
    return {arg.substr(0, eq), arg.substr(eq + 1)};
}

int cmdRun(int argc, char **argv)
{
    const Args args = parseArgs(argc, argv, 2, {}, {"input", "output", "threads"});
    cw::Session session(cw::loadModel(modelArg(args)), cw::SessionOptions{int(args.integer("threads", 0))});
    const cw::Graph &g = session.model().graph;
    std::map<std::string, cw::Tensor> feeds;
    for (const std::string &spec : args.values("input")) {
        auto [name, path] = namedPath(spec, g.inputs.empty() ? "" : g.inputs.front().name);
        feeds[name] = cw::readNpy(path);
    }
    if (feeds.empty())
        throw cw::Error("missing --input IN.npy");
    std::vector<std::pair<std::string, std::string>> outputs;
    for (const std::string &spec : args.values("output"))
        outputs.push_back(namedPath(spec, g.outputs.empty() ? "" : g.outputs.front().name));
    if (outputs.empty())
        throw cw::Error("missing --output OUT.npy");
    std::vector<std::string> names;
    for (const auto &o : outputs)
        names.push_back(o.first);
    const auto results = session.run(feeds, names);
    for (const auto &[name, path] : outputs)
        cw::writeNpy(results.at(name), path);
    return 0;
}

// "0.5" or "0.485,0.456,0.406" -> floats.
std::vector<float> floatList(const Args &args, const std::string &key)
{
    std::vector<float> values;
    auto v = args.value(key);
    if (!v)
        return values;
    std::stringstream in(*v);
    std::string item;
    while (std::getline(in, item, ',')) {
        try {
            size_t used = 0;
            values.push_back(std::stof(item, &used));
            if (used != item.size())
                throw std::invalid_argument("");
        } catch (const std::exception &) {
            throw cw::Error("--" + key + " expects comma-separated numbers, got '" + *v + "'");
        }
    }
    return values;
}

// Dataset preprocessing from --scale, --mean, --std and --layout (see core/io/dataset.h).
cw::Preprocess preprocessArgs(const Args &args)
{
    cw::Preprocess pre;
    pre.scale = float(args.number("scale", pre.scale));
    pre.mean = floatList(args, "mean");
    pre.std = floatList(args, "std");
    const std::string layout = args.value("layout").value_or("auto");
    if (layout == "nchw")
        pre.layout = cw::Preprocess::Layout::NCHW;
    else if (layout == "nhwc")
        pre.layout = cw::Preprocess::Layout::NHWC;
    else if (layout != "auto")
        throw cw::Error("--layout expects nchw, nhwc or auto, got '" + layout + "'");
    return pre;
}

int cmdEval(int argc, char **argv)
{
    const Args args = parseArgs(argc, argv, 2, {"json"},
                                {"data", "limit", "batch", "threads", "scale", "mean", "std", "layout"});
    const std::string modelSpec = modelArg(args);
    const std::string dataSpec = args.require("data");
    const int64_t limit = args.integer("limit", 0);
    cw::Session session(cw::loadModel(modelSpec), cw::SessionOptions{int(args.integer("threads", 0))});
    const cw::Dataset data = cw::loadDataset(dataSpec, preprocessArgs(args), limit);
    cw::EvalOptions options;
    options.batchSize = args.integer("batch", options.batchSize);
    const cw::EvalResult r = cw::evaluate(session, data, options, terminalProgress());
    if (args.flag("json")) {
        std::cout << json{{"accuracy", r.accuracy}, {"top5", r.top5}, {"loss", r.loss}, {"samples", r.samples}}.dump(2)
                  << '\n';
    } else {
        std::printf("accuracy %.2f%%  top-5 %.2f%%  loss %.4f  (%lld samples of %s)\n", r.accuracy * 100, r.top5 * 100,
                    r.loss, (long long)r.samples, dataSpec.c_str());
    }
    return 0;
}

int cmdBench(int argc, char **argv)
{
    const Args args = parseArgs(argc, argv, 2, {"json"}, {"batch", "threads", "iterations", "warmup"});
    cw::BenchOptions options;
    options.batch = args.integer("batch", options.batch);
    options.threads = int(args.integer("threads", options.threads));
    options.iterations = int(args.integer("iterations", options.iterations));
    options.warmup = int(args.integer("warmup", options.warmup));
    if (options.batch < 1 || options.iterations < 1 || options.warmup < 0 || options.threads < 0)
        throw cw::Error("--batch and --iterations must be positive, --warmup and --threads non-negative");
    const cw::BenchResult r = cw::benchmark(cw::loadModel(modelArg(args)), options, terminalProgress());
    if (args.flag("json")) {
        std::cout << json{{"p50_ms", r.p50Ms},       {"p90_ms", r.p90Ms},           {"mean_ms", r.meanMs},
                          {"min_ms", r.minMs},       {"throughput_per_s", r.throughputPerS},
                          {"batch", r.batch},        {"threads", r.threads},        {"iterations", r.iterations}}
                         .dump(2)
                  << '\n';
    } else {
        std::printf("batch %lld, %d thread(s), %d iterations: p50 %.3f ms  p90 %.3f ms  mean %.3f ms  %.1f samples/s\n",
                    (long long)r.batch, r.threads, r.iterations, r.p50Ms, r.p90Ms, r.meanMs, r.throughputPerS);
    }
    return 0;
}

int cmdTrain(int argc, char **argv)
{
    const Args args = parseArgs(argc, argv, 2, {"json", "sgd"},
                                {"arch", "output", "data", "test-data", "epochs", "batch", "lr", "seed", "limit",
                                 "threads"});
    if (!args.positional.empty())
        throw cw::Error("unexpected argument '" + args.positional[0] + "'");
    const std::string arch = args.require("arch");
    const std::string output = args.require("output");
    const uint64_t seed = uint64_t(args.integer("seed", 1));
    cw::TrainOptions options = cw::demoTrainOptions(arch);
    options.epochs = int(args.integer("epochs", options.epochs));
    options.batchSize = args.integer("batch", options.batchSize);
    options.lr = float(args.number("lr", options.lr));
    options.threads = int(args.integer("threads", options.threads));
    options.seed = seed;
    if (args.flag("sgd"))
        options.optimizer = cw::Optimizer::Sgd;
    if (options.epochs < 1 || options.batchSize < 1 || !(options.lr > 0))
        throw cw::Error("--epochs, --batch and --lr must be positive");

    cw::Model model = cw::buildDemoModel(arch, seed);
    const cw::Dataset train = cw::loadDataset(args.value("data").value_or("fashion-mnist:train"), {},
                                              args.integer("limit", 0));
    const bool quiet = args.flag("json");
    json epochs = json::array();
    const cw::TrainResult result =
        cw::train(model, train, options, terminalProgress(), nullptr, [&](const cw::EpochStats &e) {
            epochs.push_back({{"epoch", e.epoch}, {"loss", e.loss}, {"accuracy", e.accuracy}, {"lr", e.lr},
                              {"seconds", e.seconds}});
            if (!quiet)
                std::printf("epoch %d/%d  loss %.4f  train accuracy %.2f%%  lr %.2g  %.1f s\n", e.epoch, e.epochs,
                            e.loss, e.accuracy * 100, e.lr, e.seconds);
        });

    const std::string testSpec = args.value("test-data").value_or("fashion-mnist");
    const cw::EvalResult test = cw::evaluate(cw::Session(model, cw::SessionOptions{options.threads}),
                                             cw::loadDataset(testSpec), {}, terminalProgress());
    std::string command = "cwb";
    for (int i = 1; i < argc; ++i)
        command += std::string(" ") + argv[i];
    char accuracy[32];
    std::snprintf(accuracy, sizeof accuracy, "%.4f", test.accuracy);
    model.metadata["training_command"] = command;
    model.metadata["test_accuracy"] = accuracy;
    model.metadata["test_dataset"] = testSpec;
    cw::saveModel(model, output);

    if (quiet) {
        std::cout << json{{"arch", arch},
                          {"epochs", epochs},
                          {"seconds", result.seconds},
                          {"test_accuracy", test.accuracy},
                          {"test_top5", test.top5},
                          {"test_loss", test.loss},
                          {"test_samples", test.samples},
                          {"output", output}}
                         .dump(2)
                  << '\n';
    } else {
        std::printf("test accuracy %.2f%% (%lld samples of %s), %.1f s of training; saved %s\n", test.accuracy * 100,
                    (long long)test.samples, testSpec.c_str(), result.seconds, output.c_str());
    }
    return 0;
}

int cmdExport(int argc, char **argv)
{
    const Args args = parseArgs(argc, argv, 2, {}, {"output"});
    const cw::Model model = cw::loadModel(modelArg(args));
    cw::saveModel(model, args.require("output"));
    return 0;
}

// "0.3,0.5" -> {0.3, 0.5}; "" -> {} (that kind of setting is skipped).
std::vector<double> numberList(const std::string &key, const std::string &text)
{
    std::vector<double> out;
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ',')) {
        if (item.empty())
            continue;
        try {
            size_t used = 0;
            out.push_back(std::stod(item, &used));
            if (used != item.size())
                throw std::invalid_argument("");
        } catch (const std::exception &) {
            throw cw::Error("--" + key + " expects a comma-separated list of numbers, got '" + text + "'");
        }
    }
    return out;
}

int cmdSensitivity(int argc, char **argv)
{
    const Args args = parseArgs(argc, argv, 2, {"json", "no-cache"},
                                {"data", "prune", "bits", "limit", "layer", "granularity", "batch", "threads", "output"});
    const std::string modelSpec = modelArg(args);
    const std::string dataSpec = args.require("data");
    cw::SensitivityOptions options;
    if (auto v = args.value("prune"))
        options.pruneRatios = numberList("prune", *v);
    if (auto v = args.value("bits")) {
        options.bits.clear();
        for (double b : numberList("bits", *v)) {
            if (b != double(int(b)))
                throw cw::Error("--bits expects whole bit-widths, got " + std::to_string(b));
            options.bits.push_back(int(b));
        }
    }
    options.limit = args.integer("limit", options.limit);
    options.batchSize = args.integer("batch", options.batchSize);
    options.threads = int(args.integer("threads", 0));
    options.layers = args.values("layer");
    options.cacheActivations = !args.flag("no-cache");
    if (auto g = args.value("granularity")) {
        if (*g == "tensor")
            options.granularity = cw::Granularity::Tensor;
        else if (*g == "channel")
            options.granularity = cw::Granularity::Channel;
        else if (*g == "group")
            options.granularity = cw::Granularity::Group;
        else
            throw cw::Error("--granularity expects tensor, channel or group, got '" + *g + "'");
    }
    cw::Model model = cw::loadModel(modelSpec);
    const cw::Dataset data = cw::loadDataset(dataSpec, {}, options.limit);
    const cw::SensitivityResult r = cw::analyzeSensitivity(model, data, options, terminalProgress());
    const std::string text = cw::sensitivityToJson(r);
    if (auto out = args.value("output")) {
        model.analysis[cw::kSensitivityKey] = text;
        cw::saveModel(model, *out);
    }
    if (args.flag("json")) {
        std::cout << json::parse(text).dump(2) << '\n';
        return 0;
    }
    std::printf("baseline accuracy %.2f%%  loss %.4f  (%lld samples of %s, %.1f s)\n", r.baselineAccuracy * 100,
                r.baselineLoss, (long long)r.samples, dataSpec.c_str(), r.seconds);
    std::printf("%-24s", "accuracy drop (pp)");
    for (double p : options.pruneRatios)
        std::printf(" %7s", ("p" + cw::settingKey(p)).c_str());
    for (int b : options.bits)
        std::printf(" %7s", (std::to_string(b) + "-bit").c_str());
    std::printf("\n");
    for (const cw::LayerSensitivity &l : r.layers) {
        std::printf("%-24s", l.name.c_str());
        for (const cw::SensitivityTrial &t : l.prune)
            std::printf(" %7.2f", t.drop * 100);
        for (const cw::SensitivityTrial &t : l.bits)
            std::printf(" %7.2f", t.drop * 100);
        std::printf("\n");
    }
    std::printf("Spearman (proxy damage vs drop): prune sqnr %.2f, output error %.2f; bits sqnr %.2f, output error %.2f\n",
                r.spearmanPrune.sqnr, r.spearmanPrune.outputError, r.spearmanBits.sqnr, r.spearmanBits.outputError);
    return 0;
}

int cmdStats(int argc, char **argv)
{
    const Args args = parseArgs(argc, argv, 2, {"json"}, {"layer", "outlier-k", "threads"});
    const cw::Model model = cw::loadModel(modelArg(args));
    cw::StatsOptions options;
    options.layer = args.value("layer").value_or("");
    options.outlierK = args.number("outlier-k", 3.0);
    if (!(options.outlierK > 0))
        throw cw::Error("--outlier-k must be positive");
    options.threads = int(args.integer("threads", 0));
    const std::vector<cw::LayerStats> layers = cw::computeLayerStats(model, options);
    const int bitWidths[] = {8, 6, 4, 3, 2};
    // Bytes at each bit-width: per-channel symmetric grids (the default a user would pick first).
    auto bytesAt = [](const cw::LayerStats &l, int bits) {
        cw::QuantSpec spec;
        spec.bits = bits;
        return cw::quantizedBytes(l.shape, spec, l.channelAxis);
    };
    if (args.flag("json")) {
        // Keys in the order of the issue (ordered_json), so the output reads like the documentation.
        nlohmann::ordered_json j;
        j["layers"] = nlohmann::ordered_json::array();
        for (const cw::LayerStats &l : layers) {
            const cw::TensorStats &s = l.all;
            nlohmann::ordered_json layer{{"name", l.name}, {"op", l.op}, {"tensor", l.tensor}, {"shape", l.shape},
                       {"channel_axis", l.channelAxis}, {"params", l.params}, {"min", s.min}, {"max", s.max},
                       {"mean", s.mean}, {"std", s.std}, {"abs_max", s.absMax}, {"kurtosis", s.kurtosis},
                       {"zero_fraction", s.zeroFraction}, {"outlier_fraction", s.outlierFraction},
                       {"nan_count", s.nanCount}, {"inf_count", s.infCount}};
            layer["bytes"]["32"] = l.params * 4;
            for (int bits : bitWidths)
                layer["bytes"][std::to_string(bits)] = bytesAt(l, bits);
            layer["channels"] = nlohmann::ordered_json::array();
            for (const cw::TensorStats &c : l.channels)
                layer["channels"].push_back(
                    {{"min", c.min}, {"max", c.max}, {"mean", c.mean}, {"std", c.std}, {"abs_max", c.absMax}});
            j["layers"].push_back(layer);
        }
        std::cout << j.dump(2) << '\n';
        return 0;
    }
    std::printf("%-24s %-14s %9s %10s %10s %10s %10s %9s %7s %7s %11s %11s\n", "layer", "op", "params", "min", "max",
                "mean", "std", "kurtosis", "zeros", "outl.", "fp32", "int4/ch");
    for (const cw::LayerStats &l : layers) {
        const cw::TensorStats &s = l.all;
        std::printf("%-24s %-14s %9lld %10.4g %10.4g %10.3g %10.4g %9.3f %6.2f%% %6.2f%% %11s %11s\n", l.name.c_str(),
                    l.op.c_str(), (long long)l.params, s.min, s.max, s.mean, s.std, s.kurtosis, s.zeroFraction * 100,
                    s.outlierFraction * 100, humanBytes(double(l.params) * 4).c_str(),
                    humanBytes(double(bytesAt(l, 4))).c_str());
        if (s.nanCount || s.infCount)
            std::printf("%-24s   %lld NaN and %lld Inf weights (excluded from the statistics)\n", "",
                        (long long)s.nanCount, (long long)s.infCount);
    }
    if (!options.layer.empty() && !layers.empty()) {
        const cw::LayerStats &l = layers.front();
        std::printf("\n%s %s, output channels on axis %d\n", l.tensor.c_str(), cw::shapeToString(l.shape).c_str(),
                    l.channelAxis);
        std::printf("%8s %10s %10s %10s %10s %10s\n", "channel", "min", "max", "mean", "std", "abs max");
        for (size_t c = 0; c < l.channels.size(); ++c) {
            const cw::TensorStats &s = l.channels[c];
            std::printf("%8zu %10.4g %10.4g %10.3g %10.4g %10.4g\n", c, s.min, s.max, s.mean, s.std, s.absMax);
        }
    }
    return 0;
}

json metricsJson(const cw::VariantMetrics &m) { return json::parse(cw::metricsToJson(m)); }

int cmdCompress(int argc, char **argv)
{
    const Args args = parseArgs(argc, argv, 2, {"json", "no-measure"},
                                {"recipe", "output", "data", "train-data", "limit", "train-limit", "threads",
                                 "bench-threads", "iterations", "scale", "mean", "std", "layout"});
    const std::string modelSpec = modelArg(args);
    const std::string output = args.require("output");
    const std::string ext = cw::fileExtension(output);
    if (ext != "h5" && ext != "onnx")
        throw cw::Error("-o expects a .h5 or .onnx file name, got '" + output + "'");
    const cw::Recipe recipe = cw::loadRecipe(args.require("recipe"));
    const cw::Model base = cw::loadModel(modelSpec);

    cw::CompressOptions options;
    options.threads = int(args.integer("threads", 0));
    options.benchThreads = int(args.integer("bench-threads", 1));
    options.benchIterations = int(args.integer("iterations", options.benchIterations));
    options.evalLimit = args.integer("limit", 0);
    options.measure = !args.flag("no-measure");
    if (options.threads < 0 || options.benchThreads < 0 || options.benchIterations < 1 || options.evalLimit < 0)
        throw cw::Error("--threads and --bench-threads must be non-negative, --iterations positive");

    const cw::Preprocess pre = preprocessArgs(args);
    const std::optional<std::string> dataSpec = args.value("data");
    std::optional<std::string> trainSpec = args.value("train-data");
    if (!trainSpec && dataSpec && *dataSpec == "fashion-mnist")
        trainSpec = "fashion-mnist:train";
    std::optional<cw::Dataset> eval, train;
    if (dataSpec)
        eval = cw::loadDataset(*dataSpec, pre, options.evalLimit);
    if (trainSpec)
        train = cw::loadDataset(*trainSpec, pre, args.integer("train-limit", 0));

    const bool quiet = args.flag("json");
    const cw::LogFn log = [quiet](const std::string &line) {
        if (!quiet)
            std::printf("%s\n", line.c_str());
        else
            std::fprintf(stderr, "%s\n", line.c_str());
    };
    cw::Variant variant = cw::compress(base, recipe, train ? &*train : nullptr, eval ? &*eval : nullptr, options,
                                       terminalProgress(), nullptr, log);
    cw::saveModel(variant.model, output);

    std::optional<cw::VariantMetrics> baseMetrics;
    if (options.measure) {
        baseMetrics = cw::measureModel(base, eval ? &*eval : nullptr, options, terminalProgress());
        baseMetrics->compressionRatio = 1.0;
    }
    if (quiet) {
        json doc{{"model", modelSpec},
                 {"recipe", json::parse(cw::recipeToJson(recipe))},
                 {"output", output},
                 {"data", dataSpec ? json(*dataSpec) : json(nullptr)},
                 {"train_data", trainSpec ? json(*trainSpec) : json(nullptr)}};
        if (options.measure) {
            const cw::VariantMetrics &v = variant.metrics, &b = *baseMetrics;
            doc["variant"] = metricsJson(v);
            doc["base"] = metricsJson(b);
            doc["accuracy_drop_points"] = (b.accuracy - v.accuracy) * 100.0;
            doc["size_ratio"] = b.fileBytes > 0 ? double(v.fileBytes) / double(b.fileBytes) : 0.0;
            doc["latency_ratio_batch1"] = b.p50Batch1Ms > 0 ? v.p50Batch1Ms / b.p50Batch1Ms : 0.0;
            doc["latency_ratio_batch64"] = b.p50Batch64Ms > 0 ? v.p50Batch64Ms / b.p50Batch64Ms : 0.0;
        }
        std::cout << doc.dump(2) << '\n';
    } else if (options.measure) {
        const cw::VariantMetrics &v = variant.metrics, &b = *baseMetrics;
        std::printf("%-10s %9s %9s %9s %12s %22s %22s\n", "", "accuracy", "top-5", "loss", "file", "batch 1 p50/p90 ms",
                    "batch 64 p50/p90 ms");
        for (const auto &[label, m] : {std::pair<const char *, const cw::VariantMetrics *>{"base", &b}, {"variant", &v}})
            std::printf("%-10s %8.2f%% %8.2f%% %9.4f %12s %10.3f / %-9.3f %10.3f / %-9.3f\n", label, m->accuracy * 100,
                        m->top5 * 100, m->loss, humanBytes(double(m->fileBytes)).c_str(), m->p50Batch1Ms,
                        m->p90Batch1Ms, m->p50Batch64Ms, m->p90Batch64Ms);
        std::printf("accuracy drop %.2f points, file %.3fx of the base (%.2fx smaller), batch-1 latency %.2fx; saved %s\n",
                    (b.accuracy - v.accuracy) * 100, double(v.fileBytes) / double(std::max<int64_t>(1, b.fileBytes)),
                    v.compressionRatio, b.p50Batch1Ms > 0 ? v.p50Batch1Ms / b.p50Batch1Ms : 0.0, output.c_str());
    } else {
        std::printf("saved %s\n", output.c_str());
    }
    return 0;
}

int cmdOps(int, char **)
{
    for (const std::string &op : cw::supportedOps())
        std::printf("%s\n", op.c_str());
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
        std::fputs(kUsage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const std::string command = argv[1];
    try {
        if (command == "info")
            return cmdInfo(argc, argv);
        if (command == "run")
            return cmdRun(argc, argv);
        if (command == "eval")
            return cmdEval(argc, argv);
        if (command == "bench")
            return cmdBench(argc, argv);
        if (command == "train")
            return cmdTrain(argc, argv);
        if (command == "export")
            return cmdExport(argc, argv);
        if (command == "ops")
            return cmdOps(argc, argv);
        if (command == "stats")
            return cmdStats(argc, argv);
        if (command == "sensitivity")
            return cmdSensitivity(argc, argv);
        if (command == "compress")
            return cmdCompress(argc, argv);
        std::fprintf(stderr, "cwb: unknown command '%s' (try cwb --help)\n", command.c_str());
        return 2;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "cwb %s: %s\n", command.c_str(), e.what());
        return 1;
    }
}
