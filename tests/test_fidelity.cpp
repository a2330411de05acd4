// Fidelity of a variant against its base (core/analysis/fidelity.h): hand-computed values, the same figures
// from numpy on random tensors, batching that does not change the result, and the wiring over a dataset.
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <limits>

#include "core/analysis/fidelity.h"
#include "core/base/error.h"
#include "core/compress/prune.h"
#include "core/io/dataset.h"
#include "core/io/model_io.h"
#include "testutil.h"

using namespace cw;

Q_DECLARE_METATYPE(cw::Tensor)

class TestFidelity : public QObject {
    Q_OBJECT

private slots:
    void handComputed_data();
    void handComputed();
    void matchesNumpy();
    void batchingDoesNotMatter();
    void shapeMismatchNamesTheOutput();
    void overADataset();
    void jsonRoundTrip();
};

void TestFidelity::handComputed_data()
{
    QTest::addColumn<Tensor>("base");
    QTest::addColumn<Tensor>("variant");
    QTest::addColumn<double>("sqnr");
    QTest::addColumn<double>("cosine");
    QTest::addColumn<double>("maxAbs");
    QTest::addColumn<double>("top1");
    const Tensor base = Tensor::fromFloats({2, 2}, {1, 2, 3, 4});
    // signal 30, noise 1, dot 34, variant energy 39.
    QTest::newRow("one element off by one") << base << Tensor::fromFloats({2, 2}, {1, 2, 3, 5}) << 10 * std::log10(30.0)
                                            << 34 / std::sqrt(30.0 * 39.0) << 1.0 << 1.0;
    // Row 0's argmax moves from column 1 to 0: half the rows agree. noise 2, dot 29, variant energy 30.
    QTest::newRow("argmax flips in one row") << base << Tensor::fromFloats({2, 2}, {2, 1, 3, 4}) << 10 * std::log10(15.0)
                                             << 29 / 30.0 << 1.0 << 0.5;
    QTest::newRow("identical") << base << base << std::numeric_limits<double>::infinity() << 1.0 << 0.0 << 1.0;
    // Not a class distribution per row: top-1 is not defined (-1).
    QTest::newRow("1-D output") << Tensor::fromFloats({3}, {1, -1, 2}) << Tensor::fromFloats({3}, {1, -1, 1})
                                << 10 * std::log10(6.0) << 4 / std::sqrt(6.0 * 3.0) << 1.0 << -1.0;
}

void TestFidelity::handComputed()
{
    QFETCH(Tensor, base);
    QFETCH(Tensor, variant);
    QFETCH(double, sqnr);
    QFETCH(double, cosine);
    QFETCH(double, maxAbs);
    QFETCH(double, top1);
    FidelityAccumulator acc;
    acc.add("y", base, variant);
    const OutputFidelity f = acc.results().at(0);
    QCOMPARE(f.name, std::string("y"));
    if (std::isinf(sqnr))
        QVERIFY(std::isinf(f.sqnrDb) && f.sqnrDb > 0);
    else
        QVERIFY(std::abs(f.sqnrDb - sqnr) < 1e-9);
    QVERIFY(std::abs(f.cosine - cosine) < 1e-12);
    QCOMPARE(f.maxAbsError, maxAbs);
    QCOMPARE(f.top1Agreement, top1);
    QCOMPARE(f.elements, base.numel());
}

// The same four figures computed by numpy (float64) on random tensors written to .npy.
void TestFidelity::matchesNumpy()
{
    QTemporaryDir dir;
    const Tensor a = testutil::randomTensor({50, 10}, 3), noise = testutil::randomTensor({50, 10}, 4, -0.1f, 0.1f);
    Tensor b = a.clone();
    for (int64_t i = 0; i < b.numel(); ++i)
        b.f32()[i] += noise.f32()[i];
    writeNpy(a, dir.filePath("a.npy").toStdString());
    writeNpy(b, dir.filePath("b.npy").toStdString());
    QString error;
    const QByteArray out = testutil::runProcess(
        testutil::python(),
        {"-c", "import numpy as np\n"
               "a = np.load('a.npy').astype(np.float64); b = np.load('b.npy').astype(np.float64)\n"
               "sqnr = 10 * np.log10((a * a).sum() / ((a - b) ** 2).sum())\n"
               "cos = (a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())\n"
               "top1 = (a.argmax(1) == b.argmax(1)).mean()\n"
               "print(repr(sqnr), repr(cos), repr(np.abs(a - b).max()), repr(top1))\n"},
        &error, 60000, dir.path());
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const QStringList v = QString::fromLatin1(out).trimmed().split(' ');
    QCOMPARE(v.size(), 4);
    FidelityAccumulator acc;
    acc.add("logits", a, b);
    const OutputFidelity f = acc.results().at(0);
    QVERIFY2(std::abs(f.sqnrDb - v[0].toDouble()) < 1e-9, qPrintable(QString::number(f.sqnrDb)));
    QVERIFY(std::abs(f.cosine - v[1].toDouble()) < 1e-12);
    QVERIFY(std::abs(f.maxAbsError - v[2].toDouble()) < 1e-12);
    QCOMPARE(f.top1Agreement, v[3].toDouble());
}

void TestFidelity::batchingDoesNotMatter()
{
    const Tensor a = testutil::randomTensor({40, 6}, 7), b = testutil::randomTensor({40, 6}, 8);
    FidelityAccumulator whole, parts;
    whole.add("y", a, b);
    for (int64_t begin = 0; begin < 40; begin += 15) {
        const int64_t n = std::min<int64_t>(15, 40 - begin);
        Tensor pa(DType::Float32, {n, 6}), pb(DType::Float32, {n, 6});
        std::copy(a.f32() + begin * 6, a.f32() + (begin + n) * 6, pa.f32());
        std::copy(b.f32() + begin * 6, b.f32() + (begin + n) * 6, pb.f32());
        parts.add("y", pa, pb);
    }
    const OutputFidelity x = whole.results().at(0), y = parts.results().at(0);
    QVERIFY(std::abs(x.sqnrDb - y.sqnrDb) < 1e-9);
    QVERIFY(std::abs(x.cosine - y.cosine) < 1e-12);
    QCOMPARE(x.maxAbsError, y.maxAbsError);
    QCOMPARE(x.top1Agreement, y.top1Agreement);
}

void TestFidelity::shapeMismatchNamesTheOutput()
{
    FidelityAccumulator acc;
    QString message;
    try {
        acc.add("scores", Tensor(DType::Float32, {2, 3}), Tensor(DType::Float32, {2, 4}));
    } catch (const Error &e) {
        message = e.what();
    }
    QCOMPARE(message, QStringLiteral("output 'scores': the variant gives shape [2, 4], the base [2, 3]"));
}

// The demo against itself is exact; against a copy with half of fc1 pruned it is close but not exact, and
// the figures barely depend on the batch size (the models' own float rounding changes with it).
void TestFidelity::overADataset()
{
    const Model base = loadModel("demo");
    Model pruned = base.deepCopy();
    const std::string w = layerWeight(pruned.graph, *pruned.graph.findNode("fc1"));
    pruned.graph.initializers[w] = pruneMagnitude(pruned.graph.initializers.at(w), 0.5);
    const Dataset data = loadDataset("fashion-mnist", {}, 200);
    const Session a(base), b(pruned);
    const OutputFidelity same = measureFidelity(a, a, data).at(0);
    QVERIFY(std::isinf(same.sqnrDb));
    QCOMPARE(same.top1Agreement, 1.0);
    QCOMPARE(same.elements, int64_t(200 * 10));
    FidelityOptions small;
    small.batchSize = 7;
    const OutputFidelity f = measureFidelity(a, b, data).at(0), g = measureFidelity(a, b, data, small).at(0);
    QVERIFY2(f.sqnrDb > 10 && f.sqnrDb < 80, qPrintable(QString::number(f.sqnrDb)));
    QVERIFY(f.cosine > 0.9 && f.cosine < 1.0);
    QVERIFY(f.top1Agreement > 0.8 && f.top1Agreement <= 1.0);
    QVERIFY(std::abs(f.sqnrDb - g.sqnrDb) < 0.05);
    QCOMPARE(f.top1Agreement, g.top1Agreement);
}

// Infinite SQNR and an undefined top-1 survive the JSON a saved variant carries.
void TestFidelity::jsonRoundTrip()
{
    OutputFidelity exact{"logits", std::numeric_limits<double>::infinity(), 1.0, 0.0, 1.0, 20};
    OutputFidelity state{"state", 41.5, 0.9999, 0.003, -1.0, 256};
    const std::vector<OutputFidelity> back = fidelityFromJson(fidelityToJson({exact, state}));
    QCOMPARE(int(back.size()), 2);
    QCOMPARE(back[0].name, std::string("logits"));
    QVERIFY(std::isinf(back[0].sqnrDb) && back[0].sqnrDb > 0);
    QCOMPARE(back[0].top1Agreement, 1.0);
    QCOMPARE(back[1].sqnrDb, 41.5);
    QCOMPARE(back[1].cosine, 0.9999);
    QCOMPARE(back[1].maxAbsError, 0.003);
    QCOMPARE(back[1].top1Agreement, -1.0);
    QCOMPARE(back[1].elements, int64_t(256));
}

QTEST_GUILESS_MAIN(TestFidelity)
#include "test_fidelity.moc"
