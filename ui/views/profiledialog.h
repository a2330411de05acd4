// ProfileDialog: where a run of the open model spends its time (Model → Profile Latency…, ProfileJob): the run's
// latency, a bar chart of the slowest nodes' time per run, and a table of every node the engine ran (the fused
// graph's: a fused node stands for the nodes fused into it), slowest first, sortable. What the per-node times do not
// cover is the session's own work between the kernels. Double-clicking a row asks for its node (nodeActivated): the
// window shows that layer in Inspect. The batch and threads above it, and Profile Again, ask for another profile of
// the same model (profileRequested); the window runs it and shows its result here (setResult).
#pragma once

#include <QDialog>

#include "core/analysis/evaluate.h"

class QCustomPlot;
class QLabel;
class QPushButton;
class QSpinBox;
class QTableWidget;

namespace cw::ui {

class ProfileDialog : public QDialog {
    Q_OBJECT
public:
    ProfileDialog(const QString &modelName, const cw::BenchResult &result, QWidget *parent = nullptr);

    // Shows another profile of the model: the summary, chart and table, and its batch and threads in the boxes.
    void setResult(const cw::BenchResult &result);
    const cw::BenchResult &result() const { return m_result; }
    // While a profile runs for this dialog: the boxes and Profile Again disabled, the summary saying so.
    void setBusy(bool busy);

    QSpinBox *batchBox() const { return m_batch; }
    QSpinBox *threadsBox() const { return m_threads; }
    QPushButton *againButton() const { return m_again; }
    QTableWidget *table() const { return m_table; }
    // What row `row` of the table (as it is sorted now) shows: the node's µs per run, its share of a run.
    double microseconds(int row) const;
    double share(int row) const;
    QCustomPlot *plot() const { return m_plot; }
    QLabel *summary() const { return m_summary; }

    static constexpr int kChartNodes = 15; // the slowest nodes charted

signals:
    void nodeActivated(const QString &name);
    void profileRequested(int batch, int threads);

private:
    void fillChart();
    void fillTable();

    cw::BenchResult m_result;
    QSpinBox *m_batch = nullptr;
    QSpinBox *m_threads = nullptr;
    QPushButton *m_again = nullptr;
    QLabel *m_summary = nullptr;
    QCustomPlot *m_plot = nullptr;
    QTableWidget *m_table = nullptr;
};

} // namespace cw::ui
