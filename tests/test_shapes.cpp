// Static shape inference (core/runtime/shape_inference.h): symbolic dimensions through the operators that
// carry them, shape tensors followed element by element, contradictions named by node, and a model with
// dynamic height and width inferred symbolically and then run at two sizes against onnxruntime.
// Agreement of the static shapes with the shapes of real runs, for every operator case, is checked in
// test_onnx (staticShapesMatchRun).
#include <QTemporaryDir>
#include <QtTest>

#include <limits>

#include "core/base/error.h"
#include "core/io/model_io.h"
#include "core/runtime/ops.h"
#include "core/runtime/session.h"
#include "core/runtime/shape_inference.h"
#include "testutil.h"

using namespace cw;

namespace {

// A dimension given as a number or a symbol.
struct D {
    D(int64_t v) : n(v) {}
    D(const char *s) : sym(s) {}
    int64_t n = -1;
    std::string sym;
};

ValueInfo input(const std::string &name, std::vector<D> dims)
{
    ValueInfo v;
    v.name = name;
    v.shapeKnown = true;
    for (const D &d : dims) {
        v.shape.push_back(d.n);
        v.dimNames.push_back(d.sym);
    }
    return v;
}

Node node(const std::string &op, std::vector<std::string> in, std::vector<std::string> out,
          Attributes attrs = {})
{
    Node n;
    n.name = op + "_" + out.front();
    n.opType = op;
    n.inputs = std::move(in);
    n.outputs = std::move(out);
    n.attrs = std::move(attrs);
    return n;
}

Tensor weights(Shape shape) { return Tensor(DType::Float32, std::move(shape)); }
Tensor ints(std::vector<int64_t> v) { return Tensor::fromInt64s({int64_t(v.size())}, v); }

Model modelOf(std::vector<ValueInfo> inputs, std::vector<Node> nodes, std::map<std::string, Tensor> inits,
              std::string output)
{
    Model m;
    m.sourcePath = "test";
    m.graph.inputs = std::move(inputs);
    m.graph.nodes = std::move(nodes);
    m.graph.initializers = std::move(inits);
    m.graph.outputs = {ValueInfo{output, DType::Float32, {}, false, {}}};
    return m;
}

constexpr int64_t kEnd = std::numeric_limits<int64_t>::max();

} // namespace

Q_DECLARE_METATYPE(cw::Model)

class TestShapes : public QObject {
    Q_OBJECT

private slots:
    void symbolic_data();
    void symbolic();
    void contradictionsNameTheNode_data();
    void contradictionsNameTheNode();
    void unknownOperatorKeepsTheFilesShape();
    void everyOperatorHasARule();
    void dynamicImageSizeRunsLikeOnnxRuntime();
};

void TestShapes::symbolic_data()
{
    QTest::addColumn<Model>("model");
    QTest::addColumn<QString>("value");
    QTest::addColumn<QString>("expected");
    const ValueInfo image = input("x", {"batch", 3, "height", "width"});
    QTest::newRow("conv stride 2, pad 1: ceil(h/2)")
        << modelOf({image}, {node("Conv", {"x", "w"}, {"y"}, {{"strides", Attribute::makeInts({2, 2})},
                                                            {"pads", Attribute::makeInts({1, 1, 1, 1})}})},
                   {{"w", weights({16, 3, 3, 3})}}, "y")
        << "y" << "[batch, 16, ceil(height/2), ceil(width/2)]";
    QTest::newRow("conv 3x3 valid: h-2")
        << modelOf({image}, {node("Conv", {"x", "w"}, {"y"})}, {{"w", weights({8, 3, 3, 3})}}, "y") << "y"
        << "[batch, 8, height-2, width-2]";
    QTest::newRow("conv same_upper stride 1 keeps the symbol")
        << modelOf({image}, {node("Conv", {"x", "w"}, {"y"}, {{"auto_pad", Attribute::makeString("SAME_UPPER")}})},
                   {{"w", weights({8, 3, 5, 5})}}, "y")
        << "y" << "[batch, 8, height, width]";
    QTest::newRow("max pool 2x2 stride 2: h/2")
        << modelOf({image}, {node("MaxPool", {"x"}, {"y"}, {{"kernel_shape", Attribute::makeInts({2, 2})},
                                                          {"strides", Attribute::makeInts({2, 2})}})},
                   {}, "y")
        << "y" << "[batch, 3, height/2, width/2]";
    QTest::newRow("global pool, flatten, gemm")
        << modelOf({image},
                   {node("GlobalAveragePool", {"x"}, {"p"}), node("Flatten", {"p"}, {"f"}),
                    node("Gemm", {"f", "w"}, {"y"}, {{"transB", Attribute::makeInt(1)}})},
                   {{"w", weights({10, 3})}}, "y")
        << "y" << "[batch, 10]";
    QTest::newRow("broadcast with a known 1")
        << modelOf({input("a", {"batch", 1, 5}), input("b", {7, 5})}, {node("Add", {"a", "b"}, {"y"})}, {}, "y") << "y"
        << "[batch, 7, 5]";
    QTest::newRow("concat adds sizes")
        << modelOf({input("a", {"n", 4}), input("b", {16, 4})}, {node("Concat", {"a", "b"}, {"y"},
                                                                      {{"axis", Attribute::makeInt(0)}})},
                   {}, "y")
        << "y" << "[n+16, 4]";
    QTest::newRow("reshape to a computed shape")
        << modelOf({input("x", {"batch", "seq", 64})},
                   {node("Shape", {"x"}, {"s"}), node("Gather", {"s", "zero"}, {"b"}),
                    node("Unsqueeze", {"b", "axis0"}, {"b1"}), node("Concat", {"b1", "rest"}, {"target"},
                                                                    {{"axis", Attribute::makeInt(0)}}),
                    node("Reshape", {"x", "target"}, {"y"})},
                   {{"zero", Tensor::fromInt64s({}, {0})}, {"axis0", ints({0})}, {"rest", ints({-1, 8})}}, "y")
        << "y" << "[batch, seq*8, 8]";
    QTest::newRow("shape arithmetic: seq - 1 from a Sub on a gathered size")
        << modelOf({input("x", {"batch", "seq"})},
                   {node("Shape", {"x"}, {"s"}), node("Gather", {"s", "one"}, {"n"}), node("Sub", {"n", "one"}, {"m"}),
                    node("Unsqueeze", {"m", "axis0"}, {"m1"}), node("ConstantOfShape", {"m1"}, {"y"})},
                   {{"one", Tensor::fromInt64s({}, {1})}, {"axis0", ints({0})}}, "y")
        << "y" << "[seq-1]";
    QTest::newRow("slice from 1 to the end")
        << modelOf({input("x", {"batch", "seq"})}, {node("Slice", {"x", "s", "e", "a"}, {"y"})},
                   {{"s", ints({1})}, {"e", ints({kEnd})}, {"a", ints({1})}}, "y")
        << "y" << "[batch, seq-1]";
    QTest::newRow("resize by 2")
        << modelOf({image}, {node("Resize", {"x", "", "scales"}, {"y"})},
                   {{"scales", Tensor::fromFloats({4}, {1, 1, 2, 2})}}, "y")
        << "y" << "[batch, 3, height*2, width*2]";
    QTest::newRow("transpose and reduce")
        << modelOf({image}, {node("Transpose", {"x"}, {"t"}, {{"perm", Attribute::makeInts({0, 2, 3, 1})}}),
                             node("ReduceMean", {"t"}, {"y"}, {{"axes", Attribute::makeInts({1, 2})},
                                                               {"keepdims", Attribute::makeInt(0)}})},
                   {}, "y")
        << "y" << "[batch, 3]";
    // Pads built from a constant through a rank-2 Reshape and a Transpose (as exporters write F.pad), which no
    // rule follows element by element: computed, since all of it is constant.
    QTest::newRow("pads computed from constants")
        << modelOf({input("x", {"batch", "seq"})},
                   {node("Reshape", {"flat", "two"}, {"p2"}), node("Transpose", {"p2"}, {"pt"}),
                    node("Reshape", {"pt", "minusOne"}, {"pads"}), node("Pad", {"x", "pads"}, {"y"})},
                   {{"flat", ints({0, 0, 32, 32})}, {"two", ints({2, 2})}, {"minusOne", ints({-1})}}, "y")
        << "y" << "[batch, seq+64]";
    QTest::newRow("unnamed leading dimension is N")
        << modelOf({input("x", {-1, 4})}, {node("Relu", {"x"}, {"y"})}, {}, "y") << "y" << "[N, 4]";
}

void TestShapes::symbolic()
{
    QFETCH(Model, model);
    QFETCH(QString, value);
    QFETCH(QString, expected);
    inferShapes(model);
    QCOMPARE(QString::fromStdString(shapeToString(model.graph.valueInfo(value.toStdString()))), expected);
    // The graph output carries the same shape.
    QCOMPARE(QString::fromStdString(shapeToString(model.graph.outputs.front())), expected);
}

void TestShapes::contradictionsNameTheNode_data()
{
    QTest::addColumn<Model>("model");
    QTest::addColumn<QString>("message");
    QTest::newRow("matmul inner sizes")
        << modelOf({input("a", {2, 3}), input("b", {4, 5})}, {node("MatMul", {"a", "b"}, {"y"})}, {}, "y")
        << "node 'MatMul_y' (MatMul) in 'test': cannot multiply 3 columns by 4 rows";
    QTest::newRow("conv channels")
        << modelOf({input("x", {"batch", 4, 8, 8})}, {node("Conv", {"x", "w"}, {"y"})}, {{"w", weights({8, 3, 3, 3})}},
                   "y")
        << "node 'Conv_y' (Conv) in 'test': weight with group 1 expects 3 input channels, input has 4";
    QTest::newRow("broadcast")
        << modelOf({input("a", {"n", 3}), input("b", {"n", 4})}, {node("Add", {"a", "b"}, {"y"})}, {}, "y")
        << "node 'Add_y' (Add) in 'test': cannot broadcast dimensions 3 and 4";
    QTest::newRow("unsqueeze repeated axis")
        << modelOf({input("x", {"n", 3})}, {node("Unsqueeze", {"x", "axes"}, {"y"})}, {{"axes", ints({0, 0})}}, "y")
        << "node 'Unsqueeze_y' (Unsqueeze) in 'test': axis 0 is repeated";
    QTest::newRow("negative hidden size")
        << modelOf({input("x", {5, "n", 3})}, {node("GRU", {"x", "w", "r"}, {"y"}, {{"hidden_size", Attribute::makeInt(-2)}})},
                   {{"w", weights({1, 6, 3})}, {"r", weights({1, 6, 2})}}, "y")
        << "node 'GRU_y' (GRU) in 'test': hidden_size -2 is not positive";
    QTest::newRow("conv group not positive")
        << modelOf({input("x", {"n", 3, 8})}, {node("Conv", {"x", "w"}, {"y"}, {{"group", Attribute::makeInt(-1)}})},
                   {{"w", weights({2, 3, 3})}}, "y")
        << "node 'Conv_y' (Conv) in 'test': group -1 is not positive";
    QTest::newRow("constant of shape, empty value")
        << modelOf({}, {node("ConstantOfShape", {"s"}, {"y"}, {{"value", Attribute::makeTensor(Tensor(DType::Int64, {0}))}})},
                   {{"s", ints({2})}}, "y")
        << "node 'ConstantOfShape_y' (ConstantOfShape) in 'test': value must be a one-element tensor";
}

void TestShapes::contradictionsNameTheNode()
{
    QFETCH(Model, model);
    QFETCH(QString, message);
    QString error;
    try {
        inferShapes(model);
    } catch (const Error &e) {
        error = QString::fromStdString(e.what());
    }
    QCOMPARE(error, message);
}

void TestShapes::unknownOperatorKeepsTheFilesShape()
{
    Model m = modelOf({input("x", {"batch", 4})},
                      {node("Frobnicate", {"x"}, {"y"}), node("Relu", {"y"}, {"z"}), node("Frobnicate", {"z"}, {"w"})},
                      {}, "w");
    m.graph.values["y"] = input("y", {"batch", 2});
    inferShapes(m);
    QCOMPARE(QString::fromStdString(shapeToString(m.graph.values.at("z"))), QStringLiteral("[batch, 2]"));
    QVERIFY(!m.graph.values.at("w").shapeKnown);
    QCOMPARE(QString::fromStdString(shapeToString(m.graph.values.at("w"))), QStringLiteral("?"));
}

// A new kernel comes with its shape rule, or models using it lose their static shapes from that node on.
void TestShapes::everyOperatorHasARule()
{
    const std::vector<std::string> rules = shapeRuleOps();
    QStringList missing;
    for (const std::string &op : supportedOps())
        if (std::find(rules.begin(), rules.end(), op) == rules.end())
            missing << QString::fromStdString(op);
    QVERIFY2(missing.isEmpty(), qPrintable("no shape rule for " + missing.join(", ")));
}

// demo-resnet ends in a global average pool, so it accepts any image size: with its input made
// [batch, 1, height, width], every shape is symbolic, the logits are [batch, 10], and runs at 28x28 and
// 40x24 match onnxruntime on the exported file.
void TestShapes::dynamicImageSizeRunsLikeOnnxRuntime()
{
    Model m = loadModel("demo-resnet");
    m.graph.inputs.front() = input(m.graph.inputs.front().name, {"batch", 1, "height", "width"});
    inferShapes(m);
    QCOMPARE(QString::fromStdString(shapeToString(m.graph.outputs.front())), QStringLiteral("[batch, 10]"));
    int symbolic = 0;
    for (const LayerInfo &l : m.layers())
        for (const ValueInfo &v : l.outputs)
            symbolic += shapeToString(v).find("height") != std::string::npos;
    QVERIFY2(symbolic >= 5, "the spatial symbols reach the layers");

    QTemporaryDir dir;
    const QString file = dir.filePath("resnet_dynamic.onnx");
    saveModel(m, file.toStdString());
    const Model reloaded = loadModel(file.toStdString());
    QCOMPARE(QString::fromStdString(shapeToString(reloaded.graph.inputs.front())),
             QStringLiteral("[batch, 1, height, width]"));
    if (!testutil::ortAvailable())
        QSKIP("onnxruntime-node is not installed");
    const Session session(reloaded);
    for (const Shape &shape : {Shape{1, 1, 28, 28}, Shape{3, 1, 40, 24}}) {
        const std::vector<std::pair<std::string, Tensor>> feeds{
            {reloaded.graph.inputs.front().name, testutil::randomTensor(shape, unsigned(shape[2]), 0.f, 1.f)}};
        QString error;
        const std::vector<Tensor> ref = testutil::runOrt(file, feeds, &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        const Tensor ours = session.run(feeds.front().second);
        const QString m = testutil::mismatch(ours, ref.front(), 1e-4, 1e-5);
        QVERIFY2(m.isEmpty(), qPrintable(m));
    }
}

QTEST_GUILESS_MAIN(TestShapes)
#include "test_shapes.moc"
