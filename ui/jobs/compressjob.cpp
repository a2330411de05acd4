#include "ui/jobs/compressjob.h"

#include <QThread>

#include <algorithm>

#include "core/io/model_io.h"
#include "core/project/project.h"

namespace cw::ui {

namespace {

QString quoted(const std::string &arg)
{
    return QString::fromStdString(cw::shellQuoted(arg));
}

} // namespace

QString cwbCommand(const CompressParams &p)
{
    QStringList args{QStringLiteral("cwb compress"), quoted(p.base.sourcePath.empty() ? "MODEL" : p.base.sourcePath),
                     QStringLiteral("--recipe"), quoted(p.name.toStdString() + ".json")};
    if (!p.evalSpec.empty())
        args << QStringLiteral("--data") << quoted(p.evalSpec);
    if (!p.trainSpec.empty())
        args << QStringLiteral("--train-data") << quoted(p.trainSpec);
    if (p.evalLimit > 0)
        args << QStringLiteral("--limit") << QString::number(p.evalLimit);
    if (!p.teacherPath.empty())
        args << QStringLiteral("--teacher") << quoted(p.teacherPath);
    args << QStringLiteral("--bench-threads") << QString::number(p.options.benchThreads) << QStringLiteral("--iterations")
         << QString::number(p.options.benchIterations);
    return args.join(QLatin1Char(' '));
}

int compressThreads()
{
    return std::max(1, QThread::idealThreadCount() - 1);
}

CompressJob::CompressJob(CompressParams params, QObject *parent) : Job(parent), m_params(std::move(params))
{
    setTitle(tr("Compressing %1").arg(m_params.name));
}

int64_t CompressJob::trainingSamples(const cw::Recipe &recipe)
{
    bool quantizing = recipe.weights.has_value();
    for (const auto &[node, config] : recipe.layers)
        quantizing |= config.weights.has_value() && !config.skip;
    int64_t samples = 0;
    // Calibration and bias correction read the first samples (512 when the recipe does not say).
    if (quantizing && (recipe.activations || recipe.biasCorrection))
        samples = recipe.activations ? recipe.activations->samples : 512;
    // Channel pruning's reconstruction reads the first reconstruct_samples.
    const auto reconstruct = [&samples](const std::optional<cw::PruneConfig> &p) {
        if (p && p->reconstruct)
            samples = std::max(samples, p->reconstructSamples);
    };
    reconstruct(recipe.prune);
    for (const auto &[node, config] : recipe.layers)
        if (!config.skip)
            reconstruct(config.prune);
    if (recipe.finetune.epochs > 0)
        samples = recipe.finetune.samples > 0 ? std::max(samples, recipe.finetune.samples) : -1;
    return samples;
}

bool CompressJob::start()
{
    if (isRunning())
        return false;
    CompressParams params = m_params;
    if (params.options.threads <= 0)
        params.options.threads = compressThreads();
    params.options.evalLimit = params.evalLimit;
    return startWork([this, params](const cw::StopToken &stop, const cw::ProgressFn &progress) -> Deliver {
        const NicerThread nicer;
        const auto log = [this](const std::string &line) {
            const QString text = QString::fromStdString(line);
            post([this, text]() { emit logLine(text); });
        };
        // Data first: a few percent of the bar.
        if (progress)
            progress(0.0, "loading data");
        const int64_t trainSamples = trainingSamples(params.recipe);
        cw::Preprocess pre = params.preprocess;
        cw::fitImageInput(pre, cw::firstInputShape(params.base.graph, params.options.inputs));
        std::optional<cw::Dataset> train;
        if (trainSamples != 0) {
            log("loading training data " + params.trainSpec +
                (trainSamples > 0 ? " (" + std::to_string(trainSamples) + " samples)" : std::string()));
            train = cw::loadDataset(params.trainSpec, pre, std::max<int64_t>(0, trainSamples));
            stop.throwIfStopped();
        }
        std::optional<cw::Dataset> eval;
        if (!params.evalSpec.empty()) {
            eval = cw::loadDataset(params.evalSpec, pre, params.evalLimit);
            stop.throwIfStopped();
        }
        std::optional<cw::Model> teacher;
        cw::CompressOptions options = params.options;
        if (!params.teacherPath.empty()) {
            log("loading the teacher " + params.teacherPath);
            teacher = cw::loadModel(params.teacherPath);
            options.teacher = &*teacher;
            stop.throwIfStopped();
        }
        const double baseShare = params.measureBase ? 0.15 : 0.0;
        std::optional<cw::VariantMetrics> base;
        if (params.measureBase) {
            log("measuring the base model");
            const cw::ProgressFn scaled = [&progress, baseShare](double f, std::string_view) {
                if (progress)
                    progress(0.03 + (baseShare - 0.03) * f, "measuring base model");
            };
            base = cw::measureModel(params.base, eval ? &*eval : nullptr, options, scaled, &stop);
        }
        const cw::ProgressFn scaled = [&progress, baseShare](double f, std::string_view stage) {
            if (progress)
                progress(std::max(0.03, baseShare) + (1.0 - std::max(0.03, baseShare)) * f, stage);
        };
        cw::Variant v = cw::compress(params.base, params.recipe, train ? &*train : nullptr, eval ? &*eval : nullptr,
                                     options, scaled, &stop, log);
        if (!params.name.isEmpty())
            v.name = params.name.toStdString();
        auto variant = std::make_shared<const cw::Variant>(std::move(v));
        return [this, variant, base]() { emit succeeded(variant, base); };
    });
}

} // namespace cw::ui
