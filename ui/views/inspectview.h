// InspectView: one layer, up close — the teaching view of what quantization and pruning would do to it.
//
// Top: the layer's weight histogram (bin count, linear / log count axis) with the what-if overlay of the
// chosen setting: the quantization grid (levels as thin lines when there are at most
// HistogramPlot::kMaxLevelLines, clipping range as two bold lines; for per-channel / per-group grids the
// grid of the widest channel, or of the channel picked in the spin box, whose values alone the histogram
// then shows, so the grid sits on the data it was fitted to) and the pruning cut region
// |w| < t shaded. Beside it the predicted cost, recomputed at once on every change: SQNR and relative
// error of the weights (pruned first, then quantized, against the original), the weight's bytes at the
// setting, and the whole model's weight bytes with only this layer changed. Pruned weights are counted as
// stored sparsely (a one-bit mask plus the surviving values) when that is smaller than dense storage.
// Below: the per-output-channel range plot and the histogram of the layer's output on N calibration
// samples, collected by an ActivationJob (for every layer at once, so switching layers is instant; it starts
// by itself the first time the view is shown with a model, and the Collect button reruns it).
//
// The numbers come from the core quantizer itself (cw::fakeQuantize, cw::weightError, cw::quantizedBytes,
// cw::pruneMagnitude), so what the view shows is what compression will do. A recompute of a layer of a
// million weights takes a few milliseconds and runs on the GUI thread; if one ever takes longer than
// kSyncBudgetMs, later slider moves are debounced. NaN / Inf weights are reported in a notice and treated as
// zeros by the what-if numbers.
// Settings (bins, log axis, bits, granularity, group size, symmetric) are remembered in QSettings.
#pragma once

#include <QPointer>
#include <QWidget>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/analysis/activations.h"
#include "core/graph/graph.h"
#include "core/quant/quantize.h"
#include "ui/modelinputs.h"
#include "ui/jobs/activationjob.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QSlider;
class QSpinBox;
class QTimer;
class QToolButton;

namespace cw::ui {

class ChannelRangePlot;
class DataFitCheck;
class HistogramPlot;

class InspectView : public QWidget {
    Q_OBJECT
public:
    static constexpr int kSyncBudgetMs = 30;

    // The current what-if result, as shown.
    struct WhatIf {
        bool valid = false;
        bool quantized = false;       // bits != float
        cw::QuantSpec spec;
        double pruneRatio = 0;
        double threshold = 0;         // pruning threshold (0 when not pruning)
        cw::WeightError error;
        int64_t weightBytes = 0;      // the weight at this setting
        int64_t originalWeightBytes = 0;
        int64_t modelBytes = 0;       // whole model with this layer changed
        int64_t originalModelBytes = 0;
        int gridChannel = -1;         // channel whose grid is drawn (-1: per-tensor)
        cw::QuantGrid grid;           // the drawn grid
        int64_t nonFinite = 0;        // NaN + Inf in the weight
    };

    explicit InspectView(QWidget *parent = nullptr);
    ~InspectView() override;

    // The window's model (the project document's base), not a copy: valid until the next setModel (null: none).
    void setModel(const cw::Model *model);
    // Node name ("" = none). Layers without a float weight show a notice instead of the weight plots.
    void setLayer(const QString &name);
    QString layer() const { return m_layer; }
    void setDataset(const QString &datasetSpec) { m_datasetSpec = datasetSpec; }
    QString datasetSpec() const { return m_datasetSpec; }
    // Sizes for the graph inputs and whether the model can run (modelinputs.h); set before setModel().
    void setRunInputs(const RunInputs &inputs);

    // What-if controls. bits: 2..8, or 0 for float (no quantization).
    void setBits(int bits);
    int bits() const;
    void setGranularity(cw::Granularity granularity);
    cw::Granularity granularity() const;
    void setGroupSize(int groupSize); // 32, 64 or 128
    void setSymmetric(bool symmetric);
    void setPruneRatio(double ratio); // 0..0.95, in 1 % steps
    double pruneRatio() const;
    void setGridChannel(int channel); // -1 = the widest channel
    void setBins(int bins);
    int bins() const;
    void setLogScale(bool log);

    // Activation collection on the dataset. Returns false without a model, while a collection runs, when the
    // model cannot run (the reason goes to the status) or lacks input sizes (inputsNeeded() is emitted).
    bool collectActivations();
    void setActivationSamples(int samples);
    QString activationStatusText() const;
    ActivationJob *activationJob() const { return m_activationJob; }
    bool hasActivations() const { return !m_activations.empty(); }
    // On (the default): the first time the view is shown with a model, collection starts by itself.
    void setAutoCollect(bool on) { m_autoCollect = on; }

    const WhatIf &whatIf() const { return m_whatIf; }
    QString sqnrText() const;
    QString relativeErrorText() const;
    QString weightBytesText() const;
    QString modelBytesText() const;
    QString noticeText() const;
    QString headerText() const; // the layer, its op and weight, as shown above the histogram

    HistogramPlot *histogram() const { return m_histogram; }
    // -1 while the histogram shows the whole weight; a channel when one is picked for a channel / group grid.
    int histogramChannel() const { return m_histogramChannel; }
    ChannelRangePlot *channelPlot() const { return m_channels; }
    HistogramPlot *activationPlot() const { return m_activationPlot; }

    // Recomputes the overlay and the numbers now (pending debounced updates included).
    void recompute();
    qint64 lastRecomputeMs() const { return m_lastMs; }
    bool recomputePending() const;

signals:
    void whatIfChanged();
    void activationsFinished(); // collected, failed or cancelled
    // Collected on the model: the samples as stored with it (cw::activationsToJson), for the project to keep.
    void activationsCollected(const QString &json);
    void inputsNeeded(const QString &reason);

protected:
    void showEvent(QShowEvent *event) override;

private:
    void maybeAutoCollect();
    void autoCollectIfDataFits(); // the data check maybeAutoCollect started has finished
    void buildUi();
    void readSettings();
    void writeSettings();
    void scheduleRecompute();
    void loadLayer();
    void updateHistogram();
    void updateActivationPlot();
    void updateControls();
    void onActivationsDone();

    const cw::Model *m_model = nullptr;
    std::optional<cw::Model> m_form;  // floatWeightForm of *m_model: the float values of quantized weights
    std::map<std::string, cw::IntegerLayerWeight> m_stored; // layer -> its integer weight, when quantized
    QString m_layer;
    QString m_datasetSpec = QStringLiteral("fashion-mnist");
    RunInputs m_runInputs;

    // Current layer
    cw::Tensor m_weight;            // original (shared)
    cw::Tensor m_finite;            // NaN / Inf replaced by zero when there are any, else == m_weight
    std::vector<std::vector<float>> m_channelValues; // per output channel (of m_weight, NaN / Inf kept)
    int m_histogramChannel = -2;    // channel the histogram shows (-1: all), -2: not drawn yet
    int m_channelAxis = 0;
    int64_t m_otherBytes = 0;       // model bytes except this weight
    int64_t m_storedBytes = 0;      // this weight's bytes as stored (a quantized one's integers, scales, zero points)
    int64_t m_nan = 0, m_inf = 0;
    std::string m_outputName;
    bool m_nested = false; // the layer sits inside a control-flow subgraph (cw::LayerNode::nested)

    WhatIf m_whatIf;
    qint64 m_lastMs = 0;
    QTimer *m_debounce = nullptr;

    std::map<std::string, cw::ActivationSample> m_activations;
    int64_t m_activationSamplesUsed = 0;
    QPointer<ActivationJob> m_activationJob;

    // Widgets
    QLabel *m_header = nullptr;
    QComboBox *m_bitsCombo = nullptr;
    QComboBox *m_granularityCombo = nullptr;
    QComboBox *m_groupCombo = nullptr;
    QCheckBox *m_symmetricCheck = nullptr;
    QSpinBox *m_channelSpin = nullptr;
    QSlider *m_pruneSlider = nullptr;
    QLabel *m_pruneLabel = nullptr;
    QSpinBox *m_binsSpin = nullptr;
    QCheckBox *m_logCheck = nullptr;
    QCheckBox *m_resultCheck = nullptr;
    HistogramPlot *m_histogram = nullptr;
    ChannelRangePlot *m_channels = nullptr;
    HistogramPlot *m_activationPlot = nullptr;
    QLabel *m_sqnrLabel = nullptr;
    QLabel *m_errorLabel = nullptr;
    QLabel *m_weightBytesLabel = nullptr;
    QLabel *m_modelBytesLabel = nullptr;
    QLabel *m_gridLabel = nullptr;
    QLabel *m_noticeLabel = nullptr;
    QSpinBox *m_samplesSpin = nullptr;
    QPushButton *m_collectButton = nullptr;
    QToolButton *m_cancelButton = nullptr;
    QProgressBar *m_activationProgress = nullptr;
    QLabel *m_activationStatus = nullptr;
    bool m_loading = false;
    bool m_autoCollect = true;
    bool m_autoTried = false;
    DataFitCheck *m_dataFit = nullptr; // whether the data fits the model, before collecting unasked
};

} // namespace cw::ui
