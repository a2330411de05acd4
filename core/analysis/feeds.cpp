// Feeds for every graph input: given tensors, constant values or seeded random data of a resolved shape.
//
// Symbols are resolved by binding: each source that fixes sizes (given tensors, explicit input shapes, explicit
// symbol sizes, the batch size) binds the symbols it covers, and a second binding of a symbol to another size
// is an error naming both sources, so a model's inputs always agree with each other (silero-vad's audio
// [batch, sequence] and state [2, batch, 64] get the same batch). Only then are the shapes of the inputs that
// are not given read off their declarations.
#include "core/analysis/feeds.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <random>

#include "core/base/error.h"
#include "core/io/dataset.h"

namespace cw {

namespace {

std::string joinNames(const std::vector<std::string> &names)
{
    std::string s;
    for (const std::string &n : names)
        s += (s.empty() ? "" : ", ") + n;
    return s.empty() ? std::string("none") : s;
}

std::string numberText(double v)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

struct Binding {
    int64_t size = 0;
    std::string source;
};

template <typename T, typename Gen> void fillWith(Tensor &t, Gen gen)
{
    T *p = t.data<T>();
    const int64_t n = t.numel();
    for (int64_t i = 0; i < n; ++i)
        p[i] = T(gen());
}

// Every element of `shape` set to `value`, in `dtype`: integers directly (an int64 value above 2^24 stays exact),
// floats through float32.
Tensor filled(DType dtype, const Shape &shape, double value)
{
    Tensor t(dtype, shape);
    switch (dtype) {
    case DType::Int8: fillWith<int8_t>(t, [&] { return std::llround(value); }); return t;
    case DType::UInt8: fillWith<uint8_t>(t, [&] { return std::llround(value); }); return t;
    case DType::Int32: fillWith<int32_t>(t, [&] { return std::llround(value); }); return t;
    case DType::Int64: fillWith<int64_t>(t, [&] { return std::llround(value); }); return t;
    default: break;
    }
    Tensor f(DType::Float32, shape);
    fillWith<float>(f, [&] { return float(value); });
    return dtype == DType::Float32 ? f : f.castTo(dtype);
}

// Whether `v` is representable in `dtype`: any number for the float types, an integer in range otherwise.
bool fitsIn(DType dtype, double v)
{
    if (isFloatType(dtype))
        return true;
    if (!std::isfinite(v) || v != std::round(v))
        return false;
    switch (dtype) {
    case DType::Int8: return v >= -128 && v <= 127;
    case DType::UInt8: return v >= 0 && v <= 255;
    case DType::Int32: return v >= -2147483648.0 && v <= 2147483647.0;
    default: return v >= -9.2e18 && v <= 9.2e18;
    }
}

// Adds to `symbols` every symbol that FeedOptions::sameSize ties to one of them, through chains too.
void addSameSize(std::set<std::string> &symbols, const std::map<std::string, std::string> &sameSize)
{
    for (bool grew = true; grew;) {
        grew = false;
        for (const auto &[a, b] : sameSize)
            if (symbols.count(a) != symbols.count(b)) {
                symbols.insert(a);
                symbols.insert(b);
                grew = true;
            }
    }
}

} // namespace

FeedPlan planFeeds(const Graph &graph, const FeedOptions &options)
{
    std::vector<std::string> inputNames;
    std::map<std::string, const ValueInfo *> byName;
    std::set<std::string> known;      // the symbols of the inputs' declarations
    std::vector<std::string> symbols; // the same, in order of first appearance
    for (const ValueInfo &in : graph.inputs) {
        inputNames.push_back(in.name);
        byName[in.name] = &in;
        if (!in.shapeKnown)
            continue;
        for (size_t d = 0; d < in.shape.size(); ++d) {
            const std::string s = symbolOf(in, d);
            if (s.empty())
                continue;
            if (known.insert(s).second)
                symbols.push_back(s);
        }
    }
    auto requireInput = [&](const std::string &name, const char *what) {
        if (!byName.count(name))
            throw Error(std::string(what) + " for '" + name + "', which is not a graph input (inputs: " +
                        joinNames(inputNames) + ")");
    };
    for (const auto &[name, t] : options.tensors)
        requireInput(name, "data given");
    for (const auto &[name, v] : options.values) {
        requireInput(name, "a value given");
        if (options.tensors.count(name))
            throw Error("graph input '" + name + "' is given both data and a value; give one");
        if (!fitsIn(byName.at(name)->dtype, v))
            throw Error("value " + numberText(v) + " given for graph input '" + name + "' does not fit its dtype " +
                        dtypeName(byName.at(name)->dtype));
    }
    for (const auto &[name, shape] : options.shapes) {
        for (int64_t d : shape)
            if (d < 0)
                throw Error("shape " + shapeToString(shape) + " given for '" + name + "' has a negative size");
        if (byName.count(name)) {
            if (options.tensors.count(name))
                throw Error("graph input '" + name + "' is given both data and a shape; give one (data has a shape)");
            continue;
        }
        if (!known.count(name))
            throw Error("a shape is given for '" + name + "', which is neither a graph input (" +
                        joinNames(inputNames) + ") nor a dimension symbol of one (" + joinNames(symbols) + ")");
        if (shape.size() != 1)
            throw Error("'" + name + "' is a dimension symbol: give it one size, not " + shapeToString(shape));
    }

    for (const auto &[symbol, other] : options.sameSize)
        for (const std::string &s : {symbol, other})
            if (!known.count(s))
                throw Error("'" + symbol + "' is given the size of '" + other + "', but '" + s +
                            "' is not a dimension symbol of a graph input (" + joinNames(symbols) + ")");

    std::map<std::string, Binding> bound;
    auto bind = [&](const std::string &symbol, int64_t size, const std::string &source) {
        auto [it, fresh] = bound.emplace(symbol, Binding{size, source});
        if (!fresh && it->second.size != size)
            throw Error("dimension '" + symbol + "' is " + std::to_string(it->second.size) + " by " +
                        it->second.source + " but " + std::to_string(size) + " by " + source);
    };
    // A concrete shape for a declared input binds the symbols it covers. Given data of another rank binds
    // nothing (the session reports the mismatch); an explicit shape must fit the declaration.
    auto bindShape = [&](const ValueInfo &in, const Shape &shape, const std::string &source, bool strict) {
        if (!in.shapeKnown)
            return;
        bool fits = shape.size() == in.shape.size();
        for (size_t d = 0; fits && d < shape.size(); ++d)
            fits = in.shape[d] < 0 || in.shape[d] == shape[d];
        if (!fits) {
            if (strict)
                throw Error("shape " + shapeToString(shape) + " given for graph input '" + in.name +
                            "' does not fit its declared shape " + shapeToString(in));
            if (shape.size() != in.shape.size())
                return;
        }
        for (size_t d = 0; d < shape.size(); ++d) {
            const std::string s = symbolOf(in, d);
            if (!s.empty())
                bind(s, shape[d], source);
        }
    };
    for (const ValueInfo &in : graph.inputs) {
        auto t = options.tensors.find(in.name);
        if (t != options.tensors.end())
            bindShape(in, t->second.shape(),
                      "the data given for input '" + in.name + "' " + shapeToString(t->second.shape()), false);
    }
    for (const ValueInfo &in : graph.inputs) {
        auto s = options.shapes.find(in.name);
        if (s != options.shapes.end())
            bindShape(in, s->second, "the shape given for input '" + in.name + "' " + shapeToString(s->second), true);
    }
    for (const auto &[name, shape] : options.shapes)
        if (!byName.count(name))
            bind(name, shape[0], "the size given for '" + name + "'");

    // Symbols of one size: bound from each other until nothing changes (a chain binds in as many passes).
    auto bindSameSize = [&]() {
        for (bool changed = true; changed;) {
            changed = false;
            for (const auto &[a, b] : options.sameSize) {
                const auto ia = bound.find(a), ib = bound.find(b);
                if (ia != bound.end() && ib != bound.end()) {
                    bind(a, ib->second.size, "'" + b + "' (" + ib->second.source + "), whose size it has");
                } else if (ia != bound.end() || ib != bound.end()) {
                    const bool fromB = ib != bound.end();
                    const Binding from = fromB ? ib->second : ia->second;
                    bind(fromB ? a : b, from.size, "'" + (fromB ? b : a) + "' (" + from.source + "), whose size it has");
                    changed = true;
                }
            }
        }
    };

    FeedPlan plan;
    plan.batchSymbol = batchSymbol(graph);
    if (!plan.batchSymbol.empty() && options.batch > 0)
        bind(plan.batchSymbol, options.batch, "the batch size");
    bindSameSize();
    if (!plan.batchSymbol.empty()) {
        bound.emplace(plan.batchSymbol, Binding{1, "the default batch size"});
        plan.batch = bound.at(plan.batchSymbol).size;
        bindSameSize();
    }

    for (const ValueInfo &in : graph.inputs) {
        ResolvedInput r;
        r.name = in.name;
        r.dtype = in.dtype;
        auto given = options.tensors.find(in.name);
        auto explicitShape = options.shapes.find(in.name);
        if (given != options.tensors.end()) {
            r.shape = given->second.shape();
            r.dtype = given->second.dtype();
            r.source = FeedSource::Given;
        } else {
            r.source = options.values.count(in.name) ? FeedSource::Value : FeedSource::Random;
            if (explicitShape != options.shapes.end()) {
                r.shape = explicitShape->second;
            } else if (!in.shapeKnown) {
                throw Error("the shape of graph input '" + in.name +
                            "' is not declared in the model: give it with --shape " + in.name + "=d0,d1,...");
            } else {
                std::vector<std::string> missing;
                Shape hint = in.shape;
                for (size_t d = 0; d < in.shape.size(); ++d) {
                    if (in.shape[d] >= 0) {
                        r.shape.push_back(in.shape[d]);
                        continue;
                    }
                    const std::string s = symbolOf(in, d);
                    auto b = bound.find(s);
                    if (b != bound.end()) {
                        r.shape.push_back(b->second.size);
                        hint[d] = b->second.size;
                    } else {
                        missing.push_back(s);
                    }
                }
                if (!missing.empty()) {
                    std::string sizes, dims;
                    for (const std::string &s : missing) {
                        if (!sizes.empty())
                            sizes += ' ';
                        sizes.append("--shape ").append(s).append("=SIZE");
                    }
                    for (size_t d = 0; d < hint.size(); ++d) {
                        if (d)
                            dims += ',';
                        dims += hint[d] >= 0 ? std::to_string(hint[d]) : std::string("SIZE");
                    }
                    std::vector<std::string> quoted;
                    for (const std::string &s : missing)
                        quoted.push_back("'" + s + "'");
                    throw Error("graph input '" + in.name + "' " + shapeToString(in) + " has no size for " +
                                (missing.size() > 1 ? "its dimensions " : "its dimension ") + joinNames(quoted) +
                                ": give " + sizes + " (or the whole shape: --shape " + in.name + "=" + dims + ")");
                }
            }
        }
        plan.inputs.push_back(std::move(r));
    }

    if (plan.batchSymbol.empty()) {
        // No dynamic batch: the batch is what the first input holds, and a requested one must agree.
        const ResolvedInput *first = plan.inputs.empty() ? nullptr : &plan.inputs.front();
        plan.batch = first && !first->shape.empty() ? first->shape[0] : 1;
        if (options.batch > 0 && options.batch != plan.batch)
            throw Error("batch size " + std::to_string(options.batch) + " requested, but no graph input has a dynamic "
                        "leading dimension" + (first ? " (the first, '" + first->name + "', is " +
                                                           shapeToString(first->shape) + ")" : std::string()));
    }
    for (const auto &[symbol, b] : bound)
        plan.symbols[symbol] = b.size;
    return plan;
}

FeedOptions symbolSizes(const Graph &graph, const std::map<std::string, Shape> &inputShapes)
{
    const std::string batch = batchSymbol(graph);
    FeedOptions sizes;
    std::map<std::string, std::string> sources;
    for (const auto &entry : inputShapes) {
        const auto &[name, shape] = entry;
        const auto in = std::find_if(graph.inputs.begin(), graph.inputs.end(),
                                     [&](const ValueInfo &v) { return v.name == entry.first; });
        if (in == graph.inputs.end())
            throw Error("a shape is given for '" + name + "', which is not a graph input");
        if (!in->shapeKnown) { // nothing to check it against; the input keeps its whole shape
            for (int64_t d : shape)
                if (d < 1)
                    throw Error("shape " + shapeToString(shape) + " given for graph input '" + name +
                                "' has a size below 1");
            sizes.shapes[name] = shape;
            continue;
        }
        bool fits = shape.size() == in->shape.size();
        for (size_t d = 0; fits && d < shape.size(); ++d)
            fits = shape[d] >= 1 && (in->shape[d] < 0 || in->shape[d] == shape[d]);
        if (!fits)
            throw Error("shape " + shapeToString(shape) + " given for graph input '" + name +
                        "' does not fit its declared shape " + shapeToString(*in) + " (sizes of at least 1)");
        for (size_t d = 0; d < shape.size(); ++d) {
            const std::string s = symbolOf(*in, d);
            if (s.empty() || s == batch)
                continue;
            auto [it, fresh] = sizes.shapes.emplace(s, Shape{shape[d]});
            if (fresh)
                sources[s] = name;
            else if (it->second[0] != shape[d])
                throw Error("dimension '" + s + "' is " + std::to_string(it->second[0]) + " in the shape of input '" +
                            sources[s] + "' but " + std::to_string(shape[d]) + " in that of '" + name + "'");
        }
    }
    return sizes;
}

Shape firstInputShape(const Graph &graph, const FeedOptions &options)
{
    if (graph.inputs.empty())
        return {};
    const ValueInfo &in = graph.inputs.front();
    if (const auto whole = options.shapes.find(in.name); whole != options.shapes.end())
        return whole->second;
    if (!in.shapeKnown)
        return {};
    // A symbol's size, also through the symbols of one size (sameSize, either direction).
    const auto sizeOf = [&options](const std::string &symbol) -> int64_t {
        std::set<std::string> seen{symbol};
        addSameSize(seen, options.sameSize);
        for (const std::string &s : seen)
            if (const auto it = options.shapes.find(s); it != options.shapes.end() && it->second.size() == 1)
                return it->second[0];
        return -1;
    };
    Shape shape = in.shape;
    for (size_t d = 0; d < shape.size(); ++d)
        if (shape[d] < 0)
            shape[d] = sizeOf(symbolOf(in, d));
    return shape;
}

std::vector<std::string> unsizedSymbols(const Graph &graph, const FeedOptions &options, bool firstFromData)
{
    const std::string batch = batchSymbol(graph);
    std::set<std::string> fixed;
    for (size_t k = 0; k < graph.inputs.size(); ++k) {
        const ValueInfo &in = graph.inputs[k];
        if ((k == 0 && firstFromData) || options.tensors.count(in.name) || options.shapes.count(in.name))
            for (size_t d = 0; d < in.shape.size(); ++d)
                fixed.insert(symbolOf(in, d));
    }
    fixed.insert(batch);
    for (const auto &[symbol, size] : options.shapes)
        fixed.insert(symbol);
    addSameSize(fixed, options.sameSize); // a symbol of one size with a fixed one is fixed
    std::vector<std::string> missing;
    for (const ValueInfo &in : graph.inputs) {
        for (size_t d = 0; in.shapeKnown && d < in.shape.size(); ++d) {
            const std::string s = symbolOf(in, d);
            if (s.empty() || fixed.count(s) ||
                std::find(missing.begin(), missing.end(), s) != missing.end())
                continue;
            missing.push_back(s);
        }
    }
    return missing;
}

Tensor randomFeed(DType dtype, const Shape &shape, uint64_t seed, uint64_t stream)
{
    std::seed_seq seq{uint32_t(seed), uint32_t(seed >> 32), uint32_t(stream), uint32_t(stream >> 32)};
    std::mt19937 rng(seq);
    if (isFloatType(dtype)) {
        Tensor t(DType::Float32, shape);
        std::uniform_real_distribution<float> dist(-1.f, 1.f);
        fillWith<float>(t, [&] { return dist(rng); });
        return dtype == DType::Float32 ? t : t.castTo(dtype);
    }
    Tensor t(dtype, shape);
    std::uniform_int_distribution<int> small(0, 9), bit(0, 1);
    switch (dtype) {
    case DType::UInt8: fillWith<uint8_t>(t, [&] { return bit(rng); }); break;
    case DType::Int8: fillWith<int8_t>(t, [&] { return small(rng); }); break;
    case DType::Int32: fillWith<int32_t>(t, [&] { return small(rng); }); break;
    case DType::Int64: fillWith<int64_t>(t, [&] { return small(rng); }); break;
    default: break;
    }
    return t;
}

std::map<std::string, Tensor> makeFeeds(const FeedPlan &plan, const FeedOptions &options)
{
    std::map<std::string, Tensor> feeds;
    for (size_t k = 0; k < plan.inputs.size(); ++k) {
        const ResolvedInput &in = plan.inputs[k];
        switch (in.source) {
        case FeedSource::Given: feeds[in.name] = options.tensors.at(in.name); break;
        case FeedSource::Value: feeds[in.name] = filled(in.dtype, in.shape, options.values.at(in.name)); break;
        case FeedSource::Random: feeds[in.name] = randomFeed(in.dtype, in.shape, options.seed, k); break;
        }
    }
    return feeds;
}

std::map<std::string, Tensor> makeFeeds(const Graph &graph, const FeedOptions &options)
{
    return makeFeeds(planFeeds(graph, options), options);
}

namespace {

const ValueInfo &firstInput(const Graph &graph)
{
    if (graph.inputs.empty())
        throw Error("model has no graph input to feed the dataset to");
    return graph.inputs.front();
}

} // namespace

void requireRowsFit(const Graph &graph, const Tensor &batch)
{
    fittedRows(firstInput(graph), batch);
}

std::map<std::string, Tensor> makeBatchFeeds(const Graph &graph, const FeedOptions &options, const Tensor &batch)
{
    Tensor rows = fittedRows(firstInput(graph), batch);
    const std::string &first = graph.inputs.front().name;
    if (graph.inputs.size() == 1 && options.tensors.empty() && options.values.empty() && options.shapes.empty())
        return {{first, std::move(rows)}};
    if (options.tensors.count(first) || options.values.count(first) || options.shapes.count(first))
        throw Error("graph input '" + first + "' is fed from the dataset; it takes no other data, value or shape");
    FeedOptions o = options;
    o.batch = 0;
    o.tensors[first] = std::move(rows);
    return makeFeeds(graph, o);
}

FeedOptions withSampleShape(const Graph &graph, FeedOptions options, const Tensor &rows)
{
    if (graph.inputs.empty() || rows.rank() < 1)
        return options;
    const ValueInfo &first = graph.inputs.front();
    if (!first.shapeKnown || options.tensors.count(first.name) || options.shapes.count(first.name))
        return options;
    const Tensor sample = conformBatch(first, rows);
    if (sample.rank() != int(first.shape.size()))
        return options;
    for (size_t d = 1; d < first.shape.size(); ++d) {
        const std::string s = symbolOf(first, d);
        if (!s.empty() && !options.shapes.count(s))
            options.shapes[s] = {sample.dim(int(d))};
    }
    return options;
}

int64_t datasetBatchSize(const Graph &graph, int64_t wanted)
{
    if (graph.inputs.empty())
        return wanted;
    const ValueInfo &first = graph.inputs.front();
    if (first.shapeKnown && !first.shape.empty() && first.shape[0] > 0 && batchSymbol(graph).empty())
        return std::min(wanted, first.shape[0]);
    return wanted;
}

} // namespace cw
