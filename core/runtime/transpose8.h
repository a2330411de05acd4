#pragma once
// An 8 × 8 block of 32-bit lanes transposed in AVX registers: row i of the result holds lane i of every input row.
// Used where data changes between pixel-major and channel-major order (runtime/blocked.cpp, ops/quant.cpp); the
// same for bytes, 16 × 16 at a time (transposeBytes).

#include <immintrin.h>

#include <cstdint>

namespace cw {

inline void transpose8x8(__m256 r[8])
{
    __m256 a[8], b[8];
    for (int i = 0; i < 8; i += 2) {
        a[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        a[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        b[i] = _mm256_shuffle_ps(a[i], a[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        b[i + 1] = _mm256_shuffle_ps(a[i], a[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        b[i + 2] = _mm256_shuffle_ps(a[i + 1], a[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        b[i + 3] = _mm256_shuffle_ps(a[i + 1], a[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; ++i) {
        r[i] = _mm256_permute2f128_ps(b[i], b[i + 4], 0x20);
        r[i + 4] = _mm256_permute2f128_ps(b[i], b[i + 4], 0x31);
    }
}

// A 16 × 16 block of bytes transposed in SSE registers: four rounds of interleaving, 8, 16, 32 and 64 bits wide.
inline void transpose16x16(__m128i r[16])
{
    __m128i t[16];
    for (int i = 0; i < 8; ++i) { // t[2i], t[2i+1]: rows 2i and 2i+1, columns 0-7 and 8-15, in byte pairs
        t[2 * i] = _mm_unpacklo_epi8(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm_unpackhi_epi8(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; ++i) { // r[4i+q]: rows 4i..4i+3, columns 4q..4q+3
        r[4 * i] = _mm_unpacklo_epi16(t[4 * i], t[4 * i + 2]);
        r[4 * i + 1] = _mm_unpackhi_epi16(t[4 * i], t[4 * i + 2]);
        r[4 * i + 2] = _mm_unpacklo_epi16(t[4 * i + 1], t[4 * i + 3]);
        r[4 * i + 3] = _mm_unpackhi_epi16(t[4 * i + 1], t[4 * i + 3]);
    }
    for (int i = 0; i < 2; ++i) // t[8i+m]: rows 8i..8i+7, columns 2m and 2m+1
        for (int j = 0; j < 4; ++j) {
            t[8 * i + 2 * j] = _mm_unpacklo_epi32(r[8 * i + j], r[8 * i + 4 + j]);
            t[8 * i + 2 * j + 1] = _mm_unpackhi_epi32(r[8 * i + j], r[8 * i + 4 + j]);
        }
    for (int m = 0; m < 8; ++m) { // r[c]: column c, rows 0-15
        r[2 * m] = _mm_unpacklo_epi64(t[m], t[8 + m]);
        r[2 * m + 1] = _mm_unpackhi_epi64(t[m], t[8 + m]);
    }
}

// dst[j · dstStride + i] = src[i · srcStride + j] for i < rows, j < cols (bytes): whole 16 × 16 tiles through
// registers, the edges one by one.
inline void transposeBytes(const uint8_t *src, int64_t srcStride, int64_t rows, int64_t cols, uint8_t *dst,
                           int64_t dstStride)
{
    const int64_t rows16 = rows / 16 * 16, cols16 = cols / 16 * 16;
    for (int64_t i = 0; i < rows16; i += 16) {
        for (int64_t j = 0; j < cols16; j += 16) {
            __m128i r[16];
            for (int k = 0; k < 16; ++k)
                r[k] = _mm_loadu_si128(reinterpret_cast<const __m128i *>(src + (i + k) * srcStride + j));
            transpose16x16(r);
            for (int k = 0; k < 16; ++k)
                _mm_storeu_si128(reinterpret_cast<__m128i *>(dst + (j + k) * dstStride + i), r[k]);
        }
        for (int64_t j = cols16; j < cols; ++j)
            for (int64_t k = i; k < i + 16; ++k)
                dst[j * dstStride + k] = src[k * srcStride + j];
    }
    for (int64_t i = rows16; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j)
            dst[j * dstStride + i] = src[i * srcStride + j];
}

} // namespace cw
