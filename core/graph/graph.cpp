#include "core/graph/graph.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <set>
#include <unordered_map>

#include "core/base/error.h"

namespace cw {

Attribute Attribute::makeInt(int64_t v)
{
    Attribute a;
    a.kind = Kind::Int;
    a.i = v;
    return a;
}
Attribute Attribute::makeFloat(float v)
{
    Attribute a;
    a.kind = Kind::Float;
    a.f = v;
    return a;
}
Attribute Attribute::makeString(std::string v)
{
    Attribute a;
    a.kind = Kind::String;
    a.s = std::move(v);
    return a;
}
Attribute Attribute::makeInts(std::vector<int64_t> v)
{
    Attribute a;
    a.kind = Kind::Ints;
    a.ints = std::move(v);
    return a;
}
Attribute Attribute::makeFloats(std::vector<float> v)
{
    Attribute a;
    a.kind = Kind::Floats;
    a.floats = std::move(v);
    return a;
}
Attribute Attribute::makeTensor(cw::Tensor v)
{
    Attribute a;
    a.kind = Kind::Tensor;
    a.t = std::move(v);
    return a;
}
Attribute Attribute::makeGraph(cw::Graph g)
{
    Attribute a;
    a.kind = Kind::Graph;
    a.graph = std::make_shared<const cw::Graph>(std::move(g));
    return a;
}

std::vector<const Graph *> Node::subgraphs() const
{
    std::vector<const Graph *> result;
    for (const auto &[key, a] : attrs)
        if (a.kind == Attribute::Kind::Graph && a.graph)
            result.push_back(a.graph.get());
    return result;
}

const Graph *Node::subgraph(const std::string &key) const
{
    auto it = attrs.find(key);
    return it != attrs.end() && it->second.kind == Attribute::Kind::Graph ? it->second.graph.get() : nullptr;
}

std::vector<std::string> outerNames(const Graph &graph)
{
    std::set<std::string> defined, used;
    for (const ValueInfo &v : graph.inputs)
        defined.insert(v.name);
    for (const auto &[name, t] : graph.initializers)
        defined.insert(name);
    for (const Node &n : graph.nodes) {
        defined.insert(n.outputs.begin(), n.outputs.end());
        for (const std::string &in : n.inputs)
            if (!in.empty())
                used.insert(in);
        for (const std::string &in : implicitInputs(n))
            used.insert(in);
    }
    for (const ValueInfo &v : graph.outputs)
        used.insert(v.name);
    std::vector<std::string> result;
    std::set_difference(used.begin(), used.end(), defined.begin(), defined.end(), std::back_inserter(result));
    return result;
}

std::vector<std::string> implicitInputs(const Node &node)
{
    std::set<std::string> names;
    for (const Graph *g : node.subgraphs())
        for (const std::string &n : outerNames(*g))
            names.insert(n);
    return {names.begin(), names.end()};
}

namespace {
[[noreturn]] void wrongKind(const Node &node, std::string_view key, const char *wanted)
{
    throw Error("node '" + node.name + "' (" + node.opType + "): attribute '" + std::string(key) + "' is not " + wanted);
}
} // namespace

int64_t Node::attrInt(std::string_view key, int64_t fallback) const
{
    auto it = attrs.find(key);
    if (it == attrs.end())
        return fallback;
    if (it->second.kind == Attribute::Kind::Int)
        return it->second.i;
    if (it->second.kind == Attribute::Kind::Float)
        return int64_t(it->second.f);
    wrongKind(*this, key, "an integer");
}

float Node::attrFloat(std::string_view key, float fallback) const
{
    auto it = attrs.find(key);
    if (it == attrs.end())
        return fallback;
    if (it->second.kind == Attribute::Kind::Float)
        return it->second.f;
    if (it->second.kind == Attribute::Kind::Int)
        return float(it->second.i);
    wrongKind(*this, key, "a float");
}

std::string Node::attrString(std::string_view key, const std::string &fallback) const
{
    auto it = attrs.find(key);
    if (it == attrs.end())
        return fallback;
    if (it->second.kind != Attribute::Kind::String)
        wrongKind(*this, key, "a string");
    return it->second.s;
}

std::vector<int64_t> Node::attrInts(std::string_view key, const std::vector<int64_t> &fallback) const
{
    auto it = attrs.find(key);
    if (it == attrs.end())
        return fallback;
    if (it->second.kind == Attribute::Kind::Int)
        return {it->second.i};
    if (it->second.kind != Attribute::Kind::Ints)
        wrongKind(*this, key, "a list of integers");
    return it->second.ints;
}

std::vector<float> Node::attrFloats(std::string_view key, const std::vector<float> &fallback) const
{
    auto it = attrs.find(key);
    if (it == attrs.end())
        return fallback;
    if (it->second.kind == Attribute::Kind::Float)
        return {it->second.f};
    if (it->second.kind != Attribute::Kind::Floats)
        wrongKind(*this, key, "a list of floats");
    return it->second.floats;
}

int Node::inputCount() const
{
    int n = int(inputs.size());
    while (n > 0 && inputs[size_t(n - 1)].empty())
        --n;
    return n;
}

const Node *Graph::findNode(const std::string &nodeName) const
{
    for (const Node &n : nodes)
        if (n.name == nodeName)
            return &n;
    return nullptr;
}

Node *Graph::findNode(const std::string &nodeName)
{
    for (Node &n : nodes)
        if (n.name == nodeName)
            return &n;
    return nullptr;
}

const Node *Graph::producer(const std::string &value) const
{
    for (const Node &n : nodes)
        for (const std::string &o : n.outputs)
            if (o == value)
                return &n;
    return nullptr;
}

std::vector<const Node *> Graph::consumers(const std::string &value) const
{
    std::vector<const Node *> result;
    for (const Node &n : nodes) {
        if (std::find(n.inputs.begin(), n.inputs.end(), value) != n.inputs.end())
            result.push_back(&n);
        else if (!n.subgraphs().empty()) {
            const std::vector<std::string> implicit = implicitInputs(n);
            if (std::binary_search(implicit.begin(), implicit.end(), value))
                result.push_back(&n);
        }
    }
    return result;
}

void Graph::sortTopologically(const std::set<std::string> &outer)
{
    std::set<std::string> available = outer;
    for (const ValueInfo &v : inputs)
        available.insert(v.name);
    for (const auto &[name, t] : initializers)
        available.insert(name);

    std::unordered_map<std::string, size_t> producerOf;
    for (size_t i = 0; i < nodes.size(); ++i)
        for (const std::string &o : nodes[i].outputs)
            if (!o.empty())
                producerOf[o] = i;

    std::vector<int> pending(nodes.size(), 0);
    std::unordered_map<std::string, std::vector<size_t>> waiting;
    std::deque<size_t> ready;
    for (size_t i = 0; i < nodes.size(); ++i) {
        std::set<std::string> seen;
        std::vector<std::string> reads = nodes[i].inputs;
        for (const std::string &in : implicitInputs(nodes[i]))
            reads.push_back(in);
        for (const std::string &in : reads) {
            if (in.empty() || available.count(in) || !seen.insert(in).second)
                continue;
            if (!producerOf.count(in))
                throw Error("node '" + nodes[i].name + "' (" + nodes[i].opType + "): input '" + in +
                            "' is produced by no node and is neither a graph input nor an initializer");
            ++pending[i];
            waiting[in].push_back(i);
        }
        if (pending[i] == 0)
            ready.push_back(i);
    }
    std::vector<Node> sorted;
    sorted.reserve(nodes.size());
    while (!ready.empty()) {
        size_t i = ready.front();
        ready.pop_front();
        sorted.push_back(nodes[i]);
        for (const std::string &o : nodes[i].outputs) {
            auto it = waiting.find(o);
            if (it == waiting.end())
                continue;
            for (size_t j : it->second)
                if (--pending[j] == 0)
                    ready.push_back(j);
            waiting.erase(it);
        }
    }
    if (sorted.size() != nodes.size()) {
        for (size_t i = 0; i < nodes.size(); ++i)
            if (pending[i] > 0)
                throw Error("graph has a cycle through node '" + nodes[i].name + "' (" + nodes[i].opType + ")");
    }
    nodes = std::move(sorted);
}

void Graph::ensureUniqueNodeNames()
{
    std::set<std::string> used;
    for (const Node &n : nodes)
        if (!n.name.empty())
            used.insert(n.name);
    std::set<std::string> taken;
    for (size_t i = 0; i < nodes.size(); ++i) {
        Node &n = nodes[i];
        if (!n.name.empty() && taken.insert(n.name).second)
            continue;
        std::string base = n.name.empty() ? n.opType + "_" + std::to_string(i) : n.name;
        std::string candidate = base;
        for (int k = 1; used.count(candidate) || taken.count(candidate); ++k)
            candidate = base + "_" + std::to_string(k);
        n.name = candidate;
        taken.insert(candidate);
        used.insert(candidate);
    }
}

int64_t Graph::parameterCount() const
{
    int64_t n = 0;
    for (const auto &[name, t] : initializers)
        n += t.numel();
    return n;
}

size_t Graph::parameterBytes() const
{
    size_t n = 0;
    for (const auto &[name, t] : initializers)
        n += t.byteSize();
    return n;
}

Model Model::deepCopy() const
{
    Model copy = *this;
    for (auto &[name, t] : copy.graph.initializers)
        t = t.clone();
    return copy;
}

std::vector<LayerInfo> Model::layers() const
{
    // A weight-only quantized layer's DequantizeLinear is part of its layer: no row of its own, and its integer
    // weight, scale and zero point count as the layer's. Any quantized layer's weight is its integer tensor
    // (QLinearConv's first initializer input is a scale).
    std::map<std::string, const IntegerLayerWeight> stored;
    std::set<std::string> dequantizers;
    for (IntegerLayerWeight &w : integerLayerWeights(graph)) {
        dequantizers.insert(w.dequantize.begin(), w.dequantize.end());
        stored.emplace(w.layer, std::move(w));
    }
    // So is the DequantizeLinear of its bias in the QDQ format (of an initializer, read by the layer alone): its
    // integers, scale and zero point count as the layer's.
    std::map<std::string, const Node *> biasDequantizers; // by layer
    std::map<std::string, int> readers;
    for (const Node &n : graph.nodes)
        for (const std::string &in : n.inputs)
            ++readers[in];
    for (const Node &n : graph.nodes) {
        if (!stored.count(n.name) || n.inputs.size() < 3 || n.inputs[2].empty() || readers[n.inputs[2]] != 1)
            continue;
        const Node *dq = graph.producer(n.inputs[2]);
        if (dq && dq->opType == "DequantizeLinear" && !dq->inputs.empty() && graph.isInitializer(dq->inputs[0])) {
            biasDequantizers[n.name] = dq;
            dequantizers.insert(dq->name);
        }
    }
    std::vector<LayerInfo> result;
    result.reserve(graph.nodes.size());
    for (const Node &n : graph.nodes) {
        if (dequantizers.count(n.name))
            continue;
        std::vector<std::string> inputs = n.inputs;
        const auto integer = stored.find(n.name);
        if (integer != stored.end() && !integer->second.dequantize.empty()) {
            std::replace(inputs.begin(), inputs.end(), integer->second.value, integer->second.q);
            inputs.insert(inputs.end(), {integer->second.scale, integer->second.zeroPoint});
        }
        if (const auto bias = biasDequantizers.find(n.name); bias != biasDequantizers.end()) {
            inputs[2] = bias->second->inputs[0];
            inputs.insert(inputs.end(), bias->second->inputs.begin() + 1, bias->second->inputs.end());
        }
        LayerInfo info;
        info.name = n.name;
        info.opType = n.opType;
        std::set<std::string> counted;
        for (const std::string &in : inputs) {
            if (in.empty())
                continue;
            auto init = graph.initializers.find(in);
            if (init != graph.initializers.end()) {
                if (!counted.insert(in).second)
                    continue;
                // Shape-like int64 inputs (Reshape's target, Slice's starts) are not parameters.
                if (init->second.dtype() == DType::Int64)
                    continue;
                if (info.weightName.empty()) {
                    info.weightName = in;
                    info.weightShape = init->second.shape();
                }
                info.params += init->second.numel();
                info.bytes += init->second.byteSize();
            } else {
                info.inputs.push_back(graph.valueInfo(in));
            }
        }
        if (integer != stored.end()) {
            info.weightName = integer->second.q;
            info.weightShape = graph.initializers.at(info.weightName).shape();
        }
        for (const std::string &out : n.outputs)
            info.outputs.push_back(graph.valueInfo(out));
        result.push_back(std::move(info));
    }
    return result;
}

std::string symbolOf(const ValueInfo &in, size_t d)
{
    if (d >= in.shape.size() || in.shape[d] >= 0)
        return {};
    const std::string name = in.dimName(d);
    if (!name.empty())
        return name;
    return d == 0 ? std::string("N") : in.name + "_dim" + std::to_string(d);
}

std::string batchSymbol(const Graph &graph)
{
    for (const ValueInfo &in : graph.inputs)
        if (in.shapeKnown && !in.shape.empty() && in.shape[0] < 0)
            return symbolOf(in, 0);
    return {};
}

std::string shapeToString(const ValueInfo &value)
{
    if (!value.shapeKnown)
        return "?";
    std::string s = "[";
    for (size_t d = 0; d < value.shape.size(); ++d) {
        if (d)
            s += ", ";
        const std::string name = value.dimName(d);
        s += value.shape[d] >= 0 ? std::to_string(value.shape[d]) : name.empty() ? "N" : name;
    }
    return s + "]";
}

ValueInfo Graph::valueInfo(const std::string &value) const
{
    auto v = values.find(value);
    if (v != values.end())
        return v->second;
    for (const std::vector<ValueInfo> *list : {&inputs, &outputs})
        for (const ValueInfo &info : *list)
            if (info.name == value)
                return info;
    ValueInfo unknown;
    unknown.name = value;
    return unknown;
}

std::string layerWeight(const Graph &graph, const Node &node)
{
    static const std::set<std::string> layers{"Conv", "ConvTranspose", "Gemm", "MatMul"};
    if (!node.domain.empty() && node.domain != "ai.onnx")
        return {};
    if (!layers.count(node.opType))
        return {};
    for (const std::string &in : node.inputs) {
        if (in.empty())
            continue;
        auto it = graph.initializers.find(in);
        if (it != graph.initializers.end() && it->second.dtype() == DType::Float32 && it->second.rank() >= 2)
            return in;
    }
    return {};
}

std::vector<LayerNode> layerNodes(const Graph &graph)
{
    std::vector<LayerNode> layers;
    std::set<std::string> claimed;      // weights that have their layer
    std::map<std::string, int> names;   // node name -> occurrences in the whole model
    std::function<void(const Graph &)> count = [&](const Graph &g) {
        for (const Node &n : g.nodes) {
            ++names[n.name];
            for (const Graph *sub : n.subgraphs())
                count(*sub);
        }
    };
    count(graph);
    // `defined`: the names the enclosing subgraphs define, which shadow main-graph initializers.
    std::function<void(const Graph &, std::set<std::string>, size_t)> visit = [&](const Graph &g,
                                                                                   std::set<std::string> defined,
                                                                                   size_t top) {
        for (const ValueInfo &v : g.inputs)
            defined.insert(v.name);
        for (const auto &[name, t] : g.initializers)
            defined.insert(name);
        for (const Node &n : g.nodes)
            defined.insert(n.outputs.begin(), n.outputs.end());
        for (const Node &n : g.nodes) {
            const std::string w = layerWeight(graph, n);
            if (!w.empty() && !defined.count(w) && !claimed.count(w) && !n.name.empty() && names[n.name] == 1) {
                claimed.insert(w);
                layers.push_back({&n, w, top, true});
            }
            for (const Graph *sub : n.subgraphs())
                visit(*sub, defined, top);
        }
    };
    // Main-graph layers own their weights first, wherever a subgraph also reads one.
    for (const Node &n : graph.nodes)
        if (const std::string w = layerWeight(graph, n); !w.empty())
            claimed.insert(w);
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
        const Node &n = graph.nodes[i];
        if (const std::string w = layerWeight(graph, n); !w.empty())
            layers.push_back({&n, w, i, false});
        for (const Graph *sub : n.subgraphs())
            visit(*sub, {}, i);
    }
    return layers;
}

std::optional<LayerNode> findLayer(const Graph &graph, const std::string &name)
{
    for (const LayerNode &l : layerNodes(graph))
        if (l.node->name == name)
            return l;
    return std::nullopt;
}

std::optional<DynamicQuantChain> dynamicQuantChain(const Graph &g, const Node &n)
{
    if (!n.domain.empty() || (n.opType != "ConvInteger" && n.opType != "MatMulInteger") || n.inputs.size() < 2 ||
        !g.isInitializer(n.inputs[1]) || (n.hasInput(3) && !g.isInitializer(n.inputs[3])))
        return std::nullopt;
    const auto sole = [&](const std::string &value, const char *op) -> const Node * {
        const std::vector<const Node *> c = g.consumers(value);
        return c.size() == 1 && c[0]->opType == op && c[0]->domain.empty() ? c[0] : nullptr;
    };
    DynamicQuantChain chain;
    chain.quantize = g.producer(n.inputs[0]);
    if (!chain.quantize || chain.quantize->opType != "DynamicQuantizeLinear" || !chain.quantize->hasInput(0) ||
        chain.quantize->outputs.size() < 3 || (n.hasInput(2) && n.inputs[2] != chain.quantize->outputs[2]))
        return std::nullopt;
    chain.cast = sole(n.outputs.empty() ? std::string() : n.outputs[0], "Cast");
    if (!chain.cast || chain.cast->attrInt("to", 0) != 1 || chain.cast->outputs.size() != 1)
        return std::nullopt;
    chain.mul = sole(chain.cast->outputs[0], "Mul");
    if (!chain.mul || chain.mul->inputs.size() != 2 || chain.mul->outputs.size() != 1)
        return std::nullopt;
    const std::string &scales = chain.mul->inputs[0] == chain.cast->outputs[0] ? chain.mul->inputs[1] : chain.mul->inputs[0];
    chain.scaleMul = g.producer(scales);
    if (!chain.scaleMul || chain.scaleMul->opType != "Mul" || chain.scaleMul->inputs.size() != 2)
        return std::nullopt;
    const std::string &xScale = chain.quantize->outputs[1];
    const std::vector<std::string> &in = chain.scaleMul->inputs;
    chain.weightScale = in[0] == xScale ? in[1] : in[1] == xScale ? in[0] : std::string();
    if (chain.weightScale.empty() || !g.isInitializer(chain.weightScale))
        return std::nullopt;
    return chain;
}

namespace {

// The opset-17 form of a blocked DequantizeLinear (ONNX export) producing `value`:
// Reshape(W_q, [.., G, B, ..]) -> Cast(float) -> Sub(zp)? -> Mul(scale) -> Reshape, every operand an initializer.
bool blockedDequantize(const Graph &g, const std::string &value, IntegerLayerWeight &w)
{
    const auto made = [&](const std::string &v, const char *op) -> const Node * {
        const Node *n = g.producer(v);
        return n && n->opType == op && n->domain.empty() && g.consumers(v).size() == 1 ? n : nullptr;
    };
    const auto other = [&](const Node &n, const std::string &known) {
        return n.inputs.size() == 2 ? (n.inputs[0] == known ? n.inputs[1] : n.inputs[0]) : std::string();
    };
    const Node *back = g.producer(value);
    if (!back || back->opType != "Reshape" || back->inputs.size() != 2 || !g.isInitializer(back->inputs[1]))
        return false;
    const Node *mul = made(back->inputs[0], "Mul");
    if (!mul || mul->inputs.size() != 2)
        return false;
    const Node *sub = g.producer(mul->inputs[0]);
    const Node *cast = nullptr;
    std::string scale;
    if (sub && sub->opType == "Sub" && g.isInitializer(mul->inputs[1])) {
        scale = mul->inputs[1];
        if (made(mul->inputs[0], "Sub") != sub || sub->inputs.size() != 2 || !g.isInitializer(sub->inputs[1]))
            return false;
        w.zeroPoint = sub->inputs[1];
        cast = made(sub->inputs[0], "Cast");
    } else {
        for (const std::string &in : mul->inputs)
            if (g.isInitializer(in))
                scale = in;
        cast = made(other(*mul, scale), "Cast");
    }
    if (scale.empty() || !cast || cast->attrInt("to", 0) != 1 || !cast->hasInput(0))
        return false;
    const Node *split = made(cast->inputs[0], "Reshape");
    if (!split || split->inputs.size() != 2 || !g.isInitializer(split->inputs[0]) || !g.isInitializer(split->inputs[1]))
        return false;
    const Tensor &q = g.initializers.at(split->inputs[0]);
    const std::vector<float> blockedShape = g.initializers.at(split->inputs[1]).toFloatVector();
    if (int(blockedShape.size()) != q.rank() + 1)
        return false;
    int axis = 0;
    while (axis < q.rank() && double(blockedShape[size_t(axis)]) == double(q.dim(axis))) // no cast of a wild value
        ++axis;
    if (axis >= q.rank())
        return false;
    const float groups = blockedShape[size_t(axis)], block = blockedShape[size_t(axis) + 1];
    if (!(groups >= 1 && block >= 1 && groups <= float(q.dim(axis)) && block <= float(q.dim(axis))) ||
        int64_t(groups) * int64_t(block) != q.dim(axis))
        return false;
    w.q = split->inputs[0];
    w.scale = scale;
    w.axis = axis;
    w.blockSize = int64_t(blockedShape[size_t(axis) + 1]);
    w.dequantize = {split->name, cast->name};
    if (!w.zeroPoint.empty())
        w.dequantize.push_back(sub->name);
    w.dequantize.insert(w.dequantize.end(), {mul->name, back->name});
    return true;
}

} // namespace

IntegerRange integerRange(const Tensor &q)
{
    const std::vector<float> v = q.toFloatVector();
    IntegerRange r;
    if (v.empty())
        return r;
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    r.min = int32_t(*lo);
    r.max = int32_t(*hi);
    r.bits = std::max(1, int(std::ceil(std::log2(double(r.max) - double(r.min) + 1))));
    return r;
}

std::vector<IntegerLayerWeight> integerLayerWeights(const Graph &g)
{
    static const std::set<std::string> floatLayers{"Conv", "ConvTranspose", "Gemm", "MatMul"};
    // The weight, scale and zero point must be initializers of fitting types and sizes.
    const auto fits = [&](IntegerLayerWeight &w) {
        auto q = g.initializers.find(w.q);
        auto s = g.initializers.find(w.scale);
        if (q == g.initializers.end() || s == g.initializers.end() || q->second.rank() < 2 ||
            (q->second.dtype() != DType::Int8 && q->second.dtype() != DType::UInt8) || s->second.dtype() != DType::Float32)
            return false;
        if (!w.zeroPoint.empty()) {
            auto z = g.initializers.find(w.zeroPoint);
            if (z == g.initializers.end() || z->second.numel() != s->second.numel() ||
                (z->second.dtype() != q->second.dtype() && z->second.dtype() != DType::Float32))
                return false;
            // A float zero point (the opset-17 form) must still be one of the integer type's values.
            const bool s8 = q->second.dtype() == DType::Int8;
            for (float v : z->second.toFloatVector())
                if (!(v == std::floor(v) && v >= (s8 ? -128.f : 0.f) && v <= (s8 ? 127.f : 255.f)))
                    return false;
        }
        const Tensor &qt = q->second;
        const int64_t scales = s->second.numel();
        if (scales == 1) {
            w.axis = -1;
            w.blockSize = 0;
            return true;
        }
        w.axis = w.axis < 0 ? w.axis + qt.rank() : w.axis;
        if (w.axis < 0 || w.axis >= qt.rank() || qt.dim(w.axis) == 0)
            return false;
        if (w.blockSize <= 0)
            return scales == qt.dim(w.axis);
        const int64_t d = qt.dim(w.axis);
        return scales == qt.numel() / d * ceilDiv(d, w.blockSize);
    };
    const auto input = [](const Node &n, int i) { return n.hasInput(i) ? n.inputs[size_t(i)] : std::string(); };
    std::vector<IntegerLayerWeight> result;
    for (const Node &n : g.nodes) {
        IntegerLayerWeight w;
        w.op = n.opType;
        w.layer = n.name;
        if (n.domain.empty() && (n.opType == "QLinearConv" || n.opType == "QLinearMatMul")) {
            w.q = input(n, 3);
            w.scale = input(n, 4);
            w.zeroPoint = input(n, 5);
            w.axis = n.opType == "QLinearMatMul" ? -1 : 0; // -1: the last axis, once the rank is known
        } else if (n.domain == "com.microsoft" && n.opType == "QGemm") {
            w.q = input(n, 3);
            w.scale = input(n, 4);
            w.zeroPoint = input(n, 5);
            w.axis = n.attrInt("transB", 0) ? 0 : -1;
        } else if (auto chain = dynamicQuantChain(g, n)) {
            w.q = n.inputs[1];
            w.scale = chain->weightScale;
            w.zeroPoint = input(n, 3);
            w.axis = n.opType == "ConvInteger" ? 0 : -1;
        } else if (floatLayers.count(n.opType) && (n.domain.empty() || n.domain == "ai.onnx") && layerWeight(g, n).empty()) {
            // A weight-only layer: its weight comes from a DequantizeLinear (or its opset-17 blocked form) of an
            // initializer. In the QDQ format its input comes from a DequantizeLinear too, of a value.
            w.op = "DequantizeLinear";
            for (const std::string &in : n.inputs) {
                const Node *dq = in.empty() ? nullptr : g.producer(in);
                if (!dq || g.consumers(in).size() != 1)
                    continue;
                w.value = in;
                if (dq->opType == "DequantizeLinear" && dq->domain.empty() && dq->inputs.size() >= 2 &&
                    g.isInitializer(dq->inputs[0])) {
                    w.q = dq->inputs[0];
                    w.scale = dq->inputs[1];
                    w.zeroPoint = input(*dq, 2);
                    w.axis = int(dq->attrInt("axis", 1));
                    w.blockSize = dq->attrInt("block_size", 0);
                    w.dequantize = {dq->name};
                    break;
                }
                if (blockedDequantize(g, in, w))
                    break;
            }
            if (w.dequantize.empty())
                continue;
        } else {
            continue;
        }
        if (fits(w))
            result.push_back(std::move(w));
    }
    return result;
}

const Node *findLayerNode(const Graph &graph, const std::string &name)
{
    if (const Node *n = graph.findNode(name))
        return n;
    const std::optional<LayerNode> layer = findLayer(graph, name);
    return layer ? layer->node : nullptr;
}

int outputChannelAxis(const Node &node, const Shape &weightShape)
{
    const int rank = int(weightShape.size());
    if (rank < 2)
        return 0;
    if (node.opType == "ConvTranspose")
        return 1;
    if (node.opType == "Gemm")
        return node.attrInt("transB", 0) ? 0 : 1;
    if (node.opType == "MatMul")
        return rank - 1;
    return 0;
}

void layerAxes(const Node &node, const Shape &weightShape, int *channelAxis, int *reductionAxis)
{
    *channelAxis = outputChannelAxis(node, weightShape);
    if (node.opType == "Conv")
        *reductionAxis = 1;
    else if (node.opType == "ConvTranspose")
        *reductionAxis = 0;
    else
        *reductionAxis = *channelAxis == 0 ? 1 : 0;
}

} // namespace cw
