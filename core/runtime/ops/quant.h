// Quantized operators: the shared integer arithmetic (not a public header; core/runtime/ops/quant.cpp, the fusions of
// core/runtime/fusion.cpp and the tests).
//
// The conventions every quantized kernel follows (docs/formats.md, "Quantized graphs"):
//   quantize     q = saturate(nearbyint(x / scale) + zp)            (round half to even, float division)
//   dequantize   x = float(q - zp) * scale
//   requantize   y = saturate(nearbyint(float(acc) * m) + y_zp),   m = x_scale * w_scale[c] / y_scale
// where acc is the exact int32 sum of (x - x_zp) * (w - w_zp) over the window, plus the int32 bias, and m is
// computed in float once per output channel. The fast kernels (oneDNN's u8 x s8 -> s32 gemm / convolution
// with VNNI) produce the same acc, then requantize with the same float operations (vectorised: convert,
// multiply, round to nearest even, add, clamp), so they equal the reference bit for bit.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/base/tensor.h"

namespace cw::quant {

// DynamicQuantizeLinear's parameters for data whose extremes are lo <= 0 <= hi, as onnxruntime computes them
// (float operations in this order): scale = (hi - lo) / 255, or 1 when hi == lo (all zeros); zero point =
// round-half-even(clamp(0 - lo / scale, 0, 255)).
inline void dynamicQuantParams(float lo, float hi, float *scale, int32_t *zeroPoint)
{
    *scale = hi == lo ? 1.f : (hi - lo) / 255.f;
    float z = 0.f - lo / *scale;
    z = z < 0.f ? 0.f : z > 255.f ? 255.f : z;
    *zeroPoint = int32_t(std::nearbyint(z));
}

// QuantizeLinear's arithmetic on one value; qmin / qmax are the output type's range.
inline int32_t quantize(float v, float scale, int32_t zeroPoint, int32_t qmin, int32_t qmax)
{
    float y = std::nearbyint(v / scale) + float(zeroPoint);
    y = y < float(qmin) ? float(qmin) : y > float(qmax) ? float(qmax) : y;
    return int32_t(y);
}

// QuantizeLinear's kernel with one scale and zero point over n values (the same results as `quantize`, eight at a
// time; a NaN becomes the zero point), into y of `type` (DType::UInt8 or DType::Int8, as an int).
void quantizeValues(const float *x, int64_t n, float scale, int32_t zeroPoint, bool toInt8, void *y);

// DequantizeLinear's arithmetic on one value.
inline float dequantize(int32_t q, float scale, int32_t zeroPoint) { return float(q - zeroPoint) * scale; }

// The requantization of one accumulator; qmin / qmax are the output type's range.
inline int32_t requantize(int32_t acc, float multiplier, int32_t zeroPoint, int32_t qmin, int32_t qmax)
{
    float v = std::nearbyint(float(acc) * multiplier) + float(zeroPoint);
    v = v < float(qmin) ? float(qmin) : v;
    v = v > float(qmax) ? float(qmax) : v;
    return int32_t(v);
}

// Σ_k (a[k] - aZp) · b[k] for u8 a and s8 b, exact in int32 (the products of a few rows, QGemm / QLinearMatMul):
// with AVX2 (any CPU the engine runs on), and with AVX-512 VNNI (only where the CPU has avx512vnni and avx512bw).
int32_t dotU8S8(const uint8_t *a, int32_t aZp, const int8_t *b, int64_t K);
int32_t dotU8S8Vnni(const uint8_t *a, int32_t aZp, const int8_t *b, int64_t K);

// Weights B [N, K] of a few-row product (QGemm / QLinearMatMul / MatMulInteger at batch 1) packed for gemvU8S8,
// once per Session (OpContext::preparedFromConstants). Columns past N and depths past K are zeros. The layouts, by
// the instructions that multiply them (GemvIsa):
//   Avx512Vnni (CPUs with AVX-512 VNNI): [N/16][K/4][16][4], any weights: vpdpbusd adds four exact u8 × s8 products
//     per int32 lane; the zero point of a is taken off with the column sums;
//   AvxVnni (CPUs with AVX-VNNI but not AVX-512: Intel's since Alder Lake): [N/8][K/4][8][4], any weights, the same
//     products on 256-bit vectors;
//   Avx2, eight columns at a time:
//     narrow (every weight within ±64): [N/8][K/4][8][4], u8 × s8 products added in pairs by vpmaddubsw, which
//       cannot saturate int16 (2 · 255 · 64 < 32768), then in int32 by vpmaddwd; the zero point of a is taken off
//       with the column sums;
//     wide: [N/8][K/2][8][2], widened to int16 and multiplied with a - aZp by vpmaddwd, exact.
enum class GemvIsa { Avx2, AvxVnni, Avx512Vnni };
// The best of them this CPU has (CW_MAX_ISA caps it, core/base/cpu.h).
GemvIsa gemvIsa();
struct GemvWeights {
    int64_t n = 0, k = 0, steps = 0; // steps: K / 4 (AVX-512 VNNI, AVX-VNNI, narrow) or K / 2, rounded up
    bool narrow = false;             // every weight within ±64
    GemvIsa isa = GemvIsa::Avx2;
    // 64-byte aligned (a Tensor): a load of 64 bytes across two cache lines costs about twice one within a line
    // (a 1 x 1536 x 32 product on a Sapphire Rapids core: 0.29 µs aligned, 0.45 µs 16 bytes off).
    Tensor packed;             // int8
    std::vector<int32_t> sums; // Σ_k w[n][k]
};
// b is [N, K] when transB, else [K, N]; the layout for `isa` (only where the CPU has it).
GemvWeights packGemv(const int8_t *b, int64_t N, int64_t K, bool transB, GemvIsa isa = GemvIsa::Avx2);
// acc[m][n] += Σ_k (a[m][k] - aZp) · w[n][k] for u8 a [M, K], exact in int32; the column blocks shared among up
// to `threads` threads.
void gemvU8S8(const GemvWeights &w, const uint8_t *a, int64_t M, int32_t aZp, int32_t *acc, int threads);
// gemvU8S8 of one row a = QuantizeLinear(x, scale, zeroPoint) to uint8 of the K float values x, the same sums: the
// values are quantized as quantizeValues does: in the Avx512Vnni layout 16 at a time between the loads of the
// weights, never stored whole; in the AvxVnni one first, into a row the thread keeps. False, and nothing done, where
// it does not apply (weights in the Avx2 layout; a scale whose reciprocal is not a normal float): quantize first then.
bool gemvQuantizedRow(const GemvWeights &w, const float *x, float scale, int32_t zeroPoint, int32_t *acc, int threads);

// Tests: when set, QLinearConv / QLinearMatMul / QGemm run the plain reference loops only (the fast paths
// are compared against them bit for bit). Not thread-safe against concurrent runs; tests only.
// CW_QKERNELS=ref in the environment has the same effect (measurements).
void setReferenceOnly(bool on);
bool referenceOnly();

} // namespace cw::quant
