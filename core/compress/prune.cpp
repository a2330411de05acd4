#include "core/compress/prune.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <set>

#include "core/base/error.h"
#include "core/quant/quantize.h"
#include "core/runtime/session.h"
#include "core/runtime/shape_inference.h"
#include "core/runtime/sparse.h"

namespace cw {
namespace {

int64_t pruneCount(int64_t n, double ratio)
{
    if (!(ratio >= 0.0 && ratio <= 1.0))
        throw Error("pruning ratio must be between 0 and 1, got " + std::to_string(ratio));
    return std::min<int64_t>(n, std::llround(ratio * double(n)));
}

// |w| with NaN ranked above everything, so a NaN weight is never the one pruned.
inline float magnitude(float v) { return std::isnan(v) ? std::numeric_limits<float>::infinity() : std::abs(v); }

std::string nodeLabel(const Node &node)
{
    return "node '" + node.name + "' (" + node.opType + ")";
}

Tensor &floatWeight(Model &model, const Node &node, const std::string &name)
{
    auto it = model.graph.initializers.find(name);
    if (it == model.graph.initializers.end())
        throw Error("pruning " + nodeLabel(node) + ": its weight '" + name + "' is not an initializer");
    if (it->second.dtype() != DType::Float32)
        throw Error("pruning " + nodeLabel(node) + ": its weight '" + name + "' is " + dtypeName(it->second.dtype()) +
                    ", not float32");
    return it->second;
}

Tensor onesLike(const Tensor &w)
{
    return Tensor::fromFloats(w.shape(), std::vector<float>(size_t(w.numel()), 1.f));
}

int64_t countZeros(const Tensor &w)
{
    const float *p = w.f32();
    int64_t zeros = 0;
    for (int64_t i = 0; i < w.numel(); ++i)
        zeros += p[i] == 0.f;
    return zeros;
}

// Zeroes the k smallest magnitudes over all `weights` taken together, in place, with one threshold: below
// it everything is pruned, at it the first ones in order (layer order, then index) until the count is exact
// (the tie rule of pruneMagnitude). masks get 0 where a weight was pruned.
void pruneJointly(const std::vector<Tensor *> &weights, const std::vector<Tensor *> &masks, double ratio)
{
    int64_t total = 0;
    for (const Tensor *w : weights)
        total += w->numel();
    const int64_t k = pruneCount(total, ratio);
    if (k == 0 || total == 0)
        return;
    float threshold;
    if (weights.size() == 1) {
        threshold = magnitudeThreshold(*weights[0], ratio);
    } else {
        Tensor all = Tensor::uninitialized(DType::Float32, {total});
        float *dst = all.f32();
        for (const Tensor *w : weights)
            dst = std::copy(w->f32(), w->f32() + w->numel(), dst);
        threshold = magnitudeThreshold(all, ratio);
    }
    int64_t below = 0;
    for (const Tensor *w : weights)
        for (int64_t i = 0; i < w->numel(); ++i)
            below += magnitude(w->f32()[i]) < threshold;
    int64_t ties = k - below;
    for (size_t l = 0; l < weights.size(); ++l) {
        float *p = weights[l]->f32();
        float *m = masks[l]->f32();
        for (int64_t i = 0; i < weights[l]->numel(); ++i) {
            const float a = magnitude(p[i]);
            if (a < threshold || (a == threshold && ties-- > 0)) {
                p[i] = 0.f;
                m[i] = 0.f;
            }
        }
    }
}

// N:M over rows of `reduction` values: in every full group of m, the (m - keep) smallest magnitudes are
// zeroed (ties: lower index first). Writes the mask.
void pruneGroups(float *w, float *mask, int64_t rows, int64_t reduction, int keep, int m)
{
    std::vector<int> order(static_cast<size_t>(m));
    for (int64_t r = 0; r < rows; ++r) {
        float *row = w + r * reduction;
        float *mrow = mask ? mask + r * reduction : nullptr;
        for (int64_t g = 0; g + m <= reduction; g += m) {
            std::iota(order.begin(), order.end(), 0);
            std::stable_sort(order.begin(), order.end(),
                             [&](int a, int b) { return magnitude(row[g + a]) < magnitude(row[g + b]); });
            for (int i = 0; i < m - keep; ++i) {
                row[g + order[size_t(i)]] = 0.f;
                if (mrow)
                    mrow[g + order[size_t(i)]] = 0.f;
            }
        }
    }
}

Tensor transpose2d(const Tensor &t)
{
    const int64_t r = t.dim(0), c = t.dim(1);
    Tensor out = Tensor::uninitialized(DType::Float32, {c, r});
    for (int64_t i = 0; i < r; ++i)
        for (int64_t j = 0; j < c; ++j)
            out.f32()[j * r + i] = t.f32()[i * c + j];
    return out;
}

// N:M in place on a layer's weight along its reduction axis; `keep` weights of every m stay.
void pruneLayerNM(const Node &node, Tensor &w, Tensor &mask, int keep, int m)
{
    const int axis = outputChannelAxis(node, w.shape());
    if (axis == 0) {
        const int64_t rows = w.dim(0);
        pruneGroups(w.f32(), mask.f32(), rows, rows ? w.numel() / rows : 0, keep, m);
    } else if (w.rank() == 2 && axis == 1) {
        // [K, N] (Gemm with transB = 0, MatMul): the reduction runs down the columns.
        Tensor wt = transpose2d(w), mt = transpose2d(mask);
        pruneGroups(wt.f32(), mt.f32(), wt.dim(0), wt.dim(1), keep, m);
        w = transpose2d(wt);
        mask = transpose2d(mt);
    } else {
        throw Error("N:M pruning of " + nodeLabel(node) + ": weight " + shapeToString(w.shape()) +
                    " has its output channels on axis " + std::to_string(axis) +
                    "; supported are Conv, Gemm and MatMul");
    }
}

// ---- channel pruning ---------------------------------------------------------------------------------

bool isPassThrough(const std::string &op)
{
    static const std::set<std::string> ops = {"Relu",      "LeakyRelu",    "Clip",        "Sigmoid",
                                              "Tanh",      "HardSigmoid",  "HardSwish",   "Gelu",
                                              "Identity",  "Dropout",      "MaxPool",     "AveragePool",
                                              "GlobalAveragePool", "GlobalMaxPool", "Elu", "Softplus"};
    return ops.count(op) != 0;
}

bool isBinary(const std::string &op)
{
    return op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Max" || op == "Min";
}

// A node whose weight initializer maps input features to output channels (Conv with group 1, Gemm, MatMul).
bool isLayer(const Model &model, const Node &n)
{
    if (n.inputs.size() < 2 || !model.graph.isInitializer(n.inputs[1]))
        return false;
    if (n.opType == "Conv")
        return n.attrInt("group", 1) == 1;
    if (n.opType == "Gemm")
        return n.attrInt("transA", 0) == 0;
    return n.opType == "MatMul" && model.graph.initializers.at(n.inputs[1]).rank() == 2;
}

// Depthwise Conv (one input channel per group, one output per group): channels pass through it.
bool isDepthwise(const Model &model, const Node &n)
{
    if (n.opType != "Conv" || n.inputs.size() < 2 || !model.graph.isInitializer(n.inputs[1]))
        return false;
    const Tensor &w = model.graph.initializers.at(n.inputs[1]);
    const int64_t group = n.attrInt("group", 1);
    return group > 1 && w.rank() >= 2 && w.dim(1) == 1 && w.dim(0) == group;
}

int sourceAxis(const Node &n, const Tensor &)
{
    if (n.opType == "Gemm")
        return n.attrInt("transB", 0) != 0 ? 0 : 1;
    if (n.opType == "MatMul")
        return 1;
    return 0;
}

int sinkAxis(const Node &n)
{
    if (n.opType == "Gemm")
        return n.attrInt("transB", 0) != 0 ? 1 : 0;
    if (n.opType == "MatMul")
        return 0;
    return 1; // Conv
}

// Everything indexed by one set of channels: the layers producing them (sources, pruned on their output
// axis), the values carrying them (with the number of consecutive features per channel: 1, or H*W after a
// Flatten), nodes passing them through with per-channel parameters, and the layers consuming them (sinks,
// pruned on their input axis).
struct ChannelSpace {
    int64_t channels = 0;
    std::vector<std::string> sources;
    std::map<std::string, int64_t> block; // value -> features per channel
    std::vector<std::string> passNodes;   // BN, depthwise Conv, binary ops with a per-channel initializer
    std::vector<std::pair<std::string, int64_t>> sinks; // node, features per channel of its input
    std::string output;                   // a graph output the channels reach ("" if none)
    std::vector<std::pair<std::string, int64_t>> reshapes; // flattening Reshapes, features per channel after
};

ChannelSpace traceChannels(const Model &model, const std::string &nodeName)
{
    const Graph &g = model.graph;
    const Node *start = g.findNode(nodeName);
    if (!start && findLayer(g, nodeName))
        throw Error("channel pruning of '" + nodeName + "': it is inside a control-flow subgraph (If, Loop or Scan), "
                    "whose channels the surgery does not rewrite");
    if (!start)
        throw Error("channel pruning: no node named '" + nodeName + "'");
    if (!isLayer(model, *start))
        throw Error("channel pruning: " + nodeLabel(*start) +
                    " is not a Conv (group 1), Gemm or MatMul with a weight initializer");
    ChannelSpace space;
    {
        const Tensor &w = g.initializers.at(start->inputs[1]);
        space.channels = w.dim(sourceAxis(*start, w));
    }
    std::set<std::string> graphOutputs;
    for (const ValueInfo &v : g.outputs)
        graphOutputs.insert(v.name);
    std::set<std::string> sources, sinks, passes, handled;
    std::vector<std::string> work;
    auto addValue = [&](const std::string &v, int64_t block, const Node &via) {
        auto it = space.block.find(v);
        if (it != space.block.end()) {
            if (it->second != block)
                throw Error("channel pruning: " + nodeLabel(via) + " mixes the channels of '" + nodeName +
                            "' at two different layouts");
            return;
        }
        space.block[v] = block;
        work.push_back(v);
    };
    auto fail = [&](const Node &n, const std::string &why) -> void {
        throw Error("channel pruning of '" + nodeName + "': " + nodeLabel(n) + " " + why);
    };
    auto valueShape = [&](const std::string &v) -> Shape {
        auto it = g.values.find(v);
        return it != g.values.end() && it->second.shapeKnown ? it->second.shape : Shape{};
    };
    // A node reached through value v (v is one of its inputs, or its output when fromOutput).
    auto visit = [&](const Node &n, const std::string &v, bool fromOutput) {
        const int64_t block = space.block.at(v);
        if (isLayer(model, n) && (fromOutput || n.inputs[0] == v)) {
            if (fromOutput) {
                if (sources.insert(n.name).second) {
                    const Tensor &w = g.initializers.at(n.inputs[1]);
                    if (block != 1)
                        fail(n, "produces channels that are also used flattened");
                    if (w.dim(sourceAxis(n, w)) != space.channels)
                        fail(n, "has " + std::to_string(w.dim(sourceAxis(n, w))) + " output channels, expected " +
                                    std::to_string(space.channels));
                    space.sources.push_back(n.name);
                }
            } else if (sinks.insert(n.name).second) {
                space.sinks.emplace_back(n.name, block);
            }
            return;
        }
        // Channel-preserving nodes join the space with all their channel-carrying values at once.
        if (!handled.insert(n.name).second)
            return;
        if (n.opType == "Conv" && isDepthwise(model, n) && n.inputs[0] != v && !fromOutput)
            fail(n, "takes the channels as a weight");
        if (isDepthwise(model, n) || n.opType == "BatchNormalization" || isPassThrough(n.opType)) {
            if (!fromOutput && n.inputs[0] != v)
                fail(n, "takes the channels in an input other than its data input");
            if ((isDepthwise(model, n) || n.opType == "BatchNormalization") && block != 1)
                fail(n, "gets flattened channels");
            if ((isDepthwise(model, n) || n.opType == "BatchNormalization") && passes.insert(n.name).second)
                space.passNodes.push_back(n.name);
            addValue(n.inputs[0], block, n);
            addValue(n.outputs[0], block, n);
            return;
        }
        if (isBinary(n.opType)) {
            for (const std::string &in : n.inputs) {
                if (in.empty())
                    continue;
                if (g.isInitializer(in)) {
                    if (g.initializers.at(in).numel() > 1 && passes.insert(n.name).second)
                        space.passNodes.push_back(n.name);
                    continue;
                }
                addValue(in, block, n);
            }
            addValue(n.outputs[0], block, n);
            return;
        }
        if (n.opType == "Flatten" && !fromOutput) {
            if (n.attrInt("axis", 1) != 1)
                fail(n, "flattens with axis " + std::to_string(n.attrInt("axis", 1)) + " (only axis 1 is supported)");
            const Shape s = valueShape(v);
            if (s.size() < 2)
                fail(n, "has an input of unknown shape");
            int64_t features = 1;
            for (size_t d = 2; d < s.size(); ++d) {
                if (s[d] < 0)
                    fail(n, "has an input with a dynamic spatial size");
                features *= s[d];
            }
            addValue(n.outputs[0], block * features, n);
            return;
        }
        // The input's shape read at run time (x.view(x.size(0), -1) exports as Shape -> Gather -> ... ->
        // Reshape) follows the pruned shape by itself.
        if (n.opType == "Shape" && !fromOutput)
            return;
        // A Reshape that flattens [N, C, ...] to [N, C * ...] (x.view(N, -1) in PyTorch) is a Flatten; a
        // constant target shape that spells out the feature count is rewritten with the new count.
        if (n.opType == "Reshape" && !fromOutput && n.inputs[0] == v) {
            const Shape s = valueShape(v), o = valueShape(n.outputs[0]);
            int64_t features = 1;
            bool known = s.size() >= 2 && o.size() == 2;
            for (size_t d = 1; known && d < s.size(); ++d) {
                known = s[d] > 0;
                features *= s[d];
            }
            if (known && o[1] == features && (o[0] == s[0])) {
                const int64_t out = block * features / s[1];
                if (n.hasInput(1) && g.isInitializer(n.inputs[1])) {
                    const std::vector<int64_t> target = g.initializers.at(n.inputs[1]).toInt64Vector();
                    if (target.size() != 2 || (target[1] != -1 && target[1] != features))
                        fail(n, "has a target shape that cannot be rewritten");
                }
                space.reshapes.emplace_back(n.name, out);
                addValue(n.outputs[0], out, n);
                return;
            }
        }
        fail(n, fromOutput ? "produces the channels and cannot be channel-pruned"
                           : "consumes the channels and cannot be channel-pruned");
    };
    space.block[start->outputs[0]] = 1;
    work.push_back(start->outputs[0]);
    sources.insert(start->name);
    space.sources.push_back(start->name);
    while (!work.empty()) {
        const std::string v = work.back();
        work.pop_back();
        if (graphOutputs.count(v) && space.output.empty())
            space.output = v;
        if (const Node *p = g.producer(v)) {
            if (p != start)
                visit(*p, v, true);
        } else {
            throw Error("channel pruning of '" + nodeName + "': its channels meet the graph input '" + v + "'");
        }
        for (const Node *c : g.consumers(v))
            visit(*c, v, false);
    }
    return space;
}

// Keeps the given indices (in blocks of `block` consecutive entries) along `axis`.
Tensor sliceAxis(const Tensor &t, int axis, const std::vector<int64_t> &keep, int64_t block)
{
    Shape shape = t.shape();
    const int64_t outer = std::accumulate(shape.begin(), shape.begin() + axis, int64_t(1), std::multiplies<>());
    const int64_t inner = std::accumulate(shape.begin() + axis + 1, shape.end(), int64_t(1), std::multiplies<>());
    const int64_t dim = shape[size_t(axis)];
    shape[size_t(axis)] = int64_t(keep.size()) * block;
    Tensor out = Tensor::uninitialized(DType::Float32, shape);
    const float *src = t.f32();
    float *dst = out.f32();
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t c : keep) {
            const float *from = src + (o * dim + c * block) * inner;
            dst = std::copy(from, from + block * inner, dst);
        }
    return out;
}

class Slicer {
public:
    Slicer(Model &model, const std::vector<int64_t> &keep, int64_t channels, const std::set<std::string> &touched)
        : m_model(model), m_keep(keep), m_channels(channels), m_touched(touched)
    {
    }

    void slice(const Node &n, const std::string &name, int axis, int64_t block = 1)
    {
        if (name.empty() || !m_done.insert(name).second)
            return;
        Graph &g = m_model.graph;
        for (const Node &other : g.nodes)
            if (!m_touched.count(other.name) &&
                std::find(other.inputs.begin(), other.inputs.end(), name) != other.inputs.end())
                throw Error("channel pruning: " + nodeLabel(n) + " shares the initializer '" + name + "' with " +
                            nodeLabel(other));
        Tensor &t = floatWeight(m_model, n, name);
        if (axis < 0 || axis >= t.rank() || t.dim(axis) != m_channels * block)
            throw Error("channel pruning: " + nodeLabel(n) + ": initializer '" + name + "' " +
                        shapeToString(t.shape()) + " does not have " + std::to_string(m_channels * block) +
                        " entries on axis " + std::to_string(axis));
        t = sliceAxis(t, axis, m_keep, block);
    }

private:
    Model &m_model;
    const std::vector<int64_t> &m_keep;
    int64_t m_channels;
    const std::set<std::string> &m_touched;
    std::set<std::string> m_done;
};

// The channels of 0 .. channels - 1 not in `remove` (sorted, unique).
std::vector<int64_t> keptChannels(int64_t channels, const std::vector<int64_t> &remove)
{
    std::vector<int64_t> keep;
    for (int64_t c = 0, r = 0; c < channels; ++c) {
        if (r < int64_t(remove.size()) && remove[size_t(r)] == c)
            ++r;
        else
            keep.push_back(c);
    }
    return keep;
}

// Removes `remove` (sorted, unique, valid) from the space; shapes are re-inferred by the caller.
void applyRemoval(Model &model, const ChannelSpace &space, const std::vector<int64_t> &remove)
{
    const std::vector<int64_t> keep = keptChannels(space.channels, remove);
    std::set<std::string> touched(space.sources.begin(), space.sources.end());
    touched.insert(space.passNodes.begin(), space.passNodes.end());
    for (const auto &[name, block] : space.sinks)
        touched.insert(name);
    Graph &g = model.graph;
    Slicer slicer(model, keep, space.channels, touched);
    for (const std::string &name : space.sources) {
        const Node &n = *g.findNode(name);
        const Tensor &w = g.initializers.at(n.inputs[1]);
        const int axis = sourceAxis(n, w);
        slicer.slice(n, n.inputs[1], axis);
        if (n.hasInput(2) && n.opType != "MatMul") {
            const Tensor &b = floatWeight(model, n, n.inputs[2]);
            if (b.numel() > 1)
                slicer.slice(n, n.inputs[2], b.rank() - 1);
        }
    }
    for (const std::string &name : space.passNodes) {
        Node &n = *g.findNode(name);
        if (n.opType == "BatchNormalization") {
            for (int i = 1; i <= 4; ++i)
                slicer.slice(n, n.inputs[size_t(i)], 0);
        } else if (n.opType == "Conv") { // depthwise
            slicer.slice(n, n.inputs[1], 0);
            if (n.hasInput(2))
                slicer.slice(n, n.inputs[2], 0);
            n.attrs["group"] = Attribute::makeInt(int64_t(keep.size()));
        } else { // binary op with a per-channel initializer operand, broadcast against [N, C, ...]
            const int64_t rank = int64_t(g.values.count(n.outputs[0]) ? g.values.at(n.outputs[0]).shape.size() : 0);
            for (const std::string &in : n.inputs) {
                if (in.empty() || !g.isInitializer(in) || g.initializers.at(in).numel() <= 1)
                    continue;
                const Tensor &t = g.initializers.at(in);
                const int64_t axis = 1 - (rank - t.rank());
                if (rank < 2 || axis < 0 || axis >= t.rank())
                    throw Error("channel pruning: " + nodeLabel(n) + ": cannot align initializer '" + in + "' " +
                                shapeToString(t.shape()) + " with the channel axis");
                if (t.dim(int(axis)) != 1)
                    slicer.slice(n, in, int(axis));
            }
        }
    }
    for (const auto &[name, block] : space.sinks) {
        const Node &n = *g.findNode(name);
        slicer.slice(n, n.inputs[1], sinkAxis(n), block);
    }
    for (const auto &[name, block] : space.reshapes) {
        const Node &n = *g.findNode(name);
        if (!n.hasInput(1) || !g.isInitializer(n.inputs[1]))
            continue; // computed at run time from the input's shape
        std::vector<int64_t> target = g.initializers.at(n.inputs[1]).toInt64Vector();
        if (target[1] == -1)
            continue;
        for (const Node &other : g.nodes)
            if (other.name != name && std::find(other.inputs.begin(), other.inputs.end(), n.inputs[1]) != other.inputs.end())
                throw Error("channel pruning: " + nodeLabel(n) + " shares its target shape '" + n.inputs[1] + "' with " +
                            nodeLabel(other));
        target[1] = int64_t(keep.size()) * block;
        g.initializers[n.inputs[1]] = Tensor::fromInt64s({2}, target);
    }
}

std::vector<double> channelNorms(const Tensor &w, int axis, ChannelNorm norm)
{
    const Shape &s = w.shape();
    const int64_t outer = std::accumulate(s.begin(), s.begin() + axis, int64_t(1), std::multiplies<>());
    const int64_t inner = std::accumulate(s.begin() + axis + 1, s.end(), int64_t(1), std::multiplies<>());
    const int64_t channels = s[size_t(axis)];
    std::vector<double> sums(size_t(channels), 0.0);
    const float *p = w.f32();
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t c = 0; c < channels; ++c) {
            const float *row = p + (o * channels + c) * inner;
            double acc = 0;
            for (int64_t i = 0; i < inner; ++i)
                acc += norm == ChannelNorm::L1 ? std::abs(double(row[i])) : double(row[i]) * double(row[i]);
            sums[size_t(c)] += acc;
        }
    if (norm == ChannelNorm::L2)
        for (double &v : sums)
            v = std::sqrt(v);
    return sums;
}

std::vector<int64_t> weakestFirst(const std::vector<double> &norms)
{
    std::vector<int64_t> order(norms.size());
    std::iota(order.begin(), order.end(), int64_t(0));
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        const double x = std::isnan(norms[size_t(a)]) ? INFINITY : norms[size_t(a)];
        const double y = std::isnan(norms[size_t(b)]) ? INFINITY : norms[size_t(b)];
        return x < y;
    });
    return order;
}

std::vector<int64_t> checkedRemoval(const ChannelSpace &space, const std::string &node, std::vector<int64_t> channels)
{
    std::sort(channels.begin(), channels.end());
    if (std::adjacent_find(channels.begin(), channels.end()) != channels.end())
        throw Error("channel pruning of '" + node + "': a channel is listed twice");
    for (int64_t c : channels)
        if (c < 0 || c >= space.channels)
            throw Error("channel pruning of '" + node + "': channel " + std::to_string(c) + " is out of range (" +
                        std::to_string(space.channels) + " channels)");
    if (int64_t(channels.size()) >= space.channels)
        throw Error("channel pruning of '" + node + "': removing all " + std::to_string(space.channels) +
                    " channels would disconnect the graph");
    if (!space.output.empty() && !channels.empty())
        throw Error("channel pruning of '" + node + "': its channels reach the graph output '" + space.output +
                    "' and cannot be removed");
    return channels;
}

// Why the channels of `space` cannot be removed as planned ("" when they can): they reach a graph output, or
// another layer that produces them is not channel-pruned (`planned` says which are).
std::string spaceObstacle(const ChannelSpace &space, const std::function<bool(const std::string &)> &planned)
{
    if (!space.output.empty())
        return "its channels reach the graph output '" + space.output + "'";
    for (const std::string &s : space.sources)
        if (!planned(s))
            return "its channels are also produced by '" + s + "' (they meet in an Add, Sum or similar), which is "
                   "not channel-pruned";
    return {};
}

// traceChannels' and removeChannels' messages name the layer for other callers; a report belongs to it already.
std::string withoutNodePrefix(std::string message, const std::string &node)
{
    const std::string prefix = "channel pruning of '" + node + "': ";
    if (message.compare(0, prefix.size(), prefix) == 0)
        message.erase(0, prefix.size());
    return message;
}

// pruneModel with the channel counts to prune towards taken relative to `originalChannels` (node -> output
// channels before the first iterative step; missing nodes use their current count).
PruneResult pruneModelFrom(Model &model, const std::vector<LayerPlan> &plan, double ratioScale,
                           const std::map<std::string, int64_t> &originalChannels)
{
    if (!(ratioScale >= 0.0 && ratioScale <= 1.0))
        throw Error("pruning ratio scale must be between 0 and 1, got " + std::to_string(ratioScale));
    PruneResult result;
    std::map<std::string, const LayerPlan *> byNode;
    for (const LayerPlan &p : plan) {
        if (!p.config.prune || p.config.skip)
            continue;
        if (!findLayerNode(model.graph, p.node))
            throw Error("pruning: no node named '" + p.node + "' in the model");
        byNode[p.node] = &p;
        const PruneConfig &c = *p.config.prune;
        if (!(c.ratio >= 0.0 && c.ratio <= 1.0))
            throw Error("pruning node '" + p.node + "': ratio must be between 0 and 1, got " +
                        std::to_string(c.ratio));
        if (c.method == PruneMethod::NM && !(c.m >= 1 && c.n >= 0 && c.n <= c.m))
            throw Error("pruning node '" + p.node + "': N:M needs 0 <= n <= m and m >= 1, got " +
                        std::to_string(c.n) + ":" + std::to_string(c.m));
    }

    const auto isChannelPlanned = [&byNode](const std::string &node) {
        auto q = byNode.find(node);
        return q != byNode.end() && q->second->config.prune->method == PruneMethod::Channel;
    };

    // Weight elements before this pass, for the reports (channel surgery shrinks weights).
    std::map<std::string, int64_t> paramsBefore;
    for (const auto &[node, p] : byNode) {
        auto w = model.graph.initializers.find(p->weight);
        if (w != model.graph.initializers.end())
            paramsBefore[node] = w->second.numel();
    }

    // 1. Channel pruning first: it changes shapes, and masks must describe the final weights.
    std::map<std::string, PruneReport> channelReports;
    std::set<std::string> done;
    bool removed = false;
    for (const LayerPlan &p : plan) {
        auto planned = byNode.find(p.node);
        if (planned == byNode.end() || p.config.prune->method != PruneMethod::Channel || done.count(p.node))
            continue;
        const PruneConfig &c = *p.config.prune;
        // Depthwise convolutions and other channel-preserving layers shrink with their producer's group.
        if (const Node *n = model.graph.findNode(p.node); n && !isLayer(model, *n))
            continue;
        ChannelSpace space;
        std::string obstacle;
        try {
            space = traceChannels(model, p.node);
            obstacle = spaceObstacle(space, isChannelPlanned);
        } catch (const Error &e) {
            obstacle = withoutNodePrefix(e.what(), p.node);
        }
        if (!obstacle.empty() && space.sources.empty()) { // the trace failed: only this layer is known
            PruneReport r;
            r.node = p.node;
            r.weight = p.weight;
            r.skipped = obstacle;
            channelReports[p.node] = r;
            done.insert(p.node);
            continue;
        }
        for (const std::string &s : space.sources)
            done.insert(s);
        const bool all = obstacle.empty();
        const int64_t current = space.channels;
        int64_t remove = 0;
        if (all) {
            auto orig = originalChannels.find(p.node);
            const int64_t original = orig != originalChannels.end() ? orig->second : current;
            const int64_t target = std::llround(c.ratio * ratioScale * double(original));
            remove = std::clamp<int64_t>(target - (original - current), 0, current - 1);
        }
        std::vector<int64_t> channels;
        if (remove > 0) {
            std::vector<double> norms(size_t(current), 0.0);
            for (const std::string &s : space.sources) {
                const Node &n = *model.graph.findNode(s);
                const Tensor &w = model.graph.initializers.at(n.inputs[1]);
                const std::vector<double> v = channelNorms(w, sourceAxis(n, w), c.norm);
                for (size_t i = 0; i < v.size(); ++i)
                    norms[i] += v[i];
            }
            const std::vector<int64_t> order = weakestFirst(norms);
            channels.assign(order.begin(), order.begin() + remove);
            channels = checkedRemoval(space, p.node, channels);
            applyRemoval(model, space, channels);
            removed = true;
        }
        const std::vector<int64_t> kept = keptChannels(current, channels);
        for (const std::string &s : space.sources) {
            if (!byNode.count(s))
                continue;
            const Node &n = *model.graph.findNode(s);
            PruneReport r;
            r.node = s;
            r.weight = n.inputs[1];
            r.channelsBefore = current;
            r.channelsAfter = current - remove;
            r.kept = kept;
            r.skipped = obstacle;
            channelReports[s] = r;
        }
    }
    if (removed)
        inferShapes(model);

    // 2. Unstructured and N:M, on the final shapes; global-scope magnitude layers with the same ratio share
    // one threshold.
    std::map<double, std::vector<const LayerPlan *>> globalGroups;
    for (const LayerPlan &p : plan) {
        if (!byNode.count(p.node))
            continue;
        const PruneConfig &c = *p.config.prune;
        const Node &node = *findLayerNode(model.graph, p.node);
        if (c.method == PruneMethod::Channel) {
            PruneReport r = channelReports.count(p.node) ? channelReports[p.node] : PruneReport{};
            r.node = p.node;
            r.weight = p.weight;
            const Tensor &w = floatWeight(model, node, p.weight);
            r.params = paramsBefore.count(p.node) ? paramsBefore[p.node] : w.numel();
            r.zeros = countZeros(w);
            if (!channelReports.count(p.node) || !r.skipped.empty())
                r.channelsBefore = r.channelsAfter = w.dim(outputChannelAxis(node, w.shape()));
            result.layers.push_back(r);
            continue;
        }
        Tensor &w = floatWeight(model, node, p.weight);
        w = w.clone(); // never write through a buffer another Model may share
        Tensor mask = onesLike(w);
        PruneReport r;
        r.node = p.node;
        r.weight = p.weight;
        r.params = w.numel();
        if (c.method == PruneMethod::NM) {
            const int keep = c.m - int(std::llround(double(c.m - c.n) * ratioScale));
            pruneLayerNM(node, w, mask, keep, c.m);
        } else if (c.method == PruneMethod::Block) {
            w = pruneBlocks(w, std::min(1.0, c.ratio * ratioScale), outputChannelAxis(node, w.shape()), &mask);
        } else if (c.scope == PruneScope::Global) {
            globalGroups[c.ratio].push_back(&p);
        } else {
            pruneJointly({&w}, {&mask}, std::min(1.0, c.ratio * ratioScale));
        }
        result.masks[p.weight] = mask;
        result.layers.push_back(r);
    }
    for (const auto &[ratio, members] : globalGroups) {
        std::vector<Tensor *> weights, masks;
        for (const LayerPlan *p : members) {
            weights.push_back(&model.graph.initializers.at(p->weight));
            masks.push_back(&result.masks.at(p->weight));
        }
        pruneJointly(weights, masks, std::min(1.0, ratio * ratioScale));
    }
    for (PruneReport &r : result.layers)
        if (result.masks.count(r.weight))
            r.zeros = countZeros(model.graph.initializers.at(r.weight));
    return result;
}

} // namespace

float magnitudeThreshold(const Tensor &w, double ratio)
{
    const int64_t n = w.numel();
    const int64_t k = pruneCount(n, ratio);
    if (k == 0)
        return 0.f;
    // The k-th smallest |w| by a radix select on the float bits (non-negative floats order like their bit
    // patterns): count the top 16 bits, then order only the bucket holding the k-th. nth_element over a
    // copy of a million magnitudes took 15-40 ms, too slow for the live pruning what-if.
    const float *src = w.data<float>();
    auto key = [](float v) {
        uint32_t b;
        std::memcpy(&b, &v, sizeof b);
        return std::min<uint32_t>(b & 0x7fffffffu, 0x7f800000u); // |v|, NaN as +Inf
    };
    std::vector<uint32_t> counts(1u << 16, 0);
    for (int64_t i = 0; i < n; ++i)
        ++counts[key(src[i]) >> 16];
    uint32_t bucket = 0;
    int64_t before = 0;
    while (before + counts[bucket] < k)
        before += counts[bucket++];
    std::vector<uint32_t> low;
    low.reserve(counts[bucket]);
    for (int64_t i = 0; i < n; ++i) {
        const uint32_t b = key(src[i]);
        if (b >> 16 == bucket)
            low.push_back(b & 0xffffu);
    }
    std::nth_element(low.begin(), low.begin() + (k - before - 1), low.end());
    const uint32_t bits = bucket << 16 | low[size_t(k - before - 1)];
    float t;
    std::memcpy(&t, &bits, sizeof t);
    return t;
}

Tensor pruneMagnitude(const Tensor &w, double ratio)
{
    const int64_t n = w.numel();
    const int64_t k = pruneCount(n, ratio);
    Tensor out = w.clone();
    if (k == 0)
        return out;
    const float t = magnitudeThreshold(w, ratio);
    float *dst = out.data<float>();
    int64_t below = 0;
    for (int64_t i = 0; i < n; ++i)
        below += magnitude(dst[i]) < t;
    int64_t ties = k - below; // weights at exactly the threshold still to prune, first ones first
    for (int64_t i = 0; i < n; ++i) {
        const float m = magnitude(dst[i]);
        if (m < t || (m == t && ties-- > 0))
            dst[i] = 0.f;
    }
    return out;
}


Tensor pruneNM(const Tensor &w, int n, int m, int reductionAxisStart)
{
    if (w.dtype() != DType::Float32)
        throw Error(std::string("N:M pruning needs a float32 tensor, got ") + dtypeName(w.dtype()));
    if (!(m >= 1 && n >= 0 && n <= m))
        throw Error("N:M pruning needs 0 <= n <= m and m >= 1, got " + std::to_string(n) + ":" + std::to_string(m));
    if (reductionAxisStart < 0 || reductionAxisStart > w.rank())
        throw Error("N:M pruning: reduction axis " + std::to_string(reductionAxisStart) + " is out of range for " +
                    shapeToString(w.shape()));
    const Shape &s = w.shape();
    const int64_t reduction =
        std::accumulate(s.begin() + reductionAxisStart, s.end(), int64_t(1), std::multiplies<>());
    Tensor out = w.clone();
    if (out.numel() > 0)
        pruneGroups(out.f32(), nullptr, out.numel() / reduction, reduction, n, m);
    return out;
}

Tensor pruneBlocks(const Tensor &w, double ratio, int outputAxis, Tensor *mask)
{
    if (w.dtype() != DType::Float32)
        throw Error(std::string("block pruning needs a float32 tensor, got ") + dtypeName(w.dtype()));
    if (outputAxis < 0 || outputAxis >= w.rank())
        throw Error("block pruning: axis " + std::to_string(outputAxis) + " is out of range for " +
                    shapeToString(w.shape()));
    const Shape &s = w.shape();
    const int64_t outer = std::accumulate(s.begin(), s.begin() + outputAxis, int64_t(1), std::multiplies<>());
    const int64_t inner = std::accumulate(s.begin() + outputAxis + 1, s.end(), int64_t(1), std::multiplies<>());
    const int64_t C = s[size_t(outputAxis)], groups = (C + sparse::kBlock - 1) / sparse::kBlock;
    // Block b = (o, g, i): outputs [g * sparse::kBlock, ...) of outer index o at inner index i.
    const int64_t count = outer * groups * inner;
    const auto forEach = [&](int64_t b, auto &&fn) {
        const int64_t o = b / (groups * inner), g = b / inner % groups, i = b % inner;
        for (int64_t c = g * sparse::kBlock; c < std::min(C, (g + 1) * sparse::kBlock); ++c)
            fn((o * C + c) * inner + i);
    };
    Tensor out = w.clone();
    float *dst = out.f32();
    std::vector<double> norms(static_cast<size_t>(count), 0.0);
    for (int64_t b = 0; b < count; ++b)
        forEach(b, [&](int64_t e) {
            const double m = magnitude(dst[e]);
            norms[size_t(b)] += m * m;
        });
    const int64_t k = pruneCount(count, ratio);
    std::vector<int64_t> order(static_cast<size_t>(count));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return norms[size_t(a)] < norms[size_t(b)]; });
    for (int64_t j = 0; j < k; ++j)
        forEach(order[size_t(j)], [&](int64_t e) {
            dst[e] = 0.f;
            if (mask)
                mask->f32()[e] = 0.f;
        });
    return out;
}

std::vector<int64_t> rankChannels(const Tensor &w, int channelAxis, ChannelNorm norm)
{
    if (w.dtype() != DType::Float32)
        throw Error(std::string("channel ranking needs a float32 tensor, got ") + dtypeName(w.dtype()));
    if (channelAxis < 0 || channelAxis >= w.rank())
        throw Error("channel ranking: axis " + std::to_string(channelAxis) + " is out of range for " +
                    shapeToString(w.shape()));
    return weakestFirst(channelNorms(w, channelAxis, norm));
}

void removeChannels(Model &model, const std::string &node, const std::vector<int64_t> &channels)
{
    const ChannelSpace space = traceChannels(model, node);
    const std::vector<int64_t> remove = checkedRemoval(space, node, channels);
    if (remove.empty())
        return;
    applyRemoval(model, space, remove);
    inferShapes(model);
}

std::string channelPruneObstacle(const Model &model, const std::string &node, const std::vector<LayerPlan> &plan)
{
    std::set<std::string> channel;
    for (const LayerPlan &p : plan)
        if (p.config.prune && !p.config.skip && p.config.prune->method == PruneMethod::Channel)
            channel.insert(p.node);
    try {
        return spaceObstacle(traceChannels(model, node), [&channel](const std::string &s) { return channel.count(s) > 0; });
    } catch (const Error &e) {
        return withoutNodePrefix(e.what(), node);
    }
}

std::vector<std::string> removeResidualBlocks(Model &model)
{
    Graph &g = model.graph;
    g.sortTopologically();
    std::vector<std::string> removed;
    auto isInitializer = [&](const std::string &v) { return g.initializers.count(v) > 0; };
    bool changed = true;
    while (changed) {
        changed = false;
        std::map<std::string, size_t> producer;
        std::map<std::string, std::vector<size_t>> consumers;
        std::set<std::string> readBySubgraphs;
        for (size_t i = 0; i < g.nodes.size(); ++i) {
            for (const std::string &o : g.nodes[i].outputs)
                producer[o] = i;
            for (const std::string &in : g.nodes[i].inputs)
                if (!in.empty())
                    consumers[in].push_back(i);
            for (const std::string &in : implicitInputs(g.nodes[i])) {
                consumers[in].push_back(i);
                readBySubgraphs.insert(in);
            }
        }
        std::set<std::string> graphOutputs;
        for (const ValueInfo &o : g.outputs)
            graphOutputs.insert(o.name);
        // The nodes of f when `y` is f(x) by a block that only x feeds; empty when it is not such a block.
        auto block = [&](const std::string &x, const std::string &y) -> std::set<size_t> {
            std::set<size_t> nodes;
            std::vector<std::string> pending{y}; // values whose producers still need a look, depth first
            while (!pending.empty()) {
                const std::string v = pending.back();
                pending.pop_back();
                if (v == x || isInitializer(v))
                    continue;
                auto p = producer.find(v);
                if (p == producer.end() || !g.nodes[p->second].domain.empty() || !g.nodes[p->second].subgraphs().empty())
                    return {}; // a graph input other than x, or a node of another domain / with subgraphs
                if (!nodes.insert(p->second).second)
                    continue;
                for (const std::string &in : g.nodes[p->second].inputs)
                    if (!in.empty())
                        pending.push_back(in);
            }
            bool layer = false;
            for (size_t i : nodes) {
                const Node &n = g.nodes[i];
                layer = layer || n.opType == "Conv" || n.opType == "Gemm" || n.opType == "MatMul";
                for (const std::string &o : n.outputs) {
                    if (graphOutputs.count(o))
                        return {};
                    for (size_t c : consumers[o])
                        if (!nodes.count(c) && !(o == y && g.nodes[c].opType == "Add"))
                            return {};
                }
            }
            return layer ? nodes : std::set<size_t>{};
        };
        for (size_t a = 0; a < g.nodes.size() && !changed; ++a) {
            const Node &add = g.nodes[a];
            if (add.opType != "Add" || !add.domain.empty() || add.inputs.size() != 2 || add.outputs.size() != 1 ||
                graphOutputs.count(add.outputs[0]) || readBySubgraphs.count(add.outputs[0]) ||
                isInitializer(add.inputs[0]) || isInitializer(add.inputs[1]))
                continue;
            for (int side = 0; side < 2 && !changed; ++side) {
                const std::string &x = add.inputs[size_t(1 - side)], &y = add.inputs[size_t(side)];
                const std::set<size_t> nodes = block(x, y);
                if (nodes.empty() || consumers[y].size() != 1)
                    continue;
                const ValueInfo xi = g.valueInfo(x), yi = g.valueInfo(y);
                if (!xi.shapeKnown || !yi.shapeKnown || xi.shape != yi.shape)
                    continue; // the shortcut must be the identity, shape for shape
                const std::string out = add.outputs[0], addName = add.name;
                for (Node &n : g.nodes)
                    for (std::string &in : n.inputs)
                        if (in == out)
                            in = x;
                std::vector<Node> kept;
                for (size_t i = 0; i < g.nodes.size(); ++i)
                    if (i != a && !nodes.count(i))
                        kept.push_back(std::move(g.nodes[i]));
                g.nodes = std::move(kept);
                removed.push_back(addName);
                changed = true;
            }
        }
    }
    if (!removed.empty()) {
        std::set<std::string> used;
        for (const Node &n : g.nodes) {
            used.insert(n.inputs.begin(), n.inputs.end());
            for (const std::string &v : implicitInputs(n))
                used.insert(v);
        }
        for (auto it = g.initializers.begin(); it != g.initializers.end();)
            it = used.count(it->first) ? std::next(it) : g.initializers.erase(it);
        inferShapes(model);
    }
    return removed;
}

PruneResult pruneModel(Model &model, const std::vector<LayerPlan> &plan, double ratioScale)
{
    return pruneModelFrom(model, plan, ratioScale, {});
}

PruneResult pruneIteratively(Model &model, const std::vector<LayerPlan> &plan, const PruneConfig &schedule,
                             const FinetuneConfig &finetune, const Dataset *train, const ProgressFn &progress,
                             const StopToken *stop, const std::function<void(const std::string &)> &log,
                             const Model *teacher)
{
    if (finetune.distill && finetune.epochs > 0 && train && !teacher)
        throw Error("the recipe distils during fine-tuning, and no teacher model was given");
    const int steps = std::max(1, schedule.steps);
    if (!(schedule.power > 0))
        throw Error("pruning schedule: power must be positive, got " + std::to_string(schedule.power));
    const bool tune = train && finetune.epochs > 0;
    Model work = model.deepCopy();
    std::map<std::string, int64_t> original;
    for (const LayerPlan &p : plan)
        if (p.config.prune && !p.config.skip && p.config.prune->method == PruneMethod::Channel) {
            const Node *n = findLayerNode(work.graph, p.node);
            auto w = work.graph.initializers.find(p.weight);
            if (n && w != work.graph.initializers.end())
                original[p.node] = w->second.dim(outputChannelAxis(*n, w->second.shape()));
        }
    PruneResult result;
    for (int k = 1; k <= steps; ++k) {
        checkStop(stop);
        const double scale = 1.0 - std::pow(1.0 - double(k) / double(steps), schedule.power);
        const std::string step = "step " + std::to_string(k) + "/" + std::to_string(steps);
        if (progress)
            progress(double(k - 1) / steps, "pruning, " + step);
        PruneResult pass = pruneModelFrom(work, plan, std::min(1.0, scale), original);
        if (result.layers.empty()) {
            result.layers = pass.layers;
        } else {
            for (size_t i = 0; i < pass.layers.size() && i < result.layers.size(); ++i) {
                PruneReport &r = result.layers[i];
                r.zeros = pass.layers[i].zeros;
                r.channelsAfter = pass.layers[i].channelsAfter;
                std::vector<int64_t> kept; // this pass's indices are into the channels the earlier ones kept
                for (int64_t c : pass.layers[i].kept)
                    if (c >= 0 && c < int64_t(r.kept.size()))
                        kept.push_back(r.kept[size_t(c)]);
                r.kept = std::move(kept);
            }
        }
        result.masks = pass.masks;
        if (log) {
            std::string line = "pruning " + step + " (ratio scale " + std::to_string(scale).substr(0, 5) + ")";
            std::string channels;
            int64_t params = 0, zeros = 0;
            for (size_t i = 0; i < pass.layers.size(); ++i) {
                const PruneReport &r = pass.layers[i];
                if (pass.masks.count(r.weight)) {
                    params += pass.masks.at(r.weight).numel();
                    zeros += r.zeros;
                } else if (i < result.layers.size() && result.layers[i].channelsBefore != r.channelsAfter) {
                    channels += (channels.empty() ? ": " : ", ") + r.node + " " + std::to_string(r.channelsAfter) +
                                "/" + std::to_string(result.layers[i].channelsBefore) + " channels";
                }
            }
            line += channels;
            if (params > 0)
                line += (channels.empty() ? ": " : "; ") + std::to_string(zeros) + " of " + std::to_string(params) +
                        " weights zero in the unstructured / N:M / block layers";
            log(line);
        }
        const double refitShare = schedule.reconstruct ? (tune ? 0.3 : 1.0) : 0.05;
        if (schedule.reconstruct) {
            if (!train)
                throw Error("channel pruning's reconstruction needs data (give --train-data, or calibration data)");
            std::map<std::string, std::vector<int64_t>> kept;
            for (const PruneReport &r : result.layers)
                if (r.channelsAfter != r.channelsBefore && r.skipped.empty())
                    kept[r.node] = r.kept;
            reconstructPruned(work, model, kept, *train, schedule.reconstructSamples, 0.01, 0,
                              progressSlice(progress, double(k - 1) / steps, (double(k - 1) + refitShare) / steps, step),
                              stop, log);
        }
        if (!tune)
            continue;
        TrainOptions options = finetuneOptions(finetune, 0, teacher);
        options.masks = result.masks;
        const ProgressFn trainProgress = [&](double f, std::string_view stage) {
            if (progress)
                progress((double(k - 1) + refitShare + (1 - refitShare) * f) / steps,
                         "fine-tuning, " + step + ", " + std::string(stage));
        };
        const EpochFn onEpoch = [&](const EpochStats &e, const Model &) {
            if (log)
                log("fine-tuning " + step + ", epoch " + std::to_string(e.epoch) + "/" + std::to_string(e.epochs) +
                    ": loss " + std::to_string(e.loss) +
                    (std::isnan(e.accuracy) ? std::string() : ", accuracy " + std::to_string(e.accuracy)));
        };
        cw::train(work, *train, options, trainProgress, stop, onEpoch);
    }
    checkStop(stop);
    for (PruneReport &r : result.layers)
        if (result.masks.count(r.weight))
            r.zeros = countZeros(work.graph.initializers.at(r.weight));
    if (progress)
        progress(1.0, "pruned");
    model = std::move(work);
    return result;
}

} // namespace cw
