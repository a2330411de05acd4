#include "ui/jobs/evaluatejob.h"

#include "core/io/model_io.h"
#include "core/runtime/session.h"

namespace cw::ui {

EvaluateJob::EvaluateJob(EvaluateParams params, QObject *parent) : Job(parent), m_params(std::move(params))
{
    setTitle(tr("Evaluating"));
}

cw::EvalResult EvaluateJob::run(const EvaluateParams &params, const cw::StopToken &stop, const cw::ProgressFn &progress)
{
    // Loading is a small, unmeasurable share of the work; it gets the first few percent of the bar.
    constexpr double kLoadShare = 0.05;
    if (progress)
        progress(0.0, "loading model");
    cw::Model model = params.model ? *params.model : cw::loadModel(params.modelSpec);
    stop.throwIfStopped();
    if (progress)
        progress(kLoadShare / 2, "loading dataset");
    cw::Preprocess pre = params.preprocess;
    cw::fitImageInput(pre, cw::firstInputShape(model.graph, params.inputs));
    const cw::Dataset data = cw::loadDataset(params.datasetSpec, pre, params.limit);
    stop.throwIfStopped();
    if (data.size() == 0)
        throw cw::Error("dataset '" + params.datasetSpec + "' has no samples");
    if (data.labels.empty())
        throw cw::Error("dataset '" + params.datasetSpec + "' has no labels; evaluation needs class labels");

    cw::SessionOptions sessionOptions;
    sessionOptions.threads = params.threads;
    const cw::Session session(std::move(model), sessionOptions);
    stop.throwIfStopped();

    cw::EvalOptions options;
    options.batchSize = params.batchSize;
    options.limit = params.limit;
    options.inputs = params.inputs;
    const cw::ProgressFn scaled = [&progress](double fraction, std::string_view stage) {
        if (progress)
            progress(kLoadShare + (1.0 - kLoadShare) * fraction, stage);
    };
    return cw::evaluate(session, data, options, scaled, &stop);
}

bool EvaluateJob::start()
{
    if (isRunning())
        return false;
    m_result.reset();
    const EvaluateParams params = m_params;
    return startWork([this, params](const cw::StopToken &stop, const cw::ProgressFn &progress) -> Deliver {
        const cw::EvalResult result = run(params, stop, progress);
        // Runs on the job's thread: the only place m_result is written.
        return [this, result]() {
            m_result = result;
            emit succeeded(result);
        };
    });
}

} // namespace cw::ui
