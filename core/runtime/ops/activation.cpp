// Activations: element-wise on float tensors of any shape (x → y of the same shape), plus Softmax.
//
//   Relu, Sigmoid, Tanh
//   Clip:        bounds from attributes min/max (opset < 11) or optional inputs 1 and 2 (opset >= 11);
//                float and int64
//   LeakyRelu:   alpha (0.01)          Elu: alpha (1.0)
//   Selu:        gamma·x for x > 0, gamma·(alpha·e^x - alpha) otherwise (alpha 1.6733, gamma 1.0507)
//   PRelu:       x, slope broadcastable to x → x for x >= 0, slope·x otherwise
//   Softplus:    log(1 + e^x)          Softsign: x / (1 + |x|)
//   HardSigmoid: max(0, min(1, alpha·x + beta)), alpha 0.2, beta 0.5
//   HardSwish:   x · max(0, min(1, x/6 + 1/2))
//   Gelu:        approximate "none" (erf) or "tanh"
//   Softmax, LogSoftmax: axis. Opset < 13 coerces the input to 2-D [prod(dims < axis), prod(dims >= axis)]
//                and normalises each row (default axis 1); opset >= 13 normalises along the single axis
//                (default -1). The opset comes from the node attribute "_opset" (see ops/common.h).
#include <cmath>
#include <limits>

#include "core/runtime/fusion.h"
#include "core/runtime/ops/common.h"

namespace cw {
namespace {

using namespace ops;

const Tensor &floatInput(const OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    requireFloat(ctx, x);
    return x;
}

void reluOp(OpContext &ctx)
{
    ctx.outputs[0] = unaryFloat(ctx, floatInput(ctx), [](float v) { return act::relu(v); });
}

void sigmoidOp(OpContext &ctx)
{
    ctx.outputs[0] = unaryFloat(ctx, floatInput(ctx), [](float v) { return act::sigmoid(v); });
}

void tanhOp(OpContext &ctx)
{
    ctx.outputs[0] = unaryFloat(ctx, floatInput(ctx), [](float v) { return act::tanh(v); });
}

void leakyReluOp(OpContext &ctx)
{
    const float alpha = ctx.node.attrFloat("alpha", 0.01f);
    ctx.outputs[0] = unaryFloat(ctx, floatInput(ctx), [alpha](float v) { return act::leakyRelu(v, alpha); });
}

void eluOp(OpContext &ctx)
{
    const float alpha = ctx.node.attrFloat("alpha", 1.f);
    ctx.outputs[0] =
        unaryFloat(ctx, floatInput(ctx), [alpha](float v) { return v >= 0.f ? v : alpha * (std::exp(v) - 1.f); });
}

void hardSigmoidOp(OpContext &ctx)
{
    const float alpha = ctx.node.attrFloat("alpha", 0.2f);
    const float beta = ctx.node.attrFloat("beta", 0.5f);
    ctx.outputs[0] = unaryFloat(ctx, floatInput(ctx), [alpha, beta](float v) { return act::hardSigmoid(v, alpha, beta); });
}

void hardSwishOp(OpContext &ctx)
{
    ctx.outputs[0] = unaryFloat(ctx, floatInput(ctx), [](float v) { return act::hardSwish(v); });
}

void geluOp(OpContext &ctx)
{
    const std::string approximate = ctx.node.attrString("approximate", "none");
    const Tensor &x = floatInput(ctx);
    if (approximate == "none") {
        ctx.outputs[0] = unaryFloat(ctx, x, [](float v) { return 0.5f * v * (1.f + std::erf(v * float(M_SQRT1_2))); });
    } else if (approximate == "tanh") {
        const float k = std::sqrt(2.f / float(M_PI));
        ctx.outputs[0] = unaryFloat(ctx, x, [k](float v) {
            return 0.5f * v * (1.f + std::tanh(k * (v + 0.044715f * v * v * v)));
        });
    } else {
        ctx.fail("approximate must be 'none' or 'tanh', got '" + approximate + "'");
    }
}

void softplusOp(OpContext &ctx)
{
    // log(1 + e^x) without overflow for large x.
    ctx.outputs[0] = unaryFloat(ctx, floatInput(ctx),
                                [](float v) { return v > 0.f ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v)); });
}

void softsignOp(OpContext &ctx)
{
    ctx.outputs[0] = unaryFloat(ctx, floatInput(ctx), [](float v) { return v / (1.f + std::fabs(v)); });
}

void seluOp(OpContext &ctx)
{
    const float alpha = ctx.node.attrFloat("alpha", 1.67326319217681884765625f);
    const float gamma = ctx.node.attrFloat("gamma", 1.05070102214813232421875f);
    ctx.outputs[0] = unaryFloat(ctx, floatInput(ctx), [alpha, gamma](float v) {
        return v > 0.f ? gamma * v : gamma * (alpha * std::exp(v) - alpha);
    });
}

// PRelu: slope broadcasts to x (unidirectionally: the output has x's shape).
void preluOp(OpContext &ctx)
{
    const Tensor &x = floatInput(ctx);
    const Tensor &slope = ctx.input(1);
    requireFloat(ctx, slope, "slope");
    const Shape shape = broadcastShapes(ctx, x.shape(), slope.shape());
    if (shape != x.shape())
        ctx.fail("slope " + shapeToString(slope.shape()) + " does not broadcast to the input " + shapeToString(x.shape()));
    Tensor out = Tensor::uninitialized(DType::Float32, shape);
    broadcastBinary<float, float, float>(ctx, x, slope, out, [](float v, float a) { return v < 0.f ? a * v : v; });
    ctx.outputs[0] = std::move(out);
}

void clipOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    auto bound = [&](int index, const char *attr, double fallback) {
        if (ctx.hasInput(index)) {
            const Tensor &t = ctx.input(index);
            if (t.numel() != 1)
                ctx.fail(std::string(attr) + " must be a scalar, got shape " + shapeToString(t.shape()));
            if (t.dtype() != x.dtype())
                ctx.fail(std::string(attr) + " has type " + dtypeName(t.dtype()) + ", input has " +
                         dtypeName(x.dtype()));
            return t.dtype() == DType::Float32 ? double(t.f32()[0]) : double(t.toInt64Vector()[0]);
        }
        return ctx.node.hasAttr(attr) ? double(ctx.node.attrFloat(attr, 0.f)) : fallback;
    };
    const double inf = std::numeric_limits<double>::infinity();
    const double lo = bound(1, "min", -inf), hi = bound(2, "max", inf);
    if (x.dtype() == DType::Float32) {
        const float flo = float(lo), fhi = float(hi);
        ctx.outputs[0] = unaryFloat(ctx, x, [flo, fhi](float v) { return act::clip(v, flo, fhi); });
        return;
    }
    if (x.dtype() != DType::Int64 && x.dtype() != DType::Int32)
        ctx.fail(std::string("type ") + dtypeName(x.dtype()) + " is not supported");
    Tensor out = Tensor::uninitialized(x.dtype(), x.shape());
    visitDType(x.dtype(), [&](auto zero) {
        using T = decltype(zero);
        // Integer bounds come from inputs of the input's type (the attributes are float32 and opset 6 only).
        const T tlo = ctx.hasInput(1) ? T(ctx.input(1).toInt64Vector()[0]) : std::numeric_limits<T>::lowest();
        const T thi = ctx.hasInput(2) ? T(ctx.input(2).toInt64Vector()[0]) : std::numeric_limits<T>::max();
        const T *src = x.data<T>();
        T *dst = out.data<T>();
        for (int64_t i = 0; i < x.numel(); ++i)
            dst[i] = std::min(std::max(src[i], tlo), thi);
    });
    ctx.outputs[0] = std::move(out);
}

// Softmax over `n` values spaced `inner` apart, for each of outer × inner positions.
template <bool Log> void softmaxOp(OpContext &ctx)
{
    const Tensor &x = floatInput(ctx);
    const int64_t opset = nodeOpset(ctx.node);
    const int64_t rank = std::max(1, x.rank());
    const int axis = normalizeAxis(ctx, ctx.node.attrInt("axis", opset < 13 ? 1 : -1), rank);
    int64_t outer = 1, n = 1, inner = 1;
    for (int d = 0; d < x.rank(); ++d) {
        if (d < axis)
            outer *= x.dim(d);
        else if (d == axis || opset < 13)
            n *= x.dim(d);
        else
            inner *= x.dim(d);
    }
    Tensor out = Tensor::uninitialized(DType::Float32, x.shape());
    const float *src = x.f32();
    float *dst = out.f32();
    const int threads = threadsFor(ctx, x.numel());
    if (inner == 1) {
        parallelRanges((threads > 1 && outer > 1) ? threads : 1, outer, 1, [&](int64_t oBegin, int64_t oEnd) {
            for (int64_t o = oBegin; o < oEnd; ++o) {
                const float *s = src + o * n;
                float *d = dst + o * n;
                float m = -std::numeric_limits<float>::infinity();
                for (int64_t k = 0; k < n; ++k)
                    m = std::max(m, s[k]);
                float sum = 0.f;
                for (int64_t k = 0; k < n; ++k) {
                    d[k] = std::exp(s[k] - m);
                    sum += d[k];
                }
                if (Log) {
                    const float logSum = std::log(sum);
                    for (int64_t k = 0; k < n; ++k)
                        d[k] = s[k] - m - logSum;
                } else {
                    const float inv = 1.f / sum;
                    for (int64_t k = 0; k < n; ++k)
                        d[k] *= inv;
                }
            }
        });
    } else {
        std::vector<float> m(static_cast<size_t>(inner)), sum(static_cast<size_t>(inner));
        for (int64_t o = 0; o < outer; ++o) {
            const float *s = src + o * n * inner;
            float *d = dst + o * n * inner;
            std::fill(m.begin(), m.end(), -std::numeric_limits<float>::infinity());
            std::fill(sum.begin(), sum.end(), 0.f);
            for (int64_t k = 0; k < n; ++k)
                for (int64_t i = 0; i < inner; ++i)
                    m[size_t(i)] = std::max(m[size_t(i)], s[k * inner + i]);
            for (int64_t k = 0; k < n; ++k)
                for (int64_t i = 0; i < inner; ++i) {
                    d[k * inner + i] = std::exp(s[k * inner + i] - m[size_t(i)]);
                    sum[size_t(i)] += d[k * inner + i];
                }
            for (int64_t k = 0; k < n; ++k)
                for (int64_t i = 0; i < inner; ++i)
                    d[k * inner + i] = Log ? s[k * inner + i] - m[size_t(i)] - std::log(sum[size_t(i)])
                                           : d[k * inner + i] / sum[size_t(i)];
        }
    }
    ctx.outputs[0] = std::move(out);
}

} // namespace

void registerActivationOps(KernelTable &table)
{
    table["Relu"] = {reluOp, {6, 13, 14}};
    table["Clip"] = {clipOp, {6, 11, 12, 13}};
    table["LeakyRelu"] = {leakyReluOp, {6, 16}};
    table["Elu"] = {eluOp, {6, 22}};
    table["Selu"] = {seluOp, {6, 22}};
    table["PRelu"] = {preluOp, {9, 16}};
    table["Softplus"] = {softplusOp, {1, 22}};
    table["Softsign"] = {softsignOp, {1, 22}};
    table["Sigmoid"] = {sigmoidOp, {6, 13}};
    table["Tanh"] = {tanhOp, {6, 13}};
    table["HardSigmoid"] = {hardSigmoidOp, {6, 22}};
    table["HardSwish"] = {hardSwishOp, {14, 22}};
    table["Gelu"] = {geluOp, {20}};
    table["Softmax"] = {softmaxOp<false>, {1, 11, 13}};
    table["LogSoftmax"] = {softmaxOp<true>, {1, 11, 13}};
}

} // namespace cw
