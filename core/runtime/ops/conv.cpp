// Convolutions and normalisations.
//
//   Conv:          x [N, C, H, W], w [M, C/group, kH, kW], b [M] (optional) → [N, M, H', W']
//                  (1-D: x [N, C, L], w [M, C/group, k] → [N, M, L']); strides, pads, dilations, group,
//                  auto_pad (NOTSET, SAME_UPPER, SAME_LOWER, VALID), kernel_shape must match w if given
//   ConvTranspose: x [N, C, H, W], w [C, M/group, kH, kW], b [M] → [N, M, H', W'] with
//                  H' = stride·(H-1) + output_padding + dilation·(kH-1) + 1 - pads, or output_shape
//   BatchNormalization (inference): x [N, C, ...], scale/B/mean/var [C] → same shape as x;
//                  y = (x - mean) / sqrt(var + epsilon) · scale + B
//   InstanceNormalization: x [N, C, D1, ...], scale/B [C] → same shape; each (n, c) plane normalised by its own
//                  mean and (biased) variance, epsilon (1e-5)
//   LayerNormalization: X, Scale and B (optional) broadcastable to X.shape[axis:] → Y, and the optional Mean and
//                  InvStdDev [X.shape[:axis], 1, ...]; axis (-1), epsilon (1e-5), stash_type 1 (11 accepted:
//                  statistics are computed in double either way)
//
// Conv runs as im2col + gemm per image and group; a 1×1 stride-1 unpadded conv multiplies the image
// directly, and a depthwise conv (one input channel per group) uses a direct loop, where im2col would
// only copy. With at least as many images as threads, images run in parallel with one column buffer per
// range of images; otherwise images run in turn and gemm itself uses the threads. A batch whose images have few
// output positions each runs as one gemm over all of them. Convolutions that oneDNN takes (ops/onednn.h) skip
// the per-image paths; they read and write oneDNN's blocked layout where the Session keeps activations so
// (runtime/blocked.h). A MaxPool fused into a Conv (runtime/fusion.h) pools slices of a few images as the
// convolution produces them.
#include <atomic>
#include <cmath>

#include "core/base/error.h"
#include "core/runtime/blocked.h"
#include "core/runtime/kernels.h"
#include "core/runtime/onednn.h"
#include "core/runtime/ops/common.h"
#include "core/runtime/ops/pool.h"
#include "core/runtime/ops/quant.h"
#include "core/runtime/sparse.h"

namespace cw {
namespace {

using namespace ops;

const float *biasInput(const OpContext &ctx, int64_t channels)
{
    if (!ctx.hasInput(2))
        return nullptr;
    const Tensor &b = ctx.input(2);
    requireFloat(ctx, b, "bias");
    if (b.rank() != 1 || b.dim(0) != channels)
        ctx.fail("bias " + shapeToString(b.shape()) + " does not match " + str(channels) + " output channels");
    return b.f32();
}

void checkKernelShape(const OpContext &ctx, const Tensor &w)
{
    const std::vector<int64_t> ks = ctx.node.attrInts("kernel_shape");
    if (ks.empty())
        return;
    if (Shape(w.shape().begin() + 2, w.shape().end()) != Shape(ks.begin(), ks.end()))
        ctx.fail("kernel_shape " + shapeToString(Shape(ks.begin(), ks.end())) + " does not match weight " +
                 shapeToString(w.shape()));
}

// xShape: x's shape, or the plain one of a blocked activation (runtime/blocked.h).
ConvGeometry geometry(const OpContext &ctx, const Tensor &x, const Tensor &w, const Shape &xShape)
{
    requireFloat(ctx, x, "X");
    requireFloat(ctx, w, "W");
    checkKernelShape(ctx, w);
    try {
        return convGeometry(ctx.node, xShape, w.shape());
    } catch (const Error &e) {
        ctx.fail(e.what());
    }
}

// One output channel of a depthwise conv: out[oh, ow] = bias + Σ w[kh, kw] · in[oh·s + kh·d - pad, ...].
// The valid ow range is computed per kernel tap so the inner loop has no bounds checks.
void depthwisePlane(const float *in, const float *w, float bias, const ConvGeometry &g, float *out)
{
    std::fill(out, out + g.outH * g.outW, bias);
    for (int64_t kw = 0; kw < g.kW; ++kw) {
        const int64_t off = kw * g.dilationW - g.padLeft;
        const int64_t lo = off >= 0 ? 0 : ceilDiv(-off, g.strideW);
        const int64_t hi = g.inW - 1 - off < 0 ? 0 : std::min(g.outW, (g.inW - 1 - off) / g.strideW + 1);
        if (hi <= lo)
            continue;
        for (int64_t oh = 0; oh < g.outH; ++oh) {
            float *orow = out + oh * g.outW;
            for (int64_t kh = 0; kh < g.kH; ++kh) {
                const int64_t ih = oh * g.strideH - g.padTop + kh * g.dilationH;
                if (ih < 0 || ih >= g.inH)
                    continue;
                const float wv = w[kh * g.kW + kw];
                const float *irow = in + ih * g.inW + off;
                if (g.strideW == 1)
                    for (int64_t ow = lo; ow < hi; ++ow)
                        orow[ow] += wv * irow[ow];
                else
                    for (int64_t ow = lo; ow < hi; ++ow)
                        orow[ow] += wv * irow[ow * g.strideW];
            }
        }
    }
}

// Whether the convolution runs on its weight's CSR form (runtime/sparse.h): the Session gave it one, and the image
// has as many output positions as the form asks for.
bool sparseApplies(const OpContext &ctx, const ConvGeometry &g)
{
    return ctx.sparse && g.group == 1 && ctx.sparse->rows == g.outChannels && ctx.sparse->cols == g.colRows() &&
           g.colCols() >= ctx.sparse->minPositions;
}

// The convolution alone (a fused MaxPool is convOp's). `leaveBlocked`: the output may leave in oneDNN's blocked
// layout (runtime/blocked.h).
void convolve(OpContext &ctx, bool leaveBlocked)
{
    const Tensor &input = ctx.input(0);
    const Tensor &w = ctx.input(1);
    // Input 0 may arrive in oneDNN's channel-blocked layout, and the output may leave in it (runtime/blocked.h):
    // only the oneDNN path computes on it.
    const int64_t srcBlock = blocked::arrived(ctx.node, 0, input) ? input.dim(4) : 0;
    const ConvGeometry g = geometry(ctx, input, w, srcBlock ? blocked::plainShape(input) : input.shape());
    const float *bias = biasInput(ctx, g.outChannels);
    // Activations fused into this node at session creation (runtime/fusion.h): post-ops on oneDNN, applied per
    // image or plane while it is in cache on the other paths.
    const std::vector<Activation> activations = fusedActivations(ctx.node);
    const int64_t N = g.batch, C = g.inChannels, M = g.outChannels, G = g.group;
    const int64_t Cg = C / G, Mg = M / G, K = g.colRows(), P = g.colCols(), inPlane = g.inH * g.inW;
    const int threads = std::max(1, ctx.threads);
    // A pruned constant weight may run on its CSR form (sparseApplies). Few output positions per image (a frame-wise
    // STFT, the last layers of a 1-D encoder): a gemm per image would be a few columns wide (oneDNN's gemm-based
    // convolution does that), so the whole batch's columns go into one matrix and one gemm.
    constexpr int64_t kFewPositions = 16, kMaxBatchedColumns = int64_t(8) << 20;
    const bool sparsePath = sparseApplies(ctx, g);
    const bool fewPositions = G == 1 && N > 1 && P <= kFewPositions && K * N * P <= kMaxBatchedColumns;
    if (!sparsePath && !fewPositions && onednn::convPreferred(g, threads)) {
        Tensor y;
        if (onednn::convForward(g, input, srcBlock, w, onednn::weightsIdentity(ctx, 1), bias, activations, y, threads,
                                !ctx.runOnce, leaveBlocked)) {
            ctx.outputs[0] = std::move(y);
            return;
        }
    }

    const Tensor x = srcBlock ? blocked::toPlain(input) : input;
    Tensor out = Tensor::uninitialized(DType::Float32, g.outputShape());
    const float *px = x.f32();
    const float *pw = w.f32();
    float *py = out.f32();

    // The pruned weight's sparse product per image, after im2col.
    if (sparsePath) {
        const bool direct = g.isPointwise();
        parallelRanges(threads > 1 && N > 1 ? threads : 1, N, 1, [&](int64_t begin, int64_t end) {
            std::vector<float> col(direct ? 0 : size_t(K * P));
            for (int64_t n = begin; n < end; ++n) {
                const float *src = px + n * C * inPlane;
                if (!direct) {
                    im2col(src, C, g, col.data());
                    src = col.data();
                }
                sparse::convImage(*ctx.sparse, src, P, bias, py + n * M * P);
                applyActivations(activations, py + n * M * P, M * P);
            }
        });
        ctx.outputs[0] = out;
        return;
    }

    // Few output positions: the batch's positions as rows [N·P, K] (im2row) and one gemm with the weight
    // [M, K] transposed, whose rows [N·P, M] are then laid out image by image. Several threads each take a part of
    // the images through all three steps: one hand-over per convolution, and a gemm split in two costs about
    // what it saves when cut in four.
    if (fewPositions) {
        Tensor rows = Tensor::uninitialized(DType::Float32, {N * P, K});
        Tensor y = Tensor::uninitialized(DType::Float32, {N * P, M});
        const bool large = double(N * P) * double(M) * double(K) >= double(1 << 21); // parallelGemm's threshold
        const int parts = large ? int(std::min<int64_t>(threads, N)) : 1;
        parallelFor(parts, parts, [&](int64_t part) {
            GemmThreads single(1);
            const int64_t begin = N * part / parts, end = N * (part + 1) / parts;
            for (int64_t n = begin; n < end; ++n)
                im2row(px + n * C * inPlane, C, g, rows.f32() + n * P * K);
            gemm(false, true, (end - begin) * P, M, K, 1.f, rows.f32() + begin * P * K, K, pw, K, 0.f,
                 y.f32() + begin * P * M, M);
            for (int64_t n = begin; n < end; ++n) {
                float *dst = py + n * M * P;
                const float *src = y.f32() + n * P * M;
                for (int64_t m = 0; m < M; ++m) {
                    const float b = bias ? bias[m] : 0.f;
                    for (int64_t i = 0; i < P; ++i)
                        dst[m * P + i] = src[i * M + m] + b;
                }
                applyActivations(activations, dst, M * P);
            }
        });
        ctx.outputs[0] = std::move(out);
        return;
    }

    if (Cg == 1 && G > 1) {
        const int64_t planes = N * M;
        const int t = planes * (P * g.kH * g.kW) >= kParallelThreshold ? threads : 1;
        parallelRanges(t, planes, 1, [&](int64_t iBegin, int64_t iEnd) {
            for (int64_t i = iBegin; i < iEnd; ++i) {
                const int64_t n = i / M, m = i % M;
                depthwisePlane(px + (n * C + m / Mg) * inPlane, pw + m * g.kH * g.kW, bias ? bias[m] : 0.f, g,
                               py + i * P);
                applyActivations(activations, py + i * P, P);
            }
        });
        ctx.outputs[0] = std::move(out);
        return;
    }

    const bool pointwise = g.isPointwise();
    auto image = [&](int64_t n, float *col, int gemmThreads) {
        for (int64_t gi = 0; gi < G; ++gi) {
            const float *src = px + (n * C + gi * Cg) * inPlane;
            if (!pointwise) {
                im2col(src, Cg, g, col);
                src = col;
            }
            float *dst = py + (n * M + gi * Mg) * P;
            parallelGemm(gemmThreads, false, false, Mg, P, K, 1.f, pw + gi * Mg * K, K, src, P, 0.f, dst, P);
            if (bias)
                for (int64_t m = 0; m < Mg; ++m) {
                    const float b = bias[gi * Mg + m];
                    float *row = dst + m * P;
                    for (int64_t i = 0; i < P; ++i)
                        row[i] += b;
                }
            applyActivations(activations, dst, Mg * P);
        }
    };
    const size_t colSize = pointwise ? 0 : size_t(K * P);
    if (threads > 1 && N >= threads) {
        // One column buffer per range of images (ranges run on whichever thread claims them).
        parallelRanges(threads, N, 1, [&](int64_t begin, int64_t end) {
            std::vector<float> col(colSize);
            for (int64_t n = begin; n < end; ++n)
                image(n, col.data(), 1);
        });
    } else {
        std::vector<float> col(colSize);
        for (int64_t n = 0; n < N; ++n)
            image(n, col.data(), threads);
    }
    ctx.outputs[0] = std::move(out);
}

// A Conv with a MaxPool fused into it (runtime/fusion.h) on oneDNN: a few images at a time (their convolution
// output under kSliceBytes, so it is still in cache when the pool reads it), slices claimed by the threads. False
// when it does not apply: oneDNN does not take the convolution, one image is for several threads, or one image's
// output alone is larger than a slice (it would not stay in cache, and the per-thread buffer would keep its size).
bool convPooledSlices(OpContext &ctx, const ConvGeometry &g, const PoolGeometry &pool, int64_t srcBlock, int threads)
{
    constexpr int64_t kSliceBytes = int64_t(256) << 10;
    const int64_t N = g.batch, M = g.outChannels;
    const int64_t image = M * g.outH * g.outW, pooledImage = M * pool.outH * pool.outW;
    if ((threads > 1 && N < threads) || image * int64_t(sizeof(float)) > kSliceBytes)
        return false;
    int64_t size = std::min<int64_t>(kSliceBytes / (image * int64_t(sizeof(float))), N);
    if (threads > 1)
        size = std::min(size, (N + threads - 1) / threads);
    const int64_t count = (N + size - 1) / size;
    ConvGeometry full = g, last = g;
    full.batch = size;
    last.batch = N - (count - 1) * size;
    const Tensor &x = ctx.input(0), &w = ctx.input(1);
    const onednn::WeightsIdentity identity = onednn::weightsIdentity(ctx, 1);
    const float *bias = biasInput(ctx, M);
    const std::vector<Activation> activations = fusedActivations(ctx.node);
    const bool winograd = !ctx.runOnce;
    const int64_t block = onednn::convOutputBlock(full, bias != nullptr, activations, winograd, srcBlock);
    if (block < 0 || onednn::convOutputBlock(last, bias != nullptr, activations, winograd, srcBlock) != block)
        return false;
    // A convolution that would stream its output past the cache writes it 32 bytes off the 64-byte alignment, so
    // the pool reads it from the cache: the demo CNN's pool after its Winograd layer took 3x as long otherwise.
    const int64_t skew =
        onednn::convStreamsAlignedOutput(full, bias != nullptr, activations, winograd, srcBlock) ? 8 : 0;
    const bool leave = block > 0 && blocked::mayLeave(ctx.node);
    Tensor out = Tensor::uninitialized(DType::Float32, leave ? Shape{N, M / block, pool.outH, pool.outW, block}
                                                             : Shape{N, M, pool.outH, pool.outW});
    const int64_t inImage = g.inChannels * g.inH * g.inW;
    std::atomic<bool> failed{false};
    parallelFor(threads, count, [&](int64_t i) {
        const ConvGeometry &slice = i == count - 1 ? last : full;
        const int64_t n = i * size;
        const size_t bytes = size_t(slice.batch * image + skew) * sizeof(float);
        float *y = static_cast<float *>(onednn::threadBuffer(onednn::kPooledSlot, bytes)) + skew;
        if (!onednn::convSlice(slice, x.f32() + n * inImage, srcBlock, w, identity, bias, activations, y,
                               winograd)) {
            failed = true;
            return;
        }
        float *dst = out.f32() + n * pooledImage;
        if (block == 0 || leave) {
            maxPoolPlanes(y, pool, slice.batch * M / std::max<int64_t>(block, 1), std::max<int64_t>(block, 1), dst, 1);
        } else { // pooled blocked, then laid out plain
            std::vector<float> pooled(size_t(slice.batch * pooledImage));
            maxPoolPlanes(y, pool, slice.batch * M / block, block, pooled.data(), 1);
            blocked::toPlain(pooled.data(), slice.batch * M / block, pool.outH * pool.outW, block, dst);
        }
    });
    if (failed)
        return false;
    ctx.outputs[0] = out;
    return true;
}

void convOp(OpContext &ctx)
{
    if (!hasFusedMaxPool(ctx.node)) {
        convolve(ctx, blocked::mayLeave(ctx.node));
        return;
    }
    const Tensor &input = ctx.input(0), &w = ctx.input(1);
    const int64_t srcBlock = blocked::arrived(ctx.node, 0, input) ? input.dim(4) : 0;
    const ConvGeometry g = geometry(ctx, input, w, srcBlock ? blocked::plainShape(input) : input.shape());
    PoolGeometry pool;
    try {
        pool = poolGeometry(ctx.node, fusedMaxPoolPrefix(), g.outputShape());
    } catch (const Error &e) {
        ctx.fail("the fused MaxPool: " + std::string(e.what()));
    }
    const int threads = std::max(1, ctx.threads);
    if (!sparseApplies(ctx, g) && onednn::convPreferred(g, threads) &&
        convPooledSlices(ctx, g, pool, srcBlock, threads))
        return;
    // Otherwise the convolution (in the blocked layout where oneDNN computes in it), then the pool.
    convolve(ctx, true);
    const Tensor y = ctx.outputs[0];
    const int64_t lanes = y.rank() == 5 ? y.dim(4) : 1;
    Tensor out = Tensor::uninitialized(DType::Float32, lanes > 1 ? Shape{pool.N, pool.C / lanes, pool.outH, pool.outW, lanes}
                                                                 : Shape{pool.N, pool.C, pool.outH, pool.outW});
    maxPoolPlanes(y.f32(), pool, pool.N * pool.C / lanes, lanes, out.f32(),
                  y.numel() >= kParallelThreshold ? threads : 1);
    ctx.outputs[0] = lanes > 1 && !blocked::mayLeave(ctx.node) ? blocked::toPlain(out) : out;
}

void convTransposeOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    const Tensor &w = ctx.input(1);
    const ConvGeometry g = geometry(ctx, x, w, x.shape());
    const float *bias = biasInput(ctx, g.outChannels);
    Tensor out(DType::Float32, g.outputShape());
    const int64_t N = g.batch, C = g.inChannels, M = g.outChannels, G = g.group;
    const int64_t Cg = C / G, Mg = M / G, K = Mg * g.kH * g.kW, P = g.inH * g.inW, outPlane = g.outH * g.outW;
    // col2im scatters from the input grid into the output image: swap the roles of input and output sizes.
    ConvGeometry s = g;
    s.inH = g.outH;
    s.inW = g.outW;
    s.outH = g.inH;
    s.outW = g.inW;
    const float *px = x.f32();
    const float *pw = w.f32();
    float *py = out.f32();
    auto image = [&](int64_t n, float *col, int gemmThreads) {
        for (int64_t gi = 0; gi < G; ++gi) {
            // col [Mg·kH·kW, H·W] = W_g^T [Mg·kH·kW, Cg] · x_g [Cg, H·W]
            parallelGemm(gemmThreads, true, false, K, P, Cg, 1.f, pw + gi * Cg * K, K, px + (n * C + gi * Cg) * P, P, 0.f,
                         col, P);
            float *dst = py + (n * M + gi * Mg) * outPlane;
            col2im(col, Mg, s, dst);
            if (bias)
                for (int64_t m = 0; m < Mg; ++m) {
                    const float b = bias[gi * Mg + m];
                    for (int64_t i = 0; i < outPlane; ++i)
                        dst[m * outPlane + i] += b;
                }
        }
    };
    const int threads = std::max(1, ctx.threads);
    if (threads > 1 && N >= threads) {
        parallelRanges(threads, N, 1, [&](int64_t begin, int64_t end) {
            std::vector<float> col(size_t(K * P));
            for (int64_t n = begin; n < end; ++n)
                image(n, col.data(), 1);
        });
    } else {
        std::vector<float> col(size_t(K * P));
        for (int64_t n = 0; n < N; ++n)
            image(n, col.data(), threads);
    }
    ctx.outputs[0] = std::move(out);
}

void batchNormOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    requireFloat(ctx, x, "X");
    if (ctx.node.attrInt("training_mode", 0) != 0)
        ctx.fail("training_mode is not supported (inference only)");
    if (x.rank() < 2)
        ctx.fail("input must be [N, C, ...], got " + shapeToString(x.shape()));
    const int64_t N = x.dim(0), C = x.dim(1), plane = x.numel() / std::max<int64_t>(1, N * C);
    const char *names[4] = {"scale", "B", "mean", "var"};
    const float *p[4];
    for (int i = 0; i < 4; ++i) {
        const Tensor &t = ctx.input(i + 1);
        requireFloat(ctx, t, names[i]);
        if (t.numel() != C || t.rank() != 1)
            ctx.fail(std::string(names[i]) + " " + shapeToString(t.shape()) + " does not match " + str(C) +
                     " channels of input " + shapeToString(x.shape()));
        p[i] = t.f32();
    }
    const float eps = ctx.node.attrFloat("epsilon", 1e-5f);
    std::vector<float> a(static_cast<size_t>(C)), b(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) {
        a[size_t(c)] = p[0][c] / std::sqrt(p[3][c] + eps);
        b[size_t(c)] = p[1][c] - p[2][c] * a[size_t(c)];
    }
    Tensor out = Tensor::uninitialized(DType::Float32, x.shape());
    const float *src = x.f32();
    float *dst = out.f32();
    const int threads = threadsFor(ctx, x.numel());
    parallelRanges(threads, N * C, 1, [&](int64_t iBegin, int64_t iEnd) {
        for (int64_t i = iBegin; i < iEnd; ++i) {
            const float ai = a[size_t(i % C)], bi = b[size_t(i % C)];
            const float *s = src + i * plane;
            float *d = dst + i * plane;
            for (int64_t k = 0; k < plane; ++k)
                d[k] = ai * s[k] + bi;
        }
    });
    ctx.outputs[0] = out;
    // Opsets before 14 list running mean / var as optional outputs; in inference they are the inputs.
    for (size_t o = 1; o < ctx.outputs.size(); ++o) {
        if (o >= ctx.node.outputs.size() || ctx.node.outputs[o].empty())
            continue;
        if (o > 2)
            ctx.fail("the saved mean / variance outputs exist only in training mode");
        ctx.outputs[o] = ctx.input(int(o) + 2);
    }
}

// The sum of f(s[k]) over n values in double, in eight partial sums: one chain of dependent additions took most
// of a short row's normalisation (a wake-word head's 32 values), and eight vectorise.
template <typename F> double partialSums(const float *s, int64_t n, F f)
{
    double part[8] = {};
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; ++j)
            part[j] += f(double(s[k + j]));
    for (; k < n; ++k)
        part[0] += f(double(s[k]));
    return ((part[0] + part[4]) + (part[1] + part[5])) + ((part[2] + part[6]) + (part[3] + part[7]));
}

// Mean and inverse standard deviation of n values, in double.
void meanInvStd(const float *s, int64_t n, double eps, double *mean, double *invStd)
{
    const double m = n > 0 ? partialSums(s, n, [](double v) { return v; }) / double(n) : 0.0;
    const double sq = partialSums(s, n, [m](double v) { return (v - m) * (v - m); });
    *mean = m;
    *invStd = 1.0 / std::sqrt((n > 0 ? sq / double(n) : 0.0) + eps);
}

void instanceNormOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    requireFloat(ctx, x, "input");
    if (x.rank() < 3)
        ctx.fail("input must be [N, C, D1, ...], got " + shapeToString(x.shape()));
    const int64_t N = x.dim(0), C = x.dim(1), plane = x.numel() / std::max<int64_t>(1, N * C);
    const Tensor &scale = ctx.input(1), &bias = ctx.input(2);
    requireFloat(ctx, scale, "scale");
    requireFloat(ctx, bias, "B");
    for (const Tensor *t : {&scale, &bias})
        if (t->rank() != 1 || t->dim(0) != C)
            ctx.fail(std::string(t == &scale ? "scale " : "B ") + shapeToString(t->shape()) + " does not match " + str(C) +
                     " channels of input " + shapeToString(x.shape()));
    const double eps = ctx.node.attrFloat("epsilon", 1e-5f);
    Tensor out = Tensor::uninitialized(DType::Float32, x.shape());
    const float *src = x.f32();
    float *dst = out.f32();
    parallelRanges(threadsFor(ctx, x.numel()), N * C, 1, [&](int64_t iBegin, int64_t iEnd) {
        for (int64_t i = iBegin; i < iEnd; ++i) {
            double mean, invStd;
            meanInvStd(src + i * plane, plane, eps, &mean, &invStd);
            const float a = float(invStd * scale.f32()[i % C]);
            const float b = float(bias.f32()[i % C] - mean * invStd * scale.f32()[i % C]);
            const float *s = src + i * plane;
            float *d = dst + i * plane;
            for (int64_t k = 0; k < plane; ++k)
                d[k] = a * s[k] + b;
        }
    });
    ctx.outputs[0] = std::move(out);
}

// Scale / B of LayerNormalization over the normalised shape, x's dimensions from `axis` on, contiguous: the
// tensor's own values when it has that shape (no copy: a small model's run takes microseconds), else broadcast
// into `holder`.
const float *normalizedParameter(const OpContext &ctx, const Tensor &t, const Shape &xShape, int axis,
                                 const char *what, Tensor &holder)
{
    requireFloat(ctx, t, what);
    if (t.rank() == int(xShape.size()) - axis && std::equal(xShape.begin() + axis, xShape.end(), t.shape().begin()))
        return t.f32();
    const Shape normShape(xShape.begin() + axis, xShape.end());
    bool fits = t.rank() <= int(normShape.size());
    for (int d = 1; fits && d <= t.rank(); ++d)
        fits = t.dim(-d) == 1 || t.dim(-d) == normShape[normShape.size() - size_t(d)];
    if (!fits)
        ctx.fail(std::string(what) + " " + shapeToString(t.shape()) + " does not broadcast to the normalized shape " +
                 shapeToString(normShape));
    holder = broadcastTo(ctx, t, normShape);
    return holder.f32();
}

void layerNormOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    requireFloat(ctx, x, "X");
    if (x.rank() == 0)
        ctx.fail("input must have rank >= 1");
    struct Parsed { // what prepared() keeps of the node
        int64_t axis, stash;
        double eps;
        std::vector<Activation> activations; // runtime/fusion.h
        std::optional<FusedQuantize> quantized;
    };
    const Parsed &p = ctx.prepared<Parsed>([&] {
        return Parsed{ctx.node.attrInt("axis", -1), ctx.node.attrInt("stash_type", 1),
                          ctx.node.attrFloat("epsilon", 1e-5f), fusedActivations(ctx.node), fusedQuantize(ctx.node)};
    });
    const int axis = normalizeAxis(ctx, p.axis, x.rank());
    if (p.stash != 1 && p.stash != 11)
        ctx.fail("stash_type " + str(p.stash) + " is not supported (1 float, 11 double)");
    Tensor scaleHolder, biasHolder;
    const float *g = normalizedParameter(ctx, ctx.input(1), x.shape(), axis, "Scale", scaleHolder);
    const float *b =
        ctx.hasInput(2) ? normalizedParameter(ctx, ctx.input(2), x.shape(), axis, "B", biasHolder) : nullptr;
    const double eps = p.eps;
    const std::vector<Activation> &activations = p.activations;
    int64_t norm = 1, rows = 1;
    for (int d = 0; d < x.rank(); ++d)
        (d < axis ? rows : norm) *= x.dim(d);
    Shape statShape;
    if (ctx.outputs.size() > 1) {
        statShape.assign(x.shape().begin(), x.shape().begin() + axis);
        statShape.resize(size_t(x.rank()), 1);
    }
    // A QuantizeLinear fused after it (runtime/fusion.h): each row is quantized as it is finished.
    const std::optional<FusedQuantize> &quantized = p.quantized;
    Tensor out = Tensor::uninitialized(quantized ? quantized->type : DType::Float32, x.shape());
    // The statistics only when the node has those outputs (a fused or inference graph rarely does).
    Tensor meanOut = ctx.outputs.size() > 1 ? Tensor::uninitialized(DType::Float32, statShape) : Tensor();
    Tensor invStdOut = ctx.outputs.size() > 2 ? Tensor::uninitialized(DType::Float32, statShape) : Tensor();
    float *meanDst = meanOut.isNull() ? nullptr : meanOut.f32();
    float *invStdDst = invStdOut.isNull() ? nullptr : invStdOut.f32();
    const float *src = x.f32();
    parallelRanges(threadsFor(ctx, x.numel()), rows, 1, [&](int64_t rBegin, int64_t rEnd) {
        thread_local std::vector<float> row;
        if (quantized && row.size() < size_t(norm))
            row.resize(size_t(norm));
        for (int64_t r = rBegin; r < rEnd; ++r) {
            double mean, invStd;
            const float *s = src + r * norm;
            meanInvStd(s, norm, eps, &mean, &invStd);
            float *d = quantized ? row.data() : out.f32() + r * norm;
            for (int64_t k = 0; k < norm; ++k)
                d[k] = float((s[k] - mean) * invStd) * g[k] + (b ? b[k] : 0.f);
            applyActivations(activations, d, norm);
            if (quantized)
                quant::quantizeValues(d, norm, quantized->scale, quantized->zeroPoint, quantized->type == DType::Int8,
                                      static_cast<uint8_t *>(out.rawData()) + r * norm);
            if (meanDst)
                meanDst[r] = float(mean);
            if (invStdDst)
                invStdDst[r] = float(invStd);
        }
    });
    ctx.outputs[0] = std::move(out);
    if (ctx.outputs.size() > 1)
        ctx.outputs[1] = std::move(meanOut);
    if (ctx.outputs.size() > 2)
        ctx.outputs[2] = std::move(invStdOut);
}

} // namespace

void registerConvOps(KernelTable &table)
{
    table["Conv"] = {convOp, {1, 11, 22}};
    table["ConvTranspose"] = {convTransposeOp, {1, 11, 22}};
    table["BatchNormalization"] = {batchNormOp, {9, 14, 15}, kMaxOpset, "training_mode"};
    table["InstanceNormalization"] = {instanceNormOp, {6, 22}};
    table["LayerNormalization"] = {layerNormOp, {17}};
}

} // namespace cw
