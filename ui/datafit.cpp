#include "ui/datafit.h"

#include <QBoxLayout>
#include <QDateTime>
#include <QFileInfo>
#include <QLabel>
#include <QPushButton>
#include <QtConcurrent/QtConcurrentRun>

#include "core/analysis/feeds.h"
#include "core/io/dataset.h"
#include "ui/views/evaluatedialog.h"

namespace cw::ui {

namespace {

// The verdict on a worker thread: everything it reads is its own copy.
QString fitProblem(const cw::ValueInfo &input, const std::string &spec, const cw::Preprocess &pre)
{
    try {
        const cw::Dataset data = cw::loadDataset(spec, pre, 1);
        if (data.size() > 0)
            cw::fittedRows(input, data.batch(0, 1));
        return {};
    } catch (const std::exception &e) {
        return QString::fromUtf8(e.what());
    }
}

// The preprocessing a job would load `graph`'s data with (image folders take the input's geometry).
cw::Preprocess jobPreprocess(const cw::Graph &graph, const RunInputs &inputs)
{
    cw::Preprocess pre = inputs.preprocess;
    try {
        cw::fitImageInput(pre, cw::firstInputShape(graph, inputs.feeds));
    } catch (const std::exception &) {
        // Sizes still missing: the run inputs' refusal says so; the data is checked as declared.
    }
    return pre;
}

// What a verdict depends on: the data (and its file's size and time, so that a rewritten file is read again), the
// input's shape and the preprocessing that shapes rows.
QString checkKey(const QString &spec, const cw::ValueInfo &input, const cw::Preprocess &pre)
{
    const QFileInfo file(spec);
    return QStringLiteral("%1|%2|%3|%4|%5 %6 %7 %8 %9")
        .arg(spec, QString::fromStdString(input.name + cw::shapeToString(input.shape)))
        .arg(file.exists() ? file.size() : -1)
        .arg(file.exists() ? file.lastModified().toMSecsSinceEpoch() : -1)
        .arg(int(pre.layout))
        .arg(pre.imageChannels)
        .arg(pre.imageHeight)
        .arg(pre.imageWidth)
        .arg(pre.resizeShorter);
}

} // namespace

DataFitCheck::DataFitCheck(QObject *parent) : QObject(parent)
{
    connect(&m_watcher, &QFutureWatcher<QString>::finished, this, [this]() {
        if (m_superseded) // a check without a model came after it (a QtConcurrent::run future cannot be cancelled)
            return;
        m_spec = m_pendingSpec;
        m_problem = m_watcher.result();
        m_key = m_pendingKey;
        emit checked();
    });
}

void DataFitCheck::check(const cw::Graph *graph, const QString &spec, const RunInputs &inputs)
{
    const QString trimmed = spec.trimmed();
    m_pendingSpec = trimmed;
    if (!graph || graph->inputs.empty() || trimmed.isEmpty()) {
        m_superseded = m_watcher.isRunning(); // the running check's result no longer applies
        m_spec = trimmed;
        m_problem.clear();
        m_key.clear();
        m_pendingKey.clear();
        emit checked();
        return;
    }
    // A data file is read whole to check its first sample: the same question is not asked twice.
    const cw::Preprocess pre = jobPreprocess(*graph, inputs);
    const QString key = checkKey(trimmed, graph->inputs.front(), pre);
    if (m_watcher.isRunning() && !m_superseded && key == m_pendingKey)
        return;
    m_pendingKey = key;
    if ((!m_watcher.isRunning() || m_superseded) && key == m_key) {
        m_spec = trimmed;
        emit checked();
        return;
    }
    m_superseded = false;
    m_watcher.setFuture(QtConcurrent::run(fitProblem, graph->inputs.front(), trimmed.toStdString(), pre));
}

DataFitNotice::DataFitNotice(Qt::Orientation orientation, QWidget *parent) : QWidget(parent)
{
    m_check = new DataFitCheck(this);
    m_label = new QLabel;
    m_label->setObjectName(QStringLiteral("trainDataProblem"));
    m_label->setWordWrap(true);
    m_label->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_label->setStyleSheet(QStringLiteral("color: #b00020;"));
    m_useEval = new QPushButton;
    m_useEval->setObjectName(QStringLiteral("useEvalData"));
    connect(m_useEval, &QPushButton::clicked, this, &DataFitNotice::useEvaluationData);
    QBoxLayout *layout = orientation == Qt::Vertical ? static_cast<QBoxLayout *>(new QVBoxLayout(this))
                                                     : static_cast<QBoxLayout *>(new QHBoxLayout(this));
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_label, 1);
    layout->addWidget(m_useEval, 0, orientation == Qt::Vertical ? Qt::AlignRight : Qt::AlignTop);
    setVisible(false);
}

void DataFitNotice::showFor(const QString &spec, bool applies, const QString &evalSpec)
{
    const QString data = spec.trimmed();
    const bool shown = applies && !m_check->problem().isEmpty() && m_check->spec() == data;
    setVisible(shown);
    m_label->setText(shown ? tr("The training data does not fit this model: %1").arg(m_check->problem()) : QString());
    m_useEval->setVisible(shown && !evalSpec.isEmpty() && evalSpec != data);
    m_useEval->setText(tr("Use the evaluation data (%1)").arg(EvaluateDialog::displayName(evalSpec)));
}

} // namespace cw::ui
