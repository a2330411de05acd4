// Latency of the Inspect view's live what-if on one layer: fakeQuantize + weightError + computeHistogram
// (and, separately, pruneMagnitude) on a weight of a million values. The GUI recomputes these on every
// control change, so their sum must stay well under 50 ms. Median of N runs; see bench/whatif.sh.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "core/analysis/stats.h"
#include "core/compress/prune.h"
#include "core/quant/quantize.h"

using namespace cw;

namespace {

template <typename Fn> double medianMs(int runs, Fn &&fn)
{
    std::vector<double> ms;
    for (int i = 0; i < runs; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        fn();
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::nth_element(ms.begin(), ms.begin() + runs / 2, ms.end());
    return ms[size_t(runs / 2)];
}

} // namespace

int main(int argc, char **argv)
{
    const int runs = argc > 1 ? std::atoi(argv[1]) : 50;
    std::mt19937 rng(1);
    std::normal_distribution<float> dist(0.f, 0.05f);
    Tensor w = Tensor::uninitialized(DType::Float32, {1024, 1024});
    for (int64_t i = 0; i < w.numel(); ++i)
        w.data<float>()[i] = dist(rng);

    std::printf("| weight [1024, 1024], channel axis | setting | fakeQuantize | weightError | histogram (256 bins) | sum ms |\n");
    std::printf("|---|---|---:|---:|---:|---:|\n");
    struct Case {
        const char *name;
        QuantSpec spec;
    };
    const Case cases[] = {{"8-bit per-tensor symmetric", {8, Granularity::Tensor, 64, true}},
                          {"4-bit per-channel symmetric", {4, Granularity::Channel, 64, true}},
                          {"4-bit group-64 asymmetric", {4, Granularity::Group, 64, false}}};
    for (int axis : {0, 1}) {
        for (const Case &c : cases) {
            QuantResult r;
            const double q = medianMs(runs, [&] { r = fakeQuantize(w, c.spec, axis); });
            WeightError e;
            const double err = medianMs(runs, [&] { e = weightError(w, r.dequantized); });
            Histogram h;
            const double hist = medianMs(runs, [&] { h = computeHistogram(w.data<float>(), w.numel(), 256); });
            std::printf("| %d | %s | %.2f | %.2f | %.2f | %.2f |\n", axis, c.name, q, err, hist, q + err + hist);
        }
    }
    const double threshold = medianMs(runs, [&] { magnitudeThreshold(w, 0.5); });
    Tensor pruned;
    const double prune = medianMs(runs, [&] { pruned = pruneMagnitude(w, 0.5); });
    const double pruneErr = medianMs(runs, [&] { weightError(w, pruned); });
    std::printf("\npruning what-if (ratio 0.5): magnitudeThreshold %.2f ms, pruneMagnitude %.2f ms, weightError %.2f ms\n",
                threshold, prune, pruneErr);
    return 0;
}
