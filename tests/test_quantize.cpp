// Quantizer tests: named error budgets on Gaussian weights, hand-computed grids, exact round trips of grid
// values, byte counts, and magnitude pruning's exact sparsity.
//
// Error budgets come from the uniform-noise model of rounding: with step Δ the error is uniform on
// [-Δ/2, Δ/2], so its RMS is Δ/√12. For N(0, σ²) weights in a block whose absolute maximum is a·σ:
//   symmetric  Δ = a·σ / (2^(b-1) - 1)      → relative error ≈ a / ((2^(b-1) - 1) · √12)
//   asymmetric Δ = 2a·σ / (2^b - 1)         → relative error ≈ 2a / ((2^b - 1) · √12)
// The test tensor is [64, 1024] N(0, 1) with a fixed seed; the expected maximum of n Gaussians gives
// a ≈ 4.6 for the whole tensor (65536 values), 3.6 per channel (1024), 2.9 per group of 128. Each budget
// is that prediction plus 30% (the maxima vary, and at 3 bits the step is as large as σ, where the model
// is only approximate), capped at 1: every grid here contains 0, the nearest level is never farther than
// 0, so the error can never exceed the weight itself. For 4 bits and more the measured error must also be
// within 20% of the prediction from the blocks' actual steps — an error far *below* the theory would be a
// bug too (e.g. a quantizer that does nothing).
#include <QtTest>

#include <cmath>
#include <random>

#include "core/base/error.h"
#include "core/compress/prune.h"
#include "core/quant/quantize.h"
#include "testutil.h"

using namespace cw;

Q_DECLARE_METATYPE(cw::Granularity)

namespace {

constexpr int64_t kChannels = 64, kRow = 1024, kGroup = 128;

Tensor gaussianTensor(Shape shape, unsigned seed, const std::vector<float> &channelSd = {})
{
    Tensor t(DType::Float32, shape);
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.f, 1.f);
    const int64_t row = t.numel() / shape[0];
    for (int64_t i = 0; i < t.numel(); ++i)
        t.data<float>()[i] = dist(rng) * (channelSd.empty() ? 1.f : channelSd[size_t(i / row)]);
    return t;
}

const char *granularityName(Granularity g)
{
    return g == Granularity::Tensor ? "tensor" : g == Granularity::Channel ? "channel" : "group-128";
}

double budget(int bits, Granularity g, bool symmetric)
{
    const double a = g == Granularity::Tensor ? 4.6 : g == Granularity::Channel ? 3.6 : 2.9;
    const double levels = symmetric ? double((1 << (bits - 1)) - 1) : double((1 << bits) - 1) / 2.0;
    return std::min(1.0, 1.3 * a / (levels * std::sqrt(12.0)));
}

QuantSpec spec(int bits, Granularity g, bool symmetric, int64_t groupSize = kGroup)
{
    QuantSpec s;
    s.bits = bits;
    s.granularity = g;
    s.symmetric = symmetric;
    s.groupSize = groupSize;
    return s;
}

std::vector<float> values(const Tensor &t) { return t.toFloatVector(); }

} // namespace

class TestQuantize : public QObject {
    Q_OBJECT

private slots:
    void errorBudget_data()
    {
        QTest::addColumn<int>("bits");
        QTest::addColumn<Granularity>("granularity");
        QTest::addColumn<bool>("symmetric");
        QTest::addColumn<double>("budget");
        for (int bits : {8, 6, 4, 3, 2})
            for (Granularity g : {Granularity::Tensor, Granularity::Channel, Granularity::Group})
                for (bool symmetric : {true, false}) {
                    const double b = budget(bits, g, symmetric);
                    const QByteArray name = QStringLiteral("%1-bit %2 %3: relative error < %4")
                                                .arg(bits)
                                                .arg(granularityName(g))
                                                .arg(symmetric ? "symmetric" : "asymmetric")
                                                .arg(b, 0, 'g', 3)
                                                .toUtf8();
                    QTest::newRow(name.constData()) << bits << g << symmetric << b;
                }
    }

    void errorBudget()
    {
        QFETCH(int, bits);
        QFETCH(Granularity, granularity);
        QFETCH(bool, symmetric);
        QFETCH(double, budget);
        const Tensor w = gaussianTensor({kChannels, kRow}, 42);
        const QuantResult r = fakeQuantize(w, spec(bits, granularity, symmetric), 0);
        const int64_t blocks = granularity == Granularity::Tensor ? 1
                               : granularity == Granularity::Channel ? kChannels
                                                                     : kChannels * (kRow / kGroup);
        QCOMPARE(int64_t(r.grids.size()), blocks);
        const WeightError e = weightError(w, r.dequantized);
        QVERIFY2(e.relativeError < budget, qPrintable(QStringLiteral("relative error %1").arg(e.relativeError)));
        QVERIFY(e.relativeError > 0);
        // SQNR and relative error are the same quantity in two units.
        QVERIFY(std::abs(e.sqnrDb - -20.0 * std::log10(e.relativeError)) < 1e-9);

        // Every dequantized value is a level of its block's grid, inside its clipping range.
        const std::vector<float> dq = values(r.dequantized);
        const int64_t blockLen = w.numel() / blocks;
        for (int64_t i = 0; i < w.numel(); i += 37) {
            const QuantGrid &g = r.grids[size_t(i / blockLen)];
            const float q = dq[size_t(i)] / g.scale + float(g.zeroPoint);
            QVERIFY(std::abs(q - std::nearbyint(q)) < 1e-3f);
            QVERIFY(dq[size_t(i)] >= g.lo() && dq[size_t(i)] <= g.hi());
        }

        if (bits >= 4) {
            double predicted = 0, signal = 0;
            for (int64_t i = 0; i < w.numel(); ++i) {
                const double step = r.grids[size_t(i / blockLen)].scale;
                predicted += step * step / 12.0;
                signal += double(w.data<float>()[i]) * w.data<float>()[i];
            }
            const double ratio = e.relativeError / std::sqrt(predicted / signal);
            QVERIFY2(ratio > 0.8 && ratio < 1.2, qPrintable(QStringLiteral("error / uniform-noise prediction = %1").arg(ratio)));
        }
    }

    void moreBitsNeverWorse()
    {
        const Tensor w = gaussianTensor({kChannels, kRow}, 7);
        for (Granularity g : {Granularity::Tensor, Granularity::Channel, Granularity::Group}) {
            double previous = 0;
            for (int bits : {8, 6, 4, 3, 2}) {
                const double e = weightError(w, fakeQuantize(w, spec(bits, g, true)).dequantized).relativeError;
                QVERIFY2(e > previous, granularityName(g));
                previous = e;
            }
        }
    }

    void symmetricByHand()
    {
        // 4 bits symmetric: levels q / 7 for q in [-7, 7] (abs max 1). 0.3 * 7 = 2.1 -> 2; 0.6 * 7 = 4.2 -> 4;
        // -0.95 * 7 = -6.65 -> -7.
        const Tensor w = Tensor::fromFloats({1, 5}, {-1.f, 0.3f, 0.6f, 1.f, -0.95f});
        const QuantResult r = fakeQuantize(w, spec(4, Granularity::Tensor, true));
        QCOMPARE(int(r.grids.size()), 1);
        const QuantGrid g = r.grids[0];
        QCOMPARE(g.scale, 1.f / 7.f);
        QCOMPARE(g.zeroPoint, 0);
        QCOMPARE(g.qmin, -7);
        QCOMPARE(g.qmax, 7);
        QCOMPARE(g.lo(), -1.f);
        QCOMPARE(g.hi(), 1.f);
        const float s = g.scale;
        QCOMPARE(values(r.dequantized), std::vector<float>({-7 * s, 2 * s, 4 * s, 7 * s, -7 * s}));
    }

    void asymmetricByHand()
    {
        // 2 bits asymmetric on [-1, 2]: scale 3 / 3 = 1, zero point round(1 / 1) = 1, levels {-1, 0, 1, 2}.
        const Tensor w = Tensor::fromFloats({4}, {-1.f, 2.f, 0.4f, 1.1f});
        QuantResult r = fakeQuantize(w, spec(2, Granularity::Tensor, false));
        QCOMPARE(r.grids[0].scale, 1.f);
        QCOMPARE(r.grids[0].zeroPoint, 1);
        QCOMPARE(r.grids[0].qmin, 0);
        QCOMPARE(r.grids[0].qmax, 3);
        QCOMPARE(r.grids[0].lo(), -1.f);
        QCOMPARE(r.grids[0].hi(), 2.f);
        QCOMPARE(values(r.dequantized), std::vector<float>({-1.f, 2.f, 0.f, 1.f}));

        // Positive weights: the range is widened to include 0, so the zero point is 0 and scale 4 / 3.
        // 1 * 3/4 = 0.75 -> 1; 2.5 * 3/4 = 1.875 -> 2; 3 * 3/4 = 2.25 -> 2; 4 -> 3.
        r = fakeQuantize(Tensor::fromFloats({4}, {1.f, 2.5f, 3.f, 4.f}), spec(2, Granularity::Tensor, false));
        const float s = 4.f / 3.f;
        QCOMPARE(r.grids[0].scale, s);
        QCOMPARE(r.grids[0].zeroPoint, 0);
        QCOMPARE(values(r.dequantized), std::vector<float>({1 * s, 2 * s, 2 * s, 3 * s}));

        // 3 bits on [-0.5, 1]: scale 1.5 / 7, zero point round(0.5 / (1.5 / 7)) = round(2.33) = 2; zero stays
        // exactly zero.
        r = fakeQuantize(Tensor::fromFloats({3}, {-0.5f, 1.f, 0.f}), spec(3, Granularity::Tensor, false));
        QCOMPARE(r.grids[0].scale, 1.5f / 7.f);
        QCOMPARE(r.grids[0].zeroPoint, 2);
        QCOMPARE(r.dequantized.data<float>()[2], 0.f);
    }

    void gridValuesRoundTrip_data()
    {
        QTest::addColumn<int>("bits");
        QTest::addColumn<bool>("symmetric");
        for (int bits = 2; bits <= 8; ++bits)
            for (bool symmetric : {true, false})
                QTest::newRow(QStringLiteral("%1-bit %2").arg(bits).arg(symmetric ? "symmetric" : "asymmetric").toUtf8())
                    << bits << symmetric;
    }

    void gridValuesRoundTrip()
    {
        // Every level of a grid with a power-of-two scale (so all levels and the derived scale are exact
        // floats) comes back unchanged, and the grid found is the one the values were built on.
        QFETCH(int, bits);
        QFETCH(bool, symmetric);
        const float scale = 1.f / 16.f;
        const int qmax = symmetric ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
        const int qmin = symmetric ? -qmax : 0;
        const int zp = symmetric ? 0 : (qmax + 1) / 3;
        std::vector<float> levels;
        for (int q = qmin; q <= qmax; ++q)
            levels.push_back(float(q - zp) * scale);
        const Tensor w = Tensor::fromFloats({int64_t(levels.size())}, levels);
        const QuantResult r = fakeQuantize(w, spec(bits, Granularity::Tensor, symmetric));
        QCOMPARE(r.grids[0].scale, scale);
        QCOMPARE(r.grids[0].zeroPoint, zp);
        QCOMPARE(values(r.dequantized), levels);
        QVERIFY(std::isinf(weightError(w, r.dequantized).sqnrDb));
        QCOMPARE(weightError(w, r.dequantized).relativeError, 0.0);
    }

    void perChannelBeatsPerTensor()
    {
        // Two channels whose ranges differ 100x: one 4-bit grid for both rounds the small channel to zero.
        const Tensor w = gaussianTensor({2, 256}, 3, {1.f, 0.01f});
        const QuantResult t = fakeQuantize(w, spec(4, Granularity::Tensor, true));
        const QuantResult c = fakeQuantize(w, spec(4, Granularity::Channel, true));
        QCOMPARE(int(c.grids.size()), 2);
        QVERIFY(c.grids[1].scale < c.grids[0].scale / 20);
        auto smallChannel = [](const Tensor &x) {
            return Tensor::fromFloats({256}, std::vector<float>(x.data<float>() + 256, x.data<float>() + 512));
        };
        const double tensorErr = weightError(smallChannel(w), smallChannel(t.dequantized)).relativeError;
        const double channelErr = weightError(smallChannel(w), smallChannel(c.dequantized)).relativeError;
        QVERIFY2(tensorErr > 0.9, qPrintable(QString::number(tensorErr)));
        QVERIFY2(channelErr < budget(4, Granularity::Channel, true), qPrintable(QString::number(channelErr)));
        QVERIFY(weightError(w, c.dequantized).mse < weightError(w, t.dequantized).mse);
    }

    void channelAxisAndGroups()
    {
        // MatMul-style [K = 3, N = 2] with channels on axis 1: column 0 has abs max 1, column 1 has 10.
        // 3 bits symmetric: qmax 3. Column 0: scale 1/3, -0.4 -> -1.2 -> -1, 0.25 -> 0.75 -> 1.
        // Column 1: scale 10/3, 4 -> 1.2 -> 1, -10 -> -3.
        const Tensor w = Tensor::fromFloats({3, 2}, {1.f, 10.f, -0.4f, 4.f, 0.25f, -10.f});
        const QuantResult r = fakeQuantize(w, spec(3, Granularity::Channel, true), 1);
        QCOMPARE(int(r.grids.size()), 2);
        const float s0 = 1.f / 3.f, s1 = 10.f / 3.f;
        QCOMPARE(r.grids[0].scale, s0);
        QCOMPARE(r.grids[1].scale, s1);
        QCOMPARE(values(r.dequantized), std::vector<float>({3 * s0, 3 * s1, -1 * s0, 1 * s1, 1 * s0, -3 * s1}));

        // Groups of 2 along a row of 5: three groups per channel, the last holding one weight.
        const Tensor g = Tensor::fromFloats({2, 5}, {1, 2, 3, 4, 5, -6, 7, -8, 9, -10});
        const QuantResult rg = fakeQuantize(g, spec(8, Granularity::Group, true, 2));
        QCOMPARE(int(rg.grids.size()), 6);
        const float expected[] = {2, 4, 5, 7, 9, 10};
        for (int i = 0; i < 6; ++i)
            QCOMPARE(rg.grids[size_t(i)].scale, expected[i] / 127.f);

        // Groups with channels on axis 1: a channel's weights are its column, grouped top to bottom.
        const Tensor col = Tensor::fromFloats({4, 2}, {1, -100, 2, 50, 3, 60, -8, 70});
        const QuantResult rc = fakeQuantize(col, spec(8, Granularity::Group, true, 3), 1);
        QCOMPARE(int(rc.grids.size()), 4);
        QCOMPARE(rc.grids[0].scale, 3.f / 127.f);   // channel 0, rows 0-2
        QCOMPARE(rc.grids[1].scale, 8.f / 127.f);   // channel 0, row 3
        QCOMPARE(rc.grids[2].scale, 100.f / 127.f); // channel 1, rows 0-2
        QCOMPARE(rc.grids[3].scale, 70.f / 127.f);  // channel 1, row 3
    }

    void channelAxisLayouts_data()
    {
        QTest::addColumn<Shape>("shape");
        QTest::addColumn<int>("axis");
        QTest::addColumn<Granularity>("granularity");
        QTest::addColumn<int64_t>("groupSize");
        QTest::newRow("ConvTranspose [6,5,3,3] axis 1, channel") << Shape{6, 5, 3, 3} << 1 << Granularity::Channel << int64_t(0);
        QTest::newRow("ConvTranspose [6,5,3,3] axis 1, group 4 (straddles kernels)")
            << Shape{6, 5, 3, 3} << 1 << Granularity::Group << int64_t(4);
        QTest::newRow("MatMul [70,33] axis 1, channel") << Shape{70, 33} << 1 << Granularity::Channel << int64_t(0);
        QTest::newRow("MatMul [70,33] axis 1, group 16 (partial last)") << Shape{70, 33} << 1 << Granularity::Group << int64_t(16);
        QTest::newRow("[4,7,9] axis 1, group 5") << Shape{4, 7, 9} << 1 << Granularity::Group << int64_t(5);
        QTest::newRow("[7,1] axis 1, one channel") << Shape{7, 1} << 1 << Granularity::Group << int64_t(3);
    }

    void channelAxisLayouts()
    {
        // Any channel axis gives what axis 0 gives on the tensor with that axis moved to the front (the
        // remaining axes flattened in order): the quantizer takes different paths for the two layouts.
        QFETCH(Shape, shape);
        QFETCH(int, axis);
        QFETCH(Granularity, granularity);
        QFETCH(int64_t, groupSize);
        const Tensor w = gaussianTensor(shape, 11);
        int64_t outer = 1, inner = 1;
        for (int a = 0; a < axis; ++a)
            outer *= shape[size_t(a)];
        for (size_t a = size_t(axis) + 1; a < shape.size(); ++a)
            inner *= shape[a];
        const int64_t c = shape[size_t(axis)];
        auto moveToFront = [&](const Tensor &t, bool back) {
            Tensor out(DType::Float32, back ? shape : Shape{c, outer * inner});
            for (int64_t o = 0; o < outer; ++o)
                for (int64_t ch = 0; ch < c; ++ch)
                    for (int64_t i = 0; i < inner; ++i) {
                        const int64_t a = (o * c + ch) * inner + i, b = (ch * outer + o) * inner + i;
                        out.data<float>()[back ? a : b] = t.data<float>()[back ? b : a];
                    }
            return out;
        };
        for (bool symmetric : {true, false}) {
            const QuantSpec s = spec(3, granularity, symmetric, groupSize);
            const QuantResult r = fakeQuantize(w, s, axis);
            const QuantResult ref = fakeQuantize(moveToFront(w, false), s, 0);
            QCOMPARE(r.grids.size(), ref.grids.size());
            for (size_t g = 0; g < r.grids.size(); ++g) {
                QCOMPARE(r.grids[g].scale, ref.grids[g].scale);
                QCOMPARE(r.grids[g].zeroPoint, ref.grids[g].zeroPoint);
            }
            QCOMPARE(values(r.dequantized), values(moveToFront(ref.dequantized, true)));
            QCOMPARE(cw::quantizedBytes(shape, s, axis), cw::quantizedBytes(ref.dequantized.shape(), s, 0));
        }
    }

    void nonFiniteWeights()
    {
        const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
        const Tensor w = Tensor::fromFloats({4}, {nan, inf, -1.f, 0.5f});
        const QuantResult r = fakeQuantize(w, spec(8, Granularity::Tensor, true));
        QCOMPARE(r.grids[0].scale, 1.f / 127.f); // the range ignores NaN / Inf
        QVERIFY(std::isnan(r.dequantized.data<float>()[0]));
        QCOMPARE(r.dequantized.data<float>()[1], r.grids[0].hi());
        // An all-zero tensor quantizes to zeros.
        const Tensor z(DType::Float32, {3, 3});
        QCOMPARE(values(fakeQuantize(z, spec(4, Granularity::Channel, false)).dequantized), std::vector<float>(9, 0.f));
    }

    void quantizedBytes_data()
    {
        QTest::addColumn<Shape>("shape");
        QTest::addColumn<int>("bits");
        QTest::addColumn<Granularity>("granularity");
        QTest::addColumn<bool>("symmetric");
        QTest::addColumn<int64_t>("groupSize");
        QTest::addColumn<int64_t>("bytes");
        // 65536 * 4 / 8 = 32768 packed + 64 scales * 4.
        QTest::newRow("[64,1024] 4-bit channel symmetric") << Shape{64, 1024} << 4 << Granularity::Channel << true
                                                           << int64_t(64) << int64_t(32768 + 256);
        QTest::newRow("[64,1024] 4-bit channel asymmetric: + 64 zero points")
            << Shape{64, 1024} << 4 << Granularity::Channel << false << int64_t(64) << int64_t(32768 + 256 + 64);
        QTest::newRow("[64,1024] 8-bit tensor") << Shape{64, 1024} << 8 << Granularity::Tensor << true << int64_t(64)
                                                << int64_t(65536 + 4);
        // 65536 * 3 / 8 = 24576; 64 * 8 groups * (4 + 1).
        QTest::newRow("[64,1024] 3-bit group-128 asymmetric") << Shape{64, 1024} << 3 << Granularity::Group << false
                                                              << int64_t(128) << int64_t(24576 + 512 * 5);
        // 15 * 3 = 45 bits -> 6 bytes.
        QTest::newRow("[3,5] 3-bit tensor: bits rounded up") << Shape{3, 5} << 3 << Granularity::Tensor << true
                                                              << int64_t(64) << int64_t(6 + 4);
        // 10 * 4 bits = 5 bytes; groups of 2 over rows of 5: 3 per channel, 6 scales.
        QTest::newRow("[2,5] 4-bit group-2: partial last group") << Shape{2, 5} << 4 << Granularity::Group << true
                                                                 << int64_t(2) << int64_t(5 + 6 * 4);
        // Channels on axis 1 of [3, 4]: 4 scales; 12 * 2 bits = 3 bytes.
        QTest::newRow("[3,4] 2-bit channel") << Shape{3, 4} << 2 << Granularity::Channel << true << int64_t(64)
                                             << int64_t(3 + 4 * 4);
    }

    void quantizedBytes()
    {
        QFETCH(Shape, shape);
        QFETCH(int, bits);
        QFETCH(Granularity, granularity);
        QFETCH(bool, symmetric);
        QFETCH(int64_t, groupSize);
        QFETCH(int64_t, bytes);
        const int axis = shape == Shape{3, 4} ? 1 : 0;
        QCOMPARE(cw::quantizedBytes(shape, spec(bits, granularity, symmetric, groupSize), axis), bytes);
        // As many grids as the byte count assumes blocks.
        Tensor w(DType::Float32, shape);
        const int64_t blocks = int64_t(fakeQuantize(w, spec(bits, granularity, symmetric, groupSize), axis).grids.size());
        QCOMPARE(bytes, (shapeNumel(shape) * bits + 7) / 8 + blocks * (symmetric ? 4 : 5));
    }

    void invalidSpecs()
    {
        const Tensor w(DType::Float32, {2, 2});
        for (int bits : {1, 9, 0, 32}) {
            QVERIFY_THROWS_EXCEPTION(Error, fakeQuantize(w, spec(bits, Granularity::Channel, true)));
            QVERIFY_THROWS_EXCEPTION(Error, cw::quantizedBytes(w.shape(), spec(bits, Granularity::Channel, true)));
        }
        QVERIFY_THROWS_EXCEPTION(Error, fakeQuantize(w, spec(4, Granularity::Group, true, 0)));
        QVERIFY_THROWS_EXCEPTION(Error, fakeQuantize(w, spec(4, Granularity::Channel, true), 2));
        QVERIFY_THROWS_EXCEPTION(Error, weightError(w, Tensor(DType::Float32, {4})));
    }

    void prune_data()
    {
        QTest::addColumn<double>("ratio");
        QTest::addColumn<float>("threshold");
        QTest::addColumn<std::vector<float>>("expected");
        // |w| sorted: 0, .1, .1, .1, .3, .3, .5, .7, 2, 2.
        QTest::newRow("ratio 0: nothing pruned") << 0.0 << 0.f
                                                 << std::vector<float>{0.5f, -0.1f, 0.1f, 0.3f, -0.3f, 0.1f, 0.f, 2.f, -2.f, 0.7f};
        // 5 pruned: the four below 0.3 and the first of the two at 0.3 (index order breaks the tie).
        QTest::newRow("ratio 0.5: tie at the threshold") << 0.5 << 0.3f
                                                         << std::vector<float>{0.5f, 0.f, 0.f, 0.f, -0.3f, 0.f, 0.f, 2.f, -2.f, 0.7f};
        // 9 pruned: all but the second of the two 2s.
        QTest::newRow("ratio 0.9: tie among the largest") << 0.9 << 2.f
                                                          << std::vector<float>{0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, -2.f, 0.f};
        QTest::newRow("ratio 1: everything") << 1.0 << 2.f << std::vector<float>(10, 0.f);
        // round(0.3 * 10) = 3: the zero and two of the three 0.1s.
        QTest::newRow("ratio 0.3: three of four at or below 0.1")
            << 0.3 << 0.1f << std::vector<float>{0.5f, 0.f, 0.f, 0.3f, -0.3f, 0.1f, 0.f, 2.f, -2.f, 0.7f};
    }

    void prune()
    {
        QFETCH(double, ratio);
        QFETCH(float, threshold);
        QFETCH(std::vector<float>, expected);
        const Tensor w = Tensor::fromFloats({2, 5}, {0.5f, -0.1f, 0.1f, 0.3f, -0.3f, 0.1f, 0.f, 2.f, -2.f, 0.7f});
        QCOMPARE(magnitudeThreshold(w, ratio), threshold);
        const Tensor p = pruneMagnitude(w, ratio);
        QCOMPARE(p.shape(), w.shape());
        QCOMPARE(values(p), expected);
        QCOMPARE(w.data<float>()[1], -0.1f); // the input is untouched
    }

    void pruneExactSparsity()
    {
        // A tensor full of ties (values from 16 levels): the count is still exact.
        Tensor w = testutil::randomTensor({100, 37}, 5);
        for (int64_t i = 0; i < w.numel(); ++i)
            w.data<float>()[i] = std::round(w.data<float>()[i] * 8.f) / 8.f;
        int64_t originalZeros = 0;
        for (int64_t i = 0; i < w.numel(); ++i)
            originalZeros += w.data<float>()[i] == 0.f;
        QVERIFY(originalZeros > 0); // zeros have the smallest magnitude: they count among the pruned
        for (double ratio : {0.0, 0.1, 0.5, 0.77, 0.9, 1.0}) {
            const Tensor p = pruneMagnitude(w, ratio);
            const float t = magnitudeThreshold(w, ratio);
            int64_t zeros = 0;
            for (int64_t i = 0; i < p.numel(); ++i) {
                const float before = w.data<float>()[i], after = p.data<float>()[i];
                zeros += after == 0.f;
                QVERIFY(after == 0.f || after == before);
                // Kept weights are never below the threshold; pruned ones never above it.
                if (after != 0.f)
                    QVERIFY(std::abs(before) >= t);
                else
                    QVERIFY(std::abs(before) <= t);
            }
            const int64_t k = std::llround(ratio * double(w.numel()));
            QCOMPARE(zeros, std::max(k, originalZeros));
        }
        QVERIFY_THROWS_EXCEPTION(Error, pruneMagnitude(w, -0.1));
        QVERIFY_THROWS_EXCEPTION(Error, pruneMagnitude(w, 1.5));
    }
};

QTEST_GUILESS_MAIN(TestQuantize)
#include "test_quantize.moc"
