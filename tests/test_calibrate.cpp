// Activation calibration tests on known distributions: min-max and the uint8 grid by hand; percentiles
// against numpy.percentile; the MSE method against a numpy brute-force search of the real quantization error
// on the samples; the entropy method against a numpy transcription of pytorch-quantization's TensorRT
// calibrator on the same histogram.
#include <QtTest>

#include <QTemporaryDir>

#include <cmath>
#include <random>

#include "core/base/error.h"
#include "core/compress/calibrate.h"
#include "core/io/dataset.h"
#include "core/io/model_io.h"
#include "testutil.h"

using namespace cw;

Q_DECLARE_METATYPE(std::string)

namespace {

// "gauss": N(0, 1); "relu": max(N(0, 1), 0); "laplace": Laplace(0, 1); "halfnormal": |N(0, 2)|; "uniform": U(0, 1).
std::vector<float> sample(const std::string &kind, int n, unsigned seed)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.f, 1.f);
    std::uniform_real_distribution<float> uniform(0.f, 1.f);
    std::exponential_distribution<float> expo(1.f);
    std::vector<float> v(static_cast<size_t>(n));
    for (float &x : v) {
        if (kind == "gauss")
            x = normal(rng);
        else if (kind == "relu")
            x = std::max(normal(rng), 0.f);
        else if (kind == "laplace")
            x = (uniform(rng) < 0.5f ? -1.f : 1.f) * expo(rng);
        else if (kind == "halfnormal")
            x = std::abs(2.f * normal(rng));
        else
            x = uniform(rng);
    }
    return v;
}

Tensor toTensor(const std::vector<float> &v) { return Tensor::fromFloats({int64_t(v.size())}, v); }

// Runs numpy code with x.npy in a temporary directory; returns what it prints, as numbers.
std::vector<double> numpy(const std::vector<float> &values, const QString &code)
{
    QTemporaryDir dir;
    writeNpy(toTensor(values), dir.filePath("x.npy").toStdString());
    QString error;
    const QByteArray out = testutil::runProcess(testutil::python(),
                                                {"-c", "import numpy as np\nx = np.load('x.npy').astype(np.float64)\n" + code},
                                                &error, 120000, dir.path());
    if (!error.isEmpty())
        qWarning() << error;
    std::vector<double> result;
    for (const QByteArray &tok : out.simplified().split(' '))
        if (!tok.isEmpty())
            result.push_back(tok.toDouble());
    return result;
}

std::pair<double, double> extremes(const std::vector<float> &v)
{
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    return {*lo, *hi};
}

} // namespace

class TestCalibrate : public QObject {
    Q_OBJECT

private slots:
    void minmaxAndGrid()
    {
        const std::vector<float> v{-1.f, 0.5f, 3.f, 2.f};
        const ActivationRange r = calibrateRange(v, -1, 3, Calibration::MinMax);
        QCOMPARE(r.lo, -1.f);
        QCOMPARE(r.hi, 3.f);
        const ActivationGrid g = activationGrid(r);
        QCOMPARE(g.scale, 4.f / 255.f);
        QCOMPARE(int(g.zeroPoint), 64); // round(1 / (4 / 255)) = round(63.75)
        // One-sided ranges start at 0 (zero point 0); a range not containing 0 is widened to it.
        const ActivationRange pos = calibrateRange({1.f, 2.f}, 1, 2, Calibration::MinMax);
        QCOMPARE(pos.lo, 0.f);
        QCOMPARE(pos.hi, 2.f);
        QCOMPARE(int(activationGrid(pos).zeroPoint), 0);
        // A dead activation still gets a usable grid.
        const ActivationRange dead = calibrateRange({0.f, 0.f}, 0, 0, Calibration::Entropy);
        QVERIFY(dead.hi > dead.lo);
        QVERIFY(activationGrid(dead).scale > 0);
    }

    void percentile_data()
    {
        QTest::addColumn<std::string>("kind");
        QTest::addColumn<double>("p");
        QTest::newRow("relu 99.99") << std::string("relu") << 99.99;
        QTest::newRow("relu 99") << std::string("relu") << 99.0;
        QTest::newRow("gauss 99.9 (two-sided, on |x|)") << std::string("gauss") << 99.9;
        QTest::newRow("laplace 99.99") << std::string("laplace") << 99.99;
    }
    void percentile()
    {
        QFETCH(std::string, kind);
        QFETCH(double, p);
        const std::vector<float> v = sample(kind, 100000, 7);
        const auto [lo, hi] = extremes(v);
        const ActivationRange r = calibrateRange(v, lo, hi, Calibration::Percentile, p);
        const bool oneSided = lo >= 0;
        const std::vector<double> ref =
            numpy(v, QString("print(np.percentile(%1, %2))").arg(oneSided ? "x" : "np.abs(x)").arg(p, 0, 'g', 17));
        QCOMPARE(int(ref.size()), 1);
        QVERIFY2(std::abs(r.hi - ref[0]) <= 1e-5 * std::abs(ref[0]) + 1e-6,
                 qPrintable(QString("hi %1 vs numpy %2").arg(r.hi).arg(ref[0])));
        if (oneSided)
            QCOMPARE(r.lo, 0.f);
        else
            QVERIFY(std::abs(r.lo + ref[0]) <= 1e-5 * ref[0] + 1e-6);
    }

    // The MSE range must give a real quantization error (numpy quantizes every sample on the uint8 grid of the
    // range) within 3% of the best range numpy finds by brute force, and clearly below min-max's error on
    // heavy-tailed data at 4 bits.
    void mse_data()
    {
        QTest::addColumn<std::string>("kind");
        QTest::addColumn<int>("bits");
        QTest::newRow("laplace 8 bits") << std::string("laplace") << 8;
        QTest::newRow("laplace 4 bits") << std::string("laplace") << 4;
        QTest::newRow("gauss 8 bits") << std::string("gauss") << 8;
        QTest::newRow("relu 8 bits") << std::string("relu") << 8;
        QTest::newRow("halfnormal 4 bits") << std::string("halfnormal") << 4;
    }
    void mse()
    {
        QFETCH(std::string, kind);
        QFETCH(int, bits);
        const std::vector<float> v = sample(kind, 50000, 11);
        const auto [lo, hi] = extremes(v);
        const ActivationRange r = calibrateRange(v, lo, hi, Calibration::Mse, 0, bits);
        const ActivationRange mm = calibrateRange(v, lo, hi, Calibration::MinMax, 0, bits);
        // err(lo, hi): the asymmetric grid with 2^bits levels over [lo, hi] (zero point rounded), as the
        // integer graph uses; brute force over symmetric clips t * (lo, hi) for one-sided data t * hi.
        const QString code = QString(R"(
L = 2**%1 - 1
def err(lo, hi):
    s = (hi - lo) / L
    z = np.round(-lo / s)
    q = np.clip(np.round(x / s) + z, 0, L)
    return np.mean(((q - z) * s - x) ** 2)
lo0, hi0 = min(x.min(), 0.0), max(x.max(), 0.0)
one = x.min() >= 0
top = hi0 if one else max(-lo0, hi0)
best = min(err(0.0 if one else max(lo0, -t), min(hi0, t)) for t in np.linspace(top / 200, top, 200))
print(best, err(%2, %3), err(%4, %5))
)")
                                 .arg(bits)
                                 .arg(double(r.lo), 0, 'g', 9)
                                 .arg(double(r.hi), 0, 'g', 9)
                                 .arg(double(mm.lo), 0, 'g', 9)
                                 .arg(double(mm.hi), 0, 'g', 9);
        const std::vector<double> ref = numpy(v, code);
        QCOMPARE(int(ref.size()), 3);
        const double best = ref[0], ours = ref[1], minmax = ref[2];
        QVERIFY2(ours <= best * 1.03, qPrintable(QString("mse %1 vs best %2 (range %3..%4)").arg(ours).arg(best).arg(r.lo).arg(r.hi)));
        if (kind == "laplace" && bits == 4)
            QVERIFY2(ours < 0.8 * minmax, qPrintable(QString("mse %1 vs min-max %2").arg(ours).arg(minmax)));
    }

    // pytorch-quantization's _compute_amax_entropy (TensorRT's method), transcribed to numpy with the same
    // histogram; the bin the C++ code picks must be the one numpy picks.
    void entropy_data()
    {
        QTest::addColumn<std::string>("kind");
        QTest::addColumn<int>("levels");
        QTest::newRow("relu, 256 levels") << std::string("relu") << 256;
        QTest::newRow("gauss |x|, 128 levels") << std::string("gauss") << 128;
        QTest::newRow("laplace |x|, 128 levels") << std::string("laplace") << 128;
        QTest::newRow("halfnormal, 256 levels") << std::string("halfnormal") << 256;
    }
    void entropy()
    {
        QFETCH(std::string, kind);
        QFETCH(int, levels);
        const std::vector<float> v = sample(kind, 50000, 5);
        const auto [lo, hi] = extremes(v);
        const double top = std::max(-std::min(lo, 0.0), hi);
        const std::vector<double> hist = calibrationHistogram(v, top, 2048);
        const int ours = entropyThresholdBins(hist, levels);
        std::vector<float> h(hist.begin(), hist.end());
        const QString code = QString(R"(
bins = x.copy()
bins[0] = bins[1]
nb = %1
divs = []
for i in range(128, len(bins) + 1):
    ref = bins[:i].copy()
    ref[i - 1] += bins[i:].sum()
    idx = (np.arange(i) * nb) // i
    nz = bins[:i] != 0
    qb = np.bincount(idx[nz], weights=bins[:i][nz], minlength=nb)
    cnt = np.bincount(idx[nz], minlength=nb)
    q = np.where(nz, qb[idx] / np.maximum(cnt[idx], 1), 0.0)
    p = ref / ref.sum(); q = q / q.sum()
    m = p > 0
    divs.append(np.inf if np.any(q[m] == 0) else np.sum(p[m] * np.log(p[m] / q[m])))
divs = np.array(divs)
print(len(divs) - 1 - np.argmin(divs[::-1]) + 128)
)")
                                 .arg(levels);
        const std::vector<double> ref = numpy(h, code);
        QCOMPARE(int(ref.size()), 1);
        QCOMPARE(ours, int(ref[0]));
        // And the range it gives clips the tail: below the maximum, above the bulk.
        const ActivationRange r = calibrateRange(v, lo, hi, Calibration::Entropy, 0, 8);
        QVERIFY(r.hi <= hi);
        QVERIFY(r.hi > 0.3 * hi);
    }

    void uniformIsNotClipped()
    {
        const std::vector<float> v = sample("uniform", 100000, 3);
        const auto [lo, hi] = extremes(v);
        for (Calibration c : {Calibration::Mse, Calibration::Entropy, Calibration::MinMax}) {
            const ActivationRange r = calibrateRange(v, lo, hi, c);
            QVERIFY2(r.hi > 0.97 * hi, qPrintable(QString::fromStdString(toString(c)) + QString(" hi %1").arg(r.hi)));
        }
    }

    void onTheDemo()
    {
        // Every calibrated range of the demo's ReLU outputs is one-sided and within the observed maximum.
        const Model demo = loadModel("demo");
        const Dataset data = loadDataset("fashion-mnist", {}, 64);
        const Session session(demo, SessionOptions{1});
        ActivationQuantConfig config;
        config.samples = 64;
        config.calibration = Calibration::Entropy;
        const std::vector<std::string> values{"input", demo.graph.findNode("relu1")->outputs[0],
                                              demo.graph.findNode("fc2")->outputs[0]};
        const auto ranges = calibrateActivations(session, data, values, config);
        QCOMPARE(int(ranges.size()), 3);
        const ActivationRange relu = ranges.at(values[1]);
        QCOMPARE(relu.lo, 0.f);
        QVERIFY(relu.hi > 0);
        const ActivationRange input = ranges.at("input");
        QCOMPARE(input.lo, 0.f);
        QVERIFY(input.hi <= 1.f && input.hi > 0.5f);
        QVERIFY(ranges.at(values[2]).lo < 0); // logits are two-sided
    }
};

QTEST_GUILESS_MAIN(TestCalibrate)
#include "test_calibrate.moc"
