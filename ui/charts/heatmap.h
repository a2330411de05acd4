// The heatmap the sensitivity views draw (CNN layers × settings, language-model tensors × settings): a QCustomPlot
// set up as a bold title, a colour map whose cells are centred on integer (column, row) coordinates, the first row
// on top, and a colour scale at the right; pale yellow for no damage to dark red for the most, empty cells (NaN)
// transparent.
#pragma once

#include <QString>

class QCPColorMap;
class QCPColorScale;
class QCPTextElement;
class QCustomPlot;

namespace cw::ui {

struct Heatmap {
    QCPColorMap *map = nullptr;
    QCPColorScale *scale = nullptr;
    QCPTextElement *title = nullptr;
};

Heatmap setUpHeatmap(QCustomPlot *plot, const QString &title, const QString &scaleLabel);
// The value written in cell (x, y): white on the dark end of the scale (`dark`), black elsewhere.
void addHeatmapLabel(QCustomPlot *plot, double x, double y, const QString &text, bool dark);

} // namespace cw::ui
