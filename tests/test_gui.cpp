// Qt Widgets front end on the offscreen platform: the main window, its layer table and chart, the job
// adapters (worker thread, throttled progress, cancel, errors), recent files and export.
//
// The model is a tiny Conv -> Relu -> Flatten -> Gemm classifier built here and saved with cw::saveModel;
// its datasets and the reference accuracy / top-5 / loss are computed by numpy from the same weights.
#include <QAction>
#include <QClipboard>
#include <QFile>
#include <QGuiApplication>
#include <QHeaderView>
#include <QJsonDocument>
#include <QJsonObject>
#include <QMenu>
#include <QMessageBox>
#include <QPointer>
#include <QProgressBar>
#include <QScrollBar>
#include <QSettings>
#include <QSignalSpy>
#include <QSortFilterProxyModel>
#include <QStandardPaths>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>
#include <QToolButton>
#include <QWheelEvent>
#include <QComboBox>
#include <QLabel>
#include <QTableWidget>
#include <QLineEdit>
#include <QMimeData>
#include <QSpinBox>

#include <qcustomplot.h>

#include <chrono>
#include <thread>

#include "core/base/error.h"
#include "core/io/model_io.h"
#include "core/runtime/session.h"
#include "testutil.h"
#include "ui/charts/parameterchart.h"
#include "ui/jobs/evaluatejob.h"
#include "ui/jobs/job.h"
#include "ui/jobs/modeljobs.h"
#include "ui/jobs/profilejob.h"
#include "ui/mainwindow.h"
#include "ui/models/layertablemodel.h"
#include "ui/rowtable.h"
#include "ui/views/evaluatedialog.h"
#include "ui/views/inspectview.h"
#include "ui/views/profiledialog.h"

using namespace cw::ui;

// A job whose work is a lambda: exercises the Job base on its own.
class LambdaJob : public Job {
    Q_OBJECT
public:
    explicit LambdaJob(Work work, QObject *parent = nullptr) : Job(parent), m_work(std::move(work)) {}
    bool start() override { return startWork(m_work); }
    void emitSucceeded() { emit succeeded(); }
signals:
    void succeeded();

private:
    Work m_work;
};

namespace {

constexpr int kClasses = 8;

cw::Model tinyModel()
{
    cw::Model m;
    m.graph.name = "tiny";
    m.producerName = "test_gui";
    m.metadata["architecture"] = "tiny-cnn";
    m.metadata["dataset"] = "random 4x4";
    m.graph.inputs.push_back({"x", cw::DType::Float32, {-1, 1, 4, 4}, true});
    m.graph.outputs.push_back({"logits", cw::DType::Float32, {-1, kClasses}, true});
    m.graph.initializers["conv1.w"] = testutil::randomTensor({2, 1, 3, 3}, 1);
    m.graph.initializers["conv1.b"] = testutil::randomTensor({2}, 2, -0.1f, 0.1f);
    m.graph.initializers["fc.w"] = testutil::randomTensor({kClasses, 32}, 3);
    m.graph.initializers["fc.b"] = testutil::randomTensor({kClasses}, 4, -0.1f, 0.1f);

    cw::Node conv{"conv1", "Conv", "", {"x", "conv1.w", "conv1.b"}, {"c1"}, {}};
    conv.attrs["kernel_shape"] = cw::Attribute::makeInts({3, 3});
    conv.attrs["pads"] = cw::Attribute::makeInts({1, 1, 1, 1});
    cw::Node relu{"relu1", "Relu", "", {"c1"}, {"r1"}, {}};
    cw::Node flatten{"flatten", "Flatten", "", {"r1"}, {"f"}, {}};
    flatten.attrs["axis"] = cw::Attribute::makeInt(1);
    cw::Node fc{"fc", "Gemm", "", {"f", "fc.w", "fc.b"}, {"logits"}, {}};
    fc.attrs["transB"] = cw::Attribute::makeInt(1);
    m.graph.nodes = {conv, relu, flatten, fc};
    return m;
}

// numpy: the same network in float64, two labelled datasets (35 % of labels randomised) and the
// expected metrics of each.
const char *kMakeData = R"PY(
import json, numpy as np
W1, B1, W2, B2 = (np.load(n + '.npy').astype(np.float64) for n in ('w1', 'b1', 'w2', 'b2'))
def forward(x):
    n = x.shape[0]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    y = np.zeros((n, 2, 4, 4))
    for m in range(2):
        for i in range(4):
            for j in range(4):
                y[:, m, i, j] = (xp[:, 0, i:i+3, j:j+3] * W1[m, 0]).sum(axis=(1, 2)) + B1[m]
    return np.maximum(y, 0).reshape(n, -1) @ W2.T + B2
rng = np.random.RandomState(0)
expected = {}
for name, n in (('small', 300), ('large', 60000)):
    x = rng.rand(n, 1, 4, 4).astype(np.float32)
    logits = forward(x.astype(np.float64))
    y = logits.argmax(1)
    flip = rng.rand(n) < 0.35
    y[flip] = rng.randint(0, logits.shape[1], flip.sum())
    np.savez(name + '.npz', x=x, y=y.astype(np.int64))
    top5 = np.argsort(-logits, axis=1)[:, :5]
    mx = logits.max(1)
    lse = mx + np.log(np.exp(logits - mx[:, None]).sum(1))
    expected[name] = dict(accuracy=float((logits.argmax(1) == y).mean()),
                          top5=float((top5 == y[:, None]).any(1).mean()),
                          loss=float((lse - logits[np.arange(n), y]).mean()), samples=n)
json.dump(expected, open('expected.json', 'w'))
)PY";

} // namespace

class TestGui : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanup();

    void jobOutcome_data();
    void jobOutcome();
    void jobProgressIsThrottled();
    void jobDestroyedWhileRunning();
    void evaluateJob_data();
    void evaluateJob();
    void evaluateJobCancel();

    void opensModel_data();
    void opensModel();
    void layerTableSortAndFilter();
    void chartAndTableSelection();
    void chartScrollsThroughManyLayers();
    void evaluateFromWindow();
    void cancelEvaluation();
    void profileFromWindow();
    void profileJobCancel();
    void tablesCopyRows();
    void failedOpenKeepsModel();
    void recentFiles();
    void exportModel_data();
    void exportModel();
    void startupDemo();
    void dropOpensModel_data();
    void dropOpensModel();
    void evaluateDialogChoices();
    void geometryRemembered();
    void demoOnFashionMnist();

private:
    QString path(const QString &name) const { return m_dir.filePath(name); }
    // A shown window with the tiny model open.
    std::unique_ptr<MainWindow> openWindow(const QString &model);

    QTemporaryDir m_dir;
    QJsonObject m_expected;
};

void TestGui::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName(QStringLiteral("CompressionWorkbench"));
    QCoreApplication::setApplicationName(QStringLiteral("Compression Workbench Test"));
    QSettings().clear();
    QVERIFY(m_dir.isValid());

    const cw::Model model = tinyModel();
    cw::saveModel(model, path("tiny.h5").toStdString());
    cw::saveModel(model, path("tiny.onnx").toStdString());
    cw::writeNpy(model.graph.initializers.at("conv1.w"), path("w1.npy").toStdString());
    cw::writeNpy(model.graph.initializers.at("conv1.b"), path("b1.npy").toStdString());
    cw::writeNpy(model.graph.initializers.at("fc.w"), path("w2.npy").toStdString());
    cw::writeNpy(model.graph.initializers.at("fc.b"), path("b2.npy").toStdString());
    QString error;
    QVERIFY2(testutil::runPython(QString::fromUtf8(kMakeData), m_dir.path(), &error), qPrintable(error));
    QFile expected(path("expected.json"));
    QVERIFY(expected.open(QIODevice::ReadOnly));
    m_expected = QJsonDocument::fromJson(expected.readAll()).object();
    QVERIFY(m_expected.contains("small"));

    QFile bad(path("corrupt.onnx"));
    QVERIFY(bad.open(QIODevice::WriteOnly));
    bad.write("this is not a protobuf \x01\x02\x03 at all, just bytes");
}

void TestGui::cleanup()
{
    QSettings().clear();
}

std::unique_ptr<MainWindow> TestGui::openWindow(const QString &model)
{
    auto window = std::make_unique<MainWindow>();
    window->setErrorDialogsEnabled(false);
    window->show();
    QSignalSpy loaded(window.get(), &MainWindow::modelLoaded);
    if (!window->openModel(model) || !loaded.wait(20000)) {
        qWarning("could not open %s: %s", qPrintable(model), qPrintable(window->lastError()));
        return nullptr;
    }
    return window;
}

// ---------------------------------------------------------------------------------------------------
// Job base

void TestGui::jobOutcome_data()
{
    QTest::addColumn<int>("kind");
    QTest::addColumn<QString>("signal");
    QTest::addColumn<QString>("error");
    QTest::newRow("returns normally -> succeeded") << 0 << "succeeded" << "";
    QTest::newRow("throws cw::Error -> failed with its message") << 1 << "failed" << "bad file 'x.onnx'";
    QTest::newRow("throws std::exception -> failed") << 2 << "failed" << "std::bad_alloc";
    QTest::newRow("throws cw::Cancelled -> cancelled") << 3 << "cancelled" << "";
    QTest::newRow("stop checked after cancel() -> cancelled") << 4 << "cancelled" << "";
}

void TestGui::jobOutcome()
{
    QFETCH(int, kind);
    QFETCH(QString, signal);
    QFETCH(QString, error);

    QThread *workerThread = nullptr;
    LambdaJob *jobPtr = nullptr;
    LambdaJob job([&, kind](const cw::StopToken &stop, const cw::ProgressFn &progress) -> Job::Deliver {
        workerThread = QThread::currentThread();
        progress(0.5, "half");
        if (kind == 1)
            throw cw::Error("bad file 'x.onnx'");
        if (kind == 2)
            throw std::bad_alloc();
        if (kind == 3)
            throw cw::Cancelled();
        if (kind == 4) {
            while (!stop.stopRequested())
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            cw::checkStop(&stop);
        }
        return [&jobPtr]() { jobPtr->emitSucceeded(); };
    });
    jobPtr = &job;
    QSignalSpy succeeded(&job, &LambdaJob::succeeded), failed(&job, &Job::failed), cancelled(&job, &Job::cancelled),
        finished(&job, &Job::finished), progress(&job, &Job::progress);
    QVERIFY(job.start());
    QVERIFY(job.isRunning());
    QVERIFY(!job.start()); // one run at a time
    if (kind == 4) {
        QVERIFY(progress.wait(5000));
        job.cancel();
    }
    QVERIFY(finished.wait(5000));
    QVERIFY(!job.isRunning());
    QVERIFY(workerThread && workerThread != QThread::currentThread());
    QCOMPARE(succeeded.size(), signal == "succeeded" ? 1 : 0);
    QCOMPARE(cancelled.size(), signal == "cancelled" ? 1 : 0);
    QCOMPARE(failed.size(), signal == "failed" ? 1 : 0);
    if (signal == "failed")
        QCOMPARE(failed.first().first().toString(), error);
    QCOMPARE(finished.size(), 1);
}

void TestGui::jobProgressIsThrottled()
{
    // The worker reports as fast as it can for 400 ms; the GUI thread must see ~20 updates per second.
    LambdaJob job([](const cw::StopToken &, const cw::ProgressFn &progress) -> Job::Deliver {
        const auto start = std::chrono::steady_clock::now();
        long calls = 0;
        while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(400))
            progress(std::min(0.99, 0.001 * double(++calls % 990)), "busy");
        progress(1.0, "done");
        return {};
    });
    QSignalSpy progress(&job, &Job::progress), finished(&job, &Job::finished);
    QVERIFY(job.start());
    QVERIFY(finished.wait(5000));
    QVERIFY2(progress.size() >= 3, qPrintable(QString::number(progress.size())));
    QVERIFY2(progress.size() <= 0.4 * 20 + 3, qPrintable(QString::number(progress.size())));
    QCOMPARE(progress.last().at(0).toDouble(), 1.0); // the final update is never dropped
    QCOMPARE(progress.last().at(1).toString(), QStringLiteral("done"));
}

void TestGui::jobDestroyedWhileRunning()
{
    std::atomic<bool> sawStop{false};
    {
        LambdaJob job([&sawStop](const cw::StopToken &stop, const cw::ProgressFn &progress) -> Job::Deliver {
            while (!stop.stopRequested()) {
                progress(0.1, "spinning");
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
            sawStop = true;
            cw::checkStop(&stop);
            return {};
        });
        QSignalSpy progress(&job, &Job::progress);
        QVERIFY(job.start());
        QVERIFY(progress.wait(5000));
    } // the destructor asks the worker to stop and waits for it
    QVERIFY(sawStop);
}

// ---------------------------------------------------------------------------------------------------
// EvaluateJob

void TestGui::evaluateJob_data()
{
    QTest::addColumn<bool>("passModel");
    QTest::addColumn<QString>("model");
    QTest::addColumn<qint64>("limit");
    QTest::addColumn<qint64>("batch");
    QTest::newRow("model spec .h5, whole set") << false << "tiny.h5" << qint64(0) << qint64(64);
    QTest::newRow("model spec .onnx, batch larger than the set") << false << "tiny.onnx" << qint64(0) << qint64(1000);
    QTest::newRow("loaded model, batch 7") << true << "tiny.h5" << qint64(0) << qint64(7);
}

void TestGui::evaluateJob()
{
    QFETCH(bool, passModel);
    QFETCH(QString, model);
    QFETCH(qint64, limit);
    QFETCH(qint64, batch);

    EvaluateParams params;
    if (passModel)
        params.model = cw::loadModel(path(model).toStdString());
    else
        params.modelSpec = path(model).toStdString();
    params.datasetSpec = path("small.npz").toStdString();
    params.limit = limit;
    params.batchSize = batch;
    EvaluateJob job(params);
    QSignalSpy succeeded(&job, &EvaluateJob::succeeded), failed(&job, &Job::failed);
    QVERIFY(job.start());
    QVERIFY(succeeded.wait(30000));
    QCOMPARE(failed.size(), 0);
    const cw::EvalResult r = succeeded.first().first().value<cw::EvalResult>();
    const QJsonObject e = m_expected["small"].toObject();
    QCOMPARE(r.samples, qint64(e["samples"].toInt()));
    QCOMPARE(r.accuracy, e["accuracy"].toDouble());
    QCOMPARE(r.top5, e["top5"].toDouble());
    QVERIFY2(std::abs(r.loss - e["loss"].toDouble()) < 1e-4, qPrintable(QString::number(r.loss)));
    QVERIFY(job.result().has_value());
    QCOMPARE(job.result()->accuracy, r.accuracy);
}

void TestGui::evaluateJobCancel()
{
    EvaluateParams params;
    params.modelSpec = path("tiny.h5").toStdString();
    params.datasetSpec = path("large.npz").toStdString();
    params.batchSize = 1; // many small batches: many stop checks
    EvaluateJob job(params);
    QSignalSpy progress(&job, &Job::progress), succeeded(&job, &EvaluateJob::succeeded), cancelled(&job, &Job::cancelled),
        failed(&job, &Job::failed);
    QVERIFY(job.start());
    QVERIFY(progress.wait(10000));
    job.cancel();
    QVERIFY(cancelled.wait(30000));
    QCOMPARE(succeeded.size(), 0);
    QCOMPARE(failed.size(), 0);
    QVERIFY(!job.result().has_value());
}

// ---------------------------------------------------------------------------------------------------
// Main window

void TestGui::opensModel_data()
{
    QTest::addColumn<QString>("file");
    QTest::newRow("native HDF5") << "tiny.h5";
    QTest::newRow("ONNX") << "tiny.onnx";
}

void TestGui::opensModel()
{
    QFETCH(QString, file);
    MainWindow window;
    window.setErrorDialogsEnabled(false);
    window.show();
    QSignalSpy loaded(&window, &MainWindow::modelLoaded);
    QVERIFY(window.openModel(path(file)));
    QVERIFY(window.progressBar()->isVisible()); // loading runs as a job too
    QVERIFY(loaded.wait(20000));
    QVERIFY(!window.progressBar()->isVisible());

    QVERIFY(window.windowTitle().startsWith(file));
    LayerTableModel *layers = window.layerModel();
    QCOMPARE(layers->rowCount(), 4);
    const QStringList names{"conv1", "relu1", "flatten", "fc"};
    const QStringList ops{"Conv", "Relu", "Flatten", "Gemm"};
    const QList<qlonglong> params{2 * 9 + 2, 0, 0, kClasses * 32 + kClasses};
    for (int r = 0; r < 4; ++r) {
        QCOMPARE(layers->index(r, LayerTableModel::Name).data().toString(), names[r]);
        QCOMPARE(layers->index(r, LayerTableModel::Op).data().toString(), ops[r]);
        QCOMPARE(layers->index(r, LayerTableModel::Parameters).data(LayerTableModel::SortRole).toLongLong(), params[r]);
        QCOMPARE(layers->index(r, LayerTableModel::Bytes).data(LayerTableModel::SortRole).toLongLong(), params[r] * 4);
    }
    QCOMPARE(layers->index(0, LayerTableModel::Inputs).data().toString(), QStringLiteral("[N, 1, 4, 4]"));
    QCOMPARE(layers->index(0, LayerTableModel::Outputs).data().toString(), QStringLiteral("[N, 2, 4, 4]"));
    QCOMPARE(layers->index(3, LayerTableModel::Inputs).data().toString(), QStringLiteral("[N, 32]"));
    QCOMPARE(layers->index(3, LayerTableModel::Parameters).data().toString(), QStringLiteral("264"));
    QCOMPARE(window.layerTable()->model()->rowCount(), 4);

    // Only layers with parameters get a bar.
    QCOMPARE(window.chart()->barCount(), 2);
    QCOMPARE(window.chart()->rowForBar(0), 0);
    QCOMPARE(window.chart()->rowForBar(1), 3);

    const QString summary = window.summaryPanel()->toPlainText();
    QVERIFY2(summary.contains(file), qPrintable(summary));
    QVERIFY2(summary.contains("284"), qPrintable(summary)); // 20 + 264 parameters
    QVERIFY2(summary.contains("tiny-cnn"), qPrintable(summary)); // metadata: architecture
    QVERIFY(window.modelStatusText().contains("284 parameters"));
    QVERIFY(window.modelStatusText().contains("1.11 KiB")); // 284 * 4 bytes
}

void TestGui::layerTableSortAndFilter()
{
    auto window = openWindow(path("tiny.h5"));
    QVERIFY(window);
    QTableView *table = window->layerTable();
    QAbstractItemModel *view = table->model();

    table->sortByColumn(LayerTableModel::Parameters, Qt::DescendingOrder);
    QCOMPARE(view->index(0, LayerTableModel::Name).data().toString(), QStringLiteral("fc"));
    QCOMPARE(view->index(1, LayerTableModel::Name).data().toString(), QStringLiteral("conv1"));
    table->sortByColumn(LayerTableModel::Name, Qt::AscendingOrder);
    QCOMPARE(view->index(0, LayerTableModel::Name).data().toString(), QStringLiteral("conv1"));
    QCOMPARE(view->index(3, LayerTableModel::Name).data().toString(), QStringLiteral("relu1"));

    QTest::keyClicks(window->filterEdit(), "GEMM"); // case-insensitive, matches the op column
    QCOMPARE(view->rowCount(), 1);
    QCOMPARE(view->index(0, LayerTableModel::Name).data().toString(), QStringLiteral("fc"));
    window->filterEdit()->clear();
    QCOMPARE(view->rowCount(), 4);
}

void TestGui::chartAndTableSelection()
{
    auto window = openWindow(path("tiny.h5"));
    QVERIFY(window);
    QTableView *table = window->layerTable();
    ParameterChart *chart = window->chart();

    // Row -> bar.
    table->selectRow(3);
    QCOMPARE(chart->selectedRow(), 3);
    table->selectRow(1); // Relu has no bar
    QCOMPARE(chart->selectedRow(), 1);
    QCOMPARE(chart->barForRow(1), -1);

    // Bar -> row: click the middle of conv1's bar (key 1) even while the filter hides it.
    QTest::keyClicks(window->filterEdit(), "fc");
    QCustomPlot *plot = chart->plot();
    plot->replot();
    const double value = window->layerModel()->layer(0).params / 2.0;
    const QPoint at(int(plot->xAxis->coordToPixel(value)), int(plot->yAxis->coordToPixel(1.0)));
    QSignalSpy clicked(chart, &ParameterChart::layerClicked);
    QTest::mouseClick(plot, Qt::LeftButton, {}, at);
    QCOMPARE(clicked.size(), 1);
    QCOMPARE(clicked.first().first().toInt(), 0);
    QVERIFY(window->filterEdit()->text().isEmpty());
    const QModelIndex current = table->selectionModel()->currentIndex();
    QVERIFY(current.isValid());
    QCOMPARE(current.siblingAtColumn(LayerTableModel::Name).data().toString(), QStringLiteral("conv1"));

    // A node whose only parameter is a one-element constant gets no bar, nor does an activation's quantizer
    // (scale and zero point).
    cw::LayerInfo conv, max, quantize, dequantize;
    conv.name = "conv";
    conv.opType = "QLinearConv";
    conv.params = 240;
    max.name = "max";
    max.params = 1;
    quantize.name = "quantize";
    quantize.opType = "QuantizeLinear";
    quantize.params = 2;
    dequantize = quantize;
    dequantize.opType = "DequantizeLinear";
    chart->setLayers({conv, max, conv, quantize, dequantize, conv});
    QCOMPARE(chart->barForRow(0), 0);
    QCOMPARE(chart->barForRow(1), -1);
    QCOMPARE(chart->barForRow(2), 1);
    QCOMPARE(chart->barForRow(3), -1);
    QCOMPARE(chart->barForRow(4), -1);
    QCOMPARE(chart->barForRow(5), 2);
}

// A network of 120 layers (imgly's background remover has about that many) keeps one readable row per layer: the
// chart shows as many as fit and scrolls through the rest.
void TestGui::chartScrollsThroughManyLayers()
{
    ParameterChart chart;
    chart.resize(600, 400);
    chart.show();
    QVERIFY(QTest::qWaitForWindowExposed(&chart));
    std::vector<cw::LayerInfo> layers(120);
    for (size_t i = 0; i < layers.size(); ++i) {
        layers[i].name = "layer" + std::to_string(i);
        layers[i].params = int64_t(100 + i);
    }
    chart.setLayers(layers);
    QCustomPlot *plot = chart.plot();
    plot->replot();
    const int shown = chart.shownBars();
    QVERIFY2(shown >= 10 && shown < 30, qPrintable(QString::number(shown)));
    QVERIFY(chart.scrollBar()->isVisible());
    QCOMPARE(chart.scrollBar()->maximum(), 120 - shown);
    QCOMPARE(chart.firstShownBar(), 0);
    QCOMPARE(plot->yAxis->range().lower, 0.4);
    QCOMPARE(plot->yAxis->range().upper, shown + 0.6);
    // Neighbouring names do not overlap.
    const double row = std::abs(plot->yAxis->coordToPixel(2) - plot->yAxis->coordToPixel(1));
    QVERIFY2(row >= QFontMetrics(plot->yAxis->tickLabelFont()).height(), qPrintable(QString::number(row)));

    // Selecting a layer further down (from the table) scrolls its bar into view.
    chart.setSelectedRow(100);
    QVERIFY2(chart.firstShownBar() <= 100 && 100 < chart.firstShownBar() + shown,
             qPrintable(QString::number(chart.firstShownBar())));
    QVERIFY(plot->yAxis->range().contains(101.0)); // bar keys count from 1

    // The wheel: three rows a notch.
    chart.scrollBar()->setValue(10);
    QCOMPARE(plot->yAxis->range().lower, 10.4);
    const QPointF at(plot->width() / 2.0, plot->height() / 2.0);
    QWheelEvent down(at, plot->mapToGlobal(at), QPoint(), QPoint(0, -120), Qt::NoButton, Qt::NoModifier,
                     Qt::NoScrollPhase, false);
    QApplication::sendEvent(plot, &down);
    QCOMPARE(chart.firstShownBar(), 13);

    // A taller chart shows more; few layers need no scroll bar.
    chart.resize(600, 800);
    QVERIFY(chart.shownBars() > shown);
    chart.setLayers(std::vector<cw::LayerInfo>(layers.begin(), layers.begin() + 5));
    QCOMPARE(chart.shownBars(), 5);
    QVERIFY(!chart.scrollBar()->isVisible());
    QCOMPARE(plot->yAxis->range().upper, 5.6);
}

void TestGui::evaluateFromWindow()
{
    auto window = openWindow(path("tiny.onnx"));
    QVERIFY(window);
    QSignalSpy succeeded(window.get(), &MainWindow::evaluationSucceeded);
    QVERIFY(window->evaluate(path("small.npz"), 0));
    QVERIFY(window->progressBar()->isVisible());
    QVERIFY(window->cancelButton()->isVisible());
    QVERIFY(window->isBusy());
    QVERIFY(!window->evaluate(path("small.npz"), 0)); // one job at a time
    QVERIFY(succeeded.wait(30000));
    QVERIFY(!window->progressBar()->isVisible());
    QVERIFY(!window->isBusy());

    QVERIFY(window->evaluation().has_value());
    const QJsonObject e = m_expected["small"].toObject();
    QCOMPARE(window->evaluation()->result.accuracy, e["accuracy"].toDouble());
    QCOMPARE(window->evaluation()->dataset, QStringLiteral("small.npz"));
    const QString expectedAccuracy = QString::number(e["accuracy"].toDouble() * 100, 'f', 2) + " %";
    QVERIFY2(window->evaluationStatusText().contains(expectedAccuracy), qPrintable(window->evaluationStatusText()));
    QVERIFY(window->evaluationStatusText().contains("300 samples"));
    QVERIFY(window->summaryPanel()->toPlainText().contains(expectedAccuracy));
}

void TestGui::cancelEvaluation()
{
    auto window = openWindow(path("tiny.h5"));
    QVERIFY(window);
    QSignalSpy finished(window.get(), &MainWindow::evaluationFinished),
        succeeded(window.get(), &MainWindow::evaluationSucceeded);
    QVERIFY(window->evaluate(path("large.npz"), 50000));
    QVERIFY(window->progressBar()->isVisible());
    QSignalSpy cancelled(window->currentJob(), &Job::cancelled);
    QTest::mouseClick(window->cancelButton(), Qt::LeftButton);
    QVERIFY(finished.wait(30000));
    QCOMPARE(cancelled.size(), 1);
    QCOMPARE(succeeded.size(), 0);
    QVERIFY(!window->evaluation().has_value());
    QVERIFY(window->evaluationStatusText().isEmpty());
    QVERIFY(!window->progressBar()->isVisible());
    QVERIFY(!window->cancelButton()->isVisible());
}

// Model → Profile Latency…: a job times every node the engine runs, then a dialog charts the slowest and lists them
// all, slowest first: one row per node of the executed graph, their times no more than a run's, the chart's bars
// the table's first rows. Profile Again in the dialog at another batch and number of threads.
void TestGui::profileFromWindow()
{
    auto window = openWindow(QStringLiteral("demo-resnet"));
    QVERIFY(window);
    QVERIFY(window->profileAction()->isEnabled());
    QSignalSpy finished(window.get(), &MainWindow::profileFinished);
    window->profileAction()->trigger();
    QVERIFY(window->isBusy());
    QVERIFY(!window->profileAction()->isEnabled());
    QVERIFY(!window->profile()); // one job at a time
    QVERIFY(finished.wait(60000));
    QVERIFY(!window->isBusy());
    auto *dialog = window->findChild<ProfileDialog *>();
    QVERIFY(dialog);
    QVERIFY(dialog->isVisible());
    const QTableWidget *table = dialog->table();
    const cw::Session session(*window->model());
    QCOMPARE(table->rowCount(), int(session.executedGraph().nodes.size()));
    double sum = 0, previous = 1e300;
    for (int r = 0; r < table->rowCount(); ++r) {
        const double us = dialog->microseconds(r);
        QVERIFY2(us <= previous && us > 0, qPrintable(table->item(r, 0)->text()));
        previous = us;
        sum += dialog->share(r);
    }
    QCOMPARE(table->item(0, 1)->text(), QStringLiteral("Conv")); // a convolution is the slowest node
    QVERIFY2(sum > 0.3 && sum <= 1.0, qPrintable(QString::number(sum)));
    auto *bars = qobject_cast<QCPBars *>(dialog->plot()->plottable(0));
    QVERIFY(bars);
    QCOMPARE(bars->data()->size(), std::min(ProfileDialog::kChartNodes, table->rowCount()));
    QCOMPARE(bars->data()->at(0)->value, dialog->microseconds(0));
    QVERIFY(dialog->summary()->text().contains(QStringLiteral("p50")));
    // A row double-clicked: its layer in Inspect.
    emit dialog->table()->cellDoubleClicked(0, 1);
    QCOMPARE(window->selectedLayer(), table->item(0, 0)->text());
    QCOMPARE(window->inspectView()->layer(), table->item(0, 0)->text());

    // Profile Again at batch 3 on two threads: the same dialog shows that run, its boxes disabled meanwhile, and the
    // window remembers the choice for the next profile.
    QCOMPARE(dialog->batchBox()->value(), 1);
    QCOMPARE(dialog->threadsBox()->value(), 1);
    const int threads = std::min(2, QThread::idealThreadCount());
    dialog->batchBox()->setValue(3);
    dialog->threadsBox()->setValue(threads);
    QTest::mouseClick(dialog->againButton(), Qt::LeftButton);
    QVERIFY(window->isBusy());
    QVERIFY(!dialog->againButton()->isEnabled());
    QVERIFY(!dialog->batchBox()->isEnabled());
    QVERIFY(dialog->summary()->text().contains(QStringLiteral("batch 3")));
    QVERIFY(finished.wait(60000));
    QCOMPARE(window->findChildren<ProfileDialog *>().size(), 1);
    QCOMPARE(dialog->result().batch, 3);
    QCOMPARE(dialog->result().threads, threads);
    QVERIFY(dialog->againButton()->isEnabled());
    QVERIFY(dialog->summary()->text().startsWith(QStringLiteral("Batch 3 on %1 thread").arg(threads)));
    QCOMPARE(table->rowCount(), int(session.executedGraph().nodes.size()));
    QCOMPARE(dialog->plot()->plottableCount(), 1); // the chart redrawn, not drawn over
    QCOMPARE(qobject_cast<QCPBars *>(dialog->plot()->plottable(0))->data()->at(0)->value, dialog->microseconds(0));
    // Its rows copy as text, as every table's do (tablesCopyRows).
    const QStringList lines = rowsAsText(table, true).split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    QCOMPARE(lines.size(), table->rowCount() + 1);
    QCOMPARE(lines.first(), QStringLiteral("Node\tOperator\tµs per run\tShare of a run"));
    QVERIFY(lines.at(1).startsWith(table->item(0, 0)->text() + QLatin1Char('\t')));

    const QPointer<ProfileDialog> closed(dialog);
    dialog->close();
    QTRY_VERIFY(!closed);
    QVERIFY(window->profile());
    QVERIFY(finished.wait(60000));
    auto *next = window->findChild<ProfileDialog *>();
    QVERIFY(next);
    QCOMPARE(next->result().batch, 3);
    QCOMPARE(next->threadsBox()->value(), threads);
}

// Cancel stops the profile at its next run. The work itself, stopped once its timed runs have begun, throws
// cw::Cancelled (a whole profile of the demo takes well under a second, so a cancel from another thread would race
// it); the job, cancelled as it starts, reports cancelled and not succeeded.
void TestGui::profileJobCancel()
{
    ProfileParams params;
    params.model = cw::loadModel("demo-resnet");
    cw::StopToken stop;
    int timed = 0;
    const cw::ProgressFn progress = [&](double, std::string_view stage) {
        if (stage == "timing" && ++timed == 3)
            stop.requestStop();
    };
    QVERIFY_THROWS_EXCEPTION(cw::Cancelled, ProfileJob::run(params, stop, progress));
    QCOMPARE(timed, 3);

    ProfileJob job(std::move(params));
    QSignalSpy cancelled(&job, &Job::cancelled), succeeded(&job, &ProfileJob::succeeded),
        finished(&job, &Job::finished);
    QVERIFY(job.start());
    job.cancel();
    QVERIFY(finished.size() == 1 || finished.wait(20000));
    QCOMPARE(cancelled.size(), 1);
    QCOMPARE(succeeded.size(), 0);
}

// The tables copy rows as tab-separated text, titles first: Ctrl+C the selected row (the view's own Ctrl+C copied one
// cell), Copy All every row, the columns in the order shown.
void TestGui::tablesCopyRows()
{
    auto window = openWindow(QStringLiteral("demo"));
    QVERIFY(window);
    QTableView *table = window->layerTable();
    const QAbstractItemModel *model = table->model();
    QVERIFY(model->rowCount() > 2);
    QList<int> columns; // as shown: the layer table shows its columns in another order than the model's
    for (int v = 0; v < model->columnCount(); ++v)
        if (const int c = table->horizontalHeader()->logicalIndex(v); !table->isColumnHidden(c))
            columns << c;
    QVERIFY(columns != QList<int>({0, 1, 2, 3, 4, 5}));
    QStringList titles;
    for (const int c : columns)
        titles << model->headerData(c, Qt::Horizontal).toString();
    const auto rowText = [&](int r) {
        QStringList cells;
        for (const int c : columns)
            cells << model->index(r, c).data().toString();
        return cells.join(QLatin1Char('\t'));
    };
    QGuiApplication::clipboard()->clear();
    table->setFocus();
    table->selectRow(2);
    QTest::keyClick(table, Qt::Key_C, Qt::ControlModifier);
    QCOMPARE(QGuiApplication::clipboard()->text(), titles.join(QLatin1Char('\t')) + "\n" + rowText(2) + "\n");

    QAction *copyAll = nullptr;
    for (QAction *action : table->actions())
        if (action->text() == QStringLiteral("Copy All"))
            copyAll = action;
    QVERIFY(copyAll);
    copyAll->trigger();
    const QStringList lines = QGuiApplication::clipboard()->text().split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    QCOMPARE(lines.size(), model->rowCount() + 1);
    for (int v = 0; v < model->rowCount(); ++v)
        QCOMPARE(lines.at(v + 1), rowText(table->verticalHeader()->logicalIndex(v)));

    table->clearSelection();
    QCOMPARE(rowsAsText(table, false), QString()); // nothing selected: nothing copied
}

void TestGui::failedOpenKeepsModel()
{
    auto window = openWindow(path("tiny.h5"));
    QVERIFY(window);
    window->setErrorDialogsEnabled(true);
    QSignalSpy failed(window.get(), &MainWindow::modelLoadFailed), loaded(window.get(), &MainWindow::modelLoaded);
    QVERIFY(window->openModel(path("corrupt.onnx")));
    QVERIFY(failed.wait(20000));
    QCOMPARE(loaded.size(), 0);
    const QString error = failed.first().first().toString();
    QVERIFY2(error.contains("corrupt.onnx"), qPrintable(error)); // the message names the file
    QCOMPARE(window->lastError(), error);

    auto *box = window->findChild<QMessageBox *>(QStringLiteral("errorMessageBox"));
    QVERIFY(box);
    QTRY_VERIFY(box->isVisible());
    QCOMPARE(box->text(), error);
    box->close();

    QCOMPARE(window->modelSpec(), path("tiny.h5"));
    QVERIFY(window->model() != nullptr);
    QCOMPARE(window->layerModel()->rowCount(), 4);
    QVERIFY(window->windowTitle().startsWith("tiny.h5"));
    QVERIFY(!window->recentFiles().contains(path("corrupt.onnx")));

    // A missing file fails the same way.
    QVERIFY(window->openModel(path("does-not-exist.onnx")));
    QVERIFY(failed.wait(20000));
    QCOMPARE(window->layerModel()->rowCount(), 4);
    QTRY_VERIFY(!window->findChildren<QMessageBox *>().isEmpty());
    for (QMessageBox *b : window->findChildren<QMessageBox *>())
        b->close();
}

void TestGui::recentFiles()
{
    auto window = openWindow(path("tiny.h5"));
    QVERIFY(window);
    QCOMPARE(window->recentFiles(), QStringList{path("tiny.h5")});

    // Nine more distinct files: the list keeps the 8 newest, newest first, without duplicates.
    QStringList copies;
    for (int i = 0; i < 9; ++i) {
        const QString copy = path(QStringLiteral("copy%1.h5").arg(i));
        QFile::remove(copy);
        QVERIFY(QFile::copy(path("tiny.h5"), copy));
        copies << copy;
        QSignalSpy loaded(window.get(), &MainWindow::modelLoaded);
        QVERIFY(window->openModel(copy));
        QVERIFY(loaded.wait(20000));
    }
    QSignalSpy loaded(window.get(), &MainWindow::modelLoaded);
    QVERIFY(window->openModel(copies[5]));
    QVERIFY(loaded.wait(20000));
    QStringList expected{copies[5], copies[8], copies[7], copies[6], copies[4], copies[3], copies[2], copies[1]};
    QCOMPARE(window->recentFiles(), expected);

    // Remembered across runs: a new window lists them in its menu.
    MainWindow second;
    auto *menu = second.findChild<QMenu *>(QStringLiteral("recentMenu"));
    QVERIFY(menu);
    QList<QAction *> entries;
    for (QAction *a : menu->actions())
        if (!a->isSeparator() && a->toolTip().endsWith(".h5"))
            entries << a;
    QCOMPARE(entries.size(), 8);
    QCOMPARE(entries.first()->toolTip(), copies[5]);

    // A vanished file is removed with a message when chosen.
    QVERIFY(QFile::remove(copies[8]));
    second.setErrorDialogsEnabled(false);
    QSignalSpy errors(&second, &MainWindow::errorOccurred);
    entries[1]->trigger();
    QCOMPARE(errors.size(), 1);
    QVERIFY(errors.first().first().toString().contains("copy8.h5"));
    QCOMPARE(second.recentFiles().size(), 7);
    QVERIFY(!second.recentFiles().contains(copies[8]));
}

void TestGui::exportModel_data()
{
    QTest::addColumn<QString>("file");
    QTest::newRow("to ONNX") << "exported.onnx";
    QTest::newRow("to native HDF5") << "exported.h5";
}

void TestGui::exportModel()
{
    QFETCH(QString, file);
    auto window = openWindow(path("tiny.h5"));
    QVERIFY(window);
    QSignalSpy done(window.get(), &MainWindow::exportFinished);
    QVERIFY(window->exportModel(path(file)));
    QVERIFY(done.wait(20000));
    QCOMPARE(done.first().first().toBool(), true);
    const cw::Model back = cw::loadModel(path(file).toStdString());
    QCOMPARE(back.graph.nodes.size(), size_t(4));
    QCOMPARE(back.graph.parameterCount(), int64_t(284));

    // An extension no format writes is an error, not a crash.
    QSignalSpy errors(window.get(), &MainWindow::errorOccurred);
    QVERIFY(window->exportModel(path("exported.xyz")));
    QVERIFY(done.wait(20000));
    QCOMPARE(done.last().first().toBool(), false);
    QCOMPARE(errors.size(), 1);

    // The dialogs' filters come from the registered formats.
    QVERIFY(MainWindow::openFilter().contains("*.onnx"));
    QVERIFY(MainWindow::openFilter().contains("*.h5"));
    QCOMPARE(MainWindow::exportFilter().count(";;"), int(cw::modelFormats().size()) - 1);
}

void TestGui::startupDemo()
{
    bool demoBuiltIn = true;
    try {
        cw::loadModel("demo");
    } catch (const cw::Error &) {
        demoBuiltIn = false;
    }
    MainWindow window;
    window.show();
    QSignalSpy loaded(&window, &MainWindow::modelLoaded), failed(&window, &MainWindow::modelLoadFailed);
    QVERIFY(window.openStartupModel(QStringLiteral("demo")));
    if (demoBuiltIn) {
        QVERIFY(loaded.wait(20000));
        QVERIFY(window.layerModel()->rowCount() > 0);
        QVERIFY(window.windowTitle().contains("demo"));
    } else {
        // No dialog: the window explains itself.
        QVERIFY(failed.wait(20000));
        QVERIFY(window.findChildren<QMessageBox *>().isEmpty());
        QVERIFY(window.summaryPanel()->toPlainText().contains("demo is not available"));
        QVERIFY(window.model() == nullptr);
    }
}

void TestGui::dropOpensModel_data()
{
    QTest::addColumn<QString>("file");
    QTest::addColumn<bool>("accepted");
    QTest::newRow("an .h5 model is accepted and opened") << "tiny.h5" << true;
    QTest::newRow("an .onnx model is accepted and opened") << "tiny.onnx" << true;
    QTest::newRow("a dataset is refused") << "small.npz" << false;
}

void TestGui::dropOpensModel()
{
    QFETCH(QString, file);
    QFETCH(bool, accepted);
    MainWindow window;
    window.setErrorDialogsEnabled(false);
    window.show();
    QMimeData mime;
    mime.setUrls({QUrl::fromLocalFile(path(file))});
    QDragEnterEvent enter(QPoint(50, 50), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    enter.ignore();
    QApplication::sendEvent(&window, &enter);
    QCOMPARE(enter.isAccepted(), accepted);
    if (!accepted)
        return;
    QSignalSpy loaded(&window, &MainWindow::modelLoaded);
    QDropEvent drop(QPointF(50, 50), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(&window, &drop);
    QVERIFY(loaded.wait(20000));
    QCOMPARE(window.modelSpec(), path(file));
    QCOMPARE(window.layerModel()->rowCount(), 4);
}

void TestGui::evaluateDialogChoices()
{
    PreprocessChoice pre;
    pre.normalization = cw::Normalization::ImageNet;
    pre.layout = cw::Preprocess::Layout::NHWC;
    pre.cropHeight = 224;
    pre.resizeShorter = 256;
    EvaluateDialog dialog(path("small.npz"), 500, pre, {path("large.npz"), path("small.npz")}, m_dir.path());
    auto *combo = dialog.findChild<QComboBox *>(QStringLiteral("datasetCombo"));
    auto *limit = dialog.findChild<QSpinBox *>(QStringLiteral("limitSpin"));
    QVERIFY(combo && limit);
    QCOMPARE(dialog.datasetSpec(), path("small.npz"));
    QCOMPARE(dialog.limit(), qint64(500));
    QCOMPARE(combo->itemText(0), QStringLiteral("Fashion-MNIST test set"));
    QCOMPARE(combo->itemData(0).toString(), QStringLiteral("fashion-mnist"));
    QCOMPARE(combo->findData(path("large.npz")) >= 0, true);
    QCOMPARE(combo->itemText(combo->count() - 2), QStringLiteral("Image Folder…"));
    QCOMPARE(combo->itemText(combo->count() - 1), QStringLiteral("Browse…"));
    QCOMPARE(combo->findData(path("small.npz")), combo->currentIndex()); // no duplicate entry
    combo->setCurrentIndex(0);
    limit->setValue(0);
    QCOMPARE(dialog.datasetSpec(), QStringLiteral("fashion-mnist"));
    QCOMPARE(dialog.limit(), qint64(0));
    QCOMPARE(limit->text(), QStringLiteral("All samples"));

    // The preprocessing controls start from the choice given and return what they show.
    QVERIFY(dialog.preprocess() == pre);
    auto *normalize = dialog.findChild<QComboBox *>(QStringLiteral("normalizeCombo"));
    auto *width = dialog.findChild<QSpinBox *>(QStringLiteral("cropWidthSpin"));
    QVERIFY(normalize && width);
    QCOMPARE(width->text(), QStringLiteral("model input"));
    normalize->setCurrentIndex(1);
    width->setValue(200);
    QVERIFY(dialog.preprocess().normalization == cw::Normalization::Symmetric);
    QCOMPARE(dialog.preprocess().cropWidth, 200);
    const cw::Preprocess p = dialog.preprocess().preprocess();
    QCOMPARE(p.mean, std::vector<float>{0.5f});
    QCOMPARE(p.imageHeight, int64_t(224));
    QCOMPARE(p.imageWidth, int64_t(200));
    QCOMPARE(p.resizeShorter, int64_t(256));
    QVERIFY(p.layout == cw::Preprocess::Layout::NHWC);

    // Remembered across sessions.
    {
        QSettings settings;
        dialog.preprocess().save(settings);
    }
    QVERIFY(PreprocessChoice::load(QSettings()) == dialog.preprocess());
}

void TestGui::geometryRemembered()
{
    {
        MainWindow window;
        window.show();
        window.resize(1000, 700);
        QTRY_COMPARE(window.size(), QSize(1000, 700));
        window.close();
    }
    MainWindow again;
    QCOMPARE(again.size(), QSize(1000, 700));
    QSettings().clear();
    MainWindow fresh;
    QCOMPARE(fresh.size(), QSize(1400, 900));
}

void TestGui::demoOnFashionMnist()
{
    try {
        cw::loadModel("demo");
    } catch (const cw::Error &e) {
        QSKIP(e.what());
    }
    if (!QFileInfo::exists(QString::fromStdString(cw::fashionMnistDir())))
        QSKIP("Fashion-MNIST is not installed");
    auto window = openWindow(QStringLiteral("demo"));
    QVERIFY(window);
    QSignalSpy finished(window.get(), &MainWindow::evaluationFinished);
    QVERIFY(window->evaluate(QStringLiteral("fashion-mnist"), 200));
    QVERIFY(finished.wait(60000));
    QVERIFY2(window->evaluation().has_value(), qPrintable(window->lastError()));
    QCOMPARE(window->evaluation()->result.samples, qint64(200));
    QVERIFY(window->evaluation()->result.accuracy > 0.6); // a trained classifier, not chance (0.1)
    QCOMPARE(window->evaluation()->dataset, QStringLiteral("Fashion-MNIST test set"));
}

QTEST_MAIN(TestGui)
#include "test_gui.moc"
