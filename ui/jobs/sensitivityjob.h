// SensitivityJob: cw::analyzeSensitivity on a worker thread, with each layer's results delivered as soon as
// its sweep ends.
//
// Parameters are a value: the model (a shallow copy; weights shared read-only), a dataset spec and the
// sensitivity options (settings, sample limit). layerFinished() is a queued signal emitted on the job's thread
// once per analysed layer, in execution order, before succeeded(); a cancelled run emits cancelled() and no
// succeeded() (layers already delivered stay with the receiver, which decides what to keep).
#pragma once

#include <QMetaType>

#include <optional>
#include <string>

#include "core/compress/sensitivity.h"
#include "core/graph/graph.h"
#include "core/io/dataset.h"
#include "ui/jobs/job.h"

namespace cw::ui {

struct SensitivityParams {
    cw::Model model;
    std::string datasetSpec = "fashion-mnist";
    cw::Preprocess preprocess;
    cw::SensitivityOptions options;
};

class SensitivityJob : public Job {
    Q_OBJECT
public:
    explicit SensitivityJob(SensitivityParams params, QObject *parent = nullptr);

    const SensitivityParams &params() const { return m_params; }
    // Set once succeeded() has been emitted; cleared by start().
    const std::optional<cw::SensitivityResult> &result() const { return m_result; }

    bool start() override;

signals:
    void layerFinished(const cw::LayerSensitivity &layer);
    void succeeded(const cw::SensitivityResult &result);

private:
    SensitivityParams m_params;
    std::optional<cw::SensitivityResult> m_result;
};

} // namespace cw::ui

Q_DECLARE_METATYPE(cw::LayerSensitivity)
Q_DECLARE_METATYPE(cw::SensitivityResult)
