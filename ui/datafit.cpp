#include "ui/datafit.h"

#include <QtConcurrent/QtConcurrentRun>

#include "core/analysis/feeds.h"
#include "core/io/dataset.h"

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

} // namespace

DataFitCheck::DataFitCheck(QObject *parent) : QObject(parent)
{
    connect(&m_watcher, &QFutureWatcher<QString>::finished, this, [this]() {
        if (m_watcher.isCanceled())
            return;
        m_spec = m_pendingSpec;
        m_problem = m_watcher.result();
        emit checked();
    });
}

void DataFitCheck::check(const cw::Graph *graph, const QString &spec, const RunInputs &inputs)
{
    const QString trimmed = spec.trimmed();
    m_pendingSpec = trimmed;
    if (!graph || graph->inputs.empty() || trimmed.isEmpty()) {
        m_watcher.cancel(); // a running check's result no longer applies
        m_spec = trimmed;
        m_problem.clear();
        emit checked();
        return;
    }
    m_watcher.setFuture(QtConcurrent::run(fitProblem, graph->inputs.front(), trimmed.toStdString(),
                                          jobPreprocess(*graph, inputs)));
}

} // namespace cw::ui
