// CompressView: the "Compress" tab — configure a recipe layer by layer, see its predicted size and error
// live, and run it as compression jobs whose measured variants are listed for comparison and export.
//
//   - Global controls set the recipe's defaults for every layer: a pruning method and ratio, a weight
//     bit-width and granularity (each applied with its button), 8-bit activations with their calibration,
//     and fine-tuning epochs. "Distribute by sensitivity" turns one global target (a mean pruning ratio or an
//     average bit-width) into per-layer settings from the model's stored sensitivity analysis
//     (core/compress/allocate.h); without one it distributes uniformly and says to run the Sensitivity tab.
//   - The table (RecipeTableModel) edits each layer in place. Every change — in place, global, allocated,
//     or a loaded recipe — is one step on a QUndoStack (Ctrl+Z / Ctrl+Shift+Z).
//   - Below the table, the predicted model size and weight error (a prediction; the jobs measure the file)
//     and a chart of each layer's bytes now and predicted.
//   - Recipes are saved and loaded as JSON (core/compress/recipe.h); a bad file is reported, nothing changes.
//   - Compress starts a CompressJob with stage and percent progress, Cancel and a log panel. Jobs started
//     while one runs wait in a queue (and can be removed from it). A finished job adds a variant to the project
//     (ProjectDocument, with its provenance): the variants table lists the project's variants with their recipe
//     summary and measured metrics next to the base model's; a selected variant can be exported (.h5 / .onnx),
//     removed (Delete; undoable on the document's stack) or opened as the model. A cancelled or failed job adds
//     nothing; the base model is never modified.
// The view reads the base model and the variants from the document and keeps no copy of them. setModel() tells
// it the document holds another project (it cancels the jobs of the previous one); a view made without a
// document (tests) keeps one of its own, which setModel() fills.
// The controls' values are remembered across sessions (QSettings, "compress/…").
#pragma once

#include <QList>
#include <QPointer>
#include <QWidget>

#include <memory>
#include <optional>
#include <vector>

#include "core/cluster/sweep.h"
#include "core/compress/allocate.h"
#include "core/compress/compress.h"
#include "core/compress/recipe.h"
#include "core/graph/graph.h"
#include "core/project/project.h"
#include "ui/datafit.h"
#include "ui/modelinputs.h"
#include "ui/jobs/compressjob.h"

class QCheckBox;
class QComboBox;
class QCustomPlot;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QListWidget;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QSplitter;
class QStandardItemModel;
class QTableView;
class QToolButton;
class QUndoStack;

namespace cw::ui {

class ProjectDocument;
class RecipeTableModel;
class SaveModelJob;

class CompressView : public QWidget {
    Q_OBJECT
public:
    explicit CompressView(ProjectDocument *document = nullptr, QWidget *parent = nullptr);
    ~CompressView() override;

    // A new project: cancels the running job, empties the queue, and starts from the recipe the global controls
    // describe. nullptr = no model.
    void setModel(const cw::Model *model);
    void setDataset(const QString &datasetSpec);
    QString datasetSpec() const { return m_datasetSpec; }
    void setTrainingData(const QString &spec);
    QString trainingData() const;
    void setEvaluationLimit(qint64 limit);
    qint64 evaluationLimit() const;
    // Pipeline options for the next jobs (threads 0 = compressThreads(); evalLimit comes from the control).
    void setCompressOptions(const cw::CompressOptions &options) { m_options = options; }
    const cw::CompressOptions &compressOptions() const { return m_options; }
    // Sizes for the graph inputs (they replace compressOptions().inputs in each job) and whether the model can
    // run (modelinputs.h).
    void setRunInputs(const RunInputs &inputs);

    // The recipe being edited.
    const cw::Recipe &recipe() const;
    // Replaces the recipe as one undoable step (false, with the reason in statusText(), if it does not fit
    // the model).
    bool setRecipe(const cw::Recipe &recipe, const QString &description);
    const cw::ModelPrediction &prediction() const;
    QString predictionText() const;
    bool loadRecipeFile(const QString &path);
    bool saveRecipeFile(const QString &path);

    // The global controls' actions (also what their buttons do).
    void applyPruneToAll();
    void applyBitsToAll();
    bool distributeBySensitivity();
    // The teacher of distilling fine-tuning: the base model (an empty path) or the model file at `path`
    // (cwb compress --teacher), which Other model… in the teacher list chooses.
    void setTeacherModel(const QString &path);
    QString teacherModel() const;

    // Starts a job with the current recipe, or queues it behind the running one. False (reason in
    // statusText()) if no model is open, the model cannot run, the recipe does not fit the model, or input
    // sizes for the latency runs are missing (then inputsNeeded() is emitted too).
    bool compress(const QString &name = {});
    void cancel();
    void cancelAll(); // the queue and the running job
    bool isRunning() const { return m_job != nullptr; }
    CompressJob *job() const { return m_job; }
    QStringList queuedNames() const;
    bool removeQueued(int index);

    ProjectDocument *document() const { return m_document; }
    // The project's variants and the base's metrics (the document's).
    const std::vector<cw::ProjectVariant> &variants() const;
    const std::optional<cw::VariantMetrics> &baseMetrics() const;
    // Selects variant `index` in the variants table (-1: none).
    void selectVariant(int index);
    // Writes variant `index` (format by extension) on a worker thread; exportFinished() follows.
    bool exportVariant(int index, const QString &path);

    QString statusText() const;
    // The recipe edits' stack; its Undo / Redo buttons take Ctrl+Z / Ctrl+Shift+Z unless the window's Edit menu
    // does (setUndoShortcutsEnabled(false)).
    QUndoStack *undoStack() const { return m_undo; }
    void setUndoShortcutsEnabled(bool enabled);
    RecipeTableModel *tableModel() const { return m_tableModel; }
    QTableView *table() const { return m_table; }
    QComboBox *pruneMethodCombo() const { return m_pruneMethod; }
    QDoubleSpinBox *pruneRatioSpin() const { return m_pruneRatio; }
    QComboBox *bitsCombo() const { return m_bits; }
    QComboBox *granularityCombo() const { return m_granularity; }
    QCheckBox *activationsCheck() const { return m_activations; }
    QSpinBox *epochsSpin() const { return m_epochs; }
    QCheckBox *teacherCheck() const { return m_teacher; }
    QComboBox *teacherModelCombo() const { return m_teacherModel; }
    QComboBox *targetKindCombo() const { return m_targetKind; }
    QDoubleSpinBox *targetSpin() const { return m_target; }
    QPushButton *compressButton() const { return m_compressButton; }
    QPushButton *cancelButton() const { return m_cancelButton; }
    QProgressBar *progressBar() const { return m_progress; }
    QPlainTextEdit *logPanel() const { return m_log; }
    QListWidget *queueList() const { return m_queueList; }
    QTableView *variantTable() const { return m_variantTable; }
    QStandardItemModel *variantModel() const { return m_variantModel; }
    QCustomPlot *chart() const { return m_chart; }
    DataFitNotice *trainingDataNotice() const { return m_trainFit; }

    // The form's recipe as a plan for a cluster (a "recipes" plan of one item, the cwb compress command of the job
    // Compress would start); nullopt with the reason in statusText().
    std::optional<cw::cluster::SweepPlan> clusterPlan();
    QPushButton *clusterButton() const { return m_clusterButton; }

signals:
    // Every line of the job log, also for the window's Log panel.
    void logged(const QString &line);
    void recipeChanged();
    void jobStarted(const QString &name);
    void jobFinished(bool succeeded); // after success, failure or cancel of each job
    void variantAdded(int index);
    // "Open as Model" on variant `index`: the window makes it the open model (to compress a distilled student).
    void openVariantRequested(int index);
    void profileVariantRequested(int index); // Profile…: where the selected variant's time goes
    void queueChanged();
    void exportFinished(bool ok);
    void errorOccurred(const QString &message);
    void inputsNeeded(const QString &reason);
    void clusterRequested();

private:
    void log(const QString &line); // into the log panel, and logged()
    friend class RecipeCommand;
    void applyRecipe(const cw::Recipe &recipe); // from the undo commands
    const cw::Model *base() const;              // the document's base model
    void onVariantAdded(int index);
    void edit(const cw::Recipe &recipe, const QString &description);
    // The job Compress would start for the form (named `name`, or by the recipe); nullopt with the reason said.
    std::optional<CompressParams> jobParams(const QString &name);
    cw::Recipe recipeFromControls() const;
    // The fine-tuning teacher's settings from the T and α controls (features of `current` kept).
    cw::DistillConfig distillFromControls(const std::optional<cw::DistillConfig> &current) const;
    // `a` with the calibration, samples and fidelity floor controls (a floor of 0 is none).
    cw::ActivationQuantConfig activationsFromControls(cw::ActivationQuantConfig a) const;
    cw::TrainOptions::Augment augmentFromControls() const;
    void syncControls();
    void updatePrediction();
    void updateChart();
    // The bytes chart's layer names on its axis, as many as its width has room for; false when they are already
    // so (run again after each layout of the chart).
    bool labelChartAxis();
    void updateControls();
    void checkTrainingData(); // starts m_trainFit on the field's data
    void showTrainingDataProblem(); // m_trainFit's verdict, when the recipe reads training data
    // Index into variants() of the selected row, -1 for none (or the base row).
    int selectedVariant() const;
    void updateQueue();
    void updateVariants();
    void setStatus(const QString &text, bool error = false);
    void launch(CompressParams params);
    void onJobFinished(CompressJob *job);
    void readSettings();
    void writeSettings() const;
    void loadDialog();
    void saveDialog();
    void exportDialog();

    ProjectDocument *m_document;
    bool m_ownsDocument;
    std::optional<cw::Model> m_form; // the base's compressionForm: what the recipe table plans and predicts
    QString m_datasetSpec = QStringLiteral("fashion-mnist");
    cw::CompressOptions m_options;
    RunInputs m_runInputs;
    QUndoStack *m_undo = nullptr;
    RecipeTableModel *m_tableModel = nullptr;
    bool m_syncing = false;

    QPointer<CompressJob> m_job;
    bool m_jobSucceeded = false;
    QList<CompressParams> m_queue;
    int m_jobCounter = 0;
    qint64 m_baseEvalLimit = -1; // the evaluation subset the base's metrics were measured on (-1: unknown)
    QPointer<SaveModelJob> m_exportJob;
    QString m_status;

    // Global controls
    QComboBox *m_pruneMethod = nullptr;
    QDoubleSpinBox *m_pruneRatio = nullptr;
    QPushButton *m_applyPrune = nullptr;
    QCheckBox *m_reconstruct = nullptr; // channel pruning: refit the layers after pruned ones (prune.reconstruct)
    QComboBox *m_bits = nullptr;
    QComboBox *m_granularity = nullptr;
    QPushButton *m_applyBits = nullptr;
    QCheckBox *m_activations = nullptr;
    QComboBox *m_calibration = nullptr;
    QSpinBox *m_calibrationSamples = nullptr;
    QDoubleSpinBox *m_fidelityFloor = nullptr; // quantize.activations.min_sqnr_db; 0: none
    QSpinBox *m_epochs = nullptr;
    QCheckBox *m_teacher = nullptr;          // fine-tune with a teacher
    QComboBox *m_teacherModel = nullptr;     // the base model, or a file (item data: its path)
    QDoubleSpinBox *m_temperature = nullptr, *m_alpha = nullptr;
    QSpinBox *m_augmentShift = nullptr; // fine-tuning batches shifted by up to this many pixels
    QCheckBox *m_augmentFlip = nullptr; // and mirrored
    QComboBox *m_targetKind = nullptr;
    QDoubleSpinBox *m_target = nullptr;
    QPushButton *m_distribute = nullptr;
    QToolButton *m_undoButton = nullptr;
    QToolButton *m_redoButton = nullptr;
    QPushButton *m_loadRecipe = nullptr;
    QPushButton *m_saveRecipe = nullptr;

    QTableView *m_table = nullptr;
    QSplitter *m_tableSplitter = nullptr;
    QLabel *m_predictionLabel = nullptr;
    QCustomPlot *m_chart = nullptr;
    QStringList m_chartNames; // the chart's bars' names as the axis shows them
    int m_chartWidest = 0;    // the widest of them, in pixels
    int m_chartEvery = 0, m_chartRotation = 0; // every k-th name shown, at this angle (labelChartAxis)

    // Jobs
    QLineEdit *m_variantName = nullptr;
    QLineEdit *m_trainData = nullptr;
    DataFitNotice *m_trainFit = nullptr; // training data that does not fit the model, under the field
    QSpinBox *m_evalLimit = nullptr;
    QPushButton *m_compressButton = nullptr;
    QPushButton *m_clusterButton = nullptr;
    QPushButton *m_cancelButton = nullptr;
    QProgressBar *m_progress = nullptr;
    QListWidget *m_queueList = nullptr;
    QPushButton *m_removeQueued = nullptr;
    QPlainTextEdit *m_log = nullptr;
    QLabel *m_statusLabel = nullptr;

    // Variants
    QTableView *m_variantTable = nullptr;
    QStandardItemModel *m_variantModel = nullptr;
    QPushButton *m_exportVariant = nullptr;
    QPushButton *m_openVariant = nullptr;
    QPushButton *m_profileVariant = nullptr;
    QPushButton *m_removeVariant = nullptr;
};

} // namespace cw::ui
