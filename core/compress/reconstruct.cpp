// GPTQ, AWQ, Wanda and SparseGPT on one weight matrix. The float32 products go through runtime's gemm (oneDNN);
// the Hessian's accumulation and factorisation stay in double with Eigen.
#include "core/compress/reconstruct.h"

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "core/base/error.h"
#include "core/base/parallel.h"
#include "core/quant/ggml_blocks.h"
#include "core/runtime/kernels.h"

namespace cw {

namespace {

using MatD = Eigen::MatrixXd;
using MatF = Eigen::MatrixXf; // column-major: a column of a block of W is contiguous
using RowMatF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

std::string str(double v)
{
    std::string s = std::to_string(v);
    s.erase(s.find_last_not_of('0') + 1);
    if (!s.empty() && s.back() == '.')
        s.pop_back();
    return s;
}

struct Dims {
    int64_t rows = 0, cols = 0;
};

Dims checkWeight(const Tensor &w, const std::string &method, bool finite)
{
    if (w.dtype() != DType::Float32 || w.rank() != 2)
        throw Error(method + " needs a float32 [out, in] weight, got " + dtypeName(w.dtype()) + " " +
                    shapeToString(w.shape()));
    const Dims d{w.dim(0), w.dim(1)};
    if (d.rows == 0 || d.cols == 0)
        throw Error(method + " needs a non-empty weight, got " + shapeToString(w.shape()));
    if (finite) {
        const float *p = w.f32();
        for (int64_t i = 0; i < w.numel(); ++i)
            if (!std::isfinite(p[i]))
                throw Error(method + ": the weight has a non-finite value at row " + std::to_string(i / d.cols) +
                            ", column " + std::to_string(i % d.cols));
    }
    return d;
}

void checkInputs(int64_t inputs, int64_t cols, const std::string &method, const char *what)
{
    if (inputs != cols)
        throw Error(method + ": the layer has " + std::to_string(cols) + " inputs but " + what + " is of " +
                    std::to_string(inputs));
}

// Columns per group; cw::Error for a spec this layer cannot take.
int64_t groupLength(const QuantSpec &spec, int64_t cols, const std::string &method)
{
    if (spec.bits < 2 || spec.bits > 8)
        throw Error(method + ": quantization to " + std::to_string(spec.bits) + " bits is not supported (2 to 8 bits)");
    if (spec.granularity == Granularity::Tensor)
        throw Error(method + " quantizes per row or per group of inputs, not per tensor");
    if (spec.granularity == Granularity::Channel)
        return cols;
    if (spec.groupSize < 1 || cols % spec.groupSize != 0)
        throw Error(method + ": the group size " + std::to_string(spec.groupSize) + " does not divide the layer's " +
                    std::to_string(cols) + " inputs");
    return spec.groupSize;
}

void checkDamp(double percdamp, int64_t blockSize, const std::string &method)
{
    if (!(percdamp >= 0) || !std::isfinite(percdamp))
        throw Error(method + ": the damping fraction must be >= 0, got " + str(percdamp));
    if (blockSize < 1)
        throw Error(method + ": the block size must be at least 1, got " + std::to_string(blockSize));
}

float roundToHalf(float v)
{
    return float16ToFloat(floatToFloat16(v));
}

float inverseScale(const GroupLevels &l)
{
    return l.grid.scale != 0.f ? 1.f / l.grid.scale : 0.f;
}

// The nearest level, computed as fakeQuantize computes it (for offset 0 the same operations, bit for bit).
inline float quantizeValue(float v, const GroupLevels &l, float inv)
{
    const float zp = float(l.grid.zeroPoint);
    const float q = std::clamp(std::nearbyint((v - l.offset) * inv) + zp, float(l.grid.qmin), float(l.grid.qmax));
    return (q - zp) * l.grid.scale + l.offset;
}

// The Float16 grid of one group (ggml's Q4_0 / Q4_1 / Q8_0 form; see the header).
GroupLevels float16Levels(const float *v, int64_t n, const QuantSpec &spec)
{
    float lo = std::numeric_limits<float>::infinity(), hi = -lo;
    for (int64_t k = 0; k < n; ++k)
        if (std::isfinite(v[k])) {
            lo = std::min(lo, v[k]);
            hi = std::max(hi, v[k]);
        }
    if (lo > hi)
        lo = hi = 0.f;
    GroupLevels l;
    if (spec.symmetric) {
        l.grid.qmax = (1 << (spec.bits - 1)) - 1;
        l.grid.qmin = -l.grid.qmax;
        l.grid.scale = roundToHalf(std::max(std::abs(lo), std::abs(hi)) / float(l.grid.qmax));
    } else {
        l.grid.qmin = 0;
        l.grid.qmax = (1 << spec.bits) - 1;
        l.grid.scale = roundToHalf((hi - lo) / float(l.grid.qmax));
        l.offset = roundToHalf(lo);
    }
    if (!std::isfinite(l.grid.scale) || !std::isfinite(l.offset))
        throw Error("a group with values in [" + str(lo) + ", " + str(hi) +
                    "] is beyond float16's range: the float16 grid cannot represent it");
    return l;
}

// Quantizes w [rows, cols] (row-major) by groups of `length` consecutive columns: each (row, group)'s levels
// into levels (rows × cols / length, row-major) and, when out is set, the dequantized values.
void quantizeGroups(const float *w, int64_t rows, int64_t cols, int64_t length, const QuantSpec &spec, GroupGrid grid,
                    float *out, GroupLevels *levels)
{
    const int64_t groups = cols / length;
    if (grid == GroupGrid::MinMax) {
        Tensor t = Tensor::uninitialized(DType::Float32, {rows, cols});
        std::copy_n(w, rows * cols, t.f32());
        QuantSpec s = spec;
        s.granularity = Granularity::Group;
        s.groupSize = length;
        const QuantResult r = fakeQuantize(t, s, 0);
        for (int64_t b = 0; b < rows * groups; ++b)
            levels[b] = GroupLevels{r.grids[size_t(b)], 0.f};
        if (out)
            std::copy_n(r.dequantized.f32(), rows * cols, out);
        return;
    }
    parallelRanges(0, rows, std::max<int64_t>(1, 4096 / cols), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
            for (int64_t g = 0; g < groups; ++g) {
                const float *v = w + r * cols + g * length;
                const GroupLevels l = float16Levels(v, length, spec);
                levels[r * groups + g] = l;
                if (out) {
                    const float inv = inverseScale(l);
                    for (int64_t k = 0; k < length; ++k)
                        out[r * cols + g * length + k] = quantizeValue(v[k], l, inv);
                }
            }
    });
}

// U, the upper Cholesky factor of (H_P + λI)⁻¹ for the column order `perm` (H_P = H[perm][:, perm]), with
// H_jj = 1 for the dead columns. U = J L⁻¹ J where J H_P J = L Lᵀ (J reverses the order): then H_P = R Rᵀ
// with R = J L J upper, and (H_P)⁻¹ = (R⁻¹)ᵀ R⁻¹, so R⁻¹ is the upper factor. One Cholesky and one triangular
// inverse instead of the reference's Cholesky, inverse from it and second Cholesky.
RowMatF inverseHessianFactor(const Hessian &hessian, const std::vector<int64_t> &perm,
                             const std::vector<char> &dead, double percdamp, const std::string &method)
{
    const int64_t n = hessian.inputs();
    const double *h = hessian.matrix().data();
    double meanDiag = 0;
    for (int64_t j = 0; j < n; ++j)
        meanDiag += dead[size_t(j)] ? 1.0 : h[j * n + j];
    meanDiag /= double(n);
    const double damp = percdamp * meanDiag;
    MatD a(n, n); // J H_P J, damped
    for (int64_t c = 0; c < n; ++c) {
        const int64_t pc = perm[size_t(n - 1 - c)];
        for (int64_t r = 0; r < n; ++r)
            a(r, c) = h[pc * n + perm[size_t(n - 1 - r)]]; // H is symmetric
        if (dead[size_t(pc)])
            a(c, c) = 1.0;
        a(c, c) += damp;
    }
    Eigen::LLT<Eigen::Ref<MatD>> llt(a);
    if (llt.info() != Eigen::Success)
        throw Error(method + ": the Hessian is not positive definite after damping with λ = " + str(damp) +
                    " (percdamp " + str(percdamp) + "); raise the damping or collect more calibration tokens");
    MatD inv = MatD::Identity(n, n);
    llt.matrixL().solveInPlace(inv);
    RowMatF u = RowMatF::Zero(n, n);
    for (int64_t r = 0; r < n; ++r)
        for (int64_t c = r; c < n; ++c)
            u(r, c) = float(inv(n - 1 - r, n - 1 - c));
    if (!u.allFinite() || !(u.diagonal().array() > 0.f).all())
        throw Error(method + ": the Hessian is too ill-conditioned after damping with λ = " + str(damp) +
                    "; raise the damping");
    return u;
}

// Where a block sweep stands, for the callbacks of obsSweep.
struct SweepState {
    const RowMatF &w;   // the weights past the block (lazily updated)
    const RowMatF &u;   // the inverse Hessian factor
    const MatF &block;  // the block's columns, up to date with every column quantized so far
    const MatF &err;    // the block's scaled errors so far (columns [0, done))
    int64_t i1 = 0, i2 = 0, done = 0;

    // Column `pos` (>= the current one) as it stands now, including the updates still pending for the
    // columns past the block.
    Eigen::VectorXf current(int64_t pos) const
    {
        if (pos < i2)
            return block.col(pos - i1);
        Eigen::VectorXf v = w.col(pos);
        if (done > 0)
            v.noalias() -= err.leftCols(done) * u.col(pos).segment(i1, done);
        return v;
    }
};

// The optimal-brain-surgeon sweep GPTQ and SparseGPT share: columns in order; target(state, p, q) sets column p's
// replacement q from the up-to-date column (state.block.col(p - i1)); the error (w − q) / U_pp goes to the
// block's later columns at once and to the columns past the block in one product when the block ends.
// onBlock(state) runs when a block starts. w ends holding the replacements.
template <typename OnBlock, typename Target>
void obsSweep(RowMatF &w, const RowMatF &u, int64_t blockSize, OnBlock &&onBlock, Target &&target,
              const ProgressFn &progress, const StopToken *stop, const std::string &label)
{
    const int64_t rows = w.rows(), n = w.cols();
    MatF block, err;
    Eigen::VectorXf q(rows), e(rows);
    for (int64_t i1 = 0; i1 < n; i1 += blockSize) {
        checkStop(stop);
        const int64_t i2 = std::min(n, i1 + blockSize), count = i2 - i1;
        block = w.middleCols(i1, count);
        err.setZero(rows, count);
        SweepState state{w, u, block, err, i1, i2, 0};
        onBlock(state);
        for (int64_t i = 0; i < count; ++i) {
            const int64_t p = i1 + i;
            state.done = i;
            target(state, p, q);
            e = (block.col(i) - q) / u(p, p);
            block.col(i) = q;
            if (i + 1 < count)
                block.rightCols(count - i - 1).noalias() -= e * u.row(p).segment(p + 1, count - i - 1);
            err.col(i) = e;
        }
        w.middleCols(i1, count) = block;
        if (i2 < n) // w[:, i2:] -= err · U[i1:i2, i2:]; err is column-major, i.e. its transpose row-major
            gemm(true, false, rows, n - i2, count, -1.f, err.data(), rows, u.data() + i1 * n + i2, n, 1.f,
                 w.data() + i2, n);
        if (progress)
            progress(double(i2) / double(n), label + ": column " + std::to_string(i2) + " of " + std::to_string(n));
    }
}

// Columns whose input was zero on every calibration token (diag H = 0).
std::vector<char> deadColumns(const Hessian &h)
{
    const int64_t n = h.inputs();
    std::vector<char> dead(size_t(n), 0);
    for (int64_t j = 0; j < n; ++j)
        dead[size_t(j)] = h.matrix()[size_t(j * n + j)] == 0.0;
    return dead;
}

// floor(ratio · n), the pruned count of n weights.
int64_t prunedCount(double ratio, int64_t n)
{
    return std::min<int64_t>(n, int64_t(std::floor(ratio * double(n))));
}

void checkPattern(const SparsityPattern &p, int64_t cols, const std::string &method)
{
    if (p.m > 0 || p.n != 0) {
        if (p.m < 1 || p.n < 0 || p.n > p.m)
            throw Error(method + ": N:M sparsity needs 0 <= n <= m and m >= 1, got " + std::to_string(p.n) + ":" +
                        std::to_string(p.m));
        if (cols % p.m != 0)
            throw Error(method + ": " + std::to_string(p.n) + ":" + std::to_string(p.m) +
                        " sparsity needs the inputs (" + std::to_string(cols) + ") to be a multiple of " +
                        std::to_string(p.m));
    } else if (!(p.ratio >= 0.0 && p.ratio < 1.0)) {
        throw Error(method + ": the sparsity ratio must be in [0, 1), got " + str(p.ratio));
    }
}

// Sets mask[i] = 0 for the k lowest of scores[0, n) (ties: the lower index first). idx is scratch.
void pruneLowest(const double *scores, int64_t n, int64_t k, float *mask, int64_t maskStride, std::vector<int64_t> &idx)
{
    if (k <= 0)
        return;
    idx.resize(size_t(n));
    std::iota(idx.begin(), idx.end(), int64_t(0));
    if (k < n)
        std::nth_element(idx.begin(), idx.begin() + k, idx.end(), [&](int64_t a, int64_t b) {
            return scores[a] < scores[b] || (scores[a] == scores[b] && a < b);
        });
    for (int64_t i = 0; i < std::min(k, n); ++i)
        mask[idx[size_t(i)] * maskStride] = 0.f;
}

// Magnitude and Wanda: per-row selection by |W_ij| · norms[j].
LayerPruneResult pruneByScore(const Tensor &w, const std::vector<double> &norms, const SparsityPattern &pattern,
                              const std::string &method)
{
    const Dims d = checkWeight(w, method, false);
    checkPattern(pattern, d.cols, method);
    LayerPruneResult r;
    r.mask = Tensor::uninitialized(DType::Float32, {d.rows, d.cols});
    r.pruned = Tensor::uninitialized(DType::Float32, {d.rows, d.cols});
    const float *src = w.f32();
    float *mask = r.mask.f32(), *dst = r.pruned.f32();
    const int64_t prunedPerRow = prunedCount(pattern.ratio, d.cols);
    parallelRanges(0, d.rows, std::max<int64_t>(1, 16384 / d.cols), [&](int64_t r0, int64_t r1) {
        std::vector<double> scores(static_cast<size_t>(d.cols));
        std::vector<int64_t> idx;
        for (int64_t row = r0; row < r1; ++row) {
            const float *wr = src + row * d.cols;
            float *mr = mask + row * d.cols;
            for (int64_t j = 0; j < d.cols; ++j) {
                const double s = std::abs(double(wr[j])) * norms[size_t(j)];
                scores[size_t(j)] = std::isnan(s) ? std::numeric_limits<double>::infinity() : s;
                mr[j] = 1.f;
            }
            if (pattern.m > 0)
                for (int64_t g = 0; g < d.cols; g += pattern.m)
                    pruneLowest(scores.data() + g, pattern.m, pattern.m - pattern.n, mr + g, 1, idx);
            else
                pruneLowest(scores.data(), d.cols, prunedPerRow, mr, 1, idx);
            for (int64_t j = 0; j < d.cols; ++j)
                dst[row * d.cols + j] = mr[j] != 0.f ? wr[j] : 0.f;
        }
    });
    return r;
}

uint64_t splitmix64(uint64_t &state)
{
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void checkFiniteInputs(const float *x, int64_t tokens, int64_t n)
{
    for (int64_t i = 0; i < tokens * n; ++i)
        if (!std::isfinite(x[i]))
            throw Error("the layer's inputs have a non-finite value (token " + std::to_string(i / n) + ", input " +
                        std::to_string(i % n) + ")");
}

double outputErrorSquared(const float *x, int64_t tokens, const float *diff, int64_t rows, int64_t cols,
                          std::vector<float> &scratch)
{
    scratch.resize(size_t(tokens * rows));
    gemm(false, true, tokens, rows, cols, 1.f, x, cols, diff, cols, 0.f, scratch.data(), rows);
    double sum = 0;
    for (float v : scratch)
        sum += double(v) * v;
    return sum;
}

} // namespace

// ---- the inputs' statistics --------------------------------------------------------------------------------

Hessian::Hessian(int64_t inputs) : m_inputs(inputs)
{
    if (inputs < 1)
        throw Error("a Hessian needs at least one input, got " + std::to_string(inputs));
    const int64_t cells = checkedMul(inputs, inputs);
    checkMemoryBudget(uint64_t(cells) * sizeof(double),
                      "the Hessian of a layer with " + std::to_string(inputs) + " inputs");
    m_matrix.assign(size_t(cells), 0.0);
}

Hessian Hessian::fromMatrix(int64_t inputs, std::vector<double> matrix, int64_t tokens)
{
    Hessian h(inputs);
    if (int64_t(matrix.size()) != inputs * inputs)
        throw Error("a Hessian of " + std::to_string(inputs) + " inputs needs " + std::to_string(inputs * inputs) +
                    " values, got " + std::to_string(matrix.size()));
    for (double v : matrix)
        if (!std::isfinite(v))
            throw Error("the Hessian has a non-finite value");
    h.m_matrix = std::move(matrix);
    h.m_tokens = tokens;
    return h;
}

void Hessian::add(const float *x, int64_t tokens)
{
    if (tokens < 0)
        throw Error("cannot add a negative number of tokens (" + std::to_string(tokens) + ")");
    const int64_t n = m_inputs;
    checkFiniteInputs(x, tokens, n);
    Eigen::Map<MatD> h(m_matrix.data(), n, n);
    constexpr int64_t chunk = 512;
    MatD xt; // in × the chunk's tokens
    for (int64_t t0 = 0; t0 < tokens; t0 += chunk) {
        const int64_t c = std::min(chunk, tokens - t0);
        xt = Eigen::Map<const RowMatF>(x + t0 * n, c, n).transpose().cast<double>();
        h.selfadjointView<Eigen::Lower>().rankUpdate(xt);
    }
    if (tokens > 0)
        for (int64_t c = 1; c < n; ++c)
            for (int64_t r = 0; r < c; ++r)
                h(r, c) = h(c, r);
    m_tokens += tokens;
}

std::vector<double> Hessian::columnNorms() const
{
    std::vector<double> norms(static_cast<size_t>(m_inputs));
    for (int64_t j = 0; j < m_inputs; ++j)
        norms[size_t(j)] = std::sqrt(std::max(0.0, m_matrix[size_t(j * m_inputs + j)]));
    return norms;
}

std::vector<float> Hessian::meanSquares() const
{
    std::vector<float> mean(size_t(m_inputs), 0.f);
    if (m_tokens > 0)
        for (int64_t j = 0; j < m_inputs; ++j)
            mean[size_t(j)] = float(m_matrix[size_t(j * m_inputs + j)] / double(m_tokens));
    return mean;
}

AwqSample::AwqSample(int64_t maxRows, uint64_t seed) : m_maxRows(maxRows), m_rng(seed)
{
    if (maxRows < 0)
        throw Error("an AWQ sample cannot hold a negative number of rows (" + std::to_string(maxRows) + ")");
}

void AwqSample::add(const float *x, int64_t tokens, int64_t inputs)
{
    if (tokens < 0 || inputs < 1)
        throw Error("cannot add " + std::to_string(tokens) + " tokens of " + std::to_string(inputs) + " inputs");
    if (m_inputs == 0) {
        m_inputs = inputs;
        m_absSum.assign(size_t(inputs), 0.0);
    } else if (inputs != m_inputs) {
        throw Error("the AWQ sample holds inputs of width " + std::to_string(m_inputs) + ", not " +
                    std::to_string(inputs));
    }
    const int64_t n = inputs;
    checkFiniteInputs(x, tokens, n);
    for (int64_t t = 0; t < tokens; ++t) {
        const float *row = x + t * n;
        for (int64_t j = 0; j < n; ++j)
            m_absSum[size_t(j)] += std::abs(double(row[j]));
        // Reservoir sampling (Algorithm R).
        const int64_t seen = m_tokens + t;
        if (seen < m_maxRows) {
            m_rows.insert(m_rows.end(), row, row + n);
        } else if (m_maxRows > 0) {
            const uint64_t j = splitmix64(m_rng) % uint64_t(seen + 1);
            if (j < uint64_t(m_maxRows))
                std::copy_n(row, n, m_rows.begin() + int64_t(j) * n);
        }
    }
    m_tokens += tokens;
}

std::vector<double> AwqSample::meanAbs() const
{
    std::vector<double> mean(size_t(m_inputs), 0.0);
    if (m_tokens > 0)
        for (int64_t j = 0; j < m_inputs; ++j)
            mean[size_t(j)] = m_absSum[size_t(j)] / double(m_tokens);
    return mean;
}

int32_t GroupLevels::code(float value) const
{
    const float q = std::nearbyint((value - offset) * inverseScale(*this)) + float(grid.zeroPoint);
    return int32_t(std::clamp(q, float(grid.qmin), float(grid.qmax)));
}

// ---- quantization -------------------------------------------------------------------------------------------

LayerQuantResult rtnQuantize(const Tensor &w, const QuantSpec &spec, GroupGrid grid)
{
    const Dims d = checkWeight(w, "RTN", false);
    const int64_t length = groupLength(spec, d.cols, "RTN");
    LayerQuantResult r;
    r.groups = d.cols / length;
    r.dequantized = Tensor::uninitialized(DType::Float32, {d.rows, d.cols});
    r.grids.resize(size_t(d.rows * r.groups));
    quantizeGroups(w.f32(), d.rows, d.cols, length, spec, grid, r.dequantized.f32(), r.grids.data());
    return r;
}

LayerQuantResult gptqQuantize(const Tensor &w, const Hessian &h, const GptqOptions &options,
                              const ProgressFn &progress, const StopToken *stop)
{
    const Dims d = checkWeight(w, "GPTQ", true);
    checkInputs(h.inputs(), d.cols, "GPTQ", "the Hessian");
    const int64_t length = groupLength(options.spec, d.cols, "GPTQ");
    checkDamp(options.percdamp, options.blockSize, "GPTQ");
    const int64_t n = d.cols, rows = d.rows, groups = n / length;

    const std::vector<char> dead = deadColumns(h);
    std::vector<int64_t> perm(static_cast<size_t>(n));
    std::iota(perm.begin(), perm.end(), int64_t(0));
    if (options.actOrder) {
        const std::vector<double> &m = h.matrix();
        auto diag = [&](int64_t j) { return dead[size_t(j)] ? 1.0 : m[size_t(j * n + j)]; };
        std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) { return diag(a) > diag(b); });
    }
    std::vector<int64_t> position(static_cast<size_t>(n)); // original column -> its place in the order
    for (int64_t p = 0; p < n; ++p)
        position[size_t(perm[size_t(p)])] = p;

    checkStop(stop);
    const RowMatF u = inverseHessianFactor(h, perm, dead, options.percdamp, "GPTQ");
    RowMatF work(rows, n);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t p = 0; p < n; ++p) {
            const int64_t c = perm[size_t(p)];
            work(r, p) = dead[size_t(c)] ? 0.f : w.f32()[r * n + c];
        }

    LayerQuantResult result;
    result.groups = groups;
    result.grids.resize(size_t(rows * groups));
    std::vector<float> inv(static_cast<size_t>(rows * groups));
    std::vector<char> ready(size_t(groups), 0);
    // Super-blocks: 256 inputs, `perSuper` groups (sub-blocks) each.
    const bool super = options.grid == GroupGrid::SuperBlock;
    constexpr int64_t kSuper = 256;
    int64_t perSuper = 1, superBytes = 0;
    if (super) {
        const uint32_t type = options.superBlockType;
        const ggml::TypeTraits *traits = ggml::typeTraits(type);
        ggml::SubBlockGrid probe[16];
        const std::vector<uint8_t> zero(traits && traits->blockSize == kSuper ? size_t(traits->blockBytes) : 0);
        if (zero.empty())
            throw Error("GPTQ: " + ggml::typeName(type) + " has no super-blocks (Q2_K ... Q6_K)");
        perSuper = ggml::superBlockGrids(type, zero.data(), probe);
        if (length * perSuper != kSuper || n % kSuper != 0)
            throw Error("GPTQ on " + ggml::typeName(type) + "'s grids needs groups of " + std::to_string(kSuper / perSuper) +
                        " and whole super-blocks of 256 inputs, got groups of " + std::to_string(length) + " and " +
                        std::to_string(n) + " inputs");
        superBytes = traits->blockBytes;
        result.superBlocks.resize(size_t(rows * (n / kSuper) * superBytes));
    }
    const int64_t span = super ? kSuper : length; // inputs whose grids are chosen together
    std::vector<float> gather(static_cast<size_t>(rows * span));
    std::vector<GroupLevels> levels(static_cast<size_t>(rows));
    std::vector<uint8_t> blocks(super ? size_t(rows * superBytes) : 0);
    // A super-block's grids from llama.cpp's quantizer run on its 256 columns as they stand.
    auto chooseSuperBlock = [&](const SweepState &s, int64_t sb) {
        for (int64_t k = 0; k < kSuper; ++k) {
            const Eigen::VectorXf col = s.current(position[size_t(sb * kSuper + k)]);
            for (int64_t r = 0; r < rows; ++r)
                gather[size_t(r * kSuper + k)] = col[r];
        }
        ggml::quantizeRows(options.superBlockType, gather.data(), blocks.data(), rows, kSuper);
        ggml::SubBlockGrid sub[16];
        for (int64_t r = 0; r < rows; ++r) {
            const uint8_t *block = blocks.data() + r * superBytes;
            ggml::superBlockGrids(options.superBlockType, block, sub);
            std::copy_n(block, superBytes, result.superBlocks.data() + (r * (n / kSuper) + sb) * superBytes);
            for (int64_t i = 0; i < perSuper; ++i) {
                GroupLevels l;
                l.grid.scale = sub[i].scale;
                l.grid.zeroPoint = sub[i].zeroPoint;
                l.grid.qmin = 0;
                l.grid.qmax = sub[i].maxCode;
                l.offset = sub[i].offset;
                const size_t at = size_t(r * groups + sb * perSuper + i);
                result.grids[at] = l;
                inv[at] = inverseScale(l);
            }
        }
        std::fill_n(ready.begin() + sb * perSuper, perSuper, char(1));
    };
    auto target = [&](const SweepState &s, int64_t p, Eigen::VectorXf &q) {
        const int64_t g = perm[size_t(p)] / length;
        if (!ready[size_t(g)] && super)
            chooseSuperBlock(s, g / perSuper);
        if (!ready[size_t(g)]) {
            // The group's grid, from its columns' weights as they stand when its first column comes up.
            for (int64_t k = 0; k < length; ++k) {
                const Eigen::VectorXf col = s.current(position[size_t(g * length + k)]);
                for (int64_t r = 0; r < rows; ++r)
                    gather[size_t(r * length + k)] = col[r];
            }
            quantizeGroups(gather.data(), rows, length, length, options.spec, options.grid, nullptr, levels.data());
            for (int64_t r = 0; r < rows; ++r) {
                result.grids[size_t(r * groups + g)] = levels[size_t(r)];
                inv[size_t(r * groups + g)] = inverseScale(levels[size_t(r)]);
            }
            ready[size_t(g)] = 1;
        }
        const auto col = s.block.col(p - s.i1);
        for (int64_t r = 0; r < rows; ++r)
            q[r] = quantizeValue(col[r], result.grids[size_t(r * groups + g)], inv[size_t(r * groups + g)]);
    };
    obsSweep(work, u, options.blockSize, [](const SweepState &) {}, target, progress, stop, "GPTQ");

    result.dequantized = Tensor::uninitialized(DType::Float32, {rows, n});
    float *dst = result.dequantized.f32();
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t p = 0; p < n; ++p)
            dst[r * n + perm[size_t(p)]] = work(r, p);
    return result;
}

AwqResult awqQuantize(const Tensor &w, const AwqSample &inputs, const AwqOptions &options,
                      const ProgressFn &progress, const StopToken *stop)
{
    const Dims d = checkWeight(w, "AWQ", true);
    if (inputs.rowCount() == 0)
        throw Error("AWQ needs a sample of the layer's input rows, and the sample is empty");
    checkInputs(inputs.inputs(), d.cols, "AWQ", "the input sample");
    const int64_t length = groupLength(options.spec, d.cols, "AWQ");
    std::vector<double> alphas = options.alphas;
    if (alphas.empty())
        for (int k = 0; k < 20; ++k)
            alphas.push_back(k / 20.0);
    for (double a : alphas)
        if (!(a >= 0.0 && a <= 1.0))
            throw Error("AWQ: every α must be in [0, 1], got " + str(a));
    if (options.clip && (options.clipGrid < 1 || !(options.maxShrink >= 0.0 && options.maxShrink < 1.0)))
        throw Error("AWQ: the clipping search needs clipGrid >= 1 and maxShrink in [0, 1), got " +
                    std::to_string(options.clipGrid) + " and " + str(options.maxShrink));
    const int64_t rows = d.rows, cols = d.cols, groups = cols / length, tokens = inputs.rowCount();
    const int clipSteps = options.clip ? std::max(1, int(options.maxShrink * options.clipGrid + 1e-9)) : 0;
    const double totalSteps = double(alphas.size() + size_t(clipSteps));
    const float *src = w.f32();
    const float *x = inputs.rows().data();
    const std::vector<double> meanAbs = inputs.meanAbs();

    auto scalesFor = [&](double alpha) {
        std::vector<double> s(static_cast<size_t>(cols));
        for (int64_t j = 0; j < cols; ++j)
            s[size_t(j)] = std::max(std::pow(meanAbs[size_t(j)], alpha), 1e-4);
        const auto [lo, hi] = std::minmax_element(s.begin(), s.end());
        const double norm = std::sqrt(*lo * *hi);
        std::vector<float> f(static_cast<size_t>(cols));
        for (int64_t j = 0; j < cols; ++j)
            f[size_t(j)] = float(s[size_t(j)] / norm);
        return f;
    };
    const size_t cells = static_cast<size_t>(rows * cols);
    std::vector<float> scaled(cells), quantized(cells), diff(cells), scratch;
    std::vector<GroupLevels> levels(static_cast<size_t>(rows * groups));
    auto scale = [&](const std::vector<float> &s) {
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < cols; ++j)
                scaled[size_t(r * cols + j)] = src[r * cols + j] * s[size_t(j)];
    };

    AwqResult result;
    result.groups = groups;
    double best = std::numeric_limits<double>::infinity();
    for (size_t k = 0; k < alphas.size(); ++k) {
        checkStop(stop);
        const std::vector<float> s = scalesFor(alphas[k]);
        scale(s);
        quantizeGroups(scaled.data(), rows, cols, length, options.spec, options.grid, quantized.data(), levels.data());
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < cols; ++j)
                diff[size_t(r * cols + j)] = quantized[size_t(r * cols + j)] / s[size_t(j)] - src[r * cols + j];
        const double e = outputErrorSquared(x, tokens, diff.data(), rows, cols, scratch);
        result.alphaErrors.push_back(e);
        if (e < best) {
            best = e;
            result.alpha = alphas[k];
            result.scales = s;
            result.grids = levels;
            result.dequantized = Tensor::uninitialized(DType::Float32, {rows, cols});
            for (int64_t r = 0; r < rows; ++r)
                for (int64_t j = 0; j < cols; ++j)
                    result.dequantized.f32()[r * cols + j] = quantized[size_t(r * cols + j)] / s[size_t(j)];
        }
        if (progress)
            progress(double(k + 1) / totalSteps, "AWQ: α = " + str(alphas[k]));
    }
    if (clipSteps == 0)
        return result;

    // The clipping search on W diag(s), with the inputs it then sees, X diag(s)⁻¹: each (row, group) keeps the
    // shrink factor with the lowest error of its own partial output X_g (Q − W)_gᵀ.
    const std::vector<float> &s = result.scales;
    scale(s);
    std::vector<float> xs(static_cast<size_t>(tokens * cols));
    for (int64_t t = 0; t < tokens; ++t)
        for (int64_t j = 0; j < cols; ++j)
            xs[size_t(t * cols + j)] = x[t * cols + j] / s[size_t(j)];
    std::vector<float> absMax(size_t(rows * groups), 0.f), clipped(size_t(rows * cols));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < cols; ++j) {
            float &m = absMax[size_t(r * groups + j / length)];
            m = std::max(m, std::abs(scaled[size_t(r * cols + j)]));
        }
    std::vector<double> bestError(size_t(rows * groups), std::numeric_limits<double>::infinity());
    std::vector<float> bestValues(static_cast<size_t>(rows * cols));
    for (int k = 0; k < clipSteps; ++k) {
        checkStop(stop);
        const float factor = float(1.0 - double(k) / double(options.clipGrid));
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < cols; ++j) {
                const float m = absMax[size_t(r * groups + j / length)] * factor;
                clipped[size_t(r * cols + j)] = std::clamp(scaled[size_t(r * cols + j)], -m, m);
            }
        quantizeGroups(clipped.data(), rows, cols, length, options.spec, options.grid, quantized.data(), levels.data());
        for (size_t i = 0; i < diff.size(); ++i)
            diff[i] = quantized[i] - scaled[i];
        scratch.resize(size_t(tokens * rows));
        for (int64_t g = 0; g < groups; ++g) {
            gemm(false, true, tokens, rows, length, 1.f, xs.data() + g * length, cols, diff.data() + g * length, cols,
                 0.f, scratch.data(), rows);
            for (int64_t r = 0; r < rows; ++r) {
                double e = 0;
                for (int64_t t = 0; t < tokens; ++t)
                    e += double(scratch[size_t(t * rows + r)]) * scratch[size_t(t * rows + r)];
                if (e < bestError[size_t(r * groups + g)]) {
                    bestError[size_t(r * groups + g)] = e;
                    result.grids[size_t(r * groups + g)] = levels[size_t(r * groups + g)];
                    std::copy_n(quantized.begin() + r * cols + g * length, length,
                                bestValues.begin() + r * cols + g * length);
                }
            }
        }
        if (progress)
            progress(double(alphas.size() + size_t(k) + 1) / totalSteps,
                     "AWQ: clipping at " + str(factor) + " of the range");
    }
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < cols; ++j)
            result.dequantized.f32()[r * cols + j] = bestValues[size_t(r * cols + j)] / s[size_t(j)];
    return result;
}

// ---- pruning ------------------------------------------------------------------------------------------------

LayerPruneResult magnitudePruneRows(const Tensor &w, const SparsityPattern &pattern)
{
    const std::vector<double> ones(size_t(w.rank() == 2 ? w.dim(1) : 0), 1.0);
    return pruneByScore(w, ones, pattern, "magnitude pruning");
}

LayerPruneResult wandaPrune(const Tensor &w, const std::vector<double> &columnNorms, const SparsityPattern &pattern)
{
    const Dims d = checkWeight(w, "Wanda", false);
    checkInputs(int64_t(columnNorms.size()), d.cols, "Wanda", "the list of column norms");
    return pruneByScore(w, columnNorms, pattern, "Wanda");
}

LayerPruneResult sparseGptPrune(const Tensor &w, const Hessian &h, const SparseGptOptions &options,
                                const ProgressFn &progress, const StopToken *stop)
{
    const Dims d = checkWeight(w, "SparseGPT", true);
    checkInputs(h.inputs(), d.cols, "SparseGPT", "the Hessian");
    const SparsityPattern &pattern = options.pattern;
    checkPattern(pattern, d.cols, "SparseGPT");
    checkDamp(options.percdamp, options.blockSize, "SparseGPT");
    const int64_t n = d.cols, rows = d.rows;
    const bool nm = pattern.m > 0;
    const int64_t blockSize = nm ? (options.blockSize + pattern.m - 1) / pattern.m * pattern.m : options.blockSize;

    const std::vector<char> dead = deadColumns(h);
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), int64_t(0));
    checkStop(stop);
    const RowMatF u = inverseHessianFactor(h, order, dead, options.percdamp, "SparseGPT");
    RowMatF work(rows, n);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < n; ++c)
            work(r, c) = dead[size_t(c)] ? 0.f : w.f32()[r * n + c];

    LayerPruneResult result;
    result.mask = Tensor::uninitialized(DType::Float32, {rows, n});
    float *mask = result.mask.f32();
    std::fill_n(mask, rows * n, 1.f);
    std::vector<double> scores;
    std::vector<int64_t> idx;
    // Scores w² / U_jj² of columns [c0, c0 + count) of each row, lowest `prune` of them masked.
    auto select = [&](const SweepState &s, int64_t c0, int64_t count, int64_t prune) {
        scores.resize(size_t(count));
        for (int64_t r = 0; r < rows; ++r) {
            for (int64_t k = 0; k < count; ++k) {
                const double v = s.block(r, c0 + k - s.i1), dj = u(c0 + k, c0 + k);
                scores[size_t(k)] = v * v / (dj * dj);
            }
            pruneLowest(scores.data(), count, prune, mask + r * n + c0, 1, idx);
        }
    };
    auto onBlock = [&](const SweepState &s) {
        if (!nm)
            select(s, s.i1, s.i2 - s.i1, prunedCount(pattern.ratio, s.i2) - prunedCount(pattern.ratio, s.i1));
    };
    auto target = [&](const SweepState &s, int64_t p, Eigen::VectorXf &q) {
        if (nm && p % pattern.m == 0)
            select(s, p, pattern.m, pattern.m - pattern.n);
        const auto col = s.block.col(p - s.i1);
        for (int64_t r = 0; r < rows; ++r)
            q[r] = mask[r * n + p] != 0.f ? col[r] : 0.f;
    };
    obsSweep(work, u, blockSize, onBlock, target, progress, stop, "SparseGPT");

    result.pruned = Tensor::uninitialized(DType::Float32, {rows, n});
    Eigen::Map<RowMatF>(result.pruned.f32(), rows, n) = work;
    return result;
}

LeastSquares::LeastSquares(int64_t inputs, int64_t outputs, bool bias)
    : m_inputs(inputs), m_outputs(outputs), m_bias(bias), m_h(inputs + (bias ? 1 : 0))
{
    if (outputs < 1)
        throw Error("a least-squares fit needs at least one output, got " + std::to_string(outputs));
    const int64_t cells = checkedMul(m_h.inputs(), outputs);
    checkMemoryBudget(uint64_t(cells) * sizeof(double), "the moments of a layer with " + std::to_string(inputs) +
                                                            " inputs and " + std::to_string(outputs) + " outputs");
    m_cross.assign(size_t(cells), 0.0);
}

void LeastSquares::add(const float *x, const float *y, int64_t rows)
{
    const int64_t n = m_h.inputs();
    checkFiniteInputs(y, rows, m_outputs);
    constexpr int64_t chunk = 512;
    RowMatF xa; // the chunk's rows of [x, 1] (of x)
    Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> cross(m_cross.data(), n,
                                                                                             m_outputs);
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        const int64_t c = std::min(chunk, rows - r0);
        xa.resize(c, n);
        xa.leftCols(m_inputs) = Eigen::Map<const RowMatF>(x + r0 * m_inputs, c, m_inputs);
        if (m_bias)
            xa.col(m_inputs).setOnes();
        m_h.add(xa.data(), c);
        const auto yc = Eigen::Map<const RowMatF>(y + r0 * m_outputs, c, m_outputs).cast<double>();
        cross.noalias() += xa.cast<double>().transpose() * yc;
        m_targetSquares += yc.squaredNorm();
    }
}

LeastSquares::Fit LeastSquares::solve(double damp) const
{
    if (!(damp >= 0))
        throw Error("the damping of a least-squares fit must be >= 0, got " + str(damp));
    if (rows() == 0)
        throw Error("a least-squares fit needs data: no rows were added");
    const int64_t n = m_h.inputs();
    MatD a = Eigen::Map<const MatD>(m_h.matrix().data(), n, n); // symmetric: row- and column-major alike
    double diag = 0;
    for (int64_t j = 0; j < m_inputs; ++j)
        diag += a(j, j);
    const double lambda = damp * (m_inputs ? diag / double(m_inputs) : 0.0);
    for (int64_t j = 0; j < m_inputs; ++j)
        a(j, j) += lambda;
    const MatD b = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
        m_cross.data(), n, m_outputs);
    // LDLT copes with the semi-definite case (an input never active, damp 0); a singular system is refused.
    const Eigen::LDLT<MatD> ldlt(a);
    if (ldlt.info() != Eigen::Success)
        throw Error("the least-squares system could not be factored");
    const MatD solution = ldlt.solve(b); // [n, out]
    if (!solution.allFinite())
        throw Error("the least-squares system is singular (give a damping above 0)");
    Fit fit;
    fit.weight = Tensor(DType::Float32, {m_outputs, m_inputs});
    fit.bias.resize(m_bias ? size_t(m_outputs) : 0);
    for (int64_t o = 0; o < m_outputs; ++o) {
        for (int64_t j = 0; j < m_inputs; ++j)
            fit.weight.f32()[o * m_inputs + j] = float(solution(j, o));
        if (m_bias)
            fit.bias[size_t(o)] = float(solution(m_inputs, o));
    }
    return fit;
}

double LeastSquares::relativeError(const float *weight, const float *bias) const
{
    // Σ ‖W̃ xa − y‖² = Σ_o (w̃_oᵀ H w̃_o − 2 w̃_oᵀ c_o) + Σ ‖y‖², with w̃_o = [W_o, b_o] and c_o the cross moments' column.
    const int64_t n = m_h.inputs();
    const Eigen::Map<const MatD> h(m_h.matrix().data(), n, n);
    const Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> cross(
        m_cross.data(), n, m_outputs);
    Eigen::VectorXd w(n);
    double error = m_targetSquares;
    for (int64_t o = 0; o < m_outputs; ++o) {
        for (int64_t j = 0; j < m_inputs; ++j)
            w(j) = weight[o * m_inputs + j];
        if (m_bias)
            w(m_inputs) = bias ? bias[o] : 0.0;
        error += w.dot(h * w) - 2 * w.dot(cross.col(o));
    }
    return m_targetSquares > 0 ? std::max(0.0, error) / m_targetSquares : 0.0;
}

} // namespace cw
