// Quantized operators (the arithmetic conventions are in core/runtime/ops/quant.h and docs/formats.md).
//
//   QuantizeLinear(x float, y_scale, y_zero_point?) → y uint8 / int8 (the zero point's type; without one,
//                  the opset-21 attribute output_dtype, else uint8). axis (1), block_size (0, opset 21).
//   DequantizeLinear(x int8 / uint8 / int32, x_scale, x_zero_point?) → y float. axis (1), block_size (0).
//                  Scale and zero point: a scalar (per tensor), 1-D of x.dim(axis) (per axis), or with
//                  block_size > 0 x's shape with ceil(dim / block_size) along axis (blocked, ONNX 21).
//   QLinearConv(x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B?) → y (y_zp's type); Conv's
//                  attributes; x [N, C, H, W] or [N, C, L] uint8 / int8, w int8 / uint8 [M, C/group, kH, kW];
//                  w_scale and w_zp scalar or [M]; B int32 [M]. Padding contributes nothing (x_zp).
//   QLinearMatMul(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp) → y: a [..., M, K], b [K, N] or with
//                  a's batch dims; b_scale / b_zp scalar or [N] (per column).
//   com.microsoft QGemm(A, a_scale, a_zp?, B, b_scale, b_zp?, C?, y_scale?, y_zp?) → Y: transA, transB,
//                  alpha; A [M, K] (or [K, M]), B [K, N] (or [N, K] with transB); b_scale / b_zp scalar or
//                  [N]; C int32 broadcast to [M, N] and added to the accumulator. With y_scale: requantized
//                  to y_zp's type (uint8 without y_zp); without: float Y = float(acc) * (alpha·a_scale·b_scale[n]).
//   DynamicQuantizeLinear(x float) → y uint8, y_scale float [], y_zero_point uint8 []: the range
//                  [min(0, min x), max(0, max x)] mapped onto 0..255 (quant.h's dynamicQuantParams), then
//                  QuantizeLinear's arithmetic. What onnxruntime's dynamic quantizer puts before
//                  ConvInteger / MatMulInteger.
//   ConvInteger(x, w, x_zero_point?, w_zero_point?) → y int32: Conv's attributes and shapes; x and w uint8 or
//                  int8 (any pairing); x_zp scalar, w_zp scalar or [M]; y = Σ (x - x_zp) · (w - w_zp), the
//                  padding contributing nothing.
//   MatMulInteger(a, b, a_zero_point?, b_zero_point?) → y int32: numpy matmul shapes (1-D operands, batch
//                  broadcasting); a_zp scalar, per row ([M], or a's batch dims + [M, 1]), b_zp scalar or
//                  per column ([N], or b's batch dims + [1, N]); y = Σ_k (a - a_zp) · (b - b_zp).
//
// com.microsoft's QOperator family, what onnxruntime's static quantizer emits around QLinearConv / QGemm.
// Every scale is a positive float scalar and every zero point a scalar of X's type (0 when omitted); X and Y
// are uint8 or int8, Y of X's type. "quantize(v)" below is saturate(nearbyint(v / y_scale) + y_zp).
//   QLinearAdd / QLinearMul(A, A_scale, A_zp?, B, B_scale, B_zp?, C_scale, C_zp?) → C: numpy broadcasting.
//                  Add: saturate(nearbyint(A_scale/C_scale·(A - A_zp) + B_scale/C_scale·(B - B_zp)) + C_zp);
//                  Mul: requantize((A - A_zp)·(B - B_zp)) with m = A_scale·B_scale / C_scale.
//   QLinearLeakyRelu(X, X_scale, X_zp?, Y_scale, Y_zp?) → Y: alpha (0.01); QLinearSigmoid: the same inputs.
//                  Y = quantize(f(dequantize(X))) through a 256-entry table, as onnxruntime computes it.
//   QLinearGlobalAveragePool(X, x_scale, x_zp, y_scale, y_zp) → Y: X [N, C, spatial...] → [N, C, 1, ...], or
//                  with channels_last = 1 X [N, spatial..., C] → [N, 1, ..., C]; Y = requantize(Σ X - n·x_zp)
//                  with m = x_scale / (y_scale · n), n the spatial size (exact integer sum).
//   QLinearAveragePool(X, x_scale, x_zp?, y_scale, y_zp?) → Y: AveragePool's attributes (kernel_shape, strides,
//                  pads, auto_pad, ceil_mode, count_include_pad) and channels_last; Y = quantize(AveragePool
//                  (dequantize(X))), the pooling in float. With ceil_mode and count_include_pad, a window that
//                  runs past the end padding is divided by the kernel size, as onnxruntime does.
//   QLinearConcat(Y_scale, Y_zp, (X, X_scale, X_zp)...) → Y: axis; each X requantized to Y's parameters
//                  (copied when they are the same), then concatenated.
//   QLinearSoftmax(X, X_scale, x_zp?, y_scale, y_zp?) → Y: axis, opset (of the Softmax it replaces: before 13
//                  the input is coerced to 2-D at axis, default 1; from 13 one axis, default -1);
//                  Y = quantize(e / Σ e) with e = exp((X - max X) · X_scale) along the softmax's extent.
//
// The fast paths (u8 activations × s8 weights with zero weight zero points, oneDNN's VNNI gemm; for ConvInteger
// also uint8 weights and weight zero points, through shifted weights and window sums) compute the same int32
// accumulators as the reference loops here and requantize with the same float operations.
#include "core/runtime/ops/quant.h"
#include "core/base/cpu.h"
#include "core/runtime/blocked.h"
#include "core/runtime/onednn.h"
#include "core/runtime/fusion.h"
#include "core/runtime/transpose8.h"

#include <immintrin.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <type_traits>
#include <unordered_map>

#include "core/runtime/ops/common.h"
#include "core/runtime/ops/pool.h"

namespace cw {
namespace quant {
namespace {
std::atomic<bool> g_referenceOnly{false};
}
void setReferenceOnly(bool on)
{
    g_referenceOnly = on;
}
bool referenceOnly()
{
    // CW_QKERNELS=ref in the environment: the reference loops only (for measurements).
    static const bool env = [] {
        const char *v = std::getenv("CW_QKERNELS");
        return v && std::string(v) == "ref";
    }();
    return g_referenceOnly || env;
}
} // namespace quant

namespace {

using namespace ops;

struct QRange {
    int32_t lo = 0, hi = 255;
};

QRange rangeOf(DType t)
{
    switch (t) {
    case DType::UInt8: return {0, 255};
    case DType::Int8: return {-128, 127};
    default: return {std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()};
    }
}

bool isQuantType(DType t)
{
    return t == DType::UInt8 || t == DType::Int8;
}

std::vector<float> floatValues(const OpContext &ctx, const Tensor &t, const char *what)
{
    requireFloat(ctx, t, what);
    const float *v = t.f32();
    const int64_t n = t.numel();
    bool ok = true; // one pass without a branch (it vectorises), then the first offender for the message
    for (int64_t i = 0; i < n; ++i)
        ok &= (v[i] > 0.f) & (v[i] <= std::numeric_limits<float>::max());
    if (!ok)
        for (int64_t i = 0; i < n; ++i)
            if (!(v[i] > 0.f) || !std::isfinite(v[i]))
                ctx.fail(std::string(what) + " must be positive and finite, got " + std::to_string(v[i]));
    return std::vector<float>(v, v + n);
}

std::vector<int32_t> intValues(const Tensor &t)
{
    std::vector<int32_t> v(size_t(t.numel()));
    visitDType(t.dtype(), [&](auto zero) {
        using T = decltype(zero);
        const T *p = t.data<T>();
        for (size_t i = 0; i < v.size(); ++i)
            v[i] = int32_t(p[i]);
    });
    return v;
}

// A per-tensor (scalar or one-element) parameter.
float scalarFloat(const OpContext &ctx, int index, const char *what)
{
    const Tensor &t = ctx.input(index);
    if (t.numel() != 1)
        ctx.fail(std::string(what) + " must be a scalar, got " + shapeToString(t.shape()));
    requireFloat(ctx, t, what);
    const float v = t.f32()[0];
    if (!(v > 0.f) || !std::isfinite(v))
        ctx.fail(std::string(what) + " must be positive and finite, got " + std::to_string(v));
    return v;
}

// Zero point of an input with the given type (0 when absent); must be a scalar.
int32_t scalarZeroPoint(const OpContext &ctx, int index, DType type, const char *what)
{
    if (!ctx.hasInput(index))
        return 0;
    const Tensor &t = ctx.input(index);
    if (t.numel() != 1)
        ctx.fail(std::string(what) + " must be a scalar, got " + shapeToString(t.shape()));
    if (t.dtype() != type)
        ctx.fail(std::string(what) + " must be " + dtypeName(type) + ", got " + dtypeName(t.dtype()));
    return type == DType::UInt8 ? int32_t(t.data<uint8_t>()[0]) : int32_t(t.data<int8_t>()[0]);
}

// Scale (and zero point) that are either per tensor or one value per channel: expanded to `channels`.
std::vector<float> channelScales(const OpContext &ctx, int index, int64_t channels, const char *what)
{
    const Tensor &t = ctx.input(index);
    if (t.numel() != 1 && !(t.rank() == 1 && t.dim(0) == channels))
        ctx.fail(std::string(what) + " must be a scalar or [" + str(channels) + "], got " + shapeToString(t.shape()));
    std::vector<float> v = floatValues(ctx, t, what);
    if (v.size() == 1)
        v.assign(size_t(channels), v[0]);
    return v;
}

std::vector<int32_t> channelZeroPoints(const OpContext &ctx, int index, int64_t channels, DType type, const char *what)
{
    if (!ctx.hasInput(index))
        return std::vector<int32_t>(size_t(channels), 0);
    const Tensor &t = ctx.input(index);
    if (t.numel() != 1 && !(t.rank() == 1 && t.dim(0) == channels))
        ctx.fail(std::string(what) + " must be a scalar or [" + str(channels) + "], got " + shapeToString(t.shape()));
    if (t.dtype() != type)
        ctx.fail(std::string(what) + " must be " + dtypeName(type) + ", got " + dtypeName(t.dtype()));
    std::vector<int32_t> v = intValues(t);
    if (v.size() == 1)
        v.assign(size_t(channels), v[0]);
    return v;
}

// ---- QuantizeLinear / DequantizeLinear -----------------------------------------------------------------------

// Where the scale / zero point of each element of x comes from: x is walked as [outer, axisDim, inner].
struct ParamLayout {
    enum class Kind { Tensor, Axis, Block } kind = Kind::Tensor;
    int64_t outer = 1, axisDim = 1, inner = 1, block = 0, groups = 1;

    int64_t index(int64_t o, int64_t a, int64_t j) const
    {
        switch (kind) {
        case Kind::Tensor: return 0;
        case Kind::Axis: return a;
        case Kind::Block: return (o * groups + a / block) * inner + j;
        }
        return 0;
    }
};

ParamLayout paramLayout(const OpContext &ctx, const Tensor &x, const Tensor &scale)
{
    ParamLayout p;
    const int64_t blockSize = ctx.node.attrInt("block_size", 0);
    if (blockSize < 0)
        ctx.fail("block_size must not be negative, got " + str(blockSize));
    if (scale.numel() == 1 && blockSize == 0 && scale.rank() <= 1)
        return p;
    if (x.rank() == 0)
        ctx.fail("a scalar input needs a scalar scale, got " + shapeToString(scale.shape()));
    const int axis = normalizeAxis(ctx, ctx.node.attrInt("axis", 1), x.rank());
    for (int d = 0; d < axis; ++d)
        p.outer *= x.dim(d);
    p.axisDim = x.dim(axis);
    for (int d = axis + 1; d < x.rank(); ++d)
        p.inner *= x.dim(d);
    if (blockSize == 0) {
        if (scale.rank() != 1 || scale.dim(0) != p.axisDim)
            ctx.fail("scale " + shapeToString(scale.shape()) + " must be a scalar or 1-D of " + str(p.axisDim) +
                     " (input " + shapeToString(x.shape()) + ", axis " + str(axis) + ")");
        p.kind = ParamLayout::Kind::Axis;
        return p;
    }
    p.kind = ParamLayout::Kind::Block;
    p.block = blockSize;
    p.groups = ceilDiv(p.axisDim, blockSize);
    Shape expected = x.shape();
    expected[size_t(axis)] = p.groups;
    if (scale.shape() != expected)
        ctx.fail("scale " + shapeToString(scale.shape()) + " must be " + shapeToString(expected) + " for input " +
                 shapeToString(x.shape()) + " with block_size " + str(blockSize) + " on axis " + str(axis));
    return p;
}

// Zero points laid out like the scale (all zeros when absent).
std::vector<int32_t> zeroPointsLike(const OpContext &ctx, int index, const Tensor &scale, DType type)
{
    if (!ctx.hasInput(index))
        return std::vector<int32_t>(size_t(scale.numel()), 0);
    const Tensor &zp = ctx.input(index);
    if (zp.shape() != scale.shape() && !(zp.numel() == 1 && scale.numel() == 1))
        ctx.fail("zero point " + shapeToString(zp.shape()) + " must have the scale's shape " +
                 shapeToString(scale.shape()));
    if (zp.dtype() != type)
        ctx.fail(std::string("zero point must be ") + dtypeName(type) + ", got " + dtypeName(zp.dtype()));
    return intValues(zp);
}

template <typename T> inline void store8(T *dst, __m256i q);

// Per tensor, x / scale rounded to nearest even, plus the zero point, clamped (NaN to the zero point), eight values
// per step: a division per value, exact.
template <typename T> void quantizeDivided(const float *x, int64_t n, float scale, int32_t zp, T *y)
{
    const QRange r = rangeOf(dtypeOf<T>());
    const __m256 vs = _mm256_set1_ps(scale), vzp = _mm256_set1_ps(float(zp));
    const __m256 vlo = _mm256_set1_ps(float(r.lo)), vhi = _mm256_set1_ps(float(r.hi));
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_div_ps(_mm256_loadu_ps(x + i), vs);
        v = _mm256_add_ps(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vzp);
        const __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
        v = _mm256_blendv_ps(_mm256_min_ps(_mm256_max_ps(v, vlo), vhi), vzp, nan);
        store8(y + i, _mm256_cvttps_epi32(v));
    }
    for (; i < n; ++i) {
        float v = std::nearbyint(x[i] / scale) + float(zp);
        v = std::isnan(v) ? float(zp) : std::clamp(v, float(r.lo), float(r.hi));
        y[i] = T(v);
    }
}

// The same results mostly without dividing: a division per value took a sixth of a small int8 head's run on a CPU
// whose divider is slow (Sapphire Rapids), and narrowing eight values at a time another part. With 1 / scale a
// normal float, x · (1 / scale) · (1 ∓ 2^-21), each one product with a constant made once, bracket the rounded
// quotient (rounding the constants and the product moves each by at most 3 · 2^-24 relative; the two come in
// either order, as x's sign has it), so when both round to one integer (rounding is monotonic), the quotient
// rounds to it too. Otherwise (a value that close to a half-integer) and for NaN, the group of values is divided, and
// so is one whose conversion overflows (|quotient| >= 2^31), recognised by the integer the conversion gives it; the
// integers are then clamped to the range. With AVX-512, 16 values at a time: the 1,536 inputs of a wake-word head in
// 0.19 µs on a Sapphire Rapids core, 0.31 µs 32 at a time with AVX2 (below, when it still clamped the floats first),
// 0.54 µs dividing.
// Its constants, made once per call (quantizeAvx512, quant::gemvQuantizedRow); quantize16 is one step of 16 values.
struct Quantize16 {
    float scale;
    int32_t zp;
    __m512 shrink, grow;
    __m512i vzp, below, above;
};

template <typename T>
__attribute__((target("avx512f,avx512bw"))) Quantize16 quantize16Constants(float scale, int32_t zp)
{
    const QRange r = rangeOf(dtypeOf<T>());
    return {scale,
            zp,
            _mm512_set1_ps(1.f / scale * (1.f - 0x1p-21f)),
            _mm512_set1_ps(1.f / scale * (1.f + 0x1p-21f)),
            _mm512_set1_epi32(zp),
            _mm512_set1_epi32(r.lo - zp),
            _mm512_set1_epi32(r.hi - zp)};
}

// 16 values of x quantized as quantizeTensor does, as bytes.
template <typename T>
__attribute__((target("avx512f,avx512bw"), always_inline)) inline __m128i quantize16(const Quantize16 &c,
                                                                                      const float *x)
{
    // The zero-masked forms of the intrinsics with all lanes set: GCC 12 takes the undefined vector the plain ones
    // start from for a read of an uninitialised value, and warns.
    constexpr __mmask16 all = 0xffff;
    const __m512i indefinite = _mm512_set1_epi32(INT32_MIN); // what the conversion gives NaN and |q| >= 2^31
    constexpr int nearest = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    const __m512 xv = _mm512_loadu_ps(x);
    const __m512i low = _mm512_maskz_cvt_roundps_epi32(all, _mm512_mul_ps(xv, c.shrink), nearest);
    const __m512i high = _mm512_maskz_cvt_roundps_epi32(all, _mm512_mul_ps(xv, c.grow), nearest);
    if (_mm512_cmpneq_epi32_mask(low, high) | _mm512_cmpeq_epi32_mask(low, indefinite)) [[unlikely]] {
        alignas(16) T divided[16];
        quantizeDivided(x, 16, c.scale, c.zp, divided);
        return _mm_load_si128(reinterpret_cast<const __m128i *>(divided));
    }
    const __m512i clamped = _mm512_maskz_min_epi32(all, _mm512_maskz_max_epi32(all, low, c.below), c.above);
    return _mm512_maskz_cvtepi32_epi8(all, _mm512_add_epi32(clamped, c.vzp));
}

template <typename T>
__attribute__((target("avx512f,avx512bw"))) int64_t quantizeAvx512(const float *x, int64_t n, float scale,
                                                                    int32_t zp, T *y)
{
    const Quantize16 c = quantize16Constants<T>(scale, zp);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm_storeu_si128(reinterpret_cast<__m128i *>(y + i), quantize16<T>(c, x + i));
    return i;
}

template <typename T> void quantizeTensor(const float *x, int64_t n, float scale, int32_t zp, T *y)
{
    static const bool avx512 = cpuHas(CpuFeature::Avx512Bw);
    int64_t i = 0;
    if (std::isnormal(scale) && std::isnormal(1.f / scale)) {
        if (avx512)
            i = quantizeAvx512(x, n, scale, zp, y);
        const __m256 shrink = _mm256_set1_ps(1.f / scale * (1.f - 0x1p-21f));
        const __m256 grow = _mm256_set1_ps(1.f / scale * (1.f + 0x1p-21f));
        const __m256i vzp = _mm256_set1_epi16(int16_t(zp)), order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        const __m256i indefinite = _mm256_set1_epi32(INT32_MIN); // what the conversion gives NaN and |q| >= 2^31
        for (; i + 32 <= n; i += 32) {
            __m256i v[4];
            __m256i unsure = _mm256_setzero_si256();
            for (int j = 0; j < 4; ++j) {
                const __m256 xv = _mm256_loadu_ps(x + i + 8 * j);
                // Rounded to nearest even by MXCSR's mode, which nearbyint follows too.
                const __m256i low = _mm256_cvtps_epi32(_mm256_mul_ps(xv, shrink));
                const __m256i high = _mm256_cvtps_epi32(_mm256_mul_ps(xv, grow));
                unsure = _mm256_or_si256(unsure, _mm256_or_si256(_mm256_xor_si256(low, high),
                                                                 _mm256_cmpeq_epi32(low, indefinite)));
                v[j] = low;
            }
            if (!_mm256_testz_si256(unsure, unsure)) {
                quantizeDivided(x + i, 32, scale, zp, y + i);
                continue;
            }
            // The packs saturate, to int16 and then to T's range, and the zero point is added between them
            // saturating too (|zp| < 256: an integer saturated to ±32767 stays beyond the range).
            const __m256i w01 = _mm256_adds_epi16(_mm256_packs_epi32(v[0], v[1]), vzp);
            const __m256i w23 = _mm256_adds_epi16(_mm256_packs_epi32(v[2], v[3]), vzp);
            const __m256i b = std::is_same_v<T, uint8_t> ? _mm256_packus_epi16(w01, w23) : _mm256_packs_epi16(w01, w23);
            _mm256_storeu_si256(reinterpret_cast<__m256i *>(y + i), _mm256_permutevar8x32_epi32(b, order));
        }
    }
    quantizeDivided(x + i, n - i, scale, zp, y + i);
}

template <typename T>
void quantizeLoop(const OpContext &ctx, const float *x, const ParamLayout &p, const std::vector<float> &scale,
                  const std::vector<int32_t> &zp, T *y)
{
    const QRange r = rangeOf(dtypeOf<T>());
    const int threads = threadsFor(ctx, p.outer * p.axisDim * p.inner);
    parallelRanges(threads, p.outer * p.axisDim, 1, [&](int64_t begin, int64_t end) {
        for (int64_t row = begin; row < end; ++row) {
            const int64_t o = row / p.axisDim, a = row % p.axisDim;
            const float *xs = x + row * p.inner;
            T *ys = y + row * p.inner;
            for (int64_t j = 0; j < p.inner; ++j) {
                const int64_t k = p.index(o, a, j);
                float v = std::nearbyint(xs[j] / scale[size_t(k)]) + float(zp[size_t(k)]);
                v = std::isnan(v) ? float(zp[size_t(k)]) : std::clamp(v, float(r.lo), float(r.hi));
                ys[j] = T(v);
            }
        }
    });
}

} // namespace

void quant::quantizeValues(const float *x, int64_t n, float scale, int32_t zeroPoint, bool toInt8, void *y)
{
    if (toInt8)
        quantizeTensor(x, n, scale, zeroPoint, static_cast<int8_t *>(y));
    else
        quantizeTensor(x, n, scale, zeroPoint, static_cast<uint8_t *>(y));
}

namespace {

// Float32 x quantized with one scale and zero point into a tensor of `type` (uint8 / int8), on the node's threads.
Tensor quantizePerTensor(const OpContext &ctx, const Tensor &x, float scale, int32_t zp, DType type)
{
    Tensor y = Tensor::uninitialized(type, x.shape());
    const float *px = x.f32();
    parallelRanges(threadsFor(ctx, x.numel()), x.numel(), 4096, [&](int64_t begin, int64_t end) {
        if (type == DType::UInt8)
            quantizeTensor(px + begin, end - begin, scale, zp, y.data<uint8_t>() + begin);
        else
            quantizeTensor(px + begin, end - begin, scale, zp, y.data<int8_t>() + begin);
    });
    return y;
}

// QuantizeLinear's output type: its zero point's, else output_dtype's (opset 21), else uint8.
DType quantizeOutputType(const OpContext &ctx)
{
    DType outType = DType::UInt8;
    if (ctx.hasInput(2)) {
        outType = ctx.input(2).dtype();
    } else if (ctx.node.hasAttr("output_dtype")) {
        const int64_t code = ctx.node.attrInt("output_dtype", 2);
        if (code == 3)
            outType = DType::Int8;
        else if (code != 2 && code != 0)
            ctx.fail("output_dtype " + str(code) + " is not supported (uint8 = 2, int8 = 3)");
    }
    if (!isQuantType(outType))
        ctx.fail(std::string("the zero point must be uint8 or int8, got ") + dtypeName(outType));
    return outType;
}

void quantizeLinearOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    requireFloat(ctx, x, "x");
    // One scale and zero point that are the Session's constants (an activation's QuantizeLinear), read once: a small
    // model's run takes microseconds, and reading them and the attributes took a part of it.
    struct PerTensor {
        DType type = DType::UInt8;
        bool one = false; // one scale and zero point
        float scale = 1.f;
        int32_t zp = 0;
        bool blocked = false; // channel-last for the convolutions that read it (runtime/blocked.h)
    };
    const auto perTensor = [&] {
        PerTensor k;
        k.type = quantizeOutputType(ctx);
        const Tensor &scaleT = ctx.input(1);
        k.one = paramLayout(ctx, x, scaleT).kind == ParamLayout::Kind::Tensor;
        if (k.one) {
            k.scale = floatValues(ctx, scaleT, "y_scale")[0];
            k.zp = zeroPointsLike(ctx, 2, scaleT, k.type)[0];
        }
        k.blocked = blocked::mayLeave(ctx.node);
        return k;
    };
    const PerTensor *kept = ctx.preparedFromConstants<PerTensor>({1, 2}, perTensor);
    std::optional<PerTensor> made;
    if (!kept)
        made = perTensor();
    const PerTensor &k = kept ? *kept : *made;
    Tensor y;
    if (k.one) {
        y = quantizePerTensor(ctx, x, k.scale, k.zp, k.type);
    } else {
        const Tensor &scaleT = ctx.input(1);
        const ParamLayout p = paramLayout(ctx, x, scaleT);
        const std::vector<float> scale = floatValues(ctx, scaleT, "y_scale");
        const std::vector<int32_t> zp = zeroPointsLike(ctx, 2, scaleT, k.type);
        y = Tensor::uninitialized(k.type, x.shape());
        if (k.type == DType::UInt8)
            quantizeLoop(ctx, x.f32(), p, scale, zp, y.data<uint8_t>());
        else
            quantizeLoop(ctx, x.f32(), p, scale, zp, y.data<int8_t>());
    }
    if (k.blocked && y.rank() == 4)
        y = blocked::toBlocked(y, y.dim(1));
    ctx.outputs[0] = std::move(y);
}

// n uint8 (u8) or int8 values dequantized with one scale and zero point into out: eight values per step, with the
// scalar loop's operations (the integer difference is exact in float).
void dequantizePerTensor(int threads, const uint8_t *in, bool u8, int64_t n, float s, int32_t z, float *out)
{
    parallelRanges(threads, n, 4096, [&](int64_t begin, int64_t end) {
        const __m256i vz = _mm256_set1_epi32(z);
        const __m256 vs = _mm256_set1_ps(s);
        int64_t i = begin;
        for (; i + 8 <= end; i += 8) {
            const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i *>(in + i));
            const __m256i v = u8 ? _mm256_cvtepu8_epi32(b) : _mm256_cvtepi8_epi32(b);
            _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(v, vz)), vs));
        }
        for (; i < end; ++i)
            out[i] = quant::dequantize(u8 ? int32_t(in[i]) : int32_t(int8_t(in[i])), s, z);
    });
}

void dequantizeLinearOp(OpContext &ctx)
{
    // A channel-last input (runtime/blocked.h) is dequantized in NCHW order.
    const Tensor &arrived = ctx.input(0);
    const Tensor x = blocked::arrived(ctx.node, 0, arrived) ? blocked::toPlain(arrived) : arrived;
    if (!isQuantType(x.dtype()) && x.dtype() != DType::Int32)
        ctx.fail(std::string("x must be uint8, int8 or int32, got ") + dtypeName(x.dtype()));
    const Tensor &scaleT = ctx.input(1);
    ParamLayout p = paramLayout(ctx, x, scaleT);
    const std::vector<float> scale = floatValues(ctx, scaleT, "x_scale");
    const std::vector<int32_t> zp = zeroPointsLike(ctx, 2, scaleT, x.dtype());
    if (x.dtype() == DType::Int32)
        for (int32_t z : zp)
            if (z != 0)
                ctx.fail("an int32 input needs a zero point of 0");
    if (p.kind == ParamLayout::Kind::Tensor) {
        p.outer = 1;
        p.axisDim = 1;
        p.inner = x.numel();
    }
    Tensor y = Tensor::uninitialized(DType::Float32, x.shape());
    float *out = y.f32();
    const int threads = threadsFor(ctx, x.numel());
    if (p.kind == ParamLayout::Kind::Tensor && isQuantType(x.dtype())) {
        dequantizePerTensor(threads, static_cast<const uint8_t *>(x.rawData()), x.dtype() == DType::UInt8, x.numel(),
                            scale[0], zp[0], out);
        ctx.outputs[0] = std::move(y);
        return;
    }
    visitDType(x.dtype(), [&](auto zero) {
        using T = decltype(zero);
        const T *in = x.data<T>();
        parallelRanges(threads, p.outer * p.axisDim, 1, [&](int64_t begin, int64_t end) {
            for (int64_t row = begin; row < end; ++row) {
                const int64_t o = row / p.axisDim, a = row % p.axisDim;
                for (int64_t j = 0; j < p.inner; ++j) {
                    const int64_t k = p.index(o, a, j);
                    out[row * p.inner + j] = float(int32_t(in[row * p.inner + j]) - zp[size_t(k)]) * scale[size_t(k)];
                }
            }
        });
    });
    ctx.outputs[0] = std::move(y);
}

void dynamicQuantizeLinearOp(OpContext &ctx)
{
    const Tensor &x = ctx.input(0);
    requireFloat(ctx, x, "x");
    const float *px = x.f32();
    const int64_t n = x.numel();
    // The extremes, with 0 in the range; min / max are exact whatever the order, so threads may split them.
    const int threads = threadsFor(ctx, n);
    std::vector<float> los(size_t(threads), 0.f), his(size_t(threads), 0.f);
    parallelFor(threads, threads, [&](int64_t t) {
        const int64_t begin = n * t / threads, end = n * (t + 1) / threads;
        float lo = 0.f, hi = 0.f;
        for (int64_t i = begin; i < end; ++i) {
            lo = px[i] < lo ? px[i] : lo;
            hi = px[i] > hi ? px[i] : hi;
        }
        los[size_t(t)] = lo;
        his[size_t(t)] = hi;
    });
    const float lo = *std::min_element(los.begin(), los.end()), hi = *std::max_element(his.begin(), his.end());
    if (!std::isfinite(lo) || !std::isfinite(hi))
        ctx.fail("x holds an infinite value: no uint8 range covers it");
    float scale = 1.f;
    int32_t zp = 0;
    quant::dynamicQuantParams(lo, hi, &scale, &zp);
    Tensor y = Tensor::uninitialized(DType::UInt8, x.shape());
    parallelRanges(threads, n, 4096, [&](int64_t begin, int64_t end) {
        quantizeTensor(px + begin, end - begin, scale, zp, y.data<uint8_t>() + begin);
    });
    Tensor zeroPoint(DType::UInt8, {});
    zeroPoint.data<uint8_t>()[0] = uint8_t(zp);
    ctx.outputs[0] = std::move(y);
    if (ctx.outputs.size() > 1)
        ctx.outputs[1] = Tensor::scalar(scale);
    if (ctx.outputs.size() > 2)
        ctx.outputs[2] = std::move(zeroPoint);
}

// ---- requantization ---------------------------------------------------------------------------------------------

// Eight int32 values already inside T's range, narrowed and stored.
template <typename T> inline void store8(T *dst, __m256i q)
{
    __m256i p16 = _mm256_packs_epi32(q, q);              // lanes: q0..q3 q0..q3 | q4..q7 q4..q7
    p16 = _mm256_permute4x64_epi64(p16, 0x08);           // q0..q7 in the low 128 bits
    const __m128i lo = _mm256_castsi256_si128(p16);
    const __m128i b = std::is_same_v<T, uint8_t> ? _mm_packus_epi16(lo, lo) : _mm_packs_epi16(lo, lo);
    _mm_storel_epi64(reinterpret_cast<__m128i *>(dst), b);
}

// Eight accumulators (their bias added) requantized with the float operations of quant::requantize(), in its
// order: the results are identical.
inline __m256i requantize8(__m256i sum, __m256 m, __m256 zp, __m256 lo, __m256 hi)
{
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(sum), m);
    v = _mm256_add_ps(_mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), zp);
    return _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(v, lo), hi));
}

// y[i] = requantize(acc[i], m, zp) for a row of accumulators sharing one multiplier; AVX2 for the bulk, the
// scalar function for the tail.
template <typename T> void requantizeRow(const int32_t *acc, int64_t n, float m, int32_t zp, T *y, int32_t bias = 0)
{
    const QRange r = rangeOf(dtypeOf<T>());
    int64_t i = 0;
    const __m256 vm = _mm256_set1_ps(m), vzp = _mm256_set1_ps(float(zp));
    const __m256 vlo = _mm256_set1_ps(float(r.lo)), vhi = _mm256_set1_ps(float(r.hi));
    const __m256i vbias = _mm256_set1_epi32(bias);
    for (; i + 8 <= n; i += 8) {
        const __m256i sum = _mm256_add_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(acc + i)), vbias);
        store8(y + i, requantize8(sum, vm, vzp, vlo, vhi));
    }
    for (; i < n; ++i)
        y[i] = T(quant::requantize(acc[i] + bias, m, zp, r.lo, r.hi));
}

// Rows of C accumulators (+ bias) with a multiplier per column (a QGemm's output, channel-last convolution
// output): eight columns at a time, the same float operations per element as requantize().
template <typename T>
void requantizeColumns(const int32_t *acc, int64_t rows, int64_t C, const int32_t *bias, const float *multiplier,
                       int32_t zp, T *y)
{
    const QRange r = rangeOf(dtypeOf<T>());
    const __m256 vzp = _mm256_set1_ps(float(zp));
    const __m256 vlo = _mm256_set1_ps(float(r.lo)), vhi = _mm256_set1_ps(float(r.hi));
    const int64_t C8 = C / 8 * 8;
    for (int64_t p = 0; p < rows; ++p) {
        const int32_t *a = acc + p * C;
        T *out = y + p * C;
        for (int64_t c = 0; c < C8; c += 8) {
            const __m256i sum = _mm256_add_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(a + c)),
                                                 _mm256_loadu_si256(reinterpret_cast<const __m256i *>(bias + c)));
            store8(out + c, requantize8(sum, _mm256_loadu_ps(multiplier + c), vzp, vlo, vhi));
        }
        for (int64_t c = C8; c < C; ++c)
            out[c] = T(quant::requantize(a[c] + bias[c], multiplier[c], zp, r.lo, r.hi));
    }
}

void requantizeRowTo(DType type, const int32_t *acc, int64_t n, float m, int32_t zp, void *y, int64_t offset)
{
    if (type == DType::UInt8)
        requantizeRow(acc, n, m, zp, static_cast<uint8_t *>(y) + offset);
    else
        requantizeRow(acc, n, m, zp, static_cast<int8_t *>(y) + offset);
}

// ---- QLinearConv ------------------------------------------------------------------------------------------------

struct QConvParams {
    ConvGeometry g;
    int32_t xZp = 0, yZp = 0;
    std::vector<int32_t> wZp, bias; // [M]
    std::vector<float> multiplier;  // [M]
    DType yType = DType::UInt8;     // Int32: no requantization (ConvInteger)
    // x arrives, and y leaves, channel-last [N, H, W, C] (runtime/blocked.h); the fast path only.
    bool xChannelsLast = false, yChannelsLast = false;
    // A MaxPool fused into the node (runtime/fusion.h) whose windows lie inside the output, on a channel-last y: each
    // window's sums are maxed, then requantized once (requantizePooled).
    const ops::PoolGeometry *pool = nullptr;
    onednn::WeightsIdentity weights; // how the packed weights are found again (WeightCache)
};

// Pooled rows [begin, end) of y, channel-last [N, outH, outW, C], from the sums acc [N, inH, inW, C] of q's
// convolution: the largest acc + bias of each window (wrapping in int32, as each sum does), requantized. The
// scales are positive (QLinearConv refuses others), so a requantization never decreases as its sum grows, and
// this is the MaxPool of the requantized values.
template <typename T>
void requantizePooled(const int32_t *acc, const ops::PoolGeometry &g, const QConvParams &q, int64_t begin,
                      int64_t end, T *y)
{
    const QRange r = rangeOf(dtypeOf<T>());
    const __m256 vzp = _mm256_set1_ps(float(q.yZp));
    const __m256 vlo = _mm256_set1_ps(float(r.lo)), vhi = _mm256_set1_ps(float(r.hi));
    const int64_t C = g.C, C8 = C / 8 * 8, outP = g.outH * g.outW;
    const int32_t *bias = q.bias.data();
    const float *multiplier = q.multiplier.data();
    thread_local std::vector<const int32_t *> taps; // kept from call to call: no allocation per convolution
    taps.resize(size_t(g.kH * g.kW));
    for (int64_t o = begin; o < end; ++o) {
        const int64_t n = o / outP, oh = o % outP / g.outW, ow = o % g.outW;
        for (int64_t kh = 0; kh < g.kH; ++kh)
            for (int64_t kw = 0; kw < g.kW; ++kw)
                taps[size_t(kh * g.kW + kw)] =
                    acc + ((n * g.inH + oh * g.sH + kh * g.dH) * g.inW + ow * g.sW + kw * g.dW) * C;
        T *out = y + o * C;
        for (int64_t c = 0; c < C8; c += 8) {
            const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(bias + c));
            __m256i m = _mm256_set1_epi32(std::numeric_limits<int32_t>::min());
            for (const int32_t *t : taps)
                m = _mm256_max_epi32(
                    m, _mm256_add_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(t + c)), b));
            store8(out + c, requantize8(m, _mm256_loadu_ps(multiplier + c), vzp, vlo, vhi));
        }
        for (int64_t c = C8; c < C; ++c) {
            int32_t m = std::numeric_limits<int32_t>::min();
            for (const int32_t *t : taps)
                m = std::max(m, int32_t(uint32_t(t[c]) + uint32_t(bias[c])));
            out[c] = T(quant::requantize(m, multiplier[c], q.yZp, r.lo, r.hi));
        }
    }
}

// The reference: per image and group, the window values (x - x_zp, 0 in the padding) unfolded into an int32
// column matrix, then per output channel acc = bias + Σ (w - w_zp) · col, then requantization.
void qconvReference(const QConvParams &q, const Tensor &x, const Tensor &w, Tensor &y, int threads)
{
    const ConvGeometry &g = q.g;
    const int64_t cg = g.inChannels / g.group, mg = g.outChannels / g.group;
    const int64_t K = cg * g.kH * g.kW, P = g.outH * g.outW;
    const std::vector<int32_t> xv = intValues(x), wv = intValues(w);
    const int64_t inImage = g.inChannels * g.inH * g.inW;
    parallelFor(threads, g.batch * g.group, [&](int64_t item) {
        const int64_t n = item / g.group, gr = item % g.group;
        std::vector<int32_t> col(size_t(K * P), 0), acc(static_cast<size_t>(P));
        for (int64_t c = 0; c < cg; ++c)
            for (int64_t kh = 0; kh < g.kH; ++kh)
                for (int64_t kw = 0; kw < g.kW; ++kw) {
                    int32_t *row = col.data() + ((c * g.kH + kh) * g.kW + kw) * P;
                    const int32_t *plane = xv.data() + n * inImage + (gr * cg + c) * g.inH * g.inW;
                    for (int64_t oh = 0; oh < g.outH; ++oh) {
                        const int64_t ih = oh * g.strideH - g.padTop + kh * g.dilationH;
                        if (ih < 0 || ih >= g.inH)
                            continue;
                        for (int64_t ow = 0; ow < g.outW; ++ow) {
                            const int64_t iw = ow * g.strideW - g.padLeft + kw * g.dilationW;
                            if (iw >= 0 && iw < g.inW)
                                row[oh * g.outW + ow] = plane[ih * g.inW + iw] - q.xZp;
                        }
                    }
                }
        for (int64_t mm = 0; mm < mg; ++mm) {
            const int64_t m = gr * mg + mm;
            std::fill(acc.begin(), acc.end(), q.bias[size_t(m)]);
            for (int64_t k = 0; k < K; ++k) {
                const int32_t wk = wv[size_t(m * K + k)] - q.wZp[size_t(m)];
                if (wk == 0)
                    continue;
                const int32_t *row = col.data() + k * P;
                for (int64_t p = 0; p < P; ++p)
                    acc[size_t(p)] += wk * row[p];
            }
            if (q.yType == DType::Int32) // ConvInteger: the accumulators themselves
                std::copy(acc.begin(), acc.end(), y.data<int32_t>() + (n * g.outChannels + m) * P);
            else
                requantizeRowTo(q.yType, acc.data(), P, q.multiplier[size_t(m)], q.yZp, y.rawData(),
                                (n * g.outChannels + m) * P);
        }
    });
}

bool qconvFast(const QConvParams &q, const Tensor &x, const Tensor &w, Tensor &y, int threads);
bool qconvAsGemm(OpContext &ctx, int weightIndex, const QConvParams &q, const Tensor &x, const Tensor &w, Tensor &y);
bool qconvShortWindows(OpContext &ctx, int weightIndex, const QConvParams &q, const Tensor &x, const Tensor &w,
                       Tensor &y);
bool qconvPairs(OpContext &ctx, int weightIndex, const QConvParams &q, const Tensor &x, const Tensor &w, Tensor &y);

// dst[i] = table[src[i]] for i < n, 64 bytes at a time: the table's halves are two 128-byte permutations
// (vpermi2b), the index's top bit picks between them.
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) int64_t mapBytesVbmi(const uint8_t *src, int64_t n,
                                                                            const uint8_t *table, uint8_t *dst)
{
    const __m512i t0 = _mm512_loadu_si512(table), t1 = _mm512_loadu_si512(table + 64);
    const __m512i t2 = _mm512_loadu_si512(table + 128), t3 = _mm512_loadu_si512(table + 192);
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        const __m512i idx = _mm512_loadu_si512(src + i);
        const __m512i low = _mm512_permutex2var_epi8(t0, idx, t1), high = _mm512_permutex2var_epi8(t2, idx, t3);
        _mm512_storeu_si512(dst + i, _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), low, high));
    }
    return i;
}

// The same 32 bytes at a time with AVX2: the table as sixteen 16-byte rows, each looked up by the low nibble
// (vpshufb), then the rows narrowed pairwise by the high nibble's bits, 4 to 7 (vpblendvb on each byte's top bit:
// 16 lookups and 15 blends where comparing each row with the high nibble took 48 operations).
__attribute__((target("avx2"))) int64_t mapBytesAvx2(const uint8_t *src, int64_t n, const uint8_t *table,
                                                     uint8_t *dst)
{
    __m256i rows[16];
    for (int h = 0; h < 16; ++h)
        rows[h] = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i *>(table + 16 * h)));
    const __m256i nibble = _mm256_set1_epi8(0x0f);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m256i idx = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(src + i));
        const __m256i low = _mm256_and_si256(idx, nibble);
        __m256i r[16];
        for (int h = 0; h < 16; ++h)
            r[h] = _mm256_shuffle_epi8(rows[h], low);
        // Bit 4 + level of each byte moved to its top bit (the 16-bit shifts carry nothing into a byte's top bit
        // but its own bits).
        for (int level = 0, count = 16; level < 4; ++level, count /= 2) {
            const __m256i select = _mm256_slli_epi16(idx, 3 - level);
            for (int j = 0; j < count / 2; ++j)
                r[j] = _mm256_blendv_epi8(r[2 * j], r[2 * j + 1], select);
        }
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(dst + i), r[0]);
    }
    return i;
}

// y[i] = table[x[i]] over the bytes of x (uint8 / int8), y of type `type`.
Tensor applyTable(const Tensor &x, const uint8_t *table, DType type)
{
    static const bool vbmi = cpuHas(CpuFeature::Avx512Vbmi), avx2 = cpuHas(CpuFeature::Avx2);
    Tensor y = Tensor::uninitialized(type, x.shape());
    std::array<uint8_t, 256> t; // a copy, and the count outside the loop: byte stores may alias anything
    std::memcpy(t.data(), table, t.size());
    const auto *src = static_cast<const uint8_t *>(x.rawData());
    auto *dst = static_cast<uint8_t *>(y.rawData());
    const int64_t n = x.numel();
    int64_t i = vbmi ? mapBytesVbmi(src, n, t.data(), dst) : avx2 ? mapBytesAvx2(src, n, t.data(), dst) : 0;
    for (; i < n; ++i)
        dst[i] = t[src[i]];
    return y;
}

// What an integer product reads of the fusions into it (fusion.h): the table of the DequantizeLinear, activations
// and any QuantizeLinear fused after it, and the DequantizeLinear's parameters when it is alone.
struct FusedOutput {
    const Tensor *table = nullptr; // in the node's attributes
    std::optional<FusedQuantize> dequantize;
};
FusedOutput fusedOutput(const Node &node)
{
    return {fusedTable(node), fusedQuantize(node)};
}

// y through the node's fused table, or y itself.
Tensor withFusedTable(const OpContext &ctx, const FusedOutput &fused, const Tensor &y)
{
    const Tensor *table = fused.table;
    if (!table)
        return y;
    if (table->dtype() != DType::Float32)
        return applyTable(y, static_cast<const uint8_t *>(table->rawData()), table->dtype());
    Tensor out = Tensor::uninitialized(DType::Float32, y.shape());
    // A DequantizeLinear alone: its own arithmetic, which the table holds.
    if (const std::optional<FusedQuantize> &dq = fused.dequantize) {
        dequantizePerTensor(threadsFor(ctx, y.numel()), static_cast<const uint8_t *>(y.rawData()),
                            y.dtype() == DType::UInt8, y.numel(), dq->scale, dq->zeroPoint, out.f32());
        return out;
    }
    // Float values: eight gathered from the table (in L1) per step, on the node's threads.
    const auto *src = static_cast<const uint8_t *>(y.rawData());
    const float *t = table->f32();
    float *dst = out.f32();
    parallelRanges(threadsFor(ctx, y.numel()), y.numel(), 4096, [&](int64_t begin, int64_t end) {
        int64_t i = begin;
        for (; i + 8 <= end; i += 8) {
            const __m256i k = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(src + i)));
            _mm256_storeu_ps(dst + i, _mm256_i32gather_ps(t, k, 4));
        }
        for (; i < end; ++i)
            dst[i] = t[src[i]];
    });
    return out;
}

// int8 activations as the uint8 ones the fast paths read: each value plus 128 (its top bit flipped), and its zero
// point with it, so that x - x_zp is unchanged. Not in the reference mode, whose loops read int8 as it is.
Tensor unsignedActivations(const OpContext &ctx, const Tensor &x, int32_t *zeroPoint)
{
    if (x.dtype() != DType::Int8 || quant::referenceOnly())
        return x;
    Tensor u = Tensor::uninitialized(DType::UInt8, x.shape());
    const auto *in = static_cast<const uint8_t *>(x.rawData());
    uint8_t *out = u.data<uint8_t>();
    parallelRanges(threadsFor(ctx, x.numel()), x.numel(), int64_t(1) << 16, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i)
            out[i] = uint8_t(in[i] ^ 0x80);
    });
    *zeroPoint += 128;
    return u;
}

void qlinearConvOp(OpContext &ctx)
{
    const Tensor &given = ctx.input(0);
    const Tensor &w = ctx.input(3);
    if (!isQuantType(given.dtype()))
        ctx.fail(std::string("x must be uint8 or int8, got ") + dtypeName(given.dtype()));
    if (!isQuantType(w.dtype()))
        ctx.fail(std::string("w must be int8 or uint8, got ") + dtypeName(w.dtype()));
    QConvParams q;
    // x may arrive channel-last and y leave so (runtime/blocked.h), where the fast path runs.
    q.xChannelsLast = blocked::arrived(ctx.node, 0, given);
    q.g = convGeometry(ctx.node, q.xChannelsLast ? blocked::plainShape(given) : given.shape(), w.shape());
    const ConvGeometry &g = q.g;
    const int64_t M = g.outChannels;
    const float xScale = scalarFloat(ctx, 1, "x_scale");
    q.xZp = scalarZeroPoint(ctx, 2, given.dtype(), "x_zero_point");
    const Tensor x = unsignedActivations(ctx, given, &q.xZp);
    const std::vector<float> wScale = channelScales(ctx, 4, M, "w_scale");
    q.wZp = channelZeroPoints(ctx, 5, M, w.dtype(), "w_zero_point");
    const float yScale = scalarFloat(ctx, 6, "y_scale");
    q.yType = ctx.hasInput(7) ? ctx.input(7).dtype() : DType::UInt8;
    if (!isQuantType(q.yType))
        ctx.fail(std::string("y_zero_point must be uint8 or int8, got ") + dtypeName(q.yType));
    q.yZp = scalarZeroPoint(ctx, 7, q.yType, "y_zero_point");
    q.bias.assign(size_t(M), 0);
    if (ctx.hasInput(8)) {
        const Tensor &b = ctx.input(8);
        requireDType(ctx, b, DType::Int32, "B");
        if (b.rank() != 1 || b.dim(0) != M)
            ctx.fail("B must be [" + str(M) + "], got " + shapeToString(b.shape()));
        q.bias.assign(b.data<int32_t>(), b.data<int32_t>() + M);
    }
    q.multiplier.resize(size_t(M));
    for (int64_t m = 0; m < M; ++m)
        q.multiplier[size_t(m)] = xScale * wScale[size_t(m)] / yScale;
    q.weights = onednn::weightsIdentity(ctx, 3);
    const Shape outShape = g.oneD ? Shape{g.batch, M, g.outW} : Shape{g.batch, M, g.outH, g.outW};
    const bool leavesChannelsLast = blocked::mayLeave(ctx.node) && !g.oneD;
    q.yChannelsLast = leavesChannelsLast;
    // A MaxPool fused into the node (runtime/fusion.h): where its windows lie inside the output, pooled while the
    // sums are requantized, channel-last (requantizePooled; made plain after, where the readers need that, a
    // quarter of the output for a 2 x 2 pool); else after the whole output.
    std::optional<ops::PoolGeometry> pool;
    if (hasFusedMaxPool(ctx.node)) {
        try {
            pool = ops::poolGeometry(ctx.node, fusedMaxPoolPrefix(), outShape);
        } catch (const Error &e) {
            ctx.fail("the fused MaxPool: " + std::string(e.what()));
        }
        const ops::PoolGeometry &p = *pool;
        const bool inside = p.padT == 0 && p.padL == 0 && (p.outH - 1) * p.sH + (p.kH - 1) * p.dH < g.outH &&
                            (p.outW - 1) * p.sW + (p.kW - 1) * p.dW < g.outW;
        if (!g.oneD && inside) {
            q.yChannelsLast = true;
            q.pool = &p;
        }
    }
    const int64_t yH = q.pool ? pool->outH : g.outH, yW = q.pool ? pool->outW : g.outW;
    Tensor y = Tensor::uninitialized(q.yType, q.yChannelsLast ? Shape{g.batch, 1, yH, yW, M} : outShape);
    bool done = !quant::referenceOnly() && (qconvAsGemm(ctx, 3, q, x, w, y) || qconvShortWindows(ctx, 3, q, x, w, y) ||
                                               qconvPairs(ctx, 3, q, x, w, y) || qconvFast(q, x, w, y, ctx.threads));
    if (!done && q.yChannelsLast) { // no channel-last implementation: plain NCHW
        q.yChannelsLast = false;
        q.pool = nullptr;
        y = Tensor::uninitialized(q.yType, outShape);
        done = !quant::referenceOnly() && qconvFast(q, x, w, y, ctx.threads);
    }
    if (!done)
        qconvReference(q, q.xChannelsLast ? blocked::toPlain(x) : x, w, y, ctx.threads);
    if (pool && !q.pool)
        y = ops::maxPoolIntegers(y, *pool, q.yChannelsLast, threadsFor(ctx, y.numel()));
    if (q.yChannelsLast && !leavesChannelsLast)
        y = blocked::toPlain(y);
    // The DequantizeLinear, activations and any QuantizeLinear fused after it (runtime/fusion.h), as one table.
    ctx.outputs[0] = withFusedTable(ctx, ctx.prepared<FusedOutput>([&] { return fusedOutput(ctx.node); }), y);
}

// QLinearConv's accumulation without bias or requantization: the same reference loops and fast path.
void convIntegerOp(OpContext &ctx)
{
    const Tensor &given = ctx.input(0);
    const Tensor &w = ctx.input(1);
    if (!isQuantType(given.dtype()))
        ctx.fail(std::string("x must be uint8 or int8, got ") + dtypeName(given.dtype()));
    if (!isQuantType(w.dtype()))
        ctx.fail(std::string("w must be uint8 or int8, got ") + dtypeName(w.dtype()));
    QConvParams q;
    q.g = convGeometry(ctx.node, given.shape(), w.shape());
    const ConvGeometry &g = q.g;
    const int64_t M = g.outChannels;
    q.xZp = scalarZeroPoint(ctx, 2, given.dtype(), "x_zero_point");
    const Tensor x = unsignedActivations(ctx, given, &q.xZp);
    q.wZp = channelZeroPoints(ctx, 3, M, w.dtype(), "w_zero_point");
    q.bias.assign(size_t(M), 0);
    q.multiplier.assign(size_t(M), 1.f);
    q.yType = DType::Int32;
    const Shape outShape = g.oneD ? Shape{g.batch, M, g.outW} : Shape{g.batch, M, g.outH, g.outW};
    Tensor y = Tensor::uninitialized(DType::Int32, outShape);
    if (quant::referenceOnly() || !(qconvAsGemm(ctx, 1, q, x, w, y) || qconvFast(q, x, w, y, ctx.threads)))
        qconvReference(q, x, w, y, ctx.threads);
    ctx.outputs[0] = std::move(y);
}

// ---- QLinearMatMul and QGemm --------------------------------------------------------------------------------------

// acc[M, N] (row-major, ldc = N) += (A - aZp)[M, K] · (B - bZp[n])[K, N] for A / B of any quantized type with
// element strides (so transposes are free): the reference product.
void integerGemmReference(int64_t M, int64_t N, int64_t K, const Tensor &a, int64_t aOffset, int64_t aRow,
                          int64_t aCol, int32_t aZp, const Tensor &b, int64_t bOffset, int64_t bRow, int64_t bCol,
                          const std::vector<int32_t> &bZp, int32_t *acc)
{
    const std::vector<int32_t> av = intValues(a), bv = intValues(b);
    std::vector<int32_t> bk(static_cast<size_t>(N));
    for (int64_t k = 0; k < K; ++k) {
        for (int64_t n = 0; n < N; ++n)
            bk[size_t(n)] = bv[size_t(bOffset + k * bRow + n * bCol)] - bZp[size_t(n)];
        for (int64_t m = 0; m < M; ++m) {
            const int32_t x = av[size_t(aOffset + m * aRow + k * aCol)] - aZp;
            if (x == 0)
                continue;
            int32_t *row = acc + m * N;
            for (int64_t n = 0; n < N; ++n)
                row[n] += x * bk[size_t(n)];
        }
    }
}

bool integerGemmFast(int64_t M, int64_t N, int64_t K, const Tensor &a, int64_t aOffset, bool transA, int32_t aZp,
                     const Tensor &b, bool transB, const std::vector<int32_t> &bZp, int32_t *acc, int threads,
                     const quant::GemvWeights *gemv = nullptr);

// B packed for gemvU8S8 once per Session, where a few-row product will use it (integerGemmFast): int8 B, input
// `index` of the node, a Session constant; nullptr otherwise. packsGemv: whether it would be packed for M rows.
const quant::GemvWeights *gemvWeights(OpContext &ctx, int index, int64_t M, int64_t N, int64_t K, bool transB);
bool packsGemv(int64_t M, const Tensor &b, int64_t N, int64_t K);

void qlinearMatMulOp(OpContext &ctx)
{
    const Tensor &given = ctx.input(0);
    const Tensor &b = ctx.input(3);
    if (!isQuantType(given.dtype()) || !isQuantType(b.dtype()))
        ctx.fail(std::string("a and b must be uint8 or int8, got ") + dtypeName(given.dtype()) + " and " +
                 dtypeName(b.dtype()));
    const Shape &as = given.shape();
    if (as.size() < 2 || b.rank() < 2)
        ctx.fail("a and b must be at least 2-D, got " + shapeToString(as) + " and " + shapeToString(b.shape()));
    const int64_t M = as[as.size() - 2], K = as.back(), N = b.dim(-1);
    if (b.dim(-2) != K)
        ctx.fail("a " + shapeToString(as) + " and b " + shapeToString(b.shape()) + " do not multiply");
    const int64_t batch = given.numel() / std::max<int64_t>(1, M * K);
    const int64_t bBatch = b.numel() / std::max<int64_t>(1, K * N);
    Shape outShape = as;
    if (b.rank() > 2) {
        if (Shape(as.begin(), as.end() - 2) != Shape(b.shape().begin(), b.shape().end() - 2))
            ctx.fail("batch dimensions of a " + shapeToString(as) + " and b " + shapeToString(b.shape()) +
                     " must match (or b must be 2-D)");
    }
    outShape.back() = N;
    const float aScale = scalarFloat(ctx, 1, "a_scale");
    int32_t aZp = scalarZeroPoint(ctx, 2, given.dtype(), "a_zero_point");
    const Tensor a = unsignedActivations(ctx, given, &aZp);
    const std::vector<float> bScale = channelScales(ctx, 4, N, "b_scale");
    const std::vector<int32_t> bZp = channelZeroPoints(ctx, 5, N, b.dtype(), "b_zero_point");
    const float yScale = scalarFloat(ctx, 6, "y_scale");
    const DType yType = ctx.hasInput(7) ? ctx.input(7).dtype() : DType::UInt8;
    if (!isQuantType(yType))
        ctx.fail(std::string("y_zero_point must be uint8 or int8, got ") + dtypeName(yType));
    const int32_t yZp = scalarZeroPoint(ctx, 7, yType, "y_zero_point");
    std::vector<float> mult(static_cast<size_t>(N));
    for (int64_t n = 0; n < N; ++n)
        mult[size_t(n)] = aScale * bScale[size_t(n)] / yScale;
    Tensor y = Tensor::uninitialized(yType, outShape);
    std::vector<int32_t> acc(size_t(M * N)), noBias(size_t(N), 0);
    for (int64_t i = 0; i < batch; ++i) {
        std::fill(acc.begin(), acc.end(), 0);
        const int64_t bOff = bBatch > 1 ? i * K * N : 0;
        if (quant::referenceOnly() || bBatch > 1 ||
            !integerGemmFast(M, N, K, a, i * M * K, false, aZp, b, false, bZp, acc.data(), ctx.threads,
                             bBatch == 1 ? gemvWeights(ctx, 3, M, N, K, false) : nullptr))
            integerGemmReference(M, N, K, a, i * M * K, K, 1, aZp, b, bOff, N, 1, bZp, acc.data());
        if (yType == DType::UInt8)
            requantizeColumns(acc.data(), M, N, noBias.data(), mult.data(), yZp, y.data<uint8_t>() + i * M * N);
        else
            requantizeColumns(acc.data(), M, N, noBias.data(), mult.data(), yZp, y.data<int8_t>() + i * M * N);
    }
    ctx.outputs[0] = withFusedTable(ctx, ctx.prepared<FusedOutput>([&] { return fusedOutput(ctx.node); }), y);
}

// What QGemm derives from its inputs other than A: made once per Session when they are its constants, else on
// every call.
struct QGemmConstants {
    float aScale = 1.f;
    int32_t aZp = 0, yZp = 0;
    DType yType = DType::Float32;   // Float32: no y_scale, the output is float
    std::vector<float> multiplier;  // per column: alpha · a_scale · b_scale (/ y_scale)
    std::vector<int32_t> bZp, bias; // bias: C when it is one value per column, else zeros
    bool columnBias = false;
    std::optional<quant::GemvWeights> gemv; // B packed for a few rows (gemvWeights)
};

QGemmConstants qgemmConstants(const OpContext &ctx, DType aType, const Tensor &b, int64_t M, int64_t N, int64_t K,
                              bool transB, float alpha, bool pack)
{
    QGemmConstants k;
    k.aScale = scalarFloat(ctx, 1, "a_scale");
    k.aZp = scalarZeroPoint(ctx, 2, aType, "a_zero_point");
    k.multiplier = channelScales(ctx, 4, N, "b_scale");
    k.bZp = channelZeroPoints(ctx, 5, N, b.dtype(), "b_zero_point");
    k.bias.assign(size_t(N), 0);
    if (ctx.hasInput(6)) {
        const Tensor &c = ctx.input(6);
        requireDType(ctx, c, DType::Int32, "C");
        k.columnBias = c.rank() >= 1 && c.rank() <= 2 && c.numel() == N && c.dim(-1) == N; // one per column
        if (k.columnBias)
            k.bias.assign(c.data<int32_t>(), c.data<int32_t>() + N);
    }
    float yScale = 1.f;
    if (ctx.hasInput(7)) {
        yScale = scalarFloat(ctx, 7, "y_scale");
        k.yType = ctx.hasInput(8) ? ctx.input(8).dtype() : DType::UInt8;
        if (!isQuantType(k.yType))
            ctx.fail(std::string("y_zero_point must be uint8 or int8, got ") + dtypeName(k.yType));
        k.yZp = scalarZeroPoint(ctx, 8, k.yType, "y_zero_point");
    }
    for (float &v : k.multiplier) {
        v = alpha == 1.f ? k.aScale * v : alpha * k.aScale * v;
        if (ctx.hasInput(7))
            v /= yScale;
    }
    if (pack && packsGemv(M, b, N, K))
        k.gemv = quant::packGemv(b.data<int8_t>(), N, K, transB, quant::gemvIsa());
    return k;
}

void qgemmOp(OpContext &ctx)
{
    const Tensor &given = ctx.input(0);
    const Tensor &b = ctx.input(3);
    struct Parsed { // what prepared() keeps of the node
        bool transA, transB;
        float alpha;
        FusedOutput fused;
        bool quantizeA; // a QuantizeLinear fused before it (runtime/fusion.h): A arrives as float32
    };
    const Parsed &p = ctx.prepared<Parsed>([&] {
        return Parsed{ctx.node.attrInt("transA", 0) != 0, ctx.node.attrInt("transB", 0) != 0,
                      ctx.node.attrFloat("alpha", 1.f), fusedOutput(ctx.node), quantizesInput(ctx.node)};
    });
    const DType aType = !p.quantizeA ? given.dtype() : ctx.hasInput(2) ? ctx.input(2).dtype() : DType::UInt8;
    if (p.quantizeA)
        requireDType(ctx, given, DType::Float32, "A");
    if (!isQuantType(aType) || !isQuantType(b.dtype()))
        ctx.fail(std::string("A and B must be uint8 or int8, got ") + dtypeName(aType) + " and " +
                 dtypeName(b.dtype()));
    if (given.rank() != 2 || b.rank() != 2)
        ctx.fail("A and B must be 2-D, got " + shapeToString(given.shape()) + " and " + shapeToString(b.shape()));
    const bool transA = p.transA, transB = p.transB;
    const int64_t M = transA ? given.dim(1) : given.dim(0), K = transA ? given.dim(0) : given.dim(1);
    const int64_t N = transB ? b.dim(0) : b.dim(1);
    if ((transB ? b.dim(1) : b.dim(0)) != K)
        ctx.fail("A " + shapeToString(given.shape()) + " and B " + shapeToString(b.shape()) +
                 " do not multiply (transA " + str(transA) + ", transB " + str(transB) + ")");
    // The scales, zero points, bias and packed B: kept when they are constants (a small head runs in microseconds,
    // and building them took a tenth of it), else made for this call (without the packed B).
    const QGemmConstants *kept = ctx.preparedFromConstants<QGemmConstants>(
        {1, 2, 3, 4, 5, 6, 7, 8}, [&] { return qgemmConstants(ctx, aType, b, M, N, K, transB, p.alpha, true); });
    std::optional<QGemmConstants> made;
    if (!kept)
        made = qgemmConstants(ctx, aType, b, M, N, K, transB, p.alpha, false);
    const QGemmConstants &k = kept ? *kept : *made;
    thread_local std::vector<int32_t> acc;
    acc.assign(size_t(M * N), 0);
    if (ctx.hasInput(6) && !k.columnBias) { // C of another shape, broadcast onto the accumulators
        const Tensor &c = ctx.input(6);
        const Shape out{M, N};
        if (broadcastShapes(ctx, c.shape(), out) != out)
            ctx.fail("C " + shapeToString(c.shape()) + " does not broadcast to " + shapeToString(out));
        Tensor full = broadcastTo(ctx, c, out);
        std::memcpy(acc.data(), full.rawData(), acc.size() * sizeof(int32_t));
    }
    // A fused QuantizeLinear's work: one row against weights packed for the VNNI product is quantized as the product
    // reads it (quant::gemvQuantizedRow); else with its arithmetic into a tensor the thread keeps for the next call
    // when it is small.
    const bool rowInProduct = p.quantizeA && M == 1 && !transA && aType == DType::UInt8 && k.gemv &&
                              k.gemv->n == N && k.gemv->k == K && !quant::referenceOnly() &&
                              std::all_of(k.bZp.begin(), k.bZp.end(), [](int32_t z) { return z == 0; });
    if (!rowInProduct || !quant::gemvQuantizedRow(*k.gemv, given.f32(), k.aScale, k.aZp, acc.data(), ctx.threads)) {
        thread_local Tensor keptA;
        Tensor madeA;
        Tensor &quantizedA = given.numel() <= 65536 ? keptA : madeA;
        if (p.quantizeA) {
            if (quantizedA.isNull() || quantizedA.dtype() != aType || quantizedA.shape() != given.shape())
                quantizedA = Tensor::uninitialized(aType, given.shape());
            quant::quantizeValues(given.f32(), given.numel(), k.aScale, k.aZp, aType == DType::Int8,
                                  quantizedA.rawData());
        }
        int32_t aZp = k.aZp;
        const Tensor a = unsignedActivations(ctx, p.quantizeA ? quantizedA : given, &aZp);
        if (quant::referenceOnly() || !integerGemmFast(M, N, K, a, 0, transA, aZp, b, transB, k.bZp, acc.data(),
                                                       ctx.threads, k.gemv ? &*k.gemv : nullptr))
            integerGemmReference(M, N, K, a, 0, transA ? 1 : K, transA ? M : 1, aZp, b, 0, transB ? 1 : N,
                                 transB ? K : 1, k.bZp, acc.data());
    }
    if (k.yType == DType::Float32) {
        Tensor y = Tensor::uninitialized(DType::Float32, {M, N});
        float *out = y.f32();
        for (int64_t m = 0; m < M; ++m)
            for (int64_t n = 0; n < N; ++n)
                out[m * N + n] = float(acc[size_t(m * N + n)] + k.bias[size_t(n)]) * k.multiplier[size_t(n)];
        ctx.outputs[0] = std::move(y);
        return;
    }
    const auto requantize = [&](void *dst) {
        if (k.yType == DType::UInt8)
            requantizeColumns(acc.data(), M, N, k.bias.data(), k.multiplier.data(), k.yZp, static_cast<uint8_t *>(dst));
        else
            requantizeColumns(acc.data(), M, N, k.bias.data(), k.multiplier.data(), k.yZp, static_cast<int8_t *>(dst));
    };
    // A DequantizeLinear alone fused after it: the bytes go to a buffer of the thread, and only the float output is
    // a tensor (a wake-word head's product made two tensors in a run of microseconds).
    if (const std::optional<FusedQuantize> &dq = p.fused.dequantize;
        dq && p.fused.table && p.fused.table->dtype() == DType::Float32) {
        thread_local std::vector<uint8_t> bytes;
        bytes.resize(size_t(M * N));
        requantize(bytes.data());
        Tensor out = Tensor::uninitialized(DType::Float32, {M, N});
        dequantizePerTensor(threadsFor(ctx, M * N), bytes.data(), k.yType == DType::UInt8, M * N, dq->scale,
                            dq->zeroPoint, out.f32());
        ctx.outputs[0] = std::move(out);
        return;
    }
    Tensor y = Tensor::uninitialized(k.yType, {M, N});
    requantize(y.rawData());
    ctx.outputs[0] = withFusedTable(ctx, p.fused, y);
}

// ---- MatMulInteger -----------------------------------------------------------------------------------------------

// A zero point of MatMulInteger spread over its operand: one value per (batch matrix, row) of a, or per
// (batch matrix, column) of b. `lead` is the operand's batch shape, `rows` the matrix dimension the zero
// point follows (a: M rows, b: N columns); byRow selects a's [.., M, 1] form over b's [.., 1, N].
std::vector<int32_t> matmulZeroPoints(const OpContext &ctx, int index, DType type, const Shape &lead, int64_t rows,
                                      bool byRow, const char *what)
{
    const int64_t count = shapeNumel(lead) * rows;
    if (!ctx.hasInput(index))
        return std::vector<int32_t>(size_t(count), 0);
    const Tensor &zp = ctx.input(index);
    if (zp.dtype() != type)
        ctx.fail(std::string(what) + " must be " + dtypeName(type) + ", got " + dtypeName(zp.dtype()));
    if (zp.numel() == 1)
        return std::vector<int32_t>(size_t(count), intValues(zp)[0]);
    Shape target = lead;
    target.push_back(byRow ? rows : 1);
    target.push_back(byRow ? 1 : rows);
    // A 1-D zero point lists one value per row (a) or per column (b) and applies to every batch matrix.
    const Tensor shaped = zp.rank() == 1 && zp.dim(0) == rows ? zp.reshaped(byRow ? Shape{rows, 1} : Shape{1, rows}) : zp;
    bool fits = shaped.rank() <= int(target.size());
    for (int d = 1; fits && d <= shaped.rank(); ++d) {
        const int64_t have = shaped.dim(-d), want = target[target.size() - size_t(d)];
        fits = have == want || have == 1;
    }
    if (!fits)
        ctx.fail(std::string(what) + " " + shapeToString(zp.shape()) + " is neither a scalar nor per " +
                 (byRow ? "row: [M] or " : "column: [N] or ") + shapeToString(target));
    return intValues(broadcastTo(ctx, shaped, target));
}

void matMulIntegerOp(OpContext &ctx)
{
    const Tensor &given = ctx.input(0);
    const Tensor &b = ctx.input(1);
    if (!isQuantType(given.dtype()) || !isQuantType(b.dtype()))
        ctx.fail(std::string("a and b must be uint8 or int8, got ") + dtypeName(given.dtype()) + " and " +
                 dtypeName(b.dtype()));
    int32_t shift = 0; // what unsignedActivations adds to a's values and zero points
    const Tensor a = unsignedActivations(ctx, given, &shift);
    if (a.rank() < 1 || b.rank() < 1)
        ctx.fail("a and b must not be scalars");
    // numpy matmul: a 1-D a is one row, a 1-D b one column, and those dimensions are dropped from y.
    Shape as = a.shape(), bs = b.shape();
    if (as.size() == 1)
        as.insert(as.begin(), 1);
    if (bs.size() == 1)
        bs.push_back(1);
    const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
    if (bs[bs.size() - 2] != K)
        ctx.fail("a " + shapeToString(a.shape()) + " and b " + shapeToString(b.shape()) + " do not multiply");
    const Shape aLead(as.begin(), as.end() - 2), bLead(bs.begin(), bs.end() - 2);
    const Shape lead = broadcastShapes(ctx, aLead, bLead);
    std::vector<int32_t> aZp = matmulZeroPoints(ctx, 2, given.dtype(), aLead, M, true, "a_zero_point");
    for (int32_t &z : aZp)
        z += shift;
    const std::vector<int32_t> bZp = matmulZeroPoints(ctx, 3, b.dtype(), bLead, N, false, "b_zero_point");
    Shape outShape = lead;
    if (a.rank() > 1)
        outShape.push_back(M);
    if (b.rank() > 1)
        outShape.push_back(N);
    Tensor y(DType::Int32, outShape); // zeroed: the products accumulate into it
    int32_t *acc = y.data<int32_t>();
    const int64_t batches = shapeNumel(lead);
    // The fast path: u8 activations × s8 weights shared by every batch matrix with zero b zero points and one a
    // zero point (onnxruntime's dynamic quantization), all batch matrices stacked into one product.
    const bool oneAZp = std::all_of(aZp.begin(), aZp.end(), [&](int32_t z) { return z == aZp[0]; });
    const bool zeroBZp = std::all_of(bZp.begin(), bZp.end(), [](int32_t z) { return z == 0; });
    if (!quant::referenceOnly() && shapeNumel(bLead) == 1 && shapeNumel(aLead) == batches && oneAZp && zeroBZp &&
        integerGemmFast(batches * M, N, K, a, 0, false, aZp.empty() ? 0 : aZp[0], b, false,
                        std::vector<int32_t>(size_t(N), 0), acc, ctx.threads,
                        gemvWeights(ctx, 1, batches * M, N, K, false))) {
        ctx.outputs[0] = std::move(y);
        return;
    }
    const std::vector<int32_t> av = intValues(a), bv = intValues(b);
    // Batch matrix strides of a and b over the output's batch dimensions (0 where broadcast).
    const std::vector<int64_t> aStride = broadcastStrides(aLead, lead), bStride = broadcastStrides(bLead, lead);
    const std::vector<int64_t> leadStrides = stridesOf(lead);
    parallelFor(threadsFor(ctx, batches * M * N * K / 16), batches, [&](int64_t i) {
        int64_t ai = 0, bi = 0; // batch matrix of a and b feeding output matrix i
        for (size_t d = 0; d < lead.size(); ++d) {
            const int64_t idx = i / leadStrides[d] % lead[d];
            ai += idx * aStride[d];
            bi += idx * bStride[d];
        }
        const int32_t *pa = av.data() + ai * M * K, *pb = bv.data() + bi * K * N;
        const int32_t *za = aZp.data() + ai * M, *zb = bZp.data() + bi * N;
        int32_t *out = acc + i * M * N;
        std::vector<int32_t> row(static_cast<size_t>(N));
        for (int64_t k = 0; k < K; ++k) {
            for (int64_t n = 0; n < N; ++n)
                row[size_t(n)] = pb[k * N + n] - zb[n];
            for (int64_t m = 0; m < M; ++m) {
                const int32_t v = pa[m * K + k] - za[m];
                if (v == 0)
                    continue;
                int32_t *o = out + m * N;
                for (int64_t n = 0; n < N; ++n)
                    o[n] += v * row[size_t(n)];
            }
        }
    });
    ctx.outputs[0] = std::move(y);
}

// ---- fast paths -------------------------------------------------------------------------------------------------
//
// oneDNN int8 primitives (u8 activations × s8 weights → s32, VNNI where the CPU has it) compute the
// accumulators; the bias, the activation zero point of the gemms and the requantization are ours, so the
// result is the reference arithmetic exactly. As in ops/onednn.cpp: primitives cached by geometry, weights
// packed once per content (address + bytes compared), per-thread scratchpads, oneDNN itself single-threaded
// with the batch cut into slices through cw::parallelFor.

namespace fast {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

dnnl::engine &engine()
{
    static dnnl::engine e(dnnl::engine::kind::cpu, 0);
    return e;
}

dnnl::stream &threadStream()
{
    thread_local dnnl::stream stream(engine());
    return stream;
}

// Per-thread buffers (onednn::threadBuffer) by slot: 0 the scratchpad, 1 the reordered source, 2 the s32
// output, 3 the split's second s32 output (onednn::int8WeightsSplit), then the reordered plain output, so a call
// allocates nothing once warm.
using onednn::threadBuffer;

dnnl::memory scratchpad(const dnnl::memory::desc &d)
{
    return dnnl::memory(d, engine(), threadBuffer(0, d.get_size()));
}

dnnl::primitive_attr userScratchpad()
{
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return attr;
}

bool isReference(const char *impl)
{
    return std::string(impl).rfind("ref", 0) == 0;
}

// Adds the accumulators of the split's second half into those of the first.
void addLowHalf(int32_t *acc, const int32_t *low, size_t count)
{
    for (size_t i = 0; i < count; ++i) // wrapping like the int32 accumulators, without overflow
        acc[i] = int32_t(uint32_t(acc[i]) + uint32_t(low[i]));
}

// Weights in a primitive's layout, keyed by the plain bytes they came from, plus per-output sums of the
// weights (the gemm's activation zero-point compensation).
struct PackedWeights {
    dnnl::memory packed;
    // When the weights run as two products (onednn::int8WeightsSplit): `packed` holds the split's first half h,
    // `packedLow` the second l (w = h + l).
    bool split = false;
    dnnl::memory packedLow;
    std::shared_ptr<const std::vector<int32_t>> sums; // per output (of w itself)
};

// The entry keeps the source tensor's buffer alive, so its address cannot come back holding other
// weights. Weights written in place are caught by a fingerprint of 256 evenly spaced bytes (plus the first
// and last 64), not byte for byte: comparing all of them on every call cost ~10% of the int8 CNN's batch-1 time.
struct PackedEntry {
    Tensor source;
    uint64_t fingerprint = 0; // or the Session's id for the weights (onednn::WeightsIdentity)
    bool byId = false;
    PackedWeights weights;
};

struct WeightCache {
    std::mutex mutex;
    std::deque<PackedEntry> entries;

    // n outputs × k inputs; `ioLayout`: the plain bytes are [k][n] (QLinearMatMul / QGemm transB = 0).
    // identity: the Session's id for a weight that is its own constant stands for the fingerprint.
    PackedWeights get(const Tensor &w, onednn::WeightsIdentity identity, const dnnl::memory::desc &plainDesc,
                      const dnnl::memory::desc &packedDesc, int64_t n, int64_t k, bool ioLayout)
    {
        const bool byId = identity.constant && identity.id != 0;
        const uint64_t print = byId ? identity.id : onednn::weightFingerprint(w);
        std::lock_guard lock(mutex);
        for (const PackedEntry &p : entries)
            if (p.source.rawData() == w.rawData() && p.source.byteSize() == w.byteSize() && p.byId == byId &&
                p.fingerprint == print)
                return p.weights;
        PackedEntry p;
        p.source = w;
        p.fingerprint = print;
        p.byId = byId;
        const Tensor plainCopy = w.clone();
        const auto pack = [&](const Tensor &values) {
            dnnl::memory packed(packedDesc, engine());
            if (plainDesc == packedDesc) {
                std::memcpy(packed.get_data_handle(), values.rawData(), values.byteSize());
                return packed;
            }
            dnnl::memory plain(plainDesc, engine(), const_cast<void *>(values.rawData()));
            const dnnl::reorder::primitive_desc rpd(engine(), plainDesc, engine(), packedDesc, userScratchpad());
            dnnl::reorder(rpd).execute(threadStream(), {{DNNL_ARG_FROM, plain},
                                                        {DNNL_ARG_TO, packed},
                                                        {DNNL_ARG_SCRATCHPAD, scratchpad(rpd.scratchpad_desc())}});
            threadStream().wait();
            return packed;
        };
        const auto *q = plainCopy.data<int8_t>();
        if (onednn::int8WeightsSplit(q, plainCopy.numel())) {
            Tensor high = plainCopy.clone(), low = plainCopy.clone();
            int8_t *h = high.data<int8_t>(), *l = low.data<int8_t>();
            for (int64_t i = 0; i < plainCopy.numel(); ++i) {
                h[i] = int8_t(q[i] >> 1); // floor(w / 2): [-64, 63]
                l[i] = int8_t(q[i] - h[i]); // [-64, 64]
            }
            p.weights.packed = pack(high);
            p.weights.packedLow = pack(low);
            p.weights.split = true;
        } else {
            p.weights.packed = pack(plainCopy);
        }
        auto sums = std::make_shared<std::vector<int32_t>>(size_t(n), 0);
        for (int64_t o = 0; o < n; ++o)
            for (int64_t i = 0; i < k; ++i)
                (*sums)[size_t(o)] += ioLayout ? q[i * n + o] : q[o * k + i];
        p.weights.sums = sums;
        if (entries.size() >= 4)
            entries.pop_front();
        entries.push_back(std::move(p));
        return entries.back().weights;
    }
};

// ---- convolution ----

struct ConvEntry {
    bool ok = false;
    dnnl::convolution_forward::primitive_desc pd;
    dnnl::convolution_forward conv;
    dnnl::memory::desc srcPlain, weightsPlain;
    bool reorderSrc = false;
    dnnl::reorder srcReorder;
    dnnl::memory::desc srcReorderScratchpad;
    bool dstNhwc = false;    // otherwise plain NCHW
    bool blockedDst = false; // neither: reordered to NCHW first
    // Channel-last s32 accumulators → NCHW (oneDNN's JIT reorder transposes faster than a hand loop).
    dnnl::memory::desc dstPlain;
    dnnl::reorder dstReorder;
    dnnl::memory::desc dstReorderScratchpad;
    WeightCache weights;
    bool runtimeZeroPoint = false; // x's zero point given per execution
    uint64_t id = 0;               // names the entry's memory objects on each thread (boundMemory)
};

using ConvKey = std::array<int64_t, 22>;

// A convolution reading x as it arrives (NCHW, or NHWC: xChannelsLast) and writing s32 accumulators; with
// yChannelsLast, only ones written NHWC.
std::shared_ptr<ConvEntry> createConv(const ConvGeometry &g, int32_t xZp, bool xChannelsLast, bool yChannelsLast)
{
    static std::atomic<uint64_t> nextId{1};
    auto e = std::make_shared<ConvEntry>();
    e->id = nextId++;
    const auto [src, dst, weights, strides, dilates, padL, padR, weightsTag] = onednn::convDims(g);
    e->srcPlain = dnnl::memory::desc(src, dt::u8, xChannelsLast ? tag::nhwc : tag::nchw);
    e->weightsPlain = dnnl::memory::desc(weights, dt::s8, weightsTag);
    dnnl::primitive_attr attr = userScratchpad();
    // The input's zero point is given per execution: a dynamically quantized input (DynamicQuantizeLinear) has
    // a new one for every input, and a primitive per value would be compiled again and again.
    e->runtimeZeroPoint = xZp != 0;
    if (e->runtimeZeroPoint)
        attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
    // Channel-last activations are what oneDNN's int8 JIT convolutions run on; an NCHW s32 output saves
    // the transposition in the requantization when the implementation writes it; the plain layout is the
    // fallback (its gemm-based implementation) for geometries they refuse.
    const char *forcedEnv = std::getenv("CW_QCONV_LAYOUT"); // measurements: "nhwc" or "nchw" only
    const std::string forced = forcedEnv ? forcedEnv : "";
    const std::pair<tag, tag> layouts[] = {{tag::nhwc, tag::nchw}, {tag::nhwc, tag::nhwc}, {tag::nchw, tag::nchw}};
    for (const auto &[srcLayout, dstLayout] : layouts) {
        if ((forced == "nhwc" && (srcLayout != tag::nhwc || dstLayout != tag::nhwc)) ||
            (forced == "nchw" && srcLayout != tag::nchw) || (yChannelsLast && dstLayout != tag::nhwc))
            continue;
        try {
            const dnnl::memory::desc srcDesc(src, dt::u8, srcLayout);
            const dnnl::memory::desc dstDesc(dst, dt::s32, dstLayout);
            const dnnl::memory::desc weightsAny(weights, dt::s8, tag::any);
            const dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference,
                                                       dnnl::algorithm::convolution_direct, srcDesc, weightsAny,
                                                       dstDesc, strides, dilates, padL, padR);
            dnnl::convolution_forward::primitive_desc pd(desc, attr, engine());
            if (isReference(pd.impl_info_str()))
                continue;
            e->pd = pd;
            e->conv = dnnl::convolution_forward(pd);
            e->dstNhwc = pd.dst_desc() != dnnl::memory::desc(dst, dt::s32, tag::nchw);
            e->blockedDst = e->dstNhwc && pd.dst_desc() != dnnl::memory::desc(dst, dt::s32, tag::nhwc);
            e->dstPlain = dnnl::memory::desc(dst, dt::s32, tag::nchw);
            if (e->dstNhwc) {
                const dnnl::reorder::primitive_desc rpd(engine(), pd.dst_desc(), engine(), e->dstPlain,
                                                        userScratchpad());
                e->dstReorder = dnnl::reorder(rpd);
                e->dstReorderScratchpad = rpd.scratchpad_desc();
            }
            e->reorderSrc = pd.src_desc() != e->srcPlain;
            if (e->reorderSrc) {
                const dnnl::reorder::primitive_desc rpd(engine(), e->srcPlain, engine(), pd.src_desc(),
                                                        userScratchpad());
                e->srcReorder = dnnl::reorder(rpd);
                e->srcReorderScratchpad = rpd.scratchpad_desc();
            }
            e->ok = true;
            break;
        } catch (const dnnl::error &) {
        }
    }
    return e;
}

// The entry of a convolution of geometry g, its primitive made for a oneDNN team of `threads`.
std::shared_ptr<ConvEntry> convEntry(const ConvGeometry &g, int32_t xZp, bool xChannelsLast, bool yChannelsLast,
                                     int threads = 1)
{
    static std::mutex mutex;
    static std::map<ConvKey, std::shared_ptr<ConvEntry>> cache;
    const ConvKey key{g.batch,   g.inChannels, g.inH,      g.inW,       g.outChannels, g.outH,  g.outW,
                      g.kH,      g.kW,         g.strideH,  g.strideW,   g.dilationH,   g.dilationW, g.padTop,
                      g.padLeft, g.padBottom,  g.padRight, g.group,     int64_t(xZp != 0), threads,
                      int64_t(xChannelsLast), int64_t(yChannelsLast)};
    {
        std::lock_guard lock(mutex);
        auto it = cache.find(key);
        if (it != cache.end())
            return it->second;
    }
    std::shared_ptr<ConvEntry> e = createConv(g, xZp, xChannelsLast, yChannelsLast);
    std::lock_guard lock(mutex);
    if (cache.size() >= 256)
        cache.clear();
    return cache.emplace(key, e).first->second;
}

// One accumulator of channel c as output type T (int32: as it is).
template <typename T> inline T requantizedAt(int32_t acc, int64_t c, const QConvParams &q, QRange r)
{
    if constexpr (std::is_same_v<T, int32_t>)
        return acc;
    else
        return T(quant::requantize(acc + q.bias[size_t(c)], q.multiplier[size_t(c)], q.yZp, r.lo, r.hi));
}

// Channel-last accumulators [P, C] (+ bias) requantized into channel-major [C, P] output in one pass, for the
// channels [c0, c0 + 8) (all eight within C): 8 pixels × 8 channels per step, requantized as rows of channels,
// transposed in registers, stored as rows of pixels. Same float operations per element as requantize(). With T
// int32 (ConvInteger: no bias, no requantization) the accumulators are only transposed.
template <typename T>
void requantizePixelMajor(const int32_t *acc, int64_t P, int64_t C, int64_t c0, const QConvParams &q, T *y)
{
    constexpr bool kCopy = std::is_same_v<T, int32_t>;
    const QRange r = kCopy ? QRange{0, 0} : rangeOf(dtypeOf<T>());
    const __m256 vzp = _mm256_set1_ps(float(q.yZp));
    const __m256 vlo = _mm256_set1_ps(float(r.lo)), vhi = _mm256_set1_ps(float(r.hi));
    const int64_t P8 = P / 8 * 8;
    const __m256i vb =
        kCopy ? _mm256_setzero_si256() : _mm256_loadu_si256(reinterpret_cast<const __m256i *>(q.bias.data() + c0));
    const __m256 vm = kCopy ? _mm256_setzero_ps() : _mm256_loadu_ps(q.multiplier.data() + c0);
    for (int64_t p0 = 0; p0 < P8; p0 += 8) {
        __m256 rows[8];
        for (int i = 0; i < 8; ++i) {
            const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(acc + (p0 + i) * C + c0));
            if constexpr (kCopy) {
                rows[i] = _mm256_castsi256_ps(a);
            } else {
                rows[i] = _mm256_castsi256_ps(requantize8(_mm256_add_epi32(a, vb), vm, vzp, vlo, vhi));
            }
        }
        transpose8x8(rows);
        for (int j = 0; j < 8; ++j)
            if constexpr (kCopy)
                _mm256_storeu_si256(reinterpret_cast<__m256i *>(y + (c0 + j) * P + p0), _mm256_castps_si256(rows[j]));
            else
                store8(y + (c0 + j) * P + p0, _mm256_castps_si256(rows[j]));
    }
    // The last P % 8 pixels (all of them below 8, as in a 1-D convolution's few frames): each pixel's eight
    // channels requantized at once, then stored down the channels.
    for (int64_t p = P8; p < P; ++p) {
        const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(acc + p * C + c0));
        alignas(32) T values[8];
        if constexpr (kCopy)
            _mm256_store_si256(reinterpret_cast<__m256i *>(values), a);
        else
            store8(values, requantize8(_mm256_add_epi32(a, vb), vm, vzp, vlo, vhi));
        for (int j = 0; j < 8; ++j)
            y[(c0 + j) * P + p] = values[j];
    }
}

// The accumulators of one image, [P, C] channel-last (pixelMajor) or [C, P], into channel-major output of type T,
// channels [c0, c1).
template <typename T>
void channelMajorOutput(const int32_t *acc, int64_t P, int64_t C, int64_t c0, int64_t c1, bool pixelMajor,
                        const QConvParams &q, T *y)
{
    if (!pixelMajor) {
        for (int64_t c = c0; c < c1; ++c)
            if constexpr (std::is_same_v<T, int32_t>)
                std::copy(acc + c * P, acc + (c + 1) * P, y + c * P);
            else
                requantizeRow(acc + c * P, P, q.multiplier[size_t(c)], q.yZp, y + c * P, q.bias[size_t(c)]);
        return;
    }
    if (c1 - c0 == 8) {
        requantizePixelMajor(acc, P, C, c0, q, y);
        return;
    }
    const QRange r = std::is_same_v<T, int32_t> ? QRange{0, 0} : rangeOf(dtypeOf<T>());
    for (int64_t c = c0; c < c1; ++c)
        for (int64_t p = 0; p < P; ++p)
            y[c * P + p] = requantizedAt<T>(acc[p * C + c], c, q, r);
}

// The accumulators of `batch` images ([P, C] each when pixelMajor, else [C, P]) into q.yType output [batch, C, P]:
// blocks of eight channels of each image (the last one may be short), split between `threads`.
void channelMajorImages(const int32_t *acc, int64_t batch, bool pixelMajor, const QConvParams &q, void *y, int threads)
{
    const int64_t P = q.g.outH * q.g.outW, C = q.g.outChannels, blocks = (C + 7) / 8;
    parallelRanges(threads, batch * blocks, 1, [&](int64_t begin, int64_t end) {
        for (int64_t k = begin; k < end; ++k) {
            const int64_t n = k / blocks, c0 = k % blocks * 8, c1 = std::min(C, c0 + 8);
            const int32_t *a = acc + n * P * C;
            if (q.yType == DType::Int32) // ConvInteger: the accumulators (there is no bias)
                channelMajorOutput(a, P, C, c0, c1, pixelMajor, q, static_cast<int32_t *>(y) + n * P * C);
            else if (q.yType == DType::UInt8)
                channelMajorOutput(a, P, C, c0, c1, pixelMajor, q, static_cast<uint8_t *>(y) + n * P * C);
            else
                channelMajorOutput(a, P, C, c0, c1, pixelMajor, q, static_cast<int8_t *>(y) + n * P * C);
        }
    });
}

void writeAccumulators(const int32_t *acc, bool pixelMajor, const QConvParams &q, int64_t batch, void *y,
                       int threads);

// An entry's memory objects and argument maps on one thread, made once and pointed at each call's buffers (as the
// float convolutions' are: onednn::threadBound): making them per call was oneDNN's work outside its kernels.
struct BoundMemory {
    dnnl::memory src, reordered, dst, low, plain, zeroPoint, scratchpad, srcScratchpad, dstScratchpad;
    int32_t xZp = 0; // what zeroPoint holds
    std::unordered_map<int, dnnl::memory> conv, convLow, srcReorder, dstReorder;
};

BoundMemory &boundMemory(const ConvEntry &e)
{
    return onednn::threadBound<BoundMemory>(e.id, [&](BoundMemory &b) {
        const auto none = [](const dnnl::memory::desc &desc) {
            return dnnl::memory(desc, engine(), DNNL_MEMORY_NONE);
        };
        b.src = none(e.srcPlain);
        b.dst = none(e.pd.dst_desc());
        b.low = none(e.pd.dst_desc());
        b.scratchpad = none(e.pd.scratchpad_desc());
        b.conv = {{DNNL_ARG_SRC, b.src}, {DNNL_ARG_DST, b.dst}, {DNNL_ARG_SCRATCHPAD, b.scratchpad}};
        if (e.runtimeZeroPoint) {
            b.zeroPoint = dnnl::memory(dnnl::memory::desc({1}, dt::s32, tag::x), engine(), &b.xZp);
            b.conv[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC] = b.zeroPoint;
        }
        if (e.reorderSrc) {
            b.reordered = none(e.pd.src_desc());
            b.srcScratchpad = none(e.srcReorderScratchpad);
            b.srcReorder = {
                {DNNL_ARG_FROM, b.src}, {DNNL_ARG_TO, b.reordered}, {DNNL_ARG_SCRATCHPAD, b.srcScratchpad}};
            b.conv[DNNL_ARG_SRC] = b.reordered;
        }
        b.convLow = b.conv;
        b.convLow[DNNL_ARG_DST] = b.low;
        if (e.dstNhwc && e.blockedDst) {
            b.plain = none(e.dstPlain);
            b.dstScratchpad = none(e.dstReorderScratchpad);
            b.dstReorder = {{DNNL_ARG_FROM, b.dst}, {DNNL_ARG_TO, b.plain}, {DNNL_ARG_SCRATCHPAD, b.dstScratchpad}};
        }
    });
}

void convSlice(ConvEntry &e, const PackedWeights &w, const uint8_t *x, const QConvParams &q, int64_t batch,
               void *y, int threads = 1)
{
    dnnl::stream &stream = threadStream();
    BoundMemory &b = boundMemory(e);
    // The scratchpads and the buffers below are this thread's (threadBuffer), which move when they grow.
    onednn::pointAt(b.src, const_cast<uint8_t *>(x));
    if (e.reorderSrc) {
        onednn::pointAtThreadBuffer(b.reordered, 1);
        onednn::pointAtThreadBuffer(b.srcScratchpad, 0);
        e.srcReorder.execute(stream, b.srcReorder);
    }
    onednn::pointAtThreadBuffer(b.dst, 2);
    onednn::pointAtThreadBuffer(b.scratchpad, 0);
    b.xZp = q.xZp; // read by the primitive made for a nonzero one (runtimeZeroPoint)
    b.conv[DNNL_ARG_WEIGHTS] = w.packed;
    e.conv.execute(stream, b.conv);
    auto *acc = static_cast<int32_t *>(b.dst.get_data_handle());
    if (w.split) {
        onednn::pointAtThreadBuffer(b.low, 3);
        b.convLow[DNNL_ARG_WEIGHTS] = w.packedLow;
        e.conv.execute(stream, b.convLow);
        stream.wait();
        addLowHalf(acc, static_cast<const int32_t *>(b.low.get_data_handle()),
                   e.pd.dst_desc().get_size() / sizeof(int32_t));
    }
    const bool viaReorder = e.dstNhwc && e.blockedDst;
    if (viaReorder) {
        onednn::pointAtThreadBuffer(b.plain, 3);
        onednn::pointAtThreadBuffer(b.dstScratchpad, 0);
        e.dstReorder.execute(stream, b.dstReorder);
        acc = static_cast<int32_t *>(b.plain.get_data_handle());
    }
    stream.wait();
    writeAccumulators(acc, e.dstNhwc && !viaReorder, q, batch, y, threads);
}

// The sums of `batch` images of q's convolution (pixelMajor: channel-last [N · P, C]; else [N, C, P]; bias not
// added), requantized into y as q says: pooled or channel-last (from channel-last sums only), else channel-major.
void writeAccumulators(const int32_t *acc, bool pixelMajor, const QConvParams &q, int64_t batch, void *y,
                       int threads)
{
    const ConvGeometry &g = q.g;
    const int64_t P = g.outH * g.outW, C = g.outChannels;
    if (q.pool) { // NHWC sums, pooled as they are requantized
        ops::PoolGeometry pg = *q.pool;
        pg.N = batch;
        parallelRanges(threads, batch * pg.outH * pg.outW, 16, [&](int64_t begin, int64_t end) {
            if (q.yType == DType::UInt8)
                requantizePooled(acc, pg, q, begin, end, static_cast<uint8_t *>(y));
            else
                requantizePooled(acc, pg, q, begin, end, static_cast<int8_t *>(y));
        });
        return;
    }
    if (q.yChannelsLast) { // the entry writes NHWC (createConv)
        parallelRanges(threads, batch * P, 64, [&](int64_t begin, int64_t end) {
            if (q.yType == DType::UInt8)
                requantizeColumns(acc + begin * C, end - begin, C, q.bias.data(), q.multiplier.data(), q.yZp,
                                  static_cast<uint8_t *>(y) + begin * C);
            else
                requantizeColumns(acc + begin * C, end - begin, C, q.bias.data(), q.multiplier.data(), q.yZp,
                                  static_cast<int8_t *>(y) + begin * C);
        });
        return;
    }
    channelMajorImages(acc, batch, pixelMajor, q, y, threads);
}

} // namespace fast

namespace fast {

// int8 weights for the accumulator-only path of qconvFast (ConvInteger's, whose weights have zero points), made
// once per weight tensor: kept with the source (so its address cannot be reused) and a fingerprint of its contents,
// so that the packed form WeightCache keeps for the result is found again on the next run. Either
//   w - c, c = 128 for uint8 weights, else 0 (the window sums correct for c - w_zp), or, `clamped`, on a CPU whose
//   u8 x s8 pairs saturate (onednn::int8PairsSaturate) and where few weights lie beyond ±64 of their zero point:
//   w - w_zp[m] clamped to ±64, which runs as one product instead of two, and the rest (w - w_zp[m] beyond the
//   clamp) as a sparse list per output channel, added by addClampedRest.
struct ShiftedWeights {
    Tensor weights;
    int32_t c = 0;
    bool clamped = false;
    std::vector<int64_t> start;      // clamped: the rest of output channel m is entries [start[m], start[m + 1])
    std::vector<int32_t> tap, value; // tap: (ci · kH + kh) · kW + kw within the channel's weights
};

// At most this share of the weights beyond the clamp (per mille of the layer's): the rest is added one weight at a
// time over the output plane. On imgly-small (AVX2 EPYC, one thread) every layer gains up to the largest share
// there, 6.1 %: 4.73 s split, 2.71 s clamping the layers up to 1 %, 2.62 s up to 6 %. For QLinearConv, whose
// accumulators oneDNN often writes pixel-major, the same scheme lost: oww-embedding's 8-bit variant went from 1.50
// to 2.4-2.6 ms clamping its layers up to 10 % (its smallest share is 7 %), so its weights still run as two products.
constexpr int64_t kClampedRestPerMille = 60;

std::shared_ptr<const ShiftedWeights> shiftedWeights(const Tensor &w, const std::vector<int32_t> &wZp)
{
    struct Entry {
        Tensor source;
        std::vector<int32_t> zp;
        uint64_t fingerprint = 0;
        std::shared_ptr<const ShiftedWeights> shifted;
    };
    static std::mutex mutex;
    static std::deque<Entry> entries;
    static size_t bytes = 0;
    constexpr size_t kMaxBytes = size_t(512) << 20;
    const uint64_t print = onednn::weightFingerprint(w);
    {
        std::lock_guard lock(mutex);
        for (const Entry &e : entries)
            if (e.source.rawData() == w.rawData() && e.source.byteSize() == w.byteSize() && e.fingerprint == print &&
                e.zp == wZp)
                return e.shifted;
    }
    const std::vector<int32_t> values = intValues(w);
    const int64_t M = w.dim(0), per = M > 0 ? w.numel() / M : 0;
    auto sw = std::make_shared<ShiftedWeights>();
    sw->weights = Tensor::uninitialized(DType::Int8, w.shape());
    auto *out = sw->weights.data<int8_t>();
    int64_t beyond = 0;
    for (int64_t i = 0; i < w.numel(); ++i)
        beyond += std::abs(values[size_t(i)] - wZp[size_t(i / per)]) > 64;
    if (onednn::int8PairsSaturate() && beyond * 1000 <= w.numel() * kClampedRestPerMille) {
        sw->clamped = true;
        sw->start.assign(size_t(M + 1), 0);
        for (int64_t m = 0; m < M; ++m) {
            for (int64_t t = 0; t < per; ++t) {
                const int32_t d = values[size_t(m * per + t)] - wZp[size_t(m)];
                const int32_t kept = std::clamp(d, -64, 64);
                out[m * per + t] = int8_t(kept);
                if (d != kept) {
                    sw->tap.push_back(int32_t(t));
                    sw->value.push_back(d - kept);
                }
            }
            sw->start[size_t(m + 1)] = int64_t(sw->tap.size());
        }
    } else {
        sw->c = w.dtype() == DType::UInt8 ? 128 : 0;
        for (int64_t i = 0; i < w.numel(); ++i)
            out[i] = int8_t(values[size_t(i)] - sw->c);
    }
    std::lock_guard lock(mutex);
    entries.push_back({w, wZp, print, sw});
    bytes += size_t(w.byteSize());
    while (bytes > kMaxBytes && entries.size() > 1) {
        bytes -= size_t(entries.front().source.byteSize());
        entries.pop_front();
    }
    return sw;
}

// y [N, M, outH, outW] (int32, plain) += Σ rest · (x - x_zp) over the clamped weights' rest: per output channel and
// listed weight, its input plane's window positions (the padding is x_zp, adding nothing), wrapping like the int32
// accumulators.
void addClampedRest(const ShiftedWeights &sw, const ConvGeometry &g, const uint8_t *x, int32_t xZp, int32_t *y,
                    int threads)
{
    const int64_t M = g.outChannels, Mg = M / g.group, Cg = g.inChannels / g.group, P = g.outH * g.outW;
    const int64_t plane = g.inH * g.inW;
    const auto rangeOf = [](int64_t out, int64_t in, int64_t stride, int64_t offset, int64_t &first, int64_t &last) {
        // outputs o with 0 <= o · stride + offset < in
        first = offset >= 0 ? 0 : ceilDiv(-offset, stride);
        last = in - offset <= 0 ? 0 : std::min(out, ceilDiv(in - offset, stride));
    };
    parallelRanges(std::clamp(int(int64_t(sw.tap.size()) * g.batch * P / (1 << 18)), 1, std::max(1, threads)),
                   g.batch * M, 1, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
            const int64_t n = r / M, m = r % M;
            auto *out = reinterpret_cast<uint32_t *>(y + r * P);
            for (int64_t j = sw.start[size_t(m)]; j < sw.start[size_t(m + 1)]; ++j) {
                const int64_t t = sw.tap[size_t(j)];
                const int64_t ci = t / (g.kH * g.kW), kh = t / g.kW % g.kH, kw = t % g.kW;
                const uint32_t v = uint32_t(sw.value[size_t(j)]);
                const uint8_t *in = x + (n * g.inChannels + m / Mg * Cg + ci) * plane;
                int64_t oh0, oh1, ow0, ow1;
                rangeOf(g.outH, g.inH, g.strideH, kh * g.dilationH - g.padTop, oh0, oh1);
                rangeOf(g.outW, g.inW, g.strideW, kw * g.dilationW - g.padLeft, ow0, ow1);
                for (int64_t oh = oh0; oh < oh1; ++oh) {
                    const uint8_t *row = in + (oh * g.strideH + kh * g.dilationH - g.padTop) * g.inW +
                                         kw * g.dilationW - g.padLeft;
                    uint32_t *o = out + oh * g.outW;
                    for (int64_t ow = ow0; ow < ow1; ++ow)
                        o[ow] += v * uint32_t(int32_t(row[ow * g.strideW]) - xZp);
                }
            }
        }
    });
}

// All-ones int8 weights [group, C / group, kH, kW] (or [group, C / group, k]): a convolution with them sums the
// window of (x - x_zp) per group.
Tensor onesWeights(const Shape &shape)
{
    static std::mutex mutex;
    static std::map<Shape, Tensor> cache;
    std::lock_guard lock(mutex);
    auto it = cache.find(shape);
    if (it == cache.end()) {
        Tensor ones = Tensor::uninitialized(DType::Int8, shape);
        std::fill(ones.data<int8_t>(), ones.data<int8_t>() + ones.numel(), int8_t(1));
        it = cache.emplace(shape, ones).first;
    }
    return it->second;
}

} // namespace fast

bool qconvFast(const QConvParams &q, const Tensor &x, const Tensor &w, Tensor &y, int threads)
{
    const ConvGeometry &g = q.g;
    if (x.dtype() != DType::UInt8 || !isQuantType(w.dtype()))
        return false;
    const bool zeroZp = std::all_of(q.wZp.begin(), q.wZp.end(), [](int32_t z) { return z == 0; });
    if (w.dtype() != DType::Int8 || !zeroZp) {
        // oneDNN takes int8 weights without a zero point. For the accumulators alone (ConvInteger, e.g. onnxruntime's
        // dynamic quantization, which stores uint8 weights with a zero point), with c = 128 for uint8 weights:
        //   Σ (x - x_zp)(w - w_zp) = Σ (x - x_zp)(w - c) + (c - w_zp) · Σ (x - x_zp),
        // the first an int8 convolution, the second the window sums, a convolution with all-ones weights (one output
        // channel per group); both exact in int32.
        // On a CPU whose u8 x s8 pairs saturate, weights mostly within ±64 of their zero point run clamped, plus the
        // few beyond as a sparse sum, instead of as two products (fast::ShiftedWeights).
        if (q.yType != DType::Int32)
            return false;
        const std::shared_ptr<const fast::ShiftedWeights> sw = fast::shiftedWeights(w, q.wZp);
        QConvParams shifted = q;
        shifted.wZp.assign(q.wZp.size(), 0);
        if (!qconvFast(shifted, x, sw->weights, y, threads))
            return false;
        if (sw->clamped) {
            fast::addClampedRest(*sw, g, x.data<uint8_t>(), q.xZp, y.data<int32_t>(), threads);
            return true;
        }
        const int32_t c = sw->c;
        QConvParams sums = shifted;
        sums.g.outChannels = g.group;
        sums.wZp.assign(size_t(g.group), 0);
        sums.bias.assign(size_t(g.group), 0);
        sums.multiplier.assign(size_t(g.group), 1.f);
        Shape onesShape = w.shape();
        onesShape[0] = g.group;
        Shape sumShape = y.shape();
        sumShape[1] = g.group;
        Tensor windows = Tensor::uninitialized(DType::Int32, sumShape);
        if (!qconvFast(sums, x, fast::onesWeights(onesShape), windows, threads))
            return false;
        const int64_t M = g.outChannels, Mg = M / g.group, P = g.outH * g.outW;
        int32_t *py = y.data<int32_t>();
        const int32_t *ps = windows.data<int32_t>();
        parallelRanges(std::clamp(int(g.batch * M * P / (1 << 18)), 1, std::max(1, threads)), g.batch * M, 1,
                       [&](int64_t begin, int64_t end) {
                           for (int64_t r = begin; r < end; ++r) {
                               const int64_t n = r / M, m = r % M;
                               const int32_t k = c - q.wZp[size_t(m)];
                               if (k == 0)
                                   continue;
                               int32_t *row = py + r * P;
                               const int32_t *sum = ps + (n * g.group + m / Mg) * P;
                               for (int64_t i = 0; i < P; ++i) // wrapping like the int32 accumulators, without overflow
                                   row[i] = int32_t(uint32_t(row[i]) + uint32_t(k) * uint32_t(sum[i]));
                           }
                       });
        return true;
    }
    const double macs = double(g.batch) * double(g.outChannels) * double(g.outH * g.outW) *
                        double(g.inChannels / g.group) * double(g.kH * g.kW);
    threads = std::clamp(int(macs / 8e6), 1, std::max(1, threads));
    const int64_t M = g.outChannels, K = g.inChannels / g.group * g.kH * g.kW; // the weights as rows
    // Fewer images than threads: oneDNN's own team on the whole batch, as the float convolutions do
    // (runtime/onednn.cpp).
    if (threads > 1 && g.batch < threads) {
        GemmThreads team(threads);
        try {
            const std::shared_ptr<fast::ConvEntry> e =
                fast::convEntry(g, q.xZp, q.xChannelsLast, q.yChannelsLast, threads);
            if (!e->ok)
                return false;
            const fast::PackedWeights pw =
                e->weights.get(w, q.weights, e->weightsPlain, e->pd.weights_desc(), M, K, false);
            fast::convSlice(*e, pw, x.data<uint8_t>(), q, g.batch, y.rawData(), threads);
            return true;
        } catch (const dnnl::error &) {
            return false;
        }
    }
    const onednn::Slices slices = onednn::sliceRows(g.batch, threads);
    const int64_t sliceBatch = slices.size, sliceCount = slices.count, lastBatch = slices.last;
    if (sliceCount == 0) // an empty batch: the reference loops produce the empty output
        return false;
    GemmThreads single(1);
    try {
        ConvGeometry full = g, last = g;
        full.batch = sliceBatch;
        last.batch = lastBatch;
        std::shared_ptr<fast::ConvEntry> e = fast::convEntry(full, q.xZp, q.xChannelsLast, q.yChannelsLast);
        std::shared_ptr<fast::ConvEntry> eLast =
            lastBatch == sliceBatch ? e : fast::convEntry(last, q.xZp, q.xChannelsLast, q.yChannelsLast);
        if (!e->ok || !eLast->ok)
            return false;
        const fast::PackedWeights pw =
            e->weights.get(w, q.weights, e->weightsPlain, e->pd.weights_desc(), M, K, false);
        const fast::PackedWeights pwLast =
            eLast == e ? pw
                       : eLast->weights.get(w, q.weights, eLast->weightsPlain, eLast->pd.weights_desc(), M, K, false);
        const int64_t inImage = g.inChannels * g.inH * g.inW;
        const int64_t outImage = g.outChannels * (q.pool ? q.pool->outH * q.pool->outW : g.outH * g.outW);
        const auto *px = x.data<uint8_t>();
        auto *py = static_cast<std::byte *>(y.rawData());
        const int64_t outBytes = outImage * int64_t(dtypeSize(y.dtype())); // int32 for ConvInteger
        std::atomic<bool> failed{false};
        parallelFor(int(std::min<int64_t>(threads, sliceCount)), sliceCount, [&](int64_t i) {
            GemmThreads inner(1);
            const bool isLast = i == sliceCount - 1;
            try {
                fast::convSlice(isLast ? *eLast : *e, isLast ? pwLast : pw, px + i * sliceBatch * inImage, q,
                                isLast ? lastBatch : sliceBatch, py + i * sliceBatch * outBytes);
            } catch (const dnnl::error &) {
                failed = true;
            }
        });
        return !failed;
    } catch (const dnnl::error &) {
        return false;
    }
}

namespace fast {

// ---- inner product (the gemms) ----

struct GemmEntry {
    bool ok = false;
    dnnl::inner_product_forward::primitive_desc pd;
    dnnl::inner_product_forward ip;
    dnnl::memory::desc srcPlain, weightsPlain, dstPlain;
    WeightCache weights;
};

std::shared_ptr<GemmEntry> gemmEntry(int64_t M, int64_t N, int64_t K, bool ioLayout)
{
    static std::mutex mutex;
    static std::map<std::array<int64_t, 4>, std::shared_ptr<GemmEntry>> cache;
    const std::array<int64_t, 4> key{M, N, K, ioLayout ? 1 : 0};
    {
        std::lock_guard lock(mutex);
        auto it = cache.find(key);
        if (it != cache.end())
            return it->second;
    }
    auto e = std::make_shared<GemmEntry>();
    try {
        e->srcPlain = dnnl::memory::desc({M, K}, dt::u8, tag::nc);
        e->weightsPlain = dnnl::memory::desc({N, K}, dt::s8, ioLayout ? tag::io : tag::oi);
        e->dstPlain = dnnl::memory::desc({M, N}, dt::s32, tag::nc);
        const dnnl::memory::desc weightsAny({N, K}, dt::s8, tag::any);
        const dnnl::inner_product_forward::desc desc(dnnl::prop_kind::forward_inference, e->srcPlain, weightsAny,
                                                     e->dstPlain);
        e->pd = dnnl::inner_product_forward::primitive_desc(desc, userScratchpad(), engine());
        if (!isReference(e->pd.impl_info_str()) && e->pd.src_desc() == e->srcPlain && e->pd.dst_desc() == e->dstPlain) {
            e->ip = dnnl::inner_product_forward(e->pd);
            e->ok = true;
        }
    } catch (const dnnl::error &) {
        e->ok = false;
    }
    std::lock_guard lock(mutex);
    if (cache.size() >= 256)
        cache.clear();
    return cache.emplace(key, e).first->second;
}

} // namespace fast

// acc[M, N] += (A - aZp) · B for u8 A [M, K] (row-major at aOffset) and s8 B with zero zero points: oneDNN's
// product of the raw values, minus aZp · (column sums of B), which is exactly the reference sum.
// Up to kGemvRows rows whose weights are the Session's constants: the packed products (gemvU8S8), which beat a
// oneDNN call's fixed cost. Measured on the wake-word heads (one thread), the whole model against the same build
// without them:
// - AVX2 EPYC, against oneDNN, whose u8 × s8 kernels also split weights beyond ±64 into two products
//   (onednn::int8WeightsSplit): 2.6x faster at batch 1 with 7-bit weights and 3.4x with 8-bit ones, still 1.2x
//   and 1.7x at batch 16;
// - AVX-512 VNNI EPYC, against the VNNI dot products below (up to 4 rows) and oneDNN: 0.64-0.96x the time at
//   batch 1, 0.70-0.80x at batch 4, 0.86-0.96x at batch 16 (docs/performance.md).
constexpr int64_t kGemvRows = 16;

bool packsGemv(int64_t M, const Tensor &b, int64_t N, int64_t K)
{
    return M <= kGemvRows && b.dtype() == DType::Int8 && b.numel() == N * K;
}

const quant::GemvWeights *gemvWeights(OpContext &ctx, int index, int64_t M, int64_t N, int64_t K, bool transB)
{
    const Tensor &b = ctx.input(index);
    if (!packsGemv(M, b, N, K))
        return nullptr;
    return ctx.preparedFromConstants<quant::GemvWeights>(
        {index}, [&] { return quant::packGemv(b.data<int8_t>(), N, K, transB, quant::gemvIsa()); });
}

bool integerGemmFast(int64_t M, int64_t N, int64_t K, const Tensor &a, int64_t aOffset, bool transA, int32_t aZp,
                     const Tensor &b, bool transB, const std::vector<int32_t> &bZp, int32_t *acc, int threads,
                     const quant::GemvWeights *gemv)
{
    if (a.dtype() != DType::UInt8 || b.dtype() != DType::Int8 || transA)
        return false;
    for (int32_t z : bZp)
        if (z != 0)
            return false;
    const uint8_t *pa = a.data<uint8_t>() + aOffset;
    const int8_t *pb = b.data<int8_t>();
    if (gemv && M <= kGemvRows && gemv->n == N && gemv->k == K) {
        quant::gemvU8S8(*gemv, pa, M, aZp, acc, threads);
        return true;
    }
    // A few rows against B as rows [N, K] not packed (weights fed anew): dot products beat a primitive call's
    // fixed cost up to these sizes. With VNNI, measured on the wake-word heads: 1 x 1536 x 128 and 1 x 2112 x 128
    // ran 10-17 % faster as dot products, 1 x 3264 x 128 4 % faster in oneDNN (whose packed weights carry their
    // sums; a dot product sums its weight row as it goes).
    static const bool vnni = cpuHas(CpuFeature::Avx512Vnni);
    if (transB && M <= 4 && M * N * K <= (vnni ? 327680 : 65536)) {
        const auto dot = vnni ? quant::dotU8S8Vnni : quant::dotU8S8;
        for (int64_t m = 0; m < M; ++m)
            for (int64_t n = 0; n < N; ++n)
                acc[m * N + n] += dot(pa + m * K, aZp, pb + n * K, K);
        return true;
    }
    if (M * N * K <= 16384) {
        // A classifier head: a plain loop beats a primitive call's fixed cost.
        for (int64_t m = 0; m < M; ++m)
            for (int64_t n = 0; n < N; ++n) {
                int32_t sum = 0;
                for (int64_t k = 0; k < K; ++k)
                    sum += (int32_t(pa[m * K + k]) - aZp) * int32_t(transB ? pb[n * K + k] : pb[k * N + n]);
                acc[m * N + n] += sum;
            }
        return true;
    }
    const bool ioLayout = !transB; // b stored [K, N]
    threads = std::clamp(int(double(M) * double(N) * double(K) / 4e6), 1, std::max(1, threads));
    const onednn::Slices slices = onednn::sliceRows(M, threads);
    const int64_t sliceM = slices.size, sliceCount = slices.count, lastM = slices.last;
    if (sliceCount == 0)
        return false;
    GemmThreads single(1);
    try {
        std::shared_ptr<fast::GemmEntry> e = fast::gemmEntry(sliceM, N, K, ioLayout);
        std::shared_ptr<fast::GemmEntry> eLast = lastM == sliceM ? e : fast::gemmEntry(lastM, N, K, ioLayout);
        if (!e->ok || !eLast->ok)
            return false;
        const fast::PackedWeights pw = e->weights.get(b, {}, e->weightsPlain, e->pd.weights_desc(), N, K, ioLayout);
        const fast::PackedWeights pwLast =
            eLast == e ? pw : eLast->weights.get(b, {}, eLast->weightsPlain, eLast->pd.weights_desc(), N, K, ioLayout);
        std::atomic<bool> failed{false};
        parallelFor(int(std::min<int64_t>(threads, sliceCount)), sliceCount, [&](int64_t i) {
            GemmThreads inner(1);
            const bool isLast = i == sliceCount - 1;
            fast::GemmEntry &entry = isLast ? *eLast : *e;
            const fast::PackedWeights &w = isLast ? pwLast : pw;
            const int64_t rows = isLast ? lastM : sliceM;
            try {
                auto *out = static_cast<int32_t *>(fast::threadBuffer(2, size_t(rows * N) * sizeof(int32_t)));
                dnnl::stream &stream = fast::threadStream();
                std::unordered_map<int, dnnl::memory> args{
                    {DNNL_ARG_SRC,
                     dnnl::memory(entry.srcPlain, fast::engine(), const_cast<uint8_t *>(pa + i * sliceM * K))},
                    {DNNL_ARG_WEIGHTS, w.packed},
                    {DNNL_ARG_DST, dnnl::memory(entry.dstPlain, fast::engine(), out)},
                    {DNNL_ARG_SCRATCHPAD, fast::scratchpad(entry.pd.scratchpad_desc())}};
                entry.ip.execute(stream, args);
                if (w.split) {
                    auto *low = static_cast<int32_t *>(fast::threadBuffer(3, size_t(rows * N) * sizeof(int32_t)));
                    args[DNNL_ARG_WEIGHTS] = w.packedLow;
                    args[DNNL_ARG_DST] = dnnl::memory(entry.dstPlain, fast::engine(), low);
                    entry.ip.execute(stream, args);
                    stream.wait();
                    fast::addLowHalf(out, low, size_t(rows * N));
                }
                stream.wait();
                int32_t *dst = acc + i * sliceM * N;
                for (int64_t r = 0; r < rows; ++r)
                    for (int64_t n = 0; n < N; ++n)
                        dst[r * N + n] += out[r * N + n] - aZp * (*w.sums)[size_t(n)];
            } catch (const dnnl::error &) {
                failed = true;
            }
        });
        return !failed;
    } catch (const dnnl::error &) {
        return false;
    }
}

// A 1-D convolution, or one with few output positions, as one integer product: the batch's positions as rows
// [N·P, K] of uint8 (im2row, the padding at x's zero point so that it adds nothing) times the weights [M, K]
// transposed, then the accumulators [N·P, M] requantized image by image into [N, M, P]. oneDNN's int8
// convolutions are slow on these shapes: with its STFT (one input channel, 512 taps) on them the melspectrogram
// front end ran 1.6x slower than in float32 at batch 64, and 2.8x faster as this product (docs/performance.md); at
// a few rows the weights are packed once per Session (gemvWeights). Only plain layouts, int8 weights without zero
// points, one group.
bool qconvAsGemm(OpContext &ctx, int weightIndex, const QConvParams &q, const Tensor &x, const Tensor &w, Tensor &y)
{
    constexpr int64_t kFewPositions = 16, kMaxRowBytes = int64_t(8) << 20;
    const ConvGeometry &g = q.g;
    const int64_t N = g.batch, M = g.outChannels, K = g.colRows(), P = g.colCols();
    if (g.group != 1 || q.xChannelsLast || q.yChannelsLast || x.dtype() != DType::UInt8 ||
        w.dtype() != DType::Int8 || !(g.oneD || P <= kFewPositions) || N * P == 0 || N * P * K > kMaxRowBytes ||
        std::any_of(q.wZp.begin(), q.wZp.end(), [](int32_t z) { return z != 0; }))
        return false;
    Tensor rows = Tensor::uninitialized(DType::UInt8, {N * P, K});
    const int64_t inImage = g.inChannels * g.inH * g.inW;
    for (int64_t n = 0; n < N; ++n)
        im2row(x.data<uint8_t>() + n * inImage, g.inChannels, g, rows.data<uint8_t>() + n * P * K, uint8_t(q.xZp));
    std::vector<int32_t> acc(size_t(N * P * M), 0);
    if (!integerGemmFast(N * P, M, K, rows, 0, false, q.xZp, w, true, q.wZp, acc.data(), ctx.threads,
                         gemvWeights(ctx, weightIndex, N * P, M, K, true)))
        return false;
    fast::channelMajorImages(acc.data(), N, true, q, y.rawData(), N * P * M >= (int64_t(1) << 16) ? ctx.threads : 1);
    return true;
}

// ---- short windows ------------------------------------------------------------------------------------------------

// A convolution whose windows are short: a first layer on a grey or colour image, a 1 x 1 one on few channels.
// oneDNN's int8 convolutions pad each tap's channels to four and pay a call's fixed cost: on one AMD EPYC core the
// demos' first layer (one channel, 3 x 3 taps, 32 outputs on 28 x 28, then a fused 2 x 2 MaxPool) took 14.4 µs there
// (its float32 convolution 9 µs) and 4.7 µs here; demo-resnet's 1 x 1 shortcut (32 channels, stride 2) 4.7 and 2.7.
// x is copied, channel-last, into a batch of images with their padding at x's zero point (which then adds nothing),
// and each position's window is read from it where it lies: kH rows of kW · C bytes, each padded to whole groups of
// four (the weights are zero there), at most kShortSteps groups. Each group is broadcast against sixteen output
// channels' weights (AVX-512 VNNI), and the sums are requantized as they are made, after the largest of a fused
// MaxPool's window is taken: no accumulators pass through memory.
constexpr int64_t kShortSteps = 16, kMaxPoolTaps = 16; // a fused MaxPool's window: at most 4 x 4

// The windows in the padded batch: bytes from one image, output row and output column to the next, and from a
// window's start to each of its groups of four bytes.
struct ShortWindows {
    const uint8_t *base = nullptr;
    int64_t image = 0, down = 0, across = 0;
    int64_t steps = 0;
    std::array<int64_t, kShortSteps> offsets{};
};

// The weights [M, kH · segment] in the product's layout (quant::packGemv, VNNI), taps in the order (kh, kw, c): a
// type of its own beside gemvWeights' packing (taps (c, kh, kw)), as the Session keeps one object per type.
struct ShortWindowWeights {
    quant::GemvWeights packed;
};

// GCC 12 takes the _mm512_undefined_* operand inside the max, conversion and rounding intrinsics for an
// uninitialised variable (its bug 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// The sums of Pos windows (starting at at[0 .. Pos)) for the column blocks of p, Count of them, `stride` bytes apart:
// each group of four bytes broadcast against sixteen output channels' weights. Two windows at a time keep two
// chains of vpdpbusd (five cycles each) in flight where a unit has only one.
template <int Count, int Pos>
__attribute__((target("avx512f,avx512bw,avx512vnni"), always_inline)) inline void
windowSums(const int8_t *p, int64_t stride, const ShortWindows &win, const uint8_t *const *at, __m512i (&s)[Pos][Count])
{
    for (int i = 0; i < Pos; ++i)
        for (int j = 0; j < Count; ++j)
            s[i][j] = _mm512_setzero_si512();
    for (int64_t g = 0; g < win.steps; ++g)
        for (int i = 0; i < Pos; ++i) {
            int32_t group;
            std::memcpy(&group, at[i] + win.offsets[size_t(g)], 4);
            const __m512i a = _mm512_set1_epi32(group);
            for (int j = 0; j < Count; ++j)
                s[i][j] = _mm512_dpbusd_epi32(s[i][j], a, _mm512_loadu_si512(p + j * stride + g * 64));
        }
}

// One unit's sums (bias added) requantized with requantize8's operations and stored.
template <int Count, typename T>
__attribute__((target("avx512f,avx512bw,avx512vnni"), always_inline)) inline void
storeRequantized(const __m512i *sum, const __m512 *multiplier, const __mmask16 *mask, __m512 zp, __m512 lo, __m512 hi,
                 T *out)
{
    for (int j = 0; j < Count; ++j) {
        __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(sum[j]), multiplier[j]);
        v = _mm512_add_ps(_mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), zp);
        const __m512i v32 = _mm512_cvttps_epi32(_mm512_min_ps(_mm512_max_ps(v, lo), hi));
        if constexpr (std::is_same_v<T, uint8_t>)
            _mm512_mask_cvtusepi32_storeu_epi8(out + j * 16, mask[j], v32);
        else
            _mm512_mask_cvtsepi32_storeu_epi8(out + j * 16, mask[j], v32);
    }
}

// Units [begin, end) of y (channel-last: pooled positions where a MaxPool is fused, else the positions), output
// channels [16 · first, 16 · (first + Count)) of them. A pooled unit's sums are taken as requantizePooled takes them:
// each window's with the bias added (and x's zero point's share taken off), wrapping, then the largest.
template <int Count, typename T>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void
shortWindowsVnni(const quant::GemvWeights &w, const ShortWindows &win, const QConvParams &q,
                 const ops::PoolGeometry *pool, int64_t first, int64_t begin, int64_t end, T *y)
{
    const int8_t *p = w.packed.data<int8_t>() + first * w.steps * 64;
    const int64_t stride = w.steps * 64, M = w.n;
    __m512i offset[Count];
    __m512 multiplier[Count];
    __mmask16 mask[Count];
    for (int j = 0; j < Count; ++j) {
        const int64_t n0 = (first + j) * 16, valid = std::min<int64_t>(16, M - n0);
        mask[j] = __mmask16((1u << valid) - 1);
        const __m512i sums = _mm512_maskz_loadu_epi32(mask[j], w.sums.data() + n0);
        offset[j] = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(mask[j], q.bias.data() + n0),
                                     _mm512_mullo_epi32(_mm512_set1_epi32(q.xZp), sums));
        multiplier[j] = _mm512_maskz_loadu_ps(mask[j], q.multiplier.data() + n0);
    }
    const QRange r = rangeOf(dtypeOf<T>());
    const __m512 zp = _mm512_set1_ps(float(q.yZp)), lo = _mm512_set1_ps(float(r.lo)), hi = _mm512_set1_ps(float(r.hi));
    const int64_t unitsH = pool ? pool->outH : q.g.outH, unitsW = pool ? pool->outW : q.g.outW;
    // The unit u's place, kept as it advances.
    int64_t n = begin / (unitsH * unitsW), uh = begin / unitsW % unitsH, uw = begin % unitsW;
    const auto advance = [&] {
        if (++uw == unitsW) {
            uw = 0;
            if (++uh == unitsH) {
                uh = 0;
                ++n;
            }
        }
    };
    T *out = y + begin * M + first * 16;
    if (!pool) { // a unit is a position: two at a time
        int64_t u = begin;
        for (; u + 2 <= end; u += 2, out += 2 * M) {
            const uint8_t *at[2];
            for (int i = 0; i < 2; ++i, advance())
                at[i] = win.base + n * win.image + uh * win.down + uw * win.across;
            __m512i s[2][Count];
            windowSums<Count, 2>(p, stride, win, at, s);
            for (int i = 0; i < 2; ++i) {
                for (int j = 0; j < Count; ++j)
                    s[i][j] = _mm512_add_epi32(s[i][j], offset[j]);
                storeRequantized<Count>(s[i], multiplier, mask, zp, lo, hi, out + i * M);
            }
        }
        if (u < end) {
            const uint8_t *at[1] = {win.base + n * win.image + uh * win.down + uw * win.across};
            __m512i s[1][Count];
            windowSums<Count, 1>(p, stride, win, at, s);
            for (int j = 0; j < Count; ++j)
                s[0][j] = _mm512_add_epi32(s[0][j], offset[j]);
            storeRequantized<Count>(s[0], multiplier, mask, zp, lo, hi, out);
        }
        return;
    }
    const int64_t taps = pool->kH * pool->kW;
    for (int64_t u = begin; u < end; ++u, out += M, advance()) {
        // The pool's window: its positions' windows two at a time.
        const uint8_t *at[kMaxPoolTaps];
        for (int64_t t = 0; t < taps; ++t)
            at[t] = win.base + n * win.image + (uh * pool->sH + t / pool->kW * pool->dH) * win.down +
                    (uw * pool->sW + t % pool->kW * pool->dW) * win.across;
        __m512i best[Count];
        for (int j = 0; j < Count; ++j)
            best[j] = _mm512_set1_epi32(std::numeric_limits<int32_t>::min());
        int64_t t = 0;
        for (; t + 2 <= taps; t += 2) {
            __m512i s[2][Count];
            windowSums<Count, 2>(p, stride, win, at + t, s);
            for (int i = 0; i < 2; ++i)
                for (int j = 0; j < Count; ++j)
                    best[j] = _mm512_max_epi32(best[j], _mm512_add_epi32(s[i][j], offset[j]));
        }
        if (t < taps) {
            __m512i s[1][Count];
            windowSums<Count, 1>(p, stride, win, at + t, s);
            for (int j = 0; j < Count; ++j)
                best[j] = _mm512_max_epi32(best[j], _mm512_add_epi32(s[0][j], offset[j]));
        }
        storeRequantized<Count>(best, multiplier, mask, zp, lo, hi, out);
    }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

template <typename T>
void shortWindowsUnits(const quant::GemvWeights &w, const ShortWindows &win, const QConvParams &q,
                       const ops::PoolGeometry *pool, int64_t begin, int64_t end, T *y)
{
    const int64_t blocks = (w.n + 15) / 16;
    for (int64_t first = 0; first < blocks; first += 4)
        switch (std::min<int64_t>(4, blocks - first)) {
        case 4: shortWindowsVnni<4>(w, win, q, pool, first, begin, end, y); break;
        case 3: shortWindowsVnni<3>(w, win, q, pool, first, begin, end, y); break;
        case 2: shortWindowsVnni<2>(w, win, q, pool, first, begin, end, y); break;
        default: shortWindowsVnni<1>(w, win, q, pool, first, begin, end, y); break;
        }
}

bool qconvShortWindows(OpContext &ctx, int weightIndex, const QConvParams &q, const Tensor &x, const Tensor &w,
                       Tensor &y)
{
    static const bool vnni = cpuHas(CpuFeature::Avx512Vnni);
    const ConvGeometry &g = q.g;
    const int64_t N = g.batch, M = g.outChannels, C = g.inChannels;
    const int64_t span = g.kW * C, segment = (span + 3) / 4 * 4, K = g.kH * segment;
    if (!vnni || g.oneD || g.group != 1 || g.dilationH != 1 || g.dilationW != 1 || K > 4 * kShortSteps ||
        N * g.outH * g.outW == 0 || q.yType == DType::Int32 || (q.pool && q.pool->kH * q.pool->kW > kMaxPoolTaps) ||
        x.dtype() != DType::UInt8 || w.dtype() != DType::Int8 ||
        std::any_of(q.wZp.begin(), q.wZp.end(), [](int32_t z) { return z != 0; }))
        return false;
    const ShortWindowWeights *weights = ctx.preparedFromConstants<ShortWindowWeights>({weightIndex}, [&] {
        std::vector<int8_t> ordered(size_t(M * K), 0);
        const int8_t *src = w.data<int8_t>(); // [M, C, kH, kW]
        for (int64_t m = 0; m < M; ++m)
            for (int64_t c = 0; c < C; ++c)
                for (int64_t kh = 0; kh < g.kH; ++kh)
                    for (int64_t kw = 0; kw < g.kW; ++kw)
                        ordered[size_t(m * K + kh * segment + kw * C + c)] =
                            src[((m * C + c) * g.kH + kh) * g.kW + kw];
        return ShortWindowWeights{quant::packGemv(ordered.data(), M, K, true, quant::GemvIsa::Avx512Vnni)};
    });
    if (!weights) // weights fed anew: oneDNN's convolution
        return false;
    // The padded batch, channel-last, and four bytes past it: a window's last row may read up to three beyond its
    // kW · C bytes.
    const int64_t PH = g.padTop + g.inH + g.padBottom, PW = g.padLeft + g.inW + g.padRight;
    thread_local std::vector<uint8_t> kept; // the calling thread's; the workers below write into it through `padded`
    kept.assign(size_t(N * PH * PW * C + 4), uint8_t(q.xZp));
    uint8_t *const padded = kept.data();
    const int64_t units = q.pool ? N * q.pool->outH * q.pool->outW : N * g.outH * g.outW;
    const int threads = units * M * K >= (int64_t(1) << 20) ? ctx.threads : 1;
    parallelFor(std::min<int64_t>(threads, N), N, [&](int64_t n) {
        const uint8_t *image = x.data<uint8_t>() + n * C * g.inH * g.inW;
        for (int64_t h = 0; h < g.inH; ++h) {
            uint8_t *line = padded + ((n * PH + g.padTop + h) * PW + g.padLeft) * C;
            if (q.xChannelsLast || C == 1)
                std::memcpy(line, image + h * g.inW * C, size_t(g.inW * C));
            else
                for (int64_t iw = 0; iw < g.inW; ++iw)
                    for (int64_t c = 0; c < C; ++c)
                        line[iw * C + c] = image[(c * g.inH + h) * g.inW + iw];
        }
    });
    ShortWindows win;
    win.base = padded;
    win.image = PH * PW * C;
    win.down = g.strideH * PW * C;
    win.across = g.strideW * C;
    win.steps = K / 4;
    for (int64_t s = 0; s < win.steps; ++s)
        win.offsets[size_t(s)] = s / (segment / 4) * PW * C + s % (segment / 4) * 4;
    // Channel-last y; made plain after where the readers need that.
    Tensor out = q.yChannelsLast ? y : Tensor::uninitialized(q.yType, {N, 1, g.outH, g.outW, M});
    parallelRanges(threads, units, 16, [&](int64_t begin, int64_t end) {
        if (q.yType == DType::UInt8)
            shortWindowsUnits(weights->packed, win, q, q.pool, begin, end, out.data<uint8_t>());
        else
            shortWindowsUnits(weights->packed, win, q, q.pool, begin, end, out.data<int8_t>());
    });
    if (!q.yChannelsLast)
        y = blocked::toPlain(out);
    return true;
}

// ---- int16 pairs, without VNNI ----------------------------------------------------------------------------------

// An integer convolution on a CPU without VNNI whose 8-bit weights would run as two products
// (onednn::int8WeightsSplit), as one exact product in int16 pairs. x - x_zp and w - w_zp are widened to int16, and vpmaddwd multiplies two pairs
// into an int32: sixteen products per instruction, exact for any zero points, against oneDNN's two u8 x s8 products
// (vpmaddubsw, then vpmaddwd to widen its int16 sums) per thirty-two.
// x is copied channel-last into a padded batch of int16 values (zero at the padding), and each window is read where it
// lies: its segments are kW · C contiguous values per row of taps (C per tap where the width is dilated), each padded
// to whole pairs (the weights zero there). Short segments (a first layer on a grey image) would spend a window's
// time on their loops: each of their pairs is read at its own offset from the window's start then. Four positions
// share each load of 24 output channels' weights; the sums go channel-last to writeAccumulators, as oneDNN's do.
constexpr int64_t kPairBlock = 8; // output channels per vector of sums

// The weights [ceil(M / 8)][pairs][8][2] as int16 (w - w_zp): the window's taps in the order (kh, kw, c), cut into
// `segments` segments of `segment` values, each padded to whole pairs.
struct PairWeights {
    std::vector<int16_t> packed;
    int64_t segments = 0, segment = 0, pairs = 0;
};

// Where the windows lie: that of position (n, oh, ow) starts at base + n · image + oh · down + ow · across, and its
// segments (or, where they are short, each of its pairs) at the offsets from there (values).
struct PairWindows {
    const int16_t *base = nullptr;
    int64_t image = 0, down = 0, across = 0;
    std::vector<int64_t> offsets;
    int64_t pairs = 1; // per offset
};
constexpr int64_t kShortSegment = 8; // values

// One pair of each of R windows, (a[i] + k)[0, 2), against W blocks of eight output channels' weights, into s.
template <int W, int R>
inline void pairStep(const int16_t *w, int64_t stride, const int16_t *const *a, int64_t k, __m256i (&s)[R][W])
{
    __m256i wv[W];
    for (int j = 0; j < W; ++j)
        wv[j] = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(w + j * stride));
    for (int i = 0; i < R; ++i) {
        int32_t pair;
        std::memcpy(&pair, a[i] + k, 4);
        const __m256i v = _mm256_set1_epi32(pair);
        for (int j = 0; j < W; ++j)
            s[i][j] = _mm256_add_epi32(s[i][j], _mm256_madd_epi16(v, wv[j]));
    }
}

// The sums of R positions (their windows start at at[0 .. R)) for W blocks of eight output channels of w, into out
// (a position's sums outStride values after the previous one's).
template <int W, int R>
inline void pairSums(const int16_t *w, int64_t stride, const PairWindows &win, const int16_t *const *at, int32_t *out,
                     int64_t outStride)
{
    __m256i s[R][W];
    for (int i = 0; i < R; ++i)
        for (int j = 0; j < W; ++j)
            s[i][j] = _mm256_setzero_si256();
    if (win.pairs == 1) { // a pair per offset
        for (const int64_t offset : win.offsets) {
            pairStep<W, R>(w, stride, at, offset, s);
            w += 16;
        }
    } else { // segments
        for (const int64_t offset : win.offsets) {
            const int16_t *a[R];
            for (int i = 0; i < R; ++i)
                a[i] = at[i] + offset;
            for (int64_t t = 0; t < win.pairs; ++t, w += 16)
                pairStep<W, R>(w, stride, a, 2 * t, s);
        }
    }
    for (int i = 0; i < R; ++i)
        for (int j = 0; j < W; ++j)
            _mm256_storeu_si256(reinterpret_cast<__m256i *>(out + i * outStride + j * kPairBlock), s[i][j]);
}

template <int W>
inline void pairGroup(int64_t count, const int16_t *w, int64_t stride, const PairWindows &win, const int16_t *const *at,
                      int32_t *out, int64_t outStride)
{
    switch (count) {
    case 4: pairSums<W, 4>(w, stride, win, at, out, outStride); break;
    case 3: pairSums<W, 3>(w, stride, win, at, out, outStride); break;
    case 2: pairSums<W, 2>(w, stride, win, at, out, outStride); break;
    default: pairSums<W, 1>(w, stride, win, at, out, outStride); break;
    }
}

// The sums of positions [begin, end) of the batch (n · P + oh · outW + ow) into acc, channel-last [N · P, M]: four
// positions at a time, across the rows, each group against all the weights (24 output channels at a time).
void pairPositions(const PairWeights &pw, const PairWindows &win, const ConvGeometry &g, int64_t begin, int64_t end,
                   int32_t *acc)
{
    const int64_t M = g.outChannels, stride = pw.pairs * 16, blocks = (M + kPairBlock - 1) / kPairBlock;
    int64_t n = begin / (g.outH * g.outW), oh = begin / g.outW % g.outH, ow = begin % g.outW;
    alignas(32) int32_t part[4 * 3 * kPairBlock]; // a short last block's sums, of which the valid ones are copied
    for (int64_t u = begin; u < end; u += 4) {
        const int64_t count = std::min<int64_t>(4, end - u);
        const int16_t *at[4];
        for (int64_t i = 0; i < count; ++i) {
            at[i] = win.base + n * win.image + oh * win.down + ow * win.across;
            if (++ow == g.outW) {
                ow = 0;
                if (++oh == g.outH) {
                    oh = 0;
                    ++n;
                }
            }
        }
        for (int64_t first = 0; first < blocks; first += 3) {
            const int64_t W = std::min<int64_t>(3, blocks - first);
            const int64_t valid = std::min(W * kPairBlock, M - first * kPairBlock);
            const int16_t *w = pw.packed.data() + first * stride;
            int32_t *out = acc + u * M + first * kPairBlock;
            const bool direct = valid == W * kPairBlock;
            int32_t *sums = direct ? out : part;
            const int64_t sumStride = direct ? M : W * kPairBlock;
            if (W == 3)
                pairGroup<3>(count, w, stride, win, at, sums, sumStride);
            else if (W == 2)
                pairGroup<2>(count, w, stride, win, at, sums, sumStride);
            else
                pairGroup<1>(count, w, stride, win, at, sums, sumStride);
            if (!direct)
                for (int64_t i = 0; i < count; ++i)
                    std::memcpy(out + i * M, part + i * sumStride, size_t(valid) * sizeof(int32_t));
        }
    }
}

// The weights of q's convolution packed for pairPositions, or none where one oneDNN product is exact (all within
// ±64 of their zero points), and runs faster.
std::optional<PairWeights> packPairs(const QConvParams &q, const Tensor &w)
{
    const ConvGeometry &g = q.g;
    const int64_t M = g.outChannels, C = g.inChannels, K = C * g.kH * g.kW;
    const bool u8 = w.dtype() == DType::UInt8;
    // Tap (kh, kw, c) of output channel m, less its zero point.
    const auto value = [&](int64_t m, int64_t f) {
        const int64_t kh = f / (g.kW * C), kw = f / C % g.kW, c = f % C;
        const int64_t i = ((m * C + c) * g.kH + kh) * g.kW + kw;
        return int32_t(u8 ? w.data<uint8_t>()[i] : w.data<int8_t>()[i]) - q.wZp[size_t(m)];
    };
    bool beyond = false;
    for (int64_t m = 0; m < M && !beyond; ++m)
        for (int64_t f = 0; f < K && !beyond; ++f)
            beyond = std::abs(value(m, f)) > 64;
    if (!beyond)
        return std::nullopt;
    PairWeights pw;
    pw.segment = g.dilationW == 1 ? g.kW * C : C;
    pw.segments = K / pw.segment;
    const int64_t perSegment = (pw.segment + 1) / 2;
    pw.pairs = pw.segments * perSegment;
    const int64_t blocks = (M + kPairBlock - 1) / kPairBlock;
    pw.packed.assign(size_t(blocks * pw.pairs * 16), 0);
    for (int64_t m = 0; m < M; ++m)
        for (int64_t f = 0; f < K; ++f) {
            const int64_t i = f % pw.segment, t = f / pw.segment * perSegment + i / 2; // the value's pair
            pw.packed[size_t(((m / kPairBlock * pw.pairs + t) * kPairBlock + m % kPairBlock) * 2 + i % 2)] =
                int16_t(value(m, f));
        }
    return pw;
}

bool qconvPairs(OpContext &ctx, int weightIndex, const QConvParams &q, const Tensor &x, const Tensor &w, Tensor &y)
{
    static const bool use = cpuHas(CpuFeature::Avx2) && onednn::int8PairsSaturate();
    const ConvGeometry &g = q.g;
    const int64_t N = g.batch, M = g.outChannels, C = g.inChannels;
    if (!use || g.oneD || g.group != 1 || x.dtype() != DType::UInt8 || !isQuantType(w.dtype()) ||
        N * g.outH * g.outW * M == 0)
        return false;
    struct Packed { // per Session
        std::optional<PairWeights> weights;
    };
    const Packed *packed = ctx.preparedFromConstants<Packed>({weightIndex}, [&] { return Packed{packPairs(q, w)}; });
    if (!packed || !packed->weights) // weights fed anew, or exact in one oneDNN product
        return false;
    const PairWeights &pw = *packed->weights;
    // The padded batch, channel-last, x - x_zp, and C + 1 values past it: a segment's last pair may read one beyond.
    const int64_t PH = g.padTop + g.inH + g.padBottom, PW = g.padLeft + g.inW + g.padRight;
    thread_local std::vector<int16_t> kept; // the calling thread's; the workers below write into it through `padded`
    kept.assign(size_t(N * PH * PW * C + C + 1), 0);
    int16_t *const padded = kept.data();
    const int32_t xZp = q.xZp;
    parallelFor(std::min<int64_t>(ctx.threads, N), N, [&](int64_t n) {
        const uint8_t *image = x.data<uint8_t>() + n * C * g.inH * g.inW;
        for (int64_t h = 0; h < g.inH; ++h) {
            int16_t *line = padded + ((n * PH + g.padTop + h) * PW + g.padLeft) * C;
            if (q.xChannelsLast || C == 1) {
                const uint8_t *in = image + h * g.inW * C;
                for (int64_t i = 0; i < g.inW * C; ++i)
                    line[i] = int16_t(int32_t(in[i]) - xZp);
            } else {
                for (int64_t iw = 0; iw < g.inW; ++iw)
                    for (int64_t c = 0; c < C; ++c)
                        line[iw * C + c] = int16_t(int32_t(image[(c * g.inH + h) * g.inW + iw]) - xZp);
            }
        }
    });
    const bool perPair = pw.segment < kShortSegment;
    PairWindows win{padded, PH * PW * C, g.strideH * PW * C, g.strideW * C, {}, perPair ? 1 : (pw.segment + 1) / 2};
    for (int64_t s = 0; s < pw.segments; ++s) { // (kh, kw) where the width is dilated, else kh
        const int64_t kh = g.dilationW == 1 ? s : s / g.kW, kw = g.dilationW == 1 ? 0 : s % g.kW;
        for (int64_t i = 0; i < (perPair ? pw.segment : 1); i += 2)
            win.offsets.push_back((kh * g.dilationH * PW + kw * g.dilationW) * C + i);
    }
    const int64_t positions = N * g.outH * g.outW;
    const double macs = double(positions) * double(M) * double(pw.pairs * 2);
    const int threads = std::clamp(int(macs / 1e6), 1, std::max(1, ctx.threads));
    auto *acc = static_cast<int32_t *>(onednn::threadBuffer(2, size_t(positions * M) * sizeof(int32_t)));
    parallelRanges(threads, (positions + 3) / 4, 4, [&](int64_t begin, int64_t end) {
        pairPositions(pw, win, g, 4 * begin, std::min(4 * end, positions), acc);
    });
    fast::writeAccumulators(acc, true, q, N, y.rawData(), threads);
    return true;
}

// ---- com.microsoft QOperator family --------------------------------------------------------------------------

struct QParams {
    float scale = 1.f;
    int32_t zp = 0;
};

// The type of a quantized data input (uint8 / int8).
DType quantData(const OpContext &ctx, int index, const char *what)
{
    const Tensor &t = ctx.input(index);
    if (!isQuantType(t.dtype()))
        ctx.fail(std::string(what) + " must be uint8 or int8, got " + dtypeName(t.dtype()));
    return t.dtype();
}

QParams qparams(const OpContext &ctx, int scaleIndex, DType type, const char *scale, const char *zeroPoint)
{
    return {scalarFloat(ctx, scaleIndex, scale), scalarZeroPoint(ctx, scaleIndex + 1, type, zeroPoint)};
}

// saturate(nearbyint(v / scale) + zp): QuantizeLinear's arithmetic on one value.
inline int32_t quantizeValue(float v, const QParams &q, QRange r)
{
    return quant::quantize(v, q.scale, q.zp, r.lo, r.hi);
}

// The stored value of byte pattern b of an 8-bit type.
inline int32_t valueOf(DType type, uint8_t b)
{
    return type == DType::UInt8 ? int32_t(b) : int32_t(int8_t(b));
}

// y = quantize(f(dequantize(x))) for each of the 256 values of x's type, indexed by byte pattern.
template <typename F> std::array<uint8_t, 256> lookupTable(DType type, const QParams &x, const QParams &y, F f)
{
    std::array<uint8_t, 256> table{};
    for (int b = 0; b < 256; ++b) {
        const float v = quant::dequantize(valueOf(type, uint8_t(b)), x.scale, x.zp);
        table[size_t(b)] = uint8_t(quantizeValue(f(v), y, rangeOf(type)));
    }
    return table;
}

// Runs the default-domain kernel `op` on `inputs` under this node's name; its first output.
Tensor runKernel(const OpContext &ctx, const char *op, std::vector<const Tensor *> inputs,
                 Attributes attrs)
{
    Node n;
    n.name = ctx.node.name;
    n.opType = op;
    n.attrs = std::move(attrs);
    n.outputs = {"y"};
    OpContext sub{n, std::move(inputs), {}, ctx.threads};
    sub.outputs.resize(1);
    findKernel(op)(sub);
    return std::move(sub.outputs[0]);
}

// channels_last: [N, spatial..., C] <-> [N, C, spatial...].
Tensor channelsFirst(const OpContext &ctx, const Tensor &x, bool toFirst)
{
    const int rank = x.rank();
    std::vector<int64_t> perm{0};
    if (toFirst) {
        perm.push_back(rank - 1);
        for (int d = 1; d < rank - 1; ++d)
            perm.push_back(d);
    } else {
        for (int d = 2; d < rank; ++d)
            perm.push_back(d);
        perm.push_back(1);
    }
    return runKernel(ctx, "Transpose", {&x}, {{"perm", Attribute::makeInts(perm)}});
}

// v, which the compiler may not fuse into the operation that reads it: GNU mode contracts a product and a sum into one
// FMA under -march=x86-64-v3, rounding once where the graph's kernels round twice.
template <typename V> inline V rounded(V v)
{
    asm("" : "+x"(v));
    return v;
}

// Elements [begin, end) of the residual join fused from DequantizeLinear (a), DequantizeLinear (b) → Add → [Relu] →
// [QuantizeLinear] (runtime/fusion.h, dequantizedAdd), with the float operations of the graph's kernels in their
// order: DequantizeLinear's (x - zp) · scale, the sum, the Relu's max with 0 (act::relu: 0 for -0 and NaN), then
// QuantizeLinear's quotient rounded to nearest even plus the zero point, clamped (quant::quantize), into T, or the
// float sum itself (T float).
template <typename In, typename T>
void dequantizedAddRange(const In *a, const In *b, const QParams &qa, const QParams &qb, bool relu, const QParams &qc,
                         int64_t begin, int64_t end, T *y)
{
    constexpr bool toFloat = std::is_same_v<T, float>;
    const QRange r = toFloat ? QRange{0, 0} : rangeOf(dtypeOf<T>());
    const __m256i za = _mm256_set1_epi32(qa.zp), zb = _mm256_set1_epi32(qb.zp);
    const __m256 sa = _mm256_set1_ps(qa.scale), sb = _mm256_set1_ps(qb.scale), sc = _mm256_set1_ps(qc.scale);
    const __m256 zc = _mm256_set1_ps(float(qc.zp)), lo = _mm256_set1_ps(float(r.lo)), hi = _mm256_set1_ps(float(r.hi));
    const auto widen = [](const In *p) {
        const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i *>(p));
        return std::is_same_v<In, uint8_t> ? _mm256_cvtepu8_epi32(bytes) : _mm256_cvtepi8_epi32(bytes);
    };
    int64_t i = begin;
    for (; i + 8 <= end; i += 8) {
        const __m256 va = rounded(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(widen(a + i), za)), sa));
        const __m256 vb = rounded(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(widen(b + i), zb)), sb));
        __m256 v = _mm256_add_ps(va, vb);
        if (relu)
            v = _mm256_max_ps(v, _mm256_setzero_ps()); // v when v > 0, else the second operand: act::relu
        if constexpr (toFloat) {
            _mm256_storeu_ps(y + i, v);
        } else {
            v = _mm256_round_ps(_mm256_div_ps(v, sc), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            store8(y + i, _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(_mm256_add_ps(v, zc), lo), hi)));
        }
    }
    for (; i < end; ++i) {
        float v = rounded(quant::dequantize(a[i], qa.scale, qa.zp)) +
                  rounded(quant::dequantize(b[i], qb.scale, qb.zp));
        if (relu)
            v = act::relu(v);
        if constexpr (toFloat)
            y[i] = v;
        else
            y[i] = T(quant::quantize(v, qc.scale, qc.zp, r.lo, r.hi));
    }
}

void dequantizedAddOp(OpContext &ctx, const DequantizedAdd &form)
{
    const DType type = quantData(ctx, 0, "a");
    if (quantData(ctx, 3, "b") != type)
        ctx.fail(std::string("a and b must have the same type, got ") + dtypeName(type) + " and " +
                 dtypeName(ctx.input(3).dtype()));
    // Both channel-last (runtime/blocked.h) or both plain: one that arrives channel-last beside a plain one is made
    // plain.
    const Tensor *a = &ctx.input(0), *b = &ctx.input(3);
    Tensor plainA, plainB;
    const bool lastA = blocked::arrived(ctx.node, 0, *a), lastB = blocked::arrived(ctx.node, 3, *b);
    if (lastA && !lastB)
        a = &(plainA = blocked::toPlain(*a));
    if (lastB && !lastA)
        b = &(plainB = blocked::toPlain(*b));
    const bool channelsLast = lastA && lastB;
    if (a->shape() != b->shape())
        ctx.fail("a and b must have the same shape, got " + shapeToString(a->shape()) + " and " +
                 shapeToString(b->shape()));
    const QParams qa = qparams(ctx, 1, type, "a_scale", "a_zero_point");
    const QParams qb = qparams(ctx, 4, type, "b_scale", "b_zero_point");
    const bool toFloat = !ctx.hasInput(6);
    const DType yType = toFloat ? DType::Float32 : ctx.hasInput(7) ? quantData(ctx, 7, "y_zero_point") : DType::UInt8;
    const QParams qc = toFloat ? QParams{} : qparams(ctx, 6, yType, "y_scale", "y_zero_point");
    Tensor y = Tensor::uninitialized(yType, a->shape());
    parallelRanges(threadsFor(ctx, a->numel()), a->numel(), 4096, [&](int64_t begin, int64_t end) {
        visitDType(type, [&](auto zero) {
            using In = decltype(zero);
            if constexpr (std::is_same_v<In, uint8_t> || std::is_same_v<In, int8_t>) {
                const In *pa = a->data<In>(), *pb = b->data<In>();
                if (yType == DType::Float32)
                    dequantizedAddRange(pa, pb, qa, qb, form.relu, qc, begin, end, y.f32());
                else if (yType == DType::UInt8)
                    dequantizedAddRange(pa, pb, qa, qb, form.relu, qc, begin, end, y.data<uint8_t>());
                else
                    dequantizedAddRange(pa, pb, qa, qb, form.relu, qc, begin, end, y.data<int8_t>());
            }
        });
    });
    // Integers may leave channel-last where the readers take them so; float values leave plain.
    if (channelsLast && (toFloat || !blocked::mayLeave(ctx.node)))
        y = blocked::toPlain(y);
    ctx.outputs[0] = std::move(y);
}

template <bool Mul> void qlinearBinaryOp(OpContext &ctx)
{
    if constexpr (!Mul) { // the fused residual join's form, read once per Session
        const auto &form = ctx.prepared<std::optional<DequantizedAdd>>([&] { return dequantizedAdd(ctx.node); });
        if (form) {
            dequantizedAddOp(ctx, *form);
            return;
        }
    }
    const DType type = quantData(ctx, 0, "A");
    if (quantData(ctx, 3, "B") != type)
        ctx.fail(std::string("A and B must have the same type, got ") + dtypeName(type) + " and " +
                 dtypeName(ctx.input(3).dtype()));
    const Tensor &a = ctx.input(0), &b = ctx.input(3);
    const QParams qa = qparams(ctx, 1, type, "A_scale", "A_zero_point");
    const QParams qb = qparams(ctx, 4, type, "B_scale", "B_zero_point");
    const QParams qc = qparams(ctx, 6, type, "C_scale", "C_zero_point");
    const QRange r = rangeOf(type);
    Tensor c = Tensor::uninitialized(type, broadcastShapes(ctx, a.shape(), b.shape()));
    const float ratioA = qa.scale / qc.scale, ratioB = qb.scale / qc.scale;
    const float m = qa.scale * qb.scale / qc.scale;
    visitDType(type, [&](auto zero) {
        using T = decltype(zero);
        if constexpr (std::is_same_v<T, uint8_t> || std::is_same_v<T, int8_t>)
            broadcastBinary<T, T, T>(ctx, a, b, c, [&](T x, T y) {
                if (Mul)
                    return T(quant::requantize((int32_t(x) - qa.zp) * (int32_t(y) - qb.zp), m, qc.zp, r.lo, r.hi));
                const float v = ratioA * float(int32_t(x) - qa.zp) + ratioB * float(int32_t(y) - qb.zp);
                return T(std::clamp(int32_t(std::nearbyint(v)) + qc.zp, r.lo, r.hi));
            });
    });
    ctx.outputs[0] = std::move(c);
}

// QLinearLeakyRelu, QLinearSigmoid: a table over the 256 input values.
template <bool Sigmoid> void qlinearTableOp(OpContext &ctx)
{
    const DType type = quantData(ctx, 0, "X");
    const QParams x = qparams(ctx, 1, type, "X_scale", "X_zero_point");
    const QParams y = qparams(ctx, 3, type, "Y_scale", "Y_zero_point");
    const float alpha = ctx.node.attrFloat("alpha", 0.01f);
    const auto table = lookupTable(type, x, y, [&](float v) {
        return Sigmoid ? 1.f / (1.f + std::exp(-v)) : v >= 0.f ? v : alpha * v;
    });
    ctx.outputs[0] = applyTable(ctx.input(0), table.data(), type);
}

void qlinearGlobalAveragePoolOp(OpContext &ctx)
{
    const DType type = quantData(ctx, 0, "X");
    const Tensor &x = ctx.input(0);
    if (x.rank() < 3)
        ctx.fail("X must have a batch, a channel and at least one spatial axis, got " + shapeToString(x.shape()));
    const QParams qx = qparams(ctx, 1, type, "x_scale", "x_zero_point");
    const QParams qy = qparams(ctx, 3, type, "y_scale", "y_zero_point");
    const bool last = ctx.node.attrInt("channels_last", 0) != 0;
    const int64_t N = x.dim(0), C = last ? x.dim(x.rank() - 1) : x.dim(1);
    const int64_t size = x.numel() / std::max<int64_t>(1, N * C);
    if (size == 0)
        ctx.fail("X has an empty spatial extent " + shapeToString(x.shape()));
    Shape outShape(size_t(x.rank()), 1);
    outShape[0] = N;
    outShape[last ? size_t(x.rank() - 1) : 1] = C;
    Tensor y = Tensor::uninitialized(type, outShape);
    const QRange r = rangeOf(type);
    const float m = qx.scale / (qy.scale * float(size));
    const auto *src = static_cast<const uint8_t *>(x.rawData());
    auto *dst = static_cast<uint8_t *>(y.rawData());
    // Channel c of image n sums `size` values `step` apart from `first`.
    for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c) {
            const int64_t first = last ? n * size * C + c : (n * C + c) * size, step = last ? C : 1;
            int32_t acc = -qx.zp * int32_t(size);
            for (int64_t i = 0; i < size; ++i)
                acc += valueOf(type, src[first + i * step]);
            dst[n * C + c] = uint8_t(quant::requantize(acc, m, qy.zp, r.lo, r.hi));
        }
    ctx.outputs[0] = std::move(y);
}

void qlinearAveragePoolOp(OpContext &ctx)
{
    const DType type = quantData(ctx, 0, "X");
    const QParams qx = qparams(ctx, 1, type, "x_scale", "x_zero_point");
    const QParams qy = qparams(ctx, 3, type, "y_scale", "y_zero_point");
    const bool last = ctx.node.attrInt("channels_last", 0) != 0;
    if (last && ctx.input(0).rank() < 3)
        ctx.fail("X must be [N, spatial..., C], got " + shapeToString(ctx.input(0).shape()));
    Tensor x = last ? channelsFirst(ctx, ctx.input(0), true) : ctx.input(0);
    Tensor xf = Tensor::uninitialized(DType::Float32, x.shape());
    const auto *src = static_cast<const uint8_t *>(x.rawData());
    for (int64_t i = 0; i < x.numel(); ++i)
        xf.f32()[i] = float(valueOf(type, src[i]) - qx.zp) * qx.scale;
    Attributes attrs = ctx.node.attrs;
    attrs.erase("channels_last");
    const std::vector<int64_t> kernel = ctx.node.attrInts("kernel_shape");
    const size_t spatial = size_t(std::max(0, x.rank() - 2));
    std::vector<int64_t> pads = ctx.node.attrInts("pads", std::vector<int64_t>(2 * spatial, 0));
    const std::vector<int64_t> strides = ctx.node.attrInts("strides", std::vector<int64_t>(spatial, 1));
    if (ctx.node.attrInt("ceil_mode", 0) != 0 && ctx.node.attrInt("count_include_pad", 0) != 0 &&
        ctx.node.attrString("auto_pad", "NOTSET") == "NOTSET" && kernel.size() == spatial &&
        pads.size() == 2 * spatial && strides.size() == spatial) {
        // onnxruntime divides a ceil-mode window that runs past the end padding by the whole kernel size (the
        // float AveragePool by the part inside the padded input): the same windows with the end padding
        // widened to hold them, and the floor of the output size then equal to the ceiling.
        for (size_t i = 0; i < spatial; ++i) {
            const int64_t in = x.dim(int(i) + 2), s = std::max<int64_t>(1, strides[i]);
            const int64_t span = in + pads[i] + pads[i + spatial] - kernel[i];
            if (span < 0)
                continue; // AveragePool refuses it
            int64_t o = ceilDiv(span, s) + 1;
            if ((o - 1) * s >= in + pads[i])
                --o;
            pads[i + spatial] = std::max(pads[i + spatial], (o - 1) * s + kernel[i] - in - pads[i]);
        }
        attrs["pads"] = Attribute::makeInts(pads);
        attrs["ceil_mode"] = Attribute::makeInt(0);
    }
    const Tensor pooled = runKernel(ctx, "AveragePool", {&xf}, std::move(attrs));
    Tensor y = Tensor::uninitialized(type, pooled.shape());
    auto *dst = static_cast<uint8_t *>(y.rawData());
    const QRange r = rangeOf(type);
    for (int64_t i = 0; i < y.numel(); ++i)
        dst[i] = uint8_t(quantizeValue(pooled.f32()[i], qy, r));
    ctx.outputs[0] = last ? channelsFirst(ctx, y, false) : std::move(y);
}

// Byte tensors, each [N, C_i, H, W] or channel-last [N, 1, H, W, C_i], joined along the channels into
// channel-last [N, 1, H, W, ΣC_i]: per pixel, each part's channels side by side.
Tensor concatChannelsLast(const OpContext &ctx, const std::vector<Tensor> &parts)
{
    Shape plain0;
    int64_t channels = 0;
    for (const Tensor &t : parts) {
        Shape plain = t.rank() == 5 ? blocked::plainShape(t) : t.shape();
        if (plain.size() != 4)
            ctx.fail("inputs must be 4-D along the channels, got " + shapeToString(plain));
        channels += plain[1];
        plain[1] = 0;
        if (plain0.empty())
            plain0 = plain;
        else if (plain != plain0)
            ctx.fail("inputs differ outside the channels: " + shapeToString(plain0) + " and " + shapeToString(plain));
    }
    const int64_t N = plain0[0], P = plain0[2] * plain0[3], C = channels;
    Tensor y = Tensor::uninitialized(parts[0].dtype(), {N, 1, plain0[2], plain0[3], C});
    auto *out = static_cast<uint8_t *>(y.rawData());
    constexpr int64_t kPixels = 64; // the pixels of a plain part transposed at a time
    const int64_t tiles = (P + kPixels - 1) / kPixels;
    parallelRanges(threadsFor(ctx, y.numel()), N * tiles, 1, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
            const int64_t n = r / tiles, p0 = r % tiles * kPixels;
            const int64_t p1 = std::min(P, p0 + kPixels);
            int64_t offset = 0;
            for (const Tensor &t : parts) {
                const auto *src = static_cast<const uint8_t *>(t.rawData());
                const int64_t Ci = t.rank() == 5 ? t.dim(4) : t.dim(1);
                uint8_t *o = out + (n * P) * C + offset;
                if (t.rank() == 5)
                    for (int64_t p = p0; p < p1; ++p)
                        std::memcpy(o + p * C, src + (n * P + p) * Ci, size_t(Ci));
                else
                    transposeBytes(src + n * Ci * P + p0, P, Ci, p1 - p0, o + p0 * C, C);
                offset += Ci;
            }
        }
    });
    return y;
}

void qlinearConcatOp(OpContext &ctx)
{
    const int count = int(ctx.inputs.size());
    if (count < 5 || (count - 2) % 3 != 0)
        ctx.fail("expects Y_scale, Y_zero_point and (X, X_scale, X_zero_point) triples, got " + str(count) + " inputs");
    // The form fused from Concat → QuantizeLinear (runtime/fusion.cpp) also has float X, with empty X_scale and
    // X_zero_point: quantized onto Y's grid. The type is then Y_zero_point's.
    const bool floatX = isFloatType(ctx.input(2).dtype()) && !ctx.inputs[3];
    const DType type = floatX && ctx.inputs[1] ? ctx.input(1).dtype() : quantData(ctx, 2, "X");
    const QParams qy = qparams(ctx, 0, type, "Y_scale", "Y_zero_point");
    // Inputs may arrive channel-last, and the output leave so, along the channels (runtime/blocked.h); a part's
    // table keeps its layout.
    const bool channelsLast = blocked::mayLeave(ctx.node);
    std::vector<Tensor> parts;
    for (int i = 2; i < count; i += 3) {
        const Tensor &arrived = ctx.input(i);
        const Tensor x = blocked::arrived(ctx.node, i, arrived) && !channelsLast ? blocked::toPlain(arrived) : arrived;
        if (x.dtype() == DType::Float32 && !ctx.inputs[size_t(i) + 1] && !ctx.inputs[size_t(i) + 2]) {
            parts.push_back(quantizePerTensor(ctx, x, qy.scale, qy.zp, type));
            continue;
        }
        if (quantData(ctx, i, "X") != type)
            ctx.fail("input " + str(i) + " has type " + dtypeName(ctx.input(i).dtype()) + ", Y " + dtypeName(type));
        const QParams qx = qparams(ctx, i + 1, type, "X_scale", "X_zero_point");
        parts.push_back(qx.scale == qy.scale && qx.zp == qy.zp
                            ? x
                            : applyTable(x, lookupTable(type, qx, qy, [](float v) { return v; }).data(), type));
    }
    if (channelsLast) {
        ctx.outputs[0] = concatChannelsLast(ctx, parts);
        return;
    }
    std::vector<const Tensor *> inputs;
    for (const Tensor &t : parts)
        inputs.push_back(&t);
    ctx.outputs[0] = runKernel(ctx, "Concat", inputs, {{"axis", Attribute::makeInt(ctx.node.attrInt("axis", 0))}});
}

void qlinearSoftmaxOp(OpContext &ctx)
{
    const DType type = quantData(ctx, 0, "X");
    const Tensor &x = ctx.input(0);
    const QParams qx = qparams(ctx, 1, type, "X_scale", "x_zero_point");
    const QParams qy = qparams(ctx, 3, type, "y_scale", "y_zero_point");
    if (!ctx.node.hasAttr("opset"))
        ctx.fail("attribute opset (of the Softmax it replaces) is missing");
    const bool coerced = ctx.node.attrInt("opset", 13) < 13;
    const int rank = std::max(1, x.rank());
    const int axis = normalizeAxis(ctx, ctx.node.attrInt("axis", coerced ? 1 : -1), rank);
    // Softmax over `n` values `inner` apart, for each of outer × inner starting points.
    int64_t outer = 1, n = 1, inner = 1;
    for (int d = 0; d < x.rank(); ++d)
        (d < axis ? outer : d == axis || coerced ? n : inner) *= x.dim(d);
    Tensor y = Tensor::uninitialized(type, x.shape());
    const auto *src = static_cast<const uint8_t *>(x.rawData());
    auto *dst = static_cast<uint8_t *>(y.rawData());
    const QRange r = rangeOf(type);
    std::vector<float> e(static_cast<size_t>(n));
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
            const int64_t first = o * n * inner + i;
            int32_t top = r.lo;
            for (int64_t k = 0; k < n; ++k)
                top = std::max(top, valueOf(type, src[first + k * inner]));
            float sum = 0.f;
            for (int64_t k = 0; k < n; ++k)
                sum += e[size_t(k)] = std::exp(float(valueOf(type, src[first + k * inner]) - top) * qx.scale);
            const float inv = 1.f / sum / qy.scale;
            for (int64_t k = 0; k < n; ++k) {
                float v = std::nearbyint(e[size_t(k)] * inv) + float(qy.zp);
                dst[first + k * inner] = uint8_t(int32_t(std::clamp(v, float(r.lo), float(r.hi))));
            }
        }
    ctx.outputs[0] = std::move(y);
}

} // namespace

namespace quant {

// Both widened to int16 (a - aZp stays within ±255), sixteen products at a time added in exact pairs by vpmaddwd.
int32_t dotU8S8(const uint8_t *a, int32_t aZp, const int8_t *b, int64_t K)
{
    const __m256i zp = _mm256_set1_epi16(int16_t(aZp));
    __m256i sum = _mm256_setzero_si256();
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
        const __m256i va = _mm256_sub_epi16(
            _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i *>(a + k))), zp);
        const __m256i vb = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i *>(b + k)));
        sum = _mm256_add_epi32(sum, _mm256_madd_epi16(va, vb));
    }
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
    s = _mm_hadd_epi32(s, s);
    s = _mm_hadd_epi32(s, s);
    int32_t total = _mm_cvtsi128_si32(s);
    for (; k < K; ++k)
        total += (int32_t(a[k]) - aZp) * int32_t(b[k]);
    return total;
}

GemvIsa gemvIsa()
{
    static const GemvIsa isa = cpuHas(CpuFeature::Avx512Vnni) ? GemvIsa::Avx512Vnni
                               : cpuHas(CpuFeature::AvxVnni)  ? GemvIsa::AvxVnni
                                                              : GemvIsa::Avx2;
    return isa;
}

GemvWeights packGemv(const int8_t *b, int64_t N, int64_t K, bool transB, GemvIsa isa)
{
    GemvWeights w;
    w.n = N;
    w.k = K;
    w.isa = isa;
    const auto at = [&](int64_t n, int64_t k) { return transB ? b[n * K + k] : b[k * N + n]; };
    w.narrow = std::all_of(b, b + N * K, [](int8_t v) { return v >= -64 && v <= 64; });
    const int64_t depth = isa != GemvIsa::Avx2 || w.narrow ? 4 : 2, width = isa == GemvIsa::Avx512Vnni ? 16 : 8;
    const int64_t blocks = (N + width - 1) / width;
    w.steps = (K + depth - 1) / depth;
    w.packed = Tensor(DType::Int8, {blocks * w.steps * width * depth});
    int8_t *packed = w.packed.data<int8_t>();
    w.sums.assign(size_t(N), 0);
    for (int64_t n = 0; n < N; ++n)
        for (int64_t k = 0; k < K; ++k) {
            const int8_t v = at(n, k);
            packed[(((n / width) * w.steps + k / depth) * width + n % width) * depth + k % depth] = v;
            w.sums[size_t(n)] += v;
        }
    return w;
}

namespace {

// Blocks [first, first + Count) of eight columns for one row of a, laid out as in packGemv: `row` holds a's
// depths in 32-bit groups (four bytes, or two int16 values a - aZp where not Narrow).
template <int Count, bool Narrow>
void gemvBlocks(const GemvWeights &w, const int32_t *row, int64_t first, __m256i *out)
{
    constexpr int64_t bytes = Narrow ? 32 : 16; // per step and block
    const int8_t *p[Count];
    __m256i s[Count];
    for (int j = 0; j < Count; ++j) {
        p[j] = w.packed.data<int8_t>() + (first + j) * w.steps * bytes;
        s[j] = _mm256_setzero_si256();
    }
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t q = 0; q < w.steps; ++q) {
        const __m256i a = _mm256_set1_epi32(row[q]);
        for (int j = 0; j < Count; ++j) {
            if constexpr (Narrow) {
                const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p[j] + q * bytes));
                s[j] = _mm256_add_epi32(s[j], _mm256_madd_epi16(_mm256_maddubs_epi16(a, v), ones));
            } else {
                const __m256i v =
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p[j] + q * bytes)));
                s[j] = _mm256_add_epi32(s[j], _mm256_madd_epi16(a, v));
            }
        }
    }
    for (int j = 0; j < Count; ++j)
        out[j] = s[j];
}

// One group of four bytes of a against Count blocks' weights at `offset`, added into s.
template <int Count>
__attribute__((target("avx2,avxvnni"), always_inline)) inline void
dpbusdStep(__m256i (&s)[Count], const int8_t *const *p, int32_t group, int64_t offset)
{
    const __m256i a = _mm256_set1_epi32(group);
    for (int j = 0; j < Count; ++j)
        s[j] = _mm256_dpbusd_avx_epi32(s[j], a, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p[j] + offset)));
}

// gemvBlocks on the layout for AVX-VNNI: vpdpbusd adds four u8 × s8 products per lane into the sums, exact for any
// weights. Its latency (4-5 cycles) would bound one chain of sums per block, so the steps alternate between
// Chains sets of them, added at the end (wrapping in int32 as the reference sum does). A function of its own: code
// built for AVX-VNNI must not run on the CPUs the others serve.
template <int Count>
__attribute__((target("avx2,avxvnni"))) void gemvBlocksAvxVnni(const GemvWeights &w, const int32_t *row,
                                                               int64_t first, __m256i *out)
{
    constexpr int Chains = Count >= 4 ? 2 : 4;
    const int8_t *p[Count];
    __m256i s[Chains][Count];
    for (int j = 0; j < Count; ++j) {
        p[j] = w.packed.data<int8_t>() + (first + j) * w.steps * 32;
        for (int c = 0; c < Chains; ++c)
            s[c][j] = _mm256_setzero_si256();
    }
    int64_t q = 0;
    for (; q + Chains <= w.steps; q += Chains)
        for (int c = 0; c < Chains; ++c)
            dpbusdStep<Count>(s[c], p, row[q + c], (q + c) * 32);
    for (; q < w.steps; ++q)
        dpbusdStep<Count>(s[0], p, row[q], q * 32);
    for (int j = 0; j < Count; ++j) {
        out[j] = s[0][j];
        for (int c = 1; c < Chains; ++c)
            out[j] = _mm256_add_epi32(out[j], s[c][j]);
    }
}

// Adds one block's lanes (columns n0 .. n0 + width - 1, those below N) to a row of acc, taking aZp · Σ w off where
// the products were of the raw activations (`raw`), wrapping in int32 as the reference sum does.
inline void addLanes(const GemvWeights &w, const int32_t *lanes, int64_t n0, int64_t width, bool raw, int32_t aZp,
                     int32_t *dst)
{
    for (int64_t c = 0; c < width && n0 + c < w.n; ++c) {
        const uint32_t sum = raw ? uint32_t(lanes[c]) - uint32_t(aZp) * uint32_t(w.sums[size_t(n0 + c)])
                                 : uint32_t(lanes[c]);
        dst[n0 + c] = int32_t(uint32_t(dst[n0 + c]) + sum);
    }
}

// One depth q of rows [0, Rows) against column blocks of the vnni layout (`stride` bytes apart), into `s`: the
// rows' four bytes at group g (q, unless the rows hold only some of their depths).
template <int Rows, int Count>
__attribute__((target("avx512f,avx512bw,avx512vnni"), always_inline)) inline void
gemvDepthVnni(const int8_t *p, int64_t stride, const uint8_t *const *rows, int64_t q, int64_t g,
              __m512i (&s)[Rows][Count])
{
    __m512i v[Count];
    for (int j = 0; j < Count; ++j)
        v[j] = _mm512_loadu_si512(p + j * stride + q * 64);
    for (int r = 0; r < Rows; ++r) {
        int32_t group;
        std::memcpy(&group, rows[r] + 4 * g, 4);
        const __m512i a = _mm512_set1_epi32(group);
        for (int j = 0; j < Count; ++j)
            s[r][j] = _mm512_dpbusd_epi32(s[r][j], a, v[j]);
    }
}

// Rows [0, Rows) of a (each four bytes per 32-bit group) against column blocks [first, first + Count) of
// sixteen, laid out as in packGemv's vnni layout: each load of the weights serves every row. A tile of few
// accumulators keeps several sets for consecutive depths, so that a vpdpbusd does not wait for the one before
// (its latency is five cycles): a 1 x 1536 x 32 product took 0.70 µs on a Sapphire Rapids core with two sets, 0.58
// µs with four (0.29 µs with its weights aligned, GemvWeights::packed). The depths are a loop without a condition
// inside, so that the sets stay in registers.
template <int Rows, int Count>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) inline void gemvTileVnni(const GemvWeights &w,
                                                                                const uint8_t *const *rows,
                                                                                int64_t first, __m512i *out)
{
    constexpr int Sets = Rows * Count <= 2 ? 4 : Rows * Count <= 8 ? 2 : 1;
    const int8_t *p = w.packed.data<int8_t>() + first * w.steps * 64;
    const int64_t stride = w.steps * 64; // bytes from one block to the next
    __m512i s[Sets][Rows][Count];
    for (int h = 0; h < Sets; ++h)
        for (int r = 0; r < Rows; ++r)
            for (int j = 0; j < Count; ++j)
                s[h][r][j] = _mm512_setzero_si512();
    int64_t q = 0;
    for (; q + Sets <= w.steps; q += Sets)
#pragma GCC unroll 4
        for (int h = 0; h < Sets; ++h)
            gemvDepthVnni<Rows, Count>(p, stride, rows, q + h, q + h, s[h]);
    for (; q < w.steps; ++q)
        gemvDepthVnni<Rows, Count>(p, stride, rows, q, q, s[0]);
    for (int r = 0; r < Rows; ++r)
        for (int j = 0; j < Count; ++j) {
            __m512i sum = s[0][r][j];
            for (int h = 1; h < Sets; ++h)
                sum = _mm512_add_epi32(sum, s[h][r][j]);
            out[r * 4 + j] = sum;
        }
}

template <int Rows>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void gemvRowsVnni(const GemvWeights &w,
                                                                        const uint8_t *const *rows, int64_t first,
                                                                        int64_t count, __m512i *out)
{
    switch (count) {
    case 4: gemvTileVnni<Rows, 4>(w, rows, first, out); break;
    case 3: gemvTileVnni<Rows, 3>(w, rows, first, out); break;
    case 2: gemvTileVnni<Rows, 2>(w, rows, first, out); break;
    default: gemvTileVnni<Rows, 1>(w, rows, first, out); break;
    }
}

// Rows [0, M) of a against the column blocks [first, first + count) (count <= 4) of vnni-packed weights, four
// rows at a time.
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void gemvGroupVnni(const GemvWeights &w, const uint8_t *a,
                                                                         int64_t M, int32_t aZp, int32_t *acc,
                                                                         int64_t first, int64_t count)
{
    thread_local std::vector<int32_t> buffer;
    if (w.k % 4 != 0 && buffer.size() < size_t(4 * w.steps))
        buffer.resize(size_t(4 * w.steps));
    for (int64_t m0 = 0; m0 < M; m0 += 4) {
        const int64_t rowsHere = std::min<int64_t>(4, M - m0);
        const uint8_t *rows[4];
        for (int64_t r = 0; r < rowsHere; ++r) {
            // A row of whole groups of four is read where it is; another is copied, and past its end its last
            // group holds what an earlier row left: the weights' padding is zero.
            if (w.k % 4 == 0) {
                rows[r] = a + (m0 + r) * w.k;
                continue;
            }
            std::memcpy(buffer.data() + r * w.steps, a + (m0 + r) * w.k, size_t(w.k));
            rows[r] = reinterpret_cast<const uint8_t *>(buffer.data() + r * w.steps);
        }
        __m512i out[16];
        switch (rowsHere) {
        case 4: gemvRowsVnni<4>(w, rows, first, count, out); break;
        case 3: gemvRowsVnni<3>(w, rows, first, count, out); break;
        case 2: gemvRowsVnni<2>(w, rows, first, count, out); break;
        default: gemvRowsVnni<1>(w, rows, first, count, out); break;
        }
        alignas(64) int32_t lanes[16];
        for (int64_t r = 0; r < rowsHere; ++r) {
            int32_t *dst = acc + (m0 + r) * w.n;
            for (int64_t j = 0; j < count; ++j) {
                _mm512_store_si512(lanes, out[r * 4 + j]);
                addLanes(w, lanes, (first + j) * 16, 16, true, aZp, dst);
            }
        }
    }
}

// One row x of float32 values, quantized to uint8 16 at a time (quantize16, the same bytes as quantizeTensor) and
// multiplied as it goes against column blocks [first, first + Count) of the vnni layout, as gemvTileVnni does with
// one row. A product of a few rows waits for its weights (1 x 1536 x 32: 48 KiB, more than a 32 KiB L1 holds, read
// from L2), so that the quantization's arithmetic, done between the loads, costs little of its own.
template <int Count>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void gemvTileQuantizing(const GemvWeights &w, const float *x,
                                                                               const Quantize16 &c, int64_t first,
                                                                               __m512i *out)
{
    constexpr int Sets = Count <= 2 ? 4 : 2;
    const int8_t *p = w.packed.data<int8_t>() + first * w.steps * 64;
    const int64_t stride = w.steps * 64;
    __m512i s[Sets][1][Count];
    for (int h = 0; h < Sets; ++h)
        for (int j = 0; j < Count; ++j)
            s[h][0][j] = _mm512_setzero_si512();
    alignas(16) uint8_t bytes[16];
    const uint8_t *const row[1] = {bytes};
    int64_t q = 0, k = 0;
    for (; k + 16 <= w.k; k += 16, q += 4) {
        _mm_store_si128(reinterpret_cast<__m128i *>(bytes), quantize16<uint8_t>(c, x + k));
#pragma GCC unroll 4
        for (int h = 0; h < 4; ++h)
            gemvDepthVnni<1, Count>(p, stride, row, q + h, h, s[h % Sets]);
    }
    if (k < w.k) { // the last values; past them the weights' padding is zero
        std::memset(bytes, 0, sizeof bytes);
        quantizeTensor(x + k, w.k - k, c.scale, c.zp, bytes);
        for (int h = 0; q < w.steps; ++h, ++q)
            gemvDepthVnni<1, Count>(p, stride, row, q, h, s[0]);
    }
    for (int j = 0; j < Count; ++j) {
        __m512i sum = s[0][0][j];
        for (int h = 1; h < Sets; ++h)
            sum = _mm512_add_epi32(sum, s[h][0][j]);
        out[j] = sum;
    }
}

// Column blocks [first, first + count) (count <= 4) of one quantized row, added to acc (gemvQuantizedRow).
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void gemvGroupQuantizing(const GemvWeights &w, const float *x,
                                                                                const Quantize16 &c, int32_t *acc,
                                                                                int64_t first, int64_t count)
{
    __m512i out[4];
    switch (count) {
    case 4: gemvTileQuantizing<4>(w, x, c, first, out); break;
    case 3: gemvTileQuantizing<3>(w, x, c, first, out); break;
    case 2: gemvTileQuantizing<2>(w, x, c, first, out); break;
    default: gemvTileQuantizing<1>(w, x, c, first, out); break;
    }
    alignas(64) int32_t lanes[16];
    for (int64_t j = 0; j < count; ++j) {
        _mm512_store_si512(lanes, out[j]);
        addLanes(w, lanes, (first + j) * 16, 16, true, c.zp, acc);
    }
}

} // namespace

void gemvU8S8(const GemvWeights &w, const uint8_t *a, int64_t M, int32_t aZp, int32_t *acc, int threads)
{
    const int64_t N = w.n, K = w.k, width = w.isa == GemvIsa::Avx512Vnni ? 16 : 8, blocks = (N + width - 1) / width;
    const int64_t groups = (blocks + 3) / 4;
    const int64_t macs = M * N * K;
    const int t = int(std::clamp<int64_t>(macs >> 20, 1, std::max(1, threads)));
    if (w.isa == GemvIsa::Avx512Vnni) {
        parallelFor(std::min<int64_t>(t, groups), groups, [&](int64_t g) {
            gemvGroupVnni(w, a, M, aZp, acc, g * 4, std::min<int64_t>(4, blocks - g * 4));
        });
        return;
    }
    // The AVX-VNNI and narrow layouts hold a's bytes (its zero point taken off with the column sums), the wide one
    // a - aZp in int16.
    const bool vnni = w.isa == GemvIsa::AvxVnni, bytes = vnni || w.narrow;
    parallelFor(std::min<int64_t>(t, groups), groups, [&](int64_t g) {
        thread_local std::vector<int32_t> row;
        if (row.size() < size_t(w.steps))
            row.resize(size_t(w.steps));
        const int64_t first = g * 4, count = std::min<int64_t>(4, blocks - first);
        for (int64_t m = 0; m < M; ++m) {
            const uint8_t *x = a + m * K;
            // Past the row's end its last group holds what an earlier row left: the weights' padding is zero.
            if (bytes) {
                std::memcpy(row.data(), x, size_t(K));
            } else {
                auto *pairs = reinterpret_cast<int16_t *>(row.data());
                for (int64_t k = 0; k < K; ++k)
                    pairs[k] = int16_t(int32_t(x[k]) - aZp);
            }
            __m256i out[4];
            if (vnni && count == 4)
                gemvBlocksAvxVnni<4>(w, row.data(), first, out);
            else if (vnni)
                for (int64_t j = 0; j < count; ++j)
                    gemvBlocksAvxVnni<1>(w, row.data(), first + j, out + j);
            else if (w.narrow && count == 4)
                gemvBlocks<4, true>(w, row.data(), first, out);
            else if (w.narrow)
                for (int64_t j = 0; j < count; ++j)
                    gemvBlocks<1, true>(w, row.data(), first + j, out + j);
            else if (count == 4)
                gemvBlocks<4, false>(w, row.data(), first, out);
            else
                for (int64_t j = 0; j < count; ++j)
                    gemvBlocks<1, false>(w, row.data(), first + j, out + j);
            alignas(32) int32_t lanes[8];
            for (int64_t j = 0; j < count; ++j) {
                _mm256_store_si256(reinterpret_cast<__m256i *>(lanes), out[j]);
                addLanes(w, lanes, (first + j) * 8, 8, bytes, aZp, acc + m * N);
            }
        }
    });
}

bool gemvQuantizedRow(const GemvWeights &w, const float *x, float scale, int32_t zeroPoint, int32_t *acc, int threads)
{
    if (w.isa == GemvIsa::Avx2 || !std::isnormal(scale) || !std::isnormal(1.f / scale) || zeroPoint < 0 ||
        zeroPoint > 255)
        return false;
    // AVX-VNNI: the row quantized first, 32 values a step. Quantized inside the product as below, the sums and
    // the quantization's constants did not fit AVX2's sixteen registers, and it ran no faster.
    if (w.isa == GemvIsa::AvxVnni) {
        thread_local std::vector<uint8_t> row;
        row.resize(size_t(w.k));
        quantizeTensor(x, w.k, scale, zeroPoint, row.data());
        gemvU8S8(w, row.data(), 1, zeroPoint, acc, threads);
        return true;
    }
    const Quantize16 c = quantize16Constants<uint8_t>(scale, zeroPoint);
    const int64_t blocks = (w.n + 15) / 16, groups = (blocks + 3) / 4;
    const int t = int(std::clamp<int64_t>((w.n * w.k) >> 20, 1, std::max(1, threads)));
    parallelFor(std::min<int64_t>(t, groups), groups, [&](int64_t g) {
        gemvGroupQuantizing(w, x, c, acc, g * 4, std::min<int64_t>(4, blocks - g * 4));
    });
    return true;
}

// The same with AVX-512 VNNI: vpdpbusd adds four exact u8 x s8 products per lane, 64 per instruction, and
// Σ b comes from the same instruction on ones; Σ a·b - aZp·Σ b wraps in int32 as the sum does.
__attribute__((target("avx512f,avx512bw,avx512vnni"))) int32_t dotU8S8Vnni(const uint8_t *a, int32_t aZp,
                                                                          const int8_t *b, int64_t K)
{
    const __m512i ones = _mm512_set1_epi8(1);
    __m512i sum = _mm512_setzero_si512(), bsum = _mm512_setzero_si512();
    int64_t k = 0;
    for (; k + 64 <= K; k += 64) {
        const __m512i vb = _mm512_loadu_si512(b + k);
        sum = _mm512_dpbusd_epi32(sum, _mm512_loadu_si512(a + k), vb);
        bsum = _mm512_dpbusd_epi32(bsum, ones, vb);
    }
    alignas(64) int32_t lanes[16], bLanes[16];
    _mm512_store_si512(lanes, sum);
    _mm512_store_si512(bLanes, bsum);
    uint32_t ab = 0, bs = 0; // wrapping like the int32 accumulators
    for (int i = 0; i < 16; ++i) {
        ab += uint32_t(lanes[i]);
        bs += uint32_t(bLanes[i]);
    }
    int32_t total = int32_t(ab - uint32_t(aZp) * bs);
    for (; k < K; ++k)
        total += (int32_t(a[k]) - aZp) * int32_t(b[k]);
    return total;
}

} // namespace quant

void registerQuantOps(KernelTable &table)
{
    table["QuantizeLinear"] = {quantizeLinearOp, {10, 13, 19, 21}};
    table["DequantizeLinear"] = {dequantizeLinearOp, {10, 13, 19, 21}};
    table["QLinearConv"] = {qlinearConvOp, {10}};
    table["QLinearMatMul"] = {qlinearMatMulOp, {10, 21}};
    table["com.microsoft:QGemm"] = {qgemmOp, {1}, 1};
    table["DynamicQuantizeLinear"] = {dynamicQuantizeLinearOp, {11}};
    table["ConvInteger"] = {convIntegerOp, {10}};
    table["MatMulInteger"] = {matMulIntegerOp, {10}};
    table["com.microsoft:QLinearAdd"] = {qlinearBinaryOp<false>, {1}, 1};
    table["com.microsoft:QLinearMul"] = {qlinearBinaryOp<true>, {1}, 1};
    table["com.microsoft:QLinearLeakyRelu"] = {qlinearTableOp<false>, {1}, 1};
    table["com.microsoft:QLinearSigmoid"] = {qlinearTableOp<true>, {1}, 1};
    table["com.microsoft:QLinearGlobalAveragePool"] = {qlinearGlobalAveragePoolOp, {1}, 1};
    table["com.microsoft:QLinearAveragePool"] = {qlinearAveragePoolOp, {1}, 1};
    table["com.microsoft:QLinearConcat"] = {qlinearConcatOp, {1}, 1};
    table["com.microsoft:QLinearSoftmax"] = {qlinearSoftmaxOp, {1}, 1};
}

} // namespace cw
