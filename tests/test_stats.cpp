// Weight statistics against an independent computation: the model is written to a real ONNX file and
// Debian's numpy reads its initializers back and computes min / max / mean / std / excess kurtosis / zero
// and outlier fractions per layer and per output channel (in float64, over the finite values). A second
// hand-built model covers the other channel axes (ConvTranspose, Gemm with transB = 0, MatMul), NaN / Inf,
// exact zeros, and a layer big enough to be split into several chunks. Histogram edge cases are
// hand-checked; `cwb stats --json` must print what computeLayerStats computes.
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <limits>
#include <random>

#include "core/analysis/activations.h"
#include "core/analysis/stats.h"
#include "core/base/error.h"
#include "core/io/model_io.h"
#include "core/quant/quantize.h"
#include "testutil.h"

using namespace cw;

namespace {

const char *kNumpyStats = R"PY(
import json, sys
import numpy as np
import onnx
from onnx import numpy_helper

model = onnx.load(sys.argv[1])
k = float(sys.argv[2])
inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}

def stats(x):
    x = np.asarray(x, dtype=np.float64).ravel()
    finite = x[np.isfinite(x)]
    out = {"count": int(finite.size), "nan": int(np.isnan(x).sum()), "inf": int(np.isinf(x).sum())}
    if finite.size == 0:
        return out
    mean = finite.mean()
    d = finite - mean
    var = np.mean(d * d)
    std = np.sqrt(var)
    out.update({"min": finite.min(), "max": finite.max(), "mean": mean, "std": std,
                "abs_max": np.abs(finite).max(),
                "kurtosis": float(np.mean(d ** 4) / var ** 2 - 3.0) if var > 0 else 0.0,
                "zero_fraction": float(np.mean(finite == 0)),
                "outlier_fraction": float(np.mean(np.abs(d) > k * std)) if std > 0 else 0.0})
    return {key: float(v) if not isinstance(v, int) else v for key, v in out.items()}

def channel_axis(node, w):
    attrs = {a.name: a for a in node.attribute}
    if node.op_type == "ConvTranspose":
        return 1
    if node.op_type == "Gemm":
        return 0 if ("transB" in attrs and attrs["transB"].i == 1) else 1
    if node.op_type == "MatMul":
        return w.ndim - 1
    return 0

layers = []
for node in model.graph.node:
    w = next((inits[i] for i in node.input if i in inits and inits[i].dtype == np.float32 and inits[i].ndim >= 2), None)
    if w is None:
        continue
    axis = channel_axis(node, w)
    per = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
    layers.append({"name": node.name, "op": node.op_type, "params": int(w.size), "all": stats(w),
                   "channels": [stats(row) for row in per]})
print(json.dumps({"layers": layers}))
)PY";

// |a - b| <= 1e-6 |b| (+ a tiny absolute floor for statistics that are exactly zero on one side).
bool close(double a, double b) { return std::abs(a - b) <= 1e-6 * std::abs(b) + 1e-12; }

QString compareStats(const TensorStats &s, const QJsonObject &ref, const QString &where)
{
    if (s.count != ref["count"].toInteger() || s.nanCount != ref["nan"].toInteger() || s.infCount != ref["inf"].toInteger())
        return where + QStringLiteral(": counts %1/%2/%3 vs numpy %4/%5/%6")
                           .arg(s.count).arg(s.nanCount).arg(s.infCount)
                           .arg(ref["count"].toInteger()).arg(ref["nan"].toInteger()).arg(ref["inf"].toInteger());
    if (s.count == 0)
        return {};
    const std::pair<const char *, double> fields[] = {
        {"min", s.min}, {"max", s.max}, {"mean", s.mean}, {"std", s.std}, {"abs_max", s.absMax},
        {"kurtosis", s.kurtosis}, {"zero_fraction", s.zeroFraction}, {"outlier_fraction", s.outlierFraction}};
    for (const auto &[key, value] : fields)
        if (!close(value, ref[key].toDouble()))
            return where + QStringLiteral(": %1 = %2, numpy %3").arg(key).arg(value, 0, 'g', 17).arg(ref[key].toDouble(), 0, 'g', 17);
    return {};
}

std::vector<float> gaussian(int64_t n, unsigned seed, float mean, float sd)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(mean, sd);
    std::vector<float> v(static_cast<size_t>(n));
    for (float &x : v)
        x = dist(rng);
    return v;
}

Node node(const std::string &name, const std::string &op, std::vector<std::string> inputs, const std::string &output)
{
    Node n;
    n.name = name;
    n.opType = op;
    n.inputs = std::move(inputs);
    n.outputs = {output};
    return n;
}

// Weights only matter here, but the graph is a valid chain so it saves and reloads like any model.
Model axesModel()
{
    Model m;
    m.sourcePath = "axes-test";
    Graph &g = m.graph;
    g.inputs.push_back(ValueInfo{"x", DType::Float32, {1, 4, 5, 5}, true});
    // ConvTranspose w [C=4, M/group=3, 2, 2]: output channels on axis 1.
    std::vector<float> ct = gaussian(4 * 3 * 2 * 2, 1, 0.1f, 0.5f);
    ct[5] = std::numeric_limits<float>::quiet_NaN();
    ct[17] = std::numeric_limits<float>::infinity();
    ct[2] = 0.f;
    ct[3] = 0.f;
    g.initializers["ct.w"] = Tensor::fromFloats({4, 3, 2, 2}, ct);
    g.initializers["ct.b"] = Tensor::fromFloats({3}, {0.1f, 0.2f, 0.3f});
    g.nodes.push_back(node("up", "ConvTranspose", {"x", "ct.w", "ct.b"}, "u"));
    g.nodes.back().attrs["kernel_shape"] = Attribute::makeInts({2, 2});
    g.nodes.push_back(node("flat", "Flatten", {"u"}, "f")); // [1, 3*6*6 = 108]
    // Gemm with transB = 0: B [108, 600], output channels on axis 1; big enough for several chunks.
    std::vector<float> gb = gaussian(108 * 600, 2, -0.02f, 0.05f);
    for (size_t i = 0; i < gb.size(); i += 97)
        gb[i] = 0.f;
    gb[1000] = -3.f; // an outlier by any k
    g.initializers["fc.w"] = Tensor::fromFloats({108, 600}, gb);
    g.initializers["fc.b"] = Tensor::fromFloats({600}, std::vector<float>(600, 0.f));
    g.nodes.push_back(node("fc", "Gemm", {"f", "fc.w", "fc.b"}, "h"));
    // MatMul w [600, 10]: output channels on the last axis; each column is a long channel (600 values).
    std::vector<float> mm = gaussian(600 * 10, 3, 0.f, 1.f);
    for (size_t i = 0; i < mm.size(); i += 10)
        mm[i] = 0.25f; // channel 0 concentrated on one value: a large negative kurtosis
    mm[9] = -std::numeric_limits<float>::infinity();
    g.initializers["mm.w"] = Tensor::fromFloats({600, 10}, mm);
    g.nodes.push_back(node("head", "MatMul", {"h", "mm.w"}, "y"));
    // A constant layer: std 0, kurtosis and outliers defined as 0.
    g.initializers["const.w"] = Tensor::fromFloats({10, 5}, std::vector<float>(50, 0.5f));
    g.nodes.push_back(node("scale", "MatMul", {"y", "const.w"}, "z"));
    g.outputs.push_back(ValueInfo{"z", DType::Float32, {1, 5}, true});
    return m;
}

const TensorStats &channelOrAll(const LayerStats &l, int c) { return c < 0 ? l.all : l.channels[size_t(c)]; }

} // namespace

class TestStats : public QObject {
    Q_OBJECT

private slots:
    void againstNumpy_data()
    {
        QTest::addColumn<QString>("model");
        QTest::addColumn<double>("k");
        QTest::newRow("demo CNN, k = 3") << "demo" << 3.0;
        QTest::newRow("demo ResNet, k = 2.5") << "demo-resnet" << 2.5;
        QTest::newRow("ConvTranspose / Gemm transB=0 / MatMul with NaN, Inf, zeros, k = 3") << "axes" << 3.0;
        QTest::newRow("ConvTranspose / Gemm transB=0 / MatMul, k = 1.5") << "axes" << 1.5;
    }

    void againstNumpy()
    {
        QFETCH(QString, model);
        QFETCH(double, k);
        const Model m = model == "axes" ? axesModel() : loadModel(model.toStdString());
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString onnxPath = dir.filePath("model.onnx");
        saveModel(m, onnxPath.toStdString());
        const QString script = dir.filePath("stats.py");
        {
            QFile f(script);
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(kNumpyStats);
        }
        QString error;
        const QByteArray out = testutil::runProcess(testutil::python(), {script, onnxPath, QString::number(k, 'g', 17)}, &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        const QJsonArray ref = QJsonDocument::fromJson(out).object()["layers"].toArray();

        // Ours, from the same file.
        const Model reloaded = loadModel(onnxPath.toStdString());
        StatsOptions options;
        options.outlierK = k;
        options.threads = 2;
        const std::vector<LayerStats> ours = computeLayerStats(reloaded, options);
        QCOMPARE(int(ours.size()), int(ref.size()));
        QVERIFY(!ours.empty());
        for (size_t l = 0; l < ours.size(); ++l) {
            const QJsonObject r = ref[int(l)].toObject();
            const LayerStats &s = ours[l];
            QCOMPARE(QString::fromStdString(s.name), r["name"].toString());
            QCOMPARE(QString::fromStdString(s.op), r["op"].toString());
            QCOMPARE(s.params, r["params"].toInteger());
            const QString where = QString::fromStdString(s.name);
            QString diff = compareStats(s.all, r["all"].toObject(), where);
            QVERIFY2(diff.isEmpty(), qPrintable(diff));
            const QJsonArray channels = r["channels"].toArray();
            QCOMPARE(int(s.channels.size()), int(channels.size()));
            for (int c = 0; c < channels.size(); ++c) {
                diff = compareStats(s.channels[size_t(c)], channels[c].toObject(), where + QStringLiteral(" channel %1").arg(c));
                QVERIFY2(diff.isEmpty(), qPrintable(diff));
            }
            // The single-tensor entry point agrees with the layer sweep.
            const Tensor &w = reloaded.graph.initializers.at(s.tensor);
            diff = compareStats(computeTensorStats(w.data<float>(), w.numel(), k), r["all"].toObject(), where + " (computeTensorStats)");
            QVERIFY2(diff.isEmpty(), qPrintable(diff));
        }
    }

    void layerSelection()
    {
        const Model m = axesModel();
        const std::vector<LayerStats> all = computeLayerStats(m);
        QStringList names;
        for (const LayerStats &l : all)
            names << QString::fromStdString(l.name);
        QCOMPARE(names, QStringList({"up", "fc", "head", "scale"})); // Flatten has no weight; biases are skipped
        QCOMPARE(all[0].channelAxis, 1);
        QCOMPARE(all[0].tensor, std::string("ct.w"));
        QCOMPARE(all[1].channelAxis, 1);
        QCOMPARE(all[2].channelAxis, 1);
        QCOMPARE(int(all[1].channels.size()), 600);

        StatsOptions one;
        one.layer = "head";
        const std::vector<LayerStats> head = computeLayerStats(m, one);
        QCOMPARE(int(head.size()), 1);
        QCOMPARE(head[0].all.mean, all[2].all.mean);
        QCOMPARE(head[0].all.kurtosis, all[2].all.kurtosis);

        // Without channels, the layer statistics are the same numbers (up to rounding of the merge order).
        StatsOptions noChannels;
        noChannels.perChannel = false;
        const std::vector<LayerStats> flat = computeLayerStats(m, noChannels);
        QVERIFY(flat[1].channels.empty());
        QVERIFY(close(flat[1].all.std, all[1].all.std));
        QVERIFY(close(flat[1].all.kurtosis, all[1].all.kurtosis));
        QCOMPARE(flat[1].all.outlierFraction, all[1].all.outlierFraction);

        // Thread count does not change the result (merge order is fixed).
        StatsOptions single;
        single.threads = 1;
        const std::vector<LayerStats> one1 = computeLayerStats(m, single);
        QCOMPARE(one1[1].all.kurtosis, all[1].all.kurtosis);

        one.layer = "nope";
        try {
            computeLayerStats(m, one);
            QFAIL("unknown layer accepted");
        } catch (const Error &e) {
            QVERIFY2(QString(e.what()).contains("'nope'"), e.what());
        }
        one.layer = "flat";
        QVERIFY_THROWS_EXCEPTION(Error, computeLayerStats(m, one));
    }

    void tensorStatsByHand()
    {
        const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
        // Finite values 1, 3: mean 2, std 1, every |d| = 1 so E[d^4] / var^2 = 1, excess kurtosis -2.
        const std::vector<float> v{1.f, nan, 3.f, -inf, inf};
        const TensorStats s = computeTensorStats(v.data(), int64_t(v.size()));
        QCOMPARE(s.count, int64_t(2));
        QCOMPARE(s.nanCount, int64_t(1));
        QCOMPARE(s.infCount, int64_t(2));
        QCOMPARE(s.min, 1.0);
        QCOMPARE(s.max, 3.0);
        QCOMPARE(s.absMax, 3.0);
        QCOMPARE(s.mean, 2.0);
        QCOMPARE(s.std, 1.0);
        QCOMPARE(s.kurtosis, -2.0);
        QCOMPARE(s.outlierFraction, 0.0);
        // k = 0.5: both values are 1 from the mean, more than 0.5 std.
        QCOMPARE(computeTensorStats(v.data(), int64_t(v.size()), 0.5).outlierFraction, 1.0);

        // Constant: std 0, kurtosis 0, no outliers; zeros counted.
        const std::vector<float> zeros(7, 0.f);
        const TensorStats z = computeTensorStats(zeros.data(), 7);
        QCOMPARE(z.std, 0.0);
        QCOMPARE(z.kurtosis, 0.0);
        QCOMPARE(z.zeroFraction, 1.0);
        QCOMPARE(z.outlierFraction, 0.0);

        // Empty and all-NaN: nothing finite, every statistic 0.
        const TensorStats e = computeTensorStats(nullptr, 0);
        QCOMPARE(e.count, int64_t(0));
        QCOMPARE(e.mean, 0.0);
        const std::vector<float> nans(3, nan);
        const TensorStats n = computeTensorStats(nans.data(), 3);
        QCOMPARE(n.nanCount, int64_t(3));
        QCOMPARE(n.count, int64_t(0));
        QCOMPARE(n.std, 0.0);
    }

    void histogram_data()
    {
        const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
        QTest::addColumn<std::vector<float>>("values");
        QTest::addColumn<int>("bins");
        QTest::addColumn<double>("lo");
        QTest::addColumn<double>("hi");
        QTest::addColumn<double>("expectLo");
        QTest::addColumn<double>("expectHi");
        QTest::addColumn<std::vector<int64_t>>("counts");
        QTest::addColumn<std::vector<int64_t>>("nanInfBelowAbove");
        // Empty and all-NaN: a unit range around 0, no counts.
        QTest::newRow("empty") << std::vector<float>{} << 4 << 0.0 << 0.0 << -0.5 << 0.5
                               << std::vector<int64_t>{0, 0, 0, 0} << std::vector<int64_t>{0, 0, 0, 0};
        QTest::newRow("all NaN") << std::vector<float>{nan, nan} << 2 << 0.0 << 0.0 << -0.5 << 0.5
                                 << std::vector<int64_t>{0, 0} << std::vector<int64_t>{2, 0, 0, 0};
        // Constant 2: range [1.5, 2.5], 5 bins of 0.2; 2 is at 0.5 / 0.2 = bin 2.
        QTest::newRow("constant") << std::vector<float>{2.f, 2.f, 2.f} << 5 << 0.0 << 0.0 << 1.5 << 2.5
                                  << std::vector<int64_t>{0, 0, 3, 0, 0} << std::vector<int64_t>{0, 0, 0, 0};
        QTest::newRow("single value, one bin") << std::vector<float>{-3.f} << 1 << 0.0 << 0.0 << -3.5 << -2.5
                                               << std::vector<int64_t>{1} << std::vector<int64_t>{0, 0, 0, 0};
        // NaN / Inf reported apart; range from the finite values [0, 1]; the maximum falls in the last bin.
        QTest::newRow("NaN and Inf") << std::vector<float>{nan, inf, -inf, 0.f, 1.f, 0.4f} << 2 << 0.0 << 0.0 << 0.0 << 1.0
                                     << std::vector<int64_t>{2, 1} << std::vector<int64_t>{1, 2, 0, 0};
        // Explicit range [-0.5, 0.5], bins of 0.25: -0.5 -> 0, 0 -> 2, 0.25 -> 3, 0.5 (= hi) -> 3; -1 below, 2 above.
        QTest::newRow("explicit range") << std::vector<float>{-1.f, -0.5f, 0.f, 0.25f, 0.5f, 2.f} << 4 << -0.5 << 0.5 << -0.5
                                        << 0.5 << std::vector<int64_t>{1, 0, 1, 2} << std::vector<int64_t>{0, 0, 1, 1};
    }

    void histogram()
    {
        QFETCH(std::vector<float>, values);
        QFETCH(int, bins);
        QFETCH(double, lo);
        QFETCH(double, hi);
        QFETCH(double, expectLo);
        QFETCH(double, expectHi);
        QFETCH(std::vector<int64_t>, counts);
        QFETCH(std::vector<int64_t>, nanInfBelowAbove);
        const Histogram h = computeHistogram(values.data(), int64_t(values.size()), bins, lo, hi);
        QCOMPARE(h.lo, expectLo);
        QCOMPARE(h.hi, expectHi);
        QCOMPARE(h.counts, counts);
        QCOMPARE(h.nanCount, nanInfBelowAbove[0]);
        QCOMPARE(h.infCount, nanInfBelowAbove[1]);
        QCOMPARE(h.below, nanInfBelowAbove[2]);
        QCOMPARE(h.above, nanInfBelowAbove[3]);
        QCOMPARE(h.binWidth(), (expectHi - expectLo) / bins);
    }

    // Rebinning keeps every count, puts each in the bin holding its old bin's centre (hand-checked), and is the
    // identity at the same bin count.
    void rebin()
    {
        const float v[] = {0.f, 0.1f, 0.2f, 0.3f, 0.55f, 0.6f, 0.9f, 1.f};
        const Histogram fine = computeHistogram(v, 8, 10, 0.0, 1.0); // bins of 0.1
        const Histogram coarse = rebinHistogram(fine, 2);             // [0, 0.5), [0.5, 1]
        QCOMPARE(coarse.counts, (std::vector<int64_t>{4, 4}));
        QCOMPARE(coarse.lo, 0.0);
        QCOMPARE(coarse.hi, 1.0);
        QCOMPARE(rebinHistogram(fine, 10).counts, fine.counts);
        const Histogram three = rebinHistogram(fine, 3); // centres 0.05..0.95 into thirds
        QCOMPARE(three.counts, (std::vector<int64_t>{3, 3, 2}));
        QVERIFY_THROWS_EXCEPTION(Error, rebinHistogram(fine, 0));
    }

    // Activation samples kept with a model: binned, read back with every count and range, and refused when
    // malformed.
    void storedActivations()
    {
        ActivationSample a;
        a.name = "relu1";
        a.values = {0.f, 0.f, 1.f, 2.f, 3.f};
        a.total = 10;
        a.nanCount = 1;
        a.min = 0;
        a.max = 3;
        a.stride = 2;
        ActivationSample empty; // nothing finite kept: left out
        empty.name = "nan_only";
        const std::string text = activationsToJson({a, empty}, "fashion-mnist", 256);
        const StoredActivations back = activationsFromJson(text);
        QCOMPARE(back.dataset, std::string("fashion-mnist"));
        QCOMPARE(back.samples, int64_t(256));
        QCOMPARE(int(back.values.size()), 1);
        const ActivationSample &s = back.values[0];
        QCOMPARE(s.name, a.name);
        QCOMPARE(s.total, a.total);
        QCOMPARE(s.nanCount, a.nanCount);
        QCOMPARE(s.stride, a.stride);
        QCOMPARE(s.max, 3.0);
        QVERIFY(s.values.empty());
        QCOMPARE(int(s.binned.counts.size()), kStoredActivationBins);
        const Histogram direct = computeHistogram(a.values.data(), 5, 4);
        QCOMPARE(rebinHistogram(s.binned, 4).counts, direct.counts);
        QVERIFY_THROWS_EXCEPTION(Error, activationsFromJson("{"));
        QVERIFY_THROWS_EXCEPTION(Error, activationsFromJson(R"({"dataset": "d", "samples": 1, "values": [{"name": "x",
            "total": 1, "nan": 0, "inf": 0, "min": 0, "max": 1, "stride": 1, "lo": 1, "hi": 0, "counts": [1]}]})"));
    }

    void histogramErrors()
    {
        const float v[] = {1.f};
        QVERIFY_THROWS_EXCEPTION(Error, computeHistogram(v, 1, 0));
        QVERIFY_THROWS_EXCEPTION(Error, computeHistogram(v, 1, 4, 1.0, -1.0));
    }

    void cwbStatsJson()
    {
        QProcess p;
        p.start(QStringLiteral(CW_CWB_PATH), {"stats", "demo", "--json", "--outlier-k", "2.5"});
        QVERIFY(p.waitForFinished(120000));
        QCOMPARE(p.exitCode(), 0);
        const QJsonArray layers = QJsonDocument::fromJson(p.readAllStandardOutput()).object()["layers"].toArray();
        StatsOptions options;
        options.outlierK = 2.5;
        const Model model = loadModel("demo");
        const std::vector<LayerStats> ours = computeLayerStats(model, options);
        QCOMPARE(int(layers.size()), int(ours.size()));
        for (size_t l = 0; l < ours.size(); ++l) {
            const QJsonObject j = layers[int(l)].toObject();
            const LayerStats &s = ours[l];
            QCOMPARE(j["name"].toString(), QString::fromStdString(s.name));
            QCOMPARE(j["op"].toString(), QString::fromStdString(s.op));
            QCOMPARE(j["tensor"].toString(), QString::fromStdString(s.tensor));
            QCOMPARE(j["params"].toInteger(), s.params);
            QCOMPARE(j["min"].toDouble(), s.all.min);
            QCOMPARE(j["max"].toDouble(), s.all.max);
            QCOMPARE(j["mean"].toDouble(), s.all.mean);
            QCOMPARE(j["std"].toDouble(), s.all.std);
            QCOMPARE(j["abs_max"].toDouble(), s.all.absMax);
            QCOMPARE(j["kurtosis"].toDouble(), s.all.kurtosis);
            QCOMPARE(j["zero_fraction"].toDouble(), s.all.zeroFraction);
            QCOMPARE(j["outlier_fraction"].toDouble(), s.all.outlierFraction);
            QCOMPARE(j["nan_count"].toInteger(), s.all.nanCount);
            QCOMPARE(j["inf_count"].toInteger(), s.all.infCount);
            const QJsonObject bytes = j["bytes"].toObject();
            QCOMPARE(bytes["32"].toInteger(), s.params * 4);
            for (int bits : {8, 6, 4, 3, 2}) {
                QuantSpec spec;
                spec.bits = bits;
                QCOMPARE(bytes[QString::number(bits)].toInteger(), quantizedBytes(s.shape, spec, s.channelAxis));
            }
            const QJsonArray channels = j["channels"].toArray();
            QCOMPARE(int(channels.size()), int(s.channels.size()));
            for (int c = 0; c < channels.size(); ++c) {
                const QJsonObject ch = channels[c].toObject();
                QCOMPARE(ch["min"].toDouble(), s.channels[size_t(c)].min);
                QCOMPARE(ch["max"].toDouble(), s.channels[size_t(c)].max);
                QCOMPARE(ch["mean"].toDouble(), s.channels[size_t(c)].mean);
                QCOMPARE(ch["std"].toDouble(), s.channels[size_t(c)].std);
                QCOMPARE(ch["abs_max"].toDouble(), s.channels[size_t(c)].absMax);
            }
        }

        // --layer selects one layer; an unknown one is an error that names it.
        const QString name = QString::fromStdString(ours.back().name);
        p.start(QStringLiteral(CW_CWB_PATH), {"stats", "demo", "--json", "--layer", name});
        QVERIFY(p.waitForFinished(120000));
        QCOMPARE(p.exitCode(), 0);
        const QJsonArray one = QJsonDocument::fromJson(p.readAllStandardOutput()).object()["layers"].toArray();
        QCOMPARE(one.size(), 1);
        QCOMPARE(one[0].toObject()["name"].toString(), name);

        p.start(QStringLiteral(CW_CWB_PATH), {"stats", "demo", "--layer", "no_such_layer"});
        QVERIFY(p.waitForFinished(120000));
        QVERIFY(p.exitCode() != 0);
        QVERIFY(QString::fromLocal8Bit(p.readAllStandardError()).contains("no_such_layer"));

        // The table names every layer.
        p.start(QStringLiteral(CW_CWB_PATH), {"stats", "demo"});
        QVERIFY(p.waitForFinished(120000));
        QCOMPARE(p.exitCode(), 0);
        const QString table = QString::fromLocal8Bit(p.readAllStandardOutput());
        for (const LayerStats &s : ours)
            QVERIFY2(table.contains(QString::fromStdString(s.name)), qPrintable(table));
    }
};

QTEST_GUILESS_MAIN(TestStats)
#include "test_stats.moc"
