// Calibration works on the strided value sample that collectActivations() keeps (at most 2^20 values per
// tensor) plus the exact extremes, so memory stays bounded however many samples are calibrated on; the
// histogram methods then cost O(bins^2) per tensor, independent of the sample count.
#include "core/compress/calibrate.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/analysis/activations.h"
#include "core/base/error.h"

namespace cw {

namespace {

constexpr int kBins = 2048;

// numpy.percentile's default ("linear"): position p / 100 * (n - 1) in the sorted values, interpolated.
double percentileOf(std::vector<float> v, double p)
{
    if (v.empty())
        return 0;
    const double pos = p / 100.0 * double(v.size() - 1);
    const size_t below = size_t(std::floor(pos));
    const size_t above = std::min(below + 1, v.size() - 1);
    std::nth_element(v.begin(), v.begin() + long(below), v.end());
    const double a = v[below];
    double b = a;
    if (above != below)
        b = *std::min_element(v.begin() + long(below) + 1, v.end());
    return a + (b - a) * (pos - double(below));
}

// The threshold (in bins) minimising the expected squared error of a grid with `steps` steps over
// [0, threshold]: rounding noise step^2 / 12 for every value inside, the squared distance to the threshold
// for every value beyond it (taken at its bin centre).
int mseThresholdBins(const std::vector<double> &hist, int steps)
{
    const int n = int(hist.size());
    // suffix sums of count, count * centre and count * centre^2 (bin units), for the clipped part
    std::vector<double> c0(size_t(n) + 1, 0), c1(size_t(n) + 1, 0), c2(size_t(n) + 1, 0);
    for (int b = n - 1; b >= 0; --b) {
        const double centre = b + 0.5;
        c0[size_t(b)] = c0[size_t(b) + 1] + hist[size_t(b)];
        c1[size_t(b)] = c1[size_t(b) + 1] + hist[size_t(b)] * centre;
        c2[size_t(b)] = c2[size_t(b) + 1] + hist[size_t(b)] * centre * centre;
    }
    int best = n;
    double bestErr = std::numeric_limits<double>::infinity();
    for (int i = 1; i <= n; ++i) {
        const double t = i, step = t / steps;
        const double inside = (c0[0] - c0[size_t(i)]) * step * step / 12.0;
        // sum over clipped bins of count * (centre - t)^2
        const double clipped = c2[size_t(i)] - 2 * t * c1[size_t(i)] + t * t * c0[size_t(i)];
        const double err = inside + clipped;
        if (err < bestErr) {
            bestErr = err;
            best = i;
        }
    }
    return best;
}

} // namespace

std::vector<double> calibrationHistogram(const std::vector<float> &values, double top, int bins)
{
    std::vector<double> hist(static_cast<size_t>(bins), 0.0);
    if (!(top > 0))
        return hist;
    const double perUnit = bins / top;
    for (float v : values) {
        const double a = std::abs(double(v));
        if (!std::isfinite(a))
            continue;
        const int b = std::min(bins - 1, int(a * perUnit));
        hist[size_t(b)] += 1;
    }
    return hist;
}

int entropyThresholdBins(const std::vector<double> &histogram, int levels)
{
    std::vector<double> bins = histogram;
    const int n = int(bins.size());
    if (n < 2)
        return n;
    // As pytorch-quantization does for TensorRT's method: the zero bin (ReLU's zeros, a spike that no clipping
    // choice changes) is replaced by its neighbour so it does not dominate the divergence.
    bins[0] = bins[1];
    const int start = std::min(n, 128);
    std::vector<double> quantized(static_cast<size_t>(levels)), expanded(static_cast<size_t>(n)), reference(static_cast<size_t>(n));
    std::vector<int> nonEmpty(static_cast<size_t>(levels));
    double bestKl = std::numeric_limits<double>::infinity();
    int best = n;
    std::vector<double> tail(size_t(n) + 1, 0);
    for (int b = n - 1; b >= 0; --b)
        tail[size_t(b)] = tail[size_t(b) + 1] + bins[size_t(b)];
    for (int i = start; i <= n; ++i) {
        std::fill(quantized.begin(), quantized.end(), 0.0);
        std::fill(nonEmpty.begin(), nonEmpty.end(), 0);
        // bin b of the reference falls into quantization level floor(b * levels / i)
        for (int b = 0; b < i; ++b) {
            if (bins[size_t(b)] == 0)
                continue;
            const int q = int(int64_t(b) * levels / i);
            quantized[size_t(q)] += bins[size_t(b)];
            nonEmpty[size_t(q)] += 1;
        }
        double sumQ = 0, sumP = 0;
        for (int b = 0; b < i; ++b) {
            const int q = int(int64_t(b) * levels / i);
            expanded[size_t(b)] = bins[size_t(b)] == 0 ? 0.0 : quantized[size_t(q)] / nonEmpty[size_t(q)];
            reference[size_t(b)] = bins[size_t(b)];
            sumQ += expanded[size_t(b)];
        }
        reference[size_t(i) - 1] += tail[size_t(i)];
        for (int b = 0; b < i; ++b)
            sumP += reference[size_t(b)];
        if (!(sumP > 0) || !(sumQ > 0))
            continue;
        double kl = 0;
        for (int b = 0; b < i; ++b) {
            const double p = reference[size_t(b)] / sumP;
            if (p <= 0)
                continue;
            const double q = expanded[size_t(b)] / sumQ;
            if (q <= 0) {
                kl = std::numeric_limits<double>::infinity();
                break;
            }
            kl += p * std::log(p / q);
        }
        if (kl <= bestKl) { // ties: the last (widest) threshold, as pytorch-quantization picks
            bestKl = kl;
            best = i;
        }
    }
    return best;
}

ActivationRange calibrateRange(const std::vector<float> &values, double observedMin, double observedMax,
                               Calibration method, double percentile, int bits)
{
    const double lo0 = std::min(observedMin, 0.0), hi0 = std::max(observedMax, 0.0);
    const bool oneSided = observedMin >= 0;
    double lo = lo0, hi = hi0;
    const double top = std::max(-lo0, hi0);
    auto clipTo = [&](double t) {
        lo = std::max(lo0, -t);
        hi = std::min(hi0, t);
    };
    switch (method) {
    case Calibration::MinMax:
        break;
    case Calibration::Percentile: {
        if (oneSided) {
            hi = std::min(hi0, percentileOf(values, percentile));
        } else {
            std::vector<float> mags(values.size());
            for (size_t k = 0; k < values.size(); ++k)
                mags[k] = std::abs(values[k]);
            clipTo(percentileOf(std::move(mags), percentile));
        }
        break;
    }
    case Calibration::Mse:
    case Calibration::Entropy: {
        if (!(top > 0))
            break;
        const std::vector<double> hist = calibrationHistogram(values, top, kBins);
        int thresholdBins;
        if (method == Calibration::Mse)
            thresholdBins = mseThresholdBins(hist, oneSided ? (1 << bits) - 1 : ((1 << bits) - 1) / 2);
        else
            thresholdBins = entropyThresholdBins(hist, oneSided ? 1 << bits : 1 << (bits - 1));
        const double t = top * thresholdBins / kBins;
        if (oneSided)
            hi = std::min(hi0, t);
        else
            clipTo(t);
        break;
    }
    }
    // lo <= 0 <= hi, so a range of zero width is [0, 0] (a dead activation); it still needs a valid scale.
    if (!std::isfinite(lo) || !std::isfinite(hi))
        lo = 0, hi = 1;
    if (!(hi - lo > 0))
        hi = lo + 1;
    return {float(lo), float(hi)};
}

std::map<std::string, ActivationRange> calibrateActivations(const Session &session, const Dataset &data,
                                                            const std::vector<std::string> &values,
                                                            const ActivationQuantConfig &config,
                                                            const FeedOptions &inputs, const StopToken *stop,
                                                            const ProgressFn &progress)
{
    ActivationOptions options;
    options.inputs = inputs;
    const std::vector<ActivationSample> samples =
        collectActivations(session, data, config.samples, values, options, stop, progress);
    std::map<std::string, ActivationRange> ranges;
    for (const ActivationSample &s : samples)
        ranges[s.name] = calibrateRange(s.values, s.min, s.max, config.calibration, config.percentile, config.bits);
    return ranges;
}

} // namespace cw
