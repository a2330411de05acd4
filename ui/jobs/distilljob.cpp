#include "ui/jobs/distilljob.h"

#include "ui/jobs/compressjob.h"

#include "core/project/project.h"

namespace cw::ui {

QString cwbCommand(const DistillParams &p)
{
    const auto quoted = [](const std::string &arg) { return QString::fromStdString(cw::shellQuoted(arg)); };
    const auto number = [](double v) { return QString::number(v, 'g', 6); };
    QStringList args{QStringLiteral("cwb distill"),
                     quoted(p.teacher.sourcePath.empty() ? "MODEL" : p.teacher.sourcePath)};
    const cw::StudentSpec &s = p.student;
    switch (s.kind) {
    case cw::StudentKind::Slim:
        if (s.factor < 1.0)
            args << QStringLiteral("--slim") << number(s.factor);
        if (s.dropBlocks)
            args << QStringLiteral("--drop-blocks");
        break;
    case cw::StudentKind::File: args << QStringLiteral("--student") << quoted(s.path); break;
    case cw::StudentKind::Arch:
        args << QStringLiteral("--arch") << quoted(s.arch) << QStringLiteral("--width") << number(s.width);
        break;
    }
    if (s.fresh && s.kind != cw::StudentKind::Arch)
        args << QStringLiteral("--fresh");
    const cw::DistillConfig &d = p.options.distill;
    const cw::TrainOptions &t = p.options.train;
    args << QStringLiteral("--temperature") << number(d.temperature) << QStringLiteral("--alpha") << number(d.alpha);
    if (!d.features.empty()) {
        std::string features;
        for (const std::string &f : d.features)
            features += (features.empty() ? "" : ",") + f;
        args << QStringLiteral("--features") << quoted(features) << QStringLiteral("--feature-loss")
             << quoted(cw::toString(d.featureLoss)) << QStringLiteral("--feature-weight") << number(d.featureWeight);
    }
    args << QStringLiteral("--epochs") << QString::number(t.epochs) << QStringLiteral("--lr") << number(t.lr)
         << QStringLiteral("--batch") << QString::number(t.batchSize) << QStringLiteral("--seed") << QString::number(t.seed);
    if (!p.evalSpec.empty())
        args << QStringLiteral("--data") << quoted(p.evalSpec);
    args << QStringLiteral("--train-data") << quoted(p.trainSpec);
    if (p.evalLimit > 0)
        args << QStringLiteral("--limit") << QString::number(p.evalLimit);
    return args.join(QLatin1Char(' '));
}

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
        const cw::LogFn log = [this](const std::string &line) {
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
        const cw::StepFn onStep = [this](const cw::StepStats &s) { post([this, s]() { emit stepDone(s); }); };
        const cw::DistillEpochFn onEpoch = [this](const cw::DistillEpoch &e) { post([this, e]() { emit epochDone(e); }); };
        cw::DistillResult result = cw::distill(params.teacher, student, train, eval ? &*eval : nullptr, options,
                                               progress, &stop, log, onStep, onEpoch);
        if (!params.name.isEmpty())
            result.variant.name = params.name.toStdString();
        auto variant = std::make_shared<const cw::Variant>(std::move(result.variant));
        return [this, variant]() { emit succeeded(variant); };
    });
}

} // namespace cw::ui
