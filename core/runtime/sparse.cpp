#include "core/runtime/sparse.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <limits>

#include "core/base/parallel.h"

namespace cw::sparse {
namespace {

// -1: thresholds decide; 0: never sparse; 1: always sparse (measurements and tests).
int envMode()
{
    static const int mode = [] {
        const char *v = std::getenv("CW_SPARSE");
        if (!v || !*v)
            return -1;
        return std::atoi(v) != 0 ? 1 : 0;
    }();
    return mode;
}

double zeroFraction(const Tensor &t)
{
    const float *p = t.f32();
    const int64_t n = t.numel();
    int64_t zeros = 0;
    for (int64_t i = 0; i < n; ++i)
        zeros += p[i] == 0.f;
    return n ? double(zeros) / double(n) : 0.0;
}

const Tensor *floatInitializer(const Graph &graph, const Node &node, int index)
{
    if (!node.hasInput(index))
        return nullptr;
    auto it = graph.initializers.find(node.inputs[size_t(index)]);
    if (it == graph.initializers.end() || it->second.dtype() != DType::Float32)
        return nullptr;
    // int32 indices: a weight of 2^31 elements or more stays dense.
    if (it->second.numel() >= std::numeric_limits<int32_t>::max())
        return nullptr;
    return &it->second;
}

} // namespace

SparseWeight toCsr(const float *w, int64_t rows, int64_t cols, bool transposed)
{
    SparseWeight s;
    s.rows = rows;
    s.cols = cols;
    s.rowStart.reserve(size_t(rows) + 1);
    s.rowStart.push_back(0);
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t c = 0; c < cols; ++c) {
            const float v = transposed ? w[c * rows + r] : w[r * cols + c];
            if (v != 0.f) { // NaN is kept, so it propagates as it would through the dense product
                s.colIndex.push_back(int32_t(c));
                s.values.push_back(v);
            }
        }
        s.rowStart.push_back(int32_t(s.values.size()));
    }
    const double total = double(rows) * double(cols);
    s.sparsity = total > 0 ? 1.0 - double(s.values.size()) / total : 0.0;
    return s;
}

void addBlocks(SparseWeight &w, const float *values, bool transposed)
{
    const int64_t rows = w.rows, cols = w.cols, groups = (rows + kBlock - 1) / kBlock;
    const auto at = [&](int64_t r, int64_t c) { return transposed ? values[c * rows + r] : values[r * cols + c]; };
    std::vector<float> kept;
    w.blockStart.assign(1, 0);
    w.blockCol.clear();
    for (int64_t g = 0; g < groups; ++g) {
        const int64_t r0 = g * kBlock, r1 = std::min(rows, r0 + kBlock);
        for (int64_t c = 0; c < cols; ++c) {
            bool any = false; // NaN counts as nonzero, so it propagates as through the dense product
            for (int64_t r = r0; r < r1 && !any; ++r)
                any = at(r, c) != 0.f;
            if (!any)
                continue;
            w.blockCol.push_back(int32_t(c));
            for (int64_t r = r0; r < r0 + kBlock; ++r)
                kept.push_back(r < r1 ? at(r, c) : 0.f);
        }
        w.blockStart.push_back(int32_t(w.blockCol.size()));
    }
    w.blockValues = Tensor(DType::Float32, {int64_t(kept.size())});
    std::copy(kept.begin(), kept.end(), w.blockValues.f32());
    const double total = double(groups) * double(cols);
    w.blockSparsity = total > 0 ? 1.0 - double(w.blockCol.size()) / total : 0.0;
}

std::shared_ptr<const SparseWeight> prepare(const Node &node, const Graph &graph)
{
    const int mode = envMode();
    if (mode == 0 || !node.domain.empty())
        return nullptr;
    if (node.opType == "Gemm" || node.opType == "MatMul") { // a MatMul's B is a Gemm's without transB
        const bool gemm = node.opType == "Gemm";
        if (gemm && node.attrInt("transA", 0) != 0)
            return nullptr;
        const Tensor *b = floatInitializer(graph, node, 1);
        if (!b || b->rank() != 2)
            return nullptr;
        const double zeros = zeroFraction(*b);
        const bool transB = gemm && node.attrInt("transB", 0) != 0;
        const int64_t rows = transB ? b->dim(0) : b->dim(1), cols = transB ? b->dim(1) : b->dim(0);
        auto w = std::make_shared<SparseWeight>();
        if (mode > 0 || zeros >= kGemmThresholdBatch) {
            *w = toCsr(b->f32(), rows, cols, !transB);
        } else {
            w->rows = rows;
            w->cols = cols;
            w->sparsity = zeros;
        }
        if (zeros >= kBlockThreshold) {
            addBlocks(*w, b->f32(), !transB);
            if (w->blockSparsity < kBlockThreshold) { // zeros scattered, not in whole blocks
                w->blockStart.clear();
                w->blockCol.clear();
                w->blockValues = Tensor();
            }
        }
        if (w->rowStart.empty() && w->blockStart.empty())
            return nullptr;
        return w;
    }
    if (node.opType == "Conv") {
        if (node.attrInt("group", 1) != 1)
            return nullptr;
        const Tensor *w = floatInitializer(graph, node, 1);
        if (!w || w->rank() < 3 || w->dim(0) == 0)
            return nullptr;
        // The measured rule (see the overview), unless CW_SPARSE=1 forces every convolution.
        const bool rule = mode < 0;
        const bool oneDimensional = w->rank() == 4 && (w->dim(2) == 1) != (w->dim(3) == 1);
        if (rule && (!oneDimensional || zeroFraction(*w) < kConvThreshold))
            return nullptr;
        SparseWeight csr = toCsr(w->f32(), w->dim(0), w->numel() / w->dim(0), false);
        csr.minPositions = rule ? kConvMinPositions : 0;
        return std::make_shared<const SparseWeight>(std::move(csr));
    }
    return nullptr;
}

namespace {

// out[0, W) += sum over nonzeros j in [b, e) of val[j] * base[idx[j] * stride + (0, W)]. W is a compile-time
// width so the accumulators stay in vector registers across the nonzeros (a runtime-length loop reloads
// and stores them for every nonzero, which made the kernel 3-4x slower).
template <int W>
inline void accumulate(const int32_t *idx, const float *val, int32_t b, int32_t e, const float *base, int64_t stride,
                       float *out)
{
    float acc[W];
    for (int i = 0; i < W; ++i)
        acc[i] = out[i];
    for (int32_t j = b; j < e; ++j) {
        const float v = val[j];
        const float *src = base + int64_t(idx[j]) * stride;
#pragma GCC unroll 64
        for (int i = 0; i < W; ++i)
            acc[i] += v * src[i];
    }
    for (int i = 0; i < W; ++i)
        out[i] = acc[i];
}

// out[0, len) += W-row product, in register-sized pieces.
inline void accumulateSpan(const int32_t *idx, const float *val, int32_t b, int32_t e, const float *base,
                           int64_t stride, float *out, int64_t len)
{
    int64_t i = 0;
    for (; i + 32 <= len; i += 32)
        accumulate<32>(idx, val, b, e, base + i, stride, out + i);
    for (; i + 8 <= len; i += 8)
        accumulate<8>(idx, val, b, e, base + i, stride, out + i);
    for (; i < len; ++i)
        accumulate<1>(idx, val, b, e, base + i, stride, out + i);
}

// sum over nonzeros of val[j] * x[idx[j]].
inline float gatherDot(const int32_t *idx, const float *val, int32_t j, int32_t e, const float *x)
{
    float s = 0;
#ifdef __AVX2__
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (; j + 16 <= e; j += 16) {
        const __m256i i0 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(idx + j));
        const __m256i i1 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(idx + j + 8));
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(val + j), _mm256_i32gather_ps(x, i0, 4), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(val + j + 8), _mm256_i32gather_ps(x, i1, 4), a1);
    }
    const __m256 a = _mm256_add_ps(a0, a1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
    s = _mm_cvtss_f32(h);
#endif
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (; j + 4 <= e; j += 4) {
        s0 += val[j] * x[idx[j]];
        s1 += val[j + 1] * x[idx[j + 1]];
        s2 += val[j + 2] * x[idx[j + 2]];
        s3 += val[j + 3] * x[idx[j + 3]];
    }
    for (; j < e; ++j)
        s0 += val[j] * x[idx[j]];
    return s + ((s0 + s1) + (s2 + s3));
}

// Rows [0, Rows) of a (K apart) against one group's blocks [j, e): out[r] holds the group's kBlock sums as two
// vectors of eight. Sets of accumulators for consecutive blocks, so that an FMA does not wait for the one before
// (four cycles) when there are few rows.
template <int Rows, int Sets>
inline void blockProducts(const int32_t *col, const float *val, int32_t j, int32_t e, const float *a, int64_t K,
                          __m256 (&out)[4][2])
{
    static_assert(kBlock == 16);
    __m256 acc[Sets][Rows][2];
    for (int h = 0; h < Sets; ++h)
        for (int r = 0; r < Rows; ++r)
            acc[h][r][0] = acc[h][r][1] = _mm256_setzero_ps();
    const auto step = [&](int h, int32_t i) {
        const __m256 v0 = _mm256_load_ps(val + int64_t(i) * kBlock), v1 = _mm256_load_ps(val + int64_t(i) * kBlock + 8);
        const float *x = a + col[i];
        for (int r = 0; r < Rows; ++r) {
            const __m256 b = _mm256_broadcast_ss(x + r * K);
            acc[h][r][0] = _mm256_fmadd_ps(b, v0, acc[h][r][0]);
            acc[h][r][1] = _mm256_fmadd_ps(b, v1, acc[h][r][1]);
        }
    };
    for (; j + Sets <= e; j += Sets)
#pragma GCC unroll 4
        for (int h = 0; h < Sets; ++h)
            step(h, j + h);
    for (; j < e; ++j)
        step(0, j);
    for (int r = 0; r < Rows; ++r)
        for (int i = 0; i < 2; ++i) {
            __m256 sum = acc[0][r][i];
            for (int h = 1; h < Sets; ++h)
                sum = _mm256_add_ps(sum, acc[h][r][i]);
            out[r][i] = sum;
        }
}

} // namespace

void gemmBlocks(const SparseWeight &w, int64_t M, const float *a, float alpha, bool accumulate, float *y, int threads)
{
    const int64_t N = w.rows, K = w.cols, groups = (N + kBlock - 1) / kBlock;
    const int32_t *start = w.blockStart.data(), *col = w.blockCol.data();
    const float *val = w.blockValues.f32();
    const double work = double(w.blockCol.size()) * double(kBlock) * double(M);
    const int t = threads > 1 && work >= double(1 << 20) ? threads : 1;
    const __m256 va = _mm256_set1_ps(alpha);
    parallelRanges(t, groups, 1, [&](int64_t begin, int64_t end) {
        for (int64_t g = begin; g < end; ++g)
            for (int64_t m0 = 0; m0 < M; m0 += 4) {
                const int64_t rows = std::min<int64_t>(4, M - m0);
                const float *x = a + m0 * K;
                __m256 out[4][2];
                switch (rows) {
                case 4: blockProducts<4, 1>(col, val, start[g], start[g + 1], x, K, out); break;
                case 3: blockProducts<3, 1>(col, val, start[g], start[g + 1], x, K, out); break;
                case 2: blockProducts<2, 2>(col, val, start[g], start[g + 1], x, K, out); break;
                default: blockProducts<1, 4>(col, val, start[g], start[g + 1], x, K, out); break;
                }
                const int64_t n0 = g * kBlock, width = std::min(kBlock, N - n0);
                for (int64_t r = 0; r < rows; ++r) {
                    float *dst = y + (m0 + r) * N + n0;
                    if (width == kBlock) {
                        for (int i = 0; i < 2; ++i) {
                            const __m256 v = accumulate ? _mm256_fmadd_ps(va, out[r][i], _mm256_loadu_ps(dst + 8 * i))
                                                        : _mm256_mul_ps(va, out[r][i]);
                            _mm256_storeu_ps(dst + 8 * i, v);
                        }
                        continue;
                    }
                    alignas(32) float lanes[kBlock];
                    _mm256_store_ps(lanes, out[r][0]);
                    _mm256_store_ps(lanes + 8, out[r][1]);
                    for (int64_t i = 0; i < width; ++i)
                        dst[i] = accumulate ? dst[i] + alpha * lanes[i] : alpha * lanes[i];
                }
            }
    });
}

GemmPath gemmPath(const SparseWeight &w, int64_t M)
{
    if (envMode() == 1 && !w.rowStart.empty())
        return GemmPath::Csr;
    const bool blocks = !w.blockStart.empty();
    const bool csr = !w.rowStart.empty() && w.sparsity >= (M < 4 ? kGemmThresholdSingle : kGemmThresholdBatch);
    if (csr && blocks) {
        // Both pay: the one with less work, a CSR nonzero costing as much as kCsrCost weights of a block.
        const double csrWork = double(w.values.size()) * (M < 4 ? kCsrCostSingle : kCsrCostBatch);
        return csrWork < double(w.blockCol.size()) * double(kBlock) ? GemmPath::Csr : GemmPath::Blocks;
    }
    return blocks ? GemmPath::Blocks : csr ? GemmPath::Csr : GemmPath::Dense;
}

void gemm(const SparseWeight &w, int64_t M, const float *a, float alpha, bool accumulate, float *y, int threads)
{
    const int64_t N = w.rows, K = w.cols;
    const int32_t *start = w.rowStart.data();
    const int32_t *col = w.colIndex.data();
    const float *val = w.values.data();
    const double work = double(w.values.size()) * double(M);
    const int t = threads > 1 && work >= double(1 << 20) ? threads : 1;
    auto store = [&](float *dst, float v) { *dst = accumulate ? *dst + alpha * v : alpha * v; };
    if (M < 4) {
        // A gathered dot product per output feature.
        for (int64_t i = 0; i < M; ++i) {
            const float *x = a + i * K;
            float *yi = y + i * N;
            parallelRanges(t, N, 16, [&](int64_t begin, int64_t end) {
                for (int64_t n = begin; n < end; ++n)
                    store(yi + n, gatherDot(col, val, start[n], start[n + 1], x));
            });
        }
        return;
    }
    // A^T [K, M]: each nonzero then adds a contiguous row of M values, which vectorises over the batch.
    // Transposed in 16 x 16 tiles: a plain strided loop took as long as the whole product at 95% zeros.
    std::vector<float> at(size_t(K * M));
    constexpr int64_t kTile = 16;
    for (int64_t i0 = 0; i0 < M; i0 += kTile)
        for (int64_t k0 = 0; k0 < K; k0 += kTile) {
            const int64_t i1 = std::min(M, i0 + kTile), k1 = std::min(K, k0 + kTile);
            for (int64_t k = k0; k < k1; ++k)
                for (int64_t i = i0; i < i1; ++i)
                    at[size_t(k * M + i)] = a[i * K + k];
        }
    // Y^T [N, M], one contiguous row per output feature, then transposed into y in tiles (single stores at
    // a stride of N floats cost more than the product at high sparsity).
    std::vector<float> yt(size_t(N * M), 0.f);
    parallelRanges(t, N, 8, [&](int64_t begin, int64_t end) {
        for (int64_t n = begin; n < end; ++n)
            accumulateSpan(col, val, start[n], start[n + 1], at.data(), M, yt.data() + n * M, M);
    });
    for (int64_t n0 = 0; n0 < N; n0 += kTile)
        for (int64_t i0 = 0; i0 < M; i0 += kTile) {
            const int64_t n1 = std::min(N, n0 + kTile), i1 = std::min(M, i0 + kTile);
            for (int64_t i = i0; i < i1; ++i)
                for (int64_t n = n0; n < n1; ++n)
                    store(y + i * N + n, yt[size_t(n * M + i)]);
        }
}

void convImage(const SparseWeight &w, const float *col, int64_t P, const float *bias, float *y)
{
    const int32_t *start = w.rowStart.data();
    const int32_t *idx = w.colIndex.data();
    const float *val = w.values.data();
    for (int64_t m = 0; m < w.rows; ++m) {
        float *row = y + m * P;
        std::fill(row, row + P, bias ? bias[m] : 0.f);
        accumulateSpan(idx, val, start[m], start[m + 1], col, P, row, P);
    }
}

} // namespace cw::sparse
