#include "core/cluster/sweep.h"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "core/base/atomic_file.h"
#include "core/base/error.h"
#include "core/base/json_number.h"
#include "core/base/sha256.h"
#include "core/base/version.h"
#include "core/io/bundle.h"
#include "core/io/model_io.h"
#include "core/compress/recipe.h"
#include "core/lm/compress.h"
#include "core/lm/corpus.h"
#include "resources/demo_data.h"

namespace cw::cluster {

namespace {

using ojson = nlohmann::ordered_json;
namespace fs = std::filesystem;

std::string q(const std::string &s)
{
    return "'" + s + "'";
}

// A model built into cwb ("demo", "demo-lm"): named, not a path.
bool builtIn(const std::string &spec)
{
    return !demoModelBytes(spec).empty();
}

// A plan of `kind`: this cwb, the command run from `directory`, the model by spec and hash (a built-in one by
// name; a file by the path the command names, from `directory`).
SweepPlan newPlan(const std::string &kind, const std::vector<std::string> &command, const std::string &modelSpec,
                  const std::string &directory)
{
    SweepPlan plan;
    plan.kind = kind;
    plan.tool = toolDescription();
    plan.directory = directory;
    plan.command = command;
    plan.modelSpec = modelSpec;
    plan.model = modelDigest(modelSpec);
    if (!builtIn(modelSpec))
        plan.model.path = modelSpec;
    return plan;
}

// A text's record (lm::loadText reads its files), hashed.
DatasetRecord textRecord(const std::string &role, const std::string &spec)
{
    DatasetRecord r{role, spec, {}};
    for (const std::string &f : lm::textFiles(spec))
        r.files.push_back(digestFile(f));
    return r;
}

// Whether a plan's parts hold variants (models, or a language model's project) rather than a result document.
bool makesVariants(const std::string &kind)
{
    return kind == "recipes" || kind == "distill" || kind == "lm-recipes" || kind == "lm-matrices";
}

// Whether a plan's parts carry a language model's project (its variants with their encoded tensors).
bool carriesLmProject(const std::string &kind)
{
    return kind == "lm-recipes" || kind == "lm-matrices";
}

// Whether a plan holds recipes: one per item, or one whose matrices are the items.
bool holdsRecipes(const std::string &kind)
{
    return kind == "recipes" || kind == "lm-recipes" || kind == "lm-matrices";
}

ojson digestJson(const FileDigest &d)
{
    return {{"path", d.path}, {"bytes", d.bytes}, {"sha256", d.sha256}};
}

FileDigest digestFrom(const ojson &j)
{
    return {j.at("path").get<std::string>(), integerFromJson(j, "bytes"), j.at("sha256").get<std::string>()};
}

ojson planJson(const SweepPlan &p)
{
    ojson data = ojson::array();
    for (const DatasetRecord &d : p.data) {
        ojson files = ojson::array();
        for (const FileDigest &f : d.files)
            files.push_back(digestJson(f));
        data.push_back({{"role", d.role}, {"spec", d.spec}, {"files", files}});
    }
    ojson model = digestJson(p.model);
    model.erase("path");
    ojson m = {{"spec", p.modelSpec}, {"path", p.model.path}};
    m.update(model);
    ojson j = {{"format", kPlanFormat}, {"version", kSweepFormatVersion}, {"kind", p.kind},       {"tool", p.tool},
               {"directory", p.directory}, {"command", p.command},         {"model", m},           {"data", data},
               {"items", p.items}};
    if (holdsRecipes(p.kind)) {
        ojson recipes = ojson::array();
        for (const std::string &r : p.recipes)
            recipes.push_back(ojson::parse(r));
        j["recipes"] = recipes;
    }
    return j;
}

SweepPlan planFrom(const ojson &j)
{
    if (j.value("format", "") != kPlanFormat)
        throw Error("not a sweep plan (format is not \"" + std::string(kPlanFormat) + "\")");
    if (const int64_t version = integerFromJson(j, "version", int64_t(0)); version > kSweepFormatVersion)
        throw Error("a plan of a newer format version (" + std::to_string(version) + ")");
    SweepPlan p;
    p.kind = j.at("kind").get<std::string>();
    if (p.kind != "sensitivity" && p.kind != "lm-sensitivity" && !holdsRecipes(p.kind) && p.kind != "distill" &&
        p.kind != "evaluate" && p.kind != "lm-perplexity")
        throw Error("kind \"" + p.kind +
                    "\": this cwb sweeps \"sensitivity\", \"lm-sensitivity\", \"recipes\", \"lm-recipes\", "
                    "\"lm-matrices\", \"distill\", \"evaluate\" and \"lm-perplexity\"");
    p.tool = j.at("tool").get<std::string>();
    p.directory = j.at("directory").get<std::string>();
    p.command = j.at("command").get<std::vector<std::string>>();
    const ojson &m = j.at("model");
    p.modelSpec = m.at("spec").get<std::string>();
    p.model = digestFrom(m);
    for (const ojson &d : j.at("data")) {
        DatasetRecord r{d.at("role").get<std::string>(), d.at("spec").get<std::string>(), {}};
        for (const ojson &f : d.at("files"))
            r.files.push_back(digestFrom(f));
        p.data.push_back(std::move(r));
    }
    p.items = j.at("items").get<std::vector<std::string>>();
    if (p.items.empty())
        throw Error("the plan has no items");
    if (std::set<std::string>(p.items.begin(), p.items.end()).size() != p.items.size())
        throw Error("the plan names an item twice");
    if (p.kind == "distill" && p.items.size() != 1)
        throw Error("a distillation plan has one item, the student");
    if (p.kind == "evaluate" || p.kind == "lm-perplexity") // ranges "B:E" that follow each other from 0
        for (size_t i = 0; i < p.items.size(); ++i) {
            const auto [begin, end] = parseRange(p.items[i]);
            if (begin != (i ? parseRange(p.items[i - 1]).second : 0) || end <= begin)
                throw Error("the item '" + p.items[i] + "' does not follow the one before it");
        }
    if (holdsRecipes(p.kind)) {
        const ojson &recipes = j.at("recipes");
        const bool one = p.kind == "lm-matrices";
        if (!recipes.is_array() || recipes.size() != (one ? 1 : p.items.size()))
            throw Error(one ? "\"recipes\" must hold the one recipe whose matrices are the items"
                            : "\"recipes\" must hold one recipe per item");
        for (size_t i = 0; i < recipes.size(); ++i) {
            try {
                const Recipe r = recipeFromJson(recipes[i].dump());
                if (one && r.sequential)
                    throw Error("a recipe computed by matrix is not sequential (\"sequential\": false)");
                p.recipes.push_back(recipeToJson(r, -1));
            } catch (const Error &e) {
                throw Error("the recipe of '" + (one ? std::string("the plan") : p.items[i]) + "': " + e.what());
            }
        }
    }
    return p;
}

} // namespace

std::string planToJson(const SweepPlan &plan)
{
    return planJson(plan).dump(2);
}

SweepPlan planFromJson(const std::string &text, const std::string &source)
{
    try {
        return planFrom(ojson::parse(text));
    } catch (const nlohmann::json::exception &e) {
        throw Error(q(source) + ": not a valid sweep plan (" + e.what() + ")");
    } catch (const Error &e) {
        throw Error(q(source) + ": " + e.what());
    }
}

SweepPlan loadPlan(const std::string &path)
{
    std::error_code ec;
    if (fs::is_directory(path, ec))
        throw Error(q(path) + " is a directory, not a plan");
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw Error("cannot open the plan " + q(path));
    std::stringstream text;
    text << in.rdbuf();
    return planFromJson(text.str(), path);
}

void savePlan(const SweepPlan &plan, const std::string &path)
{
    writeFileAtomically(path, planToJson(plan) + "\n");
}

std::string planDigest(const SweepPlan &plan)
{
    return sha256Hex(planJson(plan).dump());
}

namespace {

// The shortest text that reads back as the same double.
std::string exact(double v)
{
    char buf[40];
    for (int digits = 6; digits <= 17; ++digits) {
        std::snprintf(buf, sizeof buf, "%.*g", digits, v);
        if (std::strtod(buf, nullptr) == v)
            break;
    }
    return buf;
}

// Text items, comma-separated (--formats).
std::string joined(const std::vector<std::string> &items)
{
    std::string out;
    for (const std::string &i : items)
        out.append(out.empty() ? "" : ",").append(i);
    return out;
}

template <typename T> std::string joined(const std::vector<T> &values)
{
    std::string out;
    for (const T &v : values)
        out.append(out.empty() ? "" : ",").append(exact(double(v))); // (not "," + …: GCC 12's -Wrestrict false alarm)
    return out;
}

} // namespace

namespace {

// Ranges "B:E" of `count` things in whole units of `unit` (the last one shorter), at most kMaxRangeItems of them.
constexpr int64_t kMaxRangeItems = 256;
std::vector<std::string> rangeItems(int64_t count, int64_t unit)
{
    const int64_t units = (count + unit - 1) / unit;
    const int64_t step = unit * ((units + kMaxRangeItems - 1) / kMaxRangeItems);
    std::vector<std::string> items;
    for (int64_t b = 0; b < count; b += step)
        items.push_back(std::to_string(b) + ":" + std::to_string(std::min(count, b + step)));
    return items;
}

} // namespace

std::pair<int64_t, int64_t> parseRange(const std::string &item)
{
    const size_t colon = item.find(':');
    int64_t begin = -1, end = -1;
    try {
        size_t used = 0, used2 = 0;
        if (colon != std::string::npos) {
            begin = std::stoll(item.substr(0, colon), &used);
            end = std::stoll(item.substr(colon + 1), &used2);
        }
        if (used != colon || used2 != item.size() - colon - 1)
            begin = -1;
    } catch (const std::exception &) {
        begin = -1;
    }
    if (begin < 0 || end < begin)
        throw Error("'" + item + "' is not a range B:E of samples or chunks");
    return {begin, end};
}

SweepPlan evaluatePlan(const std::vector<std::string> &command, const std::string &modelSpec,
                       const std::string &dataSpec, int64_t samples, int64_t batchSize, const std::string &directory)
{
    if (samples < 1 || batchSize < 1)
        throw Error("an evaluation of " + std::to_string(samples) + " samples in batches of " +
                    std::to_string(batchSize));
    SweepPlan plan = newPlan("evaluate", command, modelSpec, directory);
    plan.data.push_back(datasetRecord("evaluation", dataSpec));
    plan.items = rangeItems(samples, batchSize);
    return plan;
}

SweepPlan lmPerplexityPlan(const std::vector<std::string> &command, const std::string &modelSpec,
                           const std::string &textSpec, int64_t chunks, const std::string &directory)
{
    if (chunks < 1)
        throw Error("a perplexity of " + std::to_string(chunks) + " chunks");
    SweepPlan plan = newPlan("lm-perplexity", command, modelSpec, directory);
    plan.data.push_back(textRecord("text", textSpec));
    plan.items = rangeItems(chunks, 1);
    return plan;
}

std::string evaluationPartResult(int64_t batchSize,
                                 const std::vector<std::pair<std::string, std::vector<BatchScore>>> &items)
{
    ojson j = ojson::object();
    for (const auto &[item, batches] : items) {
        ojson list = ojson::array();
        for (const BatchScore &b : batches)
            list.push_back({b.correct, b.correct5, b.lossSum});
        j[item] = list;
    }
    return ojson{{"batch_size", batchSize}, {"items", j}}.dump();
}

std::string perplexityPartResult(const std::vector<std::pair<std::string, std::vector<lm::ChunkScore>>> &items)
{
    ojson j = ojson::object();
    for (const auto &[item, chunks] : items) {
        ojson list = ojson::array();
        for (const lm::ChunkScore &c : chunks)
            list.push_back({c.nll, c.scored});
        j[item] = list;
    }
    return ojson{{"items", j}}.dump();
}

SweepPlan sensitivityPlan(const std::vector<std::string> &command, const std::string &modelSpec, const Model &model,
                          const std::string &dataSpec, const std::vector<std::string> &layers,
                          const std::string &directory)
{
    SweepPlan plan = newPlan("sensitivity", command, modelSpec, directory);
    plan.data.push_back(datasetRecord("evaluation", dataSpec));
    const std::vector<std::string> all = sensitivityLayers(model);
    for (const std::string &l : layers)
        if (std::find(all.begin(), all.end(), l) == all.end())
            throw Error("'" + l + "' is not a layer the sweep analyses");
    plan.items = layers.empty() ? all : layers;
    return plan;
}

namespace {

// The arguments of the preprocessing and of the graph inputs' values and shapes; an input fed from memory has none
// (the message names `verb`'s option to use instead).
void addInputArguments(std::vector<std::string> &a, const Preprocess &pre, const FeedOptions &inputs,
                       const std::string &verb)
{
    if (!inputs.tensors.empty())
        throw Error("the graph input '" + inputs.tensors.begin()->first +
                    "' is fed from memory, which a plan cannot name: write the plan with cwb " + verb +
                    " --input NAME=FILE.npy --plan");
    auto add = [&](const std::string &flag, const std::string &value) {
        a.push_back(flag);
        a.push_back(value);
    };
    add("--scale", exact(pre.scale));
    if (!pre.mean.empty())
        add("--mean", joined(pre.mean));
    if (!pre.std.empty())
        add("--std", joined(pre.std));
    add("--layout", pre.layout == Preprocess::Layout::NCHW   ? "nchw"
                    : pre.layout == Preprocess::Layout::NHWC ? "nhwc"
                                                             : "auto");
    if (pre.imageHeight > 0 && pre.imageWidth > 0)
        add("--image-size", std::to_string(pre.imageHeight) + "," + std::to_string(pre.imageWidth));
    if (pre.resizeShorter > 0)
        add("--resize", std::to_string(pre.resizeShorter));
    for (const auto &[name, value] : inputs.values)
        add("--value", name + "=" + exact(value));
    for (const auto &[name, shape] : inputs.shapes) {
        std::string dims;
        for (int64_t d : shape)
            dims.append(dims.empty() ? "" : ",").append(std::to_string(d));
        add("--shape", name + "=" + dims);
    }
    for (const auto &[name, other] : inputs.sameSize)
        add("--shape", name + "=" + other);
}

} // namespace

std::vector<std::string> compressCommand(const std::string &modelSpec, const std::string &evalSpec,
                                         const std::string &trainSpec, const Preprocess &pre,
                                         const CompressOptions &o, int64_t trainLimit)
{
    std::vector<std::string> a{"compress", modelSpec};
    auto add = [&](const std::string &flag, const std::string &value) {
        a.push_back(flag);
        a.push_back(value);
    };
    if (!evalSpec.empty())
        add("--data", evalSpec);
    if (!trainSpec.empty())
        add("--train-data", trainSpec);
    add("--limit", std::to_string(o.evalLimit));
    if (trainLimit > 0)
        add("--train-limit", std::to_string(trainLimit));
    add("--bench-threads", std::to_string(o.benchThreads));
    add("--iterations", std::to_string(o.benchIterations));
    if (o.threads > 0)
        add("--threads", std::to_string(o.threads));
    if (!o.measure)
        a.push_back("--no-measure");
    addInputArguments(a, pre, o.inputs, "compress");
    return a;
}

std::vector<std::string> sensitivityCommand(const std::string &modelSpec, const std::string &dataSpec,
                                            const Preprocess &pre, const SensitivityOptions &o)
{
    if (o.granularity == Granularity::Group && o.groupSize != SensitivityOptions{}.groupSize)
        throw Error("a plan sweeps groups of " + std::to_string(SensitivityOptions{}.groupSize) + " only");
    std::vector<std::string> a{"sensitivity", modelSpec, "--data", dataSpec};
    auto add = [&](const std::string &flag, const std::string &value) {
        a.push_back(flag);
        a.push_back(value);
    };
    add("--limit", std::to_string(o.limit));
    add("--batch", std::to_string(o.batchSize));
    add("--prune", joined(o.pruneRatios));
    add("--bits", joined(o.bits));
    add("--granularity", o.granularity == Granularity::Tensor ? "tensor"
                         : o.granularity == Granularity::Group ? "group"
                                                                : "channel");
    add("--metric", sensitivityMetricName(o.metric));
    if (o.threads > 0)
        add("--threads", std::to_string(o.threads));
    if (!o.cacheActivations)
        a.push_back("--no-cache");
    for (const std::string &l : o.layers)
        add("--layer", l);
    addInputArguments(a, pre, o.inputs, "sensitivity");
    return a;
}

std::vector<std::string> evaluateCommand(const std::string &modelSpec, const std::string &dataSpec,
                                         const Preprocess &pre, const EvalOptions &o)
{
    std::vector<std::string> a{"eval", modelSpec, "--data", dataSpec};
    if (o.limit > 0) {
        a.push_back("--limit");
        a.push_back(std::to_string(o.limit));
    }
    if (o.batchSize > 0) {
        a.push_back("--batch");
        a.push_back(std::to_string(o.batchSize));
    }
    addInputArguments(a, pre, o.inputs, "eval");
    return a;
}

SweepPlan lmSensitivityPlan(const std::vector<std::string> &command, const std::string &modelSpec,
                            const lm::LanguageModel &model, const std::string &textSpec,
                            const std::vector<std::string> &tensors, const std::string &directory)
{
    SweepPlan plan = newPlan("lm-sensitivity", command, modelSpec, directory);
    plan.data.push_back(textRecord("text", textSpec));
    const std::vector<std::string> all = lm::sensitivityTensors(model);
    for (const std::string &t : tensors)
        if (std::find(all.begin(), all.end(), t) == all.end())
            throw Error("'" + t + "' is not a matrix the sweep tests");
    plan.items = tensors.empty() ? all : tensors;
    if (plan.items.empty())
        throw Error("'" + modelSpec + "' has no weight matrix to sweep");
    return plan;
}

std::vector<std::string> lmSensitivityCommand(const std::string &modelSpec, const std::string &textSpec,
                                              const lm::SensitivityOptions &o)
{
    if (o.perplexity.ctx > 0)
        throw Error("a plan measures with the model's own context; leave the context at its default");
    if (o.blocks)
        throw Error("whole blocks are measured in one run, not by a plan's shards (one matrix at a time)");
    if (o.granularity == Granularity::Group && o.groupSize != lm::SensitivityOptions{}.groupSize)
        throw Error("a plan sweeps groups of " + std::to_string(lm::SensitivityOptions{}.groupSize) + " only");
    std::vector<std::string> a{"sensitivity", modelSpec, "--data", textSpec};
    auto add = [&](const std::string &flag, const std::string &value) {
        a.push_back(flag);
        a.push_back(value);
    };
    if (o.perplexity.chunks > 0)
        add("--limit", std::to_string(o.perplexity.chunks));
    add("--bits", joined(o.bits));
    add("--granularity", o.granularity == Granularity::Tensor ? "tensor"
                         : o.granularity == Granularity::Group ? "group"
                                                                : "channel");
    add("--prune", joined(o.prune));
    if (!o.formats.empty())
        add("--formats", joined(o.formats));
    if (o.perplexity.threads > 0)
        add("--threads", std::to_string(o.perplexity.threads));
    for (const std::string &t : o.tensors)
        add("--layer", t);
    return a;
}

std::vector<std::string> distillCommand(const std::string &teacherSpec, const StudentSpec &s,
                                        const DistillJobOptions &o, const std::string &evalSpec,
                                        const std::string &trainSpec, const Preprocess &pre, int64_t evalLimit)
{
    if (!o.measure.inputs.tensors.empty() || !o.measure.inputs.values.empty() || !o.measure.inputs.shapes.empty())
        throw Error("cwb distill feeds the first graph input only: a teacher with more inputs cannot be planned");
    std::vector<std::string> a{"distill", teacherSpec};
    auto add = [&](const std::string &flag, const std::string &value) {
        a.push_back(flag);
        a.push_back(value);
    };
    switch (s.kind) {
    case StudentKind::Slim:
        if (s.factor < 1.0)
            add("--slim", exact(s.factor));
        if (s.dropBlocks)
            a.push_back("--drop-blocks");
        break;
    case StudentKind::File: add("--student", s.path); break;
    case StudentKind::Arch:
        add("--arch", s.arch);
        add("--width", exact(s.width));
        break;
    }
    if (s.fresh && s.kind != StudentKind::Arch)
        a.push_back("--fresh");
    const DistillConfig &d = o.distill;
    add("--temperature", exact(d.temperature));
    add("--alpha", exact(d.alpha));
    if (!d.features.empty()) {
        add("--features", joined(d.features));
        add("--feature-loss", toString(d.featureLoss));
        add("--feature-weight", exact(d.featureWeight));
    }
    const TrainOptions &t = o.train;
    add("--epochs", std::to_string(t.epochs));
    add("--lr", exact(t.lr));
    add("--batch", std::to_string(t.batchSize));
    add("--seed", std::to_string(t.seed));
    if (t.augment.shift > 0)
        add("--augment-shift", std::to_string(t.augment.shift));
    if (t.augment.flip)
        a.push_back("--augment-flip");
    if (!evalSpec.empty())
        add("--data", evalSpec);
    add("--train-data", trainSpec);
    add("--limit", std::to_string(evalLimit));
    if (t.limit > 0)
        add("--train-limit", std::to_string(t.limit));
    const int threads = o.measure.threads > 0 ? o.measure.threads : t.threads;
    if (threads > 0)
        add("--threads", std::to_string(threads));
    add("--bench-threads", std::to_string(o.measure.benchThreads));
    add("--iterations", std::to_string(o.measure.benchIterations));
    if (!o.measure.measure)
        a.push_back("--no-measure");
    addInputArguments(a, pre, {}, "distill");
    return a;
}

SweepPlan distillPlan(const std::vector<std::string> &command, const std::string &teacherSpec,
                      const std::optional<std::string> &evalData, const std::string &trainData,
                      const std::string &studentFile, const std::string &name, const std::string &directory)
{
    SweepPlan plan = newPlan("distill", command, teacherSpec, directory);
    if (evalData)
        plan.data.push_back(datasetRecord("evaluation", *evalData));
    plan.data.push_back(datasetRecord("training", trainData));
    if (!studentFile.empty()) // (checked like the data before a shard computes)
        plan.data.push_back({"student", studentFile, {digestFile(studentFile)}});
    plan.items = {name.empty() ? std::string("student") : name};
    return plan;
}

std::string planPath(const SweepPlan &plan, const std::string &path)
{
    if (builtIn(path) || fs::path(path).is_absolute())
        return path;
    return (fs::path(plan.directory) / path).lexically_normal().string();
}

std::pair<int, int> parseShard(const std::string &text)
{
    const auto slash = text.find('/');
    auto number = [&](const std::string &s) {
        if (s.empty() || s.size() > 6 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
            throw Error("--shard expects I/N with 0 <= I < N, got '" + text + "'");
        return std::stoi(s);
    };
    if (slash == std::string::npos)
        number("");
    const int index = number(text.substr(0, slash)), count = number(text.substr(slash + 1));
    if (count < 1 || index >= count)
        throw Error("--shard expects I/N with 0 <= I < N, got '" + text + "'");
    return {index, count};
}

std::vector<std::string> shardItems(const SweepPlan &plan, int index, int count)
{
    std::vector<std::string> out;
    for (size_t i = size_t(index); i < plan.items.size(); i += size_t(count))
        out.push_back(plan.items[i]);
    return out;
}

void checkPlanInputs(const SweepPlan &plan)
{
    if (plan.tool != toolDescription())
        throw Error("the plan was written by " + plan.tool + ", and this is " + toolDescription() +
                    ": run every shard with the cwb that wrote the plan");
    std::error_code ec;
    if (!plan.model.path.empty()) {
        const FileDigest now = modelDigest(planPath(plan, plan.model.path));
        if (now.sha256 != plan.model.sha256)
            throw Error("the model " + q(plan.model.path) + " changed since the plan was written (SHA-256 " +
                        now.sha256.substr(0, 12) + ", the plan's " + plan.model.sha256.substr(0, 12) + ")");
    } else if (modelDigest(plan.modelSpec).sha256 != plan.model.sha256) {
        throw Error("the built-in model " + q(plan.modelSpec) + " of this cwb is not the plan's");
    }
    for (const DatasetRecord &d : plan.data)
        for (const FileDigest &f : d.files)
            if (digestFile(planPath(plan, f.path)).sha256 != f.sha256)
                throw Error("the data file " + q(f.path) + " changed since the plan was written");
}

void writePart(const SweepPart &part, const std::string &path)
{
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    ojson doc = {{"plan", planJson(part.plan)},
                 {"plan_sha256", planDigest(part.plan)},
                 {"shard", part.shard},
                 {"shards", part.shards},
                 {"tool", part.tool},
                 {"host", part.host.empty() ? std::string(host) : part.host},
                 {"seconds", part.seconds},
                 {"result", part.result.empty() ? ojson(nullptr) : ojson::parse(part.result)}};
    BundleContents contents{kPartFormat, kSweepFormatVersion, {}, {}, {}};
    if (carriesLmProject(part.plan.kind)) {
        doc["lm_project"] = ojson::parse(lmProjectDocument(part.lm));
        contents.blobs = lmProjectBlobs(part.lm);
    } else if (makesVariants(part.plan.kind)) {
        ojson variants = ojson::array();
        for (size_t i = 0; i < part.variants.size(); ++i) {
            const std::string key = "item" + std::to_string(i);
            variants.push_back({{"item", part.variants[i].first}, {"key", key}});
            contents.models.emplace_back(key, &part.variants[i].second);
        }
        doc["variants"] = variants;
        doc["base_metrics"] = part.baseMetrics.empty() ? ojson(nullptr) : ojson::parse(part.baseMetrics);
    }
    contents.document = doc.dump();
    writeBundle(contents, path);
}

SweepPart readPart(const std::string &path)
{
    Bundle b = readBundle(path, kPartFormat, kSweepFormatVersion);
    SweepPart part = partFromJson(b.document, path);
    if (carriesLmProject(part.plan.kind))
        part.lm = lmProjectFromParts(part.lmDocument, std::move(b.blobs), path);
    for (size_t i = 0; i < part.variants.size(); ++i) {
        const auto it = b.models.find(part.variantKeys[i]);
        if (it == b.models.end())
            throw Error(q(path) + ": the variant of '" + part.variants[i].first + "' is missing");
        part.variants[i].second = std::move(it->second);
    }
    return part;
}

SweepPart partFromJson(const std::string &document, const std::string &path)
{
    try {
        const ojson doc = ojson::parse(document);
        SweepPart p;
        p.plan = planFrom(doc.at("plan"));
        if (doc.at("plan_sha256").get<std::string>() != planDigest(p.plan))
            throw Error("its plan does not match the plan's digest");
        p.shard = integerFromJson<int>(doc, "shard");
        p.shards = integerFromJson<int>(doc, "shards");
        if (p.shards < 1 || p.shard < 0 || p.shard >= p.shards)
            throw Error("shard " + std::to_string(p.shard) + " of " + std::to_string(p.shards));
        p.tool = doc.at("tool").get<std::string>();
        p.host = doc.value("host", "");
        p.seconds = doc.value("seconds", 0.0);
        if (carriesLmProject(p.plan.kind)) {
            p.lmDocument = doc.at("lm_project").dump();
        } else if (!makesVariants(p.plan.kind)) {
            p.result = doc.at("result").dump();
        } else {
            for (const ojson &v : doc.at("variants")) {
                p.variants.emplace_back(v.at("item").get<std::string>(), Model{});
                p.variantKeys.push_back(v.at("key").get<std::string>());
            }
            if (!doc.at("base_metrics").is_null())
                p.baseMetrics = doc.at("base_metrics").dump();
        }
        return p;
    } catch (const nlohmann::json::exception &e) {
        throw Error(q(path) + ": not a valid sweep part (" + e.what() + ")");
    } catch (const Error &e) {
        throw Error(q(path) + ": " + e.what());
    }
}

namespace {

// The parts checked against each other: one plan (of `kind`), one shard count, one tool, each shard once, none
// missing.
void checkParts(const std::vector<std::pair<std::string, SweepPart>> &parts, const char *kind)
{
    if (parts.empty())
        throw Error("no parts to merge");
    const std::string &firstName = parts.front().first; // (clang 14 cannot capture a structured binding)
    const SweepPart &first = parts.front().second;
    if (first.plan.kind != kind)
        throw Error(q(firstName) + " is a part of a \"" + first.plan.kind + "\" sweep, not \"" + kind + "\"");
    const std::string digest = planDigest(first.plan);
    std::map<int, std::string> shards; // index -> file
    for (const auto &[name, part] : parts) {
        if (planDigest(part.plan) != digest)
            throw Error(q(name) + " belongs to another sweep than " + q(firstName) +
                        " (a different plan: model, data, options or items)");
        if (part.shards != first.shards)
            throw Error(q(name) + " is a shard of " + std::to_string(part.shards) + ", " + q(firstName) + " of " +
                        std::to_string(first.shards));
        if (part.tool != first.tool)
            throw Error(q(name) + " was computed by " + part.tool + ", " + q(firstName) + " by " + first.tool);
        if (const auto it = shards.find(part.shard); it != shards.end())
            throw Error("shard " + std::to_string(part.shard) + " is given twice: " + q(it->second) + " and " + q(name));
        shards[part.shard] = name;
    }
    for (int s = 0; s < first.shards; ++s)
        if (!shards.count(s))
            throw Error("shard " + std::to_string(s) + " of " + std::to_string(first.shards) +
                        " is missing (its items: " + [&] {
                            std::string list;
                            for (const std::string &i : shardItems(first.plan, s, first.shards))
                                list += (list.empty() ? "" : ", ") + i;
                            return list;
                        }() + ")");
}

// Records that `item` came from part `name`, refusing an item of another shard or one seen before.
void claimItem(std::map<std::string, std::string> &itemFile, const std::string &item, const std::string &name,
               const SweepPart &part)
{
    const std::vector<std::string> expected = shardItems(part.plan, part.shard, part.shards);
    if (std::find(expected.begin(), expected.end(), item) == expected.end())
        throw Error(q(name) + " holds " + q(item) + ", which is not an item of its shard");
    if (const auto it = itemFile.find(item); it != itemFile.end())
        throw Error(q(item) + " is in both " + q(it->second) + " and " + q(name));
    itemFile[item] = name;
}

// Equal, or both NaN (a fidelity sweep has no accuracy or loss).
bool same(double a, double b)
{
    return a == b || (std::isnan(a) && std::isnan(b));
}

std::string missingItem(const SweepPlan &plan, int shards, const std::string &item)
{
    const auto at = std::find(plan.items.begin(), plan.items.end(), item) - plan.items.begin();
    return "the item " + q(item) + " is in no part (shard " + std::to_string(at % shards) + " should hold it)";
}

} // namespace

SensitivityResult mergeSensitivity(const std::vector<std::pair<std::string, SweepPart>> &parts)
{
    checkParts(parts, "sensitivity");
    const std::string &firstName = parts.front().first; // (clang 14 cannot capture a structured binding)
    const SweepPart &first = parts.front().second;
    std::map<std::string, LayerSensitivity> layers;
    std::map<std::string, std::string> itemFile;
    SensitivityResult merged;
    bool haveBase = false;
    for (const auto &[name, part] : parts) {
        SensitivityResult r = sensitivityFromJson(part.result);
        if (!haveBase) {
            merged = r;
            merged.layers.clear();
            merged.seconds = 0;
            haveBase = true;
        } else if (!same(r.baselineAccuracy, merged.baselineAccuracy) || !same(r.baselineLoss, merged.baselineLoss) ||
                   r.samples != merged.samples || r.metric != merged.metric) {
            throw Error(q(name) + " measured another baseline than " + q(firstName) +
                        " (the data or the program differed)");
        }
        merged.seconds += r.seconds;
        for (LayerSensitivity &l : r.layers) {
            claimItem(itemFile, l.name, name, part);
            layers[l.name] = std::move(l);
        }
    }
    for (const std::string &item : first.plan.items) {
        const auto it = layers.find(item);
        if (it == layers.end())
            throw Error(missingItem(first.plan, first.shards, item));
        merged.layers.push_back(std::move(it->second));
    }
    computeSpearman(merged);
    return merged;
}

lm::SensitivityResult mergeLmSensitivity(const std::vector<std::pair<std::string, SweepPart>> &parts)
{
    checkParts(parts, "lm-sensitivity");
    const std::string &firstName = parts.front().first; // (clang 14 cannot capture a structured binding)
    const SweepPart &first = parts.front().second;
    std::map<std::string, std::vector<lm::SensitivityRow>> rows; // by tensor
    std::map<std::string, std::string> itemFile;
    lm::SensitivityResult merged;
    bool haveBase = false;
    for (const auto &[name, part] : parts) {
        lm::SensitivityResult r = lm::sensitivityFromJson(part.result, name);
        if (!haveBase) {
            merged = r;
            merged.rows.clear();
            haveBase = true;
        } else if (!same(r.basePerplexity, merged.basePerplexity) || r.scored != merged.scored || r.ctx != merged.ctx) {
            throw Error(q(name) + " measured another base than " + q(firstName) +
                        " (the text or the program differed)");
        }
        for (lm::SensitivityRow &row : r.rows) {
            if (!rows.count(row.tensor))
                claimItem(itemFile, row.tensor, name, part);
            else if (itemFile[row.tensor] != name)
                throw Error(q(row.tensor) + " is in both " + q(itemFile[row.tensor]) + " and " + q(name));
            rows[row.tensor].push_back(std::move(row));
        }
    }
    for (const std::string &item : first.plan.items) {
        const auto it = rows.find(item);
        if (it == rows.end())
            throw Error(missingItem(first.plan, first.shards, item));
        for (lm::SensitivityRow &row : it->second)
            merged.rows.push_back(std::move(row));
    }
    return merged;
}

namespace {

// Every item's list of scores (the rows of each item in the parts' results), in plan order, with `read` turning a row
// into a score; `perItem(begin, end)` is how many rows an item of that range must have. A result's "batch_size" must
// be the same in every part (*batchSize receives it; 0 when there is none).
template <class Score>
std::vector<Score> mergeRanges(const std::vector<std::pair<std::string, SweepPart>> &parts, const char *kind,
                               int64_t *batchSize, const std::function<int64_t(int64_t, int64_t)> &perItem,
                               const std::function<Score(const ojson &)> &read)
{
    checkParts(parts, kind);
    const SweepPlan &plan = parts.front().second.plan;
    std::map<std::string, std::vector<Score>> byItem;
    std::map<std::string, std::string> itemFile;
    *batchSize = -1;
    for (const auto &[name, part] : parts) try {
        const ojson doc = ojson::parse(part.result);
        const int64_t batch = integerFromJson(doc, "batch_size", int64_t(0));
        if (*batchSize >= 0 && batch != *batchSize)
            throw Error(q(name) + " scored batches of " + std::to_string(batch) + ", " + q(parts.front().first) +
                        " of " + std::to_string(*batchSize));
        *batchSize = batch;
        const ojson &result = doc.at("items");
        if (!result.is_object())
            throw Error(q(name) + ": its result is not an object of items");
        for (auto it = result.begin(); it != result.end(); ++it) {
            claimItem(itemFile, it.key(), name, part);
            const auto [begin, end] = parseRange(it.key());
            if (!it.value().is_array() || int64_t(it.value().size()) != perItem(begin, end))
                throw Error(q(name) + ": the item " + q(it.key()) + " holds " +
                            std::to_string(it.value().is_array() ? it.value().size() : 0) + " scores, not " +
                            std::to_string(perItem(begin, end)));
            std::vector<Score> &scores = byItem[it.key()];
            for (const ojson &row : it.value())
                scores.push_back(read(row));
        }
    } catch (const nlohmann::json::exception &e) {
        throw Error(q(name) + ": not a valid result (" + e.what() + ")");
    }
    std::vector<Score> all;
    for (const std::string &item : plan.items) {
        const auto it = byItem.find(item);
        if (it == byItem.end())
            throw Error(missingItem(plan, parts.front().second.shards, item));
        all.insert(all.end(), it->second.begin(), it->second.end());
    }
    return all;
}

} // namespace

EvalResult mergeEvaluation(const std::vector<std::pair<std::string, SweepPart>> &parts)
{
    int64_t batchSize = 0;
    const std::vector<BatchScore> batches = mergeRanges<BatchScore>(
        parts, "evaluate", &batchSize,
        [&](int64_t b, int64_t e) {
            if (batchSize < 1)
                throw Error("parts scored in batches of " + std::to_string(batchSize));
            return (e - b + batchSize - 1) / batchSize;
        },
        [](const ojson &row) {
            return BatchScore{integerFromJson(row.at(0)), integerFromJson(row.at(1)), row.at(2).get<double>()};
        });
    return evalResult(batches, parseRange(parts.front().second.plan.items.back()).second);
}

lm::PerplexityResult mergePerplexity(const std::vector<std::pair<std::string, SweepPart>> &parts)
{
    int64_t unused = 0;
    return lm::perplexityOf(mergeRanges<lm::ChunkScore>(
        parts, "lm-perplexity", &unused, [](int64_t b, int64_t e) { return e - b; },
        [](const ojson &row) { return lm::ChunkScore{row.at(0).get<double>(), integerFromJson(row.at(1))}; }));
}

MergedVariants mergeVariants(const std::vector<std::pair<std::string, SweepPart>> &parts)
{
    checkParts(parts, !parts.empty() && parts.front().second.plan.kind == "distill" ? "distill" : "recipes");
    const std::string &firstName = parts.front().first; // (clang 14 cannot capture a structured binding)
    const SweepPart &first = parts.front().second;
    std::map<std::string, Variant> variants;
    std::map<std::string, std::string> itemFile;
    MergedVariants merged;
    for (const auto &[name, part] : parts) {
        if (!part.baseMetrics.empty()) {
            const VariantMetrics base = metricsFromJson(part.baseMetrics);
            if (!merged.base)
                merged.base = base;
            else if (base.accuracy != merged.base->accuracy || base.samples != merged.base->samples)
                throw Error(q(name) + " measured another base than " + q(firstName) +
                            " (the data or the program differed)");
        }
        for (const auto &[item, model] : part.variants) {
            claimItem(itemFile, item, name, part);
            variants[item] = variantFromModel(model, item);
        }
    }
    for (const std::string &item : first.plan.items) {
        const auto it = variants.find(item);
        if (it == variants.end())
            throw Error(missingItem(first.plan, first.shards, item));
        merged.variants.push_back(std::move(it->second));
    }
    return merged;
}

LmProject mergeLmVariants(const std::vector<std::pair<std::string, SweepPart>> &parts)
{
    checkParts(parts, "lm-recipes");
    const SweepPart &first = parts.front().second;
    std::map<std::string, LmProjectVariant> variants;
    std::map<std::string, std::string> itemFile;
    for (const auto &[name, part] : parts)
        for (const LmProjectVariant &v : part.lm.variants) {
            claimItem(itemFile, v.name, name, part);
            variants[v.name] = v;
        }
    LmProject merged;
    merged.baseSpec = planPath(first.plan, first.plan.modelSpec);
    merged.baseFile = first.plan.model;
    for (const std::string &item : first.plan.items) {
        const auto it = variants.find(item);
        if (it == variants.end())
            throw Error(missingItem(first.plan, first.shards, item));
        LmProjectVariant v = std::move(it->second);
        v.provenance.command = cwbCommandLine(first.plan.command) + " --recipe " + shellQuoted(item + ".json");
        v.provenance.directory = first.plan.directory;
        merged.variants.push_back(std::move(v));
    }
    return merged;
}

bool mergesIntoProject(const std::string &kind)
{
    return kind != "evaluate" && kind != "lm-perplexity";
}

std::optional<std::string> commandOption(const std::vector<std::string> &command, const std::string &option)
{
    std::optional<std::string> value;
    for (size_t i = 0; i < command.size(); ++i) {
        if (command[i] == option && i + 1 < command.size())
            value = command[++i];
        else if (command[i].rfind(option + "=", 0) == 0)
            value = command[i].substr(option.size() + 1);
    }
    return value;
}

LmProject mergeLmMatrices(const std::vector<std::pair<std::string, SweepPart>> &parts)
{
    checkParts(parts, "lm-matrices");
    const SweepPlan &plan = parts.front().second.plan;
    // Every item's tensor result and encoding, from the part that holds it.
    std::map<std::string, const lm::LmTensorResult *> results;
    std::map<std::string, const lm::EncodedTensor *> encodings;
    std::map<std::string, std::string> itemFile;
    const lm::LmCompressResult *layout = nullptr; // every tensor of the checkpoint, in file order
    int64_t calibrationTokens = 0;
    for (const auto &[name, part] : parts) {
        if (part.lm.variants.size() != 1 || !part.lm.variants.front().result)
            throw Error(q(name) + " holds " + std::to_string(part.lm.variants.size()) +
                        " variants; a part of a recipe computed by matrix holds one");
        const lm::LmCompressResult &r = *part.lm.variants.front().result;
        layout = layout ? layout : &r;
        calibrationTokens = std::max(calibrationTokens, r.calibrationTokens);
        for (const lm::LmTensorResult &t : r.tensors) {
            if (!t.changed)
                continue;
            claimItem(itemFile, t.name, name, part);
            const auto enc = r.encoded.find(t.name);
            if (enc == r.encoded.end())
                throw Error(q(name) + " holds no encoding of " + q(t.name));
            results[t.name] = &t;
            encodings[t.name] = &enc->second;
        }
    }
    auto result = std::make_shared<lm::LmCompressResult>();
    result->calibrationTokens = calibrationTokens;
    for (const std::string &item : plan.items) {
        if (!results.count(item))
            throw Error(missingItem(plan, parts.front().second.shards, item));
        result->encoded[item] = *encodings.at(item);
    }
    for (const lm::LmTensorResult &t : layout->tensors) {
        const auto it = results.find(t.name);
        if (it == results.end() && t.changed)
            throw Error(q(t.name) + " is compressed by a part but is no item of the plan");
        result->tensors.push_back(it != results.end() ? *it->second : t);
        result->bytes += result->tensors.back().bytes;
        result->params += result->tensors.back().params;
    }
    LmProjectVariant v;
    v.recipe = recipeFromJson(plan.recipes.front());
    v.name = v.recipe.name;
    v.result = std::move(result);
    v.provenance = currentProvenance();
    v.provenance.command = cwbCommandLine(plan.command) + " --recipe " + shellQuoted(v.name + ".json");
    v.provenance.directory = plan.directory;
    for (const DatasetRecord &d : plan.data)
        (d.role == "training" ? v.provenance.trainData : v.provenance.evalData) = d.spec;
    LmProject merged;
    merged.baseSpec = planPath(plan, plan.modelSpec);
    merged.baseFile = plan.model;
    merged.variants.push_back(std::move(v));
    return merged;
}

std::vector<ProjectVariant> projectVariants(const SweepPlan &plan, std::vector<Variant> variants)
{
    const std::string command = cwbCommandLine(plan.command);
    std::vector<ProjectVariant> out;
    const bool distilled = plan.kind == "distill";
    for (Variant &v : variants) {
        ProjectVariant pv{std::move(v), distilled ? "distill" : "compress", currentProvenance()};
        pv.provenance.command = distilled ? command : command + " --recipe " + shellQuoted(pv.variant.name + ".json");
        pv.provenance.directory = plan.directory;
        for (const DatasetRecord &d : plan.data)
            (d.role == "training" ? pv.provenance.trainData : pv.provenance.evalData) = d.spec;
        out.push_back(std::move(pv));
    }
    return out;
}

SweepPlan recipesPlan(const std::vector<std::string> &command, const std::string &modelSpec,
                      const std::vector<Recipe> &recipes, const std::optional<std::string> &evalData,
                      const std::optional<std::string> &trainData, const std::string &directory)
{
    SweepPlan plan = newPlan("recipes", command, modelSpec, directory);
    if (evalData)
        plan.data.push_back(datasetRecord("evaluation", *evalData));
    if (trainData)
        plan.data.push_back(datasetRecord("training", *trainData));
    for (size_t i = 0; i < recipes.size(); ++i) {
        const std::string name = recipes[i].name.empty() ? "recipe " + std::to_string(i + 1) : recipes[i].name;
        if (std::find(plan.items.begin(), plan.items.end(), name) != plan.items.end())
            throw Error("two recipes are named '" + name + "': give each its own \"name\"");
        plan.items.push_back(name);
        plan.recipes.push_back(recipeToJson(recipes[i], -1));
    }
    if (plan.items.empty())
        throw Error("a plan of recipes needs at least one recipe");
    return plan;
}

SweepPlan lmRecipesPlan(const std::vector<std::string> &command, const std::string &modelSpec,
                        const std::vector<Recipe> &recipes, const std::string &evalText,
                        const std::optional<std::string> &trainText, const std::string &directory)
{
    SweepPlan plan = recipesPlan(command, modelSpec, recipes, std::nullopt, std::nullopt, directory);
    plan.kind = "lm-recipes";
    plan.data.push_back(textRecord("evaluation", evalText));
    if (trainText)
        plan.data.push_back(textRecord("training", *trainText));
    return plan;
}

SweepPlan lmMatricesPlan(const std::vector<std::string> &command, const std::string &modelSpec,
                         const lm::LanguageModel &model, const Recipe &recipe, const std::string &evalText,
                         const std::optional<std::string> &trainText, const std::string &directory)
{
    if (recipe.sequential)
        throw Error("a recipe is computed by matrix only when it is not sequential (\"sequential\": false): GPTQ's "
                    "sequential procedure calibrates each block on the blocks before it as compressed");
    if (recipe.finetune.epochs > 0)
        throw Error("a recipe computed by matrix cannot fine-tune (\"finetune\" trains the whole model at once)");
    if (recipe.name.empty())
        throw Error("a recipe computed by matrix needs a name (its variant's)");
    lm::validateLmRecipe(recipe, model, trainText.has_value());
    SweepPlan plan = newPlan("lm-matrices", command, modelSpec, directory);
    plan.items = lm::recipeTensors(recipe, model);
    if (plan.items.empty())
        throw Error("the recipe compresses no tensor of " + q(modelSpec));
    plan.recipes.push_back(recipeToJson(recipe, -1));
    plan.data.push_back(textRecord("evaluation", evalText));
    if (trainText)
        plan.data.push_back(textRecord("training", *trainText));
    return plan;
}

} // namespace cw::cluster
