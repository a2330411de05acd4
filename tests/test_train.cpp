// Training end to end: a tiny model learns a separable problem, runs are reproducible, cancelling leaves
// the model untouched, unsupported operators are reported, BN folding keeps outputs, and the demo
// architectures build and (when Debian's Fashion-MNIST is installed) learn from a slice of it.
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <cstring>
#include <set>
#include <tuple>

#include "core/base/error.h"
#include "core/graph/transform.h"
#include "core/io/dataset.h"
#include "core/runtime/session.h"
#include "core/train/demo_models.h"
#include "core/train/train.h"
#include "testutil.h"

using namespace cw;
using testutil::blobs;
using testutil::sameWeights;

namespace {

Model mlp()
{
    Model m;
    m.sourcePath = "mlp";
    Graph &g = m.graph;
    g.inputs = {ValueInfo{"x", DType::Float32, {-1, 2}, true}};
    g.outputs = {ValueInfo{"logits", DType::Float32, {-1, 3}, true}};
    g.initializers["W1"] = testutil::randomTensor({16, 2}, 1);
    g.initializers["b1"] = Tensor(DType::Float32, {16});
    g.initializers["W2"] = testutil::randomTensor({3, 16}, 2, -0.5f, 0.5f);
    g.initializers["b2"] = Tensor(DType::Float32, {3});
    Node fc1{"fc1", "Gemm", "", {"x", "W1", "b1"}, {"h"}, {{"transB", Attribute::makeInt(1)}}};
    Node relu{"relu", "Relu", "", {"h"}, {"r"}, {}};
    Node fc2{"fc2", "Gemm", "", {"r", "W2", "b2"}, {"logits"}, {{"transB", Attribute::makeInt(1)}}};
    g.nodes = {fc1, relu, fc2};
    return m;
}

// Gives every BN non-trivial statistics so that folding has something to get wrong.
void randomizeBatchNorms(Model &m, unsigned seed)
{
    for (const Node &n : m.graph.nodes) {
        if (n.opType != "BatchNormalization")
            continue;
        const int64_t c = m.graph.initializers.at(n.inputs[1]).numel();
        m.graph.initializers[n.inputs[1]] = testutil::randomTensor({c}, seed++, 0.5f, 1.5f);
        m.graph.initializers[n.inputs[2]] = testutil::randomTensor({c}, seed++, -0.5f, 0.5f);
        m.graph.initializers[n.inputs[3]] = testutil::randomTensor({c}, seed++, -0.3f, 0.3f);
        m.graph.initializers[n.inputs[4]] = testutil::randomTensor({c}, seed++, 0.5f, 2.f);
    }
}

// Top-1 accuracy of the model's inference graph (Session) on a labelled dataset.
double accuracy(const Model &model, const Dataset &data)
{
    const Tensor logits = Session(model).run(data.x);
    const int64_t n = logits.dim(0), c = logits.dim(1);
    int64_t hits = 0;
    for (int64_t i = 0; i < n; ++i) {
        const float *row = logits.f32() + i * c;
        hits += std::max_element(row, row + c) - row == data.labels[size_t(i)];
    }
    return double(hits) / double(n);
}

bool fashionMnistAvailable()
{
    return QFileInfo::exists(QString::fromStdString(fashionMnistDir() + "/train-images-idx3-ubyte.gz"));
}

} // namespace

class TestTrain : public QObject {
    Q_OBJECT

private slots:
    void learnsSeparableProblem_data()
    {
        QTest::addColumn<int>("optimizer");
        QTest::addColumn<float>("lr");
        QTest::newRow("adam") << int(Optimizer::Adam) << 0.02f;
        QTest::newRow("sgd_momentum") << int(Optimizer::Sgd) << 0.05f;
    }

    void learnsSeparableProblem()
    {
        QFETCH(int, optimizer);
        QFETCH(float, lr);
        Model model = mlp();
        const Dataset data = blobs(100, 7);
        TrainOptions options;
        options.epochs = 15;
        options.batchSize = 16;
        options.lr = lr;
        options.optimizer = Optimizer(optimizer);
        options.threads = 1;
        std::vector<EpochStats> seen;
        std::vector<double> fractions;
        const TrainResult result = train(model, data, options, [&](double f, std::string_view) { fractions.push_back(f); },
                                         nullptr, [&](const EpochStats &s, const Model &) { seen.push_back(s); });
        QCOMPARE(int(result.epochs.size()), 15);
        QCOMPARE(int(seen.size()), 15);
        QCOMPARE(result.steps, int64_t(15 * 19)); // 300 samples / 16 = 18.75 batches
        QCOMPARE(seen.back().epoch, 15);
        QCOMPARE(seen.back().samples, int64_t(300));
        QVERIFY(!fractions.empty() && std::abs(fractions.back() - 1.0) < 1e-9);
        QVERIFY2(seen.back().loss < 0.5 * seen.front().loss,
                 qPrintable(QStringLiteral("loss %1 → %2").arg(seen.front().loss).arg(seen.back().loss)));
        QVERIFY2(seen.back().accuracy > 0.95, qPrintable(QString::number(seen.back().accuracy)));
        QVERIFY(seen.back().accuracy >= seen.front().accuracy);
        // The trained weights are in the model: inference agrees.
        const double acc = accuracy(model, blobs(50, 99));
        QVERIFY2(acc > 0.95, qPrintable(QString::number(acc)));
    }

    void reproducibleWithSeed()
    {
        const Dataset data = blobs(40, 3);
        TrainOptions options;
        options.epochs = 3;
        options.batchSize = 8;
        options.lr = 0.01f;
        options.threads = 1;
        options.seed = 42;
        Model a = mlp(), b = mlp(), c = mlp();
        train(a, data, options);
        train(b, data, options);
        QVERIFY(sameWeights(a, b));
        QVERIFY(!sameWeights(a, mlp()));
        options.seed = 43; // another shuffling order gives other weights
        train(c, data, options);
        QVERIFY(!sameWeights(a, c));
    }

    void doesNotTouchSharedWeights()
    {
        const Model original = mlp();
        Model model = original; // shares the weight buffers
        const Model snapshot = original.deepCopy();
        TrainOptions options;
        options.epochs = 1;
        options.threads = 1;
        train(model, blobs(20, 1), options);
        QVERIFY(sameWeights(original, snapshot));
        QVERIFY(!sameWeights(model, snapshot));
    }

    void cancelLeavesModelUntouched_data()
    {
        QTest::addColumn<int>("stopAfterBatches");
        QTest::newRow("stopped_before_start") << 0;
        QTest::newRow("stopped_mid_epoch") << 3;
        QTest::newRow("stopped_in_second_epoch") << 25;
    }

    void cancelLeavesModelUntouched()
    {
        QFETCH(int, stopAfterBatches);
        Model model = mlp();
        const Model snapshot = model.deepCopy();
        StopToken stop;
        if (stopAfterBatches == 0)
            stop.requestStop();
        int batches = 0;
        TrainOptions options;
        options.epochs = 3;
        options.batchSize = 16;
        options.threads = 1;
        bool cancelled = false;
        try {
            train(model, blobs(100, 5), options, [&](double, std::string_view) {
                if (++batches == stopAfterBatches)
                    stop.requestStop();
            }, &stop);
        } catch (const Cancelled &) {
            cancelled = true;
        }
        QVERIFY(cancelled);
        QCOMPARE(batches, stopAfterBatches);
        QVERIFY(sameWeights(model, snapshot));
    }

    // A channels-last model (Keras: [N, H, W, 3]) on an array stored that way: loadDataset reads it as NCHW, and
    // training feeds it back channels-last as inference does, so the weights it learns are the ones evaluation
    // uses (a reshape to the input's shape trained on scrambled pixels and evaluated at chance).
    void channelsLastModelTrainsOnItsPixels()
    {
        Model model;
        model.sourcePath = "nhwc";
        Graph &g = model.graph;
        g.inputs = {ValueInfo{"x", DType::Float32, {-1, 4, 4, 3}, true}};
        g.outputs = {ValueInfo{"logits", DType::Float32, {-1, 2}, true}};
        g.initializers["W"] = testutil::randomTensor({2, 48}, 3, -0.05f, 0.05f);
        g.initializers["b"] = Tensor(DType::Float32, {2});
        g.nodes = {Node{"flat", "Flatten", "", {"x"}, {"f"}, {}},
                   Node{"fc", "Gemm", "", {"f", "W", "b"}, {"logits"}, {{"transB", Attribute::makeInt(1)}}}};
        // Labels: the sign of a random linear function of the stored (channels-last) pixels.
        const Tensor x = testutil::randomTensor({256, 4, 4, 3}, 4);
        const Tensor w = testutil::randomTensor({48}, 5);
        const QTemporaryDir dir;
        const std::string path = dir.filePath(QStringLiteral("nhwc.npy")).toStdString();
        writeNpy(x, path);
        Dataset data = loadDataset(path);
        QCOMPARE(data.sampleShape(), (Shape{3, 4, 4})); // read as NCHW
        for (int64_t i = 0; i < 256; ++i) {
            double dot = 0;
            for (int64_t k = 0; k < 48; ++k)
                dot += double(x.f32()[i * 48 + k]) * double(w.f32()[k]);
            data.labels.push_back(dot > 0);
        }
        TrainOptions options;
        options.epochs = 30;
        options.batchSize = 32;
        options.lr = 0.02f;
        options.threads = 1;
        train(model, data, options);
        const double trained = accuracy(model, Dataset{"stored", x, nullptr, data.labels, {}});
        QVERIFY2(trained > 0.9, qPrintable(QString::number(trained)));
        // Data of another shape is refused before the first step, in terms of samples.
        try {
            train(model, blobs(4, 1), options);
            QFAIL("samples [2] trained an input [N, 4, 4, 3]");
        } catch (const Error &e) {
            QVERIFY2(QString(e.what()).contains("the data's samples are [2]"), e.what());
        }
    }

    void rejectsBadInput()
    {
        Model model = mlp();
        TrainOptions options;
        Dataset unlabelled = blobs(10, 1);
        unlabelled.labels.clear();
        QVERIFY_THROWS_EXCEPTION(Error, train(model, unlabelled, options));
        Dataset badLabel = blobs(10, 1);
        badLabel.labels[3] = 7;
        try {
            train(model, badLabel, options);
            QFAIL("a label outside the classes was accepted");
        } catch (const Error &e) {
            QVERIFY2(QString(e.what()).contains("label 7"), e.what());
        }
        options.lr = 0;
        QVERIFY_THROWS_EXCEPTION(Error, train(model, blobs(10, 1), options));
    }

    void unsupportedOperatorNamesNode()
    {
        Model model = mlp();
        // logits → Sigmoid: a forward kernel exists, a backward rule does not.
        model.graph.nodes.back().outputs = {"pre"};
        model.graph.nodes.push_back(Node{"squash", "Sigmoid", "", {"pre"}, {"logits"}, {}});
        TrainOptions options;
        try {
            Trainer trainer(model, options);
            QFAIL("Sigmoid was accepted for training");
        } catch (const Error &e) {
            const QString message = e.what();
            QVERIFY2(message.contains("'squash'") && message.contains("Sigmoid"), e.what());
        }
        const Model snapshot = model.deepCopy();
        QVERIFY_THROWS_EXCEPTION(Error, train(model, blobs(10, 1), options));
        QVERIFY(sameWeights(model, snapshot));
    }

    void batchNormRunningStatsMove()
    {
        Model model = buildDemoModel("cnn", 3);
        Dataset data;
        data.name = "noise";
        data.x = testutil::randomTensor({32, 1, 28, 28}, 4, 0.f, 1.f);
        for (int i = 0; i < 32; ++i)
            data.labels.push_back(i % 10);
        TrainOptions options;
        options.epochs = 1;
        options.batchSize = 16;
        options.threads = 1;
        train(model, data, options);
        const std::vector<float> mean = model.graph.initializers.at("bn1.mean").toFloatVector();
        const std::vector<float> var = model.graph.initializers.at("bn1.var").toFloatVector();
        QVERIFY(std::any_of(mean.begin(), mean.end(), [](float v) { return v != 0.f; }));
        QVERIFY(std::any_of(var.begin(), var.end(), [](float v) { return v != 1.f; }));
    }

    void learningRateSchedules()
    {
        TrainOptions o;
        o.lr = 0.1f;
        o.schedule = LrSchedule::Cosine;
        QCOMPARE(scheduledLr(o, 0, 100, 0), 0.1f);
        QVERIFY(std::abs(scheduledLr(o, 50, 100, 0) - 0.05f) < 1e-7f);
        QVERIFY(std::abs(scheduledLr(o, 75, 100, 0) - 0.1f * (1 - std::sqrt(0.5f)) / 2) < 1e-7f);
        o.schedule = LrSchedule::Step;
        o.stepEpochs = 2;
        o.stepGamma = 0.5f;
        QCOMPARE(scheduledLr(o, 0, 100, 1), 0.1f);
        QCOMPARE(scheduledLr(o, 0, 100, 2), 0.05f);
        QVERIFY(std::abs(scheduledLr(o, 0, 100, 5) - 0.025f) < 1e-8f);
        o.schedule = LrSchedule::Constant;
        QCOMPARE(scheduledLr(o, 99, 100, 4), 0.1f);
    }

    void demoModelsBuild_data()
    {
        QTest::addColumn<QString>("arch");
        QTest::addColumn<qint64>("params");
        QTest::addColumn<int>("batchNorms");
        // cnn: conv1 288 + bn1 4*32 + conv2 18432 + bn2 4*64 + fc1 401408 + 128 + fc2 1280 + 10
        QTest::newRow("cnn") << "cnn" << qint64(288 + 128 + 18432 + 256 + 401408 + 128 + 1280 + 10) << 2;
        // resnet: conv1 288 + bn 128; block1 2 * 9216 + 2 * 128; block2 18432 + 36864 + 2048 + 3 * 256; fc 650
        QTest::newRow("resnet") << "resnet"
                                << qint64(288 + 128 + 2 * 9216 + 2 * 128 + 18432 + 36864 + 2048 + 3 * 256 + 650) << 6;
    }

    void demoModelsBuild()
    {
        QFETCH(QString, arch);
        QFETCH(qint64, params);
        QFETCH(int, batchNorms);
        const Model m = buildDemoModel(arch.toStdString(), 1);
        QCOMPARE(m.graph.parameterCount(), int64_t(params));
        QCOMPARE(int(std::count_if(m.graph.nodes.begin(), m.graph.nodes.end(),
                                   [](const Node &n) { return n.opType == "BatchNormalization"; })),
                 batchNorms);
        QCOMPARE(m.graph.inputs.front().name, std::string("input"));
        QCOMPARE(m.graph.outputs.front().name, std::string("logits"));
        QCOMPARE(m.graph.outputs.front().shape, (Shape{-1, 10}));
        QVERIFY(m.graph.findNode("conv1") && m.graph.findNode("bn1") && m.graph.findNode("pool1"));
        QCOMPARE(m.metadata.at("dataset"), std::string("fashion-mnist"));
        QVERIFY(QString::fromStdString(m.metadata.at("classes")).split(',').size() == 10);
        const Tensor y = Session(m, SessionOptions{1}).run(testutil::randomTensor({3, 1, 28, 28}, 2, 0.f, 1.f));
        QCOMPARE(y.shape(), (Shape{3, 10}));
        QVERIFY(sameWeights(m, buildDemoModel(arch.toStdString(), 1)));
        QVERIFY(!sameWeights(m, buildDemoModel(arch.toStdString(), 2)));
    }

    void demoModelUnknownArchitecture()
    {
        QVERIFY_THROWS_EXCEPTION(Error, buildDemoModel("vgg", 1));
        QVERIFY_THROWS_EXCEPTION(Error, demoTrainOptions("vgg"));
    }

    void foldBatchNormKeepsOutputs_data()
    {
        QTest::addColumn<QString>("arch");
        QTest::addColumn<int>("folded");
        QTest::newRow("cnn") << "cnn" << 2;
        QTest::newRow("resnet") << "resnet" << 6;
    }

    void foldBatchNormKeepsOutputs()
    {
        QFETCH(QString, arch);
        QFETCH(int, folded);
        Model model = buildDemoModel(arch.toStdString(), 5);
        randomizeBatchNorms(model, 11);
        const Model before = model.deepCopy();
        const Model shared = model; // shares buffers: folding must not write into them
        const Tensor x = testutil::randomTensor({4, 1, 28, 28}, 6, 0.f, 1.f);
        const Tensor expected = Session(model, SessionOptions{1}).run(x);
        QCOMPARE(foldBatchNorm(model), folded);
        QCOMPARE(std::count_if(model.graph.nodes.begin(), model.graph.nodes.end(),
                               [](const Node &n) { return n.opType == "BatchNormalization"; }),
                 0L);
        QVERIFY(!model.graph.initializers.count("bn1.mean"));
        const Tensor actual = Session(model, SessionOptions{1}).run(x);
        const QString m = testutil::mismatch(actual, expected, 1e-5, 1e-5);
        QVERIFY2(m.isEmpty(), qPrintable(m));
        QVERIFY(sameWeights(shared, before));
        QCOMPARE(foldBatchNorm(model), 0);
    }

    void foldBatchNormGemmAndSkips()
    {
        // x → Gemm(transB=0, scalar-broadcast C, beta 0.5) → BN → y, plus a Conv → BN whose conv output has a
        // second consumer (must stay).
        Model m;
        m.sourcePath = "fold";
        Graph &g = m.graph;
        g.inputs = {ValueInfo{"x", DType::Float32, {-1, 4}, true}, ValueInfo{"img", DType::Float32, {-1, 2, 4, 4}, true}};
        g.outputs = {ValueInfo{"y", DType::Float32, {}, false}, ValueInfo{"z", DType::Float32, {}, false}};
        g.initializers["W"] = testutil::randomTensor({4, 3}, 1);
        g.initializers["C"] = Tensor::fromFloats({1}, {0.3f});
        g.initializers["Wc"] = testutil::randomTensor({3, 2, 3, 3}, 2);
        for (const char *p : {"s", "b", "m", "v"})
            g.initializers[p] = testutil::randomTensor({3}, unsigned(p[0]), 0.5f, 1.5f);
        g.initializers["s2"] = g.initializers["s"];
        g.initializers["b2"] = g.initializers["b"];
        g.initializers["m2"] = g.initializers["m"];
        g.initializers["v2"] = g.initializers["v"];
        g.nodes = {
            Node{"fc", "Gemm", "", {"x", "W", "C"}, {"h"}, {{"beta", Attribute::makeFloat(0.5f)}}},
            Node{"bn", "BatchNormalization", "", {"h", "s", "b", "m", "v"}, {"y"}, {}},
            Node{"conv", "Conv", "", {"img", "Wc"}, {"c"}, {{"pads", Attribute::makeInts({1, 1, 1, 1})}}},
            Node{"bnc", "BatchNormalization", "", {"c", "s2", "b2", "m2", "v2"}, {"cb"}, {}},
            Node{"sum", "Add", "", {"cb", "c"}, {"z"}, {}},
        };
        const std::map<std::string, Tensor> feeds{{"x", testutil::randomTensor({5, 4}, 3)},
                                                  {"img", testutil::randomTensor({2, 2, 4, 4}, 4)}};
        const auto expected = Session(m, SessionOptions{1}).run(feeds);
        QCOMPARE(foldBatchNorm(m), 1);
        QVERIFY(!m.graph.findNode("bn"));
        QVERIFY(m.graph.findNode("bnc"));
        const auto actual = Session(m, SessionOptions{1}).run(feeds);
        for (const char *name : {"y", "z"}) {
            const QString mm = testutil::mismatch(actual.at(name), expected.at(name), 1e-5, 1e-5);
            QVERIFY2(mm.isEmpty(), qPrintable(QString(name) + ": " + mm));
        }
    }

    // A slice of the real data: the CNN must beat chance by far after one short epoch.
    void demoCnnLearnsFashionMnistSlice()
    {
        if (!fashionMnistAvailable())
            QSKIP("Debian's dataset-fashion-mnist is not installed");
        const Dataset trainData = loadDataset("fashion-mnist:train", {}, 3000);
        const Dataset testData = loadDataset("fashion-mnist", {}, 1000);
        Model model = buildDemoModel("cnn", 1);
        TrainOptions options = demoTrainOptions("cnn");
        options.epochs = 1;
        train(model, trainData, options);
        const double acc = accuracy(model, testData);
        QVERIFY2(acc > 0.7, qPrintable(QString::number(acc)));
    }

    // Shuffled batches of a streamed image folder (Dataset::gather decoding on demand) train exactly as the
    // same rows held in memory do.
    void streamedDatasetTrainsLikeInMemory()
    {
        if (!fashionMnistAvailable())
            QSKIP("Debian's dataset-fashion-mnist is not installed");
        QTemporaryDir dir;
        QString error;
        QVERIFY2(testutil::runPython("import sys\nsys.path.insert(0, '" + testutil::sourcePath("tests/tools") +
                                         "')\nimport image_reference\nimage_reference.fashion_mnist_pngs('pngs', 96)",
                                     dir.path(), &error),
                 qPrintable(error));
        Preprocess pre;
        fitImageInput(pre, buildDemoModel("cnn", 1).graph.inputs.front().shape);
        pre.resizeShorter = 28;
        const Dataset streamed = loadDataset(dir.filePath("pngs").toStdString(), pre);
        QVERIFY(streamed.x.isNull());
        QCOMPARE(streamed.size(), int64_t(96));
        Dataset memory;
        memory.x = streamed.batch(0, streamed.size());
        memory.labels = streamed.labels;

        TrainOptions options = demoTrainOptions("cnn");
        options.epochs = 2;
        options.batchSize = 16;
        options.threads = 1;
        Model a = buildDemoModel("cnn", 1), b = buildDemoModel("cnn", 1);
        const TrainResult ra = train(a, streamed, options), rb = train(b, memory, options);
        for (size_t e = 0; e < 2; ++e) {
            QCOMPARE(ra.epochs[e].loss, rb.epochs[e].loss);
            QCOMPARE(ra.epochs[e].accuracy, rb.epochs[e].accuracy);
        }
        const Tensor x = memory.batch(0, 8);
        const QString mm = testutil::mismatch(Session(a, SessionOptions{1}).run(x), Session(b, SessionOptions{1}).run(x), 0, 0);
        QVERIFY2(mm.isEmpty(), qPrintable(mm));
    }

    // Every augmented sample is its input moved by some (dy, dx) within the shift, zero-filled, and mirrored or
    // not (found by trying every candidate against a reference computed here); over 2000 samples every shift and
    // both mirror states occur. Shift 0 without flip changes nothing; anything but [N, C, H, W] is refused. Rows
    // channels last move the same pixels.
    void augmentationShiftsAndMirrors_data()
    {
        QTest::addColumn<int>("shift");
        QTest::addColumn<bool>("flip");
        QTest::newRow("shift 2 + flip") << 2 << true;
        QTest::newRow("shift 1") << 1 << false;
        QTest::newRow("flip") << 0 << true;
        QTest::newRow("none") << 0 << false;
    }
    void augmentationShiftsAndMirrors()
    {
        QFETCH(int, shift);
        QFETCH(bool, flip);
        const int64_t N = 2000, C = 2, H = 5, W = 6;
        const Tensor x = testutil::randomTensor({N, C, H, W}, 3, 0.5f, 1.5f); // no zeros: a moved pixel is visible
        TrainOptions::Augment augment;
        augment.shift = shift;
        augment.flip = flip;
        uint64_t rng = 11;
        const Tensor y = augmentBatch(x, augment, rng);
        QCOMPARE(y.shape(), x.shape());
        std::set<std::tuple<int, int, bool>> seen;
        for (int64_t n = 0; n < N; ++n) {
            bool matched = false;
            for (int dy = -shift; dy <= shift && !matched; ++dy)
                for (int dx = -shift; dx <= shift && !matched; ++dx)
                    for (bool mirror : {false, true}) {
                        if (mirror && !flip)
                            continue;
                        bool same = true;
                        for (int64_t c = 0; c < C && same; ++c)
                            for (int64_t h = 0; h < H && same; ++h)
                                for (int64_t w = 0; w < W && same; ++w) {
                                    const int64_t sh = h - dy, sw = (mirror ? W - 1 - w : w) - dx;
                                    const float expected = (sh >= 0 && sh < H && sw >= 0 && sw < W)
                                                               ? x.f32()[((n * C + c) * H + sh) * W + sw]
                                                               : 0.f;
                                    same = y.f32()[((n * C + c) * H + h) * W + w] == expected;
                                }
                        if (same) {
                            seen.insert({dy, dx, mirror});
                            matched = true;
                            break;
                        }
                    }
            QVERIFY2(matched, qPrintable(QString("sample %1 is no shift or mirror of its input").arg(n)));
        }
        QCOMPARE(int(seen.size()), (2 * shift + 1) * (2 * shift + 1) * (flip ? 2 : 1));

        uint64_t other = 11;
        QVERIFY(testutil::mismatch(augmentBatch(x, augment, other), y, 0, 0).isEmpty()); // the seed decides
        QVERIFY_THROWS_EXCEPTION(Error, augmentBatch(Tensor(DType::Float32, {4, 784}), augment, rng));

        // The same rows channels last ([N, H, W, C], an image folder read for an NHWC model): with the same draws,
        // the same pixels move, channels last.
        const auto channelsLast = [&](const Tensor &t) {
            Tensor last(DType::Float32, {N, H, W, C});
            for (int64_t n = 0; n < N; ++n)
                for (int64_t c = 0; c < C; ++c)
                    for (int64_t p = 0; p < H * W; ++p)
                        last.f32()[(n * H * W + p) * C + c] = t.f32()[(n * C + c) * H * W + p];
            return last;
        };
        uint64_t again = 11;
        const Tensor yLast = augmentBatch(channelsLast(x), augment, again, true);
        QCOMPARE(yLast.shape(), (Shape{N, H, W, C}));
        QVERIFY(testutil::mismatch(yLast, channelsLast(y), 0, 0).isEmpty());
    }

    // Training with augmentation is reproducible with its seed, differs from training without it, and refuses
    // samples that are not images.
    void trainsWithAugmentation()
    {
        Dataset data;
        data.name = "noise";
        data.x = testutil::randomTensor({64, 1, 28, 28}, 5);
        for (int64_t i = 0; i < 64; ++i)
            data.labels.push_back(i % 10);
        TrainOptions options = demoTrainOptions("cnn");
        options.epochs = 1;
        options.batchSize = 16;
        options.threads = 1;
        Model plain = buildDemoModel("cnn", 1), a = plain, b = plain;
        train(plain, data, options);
        options.augment.shift = 2;
        options.augment.flip = true;
        train(a, data, options);
        train(b, data, options);
        QVERIFY(sameWeights(a, b));
        QVERIFY(!sameWeights(a, plain));
        // The same images channels last (an image folder read for an NHWC model; one channel, so the same values):
        // augmented along their own axes, they train the same weights.
        Dataset last = data;
        last.x = data.x.reshaped({64, 28, 28, 1});
        last.channelsLast = true;
        Model c = buildDemoModel("cnn", 1);
        train(c, last, options);
        QVERIFY(sameWeights(a, c));
        Model m = mlp();
        QVERIFY_THROWS_EXCEPTION(Error, train(m, blobs(32, 1), options));
    }
};

QTEST_GUILESS_MAIN(TestTrain)
#include "test_train.moc"
