// DistillJob: cw::distill on a worker thread — a teacher trains a student, which comes back as a measured variant.
//
// Parameters are a value: the teacher (a shallow copy; distillation never modifies it), the student spec (the
// student is built on the worker: slimming runs the channel surgery, a file is loaded), the losses and training
// settings, the training data (labels optional) and the evaluation data. Every optimizer step arrives as a
// queued stepDone() (the live loss curves), every epoch as epochDone() with the student's validation; log lines
// as logLine(). Cancel stops between batches: nothing is delivered and nothing of the open model changes.
#pragma once

#include <QMetaType>
#include <QString>

#include <memory>
#include <string>

#include "core/compress/distill.h"
#include "core/io/dataset.h"
#include "ui/jobs/job.h"

namespace cw::ui {

struct DistillParams {
    cw::Model teacher;
    cw::StudentSpec student;
    cw::DistillJobOptions options;                   // options.measure.evalLimit is set from evalLimit
    QString name;                                    // the variant's name
    std::string trainSpec = "fashion-mnist:train";
    std::string evalSpec = "fashion-mnist";
    cw::Preprocess preprocess;
    int64_t evalLimit = 1000;                        // 0 = all
};

// The cwb command that trains the same student (a project's provenance).
QString cwbCommand(const DistillParams &params);

class DistillJob : public Job {
    Q_OBJECT
public:
    explicit DistillJob(DistillParams params, QObject *parent = nullptr);

    const DistillParams &params() const { return m_params; }
    bool start() override;

signals:
    void logLine(const QString &line);
    void stepDone(const cw::StepStats &step);
    void epochDone(const cw::DistillEpoch &epoch);
    void succeeded(std::shared_ptr<const cw::Variant> variant);

private:
    DistillParams m_params;
};

} // namespace cw::ui

Q_DECLARE_METATYPE(cw::StepStats)
Q_DECLARE_METATYPE(cw::DistillEpoch)
