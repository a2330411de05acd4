// Does a 2:4 kernel pay for a language model? A matrix pruned 2:4 (two of every four consecutive weights of a row
// zero, what `"prune": {"method": "nm"}` / Wanda / SparseGPT at 2:4 make) stored compressed — the two kept values
// of each group (float32, or float16) and their two positions (2 bits each, a byte per two groups) — and multiplied
// by a kernel that gathers the inputs of the kept positions (AVX2 gathers through a 256-entry table of offsets),
// against the dense float32 product the runner uses for float matrices (ops::parallelGemm, oneDNN's sgemm) and the
// block-format kernels of the same matrix (core/quant/ggml_kernels.h: Q8_0, Q4_0). y = x · Wᵀ for one row of x
// (generation) at the shapes of a 7B model's attention and MLP, weights read from memory (a 256 MiB buffer is read
// before every sample), and of the demo model, weights in cache (a sample repeats a product until it takes ~2 ms),
// 1 and 2 threads. Each 2:4 result is checked against the dense product of the pruned weights.
//
// Every variant of one shape runs once per round, in an order that rotates between rounds; medians over the
// rounds. See bench/sparse24.sh.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "bench/interleaved.h"
#include "core/base/parallel.h"
#include "core/quant/ggml_blocks.h"
#include "core/quant/ggml_kernels.h"
#include "core/runtime/ops/common.h"

using namespace cw;

namespace {

// A 2:4 matrix: per row, in/2 kept values and in/8 bytes of positions (low nibble: the group at 2k, high: 2k + 1;
// each nibble two 2-bit positions, the first kept weight's in the low bits).
struct Sparse24 {
    int64_t out = 0, in = 0;
    std::vector<float> values;
    std::vector<uint16_t> halves; // the values as float16
    std::vector<uint8_t> positions;
};

// offsets[b] = the input offsets (0..7) of the four kept weights that byte b encodes for two groups of four.
std::array<std::array<int32_t, 4>, 256> offsetTable()
{
    std::array<std::array<int32_t, 4>, 256> t{};
    for (int b = 0; b < 256; ++b)
        t[size_t(b)] = {b & 3, (b >> 2) & 3, 4 + ((b >> 4) & 3), 4 + ((b >> 6) & 3)};
    return t;
}
const std::array<std::array<int32_t, 4>, 256> kOffsets = offsetTable();

// Keeps the two largest |w| of every group of four (magnitude 2:4), the others set to zero in `w`.
Sparse24 prune24(std::vector<float> &w, int64_t out, int64_t in)
{
    Sparse24 s{out, in, {}, {}, std::vector<uint8_t>(size_t(out * in / 8), 0)};
    s.values.reserve(size_t(out * in / 2));
    for (int64_t r = 0; r < out; ++r)
        for (int64_t g = 0; g < in / 4; ++g) {
            float *v = &w[size_t(r * in + g * 4)];
            int a = 0, b = 1;
            if (std::fabs(v[b]) > std::fabs(v[a]))
                std::swap(a, b);
            for (int k = 2; k < 4; ++k) {
                if (std::fabs(v[k]) > std::fabs(v[a])) {
                    b = a;
                    a = k;
                } else if (std::fabs(v[k]) > std::fabs(v[b])) {
                    b = k;
                }
            }
            const int lo = std::min(a, b), hi = std::max(a, b);
            s.values.push_back(v[lo]);
            s.values.push_back(v[hi]);
            for (int k = 0; k < 4; ++k)
                if (k != lo && k != hi)
                    v[k] = 0.f;
            s.positions[size_t((r * in + g * 4) / 8)] |= uint8_t((lo | (hi << 2)) << ((g & 1) * 4));
        }
    s.halves.resize(s.values.size());
    for (size_t i = 0; i < s.values.size(); i += 8)
        _mm_storeu_si128(reinterpret_cast<__m128i *>(&s.halves[i]),
                         _mm256_cvtps_ph(_mm256_loadu_ps(&s.values[i]), _MM_FROUND_TO_NEAREST_INT));
    return s;
}

float hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// y = x · Wᵀ for one row x; rows split over threads. Every 16 inputs: 8 kept values and their offsets from two table
// entries; the 8 inputs they multiply either gathered from x (Gather), or picked from two loads of 8 inputs by two
// in-register permutes and a blend.
template <bool Half, bool Gather> void gemv24(const Sparse24 &s, const float *x, float *y, int threads)
{
    parallelRanges(threads, s.out, 64, [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
            const uint8_t *pos = &s.positions[size_t(r * s.in / 8)];
            const size_t base = size_t(r * s.in / 2);
            __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
            for (int64_t i = 0; i < s.in; i += 32) {
                for (int h = 0; h < 2; ++h) {
                    const int64_t at = i + h * 16;
                    const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i *>(kOffsets[pos[at / 8]].data()));
                    const __m128i hi =
                        _mm_loadu_si128(reinterpret_cast<const __m128i *>(kOffsets[pos[at / 8 + 1]].data()));
                    __m256 xv;
                    if constexpr (Gather) {
                        xv = _mm256_i32gather_ps(x + at, _mm256_set_m128i(_mm_add_epi32(hi, _mm_set1_epi32(8)), lo), 4);
                    } else {
                        const __m256i idx = _mm256_set_m128i(hi, lo);
                        xv = _mm256_blend_ps(_mm256_permutevar8x32_ps(_mm256_loadu_ps(x + at), idx),
                                             _mm256_permutevar8x32_ps(_mm256_loadu_ps(x + at + 8), idx), 0xF0);
                    }
                    __m256 wv;
                    if constexpr (Half)
                        wv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(&s.halves[base + size_t(at / 2)])));
                    else
                        wv = _mm256_loadu_ps(&s.values[base + size_t(at / 2)]);
                    (h ? acc1 : acc0) = _mm256_fmadd_ps(wv, xv, h ? acc1 : acc0);
                }
            }
            y[r] = hsum(_mm256_add_ps(acc0, acc1));
        }
    });
}

struct Matrix {
    int64_t out, in;
    const char *what;
    bool cold;
};

struct Variant {
    std::string name;
    double bits;
    int threads;
    std::function<void()> run;
    int repeat = 1;
    std::vector<double> ms;
    double median() const { return bench::median(ms); }
};

} // namespace

int main(int argc, char **argv)
{
    const int rounds = argc > 1 ? std::atoi(argv[1]) : 15;
    const std::vector<Matrix> shapes = {{4096, 4096, "7B attention", true},
                                        {11008, 4096, "7B MLP up", true},
                                        {4096, 11008, "7B MLP down", true},
                                        {512, 128, "demo MLP up", false},
                                        {4096, 128, "demo head", false}};
    const std::vector<float> evictBuffer(size_t(64) << 20, 1.f); // 256 MiB
    std::printf("| shape (out × in) | storage | bits / weight | 1 thread (ms) | 2 threads (ms) | speed-up over float32, "
                "1 / 2 threads |\n|---|---|---:|---:|---:|---:|\n");
    for (const Matrix &m : shapes) {
        std::mt19937 rng(uint32_t(m.out * 31 + m.in));
        std::normal_distribution<float> normal(0.f, 1.f);
        std::vector<float> w(size_t(m.out * m.in)), x(size_t(m.in)), y(size_t(m.out)), ref(size_t(m.out));
        for (float &v : w)
            v = 0.02f * normal(rng);
        for (float &v : x)
            v = normal(rng);
        const Sparse24 s = prune24(w, m.out, m.in); // w now holds the pruned weights, dense
        std::vector<std::vector<uint8_t>> blocks;
        const std::vector<uint32_t> types = {ggml::Q8_0, ggml::Q4_0};
        for (uint32_t t : types) {
            blocks.emplace_back(size_t(m.out * ggml::rowBytes(t, m.in)));
            ggml::quantizeRows(t, w.data(), blocks.back().data(), m.out, m.in);
        }
        // The 2:4 kernels give the dense product of the pruned weights.
        ops::parallelGemm(1, false, true, 1, m.out, m.in, 1.f, x.data(), m.in, w.data(), m.in, 0.f, ref.data(), m.out);
        for (int kernel = 0; kernel < 4; ++kernel) {
            const bool half = kernel & 1;
            switch (kernel) {
            case 0: gemv24<false, true>(s, x.data(), y.data(), 1); break;
            case 1: gemv24<true, true>(s, x.data(), y.data(), 1); break;
            case 2: gemv24<false, false>(s, x.data(), y.data(), 1); break;
            default: gemv24<true, false>(s, x.data(), y.data(), 1); break;
            }
            double err = 0, scale = 0;
            for (int64_t r = 0; r < m.out; ++r) {
                err = std::max(err, double(std::fabs(y[size_t(r)] - ref[size_t(r)])));
                scale = std::max(scale, double(std::fabs(ref[size_t(r)])));
            }
            if (err > (half ? 2e-3 : 1e-5) * std::max(1.0, scale)) {
                std::fprintf(stderr, "2:4 %s product differs from the dense one by %g (of %g)\n",
                             half ? "float16" : "float32", err, scale);
                return 1;
            }
        }

        std::vector<Variant> variants;
        for (int threads : {1, 2}) {
            variants.push_back({"float32, dense (sgemm)", 32, threads, [&, threads] {
                                    ops::parallelGemm(threads, false, true, 1, m.out, m.in, 1.f, x.data(), m.in,
                                                      w.data(), m.in, 0.f, y.data(), m.out);
                                }});
            variants.push_back({"2:4, float32 values, gather", 16 + 1, threads,
                                [&, threads] { gemv24<false, true>(s, x.data(), y.data(), threads); }});
            variants.push_back({"2:4, float16 values, gather", 8 + 1, threads,
                                [&, threads] { gemv24<true, true>(s, x.data(), y.data(), threads); }});
            variants.push_back({"2:4, float32 values, permute", 16 + 1, threads,
                                [&, threads] { gemv24<false, false>(s, x.data(), y.data(), threads); }});
            variants.push_back({"2:4, float16 values, permute", 8 + 1, threads,
                                [&, threads] { gemv24<true, false>(s, x.data(), y.data(), threads); }});
            for (size_t k = 0; k < types.size(); ++k) {
                const uint32_t t = types[k];
                const uint8_t *wb = blocks[k].data();
                variants.push_back({std::string(ggml::typeName(t)) + ", dense", 8.0 * double(ggml::rowBytes(t, m.in)) / double(m.in),
                                    threads, [&, t, wb, threads] {
                                        ggml::gemm(t, wb, m.out, m.in, x.data(), 1, y.data(), threads);
                                    }});
            }
        }
        bench::timeInterleaved(variants, rounds, 3, m.cold, evictBuffer);
        const size_t perThreads = variants.size() / 2;
        for (size_t i = 0; i < perThreads; ++i) {
            const Variant &one = variants[i], &two = variants[perThreads + i];
            std::printf("| %lld × %lld (%s) | %s | %.1f | %.3f | %.3f | %.2f× / %.2f× |\n", (long long)m.out,
                        (long long)m.in, m.what, one.name.c_str(), one.bits, one.median(), two.median(),
                        variants[0].median() / one.median(), variants[perThreads].median() / two.median());
        }
    }
    return 0;
}
