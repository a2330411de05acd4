// Dataset I/O: .npy / .npz against NumPy in both directions, IDX (raw and gzip) written here, Fashion-MNIST
// against Python's own gzip + NumPy parse, preprocessing against hand-computed values, HDF5 x/y written
// with the HDF5 C API, and the errors a user sees for broken files.
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>

#include <cstring>

#include <hdf5/serial/hdf5.h>
#include <zlib.h>

#include "core/base/error.h"
#include "core/io/dataset.h"
#include "testutil.h"

using namespace cw;

namespace {

// Runs Python (numpy) in `dir`; the snippet prints one JSON object, returned parsed.
QJsonObject pythonJson(const QString &code, const QString &dir)
{
    QString error;
    const QByteArray out = testutil::runProcess(testutil::python(), {"-c", "import json, numpy as np\n" + code}, &error,
                                                120000, dir);
    if (!error.isEmpty())
        qWarning().noquote() << error;
    return QJsonDocument::fromJson(out).object();
}

bool pythonOk(const QString &code, const QString &dir, QString *error)
{
    return testutil::runPython("import numpy as np\n" + code, dir, error);
}

Shape shapeFromJson(const QJsonArray &a)
{
    Shape s;
    for (const QJsonValue &v : a)
        s.push_back(int64_t(v.toDouble()));
    return s;
}

std::vector<double> valuesFromJson(const QJsonArray &a)
{
    std::vector<double> v;
    for (const QJsonValue &x : a)
        v.push_back(x.toDouble());
    return v;
}

std::vector<double> tensorValues(const Tensor &t)
{
    std::vector<double> v;
    if (t.dtype() == DType::Int64 || t.dtype() == DType::Int32) {
        for (int64_t x : t.toInt64Vector())
            v.push_back(double(x));
    } else {
        for (float x : t.toFloatVector())
            v.push_back(double(x));
    }
    return v;
}

// IDX writer: big-endian header and payload.
QByteArray idxBytes(int typeCode, const Shape &shape, const std::vector<double> &values)
{
    QByteArray b;
    b.append(char(0));
    b.append(char(0));
    b.append(char(typeCode));
    b.append(char(shape.size()));
    auto be32 = [&](uint32_t v) {
        for (int s = 24; s >= 0; s -= 8)
            b.append(char((v >> s) & 0xFF));
    };
    for (int64_t d : shape)
        be32(uint32_t(d));
    for (double v : values) {
        switch (typeCode) {
        case 0x08: b.append(char(uint8_t(v))); break;
        case 0x09: b.append(char(int8_t(v))); break;
        case 0x0B: b.append(char((uint16_t(int16_t(v)) >> 8) & 0xFF)); b.append(char(uint16_t(int16_t(v)) & 0xFF)); break;
        case 0x0C: be32(uint32_t(int32_t(v))); break;
        case 0x0D: {
            const float f = float(v);
            uint32_t bits;
            std::memcpy(&bits, &f, 4);
            be32(bits);
            break;
        }
        case 0x0E: {
            uint64_t bits;
            std::memcpy(&bits, &v, 8);
            be32(uint32_t(bits >> 32));
            be32(uint32_t(bits));
            break;
        }
        }
    }
    return b;
}

void writeFile(const QString &path, const QByteArray &bytes, bool gzip)
{
    if (gzip) {
        gzFile f = gzopen(path.toLocal8Bit().constData(), "wb");
        QVERIFY(f);
        QCOMPARE(gzwrite(f, bytes.constData(), unsigned(bytes.size())), int(bytes.size()));
        gzclose(f);
        return;
    }
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(bytes);
}

void truncateFile(const QString &path, qint64 keep)
{
    QFile f(path);
    QVERIFY(f.open(QIODevice::ReadWrite));
    QVERIFY(f.resize(keep));
}

// Deterministic test values that every dtype can hold; NumPy recomputes the same formula.
double patternValue(int64_t i, DType t)
{
    const int64_t base = (i * 7) % 23;
    switch (t) {
    case DType::Float32: return double(float(base - 11) * 0.37f);
    case DType::UInt8: return double(base * 11);
    case DType::Int8: return double(base - 11);
    case DType::Int32: return double((base - 11) * 100000);
    case DType::Int64: return double((base - 11) * 3000000000LL);
    }
    return 0;
}

Tensor patternTensor(DType t, const Shape &shape)
{
    Tensor f(DType::Float32, shape);
    Tensor out(t, shape);
    for (int64_t i = 0; i < out.numel(); ++i) {
        const double v = patternValue(i, t);
        switch (t) {
        case DType::Float32: out.f32()[i] = float(v); break;
        case DType::UInt8: out.data<uint8_t>()[i] = uint8_t(v); break;
        case DType::Int8: out.data<int8_t>()[i] = int8_t(v); break;
        case DType::Int32: out.data<int32_t>()[i] = int32_t(v); break;
        case DType::Int64: out.data<int64_t>()[i] = int64_t(v); break;
        }
    }
    return out;
}

QString pyShape(const Shape &s)
{
    QStringList parts;
    for (int64_t d : s)
        parts << QString::number(d);
    return "(" + parts.join(", ") + (s.size() == 1 ? ",)" : ")");
}

void expectError(const std::function<void()> &fn, const QStringList &mustContain)
{
    try {
        fn();
    } catch (const Cancelled &) {
        QFAIL("unexpected Cancelled");
    } catch (const Error &e) {
        const QString msg = QString::fromStdString(e.what());
        for (const QString &part : mustContain)
            QVERIFY2(msg.contains(part), qPrintable("message '" + msg + "' lacks '" + part + "'"));
        return;
    }
    QFAIL("no cw::Error thrown");
}

} // namespace

Q_DECLARE_METATYPE(cw::Shape)
Q_DECLARE_METATYPE(cw::DType)
Q_DECLARE_METATYPE(cw::Preprocess::Layout)

class TestDatasets : public QObject {
    Q_OBJECT

private slots:
    void npyReadNumpyFile_data();
    void npyReadNumpyFile();
    void npyWriteReadByNumpy_data();
    void npyWriteReadByNumpy();
    void npzFromNumpy_data();
    void npzFromNumpy();
    void idxLoad_data();
    void idxLoad();
    void idxLimit();
    void fashionMnistTest();
    void fashionMnistTrainSplit();
    void preprocess_data();
    void preprocess();
    void npySiblingLabels();
    void npzDataset();
    void hdf5Dataset();
    void batchCopiesRows();
    void errors_data();
    void errors();
};

void TestDatasets::npyReadNumpyFile_data()
{
    QTest::addColumn<QString>("expr"); // numpy expression for the array
    QTest::addColumn<QString>("version");
    QTest::addColumn<int>("dtype");
    QTest::newRow("float32 4-d") << "np.arange(2*3*4*5, dtype='<f4').reshape(2,3,4,5) * np.float32(0.25) - 7" << "None" << int(DType::Float32);
    QTest::newRow("float32 0-d") << "np.array(3.5, dtype='<f4')" << "None" << int(DType::Float32);
    QTest::newRow("float32 1-d") << "np.linspace(-2, 2, 9).astype('<f4')" << "None" << int(DType::Float32);
    QTest::newRow("float32 empty") << "np.zeros((0, 3), dtype='<f4')" << "None" << int(DType::Float32);
    QTest::newRow("int8 2-d") << "(np.arange(12) - 6).astype('i1').reshape(3,4)" << "None" << int(DType::Int8);
    QTest::newRow("uint8 1-d") << "np.array([0, 1, 127, 128, 255], dtype='u1')" << "None" << int(DType::UInt8);
    QTest::newRow("int32 1-d") << "np.array([-2147483648, -1, 0, 2147483647], dtype='<i4')" << "None" << int(DType::Int32);
    QTest::newRow("int64 0-d") << "np.array(-9007199254740991, dtype='<i8')" << "None" << int(DType::Int64);
    QTest::newRow("int64 2-d") << "np.arange(6, dtype='<i8').reshape(2,3) * 1000000007" << "None" << int(DType::Int64);
    QTest::newRow("float64 -> float32") << "np.array([[0.1, -2.5], [1e10, 3.0]], dtype='<f8')" << "None" << int(DType::Float32);
    QTest::newRow("bool -> uint8") << "np.array([True, False, True])" << "None" << int(DType::UInt8);
    QTest::newRow("big-endian int32") << "np.array([1, -2, 70000], dtype='>i4')" << "None" << int(DType::Int32);
    QTest::newRow("header v2.0") << "np.arange(5, dtype='<f4')" << "(2, 0)" << int(DType::Float32);
    QTest::newRow("header v3.0") << "np.arange(5, dtype='<i8')" << "(3, 0)" << int(DType::Int64);
}

void TestDatasets::npyReadNumpyFile()
{
    QFETCH(QString, expr);
    QFETCH(QString, version);
    QFETCH(int, dtype);
    QTemporaryDir dir;
    const QJsonObject ref = pythonJson(QStringLiteral("a = %1\n"
                                                      "with open('a.npy', 'wb') as f: np.lib.format.write_array(f, a, version=%2)\n"
                                                      "print(json.dumps({'shape': list(a.shape), 'values': a.astype(np.float64).ravel().tolist()}))")
                                           .arg(expr, version),
                                       dir.path());
    QVERIFY(ref.contains("shape"));
    const Tensor t = readNpy(dir.filePath("a.npy").toStdString());
    QCOMPARE(int(t.dtype()), dtype);
    QCOMPARE(t.shape(), shapeFromJson(ref["shape"].toArray()));
    const std::vector<double> expected = valuesFromJson(ref["values"].toArray());
    const std::vector<double> actual = tensorValues(t);
    QCOMPARE(actual.size(), expected.size());
    for (size_t i = 0; i < actual.size(); ++i) {
        // float64 sources are narrowed to float32, so compare at float precision.
        const double want = t.dtype() == DType::Float32 ? double(float(expected[i])) : expected[i];
        QVERIFY2(actual[i] == want, qPrintable(QStringLiteral("element %1: %2 vs %3").arg(i).arg(actual[i]).arg(want)));
    }
}

void TestDatasets::npyWriteReadByNumpy_data()
{
    QTest::addColumn<DType>("dtype");
    QTest::addColumn<Shape>("shape");
    QTest::addColumn<QString>("npDtype");
    const std::vector<std::tuple<DType, QString, QString>> types{{DType::Float32, "float32", "<f4"},
                                                                {DType::Int8, "int8", "|i1"},
                                                                {DType::UInt8, "uint8", "|u1"},
                                                                {DType::Int32, "int32", "<i4"},
                                                                {DType::Int64, "int64", "<i8"}};
    const std::vector<std::pair<QString, Shape>> shapes{{"0-d", {}}, {"1-d", {7}}, {"4-d", {2, 3, 4, 5}}};
    for (const auto &[t, name, np] : types)
        for (const auto &[sname, shape] : shapes)
            QTest::newRow(qPrintable(name + " " + sname)) << t << shape << np;
}

void TestDatasets::npyWriteReadByNumpy()
{
    QFETCH(DType, dtype);
    QFETCH(Shape, shape);
    QFETCH(QString, npDtype);
    QTemporaryDir dir;
    const Tensor t = patternTensor(dtype, shape);
    writeNpy(t, dir.filePath("ours.npy").toStdString());
    // NumPy recomputes the pattern and checks dtype, shape, values and that the header is 64-byte aligned.
    QString expr;
    switch (dtype) {
    case DType::Float32: expr = "((i * 7) % 23 - 11).astype(np.float32) * np.float32(0.37)"; break;
    case DType::UInt8: expr = "((i * 7) % 23) * 11"; break;
    case DType::Int8: expr = "(i * 7) % 23 - 11"; break;
    case DType::Int32: expr = "((i * 7) % 23 - 11) * 100000"; break;
    case DType::Int64: expr = "((i * 7) % 23 - 11) * 3000000000"; break;
    }
    const QString code = QStringLiteral("a = np.load('ours.npy')\n"
                                        "assert a.dtype == np.dtype('%1'), a.dtype\n"
                                        "assert a.shape == %2, a.shape\n"
                                        "i = np.arange(a.size, dtype=np.int64)\n"
                                        "want = (%3).astype('%1').reshape(%2)\n"
                                        "assert np.array_equal(a, want), (a, want)\n"
                                        "raw = open('ours.npy', 'rb').read()\n"
                                        "hl = int.from_bytes(raw[8:10], 'little')\n"
                                        "assert (10 + hl) % 64 == 0, hl\n")
                             .arg(npDtype, pyShape(shape), expr);
    QString error;
    QVERIFY2(pythonOk(code, dir.path(), &error), qPrintable(error));
    // And our reader gives back the same tensor.
    const Tensor back = readNpy(dir.filePath("ours.npy").toStdString());
    QCOMPARE(back.dtype(), dtype);
    QCOMPARE(back.shape(), shape);
    QVERIFY(std::memcmp(back.rawData(), t.rawData(), t.byteSize()) == 0);
}

void TestDatasets::npzFromNumpy_data()
{
    QTest::addColumn<QString>("saver");
    QTest::newRow("stored (np.savez)") << "np.savez";
    QTest::newRow("deflated (np.savez_compressed)") << "np.savez_compressed";
}

void TestDatasets::npzFromNumpy()
{
    QFETCH(QString, saver);
    QTemporaryDir dir;
    const QJsonObject ref = pythonJson(
        QStringLiteral("rng = np.random.default_rng(3)\n"
                       "arrs = {'x': rng.standard_normal((5, 1, 3, 4)).astype('f4'), 'y': np.array([3, 1, 4, 1, 5], dtype='i8'),\n"
                       "        'mask': (rng.random(20) > 0.5), 'big': np.tile(np.arange(100, dtype='u1'), 50), 'scalar': np.array(2.5, 'f4')}\n"
                       "%1('a.npz', **arrs)\n"
                       "print(json.dumps({k: {'shape': list(v.shape), 'values': v.astype(np.float64).ravel().tolist()} for k, v in arrs.items()}))")
            .arg(saver),
        dir.path());
    QCOMPARE(ref.size(), 5);
    const auto arrays = readNpz(dir.filePath("a.npz").toStdString());
    QCOMPARE(int(arrays.size()), 5);
    QStringList names;
    for (const auto &[name, t] : arrays) {
        names << QString::fromStdString(name);
        const QJsonObject r = ref[QString::fromStdString(name)].toObject();
        QVERIFY2(!r.isEmpty(), name.c_str());
        QCOMPARE(t.shape(), shapeFromJson(r["shape"].toArray()));
        const std::vector<double> want = valuesFromJson(r["values"].toArray());
        const std::vector<double> got = tensorValues(t);
        QCOMPARE(got.size(), want.size());
        for (size_t i = 0; i < got.size(); ++i)
            QVERIFY2(got[i] == double(float(want[i])), qPrintable(QStringLiteral("%1[%2]").arg(names.back()).arg(i)));
    }
    QCOMPARE(names, QStringList({"x", "y", "mask", "big", "scalar"}));
}

void TestDatasets::idxLoad_data()
{
    QTest::addColumn<bool>("gzip");
    QTest::addColumn<int>("typeCode");
    QTest::addColumn<QString>("imagesName");
    QTest::addColumn<QString>("labelsName");
    QTest::addColumn<double>("scale"); // expected factor applied to the stored values
    QTest::newRow("ubyte raw, MNIST names") << false << 0x08 << "t10k-images-idx3-ubyte" << "t10k-labels-idx1-ubyte" << 1.0 / 255;
    QTest::newRow("ubyte gzip, MNIST names") << true << 0x08 << "t10k-images-idx3-ubyte.gz" << "t10k-labels-idx1-ubyte.gz" << 1.0 / 255;
    QTest::newRow("ubyte gzip, -images names") << true << 0x08 << "mine-images.gz" << "mine-labels.gz" << 1.0 / 255;
    QTest::newRow("sbyte raw") << false << 0x09 << "s-images-idx3-sbyte" << "s-labels-idx1-sbyte" << 1.0 / 255;
    QTest::newRow("int16 gzip") << true << 0x0B << "a-images.idx" << "a-labels.idx" << 1.0 / 255;
    QTest::newRow("int32 raw") << false << 0x0C << "b-images.idx" << "b-labels.idx" << 1.0 / 255;
    QTest::newRow("float32 gzip (not scaled)") << true << 0x0D << "c-images.idx.gz" << "c-labels.idx.gz" << 1.0;
    QTest::newRow("float64 raw (not scaled)") << false << 0x0E << "d-images.idx" << "d-labels.idx" << 1.0;
}

void TestDatasets::idxLoad()
{
    QFETCH(bool, gzip);
    QFETCH(int, typeCode);
    QFETCH(QString, imagesName);
    QFETCH(QString, labelsName);
    QFETCH(double, scale);
    QTemporaryDir dir;
    const Shape shape{3, 4, 5};
    std::vector<double> values;
    for (int i = 0; i < 60; ++i)
        values.push_back(typeCode == 0x09 ? double(i * 5 % 200 - 100) : typeCode >= 0x0D ? i * 0.5 - 3 : double(i * 4 % 251));
    writeFile(dir.filePath(imagesName), idxBytes(typeCode, shape, values), gzip);
    writeFile(dir.filePath(labelsName), idxBytes(0x08, {3}, {7, 0, 9}), gzip);
    const Dataset d = loadDataset(dir.filePath(imagesName).toStdString());
    QCOMPARE(d.x.dtype(), DType::Float32);
    QCOMPARE(d.x.shape(), Shape({3, 1, 4, 5}));
    QCOMPARE(d.labels, std::vector<int64_t>({7, 0, 9}));
    QCOMPARE(d.size(), int64_t(3));
    for (int i = 0; i < 60; ++i)
        QVERIFY2(qFuzzyCompare(1.0 + d.x.f32()[i], 1.0 + float(float(values[size_t(i)]) * float(scale))),
                 qPrintable(QStringLiteral("pixel %1: %2 vs %3").arg(i).arg(d.x.f32()[i]).arg(values[size_t(i)] * scale)));
}

void TestDatasets::idxLimit()
{
    QTemporaryDir dir;
    std::vector<double> px(5 * 2 * 2);
    for (size_t i = 0; i < px.size(); ++i)
        px[i] = double(i);
    writeFile(dir.filePath("train-images-idx3-ubyte.gz"), idxBytes(0x08, {5, 2, 2}, px), true);
    writeFile(dir.filePath("train-labels-idx1-ubyte.gz"), idxBytes(0x08, {5}, {1, 2, 3, 4, 5}), true);
    Preprocess pre;
    pre.scale = 1.f;
    const Dataset d = loadDataset(dir.filePath("train-images-idx3-ubyte.gz").toStdString(), pre, 2);
    QCOMPARE(d.x.shape(), Shape({2, 1, 2, 2}));
    QCOMPARE(d.labels, std::vector<int64_t>({1, 2}));
    QCOMPARE(d.x.f32()[7], 7.f);

    // A directory in the MNIST layout means its test split.
    writeFile(dir.filePath("t10k-images-idx3-ubyte"), idxBytes(0x08, {1, 1, 2}, {3, 4}), false);
    writeFile(dir.filePath("t10k-labels-idx1-ubyte"), idxBytes(0x08, {1}, {8}), false);
    const Dataset fromDir = loadDataset(dir.path().toStdString(), pre);
    QCOMPARE(fromDir.x.shape(), Shape({1, 1, 1, 2}));
    QCOMPARE(fromDir.labels, std::vector<int64_t>({8}));
    QCOMPARE(fromDir.x.f32()[1], 4.f);
}

void TestDatasets::fashionMnistTest()
{
    const QString dir = QString::fromStdString(fashionMnistDir());
    if (!QFileInfo::exists(dir + "/t10k-images-idx3-ubyte.gz"))
        QSKIP("Debian's dataset-fashion-mnist is not installed");
    QElapsedTimer timer;
    timer.start();
    const Dataset d = loadDataset("fashion-mnist");
    qInfo() << "fashion-mnist test split loaded in" << timer.elapsed() << "ms";
    QCOMPARE(d.x.shape(), Shape({10000, 1, 28, 28}));
    QCOMPARE(d.labels.size(), size_t(10000));
    const float *x = d.x.f32();
    float lo = 1e9f, hi = -1e9f;
    for (int64_t i = 0; i < d.x.numel(); ++i) {
        lo = std::min(lo, x[i]);
        hi = std::max(hi, x[i]);
    }
    QVERIFY(lo >= 0.f && hi <= 1.f);
    QCOMPARE(hi, 1.f);

    // Independent parse with Python's gzip + NumPy.
    const QJsonObject ref = pythonJson(
        QStringLiteral("import gzip\n"
                       "d = '%1'\n"
                       "lab = np.frombuffer(gzip.open(d + '/t10k-labels-idx1-ubyte.gz').read(), np.uint8, offset=8)\n"
                       "img = np.frombuffer(gzip.open(d + '/t10k-images-idx3-ubyte.gz').read(), np.uint8, offset=16).reshape(-1, 28, 28)\n"
                       "print(json.dumps({'labels': lab[:32].tolist(), 'last': int(lab[-1]), 'counts': np.bincount(lab).tolist(),\n"
                       "  'img0': img[0].ravel().tolist(), 'img9999sum': int(img[9999].sum())}))")
            .arg(dir),
        QDir::tempPath());
    const QJsonArray labels = ref["labels"].toArray();
    QCOMPARE(labels.size(), 32);
    for (int i = 0; i < 32; ++i)
        QCOMPARE(d.labels[size_t(i)], int64_t(labels[i].toInt()));
    QCOMPARE(d.labels.back(), int64_t(ref["last"].toInt()));
    std::vector<int64_t> counts(10);
    for (int64_t l : d.labels) {
        QVERIFY(l >= 0 && l < 10);
        ++counts[size_t(l)];
    }
    const QJsonArray refCounts = ref["counts"].toArray();
    for (int c = 0; c < 10; ++c)
        QCOMPARE(counts[size_t(c)], int64_t(refCounts[c].toInt()));
    const QJsonArray img0 = ref["img0"].toArray();
    QCOMPARE(img0.size(), 784);
    for (int i = 0; i < 784; ++i)
        QCOMPARE(x[i], float(img0[i].toInt()) * (1.f / 255.f));
    double sum = 0;
    for (int i = 0; i < 784; ++i)
        sum += double(x[9999 * 784 + i]) * 255.0;
    QCOMPARE(qRound64(sum), qint64(ref["img9999sum"].toInt()));
}

void TestDatasets::fashionMnistTrainSplit()
{
    if (!QFileInfo::exists(QString::fromStdString(fashionMnistDir()) + "/train-images-idx3-ubyte.gz"))
        QSKIP("Debian's dataset-fashion-mnist is not installed");
    QElapsedTimer timer;
    timer.start();
    const Dataset d = loadDataset("fashion-mnist:train");
    const qint64 ms = timer.elapsed();
    qInfo() << "fashion-mnist train split (60000 images) loaded in" << ms << "ms";
    QCOMPARE(d.x.shape(), Shape({60000, 1, 28, 28}));
    QCOMPARE(d.labels.size(), size_t(60000));
    QCOMPARE(d.name, std::string("fashion-mnist:train"));
}

void TestDatasets::preprocess_data()
{
    QTest::addColumn<QString>("expr"); // numpy array saved as x.npy
    QTest::addColumn<Preprocess::Layout>("layout");
    QTest::addColumn<QList<float>>("mean");
    QTest::addColumn<QList<float>>("stdv");
    QTest::addColumn<Shape>("shape");
    QTest::addColumn<QList<float>>("expected"); // NCHW, flattened

    // Two NHWC images 2x2 with 3 channels; value = 10*pixel + channel (pixel 0..7 over both images).
    const QString nhwc = "(np.arange(8).reshape(2, 2, 2, 1) * 10 + np.arange(3).reshape(1, 1, 1, 3)).astype('u1')";
    QList<float> nchwPlain; // [n][c][hw]
    for (int n = 0; n < 2; ++n)
        for (int c = 0; c < 3; ++c)
            for (int hw = 0; hw < 4; ++hw)
                nchwPlain << float((n * 4 + hw) * 10 + c);
    auto map = [](QList<float> v, float scale, QList<float> mean, QList<float> sd, int channels, int inner) {
        for (int i = 0; i < v.size(); ++i) {
            const int c = (i / inner) % channels;
            v[i] = (v[i] * scale - mean[c]) / sd[c];
        }
        return v;
    };
    QTest::newRow("NHWC auto-detected, scale only")
        << nhwc << Preprocess::Layout::Auto << QList<float>{} << QList<float>{} << Shape{2, 3, 2, 2}
        << map(nchwPlain, 1.f / 255, {0, 0, 0}, {1, 1, 1}, 3, 4);
    QTest::newRow("NHWC explicit, per-channel mean/std")
        << nhwc << Preprocess::Layout::NHWC << QList<float>{0.1f, 0.2f, 0.3f} << QList<float>{0.5f, 0.25f, 2.f}
        << Shape{2, 3, 2, 2} << map(nchwPlain, 1.f / 255, {0.1f, 0.2f, 0.3f}, {0.5f, 0.25f, 2.f}, 3, 4);
    // Hand-computed: pixel values 0, 51, 102, 255 scaled by 1/255 -> 0, .2, .4, 1; (v - 0.5) / 0.25.
    QTest::newRow("rank 3 -> [N,1,H,W], single mean/std")
        << "np.array([[[0, 51], [102, 255]]], dtype='u1')" << Preprocess::Layout::Auto << QList<float>{0.5f}
        << QList<float>{0.25f} << Shape{1, 1, 2, 2} << QList<float>{-2.f, -1.2f, -0.4f, 2.f};
    QTest::newRow("float data is not scaled")
        << "np.array([[[[1.5, -2.0]]]], dtype='f4')" << Preprocess::Layout::Auto << QList<float>{1.f} << QList<float>{2.f}
        << Shape{1, 1, 1, 2} << QList<float>{0.25f, -1.5f};
    // [N, 3, 2, 3]: last dim 3 but dim 1 is 3 as well, so Auto keeps NCHW.
    QList<float> ambiguous;
    for (int i = 0; i < 18; ++i)
        ambiguous << float(i) / 255.f;
    QTest::newRow("ambiguous shape stays NCHW under Auto")
        << "np.arange(18, dtype='u1').reshape(1, 3, 2, 3)" << Preprocess::Layout::Auto << QList<float>{} << QList<float>{}
        << Shape{1, 3, 2, 3} << ambiguous;
    QTest::newRow("explicit NCHW is not transposed")
        << "np.arange(12, dtype='u1').reshape(1, 4, 3, 1)" << Preprocess::Layout::NCHW << QList<float>{} << QList<float>{}
        << Shape{1, 4, 3, 1} << [] { QList<float> v; for (int i = 0; i < 12; ++i) v << float(i) / 255.f; return v; }();
    QTest::newRow("flat int64 features [N, F], per-feature mean")
        << "np.array([[10, 20], [30, 40]], dtype='i8')" << Preprocess::Layout::Auto << QList<float>{0.f, 0.1f}
        << QList<float>{} << Shape{2, 2}
        << QList<float>{10.f / 255, 20.f / 255 - 0.1f, 30.f / 255, 40.f / 255 - 0.1f};
}

void TestDatasets::preprocess()
{
    QFETCH(QString, expr);
    QFETCH(Preprocess::Layout, layout);
    QFETCH(QList<float>, mean);
    QFETCH(QList<float>, stdv);
    QFETCH(Shape, shape);
    QFETCH(QList<float>, expected);
    QTemporaryDir dir;
    QString error;
    QVERIFY2(pythonOk("np.save('x.npy', " + expr + ")", dir.path(), &error), qPrintable(error));
    Preprocess pre;
    pre.layout = layout;
    pre.mean.assign(mean.begin(), mean.end());
    pre.std.assign(stdv.begin(), stdv.end());
    const Dataset d = loadDataset(dir.filePath("x.npy").toStdString(), pre);
    QCOMPARE(d.x.shape(), shape);
    QVERIFY(d.labels.empty());
    QCOMPARE(d.x.numel(), int64_t(expected.size()));
    for (int i = 0; i < expected.size(); ++i)
        QVERIFY2(std::abs(d.x.f32()[i] - expected[i]) <= 1e-5f * (1 + std::abs(expected[i])),
                 qPrintable(QStringLiteral("element %1: %2 vs %3").arg(i).arg(d.x.f32()[i]).arg(expected[i])));
}

void TestDatasets::npySiblingLabels()
{
    QTemporaryDir dir;
    QString error;
    QVERIFY2(pythonOk("np.save('feat.npy', np.ones((3, 4), 'f4'))\n"
                      "np.save('feat_labels.npy', np.array([2, 0, 1], 'i4'))\n"
                      "np.save('x_test.npy', np.ones((2, 1, 2, 2), 'u1'))\n"
                      "np.save('y_test.npy', np.array([[0, 1, 0], [0.1, 0.2, 0.7]], 'f4'))\n" // one-hot / probs -> argmax
                      "np.save('x.npy', np.ones((2, 5), 'f4'))\n"
                      "np.save('y.npy', np.array([4., 3.], 'f8'))\n",
                      dir.path(), &error),
             qPrintable(error));
    QCOMPARE(loadDataset(dir.filePath("feat.npy").toStdString()).labels, std::vector<int64_t>({2, 0, 1}));
    const Dataset xt = loadDataset(dir.filePath("x_test.npy").toStdString());
    QCOMPARE(xt.labels, std::vector<int64_t>({1, 2}));
    QCOMPARE(xt.x.shape(), Shape({2, 1, 2, 2}));
    QCOMPARE(loadDataset(dir.filePath("x.npy").toStdString()).labels, std::vector<int64_t>({4, 3}));
}

void TestDatasets::npzDataset()
{
    QTemporaryDir dir;
    QString error;
    QVERIFY2(pythonOk("np.savez_compressed('named.npz', y=np.array([1, 0], 'u1'), x=np.arange(8, dtype='u1').reshape(2, 2, 2, 1))\n"
                      "np.savez('positional.npz', np.full((3, 2), 0.5, 'f4'), np.array([5, 6, 7], 'i8'))\n",
                      dir.path(), &error),
             qPrintable(error));
    const Dataset named = loadDataset(dir.filePath("named.npz").toStdString());
    QCOMPARE(named.x.shape(), Shape({2, 1, 2, 2})); // last dim 1, dim 1 = 2: NHWC
    QCOMPARE(named.labels, std::vector<int64_t>({1, 0}));
    QCOMPARE(named.x.f32()[3], 3.f / 255.f);
    const Dataset positional = loadDataset(dir.filePath("positional.npz").toStdString(), {}, 2);
    QCOMPARE(positional.x.shape(), Shape({2, 2}));
    QCOMPARE(positional.labels, std::vector<int64_t>({5, 6}));
    QCOMPARE(positional.x.f32()[0], 0.5f);
    QCOMPARE(positional.name, std::string("positional.npz"));
}

void TestDatasets::hdf5Dataset()
{
    QTemporaryDir dir;
    const QString path = dir.filePath("data.h5");
    {
        hid_t file = H5Fcreate(path.toLocal8Bit().constData(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        QVERIFY(file >= 0);
        // x: uint8 NHWC [4, 2, 2, 3]; y: int32 [4].
        const hsize_t xdims[4] = {4, 2, 2, 3};
        std::vector<uint8_t> x(48);
        for (size_t i = 0; i < x.size(); ++i)
            x[i] = uint8_t(i * 5);
        hid_t xs = H5Screate_simple(4, xdims, nullptr);
        hid_t xd = H5Dcreate2(file, "x", H5T_STD_U8LE, xs, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        QVERIFY(H5Dwrite(xd, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, x.data()) >= 0);
        H5Dclose(xd);
        H5Sclose(xs);
        const hsize_t ydims[1] = {4};
        const int32_t y[4] = {3, 2, 1, 0};
        hid_t ys = H5Screate_simple(1, ydims, nullptr);
        hid_t yd = H5Dcreate2(file, "y", H5T_STD_I32LE, ys, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        QVERIFY(H5Dwrite(yd, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, y) >= 0);
        H5Dclose(yd);
        H5Sclose(ys);
        H5Fclose(file);
    }
    const Dataset d = loadDataset(path.toStdString(), {}, 3);
    QCOMPARE(d.x.shape(), Shape({3, 3, 2, 2}));
    QCOMPARE(d.labels, std::vector<int64_t>({3, 2, 1}));
    // NCHW element [n=1][c=2][h=1][w=0] comes from NHWC index ((1*2 + 1)*2 + 0)*3 + 2 = 20.
    QCOMPARE(d.x.f32()[1 * 12 + 2 * 4 + 1 * 2 + 0], float(uint8_t(20 * 5)) / 255.f);

    // A file without "x" names what is missing.
    const QString empty = dir.filePath("empty.h5");
    H5Fclose(H5Fcreate(empty.toLocal8Bit().constData(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
    expectError([&] { loadDataset(empty.toStdString()); }, {"empty.h5", "'x'"});
}

void TestDatasets::batchCopiesRows()
{
    Dataset d;
    d.name = "t";
    d.x = Tensor::fromFloats({4, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
    const Tensor b = d.batch(1, 2);
    QCOMPARE(b.shape(), Shape({2, 2}));
    QCOMPARE(b.toFloatVector(), std::vector<float>({2, 3, 4, 5}));
    QVERIFY(b.rawData() != d.x.rawData());
    expectError([&] { d.batch(3, 2); }, {"out of range"});
}

void TestDatasets::errors_data()
{
    QTest::addColumn<QString>("setup"); // Python (numpy) run in the temp dir; may be empty
    QTest::addColumn<QString>("file");
    QTest::addColumn<QString>("kind"); // how to break the IDX fixture, or "" when Python builds the case
    QTest::addColumn<QStringList>("mustContain");
    QTest::newRow("truncated IDX gzip") << "" << "t10k-images-idx3-ubyte.gz" << "truncate-gz"
                                        << QStringList{"t10k-images-idx3-ubyte.gz", "truncated"};
    QTest::newRow("short raw IDX") << "" << "t10k-images-idx3-ubyte" << "truncate-raw"
                                   << QStringList{"t10k-images-idx3-ubyte", "truncated", "needs 400 bytes"};
    QTest::newRow("IDX label count mismatch") << "" << "t10k-images-idx3-ubyte" << "label-mismatch"
                                              << QStringList{"t10k-labels-idx1-ubyte", "mismatch", "3 labels for 4 images"};
    QTest::newRow("not an IDX file") << "open('junk-images.idx', 'wb').write(b'hello world')" << "junk-images.idx" << ""
                                     << QStringList{"junk-images.idx", "not an IDX file"};
    QTest::newRow("truncated npy")
        << "np.save('t.npy', np.zeros((10, 10), 'f4')); d = open('t.npy', 'rb').read(); open('t.npy', 'wb').write(d[:200])"
        << "t.npy" << "" << QStringList{"t.npy", "truncated"};
    QTest::newRow("fortran-order npy") << "np.save('f.npy', np.asfortranarray(np.zeros((3, 2), 'f4')))" << "f.npy" << ""
                                       << QStringList{"f.npy", "Fortran"};
    QTest::newRow("unsupported npy dtype") << "np.save('c.npy', np.zeros(3, 'c8'))" << "c.npy" << ""
                                           << QStringList{"c.npy", "unsupported dtype"};
    QTest::newRow("npy label count mismatch")
        << "np.save('a.npy', np.zeros((4, 2), 'f4')); np.save('a_labels.npy', np.zeros(3, 'i8'))" << "a.npy" << ""
        << QStringList{"a_labels.npy", "mismatch"};
    QTest::newRow("negative label") << "np.savez('n.npz', x=np.zeros((2, 2), 'f4'), y=np.array([0, -1]))" << "n.npz" << ""
                                    << QStringList{"n.npz", "out of range", "-1"};
    QTest::newRow("truncated npz") << "np.savez('z.npz', x=np.zeros((50, 50), 'f4')); d = open('z.npz', 'rb').read(); open('z.npz', 'wb').write(d[:5000])"
                                   << "z.npz" << "" << QStringList{"z.npz", "truncated"};
    QTest::newRow("corrupt deflate")
        << "np.savez_compressed('c.npz', x=np.arange(1000, dtype='f4')); d = bytearray(open('c.npz', 'rb').read()); d[200] ^= 0xFF; open('c.npz', 'wb').write(d)"
        << "c.npz" << "" << QStringList{"c.npz"};
    QTest::newRow("missing file") << "" << "nothere.npy" << "" << QStringList{"nothere.npy", "no such file"};
    QTest::newRow("HDF5 that is not HDF5") << "open('bad.h5', 'wb').write(b'\\x89HDF\\r\\n' + b'0' * 50)" << "bad.h5" << ""
                                           << QStringList{"bad.h5", "not an HDF5 file"};
}

void TestDatasets::errors()
{
    QFETCH(QString, setup);
    QFETCH(QString, file);
    QFETCH(QString, kind);
    QFETCH(QStringList, mustContain);
    QTemporaryDir dir;
    if (!setup.isEmpty()) {
        QString error;
        QVERIFY2(pythonOk(setup, dir.path(), &error), qPrintable(error));
    }
    if (!kind.isEmpty()) {
        std::vector<double> px(4 * 10 * 10);
        for (size_t i = 0; i < px.size(); ++i)
            px[i] = double((i * 37 + i * i) % 251); // poorly compressible, so cutting the gzip loses pixels
        const bool gz = kind == "truncate-gz";
        writeFile(dir.filePath(file), idxBytes(0x08, {4, 10, 10}, px), gz);
        const QString labels = QString(file).replace("images-idx3", "labels-idx1");
        const bool fewer = kind == "label-mismatch";
        writeFile(dir.filePath(labels), idxBytes(0x08, {fewer ? 3 : 4}, fewer ? std::vector<double>{1, 2, 3} : std::vector<double>{1, 2, 3, 4}), gz);
        if (gz)
            truncateFile(dir.filePath(file), QFileInfo(dir.filePath(file)).size() - 12);
        else if (kind == "truncate-raw")
            truncateFile(dir.filePath(file), 16 + 250);
    }
    expectError([&] { loadDataset(dir.filePath(file).toStdString()); }, mustContain);
}

QTEST_GUILESS_MAIN(TestDatasets)
#include "test_datasets.moc"
