// Dataset I/O: .npy / .npz against NumPy in both directions, IDX (raw and gzip) written here, Fashion-MNIST
// against Python's own gzip + NumPy parse, preprocessing against hand-computed values, HDF5 x/y written
// with the HDF5 C API, and the errors a user sees for broken files. Image folders: PNGs written by
// tests/tools/image_reference.py from known pixels, JPEGs made by cjpeg and decoded by djpeg for reference,
// resize + crop against the same file's NumPy implementation and by hand, the folder layouts, and streaming.
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QtTest>

#include <cstring>

#include <hdf5/serial/hdf5.h>
#include <zlib.h>

#include "core/base/error.h"
#include "core/io/dataset.h"
#include "core/io/images.h"
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

// Runs `code` after importing numpy as np and tests/tools/image_reference as ir, in `dir`.
bool imagePython(const QString &code, const QString &dir, QString *error)
{
    return testutil::runPython("import sys\nsys.path.insert(0, '" + testutil::sourcePath("tests/tools") +
                                   "')\nimport numpy as np\nimport image_reference as ir\nrng = np.random.default_rng(7)\n" +
                                   code,
                               dir, error);
}

// One random 2 x 3 RGB image, data/a.png in `dir`, and its pixels as float32 [2, 3, 3] in pixels.npy.
bool writeRgbImage(const QString &dir, QString *error)
{
    if (!QDir(dir).mkdir("data")) {
        *error = "cannot make " + dir + "/data";
        return false;
    }
    return imagePython("s = rng.integers(0, 256, (2, 3, 3)); ir.write_png('data/a.png', s, ir.PNG_RGB)\n"
                       "np.save('pixels.npy', s.astype(np.float32))",
                       dir, error);
}

// `actual` against the float32 [H, W, C] array NumPy saved in `expectedNpy`.
QString imageMismatch(const Image &actual, const QString &expectedNpy, float tolerance)
{
    const Tensor expected = readNpy(expectedNpy.toStdString());
    const Shape shape{actual.height, actual.width, actual.channels};
    if (expected.shape() != shape)
        return QStringLiteral("shape %1, expected %2")
            .arg(QString::fromStdString(shapeToString(shape)), QString::fromStdString(shapeToString(expected.shape())));
    for (int64_t i = 0; i < expected.numel(); ++i)
        if (!(std::abs(actual.pixels[size_t(i)] - expected.f32()[i]) <= tolerance))
            return QStringLiteral("sample %1: %2, expected %3").arg(i).arg(actual.pixels[size_t(i)]).arg(expected.f32()[i]);
    return {};
}

Image imageOf(int64_t h, int64_t w, int64_t c, std::vector<float> pixels)
{
    Image image;
    image.height = h;
    image.width = w;
    image.channels = c;
    image.pixels = std::move(pixels);
    return image;
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
    void npyReadsOnlyTheRowsAsked();
    void npzDataset();
    void hdf5Dataset();
    void batchCopiesRows();
    void errors_data();
    void errors();
    void pngDecode_data();
    void pngDecode();
    void jpegDecode_data();
    void jpegDecode();
    void resizeCropByHand_data();
    void resizeCropByHand();
    void resizeCrop_data();
    void resizeCrop();
    void imageChannels_data();
    void imageChannels();
    void imageNormalization_data();
    void imageNormalization();
    void channelsLastModelReadsItsFolder();
    void imageFolderLayouts();
    void imageFolderErrors_data();
    void imageFolderErrors();
    void imageFolderStreams();
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

// A limit reads the first rows of a .npy array and of its labels, not the rest (an array four times the memory budget
// gives its first two samples); the whole file must still be there, and the label count is checked in full.
void TestDatasets::npyReadsOnlyTheRowsAsked()
{
    QTemporaryDir dir;
    QString error;
    QVERIFY2(pythonOk("a = np.arange(1000 * 1000, dtype='f4').reshape(1000, 1000)\n"
                      "np.save('big.npy', a)\n"
                      "np.save('big_labels.npy', np.arange(1000, dtype='i4') % 7)\n"
                      "np.save('short.npy', a[:3])\n"
                      "np.save('short_labels.npy', np.array([1, 2], 'i4'))\n"
                      "raw = open('big.npy', 'rb').read()\n"
                      "open('cut.npy', 'wb').write(raw[:len(raw) - 4])\n",
                      dir.path(), &error),
             qPrintable(error));
    struct Restore {
        ~Restore() { setMemoryBudget(0); }
    } restore;
    setMemoryBudget(1 << 20); // 1 MiB: the array is 4 MB
    const Dataset two = loadDataset(dir.filePath("big.npy").toStdString(), {}, 2);
    const QString whole = testutil::errorOf([&] { loadDataset(dir.filePath("big.npy").toStdString()); });
    const QString cut = testutil::errorOf([&] { loadDataset(dir.filePath("cut.npy").toStdString(), {}, 1); });
    const QString counts = testutil::errorOf([&] { loadDataset(dir.filePath("short.npy").toStdString(), {}, 1); });
    QCOMPARE(two.x.shape(), Shape({2, 1000}));
    QCOMPARE(two.x.f32()[1999], 1999.f);
    QCOMPARE(two.labels, std::vector<int64_t>({0, 1}));
    QVERIFY2(whole.contains(QStringLiteral("memory budget")), qPrintable(whole));
    QVERIFY2(cut.contains(QStringLiteral("truncated")), qPrintable(cut));
    QVERIFY2(counts.contains(QStringLiteral("2 labels for 3 samples")), qPrintable(counts));
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
    // A range of rows as a dataset, with its labels.
    d.labels = {7, 8, 9, 6};
    const Dataset r = d.rows(2, 2);
    QCOMPARE(r.size(), int64_t(2));
    QCOMPARE(r.x.toFloatVector(), std::vector<float>({4, 5, 6, 7}));
    QCOMPARE(r.labels, std::vector<int64_t>({9, 6}));
    QCOMPARE(d.rows(4, 0).size(), int64_t(0));
    expectError([&] { d.rows(3, 2); }, {"out of range"});
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

// ---------------------------------------------------------------------------------------------- image folders

void TestDatasets::pngDecode_data()
{
    // Python writes img.png from known samples and expected.npy: what the decoder must return (alpha dropped,
    // palette looked up, low bit depths expanded, 16-bit mapped onto 0..255).
    QTest::addColumn<QString>("code");
    QTest::addColumn<float>("tolerance");
    QTest::newRow("grey 8-bit") << "s = rng.integers(0, 256, (5, 7)); ir.write_png('img.png', s, ir.PNG_GREY)\n"
                                   "e = s[..., None]" << 0.f;
    QTest::newRow("grey 1-bit") << "s = rng.integers(0, 2, (5, 9)); ir.write_png('img.png', s, ir.PNG_GREY, 1)\n"
                                   "e = s[..., None] * 255" << 0.f;
    QTest::newRow("grey 4-bit") << "s = rng.integers(0, 16, (4, 5)); ir.write_png('img.png', s, ir.PNG_GREY, 4)\n"
                                   "e = s[..., None] * 17" << 0.f;
    QTest::newRow("grey + alpha") << "s = rng.integers(0, 256, (5, 7, 2)); ir.write_png('img.png', s, ir.PNG_GREY_ALPHA)\n"
                                     "e = s[..., :1]" << 0.f;
    QTest::newRow("RGB 8-bit") << "s = rng.integers(0, 256, (6, 5, 3)); ir.write_png('img.png', s, ir.PNG_RGB)\n"
                                  "e = s" << 0.f;
    QTest::newRow("RGBA 8-bit") << "s = rng.integers(0, 256, (6, 5, 4)); ir.write_png('img.png', s, ir.PNG_RGBA)\n"
                                   "e = s[..., :3]" << 0.f;
    QTest::newRow("palette 8-bit with tRNS")
        << "pal = rng.integers(0, 256, (40, 3)); i = rng.integers(0, 40, (5, 7))\n"
           "ir.write_png('img.png', i, ir.PNG_PALETTE, 8, palette=pal, trns=[0, 128])\ne = pal[i]"
        << 0.f;
    QTest::newRow("palette 4-bit") << "pal = rng.integers(0, 256, (16, 3)); i = rng.integers(0, 16, (3, 5))\n"
                                      "ir.write_png('img.png', i, ir.PNG_PALETTE, 4, palette=pal)\ne = pal[i]"
                                   << 0.f;
    QTest::newRow("grey 16-bit") << "s = rng.integers(0, 65536, (5, 7)); ir.write_png('img.png', s, ir.PNG_GREY, 16)\n"
                                    "e = s[..., None] * 255.0 / 65535.0" << 1e-4f;
    QTest::newRow("RGB 16-bit") << "s = rng.integers(0, 65536, (4, 6, 3)); ir.write_png('img.png', s, ir.PNG_RGB, 16)\n"
                                   "e = s * 255.0 / 65535.0" << 1e-4f;
    QTest::newRow("RGBA 16-bit") << "s = rng.integers(0, 65536, (4, 6, 4)); ir.write_png('img.png', s, ir.PNG_RGBA, 16)\n"
                                    "e = s[..., :3] * 255.0 / 65535.0" << 1e-4f;
}

void TestDatasets::pngDecode()
{
    QFETCH(QString, code);
    QFETCH(float, tolerance);
    QTemporaryDir dir;
    QString error;
    QVERIFY2(imagePython(code + "\nnp.save('expected.npy', np.asarray(e, np.float32))", dir.path(), &error),
             qPrintable(error));
    const Image image = decodeImage(dir.filePath("img.png").toStdString());
    const QString bad = imageMismatch(image, dir.filePath("expected.npy"), tolerance);
    QVERIFY2(bad.isEmpty(), qPrintable(bad));
}

void TestDatasets::jpegDecode_data()
{
    QTest::addColumn<int>("height");
    QTest::addColumn<int>("width");
    QTest::addColumn<bool>("colour");
    QTest::addColumn<QStringList>("cjpegArgs");
    QTest::addColumn<float>("meanError"); // mean |decoded - source| must stay below: the file holds the picture
    QTest::newRow("grey q90") << 16 << 24 << false << QStringList{"-quality", "90"} << 4.f;
    QTest::newRow("colour 4:2:0 q90") << 24 << 32 << true << QStringList{"-quality", "90", "-sample", "2x2"} << 6.f;
    QTest::newRow("colour 4:2:2 odd size q95") << 13 << 17 << true << QStringList{"-quality", "95", "-sample", "2x1"}
                                               << 6.f;
    QTest::newRow("colour 4:4:4 q100") << 20 << 20 << true << QStringList{"-quality", "100", "-sample", "1x1"} << 1.5f;
    QTest::newRow("colour progressive q80") << 32 << 24 << true << QStringList{"-quality", "80", "-progressive"} << 8.f;
}

void TestDatasets::jpegDecode()
{
    QFETCH(int, height);
    QFETCH(int, width);
    QFETCH(bool, colour);
    QFETCH(QStringList, cjpegArgs);
    QFETCH(float, meanError);
    const QString cjpeg = QStandardPaths::findExecutable("cjpeg"), djpeg = QStandardPaths::findExecutable("djpeg");
    if (cjpeg.isEmpty() || djpeg.isEmpty())
        QSKIP("cjpeg / djpeg not installed (Debian's libjpeg-turbo-progs; installers/setup.sh installs it)");
    QTemporaryDir dir;
    QString error;
    // A smooth picture with some noise, so that the DCT and the chroma upsampling both have work to do.
    QVERIFY2(imagePython(QStringLiteral("h, w = %1, %2\nshape = (h, w, 3) if %3 else (h, w)\n"
                                        "y, x = np.mgrid[0:h, 0:w]\nbase = 128 + 60 * np.sin(y / 3) + 40 * np.cos(x / 5)\n"
                                        "s = np.clip((base if len(shape) == 2 else base[..., None] * [1, 0.7, 0.4]) + "
                                        "rng.normal(0, 8, shape), 0, 255).astype(np.uint8)\n"
                                        "ir.write_pnm('src.pnm', s)\n"
                                        "np.save('src.npy', s.reshape(h, w, -1).astype(np.float32))")
                             .arg(height)
                             .arg(width)
                             .arg(colour ? "True" : "False"),
                         dir.path(), &error),
             qPrintable(error));
    testutil::runProcess(cjpeg, cjpegArgs + QStringList{"-outfile", "img.jpg", "src.pnm"}, &error, 60000, dir.path());
    QVERIFY2(error.isEmpty(), qPrintable(error));
    testutil::runProcess(djpeg, {"-pnm", "-outfile", "ref.pnm", "img.jpg"}, &error, 60000, dir.path());
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QVERIFY2(imagePython("np.save('expected.npy', ir.read_pnm('ref.pnm'))", dir.path(), &error), qPrintable(error));

    const Image image = decodeImage(dir.filePath("img.jpg").toStdString());
    QCOMPARE(image.channels, colour ? 3 : 1);
    const QString bad = imageMismatch(image, dir.filePath("expected.npy"), 0.f);
    QVERIFY2(bad.isEmpty(), qPrintable(bad));
    const Tensor source = readNpy(dir.filePath("src.npy").toStdString());
    double sum = 0;
    for (int64_t i = 0; i < source.numel(); ++i)
        sum += std::abs(double(image.pixels[size_t(i)]) - double(source.f32()[i]));
    QVERIFY2(sum / double(source.numel()) < meanError, qPrintable(QString::number(sum / double(source.numel()))));
}

void TestDatasets::resizeCropByHand_data()
{
    QTest::addColumn<int>("height");
    QTest::addColumn<int>("width");
    QTest::addColumn<QList<float>>("pixels"); // one channel
    QTest::addColumn<int>("shorter");
    QTest::addColumn<int>("cropHeight");
    QTest::addColumn<int>("cropWidth");
    QTest::addColumn<QList<float>>("expected");
    // 4 -> 2: output column 0 is centred on input 1.0 with radius 2: weights 0.75, 0.75, 0.25 (-> 3/7, 3/7, 1/7)
    // on columns 0..2, so 70 * 3/7 + 140 / 7 = 50; column 1 symmetrically 70 / 7 + (140 + 210) * 3/7 = 160.
    QTest::newRow("downscale 4 to 2 averages") << 4 << 4 << QList<float>{0, 70, 140, 210, 0, 70, 140, 210, 0, 70, 140, 210, 0, 70, 140, 210}
                                               << 2 << 2 << 2 << QList<float>{50, 160, 50, 160};
    // 2 -> 4: centres 0.25, 0.75, 1.25, 1.75: the outer ones see one pixel, the inner ones 3:1 and 1:3 mixes.
    QTest::newRow("upscale 2 to 4 bilinear") << 2 << 2 << QList<float>{0, 100, 0, 100} << 4 << 4 << 4
                                             << QList<float>{0, 25, 75, 100, 0, 25, 75, 100, 0, 25, 75, 100, 0, 25, 75, 100};
    // 2 x 3 with shorter side 4 becomes 4 x 6: [0, 10, 30, 50, 70, 80]; the centre crop keeps columns 1..4.
    QTest::newRow("longer side scaled, then cropped") << 2 << 3 << QList<float>{0, 40, 80, 0, 40, 80} << 4 << 4 << 4
                                                      << QList<float>{10, 30, 50, 70, 10, 30, 50, 70, 10, 30, 50, 70, 10, 30, 50, 70};
    QTest::newRow("crop only, centred") << 2 << 6 << QList<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11} << 2 << 2 << 2
                                        << QList<float>{2, 3, 8, 9};
    QTest::newRow("odd margin rounds down") << 3 << 3 << QList<float>{0, 1, 2, 3, 4, 5, 6, 7, 8} << 3 << 2 << 2
                                            << QList<float>{0, 1, 3, 4};
}

void TestDatasets::resizeCropByHand()
{
    QFETCH(int, height);
    QFETCH(int, width);
    QFETCH(QList<float>, pixels);
    QFETCH(int, shorter);
    QFETCH(int, cropHeight);
    QFETCH(int, cropWidth);
    QFETCH(QList<float>, expected);
    const Image out = resizeCentreCrop(imageOf(height, width, 1, {pixels.begin(), pixels.end()}), shorter, cropHeight,
                                       cropWidth);
    QCOMPARE(out.height, int64_t(cropHeight));
    QCOMPARE(out.width, int64_t(cropWidth));
    QCOMPARE(int64_t(out.pixels.size()), int64_t(expected.size()));
    for (int i = 0; i < expected.size(); ++i)
        QVERIFY2(std::abs(out.pixels[size_t(i)] - expected[i]) < 1e-4f,
                 qPrintable(QStringLiteral("pixel %1: %2, expected %3").arg(i).arg(out.pixels[size_t(i)]).arg(expected[i])));
}

void TestDatasets::resizeCrop_data()
{
    QTest::addColumn<Shape>("shape"); // H, W, C of the source
    QTest::addColumn<int>("shorter");
    QTest::addColumn<int>("cropHeight");
    QTest::addColumn<int>("cropWidth");
    QTest::newRow("downscale by a non-integer factor") << Shape{50, 37, 1} << 16 << 16 << 12;
    QTest::newRow("downscale RGB, ImageNet 256/224 rule") << Shape{60, 90, 3} << 37 << 32 << 32;
    QTest::newRow("portrait, square crop") << Shape{40, 20, 3} << 9 << 9 << 9;
    QTest::newRow("upscale RGB") << Shape{5, 7, 3} << 12 << 11 << 12;
    QTest::newRow("same size: crop only") << Shape{9, 13, 1} << 9 << 9 << 9;
}

void TestDatasets::resizeCrop()
{
    QFETCH(Shape, shape);
    QFETCH(int, shorter);
    QFETCH(int, cropHeight);
    QFETCH(int, cropWidth);
    QTemporaryDir dir;
    QString error;
    QVERIFY2(imagePython(QStringLiteral("img = rng.integers(0, 256, %1).astype(np.float32)\nnp.save('img.npy', img)\n"
                                        "np.save('expected.npy', ir.resize_crop(img, %2, %3, %4).astype(np.float32))")
                             .arg(pyShape(shape))
                             .arg(shorter)
                             .arg(cropHeight)
                             .arg(cropWidth),
                         dir.path(), &error),
             qPrintable(error));
    const Tensor img = readNpy(dir.filePath("img.npy").toStdString());
    const Image out = resizeCentreCrop(imageOf(shape[0], shape[1], shape[2], img.toFloatVector()), shorter, cropHeight,
                                       cropWidth);
    const QString bad = imageMismatch(out, dir.filePath("expected.npy"), 2e-3f);
    QVERIFY2(bad.isEmpty(), qPrintable(bad));
}

void TestDatasets::imageChannels_data()
{
    QTest::addColumn<QString>("code"); // writes data/img.png and e: the [H, W, C] pixels the model must get
    QTest::addColumn<int>("channels");
    QTest::newRow("grey to RGB: replicated") << "s = rng.integers(0, 256, (4, 5)); ir.write_png('data/img.png', s, ir.PNG_GREY)\n"
                                                "e = np.repeat(s[..., None], 3, -1)" << 3;
    QTest::newRow("RGB to grey: BT.601 luma") << "s = rng.integers(0, 256, (4, 5, 3)); ir.write_png('data/img.png', s, ir.PNG_RGB)\n"
                                                 "e = ir.luma(s)" << 1;
    QTest::newRow("RGBA to grey: alpha dropped") << "s = rng.integers(0, 256, (4, 5, 4)); ir.write_png('data/img.png', s, ir.PNG_RGBA)\n"
                                                    "e = ir.luma(s[..., :3])" << 1;
    QTest::newRow("palette to RGB") << "pal = rng.integers(0, 256, (8, 3)); i = rng.integers(0, 8, (4, 5))\n"
                                       "ir.write_png('data/img.png', i, ir.PNG_PALETTE, 8, palette=pal)\ne = pal[i]" << 3;
    QTest::newRow("16-bit grey to RGB") << "s = rng.integers(0, 65536, (4, 5)); ir.write_png('data/img.png', s, ir.PNG_GREY, 16)\n"
                                           "e = np.repeat(s[..., None], 3, -1) * 255.0 / 65535.0" << 3;
}

void TestDatasets::imageChannels()
{
    QFETCH(QString, code);
    QFETCH(int, channels);
    QTemporaryDir dir;
    QString error;
    QVERIFY(QDir(dir.path()).mkdir("data"));
    QVERIFY2(imagePython(code + "\nnp.save('expected.npy', np.asarray(e, np.float32))", dir.path(), &error),
             qPrintable(error));
    Preprocess pre;
    pre.scale = 1.f; // compare on the 0..255 scale
    pre.imageChannels = channels;
    pre.imageHeight = 4;
    pre.imageWidth = 5;
    pre.resizeShorter = 4;
    pre.layout = Preprocess::Layout::NHWC;
    const Dataset d = loadDataset(dir.filePath("data").toStdString(), pre);
    QCOMPARE(d.size(), int64_t(1));
    QCOMPARE(d.sampleShape(), Shape({4, 5, channels}));
    const Tensor row = d.batch(0, 1);
    const QString bad = imageMismatch(imageOf(4, 5, channels, row.toFloatVector()), dir.filePath("expected.npy"), 1e-3f);
    QVERIFY2(bad.isEmpty(), qPrintable(bad));
}

void TestDatasets::imageNormalization_data()
{
    QTest::addColumn<int>("preset");
    QTest::addColumn<Preprocess::Layout>("layout");
    QTest::addColumn<QList<float>>("mean");
    QTest::addColumn<QList<float>>("stdev");
    const QList<float> none, half{0.5f, 0.5f, 0.5f}, one{1.f, 1.f, 1.f}, zero{0.f, 0.f, 0.f};
    const QList<float> imMean{0.485f, 0.456f, 0.406f}, imStd{0.229f, 0.224f, 0.225f};
    QTest::newRow("unit, NCHW") << int(Normalization::Unit) << Preprocess::Layout::NCHW << zero << one;
    QTest::newRow("unit, auto is NCHW") << int(Normalization::Unit) << Preprocess::Layout::Auto << zero << one;
    QTest::newRow("symmetric, NHWC") << int(Normalization::Symmetric) << Preprocess::Layout::NHWC << half << half;
    QTest::newRow("imagenet, NCHW") << int(Normalization::ImageNet) << Preprocess::Layout::NCHW << imMean << imStd;
    QTest::newRow("imagenet, NHWC") << int(Normalization::ImageNet) << Preprocess::Layout::NHWC << imMean << imStd;
}

void TestDatasets::imageNormalization()
{
    QFETCH(int, preset);
    QFETCH(Preprocess::Layout, layout);
    QFETCH(QList<float>, mean);
    QFETCH(QList<float>, stdev);
    QTemporaryDir dir;
    QString error;
    QVERIFY2(writeRgbImage(dir.path(), &error), qPrintable(error));
    Preprocess pre;
    pre.layout = layout;
    setNormalization(pre, Normalization(preset));
    fitImageInput(pre, layout == Preprocess::Layout::NHWC ? Shape{-1, 2, 3, 3} : Shape{-1, 3, 2, 3});
    QCOMPARE(pre.imageChannels, int64_t(3));
    QCOMPARE(pre.imageHeight, int64_t(2));
    QCOMPARE(pre.imageWidth, int64_t(3));
    pre.resizeShorter = 2;
    const Dataset d = loadDataset(dir.filePath("data").toStdString(), pre);
    const bool nhwc = layout == Preprocess::Layout::NHWC;
    QCOMPARE(d.sampleShape(), nhwc ? Shape({2, 3, 3}) : Shape({3, 2, 3}));
    QCOMPARE(d.channelsLast, nhwc); // what augmentation reads the rows as (train.h)
    QCOMPARE(d.rows(0, 1).channelsLast, nhwc);
    const Tensor row = d.batch(0, 1);
    const Tensor pixels = readNpy(dir.filePath("pixels.npy").toStdString());
    for (int64_t p = 0; p < 6; ++p)
        for (int64_t c = 0; c < 3; ++c) {
            const float expected = (pixels.f32()[p * 3 + c] / 255.f - mean[c]) / stdev[c];
            const float actual = row.f32()[nhwc ? p * 3 + c : c * 6 + p];
            QVERIFY2(std::abs(actual - expected) < 1e-5f,
                     qPrintable(QStringLiteral("pixel %1 channel %2: %3, expected %4").arg(p).arg(c).arg(actual).arg(expected)));
        }
}

// A Keras image model [N, 2, 3, 3] (channels last) and a folder of RGB images, layout Auto: the crop is the
// model's height and width, and the rows reach the model channels last with the image's pixels.
void TestDatasets::channelsLastModelReadsItsFolder()
{
    QTemporaryDir dir;
    QString error;
    QVERIFY2(writeRgbImage(dir.path(), &error), qPrintable(error));
    const ValueInfo input{"input_1", DType::Float32, {-1, 2, 3, 3}, true};
    Preprocess pre; // Auto
    fitImageInput(pre, input.shape);
    QCOMPARE(pre.imageChannels, int64_t(3));
    QCOMPARE(pre.imageHeight, int64_t(2));
    QCOMPARE(pre.imageWidth, int64_t(3));
    pre.resizeShorter = 2;
    const Dataset d = loadDataset(dir.filePath("data").toStdString(), pre);
    const Tensor rows = fittedRows(input, d.batch(0, 1));
    QCOMPARE(rows.shape(), (Shape{1, 2, 3, 3}));
    const Tensor pixels = readNpy(dir.filePath("pixels.npy").toStdString());
    for (int64_t i = 0; i < 18; ++i)
        QVERIFY2(std::abs(rows.f32()[i] - pixels.f32()[i] / 255.f) < 1e-6f, qPrintable(QString::number(i)));
}

void TestDatasets::imageFolderLayouts()
{
    QTemporaryDir dir;
    QString error;
    // Every image is 2 x 2 of one grey value that identifies it. Byte-wise order: "C" < "a" < "b" < "d";
    // "10.png" < "2.png"; "Z.PNG" < "w.JPEG" (a PNG under a JPEG name: the signature decides) < "y.png".
    QVERIFY2(imagePython("import os\n"
                         "def img(path, v):\n"
                         "    os.makedirs(os.path.dirname(path), exist_ok=True)\n"
                         "    ir.write_png(path, np.full((2, 2), v), ir.PNG_GREY)\n"
                         "for path, v in [('a/2.png', 20), ('a/10.png', 10), ('C/c.png', 30), ('b/y.png', 50),\n"
                         "                ('b/Z.PNG', 40), ('b/w.JPEG', 45), ('b/.hidden.png', 99)]:\n"
                         "    img('labelled/' + path, v)\n"
                         "os.makedirs('labelled/d')\nos.makedirs('labelled/.git')\n"
                         "open('labelled/a/notes.txt', 'w').write('not an image')\n"
                         "img('flat/b.png', 2)\nimg('flat/a.jpg', 1)\nopen('flat/readme.md', 'w').write('x')",
                         dir.path(), &error),
             qPrintable(error));
    Preprocess pre;
    pre.scale = 1.f;
    fitImageInput(pre, Shape{-1, 1, 2, 2});
    pre.resizeShorter = 2;

    const Dataset labelled = loadDataset(dir.filePath("labelled").toStdString(), pre);
    QCOMPARE(labelled.name, std::string("labelled"));
    QCOMPARE(labelled.classes, std::vector<std::string>({"C", "a", "b", "d"}));
    QCOMPARE(labelled.labels, std::vector<int64_t>({0, 1, 1, 2, 2, 2}));
    QVERIFY(labelled.x.isNull()); // streamed, nothing held in memory
    const Tensor all = labelled.batch(0, labelled.size());
    QCOMPARE(all.shape(), Shape({6, 1, 2, 2}));
    const std::vector<float> values{30, 10, 20, 40, 45, 50};
    for (int64_t i = 0; i < 6; ++i)
        for (int64_t k = 0; k < 4; ++k)
            QCOMPARE(all.f32()[i * 4 + k], values[size_t(i)]);

    const Dataset limited = loadDataset(dir.filePath("labelled").toStdString(), pre, 2);
    QCOMPARE(limited.size(), int64_t(2));
    QCOMPARE(limited.labels, std::vector<int64_t>({0, 1}));

    const Dataset flat = loadDataset(dir.filePath("flat").toStdString(), pre);
    QCOMPARE(flat.size(), int64_t(2));
    QVERIFY(flat.labels.empty());
    QVERIFY(flat.classes.empty());
    const Tensor rows = flat.batch(0, 2);
    QCOMPARE(rows.f32()[0], 1.f); // a.jpg (a PNG inside) before b.png
    QCOMPARE(rows.f32()[4], 2.f);
}

void TestDatasets::imageFolderErrors_data()
{
    QTest::addColumn<QString>("code");  // makes the folder "data"
    QTest::addColumn<int>("channels");  // the model input: channels, size (square)
    QTest::addColumn<int>("size");
    QTest::addColumn<int>("resize");    // 0: the default
    QTest::addColumn<bool>("imagenet");
    QTest::addColumn<bool>("onRead");   // the error comes when the row is read, not when the folder is opened
    QTest::addColumn<QStringList>("parts");
    const QString good = "ir.write_png('data/a.png', np.zeros((4, 4)), ir.PNG_GREY)\n";
    QTest::newRow("corrupt PNG") << good + "open('data/bad.png', 'wb').write(b'\\x89PNG\\r\\n\\x1a\\n' + bytes(range(60)))"
                                 << 1 << 4 << 0 << false << true << QStringList{"bad.png", "corrupt"};
    QTest::newRow("truncated PNG") << good + "ir.write_png('data/bad.png', rng.integers(0, 256, (30, 30)), ir.PNG_GREY)\n"
                                             "b = open('data/bad.png', 'rb').read(); open('data/bad.png', 'wb').write(b[:len(b) // 2])"
                                   << 1 << 4 << 0 << false << true << QStringList{"bad.png", "truncated"};
    QTest::newRow("CRC error") << good + "ir.write_png('data/bad.png', np.zeros((4, 4)), ir.PNG_GREY)\n"
                                         "b = bytearray(open('data/bad.png', 'rb').read()); b[29] ^= 0xFF\n"
                                         "open('data/bad.png', 'wb').write(bytes(b))"
                               << 1 << 4 << 0 << false << true << QStringList{"bad.png", "PNG"};
    QTest::newRow("truncated JPEG") << good + "import subprocess\nir.write_pnm('s.ppm', rng.integers(0, 256, (32, 32, 3)))\n"
                                              "subprocess.run(['cjpeg', '-outfile', 's.jpg', 's.ppm'], check=True)\n"
                                              "b = open('s.jpg', 'rb').read(); open('data/bad.jpg', 'wb').write(b[:len(b) // 2])"
                                    << 3 << 4 << 0 << false << true << QStringList{"bad.jpg", "JPEG"};
    QTest::newRow("not an image") << good + "open('data/bad.png', 'w').write('hello')" << 1 << 4 << 0 << false << true
                                  << QStringList{"bad.png", "not a PNG or JPEG"};
    QTest::newRow("empty file") << good + "open('data/bad.jpeg', 'w').close()" << 1 << 4 << 0 << false << true
                                << QStringList{"bad.jpeg", "empty"};
    QTest::newRow("resize smaller than the crop") << good << 1 << 4 << 3 << false << true
                                                  << QStringList{"a.png", "smaller than the crop 4 x 4"};
    QTest::newRow("images and sub-folders mixed") << good + "import os\nos.makedirs('data/cat')" << 1 << 4 << 0 << false
                                                  << false << QStringList{"data", "both images and sub-folders"};
    QTest::newRow("no images") << "open('data/x.txt', 'w').write('x')" << 1 << 4 << 0 << false << false
                               << QStringList{"data", "without .png / .jpg / .jpeg images"};
    QTest::newRow("ImageNet preset on a grey model") << good << 1 << 4 << 0 << true << false
                                                      << QStringList{"mean has 3 values", "1 channel(s)"};
    QTest::newRow("model with 7 channels") << good << 7 << 4 << 0 << false << false
                                           << QStringList{"1 or 3 channels", "NCHW has 7"};
    QTest::newRow("crop size unknown") << good << 1 << -1 << 0 << false << false << QStringList{"--image-size"};
}

void TestDatasets::imageFolderErrors()
{
    QFETCH(QString, code);
    QFETCH(int, channels);
    QFETCH(int, size);
    QFETCH(int, resize);
    QFETCH(bool, imagenet);
    QFETCH(bool, onRead);
    QFETCH(QStringList, parts);
    if (code.contains("cjpeg") && QStandardPaths::findExecutable("cjpeg").isEmpty())
        QSKIP("cjpeg not installed (Debian's libjpeg-turbo-progs)");
    QTemporaryDir dir;
    QString error;
    QVERIFY(QDir(dir.path()).mkdir("data"));
    QVERIFY2(imagePython(code, dir.path(), &error), qPrintable(error));
    Preprocess pre;
    fitImageInput(pre, Shape{1, channels, size, size});
    pre.resizeShorter = resize;
    if (imagenet)
        setNormalization(pre, Normalization::ImageNet);
    const std::string path = dir.filePath("data").toStdString();
    if (!onRead) {
        expectError([&] { loadDataset(path, pre); }, parts);
        return;
    }
    const Dataset d = loadDataset(path, pre);
    expectError([&] { d.batch(0, d.size()); }, parts);
}

void TestDatasets::imageFolderStreams()
{
    QTemporaryDir dir;
    QString error;
    QVERIFY2(imagePython("import os\nos.makedirs('data')\n"
                         "for i in range(40): ir.write_png('data/%03d.png' % i, np.full((3, 3), 6 * i), ir.PNG_GREY)",
                         dir.path(), &error),
             qPrintable(error));
    Preprocess pre;
    pre.scale = 1.f;
    fitImageInput(pre, Shape{-1, 1, 3, 3});
    pre.resizeShorter = 3;
    const Dataset d = loadDataset(dir.filePath("data").toStdString(), pre);
    QCOMPARE(d.size(), int64_t(40));
    QCOMPARE(d.sampleShape(), Shape({1, 3, 3}));
    const Dataset copy = d;
    QCOMPARE(copy.source.get(), d.source.get()); // copies share the source, no pixels

    // Nothing was decoded on load: a file removed afterwards fails only the batches that reach it.
    QVERIFY(QFile::remove(dir.filePath("data/030.png")));
    const Tensor first = d.batch(0, 30);
    QCOMPARE(first.shape(), Shape({30, 1, 3, 3}));
    for (int64_t i = 0; i < 30; ++i)
        QCOMPARE(first.f32()[i * 9 + 4], float(6 * i));
    expectError([&] { d.batch(25, 10); }, {"030.png", "cannot open"});

    const Tensor picked = d.gather({39, 5, 2, 5});
    QCOMPARE(picked.shape(), Shape({4, 1, 3, 3}));
    QCOMPARE(picked.f32()[0], 6.f * 39);
    QCOMPARE(picked.f32()[9], 6.f * 5);
    QCOMPARE(picked.f32()[18], 6.f * 2);
    QCOMPARE(picked.f32()[27], 6.f * 5);
    expectError([&] { d.gather({40}); }, {"out of range"});

    // A range of streamed rows streams too, shifted by its start.
    const Dataset tail = d.rows(31, 9);
    QCOMPARE(tail.source->size(), int64_t(9));
    QCOMPARE(tail.sampleShape(), Shape({1, 3, 3}));
    const Tensor t = tail.batch(0, 9);
    for (int64_t i = 0; i < 9; ++i)
        QCOMPARE(t.f32()[i * 9 + 4], float(6 * (31 + i)));
    QCOMPARE(tail.gather({8, 0}).f32()[0], 6.f * 39);
    expectError([&] { d.rows(29, 2).batch(0, 2); }, {"030.png", "cannot open"});
    expectError([&] { tail.batch(5, 5); }, {"out of range"});

    // In-memory datasets gather the same way.
    Dataset memory;
    memory.x = Tensor::fromFloats({3, 2}, {0, 1, 2, 3, 4, 5});
    const Tensor rows = memory.gather({2, 0});
    QCOMPARE(rows.shape(), Shape({2, 2}));
    QCOMPARE(rows.toFloatVector(), std::vector<float>({4, 5, 0, 1}));
}

QTEST_GUILESS_MAIN(TestDatasets)
#include "test_datasets.moc"
