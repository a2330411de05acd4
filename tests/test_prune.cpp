// Pruning tests: exact sparsity counts (per layer and with one global threshold), valid N:M patterns, channel
// ranking on hand-computed norms, channel pruning that keeps the graph consistent on both demo models and
// computes what the unpruned model computes with those channels zeroed, errors that name the node, and
// iterative pruning (masks keep zeros through fine-tuning; a cancelled run leaves the model untouched).
#include <QtTest>

#include <cmath>
#include <set>

#include "core/analysis/evaluate.h"
#include "core/analysis/stats.h"
#include "core/base/error.h"
#include "core/compress/prune.h"
#include "core/io/dataset.h"
#include "core/io/model_io.h"
#include "core/quant/quantize.h"
#include "core/runtime/ops.h"
#include "core/runtime/session.h"
#include "core/runtime/shape_inference.h"
#include "core/runtime/sparse.h"
#include "testutil.h"

using namespace cw;

namespace {

LayerPlan planFor(const Model &model, const std::string &node, const PruneConfig &config)
{
    LayerPlan p;
    p.node = node;
    const Node *n = model.graph.findNode(node);
    p.op = n ? n->opType : "";
    for (const LayerInfo &l : model.layers())
        if (l.name == node)
            p.weight = l.weightName;
    p.config.prune = config;
    return p;
}

// One plan entry per weighted layer, all with `config`.
std::vector<LayerPlan> planAll(const Model &model, const PruneConfig &config)
{
    std::vector<LayerPlan> plan;
    for (const LayerInfo &l : model.layers())
        if (!l.weightName.empty() && l.weightShape.size() >= 2)
            plan.push_back(planFor(model, l.name, config));
    return plan;
}

PruneConfig config(PruneMethod method, double ratio, PruneScope scope = PruneScope::Layer)
{
    PruneConfig c;
    c.method = method;
    c.ratio = ratio;
    c.scope = scope;
    return c;
}

int64_t zerosOf(const Tensor &t)
{
    int64_t z = 0;
    for (float v : t.toFloatVector())
        z += v == 0.f;
    return z;
}

const Tensor &init(const Model &m, const std::string &name)
{
    return m.graph.initializers.at(name);
}

// Zeroes index c along `axis` of an initializer (a fresh buffer, the original model is not touched).
void zeroChannel(Model &m, const std::string &name, int axis, int64_t c)
{
    Tensor t = init(m, name).clone();
    const Shape &s = t.shape();
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; ++d)
        outer *= s[size_t(d)];
    for (size_t d = size_t(axis) + 1; d < s.size(); ++d)
        inner *= s[d];
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i)
            t.f32()[(o * s[size_t(axis)] + c) * inner + i] = 0.f;
    m.graph.initializers[name] = t;
}

// A conv channel "zeroed": its weights, and its BN's scale and shift, so the BN output is exactly 0.
void zeroConvChannel(Model &m, const std::string &conv, const std::string &bn, int64_t c)
{
    zeroChannel(m, conv + ".weight", 0, c);
    if (!bn.empty()) {
        zeroChannel(m, bn + ".scale", 0, c);
        zeroChannel(m, bn + ".bias", 0, c);
    }
}

// The demo CNN with its Flatten replaced by a Reshape to `shape`.
Model withReshape(const Model &demo, const std::vector<int64_t> &shape, bool infer = true)
{
    Model m = demo.deepCopy();
    for (Node &n : m.graph.nodes)
        if (n.name == "flatten") {
            n.opType = "Reshape";
            n.attrs.clear();
            n.inputs.push_back("flatten.shape");
        }
    m.graph.initializers["flatten.shape"] = Tensor::fromInt64s({int64_t(shape.size())}, shape);
    if (infer)
        inferShapes(m);
    return m;
}

// conv2's channels meet a Reshape that does not flatten (to [N, 64, 49], then a Flatten): channel pruning
// cannot follow them.
Model unflattenedReshape(const Model &demo)
{
    Model m = withReshape(demo, {-1, 64, 49}, false);
    Node flatten;
    flatten.name = "flatten2";
    flatten.opType = "Flatten";
    flatten.inputs = {"flatten"};
    flatten.outputs = {"flatten2"};
    m.graph.nodes.push_back(flatten);
    m.graph.findNode("fc1")->inputs[0] = "flatten2";
    m.graph.sortTopologically();
    inferShapes(m);
    return m;
}

// Two layers: a Conv (3 -> 6 channels, 3x3, pads 1) or a Gemm (12 -> 6) and a Relu, then the layer to refit,
// "second" (a Conv of the given kernel, strides, pads and dilations, a Gemm with transB, with or without a bias,
// or a MatMul; op "Conv+dw": a Conv after a depthwise 3×3 Conv, which passes the channels through). The second
// layer's weights on the first layer's channels 1 and 4 are zero, so removing those channels changes nothing it
// computes.
Model twoLayers(const QString &op, int64_t k, int64_t stride, int64_t pad, int64_t dilation, bool transB, bool bias)
{
    const bool conv = op.startsWith("Conv");
    Model m;
    Graph &g = m.graph;
    ValueInfo in;
    in.name = "x";
    in.shape = conv ? Shape{-1, 3, 9, 8} : Shape{-1, 12};
    in.shapeKnown = true;
    g.inputs = {in};
    Node first;
    first.name = "first";
    first.opType = conv ? "Conv" : "Gemm";
    first.inputs = {"x", "first.weight", "first.bias"};
    first.outputs = {"h"};
    if (conv) {
        first.attrs["kernel_shape"] = Attribute::makeInts({3, 3});
        first.attrs["pads"] = Attribute::makeInts({1, 1, 1, 1});
        g.initializers["first.weight"] = testutil::randomTensor({6, 3, 3, 3}, 1);
    } else {
        first.attrs["transB"] = Attribute::makeInt(1);
        g.initializers["first.weight"] = testutil::randomTensor({6, 12}, 1);
    }
    g.initializers["first.bias"] = testutil::randomTensor({6}, 2, 0.f, 0.5f);
    Node relu;
    relu.name = "relu";
    relu.opType = "Relu";
    relu.inputs = {"h"};
    relu.outputs = {"r"};
    Node depthwise;
    depthwise.name = "dw";
    depthwise.opType = "Conv";
    depthwise.inputs = {"r", "dw.weight"};
    depthwise.outputs = {"d"};
    depthwise.attrs["kernel_shape"] = Attribute::makeInts({3, 3});
    depthwise.attrs["pads"] = Attribute::makeInts({1, 1, 1, 1});
    depthwise.attrs["group"] = Attribute::makeInt(6);
    g.initializers["dw.weight"] = testutil::randomTensor({6, 1, 3, 3}, 5);
    Node second;
    second.name = "second";
    second.opType = conv ? "Conv" : op.toStdString();
    second.inputs = {op == "Conv+dw" ? "d" : "r", "second.weight"};
    second.outputs = {"y"};
    Tensor w;
    if (conv) {
        second.attrs["kernel_shape"] = Attribute::makeInts({k, k});
        second.attrs["strides"] = Attribute::makeInts({stride, stride});
        second.attrs["pads"] = Attribute::makeInts({pad, pad + 1, pad + 1, pad}); // asymmetric
        second.attrs["dilations"] = Attribute::makeInts({dilation, dilation});
        w = testutil::randomTensor({5, 6, k, k}, 3);
        for (int64_t o = 0; o < 5; ++o)
            for (int64_t c : {1, 4})
                for (int64_t i = 0; i < k * k; ++i)
                    w.f32()[(o * 6 + c) * k * k + i] = 0.f;
    } else {
        if (op == "Gemm")
            second.attrs["transB"] = Attribute::makeInt(transB ? 1 : 0);
        w = testutil::randomTensor(transB ? Shape{5, 6} : Shape{6, 5}, 3);
        for (int64_t o = 0; o < 5; ++o)
            for (int64_t c : {1, 4})
                w.f32()[transB ? o * 6 + c : c * 5 + o] = 0.f;
    }
    g.initializers["second.weight"] = w;
    if (bias) {
        second.inputs.push_back("second.bias");
        g.initializers["second.bias"] = testutil::randomTensor({5}, 4);
    }
    g.nodes = {first, relu, second};
    if (op == "Conv+dw")
        g.nodes = {first, relu, depthwise, second};
    g.outputs = {ValueInfo{"y", DType::Float32, {}, false, {}}};
    inferShapes(m);
    return m;
}

std::vector<int64_t> firstOf(const std::vector<int64_t> &order, size_t n)
{
    return std::vector<int64_t>(order.begin(), order.begin() + std::ptrdiff_t(n));
}

} // namespace

class TestPrune : public QObject {
    Q_OBJECT

private slots:
    void initTestCase()
    {
        m_demo = loadModel("demo");
        m_resnet = loadModel("demo-resnet");
        m_data = loadDataset("fashion-mnist", {}, 32);
        for (const auto &[name, t] : m_demo.graph.initializers)
            if (t.rank() >= 2)
                QCOMPARE(zerosOf(t), int64_t(0)); // the counts below assume no zeros before pruning
    }

    void magnitudeLayer_data()
    {
        QTest::addColumn<double>("ratio");
        QTest::newRow("nothing") << 0.0;
        QTest::newRow("30%") << 0.3;
        QTest::newRow("half") << 0.5;
        QTest::newRow("90%") << 0.9;
        QTest::newRow("everything") << 1.0;
    }
    void magnitudeLayer()
    {
        QFETCH(double, ratio);
        Model m = m_demo.deepCopy();
        const PruneResult r = pruneModel(m, planAll(m, config(PruneMethod::Magnitude, ratio)));
        QCOMPARE(r.layers.size(), size_t(4));
        for (const PruneReport &rep : r.layers) {
            const Tensor &before = init(m_demo, rep.weight);
            const Tensor &after = init(m, rep.weight);
            const int64_t expected = std::llround(ratio * double(before.numel()));
            QCOMPARE(rep.params, before.numel());
            QCOMPARE(rep.zeros, expected);
            QCOMPARE(zerosOf(after), expected);
            // Exactly what the per-tensor pruner computes, and the mask marks exactly the pruned weights.
            QCOMPARE(after.toFloatVector(), pruneMagnitude(before, ratio).toFloatVector());
            const std::vector<float> mask = r.masks.at(rep.weight).toFloatVector();
            const std::vector<float> w = after.toFloatVector();
            for (size_t i = 0; i < w.size(); ++i)
                QCOMPARE(mask[i], w[i] == 0.f ? 0.f : 1.f);
        }
        // The base model's buffers are not written through.
        QCOMPARE(zerosOf(init(m_demo, "fc1.weight")), int64_t(0));
    }

    void magnitudeGlobal()
    {
        Model m = m_demo.deepCopy();
        const double ratio = 0.7;
        const PruneResult r = pruneModel(m, planAll(m, config(PruneMethod::Magnitude, ratio, PruneScope::Global)));
        int64_t total = 0, zeros = 0;
        float maxPruned = 0, minKept = INFINITY;
        std::set<double> layerRatios;
        for (const PruneReport &rep : r.layers) {
            total += rep.params;
            zeros += rep.zeros;
            const std::vector<float> before = init(m_demo, rep.weight).toFloatVector();
            const std::vector<float> after = init(m, rep.weight).toFloatVector();
            for (size_t i = 0; i < before.size(); ++i) {
                if (after[i] == 0.f)
                    maxPruned = std::max(maxPruned, std::abs(before[i]));
                else
                    minKept = std::min(minKept, std::abs(before[i]));
                if (after[i] != 0.f)
                    QCOMPARE(after[i], before[i]);
            }
            layerRatios.insert(std::round(1000.0 * double(rep.zeros) / double(rep.params)));
        }
        QCOMPARE(zeros, std::llround(ratio * double(total)));
        QVERIFY2(maxPruned <= minKept, "one threshold: every pruned magnitude is at most every kept one");
        QVERIFY2(layerRatios.size() > 1, "a global threshold prunes layers at different ratios");
    }

    void nmHandComputed()
    {
        // Rows of 10 with m = 4: two full groups and a dense tail of 2. Ties prune the lower index first.
        const Tensor w = Tensor::fromFloats({2, 10}, {1, -3, 2, 0.5f, 4, 4, -4, 1, 9, 0,  //
                                                      0, 0, 0, 0, -1, 2, -3, 4, 0.1f, 0.2f});
        const Tensor p = pruneNM(w, 2, 4, 1);
        const std::vector<float> expected = {0, -3, 2, 0, 0, 4, -4, 0, 9, 0,  //
                                             0, 0, 0, 0, 0, 0, -3, 4, 0.1f, 0.2f};
        QCOMPARE(p.toFloatVector(), expected);
        QVERIFY_THROWS_EXCEPTION(Error, pruneNM(w, 5, 4, 1));
        QVERIFY_THROWS_EXCEPTION(Error, pruneNM(w, 2, 4, 3));
    }

    void nmPatterns_data()
    {
        QTest::addColumn<int>("n");
        QTest::addColumn<int>("m");
        QTest::newRow("2:4") << 2 << 4;
        QTest::newRow("4:8") << 4 << 8;
        QTest::newRow("1:4") << 1 << 4;
    }
    void nmPatterns()
    {
        QFETCH(int, n);
        QFETCH(int, m);
        Model model = m_demo.deepCopy();
        PruneConfig c = config(PruneMethod::NM, 0);
        c.n = n;
        c.m = m;
        const PruneResult r = pruneModel(model, planAll(model, c));
        for (const PruneReport &rep : r.layers) {
            const Node &node = *model.graph.findNode(rep.node);
            const Tensor &before = init(m_demo, rep.weight);
            const Tensor &after = init(model, rep.weight);
            QCOMPARE(outputChannelAxis(node, after.shape()), 0); // the demo's weights are [out, reduction...]
            const int64_t rows = after.dim(0), len = after.numel() / rows;
            const std::vector<float> a = after.toFloatVector(), b = before.toFloatVector();
            int64_t expectedZeros = 0;
            for (int64_t row = 0; row < rows; ++row)
                for (int64_t g = 0; g < len; g += m) {
                    const int64_t size = std::min<int64_t>(m, len - g);
                    int kept = 0;
                    float minKept = INFINITY, maxPruned = 0;
                    for (int64_t i = 0; i < size; ++i) {
                        const size_t at = size_t(row * len + g + i);
                        if (a[at] != 0.f) {
                            ++kept;
                            QCOMPARE(a[at], b[at]);
                            minKept = std::min(minKept, std::abs(b[at]));
                        } else {
                            maxPruned = std::max(maxPruned, std::abs(b[at]));
                        }
                    }
                    QCOMPARE(kept, size == m ? n : int(size)); // a partial trailing group stays dense
                    QVERIFY(maxPruned <= minKept);
                    expectedZeros += size - kept;
                }
            QCOMPARE(rep.zeros, expectedZeros);
            QCOMPARE(zerosOf(r.masks.at(rep.weight)), expectedZeros);
        }
    }

    void nmAlongColumnsOfKN()
    {
        // Gemm with transB = 0 has B [K, N]: groups run down a column (the reduction axis is 0).
        Model m;
        m.graph.inputs = {ValueInfo{"x", DType::Float32, {-1, 8}, true}};
        m.graph.outputs = {ValueInfo{"y", DType::Float32, {-1, 3}, true}};
        m.graph.initializers["B"] = testutil::randomTensor({8, 3}, 7);
        Node n;
        n.name = "gemm";
        n.opType = "Gemm";
        n.inputs = {"x", "B"};
        n.outputs = {"y"};
        m.graph.nodes = {n};
        inferShapes(m);
        PruneConfig c = config(PruneMethod::NM, 0);
        pruneModel(m, {planFor(m, "gemm", c)});
        const std::vector<float> a = init(m, "B").toFloatVector();
        for (int col = 0; col < 3; ++col)
            for (int g = 0; g < 8; g += 4) {
                int kept = 0;
                for (int i = 0; i < 4; ++i)
                    kept += a[size_t((g + i) * 3 + col)] != 0.f;
                QCOMPARE(kept, 2);
            }
    }

    void rankChannelsHandComputed()
    {
        // Channel L1 norms 6, 1, 4.5; L2 norms sqrt(14) = 3.74, 1, sqrt(20.25) = 4.5.
        const Tensor w = Tensor::fromFloats({3, 3}, {1, -2, 3, 0, 1, 0, 4.5f, 0, 0});
        QCOMPARE(rankChannels(w, 0, ChannelNorm::L1), (std::vector<int64_t>{1, 2, 0}));
        QCOMPARE(rankChannels(w, 0, ChannelNorm::L2), (std::vector<int64_t>{1, 0, 2}));
        // Axis 1 of the same matrix: columns' L1 norms 5.5, 3, 3 (a tie keeps index order).
        QCOMPARE(rankChannels(w, 1, ChannelNorm::L1), (std::vector<int64_t>{1, 2, 0}));
    }

    void channelRemovalMatchesZeroedModel_data()
    {
        QTest::addColumn<QString>("model");
        QTest::newRow("demo: conv1, conv2 through flatten, fc1") << "demo";
        QTest::newRow("demo-resnet: residual groups, block convs") << "demo-resnet";
    }
    void channelRemovalMatchesZeroedModel()
    {
        QFETCH(QString, model);
        const Model &base = model == "demo" ? m_demo : m_resnet;
        Model pruned = base.deepCopy();
        Model zeroed = base.deepCopy();
        auto weakest = [&](const std::string &conv, size_t n) {
            return firstOf(rankChannels(init(base, conv + ".weight"), 0, ChannelNorm::L1), n);
        };
        struct Cut {
            std::string node;
            std::vector<std::pair<std::string, std::string>> zero; // conv, bn
            std::vector<int64_t> channels;
        };
        std::vector<Cut> cuts;
        if (model == "demo") {
            cuts = {{"conv1", {{"conv1", "bn1"}}, weakest("conv1", 12)},
                    {"conv2", {{"conv2", "bn2"}}, weakest("conv2", 40)},
                    {"fc1", {{"fc1", ""}}, weakest("fc1", 100)}};
        } else {
            cuts = {{"conv1", {{"conv1", "bn1"}, {"block1.conv2", "block1.bn2"}}, {0, 3, 5, 31}},
                    {"block1.conv1", {{"block1.conv1", "block1.bn1"}}, weakest("block1.conv1", 16)},
                    {"block2.conv1", {{"block2.conv1", "block2.bn1"}}, weakest("block2.conv1", 20)},
                    {"block2.shortcut.conv", {{"block2.conv2", "block2.bn2"}, {"block2.shortcut.conv", "block2.shortcut.bn"}},
                     {1, 2, 8, 40, 63}}};
        }
        for (const Cut &cut : cuts) {
            const int64_t before = init(pruned, cut.node + ".weight").dim(0);
            removeChannels(pruned, cut.node, cut.channels);
            for (const auto &[conv, bn] : cut.zero) {
                QCOMPARE(init(pruned, conv + ".weight").dim(0), before - int64_t(cut.channels.size()));
                for (int64_t c : cut.channels) {
                    zeroConvChannel(zeroed, conv, bn, c);
                    if (init(zeroed, conv + ".weight").rank() == 2)
                        zeroChannel(zeroed, conv + ".bias", 0, c);
                }
            }
        }
        QVERIFY(pruned.graph.parameterCount() < base.graph.parameterCount());
        // Shapes were re-inferred and agree with the weights.
        for (const Node &n : pruned.graph.nodes)
            if (n.opType == "Conv") {
                const Tensor &w = init(pruned, n.inputs[1]);
                QCOMPARE(pruned.graph.values.at(n.outputs[0]).shape[1], w.dim(0));
                QCOMPARE(pruned.graph.values.at(n.inputs[0]).shape[1], w.dim(1));
            }
        QCOMPARE(pruned.graph.values.at("logits").shape, (Shape{-1, 10}));
        const Tensor x = m_data.batch(0, 16);
        const Tensor expected = Session(zeroed, {1}).run(x);
        const Tensor actual = Session(pruned, {1}).run(x);
        const Tensor original = Session(base, {1}).run(x);
        QVERIFY2(testutil::mismatch(actual, expected, 1e-4, 1e-4).isEmpty(),
                 qPrintable(testutil::mismatch(actual, expected, 1e-4, 1e-4)));
        QVERIFY2(!testutil::mismatch(original, expected, 1e-4, 1e-4).isEmpty(), "the zeroed channels matter");
    }

    void channelPruneModel_data()
    {
        QTest::addColumn<QString>("model");
        QTest::addColumn<int>("norm");
        QTest::newRow("demo L1") << "demo" << int(ChannelNorm::L1);
        QTest::newRow("demo L2") << "demo" << int(ChannelNorm::L2);
        QTest::newRow("demo-resnet L1") << "demo-resnet" << int(ChannelNorm::L1);
    }
    void channelPruneModel()
    {
        QFETCH(QString, model);
        QFETCH(int, norm);
        const Model &base = model == "demo" ? m_demo : m_resnet;
        Model m = base.deepCopy();
        PruneConfig c = config(PruneMethod::Channel, 0.5);
        c.norm = ChannelNorm(norm);
        const PruneResult r = pruneModel(m, planAll(m, c));
        QVERIFY(r.masks.empty());
        for (const PruneReport &rep : r.layers) {
            const bool logits = rep.node == "fc2" || rep.node == "fc";
            QCOMPARE(rep.channelsAfter, logits ? rep.channelsBefore : rep.channelsBefore / 2);
            QCOMPARE(init(m, rep.weight).dim(0), rep.channelsAfter);
            QCOMPARE(rep.params, init(base, rep.weight).numel()); // weight elements before pruning
        }
        if (model == "demo") {
            // conv1 kept its strongest 16 filters, in their original order.
            std::vector<int64_t> removed = firstOf(rankChannels(init(base, "conv1.weight"), 0, c.norm), 16);
            std::vector<float> expected;
            const std::vector<float> w = init(base, "conv1.weight").toFloatVector();
            for (int64_t ch = 0; ch < 32; ++ch)
                if (std::find(removed.begin(), removed.end(), ch) == removed.end())
                    expected.insert(expected.end(), w.begin() + ch * 9, w.begin() + ch * 9 + 9);
            QCOMPARE(init(m, "conv1.weight").toFloatVector(), expected);
            QCOMPARE(init(m, "fc1.weight").shape(), (Shape{64, 32 * 7 * 7}));
            QCOMPARE(init(m, "bn2.mean").shape(), (Shape{32}));
        } else {
            // The residual group shares one channel set.
            QCOMPARE(init(m, "conv1.weight").dim(0), init(m, "block1.conv2.weight").dim(0));
            QCOMPARE(init(m, "block2.conv2.weight").dim(0), init(m, "block2.shortcut.conv.weight").dim(0));
            QCOMPARE(init(m, "fc.weight").shape(), (Shape{10, 32}));
        }
        const Tensor y = Session(m, {1}).run(m_data.batch(0, 8));
        QCOMPARE(y.shape(), (Shape{8, 10}));
    }

    // The refit against an exact answer: the second layer never read the removed channels, so its base weights
    // on the kept ones give the base's outputs exactly; from disturbed weights, the exact least squares (damp 0)
    // must find them again. The base's outputs come from the engine's Conv / Gemm (onnxruntime-checked), so this
    // also checks the patches against the engine's padding, strides and dilations.
    void reconstructFindsExactWeights_data()
    {
        QTest::addColumn<QString>("op");
        QTest::addColumn<int>("k");
        QTest::addColumn<int>("stride");
        QTest::addColumn<int>("pad");
        QTest::addColumn<int>("dilation");
        QTest::addColumn<bool>("transB");
        QTest::addColumn<bool>("bias");
        const QString conv = "Conv", gemm = "Gemm";
        QTest::newRow("conv 3x3") << conv << 3 << 1 << 1 << 1 << false << true;
        QTest::newRow("conv 3x3 no bias") << conv << 3 << 1 << 1 << 1 << false << false;
        QTest::newRow("conv 2x2 stride 2") << conv << 2 << 2 << 0 << 1 << false << true;
        QTest::newRow("conv 3x3 dilation 2, pads") << conv << 3 << 1 << 2 << 2 << false << false;
        QTest::newRow("conv 1x1") << conv << 1 << 1 << 0 << 1 << false << true;
        QTest::newRow("gemm transB") << gemm << 0 << 0 << 0 << 0 << true << true;
        QTest::newRow("gemm") << gemm << 0 << 0 << 0 << 0 << false << false;
        QTest::newRow("conv after a depthwise conv") << QString("Conv+dw") << 3 << 1 << 1 << 1 << false << true;
        QTest::newRow("matmul") << QString("MatMul") << 0 << 0 << 0 << 0 << false << false;
    }
    void reconstructFindsExactWeights()
    {
        QFETCH(QString, op);
        QFETCH(int, k);
        QFETCH(int, stride);
        QFETCH(int, pad);
        QFETCH(int, dilation);
        QFETCH(bool, transB);
        QFETCH(bool, bias);
        const bool conv = op.startsWith("Conv");
        const Model base = twoLayers(op, k, stride, pad, dilation, transB, bias);
        Model pruned = base.deepCopy();
        removeChannels(pruned, "first", {1, 4});
        const Tensor exact = init(pruned, "second.weight").clone();
        // Disturb the refit layer: reconstruction must not start from the answer.
        Tensor w = exact.clone();
        for (int64_t i = 0; i < w.numel(); ++i)
            w.f32()[i] += 0.3f * float((i * 7) % 5) - 0.6f;
        pruned.graph.initializers["second.weight"] = w;
        Dataset data;
        data.x = testutil::randomTensor(conv ? Shape{40, 3, 9, 8} : Shape{200, 12}, 5);
        std::vector<std::string> lines;
        reconstructPruned(pruned, base, {}, data, 0, 0.0, 1, {}, nullptr,
                          [&](const std::string &l) { lines.push_back(l); });
        QCOMPARE(lines.size(), size_t(1));
        QVERIFY2(QString::fromStdString(lines[0]).startsWith("reconstruct: second, output error"), lines[0].c_str());
        QVERIFY(testutil::mismatch(init(pruned, "second.weight"), exact, 1e-3, 1e-4).isEmpty());
        // A Conv or Gemm without a bias got one, of zeros here (the base had none); with one, it is the base's. A
        // MatMul has none.
        const Node &second = *pruned.graph.findNode("second");
        QCOMPARE(int(second.inputs.size()), op == "MatMul" ? 2 : 3);
        if (op != "MatMul") {
            const Tensor expectedBias = bias ? init(base, "second.bias") : Tensor(DType::Float32, {5});
            QVERIFY(testutil::mismatch(init(pruned, second.inputs[2]), expectedBias, 1e-3, 1e-4).isEmpty());
        }
        const Tensor x = data.batch(0, 8);
        const QString diff = testutil::mismatch(Session(pruned).run(x), Session(base).run(x), 1e-3, 1e-4);
        QVERIFY2(diff.isEmpty(), qPrintable(diff));
    }

    // The demo with 75 % of the channels of conv1, conv2 and fc1 removed (bench/distill.sh's recovery row): the
    // refit layers are conv2, fc1 and fc2, each one's output error falls, and so does the model's loss; in two
    // steps, the kept channels are composed across the steps (conv1's kept weights are the base's own).
    void reconstructDemo_data()
    {
        QTest::addColumn<int>("steps");
        QTest::newRow("one step") << 1;
        QTest::newRow("two steps") << 2;
    }
    void reconstructDemo()
    {
        QFETCH(int, steps);
        PruneConfig c = config(PruneMethod::Channel, 0.75);
        c.steps = steps;
        std::vector<LayerPlan> plan;
        for (const char *n : {"conv1", "conv2", "fc1"})
            plan.push_back(planFor(m_demo, n, c));
        const Dataset train = loadDataset("fashion-mnist:train", {}, 256);
        const Dataset test = loadDataset("fashion-mnist", {}, 500);
        Model plain = m_demo.deepCopy();
        pruneIteratively(plain, plan, c, FinetuneConfig{}, nullptr);
        c.reconstruct = true;
        c.reconstructSamples = 256;
        Model refit = m_demo.deepCopy();
        std::vector<std::string> lines;
        const PruneResult r = pruneIteratively(refit, plan, c, FinetuneConfig{}, &train, {}, nullptr,
                                               [&](const std::string &l) {
                                                   if (l.rfind("reconstruct:", 0) == 0)
                                                       lines.push_back(l);
                                               });
        QCOMPARE(int(lines.size()), 3 * steps);
        for (size_t i = 0; i < lines.size(); ++i) {
            const QString l = QString::fromStdString(lines[i]);
            QVERIFY2(l.startsWith(QStringLiteral("reconstruct: ") +
                                  QStringList{"conv2", "fc1", "fc2"}[int(i % 3)] + ", output error"),
                     qPrintable(l));
            const QStringList e = l.section("output error ", 1).section(" (", 0, 0).split(" -> ");
            QVERIFY2(e[1].toDouble() < 0.5 * e[0].toDouble(), qPrintable(l));
        }
        QCOMPARE(init(refit, "conv2.weight").dim(0), int64_t(16));
        const PruneReport &conv1 = r.layers[0];
        QCOMPARE(conv1.node, std::string("conv1"));
        QCOMPARE(conv1.kept.size(), size_t(8));
        const Tensor &w = init(refit, "conv1.weight"), &bw = init(m_demo, "conv1.weight");
        for (size_t k = 0; k < conv1.kept.size(); ++k)
            for (int64_t i = 0; i < 9; ++i)
                QCOMPARE(w.f32()[int64_t(k) * 9 + i], bw.f32()[conv1.kept[k] * 9 + i]);
        const EvalResult before = evaluate(Session(plain), test), after = evaluate(Session(refit), test);
        QVERIFY2(after.loss < 0.6 * before.loss, qPrintable(QString("loss %1 -> %2").arg(before.loss).arg(after.loss)));
        QVERIFY2(after.accuracy > before.accuracy + 0.2,
                 qPrintable(QString("accuracy %1 -> %2").arg(before.accuracy).arg(after.accuracy)));
        // Reconstruction needs data; Cancel during it leaves the model as it was.
        Model m = m_demo.deepCopy();
        QVERIFY_THROWS_EXCEPTION(Error, pruneIteratively(m, plan, c, FinetuneConfig{}, nullptr));
        StopToken stop;
        bool reconstructing = false;
        const ProgressFn cancel = [&](double, std::string_view stage) {
            if (stage.find("reconstruct fc1") != std::string_view::npos) {
                reconstructing = true;
                stop.requestStop();
            }
        };
        QVERIFY_THROWS_EXCEPTION(Cancelled, pruneIteratively(m, plan, c, FinetuneConfig{}, &train, cancel, &stop));
        QVERIFY(reconstructing);
        QVERIFY(testutil::sameWeights(m, m_demo));
    }

    void channelErrorsNameTheNode()
    {
        Model m = m_demo.deepCopy();
        // The logits layer.
        try {
            removeChannels(m, "fc2", {0});
            QFAIL("pruning the logits did not throw");
        } catch (const Error &e) {
            QVERIFY2(QString(e.what()).contains("fc2") && QString(e.what()).contains("logits"), e.what());
        }
        try {
            removeChannels(m, "conv1", std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                                            17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31});
            QFAIL("removing every channel did not throw");
        } catch (const Error &e) {
            QVERIFY2(QString(e.what()).contains("conv1"), e.what());
        }
        QVERIFY_THROWS_EXCEPTION(Error, removeChannels(m, "conv1", {32}));
        QVERIFY_THROWS_EXCEPTION(Error, removeChannels(m, "nothing", {0}));
        // A Reshape that does not flatten cannot be followed.
        m = unflattenedReshape(m_demo);
        try {
            removeChannels(m, "conv2", {0});
            QFAIL("pruning through a Reshape did not throw");
        } catch (const Error &e) {
            QVERIFY2(QString(e.what()).contains("'flatten' (Reshape)") && QString(e.what()).contains("conv2"),
                     e.what());
        }
        // Unknown node in a plan.
        try {
            Model d = m_demo.deepCopy();
            LayerPlan p = planFor(d, "conv1", config(PruneMethod::Magnitude, 0.5));
            p.node = "conv9";
            pruneModel(d, {p});
            QFAIL("an unknown node did not throw");
        } catch (const Error &e) {
            QVERIFY2(QString(e.what()).contains("conv9"), e.what());
        }
    }

    // x.view(N, -1) instead of a Flatten: the same surgery, and a target shape that spells out the feature
    // count is rewritten.
    void channelsThroughFlatteningReshape_data()
    {
        QTest::addColumn<qlonglong>("features");
        QTest::newRow("[-1, 3136]") << qlonglong(3136);
        QTest::newRow("[-1, -1 placeholder]") << qlonglong(-1);
    }
    void channelsThroughFlatteningReshape()
    {
        QFETCH(qlonglong, features);
        Model reshaped = withReshape(m_demo, {features == -1 ? 1 : -1, features == -1 ? -1 : 3136}, false);
        if (features == -1) // [1, -1] spells out the batch: run at batch 1
            reshaped.graph.inputs[0].shape[0] = 1;
        inferShapes(reshaped);
        Model flattened = m_demo.deepCopy();
        const std::vector<int64_t> channels{0, 5, 9, 33, 63};
        removeChannels(reshaped, "conv2", channels);
        removeChannels(flattened, "conv2", channels);
        QCOMPARE(init(reshaped, "fc1.weight").shape(), (Shape{128, 59 * 49}));
        if (features != -1)
            QCOMPARE(init(reshaped, "flatten.shape").toInt64Vector(), (std::vector<int64_t>{-1, 59 * 49}));
        const Tensor x = m_data.batch(0, 1);
        const Tensor a = Session(reshaped, {1}).run(x), b = Session(flattened, {1}).run(x);
        QVERIFY2(testutil::mismatch(a, b, 1e-6, 1e-6).isEmpty(), qPrintable(testutil::mismatch(a, b, 1e-6, 1e-6)));
    }

    // A model whose conv2 channels meet a Reshape that does not flatten: channel pruning of the whole model
    // leaves conv2 (and the logits layer, whose channels are the output) whole with the reason in the report,
    // and prunes conv1 and fc1 as usual.
    void unprunableChannelsAreReportedNotFatal()
    {
        Model m = unflattenedReshape(m_demo);
        const Model before = m.deepCopy();
        const PruneResult r = pruneModel(m, planAll(m, config(PruneMethod::Channel, 0.5)));
        std::map<std::string, PruneReport> byNode;
        for (const PruneReport &p : r.layers)
            byNode[p.node] = p;
        QVERIFY2(byNode.at("conv2").skipped.find("'flatten' (Reshape)") != std::string::npos,
                 byNode.at("conv2").skipped.c_str());
        QVERIFY2(byNode.at("fc2").skipped.find("graph output") != std::string::npos, byNode.at("fc2").skipped.c_str());
        QCOMPARE(byNode.at("conv2").channelsAfter, byNode.at("conv2").channelsBefore);
        QCOMPARE(init(m, "conv2.weight").dim(0), init(before, "conv2.weight").dim(0));
        QVERIFY(byNode.at("conv1").skipped.empty());
        QCOMPARE(byNode.at("conv1").channelsAfter, byNode.at("conv1").channelsBefore / 2);
        QVERIFY(byNode.at("fc1").skipped.empty());
        QCOMPARE(byNode.at("fc1").channelsAfter, byNode.at("fc1").channelsBefore / 2);
        Session(m).run(m_data.batch(0, 2)); // the pruned graph still runs
    }

    // channelPruneObstacle predicts, before any rewrite, the reason a run gives each layer it leaves whole —
    // also for a residual block half planned, where the run would otherwise remove nothing without a word.
    void obstaclesPredictSkips_data()
    {
        QTest::addColumn<QString>("model");
        QTest::addColumn<QStringList>("channelLayers"); // empty: every layer
        QTest::addColumn<QString>("layer");
        QTest::addColumn<QString>("reason"); // in the obstacle of `layer`; "" for none
        QTest::newRow("reshape") << "unflattened" << QStringList() << "conv2" << "'flatten' (Reshape)";
        QTest::newRow("output") << "unflattened" << QStringList() << "fc2" << "graph output 'logits'";
        QTest::newRow("prunable") << "unflattened" << QStringList() << "conv1" << "";
        QTest::newRow("residual, both sides") << "demo-resnet" << QStringList() << "block2.conv2" << "";
        QTest::newRow("residual, one side") << "demo-resnet" << QStringList{"block2.conv2"} << "block2.conv2"
                                            << "also produced by 'block2.shortcut.conv'";
    }
    void obstaclesPredictSkips()
    {
        QFETCH(QString, model);
        QFETCH(QStringList, channelLayers);
        QFETCH(QString, layer);
        QFETCH(QString, reason);
        Model m = model == "unflattened" ? unflattenedReshape(m_demo) : loadModel(model.toStdString()).deepCopy();
        std::vector<LayerPlan> plan = planAll(m, config(PruneMethod::Channel, 0.5));
        for (LayerPlan &p : plan)
            if (!channelLayers.isEmpty() && !channelLayers.contains(QString::fromStdString(p.node)))
                p.config.prune.reset();
        const std::string predicted = channelPruneObstacle(m, layer.toStdString(), plan);
        if (reason.isEmpty())
            QVERIFY2(predicted.empty(), predicted.c_str());
        else
            QVERIFY2(predicted.find(reason.toStdString()) != std::string::npos, predicted.c_str());
        // The run reports exactly what was predicted, for every layer, and removes nothing where it said so.
        std::map<std::string, std::string> expected;
        for (const LayerPlan &p : plan)
            if (p.config.prune)
                expected[p.node] = channelPruneObstacle(m, p.node, plan);
        const PruneResult r = pruneModel(m, plan);
        QCOMPARE(r.layers.size(), expected.size());
        for (const PruneReport &rep : r.layers) {
            QCOMPARE(QString::fromStdString(rep.skipped), QString::fromStdString(expected.at(rep.node)));
            if (!rep.skipped.empty())
                QCOMPARE(rep.channelsAfter, rep.channelsBefore);
        }
    }

    void skippedLayersStayUntouched()
    {
        Model m = m_demo.deepCopy();
        std::vector<LayerPlan> plan = planAll(m, config(PruneMethod::Magnitude, 0.5));
        plan[1].config.skip = true;
        const PruneResult r = pruneModel(m, plan);
        QCOMPARE(r.layers.size(), size_t(3));
        QCOMPARE(init(m, plan[1].weight).toFloatVector(), init(m_demo, plan[1].weight).toFloatVector());
    }

    void iterativeKeepsMasksThroughFineTuning()
    {
        const Dataset train = loadDataset("fashion-mnist:train", {}, 128);
        Model m = m_demo.deepCopy();
        PruneConfig c = config(PruneMethod::Magnitude, 0.6);
        c.steps = 3;
        c.power = 3;
        FinetuneConfig f;
        f.epochs = 1;
        f.lr = 1e-3f;
        f.batchSize = 64;
        f.samples = 128;
        std::vector<double> fractions;
        std::vector<std::string> lines;
        const PruneResult r = pruneIteratively(
            m, planAll(m, c), c, f, &train, [&](double x, std::string_view) { fractions.push_back(x); }, nullptr,
            [&](const std::string &line) { lines.push_back(line); });
        QVERIFY(!fractions.empty());
        QCOMPARE(fractions.back(), 1.0);
        QVERIFY(std::is_sorted(fractions.begin(), fractions.end()));
        QVERIFY(lines.size() >= 6); // a pruning line and a fine-tuning epoch per step
        bool changed = false;
        for (const PruneReport &rep : r.layers) {
            const Tensor &w = init(m, rep.weight);
            const std::vector<float> mask = r.masks.at(rep.weight).toFloatVector();
            const std::vector<float> a = w.toFloatVector(), b = init(m_demo, rep.weight).toFloatVector();
            const int64_t expected = std::llround(0.6 * double(w.numel()));
            QCOMPARE(zerosOf(r.masks.at(rep.weight)), expected);
            QCOMPARE(rep.zeros, zerosOf(w));
            for (size_t i = 0; i < a.size(); ++i) {
                if (mask[i] == 0.f)
                    QCOMPARE(a[i], 0.f);
                changed = changed || (mask[i] != 0.f && a[i] != b[i]);
            }
        }
        QVERIFY2(changed, "fine-tuning moved the kept weights");
    }

    void iterativeChannelsReachTheRatio()
    {
        Model m = m_demo.deepCopy();
        PruneConfig c = config(PruneMethod::Channel, 0.5);
        c.steps = 2;
        // Step 1 removes round(0.5 * (1 - 0.5^3) * 32) = 14 of conv1's channels, step 2 two more; the
        // shrunken graph fine-tunes between them.
        const Dataset train = loadDataset("fashion-mnist:train", {}, 64);
        FinetuneConfig f;
        f.epochs = 1;
        f.samples = 64;
        std::vector<std::string> lines;
        const PruneResult r = pruneIteratively(m, planAll(m, c), c, f, &train, {}, nullptr,
                                               [&](const std::string &line) { lines.push_back(line); });
        QCOMPARE(lines.size(), size_t(4)); // per step: the pruning line and one epoch
        QVERIFY2(QString::fromStdString(lines[0]).contains("step 1/2") &&
                     QString::fromStdString(lines[0]).contains("conv1 18/32 channels"),
                 lines[0].c_str());
        QVERIFY2(QString::fromStdString(lines[2]).contains("conv1 16/32 channels"), lines[2].c_str());
        QCOMPARE(init(m, "conv1.weight").dim(0), int64_t(16));
        QCOMPARE(init(m, "conv2.weight").dim(0), int64_t(32));
        QCOMPARE(init(m, "fc1.weight").shape(), (Shape{64, 32 * 49}));
        QCOMPARE(r.layers.front().channelsBefore, int64_t(32));
        QCOMPARE(r.layers.front().channelsAfter, int64_t(16));
    }

    void iterativeCancelLeavesModelUntouched_data()
    {
        QTest::addColumn<QString>("when");
        QTest::newRow("before the first step") << "start";
        QTest::newRow("during fine-tuning") << "fine-tuning";
    }
    void iterativeCancelLeavesModelUntouched()
    {
        QFETCH(QString, when);
        const Dataset train = loadDataset("fashion-mnist:train", {}, 256);
        Model m = m_demo.deepCopy();
        const Model snapshot = m.deepCopy();
        PruneConfig c = config(PruneMethod::Channel, 0.5);
        c.steps = 2;
        FinetuneConfig f;
        f.epochs = 1;
        f.samples = 256;
        StopToken stop;
        if (when == "start")
            stop.requestStop();
        const ProgressFn progress = [&](double, std::string_view stage) {
            if (stage.find(when.toStdString()) != std::string_view::npos)
                stop.requestStop();
        };
        QVERIFY_THROWS_EXCEPTION(Cancelled, pruneIteratively(m, planAll(m, c), c, f, &train, progress, &stop));
        QCOMPARE(m.graph.nodes.size(), snapshot.graph.nodes.size());
        QCOMPARE(m.graph.initializers.size(), snapshot.graph.initializers.size());
        for (const auto &[name, t] : snapshot.graph.initializers) {
            QCOMPARE(init(m, name).shape(), t.shape());
            QCOMPARE(init(m, name).toFloatVector(), t.toFloatVector());
        }
    }

    // The CSR kernels against the dense ones, on the same node and inputs (within float tolerance: the sums
    // run in another order).
    void sparseKernelsMatchDense_data()
    {
        QTest::addColumn<QString>("op");
        QTest::addColumn<int>("batch");
        QTest::addColumn<int>("variant");
        QTest::addColumn<double>("sparsity");
        for (int batch : {1, 2, 3, 64}) {
            QTest::addRow("Gemm transB batch %d", batch) << "Gemm" << batch << 0 << 0.9;
            QTest::addRow("Gemm [K, N] alpha beta bias batch %d", batch) << "Gemm" << batch << 1 << 0.8;
        }
        QTest::newRow("Gemm all zero") << "Gemm" << 5 << 0 << 1.0;
        QTest::newRow("Gemm dense") << "Gemm" << 5 << 1 << 0.0;
        for (int batch : {1, 3}) {
            QTest::addRow("Conv 3x3 pad 1 bias batch %d", batch) << "Conv" << batch << 0 << 0.85;
            QTest::addRow("Conv 3x3 stride 2 batch %d", batch) << "Conv" << batch << 1 << 0.9;
            QTest::addRow("Conv 1x1 batch %d", batch) << "Conv" << batch << 2 << 0.7;
        }
    }
    void sparseKernelsMatchDense()
    {
        QFETCH(QString, op);
        QFETCH(int, batch);
        QFETCH(int, variant);
        QFETCH(double, sparsity);
        Node node;
        node.name = "layer";
        node.opType = op.toStdString();
        Tensor x, w, b;
        int64_t rows, cols;
        bool transposed = false;
        if (op == "Gemm") {
            x = testutil::randomTensor({batch, 40}, 1);
            if (variant == 0) {
                node.attrs["transB"] = Attribute::makeInt(1);
                w = testutil::randomTensor({30, 40}, 2);
            } else {
                node.attrs["alpha"] = Attribute::makeFloat(0.5f);
                node.attrs["beta"] = Attribute::makeFloat(2.f);
                w = testutil::randomTensor({40, 30}, 2);
                b = testutil::randomTensor({30}, 3);
                transposed = true;
            }
            rows = 30;
            cols = 40;
        } else {
            const int64_t k = variant == 2 ? 1 : 3;
            x = testutil::randomTensor({batch, 6, 9, 9}, 1);
            w = testutil::randomTensor({8, 6, k, k}, 2);
            node.attrs["kernel_shape"] = Attribute::makeInts({k, k});
            if (variant == 0) {
                node.attrs["pads"] = Attribute::makeInts({1, 1, 1, 1});
                b = testutil::randomTensor({8}, 3);
            }
            if (variant == 1)
                node.attrs["strides"] = Attribute::makeInts({2, 2});
            rows = 8;
            cols = 6 * k * k;
        }
        w = pruneMagnitude(w, sparsity);
        const SparseWeight csr = sparse::toCsr(w.f32(), rows, cols, transposed);
        QCOMPARE(int64_t(csr.values.size()), w.numel() - zerosOf(w));
        QCOMPARE(csr.sparsity, double(zerosOf(w)) / double(w.numel()));
        auto run = [&](const SparseWeight *s, int threads) {
            OpContext ctx{node, {&x, &w, b.isNull() ? nullptr : &b}, {}, threads};
            ctx.sparse = s;
            ctx.outputs.resize(1);
            findKernel(node.opType)(ctx);
            return ctx.outputs[0];
        };
        const Tensor dense = run(nullptr, 1);
        for (int threads : {1, 2}) {
            Tensor actual;
            if (op == "Gemm") {
                // The kernel itself: the Gemm op takes it only above the measured threshold.
                const float alpha = node.attrFloat("alpha", 1.f), beta = node.attrFloat("beta", 1.f);
                actual = Tensor(DType::Float32, {batch, 30});
                for (int64_t i = 0; !b.isNull() && i < actual.numel(); ++i)
                    actual.f32()[i] = beta * b.f32()[i % 30];
                sparse::gemm(csr, batch, x.f32(), alpha, !b.isNull(), actual.f32(), threads);
            } else {
                actual = run(&csr, threads);
            }
            QVERIFY2(testutil::mismatch(actual, dense, 1e-5, 1e-5).isEmpty(),
                     qPrintable(testutil::mismatch(actual, dense, 1e-5, 1e-5)));
        }
    }

    // A Session picks the CSR form for weights above the threshold only (a 3 x 3 Conv: never), and its results are
    // the dense ones; a weight fed anew for a run is used, not the CSR form of the initializer.
    void sessionPicksSparseAboveThreshold()
    {
        Model m = m_demo.deepCopy();
        std::vector<LayerPlan> plan;
        plan.push_back(planFor(m, "conv2", config(PruneMethod::Magnitude, 0.9)));
        plan.push_back(planFor(m, "fc1", config(PruneMethod::Magnitude, 0.92)));
        plan.push_back(planFor(m, "fc2", config(PruneMethod::Magnitude, 0.5)));
        pruneModel(m, plan);
        QVERIFY(sparse::prepare(*m.graph.findNode("fc1"), m.graph) != nullptr);
        QVERIFY(sparse::prepare(*m.graph.findNode("conv2"), m.graph) == nullptr); // oneDNN's dense conv wins
        QVERIFY(sparse::gemmPath(*sparse::prepare(*m.graph.findNode("fc1"), m.graph), 1) == sparse::GemmPath::Csr);
        QVERIFY(sparse::prepare(*m.graph.findNode("fc2"), m.graph) == nullptr);
        QVERIFY(sparse::prepare(*m.graph.findNode("conv1"), m.graph) == nullptr);
        const Session session(m, {1});
        const auto values = session.runAll({{"input", m_data.batch(0, 4)}});
        for (const char *layer : {"conv2", "fc1", "fc2"}) {
            const Node &node = *m.graph.findNode(layer);
            OpContext ctx{node, {}, {}, 1};
            for (const std::string &in : node.inputs)
                ctx.inputs.push_back(&values.at(in));
            ctx.outputs.resize(1);
            findKernel(node.opType)(ctx); // dense: no CSR form given
            const Tensor &actual = values.at(node.outputs[0]);
            QVERIFY2(testutil::mismatch(actual, ctx.outputs[0], 1e-5, 1e-5).isEmpty(), layer);
        }
        // fc1's weight fed anew (dense): the run multiplies by it.
        const Node &fc1 = *m.graph.findNode("fc1");
        const Tensor fed = testutil::randomTensor(m.graph.initializers.at(fc1.inputs[1]).shape(), 7);
        const auto withFed = session.runAll({{"input", m_data.batch(0, 4)}, {fc1.inputs[1], fed}});
        OpContext ctx{fc1, {&withFed.at(fc1.inputs[0]), &fed, &withFed.at(fc1.inputs[2])}, {}, 1};
        ctx.outputs.resize(1);
        findKernel("Gemm")(ctx);
        QVERIFY2(testutil::mismatch(withFed.at(fc1.outputs[0]), ctx.outputs[0], 1e-5, 1e-5).isEmpty(),
                 qPrintable(testutil::mismatch(withFed.at(fc1.outputs[0]), ctx.outputs[0], 1e-5, 1e-5)));
    }

    // Blocks of 16 outputs at one input, by L2 norm, hand-computed: [20, 2] along axis 0 has four blocks, rows 0-15
    // and 16-19 (a partial one) at each of the two inputs.
    void blocksHandComputed()
    {
        Tensor w(DType::Float32, {20, 2});
        for (int64_t r = 0; r < 20; ++r) {
            w.f32()[r * 2] = r < 16 ? 1.f : 3.f;      // norms² 16 (rows 0-15) and 36 (rows 16-19)
            w.f32()[r * 2 + 1] = r < 16 ? -1.f : 2.f; // 16 and 16: a tie with the first block
        }
        Tensor mask(DType::Float32, {20, 2});
        std::fill_n(mask.f32(), 40, 1.f);
        const Tensor half = pruneBlocks(w, 0.5, 0, &mask);
        // Three blocks tie at 16 and index order decides: the first two (rows 0-15) go.
        for (int64_t r = 0; r < 20; ++r) {
            QCOMPARE(half.f32()[r * 2], r < 16 ? 0.f : 3.f);
            QCOMPARE(half.f32()[r * 2 + 1], r < 16 ? 0.f : 2.f);
            QCOMPARE(mask.f32()[r * 2], r < 16 ? 0.f : 1.f);
            QCOMPARE(mask.f32()[r * 2 + 1], r < 16 ? 0.f : 1.f);
        }
        const Tensor three = pruneBlocks(w, 0.75, 0);
        for (int64_t r = 0; r < 20; ++r) {
            QCOMPARE(three.f32()[r * 2], r < 16 ? 0.f : 3.f); // the largest block stays
            QCOMPARE(three.f32()[r * 2 + 1], 0.f);
        }
        // A NaN ranks as the largest: its block stays whatever the ratio below 1.
        Tensor n = w.clone();
        n.f32()[0] = std::nanf("");
        const Tensor kept = pruneBlocks(n, 0.75, 0);
        QVERIFY(std::isnan(kept.f32()[0]));
        QCOMPARE(kept.f32()[2], 1.f);
        QCOMPARE(zerosOf(pruneBlocks(w, 0.0, 0)), int64_t(0));
        QCOMPARE(zerosOf(pruneBlocks(w, 1.0, 0)), int64_t(40));
        QVERIFY_THROWS_EXCEPTION(Error, pruneBlocks(w, 0.5, 2));
        QVERIFY_THROWS_EXCEPTION(Error, pruneBlocks(w, 1.5, 0));
    }

    // pruneModel's block method: every layer's zeros fill whole blocks of 16 along its output axis (Conv: axis 0,
    // Gemm with transB: axis 0), the share of blocks asked, and the mask marks them.
    void blockPruneModel()
    {
        Model m = m_demo.deepCopy();
        const PruneResult r = pruneModel(m, planAll(m, config(PruneMethod::Block, 0.75)));
        QCOMPARE(r.layers.size(), size_t(4));
        for (const PruneReport &rep : r.layers) {
            const Node &node = *m.graph.findNode(rep.node);
            const Tensor &w = init(m, rep.weight);
            const int axis = outputChannelAxis(node, w.shape());
            const Shape &s = w.shape();
            const int64_t C = s[size_t(axis)], inner = w.numel() / C / (axis == 0 ? 1 : s[0]);
            const int64_t outer = w.numel() / C / inner, groups = (C + 15) / 16;
            int64_t zeroBlocks = 0;
            for (int64_t o = 0; o < outer; ++o)
                for (int64_t i = 0; i < inner; ++i)
                    for (int64_t g = 0; g < groups; ++g) {
                        int64_t zeros = 0, size = 0;
                        for (int64_t c = g * 16; c < std::min(C, g * 16 + 16); ++c, ++size)
                            zeros += w.f32()[(o * C + c) * inner + i] == 0.f;
                        QVERIFY2(zeros == 0 || zeros == size, qPrintable(QString::fromStdString(rep.node)));
                        zeroBlocks += zeros == size;
                    }
            QCOMPARE(zeroBlocks, std::llround(0.75 * double(outer * inner * groups)));
            const std::vector<float> mask = r.masks.at(rep.weight).toFloatVector();
            for (int64_t i = 0; i < w.numel(); ++i)
                QCOMPARE(mask[size_t(i)], w.f32()[i] == 0.f ? 0.f : 1.f);
        }
    }

    // The block kernel against the dense Gemm: rows of a tile and past it, outputs in whole and partial blocks,
    // both weight layouts, alpha and beta · C, one and two threads.
    void blockKernelMatchesDense_data()
    {
        QTest::addColumn<int>("batch");
        QTest::addColumn<int>("outputs");
        QTest::addColumn<int>("inputs");
        QTest::addColumn<bool>("transB");
        for (int batch : {1, 2, 3, 4, 5, 37})
            for (int outputs : {7, 16, 20, 48})
                QTest::addRow("batch %d, %d outputs", batch, outputs) << batch << outputs << 33 << (outputs % 2 == 0);
        QTest::newRow("large, threads split it") << 64 << 128 << 300 << true;
        QTest::newRow("one input") << 3 << 40 << 1 << false;
    }
    void blockKernelMatchesDense()
    {
        QFETCH(int, batch);
        QFETCH(int, outputs);
        QFETCH(int, inputs);
        QFETCH(bool, transB);
        Node node;
        node.name = "layer";
        node.opType = "Gemm";
        node.attrs["transB"] = Attribute::makeInt(transB ? 1 : 0);
        node.attrs["alpha"] = Attribute::makeFloat(0.5f);
        node.attrs["beta"] = Attribute::makeFloat(2.f);
        const Tensor x = testutil::randomTensor({batch, inputs}, 1);
        const Tensor b = testutil::randomTensor({outputs}, 3);
        const Shape shape = transB ? Shape{outputs, inputs} : Shape{inputs, outputs};
        const Tensor w = pruneBlocks(testutil::randomTensor(shape, 2), 0.5, transB ? 0 : 1);
        SparseWeight blocks;
        blocks.rows = outputs;
        blocks.cols = inputs;
        sparse::addBlocks(blocks, w.f32(), !transB);
        QCOMPARE(int64_t(blocks.blockStart.size()), (outputs + 15) / 16 + 1);
        const double count = double((outputs + 15) / 16 * inputs);
        QVERIFY(std::abs(blocks.blockSparsity - double(std::llround(0.5 * count)) / count) < 1e-12);
        OpContext ctx{node, {&x, &w, &b}, {}, 1};
        ctx.outputs.resize(1);
        findKernel("Gemm")(ctx);
        const Tensor dense = ctx.outputs[0];
        for (int threads : {1, 2}) {
            Tensor actual(DType::Float32, {batch, outputs});
            for (int64_t i = 0; i < actual.numel(); ++i)
                actual.f32()[i] = 2.f * b.f32()[i % outputs];
            sparse::gemmBlocks(blocks, batch, x.f32(), 0.5f, true, actual.f32(), threads);
            QVERIFY2(testutil::mismatch(actual, dense, 1e-5, 1e-5).isEmpty(),
                     qPrintable(testutil::mismatch(actual, dense, 1e-5, 1e-5)));
            // Without C: the sums overwrite what y held.
            Tensor plain = testutil::randomTensor({batch, outputs}, 9);
            sparse::gemmBlocks(blocks, batch, x.f32(), 0.5f, false, plain.f32(), threads);
            for (int64_t i = 0; i < plain.numel(); ++i)
                QVERIFY(std::abs(plain.f32()[i] - (dense.f32()[i] - 2.f * b.f32()[i % outputs])) < 1e-4f);
        }
    }

    // A Session gives a block-pruned Gemm its block form (from 10 % of zero blocks) and the op runs it at any batch;
    // scattered zeros get none below the CSR threshold; where both forms exist, the one of less work runs.
    void sessionPicksBlocks()
    {
        Model m = m_demo.deepCopy();
        std::vector<LayerPlan> plan;
        plan.push_back(planFor(m, "fc1", config(PruneMethod::Block, 0.15)));
        plan.push_back(planFor(m, "fc2", config(PruneMethod::Magnitude, 0.5)));
        pruneModel(m, plan);
        const auto fc1 = sparse::prepare(*m.graph.findNode("fc1"), m.graph);
        QVERIFY(fc1 != nullptr);
        QVERIFY(fc1->rowStart.empty()); // 15 % of zeros: no CSR form
        QVERIFY(std::abs(fc1->blockSparsity - double(std::llround(0.15 * 8 * 3136)) / (8 * 3136)) < 1e-12);
        for (int64_t batch : {1, 4, 64})
            QVERIFY(sparse::gemmPath(*fc1, batch) == sparse::GemmPath::Blocks);
        QVERIFY(sparse::prepare(*m.graph.findNode("fc2"), m.graph) == nullptr);
        const Session session(m, {1});
        for (int64_t batch : {1, 5}) {
            const auto values = session.runAll({{"input", m_data.batch(0, batch)}});
            const Node &node = *m.graph.findNode("fc1");
            OpContext ctx{node, {}, {}, 1};
            for (const std::string &in : node.inputs)
                ctx.inputs.push_back(&values.at(in));
            ctx.outputs.resize(1);
            findKernel("Gemm")(ctx); // dense: no sparse form given
            QVERIFY2(testutil::mismatch(values.at(node.outputs[0]), ctx.outputs[0], 1e-5, 1e-5).isEmpty(),
                     qPrintable(testutil::mismatch(values.at(node.outputs[0]), ctx.outputs[0], 1e-5, 1e-5)));
        }
        // 95 % scattered zeros: CSR and blocks both built (0.95^16 of the blocks are zero); a batch of one runs the
        // CSR form (5 % of nonzeros at 7 each against 44 % of the blocks' weights), larger batches too (at 4 each).
        Model u = m_demo.deepCopy();
        pruneModel(u, {planFor(u, "fc1", config(PruneMethod::Magnitude, 0.95))});
        const auto both = sparse::prepare(*u.graph.findNode("fc1"), u.graph);
        QVERIFY(both && !both->rowStart.empty() && !both->blockStart.empty());
        QVERIFY(sparse::gemmPath(*both, 1) == sparse::GemmPath::Csr);
        QVERIFY(sparse::gemmPath(*both, 64) == sparse::GemmPath::Csr);
        // 75 % in blocks: both forms, and the blocks hold a fraction of the CSR's work.
        Model v = m_demo.deepCopy();
        pruneModel(v, {planFor(v, "fc1", config(PruneMethod::Block, 0.75))});
        const auto blocked = sparse::prepare(*v.graph.findNode("fc1"), v.graph);
        QVERIFY(blocked && !blocked->rowStart.empty() && !blocked->blockStart.empty());
        QVERIFY(sparse::gemmPath(*blocked, 1) == sparse::GemmPath::Blocks);
        QVERIFY(sparse::gemmPath(*blocked, 64) == sparse::GemmPath::Blocks);
    }

    // A MatMul with a constant 2-D B takes the sparse forms as a Gemm does (B [K, N] as a Gemm's without transB),
    // over all the rows of a batched A; its results are the dense ones.
    void matMulTakesTheSparseForms_data()
    {
        QTest::addColumn<bool>("blocks"); // pruned in blocks (else by magnitude)
        QTest::addColumn<double>("ratio");
        QTest::addColumn<int>("path");    // sparse::GemmPath at the 10 rows of A
        QTest::newRow("blocks, 50 %") << true << 0.5 << int(sparse::GemmPath::Blocks);
        QTest::newRow("magnitude, 90 %") << false << 0.9 << int(sparse::GemmPath::Csr);
    }
    void matMulTakesTheSparseForms()
    {
        QFETCH(bool, blocks);
        QFETCH(double, ratio);
        QFETCH(int, path);
        Model m;
        m.opsetVersion = 17;
        const Tensor w0 = testutil::randomTensor({40, 30}, 2);
        m.graph.initializers["w"] = blocks ? pruneBlocks(w0, ratio, 1) : pruneMagnitude(w0, ratio);
        Node node;
        node.name = "matmul";
        node.opType = "MatMul";
        node.inputs = {"x", "w"};
        node.outputs = {"y"};
        m.graph.nodes = {node};
        m.graph.inputs = {ValueInfo{"x", DType::Float32, {2, 5, 40}, true}};
        m.graph.outputs = {ValueInfo{"y", DType::Float32, {}, false}};
        const auto form = sparse::prepare(node, m.graph);
        QVERIFY(form != nullptr);
        QCOMPARE(int(sparse::gemmPath(*form, 10)), path);
        const Tensor x = testutil::randomTensor({2, 5, 40}, 1);
        const Tensor actual = Session(m, {1}).run({{"x", x}}).at("y");
        OpContext ctx{node, {&x, &m.graph.initializers.at("w")}, {}, 1};
        ctx.outputs.resize(1);
        findKernel("MatMul")(ctx); // dense: no sparse form given
        QCOMPARE(actual.shape(), (Shape{2, 5, 30}));
        QVERIFY2(testutil::mismatch(actual, ctx.outputs[0], 1e-5, 1e-5).isEmpty(),
                 qPrintable(testutil::mismatch(actual, ctx.outputs[0], 1e-5, 1e-5)));
        // The op multiplies by the form it is given (here that of 2 w): the sparse kernel ran, not the dense one on B.
        Graph doubled;
        doubled.initializers["w"] = m.graph.initializers.at("w").clone();
        for (int64_t i = 0; i < doubled.initializers["w"].numel(); ++i)
            doubled.initializers["w"].f32()[i] *= 2.f;
        const auto form2 = sparse::prepare(node, doubled);
        OpContext given{node, {&x, &m.graph.initializers.at("w")}, {}, 1};
        given.sparse = form2.get();
        given.outputs.resize(1);
        findKernel("MatMul")(given);
        Tensor expected = ctx.outputs[0].clone();
        for (int64_t i = 0; i < expected.numel(); ++i)
            expected.f32()[i] *= 2.f;
        QVERIFY2(testutil::mismatch(given.outputs[0], expected, 1e-5, 1e-5).isEmpty(),
                 qPrintable(testutil::mismatch(given.outputs[0], expected, 1e-5, 1e-5)));
    }

    // A 1-D-like convolution (1 x k or k x 1) from 79 % zeros gets a CSR form, used on images of at least 200 output
    // positions; a 3 x 3 one, or a sparser 1 x k one, none.
    void sessionPicksSparseConvByRule_data()
    {
        QTest::addColumn<int>("kh");
        QTest::addColumn<int>("kw");
        QTest::addColumn<double>("sparsity");
        QTest::addColumn<bool>("made");
        QTest::newRow("1x3 at 80%") << 1 << 3 << 0.8 << true;
        QTest::newRow("3x1 at 90%") << 3 << 1 << 0.9 << true;
        QTest::newRow("1x3 at 70%") << 1 << 3 << 0.7 << false;
        QTest::newRow("3x3 at 95%") << 3 << 3 << 0.95 << false;
        QTest::newRow("1x1 at 95%") << 1 << 1 << 0.95 << false;
    }
    void sessionPicksSparseConvByRule()
    {
        QFETCH(int, kh);
        QFETCH(int, kw);
        QFETCH(double, sparsity);
        QFETCH(bool, made);
        Graph g;
        g.initializers["w"] = pruneMagnitude(testutil::randomTensor({8, 6, kh, kw}, 2), sparsity);
        Node node;
        node.name = "conv";
        node.opType = "Conv";
        node.inputs = {"x", "w"};
        node.outputs = {"y"};
        node.attrs["kernel_shape"] = Attribute::makeInts({kh, kw});
        const auto csr = sparse::prepare(node, g);
        QCOMPARE(csr != nullptr, made);
        if (!csr)
            return;
        QCOMPARE(csr->minPositions, sparse::kConvMinPositions);
        const Tensor &w = g.initializers.at("w");
        for (int64_t width : {12, 40}) { // 11 x 10 / 11 x 38 (or 9 x 12 / 9 x 40) output positions
            const Tensor x = testutil::randomTensor({2, 6, 11, width}, 1);
            auto run = [&](const SparseWeight *s) {
                OpContext ctx{node, {&x, &w}, {}, 1};
                ctx.sparse = s;
                ctx.outputs.resize(1);
                findKernel("Conv")(ctx);
                return ctx.outputs[0];
            };
            const Tensor dense = run(nullptr), actual = run(csr.get());
            if (width == 12) // below 200 positions: the dense path, bit for bit
                QCOMPARE(QByteArray(reinterpret_cast<const char *>(actual.f32()), int(actual.numel() * 4)),
                         QByteArray(reinterpret_cast<const char *>(dense.f32()), int(dense.numel() * 4)));
            QVERIFY2(testutil::mismatch(actual, dense, 1e-5, 1e-5).isEmpty(),
                     qPrintable(testutil::mismatch(actual, dense, 1e-5, 1e-5)));
        }
    }

private:
    Model m_demo, m_resnet;
    Dataset m_data;
};

QTEST_GUILESS_MAIN(TestPrune)
#include "test_prune.moc"
