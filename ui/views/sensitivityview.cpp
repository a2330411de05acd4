#include "ui/views/sensitivityview.h"

#include <QDir>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
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

#include "ui/charts/chartexport.h"
#include "ui/charts/heatmap.h"
#include "ui/formatting.h"
#include "ui/jobs/sensitivityjob.h"
#include "ui/rowtable.h"

namespace cw::ui {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
const QColor kSelectedColor(232, 126, 36);
const QColor kOtherColor(64, 120, 180, 90);
const int kSortRole = Qt::UserRole + 1;

// "0.3, 0.5" -> {0.3, 0.5}; false on anything that is not a number.
bool parseList(const QString &text, std::vector<double> &out)
{
    out.clear();
    for (const QString &part : text.split(QRegularExpression(QStringLiteral("[,;\\s]+")), Qt::SkipEmptyParts)) {
        bool ok = false;
        const double v = part.toDouble(&ok);
        if (!ok)
            return false;
        out.push_back(v);
    }
    return true;
}

QString joinList(const std::vector<double> &values)
{
    QStringList parts;
    for (double v : values)
        parts << QString::number(v, 'g', 6);
    return parts.join(QStringLiteral(", "));
}

QString formatR(double r)
{
    return std::isnan(r) ? QStringLiteral("–") : QString::number(r, 'f', 2);
}

// How far a proxy can be trusted, in words, from its rank correlation with the measured drops.
QString trustWord(double r)
{
    if (std::isnan(r))
        return QObject::tr("undefined");
    if (r >= 0.8)
        return QObject::tr("trustworthy");
    if (r >= 0.5)
        return QObject::tr("rough guide");
    return QObject::tr("unreliable");
}

} // namespace

SensitivityView::SensitivityView(QWidget *parent) : QWidget(parent)
{
    setObjectName(QStringLiteral("sensitivityView"));

    m_limit = new QSpinBox;
    m_limit->setObjectName(QStringLiteral("sensitivityLimit"));
    m_limit->setRange(50, 100000);
    m_limit->setSingleStep(250);
    m_limit->setValue(1000);
    m_limit->setToolTip(tr("Evaluate each trial on the first N samples of the dataset"));
    m_pruneEdit = new QLineEdit(joinList(SensitivityOptions{}.pruneRatios));
    m_pruneEdit->setObjectName(QStringLiteral("sensitivityPrune"));
    m_pruneEdit->setMinimumWidth(m_pruneEdit->fontMetrics().horizontalAdvance(m_pruneEdit->text()) + 24);
    m_pruneEdit->setToolTip(tr("Magnitude-pruning ratios to try, comma-separated (empty: none)"));
    {
        std::vector<double> bits;
        for (int b : SensitivityOptions{}.bits)
            bits.push_back(b);
        m_bitsEdit = new QLineEdit(joinList(bits));
    }
    m_bitsEdit->setObjectName(QStringLiteral("sensitivityBits"));
    m_bitsEdit->setMinimumWidth(m_bitsEdit->fontMetrics().horizontalAdvance(m_bitsEdit->text()) + 24);
    m_bitsEdit->setToolTip(tr("Weight bit-widths to try (2–8, per-channel symmetric), comma-separated (empty: none)"));
    m_run = new QPushButton(tr("Run"));
    m_run->setObjectName(QStringLiteral("sensitivityRun"));
    m_cancel = new QPushButton(tr("Cancel"));
    m_cancel->setObjectName(QStringLiteral("sensitivityCancel"));
    m_progress = new QProgressBar;
    m_progress->setRange(0, 1000);
    m_progress->setTextVisible(false);
    m_progress->setMaximumWidth(140);
    m_status = new QLabel;
    m_status->setObjectName(QStringLiteral("sensitivityStatus"));
    connect(m_run, &QPushButton::clicked, this, [this]() { run(); });
    connect(m_cancel, &QPushButton::clicked, this, &SensitivityView::cancel);
    m_cluster = new QPushButton(tr("Run on Cluster…"));
    m_cluster->setObjectName(QStringLiteral("sensitivityCluster"));
    m_cluster->setToolTip(tr("Write this sweep as a plan and Slurm scripts into a folder, to run as shards on a "
                             "cluster; File → Import Results brings the parts back"));
    connect(m_cluster, &QPushButton::clicked, this, &SensitivityView::clusterRequested);

    auto *controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("<b>Sensitivity</b>")));
    controls->addSpacing(12);
    controls->addWidget(new QLabel(tr("Samples")));
    controls->addWidget(m_limit);
    controls->addWidget(new QLabel(tr("Prune ratios")));
    controls->addWidget(m_pruneEdit, 1);
    controls->addWidget(new QLabel(tr("Bits")));
    controls->addWidget(m_bitsEdit, 1);
    controls->addWidget(m_run);
    controls->addWidget(m_cancel);
    controls->addWidget(m_progress);
    controls->addStretch(1);
    m_status->setWordWrap(false);

    // Heatmap
    m_heat = new QCustomPlot;
    enableChartExport(m_heat, QStringLiteral("sensitivity-heatmap"));
    m_heat->setObjectName(QStringLiteral("sensitivityHeatmap"));
    m_heat->setMinimumSize(360, 220);
    const Heatmap heatmap = setUpHeatmap(m_heat, tr("Accuracy drop per layer and setting"),
                                         tr("accuracy drop (percentage points)"));
    m_map = heatmap.map;
    m_scale = heatmap.scale;
    m_heatTitle = heatmap.title;
    m_heat->xAxis->setLabel(tr("pruning ratio  |  weight bits"));
    m_heat->yAxis->setLabel(tr("layer"));
    connect(m_heat, &QCustomPlot::mousePress, this, &SensitivityView::onHeatmapClicked);

    // Line chart
    m_lines = new QCustomPlot;
    enableChartExport(m_lines, QStringLiteral("sensitivity"));
    m_lines->setObjectName(QStringLiteral("sensitivityLines"));
    m_lines->setBackground(palette().base());
    m_lines->setMinimumSize(300, 180);
    m_lines->plotLayout()->insertRow(0);
    m_linesTitle = new QCPTextElement(m_lines, tr("Accuracy per setting"), QFont(font().family(), font().pointSize() + 1, QFont::Bold));
    m_lines->plotLayout()->addElement(0, 0, m_linesTitle);
    m_lines->yAxis->setLabel(tr("accuracy (%)"));
    m_lines->xAxis->setLabel(tr("pruning ratio  |  weight bits"));
    // The legend, in a row under the chart: the highlighted layer, the others, the baseline.
    m_lines->legend->setVisible(true);
    m_lines->legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
    m_lines->legend->setBorderPen(Qt::NoPen);
    m_lines->axisRect()->insetLayout()->take(m_lines->legend);
    m_lines->plotLayout()->addElement(2, 0, m_lines->legend);
    m_lines->plotLayout()->setRowStretchFactor(2, 0.001);

    // Table
    m_tableModel = new QStandardItemModel(this);
    m_proxy = new QSortFilterProxyModel(this);
    m_proxy->setSourceModel(m_tableModel);
    m_proxy->setSortRole(kSortRole);
    m_table = newRowTable(QStringLiteral("sensitivityTable"), m_proxy);
    m_table->setSortingEnabled(true);
    m_table->sortByColumn(-1, Qt::AscendingOrder);
    m_table->setAlternatingRowColors(true);
    m_table->verticalHeader()->setDefaultSectionSize(m_table->fontMetrics().height() + 6);
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    connect(m_table->selectionModel(), &QItemSelectionModel::currentRowChanged, this, &SensitivityView::onTableRowChanged);

    m_spearman = new QLabel;
    m_spearman->setObjectName(QStringLiteral("sensitivitySpearman"));
    m_spearman->setWordWrap(true);
    m_spearman->setTextInteractionFlags(Qt::TextSelectableByMouse);

    auto *right = new QSplitter(Qt::Vertical);
    right->addWidget(m_lines);
    right->addWidget(m_table);
    right->setChildrenCollapsible(false);
    auto *split = new QSplitter(Qt::Horizontal);
    split->addWidget(m_heat);
    split->addWidget(right);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 1);
    split->setChildrenCollapsible(false);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);
    layout->addLayout(controls);
    layout->addWidget(split, 1);
    // The status line, with the cluster button at its end (the controls row is full at the window's minimum width).
    auto *statusRow = new QHBoxLayout;
    statusRow->addWidget(m_status, 1);
    statusRow->addWidget(m_cluster);
    layout->addLayout(statusRow);
    layout->addWidget(m_spearman);

    setStatus(tr("Open a model to analyse."));
    updateControls();
    redraw();
}

SensitivityView::~SensitivityView()
{
    if (m_job)
        m_job->cancel();
}

void SensitivityView::setModel(const cw::Model *model)
{
    if (m_job) {
        m_job->disconnect(this);
        m_job->cancel();
        m_job->deleteLater();
        m_job = nullptr;
    }
    m_model = model;
    m_result.reset();
    m_layers.clear();
    m_expectedLayers.clear();
    m_baseline = -1;
    m_selected.clear();
    m_progress->setValue(0);
    if (m_model) {
        m_expectedLayers = cw::sensitivityLayers(*m_model);
        auto stored = m_model->analysis.find(cw::kSensitivityKey);
        bool shown = false;
        if (stored != m_model->analysis.end()) {
            try {
                showResult(cw::sensitivityFromJson(stored->second));
                setStatus(tr("Stored results (%1 samples of %2), not recomputed.")
                              .arg(m_result->samples)
                              .arg(QString::fromStdString(m_result->dataset)));
                shown = true;
            } catch (const cw::Error &e) {
                setStatus(tr("Stored results could not be read: %1").arg(QString::fromUtf8(e.what())));
            }
        }
        if (!shown) {
            std::vector<double> prune, bits;
            SensitivityOptions o;
            if (parseList(m_pruneEdit->text(), prune))
                o.pruneRatios = prune;
            if (parseList(m_bitsEdit->text(), bits)) {
                o.bits.clear();
                for (double b : bits)
                    o.bits.push_back(int(b));
            }
            begin(o, -1);
            if (m_status->text().isEmpty() || !m_status->text().startsWith(tr("Stored results could not")))
                setStatus(tr("%n layer(s) to analyse. Press Run.", nullptr, int(m_expectedLayers.size())));
        }
    } else {
        begin(SensitivityOptions{}, -1);
        setStatus(tr("Open a model to analyse."));
    }
    updateControls();
}

QString SensitivityView::resultJson() const
{
    return m_result ? QString::fromStdString(cw::sensitivityToJson(*m_result)) : QString();
}

QString SensitivityView::statusText() const
{
    return m_status->text();
}

void SensitivityView::setStatus(const QString &text)
{
    m_status->setText(text);
}

std::optional<cw::SensitivityOptions> SensitivityView::formOptions()
{
    if (!m_model) {
        setStatus(tr("Open a model first."));
        return std::nullopt;
    }
    if (const QString refusal = m_runInputs.refusal(m_model->graph, true); !refusal.isEmpty()) {
        setStatus(refusal);
        if (m_runInputs.blocked.isEmpty())
            emit inputsNeeded(refusal);
        return std::nullopt;
    }
    SensitivityOptions o;
    std::vector<double> prune, bits;
    if (!parseList(m_pruneEdit->text(), prune) || !parseList(m_bitsEdit->text(), bits)) {
        setStatus(tr("Settings must be comma-separated numbers."));
        return std::nullopt;
    }
    o.pruneRatios = prune;
    o.bits.clear();
    for (double b : bits) {
        if (b != std::floor(b) || b < 2 || b > 8) {
            setStatus(tr("Bit-widths must be whole numbers from 2 to 8."));
            return std::nullopt;
        }
        o.bits.push_back(int(b));
    }
    for (double r : prune)
        if (!(r >= 0 && r < 1)) {
            setStatus(tr("Pruning ratios must be in [0, 1)."));
            return std::nullopt;
        }
    if (o.pruneRatios.empty() && o.bits.empty()) {
        setStatus(tr("Choose at least one setting."));
        return std::nullopt;
    }
    o.limit = m_limit->value();
    o.inputs = m_runInputs.feeds;
    return o;
}

std::optional<cw::cluster::SweepPlan> SensitivityView::clusterPlan()
{
    const std::optional<cw::SensitivityOptions> o = formOptions();
    if (!o)
        return std::nullopt;
    try {
        const std::string model = m_model->sourcePath, data = m_datasetSpec.toStdString();
        return cw::cluster::sensitivityPlan(cw::cluster::sensitivityCommand(model, data, m_runInputs.preprocess, *o),
                                            model, *m_model, data, o->layers, QDir::currentPath().toStdString());
    } catch (const std::exception &e) {
        setStatus(tr("Cannot plan this sweep for a cluster: %1").arg(QString::fromUtf8(e.what())));
        return std::nullopt;
    }
}

bool SensitivityView::run()
{
    if (m_job)
        return false;
    const std::optional<cw::SensitivityOptions> options = formOptions();
    if (!options)
        return false;
    const cw::SensitivityOptions &o = *options;
    SensitivityParams params;
    params.model = *m_model;
    params.datasetSpec = m_datasetSpec.toStdString();
    params.preprocess = m_runInputs.preprocess;
    params.options = o;
    auto *job = new SensitivityJob(std::move(params), this);
    m_job = job;
    m_result.reset();
    m_selected.clear();
    begin(o, -1);
    connect(job, &Job::progress, this, [this](double fraction, const QString &stage) {
        m_progress->setValue(int(fraction * 1000));
        setStatus(stage);
    });
    connect(job, &SensitivityJob::layerFinished, this, &SensitivityView::addLayer);
    connect(job, &SensitivityJob::succeeded, this, [this](const cw::SensitivityResult &r) {
        showResult(r);
        setStatus(tr("%1 layers × %2 settings on %3 samples in %4 s.")
                      .arg(r.layers.size())
                      .arg(r.options.pruneRatios.size() + r.options.bits.size())
                      .arg(r.samples)
                      .arg(r.seconds, 0, 'f', 1));
        emit resultReady(QString::fromStdString(cw::sensitivityToJson(r)));
    });
    connect(job, &Job::failed, this, [this](const QString &error) { setStatus(tr("Failed: %1").arg(error)); });
    connect(job, &Job::cancelled, this, [this]() {
        setStatus(tr("Cancelled after %n layer(s); partial results are not kept.", nullptr, int(m_layers.size())));
    });
    connect(job, &Job::finished, this, [this, job]() {
        const bool ok = job->result().has_value();
        if (m_job == job)
            m_job = nullptr;
        job->deleteLater();
        m_progress->setValue(ok ? 1000 : 0);
        updateControls();
        emit runFinished(ok);
    });
    job->start();
    updateControls();
    return true;
}

void SensitivityView::setRunInputs(const RunInputs &inputs)
{
    m_runInputs = inputs;
    updateControls();
}

void SensitivityView::cancel()
{
    if (m_job)
        m_job->cancel();
}

void SensitivityView::updateControls()
{
    const bool busy = m_job != nullptr;
    m_run->setEnabled(m_model && !busy && m_runInputs.blocked.isEmpty());
    m_run->setToolTip(m_runInputs.blocked);
    m_cancel->setEnabled(busy);
    m_cluster->setEnabled(m_model && m_runInputs.blocked.isEmpty());
    m_limit->setEnabled(!busy);
    m_pruneEdit->setEnabled(!busy);
    m_bitsEdit->setEnabled(!busy);
}

int SensitivityView::columnOf(bool prune, int index) const
{
    // Pruning ratios first, then an empty column that separates the two kinds, then the bit-widths.
    if (prune)
        return index;
    const int p = int(m_options.pruneRatios.size());
    return p + (p > 0 ? 1 : 0) + index;
}

void SensitivityView::begin(const cw::SensitivityOptions &options, double baseline)
{
    m_options = options;
    m_layers.clear();
    m_baseline = baseline;
    m_tableModel->clear();
    QStringList headers{tr("Layer"), tr("Op"), tr("Params")};
    for (double r : m_options.pruneRatios)
        headers << tr("prune %1").arg(r);
    for (int b : m_options.bits)
        headers << tr("%1-bit").arg(b);
    headers << tr("Worst");
    m_tableModel->setHorizontalHeaderLabels(headers);
    setFidelity(options.metric == cw::SensitivityMetric::Fidelity);
    rebuildAxes();
    updateSpearman();
    redraw();
}

void SensitivityView::setFidelity(bool fidelity)
{
    m_fidelity = fidelity;
    m_heatTitle->setText(fidelity ? tr("Output SQNR (dB) per layer and setting") : tr("Accuracy drop per layer and setting"));
    m_scale->axis()->setLabel(fidelity ? tr("output noise (% of the signal power)") : tr("accuracy drop (percentage points)"));
    m_lines->yAxis->setLabel(fidelity ? tr("output SQNR (dB)") : tr("accuracy (%)"));
    const QString tip = fidelity ? tr("SQNR in dB of the model's first output against the unmodified model; lower is worse")
                                 : tr("Accuracy drop in percentage points");
    for (int c = 3; c < m_tableModel->columnCount(); ++c)
        m_tableModel->horizontalHeaderItem(c)->setToolTip(tip);
}

void SensitivityView::rebuildAxes()
{
    const int p = int(m_options.pruneRatios.size()), b = int(m_options.bits.size());
    const int columns = std::max(1, p + b + (p > 0 && b > 0 ? 1 : 0));
    // The narrower line chart gets compact labels: "0.3" for a ratio, "8b" for a bit-width.
    auto compact = QSharedPointer<QCPAxisTickerText>::create();
    for (int i = 0; i < p; ++i)
        compact->addTick(columnOf(true, i), QString::number(m_options.pruneRatios[size_t(i)]));
    for (int i = 0; i < b; ++i)
        compact->addTick(columnOf(false, i), tr("%1b").arg(m_options.bits[size_t(i)]));
    m_lines->xAxis->setTicker(compact);
    m_heat->xAxis->setTicker(compact);
    m_heat->xAxis->setRange(-0.5, columns - 0.5);
    m_lines->xAxis->setRange(-0.5, columns - 0.5);

    // What sets the layers' names apart (exported names run long), whole in the table beside.
    QStringList names;
    for (const std::string &name : m_expectedLayers)
        names << QString::fromStdString(name);
    names = distinctiveNames(names);
    const QFontMetrics metrics(m_heat->yAxis->tickLabelFont());
    auto layerTicker = QSharedPointer<QCPAxisTickerText>::create();
    for (qsizetype i = 0; i < names.size(); ++i)
        layerTicker->addTick(double(i), metrics.elidedText(names[i], Qt::ElideMiddle, 12 * metrics.height()));
    m_heat->yAxis->setTicker(layerTicker);
    const int rows = std::max<int>(1, int(m_expectedLayers.size()));
    m_heat->yAxis->setRange(-0.5, rows - 0.5);
    m_map->data()->setSize(columns, rows);
    m_map->data()->setRange(QCPRange(0, columns - 1), QCPRange(0, rows - 1));
    m_map->data()->fill(kNaN);
}

void SensitivityView::addLayer(const cw::LayerSensitivity &layer)
{
    m_layers.push_back(layer);
    const cw::SensitivityTrial *first =
        !layer.prune.empty() ? &layer.prune.front() : layer.bits.empty() ? nullptr : &layer.bits.front();
    if (first && std::isnan(first->accuracy) && !m_fidelity)
        setFidelity(true); // an automatic metric resolved to fidelity
    if (m_baseline < 0 && !m_fidelity) {
        const cw::SensitivityTrial *t = !layer.prune.empty() ? &layer.prune.front() : layer.bits.empty() ? nullptr : &layer.bits.front();
        if (t)
            m_baseline = t->accuracy + t->drop;
    }
    if (std::find(m_expectedLayers.begin(), m_expectedLayers.end(), layer.name) == m_expectedLayers.end()) {
        m_expectedLayers.push_back(layer.name);
        rebuildAxes();
        // Cells of earlier layers were cleared by the resize: refill them below.
    }

    QList<QStandardItem *> row;
    auto text = [](const QString &s, const QVariant &sort) {
        auto *item = new QStandardItem(s);
        item->setData(sort, kSortRole);
        return item;
    };
    row << text(QString::fromStdString(layer.name), int(std::find(m_expectedLayers.begin(), m_expectedLayers.end(), layer.name) -
                                                         m_expectedLayers.begin()));
    row << text(QString::fromStdString(layer.op), QString::fromStdString(layer.op));
    row << text(QLocale().toString(qlonglong(layer.params)), qlonglong(layer.params));
    double worst = -std::numeric_limits<double>::infinity();
    // The shown number: the accuracy drop in points, or the output SQNR in dB; sorted by damage either way.
    auto shown = [&](const cw::SensitivityTrial &t) {
        return m_fidelity ? QString::number(t.outputSqnrDb, 'f', 1) : QString::number(t.drop * 100, 'f', 2);
    };
    const cw::SensitivityTrial *worstTrial = nullptr;
    auto cell = [&](const cw::SensitivityTrial &t) {
        if (t.drop > worst) {
            worst = t.drop;
            worstTrial = &t;
        }
        auto *item = text(shown(t), t.drop);
        item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        if (m_fidelity)
            item->setToolTip(tr("output SQNR %1 dB (noise %2% of the signal power)\nweight SQNR %3 dB, layer-output error %4")
                                 .arg(t.outputSqnrDb, 0, 'f', 2)
                                 .arg(t.drop * 100, 0, 'g', 3)
                                 .arg(t.sqnrDb, 0, 'f', 1)
                                 .arg(t.outputError, 0, 'g', 3));
        else
            item->setToolTip(tr("accuracy %1%, loss %2 (%3%4)\nweight SQNR %5 dB, layer-output error %6")
                                 .arg(t.accuracy * 100, 0, 'f', 2)
                                 .arg(t.loss, 0, 'f', 4)
                                 .arg(t.lossDelta >= 0 ? QStringLiteral("+") : QString())
                                 .arg(t.lossDelta, 0, 'f', 4)
                                 .arg(t.sqnrDb, 0, 'f', 1)
                                 .arg(t.outputError, 0, 'g', 3));
        return item;
    };
    for (const auto &t : layer.prune)
        row << cell(t);
    for (const auto &t : layer.bits)
        row << cell(t);
    auto *w = text(worstTrial ? shown(*worstTrial) : QString(), worst);
    w->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    row << w;
    m_tableModel->appendRow(row);
    redraw();
}

void SensitivityView::showResult(const cw::SensitivityResult &result)
{
    m_result = result;
    for (const auto &l : result.layers)
        if (std::find(m_expectedLayers.begin(), m_expectedLayers.end(), l.name) == m_expectedLayers.end())
            m_expectedLayers.push_back(l.name);
    begin(result.options, result.baselineAccuracy);
    setFidelity(result.metric == cw::SensitivityMetric::Fidelity);
    for (const auto &l : result.layers)
        addLayer(l);
    m_table->resizeColumnsToContents();
    updateSpearman();
}

void SensitivityView::updateSpearman()
{
    if (!m_result) {
        m_spearman->setText(tr("Proxy trust (Spearman rank correlation of the fast estimates with the measured drops) "
                               "appears when a sweep completes."));
        return;
    }
    const auto &r = *m_result;
    auto part = [](const QString &kind, const cw::SpearmanPair &p) {
        return tr("%1: weight SQNR %2 (%3), layer-output error %4 (%5)")
            .arg(kind, formatR(p.sqnr), trustWord(p.sqnr), formatR(p.outputError), trustWord(p.outputError));
    };
    QStringList parts;
    if (!r.options.pruneRatios.empty())
        parts << part(tr("pruning"), r.spearmanPrune);
    if (!r.options.bits.empty())
        parts << part(tr("quantization"), r.spearmanBits);
    const QString measured =
        r.metric == cw::SensitivityMetric::Fidelity
            ? tr("Fidelity to the unmodified model on %1 samples.").arg(r.samples)
            : tr("Baseline accuracy %1% on %2 samples.").arg(r.baselineAccuracy * 100, 0, 'f', 2).arg(r.samples);
    m_spearman->setText(tr("<b>Proxy trust</b> (Spearman ρ of predicted damage vs measured drop, 1 = same order): %1. %2")
                            .arg(parts.join(QStringLiteral("; ")), measured));
}

void SensitivityView::redraw()
{
    // Heatmap cells and their labels.
    m_heat->clearItems();
    m_map->data()->fill(kNaN);
    double maxDrop = 0.05; // at least 5 points of range, so small noise stays pale
    for (const auto &l : m_layers)
        for (const auto *list : {&l.prune, &l.bits})
            for (const auto &t : *list)
                maxDrop = std::max(maxDrop, t.drop);
    const int columns = m_map->data()->keySize();
    const int rows = m_map->data()->valueSize();
    const bool labels = columns * rows <= 400;
    for (const auto &l : m_layers) {
        const int y = int(std::find(m_expectedLayers.begin(), m_expectedLayers.end(), l.name) - m_expectedLayers.begin());
        auto put = [&](int x, double drop) {
            m_map->data()->setCell(x, y, std::max(0.0, drop) * 100);
            if (!labels)
                return;
            const QString text = !m_fidelity ? QString::number(drop * 100, 'f', 1)
                                 : drop > 0  ? QString::number(-10.0 * std::log10(drop), 'f', 0)
                                             : QStringLiteral("∞");
            addHeatmapLabel(m_heat, x, y, text, drop > 0.6 * maxDrop);
        };
        for (size_t i = 0; i < l.prune.size(); ++i)
            put(columnOf(true, int(i)), l.prune[i].drop);
        for (size_t i = 0; i < l.bits.size(); ++i)
            put(columnOf(false, int(i)), l.bits[i].drop);
    }
    m_map->setDataRange(QCPRange(0, maxDrop * 100));
    // Selected row outlined.
    const auto sel = std::find(m_expectedLayers.begin(), m_expectedLayers.end(), m_selected.toStdString());
    if (!m_selected.isEmpty() && sel != m_expectedLayers.end()) {
        const double y = double(sel - m_expectedLayers.begin());
        auto *rect = new QCPItemRect(m_heat);
        rect->topLeft->setCoords(-0.5, y - 0.5);
        rect->bottomRight->setCoords(columns - 0.5, y + 0.5);
        rect->setPen(QPen(kSelectedColor, 2.5));
        rect->setBrush(Qt::NoBrush);
    }
    m_heat->replot(QCustomPlot::rpQueuedReplot);

    // Lines: one per layer, the selected one on top and in colour; a NaN breaks the line between the kinds.
    m_lines->clearGraphs();
    m_lines->clearItems();
    double lo = 100, hi = 0;
    QCPGraph *selectedGraph = nullptr;
    // Accuracy in %, or the output SQNR in dB (an unchanged output, +inf, is left out of the line).
    auto metricValue = [&](const cw::SensitivityTrial &t) {
        if (!m_fidelity)
            return t.accuracy * 100;
        return std::isfinite(t.outputSqnrDb) ? t.outputSqnrDb : kNaN;
    };
    for (const auto &l : m_layers) {
        QVector<double> xs, ys;
        for (size_t i = 0; i < l.prune.size(); ++i) {
            xs << columnOf(true, int(i));
            ys << metricValue(l.prune[i]);
        }
        if (!l.prune.empty() && !l.bits.empty()) {
            xs << columnOf(true, int(l.prune.size()));
            ys << kNaN;
        }
        for (size_t i = 0; i < l.bits.size(); ++i) {
            xs << columnOf(false, int(i));
            ys << metricValue(l.bits[i]);
        }
        for (double v : ys)
            if (!std::isnan(v))
                lo = std::min(lo, v), hi = std::max(hi, v);
        QCPGraph *g = m_lines->addGraph();
        g->setName(QString::fromStdString(l.name));
        g->setData(xs, ys, true);
        const bool selected = QString::fromStdString(l.name) == m_selected;
        g->setPen(QPen(selected ? kSelectedColor : kOtherColor, selected ? 3 : 1.5));
        g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, selected ? 7 : 4));
        if (selected)
            selectedGraph = g;
    }
    if (selectedGraph)
        selectedGraph->setLayer(QStringLiteral("overlay"));
    // One legend entry per kind of line, not per layer: every other layer is drawn alike.
    bool othersListed = false;
    for (int i = 0; i < m_lines->graphCount(); ++i) {
        QCPGraph *g = m_lines->graph(i);
        if (g == selectedGraph || othersListed) {
            if (g != selectedGraph)
                g->removeFromLegend();
            continue;
        }
        g->setName(m_selected.isEmpty() ? tr("layers") : tr("other layers"));
        othersListed = true;
    }
    if (m_baseline >= 0) {
        auto *line = new QCPItemStraightLine(m_lines);
        line->point1->setCoords(0, m_baseline * 100);
        line->point2->setCoords(1, m_baseline * 100);
        line->setPen(QPen(Qt::darkGray, 1.2, Qt::DashLine));
        QCPGraph *entry = m_lines->addGraph(); // no data: the line's entry in the legend
        entry->setName(tr("unmodified model"));
        entry->setPen(line->pen());
        hi = std::max(hi, m_baseline * 100);
        lo = std::min(lo, m_baseline * 100);
    }
    // The title names the highlighted layer and the dashed baseline, so no label covers the lines.
    QString title = m_selected.isEmpty() ? (m_fidelity ? tr("Output SQNR per setting") : tr("Accuracy per setting"))
                                         : m_selected;
    if (m_baseline >= 0)
        title += tr(" · baseline %1% (dashed)").arg(m_baseline * 100, 0, 'f', 1);
    m_linesTitle->setText(title);
    m_linesTitle->setTextColor(m_selected.isEmpty() ? Qt::black : kSelectedColor.darker(120));
    if (hi < lo)
        lo = 0, hi = 100;
    const double pad = std::max(1.0, (hi - lo) * 0.06);
    if (m_fidelity)
        m_lines->yAxis->setRange(lo - pad, hi + pad);
    else
        m_lines->yAxis->setRange(std::max(0.0, lo - pad), std::min(100.0, hi + pad));
    m_lines->replot(QCustomPlot::rpQueuedReplot);
}

void SensitivityView::setSelectedLayer(const QString &name)
{
    if (name == m_selected)
        return;
    m_selected = name;
    // Keep the table's current row in step (without feeding back).
    for (int r = 0; r < m_proxy->rowCount(); ++r)
        if (m_proxy->index(r, 0).data().toString() == name) {
            if (m_table->currentIndex().row() != r) {
                QSignalBlocker block(m_table->selectionModel());
                m_table->selectRow(r);
            }
            break;
        }
    redraw();
    emit layerSelected(name);
}

void SensitivityView::onTableRowChanged()
{
    const QModelIndex current = m_table->currentIndex();
    if (current.isValid())
        setSelectedLayer(m_proxy->index(current.row(), 0).data().toString());
}

void SensitivityView::onHeatmapClicked(QMouseEvent *event)
{
    if (!m_heat->axisRect()->rect().contains(event->pos()))
        return;
    const int y = int(std::lround(m_heat->yAxis->pixelToCoord(event->pos().y())));
    if (y >= 0 && y < int(m_expectedLayers.size()))
        setSelectedLayer(QString::fromStdString(m_expectedLayers[size_t(y)]));
}

} // namespace cw::ui
