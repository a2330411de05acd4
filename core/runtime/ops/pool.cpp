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
#include <type_traits>

#include "core/runtime/ops/pool.h"

#include "core/runtime/blocked.h"
#include "core/runtime/ops/common.h"

namespace cw {
namespace ops {

PoolGeometry poolGeometry(const Node &node, const std::string &prefix, const Shape &shape)
{
    if (shape.size() != 3 && shape.size() != 4)
        throw Error("input must be [N, C, H, W] or [N, C, L], got " + shapeToString(shape));
    const size_t spatial = shape.size() - 2;
    PoolGeometry g;
    g.oneD = spatial == 1;
    g.N = shape[0];
    g.C = shape[1];
    const std::vector<int64_t> kernel = node.attrInts(prefix + "kernel_shape");
    if (kernel.size() != spatial)
        throw Error("kernel_shape must have " + str(int64_t(spatial)) + " values for input " + shapeToString(shape));
    const std::vector<int64_t> strides = node.attrInts(prefix + "strides", std::vector<int64_t>(spatial, 1));
    const std::vector<int64_t> dilations = node.attrInts(prefix + "dilations", std::vector<int64_t>(spatial, 1));
    std::vector<int64_t> pads = node.attrInts(prefix + "pads", std::vector<int64_t>(spatial * 2, 0));
    if (strides.size() != spatial || dilations.size() != spatial || pads.size() != spatial * 2)
        throw Error("strides / dilations / pads do not match the " + str(int64_t(spatial)) + "-D input");
    for (size_t i = 0; i < spatial; ++i) {
        if (kernel[i] < 1 || strides[i] < 1 || dilations[i] < 1)
            throw Error("kernel_shape, strides and dilations must be positive");
        if (pads[i] < 0 || pads[i + spatial] < 0)
            throw Error("pads must not be negative");
    }
    const std::string autoPad = node.attrString(prefix + "auto_pad", "NOTSET");
    if (autoPad != "NOTSET" && autoPad != "VALID" && autoPad != "SAME_UPPER" && autoPad != "SAME_LOWER")
        throw Error("unknown auto_pad '" + autoPad + "'");
    const bool ceilMode = node.attrInt(prefix + "ceil_mode", 0) != 0;
    std::vector<int64_t> out(spatial);
    for (size_t i = 0; i < spatial; ++i) {
        const int64_t in = shape[i + 2];
        const int64_t extent = checkedAdd(checkedMul(dilations[i], kernel[i] - 1), 1);
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
            throw Error("kernel " + str(extent) + " is larger than the padded input " + str(in + pb + pe));
        int64_t o = (ceilMode ? (span + strides[i] - 1) / strides[i] : span / strides[i]) + 1;
        if (ceilMode && (o - 1) * strides[i] >= in + pb)
            --o;
        out[i] = o;
    }
    if (g.oneD) {
        g.inW = shape[2];
        g.outW = out[0];
        g.kW = kernel[0];
        g.sW = strides[0];
        g.dW = dilations[0];
        g.padL = pads[0];
        g.padR = pads[1];
    } else {
        g.inH = shape[2];
        g.inW = shape[3];
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

} // namespace ops

namespace {

using namespace ops;

// shape: x's, or the plain one of a blocked activation (runtime/blocked.h).
PoolGeometry poolGeometry(const OpContext &ctx, const Tensor &x, bool integers, const Shape &shape)
{
    if (!integers || (x.dtype() != DType::UInt8 && x.dtype() != DType::Int8))
        requireFloat(ctx, x, "X");
    try {
        return ops::poolGeometry(ctx.node, "", shape);
    } catch (const Error &e) {
        ctx.fail(e.what());
    }
}

// Kernel taps [lo, hi) of a window starting at `start` that land inside [0, size).
inline void validTaps(int64_t start, int64_t k, int64_t d, int64_t size, int64_t &lo, int64_t &hi)
{
    lo = start >= 0 ? 0 : ceilDiv(-start, d);
    hi = size - start <= 0 ? 0 : std::min(k, ceilDiv(size - start, d));
}

// The 2×2 stride-2 max pool of most small CNNs, or its 1×2 form (audio models pooling time and frequency
// apart), with every window inside the input: the general loop's per-window bookkeeping cost more than the max
// itself.
bool isPlainMaxKx2(const PoolGeometry &g)
{
    return (g.kH == 1 || g.kH == 2) && g.sH == g.kH && g.kW == 2 && g.sW == 2 && g.dH == 1 && g.dW == 1 &&
           g.padT == 0 && g.padL == 0 && g.outH * g.kH <= g.inH && g.outW * 2 <= g.inW;
}

// One plane of a pool isPlainMaxKx2 accepts (a 1×2 window reads its row twice), of elements of L values side by
// side (L = 8 / 16: a blocked activation's plane, runtime/blocked.h; the loop over them vectorises).
template <typename T, int64_t L = 1> void maxPlaneKx2(const T *in, const PoolGeometry &g, T *out)
{
    for (int64_t oh = 0; oh < g.outH; ++oh) {
        const T *r0 = in + g.kH * oh * g.inW * L;
        const T *r1 = r0 + (g.kH - 1) * g.inW * L;
        T *o = out + oh * g.outW * L;
        for (int64_t ow = 0; ow < g.outW; ++ow)
            for (int64_t l = 0; l < L; ++l)
                o[ow * L + l] = std::max(std::max(r0[2 * ow * L + l], r0[(2 * ow + 1) * L + l]),
                                         std::max(r1[2 * ow * L + l], r1[(2 * ow + 1) * L + l]));
    }
}

// uint8 (quantized activations after a fused ReLU): 8 outputs per step; the scalar template lost 2.5x to
// the float loop, which the compiler vectorises.
template <> void maxPlaneKx2<uint8_t, 1>(const uint8_t *in, const PoolGeometry &g, uint8_t *out)
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

// Eight channels of a blocked activation's pixel (runtime/blocked.h) as one GCC vector: max, sum and division
// apply lane by lane, as they do to a scalar. A 16-channel pixel is two of them: GCC 12 splits a 64-byte vector
// into scalar operations through the stack when the target has no 512-bit registers (x86-64-v3), which made the
// nChw16c pool five times slower than the 8-channel one.
typedef float Lanes8 __attribute__((vector_size(8 * sizeof(float))));

// The general pool over `planes` planes of elements of L values of T side by side: element (h, w) of a plane
// is at (h·inW + w)·L (L = 1: plain planes; L = 8 / 16: the planes of a blocked activation, computed as L / 8
// vectors of Lanes8).
template <bool Max, typename T, int64_t L = 1>
void poolPlanes(const T *src, const PoolGeometry &g, int64_t planes, bool includePad, T *dst, int threads)
{
    static_assert(L == 1 || (std::is_same_v<T, float> && (L == 8 || L == 16)));
    using E = std::conditional_t<L == 1, T, Lanes8>;
    constexpr int64_t H = L == 1 ? 1 : L / 8, V = L / H; // vectors per element, values per vector
    const int64_t inPlane = g.inH * g.inW * L, outPlane = g.outH * g.outW * L;
    // Window bounds depend only on the output column, so compute them once.
    std::vector<int64_t> wLo(size_t(g.outW)), wHi(size_t(g.outW)), wPad(size_t(g.outW));
    for (int64_t ow = 0; ow < g.outW; ++ow) {
        const int64_t ws = ow * g.sW - g.padL;
        validTaps(ws, g.kW, g.dW, g.inW, wLo[size_t(ow)], wHi[size_t(ow)]);
        int64_t lo, hi;
        validTaps(ws, g.kW, g.dW, g.inW + g.padR, lo, hi);
        wPad[size_t(ow)] = hi; // taps before the end of the padded input (all start at or after -padL)
    }
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
                    E acc[H];
                    for (int64_t h = 0; h < H; ++h)
                        acc[h] = E{} + (Max ? std::numeric_limits<T>::lowest() : T(0));
                    for (int64_t kh = hLo; kh < hHi; ++kh) {
                        const T *row = in + ((hs + kh * g.dH) * g.inW + ws) * L;
                        for (int64_t kw = lo; kw < hi; ++kw)
                            for (int64_t h = 0; h < H; ++h) {
                                E v;
                                std::memcpy(&v, row + kw * g.dW * L + h * V, sizeof v);
                                if constexpr (Max)
                                    acc[h] = acc[h] < v ? v : acc[h];
                                else
                                    acc[h] += v;
                            }
                    }
                    if constexpr (!Max) {
                        const int64_t count = includePad ? hPad * wPad[size_t(ow)] : (hHi - hLo) * (hi - lo);
                        for (int64_t h = 0; h < H; ++h)
                            acc[h] = count > 0 ? acc[h] / float(count) : E{};
                    }
                    std::memcpy(o + (oh * g.outW + ow) * L, acc, sizeof acc);
                }
            }
        }
    });
}

// The max pool of planes of L-value elements (as poolPlanes): the 2x2 (or 1x2) fast path where it applies, else
// the general loop.
template <typename T, int64_t L = 1>
void maxPlanes(const T *src, const PoolGeometry &g, int64_t planes, T *dst, int threads)
{
    if (!isPlainMaxKx2(g)) {
        poolPlanes<true, T, L>(src, g, planes, false, dst, threads);
        return;
    }
    parallelRanges(threads, planes, 1, [&](int64_t pBegin, int64_t pEnd) {
        for (int64_t p = pBegin; p < pEnd; ++p)
            maxPlaneKx2<T, L>(src + p * g.inH * g.inW * L, g, dst + p * g.outH * g.outW * L);
    });
}

// The max pool of channel-last integer activations [N, H, W, C] (runtime/blocked.h): each window's pixels are
// rows of C values, maxed 32, 16 or 8 channels at a time (the widest that C holds; a last chunk that would run past
// C is moved back to end at C, recomputing a few channels, which a max allows).
template <typename T> void maxPoolChannelsLast(const T *src, const PoolGeometry &g, T *dst, int threads)
{
    static_assert(std::is_same_v<T, uint8_t> || std::is_same_v<T, int8_t>);
    constexpr bool kUnsigned = std::is_same_v<T, uint8_t>;
    const int64_t C = g.C;
    const int64_t width = C >= 32 ? 32 : C >= 16 ? 16 : C >= 8 ? 8 : 1;
    const auto chunk = [&](const T *const *taps, int64_t count, int64_t c, T *o) {
        if (width == 32) {
            __m256i m = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(taps[0] + c));
            for (int64_t t = 1; t < count; ++t) {
                const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(taps[t] + c));
                m = kUnsigned ? _mm256_max_epu8(m, v) : _mm256_max_epi8(m, v);
            }
            _mm256_storeu_si256(reinterpret_cast<__m256i *>(o + c), m);
        } else if (width > 1) {
            const auto load = [&](const T *p) {
                return width == 16 ? _mm_loadu_si128(reinterpret_cast<const __m128i *>(p))
                                   : _mm_loadl_epi64(reinterpret_cast<const __m128i *>(p));
            };
            __m128i m = load(taps[0] + c);
            for (int64_t t = 1; t < count; ++t)
                m = kUnsigned ? _mm_max_epu8(m, load(taps[t] + c)) : _mm_max_epi8(m, load(taps[t] + c));
            if (width == 16)
                _mm_storeu_si128(reinterpret_cast<__m128i *>(o + c), m);
            else
                _mm_storel_epi64(reinterpret_cast<__m128i *>(o + c), m);
        } else {
            T m = taps[0][c];
            for (int64_t t = 1; t < count; ++t)
                m = std::max(m, taps[t][c]);
            o[c] = m;
        }
    };
    parallelRanges(threads, g.N * g.outH, 1, [&](int64_t begin, int64_t end) {
        std::vector<const T *> taps(size_t(g.kH * g.kW));
        for (int64_t r = begin; r < end; ++r) {
            const int64_t n = r / g.outH, oh = r % g.outH, hs = oh * g.sH - g.padT;
            int64_t hLo, hHi;
            validTaps(hs, g.kH, g.dH, g.inH, hLo, hHi);
            for (int64_t ow = 0; ow < g.outW; ++ow) {
                const int64_t ws = ow * g.sW - g.padL;
                int64_t wLo, wHi;
                validTaps(ws, g.kW, g.dW, g.inW, wLo, wHi);
                T *o = dst + ((n * g.outH + oh) * g.outW + ow) * C;
                int64_t count = 0;
                for (int64_t kh = hLo; kh < hHi; ++kh)
                    for (int64_t kw = wLo; kw < wHi; ++kw)
                        taps[size_t(count++)] = src + ((n * g.inH + hs + kh * g.dH) * g.inW + ws + kw * g.dW) * C;
                if (count == 0) { // a window entirely in the padding
                    std::fill(o, o + C, std::numeric_limits<T>::lowest());
                    continue;
                }
                for (int64_t c = 0; c < C; c += width)
                    chunk(taps.data(), count, std::min(c, C - width), o);
            }
        }
    });
}

template <bool Max, typename T = float> void poolOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    if (Max && ctx.node.outputs.size() > 1 && !ctx.node.outputs[1].empty())
        ctx.fail("the Indices output of MaxPool is not supported");
    const bool includePad = ctx.node.attrInt("count_include_pad", 0) != 0;
    const int threads = threadsFor(ctx, x.numel());
    // A blocked activation is pooled as it is (the window's values of 8 or 16 channels at once) and leaves
    // blocked, or plain when its readers need that.
    if constexpr (std::is_same_v<T, float>) {
        if (blocked::arrived(ctx.node, 0, x) && (x.dim(4) == 8 || x.dim(4) == 16)) {
            const int64_t b = x.dim(4);
            const PoolGeometry g = poolGeometry(ctx, x, Max, blocked::plainShape(x));
            Tensor out = Tensor::uninitialized(DType::Float32, {g.N, g.C / b, g.outH, g.outW, b});
            if constexpr (Max)
                maxPoolPlanes(x.f32(), g, g.N * g.C / b, b, out.f32(), threads);
            else
                (b == 8 ? poolPlanes<false, float, 8> : poolPlanes<false, float, 16>)(
                    x.f32(), g, g.N * g.C / b, includePad, out.f32(), threads);
            ctx.outputs[0] = blocked::mayLeave(ctx.node) ? out : blocked::toPlain(out);
            return;
        }
    } else if (Max && blocked::arrived(ctx.node, 0, x) && x.dim(1) == 1) { // channel-last integers
        const PoolGeometry g = poolGeometry(ctx, x, Max, blocked::plainShape(x));
        Tensor out = Tensor::uninitialized(x.dtype(), {g.N, 1, g.outH, g.outW, g.C});
        maxPoolChannelsLast(x.data<T>(), g, out.data<T>(), threads);
        ctx.outputs[0] = blocked::mayLeave(ctx.node) ? out : blocked::toPlain(out);
        return;
    }
    const Tensor plain = blocked::arrived(ctx.node, 0, x) ? blocked::toPlain(x) : x;
    const PoolGeometry g = poolGeometry(ctx, plain, Max, plain.shape());
    Tensor out = Tensor::uninitialized(dtypeOf<T>(), pooledShape(g));
    const T *src = plain.data<T>();
    T *dst = out.data<T>();
    if constexpr (Max)
        maxPlanes(src, g, g.N * g.C, dst, threads);
    else
        poolPlanes<false, T>(src, g, g.N * g.C, includePad, dst, threads);
    ctx.outputs[0] = std::move(out);
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

// Over each plane of L-value elements (as poolPlanes); the result of plane p's value l goes to dst[p·L + l],
// which for a blocked activation is its plain [N, C] order.
template <bool Max, int L> void globalPlanes(const float *src, int64_t planes, int64_t plane, float *dst, int threads)
{
    parallelRanges(threads, planes, 1, [&](int64_t pBegin, int64_t pEnd) {
        for (int64_t p = pBegin; p < pEnd; ++p) {
            const float *s = src + p * plane * L;
            float acc[L];
            for (int l = 0; l < L; ++l)
                acc[l] = Max ? s[l] : 0.f;
            for (int64_t i = 0; i < plane; ++i)
                for (int l = 0; l < L; ++l)
                    acc[l] = Max ? std::max(acc[l], s[i * L + l]) : acc[l] + s[i * L + l];
            for (int l = 0; l < L; ++l)
                dst[p * L + l] = Max ? acc[l] : acc[l] / float(plane);
        }
    });
}

// A blocked activation (runtime/blocked.h) is read as it is; the output is plain either way.
template <bool Max> void globalPoolOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    requireFloat(ctx, x, "X");
    const int64_t block = blocked::arrived(ctx.node, 0, x) ? x.dim(4) : 1;
    const Shape shape = block > 1 ? blocked::plainShape(x) : x.shape();
    if (shape.size() < 3)
        ctx.fail("input must be [N, C, ...], got " + shapeToString(shape));
    Shape outShape = shape;
    for (size_t d = 2; d < outShape.size(); ++d)
        outShape[d] = 1;
    Tensor out = Tensor::uninitialized(DType::Float32, outShape);
    const int64_t planes = shape[0] * shape[1] / block, plane = planes ? x.numel() / planes / block : 0;
    if (plane == 0)
        ctx.fail("input has an empty spatial extent " + shapeToString(shape));
    const int threads = threadsFor(ctx, x.numel());
    if (block == 8)
        globalPlanes<Max, 8>(x.f32(), planes, plane, out.f32(), threads);
    else if (block == 16)
        globalPlanes<Max, 16>(x.f32(), planes, plane, out.f32(), threads);
    else if (block == 1)
        globalPlanes<Max, 1>(x.f32(), planes, plane, out.f32(), threads);
    else
        ctx.fail("blocked input " + shapeToString(x.shape()) + " has an unknown block");
    ctx.outputs[0] = std::move(out);
}

} // namespace

void ops::maxPoolPlanes(const float *src, const PoolGeometry &g, int64_t planes, int64_t lanes, float *dst,
                        int threads)
{
    if (lanes == 8)
        maxPlanes<float, 8>(src, g, planes, dst, threads);
    else if (lanes == 16)
        maxPlanes<float, 16>(src, g, planes, dst, threads);
    else
        maxPlanes(src, g, planes, dst, threads);
}

Tensor ops::maxPoolIntegers(const Tensor &x, const PoolGeometry &g, bool channelsLast, int threads)
{
    Tensor out = Tensor::uninitialized(x.dtype(), channelsLast ? Shape{g.N, 1, g.outH, g.outW, g.C} : pooledShape(g));
    const auto pool = [&](auto *src, auto *dst) {
        if (channelsLast)
            maxPoolChannelsLast(src, g, dst, threads);
        else
            maxPlanes(src, g, g.N * g.C, dst, threads);
    };
    if (x.dtype() == DType::UInt8)
        pool(x.data<uint8_t>(), out.data<uint8_t>());
    else
        pool(x.data<int8_t>(), out.data<int8_t>());
    return out;
}

void registerPoolOps(KernelTable &table)
{
    table["MaxPool"] = {maxPoolOp, {8, 10, 11, 12, 22}, kMaxOpset, "the Indices output"};
    table["AveragePool"] = {poolOp<false>, {7, 10, 11, 19, 22}};
    table["GlobalAveragePool"] = {globalPoolOp<false>, {1, 22}};
    table["GlobalMaxPool"] = {globalPoolOp<true>, {1, 22}};
}

} // namespace cw
