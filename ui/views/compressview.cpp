#include "ui/views/compressview.h"

#include <QAction>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollBar>
#include <QSettings>
#include <QShortcut>
#include <QSpinBox>
#include <QSplitter>
#include <QStandardItemModel>
#include <QTableView>
#include <QToolButton>
#include <QToolTip>
#include <QUndoCommand>
#include <QUndoStack>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <cmath>

#include "core/base/error.h"
#include "core/compress/allocate.h"
#include "core/compress/sensitivity.h"
#include "core/runtime/onednn.h"
#include "ui/charts/chartexport.h"
#include "ui/formatting.h"
#include "ui/jobs/modeljobs.h"
#include "ui/models/recipetablemodel.h"
#include "ui/projectdocument.h"
#include "ui/rowtable.h"

namespace cw::ui {

// One edit of the recipe: the whole recipe before and after (recipes are small), so table edits, global
// changes and loaded files undo the same way.
class RecipeCommand : public QUndoCommand {
public:
    RecipeCommand(CompressView *view, cw::Recipe before, cw::Recipe after, const QString &text)
        : QUndoCommand(text), m_view(view), m_before(std::move(before)), m_after(std::move(after))
    {
    }
    void redo() override { m_view->applyRecipe(m_after); }
    void undo() override { m_view->applyRecipe(m_before); }

private:
    CompressView *m_view;
    cw::Recipe m_before, m_after;
};

namespace {

const char kSettingsGroup[] = "compress";
const char kRecipeDirKey[] = "lastDirs/recipe";
const char kVariantDirKey[] = "lastDirs/variant";
const char kTeacherDirKey[] = "lastDirs/teacher";

enum VariantColumn {
    VName, VRecipe, VAccuracy, VDrop, VSqnr, VTop5, VLoss, VSize, VOnnx, VRatio, VP50b1, VP90b1, VP50b64, VP90b64,
    VMemory, VPeakRss, VCount
};

QString dirSetting(const char *key)
{
    const QString dir = QSettings().value(QLatin1String(key)).toString();
    return dir.isEmpty() || !QFileInfo(dir).isDir() ? QDir::homePath() : dir;
}

QString summaryOf(const cw::Recipe &recipe)
{
    return QString::fromStdString(cw::recipeSummary(recipe));
}

} // namespace

CompressView::CompressView(ProjectDocument *document, QWidget *parent)
    : QWidget(parent), m_document(document ? document : new ProjectDocument(this)), m_ownsDocument(!document)
{
    setObjectName(QStringLiteral("compressView"));
    connect(m_document, &ProjectDocument::variantAdded, this, &CompressView::onVariantAdded);
    connect(m_document, &ProjectDocument::variantRemoved, this, &CompressView::updateVariants);
    connect(m_document, &ProjectDocument::baseMetricsChanged, this, &CompressView::updateVariants);
    qRegisterMetaType<std::shared_ptr<const cw::Variant>>();
    qRegisterMetaType<std::optional<cw::VariantMetrics>>();
    m_undo = new QUndoStack(this);
    m_tableModel = new RecipeTableModel(this);
    connect(m_tableModel, &RecipeTableModel::editRequested, this,
            [this](const cw::Recipe &recipe, const QString &description) { edit(recipe, description); });

    // ---- Global controls
    m_pruneMethod = new QComboBox;
    m_pruneMethod->setObjectName(QStringLiteral("globalPruneMethod"));
    m_pruneMethod->addItems({QStringLiteral("none"), QStringLiteral("magnitude"), QStringLiteral("block"),
                             QStringLiteral("2:4"), QStringLiteral("4:8"), QStringLiteral("channel")});
    m_pruneMethod->setToolTip(
        tr("magnitude: the smallest weights become zero, anywhere (faster only from 75-89 % of zeros); "
           "block: whole blocks of 16 outputs at one input become zero, which Gemm and MatMul layers "
           "then multiply without (faster from 10 % of blocks); 2:4 / 4:8: two of every four (four of every eight) "
           "weights; channel: whole output channels are removed from the model"));
    m_pruneRatio = new QDoubleSpinBox;
    m_pruneRatio->setObjectName(QStringLiteral("globalPruneRatio"));
    m_pruneRatio->setRange(0.0, 0.95);
    m_pruneRatio->setSingleStep(0.05);
    m_pruneRatio->setDecimals(2);
    m_pruneRatio->setValue(0.5);
    m_applyPrune = new QPushButton(tr("All layers"));
    m_applyPrune->setToolTip(tr("Set this pruning for every layer (overrides included)"));
    connect(m_applyPrune, &QPushButton::clicked, this, &CompressView::applyPruneToAll);
    m_reconstruct = new QCheckBox(tr("reconstruct"));
    m_reconstruct->setObjectName(QStringLiteral("pruneReconstruct"));
    m_reconstruct->setToolTip(tr("Channel pruning: refit each layer that lost input channels by least squares, so "
                                 "that it gives the base model's outputs again on the training (or calibration) "
                                 "samples. Needs no labels and no training, and takes seconds"));
    connect(m_pruneMethod, &QComboBox::currentTextChanged, this, [this] { updateControls(); });
    connect(m_reconstruct, &QCheckBox::toggled, this, [this](bool on) {
        if (m_syncing)
            return;
        cw::Recipe r = recipe();
        if (!r.prune || r.prune->method != cw::PruneMethod::Channel)
            return; // "All layers" applies it with the channel pruning
        r.prune->reconstruct = on;
        edit(r, on ? tr("Reconstruct after channel pruning") : tr("No reconstruction after channel pruning"));
    });

    m_bits = new QComboBox;
    m_bits->setObjectName(QStringLiteral("globalBits"));
    m_bits->addItems({QStringLiteral("float"), QStringLiteral("8"), QStringLiteral("7"), QStringLiteral("6"),
                      QStringLiteral("5"), QStringLiteral("4"), QStringLiteral("3"), QStringLiteral("2")});
    m_bits->setCurrentText(QStringLiteral("8"));
    QString bitsTip = tr("Bits of every layer's weights (\"All layers\" applies them)");
    if (onednn::int8PairsSaturate())
        bitsTip += tr(". This CPU has no VNNI: with 8-bit activations, layers whose weights have 8 bits run exact "
                      "products in 16-bit pairs (convolutions) or as two 8-bit products (Gemms on more than 16 rows, "
                      "grouped and 1-D convolutions: about twice the time); 7 bits run as one 8-bit product, the "
                      "fastest.");
    m_bits->setToolTip(bitsTip);
    m_granularity = new QComboBox;
    m_granularity->setObjectName(QStringLiteral("globalGranularity"));
    m_granularity->addItems({QStringLiteral("tensor"), QStringLiteral("channel"), QStringLiteral("group 32"),
                             QStringLiteral("group 64"), QStringLiteral("group 128")});
    m_granularity->setCurrentText(QStringLiteral("channel"));
    m_applyBits = new QPushButton(tr("All layers"));
    m_applyBits->setToolTip(tr("Set this weight quantization for every layer (overrides included)"));
    connect(m_applyBits, &QPushButton::clicked, this, &CompressView::applyBitsToAll);

    m_activations = new QCheckBox(tr("8-bit activations"));
    m_activations->setObjectName(QStringLiteral("activations"));
    m_calibration = new QComboBox;
    m_calibration->addItems({QStringLiteral("minmax"), QStringLiteral("percentile"), QStringLiteral("mse"),
                             QStringLiteral("entropy")});
    m_calibration->setToolTip(tr("Calibration of the activation ranges"));
    m_calibrationSamples = new QSpinBox;
    m_calibrationSamples->setRange(1, 60000);
    m_calibrationSamples->setValue(512);
    m_calibrationSamples->setSuffix(tr(" samples"));
    m_calibrationSamples->setKeyboardTracking(false);
    m_fidelityFloor = new QDoubleSpinBox;
    m_fidelityFloor->setObjectName(QStringLiteral("fidelityFloor"));
    m_fidelityFloor->setRange(0, 200);
    m_fidelityFloor->setDecimals(1);
    m_fidelityFloor->setSingleStep(1);
    m_fidelityFloor->setPrefix(tr("floor "));
    m_fidelityFloor->setSuffix(tr(" dB"));
    m_fidelityFloor->setSpecialValueText(tr("no fidelity floor"));
    m_fidelityFloor->setKeyboardTracking(false);
    m_fidelityFloor->setToolTip(
        tr("Fidelity floor: the layers left on auto start on integer kernels, 1-D convolutions included; while the "
           "variant's first output (on the samples after the calibration samples, when the data has them) is below "
           "this SQNR, the layer whose integer arithmetic costs most goes back to float arithmetic (0: the layer "
           "types decide)"));
    m_epochs = new QSpinBox;
    m_epochs->setObjectName(QStringLiteral("finetuneEpochs"));
    m_epochs->setRange(0, 100);
    m_epochs->setSuffix(tr(" epochs"));
    m_epochs->setKeyboardTracking(false);
    const auto activationEdit = [this]() {
        if (m_syncing)
            return;
        cw::Recipe r = recipe();
        if (m_activations->isChecked()) {
            r.activations = activationsFromControls(r.activations.value_or(cw::ActivationQuantConfig{}));
        } else {
            r.activations.reset();
        }
        edit(r, m_activations->isChecked() ? tr("Activations: 8-bit, %1").arg(m_calibration->currentText())
                                           : tr("Activations: float"));
    };
    connect(m_activations, &QCheckBox::toggled, this, activationEdit);
    connect(m_calibration, &QComboBox::currentIndexChanged, this, activationEdit);
    connect(m_calibrationSamples, &QSpinBox::valueChanged, this, activationEdit);
    connect(m_fidelityFloor, &QDoubleSpinBox::valueChanged, this, activationEdit);
    connect(m_epochs, &QSpinBox::valueChanged, this, [this](int epochs) {
        if (m_syncing)
            return;
        cw::Recipe r = recipe();
        r.finetune.epochs = epochs;
        if (epochs == 0)
            r.finetune.distill.reset();
        else if (m_teacher->isChecked())
            r.finetune.distill = distillFromControls(r.finetune.distill);
        edit(r, tr("Fine-tune: %n epoch(s)", nullptr, epochs));
    });
    // Distillation as recovery: the base model (or another model) teaches the fine-tuning stages.
    m_teacher = new QCheckBox(tr("teacher"));
    m_teacher->setObjectName(QStringLiteral("finetuneTeacher"));
    m_teacher->setToolTip(tr("Knowledge distillation while fine-tuning: the compressed model learns from the "
                             "teacher's outputs (soft targets) as well as from the labels, which wins back more of "
                             "the accuracy pruning and quantization cost"));
    m_teacherModel = new QComboBox;
    m_teacherModel->setObjectName(QStringLiteral("finetuneTeacherModel"));
    m_teacherModel->addItem(tr("base model"), QString());
    m_teacherModel->addItem(tr("Other model…"));
    m_teacherModel->setToolTip(tr("The model that teaches: the base, or a larger model whose input and output fit "
                                  "the base's, which knows more than the base and so has more to pass on"));
    connect(m_teacherModel, &QComboBox::activated, this, [this](int index) {
        if (index != m_teacherModel->count() - 1)
            return;
        const QString path = QFileDialog::getOpenFileName(this, tr("Teacher Model"), dirSetting(kTeacherDirKey),
                                                          tr("Models (*.onnx *.h5);;All files (*)"));
        setTeacherModel(path.isEmpty() ? teacherModel() : path);
    });
    m_temperature = new QDoubleSpinBox;
    m_temperature->setObjectName(QStringLiteral("finetuneTemperature"));
    m_temperature->setRange(0.5, 20.0);
    m_temperature->setSingleStep(0.5);
    m_temperature->setValue(4.0);
    m_temperature->setPrefix(tr("T "));
    m_temperature->setKeyboardTracking(false);
    m_temperature->setToolTip(tr("Temperature: higher values soften the teacher's outputs, so the student also "
                                 "learns how the teacher ranks the wrong classes"));
    m_alpha = new QDoubleSpinBox;
    m_alpha->setObjectName(QStringLiteral("finetuneAlpha"));
    m_alpha->setRange(0.0, 1.0);
    m_alpha->setSingleStep(0.1);
    m_alpha->setValue(0.7);
    m_alpha->setPrefix(tr("α "));
    m_alpha->setKeyboardTracking(false);
    m_alpha->setToolTip(tr("Weight of the teacher in the loss: 0 trains on the labels alone, 1 on the teacher alone"));
    const auto teacherEdit = [this]() {
        if (m_syncing)
            return;
        cw::Recipe r = recipe();
        if (m_teacher->isChecked() && r.finetune.epochs == 0)
            r.finetune.epochs = 1;
        r.finetune.distill.reset();
        if (m_teacher->isChecked())
            r.finetune.distill = distillFromControls(recipe().finetune.distill);
        edit(r, m_teacher->isChecked() ? tr("Fine-tune with %1 as teacher (T %2, α %3)")
                                             .arg(m_teacherModel->currentText())
                                             .arg(m_temperature->value())
                                             .arg(m_alpha->value())
                                       : tr("Fine-tune without a teacher"));
    };
    connect(m_teacher, &QCheckBox::toggled, this, teacherEdit);
    // Augmentation of the fine-tuning batches (recipe key finetune.augment).
    m_augmentShift = new QSpinBox;
    m_augmentShift->setObjectName(QStringLiteral("finetuneAugmentShift"));
    m_augmentShift->setRange(0, 8);
    m_augmentShift->setSpecialValueText(tr("no shift"));
    m_augmentShift->setPrefix(tr("shift ± "));
    m_augmentShift->setSuffix(tr(" px"));
    m_augmentShift->setKeyboardTracking(false);
    m_augmentShift->setToolTip(tr("Augmentation while fine-tuning: every image moved by up to this many pixels "
                                  "each way, a new draw per epoch"));
    m_augmentFlip = new QCheckBox(tr("mirror"));
    m_augmentFlip->setObjectName(QStringLiteral("finetuneAugmentFlip"));
    m_augmentFlip->setToolTip(tr("Augmentation while fine-tuning: half of the images mirrored left to right"));
    const auto augmentEdit = [this]() {
        if (m_syncing)
            return;
        cw::Recipe r = recipe();
        r.finetune.augment = augmentFromControls();
        edit(r, r.finetune.augment.active() ? tr("Augment: shift ± %1 px%2")
                                                  .arg(r.finetune.augment.shift)
                                                  .arg(r.finetune.augment.flip ? tr(", mirror") : QString())
                                            : tr("Augment: none"));
    };
    connect(m_augmentShift, &QSpinBox::valueChanged, this, augmentEdit);
    connect(m_augmentFlip, &QCheckBox::toggled, this, augmentEdit);
    connect(m_temperature, &QDoubleSpinBox::valueChanged, this, teacherEdit);
    connect(m_alpha, &QDoubleSpinBox::valueChanged, this, teacherEdit);

    m_targetKind = new QComboBox;
    m_targetKind->setObjectName(QStringLiteral("targetKind"));
    m_targetKind->addItems({tr("mean pruning ratio"), tr("average bits")});
    m_target = new QDoubleSpinBox;
    m_target->setObjectName(QStringLiteral("target"));
    m_target->setDecimals(2);
    m_target->setRange(0.0, 0.95);
    m_target->setSingleStep(0.05);
    m_target->setValue(0.5);
    connect(m_targetKind, &QComboBox::currentIndexChanged, this, [this](int kind) {
        m_target->setRange(kind == 0 ? 0.0 : 2.0, kind == 0 ? 0.95 : 8.0);
        m_target->setSingleStep(kind == 0 ? 0.05 : 0.5);
        m_target->setValue(kind == 0 ? 0.5 : 4.0);
    });
    m_distribute = new QPushButton(tr("Distribute by sensitivity"));
    m_distribute->setObjectName(QStringLiteral("distribute"));
    m_distribute->setToolTip(tr("Per-layer settings that meet the target and spare the layers the Sensitivity tab "
                                "found fragile"));
    connect(m_distribute, &QPushButton::clicked, this, &CompressView::distributeBySensitivity);

    // Short button labels; what would be undone goes in the tooltip.
    const auto undoAction = [this](const QString &label, QKeySequence keys, bool redo) {
        auto *action = new QAction(label, this);
        action->setShortcut(keys);
        action->setShortcutContext(Qt::WidgetWithChildrenShortcut);
        action->setEnabled(false);
        addAction(action);
        connect(action, &QAction::triggered, m_undo, redo ? &QUndoStack::redo : &QUndoStack::undo);
        connect(m_undo, redo ? &QUndoStack::canRedoChanged : &QUndoStack::canUndoChanged, action, &QAction::setEnabled);
        connect(m_undo, redo ? &QUndoStack::redoTextChanged : &QUndoStack::undoTextChanged, action,
                [action, label, keys](const QString &text) {
                    action->setToolTip(QStringLiteral("%1%2 (%3)")
                                           .arg(label, text.isEmpty() ? QString() : QStringLiteral(": ") + text,
                                                keys.toString(QKeySequence::NativeText)));
                });
        auto *button = new QToolButton;
        button->setDefaultAction(action);
        return button;
    };
    m_undoButton = undoAction(tr("Undo"), QKeySequence(Qt::CTRL | Qt::Key_Z), false);
    m_undoButton->defaultAction()->setObjectName(QStringLiteral("recipeUndo"));
    m_redoButton = undoAction(tr("Redo"), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Z), true);
    m_loadRecipe = new QPushButton(tr("Load…"));
    m_loadRecipe->setToolTip(tr("Load a recipe (JSON)"));
    connect(m_loadRecipe, &QPushButton::clicked, this, &CompressView::loadDialog);
    m_saveRecipe = new QPushButton(tr("Save…"));
    m_saveRecipe->setToolTip(tr("Save the recipe as JSON (for cwb compress --recipe)"));
    connect(m_saveRecipe, &QPushButton::clicked, this, &CompressView::saveDialog);

    auto *controls = new QGridLayout;
    controls->setContentsMargins(0, 0, 0, 0);
    controls->setHorizontalSpacing(6);
    controls->setVerticalSpacing(4);
    int col = 0;
    controls->addWidget(new QLabel(tr("Prune")), 0, col++);
    controls->addWidget(m_pruneMethod, 0, col++);
    controls->addWidget(m_pruneRatio, 0, col++);
    controls->addWidget(m_applyPrune, 0, col++);
    controls->addWidget(m_reconstruct, 0, col++);
    controls->addItem(new QSpacerItem(12, 1), 0, col++);
    controls->addWidget(new QLabel(tr("Weights")), 0, col++);
    controls->addWidget(m_bits, 0, col++);
    controls->addWidget(m_granularity, 0, col++);
    controls->addWidget(m_applyBits, 0, col++);
    controls->setColumnStretch(col, 1);
    auto *row1 = new QHBoxLayout;
    row1->addWidget(m_activations);
    row1->addWidget(m_calibration);
    row1->addWidget(m_calibrationSamples);
    row1->addWidget(m_fidelityFloor);
    row1->addStretch(1);
    row1->addWidget(m_undoButton);
    row1->addWidget(m_redoButton);
    row1->addWidget(new QLabel(tr("Recipe")));
    row1->addWidget(m_loadRecipe);
    row1->addWidget(m_saveRecipe);
    auto *row2 = new QHBoxLayout;
    row2->addWidget(new QLabel(tr("Target")));
    row2->addWidget(m_targetKind);
    row2->addWidget(m_target);
    row2->addWidget(m_distribute);
    row2->addStretch(1);
    // Fine-tuning after compression: epochs, the base as teacher, augmentation.
    auto *row3 = new QHBoxLayout;
    row3->addWidget(new QLabel(tr("Fine-tune")));
    row3->addWidget(m_epochs);
    row3->addSpacing(12);
    row3->addWidget(m_teacher);
    row3->addWidget(m_teacherModel);
    row3->addWidget(m_temperature);
    row3->addWidget(m_alpha);
    row3->addSpacing(12);
    row3->addWidget(new QLabel(tr("Augment")));
    row3->addWidget(m_augmentShift);
    row3->addWidget(m_augmentFlip);
    row3->addStretch(1);

    // ---- Table, prediction, chart
    m_table = new QTableView;
    m_table->setObjectName(QStringLiteral("recipeTable"));
    m_table->setModel(m_tableModel);
    m_table->setItemDelegate(new RecipeDelegate(m_table));
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::SelectedClicked |
                             QAbstractItemView::EditKeyPressed);
    m_table->setAlternatingRowColors(true);
    m_table->setWordWrap(false);
    m_table->verticalHeader()->setVisible(false);
    m_table->verticalHeader()->setDefaultSectionSize(m_table->fontMetrics().height() + 8);
    m_table->horizontalHeader()->setHighlightSections(false);

    m_predictionLabel = new QLabel;
    m_predictionLabel->setObjectName(QStringLiteral("predictionLabel"));
    m_predictionLabel->setWordWrap(true);
    m_predictionLabel->setTextFormat(Qt::RichText);

    m_chart = new QCustomPlot;
    enableChartExport(m_chart, QStringLiteral("layer-bytes"));
    m_chart->setObjectName(QStringLiteral("predictionChart"));
    m_chart->setMinimumHeight(150);
    m_chart->setMinimumWidth(200);
    m_chart->setNoAntialiasingOnDrag(true);
    m_chart->plotLayout()->insertRow(0);
    m_chart->plotLayout()->addElement(0, 0, new QCPTextElement(m_chart, tr("Weight bytes per layer"),
                                                              QFont(font().family(), font().pointSize(), QFont::Bold)));
    m_chart->yAxis->setScaleType(QCPAxis::stLogarithmic);
    m_chart->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    m_chart->yAxis->setNumberFormat(QStringLiteral("eb"));
    m_chart->yAxis->setNumberPrecision(0);
    m_chart->yAxis->setLabel(tr("bytes"));
    m_chart->legend->setVisible(true);
    // The legend in a row of its own under the title: inside the axis rect it covered the tallest bars.
    m_chart->plotLayout()->insertRow(1);
    m_chart->plotLayout()->addElement(1, 0, m_chart->legend);
    m_chart->legend->setFillOrder(QCPLegend::foColumnsFirst);
    m_chart->legend->setBorderPen(Qt::NoPen);
    m_chart->plotLayout()->setRowStretchFactor(1, 0.001);
    // Laid out at another width (shown, resized, the splitter moved): the names again, for the room there is.
    connect(m_chart, &QCustomPlot::afterLayout, this, [this]() {
        if (labelChartAxis())
            m_chart->replot(QCustomPlot::rpQueuedReplot);
    });
    // The layer under the pointer, named in full with its bytes (the axis names only some of them, elided).
    m_chart->setMouseTracking(true);
    connect(m_chart, &QCustomPlot::mouseMove, this, [this](QMouseEvent *event) {
        const cw::ModelPrediction &p = prediction();
        const int i = int(std::lround(m_chart->xAxis->pixelToCoord(event->position().x())));
        if (!m_chart->axisRect()->rect().contains(event->pos()) || i < 0 || i >= int(p.layers.size())) {
            QToolTip::hideText();
            return;
        }
        const cw::LayerPrediction &l = p.layers[size_t(i)];
        QToolTip::showText(event->globalPosition().toPoint(),
                           tr("%1\nnow %2 → predicted %3")
                               .arg(QString::fromStdString(l.node), formatBytes(l.floatBytes), formatBytes(l.bytes)),
                           m_chart);
    });

    // ---- Jobs
    m_variantName = new QLineEdit;
    m_variantName->setObjectName(QStringLiteral("variantName"));
    m_variantName->setPlaceholderText(tr("Variant name (optional)"));
    m_variantName->setMinimumWidth(160);
    m_trainData = new QLineEdit(QStringLiteral("fashion-mnist:train"));
    m_trainData->setObjectName(QStringLiteral("trainData"));
    m_trainData->setToolTip(tr("Training data for calibration and fine-tuning"));
    m_trainFit = new DataFitNotice(Qt::Horizontal);
    connect(m_trainData, &QLineEdit::editingFinished, this, &CompressView::checkTrainingData);
    connect(m_trainData, &QLineEdit::textChanged, this, &CompressView::showTrainingDataProblem);
    connect(m_trainFit->check(), &DataFitCheck::checked, this, &CompressView::showTrainingDataProblem);
    connect(m_trainFit, &DataFitNotice::useEvaluationData, this, [this] { setTrainingData(m_datasetSpec); });
    m_evalLimit = new QSpinBox;
    m_evalLimit->setObjectName(QStringLiteral("evalLimit"));
    m_evalLimit->setRange(0, 1000000);
    m_evalLimit->setSpecialValueText(tr("all"));
    m_evalLimit->setValue(0);
    m_evalLimit->setToolTip(tr("Evaluation samples (first ones of the dataset; all = the whole set)"));
    m_compressButton = new QPushButton(tr("Compress"));
    m_compressButton->setObjectName(QStringLiteral("compressButton"));
    m_compressButton->setDefault(true);
    connect(m_compressButton, &QPushButton::clicked, this, [this]() { compress(m_variantName->text().trimmed()); });
    m_clusterButton = new QPushButton(tr("Run on Cluster…"));
    m_clusterButton->setObjectName(QStringLiteral("compressCluster"));
    m_clusterButton->setToolTip(tr("Write this recipe's compression as a plan and a Slurm job into a folder; File → "
                                   "Import Results adds the variant to the project"));
    connect(m_clusterButton, &QPushButton::clicked, this, &CompressView::clusterRequested);
    m_cancelButton = new QPushButton(tr("Cancel"));
    m_cancelButton->setObjectName(QStringLiteral("cancelCompress"));
    connect(m_cancelButton, &QPushButton::clicked, this, &CompressView::cancel);
    m_progress = new QProgressBar;
    m_progress->setObjectName(QStringLiteral("compressProgress"));
    m_progress->setRange(0, 1000);
    m_progress->setValue(0);
    m_progress->setFormat(tr("Idle"));
    m_progress->setTextVisible(true);
    m_queueList = new QListWidget;
    m_queueList->setObjectName(QStringLiteral("compressQueue"));
    m_queueList->setMaximumHeight(56);
    m_removeQueued = new QPushButton(tr("Remove"));
    m_removeQueued->setToolTip(tr("Remove the selected job from the queue"));
    connect(m_removeQueued, &QPushButton::clicked, this, [this]() {
        // Row 0 is the running job when there is one.
        const int row = m_queueList->currentRow() - (m_job ? 1 : 0);
        removeQueued(row);
    });
    connect(m_queueList, &QListWidget::currentRowChanged, this, &CompressView::updateControls);
    m_log = new QPlainTextEdit;
    m_log->setObjectName(QStringLiteral("compressLog"));
    m_log->setReadOnly(true);
    m_log->setMaximumBlockCount(5000);
    m_log->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    m_log->setPlaceholderText(tr("Log of the compression jobs"));
    m_statusLabel = new QLabel;
    m_statusLabel->setObjectName(QStringLiteral("compressStatus"));
    m_statusLabel->setWordWrap(true);

    auto *jobBox = new QWidget;
    auto *jobLayout = new QVBoxLayout(jobBox);
    jobLayout->setContentsMargins(0, 0, 0, 0);
    auto *queueRow = new QHBoxLayout;
    queueRow->addWidget(m_queueList, 1);
    queueRow->addWidget(m_removeQueued, 0, Qt::AlignTop);
    jobLayout->addLayout(queueRow);
    jobLayout->addWidget(m_log, 1);

    // ---- Variants
    m_variantModel = new QStandardItemModel(0, VCount, this);
    m_variantModel->setHorizontalHeaderLabels({tr("Variant"), tr("Recipe"), tr("Accuracy"), tr("Drop"), tr("Output SQNR"), tr("Top-5"),
                                               tr("Loss"), tr("File (.h5)"), tr("ONNX"), tr("Ratio"), tr("p50 b1"),
                                               tr("p90 b1"), tr("p50 b64"), tr("p90 b64"), tr("Memory"),
                                               tr("Peak RSS")});
    m_variantModel->horizontalHeaderItem(VMemory)->setToolTip(memoryColumnTip());
    m_variantModel->horizontalHeaderItem(VPeakRss)->setToolTip(peakRssColumnTip());
    m_variantModel->horizontalHeaderItem(VSize)->setToolTip(tr("Saved in the workbench's .h5 format (bit-packed integer "
                                                               "weights, sparse weights stored sparse)"));
    m_variantModel->horizontalHeaderItem(VOnnx)->setToolTip(tr("Exported as ONNX (Export…): integer weights one byte "
                                                               "each, pruned weights stored dense"));
    m_variantTable = newRowTable(QStringLiteral("variantTable"), m_variantModel);
    m_variantTable->verticalHeader()->setDefaultSectionSize(m_variantTable->fontMetrics().height() + 8);
    m_variantTable->horizontalHeader()->setStretchLastSection(true);
    m_variantTable->setWordWrap(false);
    connect(m_variantTable->selectionModel(), &QItemSelectionModel::currentRowChanged, this, &CompressView::updateControls);
    m_exportVariant = new QPushButton(tr("Export…"));
    m_exportVariant->setObjectName(QStringLiteral("exportVariant"));
    m_exportVariant->setToolTip(tr("Save the selected variant as .h5 or .onnx"));
    connect(m_exportVariant, &QPushButton::clicked, this, &CompressView::exportDialog);
    m_removeVariant = new QPushButton(tr("Remove"));
    m_removeVariant->setObjectName(QStringLiteral("removeVariant"));
    m_removeVariant->setToolTip(tr("Remove the selected variant from the project (Delete; Edit → Undo brings it back)"));
    connect(m_removeVariant, &QPushButton::clicked, this, [this]() { m_document->removeVariant(selectedVariant()); });
    auto *removeShortcut = new QShortcut(QKeySequence::Delete, m_variantTable, nullptr, nullptr, Qt::WidgetShortcut);
    connect(removeShortcut, &QShortcut::activated, m_removeVariant, &QPushButton::click);
    m_openVariant = new QPushButton(tr("Open as Model"));
    m_openVariant->setObjectName(QStringLiteral("openVariant"));
    m_openVariant->setToolTip(tr("Make the selected variant the open model, to compress it further (distil, then "
                                 "quantize)"));
    connect(m_openVariant, &QPushButton::clicked, this, [this]() {
        const int index = selectedVariant();
        if (index >= 0)
            emit openVariantRequested(index);
    });
    m_profileVariant = new QPushButton(tr("Profile…"));
    m_profileVariant->setObjectName(QStringLiteral("profileVariant"));
    m_profileVariant->setToolTip(tr("Time each node of the selected variant and show where its time goes"));
    connect(m_profileVariant, &QPushButton::clicked, this, [this]() {
        const int index = selectedVariant();
        if (index >= 0)
            emit profileVariantRequested(index);
    });
    auto *variantsBox = new QWidget;
    auto *variantsLayout = new QVBoxLayout(variantsBox);
    variantsLayout->setContentsMargins(0, 0, 0, 0);
    auto *variantsTitle = new QHBoxLayout;
    auto *variantsLabel = new QLabel(tr("<b>Variants</b> — measured: accuracy, SQNR vs the base, file size, "
                                        "latency in ms"));
    variantsLabel->setToolTip(tr("Latency p50 / p90 in milliseconds at batch 1 and 64, single-threaded"));
    variantsLabel->setWordWrap(true); // the buttons beside it keep their room in a narrow window
    variantsTitle->addWidget(variantsLabel, 1);
    variantsTitle->addWidget(m_removeVariant);
    variantsTitle->addWidget(m_openVariant);
    variantsTitle->addWidget(m_profileVariant);
    variantsTitle->addWidget(m_exportVariant);
    variantsLayout->addLayout(variantsTitle);
    variantsLayout->addWidget(m_variantTable, 1);

    // ---- Layout
    auto *tableArea = m_tableSplitter = new QSplitter(Qt::Horizontal);
    tableArea->setObjectName(QStringLiteral("compressTableSplitter"));
    tableArea->addWidget(m_table);
    tableArea->addWidget(m_chart);
    tableArea->setStretchFactor(0, 3);
    tableArea->setStretchFactor(1, 2);
    tableArea->setChildrenCollapsible(false);

    auto *top = new QWidget;
    auto *topLayout = new QVBoxLayout(top);
    topLayout->setContentsMargins(0, 0, 0, 0);
    topLayout->addLayout(controls);
    topLayout->addLayout(row1);
    topLayout->addLayout(row2);
    topLayout->addLayout(row3);
    topLayout->addWidget(tableArea, 1);
    topLayout->addWidget(m_predictionLabel);

    // Job controls across the whole width; below them the queue and log beside the variants.
    auto *jobRow = new QHBoxLayout;
    jobRow->addWidget(m_variantName);
    jobRow->addWidget(m_compressButton);
    jobRow->addWidget(m_cancelButton);
    jobRow->addWidget(m_progress, 1);
    jobRow->addWidget(m_clusterButton);
    auto *dataRow = new QHBoxLayout;
    dataRow->addWidget(new QLabel(tr("Training data")));
    dataRow->addWidget(m_trainData, 1);
    dataRow->addSpacing(12);
    dataRow->addWidget(new QLabel(tr("Evaluation samples")));
    dataRow->addWidget(m_evalLimit);
    auto *results = new QSplitter(Qt::Horizontal);
    results->addWidget(jobBox);
    results->addWidget(variantsBox);
    results->setStretchFactor(0, 2);
    results->setStretchFactor(1, 3);
    results->setChildrenCollapsible(false);
    auto *bottom = new QWidget;
    auto *bottomLayout = new QVBoxLayout(bottom);
    bottomLayout->setContentsMargins(0, 0, 0, 0);
    bottomLayout->addLayout(jobRow);
    bottomLayout->addLayout(dataRow);
    bottomLayout->addWidget(m_trainFit);
    bottomLayout->addWidget(results, 1);

    auto *split = new QSplitter(Qt::Vertical);
    split->setObjectName(QStringLiteral("compressSplitter"));
    split->addWidget(top);
    split->addWidget(bottom);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    split->setChildrenCollapsible(false);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);
    layout->addWidget(split, 1);
    layout->addWidget(m_statusLabel);

    readSettings();
    setModel(nullptr);
}

CompressView::~CompressView()
{
    writeSettings();
    m_queue.clear();
    if (m_job)
        m_job->cancel();
}

// ---------------------------------------------------------------------------------------------------
// Model and recipe

void CompressView::setModel(const cw::Model *model)
{
    m_queue.clear();
    if (m_job) {
        // The job belongs to the previous project: its result must not land in the new one.
        disconnect(m_job, nullptr, this, nullptr);
        m_job->cancel();
        connect(m_job, &Job::finished, m_job, &QObject::deleteLater);
        m_job = nullptr;
    }
    if (m_ownsDocument) { // a view on its own (tests): its document holds a project on the model
        std::optional<cw::Project> project;
        if (model) {
            project.emplace();
            project->baseSpec = model->sourcePath;
            project->base = *model;
        }
        m_document->reset(std::move(project));
    }
    m_baseEvalLimit = -1;
    m_jobCounter = 0;
    m_log->clear();
    m_progress->setValue(0);
    m_progress->setFormat(tr("Idle"));
    if (model) {
        try {
            m_form = cw::compressionForm(*model);
        } catch (const cw::Error &e) { // a rewrite whose shapes do not infer: the recipe table plans the model as is
            m_form = *model;
            setStatus(QString::fromUtf8(e.what()), true);
        }
    } else {
        m_form.reset();
    }
    m_tableModel->setModel(m_form ? &*m_form : nullptr, base());
    m_undo->clear();
    if (base()) {
        try {
            applyRecipe(recipeFromControls());
        } catch (const std::exception &e) {
            setStatus(QString::fromUtf8(e.what()), true);
        }
        m_table->resizeColumnsToContents();
        m_table->setColumnWidth(RecipeTableModel::Layer, qBound(80, m_table->columnWidth(RecipeTableModel::Layer) + 8, 200));
        // Room for the values edits can bring (a ratio of "0.125", "group 128", "magnitude (global)").
        for (int c : {int(RecipeTableModel::Prune), int(RecipeTableModel::Granularity)})
            m_table->setColumnWidth(c, qMax(m_table->columnWidth(c) + 12, 84));
        m_table->setColumnWidth(RecipeTableModel::Ratio, qMax(m_table->columnWidth(RecipeTableModel::Ratio), 50));
        m_table->setColumnWidth(RecipeTableModel::Bits, qMax(m_table->columnWidth(RecipeTableModel::Bits), 40));
        // The table as wide as its columns, the chart takes the rest.
        int width = 2 * m_table->frameWidth() + m_table->verticalScrollBar()->sizeHint().width();
        for (int c = 0; c < RecipeTableModel::ColumnCount; ++c)
            width += m_table->columnWidth(c);
        const int total = m_tableSplitter->width() > 100 ? m_tableSplitter->width() : 900;
        m_tableSplitter->setSizes({width, qMax(200, total - width)});
        setStatus(tr("Edit the settings per layer (double-click a cell) or for all layers above; Compress runs the "
                     "recipe and measures the result."));
    } else {
        updatePrediction();
        setStatus(tr("Open a model to configure its compression."));
    }
    updateQueue();
    updateVariants();
    updateControls();
    checkTrainingData();
}

void CompressView::setDataset(const QString &datasetSpec)
{
    m_datasetSpec = datasetSpec;
    showTrainingDataProblem(); // the way out names the evaluation data
}

void CompressView::setTrainingData(const QString &spec)
{
    m_trainData->setText(spec);
    checkTrainingData();
}

void CompressView::checkTrainingData()
{
    m_trainFit->check()->check(base() ? &base()->graph : nullptr, trainingData(), m_runInputs);
}

void CompressView::showTrainingDataProblem()
{
    // Said only while it applies: to the field's data, and to a recipe that reads training data.
    m_trainFit->showFor(trainingData(), base() && CompressJob::trainingSamples(recipe()) != 0, m_datasetSpec);
}

QString CompressView::trainingData() const
{
    return m_trainData->text().trimmed();
}

void CompressView::setEvaluationLimit(qint64 limit)
{
    m_evalLimit->setValue(int(qBound<qint64>(0, limit, qint64(m_evalLimit->maximum()))));
}

qint64 CompressView::evaluationLimit() const
{
    return m_evalLimit->value();
}

const cw::Recipe &CompressView::recipe() const
{
    return m_tableModel->recipe();
}

const cw::ModelPrediction &CompressView::prediction() const
{
    return m_tableModel->prediction();
}

cw::Recipe CompressView::recipeFromControls() const
{
    cw::Recipe r;
    const QString method = m_pruneMethod->currentText();
    if (method != QLatin1String("none")) {
        cw::PruneConfig p;
        if (method == QLatin1String("channel")) {
            p.method = cw::PruneMethod::Channel;
            p.reconstruct = m_reconstruct->isChecked();
        } else if (method == QLatin1String("block")) {
            p.method = cw::PruneMethod::Block;
        } else if (method.contains(':')) {
            p.method = cw::PruneMethod::NM;
            p.n = method.section(':', 0, 0).toInt();
            p.m = method.section(':', 1, 1).toInt();
        }
        p.ratio = m_pruneRatio->value();
        r.prune = p;
    }
    if (m_bits->currentText() != QLatin1String("float")) {
        cw::QuantSpec q;
        q.bits = m_bits->currentText().toInt();
        const QString g = m_granularity->currentText();
        q.granularity = g == QLatin1String("tensor")    ? cw::Granularity::Tensor
                        : g == QLatin1String("channel") ? cw::Granularity::Channel
                                                        : cw::Granularity::Group;
        if (q.granularity == cw::Granularity::Group)
            q.groupSize = g.section(' ', 1, 1).toLongLong();
        r.weights = q;
    }
    if (m_activations->isChecked())
        r.activations = activationsFromControls({});
    r.finetune.epochs = m_epochs->value();
    if (r.finetune.epochs > 0 && m_teacher->isChecked())
        r.finetune.distill = distillFromControls({});
    r.finetune.augment = augmentFromControls();
    return r;
}

cw::ActivationQuantConfig CompressView::activationsFromControls(cw::ActivationQuantConfig a) const
{
    a.calibration = cw::parseCalibration(m_calibration->currentText().toStdString());
    a.samples = m_calibrationSamples->value();
    a.minSqnrDb = m_fidelityFloor->value() > 0 ? std::optional<double>(m_fidelityFloor->value()) : std::nullopt;
    return a;
}

cw::TrainOptions::Augment CompressView::augmentFromControls() const
{
    cw::TrainOptions::Augment a;
    a.shift = m_augmentShift->value();
    a.flip = m_augmentFlip->isChecked();
    return a;
}

void CompressView::onVariantAdded(int index)
{
    const cw::Variant &v = variants()[size_t(index)].variant;
    log(tr("%1: accuracy %2, %3 (%4× smaller)")
                               .arg(QString::fromStdString(v.name), formatPercent(v.metrics.accuracy),
                                    formatBytes(v.metrics.fileBytes))
                               .arg(v.metrics.compressionRatio, 0, 'f', 2));
    updateVariants();
    emit variantAdded(index);
}

const std::vector<cw::ProjectVariant> &CompressView::variants() const
{
    return m_document->variants();
}

const std::optional<cw::VariantMetrics> &CompressView::baseMetrics() const
{
    static const std::optional<cw::VariantMetrics> none;
    return m_document->hasProject() ? m_document->project()->baseMetrics : none;
}

const cw::Model *CompressView::base() const
{
    return m_document->base();
}

cw::DistillConfig CompressView::distillFromControls(const std::optional<cw::DistillConfig> &current) const
{
    cw::DistillConfig d = current.value_or(cw::DistillConfig{}); // features set in a recipe file stay
    d.temperature = float(m_temperature->value());
    d.alpha = float(m_alpha->value());
    return d;
}

void CompressView::edit(const cw::Recipe &next, const QString &description)
{
    if (!base())
        return;
    cw::Recipe r = next;
    RecipeTableModel::compact(r);
    if (cw::recipeToJson(r) == cw::recipeToJson(recipe()))
        return;
    m_undo->push(new RecipeCommand(this, recipe(), r, description));
}

void CompressView::applyRecipe(const cw::Recipe &recipe)
{
    m_tableModel->setRecipe(recipe);
    m_table->setColumnHidden(RecipeTableModel::Arithmetic, !recipe.activations); // it says something only then
    syncControls();
    updatePrediction();
    showTrainingDataProblem();
    emit recipeChanged();
}

bool CompressView::setRecipe(const cw::Recipe &next, const QString &description)
{
    if (!base()) {
        setStatus(tr("No model is open."), true);
        return false;
    }
    try {
        cw::validateRecipe(next, *m_form);
    } catch (const std::exception &e) {
        setStatus(QString::fromUtf8(e.what()), true);
        emit errorOccurred(m_status);
        return false;
    }
    edit(next, description);
    return true;
}

// The controls that mirror recipe-wide settings follow the recipe (after an undo, a loaded file).
void CompressView::syncControls()
{
    m_syncing = true;
    const cw::Recipe &r = recipe();
    m_activations->setChecked(r.activations.has_value());
    if (r.activations) {
        m_calibration->setCurrentText(QString::fromStdString(cw::toString(r.activations->calibration)));
        m_calibrationSamples->setValue(int(qBound<int64_t>(1, r.activations->samples, int64_t(m_calibrationSamples->maximum()))));
        m_fidelityFloor->setValue(r.activations->minSqnrDb.value_or(0.0));
    }
    m_epochs->setValue(r.finetune.epochs);
    m_teacher->setChecked(r.finetune.distill.has_value());
    if (r.finetune.distill) {
        m_temperature->setValue(r.finetune.distill->temperature);
        m_alpha->setValue(r.finetune.distill->alpha);
    }
    for (QWidget *w : std::initializer_list<QWidget *>{m_calibration, m_calibrationSamples, m_fidelityFloor})
        w->setEnabled((base() != nullptr) && r.activations.has_value());
    m_temperature->setEnabled((base() != nullptr) && r.finetune.distill.has_value());
    m_alpha->setEnabled((base() != nullptr) && r.finetune.distill.has_value());
    m_teacherModel->setEnabled((base() != nullptr) && r.finetune.distill.has_value());
    m_augmentShift->setValue(r.finetune.augment.shift);
    m_augmentFlip->setChecked(r.finetune.augment.flip);
    // The "all layers" controls start from the recipe's defaults.
    if (r.prune) {
        m_pruneMethod->setCurrentText(r.prune->method == cw::PruneMethod::NM
                                          ? QStringLiteral("%1:%2").arg(r.prune->n).arg(r.prune->m)
                                          : QString::fromStdString(cw::toString(r.prune->method)));
        if (r.prune->method != cw::PruneMethod::NM)
            m_pruneRatio->setValue(r.prune->ratio);
        if (r.prune->method == cw::PruneMethod::Channel)
            m_reconstruct->setChecked(r.prune->reconstruct);
    } else {
        m_pruneMethod->setCurrentText(QStringLiteral("none"));
    }
    m_bits->setCurrentText(r.weights ? QString::number(r.weights->bits) : QStringLiteral("float"));
    if (r.weights)
        m_granularity->setCurrentText(QString::fromStdString(cw::granularityLabel(*r.weights)));
    m_syncing = false;
}

void CompressView::applyPruneToAll()
{
    if (!base())
        return;
    cw::Recipe r = recipe();
    const cw::Recipe fromControls = recipeFromControls();
    r.prune = fromControls.prune;
    for (auto &[node, config] : r.layers)
        config.prune = r.prune;
    edit(r, r.prune ? tr("Prune all: %1 %2").arg(m_pruneMethod->currentText()).arg(m_pruneRatio->value())
                    : tr("Prune all: none"));
}

void CompressView::applyBitsToAll()
{
    if (!base())
        return;
    cw::Recipe r = recipe();
    r.weights = recipeFromControls().weights;
    for (auto &[node, config] : r.layers)
        config.weights = r.weights;
    edit(r, r.weights ? tr("Weights all: %1 bits, %2").arg(m_bits->currentText(), m_granularity->currentText())
                      : tr("Weights all: float"));
}

bool CompressView::distributeBySensitivity()
{
    if (!base()) {
        setStatus(tr("No model is open."), true);
        return false;
    }
    std::optional<cw::SensitivityResult> sensitivity;
    auto stored = base()->analysis.find(cw::kSensitivityKey);
    if (stored != base()->analysis.end()) {
        try {
            sensitivity = cw::sensitivityFromJson(stored->second);
        } catch (const std::exception &e) {
            setStatus(tr("The stored sensitivity analysis cannot be read (%1); distributing uniformly.")
                          .arg(QString::fromUtf8(e.what())),
                      true);
        }
    }
    const bool prune = m_targetKind->currentIndex() == 0;
    const double target = m_target->value();
    try {
        cw::Recipe r = recipe();
        const std::vector<cw::LayerPlan> &plan = m_tableModel->plan();
        const std::vector<cw::AllocationLayer> layers = cw::allocationLayers(*m_form, plan);
        cw::Allocation a;
        if (prune) {
            if (!r.prune || r.prune->method == cw::PruneMethod::NM) {
                // N:M has a fixed ratio; a distributed ratio needs magnitude (or channel) pruning.
                cw::PruneConfig p = r.prune.value_or(cw::PruneConfig{});
                p.method = cw::PruneMethod::Magnitude;
                r.prune = p;
            }
            a = cw::allocatePruneRatios(layers, target, sensitivity ? &*sensitivity : nullptr);
            // Layers that prune N:M take the new method too, so the ratios apply.
            for (auto &[node, config] : r.layers)
                if (config.prune && config.prune->method == cw::PruneMethod::NM)
                    config.prune->method = r.prune->method;
            std::vector<cw::LayerPlan> p = plan;
            for (cw::LayerPlan &lp : p)
                if (lp.config.prune && lp.config.prune->method == cw::PruneMethod::NM)
                    lp.config.prune->method = r.prune->method;
            cw::applyPruneAllocation(r, p, layers, a);
        } else {
            if (!r.weights)
                r.weights = recipeFromControls().weights.value_or(cw::QuantSpec{});
            a = cw::allocateBitWidths(layers, target, sensitivity ? &*sensitivity : nullptr);
            cw::applyBitAllocation(r, plan, layers, a);
        }
        edit(r, prune ? tr("Distribute mean ratio %1").arg(target) : tr("Distribute %1 bits").arg(target));
        QString text = prune ? tr("Mean pruning ratio %1 distributed").arg(a.achieved, 0, 'f', 3)
                             : tr("Average %1 bits per weight distributed").arg(a.achieved, 0, 'f', 2);
        if (a.fromSensitivity && sensitivity->metric == cw::SensitivityMetric::Fidelity)
            text += tr(" by the sensitivity analysis (%1 samples): predicted output SQNR %2 dB if the layers' noise "
                       "powers add up.")
                        .arg(sensitivity->samples)
                        .arg(a.predictedDrop > 0 ? -10 * std::log10(a.predictedDrop) : INFINITY, 0, 'f', 1);
        else if (a.fromSensitivity)
            text += tr(" by the sensitivity analysis (%1 samples): predicted drop %2 points if the layers' drops add up.")
                        .arg(sensitivity->samples)
                        .arg(a.predictedDrop * 100, 0, 'f', 2);
        else if (!sensitivity)
            text += tr(" uniformly: this model has no sensitivity analysis yet. Run it in the Sensitivity tab, then "
                       "distribute again to spare the fragile layers.");
        else
            text += QStringLiteral(" uniformly: ") + QString::fromStdString(a.note) + '.';
        if (a.fromSensitivity && !a.note.empty())
            text += QStringLiteral(" (") + QString::fromStdString(a.note) + ')';
        setStatus(text);
        return true;
    } catch (const std::exception &e) {
        setStatus(QString::fromUtf8(e.what()), true);
        emit errorOccurred(m_status);
        return false;
    }
}

// ---------------------------------------------------------------------------------------------------
// Prediction

QString CompressView::predictionText() const
{
    if (!base())
        return {};
    const cw::ModelPrediction &p = prediction();
    const QString sqnr = std::isinf(p.sqnrDb) ? QStringLiteral("∞") : QString::number(p.sqnrDb, 'f', 1) + " dB";
    return tr("Predicted size %1 → %2 (%3× smaller) · weight SQNR %4 · relative error %5")
        .arg(formatBytes(p.baseBytes), formatBytes(p.bytes), QString::number(p.ratio, 'f', 2), sqnr,
             formatPercent(p.relativeError));
}

void CompressView::updatePrediction()
{
    if (!base()) {
        m_predictionLabel->setText(QString());
        updateChart();
        return;
    }
    m_predictionLabel->setText(QStringLiteral("<b>%1</b> <span style='color:gray'>— %2</span>")
                                   .arg(predictionText().toHtmlEscaped(),
                                        tr("a prediction from the weights; a job measures the saved file")));
    updateChart();
}

void CompressView::updateChart()
{
    m_chart->clearPlottables();
    const cw::ModelPrediction &p = prediction();
    const int n = int(p.layers.size());
    QVector<double> keys, now, predicted;
    const QFontMetrics metrics(m_chart->xAxis->tickLabelFont());
    QStringList names;
    for (int i = 0; i < n; ++i) {
        keys << i;
        now << double(std::max<int64_t>(1, p.layers[size_t(i)].floatBytes));
        predicted << double(std::max<int64_t>(1, p.layers[size_t(i)].bytes));
        names << QString::fromStdString(p.layers[size_t(i)].node);
    }
    // Exported names run long ("model/conv2d_12/Conv2D"): what sets them apart, elided in the middle; whole in
    // the tooltip.
    m_chartNames = distinctiveNames(names);
    m_chartWidest = 0;
    for (QString &name : m_chartNames) {
        name = metrics.elidedText(name, Qt::ElideMiddle, 8 * metrics.height());
        m_chartWidest = std::max(m_chartWidest, metrics.horizontalAdvance(name));
    }
    m_chartEvery = 0; // new names: labelled whatever the width
    labelChartAxis();
    m_chart->xAxis->setSubTicks(false);
    m_chart->xAxis->setTickLength(0, 4);
    m_chart->xAxis->setRange(-0.6, std::max(0.6, n - 0.4));
    if (n > 0) {
        auto *group = new QCPBarsGroup(m_chart);
        auto *before = new QCPBars(m_chart->xAxis, m_chart->yAxis);
        before->setName(tr("now"));
        before->setPen(Qt::NoPen);
        before->setBrush(QColor(170, 170, 170));
        before->setWidth(0.38);
        before->setBaseValue(1);
        before->setData(keys, now, true);
        before->setBarsGroup(group);
        auto *after = new QCPBars(m_chart->xAxis, m_chart->yAxis);
        after->setName(tr("predicted"));
        after->setPen(Qt::NoPen);
        after->setBrush(QColor(52, 120, 190));
        after->setWidth(0.38);
        after->setBaseValue(1);
        after->setData(keys, predicted, true);
        after->setBarsGroup(group);
        double hi = 1;
        for (double v : now)
            hi = std::max(hi, v);
        double lo = hi;
        for (double v : predicted)
            lo = std::min(lo, v);
        // Headroom above the tallest bar for the legend.
        m_chart->yAxis->setRange(std::max(1.0, lo / 3), hi * 40);
    }
    m_chart->legend->setVisible(n > 0);
    m_chart->replot(QCustomPlot::rpQueuedReplot);
}

bool CompressView::labelChartAxis()
{
    const QFontMetrics metrics(m_chart->xAxis->tickLabelFont());
    const int n = int(m_chartNames.size());
    // Level names when they fit side by side; slanted when they would run into each other; upright, and only
    // every k-th one, when there is less room per bar than a line of text needs slanted.
    const int room = n > 0 ? std::max(1, m_chart->axisRect()->width() / n) : 1;
    const int line = metrics.height() + 2;
    const bool level = n <= 6 && m_chartWidest + 6 <= room, slanted = !level && room >= 2 * line;
    const int every = level || slanted ? 1 : (line + room - 1) / room;
    const int rotation = level ? 0 : slanted ? 40 : 90;
    if (every == m_chartEvery && rotation == m_chartRotation)
        return false;
    m_chartEvery = every;
    m_chartRotation = rotation;
    QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
    for (int i = 0; i < n; i += every)
        ticker->addTick(i, m_chartNames[i]);
    m_chart->xAxis->setTicker(ticker);
    m_chart->xAxis->setTickLabelRotation(rotation);
    return true;
}

// ---------------------------------------------------------------------------------------------------
// Recipe files

bool CompressView::loadRecipeFile(const QString &path)
{
    if (!base()) {
        setStatus(tr("Open a model before loading a recipe."), true);
        return false;
    }
    cw::Recipe r;
    try {
        r = cw::loadRecipe(path.toStdString());
        cw::validateRecipe(r, *m_form);
    } catch (const std::exception &e) {
        setStatus(tr("Could not load the recipe: %1").arg(QString::fromUtf8(e.what())), true);
        emit errorOccurred(m_status);
        return false;
    }
    edit(r, tr("Load recipe %1").arg(QFileInfo(path).fileName()));
    setStatus(tr("Loaded %1").arg(QDir::toNativeSeparators(path)));
    return true;
}

bool CompressView::saveRecipeFile(const QString &path)
{
    try {
        cw::saveRecipe(recipe(), path.toStdString());
    } catch (const std::exception &e) {
        setStatus(tr("Could not save the recipe: %1").arg(QString::fromUtf8(e.what())), true);
        emit errorOccurred(m_status);
        return false;
    }
    setStatus(tr("Saved %1").arg(QDir::toNativeSeparators(path)));
    return true;
}

void CompressView::loadDialog()
{
    const QString path = QFileDialog::getOpenFileName(this, tr("Load Recipe"), dirSetting(kRecipeDirKey),
                                                      tr("Recipes (*.json);;All files (*)"));
    if (path.isEmpty())
        return;
    QSettings().setValue(QLatin1String(kRecipeDirKey), QFileInfo(path).absolutePath());
    loadRecipeFile(path);
}

void CompressView::saveDialog()
{
    QString path = QFileDialog::getSaveFileName(this, tr("Save Recipe"), dirSetting(kRecipeDirKey),
                                                tr("Recipes (*.json)"));
    if (path.isEmpty())
        return;
    if (QFileInfo(path).suffix().isEmpty())
        path += QStringLiteral(".json");
    QSettings().setValue(QLatin1String(kRecipeDirKey), QFileInfo(path).absolutePath());
    saveRecipeFile(path);
}

// ---------------------------------------------------------------------------------------------------
// Jobs

std::optional<CompressParams> CompressView::jobParams(const QString &name)
{
    if (!base()) {
        setStatus(tr("No model is open."), true);
        return std::nullopt;
    }
    // The evaluation data sizes the first input, for the latency runs too (cw::withSampleShape).
    if (const QString refusal = m_runInputs.refusal(base()->graph, true); !refusal.isEmpty()) {
        setStatus(refusal, true);
        if (m_runInputs.blocked.isEmpty())
            emit inputsNeeded(refusal);
        return std::nullopt;
    }
    try {
        cw::validateRecipe(recipe(), *m_form);
        if (recipe().activations && !recipe().weights) {
            bool anyWeights = false;
            for (const cw::LayerPlan &p : m_tableModel->plan())
                anyWeights |= p.config.weights.has_value();
            if (!anyWeights)
                throw cw::Error("8-bit activations need quantized weights: choose a bit-width");
        }
    } catch (const std::exception &e) {
        setStatus(QString::fromUtf8(e.what()), true);
        emit errorOccurred(m_status);
        return std::nullopt;
    }
    CompressParams params;
    params.base = *base();
    params.recipe = recipe();
    params.name = name.isEmpty() ? (recipe().name.empty() ? tr("variant %1").arg(m_jobCounter + 1)
                                                          : QString::fromStdString(recipe().name))
                                 : name;
    params.recipe.name = params.name.toStdString();
    params.trainSpec = trainingData().toStdString();
    params.evalSpec = m_datasetSpec.toStdString();
    params.evalLimit = m_evalLimit->value();
    params.options = m_options;
    params.options.inputs = m_runInputs.feeds;
    params.preprocess = m_runInputs.preprocess;
    if (params.recipe.finetune.distill)
        params.teacherPath = teacherModel().toStdString();
    return params;
}

std::optional<cw::cluster::SweepPlan> CompressView::clusterPlan()
{
    const std::optional<CompressParams> p = jobParams(m_variantName->text().trimmed());
    if (!p)
        return std::nullopt;
    try {
        if (!p->teacherPath.empty())
            throw cw::Error("a plan names the model and data files its nodes check, not a teacher: compress with "
                            "the base model as teacher, or here");
        cw::CompressOptions options = p->options;
        options.evalLimit = p->evalLimit;
        // The training samples the recipe reads, as the job loads them (-1: all).
        const int64_t trainSamples = CompressJob::trainingSamples(p->recipe);
        const std::string model = p->base.sourcePath;
        const std::vector<std::string> command = cw::cluster::compressCommand(
            model, p->evalSpec, p->trainSpec, p->preprocess, options, std::max<int64_t>(0, trainSamples));
        auto spec = [](const std::string &s) { return s.empty() ? std::nullopt : std::optional<std::string>(s); };
        return cw::cluster::recipesPlan(command, model, {p->recipe}, spec(p->evalSpec), spec(p->trainSpec),
                                        QDir::currentPath().toStdString());
    } catch (const std::exception &e) {
        setStatus(tr("Cannot plan this recipe for a cluster: %1").arg(QString::fromUtf8(e.what())), true);
        return std::nullopt;
    }
}

bool CompressView::compress(const QString &name)
{
    std::optional<CompressParams> p = jobParams(name);
    if (!p)
        return false;
    ++m_jobCounter;
    CompressParams params = std::move(*p);
    m_variantName->clear();
    if (m_job) {
        m_queue.append(params);
        setStatus(tr("Queued %1 behind %2").arg(params.name, m_job->params().name));
        updateQueue();
        updateControls();
        return true;
    }
    launch(std::move(params));
    return true;
}

void CompressView::launch(CompressParams params)
{
    // The base is measured once per evaluation subset, by the first job that needs it.
    params.measureBase = !baseMetrics() || m_baseEvalLimit != params.evalLimit;
    auto *job = new CompressJob(std::move(params), this);
    m_job = job;
    m_jobSucceeded = false;
    const QString name = job->params().name;
    log(tr("== %1: %2").arg(name, summaryOf(job->params().recipe)));
    connect(job, &Job::progress, this, [this, name](double fraction, const QString &stage) {
        m_progress->setValue(int(qBound(0.0, fraction, 1.0) * 1000));
        m_progress->setFormat(QStringLiteral("%1 — %2 %p%").arg(name, stage.isEmpty() ? tr("working") : stage));
    });
    connect(job, &CompressJob::logLine, this, [this](const QString &line) { log(line); });
    connect(job, &CompressJob::succeeded, this,
            [this, job](std::shared_ptr<const cw::Variant> variant, std::optional<cw::VariantMetrics> base) {
                const CompressParams &params = job->params();
                if (base)
                    m_baseEvalLimit = params.evalLimit;
                m_jobSucceeded = true;
                cw::ProjectVariant pv{*variant, "compress", cw::currentProvenance()};
                pv.provenance.command = cwbCommand(params).toStdString();
                pv.provenance.evalData = params.evalSpec;
                pv.provenance.trainData = params.trainSpec;
                m_document->addVariant(std::move(pv), base);
                setStatus(tr("%1 finished in %2 s")
                              .arg(QString::fromStdString(variants().back().variant.name))
                              .arg(job->elapsedMs() / 1000.0, 0, 'f', 1));
            });
    connect(job, &Job::failed, this, [this, job, name](const QString &error) {
        log(tr("%1 failed: %2").arg(name, error));
        setStatus(tr("%1 failed: %2").arg(name, error), true);
        emit errorOccurred(error);
        Q_UNUSED(job);
    });
    connect(job, &Job::cancelled, this, [this, name]() {
        log(tr("%1 cancelled").arg(name));
        setStatus(tr("%1 cancelled; nothing was changed").arg(name));
    });
    connect(job, &Job::finished, this, [this, job]() { onJobFinished(job); });
    m_progress->setValue(0);
    m_progress->setFormat(tr("%1 — starting %p%").arg(name));
    job->start();
    emit jobStarted(name);
    updateQueue();
    updateControls();
}

void CompressView::onJobFinished(CompressJob *job)
{
    if (job != m_job)
        return;
    const bool ok = m_jobSucceeded;
    m_job = nullptr;
    job->deleteLater();
    m_progress->setValue(ok ? 1000 : 0);
    m_progress->setFormat(ok ? tr("Done") : tr("Idle"));
    updateQueue();
    updateControls();
    emit jobFinished(ok);
    if (!m_queue.isEmpty() && !m_job)
        launch(m_queue.takeFirst());
}

void CompressView::setUndoShortcutsEnabled(bool enabled)
{
    m_undoButton->defaultAction()->setShortcut(enabled ? QKeySequence(Qt::CTRL | Qt::Key_Z) : QKeySequence());
    m_redoButton->defaultAction()->setShortcut(enabled ? QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Z)
                                                       : QKeySequence());
}

void CompressView::cancelAll()
{
    m_queue.clear();
    updateQueue();
    cancel();
}

void CompressView::cancel()
{
    if (m_job) {
        m_job->cancel();
        m_progress->setFormat(tr("Cancelling…"));
        m_cancelButton->setEnabled(false);
    }
}

QStringList CompressView::queuedNames() const
{
    QStringList names;
    for (const CompressParams &p : m_queue)
        names << p.name;
    return names;
}

bool CompressView::removeQueued(int index)
{
    if (index < 0 || index >= m_queue.size())
        return false;
    const QString name = m_queue[index].name;
    m_queue.removeAt(index);
    setStatus(tr("Removed %1 from the queue").arg(name));
    updateQueue();
    updateControls();
    return true;
}

void CompressView::updateQueue()
{
    m_queueList->clear();
    if (m_job)
        m_queueList->addItem(tr("▶ %1 (running)").arg(m_job->params().name));
    for (const CompressParams &p : m_queue)
        m_queueList->addItem(tr("⏸ %1 — %2").arg(p.name, summaryOf(p.recipe)));
    emit queueChanged();
}

// ---------------------------------------------------------------------------------------------------
// Variants

void CompressView::updateVariants()
{
    m_variantModel->removeRows(0, m_variantModel->rowCount());
    const auto addRow = [this](const QString &name, const QString &recipe, const cw::VariantMetrics &m, bool isBase) {
        QList<QStandardItem *> items;
        const auto item = [](const QString &text, bool right = true) {
            auto *i = new QStandardItem(text);
            if (right)
                i->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
            return i;
        };
        items << item(name, false) << item(recipe, false);
        const bool evaluated = m.samples > 0;
        items << item(evaluated ? formatPercent(m.accuracy) : QStringLiteral("—"));
        const std::optional<cw::VariantMetrics> &baseRow = baseMetrics();
        if (!isBase && evaluated && baseRow && baseRow->samples > 0)
            items << item(QString::number((baseRow->accuracy - m.accuracy) * 100, 'f', 2) + QStringLiteral(" pt"));
        else
            items << item(QStringLiteral("—"));
        // Fidelity to the base on the evaluation data: the first output's SQNR, every output in the tooltip.
        QStandardItem *sqnr = item(QStringLiteral("—"));
        if (!isBase && !m.fidelity.empty()) {
            const auto db = [](double v) {
                return std::isinf(v) ? QStringLiteral("exact") : QString::number(v, 'f', 1) + QStringLiteral(" dB");
            };
            sqnr->setText(db(m.fidelity.front().sqnrDb));
            QStringList tip;
            for (const cw::OutputFidelity &f : m.fidelity)
                tip << tr("%1: SQNR %2, cosine %3, max |error| %4%5")
                           .arg(QString::fromStdString(f.name).toHtmlEscaped(), db(f.sqnrDb),
                                QString::number(f.cosine, 'f', 6), QString::number(f.maxAbsError, 'g', 4),
                                f.top1Agreement < 0 ? QString() : tr(", top-1 agreement %1").arg(formatPercent(f.top1Agreement)));
            sqnr->setToolTip(tr("Fidelity to the base on the evaluation data<br>") + tip.join(QStringLiteral("<br>")));
        }
        items << sqnr;
        items << item(evaluated ? formatPercent(m.top5) : QStringLiteral("—"))
              << item(evaluated ? QString::number(m.loss, 'f', 3) : QStringLiteral("—"))
              << item(m.fileBytes > 0 ? formatBytes(m.fileBytes) : QStringLiteral("—"))
              << item(m.onnxBytes > 0 ? formatBytes(m.onnxBytes) : QStringLiteral("—"))
              << item(isBase ? QStringLiteral("1.00×") : QString::number(m.compressionRatio, 'f', 2) + QStringLiteral("×"))
              << item(formatMs(m.p50Batch1Ms)) << item(formatMs(m.p90Batch1Ms));
        for (double ms : {m.p50Batch64Ms, m.p90Batch64Ms}) {
            QStandardItem *cell = item(formatMs(ms));
            if (!m.batch64Skipped.empty())
                cell->setToolTip(tr("Not timed at batch 64: %1").arg(QString::fromStdString(m.batch64Skipped).toHtmlEscaped()));
            items << cell;
        }
        items << item(m.memoryBytes > 0 ? formatBytes(m.memoryBytes) : QStringLiteral("—"))
              << item(m.peakRssBytes > 0 ? formatBytes(m.peakRssBytes) : QStringLiteral("—"));
        if (isBase)
            for (QStandardItem *i : items)
                i->setForeground(QPalette().color(QPalette::Disabled, QPalette::Text));
        m_variantModel->appendRow(items);
    };
    if (baseMetrics())
        addRow(tr("base"), tr("fp32, as opened"), *baseMetrics(), true);
    for (const cw::ProjectVariant &v : variants())
        addRow(QString::fromStdString(v.variant.name), QString::fromStdString(cw::variantSummary(v)), v.variant.metrics, false);
    m_variantTable->resizeColumnsToContents();
    m_variantTable->setColumnWidth(VRecipe, qMin(m_variantTable->columnWidth(VRecipe), 170));
    updateControls();
}

bool CompressView::exportVariant(int index, const QString &path)
{
    if (index < 0 || index >= int(variants().size()) || m_exportJob)
        return false;
    auto *job = new SaveModelJob(variants()[size_t(index)].variant.model, path, this);
    m_exportJob = job;
    connect(job, &SaveModelJob::succeeded, this, [this](const QString &written) {
        setStatus(tr("Exported %1 (%2)").arg(QDir::toNativeSeparators(written), formatBytes(QFileInfo(written).size())));
        emit exportFinished(true);
    });
    connect(job, &Job::failed, this, [this](const QString &error) {
        setStatus(tr("Export failed: %1").arg(error), true);
        emit errorOccurred(error);
        emit exportFinished(false);
    });
    connect(job, &Job::cancelled, this, [this]() { emit exportFinished(false); });
    connect(job, &Job::finished, job, &QObject::deleteLater);
    job->start();
    updateControls();
    return true;
}

void CompressView::exportDialog()
{
    const int index = selectedVariant();
    if (index < 0)
        return;
    const QString suggested = QDir(dirSetting(kVariantDirKey))
                                  .filePath(QString::fromStdString(variants()[size_t(index)].variant.name).replace(' ', '-') +
                                            QStringLiteral(".h5"));
    const QString path = QFileDialog::getSaveFileName(this, tr("Export Variant"), suggested,
                                                      tr("Workbench HDF5 (*.h5);;ONNX (*.onnx)"));
    if (path.isEmpty())
        return;
    QSettings().setValue(QLatin1String(kVariantDirKey), QFileInfo(path).absolutePath());
    exportVariant(index, path);
}

void CompressView::setTeacherModel(const QString &path)
{
    // The list: the base model, at most one file, Other model… (last).
    if (m_teacherModel->count() > 2)
        m_teacherModel->removeItem(1);
    if (!path.isEmpty()) {
        m_teacherModel->insertItem(1, QFileInfo(path).fileName(), path);
        m_teacherModel->setItemData(1, path, Qt::ToolTipRole);
        QSettings().setValue(QLatin1String(kTeacherDirKey), QFileInfo(path).absolutePath());
    }
    m_teacherModel->setCurrentIndex(path.isEmpty() ? 0 : 1);
    if (m_teacher->isChecked())
        log(tr("Teacher: %1").arg(path.isEmpty() ? tr("the base model") : path));
}

QString CompressView::teacherModel() const
{
    return m_teacherModel->currentData().toString();
}

// ---------------------------------------------------------------------------------------------------
// State

void CompressView::updateControls()
{
    const bool model = (base() != nullptr);
    for (QWidget *w : std::initializer_list<QWidget *>{m_applyPrune, m_applyBits, m_distribute, m_loadRecipe,
                                                       m_saveRecipe, m_activations, m_epochs, m_teacher,
                                                       m_augmentShift, m_augmentFlip})
        w->setEnabled(model);
    for (QWidget *w : std::initializer_list<QWidget *>{m_calibration, m_calibrationSamples, m_fidelityFloor})
        w->setEnabled(model && m_activations->isChecked());
    m_temperature->setEnabled(model && m_teacher->isChecked());
    m_teacherModel->setEnabled(model && m_teacher->isChecked());
    m_alpha->setEnabled(model && m_teacher->isChecked());
    m_reconstruct->setEnabled(model && m_pruneMethod->currentText() == QLatin1String("channel"));
    m_compressButton->setEnabled(model && m_runInputs.blocked.isEmpty());
    m_clusterButton->setEnabled(model && m_runInputs.blocked.isEmpty());
    m_compressButton->setToolTip(m_runInputs.blocked);
    m_compressButton->setText(m_job ? tr("Queue") : tr("Compress"));
    m_cancelButton->setEnabled(m_job != nullptr);
    m_removeQueued->setEnabled(m_queueList->currentRow() >= (m_job ? 1 : 0) && !m_queue.isEmpty());
    const int variant = selectedVariant();
    m_exportVariant->setEnabled(variant >= 0 && !m_exportJob);
    m_removeVariant->setEnabled(variant >= 0);
    m_openVariant->setEnabled(variant >= 0 && !m_job);
    m_profileVariant->setEnabled(variant >= 0 && !m_job);
}

void CompressView::selectVariant(int index)
{
    const int row = index + (baseMetrics() ? 1 : 0);
    if (index >= 0 && row < m_variantModel->rowCount())
        m_variantTable->selectRow(row);
    else
        m_variantTable->clearSelection();
}

int CompressView::selectedVariant() const
{
    const QModelIndex current = m_variantTable->selectionModel()->currentIndex();
    const int variant = current.isValid() ? current.row() - (baseMetrics() ? 1 : 0) : -1;
    return variant >= 0 && variant < int(variants().size()) ? variant : -1;
}

void CompressView::setRunInputs(const RunInputs &inputs)
{
    m_runInputs = inputs;
    updateControls();
    // The preprocessing and the sizes may change what fits. Checked once the window has given the views its model:
    // a new model's inputs arrive first.
    QMetaObject::invokeMethod(this, &CompressView::checkTrainingData, Qt::QueuedConnection);
}

void CompressView::setStatus(const QString &text, bool error)
{
    m_status = text;
    m_statusLabel->setText(text);
    m_statusLabel->setStyleSheet(error ? QStringLiteral("color: #b00020;") : QString());
}

QString CompressView::statusText() const
{
    return m_status;
}

void CompressView::readSettings()
{
    QSettings s;
    s.beginGroup(QLatin1String(kSettingsGroup));
    m_pruneMethod->setCurrentText(s.value(QStringLiteral("pruneMethod"), QStringLiteral("none")).toString());
    m_pruneRatio->setValue(s.value(QStringLiteral("pruneRatio"), 0.5).toDouble());
    m_reconstruct->setChecked(s.value(QStringLiteral("pruneReconstruct"), false).toBool());
    m_bits->setCurrentText(s.value(QStringLiteral("bits"), QStringLiteral("8")).toString());
    m_granularity->setCurrentText(s.value(QStringLiteral("granularity"), QStringLiteral("channel")).toString());
    m_activations->setChecked(s.value(QStringLiteral("activations"), false).toBool());
    m_calibration->setCurrentText(s.value(QStringLiteral("calibration"), QStringLiteral("minmax")).toString());
    m_calibrationSamples->setValue(s.value(QStringLiteral("calibrationSamples"), 512).toInt());
    m_fidelityFloor->setValue(s.value(QStringLiteral("fidelityFloor"), 0.0).toDouble());
    m_epochs->setValue(s.value(QStringLiteral("epochs"), 0).toInt());
    m_temperature->setValue(s.value(QStringLiteral("teacherTemperature"), 4.0).toDouble());
    m_alpha->setValue(s.value(QStringLiteral("teacherAlpha"), 0.7).toDouble());
    m_teacher->setChecked(s.value(QStringLiteral("teacher"), false).toBool());
    if (const QString t = s.value(QStringLiteral("teacherModel")).toString(); QFileInfo(t).isFile())
        setTeacherModel(t);
    m_augmentShift->setValue(s.value(QStringLiteral("augmentShift"), 0).toInt());
    m_augmentFlip->setChecked(s.value(QStringLiteral("augmentFlip"), false).toBool());
    m_targetKind->setCurrentIndex(s.value(QStringLiteral("targetKind"), 0).toInt() == 1 ? 1 : 0);
    m_target->setValue(s.value(QStringLiteral("target"), m_target->value()).toDouble());
    m_evalLimit->setValue(s.value(QStringLiteral("evalLimit"), 0).toInt());
    m_trainData->setText(s.value(QStringLiteral("trainData"), QStringLiteral("fashion-mnist:train")).toString());
    s.endGroup();
}

void CompressView::writeSettings() const
{
    QSettings s;
    s.beginGroup(QLatin1String(kSettingsGroup));
    s.setValue(QStringLiteral("pruneMethod"), m_pruneMethod->currentText());
    s.setValue(QStringLiteral("pruneRatio"), m_pruneRatio->value());
    s.setValue(QStringLiteral("pruneReconstruct"), m_reconstruct->isChecked());
    s.setValue(QStringLiteral("bits"), m_bits->currentText());
    s.setValue(QStringLiteral("granularity"), m_granularity->currentText());
    s.setValue(QStringLiteral("activations"), m_activations->isChecked());
    s.setValue(QStringLiteral("calibration"), m_calibration->currentText());
    s.setValue(QStringLiteral("calibrationSamples"), m_calibrationSamples->value());
    s.setValue(QStringLiteral("fidelityFloor"), m_fidelityFloor->value());
    s.setValue(QStringLiteral("epochs"), m_epochs->value());
    s.setValue(QStringLiteral("teacher"), m_teacher->isChecked());
    s.setValue(QStringLiteral("teacherModel"), teacherModel());
    s.setValue(QStringLiteral("teacherTemperature"), m_temperature->value());
    s.setValue(QStringLiteral("teacherAlpha"), m_alpha->value());
    s.setValue(QStringLiteral("augmentShift"), m_augmentShift->value());
    s.setValue(QStringLiteral("augmentFlip"), m_augmentFlip->isChecked());
    s.setValue(QStringLiteral("targetKind"), m_targetKind->currentIndex());
    s.setValue(QStringLiteral("target"), m_target->value());
    s.setValue(QStringLiteral("evalLimit"), m_evalLimit->value());
    s.setValue(QStringLiteral("trainData"), m_trainData->text());
    s.endGroup();
}

void CompressView::log(const QString &line)
{
    m_log->appendPlainText(line);
    emit logged(line);
}

} // namespace cw::ui
