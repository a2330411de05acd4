// Operator coverage per opset: the kernel table's ranges against ONNX's schema history
// (tests/tools/onnx_op_versions.py), the refusal of nodes outside them (requireKernels, ONNX import), `cwb ops`
// and docs/ops.md (which must equal `cwb ops --markdown`).
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>

#include <algorithm>
#include <functional>
#include <set>

#include "core/base/error.h"
#include "core/io/model_io.h"
#include "core/runtime/ops.h"
#include "core/runtime/session.h"
#include "testutil.h"

using namespace cw;
using testutil::errorOf;

namespace {

using testutil::runCwb;

// A one-node model: x → op → y, the node at `nodeOpset` ("_opset", as the importer writes it; 0: none, the
// model's opset applies).
Model oneNode(const std::string &op, const std::string &domain, int64_t modelOpset, int64_t nodeOpset = 0)
{
    Model m;
    m.sourcePath = "net.onnx";
    m.opsetVersion = modelOpset;
    Node n;
    n.name = "n1";
    n.opType = op;
    n.domain = domain;
    n.inputs = {"x"};
    n.outputs = {"y"};
    if (nodeOpset)
        n.attrs["_opset"] = Attribute::makeInt(nodeOpset);
    m.graph.nodes.push_back(n);
    ValueInfo x, y;
    x.name = "x";
    y.name = "y";
    m.graph.inputs.push_back(x);
    m.graph.outputs.push_back(y);
    return m;
}

} // namespace

class TestOpsets : public QObject {
    Q_OBJECT

    QJsonObject m_schema; // onnx_op_versions.py: {"max_opset": N, "ops": {name: [since versions]}}

private slots:
    void initTestCase()
    {
        QString error;
        const QByteArray out = testutil::runProcess(
            testutil::python(), {testutil::sourcePath("tests/tools/onnx_op_versions.py")}, &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        m_schema = QJsonDocument::fromJson(out).object();
        QVERIFY(m_schema["ops"].toObject().size() > 150);
    }

    // The declared ceiling is one the schema history reaches.
    void maxOpsetIsCoveredByTheSchemaHistory()
    {
        QVERIFY(kMaxOpset <= m_schema["max_opset"].toInteger());
        QVERIFY(kMinOpset < kMaxOpset);
    }

    void rangesMatchTheSchemaHistory_data()
    {
        QTest::addColumn<int>("index");
        const std::vector<OpSupport> &ops = opSupport();
        for (size_t i = 0; i < ops.size(); ++i)
            QTest::newRow(((ops[i].domain.empty() ? "" : ops[i].domain + ":") + ops[i].name).c_str()) << int(i);
    }

    // Every opset of a default-domain range uses a schema version the kernel claims; every claimed version is
    // in effect somewhere in the range; the range starts at the first claim (or the importer's floor) and ends
    // at kMaxOpset or just before a version that is not claimed.
    void rangesMatchTheSchemaHistory()
    {
        QFETCH(int, index);
        const OpSupport &op = opSupport()[size_t(index)];
        QVERIFY2(!op.versions.empty(), "no versions claimed");
        QVERIFY(op.minOpset <= op.maxOpset);
        if (!op.domain.empty()) {
            // onnxruntime's contrib operators: version 1 of their domain, nothing else.
            QCOMPARE(op.domain, std::string("com.microsoft"));
            QCOMPARE(op.versions, std::vector<int64_t>{1});
            QCOMPARE(op.minOpset, int64_t(1));
            QCOMPARE(op.maxOpset, int64_t(1));
            return;
        }
        const QJsonObject schemas = m_schema["ops"].toObject();
        QVERIFY2(schemas.contains(QString::fromStdString(op.name)), "not an operator of the default ONNX domain");
        std::vector<int64_t> history;
        for (const auto &v : schemas[QString::fromStdString(op.name)].toArray())
            history.push_back(v.toInteger());
        for (int64_t v : op.versions)
            QVERIFY2(std::count(history.begin(), history.end(), v) == 1,
                     qPrintable(QStringLiteral("version %1 is not in the history").arg(v)));
        QCOMPARE(op.minOpset, std::max(kMinOpset, op.versions.front()));
        QVERIFY(op.maxOpset <= kMaxOpset);
        std::set<int64_t> used;
        for (int64_t opset = op.minOpset; opset <= op.maxOpset; ++opset) {
            int64_t inEffect = 0;
            for (int64_t v : history)
                if (v <= opset)
                    inEffect = v;
            QVERIFY2(inEffect > 0, qPrintable(QStringLiteral("the operator does not exist at opset %1").arg(opset)));
            QVERIFY2(std::count(op.versions.begin(), op.versions.end(), inEffect) == 1,
                     qPrintable(QStringLiteral("opset %1 uses version %2, which is not claimed").arg(opset).arg(inEffect)));
            used.insert(inEffect);
        }
        QCOMPARE(used, std::set<int64_t>(op.versions.begin(), op.versions.end()));
        if (op.maxOpset < kMaxOpset)
            QVERIFY2(std::count(history.begin(), history.end(), op.maxOpset + 1) == 1,
                     "the range stops before kMaxOpset without a new version after it");
    }

    // ---- refusal ---------------------------------------------------------------------------------------------

    void requireKernels_data()
    {
        QTest::addColumn<QString>("op");
        QTest::addColumn<QString>("domain");
        QTest::addColumn<int>("modelOpset");
        QTest::addColumn<int>("nodeOpset");
        QTest::addColumn<int>("domainVersion"); // com.microsoft's import (0: none)
        QTest::addColumn<QString>("error");     // empty: accepted
        QTest::newRow("Relu at 9") << "Relu" << "" << 9 << 0 << 0 << "";
        QTest::newRow("Relu at kMaxOpset") << "Relu" << "" << int(kMaxOpset) << 0 << 0 << "";
        QTest::newRow("Gelu at 20") << "Gelu" << "" << 20 << 0 << 0 << "";
        QTest::newRow("Gelu at 17, before it existed")
            << "Gelu" << "" << 17 << 0 << 0
            << "node 'n1' (Gelu at opset 17; supported at opsets 20–22) in 'net.onnx': the operator is not supported";
        QTest::newRow("the node's _opset wins over the model's")
            << "HardSwish" << "" << 17 << 13 << 0 << "(HardSwish at opset 13; supported at opsets 14–22)";
        QTest::newRow("LayerNormalization at 16") << "LayerNormalization" << "" << 16 << 0 << 0
                                                  << "(LayerNormalization at opset 16; supported at opsets 17–22)";
        QTest::newRow("Upsample at 9") << "Upsample" << "" << 9 << 0 << 0 << "";
        QTest::newRow("Upsample at 10, where it was deprecated")
            << "Upsample" << "" << 10 << 0 << 0 << "(Upsample at opset 10; supported at opsets 9–9)";
        QTest::newRow("unknown operator") << "Frobnicate" << "" << 13 << 0 << 0 << "node 'n1' (Frobnicate at opset 13) in 'net.onnx'";
        QTest::newRow("QGemm without an import is version 1") << "QGemm" << "com.microsoft" << 13 << 0 << 0 << "";
        QTest::newRow("QLinearAdd version 1") << "QLinearAdd" << "com.microsoft" << 13 << 0 << 1 << "";
        QTest::newRow("QLinearAdd version 2")
            << "QLinearAdd" << "com.microsoft" << 13 << 0 << 2
            << "(QLinearAdd of domain 'com.microsoft' version 2; supported at versions 1–1) in 'net.onnx'";
        QTest::newRow("unknown com.microsoft operator") << "FusedConv" << "com.microsoft" << 13 << 0 << 1
                                                        << "(FusedConv of domain 'com.microsoft' version 1)";
    }

    void requireKernels()
    {
        QFETCH(QString, op);
        QFETCH(QString, domain);
        QFETCH(int, modelOpset);
        QFETCH(int, nodeOpset);
        QFETCH(int, domainVersion);
        QFETCH(QString, error);
        Model m = oneNode(op.toStdString(), domain.toStdString(), modelOpset, nodeOpset);
        if (domainVersion)
            m.domainOpsets[domain.toStdString()] = domainVersion;
        const QString e = errorOf([&] { cw::requireKernels(m); });
        if (error.isEmpty())
            QVERIFY2(e.isEmpty(), qPrintable(e));
        else
            QVERIFY2(e.contains(error), qPrintable(e));
    }

    // Every refused node is listed, subgraphs included.
    void requireKernelsListsEveryNode()
    {
        Model m = oneNode("Gelu", "", 17);
        Node hardSwish = m.graph.nodes[0];
        hardSwish.name = "n2";
        hardSwish.opType = "HardSwish";
        hardSwish.attrs["_opset"] = Attribute::makeInt(13);
        hardSwish.inputs = {"y"};
        hardSwish.outputs = {"z"};
        m.graph.nodes.push_back(hardSwish);
        const QString e = errorOf([&] { cw::requireKernels(m); });
        QVERIFY2(e.startsWith("2 nodes in 'net.onnx' use operators that are not supported: "), qPrintable(e));
        QVERIFY2(e.contains("node 'n1' (Gelu at opset 17") && e.contains("node 'n2' (HardSwish at opset 13"),
                 qPrintable(e));
        // The same as values (what a view marks as blocking the model).
        const std::vector<UnsupportedNode> nodes = unsupportedNodes(m);
        QCOMPARE(nodes.size(), size_t(2));
        QCOMPARE(nodes[0].name, std::string("n1"));
        QCOMPARE(nodes[0].opset, int64_t(17));
        QVERIFY(nodes[0].kernel && nodes[0].kernel->minOpset == 20);
        QCOMPARE(nodes[1].opType, std::string("HardSwish"));
        QCOMPARE(nodes[1].opset, int64_t(13));
        // A node inside a subgraph counts too.
        Model withBranch = oneNode("Relu", "", 17);
        Graph branch = oneNode("Frobnicate", "", 17).graph;
        withBranch.graph.nodes[0].attrs["body"] = Attribute::makeGraph(branch);
        const std::vector<UnsupportedNode> inner = unsupportedNodes(withBranch);
        QCOMPARE(inner.size(), size_t(1));
        QCOMPARE(inner[0].opType, std::string("Frobnicate"));
        QVERIFY(!inner[0].kernel);
    }

    // End to end through the ONNX importer: the model's opset_import decides, and the message names the file.
    void onnxImport_data()
    {
        QTest::addColumn<QString>("node");    // onnx.helper.make_node(...) arguments
        QTest::addColumn<QString>("imports"); // opset_imports
        QTest::addColumn<QString>("error");   // empty: loads and runs
        QTest::newRow("Relu at opset 22") << "'Relu', ['x'], ['y']" << "[h.make_opsetid('', 22)]" << "";
        QTest::newRow("opset 23 is past the declared maximum")
            << "'Relu', ['x'], ['y']" << "[h.make_opsetid('', 23)]" << "uses ONNX opset 23, outside the supported range 9–22";
        QTest::newRow("Gelu at opset 17")
            << "'Gelu', ['x'], ['y']" << "[h.make_opsetid('', 17)]"
            << "(Gelu at opset 17; supported at opsets 20–22) in '%1': the operator is not supported";
        QTest::newRow("com.microsoft version 2")
            << "'QLinearSigmoid', ['x', 's', 'z', 's', 'z'], ['y'], domain='com.microsoft'"
            << "[h.make_opsetid('', 17), h.make_opsetid('com.microsoft', 2)]"
            << "(QLinearSigmoid of domain 'com.microsoft' version 2; supported at versions 1–1) in '%1'";
    }

    void onnxImport()
    {
        QFETCH(QString, node);
        QFETCH(QString, imports);
        QFETCH(QString, error);
        QTemporaryDir dir;
        const QString file = dir.filePath("m.onnx");
        const QString code = QStringLiteral(
                                 "import numpy as np, onnx\n"
                                 "from onnx import helper as h, numpy_helper as nh, TensorProto as TP\n"
                                 "g = h.make_graph([h.make_node(%1, name='n1')], 'g',\n"
                                 "    [h.make_tensor_value_info('x', TP.FLOAT, [2, 3])],\n"
                                 "    [h.make_tensor_value_info('y', TP.FLOAT, [2, 3])],\n"
                                 "    [nh.from_array(np.array(0.1, np.float32), 's'), nh.from_array(np.array(128, np.uint8), 'z')])\n"
                                 "m = h.make_model(g, opset_imports=%2)\n"
                                 "m.ir_version = 8\n"
                                 "onnx.save(m, '%3')\n")
                                 .arg(node, imports, file);
        QString pyError;
        QVERIFY2(testutil::runPython(code, dir.path(), &pyError), qPrintable(pyError));
        const QString e = errorOf([&] {
            const Model m = loadModel(file.toStdString());
            Session(m, SessionOptions{1}).run({{"x", Tensor::fromFloats({2, 3}, {-1, 0, 1, 2, 3, 4})}});
        });
        if (error.isEmpty())
            QVERIFY2(e.isEmpty(), qPrintable(e));
        else
            QVERIFY2(e.contains(error.contains("%1") ? error.arg(file) : error), qPrintable(e));
    }

    // ---- cwb ops and docs/ops.md --------------------------------------------------------------------------

    void cwbOpsFiltersByOpset_data()
    {
        QTest::addColumn<int>("opset");
        QTest::addColumn<QStringList>("present");
        QTest::addColumn<QStringList>("absent");
        QTest::newRow("9") << 9 << QStringList{"Relu", "Softmax", "com.microsoft:QLinearAdd"}
                           << QStringList{"Mod", "Gelu", "LayerNormalization"};
        QTest::newRow("17") << 17 << QStringList{"Mod", "LayerNormalization", "com.microsoft:QGemm"} << QStringList{"Gelu"};
        QTest::newRow("22") << 22 << QStringList{"Gelu", "Relu", "com.microsoft:QLinearSoftmax"} << QStringList{};
    }

    void cwbOpsFiltersByOpset()
    {
        QFETCH(int, opset);
        QFETCH(QStringList, present);
        QFETCH(QStringList, absent);
        const testutil::ProcessResult r = runCwb({"ops", "--opset", QString::number(opset), "--json"});
        QCOMPARE(r.exitCode, 0);
        QStringList listed;
        for (const auto &v : QJsonDocument::fromJson(r.out).array()) {
            const QJsonObject o = v.toObject();
            const QString domain = o["domain"].toString();
            listed << (domain == "ai.onnx" ? "" : domain + ":") + o["op"].toString();
            if (domain == "ai.onnx")
                QVERIFY(o["min_opset"].toInt() <= opset && opset <= o["max_opset"].toInt());
        }
        for (const QString &op : present)
            QVERIFY2(listed.contains(op), qPrintable(op));
        for (const QString &op : absent)
            QVERIFY2(!listed.contains(op), qPrintable(op));
        // Without --opset every registered operator is listed.
        if (opset == 22)
            QCOMPARE(runCwb({"ops", "--json"}).out.count("\"op\""), qsizetype(opSupport().size()));
    }

    void cwbOpsRefusesAnOpsetOutsideTheRange()
    {
        const testutil::ProcessResult r = runCwb({"ops", "--opset", "8"});
        QVERIFY(r.exitCode != 0);
        QVERIFY2(r.err.contains("--opset"), r.err.constData());
    }

    void docsOpsMdIsTheCommandsOutput()
    {
        const testutil::ProcessResult r = runCwb({"ops", "--markdown"});
        QCOMPARE(r.exitCode, 0);
        QFile f(testutil::sourcePath("docs/ops.md"));
        QVERIFY(f.open(QIODevice::ReadOnly));
        QVERIFY2(f.readAll() == r.out, "docs/ops.md is stale: regenerate it with `cwb ops --markdown > docs/ops.md`");
        for (const OpSupport &op : opSupport())
            QVERIFY2(r.out.contains(("| " + op.name + " |").c_str()), op.name.c_str());
    }
};

QTEST_GUILESS_MAIN(TestOpsets)
#include "test_opsets.moc"
