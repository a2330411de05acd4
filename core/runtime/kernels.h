// Shared numeric building blocks for the forward kernels (ops/) and the training backward pass (core/train/).
// Work sharing across threads is core/base/parallel.h.
//
// All matrices are row-major float32. gemm() runs oneDNN's sgemm (Eigen maps as the fallback); when called
// outside an OpenMP parallel region it may use omp_get_max_threads() threads, inside one it runs
// single-threaded.
#pragma once

#include <cstdint>
#include <vector>

#include "core/graph/graph.h"

namespace cw {

// C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C   (op = transpose when the flag is set;
// lda/ldb/ldc are the row strides of A, B, C as stored).
void gemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
          const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

// 2-D convolution geometry, resolved from a Conv / ConvTranspose node's attributes (auto_pad included) and
// the input and weight shapes. 1-D convolutions are treated as H = 1.
struct ConvGeometry {
    int64_t batch = 0, inChannels = 0, inH = 0, inW = 0;
    int64_t outChannels = 0, outH = 0, outW = 0;
    int64_t kH = 1, kW = 1;
    int64_t strideH = 1, strideW = 1, dilationH = 1, dilationW = 1;
    int64_t padTop = 0, padLeft = 0, padBottom = 0, padRight = 0;
    int64_t group = 1;
    bool oneD = false;
    int64_t colRows() const { return inChannels / group * kH * kW; } // im2col rows per group
    int64_t colCols() const { return outH * outW; }
    Shape outputShape() const { return oneD ? Shape{batch, outChannels, outW} : Shape{batch, outChannels, outH, outW}; }
    bool isPointwise() const
    {
        return kH == 1 && kW == 1 && strideH == 1 && strideW == 1 && padTop == 0 && padLeft == 0 && padBottom == 0 &&
               padRight == 0;
    }
};

// x: [N, C, H, W] (or [N, C, L]), w: [M, C/group, kH, kW] (or [M, C/group, k]).
// Throws cw::Error on inconsistent shapes or attributes.
ConvGeometry convGeometry(const Node &node, const Shape &x, const Shape &w);

// Unfolds channels [c0, c0 + channels) of one image [C, H, W] into col [channels*kH*kW, outH*outW].
void im2col(const float *image, int64_t channels, const ConvGeometry &g, float *col);
// The same unfolding transposed: one row of channels*kH*kW per output position, rows [outH*outW, channels*kH*kW].
// A row's taps along the width are one contiguous copy when the dilation is 1 (a frame of a 1-D signal). The
// padding reads as `pad` (an integer convolution's input zero point). T: float or uint8_t.
template <typename T> void im2row(const T *image, int64_t channels, const ConvGeometry &g, T *rows, T pad = T(0));
// Inverse scatter-add of im2col: accumulates col into image (image must be zeroed by the caller).
void col2im(const float *col, int64_t channels, const ConvGeometry &g, float *image);

} // namespace cw
