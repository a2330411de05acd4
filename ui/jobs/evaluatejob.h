// EvaluateJob: accuracy / top-5 / loss of a model on a labelled dataset, on a worker thread.
//
// The parameters are a value: either an already loaded cw::Model (shallow copy, weights shared read-only)
// or a model spec to load in the worker, a dataset spec ("fashion-mnist", a .npz / .npy / .h5 / IDX .gz
// path) and a sample limit. Progress stages: "loading model", "loading dataset", "evaluating".
#pragma once

#include <QMetaType>

#include <cstdint>
#include <optional>
#include <string>

#include "core/analysis/evaluate.h"
#include "core/graph/graph.h"
#include "core/io/dataset.h"
#include "ui/jobs/job.h"

namespace cw::ui {

struct EvaluateParams {
    std::optional<cw::Model> model; // used when set ...
    std::string modelSpec;          // ... otherwise loaded with cw::loadModel
    std::string datasetSpec = "fashion-mnist";
    cw::Preprocess preprocess;
    int64_t limit = 0;              // 0 = every sample
    int64_t batchSize = 256;
    int threads = 0;                // 0 = all hardware threads
    cw::FeedOptions inputs;         // the graph inputs after the first (EvalOptions::inputs)
};

class EvaluateJob : public Job {
    Q_OBJECT
public:
    explicit EvaluateJob(EvaluateParams params, QObject *parent = nullptr);

    const EvaluateParams &params() const { return m_params; }
    // Set once succeeded() has been emitted; cleared by start().
    const std::optional<cw::EvalResult> &result() const { return m_result; }

    bool start() override;

    // The work itself, callable without Qt (and from tests): loads what is missing, then evaluates.
    static cw::EvalResult run(const EvaluateParams &params, const cw::StopToken &stop, const cw::ProgressFn &progress);

signals:
    void succeeded(const cw::EvalResult &result);

private:
    EvaluateParams m_params;
    std::optional<cw::EvalResult> m_result;
};

} // namespace cw::ui

Q_DECLARE_METATYPE(cw::EvalResult)
