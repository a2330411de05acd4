#include "core/runtime/batch_split.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <limits>
#include <set>

#include "core/base/error.h"
#include "core/graph/transform.h"
#include "core/runtime/shape_inference.h"

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
const std::set<std::string, std::less<>> kProducts = {"Conv",  "ConvTranspose", "Gemm",          "MatMul", "QGemm",
                                                      "QLinearConv", "QLinearMatMul", "MatMulInteger", "LSTM", "GRU", "RNN"};

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

int64_t normalized(int64_t axis, int64_t rank)
{
    return axis < 0 ? axis + rank : axis;
}

bool contains(const std::vector<int64_t> &axes, int64_t axis, int64_t rank)
{
    return std::any_of(axes.begin(), axes.end(), [&](int64_t a) { return normalized(a, rank) == axis; });
}

// Whether dimension d of a graph input is symbolic without a name from the file ("N", "<input>_dim<k>").
bool unnamedSymbol(const ValueInfo &v, size_t d)
{
    const std::string name = v.dimName(d);
    return v.shape[d] < 0 && (name.empty() || name == (d == 0 ? std::string("N") : v.name + "_dim" + std::to_string(d)));
}

} // namespace

bool specializable(const Graph &g)
{
    const std::string symbol = batchSymbol(g);
    if (symbol.empty())
        return false;
    for (const Node &n : g.nodes)
        if (n.opType == "If")
            return true;
    for (const ValueInfo &v : g.inputs)
        for (size_t d = 0; v.shapeKnown && d < v.shape.size(); ++d)
            if (unnamedSymbol(v, d) && symbolOf(v, d) != symbol)
                return true;
    return false;
}

std::optional<Model> specializeSizes(const Model &model, const std::vector<Shape> &inputShapes)
{
    const std::string symbol = batchSymbol(model.graph);
    if (symbol.empty() || inputShapes.size() != model.graph.inputs.size())
        return std::nullopt;
    Model m = model;
    int64_t batch = -1;
    for (size_t k = 0; k < inputShapes.size(); ++k) {
        const ValueInfo &v = m.graph.inputs[k];
        if (!v.shapeKnown || v.shape.size() != inputShapes[k].size())
            return std::nullopt;
        for (size_t d = 0; d < v.shape.size(); ++d)
            if (symbolOf(v, d) == symbol)
                batch = inputShapes[k][d];
    }
    int tied = 0, inlined = 0;
    for (size_t k = 0; k < inputShapes.size(); ++k) {
        ValueInfo &v = m.graph.inputs[k];
        bool hasBatch = false;
        for (size_t d = 0; d < v.shape.size(); ++d)
            hasBatch = hasBatch || symbolOf(v, d) == symbol;
        v.dimNames.resize(v.shape.size());
        for (size_t d = 0; d < v.shape.size(); ++d) {
            if (v.shape[d] >= 0 || symbolOf(v, d) == symbol)
                continue;
            if (unnamedSymbol(v, d) && !hasBatch && inputShapes[k][d] == batch) {
                v.dimNames[d] = symbol; // taken as the batch
                hasBatch = true;
                ++tied;
            } else {
                v.shape[d] = inputShapes[k][d];
            }
        }
    }
    try {
        for (int round = 0;; ++round) {
            std::map<std::string, std::vector<int64_t>> values;
            inferShapes(m, &values);
            const int k = round < 16 ? inlineKnownIfs(m, values) : 0;
            if (k == 0)
                break;
            inlined += k;
            m.graph.sortTopologically();
        }
    } catch (const Error &) {
        return std::nullopt;
    }
    if (inlined == 0 && tied == 0)
        return std::nullopt;
    return m;
}

bool BatchRegion::empty() const
{
    return std::find(local.begin(), local.end(), 1) == local.end();
}

BatchRegion batchRegion(const Graph &g, const std::function<const Tensor *(const std::string &)> &constant,
                        const std::vector<std::vector<std::string>> &implicit)
{
    BatchRegion region;
    region.local.assign(g.nodes.size(), 0);
    const auto info = [&](const std::string &name) -> const ValueInfo * {
        auto it = g.values.find(name);
        return it != g.values.end() && it->second.shapeKnown ? &it->second : nullptr;
    };
    const std::string symbol = batchSymbol(g);
    if (symbol.empty())
        return region;
    // Whether a dimension's expression ("2*batch", "ceil(batch/2)") uses the symbol.
    const auto mentions = [&](const std::string &dim) {
        const auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
        for (size_t at = dim.find(symbol); at != std::string::npos; at = dim.find(symbol, at + 1))
            if ((at == 0 || !word(dim[at - 1])) && (at + symbol.size() == dim.size() || !word(dim[at + symbol.size()])))
                return true;
        return false;
    };
    // A value's batch axis: where the symbol is in its shape; -1 when it is not there, -2 when the shape is unknown,
    // has the symbol twice, or sizes another dimension by it.
    const auto axisIn = [&](const ValueInfo *v) -> int {
        if (!v || !v->shapeKnown)
            return -2;
        int axis = -1;
        for (size_t d = 0; d < v->shape.size(); ++d) {
            const std::string dim = v->dimName(d);
            if (dim == symbol && axis < 0)
                axis = int(d);
            else if (mentions(dim))
                return -2;
        }
        return axis;
    };
    // The values of one run that are alike in every part of the batch: constants, and what the graph computes
    // from constants and inputs without the batch (a sample rate, a shape), which every part computes alike.
    std::set<std::string> replicated;
    std::map<std::string, int> batched; // value -> its batch axis
    // Sizes read from batched values (Shape → Gather → Concat → Reshape, as exporters write x.view(x.size(0), -1)):
    // small integer values whose element `at` is the part's size in a part (-1: a scalar that is that size), the
    // others alike in every part. `length`: elements of a vector.
    struct Size {
        int at = -1;
        int64_t length = 0;
    };
    std::map<std::string, Size> sized;
    for (const ValueInfo &v : g.inputs) {
        const int axis = axisIn(&v);
        if (axis == -2)
            return region;
        region.inputAxes.push_back(axis);
        if (axis >= 0)
            batched[v.name] = axis;
        else
            replicated.insert(v.name);
    }
    const auto fixed = [&](const std::string &name) { return constant(name) || replicated.count(name) > 0; };
    // A fixed value's rank and dimension d (-1 when not known).
    const auto rankOf = [&](const std::string &name) -> int64_t {
        if (const Tensor *t = constant(name))
            return t->rank();
        const ValueInfo *v = info(name);
        return v ? int64_t(v->shape.size()) : -1;
    };
    const auto dimOf = [&](const std::string &name, int64_t d) -> int64_t {
        if (const Tensor *t = constant(name))
            return t->dim(int(d));
        const ValueInfo *v = info(name);
        return v && d < int64_t(v->shape.size()) ? v->shape[size_t(d)] : -1;
    };
    bool computes = false; // the region holds a product, not only cheap nodes a split would not pay for

    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const Node &n = g.nodes[i];
        bool plain = implicit[i].empty() && (n.domain.empty() || n.domain == "com.microsoft");
        for (const auto &[key, a] : n.attrs)
            plain = plain && a.kind != Attribute::Kind::Graph;
        if (!plain || n.outputs.empty() || n.inputs.empty())
            continue;
        bool anyBatched = false, anySized = false, allKnown = true;
        for (const std::string &in : n.inputs) {
            anyBatched = anyBatched || batched.count(in);
            anySized = anySized || sized.count(in);
            allKnown = allKnown && (in.empty() || batched.count(in) || sized.count(in) || fixed(in));
        }
        if (!allKnown)
            continue;
        if (!anyBatched && !anySized) { // computed alike in every part
            replicated.insert(n.outputs.begin(), n.outputs.end());
            continue;
        }
        if (!anyBatched || n.opType == "Shape") {
            // Sizes of the part, computed in it: the batch's element is followed through Gather, Unsqueeze,
            // Squeeze, Cast and Concat; a ConstantOfShape of them is a batched value (a zero state).
            const std::string_view op = n.opType;
            const std::string &x = n.inputs[0], &out = n.outputs[0];
            const auto sx = sized.find(x);
            bool restFixed = n.outputs.size() == 1;
            for (size_t k = 1; k < n.inputs.size(); ++k)
                restFixed = restFixed && (n.inputs[k].empty() || fixed(n.inputs[k]));
            std::optional<Size> size; // the output is a size of the part
            bool alike = false;       // the output is alike in every part
            int axis = -1;            // the output is batched along this axis
            if (n.outputs.size() != 1) {
                // not a size
            } else if (op == "Shape") {
                const int64_t r = rankOf(x);
                if (batched.count(x) && r >= 0) {
                    const auto bound = [&](int64_t a) { return std::clamp<int64_t>(a < 0 ? a + r : a, 0, r); };
                    const int64_t start = bound(n.attrInt("start", 0)), end = std::max(start, bound(n.attrInt("end", r)));
                    const int at = batched.at(x);
                    if (at >= start && at < end)
                        size = Size{int(at - start), end - start};
                    else
                        alike = true;
                }
            } else if (op == "Concat") {
                bool ok = normalized(n.attrInt("axis", 0), 1) == 0;
                int64_t offset = 0;
                int found = 0;
                for (const std::string &in : n.inputs) {
                    const auto s = sized.find(in);
                    if (s != sized.end() && s->second.at >= 0) {
                        size = Size{int(offset + s->second.at), 0};
                        ++found;
                        offset += s->second.length;
                    } else if (fixed(in) && rankOf(in) == 1 && dimOf(in, 0) >= 0) {
                        offset += dimOf(in, 0);
                    } else {
                        ok = false;
                    }
                }
                if (ok && found == 1)
                    size->length = offset;
                else
                    size.reset();
            } else if (sx == sized.end() || !restFixed) {
                // not a size
            } else if (op == "Identity" || (op == "Cast" && (n.attrInt("to", 0) == 6 || n.attrInt("to", 0) == 7))) {
                size = sx->second;
            } else if (op == "Gather") {
                const Tensor *indices = constant(n.inputs[1]);
                if (sx->second.at >= 0 && indices && indices->rank() <= 1 && normalized(n.attrInt("axis", 0), 1) == 0) {
                    const std::vector<int64_t> v = indices->toInt64Vector();
                    int hits = 0, where = -1;
                    for (size_t k = 0; k < v.size(); ++k)
                        if ((v[k] < 0 ? v[k] + sx->second.length : v[k]) == sx->second.at) {
                            ++hits;
                            where = int(k);
                        }
                    if (hits == 0)
                        alike = true;
                    else if (hits == 1)
                        size = indices->rank() == 0 ? Size{-1, 0} : Size{where, int64_t(v.size())};
                }
            } else if (op == "Unsqueeze" || op == "Squeeze") {
                bool known = false;
                const std::vector<int64_t> axes = intList(n, "axes", 1, constant, known);
                const bool first = known && (axes == std::vector<int64_t>{0} || (axes.empty() && op == "Squeeze"));
                if (first && op == "Unsqueeze" && sx->second.at == -1)
                    size = Size{0, 1};
                else if (first && op == "Squeeze" && sx->second.at == 0 && sx->second.length == 1)
                    size = Size{-1, 0};
            } else if (op == "ConstantOfShape") {
                if (sx->second.at >= 0 && axisIn(info(out)) == sx->second.at)
                    axis = sx->second.at;
            }
            if (!size && !alike && axis < 0)
                continue;
            region.local[i] = 1;
            if (size)
                sized[out] = *size;
            else if (alike)
                replicated.insert(out);
            else
                batched[out] = axis;
            continue;
        }
        std::vector<int> outAxes;
        bool ok = true;
        for (const std::string &out : n.outputs) {
            outAxes.push_back(out.empty() ? -1 : axisIn(info(out)));
            ok = ok && (out.empty() || outAxes.back() >= 0);
        }
        const std::string &x = n.inputs[0];
        if (!ok || x.empty())
            continue;
        const int xAxis = batched.count(x) ? batched.at(x) : -1;
        const int64_t rank = rankOf(x), outRank = rankOf(n.outputs[0]);
        const int outAxis = outAxes[0];
        const std::string_view op = n.opType;
        // The first input may be a fixed scalar for an element-wise operator (1 - x); the others need it batched.
        if (outRank < 1 || (rank < 1 && !kElementwise.count(op)))
            continue;
        const int64_t opset = n.attrInt("_opset", 13);
        const auto othersFixed = [&] {
            for (size_t k = 1; k < n.inputs.size(); ++k)
                if (!n.inputs[k].empty() && !fixed(n.inputs[k]))
                    return false;
            return true;
        };
        // Operators whose samples lie along the leading axis of their input and output.
        const bool leading = xAxis == 0 && outAxis == 0;
        bool local = false;
        if (kElementwise.count(op)) {
            // A batched input lines up with the output's batch axis; a fixed one broadcasts over it.
            local = true;
            for (const std::string &in : n.inputs) {
                if (in.empty())
                    continue;
                const int64_t r = rankOf(in);
                if (batched.count(in)) {
                    local = local && r == outRank && batched.at(in) == outAxis;
                } else {
                    const int64_t at = outAxis - (outRank - r);
                    local = local && r >= 0 && r <= outRank && (at < 0 || dimOf(in, at) == 1);
                }
            }
        } else if (xAxis < 0) {
            local = false; // the others need their first input batched
        } else if (op == "QuantizeLinear" || op == "DequantizeLinear") {
            const Tensor *scale = n.inputs.size() > 1 ? constant(n.inputs[1]) : nullptr;
            local = othersFixed() && scale &&
                    (scale->numel() == 1 || normalized(n.attrInt("axis", 1), rank) != xAxis);
        } else if (kPerImage.count(op)) {
            local = leading && othersFixed() && (op != "BatchNormalization" || n.attrInt("training_mode", 0) == 0);
        } else if (op == "Reshape" || op == "Flatten") {
            // The batch leads both the input and the output, so each sample's elements stay its own; the target
            // may be the part's size followed by fixed ones.
            const auto target = n.inputs.size() > 1 ? sized.find(n.inputs[1]) : sized.end();
            local = leading && (othersFixed() || (target != sized.end() && target->second.at == 0));
        } else if (op == "Squeeze" || op == "Unsqueeze") {
            bool known = false;
            const std::vector<int64_t> axes = intList(n, "axes", 1, constant, known);
            local = othersFixed() && known && !axes.empty() && (op == "Unsqueeze" || !contains(axes, xAxis, rank));
        } else if (op == "Transpose") {
            local = true; // a permutation keeps every sample's elements its own; the output's shape says where
        } else if (op == "Concat") {
            const int64_t axis = normalized(n.attrInt("axis", 0), outRank);
            local = axis != outAxis;
            for (const std::string &in : n.inputs) // a fixed input's size could not follow the batch
                local = local && batched.count(in) && batched.at(in) == outAxis && rankOf(in) == outRank;
        } else if (op == "Split" || op == "Gather" || op == "ArgMax" || op == "ArgMin") {
            local = othersFixed() && normalized(n.attrInt("axis", 0), rank) != xAxis;
        } else if (op == "Softmax" || op == "LogSoftmax" || op == "Hardmax" || op == "LayerNormalization") {
            // Before opset 13 Softmax works on the input as a matrix [before axis, from axis on]; LayerNormalization
            // normalises over the axes from `axis` on.
            const bool perAxis = op != "LayerNormalization" && opset >= 13;
            const int64_t axis = normalized(n.attrInt("axis", op == "LayerNormalization" || opset >= 13 ? -1 : 1), rank);
            local = othersFixed() && (perAxis ? axis != xAxis : axis > xAxis);
        } else if (op == "Slice") {
            // Along the batch axis only the whole of it (exporters write x[:, a:b] as a slice of every axis).
            bool knownAxes = false, knownStarts = false, knownEnds = false, knownSteps = false;
            std::vector<int64_t> axes = intList(n, "axes", 3, constant, knownAxes);
            const std::vector<int64_t> starts = intList(n, "starts", 1, constant, knownStarts);
            const std::vector<int64_t> ends = intList(n, "ends", 2, constant, knownEnds);
            const std::vector<int64_t> steps = intList(n, "steps", 4, constant, knownSteps);
            if (knownAxes && axes.empty()) // all of the first len(starts) axes
                for (size_t a = 0; a < starts.size(); ++a)
                    axes.push_back(int64_t(a));
            local = othersFixed() && knownAxes && knownStarts && knownEnds && knownSteps && !axes.empty() &&
                    starts.size() == axes.size() && ends.size() == axes.size() &&
                    (steps.empty() || steps.size() == axes.size());
            for (size_t a = 0; local && a < axes.size(); ++a)
                if (normalized(axes[a], rank) == xAxis)
                    local = starts[a] == 0 && ends[a] >= std::numeric_limits<int32_t>::max() &&
                            (steps.empty() || steps[a] == 1);
        } else if (kReductions.count(op)) {
            bool known = false;
            const std::vector<int64_t> axes = intList(n, "axes", 1, constant, known);
            local = othersFixed() && known && !axes.empty() && !contains(axes, xAxis, rank);
        } else if (op == "Gemm" || op == "QGemm") {
            // Rows of A are samples; C broadcasts over them.
            const size_t cInput = op == "Gemm" ? 2 : 6;
            const std::string c = n.inputs.size() > cInput ? n.inputs[cInput] : std::string();
            local = leading && othersFixed() && n.attrInt("transA", 0) == 0 &&
                    (c.empty() || rankOf(c) < 2 || dimOf(c, 0) == 1);
        } else if (op == "MatMul" || op == "QLinearMatMul" || op == "MatMulInteger") {
            // A [..., M, K] with the batch anywhere but K, by a fixed matrix B, or by a batched B of the same rank
            // with the batch at the same place among the leading axes (per-sample products, as in attention).
            const std::string &b = n.inputs[op == "QLinearMatMul" ? 3 : 1];
            bool others = true;
            for (size_t k = 1; k < n.inputs.size(); ++k)
                if (!n.inputs[k].empty() && n.inputs[k] != b && !fixed(n.inputs[k]))
                    others = false;
            if (fixed(b))
                local = others && rank >= 2 && xAxis < rank - 1 && rankOf(b) >= 1 && rankOf(b) <= 2;
            else
                local = others && rank >= 3 && rankOf(b) == rank && batched.at(b) == xAxis && xAxis < rank - 2;
        } else if (op == "LSTM" || op == "GRU" || op == "RNN") {
            // X [sequence, batch, input] and the initial states [directions, batch, hidden]: each sample's own
            // recurrence; per-sample sequence lengths would be a fixed input the batch could not follow.
            local = n.attrInt("layout", 0) == 0 && xAxis == 1 && (n.inputs.size() <= 4 || n.inputs[4].empty());
            for (size_t k = 1; k < n.inputs.size(); ++k) {
                const std::string &in = n.inputs[k];
                const bool state = k == 5 || k == 6;
                if (!in.empty())
                    local = local && (state ? batched.count(in) && batched.at(in) == 1 : constant(in) != nullptr);
            }
        }
        if (!local)
            continue;
        region.local[i] = 1;
        computes = computes || kProducts.count(op);
        for (size_t o = 0; o < n.outputs.size(); ++o)
            if (!n.outputs[o].empty())
                batched[n.outputs[o]] = outAxes[o];
    }
    if (!computes) {
        region.local.assign(g.nodes.size(), 0);
        return region;
    }

    // The frontier: batched values of local nodes that leave the region, for the graph outputs (a node whose
    // outputs nothing reads, such as the test of an If inlined for the run's sizes, takes nothing out).
    std::set<std::string> leaving;
    for (const ValueInfo &v : g.outputs)
        leaving.insert(v.name);
    std::set<std::string> read = leaving;
    for (size_t i = g.nodes.size(); i-- > 0;) {
        const Node &n = g.nodes[i];
        if (std::none_of(n.outputs.begin(), n.outputs.end(), [&](const std::string &o) { return read.count(o); }))
            continue;
        read.insert(n.inputs.begin(), n.inputs.end());
        read.insert(implicit[i].begin(), implicit[i].end());
        if (!region.local[i]) {
            leaving.insert(n.inputs.begin(), n.inputs.end());
            leaving.insert(implicit[i].begin(), implicit[i].end());
        }
    }
    for (size_t i = 0; i < g.nodes.size(); ++i)
        if (region.local[i])
            for (const std::string &out : g.nodes[i].outputs)
                if (!out.empty() && leaving.count(out)) {
                    region.frontier.push_back(out);
                    if (batched.count(out))
                        region.joints.push_back({Joint::Kind::Batch, batched.at(out)});
                    else if (sized.count(out))
                        region.joints.push_back({Joint::Kind::Size, sized.at(out).at});
                    else
                        region.joints.push_back({Joint::Kind::Alike, 0});
                }
    return region;
}

namespace {

// A tensor seen as [outer, size along the axis, inner bytes].
struct AxisLayout {
    size_t outer = 1, inner = 1;
};

AxisLayout layoutAround(const Shape &shape, DType type, int axis)
{
    AxisLayout l;
    l.inner = dtypeSize(type);
    for (int d = 0; d < int(shape.size()); ++d)
        if (d < axis)
            l.outer *= size_t(shape[size_t(d)]);
        else if (d > axis)
            l.inner *= size_t(shape[size_t(d)]);
    return l;
}

// The parts' samples in order along the batch axis: parts alike but for their size there.
Tensor joinBatch(const std::vector<const Tensor *> &parts, int axis)
{
    const AxisLayout l = layoutAround(parts.front()->shape(), parts.front()->dtype(), axis);
    Shape shape = parts.front()->shape();
    shape[size_t(axis)] = 0;
    for (const Tensor *p : parts)
        shape[size_t(axis)] += p->dim(axis);
    Tensor whole = Tensor::uninitialized(parts.front()->dtype(), shape);
    const size_t row = size_t(shape[size_t(axis)]) * l.inner;
    char *to = static_cast<char *>(whole.rawData());
    size_t offset = 0;
    for (const Tensor *p : parts) {
        const size_t part = size_t(p->dim(axis)) * l.inner;
        for (size_t o = 0; o < l.outer; ++o)
            std::memcpy(to + o * row + offset, static_cast<const char *>(p->rawData()) + o * part, part);
        offset += part;
    }
    return whole;
}

} // namespace

Tensor batchRows(const Tensor &t, int axis, int64_t begin, int64_t end)
{
    const AxisLayout l = layoutAround(t.shape(), t.dtype(), axis);
    Shape shape = t.shape();
    const size_t whole = size_t(shape[size_t(axis)]) * l.inner, part = size_t(end - begin) * l.inner;
    shape[size_t(axis)] = end - begin;
    Tensor slice = Tensor::uninitialized(t.dtype(), shape);
    const char *from = static_cast<const char *>(t.rawData()) + size_t(begin) * l.inner;
    char *to = static_cast<char *>(slice.rawData());
    for (size_t o = 0; o < l.outer; ++o)
        std::memcpy(to + o * part, from + o * whole, part);
    return slice;
}

Tensor join(const std::vector<const Tensor *> &parts, const Joint &joint, int64_t batch)
{
    switch (joint.kind) {
    case Joint::Kind::Batch:
        return joinBatch(parts, joint.axis);
    case Joint::Kind::Alike:
        return *parts.front();
    case Joint::Kind::Size:
        break;
    }
    Tensor sizes = parts.front()->castTo(DType::Int64).clone();
    sizes.data<int64_t>()[joint.axis < 0 ? 0 : joint.axis] = batch;
    return sizes.castTo(parts.front()->dtype());
}

} // namespace cw
