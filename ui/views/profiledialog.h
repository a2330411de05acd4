// ProfileDialog: where a run of the open model spends its time (Model → Profile Latency…, ProfileJob): the run's
// latency, a bar chart of the slowest nodes' time per run, and a table of every node the engine ran (the fused
// graph's: a fused node stands for the nodes fused into it), slowest first, sortable. What the per-node times do not
// cover is the session's own work between the kernels. Double-clicking a row asks for its node (nodeActivated): the
// window shows that layer in Inspect.
#pragma once

#include <QDialog>

#include "core/analysis/evaluate.h"

class QCustomPlot;
class QLabel;
class QTableWidget;

namespace cw::ui {

class ProfileDialog : public QDialog {
    Q_OBJECT
public:
    ProfileDialog(const QString &modelName, const cw::BenchResult &result, QWidget *parent = nullptr);

    QTableWidget *table() const { return m_table; }
    // What row `row` of the table (as it is sorted now) shows: the node's µs per run, its share of a run.
    double microseconds(int row) const;
    double share(int row) const;
    QCustomPlot *plot() const { return m_plot; }
    QLabel *summary() const { return m_summary; }

    static constexpr int kChartNodes = 15; // the slowest nodes charted

signals:
    void nodeActivated(const QString &name);

private:
    QLabel *m_summary = nullptr;
    QCustomPlot *m_plot = nullptr;
    QTableWidget *m_table = nullptr;
};

} // namespace cw::ui
