#include "ui/jobs/sensitivityjob.h"

namespace cw::ui {

SensitivityJob::SensitivityJob(SensitivityParams params, QObject *parent) : Job(parent), m_params(std::move(params))
{
    setTitle(tr("Sensitivity analysis"));
}

bool SensitivityJob::start()
{
    if (isRunning())
        return false;
    m_result.reset();
    const SensitivityParams params = m_params;
    return startWork([this, params](const cw::StopToken &stop, const cw::ProgressFn &progress) -> Deliver {
        // Loading the subset is quick next to the sweep: it gets the first percent of the bar.
        if (progress)
            progress(0.0, "loading dataset");
        cw::Preprocess pre = params.preprocess;
        cw::fitImageInput(pre, cw::firstInputShape(params.model.graph, params.options.inputs));
        const cw::Dataset data = cw::loadDataset(params.datasetSpec, pre, params.options.limit);
        stop.throwIfStopped();
        const cw::ProgressFn scaled = [&progress](double fraction, std::string_view stage) {
            if (progress)
                progress(0.01 + 0.99 * fraction, stage);
        };
        // The job outlives its worker (its destructor waits), so queued calls on `this` are safe; they run on
        // the job's thread, where the signal is emitted.
        const auto onLayer = [this](const cw::LayerSensitivity &layer) {
            post([this, layer]() { emit layerFinished(layer); });
        };
        const cw::SensitivityResult result = cw::analyzeSensitivity(params.model, data, params.options, scaled, &stop, onLayer);
        return [this, result]() {
            m_result = result;
            emit succeeded(result);
        };
    });
}

} // namespace cw::ui
