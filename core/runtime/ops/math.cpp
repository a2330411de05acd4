// Arithmetic, matrix products, comparisons and element-wise functions (reductions: ops/reduce.cpp).
//
//   Gemm:     A [M, K] (or [K, M] with transA), B [K, N] (or [N, K] with transB), C broadcastable to [M, N]
//             → alpha·A'·B' + beta·C  [M, N]
//   MatMul:   numpy matmul: [..., M, K] x [..., K, N] → [broadcast(...), M, N]; a 1-D operand gets a 1 prepended
//             (A) or appended (B) which is removed from the result
//   Add, Sub, Mul, Div, Pow, Min, Max, Equal, Less, Greater, Where: numpy broadcasting; Add/Sub/Mul/Div also
//             run on int32/int64 because exporters compute shapes with them (integer Div truncates as in C)
//   Sqrt, Neg, Abs, Exp, Log, Erf, Floor, Ceil, Reciprocal: element-wise, float (Neg/Abs also int64)
//   Sign:     -1 / 0 / 1 in the input's type (any dtype)
//   Mod:      a, b of one type, numpy broadcasting; fmod = 0 (default) takes the divisor's sign (integers only),
//             fmod = 1 the dividend's (C fmod; required for float); integer modulo by zero is an error
//   Sum, Mean: any number of float inputs, numpy broadcasting
//   Not, And, Or, Xor: bool tensors (uint8, any nonzero byte is true; And/Or/Xor broadcast) → bool (uint8 0/1)
//   Einsum:   equation over float operands: explicit ("ij,jk->ik") or implicit output (labels used once, in
//             alphabetical order, after the ellipsis dimensions); "..." broadcasts like numpy's leading
//             dimensions, a repeated label within a term takes the diagonal, labels missing from the output
//             are summed; any number of operands (contracted pairwise from the left, each pair as gemms)
#include <cmath>
#include <limits>
#include <type_traits>

#include "core/runtime/fusion.h"
#include "core/runtime/kernels.h"
#include "core/runtime/ops/common.h"
#include "core/runtime/sparse.h"

namespace cw {
namespace {

using namespace ops;

// ---- Gemm / MatMul ---------------------------------------------------------------------------------------

// y[M, N] (+)= alpha · A[M, K] · W on the sparse form the Session keeps of the node's constant weight W
// (runtime/sparse.h), where it has one for these sizes and a sparse kernel wins at M rows. False otherwise.
bool sparseProduct(const OpContext &ctx, int64_t M, int64_t N, int64_t K, const float *a, float alpha, bool accumulate,
                   float *y)
{
    if (!ctx.sparse || ctx.sparse->rows != N || ctx.sparse->cols != K)
        return false;
    switch (sparse::gemmPath(*ctx.sparse, M)) {
    case sparse::GemmPath::Blocks: sparse::gemmBlocks(*ctx.sparse, M, a, alpha, accumulate, y, ctx.threads); return true;
    case sparse::GemmPath::Csr: sparse::gemm(*ctx.sparse, M, a, alpha, accumulate, y, ctx.threads); return true;
    case sparse::GemmPath::Dense: return false;
    }
    return false;
}

void gemmOp(OpContext &ctx)
{
    const Tensor &a = ctx.input(0);
    const Tensor &b = ctx.input(1);
    requireFloat(ctx, a, "A");
    requireFloat(ctx, b, "B");
    if (a.rank() != 2 || b.rank() != 2)
        ctx.fail("A and B must be 2-D, got " + shapeToString(a.shape()) + " and " + shapeToString(b.shape()));
    struct Parsed { // what prepared() keeps of the node
        bool transA, transB;
        float alpha, beta;
        std::vector<Activation> activations; // runtime/fusion.h
    };
    const Parsed &p = ctx.prepared<Parsed>([&] {
        return Parsed{ctx.node.attrInt("transA", 0) != 0, ctx.node.attrInt("transB", 0) != 0,
                      ctx.node.attrFloat("alpha", 1.f), ctx.node.attrFloat("beta", 1.f), fusedActivations(ctx.node)};
    });
    const bool transA = p.transA, transB = p.transB;
    const float alpha = p.alpha, beta = p.beta;
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
    // A pruned constant B runs on its CSR or block form (runtime/sparse.h).
    if (transA || !sparseProduct(ctx, M, N, K, a.f32(), alpha, gemmBeta != 0.f, y))
        parallelGemm(ctx.threads, transA, transB, M, N, K, alpha, a.f32(), a.dim(1), b.f32(), b.dim(1), gemmBeta, y, N);
    applyActivations(p.activations, y, M * N);
    ctx.outputs[0] = std::move(out);
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
    const std::vector<Activation> &activations = // runtime/fusion.h
        ctx.prepared<std::vector<Activation>>([&] { return fusedActivations(ctx.node); });
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
        // B is shared by every batch entry and A's rows are contiguous: one [batch*M, K] x [K, N] product, on the
        // sparse form of a pruned constant B as for a Gemm.
        if (shapeNumel(aBatch) == batchCount) {
            if (bVec || !sparseProduct(ctx, batchCount * M, N, K, a.f32(), 1.f, false, out.f32()))
                parallelGemm(ctx.threads, false, false, batchCount * M, N, K, 1.f, a.f32(), K, b.f32(), N, 0.f, out.f32(),
                             N);
            applyActivations(activations, out.f32(), out.numel());
            ctx.outputs[0] = std::move(out);
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
    applyActivations(activations, out.f32(), out.numel());
    ctx.outputs[0] = std::move(out);
}

// ---- Element-wise binary ---------------------------------------------------------------------------------

enum class BinOp { Add, Sub, Mul, Div, Pow, Min, Max };

// An integer power by squaring, wrapping like the other integer operators; a negative exponent truncates
// 1 / x^-y towards zero.
template <typename T> T intPow(T x, T y)
{
    if (y < 0)
        return x == 1 ? T(1) : x == T(-1) ? T((y & 1) ? -1 : 1) : T(0);
    T result = 1;
    for (; y > 0; y = T(y >> 1)) {
        if (y & 1)
            result = wrapMul(result, x);
        x = wrapMul(x, x);
    }
    return result;
}

template <typename T> T applyBin(BinOp op, T x, T y)
{
    switch (op) {
    case BinOp::Add: return wrapAdd(x, y);
    case BinOp::Sub: return wrapSub(x, y);
    case BinOp::Mul: return wrapMul(x, y);
    case BinOp::Div: return wrapDiv(x, y);
    case BinOp::Pow:
        if constexpr (std::is_integral_v<T>)
            return intPow(x, y);
        else
            return T(std::pow(double(x), double(y)));
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
    case BinOp::Add: broadcastBinary<T, T, T>(ctx, a, b, out, [](T x, T y) { return wrapAdd(x, y); }); break;
    case BinOp::Sub: broadcastBinary<T, T, T>(ctx, a, b, out, [](T x, T y) { return wrapSub(x, y); }); break;
    case BinOp::Mul: broadcastBinary<T, T, T>(ctx, a, b, out, [](T x, T y) { return wrapMul(x, y); }); break;
    case BinOp::Div: broadcastBinary<T, T, T>(ctx, a, b, out, [](T x, T y) { return wrapDiv(x, y); }); break;
    case BinOp::Min: broadcastBinary<T, T, T>(ctx, a, b, out, [](T x, T y) { return std::min(x, y); }); break;
    case BinOp::Max: broadcastBinary<T, T, T>(ctx, a, b, out, [](T x, T y) { return std::max(x, y); }); break;
    case BinOp::Pow:
        if constexpr (std::is_same_v<T, float>) {
            if (b.numel() == 1 && b.f32()[0] == 2.f) // a square (a power spectrum): a loop that vectorises
                broadcastBinary<T, T, T>(ctx, a, b, out, [](float x, float) { return x * x; });
            else
                broadcastBinary<T, T, T>(ctx, a, b, out, [](float x, float y) {
                    return y == 2.f ? x * x : std::pow(x, y);
                });
        }
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

// Sum / Mean: element-wise over any number of float inputs, numpy broadcasting.
template <bool Mean> void sumOp(OpContext &ctx)
{
    if (ctx.inputs.empty())
        ctx.fail("needs at least one input");
    for (int i = 0; i < int(ctx.inputs.size()); ++i)
        requireFloat(ctx, ctx.input(i), ("input " + str(i)).c_str());
    Tensor acc = ctx.input(0);
    for (int i = 1; i < int(ctx.inputs.size()); ++i)
        acc = binary(ctx, BinOp::Add, acc, ctx.input(i));
    if (Mean && ctx.inputs.size() > 1) {
        const float n = float(ctx.inputs.size());
        float *p = acc.f32(); // acc is a fresh tensor here
        for (int64_t i = 0; i < acc.numel(); ++i)
            p[i] /= n;
    }
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
    ctx.outputs[0] = std::move(out);
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
    ctx.outputs[0] = std::move(out);
}

// ---- Logical ------------------------------------------------------------------------------------------------

const Tensor &boolInput(const OpContext &ctx, int index)
{
    const Tensor &t = ctx.input(index);
    if (t.dtype() != DType::UInt8)
        ctx.fail("input " + str(index) + " must be bool (stored as uint8), got " + dtypeName(t.dtype()));
    return t;
}

void notOp(OpContext &ctx)
{
    const Tensor &x = boolInput(ctx, 0);
    Tensor out = Tensor::uninitialized(DType::UInt8, x.shape());
    const uint8_t *src = x.data<uint8_t>();
    uint8_t *dst = out.data<uint8_t>();
    for (int64_t i = 0; i < x.numel(); ++i)
        dst[i] = src[i] == 0;
    ctx.outputs[0] = std::move(out);
}

enum class LogicOp { And, Or, Xor };

// Any nonzero byte reads as true; results are 0 / 1.
template <LogicOp Op> void logicOp(OpContext &ctx)
{
    const Tensor &a = boolInput(ctx, 0);
    const Tensor &b = boolInput(ctx, 1);
    Tensor out = Tensor::uninitialized(DType::UInt8, broadcastShapes(ctx, a.shape(), b.shape()));
    broadcastBinary<uint8_t, uint8_t, uint8_t>(ctx, a, b, out, [](uint8_t x, uint8_t y) -> uint8_t {
        const bool p = x != 0, q = y != 0;
        return Op == LogicOp::And ? (p && q) : Op == LogicOp::Or ? (p || q) : (p != q);
    });
    ctx.outputs[0] = std::move(out);
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
// An element-wise function in the input's own type: float32 through unaryFloat's parallel loop (f), every
// other type through a plain loop (g, called with a value of that type).
template <typename FloatFn, typename AnyFn> void unaryAnyType(OpContext &ctx, FloatFn f, AnyFn g)
{
    const Tensor &x = ctx.input(0);
    if (x.dtype() == DType::Float32) {
        ctx.outputs[0] = unaryFloat(ctx, x, f);
        return;
    }
    Tensor out = Tensor::uninitialized(x.dtype(), x.shape());
    visitDType(x.dtype(), [&](auto zero) {
        using T = decltype(zero);
        const T *src = x.data<T>();
        T *dst = out.data<T>();
        for (int64_t i = 0; i < x.numel(); ++i)
            dst[i] = T(g(src[i]));
    });
    ctx.outputs[0] = std::move(out);
}

template <bool Abs> void signOp(OpContext &ctx)
{
    unaryAnyType(ctx, [](float v) { return Abs ? std::fabs(v) : -v; },
                 [](auto v) -> decltype(v) { return Abs && v >= 0 ? v : wrapNeg(v); });
}

// Sign: -1, 0 or 1 in the input's type (NaN stays NaN).
void signumOp(OpContext &ctx)
{
    unaryAnyType(ctx, [](float v) { return v > 0.f ? 1.f : v < 0.f ? -1.f : v; },
                 [](auto v) -> decltype(v) { return v > 0 ? 1 : v < 0 ? -1 : 0; });
}

// Mod: fmod = 0 takes the divisor's sign (Python's %, integers only), fmod = 1 the dividend's (C's fmod).
void modOp(OpContext &ctx)
{
    const Tensor &a = ctx.input(0);
    const Tensor &b = ctx.input(1);
    const bool cStyle = ctx.node.attrInt("fmod", 0) != 0;
    if (a.dtype() != b.dtype())
        ctx.fail(std::string("operands have different types ") + dtypeName(a.dtype()) + " and " + dtypeName(b.dtype()));
    if (a.dtype() == DType::Float32 && !cStyle)
        ctx.fail("fmod must be 1 for float inputs");
    Tensor out = Tensor::uninitialized(a.dtype(), broadcastShapes(ctx, a.shape(), b.shape()));
    visitDType(a.dtype(), [&](auto zero) {
        using T = decltype(zero);
        if constexpr (std::is_same_v<T, float>) {
            broadcastBinary<float, float, float>(ctx, a, b, out, [](float x, float y) { return std::fmod(x, y); });
        } else {
            const T *pb = b.data<T>();
            for (int64_t i = 0; i < b.numel(); ++i)
                if (pb[i] == 0)
                    ctx.fail("integer modulo by zero");
            if (cStyle)
                broadcastBinary<T, T, T>(ctx, a, b, out, [](T x, T y) { return wrapRem(x, y); });
            else
                broadcastBinary<T, T, T>(ctx, a, b, out, [](T x, T y) {
                    const T r = wrapRem(x, y);
                    return r != 0 && ((r < 0) != (y < 0)) ? T(r + y) : r;
                });
        }
    });
    ctx.outputs[0] = std::move(out);
}


// ---- Einsum ---------------------------------------------------------------------------------------------------
//
// Labels: 'a'-'z' are 0-25, 'A'-'Z' 26-51, the dimensions an ellipsis stands for 52... (right-aligned across
// operands, so they broadcast like numpy's leading dimensions). An operand is described by its distinct labels
// and one element stride per label: the strides of a repeated label add up (a diagonal), a dimension of size
// 1 that broadcasts gets stride 0. Operands are contracted pairwise from the left; each pairwise product is
// rearranged into [batch, kept, contracted] x [batch, contracted, kept] and runs as one gemm per batch entry.

constexpr int kEllipsisLabel = 52;

struct EinsumTerm {
    std::vector<int> labels; // expanded: one per dimension
    int ellipsisAt = -1;     // position of "..." among the letters, -1 when absent
    int letters = 0;
};

struct EinsumOperand {
    std::vector<int> labels;      // distinct
    std::vector<int64_t> strides; // per distinct label
    const float *data = nullptr;
    std::vector<float> owned; // intermediate results own their data
};

EinsumTerm parseEinsumTerm(const OpContext &ctx, const std::string &term)
{
    EinsumTerm t;
    for (size_t i = 0; i < term.size(); ++i) {
        const char c = term[i];
        if (c >= 'a' && c <= 'z') {
            t.labels.push_back(c - 'a');
        } else if (c >= 'A' && c <= 'Z') {
            t.labels.push_back(26 + (c - 'A'));
        } else if (c == '.' && term.compare(i, 3, "...") == 0 && t.ellipsisAt < 0) {
            t.ellipsisAt = int(t.labels.size());
            i += 2;
        } else {
            ctx.fail("equation term '" + term + "' has an unexpected character '" + std::string(1, c) + "'");
        }
    }
    t.letters = int(t.labels.size());
    return t;
}

// Contiguous copy of `op` laid out by `order` (a subset of op's labels), summed over op's other labels.
std::vector<float> einsumArrange(const EinsumOperand &op, const std::vector<int> &order, const std::vector<int64_t> &size)
{
    const size_t n = op.labels.size();
    std::vector<int64_t> dstStride(n, 0);
    int64_t total = 1;
    for (size_t j = order.size(); j-- > 0;) {
        const size_t pos = size_t(std::find(op.labels.begin(), op.labels.end(), order[j]) - op.labels.begin());
        dstStride[pos] = total;
        total *= size[size_t(order[j])];
    }
    std::vector<float> dst(size_t(total), 0.f);
    int64_t count = 1;
    for (int l : op.labels)
        count *= size[size_t(l)];
    std::vector<int64_t> idx(n, 0);
    int64_t s = 0, d = 0;
    for (int64_t i = 0; i < count; ++i) {
        dst[size_t(d)] += op.data[s];
        for (size_t j = n; j-- > 0;) {
            const int64_t len = size[size_t(op.labels[j])];
            if (++idx[j] < len) {
                s += op.strides[j];
                d += dstStride[j];
                break;
            }
            s -= (len - 1) * op.strides[j];
            d -= (len - 1) * dstStride[j];
            idx[j] = 0;
        }
    }
    return dst;
}

EinsumOperand einsumContiguous(std::vector<int> labels, std::vector<float> data, const std::vector<int64_t> &size)
{
    EinsumOperand r;
    r.labels = std::move(labels);
    r.strides.assign(r.labels.size(), 1);
    for (size_t j = r.labels.size(); j-- > 1;)
        r.strides[j - 1] = r.strides[j] * size[size_t(r.labels[j])];
    r.owned = std::move(data);
    r.data = r.owned.data();
    return r;
}

// a x b, keeping the labels in `keep` (those later operands or the output still need).
EinsumOperand einsumContract(const OpContext &ctx, const EinsumOperand &a, const EinsumOperand &b, const std::vector<bool> &keep,
                             const std::vector<int64_t> &size)
{
    auto has = [](const EinsumOperand &op, int l) { return std::find(op.labels.begin(), op.labels.end(), l) != op.labels.end(); };
    std::vector<int> batch, contracted, aKept, bKept;
    for (int l : a.labels) {
        if (has(b, l))
            (keep[size_t(l)] ? batch : contracted).push_back(l);
        else if (keep[size_t(l)])
            aKept.push_back(l);
    }
    for (int l : b.labels)
        if (!has(a, l) && keep[size_t(l)])
            bKept.push_back(l);
    auto product = [&](const std::vector<int> &labels) {
        int64_t p = 1;
        for (int l : labels)
            p *= size[size_t(l)];
        return p;
    };
    const int64_t nb = product(batch), M = product(aKept), K = product(contracted), N = product(bKept);
    std::vector<int> aOrder = batch, bOrder = batch;
    aOrder.insert(aOrder.end(), aKept.begin(), aKept.end());
    aOrder.insert(aOrder.end(), contracted.begin(), contracted.end());
    bOrder.insert(bOrder.end(), contracted.begin(), contracted.end());
    bOrder.insert(bOrder.end(), bKept.begin(), bKept.end());
    const std::vector<float> A = einsumArrange(a, aOrder, size), B = einsumArrange(b, bOrder, size);
    std::vector<float> C(size_t(nb * M * N), 0.f);
    if (K > 0 && M > 0 && N > 0)
        for (int64_t i = 0; i < nb; ++i)
            parallelGemm(ctx.threads, false, false, M, N, K, 1.f, A.data() + i * M * K, K, B.data() + i * K * N, N, 0.f,
                         C.data() + i * M * N, N);
    std::vector<int> labels = batch;
    labels.insert(labels.end(), aKept.begin(), aKept.end());
    labels.insert(labels.end(), bKept.begin(), bKept.end());
    return einsumContiguous(std::move(labels), std::move(C), size);
}

void einsumOp(OpContext &ctx)
{
    std::string equation;
    for (char c : ctx.node.attrString("equation", ""))
        if (c != ' ')
            equation += c;
    if (equation.empty())
        ctx.fail("the equation attribute is missing");
    const size_t arrow = equation.find("->");
    const std::string lhs = equation.substr(0, arrow);
    std::vector<EinsumTerm> terms;
    for (size_t start = 0;;) {
        const size_t comma = lhs.find(',', start);
        terms.push_back(parseEinsumTerm(ctx, lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
        if (comma == std::string::npos)
            break;
        start = comma + 1;
    }
    const int n = int(ctx.inputs.size());
    if (int(terms.size()) != n)
        ctx.fail("the equation has " + str(int64_t(terms.size())) + " input terms for " + str(n) + " inputs");
    // Expand the ellipses, right-aligned to the longest.
    int ellipsisRank = 0;
    for (int k = 0; k < n; ++k) {
        const Tensor &x = ctx.input(k);
        requireFloat(ctx, x, ("input " + str(k)).c_str());
        EinsumTerm &t = terms[size_t(k)];
        const int extra = x.rank() - t.letters;
        if (extra < 0 || (extra > 0 && t.ellipsisAt < 0))
            ctx.fail("input " + str(k) + " has rank " + str(x.rank()) + ", its equation term has " + str(t.letters) +
                     " labels");
        ellipsisRank = std::max(ellipsisRank, extra);
    }
    for (int k = 0; k < n; ++k) {
        EinsumTerm &t = terms[size_t(k)];
        if (t.ellipsisAt < 0)
            continue;
        const int extra = ctx.input(k).rank() - t.letters;
        std::vector<int> dims;
        for (int j = 0; j < extra; ++j)
            dims.push_back(kEllipsisLabel + ellipsisRank - extra + j);
        t.labels.insert(t.labels.begin() + t.ellipsisAt, dims.begin(), dims.end());
    }
    const int labelCount = kEllipsisLabel + ellipsisRank;
    std::vector<int> uses(size_t(labelCount), 0);
    for (const EinsumTerm &t : terms)
        for (int l : t.labels)
            ++uses[size_t(l)];
    std::vector<int> output;
    if (arrow == std::string::npos) {
        // Implicit output: the ellipsis dimensions, then the labels used once, in label order.
        for (int l = kEllipsisLabel; l < labelCount; ++l)
            output.push_back(l);
        for (int l = 0; l < kEllipsisLabel; ++l)
            if (uses[size_t(l)] == 1)
                output.push_back(l);
    } else {
        const EinsumTerm t = parseEinsumTerm(ctx, equation.substr(arrow + 2));
        output = t.labels;
        if (t.ellipsisAt >= 0)
            for (int j = 0; j < ellipsisRank; ++j)
                output.insert(output.begin() + t.ellipsisAt + j, kEllipsisLabel + j);
        for (size_t i = 0; i < output.size(); ++i) {
            if (uses[size_t(output[i])] == 0)
                ctx.fail("output label " + str(i) + " of the equation appears in no input");
            if (std::find(output.begin(), output.begin() + long(i), output[i]) != output.begin() + long(i))
                ctx.fail("the equation's output repeats a label");
        }
    }
    // Label sizes (equal, or 1 to broadcast) and each operand's strides.
    std::vector<int64_t> size(size_t(labelCount), 1);
    for (int k = 0; k < n; ++k)
        for (size_t d = 0; d < terms[size_t(k)].labels.size(); ++d) {
            int64_t &s = size[size_t(terms[size_t(k)].labels[d])];
            const int64_t dim = ctx.input(k).dim(int(d));
            if (s == 1)
                s = dim;
            else if (dim != 1 && dim != s)
                ctx.fail("a label has sizes " + str(s) + " and " + str(dim) + " in different dimensions");
        }
    std::vector<EinsumOperand> operands(static_cast<size_t>(n));
    for (int k = 0; k < n; ++k) {
        const Tensor &x = ctx.input(k);
        const std::vector<int64_t> strides = stridesOf(x.shape());
        EinsumOperand &op = operands[size_t(k)];
        op.data = x.f32();
        std::vector<int64_t> dims; // per distinct label
        for (size_t d = 0; d < terms[size_t(k)].labels.size(); ++d) {
            const int l = terms[size_t(k)].labels[d];
            const int64_t stride = x.dim(int(d)) == 1 ? 0 : strides[d];
            auto it = std::find(op.labels.begin(), op.labels.end(), l);
            if (it == op.labels.end()) {
                op.labels.push_back(l);
                op.strides.push_back(stride);
                dims.push_back(x.dim(int(d)));
            } else {
                const size_t j = size_t(it - op.labels.begin());
                if (dims[j] != x.dim(int(d)))
                    ctx.fail("a label repeated in input " + str(k) + " has sizes " + str(dims[j]) + " and " +
                             str(x.dim(int(d))));
                op.strides[j] += stride;
            }
        }
    }
    EinsumOperand acc = std::move(operands[0]);
    for (int k = 1; k < n; ++k) {
        std::vector<bool> keep(size_t(labelCount), false);
        for (int l : output)
            keep[size_t(l)] = true;
        for (int j = k + 1; j < n; ++j)
            for (int l : operands[size_t(j)].labels)
                keep[size_t(l)] = true;
        acc = einsumContract(ctx, acc, operands[size_t(k)], keep, size);
    }
    Shape outShape;
    for (int l : output)
        outShape.push_back(size[size_t(l)]);
    const std::vector<float> values = einsumArrange(acc, output, size);
    Tensor out = Tensor::uninitialized(DType::Float32, outShape);
    std::copy(values.begin(), values.end(), out.f32());
    ctx.outputs[0] = std::move(out);
}

} // namespace

void registerMathOps(KernelTable &table)
{
    table["Gemm"] = {gemmOp, {9, 11, 13}};
    table["MatMul"] = {matMulOp, {9, 13}};
    table["Add"] = {binaryOp<BinOp::Add>, {7, 13, 14}};
    table["Sub"] = {binaryOp<BinOp::Sub>, {7, 13, 14}};
    table["Mul"] = {binaryOp<BinOp::Mul>, {7, 13, 14}};
    table["Div"] = {binaryOp<BinOp::Div>, {7, 13, 14}};
    table["Pow"] = {binaryOp<BinOp::Pow>, {7, 12, 13, 15}};
    table["Min"] = {variadicOp<BinOp::Min>, {8, 12, 13}};
    table["Max"] = {variadicOp<BinOp::Max>, {8, 12, 13}};
    table["Equal"] = {compareOp<CmpOp::Equal>, {7, 11, 13, 19}};
    table["Less"] = {compareOp<CmpOp::Less>, {9, 13}};
    table["Greater"] = {compareOp<CmpOp::Greater>, {9, 13}};
    table["LessOrEqual"] = {compareOp<CmpOp::LessOrEqual>, {12, 16}};
    table["GreaterOrEqual"] = {compareOp<CmpOp::GreaterOrEqual>, {12, 16}};
    table["Where"] = {whereOp, {9, 16}};
    table["Sqrt"] = {unaryOp<fSqrt>, {6, 13}};
    table["Exp"] = {unaryOp<fExp>, {6, 13}};
    table["Log"] = {unaryOp<fLog>, {6, 13}};
    table["Erf"] = {unaryOp<fErf>, {9, 13}};
    table["Floor"] = {unaryOp<fFloor>, {6, 13}};
    table["Ceil"] = {unaryOp<fCeil>, {6, 13}};
    table["Reciprocal"] = {unaryOp<fReciprocal>, {6, 13}};
    table["Neg"] = {signOp<false>, {6, 13}};
    table["Abs"] = {signOp<true>, {6, 13}};
    table["Sign"] = {signumOp, {9, 13}};
    table["Mod"] = {modOp, {10, 13}};
    table["Sum"] = {sumOp<false>, {8, 13}};
    table["Mean"] = {sumOp<true>, {8, 13}};
    table["Not"] = {notOp, {1}};
    table["And"] = {logicOp<LogicOp::And>, {7}};
    table["Or"] = {logicOp<LogicOp::Or>, {7}};
    table["Xor"] = {logicOp<LogicOp::Xor>, {7}};
    table["Einsum"] = {einsumOp, {12}};
}

} // namespace cw
