// LmInspectView: a language model's tensors up close — what makes one hard to quantize.
//
// Left, the tensor tree (LmTensorModel: embeddings, each block's attention and MLP, output), filterable by name.
// Right, the selected tensor: its moments (min, max, mean, std, excess kurtosis, zeros), its value histogram
// (bins and a log count axis), the range of each output channel (a row of the [out, in] matrix: one scale per
// row is what per-channel quantization fits), and the largest magnitude of each input channel (a column) with
// the outlier channels — those above a factor times the typical (median) channel — marked on the plot and
// listed beside it: a few input channels far above the rest force a per-row grid to waste its levels on them.
//
// The statistics are cw::lm::weightStats, computed on a worker thread (WeightStatsJob; a 7B model's tensor is
// read and dequantized in about a second) and cached per tensor for the model, so coming back is instant. One
// job runs at a time; selecting tensors while it runs queues only the last one. Changing the bins or the
// outlier factor recomputes. Bins, log axis and factor are remembered in QSettings.
#pragma once

#include <QPointer>
#include <QWidget>

#include <map>
#include <optional>

#include "core/lm/stats.h"
#include "ui/jobs/lmjobs.h"

class QCheckBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QSortFilterProxyModel;
class QSpinBox;
class QStandardItemModel;
class QTableView;
class QTreeView;

namespace cw::ui {

class ChannelProfilePlot;
class HistogramPlot;
class LmTensorModel;

class LmInspectView : public QWidget {
    Q_OBJECT
public:
    explicit LmInspectView(LmTensorModel *tensors, QWidget *parent = nullptr);
    ~LmInspectView() override;

    // The window's model (nullptr: none). The tensor tree must have been set to it first.
    void setModel(LanguageModelPtr model);
    // Selects a tensor by its name in the file; false when the model has none.
    bool selectTensor(const QString &name);
    QString tensor() const { return m_tensor; }

    void setBins(int bins);
    int bins() const;
    void setOutlierFactor(double factor);
    double outlierFactor() const;
    void setLogScale(bool log);

    // The statistics shown (null while they are computed, on a group row, or after a failure).
    const cw::lm::WeightStats *shownStats() const;
    bool isComputing() const { return m_job != nullptr; }
    // A statistic as shown in the numbers panel ("Min", "Max", "Mean", "Std", "Kurtosis", "Zeros", "Outliers").
    QString numberText(const QString &label) const;
    QString headerText() const;
    QString statusText() const;

    QTreeView *tree() const { return m_tree; }
    QLineEdit *filterEdit() const { return m_filter; }
    HistogramPlot *histogram() const { return m_histogram; }
    ChannelProfilePlot *rowRangePlot() const { return m_rows; }
    ChannelProfilePlot *columnPlot() const { return m_columns; }
    QTableView *outlierTable() const { return m_outlierTable; }

protected:
    // The first time the view is shown with nothing selected: the first block's first matrix, so it is not blank.
    void showEvent(QShowEvent *event) override;

signals:
    // A tensor's statistics arrived (or failed: ok false); emitted after they are shown when it is the selection.
    void statsFinished(const QString &tensor, bool ok);

private:
    void buildUi();
    void readSettings();
    void writeSettings();
    void onCurrentChanged();
    void selectFirstMatrix(); // when nothing is selected
    void showTensor(const QString &name);
    void request(const QString &name);
    void startJob(const QString &name);
    void showStats(const cw::lm::WeightStats &s); // an entry of m_cache
    void clearStats();
    void setStatus(const QString &text);
    void invalidate(); // the bins or the factor changed

    LmTensorModel *m_tensors;
    LanguageModelPtr m_model;
    QString m_tensor;   // selected ("" for none or a group row)
    QString m_pending;  // waiting for the running job
    std::map<QString, cw::lm::WeightStats> m_cache;
    const cw::lm::WeightStats *m_shown = nullptr; // an entry of m_cache
    QPointer<WeightStatsJob> m_job;
    bool m_loading = false;

    QSortFilterProxyModel *m_proxy = nullptr;
    QTreeView *m_tree = nullptr;
    QLineEdit *m_filter = nullptr;
    QLabel *m_header = nullptr;
    QLabel *m_status = nullptr;
    QSpinBox *m_binsSpin = nullptr;
    QCheckBox *m_logCheck = nullptr;
    QDoubleSpinBox *m_factorSpin = nullptr;
    HistogramPlot *m_histogram = nullptr;
    std::map<QString, QLabel *> m_numbers;
    QLabel *m_outlierCaption = nullptr;
    QStandardItemModel *m_outlierModel = nullptr;
    QTableView *m_outlierTable = nullptr;
    ChannelProfilePlot *m_rows = nullptr;
    ChannelProfilePlot *m_columns = nullptr;
    QLabel *m_rowsCaption = nullptr;
    QLabel *m_columnsCaption = nullptr;
};

} // namespace cw::ui
