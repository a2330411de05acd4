// ONNX import and export, checked against onnxruntime on models generated at test time by
// tests/tools/make_onnx_cases.py (Debian's python3 with onnx + numpy).
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>

#include <cstring>
#include <functional>
#include <random>
#include <set>
#include <tuple>

#include "core/base/error.h"
#include "core/io/model_io.h"
#include "core/runtime/session.h"
#include "testutil.h"

using namespace cw;
using testutil::errorOf;

namespace {

struct Case {
    QString name;
    QString file;
    std::vector<std::pair<std::string, Tensor>> feeds;
    double rtol = 1e-4, atol = 1e-5; // against onnxruntime; float16 graphs agree to about one float16 unit
};

std::map<std::string, Tensor> toMap(const std::vector<std::pair<std::string, Tensor>> &feeds)
{
    return {feeds.begin(), feeds.end()};
}

} // namespace

class TestOnnx : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QJsonArray m_cases;
    QString path(const QString &file) const { return m_dir.filePath(file); }
    Case caseFromRow(const QJsonObject &o) const
    {
        Case c;
        c.name = o["name"].toString();
        c.file = path(o["file"].toString());
        if (o.contains("tolerance")) {
            c.rtol = o["tolerance"].toArray()[0].toDouble();
            c.atol = o["tolerance"].toArray()[1].toDouble();
        }
        const QJsonArray inputs = o["inputs"].toArray();
        for (int i = 0; i < inputs.size(); ++i) {
            const QJsonArray in = inputs[i].toArray();
            Shape shape;
            for (const auto &d : in[1].toArray())
                shape.push_back(d.toInteger());
            const unsigned seed = unsigned(qHash(c.name) + 7919u * unsigned(i));
            Tensor feed = testutil::randomTensor(shape, seed, float(in[2].toDouble()), float(in[3].toDouble()));
            // The graph input's type: both runtimes get the same rounded values.
            const std::string type = in.size() > 4 ? in[4].toString().toStdString() : "float32";
            DType dtype = DType::Float32;
            if (type == "bool") { // 0 / 1: the parity of the integer part
                std::vector<int64_t> bits = feed.castTo(DType::Int64).toInt64Vector();
                for (int64_t &v : bits)
                    v &= 1;
                feed = Tensor::fromInt64s(shape, bits).castTo(DType::UInt8);
            } else if (dtypeFromName(type, &dtype))
                feed = feed.castTo(dtype);
            else
                qFatal("cases.json: unknown input dtype %s", type.c_str());
            c.feeds.emplace_back(in[0].toString().toStdString(), feed);
        }
        return c;
    }
    void addCaseRows()
    {
        QTest::addColumn<int>("index");
        for (int i = 0; i < m_cases.size(); ++i) {
            const QByteArray name = m_cases[i].toObject()["name"].toString().toUtf8();
            QTest::newRow(name.constData()) << i;
        }
    }
    // Our outputs, in graph output order.
    static std::vector<Tensor> runOurs(const Model &model, const std::vector<std::pair<std::string, Tensor>> &feeds)
    {
        Session session(model);
        auto out = session.run(toMap(feeds));
        std::vector<Tensor> result;
        for (const ValueInfo &v : model.graph.outputs)
            result.push_back(out.at(v.name));
        return result;
    }
    void compareOutputs(const std::vector<Tensor> &ours, const std::vector<Tensor> &ref, const Case &c)
    {
        QCOMPARE(ours.size(), ref.size());
        for (size_t i = 0; i < ours.size(); ++i) {
            const QString m = testutil::mismatch(ours[i], ref[i], c.rtol, c.atol);
            if (!m.isEmpty())
                QFAIL(qPrintable(QStringLiteral("output %1: %2").arg(i).arg(m)));
        }
    }
    void checkWithOnnxChecker(const QString &file)
    {
        QString error;
        const QString code = QStringLiteral("import onnx\nm = onnx.load(%1)\nonnx.checker.check_model(m, full_check=True)\n")
                                 .arg("'" + file + "'");
        if (!testutil::runPython(code, m_dir.path(), &error))
            QFAIL(qPrintable("onnx.checker rejected " + file + ": " + error));
    }

private slots:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        QString error;
        testutil::runProcess(testutil::python(), {testutil::sourcePath("tests/tools/make_onnx_cases.py"), m_dir.path()},
                             &error, 300000);
        QVERIFY2(error.isEmpty(), qPrintable("generating the test models failed: " + error));
        QFile f(path("cases.json"));
        QVERIFY(f.open(QIODevice::ReadOnly));
        m_cases = QJsonDocument::fromJson(f.readAll()).array();
        QVERIFY(m_cases.size() > 100);
    }

    // ---- structure of the imported graph (no kernels needed) ----------------------------------------------

    void constantNodesAreFolded()
    {
        const std::string file = path("Network_opset11_residual_constant_weights.onnx").toStdString();
        const Model m = formatForFile(file)->read(file);
        for (const Node &n : m.graph.nodes) {
            QVERIFY2(n.opType != "Constant", n.name.c_str());
            QCOMPARE(n.attrInt("_opset", -1), int64_t(11));
        }
        QCOMPARE(m.opsetVersion, int64_t(11));
        QCOMPARE(int(m.graph.nodes.size()), 6);
        QVERIFY(m.graph.isInitializer("k1"));
        QVERIFY(m.graph.isInitializer("alpha"));
        QCOMPARE(m.graph.initializers.at("k1").shape(), (Shape{4, 4, 3, 3}));
        QCOMPARE(m.graph.initializers.at("alpha").rank(), 0);
        QCOMPARE(m.graph.initializers.at("alpha").f32()[0], 0.5f);
        QCOMPARE(int(m.graph.inputs.size()), 1);
        QCOMPARE(m.graph.inputs[0].name, std::string("x"));
        QCOMPARE(m.graph.inputs[0].shape, (Shape{-1, 4, 6, 6})); // dim_param "N" -> -1
        QCOMPARE(m.sourcePath, file);
    }

    void constantForms()
    {
        for (const auto &[file, name, expected] :
             std::vector<std::tuple<QString, std::string, Tensor>>{
                 {"Constant_opset12_value_float.onnx", "c", Tensor::scalar(1.5f)},
                 {"Constant_opset13_value_ints_reshape.onnx", "s", Tensor::fromInt64s({2}, {2, -1})},
                 {"Constant_opset13_value_floats.onnx", "c", Tensor::fromFloats({3}, {1, 2, 3})},
             }) {
            const Model m = formatForFile(path(file).toStdString())->read(path(file).toStdString());
            QVERIFY(m.graph.isInitializer(name));
            const Tensor &t = m.graph.initializers.at(name);
            QCOMPARE(t.dtype(), expected.dtype());
            QCOMPARE(t.shape(), expected.shape());
            QCOMPARE(t.toFloatVector(), expected.toFloatVector());
        }
    }

    void initializersListedAsInputsAreNotInputs()
    {
        const std::string file = path("Network_opset9_inits_listed_as_inputs.onnx").toStdString();
        const Model m = formatForFile(file)->read(file);
        QCOMPARE(int(m.graph.inputs.size()), 1);
        QCOMPARE(m.graph.inputs[0].name, std::string("x"));
        QCOMPARE(int(m.graph.initializers.size()), 2);
    }

    void unnamedNodesGetNames()
    {
        const std::string file = path("Network_opset13_residual_unnamed_nodes.onnx").toStdString();
        const Model m = formatForFile(file)->read(file);
        std::set<std::string> names;
        for (const Node &n : m.graph.nodes) {
            QVERIFY(!n.name.empty());
            QVERIFY2(names.insert(n.name).second, n.name.c_str());
        }
        QVERIFY(names.count("Conv_0") || names.count("Conv_1"));
    }

    void typedFieldsAndConversions()
    {
        const std::string file = path("typed_fields.onnx").toStdString();
        const Model m = formatForFile(file)->read(file);
        const auto &in = m.graph.initializers;
        QCOMPARE(in.at("w").dtype(), DType::Float32);
        QCOMPARE(in.at("w").f32()[3], 0.25f * 3 - 2);
        QCOMPARE(in.at("d").dtype(), DType::Float32);
        QCOMPARE(in.at("d").toFloatVector(), (std::vector<float>{0.1f, -0.2f, 0.3f, 1e-3f, 2.5f}));
        QCOMPARE(in.at("d_raw").toFloatVector(), (std::vector<float>{1.5f, -2.5f, 0.f, 1e30f, -1e-30f}));
        QCOMPARE(in.at("q").dtype(), DType::Int8);
        QCOMPARE(in.at("q").toInt64Vector(), (std::vector<int64_t>{-128, -1, 0, 1, 127}));
        QCOMPARE(in.at("q_raw").toInt64Vector(), (std::vector<int64_t>{-3, 0, 3, 100, -100}));
        QCOMPARE(in.at("u").dtype(), DType::UInt8);
        QCOMPARE(in.at("u").toInt64Vector(), (std::vector<int64_t>{0, 1, 128, 200, 255}));
        QCOMPARE(in.at("i32").dtype(), DType::Int32);
        QCOMPARE(in.at("i32").toInt64Vector(), (std::vector<int64_t>{-70000, -1, 0, 1, 70000}));
        QCOMPARE(in.at("i64").dtype(), DType::Int64);
        QCOMPARE(in.at("i64").toInt64Vector(), (std::vector<int64_t>{-(int64_t(1) << 40), -1, 0, 1, int64_t(1) << 40}));
        QCOMPARE(in.at("flag").dtype(), DType::UInt8);
        QCOMPARE(in.at("flag").toInt64Vector(), (std::vector<int64_t>{1, 0, 1, 1, 0}));
    }

    // float16 / bfloat16 initializers keep their bit patterns, from raw_data and from int32_data alike.
    void halfFloatInitializers()
    {
        const std::string file = path("Float16_opset13_initializers_raw_and_typed.onnx").toStdString();
        const Model m = formatForFile(file)->read(file);
        const auto &in = m.graph.initializers;
        const std::vector<float> half{0.5f, -1.25f, 65504.f, 0x1p-24f, -0.f, 3.f};
        // bfloat16: 65504 rounds up to 65536, 3e38 to 0x7F62 (= 300613450595050653169853516389035139072).
        const std::vector<float> bf{0.5f, -1.25f, 65536.f, 0x1p-24f, -0.f, bfloat16ToFloat(0x7F62)};
        for (const char *name : {"hr", "ht"}) {
            QCOMPARE(in.at(name).dtype(), DType::Float16);
            QCOMPARE(in.at(name).toFloatVector(), half);
            QCOMPARE(in.at(name).data<Float16>()[4].bits, uint16_t(0x8000)); // -0 keeps its sign
        }
        for (const char *name : {"br", "bt"}) {
            QCOMPARE(in.at(name).dtype(), DType::BFloat16);
            QCOMPARE(in.at(name).toFloatVector(), bf);
        }
    }

    // A float16 model loads with float16 inputs, weights and outputs, and is saved (ONNX and .h5) as float16.
    void float16ModelStaysFloat16()
    {
        const std::string file = path("Float16_opset13_io_and_initializer.onnx").toStdString();
        const QString onnxOut = path("float16_resaved.onnx"), h5Out = path("float16_resaved.h5");
        Model m;
        try {
            m = loadModel(file);
            saveModel(m, onnxOut.toStdString());
            saveModel(m, h5Out.toStdString());
        } catch (const Error &e) {
            QFAIL(e.what());
        }
        QCOMPARE(m.graph.inputs[0].dtype, DType::Float16);
        QCOMPARE(m.graph.outputs[0].dtype, DType::Float16);
        QCOMPARE(m.graph.initializers.at("w").dtype(), DType::Float16);
        QCOMPARE(m.graph.values.at("y").dtype, DType::Float16);
        for (const QString &saved : {onnxOut, h5Out}) {
            const Model back = loadModel(saved.toStdString());
            QCOMPARE(back.graph.inputs[0].dtype, DType::Float16);
            QCOMPARE(back.graph.outputs[0].dtype, DType::Float16);
            const Tensor &w = back.graph.initializers.at("w");
            QCOMPARE(w.dtype(), DType::Float16);
            QCOMPARE(std::memcmp(w.rawData(), m.graph.initializers.at("w").rawData(), w.byteSize()), 0);
            const Tensor x = Tensor::fromFloats({2, 3}, {1, 2, 3, 4, 5, 6}).castTo(DType::Float16);
            const Tensor y = Session(back).run(x);
            QCOMPARE(y.dtype(), DType::Float16);
            QCOMPARE(y.shape(), (Shape{3, 3}));
        }
        checkWithOnnxChecker(onnxOut);
        QString error;
        const QString code = QStringLiteral(
                                 "import onnx\n"
                                 "from onnx import numpy_helper\n"
                                 "m = onnx.load('%1')\n"
                                 "g = m.graph\n"
                                 "assert g.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16, g.input[0]\n"
                                 "assert g.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16, g.output[0]\n"
                                 "w = [t for t in g.initializer if t.name == 'w'][0]\n"
                                 "assert w.data_type == onnx.TensorProto.FLOAT16, w.data_type\n"
                                 "assert numpy_helper.to_array(w).tolist() == [[1.5, -2.0, 0.0010004043579101562]], w\n")
                                 .arg(onnxOut);
        QVERIFY2(testutil::runPython(code, m_dir.path(), &error), qPrintable(error));
    }

    // A scalar int64 graph input ('sr', the sample rate of voice-activity models) is imported with its type and
    // rank 0, and a Session fed an int64 scalar agrees with onnxruntime.
    void scalarInt64Input()
    {
        const std::string file = path("scalar_int64_input.onnx").toStdString();
        Model m;
        try {
            m = formatForFile(file)->read(file);
        } catch (const Error &e) {
            QFAIL(e.what());
        }
        QCOMPARE(int(m.graph.inputs.size()), 2);
        const ValueInfo &sr = m.graph.inputs[1];
        QCOMPARE(sr.name, std::string("sr"));
        QCOMPARE(sr.dtype, DType::Int64);
        QVERIFY(sr.shapeKnown);
        QCOMPARE(sr.shape, Shape{});
        // loadModel also infers shapes, by running the graph on zero-filled inputs of the declared shapes; that
        // step does not take rank-0 inputs yet (it is being rewritten separately), so the Session is built on
        // the imported graph here. A load that succeeds is checked the same way.
        std::vector<Model> models{m};
        try {
            models.push_back(loadModel(file));
        } catch (const Error &e) {
            qInfo("loadModel: %s", e.what());
        }
        const Tensor x = testutil::randomTensor({2, 3}, 99);
        for (int64_t rate : {16000, 8000}) {
            const std::vector<std::pair<std::string, Tensor>> feeds{{"x", x}, {"sr", Tensor::fromInt64s({}, {rate})}};
            for (const Model &model : models) {
                std::vector<Tensor> ours;
                try {
                    ours = runOurs(model, feeds);
                } catch (const Error &e) {
                    QFAIL(e.what());
                }
                QCOMPARE(ours[1].dtype(), DType::Int64);
                QCOMPARE(ours[1].toInt64Vector(), std::vector<int64_t>{rate});
                QCOMPARE(ours[0].f32()[1], rate == 16000 ? x.f32()[1] * 16000.f : x.f32()[1]);
                if (!testutil::ortAvailable())
                    continue;
                QString error;
                const std::vector<Tensor> ref = testutil::runOrt(path("scalar_int64_input.onnx"), feeds, &error);
                QVERIFY2(error.isEmpty(), qPrintable(error));
                Case c;
                compareOutputs(ours, ref, c);
            }
        }
    }

    void metadataAndProducer()
    {
        const std::string file = path("with_metadata.onnx").toStdString();
        const Model m = formatForFile(file)->read(file);
        QCOMPARE(m.producerName, std::string("make_onnx_cases"));
        QCOMPARE(m.metadata.at("author"), std::string("tests"));
        QCOMPARE(m.metadata.at("license"), std::string("MIT"));
        QCOMPARE(m.graph.inputs[0].shape, (Shape{-1, 3}));
    }

    void formatRegistry()
    {
        QCOMPARE(int(modelFormats().size()), 2);
        QVERIFY(formatForFile("a/b/model.onnx") != nullptr);
        QCOMPARE(formatForFile("a/b/model.ONNX")->extension(), std::string("onnx"));
        QCOMPARE(formatForFile("model.h5")->extension(), std::string("h5"));
        QVERIFY(formatForFile(path("no_such_file.xyz").toStdString()) == nullptr);
        // Unknown extension: recognised by content.
        const QString renamed = path("cnn_copy.bin");
        QVERIFY(QFile::copy(path("Network_opset13_small_cnn.onnx"), renamed));
        const ModelFormat *f = formatForFile(renamed.toStdString());
        QVERIFY(f != nullptr);
        QCOMPARE(f->extension(), std::string("onnx"));
        QCOMPARE(demoModelNames(), (std::vector<std::string>{"demo", "demo-resnet"}));
        QVERIFY(isDemoModel("demo"));
        QVERIFY(!isDemoModel("demo.onnx"));
        const QString e = errorOf([] { saveModel(Model{}, "/tmp/model.txt"); });
        QVERIFY2(e.contains("model.txt"), qPrintable(e));
    }

    void demoModel()
    {
        // Either the demo is built in and loads, or the message says it is not.
        const QString e = errorOf([] {
            const Model m = loadModel("demo");
            if (m.graph.nodes.empty() || m.sourcePath != "demo")
                throw Error("demo loaded empty");
        });
        QVERIFY2(e.isEmpty() || e == "the demo model 'demo' is not built into this binary", qPrintable(e));
    }

    // ---- errors ---------------------------------------------------------------------------------------------

    void errors_data()
    {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QStringList>("mustMention");
        QTest::newRow("truncated") << "truncated.onnx" << QStringList{"truncated.onnx"};
        QTest::newRow("random bytes") << "random.onnx" << QStringList{"random.onnx"};
        QTest::newRow("empty file") << "empty.onnx" << QStringList{"empty.onnx", "empty"};
        QTest::newRow("missing file") << "does/not/exist.onnx" << QStringList{"does/not/exist.onnx"};
        QTest::newRow("unsupported op") << "unsupported_op.onnx" << QStringList{"unsupported_op.onnx", "mystery", "Det"};
        QTest::newRow("every unsupported node named")
            << "two_unsupported_ops.onnx" << QStringList{"two_unsupported_ops.onnx", "2 nodes", "'first' (Det", "'second' (Det"};
        QTest::newRow("uint16 weight") << "uint16_weight.onnx"
                                       << QStringList{"uint16_weight.onnx", "wide_weight", "uint16"};
        QTest::newRow("external data") << "external_data.onnx" << QStringList{"external_data.onnx", "big_weight", "external"};
        QTest::newRow("opset 7") << "old_opset.onnx" << QStringList{"old_opset.onnx", "opset 7"};
        QTest::newRow("unsupported op in a subgraph") << "control_flow.onnx"
                                                      << QStringList{"control_flow.onnx", "inner", "Det"};
    }

    void errors()
    {
        QFETCH(QString, file);
        QFETCH(QStringList, mustMention);
        {
            QFile src(path("Network_opset13_small_cnn.onnx"));
            QVERIFY(src.open(QIODevice::ReadOnly));
            const QByteArray bytes = src.readAll();
            QFile t(path("truncated.onnx"));
            QVERIFY(t.open(QIODevice::WriteOnly));
            t.write(bytes.left(bytes.size() * 6 / 10));
            QFile r(path("random.onnx"));
            QVERIFY(r.open(QIODevice::WriteOnly));
            std::mt19937 gen(42);
            QByteArray noise(4096, 0);
            for (char &c : noise)
                c = char(gen());
            r.write(noise);
            QFile e(path("empty.onnx"));
            QVERIFY(e.open(QIODevice::WriteOnly));
        }
        const std::string full = path(file).toStdString();
        const QString message = errorOf([&] { loadModel(full); });
        QVERIFY2(!message.isEmpty(), "loading did not fail");
        for (const QString &word : mustMention)
            QVERIFY2(message.contains(word), qPrintable("'" + word + "' missing from: " + message));
    }

    // Without requireKernels the same files load, for everything that does not run them, and
    // unsupportedNodes() names what blocks them; a Session still refuses them.
    void loadsWithoutKernels_data()
    {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QStringList>("blocking"); // "name op domain opset subgraph"
        QTest::newRow("one node") << "unsupported_op.onnx" << QStringList{"mystery Det - 13 -"};
        QTest::newRow("two nodes") << "two_unsupported_ops.onnx"
                                   << QStringList{"first Det - 13 -", "second Det - 13 -"};
        QTest::newRow("in a subgraph") << "control_flow.onnx" << QStringList{"inner Det - 13 branch"};
    }

    void loadsWithoutKernels()
    {
        QFETCH(QString, file);
        QFETCH(QStringList, blocking);
        LoadOptions options;
        options.requireKernels = false;
        const Model model = loadModel(path(file).toStdString(), options);
        QVERIFY(!model.graph.nodes.empty());
        QStringList got;
        for (const UnsupportedNode &n : unsupportedNodes(model))
            got << QStringLiteral("%1 %2 %3 %4 %5")
                       .arg(QString::fromStdString(n.name), QString::fromStdString(n.opType),
                            n.domain.empty() ? QStringLiteral("-") : QString::fromStdString(n.domain))
                       .arg(n.opset)
                       .arg(n.subgraph.empty() ? QStringLiteral("-") : QString::fromStdString(n.subgraph));
        QCOMPARE(got, blocking);
        const QString message = errorOf([&] { Session session(model); });
        QVERIFY2(message.contains(file) && message.contains("Det"), qPrintable(message));
    }

    // Corrupted files come back as cw::Error naming the file, never as a crash or another exception.
    void corruptedBytesGiveErrors()
    {
        QFile f(path("Network_opset13_small_cnn.onnx"));
        QVERIFY(f.open(QIODevice::ReadOnly));
        const std::string good = f.readAll().toStdString();
        std::mt19937 gen(2024);
        int failures = 0;
        for (int round = 0; round < 300; ++round) {
            std::string bytes = good;
            const int flips = 1 + int(gen() % 8);
            for (int i = 0; i < flips; ++i)
                bytes[gen() % bytes.size()] = char(gen());
            if (round % 3 == 0)
                bytes.resize(gen() % bytes.size());
            try {
                readOnnxBytes(bytes, "fuzzed.onnx");
            } catch (const Error &e) {
                if (!QString(e.what()).contains("fuzzed.onnx")) {
                    qWarning("round %d: message without the file name: %s", round, e.what());
                    ++failures;
                }
            } catch (const std::exception &e) {
                qWarning("round %d: %s", round, e.what());
                ++failures;
            }
        }
        QCOMPARE(failures, 0);
    }

    // ---- numerics against onnxruntime --------------------------------------------------------------------

    // Static shape inference against the shapes a run produces: every value's rank and known dimensions are
    // the run's, and dimensions that share a symbol are equal in the run.
    void staticShapesMatchRun_data() { addCaseRows(); }
    void staticShapesMatchRun()
    {
        QFETCH(int, index);
        const Case c = caseFromRow(m_cases[index].toObject());
        const Model model = loadModel(c.file.toStdString());
        const std::map<std::string, Tensor> run = Session(model).runAll(toMap(c.feeds));
        std::map<std::string, int64_t> symbols;
        for (const auto &[name, info] : model.graph.values) {
            auto actual = run.find(name);
            if (actual == run.end() || model.graph.isInitializer(name))
                continue;
            const Shape &s = actual->second.shape();
            QVERIFY2(info.shapeKnown, qPrintable(QString::fromStdString("no static shape for " + name)));
            const QString where = QString::fromStdString(name + ": static " + shapeToString(info) + ", run " +
                                                         shapeToString(s));
            QVERIFY2(info.shape.size() == s.size(), qPrintable(where));
            for (size_t d = 0; d < s.size(); ++d) {
                if (info.shape[d] >= 0) {
                    QVERIFY2(info.shape[d] == s[d], qPrintable(where));
                } else if (const std::string sym = info.dimName(d); !sym.empty()) {
                    auto [it, fresh] = symbols.emplace(sym, s[d]);
                    QVERIFY2(fresh || it->second == s[d],
                             qPrintable(where + QStringLiteral(": '%1' was %2 elsewhere")
                                                    .arg(QString::fromStdString(sym))
                                                    .arg(it->second)));
                }
            }
        }
    }

    void compareWithOnnxruntime_data() { addCaseRows(); }

    void compareWithOnnxruntime()
    {
        QFETCH(int, index);
        if (!testutil::ortAvailable())
            QSKIP("onnxruntime-node or node is not installed (npm install --ignore-scripts onnxruntime-node)");
        const Case c = caseFromRow(m_cases[index].toObject());
        Model model;
        try {
            model = loadModel(c.file.toStdString());
        } catch (const Error &e) {
            QFAIL(e.what());
        }
        QString error;
        // A case may name an equivalent graph for onnxruntime to run (one in a form it does not implement).
        const QJsonObject row = m_cases[index].toObject();
        const QString refFile = row.contains("reference") ? path(row["reference"].toString()) : c.file;
        const std::vector<Tensor> ref = testutil::runOrt(refFile, c.feeds, &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        std::vector<Tensor> ours;
        try {
            ours = runOurs(model, c.feeds);
        } catch (const Error &e) {
            QFAIL(e.what());
        }
        compareOutputs(ours, ref, c);
    }

    // load -> export .onnx -> onnx.checker -> onnxruntime on the export equals our output on the original.
    void exportRoundTrip_data() { addCaseRows(); }

    void exportRoundTrip()
    {
        QFETCH(int, index);
        const QJsonObject row = m_cases[index].toObject();
        if (!row["export"].toBool())
            QSKIP("not exportable");
        const Case c = caseFromRow(row);
        const QString exported = path("exported_" + row["file"].toString());
        Model model;
        try {
            model = loadModel(c.file.toStdString());
            saveModel(model, exported.toStdString());
        } catch (const Error &e) {
            QFAIL(e.what());
        }
        // onnx.checker runs over all exported files at once in exportedModelsPassOnnxChecker().
        // The exported file loads back with the same structure at opset 17 (or its own, see the case).
        const Model back = formatForFile(exported.toStdString())->read(exported.toStdString());
        QCOMPARE(back.opsetVersion, int64_t(row["export_opset"].toInt(17)));
        QCOMPARE(back.producerName, std::string("compression-workbench"));
        for (const auto &[name, t] : model.graph.initializers)
            QVERIFY2(back.graph.isInitializer(name), name.c_str());
        if (!testutil::ortAvailable())
            QSKIP("onnxruntime-node or node is not installed");
        std::vector<Tensor> ours;
        try {
            ours = runOurs(model, c.feeds);
        } catch (const Error &e) {
            QFAIL(e.what());
        }
        QString error;
        const std::vector<Tensor> ref = testutil::runOrt(exported, c.feeds, &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        compareOutputs(ours, ref, c);
    }

    // One Python process for every file exportRoundTrip wrote (a process per file costs minutes).
    void exportedModelsPassOnnxChecker()
    {
        const QStringList files = QDir(m_dir.path()).entryList({"exported_*.onnx"}, QDir::Files);
        int exportable = 0;
        for (const auto &row : m_cases)
            exportable += row.toObject()["export"].toBool() ? 1 : 0;
        QVERIFY2(files.size() >= exportable, qPrintable(QString::number(files.size())));
        QString error;
        const QString code = QStringLiteral(
            "import glob, onnx, sys\n"
            "bad = []\n"
            "for f in sorted(glob.glob('exported_*.onnx')):\n"
            "    m = onnx.load(f)\n"
            // The checker knows the opsets of its onnx version (Debian's 1.12: up to 17); files written at a later
            // opset are checked by onnxruntime running them (exportRoundTrip).
            "    if m.opset_import[0].version > onnx.defs.onnx_opset_version():\n"
            "        continue\n"
            "    try:\n"
            "        onnx.checker.check_model(m, full_check=True)\n"
            "    except Exception as e:\n"
            "        bad.append(f + ': ' + str(e).splitlines()[0][:300])\n"
            "if bad:\n"
            "    sys.exit('\\n'.join(bad))\n");
        QVERIFY2(testutil::runPython(code, m_dir.path(), &error), qPrintable(error));
    }

    // Subgraphs (If, Loop, Scan) survive the native format: the reloaded model computes the same.
    void subgraphsSurviveTheNativeFormat_data()
    {
        QTest::addColumn<int>("index");
        for (int i = 0; i < m_cases.size(); ++i) {
            const QString name = m_cases[i].toObject()["name"].toString();
            if (name.startsWith("If/") || name.startsWith("Loop/") || name.startsWith("Scan/"))
                QTest::newRow(qPrintable(name)) << i;
        }
    }
    void subgraphsSurviveTheNativeFormat()
    {
        QFETCH(int, index);
        const Case c = caseFromRow(m_cases[index].toObject());
        const Model model = loadModel(c.file.toStdString());
        const std::string native = path("native_" + QString::number(index) + ".h5").toStdString();
        saveModel(model, native);
        const std::vector<Tensor> a = runOurs(model, c.feeds), b = runOurs(loadModel(native), c.feeds);
        QCOMPARE(a.size(), b.size());
        for (size_t o = 0; o < a.size(); ++o)
            QCOMPARE(a[o].toFloatVector(), b[o].toFloatVector());
    }

    // A node of an older opset without an opset-17 form cannot be written (a model of a later opset is written
    // at its own, see exportRoundTrip); the error names the node, both opsets and why, and no file is left.
    void exportWithoutOpsetForm()
    {
        Model m;
        m.opsetVersion = 10;
        m.graph.inputs.push_back({"x", DType::Float32, {1, 1, 2, 2}, true});
        m.graph.outputs.push_back({"y", DType::Float32, {}, false});
        m.graph.initializers["sc"] = Tensor::fromFloats({4}, {1, 1, 2, 2});
        Node identity, resize;
        identity.name = "computed";
        identity.opType = "Identity";
        identity.inputs = {"sc"};
        identity.outputs = {"s"};
        resize.name = "up";
        resize.opType = "Resize";
        resize.inputs = {"x", "s"};
        resize.outputs = {"y"};
        resize.attrs["mode"] = Attribute::makeString("nearest");
        for (Node *n : {&identity, &resize}) {
            n->attrs["_opset"] = Attribute::makeInt(10);
            m.graph.nodes.push_back(*n);
        }
        const QString out = path("resize10.onnx");
        const QString e = errorOf([&] { saveModel(m, out.toStdString()); });
        QVERIFY2(e.contains("cannot export node 'up' (Resize) of opset 10 at opset 17: nearest Resize-10 needs constant "
                            "scales"),
                 qPrintable(e));
        QVERIFY(!QFile::exists(out));
    }

    void exportDetails()
    {
        const std::string file = path("with_metadata.onnx").toStdString();
        const QString out = path("with_metadata_export.onnx");
        const Model m = loadModel(file);
        saveModel(m, out.toStdString());
        checkWithOnnxChecker(out);
        QString error;
        const QString code = QStringLiteral(
            "import onnx\n"
            "m = onnx.load('%1')\n"
            "assert m.producer_name == 'compression-workbench', m.producer_name\n"
            "assert [(o.domain, o.version) for o in m.opset_import] == [('', 17)], m.opset_import\n"
            "assert {p.key: p.value for p in m.metadata_props} == {'author': 'tests', 'license': 'MIT'}\n"
            "for n in m.graph.node:\n"
            "    assert not any(a.name.startswith('_') for a in n.attribute), n\n"
            // The input's symbolic dimension keeps its name, and shape inference carries it to the output.
            "d = m.graph.input[0].type.tensor_type.shape.dim\n"
            "assert d[0].dim_param == 'batch' and d[1].dim_value == 3, d\n"
            "d = m.graph.output[0].type.tensor_type.shape.dim\n"
            "assert d[0].dim_param == 'batch' and d[1].dim_value == 3, d\n")
                                 .arg(out);
        QVERIFY2(testutil::runPython(code, m_dir.path(), &error), qPrintable(error));
        // Initializers are written as raw_data.
        const QString raw = QStringLiteral(
            "import onnx\n"
            "m = onnx.load('%1')\n"
            "assert len(m.graph.initializer) > 0\n"
            "for t in m.graph.initializer:\n"
            "    assert t.HasField('raw_data') and len(t.float_data) == 0, t.name\n")
                                .arg(path("exported_Network_opset13_small_cnn.onnx"));
        saveModel(loadModel(path("Network_opset13_small_cnn.onnx").toStdString()),
                  path("exported_Network_opset13_small_cnn.onnx").toStdString());
        QVERIFY2(testutil::runPython(raw, m_dir.path(), &error), qPrintable(error));
    }

    void readOnnxBytesMatchesFile()
    {
        const QString file = path("Network_opset13_small_cnn.onnx");
        QFile f(file);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QByteArray bytes = f.readAll();
        Model a, b;
        try {
            a = readOnnxBytes(std::string(bytes.constData(), size_t(bytes.size())), "memory.onnx");
            b = loadModel(file.toStdString());
        } catch (const Error &e) {
            QFAIL(e.what());
        }
        QCOMPARE(a.sourcePath, std::string("memory.onnx"));
        QCOMPARE(a.graph.nodes.size(), b.graph.nodes.size());
        QCOMPARE(a.graph.values.size(), b.graph.values.size());
        QCOMPARE(a.graph.outputs[0].shape, (Shape{-1, 10}));
        for (const auto &[name, t] : b.graph.initializers)
            QCOMPARE(std::memcmp(t.rawData(), a.graph.initializers.at(name).rawData(), t.byteSize()), 0);
        const QString e = errorOf([&] { readOnnxBytes(bytes.left(bytes.size() / 2).toStdString(), "half.onnx"); });
        QVERIFY2(e.contains("half.onnx"), qPrintable(e));
    }
};

QTEST_GUILESS_MAIN(TestOnnx)
#include "test_onnx.moc"
