// The block-format matrix products (core/quant/ggml_kernels.h) against double-precision references built from
// dequantizeRow: (a) with the activations rounded to 8-bit blocks as llama.cpp rounds them (recomputed here,
// scalar): the same sum up to float32 rounding and order, within 1e-5 of Σ|w̃ x̃|; (b) with the activations as
// they are: the rounding's error, within the header's bound for every output and within a named budget per
// type for the whole product. Types × shapes (in 128 ... 4096, out 1 / 7 / 384, n 1 / 3 / 17) × threads 1 / 2,
// on seeded Gaussian weights and activations with outliers; one and two threads must give the same bits.
// Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 pass the same checks in InterleavedRows' layout (out 7 and 1 leave a partial group
// of eight rows).
// Weights of random bytes reach the codes and scales a quantizer rarely writes (Q8_0's -128, six-bit scales of
// 63, negative Q3_K / Q6_K scales). Then the errors a caller can cause.
#include <QtTest>

#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <vector>

#include "core/base/error.h"
#include "core/base/tensor.h"
#include "core/quant/ggml_blocks.h"
#include "core/quant/ggml_kernels.h"
#include "tests/testutil.h"

namespace {

using cw::ggml::Type;

// Relative error ||y − y_float|| / ||y_float|| (Frobenius, over the 384 × n outputs of a case) of each type
// against the float product of the dequantized weights with the unrounded activations (check b): the error of
// rounding the activations to 8 bits, which is about the same for every type of one activation block (32 or
// 256 values). The comment holds the largest value measured over the shapes of gaussianAndOutliers
// (deterministic: seeded data, and no dependence on threads); the budget is 25 % above it. Without the
// activations' outlier columns the figures are 0.59 % (32-blocks) and 0.78 % (256-blocks). The float types
// (and Q8_K, widened) do not round the activations: only float32 summation order remains.
constexpr double kBudgetF32 = 4.7e-7;  // 3.7809e-7
constexpr double kBudgetF16 = 4.6e-7;  // 3.6612e-7
constexpr double kBudgetBF16 = 4.9e-7; // 3.8931e-7
constexpr double kBudgetQ8_K = 4.4e-7; // 3.5180e-7
constexpr double kBudgetQ8_0 = 2.26e-2; // 1.8096e-2
constexpr double kBudgetQ4_0 = 2.27e-2; // 1.8123e-2
constexpr double kBudgetQ4_1 = 2.22e-2; // 1.7790e-2
constexpr double kBudgetQ5_0 = 2.26e-2; // 1.8109e-2
constexpr double kBudgetQ5_1 = 2.26e-2; // 1.8066e-2
constexpr double kBudgetQ2_K = 7.31e-2; // 5.8505e-2
constexpr double kBudgetQ3_K = 7.07e-2; // 5.6599e-2
constexpr double kBudgetQ4_K = 7.15e-2; // 5.7170e-2
constexpr double kBudgetQ5_K = 7.06e-2; // 5.6512e-2
constexpr double kBudgetQ6_K = 7.10e-2; // 5.6767e-2

// Check (a): |y − Σ w̃ x̃| ≤ kSameSum · Σ |w̃ x̃| for every output (float32 accumulation over up to 4096 terms
// in a different order, and the blocks' scales multiplied in float).
constexpr double kSameSum = 1e-5;

// How a type's kernel rounds the activations (llama.cpp's vec_dot_type).
enum class Act { None, Q8_0, Q8_K };

struct Format {
    Type type;
    Act act;
    double budget;
};
const Format kFormats[] = {
    {cw::ggml::F32, Act::None, kBudgetF32},   {cw::ggml::F16, Act::None, kBudgetF16},
    {cw::ggml::BF16, Act::None, kBudgetBF16}, {cw::ggml::Q8_0, Act::Q8_0, kBudgetQ8_0},
    {cw::ggml::Q4_0, Act::Q8_0, kBudgetQ4_0}, {cw::ggml::Q4_1, Act::Q8_0, kBudgetQ4_1},
    {cw::ggml::Q5_0, Act::Q8_0, kBudgetQ5_0}, {cw::ggml::Q5_1, Act::Q8_0, kBudgetQ5_1},
    {cw::ggml::Q2_K, Act::Q8_K, kBudgetQ2_K}, {cw::ggml::Q3_K, Act::Q8_K, kBudgetQ3_K},
    {cw::ggml::Q4_K, Act::Q8_K, kBudgetQ4_K}, {cw::ggml::Q5_K, Act::Q8_K, kBudgetQ5_K},
    {cw::ggml::Q6_K, Act::Q8_K, kBudgetQ6_K}, {cw::ggml::Q8_K, Act::None, kBudgetQ8_K},
};

const Format &formatOf(uint32_t type)
{
    for (const Format &f : kFormats)
        if (f.type == type)
            return f;
    qFatal("no format %u", type);
}

// ---- the activations' rounding, as llama.cpp computes it, written out scalar --------------------------------

struct Rounded {
    std::vector<double> x;    // x̃ = d · code
    std::vector<double> amax; // per block: the largest |x| (for the bound)
    int64_t block = 1;
};

// quantize_row_q8_0 (AVX2): d = float16(amax / 127), codes = round-half-even(x · (127 / amax)).
Rounded roundQ8_0(const float *x, int64_t n)
{
    Rounded r{std::vector<double>(size_t(n)), std::vector<double>(size_t(n / 32)), 32};
    for (int64_t b = 0; b < n / 32; ++b) {
        float amax = 0;
        for (int k = 0; k < 32; ++k)
            amax = std::max(amax, std::fabs(x[b * 32 + k]));
        const float d = cw::float16ToFloat(cw::floatToFloat16(amax / 127.f));
        const float id = amax != 0.f ? 127.f / amax : 0.f;
        for (int k = 0; k < 32; ++k)
            r.x[size_t(b * 32 + k)] = double(d) * std::nearbyint(x[b * 32 + k] * id);
        r.amax[size_t(b)] = amax;
    }
    return r;
}

// quantize_row_q8_K_ref: iscale = -127 / (the first value of largest magnitude), codes = nearest-even(iscale ·
// x) capped at 127, d = 1 / iscale. Also writes block_q8_K's bytes (d, qs, bsums) when `bytes` is given.
Rounded roundQ8_K(const float *x, int64_t n, uint8_t *bytes = nullptr)
{
    Rounded r{std::vector<double>(size_t(n)), std::vector<double>(size_t(n / 256)), 256};
    for (int64_t b = 0; b < n / 256; ++b, x += 256) {
        float amax = 0, max = 0;
        for (int k = 0; k < 256; ++k)
            if (std::fabs(x[k]) > amax) {
                amax = std::fabs(x[k]);
                max = x[k];
            }
        r.amax[size_t(b)] = amax;
        float d = 0;
        int8_t q[256] = {};
        if (amax != 0.f) {
            const float iscale = -127.f / max;
            for (int k = 0; k < 256; ++k)
                q[k] = int8_t(std::min(127.f, std::nearbyint(iscale * x[k])));
            d = 1.f / iscale;
        }
        for (int k = 0; k < 256; ++k)
            r.x[size_t(b * 256 + k)] = double(d) * q[k];
        if (bytes) {
            uint8_t *blk = bytes + b * 292;
            std::memcpy(blk, &d, 4);
            std::memcpy(blk + 4, q, 256);
            for (int j = 0; j < 16; ++j) {
                int16_t sum = 0;
                for (int k = 0; k < 16; ++k)
                    sum = int16_t(sum + q[16 * j + k]);
                std::memcpy(blk + 260 + 2 * j, &sum, 2);
            }
        }
    }
    return r;
}

Rounded roundFor(Act act, const float *x, int64_t n)
{
    if (act == Act::Q8_0)
        return roundQ8_0(x, n);
    if (act == Act::Q8_K)
        return roundQ8_K(x, n);
    return Rounded{std::vector<double>(x, x + n), {}, 1};
}

// ---- data ------------------------------------------------------------------------------------------------------

constexpr int64_t kMaxOut = 384, kMaxN = 17;

// Gaussian values of scale `sigma` with a few outlier columns (every row, 10-40x) and single spikes: the shape of
// a language model's weights and, larger, of its activations.
std::vector<float> gaussianWithOutliers(int64_t rows, int64_t cols, float sigma, uint32_t seed)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.f, 1.f);
    std::uniform_real_distribution<float> uniform(0.f, 1.f);
    std::vector<float> columnScale(size_t(cols), 1.f);
    for (float &c : columnScale)
        if (uniform(rng) < 0.01f)
            c = 10.f + 30.f * uniform(rng);
    std::vector<float> v(size_t(rows * cols));
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < cols; ++j) {
            float x = sigma * normal(rng) * columnScale[size_t(j)];
            if (uniform(rng) < 0.002f)
                x = (uniform(rng) < 0.5f ? -1.f : 1.f) * sigma * (20.f + 40.f * uniform(rng));
            v[size_t(r * cols + j)] = x;
        }
    return v;
}

// A weight matrix as stored and as dequantizeRow widens it.
struct Weights {
    std::vector<uint8_t> bytes;
    std::vector<float> values; // dequantized, kMaxOut rows
    int64_t rowBytes = 0;
};

Weights encode(uint32_t type, const std::vector<float> &w, int64_t rows, int64_t in)
{
    Weights m;
    m.rowBytes = cw::ggml::rowBytes(type, in);
    m.bytes.resize(size_t(rows * m.rowBytes));
    if (type == cw::ggml::Q8_K) // no quantizer writes it: block_q8_K from the activations' rounding
        for (int64_t r = 0; r < rows; ++r)
            roundQ8_K(w.data() + r * in, in, m.bytes.data() + r * m.rowBytes);
    else
        cw::ggml::quantizeRows(type, w.data(), m.bytes.data(), rows, in);
    m.values.resize(size_t(rows * in));
    for (int64_t r = 0; r < rows; ++r)
        cw::ggml::dequantizeRow(type, m.bytes.data() + r * m.rowBytes, m.values.data() + r * in, in);
    return m;
}

// Per (type, in): kMaxOut rows; a case with fewer outputs takes the first.
const Weights &weightsFor(uint32_t type, int64_t in)
{
    static std::map<std::pair<uint32_t, int64_t>, Weights> cache;
    auto it = cache.find({type, in});
    if (it == cache.end())
        it = cache.emplace(std::make_pair(type, in),
                           encode(type, gaussianWithOutliers(kMaxOut, in, 0.02f, 11u + uint32_t(in)), kMaxOut, in))
                 .first;
    return it->second;
}

// Per in: kMaxN rows of activations.
const std::vector<float> &activationsFor(int64_t in)
{
    static std::map<int64_t, std::vector<float>> cache;
    auto it = cache.find(in);
    if (it == cache.end())
        it = cache.emplace(in, gaussianWithOutliers(kMaxN, in, 1.f, 97u + uint32_t(in))).first;
    return it->second;
}

// ---- the checks ------------------------------------------------------------------------------------------------

struct Measured {
    double sameSum = 0;  // max over outputs of |y − Σ w̃ x̃| / Σ |w̃ x̃|   (check a)
    double relative = 0; // ||y − Σ w̃ x|| / ||Σ w̃ x||                    (check b)
    double boundUse = 0; // max over outputs of |y − Σ w̃ x| / the header's bound (1: at the bound)
};

// y (n × out) against the references computed in double from the dequantized weights.
Measured measure(const Format &f, const float *w, int64_t out, int64_t in, const float *x, int64_t n, const float *y)
{
    Measured m;
    double errSq = 0, refSq = 0;
    // The header's bound per activation element: 32-blocks 0.563 · amax / 127, 256-blocks 0.501 · amax / 127.
    const double perAmax = f.act == Act::Q8_0 ? 0.563 / 127 : f.act == Act::Q8_K ? 0.501 / 127 : 0;
    for (int64_t i = 0; i < n; ++i) {
        const Rounded xr = roundFor(f.act, x + i * in, in);
        for (int64_t j = 0; j < out; ++j) {
            const float *wj = w + j * in;
            double rounded = 0, roundedAbs = 0, exact = 0, exactAbs = 0, bound = 0;
            for (int64_t k = 0; k < in; ++k) {
                rounded += double(wj[k]) * xr.x[size_t(k)];
                roundedAbs += std::fabs(double(wj[k]) * xr.x[size_t(k)]);
                exact += double(wj[k]) * double(x[i * in + k]);
                exactAbs += std::fabs(double(wj[k]) * double(x[i * in + k]));
                if (perAmax != 0)
                    bound += perAmax * xr.amax[size_t(k / xr.block)] * std::fabs(double(wj[k]));
            }
            const double yij = y[i * out + j];
            if (roundedAbs > 0)
                m.sameSum = std::max(m.sameSum, std::fabs(yij - rounded) / roundedAbs);
            else if (yij != 0)
                m.sameSum = INFINITY;
            errSq += (yij - exact) * (yij - exact);
            refSq += exact * exact;
            const double allowed = bound + kSameSum * exactAbs;
            if (allowed > 0)
                m.boundUse = std::max(m.boundUse, std::fabs(yij - exact) / allowed);
            else if (yij != exact)
                m.boundUse = INFINITY;
        }
    }
    m.relative = refSq > 0 ? std::sqrt(errSq / refSq) : (errSq > 0 ? INFINITY : 0);
    return m;
}

// gemm, or with interleaved the same product through InterleavedRows (the legacy formats).
std::vector<float> run(uint32_t type, const Weights &w, int64_t out, int64_t in, const float *x, int64_t n, int threads,
                       bool interleaved = false)
{
    std::vector<float> y(size_t(n * out), NAN);
    if (interleaved)
        cw::ggml::InterleavedRows(type, w.bytes.data(), out, in).gemm(x, n, y.data(), threads);
    else
        cw::ggml::gemm(type, w.bytes.data(), out, in, x, n, y.data(), threads);
    return y;
}

// The largest relative error seen per type over all shapes (printed at the end, for the budgets above).
std::map<uint32_t, double> g_largestRelative;

} // namespace

class TestGgmlKernels : public QObject {
    Q_OBJECT

private slots:
    void gaussianAndOutliers_data();
    void gaussianAndOutliers();
    void randomBytes_data();
    void randomBytes();
    void zeroBlocksAndRows();
    void errors();
    void cleanupTestCase();
};

void TestGgmlKernels::gaussianAndOutliers_data()
{
    QTest::addColumn<uint32_t>("type");
    QTest::addColumn<qint64>("in");
    QTest::addColumn<qint64>("out");
    QTest::addColumn<qint64>("n");
    QTest::addColumn<int>("threads");
    QTest::addColumn<bool>("interleaved");
    for (const Format &f : kFormats)
        for (bool interleaved : {false, true}) {
            if (interleaved && !cw::ggml::InterleavedRows::supports(f.type))
                continue;
            for (qint64 in : {128, 256, 512, 4096}) {
                if (in % cw::ggml::typeTraits(f.type)->blockSize)
                    continue;
                for (qint64 out : {1, 7, 384})
                    for (qint64 n : {1, 3, 17})
                        for (int threads : {1, 2})
                            QTest::addRow("%s%s in=%lld out=%lld n=%lld threads=%d",
                                          cw::ggml::typeName(f.type).c_str(), interleaved ? " interleaved" : "", in,
                                          out, n, threads)
                                << uint32_t(f.type) << in << out << n << threads << interleaved;
            }
        }
}

void TestGgmlKernels::gaussianAndOutliers()
{
    QFETCH(uint32_t, type);
    QFETCH(qint64, in);
    QFETCH(qint64, out);
    QFETCH(qint64, n);
    QFETCH(int, threads);
    QFETCH(bool, interleaved);
    const Format &f = formatOf(type);
    const Weights &w = weightsFor(type, in);
    const float *x = activationsFor(in).data();
    const std::vector<float> y = run(type, w, out, in, x, n, threads, interleaved);
    if (threads > 1) { // the split over threads changes no bit
        const std::vector<float> single = run(type, w, out, in, x, n, 1, interleaved);
        QVERIFY(std::memcmp(y.data(), single.data(), y.size() * sizeof(float)) == 0);
    }
    const Measured m = measure(f, w.values.data(), out, in, x, n, y.data());
    QVERIFY2(m.sameSum <= kSameSum, qPrintable(QStringLiteral("|y − Σ w̃ x̃| up to %1 of Σ|w̃ x̃|").arg(m.sameSum)));
    QVERIFY2(m.boundUse <= 1, qPrintable(QStringLiteral("an output %1 times the bound from the activations' rounding")
                                             .arg(m.boundUse)));
    // The relative error of a few outputs is a matter of which happen to be small; of 384 it is a statistic.
    if (out == kMaxOut) {
        double &largest = g_largestRelative[type];
        largest = std::max(largest, m.relative);
        QVERIFY2(m.relative <= f.budget,
                 qPrintable(QStringLiteral("relative error %1 above the budget %2").arg(m.relative).arg(f.budget)));
        // A kernel that stopped rounding the activations would pass any budget: the rounding types must lose.
        if (f.act != Act::None && in == 4096 && n == kMaxN)
            QVERIFY2(m.relative > f.budget / 10, qPrintable(QStringLiteral("relative error %1").arg(m.relative)));
    }
}

void TestGgmlKernels::randomBytes_data()
{
    QTest::addColumn<uint32_t>("type");
    for (const Format &f : kFormats)
        QTest::newRow(cw::ggml::typeName(f.type).c_str()) << uint32_t(f.type);
}

// Weights of random bytes, with each block's float16 (or float) scales set to a finite value of either sign (a
// random scale could be Inf or NaN), against check (a) only: every code and six-bit scale a block can hold.
void TestGgmlKernels::randomBytes()
{
    QFETCH(uint32_t, type);
    const Format &f = formatOf(type);
    const cw::ggml::TypeTraits *traits = cw::ggml::typeTraits(type);
    constexpr int64_t out = 37, in = 1024, n = 6;
    std::mt19937 rng(type * 7919u + 5u);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
    Weights w;
    w.rowBytes = cw::ggml::rowBytes(type, in);
    w.bytes.resize(size_t(out * w.rowBytes));
    for (uint8_t &b : w.bytes)
        b = uint8_t(byte(rng));
    // The byte offsets of each block's float16 scales (ggml-common.h), or the whole row for the float types.
    std::vector<int> halves;
    switch (type) {
    case cw::ggml::Q8_0: case cw::ggml::Q4_0: case cw::ggml::Q5_0: halves = {0}; break;
    case cw::ggml::Q4_1: case cw::ggml::Q5_1: case cw::ggml::Q4_K: case cw::ggml::Q5_K: halves = {0, 2}; break;
    case cw::ggml::Q2_K: halves = {80, 82}; break;
    case cw::ggml::Q3_K: halves = {108}; break;
    case cw::ggml::Q6_K: halves = {208}; break;
    default: break;
    }
    const int64_t blocks = out * in / traits->blockSize;
    for (int64_t b = 0; b < blocks; ++b) {
        uint8_t *blk = w.bytes.data() + b * traits->blockBytes;
        for (int off : halves) {
            const uint16_t h = cw::floatToFloat16(scale(rng));
            std::memcpy(blk + off, &h, 2);
        }
        if (type == cw::ggml::Q8_K) {
            const float d = scale(rng);
            std::memcpy(blk, &d, 4);
        } else if (type == cw::ggml::F16) {
            const uint16_t h = cw::floatToFloat16(scale(rng));
            std::memcpy(blk, &h, 2);
        } else if (type == cw::ggml::BF16) {
            const uint16_t h = cw::floatToBFloat16(scale(rng));
            std::memcpy(blk, &h, 2);
        } else if (type == cw::ggml::F32) {
            const float v = scale(rng);
            std::memcpy(blk, &v, 4);
        }
    }
    w.values.resize(size_t(out * in));
    for (int64_t r = 0; r < out; ++r)
        cw::ggml::dequantizeRow(type, w.bytes.data() + r * w.rowBytes, w.values.data() + r * in, in);
    const std::vector<float> x = gaussianWithOutliers(n, in, 1.f, 3u);
    for (bool interleaved : {false, true}) {
        if (interleaved && !cw::ggml::InterleavedRows::supports(type))
            continue;
        const std::vector<float> y = run(type, w, out, in, x.data(), n, 2, interleaved);
        const Measured m = measure(f, w.values.data(), out, in, x.data(), n, y.data());
        QVERIFY2(m.sameSum <= kSameSum, qPrintable(QStringLiteral("|y − Σ w̃ x̃| up to %1 of Σ|w̃ x̃|").arg(m.sameSum)));
        QVERIFY2(m.boundUse <= 1, qPrintable(QStringLiteral("an output %1 times the bound").arg(m.boundUse)));
    }
}

// All-zero activation blocks and rows (Q8_K's d = 0 branch; Q8_0's zero scale), zero weight rows, and a row of
// x whose largest magnitude appears with both signs (Q8_K takes the first; both round alike).
void TestGgmlKernels::zeroBlocksAndRows()
{
    constexpr int64_t out = 9, in = 768, n = 5;
    std::vector<float> x = gaussianWithOutliers(n, in, 1.f, 21u);
    std::fill(x.begin(), x.begin() + in, 0.f);                // row 0: zero
    std::fill(x.begin() + in + 256, x.begin() + in + 512, 0.f); // row 1: one zero super-block
    x[size_t(2 * in + 5)] = -50.f;
    x[size_t(2 * in + 9)] = 50.f;
    x[size_t(2 * in + 17)] = -50.f;
    for (const Format &f : kFormats) {
        if (in % cw::ggml::typeTraits(f.type)->blockSize)
            continue;
        std::vector<float> wf = gaussianWithOutliers(out, in, 0.02f, 5u);
        std::fill(wf.begin() + 3 * in, wf.begin() + 4 * in, 0.f); // weight row 3: zero
        const Weights w = encode(f.type, wf, out, in);
        for (bool interleaved : {false, true}) {
            if (interleaved && !cw::ggml::InterleavedRows::supports(f.type))
                continue;
            const std::vector<float> y = run(f.type, w, out, in, x.data(), n, 1, interleaved);
            for (int64_t j = 0; j < out; ++j)
                QCOMPARE(y[size_t(j)], 0.f);
            for (int64_t i = 0; i < n; ++i)
                QCOMPARE(y[size_t(i * out + 3)], 0.f);
            const Measured m = measure(f, w.values.data(), out, in, x.data(), n, y.data());
            QVERIFY2(m.sameSum <= kSameSum, cw::ggml::typeName(f.type).c_str());
            QVERIFY2(m.boundUse <= 1, cw::ggml::typeName(f.type).c_str());
        }
    }
}

void TestGgmlKernels::errors()
{
    std::vector<uint8_t> w(1 << 16);
    std::vector<float> x(4096, 1.f), y(4096, 7.f);
    const auto gemm = [&](uint32_t type, int64_t out, int64_t in, int64_t n) {
        return testutil::errorOf([&] { cw::ggml::gemm(type, w.data(), out, in, x.data(), n, y.data(), 1); });
    };
    QVERIFY(gemm(99, 1, 32, 1).contains("no tensor type 99"));
    QVERIFY(gemm(4, 1, 32, 1).contains("no tensor type 4")); // a removed type number
    QCOMPARE(gemm(16, 1, 256, 1), QStringLiteral("cannot multiply by a matrix of type IQ2_XXS"));
    QCOMPARE(gemm(cw::ggml::I8, 1, 256, 1), QStringLiteral("cannot multiply by a matrix of type I8"));
    QCOMPARE(gemm(cw::ggml::Q4_K, 2, 96, 1), QStringLiteral("a row of 96 values is not whole Q4_K blocks of 256"));
    QCOMPARE(gemm(cw::ggml::Q8_0, 2, 40, 1), QStringLiteral("a row of 40 values is not whole Q8_0 blocks of 32"));
    QVERIFY(gemm(cw::ggml::Q8_0, -1, 32, 1).contains("cannot multiply"));
    QVERIFY(gemm(cw::ggml::Q8_0, 1, 32, -2).contains("cannot multiply"));
    QCOMPARE(y[0], 7.f); // nothing written
    // Empty products: nothing to write, or zeros for rows of no values.
    QCOMPARE(gemm(cw::ggml::Q4_K, 0, 256, 3), QString());
    QCOMPARE(gemm(cw::ggml::Q4_K, 5, 256, 0), QString());
    QCOMPARE(y[0], 7.f);
    QCOMPARE(gemm(cw::ggml::F16, 3, 0, 2), QString());
    for (int k = 0; k < 6; ++k)
        QCOMPARE(y[size_t(k)], 0.f);
    QCOMPARE(y[6], 7.f);
    // The interleaved layout: the legacy formats only, whole blocks.
    const auto interleave = [&](uint32_t type, int64_t out, int64_t in) {
        return testutil::errorOf([&] { cw::ggml::InterleavedRows(type, w.data(), out, in); });
    };
    QCOMPARE(interleave(cw::ggml::Q4_K, 2, 256), QStringLiteral("no interleaved layout for Q4_K"));
    QCOMPARE(interleave(cw::ggml::Q4_0, 2, 40), QStringLiteral("a row of 40 values is not whole Q4_0 blocks of 32"));
    QVERIFY(interleave(cw::ggml::Q8_0, -1, 32).contains("no matrix"));
    QCOMPARE(interleave(cw::ggml::Q8_0, 0, 32), QString());
}

void TestGgmlKernels::cleanupTestCase()
{
    for (const auto &[type, relative] : g_largestRelative)
        qInfo("%s: largest relative error %.5g (budget %.5g)", cw::ggml::typeName(type).c_str(), relative,
              formatOf(type).budget);
}

QTEST_GUILESS_MAIN(TestGgmlKernels)
#include "test_ggml_kernels.moc"
