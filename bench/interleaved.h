// What the kernel benchmarks share (bench/ggml_kernels.cpp, bench/sparse24.cpp): variants of one product timed in
// interleaved rounds — each variant once per round, in an order that rotates between rounds, so that a slow patch
// of a noisy machine hits all alike — and the median over the rounds.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <vector>

namespace bench {

inline double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

// Reads the buffer, so that what was cached before is evicted.
inline void evict(const std::vector<float> &buffer)
{
    float sum = 0;
    for (size_t i = 0; i < buffer.size(); i += 16)
        sum += buffer[i];
    volatile float sink = sum;
    (void)sink;
}

// V has run() (a product), repeat and ms (milliseconds per product, one sample per round). Warm-up first; `cold`:
// the weights come from memory (`evictBuffer` is read before every sample, repeat 1); else a sample repeats the
// product until it takes ~2 ms. The order rotates by `stride` places per round.
template <typename V>
void timeInterleaved(std::vector<V> &variants, int rounds, size_t stride, bool cold, const std::vector<float> &evictBuffer)
{
    using Clock = std::chrono::steady_clock;
    const auto ms = [](Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); };
    for (V &v : variants) {
        v.run();
        const auto t0 = Clock::now();
        v.run();
        v.repeat = cold ? 1 : std::max(1, int(2.0 / std::max(1e-4, ms(t0))));
    }
    for (int r = 0; r < rounds; ++r)
        for (size_t i = 0; i < variants.size(); ++i) {
            V &v = variants[(i + size_t(r) * stride) % variants.size()];
            if (cold)
                evict(evictBuffer);
            const auto t0 = Clock::now();
            for (int k = 0; k < v.repeat; ++k)
                v.run();
            v.ms.push_back(ms(t0) / v.repeat);
        }
}

} // namespace bench
