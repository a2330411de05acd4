// evaluate() and benchmark() on a hand-built single-Gemm classifier whose logits are known exactly:
// accuracy, top-5 and the cross-entropy loss are computed by hand below; the cancel paths throw
// cw::Cancelled after the first batch / iteration; benchmark percentiles are ordered. The feeds (feeds.h) of
// models with several inputs and symbolic dimensions: shapes resolved across inputs, data per dtype, errors.
#include <QtTest>

#include <QTemporaryDir>

#include <cmath>
#include <cstring>
#include <set>

#include "core/analysis/evaluate.h"
#include "core/analysis/feeds.h"
#include "core/base/error.h"
#include "core/graph/graph.h"
#include "core/io/dataset.h"
#include "core/io/model_io.h"
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

// Graph inputs from text: "input:float32[batch,sequence]; sr:int64[]; h:float32[2,batch,64]"; a dimension is a
// number, a symbol, or "_" (unnamed); "x:float32?" has an unknown shape.
Graph inputsGraph(const QString &spec)
{
    Graph g;
    for (const QString &item : spec.split(';', Qt::SkipEmptyParts)) {
        const QString text = item.trimmed();
        const qsizetype colon = text.indexOf(':'), bracket = text.indexOf('[');
        ValueInfo v;
        v.name = text.left(colon).toStdString();
        const QString dtype = text.mid(colon + 1, (bracket < 0 ? text.indexOf('?') : bracket) - colon - 1);
        if (!dtypeFromName(dtype.toStdString(), &v.dtype))
            qFatal("bad dtype %s", qPrintable(dtype));
        v.shapeKnown = bracket >= 0;
        if (v.shapeKnown) {
            const QString dims = text.mid(bracket + 1, text.indexOf(']') - bracket - 1);
            for (const QString &d : dims.split(',', Qt::SkipEmptyParts)) {
                bool isNumber = false;
                const qlonglong n = d.trimmed().toLongLong(&isNumber);
                v.shape.push_back(isNumber ? n : -1);
                v.dimNames.push_back(isNumber || d.trimmed() == "_" ? std::string() : d.trimmed().toStdString());
            }
        }
        g.inputs.push_back(v);
    }
    return g;
}

// "a=1,2; b=3" -> {a: [1, 2], b: [3]}; "s=" is a scalar's shape.
std::map<std::string, Shape> shapesFrom(const QString &spec)
{
    std::map<std::string, Shape> shapes;
    for (const QString &item : spec.split(';', Qt::SkipEmptyParts)) {
        const QStringList kv = item.trimmed().split('=');
        Shape &shape = shapes[kv[0].toStdString()];
        for (const QString &d : kv.value(1).split(',', Qt::SkipEmptyParts))
            shape.push_back(d.toLongLong());
    }
    return shapes;
}

const char *sourceName(FeedSource s)
{
    return s == FeedSource::Given ? "given" : s == FeedSource::Value ? "value" : "random";
}

const QString kSilero = QStringLiteral("input:float32[batch,sequence]; sr:int64[]; h:float32[2,batch,64]; "
                                       "c:float32[2,batch,64]");

// out1 = x + y [batch, n], out2 = x * y; k (an int64 scalar) is fed but unused: two outputs, three inputs.
Model twoOutputModel()
{
    Model m;
    m.sourcePath = "two-output-test";
    m.graph = inputsGraph("x:float32[batch,n]; y:float32[batch,n]; k:int64[]");
    m.graph.outputs = {ValueInfo{"sum", DType::Float32, {-1, -1}, true, {"batch", "n"}},
                       ValueInfo{"product", DType::Float32, {-1, -1}, true, {"batch", "n"}}};
    Node add;
    add.name = "add";
    add.opType = "Add";
    add.inputs = {"x", "y"};
    add.outputs = {"sum"};
    Node mul = add;
    mul.name = "mul";
    mul.opType = "Mul";
    mul.outputs = {"product"};
    m.graph.nodes = {add, mul};
    return m;
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
    void memoryMeasured();
    void feedPlans_data();
    void feedPlans();
    void symbolSizesFromShapes_data();
    void symbolSizesFromShapes();
    void sameSizeSymbolsAreSized();
    void firstInputShapeSized_data();
    void firstInputShapeSized();
    void unsizedSymbolsFound_data();
    void unsizedSymbolsFound();
    void feedData_data();
    void feedData();
    void benchmarkSeveralInputs();
    void benchmarkProfile_data();
    void benchmarkProfile();
    void evaluateWithExtraInput();
    void conformBatchToInput_data();
    void conformBatchToInput();
    void dataOfAnotherShapeNamed();
    void fixedBatchModelEvaluatedOneByOne();
    void sampleShapeForLatency();
    void peakRssInOwnProcess();
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


// planFeeds: the concrete shape and source of every input, or the error. Rows: the graph's inputs (see
// inputsGraph), given tensors (by shape), values, explicit shapes, the batch; the expected plan as
// "name [shape] source" joined by "; " and the batch, or a piece of the error message.
void TestEvaluate::feedPlans_data()
{
    QTest::addColumn<QString>("inputs");
    QTest::addColumn<QString>("given");
    QTest::addColumn<QString>("values");
    QTest::addColumn<QString>("shapes");
    QTest::addColumn<qint64>("batch");
    QTest::addColumn<QString>("expected");
    QTest::addColumn<qint64>("expectedBatch");

    const QString silero = kSilero;
    QTest::newRow("symbols shared across inputs, batch requested")
        << silero << "" << "" << "sequence=512" << qint64(4)
        << "input [4, 512] random; sr [] random; h [2, 4, 64] random; c [2, 4, 64] random" << qint64(4);
    QTest::newRow("batch symbol defaults to 1")
        << silero << "" << "" << "sequence=512" << qint64(0)
        << "input [1, 512] random; sr [] random; h [2, 1, 64] random; c [2, 1, 64] random" << qint64(1);
    QTest::newRow("given data fixes the symbols of the others")
        << silero << "input=3,256" << "" << "" << qint64(0)
        << "input [3, 256] given; sr [] random; h [2, 3, 64] random; c [2, 3, 64] random" << qint64(3);
    QTest::newRow("explicit input shape fixes the symbols of the others")
        << silero << "" << "" << "input=2,100" << qint64(0)
        << "input [2, 100] random; sr [] random; h [2, 2, 64] random; c [2, 2, 64] random" << qint64(2);
    QTest::newRow("a state's explicit shape fixes the batch")
        << silero << "" << "" << "h=2,5,64; sequence=10" << qint64(0)
        << "input [5, 10] random; sr [] random; h [2, 5, 64] random; c [2, 5, 64] random" << qint64(5);
    QTest::newRow("explicit shape agreeing with the batch")
        << silero << "" << "" << "input=6,10" << qint64(6)
        << "input [6, 10] random; sr [] random; h [2, 6, 64] random; c [2, 6, 64] random" << qint64(6);
    QTest::newRow("values keep the resolved shape")
        << silero << "" << "sr=16000; h=0" << "sequence=512" << qint64(2)
        << "input [2, 512] random; sr [] value; h [2, 2, 64] value; c [2, 2, 64] random" << qint64(2);
    QTest::newRow("fixed shapes only") << "x:float32[1,3,8,8]" << "" << "" << "" << qint64(0) << "x [1, 3, 8, 8] random"
                                       << qint64(1);
    QTest::newRow("fixed shape at the batch it declares") << "x:float32[2,3]" << "" << "" << "" << qint64(2)
                                                          << "x [2, 3] random" << qint64(2);
    QTest::newRow("unnamed dimensions: leading N, others <input>_dim<k>")
        << "x:float32[_,4]; y:float16[_,_]" << "" << "" << "y_dim1=7" << qint64(3) << "x [3, 4] random; y [3, 7] random"
        << qint64(3);
    QTest::newRow("batch symbol from the first input with a dynamic leading dimension")
        << "k:int64[]; x:float32[b,3]" << "" << "" << "" << qint64(5) << "k [] random; x [5, 3] random" << qint64(5);
    QTest::newRow("undeclared shape given explicitly") << "x:float32?" << "" << "" << "x=2,2" << qint64(0)
                                                       << "x [2, 2] random" << qint64(2);
    QTest::newRow("given data of another rank binds nothing")
        << "x:float32[n,4]; y:float32[n]" << "x=3,2,2" << "" << "n=5" << qint64(0) << "x [3, 2, 2] given; y [5] random"
        << qint64(5);

    const QString twoNames = "input:float32[N,s]; state:float32[2,d,128]"; // silero-vad's batch under two names
    QTest::newRow("a symbol of the batch's size") << twoNames << "" << "" << "s=512; d=N" << qint64(3)
                                                  << "input [3, 512] random; state [2, 3, 128] random" << qint64(3);
    QTest::newRow("a symbol of the batch's size follows the data")
        << twoNames << "input=4,512" << "" << "d=N" << qint64(0) << "input [4, 512] given; state [2, 4, 128] random"
        << qint64(4);
    QTest::newRow("a sized symbol sizes the batch") << twoNames << "" << "" << "s=5; state=2,3,128; d=N" << qint64(0)
                                                    << "input [3, 5] random; state [2, 3, 128] random" << qint64(3);
    QTest::newRow("error: symbols of one size disagree")
        << twoNames << "input=4,5" << "" << "state=2,3,128; d=N" << qint64(0)
        << "error: dimension 'd' is 3 by the shape given for input 'state' [2, 3, 128] but 4 by 'N'" << qint64(0);
    QTest::newRow("error: the size of no symbol") << twoNames << "" << "" << "s=5; d=M" << qint64(0)
                                                  << "error: 'd' is given the size of 'M', but 'M' is not a dimension "
                                                     "symbol of a graph input (N, s, d)"
                                                  << qint64(0);
    QTest::newRow("error: symbol without a size")
        << silero << "" << "" << "" << qint64(1) << "error: graph input 'input' [batch, sequence] has no size for its "
                                                    "dimension 'sequence': give --shape sequence=SIZE (or the whole "
                                                    "shape: --shape input=1,SIZE)"
        << qint64(0);
    QTest::newRow("error: given data contradicts the batch")
        << silero << "input=3,512" << "" << "" << qint64(4)
        << "error: dimension 'batch' is 3 by the data given for input 'input' [3, 512] but 4 by the batch size"
        << qint64(0);
    QTest::newRow("error: two inputs disagree on a symbol")
        << silero << "input=3,512" << "" << "c=2,4,64" << qint64(0)
        << "error: dimension 'batch' is 3 by the data given for input 'input' [3, 512] but 4 by the shape given for "
           "input 'c' [2, 4, 64]"
        << qint64(0);
    QTest::newRow("error: explicit shape contradicts a fixed dimension")
        << silero << "" << "" << "h=2,1,32" << qint64(0)
        << "error: shape [2, 1, 32] given for graph input 'h' does not fit its declared shape [2, batch, 64]"
        << qint64(0);
    QTest::newRow("error: explicit shape of another rank")
        << silero << "" << "" << "input=512" << qint64(0) << "error: does not fit its declared shape [batch, sequence]"
        << qint64(0);
    QTest::newRow("error: neither an input nor a symbol")
        << silero << "" << "" << "length=5" << qint64(0)
        << "error: 'length', which is neither a graph input (input, sr, h, c) nor a dimension symbol of one (batch, "
           "sequence)"
        << qint64(0);
    QTest::newRow("error: a symbol takes one size") << silero << "" << "" << "sequence=1,2" << qint64(0)
                                                    << "error: 'sequence' is a dimension symbol: give it one size"
                                                    << qint64(0);
    QTest::newRow("error: value for an unknown input") << silero << "" << "rate=16000" << "sequence=1" << qint64(0)
                                                       << "error: 'rate', which is not a graph input" << qint64(0);
    QTest::newRow("error: data and a value for one input") << silero << "input=1,2" << "input=0" << "" << qint64(0)
                                                           << "error: given both data and a value" << qint64(0);
    QTest::newRow("error: value outside an integer dtype") << "m:uint8[4]" << "" << "m=300" << "" << qint64(0)
                                                           << "error: does not fit its dtype uint8" << qint64(0);
    QTest::newRow("error: undeclared shape") << "x:float32?" << "" << "" << "" << qint64(0)
                                             << "error: the shape of graph input 'x' is not declared in the model: "
                                                "give it with --shape x=d0,d1,..."
                                             << qint64(0);
    QTest::newRow("error: batch without a dynamic dimension")
        << "x:float32[1,3]" << "" << "" << "" << qint64(4)
        << "error: batch size 4 requested, but no graph input has a dynamic leading dimension (the first, 'x', is "
           "[1, 3])"
        << qint64(0);
}

void TestEvaluate::feedPlans()
{
    QFETCH(QString, inputs);
    QFETCH(QString, given);
    QFETCH(QString, values);
    QFETCH(QString, shapes);
    QFETCH(qint64, batch);
    QFETCH(QString, expected);
    QFETCH(qint64, expectedBatch);
    const Graph g = inputsGraph(inputs);
    FeedOptions options;
    for (const auto &[name, shape] : shapesFrom(given))
        options.tensors[name] = Tensor(DType::Float32, shape);
    for (const auto &[name, shape] : shapesFrom(values))
        options.values[name] = shape.empty() ? 0.0 : double(shape[0]);
    // "d=N": the size of another symbol.
    QStringList sizes;
    for (const QString &item : shapes.split(';', Qt::SkipEmptyParts)) {
        const QStringList kv = item.trimmed().split('=');
        if (kv.size() == 2 && !kv[1].isEmpty() && kv[1][0].isLetter())
            options.sameSize[kv[0].toStdString()] = kv[1].toStdString();
        else
            sizes << item;
    }
    options.shapes = shapesFrom(sizes.join(';'));
    options.batch = batch;
    if (expected.startsWith("error: ")) {
        const QString message = expected.mid(7);
        try {
            planFeeds(g, options);
            QFAIL("no error");
        } catch (const Error &e) {
            QVERIFY2(QString::fromStdString(e.what()).contains(message), e.what());
        }
        return;
    }
    const FeedPlan plan = planFeeds(g, options);
    QStringList got;
    for (const ResolvedInput &in : plan.inputs)
        got << QStringLiteral("%1 %2 %3")
                   .arg(QString::fromStdString(in.name), QString::fromStdString(shapeToString(in.shape)),
                        sourceName(in.source));
    QCOMPARE(got.join("; "), expected);
    QCOMPARE(plan.batch, int64_t(expectedBatch));

    // The feeds follow the plan: shapes, and the graph's dtypes for the data made here.
    const std::map<std::string, Tensor> feeds = makeFeeds(plan, options);
    QCOMPARE(feeds.size(), g.inputs.size());
    for (size_t k = 0; k < g.inputs.size(); ++k) {
        const Tensor &t = feeds.at(g.inputs[k].name);
        QCOMPARE(t.shape(), plan.inputs[k].shape);
        if (plan.inputs[k].source != FeedSource::Given)
            QCOMPARE(t.dtype(), g.inputs[k].dtype);
    }
}

// symbolSizes: whole input shapes (the GUI's input-shape editor) become the sizes of their symbols, the batch
// symbol left to the run; expected "symbol=size" joined by "; ", or a piece of the error message.
void TestEvaluate::symbolSizesFromShapes_data()
{
    QTest::addColumn<QString>("inputs");
    QTest::addColumn<QString>("shapes");
    QTest::addColumn<QString>("expected");
    const QString silero = kSilero;
    QTest::newRow("every symbol but the batch") << silero << "input=2,512; h=2,2,64" << "sequence=512";
    QTest::newRow("a shared symbol given twice alike") << "x:float32[b,k]; y:float32[b,k]" << "x=1,5; y=3,5" << "k=5";
    QTest::newRow("unnamed dimensions") << "x:float32[_,_]" << "x=2,7" << "x_dim1=7";
    QTest::newRow("fixed shapes give nothing") << "x:float32[b,3]" << "x=4,3" << "";
    QTest::newRow("error: a symbol given two sizes")
        << "x:float32[b,k]; y:float32[b,k]" << "x=1,5; y=1,6"
        << "error: dimension 'k' is 5 in the shape of input 'x' but 6 in that of 'y'";
    QTest::newRow("error: a fixed size changed")
        << silero << "h=2,1,32" << "error: shape [2, 1, 32] given for graph input 'h' does not fit its declared shape [2, batch, 64]";
    QTest::newRow("error: another rank") << silero << "input=512" << "error: does not fit its declared shape [batch, sequence]";
    QTest::newRow("error: a zero size") << silero << "input=1,0" << "error: (sizes of at least 1)";
    QTest::newRow("error: not an input") << silero << "sequence=5" << "error: 'sequence', which is not a graph input";
    QTest::newRow("an undeclared shape is kept whole") << "x:float32?; y:float32[b,k]" << "x=2,2; y=1,3" << "k=3; x=2,2";
    QTest::newRow("error: an undeclared shape with a zero") << "x:float32?" << "x=2,0" << "error: has a size below 1";
}

void TestEvaluate::symbolSizesFromShapes()
{
    QFETCH(QString, inputs);
    QFETCH(QString, shapes);
    QFETCH(QString, expected);
    const Graph g = inputsGraph(inputs);
    if (expected.startsWith("error: ")) {
        try {
            symbolSizes(g, shapesFrom(shapes));
            QFAIL("no error");
        } catch (const Error &e) {
            QVERIFY2(QString::fromStdString(e.what()).contains(expected.mid(7)), e.what());
        }
        return;
    }
    const FeedOptions sizes = symbolSizes(g, shapesFrom(shapes));
    QStringList got;
    for (const auto &[name, size] : sizes.shapes) {
        QStringList dims;
        for (int64_t d : size)
            dims << QString::number(d);
        got << QStringLiteral("%1=%2").arg(QString::fromStdString(name), dims.join(','));
    }
    QCOMPARE(got.join("; "), expected);
    // What the sizes fix is what a plan at any batch uses: a symbol's size, an undeclared input's whole shape.
    if (!sizes.shapes.empty() && unsizedSymbols(g, sizes, false).empty()) {
        FeedOptions options = sizes;
        options.batch = 3;
        const FeedPlan plan = planFeeds(g, options);
        for (const auto &entry : sizes.shapes) {
            const std::string &name = entry.first;
            const Shape &size = entry.second;
            const auto input = std::find_if(plan.inputs.begin(), plan.inputs.end(),
                                            [&name](const ResolvedInput &r) { return r.name == name; });
            if (input != plan.inputs.end())
                QCOMPARE(input->shape, size);
            else
                QCOMPARE(plan.symbols.at(name), size.front());
        }
    }
}

// unsizedSymbols: a symbol of another's size is sized once that one is (here the batch, which runs set).
void TestEvaluate::sameSizeSymbolsAreSized()
{
    const Graph g = inputsGraph("input:float32[N,s]; state:float32[2,d,128]");
    FeedOptions o;
    o.shapes["s"] = {5};
    QCOMPARE(unsizedSymbols(g, o, false), std::vector<std::string>{"d"});
    o.sameSize["d"] = "N";
    QCOMPARE(unsizedSymbols(g, o, false), std::vector<std::string>{});
}

// firstInputShape: the first input's declaration with the sizes the options give (what image folders crop to);
// expected as "d0,d1,..." with -1 for a symbol left open, "" for none.
void TestEvaluate::firstInputShapeSized_data()
{
    QTest::addColumn<QString>("inputs");
    QTest::addColumn<QString>("shapes");
    QTest::addColumn<QString>("expected");
    QTest::newRow("declared") << "x:float32[1,3,224,224]" << "" << "1,3,224,224";
    QTest::newRow("symbols sized") << "x:float32[b,3,h,w]" << "h=640; w=480" << "-1,3,640,480";
    QTest::newRow("one symbol left") << "x:float32[b,3,h,w]" << "h=640" << "-1,3,640,-1";
    QTest::newRow("the whole input") << "x:float32[b,3,h,w]; y:float32[b]" << "x=2,3,32,16" << "2,3,32,16";
    QTest::newRow("another input's shape") << "x:float32[b,3,h,w]; y:float32[b,h]" << "y=1,50" << "-1,3,-1,-1";
    QTest::newRow("unnamed dimensions") << "x:float32[_,3,_,_]" << "x_dim2=8; x_dim3=9" << "-1,3,8,9";
    QTest::newRow("undeclared") << "x:float32?" << "" << "";
    QTest::newRow("undeclared, given whole") << "x:float32?" << "x=2,3" << "2,3";
}

void TestEvaluate::firstInputShapeSized()
{
    QFETCH(QString, inputs);
    QFETCH(QString, shapes);
    QFETCH(QString, expected);
    FeedOptions options;
    options.shapes = shapesFrom(shapes);
    QStringList dims;
    for (int64_t d : firstInputShape(inputsGraph(inputs), options))
        dims << QString::number(d);
    QCOMPARE(dims.join(','), expected);
}

// unsizedSymbols: the symbols a run would still need, given options.shapes (inputs and symbols) and whether
// a dataset feeds the first input.
void TestEvaluate::unsizedSymbolsFound_data()
{
    QTest::addColumn<QString>("inputs");
    QTest::addColumn<QString>("shapes");
    QTest::addColumn<bool>("firstFromData");
    QTest::addColumn<QString>("expected");
    const QString silero = kSilero;
    QTest::newRow("a sequence to size") << silero << "" << false << "sequence";
    QTest::newRow("the data sizes the first input") << silero << "" << true << "";
    QTest::newRow("a symbol's size") << silero << "sequence=512" << false << "";
    QTest::newRow("an input's whole shape") << silero << "input=1,512" << false << "";
    QTest::newRow("symbols of later inputs stay")
        << "x:float32[b,3,height,width]; m:float32[b,height,depth]" << "" << true << "depth";
    QTest::newRow("in order of appearance")
        << "x:float32[b,3,height,width]; m:float32[b,height,depth]" << "width=8" << false << "height, depth";
    QTest::newRow("fixed shapes need nothing") << "x:float32[1,3,8,8]" << "" << false << "";
}

void TestEvaluate::unsizedSymbolsFound()
{
    QFETCH(QString, inputs);
    QFETCH(QString, shapes);
    QFETCH(bool, firstFromData);
    QFETCH(QString, expected);
    FeedOptions options;
    options.shapes = shapesFrom(shapes);
    QStringList got;
    for (const std::string &s : unsizedSymbols(inputsGraph(inputs), options, firstFromData))
        got << QString::fromStdString(s);
    QCOMPARE(got.join(", "), expected);
}

// The data made for each dtype: its range, a value's exact fill, and reproducibility (same seed and input
// position: the same data; another position: other data).
void TestEvaluate::feedData_data()
{
    QTest::addColumn<QString>("dtype");
    QTest::addColumn<double>("lo");
    QTest::addColumn<double>("hi");
    QTest::addColumn<double>("value");
    QTest::newRow("float32 in [-1, 1)") << "float32" << -1.0 << 1.0 << 0.25;
    QTest::newRow("float16 in [-1, 1]") << "float16" << -1.0 << 1.0 << -0.5;
    QTest::newRow("bfloat16 in [-1, 1]") << "bfloat16" << -1.0 << 1.0 << 2.0;
    QTest::newRow("uint8 (and bool) 0 or 1") << "uint8" << 0.0 << 1.0 << 255.0;
    QTest::newRow("int8 in 0..9") << "int8" << 0.0 << 9.0 << -128.0;
    QTest::newRow("int32 in 0..9") << "int32" << 0.0 << 9.0 << 16000.0;
    QTest::newRow("int64 in 0..9, a value float32 cannot hold") << "int64" << 0.0 << 9.0 << 16777217.0;
}

void TestEvaluate::feedData()
{
    QFETCH(QString, dtype);
    QFETCH(double, lo);
    QFETCH(double, hi);
    QFETCH(double, value);
    const Graph g = inputsGraph(QStringLiteral("a:%1[batch,1000]; b:%1[batch,1000]; v:%1[batch]").arg(dtype));
    FeedOptions options;
    options.batch = 2;
    options.values["v"] = value;
    const std::map<std::string, Tensor> feeds = makeFeeds(g, options);
    const Tensor &a = feeds.at("a");
    QCOMPARE(a.dtype(), g.inputs[0].dtype);
    const std::vector<float> values = a.toFloatVector();
    std::set<float> distinct(values.begin(), values.end());
    QVERIFY(*distinct.begin() >= lo && *distinct.rbegin() <= hi);
    QVERIFY2(distinct.size() >= std::min<size_t>(size_t(hi - lo) + 1, 100), "the range is used");
    if (a.dtype() == DType::Int64) {
        QCOMPARE(feeds.at("v").data<int64_t>()[1], int64_t(value)); // not through float32
    } else {
        QCOMPARE(double(feeds.at("v").toFloatVector()[1]), value);
    }

    const std::map<std::string, Tensor> again = makeFeeds(g, options);
    QVERIFY(testutil::mismatch(again.at("a"), a, 0, 0).isEmpty());
    QVERIFY(!testutil::mismatch(feeds.at("b"), a, 0, 0).isEmpty());
    options.seed = 2;
    QVERIFY(!testutil::mismatch(makeFeeds(g, options).at("a"), a, 0, 0).isEmpty());
}

// benchmark() makes every input, times every output, and reports the shapes it used.
void TestEvaluate::benchmarkSeveralInputs()
{
    const Model model = twoOutputModel();
    BenchOptions opt;
    opt.batch = 3;
    opt.threads = 1;
    opt.iterations = 3;
    opt.warmup = 1;
    opt.inputs.shapes["n"] = {8};
    opt.inputs.values["k"] = 7;
    const BenchResult r = benchmark(model, opt);
    QCOMPARE(r.batch, int64_t(3));
    QCOMPARE(r.inputs.size(), size_t(3));
    QCOMPARE(r.inputs[0].shape, (Shape{3, 8}));
    QCOMPARE(r.inputs[1].shape, (Shape{3, 8}));
    QCOMPARE(r.inputs[2].shape, Shape{});
    QCOMPARE(r.inputs[2].source, FeedSource::Value);
    QVERIFY(std::abs(r.throughputPerS - 3 * 1000.0 / r.meanMs) < 1e-6 * r.throughputPerS);

    // batch 0: the given data decides it.
    opt.batch = 0;
    opt.inputs.tensors["x"] = Tensor(DType::Float32, {5, 8});
    QCOMPARE(benchmark(model, opt).batch, int64_t(5));
    QCOMPARE(planBenchmark(model, opt).inputs[1].shape, (Shape{5, 8}));

    opt.batch = 2; // contradicts the data
    QVERIFY_THROWS_EXCEPTION(Error, planBenchmark(model, opt));
    QVERIFY_THROWS_EXCEPTION(Error, benchmark(model, opt));
}

void TestEvaluate::benchmarkProfile_data()
{
    QTest::addColumn<int>("threads");
    QTest::addColumn<int>("batch");
    QTest::newRow("one thread") << 1 << 2;
    QTest::newRow("two threads, the batch split") << 2 << 8;
}

// BenchOptions::profile: each node of the graph the Session runs (fused: demo-resnet's BatchNormalizations and
// activations are part of its convolutions) once, the slowest first, timed over the timed runs only. On one thread
// the nodes' times are within a run's; on two, each part of the batch adds its own.
void TestEvaluate::benchmarkProfile()
{
    QFETCH(int, threads);
    QFETCH(int, batch);
    const Model model = loadModel("demo-resnet");
    BenchOptions opt;
    opt.batch = batch;
    opt.threads = threads;
    opt.iterations = 20;
    opt.warmup = 3;
    opt.profile = true;
    const BenchResult r = benchmark(model, opt);
    std::multiset<std::string> expected, got;
    const Session session(model);
    for (const Node &n : session.executedGraph().nodes)
        expected.insert(n.name + " " + n.opType);
    double total = 0;
    for (size_t i = 0; i < r.nodes.size(); ++i) {
        const NodeTime &n = r.nodes[i];
        got.insert(n.name + " " + n.opType);
        QVERIFY2(n.ms > 0, n.name.c_str());
        QVERIFY(std::abs(n.share - n.ms / r.meanMs) < 1e-9);
        if (i > 0)
            QVERIFY(n.ms <= r.nodes[i - 1].ms);
        total += n.ms;
    }
    const auto joined = [](const std::multiset<std::string> &names) {
        QStringList list;
        for (const std::string &n : names)
            list << QString::fromStdString(n);
        return list.join(", ");
    };
    QCOMPARE(joined(got), joined(expected));
    QVERIFY(!expected.count("block1.bn1 BatchNormalization"));
    QVERIFY(total > 0.2 * r.meanMs);
    if (threads == 1)
        QVERIFY2(total <= r.meanMs * 1.001, qPrintable(QString("%1 %2").arg(total).arg(r.meanMs)));
    // Not asked for: no nodes.
    opt.profile = false;
    QVERIFY(benchmark(model, opt).nodes.empty());
}

// evaluate() feeds the dataset to the first input and the others as options.inputs says: a second input added to
// the logits, fed zeros, leaves the hand-computed results unchanged; fed a large value on one class, it changes
// them.
void TestEvaluate::evaluateWithExtraInput()
{
    Model m = linearModel(6, 2.f, 0.1f);
    m.graph.inputs.push_back(ValueInfo{"offset", DType::Float32, {-1, 6}, true, {"N"}});
    m.graph.nodes.front().outputs = {"raw"};
    Node add;
    add.name = "offset_add";
    add.opType = "Add";
    add.inputs = {"raw", "offset"};
    add.outputs = {"logits"};
    m.graph.nodes.push_back(add);
    const Session session(m);

    EvalOptions opt;
    opt.batchSize = 2; // a ragged last batch: the offset follows the batch size
    opt.inputs.values["offset"] = 0;
    const EvalResult r = evaluate(session, handDataset(), opt);
    QCOMPARE(r.accuracy, 0.4);
    QCOMPARE(r.top5, 0.8);
    QVERIFY(std::abs(r.loss - handLoss()) < 1e-5);

    opt.inputs.values["offset"] = 100; // every class equally: the order, so accuracy, is unchanged
    QCOMPARE(evaluate(session, handDataset(), opt).accuracy, 0.4);

    EvalOptions none; // the second input has no data and no value: seeded random data, still a valid run
    QCOMPARE(evaluate(session, handDataset(), none).samples, int64_t(5));

    EvalOptions first;
    first.inputs.values["x"] = 0;
    QVERIFY_THROWS_EXCEPTION(Error, evaluate(session, handDataset(), first));
}


// Dataset rows shaped for the first graph input: reshaped when they differ only by axes of size 1 or one side is
// flat, transposed to channels last for an input that declares [N, H, W, C].
void TestEvaluate::conformBatchToInput_data()
{
    QTest::addColumn<Shape>("declared"); // -1: symbolic
    QTest::addColumn<Shape>("rows");
    QTest::addColumn<Shape>("expected");
    QTest::addColumn<bool>("channelsLast"); // else the same elements in the same order
    QTest::newRow("fits as it is") << Shape{-1, 3, 8, 8} << Shape{4, 3, 8, 8} << Shape{4, 3, 8, 8} << false;
    QTest::newRow("promoted channel axis removed (wake-word features)") << Shape{1, 16, 96} << Shape{5, 1, 16, 96}
                                                                        << Shape{5, 16, 96} << false;
    QTest::newRow("channel axis added (grey images)") << Shape{-1, 1, 28, 28} << Shape{2, 28, 28}
                                                      << Shape{2, 1, 28, 28} << false;
    QTest::newRow("trailing unit axis (NHWC, one channel)") << Shape{-1, 76, 32, 1} << Shape{3, 76, 32}
                                                            << Shape{3, 76, 32, 1} << false;
    QTest::newRow("symbolic sizes take the data's") << Shape{-1, 1, -1} << Shape{2, 512} << Shape{2, 1, 512} << false;
    QTest::newRow("channels last (a Keras image model)") << Shape{-1, 4, 5, 3} << Shape{2, 3, 4, 5}
                                                         << Shape{2, 4, 5, 3} << true;
    QTest::newRow("channels last, symbolic height and width") << Shape{-1, -1, -1, 3} << Shape{2, 3, 6, 7}
                                                              << Shape{2, 6, 7, 3} << true;
    // [N, 2, 3, 3] stored: the Auto layout reads a last axis of 3 as channels, [N, 3, 2, 3].
    QTest::newRow("an NHWC guess undone") << Shape{-1, 2, 3, 3} << Shape{2, 3, 2, 3} << Shape{2, 2, 3, 3} << true;
    QTest::newRow("flat rows for an image input") << Shape{-1, 1, 28, 28} << Shape{2, 784} << Shape{2, 1, 28, 28}
                                                  << false;
    QTest::newRow("image rows for a flat input") << Shape{-1, 1536} << Shape{2, 16, 96} << Shape{2, 1536} << false;
    QTest::newRow("other sizes are left for the session to name") << Shape{-1, 16, 96} << Shape{2, 96, 16}
                                                                  << Shape{2, 96, 16} << false;
    QTest::newRow("other element counts too") << Shape{-1, 1, 28, 28} << Shape{2, 784, 2} << Shape{2, 784, 2} << false;
}

void TestEvaluate::conformBatchToInput()
{
    QFETCH(Shape, declared);
    QFETCH(Shape, rows);
    QFETCH(Shape, expected);
    QFETCH(bool, channelsLast);
    std::vector<float> values(size_t(shapeNumel(rows)));
    for (size_t i = 0; i < values.size(); ++i)
        values[i] = float(i);
    const Tensor batch = Tensor::fromFloats(rows, values);
    const Tensor out = conformBatch(ValueInfo{"x", DType::Float32, declared, true}, batch);
    QCOMPARE(out.shape(), expected);
    std::vector<float> want = values;
    if (channelsLast) { // want[n, h, w, c] = rows[n, c, h, w]
        const int64_t C = rows[1], H = rows[2], W = rows[3];
        for (int64_t n = 0; n < rows[0]; ++n)
            for (int64_t c = 0; c < C; ++c)
                for (int64_t h = 0; h < H; ++h)
                    for (int64_t w = 0; w < W; ++w)
                        want[size_t(((n * H + h) * W + w) * C + c)] = values[size_t(((n * C + c) * H + h) * W + w)];
    }
    QCOMPARE(out.toFloatVector(), want);
}

// Data meant for another model (Fashion-MNIST's images fed to an audio model [N, 76, 32, 1]) fails before the run,
// naming the samples' shape and the one the input takes.
void TestEvaluate::dataOfAnotherShapeNamed()
{
    Graph g;
    g.inputs = {ValueInfo{"input_1", DType::Float32, {-1, 76, 32, 1}, true}};
    const Tensor images = Tensor::fromFloats({2, 1, 28, 28}, std::vector<float>(2 * 28 * 28, 0.5f));
    try {
        makeBatchFeeds(g, FeedOptions{}, images);
        QFAIL("images fed an input of another shape");
    } catch (const Error &e) {
        const QString msg = e.what();
        QVERIFY2(msg.contains("samples are [1, 28, 28]") && msg.contains("'input_1' [N, 76, 32, 1] takes [76, 32, 1]"),
                 qPrintable(msg));
    }
    // Samples that differ only by unit axes still feed it.
    const Tensor features = Tensor::fromFloats({2, 76, 32}, std::vector<float>(2 * 76 * 32, 0.5f));
    QCOMPARE(makeBatchFeeds(g, FeedOptions{}, features).at("input_1").shape(), (Shape{2, 76, 32, 1}));
}

// A model exported for batch 1 ([1, 6] input, Flatten inside) is evaluated one sample at a time, with data stored
// with an extra unit axis, and scores exactly as the batched model does.
void TestEvaluate::fixedBatchModelEvaluatedOneByOne()
{
    const Model batched = linearModel(6, 2.f, 0.1f);
    Model fixed = linearModel(6, 2.f, 0.1f, {1, 6});
    QCOMPARE(datasetBatchSize(fixed.graph, 256), int64_t(1));
    QCOMPARE(datasetBatchSize(batched.graph, 256), int64_t(256));
    Dataset data = handDataset();
    data.x = data.x.reshaped({data.x.dim(0), 1, data.x.dim(1)});
    EvalOptions opt;
    opt.batchSize = 4;
    const EvalResult a = evaluate(Session(fixed), data, opt), b = evaluate(Session(batched), handDataset(), opt);
    QCOMPARE(a.accuracy, b.accuracy);
    QCOMPARE(a.top5, b.top5);
    QCOMPARE(a.loss, b.loss);
    QCOMPARE(a.samples, int64_t(5));
}

// Latency runs take the dataset's sample size for a symbol only the data fixes, and leave given sizes alone.
void TestEvaluate::sampleShapeForLatency()
{
    Model m = linearModel(6, 1.f, 0.f);
    m.graph.inputs.front() = ValueInfo{"x", DType::Float32, {-1, 1, -1}, true, {"batch", "", "samples"}};
    const Tensor rows(DType::Float32, {3, 1280});
    FeedOptions bound = withSampleShape(m.graph, {}, rows);
    QCOMPARE(bound.shapes.size(), size_t(1));
    QCOMPARE(bound.shapes.at("samples"), Shape{1280});
    QCOMPARE(planFeeds(m.graph, bound).inputs.front().shape, (Shape{1, 1, 1280}));

    FeedOptions given;
    given.shapes["samples"] = {400};
    QCOMPARE(withSampleShape(m.graph, given, rows).shapes.at("samples"), Shape{400});
    given.shapes.clear();
    given.shapes["x"] = {2, 1, 100};
    QCOMPARE(withSampleShape(m.graph, given, rows).shapes.size(), size_t(1));
}

// The memory figure against a hand count: x [1, 256] → a = x·x → b = a·a → y = (a + b) · w. After the Add, a, b
// and the sum are alive at once (3 × 1 KiB; a and b are then freed), and the weight w (1 KiB) is the constant;
// a weight-only quantized weight counts its integers and the float weight folded from them.
void TestEvaluate::memoryMeasured()
{
    Model m;
    m.graph.inputs.push_back({"x", DType::Float32, {1, 256}, true});
    m.graph.outputs.push_back({"y", DType::Float32, {1, 256}, true});
    m.graph.initializers["w"] = Tensor::fromFloats({1, 256}, std::vector<float>(256, 0.5f));
    m.graph.nodes = {Node{"m1", "Mul", "", {"x", "x"}, {"a"}, {}}, Node{"m2", "Mul", "", {"a", "a"}, {"b"}, {}},
                     Node{"add", "Add", "", {"a", "b"}, {"s"}, {}}, Node{"scale", "Mul", "", {"s", "w"}, {"y"}, {}}};
    const Session session(m, SessionOptions{1});
    const std::map<std::string, Tensor> feeds{{"x", Tensor::fromFloats({1, 256}, std::vector<float>(256, 1.f))}};
    QCOMPARE(session.constantBytes(), int64_t(1024));
    QCOMPARE(session.peakIntermediateBytes(feeds), int64_t(3 * 1024));
    BenchOptions bo;
    bo.iterations = 2;
    bo.warmup = 0;
    QCOMPARE(benchmark(m, bo).memoryBytes, int64_t(4 * 1024));

    // The weight as int8 behind a DequantizeLinear: 256 int8 + a float scale + an int8 zero point, and its
    // float form (1 KiB), folded once when the Session is built.
    Model q = m;
    q.graph.initializers.erase("w");
    q.graph.initializers["w_q"] = Tensor::fromFloats({1, 256}, std::vector<float>(256, 64.f)).castTo(DType::Int8);
    q.graph.initializers["w_scale"] = Tensor::fromFloats({}, {1.f / 128});
    q.graph.initializers["w_zp"] = Tensor::fromFloats({}, {0.f}).castTo(DType::Int8);
    q.graph.nodes.insert(q.graph.nodes.begin(), Node{"dq", "DequantizeLinear", "", {"w_q", "w_scale", "w_zp"}, {"w"}, {}});
    QCOMPARE(Session(q, SessionOptions{1}).constantBytes(), int64_t(256 + 4 + 1 + 1024));
}

// measureRunPeakRss runs `cwb bench` on the saved model in a process of its own: the figure follows the model's
// weights (64 MiB more weights, about that much more memory) and not the measuring process (which holds 384 MiB
// here); the child gets the inputs the benchmark resolved, symbol sizes, values and given data included.
void TestEvaluate::peakRssInOwnProcess()
{
    QTemporaryDir dir;
    const auto saved = [&](const char *name, int64_t columns) {
        Model m;
        m.graph.inputs.push_back({"x", DType::Float32, {-1, 1024}, true, {"batch", ""}});
        m.graph.outputs.push_back({"y", DType::Float32, {-1, columns}, true, {"batch", ""}});
        std::vector<float> w(size_t(1024 * columns));
        for (size_t i = 0; i < w.size(); ++i)
            w[i] = float(i % 1013) / 1013.f; // not a constant: a file format could store that in a few bytes
        m.graph.initializers["w"] = Tensor::fromFloats({1024, columns}, w);
        m.graph.nodes = {Node{"mm", "MatMul", "", {"x", "w"}, {"y"}, {}}};
        const std::string path = dir.filePath(name).toStdString();
        saveModel(m, path);
        return std::make_pair(m, path);
    };
    const auto [small, smallPath] = saved("small.h5", 16);    // 64 KiB of weights
    const auto [large, largePath] = saved("large.h5", 16384); // 64 MiB
    std::vector<char> ballast(384u << 20);                    // this process's own memory, touched
    std::memset(ballast.data(), 1, ballast.size());
    BenchOptions bo;
    bo.threads = 1;
    bo.iterations = 1;
    bo.warmup = 0;
    const uint64_t smallRss = measureRunPeakRss(smallPath, bo, benchmark(small, bo).inputs);
    const uint64_t largeRss = measureRunPeakRss(largePath, bo, benchmark(large, bo).inputs);
    const uint64_t MiB = 1 << 20;
    // A sanitizer's child keeps shadow memory and freed blocks (ASan's quarantine) resident too.
    const uint64_t slack = testutil::kSanitized ? 4 : 1;
    QVERIFY2(smallRss > 4 * MiB && smallRss < slack * 200 * MiB, qPrintable(QString::number(smallRss / MiB)));
    QVERIFY2(largeRss > smallRss + 60 * MiB && largeRss < smallRss + slack * 6 * 64 * MiB,
             qPrintable(QString("%1 vs %2 MiB").arg(largeRss / MiB).arg(smallRss / MiB)));
    QVERIFY(ballast[12345] == 1);

    // Inputs only the options size: a symbol, a value and given data. The child cannot run without them.
    Model two;
    two.graph.inputs = {ValueInfo{"x", DType::Float32, {1, -1}, true, {"", "n"}},
                        ValueInfo{"s", DType::Float32, {1}, true}};
    two.graph.outputs.push_back({"y", DType::Float32, {1, -1}, true, {"", "n"}});
    two.graph.nodes = {Node{"mul", "Mul", "", {"x", "s"}, {"y"}, {}}};
    const std::string twoPath = dir.filePath("two.h5").toStdString();
    saveModel(two, twoPath);
    BenchOptions sized = bo;
    sized.inputs.shapes["n"] = {500};
    sized.inputs.values["s"] = 2;
    QVERIFY(measureRunPeakRss(twoPath, sized, benchmark(two, sized).inputs) > 0);
    BenchOptions given = bo;
    given.inputs.tensors["x"] = Tensor::fromFloats({1, 300}, std::vector<float>(300, 1.f));
    QVERIFY(measureRunPeakRss(twoPath, given, benchmark(two, given).inputs) > 0);
    QCOMPARE(QDir(dir.path()).entryList(QDir::Files).size(), 3); // the given data's .npy removed again
    QCOMPARE(measureRunPeakRss(twoPath, bo, {}), uint64_t(0)); // 'n' unsized: the run fails, nothing measured

    // Without cwb nothing is measured; a stop kills the run.
    qputenv("CW_CWB", "/nonexistent/cwb");
    QCOMPARE(measureRunPeakRss(smallPath, bo, {}), uint64_t(0));
    qunsetenv("CW_CWB");
    StopToken stop;
    stop.requestStop();
    QVERIFY_THROWS_EXCEPTION(Cancelled, measureRunPeakRss(largePath, bo, {}, &stop));
}

QTEST_GUILESS_MAIN(TestEvaluate)
#include "test_evaluate.moc"
