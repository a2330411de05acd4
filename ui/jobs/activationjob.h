// ActivationJob: collects the values of some of a model's intermediate tensors on N calibration samples of
// a dataset (cw::collectActivations), on a worker thread. Progress stages: "loading dataset",
// "collecting activations".
#pragma once

#include <QMetaType>

#include <cstdint>
#include <string>
#include <vector>

#include "core/analysis/activations.h"
#include "core/graph/graph.h"
#include "ui/jobs/job.h"

namespace cw::ui {

struct ActivationParams {
    cw::Model model;                      // shallow copy; weights shared read-only
    std::string datasetSpec = "fashion-mnist";
    cw::Preprocess preprocess;
    int64_t samples = 256;
    std::vector<std::string> valueNames;
    int64_t batchSize = 64;
    cw::FeedOptions inputs; // the graph inputs after the first (ActivationOptions::inputs)
};

class ActivationJob : public Job {
    Q_OBJECT
public:
    explicit ActivationJob(ActivationParams params, QObject *parent = nullptr);

    const ActivationParams &params() const { return m_params; }
    const std::vector<cw::ActivationSample> &result() const { return m_result; }

    bool start() override;

    static std::vector<cw::ActivationSample> run(const ActivationParams &params, const cw::StopToken &stop,
                                                 const cw::ProgressFn &progress);

signals:
    void succeeded();

private:
    ActivationParams m_params;
    std::vector<cw::ActivationSample> m_result;
};

} // namespace cw::ui
