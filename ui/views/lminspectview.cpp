#include "ui/views/lminspectview.h"

#include <QCheckBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QFrame>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QSettings>
#include <QSortFilterProxyModel>
#include <QSpinBox>
#include <QSplitter>
#include <QStandardItemModel>
#include <QTableView>
#include <QTreeView>
#include <QVBoxLayout>

#include <algorithm>

#include "ui/charts/channelprofileplot.h"
#include "ui/charts/histogramplot.h"
#include "ui/formatting.h"
#include "ui/models/lmtensormodel.h"
#include "ui/rowtable.h"

namespace cw::ui {

namespace {
const char kBinsKey[] = "lmInspect/bins";
const char kLogKey[] = "lmInspect/logScale";
const char kFactorKey[] = "lmInspect/outlierFactor";
const char kSplitKey[] = "lmInspect/splitter";

QString number(double v)
{
    return displayLocale().toString(v, 'g', 4);
}

QLabel *caption(const QString &text)
{
    auto *label = new QLabel(text);
    label->setWordWrap(true);
    label->setStyleSheet(QStringLiteral("QLabel { color: #666; }"));
    return label;
}
} // namespace

LmInspectView::LmInspectView(LmTensorModel *tensors, QWidget *parent) : QWidget(parent), m_tensors(tensors)
{
    setObjectName(QStringLiteral("lmInspectView"));
    buildUi();
    readSettings();
    clearStats();
}

LmInspectView::~LmInspectView()
{
    if (m_job)
        m_job->cancel(); // a child: it waits for its worker when destroyed
}

void LmInspectView::buildUi()
{
    // Left: the tensor tree.
    m_proxy = new QSortFilterProxyModel(this);
    m_proxy->setSourceModel(m_tensors);
    m_proxy->setFilterCaseSensitivity(Qt::CaseInsensitive);
    m_proxy->setFilterKeyColumn(-1);
    m_proxy->setRecursiveFilteringEnabled(true); // a group stays while one of its tensors matches
    m_proxy->setAutoAcceptChildRows(true);       // "Block 3" shows the whole block
    m_filter = new QLineEdit;
    m_filter->setObjectName(QStringLiteral("lmTensorFilter"));
    m_filter->setPlaceholderText(tr("Filter tensors by name, part, type…"));
    m_filter->setClearButtonEnabled(true);
    connect(m_filter, &QLineEdit::textChanged, this, [this](const QString &text) {
        m_proxy->setFilterFixedString(text);
        if (!text.isEmpty())
            m_tree->expandAll();
    });
    m_tree = new QTreeView;
    m_tree->setObjectName(QStringLiteral("lmTensorTree"));
    m_tree->setModel(m_proxy);
    m_tree->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_tree->setSelectionMode(QAbstractItemView::SingleSelection);
    m_tree->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_tree->setAlternatingRowColors(true);
    m_tree->setUniformRowHeights(true);
    m_tree->setTextElideMode(Qt::ElideMiddle);
    m_tree->header()->setStretchLastSection(true);
    connect(m_tree->selectionModel(), &QItemSelectionModel::currentRowChanged, this, &LmInspectView::onCurrentChanged);
    auto *left = new QWidget;
    auto *leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(0, 0, 3, 0);
    auto *filterRow = new QHBoxLayout;
    filterRow->addWidget(new QLabel(tr("<b>Tensors</b>")));
    filterRow->addSpacing(8);
    filterRow->addWidget(m_filter, 1);
    leftLayout->addLayout(filterRow);
    leftLayout->addWidget(m_tree, 1);

    // Right: the selected tensor.
    m_header = new QLabel;
    m_header->setObjectName(QStringLiteral("lmInspectHeader"));
    m_header->setTextFormat(Qt::RichText);
    m_header->setWordWrap(true);
    m_header->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_status = new QLabel;
    m_status->setObjectName(QStringLiteral("lmInspectStatus"));
    m_status->setStyleSheet(QStringLiteral("QLabel { color: #666; }"));

    m_binsSpin = new QSpinBox;
    m_binsSpin->setObjectName(QStringLiteral("lmBinsSpin"));
    m_binsSpin->setRange(8, 1024);
    m_binsSpin->setSuffix(tr(" bins"));
    m_logCheck = new QCheckBox(tr("Log count axis"));
    m_logCheck->setObjectName(QStringLiteral("lmLogCheck"));
    m_factorSpin = new QDoubleSpinBox;
    m_factorSpin->setObjectName(QStringLiteral("lmOutlierFactorSpin"));
    m_factorSpin->setRange(1.5, 100);
    m_factorSpin->setDecimals(1);
    m_factorSpin->setSingleStep(0.5);
    m_factorSpin->setPrefix(tr("outliers above "));
    m_factorSpin->setSuffix(tr(" × typical"));
    m_factorSpin->setToolTip(tr("An input channel is an outlier when its largest |w| exceeds this many times the "
                                "typical (median) channel's"));
    m_factorSpin->setKeyboardTracking(false);
    auto *controls = new QHBoxLayout;
    controls->addWidget(new QLabel(tr("<b>Value histogram</b>")));
    controls->addWidget(m_status, 1);
    controls->addWidget(m_binsSpin);
    controls->addWidget(m_logCheck);
    controls->addWidget(m_factorSpin);

    m_histogram = new HistogramPlot;
    m_histogram->setObjectName(QStringLiteral("lmHistogram"));

    // The numbers, and the outlier channels listed.
    auto *numbers = new QFrame;
    numbers->setObjectName(QStringLiteral("lmNumbers"));
    numbers->setFrameShape(QFrame::StyledPanel);
    auto *numbersLayout = new QVBoxLayout(numbers);
    auto *form = new QFormLayout;
    form->setHorizontalSpacing(12);
    form->setVerticalSpacing(2);
    const std::pair<const char *, const char *> rows[] = {
        {QT_TR_NOOP("Min"), nullptr},
        {QT_TR_NOOP("Max"), nullptr},
        {QT_TR_NOOP("Mean"), nullptr},
        {QT_TR_NOOP("Std"), QT_TR_NOOP("Population standard deviation")},
        {QT_TR_NOOP("Kurtosis"), QT_TR_NOOP("Excess kurtosis: 0 for a normal distribution; large when a few values are far out")},
        {QT_TR_NOOP("Zeros"), QT_TR_NOOP("Share of exact zeros")},
        {QT_TR_NOOP("Typical"), QT_TR_NOOP("The median input channel's largest |w|")},
        {QT_TR_NOOP("Outliers"), QT_TR_NOOP("Input channels whose largest |w| exceeds the factor times the typical one")},
    };
    for (const auto &[label, tip] : rows) {
        auto *value = new QLabel(QStringLiteral("—"));
        value->setObjectName(QStringLiteral("lmNumber") + QString::fromLatin1(label));
        value->setTextInteractionFlags(Qt::TextSelectableByMouse);
        QFont f = value->font();
        f.setBold(true);
        value->setFont(f);
        auto *key = new QLabel(tr(label));
        key->setStyleSheet(QStringLiteral("QLabel { color: #666; }"));
        if (tip) {
            key->setToolTip(tr(tip));
            value->setToolTip(tr(tip));
        }
        form->addRow(key, value);
        m_numbers[QString::fromLatin1(label)] = value;
    }
    numbersLayout->addLayout(form);
    m_outlierCaption = new QLabel;
    m_outlierCaption->setWordWrap(true);
    m_outlierCaption->setTextFormat(Qt::RichText);
    numbersLayout->addSpacing(6);
    numbersLayout->addWidget(m_outlierCaption);
    m_outlierModel = new QStandardItemModel(0, 3, this);
    m_outlierModel->setHorizontalHeaderLabels({tr("Channel"), tr("|w| max"), tr("× typical")});
    m_outlierTable = newRowTable(QStringLiteral("lmOutlierTable"), m_outlierModel);
    m_outlierTable->verticalHeader()->setDefaultSectionSize(m_outlierTable->fontMetrics().height() + 6);
    m_outlierTable->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    m_outlierTable->setToolTip(tr("Select a channel to ring it in the input-channel plot"));
    connect(m_outlierTable->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            [this](const QModelIndex &current) {
                m_columns->setHighlighted(current.isValid() ? m_outlierModel->item(current.row(), 0)->data(Qt::UserRole).toLongLong()
                                                            : -1);
            });
    numbersLayout->addWidget(m_outlierTable, 1);
    numbers->setMinimumWidth(230);
    numbers->setMaximumWidth(300);

    auto *histRow = new QHBoxLayout;
    histRow->addWidget(m_histogram, 1);
    histRow->addWidget(numbers);
    auto *top = new QWidget;
    auto *topLayout = new QVBoxLayout(top);
    topLayout->setContentsMargins(0, 0, 0, 0);
    topLayout->addWidget(m_header);
    topLayout->addLayout(controls);
    topLayout->addLayout(histRow, 1);

    m_rows = new ChannelProfilePlot;
    m_rows->setObjectName(QStringLiteral("lmRowRangePlot"));
    m_rows->setAxisLabels(tr("Output channel (row)"), tr("Weight value"));
    m_columns = new ChannelProfilePlot;
    m_columns->setObjectName(QStringLiteral("lmColumnPlot"));
    m_columns->setAxisLabels(tr("Input channel (column)"), tr("Largest |w|"));
    m_rowsCaption = caption(QString());
    m_columnsCaption = caption(QString());
    const auto box = [](const QString &title, QLabel *caption, QWidget *plot) {
        auto *w = new QWidget;
        auto *l = new QVBoxLayout(w);
        l->setContentsMargins(0, 0, 0, 0);
        l->setSpacing(2);
        l->addWidget(new QLabel(title));
        l->addWidget(caption);
        l->addWidget(plot, 1);
        return w;
    };
    auto *bottom = new QSplitter(Qt::Horizontal);
    bottom->addWidget(box(tr("<b>Range per output channel</b>"), m_rowsCaption, m_rows));
    bottom->addWidget(box(tr("<b>Largest magnitude per input channel</b>"), m_columnsCaption, m_columns));
    bottom->setChildrenCollapsible(false);

    auto *rightSplit = new QSplitter(Qt::Vertical);
    rightSplit->addWidget(top);
    rightSplit->addWidget(bottom);
    rightSplit->setStretchFactor(0, 1);
    rightSplit->setStretchFactor(1, 1);
    rightSplit->setSizes({360, 320});
    rightSplit->setChildrenCollapsible(false);

    auto *split = new QSplitter(Qt::Horizontal);
    split->setObjectName(QStringLiteral("lmInspectSplitter"));
    split->addWidget(left);
    split->addWidget(rightSplit);
    split->setStretchFactor(0, 2);
    split->setStretchFactor(1, 5);
    split->setSizes({430, 850});
    split->setChildrenCollapsible(false);
    connect(split, &QSplitter::splitterMoved, this,
            [split]() { QSettings().setValue(QLatin1String(kSplitKey), split->saveState()); });
    split->restoreState(QSettings().value(QLatin1String(kSplitKey)).toByteArray());

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(6, 6, 6, 6);
    layout->addWidget(split);

    connect(m_binsSpin, &QSpinBox::valueChanged, this, [this]() { invalidate(); });
    connect(m_factorSpin, &QDoubleSpinBox::valueChanged, this, [this]() { invalidate(); });
    connect(m_logCheck, &QCheckBox::toggled, this, [this](bool on) {
        m_histogram->setLogScale(on);
        writeSettings();
    });
}

void LmInspectView::readSettings()
{
    QSettings s;
    m_loading = true;
    m_binsSpin->setValue(s.value(QLatin1String(kBinsKey), 128).toInt());
    m_factorSpin->setValue(s.value(QLatin1String(kFactorKey), 6.0).toDouble());
    const bool log = s.value(QLatin1String(kLogKey), true).toBool(); // the tails are the story
    m_logCheck->setChecked(log);
    m_histogram->setLogScale(log);
    m_loading = false;
}

void LmInspectView::writeSettings()
{
    if (m_loading)
        return;
    QSettings s;
    s.setValue(QLatin1String(kBinsKey), m_binsSpin->value());
    s.setValue(QLatin1String(kFactorKey), m_factorSpin->value());
    s.setValue(QLatin1String(kLogKey), m_logCheck->isChecked());
}

void LmInspectView::setBins(int bins)
{
    m_binsSpin->setValue(bins);
}

int LmInspectView::bins() const
{
    return m_binsSpin->value();
}

void LmInspectView::setOutlierFactor(double factor)
{
    m_factorSpin->setValue(factor);
}

double LmInspectView::outlierFactor() const
{
    return m_factorSpin->value();
}

void LmInspectView::setLogScale(bool log)
{
    m_logCheck->setChecked(log);
}

void LmInspectView::setModel(LanguageModelPtr model)
{
    if (m_job)
        m_job->cancel(); // its result belongs to the previous model; finished() drops it
    m_model = std::move(model);
    clearStats();
    m_cache.clear();
    m_pending.clear();
    m_tensor.clear();
    m_filter->clear();
    m_tree->collapseAll();
    if (m_model) {
        // The first block open: the shape of every block at a glance.
        m_tree->expand(m_proxy->index(0, 0));
        if (m_proxy->rowCount() > 1)
            m_tree->expand(m_proxy->index(1, 0));
        for (int c = 0; c < LmTensorModel::Name; ++c)
            m_tree->resizeColumnToContents(c);
    }
    m_header->setText(m_model ? tr("Select a tensor on the left to see its statistics.") : QString());
    setStatus(QString());
    if (isVisible())
        selectFirstMatrix();
}

bool LmInspectView::selectTensor(const QString &name)
{
    const QModelIndex source = m_tensors->indexOfTensor(name);
    if (!source.isValid())
        return false;
    QModelIndex index = m_proxy->mapFromSource(source);
    if (!index.isValid()) { // filtered out
        m_filter->clear();
        index = m_proxy->mapFromSource(source);
    }
    m_tree->expand(index.parent());
    m_tree->selectionModel()->setCurrentIndex(index, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
    m_tree->scrollTo(index);
    return true;
}

void LmInspectView::showEvent(QShowEvent *event)
{
    QWidget::showEvent(event);
    selectFirstMatrix();
}

void LmInspectView::selectFirstMatrix()
{
    if (!m_model || m_tree->selectionModel()->currentIndex().isValid())
        return;
    for (const LmTensorModel::Group &g : m_tensors->groups()) {
        if (g.block < 0)
            continue;
        for (size_t i : g.tensors)
            if (m_model->tensors()[i].shape.size() == 2) {
                selectTensor(QString::fromStdString(m_model->tensors()[i].name));
                return;
            }
    }
}

void LmInspectView::onCurrentChanged()
{
    const QModelIndex current = m_proxy->mapToSource(m_tree->selectionModel()->currentIndex());
    const QString name = m_tensors->tensorName(current);
    if (!name.isEmpty()) {
        showTensor(name);
        return;
    }
    // A group row: what it holds.
    m_tensor.clear();
    clearStats();
    setStatus(QString());
    if (current.isValid() && !current.parent().isValid()) {
        const LmTensorModel::Group &g = m_tensors->groups()[size_t(current.row())];
        m_header->setText(tr("<b>%1</b> — %n tensor(s), %2 parameters, %3", nullptr, int(g.tensors.size()))
                              .arg(g.title.toHtmlEscaped(), formatCount(g.parameters), formatBytes(g.bytes)));
    }
}

void LmInspectView::showTensor(const QString &name)
{
    m_tensor = name;
    const std::string wanted = name.toStdString();
    for (const auto &t : m_model->tensors())
        if (t.name == wanted)
            m_header->setText(tr("<b>%1</b> · %2 · %3 %4 · %5 parameters · %6")
                                  .arg(name.toHtmlEscaped(), LmTensorModel::partLabel(t.role).toHtmlEscaped(),
                                       formatShape(t.shape), QString::fromStdString(t.type), formatCount(t.numel),
                                       formatBytes(int64_t(t.bytes))));
    const auto cached = m_cache.find(name);
    if (cached != m_cache.end()) {
        m_pending.clear();
        showStats(cached->second);
        setStatus(QString());
        return;
    }
    clearStats();
    request(name);
}

void LmInspectView::request(const QString &name)
{
    if (m_job) {
        m_pending = name;
        setStatus(tr("Waiting for %1…").arg(m_job->tensor()));
        return;
    }
    startJob(name);
}

void LmInspectView::startJob(const QString &name)
{
    m_pending.clear();
    auto *job = new WeightStatsJob(m_model, name, bins(), outlierFactor(), this);
    m_job = job;
    setStatus(tr("Reading and measuring %1…").arg(name));
    const LanguageModelPtr model = m_model;
    connect(job, &WeightStatsJob::succeeded, this, [this, job, model]() {
        // Kept only when it still describes the open model at the current settings.
        if (model != m_model || job->bins() != bins() || job->outlierFactor() != outlierFactor())
            return;
        const auto [it, inserted] = m_cache.insert_or_assign(job->tensor(), *job->result());
        if (job->tensor() == m_tensor) {
            showStats(it->second);
            setStatus(tr("Measured in %1 s").arg(displayLocale().toString(job->elapsedMs() / 1000.0, 'f', 2)));
        }
        emit statsFinished(job->tensor(), true);
    });
    connect(job, &Job::failed, this, [this, job](const QString &error) {
        if (job->tensor() == m_tensor)
            setStatus(tr("Failed: %1").arg(error));
        emit statsFinished(job->tensor(), false);
    });
    connect(job, &Job::finished, this, [this, job]() {
        if (m_job == job)
            m_job = nullptr;
        job->deleteLater();
        // The last tensor asked for while this one ran.
        const QString next = m_pending;
        if (!next.isEmpty() && m_model && !m_cache.count(next))
            startJob(next);
    });
    job->start();
}

void LmInspectView::invalidate()
{
    writeSettings();
    if (m_loading)
        return;
    clearStats();
    m_cache.clear();
    if (!m_tensor.isEmpty())
        request(m_tensor);
}

const cw::lm::WeightStats *LmInspectView::shownStats() const
{
    return m_shown;
}

QString LmInspectView::numberText(const QString &label) const
{
    const auto it = m_numbers.find(label);
    return it == m_numbers.end() ? QString() : it->second->text();
}

QString LmInspectView::headerText() const
{
    return m_header->text();
}

QString LmInspectView::statusText() const
{
    return m_status->text();
}

void LmInspectView::setStatus(const QString &text)
{
    m_status->setText(text);
}

void LmInspectView::clearStats()
{
    m_shown = nullptr;
    m_histogram->clear();
    m_histogram->setTitle(QString());
    for (auto &[label, value] : m_numbers)
        value->setText(QStringLiteral("—"));
    m_outlierModel->removeRows(0, m_outlierModel->rowCount());
    m_outlierCaption->clear();
    m_rows->clear();
    m_columns->clear();
    m_rowsCaption->setText(tr("Rows of the [out, in] matrix: min–max band; dashed: the tensor's range"));
    m_columnsCaption->setText(tr("Columns: largest |w|; grey: typical; red: threshold, outliers"));
}

void LmInspectView::showStats(const cw::lm::WeightStats &s)
{
    const QLocale locale = displayLocale();
    m_shown = &s;
    m_histogram->setHistogram(s.histogram);
    m_histogram->setTitle(tr("%1 values").arg(formatCount(s.all.count)));
    const int64_t nonFinite = s.all.nanCount + s.all.infCount;
    m_histogram->setNotice(nonFinite ? tr("%1 NaN, %2 Inf excluded").arg(s.all.nanCount).arg(s.all.infCount) : QString());
    m_numbers[QStringLiteral("Min")]->setText(number(s.all.min));
    m_numbers[QStringLiteral("Max")]->setText(number(s.all.max));
    m_numbers[QStringLiteral("Mean")]->setText(number(s.all.mean));
    m_numbers[QStringLiteral("Std")]->setText(number(s.all.std));
    m_numbers[QStringLiteral("Kurtosis")]->setText(locale.toString(s.all.kurtosis, 'f', 2));
    m_numbers[QStringLiteral("Zeros")]->setText(formatPercent(s.all.zeroFraction));
    const bool matrix = !s.columnAbsMax.empty();
    m_numbers[QStringLiteral("Typical")]->setText(matrix ? number(s.typicalColumnAbsMax) : QStringLiteral("—"));
    m_numbers[QStringLiteral("Outliers")]->setText(
        matrix ? tr("%1 of %2").arg(formatCount(int64_t(s.outlierColumns.size())), formatCount(int64_t(s.columnAbsMax.size())))
               : QStringLiteral("—"));

    m_outlierModel->removeRows(0, m_outlierModel->rowCount());
    const double typical = std::max(double(s.typicalColumnAbsMax), 1e-30);
    for (int64_t c : s.outlierColumns) {
        auto *channel = new QStandardItem(QString::number(c));
        channel->setData(qlonglong(c), Qt::UserRole);
        auto *value = new QStandardItem(number(s.columnAbsMax[size_t(c)]));
        auto *ratio = new QStandardItem(locale.toString(s.columnAbsMax[size_t(c)] / typical, 'f', 1));
        for (QStandardItem *item : {channel, value, ratio})
            item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        m_outlierModel->appendRow({channel, value, ratio});
    }
    if (!matrix)
        m_outlierCaption->setText(tr("A vector: no input channels."));
    else if (s.outlierColumns.empty())
        m_outlierCaption->setText(tr("No input channel above %1 × the typical one.").arg(locale.toString(outlierFactor(), 'f', 1)));
    else
        m_outlierCaption->setText(tr("<b>Outlier input channels</b>, largest first:"));

    if (matrix) {
        m_rows->setRanges(s.rowMin, s.rowMax);
        m_columns->setMagnitudes(s.columnAbsMax, s.typicalColumnAbsMax, outlierFactor() * s.typicalColumnAbsMax,
                                 s.outlierColumns);
        m_rowsCaption->setText(tr("%1 rows: min–max band; dashed: the tensor's range").arg(formatCount(int64_t(s.rowMin.size()))));
        m_columnsCaption->setText(tr("%1 columns: largest |w|; grey: typical; red: %2 × typical, outliers")
                                      .arg(formatCount(int64_t(s.columnAbsMax.size())))
                                      .arg(locale.toString(outlierFactor(), 'f', 1)));
    } else {
        m_rows->clear();
        m_columns->clear();
        m_rowsCaption->setText(tr("A vector (a norm's scale or a bias): its values are in the histogram"));
        m_columnsCaption->setText(tr("A vector has no input channels"));
    }
}

} // namespace cw::ui
