// Allocation and prediction tests.
//
// Distribution by sensitivity on hand-built SensitivityResults: the target is met (pruning: the mean ratio
// exactly; bits: the average at or just under the target), a layer with large measured drops gets less
// compression than one with small drops, hand-computed optima of two-layer cases, every layer's compression
// is non-decreasing in the target, layers without measurements and a missing analysis fall back to the
// uniform setting, and bad targets are errors.
//
// Prediction on a hand-built one-Gemm model with weights whose bytes and errors are computed by hand:
// quantized bytes (packed bits plus scales), channel pruning removing rows, magnitude pruning keeping the
// dense size with fewer nonzeros, skip, and the proxy error equal to cw::weightError of the same weight.
#include <QtTest>

#include <cmath>
#include <numeric>

#include "core/base/error.h"
#include "core/compress/allocate.h"
#include "core/compress/recipe.h"
#include "core/compress/sensitivity.h"
#include "core/quant/quantize.h"
#include "testutil.h"

using namespace cw;

namespace {

// One layer's measured drops for the given settings (prune ratios or bits, aligned with the options).
SensitivityResult sensitivity(const std::vector<std::pair<std::string, int64_t>> &layers,
                              const std::vector<std::vector<double>> &pruneDrops,
                              const std::vector<std::vector<double>> &bitDrops, std::vector<double> ratios,
                              std::vector<int> bits)
{
    SensitivityResult r;
    r.options.pruneRatios = std::move(ratios);
    r.options.bits = std::move(bits);
    r.baselineAccuracy = 0.9;
    for (size_t i = 0; i < layers.size(); ++i) {
        LayerSensitivity l;
        l.name = layers[i].first;
        l.params = layers[i].second;
        l.op = "Conv";
        if (i < pruneDrops.size())
            for (double d : pruneDrops[i])
                l.prune.push_back(SensitivityTrial{0.9 - d, 0, d, 0, 0, 0});
        if (i < bitDrops.size())
            for (double d : bitDrops[i])
                l.bits.push_back(SensitivityTrial{0.9 - d, 0, d, 0, 0, 0});
        r.layers.push_back(l);
    }
    return r;
}

std::vector<AllocationLayer> layerList(const std::vector<std::pair<std::string, int64_t>> &layers)
{
    std::vector<AllocationLayer> out;
    for (const auto &l : layers)
        out.push_back({l.first, l.second});
    return out;
}

double meanRatio(const std::vector<AllocationLayer> &layers, const std::vector<double> &ratios)
{
    double pruned = 0, total = 0;
    for (size_t i = 0; i < layers.size(); ++i) {
        pruned += ratios[i] * double(layers[i].params);
        total += double(layers[i].params);
    }
    return pruned / total;
}

double averageBits(const std::vector<AllocationLayer> &layers, const std::vector<int> &bits)
{
    double sum = 0, total = 0;
    for (size_t i = 0; i < layers.size(); ++i) {
        sum += bits[i] * double(layers[i].params);
        total += double(layers[i].params);
    }
    return sum / total;
}

// Four layers as a small CNN might have them: conv1 is tiny and fragile, fc1 is large and robust, conv2 in
// between, fc2 (the logits) fragile. Drops (accuracy fractions) at ratios 0.3 / 0.5 / 0.7 / 0.9 and at 8 / 6 /
// 4 / 3 / 2 bits; the small negative drop is measurement noise.
const std::vector<std::pair<std::string, int64_t>> kLayers = {
    {"conv1", 320}, {"conv2", 18496}, {"fc1", 401536}, {"fc2", 1290}};
SensitivityResult cnnSensitivity()
{
    return sensitivity(kLayers,
                       {{0.01, 0.05, 0.20, 0.60}, {0.0, 0.004, 0.02, 0.15}, {-0.001, 0.0, 0.003, 0.04}, {0.02, 0.06, 0.25, 0.7}},
                       {{0, 0.001, 0.01, 0.05, 0.3}, {0, 0, 0.002, 0.01, 0.08}, {0, 0, 0, 0.002, 0.02}, {0, 0.002, 0.02, 0.1, 0.5}},
                       {0.3, 0.5, 0.7, 0.9}, {8, 6, 4, 3, 2});
}

Model oneGemm(const std::vector<float> &w, int64_t out, int64_t in)
{
    Model m;
    m.sourcePath = "hand-built";
    Node n;
    n.name = "fc";
    n.opType = "Gemm";
    n.inputs = {"x", "W", "B"};
    n.outputs = {"y"};
    n.attrs["transB"] = Attribute::makeInt(1);
    m.graph.nodes.push_back(n);
    m.graph.initializers["W"] = Tensor::fromFloats({out, in}, w);
    m.graph.initializers["B"] = Tensor::fromFloats({out}, std::vector<float>(size_t(out), 0.5f));
    m.graph.inputs.push_back({"x", DType::Float32, {-1, in}, true});
    m.graph.outputs.push_back({"y", DType::Float32, {-1, out}, true});
    return m;
}

LayerPlan plan(std::optional<PruneConfig> prune, std::optional<QuantSpec> weights, bool skip = false)
{
    LayerPlan p;
    p.node = "fc";
    p.op = "Gemm";
    p.weight = "W";
    p.config.prune = prune;
    p.config.weights = weights;
    p.config.skip = skip;
    return p;
}

PruneConfig pruneConfig(PruneMethod method, double ratio)
{
    PruneConfig c;
    c.method = method;
    c.ratio = ratio;
    return c;
}

QuantSpec quantSpec(int bits, Granularity g, bool symmetric = true)
{
    QuantSpec s;
    s.bits = bits;
    s.granularity = g;
    s.symmetric = symmetric;
    return s;
}

// Row r of a [4, 8] weight holds (r + 1) * (1, -1, 2, -2, 3, -3, 4, -4) / 4: distinct row norms, so channel
// ranking is unambiguous (rows 0 and 1 are the weakest), and distinct magnitudes within a row.
std::vector<float> rampWeights()
{
    const float base[8] = {1, -1, 2, -2, 3, -3, 4, -4};
    std::vector<float> w;
    for (int r = 0; r < 4; ++r)
        for (float b : base)
            w.push_back(float(r + 1) * b / 4.f);
    return w;
}

} // namespace

class TestAllocate : public QObject {
    Q_OBJECT

private slots:
    // -------------------------------------------------------------------------------------------
    // Pruning ratios

    void pruneTargetMet_data()
    {
        QTest::addColumn<double>("target");
        for (double t : {0.0, 0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95})
            QTest::newRow(qPrintable(QStringLiteral("mean %1").arg(t))) << t;
    }
    void pruneTargetMet()
    {
        QFETCH(double, target);
        const SensitivityResult s = cnnSensitivity();
        const auto layers = layerList(kLayers);
        const Allocation a = allocatePruneRatios(layers, target, &s);
        QVERIFY(a.fromSensitivity);
        QCOMPARE(a.ratios.size(), layers.size());
        QVERIFY(std::abs(meanRatio(layers, a.ratios) - target) < 1e-9);
        QVERIFY(std::abs(a.achieved - target) < 1e-9);
        for (double r : a.ratios)
            QVERIFY(r >= 0 && r <= 0.95 + 1e-12);
        QVERIFY(a.predictedDrop >= 0);
    }

    void pruneProtectsSensitiveLayers()
    {
        const SensitivityResult s = cnnSensitivity();
        const auto layers = layerList(kLayers);
        const Allocation a = allocatePruneRatios(layers, 0.5, &s);
        // fc1 is the robust bulk: it carries the target (and more); the fragile small layers get less than it.
        QVERIFY(a.ratios[2] > 0.5);
        QVERIFY(a.ratios[0] < a.ratios[2]);
        QVERIFY(a.ratios[3] < a.ratios[2]);
        QVERIFY(a.ratios[3] < 0.5);
        // Better than the uniform allocation by the same curves: the uniform one costs each layer's drop at 0.5.
        const double uniformDrop = 0.05 + 0.004 + 0.0 + 0.06;
        QVERIFY2(a.predictedDrop < uniformDrop, qPrintable(QString::number(a.predictedDrop)));
    }

    void pruneHandComputed()
    {
        // Two layers of 100 parameters. "free" loses nothing up to 0.9 (extended flat to 0.95); "costly" loses
        // 0.1 per unit of ratio. Target 0.5 = 100 pruned parameters: "free" takes 95 (its cap), "costly" 5.
        const std::vector<std::pair<std::string, int64_t>> two = {{"free", 100}, {"costly", 100}};
        const SensitivityResult s = sensitivity(two, {{0, 0, 0, 0}, {0.03, 0.05, 0.07, 0.09}}, {}, {0.3, 0.5, 0.7, 0.9}, {});
        const Allocation a = allocatePruneRatios(layerList(two), 0.5, &s);
        QVERIFY(std::abs(a.ratios[0] - 0.95) < 1e-12);
        QVERIFY(std::abs(a.ratios[1] - 0.05) < 1e-12);
        QVERIFY(std::abs(a.predictedDrop - 0.005) < 1e-12);

        // A small fragile layer next to a big robust one: the cost is per parameter, so the big layer with a
        // drop of 0.02 at 0.9 (cost 0.02 / (0.9 * 1000)) goes first, the small one (0.02 / (0.9 * 10)) after.
        const std::vector<std::pair<std::string, int64_t>> sizes = {{"small", 10}, {"big", 1000}};
        const SensitivityResult t = sensitivity(sizes, {{0.02}, {0.02}}, {}, {0.9}, {});
        const Allocation b = allocatePruneRatios(layerList(sizes), 0.6, &t);
        QCOMPARE(b.ratios[0], 0.0);
        QVERIFY(std::abs(b.ratios[1] - 0.6 * 1010 / 1000) < 1e-12);
    }

    void pruneMonotoneInTarget()
    {
        const SensitivityResult s = cnnSensitivity();
        const auto layers = layerList(kLayers);
        std::vector<double> previous(layers.size(), 0.0);
        for (int k = 0; k <= 95; ++k) {
            const Allocation a = allocatePruneRatios(layers, k / 100.0, &s);
            for (size_t i = 0; i < layers.size(); ++i)
                QVERIFY2(a.ratios[i] >= previous[i] - 1e-12,
                         qPrintable(QStringLiteral("%1 at target %2").arg(QString::fromStdString(layers[i].node)).arg(k)));
            previous = a.ratios;
        }
    }

    void pruneUniformWithoutSensitivity()
    {
        const auto layers = layerList(kLayers);
        const Allocation a = allocatePruneRatios(layers, 0.4, nullptr);
        QVERIFY(!a.fromSensitivity);
        QVERIFY(!a.note.empty());
        for (double r : a.ratios)
            QCOMPARE(r, 0.4);
        // Layers the analysis does not cover keep the uniform ratio; the others still share the same mean.
        SensitivityResult partial = cnnSensitivity();
        partial.layers.erase(partial.layers.begin() + 1); // conv2
        const Allocation b = allocatePruneRatios(layers, 0.4, &partial);
        QVERIFY(b.fromSensitivity);
        QCOMPARE(b.ratios[1], 0.4);
        QVERIFY(QString::fromStdString(b.note).contains("conv2"));
        QVERIFY(std::abs(b.achieved - 0.4) < 1e-9);
        // No pruning trials at all: uniform.
        SensitivityResult bitsOnly = cnnSensitivity();
        bitsOnly.options.pruneRatios.clear();
        for (LayerSensitivity &l : bitsOnly.layers)
            l.prune.clear();
        const Allocation c = allocatePruneRatios(layers, 0.4, &bitsOnly);
        QVERIFY(!c.fromSensitivity);
        for (double r : c.ratios)
            QCOMPARE(r, 0.4);
    }

    void badTargets()
    {
        const auto layers = layerList(kLayers);
        QVERIFY_THROWS_EXCEPTION(cw::Error, allocatePruneRatios(layers, 0.97, nullptr));
        QVERIFY_THROWS_EXCEPTION(cw::Error, allocatePruneRatios(layers, -0.1, nullptr));
        QVERIFY_THROWS_EXCEPTION(cw::Error, allocatePruneRatios({}, 0.5, nullptr));
        QVERIFY_THROWS_EXCEPTION(cw::Error, allocateBitWidths(layers, 1.5, nullptr));
        QVERIFY_THROWS_EXCEPTION(cw::Error, allocateBitWidths(layers, 8.5, nullptr));
    }

    // -------------------------------------------------------------------------------------------
    // Bit-widths

    void bitsTargetMet_data()
    {
        QTest::addColumn<double>("target");
        for (double t : {8.0, 7.0, 6.0, 5.5, 4.0, 3.3, 2.0})
            QTest::newRow(qPrintable(QStringLiteral("%1 bits").arg(t))) << t;
    }
    void bitsTargetMet()
    {
        QFETCH(double, target);
        const SensitivityResult s = cnnSensitivity();
        const auto layers = layerList(kLayers);
        const Allocation a = allocateBitWidths(layers, target, &s);
        QVERIFY(a.fromSensitivity);
        const double avg = averageBits(layers, a.bits);
        QVERIFY(std::abs(avg - a.achieved) < 1e-12);
        QVERIFY2(avg <= target + 1e-9, qPrintable(QString::number(avg)));
        // Whole bits overshoot by at most one bit of one layer.
        const double total = std::accumulate(kLayers.begin(), kLayers.end(), 0.0,
                                             [](double s, const auto &l) { return s + double(l.second); });
        QVERIFY(avg >= target - 401536.0 / total - 1e-9);
        for (int b : a.bits)
            QVERIFY(b >= 2 && b <= 8);
    }

    void bitsProtectSensitiveLayers()
    {
        const SensitivityResult s = cnnSensitivity();
        const auto layers = layerList(kLayers);
        const Allocation a = allocateBitWidths(layers, 4.0, &s);
        // fc1 (robust, large) goes lowest; the logits layer fc2 and conv1 (fragile) stay higher.
        QVERIFY(a.bits[2] <= 4);
        QVERIFY(a.bits[3] > a.bits[2]);
        QVERIFY(a.bits[0] > a.bits[2]);
    }

    void bitsHandComputed()
    {
        // Measured at 8, 4 and 2 bits; 5 to 7 are interpolated. "robust" costs 0.01 per bit down to 4 bits,
        // "fragile" 0.1. Target 6 bits over two equal layers = 2 bits per weight to remove on average = 4 bits
        // of "robust" (8 -> 4, its cheapest segment), predicted drop 0.04.
        const std::vector<std::pair<std::string, int64_t>> two = {{"robust", 100}, {"fragile", 100}};
        const SensitivityResult s = sensitivity(two, {}, {{0, 0.04, 0.2}, {0, 0.4, 0.9}}, {}, {8, 4, 2});
        const Allocation a = allocateBitWidths(layerList(two), 6.0, &s);
        QCOMPARE(a.bits, (std::vector<int>{4, 8}));
        QVERIFY(std::abs(a.predictedDrop - 0.04) < 1e-12);
        // Target 7: two bits of "robust" (8 -> 6), at the drop interpolated for 6 bits (0.02).
        const Allocation b = allocateBitWidths(layerList(two), 7.0, &s);
        QCOMPARE(b.bits, (std::vector<int>{6, 8}));
        QVERIFY(std::abs(b.predictedDrop - 0.02) < 1e-12);
    }

    void bitsMonotoneInTarget()
    {
        const SensitivityResult s = cnnSensitivity();
        const auto layers = layerList(kLayers);
        std::vector<int> previous(layers.size(), 8);
        for (int k = 80; k >= 20; --k) {
            const Allocation a = allocateBitWidths(layers, k / 10.0, &s);
            for (size_t i = 0; i < layers.size(); ++i)
                QVERIFY2(a.bits[i] <= previous[i],
                         qPrintable(QStringLiteral("%1 at target %2").arg(QString::fromStdString(layers[i].node)).arg(k / 10.0)));
            previous = a.bits;
        }
    }

    void bitsUniformWithoutSensitivity()
    {
        const std::vector<std::pair<std::string, int64_t>> four = {{"a", 50}, {"b", 50}, {"c", 50}, {"d", 50}};
        // 5.5 bits over four equal layers: two at 5, two at 6 (8 -> 7 -> 6 for all, then 5 in layer order).
        const Allocation a = allocateBitWidths(layerList(four), 5.5, nullptr);
        QVERIFY(!a.fromSensitivity);
        QCOMPARE(a.bits, (std::vector<int>{5, 5, 6, 6}));
        QCOMPARE(a.achieved, 5.5);
        const Allocation b = allocateBitWidths(layerList(four), 4.0, nullptr);
        QCOMPARE(b.bits, (std::vector<int>{4, 4, 4, 4}));
    }

    // -------------------------------------------------------------------------------------------
    // Recipe overrides

    void applyWritesOverrides()
    {
        Model m = oneGemm(rampWeights(), 4, 8);
        Recipe r;
        r.weights = quantSpec(8, Granularity::Group);
        const std::vector<LayerPlan> p = {plan(std::nullopt, r.weights)};
        const auto layers = allocationLayers(m, p);
        QCOMPARE(layers.size(), size_t(1));
        QCOMPARE(layers[0].params, int64_t(32));
        Allocation prune;
        prune.ratios = {0.3};
        applyPruneAllocation(r, p, layers, prune);
        QVERIFY(r.layers.at("fc").prune.has_value());
        QCOMPARE(r.layers.at("fc").prune->ratio, 0.3);
        QVERIFY(r.layers.at("fc").prune->method == PruneMethod::Magnitude);
        Allocation bits;
        bits.bits = {3};
        applyBitAllocation(r, p, layers, bits);
        QCOMPARE(r.layers.at("fc").weights->bits, 3);
        QVERIFY(r.layers.at("fc").weights->granularity == Granularity::Group); // from the plan
        // A skipped layer is not distributed over.
        QVERIFY(allocationLayers(m, {plan(std::nullopt, std::nullopt, true)}).empty());
    }

    // -------------------------------------------------------------------------------------------
    // Prediction

    void predictBytes_data()
    {
        QTest::addColumn<int>("kind"); // 0 float, 1 skip, 2 quantize, 3 channel, 4 channel+quantize, 5 magnitude
        QTest::addColumn<int>("bits");
        QTest::addColumn<int>("granularity");
        QTest::addColumn<bool>("symmetric");
        QTest::addColumn<qint64>("bytes");
        QTest::addColumn<qint64>("nonzeros");
        // [4, 8] float weight = 128 bytes; bias 16 bytes stays.
        QTest::newRow("nothing configured") << 0 << 8 << 0 << true << qint64(128) << qint64(32);
        QTest::newRow("skip") << 1 << 8 << 0 << true << qint64(128) << qint64(32);
        QTest::newRow("8-bit per channel: 32 bytes + 4 scales") << 2 << 8 << int(Granularity::Channel) << true << qint64(32 + 16) << qint64(32);
        QTest::newRow("4-bit per tensor: 16 bytes + 1 scale") << 2 << 4 << int(Granularity::Tensor) << true << qint64(16 + 4) << qint64(32);
        QTest::newRow("3-bit asymmetric per channel: 12 bytes + 4 x (scale + zp)") << 2 << 3 << int(Granularity::Channel) << false << qint64(12 + 20) << qint64(32);
        QTest::newRow("channel 0.5: two rows of float") << 3 << 8 << 0 << true << qint64(64) << qint64(16);
        QTest::newRow("channel 0.5 + 8-bit per channel: 16 + 2 scales") << 4 << 8 << int(Granularity::Channel) << true << qint64(16 + 8) << qint64(16);
        QTest::newRow("magnitude 0.5: 32 weights are too few to store sparse") << 5 << 8 << 0 << true << qint64(128) << qint64(16);
    }
    void predictBytes()
    {
        QFETCH(int, kind);
        QFETCH(int, bits);
        QFETCH(int, granularity);
        QFETCH(bool, symmetric);
        QFETCH(qint64, bytes);
        QFETCH(qint64, nonzeros);
        const Model m = oneGemm(rampWeights(), 4, 8);
        std::optional<PruneConfig> prune;
        std::optional<QuantSpec> quant;
        if (kind == 2 || kind == 4)
            quant = quantSpec(bits, Granularity(granularity), symmetric);
        if (kind == 3 || kind == 4)
            prune = pruneConfig(PruneMethod::Channel, 0.5);
        if (kind == 5)
            prune = pruneConfig(PruneMethod::Magnitude, 0.5);
        for (bool withError : {false, true}) {
            const LayerPrediction p = predictLayer(m, plan(prune, quant, kind == 1), withError);
            QCOMPARE(p.params, qint64(32));
            QCOMPARE(p.floatBytes, qint64(128));
            QCOMPARE(p.bytes, bytes);
            QCOMPARE(p.nonzeros, nonzeros);
            QCOMPARE(p.compressed, kind >= 2);
            const ModelPrediction mp = predictModel(m, {plan(prune, quant, kind == 1)}, withError);
            QCOMPARE(mp.baseBytes, qint64(128 + 16));
            QCOMPARE(mp.bytes, bytes + 16);
            QCOMPARE(mp.ratio, double(144) / double(bytes + 16));
        }
    }

    // A large enough pruned weight is stored sparse: mask + nonzero values instead of every value.
    void predictSparseBytes_data()
    {
        QTest::addColumn<int>("bits"); // 0 = float
        QTest::addColumn<qint64>("bytes");
        // [64, 64]: 4096 weights, 2048 nonzero after magnitude 0.5; mask 512 bytes.
        QTest::newRow("float: mask + 2048 floats") << 0 << qint64(512 + 2048 * 4);
        QTest::newRow("8-bit per channel: mask + 2048 bytes + 64 scales") << 8 << qint64(512 + 2048 + 64 * 4);
        // 2-bit: dense 1024 bytes; sparse 512 + 512 saves less than the attributes cost -> dense.
        QTest::newRow("2-bit per channel: dense is smaller") << 2 << qint64(1024 + 64 * 4);
    }
    void predictSparseBytes()
    {
        QFETCH(int, bits);
        QFETCH(qint64, bytes);
        std::vector<float> w(4096);
        for (size_t i = 0; i < w.size(); ++i)
            w[i] = float(int(i % 97) - 48) / 48.f;
        const Model m = oneGemm(w, 64, 64);
        std::optional<QuantSpec> quant;
        if (bits)
            quant = quantSpec(bits, Granularity::Channel);
        const LayerPrediction p = predictLayer(m, plan(pruneConfig(PruneMethod::Magnitude, 0.5), quant), false);
        QCOMPARE(p.nonzeros, qint64(2048));
        QCOMPARE(p.bytes, bytes);
    }

    void predictError()
    {
        const Model m = oneGemm(rampWeights(), 4, 8);
        const Tensor &w = m.graph.initializers.at("W");
        // Unchanged: infinite SQNR, no error.
        const LayerPrediction none = predictLayer(m, plan(std::nullopt, std::nullopt));
        QVERIFY(std::isinf(none.sqnrDb) && none.sqnrDb > 0);
        QCOMPARE(none.relativeError, 0.0);

        // Quantization only: exactly cw::weightError of the fake-quantized weight.
        for (int bits : {8, 4, 2}) {
            const QuantSpec spec = quantSpec(bits, Granularity::Tensor);
            const WeightError ref = weightError(w, fakeQuantize(w, spec, 0).dequantized);
            const LayerPrediction p = predictLayer(m, plan(std::nullopt, spec));
            QVERIFY2(std::abs(p.sqnrDb - ref.sqnrDb) < 1e-9, qPrintable(QStringLiteral("%1 vs %2").arg(p.sqnrDb).arg(ref.sqnrDb)));
            QVERIFY(std::abs(p.relativeError - ref.relativeError) < 1e-9);
        }

        // Channel pruning at 0.5 removes rows 0 and 1 (the weakest): the error energy is theirs.
        // Row r's energy is (r+1)^2 * (1+1+4+4+9+9+16+16)/16 = (r+1)^2 * 60/16; relative error sqrt((1+4)/(1+4+9+16)).
        const LayerPrediction ch = predictLayer(m, plan(pruneConfig(PruneMethod::Channel, 0.5), std::nullopt));
        QVERIFY(std::abs(ch.relativeError - std::sqrt(5.0 / 30.0)) < 1e-12);
        QVERIFY(std::abs(ch.sqnrDb - 10 * std::log10(6.0)) < 1e-9);

        // Magnitude 0.5 zeroes the 16 smallest |w|: in row r the values (r+1)/4 * {1, 2, 3, 4}; the 16 smallest
        // of all 32 are, by magnitude: row0 all 8 (0.25..1), row1's 1,2 (0.5, 1.0)... computed directly.
        std::vector<float> sorted;
        for (float v : rampWeights())
            sorted.push_back(std::abs(v));
        std::sort(sorted.begin(), sorted.end());
        double noise = 0, signal = 0;
        for (size_t i = 0; i < sorted.size(); ++i) {
            signal += double(sorted[i]) * sorted[i];
            if (i < 16)
                noise += double(sorted[i]) * sorted[i];
        }
        const LayerPrediction mag = predictLayer(m, plan(pruneConfig(PruneMethod::Magnitude, 0.5), std::nullopt));
        QVERIFY(std::abs(mag.relativeError - std::sqrt(noise / signal)) < 1e-9);

        // N:M 2:4 along the input dimension keeps the two largest of every four: in each row (1,-1,2,-2) keeps
        // the 2s and (3,-3,4,-4) the 4s, so the 1s and 3s go: noise fraction (1+1+9+9)/60 in every row.
        PruneConfig nm = pruneConfig(PruneMethod::NM, 0.5);
        nm.n = 2;
        nm.m = 4;
        const LayerPrediction pnm = predictLayer(m, plan(nm, std::nullopt));
        QCOMPARE(pnm.nonzeros, qint64(16));
        QVERIFY(std::abs(pnm.relativeError - std::sqrt(20.0 / 60.0)) < 1e-9);

        // Whole-model error sums the energies: one layer -> the same as the layer.
        const ModelPrediction mp = predictModel(m, {plan(pruneConfig(PruneMethod::Channel, 0.5), std::nullopt)});
        QVERIFY(std::abs(mp.relativeError - ch.relativeError) < 1e-12);
    }

    void predictUnknownNodeIsError()
    {
        const Model m = oneGemm(rampWeights(), 4, 8);
        LayerPlan p = plan(std::nullopt, std::nullopt);
        p.node = "nope";
        QVERIFY_THROWS_EXCEPTION(cw::Error, predictLayer(m, p));
        p.node = "fc";
        p.weight = "missing";
        QVERIFY_THROWS_EXCEPTION(cw::Error, predictLayer(m, p));
    }
};

QTEST_GUILESS_MAIN(TestAllocate)
#include "test_allocate.moc"
