#include "core/train/backward.h"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>

#include "core/base/error.h"
#include "core/base/parallel.h"
#include "core/runtime/kernels.h"
#include "core/runtime/ops/common.h"

namespace cw::detail {

namespace {

using Array = Eigen::Map<Eigen::ArrayXf>;
using ConstArray = Eigen::Map<const Eigen::ArrayXf>;

// The elements of a tensor of shape `from` in order, with the offset of each in a tensor of shape `to` broadcast
// to `from` (numpy's rules: `to` right-aligned, a dimension of 1 or a missing one repeated).
class BroadcastWalk {
public:
    BroadcastWalk(const Shape &to, const Shape &from, const char *what) : m_from(from), m_index(from.size(), 0)
    {
        if (to.size() > from.size())
            throw Error(std::string("cannot ") + what + " of shape " + shapeToString(from) + " to " + shapeToString(to));
        const size_t rank = from.size(), offset = rank - to.size();
        m_stride.assign(rank, 0);
        int64_t stride = 1;
        for (size_t d = rank; d-- > offset;) {
            const int64_t t = to[d - offset];
            if (t != from[d] && t != 1)
                throw Error(std::string("cannot ") + what + " of shape " + shapeToString(from) + " to " +
                            shapeToString(to));
            m_stride[d] = t == 1 ? 0 : stride;
            stride *= t;
        }
    }
    int64_t offset() const { return m_offset; }
    void next()
    {
        for (size_t d = m_from.size(); d-- > 0;) {
            ++m_index[d];
            m_offset += m_stride[d];
            if (m_index[d] < m_from[d])
                return;
            m_offset -= m_stride[d] * m_index[d];
            m_index[d] = 0;
        }
    }

private:
    const Shape &m_from;
    std::vector<int64_t> m_index, m_stride;
    int64_t m_offset = 0;
};

Tensor zerosLike(const Tensor &t)
{
    return Tensor(DType::Float32, t.shape());
}

void requireFloat(const BackwardContext &ctx, int i)
{
    if (ctx.in(i).dtype() != DType::Float32)
        throw Error("input " + std::to_string(i) + " is " + dtypeName(ctx.in(i).dtype()) + ", training needs float32");
}

// Gradient that passes through unchanged (views: Flatten, Reshape, Identity, Dropout as the identity).
void passThroughBackward(BackwardContext &ctx)
{
    if (ctx.want(0))
        ctx.inputGrads[0] = ctx.outputGrad.reshaped(ctx.in(0).shape());
}

void reluBackward(BackwardContext &ctx)
{
    if (!ctx.want(0))
        return;
    const Tensor &y = *ctx.outputs[0];
    Tensor dx = zerosLike(ctx.in(0));
    const int64_t n = dx.numel();
    const ConstArray yv(y.f32(), n), dy(ctx.outputGrad.f32(), n);
    Array(dx.f32(), n) = (yv > 0.f).select(dy, 0.f);
    ctx.inputGrads[0] = dx;
}

void leakyReluBackward(BackwardContext &ctx)
{
    if (!ctx.want(0))
        return;
    const float alpha = ctx.node.attrFloat("alpha", 0.01f);
    Tensor dx = zerosLike(ctx.in(0));
    const float *x = ctx.in(0).f32(), *dy = ctx.outputGrad.f32();
    float *d = dx.f32();
    const int64_t n = dx.numel();
    for (int64_t i = 0; i < n; ++i)
        d[i] = x[i] > 0.f ? dy[i] : alpha * dy[i];
    ctx.inputGrads[0] = dx;
}

void clipBackward(BackwardContext &ctx)
{
    if (!ctx.want(0))
        return;
    // Opset >= 11 takes the bounds as inputs, older opsets as attributes.
    float lo = ctx.node.attrFloat("min", -std::numeric_limits<float>::infinity());
    float hi = ctx.node.attrFloat("max", std::numeric_limits<float>::infinity());
    if (ctx.has(1) && ctx.in(1).numel() > 0)
        lo = ctx.in(1).toFloatVector()[0];
    if (ctx.has(2) && ctx.in(2).numel() > 0)
        hi = ctx.in(2).toFloatVector()[0];
    Tensor dx = zerosLike(ctx.in(0));
    const float *x = ctx.in(0).f32(), *dy = ctx.outputGrad.f32();
    float *d = dx.f32();
    const int64_t n = dx.numel();
    // Inside the open interval only: a clipped value does not move when the input moves.
    for (int64_t i = 0; i < n; ++i)
        d[i] = (x[i] > lo && x[i] < hi) ? dy[i] : 0.f;
    ctx.inputGrads[0] = dx;
}

// C[M, N] = alpha * op(A) * op(B) + beta * C, with C broadcast to [M, N].
void gemmBackward(BackwardContext &ctx)
{
    const bool transA = ctx.node.attrInt("transA", 0) != 0;
    const bool transB = ctx.node.attrInt("transB", 0) != 0;
    const float alpha = ctx.node.attrFloat("alpha", 1.f);
    const float beta = ctx.node.attrFloat("beta", 1.f);
    const Tensor &A = ctx.in(0), &B = ctx.in(1);
    requireFloat(ctx, 0);
    requireFloat(ctx, 1);
    if (A.rank() != 2 || B.rank() != 2)
        throw Error("Gemm inputs must be 2-D, got " + shapeToString(A.shape()) + " and " + shapeToString(B.shape()));
    const int64_t M = transA ? A.dim(1) : A.dim(0);
    const int64_t K = transA ? A.dim(0) : A.dim(1);
    const int64_t N = transB ? B.dim(0) : B.dim(1);
    const float *dY = ctx.outputGrad.f32();
    const int64_t lda = transA ? M : K, ldb = transB ? K : N;
    if (ctx.want(0)) {
        Tensor dA = zerosLike(A);
        if (!transA) // dA[M, K] = alpha * dY * op(B)^T
            gemm(false, !transB, M, K, N, alpha, dY, N, B.f32(), ldb, 0.f, dA.f32(), K);
        else // dA stored [K, M] = alpha * op(B) * dY^T
            gemm(transB, true, K, M, N, alpha, B.f32(), ldb, dY, N, 0.f, dA.f32(), M);
        ctx.inputGrads[0] = dA;
    }
    if (ctx.want(1)) {
        Tensor dB = zerosLike(B);
        if (!transB) // dB[K, N] = alpha * op(A)^T * dY
            gemm(!transA, false, K, N, M, alpha, A.f32(), lda, dY, N, 0.f, dB.f32(), N);
        else // dB stored [N, K] = alpha * dY^T * op(A)
            gemm(true, transA, N, K, M, alpha, dY, N, A.f32(), lda, 0.f, dB.f32(), K);
        ctx.inputGrads[1] = dB;
    }
    if (ctx.want(2) && ctx.has(2)) {
        Tensor dC = unbroadcast(ctx.outputGrad, ctx.in(2).shape());
        if (beta != 1.f)
            for (int64_t i = 0; i < dC.numel(); ++i)
                dC.f32()[i] *= beta;
        ctx.inputGrads[2] = dC;
    }
}

void matMulBackward(BackwardContext &ctx)
{
    const Tensor &A = ctx.in(0), &B = ctx.in(1);
    if (A.rank() != 2 || B.rank() != 2)
        throw Error("training supports 2-D MatMul only, got " + shapeToString(A.shape()) + " x " +
                    shapeToString(B.shape()));
    const int64_t M = A.dim(0), K = A.dim(1), N = B.dim(1);
    const float *dY = ctx.outputGrad.f32();
    if (ctx.want(0)) {
        Tensor dA = zerosLike(A);
        gemm(false, true, M, K, N, 1.f, dY, N, B.f32(), N, 0.f, dA.f32(), K);
        ctx.inputGrads[0] = dA;
    }
    if (ctx.want(1)) {
        Tensor dB = zerosLike(B);
        gemm(true, false, K, N, M, 1.f, A.f32(), K, dY, N, 0.f, dB.f32(), N);
        ctx.inputGrads[1] = dB;
    }
}

// x: [N, C, H, W], w: [M, C/group, kH, kW], b: [M] → y: [N, M, H', W'].
// Per image and group: y = w * col(x); so dw += dy * col^T, dcol = w^T * dy, dx = col2im(dcol).
void convBackward(BackwardContext &ctx)
{
    const Tensor &x = ctx.in(0), &w = ctx.in(1);
    requireFloat(ctx, 0);
    requireFloat(ctx, 1);
    const ConvGeometry g = convGeometry(ctx.node, x.shape(), w.shape());
    const int64_t Cg = g.inChannels / g.group, Mg = g.outChannels / g.group;
    const int64_t Kg = g.colRows(), P = g.colCols();
    const int64_t imageSize = g.inChannels * g.inH * g.inW, outSize = g.outChannels * P;
    const int64_t wGroup = Mg * Kg;
    const bool wantX = ctx.want(0), wantW = ctx.want(1), wantB = ctx.want(2) && ctx.has(2);
    const bool pointwise = g.isPointwise();
    const float *dY = ctx.outputGrad.f32();
    const float *X = x.f32(), *W = w.f32();

    Tensor dx = wantX ? zerosLike(x) : Tensor();
    // The batch in `chunks` contiguous parts (the first batch % chunks one image longer), each with its own
    // weight-gradient buffer, summed in part order: for a given thread count the result does not depend on
    // which thread ran which part.
    const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(ctx.threads, g.batch));
    std::vector<std::vector<float>> dwLocal(size_t(chunks), std::vector<float>(wantW ? size_t(w.numel()) : 0, 0.f));

    parallelFor(int(chunks), chunks, [&](int64_t t) {
        const ops::GemmThreads single(1); // the parts are the parallelism
        std::vector<float> col(pointwise ? 0 : size_t(Kg * P));
        std::vector<float> dcol(wantX ? size_t(Kg * P) : 0);
        const int64_t q = g.batch / chunks, r = g.batch % chunks;
        const int64_t begin = t * q + std::min(t, r), end = begin + q + (t < r ? 1 : 0);
        for (int64_t n = begin; n < end; ++n) {
            for (int64_t gi = 0; gi < g.group; ++gi) {
                const float *image = X + n * imageSize + gi * Cg * g.inH * g.inW;
                const float *dy = dY + n * outSize + gi * Mg * P;
                const float *Wg = W + gi * wGroup;
                if (wantW) {
                    const float *c = image;
                    if (!pointwise) {
                        im2col(image, Cg, g, col.data());
                        c = col.data();
                    }
                    gemm(false, true, Mg, Kg, P, 1.f, dy, P, c, P, 1.f, dwLocal[size_t(t)].data() + gi * wGroup, Kg);
                }
                if (wantX) {
                    float *dimage = dx.f32() + n * imageSize + gi * Cg * g.inH * g.inW;
                    if (pointwise) {
                        gemm(true, false, Kg, P, Mg, 1.f, Wg, Kg, dy, P, 0.f, dimage, P);
                    } else {
                        gemm(true, false, Kg, P, Mg, 1.f, Wg, Kg, dy, P, 0.f, dcol.data(), P);
                        col2im(dcol.data(), Cg, g, dimage);
                    }
                }
            }
        }
    });
    if (wantX)
        ctx.inputGrads[0] = dx;
    if (wantW) {
        Tensor dw = zerosLike(w);
        float *d = dw.f32();
        for (const auto &local : dwLocal)
            for (int64_t i = 0; i < dw.numel(); ++i)
                d[i] += local[size_t(i)];
        ctx.inputGrads[1] = dw;
    }
    if (wantB) {
        Tensor db = zerosLike(ctx.in(2));
        if (db.numel() != g.outChannels)
            throw Error("bias has " + std::to_string(db.numel()) + " values for " + std::to_string(g.outChannels) +
                        " output channels");
        for (int64_t n = 0; n < g.batch; ++n)
            for (int64_t m = 0; m < g.outChannels; ++m) {
                const float *dy = dY + n * outSize + m * P;
                double s = 0;
                for (int64_t p = 0; p < P; ++p)
                    s += dy[p];
                db.f32()[m] += float(s);
            }
        ctx.inputGrads[2] = db;
    }
}

// Channel layout helper for [N, C, ...] tensors.
struct ChannelView {
    int64_t batch, channels, spatial;
    explicit ChannelView(const Tensor &t)
    {
        if (t.rank() < 2)
            throw Error("expected [N, C, ...], got " + shapeToString(t.shape()));
        batch = t.dim(0);
        channels = t.dim(1);
        spatial = t.numel() / std::max<int64_t>(1, batch * channels);
    }
};

void batchNormBackward(BackwardContext &ctx)
{
    if (!ctx.saved)
        throw Error("BatchNormalization backward needs the batch statistics of a training-mode forward pass");
    const Tensor &x = ctx.in(0), &scale = ctx.in(1);
    const ChannelView v(x);
    const float *mean = ctx.saved->f32(), *invStd = ctx.saved->f32() + v.channels;
    const float *X = x.f32(), *dY = ctx.outputGrad.f32(), *gamma = scale.f32();
    const double count = double(v.batch * v.spatial);
    Tensor dx = ctx.want(0) ? zerosLike(x) : Tensor();
    Tensor dScale = ctx.want(1) ? zerosLike(scale) : Tensor();
    Tensor dBias = ctx.want(2) ? zerosLike(ctx.in(2)) : Tensor();
    const int threads = int(std::max<int64_t>(1, std::min<int64_t>(ctx.threads, v.channels)));
    parallelFor(threads, v.channels, [&](int64_t c) {
        // Per image: a vectorised float reduction over the plane, accumulated across images in double.
        double sumDy = 0, sumDyX = 0;
        for (int64_t n = 0; n < v.batch; ++n) {
            const int64_t base = (n * v.channels + c) * v.spatial;
            const ConstArray dy(dY + base, v.spatial), xs(X + base, v.spatial);
            sumDy += dy.sum();
            sumDyX += (dy * xs).sum();
        }
        // sum(dy * xhat) = invStd * (sum(dy * x) - mean * sum(dy))
        const double sumDyXhat = invStd[c] * (sumDyX - double(mean[c]) * sumDy);
        if (dScale.numel())
            dScale.f32()[c] = float(sumDyXhat);
        if (dBias.numel())
            dBias.f32()[c] = float(sumDy);
        if (dx.numel()) {
            // dx = gamma * invStd / m * (m * dy - sum(dy) - xhat * sum(dy * xhat)) = a * dy + b * x + k
            const double k = gamma[c] * invStd[c] / count;
            const float a = float(k * count);
            const float b = float(-k * sumDyXhat * invStd[c]);
            const float k0 = float(-k * sumDy + k * sumDyXhat * invStd[c] * mean[c]);
            for (int64_t n = 0; n < v.batch; ++n) {
                const int64_t base = (n * v.channels + c) * v.spatial;
                Array(dx.f32() + base, v.spatial) = a * ConstArray(dY + base, v.spatial) +
                                                    b * ConstArray(X + base, v.spatial) + k0;
            }
        }
    });
    if (ctx.want(0))
        ctx.inputGrads[0] = dx;
    if (ctx.want(1))
        ctx.inputGrads[1] = dScale;
    if (ctx.want(2))
        ctx.inputGrads[2] = dBias;
}

// Pooling window geometry for [N, C, H, W] (or [N, C, L]) from the node's attributes and the forward shapes.
struct PoolGeometry {
    int64_t kH = 1, kW = 1, sH = 1, sW = 1, dH = 1, dW = 1;
    int64_t padTop = 0, padLeft = 0, padBottom = 0, padRight = 0;
    int64_t inH = 1, inW = 1, outH = 1, outW = 1;
    int64_t planes = 0;
};

PoolGeometry poolGeometry(const Node &node, const Shape &in, const Shape &out)
{
    if (in.size() != 3 && in.size() != 4)
        throw Error("pooling input must be [N, C, H, W] or [N, C, L], got " + shapeToString(in));
    PoolGeometry g;
    const bool oneD = in.size() == 3;
    const size_t spatial = oneD ? 1 : 2;
    std::vector<int64_t> k = node.attrInts("kernel_shape");
    if (k.size() != spatial)
        throw Error("kernel_shape must have " + std::to_string(spatial) + " values");
    std::vector<int64_t> s = node.attrInts("strides", std::vector<int64_t>(spatial, 1));
    std::vector<int64_t> d = node.attrInts("dilations", std::vector<int64_t>(spatial, 1));
    std::vector<int64_t> p = node.attrInts("pads", std::vector<int64_t>(spatial * 2, 0));
    if (s.size() != spatial || d.size() != spatial || p.size() != spatial * 2)
        throw Error("strides / dilations / pads do not match the input rank");
    g.planes = in[0] * in[1];
    if (oneD) {
        g.kW = k[0], g.sW = s[0], g.dW = d[0], g.padLeft = p[0], g.padRight = p[1];
        g.inW = in[2], g.outW = out[2];
    } else {
        g.kH = k[0], g.kW = k[1], g.sH = s[0], g.sW = s[1], g.dH = d[0], g.dW = d[1];
        g.padTop = p[0], g.padLeft = p[1], g.padBottom = p[2], g.padRight = p[3];
        g.inH = in[2], g.inW = in[3], g.outH = out[2], g.outW = out[3];
    }
    const std::string autoPad = node.attrString("auto_pad", "NOTSET");
    if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER") {
        auto same = [&](int64_t inN, int64_t outN, int64_t kk, int64_t ss, int64_t dd, int64_t &pb, int64_t &pe) {
            const int64_t total = std::max<int64_t>(0, (outN - 1) * ss + (kk - 1) * dd + 1 - inN);
            pb = autoPad == "SAME_UPPER" ? total / 2 : (total + 1) / 2;
            pe = total - pb;
        };
        same(g.inH, g.outH, g.kH, g.sH, g.dH, g.padTop, g.padBottom);
        same(g.inW, g.outW, g.kW, g.sW, g.dW, g.padLeft, g.padRight);
    } else if (autoPad == "VALID") {
        g.padTop = g.padLeft = g.padBottom = g.padRight = 0;
    }
    return g;
}

void maxPoolBackward(BackwardContext &ctx)
{
    if (!ctx.want(0))
        return;
    const Tensor &x = ctx.in(0);
    const PoolGeometry g = poolGeometry(ctx.node, x.shape(), ctx.outputs[0]->shape());
    Tensor dx = zerosLike(x);
    const float *X = x.f32(), *dY = ctx.outputGrad.f32();
    float *dX = dx.f32();
    const int threads = int(std::max<int64_t>(1, std::min<int64_t>(ctx.threads, g.planes)));
    parallelFor(threads, g.planes, [&](int64_t plane) {
        const float *xp = X + plane * g.inH * g.inW;
        float *dxp = dX + plane * g.inH * g.inW;
        const float *dyp = dY + plane * g.outH * g.outW;
        for (int64_t oh = 0; oh < g.outH; ++oh)
            for (int64_t ow = 0; ow < g.outW; ++ow) {
                // The gradient goes to the first maximum in scan order, as the forward pass picks it.
                int64_t best = -1;
                float bestValue = -std::numeric_limits<float>::infinity();
                for (int64_t kh = 0; kh < g.kH; ++kh) {
                    const int64_t ih = oh * g.sH - g.padTop + kh * g.dH;
                    if (ih < 0 || ih >= g.inH)
                        continue;
                    for (int64_t kw = 0; kw < g.kW; ++kw) {
                        const int64_t iw = ow * g.sW - g.padLeft + kw * g.dW;
                        if (iw < 0 || iw >= g.inW)
                            continue;
                        const float v = xp[ih * g.inW + iw];
                        if (best < 0 || v > bestValue) {
                            best = ih * g.inW + iw;
                            bestValue = v;
                        }
                    }
                }
                if (best >= 0)
                    dxp[best] += dyp[oh * g.outW + ow];
            }
    });
    ctx.inputGrads[0] = dx;
}

void averagePoolBackward(BackwardContext &ctx)
{
    if (!ctx.want(0))
        return;
    const Tensor &x = ctx.in(0);
    const PoolGeometry g = poolGeometry(ctx.node, x.shape(), ctx.outputs[0]->shape());
    const bool includePad = ctx.node.attrInt("count_include_pad", 0) != 0;
    Tensor dx = zerosLike(x);
    const float *dY = ctx.outputGrad.f32();
    float *dX = dx.f32();
    const int threads = int(std::max<int64_t>(1, std::min<int64_t>(ctx.threads, g.planes)));
    parallelFor(threads, g.planes, [&](int64_t plane) {
        float *dxp = dX + plane * g.inH * g.inW;
        const float *dyp = dY + plane * g.outH * g.outW;
        for (int64_t oh = 0; oh < g.outH; ++oh)
            for (int64_t ow = 0; ow < g.outW; ++ow) {
                const int64_t h0 = oh * g.sH - g.padTop, w0 = ow * g.sW - g.padLeft;
                const int64_t h1 = std::min(h0 + g.kH, g.inH + g.padBottom);
                const int64_t w1 = std::min(w0 + g.kW, g.inW + g.padRight);
                const int64_t hs = std::max<int64_t>(h0, 0), ws = std::max<int64_t>(w0, 0);
                const int64_t he = std::min(h1, g.inH), we = std::min(w1, g.inW);
                const int64_t count = includePad ? (h1 - h0) * (w1 - w0) : (he - hs) * (we - ws);
                if (count <= 0)
                    continue;
                const float share = dyp[oh * g.outW + ow] / float(count);
                for (int64_t ih = hs; ih < he; ++ih)
                    for (int64_t iw = ws; iw < we; ++iw)
                        dxp[ih * g.inW + iw] += share;
            }
    });
    ctx.inputGrads[0] = dx;
}

void globalAveragePoolBackward(BackwardContext &ctx)
{
    if (!ctx.want(0))
        return;
    const ChannelView v(ctx.in(0));
    Tensor dx = zerosLike(ctx.in(0));
    const float *dY = ctx.outputGrad.f32();
    float *dX = dx.f32();
    for (int64_t plane = 0; plane < v.batch * v.channels; ++plane) {
        const float share = dY[plane] / float(v.spatial);
        std::fill(dX + plane * v.spatial, dX + (plane + 1) * v.spatial, share);
    }
    ctx.inputGrads[0] = dx;
}

void addSubBackward(BackwardContext &ctx)
{
    const bool sub = ctx.node.opType == "Sub";
    for (int i = 0; i < 2; ++i) {
        if (!ctx.want(i))
            continue;
        Tensor g = unbroadcast(ctx.outputGrad, ctx.in(i).shape());
        if (sub && i == 1) {
            if (g.f32() == ctx.outputGrad.f32())
                g = g.clone();
            for (int64_t k = 0; k < g.numel(); ++k)
                g.f32()[k] = -g.f32()[k];
        }
        ctx.inputGrads[size_t(i)] = g;
    }
}

// Max / Min of one or more inputs (broadcast): each element's gradient goes to the first input that holds the
// result, as TensorFlow's maximum and minimum give it to their first input on ties.
void extremumBackward(BackwardContext &ctx)
{
    const Tensor &y = *ctx.outputs[0];
    const int64_t n = y.numel();
    const size_t count = ctx.inputs.size();
    std::vector<Tensor> full(count);
    std::vector<BroadcastWalk> walks;
    std::vector<const float *> in(count);
    std::vector<float *> out(count, nullptr);
    for (size_t i = 0; i < count; ++i) {
        if (ctx.in(int(i)).dtype() != DType::Float32)
            throw Error("training supports float32 inputs only");
        walks.emplace_back(ctx.in(int(i)).shape(), y.shape(), "broadcast an input");
        in[i] = ctx.in(int(i)).f32();
        if (ctx.want(int(i))) {
            full[i] = zerosLike(y);
            out[i] = full[i].f32();
        }
    }
    const float *yv = y.f32(), *dy = ctx.outputGrad.f32();
    for (int64_t k = 0; k < n; ++k) {
        bool given = false;
        for (size_t i = 0; i < count; ++i) {
            if (!given && in[i][walks[i].offset()] == yv[k]) {
                given = true;
                if (out[i])
                    out[i][k] = dy[k];
            }
            walks[i].next();
        }
    }
    for (size_t i = 0; i < count; ++i)
        if (!full[i].isNull())
            ctx.inputGrads[i] = unbroadcast(full[i], ctx.in(int(i)).shape());
}

const std::map<std::string, BackwardFn> &rules()
{
    static const std::map<std::string, BackwardFn> table = {
        {"Gemm", gemmBackward},
        {"MatMul", matMulBackward},
        {"Conv", convBackward},
        {"BatchNormalization", batchNormBackward},
        {"Relu", reluBackward},
        {"LeakyRelu", leakyReluBackward},
        {"Clip", clipBackward},
        {"MaxPool", maxPoolBackward},
        {"AveragePool", averagePoolBackward},
        {"GlobalAveragePool", globalAveragePoolBackward},
        {"Flatten", passThroughBackward},
        {"Reshape", passThroughBackward},
        {"Identity", passThroughBackward},
        {"Dropout", passThroughBackward},
        {"Add", addSubBackward},
        {"Sub", addSubBackward},
        {"Max", extremumBackward},
        {"Min", extremumBackward},
    };
    return table;
}

} // namespace

BackwardFn findBackward(const std::string &opType)
{
    auto it = rules().find(opType);
    return it == rules().end() ? nullptr : it->second;
}

std::vector<std::string> differentiableOps()
{
    std::vector<std::string> names;
    for (const auto &[name, fn] : rules())
        names.push_back(name);
    return names;
}

std::vector<int> parameterSlots(const std::string &opType)
{
    if (opType == "Gemm" || opType == "Conv" || opType == "BatchNormalization")
        return {1, 2};
    if (opType == "MatMul")
        return {1};
    if (opType == "Add" || opType == "Sub")
        return {0, 1};
    return {};
}

Tensor unbroadcast(const Tensor &grad, const Shape &to)
{
    if (grad.shape() == to)
        return grad;
    Tensor out(DType::Float32, to);
    float *o = out.f32();
    const float *g = grad.f32();
    const int64_t n = grad.numel();
    BroadcastWalk walk(to, grad.shape(), "reduce a gradient");
    for (int64_t i = 0; i < n; ++i, walk.next())
        o[walk.offset()] += g[i];
    return out;
}

Tensor batchNormTraining(const Node &node, const Tensor &x, const Tensor &scale, const Tensor &bias,
                         Tensor &runningMean, Tensor &runningVar, bool updateRunning, Tensor *saved, int threads)
{
    const ChannelView v(x);
    for (const Tensor *t : {&scale, &bias, static_cast<const Tensor *>(&runningMean), static_cast<const Tensor *>(&runningVar)})
        if (t->numel() != v.channels || t->dtype() != DType::Float32)
            throw Error("scale, bias, mean and variance must be float32 [" + std::to_string(v.channels) + "], got " +
                        shapeToString(t->shape()));
    const float epsilon = node.attrFloat("epsilon", 1e-5f);
    const float momentum = node.attrFloat("momentum", 0.9f);
    Tensor y(DType::Float32, x.shape());
    Tensor stats(DType::Float32, {2, v.channels});
    const float *X = x.f32();
    float *Y = y.f32();
    const int64_t count = v.batch * v.spatial;
    const int nt = int(std::max<int64_t>(1, std::min<int64_t>(threads, v.channels)));
    parallelFor(nt, v.channels, [&](int64_t c) {
        double sum = 0;
        for (int64_t n = 0; n < v.batch; ++n)
            sum += ConstArray(X + (n * v.channels + c) * v.spatial, v.spatial).sum();
        const double mean = sum / double(count);
        // Two passes (sum of squared deviations) so a large mean does not cancel the variance.
        double sq = 0;
        for (int64_t n = 0; n < v.batch; ++n)
            sq += (ConstArray(X + (n * v.channels + c) * v.spatial, v.spatial) - float(mean)).square().sum();
        const double var = sq / double(count);
        const double invStd = 1.0 / std::sqrt(var + double(epsilon));
        stats.f32()[c] = float(mean);
        stats.f32()[v.channels + c] = float(invStd);
        const float a = float(scale.f32()[c] * invStd), b = float(bias.f32()[c] - a * mean);
        for (int64_t n = 0; n < v.batch; ++n) {
            const int64_t base = (n * v.channels + c) * v.spatial;
            Array(Y + base, v.spatial) = a * ConstArray(X + base, v.spatial) + b;
        }
        if (updateRunning) {
            const double unbiased = count > 1 ? sq / double(count - 1) : var;
            runningMean.f32()[c] = float(momentum * runningMean.f32()[c] + (1.0 - momentum) * mean);
            runningVar.f32()[c] = float(momentum * runningVar.f32()[c] + (1.0 - momentum) * unbiased);
        }
    });
    if (saved)
        *saved = stats;
    return y;
}

} // namespace cw::detail
