#include "ui/charts/histogramplot.h"

#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>
#include <cmath>

namespace cw::ui {

namespace {
const QColor kBarColor(70, 130, 180);        // steel blue
const QColor kLevelColor(230, 126, 34, 150); // orange, translucent: levels sit on top of the bars
const QColor kClipColor(200, 60, 30);        // dark orange-red
const QColor kPruneColor(235, 235, 235, 170); // grey wash: these weights become zero
const QColor kPruneEdge(90, 90, 90);

QCPItemStraightLine *verticalLine(QCustomPlot *plot, const QPen &pen)
{
    auto *line = new QCPItemStraightLine(plot);
    line->setLayer(QStringLiteral("lines"));
    line->setPen(pen);
    line->point1->setTypeX(QCPItemPosition::ptPlotCoords);
    line->point1->setTypeY(QCPItemPosition::ptAxisRectRatio);
    line->point2->setTypeX(QCPItemPosition::ptPlotCoords);
    line->point2->setTypeY(QCPItemPosition::ptAxisRectRatio);
    line->setSelectable(false);
    line->setVisible(false);
    return line;
}

void placeVertical(QCPItemStraightLine *line, double x)
{
    line->point1->setCoords(x, 0);
    line->point2->setCoords(x, 1);
    line->setVisible(true);
}
} // namespace

HistogramPlot::HistogramPlot(QWidget *parent) : QWidget(parent)
{
    m_plot = new QCustomPlot(this);
    m_plot->setObjectName(QStringLiteral("histogramCustomPlot"));
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_plot);
    setMinimumHeight(180);

    m_plot->setNoAntialiasingOnDrag(true);
    m_plot->xAxis->setLabel(tr("Weight value"));
    m_plot->yAxis->setLabel(tr("Count"));
    m_plot->yAxis->grid()->setSubGridVisible(false);
    m_plot->xAxis->grid()->setVisible(false);

    // The prune wash lies over the bars (translucent), so the bars that would be cut look greyed out.
    m_plot->addLayer(QStringLiteral("wash"), m_plot->layer(QStringLiteral("main")), QCustomPlot::limAbove);
    m_plot->addLayer(QStringLiteral("lines"), m_plot->layer(QStringLiteral("wash")), QCustomPlot::limAbove);

    m_bars = new QCPBars(m_plot->xAxis, m_plot->yAxis);
    m_bars->setName(tr("Weights"));
    m_bars->setPen(QPen(kBarColor.darker(120), 0.5));
    m_bars->setBrush(kBarColor);
    m_bars->setWidthType(QCPBars::wtPlotCoords);

    m_pruneRect = new QCPItemRect(m_plot);
    m_pruneRect->setLayer(QStringLiteral("wash"));
    m_pruneRect->setPen(Qt::NoPen);
    m_pruneRect->setBrush(QBrush(kPruneColor));
    m_pruneRect->topLeft->setTypeY(QCPItemPosition::ptAxisRectRatio);
    m_pruneRect->bottomRight->setTypeY(QCPItemPosition::ptAxisRectRatio);
    m_pruneRect->setVisible(false);
    m_pruneLo = verticalLine(m_plot, QPen(kPruneEdge, 1.5, Qt::DashLine));
    m_pruneHi = verticalLine(m_plot, QPen(kPruneEdge, 1.5, Qt::DashLine));
    m_clipLo = verticalLine(m_plot, QPen(kClipColor, 2.5));
    m_clipHi = verticalLine(m_plot, QPen(kClipColor, 2.5));

    m_title = new QCPItemText(m_plot);
    m_title->setLayer(QStringLiteral("legend")); // above the overlays
    m_title->setPositionAlignment(Qt::AlignRight | Qt::AlignTop);
    m_title->position->setType(QCPItemPosition::ptAxisRectRatio);
    m_title->position->setCoords(0.99, 0.02);
    m_title->setTextAlignment(Qt::AlignRight);
    m_title->setBrush(QColor(255, 255, 255, 210));
    m_title->setPadding(QMargins(4, 2, 4, 2));
    m_title->setText(QString());

    m_notice = new QCPItemText(m_plot);
    m_notice->setLayer(QStringLiteral("legend"));
    m_notice->setPositionAlignment(Qt::AlignLeft | Qt::AlignTop);
    m_notice->position->setType(QCPItemPosition::ptAxisRectRatio);
    m_notice->position->setCoords(0.01, 0.02);
    m_notice->setColor(QColor(160, 30, 30));
    m_notice->setBrush(QColor(255, 240, 240, 230));
    m_notice->setPen(QPen(QColor(160, 30, 30)));
    m_notice->setPadding(QMargins(4, 2, 4, 2));
    m_notice->setVisible(false);
}

void HistogramPlot::setTitle(const QString &title)
{
    m_title->setText(title);
    m_title->setVisible(!title.isEmpty());
    rescale();
}

void HistogramPlot::setAxisLabels(const QString &x, const QString &y)
{
    m_plot->xAxis->setLabel(x);
    m_plot->yAxis->setLabel(y);
}

void HistogramPlot::setHistogram(const cw::Histogram &histogram)
{
    m_histogram = histogram;
    QVector<double> keys, values;
    const double w = histogram.binWidth();
    keys.reserve(int(histogram.counts.size()));
    values.reserve(int(histogram.counts.size()));
    for (size_t i = 0; i < histogram.counts.size(); ++i) {
        if (m_log && histogram.counts[i] == 0)
            continue; // an empty bin has no bar on a log axis
        keys << histogram.lo + (double(i) + 0.5) * w;
        values << double(histogram.counts[i]);
    }
    m_bars->setWidth(w > 0 ? w : 1.0);
    m_bars->setData(keys, values, true);
    rescale();
}

void HistogramPlot::clear()
{
    m_histogram = {};
    m_bars->data()->clear();
    clearQuantGrid();
    setPruneThreshold(0);
    setNotice(QString());
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

void HistogramPlot::setLogScale(bool log)
{
    if (m_log == log)
        return;
    m_log = log;
    if (log) {
        m_plot->yAxis->setScaleType(QCPAxis::stLogarithmic);
        m_plot->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
        m_plot->yAxis->setNumberFormat(QStringLiteral("eb"));
        m_plot->yAxis->setNumberPrecision(0);
        m_bars->setBaseValue(0.5);
    } else {
        m_plot->yAxis->setScaleType(QCPAxis::stLinear);
        m_plot->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
        m_plot->yAxis->setNumberFormat(QStringLiteral("gb"));
        m_plot->yAxis->setNumberPrecision(6);
        m_bars->setBaseValue(0);
    }
    setHistogram(m_histogram);
}

void HistogramPlot::rescale()
{
    double lo = m_histogram.lo, hi = m_histogram.hi;
    if (m_hasGrid) {
        lo = std::min(lo, m_gridLo);
        hi = std::max(hi, m_gridHi);
    }
    if (!(hi > lo)) {
        lo -= 0.5;
        hi += 0.5;
    }
    const double pad = 0.04 * (hi - lo);
    m_plot->xAxis->setRange(lo - pad, hi + pad);
    int64_t peak = 0;
    for (int64_t c : m_histogram.counts)
        peak = std::max(peak, c);
    if (m_log)
        m_plot->yAxis->setRange(0.5, std::max(10.0, double(peak) * 3.0));
    else
        m_plot->yAxis->setRange(0, std::max(1.0, double(peak) * (m_title->text().isEmpty() ? 1.08 : 1.3))); // headroom for the title
    updateOverlays();
}

void HistogramPlot::setQuantGrid(const std::vector<double> &levels, double lo, double hi)
{
    m_levels = levels;
    m_gridLo = lo;
    m_gridHi = hi;
    m_hasGrid = true;
    rescale();
}

void HistogramPlot::clearQuantGrid()
{
    m_levels.clear();
    m_hasGrid = false;
    rescale();
}

void HistogramPlot::setPruneThreshold(double t)
{
    m_threshold = t > 0 && std::isfinite(t) ? t : 0;
    updateOverlays();
}

void HistogramPlot::setNotice(const QString &text)
{
    m_notice->setText(text);
    m_notice->setVisible(!text.isEmpty());
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

QString HistogramPlot::notice() const
{
    return m_notice->visible() ? m_notice->text() : QString();
}

bool HistogramPlot::clipLinesVisible() const
{
    return m_clipLo->visible() && m_clipHi->visible();
}

bool HistogramPlot::pruneRegionVisible() const
{
    return m_pruneRect->visible();
}

void HistogramPlot::updateOverlays()
{
    // Level lines: created on demand, reused.
    const bool drawLevels = m_hasGrid && !m_levels.empty() && int(m_levels.size()) <= kMaxLevelLines;
    const size_t needed = drawLevels ? m_levels.size() : 0;
    while (m_levelLines.size() < needed)
        m_levelLines.push_back(verticalLine(m_plot, QPen(kLevelColor, 1.0)));
    for (size_t i = 0; i < m_levelLines.size(); ++i) {
        if (i < needed)
            placeVertical(m_levelLines[i], m_levels[i]);
        else
            m_levelLines[i]->setVisible(false);
    }
    m_levelLinesShown = int(needed);

    if (m_hasGrid) {
        placeVertical(m_clipLo, m_gridLo);
        placeVertical(m_clipHi, m_gridHi);
    } else {
        m_clipLo->setVisible(false);
        m_clipHi->setVisible(false);
    }

    if (m_threshold > 0) {
        m_pruneRect->topLeft->setCoords(-m_threshold, 0);
        m_pruneRect->bottomRight->setCoords(m_threshold, 1);
        m_pruneRect->setVisible(true);
        placeVertical(m_pruneLo, -m_threshold);
        placeVertical(m_pruneHi, m_threshold);
    } else {
        m_pruneRect->setVisible(false);
        m_pruneLo->setVisible(false);
        m_pruneHi->setVisible(false);
    }
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

} // namespace cw::ui
