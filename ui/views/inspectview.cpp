#include "ui/views/inspectview.h"

#include <QCheckBox>
#include <QComboBox>
#include <QElapsedTimer>
#include <QFormLayout>
#include <QFrame>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSlider>
#include <QSpinBox>
#include <QSplitter>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

#include "core/analysis/stats.h"
#include "core/compress/prune.h"
#include "core/graph/transform.h"
#include "ui/charts/channelrangeplot.h"
#include "ui/charts/histogramplot.h"
#include "ui/datafit.h"
#include "ui/formatting.h"
#include "ui/jobs/activationjob.h"
#include "ui/views/numberlabels.h"

namespace cw::ui {

namespace {
const char kBinsKey[] = "inspect/bins";
const char kLogKey[] = "inspect/logScale";
const char kResultKey[] = "inspect/showResult";
const char kBitsKey[] = "inspect/bits";
const char kGranularityKey[] = "inspect/granularity";
const char kGroupKey[] = "inspect/groupSize";
const char kSymmetricKey[] = "inspect/symmetric";
const char kSamplesKey[] = "inspect/activationSamples";

// Values of output channel c of a tensor whose output channels are `axis`.
std::vector<std::vector<float>> gatherChannels(const cw::Tensor &w, int axis)
{
    const cw::Shape &s = w.shape();
    if (s.empty())
        return {};
    axis = std::clamp(axis, 0, int(s.size()) - 1);
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; ++i)
        outer *= s[size_t(i)];
    for (size_t i = size_t(axis) + 1; i < s.size(); ++i)
        inner *= s[i];
    const int64_t channels = s[size_t(axis)];
    std::vector<std::vector<float>> out(static_cast<size_t>(channels));
    const float *p = w.f32();
    for (int64_t c = 0; c < channels; ++c) {
        std::vector<float> &v = out[size_t(c)];
        v.reserve(size_t(outer * inner));
        for (int64_t o = 0; o < outer; ++o) {
            const float *row = p + (o * channels + c) * inner;
            v.insert(v.end(), row, row + inner);
        }
    }
    return out;
}

QString formatNumber(double v, int precision = 4)
{
    return displayLocale().toString(v, 'g', precision);
}

} // namespace

InspectView::InspectView(QWidget *parent) : QWidget(parent)
{
    setObjectName(QStringLiteral("inspectView"));
    m_debounce = new QTimer(this);
    m_debounce->setSingleShot(true);
    m_debounce->setInterval(60);
    connect(m_debounce, &QTimer::timeout, this, &InspectView::recompute);
    buildUi();
    readSettings();
    loadLayer();
}

InspectView::~InspectView()
{
    if (m_activationJob)
        m_activationJob->cancel(); // the job is a child and waits for its worker when destroyed
}

void InspectView::buildUi()
{
    m_header = new QLabel;
    m_header->setObjectName(QStringLiteral("inspectHeader"));
    m_header->setTextFormat(Qt::RichText);
    m_header->setWordWrap(true);

    // What-if controls
    m_bitsCombo = new QComboBox;
    m_bitsCombo->setObjectName(QStringLiteral("bitsCombo"));
    m_bitsCombo->addItem(tr("float (32-bit)"), 0);
    for (int b = 8; b >= 2; --b)
        m_bitsCombo->addItem(tr("%1-bit int").arg(b), b);
    m_bitsCombo->setToolTip(tr("Weight bit-width to preview"));
    m_granularityCombo = new QComboBox;
    m_granularityCombo->setObjectName(QStringLiteral("granularityCombo"));
    m_granularityCombo->addItem(tr("Per tensor"), int(cw::Granularity::Tensor));
    m_granularityCombo->addItem(tr("Per channel"), int(cw::Granularity::Channel));
    m_granularityCombo->addItem(tr("Per group"), int(cw::Granularity::Group));
    m_granularityCombo->setToolTip(tr("One scale for the whole weight, one per output channel, or one per group of "
                                      "consecutive weights"));
    m_groupCombo = new QComboBox;
    m_groupCombo->setObjectName(QStringLiteral("groupSizeCombo"));
    for (int g : {32, 64, 128})
        m_groupCombo->addItem(tr("group %1").arg(g), g);
    m_symmetricCheck = new QCheckBox(tr("Symmetric"));
    m_symmetricCheck->setObjectName(QStringLiteral("symmetricCheck"));
    m_symmetricCheck->setToolTip(tr("Symmetric: levels centred on zero (±max|w|). Asymmetric: the grid spans "
                                    "[min, max] with a zero point."));
    m_channelSpin = new QSpinBox;
    m_channelSpin->setObjectName(QStringLiteral("gridChannelSpin"));
    m_channelSpin->setRange(-1, 0);
    m_channelSpin->setValue(-1);
    m_channelSpin->setSpecialValueText(tr("widest"));
    m_channelSpin->setPrefix(tr("channel "));
    m_channelSpin->setToolTip(tr("Channel whose grid the histogram shows (per-channel and per-group grids)"));
    m_pruneSlider = new QSlider(Qt::Horizontal);
    m_pruneSlider->setObjectName(QStringLiteral("pruneSlider"));
    m_pruneSlider->setRange(0, 95);
    m_pruneSlider->setPageStep(5);
    m_pruneSlider->setTickPosition(QSlider::TicksBelow);
    m_pruneSlider->setTickInterval(10);
    m_pruneSlider->setToolTip(tr("Share of the weights with the smallest magnitude set to zero"));
    m_pruneLabel = new QLabel;
    m_pruneLabel->setMinimumWidth(m_pruneLabel->fontMetrics().horizontalAdvance(QStringLiteral("100 %  ")));

    auto *whatIf = new QGroupBox(tr("What if…"));
    auto *whatIfLayout = new QGridLayout(whatIf);
    whatIfLayout->addWidget(new QLabel(tr("Bits")), 0, 0);
    whatIfLayout->addWidget(m_bitsCombo, 0, 1);
    whatIfLayout->addWidget(m_granularityCombo, 0, 2);
    whatIfLayout->addWidget(m_groupCombo, 0, 3);
    whatIfLayout->addWidget(m_symmetricCheck, 0, 4);
    whatIfLayout->addWidget(m_channelSpin, 0, 5);
    whatIfLayout->addWidget(new QLabel(tr("Prune")), 1, 0);
    whatIfLayout->addWidget(m_pruneSlider, 1, 1, 1, 4);
    whatIfLayout->addWidget(m_pruneLabel, 1, 5);
    whatIfLayout->setColumnStretch(6, 1);

    // Histogram controls
    m_binsSpin = new QSpinBox;
    m_binsSpin->setObjectName(QStringLiteral("binsSpin"));
    m_binsSpin->setRange(4, 1024);
    m_binsSpin->setValue(128);
    m_binsSpin->setSuffix(tr(" bins"));
    m_logCheck = new QCheckBox(tr("Log count axis"));
    m_logCheck->setObjectName(QStringLiteral("logCheck"));
    m_resultCheck = new QCheckBox(tr("Show result"));
    m_resultCheck->setObjectName(QStringLiteral("resultCheck"));
    m_resultCheck->setToolTip(tr("Draw the weights after the what-if (quantized and pruned) over the original: "
                                 "the distribution collapses onto the grid's levels, pruned weights onto zero"));

    m_histogram = new HistogramPlot;
    m_histogram->setObjectName(QStringLiteral("weightHistogram"));

    // Numbers panel
    m_sqnrLabel = newValueLabel(QStringLiteral("sqnrLabel"));
    m_errorLabel = newValueLabel(QStringLiteral("relativeErrorLabel"));
    m_weightBytesLabel = newValueLabel(QStringLiteral("weightBytesLabel"));
    m_modelBytesLabel = newValueLabel(QStringLiteral("modelBytesLabel"));
    m_gridLabel = new QLabel;
    m_gridLabel->setObjectName(QStringLiteral("gridLabel"));
    m_gridLabel->setWordWrap(true);
    m_gridLabel->setTextFormat(Qt::RichText);
    m_noticeLabel = new QLabel;
    m_noticeLabel->setObjectName(QStringLiteral("inspectNotice"));
    m_noticeLabel->setWordWrap(true);
    m_noticeLabel->setStyleSheet(QStringLiteral("QLabel { color: #a01e1e; background: #fff0f0; border: 1px solid "
                                                "#e0a0a0; border-radius: 3px; padding: 4px; }"));
    m_noticeLabel->setVisible(false);

    auto *numbers = new QFrame;
    numbers->setObjectName(QStringLiteral("whatIfNumbers"));
    numbers->setFrameShape(QFrame::StyledPanel);
    numbers->setMinimumWidth(200);
    auto *numbersLayout = new QVBoxLayout(numbers);
    addNumber(numbersLayout, tr("SQNR"), m_sqnrLabel,
              tr("Signal-to-quantization-noise ratio of the weights: 10·log10(Σw² / Σ(w−w')²)"));
    addNumber(numbersLayout, tr("Relative error"), m_errorLabel, tr("‖w − w'‖ / ‖w‖"));
    addNumber(numbersLayout, tr("This weight"), m_weightBytesLabel, tr("Bytes of the layer's weight at this setting"));
    addNumber(numbersLayout, tr("Whole model"), m_modelBytesLabel, tr("Weight bytes of the model with only this layer changed"));
    numbersLayout->addWidget(m_gridLabel);
    numbersLayout->addWidget(m_noticeLabel);
    numbersLayout->addStretch(1);

    auto *histControls = new QHBoxLayout;
    histControls->addWidget(new QLabel(tr("<b>Weight histogram</b>")));
    histControls->addStretch(1);
    histControls->addWidget(m_binsSpin);
    histControls->addWidget(m_resultCheck);
    histControls->addWidget(m_logCheck);

    auto *histRow = new QHBoxLayout;
    histRow->addWidget(m_histogram, 1);
    histRow->addWidget(numbers);

    auto *top = new QWidget;
    auto *topLayout = new QVBoxLayout(top);
    topLayout->setContentsMargins(0, 0, 0, 0);
    topLayout->addWidget(m_header);
    topLayout->addWidget(whatIf);
    topLayout->addLayout(histControls);
    topLayout->addLayout(histRow, 1);

    // Bottom: channel ranges | activations
    m_channels = new ChannelRangePlot;
    m_channels->setObjectName(QStringLiteral("channelRangePlot"));
    auto *channelBox = new QWidget;
    auto *channelLayout = new QVBoxLayout(channelBox);
    channelLayout->setContentsMargins(0, 0, 0, 0);
    channelLayout->addWidget(new QLabel(tr("<b>Range per output channel</b>")));
    auto *channelKey = new QLabel(tr("whisker min–max · box 1st–99th percentile · tick mean · dashed: per-tensor range"));
    channelKey->setWordWrap(true);
    channelKey->setStyleSheet(QStringLiteral("QLabel { color: #666; }"));
    channelLayout->addWidget(channelKey);
    channelLayout->addWidget(m_channels, 1);

    m_activationPlot = new HistogramPlot;
    m_activationPlot->setObjectName(QStringLiteral("activationHistogram"));
    m_activationPlot->setAxisLabels(tr("Output value"), tr("Count"));
    m_samplesSpin = new QSpinBox;
    m_samplesSpin->setObjectName(QStringLiteral("activationSamplesSpin"));
    m_samplesSpin->setRange(1, 100000);
    m_samplesSpin->setValue(256);
    m_samplesSpin->setSuffix(tr(" samples"));
    m_samplesSpin->setToolTip(tr("Calibration samples of the dataset to run"));
    m_collectButton = new QPushButton(tr("Collect"));
    m_collectButton->setObjectName(QStringLiteral("collectActivations"));
    m_collectButton->setToolTip(tr("Run the model on the samples and record every layer's output"));
    m_cancelButton = new QToolButton;
    m_cancelButton->setObjectName(QStringLiteral("cancelActivations"));
    m_cancelButton->setText(tr("Cancel"));
    m_cancelButton->setVisible(false);
    m_activationProgress = new QProgressBar;
    m_activationProgress->setRange(0, 1000);
    m_activationProgress->setMaximumWidth(120);
    m_activationProgress->setVisible(false);
    m_activationStatus = new QLabel;
    m_activationStatus->setObjectName(QStringLiteral("activationStatus"));
    // A long refusal wraps in the space there is rather than widening the window.
    m_activationStatus->setWordWrap(true);
    m_activationStatus->setMinimumWidth(m_activationStatus->fontMetrics().horizontalAdvance(tr("256 samples in 1000 ms")));
    auto *actControls = new QHBoxLayout;
    actControls->addWidget(new QLabel(tr("<b>Output activations</b>")));
    actControls->addStretch(1);
    actControls->addWidget(m_activationStatus);
    actControls->addWidget(m_activationProgress);
    actControls->addWidget(m_samplesSpin);
    actControls->addWidget(m_collectButton);
    actControls->addWidget(m_cancelButton);
    auto *actBox = new QWidget;
    auto *actLayout = new QVBoxLayout(actBox);
    actLayout->setContentsMargins(0, 0, 0, 0);
    actLayout->addLayout(actControls);
    actLayout->addWidget(m_activationPlot, 1);

    auto *bottom = new QSplitter(Qt::Horizontal);
    bottom->addWidget(channelBox);
    bottom->addWidget(actBox);
    bottom->setChildrenCollapsible(false);

    auto *split = new QSplitter(Qt::Vertical);
    split->setObjectName(QStringLiteral("inspectSplitter"));
    split->addWidget(top);
    split->addWidget(bottom);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    split->setSizes({500, 330});
    split->setChildrenCollapsible(false);

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);
    layout->addWidget(split);

    connect(m_bitsCombo, &QComboBox::currentIndexChanged, this, [this]() {
        updateControls();
        writeSettings();
        scheduleRecompute();
    });
    connect(m_granularityCombo, &QComboBox::currentIndexChanged, this, [this]() {
        updateControls();
        writeSettings();
        scheduleRecompute();
    });
    connect(m_groupCombo, &QComboBox::currentIndexChanged, this, [this]() {
        writeSettings();
        scheduleRecompute();
    });
    connect(m_symmetricCheck, &QCheckBox::toggled, this, [this]() {
        writeSettings();
        scheduleRecompute();
    });
    connect(m_channelSpin, &QSpinBox::valueChanged, this, [this]() { scheduleRecompute(); });
    connect(m_pruneSlider, &QSlider::valueChanged, this, [this](int v) {
        m_pruneLabel->setText(QStringLiteral("%1 %").arg(v));
        scheduleRecompute();
    });
    connect(m_binsSpin, &QSpinBox::valueChanged, this, [this]() {
        writeSettings();
        updateHistogram();
        updateActivationPlot();
        scheduleRecompute(); // the result histogram takes the new bins
    });
    connect(m_logCheck, &QCheckBox::toggled, this, [this](bool on) {
        writeSettings();
        m_histogram->setLogScale(on);
        m_activationPlot->setLogScale(on);
    });
    connect(m_resultCheck, &QCheckBox::toggled, this, [this]() {
        writeSettings();
        recompute();
    });
    connect(m_samplesSpin, &QSpinBox::valueChanged, this, [this]() { writeSettings(); });
    connect(m_collectButton, &QPushButton::clicked, this, [this]() { collectActivations(); });
    m_dataFit = new DataFitCheck(this);
    connect(m_dataFit, &DataFitCheck::checked, this, &InspectView::autoCollectIfDataFits);
    connect(m_cancelButton, &QToolButton::clicked, this, [this]() {
        if (m_activationJob)
            m_activationJob->cancel();
    });
    m_pruneLabel->setText(QStringLiteral("0 %"));
}

void InspectView::readSettings()
{
    QSettings s;
    m_loading = true;
    m_binsSpin->setValue(s.value(QLatin1String(kBinsKey), 128).toInt());
    const bool log = s.value(QLatin1String(kLogKey), false).toBool();
    m_logCheck->setChecked(log);
    m_histogram->setLogScale(log);
    m_activationPlot->setLogScale(log);
    m_resultCheck->setChecked(s.value(QLatin1String(kResultKey), true).toBool());
    setBits(s.value(QLatin1String(kBitsKey), 8).toInt());
    setGranularity(cw::Granularity(std::clamp(s.value(QLatin1String(kGranularityKey), 1).toInt(), 0, 2)));
    setGroupSize(s.value(QLatin1String(kGroupKey), 64).toInt());
    m_symmetricCheck->setChecked(s.value(QLatin1String(kSymmetricKey), true).toBool());
    m_samplesSpin->setValue(s.value(QLatin1String(kSamplesKey), 256).toInt());
    m_loading = false;
    updateControls();
}

void InspectView::writeSettings()
{
    if (m_loading)
        return;
    QSettings s;
    s.setValue(QLatin1String(kBinsKey), m_binsSpin->value());
    s.setValue(QLatin1String(kLogKey), m_logCheck->isChecked());
    s.setValue(QLatin1String(kResultKey), m_resultCheck->isChecked());
    s.setValue(QLatin1String(kBitsKey), bits());
    s.setValue(QLatin1String(kGranularityKey), int(granularity()));
    s.setValue(QLatin1String(kGroupKey), m_groupCombo->currentData().toInt());
    s.setValue(QLatin1String(kSymmetricKey), m_symmetricCheck->isChecked());
    s.setValue(QLatin1String(kSamplesKey), m_samplesSpin->value());
}

void InspectView::updateControls()
{
    const bool quantized = bits() > 0;
    const cw::Granularity g = granularity();
    m_granularityCombo->setEnabled(quantized);
    m_symmetricCheck->setEnabled(quantized);
    m_groupCombo->setEnabled(quantized && g == cw::Granularity::Group);
    m_groupCombo->setVisible(g == cw::Granularity::Group);
    m_channelSpin->setEnabled(quantized && g != cw::Granularity::Tensor);
    m_collectButton->setEnabled(!m_activationJob && m_runInputs.blocked.isEmpty());
    m_collectButton->setToolTip(m_runInputs.blocked.isEmpty() ? tr("Run the model on the samples and record every layer's output")
                                                              : m_runInputs.blocked);
}

void InspectView::setRunInputs(const RunInputs &inputs)
{
    m_runInputs = inputs;
    updateControls();
}

// ---------------------------------------------------------------------------------------------------
// Controls

void InspectView::setBits(int bits)
{
    const int i = m_bitsCombo->findData(bits <= 0 ? 0 : std::clamp(bits, 2, 8));
    m_bitsCombo->setCurrentIndex(std::max(0, i));
}

int InspectView::bits() const
{
    return m_bitsCombo->currentData().toInt();
}

void InspectView::setGranularity(cw::Granularity granularity)
{
    m_granularityCombo->setCurrentIndex(m_granularityCombo->findData(int(granularity)));
}

cw::Granularity InspectView::granularity() const
{
    return cw::Granularity(m_granularityCombo->currentData().toInt());
}

void InspectView::setGroupSize(int groupSize)
{
    const int i = m_groupCombo->findData(groupSize);
    m_groupCombo->setCurrentIndex(i >= 0 ? i : 1);
}

void InspectView::setSymmetric(bool symmetric)
{
    m_symmetricCheck->setChecked(symmetric);
}

void InspectView::setPruneRatio(double ratio)
{
    m_pruneSlider->setValue(int(std::lround(std::clamp(ratio, 0.0, 0.95) * 100.0)));
}

double InspectView::pruneRatio() const
{
    return m_pruneSlider->value() / 100.0;
}

void InspectView::setGridChannel(int channel)
{
    m_channelSpin->setValue(channel);
}

void InspectView::setBins(int bins)
{
    m_binsSpin->setValue(bins);
}

int InspectView::bins() const
{
    return m_binsSpin->value();
}

void InspectView::setLogScale(bool log)
{
    m_logCheck->setChecked(log);
}

void InspectView::setActivationSamples(int samples)
{
    m_samplesSpin->setValue(samples);
}

QString InspectView::sqnrText() const { return m_sqnrLabel->text(); }
QString InspectView::relativeErrorText() const { return m_errorLabel->text(); }
QString InspectView::weightBytesText() const { return m_weightBytesLabel->text(); }
QString InspectView::modelBytesText() const { return m_modelBytesLabel->text(); }
QString InspectView::noticeText() const { return m_noticeLabel->isVisibleTo(this) ? m_noticeLabel->text() : QString(); }

// ---------------------------------------------------------------------------------------------------
// Model and layer

void InspectView::setModel(const cw::Model *model)
{
    if (m_activationJob)
        m_activationJob->cancel();
    m_model = model;
    m_form.reset();
    m_stored.clear();
    if (m_model) {
        m_form = cw::floatWeightForm(*m_model);
        for (cw::IntegerLayerWeight &w : cw::integerLayerWeights(m_model->graph))
            m_stored.emplace(w.layer, std::move(w));
    }
    m_activations.clear();
    m_activationSamplesUsed = 0;
    m_autoTried = false;
    m_layer.clear();
    loadLayer();
    // Histograms kept with the model (a reopened project) show at once, without running it.
    if (m_model)
        if (auto stored = m_model->analysis.find(cw::kActivationsKey); stored != m_model->analysis.end()) {
            try {
                cw::StoredActivations a = cw::activationsFromJson(stored->second);
                for (cw::ActivationSample &s : a.values)
                    m_activations[s.name] = std::move(s);
                m_activationSamplesUsed = a.samples;
                m_activationStatus->setText(tr("Stored: %1 samples of %2")
                                                .arg(formatCount(a.samples), QString::fromStdString(a.dataset)));
            } catch (const cw::Error &) {
                // unreadable: collected again when shown
            }
        }
    maybeAutoCollect();
}

void InspectView::showEvent(QShowEvent *event)
{
    QWidget::showEvent(event);
    maybeAutoCollect();
}

void InspectView::maybeAutoCollect()
{
    if (!m_autoCollect || m_autoTried || !m_model || !isVisible() || m_activationJob || !m_activations.empty())
        return;
    m_autoTried = true;
    // Unattended: a model that cannot run or lacks sizes says so here instead of asking, and data that does not fit
    // the model (Fashion-MNIST, the default, beside an audio model) is named before anything runs, not as the error
    // of a job nobody asked for. The check runs on the thread pool (ui/datafit.h).
    if (const QString refusal = m_runInputs.refusal(m_model->graph, true); !refusal.isEmpty())
        m_activationStatus->setText(refusal);
    else
        m_dataFit->check(&m_model->graph, m_datasetSpec, m_runInputs);
}

void InspectView::autoCollectIfDataFits()
{
    if (!m_autoTried || !m_model || m_activationJob || !m_activations.empty() ||
        m_dataFit->spec() != m_datasetSpec.trimmed())
        return;
    if (m_dataFit->problem().isEmpty()) {
        collectActivations();
        return;
    }
    m_activationStatus->setText(tr("Not collected: %1").arg(m_dataFit->problem()));
    m_activationStatus->setToolTip(tr("Give data that fits the model (Model → Evaluate…), then press Collect"));
}

void InspectView::setLayer(const QString &name)
{
    if (name == m_layer && !m_weight.isNull())
        return;
    m_layer = name;
    loadLayer();
}

void InspectView::loadLayer()
{
    m_weight = {};
    m_finite = {};
    m_channelValues.clear();
    m_histogramChannel = -2;
    m_nan = m_inf = 0;
    m_outputName.clear();
    m_whatIf = {};
    m_debounce->stop();

    // A layer of the model (also one inside an If / Loop / Scan; a quantized one by its float values), else any
    // top-level node.
    const std::string name = m_layer.toStdString();
    const std::optional<cw::LayerNode> layer = m_form && !name.empty() ? cw::findLayer(m_form->graph, name) : std::nullopt;
    const auto stored = m_stored.find(name);
    const cw::Node *node = layer                     ? layer->node
                           : m_model && !name.empty() ? m_model->graph.findNode(name)
                                                      : nullptr;
    m_nested = layer && layer->nested;
    if (!node) {
        m_header->setText(m_model ? tr("<h3>Select a layer</h3><p>Pick a layer in the table, the chart or the graph to "
                                       "see its weights and what compression would do to them.</p>")
                                  : tr("<h3>No model open</h3>"));
        m_histogram->clear();
        m_histogram->setTitle(QString());
        m_channels->clear();
        m_activationPlot->clear();
        m_activationPlot->setTitle(QString());
        for (QLabel *l : {m_sqnrLabel, m_errorLabel, m_weightBytesLabel, m_modelBytesLabel})
            l->setText(QStringLiteral("—"));
        m_gridLabel->clear();
        m_noticeLabel->setVisible(false);
        m_activationStatus->clear();
        emit whatIfChanged();
        return;
    }
    if (!node->outputs.empty() && !m_nested) // a subgraph's values are not recorded
        m_outputName = node->outputs.front();

    std::string weightName = layer ? layer->weight : std::string();
    if (!weightName.empty())
        m_weight = m_form->graph.initializers.at(weightName);
    std::optional<cw::LayerStats::Stored> levels;
    int64_t storedBytes = 0;
    if (stored != m_stored.end()) {
        const cw::IntegerLayerWeight &iw = stored->second;
        if (m_weight.isNull()) // an integer layer (QLinearConv & co.)
            m_weight = cw::dequantizeLayerWeight(m_model->graph, iw);
        weightName = iw.q;
        levels = cw::storedLevels(m_model->graph, iw);
        storedBytes = cw::storedWeightBytes(m_model->graph, iw);
    }

    QString header = tr("<span style='font-size:large'><b>%1</b></span> &nbsp;·&nbsp; %2")
                         .arg(m_layer.toHtmlEscaped(), QString::fromStdString(node->opType));
    if (m_nested)
        header += tr(" &nbsp;·&nbsp; inside an If / Loop / Scan");
    if (!m_weight.isNull()) {
        m_channelAxis = cw::outputChannelAxis(*node, m_weight.shape());
        if (!layer && stored != m_stored.end() && stored->second.axis >= 0 && stored->second.blockSize == 0)
            m_channelAxis = stored->second.axis; // an integer op's weight: its scales run along the output channels
        header += tr(" &nbsp;·&nbsp; weight <tt>%1</tt> %2 &nbsp;·&nbsp; %3 weights, %4 output channels")
                      .arg(QString::fromStdString(weightName).toHtmlEscaped(), formatShape(m_weight.shape()),
                           formatCount(m_weight.numel()), formatCount(m_weight.dim(m_channelAxis)));
        if (levels) {
            const QString scales = levels->blockSize > 0 ? tr("%1 scales, one per group of %2").arg(formatCount(levels->scales)).arg(levels->blockSize)
                                   : levels->scales == 1 ? tr("one scale")
                                                         : tr("%1 scales, one per channel").arg(formatCount(levels->scales));
            const QString zeroPoint = levels->zeroPointMin == levels->zeroPointMax
                                          ? tr("zero point %1").arg(levels->zeroPointMin)
                                          : tr("zero points %1…%2").arg(levels->zeroPointMin).arg(levels->zeroPointMax);
            header += tr("<br>stored as <b>%1</b> by %2: integers %3…%4 (<b>%5 bits</b> used), %6 %7…%8, %9 — the "
                         "values shown are (q − zero point) × scale")
                          .arg(QString::fromLatin1(cw::dtypeName(levels->dtype)), QString::fromStdString(levels->op))
                          .arg(levels->qmin)
                          .arg(levels->qmax)
                          .arg(levels->bits)
                          .arg(scales, formatNumber(levels->scaleMin), formatNumber(levels->scaleMax), zeroPoint);
        }
        const float *p = m_weight.f32();
        const int64_t n = m_weight.numel();
        for (int64_t i = 0; i < n; ++i) {
            if (std::isnan(p[i]))
                ++m_nan;
            else if (std::isinf(p[i]))
                ++m_inf;
        }
        m_finite = m_weight;
        if (m_nan + m_inf > 0) {
            m_finite = m_weight.clone();
            float *q = m_finite.f32();
            for (int64_t i = 0; i < n; ++i)
                if (!std::isfinite(q[i]))
                    q[i] = 0.f;
        }
        m_storedBytes = storedBytes > 0 ? storedBytes : int64_t(m_weight.byteSize());
        m_otherBytes = int64_t(m_model->graph.parameterBytes()) - m_storedBytes;
        m_channelSpin->setRange(-1, int(m_weight.dim(m_channelAxis)) - 1);
        m_channelValues = gatherChannels(m_weight, m_channelAxis);
        m_channels->setChannels(computeChannelRanges(m_channelValues));
    } else {
        header += tr(" &nbsp;·&nbsp; no weights");
        m_channels->clear();
    }
    m_header->setText(header);
    updateHistogram();
    updateActivationPlot();
    recompute();
}

QString InspectView::activationStatusText() const
{
    return m_activationStatus->text();
}

QString InspectView::headerText() const
{
    return m_header->text();
}

void InspectView::updateHistogram()
{
    if (m_weight.isNull()) {
        m_histogram->clear();
        m_histogram->setTitle(m_model && !m_layer.isEmpty() ? tr("This layer has no weights") : QString());
        return;
    }
    const int channel = granularity() != cw::Granularity::Tensor && bits() > 0 ? m_channelSpin->value() : -1;
    m_histogramChannel = channel >= 0 && channel < int(m_channelValues.size()) ? channel : -1;
    if (m_histogramChannel >= 0) {
        const std::vector<float> &v = m_channelValues[size_t(m_histogramChannel)];
        m_histogram->setHistogram(cw::computeHistogram(v.data(), int64_t(v.size()), bins()));
        m_histogram->setAxisLabels(tr("Weight value (output channel %1 only)").arg(m_histogramChannel), tr("Count"));
    } else {
        m_histogram->setHistogram(cw::computeHistogram(m_weight.f32(), m_weight.numel(), bins()));
        m_histogram->setAxisLabels(tr("Weight value"), tr("Count"));
    }
    QString notice;
    if (m_nan + m_inf > 0)
        notice = tr("%1 NaN, %2 Inf in the weights — excluded from the histogram, counted as 0 in the numbers")
                     .arg(formatCount(m_nan), formatCount(m_inf));
    m_histogram->setNotice(notice);
    m_noticeLabel->setText(notice);
    m_noticeLabel->setVisible(!notice.isEmpty());
}

void InspectView::scheduleRecompute()
{
    if (m_loading)
        return;
    if (m_lastMs <= kSyncBudgetMs)
        recompute();
    else
        m_debounce->start();
}

bool InspectView::recomputePending() const
{
    return m_debounce->isActive();
}

void InspectView::recompute()
{
    m_debounce->stop();
    if (m_weight.isNull()) {
        m_whatIf = {};
        for (QLabel *l : {m_sqnrLabel, m_errorLabel, m_weightBytesLabel, m_modelBytesLabel})
            l->setText(QStringLiteral("—"));
        m_gridLabel->clear();
        m_histogram->clearQuantGrid();
        m_histogram->setPruneThreshold(0);
        m_channels->setHighlightedChannel(-1);
        emit whatIfChanged();
        return;
    }
    QElapsedTimer timer;
    timer.start();

    WhatIf w;
    w.valid = true;
    w.nonFinite = m_nan + m_inf;
    w.quantized = bits() > 0;
    w.spec.bits = w.quantized ? bits() : 8;
    w.spec.granularity = granularity();
    w.spec.groupSize = m_groupCombo->currentData().toInt();
    w.spec.symmetric = m_symmetricCheck->isChecked();
    w.pruneRatio = pruneRatio();

    const int64_t n = m_finite.numel();
    cw::Tensor pruned = m_finite;
    if (w.pruneRatio > 0) {
        w.threshold = cw::magnitudeThreshold(m_finite, w.pruneRatio);
        pruned = cw::pruneMagnitude(m_finite, w.pruneRatio);
    }
    cw::Tensor approx = pruned;
    std::vector<cw::QuantGrid> grids;
    if (w.quantized) {
        cw::QuantResult q = cw::fakeQuantize(pruned, w.spec, m_channelAxis);
        approx = q.dequantized;
        grids = std::move(q.grids);
    }
    w.error = cw::weightError(m_finite, approx);

    // Bytes: dense at the setting; with pruning, a one-bit mask plus the surviving values when smaller.
    w.originalWeightBytes = m_storedBytes;
    const int64_t dense = w.quantized ? cw::quantizedBytes(m_weight.shape(), w.spec, m_channelAxis) : n * 4;
    w.weightBytes = dense;
    if (w.pruneRatio > 0) {
        int64_t nonzero = 0;
        const float *p = pruned.f32();
        for (int64_t i = 0; i < n; ++i)
            nonzero += p[i] != 0.f;
        const int64_t sparse = (n + 7) / 8 + (dense * nonzero + n - 1) / std::max<int64_t>(1, n);
        w.weightBytes = std::min(dense, sparse);
    }
    w.originalModelBytes = m_otherBytes + w.originalWeightBytes;
    w.modelBytes = m_otherBytes + w.weightBytes;

    // The grid to draw: the tensor's, or the widest block of the chosen (or widest) channel.
    if (!grids.empty()) {
        const int64_t channels = m_weight.dim(m_channelAxis);
        const size_t perChannel = w.spec.granularity == cw::Granularity::Tensor
                                      ? grids.size()
                                      : std::max<size_t>(1, grids.size() / size_t(std::max<int64_t>(1, channels)));
        size_t begin = 0, end = grids.size();
        if (w.spec.granularity != cw::Granularity::Tensor && m_channelSpin->value() >= 0) {
            begin = size_t(m_channelSpin->value()) * perChannel;
            end = std::min(grids.size(), begin + perChannel);
        }
        size_t best = begin;
        for (size_t i = begin; i < end; ++i)
            if (grids[i].hi() - grids[i].lo() > grids[best].hi() - grids[best].lo())
                best = i;
        w.grid = grids[best];
        w.gridChannel = w.spec.granularity == cw::Granularity::Tensor ? -1 : int(best / perChannel);
    }
    m_whatIf = w;

    // The histogram follows a picked channel (its grid fits that channel's values).
    const int wantChannel = w.quantized && w.spec.granularity != cw::Granularity::Tensor ? m_channelSpin->value() : -1;
    if (wantChannel != m_histogramChannel)
        updateHistogram();

    // Overlay
    if (w.quantized && !grids.empty()) {
        std::vector<double> levels;
        const int count = w.grid.qmax - w.grid.qmin + 1;
        if (count <= HistogramPlot::kMaxLevelLines)
            for (int q = w.grid.qmin; q <= w.grid.qmax; ++q)
                levels.push_back(double(q - w.grid.zeroPoint) * double(w.grid.scale));
        m_histogram->setQuantGrid(levels, w.grid.lo(), w.grid.hi());
    } else {
        m_histogram->clearQuantGrid();
    }
    m_histogram->setPruneThreshold(w.threshold);
    m_channels->setHighlightedChannel(w.gridChannel);
    // The result over the original, in the same bins (of the channel the histogram shows, if one).
    if (m_resultCheck->isChecked() && (w.quantized || w.pruneRatio > 0)) {
        const cw::Histogram &before = m_histogram->histogram();
        std::vector<float> channel;
        if (m_histogramChannel >= 0)
            channel = gatherChannels(approx, m_channelAxis)[size_t(m_histogramChannel)];
        const float *values = m_histogramChannel >= 0 ? channel.data() : approx.f32();
        const int64_t count = m_histogramChannel >= 0 ? int64_t(channel.size()) : approx.numel();
        m_histogram->setResult(cw::computeHistogram(values, count, int(before.counts.size()), before.lo, before.hi));
    } else {
        m_histogram->clearResult();
    }

    {
        QStringList plain;
        if (w.quantized) {
            QString line = tr("%1-bit %2 grid").arg(w.spec.bits).arg(w.spec.symmetric ? tr("symmetric") : tr("asymmetric"));
            if (w.gridChannel >= 0)
                line += m_channelSpin->value() < 0 ? tr(" (widest channel %1)").arg(w.gridChannel)
                                                   : tr(" (channel %1)").arg(w.gridChannel);
            const int levels = w.grid.qmax - w.grid.qmin + 1;
            line += tr("\n%1 levels%2 · clip [%3, %4]")
                        .arg(levels)
                        .arg(levels > HistogramPlot::kMaxLevelLines ? tr(" (too many to draw)") : QString())
                        .arg(formatNumber(w.grid.lo()), formatNumber(w.grid.hi()));
            plain << line;
        } else {
            plain << tr("float32: no quantization");
        }
        if (w.pruneRatio > 0)
            plain << tr("pruned %1 %: |w| < %2 set to 0").arg(qRound(w.pruneRatio * 100)).arg(formatNumber(w.threshold, 3));
        m_histogram->setTitle(plain.join(QLatin1Char('\n')));
    }
    QStringList gridText;
    if (w.quantized) {
        gridText << tr("<span style='color:#c83c1e'>━</span> clipping range &nbsp;<span style='color:#e67e22'>│</span> "
                       "levels");
        gridText << tr("scale %1%2").arg(formatNumber(w.grid.scale)).arg(w.spec.symmetric ? QString()
                                                                                          : tr(", zero point %1").arg(w.grid.zeroPoint));
    }
    if (w.pruneRatio > 0)
        gridText << tr("<span style='color:#5a5a5a'>▒</span> pruned region");
    m_gridLabel->setText(gridText.join(QStringLiteral("<br>")));

    m_sqnrLabel->setText(formatDb(w.error.sqnrDb));
    m_errorLabel->setText(formatPercent(w.error.relativeError, 2));
    const auto ratio = [](int64_t now, int64_t before) {
        return before > 0 ? QStringLiteral("  (%1×)").arg(displayLocale().toString(double(before) / double(std::max<int64_t>(1, now)), 'f', 1))
                          : QString();
    };
    m_weightBytesLabel->setText(formatBytes(w.weightBytes) + ratio(w.weightBytes, w.originalWeightBytes));
    // The model changes by a few percent at most when one layer does: say by how much, not "1.0×".
    const double change = w.originalModelBytes > 0 ? double(w.modelBytes - w.originalModelBytes) / double(w.originalModelBytes) : 0;
    m_modelBytesLabel->setText(formatBytes(w.modelBytes) +
                               (change == 0 ? QString()
                                            : QStringLiteral("  (%1%2 %)")
                                                  .arg(change < 0 ? QStringLiteral("−") : QStringLiteral("+"))
                                                  .arg(displayLocale().toString(std::abs(change) * 100, 'f', 1))));
    m_weightBytesLabel->setToolTip(tr("%1 bytes (float32: %2)").arg(formatCount(w.weightBytes), formatCount(w.originalWeightBytes)));
    m_modelBytesLabel->setToolTip(tr("%1 bytes (float32: %2)").arg(formatCount(w.modelBytes), formatCount(w.originalModelBytes)));

    m_lastMs = timer.elapsed();
    emit whatIfChanged();
}

// ---------------------------------------------------------------------------------------------------
// Activations

bool InspectView::collectActivations()
{
    if (!m_model || m_activationJob || m_model->graph.inputs.empty())
        return false;
    if (const QString refusal = m_runInputs.refusal(m_model->graph, true); !refusal.isEmpty()) {
        m_activationStatus->setText(refusal);
        if (m_runInputs.blocked.isEmpty())
            emit inputsNeeded(refusal);
        return false;
    }
    ActivationParams params;
    params.model = *m_model;
    params.inputs = m_runInputs.feeds;
    params.preprocess = m_runInputs.preprocess;
    params.datasetSpec = m_datasetSpec.toStdString();
    params.samples = m_samplesSpin->value();
    params.batchSize = 64;
    for (const cw::Node &node : m_model->graph.nodes)
        if (!node.outputs.empty() && !node.outputs.front().empty())
            params.valueNames.push_back(node.outputs.front());
    auto *job = new ActivationJob(std::move(params), this);
    m_activationJob = job;
    connect(job, &Job::progress, this, [this](double fraction, const QString &) {
        m_activationProgress->setValue(int(std::clamp(fraction, 0.0, 1.0) * 1000));
    });
    connect(job, &ActivationJob::succeeded, this, [this, job]() {
        m_activations.clear();
        for (const cw::ActivationSample &s : job->result())
            m_activations[s.name] = s;
        m_activationSamplesUsed = job->params().samples;
        m_activationStatus->setText(tr("%1 samples in %2 ms").arg(formatCount(job->params().samples)).arg(job->elapsedMs()));
        updateActivationPlot();
        emit activationsCollected(QString::fromStdString(
            cw::activationsToJson(job->result(), job->params().datasetSpec, job->params().samples)));
    });
    connect(job, &Job::failed, this, [this](const QString &error) {
        m_activationStatus->setText(tr("<span style='color:#a01e1e'>%1</span>").arg(error.toHtmlEscaped()));
        m_activationStatus->setToolTip(error);
    });
    connect(job, &Job::cancelled, this, [this]() { m_activationStatus->setText(tr("Cancelled")); });
    connect(job, &Job::finished, this, [this, job]() {
        m_activationJob = nullptr;
        job->deleteLater();
        onActivationsDone();
    });
    m_activationStatus->clear();
    m_activationProgress->setValue(0);
    m_activationProgress->setVisible(true);
    m_cancelButton->setVisible(true);
    job->start();
    updateControls();
    return true;
}

void InspectView::onActivationsDone()
{
    m_activationProgress->setVisible(false);
    m_cancelButton->setVisible(false);
    updateControls();
    emit activationsFinished();
}

void InspectView::updateActivationPlot()
{
    auto it = m_activations.find(m_outputName);
    if (it == m_activations.end() || (it->second.values.empty() && it->second.binned.counts.empty())) {
        m_activationPlot->clear();
        m_activationPlot->setTitle(m_nested ? tr("Activations inside an If / Loop / Scan are not recorded")
                                   : m_outputName.empty() || !m_model ? QString()
                                   : m_activations.empty() ? tr("Press Collect to run %1 samples of the dataset")
                                                                 .arg(m_samplesSpin->value())
                                                           : tr("No values recorded for this output"));
        return;
    }
    const cw::ActivationSample &s = it->second;
    m_activationPlot->setHistogram(s.values.empty() ? cw::rebinHistogram(s.binned, bins())
                                                    : cw::computeHistogram(s.values.data(), int64_t(s.values.size()), bins()));
    QString title = tr("%1 · %2 samples · %3 values")
                        .arg(QString::fromStdString(s.name))
                        .arg(formatCount(m_activationSamplesUsed))
                        .arg(formatCount(s.total));
    if (s.stride > 1)
        title += tr("\n1 in %1 shown · range [%2, %3]").arg(s.stride).arg(formatNumber(s.min), formatNumber(s.max));
    else
        title += tr("\nrange [%1, %2]").arg(formatNumber(s.min), formatNumber(s.max));
    m_activationPlot->setTitle(title);
    m_activationPlot->setNotice(s.nanCount + s.infCount > 0
                                    ? tr("%1 NaN, %2 Inf excluded").arg(formatCount(s.nanCount), formatCount(s.infCount))
                                    : QString());
}

} // namespace cw::ui
