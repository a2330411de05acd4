// TradeoffChart: the variants of a project (core/project) as points of quality (accuracy, or agreement with the base) against a
// cost (file size or latency), one point per measured variant coloured by its verdict (green / amber / red),
// the base model as a grey diamond, the Pareto frontier as a staircase through its members, the recommended
// variant ringed, each point labelled with its name, and a legend. Hovering a point shows its figures; clicking
// one emits variantClicked(index).
#pragma once

#include <QString>
#include <QWidget>

#include <optional>
#include <vector>

#include "core/project/project.h"

class QCPItemText;
class QCustomPlot;

namespace cw::ui {

class TradeoffChart : public QWidget {
    Q_OBJECT
public:
    struct Point {
        QString name;
        double cost = 0;    // bytes or ms
        double quality = 0; // fraction
        cw::Verdict verdict = cw::Verdict::Green;
        bool frontier = false;
        QString details;    // the hover text
    };

    explicit TradeoffChart(QWidget *parent = nullptr);

    // Draws the project's variants against `cost` (null: an empty chart); `selected` is ringed (-1: none). Used by
    // the Compare tab and the report.
    void showProject(const cw::Project *project, cw::Cost cost, int selected = -1);
    QCustomPlot *plot() const { return m_plot; }
    // The legend under the chart (on by default; the report, whose text explains the marks, goes without).
    void setShowLegend(bool show);
    // The variant of the point at widget position `pos` (within a few pixels), -1 for none.
    int variantAt(const QPoint &pos) const;
    int pointCount() const; // variants drawn

signals:
    void variantClicked(int index);

private:
    // `points` by variant index (a variant without the cost or the quality measured has none: nullopt).
    void setData(cw::Cost cost, cw::QualityKind quality, const std::vector<std::optional<Point>> &points,
                 const std::optional<Point> &base, int recommended, int selected);
    void placeLabels(); // after each layout, where the points are in pixels
    void placeLegend(bool show);
    // Cost in the axis unit: KiB or MiB for sizes (chosen from the largest), ms for latency.
    double axisValue(double cost) const { return cost / m_costScale; }

    QCustomPlot *m_plot = nullptr;
    std::vector<std::optional<Point>> m_points;
    std::vector<QCPItemText *> m_labels; // owned by the plot
    double m_costScale = 1;
    bool m_showLegend = true;
};

} // namespace cw::ui
