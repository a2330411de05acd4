// DistillView (the Distill tab): knowledge distillation from the open model (the teacher) into a smaller student.
//
// Left: the student (a slimmed copy of the teacher with its predicted parameters and size, a demo architecture
// at a width, or a model file), the losses with a one-line explanation each (temperature, alpha, features and
// their loss and weight), training settings and data. Right: live curves — the training loss of every step
// split into its hard / soft / feature parts, and per epoch the student's validation accuracy (or top-1
// agreement with the teacher when the evaluation data has no labels) with the teacher's as a dashed line —
// and the job's log. A finished student is a variant (variantReady), which the window adds to the project; the
// Compress tab's table lists it, where it can be exported or compared. Settings are remembered (QSettings group "distill").
#pragma once

#include <QWidget>

#include <memory>
#include <optional>

#include "core/cluster/sweep.h"
#include "core/io/dataset.h"
#include "core/compress/compress.h"
#include "core/compress/distill.h"
#include "core/project/project.h"
#include "ui/datafit.h"
#include "ui/jobs/distilljob.h"
#include "ui/modelinputs.h"

class QCheckBox;
class QComboBox;
class QCustomPlot;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QStackedWidget;

namespace cw::ui {

class DistillJob;

class DistillView : public QWidget {
    Q_OBJECT
public:
    explicit DistillView(QWidget *parent = nullptr);
    ~DistillView() override;

    // The teacher (nullptr = no model). Cancels a running job and clears the curves.
    void setModel(const cw::Model *model);
    void setDataset(const QString &spec);
    void setRunInputs(const RunInputs &inputs);

    // Starts distillation with the current settings; false (reason in statusText()) when it cannot start.
    bool distill();
    void cancel();
    bool isRunning() const { return m_job != nullptr; }
    QString statusText() const { return m_status; }

    // The student and losses the controls describe.
    cw::StudentSpec studentSpec() const;
    cw::DistillJobOptions jobOptions() const;
    // The distillation the controls describe as a plan for a cluster (cwb distill's arguments, core/cluster/sweep.h);
    // nullopt with the reason in statusText().
    std::optional<cw::cluster::SweepPlan> clusterPlan();
    QPushButton *clusterButton() const { return m_clusterButton; }

    QComboBox *studentKindCombo() const { return m_kind; }
    QDoubleSpinBox *slimSpin() const { return m_slim; }
    QDoubleSpinBox *widthSpin() const { return m_width; }
    QLabel *predictionLabel() const { return m_prediction; }
    QDoubleSpinBox *temperatureSpin() const { return m_temperature; }
    QDoubleSpinBox *alphaSpin() const { return m_alpha; }
    QLineEdit *featuresEdit() const { return m_features; }
    QSpinBox *epochsSpin() const { return m_epochs; }
    QLineEdit *trainDataEdit() const { return m_trainData; }
    DataFitNotice *trainingDataNotice() const { return m_trainFit; }
    QLabel *alphaNote() const { return m_alphaNote; }
    QSpinBox *evalLimitSpin() const { return m_evalLimit; }
    QPushButton *distillButton() const { return m_run; }
    QPushButton *cancelButton() const { return m_cancel; }
    QProgressBar *progressBar() const { return m_progress; }
    QCustomPlot *lossChart() const { return m_lossChart; }
    QCustomPlot *accuracyChart() const { return m_accuracyChart; }
    QPlainTextEdit *logPanel() const { return m_log; }

signals:
    // Every line of the job log, also for the window's Log panel.
    void logged(const QString &line);
    // The student with its provenance (the cwb command that trains it again, the data).
    void variantReady(const cw::ProjectVariant &variant);
    void jobStarted(const QString &name);
    void jobFinished(bool succeeded);
    void errorOccurred(const QString &message);
    void clusterRequested();

private:
    // The job Distil would start (named `name`); nullopt with the reason said.
    std::optional<DistillParams> jobParams(const QString &name);
    void log(const QString &line); // into the log panel, and logged()
    void updatePrediction();
    void updateControls();
    void clearCurves();
    void checkTrainingData();
    void showTrainingDataProblem();
    void addStep(const cw::StepStats &step);
    void addEpoch(const cw::DistillEpoch &epoch);
    void setStatus(const QString &text, bool error = false);
    void readSettings();
    void writeSettings() const;

    const cw::Model *m_teacher = nullptr; // the window's model (the document's base): valid until the next setModel
    QString m_evalSpec = QStringLiteral("fashion-mnist");
    RunInputs m_runInputs;
    DistillJob *m_job = nullptr;
    QString m_status;
    int m_runs = 0;
    bool m_succeeded = false; // the running job delivered its student

    QComboBox *m_kind = nullptr;
    QStackedWidget *m_kindPages = nullptr;
    QDoubleSpinBox *m_slim = nullptr;
    QCheckBox *m_dropBlocks = nullptr;
    QComboBox *m_arch = nullptr;
    QDoubleSpinBox *m_width = nullptr;
    QLineEdit *m_studentFile = nullptr;
    QCheckBox *m_fresh = nullptr, *m_augmentFlip = nullptr;
    QLabel *m_prediction = nullptr;
    QDoubleSpinBox *m_temperature = nullptr, *m_alpha = nullptr, *m_featureWeight = nullptr, *m_lr = nullptr;
    QLineEdit *m_features = nullptr;
    QComboBox *m_featureLoss = nullptr;
    QSpinBox *m_epochs = nullptr, *m_batch = nullptr, *m_seed = nullptr, *m_evalLimit = nullptr, *m_augmentShift = nullptr;
    QLineEdit *m_trainData = nullptr;
    DataFitNotice *m_trainFit = nullptr; // training data that does not fit the teacher, under the field
    QLabel *m_alphaNote = nullptr;        // under α while the training data has no labels
    QPushButton *m_run = nullptr, *m_cancel = nullptr, *m_clusterButton = nullptr;
    QProgressBar *m_progress = nullptr;
    QLabel *m_statusLabel = nullptr;
    QCustomPlot *m_lossChart = nullptr, *m_accuracyChart = nullptr;
    QPlainTextEdit *m_log = nullptr;
};

} // namespace cw::ui

Q_DECLARE_METATYPE(cw::ProjectVariant)
