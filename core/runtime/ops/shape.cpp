// Shape manipulation, data movement and constants. All of these work on every dtype unless noted; the ones
// that only move bytes see float16 / bfloat16 values as they are (ops.cpp lists them), the rest widened.
//
//   Flatten:    x, axis (1, may be negative or rank) → [prod(dims < axis), prod(dims >= axis)]   (a view)
//   Reshape:    x, shape (int64) → shape; 0 copies the input dimension unless allowzero=1, one -1 is inferred
//   Transpose:  x, perm (default: reversed) → permuted dims
//   Concat:     inputs with equal dims except along axis → concatenated along axis
//   Split:      x → outputs along axis (0); sizes from input 1 (opset >= 13) or attribute 'split', else
//               num_outputs (opset 18; the last part may be smaller) or as many equal parts as outputs
//   Slice:      starts/ends/axes as attributes (opset < 10) or inputs 1..4 (with steps); negative indices
//               count from the end, out-of-range values are clamped, negative steps walk backwards
//   Squeeze:    axes from the attribute (opset < 13) or input 1; none = every dimension of size 1
//   Unsqueeze:  axes (attribute before opset 13, input 1 after), relative to the output rank
//   Pad:        pads [x1_begin, x2_begin, ..., x1_end, ...] from the attribute (opset < 11) or input 1,
//               constant value from attribute 'value' or input 2, axes input 3 (opset 18);
//               modes constant, reflect, edge, wrap; negative pads crop
//   Resize:     x [N, C, ...], roi (input 1, only for tf_crop_and_resize), scales (input 2) or sizes
//               (input 3); opset 10 takes scales as input 1, and so does Upsample (opset 9), the same kernel. Modes nearest and linear (separable, any rank;
//               bilinear over [H, W] or [N, C, H, W] rounds as onnxruntime does, to the bit);
//               coordinate_transformation_mode half_pixel, half_pixel_symmetric (opset 19), asymmetric,
//               align_corners, pytorch_half_pixel, tf_half_pixel_for_nn, tf_crop_and_resize; nearest_mode
//               round_prefer_floor, round_prefer_ceil, floor, ceil
//   Constant:   value (tensor), value_float(s), value_int(s) → that tensor
//   Identity, Dropout (inference: identity; the optional mask output is all ones, uint8)
//   Cast:       to = TensorProto dtype: 1 float, 2 uint8, 3 int8, 6 int32, 7 int64, 9 bool (stored as uint8),
//               10 float16, 11 double (computed as float32), 16 bfloat16; to the 16-bit floats rounds to
//               nearest even, from them is exact (then as from float32)
//   CastLike:   x, target_type → x cast to target_type's dtype (a uint8 target casts as uint8, not bool)
//   Shape:      x → int64 [rank] (start / end, opset 15)
//   Gather:     data, indices (int32/int64, negative allowed) along axis
//               → data.shape[:axis] + indices.shape + data.shape[axis+1:]
//   GatherElements: data, indices (int32/int64, same rank, no larger than data off the axis) along axis
//               → indices' shape, each element picked from data at its own position with the axis index replaced
//   Size:       x → its element count, an int64 scalar
//   ConstantOfShape, Range, Expand, Tile
#include <cmath>
#include <limits>
#include <numeric>

#include "core/runtime/ops/common.h"

namespace cw {
namespace {

using namespace ops;

using Bytes = unsigned char;

const Bytes *bytesOf(const Tensor &t)
{
    return static_cast<const Bytes *>(t.rawData());
}

Bytes *bytesOf(Tensor &t)
{
    return static_cast<Bytes *>(t.rawData());
}

// ---- Views -----------------------------------------------------------------------------------------------

void flattenOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    int64_t axis = ctx.prepared<int64_t>([&] { return ctx.node.attrInt("axis", 1); });
    if (axis < -x.rank() || axis > x.rank())
        ctx.fail("axis " + str(axis) + " is out of range for rank " + str(x.rank()));
    if (axis < 0)
        axis += x.rank();
    int64_t outer = 1;
    for (int d = 0; d < axis; ++d)
        outer *= x.dim(d);
    ctx.outputs[0] = x.reshaped({outer, outer ? x.numel() / outer : 0});
}

void reshapeOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    std::vector<int64_t> target;
    if (!intsAttrOrInput(ctx, "shape", 1, &target))
        ctx.fail("the target shape (input 1) is missing");
    const bool allowZero = ctx.node.attrInt("allowzero", 0) != 0;
    Shape shape(target.begin(), target.end());
    int inferred = -1;
    int64_t known = 1;
    for (size_t i = 0; i < shape.size(); ++i) {
        if (shape[i] == 0 && !allowZero) {
            if (int(i) >= x.rank())
                ctx.fail("shape " + shapeToString(Shape(target.begin(), target.end())) + " copies dimension " +
                         str(int64_t(i)) + " that input " + shapeToString(x.shape()) + " does not have");
            shape[i] = x.dim(int(i));
        }
        if (shape[i] == -1) {
            if (inferred >= 0)
                ctx.fail("shape has more than one -1");
            inferred = int(i);
        } else if (shape[i] < 0) {
            ctx.fail("shape has a negative dimension " + str(shape[i]));
        } else {
            known = checkedMul(known, shape[i]);
        }
    }
    if (inferred >= 0) {
        if (known == 0 || x.numel() % known != 0)
            ctx.fail("cannot reshape " + shapeToString(x.shape()) + " to [" + [&] {
                std::string s;
                for (size_t i = 0; i < target.size(); ++i)
                    s += (i ? ", " : "") + str(target[i]);
                return s;
            }() + "]");
        shape[size_t(inferred)] = x.numel() / known;
    }
    if (shapeNumel(shape) != x.numel())
        ctx.fail("cannot reshape " + shapeToString(x.shape()) + " (" + str(x.numel()) + " elements) to " +
                 shapeToString(shape));
    ctx.outputs[0] = x.reshaped(shape);
}

void identityOp(OpContext &ctx)
{
    ctx.outputs[0] = ctx.input(0);
}

// Inference only: the ratio and training_mode inputs are ignored, as in an inference runtime.
void dropoutOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    ctx.outputs[0] = x;
    if (ctx.outputs.size() > 1) {
        Tensor mask(DType::UInt8, x.shape());
        std::fill(bytesOf(mask), bytesOf(mask) + mask.numel(), Bytes(1));
        ctx.outputs[1] = std::move(mask);
    }
}

// ---- Transpose -------------------------------------------------------------------------------------------

template <typename T>
void transposeTyped(const OpContext &ctx, const T *src, T *dst, const Shape &outShape, const std::vector<int64_t> &inStrides)
{
    const int rank = int(outShape.size());
    const int64_t inner = rank ? outShape.back() : 1;
    const int64_t innerStride = rank ? inStrides.back() : 1;
    const int64_t total = shapeNumel(outShape);
    const int64_t rows = inner ? total / inner : 0;
    const int threads = threadsFor(ctx, total);
    parallelRanges(threads, rows, 1, [&](int64_t rBegin, int64_t rEnd) {
        for (int64_t r = rBegin; r < rEnd; ++r) {
            int64_t rem = r, off = 0;
            for (int d = rank - 2; d >= 0; --d) {
                off += (rem % outShape[size_t(d)]) * inStrides[size_t(d)];
                rem /= outShape[size_t(d)];
            }
            T *o = dst + r * inner;
            const T *s = src + off;
            if (innerStride == 1)
                std::copy(s, s + inner, o);
            else
                for (int64_t i = 0; i < inner; ++i)
                    o[i] = s[i * innerStride];
        }
    });
}

void transposeOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    const int rank = x.rank();
    std::vector<int64_t> perm = ctx.node.attrInts("perm");
    if (perm.empty())
        for (int d = rank - 1; d >= 0; --d)
            perm.push_back(d);
    if (int(perm.size()) != rank)
        ctx.fail("perm has " + str(int64_t(perm.size())) + " entries for rank " + str(rank));
    std::vector<bool> seen(size_t(rank), false);
    for (int64_t &p : perm) {
        p = normalizeAxis(ctx, p, rank, "perm entry");
        if (seen[size_t(p)])
            ctx.fail("perm is not a permutation");
        seen[size_t(p)] = true;
    }
    Shape outShape(static_cast<size_t>(rank));
    const std::vector<int64_t> strides = stridesOf(x.shape());
    std::vector<int64_t> inStrides(static_cast<size_t>(rank));
    for (int d = 0; d < rank; ++d) {
        outShape[size_t(d)] = x.dim(int(perm[size_t(d)]));
        inStrides[size_t(d)] = strides[size_t(perm[size_t(d)])];
    }
    Tensor out = Tensor::uninitialized(x.dtype(), outShape);
    if (isHalfType(x.dtype())) // moved as 16-bit patterns
        transposeTyped<uint16_t>(ctx, static_cast<const uint16_t *>(x.rawData()), static_cast<uint16_t *>(out.rawData()),
                                 outShape, inStrides);
    else
        visitDType(x.dtype(), [&](auto zero) {
            using T = decltype(zero);
            transposeTyped<T>(ctx, x.data<T>(), out.data<T>(), outShape, inStrides);
        });
    ctx.outputs[0] = std::move(out);
}

// ---- Concat / Split --------------------------------------------------------------------------------------

void concatOp(OpContext &ctx)
{
    if (ctx.inputs.empty())
        ctx.fail("needs at least one input");
    const Tensor &first = ctx.input(0);
    if (first.rank() == 0)
        ctx.fail("cannot concatenate scalars");
    const int axis = normalizeAxis(ctx, ctx.node.attrInt("axis", 0), first.rank());
    Shape outShape = first.shape();
    outShape[size_t(axis)] = 0;
    for (size_t i = 0; i < ctx.inputs.size(); ++i) {
        const Tensor &t = ctx.input(int(i));
        if (t.dtype() != first.dtype())
            ctx.fail("input " + str(int64_t(i)) + " has type " + dtypeName(t.dtype()) + ", input 0 has " +
                     dtypeName(first.dtype()));
        bool ok = t.rank() == first.rank();
        for (int d = 0; ok && d < t.rank(); ++d)
            ok = d == axis || t.dim(d) == first.dim(d);
        if (!ok)
            ctx.fail("input " + str(int64_t(i)) + " " + shapeToString(t.shape()) + " does not match input 0 " +
                     shapeToString(first.shape()) + " outside axis " + str(axis));
        outShape[size_t(axis)] += t.dim(axis);
    }
    Tensor out = Tensor::uninitialized(first.dtype(), outShape);
    const size_t es = dtypeSize(first.dtype());
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; ++d)
        outer *= outShape[size_t(d)];
    for (int d = axis + 1; d < first.rank(); ++d)
        inner *= outShape[size_t(d)];
    const size_t outRow = size_t(outShape[size_t(axis)] * inner) * es;
    size_t offset = 0;
    for (size_t i = 0; i < ctx.inputs.size(); ++i) {
        const Tensor &t = ctx.input(int(i));
        const size_t row = size_t(t.dim(axis) * inner) * es;
        const Bytes *src = bytesOf(t);
        Bytes *dst = bytesOf(out) + offset;
        for (int64_t o = 0; o < outer; ++o)
            std::memcpy(dst + size_t(o) * outRow, src + size_t(o) * row, row);
        offset += row;
    }
    ctx.outputs[0] = std::move(out);
}

void splitOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    if (x.rank() == 0)
        ctx.fail("cannot split a scalar");
    const int axis = normalizeAxis(ctx, ctx.node.attrInt("axis", 0), x.rank());
    const int64_t dim = x.dim(axis);
    const int64_t outputs = int64_t(ctx.outputs.size());
    std::vector<int64_t> sizes;
    if (!intsAttrOrInput(ctx, "split", 1, &sizes)) {
        const int64_t parts = ctx.node.attrInt("num_outputs", outputs);
        if (parts != outputs)
            ctx.fail("num_outputs is " + str(parts) + " but the node has " + str(outputs) + " outputs");
        if (parts < 1)
            ctx.fail("needs at least one output");
        if (ctx.node.hasAttr("num_outputs")) {
            // Opset 18: parts of ceil(dim / n), the last one smaller.
            const int64_t chunk = (dim + parts - 1) / parts;
            for (int64_t i = 0; i < parts; ++i)
                sizes.push_back(std::max<int64_t>(0, std::min(chunk, dim - i * chunk)));
        } else {
            if (dim % parts != 0)
                ctx.fail("dimension " + str(dim) + " of axis " + str(axis) + " does not split into " + str(parts) +
                         " equal parts");
            sizes.assign(size_t(parts), dim / parts);
        }
    }
    if (int64_t(sizes.size()) != outputs)
        ctx.fail("split has " + str(int64_t(sizes.size())) + " sizes for " + str(outputs) + " outputs");
    int64_t total = 0;
    for (int64_t s : sizes) {
        if (s < 0)
            ctx.fail("split sizes must not be negative");
        total += s;
    }
    if (total != dim)
        ctx.fail("split sizes add up to " + str(total) + ", axis " + str(axis) + " has " + str(dim));
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; ++d)
        outer *= x.dim(d);
    for (int d = axis + 1; d < x.rank(); ++d)
        inner *= x.dim(d);
    const size_t es = dtypeSize(x.dtype());
    const size_t inRow = size_t(dim * inner) * es;
    size_t offset = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
        Shape s = x.shape();
        s[size_t(axis)] = sizes[i];
        Tensor out = Tensor::uninitialized(x.dtype(), s);
        const size_t row = size_t(sizes[i] * inner) * es;
        for (int64_t o = 0; o < outer; ++o)
            std::memcpy(bytesOf(out) + size_t(o) * row, bytesOf(x) + size_t(o) * inRow + offset, row);
        offset += row;
        ctx.outputs[i] = out;
    }
}

// ---- Strided gather shared by Slice and Pad --------------------------------------------------------------

// out[i0, ..., ik] = in[map0[i0], ..., mapk[ik]] where a map entry of -1 stands for `fill` (Pad's constant).
void gatherByMaps(const Tensor &in, Tensor &out, std::vector<std::vector<int64_t>> maps, const Bytes *fill)
{
    const size_t es = dtypeSize(in.dtype());
    const Bytes *src = bytesOf(in);
    Bytes *dst = bytesOf(out);
    if (out.numel() == 0)
        return;
    if (in.rank() == 0) {
        std::memcpy(dst, src, es);
        return;
    }
    // The last axis as runs of consecutive source indices (from -1: fill), in elements of `unit` values; each run
    // is copied as one block: a slice is one run, a reflecting pad one run between two edges of single elements.
    struct Run {
        int64_t at, from, len;
    };
    const auto runsOf = [](const std::vector<int64_t> &map, int64_t unit) {
        std::vector<Run> runs;
        for (int64_t i = 0; i < int64_t(map.size()); ++i) {
            const int64_t idx = map[size_t(i)];
            Run *last = runs.empty() ? nullptr : &runs.back();
            if (last && (idx < 0 ? last->from < 0 : last->from >= 0 && last->from + last->len == idx))
                ++last->len;
            else
                runs.push_back({i, idx < 0 ? -1 : idx, 1});
        }
        for (Run &r : runs)
            r = {r.at * unit, r.from < 0 ? -1 : r.from * unit, r.len * unit};
        return runs;
    };
    // A last axis taken whole and in order merges into the one before (a slice of channels of [N, C, T] copies
    // N rows of C' · T values, not N · C' rows of T): fewer, longer rows.
    Shape is = in.shape(), os = out.shape();
    int64_t unit = 1; // values per index of the (merged) last axis
    std::vector<Run> runs = runsOf(maps.back(), unit);
    while (is.size() >= 2 && runs.size() == 1 && runs[0].from == 0 && runs[0].len == is.back() * unit) {
        unit *= is.back();
        is.pop_back();
        os.pop_back();
        maps.pop_back();
        runs = runsOf(maps.back(), unit);
    }
    const int rank = int(is.size());
    std::vector<int64_t> strides = stridesOf(is);
    for (int64_t &s : strides)
        s *= unit;
    const int64_t inner = os.back() * unit;
    const int64_t rows = out.numel() / inner;
    // One element of es bytes; a fixed size compiles to a move.
    const auto copyOne = [es](Bytes *to, const Bytes *from) {
        switch (es) {
        case 1: std::memcpy(to, from, 1); break;
        case 2: std::memcpy(to, from, 2); break;
        case 4: std::memcpy(to, from, 4); break;
        case 8: std::memcpy(to, from, 8); break;
        default: std::memcpy(to, from, es); break;
        }
    };
    const auto fillRun = [&](Bytes *to, int64_t len) {
        for (int64_t i = 0; i < len; ++i)
            copyOne(to + size_t(i) * es, fill);
    };
    for (int64_t r = 0; r < rows; ++r) {
        int64_t rem = r, off = 0;
        bool isFill = false;
        for (int d = rank - 2; d >= 0; --d) {
            const int64_t idx = maps[size_t(d)][size_t(rem % os[size_t(d)])];
            rem /= os[size_t(d)];
            if (idx < 0)
                isFill = true;
            off += idx * strides[size_t(d)];
        }
        Bytes *o = dst + size_t(r * inner) * es;
        if (isFill) {
            fillRun(o, inner);
            continue;
        }
        for (const Run &run : runs) {
            Bytes *to = o + size_t(run.at) * es;
            if (run.from < 0)
                fillRun(to, run.len);
            else if (run.len == 1)
                copyOne(to, src + size_t(off + run.from) * es);
            else
                std::memcpy(to, src + size_t(off + run.from) * es, size_t(run.len) * es);
        }
    }
}

void sliceOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    const int rank = x.rank();
    std::vector<int64_t> starts, ends, axes, steps;
    if (ctx.hasInput(1) || ctx.hasInput(2)) {
        starts = intsInput(ctx, 1, "starts");
        ends = intsInput(ctx, 2, "ends");
        axes = intsInput(ctx, 3, "axes");
        steps = intsInput(ctx, 4, "steps");
    } else {
        starts = ctx.node.attrInts("starts");
        ends = ctx.node.attrInts("ends");
        axes = ctx.node.attrInts("axes");
        if (!ctx.node.hasAttr("starts") || !ctx.node.hasAttr("ends"))
            ctx.fail("starts and ends are missing");
    }
    if (starts.size() != ends.size())
        ctx.fail("starts has " + str(int64_t(starts.size())) + " values, ends has " + str(int64_t(ends.size())));
    if (axes.empty())
        for (size_t i = 0; i < starts.size(); ++i)
            axes.push_back(int64_t(i));
    if (steps.empty())
        steps.assign(starts.size(), 1);
    if (axes.size() != starts.size() || steps.size() != starts.size())
        ctx.fail("starts, ends, axes and steps must have the same length");
    std::vector<int64_t> begin(size_t(rank), 0), step(size_t(rank), 1);
    Shape outShape = x.shape();
    std::vector<bool> seen(size_t(rank), false);
    for (size_t i = 0; i < starts.size(); ++i) {
        const int a = normalizeAxis(ctx, axes[i], rank);
        if (seen[size_t(a)])
            ctx.fail("axis " + str(a) + " is sliced twice");
        seen[size_t(a)] = true;
        const int64_t dim = x.dim(a);
        const int64_t s = steps[i];
        if (s == 0)
            ctx.fail("steps must not be 0");
        // Exporters write INT64_MAX / INT64_MIN for "to the end"; adding dim to those cannot overflow.
        int64_t b = starts[i] < 0 ? starts[i] + dim : starts[i];
        int64_t e = ends[i] < 0 ? ends[i] + dim : ends[i];
        int64_t len;
        if (s > 0) {
            b = std::clamp<int64_t>(b, 0, dim);
            e = std::clamp<int64_t>(e, 0, dim);
            len = e > b ? ceilDiv(e - b, s) : 0;
        } else {
            b = std::clamp<int64_t>(b, 0, dim - 1);
            e = std::clamp<int64_t>(e, -1, dim - 1);
            len = b > e ? ceilDiv(b - e, stepMagnitude(s)) : 0;
        }
        begin[size_t(a)] = b;
        step[size_t(a)] = s;
        outShape[size_t(a)] = len;
    }
    Tensor out = Tensor::uninitialized(x.dtype(), outShape);
    std::vector<std::vector<int64_t>> maps(static_cast<size_t>(rank));
    for (int d = 0; d < rank; ++d)
        for (int64_t i = 0; i < outShape[size_t(d)]; ++i)
            maps[size_t(d)].push_back(begin[size_t(d)] + i * step[size_t(d)]);
    gatherByMaps(x, out, std::move(maps), nullptr);
    ctx.outputs[0] = std::move(out);
}

// ---- Squeeze / Unsqueeze ---------------------------------------------------------------------------------

void squeezeOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    std::vector<int64_t> axes;
    intsAttrOrInput(ctx, "axes", 1, &axes);
    std::vector<bool> drop(size_t(x.rank()), false);
    if (axes.empty()) {
        for (int d = 0; d < x.rank(); ++d)
            drop[size_t(d)] = x.dim(d) == 1;
    } else {
        for (int a : normalizeAxes(ctx, axes, x.rank())) {
            if (x.dim(a) != 1)
                ctx.fail("cannot squeeze axis " + str(a) + " of size " + str(x.dim(a)) + " in " +
                         shapeToString(x.shape()));
            drop[size_t(a)] = true;
        }
    }
    Shape s;
    for (int d = 0; d < x.rank(); ++d)
        if (!drop[size_t(d)])
            s.push_back(x.dim(d));
    ctx.outputs[0] = x.reshaped(s);
}

void unsqueezeOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    std::vector<int64_t> axes;
    if (!intsAttrOrInput(ctx, "axes", 1, &axes) || axes.empty())
        ctx.fail("axes are missing");
    const int64_t rank = x.rank() + int64_t(axes.size());
    std::vector<bool> inserted(size_t(rank), false);
    for (int a : normalizeAxes(ctx, axes, rank))
        inserted[size_t(a)] = true;
    Shape s;
    int src = 0;
    for (int64_t d = 0; d < rank; ++d)
        s.push_back(inserted[size_t(d)] ? 1 : x.dim(src++));
    ctx.outputs[0] = x.reshaped(s);
}

// ---- Pad -------------------------------------------------------------------------------------------------

void padOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    const int rank = x.rank();
    std::vector<int64_t> pads;
    if (!intsAttrOrInput(ctx, "pads", 1, &pads))
        ctx.fail("pads are missing");
    std::vector<int64_t> axes;
    if (ctx.hasInput(3))
        axes = intsInput(ctx, 3, "axes");
    else
        for (int d = 0; d < rank; ++d)
            axes.push_back(d);
    if (pads.size() != axes.size() * 2)
        ctx.fail("pads has " + str(int64_t(pads.size())) + " values, expected " + str(int64_t(axes.size() * 2)) +
                 " for input " + shapeToString(x.shape()));
    std::vector<int64_t> padBegin(size_t(rank), 0), padEnd(size_t(rank), 0);
    for (size_t i = 0; i < axes.size(); ++i) {
        const int a = normalizeAxis(ctx, axes[i], rank);
        padBegin[size_t(a)] = pads[i];
        padEnd[size_t(a)] = pads[i + axes.size()];
    }
    const std::string mode = ctx.node.attrString("mode", "constant");
    if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap")
        ctx.fail("unknown mode '" + mode + "'");
    // The fill value, converted to the input's dtype.
    Tensor fill(x.dtype(), {});
    if (ctx.hasInput(2)) {
        const Tensor &v = ctx.input(2);
        if (v.numel() != 1)
            ctx.fail("constant_value must be a scalar, got " + shapeToString(v.shape()));
        fill = v.reshaped({}).castTo(x.dtype());
    } else {
        fill = Tensor::scalar(ctx.node.attrFloat("value", 0.f)).castTo(x.dtype());
    }
    Shape outShape(static_cast<size_t>(rank));
    for (int d = 0; d < rank; ++d) {
        const int64_t dim = x.dim(d);
        const int64_t outDim = checkedAdd(dim, checkedAdd(padBegin[size_t(d)], padEnd[size_t(d)]));
        if (outDim < 0)
            ctx.fail("pads remove more than the " + str(dim) + " elements of axis " + str(d));
        outShape[size_t(d)] = outDim;
        const bool padded = padBegin[size_t(d)] > 0 || padEnd[size_t(d)] > 0;
        if (padded && mode != "constant" && dim == 0)
            ctx.fail("cannot pad an empty axis in " + mode + " mode");
        if (padded && mode == "reflect" && (padBegin[size_t(d)] >= dim || padEnd[size_t(d)] >= dim))
            ctx.fail("reflect pads must be smaller than the axis size " + str(dim) + " (axis " + str(d) + ")");
    }
    // The output first (checked against the memory budget): the index maps below are as long as its axes.
    Tensor out = Tensor::uninitialized(x.dtype(), outShape);
    ctx.outputs[0] = out;
    if (out.numel() == 0)
        return;
    std::vector<std::vector<int64_t>> maps(static_cast<size_t>(rank));
    for (int d = 0; d < rank; ++d) {
        const int64_t dim = x.dim(d);
        for (int64_t i = 0; i < outShape[size_t(d)]; ++i) {
            int64_t j = i - padBegin[size_t(d)];
            if (j < 0 || j >= dim) {
                if (mode == "constant")
                    j = -1;
                else if (mode == "edge")
                    j = std::clamp<int64_t>(j, 0, dim - 1);
                else if (mode == "wrap")
                    j = ((j % dim) + dim) % dim;
                else
                    j = j < 0 ? -j : 2 * (dim - 1) - j;
            }
            maps[size_t(d)].push_back(j);
        }
    }
    gatherByMaps(x, out, std::move(maps), bytesOf(fill));
}

// ---- Resize ----------------------------------------------------------------------------------------------

struct ResizeAxis {
    std::vector<int64_t> i0, i1; // source indices (-1 = extrapolation value)
    std::vector<float> w1;       // weight of i1 (linear)
};

void resizeOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    requireFloat(ctx, x, "X");
    const int rank = x.rank();
    const int64_t opset = nodeOpset(ctx.node, 13);
    const std::string mode = ctx.node.attrString("mode", "nearest");
    // Opset 10 had neither attribute: it scaled asymmetrically and truncated when upsampling, rounded up
    // when downsampling (onnxruntime's "simple" mode).
    const std::string coord = ctx.node.attrString("coordinate_transformation_mode", opset < 11 ? "asymmetric" : "half_pixel");
    const std::string nearestMode = ctx.node.attrString("nearest_mode", opset < 11 ? "simple" : "round_prefer_floor");
    if (mode != "nearest" && mode != "linear")
        ctx.fail("mode '" + mode + "' is not supported (nearest, linear)");
    if (coord != "half_pixel" && coord != "half_pixel_symmetric" && coord != "asymmetric" && coord != "align_corners" &&
        coord != "pytorch_half_pixel" && coord != "tf_half_pixel_for_nn" && coord != "tf_crop_and_resize")
        ctx.fail("coordinate_transformation_mode '" + coord + "' is not supported");
    if (nearestMode != "round_prefer_floor" && nearestMode != "round_prefer_ceil" && nearestMode != "floor" &&
        nearestMode != "ceil" && !(nearestMode == "simple" && opset < 11))
        ctx.fail("nearest_mode '" + nearestMode + "' is not supported");
    if (ctx.node.attrInt("antialias", 0) != 0)
        ctx.fail("antialias is not supported");
    const std::string aspect = ctx.node.attrString("keep_aspect_ratio_policy", "stretch");
    if (aspect != "stretch" && aspect != "not_larger" && aspect != "not_smaller")
        ctx.fail("unknown keep_aspect_ratio_policy '" + aspect + "'");
    const float extrapolation = ctx.node.attrFloat("extrapolation_value", 0.f);

    // The axes the scales / sizes / roi refer to (opset 18), by default all.
    std::vector<int> axes;
    const std::vector<int64_t> axesAttr = ctx.node.attrInts("axes");
    if (axesAttr.empty())
        for (int d = 0; d < rank; ++d)
            axes.push_back(d);
    else
        for (int64_t a : axesAttr)
            axes.push_back(normalizeAxis(ctx, a, rank));
    const size_t k = axes.size();

    std::vector<float> scalesIn;
    std::vector<int64_t> sizesIn;
    std::vector<float> roiIn;
    const int scalesIndex = opset < 11 ? 1 : 2;
    if (ctx.hasInput(scalesIndex) && ctx.input(scalesIndex).numel() > 0) {
        requireFloat(ctx, ctx.input(scalesIndex), "scales");
        scalesIn = ctx.input(scalesIndex).toFloatVector();
    }
    if (opset >= 11 && ctx.hasInput(3) && ctx.input(3).numel() > 0)
        sizesIn = intsInput(ctx, 3, "sizes");
    if (opset >= 11 && ctx.hasInput(1) && ctx.input(1).numel() > 0)
        roiIn = ctx.input(1).toFloatVector();
    if (scalesIn.empty() == sizesIn.empty())
        ctx.fail("exactly one of scales and sizes must be given");
    if (!scalesIn.empty() && scalesIn.size() != k)
        ctx.fail("scales has " + str(int64_t(scalesIn.size())) + " values for " + str(int64_t(k)) + " axes");
    if (!sizesIn.empty() && sizesIn.size() != k)
        ctx.fail("sizes has " + str(int64_t(sizesIn.size())) + " values for " + str(int64_t(k)) + " axes");
    if (coord == "tf_crop_and_resize" && roiIn.size() != 2 * k)
        ctx.fail("tf_crop_and_resize needs a roi of " + str(int64_t(2 * k)) + " values");

    std::vector<float> scale(size_t(rank), 1.f), roiStart(size_t(rank), 0.f), roiEnd(size_t(rank), 1.f);
    Shape outShape = x.shape();
    // An output size from a scale: finite and below 2^62, or the node fails (int64_t(inf) is undefined).
    auto outDim = [&](double v) {
        if (!(v >= 0 && v < 0x1p62))
            ctx.fail("the output size " + std::to_string(v) + " is out of range");
        return int64_t(v);
    };
    if (!scalesIn.empty()) {
        for (size_t i = 0; i < k; ++i) {
            if (!(scalesIn[i] > 0.f) || !std::isfinite(scalesIn[i]))
                ctx.fail("scales must be positive and finite");
            scale[size_t(axes[i])] = scalesIn[i];
            outShape[size_t(axes[i])] = outDim(std::floor(float(x.dim(axes[i])) * scalesIn[i]));
        }
    } else {
        float policyScale = aspect == "not_larger" ? std::numeric_limits<float>::max() : 0.f;
        for (size_t i = 0; i < k; ++i) {
            if (sizesIn[i] < 0)
                ctx.fail("sizes must not be negative");
            const float s = float(sizesIn[i]) / float(x.dim(axes[i]));
            policyScale = aspect == "not_larger" ? std::min(policyScale, s) : std::max(policyScale, s);
        }
        for (size_t i = 0; i < k; ++i) {
            const int a = axes[i];
            if (aspect == "stretch") {
                scale[size_t(a)] = float(sizesIn[i]) / float(x.dim(a));
                outShape[size_t(a)] = sizesIn[i];
            } else {
                scale[size_t(a)] = policyScale;
                outShape[size_t(a)] = outDim(std::round(float(x.dim(a)) * policyScale));
            }
        }
    }
    // The output's size against the memory budget before the per-axis tables (as long as its axes) are built.
    checkMemoryBudget(shapeByteSize(outShape, DType::Float32), "the output " + shapeToString(outShape));
    if (shapeNumel(outShape) == 0) {
        ctx.outputs[0] = Tensor(DType::Float32, outShape);
        return;
    }
    for (size_t i = 0; i < k && !roiIn.empty() && roiIn.size() == 2 * k; ++i) {
        roiStart[size_t(axes[i])] = roiIn[i];
        roiEnd[size_t(axes[i])] = roiIn[i + k];
    }

    auto nearestIndex = [&](float v, bool down) -> int64_t {
        if (nearestMode == "simple")
            return down ? int64_t(std::ceil(v)) : int64_t(v);
        if (nearestMode == "floor")
            return int64_t(std::floor(v));
        if (nearestMode == "ceil")
            return int64_t(std::ceil(v));
        const float f = std::floor(v);
        if (v - f == 0.5f)
            return nearestMode == "round_prefer_floor" ? int64_t(f) : int64_t(f) + 1;
        return int64_t(std::round(v));
    };

    // The source coordinate of output index o along axis a (before clamping).
    auto sourceCoordinate = [&](int64_t o, int a) -> float {
        const int64_t in = x.dim(a), out = outShape[size_t(a)];
        const float s = scale[size_t(a)];
        if (coord == "half_pixel")
            return (float(o) + 0.5f) / s - 0.5f;
        if (coord == "half_pixel_symmetric") { // opset 19: half_pixel about the centre of the input
            const float adjustment = float(out) / (s * float(in));
            return float(in) / 2 * (1 - adjustment) + (float(o) + 0.5f) / s - 0.5f;
        }
        if (coord == "pytorch_half_pixel")
            return out > 1 ? (float(o) + 0.5f) / s - 0.5f : 0.f;
        if (coord == "align_corners")
            return out > 1 ? float(o) * float(in - 1) / float(out - 1) : 0.f;
        if (coord == "tf_half_pixel_for_nn")
            return (float(o) + 0.5f) / s;
        if (coord == "tf_crop_and_resize")
            return out > 1 ? roiStart[size_t(a)] * float(in - 1) +
                                 float(o) * (roiEnd[size_t(a)] - roiStart[size_t(a)]) * float(in - 1) / float(out - 1)
                           : 0.5f * (roiStart[size_t(a)] + roiEnd[size_t(a)]) * float(in - 1);
        return float(o) / s;
    };

    // Bilinear over the last two axes of [H, W] or [N, C, H, W] (N and C unchanged): onnxruntime's arithmetic,
    // the four corners weighted by products of per-axis distances and summed in a fixed order, rather than
    // one lerp per axis. The two agree to an ulp; the ulp matters when a DynamicQuantizeLinear follows (its
    // range, and every value near a rounding midpoint, moves with it), and onnxruntime is the reference.
    const bool planar = mode == "linear" && coord != "tf_crop_and_resize" &&
                        (rank == 2 || (rank == 4 && outShape[0] == x.dim(0) && scale[0] == 1.f &&
                                       outShape[1] == x.dim(1) && scale[1] == 1.f));
    const bool changes = std::any_of(axes.begin(), axes.end(), [&](int a) {
        return outShape[size_t(a)] != x.dim(a) || scale[size_t(a)] != 1.f;
    });
    if (planar && changes) {
        struct Taps {
            std::vector<int64_t> i1, i2; // the two source indices
            std::vector<float> d1, d2;   // distances to them: i1's weight is d2, i2's is d1
        };
        auto taps = [&](int a) {
            const int64_t in = x.dim(a), out = outShape[size_t(a)];
            if (in == 0 && out > 0)
                ctx.fail("cannot resize an empty axis " + str(a));
            Taps t;
            for (int64_t o = 0; o < out; ++o) {
                float c = scale[size_t(a)] == 1.f ? float(o) : sourceCoordinate(o, a);
                c = std::max(0.f, std::min(c, float(in - 1)));
                const int64_t i1 = std::min<int64_t>(int64_t(c), in - 1), i2 = std::min<int64_t>(i1 + 1, in - 1);
                t.i1.push_back(i1);
                t.i2.push_back(i2);
                t.d1.push_back(i1 == i2 ? 0.5f : std::fabs(c - float(i1)));
                t.d2.push_back(i1 == i2 ? 0.5f : std::fabs(c - float(i2)));
            }
            return t;
        };
        const Taps ty = taps(rank - 2), tx = taps(rank - 1);
        const int64_t inH = x.dim(rank - 2), inW = x.dim(rank - 1);
        const int64_t outH = outShape[size_t(rank - 2)], outW = outShape[size_t(rank - 1)];
        Tensor y(DType::Float32, outShape);
        const int64_t planes = rank == 4 ? x.dim(0) * x.dim(1) : 1;
        const float *src = x.f32();
        float *dst = y.f32();
        parallelRanges(threadsFor(ctx, y.numel()), planes * outH, 1, [&](int64_t begin, int64_t end) {
            for (int64_t r = begin; r < end; ++r) {
                const int64_t p = r / outH, oy = r % outH;
                const float *row1 = src + (p * inH + ty.i1[size_t(oy)]) * inW;
                const float *row2 = src + (p * inH + ty.i2[size_t(oy)]) * inW;
                const float dy1 = ty.d1[size_t(oy)], dy2 = ty.d2[size_t(oy)];
                float *d = dst + r * outW;
                // shape.cpp is compiled without floating-point contraction: these products and sums round
                // one by one, as onnxruntime's do.
                for (int64_t ox = 0; ox < outW; ++ox) {
                    const int64_t x1 = tx.i1[size_t(ox)], x2 = tx.i2[size_t(ox)];
                    const float dx1 = tx.d1[size_t(ox)], dx2 = tx.d2[size_t(ox)];
                    d[ox] = dx2 * dy2 * row1[x1] + dx1 * dy2 * row1[x2] + dx2 * dy1 * row2[x1] + dx1 * dy1 * row2[x2];
                }
            }
        });
        ctx.outputs[0] = std::move(y);
        return;
    }

    // Otherwise Resize is separable for nearest and (multi)linear, so apply a 1-D resize per changed axis.
    Tensor current = x;
    for (int a = 0; a < rank; ++a) {
        const int64_t in = x.dim(a), out = outShape[size_t(a)];
        const float s = scale[size_t(a)];
        if (out == in && s == 1.f && coord != "tf_crop_and_resize")
            continue;
        if (in == 0 && out > 0)
            ctx.fail("cannot resize an empty axis " + str(a));
        ResizeAxis m;
        for (int64_t o = 0; o < out; ++o) {
            float c = sourceCoordinate(o, a);
            if (coord == "tf_crop_and_resize" && (c < 0.f || c > float(in - 1))) {
                m.i0.push_back(-1);
                m.i1.push_back(-1);
                m.w1.push_back(0.f);
                continue;
            }
            if (mode == "nearest") {
                const int64_t i = std::clamp<int64_t>(nearestIndex(c, s < 1.f), 0, in - 1);
                m.i0.push_back(i);
                m.i1.push_back(i);
                m.w1.push_back(0.f);
            } else {
                c = std::clamp(c, 0.f, float(in - 1));
                const int64_t i0 = std::min<int64_t>(int64_t(c), in - 1);
                const int64_t i1 = std::min<int64_t>(i0 + 1, in - 1);
                m.i0.push_back(i0);
                m.i1.push_back(i1);
                m.w1.push_back(c - float(i0));
            }
        }
        Shape shape = current.shape();
        shape[size_t(a)] = out;
        Tensor next(DType::Float32, shape);
        int64_t outer = 1, inner = 1;
        for (int d = 0; d < a; ++d)
            outer *= shape[size_t(d)];
        for (int d = a + 1; d < rank; ++d)
            inner *= shape[size_t(d)];
        const float *src = current.f32();
        float *dst = next.f32();
        const int threads = threadsFor(ctx, next.numel());
        parallelRanges(threads, outer, 1, [&](int64_t pBegin, int64_t pEnd) {
            for (int64_t p = pBegin; p < pEnd; ++p) {
                const float *sp = src + p * in * inner;
                float *dp = dst + p * out * inner;
                for (int64_t o = 0; o < out; ++o) {
                    float *d = dp + o * inner;
                    const int64_t i0 = m.i0[size_t(o)], i1 = m.i1[size_t(o)];
                    const float w = m.w1[size_t(o)];
                    if (i0 < 0) {
                        std::fill(d, d + inner, extrapolation);
                    } else if (w == 0.f) {
                        std::copy(sp + i0 * inner, sp + (i0 + 1) * inner, d);
                    } else {
                        const float *r0 = sp + i0 * inner, *r1 = sp + i1 * inner;
                        for (int64_t i = 0; i < inner; ++i)
                            d[i] = r0[i] + w * (r1[i] - r0[i]);
                    }
                }
            }
        });
        current = next;
    }
    ctx.outputs[0] = current; // x itself when nothing changes, like Identity
}

// ---- Constants and types ---------------------------------------------------------------------------------

void constantOp(OpContext &ctx)
{
    const Node &n = ctx.node;
    if (n.hasAttr("value")) {
        const Attribute &a = n.attrs.at("value");
        if (a.kind != Attribute::Kind::Tensor)
            ctx.fail("attribute 'value' is not a tensor");
        ctx.outputs[0] = a.t;
    } else if (n.hasAttr("value_float")) {
        ctx.outputs[0] = Tensor::scalar(n.attrFloat("value_float", 0.f));
    } else if (n.hasAttr("value_floats")) {
        const std::vector<float> v = n.attrFloats("value_floats");
        ctx.outputs[0] = Tensor::fromFloats({int64_t(v.size())}, v);
    } else if (n.hasAttr("value_int")) {
        ctx.outputs[0] = Tensor::fromInt64s({}, {n.attrInt("value_int", 0)});
    } else if (n.hasAttr("value_ints")) {
        const std::vector<int64_t> v = n.attrInts("value_ints");
        ctx.outputs[0] = Tensor::fromInt64s({int64_t(v.size())}, v);
    } else {
        ctx.fail("no supported value attribute (value, value_float(s), value_int(s))");
    }
}

void castOp(OpContext &ctx)
{
    const Tensor &input = ctx.input(0);
    const int64_t to = ctx.node.attrInt("to", -1);
    // castTo takes the 16-bit floats through float32, which holds their values exactly; the bool case below
    // needs them widened first.
    const Tensor x = isHalfType(input.dtype()) && to == 9 ? input.castTo(DType::Float32) : input;
    switch (to) {
    case 1:
    case 11: // double: computed in float32
        ctx.outputs[0] = x.castTo(DType::Float32);
        break;
    case 2: ctx.outputs[0] = x.castTo(DType::UInt8); break;
    case 3: ctx.outputs[0] = x.castTo(DType::Int8); break;
    case 6: ctx.outputs[0] = x.castTo(DType::Int32); break;
    case 7: ctx.outputs[0] = x.castTo(DType::Int64); break;
    case 10: ctx.outputs[0] = x.castTo(DType::Float16); break;
    case 16: ctx.outputs[0] = x.castTo(DType::BFloat16); break;
    case 9: { // bool: nonzero → 1, stored as uint8
        Tensor out(DType::UInt8, x.shape());
        visitDType(x.dtype(), [&](auto zero) {
            using T = decltype(zero);
            const T *src = x.data<T>();
            for (int64_t i = 0; i < x.numel(); ++i)
                bytesOf(out)[i] = src[i] != T(0) ? 1 : 0;
        });
        ctx.outputs[0] = out;
        break;
    }
    default: ctx.fail("cast to TensorProto type " + str(to) + " is not supported (1, 2, 3, 6, 7, 9, 10, 11, 16)");
    }
}

void castLikeOp(OpContext &ctx)
{
    ctx.outputs[0] = ctx.input(0).castTo(ctx.input(1).dtype());
}

void shapeOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    const int64_t rank = x.rank();
    int64_t start = ctx.node.attrInt("start", 0), end = ctx.node.attrInt("end", rank);
    if (start < 0)
        start += rank;
    if (end < 0)
        end += rank;
    start = std::clamp<int64_t>(start, 0, rank);
    end = std::clamp<int64_t>(end, 0, rank);
    std::vector<int64_t> dims;
    for (int64_t d = start; d < end; ++d)
        dims.push_back(x.dim(int(d)));
    ctx.outputs[0] = Tensor::fromInt64s({int64_t(dims.size())}, dims);
}

// Gather and GatherElements: int64 / int32 indices into data of rank >= 1.
void checkGatherInputs(const OpContext &ctx, const Tensor &data, const Tensor &indices)
{
    if (indices.dtype() != DType::Int64 && indices.dtype() != DType::Int32)
        ctx.fail(std::string("indices must be int64 or int32, got ") + dtypeName(indices.dtype()));
    if (data.rank() == 0)
        ctx.fail("data must have rank >= 1");
}

void gatherOp(OpContext &ctx)
{
    const Tensor &data = ctx.input(0);
    const Tensor &indices = ctx.input(1);
    checkGatherInputs(ctx, data, indices);
    const int axis = normalizeAxis(ctx, ctx.node.attrInt("axis", 0), data.rank());
    const int64_t dim = data.dim(axis);
    std::vector<int64_t> idx = indices.toInt64Vector();
    for (int64_t &i : idx) {
        if (i < -dim || i >= dim)
            ctx.fail("index " + str(i) + " is out of range for axis " + str(axis) + " of size " + str(dim));
        if (i < 0)
            i += dim;
    }
    Shape outShape(data.shape().begin(), data.shape().begin() + axis);
    outShape.insert(outShape.end(), indices.shape().begin(), indices.shape().end());
    outShape.insert(outShape.end(), data.shape().begin() + axis + 1, data.shape().end());
    Tensor out = Tensor::uninitialized(data.dtype(), outShape);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; ++d)
        outer *= data.dim(d);
    for (int d = axis + 1; d < data.rank(); ++d)
        inner *= data.dim(d);
    const size_t block = size_t(inner) * dtypeSize(data.dtype());
    const Bytes *src = bytesOf(data);
    Bytes *dst = bytesOf(out);
    for (int64_t o = 0; o < outer; ++o)
        for (size_t j = 0; j < idx.size(); ++j)
            std::memcpy(dst + (size_t(o) * idx.size() + j) * block, src + size_t(o * dim + idx[j]) * block, block);
    ctx.outputs[0] = out;
}

// GatherElements: out[i0, .., ik, ..] = data[i0, .., indices[i0, .., ik, ..], ..] with k = axis.
void gatherElementsOp(OpContext &ctx)
{
    const Tensor &data = ctx.input(0);
    const Tensor &indices = ctx.input(1);
    checkGatherInputs(ctx, data, indices);
    if (indices.rank() != data.rank())
        ctx.fail("indices " + shapeToString(indices.shape()) + " and data " + shapeToString(data.shape()) +
                 " must have the same rank");
    const int axis = normalizeAxis(ctx, ctx.node.attrInt("axis", 0), data.rank());
    for (int d = 0; d < data.rank(); ++d)
        if (d != axis && indices.dim(d) > data.dim(d))
            ctx.fail("indices " + shapeToString(indices.shape()) + " exceed data " + shapeToString(data.shape()) +
                     " in dimension " + str(d));
    const int64_t dim = data.dim(axis);
    const std::vector<int64_t> idx = indices.toInt64Vector();
    const std::vector<int64_t> dataStrides = stridesOf(data.shape());
    Tensor out = Tensor::uninitialized(data.dtype(), indices.shape());
    const size_t es = dtypeSize(data.dtype());
    const Bytes *src = bytesOf(data);
    Bytes *dst = bytesOf(out);
    std::vector<int64_t> pos(size_t(indices.rank()), 0);
    for (size_t i = 0; i < idx.size(); ++i) {
        int64_t k = idx[i];
        if (k < -dim || k >= dim)
            ctx.fail("index " + str(k) + " is out of range for axis " + str(axis) + " of size " + str(dim));
        if (k < 0)
            k += dim;
        int64_t off = 0;
        for (int d = 0; d < indices.rank(); ++d)
            off += (d == axis ? k : pos[size_t(d)]) * dataStrides[size_t(d)];
        std::memcpy(dst + i * es, src + size_t(off) * es, es);
        for (int d = indices.rank() - 1; d >= 0; --d) {
            if (++pos[size_t(d)] < indices.dim(d))
                break;
            pos[size_t(d)] = 0;
        }
    }
    ctx.outputs[0] = std::move(out);
}

void sizeOp(OpContext &ctx)
{
    ctx.outputs[0] = Tensor::fromInt64s({}, {ctx.input(0).numel()});
}

void constantOfShapeOp(OpContext &ctx)
{
    const std::vector<int64_t> dims = intsInput(ctx, 0, "shape");
    for (int64_t d : dims)
        if (d < 0)
            ctx.fail("shape has a negative dimension " + str(d));
    Tensor value = Tensor::scalar(0.f);
    if (ctx.node.hasAttr("value")) {
        const Attribute &a = ctx.node.attrs.at("value");
        if (a.kind != Attribute::Kind::Tensor || a.t.numel() != 1)
            ctx.fail("value must be a one-element tensor");
        value = a.t;
    }
    Tensor out = Tensor::uninitialized(value.dtype(), Shape(dims.begin(), dims.end()));
    const size_t es = dtypeSize(value.dtype());
    for (int64_t i = 0; i < out.numel(); ++i)
        std::memcpy(bytesOf(out) + size_t(i) * es, bytesOf(value), es);
    ctx.outputs[0] = std::move(out);
}

void rangeOp(OpContext &ctx)
{
    const Tensor &start = ctx.input(0), &limit = ctx.input(1), &delta = ctx.input(2);
    if (start.numel() != 1 || limit.numel() != 1 || delta.numel() != 1)
        ctx.fail("start, limit and delta must be scalars");
    if (start.dtype() != limit.dtype() || start.dtype() != delta.dtype())
        ctx.fail("start, limit and delta must have the same type");
    visitDType(start.dtype(), [&](auto zero) {
        using T = decltype(zero);
        const T s = start.data<T>()[0], l = limit.data<T>()[0], d = delta.data<T>()[0];
        if (d == T(0))
            ctx.fail("delta must not be 0");
        const double count = std::ceil((double(l) - double(s)) / double(d));
        if (!(count < 0x1p62)) // also NaN, from infinite start, limit or delta
            ctx.fail("start " + std::to_string(double(s)) + ", limit " + std::to_string(double(l)) + " and delta " +
                     std::to_string(double(d)) + " give no element count that fits (infinite, NaN or above 2^62)");
        const int64_t n = count <= 0 ? 0 : int64_t(count); // converting below -2^63 would be undefined
        Tensor out(start.dtype(), {n});
        for (int64_t i = 0; i < n; ++i)
            out.data<T>()[i] = T(s + T(i) * d);
        ctx.outputs[0] = out;
    });
}

void expandOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    const std::vector<int64_t> dims = intsInput(ctx, 1, "shape");
    const Shape outShape = broadcastShapes(ctx, x.shape(), Shape(dims.begin(), dims.end()));
    ctx.outputs[0] = broadcastTo(ctx, x, outShape);
}

void tileOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    const std::vector<int64_t> repeats = intsInput(ctx, 1, "repeats");
    if (int(repeats.size()) != x.rank())
        ctx.fail("repeats has " + str(int64_t(repeats.size())) + " values for rank " + str(x.rank()));
    Shape outShape(static_cast<size_t>(x.rank()));
    for (int d = 0; d < x.rank(); ++d) {
        if (repeats[size_t(d)] < 0)
            ctx.fail("repeats must not be negative");
        outShape[size_t(d)] = checkedMul(x.dim(d), repeats[size_t(d)]);
    }
    // The output first (checked against the memory budget): the index maps below are as long as its axes.
    Tensor out = Tensor::uninitialized(x.dtype(), outShape);
    ctx.outputs[0] = out;
    if (out.numel() == 0)
        return;
    std::vector<std::vector<int64_t>> maps(static_cast<size_t>(x.rank()));
    for (int d = 0; d < x.rank(); ++d)
        for (int64_t i = 0; i < outShape[size_t(d)]; ++i)
            maps[size_t(d)].push_back(i % x.dim(d));
    gatherByMaps(x, out, std::move(maps), nullptr);
}

} // namespace

void registerShapeOps(KernelTable &table)
{
    table["Flatten"] = {flattenOp, {9, 11, 13, 21}};
    table["Reshape"] = {reshapeOp, {5, 13, 14, 19, 21}};
    table["Transpose"] = {transposeOp, {1, 13, 21}};
    table["Concat"] = {concatOp, {4, 11, 13}};
    table["Split"] = {splitOp, {2, 11, 13, 18}};
    table["Slice"] = {sliceOp, {1, 10, 11, 13}};
    table["Squeeze"] = {squeezeOp, {1, 11, 13, 21}};
    table["Unsqueeze"] = {unsqueezeOp, {1, 11, 13, 21}};
    table["Pad"] = {padOp, {2, 11, 13, 18, 19, 21}};
    table["Resize"] = {resizeOp, {10, 11, 13, 18, 19}, kMaxOpset, "mode cubic; antialias"};
    // Upsample-9 is Resize-10 under another name; opset 10 deprecated it.
    table["Upsample"] = {resizeOp, {9}, 9};
    table["Constant"] = {constantOp, {9, 11, 12, 13, 19, 21}, kMaxOpset, "sparse_value; value_string(s)"};
    table["Identity"] = {identityOp, {1, 13, 14, 16, 19, 21}};
    table["Dropout"] = {dropoutOp, {7, 10, 12, 13, 22}, kMaxOpset, "training_mode (runs as the identity)"};
    table["Cast"] = {castOp, {9, 13, 19, 21}};
    table["CastLike"] = {castLikeOp, {15, 19, 21}};
    table["Shape"] = {shapeOp, {1, 13, 15, 19, 21}};
    table["Gather"] = {gatherOp, {1, 11, 13}};
    table["GatherElements"] = {gatherElementsOp, {11, 13}};
    table["Size"] = {sizeOp, {1, 13, 19, 21}};
    table["ConstantOfShape"] = {constantOfShapeOp, {9, 20, 21}};
    table["Range"] = {rangeOp, {11}};
    table["Expand"] = {expandOp, {8, 13}};
    table["Tile"] = {tileOp, {6, 13}};
}

} // namespace cw
