#include "core/runtime/batch_split.h"

#include <algorithm>
#include <cstring>
#include <set>

namespace cw {
namespace {

// Operators computed element by element (numpy broadcasting for several inputs).
const std::set<std::string, std::less<>> kElementwise = {
    "Abs",       "Acos",     "Add",         "And",       "Asin",       "Atan",           "BitShift", "Cast",
    "Ceil",      "Celu",     "Clip",        "Cos",       "Div",        "Dropout",        "Elu",      "Equal",
    "Erf",       "Exp",      "Floor",       "Gelu",      "Greater",    "GreaterOrEqual", "HardSigmoid",
    "HardSwish", "Identity", "IsInf",       "IsNaN",     "LeakyRelu",  "Less",           "LessOrEqual",
    "Log",       "Max",      "Mean",        "Min",       "Mish",       "Mod",            "Mul",      "Neg",
    "Not",       "Or",       "Pow",         "PRelu",     "Reciprocal", "Relu",           "Round",    "Selu",
    "Sigmoid",   "Sign",     "Sin",         "Softplus",  "Softsign",   "Sqrt",           "Sub",      "Sum",
    "Tan",       "Tanh",     "ThresholdedRelu", "Where", "Xor", "QLinearAdd", "QLinearMul"};

// Operators whose first input is the batched one and whose others are constants (weights, scales, pads, sizes),
// computed image by image whatever their attributes.
const std::set<std::string, std::less<>> kPerImage = {
    "AveragePool",       "BatchNormalization", "Conv",          "ConvTranspose",       "DepthToSpace",
    "GlobalAveragePool", "GlobalMaxPool",      "InstanceNormalization", "LpPool",      "LRN",
    "MaxPool",           "Pad",                "QLinearAveragePool",    "QLinearConv", "QLinearGlobalAveragePool",
    "QLinearLeakyRelu",  "QLinearSigmoid",     "Resize",        "SpaceToDepth",        "Upsample"};

// What makes a region worth splitting.
const std::set<std::string, std::less<>> kProducts = {"Conv",   "ConvTranspose",  "Gemm",         "MatMul",
                                                      "QGemm",  "QLinearConv",    "QLinearMatMul", "MatMulInteger"};

const std::set<std::string, std::less<>> kReductions = {
    "ReduceL1",  "ReduceL2",  "ReduceLogSum", "ReduceLogSumExp", "ReduceMax",
    "ReduceMean", "ReduceMin", "ReduceProd",   "ReduceSum",       "ReduceSumSquare"};

// An integer list given as an attribute or, in later opsets, as a constant input; `known` false when the input is
// computed per run.
std::vector<int64_t> intList(const Node &n, const char *attr, size_t input,
                             const std::function<const Tensor *(const std::string &)> &constant, bool &known)
{
    known = true;
    if (n.hasAttr(attr))
        return n.attrInts(attr);
    if (input >= n.inputs.size() || n.inputs[input].empty())
        return {};
    const Tensor *t = constant(n.inputs[input]);
    if (!t || (t->dtype() != DType::Int64 && t->dtype() != DType::Int32)) {
        known = false;
        return {};
    }
    std::vector<int64_t> v(size_t(t->numel()));
    for (int64_t i = 0; i < t->numel(); ++i)
        v[size_t(i)] = t->dtype() == DType::Int64 ? t->data<int64_t>()[i] : t->data<int32_t>()[i];
    return v;
}

bool touchesBatchAxis(const std::vector<int64_t> &axes, int64_t rank)
{
    return std::any_of(axes.begin(), axes.end(), [&](int64_t a) { return a == 0 || a == -rank; });
}

} // namespace

bool BatchRegion::empty() const
{
    return std::find(local.begin(), local.end(), 1) == local.end();
}

BatchRegion batchRegion(const Graph &g, const std::function<const Tensor *(const std::string &)> &constant,
                        const std::vector<std::vector<std::string>> &implicit)
{
    BatchRegion region;
    region.local.assign(g.nodes.size(), 0);
    // The batch symbol: every graph input's leading dimension.
    std::string symbol;
    for (const ValueInfo &v : g.inputs) {
        const std::string s = v.shapeKnown && !v.shape.empty() ? v.dimName(0) : std::string();
        if (s.empty() || (!symbol.empty() && s != symbol))
            return region;
        symbol = s;
    }
    if (symbol.empty())
        return region;
    const auto info = [&](const std::string &name) -> const ValueInfo * {
        auto it = g.values.find(name);
        return it != g.values.end() && it->second.shapeKnown ? &it->second : nullptr;
    };
    const auto leadsWithBatch = [&](const std::string &name) {
        const ValueInfo *v = info(name);
        return v && !v->shape.empty() && v->dimName(0) == symbol;
    };
    bool computes = false; // the region holds a product, not only cheap nodes a split would not pay for
    std::set<std::string> batched;
    for (const ValueInfo &v : g.inputs)
        batched.insert(v.name);
    const auto rankOf = [&](const std::string &name) -> int64_t {
        if (const Tensor *t = constant(name))
            return t->rank();
        const ValueInfo *v = info(name);
        return v ? int64_t(v->shape.size()) : -1;
    };

    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const Node &n = g.nodes[i];
        if (!implicit[i].empty() || (!n.domain.empty() && n.domain != "com.microsoft"))
            continue;
        const bool elementwise = kElementwise.count(n.opType) > 0;
        // The first input is the batched one, but for an element-wise operator any may be.
        bool ok = !n.outputs.empty() && !n.inputs.empty() && !n.inputs[0].empty() &&
                  (batched.count(n.inputs[0]) ||
                   (elementwise && std::any_of(n.inputs.begin(), n.inputs.end(),
                                               [&](const std::string &in) { return batched.count(in) > 0; })));
        for (const auto &[key, a] : n.attrs)
            ok = ok && a.kind != Attribute::Kind::Graph;
        for (const std::string &in : n.inputs)
            ok = ok && (in.empty() || batched.count(in) || constant(in));
        for (const std::string &out : n.outputs)
            ok = ok && (out.empty() || leadsWithBatch(out));
        if (!ok)
            continue;
        const int64_t rank = rankOf(n.inputs[0]), outRank = rankOf(n.outputs[0]);
        if (rank < 1 || outRank < 1)
            continue;
        const std::string_view op = n.opType;
        const int64_t opset = n.attrInt("_opset", 13);
        // Inputs after the first: constants only, or (element-wise) batched values of the output's rank.
        const auto othersConstant = [&] {
            for (size_t k = 1; k < n.inputs.size(); ++k)
                if (!n.inputs[k].empty() && !constant(n.inputs[k]))
                    return false;
            return true;
        };
        bool local = false;
        if (elementwise) {
            // A batched input lines up with the output's leading axis; a constant broadcasts over it.
            local = true;
            for (const std::string &in : n.inputs) {
                if (in.empty())
                    continue;
                if (const Tensor *c = constant(in))
                    local = local && (c->rank() < outRank || c->dim(0) == 1);
                else
                    local = local && rankOf(in) == outRank;
            }
        } else if (op == "QuantizeLinear" || op == "DequantizeLinear") {
            const Tensor *scale = n.inputs.size() > 1 ? constant(n.inputs[1]) : nullptr;
            const int64_t axis = n.attrInt("axis", 1);
            local = othersConstant() && scale && (scale->numel() == 1 || (axis != 0 && axis != -rank));
        } else if (kPerImage.count(op)) {
            local = othersConstant() && (op != "BatchNormalization" || n.attrInt("training_mode", 0) == 0);
        } else if (op == "Reshape" || op == "Flatten") {
            // The batch leads both the input and the output, so each sample's elements stay its own.
            local = othersConstant() && leadsWithBatch(n.inputs[0]);
        } else if (op == "Squeeze" || op == "Unsqueeze") {
            bool known = false;
            const std::vector<int64_t> axes = intList(n, "axes", 1, constant, known);
            local = othersConstant() && known && !axes.empty() &&
                    !touchesBatchAxis(axes, op == "Squeeze" ? rank : outRank) && leadsWithBatch(n.inputs[0]);
        } else if (op == "Transpose") {
            const std::vector<int64_t> perm = n.attrInts("perm");
            local = !perm.empty() && perm[0] == 0;
        } else if (op == "Concat") {
            const int64_t axis = n.attrInt("axis", 0);
            local = axis != 0 && axis != -rank;
            for (const std::string &in : n.inputs) // a constant's leading size could not follow the batch
                local = local && batched.count(in);
        } else if (op == "Split" || op == "Gather" || op == "ArgMax" || op == "ArgMin") {
            const int64_t axis = n.attrInt("axis", 0);
            local = othersConstant() && axis != 0 && axis != -rank;
        } else if (op == "Softmax" || op == "LogSoftmax" || op == "Hardmax" || op == "LayerNormalization") {
            const int64_t axis = n.attrInt("axis", op == "LayerNormalization" || opset >= 13 ? -1 : 1);
            local = othersConstant() && axis != 0 && axis != -rank;
        } else if (op == "Slice") {
            bool known = false;
            const std::vector<int64_t> axes = intList(n, "axes", 3, constant, known);
            local = othersConstant() && known && !axes.empty() && !touchesBatchAxis(axes, rank);
        } else if (kReductions.count(op)) {
            bool known = false;
            const std::vector<int64_t> axes = intList(n, "axes", 1, constant, known);
            local = othersConstant() && known && !axes.empty() && !touchesBatchAxis(axes, rank);
        } else if (op == "Gemm" || op == "QGemm") {
            // Rows of A are samples; C broadcasts over them.
            const size_t cInput = op == "Gemm" ? 2 : 6;
            const Tensor *c = n.inputs.size() > cInput && !n.inputs[cInput].empty() ? constant(n.inputs[cInput])
                                                                                    : nullptr;
            local = othersConstant() && n.attrInt("transA", 0) == 0 && (!c || c->rank() < 2 || c->dim(0) == 1);
        } else if (op == "MatMul" || op == "QLinearMatMul" || op == "MatMulInteger") {
            // A [N, ..., K] by a constant B whose leading axes broadcast over the batch, or by a batched B of the
            // same rank (per-sample products, as in attention).
            const std::string &b = n.inputs[op == "QLinearMatMul" ? 3 : 1];
            bool others = true;
            for (size_t k = 1; k < n.inputs.size(); ++k)
                if (!n.inputs[k].empty() && n.inputs[k] != b && !constant(n.inputs[k]))
                    others = false;
            if (const Tensor *w = constant(b))
                local = others && rank >= 2 && (w->rank() < rank || w->rank() <= 2 || w->dim(0) == 1);
            else
                local = others && rank >= 3 && rankOf(b) == rank;
        }
        if (!local)
            continue;
        region.local[i] = 1;
        computes = computes || kProducts.count(op);
        for (const std::string &out : n.outputs)
            if (!out.empty())
                batched.insert(out);
    }

    if (!computes) {
        region.local.assign(g.nodes.size(), 0);
        return region;
    }
    // The frontier: values of local nodes that leave the region.
    std::set<std::string> leaving;
    for (const ValueInfo &v : g.outputs)
        leaving.insert(v.name);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        if (region.local[i])
            continue;
        leaving.insert(g.nodes[i].inputs.begin(), g.nodes[i].inputs.end());
        leaving.insert(implicit[i].begin(), implicit[i].end());
    }
    for (size_t i = 0; i < g.nodes.size(); ++i)
        if (region.local[i])
            for (const std::string &out : g.nodes[i].outputs)
                if (!out.empty() && leaving.count(out))
                    region.frontier.push_back(out);
    return region;
}


Tensor batchRows(const Tensor &t, int64_t begin, int64_t end)
{
    Shape shape = t.shape();
    const size_t row = t.byteSize() / size_t(shape[0]);
    shape[0] = end - begin;
    Tensor part = Tensor::uninitialized(t.dtype(), shape);
    std::memcpy(part.rawData(), static_cast<const char *>(t.rawData()) + size_t(begin) * row, part.byteSize());
    return part;
}

Tensor joinBatch(const std::vector<const Tensor *> &parts)
{
    Shape shape = parts.front()->shape();
    shape[0] = 0;
    for (const Tensor *p : parts)
        shape[0] += p->dim(0);
    Tensor whole = Tensor::uninitialized(parts.front()->dtype(), shape);
    char *to = static_cast<char *>(whole.rawData());
    for (const Tensor *p : parts) {
        std::memcpy(to, p->rawData(), p->byteSize());
        to += p->byteSize();
    }
    return whole;
}

} // namespace cw
