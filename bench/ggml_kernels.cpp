// The block-format matrix products (core/quant/ggml_kernels.h) against the float32 product the language-model
// runner uses today (ops::parallelGemm, oneDNN's sgemm, on the dequantized weights) and against llama.cpp's
// own kernel for the same bytes: y[n, out] = x[n, in] · Wᵀ for the shapes of a 7B model's attention and MLP and
// of the demo model, n = 1 (generation) and 16 (a prompt), 1 and 2 threads.
//
// llama.cpp: its CPU backend built for AVX2 / FMA / F16C (libggml-cpu-haswell.so, the instruction set this
// build targets), through ggml_get_type_traits_cpu: from_float rounds the rows of x to its vec_dot_type, then
// vec_dot per (weight row, row of x), the weight rows split over threads as ours are. That is ggml's GEMV path;
// for prompts and for Q4_0 / Q4_K / Q2_K its mul_mat may instead repack the weights or call llamafile's sgemm,
// which this does not measure.
//
// Every variant of one shape runs once per round, in an order that rotates between rounds (bench/interleaved.h, so a
// slow patch of a noisy machine hits all alike); medians over the rounds. A 7B model does not stay in cache
// between two uses of a matrix, so for the 7B shapes a 256 MiB buffer is read before every sample and the
// weights come from memory; the demo model fits in cache, so its samples repeat a product until it takes
// ~2 ms and the weights stay warm. See bench/ggml_kernels.sh.
#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
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

// llama.cpp's ggml_type_traits_cpu (ggml-cpu.h).
using FromFloat = void (*)(const float *, void *, int64_t);
using VecDot = void (*)(int n, float *s, size_t bs, const void *x, size_t bx, const void *y, size_t by, int nrc);
struct LlamaTraits {
    FromFloat fromFloat;
    VecDot vecDot;
    int vecDotType;
    int64_t nrows;
};
using GetTraits = const LlamaTraits *(*)(int);

struct Matrix {
    int64_t out, in;
    const char *what;
    bool cold; // weights read from memory, not cache
};

struct Variant {
    uint32_t type; // ggml::F32: the float32 baseline
    bool llama;    // llama.cpp's vec_dot; else ours, interleaved or not
    bool interleaved;
    int threads;
    int64_t n;
    std::function<void()> run;
    int repeat = 1;
    std::vector<double> ms;
    double median() const { return bench::median(ms); }
};

} // namespace

int main(int argc, char **argv)
{
    const int rounds = argc > 1 ? std::atoi(argv[1]) : 15;
    GetTraits llamaTraits = nullptr;
    if (argc > 2) {
        void *lib = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
            std::fprintf(stderr, "%s\n", dlerror());
            return 1;
        }
        reinterpret_cast<void (*)()>(dlsym(lib, "ggml_cpu_init"))();
        llamaTraits = reinterpret_cast<GetTraits>(dlsym(lib, "ggml_get_type_traits_cpu"));
    }
    const std::vector<Matrix> shapes = {{4096, 4096, "7B attention", true},
                                        {11008, 4096, "7B MLP up", true},
                                        {384, 128, "demo QKV", false},
                                        {4096, 128, "demo head", false}};
    const std::vector<uint32_t> types = {ggml::F16,  ggml::Q8_0, ggml::Q6_K, ggml::Q5_K, ggml::Q5_0,
                                         ggml::Q4_K, ggml::Q4_0, ggml::Q3_K, ggml::Q2_K};
    const std::vector<float> evictBuffer(size_t(64) << 20, 1.f); // 256 MiB
    constexpr int64_t maxN = 16;
    const std::pair<int64_t, int> configs[] = {{1, 1}, {1, 2}, {maxN, 1}, {maxN, 2}};

    std::printf("| shape (out × in) | type | bits / weight | n = 1, 1 thread | n = 1, 2 threads | n = 16, 1 thread | "
                "n = 16, 2 threads |\n|---|---|---:|---:|---:|---:|---:|\n");
    std::string llamaTable;
    for (const Matrix &s : shapes) {
        std::mt19937 rng(uint32_t(s.out * 31 + s.in));
        std::normal_distribution<float> normal(0.f, 1.f);
        std::vector<float> w(size_t(s.out * s.in));
        for (float &v : w)
            v = 0.02f * normal(rng);
        std::vector<float> x(size_t(maxN * s.in));
        for (float &v : x)
            v = normal(rng);
        std::vector<uint32_t> usable;
        std::vector<std::vector<uint8_t>> bytes, llamaX;
        bytes.reserve(types.size());
        llamaX.reserve(types.size());
        for (uint32_t t : types) {
            if (s.in % ggml::typeTraits(t)->blockSize)
                continue; // rows of 128 are not whole k-quant super-blocks (llama-quantize falls back to Q5_0 / Q8_0)
            bytes.emplace_back(size_t(s.out * ggml::rowBytes(t, s.in)));
            ggml::quantizeRows(t, w.data(), bytes.back().data(), s.out, s.in);
            if (llamaTraits)
                llamaX.emplace_back(size_t(maxN * ggml::rowBytes(uint32_t(llamaTraits(int(t))->vecDotType), s.in)));
            usable.push_back(t);
        }
        // The float32 baseline: dequantized weights, as the runner holds a compressed model today (those of
        // Q8_0; their values do not change sgemm's speed).
        std::vector<float> wf(w.size());
        for (int64_t r = 0; r < s.out; ++r)
            ggml::dequantizeRow(ggml::Q8_0, bytes[1].data() + r * ggml::rowBytes(ggml::Q8_0, s.in),
                                wf.data() + r * s.in, s.in);
        std::vector<float> y(size_t(maxN * s.out));
        std::vector<std::unique_ptr<ggml::InterleavedRows>> interleaved(usable.size());
        for (size_t k = 0; k < usable.size(); ++k)
            if (ggml::InterleavedRows::supports(usable[k]))
                interleaved[k] = std::make_unique<ggml::InterleavedRows>(usable[k], bytes[k].data(), s.out, s.in);

        std::vector<Variant> variants;
        for (const auto &[n, threads] : configs) {
            variants.push_back({ggml::F32, false, false, threads, n, [&, n, threads] {
                                    ops::parallelGemm(threads, false, true, n, s.out, s.in, 1.f, x.data(), s.in,
                                                      wf.data(), s.in, 0.f, y.data(), s.out);
                                }});
            for (size_t k = 0; k < usable.size(); ++k) {
                const uint32_t t = usable[k];
                const uint8_t *wb = bytes[k].data();
                variants.push_back({t, false, false, threads, n, [&, t, wb, n, threads] {
                                        ggml::gemm(t, wb, s.out, s.in, x.data(), n, y.data(), threads);
                                    }});
                if (const ggml::InterleavedRows *rows = interleaved[k].get())
                    variants.push_back({t, false, true, threads, n, [&, rows, n, threads] {
                                            rows->gemm(x.data(), n, y.data(), threads);
                                        }});
                if (!llamaTraits)
                    continue;
                const LlamaTraits *lt = llamaTraits(int(t));
                const LlamaTraits *xt = llamaTraits(lt->vecDotType);
                uint8_t *xq = llamaX[k].data();
                const int64_t rb = ggml::rowBytes(t, s.in), xb = ggml::rowBytes(uint32_t(lt->vecDotType), s.in);
                variants.push_back({t, true, false, threads, n, [&, lt, xt, wb, xq, rb, xb, n, threads] {
                                        for (int64_t i = 0; i < n; ++i)
                                            xt->fromFloat(x.data() + i * s.in, xq + i * xb, s.in);
                                        // Threads for products of 2M multiply-adds and more, as ours.
                                        const bool split = double(s.out) * double(s.in) * double(n) >= 2e6;
                                        parallelRanges(split ? threads : 1, s.out, 64, [&](int64_t r0, int64_t r1) {
                                            for (int64_t j = r0; j < r1; ++j)
                                                for (int64_t i = 0; i < n; ++i)
                                                    lt->vecDot(int(s.in), &y[size_t(i * s.out + j)], 0, wb + j * rb,
                                                               0, xq + i * xb, 0, 1);
                                        });
                                    }});
            }
        }
        bench::timeInterleaved(variants, rounds, 7, s.cold, evictBuffer);
        const auto find = [&](uint32_t t, bool llama, int64_t n, int threads, bool inter = false) -> const Variant & {
            for (const Variant &v : variants)
                if (v.type == t && v.llama == llama && v.interleaved == inter && v.n == n && v.threads == threads)
                    return v;
            std::abort();
        };
        const double values = double(s.out * s.in);
        char shape[64];
        std::snprintf(shape, sizeof shape, "%lld × %lld (%s)", (long long)s.out, (long long)s.in, s.what);
        std::printf("| %s | float32 (sgemm) | 32 |", shape);
        for (const auto &[n, threads] : configs) {
            const double ms = find(ggml::F32, false, n, threads).median();
            std::printf(" %.3f ms, %.1f GB/s |", ms, 4 * values / ms / 1e6);
        }
        std::printf("\n");
        for (size_t k = 0; k < usable.size(); ++k) {
            const uint32_t t = usable[k];
            const double b = double(bytes[k].size());
            std::printf("| %s | %s | %.2f |", shape, ggml::typeName(t).c_str(), 8 * b / values);
            std::string row = "| " + std::string(shape) + " | " + ggml::typeName(t) + " |";
            for (const auto &[n, threads] : configs) {
                const double ms = find(t, false, n, threads).median();
                const double base = find(ggml::F32, false, n, threads).median();
                std::printf(" %.3f ms, %.1f GB/s, **%.2f×** |", ms, b / ms / 1e6, base / ms);
                if (llamaTraits) {
                    const double theirs = find(t, true, n, threads).median();
                    char cell[64];
                    std::snprintf(cell, sizeof cell, " %.3f ms, **%.2f×** |", theirs, theirs / ms);
                    row += cell;
                }
            }
            std::printf("\n");
            llamaTable += row + "\n";
            if (interleaved[k]) {
                std::printf("| %s | %s, interleaved | %.2f |", shape, ggml::typeName(t).c_str(),
                            8 * double(interleaved[k]->bytes()) / values);
                for (const auto &[n, threads] : configs) {
                    const double ms = find(t, false, n, threads, true).median();
                    const double base = find(ggml::F32, false, n, threads).median();
                    std::printf(" %.3f ms, %.1f GB/s, **%.2f×** |", ms, double(interleaved[k]->bytes()) / ms / 1e6,
                                base / ms);
                }
                std::printf("\n");
            }
        }
        std::fflush(stdout);
    }
    if (llamaTraits)
        std::printf("\nllama.cpp's vec_dot on the same bytes (its time, and ours as a speed ratio: above 1, ours is "
                    "faster):\n\n| shape (out × in) | type | n = 1, 1 thread | n = 1, 2 threads | n = 16, 1 thread | "
                    "n = 16, 2 threads |\n|---|---|---:|---:|---:|---:|\n%s",
                    llamaTable.c_str());
    return 0;
}
