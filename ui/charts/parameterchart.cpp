#include "ui/charts/parameterchart.h"

#include <QHBoxLayout>
#include <QScrollBar>
#include <QWheelEvent>

#include <qcustomplot.h>

#include <algorithm>
#include <cmath>

#include "ui/charts/chartexport.h"
#include "ui/formatting.h"

namespace cw::ui {

namespace {

// Parameter counts span 10 to 10^8; "120k" and "1.2M" read better than "1.2·10^5".
class CompactCountTicker : public QCPAxisTicker {
protected:
    QString getTickLabel(double tick, const QLocale &, QChar, int) override
    {
        const double a = std::abs(tick);
        if (a >= 1e9)
            return QString::number(tick / 1e9, 'g', 3) + QStringLiteral("G");
        if (a >= 1e6)
            return QString::number(tick / 1e6, 'g', 3) + QStringLiteral("M");
        if (a >= 1e3)
            return QString::number(tick / 1e3, 'g', 3) + QStringLiteral("k");
        return QString::number(tick, 'g', 4);
    }
};

const QColor kBarColor(64, 120, 180);
const QColor kSelectedColor(232, 126, 36);
// The chart's height that is not bar rows: the title, the horizontal axis with its label, the margins.
constexpr int kFramePixels = 72;

} // namespace

ParameterChart::ParameterChart(QWidget *parent)
    : QWidget(parent), m_plot(new QCustomPlot(this)), m_scroll(new QScrollBar(Qt::Vertical, this))
{
    enableChartExport(m_plot, QStringLiteral("parameters"));
    auto *layout = new QHBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(0);
    layout->addWidget(m_plot, 1);
    layout->addWidget(m_scroll);
    m_scroll->setObjectName(QStringLiteral("parameterScroll"));
    m_scroll->setToolTip(tr("More layers: scroll, or turn the mouse wheel over the chart"));
    m_scroll->hide();
    connect(m_scroll, &QScrollBar::valueChanged, this, [this]() { showWindow(); });

    m_plot->setObjectName(QStringLiteral("parameterPlot"));
    m_plot->setBackground(palette().base());
    m_plot->setInteractions(QCP::iSelectPlottables);
    m_plot->setNoAntialiasingOnDrag(true);

    auto *title = new QCPTextElement(m_plot, tr("Parameters per layer"), QFont(font().family(), font().pointSize() + 1, QFont::Bold));
    m_plot->plotLayout()->insertRow(0);
    m_plot->plotLayout()->addElement(0, 0, title);

    // Horizontal bars: layers along the vertical (key) axis, parameter counts along the horizontal one.
    m_bars = new QCPBars(m_plot->yAxis, m_plot->xAxis);
    m_bars->setWidth(0.6);
    m_bars->setPen(QPen(kBarColor.darker(120)));
    m_bars->setBrush(kBarColor);
    m_bars->setSelectable(QCP::stSingleData);
    auto *decorator = new QCPSelectionDecorator;
    decorator->setPen(QPen(kSelectedColor.darker(130), 1.5));
    decorator->setBrush(kSelectedColor);
    m_bars->setSelectionDecorator(decorator);

    m_plot->yAxis->setRangeReversed(true); // first layer at the top, like the table
    m_plot->yAxis->setTickLength(0, 3);
    m_plot->yAxis->grid()->setVisible(false);
    m_plot->xAxis->setLabel(tr("Parameters"));
    m_plot->xAxis->setTicker(QSharedPointer<CompactCountTicker>::create());
    m_plot->xAxis->grid()->setPen(QPen(QColor(0, 0, 0, 30), 1, Qt::DotLine));
    m_plot->xAxis2->setVisible(false);
    m_plot->yAxis2->setVisible(false);

    connect(m_plot, &QCustomPlot::plottableClick, this,
            [this](QCPAbstractPlottable *plottable, int dataIndex, QMouseEvent *) {
                if (plottable == m_bars)
                    onPlottableClick(dataIndex);
            });
    // QCustomPlot clears the selection on a click into empty space; keep showing the table's selection.
    connect(m_plot, &QCustomPlot::selectionChangedByUser, this, [this]() { setSelectedRow(m_selectedRow); });
    // Three rows per notch of the wheel, as in a list.
    connect(m_plot, &QCustomPlot::mouseWheel, this, [this](QWheelEvent *event) {
        if (m_scroll->isVisible())
            m_scroll->setValue(m_scroll->value() - event->angleDelta().y() / 40);
    });

    m_emptyHint = new QCPItemText(m_plot);
    m_emptyHint->position->setType(QCPItemPosition::ptAxisRectRatio);
    m_emptyHint->position->setCoords(0.5, 0.5);
    m_emptyHint->setPositionAlignment(Qt::AlignCenter);
    m_emptyHint->setColor(palette().color(QPalette::Disabled, QPalette::Text));
    m_emptyHint->setText(tr("No layers with parameters"));

    setMinimumHeight(180);
    setLayers({});
}

void ParameterChart::setLayers(const std::vector<cw::LayerInfo> &layers)
{
    m_barRows.clear();
    QVector<double> keys, values;
    auto ticker = QSharedPointer<QCPAxisTickerText>::create();
    double maxValue = 0;
    for (size_t i = 0; i < layers.size(); ++i) {
        // A node whose only parameter is a one-element constant (tf2onnx's Max(x, c) after every activation, a
        // Mul by a scalar) is an operation, not a layer: a bar of 1 would only crowd the chart. So is the
        // QuantizeLinear or DequantizeLinear of an activation in an int8 model, whose parameters are its scale and
        // zero point (a quantized weight's own DequantizeLinear is part of its layer, cw::Model::layers()).
        if (layers[i].params <= 1 || layers[i].opType == "QuantizeLinear" || layers[i].opType == "DequantizeLinear")
            continue;
        const double key = double(m_barRows.size() + 1);
        m_barRows.push_back(int(i));
        keys << key;
        values << double(layers[i].params);
        maxValue = std::max(maxValue, double(layers[i].params));
        QString label = QString::fromStdString(layers[i].name);
        if (label.size() > 28)
            label = label.left(12) + QStringLiteral("…") + label.right(14);
        ticker->addTick(key, label);
    }
    m_bars->setData(keys, values, true);

    // Value labels beside the bars: the spread is often 1000:1, so small layers need a number to be seen.
    for (QCPItemText *label : std::as_const(m_labels))
        m_plot->removeItem(label);
    m_labels.clear();
    double total = 0;
    for (double v : std::as_const(values))
        total += v;
    QFont labelFont = font();
    labelFont.setPointSizeF(std::max(6.0, labelFont.pointSizeF() - 1));
    for (int i = 0; i < keys.size(); ++i) {
        auto *label = new QCPItemText(m_plot);
        label->setClipToAxisRect(false);
        label->setPositionAlignment(Qt::AlignLeft | Qt::AlignVCenter);
        label->position->setType(QCPItemPosition::ptPlotCoords);
        label->position->setAxes(m_plot->xAxis, m_plot->yAxis);
        label->position->setCoords(values[i], keys[i]);
        label->setPadding(QMargins(4, 0, 0, 0));
        label->setFont(labelFont);
        label->setColor(QColor(60, 60, 60));
        label->setText(QStringLiteral("%1  (%2)").arg(formatCount(int64_t(values[i])), formatPercent(values[i] / total, 1)));
        m_labels << label;
    }
    m_plot->yAxis->setTicker(ticker);
    m_plot->xAxis->setRange(0, maxValue > 0 ? maxValue * 1.3 : 1); // room for the largest bar's label
    m_selectedRow = -1;
    m_bars->setSelection(QCPDataSelection());
    // An empty chart says why instead of showing a bare 0..1 axis.
    m_emptyHint->setVisible(m_barRows.empty());
    m_plot->xAxis->setTickLabels(!m_barRows.empty());
    const QSignalBlocker block(m_scroll);
    m_scroll->setValue(0);
    showWindow();
}

int ParameterChart::shownBars() const
{
    const int fit = std::max(4, (height() - kFramePixels) / kRowPixels);
    return std::min(int(m_barRows.size()), fit);
}

int ParameterChart::firstShownBar() const
{
    return std::clamp(m_scroll->value(), 0, int(m_barRows.size()) - shownBars());
}

void ParameterChart::showWindow()
{
    const int bars = int(m_barRows.size()), shown = shownBars();
    {
        const QSignalBlocker block(m_scroll);
        m_scroll->setRange(0, bars - shown);
        m_scroll->setPageStep(std::max(1, shown));
        m_scroll->setVisible(shown < bars);
    }
    const int first = firstShownBar();
    m_plot->yAxis->setRange(first + 0.4, first + std::max(shown, 1) + 0.6);
    // Bar keys are 1-based; the value labels are drawn outside the axis rect too, so only the window's are shown.
    for (int i = 0; i < m_labels.size(); ++i)
        m_labels[i]->setVisible(i >= first && i < first + shown);
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

void ParameterChart::resizeEvent(QResizeEvent *event)
{
    QWidget::resizeEvent(event);
    showWindow();
}

int ParameterChart::barForRow(int row) const
{
    for (size_t i = 0; i < m_barRows.size(); ++i)
        if (m_barRows[i] == row)
            return int(i);
    return -1;
}

void ParameterChart::setSelectedRow(int row)
{
    m_selectedRow = row;
    const int bar = barForRow(row);
    m_bars->setSelection(bar >= 0 ? QCPDataSelection(QCPDataRange(bar, bar + 1)) : QCPDataSelection());
    const int first = firstShownBar(), shown = shownBars();
    if (bar >= 0 && (bar < first || bar >= first + shown))
        m_scroll->setValue(bar - shown / 2); // centred; showWindow() follows
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

void ParameterChart::onPlottableClick(int dataIndex)
{
    if (dataIndex < 0 || dataIndex >= int(m_barRows.size()))
        return;
    const int row = m_barRows[size_t(dataIndex)];
    setSelectedRow(row);
    emit layerClicked(row);
}

} // namespace cw::ui
