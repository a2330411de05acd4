#include "ui/jobs/distilljob.h"

#include "ui/jobs/compressjob.h"

namespace cw::ui {

DistillJob::DistillJob(DistillParams params, QObject *parent) : Job(parent), m_params(std::move(params))
{
    setTitle(tr("Distilling %1").arg(m_params.name));
}

bool DistillJob::start()
{
    if (isRunning())
        return false;
    DistillParams params = m_params;
    if (params.options.measure.threads <= 0)
        params.options.measure.threads = compressThreads();
    params.options.train.threads = params.options.measure.threads;
    params.options.measure.evalLimit = params.evalLimit;
    return startWork([this, params](const cw::StopToken &stop, const cw::ProgressFn &progress) -> Deliver {
        const NicerThread nicer;
        const auto post = [this](auto emitter) { QMetaObject::invokeMethod(this, emitter, Qt::QueuedConnection); };
        const cw::LogFn log = [this, post](const std::string &line) {
            const QString text = QString::fromStdString(line);
            post([this, text]() { emit logLine(text); });
        };
        if (progress)
            progress(0.0, "preparing the student");
        std::vector<std::string> notes;
        const cw::Model student = cw::makeStudent(params.teacher, params.student, &notes);
        for (const std::string &n : notes)
            log("student: " + n);
        stop.throwIfStopped();
        if (progress)
            progress(0.0, "loading data");
        cw::Preprocess pre = params.preprocess;
        cw::fitImageInput(pre, cw::firstInputShape(params.teacher.graph, params.options.measure.inputs));
        const cw::Dataset train = cw::loadDataset(params.trainSpec, pre, params.options.train.limit);
        stop.throwIfStopped();
        std::optional<cw::Dataset> eval;
        if (!params.evalSpec.empty())
            eval = cw::loadDataset(params.evalSpec, pre, params.evalLimit);
        stop.throwIfStopped();
        cw::DistillJobOptions options = params.options;
        if (train.labels.empty() && options.distill.alpha < 1.f) {
            log("the training data has no labels: the teacher is the only target (alpha 1)");
            options.distill.alpha = 1.f;
        }
        const cw::StepFn onStep = [this, post](const cw::StepStats &s) { post([this, s]() { emit stepDone(s); }); };
        const cw::DistillEpochFn onEpoch = [this, post](const cw::DistillEpoch &e) {
            post([this, e]() { emit epochDone(e); });
        };
        cw::DistillResult result = cw::distill(params.teacher, student, train, eval ? &*eval : nullptr, options,
                                               progress, &stop, log, onStep, onEpoch);
        if (!params.name.isEmpty())
            result.variant.name = params.name.toStdString();
        auto variant = std::make_shared<const cw::Variant>(std::move(result.variant));
        return [this, variant]() { emit succeeded(variant); };
    });
}

} // namespace cw::ui
