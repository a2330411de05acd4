// The weight-compression methods of language models on one linear layer (core/compress/reconstruct.h): GPTQ and
// AWQ against round-to-nearest, SparseGPT and Wanda against magnitude pruning, on a synthetic layer whose inputs
// look like a transformer's (correlated channels, a few outlier channels 10-50x the rest); exact properties
// (GPTQ with a diagonal Hessian and AWQ with α = 0 are RTN bit for bit, every value on its group's grid, the
// float16 grid in ggml's block forms, exact per-row sparsity and N:M patterns); two hand-computed 2 x 4 cases;
// the Hessian accumulator against XᵀX; bad options; cancellation.
//
// The relative output errors ‖X (W' − W)ᵀ‖ / ‖X Wᵀ‖ on held-out inputs are printed (docs/language-models.md
// quotes them): build/tests/test_reconstruct | grep 'output error'
#include <QtTest>

#include <cmath>
#include <functional>
#include <random>
#include <set>

#include "core/base/error.h"
#include "core/compress/prune.h"
#include "core/compress/reconstruct.h"
#include "core/quant/ggml_blocks.h"
#include "core/quant/quantize.h"
#include "core/runtime/kernels.h"
#include "testutil.h"

using namespace cw;

namespace {

// A linear layer and inputs with a transformer's structure: 16 latent factors shared by all channels (correlated
// columns), channel offsets and scales, and eight outlier channels 10-50x the typical scale.
struct Layer {
    int64_t out = 0, in = 0;
    Tensor w;
    std::vector<float> calibration, heldOut; // tokens × in
    int64_t calibrationTokens = 0, heldOutTokens = 0;
};

Layer makeLayer(int64_t out, int64_t in, int64_t calibrationTokens, int64_t heldOutTokens, uint32_t seed)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.f, 1.f);
    std::uniform_real_distribution<float> uniform(0.5f, 1.5f);
    Layer l;
    l.out = out;
    l.in = in;
    l.calibrationTokens = calibrationTokens;
    l.heldOutTokens = heldOutTokens;
    std::vector<float> w(static_cast<size_t>(out * in));
    for (float &v : w)
        v = normal(rng) / std::sqrt(float(in));
    l.w = Tensor::fromFloats({out, in}, w);
    constexpr int factors = 16;
    std::vector<float> mixing(static_cast<size_t>(factors * in)), scale(static_cast<size_t>(in)), offset(static_cast<size_t>(in));
    for (float &v : mixing)
        v = normal(rng) / std::sqrt(float(factors));
    for (int64_t j = 0; j < in; ++j) {
        scale[size_t(j)] = uniform(rng);
        offset[size_t(j)] = 0.3f * normal(rng);
    }
    const float outliers[] = {10, 15, 20, 25, 30, 35, 40, 50};
    for (size_t k = 0; k < std::size(outliers); ++k)
        scale[size_t((k * 61 + 7) % size_t(in))] = outliers[k];
    auto draw = [&](int64_t tokens) {
        std::vector<float> x(static_cast<size_t>(tokens * in));
        float z[factors];
        for (int64_t t = 0; t < tokens; ++t) {
            for (float &v : z)
                v = normal(rng);
            for (int64_t j = 0; j < in; ++j) {
                float shared = 0;
                for (int k = 0; k < factors; ++k)
                    shared += z[k] * mixing[size_t(k * in + j)];
                x[size_t(t * in + j)] = scale[size_t(j)] * (offset[size_t(j)] + shared + 0.5f * normal(rng));
            }
        }
        return x;
    };
    l.calibration = draw(calibrationTokens);
    l.heldOut = draw(heldOutTokens);
    return l;
}

// ‖X (W' − W)ᵀ‖ / ‖X Wᵀ‖ on the held-out inputs.
double outputError(const Layer &l, const Tensor &approx)
{
    std::vector<float> diff(static_cast<size_t>(l.out * l.in)), y(static_cast<size_t>(l.heldOutTokens * l.out)), e(y.size());
    for (size_t i = 0; i < diff.size(); ++i)
        diff[i] = approx.f32()[i] - l.w.f32()[i];
    gemm(false, true, l.heldOutTokens, l.out, l.in, 1.f, l.heldOut.data(), l.in, l.w.f32(), l.in, 0.f, y.data(), l.out);
    gemm(false, true, l.heldOutTokens, l.out, l.in, 1.f, l.heldOut.data(), l.in, diff.data(), l.in, 0.f, e.data(), l.out);
    double num = 0, den = 0;
    for (size_t i = 0; i < y.size(); ++i) {
        num += double(e[i]) * e[i];
        den += double(y[i]) * y[i];
    }
    return std::sqrt(num / den);
}

QString spellGrid(int bits, int64_t group, bool symmetric)
{
    return QStringLiteral("%1-bit %2 %3")
        .arg(bits)
        .arg(group > 0 ? QStringLiteral("g%1").arg(group) : QStringLiteral("per row"))
        .arg(symmetric ? "sym" : "asym");
}

// Every value of `r` is a level of its group's grid.
bool onGrid(const LayerQuantResult &r, QString *why)
{
    const int64_t rows = r.dequantized.dim(0), cols = r.dequantized.dim(1), length = cols / r.groups;
    for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) {
            const GroupLevels &l = r.grids[size_t(i * r.groups + j / length)];
            const float v = r.dequantized.f32()[i * cols + j];
            if (l.level(l.code(v)) != v) {
                *why = QStringLiteral("(%1, %2) = %3 is not on its grid").arg(i).arg(j).arg(double(v), 0, 'g', 9);
                return false;
            }
        }
    return true;
}

bool sameValues(const Tensor &a, const Tensor &b)
{
    if (a.shape() != b.shape())
        return false;
    for (int64_t i = 0; i < a.numel(); ++i)
        if (a.f32()[i] != b.f32()[i])
            return false;
    return true;
}

float half(float v)
{
    return float16ToFloat(floatToFloat16(v));
}

int64_t zerosIn(const float *v, int64_t n)
{
    return std::count(v, v + n, 0.f);
}

} // namespace

class TestReconstruct : public QObject {
    Q_OBJECT

    Layer m_layer;
    std::unique_ptr<Hessian> m_hessian;
    std::unique_ptr<AwqSample> m_sample;

private slots:
    void initTestCase()
    {
        m_layer = makeLayer(256, 512, 4096, 1024, 2024);
        m_hessian = std::make_unique<Hessian>(m_layer.in);
        m_sample = std::make_unique<AwqSample>();
        for (int64_t t = 0; t < m_layer.calibrationTokens; t += 1000) { // in uneven chunks, as a caller would add
            const int64_t n = std::min<int64_t>(1000, m_layer.calibrationTokens - t);
            m_hessian->add(m_layer.calibration.data() + t * m_layer.in, n);
            m_sample->add(m_layer.calibration.data() + t * m_layer.in, n, m_layer.in);
        }
    }

    // ---- the inputs' statistics ----

    void hessianIsXtX()
    {
        const int64_t tokens = 300, in = 24;
        std::mt19937 rng(7);
        std::normal_distribution<float> normal(0.f, 1.f);
        std::vector<float> x(static_cast<size_t>(tokens * in));
        for (size_t i = 0; i < x.size(); ++i)
            x[i] = normal(rng) * (i % in == 5 ? 30.f : 1.f);
        Hessian h(in);
        h.add(x.data(), 100);
        h.add(x.data() + 100 * in, 150);
        h.add(x.data() + 250 * in, 0);
        h.add(x.data() + 250 * in, 50);
        QCOMPARE(h.tokens(), tokens);
        for (int64_t a = 0; a < in; ++a)
            for (int64_t b = 0; b < in; ++b) {
                double naive = 0, magnitude = 0;
                for (int64_t t = 0; t < tokens; ++t) {
                    const double p = double(x[size_t(t * in + a)]) * double(x[size_t(t * in + b)]);
                    naive += p;
                    magnitude += std::abs(p);
                }
                const double got = h.matrix()[size_t(a * in + b)];
                QVERIFY2(std::abs(got - naive) <= 1e-13 * magnitude,
                         qPrintable(QStringLiteral("H(%1, %2) = %3, XᵀX gives %4").arg(a).arg(b).arg(got).arg(naive)));
            }
        const std::vector<double> norms = h.columnNorms();
        const std::vector<float> squares = h.meanSquares();
        for (int64_t j = 0; j < in; ++j) {
            QCOMPARE(norms[size_t(j)], std::sqrt(h.matrix()[size_t(j * in + j)]));
            QCOMPARE(squares[size_t(j)], float(h.matrix()[size_t(j * in + j)] / double(tokens)));
        }
    }

    void awqSampleKeepsRows()
    {
        const int64_t tokens = 300, in = 8;
        std::vector<float> x(static_cast<size_t>(tokens * in));
        for (int64_t t = 0; t < tokens; ++t)
            for (int64_t j = 0; j < in; ++j)
                x[size_t(t * in + j)] = float(t) + 0.01f * float(j) * (j % 2 ? -1.f : 1.f); // row t is recognisable
        AwqSample small(400), sample(64), again(64);
        for (AwqSample *s : {&small, &sample, &again}) {
            s->add(x.data(), 120, in);
            s->add(x.data() + 120 * in, 180, in);
        }
        QCOMPARE(small.rowCount(), tokens); // fewer tokens than its room: all of them, in order
        QVERIFY(small.rows() == x);
        QCOMPARE(sample.rowCount(), int64_t(64));
        QVERIFY(sample.rows() == again.rows()); // seeded
        std::set<int> seen;
        for (int64_t r = 0; r < 64; ++r) {
            const int t = int(sample.rows()[size_t(r * in)]);
            QVERIFY(std::equal(x.begin() + t * in, x.begin() + (t + 1) * in, sample.rows().begin() + r * in));
            seen.insert(t);
        }
        QCOMPARE(seen.size(), size_t(64));
        QVERIFY2(*seen.rbegin() >= 120, "the reservoir keeps rows of later calls too");
        const std::vector<double> mean = sample.meanAbs();
        for (int64_t j = 0; j < in; ++j) {
            double sum = 0;
            for (int64_t t = 0; t < tokens; ++t)
                sum += std::abs(double(x[size_t(t * in + j)]));
            QVERIFY(std::abs(mean[size_t(j)] - sum / tokens) < 1e-9);
        }
    }

    // ---- GPTQ ----

    void gptqBeatsRtn_data()
    {
        QTest::addColumn<int>("bits");
        QTest::addColumn<int>("group");
        QTest::addColumn<bool>("symmetric");
        QTest::addColumn<bool>("actOrder");
        for (int bits : {3, 4})
            for (int group : {32, 128})
                for (bool symmetric : {true, false})
                    QTest::newRow(qPrintable(spellGrid(bits, group, symmetric))) << bits << group << symmetric << false;
        QTest::newRow("3-bit g128 asym, act-order") << 3 << 128 << false << true;
        QTest::newRow("4-bit g32 sym, act-order") << 4 << 32 << true << true;
        QTest::newRow("4-bit per row asym") << 4 << 0 << false << false;
        QTest::newRow("4-bit per row asym, act-order") << 4 << 0 << false << true;
    }

    void gptqBeatsRtn()
    {
        QFETCH(int, bits);
        QFETCH(int, group);
        QFETCH(bool, symmetric);
        QFETCH(bool, actOrder);
        GptqOptions o;
        o.spec = groupQuantSpec(bits, group, symmetric);
        o.actOrder = actOrder;
        const LayerQuantResult rtn = rtnQuantize(m_layer.w, o.spec);
        const LayerQuantResult gptq = gptqQuantize(m_layer.w, *m_hessian, o);
        QCOMPARE(gptq.groups, rtn.groups);
        QCOMPARE(gptq.grids.size(), rtn.grids.size());
        QString why;
        QVERIFY2(onGrid(gptq, &why), qPrintable(why));
        const double eRtn = outputError(m_layer, rtn.dequantized), eGptq = outputError(m_layer, gptq.dequantized);
        qInfo("output error, %s%s: RTN %.4f, GPTQ %.4f", qPrintable(spellGrid(bits, group, symmetric)),
              actOrder ? " act-order" : "", eRtn, eGptq);
        QVERIFY2(eGptq < eRtn, qPrintable(QStringLiteral("GPTQ %1 is not below RTN %2").arg(eGptq).arg(eRtn)));
    }

    // With a diagonal H, U is diagonal and no error is spread: GPTQ quantizes each column with the grid of the
    // original weights, which is RTN, bit for bit (whatever the damping and the order).
    void gptqWithDiagonalHessianIsRtn_data()
    {
        QTest::addColumn<int>("bits");
        QTest::addColumn<int>("group");
        QTest::addColumn<bool>("symmetric");
        QTest::addColumn<bool>("actOrder");
        QTest::addColumn<bool>("float16");
        QTest::newRow("3-bit g32 sym") << 3 << 32 << true << false << false;
        QTest::newRow("4-bit g128 asym") << 4 << 128 << false << false << false;
        QTest::newRow("2-bit per row asym") << 2 << 0 << false << false << false;
        QTest::newRow("8-bit g64 sym, act-order") << 8 << 64 << true << true << false;
        QTest::newRow("4-bit g32 asym float16") << 4 << 32 << false << false << true;
        QTest::newRow("4-bit g32 sym float16, act-order") << 4 << 32 << true << true << true;
    }

    void gptqWithDiagonalHessianIsRtn()
    {
        QFETCH(int, bits);
        QFETCH(int, group);
        QFETCH(bool, symmetric);
        QFETCH(bool, actOrder);
        QFETCH(bool, float16);
        const int64_t n = m_layer.in;
        std::vector<double> diag(size_t(n * n), 0.0);
        for (int64_t j = 0; j < n; ++j)
            diag[size_t(j * n + j)] = m_hessian->matrix()[size_t(j * n + j)];
        const Hessian h = Hessian::fromMatrix(n, diag, m_layer.calibrationTokens);
        GptqOptions o;
        o.spec = groupQuantSpec(bits, group, symmetric);
        o.grid = float16 ? GroupGrid::Float16 : GroupGrid::MinMax;
        o.actOrder = actOrder;
        const LayerQuantResult rtn = rtnQuantize(m_layer.w, o.spec, o.grid);
        const LayerQuantResult gptq = gptqQuantize(m_layer.w, h, o);
        QVERIFY(sameValues(gptq.dequantized, rtn.dequantized));
        for (size_t b = 0; b < rtn.grids.size(); ++b) {
            QCOMPARE(gptq.grids[b].grid.scale, rtn.grids[b].grid.scale);
            QCOMPARE(gptq.grids[b].grid.zeroPoint, rtn.grids[b].grid.zeroPoint);
            QCOMPARE(gptq.grids[b].offset, rtn.grids[b].offset);
        }
        // The MinMax grid is quantize.h's, so RTN here is fakeQuantize itself.
        if (!float16)
            QVERIFY(sameValues(rtn.dequantized, fakeQuantize(m_layer.w, o.spec, 0).dequantized));
    }

    // The float16 grid in ggml's block forms (groups of 32): every group's d (and m) is a float16 value and every
    // weight is, bit for bit, what llama.cpp's dequantize_row_<type> computes from d, m and an integer code in the
    // format's range: Q4_0 (q' − 8)·d, q' in [0, 15]; Q4_1 q·d + m, q in [0, 15]; Q5_0 (q' − 16)·d, q' in [0, 31];
    // Q5_1 q·d + m, q in [0, 31]; Q8_0 q·d, q in [−128, 127].
    void float16GridIsGgmlBlocks_data()
    {
        QTest::addColumn<QString>("format");
        QTest::addColumn<int>("bits");
        QTest::addColumn<bool>("symmetric");
        QTest::addColumn<bool>("gptq");
        for (bool gptq : {false, true}) {
            const char *method = gptq ? "GPTQ" : "RTN";
            QTest::newRow(qPrintable(QStringLiteral("Q4_0 %1").arg(method))) << "Q4_0" << 4 << true << gptq;
            QTest::newRow(qPrintable(QStringLiteral("Q4_1 %1").arg(method))) << "Q4_1" << 4 << false << gptq;
            QTest::newRow(qPrintable(QStringLiteral("Q5_0 %1").arg(method))) << "Q5_0" << 5 << true << gptq;
            QTest::newRow(qPrintable(QStringLiteral("Q5_1 %1").arg(method))) << "Q5_1" << 5 << false << gptq;
            QTest::newRow(qPrintable(QStringLiteral("Q8_0 %1").arg(method))) << "Q8_0" << 8 << true << gptq;
            QTest::newRow(qPrintable(QStringLiteral("Q4_1 %1, 3 bits").arg(method))) << "Q4_1" << 3 << false << gptq;
        }
    }

    void float16GridIsGgmlBlocks()
    {
        QFETCH(QString, format);
        QFETCH(int, bits);
        QFETCH(bool, symmetric);
        QFETCH(bool, gptq);
        GptqOptions o;
        o.spec = groupQuantSpec(bits, 32, symmetric);
        o.grid = GroupGrid::Float16;
        const LayerQuantResult r = gptq ? gptqQuantize(m_layer.w, *m_hessian, o) : rtnQuantize(m_layer.w, o.spec, o.grid);
        const bool withMin = format.endsWith("_1");
        const int offset = format == "Q4_0" ? 8 : format == "Q5_0" ? 16 : 0; // q' = q + offset
        const int codeMax = format.startsWith("Q4") ? 15 : format.startsWith("Q5") ? 31 : 127;
        const int codeMin = format == "Q8_0" ? -128 : 0;
        const int64_t cols = m_layer.in;
        for (int64_t i = 0; i < m_layer.out; ++i)
            for (int64_t b = 0; b < r.groups; ++b) {
                const GroupLevels &l = r.grids[size_t(i * r.groups + b)];
                const float d = l.grid.scale, m = l.offset;
                QCOMPARE(half(d), d);
                QCOMPARE(half(m), m);
                QCOMPARE(l.grid.zeroPoint, 0);
                if (!withMin)
                    QCOMPARE(m, 0.f);
                for (int64_t k = 0; k < 32; ++k) {
                    const float v = r.dequantized.f32()[i * cols + b * 32 + k];
                    const int stored = l.code(v) + offset; // the integer the block holds
                    QVERIFY(stored >= codeMin && stored <= codeMax);
                    const float decoded = withMin ? float(stored) * d + m : float(stored - offset) * d;
                    QVERIFY2(decoded == v, qPrintable(QStringLiteral("(%1, %2): %3 decodes as %4")
                                                          .arg(i).arg(b * 32 + k).arg(double(v), 0, 'g', 9)
                                                          .arg(double(decoded), 0, 'g', 9)));
                }
            }
        if (gptq) {
            QVERIFY(outputError(m_layer, r.dequantized) < outputError(m_layer, rtnQuantize(m_layer.w, o.spec, o.grid).dequantized));
        }
    }

    // The k-quants' super-block grids: llama.cpp's quantizer chooses each super-block's scales when its first
    // column comes up, GPTQ the codes. Every value is a level of its sub-block's grid; the codes written into the
    // kept blocks (ggml::setSuperBlockCodes) decode to GPTQ's values; and GPTQ's output error is below that of
    // llama.cpp's quantizer on the same weights (RTN on the format), with and without act-order.
    void gptqOnSuperBlocks_data()
    {
        QTest::addColumn<uint32_t>("type");
        QTest::addColumn<bool>("actOrder");
        for (uint32_t t : {ggml::Q2_K, ggml::Q3_K, ggml::Q4_K, ggml::Q5_K, ggml::Q6_K})
            QTest::newRow(ggml::typeName(t).c_str()) << t << false;
        QTest::newRow("Q4_K, act-order") << uint32_t(ggml::Q4_K) << true;
    }

    void gptqOnSuperBlocks()
    {
        QFETCH(uint32_t, type);
        QFETCH(bool, actOrder);
        const int64_t rows = m_layer.out, cols = m_layer.in, blockBytes = ggml::typeTraits(type)->blockBytes;
        const bool sixteen = type != ggml::Q4_K && type != ggml::Q5_K;
        GptqOptions o;
        o.spec = groupQuantSpec(4, sixteen ? 16 : 32, false); // the grids are the format's; the group is its sub-block
        o.grid = GroupGrid::SuperBlock;
        o.superBlockType = type;
        o.actOrder = actOrder;
        const LayerQuantResult r = gptqQuantize(m_layer.w, *m_hessian, o);
        QCOMPARE(int64_t(r.superBlocks.size()), rows * (cols / 256) * blockBytes);
        QString why;
        QVERIFY2(onGrid(r, &why), qPrintable(why));
        // Pack: each row's super-blocks get the codes of GPTQ's values.
        std::vector<uint8_t> packed = r.superBlocks;
        std::vector<int32_t> codes(256);
        for (int64_t i = 0; i < rows; ++i)
            for (int64_t sb = 0; sb < cols / 256; ++sb) {
                for (int64_t k = 0; k < 256; ++k) {
                    const int64_t c = sb * 256 + k;
                    codes[size_t(k)] = r.grids[size_t(i * r.groups + c / (cols / r.groups))].code(r.dequantized.f32()[i * cols + c]);
                }
                ggml::setSuperBlockCodes(type, packed.data() + (i * (cols / 256) + sb) * blockBytes, codes.data());
            }
        std::vector<float> decoded(size_t(rows * cols));
        for (int64_t i = 0; i < rows; ++i)
            ggml::dequantizeRow(type, packed.data() + i * (cols / 256) * blockBytes, decoded.data() + i * cols, cols);
        double worst = 0, scale = 0;
        for (size_t k = 0; k < decoded.size(); ++k) {
            worst = std::max(worst, double(std::fabs(decoded[k] - r.dequantized.f32()[k])));
            scale = std::max(scale, double(std::fabs(r.dequantized.f32()[k])));
        }
        QVERIFY2(worst <= 1e-6 * scale, qPrintable(QStringLiteral("a packed value moved by %1").arg(worst)));
        // Against llama.cpp's quantizer on the unchanged weights.
        std::vector<uint8_t> rtnBytes(size_t(rows * (cols / 256) * blockBytes));
        ggml::quantizeRows(type, m_layer.w.f32(), rtnBytes.data(), rows, cols);
        Tensor rtn = Tensor::uninitialized(DType::Float32, {rows, cols});
        for (int64_t i = 0; i < rows; ++i)
            ggml::dequantizeRow(type, rtnBytes.data() + i * (cols / 256) * blockBytes, rtn.f32() + i * cols, cols);
        const double eRtn = outputError(m_layer, rtn), eGptq = outputError(m_layer, r.dequantized);
        qInfo("output error, %s%s: llama.cpp's quantizer %.4f, GPTQ on its grids %.4f", ggml::typeName(type).c_str(),
              actOrder ? " act-order" : "", eRtn, eGptq);
        QVERIFY2(eGptq < eRtn, qPrintable(QStringLiteral("GPTQ %1 is not below RTN %2").arg(eGptq).arg(eRtn)));
    }

    void gptqOnSuperBlocksRefusesOtherShapes()
    {
        GptqOptions o;
        o.grid = GroupGrid::SuperBlock;
        o.superBlockType = ggml::Q4_K;
        o.spec = groupQuantSpec(4, 16, false);
        QVERIFY(testutil::errorOf([&] { gptqQuantize(m_layer.w, *m_hessian, o); }).contains("needs groups of 32"));
        o.superBlockType = ggml::Q4_0;
        QVERIFY(testutil::errorOf([&] { gptqQuantize(m_layer.w, *m_hessian, o); }).contains("has no super-blocks"));
    }

    // W = [[0.29, 0.06, −0.6, 0.35], [−0.17, 0.04, 0.3, −0.22]], 3 bits symmetric per row (levels 0, ±1, ±2, ±3
    // times scale = max|w| / 3: 0.2 for row 0, 0.1 for row 1), no damping, and
    // H = [[1, .5, 0, 0], [.5, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]: inputs 0 and 1 are correlated, 2 and 3 not.
    // H⁻¹'s top block is (4/3)[[1, −.5], [−.5, 1]], so quantizing column 0 moves column 1 by
    // −(w0 − q0)·[H⁻¹]01/[H⁻¹]00 = +0.5 (w0 − q0); nothing else couples.
    //   row 0: q0 = 0.2 (0.29 / 0.2 = 1.45 → 1), column 1 becomes 0.06 + 0.5 · 0.09 = 0.105 → 1.05 → 0.2
    //          (RTN: 0.06 → 0.3 → 0), −0.6 → −3 → −0.6, 0.35 → 1.75 → 0.4.
    //   row 1: q0 = −0.2 (−1.7 → −2), column 1 becomes 0.04 + 0.5 · 0.03 = 0.055 → 0.55 → 0.1 (RTN: 0.4 → 0),
    //          0.3 → 0.3, −0.22 → −0.2.
    // Output error eᵀHe of row 0: RTN e = [.09, .06, 0, −.05] gives 0.0196, GPTQ e = [.09, −.14, 0, −.05] 0.0176.
    void gptqHandComputed()
    {
        const Tensor w = Tensor::fromFloats({2, 4}, {0.29f, 0.06f, -0.6f, 0.35f, -0.17f, 0.04f, 0.3f, -0.22f});
        const Hessian h = Hessian::fromMatrix(4, {1, .5, 0, 0, .5, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1});
        GptqOptions o;
        o.spec = groupQuantSpec(3, 0, true);
        o.percdamp = 0;
        const LayerQuantResult r = gptqQuantize(w, h, o);
        const std::vector<float> expected = {0.2f, 0.2f, -0.6f, 0.4f, -0.2f, 0.1f, 0.3f, -0.2f};
        for (int i = 0; i < 8; ++i)
            QVERIFY2(std::abs(r.dequantized.f32()[i] - expected[size_t(i)]) < 1e-6f,
                     qPrintable(QStringLiteral("element %1: %2, expected %3").arg(i).arg(r.dequantized.f32()[i]).arg(expected[size_t(i)])));
        QCOMPARE(r.grids[0].grid.scale, 0.6f / 3.f);
        QCOMPARE(r.grids[1].grid.scale, 0.3f / 3.f);
        const std::vector<float> rtn = rtnQuantize(w, o.spec).dequantized.toFloatVector();
        QVERIFY(std::abs(rtn[1]) < 1e-7f && std::abs(rtn[5]) < 1e-7f);
    }

    // ---- AWQ ----

    void awqBeatsRtn_data()
    {
        QTest::addColumn<int>("bits");
        QTest::addColumn<int>("group");
        QTest::addColumn<bool>("symmetric");
        QTest::addColumn<bool>("clip");
        for (int bits : {3, 4})
            for (int group : {32, 128})
                QTest::newRow(qPrintable(spellGrid(bits, group, false))) << bits << group << false << true;
        QTest::newRow("4-bit g128 sym") << 4 << 128 << true << true;
        QTest::newRow("3-bit g128 asym, no clipping") << 3 << 128 << false << false;
        QTest::newRow("4-bit per row asym") << 4 << 0 << false << true;
    }

    void awqBeatsRtn()
    {
        QFETCH(int, bits);
        QFETCH(int, group);
        QFETCH(bool, symmetric);
        QFETCH(bool, clip);
        AwqOptions o;
        o.spec = groupQuantSpec(bits, group, symmetric);
        o.clip = clip;
        const AwqResult awq = awqQuantize(m_layer.w, *m_sample, o);
        QCOMPARE(awq.alphaErrors.size(), size_t(20));
        QVERIFY(awq.alpha >= 0 && awq.alpha < 1);
        QCOMPARE(awq.scales.size(), size_t(m_layer.in));
        // W' = level / s: the grids are those of W diag(s).
        const int64_t length = m_layer.in / awq.groups;
        for (int64_t i = 0; i < m_layer.out; ++i)
            for (int64_t j = 0; j < m_layer.in; ++j) {
                const GroupLevels &l = awq.grids[size_t(i * awq.groups + j / length)];
                const float s = awq.scales[size_t(j)], v = awq.dequantized.f32()[i * m_layer.in + j];
                QCOMPARE(l.level(l.code(v * s)) / s, v);
            }
        const double eRtn = outputError(m_layer, rtnQuantize(m_layer.w, o.spec).dequantized);
        const double eAwq = outputError(m_layer, awq.dequantized);
        qInfo("output error, %s%s: RTN %.4f, AWQ %.4f (alpha %.2f)", qPrintable(spellGrid(bits, group, symmetric)),
              clip ? "" : " no clipping", eRtn, eAwq, awq.alpha);
        QVERIFY2(eAwq < eRtn, qPrintable(QStringLiteral("AWQ %1 is not below RTN %2").arg(eAwq).arg(eRtn)));
        QVERIFY(awq.alpha > 0);
    }

    void awqWithAlphaZeroIsRtn_data()
    {
        QTest::addColumn<int>("bits");
        QTest::addColumn<int>("group");
        QTest::addColumn<bool>("symmetric");
        QTest::addColumn<bool>("float16");
        QTest::newRow("4-bit g128 asym") << 4 << 128 << false << false;
        QTest::newRow("3-bit g32 sym") << 3 << 32 << true << false;
        QTest::newRow("4-bit g32 asym float16") << 4 << 32 << false << true;
    }

    void awqWithAlphaZeroIsRtn()
    {
        QFETCH(int, bits);
        QFETCH(int, group);
        QFETCH(bool, symmetric);
        QFETCH(bool, float16);
        AwqOptions o;
        o.spec = groupQuantSpec(bits, group, symmetric);
        o.grid = float16 ? GroupGrid::Float16 : GroupGrid::MinMax;
        o.alphas = {0.0};
        o.clip = false;
        const AwqResult awq = awqQuantize(m_layer.w, *m_sample, o);
        QCOMPARE(awq.alpha, 0.0);
        for (float s : awq.scales)
            QCOMPARE(s, 1.f);
        QVERIFY(sameValues(awq.dequantized, rtnQuantize(m_layer.w, o.spec, o.grid).dequantized));
        if (!float16)
            QVERIFY(sameValues(awq.dequantized, fakeQuantize(m_layer.w, o.spec, 0).dequantized));
    }

    // ---- pruning ----

    void pruneMasks_data()
    {
        QTest::addColumn<QString>("method");
        QTest::addColumn<double>("ratio");
        QTest::addColumn<int>("n");
        QTest::addColumn<int>("m");
        for (const char *method : {"magnitude", "wanda", "sparsegpt"}) {
            QTest::newRow(qPrintable(QStringLiteral("%1 50%").arg(method))) << QString(method) << 0.5 << 0 << 0;
            QTest::newRow(qPrintable(QStringLiteral("%1 30%").arg(method))) << QString(method) << 0.3 << 0 << 0;
            QTest::newRow(qPrintable(QStringLiteral("%1 0%").arg(method))) << QString(method) << 0.0 << 0 << 0;
            QTest::newRow(qPrintable(QStringLiteral("%1 99.9%").arg(method))) << QString(method) << 0.999 << 0 << 0;
            QTest::newRow(qPrintable(QStringLiteral("%1 2:4").arg(method))) << QString(method) << 0.0 << 2 << 4;
            QTest::newRow(qPrintable(QStringLiteral("%1 4:8").arg(method))) << QString(method) << 0.0 << 4 << 8;
            QTest::newRow(qPrintable(QStringLiteral("%1 1:4").arg(method))) << QString(method) << 0.0 << 1 << 4;
        }
    }

    void pruneMasks()
    {
        QFETCH(QString, method);
        QFETCH(double, ratio);
        QFETCH(int, n);
        QFETCH(int, m);
        const SparsityPattern pattern{ratio, n, m};
        const LayerPruneResult r = method == "magnitude" ? magnitudePruneRows(m_layer.w, pattern)
                                   : method == "wanda"   ? wandaPrune(m_layer.w, m_hessian->columnNorms(), pattern)
                                                         : sparseGptPrune(m_layer.w, *m_hessian, {pattern, 0.01, 128});
        const int64_t in = m_layer.in;
        const float *mask = r.mask.f32(), *pruned = r.pruned.f32(), *w = m_layer.w.f32();
        for (int64_t i = 0; i < m_layer.out; ++i) {
            const float *mr = mask + i * in;
            for (int64_t j = 0; j < in; ++j) {
                QVERIFY(mr[j] == 0.f || mr[j] == 1.f);
                if (mr[j] == 0.f)
                    QCOMPARE(pruned[i * in + j], 0.f);
                else if (method != "sparsegpt")
                    QCOMPARE(pruned[i * in + j], w[i * in + j]);
            }
            if (m > 0) {
                for (int64_t g = 0; g < in; g += m) {
                    QCOMPARE(zerosIn(mr + g, m), int64_t(m - n));
                    QVERIFY(m - zerosIn(pruned + i * in + g, m) <= n);
                }
            } else {
                QCOMPARE(zerosIn(mr, in), int64_t(std::floor(ratio * double(in))));
            }
        }
    }

    // Magnitude N:M per row is prune.h's pruneNM (the same weights, the same ties).
    void magnitudeNMIsPruneNM()
    {
        for (auto [n, m] : {std::pair{2, 4}, std::pair{4, 8}, std::pair{1, 4}}) {
            const LayerPruneResult r = magnitudePruneRows(m_layer.w, {0.0, n, m});
            QVERIFY(sameValues(r.pruned, pruneNM(m_layer.w, n, m, 1)));
        }
        // Ties (equal magnitudes): the lower index goes first in both.
        const Tensor ties = Tensor::fromFloats({1, 8}, {1, -1, 1, 1, 2, 2, -2, 2});
        QVERIFY(sameValues(magnitudePruneRows(ties, {0.0, 2, 4}).pruned, pruneNM(ties, 2, 4, 1)));
        QCOMPARE(magnitudePruneRows(ties, {0.0, 2, 4}).pruned.toFloatVector(), (std::vector<float>{0, 0, 1, 1, 0, 0, -2, 2}));
    }

    void pruneErrorOrder_data()
    {
        QTest::addColumn<double>("ratio");
        QTest::addColumn<int>("n");
        QTest::addColumn<int>("m");
        QTest::newRow("50%") << 0.5 << 0 << 0;
        QTest::newRow("2:4") << 0.0 << 2 << 4;
        QTest::newRow("4:8") << 0.0 << 4 << 8;
    }

    void pruneErrorOrder()
    {
        QFETCH(double, ratio);
        QFETCH(int, n);
        QFETCH(int, m);
        const SparsityPattern pattern{ratio, n, m};
        const double eMagnitude = outputError(m_layer, magnitudePruneRows(m_layer.w, pattern).pruned);
        const double eWanda = outputError(m_layer, wandaPrune(m_layer.w, m_hessian->columnNorms(), pattern).pruned);
        const double eSparseGpt = outputError(m_layer, sparseGptPrune(m_layer.w, *m_hessian, {pattern, 0.01, 128}).pruned);
        qInfo("output error, %s: magnitude %.4f, Wanda %.4f, SparseGPT %.4f", QTest::currentDataTag(), eMagnitude,
              eWanda, eSparseGpt);
        QVERIFY(eSparseGpt < eWanda);
        QVERIFY(eWanda < eMagnitude);
    }

    // Wanda: W = [1, 2, 3, 4], ‖X_j‖ = [10, 1, 1, 0.1]: scores [10, 2, 3, 0.4], half pruned: columns 3 and 1
    // (magnitude prunes 0 and 1).
    // SparseGPT, H as in gptqHandComputed, no damping, half of each row: the upper factor U of H⁻¹ has
    // U00² = 4/3, U11 = U22 = U33 = 1, U01/U00 = [H⁻¹]01/[H⁻¹]00 = −0.5, so the scores w² / Ujj² are
    // (3/4)w0², w1², w2², w3², chosen from the weights at the block's start:
    //   row [0.2, 0.5, −0.6, 0.1]: scores [0.03, 0.25, 0.36, 0.01] → prune 3 and 0; pruning column 0 moves
    //     column 1 by +0.5 · 0.2 → 0.6: [0, 0.6, −0.6, 0].
    //   row [0.36, −0.1, 0.38, 0.34]: scores [0.0972, 0.01, 0.1444, 0.1156] → prune 1 and 0 (magnitude would
    //     prune 1 and 3); column 1 moves to −0.1 + 0.18 = 0.08 and is then pruned, and nothing reaches 2 and 3:
    //     [0, 0, 0.38, 0.34].
    void pruneHandComputed()
    {
        const Tensor row = Tensor::fromFloats({1, 4}, {1, 2, 3, 4});
        QCOMPARE(wandaPrune(row, {10, 1, 1, 0.1}, {0.5, 0, 0}).pruned.toFloatVector(), (std::vector<float>{1, 0, 3, 0}));
        QCOMPARE(magnitudePruneRows(row, {0.5, 0, 0}).pruned.toFloatVector(), (std::vector<float>{0, 0, 3, 4}));

        const Tensor w = Tensor::fromFloats({2, 4}, {0.2f, 0.5f, -0.6f, 0.1f, 0.36f, -0.1f, 0.38f, 0.34f});
        const Hessian h = Hessian::fromMatrix(4, {1, .5, 0, 0, .5, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1});
        const LayerPruneResult r = sparseGptPrune(w, h, {{0.5, 0, 0}, 0.0, 128});
        const std::vector<float> expected = {0, 0.6f, -0.6f, 0, 0, 0, 0.38f, 0.34f};
        for (int i = 0; i < 8; ++i)
            QVERIFY2(std::abs(r.pruned.f32()[i] - expected[size_t(i)]) < 1e-6f,
                     qPrintable(QStringLiteral("element %1: %2, expected %3").arg(i).arg(r.pruned.f32()[i]).arg(expected[size_t(i)])));
        QCOMPARE(r.mask.toFloatVector(), (std::vector<float>{0, 1, 1, 0, 0, 0, 1, 1}));
        QCOMPARE(magnitudePruneRows(w, {0.5, 0, 0}).mask.toFloatVector(), (std::vector<float>{0, 1, 1, 0, 1, 0, 1, 0}));
    }

    // Channel pruning's refit. One input x = [0, 1, 2, 3], two outputs y1 = [1, 3, 5, 7.5] and y2 = 2x, added in two
    // calls. Without damping y1 = 2.15 x + 0.9 (Sxy / Sxx = 10.75 / 5, b = ȳ − w x̄), residuals [0.1, −0.05, −0.2,
    // 0.15], squares 0.075 of Σ‖y‖² = 91.25 + 56; y2 is fit exactly. Damping 1/14 makes λ = 1 (mean diag Σ x² = 14):
    // [[15, 6], [6, 4]] [w, b] = [35.5, 16.5] gives w = 43/24, b = 34.5/24 for y1, and = [28, 12] gives w = 40/24,
    // b = 0.5 for y2. Without a bias, w = Σxy / Σx² = 35.5 / 14 and 28 / 14.
    void leastSquaresHandComputed()
    {
        LeastSquares ls(1, 2);
        const float x[] = {0, 1, 2, 3}, y[] = {1, 0, 3, 2, 5, 4, 7.5f, 6};
        ls.add(x, y, 1);
        ls.add(x + 1, y + 2, 3);
        QCOMPARE(ls.rows(), int64_t(4));
        const LeastSquares::Fit fit = ls.solve(0.0);
        QCOMPARE(fit.weight.shape(), (Shape{2, 1}));
        const double expected[] = {2.15, 0.9, 2.0, 0.0};
        const double got[] = {fit.weight.f32()[0], fit.bias[0], fit.weight.f32()[1], fit.bias[1]};
        for (int i = 0; i < 4; ++i)
            QVERIFY2(std::abs(got[i] - expected[i]) < 1e-5, qPrintable(QString("%1: %2").arg(i).arg(got[i])));
        QVERIFY(std::abs(ls.relativeError(fit.weight.f32(), fit.bias.data()) - 0.075 / 147.25) < 1e-7);
        const float zeros[2] = {0, 0};
        QVERIFY(std::abs(ls.relativeError(zeros, nullptr) - 1.0) < 1e-12);
        const LeastSquares::Fit damped = ls.solve(1.0 / 14);
        const double expectedDamped[] = {43.0 / 24, 34.5 / 24, 40.0 / 24, 0.5};
        const double gotDamped[] = {damped.weight.f32()[0], damped.bias[0], damped.weight.f32()[1], damped.bias[1]};
        for (int i = 0; i < 4; ++i)
            QVERIFY2(std::abs(gotDamped[i] - expectedDamped[i]) < 1e-5,
                     qPrintable(QString("damped %1: %2").arg(i).arg(gotDamped[i])));

        LeastSquares noBias(1, 2, false);
        noBias.add(x, y, 4);
        const LeastSquares::Fit through0 = noBias.solve(0.0);
        QVERIFY(through0.bias.empty());
        QVERIFY(std::abs(through0.weight.f32()[0] - 35.5 / 14) < 1e-5);
        QVERIFY(std::abs(through0.weight.f32()[1] - 2.0) < 1e-6);
        // y1's residuals [1, 3 − 35.5/14, 5 − 71/14, 7.5 − 106.5/14].
        const double w1 = 35.5 / 14, r1 = 1 + std::pow(3 - w1, 2) + std::pow(5 - 2 * w1, 2) + std::pow(7.5 - 3 * w1, 2);
        QVERIFY(std::abs(noBias.relativeError(through0.weight.f32(), nullptr) - r1 / 147.25) < 1e-7);

        QVERIFY_THROWS_EXCEPTION(Error, LeastSquares(1, 2).solve());
        QVERIFY_THROWS_EXCEPTION(Error, ls.solve(-1));
        const float bad[] = {std::nanf(""), 0};
        QVERIFY_THROWS_EXCEPTION(Error, LeastSquares(1, 2).add(x, bad, 1));
        QVERIFY_THROWS_EXCEPTION(Error, LeastSquares(1, 2).add(bad, y, 1));
    }

    // ---- errors and cancellation ----

    void badOptions_data()
    {
        QTest::addColumn<int>("index");
        QTest::addColumn<QString>("fragment");
        for (size_t i = 0; i < badCases().size(); ++i)
            QTest::newRow(badCases()[i].name) << int(i) << QString(badCases()[i].fragment);
    }

    void badOptions()
    {
        QFETCH(int, index);
        QFETCH(QString, fragment);
        const QString message = testutil::errorOf([&] { badCases()[size_t(index)].run(*this); });
        QVERIFY2(message.contains(fragment), qPrintable("message: \"" + message + "\""));
    }

    // A stop requested during the first progress report: the next block's check throws cw::Cancelled, and no
    // further work is reported.
    void cancel_data()
    {
        QTest::addColumn<QString>("method");
        QTest::newRow("GPTQ") << "gptq";
        QTest::newRow("SparseGPT") << "sparsegpt";
        QTest::newRow("AWQ") << "awq";
    }

    void cancel()
    {
        QFETCH(QString, method);
        for (bool before : {true, false}) {
            StopToken stop;
            if (before)
                stop.requestStop();
            int reports = 0;
            const ProgressFn progress = [&](double, std::string_view) {
                ++reports;
                stop.requestStop();
            };
            bool cancelled = false;
            try {
                if (method == "gptq")
                    gptqQuantize(m_layer.w, *m_hessian, GptqOptions{}, progress, &stop);
                else if (method == "sparsegpt")
                    sparseGptPrune(m_layer.w, *m_hessian, SparseGptOptions{}, progress, &stop);
                else
                    awqQuantize(m_layer.w, *m_sample, AwqOptions{}, progress, &stop);
            } catch (const Cancelled &) {
                cancelled = true;
            }
            QVERIFY(cancelled);
            QCOMPARE(reports, before ? 0 : 1);
        }
    }

public:
    struct BadCase {
        const char *name;
        const char *fragment;
        std::function<void(TestReconstruct &)> run;
    };

    static const std::vector<BadCase> &badCases()
    {
        auto gptq = [](TestReconstruct &t, QuantSpec spec) {
            GptqOptions o;
            o.spec = spec;
            gptqQuantize(t.m_layer.w, *t.m_hessian, o);
        };
        static const std::vector<BadCase> cases = {
            {"GPTQ 1 bit", "2 to 8 bits", [=](TestReconstruct &t) { gptq(t, groupQuantSpec(1, 128, true)); }},
            {"GPTQ 9 bits", "2 to 8 bits", [=](TestReconstruct &t) { gptq(t, groupQuantSpec(9, 128, true)); }},
            {"RTN 9 bits", "2 to 8 bits", [](TestReconstruct &t) { rtnQuantize(t.m_layer.w, groupQuantSpec(9, 32, true)); }},
            {"AWQ 1 bit", "2 to 8 bits",
             [](TestReconstruct &t) {
                 AwqOptions o;
                 o.spec = groupQuantSpec(1, 32, false);
                 awqQuantize(t.m_layer.w, *t.m_sample, o);
             }},
            {"group 48 of 512 inputs", "group size 48 does not divide the layer's 512 inputs",
             [=](TestReconstruct &t) { gptq(t, groupQuantSpec(4, 48, true)); }},
            {"per-tensor grid", "not per tensor",
             [=](TestReconstruct &t) {
                 QuantSpec s = groupQuantSpec(4, 32, true);
                 s.granularity = Granularity::Tensor;
                 gptq(t, s);
             }},
            {"Hessian of another width", "the layer has 512 inputs but the Hessian is of 256",
             [](TestReconstruct &t) { gptqQuantize(t.m_layer.w, Hessian(256), GptqOptions{}); }},
            {"SparseGPT Hessian of another width", "the layer has 512 inputs but the Hessian is of 128",
             [](TestReconstruct &t) { sparseGptPrune(t.m_layer.w, Hessian(128), SparseGptOptions{}); }},
            {"Wanda norms of another width", "the layer has 512 inputs but the list of column norms is of 3",
             [](TestReconstruct &t) { wandaPrune(t.m_layer.w, {1, 2, 3}, {}); }},
            {"Hessian values of the wrong count", "needs 16 values, got 15",
             [](TestReconstruct &) { Hessian::fromMatrix(4, std::vector<double>(15, 0.0)); }},
            {"AWQ sample of another width", "the layer has 512 inputs but the input sample is of 3",
             [](TestReconstruct &t) {
                 AwqSample s;
                 const float x[3] = {1, 2, 3};
                 s.add(x, 1, 3);
                 awqQuantize(t.m_layer.w, s, AwqOptions{});
             }},
            {"AWQ without a sample", "the sample is empty", [](TestReconstruct &t) { awqQuantize(t.m_layer.w, AwqSample(), AwqOptions{}); }},
            {"AWQ α of 1.5", "every α must be in [0, 1], got 1.5",
             [](TestReconstruct &t) {
                 AwqOptions o;
                 o.alphas = {0.5, 1.5};
                 awqQuantize(t.m_layer.w, *t.m_sample, o);
             }},
            {"AWQ sample width changing", "holds inputs of width 3, not 4",
             [](TestReconstruct &) {
                 AwqSample s;
                 const float x[4] = {1, 2, 3, 4};
                 s.add(x, 1, 3);
                 s.add(x, 1, 4);
             }},
            {"ratio 1", "the sparsity ratio must be in [0, 1), got 1",
             [](TestReconstruct &t) { magnitudePruneRows(t.m_layer.w, {1.0, 0, 0}); }},
            {"ratio -0.1", "the sparsity ratio must be in [0, 1), got -0.1",
             [](TestReconstruct &t) { wandaPrune(t.m_layer.w, t.m_hessian->columnNorms(), {-0.1, 0, 0}); }},
            {"SparseGPT ratio 1.5", "the sparsity ratio must be in [0, 1), got 1.5",
             [](TestReconstruct &t) { sparseGptPrune(t.m_layer.w, *t.m_hessian, {{1.5, 0, 0}, 0.01, 128}); }},
            {"5:4", "needs 0 <= n <= m and m >= 1, got 5:4",
             [](TestReconstruct &t) { magnitudePruneRows(t.m_layer.w, {0.0, 5, 4}); }},
            {"SparseGPT 5:4", "got 5:4",
             [](TestReconstruct &t) { sparseGptPrune(t.m_layer.w, *t.m_hessian, {{0.0, 5, 4}, 0.01, 128}); }},
            {"2:4 on 6 inputs", "2:4 sparsity needs the inputs (6) to be a multiple of 4",
             [](TestReconstruct &) { wandaPrune(Tensor(DType::Float32, {2, 6}), std::vector<double>(6, 1.0), {0.0, 2, 4}); }},
            {"2:3 on 512 inputs", "2:3 sparsity needs the inputs (512) to be a multiple of 3",
             [](TestReconstruct &t) { sparseGptPrune(t.m_layer.w, *t.m_hessian, {{0.0, 2, 3}, 0.01, 128}); }},
            {"negative damping", "the damping fraction must be >= 0, got -0.01",
             [](TestReconstruct &t) {
                 GptqOptions o;
                 o.percdamp = -0.01;
                 gptqQuantize(t.m_layer.w, *t.m_hessian, o);
             }},
            {"indefinite Hessian", "the Hessian is not positive definite after damping",
             [](TestReconstruct &) {
                 const Tensor w = Tensor::fromFloats({1, 2}, {1, 2});
                 GptqOptions o;
                 o.spec = groupQuantSpec(4, 0, true);
                 gptqQuantize(w, Hessian::fromMatrix(2, {1, 2, 2, 1}), o);
             }},
            {"NaN weight", "non-finite value at row 0, column 1",
             [](TestReconstruct &) {
                 const Tensor w = Tensor::fromFloats({1, 2}, {1, std::nanf("")});
                 sparseGptPrune(w, Hessian::fromMatrix(2, {1, 0, 0, 1}), SparseGptOptions{});
             }},
            {"not a matrix", "needs a float32 [out, in] weight",
             [](TestReconstruct &) { rtnQuantize(Tensor(DType::Float32, {2, 3, 4}), groupQuantSpec(4, 0, true)); }},
            {"beyond float16", "beyond float16's range",
             [](TestReconstruct &) {
                 rtnQuantize(Tensor::fromFloats({1, 2}, {-1e6f, 1e6f}), groupQuantSpec(4, 0, false), GroupGrid::Float16);
             }},
            {"non-finite inputs", "non-finite value (token 1, input 0)",
             [](TestReconstruct &) {
                 Hessian h(2);
                 const float x[4] = {1, 2, INFINITY, 0};
                 h.add(x, 2);
             }},
        };
        return cases;
    }
};

QTEST_GUILESS_MAIN(TestReconstruct)
#include "test_reconstruct.moc"
