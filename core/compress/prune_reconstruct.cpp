// Channel pruning's reconstruction (prune.h, reconstructPruned): the layers that lost input channels are refit
// by least squares (reconstruct.h's LeastSquares) to give the base model's outputs again.
#include <algorithm>
#include <cstdio>
#include <numeric>

#include "core/analysis/feeds.h"
#include "core/base/error.h"
#include "core/compress/prune.h"
#include "core/compress/reconstruct.h"
#include "core/runtime/session.h"
#include "core/runtime/shape_inference.h"

namespace cw {

namespace {

constexpr int64_t kPositionsPerSample = 256; // convolution outputs sampled per image (evenly spaced)

// A layer to refit: the width of its rows of x and y, or why it stays as pruned.
struct RefitLayer {
    int64_t inputs = 0;   // columns of x: C·kh·kw for a Conv, the reduction length otherwise
    int64_t outputs = 0;  // the pruned layer's output channels
    std::string why;      // non-empty: left as pruned, and why
};

// The length of the layer's input channel axis (graph.h's layerAxes: a Conv's C, a Gemm's or MatMul's reduction).
int64_t inputLength(const Node &n, const Tensor &w)
{
    int channel = 0, reduction = 1;
    layerAxes(n, w.shape(), &channel, &reduction);
    return w.dim(reduction);
}

// A MatMul's weight, and a Gemm's without transB, are [in, out].
bool inputMajor(const Node &n, const Tensor &w)
{
    return n.opType != "Conv" && outputChannelAxis(n, w.shape()) == 1;
}

RefitLayer describe(const Graph &g, const Node &n, const Tensor &w)
{
    RefitLayer l;
    l.inputs = n.opType == "Conv" ? (w.rank() == 4 ? w.dim(1) * w.dim(2) * w.dim(3) : 0) : inputLength(n, w);
    l.outputs = w.dim(outputChannelAxis(n, w.shape()));
    const bool hasBias = n.hasInput(2) && !n.inputs[2].empty();
    if (w.dtype() != DType::Float32)
        l.why = "its weight is not float32";
    else if (n.opType == "MatMul" && w.rank() != 2)
        l.why = "a MatMul whose weight is not a matrix";
    else if (n.opType == "Conv" && w.rank() != 4)
        l.why = "only 2-D convolutions are refit";
    else if (n.opType == "Conv" && n.attrInt("group", 1) != 1)
        l.why = "a grouped convolution";
    else if (n.opType == "Conv" && n.attrString("auto_pad", "NOTSET") != "NOTSET")
        l.why = "its padding is auto_pad";
    else if (n.opType == "Gemm" && (w.rank() != 2 || n.attrInt("transA", 0) != 0 || n.attrFloat("alpha", 1.f) != 1.f ||
                                    n.attrFloat("beta", 1.f) != 1.f))
        l.why = "a Gemm with transA, alpha or beta";
    else if (hasBias && (!g.isInitializer(n.inputs[2]) || g.initializers.at(n.inputs[2]).dtype() != DType::Float32 ||
                         g.initializers.at(n.inputs[2]).numel() != l.outputs))
        l.why = "its bias is not a float32 constant of one value per output";
    return l;
}

// Rows of the layer's input x ([N, C, H, W] for a Conv: its patches at the sampled output positions, C-major
// then kernel row and column, as the weight [O, C, kh, kw] is laid out) and of the output value y, whose
// `kept` channels (axis 1 of a Conv, the last axis otherwise) are the targets.
struct Rows {
    std::vector<float> x, y;
    int64_t count = 0;
};

Rows convRows(const Node &n, const Tensor &w, const Tensor &x, const Tensor &y, const std::vector<int64_t> &kept)
{
    const int64_t batch = x.dim(0), c = x.dim(1), h = x.dim(2), wd = x.dim(3);
    const int64_t kh = w.dim(2), kw = w.dim(3);
    const std::vector<int64_t> strides = n.attrInts("strides", {1, 1});
    const std::vector<int64_t> dilations = n.attrInts("dilations", {1, 1});
    const std::vector<int64_t> pads = n.attrInts("pads", {0, 0, 0, 0});
    const int64_t oh = y.dim(2), ow = y.dim(3), o = y.dim(1);
    const int64_t positions = oh * ow;
    const int64_t step = std::max<int64_t>(1, (positions + kPositionsPerSample - 1) / kPositionsPerSample);
    Rows r;
    const size_t rows = size_t(batch * ((positions + step - 1) / step));
    r.x.reserve(rows * size_t(c * kh * kw));
    r.y.reserve(rows * kept.size());
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t p = 0; p < positions; p += step) {
            const int64_t py = p / ow, px = p % ow;
            for (int64_t ci = 0; ci < c; ++ci)
                for (int64_t ky = 0; ky < kh; ++ky)
                    for (int64_t kx = 0; kx < kw; ++kx) {
                        const int64_t iy = py * strides[0] - pads[0] + ky * dilations[0];
                        const int64_t ix = px * strides[1] - pads[1] + kx * dilations[1];
                        const bool inside = iy >= 0 && iy < h && ix >= 0 && ix < wd;
                        r.x.push_back(inside ? x.f32()[((b * c + ci) * h + iy) * wd + ix] : 0.f);
                    }
            for (int64_t k : kept)
                r.y.push_back(y.f32()[((b * o + k) * oh + py) * ow + px]);
            ++r.count;
        }
    return r;
}

Rows matrixRows(const Tensor &x, const Tensor &y, int64_t inputs, const std::vector<int64_t> &kept)
{
    Rows r;
    const int64_t o = y.dim(y.rank() - 1);
    r.count = x.numel() / inputs;
    r.x.assign(x.f32(), x.f32() + x.numel());
    r.y.reserve(size_t(r.count) * kept.size());
    for (int64_t i = 0; i < r.count; ++i)
        for (int64_t k : kept)
            r.y.push_back(y.f32()[i * o + k]);
    return r;
}

// The layer's weight as [out, in] rows (what LeastSquares fits), and back.
std::vector<float> weightRows(const Node &n, const Tensor &w, int64_t inputs, int64_t outputs)
{
    std::vector<float> rows(size_t(inputs * outputs));
    const bool transposed = inputMajor(n, w);
    for (int64_t o = 0; o < outputs; ++o)
        for (int64_t j = 0; j < inputs; ++j)
            rows[size_t(o * inputs + j)] = transposed ? w.f32()[j * outputs + o] : w.f32()[o * inputs + j];
    return rows;
}

Tensor weightFromRows(const Node &n, const Tensor &like, const Tensor &fit)
{
    const int64_t outputs = fit.dim(0), inputs = fit.dim(1);
    Tensor w(DType::Float32, like.shape());
    const bool transposed = inputMajor(n, like);
    for (int64_t o = 0; o < outputs; ++o)
        for (int64_t j = 0; j < inputs; ++j)
            (transposed ? w.f32()[j * outputs + o] : w.f32()[o * inputs + j]) = fit.f32()[o * inputs + j];
    return w;
}

} // namespace

void reconstructPruned(Model &pruned, const Model &base, const std::map<std::string, std::vector<int64_t>> &kept,
                       const Dataset &data, int64_t samples, double damp, int threads, const ProgressFn &progress,
                       const StopToken *stop, const std::function<void(const std::string &)> &log)
{
    Graph &g = pruned.graph;
    // The layers whose inputs lost channels, in graph order.
    std::vector<std::string> layers;
    for (const Node &n : g.nodes) {
        if ((n.opType != "Conv" && n.opType != "Gemm" && n.opType != "MatMul") || n.inputs.size() < 2 ||
            !g.isInitializer(n.inputs[1]))
            continue;
        const Node *b = base.graph.findNode(n.name);
        if (!b || b->opType != n.opType || b->inputs.size() < 2 || !base.graph.isInitializer(b->inputs[1]))
            continue;
        const Tensor &w = g.initializers.at(n.inputs[1]), &bw = base.graph.initializers.at(b->inputs[1]);
        if (w.rank() == bw.rank() && w.rank() >= 2 && inputLength(n, w) != inputLength(*b, bw))
            layers.push_back(n.name);
    }
    if (layers.empty())
        return;
    const int64_t n = std::min(samples > 0 ? samples : data.size(), data.size());
    if (n < 1)
        throw Error("channel pruning's reconstruction needs data, and the dataset is empty");
    const Session teacher(base, SessionOptions{threads});
    const int64_t batchSize = datasetBatchSize(g, 64);
    for (size_t li = 0; li < layers.size(); ++li) {
        checkStop(stop);
        Node *node = g.findNode(layers[li]);
        const Tensor &w = g.initializers.at(node->inputs[1]);
        const RefitLayer layer = describe(g, *node, w);
        if (!layer.why.empty()) {
            if (log)
                log("reconstruct: " + node->name + " left as pruned: " + layer.why);
            continue;
        }
        // The pruned layer's output channel k is the base's kept[k] (all of them when its own outputs stay).
        std::vector<int64_t> outputs;
        if (auto k = kept.find(node->name); k != kept.end())
            outputs = k->second;
        else {
            outputs.resize(size_t(layer.outputs));
            std::iota(outputs.begin(), outputs.end(), int64_t(0));
        }
        if (int64_t(outputs.size()) != layer.outputs)
            throw Error("reconstruct: " + node->name + " has " + std::to_string(layer.outputs) +
                        " output channels, and " + std::to_string(outputs.size()) + " are known to be kept");
        const std::string input = node->inputs[0], output = base.graph.findNode(node->name)->outputs[0];
        const Session student(pruned, SessionOptions{threads});
        // A MatMul has no bias to take the fit's: it is fit without one.
        const bool fitBias = node->opType != "MatMul";
        LeastSquares ls(layer.inputs, layer.outputs, fitBias);
        for (int64_t b = 0; b < n; b += batchSize) {
            checkStop(stop);
            const int64_t count = std::min(batchSize, n - b);
            const Tensor batch = data.batch(b, count);
            const Tensor x = student.run(makeBatchFeeds(g, {}, batch), {input}).at(input);
            const Tensor y = teacher.run(makeBatchFeeds(base.graph, {}, batch), {output}).at(output);
            if (x.dtype() != DType::Float32 || y.dtype() != DType::Float32)
                throw Error("reconstruct: " + node->name + "'s input or output is not float32");
            const Rows rows = node->opType == "Conv" ? convRows(*node, w, x, y, outputs)
                                                     : matrixRows(x, y, layer.inputs, outputs);
            ls.add(rows.x.data(), rows.y.data(), rows.count);
            if (progress)
                progress((double(li) + double(b + count) / double(n)) / double(layers.size()),
                         "reconstruct " + node->name);
        }
        const std::vector<float> before = weightRows(*node, w, layer.inputs, layer.outputs);
        const bool hasBias = node->hasInput(2) && !node->inputs[2].empty();
        const float *oldBias = hasBias ? g.initializers.at(node->inputs[2]).f32() : nullptr;
        const double errorBefore = ls.relativeError(before.data(), oldBias);
        const LeastSquares::Fit fit = ls.solve(damp);
        const double errorAfter = ls.relativeError(fit.weight.f32(), fit.bias.data());
        g.initializers[node->inputs[1]] = weightFromRows(*node, w, fit.weight);
        if (fitBias) {
            std::string biasName = hasBias ? node->inputs[2] : node->name + ".bias";
            if (!hasBias) {
                while (g.initializers.count(biasName) || g.values.count(biasName))
                    biasName += "_";
                node->inputs.resize(3);
                node->inputs[2] = biasName;
            }
            Tensor bias(DType::Float32, {layer.outputs});
            std::copy(fit.bias.begin(), fit.bias.end(), bias.f32());
            g.initializers[biasName] = bias;
        }
        if (log) {
            char line[200];
            std::snprintf(line, sizeof line, "reconstruct: %s, output error %.3g -> %.3g (relative, %lld rows)",
                          node->name.c_str(), errorBefore, errorAfter, static_cast<long long>(ls.rows()));
            log(line);
        }
    }
    inferShapes(pruned);
}

} // namespace cw
