// Sparse execution of layers with pruned constant weights (not a public header).
//
// A Session looks at every Gemm whose B is a float initializer, and every MatMul whose B is a 2-D one (a Gemm's B
// without transB; A's batch dimensions become rows), once, at construction: when enough of the weight
// is zero, it keeps a sparse form of it — compressed sparse rows (rows = output features, columns = the
// reduction) and, where whole blocks of kBlock outputs at one input are zero (`"prune": {"method": "block"}`), a
// block form — and hands it to the kernel through OpContext::sparse. The forms therefore live as long as the
// Session and are built once per weight, not per call: unlike oneDNN's packed weights (ops/onednn.cpp), they
// cannot be validated against the plain values on every call, because reading the dense weight to compare costs
// as much as the dense product the sparse kernel replaces. A Session's initializers are constant for its lifetime
// (training runs the kernels without a Session and never gets a sparse form).
//
// Kernels:
//   Gemm  (and MatMul) y[M, N] = alpha * A[M, K] * W^T + beta * C, W the CSR [N, K]: fewer than 4 rows do a
//         gathered dot product per output feature; more rows transpose A to [K, M] once and accumulate each output
//         feature as a sum of contiguous rows held in vector registers (vectorised over the batch).
//   Gemm (and MatMul) on the block form: per group of kBlock outputs, the inputs whose block is not zero, each a
//         broadcast of a[m][k] times the block's kBlock values (two FMAs per row), up to four rows at a time; no
//         gathers, so every kept block costs what the dense product pays for it.
//   Conv  (group 1) y[m, :] = sum_k W[m, k] * col[k, :] over the im2col columns (the image itself for 1x1
//         stride-1 convolutions), one image at a time.
// Thresholds, measured with bench/sparse.sh against the dense kernels (docs/performance.md): a Gemm runs CSR
// from 89% zeros at batch < 4 (a gathered dot product does ~1 multiply-add per cycle, oneDNN's dense sgemv ~6)
// and from 75% at larger batches; the block form from 9% of zero blocks at any batch (at 10% it took
// 0.81-0.97 of the dense time at batch 1 and 0.49-0.77 at batch 64 on the heads' and the demos' shapes). Where
// both apply, the one with less work: a CSR nonzero costs as much as kCsrCostSingle (batch < 4) or
// kCsrCostBatch block weights. A Conv runs sparse from 79% zeros when its kernel is 1-D-like
// (1 x k or k x 1) and the image has at least 200 output positions: there oneDNN's dense convolution is slow (21-51
// multiply-adds per ns on oww-embedding's shapes) and im2col + CSR won from 80% zeros in every measured shape; on the
// demos' 3 x 3 convolutions it lost up to 90% zeros, and on images of few positions at every sparsity. A rule, not a
// timing of both paths: results must not depend on which path a run measured faster (a sweep's shards are merged
// bit for bit). CW_SPARSE=0 turns the sparse paths off, CW_SPARSE=1 forces CSR (Gemm and Conv) for every float
// initializer weight, for measurements.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/base/tensor.h"
#include "core/graph/graph.h"
#include "core/runtime/kernels.h"

namespace cw {

struct SparseWeight {
    int64_t rows = 0, cols = 0;     // [output features, reduction]
    double sparsity = 0;            // fraction of exact zeros
    std::vector<int32_t> rowStart;  // rows + 1 offsets into cols / values
    std::vector<int32_t> colIndex;
    std::vector<float> values;
    int64_t minPositions = 0;       // a Conv's: images of fewer output positions run dense
    // Block form (Gemm and MatMul only), built when whole blocks are zero: blocks of kBlock consecutive output
    // features at one input, as "prune": {"method": "block"} leaves them. For each group of kBlock rows, the inputs
    // whose block is not all zero (blockCol) and the block's kBlock values (blockValues, zeros past the last row).
    double blockSparsity = 0;       // fraction of all-zero blocks
    std::vector<int32_t> blockStart; // (rows + kBlock - 1) / kBlock + 1 offsets into blockCol
    std::vector<int32_t> blockCol;
    Tensor blockValues;              // float32, kBlock per entry of blockCol (64-byte aligned, a block per line)
};

namespace sparse {

inline constexpr double kGemmThresholdSingle = 0.89; // batch < 4 (so a ratio of 0.9, rounded, qualifies)
inline constexpr double kGemmThresholdBatch = 0.75;  // batch >= 4; also the least sparsity a CSR form is built for
inline constexpr double kConvThreshold = 0.79;      // a 1-D-like Conv (a ratio of 0.8, rounded, qualifies)
inline constexpr int64_t kConvMinPositions = 200;   // and its output positions per image
inline constexpr int64_t kBlock = 16;               // output features per block of the block form
inline constexpr double kBlockThreshold = 0.09;     // the least fraction of zero blocks a block form is built for
                                                    // (a ratio of 0.1, rounded, qualifies)
inline constexpr double kCsrCostSingle = 7;         // where both forms apply: a CSR nonzero's cost in block weights,
inline constexpr double kCsrCostBatch = 4;          // batch < 4 and larger batches

// CSR of a row-major [rows, cols] matrix (transposed: the matrix is stored [cols, rows]).
SparseWeight toCsr(const float *w, int64_t rows, int64_t cols, bool transposed);

// The sparse forms of node's weight where a sparse kernel may run it; null otherwise.
std::shared_ptr<const SparseWeight> prepare(const Node &node, const Graph &graph);

// Which kernel a Gemm or MatMul of M rows runs on this weight.
enum class GemmPath { Dense, Csr, Blocks };
GemmPath gemmPath(const SparseWeight &w, int64_t M);

// The block form of w (its CSR arrays left as they are).
void addBlocks(SparseWeight &w, const float *values, bool transposed);

// y[M, N] (+)= alpha * A[M, K] * W^T on the block form.
void gemmBlocks(const SparseWeight &w, int64_t M, const float *a, float alpha, bool accumulate, float *y, int threads);

// y[M, N] (+)= alpha * A[M, K] * W^T; accumulate: add to y (which holds beta * C), else overwrite.
void gemm(const SparseWeight &w, int64_t M, const float *a, float alpha, bool accumulate, float *y, int threads);

// One image: y[M, P] = W[M, K] * col[K, P] (+ bias[m]).
void convImage(const SparseWeight &w, const float *col, int64_t P, const float *bias, float *y);

} // namespace sparse
} // namespace cw
