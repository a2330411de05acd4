// Graph-level fusion for inference (core/runtime/fusion.h): a fused Session gives the outputs of the graph as it
// is, on every convolution path (oneDNN blocked with post-ops, oneDNN plain with the activations applied after,
// the depthwise loop, the 1-D form), for every fusable activation and chain; values a
// fusion removed are still served (by the unfused plan); what must not fuse does not. A Session built for one run
// computes the same without Winograd convolutions. A run on two threads gives each a part of the batch through the
// nodes that keep samples apart (runtime/batch_split.h), and the rest runs on the joined values: the same outputs. Activations kept in oneDNN's blocked layout between layers
// (runtime/blocked.h) and a MaxPool run inside its Conv give the values of the graph as it is.
#include <algorithm>
#include <array>
#include <atomic>
#include <QTest>

#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <thread>

#include "core/base/cpu.h"
#include "core/runtime/batch_split.h"
#include "core/runtime/blocked.h"
#include "core/runtime/fusion.h"
#include "core/runtime/onednn.h"
#include "core/runtime/ops.h"
#include "core/runtime/session.h"
#include "core/train/demo_models.h"
#include "core/runtime/shape_inference.h"
#include "tests/testutil.h"

using namespace cw;

namespace {

Tensor randomTensor(Shape shape, uint32_t seed, float lo = -1.f, float hi = 1.f)
{
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(lo, hi);
    Tensor t(DType::Float32, std::move(shape));
    for (int64_t i = 0; i < t.numel(); ++i)
        t.f32()[i] = d(rng);
    return t;
}

// A scalar zero point of int8 (isSigned) or uint8.
Tensor zeroPoint(bool isSigned, int value)
{
    Tensor t(isSigned ? DType::Int8 : DType::UInt8, {});
    static_cast<uint8_t *>(t.rawData())[0] = uint8_t(value);
    return t;
}

Node node(std::string name, std::string op, std::vector<std::string> in, std::vector<std::string> out)
{
    Node n;
    n.name = std::move(name);
    n.opType = std::move(op);
    n.inputs = std::move(in);
    n.outputs = std::move(out);
    return n;
}

struct Geometry {
    Shape x, w;
    int64_t group = 1;
};

// x → Conv(w, b) → the chain → y, shapes inferred as at load.
Model convChain(const Geometry &geo, const QStringList &chain)
{
    Model m;
    m.opsetVersion = 17;
    Graph &g = m.graph;
    Shape xShape = geo.x;
    xShape[0] = -1;
    g.inputs.push_back({"x", DType::Float32, xShape, true, {"batch"}});
    g.initializers["w"] = randomTensor(geo.w, 2);
    g.initializers["b"] = randomTensor({geo.w[0]}, 3);
    Node conv = node("conv", "Conv", {"x", "w", "b"}, {"c"});
    const size_t spatial = geo.w.size() - 2;
    conv.attrs["pads"] = Attribute::makeInts(std::vector<int64_t>(spatial * 2, 1));
    conv.attrs["group"] = Attribute::makeInt(geo.group);
    g.nodes.push_back(conv);
    std::string value = "c";
    const int64_t channels = geo.w[0];
    for (int k = 0; k < chain.size(); ++k) {
        const std::string op = chain[k].toStdString(), out = "a" + std::to_string(k);
        Node n = node(out, op, {value}, {out});
        if (op == "BatchNormalization") {
            for (const char *p : {"scale", "bias", "mean", "var"}) {
                const std::string name = out + "." + p;
                g.initializers[name] = randomTensor({channels}, uint32_t(k * 7 + p[0]), 0.5f, 1.5f);
                n.inputs.push_back(name);
            }
        } else if (op == "LeakyRelu") {
            n.attrs["alpha"] = Attribute::makeFloat(0.2f);
        } else if (op == "Max" || op == "Min") {
            g.initializers[out + ".c"] = Tensor::fromFloats({1}, {op == "Max" ? -0.1f : 0.3f});
            n.inputs.push_back(out + ".c");
        } else if (op == "MaxOfRank" || op == "MaxOfRank4") { // the constant as tf2onnx writes it: [[[[c]]]]
            n.opType = "Max";
            const size_t rank = op == "MaxOfRank" ? geo.x.size() : 4;
            g.initializers[out + ".c"] = Tensor::fromFloats(Shape(rank, 1), {-0.4f});
            n.inputs.push_back(out + ".c");
        } else if (op == "ClipAttrs") { // bounds as attributes, opset 9
            n.opType = "Clip";
            n.attrs["min"] = Attribute::makeFloat(-0.5f);
            n.attrs["max"] = Attribute::makeFloat(0.75f);
            n.attrs["_opset"] = Attribute::makeInt(9);
        } else if (op == "ClipInputs") { // bounds as inputs, the upper one omitted
            n.opType = "Clip";
            g.initializers[out + ".lo"] = Tensor::scalar(0.f);
            n.inputs.push_back(out + ".lo");
        } else if (op == "HardSigmoid") {
            n.attrs["alpha"] = Attribute::makeFloat(0.3f);
            n.attrs["beta"] = Attribute::makeFloat(0.4f);
        }
        g.nodes.push_back(n);
        value = out;
    }
    g.outputs.push_back({value, DType::Float32, {}, false});
    inferShapes(m);
    return m;
}

double maxAbs(const Tensor &t)
{
    double m = 0;
    for (int64_t i = 0; i < t.numel(); ++i)
        m = std::max(m, std::abs(double(t.f32()[i])));
    return m;
}

// The largest difference, relative to `scale` (at least 1; by default b's largest magnitude).
QString compareTensors(const Tensor &a, const Tensor &b, double tolerance, double scale = 0)
{
    if (a.shape() != b.shape())
        return "shapes differ: " + QString::fromStdString(shapeToString(a.shape()) + " vs " + shapeToString(b.shape()));
    double worst = 0;
    for (int64_t i = 0; i < a.numel(); ++i)
        worst = std::max(worst, std::abs(double(a.f32()[i]) - double(b.f32()[i])));
    scale = std::max({1.0, scale, maxAbs(b)});
    return worst <= tolerance * scale ? QString() : QStringLiteral("max difference %1 (scale %2)").arg(worst).arg(scale);
}

// The model with its weights, bias, constants and input in float16.
Model halfPrecision(Model m)
{
    for (auto &entry : m.graph.initializers)
        if (entry.second.dtype() == DType::Float32)
            entry.second = entry.second.castTo(DType::Float16);
    m.graph.inputs[0].dtype = DType::Float16;
    m.graph.outputs[0].dtype = DType::Float16;
    inferShapes(m);
    return m;
}

// The op types of a graph's nodes, in order.
QStringList opTypes(const std::vector<Node> &nodes)
{
    QStringList ops;
    for (const Node &n : nodes)
        ops << QString::fromStdString(n.opType);
    return ops;
}

SessionOptions unfusedOptions(HalfFloats halfFloats = HalfFloats::Float32)
{
    SessionOptions o;
    o.fuse = false;
    o.halfFloats = halfFloats;
    return o;
}

// A float16 model computed as it declares (every node rounds its output).
SessionOptions declaredOptions()
{
    SessionOptions o;
    o.halfFloats = HalfFloats::Declared;
    return o;
}

} // namespace

class TestFusion : public QObject {
    Q_OBJECT

private slots:
    void fusedEqualsUnfused_data();
    void fusedEqualsUnfused();
    void removedValuesStillServed();
    void notFused();
    void halfPrecisionClipsFuseExactly();
    void subgraphsReadOuterConstants();
    void runOnceSkipsWinograd();
    void shortReductionsRunIm2col();
    void oneImageOnTwoThreads();
    void blockedLayoutRoundTrip();
    void blockedConvolution();
    void sessionWeightsPackedPerSession();
    void blockedPooling_data();
    void blockedPooling();
    void blockedChainsEqualUnfused_data();
    void blockedChainsEqualUnfused();
    void fusedMaxPool_data();
    void fusedMaxPool();
    void quantizedTables_data();
    void quantizedTables();
    void quantizedConcat_data();
    void quantizedConcat();
    void quantizedInput_data();
    void quantizedInput();
    void channelsLastIntegers_data();
    void channelsLastIntegers();
    void residualJoin_data();
    void residualJoin();
    void qdqProduct_data();
    void qdqProduct();
    void layerNorm_data();
    void layerNorm();
    void productActivations_data();
    void productActivations();
    void preparedStateHoldsAttributesOnly();
    void preparedConstantsPerType();
    void batchRegionRules_data();
    void batchRegionRules();
    void batchRegionAxes();
    void demosRunBatchParallel_data();
    void demosRunBatchParallel();
    void ifsOnSizesSpecialized();
    void sizesReadInTheRegion();
    void unnamedSizeTiedToTheBatch();
};

void TestFusion::fusedEqualsUnfused_data()
{
    QTest::addColumn<QString>("geometry");
    QTest::addColumn<QStringList>("chain");
    const QList<QStringList> chains{{"Relu"},
                                    {"LeakyRelu"},
                                    {"LeakyRelu", "Max"},
                                    {"LeakyRelu", "MaxOfRank"},
                                    {"BatchNormalization", "Relu"},
                                    {"BatchNormalization"},
                                    {"ClipAttrs"},
                                    {"ClipInputs"},
                                    {"HardSwish"},
                                    {"HardSigmoid"},
                                    {"Sigmoid"},
                                    {"Tanh"},
                                    {"Min", "Relu"}};
    for (const char *geometry : {"blocked", "plain", "depthwise", "1-D", "1x3"})
        for (const QStringList &chain : chains)
            QTest::addRow("%s %s", geometry, qPrintable(chain.join('+'))) << QString(geometry) << chain;
}

void TestFusion::fusedEqualsUnfused()
{
    QFETCH(QString, geometry);
    QFETCH(QStringList, chain);
    const std::map<QString, Geometry> geometries{
        {"blocked", {{2, 16, 9, 9}, {24, 16, 3, 3}}},       // oneDNN, channel-blocked: post-ops
        {"plain", {{2, 1, 12, 12}, {8, 1, 3, 3}}},           // oneDNN, plain layout: activations applied after
        {"depthwise", {{2, 8, 10, 10}, {8, 1, 3, 3}, 8}},    // the engine's direct loop
        {"1-D", {{2, 4, 20}, {6, 4, 3}}},                    // [N, C, L]
        {"1x3", {{2, 24, 8, 16}, {24, 24, 1, 3}}},          // openwakeword's 1×k convolutions
    };
    const Geometry &geo = geometries.at(geometry);
    const Model m = convChain(geo, chain);
    const Session fused(m), plain(m, unfusedOptions());
    QCOMPARE(fused.executedGraph().nodes.size(), size_t(1)); // the whole chain is one Conv
    QCOMPARE(plain.executedGraph().nodes.size(), m.graph.nodes.size());
    QCOMPARE(fused.model().graph.nodes.size(), m.graph.nodes.size()); // model() is the graph as given
    const Tensor x = randomTensor(geo.x, 1, -2.f, 2.f);
    const Tensor a = fused.run(x), b = plain.run(x);
    // Folding BatchNormalization rounds differently, oneDNN's post-ops evaluate Sigmoid, Tanh and HardSwish with
    // their own approximations, and a fused and an unfused convolution may take different algorithms (Winograd
    // or direct): differences relative to the convolution's own output, before an activation bounds it.
    const double scale = maxAbs(plain.run({{"x", x}}, {"c"}).at("c"));
    const QString diff = compareTensors(a, b, 2e-6, scale);
    QVERIFY2(diff.isEmpty(), qPrintable(diff));
}

void TestFusion::removedValuesStillServed()
{
    const Model m = convChain({{2, 16, 9, 9}, {24, 16, 3, 3}}, {"BatchNormalization", "Relu"});
    const Session fused(m), plain(m, unfusedOptions());
    const Tensor x = randomTensor({2, 16, 9, 9}, 1);
    // The Conv's own output and the BatchNormalization's are gone from the fused graph, yet can be asked for
    // (the unfused plan serves them) and fed; runAll has every value.
    for (const std::string name : {"c", "a0"}) {
        const Tensor viaFused = fused.run({{"x", x}}, {name}).at(name);
        QCOMPARE(compareTensors(viaFused, plain.run({{"x", x}}, {name}).at(name), 0), QString());
    }
    const Tensor c = plain.run({{"x", x}}, {"c"}).at("c");
    QCOMPARE(compareTensors(fused.run({{"x", x}, {"c", c}}, {"a1"}).at("a1"),
                            plain.run({{"x", x}, {"c", c}}, {"a1"}).at("a1"), 0),
             QString());
    const std::map<std::string, Tensor> all = fused.runAll({{"x", x}});
    for (const char *name : {"c", "a0", "a1"})
        QVERIFY2(all.count(name), name);
    // The Conv's weight and bias keep their names with BatchNormalization folded in: asked for, they are the
    // graph's own; fed (a weight edited for one run), the graph as it is computes with them.
    for (const std::string name : {"w", "b"})
        QCOMPARE(compareTensors(fused.run({{"x", x}}, {name}).at(name), m.graph.initializers.at(name), 0), QString());
    Tensor doubled = m.graph.initializers.at("w").clone();
    for (int64_t i = 0; i < doubled.numel(); ++i)
        doubled.f32()[i] *= 2.f;
    QCOMPARE(compareTensors(fused.run({{"x", x}, {"w", doubled}}).at("a1"), plain.run({{"x", x}, {"w", doubled}}).at("a1"), 0),
             QString());
}

void TestFusion::notFused()
{
    // The Conv's output read twice, or a graph output: nothing fuses, and the outputs are those of the graph.
    Model twice = convChain({{1, 16, 6, 6}, {16, 16, 3, 3}}, {"Relu"});
    twice.graph.nodes.push_back(node("add", "Add", {"c", "a0"}, {"sum"}));
    twice.graph.outputs = {{"sum", DType::Float32, {}, false}};
    inferShapes(twice);
    Model exposed = convChain({{1, 16, 6, 6}, {16, 16, 3, 3}}, {"Relu"});
    exposed.graph.outputs.push_back({"c", DType::Float32, {}, false});
    // Max with a constant of a higher rank than the Conv's output broadcasts it to that rank: not a Clip.
    Model widened = convChain({{2, 4, 20}, {6, 4, 3}}, {"MaxOfRank4"});
    // A float16 Conv computed as declared rounds its output before the activation reads it: LeakyRelu
    // computes, so it does not fuse.
    Model half = halfPrecision(convChain({{1, 16, 6, 6}, {16, 16, 3, 3}}, {"LeakyRelu"}));
    QCOMPARE(widened.graph.values.at("a0").shape, Shape({1, -1, 6, 20}));
    for (const Model *m : {&twice, &exposed, &widened, &half}) {
        const Session s(*m, m == &half ? declaredOptions() : SessionOptions{});
        QCOMPARE(s.executedGraph().nodes.size(), m->graph.nodes.size());
    }
    // In float32 between the nodes (the default) it fuses like a float32 Conv; the output is rounded once, by
    // the Cast added for the float16 graph output. (A 1x3 kernel: a fused and an unfused 3x3 convolution may
    // take different algorithms.)
    {
        const Model half13 = halfPrecision(convChain({{1, 16, 6, 6}, {16, 16, 1, 3}}, {"LeakyRelu"}));
        const Session s(half13);
        QCOMPARE(s.executedGraph().nodes.size(), size_t(2));
        QCOMPARE(s.executedGraph().nodes.back().opType, std::string("Cast"));
        const Tensor x = randomTensor({1, 16, 6, 6}, 7, -2.f, 2.f).castTo(DType::Float16);
        const Tensor a = s.run(x), b = Session(half13, unfusedOptions()).run(x);
        QCOMPARE(a.dtype(), DType::Float16);
        QVERIFY(std::memcmp(a.rawData(), b.rawData(), size_t(a.byteSize())) == 0);
    }
    // Fusion leaves the model it is given alone.
    int fused = -1;
    const Model original = convChain({{1, 16, 6, 6}, {16, 16, 3, 3}}, {"LeakyRelu", "Max"});
    const Model f = fuseForInference(original, &fused);
    QCOMPARE(fused, 2);
    QCOMPARE(original.graph.nodes.size(), size_t(3));
    QCOMPARE(f.graph.nodes.size(), size_t(1));
    QCOMPARE(fusedActivations(f.graph.nodes[0]).size(), size_t(2));
    QVERIFY(fusedActivations(original.graph.nodes[0]).empty());
}

void TestFusion::halfPrecisionClipsFuseExactly()
{
    // After a float16 Conv, Relu and clips to float16 bounds fuse, and the single rounding of the fused node gives
    // the graph's values bit for bit (the 0.3 of Min rounds to a float16 number when the constant is made). A 1x3
    // kernel: a fused and an unfused 3x3 convolution may take different algorithms (Winograd or direct).
    for (const QStringList &chain : {QStringList{"Relu"}, QStringList{"Min", "Relu"}, QStringList{"ClipInputs"}}) {
        const Model m = halfPrecision(convChain({{2, 16, 9, 9}, {24, 16, 1, 3}}, chain));
        const Session fused(m, declaredOptions()), plain(m, unfusedOptions(HalfFloats::Declared));
        QCOMPARE(fused.executedGraph().nodes.size(), size_t(1));
        const Tensor x = randomTensor({2, 16, 9, 9}, 1, -2.f, 2.f).castTo(DType::Float16);
        const Tensor a = fused.run(x), b = plain.run(x);
        QCOMPARE(a.dtype(), DType::Float16);
        QCOMPARE(a.shape(), b.shape());
        QVERIFY(std::memcmp(a.rawData(), b.rawData(), size_t(a.byteSize())) == 0);
    }
}

void TestFusion::subgraphsReadOuterConstants()
{
    // y = If(c, then: x * k, else: x + k) with k a main-graph initializer the branches read from the enclosing
    // graph, or a value the main graph folds (a weight-only layer's DequantizeLinear of int8 values): an inference
    // Session bakes k into the branches' Sessions (folded and packed once); fed by name, k reaches them through the
    // unfused plan as before.
    for (const bool folded : {false, true}) {
        Model m;
        m.opsetVersion = 17;
        Graph &g = m.graph;
        g.inputs.push_back({"x", DType::Float32, {2}, true});
        g.inputs.push_back({"c", DType::UInt8, {}, true});
        if (folded) {
            Tensor kq(DType::Int8, {2});
            kq.data<int8_t>()[0] = 6;
            kq.data<int8_t>()[1] = 8;
            g.initializers["kq"] = kq;
            g.initializers["ks"] = Tensor::scalar(0.5f);
            g.nodes.push_back(node("dequantize", "DequantizeLinear", {"kq", "ks"}, {"k"}));
        } else {
            g.initializers["k"] = Tensor::fromFloats({2}, {3.f, 4.f});
        }
        auto branch = [](const char *op, const char *out) {
            Graph b;
            b.nodes.push_back(node(std::string(op) + "_" + out, op, {"x", "k"}, {out}));
            b.outputs.push_back({out, DType::Float32, {2}, true});
            return b;
        };
        Node cond = node("if", "If", {"c"}, {"y"});
        cond.attrs["then_branch"] = Attribute::makeGraph(branch("Mul", "t"));
        cond.attrs["else_branch"] = Attribute::makeGraph(branch("Add", "e"));
        g.nodes.push_back(cond);
        g.outputs.push_back({"y", DType::Float32, {2}, true});
        inferShapes(m);
        const Session fused(m), plain(m, unfusedOptions());
        const Tensor x = Tensor::fromFloats({2}, {1.f, 2.f});
        const Tensor yes = Tensor::fromInt64s({}, {1}).castTo(DType::UInt8);
        const Tensor no = Tensor::fromInt64s({}, {0}).castTo(DType::UInt8);
        for (int run = 0; run < 2; ++run) { // the second run on what the first prepared
            QCOMPARE(fused.run({{"x", x}, {"c", yes}}).at("y").toFloatVector(), (std::vector<float>{3.f, 8.f}));
            QCOMPARE(fused.run({{"x", x}, {"c", no}}).at("y").toFloatVector(), (std::vector<float>{4.f, 6.f}));
            QCOMPARE(plain.run({{"x", x}, {"c", no}}).at("y").toFloatVector(), (std::vector<float>{4.f, 6.f}));
        }
        const Tensor k = Tensor::fromFloats({2}, {10.f, 10.f});
        QCOMPARE(fused.run({{"x", x}, {"c", yes}, {"k", k}}).at("y").toFloatVector(), (std::vector<float>{10.f, 20.f}));
        QCOMPARE(plain.run({{"x", x}, {"c", yes}, {"k", k}}).at("y").toFloatVector(), (std::vector<float>{10.f, 20.f}));
    }
}

void TestFusion::runOnceSkipsWinograd()
{
    // A 3x3 stride-1 convolution: Winograd where oneDNN has it (AVX-512 machines) unless it is ruled out.
    ConvGeometry g;
    g.batch = 1;
    g.inChannels = g.outChannels = 32;
    g.inH = g.inW = g.outH = g.outW = 64;
    g.kH = g.kW = 3;
    g.padTop = g.padLeft = g.padBottom = g.padRight = 1;
    const std::string direct = onednn::convImplementation(g, false), any = onednn::convImplementation(g, true);
    QVERIFY(!direct.empty());
    QVERIFY2(direct.find("wino") == std::string::npos, direct.c_str());
    if (any.find("wino") == std::string::npos)
        qInfo("oneDNN has no Winograd convolution on this machine (%s)", any.c_str());
    // The same values either way, to the rounding of the two algorithms.
    const Model m = convChain({{1, 32, 64, 64}, {32, 32, 3, 3}}, {"Relu"});
    SessionOptions once;
    once.runOnce = true;
    const Tensor x = randomTensor({1, 32, 64, 64}, 5, -2.f, 2.f);
    const Tensor a = Session(m, once).run(x), b = Session(m).run(x);
    const QString diff = compareTensors(a, b, 2e-6, maxAbs(b));
    QVERIFY2(diff.isEmpty(), qPrintable(diff));
}

// With AVX-512, a convolution of a short reduction (at most 72 products per output) over many output positions, whose
// im2col matrix stays small, runs im2col and one gemm instead of oneDNN (onednn::convPreferred), with oneDNN's values
// to the rounding; with AVX2 oneDNN keeps it.
void TestFusion::shortReductionsRunIm2col()
{
    const std::array<std::pair<Geometry, bool>, 5> cases{{
        {{{1, 24, 74, 32}, {24, 24, 1, 3}}, true},     // oww-embedding's second layer (76 x 32 positions here)
        {{{1, 1, 76, 32}, {24, 1, 3, 3}}, true},       // and its first
        {{{1, 24, 20, 20}, {24, 24, 1, 3}}, false},    // 440 positions
        {{{1, 32, 74, 32}, {32, 32, 3, 3}}, false},    // 288 products per output
        {{{1, 3, 1024, 1024}, {8, 3, 3, 3}}, false},   // an im2col matrix of 28 million values
    }};
    for (const auto &[geo, shortReduction] : cases) {
        const Model m = convChain(geo, {});
        const ConvGeometry g = convGeometry(m.graph.nodes[0], geo.x, geo.w);
        QCOMPARE(onednn::convPreferred(g, 1), !(shortReduction && cpuHas(CpuFeature::Avx512Bw)));
        if (!shortReduction)
            continue;
        const Tensor x = randomTensor(geo.x, 4);
        for (int threads : {1, 2}) {
            Tensor reference;
            QVERIFY(onednn::convForward(g, x, 0, m.graph.initializers.at("w"), {true},
                                        m.graph.initializers.at("b").f32(), {}, reference, threads));
            const Tensor y = Session(m, {threads}).run(x);
            const QString diff = compareTensors(y, reference, 1e-5, maxAbs(reference));
            QVERIFY2(diff.isEmpty(), qPrintable(diff));
        }
    }
}

// Activations kept in oneDNN's channel-blocked layout between layers (runtime/blocked.h).
void TestFusion::blockedLayoutRoundTrip()
{
    // Planes of 15, 16 and 49 pixels: 8 pixels at a time in registers, and the rest one by one.
    for (const Shape &shape : {Shape{2, 32, 5, 3}, Shape{1, 16, 4, 4}, Shape{3, 48, 7, 7}}) {
        const Tensor x = randomTensor(shape, 9);
        const int64_t C = shape[1], H = shape[2], W = shape[3];
        for (int64_t block : {8, 16}) {
            const Tensor b = blocked::toBlocked(x, block);
            QCOMPARE(b.shape(), Shape({shape[0], C / block, H, W, block}));
            // Channel c of pixel (h, w) sits at lane c % block of group c / block.
            for (const auto &[n, c, h, w] : {std::array<int64_t, 4>{0, 0, 0, 0}, {0, 15, 1, 2}, {shape[0] - 1, C - 1,
                                                                                                   H - 1, W - 1}})
                QCOMPARE(b.f32()[(((n * (C / block) + c / block) * H + h) * W + w) * block + c % block],
                         x.f32()[((n * C + c) * H + h) * W + w]);
            QCOMPARE(blocked::plainShape(b), x.shape());
            QCOMPARE(compareTensors(blocked::toPlain(b), x, 0), QString());
        }
    }
}

// oneDNN writes the blocked layout it computes in when asked, and reads one: the values are those of the plain
// convolution, permuted.
void TestFusion::blockedConvolution()
{
    for (const Geometry &geo : {Geometry{{3, 16, 9, 7}, {24, 16, 3, 3}}, Geometry{{3, 1, 12, 10}, {16, 1, 3, 3}}}) {
        const Model m = convChain(geo, {});
        const ConvGeometry g = convGeometry(m.graph.nodes[0], geo.x, geo.w);
        const Tensor x = randomTensor(geo.x, 4), &w = m.graph.initializers.at("w"), &b = m.graph.initializers.at("b");
        for (int threads : {1, 2}) {
            Tensor plain, out;
            QVERIFY(onednn::convForward(g, x, 0, w, {true}, b.f32(), {}, plain, threads));
            QCOMPARE(plain.shape(), Shape({3, geo.w[0], g.outH, g.outW}));
            QVERIFY(onednn::convForward(g, x, 0, w, {true}, b.f32(), {}, out, threads, true, true));
            if (out.rank() != 5)
                QSKIP("oneDNN computes this convolution in the plain layout on this machine");
            QCOMPARE(compareTensors(blocked::toPlain(out), plain, 0), QString());
            if (geo.x[1] % out.dim(4) == 0) { // a blocked input gives the plain input's result
                Tensor fromBlocked;
                QVERIFY(onednn::convForward(g, blocked::toBlocked(x, out.dim(4)), out.dim(4), w, {true}, b.f32(), {},
                                            fromBlocked, threads));
                QCOMPARE(compareTensors(fromBlocked, plain, 0), QString());
            }
        }
    }
}

// A Session names its constant convolution weights with an id of its own (onednn::WeightsIdentity), so the packed
// form another Session made of the same buffer is not taken for them: weights edited in place between two
// Sessions (a model changed after a first run) give the second Session the new weights' outputs, the same as a
// Session over a copy of them, on its first run and on the next.
void TestFusion::sessionWeightsPackedPerSession()
{
    const Geometry geo{{2, 16, 9, 7}, {24, 16, 3, 3}};
    Model m = convChain(geo, {});
    const Tensor x = randomTensor(geo.x, 5);
    const Tensor before = Session(m).run(x);
    Session first(m);
    QCOMPARE(compareTensors(first.run(x), before, 0), QString());
    Tensor &w = m.graph.initializers.at("w"); // the buffer the first Session holds
    for (int64_t i = 0; i < w.numel(); ++i)
        w.f32()[i] = -w.f32()[i];
    Model copy = m;
    copy.graph.initializers["w"] = w.clone();
    const Tensor expected = Session(copy).run(x);
    QVERIFY(compareTensors(expected, before, 1e-3) != QString());
    const Session second(m);
    QCOMPARE(compareTensors(second.run(x), expected, 0), QString());
    QCOMPARE(compareTensors(second.run(x), expected, 0), QString());
}

void TestFusion::blockedPooling_data()
{
    QTest::addColumn<QString>("op");
    QTest::addColumn<QList<int>>("kernel"); // kH, kW, strides, pads (4), dilations, ceil_mode, count_include_pad
    QTest::addRow("MaxPool 2x2/2") << "MaxPool" << QList<int>{2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 0, 0};
    QTest::addRow("MaxPool 3x3/2 padded, ceil") << "MaxPool" << QList<int>{3, 3, 2, 2, 1, 0, 1, 1, 1, 1, 1, 0};
    QTest::addRow("MaxPool 1x3 dilated") << "MaxPool" << QList<int>{1, 3, 1, 1, 0, 1, 0, 1, 1, 2, 0, 0};
    QTest::addRow("AveragePool 3x3/2 padded") << "AveragePool" << QList<int>{3, 3, 2, 2, 1, 1, 1, 0, 1, 1, 0, 0};
    QTest::addRow("AveragePool counting pads, ceil") << "AveragePool" << QList<int>{3, 2, 2, 2, 1, 1, 0, 1, 1, 1, 1, 1};
    QTest::addRow("GlobalAveragePool") << "GlobalAveragePool" << QList<int>{};
    QTest::addRow("GlobalMaxPool") << "GlobalMaxPool" << QList<int>{};
}

// A pooling of a blocked activation gives the plain pooling's values exactly.
void TestFusion::blockedPooling()
{
    QFETCH(QString, op);
    QFETCH(QList<int>, kernel);
    Node plain = node("pool", op.toStdString(), {"x"}, {"y"});
    if (!kernel.isEmpty()) {
        plain.attrs["kernel_shape"] = Attribute::makeInts({kernel[0], kernel[1]});
        plain.attrs["strides"] = Attribute::makeInts({kernel[2], kernel[3]});
        plain.attrs["pads"] = Attribute::makeInts({kernel[4], kernel[5], kernel[6], kernel[7]});
        plain.attrs["dilations"] = Attribute::makeInts({kernel[8], kernel[9]});
        plain.attrs["ceil_mode"] = Attribute::makeInt(kernel[10]);
        plain.attrs["count_include_pad"] = Attribute::makeInt(kernel[11]);
    }
    Node marked = plain;
    marked.attrs[blocked::kInputs] = Attribute::makeInts({0});
    const Tensor x = randomTensor({3, 32, 11, 9}, 8);
    OpContext reference{plain, {&x}, {}, 2};
    runNode(plain, reference, Model());
    for (bool leave : {false, true}) {
        marked.attrs[blocked::kOutput] = Attribute::makeInt(leave);
        for (int64_t block : {8, 16}) {
            const Tensor xb = blocked::toBlocked(x, block);
            OpContext ctx{marked, {&xb}, {}, 2};
            runNode(marked, ctx, Model());
            const Tensor &y = ctx.outputs[0];
            const bool isBlocked = leave && !op.startsWith("Global");
            QCOMPARE(y.rank(), isBlocked ? 5 : 4);
            QCOMPARE(compareTensors(isBlocked ? blocked::toPlain(y) : y, reference.outputs[0], 0), QString());
        }
    }
}

void TestFusion::blockedChainsEqualUnfused_data()
{
    QTest::addColumn<int>("inChannels");
    QTest::addColumn<QString>("tail");
    QTest::addColumn<int>("threads");
    for (int threads : {1, 2})
        for (const char *tail : {"GlobalAveragePool", "AveragePool", "Flatten", "MixedAdd", "Output"}) {
            QTest::addRow("16 channels, %s, %d threads", tail, threads) << 16 << QString(tail) << threads;
            QTest::addRow("1 channel, %s, %d threads", tail, threads) << 1 << QString(tail) << threads;
        }
}

// x → Conv+Relu → MaxPool → Conv → Add(·, the pool) → Relu → tail: every value up to the tail stays blocked; the
// tail reads it (a global pooling, a pooling, Flatten, an Add with a plain value) or makes it a graph output.
void TestFusion::blockedChainsEqualUnfused()
{
    QFETCH(int, inChannels);
    QFETCH(QString, tail);
    QFETCH(int, threads);
    Model m;
    m.opsetVersion = 17;
    Graph &g = m.graph;
    g.inputs.push_back({"x", DType::Float32, {-1, inChannels, 12, 12}, true, {"batch"}});
    g.inputs.push_back({"z", DType::Float32, {-1, 24, 6, 6}, true, {"batch"}});
    g.initializers["w1"] = randomTensor({24, int64_t(inChannels), 3, 3}, 2);
    g.initializers["b1"] = randomTensor({24}, 3);
    g.initializers["w2"] = randomTensor({24, 24, 3, 3}, 4, -0.3f, 0.3f);
    Node conv1 = node("conv1", "Conv", {"x", "w1", "b1"}, {"c1"});
    conv1.attrs["pads"] = Attribute::makeInts({1, 1, 1, 1});
    Node pool = node("pool", "MaxPool", {"r1"}, {"p"});
    pool.attrs["kernel_shape"] = Attribute::makeInts({2, 2});
    pool.attrs["strides"] = Attribute::makeInts({2, 2});
    Node conv2 = node("conv2", "Conv", {"p", "w2"}, {"c2"});
    conv2.attrs["pads"] = Attribute::makeInts({1, 1, 1, 1});
    g.nodes = {conv1, node("relu1", "Relu", {"c1"}, {"r1"}), pool, conv2, node("add", "Add", {"c2", "p"}, {"s"}),
               node("relu2", "Relu", {"s"}, {"r2"})};
    std::string out = "r2";
    if (tail == "GlobalAveragePool") {
        g.nodes.push_back(node("gap", "GlobalAveragePool", {"r2"}, {"y"}));
    } else if (tail == "AveragePool") {
        Node avg = node("avg", "AveragePool", {"r2"}, {"y"});
        avg.attrs["kernel_shape"] = Attribute::makeInts({3, 3});
        avg.attrs["pads"] = Attribute::makeInts({1, 0, 1, 1});
        avg.attrs["strides"] = Attribute::makeInts({2, 2});
        g.nodes.push_back(avg);
    } else if (tail == "Flatten") {
        g.nodes.push_back(node("flatten", "Flatten", {"r2"}, {"y"}));
    } else if (tail == "MixedAdd") {
        g.nodes.push_back(node("mixed", "Add", {"z", "r2"}, {"y"}));
    }
    if (tail != "Output")
        out = "y";
    g.outputs.push_back({out, DType::Float32, {}, false});
    inferShapes(m);
    SessionOptions options;
    options.threads = threads;
    const Session fused(m, options), plain(m, unfusedOptions());
    int marked = 0;
    for (const Node &n : fused.executedGraph().nodes)
        marked += blocked::mayLeave(n);
    // conv1 (its Relu and the pool fused), conv2 and the Add; the last Relu when its reader computes on blocked
    // values.
    const bool tailReads = tail == "GlobalAveragePool" || tail == "AveragePool" || tail == "MixedAdd";
    QCOMPARE(marked, 3 + tailReads);
    QVERIFY(hasFusedMaxPool(fused.executedGraph().nodes[0]));
    const std::map<std::string, Tensor> feeds{{"x", randomTensor({5, int64_t(inChannels), 12, 12}, 1, -2.f, 2.f)},
                                              {"z", randomTensor({5, 24, 6, 6}, 6)}};
    const QString diff = compareTensors(fused.run(feeds).at(out), plain.run(feeds).at(out), 2e-6);
    QVERIFY2(diff.isEmpty(), qPrintable(diff));
    // Values kept blocked leave plain when asked for by name.
    for (const std::string name : {"r1", "p", "c2", "s"}) {
        const Tensor a = fused.run(feeds, {name}).at(name), b = plain.run(feeds, {name}).at(name);
        QCOMPARE(a.shape(), b.shape());
        const QString d = compareTensors(a, b, 2e-6);
        QVERIFY2(d.isEmpty(), qPrintable(d));
    }
}

void TestFusion::fusedMaxPool_data()
{
    QTest::addColumn<int>("inChannels");
    QTest::addColumn<int>("batch");
    QTest::addColumn<int>("threads");
    QTest::addColumn<QList<int>>("pool"); // kernel, stride, pads (4), ceil_mode
    QTest::addColumn<bool>("output");     // the pool's output is the graph output (else a Conv reads it)
    QTest::addColumn<int>("side");        // the images' height and width
    const QList<int> twoByTwo{2, 2, 0, 0, 0, 0, 0}, padded{3, 2, 1, 1, 0, 1, 1};
    for (int threads : {1, 2})
        for (bool output : {true, false}) {
            // 40 x 40 images: each image's convolution output (24 x 40 x 40 floats) fills a slice of its own
            QTest::addRow("16 ch, 7 images, 2x2, %d threads, %s", threads, output ? "out" : "conv")
                << 16 << 7 << threads << twoByTwo << output << 40;
            QTest::addRow("1 ch, 7 images, 3x3/2 padded ceil, %d threads, %s", threads, output ? "out" : "conv")
                << 1 << 7 << threads << padded << output << 40;
            QTest::addRow("16 ch, 1 image, 3x3/2 padded ceil, %d threads, %s", threads, output ? "out" : "conv")
                << 16 << 1 << threads << padded << output << 40;
            // 120 x 120: one image's output is larger than a slice (the convolution alone, then the pool)
            QTest::addRow("16 ch, 2 large images, 2x2, %d threads, %s", threads, output ? "out" : "conv")
                << 16 << 2 << threads << twoByTwo << output << 120;
        }
}

// x → Conv+Relu → MaxPool (→ Conv): the MaxPool runs inside the Conv, a slice of images at a time, with the values
// of the graph as it is.
void TestFusion::fusedMaxPool()
{
    QFETCH(int, inChannels);
    QFETCH(int, batch);
    QFETCH(int, threads);
    QFETCH(QList<int>, pool);
    QFETCH(bool, output);
    QFETCH(int, side);
    Model m;
    m.opsetVersion = 17;
    Graph &g = m.graph;
    g.inputs.push_back({"x", DType::Float32, {-1, inChannels, side, side}, true, {"batch"}});
    g.initializers["w1"] = randomTensor({24, int64_t(inChannels), 3, 3}, 2);
    g.initializers["b1"] = randomTensor({24}, 3);
    g.initializers["w2"] = randomTensor({16, 24, 3, 3}, 4, -0.3f, 0.3f);
    Node conv1 = node("conv1", "Conv", {"x", "w1", "b1"}, {"c1"});
    conv1.attrs["pads"] = Attribute::makeInts({1, 1, 1, 1});
    Node mp = node("pool", "MaxPool", {"r1"}, {"p"});
    mp.attrs["kernel_shape"] = Attribute::makeInts({pool[0], pool[0]});
    mp.attrs["strides"] = Attribute::makeInts({pool[1], pool[1]});
    mp.attrs["pads"] = Attribute::makeInts({pool[2], pool[3], pool[4], pool[5]});
    mp.attrs["ceil_mode"] = Attribute::makeInt(pool[6]);
    g.nodes = {conv1, node("relu1", "Relu", {"c1"}, {"r1"}), mp};
    if (!output)
        g.nodes.push_back(node("conv2", "Conv", {"p", "w2"}, {"y"}));
    const std::string out = output ? "p" : "y";
    g.outputs.push_back({out, DType::Float32, {}, false});
    inferShapes(m);
    SessionOptions options;
    options.threads = threads;
    const Session fused(m, options), plain(m, unfusedOptions());
    QCOMPARE(fused.executedGraph().nodes.size(), size_t(output ? 1 : 2));
    QVERIFY(hasFusedMaxPool(fused.executedGraph().nodes[0]));
    const std::map<std::string, Tensor> feeds{
        {"x", randomTensor({int64_t(batch), int64_t(inChannels), int64_t(side), int64_t(side)}, 1, -2.f, 2.f)}};
    const Tensor a = fused.run(feeds).at(out), b = plain.run(feeds).at(out);
    QCOMPARE(a.shape(), b.shape());
    const QString diff = compareTensors(a, b, 2e-6);
    QVERIFY2(diff.isEmpty(), qPrintable(diff));
}

void TestFusion::quantizedTables_data()
{
    QTest::addColumn<QString>("producer");  // QLinearConv, QLinearMatMul or QGemm
    QTest::addColumn<QStringList>("chain"); // the float nodes between the DequantizeLinear and the QuantizeLinear
    QTest::addColumn<bool>("signedConv");   // the producer writes int8 (else uint8)
    QTest::addColumn<bool>("signedOut");    // the QuantizeLinear writes int8 (else uint8)
    QTest::addColumn<bool>("requantized");  // a QuantizeLinear ends the chain (else its float values are the output)
    QTest::addColumn<QString>("fusedOps");  // the executed graph's op types ("" when nothing fuses)
    const QString table = "QuantizeLinear %1 DequantizeLinear", pooled = "QuantizeLinear %1 MaxPool DequantizeLinear";
    for (bool signedConv : {false, true})
        for (bool signedOut : {false, true}) {
            const char *types = signedConv ? (signedOut ? "s8 -> s8" : "s8 -> u8") : (signedOut ? "u8 -> s8" : "u8 -> u8");
            QTest::addRow("LeakyRelu, Max, %s", types) << "QLinearConv" << QStringList{"LeakyRelu", "Max"} << signedConv
                                                       << signedOut << true << table.arg("QLinearConv");
            QTest::addRow("LeakyRelu, Max, MaxPool, %s", types)
                << "QLinearConv" << QStringList{"LeakyRelu", "Max", "MaxPool"} << signedConv << signedOut << true
                << pooled.arg("QLinearConv");
        }
    QTest::addRow("nothing between") << "QLinearConv" << QStringList{} << false << false << true << table.arg("QLinearConv");
    QTest::addRow("HardSwish, Sigmoid")
        << "QLinearConv" << QStringList{"HardSwish", "Sigmoid"} << false << false << true << table.arg("QLinearConv");
    QTest::addRow("Relu, MaxPool, Clip") << "QLinearConv" << QStringList{"Relu", "MaxPool", "ClipInputs"} << false
                                         << false << true << pooled.arg("QLinearConv");
    QTest::addRow("QLinearMatMul: Relu, MaxPool")
        << "QLinearMatMul" << QStringList{"Relu", "MaxPool"} << true << false << true << pooled.arg("QLinearMatMul");
    // QGemm reads the float input and quantizes it itself (quantizesInput).
    QTest::addRow("QGemm: LeakyRelu, Tanh")
        << "QGemm" << QStringList{"LeakyRelu", "Tanh"} << false << true << true << "QGemm DequantizeLinear";
    // A MaxPool runs on the integers only after activations that never decrease: HardSwish dips below zero.
    QTest::addRow("HardSwish, MaxPool: not fused")
        << "QLinearConv" << QStringList{"HardSwish", "MaxPool"} << false << false << true << QString();
    // Without a QuantizeLinear after them, the DequantizeLinear and activations become a table of float values.
    QTest::addRow("Add after: the DequantizeLinear fuses")
        << "QLinearConv" << QStringList{"Add"} << false << false << true << "QuantizeLinear QLinearConv Add QuantizeLinear DequantizeLinear";
    QTest::addRow("float end: Relu, Sigmoid")
        << "QLinearConv" << QStringList{"Relu", "Sigmoid"} << false << false << false << "QuantizeLinear QLinearConv";
    QTest::addRow("float end: nothing between, s8")
        << "QLinearMatMul" << QStringList{} << true << false << false << "QuantizeLinear QLinearMatMul";
    QTest::addRow("float end: QGemm, Tanh") << "QGemm" << QStringList{"Tanh"} << false << false << false << "QGemm";
    QTest::addRow("float end: MaxPool, not fused")
        << "QLinearConv" << QStringList{"Relu", "MaxPool"} << false << false << false << QString();
}

// QuantizeLinear → a quantized product → DequantizeLinear → the chain → QuantizeLinear → DequantizeLinear: the float
// stages after the product become one table applied to its output (fusedTable), with the integers the graph as it
// is computes, bit for bit; a MaxPool among them then runs on the integers. Without the last two nodes the chain's
// float values come out of a table, bit for bit too.
void TestFusion::quantizedTables()
{
    QFETCH(QString, producer);
    QFETCH(QStringList, chain);
    QFETCH(bool, signedConv);
    QFETCH(bool, signedOut);
    QFETCH(bool, requantized);
    QFETCH(QString, fusedOps);
    // 2 x 16 x 11 x 11 bytes out of the convolution (64 at a time and a tail), 2 x 8 x 11 x 16 out of the matrix
    // product, 22 x 16 out of QGemm.
    const Shape xShape = producer == "QGemm" ? Shape{22, 8} : Shape{2, 8, 11, 11};
    Model m;
    m.opsetVersion = 17;
    m.domainOpsets["com.microsoft"] = 1;
    Graph &g = m.graph;
    Shape declared = xShape;
    declared[0] = -1;
    g.inputs.push_back({"x", DType::Float32, declared, true, {"batch"}});
    g.initializers["xs"] = Tensor::scalar(2.f / 255.f);
    g.initializers["xzp"] = zeroPoint(false, 128);
    const Shape wShape = producer == "QLinearConv" ? Shape{16, 8, 3, 3} : producer == "QLinearMatMul" ? Shape{11, 16}
                                                                                                       : Shape{8, 16};
    Tensor w(DType::Int8, wShape);
    std::mt19937 rng(5);
    for (int64_t i = 0; i < w.numel(); ++i)
        w.data<int8_t>()[i] = int8_t(int(rng() % 255) - 127);
    g.initializers["w"] = w;
    g.initializers["ws"] = randomTensor({16}, 6, 0.002f, 0.004f);
    g.initializers["wzp"] = Tensor(DType::Int8, {16});
    g.initializers["ys"] = Tensor::scalar(0.05f);
    g.initializers["yzp"] = zeroPoint(signedConv, signedConv ? -3 : 120);
    g.initializers["qs"] = Tensor::scalar(0.03f);
    g.initializers["qzp"] = zeroPoint(signedOut, signedOut ? 5 : 100);
    Node product = producer == "QGemm"
                       ? node("product", "QGemm", {"xq", "xs", "xzp", "w", "ws", "wzp", "", "ys", "yzp"}, {"yq"})
                       : node("product", producer.toStdString(), {"xq", "xs", "xzp", "w", "ws", "wzp", "ys", "yzp"}, {"yq"});
    if (producer == "QLinearConv") {
        product.inputs[5] = "";
        product.attrs["pads"] = Attribute::makeInts({1, 1, 1, 1});
    }
    if (producer == "QGemm")
        product.domain = "com.microsoft";
    g.nodes = {node("quantize", "QuantizeLinear", {"x", "xs", "xzp"}, {"xq"}), product,
               node("dequantize", "DequantizeLinear", {"yq", "ys", "yzp"}, {"y"})};
    std::string value = "y";
    for (int k = 0; k < chain.size(); ++k) {
        const std::string op = chain[k].toStdString(), out = "a" + std::to_string(k);
        Node n = node(out, op, {value}, {out});
        if (op == "LeakyRelu") {
            n.attrs["alpha"] = Attribute::makeFloat(0.2f);
        } else if (op == "Max" || op == "Add") {
            g.initializers[out + ".c"] = Tensor::fromFloats({1}, {-0.3f});
            n.inputs.push_back(out + ".c");
        } else if (op == "MaxPool") {
            n.attrs["kernel_shape"] = Attribute::makeInts({2, 2});
            n.attrs["strides"] = Attribute::makeInts({2, 2});
        } else if (op == "ClipInputs") {
            n.opType = "Clip";
            g.initializers[out + ".hi"] = Tensor::scalar(1.5f);
            n.inputs = {value, "", out + ".hi"};
        }
        g.nodes.push_back(n);
        value = out;
    }
    if (requantized) {
        g.nodes.push_back(node("requantize", "QuantizeLinear", {value, "qs", "qzp"}, {"zq"}));
        g.nodes.push_back(node("out", "DequantizeLinear", {"zq", "qs", "qzp"}, {"z"}));
        value = "zq";
    }
    g.outputs.push_back({requantized ? "z" : value, DType::Float32, {}, false});
    inferShapes(m);
    const Session fused(m), plain(m, unfusedOptions());
    QCOMPARE(opTypes(fused.executedGraph().nodes).join(' '),
             fusedOps.isEmpty() ? opTypes(g.nodes).join(' ') : fusedOps);
    const std::vector<Node> &executed = fused.executedGraph().nodes;
    const auto made = std::find_if(executed.begin(), executed.end(),
                                   [&](const Node &n) { return n.opType == producer.toStdString(); });
    QVERIFY(made != executed.end());
    QCOMPARE(fusedTable(*made) != nullptr, !fusedOps.isEmpty());
    QCOMPARE(quantizesInput(*made), producer == "QGemm");
    const std::map<std::string, Tensor> feeds{{"x", randomTensor(xShape, 1, -1.f, 1.f)}};
    const Tensor a = fused.run(feeds, {value}).at(value), b = plain.run(feeds, {value}).at(value);
    QCOMPARE(a.dtype(), !requantized ? DType::Float32 : signedOut ? DType::Int8 : DType::UInt8);
    QCOMPARE(a.shape(), b.shape());
    QCOMPARE(std::memcmp(a.rawData(), b.rawData(), a.byteSize()), 0);
    // Values spread over the output's range, so that the table is exercised beyond one saturated end.
    std::set<float> seen;
    for (int64_t i = 0; i < a.numel(); ++i)
        seen.insert(requantized ? float(static_cast<const uint8_t *>(a.rawData())[i]) : a.f32()[i]);
    QVERIFY2(seen.size() > 10, qPrintable(QString::number(seen.size())));
}

void TestFusion::quantizedInput_data()
{
    QTest::addColumn<bool>("isSigned");   // A is int8 (else uint8)
    QTest::addColumn<float>("aScale");    // the QGemm's a_scale; the QuantizeLinear's is 0.02
    QTest::addColumn<bool>("readElsewhere"); // the quantized A is a graph output too
    QTest::addColumn<bool>("fuses");
    QTest::addRow("u8") << false << 0.02f << false << true;
    QTest::addRow("s8") << true << 0.02f << false << true;
    QTest::addRow("another a_scale") << false << 0.021f << false << false;
    QTest::addRow("A read elsewhere") << true << 0.02f << true << false;
}

// QuantizeLinear → QGemm with the QuantizeLinear's scale and zero point as a_scale and a_zero_point: the QGemm reads
// the float values and quantizes them itself (quantizesInput), with the outputs of the graph as it is, bit for bit.
void TestFusion::quantizedInput()
{
    QFETCH(bool, isSigned);
    QFETCH(float, aScale);
    QFETCH(bool, readElsewhere);
    QFETCH(bool, fuses);
    Model m;
    m.opsetVersion = 17;
    m.domainOpsets["com.microsoft"] = 1;
    Graph &g = m.graph;
    g.inputs.push_back({"x", DType::Float32, {-1, 40}, true, {"batch"}});
    g.initializers["qs"] = Tensor::scalar(0.02f);
    g.initializers["as"] = Tensor::scalar(aScale);
    g.initializers["zp"] = zeroPoint(isSigned, isSigned ? -4 : 131);
    Tensor w(DType::Int8, {40, 24});
    std::mt19937 rng(9);
    for (int64_t i = 0; i < w.numel(); ++i)
        w.data<int8_t>()[i] = int8_t(int(rng() % 255) - 127);
    g.initializers["w"] = w;
    g.initializers["ws"] = randomTensor({24}, 3, 0.002f, 0.004f);
    Node product = node("product", "QGemm", {"xq", "as", "zp", "w", "ws"}, {"y"});
    product.domain = "com.microsoft";
    g.nodes = {node("quantize", "QuantizeLinear", {"x", "qs", "zp"}, {"xq"}), product};
    g.outputs.push_back({"y", DType::Float32, {}, false});
    if (readElsewhere)
        g.outputs.push_back({"xq", isSigned ? DType::Int8 : DType::UInt8, {}, false});
    inferShapes(m);
    const Session fused(m), plain(m, unfusedOptions());
    const QStringList ops = opTypes(fused.executedGraph().nodes);
    QCOMPARE(ops.join(' '), fuses ? QString("QGemm") : QString("QuantizeLinear QGemm"));
    for (const int64_t rows : {1, 5}) { // a few rows take the packed products
        const std::map<std::string, Tensor> feeds{{"x", randomTensor({rows, 40}, 2, -3.f, 3.f)}};
        const Tensor a = fused.run(feeds).at("y"), b = plain.run(feeds).at("y");
        QCOMPARE(a.shape(), (Shape{rows, 24}));
        QCOMPARE(std::memcmp(a.rawData(), b.rawData(), a.byteSize()), 0);
    }
}

void TestFusion::quantizedConcat_data()
{
    QTest::addColumn<bool>("signedOut");      // the QuantizeLinear after the Concat writes int8 (else uint8)
    QTest::addColumn<bool>("otherType");      // the first input's integers have the other type (read as float)
    QTest::addColumn<bool>("sharedDequantize"); // the first input's DequantizeLinear output is a graph output too
    QTest::addRow("u8") << false << false << false;
    QTest::addRow("s8") << true << false << false;
    QTest::addRow("u8, an s8 input") << false << true << false;
    QTest::addRow("s8, a DequantizeLinear read elsewhere") << true << false << true;
}

// DequantizeLinear → Concat ← float value, then QuantizeLinear: one QLinearConcat that requantizes the first
// input's integers (another grid), copies the third's (the output's grid) and quantizes the float one, with the
// integers the graph as it is computes, bit for bit.
void TestFusion::quantizedConcat()
{
    QFETCH(bool, signedOut);
    QFETCH(bool, otherType);
    QFETCH(bool, sharedDequantize);
    Model m;
    m.opsetVersion = 17;
    Graph &g = m.graph;
    g.inputs.push_back({"x", DType::Float32, {-1, 3, 5, 7}, true, {"batch"}});
    g.inputs.push_back({"f", DType::Float32, {-1, 2, 5, 7}, true, {"batch"}});
    const bool firstSigned = otherType ? !signedOut : signedOut;
    g.initializers["as"] = Tensor::scalar(0.011f);
    g.initializers["azp"] = zeroPoint(firstSigned, firstSigned ? -7 : 130);
    g.initializers["os"] = Tensor::scalar(0.008f);
    g.initializers["ozp"] = zeroPoint(signedOut, signedOut ? 4 : 120);
    g.nodes = {node("qa", "QuantizeLinear", {"x", "as", "azp"}, {"xa"}),
               node("da", "DequantizeLinear", {"xa", "as", "azp"}, {"a"}),
               node("qb", "QuantizeLinear", {"x", "os", "ozp"}, {"xb"}),
               node("db", "DequantizeLinear", {"xb", "os", "ozp"}, {"b"}),
               node("concat", "Concat", {"a", "f", "b"}, {"c"}),
               node("requantize", "QuantizeLinear", {"c", "os", "ozp"}, {"zq"}),
               node("out", "DequantizeLinear", {"zq", "os", "ozp"}, {"z"})};
    g.nodes[4].attrs["axis"] = Attribute::makeInt(1);
    g.outputs.push_back({"z", DType::Float32, {}, false});
    if (sharedDequantize)
        g.outputs.push_back({"a", DType::Float32, {}, false});
    inferShapes(m);
    const Session fused(m), plain(m, unfusedOptions());
    // QuantizeLinear x 2, [the first DequantizeLinear,] QLinearConcat, DequantizeLinear
    QCOMPARE(fused.executedGraph().nodes.size(), size_t(4 + (otherType || sharedDequantize ? 1 : 0)));
    const Node *concat = fused.executedGraph().findNode("concat");
    QVERIFY(concat && concat->opType == "QLinearConcat");
    const std::map<std::string, Tensor> feeds{{"x", randomTensor({2, 3, 5, 7}, 1, -1.5f, 1.5f)},
                                              {"f", randomTensor({2, 2, 5, 7}, 2, -1.5f, 1.5f)}};
    const Tensor a = fused.run(feeds, {"zq"}).at("zq"), b = plain.run(feeds, {"zq"}).at("zq");
    QCOMPARE(a.dtype(), signedOut ? DType::Int8 : DType::UInt8);
    QCOMPARE(a.shape(), (Shape{2, 8, 5, 7}));
    QCOMPARE(a.shape(), b.shape());
    QCOMPARE(std::memcmp(a.rawData(), b.rawData(), size_t(a.numel())), 0);
    // Values spread over the output's range, and some saturated (the inputs reach beyond it).
    std::set<uint8_t> seen(static_cast<const uint8_t *>(a.rawData()), static_cast<const uint8_t *>(a.rawData()) + a.numel());
    QVERIFY2(seen.size() > 100, qPrintable(QString::number(seen.size())));
}

void TestFusion::channelsLastIntegers_data()
{
    QTest::addColumn<int>("c1");         // channels out of the first convolution (the pool's)
    QTest::addColumn<int>("c2");         // out of the second
    QTest::addColumn<QList<int>>("pool"); // kernel, stride, pads (4), ceil_mode
    QTest::addColumn<bool>("signedOut"); // the convolutions write int8 (else uint8)
    QTest::addColumn<bool>("narrow");    // weights within ±63 (one product without VNNI; else two)
    QTest::addColumn<bool>("shared");    // the first convolution's integers are read by a DequantizeLinear too
    QTest::addColumn<int>("batch");
    QTest::addColumn<int>("threads");
    const QList<int> twoByTwo{2, 2, 0, 0, 0, 0, 0}, padded{3, 2, 1, 1, 0, 1, 1}, threeByTwo{3, 2, 0, 0, 0, 0, 0};
    for (int threads : {1, 2}) {
        // The pool's channels 32 and 16 wide with an overlapping last chunk, 8 wide, one by one. The pool is fused
        // into the first convolution: 2 x 2 and 3 x 3 / 2 windows pool its sums, padded ones its output.
        QTest::addRow("24 / 40 ch, 2x2, %d threads", threads)
            << 24 << 40 << twoByTwo << false << true << false << 3 << threads;
        QTest::addRow("40 / 24 ch, padded ceil, s8, %d threads", threads)
            << 40 << 24 << padded << true << false << false << 1 << threads;
        QTest::addRow("8 / 5 ch, padded ceil, %d threads", threads)
            << 8 << 5 << padded << false << false << false << 2 << threads;
        QTest::addRow("5 / 16 ch, 2x2, wide, %d threads", threads)
            << 5 << 16 << twoByTwo << false << false << false << 1 << threads;
        QTest::addRow("20 / 40 ch, 3x3/2, %d threads", threads)
            << 20 << 40 << threeByTwo << false << true << false << 3 << threads;
        QTest::addRow("24 / 40 ch, shared, %d threads", threads)
            << 24 << 40 << twoByTwo << false << true << true << 2 << threads;
    }
}

// x → QuantizeLinear → QLinearConv → MaxPool → QLinearConv → DequantizeLinear → Concat ← a float value and the
// pool's integers, then QuantizeLinear (one QLinearConcat) → QLinearConv → DequantizeLinear: the integers from the
// first QuantizeLinear to the last convolution stay channel-last (runtime/blocked.h), with the values of the graph
// as it is, bit for bit; asked for by name they leave plain.
void TestFusion::channelsLastIntegers()
{
    QFETCH(int, c1);
    QFETCH(int, c2);
    QFETCH(QList<int>, pool);
    QFETCH(bool, signedOut);
    QFETCH(bool, narrow);
    QFETCH(bool, shared);
    QFETCH(int, batch);
    QFETCH(int, threads);
    std::mt19937 rng(11);
    const auto weights = [&](Shape shape) {
        Tensor w(DType::Int8, shape);
        const int span = narrow ? 63 : 127;
        for (int64_t i = 0; i < w.numel(); ++i)
            w.data<int8_t>()[i] = int8_t(int(rng() % uint32_t(2 * span + 1)) - span);
        return w;
    };
    Model m;
    m.opsetVersion = 17;
    Graph &g = m.graph;
    g.inputs.push_back({"x", DType::Float32, {-1, 6, 14, 14}, true, {"batch"}});
    g.initializers["xs"] = Tensor::scalar(2.f / 255.f);
    g.initializers["xzp"] = zeroPoint(false, 128);
    const int64_t c3 = 12;
    const std::pair<const char *, Shape> convs[] = {
        {"1", {c1, 6, 3, 3}}, {"2", {c2, c1, 3, 3}}, {"3", {c3, c2 + 3 + c1, 3, 3}}};
    for (const auto &[k, shape] : convs) {
        const std::string name = k;
        g.initializers["w" + name] = weights(shape);
        g.initializers["ws" + name] = randomTensor({shape[0]}, uint32_t(shape[0]), 0.001f, 0.003f);
        Tensor bias(DType::Int32, {shape[0]});
        for (int64_t i = 0; i < shape[0]; ++i)
            bias.data<int32_t>()[i] = int32_t(rng() % 4001) - 2000;
        g.initializers["b" + name] = bias;
        g.initializers["ys" + name] = Tensor::scalar(name == "3" ? 0.2f : 0.05f);
        g.initializers["yzp" + name] = zeroPoint(signedOut, signedOut ? -5 : 110);
    }
    g.initializers["cs"] = Tensor::scalar(0.04f);
    g.initializers["czp"] = zeroPoint(signedOut, signedOut ? 3 : 120);
    const auto conv = [&](const std::string &k, const std::string &in, const std::string &scale, const std::string &zp) {
        Node n = node("conv" + k, "QLinearConv", {in, scale, zp, "w" + k, "ws" + k, "", "ys" + k, "yzp" + k, "b" + k},
                      {"y" + k});
        n.attrs["pads"] = Attribute::makeInts({1, 1, 1, 1});
        return n;
    };
    Node maxPool = node("pool", "MaxPool", {"y1"}, {"p"});
    maxPool.attrs["kernel_shape"] = Attribute::makeInts({pool[0], pool[0]});
    maxPool.attrs["strides"] = Attribute::makeInts({pool[1], pool[1]});
    maxPool.attrs["pads"] = Attribute::makeInts({pool[2], pool[3], pool[4], pool[5]});
    maxPool.attrs["ceil_mode"] = Attribute::makeInt(pool[6]);
    Node concat = node("concat", "Concat", {"d2", "f", "dp"}, {"c"});
    concat.attrs["axis"] = Attribute::makeInt(1);
    g.nodes = {node("quantize", "QuantizeLinear", {"x", "xs", "xzp"}, {"xq"}),
               conv("1", "xq", "xs", "xzp"),
               maxPool,
               conv("2", "p", "ys1", "yzp1"),
               node("dequantize2", "DequantizeLinear", {"y2", "ys2", "yzp2"}, {"d2"}),
               node("dequantizep", "DequantizeLinear", {"p", "ys1", "yzp1"}, {"dp"}),
               concat,
               node("requantize", "QuantizeLinear", {"c", "cs", "czp"}, {"cq"}),
               conv("3", "cq", "cs", "czp"),
               node("out", "DequantizeLinear", {"y3", "ys3", "yzp3"}, {"y"})};
    g.outputs.push_back({"y", DType::Float32, {}, false});
    if (shared) {
        g.nodes.push_back(node("dequantize1", "DequantizeLinear", {"y1", "ys1", "yzp1"}, {"d1"}));
        g.outputs.push_back({"d1", DType::Float32, {}, false});
    }
    g.inputs.push_back({"f", DType::Float32, {-1, 3, -1, -1}, true, {"batch", "", "height", "width"}});
    inferShapes(m);
    const Shape pooled = m.graph.valueInfo("p").shape;
    SessionOptions options;
    options.threads = threads;
    const Session fused(m, options), plain(m, unfusedOptions());
    // The QuantizeLinear's output, y1 and p, y2 (its DequantizeLinear goes into the QLinearConcat, not into the
    // convolution as a table of floats) and the QLinearConcat's output; y3 goes only to a DequantizeLinear, which
    // would convert it back. A DequantizeLinear that reads y1 besides the pool (shared) takes it channel-last;
    // otherwise y1 is gone, the pool fused into the first convolution.
    QStringList marked;
    for (const Node &n : fused.executedGraph().nodes)
        if (blocked::mayLeave(n))
            marked << QString::fromStdString(n.outputs[0]);
    QCOMPARE(marked.join(' '), QString(shared ? "xq y1 p y2 cq" : "xq p y2 cq"));
    QCOMPARE(hasFusedMaxPool(fused.executedGraph().nodes[1]), !shared);
    const std::map<std::string, Tensor> feeds{
        {"x", randomTensor({batch, 6, 14, 14}, 1, -1.f, 1.f)}, {"f", randomTensor({batch, 3, pooled.at(2), pooled.at(3)}, 2, -2.f, 2.f)}};
    for (const std::string name : {"y", "d1", "xq", "y1", "p", "y2", "cq", "y3"}) {
        if (name == "d1" && !shared)
            continue;
        const Tensor a = fused.run(feeds, {name}).at(name), b = plain.run(feeds, {name}).at(name);
        QCOMPARE(a.dtype(), b.dtype());
        QCOMPARE(a.shape(), b.shape());
        QVERIFY2(std::memcmp(a.rawData(), b.rawData(), a.byteSize()) == 0, name.c_str());
        if (name == "y") { // the integers spread over the output's range
            std::set<float> seen(a.f32(), a.f32() + a.numel());
            QVERIFY2(seen.size() > 25, qPrintable(QString::number(seen.size())));
        }
    }
}

void TestFusion::residualJoin_data()
{
    QTest::addColumn<QString>("source"); // of the join's integers: "convs", "inputs" (graph inputs), "mixed"
    QTest::addColumn<bool>("signedInts");
    QTest::addColumn<bool>("relu");
    QTest::addColumn<bool>("quantize"); // a QuantizeLinear after the join (else it ends in float)
    QTest::addColumn<bool>("shared");   // the skip's DequantizeLinear is a graph output too
    QTest::addColumn<int>("batch");
    QTest::addColumn<int>("threads");
    QTest::newRow("convs, u8, Relu, quantized") << "convs" << false << true << true << false << 1 << 1;
    QTest::newRow("convs, s8, Relu, quantized, 2 threads") << "convs" << true << true << true << false << 3 << 2;
    QTest::newRow("convs, u8, quantized without Relu") << "convs" << false << false << true << false << 2 << 1;
    QTest::newRow("convs, u8, Relu, float") << "convs" << false << true << false << false << 2 << 1;
    QTest::newRow("convs, u8, Relu, quantized, shared skip") << "convs" << false << true << true << true << 2 << 1;
    QTest::newRow("inputs, s8, Relu, quantized") << "inputs" << true << true << true << false << 2 << 1;
    QTest::newRow("inputs, u8, float without Relu") << "inputs" << false << false << false << false << 1 << 1;
    QTest::newRow("mixed layouts, u8, Relu, quantized") << "mixed" << false << true << true << false << 2 << 2;
}

// DequantizeLinear (a), DequantizeLinear (b) → Add → [Relu] → [QuantizeLinear]: one QLinearAdd computing the graph's
// arithmetic on the integers. With "convs", a comes from a QLinearConv and b from a second one reading a (a
// residual block), both channel-last, and the join's integers go on to a third, channel-last; the float end goes
// to a GlobalAveragePool. With "inputs", a and b are plain graph inputs; "mixed" has one of each. Every value the
// fused Session gives (asked for by name too) is the unfused graph's, bit for bit.
void TestFusion::residualJoin()
{
    QFETCH(QString, source);
    QFETCH(bool, signedInts);
    QFETCH(bool, relu);
    QFETCH(bool, quantize);
    QFETCH(bool, shared);
    QFETCH(int, batch);
    QFETCH(int, threads);
    std::mt19937 rng(5);
    const DType intType = signedInts ? DType::Int8 : DType::UInt8;
    const int lo = signedInts ? -128 : 0, hi = signedInts ? 127 : 255;
    const auto ints = [&](Shape shape) {
        Tensor t(intType, shape);
        for (int64_t i = 0; i < t.numel(); ++i)
            static_cast<uint8_t *>(t.rawData())[i] = uint8_t(lo + int(rng() % uint32_t(hi - lo + 1)));
        return t;
    };
    const int64_t C = 16, H = 6, W = 7;
    Model m;
    m.opsetVersion = 17;
    Graph &g = m.graph;
    g.initializers["xs"] = Tensor::scalar(2.f / 255.f);
    g.initializers["xzp"] = zeroPoint(signedInts, signedInts ? 0 : 128);
    const auto conv = [&](const std::string &k, const std::string &in, const std::string &scale, const std::string &zp,
                          int64_t inChannels) {
        Tensor w(DType::Int8, {C, inChannels, 3, 3});
        for (int64_t i = 0; i < w.numel(); ++i)
            w.data<int8_t>()[i] = int8_t(int(rng() % 255u) - 127);
        g.initializers["w" + k] = w;
        g.initializers["ws" + k] = randomTensor({C}, uint32_t(inChannels + k.size()), 0.001f, 0.003f);
        g.initializers["ys" + k] = Tensor::scalar(0.05f);
        g.initializers["yzp" + k] = zeroPoint(signedInts, signedInts ? -3 : 120);
        Node n = node("conv" + k, "QLinearConv", {in, scale, zp, "w" + k, "ws" + k, "", "ys" + k, "yzp" + k},
                      {"y" + k});
        n.attrs["pads"] = Attribute::makeInts({1, 1, 1, 1});
        g.nodes.push_back(n);
        return "y" + k;
    };
    std::string a = "a", b = "b";
    if (source == "inputs") {
        g.inputs.push_back({"a", intType, {-1, C, H, W}, true, {"batch"}});
        g.inputs.push_back({"b", intType, {-1, C, H, W}, true, {"batch"}});
    } else {
        g.inputs.push_back({"x", DType::Float32, {-1, 6, H, W}, true, {"batch"}});
        g.nodes.push_back(node("quantize", "QuantizeLinear", {"x", "xs", "xzp"}, {"xq"}));
        a = conv("a", "xq", "xs", "xzp", 6);
        if (source == "convs") {
            b = conv("b", a, "ysa", "yzpa", C);
        } else {
            g.inputs.push_back({"b", intType, {-1, C, H, W}, true, {"batch"}});
        }
    }
    g.initializers["as"] = Tensor::scalar(source == "inputs" ? 0.03f : 0.05f);
    g.initializers["azp"] = zeroPoint(signedInts, signedInts ? -3 : 120);
    g.initializers["bs"] = Tensor::scalar(source == "convs" ? 0.05f : 0.021f);
    g.initializers["bzp"] = zeroPoint(signedInts, signedInts ? 7 : 100);
    g.nodes.push_back(node("dqa", "DequantizeLinear", {a, "as", "azp"}, {"fa"}));
    g.nodes.push_back(node("dqb", "DequantizeLinear", {b, "bs", "bzp"}, {"fb"}));
    g.nodes.push_back(node("add", "Add", {"fa", "fb"}, {"sum"}));
    std::string last = "sum";
    if (relu) {
        g.nodes.push_back(node("relu", "Relu", {"sum"}, {"r"}));
        last = "r";
    }
    if (quantize) {
        g.initializers["js"] = Tensor::scalar(0.06f);
        g.initializers["jzp"] = zeroPoint(signedInts, signedInts ? -20 : 30);
        g.nodes.push_back(node("requantize", "QuantizeLinear", {last, "js", "jzp"}, {"j"}));
        const std::string yc = source == "inputs" ? std::string("j") : conv("c", "j", "js", "jzp", C);
        g.nodes.push_back(node("out", "DequantizeLinear", {yc, "ys" + std::string(source == "inputs" ? "a" : "c"),
                                                             "yzp" + std::string(source == "inputs" ? "a" : "c")},
                               {"y"}));
        if (source == "inputs") { // the output's parameters: the join's own
            g.nodes.back().inputs = {"j", "js", "jzp"};
        }
    } else {
        g.nodes.push_back(node("gap", "GlobalAveragePool", {last}, {"y"}));
    }
    g.outputs.push_back({"y", DType::Float32, {}, false});
    if (shared)
        g.outputs.push_back({"fa", DType::Float32, {}, false});
    inferShapes(m);
    SessionOptions options;
    options.threads = threads;
    const Session fused(m, options), plain(m, unfusedOptions());
    // One QLinearAdd in place of the DequantizeLinear nodes (the skip's stays when it is an output), the Add, the
    // Relu and the QuantizeLinear.
    const QStringList ops = opTypes(fused.executedGraph().nodes);
    QCOMPARE(ops.count("QLinearAdd"), 1);
    QCOMPARE(ops.count("Add") + ops.count("Relu"), 0);
    // (A DequantizeLinear after a convolution is part of it.)
    QCOMPARE(ops.count("DequantizeLinear"), (shared ? 1 : 0) + (quantize && source == "inputs" ? 1 : 0));
    std::map<std::string, Tensor> feeds;
    if (source != "inputs")
        feeds["x"] = randomTensor({batch, 6, H, W}, 1, -1.f, 1.f);
    if (source != "convs")
        feeds["b"] = ints({batch, C, H, W});
    if (source == "inputs")
        feeds["a"] = ints({batch, C, H, W});
    std::vector<std::string> names{"y", "fa", last};
    if (source != "inputs")
        names.push_back(a);
    if (source == "convs")
        names.push_back(b);
    if (quantize)
        names.push_back("j");
    for (const std::string &name : names) {
        const Tensor x = fused.run(feeds, {name}).at(name), z = plain.run(feeds, {name}).at(name);
        QCOMPARE(x.dtype(), z.dtype());
        QCOMPARE(x.shape(), z.shape());
        QVERIFY2(std::memcmp(x.rawData(), z.rawData(), x.byteSize()) == 0, name.c_str());
    }
    // The join's values spread over its range (the test would pass trivially on saturated ones); the Relu's zeros
    // are the least of them, else negative sums are there.
    const Tensor join = plain.run(feeds, {last}).at(last);
    const std::set<float> seen(join.f32(), join.f32() + join.numel());
    QVERIFY2(seen.size() > 50, qPrintable(QString::number(seen.size())));
    QCOMPARE(*seen.begin() == 0.f, relu);
    QCOMPARE(*seen.begin() < 0.f, !relu);
}

void TestFusion::qdqProduct_data()
{
    QTest::addColumn<QString>("layer"); // "conv", "gemm" (B [K, N]), "gemmT" (transB, B [N, K]), "matmul" (3-D x)
    QTest::addColumn<bool>("signedInts");
    QTest::addColumn<bool>("perChannel");
    QTest::addColumn<bool>("bias");
    QTest::addColumn<QString>("activation"); // between the layer and the QuantizeLinear: "", "Relu", "Clip", "Min"
    // The bias: int32 on x_scale · w_scale ("xw") or on another ("other", rounded onto it), a float initializer
    // ("float"), or one too large for int32 on that scale ("huge": no fusion).
    QTest::addColumn<QString>("biasForm");
    QTest::addColumn<int>("threads");
    QTest::newRow("conv, u8, per channel, bias, Relu") << "conv" << false << true << true << "Relu" << "xw" << 1;
    QTest::newRow("conv, s8, per tensor, Relu, 2 threads") << "conv" << true << false << false << "Relu" << "" << 2;
    QTest::newRow("conv, u8, per channel, bias") << "conv" << false << true << true << "" << "xw" << 1;
    QTest::newRow("conv, s8, per channel, bias, Relu") << "conv" << true << true << true << "Relu" << "xw" << 1;
    QTest::newRow("conv, u8, Clip 0..1 (ReLU6's form)") << "conv" << false << true << true << "Clip" << "xw" << 1;
    QTest::newRow("conv, s8, Min with 0.5") << "conv" << true << true << false << "Min" << "" << 1;
    QTest::newRow("conv, bias of another scale") << "conv" << false << true << true << "Relu" << "other" << 1;
    QTest::newRow("conv, s8, per tensor, float bias") << "conv" << true << false << true << "" << "float" << 1;
    QTest::newRow("conv, bias beyond int32: not fused") << "conv" << false << true << true << "Relu" << "huge" << 1;
    QTest::newRow("gemm, u8, per channel, bias, Relu") << "gemm" << false << true << true << "Relu" << "xw" << 1;
    QTest::newRow("gemmT, s8, per channel, bias, Clip") << "gemmT" << true << true << true << "Clip" << "xw" << 1;
    QTest::newRow("gemmT, u8, per tensor, Relu") << "gemmT" << false << false << false << "Relu" << "" << 2;
    QTest::newRow("gemm, bias of another scale") << "gemm" << false << true << true << "" << "other" << 1;
    QTest::newRow("gemmT, u8, per channel, float bias, Relu") << "gemmT" << false << true << true << "Relu" << "float"
                                                              << 2;
    QTest::newRow("matmul, u8, per channel, Relu") << "matmul" << false << true << false << "Relu" << "" << 1;
    QTest::newRow("matmul, s8, per tensor") << "matmul" << true << false << false << "" << "" << 2;
}

// DequantizeLinear (x, w, B) → Conv / Gemm / MatMul → [Relu] → QuantizeLinear, the QDQ format's quantized layer:
// one QLinearConv, QGemm or QLinearMatMul, whose integers are the graph's but where the float sums round across the
// middle between two steps.
void TestFusion::qdqProduct()
{
    QFETCH(QString, layer);
    QFETCH(bool, signedInts);
    QFETCH(bool, perChannel);
    QFETCH(bool, bias);
    QFETCH(QString, activation);
    QFETCH(QString, biasForm);
    QFETCH(int, threads);
    std::mt19937 rng(9);
    const bool conv = layer == "conv", transB = layer == "gemmT";
    const int64_t C = 16, M = 24, H = 9, W = 10, K = 96;
    // x, and w with its output channels' axis.
    const Shape xShape = conv ? Shape{-1, C, H, W} : layer == "matmul" ? Shape{-1, 5, K} : Shape{-1, K};
    const Shape wShape = conv ? Shape{M, C, 3, 3} : transB ? Shape{M, K} : Shape{K, M};
    const int64_t axis = conv || transB ? 0 : 1;
    Model m;
    m.opsetVersion = 17;
    Graph &g = m.graph;
    const float xs = 2.f / 255.f;
    g.initializers["xs"] = Tensor::scalar(xs);
    g.initializers["xzp"] = zeroPoint(signedInts, signedInts ? -4 : 128);
    Tensor w(DType::Int8, wShape);
    for (int64_t i = 0; i < w.numel(); ++i)
        w.data<int8_t>()[i] = int8_t(int(rng() % 255u) - 127);
    g.initializers["w"] = w;
    Tensor ws = perChannel ? randomTensor({M}, 3, 0.001f, 0.003f) : Tensor::scalar(0.002f);
    g.initializers["ws"] = ws;
    g.initializers["ys"] = Tensor::scalar(0.04f);
    g.initializers["yzp"] = zeroPoint(signedInts, signedInts ? -10 : 60);
    g.inputs.push_back({"x", DType::Float32, xShape, true, {"batch"}});
    g.nodes.push_back(node("quantize", "QuantizeLinear", {"x", "xs", "xzp"}, {"xq"}));
    g.nodes.push_back(node("dqx", "DequantizeLinear", {"xq", "xs", "xzp"}, {"xd"}));
    g.nodes.push_back(node("dqw", "DequantizeLinear", {"w", "ws"}, {"wd"}));
    g.nodes.back().attrs["axis"] = Attribute::makeInt(axis);
    std::vector<std::string> in{"xd", "wd"};
    if (bias) {
        Tensor b(DType::Int32, {M}), bs(DType::Float32, {M}), bf(DType::Float32, {M});
        for (int64_t i = 0; i < M; ++i) {
            b.data<int32_t>()[i] = int32_t(rng() % 4001u) - 2000;
            bs.f32()[i] = xs * ws.f32()[perChannel ? i : 0] * (biasForm == "other" ? 1.37f : 1.f);
            bf.f32()[i] = float(b.data<int32_t>()[i]) * bs.f32()[i] * (biasForm == "huge" ? 1e7f : 1.f);
        }
        if (biasForm == "float" || biasForm == "huge") {
            g.initializers["bd"] = bf;
        } else {
            g.initializers["b"] = b;
            g.initializers["bs"] = bs;
            g.nodes.push_back(node("dqb", "DequantizeLinear", {"b", "bs"}, {"bd"}));
            g.nodes.back().attrs["axis"] = Attribute::makeInt(0);
        }
        in.push_back("bd");
    }
    g.nodes.push_back(node("layer", conv ? "Conv" : layer == "matmul" ? "MatMul" : "Gemm", in, {"c"}));
    if (conv)
        g.nodes.back().attrs["pads"] = Attribute::makeInts({1, 1, 1, 1});
    if (transB)
        g.nodes.back().attrs["transB"] = Attribute::makeInt(1);
    if (activation == "Relu") {
        g.nodes.push_back(node("relu", "Relu", {"c"}, {"r"}));
    } else if (activation == "Clip") { // bounds off y's grid
        g.initializers["lo"] = Tensor::scalar(-0.013f);
        g.initializers["hi"] = Tensor::scalar(1.01f);
        g.nodes.push_back(node("clip", "Clip", {"c", "lo", "hi"}, {"r"}));
    } else if (activation == "Min") {
        g.initializers["cap"] = Tensor::scalar(0.5f);
        g.nodes.push_back(node("min", "Min", {"c", "cap"}, {"r"}));
    }
    g.nodes.push_back(node("requantize", "QuantizeLinear", {activation.isEmpty() ? "c" : "r", "ys", "yzp"}, {"yq"}));
    g.nodes.push_back(node("out", "DequantizeLinear", {"yq", "ys", "yzp"}, {"y"}));
    g.outputs.push_back({"y", DType::Float32, {}, false});
    inferShapes(m);
    SessionOptions options;
    options.threads = threads;
    const Session fused(m, options), plain(m, unfusedOptions());
    const QStringList ops = opTypes(fused.executedGraph().nodes);
    const QString integerOp = conv ? "QLinearConv" : layer == "matmul" ? "QLinearMatMul" : "QGemm";
    if (biasForm == "huge") { // not fused: the graph runs as it is (its outputs saturate)
        QCOMPARE(ops.count(integerOp), 0);
        return;
    }
    if (layer.startsWith("gemm")) // the QuantizeLinear before it too; the DequantizeLinear after it a table
        QCOMPARE(ops, QStringList({integerOp}));
    else
        QCOMPARE(ops, QStringList({"QuantizeLinear", integerOp}));
    // The graph's output (the fused graph's only value: an integer one asked for by name would come from the unfused
    // plan), in steps of y's grid.
    Shape shape = xShape;
    shape[0] = 3;
    const Tensor x = randomTensor(shape, 4, -1.f, 1.f);
    const Tensor a = fused.run(x), b = plain.run(x);
    QCOMPARE(a.shape(), b.shape());
    const int32_t zp = signedInts ? -10 : 60, lo = signedInts ? -128 : 0, hi = signedInts ? 127 : 255;
    int64_t differ = 0, inside = 0;
    for (int64_t i = 0; i < a.numel(); ++i) {
        const int64_t qa = std::lround(a.f32()[i] / 0.04f) + zp, qb = std::lround(b.f32()[i] / 0.04f) + zp;
        QVERIFY2(std::abs(qa - qb) <= 1, qPrintable(QString("value %1: %2 against %3").arg(i).arg(qa).arg(qb)));
        differ += qa != qb;
        inside += qb > lo && qb < hi;
    }
    QVERIFY2(differ * 100 <= a.numel(), qPrintable(QString("%1 of %2 differ").arg(differ).arg(a.numel())));
    // Not saturated, nor clipped everywhere: the comparison means something.
    QVERIFY(inside * (activation == "Clip" || activation == "Min" ? 4 : 2) > a.numel());
}

void TestFusion::layerNorm_data()
{
    QTest::addColumn<QString>("variant");
    QTest::addColumn<QString>("fusesTo"); // the executed graph's op types, in order
    QTest::newRow("gamma and beta") << "" << "LayerNormalization";
    QTest::newRow("constants first") << "swapped" << "LayerNormalization";
    QTest::newRow("no beta") << "noBeta" << "LayerNormalization";
    QTest::newRow("neither") << "noScale" << "LayerNormalization";
    QTest::newRow("two trailing axes") << "twoAxes" << "LayerNormalization";
    QTest::newRow("axes as an input (opset 18)") << "axesInput" << "LayerNormalization";
    QTest::newRow("gamma [1, 1, 8]") << "gammaRank3" << "LayerNormalization";
    QTest::newRow("then Relu and LeakyRelu") << "activations" << "LayerNormalization";
    // A QuantizeLinear after it: after the graph's own LayerNormalization the integers QuantizeLinear writes,
    // bit for bit; after the nine nodes at most one step apart (the float values differ by rounding).
    QTest::newRow("then Relu, QuantizeLinear u8") << "activations quantize" << "LayerNormalization";
    QTest::newRow("LayerNormalization, Relu, QuantizeLinear u8") << "native activations quantize" << "LayerNormalization";
    QTest::newRow("LayerNormalization, QuantizeLinear s8") << "native quantize s8" << "LayerNormalization";
    // gamma [3, 1] scales rows: the normalisation fuses, the Mul and Add stay.
    QTest::newRow("gamma over rows") << "gammaRows" << "LayerNormalization Mul Add";
    // What must not fuse: a leading axis; d read outside the pattern; a cube; eps not a constant.
    QTest::newRow("leading axis") << "leadingAxis" << "ReduceMean Sub Pow ReduceMean Add Sqrt Div Mul Add";
    QTest::newRow("d read twice") << "dRead" << "ReduceMean Sub Pow ReduceMean Add Sqrt Div Mul Add Add";
    QTest::newRow("cube") << "cube" << "ReduceMean Sub Pow ReduceMean Add Sqrt Div Mul Add";
    QTest::newRow("eps an input") << "epsInput" << "ReduceMean Sub Pow ReduceMean Add Sqrt Div Mul Add";
}

// PyTorch's layer normalisation before opset 17 (nine nodes) fuses to one LayerNormalization, whose outputs
// match the chain's within float32 rounding; what is not exactly that pattern is left alone.
void TestFusion::layerNorm()
{
    QFETCH(QString, variant);
    QFETCH(QString, fusesTo);
    const std::string v = variant.toStdString();
    Model m;
    m.opsetVersion = v == "axesInput" ? 18 : 13;
    Graph &g = m.graph;
    g.inputs.push_back({"x", DType::Float32, {2, 3, 8}, true, {}});
    if (v == "epsInput")
        g.inputs.push_back({"eps", DType::Float32, {}, true, {}});
    const std::vector<int64_t> axes = v == "twoAxes" ? std::vector<int64_t>{-2, -1}
                                      : v == "leadingAxis" ? std::vector<int64_t>{0}
                                                           : std::vector<int64_t>{2};
    const auto mean = [&](const std::string &name, const std::string &in) {
        Node n = node(name, "ReduceMean", {in}, {name});
        if (v == "axesInput") {
            g.initializers["axes"] = Tensor::fromInt64s({1}, axes);
            n.inputs.push_back("axes");
        } else {
            n.attrs["axes"] = Attribute::makeInts(axes);
        }
        return n;
    };
    const bool swapped = v == "swapped";
    const auto binary = [&](const std::string &name, const char *op, const std::string &value, const std::string &c) {
        return node(name, op, swapped ? std::vector<std::string>{c, value} : std::vector<std::string>{value, c}, {name});
    };
    g.initializers["two"] = Tensor::scalar(v == "cube" ? 3.f : 2.f);
    g.initializers["eps"] = Tensor::scalar(1e-5f);
    if (v == "epsInput")
        g.initializers.erase("eps");
    const Shape gammaShape = v == "gammaRank3" ? Shape{1, 1, 8} : v == "gammaRows" ? Shape{3, 1}
                             : v == "twoAxes" ? Shape{3, 8} : Shape{8};
    g.initializers["gamma"] = randomTensor(gammaShape, 5, 0.5f, 1.5f);
    g.initializers["beta"] = randomTensor(gammaShape, 6);
    // "native": the graph's own LayerNormalization (opset 17), so that what fuses after it must be exact.
    const bool native = v.find("native") != std::string::npos;
    if (native) {
        m.opsetVersion = 17;
        Node ln = node("ln", "LayerNormalization", {"x", "gamma", "beta"}, {"n"});
        ln.attrs["axis"] = Attribute::makeInt(-1);
        g.nodes.push_back(ln);
    } else {
        g.nodes.push_back(mean("m", "x"));
        g.nodes.push_back(node("d", "Sub", {"x", "m"}, {"d"}));
        g.nodes.push_back(node("p", "Pow", {"d", "two"}, {"p"}));
        g.nodes.push_back(mean("var", "p"));
        g.nodes.push_back(swapped ? node("ve", "Add", {"eps", "var"}, {"ve"}) : node("ve", "Add", {"var", "eps"}, {"ve"}));
        g.nodes.push_back(node("s", "Sqrt", {"ve"}, {"s"}));
        g.nodes.push_back(node("n", "Div", {"d", "s"}, {"n"}));
    }
    std::string y = "n";
    if (v != "noScale" && !native) {
        g.nodes.push_back(binary("scaled", "Mul", y, "gamma"));
        y = "scaled";
        if (v != "noBeta") {
            g.nodes.push_back(binary("shifted", "Add", y, "beta"));
            y = "shifted";
        }
    }
    if (v.find("activations") != std::string::npos) {
        g.nodes.push_back(node("relu", "Relu", {y}, {"relu"}));
        Node leaky = node("leaky", "LeakyRelu", {"relu"}, {"leaky"});
        leaky.attrs["alpha"] = Attribute::makeFloat(0.5f); // after the Relu it changes nothing: the order shows
        g.nodes.push_back(leaky);
        y = "leaky";
    }
    if (v == "dRead") {
        g.nodes.push_back(node("extra", "Add", {y, "d"}, {"extra"}));
        y = "extra";
    }
    const bool quantized = v.find("quantize") != std::string::npos;
    if (quantized) {
        g.initializers["qs"] = Tensor::scalar(0.02f);
        Tensor zp(v.find("s8") != std::string::npos ? DType::Int8 : DType::UInt8, {});
        if (zp.dtype() == DType::Int8)
            zp.data<int8_t>()[0] = -3;
        else
            zp.data<uint8_t>()[0] = 128;
        g.initializers["qzp"] = zp;
        g.nodes.push_back(node("q", "QuantizeLinear", {y, "qs", "qzp"}, {"q"}));
        y = "q";
    }
    g.outputs.push_back({y, DType::Float32, {}, false});
    inferShapes(m);

    const Session fused(m), plain(m, unfusedOptions());
    const QStringList ops = opTypes(fused.executedGraph().nodes);
    QCOMPARE(ops.join(' '), fusesTo);
    std::map<std::string, Tensor> feeds{{"x", randomTensor({2, 3, 8}, 7, -3.f, 3.f)}};
    if (v == "epsInput")
        feeds["eps"] = Tensor::scalar(1e-5f);
    const Tensor a = fused.run(feeds).at(y), b = plain.run(feeds).at(y);
    if (quantized && native) {
        QCOMPARE(a.dtype(), b.dtype());
        QCOMPARE(a.shape(), b.shape());
        QCOMPARE(std::memcmp(a.rawData(), b.rawData(), a.byteSize()), 0);
    } else if (quantized) { // the float values differ by rounding, a few may cross a step: at most one, and rarely
        QCOMPARE(a.dtype(), b.dtype());
        QCOMPARE(a.shape(), b.shape());
        int differ = 0;
        for (int64_t i = 0; i < a.numel(); ++i) {
            const int da = a.dtype() == DType::Int8 ? a.data<int8_t>()[i] : a.data<uint8_t>()[i];
            const int db = b.dtype() == DType::Int8 ? b.data<int8_t>()[i] : b.data<uint8_t>()[i];
            QVERIFY(std::abs(da - db) <= 1);
            differ += da != db;
        }
        QVERIFY2(differ <= 1, qPrintable(QString::number(differ)));
    } else {
        QCOMPARE(compareTensors(a, b, 2e-6), QString());
    }
    // A value inside the pattern is still served, by the unfused plan.
    const std::string inside = native ? "n" : "s";
    QCOMPARE(compareTensors(fused.run(feeds, {inside}).at(inside), plain.run(feeds, {inside}).at(inside), 0), QString());
}

void TestFusion::productActivations_data()
{
    QTest::addColumn<QString>("product"); // Gemm, or MatMul with a batch
    QTest::addColumn<QStringList>("chain");
    QTest::newRow("Gemm: Relu") << "Gemm" << QStringList{"Relu"};
    QTest::newRow("Gemm: LeakyRelu, Max") << "Gemm" << QStringList{"LeakyRelu", "Max"};
    QTest::newRow("Gemm: Sigmoid") << "Gemm" << QStringList{"Sigmoid"};
    QTest::newRow("Gemm: HardSwish, Tanh") << "Gemm" << QStringList{"HardSwish", "Tanh"};
    QTest::newRow("MatMul: Relu") << "MatMul" << QStringList{"Relu"};
    QTest::newRow("MatMul: Clip") << "MatMul" << QStringList{"ClipInputs"};
}

// Activations after a float32 Gemm or MatMul run in its kernel, with the standalone kernels' formulas: the
// values of the graph as it is, bit for bit.
void TestFusion::productActivations()
{
    QFETCH(QString, product);
    QFETCH(QStringList, chain);
    const bool gemm = product == "Gemm";
    Model m;
    m.opsetVersion = 17;
    Graph &g = m.graph;
    const Shape xShape = gemm ? Shape{5, 24} : Shape{2, 5, 24};
    g.inputs.push_back({"x", DType::Float32, xShape, true, {}});
    g.initializers["w"] = randomTensor(gemm ? Shape{16, 24} : Shape{24, 16}, 2, -0.5f, 0.5f);
    g.initializers["b"] = randomTensor({16}, 3);
    Node p = gemm ? node("p", "Gemm", {"x", "w", "b"}, {"y"}) : node("p", "MatMul", {"x", "w"}, {"y"});
    if (gemm)
        p.attrs["transB"] = Attribute::makeInt(1);
    g.nodes.push_back(p);
    std::string value = "y";
    for (int k = 0; k < chain.size(); ++k) {
        const std::string op = chain[k].toStdString(), out = "a" + std::to_string(k);
        Node n = node(out, op, {value}, {out});
        if (op == "LeakyRelu") {
            n.attrs["alpha"] = Attribute::makeFloat(0.2f);
        } else if (op == "Max") {
            g.initializers[out + ".c"] = Tensor::fromFloats({1}, {-0.1f});
            n.inputs.push_back(out + ".c");
        } else if (op == "ClipInputs") {
            n.opType = "Clip";
            g.initializers[out + ".lo"] = Tensor::scalar(-0.25f);
            g.initializers[out + ".hi"] = Tensor::scalar(0.5f);
            n.inputs = {value, out + ".lo", out + ".hi"};
        }
        g.nodes.push_back(n);
        value = out;
    }
    g.outputs.push_back({value, DType::Float32, {}, false});
    inferShapes(m);
    const Session fused(m), plain(m, unfusedOptions());
    QCOMPARE(fused.executedGraph().nodes.size(), size_t(1));
    const std::map<std::string, Tensor> feeds{{"x", randomTensor(xShape, 4, -2.f, 2.f)}};
    const Tensor a = fused.run(feeds).at(value), b = plain.run(feeds).at(value);
    QCOMPARE(a.shape(), b.shape());
    QCOMPARE(std::memcmp(a.rawData(), b.rawData(), a.byteSize()), 0);
    // The product's own output is still served (by the unfused plan).
    QCOMPARE(compareTensors(fused.run(feeds, {"y"}).at("y"), plain.run(feeds, {"y"}).at("y"), 0), QString());
}

QTEST_GUILESS_MAIN(TestFusion)
// One image cannot be split between threads: a convolution with work for two runs on oneDNN's own team of two,
// with the result of one thread (up to the order of its sums).
void TestFusion::oneImageOnTwoThreads()
{
    const Model m = convChain({{1, 64, 32, 32}, {64, 64, 3, 3}}, {"Relu"}); // 38M multiply-adds
    SessionOptions one, two;
    one.threads = 1;
    two.threads = 2;
    const Tensor x = randomTensor({1, 64, 32, 32}, 5, -1.f, 1.f);
    const Tensor a = Session(m, two).run(x), b = Session(m, one).run(x);
    const QString diff = compareTensors(a, b, 1e-6);
    QVERIFY2(diff.isEmpty(), qPrintable(diff));
}

// A kernel parses its node's attributes once per Session (OpContext::prepared): later runs of the same Session,
// with other inputs and from several threads at once, give what a fresh Session gives on each input.
// A kernel may keep several objects made from its constants (OpContext::preparedFromConstants), one per type: a
// QLinearConv keeps its weights' identity and, for short windows, its weights packed. Each type gets its own, made
// once, whichever asks first.
void TestFusion::preparedConstantsPerType()
{
    struct Identity {
        int id;
    };
    struct Packed {
        std::string bytes;
    };
    const Node n = node("n", "Identity", {"x"}, {"y"});
    const Tensor x = Tensor::scalar(1.f);
    PreparedSlot slot;
    OpContext ctx{n, {&x}, {}, 1};
    ctx.slot = &slot;
    ctx.constantMask = 1;
    int made = 0;
    const Identity *id = ctx.preparedFromConstants<Identity>({0}, [&] { return Identity{++made}; });
    const Packed *packed = ctx.preparedFromConstants<Packed>({0}, [&] { return Packed{std::to_string(++made)}; });
    QVERIFY(id && packed);
    QCOMPARE(id->id, 1);
    QCOMPARE(packed->bytes, std::string("2"));
    QCOMPARE(ctx.preparedFromConstants<Identity>({0}, [&] { return Identity{++made}; }), id);
    QCOMPARE(ctx.preparedFromConstants<Packed>({0}, [&] { return Packed{std::to_string(++made)}; }), packed);
    QCOMPARE(made, 2);
    // An input that is not the Session's constant on this run: nothing kept or made.
    ctx.constantMask = 0;
    QVERIFY(!ctx.preparedFromConstants<Identity>({0}, [&] { return Identity{++made}; }));
    QCOMPARE(made, 2);
}

void TestFusion::preparedStateHoldsAttributesOnly()
{
    Model m;
    m.opsetVersion = 17;
    Graph &g = m.graph;
    g.inputs.push_back({"x", DType::Float32, {4, 16}, true, {}});
    g.initializers["gamma"] = randomTensor({16}, 5, 0.5f, 1.5f);
    g.initializers["beta"] = randomTensor({16}, 6);
    g.initializers["qs"] = Tensor::scalar(0.02f);
    Tensor zp(DType::UInt8, {});
    zp.data<uint8_t>()[0] = 128;
    g.initializers["qzp"] = zp;
    Node ln = node("ln", "LayerNormalization", {"x", "gamma", "beta"}, {"n"});
    ln.attrs["axis"] = Attribute::makeInt(-1);
    ln.attrs["epsilon"] = Attribute::makeFloat(0.25f);
    g.nodes.push_back(ln);
    g.nodes.push_back(node("relu", "Relu", {"n"}, {"r"}));
    g.nodes.push_back(node("q", "QuantizeLinear", {"r", "qs", "qzp"}, {"y"}));
    g.outputs.push_back({"y", DType::UInt8, {}, false});
    inferShapes(m);

    const Session shared(m);
    QCOMPARE(shared.executedGraph().nodes.size(), size_t(1)); // all three in the LayerNormalization
    std::vector<Tensor> inputs, expected;
    for (uint32_t k = 0; k < 4; ++k) {
        inputs.push_back(randomTensor({4, 16}, 20 + k, -3.f, 3.f));
        expected.push_back(Session(m).run({{"x", inputs.back()}}).at("y"));
        const Tensor plain = Session(m, unfusedOptions()).run({{"x", inputs.back()}}).at("y");
        QCOMPARE(plain.dtype(), DType::UInt8);
        int differ = 0; // the unfused graph rounds the float values once more: a step apart at most, rarely
        for (int64_t i = 0; i < plain.numel(); ++i) {
            const int d = int(plain.data<uint8_t>()[i]) - int(expected.back().data<uint8_t>()[i]);
            QVERIFY(std::abs(d) <= 1);
            differ += d != 0;
        }
        QVERIFY(differ <= 2);
    }
    const auto same = [](const Tensor &a, const Tensor &b) {
        return a.shape() == b.shape() && std::memcmp(a.rawData(), b.rawData(), a.byteSize()) == 0;
    };
    for (size_t k = 0; k < inputs.size(); ++k)
        QVERIFY(same(shared.run({{"x", inputs[k]}}).at("y"), expected[k]));
    std::atomic<int> mismatches{0};
    std::vector<std::thread> threads;
    for (size_t t = 0; t < 2; ++t)
        threads.emplace_back([&, t] {
            for (int r = 0; r < 50; ++r) {
                const size_t k = (t + size_t(r)) % inputs.size();
                if (!same(shared.run({{"x", inputs[k]}}).at("y"), expected[k]))
                    ++mismatches;
            }
        });
    for (std::thread &t : threads)
        t.join();
    QCOMPARE(mismatches.load(), 0);
}

namespace {

Tensor ints(const std::vector<int64_t> &v)
{
    Tensor t(DType::Int64, {int64_t(v.size())});
    std::copy(v.begin(), v.end(), t.data<int64_t>());
    return t;
}

// x [batch, 4, 6] → MatMul by a constant [6, 6] → m → `op` → y. The op's extra inputs and attributes by name.
Model afterProduct(const QString &op, const std::map<std::string, Tensor> &constants,
                   const std::map<std::string, std::vector<int64_t>> &attrs, bool secondFromM)
{
    Model m;
    m.opsetVersion = 17;
    Graph &g = m.graph;
    g.inputs.push_back({"x", DType::Float32, {-1, 4, 6}, true, {"batch"}});
    g.initializers["w"] = randomTensor({6, 6}, 3);
    g.nodes.push_back(node("product", "MatMul", {"x", "w"}, {"m"}));
    Node n = node("op", op.toStdString(), {"m"}, {"y"});
    if (secondFromM)
        n.inputs.push_back("m");
    for (const auto &[name, t] : constants) {
        g.initializers[name] = t;
        n.inputs.push_back(name);
    }
    for (const auto &[key, v] : attrs)
        n.attrs[key] = v.size() == 1 && key != "perm" && key != "axes" ? Attribute::makeInt(v[0]) : Attribute::makeInts(v);
    n.attrs["_opset"] = Attribute::makeInt(17);
    g.nodes.push_back(n);
    g.outputs.push_back({"y", DType::Float32, {}, false});
    inferShapes(m);
    return m;
}

BatchRegion regionOf(const Graph &g)
{
    return cw::batchRegion(
        g,
        [&](const std::string &name) -> const Tensor * {
            auto it = g.initializers.find(name);
            return it == g.initializers.end() ? nullptr : &it->second;
        },
        std::vector<std::vector<std::string>>(g.nodes.size()));
}

using Constants = std::map<std::string, Tensor>;
using IntAttrs = std::map<std::string, std::vector<int64_t>>;

} // namespace

Q_DECLARE_METATYPE(Constants)
Q_DECLARE_METATYPE(IntAttrs)

void TestFusion::batchRegionRules_data()
{
    QTest::addColumn<QString>("op");
    QTest::addColumn<Constants>("constants");
    QTest::addColumn<IntAttrs>("attrs");
    QTest::addColumn<bool>("secondFromM"); // the op's second input is m again
    QTest::addColumn<bool>("local");
    const auto row = [](const char *name, const char *op, Constants c, IntAttrs a, bool second, bool local) {
        QTest::newRow(name) << QString(op) << c << a << second << local;
    };
    row("Relu", "Relu", {}, {}, false, true);
    row("Add of m and m", "Add", {}, {}, true, true);
    row("Add of a constant [6]", "Add", {{"c", randomTensor({6}, 4)}}, {}, false, true);
    row("Add of a constant [1, 4, 6]", "Add", {{"c", randomTensor({1, 4, 6}, 4)}}, {}, false, true);
    row("Add of a constant [3, 4, 6]: per sample", "Add", {{"c", randomTensor({3, 4, 6}, 4)}}, {}, false, false);
    row("Sub from a constant scalar", "SubFromScalar", {}, {}, false, true);
    row("Softmax axis 1", "Softmax", {}, {{"axis", {1}}}, false, true);
    row("Softmax axis -1", "Softmax", {}, {{"axis", {-1}}}, false, true);
    row("Softmax axis 0", "Softmax", {}, {{"axis", {0}}}, false, false);
    row("Softmax axis -3", "Softmax", {}, {{"axis", {-3}}}, false, false);
    row("ReduceMax of everything", "ReduceMax", {}, {{"keepdims", {0}}}, false, false);
    row("ReduceMax axes 2", "ReduceMax", {}, {{"axes", {2}}}, false, true);
    row("ReduceMax axes 0", "ReduceMax", {}, {{"axes", {0}}}, false, false);
    row("ReduceSum axes 1, 2", "ReduceSum", {{"axes", ints({1, 2})}}, {}, false, true);
    row("ReduceSum axes -3", "ReduceSum", {{"axes", ints({-3})}}, {}, false, false);
    row("Transpose 0 2 1", "Transpose", {}, {{"perm", {0, 2, 1}}}, false, true);
    row("Transpose 1 0 2: the batch second", "Transpose", {}, {{"perm", {1, 0, 2}}}, false, true);
    row("Reshape to 0, 24", "Reshape", {{"shape", ints({0, 24})}}, {}, false, true);
    row("Reshape to -1, 12", "Reshape", {{"shape", ints({-1, 12})}}, {}, false, false);
    row("Reshape to 4, -1", "Reshape", {{"shape", ints({4, -1})}}, {}, false, false);
    row("Flatten axis 1", "Flatten", {}, {{"axis", {1}}}, false, true);
    row("Flatten axis 2", "Flatten", {}, {{"axis", {2}}}, false, false);
    row("Concat axis 2", "Concat", {}, {{"axis", {2}}}, true, true);
    row("Concat axis 0", "Concat", {}, {{"axis", {0}}}, true, false);
    row("Gather axis 1", "Gather", {{"i", ints({3, 0})}}, {{"axis", {1}}}, false, true);
    row("Gather axis 0", "Gather", {{"i", ints({0})}}, {{"axis", {0}}}, false, false);
    row("Unsqueeze axes 1", "Unsqueeze", {{"axes", ints({1})}}, {}, false, true);
    row("Unsqueeze axes 0: the batch second", "Unsqueeze", {{"axes", ints({0})}}, {}, false, true);
    row("Slice axes 2", "Slice", {{"s0", ints({1})}, {"s1", ints({5})}, {"s2", ints({2})}}, {}, false, true);
    row("Slice axes 0", "Slice", {{"s0", ints({1})}, {"s1", ints({5})}, {"s2", ints({0})}}, {}, false, false);
    const int64_t end = std::numeric_limits<int64_t>::max();
    row("Slice axes 0, 2: all of the batch", "Slice", {{"s0", ints({0, 1})}, {"s1", ints({end, 5})}, {"s2", ints({0, 2})}},
        {}, false, true);
    row("Slice axes 0, 2: all of the batch, step 2", "Slice",
        {{"s0", ints({0, 1})}, {"s1", ints({end, 5})}, {"s2", ints({0, 2})}, {"s3", ints({2, 1})}}, {}, false, false);
    row("Slice axes 0: to 3", "Slice", {{"s0", ints({0})}, {"s1", ints({3})}, {"s2", ints({0})}}, {}, false, false);
    row("MatMul of m by its transpose", "MatMulT", {}, {}, false, true);
    row("LSTM over the sequence, the batch second", "LSTM", {}, {}, false, true);
    row("LSTM along the batch axis", "LSTMAlongBatch", {}, {}, false, false);
}

void TestFusion::batchRegionRules()
{
    QFETCH(QString, op);
    QFETCH(Constants, constants);
    QFETCH(IntAttrs, attrs);
    QFETCH(bool, secondFromM);
    QFETCH(bool, local);
    Model m;
    if (op == "MatMulT") { // m [batch, 4, 6] by t = m transposed [batch, 6, 4]: one product per sample
        m = afterProduct("Transpose", {}, {{"perm", {0, 2, 1}}}, false);
        m.graph.nodes.push_back(node("op", "MatMul", {"m", "y"}, {"z"}));
        m.graph.outputs = {{"z", DType::Float32, {}, false}};
        inferShapes(m);
    } else if (op.startsWith("LSTM")) { // X [sequence, batch, 6] (m transposed), or m itself: batch as sequence
        const bool alongBatch = op == "LSTMAlongBatch";
        m = afterProduct("Transpose", {}, {{"perm", {1, 0, 2}}}, false);
        m.graph.initializers["lw"] = randomTensor({1, 12, 6}, 11);
        m.graph.initializers["lr"] = randomTensor({1, 12, 3}, 12);
        Node lstm = node("op", "LSTM", {alongBatch ? "m" : "y", "lw", "lr"}, {"z"});
        lstm.attrs["hidden_size"] = Attribute::makeInt(3);
        m.graph.nodes.push_back(lstm);
        m.graph.outputs = {{"z", DType::Float32, {}, false}};
        inferShapes(m);
    } else if (op == "SubFromScalar") { // 1 - m: the batched value second
        m = afterProduct("Relu", {}, {}, false);
        m.graph.initializers["one"] = Tensor::scalar(1.f);
        m.graph.nodes.back() = node("op", "Sub", {"one", "m"}, {"y"});
        inferShapes(m);
    } else {
        m = afterProduct(op, constants, attrs, secondFromM);
    }
    const BatchRegion region = regionOf(m.graph);
    QCOMPARE(region.local.size(), m.graph.nodes.size());
    QVERIFY(region.local[0]); // the MatMul
    QCOMPARE(bool(region.local.back()), local);
    const std::string out = m.graph.outputs[0].name;
    // The value that leaves the region (the output, or m for a node outside) with its batch axis.
    QCOMPARE(region.frontier, std::vector<std::string>{local ? out : std::string("m")});
    const ValueInfo &leaving = m.graph.values.at(region.frontier[0]);
    QVERIFY(region.joints[0].kind == Joint::Kind::Batch);
    QCOMPARE(leaving.dimName(size_t(region.joints[0].axis)), std::string("batch"));

    // Two threads (the batch split where the region allows it) and one give the same values; a batch of 3 is
    // cut into parts of 1 and 2 samples.
    const Tensor x = randomTensor({3, 4, 6}, 9);
    const Tensor whole = Session(m, SessionOptions{1}).run({{"x", x}}).at(out);
    const Tensor split = Session(m, SessionOptions{2}).run({{"x", x}}).at(out);
    QCOMPARE(split.shape(), whole.shape());
    QCOMPARE(split.dtype(), whole.dtype());
    if (whole.dtype() == DType::Float32) {
        const QString diff = compareTensors(split, whole, 1e-6);
        QVERIFY2(diff.isEmpty(), qPrintable(diff));
    } else {
        QVERIFY(std::memcmp(split.rawData(), whole.rawData(), whole.byteSize()) == 0);
    }
}

void TestFusion::batchRegionAxes()
{
    // A recurrent state [2, batch, 6] beside x: its batch is its second axis. Its first row, unsqueezed to
    // [batch, 1, 6], is added to m.
    Model m = afterProduct("Relu", {}, {}, false);
    m.graph.inputs.push_back({"state", DType::Float32, {2, -1, 6}, true, {"", "batch"}});
    m.graph.initializers["row"] = Tensor(DType::Int64, {});
    m.graph.initializers["one"] = ints({1});
    m.graph.nodes.push_back(node("h", "Gather", {"state", "row"}, {"h"}));
    m.graph.nodes.push_back(node("u", "Unsqueeze", {"h", "one"}, {"hu"}));
    m.graph.nodes.push_back(node("sum", "Add", {"y", "hu"}, {"s"}));
    m.graph.nodes.push_back(node("next", "Concat", {"state", "state"}, {"state2"}));
    m.graph.nodes.back().attrs["axis"] = Attribute::makeInt(2);
    m.graph.outputs = {{"s", DType::Float32, {}, false}, {"state2", DType::Float32, {}, false}};
    inferShapes(m);
    const BatchRegion region = regionOf(m.graph);
    QCOMPARE(region.inputAxes, (std::vector<int>{0, 1}));
    QCOMPARE(std::count(region.local.begin(), region.local.end(), 1), qsizetype(m.graph.nodes.size()));
    QCOMPARE(region.frontier, (std::vector<std::string>{"s", "state2"}));
    for (size_t k = 0; k < 2; ++k) {
        QVERIFY(region.joints[k].kind == Joint::Kind::Batch);
        QCOMPARE(region.joints[k].axis, int(k));
    }
    const std::map<std::string, Tensor> feeds{{"x", randomTensor({3, 4, 6}, 9)}, {"state", randomTensor({2, 3, 6}, 10)}};
    const auto whole = Session(m, SessionOptions{1}).run(feeds), split = Session(m, SessionOptions{2}).run(feeds);
    for (const char *name : {"s", "state2"}) {
        const QString diff = compareTensors(split.at(name), whole.at(name), 1e-6);
        QVERIFY2(diff.isEmpty(), qPrintable(QString(name) + ": " + diff));
    }

    // The symbol twice in one input, another dimension sized by it, or an input of unknown shape: nothing is split.
    Model twice = afterProduct("Relu", {}, {}, false);
    twice.graph.inputs.push_back({"pairs", DType::Float32, {-1, -1}, true, {"batch", "batch"}});
    inferShapes(twice);
    QVERIFY(regionOf(twice.graph).empty());
    Model sized = afterProduct("Relu", {}, {}, false);
    sized.graph.inputs.push_back({"grown", DType::Float32, {-1, -1}, true, {"batch", "batch+1"}});
    inferShapes(sized);
    QVERIFY(regionOf(sized.graph).empty());
    Model unknown = afterProduct("Relu", {}, {}, false);
    unknown.graph.inputs.push_back({"extra", DType::Float32, {}, false, {}});
    inferShapes(unknown);
    QVERIFY(regionOf(unknown.graph).empty());
    // A fixed batch: nothing either.
    Model fixed = afterProduct("Relu", {}, {}, false);
    fixed.graph.inputs[0] = {"x", DType::Float32, {3, 4, 6}, true, {}};
    inferShapes(fixed);
    QVERIFY(regionOf(fixed.graph).empty());
    // Nothing but cheap nodes: not worth a split.
    Model cheap = afterProduct("Relu", {}, {}, false);
    cheap.graph.nodes.erase(cheap.graph.nodes.begin());
    cheap.graph.nodes[0].inputs = {"x"};
    inferShapes(cheap);
    QVERIFY(regionOf(cheap.graph).empty());
}

void TestFusion::demosRunBatchParallel_data()
{
    QTest::addColumn<QString>("arch");
    QTest::newRow("demo") << "cnn";
    QTest::newRow("demo-resnet") << "resnet";
}

void TestFusion::demosRunBatchParallel()
{
    QFETCH(QString, arch);
    const Model m = buildDemoModel(arch.toStdString(), 7);
    const Session two(m, SessionOptions{2}), one(m, SessionOptions{1});
    // Every node keeps the samples apart: the whole executed graph is the region.
    const Graph &g = two.executedGraph();
    const BatchRegion region = regionOf(g);
    QCOMPARE(std::count(region.local.begin(), region.local.end(), 1), qsizetype(g.nodes.size()));
    QCOMPARE(region.frontier, std::vector<std::string>{g.outputs[0].name});
    for (const int64_t batch : {2, 5}) {
        const Tensor x = randomTensor({batch, 1, 28, 28}, uint32_t(batch), 0.f, 1.f);
        const Tensor a = two.run(x), b = one.run(x);
        const QString diff = compareTensors(a, b, 1e-5);
        QVERIFY2(diff.isEmpty(), qPrintable(QString::number(batch) + ": " + diff));
    }
}

// x [batch, seq] → If (seq == 4: x as it is; else x unsqueezed to [batch, 1, seq], as PyTorch's exports test a
// size) → Flatten → MatMul by [4, 3] → Relu. The If's outputs have no one rank, so nothing after it can be
// split; specialised to the sizes of a run (seq 4) it is gone and the whole graph runs batch-parallel. Both
// branches name their value "b", so the inlined one is renamed. A test on the batch itself is left in place.
void TestFusion::ifsOnSizesSpecialized()
{
    const auto build = [](int64_t testedAxis) {
        Model m;
        m.opsetVersion = 17;
        Graph &g = m.graph;
        g.inputs.push_back({"x", DType::Float32, {-1, -1}, true, {"batch", "seq"}});
        g.initializers["axis"] = Tensor::fromInt64s({}, {testedAxis});
        g.initializers["four"] = Tensor::fromInt64s({}, {4});
        g.initializers["one"] = ints({1});
        g.initializers["w"] = randomTensor({4, 3}, 5);
        g.nodes.push_back(node("shape", "Shape", {"x"}, {"s"}));
        g.nodes.push_back(node("size", "Gather", {"s", "axis"}, {"n"}));
        g.nodes.push_back(node("test", "Equal", {"n", "four"}, {"c"}));
        Graph thenBranch, elseBranch;
        thenBranch.nodes.push_back(node("keep", "Identity", {"x"}, {"b"}));
        thenBranch.outputs.push_back({"b", DType::Float32, {}, false});
        elseBranch.nodes.push_back(node("unbatched", "Unsqueeze", {"x", "one"}, {"b"}));
        elseBranch.outputs.push_back({"b", DType::Float32, {}, false});
        Node branch = node("if", "If", {"c"}, {"y"});
        branch.attrs["then_branch"] = Attribute::makeGraph(thenBranch);
        branch.attrs["else_branch"] = Attribute::makeGraph(elseBranch);
        g.nodes.push_back(branch);
        g.nodes.push_back(node("flat", "Flatten", {"y"}, {"f"}));
        g.nodes.push_back(node("product", "MatMul", {"f", "w"}, {"p"}));
        g.nodes.push_back(node("relu", "Relu", {"p"}, {"z"}));
        g.outputs.push_back({"z", DType::Float32, {}, false});
        for (Node &n : g.nodes)
            n.attrs["_opset"] = Attribute::makeInt(17);
        inferShapes(m);
        return m;
    };
    const Model m = build(1);
    QVERIFY(regionOf(m.graph).empty()); // the If stops it, and nothing before it is a product

    const std::optional<Model> four = specializeSizes(m, {{3, 4}});
    QVERIFY(four.has_value());
    for (const Node &n : four->graph.nodes)
        QVERIFY(n.opType != "If");
    QCOMPARE(QString::fromStdString(shapeToString(four->graph.valueInfo("z"))), QString("[batch, 3]"));
    QVERIFY(four->graph.values.count("b_1")); // "b" of the branch taken, renamed
    const BatchRegion region = regionOf(four->graph);
    QCOMPARE(region.frontier, std::vector<std::string>{"z"});
    QVERIFY(!specializeSizes(m, {{3, 5}}).has_value()); // the other branch: 5 columns contradict the [4, 3] weight
    QVERIFY(!specializeSizes(build(0), {{3, 4}}).has_value()); // a test of the batch: nothing to replace

    // Runs: two threads (specialised, split) and one give the same values, twice at one size, then at another.
    const Session two(m, SessionOptions{2}), one(m, SessionOptions{1});
    for (const int64_t batch : {3, 3, 6}) {
        const Tensor x = randomTensor({batch, 4}, uint32_t(batch));
        const QString diff = compareTensors(two.run(x), one.run(x), 1e-6);
        QVERIFY2(diff.isEmpty(), qPrintable(diff));
    }
}

// x [batch, 4, 6] → MatMul → m, reshaped to [m's batch, -1] (Shape → Gather → Unsqueeze → Concat, as exporters
// write m.view(m.size(0), -1)), plus a zero state ConstantOfShape([m's batch, 24]); the size vector and m's last
// size (alike in every part) are graph outputs too. All of it runs in the parts; the sizes leave it with the
// whole batch's size. The batch's size second in a Reshape's target is not split.
void TestFusion::sizesReadInTheRegion()
{
    const auto build = [](bool batchFirst) {
        Model m = afterProduct("Relu", {}, {}, false); // x → product → m → op (Relu) → y
        Graph &g = m.graph;
        g.initializers["zero"] = Tensor::fromInt64s({}, {0});
        g.initializers["last"] = Tensor::fromInt64s({}, {-1});
        g.initializers["axis0"] = ints({0});
        g.initializers["rest"] = ints({-1});
        g.initializers["width"] = ints({24});
        g.nodes.push_back(node("shape", "Shape", {"y"}, {"s"}));
        g.nodes.push_back(node("samples", "Gather", {"s", "zero"}, {"b"}));
        g.nodes.push_back(node("columns", "Gather", {"s", "last"}, {"c"}));
        g.nodes.push_back(node("unsqueeze", "Unsqueeze", {"b", "axis0"}, {"b1"}));
        g.nodes.push_back(node("target", "Concat", batchFirst ? std::vector<std::string>{"b1", "rest"}
                                                              : std::vector<std::string>{"rest", "b1"},
                               {"t"}));
        g.nodes.back().attrs["axis"] = Attribute::makeInt(0);
        g.nodes.push_back(node("reshape", "Reshape", {"y", "t"}, {"r"}));
        g.nodes.push_back(node("stateShape", "Concat", {"b1", "width"}, {"zs"}));
        g.nodes.back().attrs["axis"] = Attribute::makeInt(0);
        g.nodes.push_back(node("state", "ConstantOfShape", {"zs"}, {"z"}));
        g.nodes.push_back(node("sum", "Add", {"r", "z"}, {"out"}));
        g.outputs = {{"out", DType::Float32, {}, false}, {"t", DType::Int64, {}, false}, {"c", DType::Int64, {}, false}};
        for (Node &n : g.nodes)
            n.attrs["_opset"] = Attribute::makeInt(17);
        inferShapes(m);
        return m;
    };
    const Model m = build(true);
    const BatchRegion region = regionOf(m.graph);
    QCOMPARE(std::count(region.local.begin(), region.local.end(), 1), qsizetype(m.graph.nodes.size()));
    QCOMPARE(region.frontier, (std::vector<std::string>{"c", "t", "out"}));
    QVERIFY(region.joints[0].kind == Joint::Kind::Alike);
    QVERIFY(region.joints[1].kind == Joint::Kind::Size);
    QCOMPARE(region.joints[1].axis, 0);
    QVERIFY(region.joints[2].kind == Joint::Kind::Batch);
    for (const int64_t batch : {3, 5}) {
        const Tensor x = randomTensor({batch, 4, 6}, uint32_t(batch));
        const auto whole = Session(m, SessionOptions{1}).run({{"x", x}}), split = Session(m, SessionOptions{2}).run({{"x", x}});
        const QString diff = compareTensors(split.at("out"), whole.at("out"), 1e-6);
        QVERIFY2(diff.isEmpty(), qPrintable(diff));
        QCOMPARE(split.at("t").toInt64Vector(), (std::vector<int64_t>{batch, -1}));
        QCOMPARE(split.at("c").toInt64Vector(), (std::vector<int64_t>{6}));
    }

    const Model second = build(false);
    const BatchRegion secondRegion = regionOf(second.graph);
    size_t reshape = 0;
    while (second.graph.nodes[reshape].name != "reshape")
        ++reshape;
    QVERIFY(!secondRegion.local[reshape]);
}

// As batchRegionAxes, but the state's second dimension has no name in the file ([2, state_dim1, 6]), so it is
// not known to be the batch and the Add of its row stops the region. Specialised to a run whose state has the
// batch's size, it is taken as the batch; with another size nothing changes.
void TestFusion::unnamedSizeTiedToTheBatch()
{
    Model m = afterProduct("Relu", {}, {}, false);
    m.graph.inputs.push_back({"state", DType::Float32, {2, -1, 6}, true, {}});
    m.graph.initializers["row"] = Tensor(DType::Int64, {});
    m.graph.initializers["one"] = ints({1});
    m.graph.nodes.push_back(node("h", "Gather", {"state", "row"}, {"h"}));
    m.graph.nodes.push_back(node("u", "Unsqueeze", {"h", "one"}, {"hu"}));
    m.graph.nodes.push_back(node("sum", "Add", {"y", "hu"}, {"s"}));
    m.graph.outputs = {{"s", DType::Float32, {}, false}};
    inferShapes(m);
    QVERIFY(specializable(m.graph));
    const BatchRegion region = regionOf(m.graph);
    QVERIFY(!region.local.back());

    const std::optional<Model> tied = specializeSizes(m, {{3, 4, 6}, {2, 3, 6}});
    QVERIFY(tied.has_value());
    QCOMPARE(QString::fromStdString(shapeToString(tied->graph.inputs[1])), QString("[2, batch, 6]"));
    const BatchRegion tiedRegion = regionOf(tied->graph);
    QCOMPARE(std::count(tiedRegion.local.begin(), tiedRegion.local.end(), 1), qsizetype(tied->graph.nodes.size()));
    QCOMPARE(tiedRegion.inputAxes, (std::vector<int>{0, 1}));
    QVERIFY(!specializeSizes(m, {{3, 4, 6}, {2, 5, 6}}).has_value());

    const Session two(m, SessionOptions{2}), one(m, SessionOptions{1});
    for (const int64_t batch : {3, 4}) {
        const std::map<std::string, Tensor> feeds{{"x", randomTensor({batch, 4, 6}, 9)},
                                                  {"state", randomTensor({2, batch, 6}, 10)}};
        const QString diff = compareTensors(two.run(feeds).at("s"), one.run(feeds).at("s"), 1e-6);
        QVERIFY2(diff.isEmpty(), qPrintable(diff));
    }
}

#include "test_fusion.moc"
