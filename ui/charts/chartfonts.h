// Every font of a QCustomPlot chart scaled by one ratio: axes (tick labels and titles, colour scales' too), the
// legend and its items, text elements (titles) and text items. View → Zoom scales the application font, which the
// widgets follow by themselves; the charts copy their fonts when they are made and follow through this.
#pragma once

class QCustomPlot;

namespace cw::ui {

void scaleChartFonts(QCustomPlot *plot, double ratio);

} // namespace cw::ui
