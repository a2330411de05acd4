// The native HDF5 model format: round trip, readability with the HDF5 tools, errors, in-memory reading.
#include <QFile>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <cstring>
#include <functional>
#include <atomic>
#include <random>
#include <thread>

#include "core/base/error.h"
#include "core/compress/prune.h"
#include "core/io/dataset.h"
#include "core/io/model_io.h"
#include "core/quant/quantize.h"
#include "core/runtime/session.h"
#include "testutil.h"

using namespace cw;
using testutil::errorOf;

namespace {

Node makeNode(std::string name, std::string op, std::vector<std::string> in, std::vector<std::string> out)
{
    Node n;
    n.name = std::move(name);
    n.opType = std::move(op);
    n.inputs = std::move(in);
    n.outputs = std::move(out);
    n.attrs["_opset"] = Attribute::makeInt(13);
    return n;
}

// A small CNN with awkward names, every attribute kind and every dtype among the initializers.
Model makeModel()
{
    Model m;
    m.opsetVersion = 13;
    m.producerName = "hand-built";
    m.metadata = {{"author", "tests"}, {"note", "ünïcode / slashes % and \"quotes\""}, {"empty", ""}};
    Graph &g = m.graph;
    g.name = "tiny";
    g.inputs = {ValueInfo{"input/x", DType::Float32, {-1, 2, 6, 6}, true}};
    g.outputs = {ValueInfo{"prob", DType::Float32, {}, false}};

    Node conv = makeNode("conv/1", "Conv", {"input/x", "w/conv", "b%conv"}, {"c"});
    conv.attrs["pads"] = Attribute::makeInts({1, 1, 1, 1});
    conv.attrs["kernel_shape"] = Attribute::makeInts({3, 3});
    conv.attrs["group"] = Attribute::makeInt(1);
    Node relu = makeNode("relu", "Relu", {"c"}, {"r"});
    relu.attrs["_note"] = Attribute::makeString("kept verbatim");
    relu.attrs["_floats"] = Attribute::makeFloats({1.5f, NAN, INFINITY, -INFINITY, 1e-38f, 0.1f});
    Attribute strings;
    strings.kind = Attribute::Kind::Strings;
    strings.strings = {"a", "", "c/d"};
    relu.attrs["_strings"] = strings;
    relu.attrs["_tensor"] = Attribute::makeTensor(Tensor::fromInt64s({2, 2}, {1, -2, 3, int64_t(1) << 50}));
    relu.attrs["_ftensor"] = Attribute::makeTensor(Tensor::fromFloats({3}, {0.1f, -0.f, 3e38f}));
    Node pool = makeNode("pool", "MaxPool", {"r"}, {"p"});
    pool.attrs["kernel_shape"] = Attribute::makeInts({2, 2});
    pool.attrs["strides"] = Attribute::makeInts({2, 2});
    Node flat = makeNode("flatten", "Flatten", {"p"}, {"f"});
    flat.attrs["axis"] = Attribute::makeInt(1);
    Node fc = makeNode("fc", "Gemm", {"f", "fc.weight", "fc.bias"}, {"logits"});
    fc.attrs["transB"] = Attribute::makeInt(1);
    fc.attrs["alpha"] = Attribute::makeFloat(0.75f);
    Node soft = makeNode("softmax", "Softmax", {"logits"}, {"prob"});
    soft.attrs["axis"] = Attribute::makeInt(-1);
    g.nodes = {conv, relu, pool, flat, fc, soft};

    g.initializers["w/conv"] = testutil::randomTensor({4, 2, 3, 3}, 1);
    g.initializers["b%conv"] = testutil::randomTensor({4}, 2);
    g.initializers["fc.weight"] = testutil::randomTensor({5, 36}, 3);
    g.initializers["fc.bias"] = testutil::randomTensor({5}, 4);
    Tensor q(DType::Int8, {3, 2});
    Tensor u(DType::UInt8, {4});
    Tensor i32(DType::Int32, {2});
    for (int i = 0; i < 6; ++i)
        q.data<int8_t>()[i] = int8_t(i * 50 - 128);
    for (int i = 0; i < 4; ++i)
        u.data<uint8_t>()[i] = uint8_t(255 - i * 60);
    i32.data<int32_t>()[0] = -123456;
    i32.data<int32_t>()[1] = 2147483647;
    g.initializers["q"] = q;
    g.initializers["u"] = u;
    g.initializers["i32"] = i32;
    g.initializers["shape"] = Tensor::fromInt64s({3}, {0, -1, int64_t(1) << 40});
    g.initializers["scalar"] = Tensor::scalar(-0.f);
    g.initializers["empty"] = Tensor(DType::Float32, {0, 3});
    g.initializers["."] = Tensor::scalar(1.f);
    g.initializers["half"] = Tensor::fromFloats({2, 3}, {0.1f, -0.f, 65504.f, 0x1p-24f, INFINITY, NAN}).castTo(DType::Float16);
    g.initializers["bf16"] = Tensor::fromFloats({3}, {0.1f, -3e38f, 1e-40f}).castTo(DType::BFloat16);
    relu.attrs["_htensor"] = Attribute::makeTensor(Tensor::fromFloats({2}, {0.1f, -2.f}).castTo(DType::Float16));
    g.nodes[1] = relu;
    return m;
}

bool sameFloat(float a, float b)
{
    return std::memcmp(&a, &b, sizeof a) == 0 || (std::isnan(a) && std::isnan(b));
}

// Empty when equal, else the first difference.
QString compareTensors(const Tensor &a, const Tensor &b)
{
    if (a.dtype() != b.dtype())
        return QStringLiteral("dtype %1 != %2").arg(dtypeName(a.dtype()), dtypeName(b.dtype()));
    if (a.shape() != b.shape())
        return QString::fromStdString("shape " + shapeToString(a.shape()) + " != " + shapeToString(b.shape()));
    if (a.byteSize() && std::memcmp(a.rawData(), b.rawData(), a.byteSize()) != 0)
        return "data differs";
    return {};
}

QString compareGraphs(const Graph &ga, const Graph &gb);

QString compareAttrs(const Attribute &a, const Attribute &b)
{
    if (a.kind != b.kind)
        return "kind differs";
    switch (a.kind) {
    case Attribute::Kind::Int: return a.i == b.i ? QString() : "int differs";
    case Attribute::Kind::Float: return sameFloat(a.f, b.f) ? QString() : "float differs";
    case Attribute::Kind::String: return a.s == b.s ? QString() : "string differs";
    case Attribute::Kind::Ints: return a.ints == b.ints ? QString() : "ints differ";
    case Attribute::Kind::Strings: return a.strings == b.strings ? QString() : "strings differ";
    case Attribute::Kind::Floats:
        if (a.floats.size() != b.floats.size())
            return "floats differ in length";
        for (size_t i = 0; i < a.floats.size(); ++i)
            if (!sameFloat(a.floats[i], b.floats[i]))
                return QStringLiteral("floats[%1] %2 != %3").arg(i).arg(a.floats[i]).arg(b.floats[i]);
        return {};
    case Attribute::Kind::Tensor: return compareTensors(a.t, b.t);
    case Attribute::Kind::Graph:
        if (!a.graph || !b.graph)
            return a.graph == b.graph ? QString() : "one graph is missing";
        if (QString e = compareGraphs(*a.graph, *b.graph); !e.isEmpty())
            return "subgraph: " + e;
        return {};
    }
    return {};
}

QString compareValueInfos(const std::vector<ValueInfo> &a, const std::vector<ValueInfo> &b)
{
    if (a.size() != b.size())
        return "count differs";
    for (size_t i = 0; i < a.size(); ++i)
        if (a[i].name != b[i].name || a[i].dtype != b[i].dtype || a[i].shapeKnown != b[i].shapeKnown ||
            a[i].shape != b[i].shape)
            return QString::fromStdString("value '" + a[i].name + "' differs");
    return {};
}

// Empty when the graphs, weights and metadata are identical.
QString compareModels(const Model &a, const Model &b)
{
    if (a.opsetVersion != b.opsetVersion)
        return "opset differs";
    if (a.producerName != b.producerName)
        return "producer differs";
    if (a.metadata != b.metadata)
        return "metadata differs";
    return compareGraphs(a.graph, b.graph);
}

QString compareGraphs(const Graph &ga, const Graph &gb)
{
    if (ga.name != gb.name)
        return "graph name differs";
    if (QString e = compareValueInfos(ga.inputs, gb.inputs); !e.isEmpty())
        return "inputs: " + e;
    if (QString e = compareValueInfos(ga.outputs, gb.outputs); !e.isEmpty())
        return "outputs: " + e;
    if (ga.nodes.size() != gb.nodes.size())
        return "node count differs";
    for (size_t i = 0; i < ga.nodes.size(); ++i) {
        const Node &x = ga.nodes[i], &y = gb.nodes[i];
        const QString where = QString::fromStdString("node '" + x.name + "': ");
        if (x.name != y.name || x.opType != y.opType || x.domain != y.domain || x.inputs != y.inputs ||
            x.outputs != y.outputs)
            return where + "name, op, domain, inputs or outputs differ";
        if (x.attrs.size() != y.attrs.size())
            return where + "attribute count differs";
        for (const auto &[k, v] : x.attrs) {
            if (!y.attrs.count(k))
                return where + QString::fromStdString("attribute '" + k + "' missing");
            if (QString e = compareAttrs(v, y.attrs.at(k)); !e.isEmpty())
                return where + QString::fromStdString("attribute '" + k + "': ") + e;
        }
    }
    if (ga.initializers.size() != gb.initializers.size())
        return "initializer count differs";
    for (const auto &[name, t] : ga.initializers) {
        if (!gb.initializers.count(name))
            return QString::fromStdString("initializer '" + name + "' missing");
        if (QString e = compareTensors(t, gb.initializers.at(name)); !e.isEmpty())
            return QString::fromStdString("initializer '" + name + "': ") + e;
    }
    return {};
}

QByteArray readAll(const QString &path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

void writeAll(const QString &path, const QByteArray &bytes)
{
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(bytes);
}

// Weights for the sparse encoding: `zeroEvery` > 0 zeros every element whose index is a multiple of it.
Tensor sparseFloats(int64_t n, int zeroEvery, unsigned seed)
{
    Tensor t = testutil::randomTensor({n / 8, 8}, seed);
    float *p = t.data<float>();
    for (int64_t i = 0; zeroEvery > 0 && i < n; i += zeroEvery)
        p[i] = 0.f;
    return t;
}

Tensor sparseInts(DType dtype, int64_t n, int zeroEvery, int lo, int hi, unsigned seed)
{
    Tensor t(dtype, {n});
    std::mt19937 gen(seed);
    for (int64_t i = 0; i < n; ++i) {
        int v = lo + int(gen() % unsigned(hi - lo + 1));
        if (v == 0)
            v = hi; // zeros only where the pattern puts them
        if (zeroEvery > 0 && i % zeroEvery == 0)
            v = 0;
        if (dtype == DType::Int8)
            t.data<int8_t>()[i] = int8_t(v);
        else
            t.data<uint8_t>()[i] = uint8_t(v);
    }
    return t;
}

// A float tensor, half zeros, with the values a bitwise round trip must keep: NaN (with a payload), -0.0 (a
// value, not a zero: only all-zero bits count as zero), infinities and a denormal.
Tensor awkwardFloats()
{
    Tensor t = sparseFloats(256, 2, 21);
    float *p = t.data<float>();
    uint32_t payloadNan = 0x7fc00123u;
    std::memcpy(&p[1], &payloadNan, 4);
    p[3] = -0.f;
    p[5] = INFINITY;
    p[7] = -INFINITY;
    p[9] = 1e-45f;
    p[11] = -NAN;
    return t;
}

Model singleTensorModel(const std::map<std::string, Tensor> &tensors)
{
    Model m;
    m.opsetVersion = 17;
    m.graph.name = "weights";
    m.graph.initializers = tensors;
    return m;
}

} // namespace

class TestH5 : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString path(const QString &file) const { return m_dir.filePath(file); }
    QString writeModel(const QString &file)
    {
        const QString p = path(file);
        saveModel(makeModel(), p.toStdString());
        return p;
    }

private slots:
    void initTestCase() { QVERIFY(m_dir.isValid()); }

    void roundTripIsIdentical()
    {
        const Model original = makeModel();
        const QString file = writeModel("roundtrip.h5");
        const ModelFormat *format = formatForFile(file.toStdString());
        QVERIFY(format);
        QCOMPARE(format->extension(), std::string("h5"));
        const Model back = format->read(file.toStdString());
        const QString diff = compareModels(original, back);
        QVERIFY2(diff.isEmpty(), qPrintable(diff));
        QCOMPARE(back.sourcePath, file.toStdString());
        // Writing what was read gives the same model again.
        saveModel(back, path("roundtrip2.h5").toStdString());
        const Model again = format->read(path("roundtrip2.h5").toStdString());
        QVERIFY2(compareModels(original, again).isEmpty(), qPrintable(compareModels(original, again)));
    }

    void roundTripGivesSameOutputs()
    {
        const Model original = makeModel();
        const QString file = writeModel("outputs.h5");
        Model loaded;
        try {
            loaded = loadModel(file.toStdString());
        } catch (const Error &e) {
            QFAIL(e.what());
        }
        // loadModel normalised and shape-inferred it.
        QCOMPARE(loaded.graph.outputs[0].shape, (Shape{-1, 5}));
        QVERIFY(loaded.graph.values.count("p"));
        QCOMPARE(loaded.graph.values.at("p").shape, (Shape{-1, 4, 3, 3}));
        for (int64_t batch : {1, 3}) {
            const Tensor x = testutil::randomTensor({batch, 2, 6, 6}, unsigned(10 + batch));
            // One thread each: the loaded graph has inferred shapes, so on two threads it would run batch-parallel
            // (runtime/batch_split.h), the original not, and their float sums would differ in the last bits.
            const Tensor a = Session(original, SessionOptions{1}).run(x);
            const Tensor b = Session(loaded, SessionOptions{1}).run(x);
            QCOMPARE(a.shape(), (Shape{batch, 5}));
            QVERIFY2(compareTensors(a, b).isEmpty(), qPrintable(compareTensors(a, b)));
            const Tensor split = Session(loaded, SessionOptions{2}).run(x);
            for (int64_t i = 0; i < a.numel(); ++i)
                QVERIFY(std::abs(split.f32()[i] - a.f32()[i]) <= 1e-5f * std::max(1.f, std::abs(a.f32()[i])));
        }
    }

    void onnxToH5RoundTrip()
    {
        // A model that came from ONNX (with its metadata and "_opset" attributes) survives .h5 unchanged.
        Model m = makeModel();
        const QString onnxFile = path("via.onnx");
        saveModel(m, onnxFile.toStdString());
        const Model fromOnnx = formatForFile(onnxFile.toStdString())->read(onnxFile.toStdString());
        saveModel(fromOnnx, path("via.h5").toStdString());
        const Model fromH5 = formatForFile(path("via.h5").toStdString())->read(path("via.h5").toStdString());
        const QString diff = compareModels(fromOnnx, fromH5);
        QVERIFY2(diff.isEmpty(), qPrintable(diff));
    }

    // Subgraphs (If branches, their nodes, attributes and initializers) survive .h5 unchanged, and the comparison
    // does look into them.
    void subgraphsRoundTrip()
    {
        const Model m = loadModel(testutil::sourcePath("tests/fuzz/corpus/onnx/branches.onnx").toStdString());
        saveModel(m, path("branches.h5").toStdString());
        const Model back = formatForFile(path("branches.h5").toStdString())->read(path("branches.h5").toStdString());
        const QString diff = compareModels(m, back);
        QVERIFY2(diff.isEmpty(), qPrintable(diff));
        Model changed = back;
        Node &branch = changed.graph.nodes.back();
        Graph then = *branch.subgraph("then_branch");
        then.nodes[0].inputs[0] = "other";
        branch.attrs["then_branch"] = Attribute::makeGraph(then);
        QVERIFY(compareModels(m, changed).contains("subgraph: node"));
    }

    void h5dumpReadsIt()
    {
        const QString h5dump = QStandardPaths::findExecutable("h5dump");
        if (h5dump.isEmpty())
            QSKIP("h5dump is not installed (Debian package hdf5-tools)");
        const QString file = writeModel("dump.h5");
        QString error;
        const QString header = QString::fromUtf8(testutil::runProcess(h5dump, {"-H", file}, &error));
        QVERIFY2(error.isEmpty(), qPrintable(error));
        for (const char *needle : {"GROUP \"graph\"", "GROUP \"initializers\"", "GROUP \"metadata\"",
                                   "ATTRIBUTE \"format\"", "ATTRIBUTE \"format_version\"", "DATASET \"fc.weight\"",
                                   "DATASET \"w%2Fconv\"", "H5T_IEEE_F32LE", "H5T_STD_I8LE", "H5T_STD_U8LE",
                                   "H5T_STD_I64LE"})
            QVERIFY2(header.contains(needle), needle);
        // The graph is plain JSON text.
        const QString nodes = QString::fromUtf8(testutil::runProcess(h5dump, {"-d", "/graph/nodes", file}, &error));
        QVERIFY2(error.isEmpty(), qPrintable(error));
        QVERIFY(nodes.contains("\\\"op\\\":\\\"Conv\\\"") || nodes.contains("\"op\":\"Conv\""));
        // Attribute values print as text.
        const QString attr = QString::fromUtf8(testutil::runProcess(h5dump, {"-a", "/format", file}, &error));
        QVERIFY2(attr.contains("compression-workbench-model"), qPrintable(attr));
    }

    void unknownGroupsAreIgnored()
    {
        const QString h5copy = QStandardPaths::findExecutable("h5copy");
        if (h5copy.isEmpty())
            QSKIP("h5copy is not installed (Debian package hdf5-tools)");
        const QString file = writeModel("extended.h5");
        QString error;
        testutil::runProcess(h5copy, {"-i", writeModel("donor.h5"), "-o", file, "-s", "/graph", "-d", "/results/graph",
                                      "-p"},
                             &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        const Model back = formatForFile(file.toStdString())->read(file.toStdString());
        QVERIFY(compareModels(makeModel(), back).isEmpty());
    }

    void errors_data()
    {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("mustMention");
        QTest::newRow("truncated") << "truncated.h5" << "";
        QTest::newRow("random bytes") << "random.h5" << "not an HDF5 file";
        QTest::newRow("empty file") << "empty.h5" << "";
        QTest::newRow("missing file") << "no/such/model.h5" << "";
        QTest::newRow("HDF5 but not a model") << "not_a_model.h5" << "not a Compression Workbench model";
        QTest::newRow("corrupt graph JSON") << "bad_json.h5" << "";
    }

    void errors()
    {
        QFETCH(QString, file);
        QFETCH(QString, mustMention);
        const QByteArray good = readAll(writeModel("good.h5"));
        QVERIFY(good.size() > 1000);
        writeAll(path("truncated.h5"), good.left(good.size() / 2));
        std::mt19937 gen(7);
        QByteArray noise(4096, 0);
        for (char &c : noise)
            c = char(gen());
        writeAll(path("random.h5"), noise);
        writeAll(path("empty.h5"), {});
        // Corrupt the JSON text of /graph/nodes in place (same length, so the file stays valid HDF5).
        QByteArray bad = good;
        const int at = bad.indexOf("[{\"attrs\"");
        QVERIFY(at >= 0);
        bad[at] = '#';
        writeAll(path("bad_json.h5"), bad);
        if (file == "not_a_model.h5") {
            const QString h5copy = QStandardPaths::findExecutable("h5copy");
            if (h5copy.isEmpty())
                QSKIP("h5copy is not installed");
            QFile::remove(path(file));
            QString error;
            testutil::runProcess(h5copy, {"-i", path("good.h5"), "-o", path(file), "-s", "/initializers", "-d", "/x"},
                                 &error);
            QVERIFY2(error.isEmpty(), qPrintable(error));
        }
        const QString full = file.startsWith("no/") ? file : path(file);
        const QString message = errorOf([&] { loadModel(full.toStdString()); });
        QVERIFY2(!message.isEmpty(), "loading did not fail");
        QVERIFY2(message.contains(full), qPrintable("file name missing from: " + message));
        QVERIFY2(message.contains(mustMention), qPrintable("'" + mustMention + "' missing from: " + message));
        // The same through the in-memory reader, for files that exist.
        if (QFile::exists(full)) {
            const QString m2 = errorOf([&] { readH5Bytes(readAll(full).toStdString(), "bytes.h5"); });
            QVERIFY2(m2.contains("bytes.h5"), qPrintable(m2));
        }
    }

    // Random damage comes back as cw::Error naming the source, never as a crash (libhdf5 itself crashes on
    // some corrupt structures, e.g. a damaged global heap, which is why the format writes no vlen strings).
    void corruptedBytesGiveErrors()
    {
        const std::string good = readAll(writeModel("fuzz.h5")).toStdString();
        std::mt19937 gen(99);
        int failures = 0, loaded = 0;
        for (int round = 0; round < 300; ++round) {
            std::string bytes = good;
            const int flips = 1 + int(gen() % 8);
            for (int i = 0; i < flips; ++i)
                bytes[gen() % bytes.size()] = char(gen());
            if (round % 3 == 0)
                bytes.resize(gen() % bytes.size());
            try {
                readH5Bytes(bytes, "fuzzed.h5");
                ++loaded;
            } catch (const Error &e) {
                if (!QString(e.what()).contains("fuzzed.h5")) {
                    qWarning("round %d: message without the file name: %s", round, e.what());
                    ++failures;
                }
            } catch (const std::exception &e) {
                qWarning("round %d: %s", round, e.what());
                ++failures;
            }
        }
        QCOMPARE(failures, 0);
        QVERIFY(loaded < 300);
    }

    void readH5BytesMatchesFile()
    {
        const QString file = writeModel("bytes.h5");
        const QByteArray bytes = readAll(file);
        Model fromBytes, fromFile;
        try {
            fromBytes = readH5Bytes(bytes.toStdString(), "in-memory");
            fromFile = loadModel(file.toStdString());
        } catch (const Error &e) {
            QFAIL(e.what());
        }
        QCOMPARE(fromBytes.sourcePath, std::string("in-memory"));
        QVERIFY(!fromBytes.graph.values.empty());
        const QString diff = compareModels(fromFile, fromBytes);
        QVERIFY2(diff.isEmpty(), qPrintable(diff));
    }

    void demoModelsLoadIfBuiltIn()
    {
        for (const std::string &name : demoModelNames()) {
            const QString e = errorOf([&] {
                const Model m = loadModel(name);
                if (m.graph.nodes.empty() || m.graph.values.empty())
                    throw Error("demo '" + name + "' loaded without nodes or shapes");
            });
            QVERIFY2(e.isEmpty() || e.contains("is not built into this binary"), qPrintable(e));
        }
    }

    // ---- sparse initializers ---------------------------------------------------------------------------------

    void sparseRoundTrip_data()
    {
        QTest::addColumn<Tensor>("tensor");
        QTest::addColumn<bool>("sparse");
        QTest::newRow("float32 half zeros, NaN / -0.0 / inf / denormal") << awkwardFloats() << true;
        QTest::newRow("float32 50% pruned by magnitude")
            << pruneMagnitude(testutil::randomTensor({32, 1, 3, 3}, 5), 0.5) << true;
        QTest::newRow("float32 all zeros") << Tensor(DType::Float32, {16, 16}) << true;
        QTest::newRow("float32 dense: no zeros") << testutil::randomTensor({32, 9}, 6) << false;
        QTest::newRow("float32 3% zeros: sparse would grow") << sparseFloats(4096, 32, 7) << false;
        QTest::newRow("float32 -0.0 everywhere is not sparse")
            << Tensor::fromFloats({64, 4}, std::vector<float>(256, -0.f)) << false;
        QTest::newRow("float32 too small (< 64 values)") << sparseFloats(56, 2, 8) << false;
        QTest::newRow("int8 half zeros, 8-bit values") << sparseInts(DType::Int8, 4096, 2, -127, 127, 9) << true;
        QTest::newRow("int8 half zeros, 4-bit values packed") << sparseInts(DType::Int8, 4096, 2, -7, 7, 10) << true;
        QTest::newRow("int8 4-bit, 10% zeros: packed dense is smaller")
            << sparseInts(DType::Int8, 4096, 10, -7, 7, 11) << false;
        QTest::newRow("int8 dense") << sparseInts(DType::Int8, 4096, 0, -127, 127, 12) << false;
        QTest::newRow("uint8 25% zeros, 8-bit values") << sparseInts(DType::UInt8, 4096, 4, 1, 255, 13) << true;
        QTest::newRow("uint8 10% zeros: sparse would grow") << sparseInts(DType::UInt8, 4096, 10, 1, 255, 14) << false;
        QTest::newRow("uint8 all zeros: 1-bit packing beats the mask")
            << sparseInts(DType::UInt8, 8192, 1, 1, 255, 15) << false;
    }

    void sparseRoundTrip()
    {
        QFETCH(Tensor, tensor);
        QFETCH(bool, sparse);
        const QString file = path("sparse.h5");
        const Model m = singleTensorModel({{"t", tensor}, {"dense", testutil::randomTensor({4, 4}, 1)}});
        Model back;
        try {
            saveModel(m, file.toStdString());
            back = formatForFile(file.toStdString())->read(file.toStdString());
        } catch (const Error &e) {
            QFAIL(e.what());
        }
        const QString diff = compareTensors(tensor, back.graph.initializers.at("t"));
        QVERIFY2(diff.isEmpty(), qPrintable(diff));
        QVERIFY(compareTensors(m.graph.initializers.at("dense"), back.graph.initializers.at("dense")).isEmpty());
        // Which form the writer chose, and the version it announced.
        const QString h5dump = QStandardPaths::findExecutable("h5dump");
        if (h5dump.isEmpty())
            QSKIP("h5dump is not installed (Debian package hdf5-tools)");
        QString error;
        const QString header = QString::fromUtf8(testutil::runProcess(h5dump, {"-A", file}, &error));
        QVERIFY2(error.isEmpty(), qPrintable(error));
        QCOMPARE(header.contains("ATTRIBUTE \"encoding\""), sparse);
        const QString version = QString::fromUtf8(testutil::runProcess(h5dump, {"-a", "/format_version", file}, &error));
        if (sparse)
            QVERIFY2(version.contains("(0): 3"), qPrintable(version));
        else
            QVERIFY2(!version.contains("(0): 3"), qPrintable(version));
    }

    void prunedWeightShrinksTheFile()
    {
        const Tensor pruned = pruneMagnitude(testutil::randomTensor({64, 64}, 3), 0.5);
        const Tensor dense = testutil::randomTensor({64, 64}, 3);
        saveModel(singleTensorModel({{"t", pruned}}), path("p.h5").toStdString());
        saveModel(singleTensorModel({{"t", dense}}), path("d.h5").toStdString());
        const qint64 p = QFileInfo(path("p.h5")).size(), d = QFileInfo(path("d.h5")).size();
        // 4096 floats: 16384 bytes dense, 512 + 2048 * 4 = 8704 sparse.
        QVERIFY2(p < d - 7000, qPrintable(QStringLiteral("%1 vs %2").arg(p).arg(d)));
    }

    void prunedDemoIsSmaller()
    {
        Model demo;
        try {
            demo = loadModel("demo");
        } catch (const Error &e) {
            QSKIP(e.what());
        }
        Model pruned = demo;
        int layers = 0;
        for (const Node &n : pruned.graph.nodes) {
            const std::string w = layerWeight(pruned.graph, n);
            if (w.empty())
                continue;
            pruned.graph.initializers[w] = pruneMagnitude(pruned.graph.initializers.at(w), 0.5);
            ++layers;
        }
        QVERIFY(layers >= 3);
        saveModel(demo, path("demo.h5").toStdString());
        saveModel(pruned, path("demo-pruned.h5").toStdString());
        const qint64 denseSize = QFileInfo(path("demo.h5")).size(), prunedSize = QFileInfo(path("demo-pruned.h5")).size();
        qInfo("demo .h5: %lld bytes dense, %lld bytes 50%% magnitude-pruned", denseSize, prunedSize);
        // Half the float weights: about 4 + 1/8 + ... -> roughly 2.1 / 4 of the weight bytes.
        QVERIFY2(prunedSize < denseSize * 6 / 10, qPrintable(QStringLiteral("%1 vs %2").arg(prunedSize).arg(denseSize)));
        const Model back = loadModel(path("demo-pruned.h5").toStdString());
        for (const auto &[name, t] : pruned.graph.initializers)
            QVERIFY2(compareTensors(t, back.graph.initializers.at(name)).isEmpty(), name.c_str());
        const Tensor x = testutil::randomTensor({2, 1, 28, 28}, 4);
        QVERIFY(compareTensors(Session(pruned).run(x), Session(back).run(x)).isEmpty());
    }

    void numpyDecodesSparse()
    {
        // The layout docs/formats.md describes, decoded with its numpy snippet.
        const std::map<std::string, Tensor> tensors = {
            {"f/awkward", awkwardFloats()},
            {"i8", sparseInts(DType::Int8, 1000, 2, -127, 127, 31)},
            {"i8.4bit", sparseInts(DType::Int8, 4000, 2, -8, 7, 32)},
            {"u8", sparseInts(DType::UInt8, 2000, 2, 1, 255, 33)},
            {"u8.4bit", sparseInts(DType::UInt8, 8000, 2, 1, 15, 34)},
        };
        const QString file = path("numpy.h5");
        saveModel(singleTensorModel(tensors), file.toStdString());
        const QString code = QStringLiteral(
                                 "import h5py, numpy as np\n"
                                 "f = h5py.File('%1', 'r')\n"
                                 "assert f.attrs['format_version'] == 3, f.attrs['format_version']\n"
                                 "for i, d in enumerate(f['initializers'].values()):\n"
                                 "    enc = d.attrs['encoding']\n"
                                 "    assert enc in (b'sparse', 'sparse'), enc\n"
                                 "    dtype, shape = d.attrs['dtype'], d.attrs['shape']\n"
                                 "    dtype = np.dtype('<f4' if dtype in (b'float32', 'float32') else dtype.decode() "
                                 "if isinstance(dtype, bytes) else dtype)\n"
                                 "    n, nnz, b = int(np.prod(shape)), int(d.attrs['nnz']), int(d.attrs['value_bits'])\n"
                                 "    raw = d[()]\n"
                                 "    mask = np.unpackbits(raw[: (n + 7) // 8], bitorder='little')[:n].astype(bool)\n"
                                 "    if b == 0:\n"
                                 "        values = raw[(n + 7) // 8 :].view(dtype)\n"
                                 "    else:\n"
                                 "        bits = np.unpackbits(raw[(n + 7) // 8 :], bitorder='little')[: nnz * b].reshape(nnz, b)\n"
                                 "        values = (bits * (1 << np.arange(b))).sum(1)\n"
                                 "        if dtype == np.int8:\n"
                                 "            values = np.where(values >= 1 << (b - 1), values - (1 << b), values)\n"
                                 "    w = np.zeros(n, dtype)\n"
                                 "    w[mask] = values\n"
                                 "    w = w.reshape(shape)\n"
                                 "    name = d.attrs['name']\n"
                                 "    name = name.decode() if isinstance(name, bytes) else name\n"
                                 "    np.save(name.replace('/', '_') + '.npy', w)\n")
                                 .arg(file);
        QString error;
        if (!testutil::runPython(code, m_dir.path(), &error)) {
            if (error.contains("No module named 'h5py'"))
                QSKIP("h5py is not installed");
            QFAIL(qPrintable(error));
        }
        for (const auto &[name, t] : tensors) {
            QString npy = QString::fromStdString(name).replace('/', '_') + ".npy";
            const Tensor decoded = readNpy(m_dir.filePath(npy).toStdString());
            QCOMPARE(decoded.numel(), t.numel());
            const QString diff = compareTensors(t, decoded.reshaped(t.shape()));
            QVERIFY2(diff.isEmpty(), qPrintable(QString::fromStdString(name) + ": " + diff));
        }
    }

    // float16 tensors are HDF5 16-bit IEEE floats that h5py reads as numpy float16, rounded as numpy rounds;
    // bfloat16 ones a 16-bit float type with bfloat16's fields that h5py reads (widened by libhdf5) as float32.
    void numpyDecodesHalfFloats()
    {
        std::mt19937 gen(16);
        std::vector<float> values{0.f, -0.f, 1.f, 65504.f, 65519.f, 65520.f, 0x1p-24f, 0x1p-25f, 3 * 0x1p-25f,
                                  0x1p-14f - 0x1p-25f, INFINITY, -INFINITY, NAN, 1e-40f, 3.4e38f};
        while (values.size() < 20000) {
            // Exponents 2^-27 .. 2^17: the float16 subnormals, normals and overflow, with random mantissas.
            const uint32_t bits = (uint32_t(gen()) & 0x807fffffu) | ((100u + uint32_t(gen() % 45)) << 23);
            float f;
            std::memcpy(&f, &bits, 4);
            values.push_back(f);
        }
        const Tensor source = Tensor::fromFloats({int64_t(values.size())}, values);
        const Tensor half = source.castTo(DType::Float16), bf = source.castTo(DType::BFloat16);
        const QString file = path("half.h5");
        saveModel(singleTensorModel({{"h16", half}, {"bf16", bf}}), file.toStdString());
        writeNpy(source, path("half_source.npy").toStdString());
        const Model back = loadModel(file.toStdString());
        QVERIFY(compareTensors(back.graph.initializers.at("h16"), half).isEmpty());
        QVERIFY(compareTensors(back.graph.initializers.at("bf16"), bf).isEmpty());
        const QString code = QStringLiteral(
                                 "import h5py, numpy as np\n"
                                 "f = h5py.File('%1', 'r')\n"
                                 "src = np.load('half_source.npy')\n"
                                 "h = f['initializers']['h16']\n"
                                 "assert h.dtype == np.float16, h.dtype\n"
                                 "a, ref = h[()], src.astype(np.float16)\n"
                                 "nan = np.isnan(ref)\n"
                                 "assert (np.isnan(a) == nan).all()\n"
                                 "bad = np.nonzero(a.view(np.uint16)[~nan] != ref.view(np.uint16)[~nan])[0]\n"
                                 "assert len(bad) == 0, (src[~nan][bad[:5]], a[~nan][bad[:5]], ref[~nan][bad[:5]])\n"
                                 "b = f['initializers']['bf16']\n"
                                 "assert b.dtype == np.float32, b.dtype\n"
                                 "np.save('bf16_h5py.npy', b[()])\n")
                                 .arg(file);
        QString error;
        if (!testutil::runPython(code, m_dir.path(), &error)) {
            if (error.contains("No module named 'h5py'"))
                QSKIP("h5py is not installed");
            QFAIL(qPrintable(error));
        }
        const Tensor decoded = readNpy(path("bf16_h5py.npy").toStdString());
        const std::vector<float> ours = bf.toFloatVector(), theirs = decoded.toFloatVector();
        QCOMPARE(theirs.size(), ours.size());
        for (size_t i = 0; i < ours.size(); ++i)
            if (!sameFloat(ours[i], theirs[i]))
                QFAIL(qPrintable(QStringLiteral("bfloat16 %1: h5py %2, ours %3").arg(i).arg(theirs[i]).arg(ours[i])));
    }

    void unknownEncodingIsRejected()
    {
        const QString file = path("encoding.h5");
        saveModel(singleTensorModel({{"layer.weight", awkwardFloats()}}), file.toStdString());
        QByteArray bytes = readAll(file);
        QVERIFY(bytes.contains("sparse"));
        bytes.replace("sparse", "sparsy"); // same length: the file stays valid HDF5
        writeAll(path("encoding2.h5"), bytes);
        const QString message = errorOf([&] { loadModel(path("encoding2.h5").toStdString()); });
        QVERIFY2(message.contains("'layer.weight'") && message.contains("'sparsy'") && message.contains("encoding"),
                 qPrintable(message));
    }

    void concurrentReads()
    {
        // HDF5 calls are serialised inside the format; parallel loads must neither crash nor corrupt.
        const QString file = writeModel("parallel.h5");
        const QByteArray bytes = readAll(file);
        std::vector<std::thread> threads;
        std::atomic<int> failures{0};
        for (int t = 0; t < 4; ++t)
            threads.emplace_back([&, t] {
                for (int i = 0; i < 5; ++i) {
                    try {
                        const Model m = t % 2 ? formatForFile(file.toStdString())->read(file.toStdString())
                                              : readH5Bytes(bytes.toStdString(), "mem");
                        if (m.graph.initializers.size() != makeModel().graph.initializers.size())
                            ++failures;
                    } catch (...) {
                        ++failures;
                    }
                }
            });
        for (auto &th : threads)
            th.join();
        QCOMPARE(failures.load(), 0);
    }
};

QTEST_GUILESS_MAIN(TestH5)
#include "test_h5.moc"
