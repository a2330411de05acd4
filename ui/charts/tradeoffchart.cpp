#include "ui/charts/tradeoffchart.h"

#include <QToolTip>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include "ui/charts/chartexport.h"
#include "ui/formatting.h"

#include <algorithm>
#include <cmath>

namespace cw::ui {

namespace {

QColor verdictColor(cw::Verdict v)
{
    switch (v) {
    case cw::Verdict::Green: return QColor(0x2e, 0x7d, 0x32);
    case cw::Verdict::Amber: return QColor(0xef, 0x8f, 0x00);
    case cw::Verdict::Red: return QColor(0xc6, 0x28, 0x28);
    }
    return Qt::black;
}

QCPGraph *scatter(QCustomPlot *plot, const QString &name, QCPScatterStyle style)
{
    QCPGraph *g = plot->addGraph();
    g->setName(name);
    g->setLineStyle(QCPGraph::lsNone);
    g->setScatterStyle(style);
    return g;
}

} // namespace

TradeoffChart::TradeoffChart(QWidget *parent) : QWidget(parent)
{
    m_plot = new QCustomPlot(this);
    enableChartExport(m_plot, QStringLiteral("tradeoff"));
    m_plot->setObjectName(QStringLiteral("tradeoffPlot"));
    m_plot->setMinimumHeight(220);
    // The legend in a row of its own under the chart, where it hides no point.
    m_plot->legend->setVisible(true);
    m_plot->legend->setFont(font());
    m_plot->legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
    m_plot->legend->setWrap(6);
    m_plot->legend->setBorderPen(Qt::NoPen);
    m_plot->axisRect()->insetLayout()->take(m_plot->legend);
    placeLegend(false); // until there is something to explain
    m_plot->setMouseTracking(true);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_plot);
    connect(m_plot, &QCustomPlot::afterLayout, this, &TradeoffChart::placeLabels);
    connect(m_plot, &QCustomPlot::mouseMove, this, [this](QMouseEvent *event) {
        const int index = variantAt(event->pos());
        if (index >= 0)
            QToolTip::showText(event->globalPosition().toPoint(), m_points[size_t(index)]->details, m_plot);
        else
            QToolTip::hideText();
    });
    connect(m_plot, &QCustomPlot::mousePress, this, [this](QMouseEvent *event) {
        const int index = variantAt(event->pos());
        if (index >= 0)
            emit variantClicked(index);
    });
}

void TradeoffChart::setShowLegend(bool show)
{
    m_showLegend = show;
    placeLegend(show && m_plot->graphCount() > 0);
}

void TradeoffChart::placeLegend(bool show)
{
    // In its row under the chart, or out of the layout altogether: an empty legend left in the grid squeezes the
    // axes into a sliver.
    QCPLayoutGrid *layout = m_plot->plotLayout();
    const bool placed = layout->hasElement(1, 0) && layout->element(1, 0) == m_plot->legend;
    if (show && !placed) {
        layout->addElement(1, 0, m_plot->legend);
        layout->setRowStretchFactor(1, 0.001);
    } else if (!show && placed) {
        layout->take(m_plot->legend);
        layout->simplify();
    }
    m_plot->legend->setVisible(show);
}

int TradeoffChart::pointCount() const
{
    return int(std::count_if(m_points.begin(), m_points.end(), [](const auto &p) { return p.has_value(); }));
}

int TradeoffChart::variantAt(const QPoint &pos) const
{
    int best = -1;
    double bestDistance = 10; // pixels
    for (size_t i = 0; i < m_points.size(); ++i) {
        if (!m_points[i])
            continue;
        const double x = m_plot->xAxis->coordToPixel(axisValue(m_points[i]->cost));
        const double y = m_plot->yAxis->coordToPixel(m_points[i]->quality * 100.0);
        const double d = std::hypot(x - pos.x(), y - pos.y());
        if (d < bestDistance) {
            bestDistance = d;
            best = int(i);
        }
    }
    return best;
}

void TradeoffChart::showProject(const cw::Project *project, cw::Cost cost, int selected)
{
    static const cw::Project none;
    const std::vector<cw::ProjectVariant> &variants = project ? project->variants : none.variants;
    const cw::ProjectComparison comparison = cw::compareProject(project ? *project : none);
    const std::vector<const cw::VariantMetrics *> &metrics = comparison.metrics;
    const cw::VariantMetrics &base = comparison.base;
    const cw::Recommendation &rec = comparison.recommendation;
    const std::vector<bool> frontier = comparison.frontier(cost);
    const cw::QualityKind kind = comparison.kind;
    std::vector<std::optional<Point>> points(variants.size());
    for (size_t i = 0; i < variants.size(); ++i) {
        const cw::VariantMetrics &m = *metrics[i];
        const auto c = cw::variantCost(m, cost);
        const cw::Quality q = cw::variantQuality(m);
        if (!c || q.kind == cw::QualityKind::None)
            continue;
        Point p;
        p.name = QString::fromStdString(variants[i].variant.name);
        p.cost = *c;
        p.quality = q.value;
        p.verdict = rec.assessments[i].verdict;
        p.frontier = frontier[i];
        p.details = tr("<b>%1</b><br>%2 %3 · %4 · batch 1 %5 ms<br>%6: %7")
                        .arg(p.name.toHtmlEscaped(), QString::fromStdString(cw::qualityName(q.kind)),
                             formatPercent(q.value), formatBytes(m.fileBytes), formatMs(m.p50Batch1Ms),
                             QString::fromStdString(cw::verdictName(p.verdict)),
                             QString::fromStdString(rec.assessments[i].reason).toHtmlEscaped());
        points[i] = p;
    }
    std::optional<Point> basePoint;
    if (project && project->baseMetrics) {
        const auto c = cw::variantCost(base, cost);
        const cw::Quality q = cw::baseQuality(base, kind);
        if (c && q.kind != cw::QualityKind::None)
            basePoint = Point{tr("base"), *c, q.value, cw::Verdict::Green, false,
                              tr("<b>base model</b><br>%1 · batch 1 %2 ms")
                                  .arg(formatBytes(base.fileBytes), formatMs(base.p50Batch1Ms))};
    }
    setData(cost, kind == cw::QualityKind::None ? cw::QualityKind::Accuracy : kind, points, basePoint, rec.best,
            selected);
}

void TradeoffChart::setData(cw::Cost cost, cw::QualityKind quality, const std::vector<std::optional<Point>> &points,
                            const std::optional<Point> &base, int recommended, int selected)
{
    m_points = points;
    m_plot->clearGraphs();
    m_plot->clearItems();
    m_labels.clear();

    double maxCost = base ? base->cost : 0;
    for (const auto &p : points)
        if (p)
            maxCost = std::max(maxCost, p->cost);
    QString unit = QStringLiteral("ms");
    m_costScale = 1;
    if (cost == cw::Cost::FileBytes || cost == cw::Cost::PeakRss) {
        const bool mib = maxCost >= 4.0 * 1024 * 1024;
        m_costScale = mib ? 1024.0 * 1024 : 1024.0;
        unit = mib ? QStringLiteral("MiB") : QStringLiteral("KiB");
    }
    m_plot->xAxis->setLabel(tr("%1 (%2)").arg(QString::fromStdString(cw::costName(cost)), unit));
    m_plot->yAxis->setLabel(tr("%1 (%)").arg(QString::fromStdString(cw::qualityName(quality))));

    // The frontier first, under the points: a staircase through its members by cost.
    std::vector<const Point *> frontier;
    for (const auto &p : points)
        if (p && p->frontier)
            frontier.push_back(&*p);
    std::sort(frontier.begin(), frontier.end(), [](const Point *a, const Point *b) { return a->cost < b->cost; });
    if (!frontier.empty()) {
        QCPGraph *line = m_plot->addGraph();
        line->setName(tr("Pareto frontier"));
        line->setLineStyle(QCPGraph::lsStepLeft);
        line->setPen(QPen(QColor(0x15, 0x65, 0xc0), 1.5, Qt::DashLine));
        for (const Point *p : frontier)
            line->addData(axisValue(p->cost), p->quality * 100.0);
    }
    const QCPScatterStyle dot(QCPScatterStyle::ssDisc, 9);
    for (cw::Verdict v : {cw::Verdict::Green, cw::Verdict::Amber, cw::Verdict::Red}) {
        QCPGraph *g = nullptr;
        for (const auto &p : points) {
            if (!p || p->verdict != v)
                continue;
            if (!g) {
                QCPScatterStyle style = dot;
                style.setPen(QPen(verdictColor(v).darker(130)));
                style.setBrush(verdictColor(v));
                g = scatter(m_plot, tr("%1 variant").arg(QString::fromStdString(cw::verdictName(v))), style);
            }
            g->addData(axisValue(p->cost), p->quality * 100.0);
        }
    }
    if (base) {
        QCPScatterStyle style(QCPScatterStyle::ssDiamond, 12);
        style.setPen(QPen(Qt::darkGray, 1.5));
        style.setBrush(QColor(0xbd, 0xbd, 0xbd));
        scatter(m_plot, tr("base model"), style)->addData(axisValue(base->cost), base->quality * 100.0);
    }
    auto ring = [this](const Point &p, const QString &name, const QColor &color, double size) {
        QCPScatterStyle style(QCPScatterStyle::ssCircle, size);
        style.setPen(QPen(color, 2.5));
        scatter(m_plot, name, style)->addData(axisValue(p.cost), p.quality * 100.0);
    };
    if (recommended >= 0 && recommended < int(points.size()) && points[size_t(recommended)])
        ring(*points[size_t(recommended)], tr("recommended"), QColor(0x15, 0x65, 0xc0), 18);
    if (selected >= 0 && selected < int(points.size()) && points[size_t(selected)]) {
        ring(*points[size_t(selected)], tr("selected"), Qt::black, 24);
        m_plot->graph(m_plot->graphCount() - 1)->removeFromLegend();
    }

    if (m_plot->graphCount() == 0) { // nothing measured yet: empty axes and a word why
        placeLegend(false);
        m_plot->xAxis->setRange(0, 1);
        m_plot->yAxis->setRange(0, 100);
        auto *empty = new QCPItemText(m_plot);
        empty->position->setType(QCPItemPosition::ptAxisRectRatio);
        empty->position->setCoords(0.5, 0.5);
        empty->setText(tr("No measured variants yet"));
        empty->setColor(Qt::gray);
        m_plot->replot();
        return;
    }
    placeLegend(m_showLegend);
    m_plot->rescaleAxes();
    // Room around the points for the labels and the rings.
    const QCPRange x = m_plot->xAxis->range(), y = m_plot->yAxis->range();
    const double dx = std::max(x.size() * 0.12, std::abs(x.upper) * 0.05 + 1e-9);
    const double dy = std::max(y.size() * 0.15, 0.5);
    m_plot->xAxis->setRange(std::max(0.0, x.lower - dx), x.upper + dx * 1.8);
    m_plot->yAxis->setRange(y.lower - dy, y.upper + dy);

    // Names beside the points (placed in pixels on every layout: placeLabels).
    QFont labelFont = font();
    labelFont.setPointSizeF(labelFont.pointSizeF() * 0.85);
    auto label = [&](const Point &p) {
        auto *text = new QCPItemText(m_plot);
        text->position->setCoords(axisValue(p.cost), p.quality * 100.0);
        text->setText(p.name);
        text->setFont(labelFont);
        text->setClipToAxisRect(false);
        m_labels.push_back(text);
    };
    if (base)
        label(*base);
    for (const auto &p : points)
        if (p)
            label(*p);
    m_plot->replot();
}

void TradeoffChart::placeLabels()
{
    // Above right of its point, else in the first other corner where the name overlaps no name placed before it:
    // close points (two variants of about the same size) keep legible names.
    std::vector<QRect> placed;
    for (QCPItemText *text : m_labels) {
        const QPointF at = text->position->pixelPosition();
        const QFontMetrics metrics(text->font());
        const QSize size(metrics.horizontalAdvance(text->text()) + 2, metrics.height());
        const std::pair<Qt::Alignment, QPoint> corners[] = {
            {Qt::AlignLeft | Qt::AlignBottom, QPoint(7, -5 - size.height())},
            {Qt::AlignLeft | Qt::AlignTop, QPoint(7, 5)},
            {Qt::AlignRight | Qt::AlignBottom, QPoint(-7 - size.width(), -5 - size.height())},
            {Qt::AlignRight | Qt::AlignTop, QPoint(-7 - size.width(), 5)}};
        size_t choice = 0;
        for (size_t i = 0; i < std::size(corners); ++i) {
            const QRect r(at.toPoint() + corners[i].second, size);
            if (std::none_of(placed.begin(), placed.end(), [&](const QRect &o) { return o.intersects(r); })) {
                choice = i;
                break;
            }
        }
        placed.emplace_back(at.toPoint() + corners[choice].second, size);
        const Qt::Alignment align = corners[choice].first;
        text->setPositionAlignment(align);
        const bool left = align & Qt::AlignLeft, bottom = align & Qt::AlignBottom;
        text->setPadding(QMargins(left ? 7 : 0, bottom ? 0 : 5, left ? 0 : 7, bottom ? 5 : 0));
    }
}

} // namespace cw::ui
