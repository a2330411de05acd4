#include "core/runtime/half_floats.h"

#include <set>

namespace cw {

namespace {

constexpr int64_t kOnnxFloat = 1, kOnnxFloat16 = 10, kOnnxBFloat16 = 16;

int64_t onnxHalfType(DType type) { return type == DType::Float16 ? kOnnxFloat16 : kOnnxBFloat16; }

bool widen(Tensor &t)
{
    if (t.isNull() || !isHalfType(t.dtype()))
        return false;
    t = t.castTo(DType::Float32);
    return true;
}

bool widen(ValueInfo &v)
{
    if (!isHalfType(v.dtype))
        return false;
    v.dtype = DType::Float32;
    return true;
}

// A name no value or node of the graph has yet, from `base`.
std::string freshName(const Graph &g, const std::set<std::string> &taken, const std::string &base)
{
    std::string name = base;
    for (int k = 2; taken.count(name) || g.isInitializer(name) || g.findNode(name); ++k)
        name = base + "_" + std::to_string(k);
    return name;
}

Node castNode(std::string name, std::string input, std::string output, int64_t to, int64_t opset)
{
    Node n;
    n.name = std::move(name);
    n.opType = "Cast";
    n.inputs = {std::move(input)};
    n.outputs = {std::move(output)};
    n.attrs["to"] = Attribute::makeInt(to);
    n.attrs["_opset"] = Attribute::makeInt(opset);
    return n;
}

int rewrite(Graph &g, bool top, int64_t opset, bool keepRoundings)
{
    int changed = 0;
    std::set<std::string> taken;
    for (const Node &n : g.nodes)
        taken.insert(n.outputs.begin(), n.outputs.end());
    for (const ValueInfo &v : g.inputs)
        taken.insert(v.name);

    for (auto &entry : g.initializers)
        changed += widen(entry.second);
    for (ValueInfo &v : g.inputs)
        changed += widen(v);
    // The 16-bit outputs of the main graph, before the values are retyped.
    std::vector<std::pair<size_t, DType>> roundedOutputs;
    for (size_t k = 0; k < g.outputs.size(); ++k) {
        if (!isHalfType(g.outputs[k].dtype))
            continue;
        if (top)
            roundedOutputs.emplace_back(k, g.outputs[k].dtype);
        else
            changed += widen(g.outputs[k]);
    }

    std::vector<Node> nodes;
    nodes.reserve(g.nodes.size());
    for (Node &n : g.nodes) {
        for (auto &[key, a] : n.attrs) {
            if (a.kind == Attribute::Kind::Tensor && (n.opType == "Constant" || n.opType == "ConstantOfShape"))
                changed += widen(a.t);
            if (a.kind == Attribute::Kind::Graph && a.graph) {
                Graph sub = *a.graph;
                if (const int c = rewrite(sub, false, opset, keepRoundings); c > 0) {
                    a = Attribute::makeGraph(std::move(sub));
                    changed += c;
                }
            }
        }
        // The roundings the model asks for: a Cast to a 16-bit type, or a CastLike to a 16-bit value, becomes
        // that Cast followed by a Cast back to float32.
        int64_t to = 0;
        if (isDefaultDomain(n.domain) && n.opType == "Cast" && n.outputs.size() == 1) {
            to = n.attrInt("to", 0);
        } else if (isDefaultDomain(n.domain) && n.opType == "CastLike" && n.inputs.size() == 2 && n.outputs.size() == 1) {
            const auto init = g.initializers.find(n.inputs[1]);
            const DType target = init != g.initializers.end() ? init->second.dtype() : g.valueInfo(n.inputs[1]).dtype;
            if (isHalfType(target)) {
                to = onnxHalfType(target);
                n.opType = "Cast";
                n.inputs.resize(1);
                n.attrs.clear();
                n.attrs["to"] = Attribute::makeInt(to);
                n.attrs["_opset"] = Attribute::makeInt(opset);
            }
        }
        if ((to != kOnnxFloat16 && to != kOnnxBFloat16) || n.outputs[0].empty()) {
            nodes.push_back(std::move(n));
            continue;
        }
        if (!keepRoundings) {
            n.attrs["to"] = Attribute::makeInt(kOnnxFloat);
            nodes.push_back(std::move(n));
            ++changed;
            continue;
        }
        const std::string value = n.outputs[0];
        const std::string rounded = freshName(g, taken, value + "/rounded");
        taken.insert(rounded);
        n.outputs[0] = rounded;
        const std::string name = n.name + "/float32";
        nodes.push_back(std::move(n));
        nodes.push_back(castNode(name, rounded, value, kOnnxFloat, opset));
        ++changed;
    }
    g.nodes = std::move(nodes);

    // Inferred types: every 16-bit value now holds float32.
    for (auto &entry : g.values)
        changed += widen(entry.second);

    // A 16-bit graph output is computed under an internal name and rounded by a final Cast, so that consumers
    // inside the graph read the float32 value. (An output that is a graph input or an initializer itself comes
    // out as the float32 value the Session holds for it.)
    for (const auto &[k, type] : roundedOutputs) {
        const std::string name = g.outputs[k].name;
        if (!g.producer(name))
            continue;
        const std::string inner = freshName(g, taken, name + "/float32");
        taken.insert(inner);
        for (Node &n : g.nodes) {
            for (std::string &o : n.outputs)
                if (o == name)
                    o = inner;
            for (std::string &in : n.inputs)
                if (in == name)
                    in = inner;
        }
        if (auto v = g.values.find(name); v != g.values.end()) {
            ValueInfo info = v->second;
            info.name = inner;
            g.values[inner] = info;
            v->second.dtype = type;
        }
        const std::string cast = name + (type == DType::Float16 ? "/to_float16" : "/to_bfloat16");
        g.nodes.push_back(castNode(freshName(g, taken, cast), inner, name, onnxHalfType(type), opset));
        ++changed;
    }
    return changed;
}

} // namespace

std::optional<Model> float32Arithmetic(const Model &model, bool keepRoundings)
{
    Model m = model;
    if (rewrite(m.graph, true, m.opsetVersion, keepRoundings) == 0)
        return std::nullopt;
    return m;
}

} // namespace cw
