#include "ui/jobs/profilejob.h"

#include <algorithm>
#include <cmath>

namespace cw::ui {

ProfileJob::ProfileJob(ProfileParams params, QObject *parent) : Job(parent), m_params(std::move(params))
{
    setTitle(tr("Profiling"));
}

cw::BenchResult ProfileJob::run(const ProfileParams &params, const cw::StopToken &stop, const cw::ProgressFn &progress)
{
    cw::BenchOptions options;
    options.batch = params.batch;
    options.threads = params.threads;
    options.inputs = params.inputs;
    // One untimed and one timed run size the measurement; they get the first tenth of the bar.
    constexpr double kSizingShare = 0.1;
    options.iterations = 1;
    options.warmup = 1;
    if (progress)
        progress(0.0, "sizing");
    const cw::BenchResult first = cw::benchmark(params.model, options, {}, &stop);
    options.iterations = int(std::clamp(std::floor(params.seconds * 1000.0 / std::max(first.p50Ms, 1e-3)), 3.0,
                                        1000.0));
    options.warmup = std::min(10, options.iterations);
    options.profile = true;
    return cw::benchmark(params.model, options, cw::progressSlice(progress, kSizingShare, 1.0, ""), &stop);
}

bool ProfileJob::start()
{
    const ProfileParams params = m_params;
    return startWork([this, params](const cw::StopToken &stop, const cw::ProgressFn &progress) -> Deliver {
        const cw::BenchResult result = run(params, stop, progress);
        return [this, result]() { emit succeeded(result); };
    });
}

} // namespace cw::ui
