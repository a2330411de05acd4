// Integer block kernels for y = x · Wᵀ on ggml's formats, after llama.cpp's CPU backend (ggml-cpu/arch/x86/
// quants.c: quantize_row_q8_0 / q8_K and the ggml_vec_dot_<type>_q8_<0|K> functions): the rows of x rounded
// to 8-bit blocks once, then per weight block an integer dot product (maddubs: unsigned 8-bit × signed
// 8-bit → pairs summed in int16; madd: pairs of int16 × int16 → int32) and one float multiply-add. Unlike
// llama.cpp's vec_dot (one weight row against one x row), each kernel here takes a weight row against up to
// four rows of x, so a block is loaded and unpacked once for all four.
//
// The block layouts are llama.cpp's ggml-common.h (ggml_blocks.cpp dequantizes the same bytes); each kernel's
// comment names its layout. Codes must fit the instructions: maddubs adds two products in int16, saturating,
// so two products of a weight code and an activation code (|code| <= 127) must stay below 32768 — weight codes
// up to 128 do (Q8_0's |-128|, through _mm256_sign_epi8; the k-quants' largest is 63).
#include "core/quant/ggml_kernels.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define CW_GGML_KERNELS_AVX2 1
#include <immintrin.h>
#else
#define CW_GGML_KERNELS_AVX2 0
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/base/parallel.h"
#include "core/base/tensor.h"
#include "core/quant/ggml_blocks.h"

namespace cw::ggml {

namespace {

constexpr int64_t QK = 32;    // values per block of the 32-block formats (Q8_0 activations)
constexpr int64_t QK_K = 256; // values per super-block of the k-quants (Q8_K activations)
constexpr int kTile = 4;      // rows of x per pass over a weight row
// Weight rows are taken in groups of about this many bytes, which stay in L2 while the tiles of x pass.
constexpr int64_t kGroupBytes = 64 << 10;
// A thread's share is at least this many multiply-adds: below it, waking a helper costs more than it saves.
constexpr int64_t kMinWorkPerRange = int64_t(1) << 20;

// y[n, out] = x[n, in] · Wᵀ, W's rows rowBytes apart.
struct Product {
    const uint8_t *w;
    int64_t rowBytes, out, in, n;
    float *y;
};

// Ranges of weight rows of at least kMinWorkPerRange multiply-adds, about four per thread.
int64_t rowGrain(const Product &p) { return std::max<int64_t>(1, kMinWorkPerRange / std::max<int64_t>(1, p.in * p.n)); }

#if CW_GGML_KERNELS_AVX2

inline float h2f(const uint8_t *p)
{
    uint16_t bits;
    std::memcpy(&bits, p, 2);
    return _cvtsh_ss(bits);
}

inline __m256i load256(const void *p) { return _mm256_loadu_si256(static_cast<const __m256i *>(p)); }

inline float hsum(__m128 s)
{
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

inline float hsum(__m256 v) { return hsum(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1))); }

inline int hsum(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

inline float hmax(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

// 32 int32 codes (four vectors of eight, in order) as 32 int8s in order, saturating.
inline __m256i packCodes(__m256i i0, __m256i i1, __m256i i2, __m256i i3)
{
    // The packs work within 128-bit lanes and interleave them; the permutation restores the order.
    const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    return _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// Σ u·s over each group of four bytes: u unsigned, s signed, as eight int32 lanes.
inline __m256i dotU8I8(__m256i u, __m256i s) { return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)); }

// Σ u·s over each pair of bytes times the int16 scale of that pair, summed over pairs of pairs: eight int32.
inline __m256i dotU8I8Scaled(__m256i u, __m256i s, __m256i scales16)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), scales16);
}

// The int16 scales of a super-block's eight code vectors from its sixteen 8-bit scales, one per 16 values
// (Q2_K, Q3_K, Q6_K): vector k takes scale 2k for its first 16 codes and 2k + 1 for the last 16 (after
// maddubs, the low 128-bit lane holds the first 16 codes' pair sums).
inline void scalesPerSixteen(__m128i scales8, __m256i *out)
{
    constexpr uint64_t kBytes = 0x0101010101010101;
    for (int k = 0; k < 8; ++k) {
        const __m128i pick = _mm_set_epi64x(int64_t(kBytes * uint64_t(2 * k + 1)), int64_t(kBytes * uint64_t(2 * k)));
        out[k] = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales8, pick));
    }
}

// 32 four-bit codes from 16 bytes: low nibbles are values 0..15, high nibbles values 16..31 (Q4_0, Q4_1, Q5_*).
inline __m256i nibbles32(const uint8_t *p)
{
    const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p));
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0F));
}

// The 32 bits at p (little endian) as 32 bytes, byte k = 0x10 if bit k is set: Q5_0 / Q5_1's fifth bits.
inline __m256i fifthBits32(const uint8_t *p)
{
    uint32_t bits;
    std::memcpy(&bits, p, 4);
    // Byte k of the result gets byte k / 8 of the word, then keeps bit k % 8.
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32(int(bits)),
                                               _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101,
                                                                  0x0202020202020202, 0x0303030303030303));
    const __m256i bit = _mm256_set1_epi64x(int64_t(0x8040201008040201));
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(0x10));
}

// Bytes whose bit `mask` is set, as `value` (others 0): the k-quants' high bits.
inline __m256i bitAs(__m256i bytes, int mask, int value)
{
    const __m256i m = _mm256_set1_epi8(char(mask));
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(bytes, m), m), _mm256_set1_epi8(char(value)));
}

// ---- the activations: x rounded to 8-bit blocks -------------------------------------------------------------

enum class ActKind {
    Float, // x as it is
    Q8_0,  // blocks of 32: a float16 scale (widened), 32 codes
    Q8_1,  // Q8_0 plus each block's code sum (for the formats with an offset: Q4_1, Q5_1)
    Q8_K,  // blocks of 256: a float scale, 256 codes, the sums of each 16 codes
};

// One row of x as a kernel reads it.
struct ActRow {
    const float *x = nullptr;      // Float
    const int8_t *q = nullptr;     // `in` codes
    const float *d = nullptr;      // a scale per block
    const int16_t *sums = nullptr; // per block (Q8_1) or per 16 codes (Q8_K)
};

// quantize_row_q8_0 as llama.cpp's AVX2 path computes it: d = amax / 127 rounded to float16, codes
// round-to-nearest-even(x · (127 / amax)) (the unrounded inverse, as llama.cpp multiplies by). sums: each
// block's code sum, or nullptr.
void quantizeRowQ8_0(const float *x, int64_t in, int8_t *q, float *d, int16_t *sums)
{
    const __m256 signBit = _mm256_set1_ps(-0.f);
    for (int64_t b = 0; b < in / QK; ++b, x += QK, q += QK) {
        __m256 v[4];
        __m256 absMax = _mm256_setzero_ps();
        for (int k = 0; k < 4; ++k) {
            v[k] = _mm256_loadu_ps(x + 8 * k);
            absMax = _mm256_max_ps(absMax, _mm256_andnot_ps(signBit, v[k]));
        }
        const float amax = hmax(absMax);
        d[b] = _cvtsh_ss(_cvtss_sh(amax / 127.f, _MM_FROUND_TO_NEAREST_INT));
        const __m256 id = _mm256_set1_ps(amax != 0.f ? 127.f / amax : 0.f);
        __m256i i[4];
        for (int k = 0; k < 4; ++k)
            i[k] = _mm256_cvtps_epi32(
                _mm256_round_ps(_mm256_mul_ps(v[k], id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        if (sums)
            sums[b] = int16_t(hsum(_mm256_add_epi32(_mm256_add_epi32(i[0], i[1]), _mm256_add_epi32(i[2], i[3]))));
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(q), packCodes(i[0], i[1], i[2], i[3]));
    }
}

// quantize_row_q8_K (llama.cpp's reference, which its x86 build runs): `max` is the value of largest magnitude
// (the first, if several), iscale = -127 / max, codes nearest-even(iscale · x) capped at 127, d = 1 / iscale;
// bsums: the sum of each 16 codes. An all-zero block gets d = 0 and zero codes.
void quantizeRowQ8_K(const float *x, int64_t in, int8_t *q, float *d, int16_t *bsums)
{
    const __m256 signBit = _mm256_set1_ps(-0.f);
    for (int64_t b = 0; b < in / QK_K; ++b, x += QK_K, q += QK_K, bsums += QK_K / 16) {
        __m256 absMax = _mm256_setzero_ps();
        for (int k = 0; k < QK_K; k += 8)
            absMax = _mm256_max_ps(absMax, _mm256_andnot_ps(signBit, _mm256_loadu_ps(x + k)));
        const float amax = hmax(absMax);
        if (amax == 0.f) {
            d[b] = 0.f;
            std::memset(q, 0, QK_K);
            std::memset(bsums, 0, QK_K / 16 * sizeof(int16_t));
            continue;
        }
        int first = 0;
        while (first < QK_K - 1 && std::fabs(x[first]) != amax)
            ++first;
        const float iscale = -127.f / x[first];
        const __m256 vs = _mm256_set1_ps(iscale);
        const __m256i cap = _mm256_set1_epi32(127);
        for (int k = 0; k < QK_K; k += 32) {
            __m256i i[4];
            for (int j = 0; j < 4; ++j)
                i[j] = _mm256_min_epi32(cap, _mm256_cvtps_epi32(_mm256_round_ps(
                                                 _mm256_mul_ps(vs, _mm256_loadu_ps(x + k + 8 * j)),
                                                 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
            bsums[k / 16] = int16_t(hsum(_mm256_add_epi32(i[0], i[1])));
            bsums[k / 16 + 1] = int16_t(hsum(_mm256_add_epi32(i[2], i[3])));
            _mm256_storeu_si256(reinterpret_cast<__m256i *>(q + k), packCodes(i[0], i[1], i[2], i[3]));
        }
        d[b] = 1.f / iscale;
    }
}

// All n rows of x in the form a kernel reads, rounded once per call.
class Activations {
public:
    Activations(ActKind kind, const float *x, int64_t n, int64_t in, int threads) : m_kind(kind), m_x(x), m_in(in)
    {
        if (kind == ActKind::Float)
            return;
        const int64_t block = kind == ActKind::Q8_K ? QK_K : QK;
        m_scalesPerRow = in / block;
        m_sumsPerRow = kind == ActKind::Q8_K ? in / 16 : kind == ActKind::Q8_1 ? in / QK : 0;
        m_q = std::make_unique_for_overwrite<int8_t[]>(size_t(n * in));
        m_d = std::make_unique_for_overwrite<float[]>(size_t(n * m_scalesPerRow));
        if (m_sumsPerRow)
            m_sums = std::make_unique_for_overwrite<int16_t[]>(size_t(n * m_sumsPerRow));
        parallelRanges(threads, n, std::max<int64_t>(1, (int64_t(1) << 16) / in), [&](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; ++i) {
                int8_t *q = m_q.get() + i * in;
                float *d = m_d.get() + i * m_scalesPerRow;
                int16_t *sums = m_sums ? m_sums.get() + i * m_sumsPerRow : nullptr;
                if (kind == ActKind::Q8_K)
                    quantizeRowQ8_K(x + i * in, in, q, d, sums);
                else
                    quantizeRowQ8_0(x + i * in, in, q, d, sums);
            }
        });
    }

    ActRow row(int64_t i) const
    {
        ActRow r;
        if (m_kind == ActKind::Float) {
            r.x = m_x + i * m_in;
            return r;
        }
        r.q = m_q.get() + i * m_in;
        r.d = m_d.get() + i * m_scalesPerRow;
        if (m_sums)
            r.sums = m_sums.get() + i * m_sumsPerRow;
        return r;
    }

private:
    ActKind m_kind;
    const float *m_x;
    int64_t m_in;
    int64_t m_scalesPerRow = 0, m_sumsPerRow = 0;
    std::unique_ptr<int8_t[]> m_q;
    std::unique_ptr<float[]> m_d;
    std::unique_ptr<int16_t[]> m_sums;
};

// ---- the kernels: one weight row against R rows of x (R = 1..4), s[r] = the dot products ---------------------

// The 32-block formats: Block::add<R> adds one weight block's products with block b of R rows of x to acc.
// Two sets of accumulators take the even and the odd blocks, so that a GEMV is not bound by the latency of one
// chain of multiply-adds. Block::kBytes: the block's size.
template <class Block, int R> void dot32(const uint8_t *w, int64_t in, const ActRow *a, float *s)
{
    __m256 even[R] = {}, odd[R] = {};
    float offset[R] = {};
    const int64_t blocks = in / QK;
    int64_t b = 0;
    for (; b + 1 < blocks; b += 2) {
        Block::template add<R>(even, offset, w + b * Block::kBytes, a, b);
        Block::template add<R>(odd, offset, w + (b + 1) * Block::kBytes, a, b + 1);
    }
    if (b < blocks)
        Block::template add<R>(even, offset, w + b * Block::kBytes, a, b);
    for (int r = 0; r < R; ++r)
        s[r] = hsum(_mm256_add_ps(even[r], odd[r])) + offset[r];
}

// Signed weight codes q (32 of them) of scale dw against block b of the rows' Q8_0 blocks: acc += dw · d_x ·
// Σ q q_x. maddubs wants one unsigned operand: |q| times q_x with q's sign (llama.cpp's mul_sum_i8_pairs).
template <int R> inline void addSigned32(__m256 (&acc)[R], __m256i q, float dw, const ActRow *a, int64_t b)
{
    const __m256i absQ = _mm256_sign_epi8(q, q);
    const __m256 dwv = _mm256_set1_ps(dw);
    for (int r = 0; r < R; ++r) {
        const __m256i x = load256(a[r].q + b * QK);
        const __m256 p = _mm256_cvtepi32_ps(dotU8I8(absQ, _mm256_sign_epi8(x, q)));
        acc[r] = _mm256_fmadd_ps(_mm256_mul_ps(dwv, _mm256_broadcast_ss(a[r].d + b)), p, acc[r]);
    }
}

// Unsigned weight codes u of scale dw and offset mw (value = dw · u + mw), block b: the offset meets the
// block's code sum, d_x · (dw · Σ u q_x + mw · Σ q_x).
template <int R>
inline void addOffset32(__m256 (&acc)[R], float (&offset)[R], __m256i u, float dw, float mw, const ActRow *a,
                        int64_t b)
{
    const __m256 dwv = _mm256_set1_ps(dw);
    for (int r = 0; r < R; ++r) {
        const __m256 p = _mm256_cvtepi32_ps(dotU8I8(u, load256(a[r].q + b * QK)));
        acc[r] = _mm256_fmadd_ps(_mm256_mul_ps(dwv, _mm256_broadcast_ss(a[r].d + b)), p, acc[r]);
        offset[r] += mw * a[r].d[b] * float(a[r].sums[b]);
    }
}

// block_q8_0 (34 bytes): d (float16), qs[32] (int8). Value k = d · qs[k].
struct BlockQ8_0 {
    static constexpr int64_t kBytes = 34;
    template <int R> static void add(__m256 (&acc)[R], float (&)[R], const uint8_t *w, const ActRow *a, int64_t b)
    {
        addSigned32<R>(acc, load256(w + 2), h2f(w), a, b);
    }
};

// block_q4_0 (18 bytes): d (float16), qs[16]: value k = d · (low nibble of qs[k] − 8), value k + 16 = d ·
// (high nibble of qs[k] − 8).
struct BlockQ4_0 {
    static constexpr int64_t kBytes = 18;
    template <int R> static void add(__m256 (&acc)[R], float (&)[R], const uint8_t *w, const ActRow *a, int64_t b)
    {
        addSigned32<R>(acc, _mm256_sub_epi8(nibbles32(w + 2), _mm256_set1_epi8(8)), h2f(w), a, b);
    }
};

// block_q5_0 (22 bytes): d (float16), qh[4] (bit k: the fifth bit of value k), qs[16] (the low four bits as
// in Q4_0). Value k = d · (code − 16).
struct BlockQ5_0 {
    static constexpr int64_t kBytes = 22;
    template <int R> static void add(__m256 (&acc)[R], float (&)[R], const uint8_t *w, const ActRow *a, int64_t b)
    {
        const __m256i code = _mm256_or_si256(nibbles32(w + 6), fifthBits32(w + 2));
        addSigned32<R>(acc, _mm256_sub_epi8(code, _mm256_set1_epi8(16)), h2f(w), a, b);
    }
};

// block_q4_1 (20 bytes): d, m (float16), qs[16] (nibbles as in Q4_0). Value = d · code + m.
struct BlockQ4_1 {
    static constexpr int64_t kBytes = 20;
    template <int R>
    static void add(__m256 (&acc)[R], float (&offset)[R], const uint8_t *w, const ActRow *a, int64_t b)
    {
        addOffset32<R>(acc, offset, nibbles32(w + 4), h2f(w), h2f(w + 2), a, b);
    }
};

// block_q5_1 (24 bytes): d, m (float16), qh[4] (fifth bits as in Q5_0), qs[16]. Value = d · code + m.
struct BlockQ5_1 {
    static constexpr int64_t kBytes = 24;
    template <int R>
    static void add(__m256 (&acc)[R], float (&offset)[R], const uint8_t *w, const ActRow *a, int64_t b)
    {
        addOffset32<R>(acc, offset, _mm256_or_si256(nibbles32(w + 8), fifthBits32(w + 4)), h2f(w), h2f(w + 2), a,
                       b);
    }
};

template <class Block, ActKind Act> struct Kernel32 {
    static constexpr ActKind kAct = Act;
    template <int R> static void dot(const uint8_t *w, int64_t in, const ActRow *a, float *s)
    {
        dot32<Block, R>(w, in, a, s);
    }
};
using KernelQ8_0 = Kernel32<BlockQ8_0, ActKind::Q8_0>;
using KernelQ4_0 = Kernel32<BlockQ4_0, ActKind::Q8_0>;
using KernelQ5_0 = Kernel32<BlockQ5_0, ActKind::Q8_0>;
using KernelQ4_1 = Kernel32<BlockQ4_1, ActKind::Q8_1>;
using KernelQ5_1 = Kernel32<BlockQ5_1, ActKind::Q8_1>;

// The k-quants: eight vectors of 32 unsigned codes per super-block of 256 with an int16 scale per 16 or 32
// codes, against the rows' Q8_K blocks; per row, Σ scale · (codes · x codes) in int32, then one float
// multiply-add. The codes' offset (Q3_K's −4, Q6_K's −32) or the sub-blocks' minimums meet the Q8_K block's
// sums of 16 codes.
struct SuperBlock {
    __m256i codes[8];  // values 32k .. 32k + 31 of the super-block, unsigned
    __m256i scales[8]; // their int16 scales (pairs of bytes of codes share one)
};

// Σ_k scales_k · (codes_k · x codes) over the super-block, as eight int32 lanes.
inline __m256i dotSuper(const SuperBlock &w, const int8_t *x)
{
    __m256i sum = _mm256_setzero_si256();
    for (int k = 0; k < 8; ++k)
        sum = _mm256_add_epi32(sum, dotU8I8Scaled(w.codes[k], load256(x + 32 * k), w.scales[k]));
    return sum;
}

// Q4_K / Q5_K's eight six-bit scales and eight six-bit minimums, packed in 12 bytes (get_scale_min_k4's layout:
// bytes 0-3 hold scales 0-3 in their low six bits, bytes 4-7 minimums 0-3; bytes 8-11 hold the low four bits
// of scales 4-7 and, in their high nibbles, of minimums 4-7, whose top two bits are the top bits of bytes 0-3
// and 4-7), as 16 bytes: scales 0-7, then minimums 0-7.
inline __m128i scalesMinsK4(const uint8_t *packed)
{
    constexpr uint32_t low6 = 0x3f3f3f3f, low4 = 0x0f0f0f0f, low2 = 0x03030303;
    uint32_t in[3];
    std::memcpy(in, packed, 12);
    const uint32_t scales03 = in[0] & low6, mins03 = in[1] & low6;
    const uint32_t scales47 = (in[2] & low4) | (((in[0] >> 6) & low2) << 4);
    const uint32_t mins47 = ((in[2] >> 4) & low4) | (((in[1] >> 6) & low2) << 4);
    return _mm_setr_epi32(int(scales03), int(scales47), int(mins03), int(mins47));
}

// Q4_K and Q5_K share their scales: value = d · sc_s · code − dmin · m_s in sub-block s of 32. The minimum
// term is dmin · Σ_s m_s · (the sums of the two 16s of sub-block s).
template <int R>
void dotK4(const SuperBlock &sb, float d, float dmin, __m128i mins16, const ActRow *a, int64_t b, __m256 *acc,
           __m128 *accMin)
{
    for (int r = 0; r < R; ++r) {
        const float dx = a[r].d[b];
        const __m256i sum = dotSuper(sb, a[r].q + b * QK_K);
        const __m256i bsums = load256(a[r].sums + b * 16);
        const __m128i sums32 = _mm_hadd_epi16(_mm256_castsi256_si128(bsums), _mm256_extracti128_si256(bsums, 1));
        const __m128i minTerm = _mm_madd_epi16(mins16, sums32);
        acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(d * dx), _mm256_cvtepi32_ps(sum), acc[r]);
        accMin[r] = _mm_fmadd_ps(_mm_set1_ps(dmin * dx), _mm_cvtepi32_ps(minTerm), accMin[r]);
    }
}

template <int R> void finishK(const __m256 *acc, const __m128 *accMin, float *s)
{
    for (int r = 0; r < R; ++r)
        s[r] = hsum(acc[r]) - (accMin ? hsum(accMin[r]) : 0.f);
}

inline void setScalesK4(SuperBlock &sb, const uint8_t *packed, __m128i *mins16)
{
    const __m128i scalesMins = scalesMinsK4(packed);
    for (int s = 0; s < 8; ++s) // one scale for all 32 codes of sub-block s
        sb.scales[s] = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(scalesMins, _mm_set1_epi8(char(s))));
    *mins16 = _mm_cvtepu8_epi16(_mm_srli_si128(scalesMins, 8));
}

// block_q4_K (144 bytes): d, dmin (float16), scales[12] (scalesMinsK4), qs[128]: per 64 values, 32 bytes whose
// low nibbles are the first 32 values and high nibbles the next 32.
struct KernelQ4_K {
    static constexpr ActKind kAct = ActKind::Q8_K;
    template <int R> static void dot(const uint8_t *w, int64_t in, const ActRow *a, float *s)
    {
        __m256 acc[R] = {};
        __m128 accMin[R] = {};
        const __m256i low4 = _mm256_set1_epi8(0x0F);
        SuperBlock sb;
        __m128i mins16;
        for (int64_t b = 0; b < in / QK_K; ++b, w += 144) {
            setScalesK4(sb, w + 4, &mins16);
            for (int j = 0; j < 4; ++j) {
                const __m256i bits = load256(w + 16 + 32 * j);
                sb.codes[2 * j] = _mm256_and_si256(bits, low4);
                sb.codes[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(bits, 4), low4);
            }
            dotK4<R>(sb, h2f(w), h2f(w + 2), mins16, a, b, acc, accMin);
        }
        finishK<R>(acc, accMin, s);
    }
};

// block_q5_K (176 bytes): d, dmin (float16), scales[12] (scalesMinsK4), qh[32], qs[128] (as Q4_K's). The fifth
// bit of value 64j + l is bit 2j of qh[l], of value 64j + 32 + l bit 2j + 1.
struct KernelQ5_K {
    static constexpr ActKind kAct = ActKind::Q8_K;
    template <int R> static void dot(const uint8_t *w, int64_t in, const ActRow *a, float *s)
    {
        __m256 acc[R] = {};
        __m128 accMin[R] = {};
        const __m256i low4 = _mm256_set1_epi8(0x0F);
        SuperBlock sb;
        __m128i mins16;
        for (int64_t b = 0; b < in / QK_K; ++b, w += 176) {
            setScalesK4(sb, w + 4, &mins16);
            const __m256i high = load256(w + 16);
            for (int j = 0; j < 4; ++j) {
                const __m256i bits = load256(w + 48 + 32 * j);
                sb.codes[2 * j] = _mm256_or_si256(_mm256_and_si256(bits, low4), bitAs(high, 1 << (2 * j), 16));
                sb.codes[2 * j + 1] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 4), low4),
                                                      bitAs(high, 1 << (2 * j + 1), 16));
            }
            dotK4<R>(sb, h2f(w), h2f(w + 2), mins16, a, b, acc, accMin);
        }
        finishK<R>(acc, accMin, s);
    }
};

// block_q6_K (210 bytes): ql[128], qh[64], scales[16] (int8, one per 16 values), d (float16). Per 128 values
// (ql += 64, qh += 32): value l = (ql[l] & 15) | (qh[l] & 3) << 4, value 32 + l = (ql[32 + l] & 15) | (qh[l] >> 2
// & 3) << 4, value 64 + l = ql[l] >> 4 | (qh[l] >> 4 & 3) << 4, value 96 + l = ql[32 + l] >> 4 | (qh[l] >> 6) << 4,
// each minus 32, times d · scale. The −32 meets 32 · Σ scale · (sum of 16 codes).
struct KernelQ6_K {
    static constexpr ActKind kAct = ActKind::Q8_K;
    template <int R> static void dot(const uint8_t *w, int64_t in, const ActRow *a, float *s)
    {
        __m256 acc[R] = {};
        const __m256i low4 = _mm256_set1_epi8(0x0F), low2 = _mm256_set1_epi8(3);
        SuperBlock sb;
        for (int64_t b = 0; b < in / QK_K; ++b, w += 210) {
            const __m128i scales8 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(w + 192));
            const __m256i scales16 = _mm256_cvtepi8_epi16(scales8);
            scalesPerSixteen(scales8, sb.scales);
            for (int h = 0; h < 2; ++h) {
                const __m256i l0 = load256(w + 64 * h), l1 = load256(w + 64 * h + 32);
                const __m256i hb = load256(w + 128 + 32 * h);
                const auto high = [&](int shift) {
                    return _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, shift), low2), 4);
                };
                sb.codes[4 * h + 0] = _mm256_or_si256(_mm256_and_si256(l0, low4), high(0));
                sb.codes[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(l1, low4), high(2));
                sb.codes[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4), high(4));
                sb.codes[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4), high(6));
            }
            const float d = h2f(w + 208);
            for (int r = 0; r < R; ++r) {
                const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(load256(a[r].sums + b * 16), scales16), 5);
                const __m256i sum = _mm256_sub_epi32(dotSuper(sb, a[r].q + b * QK_K), offset);
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(d * a[r].d[b]), _mm256_cvtepi32_ps(sum), acc[r]);
            }
        }
        finishK<R>(acc, nullptr, s);
    }
};

// block_q3_K (110 bytes): hmask[32], qs[64], scales[12] (sixteen six-bit scales, stored + 32), d (float16).
// Per 128 values (qs += 32), for j = 0..3: value 32j + l = ((qs[l] >> 2j) & 3) − (hmask[l] has bit 4h + j ?
// 0 : 4), times d · (scale − 32), one scale per 16 values. Codes here are the unsigned (2 bits | high bit << 2),
// and the −4 meets 4 · Σ scale · (sum of 16 codes).
struct KernelQ3_K {
    static constexpr ActKind kAct = ActKind::Q8_K;
    template <int R> static void dot(const uint8_t *w, int64_t in, const ActRow *a, float *s)
    {
        __m256 acc[R] = {};
        const __m256i low2 = _mm256_set1_epi8(3);
        SuperBlock sb;
        for (int64_t b = 0; b < in / QK_K; ++b, w += 110) {
            alignas(16) int8_t sc[16];
            unpackScalesQ3_K(w + 96, sc);
            const __m128i scales8 = _mm_load_si128(reinterpret_cast<const __m128i *>(sc));
            const __m256i scales16 = _mm256_cvtepi8_epi16(scales8);
            scalesPerSixteen(scales8, sb.scales);
            const __m256i hmask = load256(w);
            for (int h = 0; h < 2; ++h) {
                const __m256i bits = load256(w + 32 + 32 * h);
                for (int j = 0; j < 4; ++j)
                    sb.codes[4 * h + j] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 2 * j), low2),
                                                          bitAs(hmask, 1 << (4 * h + j), 4));
            }
            const float d = h2f(w + 108);
            for (int r = 0; r < R; ++r) {
                const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(load256(a[r].sums + b * 16), scales16), 2);
                const __m256i sum = _mm256_sub_epi32(dotSuper(sb, a[r].q + b * QK_K), offset);
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(d * a[r].d[b]), _mm256_cvtepi32_ps(sum), acc[r]);
            }
        }
        finishK<R>(acc, nullptr, s);
    }

    // The twelve bytes of six-bit scales as sixteen signed scales (dequantize_row_q3_K's kmask shuffle).
    static void unpackScalesQ3_K(const uint8_t *packed, int8_t *sc)
    {
        constexpr uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
        uint32_t aux[4];
        std::memcpy(aux, packed, 12);
        const uint32_t tmp = aux[2];
        aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
        aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
        aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
        aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
        std::memcpy(sc, aux, 16);
        for (int k = 0; k < 16; ++k)
            sc[k] = int8_t(sc[k] - 32);
    }
};

// block_q2_K (84 bytes): scales[16] (low nibble: scale, high nibble: minimum, one per 16 values), qs[64], d,
// dmin (float16). Per 128 values (qs += 32), for j = 0..3: value 32j + l = (qs[l] >> 2j) & 3, times
// d · scale − dmin · minimum.
struct KernelQ2_K {
    static constexpr ActKind kAct = ActKind::Q8_K;
    template <int R> static void dot(const uint8_t *w, int64_t in, const ActRow *a, float *s)
    {
        __m256 acc[R] = {};
        __m256 accMin[R] = {};
        const __m256i low2 = _mm256_set1_epi8(3);
        SuperBlock sb;
        for (int64_t b = 0; b < in / QK_K; ++b, w += 84) {
            const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i *>(w));
            const __m128i low4 = _mm_set1_epi8(0x0F);
            scalesPerSixteen(_mm_and_si128(packed, low4), sb.scales);
            const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), low4));
            for (int h = 0; h < 2; ++h) {
                const __m256i bits = load256(w + 16 + 32 * h);
                for (int j = 0; j < 4; ++j)
                    sb.codes[4 * h + j] = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * j), low2);
            }
            const float d = h2f(w + 80), dmin = h2f(w + 82);
            for (int r = 0; r < R; ++r) {
                const float dx = a[r].d[b];
                const __m256i sum = dotSuper(sb, a[r].q + b * QK_K);
                const __m256i minTerm = _mm256_madd_epi16(load256(a[r].sums + b * 16), mins16);
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(d * dx), _mm256_cvtepi32_ps(sum), acc[r]);
                accMin[r] = _mm256_fmadd_ps(_mm256_set1_ps(dmin * dx), _mm256_cvtepi32_ps(minTerm), accMin[r]);
            }
        }
        for (int r = 0; r < R; ++r)
            s[r] = hsum(acc[r]) - hsum(accMin[r]);
    }
};

// F32 / F16 / BF16 rows: eight weights at a time widened in registers and multiplied with x as it is.
struct WidenF32 {
    static constexpr int64_t kBytes = 4;
    static __m256 eight(const uint8_t *w, int64_t i) { return _mm256_loadu_ps(reinterpret_cast<const float *>(w) + i); }
    static float one(const uint8_t *w, int64_t i)
    {
        float v;
        std::memcpy(&v, w + 4 * i, 4);
        return v;
    }
};
struct WidenF16 {
    static constexpr int64_t kBytes = 2;
    static __m256 eight(const uint8_t *w, int64_t i)
    {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(w + 2 * i)));
    }
    static float one(const uint8_t *w, int64_t i) { return h2f(w + 2 * i); }
};
struct WidenBF16 { // bfloat16 is the upper half of a float32
    static constexpr int64_t kBytes = 2;
    static __m256 eight(const uint8_t *w, int64_t i)
    {
        const __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(w + 2 * i)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
    }
    static float one(const uint8_t *w, int64_t i)
    {
        uint16_t h;
        std::memcpy(&h, w + 2 * i, 2);
        return bfloat16ToFloat(h);
    }
};

template <int R, int K> void finish(const __m256 (&acc)[R][K], float *s)
{
    for (int r = 0; r < R; ++r) {
        __m256 sum = acc[r][0];
        for (int k = 1; k < K; ++k)
            sum = _mm256_add_ps(sum, acc[r][k]);
        s[r] = hsum(sum);
    }
}

template <class Widen> struct KernelFloat {
    static constexpr ActKind kAct = ActKind::Float;
    // Rows of x are float32 here: four of 4096 values would not fit L1 and stream from L2 for every weight
    // row. The driver takes the rows in chunks of this many values (16 KiB for four rows of x).
    static constexpr int64_t kChunk = 1024;
    static constexpr int64_t kValueBytes = Widen::kBytes;
    template <int R> static void dot(const uint8_t *w, int64_t in, const ActRow *a, float *s)
    {
        constexpr int K = R == 1 ? 4 : 2; // independent accumulators per row: enough to hide the FMA latency
        __m256 acc[R][K] = {};
        int64_t i = 0;
        for (; i + 8 * K <= in; i += 8 * K)
            for (int k = 0; k < K; ++k) {
                const __m256 wv = Widen::eight(w, i + 8 * k);
                for (int r = 0; r < R; ++r)
                    acc[r][k] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(a[r].x + i + 8 * k), acc[r][k]);
            }
        for (; i + 8 <= in; i += 8) {
            const __m256 wv = Widen::eight(w, i);
            for (int r = 0; r < R; ++r)
                acc[r][0] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(a[r].x + i), acc[r][0]);
        }
        finish<R, K>(acc, s);
        for (; i < in; ++i) {
            const float wi = Widen::one(w, i);
            for (int r = 0; r < R; ++r)
                s[r] += wi * a[r].x[i];
        }
    }
};

// ---- the driver --------------------------------------------------------------------------------------------

// Weight rows [r0, r1) against every row of x: groups of weight rows that stay in cache, each met by the
// tiles of x in turn.
template <class Kernel> void multiplyRows(const Product &p, const Activations &act, int64_t r0, int64_t r1)
{
    const int64_t group = std::max<int64_t>(1, kGroupBytes / p.rowBytes);
    ActRow rows[kTile];
    float s[kTile];
    // One weight row against t rows of x, over values [k0, k0 + len) (the whole row but for chunked kernels).
    const auto dot = [&](int t, const uint8_t *w, int64_t len) {
        switch (t) {
        case 1: Kernel::template dot<1>(w, len, rows, s); break;
        case 2: Kernel::template dot<2>(w, len, rows, s); break;
        case 3: Kernel::template dot<3>(w, len, rows, s); break;
        default: Kernel::template dot<4>(w, len, rows, s); break;
        }
    };
    for (int64_t g0 = r0; g0 < r1; g0 += group) {
        const int64_t g1 = std::min(r1, g0 + group);
        for (int64_t i0 = 0; i0 < p.n; i0 += kTile) {
            const int t = int(std::min<int64_t>(kTile, p.n - i0));
            if constexpr (requires { Kernel::kChunk; }) {
                for (int64_t k0 = 0; k0 < p.in; k0 += Kernel::kChunk) {
                    const int64_t len = std::min(Kernel::kChunk, p.in - k0);
                    for (int k = 0; k < t; ++k)
                        rows[k].x = act.row(i0 + k).x + k0;
                    for (int64_t j = g0; j < g1; ++j) {
                        dot(t, p.w + j * p.rowBytes + k0 * Kernel::kValueBytes, len);
                        for (int k = 0; k < t; ++k)
                            p.y[(i0 + k) * p.out + j] = (k0 ? p.y[(i0 + k) * p.out + j] : 0.f) + s[k];
                    }
                }
            } else {
                for (int k = 0; k < t; ++k)
                    rows[k] = act.row(i0 + k);
                for (int64_t j = g0; j < g1; ++j) {
                    dot(t, p.w + j * p.rowBytes, p.in);
                    for (int k = 0; k < t; ++k)
                        p.y[(i0 + k) * p.out + j] = s[k];
                }
            }
        }
    }
}

template <class Kernel> void multiply(const Product &p, const float *x, int threads)
{
    const Activations act(Kernel::kAct, x, p.n, p.in, threads);
    parallelRanges(threads, p.out, rowGrain(p),
                   [&](int64_t r0, int64_t r1) { multiplyRows<Kernel>(p, act, r0, r1); });
}

// ---- interleaved rows (InterleavedRows) ---------------------------------------------------------------------
//
// A group of eight rows holds, per block of 32 values, the rows' scales d (eight float32), for Q4_1 / Q5_1 their
// minimums m (eight more), then their codes in chunks of 32 bytes: chunk c has four bytes of each row r at bytes
// 4r .. 4r + 3. Q4_0 / Q4_1: four chunks, byte i of row r in chunk c is the row's stored qs[4c + i] (values
// 4c + i in the low nibble, 16 + 4c + i in the high); Q8_0, Q5_0, Q5_1: eight chunks, byte i of row r in chunk c
// is the row's code 4c + i (Q5's five bits joined in one byte).

// The layout of a type: bytes per block of 32 values of one row as stored, and of eight rows interleaved.
struct Interleaving {
    int64_t storedBytes = 0, headerBytes = 0, codeBytes = 0; // codeBytes: per row and block (16 or 32)
    bool withMin = false;
    int64_t groupBlockBytes() const { return headerBytes + 8 * codeBytes; }
};

Interleaving interleavingOf(uint32_t type)
{
    switch (type) {
    case Q4_0: return {18, 32, 16, false};
    case Q4_1: return {20, 64, 16, true};
    case Q5_0: return {22, 32, 32, false};
    case Q5_1: return {24, 64, 32, true};
    case Q8_0: return {34, 32, 32, false};
    default: return {};
    }
}

inline __m256i broadcast4(const int8_t *p)
{
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

// acc[r] += the eight rows' block products (integer sums `dot`, eight int32) scaled by d_w · d_x, plus for the
// formats with a minimum m_w · d_x · Σ x codes; for the symmetric unsigned codes (Q4_0, Q5_0) the offset
// `bias` (8, 16) meets Σ x codes: Σ (q − bias) x = Σ q x − bias · Σ x.
template <bool kMin>
inline void addBlock(__m256 &acc, __m256i dot, const uint8_t *header, const ActRow &a, int64_t b, int bias)
{
    const __m256 dx = _mm256_broadcast_ss(a.d + b);
    const __m256 dw = _mm256_loadu_ps(reinterpret_cast<const float *>(header));
    if constexpr (kMin) {
        acc = _mm256_fmadd_ps(_mm256_mul_ps(dw, dx), _mm256_cvtepi32_ps(dot), acc);
        const __m256 mw = _mm256_loadu_ps(reinterpret_cast<const float *>(header) + 8);
        acc = _mm256_fmadd_ps(mw, _mm256_set1_ps(a.d[b] * float(a.sums[b])), acc);
    } else {
        if (bias)
            dot = _mm256_sub_epi32(dot, _mm256_set1_epi32(bias * a.sums[b]));
        acc = _mm256_fmadd_ps(_mm256_mul_ps(dw, dx), _mm256_cvtepi32_ps(dot), acc);
    }
}

// Eight rows' products with block after block of R rows of x: acc[r] lane j = row j's product with x row r.
// Q4_0 / Q4_1: unsigned nibbles; a block's sixteen maddubs add in int16 (a pair is at most 2 · 15 · 127 = 3810,
// eight of them 30480 < 32768).
template <int R, bool kMin> void interleavedNibbles(const uint8_t *g, int64_t blocks, const ActRow *a, __m256 *acc)
{
    constexpr int64_t kHeader = kMin ? 64 : 32;
    const __m256i low = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    for (int r = 0; r < R; ++r)
        acc[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < blocks; ++b, g += kHeader + 8 * 16) {
        __m256i sum[R];
        for (int r = 0; r < R; ++r)
            sum[r] = _mm256_setzero_si256();
        for (int c = 0; c < 4; ++c) {
            const __m256i v = load256(g + kHeader + 32 * c);
            const __m256i lo = _mm256_and_si256(v, low), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
            for (int r = 0; r < R; ++r) {
                const int8_t *q = a[r].q + b * QK + 4 * c;
                sum[r] = _mm256_add_epi16(sum[r], _mm256_maddubs_epi16(lo, broadcast4(q)));
                sum[r] = _mm256_add_epi16(sum[r], _mm256_maddubs_epi16(hi, broadcast4(q + 16)));
            }
        }
        for (int r = 0; r < R; ++r)
            addBlock<kMin>(acc[r], _mm256_madd_epi16(sum[r], ones), g, a[r], b, 8);
    }
}

// Q5_0 / Q5_1: unsigned five-bit codes in bytes; four maddubs add in int16 (2 · 31 · 127 = 7874 a pair, four of
// them 31496), so each half of the block widens once.
template <int R, bool kMin> void interleavedFive(const uint8_t *g, int64_t blocks, const ActRow *a, __m256 *acc)
{
    constexpr int64_t kHeader = kMin ? 64 : 32;
    const __m256i ones = _mm256_set1_epi16(1);
    for (int r = 0; r < R; ++r)
        acc[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < blocks; ++b, g += kHeader + 8 * 32) {
        __m256i dot[R];
        for (int r = 0; r < R; ++r)
            dot[r] = _mm256_setzero_si256();
        for (int half = 0; half < 2; ++half) {
            __m256i sum[R];
            for (int r = 0; r < R; ++r)
                sum[r] = _mm256_setzero_si256();
            for (int c = 4 * half; c < 4 * half + 4; ++c) {
                const __m256i v = load256(g + kHeader + 32 * c);
                for (int r = 0; r < R; ++r)
                    sum[r] = _mm256_add_epi16(sum[r], _mm256_maddubs_epi16(v, broadcast4(a[r].q + b * QK + 4 * c)));
            }
            for (int r = 0; r < R; ++r)
                dot[r] = _mm256_add_epi32(dot[r], _mm256_madd_epi16(sum[r], ones));
        }
        for (int r = 0; r < R; ++r)
            addBlock<kMin>(acc[r], dot[r], g, a[r], b, 16);
    }
}

// Q8_0: signed codes; maddubs wants one unsigned operand (|w| against x with w's sign), and each product pair
// widens at once.
template <int R> void interleavedQ8_0(const uint8_t *g, int64_t blocks, const ActRow *a, __m256 *acc)
{
    const __m256i ones = _mm256_set1_epi16(1);
    for (int r = 0; r < R; ++r)
        acc[r] = _mm256_setzero_ps();
    for (int64_t b = 0; b < blocks; ++b, g += 32 + 8 * 32) {
        __m256i sum[R];
        for (int r = 0; r < R; ++r)
            sum[r] = _mm256_setzero_si256();
        for (int c = 0; c < 8; ++c) {
            const __m256i w = load256(g + 32 + 32 * c);
            const __m256i absW = _mm256_sign_epi8(w, w);
            for (int r = 0; r < R; ++r) {
                const __m256i x = _mm256_sign_epi8(broadcast4(a[r].q + b * QK + 4 * c), w);
                sum[r] = _mm256_add_epi32(sum[r], _mm256_madd_epi16(_mm256_maddubs_epi16(absW, x), ones));
            }
        }
        for (int r = 0; r < R; ++r)
            addBlock<false>(acc[r], sum[r], g, a[r], b, 0);
    }
}

void multiplyInterleaved(uint32_t type, const uint8_t *data, int64_t out, int64_t in, const float *x, int64_t n,
                         float *y, int threads)
{
    const Interleaving layout = interleavingOf(type);
    const int64_t blocks = in / QK, groupBytes = blocks * layout.groupBlockBytes();
    const Activations act(type == Q8_0 ? ActKind::Q8_0 : ActKind::Q8_1, x, n, in, threads);
    using Kernel = void (*)(const uint8_t *, int64_t, const ActRow *, __m256 *);
    static constexpr Kernel kQ4_0[] = {interleavedNibbles<1, false>, interleavedNibbles<2, false>,
                                       interleavedNibbles<3, false>, interleavedNibbles<4, false>};
    static constexpr Kernel kQ4_1[] = {interleavedNibbles<1, true>, interleavedNibbles<2, true>,
                                       interleavedNibbles<3, true>, interleavedNibbles<4, true>};
    static constexpr Kernel kQ5_0[] = {interleavedFive<1, false>, interleavedFive<2, false>, interleavedFive<3, false>,
                                       interleavedFive<4, false>};
    static constexpr Kernel kQ5_1[] = {interleavedFive<1, true>, interleavedFive<2, true>, interleavedFive<3, true>,
                                       interleavedFive<4, true>};
    static constexpr Kernel kQ8_0[] = {interleavedQ8_0<1>, interleavedQ8_0<2>, interleavedQ8_0<3>, interleavedQ8_0<4>};
    // By the rows of x in the tile.
    const Kernel *kernels = type == Q4_0 ? kQ4_0 : type == Q4_1 ? kQ4_1 : type == Q5_0 ? kQ5_0 : type == Q5_1 ? kQ5_1 : kQ8_0;
    const int64_t groups = (out + 7) / 8;
    parallelRanges(threads, groups, std::max<int64_t>(1, kMinWorkPerRange / (8 * in * n)), [&](int64_t g0, int64_t g1) {
        ActRow rows[kTile];
        __m256 acc[kTile];
        for (int64_t g = g0; g < g1; ++g) {
            const uint8_t *group = data + g * groupBytes;
            const int64_t valid = std::min<int64_t>(8, out - 8 * g);
            for (int64_t i0 = 0; i0 < n; i0 += kTile) {
                const int t = int(std::min<int64_t>(kTile, n - i0));
                for (int k = 0; k < t; ++k)
                    rows[k] = act.row(i0 + k);
                kernels[t - 1](group, blocks, rows, acc);
                for (int k = 0; k < t; ++k) {
                    float *yk = y + (i0 + k) * out + 8 * g;
                    if (valid == 8) {
                        _mm256_storeu_ps(yk, acc[k]);
                    } else {
                        alignas(32) float lanes[8];
                        _mm256_store_ps(lanes, acc[k]);
                        std::copy(lanes, lanes + valid, yk);
                    }
                }
            }
        }
    });
}

// Any other dequantizable type (Q8_K): each weight row widened by dequantizeRow once, then the float kernel
// against every tile of x.
void multiplyWidened(uint32_t type, const Product &p, const float *x, int threads)
{
    const Activations act(ActKind::Float, x, p.n, p.in, threads);
    parallelRanges(threads, p.out, rowGrain(p), [&](int64_t r0, int64_t r1) {
        auto row = std::make_unique_for_overwrite<float[]>(size_t(p.in));
        const uint8_t *wrow = reinterpret_cast<const uint8_t *>(row.get());
        ActRow rows[kTile];
        float s[kTile];
        for (int64_t j = r0; j < r1; ++j) {
            dequantizeRow(type, p.w + j * p.rowBytes, row.get(), p.in);
            for (int64_t i0 = 0; i0 < p.n; i0 += kTile) {
                const int t = int(std::min<int64_t>(kTile, p.n - i0));
                for (int k = 0; k < t; ++k)
                    rows[k] = act.row(i0 + k);
                switch (t) {
                case 1: KernelFloat<WidenF32>::dot<1>(wrow, p.in, rows, s); break;
                case 2: KernelFloat<WidenF32>::dot<2>(wrow, p.in, rows, s); break;
                case 3: KernelFloat<WidenF32>::dot<3>(wrow, p.in, rows, s); break;
                default: KernelFloat<WidenF32>::dot<4>(wrow, p.in, rows, s); break;
                }
                for (int k = 0; k < t; ++k)
                    p.y[(i0 + k) * p.out + j] = s[k];
            }
        }
    });
}

#else // not x86-64-v3 (a build with CW_NATIVE_ARCH=OFF)

// The same contract computed plainly, for a build without AVX2 / FMA / F16C: the activations rounded as the
// kernels round them, each weight row widened by dequantizeRow, the sums in double. Correct, not fast.
enum class Rounding { None, Q8_0, Q8_K };

Rounding roundingOf(uint32_t type)
{
    switch (type) {
    case Q8_0: case Q4_0: case Q4_1: case Q5_0: case Q5_1: return Rounding::Q8_0;
    case Q2_K: case Q3_K: case Q4_K: case Q5_K: case Q6_K: return Rounding::Q8_K;
    default: return Rounding::None;
    }
}

// x as the 8-bit blocks represent it: d · code.
void roundRow(Rounding rounding, const float *x, int64_t in, float *xr)
{
    if (rounding == Rounding::None) {
        std::copy(x, x + in, xr);
        return;
    }
    const int64_t block = rounding == Rounding::Q8_0 ? QK : QK_K;
    for (int64_t b = 0; b < in; b += block) {
        float amax = 0, max = 0;
        for (int64_t k = b; k < b + block; ++k)
            if (std::fabs(x[k]) > amax) {
                amax = std::fabs(x[k]);
                max = x[k];
            }
        if (rounding == Rounding::Q8_0) {
            const float d = float16ToFloat(floatToFloat16(amax / 127.f));
            const float id = amax != 0.f ? 127.f / amax : 0.f;
            for (int64_t k = b; k < b + block; ++k)
                xr[k] = d * std::nearbyint(x[k] * id);
        } else {
            const float iscale = amax != 0.f ? -127.f / max : 0.f;
            const float d = amax != 0.f ? 1.f / iscale : 0.f;
            for (int64_t k = b; k < b + block; ++k)
                xr[k] = d * std::min(127.f, std::nearbyint(iscale * x[k]));
        }
    }
}

void multiplyPlainly(uint32_t type, const Product &p, const float *x, int threads)
{
    std::vector<float> xr(size_t(p.n * p.in));
    for (int64_t i = 0; i < p.n; ++i)
        roundRow(roundingOf(type), x + i * p.in, p.in, xr.data() + i * p.in);
    parallelRanges(threads, p.out, rowGrain(p), [&](int64_t r0, int64_t r1) {
        std::vector<float> row(size_t(p.in));
        for (int64_t j = r0; j < r1; ++j) {
            dequantizeRow(type, p.w + j * p.rowBytes, row.data(), p.in);
            for (int64_t i = 0; i < p.n; ++i) {
                double sum = 0;
                for (int64_t k = 0; k < p.in; ++k)
                    sum += double(row[size_t(k)]) * double(xr[size_t(i * p.in + k)]);
                p.y[i * p.out + j] = float(sum);
            }
        }
    });
}

#endif

} // namespace

void gemm(uint32_t type, const uint8_t *w, int64_t out, int64_t in, const float *x, int64_t n, float *y,
          int threads)
{
    const TypeTraits *traits = typeTraits(type);
    if (!traits)
        throw Error("ggml has no tensor type " + std::to_string(type));
    if (!traits->dequantizable)
        throw Error("cannot multiply by a matrix of type " + typeName(type));
    if (out < 0 || in < 0 || n < 0)
        throw Error("cannot multiply " + std::to_string(n) + " x " + std::to_string(in) + " by " +
                    std::to_string(out) + " x " + std::to_string(in));
    const Product p{w, rowBytes(type, in), out, in, n, y}; // rowBytes: cw::Error for rows of partial blocks
    if (out == 0 || n == 0)
        return;
    if (in == 0) {
        std::fill(y, y + n * out, 0.f);
        return;
    }
    threads = resolveThreads(threads);
#if !CW_GGML_KERNELS_AVX2
    return multiplyPlainly(type, p, x, threads);
#else
    switch (type) {
    case F32: return multiply<KernelFloat<WidenF32>>(p, x, threads);
    case F16: return multiply<KernelFloat<WidenF16>>(p, x, threads);
    case BF16: return multiply<KernelFloat<WidenBF16>>(p, x, threads);
    case Q8_0: return multiply<KernelQ8_0>(p, x, threads);
    case Q4_0: return multiply<KernelQ4_0>(p, x, threads);
    case Q4_1: return multiply<KernelQ4_1>(p, x, threads);
    case Q5_0: return multiply<KernelQ5_0>(p, x, threads);
    case Q5_1: return multiply<KernelQ5_1>(p, x, threads);
    case Q2_K: return multiply<KernelQ2_K>(p, x, threads);
    case Q3_K: return multiply<KernelQ3_K>(p, x, threads);
    case Q4_K: return multiply<KernelQ4_K>(p, x, threads);
    case Q5_K: return multiply<KernelQ5_K>(p, x, threads);
    case Q6_K: return multiply<KernelQ6_K>(p, x, threads);
    default: return multiplyWidened(type, p, x, threads);
    }
#endif
}

bool InterleavedRows::supports(uint32_t type)
{
    return type == Q4_0 || type == Q4_1 || type == Q5_0 || type == Q5_1 || type == Q8_0;
}

InterleavedRows::InterleavedRows(uint32_t type, const uint8_t *w, int64_t out, int64_t in)
    : m_type(type), m_out(out), m_in(in)
{
    if (!supports(type))
        throw Error("no interleaved layout for " + typeName(type));
    if (out < 0 || in < 0)
        throw Error("no matrix of " + std::to_string(out) + " x " + std::to_string(in));
    const int64_t rowBytesIn = rowBytes(type, in); // cw::Error for rows of partial blocks
#if CW_GGML_KERNELS_AVX2
    const Interleaving layout = interleavingOf(type);
    const int64_t blocks = in / QK, blockOut = layout.groupBlockBytes(), groups = (out + 7) / 8;
    m_bytes = groups * blocks * blockOut;
    m_data = std::make_unique<uint8_t[]>(size_t(m_bytes)); // zeros: the rows past `out`
    for (int64_t j = 0; j < out; ++j) {
        const int64_t g = j / 8, r = j % 8;
        for (int64_t b = 0; b < blocks; ++b) {
            const uint8_t *src = w + j * rowBytesIn + b * layout.storedBytes;
            uint8_t *dst = m_data.get() + (g * blocks + b) * blockOut;
            const float d = h2f(src);
            std::memcpy(dst + 4 * r, &d, 4);
            if (layout.withMin) {
                const float m = h2f(src + 2);
                std::memcpy(dst + 32 + 4 * r, &m, 4);
            }
            // The row's 16 or 32 code bytes in the interleaved order (four per chunk).
            uint8_t codes[32];
            const uint8_t *stored = src + (layout.withMin ? 4 : 2);
            if (type == Q5_0 || type == Q5_1) // qh[4], then qs[16] as in Q4_0
                _mm256_storeu_si256(reinterpret_cast<__m256i *>(codes),
                                    _mm256_or_si256(nibbles32(stored + 4), fifthBits32(stored)));
            else
                std::memcpy(codes, stored, size_t(layout.codeBytes));
            for (int64_t c = 0; c < layout.codeBytes / 4; ++c)
                std::memcpy(dst + layout.headerBytes + 32 * c + 4 * r, codes + 4 * c, 4);
        }
    }
#else
    m_bytes = out * rowBytesIn;
    m_data = std::make_unique_for_overwrite<uint8_t[]>(size_t(m_bytes));
    std::memcpy(m_data.get(), w, size_t(m_bytes));
#endif
}

InterleavedRows::~InterleavedRows() = default;

void InterleavedRows::gemm(const float *x, int64_t n, float *y, int threads) const
{
    if (n < 0)
        throw Error("cannot multiply " + std::to_string(n) + " x " + std::to_string(m_in) + " by " +
                    std::to_string(m_out) + " x " + std::to_string(m_in));
#if CW_GGML_KERNELS_AVX2
    if (m_out == 0 || n == 0)
        return;
    if (m_in == 0) {
        std::fill(y, y + n * m_out, 0.f);
        return;
    }
    multiplyInterleaved(m_type, m_data.get(), m_out, m_in, x, n, y, resolveThreads(threads));
#else
    ggml::gemm(m_type, m_data.get(), m_out, m_in, x, n, y, threads);
#endif
}

} // namespace cw::ggml
