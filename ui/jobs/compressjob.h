// CompressJob: cw::compress on a worker thread — one recipe applied to the open model, giving a measured
// variant.
//
// Parameters are a value: the base model (a shallow copy; cw::compress works on a deep copy and never
// touches the base), the recipe, the training data (calibration, fine-tuning; loaded only when the recipe
// needs it) and the evaluation data with its sample limit. With measureBase the base model is measured the
// same way first (stage "measuring base model"), so a variant's accuracy drop and compression ratio compare
// like with like. Log lines from the pipeline arrive as queued logLine() signals on the job's thread.
//
// The job leaves one core to the GUI: its threads default to max(1, ideal - 1), so the window stays
// responsive while it runs (the GUI test measures the largest gap between timer ticks).
#pragma once

#include <QMetaType>
#include <QString>

#include <memory>
#include <optional>
#include <string>

#include "core/compress/compress.h"
#include "core/compress/recipe.h"
#include "core/graph/graph.h"
#include "core/io/dataset.h"
#include "ui/jobs/job.h"

namespace cw::ui {

struct CompressParams {
    cw::Model base;
    cw::Recipe recipe;
    QString name;                                    // the variant's name
    std::string trainSpec = "fashion-mnist:train";   // calibration / fine-tuning data
    std::string evalSpec = "fashion-mnist";
    cw::Preprocess preprocess;
    int64_t evalLimit = 1000;                        // 0 = all
    cw::CompressOptions options;                     // options.evalLimit is set from evalLimit
    std::string teacherPath;                         // the recipe's finetune.distill learns from this model
                                                     // (loaded by the job) instead of the base, when not empty
    bool measureBase = false;
};

// The cwb command that makes the same variant (a project's provenance): the recipe is the variant's own, saved
// as NAME.json (`cwb project show` prints it).
QString cwbCommand(const CompressParams &params);

// Threads a job uses by default: all but one core, at least one.
int compressThreads();

class CompressJob : public Job {
    Q_OBJECT
public:
    explicit CompressJob(CompressParams params, QObject *parent = nullptr);

    const CompressParams &params() const { return m_params; }
    bool start() override;

    // Samples of training data the recipe needs (0: none, -1: all): calibration, bias correction, channel
    // pruning's reconstruction, fine-tuning.
    static int64_t trainingSamples(const cw::Recipe &recipe);

signals:
    void logLine(const QString &line);
    // base: the base model's metrics when measureBase was set.
    void succeeded(std::shared_ptr<const cw::Variant> variant, std::optional<cw::VariantMetrics> base);

private:
    CompressParams m_params;
};

} // namespace cw::ui

Q_DECLARE_METATYPE(std::shared_ptr<const cw::Variant>)
Q_DECLARE_METATYPE(std::optional<cw::VariantMetrics>)
