#include "ui/charts/chartfonts.h"

#include <qcustomplot.h>

namespace cw::ui {

namespace {

QFont scaled(QFont font, double ratio)
{
    if (font.pointSizeF() > 0) // a font sized in pixels stays as it is
        font.setPointSizeF(font.pointSizeF() * ratio);
    return font;
}

void scaleAxis(QCPAxis *axis, double ratio)
{
    axis->setTickLabelFont(scaled(axis->tickLabelFont(), ratio));
    axis->setSelectedTickLabelFont(scaled(axis->selectedTickLabelFont(), ratio));
    axis->setLabelFont(scaled(axis->labelFont(), ratio));
    axis->setSelectedLabelFont(scaled(axis->selectedLabelFont(), ratio));
}

} // namespace

void scaleChartFonts(QCustomPlot *plot, double ratio)
{
    for (QCPLayoutElement *element : plot->plotLayout()->elements(true)) {
        if (auto *rect = qobject_cast<QCPAxisRect *>(element)) {
            for (QCPAxis *axis : rect->axes())
                scaleAxis(axis, ratio);
        } else if (auto *title = qobject_cast<QCPTextElement *>(element)) {
            title->setFont(scaled(title->font(), ratio));
            title->setSelectedFont(scaled(title->selectedFont(), ratio));
        } else if (auto *colorScale = qobject_cast<QCPColorScale *>(element)) {
            scaleAxis(colorScale->axis(), ratio);
        }
    }
    plot->legend->setFont(scaled(plot->legend->font(), ratio));
    for (int i = 0; i < plot->legend->itemCount(); ++i)
        plot->legend->item(i)->setFont(scaled(plot->legend->item(i)->font(), ratio));
    for (int i = 0; i < plot->itemCount(); ++i)
        if (auto *text = qobject_cast<QCPItemText *>(plot->item(i)))
            text->setFont(scaled(text->font(), ratio));
    plot->replot();
}

} // namespace cw::ui
