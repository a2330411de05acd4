// ProfileJob: where a run of the open model spends its time, on a worker thread: cwb bench --profile's
// measurement (cw::benchmark with BenchOptions::profile), at the batch and on the threads of ProfileParams (batch 1
// on one thread, as the variants' latencies are measured, unless the user asks for others). The number of timed
// runs follows the model's speed: about two seconds of them, between 3 and 1000 (a first untimed run sizes it).
// Progress stages: "sizing", then benchmark()'s "warming up" and "timing".
#pragma once

#include <QMetaType>

#include "core/analysis/evaluate.h"
#include "core/graph/graph.h"
#include "ui/jobs/job.h"

namespace cw::ui {

struct ProfileParams {
    cw::Model model;        // a shallow copy: the weights are shared read-only
    cw::FeedOptions inputs; // the graph inputs after the first, and sizes (BenchOptions::inputs)
    int64_t batch = 1; // the batch symbol's size (BenchOptions::batch)
    int threads = 1;
    double seconds = 2.0; // of timed runs, roughly
};

class ProfileJob : public Job {
    Q_OBJECT
public:
    explicit ProfileJob(ProfileParams params, QObject *parent = nullptr);

    bool start() override;

    // The work itself, callable without Qt (and from tests).
    static cw::BenchResult run(const ProfileParams &params, const cw::StopToken &stop, const cw::ProgressFn &progress);

signals:
    void succeeded(const cw::BenchResult &result);

private:
    ProfileParams m_params;
};

} // namespace cw::ui

Q_DECLARE_METATYPE(cw::BenchResult)
