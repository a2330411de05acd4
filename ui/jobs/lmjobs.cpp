#include "ui/jobs/lmjobs.h"

#include <chrono>

#include "core/project/project.h"
#include "core/base/error.h"
#include "core/lm/corpus.h"
#include "core/lm/defaults.h"

namespace cw::ui {

namespace {
// The text read and tokenized, then the weights loaded: progress 0..textShare, then up to `upTo`.
std::vector<int32_t> readTextAndWeights(cw::lm::LanguageModel &model, const std::string &textSpec, double textShare,
                                        double upTo, const cw::StopToken &stop, const cw::ProgressFn &progress)
{
    if (progress)
        progress(0.0, "reading the text");
    std::vector<int32_t> tokens = cw::lm::encodeText(model, cw::lm::loadText(textSpec));
    stop.throwIfStopped();
    model.load(cw::progressSlice(progress, textShare, upTo, ""), &stop);
    return tokens;
}
} // namespace

OpenLanguageModelJob::OpenLanguageModelJob(QString spec, QObject *parent) : Job(parent), m_spec(std::move(spec))
{
    setTitle(tr("Opening language model"));
}

bool OpenLanguageModelJob::start()
{
    if (isRunning())
        return false;
    m_model.reset();
    m_project.reset();
    const std::string spec = m_spec.toStdString();
    return startWork([this, spec](const cw::StopToken &stop, const cw::ProgressFn &progress) -> Deliver {
        auto project = std::make_shared<std::optional<cw::LmProject>>();
        std::string checkpoint = spec;
        if (cw::fileExtension(spec) == cw::kProjectExtension) {
            progress(0.0, "reading the project");
            *project = cw::loadLmProject(spec);
            checkpoint = cw::locateLmBase(**project, spec);
        }
        stop.throwIfStopped();
        progress(0.5, "reading the tensor table");
        LanguageModelPtr model = cw::lm::LanguageModel::open(checkpoint);
        stop.throwIfStopped();
        progress(1.0, "done");
        return [this, model, project]() {
            m_model = model;
            m_project = std::move(*project);
            emit succeeded();
        };
    });
}

WeightStatsJob::WeightStatsJob(LanguageModelPtr model, QString tensor, int bins, double outlierFactor, QObject *parent)
    : Job(parent), m_model(std::move(model)), m_tensor(std::move(tensor)), m_bins(bins), m_outlierFactor(outlierFactor)
{
    setTitle(tr("Weight statistics"));
}

bool WeightStatsJob::start()
{
    if (isRunning())
        return false;
    m_result.reset();
    const LanguageModelPtr model = m_model;
    const std::string name = m_tensor.toStdString();
    const int bins = m_bins;
    const double factor = m_outlierFactor;
    return startWork([this, model, name, bins, factor](const cw::StopToken &, const cw::ProgressFn &progress) -> Deliver {
        progress(0.0, "reading " + name);
        // One pass over the tensor, with no stop checks of its own: a cancel discards the result.
        auto stats = std::make_shared<cw::lm::WeightStats>(cw::lm::weightStats(*model, name, bins, factor));
        return [this, stats]() {
            m_result = std::move(*stats);
            emit succeeded();
        };
    });
}

PerplexityJob::PerplexityJob(PerplexityParams params, QObject *parent) : Job(parent), m_params(std::move(params))
{
    setTitle(tr("Perplexity"));
}

PerplexityOutcome PerplexityJob::run(const PerplexityParams &params, const cw::StopToken &stop,
                                     const cw::ProgressFn &progress)
{
    // Reading and tokenizing the text and the weights take the first part of the bar; the chunks the rest.
    constexpr double kTextShare = 0.03, kWeightsShare = 0.12;
    cw::lm::LanguageModel &model = *params.model;
    const std::vector<int32_t> tokens =
        readTextAndWeights(model, params.textSpec, kTextShare, kTextShare + kWeightsShare, stop, progress);
    cw::lm::PerplexityOptions options = cw::lm::defaultPerplexityOptions(model);
    if (params.ctx > 0)
        options.ctx = params.ctx;
    options.chunks = params.chunks;
    options.threads = params.threads;
    PerplexityOutcome out;
    out.textTokens = int64_t(tokens.size());
    out.ctx = options.ctx;
    out.result = cw::lm::perplexity(params.model, tokens, options,
                                    cw::progressSlice(progress, kTextShare + kWeightsShare, 1.0, ""), &stop);
    return out;
}

bool PerplexityJob::start()
{
    if (isRunning())
        return false;
    m_result.reset();
    const PerplexityParams params = m_params;
    return startWork([this, params](const cw::StopToken &stop, const cw::ProgressFn &progress) -> Deliver {
        const PerplexityOutcome outcome = run(params, stop, progress);
        return [this, outcome]() {
            m_result = outcome;
            emit succeeded();
        };
    });
}

GenerateJob::GenerateJob(GenerateParams params, QObject *parent) : Job(parent), m_params(std::move(params))
{
    setTitle(tr("Generating"));
}

double GenerateJob::generationSeconds() const
{
    return m_delivered >= 2 && m_lastTokenAt > m_firstTokenAt ? m_lastTokenAt - m_firstTokenAt : 0;
}

bool GenerateJob::start()
{
    if (isRunning())
        return false;
    m_delivered = 0;
    m_firstTokenAt = m_lastTokenAt = -1;
    m_completed = false;
    const GenerateParams params = m_params;
    return startWork([this, params](const cw::StopToken &stop, const cw::ProgressFn &progress) -> Deliver {
        using Clock = std::chrono::steady_clock;
        const Clock::time_point t0 = Clock::now();
        cw::lm::LanguageModel &model = *params.model;
        const std::vector<int32_t> prompt = cw::lm::encodeText(model, params.prompt);
        // The job outlives its worker (its destructor waits), so queued calls on `this` are safe; they run on the
        // job's thread, in the order they were posted, before the result.
        const int promptTokens = int(prompt.size());
        post([this, promptTokens]() { emit promptEncoded(promptTokens); });
        model.load(progress, &stop);
        cw::lm::GenerateOptions options = cw::lm::defaultGenerateOptions(model);
        options.maxTokens = params.maxTokens;
        options.temperature = params.temperature;
        options.seed = params.seed;
        options.threads = params.threads;
        const cw::lm::Tokenizer &tok = *model.tokenizer(); // encodeText has checked it is there
        int64_t count = 0;
        cw::lm::generate(
            params.model, prompt, options,
            [&](int32_t id) {
                const double at = std::chrono::duration<double>(Clock::now() - t0).count();
                const QByteArray piece = id == options.stopToken ? QByteArray() : QByteArray::fromStdString(tok.piece(id));
                post([this, id, piece, at]() {
                    if (m_delivered++ == 0)
                        m_firstTokenAt = at;
                    m_lastTokenAt = at;
                    emit tokenGenerated(id, piece);
                });
                ++count;
                progress(double(count) / double(std::max<int64_t>(options.maxTokens, 1)), "generating");
                return true;
            },
            &stop);
        return [this]() {
            m_completed = true;
            emit succeeded();
        };
    });
}

LmSensitivityJob::LmSensitivityJob(LmSensitivityParams params, QObject *parent) : Job(parent), m_params(std::move(params))
{
    setTitle(tr("Sensitivity"));
}

LmSensitivityOutcome LmSensitivityJob::run(const LmSensitivityParams &params, const cw::StopToken &stop,
                                           const cw::ProgressFn &progress)
{
    // The text and the weights take the first sliver of the bar; the measurements the rest.
    constexpr double kTextShare = 0.01, kWeightsShare = 0.04;
    cw::lm::LanguageModel &model = *params.model;
    const std::vector<int32_t> tokens =
        readTextAndWeights(model, params.textSpec, kTextShare, kTextShare + kWeightsShare, stop, progress);
    cw::lm::SensitivityOptions options = params.options;
    const cw::lm::PerplexityOptions defaults = cw::lm::defaultPerplexityOptions(model);
    options.perplexity.bos = defaults.bos;
    if (options.perplexity.ctx <= 0)
        options.perplexity.ctx = defaults.ctx;
    LmSensitivityOutcome out;
    out.textTokens = int64_t(tokens.size());
    out.ctx = options.perplexity.ctx;
    out.result = cw::lm::analyzeSensitivity(model, tokens, options,
                                            cw::progressSlice(progress, kTextShare + kWeightsShare, 1.0, ""), &stop);
    return out;
}

bool LmSensitivityJob::start()
{
    if (isRunning())
        return false;
    m_result.reset();
    const LmSensitivityParams params = m_params;
    return startWork([this, params](const cw::StopToken &stop, const cw::ProgressFn &progress) -> Deliver {
        const LmSensitivityOutcome outcome = run(params, stop, progress);
        return [this, outcome]() {
            m_result = outcome;
            emit succeeded();
        };
    });
}

LmCompressJob::LmCompressJob(LmCompressParams params, QObject *parent) : Job(parent), m_params(std::move(params))
{
    setTitle(tr("Compressing"));
}

std::vector<std::string> cwbArguments(const LmCompressParams &p)
{
    std::vector<std::string> a{"compress", p.modelPath, "--data", p.evalSpec};
    if (p.chunks > 0)
        a.insert(a.end(), {"--limit", std::to_string(p.chunks)});
    if (p.ctx > 0)
        a.insert(a.end(), {"--ctx", std::to_string(p.ctx)});
    if (!p.calibrationSpec.empty())
        a.insert(a.end(), {"--train-data", p.calibrationSpec, "--train-limit", std::to_string(p.calibrationTokens)});
    if (p.importance)
        a.push_back("--importance");
    return a;
}

std::string cwbCommand(const LmCompressParams &p, const std::string &name)
{
    return cw::cwbCommandLine(cwbArguments(p)) + " --recipe " + cw::shellQuoted(name + ".json");
}

LmCompressOutcome LmCompressJob::run(const LmCompressParams &params, const cw::StopToken &stop,
                                     const cw::ProgressFn &progress,
                                     const std::function<void(int64_t, int64_t, double)> &finetuneStep)
{
    NicerThread nicer;
    // The bar: texts and weights, the base (when measured), the compression, the variant's perplexity and speed.
    const double textEnd = 0.02, weightsEnd = 0.06, baseEnd = params.measureBase ? 0.2 : weightsEnd, compressEnd = 0.8,
                 perplexityEnd = 0.94;
    if (progress)
        progress(0.0, "reading the text");
    auto model = cw::lm::LanguageModel::open(params.modelPath);
    cw::lm::LmCompressOptions options;
    options.threads = params.threads;
    options.importance = params.importance;
    options.maxTokens = params.calibrationTokens;
    options.finetuneStep = finetuneStep;
    if (!params.encoded) {
        if (!params.calibrationSpec.empty())
            options.calibration = cw::lm::encodeText(*model, cw::lm::loadText(params.calibrationSpec));
        // Refused recipes are refused before the weights are read.
        cw::lm::validateLmRecipe(params.recipe, *model, !options.calibration.empty());
        if (options.importance && options.calibration.empty())
            throw cw::Error("importance-weighted formats need calibration text");
    }
    const std::vector<int32_t> tokens = cw::lm::encodeText(*model, cw::lm::loadText(params.evalSpec));
    stop.throwIfStopped();
    model->load(cw::progressSlice(progress, textEnd, weightsEnd, ""), &stop);

    cw::lm::PerplexityOptions po = cw::lm::defaultPerplexityOptions(*model);
    if (params.ctx > 0)
        po.ctx = params.ctx;
    po.chunks = params.chunks;
    po.threads = params.threads;
    LmCompressOutcome out;
    out.ctx = po.ctx;
    out.textTokens = int64_t(tokens.size());
    if (params.measureBase) {
        out.basePerplexity = cw::lm::perplexity(model, tokens, po,
                                                cw::progressSlice(progress, weightsEnd, baseEnd - 0.02, "base perplexity"),
                                                &stop);
        stop.throwIfStopped();
        if (progress)
            progress(baseEnd - 0.02, "base speed");
        out.baseSpeed = cw::lm::variantSpeed(model, params.threads);
    }
    stop.throwIfStopped();
    if (params.encoded) {
        if (progress)
            progress(baseEnd, "the cluster's tensors");
        cw::lm::applyEncoded(*model, params.encoded->encoded);
        out.result = params.encoded;
    } else {
        out.result = std::make_shared<const cw::lm::LmCompressResult>(cw::lm::compressLanguageModel(
            *model, params.recipe, options, cw::progressSlice(progress, baseEnd, compressEnd, ""), &stop));
    }
    out.perplexity =
        cw::lm::perplexity(model, tokens, po, cw::progressSlice(progress, compressEnd, perplexityEnd, "perplexity"), &stop);
    stop.throwIfStopped();
    if (progress)
        progress(perplexityEnd, "speed");
    out.speed = cw::lm::variantSpeed(model, params.threads);
    out.model = std::move(model);
    if (progress)
        progress(1.0, "done");
    return out;
}

bool LmCompressJob::start()
{
    if (isRunning())
        return false;
    m_result.reset();
    const LmCompressParams params = m_params;
    return startWork([this, params](const cw::StopToken &stop, const cw::ProgressFn &progress) -> Deliver {
        const auto onStep = [this](int64_t step, int64_t steps, double loss) {
            post([this, step, steps, loss]() { emit finetuneStep(step, steps, loss); });
        };
        auto outcome = std::make_shared<LmCompressOutcome>(run(params, stop, progress, onStep));
        return [this, outcome]() {
            m_result = std::move(*outcome);
            emit succeeded();
        };
    });
}

ExportGgufJob::ExportGgufJob(LanguageModelPtr model, QString path, bool f16, QObject *parent)
    : Job(parent), m_model(std::move(model)), m_path(std::move(path)), m_f16(f16)
{
    setTitle(tr("Exporting"));
}

ExportGgufJob::ExportGgufJob(LanguageModelPtr model, QString path, std::shared_ptr<const EncodedTensors> compressed,
                             QObject *parent)
    : Job(parent), m_model(std::move(model)), m_path(std::move(path)), m_f16(false), m_compressed(std::move(compressed))
{
    setTitle(tr("Exporting"));
}

bool ExportGgufJob::start()
{
    if (isRunning())
        return false;
    const LanguageModelPtr model = m_model;
    const QString path = m_path;
    const bool f16 = m_f16;
    const std::shared_ptr<const EncodedTensors> compressed = m_compressed;
    return startWork([this, model, path, f16, compressed](const cw::StopToken &, const cw::ProgressFn &progress) -> Deliver {
        progress(0.0, "writing");
        cw::lm::exportGguf(*model, path.toStdString(), f16, compressed ? *compressed : EncodedTensors{});
        progress(1.0, "done");
        return [this, path]() { emit succeeded(path); };
    });
}

} // namespace cw::ui
