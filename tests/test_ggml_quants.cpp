// ggml's block formats written by the workbench (core/quant/ggml_blocks.h) against llama.cpp itself: its
// prebuilt libggml-base.so, opened with dlopen in this test only, quantizes the same rows with quantize_<type>
// (ggml_quantize_chunk for F32 / F16 / BF16), with and without an importance matrix, and the bytes must be
// identical; our dequantizeRow of them must equal its dequantize_row_* bit for bit. Inputs: Gaussian rows,
// rows with outlier columns and spikes, all-zero rows, constant rows, values around float16's subnormals, rows
// of 256 and 4096, seeded. A named error budget per type (relative RMS error of the round trip on Gaussian
// rows) catches a regression that a wrong reference would agree with.
#include <QtTest>

#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/base/error.h"
#include "core/quant/ggml_blocks.h"
#include "tests/lmtestutil.h"
#include "tests/testutil.h"

namespace {

using cw::ggml::Type;

// The relative RMS error ||x - dequantize(quantize(x))|| / ||x|| of each type on 64 rows of 4096 unit Gaussian
// values (seed 7), without importance. The comment holds the measured figure (deterministic: the same bytes
// as llama.cpp's); the budget is 3 % above it.
constexpr double kBudgetF32 = 0;        // 0 (exact)
constexpr double kBudgetF16 = 2.15e-4;  // 2.0732e-4
constexpr double kBudgetBF16 = 1.72e-3; // 1.6587e-3
constexpr double kBudgetQ8_0 = 5.55e-3; // 5.3669e-3
constexpr double kBudgetQ6_K = 1.84e-2; // 1.7806e-2
constexpr double kBudgetQ5_K = 3.73e-2; // 3.6174e-2
constexpr double kBudgetQ5_1 = 3.91e-2; // 3.7925e-2
constexpr double kBudgetQ5_0 = 4.41e-2; // 4.2813e-2
constexpr double kBudgetQ4_K = 7.37e-2; // 7.1464e-2
constexpr double kBudgetQ4_1 = 8.07e-2; // 7.8314e-2
constexpr double kBudgetQ4_0 = 8.90e-2; // 8.6374e-2
constexpr double kBudgetQ3_K = 1.56e-1; // 1.5123e-1
constexpr double kBudgetQ2_K = 3.05e-1; // 2.9590e-1

// llama.cpp's name of each type in its exported functions (quantize_q4_K, dequantize_row_q4_K).
struct Format {
    Type type;
    const char *suffix; // nullptr for the float types
    double budget;
};
const Format kFormats[] = {
    {cw::ggml::F32, nullptr, kBudgetF32},   {cw::ggml::F16, nullptr, kBudgetF16},
    {cw::ggml::BF16, nullptr, kBudgetBF16}, {cw::ggml::Q8_0, "q8_0", kBudgetQ8_0},
    {cw::ggml::Q4_0, "q4_0", kBudgetQ4_0},  {cw::ggml::Q4_1, "q4_1", kBudgetQ4_1},
    {cw::ggml::Q5_0, "q5_0", kBudgetQ5_0},  {cw::ggml::Q5_1, "q5_1", kBudgetQ5_1},
    {cw::ggml::Q2_K, "q2_K", kBudgetQ2_K},  {cw::ggml::Q3_K, "q3_K", kBudgetQ3_K},
    {cw::ggml::Q4_K, "q4_K", kBudgetQ4_K},  {cw::ggml::Q5_K, "q5_K", kBudgetQ5_K},
    {cw::ggml::Q6_K, "q6_K", kBudgetQ6_K},
};

const Format &formatOf(uint32_t type)
{
    for (const Format &f : kFormats)
        if (f.type == type)
            return f;
    qFatal("no format %u", type);
}

using QuantizeFn = size_t (*)(const float *, void *, int64_t, int64_t, const float *);
using DequantizeFn = void (*)(const void *, float *, int64_t);
using ChunkFn = size_t (*)(int, const float *, void *, int64_t, int64_t, int64_t, const float *);
using HalfRowFn = void (*)(const uint16_t *, float *, int64_t);

// Rows of one kind, seeded by the kind and length.
std::vector<float> makeRows(const QString &kind, int64_t rows, int64_t n)
{
    std::mt19937 rng(uint32_t(qHash(kind)) ^ uint32_t(n));
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> x(size_t(rows * n));
    if (kind == "gaussian") {
        for (float &v : x)
            v = 0.02f * normal(rng);
    } else if (kind == "outliers") {
        // Gaussian weights with a few input columns 30-80x larger in every row (the outlier channels of a
        // language model), and single spikes of either sign.
        std::uniform_real_distribution<float> uniform(0.f, 1.f);
        std::vector<float> columnScale(size_t(n), 1.f);
        for (float &c : columnScale)
            if (uniform(rng) < 0.01f)
                c = 30.f + 50.f * uniform(rng);
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t j = 0; j < n; ++j) {
                float v = 0.02f * normal(rng) * columnScale[size_t(j)];
                if (uniform(rng) < 0.002f)
                    v = (uniform(rng) < 0.5f ? -1.f : 1.f) * (1.f + 3.f * uniform(rng));
                x[size_t(r * n + j)] = v;
            }
    } else if (kind == "zeros") {
        // all zero
    } else if (kind == "constant") {
        for (int64_t r = 0; r < rows; ++r)
            std::fill(x.begin() + r * n, x.begin() + (r + 1) * n, 0.37f * float(r - 2));
    } else if (kind == "tiny") {
        // Around float16's smallest normal (6.1e-5) and its subnormals (down to 6e-8): the blocks' scales, a
        // fraction of the largest value, become float16 subnormals or round to zero.
        for (size_t i = 0; i < x.size(); ++i)
            x[i] = (i % 3 == 0 ? 2e-4f : i % 3 == 1 ? 3e-6f : 5e-8f) * normal(rng);
    } else {
        qFatal("no input kind %s", qPrintable(kind));
    }
    return x;
}

// An importance matrix as llama-imatrix makes one: per column the mean squared activation, positive and
// heavy-tailed, with a few columns never activated (0).
std::vector<float> makeImportance(int64_t n)
{
    std::mt19937 rng(20261201u ^ uint32_t(n));
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> w(static_cast<size_t>(n));
    for (size_t j = 0; j < w.size(); ++j)
        w[j] = j % 61 == 17 ? 0.f : std::exp(1.5f * normal(rng));
    return w;
}

QString bits(float v)
{
    uint32_t b;
    std::memcpy(&b, &v, 4);
    return QString::asprintf("%.9g (0x%08x)", double(v), b);
}

} // namespace

class TestGgmlQuants : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void bytesLikeLlamaCpp_data();
    void bytesLikeLlamaCpp();
    void errorBudget_data();
    void errorBudget();
    void halfConversionsLikeGgml();
    void refusesWhatItCannotWrite();
    void superBlockGridsAndCodes_data();
    void superBlockGridsAndCodes();

private:
    void *m_lib = nullptr;
    QString m_skip;
    ChunkFn m_chunk = nullptr;
    HalfRowFn m_f16ToF32 = nullptr, m_bf16ToF32 = nullptr;
};

void TestGgmlQuants::initTestCase()
{
    QString error;
    const QMap<QString, QString> paths = lmtestutil::referencePaths(&error);
    if (!error.isEmpty() || !paths.contains("llama.cpp-lib")) {
        m_skip = "llama.cpp's reference cannot be fetched (tests/tools/fetch_models.py): " + error;
        return;
    }
    const QString lib = paths["llama.cpp-lib"] + "/libggml-base.so";
    m_lib = dlopen(lib.toLocal8Bit().constData(), RTLD_NOW | RTLD_LOCAL);
    QVERIFY2(m_lib, dlerror());
    m_chunk = reinterpret_cast<ChunkFn>(dlsym(m_lib, "ggml_quantize_chunk"));
    m_f16ToF32 = reinterpret_cast<HalfRowFn>(dlsym(m_lib, "ggml_fp16_to_fp32_row"));
    m_bf16ToF32 = reinterpret_cast<HalfRowFn>(dlsym(m_lib, "ggml_bf16_to_fp32_row"));
    QVERIFY(m_chunk && m_f16ToF32 && m_bf16ToF32);
}

void TestGgmlQuants::cleanupTestCase()
{
    if (m_lib)
        dlclose(m_lib);
}

void TestGgmlQuants::bytesLikeLlamaCpp_data()
{
    QTest::addColumn<uint32_t>("type");
    QTest::addColumn<QString>("kind");
    QTest::addColumn<qint64>("rowLength");
    QTest::addColumn<bool>("weighted");
    for (const Format &f : kFormats)
        for (const char *kind : {"gaussian", "outliers", "zeros", "constant", "tiny"})
            for (qint64 n : {256, 4096})
                for (bool weighted : {false, true})
                    QTest::addRow("%s %s %lld%s", cw::ggml::typeName(f.type).c_str(), kind, n,
                                  weighted ? " imatrix" : "")
                        << uint32_t(f.type) << QString(kind) << n << weighted;
}

void TestGgmlQuants::bytesLikeLlamaCpp()
{
    if (!m_lib)
        QSKIP(qPrintable(m_skip));
    QFETCH(uint32_t, type);
    QFETCH(QString, kind);
    QFETCH(qint64, rowLength);
    QFETCH(bool, weighted);
    const Format &format = formatOf(type);
    const int64_t rows = rowLength == 256 ? 16 : 5;
    const std::vector<float> x = makeRows(kind, rows, rowLength);
    const std::vector<float> importance = weighted ? makeImportance(rowLength) : std::vector<float>();
    const float *qw = weighted ? importance.data() : nullptr;
    const int64_t rowBytes = cw::ggml::rowBytes(type, rowLength);

    // llama.cpp's bytes (the buffers start filled differently, so a byte either side leaves unwritten shows).
    std::vector<uint8_t> theirs(size_t(rows * rowBytes), 0xA5), ours(size_t(rows * rowBytes), 0x5A);
    size_t theirBytes;
    DequantizeFn theirDequantize = nullptr;
    if (format.suffix) {
        const std::string q = std::string("quantize_") + format.suffix;
        const std::string d = std::string("dequantize_row_") + format.suffix;
        auto quantize = reinterpret_cast<QuantizeFn>(dlsym(m_lib, q.c_str()));
        theirDequantize = reinterpret_cast<DequantizeFn>(dlsym(m_lib, d.c_str()));
        QVERIFY2(quantize && theirDequantize, q.c_str());
        theirBytes = quantize(x.data(), theirs.data(), rows, rowLength, qw);
    } else {
        theirBytes = m_chunk(int(type), x.data(), theirs.data(), 0, rows, rowLength, qw);
    }
    const int64_t ourBytes = cw::ggml::quantizeRows(type, x.data(), ours.data(), rows, rowLength, qw);
    QCOMPARE(ourBytes, int64_t(theirBytes));
    QCOMPARE(ourBytes, rows * rowBytes);

    const cw::ggml::TypeTraits *tr = cw::ggml::typeTraits(type);
    for (size_t i = 0; i < ours.size(); ++i)
        if (ours[i] != theirs[i]) {
            const int64_t row = int64_t(i) / rowBytes, inRow = int64_t(i) % rowBytes;
            QFAIL(qPrintable(QStringLiteral("row %1, block %2, byte %3 of %4: 0x%5, llama.cpp 0x%6")
                                 .arg(row)
                                 .arg(inRow / tr->blockBytes)
                                 .arg(inRow % tr->blockBytes)
                                 .arg(tr->blockBytes)
                                 .arg(ours[i], 2, 16, QChar('0'))
                                 .arg(theirs[i], 2, 16, QChar('0'))));
        }

    // The round trip: our dequantization of the bytes against llama.cpp's, value for value.
    std::vector<float> back(x.size()), expected(x.size());
    for (int64_t r = 0; r < rows; ++r) {
        const uint8_t *row = ours.data() + r * rowBytes;
        cw::ggml::dequantizeRow(type, row, back.data() + r * rowLength, rowLength);
        float *want = expected.data() + r * rowLength;
        if (theirDequantize)
            theirDequantize(row, want, rowLength);
        else if (type == cw::ggml::F16)
            m_f16ToF32(reinterpret_cast<const uint16_t *>(row), want, rowLength);
        else if (type == cw::ggml::BF16)
            m_bf16ToF32(reinterpret_cast<const uint16_t *>(row), want, rowLength);
        else
            std::memcpy(want, row, size_t(rowLength) * 4);
    }
    for (size_t i = 0; i < back.size(); ++i)
        if (std::memcmp(&back[i], &expected[i], 4) != 0)
            QFAIL(qPrintable(QStringLiteral("value %1 (row %2): %3, llama.cpp %4")
                                 .arg(i)
                                 .arg(int64_t(i) / rowLength)
                                 .arg(bits(back[i]), bits(expected[i]))));
}

void TestGgmlQuants::errorBudget_data()
{
    QTest::addColumn<uint32_t>("type");
    for (const Format &f : kFormats)
        QTest::newRow(cw::ggml::typeName(f.type).c_str()) << uint32_t(f.type);
}

void TestGgmlQuants::errorBudget()
{
    QFETCH(uint32_t, type);
    const double budget = formatOf(type).budget;
    constexpr int64_t rows = 64, n = 4096;
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> x(size_t(rows * n));
    for (float &v : x)
        v = normal(rng);
    const int64_t rowBytes = cw::ggml::rowBytes(type, n);
    std::vector<uint8_t> q(size_t(rows * rowBytes));
    cw::ggml::quantizeRows(type, x.data(), q.data(), rows, n);
    std::vector<float> back(static_cast<size_t>(n));
    double err = 0, norm = 0;
    for (int64_t r = 0; r < rows; ++r) {
        cw::ggml::dequantizeRow(type, q.data() + r * rowBytes, back.data(), n);
        for (int64_t j = 0; j < n; ++j) {
            const double v = x[size_t(r * n + j)], d = double(back[size_t(j)]) - v;
            err += d * d;
            norm += v * v;
        }
    }
    const double relative = std::sqrt(err / norm);
    qInfo("%s: relative RMS error %.3g (budget %.3g)", cw::ggml::typeName(type).c_str(), relative, budget);
    QVERIFY2(relative <= budget, qPrintable(QStringLiteral("%1 above the budget %2").arg(relative).arg(budget)));
    // A format that does not quantize at all would pass any budget: every lossy type loses something.
    if (type != cw::ggml::F32)
        QVERIFY(relative > budget / 4);
}

// F16 and BF16 against ggml's own conversion over every 251st float32 bit pattern (17 million: every exponent,
// float16's subnormals and overflow boundary, infinities and NaNs of both signs). The whole 2^32 agrees too,
// but takes 20 s.
void TestGgmlQuants::halfConversionsLikeGgml()
{
    if (!m_lib)
        QSKIP(qPrintable(m_skip));
    constexpr int64_t n = (int64_t(1) << 32) / 251 + 1;
    std::vector<float> x(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        const uint32_t u = uint32_t(i * 251);
        std::memcpy(&x[size_t(i)], &u, 4);
    }
    std::vector<uint16_t> ours(static_cast<size_t>(n)), theirs(static_cast<size_t>(n));
    for (uint32_t type : {uint32_t(cw::ggml::F16), uint32_t(cw::ggml::BF16)}) {
        cw::ggml::quantizeRows(type, x.data(), reinterpret_cast<uint8_t *>(ours.data()), 1, n);
        m_chunk(int(type), x.data(), theirs.data(), 0, 1, n, nullptr);
        for (int64_t i = 0; i < n; ++i)
            if (ours[size_t(i)] != theirs[size_t(i)])
                QFAIL(qPrintable(QStringLiteral("%1 of %2: 0x%3, ggml 0x%4")
                                     .arg(QString::fromStdString(cw::ggml::typeName(type)), bits(x[size_t(i)]))
                                     .arg(ours[size_t(i)], 4, 16, QChar('0'))
                                     .arg(theirs[size_t(i)], 4, 16, QChar('0'))));
    }
}

void TestGgmlQuants::refusesWhatItCannotWrite()
{
    std::vector<float> x(512, 1.f);
    std::vector<uint8_t> out(4096);
    QVERIFY(testutil::errorOf([&] { cw::ggml::quantizeRows(cw::ggml::Q8_K, x.data(), out.data(), 1, 256); })
                .contains("cannot quantize tensors to type Q8_K"));
    QVERIFY(testutil::errorOf([&] { cw::ggml::quantizeRows(16, x.data(), out.data(), 1, 256); })
                .contains("cannot quantize tensors to type IQ2_XXS"));
    QVERIFY(testutil::errorOf([&] { cw::ggml::quantizeRows(99, x.data(), out.data(), 1, 256); })
                .contains("type 99"));
    QCOMPARE(testutil::errorOf([&] { cw::ggml::quantizeRows(cw::ggml::Q4_K, x.data(), out.data(), 1, 96); }),
             QStringLiteral("a row of 96 values is not whole Q4_K blocks of 256"));
    QCOMPARE(testutil::errorOf([&] { cw::ggml::quantizeRows(cw::ggml::Q8_0, x.data(), out.data(), 2, 40); }),
             QStringLiteral("a row of 40 values is not whole Q8_0 blocks of 32"));
    QCOMPARE(cw::ggml::rowBytes(cw::ggml::Q4_K, 4096), int64_t(16 * 144));
    QCOMPARE(cw::ggml::rowBytes(cw::ggml::BF16, 7), int64_t(14));
    QCOMPARE(cw::ggml::quantizeRows(cw::ggml::Q6_K, x.data(), out.data(), 0, 256), int64_t(0));
    QVERIFY(testutil::errorOf([&] { cw::ggml::rowBytes(77, 32); }).contains("no tensor type 77"));
}

void TestGgmlQuants::superBlockGridsAndCodes_data()
{
    QTest::addColumn<uint32_t>("type");
    for (uint32_t t : {cw::ggml::Q2_K, cw::ggml::Q3_K, cw::ggml::Q4_K, cw::ggml::Q5_K, cw::ggml::Q6_K})
        QTest::newRow(cw::ggml::typeName(t).c_str()) << t;
}

// The k-quants' sub-block grids and code packing against the quantizer's own blocks (whose bytes are llama.cpp's,
// bytesLikeLlamaCpp): each decoded value is its sub-block's grid at the code read back from it, and writing those
// codes into the block, after writing zeros, gives the quantizer's bytes again.
void TestGgmlQuants::superBlockGridsAndCodes()
{
    QFETCH(uint32_t, type);
    constexpr int64_t rows = 24, n = 512;
    std::mt19937 rng(type);
    std::normal_distribution<float> normal(0.f, 0.05f);
    std::vector<float> x(size_t(rows * n));
    for (float &v : x)
        v = normal(rng);
    for (int64_t k = 0; k < 64; ++k) // a zero sub-block and a constant one
        x[size_t(n + k)] = k < 32 ? 0.f : 0.02f;
    const int64_t blockBytes = cw::ggml::typeTraits(type)->blockBytes, blocks = rows * n / 256;
    std::vector<uint8_t> bytes(size_t(blocks * blockBytes));
    cw::ggml::quantizeRows(type, x.data(), bytes.data(), rows, n);
    std::vector<float> decoded(256);
    int64_t codesUsed = 0;
    for (int64_t b = 0; b < blocks; ++b) {
        uint8_t *block = bytes.data() + b * blockBytes;
        cw::ggml::SubBlockGrid grids[16];
        const int subBlocks = cw::ggml::superBlockGrids(type, block, grids);
        QCOMPARE(subBlocks, type == cw::ggml::Q4_K || type == cw::ggml::Q5_K ? 8 : 16);
        cw::ggml::dequantizeRow(type, block, decoded.data(), 256);
        std::vector<int32_t> codes(256);
        for (int k = 0; k < 256; ++k) {
            const cw::ggml::SubBlockGrid &g = grids[k * subBlocks / 256];
            // The code whose level is the decoded value (a zero scale: every code decodes alike; take 0).
            int32_t c = 0;
            float best = INFINITY;
            for (int32_t q = 0; q <= g.maxCode; ++q) {
                const float level = float(q - g.zeroPoint) * g.scale + g.offset;
                if (std::fabs(level - decoded[size_t(k)]) < best) {
                    best = std::fabs(level - decoded[size_t(k)]);
                    c = q;
                }
            }
            QVERIFY2(best <= 1e-6f * (std::fabs(g.scale) * float(g.maxCode) + std::fabs(g.offset)),
                     qPrintable(QStringLiteral("block %1 value %2: %3 is no level of its grid").arg(b).arg(k).arg(decoded[size_t(k)])));
            codes[size_t(k)] = c;
            codesUsed += c != 0;
        }
        const std::vector<uint8_t> original(block, block + blockBytes);
        cw::ggml::setSuperBlockCodes(type, block, std::vector<int32_t>(256, 0).data());
        if (grids[0].scale != 0.f && std::count(codes.begin(), codes.end(), 0) < 256)
            QVERIFY(!std::equal(original.begin(), original.end(), block));
        cw::ggml::setSuperBlockCodes(type, block, codes.data());
        QVERIFY2(std::equal(original.begin(), original.end(), block), qPrintable(QStringLiteral("block %1").arg(b)));
    }
    QVERIFY(codesUsed > blocks * 128); // the codes are not mostly zero
    // Codes out of range, and types without super-blocks.
    std::vector<int32_t> bad(256, 0);
    bad[7] = type == cw::ggml::Q6_K ? 64 : 32;
    QVERIFY(testutil::errorOf([&] { cw::ggml::setSuperBlockCodes(type, bytes.data(), bad.data()); }).contains("is outside"));
    bad[7] = -1;
    QVERIFY(testutil::errorOf([&] { cw::ggml::setSuperBlockCodes(type, bytes.data(), bad.data()); }).contains("is outside"));
    cw::ggml::SubBlockGrid grids[16];
    QVERIFY(testutil::errorOf([&] { cw::ggml::superBlockGrids(cw::ggml::Q4_0, bytes.data(), grids); })
                .contains("no sub-block grids in Q4_0"));
}

QTEST_GUILESS_MAIN(TestGgmlQuants)
#include "test_ggml_quants.moc"
