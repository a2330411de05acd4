// Sensitivity analysis on the demo models with a small fixed subset of Fashion-MNIST: reproducible, 2-bit hurts
// each layer at least as much as 8-bit, the cached trials equal full evaluations of the compressed model bit
// for bit (CNN and ResNet, whose residual branches carry values past a layer), Spearman against hand-computed
// ranks with ties, the cancel path, the `cwb sensitivity --json` document, and /analysis in the native .h5.
#include <QtTest>

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <cmath>
#include <limits>

#include "core/analysis/evaluate.h"
#include "core/analysis/fidelity.h"
#include "core/analysis/stats.h"
#include "core/base/error.h"
#include "core/compress/prune.h"
#include "core/compress/sensitivity.h"
#include "core/io/dataset.h"
#include "core/io/model_io.h"
#include "core/quant/quantize.h"
#include "core/runtime/session.h"
#include "testutil.h"

using namespace cw;

namespace {

constexpr int64_t kSamples = 500;

SensitivityOptions smallOptions()
{
    SensitivityOptions o;
    o.pruneRatios = {0.5, 0.9};
    o.bits = {8, 2};
    o.limit = kSamples;
    o.batchSize = 250;
    return o;
}

std::string withoutTime(SensitivityResult r)
{
    r.seconds = 0;
    return sensitivityToJson(r);
}

// Whether two JSON documents agree, numbers within a relative 1e-6: a sweep that feeds cached activations computes
// the layers after them from a plain tensor, and on an AVX2-only AMD EPYC their outputs differ from the full
// network's in the last bits (a different summation order; which kernel choice causes it is not pinned down).
QString jsonMismatch(const QJsonValue &a, const QJsonValue &b, const QString &path = QStringLiteral("$"))
{
    if (a.isDouble() && b.isDouble()) {
        const double x = a.toDouble(), y = b.toDouble();
        if (std::abs(x - y) <= 1e-6 * std::max(std::abs(x), std::abs(y)))
            return {};
        return QStringLiteral("%1: %2 vs %3").arg(path).arg(x, 0, 'g', 17).arg(y, 0, 'g', 17);
    }
    if (a.isObject() && b.isObject()) {
        const QJsonObject x = a.toObject(), y = b.toObject();
        if (x.keys() != y.keys())
            return path + ": different keys";
        for (const QString &k : x.keys())
            if (QString e = jsonMismatch(x[k], y[k], path + "." + k); !e.isEmpty())
                return e;
        return {};
    }
    if (a.isArray() && b.isArray()) {
        const QJsonArray x = a.toArray(), y = b.toArray();
        if (x.size() != y.size())
            return path + ": different lengths";
        for (qsizetype i = 0; i < x.size(); ++i)
            if (QString e = jsonMismatch(x[i], y[i], QStringLiteral("%1[%2]").arg(path).arg(i)); !e.isEmpty())
                return e;
        return {};
    }
    return a == b ? QString() : path + ": differs";
}
QString resultMismatch(const SensitivityResult &a, const SensitivityResult &b)
{
    return jsonMismatch(QJsonDocument::fromJson(QByteArray::fromStdString(withoutTime(a))).object(),
                        QJsonDocument::fromJson(QByteArray::fromStdString(withoutTime(b))).object());
}

} // namespace

class TestSensitivity : public QObject {
    Q_OBJECT

private slots:
    void initTestCase()
    {
        m_model = loadModel("demo");
        m_data = loadDataset("fashion-mnist", {}, kSamples);
        QCOMPARE(m_data.size(), kSamples);
        m_result = analyzeSensitivity(m_model, m_data, smallOptions());
    }

    void layersAreTheWeightedNodes()
    {
        const std::vector<std::string> names = sensitivityLayers(m_model);
        QVERIFY(names.size() >= 2);
        QCOMPARE(m_result.layers.size(), names.size());
        for (size_t i = 0; i < names.size(); ++i) {
            QCOMPARE(m_result.layers[i].name, names[i]);
            QCOMPARE(m_result.layers[i].prune.size(), size_t(2));
            QCOMPARE(m_result.layers[i].bits.size(), size_t(2));
        }
        QCOMPARE(m_result.samples, kSamples);
    }

    void baselineEqualsEvaluate()
    {
        const Session session(m_model);
        EvalOptions eo;
        eo.batchSize = 250;
        eo.limit = kSamples;
        const EvalResult e = evaluate(session, m_data, eo);
        QCOMPARE(m_result.baselineAccuracy, e.accuracy);
        QCOMPARE(m_result.baselineLoss, e.loss);
        QVERIFY(m_result.baselineAccuracy > 0.8);
    }

    void reproducible()
    {
        const SensitivityResult again = analyzeSensitivity(m_model, m_data, smallOptions());
        QCOMPARE(withoutTime(again), withoutTime(m_result));
    }

    void twoBitHurtsAtLeastAsMuchAsEightBit()
    {
        for (const LayerSensitivity &l : m_result.layers) {
            const double drop8 = l.bits[0].drop, drop2 = l.bits[1].drop;
            QVERIFY2(drop2 >= drop8, qPrintable(QStringLiteral("%1: 2-bit drop %2 < 8-bit drop %3")
                                                    .arg(QString::fromStdString(l.name)).arg(drop2).arg(drop8)));
            QVERIFY(l.bits[1].sqnrDb < l.bits[0].sqnrDb);
            QVERIFY(l.bits[1].outputError > l.bits[0].outputError);
            QVERIFY(l.prune[1].sqnrDb < l.prune[0].sqnrDb);
            QCOMPARE(l.bits[0].drop, m_result.baselineAccuracy - l.bits[0].accuracy);
        }
    }

    // Every trial against cw::evaluate of a model whose only change is that layer's compressed weight.
    void cachedTrialEqualsFullEvaluation()
    {
        const SensitivityOptions o = smallOptions();
        const Session baseSession(m_model);
        const Graph &g = baseSession.model().graph;
        EvalOptions eo;
        eo.batchSize = o.batchSize;
        eo.limit = kSamples;
        for (const LayerSensitivity &l : m_result.layers) {
            const Node *node = g.findNode(l.name);
            QVERIFY(node);
            const Tensor &w = g.initializers.at(l.weight);
            for (size_t s = 0; s < o.pruneRatios.size() + o.bits.size(); ++s) {
                Tensor compressed;
                const SensitivityTrial *trial = nullptr;
                if (s < o.pruneRatios.size()) {
                    compressed = pruneMagnitude(w, o.pruneRatios[s]);
                    trial = &l.prune[s];
                } else {
                    QuantSpec spec;
                    spec.bits = o.bits[s - o.pruneRatios.size()];
                    compressed = fakeQuantize(w, spec, outputChannelAxis(*node, w.shape())).dequantized;
                    trial = &l.bits[s - o.pruneRatios.size()];
                }
                Model variant = m_model;
                variant.graph.initializers[l.weight] = compressed;
                const EvalResult e = evaluate(Session(variant), m_data, eo);
                QCOMPARE(trial->accuracy, e.accuracy);
                QCOMPARE(trial->loss, e.loss);
            }
        }
    }

    // Data without labels: each trial's output SQNR is that of cw::measureFidelity between the base and a model
    // whose only change is that layer's compressed weight (whole-network runs, the fidelity accumulator), and its
    // drop is the relative noise power behind it. Cached and uncached sweeps agree; JSON round-trips.
    void fidelityOnUnlabelledData()
    {
        Dataset unlabelled = m_data;
        unlabelled.labels.clear();
        SensitivityOptions o = smallOptions();
        o.limit = 200;
        o.batchSize = 100;
        const SensitivityResult r = analyzeSensitivity(m_model, unlabelled, o);
        QCOMPARE(r.metric, SensitivityMetric::Fidelity);
        QVERIFY(std::isnan(r.baselineAccuracy));
        QCOMPARE(r.samples, int64_t(200));
        const Graph &g = m_model.graph;
        FidelityOptions fo;
        fo.batchSize = o.batchSize;
        fo.limit = o.limit;
        for (const LayerSensitivity &l : r.layers) {
            const Node *node = g.findNode(l.name);
            QVERIFY(node);
            const Tensor &w = g.initializers.at(l.weight);
            for (size_t s = 0; s < o.pruneRatios.size() + o.bits.size(); ++s) {
                const bool prune = s < o.pruneRatios.size();
                const SensitivityTrial &t = prune ? l.prune[s] : l.bits[s - o.pruneRatios.size()];
                QuantSpec spec;
                if (!prune)
                    spec.bits = o.bits[s - o.pruneRatios.size()];
                Model variant = m_model;
                variant.graph.initializers[l.weight] =
                    prune ? pruneMagnitude(w, o.pruneRatios[s])
                          : fakeQuantize(w, spec, outputChannelAxis(*node, w.shape())).dequantized;
                const OutputFidelity f = measureFidelity(Session(m_model), Session(variant), unlabelled, fo).front();
                QVERIFY2(std::abs(t.outputSqnrDb - f.sqnrDb) < 1e-4, // cached activations (jsonMismatch)
                         qPrintable(QStringLiteral("%1 setting %2: %3 dB vs %4 dB").arg(QString::fromStdString(l.name))
                                        .arg(s).arg(t.outputSqnrDb).arg(f.sqnrDb)));
                QVERIFY(std::abs(t.drop - std::pow(10.0, -t.outputSqnrDb / 10)) < 1e-9 * std::max(1.0, t.drop));
                QVERIFY(std::isnan(t.accuracy));
            }
            QVERIFY(l.bits[1].drop > l.bits[0].drop); // 2-bit is noisier than 8-bit
        }
        o.cacheActivations = false;
        const SensitivityResult full = analyzeSensitivity(m_model, unlabelled, o);
        const QString e = resultMismatch(full, r);
        QVERIFY2(e.isEmpty(), qPrintable(e));
        QCOMPARE(withoutTime(sensitivityFromJson(sensitivityToJson(r))), withoutTime(r));
    }

    // The metric can be chosen: fidelity on labelled data measures the same as on the data without its labels;
    // accuracy needs labels.
    void metricChoice()
    {
        SensitivityOptions o = smallOptions();
        o.limit = 100;
        o.batchSize = 50;
        o.pruneRatios = {0.5};
        o.bits = {};
        o.metric = SensitivityMetric::Fidelity;
        const SensitivityResult labelled = analyzeSensitivity(m_model, m_data, o);
        Dataset unlabelled = m_data;
        unlabelled.labels.clear();
        o.metric = SensitivityMetric::Auto;
        const SensitivityResult automatic = analyzeSensitivity(m_model, unlabelled, o);
        QCOMPARE(labelled.metric, SensitivityMetric::Fidelity);
        QCOMPARE(withoutTime(labelled), withoutTime(automatic));
        o.metric = SensitivityMetric::Accuracy;
        QVERIFY_THROWS_EXCEPTION(Error, analyzeSensitivity(m_model, unlabelled, o));
        QCOMPARE(parseSensitivityMetric("fidelity"), SensitivityMetric::Fidelity);
        QVERIFY_THROWS_EXCEPTION(Error, parseSensitivityMetric("loss"));
    }

    void cachedEqualsUncached_data()
    {
        QTest::addColumn<QString>("model");
        QTest::newRow("cnn") << "demo";
        QTest::newRow("resnet (values carried past layers)") << "demo-resnet";
    }
    void cachedEqualsUncached()
    {
        QFETCH(QString, model);
        const Model m = loadModel(model.toStdString());
        SensitivityOptions o;
        o.pruneRatios = {0.7};
        o.bits = {3};
        o.limit = 200;
        o.batchSize = 100;
        const SensitivityResult cached = analyzeSensitivity(m, m_data, o);
        o.cacheActivations = false;
        const SensitivityResult full = analyzeSensitivity(m, m_data, o);
        const QString e = resultMismatch(cached, full);
        QVERIFY2(e.isEmpty(), qPrintable(e));
        QVERIFY(cached.layers.size() >= 2);
    }

    // The mechanism behind caching: a value given as an extra feed is used as is (the nodes before it do not
    // run), so feeding batch B's activation with batch A's input gives batch B's logits.
    void sessionUsesFedIntermediates()
    {
        const Session session(m_model);
        const Graph &g = session.model().graph;
        const std::string in = g.inputs.front().name, out = g.outputs.front().name;
        const std::string mid = g.findNode("fc1")->inputs.front();
        const Tensor a = m_data.batch(0, 8), b = m_data.batch(8, 8);
        const Tensor midB = session.run({{in, b}}, {mid}).at(mid);
        const Tensor expected = session.run({{in, b}}, {out}).at(out);
        const Tensor mixed = session.run({{in, a}, {mid, midB}}, {out}).at(out);
        QCOMPARE(testutil::mismatch(mixed, expected, 1e-5, 1e-6), QString()); // the last bits may differ (jsonMismatch)
        QVERIFY(!testutil::mismatch(session.run({{in, a}}, {out}).at(out), expected, 0, 0).isEmpty());
    }

    void spearmanHandComputed_data()
    {
        QTest::addColumn<QVector<double>>("a");
        QTest::addColumn<QVector<double>>("b");
        QTest::addColumn<double>("expected");
        QTest::newRow("monotone") << QVector<double>{1, 2, 3, 4} << QVector<double>{10, 40, 50, 90} << 1.0;
        QTest::newRow("reversed") << QVector<double>{1, 2, 3, 4} << QVector<double>{9, 3, 2, 1} << -1.0;
        // ranks a: 1, 2.5, 2.5, 4; b: 1, 2, 3.5, 3.5; r = 3.75 / sqrt(4.5 * 4.5)
        QTest::newRow("ties in both") << QVector<double>{1, 2, 2, 3} << QVector<double>{10, 20, 30, 30} << 3.75 / 4.5;
        // ranks a: 1 2 3 4 5; b: 2 1 4 3 5 -> 1 - 6*4/(5*24) = 0.8
        QTest::newRow("no ties") << QVector<double>{1, 2, 3, 4, 5} << QVector<double>{2, 1, 4, 3, 5} << 0.8;
        const double nan = std::numeric_limits<double>::quiet_NaN();
        QTest::newRow("NaN pair left out") << QVector<double>{1, nan, 2, 3} << QVector<double>{1, 5, 2, 3} << 1.0;
        QTest::newRow("minus infinity ranks lowest") << QVector<double>{-INFINITY, 1, 2} << QVector<double>{0, 1, 2} << 1.0;
        QTest::newRow("constant column") << QVector<double>{1, 1, 1} << QVector<double>{1, 2, 3} << nan;
        QTest::newRow("single pair") << QVector<double>{1} << QVector<double>{2} << nan;
    }
    void spearmanHandComputed()
    {
        QFETCH(QVector<double>, a);
        QFETCH(QVector<double>, b);
        QFETCH(double, expected);
        const double r = spearman(std::vector<double>(a.begin(), a.end()), std::vector<double>(b.begin(), b.end()));
        if (std::isnan(expected))
            QVERIFY(std::isnan(r));
        else
            QVERIFY2(std::abs(r - expected) < 1e-12, qPrintable(QStringLiteral("r = %1, expected %2").arg(r).arg(expected)));
    }

    void spearmanOfTheSweep()
    {
        // Pruning more removes more signal: the SQNR proxy orders the demo's pruning trials mostly right.
        QVERIFY(m_result.spearmanPrune.sqnr > 0.3);
        SensitivityResult copy = m_result;
        computeSpearman(copy);
        QCOMPARE(copy.spearmanBits.outputError, m_result.spearmanBits.outputError);
    }

    void cancelThrowsAndReturnsNothing()
    {
        StopToken stop;
        int layersSeen = 0;
        bool returned = false;
        try {
            analyzeSensitivity(m_model, m_data, smallOptions(), {}, &stop, [&](const LayerSensitivity &) {
                ++layersSeen;
                stop.requestStop();
            });
            returned = true;
        } catch (const Cancelled &) {
        }
        QVERIFY(!returned);
        QCOMPARE(layersSeen, 1);
    }

    void badOptions_data()
    {
        QTest::addColumn<QString>("what");
        QTest::newRow("ratio 1") << "ratio";
        QTest::newRow("1 bit") << "bits";
        QTest::newRow("unknown layer") << "layer";
        QTest::newRow("nothing to try") << "empty";
    }
    void badOptions()
    {
        QFETCH(QString, what);
        SensitivityOptions o = smallOptions();
        if (what == "ratio")
            o.pruneRatios = {1.0};
        else if (what == "bits")
            o.bits = {1};
        else if (what == "layer")
            o.layers = {"no-such-layer"};
        else
            o.pruneRatios.clear(), o.bits.clear();
        QVERIFY_THROWS_EXCEPTION(cw::Error, analyzeSensitivity(m_model, m_data, o));
    }

    void jsonRoundTrip()
    {
        const std::string text = sensitivityToJson(m_result);
        const SensitivityResult back = sensitivityFromJson(text);
        QCOMPARE(sensitivityToJson(back), text);
        QVERIFY_THROWS_EXCEPTION(cw::Error, sensitivityFromJson("{\"layers\": 3}"));
    }

    void h5RoundTripOfAnalysis()
    {
        QTemporaryDir dir;
        Model m = m_model;
        m.analysis[kSensitivityKey] = sensitivityToJson(m_result);
        m.analysis["odd/name%"] = "";
        const std::string h5 = dir.filePath("m.h5").toStdString();
        saveModel(m, h5);
        const Model back = loadModel(h5);
        QCOMPARE(back.analysis, m.analysis);
        // Without results there is no /analysis and nothing comes back; ONNX drops them.
        saveModel(m_model, dir.filePath("plain.h5").toStdString());
        QVERIFY(loadModel(dir.filePath("plain.h5").toStdString()).analysis.empty());
        saveModel(m, dir.filePath("m.onnx").toStdString());
        QVERIFY(loadModel(dir.filePath("m.onnx").toStdString()).analysis.empty());
    }

    void cliJson()
    {
        QTemporaryDir dir;
        const QString out = dir.filePath("with-results.h5");
        QString error;
        const QByteArray stdoutBytes =
            testutil::runProcess(QStringLiteral(CW_CWB_PATH),
                                 {"sensitivity", "demo", "--data", "fashion-mnist", "--limit", "300", "--prune", "0.5,0.9",
                                  "--bits", "8,2", "--json", "-o", out},
                                 &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        const QJsonObject doc = QJsonDocument::fromJson(stdoutBytes).object();
        QVERIFY(doc.contains("baseline"));
        QVERIFY(doc["baseline"].toObject().contains("accuracy"));
        QVERIFY(doc["baseline"].toObject().contains("loss"));
        const QJsonArray layers = doc["layers"].toArray();
        QCOMPARE(layers.size(), qsizetype(sensitivityLayers(m_model).size()));
        for (const QJsonValue &v : layers) {
            const QJsonObject l = v.toObject();
            QVERIFY(!l["name"].toString().isEmpty());
            QCOMPARE(l["prune"].toObject().keys(), (QStringList{"0.5", "0.9"}));
            QCOMPARE(l["bits"].toObject().keys(), (QStringList{"2", "8"}));
            for (const QString kind : {"prune", "bits"})
                for (const QJsonValue &t : l[kind].toObject()) {
                    QVERIFY(t.toObject()["accuracy"].isDouble());
                    QVERIFY(t.toObject()["drop"].isDouble());
                    QVERIFY(t.toObject()["loss"].isDouble());
                }
            const QJsonObject proxy = l["proxy"].toObject();
            QVERIFY(proxy["prune"].toObject()["0.9"].toObject()["sqnr_db"].isDouble());
            QVERIFY(proxy["bits"].toObject()["2"].toObject()["output_error"].isDouble());
        }
        const QJsonObject sp = doc["spearman"].toObject();
        QVERIFY(sp["prune"].toObject().contains("sqnr"));
        QVERIFY(sp["prune"].toObject().contains("output_error"));
        QVERIFY(sp["bits"].toObject().contains("sqnr"));
        // -o keeps the same document with the model.
        const Model saved = loadModel(out.toStdString());
        QVERIFY(saved.analysis.count(kSensitivityKey));
        QCOMPARE(QJsonDocument::fromJson(QByteArray::fromStdString(saved.analysis.at(kSensitivityKey))).object()["layers"],
                 doc["layers"]);
    }

private:
    Model m_model;
    Dataset m_data;
    SensitivityResult m_result;
};

QTEST_GUILESS_MAIN(TestSensitivity)
#include "test_sensitivity.moc"
