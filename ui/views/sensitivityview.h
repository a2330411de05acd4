// SensitivityView: runs the per-layer sensitivity sweep and shows it three ways, live as layers finish.
//
//   - a heatmap, layer (rows, execution order) × setting (columns: pruning ratios, a gap, bit-widths), colour =
//     accuracy drop in percentage points, the value written in each cell, with a colour scale;
//   - a line chart of accuracy against the setting, one line per layer, the selected layer highlighted and the
//     baseline dashed;
//   - a sortable table (drop per setting, worst drop, parameters).
// Controls choose the subset size and the settings; Run / Cancel drive a SensitivityJob with its own
// progress bar. A finished sweep is offered to the owner through resultReady(json) (the main window stores it
// in the model's analysis, so Export to .h5 keeps it), and a model that already carries results shows them
// at once on setModel(), without recomputing. Below the charts, the Spearman rank correlation of each fast
// proxy (weight SQNR, layer-output error) with the measured drops says when the proxies can be trusted.
#pragma once

#include <QPointer>
#include <QWidget>

#include <optional>
#include <vector>

#include "core/cluster/sweep.h"
#include "core/compress/sensitivity.h"
#include "core/graph/graph.h"
#include "ui/modelinputs.h"
#include "ui/jobs/sensitivityjob.h"

class QCPColorMap;
class QCPColorScale;
class QCPTextElement;
class QCustomPlot;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSortFilterProxyModel;
class QSpinBox;
class QStandardItemModel;
class QTableView;

namespace cw::ui {

class SensitivityView : public QWidget {
    Q_OBJECT
public:
    explicit SensitivityView(QWidget *parent = nullptr);
    ~SensitivityView() override;

    // Cancels a running sweep, clears the views and shows the model's stored results, if any. nullptr = none.
    void setModel(const cw::Model *model);
    void setDataset(const QString &datasetSpec) { m_datasetSpec = datasetSpec; }
    QString datasetSpec() const { return m_datasetSpec; }
    // Sizes for the graph inputs and whether the model can run (modelinputs.h).
    void setRunInputs(const RunInputs &inputs);

    // Starts a sweep with the controls' settings. False (with the reason in statusText()) when no model is
    // open, a sweep runs, the model cannot run, the settings do not parse, or input sizes are missing (then
    // inputsNeeded() is emitted too).
    bool run();
    void cancel();
    // The controls' sweep as a plan for a cluster (core/cluster/sweep.h; cwb sweep computes it), run from the
    // current directory. nullopt (the reason in statusText()) for the refusals of run() and for a sweep that a
    // command line cannot express (inputs fed from memory). clusterRequested() asks the window for the dialog.
    std::optional<cw::cluster::SweepPlan> clusterPlan();
    bool isRunning() const { return m_job != nullptr; }
    // The result shown, as stored in Model::analysis["sensitivity"] ("" for none).
    QString resultJson() const;

    // Replaces the views with a complete result (used on reopening and when a sweep succeeds).
    void showResult(const cw::SensitivityResult &result);
    const std::optional<cw::SensitivityResult> &result() const { return m_result; }
    int layerCount() const { return int(m_layers.size()); }
    QString selectedLayer() const { return m_selected; }
    void setSelectedLayer(const QString &name);
    QString statusText() const;

    QCustomPlot *heatmapPlot() const { return m_heat; }
    QCPColorMap *colorMap() const { return m_map; }
    QCustomPlot *lineChart() const { return m_lines; }
    QTableView *table() const { return m_table; }
    QStandardItemModel *tableModel() const { return m_tableModel; }
    QSpinBox *limitSpin() const { return m_limit; }
    QLineEdit *pruneEdit() const { return m_pruneEdit; }
    QLineEdit *bitsEdit() const { return m_bitsEdit; }
    QPushButton *runButton() const { return m_run; }
    QPushButton *cancelButton() const { return m_cancel; }
    QPushButton *clusterButton() const { return m_cluster; }
    QProgressBar *progressBar() const { return m_progress; }
    SensitivityJob *job() const { return m_job; }

signals:
    void resultReady(const QString &json);
    void runFinished(bool succeeded); // after success, failure or cancel
    void layerSelected(const QString &name);
    void inputsNeeded(const QString &reason);
    void clusterRequested();

private:
    // The sweep the controls describe; nullopt with the reason in the status line.
    std::optional<cw::SensitivityOptions> formOptions();
    void begin(const cw::SensitivityOptions &options, double baseline);
    void setFidelity(bool fidelity); // labels for the fidelity metric (output SQNR) or the accuracy drop
    void addLayer(const cw::LayerSensitivity &layer);
    void rebuildAxes();
    void redraw();
    void updateSpearman();
    void updateControls();
    void setStatus(const QString &text);
    void onTableRowChanged();
    void onHeatmapClicked(QMouseEvent *event);
    int columnOf(bool prune, int index) const;

    const cw::Model *m_model = nullptr; // the window's (the document's base): valid until the next setModel
    QString m_datasetSpec = QStringLiteral("fashion-mnist");
    RunInputs m_runInputs;
    cw::SensitivityOptions m_options;            // of the sweep shown
    std::vector<std::string> m_expectedLayers;   // rows of the heatmap (all analysable layers)
    std::vector<cw::LayerSensitivity> m_layers;  // arrived so far
    double m_baseline = -1;                      // accuracy, -1 until known
    bool m_fidelity = false;                     // the sweep measures output fidelity, not accuracy
    std::optional<cw::SensitivityResult> m_result;
    QString m_selected;
    QPointer<SensitivityJob> m_job;

    QSpinBox *m_limit = nullptr;
    QLineEdit *m_pruneEdit = nullptr;
    QLineEdit *m_bitsEdit = nullptr;
    QPushButton *m_run = nullptr;
    QPushButton *m_cluster = nullptr;
    QPushButton *m_cancel = nullptr;
    QProgressBar *m_progress = nullptr;
    QLabel *m_status = nullptr;
    QLabel *m_spearman = nullptr;
    QCustomPlot *m_heat = nullptr;
    QCPTextElement *m_heatTitle = nullptr;
    QCPColorMap *m_map = nullptr;
    QCPColorScale *m_scale = nullptr;
    QCustomPlot *m_lines = nullptr;
    QCPTextElement *m_linesTitle = nullptr;
    QTableView *m_table = nullptr;
    QStandardItemModel *m_tableModel = nullptr;
    QSortFilterProxyModel *m_proxy = nullptr;
};

} // namespace cw::ui
