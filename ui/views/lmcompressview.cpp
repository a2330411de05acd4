#include "ui/views/lmcompressview.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QProgressBar>
#include <QRegularExpression>
#include <QPushButton>
#include <QScrollArea>
#include <QSettings>
#include <QSortFilterProxyModel>
#include <QSpinBox>
#include <QSplitter>
#include <QTabWidget>
#include <QStandardItemModel>
#include <QTableView>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>
#include <cmath>

#include "core/lm/compress.h"
#include "core/lm/defaults.h"
#include "ui/charts/chartexport.h"
#include "ui/formatting.h"
#include "ui/models/lmrecipetablemodel.h"
#include "ui/rowtable.h"
#include "ui/views/lmtextcombo.h"

namespace cw::ui {

namespace {
const char kCalibrationTextKey[] = "lmCompress/calibrationText";
const char kEvaluationTextKey[] = "lmCompress/evaluationText";
const char kCalibrateKey[] = "lmCompress/calibrate";
const char kChunksKey[] = "lmCompress/chunks";
const char kCalibrationTokensKey[] = "lmCompress/calibrationTokens";
const char kImportanceKey[] = "lmCompress/importance";
const char kRecipeKey[] = "lmCompress/recipe";         // the form's recipe, as JSON
const char kRecipePathKey[] = "lmCompress/recipePath"; // the recipe file loaded or saved last
const char kExportDirKey[] = "lastDirs/lmExport";
constexpr int kSortRole = Qt::UserRole + 1;

// The format combo's items: none, then llama.cpp's block formats from the largest.
const char *const kFormats[] = {"q8_0", "q6_k", "q5_k", "q5_1", "q5_0", "q4_k", "q4_1", "q4_0", "q3_k", "q2_k"};

QString signedPercent(double value)
{
    if (!std::isfinite(value))
        return QStringLiteral("—");
    if (std::fabs(value) < 0.005)
        return displayLocale().toString(0.0, 'f', 2);
    return (value > 0 ? QStringLiteral("+") : QString()) + displayLocale().toString(value, 'f', 2);
}

QString granularityKey(cw::Granularity g, int64_t group)
{
    switch (g) {
    case cw::Granularity::Tensor: return QStringLiteral("tensor");
    case cw::Granularity::Channel: return QStringLiteral("channel");
    case cw::Granularity::Group: return QStringLiteral("group:%1").arg(group);
    }
    return QStringLiteral("channel");
}
} // namespace

LmCompressView::LmCompressView(QWidget *parent) : LmJobView(parent)
{
    setObjectName(QStringLiteral("lmCompressView"));
    buildUi();
    // A run that ended without a variant (cancelled, failed) leaves no live curve behind.
    connect(this, &LmJobView::finished, this, [this]() {
        m_liveLoss.clear();
        showLossChart();
    });
    QSettings s;
    m_loading = true;
    m_calibrate->setChecked(s.value(QLatin1String(kCalibrateKey), true).toBool());
    m_chunks->setValue(s.value(QLatin1String(kChunksKey), 0).toInt());
    m_calibrationTokens->setValue(s.value(QLatin1String(kCalibrationTokensKey), 8192).toInt());
    m_importance->setChecked(s.value(QLatin1String(kImportanceKey), false).toBool());
    cw::Recipe start;
    start.weights = cw::QuantSpec{};
    start.weights->bits = 4;
    start.weights->granularity = cw::Granularity::Group;
    start.weights->groupSize = 32;
    start.weights->format = "q4_k";
    const QString saved = s.value(QLatin1String(kRecipeKey)).toString();
    if (!saved.isEmpty()) {
        try {
            start = cw::recipeFromJson(saved.toStdString());
        } catch (const std::exception &) {
        }
    }
    m_loading = false;
    setRecipe(start);
    updateControls();
}

LmCompressView::~LmCompressView()
{
    if (m_exportJob)
        m_exportJob->cancel();
}

void LmCompressView::buildUi()
{
    const RunControls run = newRunControls(QStringLiteral("lmCompress"), tr("Run"),
                                           tr("Stop after the tensor or chunk under way; the variants stay as they were (Esc)"),
                                           [this]() { this->run(); });
    m_run = run.run;
    m_cancel = run.cancel;
    m_progress = run.progress;
    m_run->setToolTip(tr("Compress a copy of the model with this recipe and measure it"));
    m_cluster = new QPushButton(tr("Run on Cluster…"));
    m_cluster->setObjectName(QStringLiteral("lmCompressCluster"));
    m_cluster->setToolTip(tr("Write this recipe's compression as a plan and a Slurm job into a folder; File → Import "
                             "Results adds the variant here"));
    connect(m_cluster, &QPushButton::clicked, this, &LmCompressView::clusterRequested);
    run.row->addWidget(m_cluster);

    // The per-tensor table.
    m_tensors = new LmRecipeTableModel(this);
    connect(m_tensors, &LmRecipeTableModel::predictionChanged, this, &LmCompressView::updatePrediction);
    auto *tensorProxy = new QSortFilterProxyModel(this);
    tensorProxy->setSourceModel(m_tensors);
    tensorProxy->setSortRole(LmRecipeTableModel::SortRole);
    m_tensorTable = newRowTable(QStringLiteral("lmCompressTensors"), tensorProxy);
    m_tensorTable->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_tensorTable->setSortingEnabled(true);
    m_tensorTable->sortByColumn(-1, Qt::AscendingOrder);
    m_tensorTable->setAlternatingRowColors(true);
    m_tensorTable->verticalHeader()->setDefaultSectionSize(m_tensorTable->fontMetrics().height() + 6);
    m_tensorTable->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_tensorTable->horizontalHeader()->setSectionResizeMode(LmRecipeTableModel::Setting, QHeaderView::Stretch);
    m_tensorTable->setContextMenuPolicy(Qt::CustomContextMenu);
    m_tensorTable->setToolTip(tr("Right-click a tensor (or several) to store it in another format or keep it as stored"));
    connect(m_tensorTable, &QWidget::customContextMenuRequested, this, &LmCompressView::tensorMenu);
    m_prediction = new QLabel;
    m_prediction->setObjectName(QStringLiteral("lmCompressPrediction"));
    m_prediction->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto *tensorBox = new QWidget;
    auto *tensorLayout = new QVBoxLayout(tensorBox);
    tensorLayout->setContentsMargins(0, 0, 0, 0);
    tensorLayout->addWidget(m_prediction);
    tensorLayout->addWidget(m_tensorTable, 1);

    // The variants: table and buttons, chart.
    m_variantModel = new QStandardItemModel(this);
    auto *variantProxy = new QSortFilterProxyModel(this);
    variantProxy->setSourceModel(m_variantModel);
    variantProxy->setSortRole(kSortRole);
    m_variantTable = newRowTable(QStringLiteral("lmCompressVariants"), variantProxy);
    m_variantTable->setSortingEnabled(true);
    m_variantTable->sortByColumn(-1, Qt::AscendingOrder);
    m_variantTable->setAlternatingRowColors(true);
    m_variantTable->verticalHeader()->setDefaultSectionSize(m_variantTable->fontMetrics().height() + 6);
    m_variantTable->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_variantTable->horizontalHeader()->setMinimumSectionSize(40);
    connect(m_variantTable->selectionModel(), &QItemSelectionModel::selectionChanged, this, [this]() {
        updateControls();
        showChart();
    });
    m_export = new QPushButton(tr("Export…"));
    m_export->setObjectName(QStringLiteral("lmCompressExport"));
    m_export->setToolTip(tr("Write the selected variant as a GGUF checkpoint, its tensors exactly as measured"));
    connect(m_export, &QPushButton::clicked, this, &LmCompressView::chooseAndExport);
    m_saveVariantRecipe = new QPushButton(tr("Save Recipe…"));
    m_saveVariantRecipe->setObjectName(QStringLiteral("lmCompressSaveVariantRecipe"));
    m_saveVariantRecipe->setToolTip(tr("Save the selected variant's recipe as JSON (cwb compress --recipe)"));
    connect(m_saveVariantRecipe, &QPushButton::clicked, this, &LmCompressView::saveSelectedRecipe);
    auto *variantButtons = new QHBoxLayout;
    variantButtons->addWidget(new QLabel(tr("<b>Variants</b>")));
    variantButtons->addStretch(1);
    variantButtons->addWidget(m_saveVariantRecipe);
    variantButtons->addWidget(m_export);
    auto *variantBox = new QWidget;
    auto *variantLayout = new QVBoxLayout(variantBox);
    variantLayout->setContentsMargins(0, 0, 0, 0);
    variantLayout->addLayout(variantButtons);
    variantLayout->addWidget(m_variantTable, 1);

    m_chart = new QCustomPlot;
    m_chart->setObjectName(QStringLiteral("lmCompressChart"));
    enableChartExport(m_chart, QStringLiteral("lm-compress"));
    m_chart->setMinimumSize(300, 200);
    m_chart->xAxis->setLabel(tr("Bits per weight"));
    m_chart->yAxis->setLabel(tr("Perplexity"));
    m_chart->yAxis->grid()->setSubGridVisible(false);
    m_chart->legend->setVisible(false);
    m_chart->legend->setBrush(QColor(255, 255, 255, 220));
    m_chart->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);

    m_lossChart = new QCustomPlot;
    m_lossChart->setObjectName(QStringLiteral("lmCompressLossChart"));
    enableChartExport(m_lossChart, QStringLiteral("lm-finetune-loss"));
    m_lossChart->setMinimumSize(300, 200);
    m_lossChart->xAxis->setLabel(tr("Fine-tuning step"));
    m_lossChart->yAxis->setLabel(tr("Training loss"));
    m_lossChart->yAxis->grid()->setSubGridVisible(false);
    auto *charts = m_charts = new QTabWidget;
    charts->setObjectName(QStringLiteral("lmCompressCharts"));
    charts->setDocumentMode(true);
    charts->addTab(m_chart, tr("Perplexity × size"));
    charts->addTab(m_lossChart, tr("Fine-tuning loss"));

    auto *results = new QSplitter(Qt::Horizontal);
    results->setObjectName(QStringLiteral("lmCompressResultsSplit"));
    results->addWidget(variantBox);
    results->addWidget(charts);
    results->setStretchFactor(0, 2);
    results->setStretchFactor(1, 1);
    results->setSizes({620, 320});
    results->setChildrenCollapsible(false);

    auto *right = new QSplitter(Qt::Vertical);
    right->setObjectName(QStringLiteral("lmCompressRightSplit"));
    right->addWidget(tensorBox);
    right->addWidget(results);
    right->setStretchFactor(0, 1);
    right->setStretchFactor(1, 1);
    right->setChildrenCollapsible(false);

    auto *formScroll = new QScrollArea;
    formScroll->setWidget(buildForm());
    formScroll->setWidgetResizable(true);
    formScroll->setFrameShape(QFrame::NoFrame);
    formScroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    formScroll->setMinimumWidth(formScroll->widget()->sizeHint().width() + 16);

    auto *split = new QSplitter(Qt::Horizontal);
    split->setObjectName(QStringLiteral("lmCompressSplit"));
    split->addWidget(formScroll);
    split->addWidget(right);
    split->setStretchFactor(0, 0);
    split->setStretchFactor(1, 1);
    split->setChildrenCollapsible(false);

    QLabel *intro = newIntro(tr("A recipe applied to a copy of the model — pruning, quantization, llama.cpp's storage "
                                "formats, per tensor where you say so — then measured: perplexity, size and speed of "
                                "each variant, as <i>cwb compress</i> computes them."));
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(8, 8, 8, 8);
    layout->addWidget(intro);
    layout->addLayout(run.row);
    layout->addWidget(split, 1);
}

QWidget *LmCompressView::buildForm()
{
    auto *form = new QWidget;
    auto *outer = new QVBoxLayout(form);
    outer->setContentsMargins(0, 0, 4, 0);
    const auto changed = [this]() { formChanged(); };

    m_name = new QLineEdit;
    m_name->setObjectName(QStringLiteral("lmCompressName"));
    m_name->setPlaceholderText(tr("variant name (optional)"));
    connect(m_name, &QLineEdit::textChanged, this, changed);

    // Pruning.
    m_prune = new QComboBox;
    m_prune->setObjectName(QStringLiteral("lmCompressPrune"));
    m_prune->addItem(tr("none"), int(Prune::None));
    m_prune->addItem(tr("magnitude"), int(Prune::Magnitude));
    m_prune->addItem(tr("N:M magnitude"), int(Prune::NM));
    m_prune->addItem(tr("block magnitude"), int(Prune::Block));
    m_prune->addItem(tr("Wanda"), int(Prune::Wanda));
    m_prune->addItem(tr("SparseGPT"), int(Prune::SparseGpt));
    m_prune->addItem(tr("MLP channels (structured)"), int(Prune::Channel));
    m_prune->addItem(tr("attention heads (structured)"), int(Prune::Heads));
    m_prune->setToolTip(tr("Magnitude: each matrix's smallest |w|; N:M: n of every m weights along the input kept; "
                           "block magnitude: the weakest blocks of 16 outputs at one input (llama.cpp's formats store "
                           "their zeros); "
                           "Wanda (|w|·‖x‖) and SparseGPT (reconstruction) read calibration activations; MLP channels: "
                           "that share of every block's hidden channels removed (by ‖x‖·‖W_down‖ with calibration text); "
                           "attention heads: that share of every block's key / value heads removed with their query heads "
                           "(by their output on the calibration text; llama models). Both shrink the matrices and the file"));
    connect(m_prune, &QComboBox::currentIndexChanged, this, changed);
    m_ratio = new QDoubleSpinBox;
    m_ratio->setObjectName(QStringLiteral("lmCompressRatio"));
    m_ratio->setRange(0.0, 0.99);
    m_ratio->setSingleStep(0.05);
    m_ratio->setDecimals(2);
    m_ratio->setValue(0.5);
    m_ratio->setToolTip(tr("Fraction of each matrix's weights set to zero (MLP channels: of each block's hidden channels "
                           "removed; attention heads: of each block's key / value heads removed)"));
    connect(m_ratio, &QDoubleSpinBox::valueChanged, this, changed);
    m_nm = new QCheckBox(tr("N:M"));
    m_nm->setObjectName(QStringLiteral("lmCompressNm"));
    m_nm->setToolTip(tr("Wanda / SparseGPT: the N:M pattern instead of the ratio"));
    connect(m_nm, &QCheckBox::toggled, this, changed);
    m_n = new QSpinBox;
    m_n->setObjectName(QStringLiteral("lmCompressN"));
    m_n->setRange(1, 63);
    m_n->setValue(2);
    connect(m_n, &QSpinBox::valueChanged, this, changed);
    m_m = new QSpinBox;
    m_m->setObjectName(QStringLiteral("lmCompressM"));
    m_m->setRange(2, 64);
    m_m->setValue(4);
    connect(m_m, &QSpinBox::valueChanged, this, changed);
    auto *pattern = new QHBoxLayout;
    pattern->addWidget(m_ratio);
    pattern->addWidget(m_nm);
    pattern->addWidget(m_n);
    pattern->addWidget(new QLabel(QStringLiteral(":")));
    pattern->addWidget(m_m);
    pattern->addStretch(1);

    // Quantization.
    m_quant = new QComboBox;
    m_quant->setObjectName(QStringLiteral("lmCompressQuant"));
    m_quant->addItem(tr("none"), int(Quant::None));
    m_quant->addItem(tr("round to nearest"), int(Quant::Rtn));
    m_quant->addItem(tr("GPTQ"), int(Quant::Gptq));
    m_quant->addItem(tr("AWQ"), int(Quant::Awq));
    m_quant->setToolTip(tr("GPTQ and AWQ read calibration activations; with a storage format they quantize on the "
                           "format's grid"));
    connect(m_quant, &QComboBox::currentIndexChanged, this, changed);
    m_bits = new QSpinBox;
    m_bits->setObjectName(QStringLiteral("lmCompressBits"));
    m_bits->setRange(2, 8);
    m_bits->setValue(4);
    m_bits->setSuffix(tr(" bit"));
    connect(m_bits, &QSpinBox::valueChanged, this, changed);
    m_granularity = new QComboBox;
    m_granularity->setObjectName(QStringLiteral("lmCompressGranularity"));
    m_granularity->addItem(tr("per row"), granularityKey(cw::Granularity::Channel, 0));
    for (int g : {32, 64, 128})
        m_granularity->addItem(tr("group %1").arg(g), granularityKey(cw::Granularity::Group, g));
    m_granularity->addItem(tr("per tensor"), granularityKey(cw::Granularity::Tensor, 0));
    m_granularity->setCurrentIndex(1);
    connect(m_granularity, &QComboBox::currentIndexChanged, this, changed);
    m_symmetric = new QCheckBox(tr("symmetric"));
    m_symmetric->setObjectName(QStringLiteral("lmCompressSymmetric"));
    m_symmetric->setChecked(true);
    connect(m_symmetric, &QCheckBox::toggled, this, changed);
    auto *grid = new QHBoxLayout;
    grid->addWidget(m_bits);
    grid->addWidget(m_granularity);
    grid->addWidget(m_symmetric);
    grid->addStretch(1);

    m_format = new QComboBox;
    m_format->setObjectName(QStringLiteral("lmCompressFormat"));
    m_format->addItem(tr("none (F16 grid)"), QString());
    for (const char *f : kFormats)
        m_format->addItem(QString::fromLatin1(f).toUpper(), QString::fromLatin1(f));
    m_format->setToolTip(tr("llama.cpp's storage format, encoded as llama-quantize encodes; a matrix whose rows are "
                            "not whole blocks falls back as llama-quantize falls back. None: the grid's values stored as F16"));
    connect(m_format, &QComboBox::currentIndexChanged, this, changed);
    m_importance = new QCheckBox(tr("importance-weighted (imatrix)"));
    m_importance->setObjectName(QStringLiteral("lmCompressImportance"));
    m_importance->setToolTip(tr("The format's rounding weighted by the calibration activations' mean squares per "
                                "input, as llama.cpp's importance matrix does"));
    connect(m_importance, &QCheckBox::toggled, this, [this]() {
        updateFormEnabled();
        writeSettings();
    });

    m_independent = new QCheckBox(tr("calibrate on the unchanged model"));
    m_independent->setObjectName(QStringLiteral("lmCompressIndependent"));
    m_independent->setToolTip(tr("Not sequential: each matrix is compressed on the inputs of the unchanged model, "
                                 "independently of the others, so Run on Cluster… splits the matrices over the nodes. "
                                 "Off: GPTQ's sequential procedure, each block on the blocks before it as compressed"));
    connect(m_independent, &QCheckBox::toggled, this, changed);

    auto *recipeBox = new QGroupBox(tr("Recipe"));
    auto *recipeForm = new QFormLayout(recipeBox);
    recipeForm->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    recipeForm->addRow(tr("Name"), m_name);
    recipeForm->addRow(tr("Pruning"), m_prune);
    recipeForm->addRow(QString(), pattern);
    recipeForm->addRow(tr("Quantization"), m_quant);
    recipeForm->addRow(QString(), grid);
    recipeForm->addRow(tr("Storage"), m_format);
    recipeForm->addRow(QString(), m_importance);
    recipeForm->addRow(QString(), m_independent);
    auto *load = new QPushButton(tr("Load…"));
    load->setObjectName(QStringLiteral("lmCompressLoad"));
    connect(load, &QPushButton::clicked, this, &LmCompressView::chooseAndLoad);
    auto *save = new QPushButton(tr("Save…"));
    save->setObjectName(QStringLiteral("lmCompressSave"));
    connect(save, &QPushButton::clicked, this, &LmCompressView::chooseAndSave);
    auto *files = new QHBoxLayout;
    files->addWidget(load);
    files->addWidget(save);
    files->addStretch(1);
    recipeForm->addRow(QString(), files);

    // Fine-tuning (core/lm/compress.h): on windows of the calibration text, optionally from the base as teacher.
    m_finetune = new QCheckBox(tr("Fine-tune after compressing"));
    m_finetune->setObjectName(QStringLiteral("lmCompressFinetune"));
    m_finetune->setToolTip(tr("Train every weight of the compressed model on the calibration text, through its storage "
                              "(pruned weights stay zero, quantized ones on their grid)"));
    connect(m_finetune, &QCheckBox::toggled, this, changed);
    auto spin = [&](const char *name, int lo, int hi, int value, const QString &tip) {
        auto *s = new QSpinBox;
        s->setObjectName(QLatin1String(name));
        s->setRange(lo, hi);
        s->setValue(value);
        s->setToolTip(tip);
        connect(s, &QSpinBox::valueChanged, this, changed);
        return s;
    };
    auto real = [&](const char *name, double lo, double hi, double step, int decimals, double value, const QString &tip) {
        auto *s = new QDoubleSpinBox;
        s->setObjectName(QLatin1String(name));
        s->setRange(lo, hi);
        s->setSingleStep(step);
        s->setDecimals(decimals);
        s->setValue(value);
        s->setToolTip(tip);
        connect(s, &QDoubleSpinBox::valueChanged, this, changed);
        return s;
    };
    m_windows = spin("lmCompressWindows", 0, 10000000, 512,
                     tr("Training windows of the model's context taken from the start of the calibration text (0: all)"));
    m_windows->setSpecialValueText(tr("all"));
    m_epochs = spin("lmCompressEpochs", 1, 1000, 1, tr("Passes over the windows"));
    m_batch = spin("lmCompressBatch", 1, 1024, 8, tr("Windows per Adam step"));
    m_lr = real("lmCompressLr", 0.00001, 0.1, 0.0001, 5, 0.0003, tr("Peak learning rate (warm-up over the first tenth, "
                                                                     "then cosine decay to a tenth of it)"));
    m_teacher = new QCheckBox(tr("Base model as teacher (distillation)"));
    m_teacher->setObjectName(QStringLiteral("lmCompressTeacher"));
    m_teacher->setToolTip(tr("Learn the uncompressed model's next-token distributions as well as the text's next "
                             "tokens: α · T² · KL(teacher ‖ student) + (1 − α) · cross-entropy"));
    connect(m_teacher, &QCheckBox::toggled, this, changed);
    m_temperature = real("lmCompressTemperature", 0.5, 20, 0.5, 1, 1,
                         tr("Softens both distributions: higher T shows the student more of the teacher's "
                            "second choices"));
    m_alpha = real("lmCompressAlpha", 0, 1, 0.1, 2, 0.5,
                   tr("Weight of the teacher: 0 learns from the text alone, 1 from the teacher alone"));
    auto *schedule = new QHBoxLayout;
    schedule->addWidget(new QLabel(tr("windows")));
    schedule->addWidget(m_windows);
    schedule->addWidget(new QLabel(tr("×")));
    schedule->addWidget(m_epochs);
    schedule->addStretch(1);
    auto *step = new QHBoxLayout;
    step->addWidget(new QLabel(tr("batch")));
    step->addWidget(m_batch);
    step->addWidget(new QLabel(tr("lr")));
    step->addWidget(m_lr);
    step->addStretch(1);
    auto *teach = new QHBoxLayout;
    teach->addWidget(new QLabel(tr("T")));
    teach->addWidget(m_temperature);
    teach->addWidget(new QLabel(tr("α")));
    teach->addWidget(m_alpha);
    teach->addStretch(1);
    auto *tuneBox = new QGroupBox(tr("Fine-tuning"));
    auto *tuneForm = new QFormLayout(tuneBox);
    tuneForm->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    tuneForm->addRow(m_finetune);
    tuneForm->addRow(schedule);
    tuneForm->addRow(step);
    tuneForm->addRow(m_teacher);
    tuneForm->addRow(teach);

    // The texts.
    m_calibrate = new QCheckBox(tr("Calibrate on"));
    m_calibrate->setObjectName(QStringLiteral("lmCompressCalibrate"));
    m_calibrate->setToolTip(tr("The text whose activations Wanda, SparseGPT, GPTQ, AWQ and importance-weighted "
                               "formats read (--train-data)"));
    connect(m_calibrate, &QCheckBox::toggled, this, [this]() {
        updateFormEnabled();
        writeSettings();
    });
    m_calibration = new LmTextCombo(QLatin1String(kCalibrationTextKey), QStringLiteral("brown:train"));
    m_calibration->setObjectName(QStringLiteral("lmCompressCalibrationText"));
    m_calibration->setMinimumContentsLength(12);
    m_evaluation = new LmTextCombo(QLatin1String(kEvaluationTextKey));
    m_evaluation->setObjectName(QStringLiteral("lmCompressEvaluationText"));
    m_evaluation->setMinimumContentsLength(12);
    m_chunks = new QSpinBox;
    m_chunks->setObjectName(QStringLiteral("lmCompressChunks"));
    m_chunks->setRange(0, 1000000);
    m_chunks->setSpecialValueText(tr("all"));
    m_chunks->setToolTip(tr("At most this many chunks of the evaluation text (the model's context each; all: every "
                            "whole chunk)"));
    connect(m_chunks, &QSpinBox::valueChanged, this, [this]() { writeSettings(); });
    auto *textBox = new QGroupBox(tr("Texts"));
    auto *textForm = new QFormLayout(textBox);
    textForm->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    m_calibrationTokens = new QSpinBox;
    m_calibrationTokens->setObjectName(QStringLiteral("lmCompressCalibrationTokens"));
    m_calibrationTokens->setRange(128, 10000000);
    m_calibrationTokens->setSingleStep(1024);
    m_calibrationTokens->setValue(8192);
    m_calibrationTokens->setSuffix(tr(" tokens"));
    m_calibrationTokens->setToolTip(tr("Calibration reads at most this many tokens of the text (chunks of the model's "
                                       "context; cwb compress --train-limit); fine-tuning takes its windows from the "
                                       "whole text"));
    connect(m_calibrationTokens, &QSpinBox::valueChanged, this, [this]() { writeSettings(); });
    textForm->addRow(m_calibrate, m_calibration);
    textForm->addRow(tr("Calibrate with"), m_calibrationTokens);
    textForm->addRow(tr("Evaluate on"), m_evaluation);
    textForm->addRow(tr("Chunks"), m_chunks);

    outer->addWidget(recipeBox);
    outer->addWidget(tuneBox);
    outer->addWidget(textBox);
    outer->addStretch(1);
    return form;
}

// ---------------------------------------------------------------------------------------------------
// The form

cw::Recipe LmCompressView::recipe() const
{
    return m_tensors->recipe();
}

void LmCompressView::formChanged()
{
    if (m_loading)
        return;
    updateFormEnabled();
    // The defaults the form describes, over what it does not show of the loaded recipe.
    cw::Recipe r = m_loaded;
    r.layers.clear();
    r.name = m_name->text().trimmed().toStdString();
    const auto prune = Prune(m_prune->currentData().toInt());
    if (prune == Prune::None) {
        r.prune.reset();
    } else {
        cw::PruneConfig p = m_loaded.prune.value_or(cw::PruneConfig{});
        p.ratio = m_ratio->value();
        p.n = m_n->value();
        p.m = m_m->value();
        switch (prune) {
        case Prune::Magnitude: p.method = cw::PruneMethod::Magnitude; p.nm = false; break;
        case Prune::NM: p.method = cw::PruneMethod::NM; p.nm = true; break;
        case Prune::Block: p.method = cw::PruneMethod::Block; p.nm = false; break;
        case Prune::Wanda: p.method = cw::PruneMethod::Wanda; p.nm = m_nm->isChecked(); break;
        case Prune::SparseGpt: p.method = cw::PruneMethod::SparseGpt; p.nm = m_nm->isChecked(); break;
        case Prune::Channel: p.method = cw::PruneMethod::Channel; p.nm = false; break;
        case Prune::Heads: p.method = cw::PruneMethod::Heads; p.nm = false; break;
        case Prune::None: break;
        }
        r.prune = p;
    }
    const auto quant = Quant(m_quant->currentData().toInt());
    const QString format = m_format->currentData().toString();
    if (quant == Quant::None && format.isEmpty()) {
        r.weights.reset();
    } else {
        cw::QuantSpec q = m_loaded.weights.value_or(cw::QuantSpec{});
        q.bits = m_bits->value();
        const QString g = m_granularity->currentData().toString();
        if (g.startsWith(QLatin1String("group:"))) {
            q.granularity = cw::Granularity::Group;
            q.groupSize = g.mid(6).toLongLong();
        } else {
            q.granularity = g == QLatin1String("tensor") ? cw::Granularity::Tensor : cw::Granularity::Channel;
        }
        q.symmetric = m_symmetric->isChecked();
        q.method = quant == Quant::Gptq ? cw::QuantMethod::Gptq
                   : quant == Quant::Awq ? cw::QuantMethod::Awq
                                         : cw::QuantMethod::Rtn;
        q.format = format.toStdString();
        r.weights = q;
    }
    if (m_finetune->isChecked()) {
        cw::FinetuneConfig &f = r.finetune;
        f.epochs = m_epochs->value();
        f.samples = m_windows->value();
        f.batchSize = m_batch->value();
        f.lr = float(m_lr->value());
        if (m_teacher->isChecked()) {
            cw::DistillConfig d = m_loaded.finetune.distill.value_or(cw::DistillConfig{});
            d.temperature = float(m_temperature->value());
            d.alpha = float(m_alpha->value());
            f.distill = d;
        } else {
            f.distill.reset();
        }
    } else {
        r.finetune.epochs = 0;
        r.finetune.distill.reset();
    }
    r.sequential = !m_independent->isChecked();
    m_tensors->setDefaults(r);
    writeSettings();
}

void LmCompressView::updateFormEnabled()
{
    const auto prune = Prune(m_prune->currentData().toInt());
    const bool reconstructs = prune == Prune::Wanda || prune == Prune::SparseGpt;
    m_nm->setEnabled(reconstructs);
    const bool nm = prune == Prune::NM || (reconstructs && m_nm->isChecked());
    m_ratio->setEnabled(prune != Prune::None && !nm);
    m_n->setEnabled(nm);
    m_m->setEnabled(nm);
    const auto quant = Quant(m_quant->currentData().toInt());
    const bool format = !m_format->currentData().toString().isEmpty();
    // A format brings its own grid (bits, blocks, scales).
    for (QWidget *w : std::initializer_list<QWidget *>{m_bits, m_granularity, m_symmetric})
        w->setEnabled(quant != Quant::None && !format);
    m_importance->setEnabled(format && m_calibrate->isChecked());
    m_independent->setEnabled(m_calibrate->isChecked());
    m_calibration->setEnabled(m_calibrate->isChecked());
    m_calibrationTokens->setEnabled(m_calibrate->isChecked());
    const bool tune = m_finetune->isChecked();
    for (QWidget *w : std::initializer_list<QWidget *>{m_windows, m_epochs, m_batch, m_lr, m_teacher})
        w->setEnabled(tune);
    m_temperature->setEnabled(tune && m_teacher->isChecked());
    m_alpha->setEnabled(tune && m_teacher->isChecked());
}

void LmCompressView::setRecipe(const cw::Recipe &recipe)
{
    m_loading = true;
    m_loaded = recipe;
    m_loaded.layers.clear();
    m_name->setText(QString::fromStdString(recipe.name));
    Prune prune = Prune::None;
    if (recipe.prune) {
        const cw::PruneConfig &p = *recipe.prune;
        switch (p.method) {
        case cw::PruneMethod::Magnitude: prune = Prune::Magnitude; break;
        case cw::PruneMethod::NM: prune = Prune::NM; break;
        case cw::PruneMethod::Block: prune = Prune::Block; break;
        case cw::PruneMethod::Wanda: prune = Prune::Wanda; break;
        case cw::PruneMethod::SparseGpt: prune = Prune::SparseGpt; break;
        case cw::PruneMethod::Channel: prune = Prune::Channel; break;
        case cw::PruneMethod::Heads: prune = Prune::Heads; break;
        }
        m_ratio->setValue(p.ratio);
        m_n->setValue(p.n);
        m_m->setValue(p.m);
        m_nm->setChecked(p.nm && (prune == Prune::Wanda || prune == Prune::SparseGpt));
    }
    m_prune->setCurrentIndex(m_prune->findData(int(prune)));
    Quant quant = Quant::None;
    QString format;
    if (recipe.weights) {
        const cw::QuantSpec &q = *recipe.weights;
        quant = q.method == cw::QuantMethod::Gptq ? Quant::Gptq : q.method == cw::QuantMethod::Awq ? Quant::Awq : Quant::Rtn;
        format = QString::fromStdString(q.format);
        m_bits->setValue(q.bits);
        const QString key = granularityKey(q.granularity, q.groupSize);
        if (m_granularity->findData(key) < 0)
            m_granularity->addItem(tr("group %1").arg(q.groupSize), key);
        m_granularity->setCurrentIndex(m_granularity->findData(key));
        m_symmetric->setChecked(q.symmetric);
    }
    // A format with round to nearest reads as the format alone.
    if (quant == Quant::Rtn && !format.isEmpty())
        quant = Quant::None;
    m_quant->setCurrentIndex(m_quant->findData(int(quant)));
    int formatIndex = m_format->findData(format);
    if (formatIndex < 0) { // f16 / bf16 / f32: offered when a recipe asks for them
        m_format->addItem(format.toUpper(), format);
        formatIndex = m_format->count() - 1;
    }
    m_format->setCurrentIndex(formatIndex);
    const cw::FinetuneConfig &f = recipe.finetune;
    m_finetune->setChecked(f.epochs > 0);
    if (f.epochs > 0) {
        m_epochs->setValue(f.epochs);
        m_windows->setValue(int(std::min<int64_t>(f.samples, m_windows->maximum())));
        m_batch->setValue(int(std::min<int64_t>(f.batchSize, m_batch->maximum())));
        m_lr->setValue(f.lr);
    }
    m_teacher->setChecked(f.distill.has_value());
    if (f.distill) {
        m_temperature->setValue(f.distill->temperature);
        m_alpha->setValue(f.distill->alpha);
    }
    m_independent->setChecked(!recipe.sequential);
    m_loading = false;
    updateFormEnabled();
    m_tensors->setRecipe(recipe);
    writeSettings();
}

bool LmCompressView::loadRecipeFile(const QString &path)
{
    try {
        setRecipe(cw::loadRecipe(path.toStdString()));
    } catch (const std::exception &e) {
        setStatus(tr("Could not load the recipe: %1").arg(QString::fromUtf8(e.what())));
        return false;
    }
    QSettings().setValue(QLatin1String(kRecipePathKey), QFileInfo(path).absoluteFilePath());
    setStatus(tr("Loaded %1.").arg(QFileInfo(path).fileName()));
    return true;
}

bool LmCompressView::saveRecipeFile(const QString &path)
{
    try {
        cw::saveRecipe(recipe(), path.toStdString());
    } catch (const std::exception &e) {
        setStatus(tr("Could not save the recipe: %1").arg(QString::fromUtf8(e.what())));
        return false;
    }
    QSettings().setValue(QLatin1String(kRecipePathKey), QFileInfo(path).absoluteFilePath());
    setStatus(tr("Saved %1.").arg(QFileInfo(path).fileName()));
    return true;
}

void LmCompressView::chooseAndLoad()
{
    const QString last = QSettings().value(QLatin1String(kRecipePathKey)).toString();
    const QString path = QFileDialog::getOpenFileName(this, tr("Load Recipe"),
                                                      last.isEmpty() ? QDir::homePath() : QFileInfo(last).absolutePath(),
                                                      tr("Recipes (*.json);;All files (*)"));
    if (!path.isEmpty())
        loadRecipeFile(path);
}

void LmCompressView::chooseAndSave()
{
    const QString last = QSettings().value(QLatin1String(kRecipePathKey)).toString();
    const QString name = m_name->text().trimmed().isEmpty() ? QStringLiteral("recipe") : m_name->text().trimmed();
    const QString dir = last.isEmpty() ? QDir::homePath() : QFileInfo(last).absolutePath();
    const QString path = QFileDialog::getSaveFileName(this, tr("Save Recipe"), QDir(dir).filePath(name + QStringLiteral(".json")),
                                                      tr("Recipes (*.json)"));
    if (!path.isEmpty())
        saveRecipeFile(path);
}

void LmCompressView::setCalibrationSpec(const QString &spec)
{
    m_calibrate->setChecked(!spec.isEmpty());
    if (!spec.isEmpty())
        m_calibration->setTextSpec(spec);
}

QString LmCompressView::calibrationSpec() const
{
    return m_calibrate->isChecked() ? m_calibration->textSpec() : QString();
}

void LmCompressView::setEvaluationSpec(const QString &spec)
{
    m_evaluation->setTextSpec(spec);
}

QString LmCompressView::evaluationSpec() const
{
    return m_evaluation->textSpec();
}

void LmCompressView::setChunks(int chunks)
{
    m_chunks->setValue(chunks);
}

int LmCompressView::chunks() const
{
    return m_chunks->value();
}

void LmCompressView::setImportance(bool on)
{
    m_importance->setChecked(on);
}

void LmCompressView::writeSettings()
{
    if (m_loading)
        return;
    QSettings s;
    s.setValue(QLatin1String(kCalibrateKey), m_calibrate->isChecked());
    s.setValue(QLatin1String(kChunksKey), m_chunks->value());
    s.setValue(QLatin1String(kCalibrationTokensKey), m_calibrationTokens->value());
    s.setValue(QLatin1String(kImportanceKey), m_importance->isChecked());
    cw::Recipe form = recipe();
    form.layers.clear(); // overrides name one model's tensors
    s.setValue(QLatin1String(kRecipeKey), QString::fromStdString(cw::recipeToJson(form, -1)));
}

// ---------------------------------------------------------------------------------------------------
// The table

void LmCompressView::tensorMenu(const QPoint &pos)
{
    auto *proxy = qobject_cast<QSortFilterProxyModel *>(m_tensorTable->model());
    QList<int> rows;
    for (const QModelIndex &index : m_tensorTable->selectionModel()->selectedRows())
        rows << proxy->mapToSource(index).row();
    const QModelIndex at = m_tensorTable->indexAt(pos);
    if (at.isValid() && !rows.contains(proxy->mapToSource(at).row()))
        rows = {proxy->mapToSource(at).row()};
    QMenu menu(this);
    if (!rows.isEmpty()) {
        QMenu *store = menu.addMenu(tr("Store as"));
        for (const QString &f : LmRecipeTableModel::formatChoices())
            store->addAction(f.toUpper(), this, [this, rows, f]() {
                for (int r : rows)
                    m_tensors->setFormatOverride(r, f);
            });
        menu.addAction(tr("Keep as Stored"), this, [this, rows]() {
            for (int r : rows)
                m_tensors->setLocked(r, true);
        });
        menu.addAction(tr("Use the Recipe's Defaults"), this, [this, rows]() {
            for (int r : rows)
                m_tensors->clearOverride(r);
        });
        menu.addSeparator();
    }
    QAction *clear = menu.addAction(tr("Clear Every Override"), this, [this]() { m_tensors->clearOverrides(); });
    clear->setEnabled(m_tensors->overrideCount() > 0);
    menu.addSeparator();
    menu.addActions(m_tensorTable->actions()); // Copy, Copy All (enableRowCopy)
    menu.exec(m_tensorTable->viewport()->mapToGlobal(pos));
}

QString LmCompressView::predictionText() const
{
    return m_prediction->text();
}

void LmCompressView::updatePrediction()
{
    if (!m_model || m_tensors->rowCount() == 0) {
        m_prediction->setText(tr("<b>Predicted</b> —"));
        return;
    }
    const int overrides = m_tensors->overrideCount();
    m_prediction->setText(tr("<b>Predicted %1 bits per weight</b> over the %2 matrices (%3) &nbsp;·&nbsp; model %4%5")
                              .arg(displayLocale().toString(m_tensors->predictedBitsPerWeight(), 'f', 3))
                              .arg(m_tensors->rowCount())
                              .arg(formatBytes(int64_t(m_tensors->predictedMatrixBytes())),
                                   formatBytes(int64_t(m_tensors->predictedModelBytes())),
                                   overrides == 1 ? tr(" &nbsp;·&nbsp; 1 override")
                                   : overrides > 1 ? tr(" &nbsp;·&nbsp; %1 overrides").arg(overrides)
                                                   : QString()));
}

// ---------------------------------------------------------------------------------------------------
// Runs

void LmCompressView::setModel(LanguageModelPtr model)
{
    detachJob();
    m_model = std::move(model);
    m_variants.clear();
    m_bases.clear();
    m_shownBase.reset();
    cw::Recipe keep = recipe();
    // Overrides of tensors the new model has stay; the others named the previous model's.
    for (auto it = keep.layers.begin(); it != keep.layers.end();) {
        const bool has = m_model && std::any_of(m_model->tensors().begin(), m_model->tensors().end(),
                                                [&](const auto &e) { return e.name == it->first; });
        it = has ? std::next(it) : keep.layers.erase(it);
    }
    m_tensors->setModel(m_model.get());
    m_tensors->setRecipe(keep); // the overrides of tensors this model has stay
    showVariants();
    setStatus(QString());
    updateControls();
}

QString LmCompressView::baseKey(const LmCompressParams &params)
{
    return QString::fromStdString(params.evalSpec) + QLatin1Char('|') + QString::number(params.ctx) + QLatin1Char('|') +
           QString::number(params.chunks);
}

std::optional<LmCompressParams> LmCompressView::formParams()
{
    const QString spec = evaluationSpec();
    if (!m_model || spec.isEmpty()) {
        setStatus(m_model ? tr("Choose a text to evaluate on.") : tr("Open a language model first."));
        return std::nullopt;
    }
    const cw::Recipe r = recipe();
    const QString calibration = calibrationSpec();
    if (m_calibrate->isChecked() && calibration.isEmpty()) {
        setStatus(tr("Choose a calibration text, or switch calibration off."));
        return std::nullopt;
    }
    try {
        cw::lm::validateLmRecipe(r, *m_model, !calibration.isEmpty());
    } catch (const std::exception &e) {
        setStatus(tr("The recipe is refused: %1").arg(QString::fromUtf8(e.what())));
        return std::nullopt;
    }
    LmCompressParams params;
    params.modelPath = m_model->path();
    params.recipe = r;
    params.calibrationSpec = calibration.toStdString();
    params.calibrationTokens = m_calibrationTokens->value();
    params.importance = m_importance->isChecked() && m_importance->isEnabled();
    params.evalSpec = spec.toStdString();
    params.chunks = m_chunks->value() > 0 ? m_chunks->value() : -1;
    return params;
}

std::optional<cw::cluster::SweepPlan> LmCompressView::clusterPlan()
{
    const std::optional<LmCompressParams> p = formParams();
    if (!p)
        return std::nullopt;
    try {
        // A recipe that is not sequential is computed by matrix: its matrices spread over the nodes.
        const std::optional<std::string> calibration =
            p->calibrationSpec.empty() ? std::nullopt : std::optional<std::string>(p->calibrationSpec);
        const std::string directory = QDir::currentPath().toStdString();
        if (!p->recipe.sequential)
            return cw::cluster::lmMatricesPlan(cwbArguments(*p), p->modelPath, *m_model, p->recipe, p->evalSpec,
                                               calibration, directory);
        return cw::cluster::lmRecipesPlan(cwbArguments(*p), p->modelPath, {p->recipe}, p->evalSpec, calibration,
                                          directory);
    } catch (const std::exception &e) {
        setStatus(tr("Cannot plan this recipe for a cluster: %1").arg(QString::fromUtf8(e.what())));
        return std::nullopt;
    }
}

bool LmCompressView::run()
{
    if (!mayStartOnText(evaluationSpec()))
        return false;
    std::optional<LmCompressParams> p = formParams();
    if (!p)
        return false;
    startCompress(std::move(*p), std::nullopt);
    return true;
}

bool LmCompressView::measureImported(const cw::cluster::SweepPlan &plan, const cw::LmProjectVariant &assembled)
{
    if (!m_model)
        return false;
    LmCompressParams params;
    params.modelPath = m_model->path();
    params.recipe = assembled.recipe;
    params.encoded = assembled.result;
    // The measurement the plan's cwb compress command asks for: its text (a file from the plan's folder), --limit
    // chunks, --ctx.
    for (const cw::DatasetRecord &d : plan.data)
        if (d.role == "evaluation") {
            const QString inPlan = QDir(QString::fromStdString(plan.directory)).filePath(QString::fromStdString(d.spec));
            params.evalSpec = QFileInfo(inPlan).isFile() ? inPlan.toStdString() : d.spec;
        }
    try {
        if (const std::optional<std::string> limit = cw::cluster::commandOption(plan.command, "--limit"))
            params.chunks = std::stoll(*limit);
        if (const std::optional<std::string> ctx = cw::cluster::commandOption(plan.command, "--ctx"))
            params.ctx = std::stoll(*ctx);
    } catch (const std::exception &) {
        setStatus(tr("The plan's --limit or --ctx is not a number."));
        return false;
    }
    if (!mayStartOnText(QString::fromStdString(params.evalSpec)))
        return false;
    startCompress(std::move(params), assembled.provenance);
    return true;
}

void LmCompressView::startCompress(LmCompressParams params, const std::optional<cw::Provenance> &provenance)
{
    const QString spec = QString::fromStdString(params.evalSpec);
    const QString key = baseKey(params);
    params.measureBase = m_bases.find(key) == m_bases.end();
    auto *job = new LmCompressJob(std::move(params), this);
    const QString text = LmTextCombo::displayName(spec);
    m_liveLoss.clear();
    m_liveName = QString::fromStdString(job->params().recipe.name);
    connect(job, &LmCompressJob::finetuneStep, this, [this](qint64, qint64 steps, double loss) {
        if (m_liveLoss.empty())
            m_charts->setCurrentWidget(m_lossChart); // the curve to watch while it trains
        m_liveLoss.push_back(loss);
        m_liveSteps = steps;
        showLossChart();
    });
    connect(job, &LmCompressJob::succeeded, this, [this, job, key, text, provenance]() {
        const LmCompressOutcome &o = *job->result();
        if (o.basePerplexity)
            m_bases[key] = Base{*o.basePerplexity, o.baseSpeed.value_or(cw::lm::SpeedResult{})};
        m_shownBase = m_bases[key];
        Variant v;
        v.recipe = job->params().recipe;
        v.name = QString::fromStdString(v.recipe.name);
        if (v.name.isEmpty())
            v.name = tr("variant %1").arg(m_variants.size() + 1);
        for (int n = 2; std::any_of(m_variants.begin(), m_variants.end(), [&](const Variant &o) { return o.name == v.name; }); ++n)
            v.name = (v.recipe.name.empty() ? tr("variant %1").arg(m_variants.size() + n)
                                            : QStringLiteral("%1 (%2)").arg(QString::fromStdString(v.recipe.name)).arg(n));
        v.model = o.model;
        v.result = o.result;
        v.perplexity = o.perplexity;
        v.speed = o.speed;
        v.basePerplexity = m_shownBase->perplexity.perplexity;
        v.baseSpeed = m_shownBase->speed;
        v.evaluation = text;
        v.evaluationSpec = QString::fromStdString(job->params().evalSpec);
        if (provenance) { // made on a cluster
            v.provenance = *provenance;
        } else {
            v.provenance = cw::currentProvenance();
            v.provenance.command = cwbCommand(job->params(), v.name.toStdString());
            v.provenance.trainData = job->params().calibrationSpec;
        }
        v.provenance.evalData = job->params().evalSpec;
        const QLocale locale = displayLocale();
        setStatus(tr("%1: perplexity %2 (%3 %) at %4 bits per weight, %5, on %6 scored tokens of %7.")
                      .arg(v.name, locale.toString(v.perplexity.perplexity, 'f', 3),
                           signedPercent((v.perplexity.perplexity / v.basePerplexity - 1.0) * 100.0),
                           locale.toString(v.result->bitsPerWeight(), 'f', 3), formatBytes(int64_t(v.result->bytes)),
                           formatCount(v.perplexity.scored), text));
        addVariant(std::move(v));
    });
    runTextJob(job, m_progress, tr("Cancelled; the variants are as they were."),
               [job]() { return job->result().has_value(); });
}

void LmCompressView::cancel()
{
    cancelJob();
}

std::vector<cw::LmProjectVariant> LmCompressView::projectVariants() const
{
    std::vector<cw::LmProjectVariant> out;
    for (const Variant &v : m_variants)
        out.push_back({v.name.toStdString(), v.recipe, v.result, v.perplexity, v.basePerplexity, v.speed, v.baseSpeed,
                       v.evaluationSpec.toStdString(), v.provenance});
    return out;
}

void LmCompressView::restoreVariants(const std::vector<cw::LmProjectVariant> &variants)
{
    m_variants.clear();
    m_shownBase.reset();
    appendVariants(variants);
}

void LmCompressView::appendVariants(const std::vector<cw::LmProjectVariant> &variants)
{
    for (const cw::LmProjectVariant &pv : variants) {
        Variant v;
        v.name = QString::fromStdString(pv.name);
        v.recipe = pv.recipe;
        v.model = m_model;
        v.result = pv.result;
        v.perplexity = pv.perplexity;
        v.speed = pv.speed;
        v.basePerplexity = pv.basePerplexity;
        v.baseSpeed = pv.baseSpeed;
        v.evaluationSpec = QString::fromStdString(pv.evaluation);
        v.evaluation = LmTextCombo::displayName(v.evaluationSpec);
        v.provenance = pv.provenance;
        cw::lm::PerplexityResult base;
        base.perplexity = pv.basePerplexity;
        m_shownBase = Base{base, pv.baseSpeed};
        m_variants.push_back(std::move(v));
    }
    showVariants();
    emit variantsChanged();
}

void LmCompressView::addVariant(Variant variant)
{
    m_variants.push_back(std::move(variant));
    emit variantsChanged();
    showVariants();
    // The new one selected.
    auto *proxy = qobject_cast<QSortFilterProxyModel *>(m_variantTable->model());
    const int sourceRow = m_variantModel->rowCount() - 1;
    if (sourceRow >= 0)
        m_variantTable->selectRow(proxy->mapFromSource(m_variantModel->index(sourceRow, 0)).row());
}

int LmCompressView::selectedVariant() const
{
    auto *proxy = qobject_cast<QSortFilterProxyModel *>(m_variantTable->model());
    const QModelIndexList rows = m_variantTable->selectionModel()->selectedRows();
    if (rows.isEmpty())
        return -1;
    const int source = proxy->mapToSource(rows.first()).row();
    const int index = source - (m_shownBase ? 1 : 0);
    return index >= 0 && index < int(m_variants.size()) ? index : -1;
}

void LmCompressView::showVariants()
{
    m_variantModel->clear();
    m_variantModel->setHorizontalHeaderLabels({tr("Name"), tr("Recipe"), tr("Bytes"), tr("Bits/w"), tr("Perplexity"),
                                               tr("Δ %"), tr("Prompt t/s"), tr("Gen t/s")});
    m_variantModel->horizontalHeaderItem(BpwColumn)->setToolTip(tr("Bits per weight over every tensor of the checkpoint"));
    m_variantModel->horizontalHeaderItem(DeltaColumn)->setToolTip(tr("Perplexity change against the base, in %"));
    m_variantModel->horizontalHeaderItem(PromptSpeedColumn)
        ->setToolTip(tr("Prompt processing, tokens per second (as cwb bench measures)"));
    m_variantModel->horizontalHeaderItem(GenerationSpeedColumn)->setToolTip(tr("Generation, tokens per second"));
    const QLocale locale = displayLocale();
    auto item = [](const QString &text, const QVariant &sort, bool number) {
        auto *it = new QStandardItem(text);
        it->setData(sort, kSortRole);
        if (number)
            it->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        return it;
    };
    int order = 0;
    if (m_shownBase && m_model) {
        const cw::lm::Config &c = m_model->config();
        const double bpw = double(c.storedBytes) * 8.0 / double(std::max<int64_t>(1, c.parameters));
        QList<QStandardItem *> row = {
            item(tr("base"), order++, false),
            item(tr("as stored"), QString(), false),
            item(formatBytes(c.storedBytes), qlonglong(c.storedBytes), true),
            item(locale.toString(bpw, 'f', 3), bpw, true),
            item(locale.toString(m_shownBase->perplexity.perplexity, 'f', 3), m_shownBase->perplexity.perplexity, true),
            item(QStringLiteral("—"), 0.0, true),
            item(locale.toString(m_shownBase->speed.promptTokensPerSecond, 'f', 0), m_shownBase->speed.promptTokensPerSecond, true),
            item(locale.toString(m_shownBase->speed.generationTokensPerSecond, 'f', 1),
                 m_shownBase->speed.generationTokensPerSecond, true),
        };
        for (QStandardItem *it : row)
            it->setForeground(QColor(0x61, 0x61, 0x61));
        m_variantModel->appendRow(row);
    }
    for (const Variant &v : m_variants) {
        const double bpw = v.result->bitsPerWeight();
        const double delta = (v.perplexity.perplexity / v.basePerplexity - 1.0) * 100.0;
        QList<QStandardItem *> row = {
            item(v.name, order++, false),
            item(QString::fromStdString(cw::recipeSummary(v.recipe)), QString::fromStdString(cw::recipeSummary(v.recipe)), false),
            item(formatBytes(int64_t(v.result->bytes)), qulonglong(v.result->bytes), true),
            item(locale.toString(bpw, 'f', 3), bpw, true),
            item(locale.toString(v.perplexity.perplexity, 'f', 3), v.perplexity.perplexity, true),
            item(signedPercent(delta), delta, true),
            item(locale.toString(v.speed.promptTokensPerSecond, 'f', 0), v.speed.promptTokensPerSecond, true),
            item(locale.toString(v.speed.generationTokensPerSecond, 'f', 1), v.speed.generationTokensPerSecond, true),
        };
        row[NameColumn]->setToolTip(tr("Evaluated on %1").arg(v.evaluation));
        row[RecipeColumn]->setToolTip(QString::fromStdString(cw::recipeToJson(v.recipe)));
        m_variantModel->appendRow(row);
    }
    m_variantTable->resizeColumnsToContents();
    // The numbers stay in view; the recipe's summary takes what is left (elided, whole in its tooltip).
    m_variantTable->horizontalHeader()->setSectionResizeMode(RecipeColumn, QHeaderView::Stretch);
    showChart();
    updateControls();
}

void LmCompressView::showLossChart()
{
    m_lossChart->clearGraphs();
    m_lossChart->clearItems();
    const int selected = selectedVariant();
    const Variant *v = selected >= 0 ? &m_variants[size_t(selected)] : m_variants.empty() ? nullptr : &m_variants.back();
    const auto &f = v ? v->result->finetune : std::nullopt;
    // While a job fine-tunes: its loss so far, on the axis of all its steps.
    const bool live = isRunning() && !m_liveLoss.empty();
    const std::vector<double> &loss = live ? m_liveLoss : f ? f->loss : m_liveLoss;
    if (!live && (!f || f->loss.empty())) {
        m_lossChart->xAxis->setRange(0, 1);
        m_lossChart->yAxis->setRange(0, 1);
        auto *empty = new QCPItemText(m_lossChart);
        empty->position->setType(QCPItemPosition::ptAxisRectRatio);
        empty->position->setCoords(0.5, 0.5);
        empty->setText(v ? tr("'%1' was not fine-tuned").arg(v->name)
                         : tr("A variant fine-tuned by its recipe shows its training loss here"));
        empty->setColor(Qt::gray);
        m_lossChart->replot(QCustomPlot::rpQueuedReplot);
        return;
    }
    QCPGraph *g = m_lossChart->addGraph();
    g->setName(live ? m_liveName : v->name);
    g->setPen(QPen(QColor(31, 119, 180), 1.5));
    QVector<double> x, y;
    for (size_t i = 0; i < loss.size(); ++i) {
        x << double(i + 1);
        y << loss[i];
    }
    g->setData(x, y, true);
    auto *title = new QCPItemText(m_lossChart);
    title->position->setType(QCPItemPosition::ptAxisRectRatio);
    title->position->setCoords(0.98, 0.04);
    title->setPositionAlignment(Qt::AlignRight | Qt::AlignTop);
    // The variant's name on its own line, shortened to the plot's width, and what the loss is below it.
    const QString name = live ? (m_liveName.isEmpty() ? tr("the recipe") : m_liveName) : v->name;
    const int width = m_lossChart->axisRect()->width();
    title->setText(QFontMetrics(title->font()).elidedText(name, Qt::ElideMiddle, width > 0 ? width - 8 : 1 << 20) +
                   QLatin1Char('\n') +
                   (live ? tr("training: step %1 of %2").arg(loss.size()).arg(m_liveSteps)
                         : f->distilled ? tr("distillation from the base") : tr("cross-entropy")));
    title->setTextAlignment(Qt::AlignRight);
    const auto [lo, hi] = std::minmax_element(loss.begin(), loss.end());
    const double pad = std::max(0.05 * (*hi - *lo), 1e-3);
    m_lossChart->yAxis->setRange(*lo - pad, *hi + 6 * pad); // room for the title's two lines above the curve
    m_lossChart->xAxis->setRange(0, double(live ? m_liveSteps : int64_t(loss.size())) + 1);
    m_lossChart->replot(QCustomPlot::rpQueuedReplot);
}

void LmCompressView::showChart()
{
    showLossChart();
    m_chart->clearGraphs();
    m_chart->clearItems();
    struct Point {
        double bpw, perplexity;
        QString name;
        bool base;
        int variant;
    };
    std::vector<Point> points;
    if (m_shownBase && m_model) {
        const cw::lm::Config &c = m_model->config();
        points.push_back({double(c.storedBytes) * 8.0 / double(std::max<int64_t>(1, c.parameters)),
                          m_shownBase->perplexity.perplexity, tr("base"), true, -1});
    }
    for (size_t i = 0; i < m_variants.size(); ++i)
        points.push_back({m_variants[i].result->bitsPerWeight(), m_variants[i].perplexity.perplexity, m_variants[i].name,
                          false, int(i)});
    if (points.empty()) {
        m_chart->legend->setVisible(false);
        m_chart->xAxis->setRange(0, 32);
        m_chart->yAxis->setRange(0, 10);
        auto *empty = new QCPItemText(m_chart);
        empty->position->setType(QCPItemPosition::ptAxisRectRatio);
        empty->position->setCoords(0.5, 0.5);
        empty->setText(tr("Run a recipe: each variant is a point here"));
        empty->setColor(Qt::gray);
        m_chart->replot(QCustomPlot::rpQueuedReplot);
        return;
    }
    // Pareto: no other point is both at most as many bits and at most as perplexed (and better in one).
    std::vector<bool> pareto(points.size(), true);
    for (size_t i = 0; i < points.size(); ++i)
        for (size_t j = 0; j < points.size(); ++j)
            if (i != j && points[j].bpw <= points[i].bpw && points[j].perplexity <= points[i].perplexity &&
                (points[j].bpw < points[i].bpw || points[j].perplexity < points[i].perplexity))
                pareto[i] = false;
    std::vector<const Point *> frontier;
    for (size_t i = 0; i < points.size(); ++i)
        if (pareto[i])
            frontier.push_back(&points[i]);
    std::sort(frontier.begin(), frontier.end(), [](const Point *a, const Point *b) { return a->bpw < b->bpw; });
    if (frontier.size() > 1) {
        QCPGraph *line = m_chart->addGraph();
        line->setName(tr("Pareto frontier"));
        line->setPen(QPen(QColor(0x15, 0x65, 0xc0), 1.5, Qt::DashLine));
        for (const Point *p : frontier)
            line->addData(p->bpw, p->perplexity);
    }
    QCPGraph *variants = nullptr, *base = nullptr;
    for (const Point &p : points) {
        if (p.base) {
            base = m_chart->addGraph();
            base->setName(tr("base"));
            base->setLineStyle(QCPGraph::lsNone);
            QCPScatterStyle style(QCPScatterStyle::ssDiamond, 12);
            style.setPen(QPen(Qt::darkGray, 1.5));
            style.setBrush(QColor(0xbd, 0xbd, 0xbd));
            base->setScatterStyle(style);
            base->addData(p.bpw, p.perplexity);
            continue;
        }
        if (!variants) {
            variants = m_chart->addGraph();
            variants->setName(tr("variant"));
            variants->setLineStyle(QCPGraph::lsNone);
            QCPScatterStyle style(QCPScatterStyle::ssDisc, 9);
            style.setPen(QPen(QColor(70, 130, 180).darker(130)));
            style.setBrush(QColor(70, 130, 180));
            variants->setScatterStyle(style);
        }
        variants->addData(p.bpw, p.perplexity);
    }
    const int selected = selectedVariant();
    if (selected >= 0) {
        QCPGraph *ring = m_chart->addGraph();
        ring->setName(tr("selected"));
        ring->setLineStyle(QCPGraph::lsNone);
        QCPScatterStyle style(QCPScatterStyle::ssCircle, 18);
        style.setPen(QPen(Qt::black, 2));
        ring->setScatterStyle(style);
        ring->addData(m_variants[size_t(selected)].result->bitsPerWeight(), m_variants[size_t(selected)].perplexity.perplexity);
        ring->removeFromLegend();
    }
    m_chart->rescaleAxes();
    const QCPRange x = m_chart->xAxis->range(), y = m_chart->yAxis->range();
    const double dx = std::max(x.size() * 0.12, std::max(0.25, std::fabs(x.upper) * 0.05));
    const double dy = std::max(y.size() * 0.2, std::max(0.01, std::fabs(y.upper) * 0.01));
    m_chart->xAxis->setRange(std::max(0.0, x.lower - dx), x.upper + dx);
    m_chart->yAxis->setRange(y.lower - dy, y.upper + 1.5 * dy);
    // Names beside the base and the Pareto points, alternating above and below when points crowd.
    QFont labelFont = font();
    labelFont.setPointSizeF(labelFont.pointSizeF() * 0.85);
    int n = 0;
    for (size_t i = 0; i < points.size(); ++i) {
        if (!pareto[i] && !points[i].base)
            continue;
        auto *text = new QCPItemText(m_chart);
        text->position->setCoords(points[i].bpw, points[i].perplexity);
        text->setText(points[i].name);
        text->setFont(labelFont);
        text->setClipToAxisRect(false);
        const bool above = n++ % 2 == 0;
        const bool rightSide = points[i].bpw > x.center();
        text->setPositionAlignment((rightSide ? Qt::AlignRight : Qt::AlignLeft) | (above ? Qt::AlignBottom : Qt::AlignTop));
        text->setPadding(QMargins(rightSide ? 0 : 8, above ? 0 : 6, rightSide ? 8 : 0, above ? 6 : 0));
    }
    m_chart->legend->setVisible(true);
    m_chart->replot(QCustomPlot::rpQueuedReplot);
}

void LmCompressView::updateControls()
{
    const bool busy = isRunning();
    const QString why = whyNot();
    m_run->setEnabled(!busy && why.isEmpty());
    m_run->setToolTip(why.isEmpty() ? tr("Compress a copy of the model with this recipe and measure it") : why);
    m_cancel->setEnabled(busy);
    m_cluster->setEnabled(m_model != nullptr);
    const bool variant = selectedVariant() >= 0;
    m_export->setEnabled(variant && !isExporting());
    m_saveVariantRecipe->setEnabled(variant);
}

// ---------------------------------------------------------------------------------------------------
// Export

bool LmCompressView::isExporting() const
{
    return m_exportJob != nullptr;
}

bool LmCompressView::exportVariant(int index, const QString &path)
{
    if (m_exportJob || index < 0 || index >= int(m_variants.size()))
        return false;
    const Variant &v = m_variants[size_t(index)];
    // The encoded tensors, shared with the variant (no copy).
    std::shared_ptr<const EncodedTensors> encoded(v.result, &v.result->encoded);
    auto *job = new ExportGgufJob(v.model, path, encoded, this);
    m_exportJob = job;
    const QString name = v.name;
    connect(job, &ExportGgufJob::succeeded, this, [this, name](const QString &written) {
        setStatus(tr("Exported %1 to %2.").arg(name, QDir::toNativeSeparators(written)));
        emit exportFinished(true, written);
    });
    connect(job, &Job::failed, this, [this](const QString &error) {
        setStatus(tr("Export failed: %1").arg(error));
        emit exportFinished(false, error);
    });
    connect(job, &Job::finished, this, [this, job]() {
        job->deleteLater();
        m_exportJob = nullptr;
        updateControls();
    });
    job->start();
    setStatus(tr("Exporting %1…").arg(name));
    updateControls();
    return true;
}

void LmCompressView::chooseAndExport()
{
    const int index = selectedVariant();
    if (index < 0)
        return;
    QString dir = QSettings().value(QLatin1String(kExportDirKey)).toString();
    if (dir.isEmpty() || !QFileInfo(dir).isDir())
        dir = QDir::homePath();
    QString base = m_variants[size_t(index)].name;
    base.replace(QRegularExpression(QStringLiteral("[^A-Za-z0-9_.-]+")), QStringLiteral("-"));
    const QString path = QFileDialog::getSaveFileName(this, tr("Export Variant"), QDir(dir).filePath(base + QStringLiteral(".gguf")),
                                                      tr("GGUF checkpoints (*.gguf)"));
    if (path.isEmpty())
        return;
    QSettings().setValue(QLatin1String(kExportDirKey), QFileInfo(path).absolutePath());
    exportVariant(index, path);
}

void LmCompressView::saveSelectedRecipe()
{
    const int index = selectedVariant();
    if (index < 0)
        return;
    const Variant &v = m_variants[size_t(index)];
    const QString last = QSettings().value(QLatin1String(kRecipePathKey)).toString();
    const QString dir = last.isEmpty() ? QDir::homePath() : QFileInfo(last).absolutePath();
    QString base = v.name;
    base.replace(QRegularExpression(QStringLiteral("[^A-Za-z0-9_.-]+")), QStringLiteral("-"));
    const QString path = QFileDialog::getSaveFileName(this, tr("Save Variant Recipe"),
                                                      QDir(dir).filePath(base + QStringLiteral(".json")), tr("Recipes (*.json)"));
    if (path.isEmpty())
        return;
    try {
        cw::saveRecipe(v.recipe, path.toStdString());
    } catch (const std::exception &e) {
        setStatus(tr("Could not save the recipe: %1").arg(QString::fromUtf8(e.what())));
        return;
    }
    QSettings().setValue(QLatin1String(kRecipePathKey), QFileInfo(path).absoluteFilePath());
    setStatus(tr("Saved the recipe of %1 to %2.").arg(v.name, QFileInfo(path).fileName()));
}

} // namespace cw::ui
