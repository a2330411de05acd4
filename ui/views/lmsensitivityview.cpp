#include "ui/views/lmsensitivityview.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QRegularExpression>
#include <QPushButton>
#include <QSettings>
#include <QSignalBlocker>
#include <QSortFilterProxyModel>
#include <QSpinBox>
#include <QSplitter>
#include <QStandardItemModel>
#include <QTableView>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/quant/ggml_blocks.h"
#include "ui/charts/chartexport.h"
#include "ui/charts/heatmap.h"
#include "ui/formatting.h"
#include "ui/rowtable.h"
#include "ui/views/lmtextcombo.h"

namespace cw::ui {

namespace {
const char kTextKey[] = "lmSensitivity/text";
const char kChunksKey[] = "lmSensitivity/chunks";
const char kBitsKey[] = "lmSensitivity/bits";
const char kGranularityKey[] = "lmSensitivity/granularity";
const char kPruneKey[] = "lmSensitivity/prune";
const char kFormatsKey[] = "lmSensitivity/formats";
const char kBlocksKey[] = "lmSensitivity/blocks";
const char kTargetKey[] = "lmSensitivity/targetBpw";
const char kTargetMiBKey[] = "lmSensitivity/targetMiB";
const char kTargetUnitKey[] = "lmSensitivity/targetUnit";
const char kLockKey[] = "lmSensitivity/lock";
constexpr int kSortRole = Qt::UserRole + 1;
constexpr int64_t kGroupSize = 32;

// "0.5, 0.7" or "50%, 70%": fractions in (0, 1).
bool parseRatios(const QString &text, std::vector<double> &out, QString &error)
{
    out.clear();
    for (QString part : text.split(QRegularExpression(QStringLiteral("[,;\\s]+")), Qt::SkipEmptyParts)) {
        const bool percent = part.endsWith(QLatin1Char('%'));
        if (percent)
            part.chop(1);
        bool ok = false;
        double r = part.toDouble(&ok);
        if (percent)
            r /= 100;
        if (!ok || !(r > 0 && r < 1)) {
            error = QObject::tr("A pruning ratio is a fraction between 0 and 1 (0.5 or 50%), not '%1'").arg(part);
            return false;
        }
        out.push_back(r);
    }
    return true;
}

// "q6_k, Q4_K" -> {"q6_k", "q4_k"}: llama.cpp's format names, each checked.
bool parseFormats(const QString &text, std::vector<std::string> &out, QString &error)
{
    out.clear();
    for (const QString &part : text.split(QRegularExpression(QStringLiteral("[,;\\s]+")), Qt::SkipEmptyParts)) {
        const std::string name = part.toLower().toStdString();
        try {
            cw::ggml::typeFromName(name);
        } catch (const std::exception &) {
            error = QObject::tr("'%1' is not a llama.cpp format (q8_0, q6_k, q5_k, q4_k, q4_0, q3_k, q2_k, …)").arg(part);
            return false;
        }
        out.push_back(name);
    }
    return true;
}

// Whether a sweep tried formats (what a mix chooses among).
bool hasFormats(const cw::lm::SensitivityResult &r)
{
    return std::any_of(r.rows.begin(), r.rows.end(), [](const cw::lm::SensitivityRow &row) {
        try {
            cw::ggml::typeFromName(row.setting);
            return true;
        } catch (const std::exception &) {
            return false;
        }
    });
}

// "blk 3 · attn_q" for blk.3.attn_q.weight.
QString rowLabel(const cw::lm::SensitivityRow &row)
{
    QString role = QString::fromStdString(row.role);
    if (role.endsWith(QLatin1String(".weight")))
        role.chop(7);
    if (role == QLatin1String("block"))
        role = QObject::tr("whole block");
    return row.block >= 0 ? QObject::tr("blk %1 · %2").arg(row.block).arg(role) : QString::fromStdString(row.tensor);
}

// "+1.2", "-0.4"; "0.0" for what rounds to zero either way.
QString signedNumber(double value, int decimals)
{
    if (std::fabs(value) < 0.5 * std::pow(10.0, -decimals))
        return displayLocale().toString(0.0, 'f', decimals);
    return (value > 0 ? QStringLiteral("+") : QString()) + displayLocale().toString(value, 'f', decimals);
}
} // namespace

LmSensitivityView::LmSensitivityView(QWidget *parent) : LmJobView(parent)
{
    setObjectName(QStringLiteral("lmSensitivityView"));
    buildUi();
    QSettings s;
    m_loading = true;
    m_chunksSpin->setValue(s.value(QLatin1String(kChunksKey), 16).toInt());
    std::vector<int> bits;
    for (const QVariant &b : s.value(QLatin1String(kBitsKey), QVariantList{4, 2}).toList())
        bits.push_back(b.toInt());
    setBits(bits);
    m_granularity->setCurrentIndex(std::max(0, m_granularity->findData(s.value(QLatin1String(kGranularityKey),
                                                                               int(cw::Granularity::Group)))));
    m_pruneEdit->setText(s.value(QLatin1String(kPruneKey)).toString());
    m_formatsEdit->setText(s.value(QLatin1String(kFormatsKey)).toString());
    m_blocksBox->setChecked(s.value(QLatin1String(kBlocksKey), false).toBool());
    m_targetBpw = s.value(QLatin1String(kTargetKey), 4.5).toDouble();
    m_targetMiB = s.value(QLatin1String(kTargetMiBKey), 0.0).toDouble();
    m_targetUnit->setCurrentIndex(s.value(QLatin1String(kTargetUnitKey), 0).toInt() == 1 ? 1 : 0);
    applyTargetUnit();
    m_lockEdit->setText(s.value(QLatin1String(kLockKey)).toString());
    m_loading = false;
    clearResult();
    updateControls();
}

void LmSensitivityView::buildUi()
{
    m_textCombo = new LmTextCombo(QLatin1String(kTextKey));
    m_chunksSpin = new QSpinBox;
    m_chunksSpin->setObjectName(QStringLiteral("lmSensitivityChunks"));
    m_chunksSpin->setRange(1, 100000);
    m_chunksSpin->setToolTip(tr("Chunks of the text (the model's context each) measured per trial: more is steadier "
                                "and slower"));
    connect(m_chunksSpin, &QSpinBox::valueChanged, this, [this]() { writeSettings(); });
    auto *bitsRow = new QHBoxLayout;
    bitsRow->setSpacing(8);
    for (int b : kBitChoices) {
        auto *box = new QCheckBox(tr("%1").arg(b));
        box->setObjectName(QStringLiteral("lmSensitivityBits%1").arg(b));
        box->setToolTip(tr("Quantize each matrix alone to %1 bits (round to nearest, symmetric)").arg(b));
        connect(box, &QCheckBox::toggled, this, [this]() { writeSettings(); });
        bitsRow->addWidget(box);
        m_bitBoxes.push_back(box);
    }
    bitsRow->addStretch(1);
    m_granularity = new QComboBox;
    m_granularity->setObjectName(QStringLiteral("lmSensitivityGranularity"));
    m_granularity->addItem(tr("per tensor"), int(cw::Granularity::Tensor));
    m_granularity->addItem(tr("per row"), int(cw::Granularity::Channel));
    m_granularity->addItem(tr("per group of %1").arg(kGroupSize), int(cw::Granularity::Group));
    m_granularity->setToolTip(tr("One scale for the whole matrix, one per row (output channel), or one per %1 weights "
                                 "along a row").arg(kGroupSize));
    connect(m_granularity, &QComboBox::currentIndexChanged, this, [this]() { writeSettings(); });
    m_pruneEdit = new QLineEdit;
    m_pruneEdit->setObjectName(QStringLiteral("lmSensitivityPrune"));
    m_pruneEdit->setPlaceholderText(tr("none"));
    m_pruneEdit->setToolTip(tr("Magnitude-pruning ratios to try, comma-separated (0.5 or 50%: the smallest half of "
                               "the matrix's weights set to zero)"));
    connect(m_pruneEdit, &QLineEdit::textChanged, this, [this]() { writeSettings(); });
    m_formatsEdit = new QLineEdit;
    m_formatsEdit->setObjectName(QStringLiteral("lmSensitivityFormats"));
    m_formatsEdit->setPlaceholderText(tr("none"));
    m_formatsEdit->setMinimumWidth(m_formatsEdit->fontMetrics().horizontalAdvance(QStringLiteral("q8_0, q6_k, q5_k, q4_k, q3_k, q2_k")) + 16);
    m_formatsEdit->setToolTip(tr("llama.cpp formats to store each matrix in, comma-separated (q8_0, q6_k, q5_k, q4_k, "
                                 "q3_k, q2_k, …): a sweep over formats can be mixed to a bit budget"));
    connect(m_formatsEdit, &QLineEdit::textChanged, this, [this]() { writeSettings(); });
    m_blocksBox = new QCheckBox(tr("whole blocks too"));
    m_blocksBox->setObjectName(QStringLiteral("lmSensitivityBlocks"));
    m_blocksBox->setToolTip(tr("Also each block with all its matrices changed together at each setting (rows "
                               "\"blk N · whole block\"): what the matrices alone do not add up to"));
    connect(m_blocksBox, &QCheckBox::toggled, this, [this]() {
        writeSettings();
        updateControls();
    });

    // The mix of a sweep's formats to a bit budget.
    m_target = new QDoubleSpinBox;
    m_target->setObjectName(QStringLiteral("lmSensitivityTarget"));
    m_target->setToolTip(tr("The budget over the matrices swept: each gets one of the formats tried, the matrices that "
                            "cost least perplexity per byte saved stepping down first"));
    connect(m_target, &QDoubleSpinBox::valueChanged, this, [this](double value) {
        (m_targetUnit->currentData().toInt() == 1 ? m_targetMiB : m_targetBpw) = value;
        writeSettings();
        updateAllocation();
    });
    m_targetUnit = new QComboBox;
    m_targetUnit->setObjectName(QStringLiteral("lmSensitivityTargetUnit"));
    m_targetUnit->addItem(tr("bits per weight"), 0);
    m_targetUnit->addItem(tr("MiB file"), 1);
    m_targetUnit->setToolTip(tr("The budget in bits per weight over the matrices swept, or as the size of the GGUF file "
                                "the mix exports (the rest of the file taken off first; a GGUF checkpoint)"));
    connect(m_targetUnit, &QComboBox::currentIndexChanged, this, [this]() {
        applyTargetUnit();
        writeSettings();
        updateAllocation();
    });
    m_lockEdit = new QLineEdit;
    m_lockEdit->setObjectName(QStringLiteral("lmSensitivityLock"));
    m_lockEdit->setPlaceholderText(tr("none, e.g. blk.0.*, *attn_v*"));
    m_lockEdit->setToolTip(tr("Matrices kept at their largest format tried: names or patterns (* and ?), "
                              "comma-separated"));
    connect(m_lockEdit, &QLineEdit::textChanged, this, [this]() {
        writeSettings();
        updateAllocation();
    });
    m_allocationLabel = new QLabel;
    m_allocationLabel->setObjectName(QStringLiteral("lmSensitivityAllocation"));
    m_allocationLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_use = new QPushButton(tr("Compress with This Mix"));
    m_use->setObjectName(QStringLiteral("lmSensitivityUse"));
    m_use->setToolTip(tr("Open the mix as a recipe in the Compress tab (each matrix in its format)"));
    connect(m_use, &QPushButton::clicked, this, [this]() { useAllocation(); });

    const RunControls run = newRunControls(QStringLiteral("lmSensitivity"), tr("Run"),
                                           tr("Stop after the measurement under way; the weights are restored (Esc)"),
                                           [this]() { this->run(); });
    m_run = run.run;
    m_cancel = run.cancel;
    m_progress = run.progress;
    m_cluster = new QPushButton(tr("Run on Cluster…"));
    m_cluster->setObjectName(QStringLiteral("lmSensitivityCluster"));
    connect(m_cluster, &QPushButton::clicked, this, &LmSensitivityView::clusterRequested);
    run.row->addWidget(m_cluster);

    auto *controls = new QGridLayout;
    controls->addWidget(new QLabel(tr("Text")), 0, 0);
    controls->addWidget(m_textCombo, 0, 1);
    controls->addWidget(new QLabel(tr("Chunks per trial")), 0, 2);
    controls->addWidget(m_chunksSpin, 0, 3);
    controls->addWidget(new QLabel(tr("Formats")), 0, 4);
    controls->addWidget(m_formatsEdit, 0, 5);
    controls->addWidget(new QLabel(tr("Bits")), 1, 0);
    controls->addLayout(bitsRow, 1, 1);
    controls->addWidget(new QLabel(tr("Scale")), 1, 2);
    controls->addWidget(m_granularity, 1, 3);
    controls->addWidget(new QLabel(tr("Prune")), 1, 4);
    controls->addWidget(m_pruneEdit, 1, 5);
    controls->addWidget(m_blocksBox, 1, 6);
    controls->addLayout(run.row, 2, 0, 1, 7);
    controls->setColumnStretch(7, 1);

    m_base = new QLabel;
    m_base->setObjectName(QStringLiteral("lmSensitivityBase"));
    m_base->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto *mix = new QHBoxLayout;
    mix->addWidget(new QLabel(tr("Mix the formats to")));
    mix->addWidget(m_target);
    mix->addWidget(m_targetUnit);
    mix->addWidget(new QLabel(tr("keeping")));
    mix->addWidget(m_lockEdit);
    mix->addWidget(new QLabel(tr("at their largest")));
    mix->addWidget(m_allocationLabel, 1);
    mix->addWidget(m_use);

    m_heat = new QCustomPlot;
    m_heat->setObjectName(QStringLiteral("lmSensitivityHeatmap"));
    enableChartExport(m_heat, QStringLiteral("lm-sensitivity-heatmap"));
    m_heat->setMinimumSize(360, 220);
    const Heatmap heatmap = setUpHeatmap(m_heat, tr("Perplexity change per tensor and setting"),
                                         tr("perplexity change (%)"));
    m_map = heatmap.map;
    m_heat->xAxis->setLabel(tr("setting"));

    m_tableModel = new QStandardItemModel(this);
    auto *proxy = new QSortFilterProxyModel(this);
    proxy->setSourceModel(m_tableModel);
    proxy->setSortRole(kSortRole);
    m_table = newRowTable(QStringLiteral("lmSensitivityTable"), proxy);
    m_table->setSortingEnabled(true);
    m_table->sortByColumn(-1, Qt::AscendingOrder);
    m_table->setAlternatingRowColors(true);
    m_table->verticalHeader()->setDefaultSectionSize(m_table->fontMetrics().height() + 6);
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);

    auto *split = new QSplitter(Qt::Horizontal);
    split->addWidget(m_heat);
    split->addWidget(m_table);
    // The table's eight columns want more room than a few settings' columns.
    split->setStretchFactor(0, 2);
    split->setStretchFactor(1, 3);
    split->setSizes({400, 600});
    split->setChildrenCollapsible(false);

    QLabel *intro = newIntro(tr("Each weight matrix of the blocks alone quantized or pruned, the rest unchanged, and the "
                                "perplexity of the first chunks of the text against the unchanged model: the tensors "
                                "to keep at higher precision."));

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(8, 8, 8, 8);
    layout->addWidget(intro);
    layout->addLayout(controls);
    layout->addWidget(m_base);
    layout->addLayout(mix);
    layout->addWidget(split, 1);
}

void LmSensitivityView::setTextSpec(const QString &spec)
{
    m_textCombo->setTextSpec(spec);
}

QString LmSensitivityView::textSpec() const
{
    return m_textCombo->textSpec();
}

void LmSensitivityView::setChunks(int chunks)
{
    m_chunksSpin->setValue(chunks);
}

int LmSensitivityView::chunks() const
{
    return m_chunksSpin->value();
}

void LmSensitivityView::setBits(const std::vector<int> &bits)
{
    for (size_t i = 0; i < m_bitBoxes.size(); ++i)
        m_bitBoxes[i]->setChecked(std::find(bits.begin(), bits.end(), kBitChoices[i]) != bits.end());
}

std::vector<int> LmSensitivityView::bits() const
{
    std::vector<int> out;
    for (size_t i = 0; i < m_bitBoxes.size(); ++i)
        if (m_bitBoxes[i]->isChecked())
            out.push_back(kBitChoices[i]);
    return out;
}

void LmSensitivityView::setGranularity(cw::Granularity granularity)
{
    m_granularity->setCurrentIndex(m_granularity->findData(int(granularity)));
}

cw::Granularity LmSensitivityView::granularity() const
{
    return cw::Granularity(m_granularity->currentData().toInt());
}

void LmSensitivityView::setPruneText(const QString &text)
{
    m_pruneEdit->setText(text);
}

void LmSensitivityView::setFormatsText(const QString &text)
{
    m_formatsEdit->setText(text);
}

void LmSensitivityView::setTargetBitsPerWeight(double bitsPerWeight)
{
    m_targetUnit->setCurrentIndex(0);
    m_target->setValue(bitsPerWeight);
}

void LmSensitivityView::setTargetFileMiB(double mebibytes)
{
    m_targetUnit->setCurrentIndex(1);
    m_target->setValue(mebibytes);
}

void LmSensitivityView::applyTargetUnit()
{
    const bool file = m_targetUnit->currentData().toInt() == 1;
    const QSignalBlocker block(m_target);
    m_target->setDecimals(file ? 3 : 2);
    m_target->setRange(file ? 0.001 : 1.0, file ? 1e6 : 32.0);
    m_target->setSingleStep(file ? 0.1 : 0.25);
    m_target->setValue(file ? m_targetMiB : m_targetBpw);
}

void LmSensitivityView::setLockText(const QString &patterns)
{
    m_lockEdit->setText(patterns);
}

bool LmSensitivityView::options(cw::lm::SensitivityOptions &out, QString &error) const
{
    out = {};
    out.bits = bits();
    out.granularity = granularity();
    out.groupSize = kGroupSize;
    if (!parseRatios(m_pruneEdit->text(), out.prune, error) || !parseFormats(m_formatsEdit->text(), out.formats, error))
        return false;
    if (out.bits.empty() && out.prune.empty() && out.formats.empty()) {
        error = tr("Choose a bit-width, a pruning ratio or a format to try.");
        return false;
    }
    out.blocks = m_blocksBox->isChecked();
    out.perplexity.ctx = 0; // the model's default
    out.perplexity.chunks = m_chunksSpin->value();
    return true;
}

void LmSensitivityView::writeSettings()
{
    if (m_loading)
        return;
    QSettings s;
    s.setValue(QLatin1String(kChunksKey), m_chunksSpin->value());
    QVariantList bitList;
    for (int b : bits())
        bitList << b;
    s.setValue(QLatin1String(kBitsKey), bitList);
    s.setValue(QLatin1String(kGranularityKey), m_granularity->currentData());
    s.setValue(QLatin1String(kPruneKey), m_pruneEdit->text());
    s.setValue(QLatin1String(kFormatsKey), m_formatsEdit->text());
    s.setValue(QLatin1String(kBlocksKey), m_blocksBox->isChecked());
    s.setValue(QLatin1String(kTargetKey), m_targetBpw);
    s.setValue(QLatin1String(kTargetMiBKey), m_targetMiB);
    s.setValue(QLatin1String(kTargetUnitKey), m_targetUnit->currentData().toInt());
    s.setValue(QLatin1String(kLockKey), m_lockEdit->text());
}

void LmSensitivityView::setModel(LanguageModelPtr model)
{
    detachJob();
    m_model = std::move(model);
    clearResult();
    setStatus(QString());
    updateControls();
}

bool LmSensitivityView::run()
{
    const QString spec = textSpec();
    if (!mayStartOnText(spec))
        return false;
    LmSensitivityParams params;
    QString error;
    if (!options(params.options, error)) {
        setStatus(error);
        return false;
    }
    params.model = m_model;
    params.textSpec = spec.toStdString();
    auto *job = new LmSensitivityJob(std::move(params), this);
    clearResult();
    const QString text = LmTextCombo::displayName(spec);
    connect(job, &LmSensitivityJob::succeeded, this, [this, job, text, spec]() {
        m_result = *job->result();
        m_resultText = spec;
        showResult(*m_result);
        emit resultChanged();
        setStatus(tr("%1: %2 trials of %3 scored tokens each.")
                      .arg(text, formatCount(int64_t(m_result->result.rows.size())), formatCount(m_result->result.scored)));
    });
    runTextJob(job, m_progress, tr("Cancelled; the weights are as they were, nothing is kept of the trials done."),
               [job]() { return job->result().has_value(); });
    return true;
}

void LmSensitivityView::cancel()
{
    cancelJob();
}

std::optional<cw::cluster::SweepPlan> LmSensitivityView::clusterPlan()
{
    if (!m_model) {
        setStatus(tr("Open a language model first."));
        return std::nullopt;
    }
    const QString spec = textSpec();
    cw::lm::SensitivityOptions o;
    QString error;
    if (spec.isEmpty() || !options(o, error)) {
        setStatus(spec.isEmpty() ? tr("Choose a text to measure on.") : error);
        return std::nullopt;
    }
    try {
        const std::string model = m_model->path(), text = spec.toStdString();
        return cw::cluster::lmSensitivityPlan(cw::cluster::lmSensitivityCommand(model, text, o), model, *m_model, text,
                                              o.tensors, QDir::currentPath().toStdString());
    } catch (const std::exception &e) {
        setStatus(tr("Cannot plan this sweep for a cluster: %1").arg(QString::fromUtf8(e.what())));
        return std::nullopt;
    }
}

void LmSensitivityView::setResult(const cw::lm::SensitivityResult &result, const QString &textSpec)
{
    detachJob();
    LmSensitivityOutcome outcome;
    outcome.result = result;
    outcome.ctx = result.ctx;
    m_result = outcome;
    m_resultText = textSpec;
    showResult(*m_result);
    updateControls();
    emit resultChanged();
}

void LmSensitivityView::showImported(const cw::lm::SensitivityResult &result, const QString &textSpec)
{
    setResult(result, textSpec);
    setStatus(tr("Imported from a cluster: %1 trials on %2, %3 scored tokens each.")
                  .arg(formatCount(int64_t(result.rows.size())), LmTextCombo::displayName(textSpec),
                       formatCount(result.scored)));
}

void LmSensitivityView::restoreResult(const cw::lm::SensitivityResult &result, const QString &textSpec)
{
    setResult(result, textSpec);
    setStatus(tr("From the project: %1 trials on %2.")
                  .arg(formatCount(int64_t(result.rows.size())), LmTextCombo::displayName(textSpec)));
}

void LmSensitivityView::updateAllocation()
{
    for (QCPItemRect *mark : m_marks)
        m_heat->removeItem(mark);
    m_marks.clear();
    m_allocation.reset();
    if (!m_result || !m_formatsSwept || !m_model) {
        m_allocationLabel->setText(tr("<i>sweep with formats to mix them</i>"));
        updateControls();
        return;
    }
    std::set<std::string> locked;
    for (const QString &pattern : m_lockEdit->text().split(QRegularExpression(QStringLiteral("[,;\\s]+")),
                                                           Qt::SkipEmptyParts)) {
        const QRegularExpression re = QRegularExpression::fromWildcard(pattern, Qt::CaseSensitive);
        for (const QString &t : m_tensors)
            if (re.match(t).hasMatch())
                locked.insert(t.toStdString());
    }
    try {
        const double bitsPerWeight =
            m_targetUnit->currentData().toInt() == 1
                ? cw::lm::bitsPerWeightForFileSize(m_result->result, *m_model, uint64_t(m_target->value() * 1048576.0))
                : m_target->value();
        m_allocation = cw::lm::allocateFormats(m_result->result, *m_model, bitsPerWeight, locked);
    } catch (const std::exception &e) {
        m_allocationLabel->setText(QString::fromUtf8(e.what()).toHtmlEscaped());
        updateControls();
        return;
    }
    const double base = m_result->result.basePerplexity;
    m_allocationLabel->setText(tr("<b>%1</b> bits per weight over %2 matrices%3 · predicted perplexity <b>%4</b> (%5 %)")
                                   .arg(displayLocale().toString(m_allocation->bitsPerWeight, 'f', 3))
                                   .arg(m_allocation->choices.size())
                                   .arg(locked.empty() ? QString() : tr(", %n kept", nullptr, int(locked.size())))
                                   .arg(signedNumber(m_allocation->predictedDelta, 3))
                                   .arg(signedNumber(m_allocation->predictedDelta / base * 100, 2)));
    // The chosen cells outlined.
    for (const cw::lm::FormatChoice &c : m_allocation->choices) {
        const qsizetype x = m_settings.indexOf(QString::fromStdString(c.format));
        const qsizetype y = m_tensors.indexOf(QString::fromStdString(c.tensor));
        if (x < 0 || y < 0)
            continue;
        auto *mark = new QCPItemRect(m_heat);
        mark->topLeft->setCoords(double(x) - 0.46, double(y) + 0.46);
        mark->bottomRight->setCoords(double(x) + 0.46, double(y) - 0.46);
        mark->setPen(QPen(QColor(20, 110, 220), 2.5));
        mark->setBrush(Qt::NoBrush);
        mark->setSelectable(false);
        m_marks.push_back(mark);
    }
    m_heat->replot(QCustomPlot::rpQueuedReplot);
    updateControls();
}

bool LmSensitivityView::useAllocation()
{
    if (!m_allocation) {
        setStatus(tr("No mix to use: sweep with formats, then set a reachable target."));
        return false;
    }
    const cw::Recipe recipe = cw::lm::recipeFromAllocation(*m_allocation);
    setStatus(tr("The mix '%1' is in the Compress tab.").arg(QString::fromStdString(recipe.name)));
    emit recipeMade(recipe);
    return true;
}

QString LmSensitivityView::basePerplexityText() const
{
    return m_result ? displayLocale().toString(m_result->result.basePerplexity, 'f', 3) : QString();
}

void LmSensitivityView::updateControls()
{
    const bool busy = isRunning();
    const QString why = whyNot();
    m_run->setEnabled(!busy && why.isEmpty());
    m_run->setToolTip(why.isEmpty() ? tr("Measure each matrix's sensitivity") : why);
    m_cancel->setEnabled(busy);
    // A plan's shards test one matrix at a time: whole blocks are measured here.
    m_cluster->setEnabled(!busy && m_model && !m_blocksBox->isChecked());
    m_cluster->setToolTip(m_blocksBox->isChecked()
                              ? tr("Whole blocks are measured in one run here, not by a cluster's shards: clear "
                                   "\"whole blocks too\" to plan the sweep")
                              : tr("Write this sweep as a plan and a Slurm job array into a folder; File → Import "
                                   "Results brings the parts back"));
    for (QWidget *w : std::initializer_list<QWidget *>{m_textCombo, m_chunksSpin, m_granularity, m_pruneEdit,
                                                       m_formatsEdit, m_blocksBox})
        w->setEnabled(!busy);
    const bool mixable = !busy && m_result && m_formatsSwept;
    m_target->setEnabled(mixable);
    m_targetUnit->setEnabled(mixable);
    m_lockEdit->setEnabled(mixable);
    m_use->setEnabled(!busy && m_allocation.has_value());
    for (QCheckBox *box : m_bitBoxes)
        box->setEnabled(!busy);
}

void LmSensitivityView::clearResult()
{
    m_result.reset();
    m_formatsSwept = false;
    m_allocation.reset();
    m_marks.clear(); // (the items go with clearItems below)
    m_tensors.clear();
    m_settings.clear();
    m_allocationLabel->setText(tr("<i>sweep with formats to mix them</i>"));
    m_base->setText(tr("<b>Base perplexity</b> —"));
    m_tableModel->clear();
    m_tableModel->setHorizontalHeaderLabels({tr("Tensor"), tr("Block"), tr("Role"), tr("Setting"), tr("Perplexity"),
                                             tr("Δ"), tr("Δ %"), tr("SQNR dB")});
    m_heat->clearItems();
    m_map->data()->setSize(1, 1);
    m_map->data()->fill(std::numeric_limits<double>::quiet_NaN());
    m_heat->xAxis->setTicker(QSharedPointer<QCPAxisTickerText>::create());
    m_heat->yAxis->setTicker(QSharedPointer<QCPAxisTickerText>::create());
    m_heat->xAxis->setRange(-0.5, 0.5);
    m_heat->yAxis->setRange(-0.5, 0.5);
    m_heat->replot(QCustomPlot::rpQueuedReplot);
    updateControls();
}

void LmSensitivityView::showResult(const LmSensitivityOutcome &outcome)
{
    const cw::lm::SensitivityResult &r = outcome.result;
    const QLocale locale = displayLocale();
    m_base->setText(tr("<b>Base perplexity</b> %1 &nbsp;·&nbsp; %2 tokens scored per trial (context %3)")
                        .arg(locale.toString(r.basePerplexity, 'f', 3), formatCount(r.scored), formatCount(outcome.ctx)));

    // Rows: the tensors in the order measured (block by block); columns: the settings in the order given.
    QStringList &tensors = m_tensors, &settings = m_settings;
    tensors.clear();
    settings.clear();
    QStringList tensorLabels;
    for (const cw::lm::SensitivityRow &row : r.rows) {
        const QString tensor = QString::fromStdString(row.tensor), setting = QString::fromStdString(row.setting);
        if (!tensors.contains(tensor)) {
            tensors << tensor;
            tensorLabels << rowLabel(row);
        }
        if (!settings.contains(setting))
            settings << setting;
    }
    const int columns = std::max<int>(1, int(settings.size())), rows = std::max<int>(1, int(tensors.size()));
    m_map->data()->setSize(columns, rows);
    m_map->data()->setRange(QCPRange(0, columns - 1), QCPRange(0, rows - 1));
    m_map->data()->fill(std::numeric_limits<double>::quiet_NaN());
    auto xTicks = QSharedPointer<QCPAxisTickerText>::create();
    for (int i = 0; i < settings.size(); ++i)
        xTicks->addTick(i, settings[i]);
    auto yTicks = QSharedPointer<QCPAxisTickerText>::create();
    for (int i = 0; i < tensorLabels.size(); ++i)
        yTicks->addTick(i, tensorLabels[i]);
    m_heat->xAxis->setTicker(xTicks);
    m_heat->yAxis->setTicker(yTicks);
    m_heat->xAxis->setRange(-0.5, columns - 0.5);
    m_heat->yAxis->setRange(-0.5, rows - 0.5);
    double top = 1.0; // at least 1 % of range, so noise stays pale
    for (const cw::lm::SensitivityRow &row : r.rows)
        if (std::isfinite(row.relativeDelta))
            top = std::max(top, row.relativeDelta * 100);
    m_heat->clearItems();
    m_marks.clear();
    m_formatsSwept = hasFormats(r);
    const bool labels = columns * rows <= 400;
    for (const cw::lm::SensitivityRow &row : r.rows) {
        const int x = int(settings.indexOf(QString::fromStdString(row.setting)));
        const int y = int(tensors.indexOf(QString::fromStdString(row.tensor)));
        const double percent = row.relativeDelta * 100;
        m_map->data()->setCell(x, y, std::max(0.0, percent));
        if (labels)
            addHeatmapLabel(m_heat, x, y, signedNumber(percent, std::fabs(percent) >= 100 ? 0 : 1),
                            percent > 0.6 * top);
    }
    m_map->setDataRange(QCPRange(0, top));
    m_heat->replot(QCustomPlot::rpQueuedReplot);

    // The table: every trial, sortable by any column (the numbers by value).
    auto item = [](const QString &text, const QVariant &sort, bool number) {
        auto *it = new QStandardItem(text);
        it->setData(sort, kSortRole);
        if (number)
            it->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        return it;
    };
    int order = 0;
    for (const cw::lm::SensitivityRow &row : r.rows) {
        QString role = QString::fromStdString(row.role);
        m_tableModel->appendRow({
            item(QString::fromStdString(row.tensor), order++, false),
            item(row.block >= 0 ? QString::number(row.block) : QString(), row.block, true),
            item(role, role, false),
            item(QString::fromStdString(row.setting), int(settings.indexOf(QString::fromStdString(row.setting))), false),
            item(locale.toString(row.perplexity, 'f', 4), row.perplexity, true),
            item(signedNumber(row.delta, 4), row.delta, true),
            item(signedNumber(row.relativeDelta * 100, 2), row.relativeDelta, true),
            item(locale.toString(row.sqnrDb, 'f', 1), row.sqnrDb, true),
        });
    }
    m_table->resizeColumnsToContents();
    updateAllocation();
}

} // namespace cw::ui
