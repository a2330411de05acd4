// The Distill tab on the demo CNN: a job on a small unlabelled set draws the live curves (every step's loss parts,
// every epoch's validation next to the teacher's; an output that is not logits in dB) and its student joins the
// Compress tab's variants; training data the model does not take is said before anything runs, in this tab and
// the Compress tab; Cancel keeps nothing and leaves the model as it was; a student that cannot be built is
// reported, not crashed on; the Compress tab's "base model as teacher" switch edits the recipe's
// finetune.distill; a student opens as the model to be compressed further; the controls are remembered.
#include <QtTest>

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTabWidget>
#include <QTemporaryDir>

#include <qcustomplot.h>

#include "core/io/dataset.h"
#include "core/io/model_io.h"
#include "guitestutil.h"
#include "testutil.h"
#include "ui/formatting.h"
#include "ui/mainwindow.h"
#include "core/compress/recipe.h"
#include "ui/datafit.h"
#include "ui/views/compressview.h"
#include "ui/views/distillview.h"
#include "ui/views/clusterdialog.h"
#include "ui/projectdocument.h"
#include "core/cluster/sweep.h"

using namespace cw;
using namespace cw::ui;

namespace {

constexpr int kJobTimeoutMs = 600000;

QByteArray weightsFingerprint(const Model &m)
{
    QCryptographicHash h(QCryptographicHash::Sha256);
    for (const auto &[name, t] : m.graph.initializers) {
        h.addData(QByteArray::fromStdString(name));
        h.addData(QByteArrayView(static_cast<const char *>(t.rawData()), qsizetype(t.byteSize())));
    }
    return h.result();
}

} // namespace

class TestGuiDistill : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_data; // 64 random images without labels

    void openDemo(MainWindow &window)
    {
        window.setErrorDialogsEnabled(false);
        QSignalSpy loaded(&window, &MainWindow::modelLoaded);
        QVERIFY(window.openModel(QStringLiteral("demo")));
        QVERIFY(loaded.wait(60000));
        DistillView *view = window.distillView();
        QVERIFY(window.analysisTabs()->indexOf(view) >= 0);
        view->setDataset(m_data);
        view->trainDataEdit()->setText(m_data);
        view->evalLimitSpin()->setValue(0);
        view->studentKindCombo()->setCurrentIndex(int(StudentKind::Slim));
        view->slimSpin()->setValue(0.5);
        view->epochsSpin()->setValue(2);
        view->findChild<QSpinBox *>(QStringLiteral("batch"))->setValue(16);
    }

    // A model whose output is not logits (testutil::twoConvs) as an ONNX file, and 64 unlabelled samples for it.
    std::pair<QString, QString> writeConvs() const
    {
        const QString model = m_dir.filePath(QStringLiteral("convs.onnx")), maps = m_dir.filePath(QStringLiteral("maps.npy"));
        saveModel(testutil::twoConvs(95), model.toStdString());
        writeNpy(testutil::randomTensor({64, 2, 3, 3}, 96), maps.toStdString());
        return {model, maps};
    }

private slots:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("CompressionWorkbench"));
        QSettings().clear();
        QVERIFY(m_dir.isValid());
        m_data = m_dir.filePath(QStringLiteral("x.npy"));
        writeNpy(testutil::randomTensor({64, 1, 28, 28}, 1, 0.f, 1.f), m_data.toStdString());
    }

    // Under α, a note while the training data has no labels (the job then takes α = 1); none for labelled data.
    void alphaNoteFollowsTheLabels()
    {
        MainWindow window;
        openDemo(window);
        DistillView *view = window.distillView();
        QTRY_VERIFY_WITH_TIMEOUT(!view->alphaNote()->isHidden(), 30000);
        QVERIFY(view->alphaNote()->text().contains(QStringLiteral("no labels")));
        const QString labelled = m_dir.filePath(QStringLiteral("l.npy"));
        writeNpy(testutil::randomTensor({8, 1, 28, 28}, 3, 0.f, 1.f), labelled.toStdString());
        writeNpy(Tensor::fromInt64s({8}, {0, 1, 2, 3, 4, 5, 6, 7}),
                 m_dir.filePath(QStringLiteral("l_labels.npy")).toStdString());
        view->trainDataEdit()->setText(labelled);
        QVERIFY(view->alphaNote()->isHidden()); // not yet checked: no note
        QSignalSpy checked(view->trainingDataNotice()->check(), &DataFitCheck::checked);
        emit view->trainDataEdit()->editingFinished(); // as when the field is left
        QVERIFY(checked.count() > 0 || checked.wait(30000));
        QVERIFY(view->alphaNote()->isHidden());
        view->trainDataEdit()->setText(m_data);
        emit view->trainDataEdit()->editingFinished();
        QTRY_VERIFY_WITH_TIMEOUT(!view->alphaNote()->isHidden(), 30000);
    }

    void jobDrawsCurvesAndAddsAVariant()
    {
        MainWindow window;
        openDemo(window);
        DistillView *view = window.distillView();
        QVERIFY(view->predictionLabel()->text().contains(QStringLiteral("parameters")));
        QSignalSpy finished(view, &DistillView::jobFinished);
        QSignalSpy ready(view, &DistillView::variantReady);
        QVERIFY(view->distill());
        QVERIFY(!view->distillButton()->isEnabled());
        QVERIFY(view->cancelButton()->isEnabled());
        QVERIFY(finished.wait(kJobTimeoutMs));
        QVERIFY2(finished.last().first().toBool(), qPrintable(view->statusText()));
        QCOMPARE(ready.count(), 1);
        // 64 samples in batches of 16 for 2 epochs: 8 steps, each with its loss parts.
        QCustomPlot *loss = view->lossChart();
        QCOMPARE(loss->graph(0)->dataCount(), 8);
        QVERIFY(loss->graph(2)->data()->at(0)->value > 0); // soft (teacher)
        QCOMPARE(loss->graph(1)->data()->at(0)->value, 0.0); // no labels: no hard part
        QCustomPlot *accuracy = view->accuracyChart();
        QCOMPARE(accuracy->graph(0)->dataCount(), 2);
        QVERIFY(accuracy->graph(1)->dataCount() > 0); // the teacher's dashed line
        QCOMPARE(accuracy->yAxis->label(), QStringLiteral("top-1 agreement with the teacher, %"));
        QVERIFY(view->logPanel()->toPlainText().contains(QStringLiteral("no labels")));
        // The student is a variant of the Compress tab.
        QCOMPARE(window.compressView()->variants().size(), size_t(1));
        QVERIFY(window.compressView()->variants().front().variant.measured);
        QVERIFY(window.compressView()->variants().front().variant.model.analysis.count(kDistillationKey));
        QVERIFY(view->distillButton()->isEnabled());

        // Distil, then compress further: the student becomes the open model (the teacher of the next run).
        const int64_t teacherParameters = window.model()->graph.parameterCount();
        QVERIFY(window.openVariant(0));
        QVERIFY(window.model()->graph.parameterCount() < teacherParameters / 2);
        QVERIFY(window.compressView()->variants().empty());
        QVERIFY(view->predictionLabel()->text().contains(formatCount(window.model()->graph.parameterCount())));
    }

    void runOnClusterTrainsTheSameStudent()
    {
        // Distill → Run on Cluster… writes the form's distillation as a plan of one item (cwb distill's arguments, the
        // threads the tab's job uses); the shard's student, imported through File → Import Results, is the student the
        // tab trains: the same weights, so the same file size and fidelity to the teacher. Augmentation is on, so
        // its settings travel too.
        QTemporaryDir dir(QDir::tempPath() + QStringLiteral("/cw-distill-cluster-XXXXXX"));
        QVERIFY(dir.isValid());
        MainWindow window;
        openDemo(window);
        DistillView *view = window.distillView();
        view->findChild<QSpinBox *>(QStringLiteral("augmentShift"))->setValue(1);
        view->findChild<QCheckBox *>(QStringLiteral("augmentFlip"))->setChecked(true);
        QVERIFY(view->clusterButton()->isEnabled());
        view->clusterButton()->click();
        const QString folder = dir.filePath(QStringLiteral("sweep"));
        QString written;
        const std::optional<cw::cluster::SweepPlan> job =
            guitestutil::writeClusterJob(window.clusterDialog(), folder, &written);
        QVERIFY2(job, qPrintable(written));
        const cw::cluster::SweepPlan &plan = *job;
        QCOMPARE(plan.kind, std::string("distill"));
        QCOMPARE(plan.items, std::vector<std::string>{"distilled"});
        QString error;
        testutil::runShards(QStringLiteral(CW_CWB_PATH), folder, 1, &error);
        QVERIFY2(error.isEmpty(), qPrintable(error));

        QSignalSpy finished(view, &DistillView::jobFinished);
        QVERIFY(view->distill());
        QVERIFY(finished.wait(kJobTimeoutMs));
        QVERIFY2(finished.last().first().toBool(), qPrintable(view->statusText()));
        QVERIFY2(window.importResults({folder}), qPrintable(window.lastError()));
        const std::vector<cw::ProjectVariant> &variants = window.document()->project()->variants;
        QCOMPARE(variants.size(), size_t(2));
        QCOMPARE(variants[1].origin, std::string("distill"));
        QCOMPARE(variants[1].variant.name, std::string("distilled"));
        QVERIFY2(variants[1].provenance.command.rfind("cwb distill demo --slim 0.5 ", 0) == 0,
                 variants[1].provenance.command.c_str());
        QVERIFY2(variants[1].provenance.command.find(" --augment-shift 1 --augment-flip ") != std::string::npos,
                 variants[1].provenance.command.c_str());
        QVERIFY(variants[0].variant.model.analysis.at("distillation").find(R"("augment":{"shift":1,"flip":true})") !=
                std::string::npos);
        QCOMPARE(weightsFingerprint(variants[1].variant.model), weightsFingerprint(variants[0].variant.model));
        const cw::VariantMetrics &here = variants[0].variant.metrics, &there = variants[1].variant.metrics;
        QCOMPARE(there.fileBytes, here.fileBytes);
        QCOMPARE(there.fidelity.size(), here.fidelity.size());
        QVERIFY(!here.fidelity.empty());
        QCOMPARE(there.fidelity[0].sqnrDb, here.fidelity[0].sqnrDb);
    }

    // A model whose output is not logits, on data without labels: the epochs' figure is the output's SQNR against
    // the teacher's, in dB, without a teacher's line (it would be infinite).
    void outputThatIsNotLogitsValidatedBySqnr()
    {
        const auto [model, maps] = writeConvs();
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QSignalSpy loaded(&window, &MainWindow::modelLoaded);
        QVERIFY(window.openModel(model));
        QVERIFY(loaded.wait(60000));
        DistillView *view = window.distillView();
        view->setDataset(maps);
        view->trainDataEdit()->setText(maps);
        view->evalLimitSpin()->setValue(0);
        view->studentKindCombo()->setCurrentIndex(int(StudentKind::Slim));
        view->slimSpin()->setValue(0.5);
        view->epochsSpin()->setValue(2);
        view->findChild<QSpinBox *>(QStringLiteral("batch"))->setValue(16);
        QSignalSpy finished(view, &DistillView::jobFinished);
        QVERIFY(view->distill());
        QVERIFY(finished.wait(kJobTimeoutMs));
        QVERIFY2(finished.last().first().toBool(), qPrintable(view->statusText()));
        QCustomPlot *chart = view->accuracyChart();
        QCOMPARE(chart->yAxis->label(), QStringLiteral("SQNR vs teacher, dB"));
        QCOMPARE(chart->graph(0)->dataCount(), 2);
        QCOMPARE(chart->graph(1)->dataCount(), 0);
        QVERIFY(!chart->legend->hasItemWithPlottable(chart->graph(1)));
        const double last = chart->graph(0)->data()->at(1)->value;
        QVERIFY(chart->yAxis->range().contains(last));
        QVERIFY(view->logPanel()->toPlainText().contains(QStringLiteral("validation SQNR against the teacher")));
        // The finished student is described by its fidelity, not by an accuracy no label counted.
        QVERIFY(view->logPanel()->toPlainText().contains(QStringLiteral("distilled-1: output SQNR against the teacher")));
        QCOMPARE(window.compressView()->variants().size(), size_t(1));
    }

    // Training data whose samples the model does not take is said under the field of both tabs as soon as the
    // model opens, with the evaluation data as the way out; the Compress tab says it only for a recipe that reads
    // training data.
    void trainingDataThatDoesNotFitIsSaid()
    {
        const auto [model, maps] = writeConvs();
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        window.setDataset(maps, 0);
        CompressView *compress = window.compressView();
        DistillView *distill = window.distillView();
        compress->setTrainingData(QStringLiteral("fashion-mnist:train"));
        distill->trainDataEdit()->setText(QStringLiteral("fashion-mnist:train"));
        QSignalSpy loaded(&window, &MainWindow::modelLoaded);
        QVERIFY(window.openModel(model));
        QVERIFY(loaded.wait(60000));
        // Each check started by an action has finished.
        QSignalSpy compressChecked(compress->trainingDataNotice()->check(), &DataFitCheck::checked);
        QSignalSpy distillChecked(distill->trainingDataNotice()->check(), &DataFitCheck::checked);
        const auto settled = [](DataFitCheck *check, QSignalSpy &spy) {
            return QTest::qWaitFor([&] { return spy.count() > 0 && !check->running(); }, 30000);
        };

        // Distill: always trains. Opening the model checked the field's data.
        const QString expected = QStringLiteral("the data's samples are [1, 28, 28], and graph input 'x' [N, 2, 3, 3]");
        QVERIFY(QTest::qWaitFor([&] { return distill->trainingDataNotice()->isVisibleTo(distill); }, 30000));
        QVERIFY2(distill->trainingDataNotice()->label()->text().contains(expected),
                 qPrintable(distill->trainingDataNotice()->label()->text()));
        QVERIFY(distill->trainingDataNotice()->useEvaluationButton()->isVisibleTo(distill));
        QVERIFY(distill->trainingDataNotice()->useEvaluationButton()->text().contains(QStringLiteral("maps.npy")));
        distillChecked.clear();
        distill->trainingDataNotice()->useEvaluationButton()->click();
        QCOMPARE(distill->trainDataEdit()->text(), maps);
        QVERIFY(settled(distill->trainingDataNotice()->check(), distillChecked));
        QVERIFY(!distill->trainingDataNotice()->isVisibleTo(distill));
        QVERIFY(!distill->trainingDataNotice()->useEvaluationButton()->isVisibleTo(distill));

        // Compress: the pruning recipe reads no training data, so nothing is said until calibration needs it.
        QVERIFY(compress->setRecipe(cw::recipeFromJson(R"({"prune": {"method": "magnitude", "ratio": 0.5}})"),
                                    QStringLiteral("prune")));
        QVERIFY(QTest::qWaitFor([&] { return !compress->trainingDataNotice()->check()->problem().isEmpty(); }, 30000));
        QVERIFY(!compress->trainingDataNotice()->isVisibleTo(compress));
        QVERIFY(compress->setRecipe(cw::recipeFromJson(R"({"quantize": {"weights": {"bits": 8}, "activations": {"bits": 8}}})"),
                                    QStringLiteral("int8")));
        QVERIFY(compress->trainingDataNotice()->isVisibleTo(compress));
        QVERIFY(compress->trainingDataNotice()->label()->text().contains(expected));
        // A file that is not there is said too.
        compressChecked.clear();
        compress->setTrainingData(m_dir.filePath(QStringLiteral("missing.npy")));
        QVERIFY(!compress->trainingDataNotice()->isVisibleTo(compress)); // the verdict was on other data
        QVERIFY(settled(compress->trainingDataNotice()->check(), compressChecked));
        QVERIFY(compress->trainingDataNotice()->isVisibleTo(compress));
        QVERIFY2(compress->trainingDataNotice()->label()->text().contains(QStringLiteral("missing.npy")),
                 qPrintable(compress->trainingDataNotice()->label()->text()));
        compressChecked.clear();
        compress->trainingDataNotice()->useEvaluationButton()->click();
        QCOMPARE(compress->trainingData(), maps);
        QVERIFY(settled(compress->trainingDataNotice()->check(), compressChecked));
        QVERIFY(!compress->trainingDataNotice()->isVisibleTo(compress));
        QVERIFY(!compress->trainingDataNotice()->useEvaluationButton()->isVisibleTo(compress));
    }

    void cancelKeepsNothing()
    {
        MainWindow window;
        openDemo(window);
        DistillView *view = window.distillView();
        view->epochsSpin()->setValue(200);
        const QByteArray before = weightsFingerprint(*window.model());
        QSignalSpy finished(view, &DistillView::jobFinished);
        QSignalSpy ready(view, &DistillView::variantReady);
        QSignalSpy progress(view->progressBar(), &QProgressBar::valueChanged);
        QVERIFY(view->distill());
        QVERIFY(progress.wait(60000));
        view->cancel();
        QVERIFY(finished.wait(kJobTimeoutMs));
        QCOMPARE(finished.last().first().toBool(), false);
        QCOMPARE(ready.count(), 0);
        QVERIFY(view->statusText().contains(QStringLiteral("cancelled")));
        QCOMPARE(window.compressView()->variants().size(), size_t(0));
        QCOMPARE(weightsFingerprint(*window.model()), before);
    }

    void badStudentIsReported()
    {
        MainWindow window;
        openDemo(window);
        DistillView *view = window.distillView();
        view->studentKindCombo()->setCurrentIndex(int(StudentKind::File));
        auto *file = view->findChild<QLineEdit *>(QStringLiteral("studentFile"));
        QVERIFY(file);
        file->setText(m_dir.filePath(QStringLiteral("missing.onnx")));
        emit file->editingFinished();
        QVERIFY2(view->predictionLabel()->text().contains(QStringLiteral("cannot be used")),
                 qPrintable(view->predictionLabel()->text()));
        QSignalSpy finished(view, &DistillView::jobFinished);
        QVERIFY(view->distill());
        QVERIFY(finished.wait(kJobTimeoutMs));
        QCOMPARE(finished.last().first().toBool(), false);
        QVERIFY2(view->statusText().contains(QStringLiteral("missing.onnx")), qPrintable(view->statusText()));
        view->studentKindCombo()->setCurrentIndex(int(StudentKind::Slim));
    }

    void compressTabTeacherSwitch()
    {
        MainWindow window;
        openDemo(window);
        CompressView *compress = window.compressView();
        QVERIFY(!compress->recipe().finetune.distill);
        compress->teacherCheck()->setChecked(true);
        QVERIFY(compress->recipe().finetune.distill);
        QVERIFY(compress->recipe().finetune.epochs >= 1);
        QCOMPARE(compress->recipe().finetune.distill->temperature, 4.f);
        compress->findChild<QDoubleSpinBox *>(QStringLiteral("finetuneAlpha"))->setValue(0.5);
        QCOMPARE(compress->recipe().finetune.distill->alpha, 0.5f);
        compress->undoStack()->undo();
        QCOMPARE(compress->recipe().finetune.distill->alpha, 0.7f);
        compress->teacherCheck()->setChecked(false);
        QVERIFY(!compress->recipe().finetune.distill);
    }

    void settingsAreRemembered()
    {
        {
            DistillView view;
            view.temperatureSpin()->setValue(6.5);
            view.alphaSpin()->setValue(0.9);
            view.featuresEdit()->setText(QStringLiteral("conv2"));
            view.findChild<QSpinBox *>(QStringLiteral("augmentShift"))->setValue(3);
        }
        DistillView view;
        QCOMPARE(view.temperatureSpin()->value(), 6.5);
        QCOMPARE(view.alphaSpin()->value(), 0.9);
        QCOMPARE(view.featuresEdit()->text(), QStringLiteral("conv2"));
        QCOMPARE(view.jobOptions().distill.features, std::vector<std::string>{"conv2"});
        QCOMPARE(view.jobOptions().train.augment.shift, 3);
        view.findChild<QSpinBox *>(QStringLiteral("augmentShift"))->setValue(0); // the other tests train without
    }
};

QTEST_MAIN(TestGuiDistill)
#include "test_gui_distill.moc"
