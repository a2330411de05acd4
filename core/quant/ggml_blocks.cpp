// ggml's block formats, in the order and precision of ggml-quants.c. Every float expression below keeps
// llama.cpp's association and operand types (float, never double; ints converted where C converts them), and
// the file is compiled with -ffp-contract=off (core/CMakeLists.txt): llama.cpp's reference code is built
// without FMA, and one fused multiply-add changes a rounding, a level, and so the bytes.
#include "core/quant/ggml_blocks.h"

#include <algorithm>
#include <cctype>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "core/base/error.h"
#include "core/base/parallel.h"
#include "core/base/tensor.h"

namespace cw::ggml {

namespace {

constexpr int64_t QK_K = 256;
constexpr float kGroupMaxEps = 1e-15f; // GROUP_MAX_EPS: a group below it is all zero

const TypeTraits kTraits[] = {
    /* 0 */ {"F32", 1, 4, true, true},
    /* 1 */ {"F16", 1, 2, true, true},
    /* 2 */ {"Q4_0", 32, 18, true, true},
    /* 3 */ {"Q4_1", 32, 20, true, true},
    /* 4 */ {},
    /* 5 */ {},
    /* 6 */ {"Q5_0", 32, 22, true, true},
    /* 7 */ {"Q5_1", 32, 24, true, true},
    /* 8 */ {"Q8_0", 32, 34, true, true},
    /* 9 */ {"Q8_1", 32, 36, false, false},
    /* 10 */ {"Q2_K", QK_K, 84, true, true},
    /* 11 */ {"Q3_K", QK_K, 110, true, true},
    /* 12 */ {"Q4_K", QK_K, 144, true, true},
    /* 13 */ {"Q5_K", QK_K, 176, true, true},
    /* 14 */ {"Q6_K", QK_K, 210, true, true},
    /* 15 */ {"Q8_K", QK_K, 292, true, false},
    /* 16 */ {"IQ2_XXS", QK_K, 66, false, false},
    /* 17 */ {"IQ2_XS", QK_K, 74, false, false},
    /* 18 */ {"IQ3_XXS", QK_K, 98, false, false},
    /* 19 */ {"IQ1_S", QK_K, 50, false, false},
    /* 20 */ {"IQ4_NL", 32, 18, false, false},
    /* 21 */ {"IQ3_S", QK_K, 110, false, false},
    /* 22 */ {"IQ2_S", QK_K, 82, false, false},
    /* 23 */ {"IQ4_XS", QK_K, 136, false, false},
    /* 24 */ {"I8", 1, 1, false, false},
    /* 25 */ {"I16", 1, 2, false, false},
    /* 26 */ {"I32", 1, 4, false, false},
    /* 27 */ {"I64", 1, 8, false, false},
    /* 28 */ {"F64", 1, 8, false, false},
    /* 29 */ {"IQ1_M", QK_K, 56, false, false},
    /* 30 */ {"BF16", 1, 2, true, true},
    /* 31-33: removed Q4_0_4_4 / 4_8 / 8_8 */ {}, {}, {},
    /* 34 */ {"TQ1_0", QK_K, 54, false, false},
    /* 35 */ {"TQ2_0", QK_K, 66, false, false},
    /* 36-38: removed IQ4_NL_4_4 / 4_8 / 8_8 */ {}, {}, {},
    /* 39 */ {"MXFP4", 32, 17, false, false},
};

inline float h2f(const uint8_t *p)
{
    uint16_t bits;
    std::memcpy(&bits, p, 2);
    return float16ToFloat(bits);
}

// GGML_FP32_TO_FP16 (ggml_compute_fp32_to_fp16): round to nearest even, subnormals kept, overflow to Inf, and
// every NaN the quiet NaN 0x7e00 with its sign (the base converter keeps the top of a NaN's payload instead).
inline uint16_t f2h(float x)
{
    if (std::isnan(x)) {
        uint32_t bits;
        std::memcpy(&bits, &x, 4);
        return uint16_t(((bits >> 16) & 0x8000) | 0x7e00);
    }
    return floatToFloat16(x);
}

inline void putHalf(uint8_t *p, float x)
{
    const uint16_t h = f2h(x);
    std::memcpy(p, &h, 2);
}

// nearest_int: the float's integer part read from the mantissa after adding 1.5 * 2^23, which rounds to
// nearest even (for |x| <= 2^22; beyond, the same garbage as llama.cpp's).
inline int nearestInt(float x)
{
    const float v = x + 12582912.f;
    int32_t i;
    std::memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

// ggml's MAX / MIN macros: the second operand when the comparison is false (NaN included).
inline float fmaxMacro(float a, float b) { return a > b ? a : b; }

// C's float to small-integer conversions as x86-64 performs them: truncate to int32, keep the low byte.
inline int8_t truncInt8(float x) { return int8_t(int32_t(x)); }
inline uint8_t truncUInt8(float x) { return uint8_t(int32_t(x)); }

// ---- dequantization, block by block, in the order and precision of ggml-quants.c -------------------------

void deqQ4_0(const uint8_t *b, float *y)
{
    const float d = h2f(b);
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; ++j) {
        y[j] = float((qs[j] & 0x0F) - 8) * d;
        y[j + 16] = float((qs[j] >> 4) - 8) * d;
    }
}

void deqQ4_1(const uint8_t *b, float *y)
{
    const float d = h2f(b), m = h2f(b + 2);
    const uint8_t *qs = b + 4;
    for (int j = 0; j < 16; ++j) {
        y[j] = float(qs[j] & 0x0F) * d + m;
        y[j + 16] = float(qs[j] >> 4) * d + m;
    }
}

void deqQ5_0(const uint8_t *b, float *y)
{
    const float d = h2f(b);
    uint32_t qh;
    std::memcpy(&qh, b + 2, 4);
    const uint8_t *qs = b + 6;
    for (int j = 0; j < 16; ++j) {
        const uint8_t xh0 = uint8_t(((qh >> (j + 0)) << 4) & 0x10);
        const uint8_t xh1 = uint8_t((qh >> (j + 12)) & 0x10);
        const int32_t x0 = ((qs[j] & 0x0F) | xh0) - 16;
        const int32_t x1 = ((qs[j] >> 4) | xh1) - 16;
        y[j] = float(x0) * d;
        y[j + 16] = float(x1) * d;
    }
}

void deqQ5_1(const uint8_t *b, float *y)
{
    const float d = h2f(b), m = h2f(b + 2);
    uint32_t qh;
    std::memcpy(&qh, b + 4, 4);
    const uint8_t *qs = b + 8;
    for (int j = 0; j < 16; ++j) {
        const uint8_t xh0 = uint8_t(((qh >> (j + 0)) << 4) & 0x10);
        const uint8_t xh1 = uint8_t((qh >> (j + 12)) & 0x10);
        const int x0 = (qs[j] & 0x0F) | xh0;
        const int x1 = (qs[j] >> 4) | xh1;
        y[j] = float(x0) * d + m;
        y[j + 16] = float(x1) * d + m;
    }
}

void deqQ8_0(const uint8_t *b, float *y)
{
    const float d = h2f(b);
    const int8_t *qs = reinterpret_cast<const int8_t *>(b + 2);
    for (int j = 0; j < 32; ++j)
        y[j] = float(qs[j]) * d;
}

// block_q2_K: scales[16], qs[64], d, dmin
void deqQ2_K(const uint8_t *b, float *y)
{
    const uint8_t *scales = b, *q = b + 16;
    const float d = h2f(b + 80), min = h2f(b + 82);
    int is = 0;
    for (int n = 0; n < QK_K; n += 128) {
        int shift = 0;
        for (int j = 0; j < 4; ++j) {
            uint8_t sc = scales[is++];
            float dl = d * float(sc & 0xF), ml = min * float(sc >> 4);
            for (int l = 0; l < 16; ++l)
                *y++ = dl * float(int8_t((q[l] >> shift) & 3)) - ml;
            sc = scales[is++];
            dl = d * float(sc & 0xF);
            ml = min * float(sc >> 4);
            for (int l = 0; l < 16; ++l)
                *y++ = dl * float(int8_t((q[l + 16] >> shift) & 3)) - ml;
            shift += 2;
        }
        q += 32;
    }
}

// block_q3_K's sixteen six-bit scales (stored + 32) from their 12 bytes.
void scalesQ3_K(const uint8_t *b, int8_t *scales)
{
    constexpr uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
    uint32_t aux[4];
    std::memcpy(aux, b + 96, 12);
    const uint32_t tmp = aux[2];
    aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
    aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
    aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
    aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
    std::memcpy(scales, aux, 16);
}

// block_q3_K: hmask[32], qs[64], scales[12], d
void deqQ3_K(const uint8_t *b, float *y)
{
    const uint8_t *hm = b, *q = b + 32;
    const float dAll = h2f(b + 108);
    int8_t scales[16];
    scalesQ3_K(b, scales);
    int is = 0;
    uint8_t m = 1;
    for (int n = 0; n < QK_K; n += 128) {
        int shift = 0;
        for (int j = 0; j < 4; ++j) {
            float dl = dAll * float(scales[is++] - 32);
            for (int l = 0; l < 16; ++l)
                *y++ = dl * float(int8_t((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
            dl = dAll * float(scales[is++] - 32);
            for (int l = 0; l < 16; ++l)
                *y++ = dl * float(int8_t((q[l + 16] >> shift) & 3) - ((hm[l + 16] & m) ? 0 : 4));
            shift += 2;
            m = uint8_t(m << 1);
        }
        q += 32;
    }
}

inline void scaleMinK4(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = uint8_t((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = uint8_t((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

// block_q4_K: d, dmin, scales[12], qs[128]
void deqQ4_K(const uint8_t *b, float *y)
{
    const float d = h2f(b), min = h2f(b + 2);
    const uint8_t *scales = b + 4, *q = b + 16;
    int is = 0;
    uint8_t sc, m;
    for (int j = 0; j < QK_K; j += 64) {
        scaleMinK4(is + 0, scales, &sc, &m);
        const float d1 = d * float(sc), m1 = min * float(m);
        scaleMinK4(is + 1, scales, &sc, &m);
        const float d2 = d * float(sc), m2 = min * float(m);
        for (int l = 0; l < 32; ++l)
            *y++ = d1 * float(q[l] & 0xF) - m1;
        for (int l = 0; l < 32; ++l)
            *y++ = d2 * float(q[l] >> 4) - m2;
        q += 32;
        is += 2;
    }
}

// block_q5_K: d, dmin, scales[12], qh[32], qs[128]
void deqQ5_K(const uint8_t *b, float *y)
{
    const float d = h2f(b), min = h2f(b + 2);
    const uint8_t *scales = b + 4, *qh = b + 16, *ql = b + 48;
    int is = 0;
    uint8_t sc, m, u1 = 1, u2 = 2;
    for (int j = 0; j < QK_K; j += 64) {
        scaleMinK4(is + 0, scales, &sc, &m);
        const float d1 = d * float(sc), m1 = min * float(m);
        scaleMinK4(is + 1, scales, &sc, &m);
        const float d2 = d * float(sc), m2 = min * float(m);
        for (int l = 0; l < 32; ++l)
            *y++ = d1 * float((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
        for (int l = 0; l < 32; ++l)
            *y++ = d2 * float((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
        ql += 32;
        is += 2;
        u1 = uint8_t(u1 << 2);
        u2 = uint8_t(u2 << 2);
    }
}

// block_q6_K: ql[128], qh[64], scales[16] (int8), d
void deqQ6_K(const uint8_t *b, float *y)
{
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = reinterpret_cast<const int8_t *>(b + 192);
    const float d = h2f(b + 208);
    for (int n = 0; n < QK_K; n += 128) {
        for (int l = 0; l < 32; ++l) {
            const int is = l / 16;
            const int8_t q1 = int8_t(((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
            const int8_t q2 = int8_t(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
            const int8_t q3 = int8_t(((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            const int8_t q4 = int8_t(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            y[l + 0] = d * float(sc[is + 0]) * float(q1);
            y[l + 32] = d * float(sc[is + 2]) * float(q2);
            y[l + 64] = d * float(sc[is + 4]) * float(q3);
            y[l + 96] = d * float(sc[is + 6]) * float(q4);
        }
        y += 128;
        ql += 64;
        qh += 32;
        sc += 8;
    }
}

// block_q8_K: d (float32), qs[256] (int8), bsums[16] (int16)
void deqQ8_K(const uint8_t *b, float *y)
{
    float d;
    std::memcpy(&d, b, 4);
    const int8_t *qs = reinterpret_cast<const int8_t *>(b + 4);
    for (int j = 0; j < QK_K; ++j)
        y[j] = d * float(qs[j]);
}

// ---- the level searches of ggml-quants.c --------------------------------------------------------------------

// make_qx_quants with rmse_type 1 (the only one the quantizers below use): symmetric levels
// [-nmax, nmax - 1], stored + nmax in L; the scale that minimises the weighted squared error over 19 trial
// scales around nmax / max. Weights: qw, or x^2 when qw is null.
float makeQxQuants(int n, int nmax, const float *x, int8_t *L, const float *qw)
{
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < kGroupMaxEps) {
        std::fill(L, L + n, int8_t(0));
        return 0.f;
    }
    float iscale = float(-nmax) / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearestInt(iscale * x[i]);
        l = std::max(-nmax, std::min(nmax - 1, l));
        L[i] = int8_t(l + nmax);
        const float w = qw ? qw[i] : x[i] * x[i];
        sumlx += w * x[i] * float(l);
        suml2 += w * float(l) * float(l);
    }
    float scale = suml2 != 0.f ? sumlx / suml2 : 0.f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0)
            continue;
        iscale = -(float(nmax) + 0.1f * float(is)) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearestInt(iscale * x[i]);
            l = std::max(-nmax, std::min(nmax - 1, l));
            const float w = qw ? qw[i] : x[i] * x[i];
            sumlx += w * x[i] * float(l);
            suml2 += w * float(l) * float(l);
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) {
                const int l = nearestInt(iscale * x[i]);
                L[i] = int8_t(nmax + std::max(-nmax, std::min(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// make_q3_quants with do_rmse (Q3_K's reference): levels [-nmax, nmax - 1] from nmax / max, then up to five
// passes moving one level at a time while the x^2-weighted fit improves. L holds level + nmax, except for an
// all-zero group (0).
float makeQ3Quants(int n, int nmax, const float *x, int8_t *L)
{
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < kGroupMaxEps) {
        std::fill(L, L + n, int8_t(0));
        return 0.f;
    }
    const float iscale = float(-nmax) / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearestInt(iscale * x[i]);
        l = std::max(-nmax, std::min(nmax - 1, l));
        L[i] = int8_t(l);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * float(l);
        suml2 += w * float(l) * float(l);
    }
    for (int itry = 0; itry < 5; ++itry) {
        int changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * float(L[i]);
            if (slx > 0) {
                float sl2 = suml2 - w * float(L[i]) * float(L[i]);
                int newL = nearestInt(x[i] * sl2 / slx);
                newL = std::max(-nmax, std::min(nmax - 1, newL));
                if (newL != L[i]) {
                    slx += w * x[i] * float(newL);
                    sl2 += w * float(newL) * float(newL);
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = int8_t(newL);
                        sumlx = slx;
                        suml2 = sl2;
                        ++changed;
                    }
                }
            }
        }
        if (!changed)
            break;
    }
    for (int i = 0; i < n; ++i)
        L[i] = int8_t(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// make_qkx2_quants / make_qkx3_quants (the same computation when weights are given, as they always are
// here): levels [0, nmax] over [min, max] with min <= 0, the scale and offset refit by weighted least squares
// over nstep + 1 trial scales; the weighted |error| (useMad) or squared error decides. *theMin: -offset.
float makeQkxQuants(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *theMin,
                    uint8_t *Laux, float rmin, float rdelta, int nstep, bool useMad)
{
    float min = x[0], max = x[0];
    float sumW = weights[0];
    float sumX = sumW * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min)
            min = x[i];
        if (x[i] > max)
            max = x[i];
        const float w = weights[i];
        sumW += w;
        sumX += w * x[i];
    }
    if (min > 0)
        min = 0;
    if (max == min) {
        std::fill(L, L + n, uint8_t(0));
        *theMin = -min;
        return 0.f;
    }
    float iscale = float(nmax) / (max - min);
    float scale = 1 / iscale;
    float bestError = 0;
    for (int i = 0; i < n; ++i) {
        const int l = nearestInt(iscale * (x[i] - min));
        L[i] = uint8_t(std::max(0, std::min(nmax, l)));
        float diff = scale * float(L[i]) + min - x[i];
        diff = useMad ? std::fabs(diff) : diff * diff;
        bestError += weights[i] * diff;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * float(is) + float(nmax)) / (max - min);
        float sumL = 0, sumL2 = 0, sumXL = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearestInt(iscale * (x[i] - min));
            l = std::max(0, std::min(nmax, l));
            Laux[i] = uint8_t(l);
            const float w = weights[i];
            sumL += w * float(l);
            sumL2 += w * float(l) * float(l);
            sumXL += w * float(l) * x[i];
        }
        const float D = sumW * sumL2 - sumL * sumL;
        if (D > 0) {
            float thisScale = (sumW * sumXL - sumX * sumL) / D;
            float thisMin = (sumL2 * sumX - sumL * sumXL) / D;
            if (thisMin > 0) {
                thisMin = 0;
                thisScale = sumXL / sumL2;
            }
            float error = 0;
            for (int i = 0; i < n; ++i) {
                float diff = thisScale * float(Laux[i]) + thisMin - x[i];
                diff = useMad ? std::fabs(diff) : diff * diff;
                error += weights[i] * diff;
            }
            if (error < bestError) {
                std::copy(Laux, Laux + n, L);
                bestError = error;
                scale = thisScale;
                min = thisMin;
            }
        }
    }
    *theMin = -min;
    return scale;
}

// make_qp_quants: non-negative values (a super-block's scales or mins) on levels [0, nmax], weighted by qw:
// nine trial scales, then up to five passes of single-level moves. L is uint8_t as in llama.cpp, so its
// wrap-around of a negative level is reproduced too.
float makeQpQuants(int n, int nmax, const float *x, uint8_t *L, const float *qw)
{
    float max = 0;
    for (int i = 0; i < n; ++i)
        max = fmaxMacro(max, x[i]);
    if (max < kGroupMaxEps) {
        std::fill(L, L + n, uint8_t(0));
        return 0.f;
    }
    float iscale = float(nmax) / max;
    for (int i = 0; i < n; ++i)
        L[i] = uint8_t(nearestInt(iscale * x[i]));
    const float scale = 1 / iscale;
    float bestMse = 0;
    for (int i = 0; i < n; ++i) {
        const float diff = x[i] - scale * float(L[i]);
        bestMse += qw[i] * diff * diff;
    }
    for (int is = -4; is <= 4; ++is) {
        if (is == 0)
            continue;
        const float iscaleIs = (0.1f * float(is) + float(nmax)) / max;
        const float scaleIs = 1 / iscaleIs;
        float mse = 0;
        for (int i = 0; i < n; ++i) {
            const int l = std::min(nmax, nearestInt(iscaleIs * x[i]));
            const float diff = x[i] - scaleIs * float(l);
            mse += qw[i] * diff * diff;
        }
        if (mse < bestMse) {
            bestMse = mse;
            iscale = iscaleIs;
        }
    }
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = std::min(nmax, nearestInt(iscale * x[i]));
        L[i] = uint8_t(l);
        const float w = qw[i];
        sumlx += w * x[i] * float(l);
        suml2 += w * float(l) * float(l);
    }
    for (int itry = 0; itry < 5; ++itry) {
        int changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = qw[i];
            float slx = sumlx - w * x[i] * float(L[i]);
            float sl2 = suml2 - w * float(L[i]) * float(L[i]);
            if (slx > 0 && sl2 > 0) {
                const int newL = std::min(nmax, nearestInt(x[i] * sl2 / slx));
                if (newL != L[i]) {
                    slx += w * x[i] * float(newL);
                    sl2 += w * float(newL) * float(newL);
                    if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = uint8_t(newL);
                        sumlx = slx;
                        suml2 = sl2;
                        ++changed;
                    }
                }
            }
        }
        if (!changed)
            break;
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// The importance weights of the legacy formats' weighted path: qw * sqrt(sigma2 + x^2), sigma2 the row's mean
// square.
float rowMeanSquare(const float *x, int64_t n)
{
    float sumX2 = 0;
    for (int64_t j = 0; j < n; ++j)
        sumX2 += x[j] * x[j];
    return sumX2 / float(n);
}

// ---- the 32-value formats -----------------------------------------------------------------------------------

// A 32-block's codes stored: the low four bits in qs (values 0..15 in the low nibbles, 16..31 in the high ones)
// and, for the 5-bit formats (qh not null), the fifth bits at qh, value j's in bit j.
void putCodes(const uint8_t *codes, uint8_t *qs, uint8_t *qh)
{
    uint32_t high = 0;
    for (int j = 0; j < 16; ++j) {
        qs[j] = uint8_t((codes[j] & 0x0F) | ((codes[j + 16] & 0x0F) << 4));
        high |= ((codes[j] & 0x10u) >> 4) << (j + 0);
        high |= ((codes[j + 16] & 0x10u) >> 4) << (j + 16);
    }
    if (qh)
        std::memcpy(qh, &high, 4);
}

// Q4_0 / Q5_0 without importance (quantize_row_q{4,5}_0_ref): d = max / -2^(bits-1), the value of largest
// magnitude on level 0; levels by truncation after adding half a level.
template <int kBits>
void quantizeSymmetricRef(const float *x, uint8_t *y, int64_t n)
{
    constexpr int half = 1 << (kBits - 1), top = (1 << kBits) - 1;
    constexpr int64_t bytes = kBits == 4 ? 18 : 22;
    for (int64_t b = 0; b < n / 32; ++b, x += 32, y += bytes) {
        float amax = 0, max = 0;
        for (int j = 0; j < 32; ++j) {
            const float v = x[j];
            if (amax < std::fabs(v)) {
                amax = std::fabs(v);
                max = v;
            }
        }
        const float d = max / float(-half);
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        putHalf(y, d);
        uint8_t codes[32];
        for (int j = 0; j < 32; ++j)
            codes[j] = uint8_t(std::min<int>(top, truncInt8(x[j] * id + (float(half) + 0.5f))));
        putCodes(codes, y + (kBits == 4 ? 2 : 6), kBits == 5 ? y + 2 : nullptr);
    }
}

// Q4_1 / Q5_1 without importance: d = (max - min) / (2^bits - 1), m = min.
template <int kBits>
void quantizeAffineRef(const float *x, uint8_t *y, int64_t n)
{
    constexpr int top = (1 << kBits) - 1;
    constexpr int64_t bytes = kBits == 4 ? 20 : 24;
    for (int64_t b = 0; b < n / 32; ++b, x += 32, y += bytes) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < 32; ++j) {
            const float v = x[j];
            if (v < min)
                min = v;
            if (v > max)
                max = v;
        }
        const float d = (max - min) / float(top);
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        putHalf(y, d);
        putHalf(y + 2, min);
        uint8_t codes[32];
        for (int j = 0; j < 32; ++j) {
            const float v = (x[j] - min) * id;
            // Q4_1 clamps the level to 15 after an int8 conversion; Q5_1 converts to uint8 unclamped.
            codes[j] = kBits == 4 ? uint8_t(std::min<int>(15, truncInt8(v + 0.5f))) : truncUInt8(v + 0.5f);
        }
        putCodes(codes, y + (kBits == 4 ? 4 : 8), kBits == 5 ? y + 4 : nullptr);
    }
}

// Q4_0 / Q5_0 with importance (quantize_row_q{4,5}_0_impl): make_qx_quants on weights qw * sqrt(sigma2 + x^2).
template <int kBits>
void quantizeSymmetricWeighted(const float *x, uint8_t *y, int64_t n, const float *importance)
{
    constexpr int64_t bytes = kBits == 4 ? 18 : 22;
    const float sigma2 = rowMeanSquare(x, n);
    float weight[32];
    int8_t L[32];
    for (int64_t b = 0; b < n / 32; ++b, y += bytes) {
        const float *xb = x + 32 * b, *qw = importance + 32 * b;
        for (int j = 0; j < 32; ++j)
            weight[j] = qw[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
        putHalf(y, makeQxQuants(32, 1 << (kBits - 1), xb, L, weight));
        uint8_t codes[32];
        for (int j = 0; j < 32; ++j)
            codes[j] = uint8_t(L[j]);
        putCodes(codes, y + (kBits == 4 ? 2 : 6), kBits == 5 ? y + 2 : nullptr);
    }
}

// Q4_1 / Q5_1 with importance (quantize_row_q{4,5}_1_impl): make_qkx3_quants on the same weights.
template <int kBits>
void quantizeAffineWeighted(const float *x, uint8_t *y, int64_t n, const float *importance)
{
    constexpr int64_t bytes = kBits == 4 ? 20 : 24;
    const float sigma2 = rowMeanSquare(x, n);
    float weight[32];
    uint8_t L[32], Laux[32];
    for (int64_t b = 0; b < n / 32; ++b, y += bytes) {
        const float *xb = x + 32 * b, *qw = importance + 32 * b;
        for (int j = 0; j < 32; ++j)
            weight[j] = qw[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
        float min;
        const float d = makeQkxQuants(32, (1 << kBits) - 1, xb, weight, L, &min, Laux, -0.9f, 0.05f, 36, false);
        putHalf(y, d);
        putHalf(y + 2, -min);
        putCodes(L, y + (kBits == 4 ? 4 : 8), kBits == 5 ? y + 4 : nullptr);
    }
}

// Q8_0 (quantize_row_q8_0_ref; llama.cpp has no weighted path): d = amax / 127, levels by roundf.
void quantizeQ8_0(const float *x, uint8_t *y, int64_t n)
{
    for (int64_t b = 0; b < n / 32; ++b, x += 32, y += 34) {
        float amax = 0;
        for (int j = 0; j < 32; ++j)
            amax = fmaxMacro(amax, std::fabs(x[j]));
        const float d = amax / 127.f;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        putHalf(y, d);
        for (int j = 0; j < 32; ++j)
            y[2 + j] = uint8_t(int8_t(int32_t(std::round(x[j] * id))));
    }
}

// ---- the k-quants: super-blocks of 256 ----------------------------------------------------------------------

// The 2-bit levels of a Q2_K / Q3_K super-block: L[j + l], L[j + l + 32], ... in one byte, per 128 values.
void pack2Bit(const uint8_t *L, uint8_t *qs)
{
    for (int j = 0; j < QK_K; j += 128)
        for (int l = 0; l < 32; ++l)
            qs[j / 4 + l] = uint8_t(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

// Q2_K's levels recomputed from the stored (rounded) sub-block scale and min.
void requantizeQ2_K(const float *x, const uint8_t *scales, float d, float dmin, uint8_t *L)
{
    for (int j = 0; j < QK_K / 16; ++j) {
        const float dl = d * float(scales[j] & 0xF);
        if (dl == 0.f)
            continue;
        const float ml = dmin * float(scales[j] >> 4);
        for (int ii = 0; ii < 16; ++ii) {
            const int l = nearestInt((x[16 * j + ii] + ml) / dl);
            L[16 * j + ii] = uint8_t(std::max(0, std::min(3, l)));
        }
    }
}

// block_q2_K: scales[16] (scale | min << 4), qs[64], d, dmin
void quantizeQ2_KRef(const float *x, uint8_t *y, int64_t n)
{
    uint8_t L[QK_K], Laux[16];
    float weights[16], mins[QK_K / 16], scales[QK_K / 16];
    const float q4scale = 15.f;
    for (int64_t b = 0; b < n / QK_K; ++b, x += QK_K, y += 84) {
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < QK_K / 16; ++j) {
            for (int l = 0; l < 16; ++l)
                weights[l] = std::fabs(x[16 * j + l]);
            scales[j] = makeQkxQuants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
            if (scales[j] > maxScale)
                maxScale = scales[j];
            if (mins[j] > maxMin)
                maxMin = mins[j];
        }
        uint8_t *sc = y;
        if (maxScale > 0) {
            const float iscale = q4scale / maxScale;
            for (int j = 0; j < QK_K / 16; ++j)
                sc[j] = uint8_t(nearestInt(iscale * scales[j]));
            putHalf(y + 80, maxScale / q4scale);
        } else {
            std::fill(sc, sc + QK_K / 16, uint8_t(0));
            putHalf(y + 80, 0.f);
        }
        if (maxMin > 0) {
            const float iscale = q4scale / maxMin;
            for (int j = 0; j < QK_K / 16; ++j)
                sc[j] = uint8_t(sc[j] | (nearestInt(iscale * mins[j]) << 4));
            putHalf(y + 82, maxMin / q4scale);
        } else {
            putHalf(y + 82, 0.f);
        }
        requantizeQ2_K(x, sc, h2f(y + 80), h2f(y + 82), L);
        pack2Bit(L, y + 16);
    }
}

void quantizeQ2_KWeighted(const float *x, uint8_t *y, int64_t n, const float *importance)
{
    uint8_t L[QK_K], Laux[16], Ls[QK_K / 16], Lm[QK_K / 16];
    float mins[QK_K / 16], scales[QK_K / 16], sw[QK_K / 16], weight[16];
    for (int64_t b = 0; b < n / QK_K; ++b, x += QK_K, y += 84) {
        float sumX2 = 0;
        for (int j = 0; j < QK_K; ++j)
            sumX2 += x[j] * x[j];
        const float sigma2 = sumX2 / float(QK_K);
        for (int j = 0; j < QK_K / 16; ++j) {
            const float *qw = importance + QK_K * b + 16 * j;
            for (int l = 0; l < 16; ++l)
                weight[l] = qw[l] * std::sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
            sw[j] = 0;
            for (int l = 0; l < 16; ++l)
                sw[j] += weight[l];
            scales[j] = makeQkxQuants(16, 3, x + 16 * j, weight, L + 16 * j, &mins[j], Laux, -0.9f, 0.05f, 36, false);
        }
        const float dm = makeQpQuants(QK_K / 16, 15, scales, Ls, sw);
        const float mm = makeQpQuants(QK_K / 16, 15, mins, Lm, sw);
        putHalf(y + 80, dm);
        putHalf(y + 82, mm);
        for (int j = 0; j < QK_K / 16; ++j)
            y[j] = uint8_t(Ls[j] | (Lm[j] << 4));
        requantizeQ2_K(x, y, h2f(y + 80), h2f(y + 82), L);
        pack2Bit(L, y + 16);
    }
}

// Q3_K's 16 six-bit scales (stored + 32): low nibbles in bytes 0-7, high two bits in bytes 8-11.
void putScalesQ3_K(uint8_t *sc, int j, int l)
{
    if (j < 8)
        sc[j] = uint8_t(l & 0xF);
    else
        sc[j - 8] = uint8_t(sc[j - 8] | ((l & 0xF) << 4));
    l >>= 4;
    sc[j % 4 + 8] = uint8_t(sc[j % 4 + 8] | (l << (2 * (j / 4))));
}

// The rest of a Q3_K super-block once its scales and d are stored: levels from the rounded scales, high bits
// into hmask, low two bits into qs. L holds level + 4.
// block_q3_K's codes 0..7: the third bit in hmask (bit j / 32 of byte j % 32), the low two as Q2_K's.
void packQ3_K(const uint8_t *L, uint8_t *y)
{
    uint8_t *hmask = y;
    std::fill(hmask, hmask + QK_K / 8, uint8_t(0));
    uint8_t low[QK_K];
    for (int j = 0; j < QK_K; ++j) {
        if (L[j] > 3)
            hmask[j % 32] = uint8_t(hmask[j % 32] | (1 << (j / 32)));
        low[j] = uint8_t(L[j] & 3);
    }
    pack2Bit(low, y + 32);
}

void finishQ3_K(const float *x, uint8_t *y, int8_t *L)
{
    const uint8_t *sc = y + 96;
    const float dAll = h2f(y + 108);
    for (int j = 0; j < QK_K / 16; ++j) {
        int8_t s = int8_t(j < 8 ? sc[j] & 0xF : sc[j - 8] >> 4);
        s = int8_t((s | (((sc[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32);
        const float d = dAll * float(s);
        if (d == 0.f)
            continue;
        for (int ii = 0; ii < 16; ++ii) {
            const int l = nearestInt(x[16 * j + ii] / d);
            L[16 * j + ii] = int8_t(std::max(-4, std::min(3, l)) + 4);
        }
    }
    packQ3_K(reinterpret_cast<const uint8_t *>(L), y);
}

// block_q3_K: hmask[32], qs[64], scales[12], d
void quantizeQ3_KRef(const float *x, uint8_t *y, int64_t n)
{
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t b = 0; b < n / QK_K; ++b, x += QK_K, y += 110) {
        float maxScale = 0, amax = 0;
        for (int j = 0; j < QK_K / 16; ++j) {
            scales[j] = makeQ3Quants(16, 4, x + 16 * j, L + 16 * j);
            const float scale = std::fabs(scales[j]);
            if (scale > amax) {
                amax = scale;
                maxScale = scales[j];
            }
        }
        uint8_t *sc = y + 96;
        std::fill(sc, sc + 12, uint8_t(0));
        if (maxScale != 0.f) {
            const float iscale = -32.f / maxScale;
            for (int j = 0; j < QK_K / 16; ++j) {
                int8_t l = int8_t(nearestInt(iscale * scales[j]));
                l = int8_t(std::max(-32, std::min(31, int(l))) + 32);
                putScalesQ3_K(sc, j, l);
            }
            putHalf(y + 108, 1 / iscale);
        } else {
            putHalf(y + 108, 0.f);
        }
        finishQ3_K(x, y, L);
    }
}

void quantizeQ3_KWeighted(const float *x, uint8_t *y, int64_t n, const float *importance)
{
    int8_t L[QK_K], Ls[QK_K / 16];
    float scales[QK_K / 16], weight[16], sw[QK_K / 16];
    for (int64_t b = 0; b < n / QK_K; ++b, x += QK_K, y += 110) {
        float sumX2 = 0;
        for (int j = 0; j < QK_K; ++j)
            sumX2 += x[j] * x[j];
        const float sigma2 = 2.f * sumX2 / float(QK_K);
        for (int j = 0; j < QK_K / 16; ++j) {
            const float *qw = importance + QK_K * b + 16 * j;
            for (int l = 0; l < 16; ++l)
                weight[l] = qw[l] * std::sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
            float sumw = 0;
            for (int l = 0; l < 16; ++l)
                sumw += weight[l];
            sw[j] = sumw;
            scales[j] = makeQxQuants(16, 4, x + 16 * j, L + 16 * j, weight);
        }
        uint8_t *sc = y + 96;
        std::fill(sc, sc + 12, uint8_t(0));
        const float dBlock = makeQxQuants(QK_K / 16, 32, scales, Ls, sw);
        for (int j = 0; j < QK_K / 16; ++j)
            putScalesQ3_K(sc, j, Ls[j]);
        putHalf(y + 108, dBlock);
        finishQ3_K(x, y, L);
    }
}

// Q4_K / Q5_K's eight six-bit scales and mins in 12 bytes (get_scale_min_k4's layout).
void putScaleMinK4(uint8_t *sc, int j, uint8_t ls, uint8_t lm)
{
    if (j < 4) {
        sc[j] = ls;
        sc[j + 4] = lm;
    } else {
        sc[j + 4] = uint8_t((ls & 0xF) | ((lm & 0xF) << 4));
        sc[j - 4] = uint8_t(sc[j - 4] | ((ls >> 4) << 6));
        sc[j] = uint8_t(sc[j] | ((lm >> 4) << 6));
    }
}

// Q4_K / Q5_K's levels [0, nmax] from the stored scales, d and dmin.
void requantizeK4(const float *x, const uint8_t *y, int nmax, uint8_t *L)
{
    const float d = h2f(y), dmin = h2f(y + 2);
    for (int j = 0; j < QK_K / 32; ++j) {
        uint8_t sc, m;
        scaleMinK4(j, y + 4, &sc, &m);
        const float dl = d * float(sc);
        if (dl == 0.f)
            continue;
        const float dm = dmin * float(m);
        for (int ii = 0; ii < 32; ++ii) {
            const int l = nearestInt((x[32 * j + ii] + dm) / dl);
            L[32 * j + ii] = uint8_t(std::max(0, std::min(nmax, l)));
        }
    }
}

// Q4_K / Q5_K without importance (quantize_row_q{4,5}_K_ref): per sub-block of 32, make_qkx2_quants with
// weights av_x + |x|; scales and mins on 63 levels of max / 63.
void scalesK4Ref(const float *x, uint8_t *y, int nmax, float rmin, int nstep, uint8_t *L)
{
    uint8_t Laux[32];
    float weights[32], mins[QK_K / 32], scales[QK_K / 32];
    float maxScale = 0, maxMin = 0;
    for (int j = 0; j < QK_K / 32; ++j) {
        float sumX2 = 0;
        for (int l = 0; l < 32; ++l)
            sumX2 += x[32 * j + l] * x[32 * j + l];
        const float avX = std::sqrt(sumX2 / 32.f);
        for (int l = 0; l < 32; ++l)
            weights[l] = avX + std::fabs(x[32 * j + l]);
        scales[j] = makeQkxQuants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep, false);
        if (scales[j] > maxScale)
            maxScale = scales[j];
        if (mins[j] > maxMin)
            maxMin = mins[j];
    }
    const float invScale = maxScale > 0 ? 63.f / maxScale : 0.f;
    const float invMin = maxMin > 0 ? 63.f / maxMin : 0.f;
    for (int j = 0; j < QK_K / 32; ++j) {
        uint8_t ls = uint8_t(nearestInt(invScale * scales[j]));
        uint8_t lm = uint8_t(nearestInt(invMin * mins[j]));
        ls = std::min<uint8_t>(63, ls);
        lm = std::min<uint8_t>(63, lm);
        putScaleMinK4(y + 4, j, ls, lm);
    }
    putHalf(y, maxScale / 63.f);
    putHalf(y + 2, maxMin / 63.f);
}

// Q4_K / Q5_K with importance (quantize_row_q{4,5}_K_impl): make_qkx3_quants on qw * sqrt(sigma2 + x^2),
// then make_qp_quants for the scales and mins weighted by each sub-block's total weight. Q5_K clamps the
// six-bit codes to 63 (a wrapped negative code becomes 63); Q4_K stores them as they are.
void scalesK4Weighted(const float *x, uint8_t *y, int nmax, const float *importance, bool clamp63, uint8_t *L)
{
    uint8_t Laux[32], Ls[QK_K / 32], Lm[QK_K / 32];
    float weights[32], sw[QK_K / 32], mins[QK_K / 32], scales[QK_K / 32];
    float sumX2 = 0;
    for (int l = 0; l < QK_K; ++l)
        sumX2 += x[l] * x[l];
    const float sigma2 = 2.f * sumX2 / float(QK_K);
    for (int j = 0; j < QK_K / 32; ++j) {
        const float *qw = importance + 32 * j;
        for (int l = 0; l < 32; ++l)
            weights[l] = qw[l] * std::sqrt(sigma2 + x[32 * j + l] * x[32 * j + l]);
        float sumw = 0;
        for (int l = 0; l < 32; ++l)
            sumw += weights[l];
        sw[j] = sumw;
        scales[j] = makeQkxQuants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -0.9f, 0.05f, 36, false);
    }
    const float dBlock = makeQpQuants(QK_K / 32, 63, scales, Ls, sw);
    const float mBlock = makeQpQuants(QK_K / 32, 63, mins, Lm, sw);
    for (int j = 0; j < QK_K / 32; ++j) {
        uint8_t ls = Ls[j], lm = Lm[j];
        if (clamp63) {
            ls = std::min<uint8_t>(63, ls);
            lm = std::min<uint8_t>(63, lm);
        }
        putScaleMinK4(y + 4, j, ls, lm);
    }
    putHalf(y, dBlock);
    putHalf(y + 2, mBlock);
}

// block_q4_K: d, dmin, scales[12], qs[128] (nibbles: values l and l + 32 of each 64)
void packQ4_K(const uint8_t *L, uint8_t *y)
{
    uint8_t *q = y + 16;
    for (int j = 0; j < QK_K; j += 64, q += 32)
        for (int l = 0; l < 32; ++l)
            q[l] = uint8_t(L[j + l] | (L[j + l + 32] << 4));
}

// block_q5_K: d, dmin, scales[12], qh[32], qs[128]
void packQ5_K(const uint8_t *L, uint8_t *y)
{
    uint8_t *qh = y + 16, *ql = y + 48;
    std::fill(qh, qh + QK_K / 8, uint8_t(0));
    uint8_t m1 = 1, m2 = 2;
    for (int n = 0; n < QK_K; n += 64, ql += 32) {
        for (int j = 0; j < 32; ++j) {
            int l1 = L[n + j];
            if (l1 > 15) {
                l1 -= 16;
                qh[j] = uint8_t(qh[j] | m1);
            }
            int l2 = L[n + j + 32];
            if (l2 > 15) {
                l2 -= 16;
                qh[j] = uint8_t(qh[j] | m2);
            }
            ql[j] = uint8_t(l1 | (l2 << 4));
        }
        m1 = uint8_t(m1 << 2);
        m2 = uint8_t(m2 << 2);
    }
}

// block_q6_K's codes 0..63: low nibbles in ql, the top two bits in qh, per 128 values.
void packQ6_K(const uint8_t *L, uint8_t *y)
{
    uint8_t *ql = y, *qh = y + 128;
    for (int j = 0; j < QK_K; j += 128, ql += 64, qh += 32) {
        for (int l = 0; l < 32; ++l) {
            const uint8_t q1 = L[j + l + 0] & 0xF, q2 = L[j + l + 32] & 0xF;
            const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
            ql[l + 0] = uint8_t(q1 | (q3 << 4));
            ql[l + 32] = uint8_t(q2 | (q4 << 4));
            qh[l] = uint8_t((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                            ((L[j + l + 96] >> 4) << 6));
        }
    }
}

template <int kBits>
void quantizeK4(const float *x, uint8_t *y, int64_t n, const float *importance)
{
    constexpr int nmax = (1 << kBits) - 1;
    constexpr int64_t bytes = kBits == 4 ? 144 : 176;
    uint8_t L[QK_K];
    for (int64_t b = 0; b < n / QK_K; ++b, x += QK_K, y += bytes) {
        if (importance)
            scalesK4Weighted(x, y, nmax, importance + QK_K * b, kBits == 5, L);
        else
            scalesK4Ref(x, y, nmax, kBits == 4 ? -1.f : -0.5f, kBits == 4 ? 20 : 15, L);
        requantizeK4(x, y, nmax, L);
        if (kBits == 4)
            packQ4_K(L, y);
        else
            packQ5_K(L, y);
    }
}

// block_q6_K: ql[128], qh[64], scales[16] (int8), d. With and without importance the same search
// (make_qx_quants per 16 values, weighted by the importance itself, or by x^2), then 8-bit scales of
// max / -128.
void quantizeQ6_K(const float *x, uint8_t *y, int64_t n, const float *importance)
{
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t b = 0; b < n / QK_K; ++b, x += QK_K, y += 210) {
        float maxScale = 0, maxAbsScale = 0;
        for (int ib = 0; ib < QK_K / 16; ++ib) {
            const float *qw = importance ? importance + QK_K * b + 16 * ib : nullptr;
            const float scale = makeQxQuants(16, 32, x + 16 * ib, L + 16 * ib, qw);
            scales[ib] = scale;
            const float absScale = std::fabs(scale);
            if (absScale > maxAbsScale) {
                maxAbsScale = absScale;
                maxScale = scale;
            }
        }
        if (maxAbsScale < kGroupMaxEps) {
            std::fill(y, y + 210, uint8_t(0));
            continue;
        }
        const float iscale = -128.f / maxScale;
        putHalf(y + 208, 1 / iscale);
        int8_t *sc = reinterpret_cast<int8_t *>(y + 192);
        for (int ib = 0; ib < QK_K / 16; ++ib)
            sc[ib] = int8_t(std::min(127, nearestInt(iscale * scales[ib])));
        const float d = h2f(y + 208);
        for (int j = 0; j < QK_K / 16; ++j) {
            const float dl = d * float(sc[j]);
            if (dl == 0.f)
                continue;
            for (int ii = 0; ii < 16; ++ii) {
                const int l = nearestInt(x[16 * j + ii] / dl);
                L[16 * j + ii] = int8_t(std::max(-32, std::min(31, l)) + 32);
            }
        }
        packQ6_K(reinterpret_cast<const uint8_t *>(L), y);
    }
}

// One row of n values (whole blocks) into its rowBytes.
void quantizeRow(uint32_t type, const float *x, uint8_t *y, int64_t n, const float *importance)
{
    switch (type) {
    case F32: std::memcpy(y, x, size_t(n) * 4); return;
    case F16: {
        auto *h = reinterpret_cast<uint16_t *>(y);
        floatToFloat16(x, h, n);
        for (int64_t i = 0; i < n; ++i)
            if (std::isnan(x[i]))
                h[i] = f2h(x[i]);
        return;
    }
    case BF16: floatToBFloat16(x, reinterpret_cast<uint16_t *>(y), n); return;
    case Q8_0: quantizeQ8_0(x, y, n); return;
    case Q4_0: importance ? quantizeSymmetricWeighted<4>(x, y, n, importance) : quantizeSymmetricRef<4>(x, y, n); return;
    case Q5_0: importance ? quantizeSymmetricWeighted<5>(x, y, n, importance) : quantizeSymmetricRef<5>(x, y, n); return;
    case Q4_1: importance ? quantizeAffineWeighted<4>(x, y, n, importance) : quantizeAffineRef<4>(x, y, n); return;
    case Q5_1: importance ? quantizeAffineWeighted<5>(x, y, n, importance) : quantizeAffineRef<5>(x, y, n); return;
    case Q2_K: importance ? quantizeQ2_KWeighted(x, y, n, importance) : quantizeQ2_KRef(x, y, n); return;
    case Q3_K: importance ? quantizeQ3_KWeighted(x, y, n, importance) : quantizeQ3_KRef(x, y, n); return;
    case Q4_K: quantizeK4<4>(x, y, n, importance); return;
    case Q5_K: quantizeK4<5>(x, y, n, importance); return;
    case Q6_K: quantizeQ6_K(x, y, n, importance); return;
    default: throw Error("cannot quantize tensors to type " + typeName(type));
    }
}

} // namespace

const TypeTraits *typeTraits(uint32_t type)
{
    if (type >= std::size(kTraits) || !kTraits[type].name)
        return nullptr;
    return &kTraits[type];
}

std::string typeName(uint32_t type)
{
    const TypeTraits *t = typeTraits(type);
    return t ? t->name : "type " + std::to_string(type);
}

int64_t rowBytes(uint32_t type, int64_t rowLength)
{
    const TypeTraits *tr = typeTraits(type);
    if (!tr)
        throw Error("ggml has no tensor type " + std::to_string(type));
    if (rowLength < 0 || rowLength % tr->blockSize)
        throw Error("a row of " + std::to_string(rowLength) + " values is not whole " + tr->name + " blocks of " +
                    std::to_string(tr->blockSize));
    return checkedMul(rowLength / tr->blockSize, tr->blockBytes);
}

void dequantizeRow(uint32_t type, const uint8_t *src, float *dst, int64_t n)
{
    const TypeTraits *tr = typeTraits(type);
    if (!tr || !tr->dequantizable)
        throw Error("cannot dequantize tensors of type " + typeName(type));
    if (n % tr->blockSize)
        throw Error(std::to_string(n) + " values are not whole blocks of " + typeName(type));
    const int64_t blocks = n / tr->blockSize;
    void (*block)(const uint8_t *, float *) = nullptr;
    switch (type) {
    case F32: std::memcpy(dst, src, size_t(n) * 4); return;
    case F16: float16ToFloat(reinterpret_cast<const uint16_t *>(src), dst, n); return;
    case BF16: bfloat16ToFloat(reinterpret_cast<const uint16_t *>(src), dst, n); return;
    case Q4_0: block = deqQ4_0; break;
    case Q4_1: block = deqQ4_1; break;
    case Q5_0: block = deqQ5_0; break;
    case Q5_1: block = deqQ5_1; break;
    case Q8_0: block = deqQ8_0; break;
    case Q2_K: block = deqQ2_K; break;
    case Q3_K: block = deqQ3_K; break;
    case Q4_K: block = deqQ4_K; break;
    case Q5_K: block = deqQ5_K; break;
    case Q6_K: block = deqQ6_K; break;
    case Q8_K: block = deqQ8_K; break;
    default: throw Error("cannot dequantize tensors of type " + typeName(type));
    }
    for (int64_t b = 0; b < blocks; ++b)
        block(src + b * tr->blockBytes, dst + b * tr->blockSize);
}

uint32_t typeFromName(const std::string &name)
{
    std::string list;
    for (uint32_t t = 0; t < std::size(kTraits); ++t) {
        const TypeTraits &tr = kTraits[t];
        if (!tr.name || !tr.quantizable)
            continue;
        if (name.size() == std::strlen(tr.name) &&
            std::equal(name.begin(), name.end(), tr.name, [](char a, char b) { return std::toupper(a) == b; }))
            return t;
        list += (list.empty() ? "" : ", ") + std::string(tr.name);
    }
    throw Error("'" + name + "' is not a type the workbench writes (" + list + ")");
}

uint32_t fallbackType(uint32_t type, int64_t rowLength)
{
    const TypeTraits *tr = typeTraits(type);
    if (!tr)
        throw Error("unknown ggml type " + std::to_string(type));
    if (rowLength % tr->blockSize == 0)
        return type;
    uint32_t next = F16;
    switch (type) {
    case Q2_K: case Q3_K: next = Q4_0; break;
    case Q4_K: next = Q5_0; break;
    case Q5_K: next = Q5_1; break;
    case Q6_K: next = Q8_0; break;
    default: break;
    }
    return rowLength % typeTraits(next)->blockSize == 0 ? next : uint32_t(F16);
}

int superBlockGrids(uint32_t type, const uint8_t *b, SubBlockGrid *grids)
{
    switch (type) {
    case Q2_K: {
        const float d = h2f(b + 80), min = h2f(b + 82);
        for (int s = 0; s < 16; ++s)
            grids[s] = {d * float(b[s] & 0xF), -(min * float(b[s] >> 4)), 0, 3};
        return 16;
    }
    case Q3_K: {
        const float dAll = h2f(b + 108);
        int8_t scales[16];
        scalesQ3_K(b, scales);
        for (int s = 0; s < 16; ++s)
            grids[s] = {dAll * float(scales[s] - 32), 0.f, 4, 7};
        return 16;
    }
    case Q4_K:
    case Q5_K: {
        const float d = h2f(b), min = h2f(b + 2);
        for (int s = 0; s < 8; ++s) {
            uint8_t sc, m;
            scaleMinK4(s, b + 4, &sc, &m);
            grids[s] = {d * float(sc), -(min * float(m)), 0, type == Q4_K ? 15 : 31};
        }
        return 8;
    }
    case Q6_K: {
        const float d = h2f(b + 208);
        const int8_t *sc = reinterpret_cast<const int8_t *>(b + 192);
        for (int s = 0; s < 16; ++s)
            grids[s] = {d * float(sc[s]), 0.f, 32, 63};
        return 16;
    }
    default: throw Error("no sub-block grids in " + typeName(type) + " (Q2_K ... Q6_K only)");
    }
}

void setSuperBlockCodes(uint32_t type, uint8_t *block, const int32_t *codes)
{
    SubBlockGrid grids[16];
    const int subBlocks = superBlockGrids(type, block, grids); // cw::Error for a type without sub-blocks
    uint8_t L[QK_K];
    for (int k = 0; k < QK_K; ++k) {
        const int32_t maxCode = grids[k * subBlocks / QK_K].maxCode;
        if (codes[k] < 0 || codes[k] > maxCode)
            throw Error("code " + std::to_string(codes[k]) + " is outside " + typeName(type) + "'s 0.." +
                        std::to_string(maxCode));
        L[k] = uint8_t(codes[k]);
    }
    switch (type) {
    case Q2_K: pack2Bit(L, block + 16); break;
    case Q3_K: packQ3_K(L, block); break;
    case Q4_K: packQ4_K(L, block); break;
    case Q5_K: packQ5_K(L, block); break;
    default: packQ6_K(L, block); break;
    }
}

void packBlocks(uint32_t type, const int32_t *codes, const float *d, const float *m, int64_t rows, int64_t rowLength,
                uint8_t *dst)
{
    int32_t lo = 0, hi = 0; // stored code range
    switch (type) {
    case Q4_0: case Q4_1: hi = 15; break;
    case Q5_0: case Q5_1: hi = 31; break;
    case Q8_0: lo = -127, hi = 127; break;
    default: throw Error("cannot pack codes into " + typeName(type) + " (Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 only)");
    }
    const bool withMin = type == Q4_1 || type == Q5_1;
    const int64_t blockBytes = typeTraits(type)->blockBytes, blocks = rows * (rowBytes(type, rowLength) / blockBytes);
    auto half = [](float x, const char *what) {
        const uint16_t h = f2h(x);
        if (float16ToFloat(h) != x)
            throw Error(std::string("a block's ") + what + " " + std::to_string(x) + " is not a float16 value");
        return h;
    };
    for (int64_t b = 0; b < blocks; ++b) {
        const int32_t *q = codes + b * 32;
        uint8_t *out = dst + b * blockBytes;
        for (int j = 0; j < 32; ++j)
            if (q[j] < lo || q[j] > hi)
                throw Error("code " + std::to_string(q[j]) + " is outside " + typeName(type) + "'s " +
                            std::to_string(lo) + ".." + std::to_string(hi));
        const uint16_t dh = half(d[b], "scale");
        std::memcpy(out, &dh, 2);
        uint8_t *qs = out + 2;
        if (withMin) {
            const uint16_t mh = half(m[b], "minimum");
            std::memcpy(out + 2, &mh, 2);
            qs = out + 4;
        }
        uint8_t stored[32];
        for (int j = 0; j < 32; ++j)
            stored[j] = uint8_t(q[j]); // Q8_0: the int8 code's byte
        if (type == Q8_0)
            std::memcpy(qs, stored, 32);
        else if (type == Q5_0 || type == Q5_1)
            putCodes(stored, qs + 4, qs);
        else
            putCodes(stored, qs, nullptr);
    }
}

int64_t quantizeRows(uint32_t type, const float *src, uint8_t *dst, int64_t rows, int64_t rowLength,
                     const float *importance)
{
    const TypeTraits *tr = typeTraits(type);
    if (!tr || !tr->quantizable)
        throw Error("cannot quantize tensors to type " + typeName(type) +
                    " (the workbench writes F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)");
    if (rows < 0)
        throw Error("cannot quantize " + std::to_string(rows) + " rows");
    const int64_t bytes = rowBytes(type, rowLength);
    const int64_t total = checkedMul(rows, bytes);
    if (total == 0)
        return 0;
    // Rows are independent (each weighted path's statistics are per row or per block), so any split gives
    // llama.cpp's bytes; about 16K values per range keeps a small tensor on one thread.
    parallelRanges(resolveThreads(0), rows, std::max<int64_t>(1, (int64_t(1) << 14) / std::max<int64_t>(1, rowLength)),
                   [&](int64_t r0, int64_t r1) {
                       for (int64_t r = r0; r < r1; ++r)
                           quantizeRow(type, src + r * rowLength, dst + r * bytes, rowLength, importance);
                   });
    return total;
}

} // namespace cw::ggml
