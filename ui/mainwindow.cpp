#include "ui/mainwindow.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QFrame>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QRegularExpression>
#include <QSettings>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QStackedWidget>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableView>
#include <QThread>
#include <QTime>
#include <QToolButton>
#include <QUndoGroup>
#include <QUndoStack>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include "core/base/error.h"
#include "core/cluster/sweep.h"
#include "core/io/model_io.h"
#include "core/lm/defaults.h"
#include "core/lm/model.h"
#include "resources/demo_data.h"
#include "ui/charts/chartfonts.h"
#include "ui/charts/parameterchart.h"
#include "ui/formatting.h"
#include "ui/jobs/evaluatejob.h"
#include "ui/jobs/profilejob.h"
#include "ui/jobs/modeljobs.h"
#include "ui/projectdocument.h"
#include "ui/report/reportwriter.h"
#include "ui/models/layertablemodel.h"
#include "ui/rowtable.h"
#include "ui/views/blockednodespanel.h"
#include "ui/views/clusterdialog.h"
#include "ui/views/compareview.h"
#include "ui/views/compressview.h"
#include "ui/views/distillview.h"
#include "ui/views/evaluatedialog.h"
#include "ui/views/profiledialog.h"
#include "ui/views/graphpanel.h"
#include "ui/views/inputsdialog.h"
#include "ui/views/inspectview.h"
#include "ui/views/lmworkspace.h"
#include "ui/views/lmcompressview.h"
#include "ui/views/lmevaluateview.h"
#include "ui/views/lmsensitivityview.h"
#include "ui/views/sensitivityview.h"

namespace cw::ui {

namespace {
const char kRecentFilesKey[] = "recentFiles";
const char kOpenDirKey[] = "lastDirs/open";
const char kExportDirKey[] = "lastDirs/export";
const char kDatasetDirKey[] = "lastDirs/dataset";
const char kAppName[] = "Compression Workbench";
const char kReopenLastKey[] = "project/reopenLast";
const char kProfileBatchKey[] = "profile/batch";
const char kProfileThreadsKey[] = "profile/threads";
const char kLastProjectKey[] = "project/last";
const char kProjectDirKey[] = "lastDirs/project";

// View-menu entry for analysis tab `index`: Ctrl+1 … Ctrl+9 in tab order.
QAction *addTabAction(QMenu *menu, QTabWidget *tabs, int index)
{
    QAction *action = menu->addAction(tabs->tabText(index), tabs, [tabs, index]() { tabs->setCurrentIndex(index); });
    if (index < 9)
        action->setShortcut(QKeySequence(Qt::CTRL | Qt::Key(Qt::Key_1 + index)));
    return action;
}

QString settingsDir(const char *key)
{
    const QString dir = QSettings().value(QLatin1String(key)).toString();
    return dir.isEmpty() || !QFileInfo(dir).isDir() ? QDir::homePath() : dir;
}
} // namespace

MainWindow::MainWindow(QWidget *parent)
    : QMainWindow(parent), m_document(new ProjectDocument(this)), m_unzoomedPointSize(QApplication::font().pointSizeF())
{
    setObjectName(QStringLiteral("mainWindow"));
    setAcceptDrops(true);
    connect(m_document, &ProjectDocument::modifiedChanged, this, &MainWindow::updateTitle);
    connect(m_document, &ProjectDocument::projectReset, this, &MainWindow::onProjectReset);
    connect(m_document, &ProjectDocument::fileNameChanged, this, [this]() {
        updateTitle();
        updateActions();
    });
    createCentralWidget();
    createLogPanel();
    createActions();
    createStatusBar();
    readSettings();
    m_summary->setFocus(); // see setModel()
    updateTitle();
    updateStatus();
    updateActions();
}

MainWindow::~MainWindow()
{
    // The children's destructors move the focus: follow() must not run on a half-destroyed window.
    disconnect(m_focusConnection);
    if (m_zoom != 1.0) { // the application font is the process's, not this window's
        QFont font = QApplication::font();
        font.setPointSizeF(m_unzoomedPointSize);
        QApplication::setFont(font);
    }
    // A running job is a child and waits for its worker in its destructor; ask it to stop first.
    if (m_job)
        m_job->cancel();
}

// ---------------------------------------------------------------------------------------------------
// Construction

void MainWindow::createCentralWidget()
{
    m_layerModel = new LayerTableModel(this);
    m_proxy = new QSortFilterProxyModel(this);
    m_proxy->setSourceModel(m_layerModel);
    m_proxy->setSortRole(LayerTableModel::SortRole);
    m_proxy->setFilterCaseSensitivity(Qt::CaseInsensitive);
    m_proxy->setFilterKeyColumn(-1);

    m_filter = new QLineEdit;
    m_filter->setObjectName(QStringLiteral("layerFilter"));
    m_filter->setPlaceholderText(tr("Filter layers by name, op or shape…"));
    m_filter->setClearButtonEnabled(true);
    connect(m_filter, &QLineEdit::textChanged, m_proxy, &QSortFilterProxyModel::setFilterFixedString);

    m_table = newRowTable(QStringLiteral("layerTable"), m_proxy);
    m_table->setSortingEnabled(true);
    m_table->sortByColumn(-1, Qt::AscendingOrder); // graph order until the user clicks a header
    m_table->setAlternatingRowColors(true);
    m_table->setWordWrap(false);
    m_table->setTextElideMode(Qt::ElideMiddle);
    m_table->verticalHeader()->setDefaultSectionSize(m_table->fontMetrics().height() + 8);
    m_table->horizontalHeader()->setHighlightSections(false);
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
    // What compression changes (parameters, bytes) stays in view in a narrow pane; the input shapes, which
    // repeat the previous row's output, go last.
    m_table->horizontalHeader()->moveSection(m_table->horizontalHeader()->visualIndex(LayerTableModel::Inputs),
                                             m_table->horizontalHeader()->count() - 1);
    m_table->horizontalHeader()->setStretchLastSection(true);
    connect(m_table->selectionModel(), &QItemSelectionModel::currentRowChanged, this, &MainWindow::onTableRowChanged);
    connect(m_proxy, &QAbstractItemModel::modelReset, this, &MainWindow::onTableRowChanged);

    auto *tableTitle = new QLabel(tr("<b>Layers</b>"));
    auto *left = new QWidget;
    auto *leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(6, 6, 3, 0);
    auto *filterRow = new QHBoxLayout;
    filterRow->addWidget(tableTitle);
    filterRow->addSpacing(12);
    filterRow->addWidget(m_filter, 1);
    leftLayout->addLayout(filterRow);
    leftLayout->addWidget(m_table);

    m_summary = new SummaryPanel;
    m_summary->setAcceptDrops(false);
    m_chart = new ParameterChart;
    m_chart->setObjectName(QStringLiteral("parameterChart"));
    connect(m_chart, &ParameterChart::layerClicked, this, &MainWindow::onChartLayerClicked);

    m_graph = new GraphPanel;
    connect(m_graph, &GraphPanel::layerClicked, this, &MainWindow::onChartLayerClicked);
    m_overviewSplitter = new QSplitter(Qt::Horizontal);
    m_overviewSplitter->setObjectName(QStringLiteral("overviewSplitter"));
    m_overviewSplitter->addWidget(m_chart);
    m_overviewSplitter->addWidget(m_graph);
    m_overviewSplitter->setStretchFactor(0, 1);
    m_overviewSplitter->setStretchFactor(1, 0);
    m_overviewSplitter->setChildrenCollapsible(false);

    m_sideSplitter = new QSplitter(Qt::Vertical);
    m_sideSplitter->setObjectName(QStringLiteral("sideSplitter"));
    m_sideSplitter->addWidget(m_summary);
    m_sideSplitter->addWidget(m_overviewSplitter);
    m_sideSplitter->setStretchFactor(0, 0);
    m_sideSplitter->setStretchFactor(1, 1);
    m_sideSplitter->setSizes({340, 520});
    m_sideSplitter->setChildrenCollapsible(false);

    m_mainSplitter = new QSplitter(Qt::Horizontal);
    m_mainSplitter->setObjectName(QStringLiteral("mainSplitter"));
    m_inspect = new InspectView;
    m_inspect->setDataset(m_datasetSpec);
    m_tabs = new QTabWidget;
    m_tabs->setObjectName(QStringLiteral("analysisTabs"));
    m_tabs->setDocumentMode(true);
    addAnalysisTab(m_sideSplitter, tr("Overview"));
    addAnalysisTab(m_inspect, tr("Inspect"));
    m_sensitivity = new SensitivityView;
    m_sensitivity->setDataset(m_datasetSpec);
    // A finished sweep becomes part of the project's base model, so saving keeps it and reopening shows it.
    connect(m_sensitivity, &SensitivityView::resultReady, this, [this](const QString &json) {
        m_document->setAnalysis(QString::fromLatin1(cw::kSensitivityKey), json);
    });
    connect(m_sensitivity, &SensitivityView::layerSelected, this, [this](const QString &name) { selectLayer(name); });
    connect(m_sensitivity, &SensitivityView::clusterRequested, this, [this]() { runOnCluster(); });
    addAnalysisTab(m_sensitivity, tr("Sensitivity"));
    m_compress = new CompressView(m_document);
    connect(m_compress, &CompressView::clusterRequested, this, [this]() { runOnCluster(ClusterSource::Compress); });
    m_compress->setDataset(m_datasetSpec);
    addAnalysisTab(m_compress, tr("Compress"));
    m_distill = new DistillView;
    m_distill->setDataset(m_datasetSpec);
    connect(m_distill, &DistillView::clusterRequested, this, [this]() { runOnCluster(ClusterSource::Distill); });
    // A distilled student is a variant like any other: exported, compared and measured in the Compress tab.
    connect(m_distill, &DistillView::variantReady, m_document,
            [this](const cw::ProjectVariant &variant) { m_document->addVariant(variant); });
    addAnalysisTab(m_distill, tr("Distill"));
    m_compare = new CompareView(m_document);
    addAnalysisTab(m_compare, tr("Compare"));
    connect(m_compare, &CompareView::variantSelected, m_compress, &CompressView::selectVariant);
    connect(m_compress, &CompressView::openVariantRequested, this, &MainWindow::openVariant);
    connect(m_compress, &CompressView::profileVariantRequested, this, &MainWindow::profileVariant);
    // An undone or redone sweep shows as stored.
    connect(m_document, &ProjectDocument::analysisChanged, this, [this](const QString &key) {
        if (key != QLatin1String(cw::kSensitivityKey) || !model() || m_sensitivity->isRunning())
            return;
        const auto stored = model()->analysis.find(cw::kSensitivityKey);
        const QString json = stored == model()->analysis.end() ? QString() : QString::fromStdString(stored->second);
        if (json != m_sensitivity->resultJson())
            m_sensitivity->setModel(model());
    });
    // Activation histograms Inspect collects are kept with the project (saved with it; not a modification).
    connect(m_inspect, &InspectView::activationsCollected, this, [this](const QString &json) {
        m_document->cacheAnalysis(QString::fromLatin1(cw::kActivationsKey), json);
    });
    // A run that lacks input sizes asks for them.
    const auto askForInputs = [this](const QString &reason) { openInputs(reason); };
    connect(m_inspect, &InspectView::inputsNeeded, this, askForInputs);
    connect(m_sensitivity, &SensitivityView::inputsNeeded, this, askForInputs);
    connect(m_compress, &CompressView::inputsNeeded, this, askForInputs);

    m_mainSplitter->addWidget(left);
    m_mainSplitter->addWidget(m_tabs);
    m_mainSplitter->setStretchFactor(0, 2);
    m_mainSplitter->setStretchFactor(1, 3);
    m_mainSplitter->setSizes({560, 840});
    m_mainSplitter->setChildrenCollapsible(false);

    m_lm = new LmWorkspace;
    m_pages = new QStackedWidget;
    m_pages->setObjectName(QStringLiteral("pages"));
    m_pages->addWidget(m_mainSplitter);
    m_pages->addWidget(m_lm);
    connect(m_lm, &LmWorkspace::evaluationChanged, this, &MainWindow::updateStatus);

    m_blockedPanel = new BlockedNodesPanel;
    connect(m_blockedPanel, &BlockedNodesPanel::nodeActivated, this, [this](const QString &name) { selectLayer(name); });
    auto *central = new QWidget;
    auto *centralLayout = new QVBoxLayout(central);
    centralLayout->setContentsMargins(0, 0, 0, 0);
    centralLayout->setSpacing(0);
    auto *bannerRow = new QHBoxLayout;
    bannerRow->setContentsMargins(6, 6, 6, 0);
    bannerRow->addWidget(m_blockedPanel);
    centralLayout->addLayout(bannerRow);
    centralLayout->addWidget(m_pages, 1);
    setCentralWidget(central);
}

void MainWindow::createActions()
{
    QMenu *file = menuBar()->addMenu(tr("&File"));
    m_openAct = file->addAction(tr("&Open…"), this, &MainWindow::openDialog);
    m_openAct->setShortcut(QKeySequence::Open);
    m_openAct->setToolTip(tr("Open a model (a new project on it) or a project file"));
    m_openFolderAct = file->addAction(tr("Open &Folder…"), this, &MainWindow::openFolderDialog);
    m_openFolderAct->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O));
    m_openFolderAct->setToolTip(tr("Open a Hugging Face checkpoint folder (config.json and .safetensors files)"));
    m_openDemoAct = file->addAction(tr("Open Demo (&CNN)"), this, [this]() { openModel(QStringLiteral("demo")); });
    m_openDemoResnetAct =
        file->addAction(tr("Open Demo (&ResNet)"), this, [this]() { openModel(QStringLiteral("demo-resnet")); });
    m_openDemoLmAct =
        file->addAction(tr("Open Demo (&Language Model)"), this, [this]() { openModel(QStringLiteral("demo-lm")); });
    m_openDemoLmAct->setObjectName(QStringLiteral("openDemoLmAction"));
    file->setToolTipsVisible(true); // why the demo language model is off
    m_recentMenu = file->addMenu(tr("Open &Recent"));
    m_recentMenu->setObjectName(QStringLiteral("recentMenu"));
    file->addSeparator();
    m_newProjectAct = file->addAction(tr("&New Project"), this, [this]() { newProject(); });
    m_newProjectAct->setShortcut(QKeySequence::New);
    m_newProjectAct->setToolTip(tr("Start again on the open model: its variants and analyses are dropped"));
    m_saveProjectAct = file->addAction(tr("&Save Project"), this, [this]() { saveProject(); });
    m_saveProjectAct->setShortcut(QKeySequence::Save);
    m_saveProjectAsAct = file->addAction(tr("Save Project &As…"), this, [this]() { saveProject(QString()); });
    m_saveProjectAsAct->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_S));
    m_exportReportAct = file->addAction(tr("Export &Report…"), this, &MainWindow::exportReportDialog);
    m_exportReportAct->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_R));
    m_exportReportAct->setToolTip(tr("A PDF or HTML report of the project: recommendation, charts, variants, "
                                     "settings and how to reproduce them"));
    m_importResultsAct = file->addAction(tr("&Import Results…"), this, [this]() {
        const QStringList parts = QFileDialog::getOpenFileNames(
            this, tr("Import Results: the parts of a cluster sweep"), QString(), tr("Sweep parts (*.h5)"));
        if (!parts.isEmpty())
            importResults(parts);
    });
    m_importResultsAct->setObjectName(QStringLiteral("importResultsAction"));
    m_importResultsAct->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_I));
    m_importResultsAct->setToolTip(tr("Merge the parts of a job run on a cluster (Run on Cluster… in the Sensitivity, "
                                      "Compress and Distill tabs) into the open project or language model"));
    m_closeProjectAct = file->addAction(tr("&Close Project"), this, [this]() { closeProject(); });
    m_closeProjectAct->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_W));
    m_reopenLastAct = file->addAction(tr("Reopen the Last Project at Start"));
    m_reopenLastAct->setCheckable(true);
    m_reopenLastAct->setChecked(QSettings().value(QLatin1String(kReopenLastKey), true).toBool());
    connect(m_reopenLastAct, &QAction::toggled, this,
            [](bool on) { QSettings().setValue(QLatin1String(kReopenLastKey), on); });
    file->addSeparator();
    m_exportAct = file->addAction(tr("&Export…"), this, &MainWindow::exportDialog);
    m_exportAct->setObjectName(QStringLiteral("exportAction"));
    m_exportAct->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
    file->addSeparator();
    QAction *quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Q));
    quit->setMenuRole(QAction::QuitRole);

    // Edit → Undo / Redo follow the view in front: the Compress tab's recipe edits there, the project's changes
    // (variants, limits, stored analyses) everywhere else.
    QMenu *edit = menuBar()->addMenu(tr("&Edit"));
    m_undoGroup = new QUndoGroup(this);
    m_undoGroup->addStack(m_document->undoStack());
    m_undoGroup->addStack(m_compress->undoStack());
    m_compress->setUndoShortcutsEnabled(false); // the Edit menu's take their place
    QAction *undo = m_undoGroup->createUndoAction(this, tr("&Undo"));
    undo->setShortcut(QKeySequence::Undo);
    undo->setObjectName(QStringLiteral("undoAction"));
    QAction *redo = m_undoGroup->createRedoAction(this, tr("&Redo"));
    redo->setShortcuts({QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Z), QKeySequence(Qt::CTRL | Qt::Key_Y)});
    redo->setObjectName(QStringLiteral("redoAction"));
    edit->addAction(undo);
    edit->addAction(redo);
    // In the Compress tab, the variants table is the project's too (Delete removes a variant there).
    const auto follow = [this]() {
        const QWidget *focus = QApplication::focusWidget();
        const bool inVariants = focus && (focus == m_compress->variantTable() ||
                                          m_compress->variantTable()->isAncestorOf(focus));
        m_undoGroup->setActiveStack(m_tabs->currentWidget() == m_compress && !inVariants ? m_compress->undoStack()
                                                                                          : m_document->undoStack());
    };
    connect(m_tabs, &QTabWidget::currentChanged, this, follow);
    m_focusConnection = connect(qApp, &QApplication::focusChanged, this, follow);
    follow();

    QMenu *modelMenu = menuBar()->addMenu(tr("&Model"));
    m_evaluateAct = modelMenu->addAction(tr("&Evaluate…"), this, &MainWindow::evaluateDialog);
    m_evaluateAct->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_R));
    m_profileAct = modelMenu->addAction(tr("&Profile Latency…"), this, [this]() { profile(); });
    m_profileAct->setObjectName(QStringLiteral("profileAction"));
    m_profileAct->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_T));
    m_inputsAct = modelMenu->addAction(tr("&Inputs…"), this, [this]() { openInputs(); });
    m_inputsAct->setObjectName(QStringLiteral("inputsAction"));
    m_inputsAct->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_I));
    modelMenu->setToolTipsVisible(true); // why an action is off

    m_viewMenu = menuBar()->addMenu(tr("&View"));
    m_viewMenu->setObjectName(QStringLiteral("viewMenu"));
    for (int i = 0; i < m_tabs->count(); ++i)
        m_tabActions << addTabAction(m_viewMenu, m_tabs, i);
    for (int i = 0; i < m_lm->count(); ++i)
        m_lmTabActions << addTabAction(m_viewMenu, m_lm, i);
    updateTabActions();
    m_viewMenu->addSeparator();
    QAction *logAction = m_logDock->toggleViewAction();
    logAction->setText(tr("&Log"));
    logAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_L));
    m_viewMenu->addAction(logAction);
    QAction *zoomIn = m_viewMenu->addAction(tr("Zoom &In"), this, [this]() { setZoom(m_zoom * 1.15); });
    zoomIn->setShortcuts({QKeySequence(Qt::CTRL | Qt::Key_Equal), QKeySequence::ZoomIn});
    QAction *zoomOut = m_viewMenu->addAction(tr("Zoom &Out"), this, [this]() { setZoom(m_zoom / 1.15); });
    zoomOut->setShortcuts({QKeySequence(Qt::CTRL | Qt::Key_Minus), QKeySequence::ZoomOut});
    QAction *zoomReset = m_viewMenu->addAction(tr("&Reset Zoom"), this, [this]() { setZoom(1.0); });
    zoomReset->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_0));
    QAction *fullScreen = m_viewMenu->addAction(tr("&Full Screen"));
    fullScreen->setCheckable(true);
    fullScreen->setShortcut(QKeySequence::FullScreen);
    connect(fullScreen, &QAction::toggled, this, [this](bool on) { on ? showFullScreen() : showNormal(); });
    m_viewMenu->addSeparator();

    QMenu *help = menuBar()->addMenu(tr("&Help"));
    QAction *aboutAct = help->addAction(tr("&About Compression Workbench"), this, &MainWindow::about);
    aboutAct->setMenuRole(QAction::AboutRole);
    help->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt);

    updateRecentMenu();
}

void MainWindow::createLogPanel()
{
    // Every job's lines in one place: opening, evaluation, sensitivity, compression, distillation.
    m_logPanel = new QPlainTextEdit;
    m_logPanel->setObjectName(QStringLiteral("logPanel"));
    m_logPanel->setReadOnly(true);
    m_logPanel->setMaximumBlockCount(5000);
    m_logPanel->setPlaceholderText(tr("What every job did and said"));
    m_logDock = new QDockWidget(tr("Log"), this);
    m_logDock->setObjectName(QStringLiteral("logDock"));
    m_logDock->setWidget(m_logPanel);
    addDockWidget(Qt::BottomDockWidgetArea, m_logDock);
    m_logDock->hide();
    const auto tagged = [this](const QString &tag) { return [this, tag](const QString &line) { appendLog(tag + line); }; };
    connect(m_compress, &CompressView::logged, this, tagged(tr("compress: ")));
    connect(m_distill, &DistillView::logged, this, tagged(tr("distill: ")));
    connect(m_sensitivity, &SensitivityView::runFinished, this,
            [this](bool) { appendLog(tr("sensitivity: %1").arg(m_sensitivity->statusText())); });
    connect(m_lm, &LmWorkspace::logged, this, &MainWindow::appendLog);
    connect(m_lm, &LmWorkspace::projectChanged, this, [this]() {
        m_lmModified = true;
        updateTitle();
        updateActions();
    });
    connect(m_lm->sensitivityView(), &LmSensitivityView::clusterRequested, this, [this]() { runOnCluster(); });
    connect(m_lm->compressView(), &LmCompressView::clusterRequested, this,
            [this]() { runOnCluster(ClusterSource::Compress); });
    connect(m_lm->evaluateView(), &LmEvaluateView::clusterRequested, this,
            [this]() { runOnCluster(ClusterSource::Evaluate); });
}

void MainWindow::createStatusBar()
{
    m_modelStatus = new QLabel;
    m_modelStatus->setObjectName(QStringLiteral("modelStatus"));
    m_evalStatus = new QLabel;
    m_evalStatus->setObjectName(QStringLiteral("evaluationStatus"));
    m_progress = new QProgressBar;
    m_progress->setObjectName(QStringLiteral("jobProgress"));
    m_progress->setRange(0, 1000);
    m_progress->setFixedWidth(260);
    m_progress->setVisible(false);
    m_cancel = new QToolButton;
    m_cancel->setObjectName(QStringLiteral("cancelJob"));
    m_cancel->setText(tr("Cancel"));
    m_cancel->setToolTip(tr("Stop the running job"));
    m_cancel->setVisible(false);
    connect(m_cancel, &QToolButton::clicked, this, &MainWindow::cancelJob);

    auto *separator = new QFrame;
    separator->setFrameShape(QFrame::VLine);
    separator->setFrameShadow(QFrame::Sunken);
    m_evalSeparator = separator;
    m_evalSeparator->setVisible(false);
    statusBar()->addPermanentWidget(m_evalStatus);
    statusBar()->addPermanentWidget(m_evalSeparator);
    statusBar()->addPermanentWidget(m_modelStatus);
    statusBar()->addPermanentWidget(m_progress);
    statusBar()->addPermanentWidget(m_cancel);
}

void MainWindow::readSettings()
{
    QSettings settings;
    if (!restoreGeometry(settings.value(QStringLiteral("mainWindow/geometry")).toByteArray()))
        resize(1400, 900);
    restoreState(settings.value(QStringLiteral("mainWindow/state")).toByteArray());
    m_mainSplitter->restoreState(settings.value(QStringLiteral("mainWindow/mainSplitter")).toByteArray());
    m_sideSplitter->restoreState(settings.value(QStringLiteral("mainWindow/sideSplitter")).toByteArray());
    m_overviewSplitter->restoreState(settings.value(QStringLiteral("mainWindow/overviewSplitter")).toByteArray());
    m_tabs->setCurrentIndex(settings.value(QStringLiteral("mainWindow/analysisTab"), 0).toInt());
    m_datasetSpec = settings.value(QStringLiteral("evaluate/dataset"), m_datasetSpec).toString();
    m_evalLimit = settings.value(QStringLiteral("evaluate/limit"), m_evalLimit).toLongLong();
    m_recentDatasets = settings.value(QStringLiteral("evaluate/recentDatasets")).toStringList();
    m_preprocess = PreprocessChoice::load(settings);
    setZoom(settings.value(QStringLiteral("view/zoom"), 1.0).toDouble());
}

void MainWindow::writeSettings()
{
    QSettings settings;
    settings.setValue(QStringLiteral("mainWindow/geometry"), saveGeometry());
    settings.setValue(QStringLiteral("mainWindow/state"), saveState());
    settings.setValue(QStringLiteral("mainWindow/mainSplitter"), m_mainSplitter->saveState());
    settings.setValue(QStringLiteral("mainWindow/sideSplitter"), m_sideSplitter->saveState());
    settings.setValue(QStringLiteral("mainWindow/overviewSplitter"), m_overviewSplitter->saveState());
    settings.setValue(QStringLiteral("mainWindow/analysisTab"), m_tabs->currentIndex());
    settings.setValue(QStringLiteral("evaluate/dataset"), m_datasetSpec);
    settings.setValue(QStringLiteral("evaluate/limit"), m_evalLimit);
    settings.setValue(QStringLiteral("evaluate/recentDatasets"), m_recentDatasets);
    m_preprocess.save(settings);
}

void MainWindow::closeEvent(QCloseEvent *event)
{
    if (!confirmDiscard(tr("Quit"))) {
        event->ignore();
        return;
    }
    writeSettings();
    if (m_job)
        m_job->cancel();
    event->accept();
}

// ---------------------------------------------------------------------------------------------------
// Formats and file dialogs

QString MainWindow::openFilter()
{
    QStringList filters, patterns;
    for (const auto &format : cw::modelFormats()) {
        if (!(format->capabilities() & cw::ModelFormat::Read))
            continue;
        filters << QString::fromStdString(format->nameFilter());
        patterns << QStringLiteral("*.") + QString::fromStdString(format->extension());
    }
    if (patterns.isEmpty())
        patterns << QStringLiteral("*.onnx") << QStringLiteral("*.h5");
    const QString project = QStringLiteral("*.") + QLatin1String(cw::kProjectExtension);
    // Language models are no ModelFormat (cw::lm reads them); a Hugging Face folder opens with Open Folder….
    const QString languageModels = QStringLiteral("*.gguf *.safetensors");
    filters << tr("Language models (%1)").arg(languageModels);
    filters.prepend(tr("Projects (%1)").arg(project));
    filters.prepend(tr("Models and projects (%1 %2 %3)").arg(patterns.join(QLatin1Char(' ')), languageModels, project));
    filters << tr("All files (*)");
    return filters.join(QStringLiteral(";;"));
}

QString MainWindow::exportFilter(bool languageModel)
{
    if (languageModel)
        return tr("GGUF, float32 (*.gguf)") + QStringLiteral(";;") + ggufF16Filter();
    QStringList filters;
    for (const auto &format : cw::modelFormats())
        if (format->capabilities() & cw::ModelFormat::Write)
            filters << QString::fromStdString(format->nameFilter());
    return filters.join(QStringLiteral(";;"));
}

QString MainWindow::ggufF16Filter()
{
    return tr("GGUF, float16 matrices (*.gguf)");
}

bool MainWindow::isModelFile(const QString &path)
{
    const QString suffix = QFileInfo(path).suffix().toLower();
    if (suffix == QLatin1String(cw::kProjectExtension))
        return true;
    for (const auto &format : cw::modelFormats())
        if ((format->capabilities() & cw::ModelFormat::Read) && suffix == QString::fromStdString(format->extension()))
            return true;
    return suffix == QLatin1String("onnx") || suffix == QLatin1String("h5") || cw::lm::isLanguageModel(path.toStdString());
}

void MainWindow::openDialog()
{
    const QString path = QFileDialog::getOpenFileName(this, tr("Open Model or Project"), settingsDir(kOpenDirKey),
                                                      openFilter());
    if (path.isEmpty())
        return;
    QSettings().setValue(QLatin1String(kOpenDirKey), QFileInfo(path).absolutePath());
    openModel(path);
}

void MainWindow::openFolderDialog()
{
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Open Hugging Face Checkpoint Folder"),
                                                          settingsDir(kOpenDirKey));
    if (dir.isEmpty())
        return;
    QSettings().setValue(QLatin1String(kOpenDirKey), QFileInfo(dir).absolutePath());
    if (!cw::lm::isLanguageModel(dir.toStdString())) {
        showError(tr("Open Folder"), tr("%1 is not a Hugging Face checkpoint: it has no config.json.")
                                         .arg(QDir::toNativeSeparators(dir)));
        return;
    }
    openModel(dir);
}

void MainWindow::exportDialog()
{
    const bool lm = languageModel() != nullptr;
    if (!model() && !lm)
        return;
    QString base = QFileInfo(modelSpec()).completeBaseName();
    if (cw::isDemoModel(modelSpec().toStdString()) || modelSpec() == QLatin1String("demo-lm"))
        base = modelSpec();
    QString selected;
    const QString path = QFileDialog::getSaveFileName(
        this, tr("Export Model"),
        QDir(settingsDir(kExportDirKey)).filePath(base + (lm ? QStringLiteral(".gguf") : QStringLiteral(".onnx"))),
        exportFilter(lm), &selected);
    if (path.isEmpty())
        return;
    QSettings().setValue(QLatin1String(kExportDirKey), QFileInfo(path).absolutePath());
    exportModel(path, selected);
}

void MainWindow::evaluateDialog()
{
    if (m_lm->model()) { // the Evaluate tab holds the settings
        m_lm->evaluate();
        return;
    }
    if (!model())
        return;
    EvaluateDialog dialog(m_datasetSpec, m_evalLimit, m_preprocess, m_recentDatasets, settingsDir(kDatasetDirKey), this);
    if (dialog.exec() != QDialog::Accepted)
        return;
    QSettings().setValue(QLatin1String(kDatasetDirKey), dialog.browseDir());
    const QString spec = dialog.datasetSpec();
    if (QFileInfo(spec).isAbsolute()) {
        m_recentDatasets.removeAll(spec);
        m_recentDatasets.prepend(spec);
        while (m_recentDatasets.size() > kMaxRecentFiles)
            m_recentDatasets.removeLast();
    }
    setDataset(spec, dialog.limit());
    setPreprocessing(dialog.preprocess());
    if (dialog.clusterRequested())
        runOnCluster(ClusterSource::Evaluate);
    else
        evaluate();
}

std::optional<cw::cluster::SweepPlan> MainWindow::evaluationPlan(QString *why) const
{
    if (!model()) {
        *why = tr("Open a model first.");
        return std::nullopt;
    }
    if (const QString refusal = m_runInputs.refusal(model()->graph, true); !refusal.isEmpty()) {
        *why = refusal;
        return std::nullopt;
    }
    try {
        cw::EvalOptions o;
        o.limit = m_evalLimit;
        o.inputs = m_runInputs.feeds;
        const std::string spec = model()->sourcePath, data = m_datasetSpec.toStdString();
        // The samples are counted (and the dataset checked) now: the items are ranges of them.
        const cw::Dataset dataset = cw::loadDataset(data, m_runInputs.preprocess, o.limit);
        return cw::cluster::evaluatePlan(cw::cluster::evaluateCommand(spec, data, m_runInputs.preprocess, o), spec, data,
                                         cw::labelledSamples(dataset, o.limit), cw::evalBatchSize(model()->graph, o),
                                         QDir::currentPath().toStdString());
    } catch (const std::exception &e) {
        *why = tr("Cannot plan this evaluation for a cluster: %1").arg(QString::fromUtf8(e.what()));
        return std::nullopt;
    }
}

void MainWindow::about()
{
    QMessageBox::about(this, tr("About Compression Workbench"),
                       tr("<h3>Compression Workbench %1</h3>"
                          "<p>Make neural networks smaller and faster — pruning, quantization, knowledge "
                          "distillation — and see what each choice costs in accuracy, size and latency.</p>"
                          "<p>Reads and writes ONNX and the workbench's HDF5 format. The command-line twin "
                          "<tt>cwb</tt> computes everything this window shows.</p>")
                           .arg(QCoreApplication::applicationVersion()));
}

// ---------------------------------------------------------------------------------------------------
// Recent files

QString MainWindow::lastProjectToReopen() const
{
    QSettings settings;
    const QString last = settings.value(QLatin1String(kLastProjectKey)).toString();
    return settings.value(QLatin1String(kReopenLastKey), true).toBool() && !last.isEmpty() && QFileInfo::exists(last)
               ? last
               : QString();
}

QStringList MainWindow::recentFiles() const
{
    return QSettings().value(QLatin1String(kRecentFilesKey)).toStringList();
}

void MainWindow::addRecentFile(const QString &path)
{
    const QString absolute = QFileInfo(path).absoluteFilePath();
    QStringList files = recentFiles();
    files.removeAll(absolute);
    files.prepend(absolute);
    while (files.size() > kMaxRecentFiles)
        files.removeLast();
    QSettings().setValue(QLatin1String(kRecentFilesKey), files);
    updateRecentMenu();
}

void MainWindow::removeRecentFile(const QString &path)
{
    QStringList files = recentFiles();
    files.removeAll(path);
    QSettings().setValue(QLatin1String(kRecentFilesKey), files);
    updateRecentMenu();
}

void MainWindow::openRecentFile(const QString &path)
{
    if (!QFileInfo::exists(path)) {
        removeRecentFile(path);
        showError(tr("Open Recent"), tr("%1 no longer exists and was removed from the recent files.").arg(path));
        return;
    }
    openModel(path);
}

void MainWindow::updateRecentMenu()
{
    m_recentMenu->clear();
    const QStringList files = recentFiles();
    for (int i = 0; i < files.size(); ++i) {
        const QString path = files[i];
        QAction *action = m_recentMenu->addAction(
            QStringLiteral("&%1  %2").arg(i + 1).arg(QFileInfo(path).fileName()), this,
            [this, path]() { openRecentFile(path); });
        action->setToolTip(path);
        action->setStatusTip(path);
    }
    if (!files.isEmpty()) {
        m_recentMenu->addSeparator();
        m_recentMenu->addAction(tr("Clear Menu"), this, [this]() {
            QSettings().remove(QLatin1String(kRecentFilesKey));
            updateRecentMenu();
        });
    }
    m_recentMenu->setEnabled(!files.isEmpty());
}

// ---------------------------------------------------------------------------------------------------
// Drag and drop

void MainWindow::dragEnterEvent(QDragEnterEvent *event)
{
    const QList<QUrl> urls = event->mimeData()->urls();
    for (const QUrl &url : urls) {
        if (url.isLocalFile() && isModelFile(url.toLocalFile())) {
            event->acceptProposedAction();
            return;
        }
    }
}

void MainWindow::dropEvent(QDropEvent *event)
{
    for (const QUrl &url : event->mimeData()->urls()) {
        if (url.isLocalFile() && isModelFile(url.toLocalFile())) {
            event->acceptProposedAction();
            openModel(url.toLocalFile());
            return;
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Jobs

bool MainWindow::openModel(const QString &spec)
{
    return startModelLoad(spec, false);
}

bool MainWindow::openStartupModel(const QString &spec)
{
    return startModelLoad(spec, true);
}

bool MainWindow::startModelLoad(const QString &spec, bool startup)
{
    if (m_job) {
        statusBar()->showMessage(tr("Busy: %1. Cancel it or wait before opening another model.").arg(m_job->title()), 5000);
        return false;
    }
    if (!startup && !confirmDiscard(tr("Open %1").arg(displayName(spec))))
        return false;
    if (cw::lm::isLanguageModel(spec.toStdString()) ||
        (QFileInfo(spec).suffix().toLower() == QLatin1String(cw::kProjectExtension) &&
         cw::isLmProjectFile(spec.toStdString()))) {
        startLanguageModelLoad(spec, startup);
        return true;
    }
    auto *job = new OpenJob(spec, this);
    connect(job, &OpenJob::succeeded, this, [this, job, spec]() {
        releaseJob(job);
        const bool projectFile = OpenJob::isProjectFile(spec);
        setProject(job->takeProject(), projectFile ? QFileInfo(spec).absoluteFilePath() : QString());
        if (m_rememberFiles && projectFile)
            QSettings().setValue(QLatin1String(kLastProjectKey), QFileInfo(spec).absoluteFilePath());
        announceOpened(spec, QFileInfo::exists(spec) && !cw::isDemoModel(spec.toStdString()));
    });
    startOpenJob(job, spec, startup);
    return true;
}

void MainWindow::startLanguageModelLoad(const QString &spec, bool startup)
{
    auto *job = new OpenLanguageModelJob(spec, this);
    connect(job, &OpenLanguageModelJob::succeeded, this, [this, job, spec]() {
        releaseJob(job);
        const std::optional<cw::LmProject> &project = job->project();
        setLanguageModel(job->model(), project ? QString::fromStdString(job->model()->path()) : spec);
        if (project) {
            m_lm->restoreProject(*project);
            m_lmBase = cw::LmProject{project->baseSpec, project->baseFile, {}, {}, {}}; // the base record only
            m_lmProjectPath = QFileInfo(spec).absoluteFilePath();
            m_lmModified = false;
            if (m_rememberFiles)
                QSettings().setValue(QLatin1String(kLastProjectKey), m_lmProjectPath);
            updateTitle();
            updateActions();
        }
        announceOpened(spec, QFileInfo::exists(spec));
    });
    startOpenJob(job, spec, startup);
}

void MainWindow::startOpenJob(Job *job, const QString &spec, bool startup)
{
    connect(job, &Job::failed, this, [this, job, spec, startup](const QString &error) {
        releaseJob(job);
        reportOpenFailure(spec, startup, error);
    });
    startJob(job);
}

void MainWindow::announceOpened(const QString &spec, bool recent)
{
    if (m_rememberFiles && recent)
        addRecentFile(spec);
    statusBar()->showMessage(tr("Opened %1").arg(displayName(spec)), 5000);
    emit modelLoaded(spec);
}

void MainWindow::reportOpenFailure(const QString &spec, bool startup, const QString &error)
{
    if (startup && !model() && !m_lm->model()) {
        const bool demo = cw::isDemoModel(spec.toStdString()) || spec == QLatin1String("demo-lm");
        const QString title = demo ? tr("The built-in demo is not available") : tr("Could not open %1").arg(spec);
        const QString text = demo ? tr("%1\n\nThis build has no demo weights compiled in yet. Open a model "
                                       "with File → Open… or drop an .onnx / .h5 / .gguf file onto this window.")
                                        .arg(error)
                                  : error;
        m_summary->setNotice(title, text);
        m_lastError = error;
        statusBar()->showMessage(title + QStringLiteral(": ") + error);
        emit errorOccurred(error);
    } else {
        showError(tr("Open Model"), error);
    }
    emit modelLoadFailed(error);
}

void MainWindow::setLanguageModel(LanguageModelPtr model, const QString &spec)
{
    if (model)
        setProject(std::nullopt, {}); // the CNN views let go of theirs (onProjectReset)
    m_lmSpec = model ? spec : QString();
    m_lmProjectPath.clear();
    m_lmBase.reset();
    m_lmModified = false;
    const QFileInfo file(spec);
    const bool onDisk = model && spec != QLatin1String("demo-lm") && file.isFile();
    m_lm->setModel(std::move(model), onDisk ? file.fileName() : displayName(spec), onDisk ? file.size() : -1);
    m_pages->setCurrentWidget(m_lm->model() ? static_cast<QWidget *>(m_lm) : m_mainSplitter);
    updateTabActions();
    updateTitle();
    updateStatus();
    updateActions();
}

const LanguageModelPtr &MainWindow::languageModel() const
{
    return m_lm->model();
}

void MainWindow::updateTabActions()
{
    const bool lm = m_pages->currentWidget() == m_lm;
    for (QAction *action : std::as_const(m_tabActions))
        action->setVisible(!lm);
    for (QAction *action : std::as_const(m_lmTabActions))
        action->setVisible(lm);
}

bool MainWindow::evaluate(const QString &datasetSpec, qint64 limit)
{
    if (!model() || m_job)
        return false;
    setDataset(datasetSpec, limit);
    if (const QString refusal = m_runInputs.refusal(model()->graph, true); !refusal.isEmpty()) {
        statusBar()->showMessage(refusal, 10000);
        if (m_runInputs.blocked.isEmpty())
            openInputs(refusal);
        return false;
    }
    EvaluateParams params;
    params.model = *model();
    params.inputs = m_runInputs.feeds;
    params.preprocess = m_runInputs.preprocess;
    params.datasetSpec = datasetSpec.toStdString();
    params.limit = limit;
    auto *job = new EvaluateJob(std::move(params), this);
    const QString dataset = EvaluateDialog::displayName(datasetSpec);
    connect(job, &EvaluateJob::succeeded, this, [this, job, dataset](const cw::EvalResult &result) {
        releaseJob(job);
        m_evaluation = EvaluationSummary{result, dataset, job->elapsedMs()};
        m_summary->setEvaluation(m_evaluation);
        updateStatus();
        statusBar()->showMessage(tr("Evaluated on %1").arg(dataset), 5000);
        emit evaluationSucceeded();
    });
    connect(job, &Job::failed, this, [this, job](const QString &error) {
        releaseJob(job);
        showError(tr("Evaluate"), error);
    });
    connect(job, &Job::cancelled, this, [this, job]() {
        releaseJob(job);
        statusBar()->showMessage(tr("Evaluation cancelled"), 5000);
    });
    connect(job, &Job::finished, this, &MainWindow::evaluationFinished);
    startJob(job);
    return true;
}

bool MainWindow::profile()
{
    return model() && profile(*model(), displayName(modelSpec()));
}

bool MainWindow::profileVariant(int index)
{
    if (index < 0 || index >= m_document->variantCount())
        return false;
    const cw::Variant &variant = m_document->variants()[size_t(index)].variant;
    return profile(variant.model, QString::fromStdString(variant.name));
}

bool MainWindow::profile(const cw::Model &model, const QString &name, ProfileDialog *dialog)
{
    if (!m_runInputs.blocked.isEmpty())
        return false;
    // Another job would share the cores and distort the times. (The action follows the window's own job only: the
    // tabs' jobs do not update it.)
    if (anyJobRunning()) {
        statusBar()->showMessage(tr("Wait for the running job to finish (or cancel it) before profiling."), 8000);
        return false;
    }
    if (const QString refusal = m_runInputs.refusal(model.graph, false); !refusal.isEmpty()) {
        statusBar()->showMessage(refusal, 10000);
        openInputs(refusal);
        return false;
    }
    ProfileParams params;
    params.model = model;
    params.inputs = m_runInputs.feeds;
    const QSettings settings;
    params.batch = std::max(1, settings.value(QLatin1String(kProfileBatchKey), 1).toInt());
    params.threads = std::clamp(settings.value(QLatin1String(kProfileThreadsKey), 1).toInt(), 1,
                                std::max(1, QThread::idealThreadCount()));
    auto *job = new ProfileJob(std::move(params), this);
    QPointer<ProfileDialog> target = dialog;
    if (target)
        target->setBusy(true);
    connect(job, &ProfileJob::succeeded, this, [this, job, model, name, target](const cw::BenchResult &result) {
        releaseJob(job);
        statusBar()->showMessage(tr("Profiled %1: p50 %2 ms").arg(name, formatMs(result.p50Ms)), 5000);
        if (target) {
            target->setResult(result);
            target->raise();
            return;
        }
        auto *shown = new ProfileDialog(name, result, this);
        shown->setAttribute(Qt::WA_DeleteOnClose);
        connect(shown, &ProfileDialog::nodeActivated, this, [this](const QString &node) {
            if (!showInspect(node))
                statusBar()->showMessage(tr("%1 is not a layer of the table (a node the engine made, or one "
                                            "without weights)").arg(node), 8000);
        });
        connect(shown, &ProfileDialog::profileRequested, this, [this, shown, model, name](int batch, int threads) {
            QSettings settings;
            settings.setValue(QLatin1String(kProfileBatchKey), batch);
            settings.setValue(QLatin1String(kProfileThreadsKey), threads);
            profile(model, name, shown);
        });
        shown->show();
    });
    connect(job, &Job::failed, this, [this, job, target](const QString &error) {
        releaseJob(job);
        if (target)
            target->setBusy(false);
        showError(tr("Profile Latency"), error);
    });
    connect(job, &Job::cancelled, this, [this, job, target]() {
        releaseJob(job);
        if (target)
            target->setBusy(false);
        statusBar()->showMessage(tr("Profiling cancelled"), 5000);
    });
    connect(job, &Job::finished, this, &MainWindow::profileFinished);
    startJob(job);
    return true;
}

bool MainWindow::exportModel(const QString &path, const QString &filter)
{
    const LanguageModelPtr &lm = languageModel();
    if ((!model() && !lm) || m_job)
        return false;
    QString target = path;
    // No extension typed: take the chosen filter's ("ONNX models (*.onnx)"), so the writer can pick the format.
    if (QFileInfo(target).suffix().isEmpty()) {
        const QRegularExpressionMatch pattern = QRegularExpression(QStringLiteral("\\*\\.(\\w+)")).match(filter);
        if (pattern.hasMatch())
            target += QLatin1Char('.') + pattern.captured(1);
    }
    Job *job = lm ? static_cast<Job *>(new ExportGgufJob(lm, target, filter == ggufF16Filter(), this))
                  : new SaveModelJob(*model(), target, this);
    const auto succeeded = [this, job](const QString &written) {
        releaseJob(job);
        statusBar()->showMessage(tr("Exported %1 (%2)").arg(written, formatBytes(QFileInfo(written).size())), 8000);
        emit exportFinished(true);
    };
    if (auto *gguf = qobject_cast<ExportGgufJob *>(job))
        connect(gguf, &ExportGgufJob::succeeded, this, succeeded);
    else
        connect(static_cast<SaveModelJob *>(job), &SaveModelJob::succeeded, this, succeeded);
    connect(job, &Job::failed, this, [this, job](const QString &error) {
        releaseJob(job);
        showError(tr("Export Model"), error);
        emit exportFinished(false);
    });
    connect(job, &Job::cancelled, this, [this, job]() {
        releaseJob(job);
        emit exportFinished(false);
    });
    startJob(job);
    return true;
}

void MainWindow::cancelJob()
{
    if (m_job) {
        m_job->cancel();
        m_progress->setFormat(tr("Cancelling…"));
        m_cancel->setEnabled(false);
    }
}

void MainWindow::startJob(Job *job)
{
    m_job = job;
    appendLog(tr("%1…").arg(job->title()));
    connect(job, &Job::progress, this, &MainWindow::onJobProgress);
    connect(job, &Job::finished, this, [this, job]() { releaseJob(job); });
    m_progress->setValue(0);
    m_progress->setFormat(job->title() + QStringLiteral("… %p%"));
    m_progress->setVisible(true);
    m_cancel->setEnabled(true);
    m_cancel->setVisible(true);
    updateActions();
    const bool started = job->start();
    Q_ASSERT(started);
    Q_UNUSED(started);
}

void MainWindow::onJobProgress(double fraction, const QString &stage)
{
    m_progress->setValue(int(qBound(0.0, fraction, 1.0) * 1000));
    if (m_cancel->isEnabled() && m_job) {
        QString label = stage;
        if (!label.isEmpty())
            label[0] = label[0].toUpper();
        m_progress->setFormat((label.isEmpty() ? m_job->title() : label) + QStringLiteral("… %p%"));
    }
}

void MainWindow::releaseJob(Job *job)
{
    if (!job || job != m_job)
        return;
    m_job = nullptr;
    appendLog(tr("%1: done in %2 s").arg(job->title()).arg(job->elapsedMs() / 1000.0, 0, 'f', 1));
    job->deleteLater();
    m_progress->setVisible(false);
    m_cancel->setVisible(false);
    updateActions();
}

void MainWindow::appendLog(const QString &line)
{
    m_logPanel->appendPlainText(QStringLiteral("%1  %2").arg(QTime::currentTime().toString(QStringLiteral("HH:mm:ss")), line));
}

// ---------------------------------------------------------------------------------------------------
// State

void MainWindow::setDataset(const QString &datasetSpec, qint64 limit)
{
    m_datasetSpec = datasetSpec;
    m_evalLimit = qMax<qint64>(0, limit);
    m_inspect->setDataset(datasetSpec);
    m_sensitivity->setDataset(datasetSpec);
    m_compress->setDataset(datasetSpec);
    m_distill->setDataset(datasetSpec);
}

void MainWindow::setPreprocessing(const PreprocessChoice &choice)
{
    m_preprocess = choice;
    updateRunInputs();
}

const cw::Model *MainWindow::model() const
{
    return m_document->base();
}

QString MainWindow::modelSpec() const
{
    return m_lm->model() ? m_lmSpec : m_document->baseSpec();
}

void MainWindow::setProject(std::optional<cw::Project> project, const QString &fileName)
{
    m_document->reset(std::move(project), fileName); // onProjectReset() follows
}

void MainWindow::onProjectReset()
{
    m_evaluation.reset();
    if (m_inputsDialog)
        m_inputsDialog->reject(); // it edits the previous model's inputs
    if (!model()) { // closed
        m_blocking.clear();
        m_blockedPanel->setNodes(m_blocking);
        m_layerModel->setBlocked(m_blocking);
        m_modelInputs = {};
        updateRunInputs();
        m_filter->clear();
        m_layerModel->setLayers({});
        m_chart->setLayers({});
        m_graph->setModel(nullptr);
        m_inspect->setModel(nullptr);
        m_sensitivity->setModel(nullptr);
        m_compress->setModel(nullptr);
        m_distill->setModel(nullptr);
        m_summary->setNotice(tr("No model is open"), tr("Open a model or a project with File → Open…, or drop a file "
                                                        "onto this window."));
        updateTitle();
        updateStatus();
        updateActions();
        return;
    }
    if (m_lm->model())
        setLanguageModel(nullptr, {}); // a CNN model or a project replaces the language model
    const cw::Model &opened = *model();
    const QString spec = modelSpec();
    m_blocking = cw::unsupportedNodes(opened);
    m_blockedPanel->setNodes(m_blocking);
    m_layerModel->setBlocked(m_blocking);
    m_modelInputs = loadModelInputs(spec);
    try {
        feedOptions(opened.graph, m_modelInputs);
    } catch (const cw::Error &) {
        m_modelInputs = {}; // saved for an earlier version of the model
    }
    updateRunInputs(); // before the views see the model: Inspect may start collecting at once

    m_filter->clear();
    m_layerModel->setLayers(opened.layers());
    m_table->sortByColumn(-1, Qt::AscendingOrder);
    m_proxy->sort(-1);
    m_table->resizeColumnsToContents();
    // Every column gets what its contents need, within limits; a narrow pane scrolls sideways rather than
    // eliding the shapes to "...".
    m_table->setColumnWidth(LayerTableModel::Name, qBound(120, m_table->columnWidth(LayerTableModel::Name) + 16, 320));
    for (int c : {int(LayerTableModel::Inputs), int(LayerTableModel::Outputs)})
        m_table->setColumnWidth(c, qBound(110, m_table->columnWidth(c) + 16, 240));
    for (int c : {int(LayerTableModel::Op), int(LayerTableModel::Parameters), int(LayerTableModel::Bytes)})
        m_table->setColumnWidth(c, qMax(90, m_table->columnWidth(c) + 16));
    m_chart->setLayers(m_layerModel->layers());
    m_graph->setModel(model());
    m_inspect->setModel(model());
    m_sensitivity->setModel(model());
    m_compress->setModel(model());
    m_distill->setModel(model());
    // Keep keyboard focus off the filter (its placeholder would vanish) and off the table (it would pick a
    // current row and highlight a bar nobody chose).
    m_summary->setFocus();

    const QFileInfo file(spec);
    const bool onDisk = !cw::isDemoModel(spec.toStdString()) && file.exists();
    m_summary->setModel(&opened, onDisk ? file.fileName() : displayName(spec), onDisk ? file.size() : -1);
    m_summary->setToolTip(onDisk ? file.absoluteFilePath() : QString());

    updateTitle();
    updateStatus();
    updateActions();
}

void MainWindow::updateRunInputs()
{
    m_runInputs.blocked = blockedReason(m_blocking);
    m_runInputs.preprocess = m_preprocess.preprocess();
    m_runInputs.feeds = model() ? feedOptions(model()->graph, m_modelInputs) : cw::FeedOptions{};
    m_inspect->setRunInputs(m_runInputs);
    m_sensitivity->setRunInputs(m_runInputs);
    m_compress->setRunInputs(m_runInputs);
    m_distill->setRunInputs(m_runInputs);
    updateActions();
}

bool MainWindow::setModelInputs(const ModelInputs &inputs)
{
    if (!model())
        return false;
    try {
        feedOptions(model()->graph, inputs);
    } catch (const cw::Error &e) {
        showError(tr("Model Inputs"), QString::fromUtf8(e.what()));
        return false;
    }
    m_modelInputs = inputs;
    saveModelInputs(modelSpec(), inputs);
    updateRunInputs();
    QStringList given;
    for (const auto &[symbol, size] : m_runInputs.feeds.shapes)
        given << QStringLiteral("%1 = %2").arg(QString::fromStdString(symbol), size.size() == 1 ? QString::number(size.front()) : formatDims(size));
    for (const auto &[name, value] : m_runInputs.feeds.values)
        given << QStringLiteral("%1 = %2").arg(QString::fromStdString(name)).arg(value, 0, 'g', 10);
    statusBar()->showMessage(given.isEmpty() ? tr("Inputs: random data, sizes from the dataset")
                                             : tr("Inputs: %1").arg(given.join(QStringLiteral(", "))),
                             8000);
    return true;
}

InputsDialog *MainWindow::openInputs(const QString &reason)
{
    if (!model() || !m_inputsAct->isEnabled())
        return nullptr;
    if (!m_inputsDialog) {
        auto *dialog = new InputsDialog(model()->graph, m_modelInputs, this);
        dialog->setAttribute(Qt::WA_DeleteOnClose);
        connect(dialog, &QDialog::accepted, this, [this, dialog]() { setModelInputs(dialog->inputs()); });
        m_inputsDialog = dialog;
        dialog->open();
    }
    m_inputsDialog->setReason(reason);
    m_inputsDialog->raise();
    return m_inputsDialog;
}

bool MainWindow::openVariant(int index)
{
    if (index < 0 || index >= m_document->variantCount())
        return false;
    if (anyJobRunning()) {
        showError(tr("Open as Model"), tr("Wait for the running job to finish (or cancel it) first."));
        return false;
    }
    const cw::Variant variant = m_document->variants()[size_t(index)].variant;
    const std::string previous = m_document->project()->baseSpec;
    if (!confirmDiscard(tr("Open %1 as the model").arg(QString::fromStdString(variant.name))))
        return false;
    // A model that lives in no file of its own: the new project keeps a copy of it, and its name (never a demo's)
    // says where it came from.
    cw::Project project;
    project.baseSpec = variant.name + " (a variant of " + previous + ")";
    project.base = variant.model;
    project.base.sourcePath.clear(); // no file: the commands of its variants say MODEL
    project.embedBase = true;
    setProject(std::move(project), {});
    return true;
}

bool MainWindow::anyJobRunning() const
{
    return m_job || m_compress->isRunning() || m_distill->isRunning() || m_sensitivity->isRunning() || m_lm->isRunning();
}

bool MainWindow::confirmDiscard(const QString &action)
{
    const bool busy = anyJobRunning(), modified = m_document->isModified() || (m_lm->model() && m_lmModified);
    if (!busy && !modified)
        return true;
    QStringList why;
    if (modified)
        why << tr("The project has changes that are not saved.");
    if (busy)
        why << tr("A job is running; it will be stopped and its result lost.");
    const QString text = why.join(QLatin1Char(' ')) + QLatin1Char(' ') + tr("%1 anyway?").arg(action);
    Question ask = m_question;
    if (!ask && !m_errorDialogs) // no dialogs (tests, --screenshot runs): go ahead, as before projects existed
        ask = [](const QString &, const QString &, bool) { return int(QMessageBox::Discard); };
    if (!ask)
        ask = [this](const QString &title, const QString &body, bool canSave) {
            QMessageBox box(QMessageBox::Warning, title, body,
                            (canSave ? QMessageBox::Save : QMessageBox::NoButton) | QMessageBox::Discard |
                                QMessageBox::Cancel,
                            this);
            box.setObjectName(QStringLiteral("confirmDiscard"));
            box.setDefaultButton(canSave ? QMessageBox::Save : QMessageBox::Cancel);
            return box.exec();
        };
    switch (ask(action, text, modified)) {
    case QMessageBox::Save:
        if (!saveProject())
            return false;
        break;
    case QMessageBox::Discard: break;
    default: return false;
    }
    // Stop what runs: its result belongs to the project about to go.
    if (m_job)
        m_job->cancel();
    m_compress->cancelAll();
    m_distill->cancel();
    m_sensitivity->cancel();
    m_lm->cancelAll();
    return true;
}

bool MainWindow::saveProject(const QString &path)
{
    if (!m_document->hasProject() && !m_lm->model())
        return false;
    QString target = path;
    if (target.isEmpty()) {
        const QString suggested = QDir(settingsDir(kProjectDirKey))
                                      .filePath(QFileInfo(modelSpec()).completeBaseName() + QStringLiteral(".") +
                                                QLatin1String(cw::kProjectExtension));
        target = QFileDialog::getSaveFileName(this, tr("Save Project"), suggested,
                                              tr("Projects (*.%1)").arg(QLatin1String(cw::kProjectExtension)));
        if (target.isEmpty())
            return false;
        if (QFileInfo(target).suffix().isEmpty())
            target += QStringLiteral(".") + QLatin1String(cw::kProjectExtension);
        QSettings().setValue(QLatin1String(kProjectDirKey), QFileInfo(target).absolutePath());
    }
    if (m_lm->model())
        return saveLmProject(QFileInfo(target).absoluteFilePath());
    QString error, merged;
    if (!m_document->save(QFileInfo(target).absoluteFilePath(), &error, &merged)) {
        showError(tr("Save Project"), error);
        return false;
    }
    QSettings().setValue(QLatin1String(kLastProjectKey), m_document->fileName());
    addRecentFile(m_document->fileName());
    const QString saved = tr("Saved %1 (%2)").arg(QDir::toNativeSeparators(m_document->fileName()),
                                                  formatBytes(QFileInfo(m_document->fileName()).size()));
    if (!merged.isEmpty())
        appendLog(merged);
    statusBar()->showMessage(merged.isEmpty() ? saved : saved + QStringLiteral(" · ") + merged, merged.isEmpty() ? 5000 : 15000);
    return true;
}

bool MainWindow::saveProject()
{
    return saveProject(m_lm->model() ? m_lmProjectPath : m_document->fileName());
}

bool MainWindow::saveLmProject(const QString &path)
{
    try {
        if (!m_lmBase)
            m_lmBase = cw::newLmProject(m_lm->model()->path());
        cw::saveLmProject(m_lm->project(*m_lmBase), path.toStdString());
    } catch (const std::exception &e) {
        showError(tr("Save Project"), QString::fromUtf8(e.what()));
        return false;
    }
    m_lmProjectPath = path;
    m_lmModified = false;
    QSettings().setValue(QLatin1String(kLastProjectKey), path);
    addRecentFile(path);
    statusBar()->showMessage(tr("Saved %1 (%2)").arg(QDir::toNativeSeparators(path), formatBytes(QFileInfo(path).size())),
                             5000);
    updateTitle();
    updateActions();
    return true;
}

QString MainWindow::projectName() const
{
    return m_document->fileName().isEmpty() ? displayName(modelSpec()) : QFileInfo(m_document->fileName()).fileName();
}

bool MainWindow::exportReport(const QString &path)
{
    if (!m_document->hasProject())
        return false;
    QApplication::setOverrideCursor(Qt::WaitCursor);
    QString error;
    bool ok = false;
    try {
        ok = writeReport(*m_document->project(), projectName(), path, &error);
    } catch (const std::exception &e) { // nothing may escape the slot that called this
        error = QString::fromUtf8(e.what());
    }
    QApplication::restoreOverrideCursor();
    if (!ok) {
        showError(tr("Export Report"), error);
        return false;
    }
    statusBar()->showMessage(tr("Wrote the report %1").arg(QDir::toNativeSeparators(path)), 5000);
    return true;
}

void MainWindow::exportReportDialog()
{
    const QString suggested = QDir(settingsDir(kProjectDirKey)).filePath(QFileInfo(projectName()).completeBaseName() +
                                                                         QStringLiteral("-report.pdf"));
    QString selected;
    QString path = QFileDialog::getSaveFileName(this, tr("Export Report"), suggested,
                                                tr("PDF document (*.pdf);;HTML page (*.html)"), &selected);
    if (path.isEmpty())
        return;
    if (QFileInfo(path).suffix().isEmpty())
        path += selected.contains(QLatin1String("html")) ? QStringLiteral(".html") : QStringLiteral(".pdf");
    QSettings().setValue(QLatin1String(kProjectDirKey), QFileInfo(path).absolutePath());
    exportReport(path);
}

bool MainWindow::newProject()
{
    if (!model() || !confirmDiscard(tr("New Project")))
        return false;
    // The same base model, nothing made from it: its analyses and variants go.
    cw::Project project = *m_document->project();
    project.variants.clear();
    project.datasets.clear();
    project.baseMetrics.reset();
    project.base.analysis.clear();
    setProject(std::move(project), {});
    return true;
}

bool MainWindow::closeProject()
{
    if (m_lm->model()) {
        if (!confirmDiscard(tr("Close %1").arg(displayName(m_lmSpec))))
            return false;
        setLanguageModel(nullptr, {});
        m_summary->setNotice(tr("No model is open"), tr("Open a model or a project with File → Open…, or drop a file "
                                                        "onto this window."));
        return true;
    }
    if (!m_document->hasProject() || !confirmDiscard(tr("Close Project")))
        return false;
    setProject(std::nullopt, {});
    QSettings().remove(QLatin1String(kLastProjectKey)); // closed on purpose: the next start opens the demo
    return true;
}

ClusterDialog *MainWindow::clusterDialog() const
{
    return m_clusterDialog;
}

bool MainWindow::runOnCluster(ClusterSource source)
{
    const bool lm = m_lm->model() != nullptr;
    std::optional<cw::cluster::SweepPlan> plan;
    QString why;
    if (lm && source == ClusterSource::Compress) {
        plan = m_lm->compressView()->clusterPlan();
        why = m_lm->compressView()->statusText();
    } else if (lm && source == ClusterSource::Evaluate) {
        plan = m_lm->evaluateView()->clusterPlan();
        why = m_lm->evaluateView()->statusText();
    } else if (source == ClusterSource::Evaluate) {
        plan = evaluationPlan(&why);
    } else if (lm) {
        plan = m_lm->sensitivityView()->clusterPlan();
        why = m_lm->sensitivityView()->statusText();
    } else if (source == ClusterSource::Compress) {
        plan = m_compress->clusterPlan();
        why = m_compress->statusText();
    } else if (source == ClusterSource::Distill) {
        plan = m_distill->clusterPlan();
        why = m_distill->statusText();
    } else {
        plan = m_sensitivity->clusterPlan();
        why = m_sensitivity->statusText();
    }
    if (!plan) {
        statusBar()->showMessage(why, 10000);
        return false;
    }
    if (m_clusterDialog)
        m_clusterDialog->close();
    m_clusterDialog = new ClusterDialog(*plan, lm ? m_lmProjectPath : m_document->fileName(), this);
    m_clusterDialog->setAttribute(Qt::WA_DeleteOnClose);
    m_clusterDialog->open();
    return true;
}

bool MainWindow::importResults(const QStringList &paths)
{
    const LanguageModelPtr lm = m_lm->model();
    if (!lm && (!model() || !m_document->project())) {
        showError(tr("Import Results"), tr("Open the model the sweep was made of first."));
        return false;
    }
    if (lm ? m_lm->isRunning() : m_sensitivity->isRunning()) {
        showError(tr("Import Results"), tr("A job is running on the model: cancel it or wait."));
        return false;
    }
    QStringList files;
    for (const QString &p : paths) {
        if (QFileInfo(p).isDir()) {
            const QDir dir(p);
            for (const QString &name : dir.entryList({QStringLiteral("part-*.h5")}, QDir::Files, QDir::Name))
                files << dir.filePath(name);
        } else {
            files << p;
        }
    }
    try {
        if (files.isEmpty())
            throw cw::Error("no parts (part-*.h5) in " + paths.join(QStringLiteral(", ")).toStdString());
        std::vector<std::pair<std::string, cw::cluster::SweepPart>> parts;
        for (const QString &f : files)
            parts.emplace_back(f.toStdString(), cw::cluster::readPart(f.toStdString()));
        const cw::cluster::SweepPlan &plan = parts.front().second.plan;
        const bool lmPlan = plan.kind == "lm-sensitivity" || plan.kind == "lm-recipes" || plan.kind == "lm-matrices" ||
                            plan.kind == "lm-perplexity";
        if (lmPlan != bool(lm))
            throw cw::Error(lm ? "the parts are not a language model's sweep" : "the parts are a language model's sweep: open it first");
        if (plan.model.sha256 != (lm ? cw::modelDigest(lm->path()) : m_document->project()->baseFile).sha256)
            throw cw::Error("the parts are a sweep of '" + plan.modelSpec + "', not of the open model");
        QString done;
        if (lm && plan.kind == "lm-perplexity") {
            const cw::lm::PerplexityResult merged = cw::cluster::mergePerplexity(parts);
            const std::optional<std::string> ctx = cw::cluster::commandOption(plan.command, "--ctx");
            m_lm->evaluateView()->showImported(merged, ctx ? std::stoll(*ctx) : cw::lm::defaultPerplexityOptions(*lm).ctx,
                                               QString::fromStdString(plan.data.front().spec), int(parts.size()));
            m_lm->setCurrentWidget(m_lm->evaluateView());
            done = tr("Imported %n part(s): perplexity %1 over %2 chunks.", nullptr, int(parts.size()))
                       .arg(displayLocale().toString(merged.perplexity, 'f', 3))
                       .arg(merged.chunks);
        } else if (plan.kind == "evaluate") {
            const cw::EvalResult merged = cw::cluster::mergeEvaluation(parts);
            m_evaluation = EvaluationSummary{merged, EvaluateDialog::displayName(QString::fromStdString(plan.data.front().spec)), 0};
            m_summary->setEvaluation(m_evaluation);
            updateStatus();
            done = tr("Imported %n part(s): accuracy %1 % on %2 samples.", nullptr, int(parts.size()))
                       .arg(displayLocale().toString(merged.accuracy * 100, 'f', 2))
                       .arg(merged.samples);
        } else if (lm && plan.kind == "lm-matrices") {
            // Assembled from its matrices here, then measured by a job as the plan's merge would measure it.
            const cw::LmProject merged = cw::cluster::mergeLmMatrices(parts);
            if (!m_lm->compressView()->measureImported(plan, merged.variants.front()))
                throw cw::Error(m_lm->compressView()->statusText().toStdString());
            m_lm->setCurrentWidget(m_lm->compressView());
            done = tr("Imported %n part(s): the %1 matrices of '%2', now measured on the Compress tab.", nullptr,
                      int(parts.size()))
                       .arg(plan.items.size())
                       .arg(QString::fromStdString(merged.variants.front().name));
        } else if (lm && plan.kind == "lm-recipes") {
            const cw::LmProject merged = cw::cluster::mergeLmVariants(parts);
            m_lm->compressView()->appendVariants(merged.variants);
            m_lm->setCurrentWidget(m_lm->compressView());
            done = tr("Imported %n part(s): %1 variants.", nullptr, int(parts.size())).arg(merged.variants.size());
        } else if (lm) {
            const cw::lm::SensitivityResult merged = cw::cluster::mergeLmSensitivity(parts);
            m_lm->sensitivityView()->showImported(merged, QString::fromStdString(plan.data.front().spec));
            m_lm->setCurrentWidget(m_lm->sensitivityView());
            done = tr("Imported %n part(s): %1 trials of %2 matrices.", nullptr, int(parts.size()))
                       .arg(merged.rows.size())
                       .arg(plan.items.size());
        } else if (plan.kind == "sensitivity") {
            const cw::SensitivityResult merged = cw::cluster::mergeSensitivity(parts);
            m_document->setAnalysis(QString::fromLatin1(cw::kSensitivityKey),
                                    QString::fromStdString(cw::sensitivityToJson(merged)));
            m_tabs->setCurrentWidget(m_sensitivity);
            done = tr("Imported %n part(s): %1 layers × %2 settings.", nullptr, int(parts.size()))
                       .arg(merged.layers.size())
                       .arg(merged.options.pruneRatios.size() + merged.options.bits.size());
        } else {
            // A list of recipes: each item's variant, as cwb merge --project adds them.
            cw::cluster::MergedVariants merged = cw::cluster::mergeVariants(parts);
            const size_t count = merged.variants.size();
            bool first = true;
            for (cw::ProjectVariant &pv : cw::cluster::projectVariants(plan, std::move(merged.variants))) {
                m_document->addVariant(std::move(pv), first && !m_document->project()->baseMetrics ? merged.base
                                                                                                   : std::nullopt);
                first = false;
            }
            m_tabs->setCurrentWidget(m_compare);
            done = tr("Imported %n part(s): %1 variants.", nullptr, int(parts.size())).arg(count);
        }
        appendLog(done);
        statusBar()->showMessage(done, 10000);
        return true;
    } catch (const std::exception &e) {
        showError(tr("Import Results"), QString::fromUtf8(e.what()));
        return false;
    }
}

void MainWindow::showError(const QString &title, const QString &message)
{
    m_lastError = message;
    appendLog(tr("%1 failed: %2").arg(title, message));
    statusBar()->showMessage(message, 10000);
    emit errorOccurred(message);
    if (!m_errorDialogs)
        return;
    // Window-modal and non-blocking: the event loop (and any running job) keeps going.
    auto *box = new QMessageBox(QMessageBox::Critical, title, message, QMessageBox::Ok, this);
    box->setObjectName(QStringLiteral("errorMessageBox"));
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();
}

void MainWindow::updateActions()
{
    const bool idle = !m_job;
    m_openAct->setEnabled(idle);
    m_openDemoAct->setEnabled(idle);
    m_openDemoResnetAct->setEnabled(idle);
    m_openFolderAct->setEnabled(idle);
    const bool demoLm = !cw::demoModelBytes("demo-lm").empty();
    m_openDemoLmAct->setEnabled(idle && demoLm);
    m_openDemoLmAct->setToolTip(demoLm ? tr("The small GPT-2 the workbench trained on the Brown corpus")
                                       : tr("This build has no demo language model: `cwb train-lm -o "
                                            "resources/demo_lm.gguf` makes one, and the next build embeds it"));
    const bool lm = m_lm->model() != nullptr;
    m_recentMenu->setEnabled(idle && !recentFiles().isEmpty());
    m_exportAct->setEnabled(idle && (model() || lm));
    m_newProjectAct->setEnabled(idle && model());
    m_saveProjectAct->setEnabled(m_document->hasProject() || lm);
    m_saveProjectAsAct->setEnabled(m_document->hasProject() || lm);
    m_closeProjectAct->setEnabled(idle && (m_document->hasProject() || lm));
    m_closeProjectAct->setText(lm ? tr("&Close Model") : tr("&Close Project"));
    m_exportReportAct->setEnabled(m_document->hasProject());
    m_importResultsAct->setEnabled(idle && ((model() && !m_sensitivity->isRunning()) || (lm && !m_lm->isRunning())));
    m_evaluateAct->setEnabled(idle && ((model() && m_runInputs.blocked.isEmpty()) || lm));
    m_evaluateAct->setToolTip(lm ? tr("Perplexity on the Evaluate tab's text")
                              : m_runInputs.blocked.isEmpty() ? tr("Accuracy, top-5 and loss on a labelled dataset")
                                                              : m_runInputs.blocked);
    m_profileAct->setEnabled(idle && model() && m_runInputs.blocked.isEmpty());
    m_profileAct->setToolTip(m_runInputs.blocked.isEmpty() || !model()
                                 ? tr("Time each node of a batch-1 run on one thread, and show where the time goes")
                                 : m_runInputs.blocked);
    // Only symbols besides the batch and inputs after the first (which may take a value) need the user: the
    // jobs size the batch themselves, and the dataset feeds the first input.
    const bool editable = model() && (model()->graph.inputs.size() > 1 || !cw::unsizedSymbols(model()->graph, {}, false).empty());
    m_inputsAct->setEnabled(editable);
    m_inputsAct->setToolTip(editable || !model() ? tr("Shapes and values the runs feed the model's inputs")
                                                 : tr("This model's one input has fixed sizes and takes the dataset; "
                                                      "the batch follows each job"));
}

QString MainWindow::displayName(const QString &spec)
{
    if (spec == QLatin1String("demo"))
        return tr("Built-in demo (CNN)");
    if (spec == QLatin1String("demo-resnet"))
        return tr("Built-in demo (ResNet)");
    if (spec == QLatin1String("demo-lm"))
        return tr("Built-in demo (language model)");
    return QFileInfo(spec).fileName();
}

void MainWindow::updateTitle()
{
    if (m_lm->model()) { // its project: the file when saved; "[*]" shows the modified mark
        const QString project = m_lmProjectPath.isEmpty() ? tr("unsaved project") : QFileInfo(m_lmProjectPath).fileName();
        setWindowTitle(tr("%1[*] (%2) — %3 language model — %4")
                           .arg(displayName(m_lmSpec), project, QString::fromStdString(m_lm->model()->config().archName),
                                QLatin1String(kAppName)));
        setWindowModified(m_lmModified);
        return;
    }
    if (!model()) {
        setWindowTitle(QLatin1String(kAppName));
        setWindowModified(false);
        return;
    }
    QString name = displayName(modelSpec());
    auto arch = model()->metadata.find("architecture");
    if (cw::isDemoModel(modelSpec().toStdString()) && arch != model()->metadata.end())
        name += QStringLiteral(" — ") + QString::fromStdString(arch->second);
    // The project's file when it has one; "[*]" shows the modified mark.
    const QString project = m_document->fileName().isEmpty() ? tr("unsaved project")
                                                             : QFileInfo(m_document->fileName()).fileName();
    setWindowTitle(QStringLiteral("%1[*] (%2) — %3").arg(name, project, QLatin1String(kAppName)));
    setWindowModified(m_document->isModified());
}

QString MainWindow::modelStatusText() const
{
    if (const LanguageModelPtr &lm = m_lm->model())
        return tr("%1 parameters · %2").arg(formatCount(lm->config().parameters), formatBytes(lm->config().storedBytes));
    if (!model())
        return tr("No model");
    return tr("%1 parameters · %2").arg(formatCount(model()->graph.parameterCount()),
                                         formatBytes(int64_t(model()->graph.parameterBytes())));
}

QString MainWindow::evaluationStatusText() const
{
    if (m_lm->model())
        return m_lm->evaluationStatusText();
    if (!m_evaluation)
        return {};
    const cw::EvalResult &r = m_evaluation->result;
    return tr("Accuracy %1 · top-5 %2 · loss %3 · %4 samples")
        .arg(formatPercent(r.accuracy), formatPercent(r.top5), displayLocale().toString(r.loss, 'f', 3),
             formatCount(r.samples));
}

void MainWindow::updateStatus()
{
    m_modelStatus->setText(modelStatusText());
    m_modelStatus->setToolTip(model() || m_lm->model() ? tr("Parameter count and weight bytes of the open model") : QString());
    const QString eval = evaluationStatusText();
    m_evalStatus->setText(eval);
    m_evalStatus->setVisible(!eval.isEmpty());
    m_evalSeparator->setVisible(!eval.isEmpty());
    if (m_evaluation)
        m_evalStatus->setToolTip(tr("Last evaluation on %1").arg(m_evaluation->dataset));
    else if (m_lm->model())
        m_evalStatus->setToolTip(tr("Last perplexity measured (Evaluate tab)"));
}

void MainWindow::onTableRowChanged()
{
    const QModelIndex current = m_table->selectionModel()->currentIndex();
    const int row = current.isValid() ? m_proxy->mapToSource(current).row() : -1;
    m_chart->setSelectedRow(row);
    m_graph->setSelectedRow(row);
    m_inspect->setLayer(row >= 0 ? QString::fromStdString(m_layerModel->layer(row).name) : QString());
    if (row >= 0)
        m_sensitivity->setSelectedLayer(QString::fromStdString(m_layerModel->layer(row).name));
}

void MainWindow::setZoom(double factor)
{
    factor = qBound(0.5, factor, 3.0);
    const double ratio = factor / m_zoom;
    if (qFuzzyCompare(ratio, 1.0))
        return;
    // The widgets follow the application font; the charts copied theirs when they were made.
    QFont font = QApplication::font();
    font.setPointSizeF(m_unzoomedPointSize * factor);
    QApplication::setFont(font);
    for (QCustomPlot *plot : findChildren<QCustomPlot *>())
        scaleChartFonts(plot, ratio);
    m_zoom = factor;
    QSettings().setValue(QStringLiteral("view/zoom"), factor);
    statusBar()->showMessage(tr("Zoom %1%").arg(qRound(factor * 100)), 3000);
}

int MainWindow::addAnalysisTab(QWidget *view, const QString &title)
{
    const int index = m_tabs->addTab(view, title);
    if (m_viewMenu) {
        QAction *action = addTabAction(m_viewMenu, m_tabs, index);
        m_tabActions << action;
        action->setVisible(m_pages->currentWidget() != m_lm);
    }
    return index;
}

bool MainWindow::selectLayer(const QString &name)
{
    const int row = m_layerModel->rowOfLayer(name);
    if (row >= 0) {
        onChartLayerClicked(row);
        return true;
    }
    // A layer inside an If / Loop / Scan has no row in the table: Inspect shows it alone.
    if (!model() || !cw::findLayer(model()->graph, name.toStdString()))
        return false;
    m_table->selectionModel()->clear();
    m_inspect->setLayer(name);
    return true;
}

QString MainWindow::selectedLayer() const
{
    const QModelIndex current = m_table->selectionModel()->currentIndex();
    return current.isValid() ? QString::fromStdString(m_layerModel->layer(m_proxy->mapToSource(current).row()).name)
                             : QString();
}

bool MainWindow::showInspect(const QString &layer)
{
    if (!selectLayer(layer))
        return false;
    m_tabs->setCurrentWidget(m_inspect);
    return true;
}

void MainWindow::onChartLayerClicked(int row)
{
    QModelIndex index = m_proxy->mapFromSource(m_layerModel->index(row, 0));
    if (!index.isValid()) { // filtered out: show everything again so the row can be selected
        m_filter->clear();
        index = m_proxy->mapFromSource(m_layerModel->index(row, 0));
    }
    m_table->selectionModel()->setCurrentIndex(index, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    m_table->scrollTo(index, QAbstractItemView::PositionAtCenter);
}

} // namespace cw::ui
