#include "core/graph/transform.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "core/base/error.h"

namespace cw {

namespace {

int consumerCount(const Graph &g, const std::string &value)
{
    int count = 0;
    for (const Node &n : g.nodes)
        count += int(std::count(n.inputs.begin(), n.inputs.end(), value));
    return count;
}

bool isGraphOutput(const Graph &g, const std::string &value)
{
    return std::any_of(g.outputs.begin(), g.outputs.end(), [&](const ValueInfo &v) { return v.name == value; });
}

const Tensor *floatInitializer(const Graph &g, const std::string &name)
{
    auto it = g.initializers.find(name);
    return it != g.initializers.end() && it->second.dtype() == DType::Float32 ? &it->second : nullptr;
}

std::string uniqueInitializerName(const Graph &g, const std::string &base)
{
    std::string name = base;
    for (int k = 1; g.initializers.count(name) || g.values.count(name); ++k)
        name = base + "_" + std::to_string(k);
    return name;
}

// Tries to fold the BN node at index `bnIndex`; returns false (graph unchanged) when it does not qualify.
bool foldOne(Graph &g, size_t bnIndex)
{
    const Node bn = g.nodes[bnIndex];
    if (bn.inputCount() != 5 || bn.outputs.empty() || bn.outputs[0].empty())
        return false;
    for (size_t o = 1; o < bn.outputs.size(); ++o)
        if (!bn.outputs[o].empty())
            return false; // training-mode outputs (running statistics) are consumed
    if (bn.attrInt("training_mode", 0) != 0)
        return false;
    const Tensor *scale = floatInitializer(g, bn.inputs[1]), *bias = floatInitializer(g, bn.inputs[2]);
    const Tensor *mean = floatInitializer(g, bn.inputs[3]), *var = floatInitializer(g, bn.inputs[4]);
    if (!scale || !bias || !mean || !var)
        return false;
    const int64_t channels = scale->numel();
    if (bias->numel() != channels || mean->numel() != channels || var->numel() != channels)
        return false;

    const std::string &x = bn.inputs[0];
    auto layerIt = std::find_if(g.nodes.begin(), g.nodes.end(), [&](const Node &n) {
        return std::find(n.outputs.begin(), n.outputs.end(), x) != n.outputs.end();
    });
    if (layerIt == g.nodes.end())
        return false;
    Node &layer = *layerIt;
    if ((layer.opType != "Conv" && layer.opType != "Gemm") || !layer.domain.empty() || layer.outputs[0] != x)
        return false;
    if (consumerCount(g, x) != 1 || isGraphOutput(g, x))
        return false;
    if (!layer.hasInput(1))
        return false;
    const std::string weightName = layer.inputs[1];
    const Tensor *weight = floatInitializer(g, weightName);
    if (!weight || consumerCount(g, weightName) != 1)
        return false;
    const Tensor *oldBias = nullptr;
    if (layer.hasInput(2)) {
        oldBias = floatInitializer(g, layer.inputs[2]);
        if (!oldBias || consumerCount(g, layer.inputs[2]) != 1)
            return false;
    }

    const float epsilon = bn.attrFloat("epsilon", 1e-5f);
    std::vector<double> s(static_cast<size_t>(channels)), t(static_cast<size_t>(channels));
    for (int64_t c = 0; c < channels; ++c) {
        s[size_t(c)] = double(scale->f32()[c]) / std::sqrt(double(var->f32()[c]) + double(epsilon));
        t[size_t(c)] = double(bias->f32()[c]) - s[size_t(c)] * double(mean->f32()[c]);
    }

    Tensor newWeight = weight->clone();
    float *w = newWeight.f32();
    std::vector<double> b(size_t(channels), 0.0);
    if (layer.opType == "Conv") {
        if (weight->rank() < 3 || weight->dim(0) != channels)
            return false;
        if (oldBias && oldBias->numel() != channels)
            return false;
        const int64_t per = weight->numel() / channels;
        for (int64_t m = 0; m < channels; ++m)
            for (int64_t i = 0; i < per; ++i)
                w[m * per + i] = float(w[m * per + i] * s[size_t(m)]);
        for (int64_t m = 0; m < channels; ++m)
            b[size_t(m)] = oldBias ? oldBias->f32()[m] : 0.0;
    } else {
        if (weight->rank() != 2)
            return false;
        const bool transB = layer.attrInt("transB", 0) != 0;
        const int64_t N = transB ? weight->dim(0) : weight->dim(1), K = transB ? weight->dim(1) : weight->dim(0);
        if (N != channels)
            return false;
        // C broadcasts to [M, N]; only a per-column (or scalar) bias folds into a per-column one.
        if (oldBias && oldBias->numel() != channels && oldBias->numel() != 1)
            return false;
        const double beta = layer.attrFloat("beta", 1.f);
        for (int64_t n = 0; n < N; ++n)
            for (int64_t k = 0; k < K; ++k) {
                float &v = transB ? w[n * K + k] : w[k * N + n];
                v = float(v * s[size_t(n)]);
            }
        for (int64_t n = 0; n < N; ++n)
            b[size_t(n)] = oldBias ? beta * oldBias->f32()[oldBias->numel() == 1 ? 0 : n] : 0.0;
        layer.attrs["beta"] = Attribute::makeFloat(1.f);
    }
    Tensor newBias(DType::Float32, {channels});
    for (int64_t c = 0; c < channels; ++c)
        newBias.f32()[c] = float(s[size_t(c)] * b[size_t(c)] + t[size_t(c)]);

    g.initializers[weightName] = newWeight;
    std::string biasName = oldBias ? layer.inputs[2] : uniqueInitializerName(g, layer.name + ".bias");
    if (layer.inputs.size() < 3)
        layer.inputs.resize(3);
    layer.inputs[2] = biasName;
    g.initializers[biasName] = newBias;
    layer.outputs[0] = bn.outputs[0];
    g.values.erase(x);

    g.nodes.erase(g.nodes.begin() + std::ptrdiff_t(bnIndex));
    for (int i = 1; i < 5; ++i)
        if (consumerCount(g, bn.inputs[size_t(i)]) == 0)
            g.initializers.erase(bn.inputs[size_t(i)]);
    return true;
}

} // namespace

namespace {

void collectNames(const Graph &g, std::map<std::string, int> &defined)
{
    for (const ValueInfo &v : g.inputs)
        ++defined[v.name];
    for (const auto &[name, t] : g.initializers)
        ++defined[name];
    for (const Node &n : g.nodes) {
        for (const std::string &o : n.outputs)
            ++defined[o];
        for (const std::string &in : n.inputs)
            defined.emplace(in, 0); // read, not defined here: the name is in use
        for (const Graph *sub : n.subgraphs())
            collectNames(*sub, defined);
    }
}

bool definesName(const Graph &g, const std::string &name)
{
    if (g.initializers.count(name))
        return true;
    for (const ValueInfo &v : g.inputs)
        if (v.name == name)
            return true;
    for (const Node &n : g.nodes)
        if (std::find(n.outputs.begin(), n.outputs.end(), name) != n.outputs.end())
            return true;
    return false;
}

// Renames the reads of `from` in `g` and in the subgraphs that do not define it themselves (copied on write).
void renameReads(Graph &g, const std::string &from, const std::string &to)
{
    for (Node &n : g.nodes) {
        std::replace(n.inputs.begin(), n.inputs.end(), from, to);
        for (auto &[key, a] : n.attrs) {
            if (a.kind != Attribute::Kind::Graph || !a.graph || definesName(*a.graph, from))
                continue;
            const std::vector<std::string> outer = outerNames(*a.graph);
            if (!std::binary_search(outer.begin(), outer.end(), from))
                continue;
            auto copy = std::make_shared<Graph>(*a.graph);
            renameReads(*copy, from, to);
            a.graph = std::move(copy);
        }
    }
    for (ValueInfo &o : g.outputs)
        if (o.name == from)
            o.name = to;
}

// Hoists the layer weights `g` (a subgraph) holds, and those of its own subgraphs; returns how many.
int hoistFrom(Graph &g, std::map<std::string, Tensor> &mainInits, std::map<std::string, int> &names)
{
    int moved = 0;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const std::string w = layerWeight(g, g.nodes[i]);
        if (!w.empty()) {
            // The name stays when this is its only definition; a new one must be unused anywhere.
            const auto taken = [&](const std::string &n) {
                auto it = names.find(n);
                return mainInits.count(n) > 0 || (it != names.end() && (n != w || it->second > 1));
            };
            std::string name = w;
            for (int k = 1; taken(name); ++k)
                name = w + "_" + std::to_string(k);
            names[name] = 1;
            mainInits[name] = g.initializers.at(w);
            g.initializers.erase(w);
            g.values.erase(w);
            if (name != w)
                renameReads(g, w, name);
            ++moved;
        }
        for (auto &[key, a] : g.nodes[i].attrs) {
            if (a.kind != Attribute::Kind::Graph || !a.graph)
                continue;
            auto copy = std::make_shared<Graph>(*a.graph);
            if (const int n = hoistFrom(*copy, mainInits, names); n > 0) {
                a.graph = std::move(copy);
                moved += n;
            }
        }
    }
    return moved;
}

} // namespace

int hoistSubgraphWeights(Model &model)
{
    Graph &g = model.graph;
    bool any = false;
    for (const Node &n : g.nodes)
        any = any || !n.subgraphs().empty();
    if (!any)
        return 0;
    std::map<std::string, int> names;
    collectNames(g, names);
    int moved = 0;
    for (Node &n : g.nodes)
        for (auto &[key, a] : n.attrs) {
            if (a.kind != Attribute::Kind::Graph || !a.graph)
                continue;
            auto copy = std::make_shared<Graph>(*a.graph);
            if (const int k = hoistFrom(*copy, g.initializers, names); k > 0) {
                a.graph = std::move(copy);
                moved += k;
            }
        }
    return moved;
}

int foldBatchNorm(Model &model)
{
    Graph &g = model.graph;
    int folded = 0;
    for (size_t i = 0; i < g.nodes.size();) {
        const Node &n = g.nodes[i];
        if (n.opType == "BatchNormalization" && n.domain.empty() && foldOne(g, i)) {
            ++folded;
            continue; // the node at i is gone; the next one moved into its place
        }
        ++i;
    }
    return folded;
}

std::map<std::string, DType> widenLayerWeights(Model &model)
{
    Graph &g = model.graph;
    std::map<std::string, DType> widened;
    for (const Node &n : g.nodes) {
        if ((!n.domain.empty() && n.domain != "ai.onnx") ||
            (n.opType != "Conv" && n.opType != "ConvTranspose" && n.opType != "Gemm" && n.opType != "MatMul"))
            continue;
        for (const std::string &in : n.inputs) {
            auto it = g.initializers.find(in);
            if (it == g.initializers.end() || !isHalfType(it->second.dtype()) || it->second.rank() < 2)
                continue;
            widened.emplace(in, it->second.dtype());
            it->second = it->second.castTo(DType::Float32);
            auto v = g.values.find(in);
            if (v != g.values.end())
                v->second.dtype = DType::Float32;
            break; // the layer's weight; a second 16-bit operand stays as it is
        }
    }
    return widened;
}

void narrowLayerWeights(Model &model, const std::map<std::string, DType> &widened)
{
    Graph &g = model.graph;
    for (const auto &[name, dtype] : widened) {
        auto it = g.initializers.find(name);
        if (it != g.initializers.end()) {
            if (it->second.dtype() == DType::Float32)
                it->second = it->second.castTo(dtype);
            continue;
        }
        // Produced by a node now (the DequantizeLinear of a quantized weight): that node's float32 result goes
        // through a Cast that gives the consumers the name and the type they had.
        for (size_t i = 0; i < g.nodes.size(); ++i) {
            auto out = std::find(g.nodes[i].outputs.begin(), g.nodes[i].outputs.end(), name);
            if (out == g.nodes[i].outputs.end())
                continue;
            std::string wide = name + "_float32";
            while (g.initializers.count(wide) || g.values.count(wide) || g.producer(wide))
                wide += "_";
            *out = wide;
            Node cast;
            cast.name = g.nodes[i].name + "_cast";
            while (g.findNode(cast.name))
                cast.name += "_";
            cast.opType = "Cast";
            cast.inputs = {wide};
            cast.outputs = {name};
            cast.attrs["to"] = Attribute::makeInt(dtype == DType::BFloat16 ? 16 : 10); // ONNX BFLOAT16 / FLOAT16
            if (auto opset = g.nodes[i].attrs.find("_opset"); opset != g.nodes[i].attrs.end())
                cast.attrs["_opset"] = opset->second;
            g.nodes.insert(g.nodes.begin() + std::ptrdiff_t(i) + 1, cast);
            break;
        }
    }
}

} // namespace cw
