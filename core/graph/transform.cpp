#include "core/graph/transform.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <set>

#include "core/base/error.h"

namespace cw {

namespace {

// Reads of `value` by the nodes of g, a control-flow node's subgraphs reading it counting as one more.
int consumerCount(const Graph &g, const std::string &value)
{
    int count = 0;
    for (const Node &n : g.nodes) {
        count += int(std::count(n.inputs.begin(), n.inputs.end(), value));
        const std::vector<std::string> implicit = implicitInputs(n);
        count += int(std::count(implicit.begin(), implicit.end(), value));
    }
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

// Applies `change` to a copy of each subgraph of `node` and keeps the copies it changed (subgraphs are shared
// between copies of a model and never modified in place); returns the sum of what `change` returned.
int changeSubgraphs(Node &node, const std::function<int(Graph &)> &change)
{
    int total = 0;
    for (auto &[key, a] : node.attrs) {
        if (a.kind != Attribute::Kind::Graph || !a.graph)
            continue;
        auto copy = std::make_shared<Graph>(*a.graph);
        if (const int k = change(*copy); k > 0) {
            a.graph = std::move(copy);
            total += k;
        }
    }
    return total;
}

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
        moved += changeSubgraphs(g.nodes[i], [&](Graph &sub) { return hoistFrom(sub, mainInits, names); });
    }
    return moved;
}

void collectNodeNames(const Graph &g, std::set<std::string> &names)
{
    for (const Node &n : g.nodes) {
        names.insert(n.name);
        for (const Graph *sub : n.subgraphs())
            collectNodeNames(*sub, names);
    }
}

// Renames the nodes of `g` and of its subgraphs that have no name or one a node seen before has (`seen`; `all`:
// every name in the model, which a new name must avoid too); returns how many.
int nameNodes(Graph &g, std::set<std::string> &seen, std::set<std::string> &all)
{
    int named = 0;
    for (Node &n : g.nodes) {
        if (n.name.empty() || seen.count(n.name)) {
            const std::string base = n.name.empty() ? n.opType : n.name;
            std::string name;
            for (int k = 0; name.empty() || all.count(name) || seen.count(name); ++k)
                name = base + "_" + std::to_string(k);
            n.name = name;
            all.insert(name);
            ++named;
        }
        seen.insert(n.name);
        named += changeSubgraphs(n, [&](Graph &sub) { return nameNodes(sub, seen, all); });
    }
    return named;
}

} // namespace

int nameSubgraphNodes(Model &model)
{
    std::set<std::string> all, seen;
    collectNodeNames(model.graph, all);
    for (const Node &n : model.graph.nodes)
        seen.insert(n.name); // the main graph's names are unique (Graph::ensureUniqueNodeNames)
    int named = 0;
    for (Node &n : model.graph.nodes)
        named += changeSubgraphs(n, [&](Graph &sub) { return nameNodes(sub, seen, all); });
    return named;
}

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
        moved += changeSubgraphs(n, [&](Graph &sub) { return hoistFrom(sub, g.initializers, names); });
    return moved;
}

int inlineKnownIfs(Model &model, const std::map<std::string, std::vector<int64_t>> &conditions)
{
    Graph &g = model.graph;
    std::map<std::string, int> names;
    collectNames(g, names);
    std::vector<Node> nodes;
    int inlined = 0;
    for (Node &n : g.nodes) {
        const auto c = n.opType == "If" && isDefaultDomain(n.domain) && !n.inputs.empty() ? conditions.find(n.inputs[0])
                                                                                         : conditions.end();
        const Graph *taken = c != conditions.end() && c->second.size() == 1
                                 ? n.subgraph(c->second[0] ? "then_branch" : "else_branch")
                                 : nullptr;
        if (!taken || taken->outputs.size() != n.outputs.size()) {
            nodes.push_back(std::move(n));
            continue;
        }
        Graph branch = *taken;
        // A name the branch defines that something else in the model defines too (the other branch, a sibling
        // subgraph) gets one of its own in the enclosing graph.
        std::vector<std::string> defined;
        for (const auto &[name, t] : branch.initializers)
            defined.push_back(name);
        for (const Node &b : branch.nodes)
            for (const std::string &o : b.outputs)
                if (!o.empty())
                    defined.push_back(o);
        for (const std::string &d : defined) {
            if (names[d] <= 1)
                continue;
            std::string name;
            for (int k = 1; name.empty() || names.count(name); ++k)
                name = d + "_" + std::to_string(k);
            names[name] = 1;
            renameReads(branch, d, name);
            for (Node &b : branch.nodes)
                std::replace(b.outputs.begin(), b.outputs.end(), d, name);
            if (auto init = branch.initializers.find(d); init != branch.initializers.end()) {
                branch.initializers[name] = init->second;
                branch.initializers.erase(d);
            }
        }
        for (auto &[name, t] : branch.initializers)
            g.initializers[name] = std::move(t);
        for (Node &b : branch.nodes)
            nodes.push_back(std::move(b));
        for (size_t k = 0; k < n.outputs.size(); ++k) { // the branch's outputs under the If's names
            Node identity;
            identity.name = n.name + "/output_" + std::to_string(k);
            identity.opType = "Identity";
            identity.inputs = {branch.outputs[k].name};
            identity.outputs = {n.outputs[k]};
            nodes.push_back(std::move(identity));
        }
        ++inlined;
    }
    g.nodes = std::move(nodes);
    return inlined;
}

Tensor dequantizeLayerWeight(const Graph &g, const IntegerLayerWeight &w)
{
    const Tensor &q = g.initializers.at(w.q);
    const std::vector<float> s = g.initializers.at(w.scale).toFloatVector();
    const std::vector<float> z = w.zeroPoint.empty() ? std::vector<float>(s.size(), 0.f)
                                                     : g.initializers.at(w.zeroPoint).toFloatVector();
    // Element e's scale: one for all, one per index along the axis, or one per block along it (the scale then
    // has q's shape with the axis divided into blocks).
    int64_t inner = 1, d = 1;
    if (w.axis >= 0) {
        d = q.dim(w.axis);
        for (int a = w.axis + 1; a < q.rank(); ++a)
            inner *= q.dim(a);
    }
    const int64_t blocks = w.blockSize > 0 ? ceilDiv(d, w.blockSize) : d;
    const std::vector<float> qv = q.toFloatVector();
    Tensor out(DType::Float32, q.shape());
    float *o = out.f32();
    for (int64_t e = 0; e < q.numel(); ++e) {
        size_t k = 0;
        if (w.axis >= 0) {
            const int64_t along = (e / inner) % d, outer = e / (inner * d);
            k = w.blockSize > 0 ? size_t((outer * blocks + along / w.blockSize) * inner + e % inner) : size_t(along);
        }
        o[e] = (qv[size_t(e)] - z[k]) * s[k];
    }
    return out;
}

namespace {
// How a quantized layer's weight was stored, on the float layer that replaces it: planLayers
// (compress/recipe.h) keeps that quantization for a layer the recipe does not quantize.
void markStored(Node &layer, const Graph &g, const IntegerLayerWeight &w)
{
    const Tensor &q = g.initializers.at(w.q);
    bool symmetric = q.dtype() == DType::Int8;
    if (!w.zeroPoint.empty())
        for (float z : g.initializers.at(w.zeroPoint).toFloatVector())
            symmetric = symmetric && z == 0.f;
    layer.attrs[kStoredBits] = Attribute::makeInt(integerRange(q).bits);
    layer.attrs[kStoredGranularity] = Attribute::makeInt(w.blockSize > 0 ? 2 : w.axis >= 0 ? 1 : 0);
    layer.attrs[kStoredGroup] = Attribute::makeInt(w.blockSize);
    layer.attrs[kStoredSymmetric] = Attribute::makeInt(symmetric);
}
} // namespace

void clearStoredMarks(Model &model)
{
    for (Node &n : model.graph.nodes)
        for (const char *key : {kStoredBits, kStoredGranularity, kStoredGroup, kStoredSymmetric})
            n.attrs.erase(key);
}

int dequantizeIntegerLayers(Model &model)
{
    Graph &g = model.graph;
    std::set<const Node *> removed;       // integer layers, their Casts, the weights' DequantizeLinear nodes
    std::map<const Node *, Node> placed;  // the scaling Mul -> the float layer taking its place
    std::set<std::string> orphans;        // DynamicQuantizeLinear / scale Mul nodes and initializers that may be
                                          // left unused
    int rewritten = 0;
    for (const IntegerLayerWeight &iw : integerLayerWeights(g)) {
        Node &n = *g.findNode(iw.layer);
        orphans.insert({iw.q, iw.scale, iw.zeroPoint});
        if (!iw.dequantize.empty()) {
            // The weight's values become an initializer under the name the layer reads.
            g.initializers[iw.value] = dequantizeLayerWeight(g, iw);
            if (auto v = g.values.find(iw.value); v != g.values.end())
                v->second.dtype = DType::Float32;
            markStored(n, g, iw);
            for (const std::string &name : iw.dequantize) {
                const Node *dq = g.findNode(name);
                removed.insert(dq);
                orphans.insert(dq->inputs.begin(), dq->inputs.end());
            }
            ++rewritten;
            continue;
        }
        const std::optional<DynamicQuantChain> chain = dynamicQuantChain(g, n);
        if (!chain)
            continue; // QLinearConv & co. stay integer layers
        const bool conv = n.opType == "ConvInteger";
        std::string name = n.inputs[1];
        const std::string suffix = "_quantized";
        if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
            name.erase(name.size() - suffix.size());
        for (int k = 1; g.initializers.count(name) || g.values.count(name); ++k)
            name = n.inputs[1] + "_float" + (k > 1 ? "_" + std::to_string(k) : std::string());
        g.initializers[name] = dequantizeLayerWeight(g, iw);
        Node layer;
        layer.name = n.name;
        layer.opType = conv ? "Conv" : "MatMul";
        layer.inputs = {chain->quantize->inputs[0], name};
        layer.outputs = {chain->mul->outputs[0]};
        for (const auto &[key, a] : n.attrs)
            if (conv || key[0] == '_')
                layer.attrs[key] = a;
        markStored(layer, g, iw);
        removed.insert(&n);
        removed.insert(chain->cast);
        placed[chain->mul] = std::move(layer);
        orphans.insert({chain->quantize->name, chain->scaleMul->name});
        ++rewritten;
    }
    if (!rewritten)
        return 0;
    std::vector<Node> nodes;
    for (Node &n : g.nodes) {
        if (auto p = placed.find(&n); p != placed.end())
            nodes.push_back(std::move(p->second));
        else if (!removed.count(&n))
            nodes.push_back(std::move(n));
    }
    g.nodes = std::move(nodes);
    // What the rewrite left unread: integer weights, scale products, DynamicQuantizeLinear nodes, their inputs.
    for (bool changed = true; changed;) {
        std::set<std::string> used;
        for (const Node &n : g.nodes) {
            used.insert(n.inputs.begin(), n.inputs.end());
            for (const std::string &in : implicitInputs(n))
                used.insert(in);
        }
        for (const ValueInfo &o : g.outputs)
            used.insert(o.name);
        const auto dead = [&](const Node &n) {
            return orphans.count(n.name) &&
                   std::none_of(n.outputs.begin(), n.outputs.end(), [&](const std::string &o) { return used.count(o) > 0; });
        };
        const size_t before = g.nodes.size();
        g.nodes.erase(std::remove_if(g.nodes.begin(), g.nodes.end(), dead), g.nodes.end());
        changed = g.nodes.size() != before;
        for (auto it = g.initializers.begin(); it != g.initializers.end();)
            it = orphans.count(it->first) && !used.count(it->first) ? g.initializers.erase(it) : std::next(it);
    }
    return rewritten;
}

Model floatWeightForm(const Model &model, std::map<std::string, DType> *widened, int *dequantized)
{
    Model m = model;
    std::map<std::string, DType> types = widenLayerWeights(m);
    const int rewritten = dequantizeIntegerLayers(m);
    if (widened)
        *widened = std::move(types);
    if (dequantized)
        *dequantized = rewritten;
    return m;
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
