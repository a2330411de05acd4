// The Inspect view and the graph panel on the offscreen platform: the what-if numbers and overlay against
// the quantizer and pruner themselves, granularity and pruning changes, NaN / Inf and constant weights
// read back from a saved .h5, the activation job (values against a direct Session run, and its cancel
// path), and selection shared between the graph panel, the table and the Inspect view.
#include <QCheckBox>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <filesystem>
#include <limits>

#include "core/analysis/activations.h"
#include "core/analysis/stats.h"
#include "core/compress/compress.h"
#include "core/compress/prune.h"
#include "core/graph/transform.h"
#include "core/io/dataset.h"
#include "core/io/model_io.h"
#include "core/quant/quantize.h"
#include "core/runtime/session.h"
#include "testutil.h"
#include "ui/charts/channelrangeplot.h"
#include "ui/charts/histogramplot.h"
#include "ui/formatting.h"
#include "ui/jobs/activationjob.h"
#include "ui/mainwindow.h"
#include "ui/views/graphpanel.h"
#include "ui/views/inspectview.h"

using namespace cw::ui;

Q_DECLARE_METATYPE(cw::Granularity)

namespace {

bool fashionMnistAvailable()
{
    return std::filesystem::exists(std::filesystem::path(cw::fashionMnistDir()) / "t10k-images-idx3-ubyte.gz");
}

// One Conv whose weight holds NaN and Inf, and a Gemm whose weight is constant.
cw::Model oddModel()
{
    cw::Model m;
    m.graph.name = "odd";
    m.graph.inputs.push_back({"x", cw::DType::Float32, {-1, 1, 4, 4}, true});
    m.graph.outputs.push_back({"y", cw::DType::Float32, {-1, 3}, true});
    cw::Tensor w = testutil::randomTensor({2, 1, 3, 3}, 7);
    w.f32()[3] = std::numeric_limits<float>::quiet_NaN();
    w.f32()[11] = std::numeric_limits<float>::infinity();
    m.graph.initializers["conv1.w"] = w;
    m.graph.initializers["fc.w"] = cw::Tensor::fromFloats({3, 32}, std::vector<float>(96, 0.25f));
    cw::Node conv{"conv1", "Conv", "", {"x", "conv1.w"}, {"c1"}, {}};
    conv.attrs["kernel_shape"] = cw::Attribute::makeInts({3, 3});
    conv.attrs["pads"] = cw::Attribute::makeInts({1, 1, 1, 1});
    cw::Node flatten{"flatten", "Flatten", "", {"c1"}, {"f"}, {}};
    flatten.attrs["axis"] = cw::Attribute::makeInt(1);
    cw::Node fc{"fc", "Gemm", "", {"f", "fc.w"}, {"y"}, {}};
    fc.attrs["transB"] = cw::Attribute::makeInt(1);
    m.graph.nodes = {conv, flatten, fc};
    return m;
}

} // namespace

class TestGuiInspect : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanup();

    void whatIfMatchesQuantizer_data();
    void whatIfMatchesQuantizer();
    void bitWidthChangeUpdatesOverlayAndNumbers();
    void granularityChangesNumbers();
    void pruningShadesAndShrinksModel();
    void nonFiniteAndConstantWeights();
    void resultHistogramOverOriginal();
    void quantizedModelShowsIntegerWeights();
    void activationsMatchSession();
    void activationJobCancel();
    void autoCollectOnlyWhenDataFits();
    void graphPanelSelectsLayer();
    void nestedLayerInspected();

private:
    std::unique_ptr<MainWindow> openWindow(const QString &spec);
    QTemporaryDir m_dir;
};

void TestGuiInspect::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName(QStringLiteral("CompressionWorkbench"));
    QCoreApplication::setApplicationName(QStringLiteral("Compression Workbench Inspect Test"));
    QSettings().clear();
    QVERIFY(m_dir.isValid());
}

void TestGuiInspect::cleanup()
{
    QSettings().clear();
}

std::unique_ptr<MainWindow> TestGuiInspect::openWindow(const QString &spec)
{
    auto window = std::make_unique<MainWindow>();
    window->setErrorDialogsEnabled(false);
    window->inspectView()->setAutoCollect(false);
    window->resize(1400, 900);
    window->show();
    QSignalSpy loaded(window.get(), &MainWindow::modelLoaded);
    if (!window->openModel(spec) || !loaded.wait(30000))
        return nullptr;
    return window;
}

// ---------------------------------------------------------------------------------------------------

void TestGuiInspect::whatIfMatchesQuantizer_data()
{
    QTest::addColumn<int>("bits");
    QTest::addColumn<cw::Granularity>("granularity");
    QTest::addColumn<int>("groupSize");
    QTest::addColumn<bool>("symmetric");
    QTest::addColumn<QString>("layer");
    QTest::newRow("8-bit per-channel symmetric conv2") << 8 << cw::Granularity::Channel << 64 << true << "conv2";
    QTest::newRow("4-bit per-tensor symmetric conv2") << 4 << cw::Granularity::Tensor << 64 << true << "conv2";
    QTest::newRow("3-bit per-group-32 asymmetric conv2") << 3 << cw::Granularity::Group << 32 << false << "conv2";
    QTest::newRow("2-bit per-channel asymmetric fc1") << 2 << cw::Granularity::Channel << 64 << false << "fc1";
    QTest::newRow("6-bit per-group-128 symmetric fc1") << 6 << cw::Granularity::Group << 128 << true << "fc1";
}

void TestGuiInspect::whatIfMatchesQuantizer()
{
    QFETCH(int, bits);
    QFETCH(cw::Granularity, granularity);
    QFETCH(int, groupSize);
    QFETCH(bool, symmetric);
    QFETCH(QString, layer);
    auto window = openWindow(QStringLiteral("demo"));
    QVERIFY2(window, "the demo model did not load");
    QVERIFY(window->showInspect(layer));
    QCOMPARE(window->analysisTabs()->currentWidget(), window->inspectView());
    InspectView *view = window->inspectView();
    QCOMPARE(view->layer(), layer);
    view->setBits(bits);
    view->setGranularity(granularity);
    view->setGroupSize(groupSize);
    view->setSymmetric(symmetric);
    QTRY_VERIFY(!view->recomputePending()); // under load a slow recompute is debounced

    const cw::Model &model = *window->model();
    const cw::Node *node = model.graph.findNode(layer.toStdString());
    QVERIFY(node);
    const cw::Tensor &w = model.graph.initializers.at(node->inputs[1]);
    const int axis = cw::outputChannelAxis(*node, w.shape());
    cw::QuantSpec spec;
    spec.bits = bits;
    spec.granularity = granularity;
    spec.groupSize = groupSize;
    spec.symmetric = symmetric;
    const cw::QuantResult q = cw::fakeQuantize(w, spec, axis);
    const cw::WeightError expected = cw::weightError(w, q.dequantized);
    const InspectView::WhatIf &got = view->whatIf();
    QVERIFY(got.valid && got.quantized);
    QCOMPARE(got.error.sqnrDb, expected.sqnrDb);
    QCOMPARE(got.error.relativeError, expected.relativeError);
    QCOMPARE(view->sqnrText(), displayLocale().toString(expected.sqnrDb, 'f', 1) + QStringLiteral(" dB"));
    QCOMPARE(view->relativeErrorText(), formatPercent(expected.relativeError, 2));
    const int64_t bytes = cw::quantizedBytes(w.shape(), spec, axis);
    QCOMPARE(got.weightBytes, bytes);
    QCOMPARE(got.modelBytes, int64_t(model.graph.parameterBytes()) - int64_t(w.byteSize()) + bytes);
    QVERIFY(view->weightBytesText().startsWith(formatBytes(bytes)));

    // The drawn grid is one of the quantizer's own (the widest), and the overlay draws its levels.
    float widest = 0;
    for (const cw::QuantGrid &g : q.grids)
        widest = std::max(widest, g.hi() - g.lo());
    QCOMPARE(got.grid.hi() - got.grid.lo(), widest);
    const int levels = got.grid.qmax - got.grid.qmin + 1;
    QCOMPARE(levels, symmetric ? (1 << bits) - 1 : 1 << bits);
    QCOMPARE(view->histogram()->levelLineCount(), levels <= HistogramPlot::kMaxLevelLines ? levels : 0);
    QVERIFY(view->histogram()->clipLinesVisible());
    QVERIFY(!view->histogram()->pruneRegionVisible());
}

void TestGuiInspect::bitWidthChangeUpdatesOverlayAndNumbers()
{
    auto window = openWindow(QStringLiteral("demo"));
    QVERIFY(window);
    QVERIFY(window->showInspect(QStringLiteral("conv2")));
    InspectView *view = window->inspectView();
    view->setGranularity(cw::Granularity::Channel);
    view->setSymmetric(true);
    view->setBits(8);
    QTRY_VERIFY(!view->recomputePending()); // under load a slow recompute is debounced
    const QString sqnr8 = view->sqnrText();
    const double db8 = view->whatIf().error.sqnrDb;
    QCOMPARE(view->histogram()->levelLineCount(), 0); // 255 levels: too many to draw, clip lines only
    QVERIFY(view->histogram()->clipLinesVisible());

    QSignalSpy changed(view, &InspectView::whatIfChanged);
    view->setBits(4);
    QTRY_VERIFY(!view->recomputePending()); // under load a slow recompute is debounced
    QCOMPARE(changed.count(), 1);
    QVERIFY(view->sqnrText() != sqnr8);
    QCOMPARE(view->histogram()->levelLineCount(), 15);
    // Each bit removed costs about 6 dB: 4 bits lose between 18 and 30 dB against 8.
    const double loss = db8 - view->whatIf().error.sqnrDb;
    QVERIFY2(loss > 18 && loss < 30, qPrintable(QString::number(loss)));

    view->setBits(0); // float: nothing to draw, exact
    QTRY_VERIFY(!view->recomputePending()); // under load a slow recompute is debounced
    QVERIFY(!view->whatIf().quantized);
    QVERIFY(!view->histogram()->clipLinesVisible());
    QCOMPARE(view->histogram()->levelLineCount(), 0);
    QVERIFY(std::isinf(view->whatIf().error.sqnrDb));
    QCOMPARE(view->whatIf().modelBytes, int64_t(window->model()->graph.parameterBytes()));

    // The last bit-width is remembered.
    view->setBits(3);
    QTRY_VERIFY(!view->recomputePending()); // under load a slow recompute is debounced
    QCOMPARE(QSettings().value(QStringLiteral("inspect/bits")).toInt(), 3);
    InspectView another;
    QCOMPARE(another.bits(), 3);
}

void TestGuiInspect::granularityChangesNumbers()
{
    auto window = openWindow(QStringLiteral("demo"));
    QVERIFY(window);
    QVERIFY(window->showInspect(QStringLiteral("conv2")));
    InspectView *view = window->inspectView();
    view->setBits(4);
    view->setSymmetric(true);
    view->setGranularity(cw::Granularity::Tensor);
    QTRY_VERIFY(!view->recomputePending()); // under load a slow recompute is debounced
    const InspectView::WhatIf tensor = view->whatIf();
    QCOMPARE(tensor.gridChannel, -1);
    view->setGranularity(cw::Granularity::Channel);
    QTRY_VERIFY(!view->recomputePending()); // under load a slow recompute is debounced
    const InspectView::WhatIf channel = view->whatIf();
    // A grid per channel fits each channel's range: less error, a few more bytes for the scales.
    QVERIFY(channel.error.sqnrDb > tensor.error.sqnrDb);
    QVERIFY(channel.weightBytes > tensor.weightBytes);
    QVERIFY(channel.gridChannel >= 0);
    QVERIFY(view->channelPlot()->channelCount() == 64);

    // A chosen channel's grid: channel 5's own range.
    view->setGridChannel(5);
    const cw::Tensor &w = window->model()->graph.initializers.at("conv2.weight");
    cw::QuantSpec spec;
    spec.bits = 4;
    const cw::QuantResult q = cw::fakeQuantize(w, spec, 0);
    QCOMPARE(view->whatIf().gridChannel, 5);
    QCOMPARE(view->whatIf().grid.scale, q.grids[5].scale);
    // ... and the histogram shows that channel's 32 * 3 * 3 weights alone, within its own range.
    QCOMPARE(view->histogramChannel(), 5);
    const cw::Histogram &h = view->histogram()->histogram();
    int64_t binned = 0;
    for (int64_t c : h.counts)
        binned += c;
    QCOMPARE(binned, int64_t(32 * 3 * 3));
    QVERIFY(h.hi <= double(q.grids[5].hi()) + 1e-6 && h.lo >= double(q.grids[5].lo()) - 1e-6);
    view->setGridChannel(-1); // widest: the whole weight again
    QCOMPARE(view->histogramChannel(), -1);
    QCOMPARE(view->histogram()->histogram().counts.size(), size_t(view->bins()));
    binned = 0;
    for (int64_t c : view->histogram()->histogram().counts)
        binned += c;
    QCOMPARE(binned, w.numel());
}

void TestGuiInspect::pruningShadesAndShrinksModel()
{
    auto window = openWindow(QStringLiteral("demo"));
    QVERIFY(window);
    QVERIFY(window->showInspect(QStringLiteral("fc1")));
    InspectView *view = window->inspectView();
    view->setBits(0);
    QTRY_VERIFY(!view->recomputePending()); // the float32 size, not the default setting's (a debounced recompute)
    QVERIFY(!view->histogram()->pruneRegionVisible());
    const int64_t before = view->whatIf().modelBytes;

    view->setPruneRatio(0.5);
    QTRY_VERIFY(!view->recomputePending());
    const cw::Tensor &w = window->model()->graph.initializers.at("fc1.weight");
    const float t = cw::magnitudeThreshold(w, 0.5);
    QVERIFY(view->histogram()->pruneRegionVisible());
    QCOMPARE(view->histogram()->pruneThreshold(), double(t));
    QCOMPARE(view->whatIf().error.relativeError, cw::weightError(w, cw::pruneMagnitude(w, 0.5)).relativeError);
    // Half the weights gone: a one-bit mask plus half the floats.
    const int64_t n = w.numel();
    QCOMPARE(view->whatIf().weightBytes, (n + 7) / 8 + (4 * n / 2));
    QVERIFY(view->whatIf().modelBytes < before);
    QVERIFY(view->modelBytesText() != formatBytes(before));

    // Pruning then quantizing: the error is against the original weight.
    view->setBits(4);
    view->setGranularity(cw::Granularity::Channel);
    cw::QuantSpec spec;
    spec.bits = 4;
    spec.symmetric = view->whatIf().spec.symmetric;
    const cw::Tensor both = cw::fakeQuantize(cw::pruneMagnitude(w, 0.5), spec, 0).dequantized;
    QTRY_VERIFY(!view->recomputePending()); // a slow recompute debounces the next ones
    QCOMPARE(view->whatIf().error.sqnrDb, cw::weightError(w, both).sqnrDb);
    QVERIFY(view->histogram()->pruneRegionVisible() && view->histogram()->clipLinesVisible());

    view->setPruneRatio(0);
    QTRY_VERIFY(!view->recomputePending());
    QVERIFY(!view->histogram()->pruneRegionVisible());
}

void TestGuiInspect::nonFiniteAndConstantWeights()
{
    const QString file = m_dir.filePath(QStringLiteral("odd.h5"));
    cw::saveModel(oddModel(), file.toStdString());
    auto window = openWindow(file);
    QVERIFY2(window, qPrintable(window ? QString() : QStringLiteral("odd.h5 did not load")));
    InspectView *view = window->inspectView();

    QVERIFY(window->showInspect(QStringLiteral("conv1")));
    QVERIFY2(view->noticeText().contains(QStringLiteral("NaN")), qPrintable(view->noticeText()));
    QVERIFY(view->noticeText().contains(QStringLiteral("1 NaN, 1 Inf")));
    QVERIFY(!view->histogram()->notice().isEmpty());
    QCOMPARE(view->histogram()->histogram().nanCount, 1);
    QCOMPARE(view->histogram()->histogram().infCount, 1);
    int64_t binned = 0;
    for (int64_t c : view->histogram()->histogram().counts)
        binned += c;
    QCOMPARE(binned, 16); // 18 weights, 2 not finite
    view->setBits(4);
    QVERIFY(std::isfinite(view->whatIf().error.sqnrDb));
    QCOMPARE(view->whatIf().nonFinite, 2);

    // Constant weight: one bar holding everything, exact at every bit-width (the grid hits the value).
    QVERIFY(window->showInspect(QStringLiteral("fc")));
    QVERIFY(view->noticeText().isEmpty());
    const cw::Histogram &h = view->histogram()->histogram();
    QCOMPARE(*std::max_element(h.counts.begin(), h.counts.end()), 96);
    view->setGranularity(cw::Granularity::Tensor);
    view->setSymmetric(true);
    view->setBits(2);
    QTRY_VERIFY(!view->recomputePending()); // under load a slow recompute is debounced
    QCOMPARE(view->whatIf().error.relativeError, 0.0);
    QCOMPARE(view->sqnrText(), QStringLiteral("∞ dB (exact)"));

    // Flatten has no weight: a notice, no numbers.
    QVERIFY(window->showInspect(QStringLiteral("flatten")));
    QVERIFY(!view->whatIf().valid);
    QCOMPARE(view->sqnrText(), QStringLiteral("—"));
}

// The what-if's result drawn over the original, in the same bins: pruning piles the cut weights at zero,
// quantization puts every weight on one of the grid's levels; "Show result" off, or no what-if, removes it.
void TestGuiInspect::resultHistogramOverOriginal()
{
    auto window = openWindow(QStringLiteral("demo"));
    QVERIFY(window);
    QVERIFY(window->showInspect(QStringLiteral("fc1")));
    InspectView *view = window->inspectView();
    HistogramPlot *plot = view->histogram();
    view->setBits(0);
    view->setPruneRatio(0);
    QTRY_VERIFY(!view->recomputePending());
    QVERIFY(!plot->resultVisible());

    const cw::Tensor &w = window->model()->graph.initializers.at("fc1.weight");
    view->setPruneRatio(0.5);
    QTRY_VERIFY(!view->recomputePending());
    QVERIFY(plot->resultVisible());
    const cw::Histogram &before = plot->histogram(), &after = plot->result();
    QCOMPARE(after.counts.size(), before.counts.size());
    QCOMPARE(after.lo, before.lo);
    QCOMPARE(after.hi, before.hi);
    const cw::Tensor pruned = cw::pruneMagnitude(w, 0.5);
    const cw::Histogram expected = cw::computeHistogram(pruned.f32(), pruned.numel(), int(before.counts.size()), before.lo, before.hi);
    QCOMPARE(after.counts, expected.counts);
    const int64_t zeroBin = int64_t(std::floor((0.0 - after.lo) / after.binWidth()));
    QVERIFY(after.counts[size_t(zeroBin)] >= w.numel() / 2);

    // 3 bits per tensor: the result sits in at most 7 bins (one per level).
    view->setPruneRatio(0);
    view->setGranularity(cw::Granularity::Tensor);
    view->setBits(3);
    QTRY_VERIFY(!view->recomputePending());
    QVERIFY(plot->resultVisible());
    const auto used = std::count_if(plot->result().counts.begin(), plot->result().counts.end(), [](int64_t c) { return c > 0; });
    QVERIFY2(used >= 2 && used <= 7, qPrintable(QString::number(used)));
    int64_t total = 0;
    for (int64_t c : plot->result().counts)
        total += c;
    QCOMPARE(total + plot->result().below + plot->result().above, w.numel());

    auto *check = view->findChild<QCheckBox *>(QStringLiteral("resultCheck"));
    QVERIFY(check && check->isChecked());
    check->setChecked(false);
    QVERIFY(!plot->resultVisible());
    QCOMPARE(QSettings().value(QStringLiteral("inspect/showResult")).toBool(), false);
    check->setChecked(true);
    QVERIFY(plot->resultVisible());
}

// A quantized variant reopened: each layer shows its integers' values as its weight, the header says how
// they are stored, and "This weight" starts from the stored bytes, not float32's.
void TestGuiInspect::quantizedModelShowsIntegerWeights()
{
    cw::CompressOptions o;
    o.measure = false;
    o.threads = 2;
    const cw::Variant v = cw::compress(cw::loadModel("demo"), cw::recipeFromJson(R"({"quantize": {"weights": {"bits": 4},
                                       "bias_correction": false}})"), nullptr, nullptr, o);
    const QString file = m_dir.filePath(QStringLiteral("w4.h5"));
    cw::saveModel(v.model, file.toStdString());
    auto window = openWindow(file);
    QVERIFY(window);
    InspectView *view = window->inspectView();
    QVERIFY(window->showInspect(QStringLiteral("conv2")));
    QVERIFY2(view->headerText().contains(QStringLiteral("stored as <b>int8</b>")), qPrintable(view->headerText()));
    QVERIFY(view->headerText().contains(QStringLiteral("<b>4 bits</b> used")));
    const cw::IntegerLayerWeight stored = cw::integerLayerWeights(window->model()->graph)[1];
    QCOMPARE(stored.layer, std::string("conv2"));
    const cw::Tensor values = cw::dequantizeLayerWeight(window->model()->graph, stored);
    view->setBits(0);
    view->setPruneRatio(0);
    QTRY_VERIFY(!view->recomputePending());
    int64_t binned = 0;
    for (int64_t c : view->histogram()->histogram().counts)
        binned += c;
    QCOMPARE(binned, values.numel());
    QCOMPARE(view->histogram()->histogram().lo, double(*std::min_element(values.f32(), values.f32() + values.numel())));
    // As the .h5 keeps it: 4-bit integers packed, a float scale and an int8 zero point per output channel.
    QCOMPARE(view->whatIf().originalWeightBytes, (values.numel() * 4 + 7) / 8 + 64 * 5);
    QCOMPARE(view->whatIf().weightBytes, values.numel() * 4); // float32, the what-if's "float"
    // The table has the layer's row, no DequantizeLinear rows.
    QVERIFY(window->selectLayer(QStringLiteral("conv2")));
    QVERIFY(!window->selectLayer(QStringLiteral("conv2_weight_dequantize")));
}

void TestGuiInspect::activationsMatchSession()
{
    if (!fashionMnistAvailable())
        QSKIP("Fashion-MNIST is not installed");
    const cw::Model model = cw::loadModel("demo");
    InspectView view;
    view.setAutoCollect(false);
    view.setModel(&model);
    view.setDataset(QStringLiteral("fashion-mnist"));
    view.setActivationSamples(100);
    view.setLayer(QStringLiteral("relu3"));
    QSignalSpy finished(&view, &InspectView::activationsFinished);
    QVERIFY(view.collectActivations());
    QVERIFY(view.activationJob());
    QSignalSpy succeeded(view.activationJob(), &ActivationJob::succeeded);
    QVERIFY(finished.wait(60000));
    QCOMPARE(succeeded.count(), 1);
    QVERIFY(view.hasActivations());

    // Reference: the same 100 samples through a Session directly. Activations are the values of the graph as it
    // is (the job reads every node's output, which the fusions of an inference Session would remove).
    const cw::Dataset data = cw::loadDataset("fashion-mnist", {}, 100);
    cw::SessionOptions unfused;
    unfused.fuse = false;
    const cw::Session session(model, unfused);
    const std::string out = model.graph.findNode("relu3")->outputs.front();
    const cw::Tensor ref = session.run({{model.graph.inputs.front().name, data.batch(0, 100)}}, {out}).at(out);
    double mn = INFINITY, mx = -INFINITY;
    for (int64_t i = 0; i < ref.numel(); ++i) {
        mn = std::min(mn, double(ref.f32()[i]));
        mx = std::max(mx, double(ref.f32()[i]));
    }
    const std::vector<cw::ActivationSample> direct =
        cw::collectActivations(session, data, 100, {out}, cw::ActivationOptions{32, 1 << 20});
    QCOMPARE(direct.size(), size_t(1));
    QCOMPARE(direct[0].total, ref.numel());
    QCOMPARE(direct[0].min, mn);
    QCOMPARE(direct[0].max, mx);
    QCOMPARE(int64_t(direct[0].values.size()), ref.numel()); // under the cap: every value kept
    QCOMPARE(direct[0].min, 0.0);                              // after a ReLU

    // The view's histogram holds the job's sample of the same output.
    const cw::Histogram &h = view.activationPlot()->histogram();
    int64_t binned = 0;
    for (int64_t c : h.counts)
        binned += c;
    QCOMPARE(binned, ref.numel());
    QCOMPARE(h.lo, mn);
    QCOMPARE(h.hi, mx);

    // A strided sample under a cap spans every row evenly.
    const std::vector<cw::ActivationSample> capped =
        cw::collectActivations(session, data, 100, {out}, cw::ActivationOptions{32, 1000});
    QVERIFY(capped[0].stride > 1);
    QVERIFY(int64_t(capped[0].values.size()) <= 1000);
    QCOMPARE(capped[0].values.back(), ref.f32()[(int64_t(capped[0].values.size()) - 1) * capped[0].stride]);
    QVERIFY_THROWS_EXCEPTION(cw::Error, cw::collectActivations(session, data, 10, {"no such value"}));
}

void TestGuiInspect::activationJobCancel()
{
    if (!fashionMnistAvailable())
        QSKIP("Fashion-MNIST is not installed");
    const cw::Model resnet = cw::loadModel("demo-resnet"); // outlives the view, which keeps a pointer to it
    InspectView view;
    view.setAutoCollect(false);
    view.setModel(&resnet);
    view.setDataset(QStringLiteral("fashion-mnist"));
    view.setActivationSamples(10000);
    QSignalSpy finished(&view, &InspectView::activationsFinished);
    QVERIFY(view.collectActivations());
    QVERIFY(!view.collectActivations()); // one at a time
    QSignalSpy cancelled(view.activationJob(), &Job::cancelled);
    QSignalSpy succeeded(view.activationJob(), &ActivationJob::succeeded);
    view.activationJob()->cancel();
    QVERIFY(cancelled.wait(60000));
    QTRY_COMPARE(finished.count(), 1);
    QCOMPARE(succeeded.count(), 0);
    QVERIFY(!view.hasActivations());
    QVERIFY(!view.activationJob());
}

// Shown, the tab collects activations unasked only when the data fits the model: otherwise it says why, as a note
// rather than as the error of a job (Fashion-MNIST beside a model of 4 x 4 inputs).
void TestGuiInspect::autoCollectOnlyWhenDataFits()
{
    if (!fashionMnistAvailable())
        QSKIP("Fashion-MNIST is not installed");
    const cw::Model odd = oddModel();
    InspectView view;
    view.setModel(&odd);
    view.setDataset(QStringLiteral("fashion-mnist"));
    view.setActivationSamples(50);
    view.show();
    QTRY_VERIFY_WITH_TIMEOUT(view.activationStatusText().startsWith(QStringLiteral("Not collected: ")), 30000);
    QVERIFY2(view.activationStatusText().contains(QStringLiteral("[1, 28, 28]")),
             qPrintable(view.activationStatusText()));
    QVERIFY(!view.activationStatusText().contains(QStringLiteral("color")));
    QVERIFY(!view.activationJob());
    QVERIFY(!view.hasActivations());

    const cw::Model demo = cw::loadModel("demo");
    InspectView fits;
    fits.setModel(&demo);
    fits.setDataset(QStringLiteral("fashion-mnist"));
    fits.setActivationSamples(50);
    QSignalSpy finished(&fits, &InspectView::activationsFinished);
    fits.show();
    QVERIFY(finished.wait(60000));
    QVERIFY(fits.hasActivations());
}

void TestGuiInspect::graphPanelSelectsLayer()
{
    auto window = openWindow(QStringLiteral("demo-resnet"));
    QVERIFY(window);
    GraphPanel *graph = window->graphPanel();
    const cw::Model &model = *window->model();
    QCOMPARE(graph->rowCount(), int(model.graph.nodes.size()));
    // Every Add joins two branches: one of its inputs arrives on a side arc.
    int adds = 0;
    for (int r = 0; r < graph->rowCount(); ++r) {
        if (graph->rows()[size_t(r)].op != QLatin1String("Add"))
            continue;
        ++adds;
        QCOMPARE(graph->rows()[size_t(r)].inputs.size(), size_t(2));
        QVERIFY(std::any_of(graph->arcs().begin(), graph->arcs().end(), [r](const GraphPanel::Arc &a) { return a.to == r; }));
    }
    QVERIFY(adds > 0);
    QVERIFY(graph->laneCount() >= 1);

    window->analysisTabs()->setCurrentIndex(0);
    const int row = graph->rowCount() / 2;
    const QString name = QString::fromStdString(model.graph.nodes[size_t(row)].name);
    graph->ensureVisible(graph->rowCenter(row).x(), graph->rowCenter(row).y());
    QTest::mouseClick(graph->canvas(), Qt::LeftButton, {}, graph->rowCenter(row));
    QCOMPARE(window->selectedLayer(), name);
    QCOMPARE(graph->selectedRow(), row);
    QCOMPARE(window->inspectView()->layer(), name);

    // And the other way: selecting in the table highlights the node.
    QVERIFY(window->selectLayer(QString::fromStdString(model.graph.nodes[1].name)));
    QCOMPARE(graph->selectedRow(), 1);

    // Ctrl+2 shows the Inspect tab.
    QTest::keyClick(window.get(), Qt::Key_2, Qt::ControlModifier);
    QCOMPARE(window->analysisTabs()->currentWidget(), window->inspectView());
}

// A layer inside an If branch (the fuzz seed branches.onnx: an unnamed Gemm whose weight is a Constant of the
// branch) is named at load and shown in Inspect, though the layer table lists only top-level nodes.
void TestGuiInspect::nestedLayerInspected()
{
    auto window = openWindow(testutil::sourcePath("tests/fuzz/corpus/onnx/branches.onnx"));
    QVERIFY(window);
    const std::vector<cw::LayerNode> layers = cw::layerNodes(window->model()->graph);
    QCOMPARE(layers.size(), size_t(2));
    const QString name = QString::fromStdString(layers[1].node->name);
    QVERIFY2(name.startsWith(QStringLiteral("Gemm_")), qPrintable(name));
    QVERIFY(window->showInspect(name));
    InspectView *view = window->inspectView();
    QVERIFY2(view->headerText().contains(QStringLiteral("inside an If")), qPrintable(view->headerText()));
    int64_t binned = 0;
    for (int64_t c : view->histogram()->histogram().counts)
        binned += c;
    QCOMPARE(binned, int64_t(8)); // the [2, 4] weight
    view->setBits(4);
    QTRY_VERIFY(!view->recomputePending());
    QVERIFY(view->whatIf().valid);
}

QTEST_MAIN(TestGuiInspect)
#include "test_gui_inspect.moc"
