// Helpers shared by the forward kernels in core/ops/ (not a public header): axis normalisation, numpy
// broadcasting plans, element-wise loops with a size threshold for OpenMP, and reading optional
// shape-like inputs that moved from attributes to inputs across opsets.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "core/base/error.h"
#include "core/base/parallel.h"
#include "core/base/tensor.h"
#include "core/runtime/kernels.h"
#include "core/runtime/ops.h"

namespace cw::ops {

// Below this many elements an element-wise loop stays on one thread: waking the OpenMP team costs more
// than the loop on the small tensors of a batch-1 CNN.
inline constexpr int64_t kParallelThreshold = 1 << 16;

inline int threadsFor(const OpContext &ctx, int64_t work)
{
    return work >= kParallelThreshold && ctx.threads > 1 ? ctx.threads : 1;
}

// Integer arithmetic wraps around in two's complement, as the machine's (and onnxruntime's) does, where C++
// leaves signed overflow undefined: a model's int64 constants may sum or multiply past the range. Computed
// in uint64 and truncated, which is exact modulo 2^bits for every integer type; floats compute as usual.
template <typename T> T wrapAdd(T a, T b)
{
    if constexpr (std::is_integral_v<T>)
        return T(uint64_t(a) + uint64_t(b));
    else
        return a + b;
}
template <typename T> T wrapSub(T a, T b)
{
    if constexpr (std::is_integral_v<T>)
        return T(uint64_t(a) - uint64_t(b));
    else
        return a - b;
}
template <typename T> T wrapMul(T a, T b)
{
    if constexpr (std::is_integral_v<T>)
        return T(uint64_t(a) * uint64_t(b));
    else
        return a * b;
}
template <typename T> T wrapNeg(T a)
{
    return wrapSub(T(0), a);
}
// Integer division and remainder (b != 0, checked by the caller): the lowest value over -1 wraps to itself.
template <typename T> T wrapDiv(T a, T b)
{
    if constexpr (std::is_integral_v<T> && std::is_signed_v<T>)
        if (b == -1)
            return wrapNeg(a);
    return T(a / b);
}
template <typename T> T wrapRem(T a, T b)
{
    if constexpr (std::is_integral_v<T> && std::is_signed_v<T>)
        if (b == -1)
            return T(0);
    return T(a % b);
}

// Caps the OpenMP team that cw::gemm (oneDNN's sgemm, or Eigen) may use to `threads` for the scope's
// lifetime. Both size their team from omp_get_max_threads(), a per-thread setting, so this affects only the
// calling thread and is restored on exit.
class GemmThreads {
public:
    explicit GemmThreads(int threads) : m_previous(omp_get_max_threads()) { omp_set_num_threads(std::max(1, threads)); }
    ~GemmThreads() { omp_set_num_threads(m_previous); }
    GemmThreads(const GemmThreads &) = delete;
    GemmThreads &operator=(const GemmThreads &) = delete;

private:
    int m_previous;
};

// gemm() with the work split across `threads` by the kernel itself: bands of columns (or rows), each a
// single-threaded gemm, claimed through cw::parallelFor. A library's own parallel gemm synchronises its
// threads at barriers, which collapses when the machine is oversubscribed (a busy GUI, several jobs): a
// batch-64 dense layer ran 20x slower on two threads than on one. Small products (under ~2M
// multiply-adds) stay on the calling thread.
inline void parallelGemm(int threads, bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                         const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    GemmThreads single(1);
    const int t = threads > 1 && double(M) * double(N) * double(K) >= double(1 << 21) ? threads : 1;
    if (t == 1) {
        gemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    const bool splitColumns = N >= M;
    const int64_t total = splitColumns ? N : M;
    // Two bands per thread, multiples of 16 so the gemm kernels' vector blocks stay whole.
    const int64_t bands = int64_t(t) * 2;
    const int64_t chunk = ((total + bands - 1) / bands + 15) / 16 * 16;
    const int64_t count = (total + chunk - 1) / chunk;
    parallelFor(t, count, [&](int64_t band) {
        GemmThreads inner(1); // helper threads have their own OpenMP setting
        const int64_t begin = band * chunk;
        const int64_t len = std::min(chunk, total - begin);
        if (splitColumns)
            gemm(transA, transB, M, len, K, alpha, A, lda, transB ? B + begin * ldb : B + begin, ldb, beta, C + begin,
                 ldc);
        else
            gemm(transA, transB, len, N, K, alpha, transA ? A + begin : A + begin * lda, lda, B, ldb, beta,
                 C + begin * ldc, ldc);
    });
}

// The ONNX opset the node was imported from. The ONNX importer stores it as an int attribute "_opset" on
// every node because a few operators (Softmax, Resize) changed meaning between opsets without changing
// their attributes. Nodes built by hand (tests, demo models) have none and get `fallback`.
inline int64_t nodeOpset(const Node &node, int64_t fallback = 13)
{
    return node.attrInt("_opset", fallback);
}

inline std::string str(int64_t v)
{
    return std::to_string(v);
}

// Maps axis in [-rank, rank) to [0, rank); fails otherwise.
inline int normalizeAxis(const OpContext &ctx, int64_t axis, int64_t rank, const char *what = "axis")
{
    if (axis < -rank || axis >= rank)
        ctx.fail(std::string(what) + " " + str(axis) + " is out of range for rank " + str(rank));
    return int(axis < 0 ? axis + rank : axis);
}

// Normalised, sorted, de-duplicated axes; duplicates are an error as in ONNX.
inline std::vector<int> normalizeAxes(const OpContext &ctx, const std::vector<int64_t> &axes, int64_t rank)
{
    std::vector<int> out;
    out.reserve(axes.size());
    for (int64_t a : axes)
        out.push_back(normalizeAxis(ctx, a, rank));
    std::sort(out.begin(), out.end());
    if (std::adjacent_find(out.begin(), out.end()) != out.end())
        ctx.fail("axes contain a duplicate");
    return out;
}

inline void requireDType(const OpContext &ctx, const Tensor &t, DType type, const char *what)
{
    if (t.dtype() != type)
        ctx.fail(std::string(what) + " must be " + dtypeName(type) + ", got " + dtypeName(t.dtype()));
}

inline void requireFloat(const OpContext &ctx, const Tensor &t, const char *what = "input")
{
    requireDType(ctx, t, DType::Float32, what);
}

inline bool isIntegerType(DType t)
{
    return !isFloatType(t);
}

// Values of an optional integer input (ONNX moved many attributes to inputs): empty when not given.
inline std::vector<int64_t> intsInput(const OpContext &ctx, int index, const char *what)
{
    if (!ctx.hasInput(index))
        return {};
    const Tensor &t = *ctx.inputs[size_t(index)];
    if (t.dtype() != DType::Int64 && t.dtype() != DType::Int32)
        ctx.fail(std::string(what) + " must be an int64 tensor, got " + dtypeName(t.dtype()));
    if (t.rank() > 1)
        ctx.fail(std::string(what) + " must be 1-D, got " + shapeToString(t.shape()));
    return t.toInt64Vector();
}

// Attribute form (older opsets) or input form (newer) of the same parameter; the input wins if both exist.
inline bool intsAttrOrInput(const OpContext &ctx, const char *attr, int index, std::vector<int64_t> *out)
{
    if (ctx.hasInput(index)) {
        *out = intsInput(ctx, index, attr);
        return true;
    }
    if (ctx.node.hasAttr(attr)) {
        *out = ctx.node.attrInts(attr);
        return true;
    }
    return false;
}

// Row-major strides (in elements).
inline std::vector<int64_t> stridesOf(const Shape &shape)
{
    std::vector<int64_t> s(shape.size(), 1);
    for (int i = int(shape.size()) - 2; i >= 0; --i)
        s[size_t(i)] = s[size_t(i) + 1] * shape[size_t(i) + 1];
    return s;
}

// Multidirectional (numpy) broadcast of two shapes; fails with both shapes in the message.
inline Shape broadcastShapes(const OpContext &ctx, const Shape &a, const Shape &b)
{
    const size_t rank = std::max(a.size(), b.size());
    Shape out(rank);
    for (size_t i = 0; i < rank; ++i) {
        const int64_t da = i + a.size() >= rank ? a[i + a.size() - rank] : 1;
        const int64_t db = i + b.size() >= rank ? b[i + b.size() - rank] : 1;
        if (da != db && da != 1 && db != 1)
            ctx.fail("shapes " + shapeToString(a) + " and " + shapeToString(b) + " cannot be broadcast");
        out[i] = da == 1 ? db : da;
    }
    return out;
}

// Element strides of `in` when read as the broadcast shape `out` (0 along broadcast dimensions).
inline std::vector<int64_t> broadcastStrides(const Shape &in, const Shape &out)
{
    std::vector<int64_t> s(out.size(), 0);
    const std::vector<int64_t> own = stridesOf(in);
    const size_t lead = out.size() - in.size();
    for (size_t i = 0; i < in.size(); ++i)
        s[lead + i] = in[i] == 1 ? 0 : own[i];
    return s;
}

// A broadcast of K operands collapsed to as few dimensions as possible: adjacent dimensions merge when
// every operand walks them contiguously (or not at all), so [N,C,H,W] + [1,C,1,1] becomes [N, C, H*W]
// and equal shapes become one flat loop. The innermost stride of each operand is then 0 or 1.
template <int K> struct BroadcastPlan {
    Shape outShape;                // the full broadcast shape
    std::vector<int64_t> dims;     // collapsed dims (at least one)
    std::vector<int64_t> strides[K];
    int64_t inner() const { return dims.back(); }
    int64_t outer() const { return shapeNumel(outShape) / std::max<int64_t>(1, dims.back()); }
    // Element offsets of each operand at the start of outer row `row`.
    void offsets(int64_t row, int64_t *off) const
    {
        for (int k = 0; k < K; ++k)
            off[k] = 0;
        for (int d = int(dims.size()) - 2; d >= 0 && row > 0; --d) {
            const int64_t i = row % dims[size_t(d)];
            row /= dims[size_t(d)];
            for (int k = 0; k < K; ++k)
                off[k] += i * strides[k][size_t(d)];
        }
    }
};

template <int K> BroadcastPlan<K> makeBroadcastPlan(const Shape &out, const Shape *const in[K])
{
    BroadcastPlan<K> p;
    p.outShape = out;
    std::vector<int64_t> full[K];
    for (int k = 0; k < K; ++k)
        full[k] = broadcastStrides(*in[k], out);
    for (size_t d = 0; d < out.size(); ++d) {
        if (out[d] == 1)
            continue;
        bool merge = !p.dims.empty();
        for (int k = 0; k < K && merge; ++k)
            merge = p.strides[k].back() == full[k][d] * out[d];
        if (merge) {
            p.dims.back() *= out[d];
            for (int k = 0; k < K; ++k)
                p.strides[k].back() = full[k][d];
        } else {
            p.dims.push_back(out[d]);
            for (int k = 0; k < K; ++k)
                p.strides[k].push_back(full[k][d]);
        }
    }
    if (p.dims.empty()) {
        p.dims.push_back(1);
        for (int k = 0; k < K; ++k)
            p.strides[k].push_back(0);
    }
    return p;
}

// out[i] = f(a[i], b[i]) under numpy broadcasting.
template <typename TA, typename TB, typename TO, typename F>
void broadcastBinary(const OpContext &ctx, const Tensor &a, const Tensor &b, Tensor &out, F f)
{
    const Shape *shapes[2] = {&a.shape(), &b.shape()};
    const BroadcastPlan<2> plan = makeBroadcastPlan<2>(out.shape(), shapes);
    const TA *pa = a.data<TA>();
    const TB *pb = b.data<TB>();
    TO *po = out.data<TO>();
    const int64_t inner = plan.inner();
    const int64_t outer = plan.outer();
    const int64_t sa = plan.strides[0].back(), sb = plan.strides[1].back();
    auto row = [&](int64_t r) {
        int64_t off[2];
        plan.offsets(r, off);
        const TA *x = pa + off[0];
        const TB *y = pb + off[1];
        TO *z = po + r * inner;
        if (sa == 1 && sb == 1)
            for (int64_t i = 0; i < inner; ++i)
                z[i] = f(x[i], y[i]);
        else if (sa == 1)
            for (int64_t i = 0; i < inner; ++i)
                z[i] = f(x[i], y[0]);
        else if (sb == 1)
            for (int64_t i = 0; i < inner; ++i)
                z[i] = f(x[0], y[i]);
        else
            for (int64_t i = 0; i < inner; ++i)
                z[i] = f(x[0], y[0]);
    };
    const int threads = threadsFor(ctx, out.numel());
    if (threads > 1 && outer >= threads) {
        parallelRanges(threads, outer, 1, [&](int64_t rBegin, int64_t rEnd) {
            for (int64_t r = rBegin; r < rEnd; ++r)
                row(r);
        });
    } else if (threads > 1) {
        // Few long rows: split each row into chunks instead.
        for (int64_t r = 0; r < outer; ++r) {
            int64_t off[2];
            plan.offsets(r, off);
            const TA *x = pa + off[0];
            const TB *y = pb + off[1];
            TO *z = po + r * inner;
            parallelRanges(threads, inner, 1, [&](int64_t iBegin, int64_t iEnd) {
                for (int64_t i = iBegin; i < iEnd; ++i)
                    z[i] = f(x[i * sa], y[i * sb]);
            });
        }
    } else {
        for (int64_t r = 0; r < outer; ++r)
            row(r);
    }
}

// out[i] = f(in[i]) over a float tensor.
template <typename F> Tensor unaryFloat(const OpContext &ctx, const Tensor &in, F f)
{
    Tensor out = Tensor::uninitialized(DType::Float32, in.shape());
    const float *x = in.f32();
    float *y = out.f32();
    const int64_t n = in.numel();
    const int threads = threadsFor(ctx, n);
    if (threads > 1) {
        parallelRanges(threads, n, 1, [&](int64_t iBegin, int64_t iEnd) {
            for (int64_t i = iBegin; i < iEnd; ++i)
                y[i] = f(x[i]);
        });
    } else {
        for (int64_t i = 0; i < n; ++i)
            y[i] = f(x[i]);
    }
    return out;
}

// Dispatches a generic lambda on the C++ type of a dtype: f(T{}) for T in float/int8/uint8/int32/int64.
// float16 / bfloat16 never get here: the dispatch widens them to float32 before a kernel runs (ops.cpp).
template <typename F> decltype(auto) visitDType(DType type, F &&f)
{
    switch (type) {
    case DType::Float32: return f(float{});
    case DType::Int8: return f(int8_t{});
    case DType::UInt8: return f(uint8_t{});
    case DType::Int32: return f(int32_t{});
    case DType::Int64: return f(int64_t{});
    case DType::Float16:
    case DType::BFloat16: throw Error(std::string(dtypeName(type)) + " values reached a kernel that computes in float32");
    }
    return f(float{});
}

// Copies `in` broadcast to `outShape` (any dtype); used by Expand and as a fallback for broadcasting.
inline Tensor broadcastTo(const OpContext &ctx, const Tensor &in, const Shape &outShape)
{
    Tensor out = Tensor::uninitialized(in.dtype(), outShape);
    const Shape *shapes[1] = {&in.shape()};
    const BroadcastPlan<1> plan = makeBroadcastPlan<1>(outShape, shapes);
    const size_t es = dtypeSize(in.dtype());
    const auto *src = static_cast<const unsigned char *>(in.rawData());
    auto *dst = static_cast<unsigned char *>(out.rawData());
    const int64_t inner = plan.inner(), outer = plan.outer();
    const bool contiguous = plan.strides[0].back() == 1;
    for (int64_t r = 0; r < outer; ++r) {
        int64_t off;
        plan.offsets(r, &off);
        unsigned char *z = dst + size_t(r * inner) * es;
        if (contiguous) {
            std::memcpy(z, src + size_t(off) * es, size_t(inner) * es);
        } else {
            for (int64_t i = 0; i < inner; ++i)
                std::memcpy(z + size_t(i) * es, src + size_t(off) * es, es);
        }
    }
    return out;
}

} // namespace cw::ops
