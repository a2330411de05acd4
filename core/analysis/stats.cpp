// Weight statistics: per-chunk central moments merged pairwise (Pébay's update formulas), so chunks of
// every layer can be processed in any order on any thread and the result does not depend on the split
// beyond rounding. Each chunk is first reduced to its own mean and then to moments about that mean (two
// passes over data still in cache): raw power sums would lose the kurtosis of weights whose mean is tiny
// next to their spread to cancellation.
#include "core/analysis/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/base/error.h"
#include "core/base/parallel.h"
#include "core/graph/transform.h"

namespace cw {

namespace {

// Elements per work item: large enough to amortise the scheduling, small enough (256 KiB) to stay in L2
// between the moment pass and the outlier pass of computeTensorStats.
constexpr int64_t kChunk = 1 << 16;

struct Partial {
    int64_t n = 0;                  // finite values
    int64_t nan = 0, inf = 0, zeros = 0;
    double min = std::numeric_limits<double>::infinity();
    double max = -std::numeric_limits<double>::infinity();
    double mean = 0, m2 = 0, m3 = 0, m4 = 0; // sums of (x - mean)^k
};

Partial accumulate(const float *x, int64_t n)
{
    Partial p;
    double sum = 0;
    float lo = std::numeric_limits<float>::infinity(), hi = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        if (!std::isfinite(v)) {
            if (std::isnan(v))
                ++p.nan;
            else
                ++p.inf;
            continue;
        }
        ++p.n;
        sum += v;
        lo = std::min(lo, v);
        hi = std::max(hi, v);
        p.zeros += v == 0.f;
    }
    if (p.n == 0)
        return p;
    p.min = lo;
    p.max = hi;
    p.mean = sum / double(p.n);
    double m2 = 0, m3 = 0, m4 = 0, corr = 0;
    for (int64_t i = 0; i < n; ++i) {
        if (!std::isfinite(x[i]))
            continue;
        const double d = double(x[i]) - p.mean;
        const double d2 = d * d;
        corr += d;
        m2 += d2;
        m3 += d2 * d;
        m4 += d2 * d2;
    }
    // The rounding error of the mean (corr = n * (true mean - mean)) corrected to first order.
    const double c = corr / double(p.n);
    p.mean += c;
    p.m2 = m2 - double(p.n) * c * c;
    p.m3 = m3 - 3.0 * c * m2;
    p.m4 = m4 - 4.0 * c * m3;
    return p;
}

void merge(Partial &a, const Partial &b)
{
    a.nan += b.nan;
    a.inf += b.inf;
    a.zeros += b.zeros;
    if (b.n == 0)
        return;
    if (a.n == 0) {
        const int64_t nan = a.nan, inf = a.inf, zeros = a.zeros;
        a = b;
        a.nan = nan, a.inf = inf, a.zeros = zeros;
        return;
    }
    const double na = double(a.n), nb = double(b.n), n = na + nb;
    const double delta = b.mean - a.mean, d_n = delta / n, d_n2 = d_n * d_n;
    const double term = delta * d_n * na * nb;
    const double m4 = a.m4 + b.m4 + term * d_n2 * (na * na - na * nb + nb * nb) +
                      6.0 * d_n2 * (na * na * b.m2 + nb * nb * a.m2) + 4.0 * d_n * (na * b.m3 - nb * a.m3);
    const double m3 = a.m3 + b.m3 + term * d_n * (na - nb) + 3.0 * d_n * (na * b.m2 - nb * a.m2);
    a.m2 = a.m2 + b.m2 + term;
    a.m3 = m3;
    a.m4 = m4;
    a.mean += d_n * nb;
    a.n += b.n;
    a.min = std::min(a.min, b.min);
    a.max = std::max(a.max, b.max);
}

int64_t countOutliers(const float *x, int64_t n, double mean, double limit)
{
    int64_t count = 0;
    for (int64_t i = 0; i < n; ++i)
        count += std::isfinite(x[i]) && std::abs(double(x[i]) - mean) > limit;
    return count;
}

TensorStats finish(const Partial &p, int64_t outliers = 0)
{
    TensorStats s;
    s.count = p.n;
    s.nanCount = p.nan;
    s.infCount = p.inf;
    if (p.n == 0)
        return s;
    const double n = double(p.n);
    s.min = p.min;
    s.max = p.max;
    s.absMax = std::max(std::abs(p.min), std::abs(p.max));
    s.mean = p.mean;
    const double var = std::max(0.0, p.m2 / n);
    s.std = std::sqrt(var);
    s.kurtosis = var > 0 ? (p.m4 / n) / (var * var) - 3.0 : 0.0;
    s.zeroFraction = double(p.zeros) / n;
    s.outlierFraction = double(outliers) / n;
    return s;
}

double outlierLimit(const TensorStats &s, double k) { return s.std > 0 ? k * s.std : std::numeric_limits<double>::infinity(); }

} // namespace

TensorStats computeTensorStats(const float *data, int64_t n, double outlierK)
{
    const int64_t chunks = std::max<int64_t>(1, (n + kChunk - 1) / kChunk);
    std::vector<Partial> parts(static_cast<size_t>(chunks));
    const int threads = chunks > 1 ? resolveThreads(0) : 1;
    parallelFor(threads, chunks, [&](int64_t c) {
        const int64_t b = c * kChunk;
        parts[size_t(c)] = accumulate(data + b, std::min(n, b + kChunk) - b);
    });
    Partial total;
    for (const Partial &p : parts)
        merge(total, p);
    TensorStats s = finish(total);
    const double limit = outlierLimit(s, outlierK);
    if (s.count == 0 || !std::isfinite(limit))
        return s;
    std::vector<int64_t> outliers(static_cast<size_t>(chunks), 0);
    parallelFor(threads, chunks, [&](int64_t c) {
        const int64_t b = c * kChunk;
        outliers[size_t(c)] = countOutliers(data + b, std::min(n, b + kChunk) - b, s.mean, limit);
    });
    int64_t count = 0;
    for (int64_t o : outliers)
        count += o;
    s.outlierFraction = double(count) / double(s.count);
    return s;
}

std::optional<LayerStats::Stored> storedLevels(const Graph &g, const IntegerLayerWeight &iw)
{
    LayerStats::Stored s;
    s.op = iw.op;
    const Tensor &q = g.initializers.at(iw.q);
    s.dtype = q.dtype();
    if (q.numel() == 0)
        return std::nullopt;
    const IntegerRange range = integerRange(q);
    s.qmin = range.min;
    s.qmax = range.max;
    s.bits = range.bits;
    const std::vector<float> scales = g.initializers.at(iw.scale).toFloatVector();
    const auto [smin, smax] = std::minmax_element(scales.begin(), scales.end());
    s.scales = int64_t(scales.size());
    s.scaleMin = *smin;
    s.scaleMax = *smax;
    s.blockSize = iw.blockSize;
    if (!iw.zeroPoint.empty()) {
        const std::vector<float> z = g.initializers.at(iw.zeroPoint).toFloatVector();
        const auto [zmin, zmax] = std::minmax_element(z.begin(), z.end());
        s.zeroPointMin = int32_t(*zmin);
        s.zeroPointMax = int32_t(*zmax);
    }
    return s;
}

int64_t storedWeightBytes(const Graph &g, const IntegerLayerWeight &w)
{
    const Tensor &q = g.initializers.at(w.q);
    int64_t bytes = (q.numel() * integerRange(q).bits + 7) / 8;
    for (const std::string &t : {w.scale, w.zeroPoint})
        if (!t.empty())
            bytes += int64_t(g.initializers.at(t).byteSize());
    return bytes;
}

std::vector<LayerStats> computeLayerStats(const Model &model, const StatsOptions &options)
{
    // Float values of quantized and 16-bit weights; what the file stores is described per layer.
    const Model form = floatWeightForm(model);
    const Graph &g = form.graph;
    std::map<std::string, IntegerLayerWeight> stored;
    for (IntegerLayerWeight &iw : integerLayerWeights(model.graph))
        stored.emplace(iw.layer, std::move(iw));
    // Integer layers that stay integer (QLinearConv & co.): their float values, held here.
    std::vector<std::pair<const Node *, Tensor>> integerOnly;
    for (const auto &[name, iw] : stored)
        if (const Node *n = g.findNode(name); n && n->opType == iw.op)
            integerOnly.emplace_back(n, dequantizeLayerWeight(model.graph, iw));
    const auto isIntegerOnly = [&](const std::string &name) {
        return std::any_of(integerOnly.begin(), integerOnly.end(), [&](const auto &e) { return e.first->name == name; });
    };
    std::vector<LayerStats> result;
    std::vector<const Tensor *> weights;
    if (!options.layer.empty() && !findLayer(g, options.layer) && !isIntegerOnly(options.layer)) {
        if (const Node *n = g.findNode(options.layer))
            throw Error("node '" + n->name + "' (" + n->opType + ") has no weight tensor of rank >= 2");
        throw Error("no node named '" + options.layer + "' in " + model.sourcePath);
    }
    const auto add = [&](const Node &node, const std::string &tensor, const Tensor *w, int channelAxis) {
        if (!options.layer.empty() && node.name != options.layer)
            return;
        LayerStats ls;
        ls.tensor = tensor;
        ls.name = node.name;
        ls.op = node.opType;
        ls.shape = w->shape();
        ls.channelAxis = channelAxis;
        ls.params = w->numel();
        if (auto s = stored.find(node.name); s != stored.end()) {
            ls.tensor = s->second.q;
            ls.stored = storedLevels(model.graph, s->second);
        }
        result.push_back(std::move(ls));
        weights.push_back(w);
    };
    for (const LayerNode &layer : layerNodes(g)) {
        const Tensor *w = &g.initializers.at(layer.weight);
        add(*layer.node, layer.weight, w, outputChannelAxis(*layer.node, w->shape()));
    }
    for (const auto &[node, w] : integerOnly) {
        // Output channels: QLinearConv's and a transB QGemm's first axis, else the last (a [K, N] matrix).
        const bool columns = node->opType == "QLinearMatMul" || (node->opType == "QGemm" && node->attrInt("transB", 0) == 0);
        add(*node, {}, &w, columns ? w.rank() - 1 : 0);
    }
    const int threads = resolveThreads(options.threads);

    // Channels must be contiguous for the chunked sweep: weights whose output channels are not the leading
    // axis (ConvTranspose, Gemm with transB = 0, MatMul) are copied as [channels, rest] first.
    std::vector<Tensor> channelMajor(result.size());
    std::vector<int64_t> channels(result.size(), 1);
    parallelFor(threads, int64_t(result.size()), [&](int64_t l) {
        const LayerStats &ls = result[size_t(l)];
        const Tensor &w = *weights[size_t(l)];
        const int64_t c = ls.shape[size_t(ls.channelAxis)];
        channels[size_t(l)] = c;
        if (ls.channelAxis == 0 || !options.perChannel) {
            channelMajor[size_t(l)] = w;
            return;
        }
        int64_t outer = 1, inner = 1;
        for (int a = 0; a < ls.channelAxis; ++a)
            outer *= ls.shape[size_t(a)];
        for (size_t a = size_t(ls.channelAxis) + 1; a < ls.shape.size(); ++a)
            inner *= ls.shape[a];
        Tensor t = Tensor::uninitialized(DType::Float32, {c, outer * inner});
        const float *src = w.data<float>();
        float *dst = t.data<float>();
        for (int64_t o = 0; o < outer; ++o)
            for (int64_t ch = 0; ch < c; ++ch)
                std::copy_n(src + (o * c + ch) * inner, inner, dst + (ch * outer + o) * inner);
        channelMajor[size_t(l)] = t;
    });

    // Work items: pieces of at most kChunk elements that never straddle a channel.
    struct Piece {
        size_t layer;
        int64_t channel, begin, end;
    };
    std::vector<Piece> pieces;
    for (size_t l = 0; l < result.size(); ++l) {
        const int64_t n = result[l].params;
        const int64_t c = options.perChannel ? channels[l] : 1;
        const int64_t per = c > 0 ? n / c : 0;
        for (int64_t ch = 0; ch < c; ++ch) {
            const int64_t begin = ch * per, end = begin + per;
            if (per == 0)
                pieces.push_back({l, ch, begin, end}); // an empty channel still gets its (empty) statistics
            for (int64_t b = begin; b < end; b += kChunk)
                pieces.push_back({l, ch, b, std::min(end, b + kChunk)});
        }
    }
    std::vector<Partial> parts(pieces.size());
    parallelFor(threads, int64_t(pieces.size()), [&](int64_t i) {
        const Piece &p = pieces[size_t(i)];
        parts[size_t(i)] = accumulate(channelMajor[p.layer].data<float>() + p.begin, p.end - p.begin);
    });

    // Merge in piece order, so the result does not depend on the thread count.
    std::vector<std::vector<Partial>> channelParts(result.size());
    std::vector<Partial> layerParts(result.size());
    for (size_t l = 0; l < result.size(); ++l)
        channelParts[l].resize(size_t(options.perChannel ? channels[l] : 0));
    for (size_t i = 0; i < pieces.size(); ++i) {
        const Piece &p = pieces[i];
        if (options.perChannel)
            merge(channelParts[p.layer][size_t(p.channel)], parts[i]);
        else
            merge(layerParts[p.layer], parts[i]);
    }
    for (size_t l = 0; l < result.size(); ++l) {
        if (options.perChannel)
            for (const Partial &cp : channelParts[l])
                merge(layerParts[l], cp);
        result[l].all = finish(layerParts[l]);
        for (const Partial &cp : channelParts[l])
            result[l].channels.push_back(finish(cp));
    }

    // Outlier sweep: needs each channel's and each layer's mean and std.
    std::vector<std::pair<int64_t, int64_t>> outliers(pieces.size());
    parallelFor(threads, int64_t(pieces.size()), [&](int64_t i) {
        const Piece &p = pieces[size_t(i)];
        const LayerStats &ls = result[p.layer];
        const float *x = channelMajor[p.layer].data<float>() + p.begin;
        const int64_t n = p.end - p.begin;
        const double layerLimit = outlierLimit(ls.all, options.outlierK);
        outliers[size_t(i)].first = std::isfinite(layerLimit) ? countOutliers(x, n, ls.all.mean, layerLimit) : 0;
        if (options.perChannel) {
            const TensorStats &cs = ls.channels[size_t(p.channel)];
            const double limit = outlierLimit(cs, options.outlierK);
            outliers[size_t(i)].second = std::isfinite(limit) ? countOutliers(x, n, cs.mean, limit) : 0;
        }
    });
    std::vector<int64_t> layerOutliers(result.size(), 0);
    std::vector<std::vector<int64_t>> channelOutliers(result.size());
    for (size_t l = 0; l < result.size(); ++l)
        channelOutliers[l].assign(result[l].channels.size(), 0);
    for (size_t i = 0; i < pieces.size(); ++i) {
        layerOutliers[pieces[i].layer] += outliers[i].first;
        if (options.perChannel)
            channelOutliers[pieces[i].layer][size_t(pieces[i].channel)] += outliers[i].second;
    }
    for (size_t l = 0; l < result.size(); ++l) {
        LayerStats &ls = result[l];
        if (ls.all.count > 0)
            ls.all.outlierFraction = double(layerOutliers[l]) / double(ls.all.count);
        for (size_t c = 0; c < ls.channels.size(); ++c)
            if (ls.channels[c].count > 0)
                ls.channels[c].outlierFraction = double(channelOutliers[l][c]) / double(ls.channels[c].count);
    }
    return result;
}

Histogram computeHistogram(const float *data, int64_t n, int bins, double lo, double hi)
{
    if (bins < 1)
        throw Error("a histogram needs at least one bin, got " + std::to_string(bins));
    Histogram h;
    h.counts.assign(size_t(bins), 0);
    // Single-threaded on purpose: a million weights take ~2 ms, and on a loaded machine a helper thread
    // preempted in the middle of its share made the parallel version slower (4-10 ms) than this.
    if (lo == 0 && hi == 0) {
        float mn = std::numeric_limits<float>::infinity(), mx = -mn;
        // Branch-free so it vectorises: NaN and +-Inf fail |v| <= FLT_MAX.
        for (int64_t i = 0; i < n; ++i) {
            const float v = data[i];
            const bool finite = std::abs(v) <= std::numeric_limits<float>::max();
            mn = finite && v < mn ? v : mn;
            mx = finite && v > mx ? v : mx;
        }
        if (mn > mx) // nothing finite: an empty unit range around zero
            mn = mx = 0;
        if (mn == mx) {
            lo = double(mn) - 0.5;
            hi = double(mx) + 0.5;
        } else {
            lo = mn;
            hi = mx;
        }
    } else if (!(lo < hi) || !std::isfinite(lo) || !std::isfinite(hi)) {
        throw Error("histogram range [" + std::to_string(lo) + ", " + std::to_string(hi) + "] is empty");
    }
    h.lo = lo;
    h.hi = hi;
    const double scale = double(bins) / (hi - lo);
    int64_t *counts = h.counts.data();
    for (int64_t i = 0; i < n; ++i) {
        const double v = data[i];
        if (v >= lo && v <= hi)
            ++counts[std::min<int64_t>(bins - 1, int64_t((v - lo) * scale))];
        else if (std::isnan(v))
            ++h.nanCount;
        else if (std::isinf(v))
            ++h.infCount;
        else if (v < lo)
            ++h.below;
        else
            ++h.above;
    }
    return h;
}

Histogram rebinHistogram(const Histogram &h, int bins)
{
    if (bins < 1)
        throw Error("a histogram needs at least one bin, got " + std::to_string(bins));
    Histogram out = h;
    out.counts.assign(size_t(bins), 0);
    const double from = h.binWidth(), to = out.binWidth();
    for (size_t i = 0; i < h.counts.size(); ++i) {
        const double centre = h.lo + (double(i) + 0.5) * from;
        const int64_t j = to > 0 ? int64_t(std::floor((centre - h.lo) / to)) : 0;
        out.counts[size_t(std::clamp<int64_t>(j, 0, bins - 1))] += h.counts[i];
    }
    return out;
}

} // namespace cw
