// Compression pipeline tests on the demo CNN with small limits: integer weights by hand, the graph each recipe
// class produces (weight-only, full int8, 4-bit, mixed, skip), bias correction, the QAT straight-through
// gradient, cancel, file size and metrics, and `cwb compress` end to end.
#include <QtTest>

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>

#include <cmath>
#include <random>

#include "core/base/error.h"
#include "core/compress/compress.h"
#include "core/compress/prune.h"
#include "core/compress/qrewrite.h"
#include "core/compress/sensitivity.h"
#include "core/analysis/stats.h"
#include "core/graph/transform.h"
#include "core/io/model_io.h"
#include "core/runtime/onednn.h"
#include "core/runtime/session.h"
#include "core/runtime/shape_inference.h"
#include "core/train/train.h"
#include "testutil.h"

using namespace cw;

namespace {

const Dataset &trainData()
{
    static const Dataset d = loadDataset("fashion-mnist:train", {}, 256);
    return d;
}

const Dataset &evalData()
{
    static const Dataset d = loadDataset("fashion-mnist", {}, 300);
    return d;
}

const Model &demo()
{
    static const Model m = loadModel("demo");
    return m;
}

CompressOptions smallOptions()
{
    CompressOptions o;
    o.threads = 2;
    o.benchIterations = 2;
    return o;
}

int countOps(const Model &m, const std::string &op)
{
    int n = 0;
    for (const Node &node : m.graph.nodes)
        n += node.opType == op;
    return n;
}

// Bitwise equality of two models' initializers.
bool sameWeights(const Model &a, const Model &b)
{
    if (a.graph.initializers.size() != b.graph.initializers.size())
        return false;
    for (const auto &[name, t] : a.graph.initializers) {
        auto it = b.graph.initializers.find(name);
        if (it == b.graph.initializers.end() || it->second.dtype() != t.dtype() || it->second.shape() != t.shape() ||
            std::memcmp(it->second.rawData(), t.rawData(), t.byteSize()) != 0)
            return false;
    }
    return true;
}

Variant run(const std::string &recipeJson, const CompressOptions &options = smallOptions())
{
    return compress(demo(), recipeFromJson(recipeJson), &trainData(), &evalData(), options);
}

const Node *nodeNamed(const Model &m, const std::string &name)
{
    const Node *n = m.graph.findNode(name);
    if (!n)
        qWarning("no node %s", name.c_str());
    return n;
}

std::vector<float> randomValues(size_t n, uint32_t seed, float scale = 1.f)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.f, scale);
    std::vector<float> v(n);
    for (float &x : v)
        x = dist(rng);
    return v;
}

Node *addNode(Graph &g, std::string name, std::string op, std::vector<std::string> inputs, std::string output)
{
    Node n;
    n.name = std::move(name);
    n.opType = std::move(op);
    n.inputs = std::move(inputs);
    n.outputs = {std::move(output)};
    g.nodes.push_back(std::move(n));
    return &g.nodes.back();
}

// A model shaped like the real ones rather than the demo: a second graph input (a gain s the data does not
// carry), and element-wise Max nodes that share a constant [1, 1] operand (tf2onnx's clamp), around two Gemms:
//   y = Gemm(Max(Max(Relu(Gemm(x * s)), c), c)),  x [N, 8], s [] → y [N, 4]
Model twoInputModel()
{
    Model m;
    m.sourcePath = "two-input-test";
    Graph &g = m.graph;
    g.inputs = {ValueInfo{"x", DType::Float32, {-1, 8}, true, {"N"}}, ValueInfo{"s", DType::Float32, {}, true}};
    g.outputs = {ValueInfo{"y", DType::Float32, {-1, 4}, true, {"N"}}};
    g.initializers["W1"] = Tensor::fromFloats({16, 8}, randomValues(128, 1, 0.4f));
    g.initializers["B1"] = Tensor::fromFloats({16}, randomValues(16, 2, 0.1f));
    g.initializers["W2"] = Tensor::fromFloats({4, 16}, randomValues(64, 3, 0.3f));
    g.initializers["B2"] = Tensor::fromFloats({4}, randomValues(4, 4, 0.1f));
    g.initializers["c"] = Tensor::fromFloats({1, 1}, {0.05f});
    auto node = [&](const char *name, const char *op, std::vector<std::string> in, const char *out) {
        Node *n = addNode(g, name, op, std::move(in), out);
        if (n->opType == "Gemm")
            n->attrs["transB"] = Attribute::makeInt(1);
    };
    node("gain", "Mul", {"x", "s"}, "h");
    node("fc1", "Gemm", {"h", "W1", "B1"}, "a");
    node("relu", "Relu", {"a"}, "r");
    node("clamp1", "Max", {"r", "c"}, "m1");
    node("clamp2", "Max", {"m1", "c"}, "m2");
    node("fc2", "Gemm", {"m2", "W2", "B2"}, "y");
    inferShapes(m);
    return m;
}

// Layers inside If branches, as exporters write them: a gain s > 0 picks the branch.
//   then: Gemm "tgemm" with its own weight Wt and bias Bt (branch initializers; the weight moves to the main
//         graph at load)
//   else: Gemm "egemm" on We, Be (main-graph initializers the branch reads by outer-scope reference), Relu
Model branchModel()
{
    Model m;
    m.sourcePath = "branch-test";
    Graph &g = m.graph;
    g.inputs = {ValueInfo{"x", DType::Float32, {-1, 8}, true, {"N"}}, ValueInfo{"s", DType::Float32, {}, true}};
    g.outputs = {ValueInfo{"y", DType::Float32, {-1, 4}, true, {"N"}}};
    g.initializers["zero"] = Tensor::scalar(0.f);
    g.initializers["We"] = Tensor::fromFloats({4, 8}, randomValues(32, 21, 0.5f));
    g.initializers["Be"] = Tensor::fromFloats({4}, randomValues(4, 22, 0.1f));
    Graph then, otherwise;
    then.name = "then";
    then.initializers["Wt"] = Tensor::fromFloats({4, 8}, randomValues(32, 23, 0.5f));
    then.initializers["Bt"] = Tensor::fromFloats({4}, randomValues(4, 24, 0.1f));
    addNode(then, "tgemm", "Gemm", {"x", "Wt", "Bt"}, "yt")->attrs["transB"] = Attribute::makeInt(1);
    then.outputs = {ValueInfo{"yt", DType::Float32, {-1, 4}, true, {"N"}}};
    otherwise.name = "else";
    addNode(otherwise, "egemm", "Gemm", {"x", "We", "Be"}, "ye0")->attrs["transB"] = Attribute::makeInt(1);
    addNode(otherwise, "erelu", "Relu", {"ye0"}, "ye");
    otherwise.outputs = {ValueInfo{"ye", DType::Float32, {-1, 4}, true, {"N"}}};
    addNode(g, "positive", "Greater", {"s", "zero"}, "cond");
    Node *branch = addNode(g, "branch", "If", {"cond"}, "y");
    branch->attrs["then_branch"] = Attribute::makeGraph(then);
    branch->attrs["else_branch"] = Attribute::makeGraph(otherwise);
    inferShapes(m);
    return m;
}

// onnxruntime's dynamic quantization of  y = Relu(Conv(x, W) + B)  written by hand, as quantize_dynamic does:
// DynamicQuantizeLinear(x) -> ConvInteger(x_q, Wq uint8, x_zp, Wzp) -> Cast -> Mul(., x_scale * Ws) -> Add(B) -> Relu,
// with Wq, Wzp, Ws per tensor (`perChannel` false) or per output channel.
Model dynamicModel(bool perChannel)
{
    Model m;
    m.sourcePath = "dynamic-test";
    m.opsetVersion = 13;
    Graph &g = m.graph;
    g.inputs = {ValueInfo{"x", DType::Float32, {-1, 2, 6, 6}, true, {"N"}}};
    g.outputs = {ValueInfo{"y", DType::Float32, {-1, 4, 6, 6}, true, {"N"}}};
    Tensor wq(DType::UInt8, {4, 2, 3, 3});
    for (int64_t i = 0; i < wq.numel(); ++i)
        wq.data<uint8_t>()[i] = uint8_t((i * 37 + 11) % 256);
    g.initializers["W_quantized"] = wq;
    Tensor zp(DType::UInt8, perChannel ? Shape{4} : Shape{});
    for (int64_t i = 0; i < zp.numel(); ++i)
        zp.data<uint8_t>()[i] = uint8_t(120 + 5 * i);
    g.initializers["W_zero_point"] = zp;
    g.initializers["W_scale"] = perChannel ? Tensor::fromFloats({4, 1, 1}, {0.004f, 0.003f, 0.005f, 0.002f})
                                           : Tensor::scalar(0.004f);
    g.initializers["B"] = Tensor::fromFloats({1, 4, 1, 1}, randomValues(4, 31, 0.1f));
    Node *dq = addNode(g, "x_dq", "DynamicQuantizeLinear", {"x"}, "x_q");
    dq->outputs = {"x_q", "x_scale", "x_zp"};
    Node *conv = addNode(g, "conv_quant", "ConvInteger", {"x_q", "W_quantized", "x_zp", "W_zero_point"}, "acc");
    conv->attrs["pads"] = Attribute::makeInts({1, 1, 1, 1});
    addNode(g, "cast", "Cast", {"acc"}, "accf")->attrs["to"] = Attribute::makeInt(1);
    addNode(g, "scales", "Mul", {"x_scale", "W_scale"}, "s");
    addNode(g, "scaled", "Mul", {"accf", "s"}, "c");
    addNode(g, "bias", "Add", {"c", "B"}, "cb");
    addNode(g, "relu", "Relu", {"cb"}, "y");
    inferShapes(m);
    return m;
}

// A half-precision network as exporters write them: float32 in and out, Casts at the ends, a Conv whose
// weight, bias and arithmetic are float16:  y = Cast32(Relu(Conv(Cast16(x), W16, B16)))
Model halfModel()
{
    Model m;
    m.sourcePath = "half-test";
    Graph &g = m.graph;
    g.inputs = {ValueInfo{"x", DType::Float32, {-1, 2, 6, 6}, true, {"N"}}};
    g.outputs = {ValueInfo{"y", DType::Float32, {-1, 4, 6, 6}, true, {"N"}}};
    g.initializers["W"] = Tensor::fromFloats({4, 2, 3, 3}, randomValues(72, 11, 0.5f)).castTo(DType::Float16);
    g.initializers["B"] = Tensor::fromFloats({4}, randomValues(4, 12, 0.1f)).castTo(DType::Float16);
    const auto node = [&](const char *name, const char *op, std::vector<std::string> in, const char *out) {
        return addNode(g, name, op, std::move(in), out);
    };
    node("to16", "Cast", {"x"}, "x16")->attrs["to"] = Attribute::makeInt(10);
    node("conv", "Conv", {"x16", "W", "B"}, "c")->attrs["pads"] = Attribute::makeInts({1, 1, 1, 1});
    node("relu", "Relu", {"c"}, "r");
    node("to32", "Cast", {"r"}, "y")->attrs["to"] = Attribute::makeInt(1);
    inferShapes(m);
    return m;
}

// A 1-D Conv (+ Relu) whose output, reshaped, feeds a 2-D Conv: x [N, 3, 20] -> y [N, 4, 4, 5].
Model signalModel()
{
    Model m;
    m.sourcePath = "signal-test";
    Graph &g = m.graph;
    g.inputs = {ValueInfo{"x", DType::Float32, {-1, 3, 20}, true, {"N"}}};
    g.outputs = {ValueInfo{"y", DType::Float32, {-1, 4, 4, 5}, true, {"N"}}};
    g.initializers["W1"] = Tensor::fromFloats({8, 3, 3}, randomValues(72, 21, 0.5f));
    g.initializers["B1"] = Tensor::fromFloats({8}, randomValues(8, 22, 0.1f));
    g.initializers["W2"] = Tensor::fromFloats({4, 8, 3, 3}, randomValues(288, 23, 0.3f));
    g.initializers["shape"] = Tensor::fromInt64s({4}, {-1, 8, 4, 5});
    addNode(g, "conv1", "Conv", {"x", "W1", "B1"}, "c1")->attrs["pads"] = Attribute::makeInts({1, 1});
    addNode(g, "relu", "Relu", {"c1"}, "r1");
    addNode(g, "reshape", "Reshape", {"r1", "shape"}, "r2");
    addNode(g, "conv2", "Conv", {"r2", "W2"}, "y")->attrs["pads"] = Attribute::makeInts({1, 1, 1, 1});
    inferShapes(m);
    return m;
}

} // namespace

class TestCompress : public QObject {
    Q_OBJECT

    VariantMetrics m_base;

private slots:
    void initTestCase()
    {
        CompressOptions o = smallOptions();
        m_base = measureModel(demo(), &evalData(), o);
        QVERIFY(m_base.accuracy > 0.8);
    }

    void integerWeightsByHand()
    {
        // [2, 3] weight, symmetric 8-bit per channel: scale = absmax / 127.
        const Tensor w = Tensor::fromFloats({2, 3}, {1.f, -0.5f, 0.25f, -2.f, 0.f, 1.f});
        QuantSpec s;
        s.bits = 8;
        s.granularity = Granularity::Channel;
        IntegerWeight iw = quantizeWeightInteger(w, s, 0, 1);
        QVERIFY(iw.q.dtype() == DType::Int8);
        QCOMPARE(iw.axis, 0);
        QCOMPARE(iw.scale.shape(), Shape{2});
        QCOMPARE(iw.scale.f32()[0], 1.f / 127.f);
        QCOMPARE(iw.scale.f32()[1], 2.f / 127.f);
        const std::vector<int64_t> q = iw.q.toInt64Vector();
        QCOMPARE(q, (std::vector<int64_t>{127, -64, 32, -127, 0, 64})); // -63.5 -> -64, 31.75 -> 32, 63.5 -> 64 (ties to even)

        // 4 bits per tensor: levels -7..7, scale 2 / 7 (w * 3.5, rounded).
        s.bits = 4;
        s.granularity = Granularity::Tensor;
        iw = quantizeWeightInteger(Tensor::fromFloats({2, 3}, {0.9f, -0.5f, 0.25f, -2.f, 0.f, 1.2f}), s, 0, 1);
        QCOMPARE(iw.axis, -1);
        QCOMPARE(iw.scale.rank(), 0);
        QCOMPARE(iw.q.toInt64Vector(), (std::vector<int64_t>{3, -2, 1, -7, 0, 4})); // 3.15, -1.75, 0.875, -7, 0, 4.2

        // Asymmetric 8 bits per tensor: [-2, 1] -> scale 3 / 255, zero point round(2 / scale) = 170.
        s.bits = 8;
        s.symmetric = false;
        iw = quantizeWeightInteger(w, s, 0, 1);
        QVERIFY(iw.q.dtype() == DType::UInt8);
        QCOMPARE(iw.zeroPoint.toInt64Vector(), (std::vector<int64_t>{170}));
        QCOMPARE(iw.q.toInt64Vector()[3], int64_t(0));
        QCOMPARE(iw.q.toInt64Vector()[4], int64_t(170));
        QCOMPARE(iw.q.toInt64Vector()[5], int64_t(255));

        // Groups of 2 along the reduction axis of a [2, 4] weight: scale [2, 2], block_size 2.
        const Tensor g = Tensor::fromFloats({2, 4}, {1.f, 0.5f, 4.f, -2.f, 0.1f, 0.2f, -0.3f, 0.6f});
        s = QuantSpec{};
        s.granularity = Granularity::Group;
        s.groupSize = 2;
        iw = quantizeWeightInteger(g, s, 0, 1);
        QCOMPARE(iw.axis, 1);
        QCOMPARE(iw.blockSize, int64_t(2));
        QCOMPARE(iw.scale.shape(), (Shape{2, 2}));
        QCOMPARE(iw.scale.toFloatVector(), (std::vector<float>{1.f / 127, 4.f / 127, 0.2f / 127, 0.6f / 127}));
        const Tensor back = iw.dequantize();
        QVERIFY(testutil::mismatch(back, g, 0, 4.f / 127 / 2 + 1e-6).isEmpty());
        // A row that fits in one group is quantized per channel.
        s.groupSize = 8;
        QCOMPARE(quantizeWeightInteger(g, s, 0, 1).blockSize, int64_t(0));
    }

    void weightOnlyInt8()
    {
        const Variant v = run(R"({"name": "w8", "quantize": {"weights": {"bits": 8}, "bias_correction": false}})");
        const Model &m = v.model;
        QCOMPARE(countOps(m, "DequantizeLinear"), 4);
        QCOMPARE(countOps(m, "Conv"), 2);
        QCOMPARE(countOps(m, "Gemm"), 2);
        QCOMPARE(countOps(m, "BatchNormalization"), 0); // folded before quantizing
        for (const auto &[name, t] : m.graph.initializers)
            QVERIFY2(t.dtype() != DType::Float32 || t.rank() < 2, name.c_str()); // no float weight left
        QVERIFY(v.measured);
        QCOMPARE(v.metrics.samples, int64_t(300));
        QVERIFY2(std::abs(v.metrics.accuracy - m_base.accuracy) <= 0.01,
                 qPrintable(QString("%1 vs %2").arg(v.metrics.accuracy).arg(m_base.accuracy)));
        QVERIFY(v.metrics.compressionRatio > 3.5);
        QCOMPARE(v.name, std::string("w8"));
        // Fidelity to the base on the same 300 samples: 8-bit weights barely move the logits.
        QCOMPARE(int(v.metrics.fidelity.size()), 1);
        const OutputFidelity &f = v.metrics.fidelity.front();
        QCOMPARE(f.name, std::string("logits"));
        QCOMPARE(f.elements, int64_t(300 * 10));
        QVERIFY2(f.sqnrDb > 25 && std::isfinite(f.sqnrDb), qPrintable(QString::number(f.sqnrDb)));
        QVERIFY(f.top1Agreement >= 0.98 && f.cosine > 0.99);
    }

    void fullInt8()
    {
        const Variant v = run(R"({"quantize": {"weights": {"bits": 8, "granularity": "channel"},
                                  "activations": {"calibration": "percentile", "samples": 128}}})");
        const Model &m = v.model;
        QCOMPARE(countOps(m, "QLinearConv"), 2);
        QCOMPARE(countOps(m, "QGemm"), 2);
        QCOMPARE(countOps(m, "QuantizeLinear"), 1); // at the input only: everything after stays uint8
        QCOMPARE(countOps(m, "Relu"), 0);           // fused into the layers' output zero points
        QCOMPARE(countOps(m, "DequantizeLinear"), 0);
        QVERIFY(m.graph.values.at("logits").dtype == DType::Float32); // the logits QGemm has a float output
        const Node *fc2 = nodeNamed(m, "fc2");
        QVERIFY(fc2 && fc2->domain == "com.microsoft" && fc2->inputCount() == 7);
        // QLinearConv's bias is int32 in accumulator units, ReLU-fused outputs have zero point 0.
        const Node *conv1 = nodeNamed(m, "conv1");
        QVERIFY(conv1);
        QVERIFY(m.graph.initializers.at(conv1->inputs[8]).dtype() == DType::Int32);
        QCOMPARE(m.graph.initializers.at(conv1->inputs[7]).toInt64Vector(), std::vector<int64_t>{0});
        QVERIFY2(m_base.accuracy - v.metrics.accuracy <= 0.015,
                 qPrintable(QString("%1 vs %2").arg(v.metrics.accuracy).arg(m_base.accuracy)));
        QVERIFY(v.metrics.p50Batch1Ms > 0 && v.metrics.p90Batch64Ms >= v.metrics.p50Batch64Ms);
    }

    // Real-model shapes: only the Gemms are layers (the shared Max constant is not, and used to abort the
    // rewrite); unlabelled data calibrates; the second input gets its value in calibration too, so a variant
    // calibrated at the gain it runs at is far more faithful than one calibrated at another gain.
    void secondInputAndElementwiseConstants()
    {
        const Model base = twoInputModel();
        std::vector<std::string> layers;
        for (const LayerPlan &p : planLayers(Recipe{}, base))
            layers.push_back(p.node);
        QCOMPARE(layers, (std::vector<std::string>{"fc1", "fc2"}));

        Dataset data;
        data.name = "unlabelled";
        data.x = Tensor::fromFloats({64, 8}, randomValues(64 * 8, 5));
        const Recipe recipe = recipeFromJson(R"({"quantize": {"weights": {"bits": 8},
                                                 "activations": {"calibration": "minmax", "samples": 64}}})");
        auto sqnrAtGain20 = [&](double calibrationGain) {
            CompressOptions o = smallOptions();
            o.measure = false;
            o.inputs.values["s"] = calibrationGain;
            const Variant v = compress(base, recipe, &data, nullptr, o);
            if (countOps(v.model, "QGemm") != 2)
                qWarning("expected two integer Gemms");
            FidelityOptions fo;
            fo.inputs.values["s"] = 20;
            return measureFidelity(Session(base), Session(v.model), data, fo).front().sqnrDb;
        };
        const double matched = sqnrAtGain20(20), mismatched = sqnrAtGain20(1);
        QVERIFY2(matched > 30, qPrintable(QString::number(matched)));
        QVERIFY2(matched > mismatched + 10, qPrintable(QString("%1 vs %2 dB").arg(matched).arg(mismatched)));

        // Measured: fidelity without labels, latency at both batches.
        CompressOptions o = smallOptions();
        o.inputs.values["s"] = 20;
        const Variant v = compress(base, recipe, &data, &data, o);
        QCOMPARE(v.metrics.samples, int64_t(0));
        QCOMPARE(v.metrics.fidelity.size(), size_t(1));
        QVERIFY(v.metrics.fidelity.front().sqnrDb > 30);
        QVERIFY(v.metrics.p50Batch64Ms > 0 && v.metrics.batch64Skipped.empty());
    }

    // float16 weights are layers. With 8-bit activations the arithmetic becomes float32 and the layer runs on
    // integer kernels (the model's inputs and outputs keep their types); weight-only, the weight is quantized
    // behind a DequantizeLinear and a Cast back to float16 (the activations stay float16); pruned in place as
    // float16. The exported variants run in onnxruntime as in the engine, and stay faithful to the base.
    void halfPrecisionLayers()
    {
        const Model base = halfModel();
        QCOMPARE(sensitivityLayers(base), std::vector<std::string>{"conv"});
        QCOMPARE(whyNoLayers(base), std::string());
        Dataset data;
        data.name = "unlabelled";
        data.x = Tensor::fromFloats({8, 2, 6, 6}, randomValues(8 * 72, 13));
        CompressOptions o = smallOptions();
        o.measure = false;
        FidelityOptions fo;

        const Variant i8 = compress(base, recipeFromJson(R"({"quantize": {"weights": {"bits": 8},
                                    "activations": {"calibration": "minmax"}}})"), &data, nullptr, o);
        QCOMPARE(countOps(i8.model, "QLinearConv"), 1);
        for (const auto &[name, info] : i8.model.graph.values)
            QVERIFY2(!isHalfType(info.dtype), name.c_str());
        QCOMPARE(i8.model.graph.inputs[0].dtype, DType::Float32);
        QCOMPARE(i8.model.graph.outputs[0].dtype, DType::Float32);
        QVERIFY(measureFidelity(Session(base), Session(i8.model), data, fo).front().sqnrDb > 30);

        const Variant q = compress(base, recipeFromJson(R"({"quantize": {"weights": {"bits": 8}}})"), &data, nullptr, o);
        QCOMPARE(countOps(q.model, "QLinearConv"), 0);
        QCOMPARE(countOps(q.model, "DequantizeLinear"), 1);
        const Node *conv = q.model.graph.findNode("conv");
        QVERIFY(conv);
        const Node *cast = q.model.graph.producer(conv->inputs[1]);
        QVERIFY(cast && cast->opType == "Cast" && cast->attrInt("to", 0) == 10);
        QVERIFY(q.model.graph.values.at(conv->inputs[1]).dtype == DType::Float16);
        QVERIFY(measureFidelity(Session(base), Session(q.model), data, fo).front().sqnrDb > 35);

        const Variant p = compress(base, recipeFromJson(R"({"prune": {"ratio": 0.5}})"), &data, nullptr, o);
        const Tensor &w = p.model.graph.initializers.at("W");
        QVERIFY(w.dtype() == DType::Float16);
        const std::vector<float> values = w.toFloatVector();
        QCOMPARE(std::count(values.begin(), values.end(), 0.f), std::ptrdiff_t(36));

        if (!testutil::ortAvailable())
            QSKIP("onnxruntime-node is not installed");
        QTemporaryDir dir;
        // float16 rounding of the products; one step of the int8 output's grid (the activations' scales are
        // scalars, the weights' per channel)
        float step = 0.f;
        for (const Node &n : i8.model.graph.nodes)
            if (n.opType == "DequantizeLinear")
                if (const Tensor &s = i8.model.graph.initializers.at(n.inputs[1]); s.numel() == 1)
                    step = std::max(step, s.toFloatVector()[0]);
        QVERIFY(step > 0.f);
        for (const auto &[variant, atol] : {std::pair{&q, 2e-3}, std::pair{&i8, 1.001 * step}}) {
            const QString path = dir.filePath(variant == &q ? "half-w8.onnx" : "half-int8.onnx");
            saveModel(variant->model, path.toStdString());
            QString error;
            const std::vector<Tensor> ort = testutil::runOrt(path, {{"x", data.x}}, &error);
            QVERIFY2(error.isEmpty(), qPrintable(error));
            const Tensor ours = Session(loadModel(path.toStdString())).run(data.x);
            const QString diff = testutil::mismatch(ours, ort[0], 2e-3, atol);
            QVERIFY2(diff.isEmpty(), qPrintable(diff));
        }
    }

    // Layers inside If branches compress weight-only where their weights are stored (a branch's own weights
    // are moved to the main graph at load, which changes no output): quantized behind a DequantizeLinear in the
    // main graph, pruned in place, left whole by channel pruning with the reason; the exported variant runs in
    // onnxruntime as in the engine, on both branches.
    void nestedLayers()
    {
        QTemporaryDir dir;
        const QString original = dir.filePath("branches.onnx");
        saveModel(branchModel(), original.toStdString());
        const Model base = loadModel(original.toStdString());
        const Node *branch = base.graph.findNode("branch");
        QVERIFY(branch);
        // The weight moved; the bias, no layer weight, stays in the branch.
        QVERIFY(base.graph.initializers.count("Wt") && !base.graph.initializers.count("Bt"));
        QCOMPARE(branch->subgraph("then_branch")->initializers.size(), size_t(1));
        QCOMPARE(base.graph.parameterCount(), int64_t(1 + 32 + 4 + 32));
        std::vector<std::string> layers;
        for (const LayerPlan &p : planLayers(Recipe{}, base)) {
            layers.push_back(p.node);
            QVERIFY(p.nested);
        }
        QCOMPARE(layers, (std::vector<std::string>{"egemm", "tgemm"})); // attribute order: else, then
        QCOMPARE(sensitivityLayers(base), layers);

        Dataset data;
        data.name = "unlabelled";
        data.x = Tensor::fromFloats({16, 8}, randomValues(16 * 8, 25));
        const auto feeds = [&](float s) {
            return std::map<std::string, Tensor>{{"x", data.x}, {"s", Tensor::scalar(s)}};
        };
        const bool ort = testutil::ortAvailable();
        // Moving the weight changed nothing: the original file in onnxruntime, the loaded model in the engine.
        for (float s : {1.f, -1.f}) {
            if (!ort)
                break;
            QString error;
            const std::vector<Tensor> ref = testutil::runOrt(original, {{"x", data.x}, {"s", Tensor::scalar(s)}}, &error);
            QVERIFY2(error.isEmpty(), qPrintable(error));
            const QString diff = testutil::mismatch(Session(base).run(feeds(s)).at("y"), ref[0], 1e-5);
            QVERIFY2(diff.isEmpty(), qPrintable(diff));
        }

        CompressOptions o = smallOptions();
        o.measure = false;
        const Variant q = compress(base, recipeFromJson(R"({"quantize": {"weights": {"bits": 8},
                                   "activations": {"calibration": "minmax"}}})"), &data, nullptr, o);
        QCOMPARE(countOps(q.model, "DequantizeLinear"), 2);
        QCOMPARE(countOps(q.model, "QGemm"), 0);
        QVERIFY(!q.model.graph.initializers.count("Wt") && !q.model.graph.initializers.count("We"));
        const QString path = dir.filePath("branches-int8.onnx");
        saveModel(q.model, path.toStdString());
        const Model reloaded = loadModel(path.toStdString());
        for (float s : {1.f, -1.f}) {
            const Tensor before = Session(base).run(feeds(s)).at("y");
            const Tensor after = Session(reloaded).run(feeds(s)).at("y");
            const WeightError e = weightError(before, after);
            QVERIFY2(e.sqnrDb > 30 && std::isfinite(e.sqnrDb), qPrintable(QString::number(e.sqnrDb)));
            if (!ort)
                continue;
            QString error;
            const std::vector<Tensor> ref = testutil::runOrt(path, {{"x", data.x}, {"s", Tensor::scalar(s)}}, &error);
            QVERIFY2(error.isEmpty(), qPrintable(error));
            const QString diff = testutil::mismatch(after, ref[0], 1e-5);
            QVERIFY2(diff.isEmpty(), qPrintable(diff));
        }

        const Variant p = compress(base, recipeFromJson(R"({"prune": {"ratio": 0.5}})"), &data, nullptr, o);
        for (const char *w : {"Wt", "We"}) {
            const std::vector<float> v = p.model.graph.initializers.at(w).toFloatVector();
            QCOMPARE(std::count(v.begin(), v.end(), 0.f), std::ptrdiff_t(16));
        }
        const std::vector<LayerPlan> channel =
            planLayers(recipeFromJson(R"({"prune": {"method": "channel", "ratio": 0.5}})"), base);
        for (const LayerPlan &l : channel) {
            const std::string why = channelPruneObstacle(base, l.node, channel);
            QVERIFY2(why.find("inside a control-flow subgraph") != std::string::npos, why.c_str());
        }
        Model channelPruned = base.deepCopy();
        for (const PruneReport &r : pruneModel(channelPruned, channel).layers)
            QCOMPARE(r.skipped, channelPruneObstacle(base, r.node, channel));
    }

    // A weight that a top-level layer and a branch both read belongs to the top-level layer: one layer, one
    // rewrite of the weight.
    void sharedWeightOneLayer()
    {
        Model m = branchModel();
        addNode(m.graph, "mgemm", "Gemm", {"x", "We", "Be"}, "z")->attrs["transB"] = Attribute::makeInt(1);
        m.graph.outputs.push_back(ValueInfo{"z", DType::Float32, {-1, 4}, true, {"N"}});
        inferShapes(m);
        std::vector<std::string> layers;
        for (const LayerNode &l : layerNodes(m.graph))
            layers.push_back(l.node->name);
        QCOMPARE(layers, (std::vector<std::string>{"mgemm"})); // egemm shares We; tgemm's Wt is not moved (not loaded)
        Dataset data;
        data.name = "unlabelled";
        data.x = Tensor::fromFloats({4, 8}, randomValues(32, 27));
        CompressOptions o = smallOptions();
        o.measure = false;
        o.inputs.values["s"] = -1; // the else branch, which reads We
        const Variant q = compress(m, recipeFromJson(R"({"quantize": {"weights": {"bits": 8}}})"), &data, nullptr, o);
        QCOMPARE(countOps(q.model, "DequantizeLinear"), 1);
        const Tensor before = Session(m).run({{"x", data.x}, {"s", Tensor::scalar(-1.f)}}).at("y");
        const Tensor after = Session(q.model).run({{"x", data.x}, {"s", Tensor::scalar(-1.f)}}).at("y");
        QVERIFY(weightError(before, after).sqnrDb > 30); // the branch reads the dequantized We
    }

    // A branch weight named like a main-graph value moves under a fresh name, and the branch reads that name.
    void hoistedNamesStayUnique()
    {
        Model m = branchModel();
        Node &branch = *m.graph.findNode("branch");
        Graph then = *branch.subgraph("then_branch");
        then.initializers["We"] = then.initializers.at("Wt");
        then.initializers.erase("Wt");
        then.nodes[0].inputs[1] = "We";
        branch.attrs["then_branch"] = Attribute::makeGraph(then);
        QTemporaryDir dir;
        const QString file = dir.filePath("collide.onnx");
        saveModel(m, file.toStdString());
        const Model loaded = loadModel(file.toStdString());
        QVERIFY(loaded.graph.initializers.count("We_1"));
        QCOMPARE(loaded.graph.initializers.at("We").toFloatVector(), m.graph.initializers.at("We").toFloatVector());
        QCOMPARE(loaded.graph.initializers.at("We_1").toFloatVector(), then.initializers.at("We").toFloatVector());
        QCOMPARE(loaded.graph.findNode("branch")->subgraph("then_branch")->nodes[0].inputs[1], std::string("We_1"));
        const Tensor x = Tensor::fromFloats({3, 8}, randomValues(24, 26));
        for (float s : {1.f, -1.f}) {
            const std::map<std::string, Tensor> feeds{{"x", x}, {"s", Tensor::scalar(s)}};
            const QString diff = testutil::mismatch(Session(loaded).run(feeds).at("y"), Session(m).run(feeds).at("y"), 0);
            QVERIFY2(diff.isEmpty(), qPrintable(diff));
        }
    }

    // A layer of onnxruntime's dynamic quantization is a float layer again for compression: its weight is
    // (Wq - zp) * scale exactly, the integer nodes are gone, the float model follows the dynamic one (which
    // onnxruntime runs) to the activation rounding, and the int8 recipe turns it into a static integer layer.
    void dynamicLayersDequantized_data()
    {
        QTest::addColumn<bool>("perChannel");
        QTest::newRow("per tensor") << false;
        QTest::newRow("per channel") << true;
    }
    void dynamicLayersDequantized()
    {
        QFETCH(bool, perChannel);
        const Model base = dynamicModel(perChannel);
        QCOMPARE(whyNoLayers(base), std::string());
        const Model f = compressionForm(base);
        QCOMPARE(countOps(f, "ConvInteger") + countOps(f, "DynamicQuantizeLinear") + countOps(f, "Cast"), 0);
        QCOMPARE(countOps(f, "Mul"), 0);
        const Node *conv = f.graph.findNode("conv_quant");
        QVERIFY(conv && conv->opType == "Conv" && conv->inputs[0] == "x" && conv->outputs[0] == "c");
        const Tensor &w = f.graph.initializers.at(conv->inputs[1]);
        QCOMPARE(conv->inputs[1], std::string("W"));
        const Tensor &q = base.graph.initializers.at("W_quantized");
        const std::vector<float> zp = base.graph.initializers.at("W_zero_point").toFloatVector();
        const std::vector<float> s = base.graph.initializers.at("W_scale").toFloatVector();
        for (int64_t i = 0; i < w.numel(); ++i) {
            const size_t c = size_t(i / 18);
            const float expected = (float(q.data<uint8_t>()[i]) - zp[perChannel ? c : 0]) * s[perChannel ? c : 0];
            QCOMPARE(w.f32()[i], expected);
        }
        QVERIFY(!f.graph.initializers.count("W_quantized") && !f.graph.initializers.count("W_scale"));
        QCOMPARE(sensitivityLayers(base), std::vector<std::string>{"conv_quant"});

        Dataset data;
        data.name = "unlabelled";
        data.x = Tensor::fromFloats({8, 2, 6, 6}, randomValues(8 * 72, 32));
        const Tensor dynamic = Session(base).run(data.x), dequantized = Session(f).run(data.x);
        const double sqnr = weightError(dynamic, dequantized).sqnrDb;
        QVERIFY2(sqnr > 30, qPrintable(QString::number(sqnr)));
        if (testutil::ortAvailable() && !perChannel) { // onnxruntime's ConvInteger takes one weight zero point
            QTemporaryDir dir;
            const QString path = dir.filePath("dynamic.onnx");
            saveModel(base, path.toStdString());
            QString error;
            const std::vector<Tensor> ort = testutil::runOrt(path, {{"x", data.x}}, &error);
            QVERIFY2(error.isEmpty(), qPrintable(error));
            const QString diff = testutil::mismatch(dynamic, ort[0], 1e-5);
            QVERIFY2(diff.isEmpty(), qPrintable(diff));
        }
        CompressOptions o = smallOptions();
        o.measure = false;
        const Variant v = compress(base, recipeFromJson(R"({"quantize": {"weights": {"bits": 8},
                                   "activations": {"calibration": "minmax"}}})"), &data, nullptr, o);
        QCOMPARE(countOps(v.model, "QLinearConv"), 1);
        QCOMPARE(countOps(v.model, "DynamicQuantizeLinear"), 0);
        // Pruned only, the layer keeps its stored grid (uint8, asymmetric, the same granularity), weight-only.
        const Variant pruned = compress(base, recipeFromJson(R"({"prune": {"method": "magnitude", "ratio": 0.5}})"),
                                        nullptr, nullptr, o);
        const std::vector<IntegerLayerWeight> kept = integerLayerWeights(pruned.model.graph);
        QCOMPARE(int(kept.size()), 1);
        QCOMPARE(kept[0].op, std::string("DequantizeLinear"));
        QCOMPARE(pruned.model.graph.initializers.at(kept[0].q).dtype(), DType::UInt8);
        QCOMPARE(kept[0].axis >= 0, perChannel);
        const double vs = weightError(dynamic, Session(v.model).run(data.x)).sqnrDb;
        QVERIFY2(vs > 25, qPrintable(QString::number(vs)));
    }

    // A quantized variant read back — native .h5 and ONNX — shows each layer's integers as its weight: the
    // recognised integer weight of every layer, its float values within half a grid step of the float weight it
    // was quantized from (the quantizer's error budget), the levels it uses, and for weight-only layers a float
    // form that computes exactly what the quantized graph computes. Layers without a row of their own for the
    // DequantizeLinear in the layer table; the stored bytes count as the layer's.
    // On a CPU without VNNI, integer Gemms whose weights reach beyond ±64 run as two products (exact, twice the
    // arithmetic; the convolutions run in int16 pairs): the log says so, and 7-bit weights, which stay within ±63,
    // avoid it on every CPU.
    void splitIntegerLayersNoted()
    {
        for (int bits : {8, 7}) {
            std::vector<std::string> lines;
            CompressOptions o = smallOptions();
            o.measure = false;
            const Variant v = compress(demo(), recipeFromJson(R"({"quantize": {"weights": {"bits": )" + std::to_string(bits) +
                                                              R"(}, "activations": {"samples": 64}}})"),
                                       &trainData(), nullptr, o, {}, nullptr,
                                       [&](const std::string &line) { lines.push_back(line); });
            QCOMPARE(countOps(v.model, "QLinearConv"), 2);
            const auto note = std::find_if(lines.begin(), lines.end(),
                                           [](const std::string &l) { return l.rfind("note: this CPU has no VNNI", 0) == 0; });
            const bool expected = bits == 8 && onednn::int8PairsSaturate();
            QVERIFY2((note != lines.end()) == expected, qPrintable(QString("%1 bits").arg(bits)));
            if (expected) // both Gemms (the logits' too) have a weight of ±127; not the convolutions
                QVERIFY2(note->find(" 2 of the integer layers") != std::string::npos, note->c_str());
        }
    }

    void quantizedVariantsReadBack_data()
    {
        QTest::addColumn<QString>("recipe");
        QTest::addColumn<QString>("suffix");
        QTest::addColumn<int>("bits");
        QTest::addColumn<QString>("op");       // of the reader of the integers
        QTest::addColumn<bool>("grouped");
        const char *w4 = R"({"quantize": {"weights": {"bits": 4}, "bias_correction": false}})";
        const char *g4 = R"({"quantize": {"weights": {"bits": 4, "granularity": "group", "group_size": 32,
                            "symmetric": false}, "bias_correction": false}})";
        const char *a8 = R"({"quantize": {"weights": {"bits": 8}, "activations": {"samples": 64}, "bias_correction": false}})";
        QTest::newRow("4-bit per channel, .h5") << w4 << ".h5" << 4 << "DequantizeLinear" << false;
        QTest::newRow("4-bit per channel, ONNX") << w4 << ".onnx" << 4 << "DequantizeLinear" << false;
        QTest::newRow("4-bit groups of 32 asymmetric, .h5 (block_size)") << g4 << ".h5" << 4 << "DequantizeLinear" << true;
        QTest::newRow("4-bit groups of 32 asymmetric, ONNX (opset-17 arithmetic)") << g4 << ".onnx" << 4 << "DequantizeLinear" << true;
        QTest::newRow("int8 with activations, .h5 (QLinearConv, QGemm)") << a8 << ".h5" << 8 << "integer" << false;
        QTest::newRow("int8 with activations, ONNX") << a8 << ".onnx" << 8 << "integer" << false;
    }
    void quantizedVariantsReadBack()
    {
        QFETCH(QString, recipe);
        QFETCH(QString, suffix);
        QFETCH(int, bits);
        QFETCH(QString, op);
        QFETCH(bool, grouped);
        CompressOptions o = smallOptions();
        o.measure = false;
        const Variant v = compress(demo(), recipeFromJson(recipe.toStdString()), &trainData(), nullptr, o);
        QTemporaryDir dir;
        const std::string path = dir.filePath("variant" + suffix).toStdString();
        saveModel(v.model, path);
        const Model m = loadModel(path);

        Model reference = demo().deepCopy(); // the float weights quantized: BatchNorm folded first
        foldBatchNorm(reference);
        const std::vector<IntegerLayerWeight> stored = integerLayerWeights(m.graph);
        QStringList layers;
        for (const IntegerLayerWeight &w : stored) {
            layers << QString::fromStdString(w.layer);
            if (op == "integer")
                QVERIFY2(w.op == "QLinearConv" || w.op == "QGemm", w.op.c_str());
            else
                QCOMPARE(w.op, op.toStdString());
            QCOMPARE(w.blockSize > 0, grouped && w.layer != "conv1"); // conv1's rows (9 weights) fit one group
            const Tensor values = dequantizeLayerWeight(m.graph, w);
            const Tensor &original = reference.graph.initializers.at(findLayer(reference.graph, w.layer)->weight);
            QCOMPARE(values.shape(), original.shape());
            // Half a step of the coarsest scale bounds every element's rounding error.
            const std::vector<float> scales = m.graph.initializers.at(w.scale).toFloatVector();
            const double step = *std::max_element(scales.begin(), scales.end());
            double worst = 0;
            for (int64_t i = 0; i < values.numel(); ++i)
                worst = std::max(worst, double(std::abs(values.f32()[i] - original.f32()[i])));
            QVERIFY2(worst <= 0.5 * step * (1 + 1e-5), qPrintable(QStringLiteral("%1: %2 > %3").arg(layers.back()).arg(worst).arg(0.5 * step)));
        }
        QCOMPARE(layers, QStringList({"conv1", "conv2", "fc1", "fc2"}));

        // Statistics are of the float values, with the stored form described (`cwb stats --json` prints the same).
        const std::vector<LayerStats> stats = computeLayerStats(m);
        const testutil::ProcessResult cli = testutil::runCwb({"stats", QString::fromStdString(path), "--json"});
        QVERIFY2(cli.exitCode == 0, cli.err.constData());
        const QJsonArray cliLayers = QJsonDocument::fromJson(cli.out).object()["layers"].toArray();
        QCOMPARE(cliLayers.size(), qsizetype(stats.size()));
        for (qsizetype l = 0; l < cliLayers.size(); ++l) {
            const QJsonObject st = cliLayers[l].toObject()["stored"].toObject();
            QCOMPARE(st["bits"].toInt(), bits);
            QCOMPARE(st["op"].toString().toStdString(), stats[size_t(l)].stored->op);
            QCOMPARE(st["scales"].toInteger(), stats[size_t(l)].stored->scales);
            QCOMPARE(st["block_size"].toInteger(), stats[size_t(l)].stored->blockSize);
        }
        QCOMPARE(int(stats.size()), 4);
        for (size_t l = 0; l < stats.size(); ++l) {
            QVERIFY(stats[l].stored.has_value());
            QCOMPARE(stats[l].stored->bits, bits);
            QCOMPARE(stats[l].tensor, stored[l].q);
            QCOMPARE(stats[l].params, m.graph.initializers.at(stored[l].q).numel());
            const Tensor values = dequantizeLayerWeight(m.graph, stored[l]);
            const TensorStats direct = computeTensorStats(values.f32(), values.numel());
            QCOMPARE(stats[l].all.min, direct.min);
            QCOMPARE(stats[l].all.max, direct.max);
        }

        // The layer table: no DequantizeLinear (or blocked arithmetic) rows; each layer carries its stored bytes.
        for (const LayerInfo &info : m.layers()) {
            QVERIFY2(info.opType != "DequantizeLinear" && info.opType != "Sub", info.name.c_str());
            for (const IntegerLayerWeight &w : stored)
                if (w.layer == info.name) {
                    QCOMPARE(info.weightName, w.q);
                    QVERIFY(info.bytes >= m.graph.initializers.at(w.q).byteSize() + m.graph.initializers.at(w.scale).byteSize());
                }
        }

        // Weight-only layers become float layers that compute exactly what the quantized graph does; integer
        // layers stay as they are.
        int dequantized = 0;
        const Model form = floatWeightForm(m, nullptr, &dequantized);
        const Tensor x = Tensor::fromFloats({4, 1, 28, 28}, randomValues(4 * 784, 5));
        if (op == "integer") {
            QCOMPARE(dequantized, 0);
        } else {
            QCOMPARE(dequantized, 4);
            QCOMPARE(int(layerNodes(form.graph).size()), 4);
            QCOMPARE(countOps(form, "DequantizeLinear") + countOps(form, "Sub") + countOps(form, "Reshape"), 0);
            // Sessions for one run: no Winograd convolutions, whose transforms round differently with the blocked
            // layouts only the float form's initializer weights get (runtime/blocked.h).
            SessionOptions once;
            once.runOnce = true;
            const QString diff = testutil::mismatch(Session(m, once).run(x), Session(form, once).run(x), 0.0);
            QVERIFY2(diff.isEmpty(), qPrintable(diff));

            // Pruning it keeps every layer quantized as it was stored (bits, groups), without data for bias
            // correction, and the variant carries no trace of the base's storage marks.
            const Variant pruned = compress(m, recipeFromJson(R"({"prune": {"method": "magnitude", "ratio": 0.5}})"),
                                            nullptr, nullptr, o);
            const std::vector<IntegerLayerWeight> kept = integerLayerWeights(pruned.model.graph);
            QCOMPARE(int(kept.size()), 4);
            for (size_t l = 0; l < kept.size(); ++l) {
                QCOMPARE(kept[l].layer, stored[l].layer);
                QCOMPARE(kept[l].blockSize, stored[l].blockSize);
                QCOMPARE(storedLevels(pruned.model.graph, kept[l])->bits, bits);
                const TensorStats s = computeLayerStats(pruned.model)[l].all;
                QVERIFY2(s.zeroFraction >= 0.49, qPrintable(QString::number(s.zeroFraction)));
            }
            for (const Node &n : pruned.model.graph.nodes)
                QVERIFY2(!n.hasAttr(kStoredBits), n.name.c_str());
            // A recipe that quantizes sets the width itself.
            const Variant w8 = compress(m, recipeFromJson(R"({"quantize": {"weights": {"bits": 8}, "bias_correction": false}})"),
                                        nullptr, nullptr, o);
            for (const IntegerLayerWeight &w : integerLayerWeights(w8.model.graph))
                QCOMPARE(storedLevels(w8.model.graph, w)->bits, 8);
        }
    }

    void fourBit()
    {
        const Variant v = run(R"({"quantize": {"weights": {"bits": 4}, "activations": {"samples": 64}}})");
        for (const Node &n : v.model.graph.nodes) {
            if (n.opType != "QLinearConv" && n.opType != "QGemm")
                continue;
            const std::vector<int64_t> q = v.model.graph.initializers.at(n.inputs[3]).toInt64Vector();
            const auto [lo, hi] = std::minmax_element(q.begin(), q.end());
            QVERIFY2(*lo >= -7 && *hi <= 7, n.name.c_str());
            QCOMPARE(*hi, int64_t(7)); // the range is used
        }
        QVERIFY(m_base.accuracy - v.metrics.accuracy <= 0.05);
    }

    void mixedAndSkip()
    {
        const Variant v = run(R"({"quantize": {"weights": {"bits": 8}},
            "layers": {"conv1": {"quantize": {"weights": {"bits": 6, "granularity": "tensor"}}},
                       "fc1": {"quantize": {"weights": {"bits": 3, "granularity": "group", "group_size": 64}}},
                       "fc2": {"skip": true}}})");
        const Model &m = v.model;
        auto dqOf = [&](const std::string &layer) -> const Node * {
            const std::string w = nodeNamed(m, layer)->inputs[1];
            return m.graph.producer(w);
        };
        const Node *c1 = dqOf("conv1");
        QVERIFY(c1 && c1->opType == "DequantizeLinear");
        QVERIFY(!c1->hasAttr("axis"));
        const std::vector<int64_t> q1 = m.graph.initializers.at(c1->inputs[0]).toInt64Vector();
        QVERIFY(std::find_if(q1.begin(), q1.end(), [](int64_t x) { return std::abs(x) == 31; }) != q1.end());
        for (int64_t x : q1)
            QVERIFY(std::abs(x) <= 31);
        const Node *f1 = dqOf("fc1");
        QVERIFY(f1 && f1->attrInt("block_size", 0) == 64 && f1->attrInt("axis", 0) == 1);
        QCOMPARE(m.graph.initializers.at(f1->inputs[1]).shape(), (Shape{128, 49}));
        for (int64_t x : m.graph.initializers.at(f1->inputs[0]).toInt64Vector())
            QVERIFY(std::abs(x) <= 3);
        // The skipped layer is untouched: the same float weight, bitwise.
        const std::string w2 = nodeNamed(demo(), "fc2")->inputs[1];
        QVERIFY(m.graph.isInitializer(w2));
        const Tensor &a = m.graph.initializers.at(w2), &b = demo().graph.initializers.at(w2);
        QVERIFY(a.dtype() == DType::Float32);
        QVERIFY(std::memcmp(a.rawData(), b.rawData(), a.byteSize()) == 0);
        QVERIFY(m.graph.producer(w2) == nullptr);
    }

    // With 8-bit activations a 2-D Conv runs on integer kernels and a 1-D one keeps float arithmetic, unless the
    // recipe says otherwise per layer ("integer"); a layer asked to that cannot is an error naming the setting.
    void integerPerLayer()
    {
        const Model base = signalModel();
        Dataset data;
        data.name = "unlabelled";
        data.x = Tensor::fromFloats({16, 3, 20}, randomValues(16 * 60, 24));
        CompressOptions o = smallOptions();
        o.measure = false;
        const std::string a8 = R"("quantize": {"weights": {"bits": 8}, "activations": {"calibration": "minmax"}})";
        auto variant = [&](const std::string &layers) {
            return compress(base, recipeFromJson("{" + a8 + (layers.empty() ? "" : ", \"layers\": " + layers) + "}"),
                            &data, nullptr, o);
        };
        auto integerLayers = [](const Variant &v) {
            std::vector<std::string> names;
            for (const Node &n : v.model.graph.nodes)
                if (n.opType == "QLinearConv")
                    names.push_back(n.name);
            return names;
        };
        QCOMPARE(integerLayers(variant("")), std::vector<std::string>{"conv2"});
        const Variant both = variant(R"({"conv1": {"integer": true}})");
        QCOMPARE(integerLayers(both), (std::vector<std::string>{"conv1", "conv2"}));
        QVERIFY(measureFidelity(Session(base), Session(both.model), data, FidelityOptions{}).front().sqnrDb > 25);
        QVERIFY(integerLayers(variant(R"({"conv2": {"integer": false}})")).empty());
        // The setting is kept by a recipe file.
        const Recipe r = recipeFromJson("{" + a8 + R"(, "layers": {"conv1": {"integer": true}}})");
        QCOMPARE(recipeFromJson(recipeToJson(r)).layers.at("conv1").integer, std::optional<bool>(true));
        const auto fails = [&](const std::string &recipe, const char *expected) {
            try {
                compress(base, recipeFromJson(recipe), &data, nullptr, o);
            } catch (const Error &e) {
                QVERIFY2(QString(e.what()).contains(expected), e.what());
                return;
            }
            QFAIL("no error");
        };
        fails(R"({"quantize": {"weights": {"bits": 8}}, "layers": {"conv1": {"integer": true}}})",
              "layers.conv1.integer: needs quantize.activations");
        fails(R"({"quantize": {"weights": {"bits": 8, "symmetric": false}, "activations": {}},
                  "layers": {"conv1": {"integer": true}}})",
              "layers.conv1.integer: conv1 cannot run on integer kernels: its weights are asymmetric");
    }

    // quantize.activations.min_sqnr_db: the layers left to the quantizer start on integer kernels (the 1-D conv1
    // too), and go back to float arithmetic, the costliest first, until the first output's SQNR on the calibration
    // samples reaches the floor; layers the recipe sets stay as set.
    void fidelityFloor()
    {
        const Model base = signalModel();
        Dataset data;
        data.x = Tensor::fromFloats({16, 3, 20}, randomValues(16 * 60, 24));
        CompressOptions o = smallOptions();
        o.measure = false;
        std::vector<std::string> lines;
        const auto variant = [&](const std::string &activations, const std::string &layers = "") {
            lines.clear();
            const Recipe r = recipeFromJson(R"({"quantize": {"weights": {"bits": 8}, "activations": {"calibration": "minmax")" +
                                            activations + "}}" + (layers.empty() ? "" : ", \"layers\": " + layers) + "}");
            return compress(base, r, &data, nullptr, o, {}, nullptr, [&](const std::string &l) { lines.push_back(l); });
        };
        const auto integerLayers = [](const Variant &v) {
            std::vector<std::string> names;
            for (const Node &n : v.model.graph.nodes)
                if (n.opType == "QLinearConv")
                    names.push_back(n.name);
            return names;
        };
        const auto sqnr = [&](const Variant &v) {
            return measureFidelity(Session(base), Session(v.model), data, FidelityOptions{}).front().sqnrDb;
        };
        const auto logged = [&](const QString &text) {
            return std::any_of(lines.begin(), lines.end(), [&](const std::string &l) { return QString::fromStdString(l).contains(text); });
        };
        // The reference points, set by hand: both layers on integer kernels, one of them, neither.
        const double all = sqnr(variant("", R"({"conv1": {"integer": true}})"));
        const double conv1Float = sqnr(variant("", R"({"conv1": {"integer": false}, "conv2": {"integer": true}})"));
        const double conv2Float = sqnr(variant("", R"({"conv1": {"integer": true}, "conv2": {"integer": false}})"));
        const double neither = sqnr(variant("", R"({"conv1": {"integer": false}, "conv2": {"integer": false}})"));
        qInfo("signal model: %.1f dB on integer kernels, %.1f / %.1f with conv1 / conv2 float, %.1f with neither", all,
              conv1Float, conv2Float, neither);
        QVERIFY(all < std::max(conv1Float, conv2Float) && std::max(conv1Float, conv2Float) < neither);

        // A floor below every layer on integer kernels: both run there, the 1-D conv1 too.
        const Variant low = variant(R"(, "min_sqnr_db": )" + std::to_string(all - 1));
        QCOMPARE(integerLayers(low), (std::vector<std::string>{"conv1", "conv2"}));
        QCOMPARE(sqnr(low), all);
        QVERIFY(logged("fidelity floor: ") && !logged("keeps float arithmetic"));

        // Between: the layer whose float arithmetic alone gains most goes first, and is enough.
        const double between = (all + std::max(conv1Float, conv2Float)) / 2;
        const Variant mid = variant(R"(, "min_sqnr_db": )" + std::to_string(between));
        const std::string first = conv1Float > conv2Float ? "conv1" : "conv2";
        const std::string kept = first == "conv1" ? "conv2" : "conv1";
        QCOMPARE(integerLayers(mid), std::vector<std::string>{kept});
        const QString summary = QStringLiteral("1 on integer kernels %1fidelity floor ").arg(QChar('('));
        const QString floated = QString::fromStdString("; float arithmetic: " + first) + QChar(')');
        QVERIFY(logged(summary) && logged(" met: ") && logged(floated));
        QVERIFY(sqnr(mid) >= between);
        QVERIFY(logged(QString::fromStdString("fidelity floor: " + first + " keeps float arithmetic")));

        // Out of reach: every candidate back on float arithmetic, and said so.
        const Variant high = variant(R"(, "min_sqnr_db": 199)");
        QVERIFY(integerLayers(high).empty());
        QCOMPARE(sqnr(high), neither);
        QVERIFY(logged("fidelity floor: not met"));
        QVERIFY(logged(" not met: ") && logged("float arithmetic: conv"));

        // Layers the recipe sets are not moved.
        QCOMPARE(integerLayers(variant(R"(, "min_sqnr_db": 199)", R"({"conv2": {"integer": true}})")),
                 std::vector<std::string>{"conv2"});
        QCOMPARE(integerLayers(variant(R"(, "min_sqnr_db": 1)", R"({"conv1": {"integer": false}})")),
                 std::vector<std::string>{"conv2"});

        // Data with as many samples again as calibration takes: the floor is measured on those, not on the
        // samples the ranges were fitted to (against the model before quantization: the base here).
        const Variant eight = variant(R"(, "samples": 8)", R"({"conv1": {"integer": true}})");
        const double heldOut =
            measureFidelity(Session(base), Session(eight.model), data.rows(8, 8), FidelityOptions{}).front().sqnrDb;
        variant(R"(, "samples": 8, "min_sqnr_db": 199)");
        QVERIFY(logged(QStringLiteral("fidelity floor: %1 dB with 2 layer(s) on integer kernels").arg(heldOut, 0, 'f', 1)));
        QVERIFY(logged("on the 8 samples after the calibration samples"));
        variant(R"(, "samples": 9, "min_sqnr_db": 1)");
        QVERIFY(logged("on the 9 calibration samples: the data has fewer than 9 more"));

        // Cancel while the floor is measured: Cancelled, nothing returned.
        StopToken stop;
        const Recipe r = recipeFromJson(R"({"quantize": {"weights": {"bits": 8}, "activations": {"min_sqnr_db": 199}}})");
        QVERIFY_THROWS_EXCEPTION(Cancelled, compress(base, r, &data, nullptr, o, [&](double, std::string_view stage) {
            if (stage.starts_with("fidelity floor"))
                stop.requestStop();
        }, &stop));
    }

    // Bias correction pulls the mean output of a coarsely quantized model back towards the float model's.
    void biasCorrection()
    {
        const std::string recipe =
            R"({"quantize": {"weights": {"bits": 3, "granularity": "tensor"}, "bias_correction": %1}})";
        CompressOptions o = smallOptions();
        o.measure = false;
        const Variant with = run(QString::fromStdString(recipe).arg("true").toStdString(), o);
        const Variant without = run(QString::fromStdString(recipe).arg("false").toStdString(), o);
        const Tensor x = trainData().batch(0, 256);
        const Tensor ref = Session(demo()).run(x);
        auto meanShift = [&](const Model &m) {
            const Tensor y = Session(m).run(x);
            double total = 0;
            for (int64_t c = 0; c < 10; ++c) {
                double s = 0;
                for (int64_t i = 0; i < 256; ++i)
                    s += y.f32()[i * 10 + c] - ref.f32()[i * 10 + c];
                total += std::abs(s / 256);
            }
            return total;
        };
        const double a = meanShift(with.model), b = meanShift(without.model);
        QVERIFY2(a < 0.5 * b, qPrintable(QString("mean logit shift %1 with correction, %2 without").arg(a).arg(b)));
    }

    // The STE gradient of a fake-quantized weight is the float gradient at the quantized weight; the gradient
    // of a fake-quantized activation is the float gradient inside its range and zero where it was clipped.
    void qatStraightThroughGradient()
    {
        Model m;
        m.graph.inputs = {ValueInfo{"x", DType::Float32, {-1, 4}, true}};
        m.graph.outputs = {ValueInfo{"y", DType::Float32, {-1, 3}, true}};
        const Tensor w = testutil::randomTensor({3, 4}, 3);
        m.graph.initializers["w"] = w;
        m.graph.initializers["b"] = Tensor::fromFloats({3}, {0.1f, -0.2f, 0.3f});
        Node gemm;
        gemm.name = "fc";
        gemm.opType = "Gemm";
        gemm.inputs = {"x", "w", "b"};
        gemm.outputs = {"y"};
        gemm.attrs["transB"] = Attribute::makeInt(1);
        m.graph.nodes = {gemm};
        inferShapes(m);

        TrainOptions options;
        options.threads = 1;
        QuantSpec spec;
        spec.bits = 3;
        options.fakeQuantWeights["w"] = {spec, 0, 1};
        const std::pair<float, float> range{-0.5f, 0.5f}; // clips some logits
        options.fakeQuantActivations["y"] = range;
        Model trained = m.deepCopy();
        Trainer trainer(trained, options);
        const int64_t n = 8;
        const Tensor x = testutil::randomTensor({n, 4}, 9, -2.f, 2.f);
        const std::vector<int64_t> labels{0, 1, 2, 0, 1, 2, 0, 1};
        trainer.computeGradients(x, labels);
        const Tensor dw = trainer.gradient("w");
        QVERIFY(!dw.isNull());

        // By hand: yf = x Wq^T + b; yq = fake-quantized yf; g = dCE/dyq masked where yf was clipped; dW = g^T x.
        const Tensor wq = quantizeWeightInteger(w, spec, 0, 1).dequantize();
        const ActivationGrid grid = activationGrid({range.first, range.second});
        const float lo = -float(grid.zeroPoint) * grid.scale, hi = (255.f - float(grid.zeroPoint)) * grid.scale;
        Tensor yf(DType::Float32, {n, 3}), yq(DType::Float32, {n, 3});
        int clipped = 0;
        for (int64_t i = 0; i < n; ++i)
            for (int64_t o = 0; o < 3; ++o) {
                float s = m.graph.initializers["b"].f32()[o];
                for (int64_t k = 0; k < 4; ++k)
                    s += x.f32()[i * 4 + k] * wq.f32()[o * 4 + k];
                yf.f32()[i * 3 + o] = s;
                const float q = std::clamp(std::nearbyint(s / grid.scale) + grid.zeroPoint, 0.f, 255.f);
                yq.f32()[i * 3 + o] = (q - grid.zeroPoint) * grid.scale;
                clipped += s < lo || s > hi;
            }
        QVERIFY(clipped > 0 && clipped < n * 3);
        Tensor g;
        softmaxCrossEntropy(yq, labels, &g);
        Tensor expected(DType::Float32, {3, 4});
        for (int64_t i = 0; i < n; ++i)
            for (int64_t o = 0; o < 3; ++o) {
                const float yv = yf.f32()[i * 3 + o];
                const float gv = (yv < lo || yv > hi) ? 0.f : g.f32()[i * 3 + o];
                for (int64_t k = 0; k < 4; ++k)
                    expected.f32()[o * 4 + k] += gv * x.f32()[i * 4 + k];
            }
        QVERIFY2(testutil::mismatch(dw, expected, 1e-5, 1e-6).isEmpty(), qPrintable(testutil::mismatch(dw, expected, 1e-5, 1e-6)));

        // Without clipping and with the weight on its grid already, the STE gradient equals the float gradient.
        TrainOptions plain;
        plain.threads = 1;
        Model floatModel = m.deepCopy();
        floatModel.graph.initializers["w"] = wq;
        Trainer floatTrainer(floatModel, plain);
        floatTrainer.computeGradients(x, labels);
        TrainOptions weightsOnly = plain;
        weightsOnly.fakeQuantWeights["w"] = {spec, 0, 1};
        Model qatModel = m.deepCopy();
        Trainer qatTrainer(qatModel, weightsOnly);
        qatTrainer.computeGradients(x, labels);
        QVERIFY(testutil::mismatch(qatTrainer.gradient("w"), floatTrainer.gradient("w"), 1e-6, 1e-7).isEmpty());
        // And the step updates the float weight (not the quantized stand-in).
        qatTrainer.step(0.1f);
        QVERIFY(testutil::mismatch(qatModel.graph.initializers["w"], w, 0, 0).size() > 0);
        QVERIFY(testutil::mismatch(qatModel.graph.initializers["w"], wq, 0, 0).size() > 0);
    }

    void qatPipeline()
    {
        const Variant v = run(R"({"quantize": {"weights": {"bits": 4}, "activations": {"samples": 64}},
                                  "finetune": {"epochs": 1, "lr": 0.0001, "samples": 128, "qat": true}})");
        QCOMPARE(countOps(v.model, "QLinearConv"), 2);
        QVERIFY(m_base.accuracy - v.metrics.accuracy <= 0.05);
    }

    void fineTuningAugments()
    {
        // "finetune": {"augment": ...} reaches the fine-tuning: the same recipe trains the same weights again, and
        // other weights than without augmentation.
        const std::string plain = R"({"prune": {"ratio": 0.5}, "finetune": {"epochs": 1, "lr": 0.001, "samples": 128)";
        const Variant a = run(plain + R"(, "augment": {"shift": 2, "flip": true}}})");
        const Variant b = run(plain + R"(, "augment": {"shift": 2, "flip": true}}})");
        const Variant none = run(plain + "}}");
        QVERIFY(sameWeights(a.model, b.model));
        QVERIFY(!sameWeights(a.model, none.model));
        QCOMPARE(a.recipe.finetune.augment.shift, 2);
    }

    void cancelLeavesBaseUntouched()
    {
        const Model before = demo().deepCopy();
        StopToken stop;
        int calls = 0;
        const ProgressFn progress = [&](double, std::string_view) {
            if (++calls == 3)
                stop.requestStop();
        };
        QVERIFY_THROWS_EXCEPTION(Cancelled,
                                 compress(demo(), recipeFromJson(R"({"quantize": {"weights": {}, "activations": {"samples": 128}}})"),
                                          &trainData(), &evalData(), smallOptions(), progress, &stop));
        QVERIFY(calls >= 3);
        QVERIFY(sameWeights(demo(), before));
        QCOMPARE(demo().graph.nodes.size(), before.graph.nodes.size());
        QVERIFY(demo().analysis == before.analysis);
    }

    void fileSizeAndMetricsRoundTrip()
    {
        const Variant v = run(R"({"name": "rt", "quantize": {"weights": {"bits": 8}, "activations": {"samples": 64}}})");
        QTemporaryDir dir;
        const std::string path = dir.filePath("v.h5").toStdString();
        saveModel(v.model, path);
        QCOMPARE(v.metrics.fileBytes, int64_t(QFileInfo(QString::fromStdString(path)).size()));
        QCOMPARE(savedSizeBytes(v.model), v.metrics.fileBytes);
        QCOMPARE(v.metrics.compressionRatio, double(savedSizeBytes(demo())) / double(v.metrics.fileBytes));
        // The ONNX export's size too: what Export… writes.
        const std::string onnx = dir.filePath("v.onnx").toStdString();
        saveModel(v.model, onnx);
        QVERIFY(v.metrics.onnxSkipped.empty());
        QCOMPARE(v.metrics.onnxBytes, int64_t(QFileInfo(QString::fromStdString(onnx)).size()));

        const Model back = loadModel(path);
        QVERIFY(back.analysis.count(kRecipeKey) && back.analysis.count(kMetricsKey));
        QCOMPARE(QString::fromStdString(recipeToJson(recipeFromJson(back.analysis.at(kRecipeKey)))),
                 QString::fromStdString(recipeToJson(v.recipe)));
        const VariantMetrics m = metricsFromJson(back.analysis.at(kMetricsKey));
        QCOMPARE(m.accuracy, v.metrics.accuracy);
        QCOMPARE(m.top5, v.metrics.top5);
        QCOMPARE(m.loss, v.metrics.loss);
        QCOMPARE(m.samples, v.metrics.samples);
        QCOMPARE(m.fileBytes, v.metrics.fileBytes);
        QCOMPARE(m.compressionRatio, v.metrics.compressionRatio);
        QCOMPARE(m.p50Batch1Ms, v.metrics.p50Batch1Ms);
        QCOMPARE(m.p90Batch1Ms, v.metrics.p90Batch1Ms);
        QCOMPARE(m.p50Batch64Ms, v.metrics.p50Batch64Ms);
        QCOMPARE(m.p90Batch64Ms, v.metrics.p90Batch64Ms);
        QCOMPARE(m.threads, v.metrics.threads);
        // A process that loaded the variant holds at least its file's worth (test_evaluate checks the figure).
        QVERIFY2(v.metrics.peakRssBytes > v.metrics.fileBytes, qPrintable(QString::number(v.metrics.peakRssBytes)));
        QCOMPARE(m.peakRssBytes, v.metrics.peakRssBytes);
        QCOMPARE(m.memoryBytes, v.metrics.memoryBytes);
        QCOMPARE(int(m.fidelity.size()), int(v.metrics.fidelity.size()));
        QCOMPARE(m.fidelity.front().sqnrDb, v.metrics.fidelity.front().sqnrDb);
        QCOMPARE(m.fidelity.front().top1Agreement, v.metrics.fidelity.front().top1Agreement);
        // The saved variant evaluates to the measured accuracy.
        const EvalResult r = evaluate(Session(back), evalData());
        QCOMPARE(r.accuracy, v.metrics.accuracy);
    }

    // The integer graph is standard ONNX (+ com.microsoft QGemm): onnxruntime runs the exported variant to the
    // same logits as the workbench.
    void onnxruntimeAgrees_data()
    {
        QTest::addColumn<QString>("recipe");
        QTest::newRow("int8 weights + activations")
            << R"({"quantize": {"weights": {"bits": 8}, "activations": {"calibration": "entropy", "samples": 64}}})";
        QTest::newRow("4-bit weight-only, per tensor")
            << R"({"quantize": {"weights": {"bits": 4, "granularity": "tensor"}, "bias_correction": false}})";
    }
    void onnxruntimeAgrees()
    {
        QFETCH(QString, recipe);
        if (!testutil::ortAvailable())
            QSKIP("onnxruntime-node is not installed");
        CompressOptions o = smallOptions();
        o.measure = false;
        const Variant v = run(recipe.toStdString(), o);
        QTemporaryDir dir;
        const QString path = dir.filePath("v.onnx");
        saveModel(v.model, path.toStdString());
        const Tensor x = evalData().batch(0, 16);
        QString error;
        const std::vector<Tensor> ort = testutil::runOrt(path, {{"input", x}}, &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        QCOMPARE(int(ort.size()), 1);
        const Tensor ours = Session(loadModel(path.toStdString())).run(x);
        const QString diff = testutil::mismatch(ours, ort[0], 1e-4, 1e-4);
        QVERIFY2(diff.isEmpty(), qPrintable(diff));
    }

    void errors_data()
    {
        QTest::addColumn<QString>("recipe");
        QTest::addColumn<bool>("withTrain");
        QTest::addColumn<QString>("expected");
        QTest::newRow("unknown layer") << R"({"layers": {"conv7": {"skip": true}}})" << true << "conv7";
        QTest::newRow("calibration without data") << R"({"quantize": {"weights": {}, "activations": {}}})" << false
                                                  << "training data";
        QTest::newRow("fine-tuning without data") << R"({"prune": {}, "finetune": {"epochs": 1}})" << false
                                                  << "training data";
        QTest::newRow("reconstruction without data")
            << R"({"prune": {"method": "channel", "reconstruct": true}, "layers": {"fc2": {"prune": null}}})" << false
            << "training data for channel pruning's reconstruction";
    }
    void errors()
    {
        QFETCH(QString, recipe);
        QFETCH(bool, withTrain);
        QFETCH(QString, expected);
        try {
            compress(demo(), recipeFromJson(recipe.toStdString()), withTrain ? &trainData() : nullptr, nullptr,
                     smallOptions());
            QFAIL("compressed");
        } catch (const Cancelled &) {
            QFAIL("cancelled");
        } catch (const Error &e) {
            QVERIFY2(QString(e.what()).contains(expected), e.what());
        }
    }

    // Fine-tuning on data without labels: refused before any pruning unless the base model alone teaches.
    void unlabelledFineTuning()
    {
        Dataset unlabelled = trainData();
        unlabelled.labels.clear();
        QStringList log;
        const LogFn say = [&](const std::string &line) { log << QString::fromStdString(line); };
        try {
            compress(demo(), recipeFromJson(R"({"prune": {"ratio": 0.3}, "finetune": {"epochs": 1}})"), &unlabelled,
                     nullptr, smallOptions(), {}, nullptr, say);
            QFAIL("fine-tuned without labels");
        } catch (const Error &e) {
            QVERIFY2(QString(e.what()).contains("has no labels, which fine-tuning needs"), e.what());
        }
        QVERIFY2(log.filter(QStringLiteral("pruning step")).isEmpty(), qPrintable(log.join('\n')));
        CompressOptions options = smallOptions();
        options.measure = false;
        const Variant v = compress(
            demo(), recipeFromJson(R"({"prune": {"ratio": 0.3}, "finetune": {"epochs": 1, "distill": {"alpha": 1}}})"),
            &unlabelled, nullptr, options);
        QVERIFY(!v.model.graph.nodes.empty());
    }

    void cli()
    {
        QTemporaryDir dir;
        const QString recipe = dir.filePath("r.json"), out = dir.filePath("v.h5");
        {
            QFile f(recipe);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(R"({"name": "cli", "quantize": {"weights": {"bits": 8}, "activations": {"samples": 64}}})");
        }
        QString error;
        const QByteArray json = testutil::runProcess(
            CW_CWB_PATH, {"compress", "demo", "--recipe", recipe, "--data", "fashion-mnist", "--limit", "200",
                          "--train-limit", "128", "--iterations", "2", "--threads", "2", "-o", out, "--json"},
            &error, 300000);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        const QJsonObject doc = QJsonDocument::fromJson(json).object();
        QCOMPARE(doc["train_data"].toString(), QString("fashion-mnist:train"));
        const QJsonObject v = doc["variant"].toObject(), b = doc["base"].toObject();
        for (const char *key : {"accuracy", "top5", "loss", "file_bytes", "compression_ratio", "latency_ms", "samples"}) {
            QVERIFY2(v.contains(key), key);
            QVERIFY2(b.contains(key), key);
        }
        QVERIFY(v["latency_ms"].toObject()["batch64"].toObject().contains("p90"));
        QCOMPARE(qint64(v["file_bytes"].toDouble()), QFileInfo(out).size());
        QCOMPARE(v["samples"].toInt(), 200);
        QVERIFY(doc.contains("accuracy_drop_points") && doc.contains("size_ratio") && doc.contains("latency_ratio_batch1"));
        QCOMPARE(doc["recipe"].toObject()["name"].toString(), QString("cli"));
        QVERIFY(!doc.contains("fidelity_floor")); // the recipe sets none

        // A fidelity floor's outcome: out of reach, every layer back on float arithmetic.
        {
            QFile f(recipe);
            QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
            f.write(R"({"quantize": {"weights": {"bits": 8}, "activations": {"samples": 64, "min_sqnr_db": 199}}})");
        }
        const QJsonObject floor = QJsonDocument::fromJson(testutil::runProcess(
            CW_CWB_PATH, {"compress", "demo", "--recipe", recipe, "--train-data", "fashion-mnist:train", "--train-limit",
                          "128", "--threads", "2", "--no-measure", "-o", dir.filePath("floor.h5"), "--json"},
            &error, 300000)).object()["fidelity_floor"].toObject();
        QVERIFY2(error.isEmpty(), qPrintable(error));
        QCOMPARE(floor["floor_db"].toDouble(), 199.0);
        QCOMPARE(floor["met"].toBool(), false);
        QVERIFY(floor["final_sqnr_db"].toDouble() > floor["initial_sqnr_db"].toDouble());
        QCOMPARE(floor["float_layers"].toArray().size(), qsizetype(4));

        // cwb eval runs the saved compressed file to the same accuracy.
        const QByteArray eval = testutil::runProcess(
            CW_CWB_PATH, {"eval", out, "--data", "fashion-mnist", "--limit", "200", "--json"}, &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        QCOMPARE(QJsonDocument::fromJson(eval).object()["accuracy"].toDouble(), v["accuracy"].toDouble());

        // Clear errors: a recipe naming a missing layer, a bad output name, no recipe.
        {
            QFile f(recipe);
            QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
            f.write(R"({"layers": {"fc9": {"skip": true}}})");
        }
        testutil::runProcess(CW_CWB_PATH, {"compress", "demo", "--recipe", recipe, "-o", out}, &error);
        QVERIFY2(error.contains("layers.fc9") && error.contains("exited with 1"), qPrintable(error));
        testutil::runProcess(CW_CWB_PATH, {"compress", "demo", "--recipe", recipe, "-o", dir.filePath("v.txt")}, &error);
        QVERIFY2(error.contains(".h5 or .onnx"), qPrintable(error));
        testutil::runProcess(CW_CWB_PATH, {"compress", "demo", "-o", out}, &error);
        QVERIFY2(error.contains("--recipe"), qPrintable(error));
    }
};

QTEST_GUILESS_MAIN(TestCompress)
#include "test_compress.moc"
