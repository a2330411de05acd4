// Numeric-vs-analytic gradient checks for every trainable layer, and optimizer steps against hand-computed
// SGD-momentum and Adam updates.
//
// Each case is a tiny graph around one layer. The loss is L = sum(r * y) with a fixed random r, so
// dL/dy = r is fed to Trainer::backward(); the numeric gradient of L by central differences (float forward,
// loss summed in double) must match the analytic one for the graph input and for every parameter.
// Inputs are spread away from kinks (ReLU at 0, Clip bounds, ties inside a max-pool window) so that the
// finite differences never straddle one.
#include <QTest>

#include <cmath>
#include <functional>
#include <map>

#include "core/base/error.h"
#include "core/train/backward.h"
#include "core/train/train.h"
#include "testutil.h"

using namespace cw;

namespace {

struct Case {
    Model model;
    Tensor x;
    double rtol = 2e-2, atol = 2e-3;
    float eps = 1e-3f;
};

// Distinct values: a shuffled ramp with spacing `step` starting at lo, so no two are closer than `step`.
Tensor spacedTensor(const Shape &shape, unsigned seed, float lo, float step)
{
    Tensor t(DType::Float32, shape);
    const int64_t n = t.numel();
    std::vector<float> values(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
        values[size_t(i)] = lo + step * float(i);
    uint64_t s = seed * 2654435761ULL + 1;
    for (int64_t i = n - 1; i > 0; --i) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        std::swap(values[size_t(i)], values[size_t((s >> 33) % uint64_t(i + 1))]);
    }
    std::copy(values.begin(), values.end(), t.f32());
    return t;
}

// Values in [-1, -margin] ∪ [margin, 1]: away from a kink at 0.
Tensor awayFromZero(const Shape &shape, unsigned seed, float margin = 0.05f)
{
    Tensor t = testutil::randomTensor(shape, seed);
    for (int64_t i = 0; i < t.numel(); ++i) {
        float &v = t.f32()[i];
        v = (v >= 0 ? 1.f : -1.f) * (margin + (1.f - margin) * std::abs(v));
    }
    return t;
}

struct GraphBuilder {
    Model model;
    int counter = 0;
    explicit GraphBuilder(const Shape &inputShape)
    {
        model.sourcePath = "gradient-test";
        model.graph.inputs = {ValueInfo{"x", DType::Float32, inputShape, true}};
    }
    std::string param(const std::string &name, const Tensor &t)
    {
        model.graph.initializers[name] = t;
        return name;
    }
    std::string node(const std::string &op, std::vector<std::string> inputs, Attributes attrs = {})
    {
        Node n;
        n.name = op + "_" + std::to_string(counter++);
        n.opType = op;
        n.inputs = std::move(inputs);
        n.outputs = {n.name + "_out"};
        n.attrs = std::move(attrs);
        model.graph.nodes.push_back(n);
        return n.outputs[0];
    }
    Model finish(const std::string &output)
    {
        model.graph.outputs = {ValueInfo{output, DType::Float32, {}, false}};
        return model;
    }
};

Attribute ints(std::vector<int64_t> v)
{
    return Attribute::makeInts(std::move(v));
}

using CaseFactory = std::function<Case()>;

std::map<std::string, CaseFactory> &factories()
{
    static std::map<std::string, CaseFactory> f;
    return f;
}

Case single(const Shape &xShape, const Tensor &x, const std::string &op, std::vector<std::pair<std::string, Tensor>> params,
            Attributes attrs)
{
    GraphBuilder b(xShape);
    std::vector<std::string> inputs{"x"};
    for (auto &[name, t] : params)
        inputs.push_back(name.empty() ? std::string() : b.param(name, t));
    const std::string y = b.node(op, inputs, std::move(attrs));
    Case c;
    c.model = b.finish(y);
    c.x = x;
    return c;
}

void registerCases()
{
    auto &f = factories();
    if (!f.empty())
        return;
    using testutil::randomTensor;
    f["gemm_transB1_bias"] = [] {
        return single({3, 5}, randomTensor({3, 5}, 1), "Gemm", {{"W", randomTensor({4, 5}, 2)}, {"b", randomTensor({4}, 3)}},
                      {{"transB", Attribute::makeInt(1)}});
    };
    f["gemm_transB0_broadcast_bias_alpha_beta"] = [] {
        return single({3, 5}, randomTensor({3, 5}, 4), "Gemm",
                      {{"W", randomTensor({5, 4}, 5)}, {"b", randomTensor({1, 4}, 6)}},
                      {{"alpha", Attribute::makeFloat(0.7f)}, {"beta", Attribute::makeFloat(1.3f)}});
    };
    f["gemm_transA_transB"] = [] {
        return single({5, 3}, randomTensor({5, 3}, 7), "Gemm", {{"W", randomTensor({4, 5}, 8)}, {"b", randomTensor({4}, 9)}},
                      {{"transA", Attribute::makeInt(1)}, {"transB", Attribute::makeInt(1)}});
    };
    f["matmul"] = [] { return single({3, 5}, randomTensor({3, 5}, 10), "MatMul", {{"W", randomTensor({5, 4}, 11)}}, {}); };
    f["conv_plain_bias"] = [] {
        return single({2, 3, 6, 6}, randomTensor({2, 3, 6, 6}, 12), "Conv",
                      {{"W", randomTensor({4, 3, 3, 3}, 13)}, {"b", randomTensor({4}, 14)}}, {});
    };
    f["conv_stride2_asymmetric_pads"] = [] {
        return single({2, 3, 7, 7}, randomTensor({2, 3, 7, 7}, 15), "Conv",
                      {{"W", randomTensor({4, 3, 3, 3}, 16)}, {"b", randomTensor({4}, 17)}},
                      {{"strides", ints({2, 2})}, {"pads", ints({1, 0, 2, 1})}});
    };
    f["conv_groups2"] = [] {
        return single({2, 4, 5, 5}, randomTensor({2, 4, 5, 5}, 18), "Conv",
                      {{"W", randomTensor({6, 2, 3, 3}, 19)}, {"b", randomTensor({6}, 20)}},
                      {{"group", Attribute::makeInt(2)}, {"pads", ints({1, 1, 1, 1})}});
    };
    f["conv_depthwise"] = [] {
        return single({2, 3, 5, 5}, randomTensor({2, 3, 5, 5}, 21), "Conv", {{"W", randomTensor({3, 1, 3, 3}, 22)}},
                      {{"group", Attribute::makeInt(3)}, {"pads", ints({1, 1, 1, 1})}});
    };
    f["conv_dilation2"] = [] {
        return single({1, 2, 7, 7}, randomTensor({1, 2, 7, 7}, 23), "Conv",
                      {{"W", randomTensor({3, 2, 3, 3}, 24)}, {"b", randomTensor({3}, 25)}},
                      {{"dilations", ints({2, 2})}, {"pads", ints({2, 2, 2, 2})}});
    };
    f["conv_pointwise_stride2"] = [] {
        return single({2, 3, 5, 5}, randomTensor({2, 3, 5, 5}, 26), "Conv", {{"W", randomTensor({4, 3, 1, 1}, 27)}},
                      {{"strides", ints({2, 2})}});
    };
    f["conv_pointwise"] = [] {
        return single({2, 3, 4, 4}, randomTensor({2, 3, 4, 4}, 28), "Conv",
                      {{"W", randomTensor({4, 3, 1, 1}, 29)}, {"b", randomTensor({4}, 30)}}, {});
    };
    f["batchnorm_training_nchw"] = [] {
        Case c = single({3, 4, 3, 3}, randomTensor({3, 4, 3, 3}, 31, -2.f, 2.f), "BatchNormalization",
                        {{"scale", randomTensor({4}, 32, 0.5f, 1.5f)},
                         {"bias", randomTensor({4}, 33)},
                         {"mean", Tensor(DType::Float32, {4})},
                         {"var", Tensor::fromFloats({4}, {1, 1, 1, 1})}},
                        {});
        c.eps = 2e-3f;
        return c;
    };
    f["batchnorm_training_nc"] = [] {
        Case c = single({6, 5}, randomTensor({6, 5}, 34, -2.f, 2.f), "BatchNormalization",
                        {{"scale", randomTensor({5}, 35, 0.5f, 1.5f)},
                         {"bias", randomTensor({5}, 36)},
                         {"mean", Tensor(DType::Float32, {5})},
                         {"var", Tensor::fromFloats({5}, {1, 1, 1, 1, 1})}},
                        {});
        c.eps = 2e-3f;
        return c;
    };
    f["relu"] = [] { return single({2, 3, 4}, awayFromZero({2, 3, 4}, 37), "Relu", {}, {}); };
    f["leakyrelu_alpha0.2"] = [] {
        return single({2, 3, 4}, awayFromZero({2, 3, 4}, 38), "LeakyRelu", {}, {{"alpha", Attribute::makeFloat(0.2f)}});
    };
    f["clip_inputs"] = [] {
        // Values on a 0.05 grid offset by 0.005 from the bounds: never within eps of a bound.
        Tensor x = spacedTensor({4, 10}, 39, -1.005f, 0.05f);
        return single({4, 10}, x, "Clip", {{"lo", Tensor::scalar(-0.5f)}, {"hi", Tensor::scalar(0.6f)}}, {});
    };
    f["maxpool_2x2_s2"] = [] {
        return single({2, 2, 4, 6}, spacedTensor({2, 2, 4, 6}, 40, -1.f, 0.02f), "MaxPool", {},
                      {{"kernel_shape", ints({2, 2})}, {"strides", ints({2, 2})}});
    };
    f["maxpool_3x3_s2_pad1"] = [] {
        return single({1, 2, 5, 5}, spacedTensor({1, 2, 5, 5}, 41, -1.f, 0.03f), "MaxPool", {},
                      {{"kernel_shape", ints({3, 3})}, {"strides", ints({2, 2})}, {"pads", ints({1, 1, 1, 1})}});
    };
    f["averagepool_2x2_s2"] = [] {
        return single({2, 2, 4, 4}, testutil::randomTensor({2, 2, 4, 4}, 42), "AveragePool", {},
                      {{"kernel_shape", ints({2, 2})}, {"strides", ints({2, 2})}});
    };
    f["averagepool_3x3_pad1_exclude_pad"] = [] {
        return single({1, 2, 5, 5}, testutil::randomTensor({1, 2, 5, 5}, 43), "AveragePool", {},
                      {{"kernel_shape", ints({3, 3})}, {"pads", ints({1, 1, 1, 1})}});
    };
    f["averagepool_3x3_s2_pad1_include_pad"] = [] {
        return single({1, 2, 5, 5}, testutil::randomTensor({1, 2, 5, 5}, 44), "AveragePool", {},
                      {{"kernel_shape", ints({3, 3})},
                       {"strides", ints({2, 2})},
                       {"pads", ints({1, 1, 1, 1})},
                       {"count_include_pad", Attribute::makeInt(1)}});
    };
    f["globalaveragepool"] = [] {
        return single({2, 3, 4, 5}, testutil::randomTensor({2, 3, 4, 5}, 45), "GlobalAveragePool", {}, {});
    };
    f["flatten_axis1"] = [] {
        return single({2, 3, 4}, testutil::randomTensor({2, 3, 4}, 46), "Flatten", {}, {{"axis", Attribute::makeInt(1)}});
    };
    f["reshape"] = [] {
        return single({2, 12}, testutil::randomTensor({2, 12}, 47), "Reshape",
                      {{"shape", Tensor::fromInt64s({3}, {2, 3, 4})}}, {});
    };
    f["dropout_identity"] = [] {
        return single({2, 5}, testutil::randomTensor({2, 5}, 48), "Dropout", {}, {});
    };
    f["add_broadcast_channel_bias"] = [] {
        return single({2, 3, 4, 4}, testutil::randomTensor({2, 3, 4, 4}, 49), "Add",
                      {{"bias", testutil::randomTensor({1, 3, 1, 1}, 50)}}, {});
    };
    f["add_broadcast_trailing"] = [] {
        return single({2, 3, 4}, testutil::randomTensor({2, 3, 4}, 51), "Add", {{"bias", testutil::randomTensor({4}, 52)}}, {});
    };
    f["sub_broadcast"] = [] {
        return single({2, 3, 4}, testutil::randomTensor({2, 3, 4}, 53), "Sub",
                      {{"bias", testutil::randomTensor({3, 1}, 54)}}, {});
    };
    f["max_floor_constant"] = [] {
        // openWakeWord's embedding model floors its activations: Max(x, -0.4), the constant broadcast. Values on a
        // 0.02 grid that none lies within eps of -0.4.
        return single({2, 3, 4, 4}, spacedTensor({2, 3, 4, 4}, 60, -1.005f, 0.02f), "Max",
                      {{"floor", Tensor::fromFloats({1, 1, 1, 1}, {-0.4f})}}, {});
    };
    f["max_three_inputs_one_broadcast"] = [] {
        // The gradient splits between x, a pooled copy of it [2, 3, 1, 1] (summed back over each plane) and x
        // shifted by a trained bias.
        GraphBuilder b({2, 3, 4, 4});
        const std::string pooled = b.node("GlobalAveragePool", {"x"});
        const std::string shifted = b.node("Sub", {"x", b.param("bias", testutil::randomTensor({1, 3, 1, 1}, 61))});
        Case k;
        k.model = b.finish(b.node("Max", {"x", pooled, shifted}));
        k.x = spacedTensor({2, 3, 4, 4}, 62, -1.f, 0.021f);
        return k;
    };
    f["min_two_activations"] = [] {
        GraphBuilder b({3, 5});
        const std::string scaled = b.node("Gemm", {"x", b.param("W", testutil::randomTensor({5, 5}, 63))},
                                          {{"transB", Attribute::makeInt(1)}});
        Case k;
        k.model = b.finish(b.node("Min", {"x", scaled}));
        k.x = testutil::randomTensor({3, 5}, 64);
        return k;
    };
    f["add_residual_conv_relu"] = [] {
        // x → conv → relu ─┐
        //  └───────────────Add → y : the input's gradient accumulates from two consumers.
        GraphBuilder b({2, 3, 5, 5});
        const std::string c = b.node("Conv", {"x", b.param("W", testutil::randomTensor({3, 3, 3, 3}, 55)),
                                              b.param("b", testutil::randomTensor({3}, 56))},
                                     {{"pads", ints({1, 1, 1, 1})}});
        const std::string r = b.node("LeakyRelu", {c}, {{"alpha", Attribute::makeFloat(0.1f)}});
        const std::string y = b.node("Add", {r, "x"});
        Case k;
        k.model = b.finish(y);
        k.x = testutil::randomTensor({2, 3, 5, 5}, 57);
        return k;
    };
    f["conv_bn_relu_pool_gemm_chain"] = [] {
        GraphBuilder b({4, 2, 6, 6});
        std::string v = b.node("Conv", {"x", b.param("W1", testutil::randomTensor({3, 2, 3, 3}, 58))},
                               {{"pads", ints({1, 1, 1, 1})}});
        v = b.node("BatchNormalization", {v, b.param("s", testutil::randomTensor({3}, 59, 0.5f, 1.5f)),
                                          b.param("t", testutil::randomTensor({3}, 60)),
                                          b.param("m", Tensor(DType::Float32, {3})),
                                          b.param("v", Tensor::fromFloats({3}, {1, 1, 1}))});
        v = b.node("Clip", {v, b.param("lo", Tensor::scalar(-1.f)), b.param("hi", Tensor::scalar(1.5f))});
        v = b.node("AveragePool", {v}, {{"kernel_shape", ints({2, 2})}, {"strides", ints({2, 2})}});
        v = b.node("Flatten", {v}, {{"axis", Attribute::makeInt(1)}});
        v = b.node("Gemm", {v, b.param("W2", testutil::randomTensor({5, 27}, 61)), b.param("b2", testutil::randomTensor({5}, 62))},
                   {{"transB", Attribute::makeInt(1)}});
        Case k;
        k.model = b.finish(v);
        k.x = testutil::randomTensor({4, 2, 6, 6}, 63);
        k.eps = 2e-3f;
        k.rtol = 5e-2;
        k.atol = 5e-3;
        return k;
    };
}

double weightedSum(const Tensor &y, const Tensor &r)
{
    double s = 0;
    for (int64_t i = 0; i < y.numel(); ++i)
        s += double(y.f32()[i]) * double(r.f32()[i]);
    return s;
}

// Checks up to `maxChecks` evenly spread elements of `target` (which the forward pass reads) numerically.
QString checkGradient(const std::string &what, Tensor target, const Tensor &analytic, const std::function<double()> &loss,
                      const Case &c, int maxChecks = 60)
{
    if (analytic.isNull())
        return QString::fromStdString("no gradient computed for " + what);
    if (analytic.shape() != target.shape())
        return QString::fromStdString("gradient of " + what + " has shape " + shapeToString(analytic.shape()) +
                                      ", value has " + shapeToString(target.shape()));
    const int64_t n = target.numel();
    const int64_t step = std::max<int64_t>(1, n / maxChecks);
    for (int64_t i = 0; i < n; i += step) {
        float *p = target.f32() + i;
        const float saved = *p;
        *p = saved + c.eps;
        const double plus = loss();
        *p = saved - c.eps;
        const double minus = loss();
        *p = saved;
        const double numeric = (plus - minus) / (2.0 * double(c.eps));
        const double a = analytic.f32()[i];
        if (std::abs(a - numeric) > c.atol + c.rtol * std::abs(numeric))
            return QStringLiteral("%1[%2]: analytic %3, numeric %4")
                .arg(QString::fromStdString(what))
                .arg(i)
                .arg(a, 0, 'g', 7)
                .arg(numeric, 0, 'g', 7);
    }
    return {};
}

} // namespace

class TestGradients : public QObject {
    Q_OBJECT

private slots:
    void layer_data()
    {
        registerCases();
        QTest::addColumn<QString>("name");
        for (const auto &[name, factory] : factories())
            QTest::newRow(name.c_str()) << QString::fromStdString(name);
    }

    void layer()
    {
        QFETCH(QString, name);
        Case c = factories().at(name.toStdString())();
        TrainOptions options;
        options.threads = 1;
        Trainer trainer(c.model, options, true);
        const Tensor y0 = trainer.forward(c.x, false);
        const Tensor r = testutil::randomTensor(y0.shape(), 99);
        trainer.backward(r);

        Tensor x = c.x.clone();
        auto loss = [&] { return weightedSum(trainer.forward(x, false), r); };
        QString error = checkGradient("input", x, trainer.gradient("x"), loss, c);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        for (const std::string &p : trainer.parameterNames()) {
            Tensor w = c.model.graph.initializers.at(p);
            error = checkGradient(p, w, trainer.gradient(p), loss, c);
            QVERIFY2(error.isEmpty(), qPrintable(error));
        }
    }

    // The analytic check above could pass with a loss that is itself wrong; pin the loss to hand values.
    void softmaxCrossEntropyValues()
    {
        const Tensor logits = Tensor::fromFloats({2, 3}, {1, 2, 3, 0, 0, 0});
        Tensor grad;
        int64_t correct = 0;
        const double loss = softmaxCrossEntropy(logits, {2, 0}, &grad, &correct);
        // Row 0: log(e + e^2 + e^3) - 3 = 0.40760596; row 1: log 3 = 1.09861229.
        QVERIFY(std::abs(loss - (0.40760596 + 1.09861229) / 2) < 1e-6);
        QCOMPARE(correct, int64_t(2)); // argmax of an all-equal row is its first class
        const double e = std::exp(1.0), s = e + e * e + e * e * e;
        const std::vector<float> expected{float(e / s / 2), float(e * e / s / 2), float((e * e * e / s - 1) / 2),
                                          float((1.0 / 3 - 1) / 2), float(1.0 / 3 / 2), float(1.0 / 3 / 2)};
        const QString m = testutil::mismatch(grad, Tensor::fromFloats({2, 3}, expected), 1e-5, 1e-7);
        QVERIFY2(m.isEmpty(), qPrintable(m));
        QVERIFY_THROWS_EXCEPTION(Error, softmaxCrossEntropy(logits, {3, 0}));
        QVERIFY_THROWS_EXCEPTION(Error, softmaxCrossEntropy(logits, {1}));
    }

    void softmaxCrossEntropyNumeric()
    {
        Tensor logits = testutil::randomTensor({4, 6}, 7, -3.f, 3.f);
        const std::vector<int64_t> labels{0, 5, 2, 2};
        Tensor grad;
        softmaxCrossEntropy(logits, labels, &grad);
        Case c;
        c.atol = 1e-4;
        c.rtol = 1e-2;
        const QString error = checkGradient("logits", logits, grad, [&] { return softmaxCrossEntropy(logits, labels); }, c);
        QVERIFY2(error.isEmpty(), qPrintable(error));
    }

    // Full path through computeGradients(): Gemm → Relu → Gemm → cross-entropy.
    void crossEntropyThroughModel()
    {
        GraphBuilder b({5, 4});
        std::string v = b.node("Gemm", {"x", b.param("W1", testutil::randomTensor({6, 4}, 70)), b.param("b1", testutil::randomTensor({6}, 71))},
                               {{"transB", Attribute::makeInt(1)}});
        v = b.node("Relu", {v});
        v = b.node("Gemm", {v, b.param("W2", testutil::randomTensor({6, 3}, 72)), b.param("b2", testutil::randomTensor({3}, 73))});
        Model model = b.finish(v);
        TrainOptions options;
        options.threads = 1;
        Trainer trainer(model, options);
        Tensor x = awayFromZero({5, 4}, 74, 0.2f);
        const std::vector<int64_t> labels{0, 1, 2, 1, 0};
        trainer.computeGradients(x, labels);
        Case c;
        c.atol = 1e-4;
        c.rtol = 2e-2;
        auto loss = [&] { return softmaxCrossEntropy(trainer.forward(x, false), labels); };
        for (const std::string &p : trainer.parameterNames()) {
            // Copy the gradient: the numeric loop's forward passes do not touch it, but be explicit.
            const Tensor g = trainer.gradient(p).clone();
            const QString error = checkGradient(p, model.graph.initializers.at(p), g, loss, c);
            QVERIFY2(error.isEmpty(), qPrintable(error));
        }
    }

    void unbroadcastSums()
    {
        const Tensor g = Tensor::fromFloats({2, 3}, {1, 2, 3, 4, 5, 6});
        QCOMPARE(detail::unbroadcast(g, {3}).toFloatVector(), (std::vector<float>{5, 7, 9}));
        QCOMPARE(detail::unbroadcast(g, {2, 1}).toFloatVector(), (std::vector<float>{6, 15}));
        QCOMPARE(detail::unbroadcast(g, {}).toFloatVector(), (std::vector<float>{21}));
        QCOMPARE(detail::unbroadcast(g, {1, 1}).toFloatVector(), (std::vector<float>{21}));
        QVERIFY_THROWS_EXCEPTION(Error, detail::unbroadcast(g, {2}));
    }

    void batchNormRunningStatistics()
    {
        Node node;
        node.name = "bn";
        node.opType = "BatchNormalization";
        node.attrs["momentum"] = Attribute::makeFloat(0.8f);
        // Two channels, batch 2, one pixel: channel 0 = {1, 3}, channel 1 = {2, 6}.
        const Tensor x = Tensor::fromFloats({2, 2, 1, 1}, {1, 2, 3, 6});
        Tensor mean = Tensor::fromFloats({2}, {10, 0});
        Tensor var = Tensor::fromFloats({2}, {1, 1});
        Tensor saved;
        const Tensor y = detail::batchNormTraining(node, x, Tensor::fromFloats({2}, {1, 2}), Tensor::fromFloats({2}, {0, 1}),
                                                   mean, var, true, &saved, 1);
        // Batch means 2 and 4, biased variances 1 and 4, unbiased 2 and 8.
        QVERIFY(std::abs(mean.f32()[0] - (0.8f * 10 + 0.2f * 2)) < 1e-5f);
        QVERIFY(std::abs(mean.f32()[1] - 0.2f * 4) < 1e-5f);
        QVERIFY(std::abs(var.f32()[0] - (0.8f + 0.2f * 2)) < 1e-5f);
        QVERIFY(std::abs(var.f32()[1] - (0.8f + 0.2f * 8)) < 1e-5f);
        // y = scale * (x - mean) / sqrt(var + 1e-5) + bias
        const float k0 = 1.f / std::sqrt(1.f + 1e-5f), k1 = 1.f / std::sqrt(4.f + 1e-5f);
        const Tensor expected = Tensor::fromFloats({2, 2, 1, 1}, {-k0, 1 + 2 * (-2 * k1), k0, 1 + 2 * (2 * k1)});
        const QString m = testutil::mismatch(y, expected, 1e-5, 1e-6);
        QVERIFY2(m.isEmpty(), qPrintable(m));
    }

    void optimizerStep_data()
    {
        QTest::addColumn<int>("optimizer");
        QTest::addColumn<float>("momentum");
        QTest::addColumn<float>("weightDecay");
        QTest::newRow("sgd") << int(Optimizer::Sgd) << 0.f << 0.f;
        QTest::newRow("sgd_momentum") << int(Optimizer::Sgd) << 0.9f << 0.f;
        QTest::newRow("sgd_momentum_weight_decay") << int(Optimizer::Sgd) << 0.9f << 0.1f;
        QTest::newRow("adam") << int(Optimizer::Adam) << 0.f << 0.f;
        QTest::newRow("adam_weight_decay") << int(Optimizer::Adam) << 0.f << 0.5f;
    }

    // y = x W^T + b on x = [[1, 2]] with dL/dy = g: dW = g^T x, db = g, independent of the weights, so
    // three steps can be computed by hand (in double) from the update rules.
    void optimizerStep()
    {
        QFETCH(int, optimizer);
        QFETCH(float, momentum);
        QFETCH(float, weightDecay);
        GraphBuilder b({1, 2});
        const std::string y = b.node("Gemm", {"x", b.param("W", Tensor::fromFloats({2, 2}, {0.5f, -1.f, 2.f, 0.25f})),
                                              b.param("b", Tensor::fromFloats({2}, {0.1f, -0.2f}))},
                                     {{"transB", Attribute::makeInt(1)}});
        Model model = b.finish(y);
        TrainOptions options;
        options.threads = 1;
        options.optimizer = Optimizer(optimizer);
        options.momentum = momentum;
        options.weightDecay = weightDecay;
        Trainer trainer(model, options);
        const Tensor x = Tensor::fromFloats({1, 2}, {1, 2});
        const Tensor g = Tensor::fromFloats({1, 2}, {0.3f, -0.6f});
        const std::vector<double> gradW{0.3, 0.6, -0.6, -1.2}, gradB{0.3, -0.6};
        std::vector<double> w{0.5, -1, 2, 0.25}, bias{0.1, -0.2};
        std::vector<double> mw(4, 0), vw(4, 0), mb(2, 0), vb(2, 0);
        const double lr = 0.05, b1 = 0.9, b2 = 0.999, eps = 1e-8;
        auto update = [&](std::vector<double> &p, const std::vector<double> &grad, std::vector<double> &m,
                          std::vector<double> &v, double decay, int t) {
            for (size_t i = 0; i < p.size(); ++i) {
                if (Optimizer(optimizer) == Optimizer::Adam) { // AdamW (Loshchilov & Hutter): decay decoupled
                    m[i] = b1 * m[i] + (1 - b1) * grad[i];
                    v[i] = b2 * v[i] + (1 - b2) * grad[i] * grad[i];
                    p[i] -= lr * decay * p[i] +
                            lr * (m[i] / (1 - std::pow(b1, t))) / (std::sqrt(v[i] / (1 - std::pow(b2, t))) + eps);
                } else {
                    const double gr = grad[i] + decay * p[i];
                    m[i] = momentum * m[i] + gr;
                    p[i] -= lr * m[i];
                }
            }
        };
        for (int t = 1; t <= 3; ++t) {
            trainer.forward(x);
            trainer.backward(g);
            trainer.step(float(lr));
            update(w, gradW, mw, vw, weightDecay, t); // weight decay applies to the matrix...
            update(bias, gradB, mb, vb, 0.0, t);      // ...and not to the bias
        }
        const std::vector<float> gotW = model.graph.initializers.at("W").toFloatVector();
        const std::vector<float> gotB = model.graph.initializers.at("b").toFloatVector();
        for (size_t i = 0; i < 4; ++i)
            QVERIFY2(std::abs(gotW[i] - w[i]) < 1e-5 * (1 + std::abs(w[i])),
                     qPrintable(QStringLiteral("W[%1] = %2, expected %3").arg(i).arg(gotW[i]).arg(w[i])));
        for (size_t i = 0; i < 2; ++i)
            QVERIFY2(std::abs(gotB[i] - bias[i]) < 1e-5 * (1 + std::abs(bias[i])),
                     qPrintable(QStringLiteral("b[%1] = %2, expected %3").arg(i).arg(gotB[i]).arg(bias[i])));
        QCOMPARE(trainer.stepCount(), int64_t(3));
    }

    void maskKeepsPrunedWeightsZero()
    {
        GraphBuilder b({1, 2});
        const std::string y = b.node("Gemm", {"x", b.param("W", Tensor::fromFloats({2, 2}, {0.f, -1.f, 2.f, 0.f}))},
                                     {{"transB", Attribute::makeInt(1)}});
        Model model = b.finish(y);
        TrainOptions options;
        options.threads = 1;
        options.optimizer = Optimizer::Sgd;
        options.masks["W"] = Tensor::fromFloats({2, 2}, {0, 1, 1, 0});
        Trainer trainer(model, options);
        trainer.forward(Tensor::fromFloats({1, 2}, {1, 2}));
        trainer.backward(Tensor::fromFloats({1, 2}, {1, 1}));
        QVERIFY(trainer.gradient("W").f32()[0] != 0.f); // the masked weight has a gradient...
        trainer.step(0.1f);
        const std::vector<float> w = model.graph.initializers.at("W").toFloatVector();
        QCOMPARE(w[0], 0.f); // ...but stays pruned
        QCOMPARE(w[3], 0.f);
        QVERIFY(std::abs(w[1] - (-1.f - 0.1f * 2.f)) < 1e-6f);
        QVERIFY(std::abs(w[2] - (2.f - 0.1f * 1.f)) < 1e-6f);

        options.masks["W"] = Tensor::fromFloats({4}, {0, 1, 1, 0});
        QVERIFY_THROWS_EXCEPTION(Error, Trainer(model, options));
        options.masks.clear();
        options.masks["nope"] = Tensor::fromFloats({1}, {1});
        QVERIFY_THROWS_EXCEPTION(Error, Trainer(model, options));
    }
};

QTEST_GUILESS_MAIN(TestGradients)
#include "test_gradients.moc"
