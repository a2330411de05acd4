#include "ui/views/compareview.h"

#include <QApplication>
#include <QClipboard>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QSaveFile>
#include <QSettings>
#include <QSplitter>
#include <QStandardItemModel>
#include <QTabWidget>
#include <QTableView>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include "core/base/atomic_file.h"
#include "core/base/error.h"
#include "ui/charts/chartexport.h"
#include "ui/charts/tradeoffchart.h"
#include "ui/formatting.h"
#include "ui/projectdocument.h"
#include "ui/rowtable.h"
#include "ui/views/variantdiffpanel.h"

namespace cw::ui {

namespace {

const char kExportDirKey[] = "lastDirs/compare";
const char kCostKey[] = "compare/cost";
const char kPageKey[] = "compare/page"; // Trade-off or Side by side

QDoubleSpinBox *limitSpin(const QString &name, const QString &suffix, double max, int decimals, const QString &tip)
{
    auto *spin = new QDoubleSpinBox;
    spin->setObjectName(name);
    spin->setRange(0, max);
    spin->setDecimals(decimals);
    spin->setSuffix(suffix);
    spin->setSpecialValueText(QObject::tr("none"));
    spin->setToolTip(tip);
    spin->setKeyboardTracking(false); // one change (and one undo step) per edit, not per keystroke
    return spin;
}

QColor verdictTint(cw::Verdict v)
{
    switch (v) {
    case cw::Verdict::Green: return QColor(0xe8, 0xf5, 0xe9);
    case cw::Verdict::Amber: return QColor(0xff, 0xf3, 0xe0);
    case cw::Verdict::Red: return QColor(0xff, 0xeb, 0xee);
    }
    return {};
}

} // namespace

CompareView::CompareView(ProjectDocument *document, QWidget *parent) : QWidget(parent), m_document(document)
{
    setObjectName(QStringLiteral("compareView"));

    // ---- limits and recommendation
    m_maxSize = limitSpin(QStringLiteral("maxSize"), tr(" KiB"), 1e9, 0,
                          tr("Largest acceptable file (the native .h5); none at 0"));
    m_maxLatency = limitSpin(QStringLiteral("maxLatency"), tr(" ms"), 1e6, 3,
                             tr("Largest acceptable latency p50 at batch 1; none at 0"));
    m_maxDrop = limitSpin(QStringLiteral("maxDrop"), tr(" pt"), 100, 2,
                          tr("Largest acceptable drop in accuracy (or agreement with the base), percentage points; "
                             "none at 0"));
    for (QDoubleSpinBox *spin : {m_maxSize, m_maxLatency, m_maxDrop})
        connect(spin, &QDoubleSpinBox::valueChanged, this, [this, spin]() { applyLimits(spin); });
    m_cost = new QComboBox;
    m_cost->setObjectName(QStringLiteral("costCombo"));
    m_cost->addItem(tr("File size"), int(cw::Cost::FileBytes));
    m_cost->addItem(tr("Latency, batch 1"), int(cw::Cost::LatencyBatch1));
    m_cost->addItem(tr("Latency, batch 64"), int(cw::Cost::LatencyBatch64));
    m_cost->addItem(tr("Peak memory (RSS)"), int(cw::Cost::PeakRss));
    m_cost->setCurrentIndex(qBound(0, QSettings().value(QLatin1String(kCostKey), 0).toInt(), m_cost->count() - 1));
    connect(m_cost, &QComboBox::currentIndexChanged, this, [this](int index) {
        QSettings().setValue(QLatin1String(kCostKey), index);
        refresh();
    });
    auto *limits = new QHBoxLayout;
    limits->addWidget(new QLabel(tr("<b>Limits</b>  size ≤")));
    limits->addWidget(m_maxSize);
    limits->addWidget(new QLabel(tr("latency ≤")));
    limits->addWidget(m_maxLatency);
    limits->addWidget(new QLabel(tr("drop ≤")));
    limits->addWidget(m_maxDrop);
    limits->addSpacing(16);
    limits->addWidget(new QLabel(tr("Chart against")));
    limits->addWidget(m_cost);
    limits->addStretch(1);
    m_recommendationLabel = new QLabel;
    m_recommendationLabel->setObjectName(QStringLiteral("recommendation"));
    m_recommendationLabel->setWordWrap(true);
    m_recommendationLabel->setTextFormat(Qt::RichText);

    // ---- chart and table
    m_chart = new TradeoffChart;
    connect(m_chart, &TradeoffChart::variantClicked, this, [this](int index) {
        selectVariant(index);
        emit variantSelected(index);
    });
    m_model = new QStandardItemModel(0, ColumnCount, this);
    m_model->setHorizontalHeaderLabels({tr("Variant"), tr("Origin"), tr("Recipe"), tr("Quality"), tr("Drop"),
                                        tr("File (.h5)"), tr("ONNX"), tr("Smaller"), tr("Batch 1 ms"),
                                        tr("Batch 64 ms"), tr("Memory"), tr("Peak RSS"), tr("Pareto"),
                                        tr("Verdict")});
    m_model->horizontalHeaderItem(CMemory)->setToolTip(memoryColumnTip());
    m_model->horizontalHeaderItem(CPeakRss)->setToolTip(peakRssColumnTip());
    m_model->horizontalHeaderItem(CFile)->setToolTip(tr("Bytes of the variant saved in the native .h5 format (the size "
                                                        "the chart, the limits and \"Smaller\" use)"));
    m_model->horizontalHeaderItem(COnnx)->setToolTip(tr("Bytes of the variant exported as ONNX: integer weights one "
                                                        "byte each, pruned weights stored dense"));
    m_model->horizontalHeaderItem(CPareto)->setToolTip(
        tr("On the Pareto frontier of quality against file size and / or batch-1 latency: no other variant is as "
           "good and cheaper"));
    m_table = newRowTable(QStringLiteral("compareTable"), m_model);
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->setWordWrap(false);
    connect(m_table->selectionModel(), &QItemSelectionModel::currentRowChanged, this, [this](const QModelIndex &current) {
        const int index = current.isValid() ? current.row() : -1;
        if (index == m_selected)
            return;
        m_selected = index;
        refresh();
        emit variantSelected(index);
    });

    m_exportChart = new QPushButton(tr("Export Chart…"));
    m_exportChart->setObjectName(QStringLiteral("exportChart"));
    m_exportChart->setToolTip(tr("Save the chart as PNG, or as SVG or PDF (vector)"));
    m_copyChart = new QPushButton(tr("Copy Chart"));
    m_copyChart->setObjectName(QStringLiteral("copyChart"));
    m_exportTable = new QPushButton(tr("Export Table…"));
    m_exportTable->setObjectName(QStringLiteral("exportTable"));
    m_exportTable->setToolTip(tr("Save the table as CSV, or the whole comparison as JSON"));
    connect(m_copyChart, &QPushButton::clicked, this, &CompareView::copyChart);
    connect(m_exportChart, &QPushButton::clicked, this, [this]() {
        const QString path = QFileDialog::getSaveFileName(
            this, tr("Export Chart"), QDir(QSettings().value(QLatin1String(kExportDirKey), QDir::homePath()).toString())
                                          .filePath(QStringLiteral("tradeoff.png")),
            tr("PNG image (*.png);;SVG drawing (*.svg);;PDF document (*.pdf)"));
        if (path.isEmpty())
            return;
        QSettings().setValue(QLatin1String(kExportDirKey), QFileInfo(path).absolutePath());
        exportChart(path);
    });
    connect(m_exportTable, &QPushButton::clicked, this, [this]() {
        const QString path = QFileDialog::getSaveFileName(
            this, tr("Export Table"), QDir(QSettings().value(QLatin1String(kExportDirKey), QDir::homePath()).toString())
                                          .filePath(QStringLiteral("variants.csv")),
            tr("CSV (*.csv);;JSON (*.json)"));
        if (path.isEmpty())
            return;
        QSettings().setValue(QLatin1String(kExportDirKey), QFileInfo(path).absolutePath());
        exportTable(path);
    });
    auto *buttons = new QHBoxLayout;
    m_status = new QLabel;
    m_status->setObjectName(QStringLiteral("compareStatus"));
    buttons->addWidget(m_status, 1);
    buttons->addWidget(m_copyChart);
    buttons->addWidget(m_exportChart);
    buttons->addWidget(m_exportTable);

    auto *split = new QSplitter(Qt::Vertical);
    split->setObjectName(QStringLiteral("compareSplitter"));
    split->addWidget(m_chart);
    split->addWidget(m_table);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    split->setChildrenCollapsible(false);

    auto *tradeoff = new QWidget;
    auto *tradeoffLayout = new QVBoxLayout(tradeoff);
    tradeoffLayout->setContentsMargins(0, 4, 0, 0);
    tradeoffLayout->addWidget(split, 1);
    tradeoffLayout->addLayout(buttons);
    m_diff = new VariantDiffPanel(m_document);
    m_pages = new QTabWidget;
    m_pages->setObjectName(QStringLiteral("comparePages"));
    m_pages->setDocumentMode(true);
    m_pages->addTab(tradeoff, tr("Trade-off"));
    m_pages->addTab(m_diff, tr("Side by side"));
    m_pages->setTabToolTip(1, tr("Two variants (or the base and one) layer by layer: settings, weight error, bytes, and "
                                 "the selected layer's weight histograms"));
    m_pages->setCurrentIndex(qBound(0, QSettings().value(QLatin1String(kPageKey), 0).toInt(), 1));
    connect(m_pages, &QTabWidget::currentChanged, this, [](int page) { QSettings().setValue(QLatin1String(kPageKey), page); });

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);
    layout->addLayout(limits);
    layout->addWidget(m_recommendationLabel);
    layout->addWidget(m_pages, 1);

    connect(m_document, &ProjectDocument::projectReset, this, [this]() {
        m_selected = -1;
        syncLimits();
        refresh();
    });
    for (auto signal : {&ProjectDocument::variantAdded, &ProjectDocument::variantRemoved})
        connect(m_document, signal, this, [this]() {
            m_selected = -1;
            refresh();
        });
    connect(m_document, &ProjectDocument::baseMetricsChanged, this, &CompareView::refresh);
    connect(m_document, &ProjectDocument::constraintsChanged, this, [this]() {
        syncLimits();
        refresh();
    });
    syncLimits();
    refresh();
}

void CompareView::setCost(cw::Cost cost)
{
    m_cost->setCurrentIndex(m_cost->findData(int(cost)));
}

cw::Cost CompareView::cost() const
{
    return cw::Cost(m_cost->currentData().toInt());
}

void CompareView::selectVariant(int index)
{
    if (index == m_selected)
        return;
    m_selected = index;
    if (index >= 0) // side by side: the selected variant against what A is
        m_diff->setSides(m_diff->sideA(), index);
    m_table->selectionModel()->blockSignals(true);
    if (index >= 0 && index < m_model->rowCount())
        m_table->selectRow(index);
    else
        m_table->clearSelection();
    m_table->selectionModel()->blockSignals(false);
    refresh();
}

void CompareView::syncLimits()
{
    m_syncing = true;
    const cw::Project *p = m_document->project();
    const cw::Constraints c = p ? p->constraints : cw::Constraints{};
    m_maxSize->setValue(c.maxBytes ? double(*c.maxBytes) / 1024.0 : 0);
    m_maxLatency->setValue(c.maxLatencyMs.value_or(0));
    m_maxDrop->setValue(c.maxDropPoints.value_or(0));
    for (QDoubleSpinBox *spin : {m_maxSize, m_maxLatency, m_maxDrop})
        spin->setEnabled(p != nullptr);
    m_syncing = false;
}

void CompareView::applyLimits(QDoubleSpinBox *changed)
{
    if (m_syncing || !m_document->hasProject())
        return;
    // Only the edited limit changes: the others keep their exact values (a size set by cwb in bytes is shown
    // rounded to KiB).
    cw::Constraints c = m_document->project()->constraints;
    const auto value = [](const QDoubleSpinBox *spin) {
        return spin->value() > 0 ? std::optional<double>(spin->value()) : std::nullopt;
    };
    if (changed == m_maxSize)
        c.maxBytes = value(m_maxSize) ? std::optional<int64_t>(int64_t(*value(m_maxSize) * 1024.0)) : std::nullopt;
    else if (changed == m_maxLatency)
        c.maxLatencyMs = value(m_maxLatency);
    else if (changed == m_maxDrop)
        c.maxDropPoints = value(m_maxDrop);
    m_document->setConstraints(c);
}

void CompareView::refresh()
{
    static const cw::Project none;
    const cw::Project *project = m_document->project();
    const std::vector<cw::ProjectVariant> &variants = m_document->variants();
    const cw::ProjectComparison comparison = cw::compareProject(project ? *project : none);
    const cw::VariantMetrics &base = comparison.base;
    m_recommendation = comparison.recommendation;
    const std::vector<bool> bySize = comparison.frontier(cw::Cost::FileBytes),
                            byLatency = comparison.frontier(cw::Cost::LatencyBatch1);
    m_chart->showProject(project, cost(), m_selected);

    // Recommendation.
    if (!project) {
        m_recommendationLabel->setText(tr("Open a model or a project to compare its variants."));
    } else if (variants.empty()) {
        m_recommendationLabel->setText(tr("No variants yet: make some in the Compress or Distill tab."));
    } else if (m_recommendation.best >= 0) {
        const cw::VariantMetrics &b = variants[size_t(m_recommendation.best)].variant.metrics;
        QString ratios;
        if (project->baseMetrics && b.fileBytes > 0 && base.fileBytes > 0)
            ratios = tr(" — %1× smaller, %2× as fast at batch 1")
                         .arg(double(base.fileBytes) / double(b.fileBytes), 0, 'f', 2)
                         .arg(cw::speedup(base, b).value_or(0.0), 0, 'f', 2);
        m_recommendationLabel->setText(
            tr("Recommended: <b>%1</b>, %2%3.")
                .arg(QString::fromStdString(variants[size_t(m_recommendation.best)].variant.name).toHtmlEscaped(),
                     QString::fromStdString(m_recommendation.reason).toHtmlEscaped(), ratios));
    } else {
        m_recommendationLabel->setText(
            tr("<span style='color:#c62828'>No recommendation: %1.</span>")
                .arg(QString::fromStdString(m_recommendation.reason).toHtmlEscaped()));
    }

    // Table.
    m_table->selectionModel()->blockSignals(true);
    m_model->removeRows(0, m_model->rowCount());
    for (size_t i = 0; i < variants.size(); ++i) {
        const cw::ProjectVariant &pv = variants[i];
        const cw::VariantMetrics &m = pv.variant.metrics;
        const cw::Quality q = cw::variantQuality(m);
        const cw::Assessment &a = m_recommendation.assessments[i];
        auto item = [](const QString &text, bool right = true) {
            auto *it = new QStandardItem(text);
            if (right)
                it->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
            return it;
        };
        const bool measured = pv.variant.measured;
        QStringList pareto;
        if (bySize[i])
            pareto << tr("size");
        if (byLatency[i])
            pareto << tr("latency");
        QList<QStandardItem *> row{
            item(QString::fromStdString(pv.variant.name), false),
            item(QString::fromStdString(pv.origin), false),
            item(QString::fromStdString(cw::variantSummary(pv)), false),
            item(q.kind == cw::QualityKind::None ? QStringLiteral("—")
                                                 : QStringLiteral("%1 %2").arg(formatPercent(q.value),
                                                                               q.kind == cw::QualityKind::Accuracy
                                                                                   ? QString()
                                                                                   : tr("(%1)").arg(QString::fromStdString(
                                                                                         cw::qualityName(q.kind))))),
            item(cw::qualityDrop(base, m) ? QString::number(*cw::qualityDrop(base, m), 'f', 2) + tr(" pt")
                                          : QStringLiteral("—")),
            item(measured && m.fileBytes > 0 ? formatBytes(m.fileBytes) : QStringLiteral("—")),
            item(measured && m.onnxBytes > 0 ? formatBytes(m.onnxBytes) : QStringLiteral("—")),
            item(measured && m.compressionRatio > 0 ? QString::number(m.compressionRatio, 'f', 2) + QStringLiteral("×")
                                                    : QStringLiteral("—")),
            item(formatMs(m.p50Batch1Ms)),
            item(m.batch64Skipped.empty() ? formatMs(m.p50Batch64Ms) : QStringLiteral("—")),
            item(measured && m.memoryBytes > 0 ? formatBytes(m.memoryBytes) : QStringLiteral("—")),
            item(measured && m.peakRssBytes > 0 ? formatBytes(m.peakRssBytes) : QStringLiteral("—")),
            item(pareto.isEmpty() ? QStringLiteral("—") : pareto.join(QStringLiteral(", ")), false),
            item(QStringLiteral("%1: %2").arg(QString::fromStdString(cw::verdictName(a.verdict)),
                                              QString::fromStdString(a.reason)),
                 false)};
        if (int(i) == m_recommendation.best)
            row[CName]->setText(row[CName]->text() + tr("  ★"));
        for (int c : {int(CRecipe), int(CVerdict)}) // the columns a narrow window cuts short
            row[c]->setToolTip(row[c]->text());
        for (QStandardItem *it : row)
            it->setBackground(verdictTint(a.verdict));
        if (!pareto.isEmpty()) {
            QFont f = row[CPareto]->font();
            f.setBold(true);
            row[CPareto]->setFont(f);
        }
        m_model->appendRow(row);
    }
    if (m_selected >= 0 && m_selected < m_model->rowCount())
        m_table->selectRow(m_selected);
    m_table->selectionModel()->blockSignals(false);
    m_table->resizeColumnsToContents();
    m_table->setColumnWidth(CRecipe, qMin(m_table->columnWidth(CRecipe), 160));

    const bool any = m_chart->pointCount() > 0;
    m_exportChart->setEnabled(any);
    m_copyChart->setEnabled(any);
    m_exportTable->setEnabled(!variants.empty());
}

bool CompareView::exportChart(const QString &path)
{
    QString error;
    const bool ok = saveChart(m_chart->plot(), path, &error);
    setStatus(ok ? tr("Saved %1").arg(QDir::toNativeSeparators(path)) : error, !ok);
    return ok;
}

bool CompareView::exportTable(const QString &path)
{
    const QString suffix = QFileInfo(path).suffix().toLower();
    QByteArray bytes;
    if (suffix == QLatin1String("json")) {
        if (!m_document->hasProject())
            return false;
        bytes = QByteArray::fromStdString(cw::projectToJson(*m_document->project())) + '\n';
    } else if (suffix == QLatin1String("csv")) {
        auto csv = [](QString s) {
            s.remove(QStringLiteral("  ★"));
            if (s.contains(QLatin1Char(',')) || s.contains(QLatin1Char('"')))
                s = QLatin1Char('"') + s.replace(QLatin1Char('"'), QStringLiteral("\"\"")) + QLatin1Char('"');
            return s;
        };
        QStringList header;
        for (int c = 0; c < ColumnCount; ++c)
            header << csv(m_model->headerData(c, Qt::Horizontal).toString());
        bytes += header.join(QLatin1Char(',')).toUtf8() + '\n';
        for (int r = 0; r < m_model->rowCount(); ++r) {
            QStringList cells;
            for (int c = 0; c < ColumnCount; ++c)
                cells << csv(m_model->item(r, c)->text());
            bytes += cells.join(QLatin1Char(',')).toUtf8() + '\n';
        }
    } else {
        setStatus(tr("the table exports as .csv or .json, not '%1'").arg(QFileInfo(path).fileName()), true);
        return false;
    }
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size() || !file.commit()) {
        setStatus(tr("could not write %1: %2").arg(path, file.errorString()), true);
        return false;
    }
    setStatus(tr("Saved %1").arg(QDir::toNativeSeparators(path)));
    return true;
}

void CompareView::copyChart()
{
    cw::ui::copyChart(m_chart->plot());
    setStatus(tr("The chart is on the clipboard."));
}

QString CompareView::statusText() const
{
    return m_status->text();
}

void CompareView::setStatus(const QString &text, bool error)
{
    m_status->setText(text);
    m_status->setStyleSheet(error ? QStringLiteral("color: #b00020;") : QString());
}

} // namespace cw::ui
