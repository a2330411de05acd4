// Reductions, scans and selections along axes.
//
//   ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp,
//   ReduceSumSquare:
//             x → x reduced over `axes`: the attribute before opset 18 (ReduceSum: before 13), optional int64 input 1
//             from then on (either form is accepted at any opset; the input wins). Negative axes count from the
//             end; duplicates are an error. No axes (absent or empty) = every axis, unless
//             noop_with_empty_axes = 1, which returns x unchanged. keepdims (default 1) keeps the reduced axes as
//             size 1. Over an empty set: Sum / L1 / L2 / SumSquare 0, Prod 1, Max -inf (lowest integer),
//             Min +inf (highest), LogSum / LogSumExp -inf, Mean NaN (integer: 0).
//             Types: float for all; int32 / int64 also for Sum, Mean, Prod, Max, Min, L1, SumSquare; int8 / uint8
//             (bool) also for Max and Min. Integer Mean truncates toward zero.
//   ArgMax, ArgMin: axis (0), keepdims (1), select_last_index (0: the first extreme wins, 1: the last) → int64
//             indices; any dtype.
//   CumSum:   x (float, int32, int64), axis (input 1, one value) → running sums along axis; exclusive (0) starts
//             each sum at 0 and leaves out the element itself, reverse (0) sums from the end
//   TopK:     x, K (input 1, one int64 value; the attribute k before opset 10) → Values and int64 Indices with
//             axis (default -1) cut to K: the K largest (largest = 1) or smallest, best first, ties by the lower
//             index (onnxruntime's order); sorted = 0 returns the same order (ONNX leaves it unspecified)
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "core/runtime/ops/common.h"

namespace cw {
namespace {

using namespace ops;

enum class Reduce { Sum, Mean, Max, Min, Prod, L1, L2, LogSum, LogSumExp, SumSquare };

// Where each input element goes. Dimensions of size 1 are dropped and neighbours of the same kind (kept or
// reduced) merged; when the reduced dimensions then form one block, the input is [outer, count, inner] and
// the loops run over contiguous rows. Otherwise each output walks a precomputed list of reduced offsets.
struct ReduceLayout {
    bool noop = false;
    Shape outShape;       // as keepdims asks
    int64_t outCount = 1; // output elements
    int64_t count = 1;    // input elements per output
    bool block = true;
    int64_t outer = 1, inner = 1;
    std::vector<int64_t> keptDims, keptStrides; // general case: kept groups (output order) and input strides
    std::vector<int64_t> reducedOffsets;        // general case: input offsets of one output's elements
};

ReduceLayout reduceLayout(const OpContext &ctx, const Tensor &x)
{
    std::vector<int64_t> axes;
    intsAttrOrInput(ctx, "axes", 1, &axes);
    const bool keepdims = ctx.node.attrInt("keepdims", 1) != 0;
    ReduceLayout L;
    const int rank = x.rank();
    if (axes.empty() && ctx.node.attrInt("noop_with_empty_axes", 0) != 0) {
        L.noop = true;
        L.outShape = x.shape();
        return L;
    }
    std::vector<bool> reduced(size_t(rank), axes.empty());
    for (int a : normalizeAxes(ctx, axes, rank))
        reduced[size_t(a)] = true;
    struct Group {
        bool reduced;
        int64_t size;
    };
    std::vector<Group> groups;
    for (int d = 0; d < rank; ++d) {
        const int64_t n = x.dim(d);
        if (reduced[size_t(d)]) {
            L.count *= n;
            if (keepdims)
                L.outShape.push_back(1);
        } else {
            L.outCount *= n;
            L.outShape.push_back(n);
        }
        if (n == 1)
            continue;
        if (!groups.empty() && groups.back().reduced == reduced[size_t(d)])
            groups.back().size *= n;
        else
            groups.push_back({reduced[size_t(d)], n});
    }
    int reducedGroups = 0;
    for (const Group &g : groups)
        reducedGroups += g.reduced;
    if (reducedGroups <= 1) {
        bool seen = false;
        for (const Group &g : groups) {
            if (g.reduced)
                seen = true;
            else if (seen)
                L.inner *= g.size;
            else
                L.outer *= g.size;
        }
        return L;
    }
    L.block = false;
    std::vector<int64_t> strides(groups.size(), 1);
    for (size_t i = groups.size() - 1; i-- > 0;)
        strides[i] = strides[i + 1] * groups[i + 1].size;
    std::vector<int64_t> rDims, rStrides;
    for (size_t i = 0; i < groups.size(); ++i) {
        (groups[i].reduced ? rDims : L.keptDims).push_back(groups[i].size);
        (groups[i].reduced ? rStrides : L.keptStrides).push_back(strides[i]);
    }
    L.reducedOffsets.reserve(size_t(L.count));
    std::vector<int64_t> idx(rDims.size(), 0);
    for (int64_t k = 0; k < L.count; ++k) {
        int64_t off = 0;
        for (size_t j = 0; j < rDims.size(); ++j)
            off += idx[j] * rStrides[j];
        L.reducedOffsets.push_back(off);
        for (size_t j = rDims.size(); j-- > 0;) {
            if (++idx[j] < rDims[j])
                break;
            idx[j] = 0;
        }
    }
    return L;
}

// acc[o] = init, then step(acc[o], v, o) for every input element v of output o.
template <typename T, typename Step>
void reduceInto(const OpContext &ctx, const ReduceLayout &L, const T *src, T init, T *acc, Step step)
{
    const int threads = threadsFor(ctx, L.outCount * L.count);
    const int64_t R = L.count;
    if (L.block && L.inner == 1) {
        parallelRanges(threads, L.outer, 1, [&](int64_t oBegin, int64_t oEnd) {
            for (int64_t o = oBegin; o < oEnd; ++o) {
                T a = init;
                const T *s = src + o * R;
                for (int64_t k = 0; k < R; ++k)
                    step(a, s[k], o);
                acc[o] = a;
            }
        });
    } else if (L.block) {
        const int64_t inner = L.inner;
        auto rows = [&](int64_t o, int64_t iBegin, int64_t iEnd) {
            T *row = acc + o * inner;
            std::fill(row + iBegin, row + iEnd, init);
            for (int64_t k = 0; k < R; ++k) {
                const T *s = src + (o * R + k) * inner;
                for (int64_t i = iBegin; i < iEnd; ++i)
                    step(row[i], s[i], o * inner + i);
            }
        };
        if (L.outer >= threads) {
            parallelRanges(threads, L.outer, 1, [&](int64_t oBegin, int64_t oEnd) {
                for (int64_t o = oBegin; o < oEnd; ++o)
                    rows(o, 0, inner);
            });
        } else {
            // A leading-axis reduction (few outer rows): split the columns instead.
            for (int64_t o = 0; o < L.outer; ++o)
                parallelRanges(threads, inner, 64, [&](int64_t iBegin, int64_t iEnd) { rows(o, iBegin, iEnd); });
        }
    } else {
        parallelRanges(threads, L.outCount, 1, [&](int64_t oBegin, int64_t oEnd) {
            for (int64_t o = oBegin; o < oEnd; ++o) {
                int64_t base = 0, rest = o;
                for (size_t j = L.keptDims.size(); j-- > 0;) {
                    base += rest % L.keptDims[j] * L.keptStrides[j];
                    rest /= L.keptDims[j];
                }
                T a = init;
                for (int64_t off : L.reducedOffsets)
                    step(a, src[base + off], o);
                acc[o] = a;
            }
        });
    }
}

bool reduceSupports(Reduce kind, DType type)
{
    switch (kind) {
    case Reduce::Max:
    case Reduce::Min: return true;
    case Reduce::Sum:
    case Reduce::Mean:
    case Reduce::Prod:
    case Reduce::L1:
    case Reduce::SumSquare:
        return type == DType::Float32 || type == DType::Int32 || type == DType::Int64;
    case Reduce::L2:
    case Reduce::LogSum:
    case Reduce::LogSumExp: return type == DType::Float32;
    }
    return false;
}

template <typename T> void reduceTyped(const OpContext &ctx, Reduce kind, const Tensor &x, const ReduceLayout &L, Tensor &out)
{
    constexpr bool isFloat = std::is_same_v<T, float>;
    const T lowest = isFloat ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest();
    const T highest = isFloat ? std::numeric_limits<T>::infinity() : std::numeric_limits<T>::max();
    const T *src = x.data<T>();
    T *dst = out.data<T>();
    switch (kind) {
    case Reduce::Sum:
    case Reduce::Mean:
    case Reduce::LogSum: reduceInto<T>(ctx, L, src, T(0), dst, [](T &a, T v, int64_t) { a = wrapAdd(a, v); }); break;
    case Reduce::Max: reduceInto<T>(ctx, L, src, lowest, dst, [](T &a, T v, int64_t) { a = v > a ? v : a; }); break;
    case Reduce::Min: reduceInto<T>(ctx, L, src, highest, dst, [](T &a, T v, int64_t) { a = v < a ? v : a; }); break;
    case Reduce::Prod: reduceInto<T>(ctx, L, src, T(1), dst, [](T &a, T v, int64_t) { a = wrapMul(a, v); }); break;
    case Reduce::L1: reduceInto<T>(ctx, L, src, T(0), dst, [](T &a, T v, int64_t) { a = wrapAdd(a, v < 0 ? wrapNeg(v) : v); }); break;
    case Reduce::L2:
    case Reduce::SumSquare: reduceInto<T>(ctx, L, src, T(0), dst, [](T &a, T v, int64_t) { a = wrapAdd(a, wrapMul(v, v)); }); break;
    case Reduce::LogSumExp:
        if constexpr (isFloat) {
            // Shifted by the maximum so large inputs do not overflow exp().
            std::vector<float> shift(size_t(L.outCount));
            reduceInto<float>(ctx, L, src, lowest, shift.data(), [](float &a, float v, int64_t) { a = v > a ? v : a; });
            for (float &m : shift)
                m = std::isfinite(m) ? m : 0.f;
            reduceInto<float>(ctx, L, src, 0.f, dst,
                              [&shift](float &a, float v, int64_t o) { a += std::exp(v - shift[size_t(o)]); });
            for (int64_t o = 0; o < L.outCount; ++o)
                dst[o] = std::log(dst[o]) + shift[size_t(o)];
        }
        break;
    }
    for (int64_t o = 0; o < L.outCount; ++o) {
        if (kind == Reduce::Mean)
            dst[o] = isFloat ? T(float(dst[o]) / float(L.count)) : (L.count > 0 ? T(dst[o] / T(L.count)) : T(0));
        else if constexpr (isFloat) {
            if (kind == Reduce::L2)
                dst[o] = std::sqrt(dst[o]);
            else if (kind == Reduce::LogSum)
                dst[o] = std::log(dst[o]);
        }
    }
}

template <Reduce Kind> void reduceOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    if (!reduceSupports(Kind, x.dtype()))
        ctx.fail(std::string("type ") + dtypeName(x.dtype()) + " is not supported");
    const ReduceLayout L = reduceLayout(ctx, x);
    if (L.noop) {
        ctx.outputs[0] = x;
        return;
    }
    Tensor out = Tensor::uninitialized(x.dtype(), L.outShape);
    visitDType(x.dtype(), [&](auto zero) {
        using T = decltype(zero);
        if constexpr (std::is_same_v<T, float>) {
            reduceTyped<float>(ctx, Kind, x, L, out);
        } else if constexpr (Kind != Reduce::L2 && Kind != Reduce::LogSum && Kind != Reduce::LogSumExp) {
            reduceTyped<T>(ctx, Kind, x, L, out);
        }
    });
    ctx.outputs[0] = std::move(out);
}

// ArgMax (Greater = true) / ArgMin along one axis.
template <bool Greater> void argExtremeOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    if (x.rank() == 0)
        ctx.fail("input must have rank >= 1");
    const int axis = normalizeAxis(ctx, ctx.node.attrInt("axis", 0), x.rank());
    const bool keepdims = ctx.node.attrInt("keepdims", 1) != 0;
    const bool lastIndex = ctx.node.attrInt("select_last_index", 0) != 0;
    Shape outShape;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < x.rank(); ++d) {
        if (d != axis || keepdims)
            outShape.push_back(d == axis ? 1 : x.dim(d));
        if (d < axis)
            outer *= x.dim(d);
        if (d > axis)
            inner *= x.dim(d);
    }
    const int64_t n = x.dim(axis);
    if (n == 0)
        ctx.fail(std::string("cannot take ") + (Greater ? "ArgMax" : "ArgMin") + " over an empty axis");
    Tensor out(DType::Int64, outShape);
    int64_t *dst = out.data<int64_t>();
    visitDType(x.dtype(), [&](auto zero) {
        using T = decltype(zero);
        const T *src = x.data<T>();
        parallelRanges(threadsFor(ctx, x.numel()), outer, 1, [&](int64_t oBegin, int64_t oEnd) {
            for (int64_t o = oBegin; o < oEnd; ++o)
                for (int64_t i = 0; i < inner; ++i) {
                    const T *s = src + o * n * inner + i;
                    int64_t best = 0;
                    T bestValue = s[0];
                    for (int64_t k = 1; k < n; ++k) {
                        const T v = s[k * inner];
                        if ((Greater ? v > bestValue : v < bestValue) || (lastIndex && v == bestValue)) {
                            bestValue = v;
                            best = k;
                        }
                    }
                    dst[o * inner + i] = best;
                }
        });
    });
    ctx.outputs[0] = std::move(out);
}


// Splits x at `axis` into [outer, n, inner].
void splitAtAxis(const Tensor &x, int axis, int64_t *outer, int64_t *n, int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    for (int d = 0; d < x.rank(); ++d) {
        if (d < axis)
            *outer *= x.dim(d);
        else if (d > axis)
            *inner *= x.dim(d);
    }
    *n = x.dim(axis);
}

void cumSumOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    if (x.dtype() != DType::Float32 && x.dtype() != DType::Int32 && x.dtype() != DType::Int64)
        ctx.fail(std::string("type ") + dtypeName(x.dtype()) + " is not supported");
    if (x.rank() == 0)
        ctx.fail("input must have rank >= 1");
    const std::vector<int64_t> axisValues = intsInput(ctx, 1, "axis");
    if (!ctx.hasInput(1) || axisValues.size() != 1)
        ctx.fail("axis (input 1) must hold one value");
    const int axis = normalizeAxis(ctx, axisValues[0], x.rank());
    const bool exclusive = ctx.node.attrInt("exclusive", 0) != 0;
    const bool reverse = ctx.node.attrInt("reverse", 0) != 0;
    int64_t outer, n, inner;
    splitAtAxis(x, axis, &outer, &n, &inner);
    Tensor out = Tensor::uninitialized(x.dtype(), x.shape());
    visitDType(x.dtype(), [&](auto zero) {
        using T = decltype(zero);
        const T *src = x.data<T>();
        T *dst = out.data<T>();
        parallelRanges(threadsFor(ctx, x.numel()), outer, 1, [&](int64_t oBegin, int64_t oEnd) {
            std::vector<T> acc(static_cast<size_t>(inner));
            for (int64_t o = oBegin; o < oEnd; ++o) {
                std::fill(acc.begin(), acc.end(), T(0));
                for (int64_t step = 0; step < n; ++step) {
                    const int64_t k = reverse ? n - 1 - step : step;
                    const T *s = src + (o * n + k) * inner;
                    T *d = dst + (o * n + k) * inner;
                    for (int64_t i = 0; i < inner; ++i) {
                        const T v = s[i];
                        if (exclusive) {
                            d[i] = acc[size_t(i)];
                            acc[size_t(i)] = wrapAdd(acc[size_t(i)], v);
                        } else {
                            acc[size_t(i)] = wrapAdd(acc[size_t(i)], v);
                            d[i] = acc[size_t(i)];
                        }
                    }
                }
            }
        });
    });
    ctx.outputs[0] = std::move(out);
}

// TopK: the k largest (or smallest) along axis, ordered best first with ties broken by the lower index, as
// onnxruntime does. sorted = 0 leaves the order unspecified in ONNX; this kernel returns the sorted order.
void topKOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    if (x.rank() == 0)
        ctx.fail("input must have rank >= 1");
    int64_t k = 0;
    if (nodeOpset(ctx.node) < 10 && !ctx.hasInput(1)) {
        if (!ctx.node.hasAttr("k"))
            ctx.fail("attribute k is missing");
        k = ctx.node.attrInt("k", 0);
    } else {
        const std::vector<int64_t> kv = intsInput(ctx, 1, "K");
        if (!ctx.hasInput(1) || kv.size() != 1)
            ctx.fail("K (input 1) must hold one value");
        k = kv[0];
    }
    const int axis = normalizeAxis(ctx, ctx.node.attrInt("axis", -1), x.rank());
    const bool largest = ctx.node.attrInt("largest", 1) != 0;
    int64_t outer, n, inner;
    splitAtAxis(x, axis, &outer, &n, &inner);
    if (k < 0 || k > n)
        ctx.fail("k = " + str(k) + " is outside [0, " + str(n) + "] for axis " + str(axis) + " of " +
                 shapeToString(x.shape()));
    Shape outShape = x.shape();
    outShape[size_t(axis)] = k;
    Tensor values = Tensor::uninitialized(x.dtype(), outShape);
    Tensor indices = Tensor::uninitialized(DType::Int64, outShape);
    int64_t *pi = indices.data<int64_t>();
    visitDType(x.dtype(), [&](auto zero) {
        using T = decltype(zero);
        const T *src = x.data<T>();
        T *pv = values.data<T>();
        parallelRanges(threadsFor(ctx, x.numel()), outer * inner, 1, [&](int64_t begin, int64_t end) {
            std::vector<int64_t> order(static_cast<size_t>(n));
            for (int64_t r = begin; r < end; ++r) {
                const int64_t o = r / inner, i = r % inner;
                const T *s = src + o * n * inner + i;
                for (int64_t j = 0; j < n; ++j)
                    order[size_t(j)] = j;
                auto better = [&](int64_t a, int64_t b) {
                    const T va = s[a * inner], vb = s[b * inner];
                    if (va != vb)
                        return largest ? va > vb : va < vb;
                    return a < b;
                };
                std::partial_sort(order.begin(), order.begin() + k, order.end(), better);
                for (int64_t j = 0; j < k; ++j) {
                    const int64_t at = (o * k + j) * inner + i;
                    pv[at] = s[order[size_t(j)] * inner];
                    pi[at] = order[size_t(j)];
                }
            }
        });
    });
    ctx.outputs[0] = std::move(values);
    if (ctx.outputs.size() > 1)
        ctx.outputs[1] = std::move(indices);
}

} // namespace

void registerReduceOps(KernelTable &table)
{
    table["ReduceSum"] = {reduceOp<Reduce::Sum>, {1, 11, 13}};
    table["ReduceMean"] = {reduceOp<Reduce::Mean>, {1, 11, 13, 18}};
    table["ReduceMax"] = {reduceOp<Reduce::Max>, {1, 11, 12, 13, 18, 20}};
    table["ReduceMin"] = {reduceOp<Reduce::Min>, {1, 11, 12, 13, 18, 20}};
    table["ReduceProd"] = {reduceOp<Reduce::Prod>, {1, 11, 13, 18}};
    table["ReduceL1"] = {reduceOp<Reduce::L1>, {1, 11, 13}};
    table["ReduceL2"] = {reduceOp<Reduce::L2>, {1, 11, 13}};
    table["ReduceLogSum"] = {reduceOp<Reduce::LogSum>, {1, 11, 13, 18}};
    table["ReduceLogSumExp"] = {reduceOp<Reduce::LogSumExp>, {1, 11, 13, 18}};
    table["ReduceSumSquare"] = {reduceOp<Reduce::SumSquare>, {1, 11, 13, 18}};
    table["ArgMax"] = {argExtremeOp<true>, {1, 11, 12, 13}};
    table["ArgMin"] = {argExtremeOp<false>, {1, 11, 12, 13}};
    table["CumSum"] = {cumSumOp, {11, 14}};
    table["TopK"] = {topKOp, {1, 10, 11}};
}

} // namespace cw
