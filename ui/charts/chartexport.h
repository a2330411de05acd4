// Saving and copying charts. Every chart of the workbench (a QCustomPlot) offers, on right click, "Save Chart
// As…" — PNG, SVG or PDF, the last two as vector drawings — and "Copy Chart" (an image on the clipboard); the
// Compare tab also has buttons for them. Files are written atomically (a temporary in the target's folder,
// renamed), so a failed save keeps an older file whole.
#pragma once

#include <QString>

#include <functional>

class QCustomPlot;

namespace cw::ui {

// Writes `path` through `write`, which writes the temporary it is given by name; false with the reason in *error.
bool saveAtomically(const QString &path, const std::function<bool(const QString &temp)> &write, QString *error);

// By extension: .png (twice the on-screen pixels, or 1350 × 840 when the chart is not shown), .svg and .pdf
// (vector, the on-screen size in points, or 900 × 560). False with the reason in *error, e.g. another extension.
bool saveChart(QCustomPlot *plot, const QString &path, QString *error);
void copyChart(QCustomPlot *plot);

// The right-click menu on `plot`; `baseName` proposes the file name ("histogram" → histogram.png). The folder
// last saved to is remembered.
void enableChartExport(QCustomPlot *plot, const QString &baseName);

} // namespace cw::ui
