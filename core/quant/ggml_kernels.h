// Matrix products on ggml's block formats without widening the weights to float32: llama.cpp's CPU method.
//
// gemm computes y[n, out] = x[n, in] · Wᵀ with W stored as `out` rows in a ggml type (core/quant/ggml_blocks.h),
// reading each weight block as it is stored. For a block-quantized type the rows of x are first rounded to
// 8 bits per block, once per call, as llama.cpp's CPU backend rounds them (its vec_dot_type):
//   - Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 weights: Q8_0 activation blocks of 32 (quantize_row_q8_0 on AVX2):
//     d = float16(amax / 127), codes round-to-nearest-even(x · 127 / amax);
//   - Q2_K, Q3_K, Q4_K, Q5_K, Q6_K weights: Q8_K activation blocks of 256 (quantize_row_q8_K):
//     iscale = -127 / (the value of largest magnitude), codes nearest(iscale · x) (at most 127),
//     d = 1 / iscale (float32), plus the sums of each 16 codes;
// then each weight block's integer codes are multiplied with the activation block's codes in integers
// (AVX2 maddubs / madd) and scaled once per block by the float scales. F32, F16 and BF16 weights multiply
// the activations as they are (llama.cpp rounds them to float16 for an F16 matrix; this does not, since it
// costs accuracy and saves nothing here). Q8_K weights (no model stores them) are widened a row at a time
// and take the float path.
//
// Accuracy contract. For a block-quantized type every output is
//     y[i, j] = Σ over the blocks b of the row:  d_x[i, b] · ( d_w[j, b] · Σ_k q_w q_x  +  m_w[j, b] · Σ_k q_x )
// with the integer sums exact (per sub-block where a type has sub-blocks): q_x the activation codes, q_w the
// weight's stored codes times their sub-block scale, m_w the block's offset where the type has one (Q4_1 /
// Q5_1: + m; Q2_K, Q4_K, Q5_K: − dmin · the sub-block's minimum; the constant code offsets of Q4_0, Q5_0,
// Q3_K and Q6_K are part of q_w). That is the
// float product of the dequantized weights (dequantizeRow) with the 8-bit-rounded activations, up to float32
// rounding and summation order: within 1e-5 of Σ_k |w̃_jk x̃_ik| (tests/test_ggml_kernels.cpp checks every
// output). It is NOT the float product with x itself. Rounding moves an activation by at most half a code
// plus the float16 rounding of d: 0.563 · amax_b / 127 for 32-blocks, 0.501 · amax_b / 127 for 256-blocks
// (amax_b: the largest |x| of the activation's block), so
//     |y[i, j] − Σ_k w̃_jk x_ik|  ≤  Σ_b (0.563 · amax_b / 127) · Σ_{k in b} |w̃_jk|     (32-blocks)
//     |y[i, j] − Σ_k w̃_jk x_ik|  ≤  Σ_b (0.501 · amax_b / 127) · Σ_{k in b} |w̃_jk|     (256-blocks)
// plus the float32 summation error; the first holds while d is a normal float16 (127 · 2^-14 ≤ amax_b ≤
// 127 · 65504). The errors are roundings of either sign, so the typical error is far below the bound: on
// Gaussian activations the relative error of y is about 0.6 % (32-blocks) and 0.8 % (256-blocks); with a few
// activation channels 10-40 times the rest (as a language model's are) 1.8 % and 5.7 %, since an outlier sets
// the step of its whole block (test_ggml_kernels's named budgets). x must be finite.
//
// Work: `out` is split over `threads` (core/base/parallel.h; the caller works too; products under ~2M
// multiply-adds stay on the calling thread). Within a thread's rows the weight rows are taken in groups that
// stay in cache while the rows of x pass over them four at a time, so each weight block is read from memory
// once per call and unpacked once per four rows of x. The kernels need x86-64-v3 (AVX2, FMA, F16C), which
// the build targets; a build without it (CW_NATIVE_ARCH=OFF) computes the same contract plainly (the
// activations rounded alike, each weight row widened, sums in double): correct, slow.
//
// Speed (docs/performance.md, "Language-model block-format kernels"): they pay where the weights come from
// memory, as a language model's do. A GEMV over a 7B model's matrices ran 1.9-2.2 times faster than float32
// sgemm on the dequantized weights in Q8_0, 3.5-3.7 times in Q4_K (F16: 1.3), at 0.8-1.0 of llama.cpp's own
// vec_dot; at n = 16 they ran at 0.8-1.8 times sgemm's speed. On small matrices that stay in cache (the
// demo's, rows of 128) sgemm is as fast or faster.
#pragma once

#include <cstdint>
#include <memory>

namespace cw::ggml {

// y[n, out] = x[n, in] · Wᵀ. w: `out` rows of rowBytes(type, in) bytes each (ggml's layout, as a GGUF file or
// quantizeRows stores them); x: n rows of `in` float32, row-major; y: n rows of `out`, overwritten. threads: as
// resolveThreads (<= 0: all hardware threads). cw::Error for a type that cannot be dequantized (ggml's
// IQ* types and the integer types), a row length that is not whole blocks, or a negative size.
void gemm(uint32_t type, const uint8_t *w, int64_t out, int64_t in, const float *x, int64_t n, float *y,
          int threads);

// A Q4_0, Q4_1, Q5_0, Q5_1 or Q8_0 matrix laid out for products with few rows of x, as a language model generating one token at
// a time computes them. gemm's layout puts a row's blocks side by side, so each output is a dot product whose
// eight lanes end in a horizontal sum, and a block is unpacked per row of x; here the blocks of eight
// consecutive rows are interleaved, four codes of each row side by side in 32 bytes, with the eight rows'
// scales as float32, so that one maddubs multiplies four codes of eight rows by four activation codes
// broadcast, each lane accumulates one output, and nothing is summed across lanes (llama.cpp's repacked
// "q4_0_8x8" layouts follow the same idea). The 4- and 5-bit codes stay unsigned (Q5's fifth bit joined into
// a byte), their offset (8, 16) or the block's minimum meets the activation block's code sum, and a block's
// products add in int16 before one widening (two for Q5). Each block takes, per row, 20 bytes in Q4_0 (18
// stored), 24 in Q4_1 (20), 36 in Q5_0 / Q8_0 (22 / 34) and 40 in Q5_1 (24); rows past `out` up to a multiple
// of eight are zeros. One row of x ran 1.5x faster than gemm on a 7B model's Q4_0 matrices and 3.7x on the demo language
// model's, which stay in cache (there 4.4x the float32 sgemm of the decoded weights); sixteen rows 2.1x
// (docs/performance.md, "Interleaved rows").
//
// gemm() has gemm's accuracy contract (the same integer sums; float32 summation in another order). A build
// without x86-64-v3 keeps the rows as they are and calls ggml::gemm.
class InterleavedRows {
public:
    static bool supports(uint32_t type); // Q4_0, Q4_1, Q5_0, Q5_1, Q8_0
    // w: `out` rows of rowBytes(type, in) bytes, as gemm takes them. cw::Error for a type supports() refuses, a
    // row that is not whole blocks, or a negative size.
    InterleavedRows(uint32_t type, const uint8_t *w, int64_t out, int64_t in);
    ~InterleavedRows();
    // y[n, out] = x[n, in] · Wᵀ, as ggml::gemm.
    void gemm(const float *x, int64_t n, float *y, int threads) const;
    uint32_t type() const { return m_type; }
    int64_t bytes() const { return m_bytes; } // of the interleaved layout

private:
    uint32_t m_type;
    int64_t m_out, m_in, m_bytes = 0;
    std::unique_ptr<uint8_t[]> m_data;
};

} // namespace cw::ggml
