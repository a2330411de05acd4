#include "ui/charts/heatmap.h"

#include <qcustomplot.h>

#include <algorithm>
#include <cmath>

namespace cw::ui {

Heatmap setUpHeatmap(QCustomPlot *plot, const QString &title, const QString &scaleLabel)
{
    Heatmap h;
    plot->setBackground(plot->palette().base());
    plot->plotLayout()->insertRow(0);
    const QFont font = plot->font();
    h.title = new QCPTextElement(plot, title, QFont(font.family(), font.pointSize() + 1, QFont::Bold));
    plot->plotLayout()->addElement(0, 0, h.title);
    h.map = new QCPColorMap(plot->xAxis, plot->yAxis);
    h.map->setInterpolate(false);
    h.map->setTightBoundary(false); // cells centred on their (column, row) coordinates
    h.scale = new QCPColorScale(plot);
    plot->plotLayout()->addElement(1, 1, h.scale);
    h.scale->setType(QCPAxis::atRight);
    h.scale->axis()->setLabel(scaleLabel);
    h.map->setColorScale(h.scale);
    QCPColorGradient gradient;
    gradient.setColorStopAt(0.0, QColor(255, 255, 229));
    gradient.setColorStopAt(0.25, QColor(254, 217, 118));
    gradient.setColorStopAt(0.5, QColor(253, 141, 60));
    gradient.setColorStopAt(0.75, QColor(227, 26, 28));
    gradient.setColorStopAt(1.0, QColor(128, 0, 38));
    gradient.setNanHandling(QCPColorGradient::nhTransparent);
    h.map->setGradient(gradient);
    auto *margins = new QCPMarginGroup(plot);
    plot->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
    h.scale->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
    plot->yAxis->setRangeReversed(true); // first row on top, as in a table
    plot->xAxis->grid()->setVisible(false);
    plot->yAxis->grid()->setVisible(false);
    // The columns' names upright where side by side they would run into each other (narrow cells: "0.30.50.7").
    QObject::connect(plot, &QCustomPlot::afterLayout, plot, [plot]() {
        const auto ticker = plot->xAxis->ticker().dynamicCast<QCPAxisTickerText>();
        if (!ticker)
            return;
        const QFontMetrics metrics(plot->xAxis->tickLabelFont());
        int widest = 0;
        for (const QString &label : ticker->ticks())
            widest = std::max(widest, metrics.horizontalAdvance(label));
        const double pitch = std::abs(plot->xAxis->coordToPixel(1) - plot->xAxis->coordToPixel(0));
        const double rotation = widest + 6 > pitch ? 90 : 0;
        if (plot->xAxis->tickLabelRotation() != rotation) {
            plot->xAxis->setTickLabelRotation(rotation);
            plot->replot(QCustomPlot::rpQueuedReplot);
        }
    });
    return h;
}

void addHeatmapLabel(QCustomPlot *plot, double x, double y, const QString &text, bool dark)
{
    auto *item = new QCPItemText(plot);
    item->position->setCoords(x, y);
    item->setText(text);
    item->setColor(dark ? Qt::white : Qt::black);
}

} // namespace cw::ui
