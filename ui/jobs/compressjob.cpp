#include "ui/jobs/compressjob.h"

#include <QThread>

#include <algorithm>
#include <cerrno>

#ifdef Q_OS_LINUX
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace cw::ui {

namespace {

// Lowers the calling pool thread's scheduling priority for the duration of a job (restored after, since
// pool threads are reused): on a busy machine the GUI thread then wins the core whenever it wakes up.
class NicerThread {
public:
    NicerThread()
    {
#ifdef Q_OS_LINUX
        m_tid = pid_t(syscall(SYS_gettid));
        errno = 0;
        m_old = getpriority(PRIO_PROCESS, id_t(m_tid));
        if (errno != 0)
            return;
        // Only when the old priority can be restored afterwards (root, or RLIMIT_NICE allows it); otherwise a
        // reused pool thread would get nicer with every job.
        rlimit limit{};
        const bool canRestore = geteuid() == 0 || (getrlimit(RLIMIT_NICE, &limit) == 0 &&
                                                   (limit.rlim_cur == RLIM_INFINITY || 20 - int(limit.rlim_cur) <= m_old));
        m_ok = canRestore && setpriority(PRIO_PROCESS, id_t(m_tid), std::min(19, m_old + 5)) == 0;
#endif
    }
    ~NicerThread()
    {
#ifdef Q_OS_LINUX
        if (m_ok)
            (void)setpriority(PRIO_PROCESS, id_t(m_tid), m_old);
#endif
    }
    NicerThread(const NicerThread &) = delete;
    NicerThread &operator=(const NicerThread &) = delete;

private:
#ifdef Q_OS_LINUX
    pid_t m_tid = 0;
    int m_old = 0;
    bool m_ok = false;
#endif
};

} // namespace

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
            QMetaObject::invokeMethod(this, [this, text]() { emit logLine(text); }, Qt::QueuedConnection);
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
        const double baseShare = params.measureBase ? 0.15 : 0.0;
        std::optional<cw::VariantMetrics> base;
        if (params.measureBase) {
            log("measuring the base model");
            const cw::ProgressFn scaled = [&progress, baseShare](double f, std::string_view) {
                if (progress)
                    progress(0.03 + (baseShare - 0.03) * f, "measuring base model");
            };
            base = cw::measureModel(params.base, eval ? &*eval : nullptr, params.options, scaled, &stop);
        }
        const cw::ProgressFn scaled = [&progress, baseShare](double f, std::string_view stage) {
            if (progress)
                progress(std::max(0.03, baseShare) + (1.0 - std::max(0.03, baseShare)) * f, stage);
        };
        cw::Variant v = cw::compress(params.base, params.recipe, train ? &*train : nullptr, eval ? &*eval : nullptr,
                                     params.options, scaled, &stop, log);
        if (!params.name.isEmpty())
            v.name = params.name.toStdString();
        auto variant = std::make_shared<const cw::Variant>(std::move(v));
        return [this, variant, base]() { emit succeeded(variant, base); };
    });
}

} // namespace cw::ui
