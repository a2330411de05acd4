// Quantized operators: hand-computed values, the fast integer kernels against the reference arithmetic (bit
// for bit), and models from tests/tools/make_qop_cases.py against onnxruntime (each case names its budget in
// LSBs: bit-exact or one) with their static shapes.
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <functional>
#include <random>

#include "core/analysis/fidelity.h"
#include "core/base/cpu.h"
#include "core/compress/compress.h"
#include "core/compress/recipe.h"
#include "core/base/error.h"
#include "core/io/dataset.h"
#include "core/io/model_io.h"
#include "core/runtime/ops.h"
#include "core/runtime/onednn.h"
#include "core/runtime/ops/quant.h"
#include "core/runtime/session.h"
#include "core/runtime/shape_inference.h"
#include "testutil.h"

using namespace cw;
using testutil::errorOf;

Q_DECLARE_METATYPE(cw::quant::GemvIsa)

namespace {

using Tensors = std::vector<Tensor>;
using Attrs = Attributes;

template <typename T> Tensor make(Shape shape, const std::vector<int64_t> &values)
{
    Tensor t(dtypeOf<T>(), std::move(shape));
    for (size_t i = 0; i < values.size(); ++i)
        t.data<T>()[i] = T(values[i]);
    return t;
}

Tensor u8(Shape s, const std::vector<int64_t> &v) { return make<uint8_t>(std::move(s), v); }
Tensor s8(Shape s, const std::vector<int64_t> &v) { return make<int8_t>(std::move(s), v); }
Tensor s32(Shape s, const std::vector<int64_t> &v) { return make<int32_t>(std::move(s), v); }

// One node `op` reading "in0", "in1", ... (none for a null input) and writing "out".
Node testNode(const std::string &op, const Tensors &inputs, const Attrs &attrs, const std::string &domain)
{
    Node node;
    node.name = "test_" + op;
    node.opType = op;
    node.domain = domain;
    node.attrs = attrs;
    for (size_t i = 0; i < inputs.size(); ++i)
        node.inputs.push_back(inputs[i].isNull() ? std::string() : "in" + std::to_string(i));
    node.outputs = {"out"};
    return node;
}

Tensors runOp(const std::string &op, const Tensors &inputs, const Attrs &attrs = {}, const std::string &domain = "",
              int threads = 1)
{
    const Node node = testNode(op, inputs, attrs, domain);
    const OpKernel kernel = findKernel(op, domain);
    if (!kernel)
        throw Error("no kernel for " + op);
    OpContext ctx{node, {}, {}, threads};
    for (const Tensor &t : inputs)
        ctx.inputs.push_back(t.isNull() ? nullptr : &t);
    ctx.outputs.resize(1);
    kernel(ctx);
    return ctx.outputs;
}

// One node in a Session: input 0 a graph input, the others initializers (the Session's constants). Its output
// on the first run, on the second (which takes what the node prepared from its constants on the first) and, with
// `override`, on a third that feeds those inputs anew.
Tensors runInSession(const std::string &op, const Tensors &inputs, const Attrs &attrs, const std::string &domain,
                     const std::map<int, Tensor> &override = {}, int threads = 1)
{
    Model m;
    const Node node = testNode(op, inputs, attrs, domain);
    for (size_t i = 1; i < inputs.size(); ++i)
        if (!node.inputs[i].empty())
            m.graph.initializers[node.inputs[i]] = inputs[i];
    m.graph.nodes = {node};
    m.graph.inputs = {ValueInfo{"in0", inputs[0].dtype(), inputs[0].shape(), true}};
    m.graph.outputs = {ValueInfo{"out", DType::Float32, {}, false}};
    const Session session(m, SessionOptions{threads});
    std::map<std::string, Tensor> feeds{{"in0", inputs[0]}};
    Tensors out{session.run(feeds).at("out"), session.run(feeds).at("out")};
    if (!override.empty()) {
        for (const auto &[i, t] : override)
            feeds["in" + std::to_string(i)] = t;
        out.push_back(session.run(feeds).at("out"));
    }
    return out;
}

// Deterministic integers in [lo, hi].
template <typename T> Tensor randomInts(Shape shape, unsigned seed, int lo, int hi)
{
    Tensor t(dtypeOf<T>(), std::move(shape));
    uint64_t state = seed * 2862933555777941757ULL + 3037000493ULL;
    for (int64_t i = 0; i < t.numel(); ++i) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        t.data<T>()[i] = T(lo + int((state >> 33) % uint64_t(hi - lo + 1)));
    }
    return t;
}

// Largest |a - b| over two integer (or float) tensors of the same shape; -1 when shapes or types differ.
double maxAbsDiff(const Tensor &a, const Tensor &b)
{
    if (a.shape() != b.shape() || a.dtype() != b.dtype())
        return -1;
    const std::vector<float> x = a.toFloatVector(), y = b.toFloatVector();
    double worst = 0;
    for (size_t i = 0; i < x.size(); ++i)
        worst = std::max(worst, std::abs(double(x[i]) - double(y[i])));
    return worst;
}

bool identical(const Tensor &a, const Tensor &b)
{
    return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.rawData(), b.rawData(), a.byteSize()) == 0;
}

// Runs `body` once on the fast kernels and once on the reference loops.
struct BothPaths {
    Tensors fast, reference;
};
BothPaths runBoth(const std::function<Tensors()> &body)
{
    BothPaths r;
    quant::setReferenceOnly(false);
    r.fast = body();
    quant::setReferenceOnly(true);
    r.reference = body();
    quant::setReferenceOnly(false);
    return r;
}

} // namespace

class TestQOps : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QJsonArray m_cases;

    // The case's numpy reference outputs (forms onnxruntime refuses), or onnxruntime's outputs on `file`.
    std::vector<Tensor> reference(const QJsonObject &o, const QString &file,
                                  const std::vector<std::pair<std::string, Tensor>> &feeds, QString *error) const
    {
        if (!o.contains("expected"))
            return testutil::runOrt(file, feeds, error);
        std::vector<Tensor> out;
        for (const auto &npy : o["expected"].toArray())
            out.push_back(readNpy(m_dir.filePath(npy.toString()).toStdString()));
        error->clear();
        return out;
    }

private slots:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        QString error;
        testutil::runProcess(testutil::python(),
                             {testutil::sourcePath("tests/tools/make_qop_cases.py"), m_dir.path()}, &error, 300000);
        QVERIFY2(error.isEmpty(), qPrintable("generating the test models failed: " + error));
        QFile f(m_dir.filePath("cases.json"));
        QVERIFY(f.open(QIODevice::ReadOnly));
        m_cases = QJsonDocument::fromJson(f.readAll()).array();
        QVERIFY(m_cases.size() > 20);
    }

    // CTest runs this program three times: as it is; as test_qops_avx2 with CW_MAX_ISA=avx2 and
    // ONEDNN_MAX_CPU_ISA=AVX2, where the kernels must take the paths of a CPU without AVX-512 or VNNI; and as
    // test_qops_avx_vnni with CW_MAX_ISA=avx2_vnni and ONEDNN_MAX_CPU_ISA=AVX2_VNNI, those of a CPU with AVX-VNNI
    // but without AVX-512 (where this one has AVX-VNNI; else the AVX2 ones).
    void instructionSetCap()
    {
        const QByteArray cap = qgetenv("CW_MAX_ISA");
        if (cap != "avx2" && cap != "avx2_vnni")
            QSKIP("runs under CW_MAX_ISA=avx2 or avx2_vnni (test_qops_avx2, test_qops_avx_vnni)");
        const bool avxVnni = cap == "avx2_vnni" && cw::cpuHasUncapped(cw::CpuFeature::AvxVnni);
        QVERIFY(!cw::cpuHas(cw::CpuFeature::Avx512Vnni));
        QVERIFY(!cw::cpuHas(cw::CpuFeature::Avx512Vbmi));
        QCOMPARE(cw::cpuHas(cw::CpuFeature::Avx2), bool(__builtin_cpu_supports("avx2")));
        QCOMPARE(cw::cpuHas(cw::CpuFeature::AvxVnni), avxVnni);
        QCOMPARE(quant::gemvIsa(), avxVnni ? quant::GemvIsa::AvxVnni : quant::GemvIsa::Avx2);
        // oneDNN's AVX2 int8 kernels saturate without VNNI; its AVX2 VNNI ones do not.
        QCOMPARE(cw::onednn::int8PairsSaturate(), !avxVnni);
    }

    // ---- hand-computed values -----------------------------------------------------------------------------------

    void quantizeRoundsHalfToEvenAndSaturates()
    {
        // x / 0.5 = -2, 0, 0.5, 1, 2.5, 3.5, 400 → nearbyint -2, 0, 0, 1, 2, 4, 400 → + 10, clamped to [0, 255].
        const Tensor x = Tensor::fromFloats({7}, {-1.f, 0.f, 0.25f, 0.5f, 1.25f, 1.75f, 200.f});
        const Tensor y = runOp("QuantizeLinear", {x, Tensor::scalar(0.5f), u8({}, {10})})[0];
        QCOMPARE(y.dtype(), DType::UInt8);
        QCOMPARE(y.toInt64Vector(), (std::vector<int64_t>{8, 10, 10, 11, 12, 14, 255}));
        // int8 with a negative zero point; -200 saturates at -128.
        const Tensor z = runOp("QuantizeLinear", {Tensor::fromFloats({3}, {-200.f, 0.3f, 1.f}), Tensor::scalar(0.1f),
                                                  s8({}, {-3})})[0];
        QCOMPARE(z.dtype(), DType::Int8);
        QCOMPARE(z.toInt64Vector(), (std::vector<int64_t>{-128, 0, 7}));
        // No zero point: uint8, zero point 0; output_dtype = 3 (opset 21) asks for int8.
        QCOMPARE(runOp("QuantizeLinear", {Tensor::fromFloats({2}, {-1.f, 1.f}), Tensor::scalar(0.01f)})[0].toInt64Vector(),
                 (std::vector<int64_t>{0, 100}));
        const Tensor i8 = runOp("QuantizeLinear", {Tensor::fromFloats({2}, {-1.f, 1.f}), Tensor::scalar(0.01f)},
                                {{"output_dtype", Attribute::makeInt(3)}})[0];
        QCOMPARE(i8.dtype(), DType::Int8);
        QCOMPARE(i8.toInt64Vector(), (std::vector<int64_t>{-100, 100}));
    }

    // The vectorised QuantizeLinear (16 or 32 values at a time) against the scalar arithmetic, value by value: random
    // values, values at and next to half-integer quotients, the saturation limits, NaN and infinities, and scales
    // whose reciprocal is not a normal float (the vector path multiplies by 1 / scale and divides only near a
    // rounding boundary).
    void quantizeVectorEqualsScalar()
    {
        std::mt19937 rng(17);
        std::uniform_real_distribution<float> uniform(-300.f, 300.f);
        for (const float scale : {0.0173f, 0.1f, 1.f / 3.f, 3.f, 7.77e-5f, 1e-39f, 3e38f}) {
            std::vector<float> x;
            for (int i = 0; i < 4000; ++i)
                x.push_back(uniform(rng) * scale);
            for (int k = -300; k <= 300; ++k) { // quotients at k + 0.5 and one float either side
                const float h = (float(k) + 0.5f) * scale;
                x.insert(x.end(), {h, std::nextafter(h, -INFINITY), std::nextafter(h, INFINITY)});
            }
            // At the front, inside the first group of 16 or 32 that the vector paths take (the end is a rest).
            x.insert(x.begin(), {0.f, -0.f, NAN, INFINITY, -INFINITY, 1e30f, -1e30f, 1e-42f, 3e9f * scale});
            for (const bool toInt8 : {false, true}) {
                const int32_t zp = toInt8 ? -3 : 131;
                std::vector<uint8_t> y(x.size());
                quant::quantizeValues(x.data(), int64_t(x.size()), scale, zp, toInt8, y.data());
                for (size_t i = 0; i < x.size(); ++i) {
                    const int32_t expected = std::isnan(x[i]) ? zp
                                             : quant::quantize(x[i], scale, zp, toInt8 ? -128 : 0, toInt8 ? 127 : 255);
                    const int32_t got = toInt8 ? int32_t(int8_t(y[i])) : int32_t(y[i]);
                    if (got != expected)
                        QFAIL(qPrintable(QString("scale %1, x %2: %3, expected %4").arg(double(scale)).arg(double(x[i]))
                                             .arg(got).arg(expected)));
                }
            }
        }
    }

    void quantizePerAxisAndBlocked()
    {
        // x [2, 3], per axis 1: column scales 1, 2, 4, zero points 0, 1, 2.
        const Tensor x = Tensor::fromFloats({2, 3}, {1.f, 2.f, 4.f, -1.f, 6.f, 9.f});
        const Tensor y = runOp("QuantizeLinear", {x, Tensor::fromFloats({3}, {1.f, 2.f, 4.f}), s8({3}, {0, 1, 2})},
                               {{"axis", Attribute::makeInt(1)}})[0];
        QCOMPARE(y.toInt64Vector(), (std::vector<int64_t>{1, 2, 3, -1, 4, 4})); // 9/4 = 2.25 → 2, + 2
        // Blocked along axis 1 with block 2: x [1, 5], scale [1, 3].
        const Tensor xb = Tensor::fromFloats({1, 5}, {1.f, 2.f, 3.f, 4.f, 5.f});
        const Tensor yb = runOp("QuantizeLinear", {xb, Tensor::fromFloats({1, 3}, {1.f, 0.5f, 0.25f}), s8({1, 3}, {0, 0, 1})},
                                {{"axis", Attribute::makeInt(1)}, {"block_size", Attribute::makeInt(2)}})[0];
        QCOMPARE(yb.toInt64Vector(), (std::vector<int64_t>{1, 2, 6, 8, 21}));
    }

    void dequantizeForms()
    {
        // Per tensor uint8.
        QCOMPARE(runOp("DequantizeLinear", {u8({3}, {0, 128, 255}), Tensor::scalar(0.5f), u8({}, {128})})[0].toFloatVector(),
                 (std::vector<float>{-64.f, 0.f, 63.5f}));
        // Per tensor, every byte value of both types: eight at a time and a tail.
        for (const DType type : {DType::UInt8, DType::Int8}) {
            Tensor x(type, {259});
            std::vector<float> expected;
            for (int i = 0; i < 259; ++i) {
                static_cast<uint8_t *>(x.rawData())[i] = uint8_t(i * 7);
                const int32_t v = type == DType::UInt8 ? int32_t(uint8_t(i * 7)) : int32_t(int8_t(uint8_t(i * 7)));
                expected.push_back(float(v - 3) * 0.37f);
            }
            Tensor zp(type, {});
            static_cast<uint8_t *>(zp.rawData())[0] = 3;
            QCOMPARE(runOp("DequantizeLinear", {x, Tensor::scalar(0.37f), zp})[0].toFloatVector(), expected);
        }
        // Per axis 0 of a [2, 2] weight.
        QCOMPARE(runOp("DequantizeLinear", {s8({2, 2}, {1, -2, 3, -4}), Tensor::fromFloats({2}, {0.5f, 2.f}), s8({2}, {0, 1})},
                       {{"axis", Attribute::makeInt(0)}})[0]
                     .toFloatVector(),
                 (std::vector<float>{0.5f, -1.f, 4.f, -10.f}));
        // Blocked: [2, 3] with block 2 on axis 1 → scale [2, 2]; the last block is partial.
        QCOMPARE(runOp("DequantizeLinear",
                       {s8({2, 3}, {1, 2, 3, 4, 5, 6}), Tensor::fromFloats({2, 2}, {1.f, 10.f, 0.5f, 0.25f}),
                        s8({2, 2}, {0, 1, 0, 2})},
                       {{"axis", Attribute::makeInt(1)}, {"block_size", Attribute::makeInt(2)}})[0]
                     .toFloatVector(),
                 (std::vector<float>{1.f, 2.f, 20.f, 2.f, 2.5f, 1.f}));
        // int32 (biases).
        QCOMPARE(runOp("DequantizeLinear", {s32({2}, {-1000000, 7}), Tensor::scalar(0.25f)})[0].toFloatVector(),
                 (std::vector<float>{-250000.f, 1.75f}));
    }

    void qlinearConvByHand()
    {
        // x 3x3 (zero point 2), w 2x2 (one output channel, zero point 0), pad 0: four windows.
        const Tensor x = u8({1, 1, 3, 3}, {2, 3, 4, 5, 6, 7, 8, 9, 10});   // x - 2: 0 1 2 / 3 4 5 / 6 7 8
        const Tensor w = s8({1, 1, 2, 2}, {1, -1, 2, 0});
        // acc: (0 - 1 + 6) = 5, (1 - 2 + 8) = 7, (3 - 4 + 12) = 11, (4 - 5 + 14) = 13; + bias 3 → 8, 10, 14, 16.
        // m = 0.5 * 0.25 / 0.5 = 0.25 → 2, 2.5 → 2, 3.5 → 4, 4 → + y_zp 100.
        const Tensor y = runOp("QLinearConv", {x, Tensor::scalar(0.5f), u8({}, {2}), w, Tensor::scalar(0.25f), s8({}, {0}),
                                               Tensor::scalar(0.5f), u8({}, {100}), s32({1}, {3})})[0];
        QCOMPARE(y.shape(), (Shape{1, 1, 2, 2}));
        QCOMPARE(y.toInt64Vector(), (std::vector<int64_t>{102, 102, 104, 104}));
        // Padding contributes nothing: pad 1, 1x1 output corner of a 2x2 kernel sees only x[0][0] - zp = 0 · w[1][1].
        const Tensor p = runOp("QLinearConv",
                               {x, Tensor::scalar(0.5f), u8({}, {2}), w, Tensor::scalar(0.25f), s8({}, {0}),
                                Tensor::scalar(0.5f), u8({}, {100})},
                               {{"pads", Attribute::makeInts({1, 1, 1, 1})}})[0];
        QCOMPARE(p.shape(), (Shape{1, 1, 4, 4}));
        QCOMPARE(p.toInt64Vector()[0], int64_t(100));
        // Per-channel scales and a ReLU through y_zp = 0: negative accumulators saturate at 0.
        const Tensor w2 = s8({2, 1, 1, 1}, {1, -1});
        const Tensor r = runOp("QLinearConv", {u8({1, 1, 1, 2}, {10, 20}), Tensor::scalar(1.f), u8({}, {0}), w2,
                                               Tensor::fromFloats({2}, {1.f, 0.5f}), s8({2}, {0, 0}), Tensor::scalar(1.f),
                                               u8({}, {0})})[0];
        QCOMPARE(r.toInt64Vector(), (std::vector<int64_t>{10, 20, 0, 0}));
    }

    void qgemmByHand()
    {
        // A [1, 2] (zp 1), B [2, 2] transB (rows = output columns), C bias.
        const Tensor a = u8({1, 2}, {3, 5});                 // a - 1 = 2, 4
        const Tensor b = s8({2, 2}, {1, 2, -3, 1});          // col0 = (1, 2), col1 = (-3, 1)
        const Attrs t{{"transB", Attribute::makeInt(1)}};
        // acc = 2·1 + 4·2 + 10 = 20, 2·(-3) + 4·1 - 1 = -3; float output = acc · 0.5 · (0.1, 0.2).
        const Tensor f = runOp("QGemm", {a, Tensor::scalar(0.5f), u8({}, {1}), b, Tensor::fromFloats({2}, {0.1f, 0.2f}),
                                         s8({2}, {0, 0}), s32({2}, {10, -1})},
                               t, "com.microsoft")[0];
        QCOMPARE(f.dtype(), DType::Float32);
        QCOMPARE(f.toFloatVector(), (std::vector<float>{20.f * (0.5f * 0.1f), -3.f * (0.5f * 0.2f)}));
        // Quantized output with y_scale 0.25, y_zp 5: 1.0 / 0.25 = 4, -0.3 / 0.25 = -1.2 → 9, 4.
        const Tensor q = runOp("QGemm", {a, Tensor::scalar(0.5f), u8({}, {1}), b, Tensor::fromFloats({2}, {0.1f, 0.2f}),
                                         s8({2}, {0, 0}), s32({2}, {10, -1}), Tensor::scalar(0.25f), u8({}, {5})},
                               t, "com.microsoft")[0];
        QCOMPARE(q.dtype(), DType::UInt8);
        QCOMPARE(q.toInt64Vector(), (std::vector<int64_t>{9, 4}));
    }

    void qlinearMatMulByHand()
    {
        const Tensor a = u8({2, 2}, {1, 2, 3, 4});
        const Tensor b = s8({2, 1}, {1, -1});
        // (a - 0) · b = -1, -1; m = 1 · 2 / 1 = 2 → -2 + 10 = 8.
        const Tensor y = runOp("QLinearMatMul", {a, Tensor::scalar(1.f), u8({}, {0}), b, Tensor::scalar(2.f), s8({}, {0}),
                                                 Tensor::scalar(1.f), u8({}, {10})})[0];
        QCOMPARE(y.toInt64Vector(), (std::vector<int64_t>{8, 8}));
    }

    void dynamicQuantizeLinearByHand()
    {
        // Range [-2.5, 252.5]: scale (252.5 + 2.5) / 255 = 1; zero point round(2.5) = 2 (half to even); then
        // -2.5 → -2 + 2 = 0, 0.5 → 0 + 2, 252.5 → 252 + 2 (halves to even), 300 saturates.
        Tensors out(3);
        auto run = [&](const Tensor &x) {
            Node node;
            node.name = "dql";
            node.opType = "DynamicQuantizeLinear";
            node.inputs = {"x"};
            node.outputs = {"y", "y_scale", "y_zero_point"};
            OpContext ctx{node, {&x}, {}, 1};
            ctx.outputs.resize(3);
            findKernel("DynamicQuantizeLinear")(ctx);
            out = ctx.outputs;
        };
        run(Tensor::fromFloats({4}, {-2.5f, 0.5f, 252.5f, 1.5f}));
        QCOMPARE(out[0].dtype(), DType::UInt8);
        QCOMPARE(out[0].toInt64Vector(), (std::vector<int64_t>{0, 2, 254, 4}));
        QCOMPARE(out[1].rank(), 0);
        QCOMPARE(out[1].f32()[0], 1.f);
        QCOMPARE(out[2].dtype(), DType::UInt8);
        QCOMPARE(out[2].toInt64Vector(), (std::vector<int64_t>{2}));
        // Only positive values: the range still starts at 0, so the zero point is 0; only negative: 255.
        run(Tensor::fromFloats({2}, {2.55f, 1.f}));
        QCOMPARE(out[2].toInt64Vector(), (std::vector<int64_t>{0}));
        QCOMPARE(out[1].f32()[0], 2.55f / 255.f);
        run(Tensor::fromFloats({2}, {-5.1f, -1.f}));
        QCOMPARE(out[2].toInt64Vector(), (std::vector<int64_t>{255}));
        QCOMPARE(out[0].toInt64Vector(), (std::vector<int64_t>{0, 205})); // -1 / 0.02 = -50 → 205
        // All zeros: scale 1 (as onnxruntime), zero point 0.
        run(Tensor(DType::Float32, {3}));
        QCOMPARE(out[1].f32()[0], 1.f);
        QCOMPARE(out[0].toInt64Vector(), (std::vector<int64_t>{0, 0, 0}));
    }

    void convIntegerByHand()
    {
        // x - 1 = 0 1 / 2 3 and w - 1 = 0 0 / 0 1: the single window sums to 3.
        const Tensor x = u8({1, 1, 2, 2}, {1, 2, 3, 4});
        const Tensor y = runOp("ConvInteger", {x, u8({1, 1, 2, 2}, {1, 1, 1, 2}), u8({}, {1}), u8({}, {1})})[0];
        QCOMPARE(y.dtype(), DType::Int32);
        QCOMPARE(y.shape(), (Shape{1, 1, 1, 1}));
        QCOMPARE(y.toInt64Vector(), (std::vector<int64_t>{3}));
        // Per output channel weight zero points (int8 weights): w - zp = 0 and 1, so channel 1 is x - x_zp.
        const Tensor c = runOp("ConvInteger", {x, s8({2, 1, 1, 1}, {-5, 7}), u8({}, {1}), s8({2}, {-5, 6})})[0];
        QCOMPARE(c.toInt64Vector(), (std::vector<int64_t>{0, 0, 0, 0, 0, 1, 2, 3}));
        // Padding counts as x_zp: with pads 1 the corner windows see only x[0][0] - 1 = 0 against w[1][1].
        const Tensor p = runOp("ConvInteger", {x, u8({1, 1, 2, 2}, {1, 1, 1, 2}), u8({}, {1}), u8({}, {1})},
                               {{"pads", Attribute::makeInts({1, 1, 1, 1})}})[0];
        QCOMPARE(p.shape(), (Shape{1, 1, 3, 3}));
        QCOMPARE(p.toInt64Vector(), (std::vector<int64_t>{0, 1, 0, 2, 3, 0, 0, 0, 0}));
    }

    void matMulIntegerByHand()
    {
        // a int8 with per-row zero points (1, 3): rows (0, 1) and (0, 1); b uint8 with per-column zero points
        // (5, 6): (0, 0) / (2, 2). Every product is 2.
        const Tensor a = s8({2, 2}, {1, 2, 3, 4});
        const Tensor b = u8({2, 2}, {5, 6, 7, 8});
        const Tensor y = runOp("MatMulInteger", {a, b, s8({2}, {1, 3}), u8({2}, {5, 6})})[0];
        QCOMPARE(y.dtype(), DType::Int32);
        QCOMPARE(y.toInt64Vector(), (std::vector<int64_t>{2, 2, 2, 2}));
        // No zero points, a 1-D a (one row, dropped from the shape), broadcast batch: b [2, 2, 1].
        const Tensor v = runOp("MatMulInteger", {s8({2}, {1, -2}), s8({2, 2, 1}, {3, 4, -1, 5})})[0];
        QCOMPARE(v.shape(), (Shape{2, 1}));
        QCOMPARE(v.toInt64Vector(), (std::vector<int64_t>{3 - 8, -1 - 10}));
        QVERIFY(errorOf([&] { runOp("MatMulInteger", {a, b, s8({3}, {1, 2, 3})}); }).contains("a_zero_point"));
        QVERIFY(errorOf([&] { runOp("MatMulInteger", {a, s8({3, 2}, {1, 2, 3, 4, 5, 6})}); }).contains("do not multiply"));
    }

    void integerDataMovement()
    {
        const Tensor x = u8({1, 1, 2, 4}, {1, 9, 3, 4, 250, 6, 7, 8});
        const Attrs pool{{"kernel_shape", Attribute::makeInts({2, 2})}, {"strides", Attribute::makeInts({2, 2})}};
        const Tensor p = runOp("MaxPool", {x}, pool)[0];
        QCOMPARE(p.dtype(), DType::UInt8);
        QCOMPARE(p.toInt64Vector(), (std::vector<int64_t>{250, 8}));
        const Tensor xs = s8({1, 1, 1, 3}, {-5, -7, -1});
        const Tensor ps = runOp("MaxPool", {xs}, {{"kernel_shape", Attribute::makeInts({1, 2})},
                                                  {"pads", Attribute::makeInts({0, 1, 0, 1})}})[0];
        QCOMPARE(ps.toInt64Vector(), (std::vector<int64_t>{-5, -5, -1, -1})); // padding never wins
        const Tensor f = runOp("Flatten", {x}, {{"axis", Attribute::makeInt(1)}})[0];
        QCOMPARE(f.dtype(), DType::UInt8);
        QCOMPARE(f.shape(), (Shape{1, 8}));
        const Tensor r = runOp("Reshape", {x, Tensor::fromInt64s({2}, {4, 2})})[0];
        QCOMPARE(r.shape(), (Shape{4, 2}));
        QCOMPARE(r.toInt64Vector(), x.toInt64Vector());
        const Tensor t = runOp("Transpose", {u8({2, 2}, {1, 2, 3, 4})}, {{"perm", Attribute::makeInts({1, 0})}})[0];
        QCOMPARE(t.toInt64Vector(), (std::vector<int64_t>{1, 3, 2, 4}));
        QCOMPARE(runOp("Identity", {x})[0].toInt64Vector(), x.toInt64Vector());
        const Tensor c = runOp("Concat", {u8({1, 2}, {1, 2}), u8({1, 1}, {3})}, {{"axis", Attribute::makeInt(1)}})[0];
        QCOMPARE(c.toInt64Vector(), (std::vector<int64_t>{1, 2, 3}));
    }

    void errors_data()
    {
        QTest::addColumn<QString>("expected");
        QTest::newRow("per-axis scale of the wrong length") << "scale [2] must be a scalar or 1-D of 3";
        QTest::newRow("blocked scale of the wrong shape") << "must be [2, 2] for input [2, 3] with block_size 2";
        QTest::newRow("float weight in QLinearConv") << "w must be int8 or uint8, got float32";
        QTest::newRow("bias of the wrong type") << "B must be int32, got float32";
        QTest::newRow("zero scale") << "x_scale must be positive and finite";
        QTest::newRow("QLinearAdd of uint8 and int8") << "A and B must have the same type, got uint8 and int8";
        QTest::newRow("QLinearConcat without whole triples") << "expects Y_scale, Y_zero_point and (X, X_scale, X_zero_point) triples, got 4 inputs";
        QTest::newRow("QLinearSoftmax without its opset") << "attribute opset (of the Softmax it replaces) is missing";
    }

    void errors()
    {
        QFETCH(QString, expected);
        const QString row = QTest::currentDataTag();
        const Tensor x = u8({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
        QString e;
        if (row.startsWith("per-axis"))
            e = errorOf([] {
                runOp("QuantizeLinear", {Tensor::fromFloats({2, 3}, {1, 2, 3, 4, 5, 6}), Tensor::fromFloats({2}, {1, 1})},
                      {{"axis", Attribute::makeInt(1)}});
            });
        else if (row.startsWith("blocked"))
            e = errorOf([] {
                runOp("DequantizeLinear", {s8({2, 3}, {1, 2, 3, 4, 5, 6}), Tensor::fromFloats({2, 3}, {1, 1, 1, 1, 1, 1})},
                      {{"axis", Attribute::makeInt(1)}, {"block_size", Attribute::makeInt(2)}});
            });
        else if (row.startsWith("float weight"))
            e = errorOf([&] {
                runOp("QLinearConv", {x, Tensor::scalar(1.f), u8({}, {0}), Tensor::fromFloats({1, 1, 1, 1}, {1.f}),
                                      Tensor::scalar(1.f), s8({}, {0}), Tensor::scalar(1.f), u8({}, {0})});
            });
        else if (row.startsWith("QLinearAdd"))
            e = errorOf([&] {
                runOp("QLinearAdd", {x, Tensor::scalar(1.f), {}, s8({1}, {1}), Tensor::scalar(1.f), {}, Tensor::scalar(1.f)},
                      {}, "com.microsoft");
            });
        else if (row.startsWith("QLinearConcat"))
            e = errorOf([&] {
                runOp("QLinearConcat", {Tensor::scalar(1.f), u8({}, {0}), x, Tensor::scalar(1.f)}, {}, "com.microsoft");
            });
        else if (row.startsWith("QLinearSoftmax"))
            e = errorOf([&] {
                runOp("QLinearSoftmax", {x, Tensor::scalar(1.f), u8({}, {0}), Tensor::scalar(1.f), u8({}, {0})}, {},
                      "com.microsoft");
            });
        else if (row.startsWith("bias"))
            e = errorOf([&] {
                runOp("QLinearConv", {x, Tensor::scalar(1.f), u8({}, {0}), s8({1, 1, 1, 1}, {1}), Tensor::scalar(1.f),
                                      s8({}, {0}), Tensor::scalar(1.f), u8({}, {0}), Tensor::fromFloats({1}, {1.f})});
            });
        else
            e = errorOf([&] {
                runOp("QLinearConv", {x, Tensor::scalar(0.f), u8({}, {0}), s8({1, 1, 1, 1}, {1}), Tensor::scalar(1.f),
                                      s8({}, {0}), Tensor::scalar(1.f), u8({}, {0})});
            });
        QVERIFY2(e.contains(expected), qPrintable(e));
    }

    // com.microsoft QOperators on values worked out by hand.
    void qoperatorsByHand()
    {
        const std::string ms = "com.microsoft";
        // A: (10 - 100)·0.1 = -9, (200 - 100)·0.1 = 10; B: 0. C = sum / 0.5 + 10 → -8 (saturates to 0), 30.
        Tensors y = runOp("QLinearAdd", {u8({2}, {10, 200}), Tensor::scalar(0.1f), u8({}, {100}), u8({}, {50}),
                                         Tensor::scalar(0.2f), u8({}, {50}), Tensor::scalar(0.5f), u8({}, {10})},
                          {}, ms);
        QVERIFY(identical(y[0], u8({2}, {0, 30})));
        // (10 + 20 + 30 + 41) / 4 = 25.25, / y_scale 2 = 12.625 → 13, + 5.
        y = runOp("QLinearGlobalAveragePool", {u8({1, 1, 2, 2}, {10, 20, 30, 41}), Tensor::scalar(1.f), u8({}, {0}),
                                               Tensor::scalar(2.f), u8({}, {5})},
                  {}, ms);
        QVERIFY(identical(y[0], u8({1, 1, 1, 1}, {18})));
        // channels_last: [1, 2 (spatial), 2 (channels)].
        y = runOp("QLinearGlobalAveragePool", {s8({1, 2, 2}, {-4, 10, 8, 20}), Tensor::scalar(1.f), s8({}, {0}),
                                               Tensor::scalar(1.f), s8({}, {0})},
                  {{"channels_last", Attribute::makeInt(1)}}, ms);
        QVERIFY(identical(y[0], s8({1, 1, 2}, {2, 15})));
        // The first input requantized ((4 - 2)·0.5 = 1), the second one already on Y's grid and copied.
        y = runOp("QLinearConcat", {Tensor::scalar(1.f), u8({}, {0}), u8({1}, {4}), Tensor::scalar(0.5f), u8({}, {2}),
                                    u8({1}, {7}), Tensor::scalar(1.f), u8({}, {0})},
                  {{"axis", Attribute::makeInt(0)}}, ms);
        QVERIFY(identical(y[0], u8({2}, {1, 7})));
        // Two equal logits: 0.5 each, on a 1/256 grid → 128.
        y = runOp("QLinearSoftmax", {u8({1, 2}, {9, 9}), Tensor::scalar(0.1f), u8({}, {0}), Tensor::scalar(1.f / 256),
                                     u8({}, {0})},
                  {{"opset", Attribute::makeInt(13)}}, ms);
        QVERIFY(identical(y[0], u8({1, 2}, {128, 128})));
    }

    // A weight-only layer: DequantizeLinear(W_q) → Conv. The dequantization runs once, when the Session is
    // built: writing into W_q afterwards does not change the session's output (a new Session sees it).
    void sessionFoldsConstantSubgraphs()
    {
        Model m;
        Graph &g = m.graph;
        g.initializers["wq"] = s8({2, 1, 1, 1}, {3, -4});
        g.initializers["ws"] = Tensor::fromFloats({2}, {0.5f, 0.25f});
        g.initializers["wz"] = s8({2}, {0, 0});
        Node dq;
        dq.name = "dq";
        dq.opType = "DequantizeLinear";
        dq.inputs = {"wq", "ws", "wz"};
        dq.outputs = {"w"};
        dq.attrs["axis"] = Attribute::makeInt(0);
        Node conv;
        conv.name = "conv";
        conv.opType = "Conv";
        conv.inputs = {"x", "w"};
        conv.outputs = {"y"};
        g.nodes = {dq, conv};
        g.inputs = {ValueInfo{"x", DType::Float32, {-1, 1, 2, 2}, true}};
        g.outputs = {ValueInfo{"y", DType::Float32, {}, false}};
        inferShapes(m);
        QCOMPARE(g.values.at("w").shape, (Shape{2, 1, 1, 1}));
        const Tensor x = Tensor::fromFloats({1, 1, 2, 2}, {1.f, 2.f, 3.f, 4.f});
        const Session session(m, SessionOptions{1});
        const std::vector<float> expected{1.5f, 3.f, 4.5f, 6.f, -1.f, -2.f, -3.f, -4.f};
        QCOMPARE(session.run(x).toFloatVector(), expected);
        QCOMPARE(session.runAll({{"x", x}}).at("w").toFloatVector(), (std::vector<float>{1.5f, -1.f}));
        m.graph.initializers.at("wq").data<int8_t>()[0] = 0; // shared buffer: the session's copy sees the write
        QCOMPARE(session.run(x).toFloatVector(), expected);
        QCOMPARE(Session(m, SessionOptions{1}).run(x).toFloatVector()[0], 0.f);
    }

    // load → export .onnx (opset 17 + com.microsoft; blocked DequantizeLinear as opset-17 arithmetic; a model
    // with a node that has no opset-17 form at its own opset) → onnx.checker → onnxruntime on the export equals
    // our output on the original (within one LSB).
    void exportRoundTrip_data() { compareWithOnnxruntime_data(); }

    void exportRoundTrip()
    {
        QFETCH(int, index);
        if (!testutil::ortAvailable())
            QSKIP("onnxruntime-node or node is not installed");
        const QJsonObject o = m_cases[index].toObject();
        const QString file = m_dir.filePath(o["file"].toString());
        const QString exported = m_dir.filePath("exported_" + o["file"].toString());
        std::vector<std::pair<std::string, Tensor>> feeds;
        const QJsonArray inputs = o["inputs"].toArray();
        for (int i = 0; i < inputs.size(); ++i) {
            const QJsonArray in = inputs[i].toArray();
            Shape shape;
            for (const auto &d : in[1].toArray())
                shape.push_back(d.toInteger());
            feeds.emplace_back(in[0].toString().toStdString(),
                               testutil::randomTensor(shape, unsigned(qHash(o["name"].toString()) + 17u * unsigned(i)),
                                                      float(in[2].toDouble()), float(in[3].toDouble())));
        }
        Model model;
        std::map<std::string, Tensor> ours;
        try {
            model = loadModel(file.toStdString());
            saveModel(model, exported.toStdString());
            ours = Session(model, SessionOptions{1}).run({feeds.begin(), feeds.end()});
        } catch (const Error &e) {
            QFAIL(e.what());
        }
        QString error;
        // The checker knows the opsets of its onnx version (Debian's 1.12: up to 17); onnxruntime runs the rest.
        const QString check = QStringLiteral("import onnx\n"
                                             "m = onnx.load('%1')\n"
                                             "if m.opset_import[0].version <= onnx.defs.onnx_opset_version():\n"
                                             "    onnx.checker.check_model(m, full_check=True)\n"
                                             "ops = {(o.domain, o.version) for o in m.opset_import}\n"
                                             "assert ('', %2) in ops, ops\n"
                                             "ms = any(n.domain == 'com.microsoft' for n in m.graph.node)\n"
                                             "assert ms == (('com.microsoft', 1) in ops), ops\n")
                                  .arg(exported)
                                  .arg(o["export_opset"].toInt(17));
        QVERIFY2(testutil::runPython(check, m_dir.path(), &error), qPrintable(error));
        const std::vector<Tensor> ref = reference(o, exported, feeds, &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        const QJsonArray lsb = o["lsb"].toArray();
        QCOMPARE(ref.size(), model.graph.outputs.size());
        for (size_t i = 0; i < ref.size(); ++i) {
            const double diff = maxAbsDiff(ours.at(model.graph.outputs[i].name), ref[i]);
            QVERIFY2(diff >= 0 && diff <= lsb[int(i)].toDouble(),
                     qPrintable(QStringLiteral("output %1 differs from onnxruntime on the export by %2").arg(i).arg(diff)));
        }
        // And the export loads back into the same graph function.
        const Model back = loadModel(exported.toStdString());
        const auto again = Session(back, SessionOptions{1}).run({feeds.begin(), feeds.end()});
        for (const ValueInfo &v : model.graph.outputs)
            QVERIFY2(identical(again.at(v.name), ours.at(v.name)), v.name.c_str());
    }

    // ---- .h5 storage of integer weights ---------------------------------------------------------------------------

    // int8 / uint8 initializers whose values fit in fewer bits are stored bit-packed: the file shrinks by the
    // saved bits, the values come back exactly, and h5py sees the documented layout.
    void h5PacksNarrowIntegerWeights_data()
    {
        QTest::addColumn<int>("bits");
        QTest::addColumn<int>("lo");
        QTest::addColumn<int>("hi");
        QTest::newRow("4-bit symmetric int8") << 4 << -7 << 7;
        QTest::newRow("3-bit symmetric int8") << 3 << -3 << 3;
        QTest::newRow("2-bit int8 with -2") << 2 << -2 << 1;
        QTest::newRow("7-bit int8") << 7 << -64 << 63;
        QTest::newRow("8-bit int8 stays plain") << 8 << -127 << 127;
    }

    void h5PacksNarrowIntegerWeights()
    {
        QFETCH(int, bits);
        QFETCH(int, lo);
        QFETCH(int, hi);
        auto model = [&](const Tensor &w) {
            Model m;
            Graph &g = m.graph;
            g.initializers["w"] = w;
            g.initializers["ws"] = Tensor::fromFloats({256}, std::vector<float>(256, 0.01f));
            g.initializers["wz"] = s8({256}, std::vector<int64_t>(256, 0));
            g.initializers["u"] = randomInts<uint8_t>({100}, 9, 0, 3); // 2-bit uint8
            g.initializers["us"] = Tensor::scalar(0.5f);
            g.initializers["uz"] = u8({}, {1});
            Node dq{"dq", "DequantizeLinear", "", {"w", "ws", "wz"}, {"wf"}, {{"axis", Attribute::makeInt(0)}}};
            Node du{"du", "DequantizeLinear", "", {"u", "us", "uz"}, {"uf"}, {}};
            Node add{"add", "Add", "", {"x", "wf"}, {"y"}, {}};
            Node sum{"sum", "ReduceSum", "", {"uf"}, {"z"}, {}};
            g.nodes = {dq, du, add, sum};
            g.inputs = {ValueInfo{"x", DType::Float32, {-1, 256, 64}, true}};
            g.outputs = {ValueInfo{"y", DType::Float32, {}, false}, ValueInfo{"z", DType::Float32, {}, false}};
            inferShapes(m);
            return m;
        };
        const Model narrow = model(randomInts<int8_t>({256, 64}, 8, lo, hi));
        const Model wide = model(randomInts<int8_t>({256, 64}, 8, -127, 127));
        const QString narrowFile = m_dir.filePath(QStringLiteral("packed_%1.h5").arg(bits));
        const QString wideFile = m_dir.filePath(QStringLiteral("wide_%1.h5").arg(bits));
        try {
            saveModel(narrow, narrowFile.toStdString());
            saveModel(wide, wideFile.toStdString());
        } catch (const Error &e) {
            QFAIL(e.what());
        }
        const qint64 saved = QFileInfo(wideFile).size() - QFileInfo(narrowFile).size();
        const qint64 expected = 256 * 64 * (8 - bits) / 8;
        QVERIFY2(saved >= expected - 256 && saved <= expected + 512, // attributes cost a few hundred bytes
                 qPrintable(QStringLiteral("%1 bits: the file shrank by %2 bytes, expected about %3")
                                .arg(bits)
                                .arg(saved)
                                .arg(expected)));
        Model back;
        try {
            back = loadModel(narrowFile.toStdString());
        } catch (const Error &e) {
            QFAIL(e.what());
        }
        for (const char *name : {"w", "wz", "u", "uz"}) {
            QVERIFY2(identical(back.graph.initializers.at(name), narrow.graph.initializers.at(name)), name);
        }
        const Tensor x = testutil::randomTensor({2, 256, 64}, 3);
        const auto ours = Session(narrow, SessionOptions{1}).run({{"x", x}});
        const auto theirs = Session(back, SessionOptions{1}).run({{"x", x}});
        QVERIFY(identical(ours.at("y"), theirs.at("y")));
        QVERIFY(identical(ours.at("z"), theirs.at("z")));
        // The layout docs/formats.md describes, unpacked with numpy.
        QString error;
        const QString code = QStringLiteral(
                                 "import h5py, numpy as np, sys\n"
                                 "f = h5py.File('%1', 'r')\n"
                                 "assert f.attrs['format_version'] == 2, f.attrs['format_version']  # 'u' is packed\n"
                                 "d = [d for d in f['initializers'].values() if d.attrs['name'] in (b'w', 'w')][0]\n"
                                 "if %2 < 8:\n"
                                 "    b = int(d.attrs['packed_bits']); n = int(np.prod(d.attrs['shape']))\n"
                                 "    assert b == %2 and d.dtype == np.uint8 and d.shape == ((n * b + 7) // 8,), (b, d.shape)\n"
                                 "    bits = np.unpackbits(d[()], bitorder='little')[: n * b].reshape(n, b)\n"
                                 "    v = (bits * (1 << np.arange(b))).sum(1)\n"
                                 "    v = np.where(v >= 1 << (b - 1), v - (1 << b), v).reshape(d.attrs['shape'])\n"
                                 "else:\n"
                                 "    v = d[()]\n"
                                 "np.save('unpacked_%2.npy', v.astype(np.int8))\n")
                                 .arg(narrowFile)
                                 .arg(bits);
        if (!testutil::runPython(code, m_dir.path(), &error)) {
            if (error.contains("No module named 'h5py'"))
                QSKIP("h5py is not installed");
            QFAIL(qPrintable(error));
        }
        const Tensor unpacked = readNpy(m_dir.filePath(QStringLiteral("unpacked_%1.npy").arg(bits)).toStdString());
        QCOMPARE(unpacked.toInt64Vector(), narrow.graph.initializers.at("w").toInt64Vector());
    }

    // ---- the fast kernels equal the reference arithmetic bit for bit ------------------------------------------------

    void qconvFastEqualsReference_data()
    {
        QTest::addColumn<Shape>("x");
        QTest::addColumn<Shape>("w");
        QTest::addColumn<QList<int>>("pads");
        QTest::addColumn<int>("stride");
        QTest::addColumn<int>("group");
        QTest::addColumn<int>("xZp");
        QTest::addColumn<int>("yZp");
        QTest::addColumn<int>("threads");
        QTest::newRow("demo conv1: 1->32 3x3 pad 1, ReLU") << Shape{1, 1, 28, 28} << Shape{32, 1, 3, 3}
                                                            << QList<int>{1, 1, 1, 1} << 1 << 1 << 0 << 0 << 1;
        QTest::newRow("demo conv2: 32->64 3x3 pad 1, ReLU") << Shape{1, 32, 14, 14} << Shape{64, 32, 3, 3}
                                                             << QList<int>{1, 1, 1, 1} << 1 << 1 << 0 << 0 << 1;
        QTest::newRow("batch 3, zero points, stride 2") << Shape{3, 8, 9, 9} << Shape{16, 8, 3, 3}
                                                         << QList<int>{1, 0, 1, 0} << 2 << 1 << 128 << 128 << 2;
        QTest::newRow("1x1 with odd channels") << Shape{2, 13, 5, 7} << Shape{11, 13, 1, 1} << QList<int>{0, 0, 0, 0}
                                                << 1 << 1 << 3 << 17 << 1;
        QTest::newRow("grouped") << Shape{1, 8, 6, 6} << Shape{8, 4, 3, 3} << QList<int>{1, 1, 1, 1} << 1 << 2 << 0
                                 << 0 << 1;
        QTest::newRow("batch 8, two threads") << Shape{8, 16, 7, 7} << Shape{24, 16, 3, 3} << QList<int>{1, 1, 1, 1}
                                               << 1 << 1 << 0 << 0 << 2;
        // 38M multiply-adds in one image: oneDNN's own team of two (fewer images than threads).
        QTest::newRow("one image, two threads") << Shape{1, 64, 32, 32} << Shape{64, 64, 3, 3}
                                                 << QList<int>{1, 1, 1, 1} << 1 << 1 << 3 << 10 << 2;
        // The same with channels and pixels that are not multiples of eight (16M multiply-adds; the output's
        // eight-channel blocks split between the threads, the last one short).
        QTest::newRow("one image, two threads, odd sizes") << Shape{1, 48, 37, 35} << Shape{29, 48, 3, 3}
                                                            << QList<int>{1, 1, 1, 1} << 1 << 1 << 7 << 90 << 2;
        // Few output positions and 1-D convolutions: one integer product over the positions as rows (im2row).
        QTest::newRow("few positions: 3x3 on 4x4, batch 2") << Shape{2, 8, 4, 4} << Shape{12, 8, 3, 3}
                                                             << QList<int>{1, 1, 1, 1} << 1 << 1 << 100 << 3 << 1;
        QTest::newRow("1-D STFT frames: 1->40, 512 taps, stride 160") << Shape{1, 1, 1280} << Shape{40, 1, 512}
                                                                       << QList<int>{0, 0} << 160 << 1 << 128 << 0
                                                                       << 1;
        QTest::newRow("1-D k3 pad 1 stride 2, batch 3") << Shape{3, 129, 4} << Shape{128, 129, 3} << QList<int>{1, 1}
                                                         << 2 << 1 << 7 << 90 << 1;
        QTest::newRow("1-D, 36 positions, two threads") << Shape{4, 20, 40} << Shape{33, 20, 5}
                                                         << QList<int>{2, 2} << 1 << 1 << 128 << 128 << 2;
        // One input row with padding above and below: three output rows, two of them from the padding.
        QTest::newRow("1x3 on one row, padded") << Shape{2, 4, 1, 5} << Shape{6, 4, 1, 3} << QList<int>{1, 1, 1, 1}
                                                << 1 << 1 << 77 << 5 << 1;
        QTest::newRow("1-D k7 pad 3") << Shape{2, 5, 19} << Shape{9, 5, 7} << QList<int>{3, 2} << 1 << 1 << 200 << 9
                                      << 1;
        QTest::newRow("1-D grouped") << Shape{2, 8, 11} << Shape{6, 4, 3} << QList<int>{1, 1} << 1 << 2 << 5 << 0
                                     << 1;
        // Short windows (at most 64 bytes, each window row padded to groups of four): in a Session, with AVX-512
        // VNNI, the positions' windows against the weights, read from a padded channel-last copy of x.
        QTest::newRow("short windows: 3->20 3x3 stride 2, batch 2") << Shape{2, 3, 15, 16} << Shape{20, 3, 3, 3}
                                                                     << QList<int>{1, 1, 1, 1} << 2 << 1 << 9 << 30
                                                                     << 1;
        QTest::newRow("short windows: 2->70 5x5 pads 2, 0, 1, 2") << Shape{3, 2, 9, 8} << Shape{70, 2, 5, 5}
                                                                   << QList<int>{2, 0, 1, 2} << 1 << 1 << 250 << 4
                                                                   << 1;
        QTest::newRow("short windows: demo conv1, batch 8, two threads") << Shape{8, 1, 28, 28} << Shape{32, 1, 3, 3}
                                                                          << QList<int>{1, 1, 1, 1} << 1 << 1 << 0
                                                                          << 0 << 2;
    }

    void qconvFastEqualsReference()
    {
        QFETCH(Shape, x);
        QFETCH(Shape, w);
        QFETCH(QList<int>, pads);
        QFETCH(int, stride);
        QFETCH(int, group);
        QFETCH(int, xZp);
        QFETCH(int, yZp);
        QFETCH(int, threads);
        const Tensor xq = randomInts<uint8_t>(x, 1, 0, 255);
        const Tensor wq = randomInts<int8_t>(w, 2, -127, 127);
        const Tensor bias = randomInts<int32_t>({w[0]}, 3, -5000, 5000);
        std::vector<float> scales(static_cast<size_t>(w[0]));
        for (size_t i = 0; i < scales.size(); ++i)
            scales[i] = 0.001f + 0.0007f * float(i % 7);
        const bool oneD = x.size() == 3;
        const Attrs attrs{{"pads", Attribute::makeInts(std::vector<int64_t>(pads.begin(), pads.end()))},
                          {"strides", Attribute::makeInts(oneD ? std::vector<int64_t>{stride}
                                                               : std::vector<int64_t>{stride, stride})},
                          {"group", Attribute::makeInt(group)}};
        auto qlinearConv = [&](const Tensor &weights) {
            return runBoth([&] {
                return runOp("QLinearConv",
                             {xq, Tensor::scalar(0.02f), u8({}, {xZp}), weights, Tensor::fromFloats({w[0]}, scales),
                              s8({w[0]}, std::vector<int64_t>(size_t(w[0]), 0)), Tensor::scalar(0.07f), u8({}, {yZp}),
                              bias},
                             attrs, "", threads);
            });
        };
        const BothPaths r = qlinearConv(wq);
        QVERIFY(identical(r.fast[0], r.reference[0]));
        const Tensors inputs{xq, Tensor::scalar(0.02f), u8({}, {xZp}), wq, Tensor::fromFloats({w[0]}, scales),
                             s8({w[0]}, std::vector<int64_t>(size_t(w[0]), 0)), Tensor::scalar(0.07f), u8({}, {yZp}),
                             bias};
        // int8 output (y's zero point int8).
        Tensors signedOut = inputs;
        signedOut[7] = s8({}, {yZp - 128});
        const BothPaths rs = runBoth([&] { return runOp("QLinearConv", signedOut, attrs, "", threads); });
        QCOMPARE(rs.fast[0].dtype(), DType::Int8);
        QVERIFY(identical(rs.fast[0], rs.reference[0]));
        // Weights beyond ±64 run as two products on a CPU without VNNI; 7-bit weights (levels within ±63) as one,
        // on every CPU, and equal the reference too.
        QCOMPARE(onednn::int8WeightsSplit(wq.data<int8_t>(), wq.numel()), onednn::int8PairsSaturate());
        const Tensor w7 = randomInts<int8_t>(w, 12, -63, 63);
        QVERIFY(!onednn::int8WeightsSplit(w7.data<int8_t>(), w7.numel()));
        const BothPaths r7 = qlinearConv(w7);
        QVERIFY(identical(r7.fast[0], r7.reference[0]));
        // In a Session, whose constant weights are packed once and found again by the Session's id for them (the
        // second run); weights fed anew for a third run are used as they are. The same with int8 output.
        const Tensors runs = runInSession("QLinearConv", inputs, attrs, "", {{3, w7}}, threads);
        QVERIFY(identical(runs[0], r.reference[0]));
        QVERIFY(identical(runs[1], r.reference[0]));
        QVERIFY(identical(runs[2], r7.reference[0]));
        QVERIFY(identical(runInSession("QLinearConv", signedOut, attrs, "", {}, threads)[0], rs.reference[0]));
        // Not all saturated: the test would pass trivially otherwise.
        const std::vector<int64_t> v = r.reference[0].toInt64Vector();
        QVERIFY(std::count_if(v.begin(), v.end(), [](int64_t q) { return q > 0 && q < 255; }) > int64_t(v.size() / 4));
        // int8 activations: the fast paths read them as uint8 (each value and the zero point plus 128), the reference
        // loops as they are; and in a Session.
        Tensors signedIn = inputs;
        signedIn[0] = randomInts<int8_t>(x, 8, -128, 127);
        signedIn[2] = s8({}, {xZp - 128});
        const BothPaths si = runBoth([&] { return runOp("QLinearConv", signedIn, attrs, "", threads); });
        QVERIFY(identical(si.fast[0], si.reference[0]));
        QVERIFY(identical(runInSession("QLinearConv", signedIn, attrs, "", {}, threads)[1], si.reference[0]));
        const BothPaths ci8 = runBoth(
            [&] { return runOp("ConvInteger", {signedIn[0], wq, s8({}, {xZp - 128})}, attrs, "", threads); });
        QVERIFY(identical(ci8.fast[0], ci8.reference[0]));
        // ConvInteger: the accumulators of the same convolution, without bias and requantization.
        const BothPaths ci = runBoth([&] { return runOp("ConvInteger", {xq, wq, u8({}, {xZp})}, attrs, "", threads); });
        QCOMPARE(ci.fast[0].dtype(), DType::Int32);
        QVERIFY(identical(ci.fast[0], ci.reference[0]));
        // uint8 weights with a zero point (onnxruntime's dynamic quantization), and int8 weights with per-channel
        // zero points: the fast path shifts the weights and corrects with the window sums.
        const Tensor wu = randomInts<uint8_t>(w, 4, 0, 255);
        const BothPaths cu =
            runBoth([&] { return runOp("ConvInteger", {xq, wu, u8({}, {xZp}), u8({}, {121})}, attrs, "", threads); });
        QVERIFY(identical(cu.fast[0], cu.reference[0]));
        std::vector<int64_t> zps(static_cast<size_t>(w[0]));
        for (size_t i = 0; i < zps.size(); ++i)
            zps[i] = int64_t(i % 5) - 2;
        const BothPaths cs =
            runBoth([&] { return runOp("ConvInteger", {xq, wq, u8({}, {xZp}), s8({w[0]}, zps)}, attrs, "", threads); });
        QVERIFY(identical(cs.fast[0], cs.reference[0]));
        // Weights mostly within ±64 of their zero point and a few (under 1 %) at the ends of the range, as in
        // onnxruntime's dynamically quantized networks: on a CPU whose pairs saturate they run clamped to ±64, one
        // product, plus the few beyond as a sparse sum (at the window's edges and in the padding too).
        Tensor wn = randomInts<uint8_t>(w, 6, 121 - 60, 121 + 60);
        Tensor wns = randomInts<int8_t>(w, 7, -62, 62);
        for (int64_t i = 0; i < wn.numel(); i += 157) {
            wn.data<uint8_t>()[i] = i % 2 ? 255 : 0;
            wns.data<int8_t>()[i] = int8_t(i % 2 ? 127 : -128);
        }
        const BothPaths cn =
            runBoth([&] { return runOp("ConvInteger", {xq, wn, u8({}, {xZp}), u8({}, {121})}, attrs, "", threads); });
        QVERIFY(identical(cn.fast[0], cn.reference[0]));
        const BothPaths cns =
            runBoth([&] { return runOp("ConvInteger", {xq, wns, u8({}, {xZp}), s8({w[0]}, zps)}, attrs, "", threads); });
        QVERIFY(identical(cns.fast[0], cns.reference[0]));
    }

    // Convolutions on a CPU without VNNI whose weights reach beyond ±64 of their zero points: in a Session, one exact
    // product in int16 pairs (test_qops_avx2; elsewhere the other fast paths), every value against the reference.
    // Windows read where they lie, in segments of a row of taps or, with a dilated width, of one tap; or gathered into
    // rows first where the segments are short.
    void qconvPairsEqualReference_data()
    {
        QTest::addColumn<Shape>("x");
        QTest::addColumn<Shape>("w");
        QTest::addColumn<QList<int>>("pads");
        QTest::addColumn<QList<int>>("strides");
        QTest::addColumn<QList<int>>("dilations");
        QTest::addColumn<bool>("uint8Weights"); // with a zero point of 131; else int8 with per-channel zero points
        QTest::addColumn<int>("threads");
        QTest::newRow("dilated 2 x 2") << Shape{1, 16, 12, 11} << Shape{24, 16, 3, 3} << QList<int>{2, 2, 2, 2}
                                       << QList<int>{1, 1} << QList<int>{2, 2} << false << 1;
        QTest::newRow("width dilated, strides 2 x 1, 13 outputs") << Shape{2, 10, 9, 13} << Shape{13, 10, 2, 3}
                                                                  << QList<int>{0, 1, 1, 2} << QList<int>{2, 1}
                                                                  << QList<int>{1, 3} << false << 1;
        QTest::newRow("colour, uint8 weights, stride 2") << Shape{2, 3, 17, 15} << Shape{27, 3, 3, 3}
                                                         << QList<int>{1, 1, 1, 1} << QList<int>{2, 2}
                                                         << QList<int>{1, 1} << true << 1;
        QTest::newRow("grey 5 x 2: rows of taps, two threads") << Shape{3, 1, 20, 19} << Shape{10, 1, 5, 2}
                                                               << QList<int>{2, 0, 2, 1} << QList<int>{1, 1}
                                                               << QList<int>{1, 1} << false << 2;
        QTest::newRow("rows of taps, width dilated") << Shape{1, 2, 9, 9} << Shape{9, 2, 2, 3} << QList<int>{0, 0, 0, 0}
                                                     << QList<int>{1, 1} << QList<int>{1, 2} << true << 1;
        // 4.6M multiply-adds in one image: its positions split between the threads.
        QTest::newRow("one image, two threads") << Shape{1, 32, 20, 20} << Shape{40, 32, 3, 3} << QList<int>{1, 1, 1, 1}
                                                << QList<int>{1, 1} << QList<int>{1, 1} << false << 2;
    }

    void qconvPairsEqualReference()
    {
        QFETCH(Shape, x);
        QFETCH(Shape, w);
        QFETCH(QList<int>, pads);
        QFETCH(QList<int>, strides);
        QFETCH(QList<int>, dilations);
        QFETCH(bool, uint8Weights);
        QFETCH(int, threads);
        const int64_t M = w[0];
        const Tensor weights = uint8Weights ? randomInts<uint8_t>(w, 21, 0, 255) : randomInts<int8_t>(w, 22, -128, 127);
        std::vector<int64_t> zps(static_cast<size_t>(M));
        for (size_t i = 0; i < zps.size(); ++i)
            zps[i] = int64_t(i % 7) - 3;
        std::vector<float> scales(static_cast<size_t>(M));
        for (size_t i = 0; i < scales.size(); ++i)
            scales[i] = 0.0005f + 0.0003f * float(i % 5);
        const Tensors inputs{randomInts<uint8_t>(x, 23, 0, 255),
                             Tensor::scalar(0.02f),
                             u8({}, {9}),
                             weights,
                             Tensor::fromFloats({M}, scales),
                             uint8Weights ? u8({M}, std::vector<int64_t>(size_t(M), 131)) : s8({M}, zps),
                             Tensor::scalar(0.05f),
                             u8({}, {100}),
                             randomInts<int32_t>({M}, 24, -3000, 3000)};
        const Attrs attrs{{"pads", Attribute::makeInts(std::vector<int64_t>(pads.begin(), pads.end()))},
                          {"strides", Attribute::makeInts(std::vector<int64_t>(strides.begin(), strides.end()))},
                          {"dilations", Attribute::makeInts(std::vector<int64_t>(dilations.begin(), dilations.end()))}};
        const BothPaths r = runBoth([&] { return runOp("QLinearConv", inputs, attrs, "", threads); });
        // The second run finds the packed weights again.
        for (const Tensor &run : runInSession("QLinearConv", inputs, attrs, "", {}, threads))
            QVERIFY(identical(run, r.reference[0]));
        const std::vector<int64_t> v = r.reference[0].toInt64Vector();
        QVERIFY(std::count_if(v.begin(), v.end(), [](int64_t q) { return q > 0 && q < 255; }) > int64_t(v.size() / 4));
    }

    void qgemmFastEqualsReference_data()
    {
        QTest::addColumn<int>("M");
        QTest::addColumn<int>("K");
        QTest::addColumn<int>("N");
        QTest::addColumn<int>("aZp");
        QTest::addColumn<bool>("floatOut");
        QTest::newRow("demo fc1 batch 1") << 1 << 3136 << 128 << 0 << false;
        QTest::newRow("demo fc2 batch 1, float") << 1 << 128 << 10 << 0 << true;
        QTest::newRow("batch 64, zero point") << 64 << 300 << 50 << 128 << false;
        QTest::newRow("odd sizes, float") << 7 << 33 << 9 << 5 << true;
        // Two rows of a wake-word head's first layer: the dot-product path, K not a multiple of 16 or 64.
        QTest::newRow("two rows, zero point") << 2 << 1537 << 16 << 131 << false;
    }

    void qgemmFastEqualsReference()
    {
        QFETCH(int, M);
        QFETCH(int, K);
        QFETCH(int, N);
        QFETCH(int, aZp);
        QFETCH(bool, floatOut);
        const Tensor a = randomInts<uint8_t>({M, K}, 4, 0, 255);
        const Tensor b = randomInts<int8_t>({N, K}, 5, -127, 127);
        const Tensor c = randomInts<int32_t>({N}, 6, -20000, 20000);
        std::vector<float> scales(static_cast<size_t>(N));
        for (size_t i = 0; i < scales.size(); ++i)
            scales[i] = 0.0001f + 0.00003f * float(i % 11);
        Tensors in{a, Tensor::scalar(0.02f), u8({}, {aZp}), b, Tensor::fromFloats({N}, scales),
                   s8({N}, std::vector<int64_t>(size_t(N), 0)), c};
        if (!floatOut) {
            in.push_back(Tensor::scalar(0.5f));
            in.push_back(u8({}, {0}));
        }
        const BothPaths r = runBoth([&] { return runOp("QGemm", in, {{"transB", Attribute::makeInt(1)}}, "com.microsoft"); });
        QVERIFY(identical(r.fast[0], r.reference[0]));
        Tensors in7 = in; // 7-bit weights: one product on every CPU
        in7[3] = randomInts<int8_t>({N, K}, 13, -63, 63);
        QVERIFY(!onednn::int8WeightsSplit(in7[3].data<int8_t>(), in7[3].numel()));
        const BothPaths r7 = runBoth([&] { return runOp("QGemm", in7, {{"transB", Attribute::makeInt(1)}}, "com.microsoft"); });
        QVERIFY(identical(r7.fast[0], r7.reference[0]));
        const BothPaths mm = runBoth([&] {
            return runOp("QLinearMatMul", {a, Tensor::scalar(0.02f), u8({}, {aZp}), runOp("Transpose", {b}, {{"perm", Attribute::makeInts({1, 0})}})[0],
                                           Tensor::fromFloats({N}, scales), s8({N}, std::vector<int64_t>(size_t(N), 0)),
                                           Tensor::scalar(0.5f), u8({}, {100})});
        });
        QVERIFY(identical(mm.fast[0], mm.reference[0]));
        // MatMulInteger: the same product as int32, one matrix and stacked as a batch of two.
        const Tensor bt = runOp("Transpose", {b}, {{"perm", Attribute::makeInts({1, 0})}})[0];
        const Tensor a2 = runOp("Concat", {a, a}, {{"axis", Attribute::makeInt(0)}})[0].reshaped({2, M, K});
        for (const Tensor &lhs : {a, a2}) {
            const BothPaths mi = runBoth([&] { return runOp("MatMulInteger", {lhs, bt, u8({}, {aZp})}, {}, "", 2); });
            QCOMPARE(mi.fast[0].dtype(), DType::Int32);
            QVERIFY(identical(mi.fast[0], mi.reference[0]));
        }
        // int8 activations: the fast paths read them as uint8 (each value and the zero point plus 128), the reference
        // loops as they are.
        const Tensor as8 = randomInts<int8_t>({M, K}, 14, -128, 127);
        Tensors signedIn = in;
        signedIn[0] = as8;
        signedIn[2] = s8({}, {aZp - 128});
        const BothPaths rs =
            runBoth([&] { return runOp("QGemm", signedIn, {{"transB", Attribute::makeInt(1)}}, "com.microsoft"); });
        QVERIFY(identical(rs.fast[0], rs.reference[0]));
        const BothPaths mms = runBoth([&] {
            return runOp("QLinearMatMul", {as8, Tensor::scalar(0.02f), s8({}, {aZp - 128}), bt,
                                           Tensor::fromFloats({N}, scales), s8({N}, std::vector<int64_t>(size_t(N), 0)),
                                           Tensor::scalar(0.5f), u8({}, {100})});
        });
        QVERIFY(identical(mms.fast[0], mms.reference[0]));
        const BothPaths mis =
            runBoth([&] { return runOp("MatMulInteger", {as8, bt, s8({}, {aZp - 128})}, {}, "", 2); });
        QVERIFY(identical(mis.fast[0], mis.reference[0]));
    }

    // The packed few-row products (gemvU8S8) against the plain sum, in the AVX2 layouts and in the AVX-VNNI and
    // AVX-512 VNNI ones (where the CPU has them): weights within ±64 (vpmaddubsw) and beyond (int16), both layouts of
    // B, depths and widths around the block sizes (4 and 2 deep, 8 or 16 wide, 4 blocks per pass), zero points at
    // both ends, and a product large enough to share on threads.
    void gemvProducts_data()
    {
        QTest::addColumn<int>("M");
        QTest::addColumn<int>("K");
        QTest::addColumn<int>("N");
        QTest::addColumn<int>("wMax");
        QTest::addColumn<bool>("transB");
        QTest::addColumn<int>("aZp");
        QTest::addColumn<int>("threads");
        QTest::addColumn<quant::GemvIsa>("isa");
        for (const quant::GemvIsa isa : {quant::GemvIsa::Avx2, quant::GemvIsa::AvxVnni, quant::GemvIsa::Avx512Vnni}) {
            const auto row = [&](const char *name) -> QTestData & {
                const char *suffix = isa == quant::GemvIsa::AvxVnni ? ", avx-vnni"
                                     : isa == quant::GemvIsa::Avx512Vnni ? ", avx512-vnni"
                                                                          : "";
                return QTest::newRow(qPrintable(QString(name) + suffix));
            };
            row("narrow, one row") << 1 << 1536 << 128 << 64 << true << 131 << 1 << isa;
            row("wide, one row") << 1 << 1536 << 128 << 127 << true << 131 << 1 << isa;
            row("narrow, ragged") << 3 << 17 << 33 << 64 << true << 255 << 1 << isa;
            row("wide, ragged") << 3 << 17 << 33 << 128 << true << 0 << 1 << isa;
            row("narrow, [K, N], K 5") << 2 << 5 << 9 << 63 << false << 7 << 1 << isa;
            row("wide, [K, N], K 3") << 4 << 3 << 7 << 100 << false << 200 << 1 << isa;
            row("one by one") << 1 << 1 << 1 << 128 << true << 1 << 1 << isa;
            row("narrow, two threads") << 4 << 1100 << 520 << 64 << true << 90 << 2 << isa;
            row("wide, two threads") << 4 << 1100 << 520 << 128 << false << 90 << 2 << isa;
            row("wide, 16 rows, 5 column blocks") << 16 << 700 << 80 << 128 << true << 17 << 1 << isa;
        }
    }

    void gemvProducts()
    {
        QFETCH(int, M);
        QFETCH(int, K);
        QFETCH(int, N);
        QFETCH(int, wMax);
        QFETCH(bool, transB);
        QFETCH(int, aZp);
        QFETCH(int, threads);
        QFETCH(quant::GemvIsa, isa);
        if (isa == quant::GemvIsa::Avx512Vnni && !cw::cpuHasUncapped(cw::CpuFeature::Avx512Vnni))
            QSKIP("the CPU has no AVX-512 VNNI");
        if (isa == quant::GemvIsa::AvxVnni && !cw::cpuHasUncapped(cw::CpuFeature::AvxVnni))
            QSKIP("the CPU has no AVX-VNNI");
        Tensor a = randomInts<uint8_t>({M, K}, 21, 0, 255);
        Tensor b = randomInts<int8_t>({N, K}, 22, -wMax, std::min(wMax, 127));
        b.data<int8_t>()[0] = int8_t(-wMax); // the extremes, next to the largest activations
        a.data<uint8_t>()[0] = 255;
        const auto *pa = a.data<uint8_t>();
        const auto *pb = b.data<int8_t>(); // [N, K] when transB, else [K, N]
        std::vector<int32_t> expected(size_t(M * N)), acc(size_t(M * N));
        for (int64_t m = 0; m < M; ++m)
            for (int64_t n = 0; n < N; ++n) {
                int32_t sum = 0;
                for (int64_t k = 0; k < K; ++k)
                    sum += (int32_t(pa[m * K + k]) - aZp) * int32_t(transB ? pb[n * K + k] : pb[k * N + n]);
                acc[size_t(m * N + n)] = int32_t(m * 1000 + n); // the product adds to what is there
                expected[size_t(m * N + n)] = sum + int32_t(m * 1000 + n);
            }
        const quant::GemvWeights w = quant::packGemv(pb, N, K, transB, isa);
        QCOMPARE(w.narrow, wMax <= 64);
        QCOMPARE(w.isa, isa);
        quant::gemvU8S8(w, pa, M, aZp, acc.data(), threads);
        QCOMPARE(acc, expected);
    }

    // One float row quantized inside the VNNI product (gemvQuantizedRow) against quantizeValues, then gemvU8S8:
    // the same sums, bit for bit, in the AVX-512 VNNI layout (16 values quantized a step) and the AVX-VNNI one.
    // Depths in whole steps and with rests of 8, 1 and 3 values (a group of four cut short), widths of one to five
    // column blocks (two passes of four blocks), zero points at both ends, values at half-integer quotients and
    // beside them (which the quantization divides), NaN, infinities and values far outside the range, and two
    // threads. A scale whose reciprocal is not a normal float is refused, and so are the AVX2 layouts.
    void gemvQuantizedRow_data()
    {
        QTest::addColumn<int>("K");
        QTest::addColumn<int>("N");
        QTest::addColumn<int>("aZp");
        QTest::addColumn<int>("threads");
        QTest::addColumn<quant::GemvIsa>("isa");
        for (const quant::GemvIsa isa : {quant::GemvIsa::AvxVnni, quant::GemvIsa::Avx512Vnni}) {
            const auto row = [&](const char *name) -> QTestData & {
                return QTest::newRow(qPrintable(QString(name) + (isa == quant::GemvIsa::AvxVnni ? ", avx-vnni"
                                                                                                  : ", avx512-vnni")));
            };
            row("1536 x 32, a wake-word head") << 1536 << 32 << 131 << 1 << isa;
            row("K 40 (a rest of 8), N 24") << 40 << 24 << 0 << 1 << isa;
            row("K 17 (a rest of 1), N 33") << 17 << 33 << 255 << 1 << isa;
            row("K 3 (only a rest), N 1") << 3 << 1 << 7 << 1 << isa;
            row("K 16, N 70 (two passes)") << 16 << 70 << 128 << 1 << isa;
            row("K 67, N 9 (a rest of 3)") << 67 << 9 << 128 << 1 << isa;
            row("two threads") << 2100 << 520 << 90 << 2 << isa;
        }
    }

    void gemvQuantizedRow()
    {
        QFETCH(int, K);
        QFETCH(int, N);
        QFETCH(int, aZp);
        QFETCH(int, threads);
        QFETCH(quant::GemvIsa, isa);
        if (isa == quant::GemvIsa::Avx512Vnni && !cw::cpuHasUncapped(cw::CpuFeature::Avx512Vnni))
            QSKIP("the CPU has no AVX-512 VNNI");
        if (isa == quant::GemvIsa::AvxVnni && !cw::cpuHasUncapped(cw::CpuFeature::AvxVnni))
            QSKIP("the CPU has no AVX-VNNI");
        const float scale = 0.0173f;
        std::vector<float> x(static_cast<size_t>(K));
        std::mt19937 rng(23);
        std::uniform_real_distribution<float> uniform(-300.f * scale, 300.f * scale);
        const float special[] = {NAN, INFINITY, -INFINITY, 1e30f, -1e30f, 0.f};
        for (int k = 0; k < K; ++k) {
            const float h = (float(k % 200) - 100.5f) * scale; // a quotient at a half-integer, or a float beside it
            x[size_t(k)] = k % 7 == 0 ? h : k % 7 == 1 ? std::nextafter(h, INFINITY) : k % 97 == 2 ? special[k % 6]
                                                                                     : uniform(rng);
        }
        const Tensor b = randomInts<int8_t>({N, K}, 24, -127, 127);
        const quant::GemvWeights w = quant::packGemv(b.data<int8_t>(), N, K, true, isa);
        std::vector<uint8_t> a(static_cast<size_t>(K));
        quant::quantizeValues(x.data(), K, scale, aZp, false, a.data());
        std::vector<int32_t> expected(static_cast<size_t>(N)), acc(static_cast<size_t>(N));
        for (int n = 0; n < N; ++n)
            expected[size_t(n)] = acc[size_t(n)] = n * 1000 - 7; // the product adds to what is there
        quant::gemvU8S8(w, a.data(), 1, aZp, expected.data(), 1);
        QVERIFY(quant::gemvQuantizedRow(w, x.data(), scale, aZp, acc.data(), threads));
        QCOMPARE(acc, expected);
        QVERIFY(!quant::gemvQuantizedRow(w, x.data(), 1e-39f, aZp, acc.data(), threads));
        QCOMPARE(acc, expected); // refused: nothing done
        const quant::GemvWeights avx2 = quant::packGemv(b.data<int8_t>(), N, K, true, quant::GemvIsa::Avx2);
        QVERIFY(!quant::gemvQuantizedRow(avx2, x.data(), scale, aZp, acc.data(), threads));
        QCOMPARE(acc, expected);
    }

    // QGemm, QLinearMatMul and MatMulInteger in a Session at batch 1, their weights its constants: the products
    // of the packed weights the nodes keep equal the reference, on the runs after the
    // first too; weights fed anew for a run are used as they are, not the packed ones. QGemm also keeps its
    // scales, zero points and bias: requantized (with alpha) and with a whole-matrix C too.
    void fewRowProductsInSession()
    {
        const int64_t M = 1, K = 300, N = 20;
        const Tensor a = randomInts<uint8_t>({M, K}, 31, 0, 255);
        std::vector<float> scales(size_t(N), 0.0004f);
        for (const int wMax : {63, 127}) {
            const Tensor b = randomInts<int8_t>({N, K}, 32 + unsigned(wMax), -wMax, wMax);
            const Tensor other = randomInts<int8_t>({N, K}, 40, -wMax, wMax);
            const Tensor bt = runOp("Transpose", {b}, {{"perm", Attribute::makeInts({1, 0})}})[0];
            const Tensors qgemm{a, Tensor::scalar(0.02f), u8({}, {120}), b, Tensor::fromFloats({N}, scales),
                                s8({N}, std::vector<int64_t>(size_t(N), 0)), randomInts<int32_t>({N}, 33, -9000, 9000)};
            const Attrs transB{{"transB", Attribute::makeInt(1)}};
            quant::setReferenceOnly(true);
            const Tensor qgemmRef = runOp("QGemm", qgemm, transB, "com.microsoft")[0];
            Tensors fed = qgemm;
            fed[3] = other;
            const Tensor otherRef = runOp("QGemm", fed, transB, "com.microsoft")[0];
            const Tensors matmul{a, Tensor::scalar(0.02f), u8({}, {120}), bt, Tensor::fromFloats({N}, scales),
                                 s8({N}, std::vector<int64_t>(size_t(N), 0)), Tensor::scalar(0.5f), u8({}, {100})};
            const Tensor matmulRef = runOp("QLinearMatMul", matmul)[0];
            const Tensor integerRef = runOp("MatMulInteger", {a, bt, u8({}, {120})})[0];
            // Requantized, with alpha, and with C as a whole [M, N] matrix (float output).
            Tensors requantized = qgemm;
            requantized.push_back(Tensor::scalar(0.05f));
            requantized.push_back(u8({}, {100}));
            Attrs scaled = transB;
            scaled["alpha"] = Attribute::makeFloat(0.5f);
            const Tensor requantizedRef = runOp("QGemm", requantized, scaled, "com.microsoft")[0];
            // ... which is the scalar requantization of the exact sums (the reference shares the kernel's).
            for (int64_t n = 0; n < N; ++n) {
                int32_t acc = qgemm[6].data<int32_t>()[n];
                for (int64_t k = 0; k < K; ++k)
                    acc += (int32_t(a.data<uint8_t>()[k]) - 120) * int32_t(b.data<int8_t>()[n * K + k]);
                const float multiplier = 0.5f * 0.02f * scales[size_t(n)] / 0.05f;
                QCOMPARE(int32_t(requantizedRef.data<uint8_t>()[n]), quant::requantize(acc, multiplier, 100, 0, 255));
            }
            Tensors wholeC = qgemm;
            wholeC[6] = randomInts<int32_t>({M, N}, 34, -9000, 9000);
            const Tensor wholeCRef = runOp("QGemm", wholeC, transB, "com.microsoft")[0];
            quant::setReferenceOnly(false);
            for (const Tensor &t : runInSession("QGemm", requantized, scaled, "com.microsoft"))
                QVERIFY(identical(t, requantizedRef));
            for (const Tensor &t : runInSession("QGemm", wholeC, transB, "com.microsoft"))
                QVERIFY(identical(t, wholeCRef));
            const Tensors runs = runInSession("QGemm", qgemm, transB, "com.microsoft", {{3, other}});
            QVERIFY(identical(runs[0], qgemmRef)); // float output: the accumulators scaled
            QVERIFY(identical(runs[1], qgemmRef));
            QVERIFY(identical(runs[2], otherRef));
            for (const Tensor &t : runInSession("QLinearMatMul", matmul, {}, ""))
                QVERIFY(identical(t, matmulRef));
            for (const Tensor &t : runInSession("MatMulInteger", {a, bt, u8({}, {120})}, {}, ""))
                QVERIFY(identical(t, integerRef));
        }
    }

    // The 256-entry tables (QLinearLeakyRelu here; the float stages fused after an integer product use the same
    // lookup) over every byte value, in a tensor whose length is not a multiple of the vector widths (32 and 64
    // bytes), against DequantizeLinear, the activation and QuantizeLinear applied value by value.
    void tablesOverEveryByte()
    {
        for (const DType type : {DType::UInt8, DType::Int8}) {
            const bool s = type == DType::Int8;
            const int32_t xZp = s ? -3 : 131, yZp = s ? 5 : 20;
            const float xScale = 0.05f, yScale = 0.04f, alpha = 0.2f;
            Tensor x(type, {3, 347});
            auto *bytes = static_cast<uint8_t *>(x.rawData());
            for (int64_t i = 0; i < x.numel(); ++i)
                bytes[i] = uint8_t((i * 97 + i / 256) % 256); // every value, in a scrambled order
            const Tensor y = runOp("QLinearLeakyRelu",
                                   {x, Tensor::scalar(xScale), s ? s8({}, {xZp}) : u8({}, {xZp}), Tensor::scalar(yScale),
                                    s ? s8({}, {yZp}) : u8({}, {yZp})},
                                   {{"alpha", Attribute::makeFloat(alpha)}}, "com.microsoft")[0];
            QCOMPARE(y.dtype(), type);
            std::vector<float> f(size_t(x.numel()));
            for (int64_t i = 0; i < x.numel(); ++i) {
                const int32_t q = s ? int32_t(int8_t(bytes[i])) : int32_t(bytes[i]);
                const float v = quant::dequantize(q, xScale, xZp);
                f[size_t(i)] = v >= 0.f ? v : alpha * v;
            }
            Tensor expected(type, x.shape());
            quant::quantizeValues(f.data(), x.numel(), yScale, yZp, s, expected.rawData());
            QVERIFY(identical(y, expected));
        }
    }

    // The dot products of the few-row gemm path against the plain sum: lengths around the vector widths, both
    // types' extremes, zero points 0, 128 and 255; the AVX-512 VNNI form where the CPU has it.
    void dotProducts()
    {
        const bool vnni = cw::cpuHasUncapped(cw::CpuFeature::Avx512Vnni);
        std::mt19937 rng(9);
        for (const int64_t K : {0, 1, 15, 16, 17, 63, 64, 65, 200, 1537})
            for (const int32_t zp : {0, 128, 255}) {
                std::vector<uint8_t> a(static_cast<size_t>(K));
                std::vector<int8_t> b(static_cast<size_t>(K));
                int32_t expected = 0;
                for (size_t k = 0; k < a.size(); ++k) {
                    a[k] = k % 5 == 0 ? 255 : uint8_t(rng() % 256);
                    b[k] = k % 7 == 0 ? int8_t(-128) : int8_t(int(rng() % 256) - 128);
                    expected += (int32_t(a[k]) - zp) * int32_t(b[k]);
                }
                QCOMPARE(quant::dotU8S8(a.data(), zp, b.data(), K), expected);
                if (vnni)
                    QCOMPARE(quant::dotU8S8Vnni(a.data(), zp, b.data(), K), expected);
            }
    }

    // ---- against onnxruntime ---------------------------------------------------------------------------------------

    // A QDQ file's layer reads its input from a DequantizeLinear too: the layer's weight is the one of an
    // initializer, its integers, scales and zero points counted as the layer's.
    void qdqLayersShowTheirIntegerWeights()
    {
        const Model m = loadModel(m_dir.filePath("QDQ_conv_per_channel_bias_relu.onnx").toStdString());
        const std::vector<IntegerLayerWeight> weights = integerLayerWeights(m.graph);
        QCOMPARE(weights.size(), size_t(1));
        const Node *conv = m.graph.producer("c");
        QVERIFY(conv && conv->opType == "Conv");
        QCOMPARE(weights[0].layer, conv->name);
        QCOMPARE(weights[0].q, std::string("w"));
        QCOMPARE(weights[0].axis, 0);
        // The bias's DequantizeLinear is part of the layer too; the activations' stay rows of their own.
        QStringList rows;
        for (const LayerInfo &l : m.layers()) {
            rows << QString::fromStdString(l.opType);
            if (l.name == conv->name) {
                QCOMPARE(l.weightName, std::string("w"));
                QCOMPARE(l.params, int64_t(24 * 16 * 9 + 24 + 24 + 3 * 24)); // the integers, scales and zero points
                QCOMPARE(l.inputs.size(), size_t(1));                        // x's DequantizeLinear
            }
        }
        QCOMPARE(rows, QStringList({"QuantizeLinear", "DequantizeLinear", "Conv", "Relu", "QuantizeLinear"}));
    }

    // A QDQ file compressed again. With 8-bit activations: bias correction leaves the int32 bias that a
    // DequantizeLinear makes as it is (it threw std::out_of_range). Pruned: the weights, quantized again, are on new
    // scales, and the session rounds the bias onto them, so the layer still runs as a QLinearConv (it ran in
    // float, at twice the time). Both stay faithful to the base.
    void qdqFileCompressedAgain()
    {
        const Model base = loadModel(m_dir.filePath("QDQ_conv_per_channel_bias_relu.onnx").toStdString());
        Dataset data;
        data.name = "unlabelled";
        data.x = testutil::randomTensor({16, 16, 9, 9}, 5, -1.f, 1.f);
        CompressOptions o;
        o.threads = 1;
        o.measure = false;
        const Variant i8 = compress(base, recipeFromJson(R"({"quantize": {"weights": {"bits": 8},
            "activations": {"calibration": "minmax"}, "bias_correction": true}})"), &data, nullptr, o);
        const Variant sparse = compress(base, recipeFromJson(R"({"prune": {"ratio": 0.5, "scope": "layer"}})"),
                                        nullptr, nullptr, o);
        for (const Variant *v : {&i8, &sparse}) {
            const Session session(v->model);
            int integer = 0;
            for (const Node &n : session.executedGraph().nodes)
                integer += n.opType == "QLinearConv";
            QCOMPARE(integer, 1);
            const double sqnr = measureFidelity(Session(base), session, data, {}).front().sqnrDb;
            QVERIFY2(sqnr > (v == &i8 ? 30 : 10), qPrintable(QString::number(sqnr)));
        }
    }

    void compareWithOnnxruntime_data()
    {
        QTest::addColumn<int>("index");
        for (int i = 0; i < m_cases.size(); ++i)
            QTest::newRow(m_cases[i].toObject()["name"].toString().toUtf8().constData()) << i;
    }

    void compareWithOnnxruntime()
    {
        QFETCH(int, index);
        if (!testutil::ortAvailable())
            QSKIP("onnxruntime-node or node is not installed");
        const QJsonObject o = m_cases[index].toObject();
        const QString file = m_dir.filePath(o["file"].toString());
        std::vector<std::pair<std::string, Tensor>> feeds;
        const QJsonArray inputs = o["inputs"].toArray();
        for (int i = 0; i < inputs.size(); ++i) {
            const QJsonArray in = inputs[i].toArray();
            Shape shape;
            for (const auto &d : in[1].toArray())
                shape.push_back(d.toInteger());
            feeds.emplace_back(in[0].toString().toStdString(),
                               testutil::randomTensor(shape, unsigned(qHash(o["name"].toString()) + 31u * unsigned(i)),
                                                      float(in[2].toDouble()), float(in[3].toDouble())));
        }
        std::map<std::string, Tensor> ours;
        Model model;
        try {
            model = loadModel(file.toStdString());
            ours = Session(model, SessionOptions{1}).run({feeds.begin(), feeds.end()});
        } catch (const Error &e) {
            QFAIL(e.what());
        }
        // The static shapes from the per-operator rules (nothing run) are the run's.
        for (const ValueInfo &v : model.graph.outputs) {
            auto it = model.graph.values.find(v.name);
            const ValueInfo &info = it == model.graph.values.end() ? v : it->second;
            QVERIFY2(info.shapeKnown && Shape(info.shape.begin(), info.shape.end()) == ours.at(v.name).shape(),
                     qPrintable(QString::fromStdString(v.name + ": static " + shapeToString(info) + ", run " +
                                                       shapeToString(ours.at(v.name).shape()))));
        }
        QString error;
        const std::vector<Tensor> ref = reference(o, file, feeds, &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        const QJsonArray lsb = o["lsb"].toArray();
        QCOMPARE(ref.size(), model.graph.outputs.size());
        for (size_t i = 0; i < ref.size(); ++i) {
            const Tensor &mine = ours.at(model.graph.outputs[i].name);
            const double diff = maxAbsDiff(mine, ref[i]);
            QVERIFY2(diff >= 0, qPrintable(QStringLiteral("output %1: %2 %3 vs onnxruntime %4 %5")
                                               .arg(i)
                                               .arg(dtypeName(mine.dtype()), QString::fromStdString(shapeToString(mine.shape())),
                                                    dtypeName(ref[i].dtype()),
                                                    QString::fromStdString(shapeToString(ref[i].shape())))));
            QVERIFY2(diff <= lsb[int(i)].toDouble(),
                     qPrintable(QStringLiteral("output %1 differs from onnxruntime by %2").arg(i).arg(diff)));
        }
    }
};

QTEST_GUILESS_MAIN(TestQOps)
#include "test_qops.moc"
