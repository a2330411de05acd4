// Fake quantization and magnitude pruning of one weight tensor. The Inspect view calls these on every
// slider move, so a million weights must take a few milliseconds: blocks are quantized in parallel, and
// each element costs a multiply, a round, a clamp and a multiply (no division, no branch).
#include "core/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "core/error.h"
#include "core/kernels.h"

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
    e.mse = noise / double(count);
    const double inf = std::numeric_limits<double>::infinity();
    if (noise == 0) {
        e.sqnrDb = inf;
        e.relativeError = 0;
    } else if (signal == 0) {
        e.sqnrDb = -inf;
        e.relativeError = inf;
    } else {
        e.sqnrDb = 10.0 * std::log10(signal / noise);
        e.relativeError = std::sqrt(noise / signal);
    }
    return e;
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

int64_t pruneCount(int64_t n, double ratio)
{
    if (!(ratio >= 0.0 && ratio <= 1.0))
        throw Error("pruning ratio must be between 0 and 1, got " + std::to_string(ratio));
    return std::min<int64_t>(n, std::llround(ratio * double(n)));
}

// |w| with NaN ranked above everything, so a NaN weight is never the one pruned.
inline float magnitude(float v) { return std::isnan(v) ? std::numeric_limits<float>::infinity() : std::abs(v); }

} // namespace

float magnitudeThreshold(const Tensor &w, double ratio)
{
    const int64_t n = w.numel();
    const int64_t k = pruneCount(n, ratio);
    if (k == 0)
        return 0.f;
    // The k-th smallest |w| by a radix select on the float bits (non-negative floats order like their bit
    // patterns): count the top 16 bits, then order only the bucket holding the k-th. nth_element over a
    // copy of a million magnitudes took 15-40 ms, too slow for the live pruning what-if.
    const float *src = w.data<float>();
    auto key = [](float v) {
        uint32_t b;
        std::memcpy(&b, &v, sizeof b);
        return std::min<uint32_t>(b & 0x7fffffffu, 0x7f800000u); // |v|, NaN as +Inf
    };
    std::vector<uint32_t> counts(1u << 16, 0);
    for (int64_t i = 0; i < n; ++i)
        ++counts[key(src[i]) >> 16];
    uint32_t bucket = 0;
    int64_t before = 0;
    while (before + counts[bucket] < k)
        before += counts[bucket++];
    std::vector<uint32_t> low;
    low.reserve(counts[bucket]);
    for (int64_t i = 0; i < n; ++i) {
        const uint32_t b = key(src[i]);
        if (b >> 16 == bucket)
            low.push_back(b & 0xffffu);
    }
    std::nth_element(low.begin(), low.begin() + (k - before - 1), low.end());
    const uint32_t bits = bucket << 16 | low[size_t(k - before - 1)];
    float t;
    std::memcpy(&t, &bits, sizeof t);
    return t;
}

Tensor pruneMagnitude(const Tensor &w, double ratio)
{
    const int64_t n = w.numel();
    const int64_t k = pruneCount(n, ratio);
    Tensor out = w.clone();
    if (k == 0)
        return out;
    const float t = magnitudeThreshold(w, ratio);
    float *dst = out.data<float>();
    int64_t below = 0;
    for (int64_t i = 0; i < n; ++i)
        below += magnitude(dst[i]) < t;
    int64_t ties = k - below; // weights at exactly the threshold still to prune, first ones first
    for (int64_t i = 0; i < n; ++i) {
        const float m = magnitude(dst[i]);
        if (m < t || (m == t && ties-- > 0))
            dst[i] = 0.f;
    }
    return out;
}

} // namespace cw
