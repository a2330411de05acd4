// Number and size formatting shared by the views, so the table, the summary panel and the status bar
// agree ("1.2 MiB", "1,234,567", "[N, 1, 28, 28]").
#pragma once

#include <QLocale>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <vector>

#include "core/base/tensor.h"
#include "core/graph/graph.h"

namespace cw::ui {

// The user's locale, except that the bare "C" locale (offscreen runs, CI) gets English digit grouping.
QLocale displayLocale();
QString formatCount(int64_t value);           // "1,234,567"
QString formatBytes(int64_t bytes);           // "1.18 MiB"
QString formatPercent(double fraction, int decimals = 2); // 0.9123 -> "91.23 %"
QString formatDb(double db);                  // "17.9 dB", "∞ dB (exact)", "—" for NaN
QString memoryColumnTip(); // the tooltip of every "Memory" column: what the figure is
QString peakRssColumnTip(); // the same for every "Peak RSS" column
QString formatMs(double ms);                  // "0.063", "1.25", "12.3"; "—" for none (<= 0)
QString formatShape(const cw::Shape &shape);  // "[1, 32, 3, 3]"
QString formatShape(const cw::ValueInfo &value); // "[batch, 3, height, width]", "?" when unknown
QString formatShapes(const std::vector<cw::ValueInfo> &values); // joined with "; "
// Layer names for a chart's axis: the '/'-separated parts that every name shares at its start and at its end
// left out ("model/conv2d_12/Conv2D" among others like it -> "conv2d_12"), as long as no name becomes empty.
QStringList distinctiveNames(const QStringList &names);

} // namespace cw::ui
