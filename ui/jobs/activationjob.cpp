#include "ui/jobs/activationjob.h"

#include "core/io/dataset.h"
#include "core/runtime/session.h"

namespace cw::ui {

ActivationJob::ActivationJob(ActivationParams params, QObject *parent) : Job(parent), m_params(std::move(params))
{
    setTitle(tr("Collecting activations"));
}

std::vector<cw::ActivationSample> ActivationJob::run(const ActivationParams &params, const cw::StopToken &stop,
                                                     const cw::ProgressFn &progress)
{
    constexpr double kLoadShare = 0.1;
    if (progress)
        progress(0.0, "loading dataset");
    cw::Preprocess pre = params.preprocess;
    cw::fitImageInput(pre, cw::firstInputShape(params.model.graph, params.inputs));
    const cw::Dataset data = cw::loadDataset(params.datasetSpec, pre, params.samples);
    stop.throwIfStopped();
    // Every node's output, as the graph defines it: not the fused inference form (core/runtime/fusion.h).
    cw::SessionOptions unfused;
    unfused.fuse = false;
    const cw::Session session(params.model, unfused);
    stop.throwIfStopped();
    cw::ActivationOptions options;
    options.batchSize = params.batchSize;
    options.inputs = params.inputs;
    const cw::ProgressFn scaled = [&progress](double fraction, std::string_view stage) {
        if (progress)
            progress(kLoadShare + (1.0 - kLoadShare) * fraction, stage);
    };
    return cw::collectActivations(session, data, params.samples, params.valueNames, options, &stop, scaled);
}

bool ActivationJob::start()
{
    if (isRunning())
        return false;
    m_result.clear();
    const ActivationParams params = m_params;
    return startWork([this, params](const cw::StopToken &stop, const cw::ProgressFn &progress) -> Deliver {
        auto result = std::make_shared<std::vector<cw::ActivationSample>>(run(params, stop, progress));
        return [this, result]() {
            m_result = std::move(*result);
            emit succeeded();
        };
    });
}

} // namespace cw::ui
