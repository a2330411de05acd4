// Jobs over a language model (core/lm), each a thin adapter over one core function on a worker thread:
//
//   OpenLanguageModelJob  cw::lm::LanguageModel::open (configuration and tensor table; no weights read)
//   WeightStatsJob        cw::lm::weightStats of one tensor (read and dequantized from the mapped checkpoint)
//   PerplexityJob         the text read (cw::lm::loadText) and tokenized, the weights loaded, cw::lm::perplexity
//   GenerateJob           the prompt tokenized, the weights loaded, cw::lm::generate, every new token delivered
//                         as it comes (tokenGenerated, queued to the job's thread)
//   LmSensitivityJob      the text read and tokenized, the weights loaded, cw::lm::analyzeSensitivity (each weight
//                         matrix alone quantized or pruned, then restored)
//   LmCompressJob         a fresh copy of the checkpoint opened and loaded (never the shared model), its perplexity
//                         and speed measured when asked, cw::lm::compressLanguageModel by a recipe, then the
//                         compressed copy's perplexity and speed; the copy and its LmCompressResult are the result
//   ExportGgufJob         cw::lm::exportGguf (float32, or float16 matrices, or a compressed variant's encoded
//                         tensors), read from the checkpoint, not the loaded weights: it may run beside the others
//
// The model is shared (std::shared_ptr): a job keeps it alive while it runs, even when the window has moved
// on to another model. PerplexityJob, GenerateJob and LmSensitivityJob load the weights (LanguageModel::load, which
// is not safe to run twice at once), and LmSensitivityJob changes them while it runs: their owner runs one of them
// at a time.
#pragma once

#include <QByteArray>
#include <QMetaType>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/compress/recipe.h"
#include "core/lm/compress.h"
#include "core/project/lm_project.h"
#include "core/lm/model.h"
#include "core/lm/perplexity.h"
#include "core/lm/sensitivity.h"
#include "core/lm/stats.h"
#include "ui/jobs/job.h"

namespace cw::ui {

using LanguageModelPtr = std::shared_ptr<cw::lm::LanguageModel>;

class OpenLanguageModelJob : public Job {
    Q_OBJECT
public:
    // spec: a .gguf / .safetensors file, a Hugging Face folder, "demo-lm", or a language model's project (.cwproj,
    // cw::isLmProjectFile): the project read, its base checkpoint located (cw::locateLmBase) and opened.
    explicit OpenLanguageModelJob(QString spec, QObject *parent = nullptr);

    QString spec() const { return m_spec; }
    bool start() override;
    // Set once succeeded() has been emitted.
    LanguageModelPtr model() const { return m_model; }
    // The project, when the spec was one (its base: model()).
    const std::optional<cw::LmProject> &project() const { return m_project; }

signals:
    void succeeded();

private:
    QString m_spec;
    LanguageModelPtr m_model;
    std::optional<cw::LmProject> m_project;
};

class WeightStatsJob : public Job {
    Q_OBJECT
public:
    WeightStatsJob(LanguageModelPtr model, QString tensor, int bins, double outlierFactor, QObject *parent = nullptr);

    QString tensor() const { return m_tensor; }
    int bins() const { return m_bins; }
    double outlierFactor() const { return m_outlierFactor; }
    bool start() override;
    // Set once succeeded() has been emitted.
    const std::optional<cw::lm::WeightStats> &result() const { return m_result; }

signals:
    void succeeded();

private:
    LanguageModelPtr m_model;
    QString m_tensor;
    int m_bins;
    double m_outlierFactor;
    std::optional<cw::lm::WeightStats> m_result;
};

struct PerplexityParams {
    LanguageModelPtr model;
    std::string textSpec;  // cw::lm::loadText: a text file, "brown:heldout", ...
    int64_t ctx = 0;       // 0: cw::lm::defaultPerplexityOptions
    int64_t chunks = -1;   // -1: every whole chunk
    int threads = 0;
};

struct PerplexityOutcome {
    cw::lm::PerplexityResult result;
    int64_t textTokens = 0; // the whole text, tokenized
    int64_t ctx = 0;        // the context used
};

class PerplexityJob : public Job {
    Q_OBJECT
public:
    explicit PerplexityJob(PerplexityParams params, QObject *parent = nullptr);

    const PerplexityParams &params() const { return m_params; }
    bool start() override;
    // Set once succeeded() has been emitted.
    const std::optional<PerplexityOutcome> &result() const { return m_result; }

    // The work itself, callable without Qt (and from tests). Progress: "reading the text", "reading weights",
    // then "chunk i of n".
    static PerplexityOutcome run(const PerplexityParams &params, const cw::StopToken &stop, const cw::ProgressFn &progress);

signals:
    void succeeded();

private:
    PerplexityParams m_params;
    std::optional<PerplexityOutcome> m_result;
};

struct GenerateParams {
    LanguageModelPtr model;
    std::string prompt;             // UTF-8, tokenized with cw::lm::encodeText
    int64_t maxTokens = 64;
    double temperature = 0;         // 0: greedy
    uint64_t seed = 1;
    int threads = 0;
};

class GenerateJob : public Job {
    Q_OBJECT
public:
    explicit GenerateJob(GenerateParams params, QObject *parent = nullptr);

    const GenerateParams &params() const { return m_params; }
    bool start() override;
    // Seconds from the first token delivered to the last, as the worker timed them (the prompt's processing and the
    // weights' reading excluded); 0 before two.
    double generationSeconds() const;
    // Whether the last run went to its end (succeeded() emitted).
    bool completed() const { return m_completed; }

signals:
    void promptEncoded(int tokens);
    // A new token and its bytes (a piece may end inside a UTF-8 character: decode with a stateful decoder). The
    // end-of-sequence token comes with an empty piece.
    void tokenGenerated(int id, const QByteArray &piece);
    void succeeded();

private:
    GenerateParams m_params;
    int64_t m_delivered = 0;
    double m_firstTokenAt = -1, m_lastTokenAt = -1; // seconds since the work started, as the worker saw them
    bool m_completed = false;
};

struct LmSensitivityParams {
    LanguageModelPtr model;
    std::string textSpec; // cw::lm::loadText
    // The settings, tensors and chunks; perplexity.ctx 0: cw::lm::defaultPerplexityOptions (bos always from there).
    cw::lm::SensitivityOptions options;
};

struct LmSensitivityOutcome {
    cw::lm::SensitivityResult result;
    int64_t textTokens = 0; // the whole text, tokenized
    int64_t ctx = 0;        // the context used
};

class LmSensitivityJob : public Job {
    Q_OBJECT
public:
    explicit LmSensitivityJob(LmSensitivityParams params, QObject *parent = nullptr);

    const LmSensitivityParams &params() const { return m_params; }
    bool start() override;
    // Set once succeeded() has been emitted.
    const std::optional<LmSensitivityOutcome> &result() const { return m_result; }

    // The work itself, callable without Qt. Progress: "reading the text", "reading weights", then one step per
    // measurement (the base, then each tensor and setting).
    static LmSensitivityOutcome run(const LmSensitivityParams &params, const cw::StopToken &stop,
                                    const cw::ProgressFn &progress);

signals:
    void succeeded();

private:
    LmSensitivityParams m_params;
    std::optional<LmSensitivityOutcome> m_result;
};

struct LmCompressParams {
    std::string modelPath;        // cw::lm::LanguageModel::open: the copy compressed (the workspace's model stays)
    cw::Recipe recipe;
    std::string calibrationSpec;  // cw::lm::loadText; "" for none (methods that need activations are then refused)
    bool importance = false;      // formats weighted by the calibration activations
    int64_t calibrationTokens = 8192;
    std::string evalSpec;         // the text perplexity is measured on (cw::lm::loadText)
    int64_t ctx = 0;              // 0: cw::lm::defaultPerplexityOptions
    int64_t chunks = -1;          // -1: every whole chunk
    bool measureBase = true;      // the unchanged copy's perplexity and speed first (the owner caches them)
    int threads = 0;
    // The encoded tensors of a recipe computed by matrix on a cluster (cw::cluster::mergeLmMatrices): applied to the
    // copy instead of compressing it (no calibration), then measured.
    std::shared_ptr<const cw::lm::LmCompressResult> encoded;
};

// The arguments of `cwb compress` that compress and measure as the job does, without --recipe (a cluster plan's
// command), and the command line that makes the same variant (a project's provenance): its recipe as NAME.json.
std::vector<std::string> cwbArguments(const LmCompressParams &params);
std::string cwbCommand(const LmCompressParams &params, const std::string &name);

struct LmCompressOutcome {
    std::shared_ptr<cw::lm::LanguageModel> model;          // the compressed copy, loaded (runs as encoded)
    std::shared_ptr<const cw::lm::LmCompressResult> result; // its tensors and encoded bytes (exportGguf)
    std::optional<cw::lm::PerplexityResult> basePerplexity; // with measureBase
    std::optional<cw::lm::SpeedResult> baseSpeed;
    cw::lm::PerplexityResult perplexity;
    cw::lm::SpeedResult speed;
    int64_t ctx = 0;        // the context of the perplexity
    int64_t textTokens = 0; // the evaluation text, tokenized
};

class LmCompressJob : public Job {
    Q_OBJECT
public:
    explicit LmCompressJob(LmCompressParams params, QObject *parent = nullptr);

    const LmCompressParams &params() const { return m_params; }
    bool start() override;
    // Set once succeeded() has been emitted.
    const std::optional<LmCompressOutcome> &result() const { return m_result; }

    // The work itself, callable without Qt. Progress: "reading the text", "reading weights", "base perplexity: chunk
    // i of n", the compression's stages (calibration, each tensor), "perplexity: chunk i of n", "speed". The recipe is
    // checked (cw::lm::validateLmRecipe) before anything is read.
    // `finetuneStep`: cw::lm::LmCompressOptions::finetuneStep.
    static LmCompressOutcome run(const LmCompressParams &params, const cw::StopToken &stop,
                                 const cw::ProgressFn &progress,
                                 const std::function<void(int64_t, int64_t, double)> &finetuneStep = {});

signals:
    void succeeded();
    // Each fine-tuning step as it ends (the live loss curve): 1-based step, the steps in all, its training loss.
    void finetuneStep(qint64 step, qint64 steps, double loss);

private:
    LmCompressParams m_params;
    std::optional<LmCompressOutcome> m_result;
};

using EncodedTensors = std::map<std::string, cw::lm::EncodedTensor>;

// Writes the model as a GGUF checkpoint (cw::lm::exportGguf; cw::Error, e.g. for a safetensors source, becomes
// failed()). The writer has no stop checks of its own: a cancel discards the result (the file is written atomically).
class ExportGgufJob : public Job {
    Q_OBJECT
public:
    ExportGgufJob(LanguageModelPtr model, QString path, bool f16, QObject *parent = nullptr);
    // A compressed variant: its encoded tensors as they are, every other tensor as the checkpoint stores it.
    ExportGgufJob(LanguageModelPtr model, QString path, std::shared_ptr<const EncodedTensors> compressed,
                  QObject *parent = nullptr);

    QString path() const { return m_path; }
    bool f16() const { return m_f16; }
    bool start() override;

signals:
    void succeeded(const QString &path);

private:
    LanguageModelPtr m_model;
    QString m_path;
    bool m_f16;
    std::shared_ptr<const EncodedTensors> m_compressed;
};

} // namespace cw::ui
