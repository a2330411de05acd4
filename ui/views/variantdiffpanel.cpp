#include "ui/views/variantdiffpanel.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QSplitter>
#include <QStandardItemModel>
#include <QTableView>
#include <QVBoxLayout>

#include <algorithm>

#include "core/analysis/stats.h"
#include "core/base/error.h"
#include "ui/charts/histogramplot.h"
#include "ui/formatting.h"
#include "ui/projectdocument.h"
#include "ui/rowtable.h"

namespace cw::ui {

namespace {
constexpr int kBins = 128;
} // namespace

VariantDiffPanel::VariantDiffPanel(ProjectDocument *document, QWidget *parent) : QWidget(parent), m_document(document)
{
    setObjectName(QStringLiteral("variantDiff"));
    m_a = new QComboBox;
    m_a->setObjectName(QStringLiteral("diffA"));
    m_b = new QComboBox;
    m_b->setObjectName(QStringLiteral("diffB"));
    for (QComboBox *c : {m_a, m_b}) {
        c->setSizeAdjustPolicy(QComboBox::AdjustToContents);
        c->setMinimumContentsLength(12);
        connect(c, &QComboBox::currentIndexChanged, this, [this]() {
            if (m_filling)
                return;
            m_stale = true;
            refresh();
        });
    }
    m_summary = new QLabel;
    m_summary->setObjectName(QStringLiteral("diffSummary"));
    m_summary->setWordWrap(true);

    m_model = new QStandardItemModel(0, ColumnCount, this);
    m_model->setHorizontalHeaderLabels({tr("Layer"), tr("Op"), tr("A"), tr("A SQNR"), tr("A bytes"), tr("B"),
                                        tr("B SQNR"), tr("B bytes")});
    m_table = newRowTable(QStringLiteral("diffTable"), m_model);
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->setToolTip(tr("Each layer as the two recipes set it, and its weight's SQNR against the base (BatchNorm "
                           "folded), measured on the weights. Bold: A and B differ."));
    connect(m_table->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            [this](const QModelIndex &current) { showLayer(current.row()); });

    m_histogram = new HistogramPlot;
    m_histogram->setObjectName(QStringLiteral("diffHistogram"));

    auto *sides = new QHBoxLayout;
    sides->addWidget(new QLabel(tr("<b>A</b>")));
    sides->addWidget(m_a);
    sides->addWidget(new QLabel(tr("<b>B</b>")));
    sides->addWidget(m_b);
    sides->addWidget(m_summary, 1);

    // Table above, histogram below: both get the tab's full width (a layer table is wide, a histogram too).
    auto *split = new QSplitter(Qt::Vertical);
    split->setObjectName(QStringLiteral("diffSplitter"));
    split->addWidget(m_table);
    split->addWidget(m_histogram);
    split->setStretchFactor(0, 2);
    split->setStretchFactor(1, 3);
    split->setChildrenCollapsible(false);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 4, 0, 0);
    layout->addLayout(sides);
    layout->addWidget(split, 1);

    // The sides offered change with the variants; fillCombos picks the sides again, which recomputes.
    connect(m_document, &ProjectDocument::projectReset, this, &VariantDiffPanel::fillCombos);
    for (auto signal : {&ProjectDocument::variantAdded, &ProjectDocument::variantRemoved})
        connect(m_document, signal, this, &VariantDiffPanel::fillCombos);
    fillCombos();
}

void VariantDiffPanel::fillCombos()
{
    const int a = sideA(), b = sideB();
    m_filling = true;
    for (QComboBox *c : {m_a, m_b}) {
        c->clear();
        if (!m_document->hasProject())
            continue;
        c->addItem(tr("Base model"), -1);
        for (int i = 0; i < m_document->variantCount(); ++i)
            c->addItem(QString::fromStdString(m_document->variants()[size_t(i)].variant.name), i);
    }
    m_filling = false;
    // The first variant against the base, unless sides were chosen that still exist.
    setSides(a, b >= 0 && b < m_document->variantCount() ? b : (m_document->variantCount() > 0 ? 0 : -1));
}

void VariantDiffPanel::setSides(int a, int b)
{
    const auto pick = [this](QComboBox *c, int which) {
        const int row = c->findData(which);
        c->setCurrentIndex(row >= 0 ? row : 0);
    };
    m_filling = true;
    pick(m_a, a);
    pick(m_b, b);
    m_filling = false;
    m_stale = true;
    refresh();
}

int VariantDiffPanel::sideA() const
{
    return m_a->currentIndex() >= 0 ? m_a->currentData().toInt() : -1;
}

int VariantDiffPanel::sideB() const
{
    return m_b->currentIndex() >= 0 ? m_b->currentData().toInt() : -1;
}

QString VariantDiffPanel::summaryText() const
{
    return m_summary->text();
}

void VariantDiffPanel::showEvent(QShowEvent *event)
{
    QWidget::showEvent(event);
    refresh();
}

void VariantDiffPanel::refresh()
{
    // The comparison reads every weight of two models: done when the page is seen, not on every change behind it.
    if (!m_stale || !isVisible())
        return;
    m_stale = false;
    const QString layer = m_table->currentIndex().isValid()
                              ? m_model->item(m_table->currentIndex().row(), CLayer)->text()
                              : QString();
    m_rows.clear();
    m_model->removeRows(0, m_model->rowCount());
    m_histogram->clear();
    const cw::Project *p = m_document->project();
    if (!p) {
        m_summary->setText(tr("Open or create a project to compare its variants."));
        return;
    }
    try {
        m_rows = cw::compareLayers(*p, sideA(), sideB());
    } catch (const cw::Error &e) {
        m_summary->setText(tr("<span style='color:#a01e1e'>%1</span>").arg(QString::fromUtf8(e.what()).toHtmlEscaped()));
        return;
    }
    const auto sqnr = [](const cw::LayerSide &s, int which) {
        if (!s.present)
            return tr("absent");
        if (which < 0)
            return tr("reference"); // the base: what the errors are measured against
        return s.error ? formatDb(s.error->sqnrDb) : tr("shape %1").arg(formatShape(s.shape));
    };
    int differing = 0;
    for (const cw::LayerComparison &r : m_rows) {
        QList<QStandardItem *> items;
        const auto cell = [&](const QString &text, bool right = false) {
            auto *item = new QStandardItem(text);
            if (right)
                item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
            QFont f = item->font();
            f.setBold(r.differs);
            item->setFont(f);
            items << item;
        };
        const auto zeros = [](const cw::LayerSide &s) {
            return s.present && s.zeroFraction > 0.005 ? tr(" · %1 zeros").arg(formatPercent(s.zeroFraction, 0)) : QString();
        };
        cell(QString::fromStdString(r.layer));
        cell(QString::fromStdString(r.op));
        cell(QString::fromStdString(r.a.settings) + zeros(r.a));
        cell(sqnr(r.a, sideA()), true);
        cell(r.a.present ? formatBytes(r.a.storedBytes) : QStringLiteral("—"), true);
        cell(QString::fromStdString(r.b.settings) + zeros(r.b));
        cell(sqnr(r.b, sideB()), true);
        cell(r.b.present ? formatBytes(r.b.storedBytes) : QStringLiteral("—"), true);
        m_model->appendRow(items);
        differing += r.differs;
    }
    m_table->resizeColumnsToContents();
    m_summary->setText(tr("%n layer(s) differ", nullptr, differing) + tr(" of %1").arg(m_rows.size()));
    if (!m_rows.empty() && !selectLayer(layer))
        m_table->selectRow(0);
}

bool VariantDiffPanel::selectLayer(const QString &layer)
{
    for (int row = 0; row < int(m_rows.size()); ++row)
        if (QString::fromStdString(m_rows[size_t(row)].layer) == layer) {
            m_table->selectRow(row);
            showLayer(row);
            return true;
        }
    return false;
}

void VariantDiffPanel::showLayer(int row)
{
    const cw::Project *p = m_document->project();
    if (!p || row < 0 || row >= int(m_rows.size())) {
        m_histogram->clear();
        return;
    }
    const std::string &layer = m_rows[size_t(row)].layer;
    const cw::Tensor a = cw::layerWeightValues(*p, sideA(), layer), b = cw::layerWeightValues(*p, sideB(), layer);
    if (a.isNull() && b.isNull()) {
        m_histogram->clear();
        return;
    }
    // One range for both, so the bins line up.
    double lo = 0, hi = 0;
    bool first = true;
    for (const cw::Tensor *t : {&a, &b}) {
        if (t->isNull() || t->numel() == 0)
            continue;
        const cw::TensorStats s = cw::computeTensorStats(t->f32(), t->numel());
        if (s.count == 0)
            continue;
        lo = first ? s.min : std::min(lo, s.min);
        hi = first ? s.max : std::max(hi, s.max);
        first = false;
    }
    if (!(hi > lo)) { // constant weights: a unit-wide range around the value
        lo -= 0.5;
        hi += 0.5;
    }
    const auto histogram = [&](const cw::Tensor &t) {
        return t.isNull() ? cw::Histogram{} : cw::computeHistogram(t.f32(), t.numel(), kBins, lo, hi);
    };
    m_histogram->setSeriesNames(tr("A: %1").arg(m_a->currentText()), tr("B: %1").arg(m_b->currentText()));
    m_histogram->setHistogram(histogram(a));
    if (b.isNull())
        m_histogram->clearResult();
    else
        m_histogram->setResult(histogram(b));
    m_histogram->setTitle(QString::fromStdString(layer));
}

} // namespace cw::ui
