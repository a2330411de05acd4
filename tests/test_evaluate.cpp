// evaluate() and benchmark() on a hand-built single-Gemm classifier whose logits are known exactly:
// accuracy, top-5 and the cross-entropy loss are computed by hand below; the cancel paths throw
// cw::Cancelled after the first batch / iteration; benchmark percentiles are ordered.
#include <QtTest>

#include <cmath>

#include "core/analysis/evaluate.h"
#include "core/base/error.h"
#include "core/graph/graph.h"
#include "core/io/dataset.h"
#include "core/runtime/session.h"
#include "testutil.h"

using namespace cw;

namespace {

// logits = x · (scale·I)ᵀ + bias: a linear classifier with `classes` inputs and outputs.
Model linearModel(int64_t classes, float scale, float bias, Shape inputShape = {-1, 0})
{
    Model m;
    m.sourcePath = "linear-test";
    if (inputShape.size() == 2 && inputShape[1] == 0)
        inputShape[1] = classes;
    m.graph.inputs.push_back(ValueInfo{"x", DType::Float32, inputShape, true});
    m.graph.outputs.push_back(ValueInfo{"logits", DType::Float32, {-1, classes}, true});
    std::vector<float> w(size_t(classes * classes), 0.f);
    for (int64_t i = 0; i < classes; ++i)
        w[size_t(i * classes + i)] = scale;
    m.graph.initializers["W"] = Tensor::fromFloats({classes, classes}, w);
    m.graph.initializers["B"] = Tensor::fromFloats({classes}, std::vector<float>(size_t(classes), bias));
    Node n;
    n.name = "fc";
    n.opType = "Gemm";
    n.inputs = {"x", "W", "B"};
    n.outputs = {"logits"};
    n.attrs["transB"] = Attribute::makeInt(1);
    m.graph.nodes.push_back(n);
    return m;
}

Dataset dataset(int64_t features, const std::vector<std::vector<float>> &rows, const std::vector<int64_t> &labels)
{
    Dataset d;
    d.name = "hand";
    std::vector<float> flat;
    for (const auto &r : rows)
        flat.insert(flat.end(), r.begin(), r.end());
    d.x = Tensor::fromFloats({int64_t(rows.size()), features}, flat);
    d.labels = labels;
    return d;
}

// The five samples below, through logits = 2x + 0.1 with 6 classes:
//   r0 [2.1, .1, .1, .1, .1, .1]        label 0: rank 0 (top-1, top-5)
//   r1 [.1, 6.1, 2.1, .1, .1, .1]       label 2: rank 1 (top-5 only)
//   r2 [10.1, 8.1, 6.1, 4.1, 2.1, .1]   label 5: rank 5 (neither)
//   r3 [.1, .1, .1, .1, .1, 2.1]        label 5: rank 0 (top-1, top-5)
//   r4 [2.1, 4.1, 6.1, 8.1, 10.1, 12.1] label 1: rank 4 (top-5 only)
// accuracy 2/5, top-5 4/5.
Dataset handDataset()
{
    return dataset(6,
                   {{1, 0, 0, 0, 0, 0}, {0, 3, 1, 0, 0, 0}, {5, 4, 3, 2, 1, 0}, {0, 0, 0, 0, 0, 1}, {1, 2, 3, 4, 5, 6}},
                   {0, 2, 5, 5, 1});
}

// Cross-entropy of softmax, the textbook way (fine for these small logits).
double crossEntropy(const std::vector<double> &logits, int64_t label)
{
    double sum = 0;
    for (double l : logits)
        sum += std::exp(l);
    return std::log(sum) - logits[size_t(label)];
}

double handLoss()
{
    const double l0 = crossEntropy({2.1, .1, .1, .1, .1, .1}, 0);
    const double l1 = crossEntropy({.1, 6.1, 2.1, .1, .1, .1}, 2);
    const double l2 = crossEntropy({10.1, 8.1, 6.1, 4.1, 2.1, .1}, 5);
    const double l3 = crossEntropy({.1, .1, .1, .1, .1, 2.1}, 5);
    const double l4 = crossEntropy({2.1, 4.1, 6.1, 8.1, 10.1, 12.1}, 1);
    return (l0 + l1 + l2 + l3 + l4) / 5;
}

} // namespace

Q_DECLARE_METATYPE(cw::Shape)

class TestEvaluate : public QObject {
    Q_OBJECT

private slots:
    void handComputed_data();
    void handComputed();
    void limit();
    void fewerThanFiveClasses();
    void stableLossForLargeLogits();
    void cancelAfterFirstBatch();
    void badLabelAndMissingLabels();
    void benchmarkPercentiles_data();
    void benchmarkPercentiles();
    void benchmarkCancel();
};

void TestEvaluate::handComputed_data()
{
    QTest::addColumn<qint64>("batchSize");
    QTest::addColumn<int>("expectedCalls");
    QTest::newRow("batch 1") << qint64(1) << 5;
    QTest::newRow("batch 2 (ragged last batch)") << qint64(2) << 3;
    QTest::newRow("batch 5 (one batch)") << qint64(5) << 1;
    QTest::newRow("batch 256 (larger than the data)") << qint64(256) << 1;
}

void TestEvaluate::handComputed()
{
    QFETCH(qint64, batchSize);
    QFETCH(int, expectedCalls);
    const Session session(linearModel(6, 2.f, 0.1f));
    std::vector<double> fractions;
    EvalOptions opt;
    opt.batchSize = batchSize;
    const EvalResult r = evaluate(session, handDataset(), opt, [&](double f, std::string_view stage) {
        fractions.push_back(f);
        QCOMPARE(QString::fromUtf8(stage.data(), int(stage.size())), QStringLiteral("evaluating"));
    });
    QCOMPARE(r.samples, int64_t(5));
    QCOMPARE(r.accuracy, 0.4);
    QCOMPARE(r.top5, 0.8);
    QVERIFY2(std::abs(r.loss - handLoss()) < 1e-5, qPrintable(QStringLiteral("loss %1 vs %2").arg(r.loss).arg(handLoss())));
    QCOMPARE(int(fractions.size()), expectedCalls);
    QCOMPARE(fractions.back(), 1.0);
    for (size_t i = 1; i < fractions.size(); ++i)
        QVERIFY(fractions[i] > fractions[i - 1]);
}

void TestEvaluate::limit()
{
    const Session session(linearModel(6, 2.f, 0.1f));
    EvalOptions opt;
    opt.limit = 2;
    const EvalResult r = evaluate(session, handDataset(), opt);
    QCOMPARE(r.samples, int64_t(2));
    QCOMPARE(r.accuracy, 0.5);
    QCOMPARE(r.top5, 1.0);
    const double expected = (crossEntropy({2.1, .1, .1, .1, .1, .1}, 0) + crossEntropy({.1, 6.1, 2.1, .1, .1, .1}, 2)) / 2;
    QVERIFY(std::abs(r.loss - expected) < 1e-5);
}

void TestEvaluate::fewerThanFiveClasses()
{
    // Three classes: top-5 covers every class, so it is 1 even when top-1 is wrong.
    const Session session(linearModel(3, 1.f, 0.f));
    const Dataset d = dataset(3, {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {3, 2, 1}}, {0, 2, 2, 2});
    const EvalResult r = evaluate(session, d);
    QCOMPARE(r.accuracy, 0.5);
    QCOMPARE(r.top5, 1.0);
    const double expected = (crossEntropy({1, 0, 0}, 0) + crossEntropy({0, 1, 0}, 2) + crossEntropy({0, 0, 1}, 2) +
                             crossEntropy({3, 2, 1}, 2)) /
                            4;
    QVERIFY(std::abs(r.loss - expected) < 1e-6);
}

void TestEvaluate::stableLossForLargeLogits()
{
    // logits [1000, 0, 0]: exp(1000) overflows a double; log-sum-exp gives ~0 for label 0 and ~1000 for label 1.
    const Session session(linearModel(3, 1000.f, 0.f));
    const Dataset d = dataset(3, {{1, 0, 0}, {1, 0, 0}}, {0, 1});
    const EvalResult r = evaluate(session, d);
    QVERIFY(std::isfinite(r.loss));
    QVERIFY2(std::abs(r.loss - 500.0) < 1e-3, qPrintable(QString::number(r.loss)));
    QCOMPARE(r.accuracy, 0.5);
}

void TestEvaluate::cancelAfterFirstBatch()
{
    const Session session(linearModel(6, 2.f, 0.1f));
    StopToken stop;
    int calls = 0;
    EvalOptions opt;
    opt.batchSize = 2;
    bool cancelled = false;
    try {
        evaluate(session, handDataset(), opt, [&](double, std::string_view) {
            ++calls;
            stop.requestStop();
        }, &stop);
    } catch (const Cancelled &) {
        cancelled = true;
    }
    QVERIFY(cancelled);
    QCOMPARE(calls, 1); // the second batch never ran
}

void TestEvaluate::badLabelAndMissingLabels()
{
    const Session session(linearModel(3, 1.f, 0.f));
    Dataset d = dataset(3, {{1, 0, 0}, {0, 1, 0}}, {0, 3});
    try {
        evaluate(session, d);
        QFAIL("label 3 with 3 classes was accepted");
    } catch (const Cancelled &) {
        QFAIL("unexpected Cancelled");
    } catch (const Error &e) {
        const QString msg = e.what();
        QVERIFY2(msg.contains("label 3") && msg.contains("sample 1") && msg.contains("3 outputs"), qPrintable(msg));
    }
    d.labels.clear();
    QVERIFY_THROWS_EXCEPTION(Error, evaluate(session, d));
}

void TestEvaluate::benchmarkPercentiles_data()
{
    QTest::addColumn<qint64>("batch");
    QTest::addColumn<Shape>("inputShape");
    QTest::newRow("dynamic batch, batch 1") << qint64(1) << Shape{-1, 64};
    QTest::newRow("dynamic batch, batch 32") << qint64(32) << Shape{-1, 64};
    QTest::newRow("fixed batch 1 exported, batch 8") << qint64(8) << Shape{1, 64};
}

void TestEvaluate::benchmarkPercentiles()
{
    QFETCH(qint64, batch);
    QFETCH(Shape, inputShape);
    const Model model = linearModel(64, 1.f, 0.f, inputShape);
    BenchOptions opt;
    opt.batch = batch;
    opt.threads = 1;
    opt.iterations = 25;
    opt.warmup = 3;
    int calls = 0;
    int warmCalls = 0;
    const BenchResult r = benchmark(model, opt, [&](double f, std::string_view stage) {
        ++calls;
        if (stage == "warming up")
            ++warmCalls;
        QVERIFY(f > 0 && f <= 1);
    });
    QCOMPARE(calls, 28);
    QCOMPARE(warmCalls, 3);
    QCOMPARE(r.batch, int64_t(batch));
    QCOMPARE(r.threads, 1);
    QCOMPARE(r.iterations, 25);
    QVERIFY(r.minMs > 0);
    QVERIFY(r.minMs <= r.p50Ms);
    QVERIFY(r.p50Ms <= r.p90Ms);
    QVERIFY(r.minMs <= r.meanMs);
    QVERIFY(std::abs(r.throughputPerS - double(batch) * 1000.0 / r.meanMs) < 1e-6 * r.throughputPerS);
    // The graph's own input shape is untouched.
    QCOMPARE(model.graph.inputs[0].shape, inputShape);
}

void TestEvaluate::benchmarkCancel()
{
    BenchOptions opt;
    opt.iterations = 50;
    opt.warmup = 0;
    StopToken stop;
    int calls = 0;
    QVERIFY_THROWS_EXCEPTION(Cancelled, benchmark(linearModel(4, 1.f, 0.f), opt, [&](double, std::string_view) {
        ++calls;
        stop.requestStop();
    }, &stop));
    QCOMPARE(calls, 1);

    Model unknown = linearModel(4, 1.f, 0.f);
    unknown.graph.inputs[0].shapeKnown = false;
    QVERIFY_THROWS_EXCEPTION(Error, benchmark(unknown, BenchOptions{}));
}

QTEST_GUILESS_MAIN(TestEvaluate)
#include "test_evaluate.moc"
