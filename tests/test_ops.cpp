// Forward kernels (core/ops/): hand-computed semantics and edge cases of every operator, error paths, and
// Conv / ConvTranspose against a naive direct implementation written here. Agreement with onnxruntime on
// exported ONNX files is checked separately in test_onnx.
#include <QtTest>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/graph/graph.h"
#include "core/runtime/fusion.h"
#include "core/runtime/ops.h"
#include "core/runtime/session.h"
#include "testutil.h"

using cw::Attribute;
using cw::DType;
using cw::Shape;
using cw::Tensor;
using Tensors = std::vector<cw::Tensor>;
using Attrs = cw::Attributes;

Q_DECLARE_METATYPE(Tensors)
Q_DECLARE_METATYPE(Attrs)

namespace {

Tensor F(Shape shape, std::vector<float> v)
{
    return Tensor::fromFloats(std::move(shape), v);
}
Tensor I(Shape shape, std::vector<int64_t> v)
{
    return Tensor::fromInt64s(std::move(shape), v);
}
Tensor U8(Shape shape, std::vector<int64_t> v)
{
    return I(std::move(shape), v).castTo(DType::UInt8);
}
Tensor H(Shape shape, std::vector<float> v) // float16 (rounded from the float32 values)
{
    return F(std::move(shape), v).castTo(DType::Float16);
}
Tensor BF(Shape shape, std::vector<float> v) // bfloat16
{
    return F(std::move(shape), v).castTo(DType::BFloat16);
}
Tensor none()
{
    return {};
}
Tensor iota(Shape shape, float start = 1.f)
{
    Tensor t(DType::Float32, std::move(shape));
    for (int64_t i = 0; i < t.numel(); ++i)
        t.f32()[i] = start + float(i);
    return t;
}
Attribute ai(int64_t v)
{
    return Attribute::makeInt(v);
}
Attribute af(float v)
{
    return Attribute::makeFloat(v);
}
Attribute as(std::string v)
{
    return Attribute::makeString(std::move(v));
}
Attribute ais(std::vector<int64_t> v)
{
    return Attribute::makeInts(std::move(v));
}
Attribute afs(std::vector<float> v)
{
    return Attribute::makeFloats(std::move(v));
}
Attribute astrs(std::vector<std::string> v)
{
    Attribute a;
    a.kind = Attribute::Kind::Strings;
    a.strings = std::move(v);
    return a;
}
Attribute at(Tensor t)
{
    return Attribute::makeTensor(std::move(t));
}

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

// Runs one kernel directly; a null tensor marks an omitted optional input.
Tensors runOp(const std::string &op, const Tensors &inputs, const Attrs &attrs = {}, int outputs = 1, int threads = 1)
{
    cw::Node node;
    node.name = "test_" + op;
    node.opType = op;
    node.attrs = attrs;
    for (size_t i = 0; i < inputs.size(); ++i)
        node.inputs.push_back(inputs[i].isNull() ? std::string() : "in" + std::to_string(i));
    for (int o = 0; o < outputs; ++o)
        node.outputs.push_back("out" + std::to_string(o));
    const cw::OpKernel kernel = cw::findKernel(op);
    if (!kernel)
        throw cw::Error("no kernel for " + op);
    cw::OpContext ctx{node, {}, {}, threads};
    for (const Tensor &t : inputs)
        ctx.inputs.push_back(t.isNull() ? nullptr : &t);
    ctx.outputs.resize(size_t(outputs));
    kernel(ctx);
    return ctx.outputs;
}

QString compare(const Tensor &actual, const Tensor &expected, double tol = 1e-5)
{
    if (actual.isNull())
        return "output is null";
    if (actual.dtype() != expected.dtype())
        return QStringLiteral("dtype %1 != expected %2").arg(cw::dtypeName(actual.dtype()), cw::dtypeName(expected.dtype()));
    return testutil::mismatch(actual, expected, tol, tol);
}

// Naive direct convolution (NCHW, 2-D), the independent reference for the im2col / depthwise paths.
Tensor naiveConv(const Tensor &x, const Tensor &w, const Tensor &b, int64_t stride, int64_t pad, int64_t dil, int64_t group)
{
    const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
    const int64_t M = w.dim(0), Cg = w.dim(1), kH = w.dim(2), kW = w.dim(3);
    const int64_t OH = (H + 2 * pad - dil * (kH - 1) - 1) / stride + 1;
    const int64_t OW = (W + 2 * pad - dil * (kW - 1) - 1) / stride + 1;
    const int64_t Mg = M / group;
    Tensor y(DType::Float32, {N, M, OH, OW});
    for (int64_t n = 0; n < N; ++n)
        for (int64_t m = 0; m < M; ++m)
            for (int64_t oh = 0; oh < OH; ++oh)
                for (int64_t ow = 0; ow < OW; ++ow) {
                    double acc = b.isNull() ? 0.0 : b.f32()[m];
                    for (int64_t c = 0; c < Cg; ++c)
                        for (int64_t kh = 0; kh < kH; ++kh)
                            for (int64_t kw = 0; kw < kW; ++kw) {
                                const int64_t ih = oh * stride - pad + kh * dil, iw = ow * stride - pad + kw * dil;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                                    continue;
                                const int64_t ic = (m / Mg) * Cg + c;
                                acc += double(x.f32()[((n * C + ic) * H + ih) * W + iw]) *
                                       w.f32()[((m * Cg + c) * kH + kh) * kW + kw];
                            }
                    y.f32()[((n * M + m) * OH + oh) * OW + ow] = float(acc);
                }
    (void)C;
    return y;
}

// Naive transposed convolution: every input pixel scatters its weighted kernel into the output.
Tensor naiveConvTranspose(const Tensor &x, const Tensor &w, int64_t stride, int64_t pad, int64_t outPad, int64_t group)
{
    const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
    const int64_t Mg = w.dim(1), kH = w.dim(2), kW = w.dim(3), M = Mg * group, Cg = C / group;
    const int64_t OH = stride * (H - 1) + outPad + kH - 2 * pad, OW = stride * (W - 1) + outPad + kW - 2 * pad;
    Tensor y(DType::Float32, {N, M, OH, OW});
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t ih = 0; ih < H; ++ih)
                for (int64_t iw = 0; iw < W; ++iw)
                    for (int64_t mg = 0; mg < Mg; ++mg)
                        for (int64_t kh = 0; kh < kH; ++kh)
                            for (int64_t kw = 0; kw < kW; ++kw) {
                                const int64_t oh = ih * stride - pad + kh, ow = iw * stride - pad + kw;
                                if (oh < 0 || oh >= OH || ow < 0 || ow >= OW)
                                    continue;
                                const int64_t m = (c / Cg) * Mg + mg;
                                y.f32()[((n * M + m) * OH + oh) * OW + ow] +=
                                    x.f32()[((n * C + c) * H + ih) * W + iw] * w.f32()[((c * Mg + mg) * kH + kh) * kW + kw];
                            }
    return y;
}

} // namespace

class TestOps : public QObject {
    Q_OBJECT

private slots:
    void kernel_data();
    void kernel();
    void errors_data();
    void errors();
    void convMatchesReference_data();
    void convMatchesReference();
    void convTransposeMatchesReference_data();
    void convTransposeMatchesReference();
    void parallelMatchesSerial_data();
    void parallelMatchesSerial();
    void viewsShareInput();
    void sessionRunsGraphAndNamesFailingNode();
    void everyRequiredOpIsRegistered();
    void halfFloatRounding_data();
    void halfFloatRounding();
    void halfFloatWidening();
    void halfFloatBulkMatchesScalar();
    void halfFloatCasts();
    void halfFloatGraph_data();
    void halfFloatGraph();
    void activationFormulas();
};

void TestOps::kernel_data()
{
    QTest::addColumn<QString>("op");
    QTest::addColumn<Tensors>("inputs");
    QTest::addColumn<Attrs>("attrs");
    QTest::addColumn<Tensors>("expected");

    auto row = [](const char *name, const char *op, Tensors in, Attrs attrs, Tensors expected) {
        QTest::newRow(name) << QString(op) << in << attrs << expected;
    };
    const Tensor A23 = iota({2, 3});                        // [[1,2,3],[4,5,6]]
    const Tensor B32 = F({3, 2}, {1, 0, 0, 1, 1, 1});       // A23·B32 = [[4,5],[10,11]]

    // ---- Gemm / MatMul
    row("Gemm/C row broadcast", "Gemm", {A23, B32, F({2}, {10, 20})}, {}, {F({2, 2}, {14, 25, 20, 31})});
    row("Gemm/transA transB alpha beta C column", "Gemm",
        {F({3, 2}, {1, 4, 2, 5, 3, 6}), F({2, 3}, {1, 0, 1, 0, 1, 1}), F({2, 1}, {2, 4})},
        {{"transA", ai(1)}, {"transB", ai(1)}, {"alpha", af(2.f)}, {"beta", af(0.5f)}}, {F({2, 2}, {9, 11, 22, 24})});
    row("Gemm/full C", "Gemm", {A23, B32, F({2, 2}, {1, 2, 3, 4})}, {}, {F({2, 2}, {5, 7, 13, 15})});
    row("Gemm/no C", "Gemm", {A23, B32}, {}, {F({2, 2}, {4, 5, 10, 11})});
    row("MatMul/2-D", "MatMul", {A23, B32}, {}, {F({2, 2}, {4, 5, 10, 11})});
    row("MatMul/1-D x 2-D", "MatMul", {F({3}, {1, 2, 3}), B32}, {}, {F({2}, {4, 5})});
    row("MatMul/2-D x 1-D", "MatMul", {A23, F({3}, {1, 1, 1})}, {}, {F({2}, {6, 15})});
    row("MatMul/1-D x 1-D", "MatMul", {F({3}, {1, 2, 3}), F({3}, {4, 5, 6})}, {}, {F({}, {32})});
    row("MatMul/batched x shared", "MatMul", {F({2, 1, 2}, {1, 2, 3, 4}), F({2, 2}, {1, 2, 3, 4})}, {},
        {F({2, 1, 2}, {7, 10, 15, 22})});
    row("MatMul/shared x batched", "MatMul", {F({1, 2, 2}, {1, 2, 3, 4}), F({3, 2, 1}, {1, 2, 3, 4, 5, 6})}, {},
        {F({3, 2, 1}, {5, 11, 11, 25, 17, 39})});
    row("MatMul/batch broadcast both", "MatMul", {F({2, 1, 1, 2}, {1, 1, 2, 2}), F({3, 2, 1}, {1, 2, 3, 4, 5, 6})}, {},
        {F({2, 3, 1, 1}, {3, 7, 11, 6, 14, 22})});

    // ---- Element-wise binary
    row("Add/channel bias", "Add", {iota({1, 2, 2, 2}), F({1, 2, 1, 1}, {10, 20})}, {},
        {F({1, 2, 2, 2}, {11, 12, 13, 14, 25, 26, 27, 28})});
    row("Add/int64 shape arithmetic", "Add", {I({2}, {1, 2}), I({}, {3})}, {}, {I({2}, {4, 5})});
    row("Sub/scalar left", "Sub", {F({}, {10}), F({3}, {1, 2, 3})}, {}, {F({3}, {9, 8, 7})});
    row("Sub/int64", "Sub", {I({2}, {5, 1}), I({2}, {2, 3})}, {}, {I({2}, {3, -2})});
    row("Mul/outer broadcast", "Mul", {F({2, 1}, {1, 2}), F({1, 3}, {1, 2, 3})}, {}, {F({2, 3}, {1, 2, 3, 2, 4, 6})});
    row("Mul/int64 broadcast", "Mul", {I({2, 1}, {2, 3}), I({2}, {1, 10})}, {}, {I({2, 2}, {2, 20, 3, 30})});
    row("Mul/middle axis broadcast", "Mul", {iota({2, 2, 2}), F({1, 2, 1}, {0, 1})}, {},
        {F({2, 2, 2}, {0, 0, 3, 4, 0, 0, 7, 8})});
    row("Div/float", "Div", {F({4}, {1, 2, 3, 4}), F({4}, {2, 2, 2, 2})}, {}, {F({4}, {0.5f, 1, 1.5f, 2})});
    row("Div/int64 truncates", "Div", {I({3}, {7, -7, 9}), I({3}, {2, 2, 3})}, {}, {I({3}, {3, -3, 3})});
    row("Pow/square", "Pow", {F({3}, {1, 2, 3}), F({1}, {2})}, {}, {F({3}, {1, 4, 9})});
    row("Pow/int exponent", "Pow", {F({2}, {2, 3}), I({}, {3})}, {}, {F({2}, {8, 27})});
    row("Pow/fractional", "Pow", {F({2}, {4, 9}), F({}, {0.5f})}, {}, {F({2}, {2, 3})});
    row("Min/variadic", "Min", {F({3}, {1, 5, 3}), F({3}, {4, 2, 6}), F({}, {2.5f})}, {}, {F({3}, {1, 2, 2.5f})});
    row("Max/broadcast", "Max", {F({2, 1}, {1, 5}), F({2}, {3, 4})}, {}, {F({2, 2}, {3, 4, 5, 5})});
    row("Equal/int64", "Equal", {I({3}, {1, 2, 3}), I({}, {2})}, {}, {U8({3}, {0, 1, 0})});
    row("Less/float", "Less", {F({3}, {1, 2, 3}), F({}, {2})}, {}, {U8({3}, {1, 0, 0})});
    row("Greater/float", "Greater", {F({3}, {1, 2, 3}), F({}, {2})}, {}, {U8({3}, {0, 0, 1})});
    row("Where/broadcast", "Where", {U8({2, 1}, {1, 0}), F({2}, {1, 2}), F({}, {9})}, {}, {F({2, 2}, {1, 2, 9, 9})});
    row("Where/int64", "Where", {U8({3}, {0, 1, 0}), I({3}, {1, 2, 3}), I({3}, {-1, -2, -3})}, {}, {I({3}, {-1, 2, -3})});

    // ---- Element-wise unary
    row("Sqrt", "Sqrt", {F({3}, {4, 9, 0.25f})}, {}, {F({3}, {2, 3, 0.5f})});
    row("Neg/float", "Neg", {F({2}, {1, -2})}, {}, {F({2}, {-1, 2})});
    row("Neg/int64", "Neg", {I({2}, {1, -2})}, {}, {I({2}, {-1, 2})});
    row("Abs", "Abs", {F({2}, {-1.5f, 2})}, {}, {F({2}, {1.5f, 2})});
    row("Exp", "Exp", {F({2}, {0, 1})}, {}, {F({2}, {1, float(M_E)})});
    row("Log", "Log", {F({2}, {1, float(M_E)})}, {}, {F({2}, {0, 1})});
    row("Erf", "Erf", {F({2}, {0, 1})}, {}, {F({2}, {0, 0.8427007929f})});
    row("Floor", "Floor", {F({3}, {1.5f, -1.5f, 2})}, {}, {F({3}, {1, -2, 2})});
    row("Ceil", "Ceil", {F({3}, {1.5f, -1.5f, 2})}, {}, {F({3}, {2, -1, 2})});
    row("Reciprocal", "Reciprocal", {F({2}, {2, -4})}, {}, {F({2}, {0.5f, -0.25f})});

    // ---- Reductions
    row("ReduceMean/axis 1 keepdims", "ReduceMean", {A23}, {{"axes", ais({1})}}, {F({2, 1}, {2, 5})});
    row("ReduceMean/axis 0 no keepdims", "ReduceMean", {A23}, {{"axes", ais({0})}, {"keepdims", ai(0)}},
        {F({3}, {2.5f, 3.5f, 4.5f})});
    row("ReduceMean/all axes", "ReduceMean", {A23}, {}, {F({1, 1}, {3.5f})});
    row("ReduceMean/axes input (opset 18)", "ReduceMean", {A23, I({1}, {-1})}, {{"keepdims", ai(0)}}, {F({2}, {2, 5})});
    row("ReduceMean/noop with empty axes", "ReduceMean", {A23}, {{"noop_with_empty_axes", ai(1)}}, {A23});
    row("ReduceMean/spatial", "ReduceMean", {iota({1, 2, 2, 2})}, {{"axes", ais({2, 3})}}, {F({1, 2, 1, 1}, {2.5f, 6.5f})});
    row("ReduceMean/non-adjacent axes", "ReduceMean", {iota({2, 2, 2})}, {{"axes", ais({0, 2})}},
        {F({1, 2, 1}, {3.5f, 5.5f})});
    row("ReduceSum/axes input", "ReduceSum", {A23, I({1}, {0})}, {}, {F({1, 3}, {5, 7, 9})});
    row("ReduceSum/int64", "ReduceSum", {I({2, 2}, {1, 2, 3, 4})}, {{"keepdims", ai(0)}}, {I({}, {10})});
    const float inf = std::numeric_limits<float>::infinity();
    const Tensor X232 = iota({2, 3, 2}); // [[[1,2],[3,4],[5,6]],[[7,8],[9,10],[11,12]]]
    row("ReduceMax/axis 1 keepdims", "ReduceMax", {A23}, {{"axes", ais({1})}}, {F({2, 1}, {3, 6})});
    row("ReduceMax/leading axis", "ReduceMax", {F({2, 3}, {1, 9, 2, 4, 0, 7})}, {{"axes", ais({0})}, {"keepdims", ai(0)}},
        {F({3}, {4, 9, 7})});
    row("ReduceMax/non-adjacent axes", "ReduceMax", {X232}, {{"axes", ais({0, -1})}}, {F({1, 3, 1}, {8, 10, 12})});
    row("ReduceMax/all axes", "ReduceMax", {F({2, 2}, {-3, -1, -7, -2})}, {{"keepdims", ai(0)}}, {F({}, {-1})});
    row("ReduceMax/axes input", "ReduceMax", {X232, I({2}, {2, 0})}, {{"keepdims", ai(0)}}, {F({3}, {8, 10, 12})});
    row("ReduceMax/empty axes input = all", "ReduceMax", {A23, I({0}, {})}, {}, {F({1, 1}, {6})});
    row("ReduceMax/empty axes noop", "ReduceMax", {A23, I({0}, {})}, {{"noop_with_empty_axes", ai(1)}}, {A23});
    row("ReduceMax/int64", "ReduceMax", {I({2, 2}, {kMin, -5, 3, kMax})}, {{"axes", ais({1})}, {"keepdims", ai(0)}},
        {I({2}, {-5, kMax})});
    row("ReduceMax/bool any", "ReduceMax", {U8({2, 2}, {0, 1, 0, 0})}, {{"axes", ais({1})}}, {U8({2, 1}, {1, 0})});
    row("ReduceMax/empty set", "ReduceMax", {Tensor(DType::Float32, {2, 0})}, {{"axes", ais({1})}}, {F({2, 1}, {-inf, -inf})});
    row("ReduceMin/axis 0", "ReduceMin", {F({2, 3}, {1, 9, 2, 4, 0, 7})}, {{"axes", ais({0})}}, {F({1, 3}, {1, 0, 2})});
    row("ReduceMin/int64", "ReduceMin", {I({3}, {4, -2, 9})}, {{"keepdims", ai(0)}}, {I({}, {-2})});
    row("ReduceMin/empty set", "ReduceMin", {Tensor(DType::Int64, {0, 2})}, {{"axes", ais({0})}, {"keepdims", ai(0)}},
        {I({2}, {kMax, kMax})});
    row("ReduceProd/axis 1", "ReduceProd", {A23}, {{"axes", ais({1})}, {"keepdims", ai(0)}}, {F({2}, {6, 120})});
    row("ReduceProd/int64", "ReduceProd", {I({2, 2}, {2, 3, -4, 5})}, {{"keepdims", ai(0)}}, {I({}, {-120})});
    row("ReduceProd/empty set", "ReduceProd", {Tensor(DType::Float32, {0})}, {{"keepdims", ai(0)}}, {F({}, {1})});
    row("ReduceL1", "ReduceL1", {F({2, 2}, {-1, 2, -3, -4})}, {{"axes", ais({1})}}, {F({2, 1}, {3, 7})});
    row("ReduceL1/int32", "ReduceL1", {I({2}, {-1, -2}).castTo(DType::Int32)}, {}, {I({1}, {3}).castTo(DType::Int32)});
    row("ReduceL2", "ReduceL2", {F({2, 2}, {3, -4, 0, 5})}, {{"axes", ais({-1})}, {"keepdims", ai(0)}}, {F({2}, {5, 5})});
    row("ReduceL2/empty set", "ReduceL2", {Tensor(DType::Float32, {0, 2})}, {{"axes", ais({0})}}, {F({1, 2}, {0, 0})});
    row("ReduceSumSquare", "ReduceSumSquare", {X232}, {{"axes", ais({1})}}, {F({2, 1, 2}, {35, 56, 251, 308})});
    row("ReduceSumSquare/int64", "ReduceSumSquare", {I({3}, {1, -2, 3})}, {}, {I({1}, {14})});
    row("ReduceLogSum", "ReduceLogSum", {F({2, 2}, {1, 2, 3, 4})}, {{"axes", ais({0})}},
        {F({1, 2}, {std::log(4.f), std::log(6.f)})});
    row("ReduceLogSumExp/large values", "ReduceLogSumExp", {F({2, 2}, {1000, 1000, -1000, 0})}, {{"axes", ais({1})}},
        {F({2, 1}, {1000 + std::log(2.f), 0})});
    row("ReduceLogSumExp/non-adjacent axes", "ReduceLogSumExp", {F({2, 1, 2}, {0, 1, 2, 3})}, {{"axes", ais({0, 2})}},
        {F({1, 1, 1}, {3 + std::log(1 + std::exp(-1.f) + std::exp(-2.f) + std::exp(-3.f))})});
    row("ReduceLogSumExp/all -inf", "ReduceLogSumExp", {F({2}, {-inf, -inf})}, {{"keepdims", ai(0)}}, {F({}, {-inf})});
    row("ReduceMean/int64 truncates", "ReduceMean", {I({3}, {1, 2, 4})}, {}, {I({1}, {2})});
    row("ReduceSum/noop with empty axes", "ReduceSum", {A23}, {{"noop_with_empty_axes", ai(1)}}, {A23});
    row("ArgMax/axis 1", "ArgMax", {F({2, 3}, {1, 5, 2, 7, 0, 7})}, {{"axis", ai(1)}}, {I({2, 1}, {1, 0})});
    row("ArgMax/select last", "ArgMax", {F({2, 3}, {1, 5, 2, 7, 0, 7})},
        {{"axis", ai(-1)}, {"keepdims", ai(0)}, {"select_last_index", ai(1)}}, {I({2}, {1, 2})});

    row("ArgMin/axis 1 first of ties", "ArgMin", {F({2, 3}, {1, 5, 1, 7, 0, 0})}, {{"axis", ai(1)}}, {I({2, 1}, {0, 1})});
    row("ArgMin/select last", "ArgMin", {F({2, 3}, {1, 5, 1, 7, 0, 0})},
        {{"axis", ai(1)}, {"keepdims", ai(0)}, {"select_last_index", ai(1)}}, {I({2}, {2, 2})});
    row("ArgMin/int64 axis 0", "ArgMin", {I({2, 2}, {3, 1, 2, 5})}, {}, {I({1, 2}, {1, 0})});

    // ---- Scans and selections
    row("CumSum/axis 1", "CumSum", {A23, I({}, {1})}, {}, {F({2, 3}, {1, 3, 6, 4, 9, 15})});
    row("CumSum/exclusive", "CumSum", {A23, I({}, {-1})}, {{"exclusive", ai(1)}}, {F({2, 3}, {0, 1, 3, 0, 4, 9})});
    row("CumSum/reverse", "CumSum", {A23, I({1}, {1})}, {{"reverse", ai(1)}}, {F({2, 3}, {6, 5, 3, 15, 11, 6})});
    row("CumSum/exclusive reverse", "CumSum", {A23, I({}, {1})}, {{"exclusive", ai(1)}, {"reverse", ai(1)}},
        {F({2, 3}, {5, 3, 0, 11, 6, 0})});
    row("CumSum/axis 0 int64, int32 axis", "CumSum", {I({2, 3}, {1, 2, 3, 4, 5, 6}), I({}, {0}).castTo(DType::Int32)}, {},
        {I({2, 3}, {1, 2, 3, 5, 7, 9})});
    row("TopK/largest, ties by index", "TopK", {F({2, 4}, {1, 4, 2, 4, 0, -1, 3, 3}), I({1}, {2})}, {},
        {F({2, 2}, {4, 4, 3, 3}), I({2, 2}, {1, 3, 2, 3})});
    row("TopK/smallest", "TopK", {F({2, 4}, {1, 4, 2, 4, 0, -1, 3, 3}), I({1}, {3})}, {{"largest", ai(0)}},
        {F({2, 3}, {1, 2, 4, -1, 0, 3}), I({2, 3}, {0, 2, 1, 1, 0, 2})});
    row("TopK/axis 0", "TopK", {F({2, 2}, {1, 5, 3, 2}), I({1}, {1})}, {{"axis", ai(0)}},
        {F({1, 2}, {3, 5}), I({1, 2}, {1, 0})});
    row("TopK/k attribute (opset 9)", "TopK", {I({3}, {7, 9, 8})}, {{"k", ai(2)}, {"_opset", ai(9)}},
        {I({2}, {9, 8}), I({2}, {1, 2})});
    row("TopK/k 0", "TopK", {iota({2, 3}), I({1}, {0})}, {}, {F({2, 0}, {}), I({2, 0}, {})});

    // ---- Logical
    row("Not", "Not", {U8({3}, {0, 1, 0})}, {}, {U8({3}, {1, 0, 1})});
    row("And/broadcast", "And", {U8({2, 2}, {0, 1, 1, 1}), U8({2}, {1, 0})}, {}, {U8({2, 2}, {0, 0, 1, 0})});
    row("Or/broadcast both", "Or", {U8({2}, {0, 1}), U8({2, 1}, {0, 1})}, {}, {U8({2, 2}, {0, 1, 1, 1})});
    row("Xor/nonzero is true", "Xor", {U8({3}, {0, 1, 2}), U8({1}, {1})}, {}, {U8({3}, {1, 0, 0})});

    // ---- Element-wise arithmetic
    row("Sign/float", "Sign", {F({4}, {-2, 0, 3, -0.5f})}, {}, {F({4}, {-1, 0, 1, -1})});
    row("Sign/int64", "Sign", {I({3}, {-5, 0, 7})}, {}, {I({3}, {-1, 0, 1})});
    row("Mod/divisor's sign", "Mod", {I({4}, {-7, 7, -7, 7}), I({4}, {3, 3, -3, -3})}, {}, {I({4}, {2, 1, -1, -2})});
    row("Mod/fmod int", "Mod", {I({4}, {-7, 7, -7, 7}), I({4}, {3, 3, -3, -3})}, {{"fmod", ai(1)}}, {I({4}, {-1, 1, -1, 1})});
    row("Mod/fmod float broadcast", "Mod", {F({2}, {5.5f, -5.5f}), F({1}, {2})}, {{"fmod", ai(1)}}, {F({2}, {1.5f, -1.5f})});
    row("Mod/int32 broadcast", "Mod", {I({2, 1}, {-1, 5}).castTo(DType::Int32), I({2}, {4, 3}).castTo(DType::Int32)}, {},
        {I({2, 2}, {3, 2, 1, 2}).castTo(DType::Int32)});
    // Integer overflow wraps around in two's complement, as numpy's int64 and onnxruntime's do.
    const int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
    row("Add/int64 wraps", "Add", {I({2}, {hi, -5}), I({2}, {1, 2})}, {}, {I({2}, {lo, -3})});
    row("Mul/int64 wraps", "Mul", {I({2}, {int64_t(1) << 62, 3}), I({2}, {4, -2})}, {}, {I({2}, {0, -6})});
    row("Div/int64 lowest by -1", "Div", {I({2}, {lo, 7}), I({2}, {-1, -2})}, {}, {I({2}, {lo, -3})});
    row("Mod/lowest by -1", "Mod", {I({2}, {lo, 7}), I({2}, {-1, -1})}, {}, {I({2}, {0, 0})});
    row("Pow/int64 by squaring", "Pow", {I({5}, {3, 2, -2, 5, -1}), I({5}, {4, 63, 3, -1, -3})}, {},
        {I({5}, {81, lo, -8, 0, -1})});
    row("Abs/int64 lowest wraps", "Abs", {I({2}, {lo, -3})}, {}, {I({2}, {lo, 3})});
    row("ReduceSum/int64 wraps", "ReduceSum", {I({2}, {hi, 1})}, {{"keepdims", ai(0)}}, {I({}, {lo})});
    row("ReduceProd/int64 wraps", "ReduceProd", {I({2}, {int64_t(1) << 32, int64_t(1) << 32})}, {{"keepdims", ai(0)}},
        {I({}, {0})});
    row("CumSum/int64 wraps", "CumSum", {I({2}, {hi, 1}), I({}, {0})}, {}, {I({2}, {hi, lo})});
    row("Sum/three inputs broadcast", "Sum", {F({2}, {1, 2}), F({2, 1}, {10, 20}), F({1}, {100})}, {},
        {F({2, 2}, {111, 112, 121, 122})});
    row("Sum/one input", "Sum", {F({2}, {1, 2})}, {}, {F({2}, {1, 2})});
    row("Mean/two inputs", "Mean", {F({2}, {1, 2}), F({2}, {3, 6})}, {}, {F({2}, {2, 4})});
    row("Mean/broadcast", "Mean", {F({2, 1}, {0, 3}), F({3}, {3, 6, 9})}, {}, {F({2, 3}, {1.5f, 3, 4.5f, 3, 4.5f, 6})});

    // ---- Einsum
    row("Einsum/matmul", "Einsum", {A23, B32}, {{"equation", as("ij,jk->ik")}}, {F({2, 2}, {4, 5, 10, 11})});
    row("Einsum/implicit matmul", "Einsum", {A23, B32}, {{"equation", as("ij,jk")}}, {F({2, 2}, {4, 5, 10, 11})});
    row("Einsum/implicit order", "Einsum", {A23, B32}, {{"equation", as("kj,ji")}}, {F({2, 2}, {4, 10, 5, 11})});
    row("Einsum/transpose", "Einsum", {A23}, {{"equation", as("ij->ji")}}, {F({3, 2}, {1, 4, 2, 5, 3, 6})});
    row("Einsum/trace", "Einsum", {iota({2, 2})}, {{"equation", as("ii")}}, {F({}, {5})});
    row("Einsum/diagonal", "Einsum", {iota({2, 2})}, {{"equation", as("ii->i")}}, {F({2}, {1, 4})});
    row("Einsum/sum all", "Einsum", {A23}, {{"equation", as("ij->")}}, {F({}, {21})});
    row("Einsum/row sums", "Einsum", {A23}, {{"equation", as("ij->i")}}, {F({2}, {6, 15})});
    row("Einsum/batched", "Einsum", {iota({2, 1, 2}), iota({2, 2, 1})}, {{"equation", as("bij,bjk->bik")}},
        {F({2, 1, 1}, {5, 25})});
    row("Einsum/outer", "Einsum", {F({2}, {1, 2}), F({3}, {1, 10, 100})}, {{"equation", as("i,j->ij")}},
        {F({2, 3}, {1, 10, 100, 2, 20, 200})});
    row("Einsum/dot implicit", "Einsum", {F({3}, {1, 2, 3}), F({3}, {4, 5, 6})}, {{"equation", as("i,i")}}, {F({}, {32})});
    row("Einsum/elementwise then reduce", "Einsum", {A23, iota({2, 3})}, {{"equation", as("ij,ij->i")}}, {F({2}, {14, 77})});
    row("Einsum/ellipsis broadcast", "Einsum", {iota({2, 1, 2}), F({2, 1}, {1, 1})}, {{"equation", as("...ij,...jk->...ik")}},
        {F({2, 1, 1}, {3, 7})});
    row("Einsum/three operands", "Einsum", {A23, B32, F({2, 1}, {1, -1})}, {{"equation", as("ij,jk,kl->il")}},
        {F({2, 1}, {-1, -1})});
    row("Einsum/spaces and uppercase", "Einsum", {A23, B32}, {{"equation", as("iJ, Jk -> ki")}}, {F({2, 2}, {4, 10, 5, 11})});

    // ---- Shape
    row("Size", "Size", {A23}, {}, {I({}, {6})});
    row("Size/empty", "Size", {Tensor(DType::Int64, {0, 4})}, {}, {I({}, {0})});
    row("GatherElements/axis 1", "GatherElements", {iota({2, 2}), I({2, 2}, {0, 0, 1, 0})}, {{"axis", ai(1)}},
        {F({2, 2}, {1, 1, 4, 3})});
    row("GatherElements/axis 0 wider indices", "GatherElements", {iota({3, 3}), I({2, 3}, {1, 2, 0, 2, 0, 0})}, {},
        {F({2, 3}, {4, 8, 3, 7, 2, 3})});
    row("GatherElements/negative index, int32", "GatherElements", {iota({2, 2}), I({1, 1}, {-1}).castTo(DType::Int32)},
        {{"axis", ai(-1)}}, {F({1, 1}, {2})});
    row("GatherElements/int64 data", "GatherElements", {I({3}, {10, 20, 30}), I({4}, {2, 2, 0, 1})}, {},
        {I({4}, {30, 30, 10, 20})});

    // ---- Normalisations
    row("InstanceNormalization", "InstanceNormalization", {F({1, 2, 2}, {1, 3, 0, 4}), F({2}, {1, 2}), F({2}, {0, 1})},
        {{"epsilon", af(0.f)}}, {F({1, 2, 2}, {-1, 1, -1, 3})});
    row("LayerNormalization/last axis with outputs", "LayerNormalization",
        {F({2, 2}, {1, 3, 2, 6}), F({2}, {1, 2}), F({2}, {0, 1})}, {{"epsilon", af(0.f)}},
        {F({2, 2}, {-1, 3, -1, 3}), F({2, 1}, {2, 4}), F({2, 1}, {1, 0.5f})});
    row("LayerNormalization/axis 0, broadcast scale, no B", "LayerNormalization", {F({2, 2}, {1, 3, 2, 6}), F({1}, {2})},
        {{"axis", ai(0)}, {"epsilon", af(0.f)}},
        {F({2, 2}, {-4 / std::sqrt(3.5f), 0, -2 / std::sqrt(3.5f), 6 / std::sqrt(3.5f)})});

    // ---- Recurrent layers (H = I = 1, so each gate is one number)
    const auto sig = [](float v) { return 1.f / (1.f + std::exp(-v)); };
    row("RNN/tanh forward", "RNN", {F({2, 1, 1}, {1, 2}), F({1, 1, 1}, {1}), F({1, 1, 1}, {0.5f})}, {},
        {F({2, 1, 1, 1}, {std::tanh(1.f), std::tanh(2 + 0.5f * std::tanh(1.f))}), F({1, 1, 1}, {std::tanh(2 + 0.5f * std::tanh(1.f))})});
    row("RNN/relu reverse, bias, initial_h", "RNN",
        {F({2, 1, 1}, {1, 2}), F({1, 1, 1}, {1}), F({1, 1, 1}, {1}), F({1, 2}, {0.5f, 0.5f}), none(), F({1, 1, 1}, {1})},
        {{"direction", as("reverse")}, {"activations", astrs({"Relu"})}},
        {F({2, 1, 1, 1}, {6, 4}), F({1, 1, 1}, {6})});
    const Tensor X221 = F({2, 2, 1}, {1, 10, 2, 20}); // [t][b]
    const Attribute relu1 = astrs({"relu"});
    const Attribute relu2 = astrs({"Relu", "Relu"});
    row("RNN/sequence_lens", "RNN", {X221, F({1, 1, 1}, {1}), F({1, 1, 1}, {1}), none(), I({2}, {1, 2}).castTo(DType::Int32)},
        {{"activations", relu1}}, {F({2, 1, 2, 1}, {1, 10, 0, 30}), F({1, 2, 1}, {1, 30})});
    row("RNN/sequence_lens reverse", "RNN", {X221, F({1, 1, 1}, {1}), F({1, 1, 1}, {1}), none(), I({2}, {1, 2})},
        {{"activations", relu1}, {"direction", as("reverse")}}, {F({2, 1, 2, 1}, {1, 30, 0, 20}), F({1, 2, 1}, {1, 30})});
    row("RNN/layout 1", "RNN", {F({2, 2, 1}, {1, 2, 10, 20}), F({1, 1, 1}, {1}), F({1, 1, 1}, {1}), none(), I({2}, {1, 2})},
        {{"activations", relu1}, {"layout", ai(1)}}, {F({2, 2, 1, 1}, {1, 0, 10, 30}), F({2, 1, 1}, {1, 30})});
    row("RNN/bidirectional", "RNN", {F({2, 1, 1}, {1, 2}), F({2, 1, 1}, {1, 1}), F({2, 1, 1}, {1, 1})},
        {{"activations", relu2}, {"direction", as("bidirectional")}}, {F({2, 2, 1, 1}, {1, 3, 3, 2}), F({2, 1, 1}, {3, 3})});
    row("RNN/clip", "RNN", {F({1, 1, 1}, {1}), F({1, 1, 1}, {1}), F({1, 1, 1}, {1})}, {{"clip", af(0.5f)}},
        {F({1, 1, 1, 1}, {std::tanh(0.5f)}), F({1, 1, 1}, {std::tanh(0.5f)})});
    row("RNN/activation alpha", "RNN", {F({1, 1, 1}, {-2}), F({1, 1, 1}, {1}), F({1, 1, 1}, {1})},
        {{"activations", astrs({"LeakyRelu"})}, {"activation_alpha", afs({0.5f})}},
        {F({1, 1, 1, 1}, {-1}), F({1, 1, 1}, {-1})});
    // LSTM with only the cell gate weighted: i = f = o = sigmoid(peephole terms), c = tanh(x).
    const float si = sig(1.f), cNew = si * 1 + si * std::tanh(1.f);
    const Tensors lstmIn{F({1, 1, 1}, {1}), F({1, 4, 1}, {0, 0, 0, 1}), F({1, 4, 1}, {0, 0, 0, 0}), none(), none(),
                         F({1, 1, 1}, {0}), F({1, 1, 1}, {1}), F({1, 3}, {1, 1, 1})};
    row("LSTM/peepholes, initial_c", "LSTM", lstmIn, {},
        {F({1, 1, 1, 1}, {sig(cNew) * std::tanh(cNew)}), F({1, 1, 1}, {sig(cNew) * std::tanh(cNew)}), F({1, 1, 1}, {cNew})});
    const float cCoupled = (1 - si) * 1 + si * std::tanh(1.f);
    row("LSTM/input_forget", "LSTM", lstmIn, {{"input_forget", ai(1)}},
        {F({1, 1, 1, 1}, {sig(cCoupled) * std::tanh(cCoupled)}), F({1, 1, 1}, {sig(cCoupled) * std::tanh(cCoupled)}),
         F({1, 1, 1}, {cCoupled})});
    row("LSTM/empty sequence", "LSTM", {F({1, 1, 1}, {1}), F({1, 4, 1}, {1, 1, 1, 1}), F({1, 4, 1}, {1, 1, 1, 1}), none(),
                                        I({1}, {0}), F({1, 1, 1}, {5}), F({1, 1, 1}, {5})}, {},
        {F({1, 1, 1, 1}, {0}), F({1, 1, 1}, {0}), F({1, 1, 1}, {0})});
    // GRU: z = r = 0.5, candidate from Wh = Rh = 1, Rbh = 1, H' = 1.
    const Tensors gruIn{F({1, 1, 1}, {1}), F({1, 3, 1}, {0, 0, 1}), F({1, 3, 1}, {0, 0, 1}), F({1, 6}, {0, 0, 0, 0, 0, 1}),
                        none(), F({1, 1, 1}, {1})};
    row("GRU/reset before linear", "GRU", gruIn, {},
        {F({1, 1, 1, 1}, {0.5f * std::tanh(2.5f) + 0.5f}), F({1, 1, 1}, {0.5f * std::tanh(2.5f) + 0.5f})});
    row("GRU/linear_before_reset", "GRU", gruIn, {{"linear_before_reset", ai(1)}},
        {F({1, 1, 1, 1}, {0.5f * std::tanh(2.f) + 0.5f}), F({1, 1, 1}, {0.5f * std::tanh(2.f) + 0.5f})});

    // ---- Activations
    row("Relu", "Relu", {F({3}, {-1, 0, 2})}, {}, {F({3}, {0, 0, 2})});
    row("Softplus", "Softplus", {F({3}, {0, 100, -100})}, {}, {F({3}, {std::log(2.f), 100, 0})});
    row("Softsign", "Softsign", {F({2}, {1, -3})}, {}, {F({2}, {0.5f, -0.75f})});
    row("Selu/defaults", "Selu", {F({2}, {1, -1})}, {},
        {F({2}, {1.05070102f, 1.05070102f * 1.67326319f * (std::exp(-1.f) - 1.f)})});
    row("Selu/attrs", "Selu", {F({2}, {1, -1})}, {{"alpha", af(2)}, {"gamma", af(3)}}, {F({2}, {3, 6 * (std::exp(-1.f) - 1.f)})});
    row("PRelu/channel slope", "PRelu", {F({2, 2}, {-1, 2, -3, 4}), F({2}, {0.1f, 0.5f})}, {}, {F({2, 2}, {-0.1f, 2, -0.3f, 4})});
    row("PRelu/scalar slope", "PRelu", {F({3}, {-4, 0, 4}), F({1}, {0.25f})}, {}, {F({3}, {-1, 0, 4})});
    row("Clip/attributes (opset 6)", "Clip", {F({3}, {-1, 3, 7})}, {{"min", af(0)}, {"max", af(6)}}, {F({3}, {0, 3, 6})});
    row("Clip/min input only", "Clip", {F({3}, {-1, 3, 7}), F({}, {1})}, {}, {F({3}, {1, 3, 7})});
    row("Clip/int64 bounds at the type's ends", "Clip",
        {I({3}, {std::numeric_limits<int64_t>::min(), 0, std::numeric_limits<int64_t>::max()}), I({}, {-1}),
         I({}, {std::numeric_limits<int64_t>::max()})},
        {}, {I({3}, {-1, 0, std::numeric_limits<int64_t>::max()})});
    row("Clip/max input only", "Clip", {F({3}, {-1, 3, 7}), none(), F({}, {2})}, {}, {F({3}, {-1, 2, 2})});
    row("Clip/no bounds", "Clip", {F({3}, {-1, 3, 7})}, {}, {F({3}, {-1, 3, 7})});
    row("Clip/int64", "Clip", {I({3}, {-5, 3, 9}), I({}, {0}), I({}, {4})}, {}, {I({3}, {0, 3, 4})});
    row("LeakyRelu", "LeakyRelu", {F({2}, {-2, 3})}, {{"alpha", af(0.1f)}}, {F({2}, {-0.2f, 3})});
    row("LeakyRelu/default alpha", "LeakyRelu", {F({1}, {-2})}, {}, {F({1}, {-0.02f})});
    row("Sigmoid", "Sigmoid", {F({2}, {0, 1.0986122887f})}, {}, {F({2}, {0.5f, 0.75f})});
    row("Tanh", "Tanh", {F({2}, {0, 0.5493061443f})}, {}, {F({2}, {0, 0.5f})});
    row("HardSigmoid", "HardSigmoid", {F({4}, {-3, 0, 1, 3})}, {}, {F({4}, {0, 0.5f, 0.7f, 1})});
    row("HardSigmoid/alpha beta", "HardSigmoid", {F({2}, {0, 1})}, {{"alpha", af(0.5f)}, {"beta", af(0.25f)}},
        {F({2}, {0.25f, 0.75f})});
    row("HardSwish", "HardSwish", {F({5}, {-4, -1, 0, 1, 4})}, {}, {F({5}, {0, -1.f / 3.f, 0, 2.f / 3.f, 4})});
    row("Gelu/erf", "Gelu", {F({3}, {0, 1, -1})}, {}, {F({3}, {0, 0.8413447461f, -0.1586552539f})});
    row("Gelu/tanh", "Gelu", {F({3}, {0, 1, -1})}, {{"approximate", as("tanh")}}, {F({3}, {0, 0.8411919906f, -0.1588080094f})});
    row("Elu", "Elu", {F({2}, {-1, 2})}, {}, {F({2}, {float(std::exp(-1.0) - 1.0), 2})});
    row("Softmax/last axis", "Softmax", {F({2, 3}, {1, 1, 1, 0, 0.6931471806f, 1.6094379124f})}, {},
        {F({2, 3}, {1.f / 3, 1.f / 3, 1.f / 3, 0.125f, 0.25f, 0.625f})});
    row("Softmax/axis 0", "Softmax", {F({2, 2}, {0, 0, 1.0986122887f, 0})}, {{"axis", ai(0)}},
        {F({2, 2}, {0.25f, 0.5f, 0.75f, 0.5f})});
    row("Softmax/opset 13 single axis", "Softmax", {F({1, 2, 2}, {0, 1.0986122887f, 0, 0})}, {{"axis", ai(1)}},
        {F({1, 2, 2}, {0.5f, 0.75f, 0.5f, 0.25f})});
    row("Softmax/opset 11 coerces to 2-D", "Softmax", {F({1, 2, 2}, {0, 1.0986122887f, 0, 0})},
        {{"axis", ai(1)}, {"_opset", ai(11)}}, {F({1, 2, 2}, {1.f / 6, 0.5f, 1.f / 6, 1.f / 6})});
    row("Softmax/opset 11 default axis 1", "Softmax", {F({1, 2, 2}, {0, 1.0986122887f, 0, 0})}, {{"_opset", ai(11)}},
        {F({1, 2, 2}, {1.f / 6, 0.5f, 1.f / 6, 1.f / 6})});
    row("Softmax/large values stay finite", "Softmax", {F({2}, {1000, 1000})}, {}, {F({2}, {0.5f, 0.5f})});
    row("LogSoftmax", "LogSoftmax", {F({2}, {0, 0})}, {}, {F({2}, {-0.6931471806f, -0.6931471806f})});

    // ---- Conv
    const Tensor x33 = iota({1, 1, 3, 3});
    row("Conv/empty batch", "Conv", {F({0, 1, 3, 3}, {}), F({2, 1, 2, 2}, std::vector<float>(8, 1.f))}, {},
        {F({0, 2, 2, 2}, {})});
    row("Conv/2x2 with bias", "Conv", {x33, F({1, 1, 2, 2}, {1, 0, 0, 1}), F({1}, {0.5f})}, {},
        {F({1, 1, 2, 2}, {6.5f, 8.5f, 12.5f, 14.5f})});
    row("Conv/pads and stride", "Conv", {x33, F({1, 1, 3, 3}, std::vector<float>(9, 1.f))},
        {{"pads", ais({1, 1, 1, 1})}, {"strides", ais({2, 2})}}, {F({1, 1, 2, 2}, {12, 16, 24, 28})});
    row("Conv/asymmetric pads", "Conv", {x33, F({1, 1, 2, 2}, {1, 1, 1, 1})}, {{"pads", ais({1, 0, 0, 0})}},
        {F({1, 1, 3, 2}, {3, 5, 12, 16, 24, 28})});
    row("Conv/dilation", "Conv", {x33, F({1, 1, 2, 2}, {1, 1, 1, 1})}, {{"dilations", ais({2, 2})}},
        {F({1, 1, 1, 1}, {20})});
    row("Conv/pointwise multi-channel", "Conv", {iota({1, 2, 2, 2}), F({1, 2, 1, 1}, {1, 10})}, {},
        {F({1, 1, 2, 2}, {51, 62, 73, 84})});
    row("Conv/pointwise groups", "Conv", {F({1, 4, 1, 1}, {1, 2, 3, 4}), F({2, 2, 1, 1}, {1, 1, 1, -1})},
        {{"group", ai(2)}}, {F({1, 2, 1, 1}, {3, -1})});
    row("Conv/depthwise 1x1", "Conv", {iota({1, 2, 2, 2}), F({2, 1, 1, 1}, {2, 3})}, {{"group", ai(2)}},
        {F({1, 2, 2, 2}, {2, 4, 6, 8, 15, 18, 21, 24})});
    {
        Tensor x = F({1, 2, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 1, 1, 1, 1, 1, 1, 1, 1});
        row("Conv/depthwise pads stride bias", "Conv",
            {x, F({2, 1, 3, 3}, std::vector<float>(18, 1.f)), F({2}, {1, -1})},
            {{"group", ai(2)}, {"pads", ais({1, 1, 1, 1})}, {"strides", ais({2, 2})}, {"kernel_shape", ais({3, 3})}},
            {F({1, 2, 2, 2}, {13, 17, 25, 29, 3, 3, 3, 3})});
    }
    row("Conv/two output channels", "Conv", {F({1, 1, 1, 2}, {1, 2}), F({2, 1, 1, 1}, {3, -1})},
        {{"group", ai(1)}}, {F({1, 2, 1, 2}, {3, 6, -1, -2})});
    row("Conv/1-D stride", "Conv", {iota({1, 1, 5}), F({1, 1, 3}, {1, 2, 3})}, {{"strides", ais({2})}},
        {F({1, 1, 2}, {14, 26})});
    row("Conv/1-D pads", "Conv", {iota({1, 1, 5}), F({1, 1, 2}, {1, -1})}, {{"pads", ais({1, 0})}},
        {F({1, 1, 5}, {-1, -1, -1, -1, -1})});
    row("Conv/auto_pad SAME_UPPER", "Conv", {iota({1, 1, 4}), F({1, 1, 2}, {1, 1})}, {{"auto_pad", as("SAME_UPPER")}},
        {F({1, 1, 4}, {3, 5, 7, 4})});
    row("Conv/auto_pad SAME_LOWER", "Conv", {iota({1, 1, 4}), F({1, 1, 2}, {1, 1})}, {{"auto_pad", as("SAME_LOWER")}},
        {F({1, 1, 4}, {1, 3, 5, 7})});
    row("Conv/auto_pad VALID ignores pads", "Conv", {iota({1, 1, 4}), F({1, 1, 2}, {1, 1})},
        {{"auto_pad", as("VALID")}, {"pads", ais({3, 3})}}, {F({1, 1, 3}, {3, 5, 7})});
    row("Conv/batch 2", "Conv", {iota({2, 1, 1, 2}), F({1, 1, 1, 2}, {1, 1}), F({1}, {1})}, {},
        {F({2, 1, 1, 1}, {4, 8})});

    // ---- ConvTranspose
    const Tensor x22 = iota({1, 1, 2, 2});
    const Tensor ones22 = F({1, 1, 2, 2}, {1, 1, 1, 1});
    row("ConvTranspose/stride 1", "ConvTranspose", {x22, ones22}, {}, {F({1, 1, 3, 3}, {1, 3, 2, 4, 10, 6, 3, 7, 4})});
    row("ConvTranspose/stride 2", "ConvTranspose", {x22, ones22}, {{"strides", ais({2, 2})}},
        {F({1, 1, 4, 4}, {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4})});
    row("ConvTranspose/pads crop", "ConvTranspose", {x22, ones22}, {{"strides", ais({2, 2})}, {"pads", ais({1, 1, 1, 1})}},
        {F({1, 1, 2, 2}, {1, 2, 3, 4})});
    row("ConvTranspose/output_padding", "ConvTranspose", {x22, ones22},
        {{"strides", ais({2, 2})}, {"output_padding", ais({1, 1})}},
        {F({1, 1, 5, 5}, {1, 1, 2, 2, 0, 1, 1, 2, 2, 0, 3, 3, 4, 4, 0, 3, 3, 4, 4, 0, 0, 0, 0, 0, 0})});
    row("ConvTranspose/output_shape", "ConvTranspose", {x22, ones22},
        {{"strides", ais({2, 2})}, {"output_shape", ais({3, 3})}}, {F({1, 1, 3, 3}, {1, 1, 2, 1, 1, 2, 3, 3, 4})});
    row("ConvTranspose/groups bias", "ConvTranspose", {F({1, 2, 1, 1}, {1, 2}), F({2, 1, 1, 1}, {3, 4}), F({2}, {1, 1})},
        {{"group", ai(2)}}, {F({1, 2, 1, 1}, {4, 9})});
    row("ConvTranspose/1-D", "ConvTranspose", {F({1, 1, 2}, {1, 2}), F({1, 1, 3}, {1, 1, 1})}, {{"strides", ais({2})}},
        {F({1, 1, 5}, {1, 1, 3, 2, 2})});
    row("ConvTranspose/dilation", "ConvTranspose", {F({1, 1, 1}, {2}), F({1, 1, 2}, {1, 3})}, {{"dilations", ais({2})}},
        {F({1, 1, 3}, {2, 0, 6})});

    // ---- BatchNormalization
    row("BatchNormalization", "BatchNormalization",
        {iota({1, 2, 1, 2}), F({2}, {1, 2}), F({2}, {0, 1}), F({2}, {1, 3}), F({2}, {4, 0.25f})}, {{"epsilon", af(0)}},
        {F({1, 2, 1, 2}, {0, 0.5f, 1, 5})});
    row("BatchNormalization/2-D input", "BatchNormalization",
        {F({2, 1}, {1, 3}), F({1}, {1}), F({1}, {0}), F({1}, {1}), F({1}, {1})}, {}, {F({2, 1}, {0, 1.99999f})});

    // ---- Pools
    row("MaxPool/2x2 stride 2", "MaxPool", {iota({1, 1, 4, 4})}, {{"kernel_shape", ais({2, 2})}, {"strides", ais({2, 2})}},
        {F({1, 1, 2, 2}, {6, 8, 14, 16})});
    row("MaxPool/1x2 stride 1,2, odd width", "MaxPool", {F({1, 1, 2, 5}, {3, -1, 4, 1, -5, 9, 2, -6, 5, 3})},
        {{"kernel_shape", ais({1, 2})}, {"strides", ais({1, 2})}}, {F({1, 1, 2, 2}, {3, 4, 9, 5})});
    row("MaxPool/1x2 stride 1,2, uint8", "MaxPool",
        {U8({1, 1, 2, 16}, {0, 7, 14, 21, 5, 12, 19, 3, 10, 17, 1, 8, 15, 22, 6, 13,
                            20, 4, 11, 18, 2, 9, 16, 0, 7, 14, 21, 5, 12, 19, 3, 10})},
        {{"kernel_shape", ais({1, 2})}, {"strides", ais({1, 2})}},
        {U8({1, 1, 2, 8}, {7, 21, 12, 19, 17, 8, 22, 13, 20, 18, 9, 16, 14, 21, 19, 10})});
    row("MaxPool/3x3 pads 1", "MaxPool", {x33}, {{"kernel_shape", ais({3, 3})}, {"pads", ais({1, 1, 1, 1})}},
        {F({1, 1, 3, 3}, {5, 6, 6, 8, 9, 9, 8, 9, 9})});
    row("MaxPool/padding never wins", "MaxPool", {F({1, 1, 1, 2}, {-5, -3})},
        {{"kernel_shape", ais({1, 2})}, {"pads", ais({0, 1, 0, 1})}}, {F({1, 1, 1, 3}, {-5, -3, -3})});
    row("MaxPool/ceil_mode", "MaxPool", {x33}, {{"kernel_shape", ais({2, 2})}, {"strides", ais({2, 2})}, {"ceil_mode", ai(1)}},
        {F({1, 1, 2, 2}, {5, 6, 8, 9})});
    row("MaxPool/floor mode", "MaxPool", {x33}, {{"kernel_shape", ais({2, 2})}, {"strides", ais({2, 2})}},
        {F({1, 1, 1, 1}, {5})});
    row("MaxPool/ceil_mode drops window in end padding", "MaxPool", {iota({1, 1, 4})},
        {{"kernel_shape", ais({2})}, {"strides", ais({2})}, {"pads", ais({0, 1})}, {"ceil_mode", ai(1)}},
        {F({1, 1, 2}, {2, 4})});
    row("MaxPool/dilations", "MaxPool", {F({1, 1, 4, 4}, {5, 1, 0, 2, 0, 0, 0, 0, 1, 0, 3, 0, 0, 7, 0, 0})},
        {{"kernel_shape", ais({2, 2})}, {"dilations", ais({2, 2})}}, {F({1, 1, 2, 2}, {5, 2, 0, 7})});
    row("MaxPool/auto_pad SAME_UPPER", "MaxPool", {F({1, 1, 3}, {1, 3, 2})},
        {{"kernel_shape", ais({2})}, {"auto_pad", as("SAME_UPPER")}}, {F({1, 1, 3}, {3, 3, 2})});
    row("MaxPool/auto_pad SAME_LOWER", "MaxPool", {F({1, 1, 3}, {1, 3, 2})},
        {{"kernel_shape", ais({2})}, {"auto_pad", as("SAME_LOWER")}}, {F({1, 1, 3}, {1, 3, 3})});
    row("AveragePool/2x2 stride 1", "AveragePool", {x33}, {{"kernel_shape", ais({2, 2})}}, {F({1, 1, 2, 2}, {3, 4, 6, 7})});
    row("AveragePool/pads exclude", "AveragePool", {x33},
        {{"kernel_shape", ais({2, 2})}, {"strides", ais({2, 2})}, {"pads", ais({1, 1, 1, 1})}},
        {F({1, 1, 2, 2}, {1, 2.5f, 5.5f, 7})});
    row("AveragePool/pads include", "AveragePool", {x33},
        {{"kernel_shape", ais({2, 2})}, {"strides", ais({2, 2})}, {"pads", ais({1, 1, 1, 1})}, {"count_include_pad", ai(1)}},
        {F({1, 1, 2, 2}, {0.25f, 1.25f, 2.75f, 7})});
    row("AveragePool/end pad include", "AveragePool", {iota({1, 1, 4})},
        {{"kernel_shape", ais({3})}, {"strides", ais({2})}, {"pads", ais({0, 1})}, {"count_include_pad", ai(1)}},
        {F({1, 1, 2}, {2, 7.f / 3.f})});
    row("AveragePool/end pad exclude", "AveragePool", {iota({1, 1, 4})},
        {{"kernel_shape", ais({3})}, {"strides", ais({2})}, {"pads", ais({0, 1})}}, {F({1, 1, 2}, {2, 3.5f})});
    row("AveragePool/ceil window not padded further", "AveragePool", {iota({1, 1, 4})},
        {{"kernel_shape", ais({3})}, {"strides", ais({2})}, {"ceil_mode", ai(1)}, {"count_include_pad", ai(1)}},
        {F({1, 1, 2}, {2, 3.5f})});
    row("GlobalAveragePool", "GlobalAveragePool", {iota({1, 2, 2, 2})}, {}, {F({1, 2, 1, 1}, {2.5f, 6.5f})});
    row("GlobalMaxPool", "GlobalMaxPool", {iota({1, 2, 2, 2})}, {}, {F({1, 2, 1, 1}, {4, 8})});

    // ---- Shape ops
    const Tensor x232 = iota({2, 3, 2});
    row("Flatten/axis 1", "Flatten", {x232}, {}, {iota({2, 6})});
    row("Flatten/axis 0", "Flatten", {x232}, {{"axis", ai(0)}}, {iota({1, 12})});
    row("Flatten/axis -1", "Flatten", {x232}, {{"axis", ai(-1)}}, {iota({6, 2})});
    row("Flatten/axis rank", "Flatten", {x232}, {{"axis", ai(3)}}, {iota({12, 1})});
    row("Reshape/-1 inferred", "Reshape", {A23, I({2}, {3, -1})}, {}, {iota({3, 2})});
    row("Reshape/0 copies", "Reshape", {iota({2, 3, 4}), I({2}, {0, -1})}, {}, {iota({2, 12})});
    row("Reshape/allowzero", "Reshape", {Tensor(DType::Float32, {0, 3}), I({2}, {3, 0})}, {{"allowzero", ai(1)}},
        {Tensor(DType::Float32, {3, 0})});
    row("Reshape/attribute (opset 1)", "Reshape", {A23}, {{"shape", ais({6})}}, {iota({6})});
    row("Transpose/default reverses", "Transpose", {A23}, {}, {F({3, 2}, {1, 4, 2, 5, 3, 6})});
    row("Transpose/perm", "Transpose", {iota({1, 2, 3})}, {{"perm", ais({0, 2, 1})}}, {F({1, 3, 2}, {1, 4, 2, 5, 3, 6})});
    row("Transpose/int64 3-D", "Transpose", {I({2, 1, 2}, {1, 2, 3, 4})}, {{"perm", ais({2, 0, 1})}},
        {I({2, 2, 1}, {1, 3, 2, 4})});
    row("Concat/axis 1", "Concat", {F({2, 1}, {1, 2}), F({2, 2}, {3, 4, 5, 6})}, {{"axis", ai(1)}},
        {F({2, 3}, {1, 3, 4, 2, 5, 6})});
    row("Concat/negative axis", "Concat", {F({2, 1}, {1, 2}), F({2, 2}, {3, 4, 5, 6})}, {{"axis", ai(-1)}},
        {F({2, 3}, {1, 3, 4, 2, 5, 6})});
    row("Concat/int64 with empty", "Concat", {I({1}, {1}), I({0}, {}), I({2}, {2, 3})}, {{"axis", ai(0)}},
        {I({3}, {1, 2, 3})});
    row("Shape/full", "Shape", {iota({2, 3, 4})}, {}, {I({3}, {2, 3, 4})});
    row("Shape/start", "Shape", {iota({2, 3, 4})}, {{"start", ai(1)}}, {I({2}, {3, 4})});
    row("Shape/negative start end", "Shape", {iota({2, 3, 4})}, {{"start", ai(-2)}, {"end", ai(-1)}}, {I({1}, {3})});
    row("Shape/clamped", "Shape", {iota({2, 3, 4})}, {{"start", ai(-10)}, {"end", ai(10)}}, {I({3}, {2, 3, 4})});
    row("Gather/axis 0", "Gather", {iota({3, 2}), I({2}, {2, 0})}, {}, {F({2, 2}, {5, 6, 1, 2})});
    row("Gather/axis 1 negative index", "Gather", {iota({3, 2}), I({2, 1}, {1, -1})}, {{"axis", ai(1)}},
        {F({3, 2, 1}, {2, 2, 4, 4, 6, 6})});
    row("Gather/int64 scalar index", "Gather", {I({3}, {7, 8, 9}), I({}, {1})}, {}, {I({}, {8})});
    row("Slice/inputs", "Slice", {iota({2, 4}), I({2}, {0, 1}), I({2}, {2, 3})}, {}, {F({2, 2}, {2, 3, 6, 7})});
    row("Slice/negative step", "Slice", {I({5}, {0, 1, 2, 3, 4}), I({1}, {-1}), I({1}, {kMin}), I({1}, {0}), I({1}, {-1})},
        {}, {I({5}, {4, 3, 2, 1, 0})});
    row("Slice/negative step partial", "Slice", {I({5}, {0, 1, 2, 3, 4}), I({1}, {3}), I({1}, {0}), I({1}, {0}), I({1}, {-2})},
        {}, {I({2}, {3, 1})});
    row("Slice/step 2 to end", "Slice", {I({5}, {0, 1, 2, 3, 4}), I({1}, {0}), I({1}, {kMax}), I({1}, {0}), I({1}, {2})}, {},
        {I({3}, {0, 2, 4})});
    row("Slice/negative axis and start", "Slice", {iota({2, 3}), I({1}, {-2}), I({1}, {kMax}), I({1}, {-1})}, {},
        {F({2, 2}, {2, 3, 5, 6})});
    // Trailing axes taken whole merge into the sliced one (runs of several values per row).
    row("Slice/middle axis, last whole", "Slice", {iota({2, 3, 2}), I({1}, {1}), I({1}, {3}), I({1}, {1})}, {},
        {F({2, 2, 2}, {3, 4, 5, 6, 9, 10, 11, 12})});
    row("Slice/first axis, the rest whole", "Slice", {iota({3, 2, 2}), I({1}, {1}), I({1}, {3}), I({1}, {0})}, {},
        {F({2, 2, 2}, {5, 6, 7, 8, 9, 10, 11, 12})});
    row("Slice/middle axis reversed, last whole", "Slice",
        {iota({2, 3, 2}), I({1}, {2}), I({1}, {kMin}), I({1}, {1}), I({1}, {-1})}, {},
        {F({2, 3, 2}, {5, 6, 3, 4, 1, 2, 11, 12, 9, 10, 7, 8})});
    row("Slice/clamped start", "Slice", {I({3}, {5, 6, 7}), I({1}, {-100}), I({1}, {2})}, {}, {I({2}, {5, 6})});
    row("Slice/empty", "Slice", {I({3}, {5, 6, 7}), I({1}, {2}), I({1}, {1})}, {}, {I({0}, {})});
    row("Slice/attributes (opset 9)", "Slice", {iota({2, 3})},
        {{"starts", ais({1})}, {"ends", ais({1000})}, {"axes", ais({1})}}, {F({2, 2}, {2, 3, 5, 6})});
    row("Squeeze/all ones", "Squeeze", {iota({1, 3, 1})}, {}, {iota({3})});
    row("Squeeze/axes attribute", "Squeeze", {iota({1, 3, 1})}, {{"axes", ais({0})}}, {iota({3, 1})});
    row("Squeeze/axes input", "Squeeze", {iota({1, 3, 1}), I({1}, {-1})}, {}, {iota({1, 3})});
    row("Unsqueeze/axes attribute", "Unsqueeze", {iota({3})}, {{"axes", ais({0, 2})}}, {iota({1, 3, 1})});
    row("Unsqueeze/axes input negative", "Unsqueeze", {iota({3}), I({1}, {-1})}, {}, {iota({3, 1})});
    row("Unsqueeze/scalar", "Unsqueeze", {I({}, {4}), I({1}, {0})}, {}, {I({1}, {4})});

    // ---- Split
    QTest::newRow("Split/attribute sizes") << QString("Split") << Tensors{iota({6})} << Attrs{{"split", ais({2, 4})}}
                                          << Tensors{iota({2}), iota({4}, 3)};
    QTest::newRow("Split/input sizes axis 1") << QString("Split") << Tensors{iota({2, 4}), I({2}, {1, 3})}
                                              << Attrs{{"axis", ai(1)}}
                                              << Tensors{F({2, 1}, {1, 5}), F({2, 3}, {2, 3, 4, 6, 7, 8})};
    QTest::newRow("Split/equal parts") << QString("Split") << Tensors{iota({6})} << Attrs{}
                                       << Tensors{iota({2}), iota({2}, 3), iota({2}, 5)};
    QTest::newRow("Split/num_outputs uneven") << QString("Split") << Tensors{iota({5})} << Attrs{{"num_outputs", ai(2)}}
                                              << Tensors{iota({3}), iota({2}, 4)};

    // ---- Pad
    row("Pad/constant value input", "Pad", {iota({2, 2}), I({4}, {1, 0, 0, 1}), F({}, {9})}, {},
        {F({3, 3}, {9, 9, 9, 1, 2, 9, 3, 4, 9})});
    row("Pad/attributes (opset 2)", "Pad", {iota({2, 2})}, {{"pads", ais({1, 0, 0, 1})}, {"value", af(9)}},
        {F({3, 3}, {9, 9, 9, 1, 2, 9, 3, 4, 9})});
    row("Pad/middle axis, last whole", "Pad", {iota({2, 2, 2}), I({6}, {0, 1, 0, 0, 1, 0}), F({}, {9})}, {},
        {F({2, 4, 2}, {9, 9, 1, 2, 3, 4, 9, 9, 9, 9, 5, 6, 7, 8, 9, 9})});
    row("Pad/reflect", "Pad", {iota({3}), I({2}, {2, 1})}, {{"mode", as("reflect")}}, {F({6}, {3, 2, 1, 2, 3, 2})});
    row("Pad/edge", "Pad", {iota({3}), I({2}, {2, 1})}, {{"mode", as("edge")}}, {F({6}, {1, 1, 1, 2, 3, 3})});
    row("Pad/wrap", "Pad", {iota({3}), I({2}, {2, 1})}, {{"mode", as("wrap")}}, {F({6}, {2, 3, 1, 2, 3, 1})});
    row("Pad/negative crops", "Pad", {iota({3}), I({2}, {-1, 1})}, {}, {F({3}, {2, 3, 0})});
    row("Pad/axes input (opset 18)", "Pad", {iota({2, 2}), I({2}, {1, 1}), none(), I({1}, {1})}, {},
        {F({2, 4}, {0, 1, 2, 0, 0, 3, 4, 0})});
    row("Pad/int64", "Pad", {I({2}, {1, 2}), I({2}, {1, 0}), I({}, {-1})}, {}, {I({3}, {-1, 1, 2})});
    row("Pad/reflect 2-D", "Pad", {iota({2, 3}), I({4}, {1, 1, 0, 0})}, {{"mode", as("reflect")}},
        {F({3, 4}, {5, 4, 5, 6, 2, 1, 2, 3, 5, 4, 5, 6})});

    // ---- Resize
    const Tensor empty = F({0}, {});
    row("Resize/nearest half_pixel x2", "Resize", {x22, empty, F({4}, {1, 1, 2, 2})}, {},
        {F({1, 1, 4, 4}, {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4})});
    const Tensor r3 = F({1, 1, 1, 3}, {10, 20, 30});
    const Tensor s2 = F({4}, {1, 1, 1, 2});
    row("Resize/nearest round_prefer_floor", "Resize", {r3, none(), s2}, {{"coordinate_transformation_mode", as("asymmetric")}},
        {F({1, 1, 1, 6}, {10, 10, 20, 20, 30, 30})});
    row("Resize/nearest round_prefer_ceil", "Resize", {r3, none(), s2},
        {{"coordinate_transformation_mode", as("asymmetric")}, {"nearest_mode", as("round_prefer_ceil")}},
        {F({1, 1, 1, 6}, {10, 20, 20, 30, 30, 30})});
    row("Resize/nearest floor", "Resize", {r3, none(), s2},
        {{"coordinate_transformation_mode", as("asymmetric")}, {"nearest_mode", as("floor")}},
        {F({1, 1, 1, 6}, {10, 10, 20, 20, 30, 30})});
    row("Resize/nearest ceil", "Resize", {r3, none(), s2},
        {{"coordinate_transformation_mode", as("asymmetric")}, {"nearest_mode", as("ceil")}},
        {F({1, 1, 1, 6}, {10, 20, 20, 30, 30, 30})});
    row("Resize/nearest downsample sizes", "Resize", {F({1, 1, 1, 4}, {1, 2, 3, 4}), none(), none(), I({4}, {1, 1, 1, 2})}, {},
        {F({1, 1, 1, 2}, {1, 3})});
    const Tensor r2 = F({1, 1, 1, 2}, {0, 4});
    row("Resize/linear half_pixel", "Resize", {r2, none(), s2}, {{"mode", as("linear")}}, {F({1, 1, 1, 4}, {0, 1, 3, 4})});
    row("Resize/linear asymmetric", "Resize", {r2, none(), s2},
        {{"mode", as("linear")}, {"coordinate_transformation_mode", as("asymmetric")}}, {F({1, 1, 1, 4}, {0, 2, 4, 4})});
    row("Resize/linear align_corners", "Resize", {r2, none(), none(), I({4}, {1, 1, 1, 3})},
        {{"mode", as("linear")}, {"coordinate_transformation_mode", as("align_corners")}}, {F({1, 1, 1, 3}, {0, 2, 4})});
    row("Resize/linear pytorch_half_pixel to 1", "Resize", {r2, none(), none(), I({4}, {1, 1, 1, 1})},
        {{"mode", as("linear")}, {"coordinate_transformation_mode", as("pytorch_half_pixel")}}, {F({1, 1, 1, 1}, {0})});
    row("Resize/linear half_pixel to 1", "Resize", {r2, none(), none(), I({4}, {1, 1, 1, 1})}, {{"mode", as("linear")}},
        {F({1, 1, 1, 1}, {2})});
    row("Resize/bilinear align_corners", "Resize", {F({1, 1, 2, 2}, {0, 1, 2, 3}), none(), none(), I({4}, {1, 1, 3, 3})},
        {{"mode", as("linear")}, {"coordinate_transformation_mode", as("align_corners")}},
        {F({1, 1, 3, 3}, {0, 0.5f, 1, 1, 1.5f, 2, 2, 2.5f, 3})});
    row("Resize/bilinear half_pixel", "Resize", {F({1, 1, 2, 2}, {0, 4, 8, 12}), none(), F({4}, {1, 1, 2, 2})},
        {{"mode", as("linear")}},
        {F({1, 1, 4, 4}, {0, 1, 3, 4, 2, 3, 5, 6, 6, 7, 9, 10, 8, 9, 11, 12})});
    row("Resize/opset 10 scales input 1", "Resize", {F({1, 1, 1, 2}, {10, 20}), s2}, {{"_opset", ai(10)}},
        {F({1, 1, 1, 4}, {10, 10, 20, 20})});
    row("Resize/axes (opset 18)", "Resize", {F({1, 1, 1, 2}, {10, 20}), none(), F({1}, {2})},
        {{"axes", ais({3})}, {"coordinate_transformation_mode", as("asymmetric")}}, {F({1, 1, 1, 4}, {10, 10, 20, 20})});

    // ---- Constants, casts, misc
    row("Constant/value tensor", "Constant", {}, {{"value", at(I({2}, {3, 4}))}}, {I({2}, {3, 4})});
    row("Constant/value_float", "Constant", {}, {{"value_float", af(2.5f)}}, {F({}, {2.5f})});
    row("Constant/value_floats", "Constant", {}, {{"value_floats", afs({1, 2})}}, {F({2}, {1, 2})});
    row("Constant/value_int", "Constant", {}, {{"value_int", ai(7)}}, {I({}, {7})});
    row("Constant/value_ints", "Constant", {}, {{"value_ints", ais({7, 8})}}, {I({2}, {7, 8})});
    row("Identity", "Identity", {A23}, {}, {A23});
    row("Dropout/inference identity", "Dropout", {A23, F({}, {0.5f})}, {}, {A23});
    row("Cast/float to int64 truncates", "Cast", {F({3}, {1.7f, -1.7f, 0})}, {{"to", ai(7)}}, {I({3}, {1, -1, 0})});
    row("Cast/float to bool", "Cast", {F({3}, {1.7f, -0.2f, 0})}, {{"to", ai(9)}}, {U8({3}, {1, 1, 0})});
    row("Cast/int64 to float", "Cast", {I({2}, {3, -4})}, {{"to", ai(1)}}, {F({2}, {3, -4})});
    row("Cast/int64 to int32", "Cast", {I({2}, {3, -4})}, {{"to", ai(6)}}, {I({2}, {3, -4}).castTo(DType::Int32)});
    row("Cast/float to int8", "Cast", {F({2}, {3, -4})}, {{"to", ai(3)}}, {I({2}, {3, -4}).castTo(DType::Int8)});
    row("Cast/float to uint8", "Cast", {F({2}, {3, 200})}, {{"to", ai(2)}}, {U8({2}, {3, 200})});
    row("ConstantOfShape/default zero", "ConstantOfShape", {I({2}, {2, 1})}, {}, {F({2, 1}, {0, 0})});
    row("ConstantOfShape/int64 value", "ConstantOfShape", {I({1}, {3})}, {{"value", at(I({1}, {5}))}}, {I({3}, {5, 5, 5})});
    row("Range/int64", "Range", {I({}, {1}), I({}, {8}), I({}, {3})}, {}, {I({3}, {1, 4, 7})});
    row("Range/float negative delta", "Range", {F({}, {1}), F({}, {0}), F({}, {-0.25f})}, {}, {F({4}, {1, 0.75f, 0.5f, 0.25f})});
    row("Range/empty", "Range", {I({}, {5}), I({}, {1}), I({}, {1})}, {}, {I({0}, {})});
    row("Expand", "Expand", {F({3, 1}, {1, 2, 3}), I({3}, {2, 1, 2})}, {},
        {F({2, 3, 2}, {1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3})});
    row("Expand/smaller shape", "Expand", {F({2, 2}, {1, 2, 3, 4}), I({1}, {1})}, {}, {F({2, 2}, {1, 2, 3, 4})});
    row("Tile", "Tile", {F({1, 2}, {1, 2}), I({2}, {2, 2})}, {}, {F({2, 4}, {1, 2, 1, 2, 1, 2, 1, 2})});
    row("Tile/middle axis, last whole", "Tile", {iota({2, 1, 2}), I({3}, {1, 2, 1})}, {},
        {F({2, 2, 2}, {1, 2, 1, 2, 3, 4, 3, 4})});

    // ---- float16 / bfloat16 values: float32 kernels on widened inputs, float outputs rounded back (ops.cpp)
    // 1 + 2^-8 is a float16 value but lies halfway between two bfloat16 values: the sum rounds to even (1).
    row("Add/float16", "Add", {H({2}, {1, 3}), H({}, {0x1p-8f})}, {}, {H({2}, {1.00390625f, 3.00390625f})});
    row("Add/bfloat16 rounds the sum", "Add", {BF({2}, {1, 3}), BF({}, {0x1p-8f})}, {}, {BF({2}, {1, 3})});
    row("Relu/float16", "Relu", {H({3}, {-1, 0.5f, 2})}, {}, {H({3}, {0, 0.5f, 2})});
    row("Sigmoid/bfloat16", "Sigmoid", {BF({2}, {0, 2})}, {}, {BF({2}, {0.5f, 0.87890625f})}); // 0.8808 rounded
    row("Gemm/float16", "Gemm", {H({1, 2}, {1, 2}), H({2, 2}, {0.5f, 1, 1.5f, 2}), H({2}, {0.25f, 0})},
        {}, {H({1, 2}, {3.75f, 5})});
    // The node's float type is its first float input's: Pow with a float32 base stays float32.
    row("Pow/float32 base float16 exponent", "Pow", {F({2}, {2, 3}), H({}, {2})}, {}, {F({2}, {4, 9})});
    row("Pow/float16 base float32 exponent", "Pow", {H({2}, {2, 3}), F({}, {0.5f})}, {},
        {H({2}, {1.4140625f, 1.732421875f})});
    // DequantizeLinear's float type is its scale's: 3 * float16(0.1) = 0.29992675... rounds (a tie) to 0.2998046875.
    row("DequantizeLinear/float16 scale", "DequantizeLinear",
        {I({2}, {-2, 3}).castTo(DType::Int8), H({}, {0.1f}), I({}, {0}).castTo(DType::Int8)}, {},
        {H({2}, {-0.199951171875f, 0.2998046875f})});
    row("QuantizeLinear/float16 input", "QuantizeLinear", {H({3}, {0.5f, -1, 100}), H({}, {0.5f}), U8({}, {10})}, {},
        {U8({3}, {11, 8, 210})});
    row("Where/float16 branches", "Where", {U8({2}, {1, 0}), H({2}, {1.5f, 2}), H({}, {-0.1f})}, {},
        {H({2}, {1.5f, -0.1f})});
    row("Shape/float16 (int64 out)", "Shape", {H({2, 3}, {1, 2, 3, 4, 5, 6})}, {}, {I({2}, {2, 3})});
    row("Transpose/float16", "Transpose", {H({2, 2}, {1, 2, 3, 65504})}, {}, {H({2, 2}, {1, 3, 2, 65504})});
    row("Concat/bfloat16", "Concat", {BF({1}, {0.1f}), BF({2}, {2, 3})}, {{"axis", ai(0)}}, {BF({3}, {0.1f, 2, 3})});
    row("Reshape/float16 view", "Reshape", {H({4}, {1, 2, 3, 4}), I({2}, {2, 2})}, {}, {H({2, 2}, {1, 2, 3, 4})});
    row("Resize/float16 linear", "Resize", {H({1, 1, 1, 2}, {0, 1}), none(), F({4}, {1, 1, 1, 2})},
        {{"mode", as("linear")}, {"coordinate_transformation_mode", as("asymmetric")}}, {H({1, 1, 1, 4}, {0, 0.5f, 1, 1})});
}

void TestOps::kernel()
{
    QFETCH(QString, op);
    QFETCH(Tensors, inputs);
    QFETCH(Attrs, attrs);
    QFETCH(Tensors, expected);
    Tensors outputs;
    try {
        outputs = runOp(op.toStdString(), inputs, attrs, int(expected.size()));
    } catch (const cw::Error &e) {
        QFAIL(e.what());
    }
    QCOMPARE(outputs.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
        const QString diff = compare(outputs[i], expected[i]);
        if (!diff.isEmpty())
            QFAIL(qPrintable(QStringLiteral("output %1: %2").arg(i).arg(diff)));
    }
}

void TestOps::errors_data()
{
    QTest::addColumn<QString>("op");
    QTest::addColumn<Tensors>("inputs");
    QTest::addColumn<Attrs>("attrs");
    QTest::addColumn<int>("outputs");
    QTest::addColumn<QString>("message"); // a fragment the error must contain

    auto row = [](const char *name, const char *op, Tensors in, Attrs attrs, const char *message, int outputs = 1) {
        QTest::newRow(name) << QString(op) << in << attrs << outputs << QString(message);
    };
    row("Add/shape mismatch", "Add", {iota({2, 3}), iota({4})}, {}, "cannot be broadcast");
    row("Add/type mismatch", "Add", {iota({2}), I({2}, {1, 2})}, {}, "different types");
    row("Div/int64 by zero", "Div", {I({2}, {1, 2}), I({2}, {1, 0})}, {}, "division by zero");
    row("MatMul/inner mismatch", "MatMul", {iota({2, 3}), iota({2, 2})}, {}, "inner dimensions");
    row("MatMul/batch mismatch", "MatMul", {iota({2, 2, 2}), iota({3, 2, 2})}, {}, "cannot be broadcast");
    row("Gemm/inner mismatch", "Gemm", {iota({2, 3}), iota({2, 2})}, {}, "inner dimensions");
    row("Gemm/bad C", "Gemm", {iota({2, 3}), iota({3, 2}), iota({3})}, {}, "cannot be broadcast");
    row("Gemm/rank", "Gemm", {iota({2, 3, 1}), iota({3, 2})}, {}, "2-D");
    row("Conv/channel mismatch", "Conv", {iota({1, 3, 4, 4}), iota({1, 2, 3, 3})}, {}, "input channels");
    row("Conv/bias size", "Conv", {iota({1, 1, 4, 4}), iota({2, 1, 3, 3}), iota({3})}, {}, "bias");
    row("Conv/kernel_shape mismatch", "Conv", {iota({1, 1, 4, 4}), iota({1, 1, 3, 3})}, {{"kernel_shape", ais({2, 2})}},
        "kernel_shape");
    row("Conv/rank", "Conv", {iota({4, 4}), iota({1, 1, 3, 3})}, {}, "[N, C, H, W]");
    row("Conv/kernel larger than input", "Conv", {iota({1, 1, 2, 2}), iota({1, 1, 3, 3})}, {}, "empty");
    row("Conv/bad group", "Conv", {iota({1, 3, 4, 4}), iota({3, 1, 3, 3})}, {{"group", ai(2)}}, "group");
    row("Conv/bad strides", "Conv", {iota({1, 1, 4, 4}), iota({1, 1, 3, 3})}, {{"strides", ais({0, 1})}}, "strides");
    row("Conv/int input", "Conv", {I({1, 1, 1}, {1}), iota({1, 1, 1})}, {}, "float32");
    row("ConvTranspose/channel mismatch", "ConvTranspose", {iota({1, 2, 2, 2}), iota({3, 1, 2, 2})}, {}, "input channels");
    row("BatchNormalization/channels", "BatchNormalization",
        {iota({1, 2, 2}), iota({3}), iota({3}), iota({3}), iota({3})}, {}, "channels");
    row("BatchNormalization/training", "BatchNormalization",
        {iota({1, 1, 2}), iota({1}), iota({1}), iota({1}), iota({1})}, {{"training_mode", ai(1)}}, "training_mode");
    row("MaxPool/no kernel_shape", "MaxPool", {iota({1, 1, 4, 4})}, {}, "kernel_shape");
    row("MaxPool/Indices output", "MaxPool", {iota({1, 1, 4, 4})}, {{"kernel_shape", ais({2, 2})}}, "Indices", 2);
    row("MaxPool/bad auto_pad", "MaxPool", {iota({1, 1, 4, 4})}, {{"kernel_shape", ais({2, 2})}, {"auto_pad", as("SAME")}},
        "auto_pad");
    row("AveragePool/kernel too large", "AveragePool", {iota({1, 1, 2})}, {{"kernel_shape", ais({3})}}, "larger");
    row("GlobalAveragePool/rank", "GlobalAveragePool", {iota({2, 2})}, {}, "[N, C, ...]");
    row("Softmax/axis out of range", "Softmax", {iota({2, 3})}, {{"axis", ai(2)}}, "out of range");
    row("Gelu/bad approximate", "Gelu", {iota({2})}, {{"approximate", as("fast")}}, "approximate");
    row("Clip/non-scalar bound", "Clip", {iota({2}), iota({2})}, {}, "scalar");
    row("Relu/int input", "Relu", {I({2}, {1, 2})}, {}, "float32");
    row("Reshape/size mismatch", "Reshape", {iota({2, 3}), I({2}, {4, -1})}, {}, "cannot reshape");
    row("Reshape/two -1", "Reshape", {iota({2, 3}), I({2}, {-1, -1})}, {}, "more than one -1");
    row("Reshape/missing shape", "Reshape", {iota({2, 3})}, {}, "missing");
    row("Flatten/axis out of range", "Flatten", {iota({2, 3})}, {{"axis", ai(3)}}, "out of range");
    row("Transpose/not a permutation", "Transpose", {iota({2, 3})}, {{"perm", ais({0, 0})}}, "permutation");
    row("Transpose/wrong length", "Transpose", {iota({2, 3})}, {{"perm", ais({0})}}, "perm");
    row("Concat/shape mismatch", "Concat", {iota({2, 2}), iota({3, 2})}, {{"axis", ai(1)}}, "does not match");
    row("Concat/type mismatch", "Concat", {iota({2}), I({2}, {1, 2})}, {}, "type");
    row("Split/sizes do not sum", "Split", {iota({6})}, {{"split", ais({2, 2})}}, "add up", 2);
    row("Split/not divisible", "Split", {iota({5})}, {}, "equal parts", 2);
    row("Slice/step 0", "Slice", {iota({3}), I({1}, {0}), I({1}, {2}), I({1}, {0}), I({1}, {0})}, {}, "steps");
    row("Slice/axis out of range", "Slice", {iota({3}), I({1}, {0}), I({1}, {2}), I({1}, {1})}, {}, "out of range");
    row("Squeeze/not size 1", "Squeeze", {iota({2, 1})}, {{"axes", ais({0})}}, "cannot squeeze");
    row("Unsqueeze/no axes", "Unsqueeze", {iota({2})}, {}, "axes");
    row("Unsqueeze/duplicate axes", "Unsqueeze", {iota({2})}, {{"axes", ais({0, 0})}}, "duplicate");
    row("Pad/wrong pads length", "Pad", {iota({2, 2}), I({2}, {1, 1})}, {}, "pads");
    row("Pad/reflect too large", "Pad", {iota({2}), I({2}, {2, 0})}, {{"mode", as("reflect")}}, "reflect");
    row("Pad/unknown mode", "Pad", {iota({2}), I({2}, {1, 0})}, {{"mode", as("mirror")}}, "mode");
    row("Resize/cubic", "Resize", {iota({1, 1, 2, 2}), none(), F({4}, {1, 1, 2, 2})}, {{"mode", as("cubic")}}, "cubic");
    row("Resize/scales and sizes", "Resize", {iota({1, 1, 2, 2}), none(), F({4}, {1, 1, 2, 2}), I({4}, {1, 1, 4, 4})}, {},
        "exactly one");
    row("Resize/scales length", "Resize", {iota({1, 1, 2, 2}), none(), F({2}, {2, 2})}, {}, "scales");
    row("Gather/index out of range", "Gather", {iota({3}), I({1}, {3})}, {}, "out of range");
    row("Gather/float indices", "Gather", {iota({3}), iota({1})}, {}, "indices");
    row("Cast/unsupported type", "Cast", {iota({2})}, {{"to", ai(8)}}, "not supported"); // string
    row("Constant/no value", "Constant", {}, {}, "value");
    row("ReduceMean/duplicate axes", "ReduceMean", {iota({2, 2})}, {{"axes", ais({1, -1})}}, "duplicate");
    row("ReduceMean/axis out of range", "ReduceMean", {iota({2, 2})}, {{"axes", ais({2})}}, "out of range");
    row("ReduceMax/axes not int", "ReduceMax", {iota({2, 2}), iota({1})}, {}, "int64");
    row("ReduceMax/axes 2-D", "ReduceMax", {iota({2, 2}), I({1, 1}, {0})}, {}, "1-D");
    row("ReduceL2/int64", "ReduceL2", {I({2}, {1, 2})}, {}, "not supported");
    row("ReduceLogSumExp/int32", "ReduceLogSumExp", {I({2}, {1, 2}).castTo(DType::Int32)}, {}, "not supported");
    row("ReduceProd/uint8", "ReduceProd", {U8({2}, {1, 2})}, {}, "not supported");
    row("ReduceMin/axis out of range", "ReduceMin", {iota({2, 2})}, {{"axes", ais({-3})}}, "out of range");
    row("ReduceSumSquare/duplicate axes", "ReduceSumSquare", {iota({2, 2})}, {{"axes", ais({0, -2})}}, "duplicate");
    row("ArgMax/empty axis", "ArgMax", {Tensor(DType::Float32, {2, 0})}, {{"axis", ai(1)}}, "empty");
    row("ArgMax/axis out of range", "ArgMax", {iota({2})}, {{"axis", ai(1)}}, "out of range");
    row("ArgMin/empty axis", "ArgMin", {Tensor(DType::Float32, {0})}, {}, "empty");
    row("CumSum/no axis", "CumSum", {iota({2})}, {}, "axis");
    row("CumSum/axis out of range", "CumSum", {iota({2}), I({}, {1})}, {}, "out of range");
    row("CumSum/uint8", "CumSum", {U8({2}, {1, 2}), I({}, {0})}, {}, "not supported");
    row("TopK/k too large", "TopK", {iota({2, 3}), I({1}, {4})}, {}, "outside");
    row("TopK/negative k", "TopK", {iota({3}), I({1}, {-1})}, {}, "outside");
    row("TopK/no K", "TopK", {iota({3})}, {}, "K", 2);
    row("TopK/no k attribute", "TopK", {iota({3})}, {{"_opset", ai(9)}}, "k", 2);
    row("Not/float", "Not", {iota({2})}, {}, "bool");
    row("And/int64", "And", {U8({1}, {1}), I({1}, {1})}, {}, "bool");
    row("Or/shape mismatch", "Or", {U8({2}, {1, 0}), U8({3}, {1, 0, 1})}, {}, "cannot be broadcast");
    row("Mod/float without fmod", "Mod", {iota({2}), iota({2})}, {}, "fmod");
    row("Mod/int by zero", "Mod", {I({2}, {1, 2}), I({2}, {1, 0})}, {}, "by zero");
    row("Mod/type mismatch", "Mod", {I({2}, {1, 2}), iota({2})}, {{"fmod", ai(1)}}, "different types");
    row("Sum/int64", "Sum", {iota({2}), I({2}, {1, 2})}, {}, "float32");
    row("Mean/shape mismatch", "Mean", {iota({2}), iota({3})}, {}, "cannot be broadcast");
    row("PRelu/slope larger than x", "PRelu", {iota({2}), iota({2, 2})}, {}, "does not broadcast");
    row("Einsum/term count", "Einsum", {iota({2}), iota({2})}, {{"equation", as("i->i")}}, "input terms");
    row("Einsum/rank", "Einsum", {iota({2, 2})}, {{"equation", as("i->i")}}, "rank");
    row("Einsum/sizes", "Einsum", {iota({2}), iota({3})}, {{"equation", as("i,i->i")}}, "sizes");
    row("Einsum/character", "Einsum", {iota({2})}, {{"equation", as("i1->i")}}, "unexpected character");
    row("Einsum/output label", "Einsum", {iota({2})}, {{"equation", as("i->j")}}, "no input");
    row("Einsum/repeated output label", "Einsum", {iota({2})}, {{"equation", as("i->ii")}}, "repeats");
    row("Einsum/diagonal sizes", "Einsum", {iota({2, 3})}, {{"equation", as("ii->i")}}, "sizes");
    row("Einsum/int input", "Einsum", {I({2}, {1, 2})}, {{"equation", as("i->i")}}, "float32");
    row("Einsum/no equation", "Einsum", {iota({2})}, {}, "equation");
    row("GatherElements/rank", "GatherElements", {iota({2, 2}), I({2}, {0, 1})}, {}, "same rank");
    row("GatherElements/index out of range", "GatherElements", {iota({2, 2}), I({1, 1}, {2})}, {}, "out of range");
    row("GatherElements/indices too wide", "GatherElements", {iota({2, 2}), I({1, 3}, {0, 0, 0})}, {}, "exceed");
    row("InstanceNormalization/channels", "InstanceNormalization", {iota({1, 2, 2}), iota({3}), iota({3})}, {}, "channels");
    row("InstanceNormalization/rank", "InstanceNormalization", {iota({2, 2}), iota({2}), iota({2})}, {}, "[N, C");
    row("LayerNormalization/scale", "LayerNormalization", {iota({2, 3}), iota({2})}, {}, "normalized shape");
    row("LayerNormalization/stash_type", "LayerNormalization", {iota({2, 3}), iota({3})}, {{"stash_type", ai(10)}},
        "stash_type");
    const Tensor w111 = F({1, 1, 1}, {1});
    row("RNN/X rank", "RNN", {iota({2, 1}), w111, w111}, {}, "3-D", 2);
    row("RNN/W shape", "RNN", {iota({1, 1, 2}), w111, w111}, {}, "W must be", 2);
    row("RNN/direction", "RNN", {iota({1, 1, 1}), w111, w111}, {{"direction", as("both")}}, "direction", 2);
    row("RNN/sequence too long", "RNN", {iota({1, 1, 1}), w111, w111, none(), I({1}, {2})}, {}, "outside", 2);
    row("RNN/sequence_lens float", "RNN", {iota({1, 1, 1}), w111, w111, none(), iota({1})}, {}, "int32", 2);
    row("RNN/unknown activation", "RNN", {iota({1, 1, 1}), w111, w111},
        {{"activations", astrs({"Swish"})}}, "not supported", 2);
    row("RNN/activation count", "RNN", {iota({1, 1, 1}), w111, w111}, {{"activations", astrs({"Relu", "Relu", "Relu"})}},
        "entries", 2);
    row("LSTM/activation count", "LSTM", {iota({1, 1, 1}), F({1, 4, 1}, {0, 0, 0, 0}), F({1, 4, 1}, {0, 0, 0, 0})},
        {{"activations", astrs({"Relu", "Relu"})}}, "entries", 3);
    row("RNN/clip", "RNN", {iota({1, 1, 1}), w111, w111}, {{"clip", af(0)}}, "clip", 2);
    row("RNN/hidden_size", "RNN", {iota({1, 1, 1}), w111, w111}, {{"hidden_size", ai(2)}}, "hidden_size", 2);
    row("RNN/layout", "RNN", {iota({1, 1, 1}), w111, w111}, {{"layout", ai(2)}}, "layout", 2);
    row("RNN/initial_h shape", "RNN", {iota({1, 1, 1}), w111, w111, none(), none(), iota({2, 1, 1})}, {}, "initial_h", 2);
    row("LSTM/P shape", "LSTM", {iota({1, 1, 1}), F({1, 4, 1}, {0, 0, 0, 0}), F({1, 4, 1}, {0, 0, 0, 0}), none(), none(), none(),
                                 none(), iota({1, 4})}, {}, "P must be", 3);
    row("GRU/B shape", "GRU", {iota({1, 1, 1}), F({1, 3, 1}, {0, 0, 0}), F({1, 3, 1}, {0, 0, 0}), iota({1, 3})}, {}, "B must be", 2);
    row("Where/type mismatch", "Where", {U8({1}, {1}), iota({1}), I({1}, {1})}, {}, "different types");
    row("Range/zero delta", "Range", {I({}, {0}), I({}, {5}), I({}, {0})}, {}, "delta");
    row("Expand/incompatible", "Expand", {iota({3}), I({1}, {2})}, {}, "cannot be broadcast");
    // Sizes from attributes and shape inputs (issue 10): overflow-checked, and held to the memory budget (2^50
    // bytes and more exceed any machine's) before anything is allocated or an index table is built.
    const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
    row("Range/infinite limit", "Range", {F({}, {0}), F({}, {inf}), F({}, {1})}, {}, "no element count that fits");
    row("Range/NaN delta", "Range", {F({}, {0}), F({}, {1}), F({}, {nan})}, {}, "no element count that fits");
    row("Range/huge count", "Range", {I({}, {0}), I({}, {int64_t(1) << 55}), I({}, {1})}, {}, "memory budget");
    row("ConstantOfShape/huge", "ConstantOfShape", {I({3}, {1 << 20, 1 << 20, 1 << 20})}, {}, "memory budget");
    row("ConstantOfShape/numel overflow", "ConstantOfShape", {I({3}, {int64_t(1) << 40, int64_t(1) << 40, 1 << 20})}, {},
        "fit 64 bits");
    row("Expand/huge", "Expand", {iota({1}), I({2}, {1 << 30, 1 << 30})}, {}, "memory budget");
    row("Tile/huge", "Tile", {iota({2}), I({1}, {int64_t(1) << 50})}, {}, "memory budget");
    row("Tile/overflow", "Tile", {iota({2}), I({1}, {kMax})}, {}, "overflow");
    row("Pad/huge pads", "Pad", {iota({2}), I({2}, {0, int64_t(1) << 50})}, {}, "memory budget");
    row("Pad/overflowing pads", "Pad", {iota({2}), I({2}, {kMax, kMax})}, {}, "overflow");
    row("Reshape/overflowing target", "Reshape", {iota({1}), I({3}, {int64_t(1) << 40, int64_t(1) << 40, -1})}, {},
        "overflow");
    row("Resize/huge sizes", "Resize", {iota({1, 1, 2, 2}), none(), none(), I({4}, {1, 1, 1 << 25, 1 << 25})}, {},
        "memory budget");
    row("Resize/infinite scale", "Resize", {iota({1, 1, 2, 2}), none(), F({4}, {1, 1, inf, 1})}, {}, "finite");
    row("attribute of the wrong kind", "Softmax", {iota({2})}, {{"axis", as("last")}}, "integer");
    row("missing required input", "Add", {iota({2})}, {}, "missing");
}

void TestOps::errors()
{
    QFETCH(QString, op);
    QFETCH(Tensors, inputs);
    QFETCH(Attrs, attrs);
    QFETCH(int, outputs);
    QFETCH(QString, message);
    try {
        runOp(op.toStdString(), inputs, attrs, outputs);
    } catch (const cw::Error &e) {
        const QString what = QString::fromStdString(e.what());
        if (!what.contains(message, Qt::CaseInsensitive))
            QFAIL(qPrintable("error '" + what + "' does not mention '" + message + "'"));
        return;
    }
    QFAIL("no cw::Error was thrown");
}

void TestOps::convMatchesReference_data()
{
    QTest::addColumn<Shape>("xShape");
    QTest::addColumn<Shape>("wShape");
    QTest::addColumn<int>("stride");
    QTest::addColumn<int>("pad");
    QTest::addColumn<int>("dilation");
    QTest::addColumn<int>("group");
    QTest::addColumn<int>("threads");
    QTest::addColumn<bool>("bias");
    QTest::newRow("3x3 pad 1") << Shape{1, 3, 8, 8} << Shape{4, 3, 3, 3} << 1 << 1 << 1 << 1 << 1 << true;
    QTest::newRow("3x3 stride 2 batch 4 threads 2") << Shape{4, 3, 9, 7} << Shape{5, 3, 3, 3} << 2 << 1 << 1 << 1 << 2 << true;
    QTest::newRow("batch 1 threads 2") << Shape{1, 8, 10, 10} << Shape{16, 8, 3, 3} << 1 << 1 << 1 << 1 << 2 << false;
    QTest::newRow("5x5 dilation 2") << Shape{2, 2, 12, 11} << Shape{3, 2, 5, 5} << 1 << 2 << 2 << 1 << 1 << true;
    QTest::newRow("pointwise") << Shape{2, 6, 5, 5} << Shape{4, 6, 1, 1} << 1 << 0 << 1 << 1 << 2 << true;
    QTest::newRow("pointwise stride 2") << Shape{1, 6, 5, 5} << Shape{4, 6, 1, 1} << 2 << 0 << 1 << 1 << 1 << false;
    QTest::newRow("groups 2") << Shape{2, 4, 6, 6} << Shape{6, 2, 3, 3} << 1 << 1 << 1 << 2 << 2 << true;
    QTest::newRow("depthwise 3x3") << Shape{2, 8, 7, 7} << Shape{8, 1, 3, 3} << 1 << 1 << 1 << 8 << 2 << true;
    QTest::newRow("depthwise stride 2 dilation 2") << Shape{1, 4, 9, 9} << Shape{4, 1, 3, 3} << 2 << 2 << 2 << 4 << 1 << true;
    QTest::newRow("depthwise multiplier 2") << Shape{1, 3, 6, 6} << Shape{6, 1, 3, 3} << 1 << 0 << 1 << 3 << 1 << false;
    QTest::newRow("large pads") << Shape{1, 1, 3, 3} << Shape{1, 1, 2, 2} << 1 << 3 << 1 << 1 << 1 << false;
    QTest::newRow("depthwise large pads") << Shape{1, 2, 3, 3} << Shape{2, 1, 2, 2} << 2 << 3 << 1 << 2 << 1 << true;
    // Few output positions per image: the batch's columns in one gemm.
    QTest::newRow("2x2 outputs, batch 5") << Shape{5, 3, 4, 4} << Shape{6, 3, 3, 3} << 2 << 1 << 1 << 1 << 1 << true;
    QTest::newRow("3x3 outputs, 16 channels, batch 3, threads 2")
        << Shape{3, 16, 3, 3} << Shape{8, 16, 3, 3} << 1 << 1 << 1 << 1 << 2 << true;
    QTest::newRow("one input channel, 1x4 kernel stride 3, batch 6, threads 2")
        << Shape{6, 1, 1, 20} << Shape{7, 1, 1, 4} << 3 << 0 << 1 << 1 << 2 << false;
    QTest::newRow("3x5 outputs, dilation 2, pads 2, batch 4")
        << Shape{4, 2, 3, 5} << Shape{3, 2, 3, 3} << 1 << 2 << 2 << 1 << 1 << true;
    QTest::newRow("3x3 outputs, taps wholly in the padding, batch 3, threads 2")
        << Shape{3, 1, 2, 2} << Shape{2, 1, 2, 2} << 3 << 3 << 1 << 1 << 2 << true;
    // One input row (a 1-D signal's windows), with and without padding above and below it.
    QTest::newRow("1x3 on one row, pads 1, batch 2") << Shape{2, 4, 1, 5} << Shape{6, 4, 1, 3} << 1 << 1 << 1 << 1 << 1 << true;
    QTest::newRow("1x5 on one row, batch 3") << Shape{3, 4, 1, 9} << Shape{6, 4, 1, 5} << 1 << 0 << 1 << 1 << 1 << false;
}

void TestOps::convMatchesReference()
{
    QFETCH(Shape, xShape);
    QFETCH(Shape, wShape);
    QFETCH(int, stride);
    QFETCH(int, pad);
    QFETCH(int, dilation);
    QFETCH(int, group);
    QFETCH(int, threads);
    QFETCH(bool, bias);
    const Tensor x = testutil::randomTensor(xShape, 1);
    const Tensor w = testutil::randomTensor(wShape, 2);
    const Tensor b = bias ? testutil::randomTensor({wShape[0]}, 3) : Tensor();
    const Tensor expected = naiveConv(x, w, b, stride, pad, dilation, group);
    const Attrs attrs{{"strides", ais({stride, stride})},
                      {"pads", ais({pad, pad, pad, pad})},
                      {"dilations", ais({dilation, dilation})},
                      {"group", ai(group)}};
    const Tensors out = runOp("Conv", {x, w, b}, attrs, 1, threads);
    const QString diff = compare(out[0], expected, 1e-4);
    QVERIFY2(diff.isEmpty(), qPrintable(diff));
}

void TestOps::convTransposeMatchesReference_data()
{
    QTest::addColumn<Shape>("xShape");
    QTest::addColumn<Shape>("wShape");
    QTest::addColumn<int>("stride");
    QTest::addColumn<int>("pad");
    QTest::addColumn<int>("outPad");
    QTest::addColumn<int>("group");
    QTest::addColumn<int>("threads");
    QTest::newRow("3x3 stride 2 pad 1 output_padding 1") << Shape{1, 3, 4, 5} << Shape{3, 2, 3, 3} << 2 << 1 << 1 << 1 << 1;
    QTest::newRow("4x4 stride 2 batch 3 threads 2") << Shape{3, 4, 3, 3} << Shape{4, 3, 4, 4} << 2 << 1 << 0 << 1 << 2;
    QTest::newRow("groups 2") << Shape{2, 4, 3, 3} << Shape{4, 3, 3, 3} << 1 << 0 << 0 << 2 << 1;
}

void TestOps::convTransposeMatchesReference()
{
    QFETCH(Shape, xShape);
    QFETCH(Shape, wShape);
    QFETCH(int, stride);
    QFETCH(int, pad);
    QFETCH(int, outPad);
    QFETCH(int, group);
    QFETCH(int, threads);
    const Tensor x = testutil::randomTensor(xShape, 4);
    const Tensor w = testutil::randomTensor(wShape, 5);
    const Tensor expected = naiveConvTranspose(x, w, stride, pad, outPad, group);
    const Attrs attrs{{"strides", ais({stride, stride})},
                      {"pads", ais({pad, pad, pad, pad})},
                      {"output_padding", ais({outPad, outPad})},
                      {"group", ai(group)}};
    const Tensors out = runOp("ConvTranspose", {x, w}, attrs, 1, threads);
    const QString diff = compare(out[0], expected, 1e-4);
    QVERIFY2(diff.isEmpty(), qPrintable(diff));
}

// Above the OpenMP threshold the kernels split work across threads; results must not change.
void TestOps::parallelMatchesSerial_data()
{
    QTest::addColumn<QString>("op");
    QTest::addColumn<Tensors>("inputs");
    QTest::addColumn<Attrs>("attrs");
    const Tensor big = testutil::randomTensor({2, 8, 96, 96}, 7);
    QTest::newRow("Add channel bias") << QString("Add") << Tensors{big, testutil::randomTensor({1, 8, 1, 1}, 8)} << Attrs{};
    QTest::newRow("Mul long rows") << QString("Mul") << Tensors{testutil::randomTensor({2, 100000}, 9), testutil::randomTensor({100000}, 10)}
                                   << Attrs{};
    QTest::newRow("Relu") << QString("Relu") << Tensors{big} << Attrs{};
    QTest::newRow("Sigmoid") << QString("Sigmoid") << Tensors{big} << Attrs{};
    QTest::newRow("Softmax") << QString("Softmax") << Tensors{big} << Attrs{};
    QTest::newRow("MaxPool") << QString("MaxPool") << Tensors{big} << Attrs{{"kernel_shape", ais({3, 3})}, {"strides", ais({2, 2})}};
    QTest::newRow("GlobalAveragePool") << QString("GlobalAveragePool") << Tensors{big} << Attrs{};
    QTest::newRow("Transpose") << QString("Transpose") << Tensors{big} << Attrs{{"perm", ais({0, 2, 3, 1})}};
    QTest::newRow("ReduceMean") << QString("ReduceMean") << Tensors{big} << Attrs{{"axes", ais({2, 3})}};
    QTest::newRow("ReduceMax leading axis") << QString("ReduceMax") << Tensors{big} << Attrs{{"axes", ais({0})}};
    QTest::newRow("ReduceSumSquare channels") << QString("ReduceSumSquare") << Tensors{big} << Attrs{{"axes", ais({1})}};
    QTest::newRow("ReduceLogSumExp non-adjacent") << QString("ReduceLogSumExp") << Tensors{big} << Attrs{{"axes", ais({1, 3})}};
    QTest::newRow("ReduceProd last axis") << QString("ReduceProd") << Tensors{big} << Attrs{{"axes", ais({-1})}};
    QTest::newRow("ArgMin last axis") << QString("ArgMin") << Tensors{big} << Attrs{{"axis", ai(-1)}};
    QTest::newRow("CumSum channels") << QString("CumSum") << Tensors{big, I({}, {1})} << Attrs{};
    QTest::newRow("TopK rows") << QString("TopK") << Tensors{big, I({1}, {5})} << Attrs{};
    QTest::newRow("LayerNormalization") << QString("LayerNormalization") << Tensors{big, testutil::randomTensor({96}, 26)}
                                        << Attrs{};
    QTest::newRow("InstanceNormalization") << QString("InstanceNormalization")
                                           << Tensors{big, testutil::randomTensor({8}, 27), testutil::randomTensor({8}, 28)}
                                           << Attrs{};
    QTest::newRow("PRelu channel slope") << QString("PRelu") << Tensors{big, testutil::randomTensor({8, 1, 1}, 29)} << Attrs{};
    QTest::newRow("LSTM bidirectional") << QString("LSTM")
                                        << Tensors{testutil::randomTensor({6, 16, 128}, 32), testutil::randomTensor({2, 256, 128}, 33, -0.2f, 0.2f),
                                                   testutil::randomTensor({2, 256, 64}, 34, -0.2f, 0.2f)}
                                        << Attrs{{"direction", as("bidirectional")}};
    QTest::newRow("GRU") << QString("GRU")
                         << Tensors{testutil::randomTensor({6, 16, 128}, 35), testutil::randomTensor({1, 192, 128}, 36, -0.2f, 0.2f),
                                    testutil::randomTensor({1, 192, 64}, 37, -0.2f, 0.2f)}
                         << Attrs{};
    QTest::newRow("Einsum batched") << QString("Einsum")
                                    << Tensors{testutil::randomTensor({4, 64, 80}, 30), testutil::randomTensor({4, 96, 80}, 31)}
                                    << Attrs{{"equation", as("bik,bjk->bij")}};
    QTest::newRow("ArgMax channels") << QString("ArgMax") << Tensors{big} << Attrs{{"axis", ai(1)}};
    QTest::newRow("BatchNormalization") << QString("BatchNormalization")
                                        << Tensors{big, testutil::randomTensor({8}, 11), testutil::randomTensor({8}, 12),
                                                   testutil::randomTensor({8}, 13), testutil::randomTensor({8}, 14, 0.5f, 2.f)}
                                        << Attrs{};
    QTest::newRow("Gemm transB (column bands)") << QString("Gemm")
                                               << Tensors{testutil::randomTensor({64, 3136}, 15), testutil::randomTensor({128, 3136}, 16),
                                                          testutil::randomTensor({128}, 17)}
                                               << Attrs{{"transB", ai(1)}};
    QTest::newRow("Gemm transA (row bands)") << QString("Gemm")
                                             << Tensors{testutil::randomTensor({200, 300}, 18), testutil::randomTensor({200, 100}, 19)}
                                             << Attrs{{"transA", ai(1)}};
    QTest::newRow("MatMul batched") << QString("MatMul")
                                    << Tensors{testutil::randomTensor({3, 150, 200}, 20), testutil::randomTensor({3, 200, 120}, 21)}
                                    << Attrs{};
    QTest::newRow("Conv batch 1") << QString("Conv")
                                  << Tensors{testutil::randomTensor({1, 16, 32, 32}, 22), testutil::randomTensor({32, 16, 3, 3}, 23)}
                                  << Attrs{{"pads", ais({1, 1, 1, 1})}};
    QTest::newRow("ConvTranspose batch 1") << QString("ConvTranspose")
                                           << Tensors{testutil::randomTensor({1, 64, 16, 16}, 24), testutil::randomTensor({64, 32, 4, 4}, 25)}
                                           << Attrs{{"strides", ais({2, 2})}, {"pads", ais({1, 1, 1, 1})}};
    QTest::newRow("Resize linear") << QString("Resize") << Tensors{big, Tensor(), F({4}, {1, 1, 2, 2})}
                                   << Attrs{{"mode", as("linear")}};
}

void TestOps::parallelMatchesSerial()
{
    QFETCH(QString, op);
    QFETCH(Tensors, inputs);
    QFETCH(Attrs, attrs);
    const Tensors serial = runOp(op.toStdString(), inputs, attrs, 1, 1);
    const Tensors parallel = runOp(op.toStdString(), inputs, attrs, 1, 2);
    // Bands change the blocking of long dot products, so allow for rounding (K up to 3136 here).
    const QString diff = compare(parallel[0], serial[0], 2e-4);
    QVERIFY2(diff.isEmpty(), qPrintable(diff));
}

// Reshape, Flatten, Squeeze, Unsqueeze and Identity return views: no copy of the buffer.
void TestOps::viewsShareInput()
{
    const Tensor x = iota({2, 3});
    for (const auto &[op, in, attrs] : std::vector<std::tuple<std::string, Tensors, Attrs>>{
             {"Reshape", {x, I({1}, {6})}, {}},
             {"Flatten", {x}, {}},
             {"Unsqueeze", {x, I({1}, {0})}, {}},
             {"Squeeze", {x}, {}},
             {"Identity", {x}, {}}}) {
        const Tensors out = runOp(op, in, attrs);
        QVERIFY2(out[0].rawData() == x.rawData(), op.c_str());
    }
}

void TestOps::sessionRunsGraphAndNamesFailingNode()
{
    // x -> Conv(w, b) -> Relu -> Flatten -> Gemm -> y
    cw::Model model;
    model.sourcePath = "hand-built";
    cw::Graph &g = model.graph;
    g.inputs.push_back({"x", DType::Float32, {-1, 1, 3, 3}, true});
    g.outputs.push_back({"y", DType::Float32, {}, false});
    g.initializers["w"] = F({1, 1, 2, 2}, {1, 0, 0, -1});
    g.initializers["b"] = F({1}, {1});
    g.initializers["fc"] = F({2, 4}, {1, 1, 1, 1, 1, -1, 0, 0});
    auto add = [&](std::string name, std::string op, std::vector<std::string> in, std::vector<std::string> out, Attrs attrs = {}) {
        cw::Node n;
        n.name = std::move(name);
        n.opType = std::move(op);
        n.inputs = std::move(in);
        n.outputs = std::move(out);
        n.attrs = std::move(attrs);
        g.nodes.push_back(n);
    };
    add("fc", "Gemm", {"flat", "fc"}, {"y"}, {{"transB", ai(1)}});
    add("conv", "Conv", {"x", "w", "b"}, {"c"});
    add("relu", "Relu", {"c"}, {"r"});
    add("flatten", "Flatten", {"r"}, {"flat"});
    cw::Session session(model, cw::SessionOptions{1});
    // conv: x[i,j] - x[i+1,j+1] + 1 = 1 - 4 + 1 = -2 everywhere for iota → relu 0. Use a varied input instead.
    const Tensor x = F({1, 1, 3, 3}, {9, 1, 1, 1, 1, 1, 1, 1, 0});
    // conv = [9-1+1, 1-1+1, 1-1+1, 1-0+1] = [9, 1, 1, 2]; fc = [13, 8]
    const Tensor y = session.run(x);
    const QString diff = compare(y, F({1, 2}, {13, 8}));
    QVERIFY2(diff.isEmpty(), qPrintable(diff));

    try {
        session.run(iota({1, 2, 3, 3}));
        QFAIL("a channel mismatch was not reported");
    } catch (const cw::Error &e) {
        const QString what = QString::fromStdString(e.what());
        QVERIFY2(what.contains("'x'") || what.contains("conv"), qPrintable(what));
    }
    // A shape error inside the graph names the node, its op type and the model.
    cw::Model bad = model;
    bad.graph.inputs[0].shapeKnown = false;
    cw::Session badSession(bad, cw::SessionOptions{1});
    try {
        badSession.run(iota({1, 2, 3, 3}));
        QFAIL("a channel mismatch was not reported");
    } catch (const cw::Error &e) {
        const QString what = QString::fromStdString(e.what());
        QVERIFY2(what.contains("node 'conv' (Conv) in 'hand-built'"), qPrintable(what));
        QVERIFY2(what.contains("input channels"), qPrintable(what));
    }
}

void TestOps::everyRequiredOpIsRegistered()
{
    for (const char *op : {"Gemm", "MatMul", "Conv", "ConvTranspose", "BatchNormalization", "Relu", "Clip", "LeakyRelu",
                           "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Gelu", "Softmax", "MaxPool", "AveragePool",
                           "GlobalAveragePool", "Flatten", "Reshape", "Transpose", "Concat", "Split", "Slice", "Squeeze",
                           "Unsqueeze", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "ReduceMean", "Pad", "Resize",
                           "Constant", "Identity", "Dropout", "Cast", "Shape", "Gather", "Equal", "Where",
                           "ConstantOfShape", "Range", "Expand", "Neg", "Exp", "Log", "Erf", "Min", "Max", "ReduceSum",
                           "ArgMax", "Floor", "Ceil", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                           "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "ArgMin", "CumSum", "TopK", "Not",
                           "And", "Or", "Xor", "Sign", "Mod", "Sum", "Mean", "Einsum", "Size", "GatherElements",
                           "Softplus", "Softsign", "Selu", "PRelu", "InstanceNormalization", "LayerNormalization",
                           "LSTM", "GRU", "RNN"})
        QVERIFY2(cw::findKernel(op) != nullptr, op);
}

// float32 -> float16 / bfloat16 bit patterns, worked out by hand from the formats' definitions.
void TestOps::halfFloatRounding_data()
{
    QTest::addColumn<float>("value");
    QTest::addColumn<int>("half");
    QTest::addColumn<int>("bfloat");
    auto row = [](const char *name, float v, int h, int b) { QTest::newRow(name) << v << h << b; };
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    row("zero", 0.f, 0x0000, 0x0000);
    row("negative zero", -0.f, 0x8000, 0x8000);
    row("one", 1.f, 0x3C00, 0x3F80);
    row("-2.5", -2.5f, 0xC100, 0xC020);
    row("0.1", 0.1f, 0x2E66, 0x3DCD); // 0x3DCCCCCD: both round up
    // Ties go to the even mantissa; anything above a tie rounds up.
    row("1 + half ulp ties down", 1.f + 0x1p-11f, 0x3C00, 0x3F80);
    row("1 + 1.5 ulp ties up", 1.f + 3 * 0x1p-11f, 0x3C02, 0x3F80);
    row("just above a tie", 1.f + 0x1p-11f + 0x1p-20f, 0x3C01, 0x3F80);
    row("bfloat16 tie down", 1.f + 0x1p-8f, 0x3C04, 0x3F80);
    row("bfloat16 tie up", 1.f + 3 * 0x1p-8f, 0x3C0C, 0x3F82);
    row("bfloat16 above tie", 1.f + 0x1p-8f + 0x1p-20f, 0x3C04, 0x3F81);
    // float16 range: 65504 is the largest finite value, 65520 (65504 + half an ulp) ties to Inf.
    row("65504", 65504.f, 0x7BFF, 0x4780);
    row("65519", 65519.f, 0x7BFF, 0x4780);
    row("65520 overflows", 65520.f, 0x7C00, 0x4780);
    row("-1e6 overflows", -1e6f, 0xFC00, 0xC974);
    row("float max", std::numeric_limits<float>::max(), 0x7C00, 0x7F80); // bfloat16 rounds up to Inf too
    // float16 subnormals: unit 2^-24; 2^-25 ties to zero, 3 * 2^-25 to 2 units, and the largest subnormal
    // plus half a unit carries into the smallest normal 2^-14.
    row("smallest normal", 0x1p-14f, 0x0400, 0x3880);
    row("smallest subnormal", 0x1p-24f, 0x0001, 0x3380);
    row("2^-25 ties to zero", 0x1p-25f, 0x0000, 0x3300);
    row("just above 2^-25", 0x1p-25f * (1 + 0x1p-23f), 0x0001, 0x3300);
    row("3 * 2^-25 ties to even", 3 * 0x1p-25f, 0x0002, 0x33C0);
    row("subnormal carries to normal", 0x1p-14f - 0x1p-25f, 0x0400, 0x3880);
    row("below half a subnormal", -1e-8f, 0x8000, 0xB22C);
    row("float32 subnormal", 1e-40f, 0x0000, 0x0001);
    row("inf", inf, 0x7C00, 0x7F80);
    row("-inf", -inf, 0xFC00, 0xFF80);
    row("nan", nan, 0x7E00, 0x7FC0);
    row("-nan", -nan, 0xFE00, 0xFFC0);
}

void TestOps::halfFloatRounding()
{
    QFETCH(float, value);
    QFETCH(int, half);
    QFETCH(int, bfloat);
    QCOMPARE(int(cw::floatToFloat16(value)), half);
    QCOMPARE(int(cw::floatToBFloat16(value)), bfloat);
    // Through Tensor::castTo (the array paths) as well, inside a vector-sized block.
    const Tensor t = F({9}, std::vector<float>(9, value));
    for (int i : {0, 8}) {
        QCOMPARE(int(t.castTo(DType::Float16).data<cw::Float16>()[i].bits), half);
        QCOMPARE(int(t.castTo(DType::BFloat16).data<cw::BFloat16>()[i].bits), bfloat);
    }
}

// Every float16 and bfloat16 value widens exactly and narrows back to itself (NaNs stay NaN).
void TestOps::halfFloatWidening()
{
    QCOMPARE(cw::float16ToFloat(0x0001), 0x1p-24f);
    QCOMPARE(cw::float16ToFloat(0x03FF), 1023 * 0x1p-24f);
    QCOMPARE(cw::float16ToFloat(0x7BFF), 65504.f);
    QCOMPARE(cw::float16ToFloat(0xFC00), -std::numeric_limits<float>::infinity());
    QVERIFY(std::isnan(cw::float16ToFloat(0x7C01)));
    QCOMPARE(cw::bfloat16ToFloat(0x3F81), 1.f + 0x1p-7f);
    for (uint32_t b = 0; b < 0x10000; ++b) {
        const uint16_t bits = uint16_t(b);
        const float h = cw::float16ToFloat(bits), bf = cw::bfloat16ToFloat(bits);
        if (std::isnan(h))
            QVERIFY(std::isnan(cw::float16ToFloat(cw::floatToFloat16(h))));
        else if (cw::floatToFloat16(h) != bits)
            QFAIL(qPrintable(QStringLiteral("float16 0x%1 does not round-trip").arg(b, 4, 16, QChar('0'))));
        if (std::isnan(bf))
            QVERIFY(std::isnan(cw::bfloat16ToFloat(cw::floatToBFloat16(bf))));
        else if (cw::floatToBFloat16(bf) != bits)
            QFAIL(qPrintable(QStringLiteral("bfloat16 0x%1 does not round-trip").arg(b, 4, 16, QChar('0'))));
    }
}

// The array conversions (F16C where the CPU has it) agree bit for bit with the scalar ones.
void TestOps::halfFloatBulkMatchesScalar()
{
    std::vector<float> values;
    for (uint64_t u = 0; u < (uint64_t(1) << 32); u += 4099)
        values.push_back([&] {
            float f;
            const uint32_t v = uint32_t(u);
            std::memcpy(&f, &v, 4);
            return f;
        }());
    std::vector<uint16_t> bulk(values.size());
    cw::floatToFloat16(values.data(), bulk.data(), int64_t(values.size()));
    for (size_t i = 0; i < values.size(); ++i)
        if (bulk[i] != cw::floatToFloat16(values[i]) && !std::isnan(values[i]))
            QFAIL(qPrintable(QStringLiteral("float16 of %1: bulk 0x%2, scalar 0x%3")
                                 .arg(double(values[i]))
                                 .arg(bulk[i], 0, 16)
                                 .arg(cw::floatToFloat16(values[i]), 0, 16)));
    std::vector<uint16_t> all(0x10000);
    for (uint32_t b = 0; b < 0x10000; ++b)
        all[b] = uint16_t(b);
    std::vector<float> wide(all.size());
    cw::float16ToFloat(all.data(), wide.data(), int64_t(all.size()));
    for (uint32_t b = 0; b < 0x10000; ++b) {
        const float scalar = cw::float16ToFloat(uint16_t(b));
        if (std::memcmp(&scalar, &wide[b], 4) != 0 && !std::isnan(scalar))
            QFAIL(qPrintable(QStringLiteral("float16 0x%1 widens differently").arg(b, 0, 16)));
    }
}

// Cast and CastLike to and from the 16-bit floats.
void TestOps::halfFloatCasts()
{
    const Tensor x = F({4}, {1.7f, -2.5f, 65520.f, 0.f});
    const Tensor h = runOp("Cast", {x}, {{"to", ai(10)}})[0];
    QCOMPARE(h.dtype(), DType::Float16);
    QCOMPARE(h.toFloatVector(), (std::vector<float>{1.7001953125f, -2.5f, std::numeric_limits<float>::infinity(), 0.f}));
    const Tensor b = runOp("Cast", {x}, {{"to", ai(16)}})[0];
    QCOMPARE(b.dtype(), DType::BFloat16);
    QCOMPARE(b.toFloatVector(), (std::vector<float>{1.703125f, -2.5f, 65536.f, 0.f}));
    QCOMPARE(compare(runOp("Cast", {h}, {{"to", ai(1)}})[0], h.castTo(DType::Float32)), QString());
    const Tensor small = runOp("Cast", {F({2, 2}, {1.7f, -2.5f, 0.4f, -0.6f})}, {{"to", ai(10)}})[0];
    QCOMPARE(compare(runOp("Cast", {small}, {{"to", ai(7)}})[0], I({2, 2}, {1, -2, 0, 0})), QString());
    QCOMPARE(compare(runOp("Cast", {small}, {{"to", ai(3)}})[0], I({2, 2}, {1, -2, 0, 0}).castTo(DType::Int8)), QString());
    QCOMPARE(compare(runOp("Cast", {b}, {{"to", ai(9)}})[0], U8({4}, {1, 1, 1, 0})), QString());
    // float16 -> bfloat16 rounds once more: 1.7001953125 -> 1.703125.
    QCOMPARE(runOp("Cast", {h}, {{"to", ai(16)}})[0].toFloatVector()[0], 1.703125f);
    QCOMPARE(runOp("Cast", {I({2}, {2049, -3})}, {{"to", ai(10)}})[0].toFloatVector(), (std::vector<float>{2048.f, -3.f}));
    const Tensor like = runOp("CastLike", {x, Tensor(DType::Float16, {1})})[0];
    QCOMPARE(like.dtype(), DType::Float16);
    QCOMPARE(std::memcmp(like.rawData(), h.rawData(), h.byteSize()), 0);
    QCOMPARE(runOp("CastLike", {h, Tensor(DType::Int32, {})})[0].toInt64Vector().front(), int64_t(1));
    // Out of an integer type's range saturates, NaN becomes 0 (a plain C++ conversion would be undefined).
    const float inf = std::numeric_limits<float>::infinity();
    QCOMPARE(runOp("Cast", {F({5}, {inf, -inf, std::nanf(""), 3e9f, -300.f})}, {{"to", ai(6)}})[0].toInt64Vector(),
             (std::vector<int64_t>{INT32_MAX, INT32_MIN, 0, INT32_MAX, -300}));
    QCOMPARE(runOp("Cast", {F({3}, {300.f, -300.f, 1e30f})}, {{"to", ai(3)}})[0].toInt64Vector(),
             (std::vector<int64_t>{127, -128, 127}));
    QCOMPARE(runOp("Cast", {F({2}, {1e30f, -1e30f})}, {{"to", ai(7)}})[0].toInt64Vector(),
             (std::vector<int64_t>{INT64_MAX, INT64_MIN}));
}

void TestOps::halfFloatGraph_data()
{
    QTest::addColumn<int>("dtype");
    QTest::addColumn<bool>("declared");
    QTest::newRow("float16 in float32") << int(DType::Float16) << false;
    QTest::newRow("float16 declared") << int(DType::Float16) << true;
    QTest::newRow("bfloat16 in float32") << int(DType::BFloat16) << false;
    QTest::newRow("bfloat16 declared") << int(DType::BFloat16) << true;
}

// A Session over a 16-bit float network (weights, input and outputs in that type, a Cast to the type inside,
// an output that a later node reads too). Declared: between the nodes it holds exactly the float32 results
// rounded to the type; the reference runs each node on float32 values and rounds its output before the next
// node. In float32 (the default, as onnxruntime): only the Cast and the graph outputs round.
void TestOps::halfFloatGraph()
{
    QFETCH(int, dtype);
    QFETCH(bool, declared);
    const DType type = DType(dtype);
    auto node = [](const char *name, const char *op, std::vector<std::string> in, std::string out, Attrs attrs = {}) {
        cw::Node n;
        n.name = name;
        n.opType = op;
        n.inputs = std::move(in);
        n.outputs = {std::move(out)};
        n.attrs = std::move(attrs);
        return n;
    };
    cw::Model m;
    m.sourcePath = "hand-built";
    cw::Graph &g = m.graph;
    g.nodes = {node("conv", "Conv", {"x", "w", "b"}, "c", {{"pads", ais({1, 1, 1, 1})}}),
               node("relu", "Relu", {"c"}, "r"),
               node("pool", "MaxPool", {"r"}, "p", {{"kernel_shape", ais({2, 2})}, {"strides", ais({2, 2})}}),
               node("gap", "GlobalAveragePool", {"p"}, "a"),
               node("round", "Cast", {"a"}, "ar", {{"to", ai(type == DType::Float16 ? 10 : 16)}}),
               node("flatten", "Flatten", {"ar"}, "f"),
               node("fc", "Gemm", {"f", "fw", "fb"}, "logits", {{"transB", ai(1)}}),
               node("softmax", "Softmax", {"logits"}, "y", {{"axis", ai(-1)}})};
    g.initializers["w"] = testutil::randomTensor({4, 2, 3, 3}, 1).castTo(type);
    g.initializers["b"] = testutil::randomTensor({4}, 2).castTo(type);
    g.initializers["fw"] = testutil::randomTensor({3, 4}, 3, -2, 2).castTo(type);
    g.initializers["fb"] = testutil::randomTensor({3}, 4).castTo(type);
    g.inputs = {cw::ValueInfo{"x", type, {-1, 2, 6, 6}, true}};
    g.outputs = {cw::ValueInfo{"y", type, {}, false}, cw::ValueInfo{"logits", type, {}, false}};
    const Tensor x = testutil::randomTensor({2, 2, 6, 6}, 5, -3, 3).castTo(type);

    // The reference: each node on float32 values, its output rounded to the 16-bit type and widened again
    // (declared, or a Cast), else kept.
    std::map<std::string, Tensor> values{{"x", x.castTo(DType::Float32)}};
    for (const auto &[name, t] : g.initializers)
        values[name] = t.castTo(DType::Float32);
    for (const cw::Node &n : g.nodes) {
        Tensors in;
        for (const std::string &i : n.inputs)
            in.push_back(values.at(i));
        const Tensor out = runOp(n.opType, in, n.attrs)[0];
        values[n.outputs[0]] = declared || n.opType == "Cast" ? out.castTo(type).castTo(DType::Float32) : out;
    }
    std::map<std::string, Tensor> out;
    try {
        cw::SessionOptions options;
        options.threads = 1;
        options.halfFloats = declared ? cw::HalfFloats::Declared : cw::HalfFloats::Float32;
        out = cw::Session(m, options).run({{"x", x}});
    } catch (const cw::Error &e) {
        QFAIL(e.what());
    }
    for (const char *name : {"y", "logits"}) {
        const Tensor &y = out.at(name);
        QCOMPARE(y.dtype(), type);
        const Tensor expected = values.at(name).castTo(type);
        QCOMPARE(y.shape(), expected.shape());
        QCOMPARE(std::memcmp(y.rawData(), expected.rawData(), y.byteSize()), 0);
    }
}

// The engine's own exp, sigmoid and tanh (core/runtime/fusion.h, act::) against the double-precision functions,
// on every 1/4096 step over [-90, 90] (and the exact values around the bounds): the largest relative error of
// each, in units of float's epsilon (2^-23), within its budget (25 % above what was measured: exp 0.66, sigmoid
// 1.23, tanh 1.05).
void TestOps::activationFormulas()
{
    constexpr double kEps = 1.0 / (1 << 23);
    constexpr double kExpBudget = 0.83, kSigmoidBudget = 1.54, kTanhBudget = 1.32; // eps
    double expErr = 0, sigmoidErr = 0, tanhErr = 0;
    const auto relative = [](double got, double want) { return want == 0 ? std::fabs(got) : std::fabs(got / want - 1); };
    for (int i = -90 * 4096; i <= 90 * 4096; ++i) {
        const float v = float(i) / 4096.f;
        if (v >= -87.3f && v <= 88.f)
            expErr = std::max(expErr, relative(cw::act::exp(v), std::exp(double(v))));
        if (v >= -87.f) // sigmoid's true value below e^-87 is under the clamp
            sigmoidErr = std::max(sigmoidErr, relative(cw::act::sigmoid(v), 1 / (1 + std::exp(-double(v)))));
        tanhErr = std::max(tanhErr, relative(cw::act::tanh(v), std::tanh(double(v))));
    }
    qInfo("largest relative errors: exp %.2f, sigmoid %.2f, tanh %.2f eps", expErr / kEps, sigmoidErr / kEps,
          tanhErr / kEps);
    QVERIFY2(expErr <= kExpBudget * kEps, qPrintable(QString::number(expErr / kEps)));
    QVERIFY2(sigmoidErr <= kSigmoidBudget * kEps, qPrintable(QString::number(sigmoidErr / kEps)));
    QVERIFY2(tanhErr <= kTanhBudget * kEps, qPrintable(QString::number(tanhErr / kEps)));
    // Tiny arguments keep tanh's relative accuracy (the odd polynomial, not 1 − 2 / (e^2v + 1)).
    QVERIFY(relative(cw::act::tanh(1e-6f), std::tanh(1e-6)) <= kTanhBudget * kEps);
    // The ends and the special values.
    const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
    QCOMPARE(cw::act::tanh(inf), 1.f);
    QCOMPARE(cw::act::tanh(-inf), -1.f);
    QCOMPARE(cw::act::tanh(0.f), 0.f);
    QCOMPARE(cw::act::sigmoid(inf), 1.f);
    QVERIFY(cw::act::sigmoid(-inf) >= 0.f && cw::act::sigmoid(-inf) < 1e-37f);
    QVERIFY(cw::act::exp(-inf) > 0.f && cw::act::exp(-inf) < 1.3e-38f);
    QVERIFY(std::isfinite(cw::act::exp(inf)));
    QVERIFY(std::isnan(cw::act::exp(nan)));
    QVERIFY(std::isnan(cw::act::sigmoid(nan)));
    QVERIFY(std::isnan(cw::act::tanh(nan)));
}

QTEST_APPLESS_MAIN(TestOps)
#include "test_ops.moc"
