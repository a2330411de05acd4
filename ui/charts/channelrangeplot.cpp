#include "ui/charts/channelrangeplot.h"

#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>
#include <cmath>

#include "ui/charts/chartexport.h"

namespace cw::ui {

namespace {
const QColor kBoxColor(70, 130, 180);
const QColor kHighlightColor(200, 60, 30);

QCPItemStraightLine *horizontalLine(QCustomPlot *plot)
{
    auto *line = new QCPItemStraightLine(plot);
    line->setPen(QPen(QColor(200, 60, 30, 170), 1.2, Qt::DashLine));
    line->point1->setTypeX(QCPItemPosition::ptAxisRectRatio);
    line->point2->setTypeX(QCPItemPosition::ptAxisRectRatio);
    line->setVisible(false);
    return line;
}

double percentile(std::vector<float> &v, double q)
{
    if (v.empty())
        return 0;
    const size_t k = size_t(std::llround(q * double(v.size() - 1)));
    std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(k), v.end());
    return v[k];
}
} // namespace

std::vector<ChannelRange> computeChannelRanges(const std::vector<std::vector<float>> &channels)
{
    std::vector<ChannelRange> out(channels.size());
    for (size_t c = 0; c < channels.size(); ++c) {
        std::vector<float> v;
        v.reserve(channels[c].size());
        double sum = 0;
        for (float x : channels[c])
            if (std::isfinite(x)) {
                v.push_back(x);
                sum += x;
            }
        ChannelRange &r = out[c];
        if (v.empty())
            continue;
        const auto [mn, mx] = std::minmax_element(v.begin(), v.end());
        r.min = *mn;
        r.max = *mx;
        r.mean = sum / double(v.size());
        r.p01 = percentile(v, 0.01);
        r.p99 = percentile(v, 0.99);
    }
    return out;
}

ChannelRangePlot::ChannelRangePlot(QWidget *parent) : QWidget(parent)
{
    m_plot = new QCustomPlot(this);
    enableChartExport(m_plot, QStringLiteral("channel-ranges"));
    m_plot->setObjectName(QStringLiteral("channelRangeCustomPlot"));
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_plot);
    setMinimumHeight(160);

    m_plot->xAxis->setLabel(tr("Output channel"));
    m_plot->yAxis->setLabel(tr("Weight value"));
    m_plot->xAxis->grid()->setVisible(false);

    m_boxes = new QCPStatisticalBox(m_plot->xAxis, m_plot->yAxis);
    m_boxes->setName(tr("min–max, 1st–99th percentile, mean"));
    m_boxes->setBrush(QColor(kBoxColor.red(), kBoxColor.green(), kBoxColor.blue(), 110));
    m_boxes->setPen(QPen(kBoxColor.darker(130), 1));
    m_boxes->setWhiskerPen(QPen(kBoxColor.darker(130), 1, Qt::SolidLine));
    m_boxes->setWhiskerBarPen(QPen(kBoxColor.darker(130), 1));
    m_boxes->setMedianPen(QPen(Qt::black, 1.5));
    m_boxes->setWidth(0.7);
    m_boxes->setWhiskerWidth(0.4);
    m_boxes->setSelectable(QCP::stNone);

    m_highlight = new QCPStatisticalBox(m_plot->xAxis, m_plot->yAxis);
    m_highlight->setBrush(QColor(kHighlightColor.red(), kHighlightColor.green(), kHighlightColor.blue(), 140));
    m_highlight->setPen(QPen(kHighlightColor.darker(120), 1.2));
    m_highlight->setWhiskerPen(QPen(kHighlightColor.darker(120), 1.2, Qt::SolidLine));
    m_highlight->setWhiskerBarPen(QPen(kHighlightColor.darker(120), 1.2));
    m_highlight->setMedianPen(QPen(Qt::black, 1.5));
    m_highlight->setWidth(0.7);
    m_highlight->setWhiskerWidth(0.4);
    m_highlight->setSelectable(QCP::stNone);

    m_tensorLo = horizontalLine(m_plot);
    m_tensorHi = horizontalLine(m_plot);

    m_hint = new QCPItemText(m_plot);
    m_hint->setPositionAlignment(Qt::AlignRight | Qt::AlignTop);
    m_hint->position->setType(QCPItemPosition::ptAxisRectRatio);
    m_hint->position->setCoords(0.99, 0.02);
    m_hint->setBrush(QColor(255, 255, 255, 210));
    m_hint->setPadding(QMargins(4, 2, 4, 2));
    m_hint->setColor(QColor(120, 40, 20));
    m_hint->setText(tr("Per-channel ranges · dashed: per-tensor range"));
}

void ChannelRangePlot::setChannels(const std::vector<ChannelRange> &channels)
{
    m_channels = channels;
    m_boxes->data()->clear();
    double lo = 0, hi = 0;
    for (size_t c = 0; c < channels.size(); ++c) {
        const ChannelRange &r = channels[c];
        m_boxes->addData(double(c), r.min, r.p01, r.mean, r.p99, r.max);
        lo = c == 0 ? r.min : std::min(lo, r.min);
        hi = c == 0 ? r.max : std::max(hi, r.max);
    }
    const bool any = !channels.empty();
    m_tensorLo->setVisible(any);
    m_tensorHi->setVisible(any);
    m_hint->setVisible(false); // the view explains the plot in a caption above it
    if (any) {
        m_tensorLo->point1->setCoords(0, lo);
        m_tensorLo->point2->setCoords(1, lo);
        m_tensorHi->point1->setCoords(0, hi);
        m_tensorHi->point2->setCoords(1, hi);
        const double pad = 0.08 * std::max(hi - lo, 1e-6);
        m_plot->yAxis->setRange(lo - pad, hi + 2.5 * pad);
        m_plot->xAxis->setRange(-0.8, double(channels.size()) - 0.2);
        // Integer channel ticks, thinned out for wide layers.
        auto ticker = QSharedPointer<QCPAxisTickerFixed>(new QCPAxisTickerFixed);
        ticker->setTickStep(1.0);
        ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
        m_plot->xAxis->setTicker(ticker);
    }
    setHighlightedChannel(m_highlighted < int(channels.size()) ? m_highlighted : -1);
}

void ChannelRangePlot::setHighlightedChannel(int channel)
{
    m_highlighted = channel;
    m_highlight->data()->clear();
    if (channel >= 0 && channel < int(m_channels.size())) {
        const ChannelRange &r = m_channels[size_t(channel)];
        m_highlight->addData(double(channel), r.min, r.p01, r.mean, r.p99, r.max);
    }
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

} // namespace cw::ui
