// Projects (core/project): SHA-256 against coreutils, the Pareto frontier and the recommendation on hand-computed
// cases, the .cwproj round trip field by field, the base model found, moved or changed, h5py reading the file,
// saves killed with SIGKILL, concurrent additions, and the `cwb project` commands.
#include <QtTest>

#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRandomGenerator>
#include <QThread>

#include <filesystem>
#include <fstream>

#include "core/base/sha256.h"
#include "core/compress/compress.h"
#include "core/compress/sensitivity.h"
#include "core/io/bundle.h"
#include "core/io/model_io.h"
#include "core/graph/transform.h"
#include "core/project/compare.h"
#include "core/project/diff.h"
#include "core/lm/compress.h"
#include "core/lm/model.h"
#include "core/project/lm_project.h"
#include "core/project/project.h"
#include "core/quant/ggml_blocks.h"
#include "resources/demo_data.h"
#include "core/project/report.h"
#include "tests/testutil.h"

using namespace testutil;

namespace {

cw::VariantMetrics metrics(double accuracy, int64_t bytes, double p50)
{
    cw::VariantMetrics m;
    m.accuracy = accuracy;
    m.top5 = 0.99;
    m.loss = 0.25;
    m.samples = 1000;
    m.fileBytes = bytes;
    m.compressionRatio = 1664000.0 / double(bytes);
    m.memoryBytes = 3 * bytes; // round-trips like every other figure
    m.peakRssBytes = 40 * bytes;
    m.p50Batch1Ms = p50;
    m.p90Batch1Ms = p50 * 1.1;
    m.p50Batch64Ms = p50 * 40;
    m.p90Batch64Ms = p50 * 44;
    m.threads = 1;
    m.fidelity = {{"logits", 41.5, 0.9999, 0.125, 0.987, 10000}};
    return m;
}

// A variant of the demo with hand-made metrics (nothing here measures anything).
cw::ProjectVariant variantOf(const cw::Model &base, const std::string &name, const cw::VariantMetrics &m)
{
    cw::ProjectVariant pv;
    pv.variant.name = name;
    pv.variant.recipe = cw::recipeFromJson(R"({"name": ")" + name +
                                           R"(", "quantize": {"weights": {"bits": 8, "granularity": "channel"}}})");
    pv.variant.model = base.deepCopy();
    pv.variant.model.graph.initializers.begin()->second.data<float>()[0] += 0.5f; // not the base's weights
    pv.variant.metrics = m;
    pv.variant.measured = true;
    pv.origin = "compress";
    pv.provenance = cw::currentProvenance();
    pv.provenance.command = "cwb compress demo --recipe " + name + ".json --project p.cwproj";
    pv.provenance.evalData = "fashion-mnist";
    return pv;
}

QString fileText(const QString &path)
{
    QFile f(path);
    f.open(QIODevice::ReadOnly);
    return QString::fromUtf8(f.readAll());
}

size_t variantCount(const QString &path)
{
    return cw::loadProject(path.toStdString()).variants.size();
}

} // namespace

class TestProject : public QObject {
    Q_OBJECT
private slots:
    void sha256_data();
    void sha256();
    void sha256File();
    void pareto_data();
    void pareto();
    void recommendation();
    void roundTrip();
    void baseLocated();
    void readByH5py();
    void refusesOtherFiles();
    void killedSaves();
    void concurrentAdds();
    void cli();
    void reportText();
    void layerComparison();
    void saveKeepsWhatOthersAdded();
    void languageModelProject();
};

void TestProject::sha256_data()
{
    QTest::addColumn<QByteArray>("input");
    QTest::addColumn<QString>("digest");
    // FIPS 180-4 examples, and lengths around the 55 / 56 / 64-byte padding boundaries (digests from sha256sum).
    QTest::newRow("empty") << QByteArray() << "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    QTest::newRow("abc") << QByteArray("abc") << "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    QTest::newRow("two blocks")
        << QByteArray("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
        << "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
    QTest::newRow("55 bytes") << QByteArray(55, 'a') << "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318";
    QTest::newRow("56 bytes") << QByteArray(56, 'a') << "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a";
    QTest::newRow("64 bytes") << QByteArray(64, 'a') << "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb";
    QTest::newRow("a million") << QByteArray(1000000, 'a')
                               << "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
}

void TestProject::sha256()
{
    QFETCH(QByteArray, input);
    QFETCH(QString, digest);
    QCOMPARE(QString::fromStdString(cw::sha256Hex(std::string_view(input.constData(), size_t(input.size())))), digest);
    // Fed in uneven pieces, across block boundaries.
    cw::Sha256 h;
    for (qsizetype i = 0; i < input.size();) {
        const qsizetype n = std::min<qsizetype>(input.size() - i, 1 + (i * 7) % 97);
        h.update(input.constData() + i, size_t(n));
        i += n;
    }
    QCOMPARE(QString::fromStdString(h.hexDigest()), digest);
}

// A file of 3 MiB + 17 bytes (several read blocks) against coreutils' sha256sum.
void TestProject::sha256File()
{
    QTemporaryDir dir;
    const QString path = dir.filePath("blob.bin");
    {
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        QByteArray bytes(3 * 1024 * 1024 + 17, Qt::Uninitialized);
        QRandomGenerator rng(7);
        for (char &c : bytes)
            c = char(rng.bounded(256));
        f.write(bytes);
    }
    QString error;
    const QByteArray out = runProcess("sha256sum", {path}, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QCOMPARE(QString::fromStdString(cw::sha256File(path.toStdString())), QString::fromLatin1(out.left(64)));
    QVERIFY(errorOf([&] { cw::sha256File(dir.filePath("missing").toStdString()); }).contains("missing"));
}

void TestProject::pareto_data()
{
    QTest::addColumn<QList<QPointF>>("points"); // (cost, quality)
    QTest::addColumn<QList<int>>("frontier");   // by cost
    QTest::newRow("empty") << QList<QPointF>{} << QList<int>{};
    QTest::newRow("one") << QList<QPointF>{{5, 0.5}} << QList<int>{0};
    // Worked by hand: 1 (cost 1, 0.80) and 3 (2, 0.90) and 0 (4, 0.95) form the frontier; 2 (3, 0.85) is beaten
    // by 3, which is cheaper and better; 4 (5, 0.95) by 0 (cheaper, as good).
    QTest::newRow("five") << QList<QPointF>{{4, 0.95}, {1, 0.80}, {3, 0.85}, {2, 0.90}, {5, 0.95}}
                          << QList<int>{1, 3, 0};
    QTest::newRow("equal points both stay") << QList<QPointF>{{2, 0.9}, {2, 0.9}, {3, 0.8}} << QList<int>{0, 1};
    QTest::newRow("same cost, better wins") << QList<QPointF>{{2, 0.8}, {2, 0.9}} << QList<int>{1};
    QTest::newRow("dearer and better stays") << QList<QPointF>{{1, 0.5}, {9, 0.51}} << QList<int>{0, 1};
}

void TestProject::pareto()
{
    QFETCH(QList<QPointF>, points);
    QFETCH(QList<int>, frontier);
    std::vector<cw::TradeoffPoint> pts;
    for (const QPointF &p : points)
        pts.push_back({p.x(), p.y()});
    QList<int> got;
    for (size_t i : cw::paretoFrontier(pts))
        got.push_back(int(i));
    QCOMPARE(got, frontier);
}

void TestProject::recommendation()
{
    const cw::VariantMetrics base = metrics(0.92, 1664000, 0.06);
    const cw::VariantMetrics a = metrics(0.918, 440000, 0.065), b = metrics(0.905, 180000, 0.064),
                             c = metrics(0.80, 90000, 0.05);
    cw::VariantMetrics unmeasured;
    const std::vector<const cw::VariantMetrics *> all{&a, &b, &c, &unmeasured};

    // No limits: the most accurate measured variant; the unmeasured one is red.
    cw::Recommendation r = cw::recommend(base, all, {});
    QCOMPARE(r.best, 0);
    QCOMPARE(r.assessments[0].verdict, cw::Verdict::Green);
    QCOMPARE(r.assessments[3].verdict, cw::Verdict::Red);

    // 200 KiB and 1.6 points: a breaks the size (429.7 KiB), c the drop (12 points); b passes with room on size
    // (175.8 KiB, below 90 % of the limit) but not on the drop (1.5 points, above 90 % of 1.6): amber.
    cw::Constraints limits;
    limits.maxBytes = 200 * 1024;
    limits.maxDropPoints = 1.6;
    r = cw::recommend(base, all, limits);
    QCOMPARE(r.best, 1);
    QCOMPARE(r.assessments[0].verdict, cw::Verdict::Red);
    QVERIFY2(QString::fromStdString(r.assessments[0].reason).startsWith("size 429.69 > 200.00 KiB"),
             r.assessments[0].reason.c_str());
    QCOMPARE(r.assessments[1].verdict, cw::Verdict::Amber);
    QVERIFY2(QString::fromStdString(r.assessments[1].reason).startsWith("drop 1.50 within 10% of 1.60 points"),
             r.assessments[1].reason.c_str());
    QCOMPARE(r.assessments[2].verdict, cw::Verdict::Red);
    QCOMPARE(r.assessments[3].verdict, cw::Verdict::Red);
    QVERIFY2(QString::fromStdString(r.reason).contains("90.50%"), r.reason.c_str());

    // Nothing passes.
    limits.maxBytes = 1000;
    r = cw::recommend(base, all, limits);
    QCOMPARE(r.best, -1);
    QCOMPARE(QString::fromStdString(r.reason), QStringLiteral("no variant meets the limits"));

    // Without labels: the top-1 agreement against the base's 1.
    cw::VariantMetrics unlabelled = a;
    unlabelled.samples = 0;
    QCOMPARE(cw::variantQuality(unlabelled).kind, cw::QualityKind::Agreement);
    QCOMPARE(cw::variantQuality(unlabelled).value, 0.987);
    cw::Constraints drop;
    drop.maxDropPoints = 1.0;
    r = cw::recommend(cw::VariantMetrics{}, {&unlabelled}, drop);
    QCOMPARE(r.assessments[0].verdict, cw::Verdict::Red); // 1.3 points of agreement lost
    unlabelled.fidelity[0].top1Agreement = -1;             // not a classifier: cosine
    QCOMPARE(cw::variantQuality(unlabelled).kind, cw::QualityKind::Cosine);

    // Accuracy and agreement do not rank together: the variant measured differently from the first is red, and is
    // on no frontier, however high its figure.
    cw::VariantMetrics agreeing = a;
    agreeing.samples = 0; // its 0.987 agreement would beat every accuracy
    r = cw::recommend(base, {&a, &agreeing, &b}, {});
    QCOMPARE(r.best, 0);
    QCOMPARE(r.assessments[1].verdict, cw::Verdict::Red);
    QVERIFY2(QString::fromStdString(r.assessments[1].reason).contains("not comparable"), r.assessments[1].reason.c_str());
    QCOMPARE(cw::onFrontier({&a, &agreeing, &b}, cw::Cost::FileBytes), (std::vector<bool>{true, false, true}));
    // Peak memory as the cost: measured in proportion to the file here, so the same frontier; unmeasured, none.
    QCOMPARE(cw::onFrontier({&a, &agreeing, &b}, cw::Cost::PeakRss), (std::vector<bool>{true, false, true}));
    QCOMPARE(*cw::variantCost(b, cw::Cost::PeakRss), double(b.peakRssBytes));
    QVERIFY(!cw::variantCost(cw::VariantMetrics{}, cw::Cost::PeakRss));
    QCOMPARE(*cw::qualityDrop(base, b), (0.92 - 0.905) * 100);
    QCOMPARE(*cw::speedup(base, c), 0.06 / 0.05);
}

// Everything a project holds survives save and load: base (spec, digest, analyses, metrics), datasets,
// constraints, and per variant its name, origin, recipe, metrics, provenance and weights.
void TestProject::roundTrip()
{
    QTemporaryDir dir;
    cw::Project p = cw::newProject("demo");
    QCOMPARE(p.baseFile.sha256.size(), size_t(64));
    p.base.analysis[cw::kSensitivityKey] = R"({"layers": [], "note": "made by hand"})";
    p.baseMetrics = metrics(0.92, 1664000, 0.06);
    cw::recordDataset(p, cw::datasetRecord("evaluation", "fashion-mnist"));
    QCOMPARE(p.datasets.size(), size_t(1));
    QCOMPARE(p.datasets[0].files.size(), size_t(2)); // images and labels
    p.constraints.maxBytes = 300000;
    p.constraints.maxDropPoints = 1.0;
    cw::addVariant(p, variantOf(p.base, "int8", metrics(0.918, 440000, 0.065)));
    cw::VariantMetrics skipped = metrics(0.90, 180000, 0.064);
    skipped.batch64Skipped = "the graph fixes batch 1";
    skipped.fidelity.push_back({"features", 30.25, 0.998, 0.5, -1, 64});
    cw::addVariant(p, variantOf(p.base, "int8", skipped)); // the name is taken: "int8 (2)"
    QCOMPARE(p.variants[1].variant.name, std::string("int8 (2)"));
    cw::ProjectVariant unmeasured = variantOf(p.base, "draft", {});
    unmeasured.variant.measured = false;
    unmeasured.origin = "distill";
    cw::addVariant(p, unmeasured);

    const std::string path = dir.filePath("p.cwproj").toStdString();
    cw::saveProject(p, path);
    const cw::Project q = cw::loadProject(path);
    QCOMPARE(q.baseSpec, p.baseSpec);
    QVERIFY(q.baseFile == p.baseFile);
    QCOMPARE(q.embedBase, p.embedBase);
    QVERIFY(q.base.analysis == p.base.analysis);
    QVERIFY(sameWeights(q.base, p.base));
    QVERIFY(q.baseMetrics);
    QCOMPARE(cw::metricsToJson(*q.baseMetrics), cw::metricsToJson(*p.baseMetrics));
    QVERIFY(q.datasets == p.datasets);
    QVERIFY(q.constraints == p.constraints);
    QCOMPARE(q.variants.size(), p.variants.size());
    for (size_t i = 0; i < p.variants.size(); ++i) {
        const cw::ProjectVariant &a = p.variants[i], &b = q.variants[i];
        QCOMPARE(b.variant.name, a.variant.name);
        QCOMPARE(b.origin, a.origin);
        QVERIFY(b.provenance == a.provenance);
        QCOMPARE(b.variant.measured, a.variant.measured);
        QCOMPARE(cw::recipeToJson(b.variant.recipe), cw::recipeToJson(a.variant.recipe));
        QCOMPARE(cw::metricsToJson(b.variant.metrics), cw::metricsToJson(a.variant.metrics));
        QVERIFY(sameWeights(b.variant.model, a.variant.model));
        QVERIFY(!sameWeights(b.variant.model, q.base));
        QCOMPARE(b.variant.model.graph.nodes.size(), a.variant.model.graph.nodes.size());
        QVERIFY(b.variant.model.analysis == a.variant.model.analysis);
    }
    QVERIFY(!q.variants[2].variant.model.analysis.count(cw::kMetricsKey));
    QCOMPARE(q.variants[1].variant.metrics.batch64Skipped, std::string("the graph fixes batch 1"));
    // Saved again unchanged, the JSON view is the same.
    cw::saveProject(q, path);
    QCOMPARE(cw::projectToJson(cw::loadProject(path)), cw::projectToJson(p));
}

// A base that is a file: embedded, it travels with the project; referenced, it is found where it was or beside
// the project after both moved, and refused when missing or changed.
void TestProject::baseLocated()
{
    QTemporaryDir dir;
    const QString modelPath = dir.filePath("work/model.h5");
    QVERIFY(QDir().mkpath(dir.filePath("work")));
    cw::saveModel(cw::loadModel("demo"), modelPath.toStdString());
    const QString projectPath = dir.filePath("work/p.cwproj");
    cw::Project p = cw::newProject(modelPath.toStdString());
    QVERIFY(QString::fromStdString(p.baseSpec).startsWith('/'));
    cw::addVariant(p, variantOf(p.base, "int8", metrics(0.918, 440000, 0.065)));
    cw::saveProject(p, projectPath.toStdString());
    QCOMPARE(variantCount(projectPath), size_t(1));

    // Moved together: found by the path relative to the project.
    QVERIFY(QDir().rename(dir.filePath("work"), dir.filePath("moved")));
    const QString movedProject = dir.filePath("moved/p.cwproj");
    cw::Project moved = cw::loadProject(movedProject.toStdString());
    QVERIFY(sameWeights(moved.base, p.base));

    // A different file where the model was, the right one beside the moved project: the right one is taken, and
    // the project now refers to it there.
    QVERIFY(QDir().mkpath(dir.filePath("work")));
    cw::saveModel(cw::loadModel("demo-resnet"), modelPath.toStdString());
    moved = cw::loadProject(movedProject.toStdString());
    QCOMPARE(QString::fromStdString(moved.baseSpec), QFileInfo(dir.filePath("moved/model.h5")).absoluteFilePath());
    QVERIFY(sameWeights(moved.base, p.base));
    QVERIFY(QFile::remove(modelPath));

    // Changed: refused, naming the file.
    {
        cw::Model other = cw::loadModel("demo-resnet");
        cw::saveModel(other, dir.filePath("moved/model.h5").toStdString());
    }
    QString error = errorOf([&] { cw::loadProject(movedProject.toStdString()); });
    QVERIFY2(error.contains("has changed since the project was saved"), qPrintable(error));
    QVERIFY2(error.contains("model.h5"), qPrintable(error));

    // Missing: refused with what to do.
    QVERIFY(QFile::remove(dir.filePath("moved/model.h5")));
    error = errorOf([&] { cw::loadProject(movedProject.toStdString()); });
    QVERIFY2(error.contains("is not there any more") && error.contains("p.cwproj"), qPrintable(error));

    // Embedded: needs no file.
    cw::saveModel(cw::loadModel("demo"), dir.filePath("base.h5").toStdString());
    cw::Project e = cw::newProject(dir.filePath("base.h5").toStdString());
    e.embedBase = true;
    e.base.analysis["note"] = "embedded analysis";
    cw::saveProject(e, dir.filePath("e.cwproj").toStdString());
    QVERIFY(QFile::remove(dir.filePath("base.h5")));
    const cw::Project back = cw::loadProject(dir.filePath("e.cwproj").toStdString());
    QVERIFY(back.embedBase);
    QVERIFY(sameWeights(back.base, e.base));
    QCOMPARE(back.base.analysis.at("note"), std::string("embedded analysis"));
}

// The layout docs/formats.md gives, read with h5py: the document, each variant's recipe and metrics, the weights.
void TestProject::readByH5py()
{
    QTemporaryDir dir;
    cw::Project p = cw::newProject("demo");
    cw::addVariant(p, variantOf(p.base, "int8", metrics(0.918, 440000, 0.065)));
    cw::saveProject(p, dir.filePath("p.cwproj").toStdString());
    const std::string firstWeight = p.variants[0].variant.model.graph.initializers.begin()->first;
    const float firstValue = p.variants[0].variant.model.graph.initializers.begin()->second.data<float>()[0];
    QString error;
    const QString code = QStringLiteral(R"(
import h5py, json
text = lambda v: v.decode() if isinstance(v, bytes) else v
f = h5py.File('p.cwproj', 'r')
assert text(f.attrs['format']) == 'compression-workbench-project', f.attrs['format']
assert f.attrs['format_version'] == 1
doc = json.loads(f['document'][()])
v = doc['variants'][0]
assert v['name'] == 'int8' and v['origin'] == 'compress', v
g = f['models'][v['model']]
metrics = json.loads(g['analysis']['metrics'][()])
assert abs(metrics['accuracy'] - 0.918) < 1e-12, metrics
recipe = json.loads(g['analysis']['recipe'][()])
assert recipe['quantize']['weights']['bits'] == 8, recipe
w = g['initializers'][list(g['initializers'].keys())[0]]
assert text(w.attrs['name']) == '%1', w.attrs['name']
assert abs(float(w[()].flat[0]) - %2) < 1e-6, float(w[()].flat[0])
assert doc['base']['spec'] == 'demo' and len(doc['base']['file']['sha256']) == 64
)")
                             .arg(QString::fromStdString(firstWeight))
                             .arg(double(firstValue), 0, 'g', 9);
    QVERIFY2(runPython(code, dir.path(), &error), qPrintable(error));
}

void TestProject::refusesOtherFiles()
{
    QTemporaryDir dir;
    const std::string model = dir.filePath("model.h5").toStdString();
    cw::saveModel(cw::loadModel("demo"), model);
    QString error = errorOf([&] { cw::loadProject(model); });
    QVERIFY2(error.contains("not a 'compression-workbench-project'") || error.contains("no /document") ||
                 error.contains("is a 'compression-workbench-model'"),
             qPrintable(error));
    std::ofstream(dir.filePath("junk.cwproj").toStdString()) << "not hdf5";
    error = errorOf([&] { cw::loadProject(dir.filePath("junk.cwproj").toStdString()); });
    QVERIFY2(error.contains("junk.cwproj") && error.contains("not an HDF5 file"), qPrintable(error));
    error = errorOf([&] { cw::loadProject(dir.filePath("none.cwproj").toStdString()); });
    QVERIFY2(error.contains("none.cwproj"), qPrintable(error));
    // A variant of another model cannot join.
    const cw::Project p = cw::newProject("demo");
    error = errorOf([&] { cw::requireBase(p, "demo-resnet"); });
    QVERIFY2(error.contains("base model is 'demo'"), qPrintable(error));
    error = errorOf([&] { cw::requireBase(p, model); });
    QVERIFY2(error.contains("not '" + QString::fromStdString(model) + "'"), qPrintable(error));
}

// `cwb project add` killed with SIGKILL at random moments, 30 times: the project always loads, with the variants it
// had or one more; a completed save leaves no temporary behind.
void TestProject::killedSaves()
{
    QTemporaryDir dir;
    const QString project = dir.filePath("p.cwproj"), variant = dir.filePath("v.h5");
    cw::saveModel(cw::loadModel("demo"), variant.toStdString());
    ProcessResult r = runCwb({"project", "new", project, "demo"});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    r = runCwb({"project", "add", project, variant});
    QVERIFY2(r.exitCode == 0, r.err.constData());

    QElapsedTimer timer;
    timer.start();
    r = runCwb({"project", "add", project, variant});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const int spanMs = std::max<int>(int(timer.elapsed() * 12 / 10), 20);
    size_t count = variantCount(project);
    QCOMPARE(count, size_t(2));
    int killed = 0;
    QRandomGenerator rng(20261130);
    for (int i = 0; i < 30; ++i) {
        QProcess p;
        p.start(QStringLiteral(CW_CWB_PATH), {"project", "add", project, variant});
        QVERIFY(p.waitForStarted());
        QThread::msleep(rng.bounded(spanMs));
        p.kill();
        QVERIFY(p.waitForFinished());
        killed += p.exitStatus() == QProcess::CrashExit;
        size_t now = 0;
        const QString error = errorOf([&] { now = variantCount(project); });
        QVERIFY2(error.isEmpty(), qPrintable(QStringLiteral("iteration %1: %2").arg(i).arg(error)));
        QVERIFY2(now == count || now == count + 1, qPrintable(QStringLiteral("iteration %1: %2 variants").arg(i).arg(now)));
        count = now;
    }
    qInfo("30 additions killed, %d before exiting; the project has %zu variants", killed, count);
    QVERIFY2(killed > 0, "no addition was killed: the delays are longer than an addition");
    r = runCwb({"project", "add", project, variant});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const QStringList left = QDir(dir.path()).entryList({"*cwtmp*"}, QDir::Files | QDir::Hidden);
    QVERIFY2(left.isEmpty(), qPrintable(left.join(", ")));
}

// Six `cwb project add` at once on one project: the lock serialises them and none is lost.
void TestProject::concurrentAdds()
{
    QTemporaryDir dir;
    const QString project = dir.filePath("p.cwproj"), variant = dir.filePath("v.h5");
    cw::saveModel(cw::loadModel("demo"), variant.toStdString());
    ProcessResult r = runCwb({"project", "new", project, "demo"});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    std::vector<std::unique_ptr<QProcess>> runs;
    for (int i = 0; i < 6; ++i) {
        runs.push_back(std::make_unique<QProcess>());
        runs.back()->start(QStringLiteral(CW_CWB_PATH), {"project", "add", project, variant, "--name", "v"});
    }
    for (auto &p : runs) {
        QVERIFY(p->waitForFinished(120000));
        QVERIFY2(p->exitCode() == 0, p->readAllStandardError().constData());
    }
    const cw::Project p = cw::loadProject(project.toStdString());
    QCOMPARE(p.variants.size(), size_t(6));
    QStringList names;
    for (const auto &v : p.variants)
        names << QString::fromStdString(v.variant.name);
    names.sort();
    QCOMPARE(names, (QStringList{"v", "v (2)", "v (3)", "v (4)", "v (5)", "v (6)"}));
}

// The commands end to end: compress two recipes into a project (a batch run), list and show it, limits given
// on the command line, errors for a foreign model and a missing project.
void TestProject::cli()
{
    QTemporaryDir dir;
    const QString project = dir.filePath("p.cwproj");
    auto writeRecipe = [&](const QString &name, const QByteArray &json) {
        QVERIFY(testutil::writeFile(dir.filePath(name), json));
    };
    writeRecipe("int8.json", R"({"name": "int8", "quantize": {"weights": {"bits": 8, "granularity": "channel"}}})");
    writeRecipe("p50.json", R"({"name": "p50-int4", "prune": {"method": "magnitude", "ratio": 0.5},
                               "quantize": {"weights": {"bits": 4, "granularity": "channel"}}})");
    ProcessResult r = runCwb({"project", "new", project, "demo", "--max-drop", "1"});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    r = runCwb({"project", "new", project, "demo"});
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(r.err.contains("exists already"), r.err.constData());
    for (const char *recipe : {"int8.json", "p50.json"}) {
        r = runCwb({"compress", "demo", "--recipe", dir.filePath(recipe), "--project", project, "--data", "fashion-mnist",
                    "--limit", "500", "--train-limit", "500", "--iterations", "5"});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QVERIFY2(r.out.contains("added variant"), r.out.constData());
    }
    r = runCwb({"project", "show", project, "--json"});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const QJsonObject doc = QJsonDocument::fromJson(r.out).object();
    const QJsonArray variants = doc["variants"].toArray();
    QCOMPARE(variants.size(), 2);
    QCOMPARE(variants[0].toObject()["name"].toString(), QStringLiteral("int8"));
    QVERIFY(variants[0].toObject()["provenance"].toObject()["command"].toString().contains("--recipe"));
    QCOMPARE(variants[0].toObject()["provenance"].toObject()["data"].toString(), QStringLiteral("fashion-mnist"));
    QVERIFY(!doc["base"].toObject()["metrics"].isNull());
    QCOMPARE(doc["datasets"].toArray().size(), 2); // evaluation and training
    // int8 keeps the accuracy within a point; 50 % pruning plus 4 bits without fine-tuning does not.
    QCOMPARE(variants[0].toObject()["verdict"].toObject()["verdict"].toString(), QStringLiteral("green"));
    QCOMPARE(variants[1].toObject()["verdict"].toObject()["verdict"].toString(), QStringLiteral("red"));
    QCOMPARE(doc["recommendation"].toObject()["variant"].toString(), QStringLiteral("int8"));
    QVERIFY(variants[1].toObject()["pareto"].toObject()["size"].toBool()); // the smallest file is on the frontier

    // A size limit on the command line turns int8 red too.
    r = runCwb({"project", "list", project, "--max-size", "100K"});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    QVERIFY2(r.out.contains("red: size"), r.out.constData());
    r = runCwb({"project", "show", project});
    QVERIFY2(r.exitCode == 0 && r.out.contains("recommended: int8"), r.out.constData() + r.err);
    r = runCwb({"project", "list", project, "--max-size", "lots"});
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(r.err.contains("--max-size"), r.err.constData());

    // Layer by layer, what compareLayers says; variants by name or number.
    r = runCwb({"project", "diff", project, "int8", "2", "--json"});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const QJsonArray layers = QJsonDocument::fromJson(r.out).object()["layers"].toArray();
    const std::vector<cw::LayerComparison> rows = cw::compareLayers(cw::loadProject(project.toStdString()), 0, 1);
    QCOMPARE(layers.size(), qsizetype(rows.size()));
    for (qsizetype l = 0; l < layers.size(); ++l) {
        const QJsonObject j = layers[l].toObject();
        QCOMPARE(j["layer"].toString().toStdString(), rows[size_t(l)].layer);
        QCOMPARE(j["differs"].toBool(), rows[size_t(l)].differs);
        QCOMPARE(j["a"].toObject()["settings"].toString(), QStringLiteral("8 bit, channel"));
        QCOMPARE(j["b"].toObject()["settings"].toString(), QStringLiteral("magnitude 0.5 · 4 bit, channel"));
        QCOMPARE(j["b"].toObject()["sqnr_db"].toDouble(), rows[size_t(l)].b.error->sqnrDb);
        QCOMPARE(j["b"].toObject()["stored_bytes"].toInteger(), rows[size_t(l)].b.storedBytes);
    }
    r = runCwb({"project", "diff", project, "base", "int8"});
    QVERIFY2(r.exitCode == 0 && r.out.contains("* conv1") && r.out.contains("exact"), r.out.constData());
    r = runCwb({"project", "diff", project, "base", "3"});
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(r.err.contains("no variant '3'"), r.err.constData());

    // A variant of another model, a project that does not exist, no output at all.
    r = runCwb({"compress", "demo-resnet", "--recipe", dir.filePath("int8.json"), "--project", project, "--no-measure"});
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(r.err.contains("base model is 'demo'"), r.err.constData());
    r = runCwb({"project", "add", dir.filePath("none.cwproj"), dir.filePath("int8.json")});
    QCOMPARE(r.exitCode, 1);
    r = runCwb({"compress", "demo", "--recipe", dir.filePath("int8.json")});
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(r.err.contains("--project"), r.err.constData());
    QCOMPARE(variantCount(project), size_t(2));

    // A variant saved by compress carries its metrics into the project it is added to.
    r = runCwb({"compress", "demo", "--recipe", dir.filePath("int8.json"), "-o", dir.filePath("int8.h5"), "--data",
                "fashion-mnist", "--limit", "200", "--iterations", "3"});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    r = runCwb({"project", "add", project, dir.filePath("int8.h5")});
    QVERIFY2(r.exitCode == 0 && r.out.contains("added variant 'int8 (2)'") && !r.out.contains("not measured"),
             r.out.constData());
    const cw::Project added = cw::loadProject(project.toStdString());
    QVERIFY(added.variants.back().variant.measured);
    QCOMPARE(added.variants.back().origin, std::string("import"));
}

// The report's text (core/project/report.h): summary with the recommendation and a verdict per variant, the
// chart placeholders, every variant's row, settings and command, the heatmap only with a stored sweep, the data's
// hashes; names are escaped.
void TestProject::reportText()
{
    cw::Project p = cw::newProject("demo");
    p.baseMetrics = metrics(0.92, 1664000, 0.06);
    cw::recordDataset(p, cw::datasetRecord("evaluation", "fashion-mnist"));
    cw::addVariant(p, variantOf(p.base, "int8", metrics(0.918, 440000, 0.065)));
    cw::addVariant(p, variantOf(p.base, "w4 <tensor>", metrics(0.85, 230000, 0.064)));
    p.constraints.maxDropPoints = 1.0;
    std::string html = cw::reportHtml(p, "demo.cwproj");
    const QString h = QString::fromStdString(html);
    QVERIFY(h.contains("<h1>Compression report: demo.cwproj</h1>"));
    QVERIFY2(h.contains("Recommended: <b>int8</b>"), qPrintable(h.left(2000)));
    QVERIFY(h.contains("quality drop at most 1 pt"));
    QVERIFY(h.contains("w4 &lt;tensor&gt;") && !h.contains("w4 <tensor>"));
    QCOMPARE(h.count("src=\"chart:"), int(cw::reportCharts().size()));
    QVERIFY(h.contains("bgcolor=\"#ffcdd2\"")); // the red row of w4 (7 points lost)
    const QString sha = QString::fromStdString(p.datasets[0].files[0].sha256); // in two lines of 32 digits
    QVERIFY(h.contains(sha.left(32) + "<br>" + sha.mid(32)));
    QVERIFY(h.contains("cwb compress demo --recipe int8.json"));
    QVERIFY(h.contains("Per-layer settings") && h.contains("8 bit, channel"));
    QVERIFY(!h.contains("<h2 style=\"page-break-before: always\">Sensitivity"));
    // A stored sweep adds the heatmap.
    cw::SensitivityResult s;
    s.options.pruneRatios = {0.5};
    s.options.bits = {4};
    s.samples = 100;
    s.dataset = "fashion-mnist";
    cw::LayerSensitivity l;
    l.name = "conv1";
    l.prune = {cw::SensitivityTrial{}};
    l.prune[0].drop = 0.05;
    l.bits = {cw::SensitivityTrial{}};
    s.layers = {l};
    p.base.analysis[cw::kSensitivityKey] = cw::sensitivityToJson(s);
    const QString withSweep = QString::fromStdString(cw::reportHtml(p, "demo.cwproj"));
    QVERIFY(withSweep.contains("Sensitivity</h2>"));
    QVERIFY(withSweep.contains("bgcolor=\"#ff5350\">5.00")); // 5 points: the darkest red
}

// Two models side by side: the settings come from each recipe, the errors from the weights as stored (a 4-bit
// variant's integers dequantized) against the base with BatchNorm folded, computed here independently.
void TestProject::layerComparison()
{
    cw::Project p = cw::newProject("demo");
    cw::CompressOptions o;
    o.measure = false;
    o.threads = 2;
    const auto add = [&](const char *name, const char *recipe) {
        cw::ProjectVariant pv;
        pv.variant = cw::compress(p.base, cw::recipeFromJson(recipe), nullptr, nullptr, o);
        pv.variant.name = name;
        pv.origin = "compress";
        cw::addVariant(p, pv);
    };
    add("w4", R"({"quantize": {"weights": {"bits": 4}, "bias_correction": false}})");
    add("p50", R"({"prune": {"method": "magnitude", "ratio": 0.5}})");

    cw::Model folded = p.base.deepCopy();
    cw::foldBatchNorm(folded);
    const std::vector<cw::LayerComparison> rows = cw::compareLayers(p, -1, 0);
    QCOMPARE(int(rows.size()), 4);
    const std::vector<cw::IntegerLayerWeight> stored = cw::integerLayerWeights(p.variants[0].variant.model.graph);
    QCOMPARE(int(stored.size()), 4);
    for (size_t l = 0; l < rows.size(); ++l) {
        const cw::LayerComparison &r = rows[l];
        QCOMPARE(r.layer, stored[l].layer);
        QCOMPARE(r.a.settings, std::string("base"));
        QCOMPARE(r.b.settings, std::string("4 bit, channel"));
        QVERIFY(r.differs);
        QVERIFY(r.a.error && std::isinf(r.a.error->sqnrDb)); // the base against itself
        const cw::Tensor &reference = folded.graph.initializers.at(cw::findLayer(folded.graph, r.layer)->weight);
        const cw::Tensor values = cw::dequantizeLayerWeight(p.variants[0].variant.model.graph, stored[l]);
        QVERIFY(r.b.error);
        QCOMPARE(r.b.error->sqnrDb, cw::weightError(reference, values).sqnrDb);
        QVERIFY(r.b.error->sqnrDb > 10 && r.b.error->sqnrDb < 40);
        const auto &inits = p.variants[0].variant.model.graph.initializers;
        // 4-bit integers packed, a float scale and an int8 zero point per output channel.
        const int64_t n = inits.at(stored[l].q).numel(), channels = inits.at(stored[l].scale).numel();
        QCOMPARE(r.b.storedBytes, (n * 4 + 7) / 8 + channels * 5);
        QCOMPARE(r.a.storedBytes, int64_t(reference.byteSize()));
        const cw::Tensor shown = cw::layerWeightValues(p, 0, r.layer);
        QCOMPARE(shown.numel(), values.numel());
        QVERIFY(std::equal(values.f32(), values.f32() + values.numel(), shown.f32()));
    }

    // Two variants: the pruned one holds half zeros in every layer, float bytes.
    const std::vector<cw::LayerComparison> pair = cw::compareLayers(p, 0, 1);
    for (const cw::LayerComparison &r : pair) {
        QCOMPARE(r.b.settings, std::string("magnitude 0.5"));
        QVERIFY2(std::abs(r.b.zeroFraction - 0.5) < 0.01, qPrintable(QString::number(r.b.zeroFraction)));
        QCOMPARE(r.b.storedBytes, int64_t(r.b.shape.empty() ? 0 : cw::shapeNumel(r.b.shape) * 4));
        QVERIFY(r.differs);
    }
    // The same model on both sides differs nowhere.
    for (const cw::LayerComparison &r : cw::compareLayers(p, 1, 1))
        QVERIFY(!r.differs);
    QVERIFY_THROWS_EXCEPTION(cw::Error, cw::compareLayers(p, -1, 2));
    QVERIFY(cw::layerWeightValues(p, 0, "relu1").isNull());
}

// A program holding a project read from a file saves it while another added to the file meanwhile: the other's
// variants are kept (also two identical ones), the variant this program removed stays removed, its own addition
// is written; a file that is gone is simply written.
void TestProject::saveKeepsWhatOthersAdded()
{
    QTemporaryDir dir;
    const std::string path = dir.filePath("p.cwproj").toStdString();
    cw::Project p = cw::newProject("demo");
    cw::addVariant(p, variantOf(p.base, "a", metrics(0.92, 440000, 0.06)));
    cw::addVariant(p, variantOf(p.base, "b", metrics(0.91, 300000, 0.05)));
    cw::saveProject(p, path);

    cw::Project held = cw::loadProject(path); // what the GUI holds
    std::multiset<std::string> known;
    for (const cw::ProjectVariant &v : held.variants)
        known.insert(cw::variantIdentity(v));
    const cw::ProjectVariant other = variantOf(held.base, "from cwb", metrics(0.90, 200000, 0.04));
    cw::updateProject(path, [] { return cw::Project{}; }, [&](cw::Project &disk) {
        cw::addVariant(disk, other);
        cw::addVariant(disk, other); // a second, identical run
        disk.datasets.push_back({"evaluation", "fashion-mnist", {}});
    });
    held.variants.erase(held.variants.begin()); // the GUI removes "a"...
    cw::addVariant(held, variantOf(held.base, "gui", metrics(0.89, 100000, 0.03))); // ...and adds "gui"
    const std::vector<cw::ProjectVariant> added = cw::saveProjectMerging(held, path, known);
    QCOMPARE(int(added.size()), 2);
    QCOMPARE(added[0].variant.name, std::string("from cwb"));
    QCOMPARE(added[1].variant.name, std::string("from cwb (2)"));
    const cw::Project back = cw::loadProject(path);
    QStringList names;
    for (const cw::ProjectVariant &v : back.variants)
        names << QString::fromStdString(v.variant.name);
    QCOMPARE(names, (QStringList{"b", "gui", "from cwb", "from cwb (2)"}));
    QCOMPARE(held.variants.size(), back.variants.size());
    QCOMPARE(int(back.datasets.size()), 1); // the record the merged variants were measured on
    QCOMPARE(cw::variantIdentity(back.variants[2]), cw::variantIdentity(other));

    // Nothing new: nothing added; the file gone: written as it is.
    known.clear();
    for (const cw::ProjectVariant &v : held.variants)
        known.insert(cw::variantIdentity(v));
    QVERIFY(cw::saveProjectMerging(held, path, known).empty());
    QVERIFY(std::filesystem::remove(path));
    QVERIFY(cw::saveProjectMerging(held, path, known).empty());
    QCOMPARE(cw::loadProject(path).variants.size(), size_t(4));
}

void TestProject::languageModelProject()
{
    // A language model's project: a Q4_0 variant of demo-lm (its encoded tensors, per-tensor results, a fine-tuning
    // curve with a non-finite loss, measurements) and a sensitivity sweep come back from the file as they went in;
    // the reopened variant exports the GGUF the live one exports, byte for byte; h5py reads a tensor's bytes; the
    // base is found beside a moved project and refused when it changed; a CNN project is not read as one.
    QTemporaryDir dir;
    const QString base = dir.filePath("base.gguf");
    const std::string_view demo = cw::demoModelBytes("demo-lm");
    QVERIFY(!demo.empty());
    QVERIFY(writeFile(base, QByteArray(demo.data(), qsizetype(demo.size()))));
    auto model = cw::lm::LanguageModel::open(base.toStdString());
    model->load();
    const cw::Recipe recipe = cw::recipeFromJson(R"({"name": "q4", "quantize": {"weights": {"format": "q4_0"}}})");
    auto result = std::make_shared<cw::lm::LmCompressResult>(cw::lm::compressLanguageModel(*model, recipe, {}));
    result->finetune = cw::lm::LmFinetuneResult{3, 8, 128, true, {3.25, INFINITY, 2.5}, 1.5};
    cw::LmProject p = cw::newLmProject(base.toStdString());
    QCOMPARE(p.baseFile.sha256, cw::sha256Hex(demo));
    cw::LmProjectVariant v;
    v.name = "q4";
    v.recipe = recipe;
    v.result = result;
    v.perplexity.perplexity = 246.9752;
    v.perplexity.nll = std::log(246.9752);
    v.perplexity.scored = 252;
    v.perplexity.chunks = 4;
    v.perplexity.chunkPerplexity = {250.5, 246.9752};
    v.basePerplexity = 244.4595;
    v.speed = {128, 32, 30844.5, 2402.75};
    v.baseSpeed = {128, 32, 31000.25, 2300.5};
    v.evaluation = "brown:heldout";
    v.provenance = cw::currentProvenance();
    v.provenance.command = "cwb compress base.gguf --recipe q4.json --project p.cwproj";
    cw::addLmVariant(p, v);
    cw::addLmVariant(p, v); // a name taken gets a number
    QCOMPARE(p.variants[1].name, std::string("q4 (2)"));
    cw::lm::SensitivityResult sweep;
    sweep.basePerplexity = 244.4595;
    sweep.scored = 126;
    sweep.ctx = 128;
    sweep.rows.push_back({"blk.0.ffn_up.weight", "ffn_up", 0, "Q4_0", 245.5, 1.0405, 0.0042, 27.0, 36864});
    sweep.rows.push_back({"blk.0.ffn_up.weight", "ffn_up", 0, "Q8_0", 244.4595, 0, 0, INFINITY, 69632});
    p.sensitivity = sweep;
    p.sensitivityText = "brown:heldout";
    const QString path = dir.filePath("p.cwproj");
    cw::saveLmProject(p, path.toStdString());
    QVERIFY(cw::isLmProjectFile(path.toStdString()));

    const cw::LmProject back = cw::loadLmProject(path.toStdString());
    QCOMPARE(QString::fromStdString(cw::lmProjectToJson(back)), QString::fromStdString(cw::lmProjectToJson(p)));
    QCOMPARE(back.variants.size(), size_t(2));
    const cw::lm::LmCompressResult &r = *back.variants[0].result;
    QCOMPARE(r.encoded.size(), result->encoded.size());
    for (const auto &[name, e] : result->encoded) {
        QVERIFY2(r.encoded.count(name), name.c_str());
        QCOMPARE(r.encoded.at(name).type, e.type);
        QVERIFY2(r.encoded.at(name).bytes == e.bytes, name.c_str());
    }
    QVERIFY(std::isinf(r.finetune->loss[1]) && r.finetune->distilled);
    QVERIFY(std::isinf(back.sensitivity->rows[1].sqnrDb));
    QCOMPARE(back.sensitivityText, std::string("brown:heldout"));
    // The reopened variant exports what the live one exports (the base checkpoint plus its encoded tensors).
    cw::lm::exportGguf(*model, dir.filePath("live.gguf").toStdString(), false, result->encoded);
    auto reopened = cw::lm::LanguageModel::open(cw::locateLmBase(back, path.toStdString()));
    cw::lm::exportGguf(*reopened, dir.filePath("reopened.gguf").toStdString(), false, r.encoded);
    QCOMPARE(cw::sha256File(dir.filePath("reopened.gguf").toStdString()),
             cw::sha256File(dir.filePath("live.gguf").toStdString()));

    // h5py reads the document and a tensor's bytes.
    const std::string tensor = "blk.0.ffn_up.weight";
    const std::string &bytes = result->encoded.at(tensor).bytes;
    QString error;
    const QString code = QStringLiteral(R"(
import h5py, json, hashlib
f = h5py.File('p.cwproj', 'r')
fmt = f.attrs['format']
assert (fmt.decode() if isinstance(fmt, bytes) else fmt) == 'compression-workbench-lm-project', fmt
doc = json.loads(f['document'][()])
v = doc['variants'][0]
e = [e for e in v['encoded'] if e['tensor'] == '%1'][0]
assert e['type'] == 2, e
data = f['blobs']['v1']['%1'][()].tobytes() if 'v1' in f['blobs'] else None
if data is None:
    key = [k for k in f['blobs'].keys() if f['blobs'][k].attrs['name'] in (b'v1/%1', 'v1/%1')][0]
    data = f['blobs'][key][()].tobytes()
assert hashlib.sha256(data).hexdigest() == '%2', hashlib.sha256(data).hexdigest()
assert doc['sensitivity']['sweep']['rows'][1]['sqnr_db'] == 'inf'
)")
                             .arg(QString::fromStdString(tensor), QString::fromStdString(cw::sha256Hex(bytes)));
    QVERIFY2(runPython(code, dir.path(), &error), qPrintable(error));

    // Moved with its base: found beside the project; the base changed: refused, by name.
    QTemporaryDir moved;
    QVERIFY(QFile::copy(path, moved.filePath("p.cwproj")) && QFile::copy(base, moved.filePath("base.gguf")));
    QFile::remove(base);
    QCOMPARE(QString::fromStdString(cw::locateLmBase(back, moved.filePath("p.cwproj").toStdString())),
             moved.filePath("base.gguf"));
    QFile f(moved.filePath("base.gguf"));
    QVERIFY(f.open(QIODevice::Append));
    f.write("x");
    f.close();
    QVERIFY(errorOf([&] { cw::locateLmBase(back, moved.filePath("p.cwproj").toStdString()); })
                .contains("is not the project's base model any more"));
    cw::requireLmBase(back, "demo-lm"); // the same bytes, built in
    QVERIFY(errorOf([&] { cw::requireLmBase(back, "demo"); }).contains("is not the project's base model"));
    // The two kinds of project refuse each other's files; a blob missing is named.
    QVERIFY(errorOf([&] { cw::loadProject(path.toStdString()); }).contains("compression-workbench-lm-project"));
    cw::Project cnn = cw::newProject("demo");
    cw::saveProject(cnn, dir.filePath("cnn.cwproj").toStdString());
    QVERIFY(!cw::isLmProjectFile(dir.filePath("cnn.cwproj").toStdString()));
    QVERIFY(errorOf([&] { cw::loadLmProject(dir.filePath("cnn.cwproj").toStdString()); }).contains("not a"));
    cw::BundleContents c{cw::kLmProjectFormat, 1, cw::readBundle(path.toStdString(), cw::kLmProjectFormat, 1).document,
                         {}, {}};
    cw::writeBundle(c, dir.filePath("noblobs.cwproj").toStdString());
    QVERIFY(errorOf([&] { cw::loadLmProject(dir.filePath("noblobs.cwproj").toStdString()); })
                .contains("variant 'q4': the bytes of tensor"));
}

QTEST_GUILESS_MAIN(TestProject)
#include "test_project.moc"
