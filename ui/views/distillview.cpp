#include "ui/views/distillview.h"

#include <cmath>

#include <QCheckBox>
#include <QDir>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QSettings>
#include <QShortcut>
#include <QSpinBox>
#include <QSplitter>
#include <QStackedWidget>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include "core/compress/compress.h"
#include "ui/charts/chartexport.h"
#include "ui/formatting.h"
#include "ui/jobs/compressjob.h"
#include "ui/jobs/distilljob.h"

namespace cw::ui {

namespace {

constexpr const char *kSettingsGroup = "distill";

// A one-line explanation under a control, for newcomers.
QLabel *hint(const QString &text)
{
    auto *label = new QLabel(text);
    label->setWordWrap(true);
    label->setStyleSheet(QStringLiteral("color: palette(mid); font-size: small;"));
    return label;
}

QDoubleSpinBox *doubleSpin(const QString &name, double lo, double hi, double step, int decimals, double value)
{
    auto *s = new QDoubleSpinBox;
    s->setObjectName(name);
    s->setRange(lo, hi);
    s->setSingleStep(step);
    s->setDecimals(decimals);
    s->setValue(value);
    s->setKeyboardTracking(false);
    return s;
}

QSpinBox *intSpin(const QString &name, int lo, int hi, int value)
{
    auto *s = new QSpinBox;
    s->setObjectName(name);
    s->setRange(lo, hi);
    s->setValue(value);
    s->setKeyboardTracking(false);
    return s;
}

// A page of widgets side by side, without margins; `stretch` names the one that takes the spare width (-1: none).
QWidget *row(std::initializer_list<QWidget *> widgets, int stretch)
{
    auto *page = new QWidget;
    auto *layout = new QHBoxLayout(page);
    layout->setContentsMargins(0, 0, 0, 0);
    int i = 0;
    for (QWidget *w : widgets)
        layout->addWidget(w, i++ == stretch ? 1 : 0);
    return page;
}

const QColor kTotal(40, 40, 40), kHard(31, 119, 180), kSoft(214, 39, 40), kFeature(44, 160, 44);

} // namespace

DistillView::DistillView(QWidget *parent) : QWidget(parent)
{
    // Student
    m_kind = new QComboBox;
    m_kind->setObjectName(QStringLiteral("studentKind"));
    m_kind->addItems({tr("Slimmed copy of the teacher"), tr("Demo architecture"), tr("Model file")});
    m_slim = doubleSpin(QStringLiteral("slimFactor"), 0.25, 1.0, 0.05, 2, 0.5);
    m_slim->setPrefix(tr("channels × "));
    m_slim->setToolTip(tr("Every layer keeps this fraction of its output channels (the strongest, by L1 norm)"));
    m_arch = new QComboBox;
    m_arch->addItems({QStringLiteral("cnn"), QStringLiteral("resnet")});
    m_width = doubleSpin(QStringLiteral("studentWidth"), 0.05, 2.0, 0.05, 2, 0.25);
    m_width->setPrefix(tr("width × "));
    m_studentFile = new QLineEdit;
    m_studentFile->setObjectName(QStringLiteral("studentFile"));
    m_studentFile->setPlaceholderText(tr("a .onnx or .h5 model with the teacher's input and output"));
    auto *browse = new QPushButton(tr("Browse…"));
    m_dropBlocks = new QCheckBox(tr("remove residual blocks"));
    m_dropBlocks->setObjectName(QStringLiteral("dropBlocks"));
    m_dropBlocks->setToolTip(tr("Also remove every residual block with an identity shortcut (y = x + f(x) becomes "
                                "y = x); channels × 1.00 removes blocks only"));
    m_kindPages = new QStackedWidget;
    m_kindPages->addWidget(row({m_slim, m_dropBlocks}, 0)); // the pages in StudentKind order
    m_kindPages->addWidget(row({m_arch, m_width}, -1));
    m_kindPages->addWidget(row({m_studentFile, browse}, 0));
    m_fresh = new QCheckBox(tr("fresh weights (He initialisation)"));
    m_fresh->setToolTip(tr("Start the slimmed copy or the file's model from random weights instead of its own"));
    m_prediction = new QLabel;
    m_prediction->setObjectName(QStringLiteral("studentPrediction"));
    m_prediction->setWordWrap(true);
    auto *studentBox = new QGroupBox(tr("Student"));
    auto *studentForm = new QFormLayout(studentBox);
    studentForm->addRow(m_kind);
    studentForm->addRow(m_kindPages);
    studentForm->addRow(m_fresh);
    studentForm->addRow(m_prediction);

    // Losses
    m_temperature = doubleSpin(QStringLiteral("temperature"), 0.5, 50.0, 0.5, 1, 4.0);
    m_alpha = doubleSpin(QStringLiteral("alpha"), 0.0, 1.0, 0.05, 2, 0.7);
    m_features = new QLineEdit;
    m_features->setObjectName(QStringLiteral("features"));
    m_features->setPlaceholderText(tr("none (e.g. conv2, or student=teacher)"));
    m_featureLoss = new QComboBox;
    m_featureLoss->addItems({QStringLiteral("l2"), QStringLiteral("cosine"), QStringLiteral("attention")});
    m_featureWeight = doubleSpin(QStringLiteral("featureWeight"), 0.0, 1e6, 0.1, 2, 1.0);
    auto *lossBox = new QGroupBox(tr("Losses"));
    auto *lossForm = new QFormLayout(lossBox);
    lossForm->addRow(tr("Temperature T"), m_temperature);
    lossForm->addRow(hint(tr("Softens the teacher's outputs so the student also learns how it ranks the wrong classes.")));
    lossForm->addRow(tr("Teacher weight α"), m_alpha);
    m_alphaNote = new QLabel(tr("The training data has no labels: the teacher is the only target, as with α = 1."));
    m_alphaNote->setObjectName(QStringLiteral("alphaNote"));
    m_alphaNote->setWordWrap(true);
    m_alphaNote->setVisible(false);
    lossForm->addRow(m_alphaNote);
    lossForm->addRow(hint(tr("α · T² · KL(teacher ‖ student) + (1 − α) · cross-entropy: 0 = labels only, 1 = teacher only "
                             "(data without labels).")));
    lossForm->addRow(tr("Features"), m_features);
    auto *featureRow = new QHBoxLayout;
    featureRow->addWidget(m_featureLoss);
    featureRow->addWidget(new QLabel(tr("weight")));
    featureRow->addWidget(m_featureWeight);
    lossForm->addRow(tr("Feature loss"), featureRow);
    lossForm->addRow(hint(tr("Also match intermediate activations (a learned 1×1 adapter bridges different widths); "
                             "attention transfer compares where each layer looks.")));

    // Training
    m_epochs = intSpin(QStringLiteral("epochs"), 1, 1000, 2);
    m_lr = doubleSpin(QStringLiteral("lr"), 1e-6, 1.0, 1e-4, 6, 1e-3);
    m_batch = intSpin(QStringLiteral("batch"), 1, 4096, 64);
    m_seed = intSpin(QStringLiteral("seed"), 0, 1 << 30, 1);
    m_augmentShift = intSpin(QStringLiteral("augmentShift"), 0, 8, 0);
    m_augmentShift->setSpecialValueText(tr("no shift"));
    m_augmentShift->setPrefix(tr("shift ± "));
    m_augmentShift->setSuffix(tr(" px"));
    m_augmentFlip = new QCheckBox(tr("mirror"));
    m_augmentFlip->setObjectName(QStringLiteral("augmentFlip"));
    m_trainData = new QLineEdit(QStringLiteral("fashion-mnist:train"));
    m_trainData->setObjectName(QStringLiteral("trainData"));
    m_trainData->setToolTip(tr("Training data: a dataset spec or path; labels are optional"));
    m_evalLimit = intSpin(QStringLiteral("evalLimit"), 0, 10000000, 1000);
    m_evalLimit->setSpecialValueText(tr("all"));
    m_evalLimit->setToolTip(tr("Samples of the evaluation data (the window's dataset) each validation uses"));
    auto *trainBox = new QGroupBox(tr("Training"));
    auto *trainForm = new QFormLayout(trainBox);
    trainForm->addRow(tr("Epochs"), m_epochs);
    trainForm->addRow(tr("Learning rate"), m_lr);
    trainForm->addRow(tr("Batch"), m_batch);
    trainForm->addRow(tr("Seed"), m_seed);
    trainForm->addRow(tr("Augment"), row({m_augmentShift, m_augmentFlip}, -1));
    trainForm->addRow(hint(tr("Moves and mirrors each training image at random; the teacher sees the same images, "
                              "so it also teaches on inputs it has not memorised.")));
    auto *trainFile = new QPushButton(tr("File…"));
    trainFile->setToolTip(tr("A dataset file: IDX, .npy (inputs only: no labels needed), .npz, .h5"));
    auto *trainFolder = new QPushButton(tr("Folder…"));
    trainFolder->setToolTip(tr("A folder of images: one sub-folder per class, or unlabelled images directly inside"));
    connect(trainFile, &QPushButton::clicked, this, [this]() {
        const QString path = QFileDialog::getOpenFileName(this, tr("Training Data"), QString(),
                                                          tr("Datasets (*.gz *.npy *.npz *.h5 *.hdf5 *-ubyte);;All files (*)"));
        if (!path.isEmpty()) {
            m_trainData->setText(path);
            checkTrainingData();
        }
    });
    connect(trainFolder, &QPushButton::clicked, this, [this]() {
        const QString path = QFileDialog::getExistingDirectory(this, tr("Training Images"));
        if (!path.isEmpty()) {
            m_trainData->setText(path);
            checkTrainingData();
        }
    });
    m_trainFit = new DataFitNotice(Qt::Vertical); // the form is narrow: the button under the words
    connect(m_trainData, &QLineEdit::editingFinished, this, &DistillView::checkTrainingData);
    connect(m_trainData, &QLineEdit::textChanged, this, &DistillView::showTrainingDataProblem);
    connect(m_trainFit->check(), &DataFitCheck::checked, this, &DistillView::showTrainingDataProblem);
    connect(m_trainFit, &DataFitNotice::useEvaluationData, this, [this] {
        m_trainData->setText(m_evalSpec);
        checkTrainingData();
    });
    auto *trainRow = new QHBoxLayout;
    trainRow->addWidget(m_trainData, 1);
    trainRow->addWidget(trainFile);
    trainRow->addWidget(trainFolder);
    trainForm->addRow(tr("Training data"), trainRow);
    trainForm->addRow(m_trainFit);
    trainForm->addRow(tr("Validation samples"), m_evalLimit);

    m_run = new QPushButton(tr("Distil"));
    m_run->setObjectName(QStringLiteral("distillButton"));
    m_run->setToolTip(tr("Train the student with the open model as teacher (Ctrl+Shift+D)"));
    m_cancel = new QPushButton(tr("Cancel"));
    m_cancel->setObjectName(QStringLiteral("distillCancel"));
    m_progress = new QProgressBar;
    m_progress->setRange(0, 1000);
    m_progress->setTextVisible(true);
    m_statusLabel = new QLabel;
    m_statusLabel->setWordWrap(true);
    m_clusterButton = new QPushButton(tr("Run on Cluster…"));
    m_clusterButton->setObjectName(QStringLiteral("distillCluster"));
    m_clusterButton->setToolTip(tr("Write this distillation as a plan and a Slurm job into a folder; File → Import "
                                   "Results adds the student to the project"));
    connect(m_clusterButton, &QPushButton::clicked, this, &DistillView::clusterRequested);
    auto *buttons = new QHBoxLayout;
    buttons->addWidget(m_run);
    buttons->addWidget(m_cancel);
    buttons->addStretch(1);
    buttons->addWidget(m_clusterButton);

    auto *left = new QWidget;
    auto *leftLayout = new QVBoxLayout(left);
    leftLayout->addWidget(studentBox);
    leftLayout->addWidget(lossBox);
    leftLayout->addWidget(trainBox);
    leftLayout->addLayout(buttons);
    leftLayout->addWidget(m_progress);
    leftLayout->addWidget(m_statusLabel);
    leftLayout->addStretch(1);

    // Curves
    m_lossChart = new QCustomPlot;
    enableChartExport(m_lossChart, QStringLiteral("distill-loss"));
    m_lossChart->setObjectName(QStringLiteral("distillLossChart"));
    m_lossChart->setMinimumSize(200, 120);
    m_lossChart->xAxis->setLabel(tr("step"));
    m_lossChart->yAxis->setLabel(tr("training loss (log scale)"));
    // The first steps' loss is many times the rest: a log scale keeps the later progress readable.
    m_lossChart->yAxis->setScaleType(QCPAxis::stLogarithmic);
    m_lossChart->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    m_lossChart->legend->setVisible(true);
    m_lossChart->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
    const std::pair<QString, QColor> parts[] = {
        {tr("total"), kTotal}, {tr("hard (labels)"), kHard}, {tr("soft (teacher)"), kSoft}, {tr("feature"), kFeature}};
    for (const auto &[name, color] : parts) {
        QCPGraph *g = m_lossChart->addGraph();
        g->setName(name);
        g->setPen(QPen(color, name == tr("total") ? 2.0 : 1.3));
    }
    m_accuracyChart = new QCustomPlot;
    enableChartExport(m_accuracyChart, QStringLiteral("distill-quality"));
    m_accuracyChart->setObjectName(QStringLiteral("distillAccuracyChart"));
    m_accuracyChart->setMinimumSize(200, 100);
    m_accuracyChart->xAxis->setLabel(tr("epoch"));
    auto epochTicks = QSharedPointer<QCPAxisTickerFixed>(new QCPAxisTickerFixed);
    epochTicks->setTickStep(1.0);
    epochTicks->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
    m_accuracyChart->xAxis->setTicker(epochTicks);
    m_accuracyChart->yAxis->setLabel(tr("validation accuracy, %"));
    m_accuracyChart->legend->setVisible(true);
    m_accuracyChart->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignBottom | Qt::AlignRight);
    QCPGraph *student = m_accuracyChart->addGraph();
    student->setName(tr("student"));
    student->setPen(QPen(kHard, 2.0));
    student->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 6));
    QCPGraph *teacher = m_accuracyChart->addGraph();
    teacher->setName(tr("teacher"));
    teacher->setPen(QPen(kTotal, 1.5, Qt::DashLine));
    m_log = new QPlainTextEdit;
    m_log->setObjectName(QStringLiteral("distillLog"));
    m_log->setReadOnly(true);
    m_log->setMaximumBlockCount(2000);
    auto *right = new QSplitter(Qt::Vertical);
    right->addWidget(m_lossChart);
    right->addWidget(m_accuracyChart);
    right->addWidget(m_log);
    right->setStretchFactor(0, 3);
    right->setStretchFactor(1, 2);
    right->setStretchFactor(2, 1);

    // The settings scroll when the window is small; the curves take what is left.
    auto *leftScroll = new QScrollArea;
    leftScroll->setWidget(left);
    leftScroll->setWidgetResizable(true);
    leftScroll->setFrameShape(QFrame::NoFrame);
    leftScroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    leftScroll->setMinimumWidth(280);
    auto *splitter = new QSplitter(Qt::Horizontal);
    splitter->addWidget(leftScroll);
    splitter->addWidget(right);
    splitter->setStretchFactor(0, 2);
    splitter->setStretchFactor(1, 3);
    splitter->setChildrenCollapsible(false);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(splitter);

    connect(m_kind, &QComboBox::currentIndexChanged, this, [this](int index) {
        m_kindPages->setCurrentIndex(index);
        m_fresh->setEnabled(index != 1);
        updatePrediction();
    });
    connect(m_slim, &QDoubleSpinBox::valueChanged, this, &DistillView::updatePrediction);
    connect(m_dropBlocks, &QCheckBox::toggled, this, &DistillView::updatePrediction);
    connect(m_arch, &QComboBox::currentIndexChanged, this, &DistillView::updatePrediction);
    connect(m_width, &QDoubleSpinBox::valueChanged, this, &DistillView::updatePrediction);
    connect(m_studentFile, &QLineEdit::editingFinished, this, &DistillView::updatePrediction);
    connect(browse, &QPushButton::clicked, this, [this]() {
        const QString path = QFileDialog::getOpenFileName(this, tr("Student Model"), QFileInfo(m_studentFile->text()).absolutePath(),
                                                          tr("Models (*.onnx *.h5);;All files (*)"));
        if (!path.isEmpty()) {
            m_studentFile->setText(path);
            updatePrediction();
        }
    });
    connect(m_run, &QPushButton::clicked, this, [this]() { distill(); });
    connect(m_cancel, &QPushButton::clicked, this, &DistillView::cancel);
    auto *shortcut = new QShortcut(QKeySequence(tr("Ctrl+Shift+D")), this);
    shortcut->setContext(Qt::WidgetWithChildrenShortcut);
    connect(shortcut, &QShortcut::activated, this, [this]() { distill(); });

    readSettings();
    m_kindPages->setCurrentIndex(m_kind->currentIndex());
    clearCurves();
    updateControls();
}

DistillView::~DistillView()
{
    writeSettings();
    if (m_job) {
        m_job->cancel();
        m_job->waitForFinished();
    }
}

void DistillView::setModel(const cw::Model *model)
{
    if (m_job) {
        // The job belongs to the previous project: its student must not land in the new one.
        disconnect(m_job, nullptr, this, nullptr);
        m_job->cancel();
        connect(m_job, &Job::finished, m_job, &QObject::deleteLater);
        m_job = nullptr;
        updateControls();
    }
    m_teacher = model;
    clearCurves();
    updatePrediction();
    updateControls();
    checkTrainingData();
}

void DistillView::setRunInputs(const RunInputs &inputs)
{
    m_runInputs = inputs;
    updateControls();
    // The preprocessing and the sizes may change what fits. Checked once the window has given the views its model:
    // a new model's inputs arrive first.
    QMetaObject::invokeMethod(this, &DistillView::checkTrainingData, Qt::QueuedConnection);
}

void DistillView::setDataset(const QString &spec)
{
    m_evalSpec = spec;
    showTrainingDataProblem(); // the way out names the evaluation data
}

void DistillView::checkTrainingData()
{
    m_trainFit->check()->check(m_teacher ? &m_teacher->graph : nullptr, m_trainData->text(), m_runInputs);
}

void DistillView::showTrainingDataProblem()
{
    m_trainFit->showFor(m_trainData->text(), m_teacher != nullptr, m_evalSpec);
    // The job takes α = 1 on data without labels (the teacher is the only target), whatever the field says.
    const DataFitCheck *check = m_trainFit->check();
    m_alphaNote->setVisible(m_teacher && check->spec() == m_trainData->text().trimmed() && check->problem().isEmpty() &&
                            !check->labelled());
}

cw::StudentSpec DistillView::studentSpec() const
{
    cw::StudentSpec spec;
    spec.kind = cw::StudentKind(m_kind->currentIndex());
    spec.factor = m_slim->value();
    spec.dropBlocks = m_dropBlocks->isChecked();
    spec.arch = m_arch->currentText().toStdString();
    spec.width = m_width->value();
    spec.path = m_studentFile->text().toStdString();
    spec.fresh = m_fresh->isChecked();
    spec.seed = uint64_t(m_seed->value());
    return spec;
}

cw::DistillJobOptions DistillView::jobOptions() const
{
    cw::DistillJobOptions o;
    o.distill.temperature = float(m_temperature->value());
    o.distill.alpha = float(m_alpha->value());
    for (const QString &f : m_features->text().split(',', Qt::SkipEmptyParts))
        if (!f.trimmed().isEmpty())
            o.distill.features.push_back(f.trimmed().toStdString());
    o.distill.featureLoss = cw::parseFeatureLoss(m_featureLoss->currentText().toStdString());
    o.distill.featureWeight = float(m_featureWeight->value());
    o.train.epochs = m_epochs->value();
    o.train.lr = float(m_lr->value());
    o.train.batchSize = m_batch->value();
    o.train.seed = uint64_t(m_seed->value());
    o.train.augment.shift = m_augmentShift->value();
    o.train.augment.flip = m_augmentFlip->isChecked();
    o.measure.inputs = m_runInputs.feeds;
    return o;
}

// The student's parameters and size next to the teacher's, computed by building it (the channel surgery of a
// slimmed copy is quick; a file is loaded only when its name changes).
void DistillView::updatePrediction()
{
    if (!m_teacher) {
        m_prediction->setText(tr("Open a model: it is the teacher."));
        return;
    }
    const int64_t teacherParams = m_teacher->graph.parameterCount();
    // Building the student copies the teacher: on the GUI thread only while that is quick.
    constexpr size_t kPredictBytes = size_t(256) << 20;
    if (m_kind->currentIndex() == int(cw::StudentKind::Slim) && m_teacher->graph.parameterBytes() > kPredictBytes) {
        m_prediction->setText(tr("The teacher has %1 parameters (%2); the student's size is reported when the job "
                                 "starts.")
                                  .arg(formatCount(teacherParams), formatBytes(int64_t(m_teacher->graph.parameterBytes()))));
        m_prediction->setStyleSheet(QString());
        return;
    }
    if (m_kind->currentIndex() == int(cw::StudentKind::File) && m_studentFile->text().isEmpty()) {
        m_prediction->setText(tr("Choose the student's model file."));
        return;
    }
    try {
        cw::StudentSpec spec = studentSpec();
        spec.fresh = false; // the same size either way
        const cw::Model student = cw::makeStudent(*m_teacher, spec);
        const int64_t params = student.graph.parameterCount();
        m_prediction->setText(tr("Student: %1 parameters (%2 of the teacher's %3), about %4 as float32")
                                  .arg(formatCount(params), formatPercent(double(params) / double(std::max<int64_t>(1, teacherParams)), 1),
                                       formatCount(teacherParams), formatBytes(int64_t(student.graph.parameterBytes()))));
        m_prediction->setStyleSheet(QString());
    } catch (const std::exception &e) {
        m_prediction->setText(tr("This student cannot be used: %1").arg(QString::fromUtf8(e.what())));
        m_prediction->setStyleSheet(QStringLiteral("color: #b00020;"));
    }
}

void DistillView::updateControls()
{
    const bool ready = m_teacher != nullptr && m_runInputs.blocked.isEmpty();
    m_run->setEnabled(ready && !m_job);
    m_clusterButton->setEnabled(ready);
    m_run->setToolTip(m_runInputs.blocked.isEmpty() ? tr("Train the student with the open model as teacher (Ctrl+Shift+D)")
                                                     : m_runInputs.blocked);
    m_cancel->setEnabled(m_job != nullptr);
    for (QWidget *w : std::initializer_list<QWidget *>{m_kind, m_kindPages, m_dropBlocks, m_fresh, m_temperature, m_alpha, m_features,
                                                       m_featureLoss, m_featureWeight, m_epochs, m_lr, m_batch, m_seed,
                                                       m_augmentShift, m_augmentFlip, m_trainData, m_evalLimit})
        w->setEnabled(!m_job);
}

std::optional<DistillParams> DistillView::jobParams(const QString &name)
{
    if (!m_teacher) {
        setStatus(tr("No model is open: the open model is the teacher."), true);
        return std::nullopt;
    }
    if (!m_runInputs.blocked.isEmpty()) {
        setStatus(m_runInputs.blocked, true);
        return std::nullopt;
    }
    DistillParams params;
    params.teacher = *m_teacher;
    params.student = studentSpec();
    try {
        params.options = jobOptions();
    } catch (const std::exception &e) {
        setStatus(QString::fromUtf8(e.what()), true);
        return std::nullopt;
    }
    params.trainSpec = m_trainData->text().trimmed().toStdString();
    if (params.trainSpec.empty()) {
        setStatus(tr("Give training data (labels are optional)."), true);
        return std::nullopt;
    }
    params.evalSpec = m_evalSpec.toStdString();
    params.preprocess = m_runInputs.preprocess;
    params.evalLimit = m_evalLimit->value();
    params.name = name;
    writeSettings();
    return params;
}

std::optional<cw::cluster::SweepPlan> DistillView::clusterPlan()
{
    const std::optional<DistillParams> p = jobParams(QStringLiteral("distilled"));
    if (!p)
        return std::nullopt;
    try {
        cw::DistillJobOptions options = p->options;
        if (options.measure.threads <= 0) // as the job runs it
            options.measure.threads = compressThreads();
        // Training data without labels: the teacher is the only target, as the job makes it (cwb refuses α < 1).
        cw::Preprocess pre = p->preprocess;
        cw::fitImageInput(pre, cw::firstInputShape(p->teacher.graph, p->options.measure.inputs));
        if (cw::loadDataset(p->trainSpec, pre, 1).labels.empty())
            options.distill.alpha = 1.f;
        const std::string teacher = p->teacher.sourcePath;
        return cw::cluster::distillPlan(
            cw::cluster::distillCommand(teacher, p->student, options, p->evalSpec, p->trainSpec, p->preprocess,
                                        p->evalLimit),
            teacher, p->evalSpec.empty() ? std::nullopt : std::optional<std::string>(p->evalSpec), p->trainSpec,
            p->student.kind == cw::StudentKind::File ? p->student.path : std::string(), p->name.toStdString(),
            QDir::currentPath().toStdString());
    } catch (const std::exception &e) {
        setStatus(tr("Cannot plan this distillation for a cluster: %1").arg(QString::fromUtf8(e.what())), true);
        return std::nullopt;
    }
}

bool DistillView::distill()
{
    if (m_job) {
        setStatus(tr("A distillation is already running."), true);
        return false;
    }
    const QString name = QStringLiteral("distilled-%1").arg(m_runs + 1);
    std::optional<DistillParams> p = jobParams(name);
    if (!p)
        return false;
    ++m_runs;
    DistillParams params = std::move(*p);

    const bool features = !params.options.distill.features.empty();
    auto *job = new DistillJob(std::move(params), this);
    m_job = job;
    m_succeeded = false;
    clearCurves();
    QCPGraph *featureCurve = m_lossChart->graph(3);
    featureCurve->setVisible(features);
    if (features)
        featureCurve->addToLegend();
    else
        featureCurve->removeFromLegend();
    log(tr("== %1: %2, T %3, α %4").arg(name, m_kind->currentText()).arg(m_temperature->value()).arg(m_alpha->value()));
    connect(job, &Job::progress, this, [this, name](double fraction, const QString &stage) {
        m_progress->setValue(int(qBound(0.0, fraction, 1.0) * 1000));
        m_progress->setFormat(QStringLiteral("%1 — %2 %p%").arg(name, stage.isEmpty() ? tr("working") : stage));
    });
    connect(job, &DistillJob::logLine, this, [this](const QString &line) { log(line); });
    connect(job, &DistillJob::stepDone, this, &DistillView::addStep);
    connect(job, &DistillJob::epochDone, this, &DistillView::addEpoch);
    connect(job, &DistillJob::succeeded, this, [this, job](std::shared_ptr<const cw::Variant> variant) {
        const cw::Variant &v = *variant;
        m_succeeded = true;
        // Accuracy where labels counted it, else the first output's fidelity to the teacher.
        const QString quality = v.metrics.samples > 0 ? tr("accuracy %1").arg(formatPercent(v.metrics.accuracy))
                                : !v.metrics.fidelity.empty()
                                    ? tr("output SQNR against the teacher %1").arg(formatDb(v.metrics.fidelity.front().sqnrDb))
                                    : tr("not evaluated");
        log(tr("%1: %2, %3 (%4× smaller than the teacher)")
                .arg(QString::fromStdString(v.name), quality, formatBytes(v.metrics.fileBytes))
                .arg(v.metrics.compressionRatio, 0, 'f', 2));
        setStatus(tr("%1 finished in %2 s; it is in the Compress tab's variants")
                      .arg(QString::fromStdString(v.name))
                      .arg(job->elapsedMs() / 1000.0, 0, 'f', 1));
        const DistillParams &params = job->params();
        cw::ProjectVariant pv{v, "distill", cw::currentProvenance()};
        pv.provenance.command = cwbCommand(params).toStdString();
        pv.provenance.evalData = params.evalSpec;
        pv.provenance.trainData = params.trainSpec;
        emit variantReady(pv);
    });
    connect(job, &Job::failed, this, [this, name](const QString &error) {
        log(tr("%1 failed: %2").arg(name, error));
        setStatus(tr("%1 failed: %2").arg(name, error), true);
        emit errorOccurred(error);
    });
    connect(job, &Job::cancelled, this, [this, name]() {
        log(tr("%1 cancelled").arg(name));
        setStatus(tr("%1 cancelled: nothing was kept").arg(name));
    });
    connect(job, &Job::finished, this, [this, job]() {
        const bool ok = m_succeeded;
        m_job = nullptr;
        job->deleteLater();
        m_progress->setValue(ok ? 1000 : 0);
        updateControls();
        emit jobFinished(ok);
    });
    job->start();
    updateControls();
    setStatus(tr("%1 running").arg(name));
    emit jobStarted(name);
    return true;
}

void DistillView::cancel()
{
    if (m_job)
        m_job->cancel();
}

void DistillView::clearCurves()
{
    for (int i = 0; i < m_lossChart->graphCount(); ++i)
        m_lossChart->graph(i)->data()->clear();
    for (int i = 0; i < m_accuracyChart->graphCount(); ++i)
        m_accuracyChart->graph(i)->data()->clear();
    m_lossChart->xAxis->setRange(0, 10);
    m_lossChart->yAxis->setRange(0.01, 10);
    m_accuracyChart->xAxis->setRange(0, std::max(2, m_epochs->value()) + 0.3);
    m_accuracyChart->yAxis->setRange(0, 100);
    m_accuracyChart->yAxis->setLabel(tr("validation accuracy, %"));
    m_accuracyChart->graph(1)->addToLegend();
    m_lossChart->replot();
    m_accuracyChart->replot();
}

void DistillView::addStep(const cw::StepStats &step)
{
    const double values[] = {step.loss, step.parts.hard, step.parts.soft, step.parts.feature};
    for (int i = 0; i < 4; ++i)
        m_lossChart->graph(i)->addData(double(step.step), values[i]);
    m_lossChart->xAxis->setRange(0, double(std::max<int64_t>(step.steps, 1)));
    bool found = false;
    double lo = 1e30, hi = 0;
    for (int i = 0; i < m_lossChart->graphCount(); ++i) {
        if (!m_lossChart->graph(i)->visible())
            continue;
        const QCPRange y = m_lossChart->graph(i)->data()->valueRange(found, QCP::sdPositive);
        if (found) {
            lo = std::min(lo, y.lower);
            hi = std::max(hi, y.upper);
        }
    }
    if (hi > 0)
        m_lossChart->yAxis->setRange(std::max(1e-4, lo * 0.8), hi * 1.25);
    m_lossChart->replot(QCustomPlot::rpQueuedReplot);
}

void DistillView::addEpoch(const cw::DistillEpoch &epoch)
{
    if (!epoch.validation || !std::isfinite(*epoch.validation))
        return;
    // Accuracy and agreement are shares, drawn in percent; SQNR against the teacher in dB.
    const bool decibels = epoch.measure == cw::ValidationMeasure::SqnrDb;
    const double scale = decibels ? 1.0 : 100.0;
    m_accuracyChart->yAxis->setLabel(decibels ? tr("SQNR vs teacher, dB")
                                     : epoch.measure == cw::ValidationMeasure::Agreement
                                         ? tr("top-1 agreement with the teacher, %")
                                         : tr("validation accuracy, %"));
    m_accuracyChart->graph(0)->addData(double(epoch.train.epoch), *epoch.validation * scale);
    QCPGraph *teacher = m_accuracyChart->graph(1);
    teacher->data()->clear();
    if (epoch.teacherValidation) {
        teacher->addData(0, *epoch.teacherValidation * scale);
        teacher->addData(double(epoch.train.epochs), *epoch.teacherValidation * scale);
        teacher->addToLegend();
    } else {
        teacher->removeFromLegend(); // an SQNR against itself would be infinite
    }
    m_accuracyChart->xAxis->setRange(0, std::max(1, epoch.train.epochs) + 0.3);
    bool found = false;
    double lo = 1e300, hi = -1e300;
    for (int i = 0; i < 2; ++i) {
        const QCPRange r = m_accuracyChart->graph(i)->data()->valueRange(found);
        if (found) {
            lo = std::min(lo, r.lower);
            hi = std::max(hi, r.upper);
        }
    }
    if (decibels)
        m_accuracyChart->yAxis->setRange(lo - 1.0, hi + 1.0);
    else
        m_accuracyChart->yAxis->setRange(std::max(0.0, lo - 2.0), std::min(100.0, hi + 2.0));
    m_accuracyChart->replot(QCustomPlot::rpQueuedReplot);
}

void DistillView::setStatus(const QString &text, bool error)
{
    m_status = text;
    m_statusLabel->setText(text);
    m_statusLabel->setStyleSheet(error ? QStringLiteral("color: #b00020;") : QString());
}

void DistillView::readSettings()
{
    QSettings s;
    s.beginGroup(QLatin1String(kSettingsGroup));
    m_kind->setCurrentIndex(qBound(0, s.value(QStringLiteral("studentKind"), 0).toInt(), 2));
    m_slim->setValue(s.value(QStringLiteral("slim"), 0.5).toDouble());
    m_dropBlocks->setChecked(s.value(QStringLiteral("dropBlocks"), false).toBool());
    m_arch->setCurrentText(s.value(QStringLiteral("arch"), QStringLiteral("cnn")).toString());
    m_width->setValue(s.value(QStringLiteral("width"), 0.25).toDouble());
    m_studentFile->setText(s.value(QStringLiteral("studentFile")).toString());
    m_fresh->setChecked(s.value(QStringLiteral("fresh"), false).toBool());
    m_temperature->setValue(s.value(QStringLiteral("temperature"), 4.0).toDouble());
    m_alpha->setValue(s.value(QStringLiteral("alpha"), 0.7).toDouble());
    m_features->setText(s.value(QStringLiteral("features")).toString());
    m_featureLoss->setCurrentText(s.value(QStringLiteral("featureLoss"), QStringLiteral("l2")).toString());
    m_featureWeight->setValue(s.value(QStringLiteral("featureWeight"), 1.0).toDouble());
    m_epochs->setValue(s.value(QStringLiteral("epochs"), 2).toInt());
    m_lr->setValue(s.value(QStringLiteral("lr"), 1e-3).toDouble());
    m_batch->setValue(s.value(QStringLiteral("batch"), 64).toInt());
    m_seed->setValue(s.value(QStringLiteral("seed"), 1).toInt());
    m_augmentShift->setValue(s.value(QStringLiteral("augmentShift"), 0).toInt());
    m_augmentFlip->setChecked(s.value(QStringLiteral("augmentFlip"), false).toBool());
    m_trainData->setText(s.value(QStringLiteral("trainData"), QStringLiteral("fashion-mnist:train")).toString());
    m_evalLimit->setValue(s.value(QStringLiteral("evalLimit"), 1000).toInt());
    s.endGroup();
}

void DistillView::writeSettings() const
{
    QSettings s;
    s.beginGroup(QLatin1String(kSettingsGroup));
    s.setValue(QStringLiteral("studentKind"), m_kind->currentIndex());
    s.setValue(QStringLiteral("slim"), m_slim->value());
    s.setValue(QStringLiteral("dropBlocks"), m_dropBlocks->isChecked());
    s.setValue(QStringLiteral("arch"), m_arch->currentText());
    s.setValue(QStringLiteral("width"), m_width->value());
    s.setValue(QStringLiteral("studentFile"), m_studentFile->text());
    s.setValue(QStringLiteral("fresh"), m_fresh->isChecked());
    s.setValue(QStringLiteral("temperature"), m_temperature->value());
    s.setValue(QStringLiteral("alpha"), m_alpha->value());
    s.setValue(QStringLiteral("features"), m_features->text());
    s.setValue(QStringLiteral("featureLoss"), m_featureLoss->currentText());
    s.setValue(QStringLiteral("featureWeight"), m_featureWeight->value());
    s.setValue(QStringLiteral("epochs"), m_epochs->value());
    s.setValue(QStringLiteral("lr"), m_lr->value());
    s.setValue(QStringLiteral("batch"), m_batch->value());
    s.setValue(QStringLiteral("seed"), m_seed->value());
    s.setValue(QStringLiteral("augmentShift"), m_augmentShift->value());
    s.setValue(QStringLiteral("augmentFlip"), m_augmentFlip->isChecked());
    s.setValue(QStringLiteral("trainData"), m_trainData->text());
    s.setValue(QStringLiteral("evalLimit"), m_evalLimit->value());
    s.endGroup();
}

void DistillView::log(const QString &line)
{
    m_log->appendPlainText(line);
    emit logged(line);
}

} // namespace cw::ui
