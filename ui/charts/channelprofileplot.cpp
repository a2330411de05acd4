#include "ui/charts/channelprofileplot.h"

#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>
#include <cmath>

#include "ui/charts/chartexport.h"

namespace cw::ui {

namespace {
const QColor kBandColor(70, 130, 180);
const QColor kOutlierColor(200, 40, 30);
const QColor kTypicalColor(110, 110, 110);

QCPItemStraightLine *horizontalLine(QCustomPlot *plot)
{
    auto *line = new QCPItemStraightLine(plot);
    line->point1->setTypeX(QCPItemPosition::ptAxisRectRatio);
    line->point2->setTypeX(QCPItemPosition::ptAxisRectRatio);
    line->setSelectable(false);
    line->setVisible(false);
    return line;
}

void placeHorizontal(QCPItemStraightLine *line, double y, const QPen &pen)
{
    line->setPen(pen);
    line->point1->setCoords(0, y);
    line->point2->setCoords(1, y);
    line->setVisible(true);
}

// Channel i drawn as a step over [i - 0.5, i + 0.5]: the keys, with the outer half steps.
QVector<double> stepKeys(size_t n)
{
    QVector<double> keys;
    keys.reserve(qsizetype(n) + 2);
    keys << -0.5;
    for (size_t i = 0; i < n; ++i)
        keys << double(i);
    keys << double(n) - 0.5;
    return keys;
}

// The first n values as steps for stepKeys (NaN / Inf as 0, which QCustomPlot cannot draw).
QVector<double> stepValues(const std::vector<float> &v, size_t n)
{
    QVector<double> out;
    out.reserve(qsizetype(n) + 2);
    for (size_t i = 0; i < n; ++i)
        out << (std::isfinite(v[i]) ? double(v[i]) : 0.0);
    out.prepend(out.front());
    out << out.back();
    return out;
}

// The band's outline helps a few channels read as bars; over many it would hatch the fill.
QPen outline(size_t channels)
{
    return channels <= 64 ? QPen(kBandColor.darker(120), 1) : QPen(Qt::NoPen);
}
} // namespace

ChannelProfilePlot::ChannelProfilePlot(QWidget *parent) : QWidget(parent)
{
    m_plot = new QCustomPlot(this);
    enableChartExport(m_plot, QStringLiteral("channels"));
    m_plot->setObjectName(QStringLiteral("channelProfileCustomPlot"));
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_plot);
    setMinimumHeight(150);
    m_plot->setNoAntialiasingOnDrag(true);
    m_plot->xAxis->grid()->setVisible(false);
    m_plot->yAxis->grid()->setSubGridVisible(false);
    // Whole channel numbers, thinned out for wide matrices.
    auto ticker = QSharedPointer<QCPAxisTickerFixed>(new QCPAxisTickerFixed);
    ticker->setTickStep(1.0);
    ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
    m_plot->xAxis->setTicker(ticker);

    m_upper = m_plot->addGraph();
    m_lower = m_plot->addGraph();
    for (QCPGraph *g : {m_upper, m_lower}) {
        g->setLineStyle(QCPGraph::lsStepCenter);
        g->setPen(QPen(kBandColor.darker(120), 1));
        g->setSelectable(QCP::stNone);
    }
    m_outliers = m_plot->addGraph();
    m_outliers->setLineStyle(QCPGraph::lsNone);
    m_outliers->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, kOutlierColor, kOutlierColor.lighter(150), 6));
    m_outliers->setSelectable(QCP::stNone);
    m_highlight = m_plot->addGraph();
    m_highlight->setLineStyle(QCPGraph::lsNone);
    m_highlight->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QPen(Qt::black, 2), Qt::NoBrush, 13));
    m_highlight->setSelectable(QCP::stNone);
    m_lineA = horizontalLine(m_plot);
    m_lineB = horizontalLine(m_plot);
}

void ChannelProfilePlot::setAxisLabels(const QString &x, const QString &y)
{
    m_plot->xAxis->setLabel(x);
    m_plot->yAxis->setLabel(y);
}

void ChannelProfilePlot::resetItems()
{
    for (QCPItemText *label : m_labels)
        m_plot->removeItem(label);
    m_labels.clear();
    m_upper->data()->clear();
    m_lower->data()->clear();
    m_outliers->data()->clear();
    m_highlight->data()->clear();
    m_upper->setChannelFillGraph(nullptr);
    m_upper->setBrush(Qt::NoBrush);
    m_lineA->setVisible(false);
    m_lineB->setVisible(false);
    m_values.clear();
    m_channels = 0;
}

void ChannelProfilePlot::clear()
{
    resetItems();
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

void ChannelProfilePlot::setRanges(const std::vector<float> &lo, const std::vector<float> &hi)
{
    resetItems();
    const size_t n = std::min(lo.size(), hi.size());
    m_channels = int(n);
    if (n == 0) {
        m_plot->replot(QCustomPlot::rpQueuedReplot);
        return;
    }
    const QVector<double> keys = stepKeys(n);
    const QVector<double> top = stepValues(hi, n), bottom = stepValues(lo, n);
    m_upper->setData(keys, top, true);
    m_lower->setData(keys, bottom, true);
    m_upper->setPen(outline(n));
    m_lower->setPen(outline(n));
    m_upper->setBrush(QColor(kBandColor.red(), kBandColor.green(), kBandColor.blue(), 110));
    m_upper->setChannelFillGraph(m_lower);
    const double ymin = *std::min_element(bottom.begin(), bottom.end());
    const double ymax = *std::max_element(top.begin(), top.end());
    const QPen dashed(QColor(200, 60, 30, 170), 1.2, Qt::DashLine);
    placeHorizontal(m_lineA, ymin, dashed);
    placeHorizontal(m_lineB, ymax, dashed);
    const double pad = 0.08 * std::max(ymax - ymin, 1e-6);
    m_plot->yAxis->setRange(ymin - pad, ymax + pad);
    m_plot->xAxis->setRange(-0.5, double(n) - 0.5);
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

void ChannelProfilePlot::setMagnitudes(const std::vector<float> &absMax, double typical, double threshold,
                                       const std::vector<int64_t> &outliers)
{
    resetItems();
    m_values = absMax;
    m_channels = int(absMax.size());
    if (absMax.empty()) {
        m_plot->replot(QCustomPlot::rpQueuedReplot);
        return;
    }
    const QVector<double> values = stepValues(absMax, absMax.size());
    m_upper->setData(stepKeys(absMax.size()), values, true);
    m_upper->setPen(outline(absMax.size()));
    m_upper->setBrush(QColor(kBandColor.red(), kBandColor.green(), kBandColor.blue(), 110));
    QVector<double> ok, ov;
    for (int64_t c : outliers)
        if (c >= 0 && size_t(c) < absMax.size()) {
            ok << double(c);
            ov << values[qsizetype(c) + 1];
        }
    m_outliers->setData(ok, ov); // unsorted keys: QCustomPlot sorts them
    placeHorizontal(m_lineA, typical, QPen(kTypicalColor, 1.2, Qt::DashLine));
    placeHorizontal(m_lineB, threshold, QPen(kOutlierColor, 1.2, Qt::DashLine));
    const double peak = std::max(*std::max_element(values.begin(), values.end()), threshold);
    m_plot->yAxis->setRange(0, std::max(peak * 1.15, 1e-6));
    m_plot->xAxis->setRange(-0.5, double(absMax.size()) - 0.5);
    // The largest few outliers by index: the channels to look for in the activations.
    for (size_t i = 0; i < outliers.size() && int(i) < kLabelledOutliers; ++i) {
        const int64_t c = outliers[i];
        if (c < 0 || size_t(c) >= absMax.size())
            continue;
        auto *label = new QCPItemText(m_plot);
        label->setPositionAlignment(Qt::AlignHCenter | Qt::AlignBottom);
        label->position->setCoords(double(c), values[qsizetype(c) + 1]);
        label->setPadding(QMargins(2, 0, 2, 3));
        label->setColor(kOutlierColor.darker(130));
        label->setText(QString::number(c));
        label->setSelectable(false);
        m_labels.push_back(label);
    }
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

void ChannelProfilePlot::setHighlighted(int64_t channel)
{
    m_highlight->data()->clear();
    if (channel >= 0 && size_t(channel) < m_values.size())
        m_highlight->addData(double(channel), std::isfinite(m_values[size_t(channel)]) ? m_values[size_t(channel)] : 0.0);
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

int ChannelProfilePlot::markedOutliers() const
{
    return m_outliers->dataCount();
}

} // namespace cw::ui
