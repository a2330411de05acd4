// Fake quantization and magnitude pruning of one weight tensor. The Inspect view calls these on every
// slider move, so a million weights must take a few milliseconds: blocks are quantized in parallel, and
// each element costs a multiply, a round, a clamp and a multiply (no division, no branch).
#include "core/quant/quantize.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/base/error.h"
#include "core/base/parallel.h"

namespace cw {

namespace {

// The weight viewed as [outer, channels, inner] around its channel axis. A channel's elements, in the
// order groups cut them, are j = o * inner + i for o in [0, outer), i in [0, inner): the remaining axes
// flattened in order (for axis 0, simply the channel's contiguous row).
struct Layout {
    int64_t outer = 1, channels = 1, inner = 1;
    int64_t perChannel() const { return outer * inner; }
};

Layout layoutOf(const Shape &shape, int channelAxis, Granularity granularity)
{
    Layout l;
    if (granularity == Granularity::Tensor || shape.empty()) {
        l.inner = shapeNumel(shape);
        return l;
    }
    const int rank = int(shape.size());
    if (channelAxis < 0)
        channelAxis += rank;
    if (channelAxis < 0 || channelAxis >= rank)
        throw Error("channel axis " + std::to_string(channelAxis) + " is out of range for a weight of shape " +
                    shapeToString(shape));
    for (int a = 0; a < channelAxis; ++a)
        l.outer *= shape[size_t(a)];
    l.channels = shape[size_t(channelAxis)];
    for (int a = channelAxis + 1; a < rank; ++a)
        l.inner *= shape[size_t(a)];
    return l;
}

void checkSpec(const QuantSpec &spec)
{
    if (spec.bits < 2 || spec.bits > 8)
        throw Error("quantization to " + std::to_string(spec.bits) + " bits is not supported (2 to 8 bits)");
    if (spec.granularity == Granularity::Group && spec.groupSize < 1)
        throw Error("quantization group size must be at least 1, got " + std::to_string(spec.groupSize));
}

int64_t groupsPerChannel(const Layout &l, const QuantSpec &spec)
{
    if (spec.granularity != Granularity::Group)
        return 1;
    return std::max<int64_t>(1, (l.perChannel() + spec.groupSize - 1) / spec.groupSize);
}

// Calls fn(offset, length) for the contiguous runs of channel c's elements j in [jBegin, jEnd).
template <typename Fn> void forEachRun(const Layout &l, int64_t c, int64_t jBegin, int64_t jEnd, Fn &&fn)
{
    int64_t j = jBegin;
    while (j < jEnd) {
        const int64_t o = j / l.inner, i = j % l.inner;
        const int64_t len = std::min(l.inner - i, jEnd - j);
        fn((o * l.channels + c) * l.inner + i, len);
        j += len;
    }
}

QuantGrid gridFor(float lo, float hi, const QuantSpec &spec)
{
    QuantGrid g;
    if (spec.symmetric) {
        g.qmax = (1 << (spec.bits - 1)) - 1;
        g.qmin = -g.qmax;
        g.scale = std::max(std::abs(lo), std::abs(hi)) / float(g.qmax);
    } else {
        // The range always contains 0, so zero (padding, pruned weights) stays exactly representable.
        lo = std::min(lo, 0.f);
        hi = std::max(hi, 0.f);
        g.qmin = 0;
        g.qmax = (1 << spec.bits) - 1;
        g.scale = (hi - lo) / float(g.qmax);
    }
    // An all-zero (or all-non-finite) block, or one whose range underflows: any scale represents it.
    if (!(g.scale > 0) || !std::isfinite(1.f / g.scale))
        g.scale = 1.f;
    if (!spec.symmetric)
        g.zeroPoint = std::clamp(int32_t(std::nearbyint(-lo / g.scale)), g.qmin, g.qmax);
    return g;
}

// [outer, channels, inner] <-> [channels, outer, inner], in 8 x 8 tiles of (outer, channel) so both sides
// stay in cache: a channel axis that is not the leading one (MatMul's last axis) would otherwise be read
// one element per cache line. (Larger tiles thrash L1: their destination rows are 4 KiB apart.)
void transposeChannels(const float *src, float *dst, const Layout &l, bool toChannelMajor)
{
    constexpr int64_t tile = 8;
    for (int64_t o0 = 0; o0 < l.outer; o0 += tile)
        for (int64_t c0 = 0; c0 < l.channels; c0 += tile)
            for (int64_t o = o0; o < std::min(l.outer, o0 + tile); ++o)
                for (int64_t c = c0; c < std::min(l.channels, c0 + tile); ++c) {
                    const int64_t a = (o * l.channels + c) * l.inner, b = (c * l.outer + o) * l.inner;
                    if (l.inner == 1) // a plain 2-D transpose: no copy call per element
                        (toChannelMajor ? dst[b] : dst[a]) = toChannelMajor ? src[a] : src[b];
                    else if (toChannelMajor)
                        std::copy_n(src + a, l.inner, dst + b);
                    else
                        std::copy_n(src + b, l.inner, dst + a);
                }
}


// Channels on the last axis ([rows, channels], MatMul's and Gemm's transB = 0 weights): a block is a run of
// rows of one column, so both passes go over whole rows, in memory order, with per-column grids (no
// transpose, and the inner loops vectorise).
void quantizeChannelLast(const float *src, float *dst, int64_t rows, int64_t channels, int64_t groupRows,
                         const QuantSpec &spec, std::vector<QuantGrid> &grids)
{
    const int64_t groups = (rows + groupRows - 1) / groupRows;
    const size_t nc = static_cast<size_t>(channels);
    std::vector<float> lo(nc), hi(nc), inv(nc), zp(nc), scale(nc);
    for (int64_t g = 0; g < groups; ++g) {
        const int64_t r0 = g * groupRows, r1 = std::min(rows, r0 + groupRows);
        std::fill(lo.begin(), lo.end(), std::numeric_limits<float>::infinity());
        std::fill(hi.begin(), hi.end(), -std::numeric_limits<float>::infinity());
        for (int64_t r = r0; r < r1; ++r) {
            const float *row = src + r * channels;
            for (int64_t c = 0; c < channels; ++c) {
                const float v = row[c];
                const bool finite = std::abs(v) <= std::numeric_limits<float>::max();
                lo[size_t(c)] = finite && v < lo[size_t(c)] ? v : lo[size_t(c)];
                hi[size_t(c)] = finite && v > hi[size_t(c)] ? v : hi[size_t(c)];
            }
        }
        QuantGrid grid;
        for (int64_t c = 0; c < channels; ++c) {
            const bool empty = lo[size_t(c)] > hi[size_t(c)];
            grid = gridFor(empty ? 0.f : lo[size_t(c)], empty ? 0.f : hi[size_t(c)], spec);
            grids[size_t(c * groups + g)] = grid;
            inv[size_t(c)] = 1.f / grid.scale;
            zp[size_t(c)] = float(grid.zeroPoint);
            scale[size_t(c)] = grid.scale;
        }
        const float qmin = float(grid.qmin), qmax = float(grid.qmax);
        for (int64_t r = r0; r < r1; ++r) {
            const float *in = src + r * channels;
            float *out = dst + r * channels;
            for (int64_t c = 0; c < channels; ++c) {
                const float q = std::clamp(std::nearbyint(in[c] * inv[size_t(c)]) + zp[size_t(c)], qmin, qmax);
                out[c] = (q - zp[size_t(c)]) * scale[size_t(c)];
            }
        }
    }
}

} // namespace

QuantResult fakeQuantize(const Tensor &w, const QuantSpec &spec, int channelAxis)
{
    checkSpec(spec);
    if (w.dtype() != DType::Float32)
        throw Error(std::string("fake quantization needs a float32 weight, got ") + dtypeName(w.dtype()));
    const Layout original = layoutOf(w.shape(), channelAxis, spec.granularity);
    // Quantize channel-major: each block's weights are then one contiguous run (see transposeChannels).
    const bool transposed = original.outer > 1 && original.channels > 1;
    Layout l = original;
    if (original.outer > 1) { // with one channel, memory order already is channel-major
        l.inner = original.outer * original.inner;
        l.outer = 1;
    }
    const int64_t groups = groupsPerChannel(l, spec);
    const int64_t perChannel = l.perChannel();
    const int64_t groupLen = spec.granularity == Granularity::Group ? spec.groupSize : perChannel;
    QuantResult r;
    r.dequantized = Tensor::uninitialized(DType::Float32, w.shape());
    const int64_t blocks = l.channels * groups;
    r.grids.resize(size_t(blocks));
    const float *src = w.data<float>();
    float *dst = r.dequantized.data<float>();
    if (transposed && original.inner == 1) {
        const int64_t groupRows = spec.granularity == Granularity::Group ? spec.groupSize : original.outer;
        quantizeChannelLast(src, dst, original.outer, original.channels, groupRows, spec, r.grids);
        return r;
    }
    Tensor srcT, dstT;
    if (transposed) {
        srcT = Tensor::uninitialized(DType::Float32, {w.numel()});
        dstT = Tensor::uninitialized(DType::Float32, {w.numel()});
        transposeChannels(src, srcT.data<float>(), original, true);
        src = srcT.data<float>();
        dst = dstT.data<float>();
    }
    auto quantizeBlock = [&](int64_t b) {
        const int64_t c = b / groups, g = b % groups;
        const int64_t jBegin = g * groupLen, jEnd = std::min(perChannel, jBegin + groupLen);
        float lo = std::numeric_limits<float>::infinity(), hi = -lo;
        forEachRun(l, c, jBegin, jEnd, [&](int64_t off, int64_t len) {
            for (int64_t k = 0; k < len; ++k) {
                const float v = src[off + k];
                if (std::isfinite(v)) {
                    lo = std::min(lo, v);
                    hi = std::max(hi, v);
                }
            }
        });
        if (lo > hi)
            lo = hi = 0;
        const QuantGrid grid = gridFor(lo, hi, spec);
        r.grids[size_t(b)] = grid;
        const float inv = 1.f / grid.scale, zp = float(grid.zeroPoint), qmin = float(grid.qmin),
                    qmax = float(grid.qmax), scale = grid.scale;
        forEachRun(l, c, jBegin, jEnd, [&](int64_t off, int64_t len) {
            for (int64_t k = 0; k < len; ++k) {
                // NaN stays NaN through the clamp; +-Inf clamps to the grid's ends.
                const float q = std::clamp(std::nearbyint(src[off + k] * inv) + zp, qmin, qmax);
                dst[off + k] = (q - zp) * scale;
            }
        });
    };
    // About 16K elements per range so a per-tensor grid on a small layer does not wake other threads.
    const int64_t blockLen = std::max<int64_t>(1, std::min(perChannel, groupLen));
    parallelRanges(0, blocks, std::max<int64_t>(1, (1 << 14) / blockLen), [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b)
            quantizeBlock(b);
    });
    if (transposed)
        transposeChannels(dst, r.dequantized.data<float>(), original, false);
    return r;
}

WeightError weightError(const Tensor &original, const Tensor &approx)
{
    if (original.shape() != approx.shape())
        throw Error("weight error: shape " + shapeToString(approx.shape()) + " does not match " +
                    shapeToString(original.shape()));
    const float *a = original.data<float>();
    const float *b = approx.data<float>();
    const int64_t n = original.numel();
    double signal = 0, noise = 0;
    int64_t count = 0;
    for (int64_t i = 0; i < n; ++i) {
        if (!std::isfinite(a[i]))
            continue; // NaN / Inf weights are reported by the statistics, not folded into the error
        const double d = double(a[i]) - double(b[i]);
        signal += double(a[i]) * a[i];
        noise += d * d;
        ++count;
    }
    WeightError e;
    if (count == 0)
        return e;
    e.signal = signal;
    e.noise = noise;
    e.mse = noise / double(count);
    e.sqnrDb = sqnrFromPowers(signal, noise);
    e.relativeError = noise == 0    ? 0.0
                      : signal == 0 ? std::numeric_limits<double>::infinity()
                                    : std::sqrt(noise / signal);
    return e;
}

double sqnrFromPowers(double signal, double noise)
{
    const double inf = std::numeric_limits<double>::infinity();
    return noise == 0 ? inf : signal == 0 ? -inf : 10.0 * std::log10(signal / noise);
}

int64_t quantizedBytes(const Shape &shape, const QuantSpec &spec, int channelAxis)
{
    checkSpec(spec);
    const Layout l = layoutOf(shape, channelAxis, spec.granularity);
    const int64_t blocks = l.channels * groupsPerChannel(l, spec);
    const int64_t packed = (shapeNumel(shape) * spec.bits + 7) / 8;
    return packed + blocks * (4 + (spec.symmetric ? 0 : 1));
}

namespace {

enum class Mode { Tensor, Channel, Blocked };

// The weight viewed as [outer, D, inner] around the scale axis; block of element (o, d, i).
struct Blocking {
    Mode mode = Mode::Tensor;
    int axis = -1;
    int64_t outer = 1, dim = 1, inner = 1, block = 1, blocks = 1;
    int64_t blockOf(int64_t e) const
    {
        if (mode == Mode::Tensor)
            return 0;
        const int64_t i = e % inner, d = (e / inner) % dim, o = e / (inner * dim);
        if (mode == Mode::Channel)
            return d;
        return (o * blocks + d / block) * inner + i;
    }
};

Blocking blockingFor(const Shape &s, Mode mode, int axis, int64_t block)
{
    Blocking b;
    b.mode = mode;
    b.axis = mode == Mode::Tensor ? -1 : axis;
    if (mode == Mode::Tensor)
        return b;
    for (int a = 0; a < axis; ++a)
        b.outer *= s[size_t(a)];
    b.dim = s[size_t(axis)];
    for (size_t a = size_t(axis) + 1; a < s.size(); ++a)
        b.inner *= s[a];
    b.block = mode == Mode::Blocked ? block : b.dim;
    b.blocks = (b.dim + b.block - 1) / b.block;
    return b;
}

Shape scaleShapeOf(const Shape &s, const Blocking &b)
{
    if (b.mode == Mode::Tensor)
        return {};
    if (b.mode == Mode::Channel)
        return {b.dim};
    Shape out = s;
    out[size_t(b.axis)] = b.blocks;
    return out;
}

Blocking blockingOf(const IntegerWeight &w)
{
    if (w.axis < 0)
        return blockingFor(w.q.shape(), Mode::Tensor, -1, 0);
    return blockingFor(w.q.shape(), w.blockSize > 0 ? Mode::Blocked : Mode::Channel, w.axis, w.blockSize);
}

} // namespace

Tensor IntegerWeight::dequantize() const
{
    const Blocking b = blockingOf(*this);
    Tensor out(DType::Float32, q.shape());
    const float *s = scale.f32();
    float *o = out.f32();
    const bool s8 = q.dtype() == DType::Int8;
    for (int64_t e = 0; e < q.numel(); ++e) {
        const int64_t k = b.blockOf(e);
        const int32_t v = s8 ? q.data<int8_t>()[e] : q.data<uint8_t>()[e];
        const int32_t z = s8 ? zeroPoint.data<int8_t>()[k] : zeroPoint.data<uint8_t>()[k];
        o[e] = float(v - z) * s[k];
    }
    return out;
}

IntegerWeight quantizeWeightInteger(const Tensor &w, const QuantSpec &spec, int channelAxis, int reductionAxis)
{
    if (spec.bits < 2 || spec.bits > 8)
        throw Error("quantization to " + std::to_string(spec.bits) + " bits is not supported (2 to 8 bits)");
    if (w.dtype() != DType::Float32 || w.rank() < 1)
        throw Error("only float weights of rank >= 1 can be quantized");
    const Shape &s = w.shape();
    Mode mode = spec.granularity == Granularity::Tensor ? Mode::Tensor : Mode::Channel;
    int axis = channelAxis;
    int64_t block = 0;
    if (spec.granularity == Granularity::Group) {
        if (spec.groupSize < 1)
            throw Error("quantization group size must be at least 1");
        // A row that fits in one group is the per-channel grid; otherwise blocks along the reduction axis.
        if (w.numel() / s[size_t(channelAxis)] > spec.groupSize) {
            mode = Mode::Blocked;
            axis = reductionAxis;
            block = std::min<int64_t>(spec.groupSize, s[size_t(axis)]);
        }
    }
    const Blocking b = blockingFor(s, mode, axis, block);
    IntegerWeight r;
    r.axis = b.axis;
    r.blockSize = mode == Mode::Blocked ? b.block : 0;
    const Shape scaleShape = scaleShapeOf(s, b);
    const int64_t nBlocks = shapeNumel(scaleShape);
    std::vector<float> lo(static_cast<size_t>(nBlocks), std::numeric_limits<float>::infinity());
    std::vector<float> hi(static_cast<size_t>(nBlocks), -std::numeric_limits<float>::infinity());
    const float *x = w.f32();
    for (int64_t e = 0; e < w.numel(); ++e) {
        const float v = x[e];
        if (!std::isfinite(v))
            continue;
        const int64_t k = b.blockOf(e);
        lo[size_t(k)] = std::min(lo[size_t(k)], v);
        hi[size_t(k)] = std::max(hi[size_t(k)], v);
    }
    r.scale = Tensor(DType::Float32, scaleShape);
    r.zeroPoint = Tensor(spec.symmetric ? DType::Int8 : DType::UInt8, scaleShape);
    r.q = Tensor(spec.symmetric ? DType::Int8 : DType::UInt8, s);
    const size_t nb = static_cast<size_t>(nBlocks);
    std::vector<int32_t> qmin(nb), qmax(nb), zp(nb);
    for (int64_t k = 0; k < nBlocks; ++k) {
        float l = std::isfinite(lo[size_t(k)]) ? lo[size_t(k)] : 0.f, h = std::isfinite(hi[size_t(k)]) ? hi[size_t(k)] : 0.f;
        float scale;
        int32_t z = 0;
        if (spec.symmetric) {
            qmax[size_t(k)] = (1 << (spec.bits - 1)) - 1;
            qmin[size_t(k)] = -qmax[size_t(k)];
            scale = std::max(std::abs(l), std::abs(h)) / float(qmax[size_t(k)]);
        } else {
            l = std::min(l, 0.f);
            h = std::max(h, 0.f);
            qmin[size_t(k)] = 0;
            qmax[size_t(k)] = (1 << spec.bits) - 1;
            scale = (h - l) / float(qmax[size_t(k)]);
        }
        if (!(scale > 0) || !std::isfinite(1.f / scale))
            scale = 1.f;
        if (!spec.symmetric)
            z = std::clamp(int32_t(std::nearbyint(-l / scale)), qmin[size_t(k)], qmax[size_t(k)]);
        zp[size_t(k)] = z;
        r.scale.f32()[k] = scale;
        if (spec.symmetric)
            r.zeroPoint.data<int8_t>()[k] = 0;
        else
            r.zeroPoint.data<uint8_t>()[k] = uint8_t(z);
    }
    const float *sc = r.scale.f32();
    for (int64_t e = 0; e < w.numel(); ++e) {
        const int64_t k = b.blockOf(e);
        const float v = x[e];
        int32_t q;
        if (std::isnan(v))
            q = zp[size_t(k)];
        else
            q = int32_t(std::clamp(double(std::nearbyint(v / sc[k])) + zp[size_t(k)], double(qmin[size_t(k)]),
                                   double(qmax[size_t(k)])));
        if (spec.symmetric)
            r.q.data<int8_t>()[e] = int8_t(q);
        else
            r.q.data<uint8_t>()[e] = uint8_t(q);
    }
    return r;
}

ActivationGrid activationGrid(const ActivationRange &range)
{
    ActivationGrid g;
    const float lo = std::min(range.lo, 0.f), hi = std::max(range.hi, 0.f);
    g.scale = (hi - lo) / 255.f;
    if (!(g.scale > 0) || !std::isfinite(1.f / g.scale))
        g.scale = 1.f;
    g.zeroPoint = uint8_t(std::clamp(int(std::nearbyint(-lo / g.scale)), 0, 255));
    return g;
}

} // namespace cw
