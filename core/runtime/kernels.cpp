#include "core/runtime/kernels.h"

#include <Eigen/Core>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include <immintrin.h>

#include <memory>

#include "core/base/error.h"

namespace cw {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Stride = Eigen::OuterStride<>;
using ConstMap = Eigen::Map<const RowMatrix, 0, Stride>;
using Map = Eigen::Map<RowMatrix, 0, Stride>;
using ConstMapT = Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>, 0, Stride>;

void gemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
          const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (M == 0 || N == 0)
        return;
    // oneDNN's sgemm is JIT-compiled for the machine (AVX-512 where present); Eigen is built for the
    // x86-64-v3 baseline and stays as the fallback for arguments oneDNN refuses.
    if (K > 0 && dnnl_sgemm(transA ? 'T' : 'N', transB ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) ==
                     dnnl_success)
        return;
    Map c(C, M, N, Stride(ldc));
    if (beta == 0.f)
        c.setZero();
    else if (beta != 1.f)
        c *= beta;
    if (K == 0)
        return;
    // A row-major [K, M] read as column-major [M, K] is A transposed without a copy.
    auto run = [&](const auto &a, const auto &b) { c.noalias() += alpha * (a * b); };
    if (!transA && !transB)
        run(ConstMap(A, M, K, Stride(lda)), ConstMap(B, K, N, Stride(ldb)));
    else if (transA && !transB)
        run(ConstMapT(A, M, K, Stride(lda)), ConstMap(B, K, N, Stride(ldb)));
    else if (!transA && transB)
        run(ConstMap(A, M, K, Stride(lda)), ConstMapT(B, K, N, Stride(ldb)));
    else
        run(ConstMapT(A, M, K, Stride(lda)), ConstMapT(B, K, N, Stride(ldb)));
}

namespace {
int64_t convOut(int64_t in, int64_t k, int64_t stride, int64_t dilation, int64_t padBegin, int64_t padEnd)
{
    return (in + padBegin + padEnd - dilation * (k - 1) - 1) / stride + 1;
}
} // namespace

ConvGeometry convGeometry(const Node &node, const Shape &x, const Shape &w)
{
    ConvGeometry g;
    const bool transposed = node.opType == "ConvTranspose";
    if (x.size() != 4 && x.size() != 3)
        throw Error("input must be [N, C, H, W] or [N, C, L], got " + shapeToString(x));
    if (w.size() != x.size())
        throw Error("weight rank " + std::to_string(w.size()) + " does not match input rank " +
                    std::to_string(x.size()));
    g.oneD = x.size() == 3;
    g.batch = x[0];
    g.inChannels = x[1];
    g.inH = g.oneD ? 1 : x[2];
    g.inW = g.oneD ? x[2] : x[3];
    g.group = node.attrInt("group", 1);
    if (g.group < 1 || g.inChannels % g.group != 0)
        throw Error("group " + std::to_string(g.group) + " does not divide " + std::to_string(g.inChannels) +
                    " input channels");
    if (transposed) {
        if (w[0] != g.inChannels)
            throw Error("weight " + shapeToString(w) + " expects " + std::to_string(w[0]) + " input channels, input has " +
                        std::to_string(g.inChannels));
        g.outChannels = w[1] * g.group;
    } else {
        if (w[1] * g.group != g.inChannels)
            throw Error("weight " + shapeToString(w) + " with group " + std::to_string(g.group) + " expects " +
                        std::to_string(w[1] * g.group) + " input channels, input " + shapeToString(x) + " has " +
                        std::to_string(g.inChannels));
        if (w[0] % g.group != 0)
            throw Error("group " + std::to_string(g.group) + " does not divide " + std::to_string(w[0]) +
                        " output channels");
        g.outChannels = w[0];
    }
    g.kH = g.oneD ? 1 : w[2];
    g.kW = g.oneD ? w[2] : w[3];
    const size_t spatial = g.oneD ? 1 : 2;
    std::vector<int64_t> kernelShape = node.attrInts("kernel_shape");
    if (!kernelShape.empty() && kernelShape.size() != spatial)
        throw Error("kernel_shape has " + std::to_string(kernelShape.size()) + " values for a " +
                    std::to_string(spatial) + "-D convolution");
    std::vector<int64_t> strides = node.attrInts("strides", std::vector<int64_t>(spatial, 1));
    std::vector<int64_t> dilations = node.attrInts("dilations", std::vector<int64_t>(spatial, 1));
    std::vector<int64_t> pads = node.attrInts("pads", std::vector<int64_t>(spatial * 2, 0));
    if (strides.size() != spatial || dilations.size() != spatial || pads.size() != spatial * 2)
        throw Error("strides / dilations / pads do not match the " + std::to_string(spatial) + "-D input");
    for (int64_t s : strides)
        if (s < 1)
            throw Error("strides must be positive");
    for (int64_t d : dilations)
        if (d < 1)
            throw Error("dilations must be positive");
    for (int64_t p : pads)
        if (p < 0)
            throw Error("pads must not be negative"); // as ONNX's own shape inference says
    if (g.oneD) {
        g.strideW = strides[0];
        g.dilationW = dilations[0];
        g.padLeft = pads[0];
        g.padRight = pads[1];
    } else {
        g.strideH = strides[0];
        g.strideW = strides[1];
        g.dilationH = dilations[0];
        g.dilationW = dilations[1];
        g.padTop = pads[0];
        g.padLeft = pads[1];
        g.padBottom = pads[2];
        g.padRight = pads[3];
    }
    const std::string autoPad = node.attrString("auto_pad", "NOTSET");
    if (transposed) {
        std::vector<int64_t> outPad = node.attrInts("output_padding", std::vector<int64_t>(spatial, 0));
        std::vector<int64_t> outShape = node.attrInts("output_shape");
        auto resolve = [&](int64_t in, int64_t k, int64_t s, int64_t d, int64_t op, int64_t &pb, int64_t &pe,
                           int64_t wanted) {
            const int64_t full = s * (in - 1) + op + (k - 1) * d + 1;
            if (wanted > 0 || autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
                const int64_t target = wanted > 0 ? wanted : in * s;
                const int64_t total = std::max<int64_t>(0, full - target);
                // ONNX: SAME_UPPER puts the extra padding at the beginning for ConvTranspose.
                pb = autoPad == "SAME_UPPER" ? (total + 1) / 2 : total / 2;
                pe = total - pb;
            }
            return full - pb - pe;
        };
        if (g.oneD) {
            g.outW = resolve(g.inW, g.kW, g.strideW, g.dilationW, outPad[0], g.padLeft, g.padRight,
                             outShape.empty() ? 0 : outShape.back());
            g.outH = 1;
        } else {
            g.outH = resolve(g.inH, g.kH, g.strideH, g.dilationH, outPad[0], g.padTop, g.padBottom,
                             outShape.size() >= 2 ? outShape[outShape.size() - 2] : 0);
            g.outW = resolve(g.inW, g.kW, g.strideW, g.dilationW, outPad[1], g.padLeft, g.padRight,
                             outShape.empty() ? 0 : outShape.back());
        }
    } else {
        if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
            auto same = [&](int64_t in, int64_t k, int64_t s, int64_t d, int64_t &pb, int64_t &pe) {
                const int64_t out = ceilDiv(in, s);
                const int64_t total = std::max<int64_t>(0, (out - 1) * s + (k - 1) * d + 1 - in);
                pb = autoPad == "SAME_UPPER" ? total / 2 : (total + 1) / 2;
                pe = total - pb;
            };
            same(g.inH, g.kH, g.strideH, g.dilationH, g.padTop, g.padBottom);
            same(g.inW, g.kW, g.strideW, g.dilationW, g.padLeft, g.padRight);
        } else if (autoPad == "VALID") {
            g.padTop = g.padLeft = g.padBottom = g.padRight = 0;
        }
        g.outH = convOut(g.inH, g.kH, g.strideH, g.dilationH, g.padTop, g.padBottom);
        g.outW = convOut(g.inW, g.kW, g.strideW, g.dilationW, g.padLeft, g.padRight);
    }
    if (g.outH <= 0 || g.outW <= 0)
        throw Error("output would be empty: input " + shapeToString(x) + ", kernel " + shapeToString(w));
    return g;
}

// For ConvTranspose the roles swap: "image" is the output [C, H, W] and outH/outW are the *input* spatial
// sizes; callers pass a geometry with in/out exchanged (see ops/conv.cpp).
void im2col(const float *image, int64_t channels, const ConvGeometry &g, float *col)
{
    const int64_t cols = g.outH * g.outW;
    for (int64_t c = 0; c < channels; ++c) {
        const float *plane = image + c * g.inH * g.inW;
        for (int64_t kh = 0; kh < g.kH; ++kh) {
            for (int64_t kw = 0; kw < g.kW; ++kw) {
                float *row = col + ((c * g.kH + kh) * g.kW + kw) * cols;
                for (int64_t oh = 0; oh < g.outH; ++oh) {
                    const int64_t ih = oh * g.strideH - g.padTop + kh * g.dilationH;
                    float *dst = row + oh * g.outW;
                    if (ih < 0 || ih >= g.inH) {
                        std::fill(dst, dst + g.outW, 0.f);
                        continue;
                    }
                    const float *src = plane + ih * g.inW;
                    const int64_t offset = kw * g.dilationW - g.padLeft;
                    if (g.strideW == 1) {
                        // Contiguous run: copy the valid span, zero the padded ends.
                        const int64_t lo = std::max<int64_t>(0, -offset);
                        const int64_t hi = std::min<int64_t>(g.outW, g.inW - offset);
                        std::fill(dst, dst + std::min(lo, g.outW), 0.f);
                        if (hi > lo)
                            std::copy(src + lo + offset, src + hi + offset, dst + lo);
                        if (hi < g.outW)
                            std::fill(dst + std::max(hi, lo), dst + g.outW, 0.f);
                    } else {
                        for (int64_t ow = 0; ow < g.outW; ++ow) {
                            const int64_t iw = ow * g.strideW + offset;
                            dst[ow] = (iw >= 0 && iw < g.inW) ? src[iw] : 0.f;
                        }
                    }
                }
            }
        }
    }
}

namespace {

// One output position's row of a 1-D convolution of at most 16 taps, taps [lo, hi) inside the signal: per channel
// a copy of kW values (the padding's taps set to `pad`), unrolled for the common kernel widths. In a loop of unknown
// length, three taps per channel cost several times the copy (silero's 3-tap encoder: 18 % of an int8 run).
template <typename T, int KW>
void windowRow1d(const T *image, int64_t channels, int64_t inW, int64_t iw0, int64_t lo, int64_t hi, T *row, T pad)
{
    if (lo == 0 && hi == KW) {
        for (int64_t c = 0; c < channels; ++c, row += KW)
            for (int kw = 0; kw < KW; ++kw)
                row[kw] = image[c * inW + iw0 + kw];
        return;
    }
    for (int64_t c = 0; c < channels; ++c, row += KW)
        for (int kw = 0; kw < KW; ++kw)
            row[kw] = kw >= lo && kw < hi ? image[c * inW + iw0 + kw] : pad;
}

template <typename T>
void windowRow1d(const T *image, int64_t channels, const ConvGeometry &g, int64_t iw0, int64_t lo, int64_t hi, T *row,
                 T pad)
{
    switch (g.kW) {
    case 1: return windowRow1d<T, 1>(image, channels, g.inW, iw0, lo, hi, row, pad);
    case 3: return windowRow1d<T, 3>(image, channels, g.inW, iw0, lo, hi, row, pad);
    case 5: return windowRow1d<T, 5>(image, channels, g.inW, iw0, lo, hi, row, pad);
    default: break;
    }
    for (int64_t c = 0; c < channels; ++c, row += g.kW) {
        const int64_t first = c * g.inW + iw0; // of the window, which may start in the padding
        std::fill(row, row + lo, pad);
        std::copy(image + (first + lo), image + (first + hi), row + lo);
        std::fill(row + hi, row + g.kW, pad);
    }
}

} // namespace

template <typename T> void im2row(const T *image, int64_t channels, const ConvGeometry &g, T *rows, T pad)
{
    const int64_t K = channels * g.kH * g.kW;
    for (int64_t oh = 0; oh < g.outH; ++oh) {
        for (int64_t ow = 0; ow < g.outW; ++ow) {
            T *row = rows + (oh * g.outW + ow) * K;
            const int64_t iw0 = ow * g.strideW - g.padLeft;
            // The taps kw whose column lies inside the image: [lo, hi).
            const int64_t lo = iw0 >= 0 ? 0 : std::min(g.kW, ceilDiv(-iw0, g.dilationW));
            const int64_t hi = iw0 >= g.inW ? lo : std::max(lo, std::min(g.kW, (g.inW - 1 - iw0) / g.dilationW + 1));
            // A 1-D signal's window (one input row, read whole: no padding above or below it).
            if (g.kH == 1 && g.inH == 1 && g.outH == 1 && g.padTop == 0 && g.dilationW == 1 && g.kW <= 16) {
                windowRow1d(image, channels, g, iw0, lo, hi, row, pad);
                continue;
            }
            for (int64_t c = 0; c < channels; ++c) {
                for (int64_t kh = 0; kh < g.kH; ++kh, row += g.kW) {
                    const int64_t ih = oh * g.strideH - g.padTop + kh * g.dilationH;
                    if (ih < 0 || ih >= g.inH) {
                        std::fill(row, row + g.kW, pad);
                        continue;
                    }
                    const T *src = image + (c * g.inH + ih) * g.inW;
                    std::fill(row, row + lo, pad);
                    if (g.dilationW == 1 && hi - lo > 16)
                        std::copy(src + (iw0 + lo), src + (iw0 + hi), row + lo);
                    else if (g.dilationW == 1) // a few taps (a 3-wide kernel): a call to memmove would cost more
                        for (int64_t kw = lo; kw < hi; ++kw)
                            row[kw] = src[iw0 + kw];
                    else
                        for (int64_t kw = lo; kw < hi; ++kw)
                            row[kw] = src[iw0 + kw * g.dilationW];
                    std::fill(row + hi, row + g.kW, pad);
                }
            }
        }
    }
}
template void im2row(const float *, int64_t, const ConvGeometry &, float *, float);
template void im2row(const uint8_t *, int64_t, const ConvGeometry &, uint8_t *, uint8_t);

void col2im(const float *col, int64_t channels, const ConvGeometry &g, float *image)
{
    const int64_t cols = g.outH * g.outW;
    for (int64_t c = 0; c < channels; ++c) {
        float *plane = image + c * g.inH * g.inW;
        for (int64_t kh = 0; kh < g.kH; ++kh) {
            for (int64_t kw = 0; kw < g.kW; ++kw) {
                const float *row = col + ((c * g.kH + kh) * g.kW + kw) * cols;
                for (int64_t oh = 0; oh < g.outH; ++oh) {
                    const int64_t ih = oh * g.strideH - g.padTop + kh * g.dilationH;
                    if (ih < 0 || ih >= g.inH)
                        continue;
                    float *dst = plane + ih * g.inW;
                    const float *src = row + oh * g.outW;
                    for (int64_t ow = 0; ow < g.outW; ++ow) {
                        const int64_t iw = ow * g.strideW - g.padLeft + kw * g.dilationW;
                        if (iw >= 0 && iw < g.inW)
                            dst[iw] += src[ow];
                    }
                }
            }
        }
    }
}

} // namespace cw
