// SensitivityJob and SensitivityView on the demo CNN with a small Fashion-MNIST subset: the job delivers one
// partial result per layer and then the same result as the core function; Cancel ends in cancelled() without
// succeeded(); the view fills the heatmap cells and the table as results arrive and shows stored results
// without running; in the main window a finished sweep is stored in the model, survives Export to .h5, and
// reappears on reopening.
#include <QtTest>

#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QTabWidget>
#include <QTableView>
#include <QTemporaryDir>
#include <QUndoStack>

#include <qcustomplot.h>

#include <cmath>

#include "core/cluster/sweep.h"
#include "core/compress/sensitivity.h"
#include "core/io/model_io.h"
#include "guitestutil.h"
#include "testutil.h"
#include "ui/jobs/sensitivityjob.h"
#include "ui/mainwindow.h"
#include "ui/projectdocument.h"
#include "ui/views/clusterdialog.h"
#include "ui/views/sensitivityview.h"
#include "ui/views/compressview.h"
#include "ui/views/evaluatedialog.h"

using namespace cw;
using namespace cw::ui;

namespace {

SensitivityOptions tinyOptions()
{
    SensitivityOptions o;
    o.pruneRatios = {0.5};
    o.bits = {2};
    o.limit = 100;
    o.batchSize = 50;
    return o;
}

std::string withoutTime(SensitivityResult r)
{
    r.seconds = 0;
    return sensitivityToJson(r);
}

} // namespace

class TestGuiSensitivity : public QObject {
    Q_OBJECT

private slots:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("CompressionWorkbench"));
        QCoreApplication::setApplicationName(QStringLiteral("Compression Workbench Sensitivity Test"));
        QSettings().clear();
        m_model = loadModel("demo");
        m_layers = int(sensitivityLayers(m_model).size());
        QVERIFY(m_layers >= 2);
    }

    void jobDeliversLayersThenResult()
    {
        SensitivityParams params;
        params.model = m_model;
        params.options = tinyOptions();
        SensitivityJob job(params);
        QSignalSpy layers(&job, &SensitivityJob::layerFinished);
        QSignalSpy done(&job, &SensitivityJob::succeeded);
        QSignalSpy failed(&job, &Job::failed);
        QVERIFY(job.start());
        QVERIFY(done.wait(120000));
        QCOMPARE(failed.count(), 0);
        QCOMPARE(layers.count(), m_layers);
        QVERIFY(job.result().has_value());
        const auto first = layers.first().first().value<LayerSensitivity>();
        QCOMPARE(first.name, job.result()->layers.front().name);
        // The same numbers as the core function on the same subset.
        const Dataset data = loadDataset("fashion-mnist", {}, tinyOptions().limit);
        QCOMPARE(withoutTime(*job.result()), withoutTime(analyzeSensitivity(m_model, data, tinyOptions())));
    }

    void cancelEmitsCancelled()
    {
        SensitivityParams params;
        params.model = m_model;
        params.options.limit = 10000; // the default settings: long enough to be cancelled mid-way
        SensitivityJob job(params);
        QSignalSpy cancelled(&job, &Job::cancelled), done(&job, &SensitivityJob::succeeded);
        QVERIFY(job.start());
        job.cancel();
        QVERIFY(cancelled.wait(60000));
        QCOMPARE(done.count(), 0);
        QVERIFY(!job.result().has_value());
    }

    void viewFillsHeatmapAndTable()
    {
        SensitivityView view;
        view.resize(1100, 600);
        view.show();
        view.setModel(&m_model);
        view.limitSpin()->setValue(100);
        view.pruneEdit()->setText(QStringLiteral("0.5"));
        view.bitsEdit()->setText(QStringLiteral("2"));
        QSignalSpy finished(&view, &SensitivityView::runFinished);
        QSignalSpy ready(&view, &SensitivityView::resultReady);
        QVERIFY(view.run());
        QVERIFY(!view.runButton()->isEnabled());
        QVERIFY(view.cancelButton()->isEnabled());
        QVERIFY(!view.run()); // one sweep at a time
        QVERIFY(finished.wait(120000));
        QCOMPARE(finished.first().first().toBool(), true);
        QCOMPARE(ready.count(), 1);
        QVERIFY(view.result().has_value());
        QCOMPARE(view.layerCount(), m_layers);
        QCOMPARE(view.tableModel()->rowCount(), m_layers);
        // Layer, Op, Params, prune 0.5, 2-bit, Worst drop
        QCOMPARE(view.tableModel()->columnCount(), 6);

        // Heatmap: one row per layer, the prune column, a gap, the bits column; cells hold drops in points.
        QCPColorMapData *cells = view.colorMap()->data();
        QCOMPARE(cells->valueSize(), m_layers);
        QCOMPARE(cells->keySize(), 3);
        const SensitivityResult &r = *view.result();
        for (int y = 0; y < m_layers; ++y) {
            QCOMPARE(cells->cell(0, y), std::max(0.0, r.layers[size_t(y)].prune[0].drop) * 100);
            QVERIFY(std::isnan(cells->cell(1, y)));
            QCOMPARE(cells->cell(2, y), std::max(0.0, r.layers[size_t(y)].bits[0].drop) * 100);
        }
        // One line per layer, plus the legend's entry for the dashed baseline (a graph without data); the legend
        // lists the kinds of line, not every layer. Selecting a table row highlights that layer's line.
        QCOMPARE(view.lineChart()->graphCount(), m_layers + 1);
        QCOMPARE(view.lineChart()->graph(m_layers)->dataCount(), 0);
        // The highlighted layer (when one is), the others, the unmodified model.
        QCOMPARE(view.lineChart()->legend->itemCount(), view.selectedLayer().isEmpty() ? 2 : 3);
        view.table()->selectRow(1);
        QCOMPARE(view.selectedLayer(), QString::fromStdString(r.layers[1].name));
        QVERIFY(view.statusText().contains(QStringLiteral("100 samples")));

        // The emitted JSON is the documented document.
        const QJsonObject doc = QJsonDocument::fromJson(ready.first().first().toString().toUtf8()).object();
        QVERIFY(doc.contains("baseline") && doc.contains("layers") && doc.contains("spearman"));
    }

    void viewShowsStoredResultsWithoutRunning()
    {
        const Dataset data = loadDataset("fashion-mnist", {}, tinyOptions().limit);
        const SensitivityResult r = analyzeSensitivity(m_model, data, tinyOptions());
        Model withResults = m_model;
        withResults.analysis[kSensitivityKey] = sensitivityToJson(r);
        SensitivityView view;
        view.setModel(&withResults);
        QVERIFY(!view.isRunning());
        QVERIFY(view.result().has_value());
        QCOMPARE(view.tableModel()->rowCount(), m_layers);
        QVERIFY(view.statusText().contains(QStringLiteral("Stored")));
        QVERIFY(!std::isnan(view.colorMap()->data()->cell(0, 0)));
        // The columns' names stand upright when the cells are too narrow for them side by side.
        view.resize(1100, 600);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        auto *heat = view.findChild<QCustomPlot *>(QStringLiteral("sensitivityHeatmap"));
        QVERIFY(heat);
        QFont large = heat->xAxis->tickLabelFont();
        heat->resize(heat->minimumWidth(), heat->height());
        for (const int points : {0, 90}) { // as set, then wider than a cell of the three (0.5, a gap, 2b)
            if (points > 0) {
                large.setPointSize(points);
                heat->xAxis->setTickLabelFont(large);
            }
            heat->replot();
            const double pitch = std::abs(heat->xAxis->coordToPixel(1) - heat->xAxis->coordToPixel(0));
            const int widest = QFontMetrics(heat->xAxis->tickLabelFont()).horizontalAdvance(QStringLiteral("0.5"));
            QCOMPARE(heat->xAxis->tickLabelRotation(), widest + 6 > pitch ? 90.0 : 0.0);
            QCOMPARE(heat->xAxis->tickLabelRotation(), points > 0 ? 90.0 : 0.0);
        }
        // A model without results clears the views.
        view.setModel(&m_model);
        QVERIFY(!view.result().has_value());
        QCOMPARE(view.tableModel()->rowCount(), 0);
    }

    // A sweep on data without labels: the table shows each trial's output SQNR in dB, the heat map its noise
    // power in percent of the signal's, the line chart the SQNR.
    void viewShowsFidelitySweeps()
    {
        Dataset data = loadDataset("fashion-mnist", {}, tinyOptions().limit);
        data.labels.clear();
        const SensitivityResult r = analyzeSensitivity(m_model, data, tinyOptions());
        QCOMPARE(r.metric, SensitivityMetric::Fidelity);
        Model withResults = m_model;
        withResults.analysis[kSensitivityKey] = sensitivityToJson(r);
        SensitivityView view;
        view.setModel(&withResults);
        QVERIFY(view.result().has_value());
        const LayerSensitivity &first = r.layers.front();
        QCOMPARE(view.tableModel()->item(0, 3)->text(), QString::number(first.prune[0].outputSqnrDb, 'f', 1));
        QCOMPARE(view.tableModel()->item(0, 4)->text(), QString::number(first.bits[0].outputSqnrDb, 'f', 1));
        QVERIFY(view.tableModel()->horizontalHeaderItem(3)->toolTip().contains(QStringLiteral("SQNR")));
        QCOMPARE(view.colorMap()->data()->cell(0, 0), first.prune[0].drop * 100);
        QCOMPARE(view.lineChart()->yAxis->label(), QStringLiteral("output SQNR (dB)"));
        QCOMPARE(view.lineChart()->graph(0)->data()->at(0)->value, first.prune[0].outputSqnrDb);
    }

    void mainWindowKeepsResultsThroughExport()
    {
        QTemporaryDir dir;
        const QString file = dir.filePath("with-sensitivity.h5");
        {
            MainWindow window;
            window.setErrorDialogsEnabled(false);
            QSignalSpy loaded(&window, &MainWindow::modelLoaded);
            QVERIFY(window.openModel(QStringLiteral("demo")));
            QVERIFY(loaded.wait(60000));
            SensitivityView *view = window.sensitivityView();
            QVERIFY(view);
            QVERIFY(window.analysisTabs()->indexOf(view) >= 0);
            view->limitSpin()->setValue(100);
            view->pruneEdit()->setText(QStringLiteral("0.9"));
            view->bitsEdit()->setText(QString());
            QSignalSpy finished(view, &SensitivityView::runFinished);
            QVERIFY(view->run());
            QVERIFY(finished.wait(120000));
            QVERIFY(window.model()->analysis.count(kSensitivityKey));
            QSignalSpy exported(&window, &MainWindow::exportFinished);
            QVERIFY(window.exportModel(file));
            QVERIFY(exported.wait(60000));
            QCOMPARE(exported.first().first().toBool(), true);
        }
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QSignalSpy loaded(&window, &MainWindow::modelLoaded);
        QVERIFY(window.openModel(file));
        QVERIFY(loaded.wait(60000));
        SensitivityView *view = window.sensitivityView();
        QVERIFY(!view->isRunning());
        QVERIFY(view->result().has_value());
        QCOMPARE(view->result()->samples, int64_t(100));
        QCOMPARE(view->tableModel()->rowCount(), m_layers);
        // Selecting a layer in the heatmap's table selects it in the main window too.
        view->setSelectedLayer(QString::fromStdString(view->result()->layers.back().name));
        QCOMPARE(window.selectedLayer(), QString::fromStdString(view->result()->layers.back().name));
    }

    void evaluateRunsOnCluster()
    {
        // Model → Evaluate… → Run on Cluster… writes the window's evaluation (dataset, limit) as an "evaluate" plan;
        // its shards, imported, give the evaluation the window computes: the same accuracy, top-5 and loss.
        QTemporaryDir dir(QDir::tempPath() + QStringLiteral("/cw-evaluate-XXXXXX"));
        QVERIFY(dir.isValid());
        {
            EvaluateDialog dialog(QStringLiteral("fashion-mnist"), 300, PreprocessChoice{}, {}, QString());
            auto *cluster = dialog.findChild<QPushButton *>(QStringLiteral("evaluateCluster"));
            QVERIFY(cluster);
            QVERIFY(!dialog.clusterRequested());
            cluster->click();
            QVERIFY(dialog.clusterRequested());
            QCOMPARE(dialog.result(), int(QDialog::Accepted));
        }
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QSignalSpy loaded(&window, &MainWindow::modelLoaded);
        QVERIFY(window.openModel(QStringLiteral("demo")));
        QVERIFY(loaded.wait(60000));
        QSignalSpy evaluated(&window, &MainWindow::evaluationSucceeded);
        QVERIFY(window.evaluate(QStringLiteral("fashion-mnist"), 600));
        QVERIFY(evaluated.wait(60000));
        const cw::EvalResult here = window.evaluation()->result;
        QVERIFY(window.runOnCluster(MainWindow::ClusterSource::Evaluate));
        const QString folder = dir.filePath(QStringLiteral("sweep"));
        QString written;
        const std::optional<cw::cluster::SweepPlan> job =
            guitestutil::writeClusterJob(window.clusterDialog(), folder, &written);
        QVERIFY2(job, qPrintable(written));
        const cw::cluster::SweepPlan &plan = *job;
        QCOMPARE(plan.kind, std::string("evaluate"));
        QCOMPARE(plan.items.size(), size_t(3)); // 600 samples in batches of 256
        QCOMPARE(cw::cluster::commandOption(plan.command, "--limit").value_or(""), std::string("600"));
        QString error;
        testutil::runShards(QStringLiteral(CW_CWB_PATH), folder, 2, &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        QVERIFY2(window.importResults({folder}), qPrintable(window.lastError()));
        const cw::EvalResult there = window.evaluation()->result;
        QCOMPARE(there.samples, here.samples);
        QCOMPARE(there.accuracy, here.accuracy);
        QCOMPARE(there.top5, here.top5);
        QVERIFY(std::abs(there.loss - here.loss) <= 1e-6 * here.loss); // threads may split the sums differently
        QVERIFY2(window.evaluationStatusText().contains(QStringLiteral("600 samples")),
                 qPrintable(window.evaluationStatusText()));
    }

    void runOnClusterThenImportResults()
    {
        // Sensitivity → Run on Cluster… writes the form's sweep as a plan and Slurm scripts; the shards computed by
        // cwb (as the array tasks would) come back through File → Import Results as the project's sensitivity,
        // equal to the same sweep run in the window; Undo takes it out again. Parts that do not merge are named.
        QTemporaryDir dir(QDir::tempPath() + QStringLiteral("/cw-cluster-XXXXXX")); // #SBATCH lines: no spaces
        QVERIFY(dir.isValid());
        QSettings().remove(QStringLiteral("cluster/folder")); // (another test's folder is remembered)
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QSignalSpy loaded(&window, &MainWindow::modelLoaded);
        QVERIFY(window.openModel(QStringLiteral("demo")));
        QVERIFY(loaded.wait(60000));
        SensitivityView *view = window.sensitivityView();
        view->limitSpin()->setValue(100);
        view->pruneEdit()->setText(QStringLiteral("0.5, 0.9"));
        view->bitsEdit()->setText(QStringLiteral("4,2"));
        QVERIFY(view->clusterButton()->isEnabled());
        view->clusterButton()->click();
        ClusterDialog *dialog = window.clusterDialog();
        QVERIFY(dialog && dialog->isVisible());
        QVERIFY(!dialog->write()); // no folder yet
        QVERIFY(dialog->message().contains(QStringLiteral("Choose a folder")));
        const QString folder = dir.filePath(QStringLiteral("sweep"));
        dialog->folderEdit()->setText(folder);
        dialog->shardsSpin()->setValue(3);
        dialog->partitionEdit()->setText(QStringLiteral("short"));
        dialog->cwbEdit()->setText(QStringLiteral(CW_CWB_PATH));
        QVERIFY2(dialog->write(), qPrintable(dialog->message()));
        QVERIFY(dialog->message().contains(QStringLiteral("sbatch --parsable %1/shards.sbatch").arg(folder)));
        QVERIFY(QFile::exists(folder + QStringLiteral("/merge.sbatch")));
        QCOMPARE(QSettings().value(QStringLiteral("cluster/shards")).toInt(), 3);
        const cw::cluster::SweepPlan plan = cw::cluster::loadPlan((folder + QStringLiteral("/plan.json")).toStdString());
        QCOMPARE(plan.items.size(), size_t(m_layers));
        dialog->close();

        // Two of three shards done: the import names the missing one and stores nothing.
        QString error;
        testutil::runShards(QStringLiteral(CW_CWB_PATH), folder, 3, &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        QFile::rename(folder + QStringLiteral("/part-2.h5"), dir.filePath(QStringLiteral("later.h5")));
        QVERIFY(!window.importResults({folder}));
        QVERIFY2(window.lastError().contains(QStringLiteral("shard 2 of 3 is missing")), qPrintable(window.lastError()));
        QVERIFY(!window.model()->analysis.count(kSensitivityKey));
        QFile::rename(dir.filePath(QStringLiteral("later.h5")), folder + QStringLiteral("/part-2.h5"));
        QVERIFY2(window.importResults({folder}), qPrintable(window.lastError()));
        QVERIFY(window.model()->analysis.count(kSensitivityKey));
        const SensitivityResult imported = sensitivityFromJson(window.model()->analysis.at(kSensitivityKey));
        QVERIFY(view->result().has_value());
        QCOMPARE(view->tableModel()->rowCount(), m_layers);
        window.document()->undoStack()->undo();
        QVERIFY(!window.model()->analysis.count(kSensitivityKey));
        window.document()->undoStack()->redo();
        QVERIFY(window.model()->analysis.count(kSensitivityKey));

        // The same sweep run in the window (the plan's command is the form's).
        QSignalSpy finished(view, &SensitivityView::runFinished);
        QVERIFY(view->run());
        QVERIFY(finished.wait(120000));
        SensitivityResult local = sensitivityFromJson(window.model()->analysis.at(kSensitivityKey));
        local.options.threads = imported.options.threads;
        QCOMPARE(withoutTime(imported), withoutTime(local));

        // A sweep of another model is refused.
        cw::cluster::SweepPlan other = plan;
        other.modelSpec = "demo-resnet";
        other.model = cw::modelDigest("demo-resnet");
        cw::cluster::SweepPart part = cw::cluster::readPart((folder + QStringLiteral("/part-0.h5")).toStdString());
        part.plan = other;
        part.shards = 1;
        part.result = sensitivityToJson(imported);
        const QString foreign = dir.filePath(QStringLiteral("foreign.h5"));
        cw::cluster::writePart(part, foreign.toStdString());
        QVERIFY(!window.importResults({foreign}));
        QVERIFY2(window.lastError().contains(QStringLiteral("not of the open model")), qPrintable(window.lastError()));
    }

    void importRecipeResults()
    {
        // The parts of a recipes plan (cwb compress --recipe A --recipe B --plan) become variants of the open
        // project, each its own undo step, measured as the shard measured them, with the base's metrics.
        QTemporaryDir dir(QDir::tempPath() + QStringLiteral("/cw-recipes-XXXXXX"));
        QVERIFY(dir.isValid());
        const QString recipes = QStringLiteral(CW_SOURCE_DIR) + QStringLiteral("/docs/recipes/");
        QString error;
        testutil::runProcess(QStringLiteral(CW_CWB_PATH),
                             {QStringLiteral("compress"), QStringLiteral("demo"), QStringLiteral("--data"),
                              QStringLiteral("fashion-mnist"), QStringLiteral("--limit"), QStringLiteral("200"),
                              QStringLiteral("--train-limit"), QStringLiteral("200"), QStringLiteral("--iterations"),
                              QStringLiteral("2"), QStringLiteral("--recipe"), recipes + QStringLiteral("int8.json"),
                              QStringLiteral("--recipe"), recipes + QStringLiteral("w4-weights.json"),
                              QStringLiteral("--plan"), dir.filePath(QStringLiteral("plan.json"))},
                             &error, 120000, dir.path());
        QVERIFY2(error.isEmpty(), qPrintable(error));
        testutil::runShards(QStringLiteral(CW_CWB_PATH), dir.path(), 1, &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QSignalSpy loaded(&window, &MainWindow::modelLoaded);
        QVERIFY(window.openModel(QStringLiteral("demo")));
        QVERIFY(loaded.wait(60000));
        QVERIFY2(window.importResults({dir.path()}), qPrintable(window.lastError()));
        ProjectDocument *doc = window.document();
        QCOMPARE(doc->variantCount(), 2);
        QCOMPARE(doc->project()->variants[0].variant.name, std::string("int8"));
        QCOMPARE(doc->project()->variants[1].variant.name, std::string("w4-weights"));
        QVERIFY(doc->project()->variants[1].variant.measured);
        QVERIFY(doc->project()->baseMetrics);
        QCOMPARE(doc->project()->baseMetrics->samples, int64_t(200));
        doc->undoStack()->undo();
        QCOMPARE(doc->variantCount(), 1);
    }

    void compressTabRunsOnCluster()
    {
        // Compress → Run on Cluster… writes the form's recipe as a one-item recipes plan (the cwb compress command of
        // the job Compress starts); the shard's variant, imported, measures as the same recipe compressed in the
        // window: the same accuracy on the same samples and the same file size.
        QTemporaryDir dir(QDir::tempPath() + QStringLiteral("/cw-compress-cluster-XXXXXX"));
        QVERIFY(dir.isValid());
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QSignalSpy loaded(&window, &MainWindow::modelLoaded);
        QVERIFY(window.openModel(QStringLiteral("demo")));
        QVERIFY(loaded.wait(60000));
        CompressView *view = window.compressView();
        QVERIFY(view->loadRecipeFile(QStringLiteral(CW_SOURCE_DIR) + QStringLiteral("/docs/recipes/int8.json")));
        view->setEvaluationLimit(300);
        cw::CompressOptions options = view->compressOptions();
        options.benchIterations = 2;
        view->setCompressOptions(options);
        QVERIFY(view->clusterButton()->isEnabled());
        view->clusterButton()->click();
        ClusterDialog *dialog = window.clusterDialog();
        QVERIFY(dialog && dialog->isVisible());
        bool says = false; // what the job is, in the dialog's first lines
        for (const QLabel *label : dialog->findChildren<QLabel *>())
            says |= label->text().startsWith(QStringLiteral("Compression of <b>demo</b>: 1 recipe"));
        QVERIFY(says);
        const QString folder = dir.filePath(QStringLiteral("sweep"));
        QString written;
        const std::optional<cw::cluster::SweepPlan> job = guitestutil::writeClusterJob(dialog, folder, &written);
        QVERIFY2(job, qPrintable(written));
        const cw::cluster::SweepPlan &plan = *job;
        QCOMPARE(plan.kind, std::string("recipes"));
        QCOMPARE(plan.items, (std::vector<std::string>{"int8"}));
        std::string line;
        for (const std::string &a : plan.command)
            line.append(line.empty() ? "" : " ").append(a);
        QVERIFY2(line.find("compress demo --data fashion-mnist --train-data fashion-mnist:train --limit 300 "
                           "--train-limit 512 --bench-threads 1 --iterations 2") == 0,
                 line.c_str());
        QString error;
        testutil::runShards(QStringLiteral(CW_CWB_PATH), folder, 1, &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));

        // The same recipe compressed here, then the shard's variant imported beside it.
        QSignalSpy finished(view, &CompressView::jobFinished);
        QVERIFY(view->compress());
        QVERIFY(finished.wait(300000));
        QVERIFY(finished.last().at(0).toBool());
        QVERIFY2(window.importResults({folder}), qPrintable(window.lastError()));
        ProjectDocument *doc = window.document();
        QCOMPARE(doc->variantCount(), 2);
        const cw::Variant &here = doc->project()->variants[0].variant, &there = doc->project()->variants[1].variant;
        QVERIFY(here.measured && there.measured);
        QCOMPARE(there.metrics.samples, here.metrics.samples);
        QCOMPARE(there.metrics.accuracy, here.metrics.accuracy);
        QCOMPARE(there.metrics.fileBytes, here.metrics.fileBytes);
    }

private:
    Model m_model;
    int m_layers = 0;
};

QTEST_MAIN(TestGuiSensitivity)
#include "test_gui_sensitivity.moc"
