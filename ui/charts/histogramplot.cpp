#include "ui/charts/histogramplot.h"

#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>
#include <cmath>

#include "ui/charts/chartexport.h"

namespace cw::ui {

namespace {
const QColor kBarColor(70, 130, 180);        // steel blue
const QColor kAfterColor(214, 39, 40, 190);  // red, slightly translucent: the result over the original
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
    enableChartExport(m_plot, QStringLiteral("histogram"));
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

    m_after = new QCPBars(m_plot->xAxis, m_plot->yAxis);
    m_after->setName(tr("After the what-if"));
    m_after->setPen(QPen(kAfterColor.darker(130), 0.5));
    m_after->setBrush(kAfterColor);
    m_after->setWidthType(QCPBars::wtPlotCoords);
    m_after->setVisible(false);
    m_plot->legend->setVisible(false);
    m_plot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);
    m_plot->legend->setBrush(QColor(255, 255, 255, 210));

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

    m_zeroNote = new QCPItemText(m_plot);
    m_zeroNote->setLayer(QStringLiteral("legend"));
    m_zeroNote->setPositionAlignment(Qt::AlignRight | Qt::AlignTop); // left of the zero bar: the title is right
    m_zeroNote->position->setTypeX(QCPItemPosition::ptPlotCoords);
    m_zeroNote->position->setTypeY(QCPItemPosition::ptAxisRectRatio);
    m_zeroNote->setColor(kAfterColor.darker(130));
    m_zeroNote->setBrush(QColor(255, 255, 255, 210));
    m_zeroNote->setPadding(QMargins(3, 1, 3, 1));
    m_zeroNote->setVisible(false);

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

namespace {
void fillBars(QCPBars *bars, const cw::Histogram &histogram, bool log, double widthShare)
{
    QVector<double> keys, values;
    const double w = histogram.binWidth();
    keys.reserve(int(histogram.counts.size()));
    values.reserve(int(histogram.counts.size()));
    for (size_t i = 0; i < histogram.counts.size(); ++i) {
        if (log && histogram.counts[i] == 0)
            continue; // an empty bin has no bar on a log axis
        keys << histogram.lo + (double(i) + 0.5) * w;
        values << double(histogram.counts[i]);
    }
    bars->setWidth(w > 0 ? w * widthShare : 1.0);
    bars->setData(keys, values, true);
}
} // namespace

void HistogramPlot::setHistogram(const cw::Histogram &histogram)
{
    m_histogram = histogram;
    fillBars(m_bars, histogram, m_log, 1.0);
    rescale();
}

void HistogramPlot::setResult(const cw::Histogram &after)
{
    m_result = after;
    // Narrower than the original's bars, so the original shows at both sides of each result bar.
    fillBars(m_after, after, m_log, 0.6);
    m_after->setVisible(true);
    m_plot->legend->setVisible(true);
    rescale();
}

void HistogramPlot::clearResult()
{
    if (!m_after->visible())
        return;
    m_result = {};
    m_after->data()->clear();
    m_after->setVisible(false);
    m_plot->legend->setVisible(false);
    rescale();
}

void HistogramPlot::setSeriesNames(const QString &histogram, const QString &result)
{
    m_bars->setName(histogram);
    m_after->setName(result);
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

bool HistogramPlot::resultVisible() const
{
    return m_after->visible();
}

void HistogramPlot::clear()
{
    m_histogram = {};
    m_bars->data()->clear();
    clearResult();
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
        m_after->setBaseValue(0.5);
    } else {
        m_plot->yAxis->setScaleType(QCPAxis::stLinear);
        m_plot->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
        m_plot->yAxis->setNumberFormat(QStringLiteral("gb"));
        m_plot->yAxis->setNumberPrecision(6);
        m_bars->setBaseValue(0);
        m_after->setBaseValue(0);
    }
    setHistogram(m_histogram);
    if (m_after->visible())
        setResult(m_result);
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
    // The result's bins count too, except the pruned weights' bin at zero: it would flatten everything else, so
    // it may run off the top, its count written there.
    int64_t zeros = 0;
    if (m_after->visible()) {
        const double w = m_result.binWidth();
        const int64_t zeroBin = m_threshold > 0 && w > 0 ? int64_t(std::floor((0.0 - m_result.lo) / w)) : -1;
        for (size_t i = 0; i < m_result.counts.size(); ++i) {
            if (int64_t(i) == zeroBin)
                zeros = m_result.counts[i];
            else
                peak = std::max(peak, m_result.counts[i]);
        }
    }
    if (m_log)
        m_plot->yAxis->setRange(0.5, std::max(10.0, double(peak) * 3.0));
    else
        m_plot->yAxis->setRange(0, std::max(1.0, double(peak) * (m_title->text().isEmpty() ? 1.08 : 1.3))); // headroom for the title
    const bool offTop = zeros > 0 && double(zeros) > m_plot->yAxis->range().upper;
    if (offTop) {
        m_zeroNote->position->setCoords(0, 0.02);
        m_zeroNote->setText(tr("%L1 at 0 ↑").arg(zeros));
    }
    m_zeroNote->setVisible(offTop);
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
    // The legend sits top-left, where the notice goes: it moves down while there is one.
    m_plot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignLeft | (text.isEmpty() ? Qt::AlignTop : Qt::AlignVCenter));
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
