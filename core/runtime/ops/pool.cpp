// Pooling.
//
//   MaxPool:      x [N, C, H, W] (or [N, C, L]) → [N, C, H', W']; kernel_shape (required), strides, pads,
//                 dilations, ceil_mode, auto_pad. Padding never wins the max. The optional Indices output
//                 is not supported.
//   AveragePool:  same geometry (dilations too); count_include_pad (0) decides whether padded positions
//                 count in the divisor. With count_include_pad the divisor still stops at the end of the
//                 padded input (a ceil_mode window hanging past it is not padded further), as onnxruntime does.
//   GlobalAveragePool, GlobalMaxPool: x [N, C, ...] → [N, C, 1, ...]
// MaxPool also runs on uint8 / int8 (quantized activations: the max commutes with the monotonic
// quantization, so pooling the integers equals quantizing the pooled floats).
//
// H' = floor or ceil((H + padBegin + padEnd - dilation·(k-1) - 1) / stride) + 1; with ceil_mode a last
// window that would start inside the end padding is dropped (the PyTorch / onnxruntime rule).
#include <immintrin.h>

#include <cmath>
#include <limits>

#include "core/runtime/ops/common.h"

namespace cw {
namespace {

using namespace ops;

struct PoolGeometry {
    int64_t N = 0, C = 0, inH = 1, inW = 1, outH = 1, outW = 1;
    int64_t kH = 1, kW = 1, sH = 1, sW = 1, dH = 1, dW = 1;
    int64_t padT = 0, padL = 0, padB = 0, padR = 0;
    bool oneD = false;
};

PoolGeometry poolGeometry(const OpContext &ctx, const Tensor &x, bool integers = false)
{
    if (!integers || (x.dtype() != DType::UInt8 && x.dtype() != DType::Int8))
        requireFloat(ctx, x, "X");
    if (x.rank() != 3 && x.rank() != 4)
        ctx.fail("input must be [N, C, H, W] or [N, C, L], got " + shapeToString(x.shape()));
    const size_t spatial = size_t(x.rank() - 2);
    PoolGeometry g;
    g.oneD = spatial == 1;
    g.N = x.dim(0);
    g.C = x.dim(1);
    const std::vector<int64_t> kernel = ctx.node.attrInts("kernel_shape");
    if (kernel.size() != spatial)
        ctx.fail("kernel_shape must have " + str(int64_t(spatial)) + " values for input " + shapeToString(x.shape()));
    const std::vector<int64_t> strides = ctx.node.attrInts("strides", std::vector<int64_t>(spatial, 1));
    const std::vector<int64_t> dilations = ctx.node.attrInts("dilations", std::vector<int64_t>(spatial, 1));
    std::vector<int64_t> pads = ctx.node.attrInts("pads", std::vector<int64_t>(spatial * 2, 0));
    if (strides.size() != spatial || dilations.size() != spatial || pads.size() != spatial * 2)
        ctx.fail("strides / dilations / pads do not match the " + str(int64_t(spatial)) + "-D input");
    for (size_t i = 0; i < spatial; ++i) {
        if (kernel[i] < 1 || strides[i] < 1 || dilations[i] < 1)
            ctx.fail("kernel_shape, strides and dilations must be positive");
        if (pads[i] < 0 || pads[i + spatial] < 0)
            ctx.fail("pads must not be negative");
    }
    const std::string autoPad = ctx.node.attrString("auto_pad", "NOTSET");
    if (autoPad != "NOTSET" && autoPad != "VALID" && autoPad != "SAME_UPPER" && autoPad != "SAME_LOWER")
        ctx.fail("unknown auto_pad '" + autoPad + "'");
    const bool ceilMode = ctx.node.attrInt("ceil_mode", 0) != 0;
    std::vector<int64_t> out(spatial);
    for (size_t i = 0; i < spatial; ++i) {
        const int64_t in = x.dim(int(i) + 2);
        const int64_t extent = dilations[i] * (kernel[i] - 1) + 1;
        int64_t &pb = pads[i], &pe = pads[i + spatial];
        if (autoPad == "VALID") {
            pb = pe = 0;
        } else if (autoPad != "NOTSET") {
            const int64_t o = (in + strides[i] - 1) / strides[i];
            const int64_t total = std::max<int64_t>(0, (o - 1) * strides[i] + extent - in);
            pb = autoPad == "SAME_UPPER" ? total / 2 : (total + 1) / 2;
            pe = total - pb;
        }
        const int64_t span = in + pb + pe - extent;
        if (span < 0)
            ctx.fail("kernel " + str(extent) + " is larger than the padded input " + str(in + pb + pe));
        int64_t o = (ceilMode ? (span + strides[i] - 1) / strides[i] : span / strides[i]) + 1;
        if (ceilMode && (o - 1) * strides[i] >= in + pb)
            --o;
        out[i] = o;
    }
    if (g.oneD) {
        g.inW = x.dim(2);
        g.outW = out[0];
        g.kW = kernel[0];
        g.sW = strides[0];
        g.dW = dilations[0];
        g.padL = pads[0];
        g.padR = pads[1];
    } else {
        g.inH = x.dim(2);
        g.inW = x.dim(3);
        g.outH = out[0];
        g.outW = out[1];
        g.kH = kernel[0];
        g.kW = kernel[1];
        g.sH = strides[0];
        g.sW = strides[1];
        g.dH = dilations[0];
        g.dW = dilations[1];
        g.padT = pads[0];
        g.padL = pads[1];
        g.padB = pads[2];
        g.padR = pads[3];
    }
    return g;
}

// Kernel taps [lo, hi) of a window starting at `start` that land inside [0, size).
inline void validTaps(int64_t start, int64_t k, int64_t d, int64_t size, int64_t &lo, int64_t &hi)
{
    lo = start >= 0 ? 0 : (-start + d - 1) / d;
    hi = size - start <= 0 ? 0 : std::min(k, (size - start + d - 1) / d);
}

// The 2×2 stride-2 max pool of most small CNNs, or its 1×2 form (audio models pooling time and frequency
// apart), with every window inside the input: the general loop's per-window bookkeeping cost more than the max
// itself.
bool isPlainMaxKx2(const PoolGeometry &g)
{
    return (g.kH == 1 || g.kH == 2) && g.sH == g.kH && g.kW == 2 && g.sW == 2 && g.dH == 1 && g.dW == 1 &&
           g.padT == 0 && g.padL == 0 && g.outH * g.kH <= g.inH && g.outW * 2 <= g.inW;
}

// One plane of a pool isPlainMaxKx2 accepts (a 1×2 window reads its row twice).
template <typename T> void maxPlaneKx2(const T *in, const PoolGeometry &g, T *out)
{
    for (int64_t oh = 0; oh < g.outH; ++oh) {
        const T *r0 = in + g.kH * oh * g.inW;
        const T *r1 = r0 + (g.kH - 1) * g.inW;
        T *o = out + oh * g.outW;
        for (int64_t ow = 0; ow < g.outW; ++ow)
            o[ow] = std::max(std::max(r0[2 * ow], r0[2 * ow + 1]), std::max(r1[2 * ow], r1[2 * ow + 1]));
    }
}

// uint8 (quantized activations after a fused ReLU): 8 outputs per step; the scalar template lost 2.5x to
// the float loop, which the compiler vectorises.
template <> void maxPlaneKx2<uint8_t>(const uint8_t *in, const PoolGeometry &g, uint8_t *out)
{
    const __m128i lowBytes = _mm_set1_epi16(0xFF);
    for (int64_t oh = 0; oh < g.outH; ++oh) {
        const uint8_t *r0 = in + g.kH * oh * g.inW;
        const uint8_t *r1 = r0 + (g.kH - 1) * g.inW;
        uint8_t *o = out + oh * g.outW;
        // Steps of 8 (or 4) outputs; the last step overlaps the previous one instead of a scalar tail.
        if (g.outW >= 8) {
            for (int64_t ow = 0; ow < g.outW; ow += 8) {
                const int64_t at = std::min(ow, g.outW - 8);
                const __m128i m = _mm_max_epu8(_mm_loadu_si128(reinterpret_cast<const __m128i *>(r0 + 2 * at)),
                                               _mm_loadu_si128(reinterpret_cast<const __m128i *>(r1 + 2 * at)));
                const __m128i pairs = _mm_max_epu16(_mm_and_si128(m, lowBytes), _mm_srli_epi16(m, 8));
                _mm_storel_epi64(reinterpret_cast<__m128i *>(o + at), _mm_packus_epi16(pairs, pairs));
            }
        } else if (g.outW >= 4) {
            for (int64_t ow = 0; ow < g.outW; ow += 4) {
                const int64_t at = std::min(ow, g.outW - 4);
                const __m128i m = _mm_max_epu8(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(r0 + 2 * at)),
                                               _mm_loadl_epi64(reinterpret_cast<const __m128i *>(r1 + 2 * at)));
                const __m128i pairs = _mm_max_epu16(_mm_and_si128(m, lowBytes), _mm_srli_epi16(m, 8));
                const int32_t four = _mm_cvtsi128_si32(_mm_packus_epi16(pairs, pairs));
                std::memcpy(o + at, &four, 4);
            }
        } else {
            for (int64_t ow = 0; ow < g.outW; ++ow)
                o[ow] = std::max(std::max(r0[2 * ow], r0[2 * ow + 1]), std::max(r1[2 * ow], r1[2 * ow + 1]));
        }
    }
}

Shape pooledShape(const PoolGeometry &g)
{
    return g.oneD ? Shape{g.N, g.C, g.outW} : Shape{g.N, g.C, g.outH, g.outW};
}

template <bool Max, typename T = float> void poolOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    if (Max && ctx.node.outputs.size() > 1 && !ctx.node.outputs[1].empty())
        ctx.fail("the Indices output of MaxPool is not supported");
    const PoolGeometry g = poolGeometry(ctx, x, Max);
    const bool includePad = ctx.node.attrInt("count_include_pad", 0) != 0;
    Tensor out = Tensor::uninitialized(dtypeOf<T>(), pooledShape(g));
    const T *src = x.data<T>();
    T *dst = out.data<T>();
    const int64_t planes = g.N * g.C, inPlane = g.inH * g.inW, outPlane = g.outH * g.outW;
    if (Max && isPlainMaxKx2(g)) {
        const int threads = threadsFor(ctx, x.numel());
        parallelRanges(threads, planes, 1, [&](int64_t pBegin, int64_t pEnd) {
            for (int64_t p = pBegin; p < pEnd; ++p)
                maxPlaneKx2(src + p * inPlane, g, dst + p * outPlane);
        });
        ctx.outputs[0] = out;
        return;
    }
    // Window bounds depend only on the output column, so compute them once.
    std::vector<int64_t> wLo(size_t(g.outW)), wHi(size_t(g.outW)), wPad(size_t(g.outW));
    for (int64_t ow = 0; ow < g.outW; ++ow) {
        const int64_t ws = ow * g.sW - g.padL;
        validTaps(ws, g.kW, g.dW, g.inW, wLo[size_t(ow)], wHi[size_t(ow)]);
        int64_t lo, hi;
        validTaps(ws, g.kW, g.dW, g.inW + g.padR, lo, hi);
        wPad[size_t(ow)] = hi; // taps before the end of the padded input (all start at or after -padL)
    }
    const int threads = threadsFor(ctx, x.numel());
    parallelRanges(threads, planes, 1, [&](int64_t pBegin, int64_t pEnd) {
        for (int64_t p = pBegin; p < pEnd; ++p) {
            const T *in = src + p * inPlane;
            T *o = dst + p * outPlane;
            for (int64_t oh = 0; oh < g.outH; ++oh) {
                const int64_t hs = oh * g.sH - g.padT;
                int64_t hLo, hHi, hPadLo, hPad;
                validTaps(hs, g.kH, g.dH, g.inH, hLo, hHi);
                validTaps(hs, g.kH, g.dH, g.inH + g.padB, hPadLo, hPad);
                for (int64_t ow = 0; ow < g.outW; ++ow) {
                    const int64_t ws = ow * g.sW - g.padL;
                    const int64_t lo = wLo[size_t(ow)], hi = wHi[size_t(ow)];
                    T acc = Max ? std::numeric_limits<T>::lowest() : T(0);
                    for (int64_t kh = hLo; kh < hHi; ++kh) {
                        const T *row = in + (hs + kh * g.dH) * g.inW + ws;
                        for (int64_t kw = lo; kw < hi; ++kw) {
                            const T v = row[kw * g.dW];
                            if (Max)
                                acc = std::max(acc, v);
                            else
                                acc += v;
                        }
                    }
                    if constexpr (!Max) {
                        const int64_t count = includePad ? hPad * wPad[size_t(ow)] : (hHi - hLo) * (hi - lo);
                        acc = count > 0 ? acc / float(count) : 0.f;
                    }
                    o[oh * g.outW + ow] = acc;
                }
            }
        }
    });
    ctx.outputs[0] = out;
}

void maxPoolOp(OpContext &ctx)
{
    const DType type = ctx.input(0).dtype();
    if (type == DType::UInt8)
        poolOp<true, uint8_t>(ctx);
    else if (type == DType::Int8)
        poolOp<true, int8_t>(ctx);
    else
        poolOp<true, float>(ctx);
}

template <bool Max> void globalPoolOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    requireFloat(ctx, x, "X");
    if (x.rank() < 3)
        ctx.fail("input must be [N, C, ...], got " + shapeToString(x.shape()));
    Shape outShape = x.shape();
    for (size_t d = 2; d < outShape.size(); ++d)
        outShape[d] = 1;
    Tensor out = Tensor::uninitialized(DType::Float32, outShape);
    const int64_t planes = x.dim(0) * x.dim(1), plane = planes ? x.numel() / planes : 0;
    if (plane == 0)
        ctx.fail("input has an empty spatial extent " + shapeToString(x.shape()));
    const float *src = x.f32();
    float *dst = out.f32();
    const int threads = threadsFor(ctx, x.numel());
    parallelRanges(threads, planes, 1, [&](int64_t pBegin, int64_t pEnd) {
        for (int64_t p = pBegin; p < pEnd; ++p) {
            const float *s = src + p * plane;
            float acc = Max ? s[0] : 0.f;
            for (int64_t i = 0; i < plane; ++i)
                acc = Max ? std::max(acc, s[i]) : acc + s[i];
            dst[p] = Max ? acc : acc / float(plane);
        }
    });
    ctx.outputs[0] = out;
}

} // namespace

void registerPoolOps(KernelTable &table)
{
    table["MaxPool"] = {maxPoolOp, {8, 10, 11, 12, 22}, kMaxOpset, "the Indices output"};
    table["AveragePool"] = {poolOp<false>, {7, 10, 11, 19, 22}};
    table["GlobalAveragePool"] = {globalPoolOp<false>, {1, 22}};
    table["GlobalMaxPool"] = {globalPoolOp<true>, {1, 22}};
}

} // namespace cw
