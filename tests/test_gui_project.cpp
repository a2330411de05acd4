// Projects in the window (ui/projectdocument.h) and the Compare tab (ui/views/compareview.h): save and reopen with
// everything in place, the modified mark, the prompts before unsaved work or a running job is dropped, undo of
// variant removal and limit changes, the chart, the recommendation, clicks that select, and the exports.
#include <QtTest>

#include <QImage>
#include <QPainter>
#include <QStatusBar>
#include <QSvgRenderer>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QTableWidget>
#include <QRegularExpression>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QStandardItemModel>
#include <QTableView>
#include <QUndoGroup>
#include <QUndoStack>

#include <qcustomplot.h>

#include "core/compress/compress.h"
#include "core/io/model_io.h"
#include "core/project/project.h"
#include "tests/testutil.h"
#include "ui/charts/tradeoffchart.h"
#include "ui/formatting.h"
#include "ui/mainwindow.h"
#include "ui/projectdocument.h"
#include "ui/views/compareview.h"
#include "ui/views/compressview.h"
#include "ui/views/variantdiffpanel.h"
#include "ui/views/inspectview.h"
#include "ui/views/profiledialog.h"
#include "ui/charts/chartexport.h"
#include "ui/charts/histogramplot.h"
#include "core/project/diff.h"

using namespace cw;
using namespace cw::ui;

namespace {

constexpr int kJobTimeoutMs = 300000;

CompressOptions fastOptions()
{
    CompressOptions o;
    o.benchIterations = 3;
    return o;
}

VariantMetrics metrics(double accuracy, int64_t bytes, double p50)
{
    VariantMetrics m;
    m.accuracy = accuracy;
    m.samples = 1000;
    m.fileBytes = bytes;
    m.compressionRatio = 1700000.0 / double(bytes);
    m.p50Batch1Ms = p50;
    m.p90Batch1Ms = p50;
    m.p50Batch64Ms = p50 * 40;
    m.p90Batch64Ms = p50 * 40;
    m.peakRssBytes = 30 * 1024 * 1024 + bytes; // a process of 30 MiB plus the weights
    return m;
}

// A project on the demo with four hand-measured variants: a (431 KiB, 92.0 %), b (176 KiB, 90.5 %),
// c (90 KiB, 80 %), d (400 KiB, 89 %: beaten by a on both counts).
Project handMadeProject()
{
    Project p = newProject("demo");
    p.baseMetrics = metrics(0.92, 1700000, 0.064);
    const std::vector<std::tuple<std::string, double, int64_t, double>> rows{
        {"a", 0.920, 441000, 0.063}, {"b", 0.905, 180000, 0.064}, {"c", 0.80, 90000, 0.05}, {"d", 0.89, 409600, 0.07}};
    for (const auto &[name, acc, bytes, ms] : rows) {
        ProjectVariant v;
        v.variant.name = name;
        v.variant.model = p.base;
        v.variant.metrics = metrics(acc, bytes, ms);
        v.variant.measured = true;
        v.origin = "compress";
        addVariant(p, std::move(v));
    }
    return p;
}

// Opens `spec` in the window and waits for it.
bool open(MainWindow &window, const QString &spec)
{
    QSignalSpy loaded(&window, &MainWindow::modelLoaded);
    return window.openModel(spec) && loaded.wait(60000);
}

} // namespace

class TestGuiProject : public QObject {
    Q_OBJECT
private slots:
    void initTestCase()
    {
        QCoreApplication::setOrganizationName(QStringLiteral("CompressionWorkbenchTests"));
        QCoreApplication::setApplicationName(QStringLiteral("Compression Workbench Project Test"));
    }
    void init() { QSettings().clear(); }

    // A compression in the window, saved, reopened in another window: the variant, its metrics and provenance, the
    // base's analyses and the limits are back, nothing recomputed; the modified mark follows edits and saves.
    void saveAndReopen()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath("demo.cwproj");
        std::string metricsBefore, recipeBefore;
        {
            MainWindow window;
            window.setErrorDialogsEnabled(false);
            QVERIFY(open(window, QStringLiteral("demo")));
            QVERIFY(window.windowTitle().contains(QStringLiteral("unsaved project")));
            QVERIFY(!window.isWindowModified());
            CompressView *view = window.compressView();
            view->setEvaluationLimit(100);
            view->setCompressOptions(fastOptions());
            QSignalSpy finished(view, &CompressView::jobFinished);
            QVERIFY(view->compress(QStringLiteral("int8")));
            QVERIFY(finished.wait(kJobTimeoutMs));
            QVERIFY2(finished.first().first().toBool(), qPrintable(view->statusText()));
            QVERIFY(window.isWindowModified());
            // View → Log has every job's lines: the opening, and the compression's own log.
            const QString log = window.logPanel()->toPlainText();
            QVERIFY2(log.contains(QStringLiteral("Opening model: done")) && log.contains(QStringLiteral("compress: == int8")),
                     qPrintable(log));
            window.document()->setAnalysis(QStringLiteral("note"), QStringLiteral(R"({"kept": true})"));
            Constraints c;
            c.maxDropPoints = 2.0;
            window.document()->setConstraints(c);
            const ProjectVariant &v = window.document()->variants().front();
            QCOMPARE(v.origin, std::string("compress"));
            QVERIFY2(QString::fromStdString(v.provenance.command).startsWith(QStringLiteral("cwb compress demo --recipe int8.json")),
                     v.provenance.command.c_str());
            metricsBefore = metricsToJson(v.variant.metrics);
            // The data it came from is recorded (hashed) with it.
            const auto &datasets = window.document()->project()->datasets;
            QVERIFY(std::any_of(datasets.begin(), datasets.end(), [](const DatasetRecord &d) {
                return d.role == "evaluation" && d.spec == "fashion-mnist" && d.files.size() == 2;
            }));
            recipeBefore = recipeToJson(v.variant.recipe);

            QVERIFY(window.saveProject(path));
            QVERIFY(!window.isWindowModified());
            QVERIFY(window.windowTitle().contains(QStringLiteral("demo.cwproj")));
            QCOMPARE(window.lastProjectToReopen(), QFileInfo(path).absoluteFilePath());
            // An undo after the save marks the project modified again; a redo brings it back to the saved state.
            window.document()->undoStack()->undo();
            QVERIFY(window.isWindowModified());
            window.document()->undoStack()->redo();
            QVERIFY(!window.isWindowModified());
        }
        MainWindow again;
        again.setErrorDialogsEnabled(false);
        QVERIFY(open(again, path));
        QCOMPARE(again.document()->fileName(), QFileInfo(path).absoluteFilePath());
        QVERIFY(!again.isWindowModified());
        QCOMPARE(again.compressView()->variants().size(), size_t(1));
        const Variant &v = again.compressView()->variants().front().variant;
        QCOMPARE(metricsToJson(v.metrics), metricsBefore);
        QCOMPARE(recipeToJson(v.recipe), recipeBefore);
        QVERIFY(again.compressView()->baseMetrics().has_value());
        QCOMPARE(again.compressView()->variantModel()->rowCount(), 2); // base and variant, straight from the file
        QCOMPARE(again.model()->analysis.at("note"), std::string(R"({"kept": true})"));
        QCOMPARE(again.compareView()->tableModel()->rowCount(), 1);
        QCOMPARE(again.compareView()->maxDropSpin()->value(), 2.0);
        QCOMPARE(again.modelSpec(), QStringLiteral("demo"));

        // The variant's Profile…: where its own time goes (this preset's weights are 8-bit, its arithmetic float).
        again.compressView()->selectVariant(0);
        auto *profileButton = again.compressView()->findChild<QPushButton *>(QStringLiteral("profileVariant"));
        QVERIFY(profileButton && profileButton->isEnabled());
        QSignalSpy profiled(&again, &MainWindow::profileFinished);
        profileButton->click();
        QVERIFY(profiled.wait(kJobTimeoutMs));
        auto *dialog = again.findChild<ProfileDialog *>();
        QVERIFY(dialog);
        QVERIFY2(dialog->windowTitle().contains(QString::fromStdString(v.name)), qPrintable(dialog->windowTitle()));
        QStringList ops;
        for (int r = 0; r < dialog->table()->rowCount(); ++r)
            ops << dialog->table()->item(r, 1)->text();
        QVERIFY2(ops.count(QStringLiteral("Conv")) == 2 && ops.count(QStringLiteral("Gemm")) == 2,
                 qPrintable(ops.join(QStringLiteral(", "))));

        // Reopen at start is a setting.
        QSettings().setValue(QStringLiteral("project/reopenLast"), false);
        QCOMPARE(again.lastProjectToReopen(), QString());
    }

    // Unsaved work: Cancel keeps everything, Discard goes ahead; the question is asked once per action, with Save
    // offered; closing the window asks too.
    void promptsBeforeDroppingWork()
    {
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QVERIFY(open(window, QStringLiteral("demo")));
        window.document()->addVariant({});
        QVERIFY(window.isWindowModified());
        int asked = 0;
        int answer = QMessageBox::Cancel;
        bool offeredSave = false;
        window.setQuestionHandler([&](const QString &, const QString &text, bool canSave) {
            ++asked;
            offeredSave = canSave;
            Q_UNUSED(text);
            return answer;
        });
        QVERIFY(!window.openModel(QStringLiteral("demo-resnet")));
        QCOMPARE(asked, 1);
        QVERIFY(offeredSave);
        QCOMPARE(window.document()->variantCount(), 1);
        QVERIFY(!window.newProject());
        QVERIFY(!window.closeProject());
        QCOMPARE(window.document()->variantCount(), 1);
        window.show();
        QVERIFY(!window.close()); // the close event is ignored
        QVERIFY(window.isVisible());
        QCOMPARE(asked, 4);

        answer = QMessageBox::Discard;
        QVERIFY(window.newProject());
        QCOMPARE(window.document()->variantCount(), 0);
        QVERIFY(!window.isWindowModified());
        QVERIFY(window.model() != nullptr);
        QVERIFY(window.closeProject()); // nothing to lose: no question
        QVERIFY(window.model() == nullptr);
        QCOMPARE(asked, 5);
    }

    // A running compression: closing the project asks (without Save: nothing is modified yet), Cancel lets the job
    // go on, Discard stops it and closes.
    void promptsBeforeStoppingAJob()
    {
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QVERIFY(open(window, QStringLiteral("demo")));
        CompressView *view = window.compressView();
        view->setEvaluationLimit(0); // all 10,000 samples: long enough to be caught running
        QVERIFY(view->compress(QStringLiteral("slow")));
        QVERIFY(window.anyJobRunning());
        int answer = QMessageBox::Cancel;
        bool offeredSave = true;
        window.setQuestionHandler([&](const QString &, const QString &text, bool canSave) {
            offeredSave = canSave;
            return text.contains(QStringLiteral("job is running")) ? answer : int(QMessageBox::Cancel);
        });
        QVERIFY(!window.closeProject());
        QVERIFY(!offeredSave);
        QVERIFY(view->isRunning());
        answer = QMessageBox::Discard;
        QSignalSpy finished(view, &CompressView::jobFinished);
        QVERIFY(window.closeProject());
        QVERIFY(window.model() == nullptr);
        QTRY_VERIFY_WITH_TIMEOUT(!view->isRunning(), kJobTimeoutMs);
        QCOMPARE(window.document()->variantCount(), 0);
    }

    // Removing a variant and changing a limit are undoable; the Compare tab follows both.
    void undoRedo()
    {
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QVERIFY(open(window, QStringLiteral("demo")));
        ProjectDocument *doc = window.document();
        doc->reset(handMadeProject());
        CompareView *compare = window.compareView();
        QCOMPARE(compare->tableModel()->rowCount(), 4);
        doc->removeVariant(1);
        QCOMPARE(compare->tableModel()->rowCount(), 3);
        QCOMPARE(window.compressView()->variants().size(), size_t(3));
        // Edit → Undo follows the tab in front: the recipe's stack in Compress, the project's elsewhere.
        window.analysisTabs()->setCurrentWidget(window.compressView());
        QCOMPARE(window.undoGroup()->activeStack(), window.compressView()->undoStack());
        window.analysisTabs()->setCurrentWidget(compare);
        QCOMPARE(window.undoGroup()->activeStack(), doc->undoStack());
        auto *undo = window.findChild<QAction *>(QStringLiteral("undoAction"));
        QVERIFY(undo && undo->isEnabled());
        QVERIFY(undo->text().contains(QStringLiteral("Remove Variant b")));
        undo->trigger();
        QCOMPARE(compare->tableModel()->rowCount(), 4);
        QCOMPARE(compare->tableModel()->item(1, CompareView::CName)->text(), QStringLiteral("b"));

        compare->maxDropSpin()->setValue(1.6);
        QVERIFY(doc->project()->constraints.maxDropPoints.has_value());
        QCOMPARE(*doc->project()->constraints.maxDropPoints, 1.6);
        doc->undoStack()->undo();
        QVERIFY(!doc->project()->constraints.maxDropPoints.has_value());
        QCOMPARE(compare->maxDropSpin()->value(), 0.0);
    }

    // The chart and the recommendation on the hand-made project (Pareto by size: c, b, a; by latency: c, a; d is
    // beaten by a on both), then
    // under limits of 200 KiB and 1.6 points: only b passes (amber: its drop of 1.5 is within 10 % of the limit).
    void compareChartAndRecommendation()
    {
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        window.resize(1400, 900);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QVERIFY(open(window, QStringLiteral("demo")));
        window.document()->reset(handMadeProject());
        CompareView *compare = window.compareView();
        window.analysisTabs()->setCurrentWidget(compare);
        compare->setCost(Cost::FileBytes);
        QCOMPARE(compare->chart()->pointCount(), 4);
        QStandardItemModel *table = compare->tableModel();
        // a is on both frontiers (also the fastest after c), b on the size one only (a is faster and better).
        QCOMPARE(table->item(0, CompareView::CPareto)->text(), QStringLiteral("size, latency"));
        QCOMPARE(table->item(1, CompareView::CPareto)->text(), QStringLiteral("size"));
        QCOMPARE(table->item(3, CompareView::CPareto)->text(), QStringLiteral("—")); // d
        QCOMPARE(compare->recommendation().best, 0); // no limits: the most accurate
        QVERIFY(compare->recommendationLabel()->text().contains(QStringLiteral("<b>a</b>")));

        compare->maxSizeSpin()->setValue(200);
        compare->maxDropSpin()->setValue(1.6);
        QCOMPARE(compare->recommendation().best, 1);
        QVERIFY(table->item(1, CompareView::CVerdict)->text().startsWith(QStringLiteral("amber")));
        QVERIFY(table->item(0, CompareView::CVerdict)->text().startsWith(QStringLiteral("red: size")));
        QVERIFY(table->item(1, CompareView::CName)->text().contains(QStringLiteral("★")));

        // A click on b's point selects it here and in the Compress tab.
        compare->chart()->plot()->replot();
        QCustomPlot *plot = compare->chart()->plot();
        const QPoint at(int(plot->xAxis->coordToPixel(180000 / 1024.0)), int(plot->yAxis->coordToPixel(90.5)));
        QCOMPARE(compare->chart()->variantAt(at), 1);
        QSignalSpy selected(compare, &CompareView::variantSelected);
        QTest::mouseClick(plot, Qt::LeftButton, Qt::NoModifier, at);
        QCOMPARE(selected.count(), 1);
        QCOMPARE(compare->selectedVariant(), 1);
        QCOMPARE(window.compressView()->variantTable()->currentIndex().row(), 2); // after the base row
        QCOMPARE(compare->chart()->variantAt(QPoint(2, 2)), -1);

        // Latency as the cost: d (0.07 ms) is beaten; c is the fastest.
        compare->setCost(Cost::LatencyBatch1);
        QCOMPARE(compare->chart()->plot()->xAxis->label(), QStringLiteral("latency (batch 1) (ms)"));
        // Peak memory as the cost: every variant plotted, in MiB; the table's column beside the engine's memory.
        compare->setCost(Cost::PeakRss);
        QCOMPARE(compare->chart()->pointCount(), 4);
        QCOMPARE(compare->chart()->plot()->xAxis->label(), QStringLiteral("peak memory (RSS) (MiB)"));
        QCOMPARE(table->item(1, CompareView::CPeakRss)->text(), formatBytes(30 * 1024 * 1024 + 180000));
    }

    // The project open in the window while `cwb compress --project` adds to its file: saving keeps that variant
    // (it joins the window's project), the variant removed in the window stays removed, the save is clean.
    void saveKeepsWhatCwbAdded()
    {
        QTemporaryDir dir;
        const QString path = QFileInfo(dir.filePath("p.cwproj")).absoluteFilePath();
        saveProject(handMadeProject(), path.toStdString());
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QVERIFY(open(window, path));
        QCOMPARE(window.document()->variantCount(), 4);
        updateProject(path.toStdString(), [] { return Project{}; }, [](Project &disk) {
            ProjectVariant v = disk.variants.back();
            v.variant.name = "cli";
            v.variant.metrics.accuracy = 0.5; // another run: other figures
            v.provenance.command = "cwb compress demo --recipe other.json --project p.cwproj";
            addVariant(disk, v);
        });
        window.document()->removeVariant(0); // "a"
        QSignalSpy added(window.document(), &ProjectDocument::variantAdded);
        QVERIFY(window.saveProject());
        QCOMPARE(added.count(), 1);
        QStringList names;
        for (const ProjectVariant &v : window.document()->variants())
            names << QString::fromStdString(v.variant.name);
        QCOMPARE(names, (QStringList{"b", "c", "d", "cli"}));
        QVERIFY(!window.document()->isModified());
        QVERIFY2(window.statusBar()->currentMessage().contains(QStringLiteral("cli")),
                 qPrintable(window.statusBar()->currentMessage()));
        QCOMPARE(loadProject(path.toStdString()).variants.size(), size_t(4));
        QCOMPARE(window.compareView()->tableModel()->rowCount(), 4);
        // Saved again with nothing new: nothing merged.
        QVERIFY(window.saveProject());
        QCOMPARE(added.count(), 1);
    }

    // Activation histograms collected in Inspect are kept with the project — without counting as a change — and a
    // reopened project shows them at once, from the stored bins, running nothing.
    void activationsKeptWithTheProject()
    {
        QTemporaryDir dir;
        const QString path = QFileInfo(dir.filePath("p.cwproj")).absoluteFilePath();
        cw::Histogram collected;
        {
            MainWindow window;
            window.setErrorDialogsEnabled(false);
            QVERIFY(open(window, QStringLiteral("demo")));
            InspectView *inspect = window.inspectView();
            inspect->setAutoCollect(false);
            QVERIFY(window.showInspect(QStringLiteral("conv2")));
            inspect->setActivationSamples(64);
            QSignalSpy finished(inspect, &InspectView::activationsFinished);
            QVERIFY(inspect->collectActivations());
            QVERIFY(finished.wait(kJobTimeoutMs));
            QVERIFY(window.document()->base()->analysis.count(kActivationsKey));
            QVERIFY(!window.document()->isModified());
            collected = inspect->activationPlot()->histogram();
            QVERIFY(window.saveProject(path));
        }
        MainWindow again;
        again.setErrorDialogsEnabled(false);
        QVERIFY(open(again, path));
        InspectView *inspect = again.inspectView();
        inspect->setAutoCollect(false);
        QVERIFY(again.showInspect(QStringLiteral("conv2")));
        QVERIFY2(again.document()->base()->analysis.count(kActivationsKey), "not restored");
        QVERIFY2(inspect->activationStatusText().startsWith(QStringLiteral("Stored: 64 samples")),
                 qPrintable(inspect->activationStatusText()));
        QVERIFY(!inspect->activationJob());
        const cw::Histogram &shown = inspect->activationPlot()->histogram();
        QCOMPARE(shown.counts.size(), collected.counts.size());
        int64_t a = 0, b = 0;
        for (int64_t c : shown.counts)
            a += c;
        for (int64_t c : collected.counts)
            b += c;
        QCOMPARE(a, b); // the same values, binned twice
        QVERIFY(std::abs(shown.lo - collected.lo) < 1e-6 && std::abs(shown.hi - collected.hi) < 1e-6);
    }

    // Side by side: the base against a 4-bit variant, layer by layer, and the selected layer's two histograms in
    // the same bins; B follows the variant selected in the Compare tab; the page is remembered.
    void sideBySide()
    {
        Project p = newProject("demo");
        CompressOptions o;
        o.measure = false;
        ProjectVariant w4;
        w4.variant = compress(p.base, recipeFromJson(R"({"quantize": {"weights": {"bits": 4}, "bias_correction": false}})"),
                              nullptr, nullptr, o);
        w4.variant.name = "w4";
        w4.origin = "compress";
        addVariant(p, w4);
        ProjectVariant same = w4;
        same.variant.name = "w4 again";
        addVariant(p, same);

        MainWindow window;
        window.setErrorDialogsEnabled(false);
        window.resize(1280, 720);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QVERIFY(open(window, QStringLiteral("demo")));
        window.document()->reset(p);
        CompareView *compare = window.compareView();
        window.analysisTabs()->setCurrentWidget(compare);
        compare->pages()->setCurrentWidget(compare->diffPanel());
        VariantDiffPanel *diff = compare->diffPanel();
        QCOMPARE(diff->sideA(), -1);
        QCOMPARE(diff->sideB(), 0);
        QCOMPARE(diff->tableModel()->rowCount(), 4);
        QCOMPARE(diff->tableModel()->item(1, VariantDiffPanel::CLayer)->text(), QStringLiteral("conv2"));
        QCOMPARE(diff->tableModel()->item(1, VariantDiffPanel::CSettingsB)->text().left(14), QStringLiteral("4 bit, channel"));
        QCOMPARE(diff->tableModel()->item(1, VariantDiffPanel::CErrorA)->text(), QStringLiteral("reference"));
        QVERIFY(diff->tableModel()->item(1, VariantDiffPanel::CErrorB)->text().endsWith(QStringLiteral(" dB")));
        QVERIFY(diff->tableModel()->item(1, VariantDiffPanel::CLayer)->font().bold());
        QVERIFY(diff->summaryText().startsWith(QStringLiteral("4 layer(s) differ")));

        QVERIFY(diff->selectLayer(QStringLiteral("fc1")));
        const Tensor a = layerWeightValues(*window.document()->project(), -1, "fc1");
        const Histogram &ha = diff->histogram()->histogram(), &hb = diff->histogram()->result();
        QVERIFY(diff->histogram()->resultVisible());
        QCOMPARE(ha.lo, hb.lo);
        QCOMPARE(ha.hi, hb.hi);
        int64_t total = 0;
        for (int64_t c : hb.counts)
            total += c;
        QCOMPARE(total, a.numel());
        const Tensor b = layerWeightValues(*window.document()->project(), 0, "fc1");
        QCOMPARE(hb.counts, computeHistogram(b.f32(), b.numel(), int(hb.counts.size()), hb.lo, hb.hi).counts);
        QCOMPARE(ha.counts, computeHistogram(a.f32(), a.numel(), int(ha.counts.size()), ha.lo, ha.hi).counts);
        QVERIFY(!diff->selectLayer(QStringLiteral("relu1")));

        // The same weights on both sides: nothing differs.
        diff->setSides(0, 1);
        QVERIFY(diff->summaryText().startsWith(QStringLiteral("0 layer(s) differ")));
        QVERIFY(!diff->tableModel()->item(0, VariantDiffPanel::CLayer)->font().bold());
        // Selecting a variant in the Compare tab makes it B.
        compare->selectVariant(0);
        QCOMPARE(diff->sideB(), 0);
        QCOMPARE(QSettings().value(QStringLiteral("compare/page")).toInt(), 1);
    }

    // `cwb report` on a project made by cwb (two compressions and a sensitivity sweep): the PDF's text, read back
    // with pdftotext as a reviewer's viewer would, has the summary, every variant, the charts' axes, the heatmap
    // and the commands; the HTML is one file with the charts embedded.
    void reportFromCli()
    {
        QTemporaryDir dir;
        const QString project = dir.filePath("p.cwproj");
        auto writeRecipe = [&](const QString &name, const QByteArray &json) {
            QVERIFY(testutil::writeFile(dir.filePath(name), json));
        };
        writeRecipe("int8.json", R"({"name": "int8", "quantize": {"weights": {"bits": 8, "granularity": "channel"}}})");
        writeRecipe("w4.json", R"({"name": "w4-tensor", "quantize": {"weights": {"bits": 4, "granularity": "tensor"}}})");
        for (const char *recipe : {"int8.json", "w4.json"}) {
            const testutil::ProcessResult r =
                testutil::runCwb({"compress", "demo", "--recipe", dir.filePath(recipe), "--project", project, "--data",
                                  "fashion-mnist", "--limit", "300", "--train-limit", "300", "--iterations", "3"});
            QVERIFY2(r.exitCode == 0, r.err.constData());
        }
        testutil::ProcessResult r = testutil::runCwb({"sensitivity", "demo", "--data", "fashion-mnist", "--limit", "100",
                                                  "--bits", "8,4", "--prune", "0.5", "--project", project});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        r = testutil::runCwb({"project", "limits", project, "--max-drop", "1"});
        QVERIFY2(r.exitCode == 0, r.err.constData());

        const QString pdf = dir.filePath("report.pdf");
        r = testutil::runCwb({"report", project, "-o", pdf});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QVERIFY2(r.out.startsWith("wrote "), r.out.constData());
        QString error;
        const QString text = QString::fromUtf8(testutil::runProcess("pdftotext", {pdf, "-"}, &error));
        QVERIFY2(error.isEmpty(), qPrintable(error));
        for (const QString &expected :
             {QStringLiteral("Compression report: p.cwproj"), QStringLiteral("Summary"), QStringLiteral("Verdicts"),
              QStringLiteral("int8"), QStringLiteral("w4-tensor"), QStringLiteral("size (KiB)"), // "file" is set with the fi ligature
              QStringLiteral("latency (batch 1) (ms)"), QStringLiteral("Per-layer settings"),
              QStringLiteral("Sensitivity"), QStringLiteral("Reproducibility"), QStringLiteral("cwb compress demo"),
              QStringLiteral("fashion-mnist"), QStringLiteral("quality drop at most 1 pt")})
            QVERIFY2(text.contains(expected), qPrintable(expected));
        QVERIFY2(text.contains(QStringLiteral("Recommended: int8")) || text.contains(QStringLiteral("Recommended:")),
                 qPrintable(text.left(600)));
        // Table cells keep their words and values whole: the variants table's headers (it had "Memor", "y"), a size
        // with its unit.
        const QStringList lines = text.split(QLatin1Char('\n'));
        for (const QString &cell : {QStringLiteral("Variant"), QStringLiteral("Memory"), QStringLiteral("Quality"),
                                    QStringLiteral("Pareto")})
            QVERIFY2(lines.contains(cell), qPrintable(cell));
        QVERIFY(QRegularExpression(QStringLiteral("ONNX\\s\\d+\\.\\d+\\sKiB")).match(text).hasMatch());

        const QString html = dir.filePath("report.html");
        r = testutil::runCwb({"report", project, "-o", html});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QFile f(html);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QByteArray page = f.readAll();
        QCOMPARE(page.count("src=\"data:image/png;base64,"), 2);
        QVERIFY(!page.contains("chart:"));
        QVERIFY(page.contains("w4-tensor"));

        r = testutil::runCwb({"report", project, "-o", dir.filePath("report.docx")});
        QCOMPARE(r.exitCode, 1);
        QVERIFY(r.err.contains(".pdf or .html"));
        QVERIFY(QDir(dir.path()).entryList({"*cwtmp*"}, QDir::Files | QDir::Hidden).isEmpty());
    }

    // View → Zoom scales the application font and every chart's fonts, is remembered, and Reset brings both back.
    void zoom()
    {
        const double before = QApplication::font().pointSizeF();
        double tickBefore = 0;
        {
            MainWindow window;
            window.setErrorDialogsEnabled(false);
            QVERIFY(open(window, QStringLiteral("demo")));
            window.document()->reset(handMadeProject());
            QCustomPlot *plot = window.compareView()->chart()->plot();
            tickBefore = plot->xAxis->tickLabelFont().pointSizeF();
            window.setZoom(1.5);
            QCOMPARE(QApplication::font().pointSizeF(), before * 1.5);
            QCOMPARE(plot->xAxis->tickLabelFont().pointSizeF(), tickBefore * 1.5);
            QCOMPARE(QSettings().value(QStringLiteral("view/zoom")).toDouble(), 1.5);
            window.setZoom(1.0);
            QCOMPARE(QApplication::font().pointSizeF(), before);
            QCOMPARE(plot->xAxis->tickLabelFont().pointSizeF(), tickBefore);
            window.setZoom(1.2);
        }
        QCOMPARE(QApplication::font().pointSizeF(), before); // a closed window gives the font back
        MainWindow again; // and the next one starts at the zoom remembered
        QCOMPARE(again.zoom(), 1.2);
        QVERIFY(std::abs(QApplication::font().pointSizeF() - before * 1.2) < 1e-9);
        again.setZoom(1.0);
    }

    void exports()
    {
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QVERIFY(open(window, QStringLiteral("demo")));
        window.document()->reset(handMadeProject());
        CompareView *compare = window.compareView();
        QTemporaryDir dir;
        QVERIFY2(compare->exportChart(dir.filePath("chart.png")), qPrintable(compare->statusText()));
        const QImage image(dir.filePath("chart.png"));
        QCOMPARE(image.size(), QSize(1350, 840));
        QVERIFY2(compare->exportChart(dir.filePath("chart.pdf")), qPrintable(compare->statusText()));
        QFile pdf(dir.filePath("chart.pdf"));
        QVERIFY(pdf.open(QIODevice::ReadOnly));
        QVERIFY(pdf.read(5) == "%PDF-");
        // SVG: a vector drawing Qt SVG reads back at the chart's size, with the axis labels as text.
        QVERIFY2(compare->exportChart(dir.filePath("chart.svg")), qPrintable(compare->statusText()));
        QSvgRenderer svg(dir.filePath("chart.svg"));
        QVERIFY(svg.isValid());
        QCOMPARE(svg.viewBox().size(), QSize(900, 560));
        QImage drawn(450, 280, QImage::Format_RGB32);
        drawn.fill(Qt::white);
        QPainter painter(&drawn);
        svg.render(&painter);
        painter.end();
        int inked = 0;
        for (int y = 0; y < drawn.height(); ++y)
            for (int x = 0; x < drawn.width(); ++x)
                inked += drawn.pixel(x, y) != qRgb(255, 255, 255);
        QVERIFY2(inked > 2000, qPrintable(QString::number(inked)));
        QFile svgText(dir.filePath("chart.svg"));
        QVERIFY(svgText.open(QIODevice::ReadOnly));
        QVERIFY(svgText.readAll().contains("file size"));
        QVERIFY(!compare->exportChart(dir.filePath("chart.bmp")));
        QVERIFY(compare->statusText().contains(QStringLiteral(".png, .svg or .pdf")));
        // Every chart of the window has the right-click menu; any of them saves the same way.
        const QList<QCustomPlot *> plots = window.findChildren<QCustomPlot *>();
        QVERIFY(plots.size() >= 9);
        for (QCustomPlot *plot : plots)
            QCOMPARE(plot->contextMenuPolicy(), Qt::CustomContextMenu);
        QString error;
        QVERIFY2(saveChart(window.inspectView()->histogram()->plot(), dir.filePath("histogram.svg"), &error), qPrintable(error));
        QVERIFY(QSvgRenderer(dir.filePath("histogram.svg")).isValid());

        QVERIFY(compare->exportTable(dir.filePath("variants.csv")));
        QFile csv(dir.filePath("variants.csv"));
        QVERIFY(csv.open(QIODevice::ReadOnly));
        const QStringList lines = QString::fromUtf8(csv.readAll()).trimmed().split(QLatin1Char('\n'));
        QCOMPARE(lines.size(), 5); // header and four variants
        QVERIFY(lines[0].startsWith(QStringLiteral("Variant,Origin,Recipe,Quality")));
        QVERIFY(lines[1].startsWith(QStringLiteral("a,compress,")));
        QVERIFY(compare->exportTable(dir.filePath("variants.json")));
        QFile json(dir.filePath("variants.json"));
        QVERIFY(json.open(QIODevice::ReadOnly));
        const QJsonObject doc = QJsonDocument::fromJson(json.readAll()).object();
        QCOMPARE(doc["variants"].toArray().size(), 4);
        QCOMPARE(doc["recommendation"].toObject()["variant"].toString(), QStringLiteral("a"));
        QVERIFY(QDir(dir.path()).entryList({"*cwtmp*"}, QDir::Files | QDir::Hidden).isEmpty());
    }
};

QTEST_MAIN(TestGuiProject)
#include "test_gui_project.moc"
