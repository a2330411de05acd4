#include "core/runtime/blocked.h"
#include "core/runtime/fusion.h"
#include "core/runtime/transpose8.h"

#include <algorithm>
#include <set>
#include <unordered_map>

namespace cw::blocked {

namespace {

// The data inputs of an element-wise operator that computes on a blocked activation unchanged (its other inputs,
// Clip's bounds, are scalars); empty for any other operator.
std::vector<size_t> elementwiseData(const Node &n)
{
    if (!isDefaultDomain(n.domain) || n.outputs.size() != 1)
        return {};
    static const std::set<std::string> unary{"Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSwish", "HardSigmoid", "Clip"};
    if (unary.count(n.opType))
        return {0};
    if (n.opType == "Add" && n.inputs.size() == 2)
        return {0, 1};
    return {};
}

// A float32 2-D convolution that oneDNN runs (not depthwise, which the engine's own loop runs): it may read
// and write blocked activations.
bool blockedConv(const Graph &g, const Node &n)
{
    if (n.opType != "Conv" || !isDefaultDomain(n.domain) || n.outputs.size() != 1 || n.inputs.size() < 2)
        return false;
    auto w = g.initializers.find(n.inputs[1]);
    auto y = g.values.find(n.outputs[0]);
    if (w == g.initializers.end() || w->second.dtype() != DType::Float32 || w->second.rank() != 4 ||
        y == g.values.end() || y->second.dtype != DType::Float32)
        return false;
    const int64_t group = n.attrInt("group", 1);
    return !(group > 1 && w->second.dim(1) == 1);
}

// A 2-D MaxPool (without its Indices output) or AveragePool.
bool blockedPool(const Node &n)
{
    return (n.opType == "MaxPool" || n.opType == "AveragePool") && isDefaultDomain(n.domain) &&
           n.attrInts("kernel_shape").size() == 2 && !n.outputs.empty() && !n.outputs[0].empty() &&
           (n.outputs.size() == 1 || n.outputs[1].empty());
}

bool globalPool(const Node &n)
{
    return (n.opType == "GlobalAveragePool" || n.opType == "GlobalMaxPool") && isDefaultDomain(n.domain);
}

bool integerType(DType t)
{
    return t == DType::UInt8 || t == DType::Int8;
}

// A 2-D QLinearConv: it may read channel-last integer activations, and write them when its output is quantized
// (no float table fused after it: `writes`).
bool channelsLastConv(const Graph &g, const Node &n, bool writes)
{
    if (n.opType != "QLinearConv" || !isDefaultDomain(n.domain) || n.outputs.size() != 1 || n.inputs.size() < 8)
        return false;
    auto w = g.initializers.find(n.inputs[3]);
    if (w == g.initializers.end() || w->second.rank() != 4)
        return false;
    auto y = g.values.find(n.outputs[0]);
    return !writes || (y != g.values.end() && integerType(y->second.dtype));
}

// A QLinearConcat of 4-D values along their channels (the form fused from Concat → QuantizeLinear, or a
// file's own); its data inputs are every third from the third.
bool channelsLastConcat(const Graph &g, const Node &n)
{
    if (n.opType != "QLinearConcat" || n.domain != "com.microsoft" || n.outputs.size() != 1)
        return false;
    auto y = g.values.find(n.outputs[0]);
    return y != g.values.end() && integerType(y->second.dtype) && y->second.shape.size() == 4 &&
           (n.attrInt("axis", 0) == 1 || n.attrInt("axis", 0) == -3);
}

// A QuantizeLinear of a 4-D value: it may write channel-last integers (quantized, then transposed).
bool channelsLastQuantize(const Graph &g, const Node &n)
{
    if (n.opType != "QuantizeLinear" || !isDefaultDomain(n.domain) || n.outputs.size() != 1)
        return false;
    auto y = g.values.find(n.outputs[0]);
    return y != g.values.end() && integerType(y->second.dtype) && y->second.shape.size() == 4;
}

// A QLinearAdd of the form fused from a residual join (runtime/fusion.h, dequantizedAdd) of 4-D values: it reads its
// two integer inputs channel-last, and writes channel-last integers when a QuantizeLinear was fused into it.
bool channelsLastAdd(const Graph &g, const Node &n, bool writes)
{
    if (n.opType != "QLinearAdd" || n.domain != "com.microsoft" || n.outputs.size() != 1 || !dequantizedAdd(n))
        return false;
    auto y = g.values.find(n.outputs[0]);
    return y != g.values.end() && y->second.shape.size() == 4 && (!writes || integerType(y->second.dtype));
}

bool concatData(const Node &n, int k)
{
    return k >= 2 && (k - 2) % 3 == 0 && size_t(k) < n.inputs.size();
}

} // namespace

bool arrived(const Node &node, int input, const Tensor &x)
{
    if (x.rank() != 5)
        return false;
    const std::vector<int64_t> inputs = node.attrInts(kInputs);
    return std::find(inputs.begin(), inputs.end(), int64_t(input)) != inputs.end();
}

Shape plainShape(const Tensor &x)
{
    return {x.dim(0), x.dim(1) * x.dim(4), x.dim(2), x.dim(3)};
}

namespace {

// One group's [plane, block] values as [block, plane] (toPlain) or back (toBlocked): 8 pixels × 8 channels at a
// time through registers, the pixels past the last multiple of 8 one by one.
template <bool ToPlain> void regroup(const float *src, int64_t groups, int64_t plane, int64_t block, float *dst)
{
    const int64_t whole = block % 8 == 0 ? plane / 8 * 8 : 0;
    for (int64_t i = 0; i < groups; ++i) {
        const float *s = src + i * plane * block;
        float *d = dst + i * plane * block;
        for (int64_t p = 0; p < whole; p += 8)
            for (int64_t c = 0; c < block; c += 8) {
                __m256 r[8];
                for (int k = 0; k < 8; ++k)
                    r[k] = _mm256_loadu_ps(ToPlain ? s + (p + k) * block + c : s + (c + k) * plane + p);
                transpose8x8(r);
                for (int k = 0; k < 8; ++k)
                    _mm256_storeu_ps(ToPlain ? d + (c + k) * plane + p : d + (p + k) * block + c, r[k]);
            }
        for (int64_t p = whole; p < plane; ++p)
            for (int64_t l = 0; l < block; ++l) {
                if constexpr (ToPlain)
                    d[l * plane + p] = s[p * block + l];
                else
                    d[p * block + l] = s[l * plane + p];
            }
    }
}

} // namespace

void toPlain(const float *src, int64_t groups, int64_t plane, int64_t block, float *dst)
{
    regroup<true>(src, groups, plane, block, dst);
}

namespace {

// The same for bytes (channel-last integer activations: one group of every channel per image).
template <bool ToPlain> void regroupBytes(const uint8_t *src, int64_t groups, int64_t plane, int64_t block, uint8_t *dst)
{
    for (int64_t i = 0; i < groups; ++i) {
        if constexpr (ToPlain)
            transposeBytes(src + i * plane * block, block, plane, block, dst + i * plane * block, plane);
        else
            transposeBytes(src + i * plane * block, plane, block, plane, dst + i * plane * block, block);
    }
}

} // namespace

Tensor toPlain(const Tensor &x)
{
    Tensor out = Tensor::uninitialized(x.dtype(), plainShape(x));
    if (x.dtype() == DType::Float32)
        toPlain(x.f32(), x.dim(0) * x.dim(1), x.dim(2) * x.dim(3), x.dim(4), out.f32());
    else
        regroupBytes<true>(static_cast<const uint8_t *>(x.rawData()), x.dim(0) * x.dim(1), x.dim(2) * x.dim(3),
                           x.dim(4), static_cast<uint8_t *>(out.rawData()));
    return out;
}

Tensor toBlocked(const Tensor &x, int64_t block)
{
    Tensor out = Tensor::uninitialized(x.dtype(), {x.dim(0), x.dim(1) / block, x.dim(2), x.dim(3), block});
    if (x.dtype() == DType::Float32)
        regroup<false>(x.f32(), out.dim(0) * out.dim(1), x.dim(2) * x.dim(3), block, out.f32());
    else
        regroupBytes<false>(static_cast<const uint8_t *>(x.rawData()), out.dim(0) * out.dim(1), x.dim(2) * x.dim(3),
                            block, static_cast<uint8_t *>(out.rawData()));
    return out;
}

void prepareElementwise(const Node &node, std::vector<const Tensor *> &inputs, std::vector<Tensor> &copies)
{
    bool keep = mayLeave(node);
    const Tensor *first = nullptr;
    for (size_t k : elementwiseData(node)) {
        const Tensor *t = k < inputs.size() ? inputs[k] : nullptr;
        keep = keep && t && arrived(node, int(k), *t) && (!first || first->shape() == t->shape());
        first = t;
    }
    if (keep)
        return;
    copies.reserve(inputs.size());
    for (size_t k = 0; k < inputs.size(); ++k)
        if (inputs[k] && arrived(node, int(k), *inputs[k])) {
            copies.push_back(toPlain(*inputs[k]));
            inputs[k] = &copies.back();
        }
}

int markBlockedValues(Graph &g)
{
    // Who reads each value, at which input (-1: a control-flow subgraph reads it), and what must stay plain.
    std::unordered_map<std::string, std::vector<std::pair<size_t, int>>> readers;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        for (size_t k = 0; k < g.nodes[i].inputs.size(); ++k)
            if (!g.nodes[i].inputs[k].empty())
                readers[g.nodes[i].inputs[k]].emplace_back(i, int(k));
        for (const std::string &in : implicitInputs(g.nodes[i]))
            readers[in].emplace_back(i, -1);
    }
    std::set<std::string> outputs;
    for (const ValueInfo &v : g.outputs)
        outputs.insert(v.name);
    // Float32 values in channel blocks, and integer ones channel-last: each has its own writers and readers.
    const auto reads = [&](const Node &n, int k, bool integers) {
        if (k < 0)
            return false;
        if (integers)
            return (k == 0 && (channelsLastConv(g, n, false) || (blockedPool(n) && n.opType == "MaxPool") ||
                               (n.opType == "DequantizeLinear" && isDefaultDomain(n.domain)))) ||
                   (channelsLastConcat(g, n) && concatData(n, k)) ||
                   (channelsLastAdd(g, n, false) && (k == 0 || k == 3));
        if (k == 0 && (blockedConv(g, n) || blockedPool(n) || globalPool(n)))
            return true;
        const std::vector<size_t> data = elementwiseData(n);
        return std::find(data.begin(), data.end(), size_t(k)) != data.end();
    };

    std::set<std::string> kept, keptIntegers;
    for (const Node &n : g.nodes) {
        bool writes = blockedConv(g, n), integers = false;
        if (!writes && (channelsLastConv(g, n, true) || channelsLastConcat(g, n) || channelsLastQuantize(g, n) ||
                        channelsLastAdd(g, n, true)))
            writes = integers = true;
        if (!writes && blockedPool(n) && keptIntegers.count(n.inputs[0]))
            writes = integers = n.opType == "MaxPool";
        if (!writes && (blockedPool(n) || !elementwiseData(n).empty())) {
            const std::vector<size_t> data = blockedPool(n) ? std::vector<size_t>{0} : elementwiseData(n);
            writes = std::all_of(data.begin(), data.end(),
                                 [&](size_t k) { return k < n.inputs.size() && kept.count(n.inputs[k]); });
        }
        if (!writes || outputs.count(n.outputs[0]))
            continue;
        auto r = readers.find(n.outputs[0]);
        if (r == readers.end())
            continue;
        // Integers only go channel-last for a reader that computes on them so: a DequantizeLinear only converts
        // them back.
        if (std::all_of(r->second.begin(), r->second.end(),
                        [&](const std::pair<size_t, int> &at) { return reads(g.nodes[at.first], at.second, integers); }) &&
            (!integers || std::any_of(r->second.begin(), r->second.end(), [&](const std::pair<size_t, int> &at) {
                 return g.nodes[at.first].opType != "DequantizeLinear";
             })))
            (integers ? keptIntegers : kept).insert(n.outputs[0]);
    }
    for (Node &n : g.nodes) {
        std::vector<int64_t> inputs;
        for (size_t k = 0; k < n.inputs.size(); ++k)
            if (kept.count(n.inputs[k]) || keptIntegers.count(n.inputs[k]))
                inputs.push_back(int64_t(k));
        if (!inputs.empty())
            n.attrs[kInputs] = Attribute::makeInts(inputs);
        if (!n.outputs.empty() && (kept.count(n.outputs[0]) || keptIntegers.count(n.outputs[0])))
            n.attrs[kOutput] = Attribute::makeInt(1);
    }
    return int(kept.size() + keptIntegers.size());
}

bool computesElementwise(const Node &node)
{
    return !elementwiseData(node).empty();
}

} // namespace cw::blocked
