#include "ui/datafit.h"

#include <QBoxLayout>
#include <QDateTime>
#include <QFileInfo>
#include <QLabel>
#include <QPushButton>

#include "core/analysis/feeds.h"
#include "core/io/dataset.h"
#include "ui/views/evaluatedialog.h"

namespace cw::ui {

namespace {

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

DataFitJob::DataFitJob(cw::ValueInfo input, std::string spec, cw::Preprocess pre, QObject *parent)
    : Job(parent), m_input(std::move(input)), m_spec(std::move(spec)), m_pre(std::move(pre))
{
    setTitle(tr("Checking the training data"));
}

bool DataFitJob::start()
{
    return startWork([this, input = m_input, spec = m_spec, pre = m_pre](const cw::StopToken &,
                                                                         const cw::ProgressFn &) -> Deliver {
        QString problem;
        bool labelled = true;
        try {
            const cw::Dataset data = cw::loadDataset(spec, pre, 1);
            labelled = !data.labels.empty();
            if (data.size() > 0)
                cw::fittedRows(input, data.batch(0, 1));
        } catch (const std::exception &e) {
            problem = QString::fromUtf8(e.what());
        }
        return [this, problem, labelled]() { emit succeeded(problem, labelled); };
    });
}

DataFitCheck::DataFitCheck(QObject *parent) : QObject(parent) {}

void DataFitCheck::dropRunning()
{
    if (!m_job)
        return;
    disconnect(m_job, nullptr, this, nullptr);
    connect(m_job, &Job::finished, m_job, &QObject::deleteLater);
    m_job = nullptr;
}

void DataFitCheck::check(const cw::Graph *graph, const QString &spec, const RunInputs &inputs)
{
    const QString trimmed = spec.trimmed();
    m_pendingSpec = trimmed;
    if (!graph || graph->inputs.empty() || trimmed.isEmpty()) {
        dropRunning();
        m_spec = trimmed;
        m_problem.clear();
        m_labelled = true;
        m_key.clear();
        m_pendingKey.clear();
        emit checked();
        return;
    }
    // A .npz or .h5 file is read whole to check its first sample (a .npy file only up to it): the same question is
    // not asked twice.
    const cw::Preprocess pre = jobPreprocess(*graph, inputs);
    const QString key = checkKey(trimmed, graph->inputs.front(), pre);
    if (m_job && key == m_pendingKey)
        return;
    dropRunning();
    m_pendingKey = key;
    if (key == m_key) {
        m_spec = trimmed;
        emit checked();
        return;
    }
    auto *job = new DataFitJob(graph->inputs.front(), trimmed.toStdString(), pre, this);
    connect(job, &DataFitJob::succeeded, this, [this](const QString &problem, bool labelled) {
        m_spec = m_pendingSpec;
        m_problem = problem;
        m_labelled = labelled;
        m_key = m_pendingKey;
    });
    connect(job, &Job::finished, this, [this, job]() {
        m_job = nullptr;
        job->deleteLater();
        emit checked();
    });
    m_job = job;
    job->start();
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
