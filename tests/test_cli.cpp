// cwb, end to end: each command run as a process on the built-in demo, outputs checked against the same core
// functions called in-process, and failures checked for exit code and a one-line message.
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>

#include "core/io/dataset.h"
#include "core/io/model_io.h"
#include "core/runtime/session.h"
#include "tests/testutil.h"

namespace {
struct Result {
    int exitCode = -1;
    QByteArray out;
    QByteArray err;
};

Result cwb(const QStringList &args)
{
    QProcess p;
    p.start(QStringLiteral(CW_CWB_PATH), args);
    p.waitForFinished(600000);
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, p.readAllStandardOutput(),
            p.readAllStandardError()};
}

QJsonObject json(const Result &r)
{
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(r.out, &error);
    if (error.error != QJsonParseError::NoError)
        qWarning() << "not JSON:" << r.out.left(400);
    return doc.object();
}
} // namespace

class TestCli : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void info();
    void run();
    void eval();
    void bench();
    void exportFormats_data();
    void exportFormats();
    void train();
    void errors_data();
    void errors();
    void help_data();
    void help();
    void version();

private:
    QTemporaryDir m_dir;
};

void TestCli::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QVERIFY2(cw::isDemoModel("demo"), "the demo model must be built in");
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
    const cw::Tensor expected = cw::Session(cw::loadModel("demo")).run(input);
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

void TestCli::bench()
{
    const Result r = cwb({"bench", "demo", "--batch", "4", "--threads", "1", "--iterations", "5", "--warmup", "1",
                          "--json"});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const QJsonObject j = json(r);
    for (const char *key : {"p50_ms", "p90_ms", "mean_ms", "throughput_per_s"})
        QVERIFY2(j[key].toDouble() > 0, key);
    QVERIFY(j["p50_ms"].toDouble() <= j["p90_ms"].toDouble());
    QCOMPARE(j["batch"].toInt(), 4);
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
    QTest::newRow("negative limit") << QStringList{"eval", "demo", "--data", "fashion-mnist", "--limit", "-1"} << 1
                                    << "--limit";
    QTest::newRow("zero std") << QStringList{"eval", "demo", "--data", "fashion-mnist", "--std", "0"} << 1 << "--std";
    QTest::newRow("recipe file missing") << QStringList{"compress", "demo", "--recipe", "/nonexistent/r.json", "-o",
                                                        "/tmp/x.h5"}
                                         << 1 << "/nonexistent/r.json";
    QTest::newRow("input file missing") << QStringList{"run", "demo", "--input", "x=/nonexistent/in.npy", "-o", "/tmp/y.npy"}
                                        << 1 << "/nonexistent/in.npy";
    QTest::newRow("unknown architecture") << QStringList{"train", "--arch", "vgg", "-o", "/tmp/x.h5"} << 1 << "--arch";
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
    QTest::newRow("run") << QStringList{"run", "--help"} << QStringList{model, "--input", output, threads};
    QTest::newRow("eval") << QStringList{"eval", "--help"}
                          << QStringList{model, data, limit, batch, threads, json, "--scale", "--mean", "--std",
                                         "--layout"};
    QTest::newRow("bench") << QStringList{"bench", "--help"}
                           << QStringList{model, batch, threads, "--iterations", "--warmup", json};
    QTest::newRow("train") << QStringList{"train", "--help"}
                           << QStringList{"--arch", output, data, limit, threads, "--epochs", "--seed", json};
    QTest::newRow("export") << QStringList{"export", "--help"} << QStringList{model, output};
    QTest::newRow("stats") << QStringList{"stats", "--help"} << QStringList{model, "--layer", threads, json};
    QTest::newRow("sensitivity") << QStringList{"sensitivity", "--help"}
                                 << QStringList{model, data, limit, batch, threads, output, json, "--prune", "--bits",
                                                "2..8", "--granularity"};
    QTest::newRow("compress") << QStringList{"compress", "--help"}
                              << QStringList{model, "--recipe", output, data, limit, threads, json, "--train-data",
                                             "--bench-threads", "--no-measure"};
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

QTEST_GUILESS_MAIN(TestCli)
#include "test_cli.moc"
