// Arithmetic, matrix products, comparisons and element-wise functions (reductions: ops/reduce.cpp).
//
//   Gemm:     A [M, K] (or [K, M] with transA), B [K, N] (or [N, K] with transB), C broadcastable to [M, N]
//             → alpha·A'·B' + beta·C  [M, N]
//   MatMul:   numpy matmul: [..., M, K] x [..., K, N] → [broadcast(...), M, N]; a 1-D operand gets a 1 prepended
//             (A) or appended (B) which is removed from the result
//   Add, Sub, Mul, Div, Pow, Min, Max, Equal, Less, Greater, Where: numpy broadcasting; Add/Sub/Mul/Div also
//             run on int32/int64 because exporters compute shapes with them (integer Div truncates as in C)
//   Sqrt, Neg, Abs, Exp, Log, Erf, Floor, Ceil, Reciprocal: element-wise, float (Neg/Abs also int64)
#include <cmath>
#include <limits>

#include "core/runtime/kernels.h"
#include "core/runtime/ops/common.h"
#include "core/runtime/sparse.h"

namespace cw {
namespace {

using namespace ops;

// ---- Gemm / MatMul ---------------------------------------------------------------------------------------

void gemmOp(OpContext &ctx)
{
    const Tensor &a = ctx.input(0);
    const Tensor &b = ctx.input(1);
    requireFloat(ctx, a, "A");
    requireFloat(ctx, b, "B");
    if (a.rank() != 2 || b.rank() != 2)
        ctx.fail("A and B must be 2-D, got " + shapeToString(a.shape()) + " and " + shapeToString(b.shape()));
    const bool transA = ctx.node.attrInt("transA", 0) != 0;
    const bool transB = ctx.node.attrInt("transB", 0) != 0;
    const float alpha = ctx.node.attrFloat("alpha", 1.f);
    const float beta = ctx.node.attrFloat("beta", 1.f);
    const int64_t M = transA ? a.dim(1) : a.dim(0);
    const int64_t K = transA ? a.dim(0) : a.dim(1);
    const int64_t KB = transB ? b.dim(1) : b.dim(0);
    const int64_t N = transB ? b.dim(0) : b.dim(1);
    if (K != KB)
        ctx.fail("A " + shapeToString(a.shape()) + (transA ? " (transposed)" : "") + " and B " +
                 shapeToString(b.shape()) + (transB ? " (transposed)" : "") + " have different inner dimensions");
    Tensor out = Tensor::uninitialized(DType::Float32, {M, N});
    float *y = out.f32();
    float gemmBeta = 0.f;
    if (ctx.hasInput(2) && beta != 0.f) {
        const Tensor &c = ctx.input(2);
        requireFloat(ctx, c, "C");
        if (c.rank() > 2)
            ctx.fail("C must have rank <= 2, got " + shapeToString(c.shape()));
        const Shape cs = c.shape();
        const int64_t cm = cs.size() == 2 ? cs[0] : 1;
        const int64_t cn = cs.empty() ? 1 : cs.back();
        if ((cm != 1 && cm != M) || (cn != 1 && cn != N))
            ctx.fail("C " + shapeToString(cs) + " cannot be broadcast to [" + str(M) + ", " + str(N) + "]");
        const float *pc = c.f32();
        for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < N; ++j)
                y[i * N + j] = beta * pc[(cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j)];
        gemmBeta = 1.f;
    }
    // A pruned constant B runs on its CSR form (ops/sparse.h); the Session built it for these shapes.
    if (ctx.sparse && !transA && ctx.sparse->rows == N && ctx.sparse->cols == K && sparse::gemmPreferred(*ctx.sparse, M))
        sparse::gemm(*ctx.sparse, M, a.f32(), alpha, gemmBeta != 0.f, y, ctx.threads);
    else
        parallelGemm(ctx.threads, transA, transB, M, N, K, alpha, a.f32(), a.dim(1), b.f32(), b.dim(1), gemmBeta, y, N);
    ctx.outputs[0] = out;
}

void matMulOp(OpContext &ctx)
{
    const Tensor &a = ctx.input(0);
    const Tensor &b = ctx.input(1);
    requireFloat(ctx, a, "A");
    requireFloat(ctx, b, "B");
    if (a.rank() == 0 || b.rank() == 0)
        ctx.fail("MatMul does not take scalars");
    Shape as = a.shape(), bs = b.shape();
    const bool aVec = as.size() == 1, bVec = bs.size() == 1;
    if (aVec)
        as.insert(as.begin(), 1);
    if (bVec)
        bs.push_back(1);
    const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
    if (bs[bs.size() - 2] != K)
        ctx.fail("shapes " + shapeToString(a.shape()) + " and " + shapeToString(b.shape()) +
                 " have different inner dimensions");
    const Shape aBatch(as.begin(), as.end() - 2), bBatch(bs.begin(), bs.end() - 2);
    const Shape batch = broadcastShapes(ctx, aBatch, bBatch);
    Shape outShape = batch;
    if (!aVec)
        outShape.push_back(M);
    if (!bVec)
        outShape.push_back(N);
    Tensor out = Tensor::uninitialized(DType::Float32, outShape);
    const int64_t batchCount = shapeNumel(batch);
    if (shapeNumel(bBatch) == 1 && batchCount > 0) {
        // B is shared by every batch entry and A's rows are contiguous: one [batch*M, K] x [K, N] product.
        if (shapeNumel(aBatch) == batchCount) {
            parallelGemm(ctx.threads, false, false, batchCount * M, N, K, 1.f, a.f32(), K, b.f32(), N, 0.f, out.f32(), N);
            ctx.outputs[0] = out;
            return;
        }
    }
    const Shape batchShape = batch.empty() ? Shape{1} : batch;
    const Shape aB = aBatch.empty() ? Shape{1} : aBatch, bB = bBatch.empty() ? Shape{1} : bBatch;
    const Shape *padded[2] = {&aB, &bB};
    const BroadcastPlan<2> plan = makeBroadcastPlan<2>(batchShape, padded);
    for (int64_t r = 0; r < plan.outer(); ++r) {
        int64_t off[2];
        plan.offsets(r, off);
        for (int64_t i = 0; i < plan.inner(); ++i) {
            const int64_t ia = off[0] + i * plan.strides[0].back();
            const int64_t ib = off[1] + i * plan.strides[1].back();
            const int64_t io = r * plan.inner() + i;
            parallelGemm(ctx.threads, false, false, M, N, K, 1.f, a.f32() + ia * M * K, K, b.f32() + ib * K * N, N, 0.f,
                         out.f32() + io * M * N, N);
        }
    }
    ctx.outputs[0] = out;
}

// ---- Element-wise binary ---------------------------------------------------------------------------------

enum class BinOp { Add, Sub, Mul, Div, Pow, Min, Max };

template <typename T> T applyBin(BinOp op, T x, T y)
{
    switch (op) {
    case BinOp::Add: return x + y;
    case BinOp::Sub: return x - y;
    case BinOp::Mul: return x * y;
    case BinOp::Div: return x / y;
    case BinOp::Pow: return T(std::pow(double(x), double(y)));
    case BinOp::Min: return std::min(x, y);
    case BinOp::Max: return std::max(x, y);
    }
    return x;
}

template <typename T> Tensor binaryTyped(const OpContext &ctx, BinOp op, const Tensor &a, const Tensor &b)
{
    Tensor out = Tensor::uninitialized(dtypeOf<T>(), broadcastShapes(ctx, a.shape(), b.shape()));
    if constexpr (std::is_integral_v<T>) {
        if (op == BinOp::Div) {
            const T *pb = b.data<T>();
            for (int64_t i = 0; i < b.numel(); ++i)
                if (pb[i] == 0)
                    ctx.fail("integer division by zero");
        }
    }
    // One instantiation per operator keeps the inner loops free of the switch.
    switch (op) {
    case BinOp::Add: broadcastBinary<T, T, T>(ctx, a, b, out, [](T x, T y) { return T(x + y); }); break;
    case BinOp::Sub: broadcastBinary<T, T, T>(ctx, a, b, out, [](T x, T y) { return T(x - y); }); break;
    case BinOp::Mul: broadcastBinary<T, T, T>(ctx, a, b, out, [](T x, T y) { return T(x * y); }); break;
    case BinOp::Div: broadcastBinary<T, T, T>(ctx, a, b, out, [](T x, T y) { return T(x / y); }); break;
    case BinOp::Min: broadcastBinary<T, T, T>(ctx, a, b, out, [](T x, T y) { return std::min(x, y); }); break;
    case BinOp::Max: broadcastBinary<T, T, T>(ctx, a, b, out, [](T x, T y) { return std::max(x, y); }); break;
    case BinOp::Pow:
        if constexpr (std::is_same_v<T, float>)
            broadcastBinary<T, T, T>(ctx, a, b, out, [](float x, float y) {
                return y == 2.f ? x * x : std::pow(x, y);
            });
        else
            broadcastBinary<T, T, T>(ctx, a, b, out, [](T x, T y) { return applyBin(BinOp::Pow, x, y); });
        break;
    }
    return out;
}

Tensor binary(const OpContext &ctx, BinOp op, const Tensor &a, const Tensor &b)
{
    if (op == BinOp::Pow && a.dtype() == DType::Float32 && b.dtype() != DType::Float32)
        return binaryTyped<float>(ctx, op, a, b.castTo(DType::Float32)); // Pow allows an integer exponent
    if (a.dtype() != b.dtype())
        ctx.fail(std::string("operands have different types ") + dtypeName(a.dtype()) + " and " +
                 dtypeName(b.dtype()));
    switch (a.dtype()) {
    case DType::Float32: return binaryTyped<float>(ctx, op, a, b);
    case DType::Int64: return binaryTyped<int64_t>(ctx, op, a, b);
    case DType::Int32: return binaryTyped<int32_t>(ctx, op, a, b);
    default: ctx.fail(std::string("type ") + dtypeName(a.dtype()) + " is not supported");
    }
}

template <BinOp Op> void binaryOp(OpContext &ctx)
{
    ctx.outputs[0] = binary(ctx, Op, ctx.input(0), ctx.input(1));
}

// Min / Max are variadic.
template <BinOp Op> void variadicOp(OpContext &ctx)
{
    if (ctx.inputs.empty())
        ctx.fail("needs at least one input");
    Tensor acc = ctx.input(0);
    for (int i = 1; i < int(ctx.inputs.size()); ++i)
        acc = binary(ctx, Op, acc, ctx.input(i));
    ctx.outputs[0] = ctx.inputs.size() == 1 ? acc.clone() : acc;
}

enum class CmpOp { Equal, Less, Greater, LessOrEqual, GreaterOrEqual };

template <CmpOp Op> void compareOp(OpContext &ctx)
{
    const Tensor &a = ctx.input(0);
    const Tensor &b = ctx.input(1);
    if (a.dtype() != b.dtype())
        ctx.fail(std::string("operands have different types ") + dtypeName(a.dtype()) + " and " +
                 dtypeName(b.dtype()));
    Tensor out = Tensor::uninitialized(DType::UInt8, broadcastShapes(ctx, a.shape(), b.shape()));
    visitDType(a.dtype(), [&](auto zero) {
        using T = decltype(zero);
        broadcastBinary<T, T, uint8_t>(ctx, a, b, out, [](T x, T y) -> uint8_t {
            switch (Op) {
            case CmpOp::Equal: return x == y;
            case CmpOp::Less: return x < y;
            case CmpOp::Greater: return x > y;
            case CmpOp::LessOrEqual: return x <= y;
            case CmpOp::GreaterOrEqual: return x >= y;
            }
            return 0;
        });
    });
    ctx.outputs[0] = out;
}

// Where(cond, x, y): three-way broadcast. Used in shape subgraphs and masks, so a simple loop suffices.
void whereOp(OpContext &ctx)
{
    const Tensor &cond = ctx.input(0);
    const Tensor &x = ctx.input(1);
    const Tensor &y = ctx.input(2);
    if (cond.dtype() != DType::UInt8 && cond.dtype() != DType::Int8)
        ctx.fail(std::string("condition must be bool, got ") + dtypeName(cond.dtype()));
    if (x.dtype() != y.dtype())
        ctx.fail(std::string("X and Y have different types ") + dtypeName(x.dtype()) + " and " + dtypeName(y.dtype()));
    const Shape outShape = broadcastShapes(ctx, broadcastShapes(ctx, cond.shape(), x.shape()), y.shape());
    Tensor out = Tensor::uninitialized(x.dtype(), outShape);
    const Shape *shapes[3] = {&cond.shape(), &x.shape(), &y.shape()};
    const BroadcastPlan<3> plan = makeBroadcastPlan<3>(outShape, shapes);
    const auto *c = static_cast<const uint8_t *>(cond.rawData());
    const size_t es = dtypeSize(x.dtype());
    const auto *px = static_cast<const unsigned char *>(x.rawData());
    const auto *py = static_cast<const unsigned char *>(y.rawData());
    auto *po = static_cast<unsigned char *>(out.rawData());
    const int64_t inner = plan.inner();
    for (int64_t r = 0; r < plan.outer(); ++r) {
        int64_t off[3];
        plan.offsets(r, off);
        for (int64_t i = 0; i < inner; ++i) {
            const bool pick = c[off[0] + i * plan.strides[0].back()] != 0;
            const unsigned char *src = pick ? px + size_t(off[1] + i * plan.strides[1].back()) * es
                                            : py + size_t(off[2] + i * plan.strides[2].back()) * es;
            std::memcpy(po + size_t(r * inner + i) * es, src, es);
        }
    }
    ctx.outputs[0] = out;
}

// ---- Element-wise unary ----------------------------------------------------------------------------------

template <float (*F)(float)> void unaryOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    requireFloat(ctx, x);
    ctx.outputs[0] = unaryFloat(ctx, x, F);
}

float fSqrt(float v) { return std::sqrt(v); }
float fExp(float v) { return std::exp(v); }
float fLog(float v) { return std::log(v); }
float fErf(float v) { return std::erf(v); }
float fFloor(float v) { return std::floor(v); }
float fCeil(float v) { return std::ceil(v); }
float fReciprocal(float v) { return 1.f / v; }

// Neg and Abs also appear on int64 shape values.
template <bool Abs> void signOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    if (x.dtype() == DType::Float32) {
        ctx.outputs[0] = unaryFloat(ctx, x, [](float v) { return Abs ? std::fabs(v) : -v; });
        return;
    }
    Tensor out = Tensor::uninitialized(x.dtype(), x.shape());
    visitDType(x.dtype(), [&](auto zero) {
        using T = decltype(zero);
        const T *src = x.data<T>();
        T *dst = out.data<T>();
        for (int64_t i = 0; i < x.numel(); ++i)
            dst[i] = Abs ? (src[i] < 0 ? T(-src[i]) : src[i]) : T(-src[i]);
    });
    ctx.outputs[0] = out;
}

} // namespace

void registerMathOps(KernelTable &table)
{
    table["Gemm"] = gemmOp;
    table["MatMul"] = matMulOp;
    table["Add"] = binaryOp<BinOp::Add>;
    table["Sub"] = binaryOp<BinOp::Sub>;
    table["Mul"] = binaryOp<BinOp::Mul>;
    table["Div"] = binaryOp<BinOp::Div>;
    table["Pow"] = binaryOp<BinOp::Pow>;
    table["Min"] = variadicOp<BinOp::Min>;
    table["Max"] = variadicOp<BinOp::Max>;
    table["Equal"] = compareOp<CmpOp::Equal>;
    table["Less"] = compareOp<CmpOp::Less>;
    table["Greater"] = compareOp<CmpOp::Greater>;
    table["LessOrEqual"] = compareOp<CmpOp::LessOrEqual>;
    table["GreaterOrEqual"] = compareOp<CmpOp::GreaterOrEqual>;
    table["Where"] = whereOp;
    table["Sqrt"] = unaryOp<fSqrt>;
    table["Exp"] = unaryOp<fExp>;
    table["Log"] = unaryOp<fLog>;
    table["Erf"] = unaryOp<fErf>;
    table["Floor"] = unaryOp<fFloor>;
    table["Ceil"] = unaryOp<fCeil>;
    table["Reciprocal"] = unaryOp<fReciprocal>;
    table["Neg"] = signOp<false>;
    table["Abs"] = signOp<true>;
}

} // namespace cw
