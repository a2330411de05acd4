// MainWindow: the workbench's main window.
//
// Layout: a filterable, sortable layer table on the left; on the right the model summary panel above a
// parameters-per-layer bar chart (clicking a bar selects the layer's row and vice versa). The status bar
// shows the model's size and parameter count, the last evaluation, and a progress bar with a Cancel
// button while a job runs. Loading, exporting and evaluating all run as Jobs on the thread pool; one job
// runs at a time. A failed open reports the cw::Error message and leaves the previous model open.
//
// The right side is a tab widget of analysis views: "Overview" (summary, chart and the graph panel) and
// "Inspect" (the selected layer up close); further views add themselves with addAnalysisTab(), which also
// gives them a Ctrl+<n> shortcut in the View menu. The selected layer is one table row shared by every
// view: the chart, the graph panel and the Inspect view follow the table, and clicks in them select it.
//
// The open model is the base of a project (ui/projectdocument.h): opening a model starts a new, unsaved project on
// it; File → Open Project / Save Project (As) read and write .cwproj files. Anything that would drop unsaved
// changes or stop a running job (opening another model or project, New / Close Project, quitting) asks first.
// The last project reopens at start-up when "Reopen the last project" (File menu) is on.
//
// A model with operators that have no kernel still opens (cw::LoadOptions::requireKernels off): a banner above
// the content lists the nodes that block it (double-click selects one), and every action that runs the model
// (Evaluate, activation statistics, sensitivity, compression) is disabled with the reason as its tooltip.
// Model → Inputs… (Ctrl+I) gives concrete sizes to symbolic input dimensions and values to inputs; they are
// remembered per model file (ui/modelinputs.h) and feed every job that runs the model. A run that still lacks
// a size opens that dialog instead of starting. The Evaluate dialog's dataset and preprocessing serve every job.
//
// A language model (cw::lm::isLanguageModel: a .gguf / .safetensors file, a Hugging Face folder — File → Open
// Folder… — or the built-in "demo-lm") opens on a worker thread too, without a project: the window then shows
// the LmWorkspace (ui/views/lmworkspace.h: Overview, Inspect, Sensitivity, Evaluate, Generate) in place of the
// layer table and the CNN tabs, the View menu's Ctrl+<n> switch its tabs, Model → Evaluate (Ctrl+R) measures
// its perplexity, and File → Export (Ctrl+E) writes it as a GGUF checkpoint (float32 or float16 matrices).
// Opening a CNN model or a project brings the CNN views back.
#pragma once

#include <QMainWindow>

#include "core/project/lm_project.h"
#include <QPointer>
#include <QStringList>

#include <functional>
#include <memory>
#include <optional>

#include "core/cluster/sweep.h"
#include "core/graph/graph.h"
#include "core/project/project.h"
#include "core/runtime/session.h"
#include "ui/modelinputs.h"
#include "ui/jobs/job.h"
#include "ui/jobs/lmjobs.h"
#include "ui/views/evaluatedialog.h"
#include "ui/views/summarypanel.h"

class QAction;
class QLabel;
class QLineEdit;
class QMenu;
class QProgressBar;
class QSortFilterProxyModel;
class QSplitter;
class QStackedWidget;
class QTabWidget;
class QTableView;
class QUndoGroup;
class QDockWidget;
class QPlainTextEdit;
class QToolButton;

namespace cw {
struct Variant;
}

namespace cw::ui {

class ClusterDialog;

class BlockedNodesPanel;
class CompareView;
class CompressView;
class DistillView;
class InputsDialog;
class GraphPanel;
class InspectView;
class LayerTableModel;
class LmWorkspace;
class ParameterChart;
class ProfileDialog;
class ProjectDocument;
class SensitivityView;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    static constexpr int kMaxRecentFiles = 8;

    explicit MainWindow(QWidget *parent = nullptr);
    ~MainWindow() override;

    // Starts loading a model (a path, "demo" or "demo-resnet") as a new project, a project file (.cwproj), or a
    // language model (cw::lm::isLanguageModel: .gguf, .safetensors, a Hugging Face folder, "demo-lm").
    // Returns false if another job is running or the user keeps the unsaved project (see confirmDiscard).
    // Emits modelLoaded() or, after reporting the error, modelLoadFailed().
    bool openModel(const QString &spec);
    // Writes the project (.cwproj). False, with the error reported, when it fails.
    bool saveProject(const QString &path);
    bool saveProject();
    // A language model's tabs as its project (cw::saveLmProject); false with the error shown.
    bool saveLmProject(const QString &path); // to its file; asks for one (Save As) when it has none
    // Writes the project's report (.pdf or .html, ui/report/reportwriter.h); false with the error reported.
    bool exportReport(const QString &path);
    // What the report and the title call the project: its file name, or the model's for an unsaved one.
    QString projectName() const;
    // A new project on the open base model (its variants and analyses dropped), or none at all; both confirm first.
    bool newProject();
    bool closeProject();
    // A tab's long job as a Slurm job (ClusterDialog, window-modal, non-blocking; clusterDialog() while it is open):
    // the sweep of the Sensitivity tab (a language model's, when one is open), or the recipe of the Compress tab.
    // False, with the reason in the status bar, when the job cannot be planned.
    enum class ClusterSource { Sensitivity, Compress, Distill, Evaluate };
    bool runOnCluster(ClusterSource source = ClusterSource::Sensitivity);
    ClusterDialog *clusterDialog() const;
    // File → Import Results: the parts of a cluster sweep (cwb sweep --shard … -o PART.h5; a folder stands for its
    // part-*.h5) merged (core/cluster/sweep.h) into the project, undoably: a sensitivity sweep as its sensitivity, a
    // recipes plan's variants as its variants. False,
    // with the error reported, for parts that do not merge (a running sweep's missing shards are named) or a
    // sweep of another model than the open one.
    bool importResults(const QStringList &paths);
    // Whether the unsaved project and running jobs may be dropped: true when there is nothing to lose or the
    // user says so (saving first if they choose Save). `action` names what is about to happen.
    bool confirmDiscard(const QString &action);
    // What confirmDiscard asks (tests answer it): returns QMessageBox::Save, Discard or Cancel.
    using Question = std::function<int(const QString &title, const QString &text, bool canSave)>;
    void setQuestionHandler(Question handler) { m_question = std::move(handler); }
    // Any job running anywhere in the window (opening, evaluation, sensitivity, compression, distillation, …).
    bool anyJobRunning() const;
    // Like openModel(), but a failure is explained in the summary panel and the status bar instead of a
    // dialog: used for the demo opened at start-up, which may not be built into this binary.
    bool openStartupModel(const QString &spec);
    // Evaluates the open model on the chosen dataset. Returns false if no model is open, a job runs, the model
    // cannot run, or input sizes are missing (the Inputs dialog then opens).
    bool evaluate(const QString &datasetSpec, qint64 limit);
    bool evaluate() { return evaluate(m_datasetSpec, m_evalLimit); }
    // Model → Evaluate's evaluation (the dataset, limit, preprocessing and inputs of the window) as an "evaluate" plan
    // for a cluster; nullopt with the reason in *why.
    std::optional<cw::cluster::SweepPlan> evaluationPlan(QString *why) const;
    // Writes the open model on a worker thread: a CNN model in the format of the path's extension (.onnx, .h5), a
    // language model as GGUF (cw::lm::exportGguf). `filter` is the one chosen among exportFilter()'s: it gives the
    // extension when the path has none, and for a language model float32 or float16 matrices (ggufF16Filter()).
    // Emits exportFinished(); a failure is reported (errorOccurred) naming the file.
    bool exportModel(const QString &path, const QString &filter = {});
    void cancelJob();

    // The open model's nodes without a kernel (empty: it can run), and the banner that lists them.
    const std::vector<cw::UnsupportedNode> &blockingNodes() const { return m_blocking; }
    BlockedNodesPanel *blockedNodesPanel() const { return m_blockedPanel; }
    // What runs feed the open model's inputs (Model → Inputs…): shapes and values. setModelInputs() checks them
    // (feedOptions), remembers them for the model file and hands them to every view that runs the model;
    // false (with the error reported) when they do not fit the model.
    bool setModelInputs(const ModelInputs &inputs);
    const ModelInputs &modelInputs() const { return m_modelInputs; }
    const RunInputs &runInputs() const { return m_runInputs; }
    // Opens the Inputs dialog (window-modal, non-blocking), with `reason` above its table; accepting it calls
    // setModelInputs(). Null when no model with symbolic input sizes or inputs after the first is open.
    InputsDialog *openInputs(const QString &reason = {});
    QAction *evaluateAction() const { return m_evaluateAct; }
    // Model → Profile Latency…: times the open model's nodes on a worker thread (ProfileJob), then shows where the
    // time goes (ProfileDialog, not modal). False when no model is open, one is not runnable, or a job runs.
    bool profile();
    // The same for variant `index` of the project (the Compress tab's Profile… button).
    bool profileVariant(int index);
    QAction *profileAction() const { return m_profileAct; }
    QAction *inputsAction() const { return m_inputsAct; }

    // Dataset preselected for Evaluate….
    void setDataset(const QString &datasetSpec, qint64 limit);
    QString datasetSpec() const { return m_datasetSpec; }
    qint64 evaluationLimit() const { return m_evalLimit; }
    // How the dataset's rows become the model's input, for every job (Evaluate dialog; remembered).
    void setPreprocessing(const PreprocessChoice &choice);
    const PreprocessChoice &preprocessing() const { return m_preprocess; }

    // Off: errors only go to the status bar and errorOccurred(), and the prompts go ahead (tests, --screenshot runs).
    void setErrorDialogsEnabled(bool enabled) { m_errorDialogs = enabled; }
    // Off: opening a file leaves the recent files and the last project alone (--screenshot and --report runs).
    void setRememberOpenedFiles(bool remember) { m_rememberFiles = remember; }

    // The open project's base model (null when none is open, or a language model is) and how the open model (of
    // either kind) was opened.
    const cw::Model *model() const;
    QString modelSpec() const;
    // The open language model (null when none is) and the views over it.
    const LanguageModelPtr &languageModel() const;
    LmWorkspace *languageModelView() const { return m_lm; }
    ProjectDocument *document() const { return m_document; }
    const std::optional<EvaluationSummary> &evaluation() const { return m_evaluation; }
    QStringList recentFiles() const;
    QString lastError() const { return m_lastError; }
    Job *currentJob() const { return m_job; }
    bool isBusy() const { return m_job != nullptr; }

    LayerTableModel *layerModel() const { return m_layerModel; }
    QSortFilterProxyModel *layerProxy() const { return m_proxy; }
    QTableView *layerTable() const { return m_table; }
    QLineEdit *filterEdit() const { return m_filter; }
    ParameterChart *chart() const { return m_chart; }
    SummaryPanel *summaryPanel() const { return m_summary; }
    QProgressBar *progressBar() const { return m_progress; }
    // View → Log (Ctrl+L): a dock with the lines of every job, timed.
    QPlainTextEdit *logPanel() const { return m_logPanel; }
    QToolButton *cancelButton() const { return m_cancel; }
    QString modelStatusText() const;

    // View → Zoom In / Out / Reset (Ctrl+= / Ctrl+- / Ctrl+0): the application font and every chart's fonts
    // scaled by `factor` (0.5–3) of the size at start; remembered.
    void setZoom(double factor);
    double zoom() const { return m_zoom; }

    // Analysis tabs: appends a view (and a View-menu action with the next Ctrl+<n> shortcut); returns its index.
    int addAnalysisTab(QWidget *view, const QString &title);
    QTabWidget *analysisTabs() const { return m_tabs; }
    // Edit → Undo / Redo: the Compress tab's recipe stack while that tab is in front, else the project's.
    QUndoGroup *undoGroup() const { return m_undoGroup; }
    InspectView *inspectView() const { return m_inspect; }
    GraphPanel *graphPanel() const { return m_graph; }
    // The "Sensitivity" tab; its finished sweeps are stored in the open model's analysis ("sensitivity").
    SensitivityView *sensitivityView() const { return m_sensitivity; }
    // The "Compress" tab: recipe table, compression jobs and the open model's variants.
    CompressView *compressView() const { return m_compress; }
    // The "Compare" tab: the project's variants on trade-off charts, the limits and the recommendation.
    CompareView *compareView() const { return m_compare; }
    // The project to open at start-up instead of the demo ("" for none): the last one opened or saved, when
    // File → Reopen the Last Project at Start is on and it still exists.
    QString lastProjectToReopen() const;
    DistillView *distillView() const { return m_distill; }
    // Makes variant `index` of the project the open model, in a new project (to compress a distilled student
    // further); confirms like opening a model. False when a job runs or the user declines.
    bool openVariant(int index);
    // Selects the layer everywhere (-1 / unknown name: false); a layer inside an If / Loop / Scan, which has no
    // row in the table, in Inspect alone. showInspect() also switches to Inspect.
    bool selectLayer(const QString &name);
    QString selectedLayer() const;
    bool showInspect(const QString &layer);
    QString evaluationStatusText() const;

    // Formats the registered cw::modelFormats() as file dialog filters (Tiled-style); a language model exports to GGUF
    // in float32 or, with ggufF16Filter(), float16 matrices.
    static QString openFilter();
    static QString exportFilter(bool languageModel = false);
    static QString ggufF16Filter();
    static bool isModelFile(const QString &path);

signals:
    void modelLoaded(const QString &spec);
    void modelLoadFailed(const QString &error);
    void evaluationSucceeded();
    void evaluationFinished(); // after success, failure or cancel
    void profileFinished();    // after success (the dialog shown), failure or cancel
    void exportFinished(bool ok);
    void errorOccurred(const QString &message);

protected:
    void closeEvent(QCloseEvent *event) override;
    void dragEnterEvent(QDragEnterEvent *event) override;
    void dropEvent(QDropEvent *event) override;

private:
    void createActions();
    void createCentralWidget();
    // Profiles `model` at the remembered batch and threads; into `dialog` when it asked (Profile Again), else
    // into a new one.
    bool profile(const cw::Model &model, const QString &name, ProfileDialog *dialog = nullptr);
    void createStatusBar();
    void createLogPanel();
    void appendLog(const QString &line); // with the time of day
    void readSettings();
    void writeSettings();

    bool startModelLoad(const QString &spec, bool startup);
    void startLanguageModelLoad(const QString &spec, bool startup);
    // Starts a job that opens `spec` (the document or a language model); a failure goes to reportOpenFailure.
    void startOpenJob(Job *job, const QString &spec, bool startup);
    // `spec` is open: among the recent files when `recent` (and files are remembered), said in the status bar,
    // then modelLoaded().
    void announceOpened(const QString &spec, bool recent);
    // A failed open: the start-up demo's failure explained in the summary panel, any other in a dialog.
    void reportOpenFailure(const QString &spec, bool startup, const QString &error);
    // Shows a language model (nullptr: back to the CNN views, with none open).
    void setLanguageModel(LanguageModelPtr model, const QString &spec);
    void updateTabActions(); // the View menu's Ctrl+<n> follow the tabs on screen
    // The document holds a new project (or none); onProjectReset() makes every view follow.
    void setProject(std::optional<cw::Project> project, const QString &fileName);
    void onProjectReset();
    void updateRunInputs();
    void startJob(Job *job);
    void onJobProgress(double fraction, const QString &stage);
    // Idempotent: the result handlers call it first, so a slot reacting to modelLoaded() can start the
    // next job at once; finished() calls it again.
    void releaseJob(Job *job);
    void showError(const QString &title, const QString &message);
    void updateActions();
    void updateTitle();
    void updateStatus();

    void openDialog();
    void openFolderDialog();
    void exportReportDialog();
    void exportDialog();
    void evaluateDialog();
    void about();
    void addRecentFile(const QString &path);
    void removeRecentFile(const QString &path);
    void openRecentFile(const QString &path);
    void updateRecentMenu();
    void onTableRowChanged();
    void onChartLayerClicked(int row);

    static QString displayName(const QString &spec);

    // Model state
    ProjectDocument *m_document = nullptr;
    Question m_question;
    double m_unzoomedPointSize;
    double m_zoom = 1.0;
    std::optional<EvaluationSummary> m_evaluation;
    std::vector<cw::UnsupportedNode> m_blocking;
    ModelInputs m_modelInputs;
    RunInputs m_runInputs;
    QString m_datasetSpec = QStringLiteral("fashion-mnist");
    qint64 m_evalLimit = 0;
    PreprocessChoice m_preprocess;
    QStringList m_recentDatasets;

    QPointer<Job> m_job;
    bool m_errorDialogs = true;
    bool m_rememberFiles = true;
    QString m_lastError;

    // Views
    BlockedNodesPanel *m_blockedPanel = nullptr;
    QPointer<InputsDialog> m_inputsDialog;
    LayerTableModel *m_layerModel = nullptr;
    QSortFilterProxyModel *m_proxy = nullptr;
    QTableView *m_table = nullptr;
    QLineEdit *m_filter = nullptr;
    ParameterChart *m_chart = nullptr;
    SummaryPanel *m_summary = nullptr;
    QTabWidget *m_tabs = nullptr;
    InspectView *m_inspect = nullptr;
    SensitivityView *m_sensitivity = nullptr;
    CompressView *m_compress = nullptr;
    CompareView *m_compare = nullptr;
    DistillView *m_distill = nullptr;
    GraphPanel *m_graph = nullptr;
    QSplitter *m_overviewSplitter = nullptr;
    QMenu *m_viewMenu = nullptr;
    QUndoGroup *m_undoGroup = nullptr;
    QDockWidget *m_logDock = nullptr;
    QPlainTextEdit *m_logPanel = nullptr;
    QMetaObject::Connection m_focusConnection; // the undo group following the focus
    QSplitter *m_mainSplitter = nullptr;
    QStackedWidget *m_pages = nullptr; // m_mainSplitter (CNN models and projects) or m_lm
    LmWorkspace *m_lm = nullptr;
    QString m_lmSpec;
    // A language model's project: its file ("" until saved), its base record (the checkpoint's digest, made at the
    // first save or read from the file) and whether the tabs hold what it does not.
    QString m_lmProjectPath;
    std::optional<cw::LmProject> m_lmBase;
    bool m_lmModified = false;
    QList<QAction *> m_tabActions, m_lmTabActions; // View → the CNN tabs, the language-model tabs
    QSplitter *m_sideSplitter = nullptr;
    QLabel *m_modelStatus = nullptr;
    QLabel *m_evalStatus = nullptr;
    QWidget *m_evalSeparator = nullptr;
    QProgressBar *m_progress = nullptr;
    QToolButton *m_cancel = nullptr;

    // Actions
    QAction *m_openAct = nullptr;
    QAction *m_openDemoAct = nullptr;
    QAction *m_openDemoResnetAct = nullptr;
    QAction *m_openDemoLmAct = nullptr;
    QAction *m_openFolderAct = nullptr;
    QAction *m_exportAct = nullptr;
    QAction *m_newProjectAct = nullptr;
    QAction *m_saveProjectAct = nullptr;
    QAction *m_saveProjectAsAct = nullptr;
    QAction *m_closeProjectAct = nullptr;
    QAction *m_exportReportAct = nullptr;
    QAction *m_importResultsAct = nullptr;
    QPointer<ClusterDialog> m_clusterDialog;
    QAction *m_reopenLastAct = nullptr;
    QAction *m_evaluateAct = nullptr;
    QAction *m_profileAct = nullptr;
    QAction *m_inputsAct = nullptr;
    QMenu *m_recentMenu = nullptr;
};

} // namespace cw::ui
