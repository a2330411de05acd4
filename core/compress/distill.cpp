#include "core/compress/distill.h"

#include <chrono>
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "core/analysis/evaluate.h"
#include "core/analysis/fidelity.h"
#include "core/base/error.h"
#include "core/compress/prune.h"
#include "core/io/model_io.h"
#include "core/runtime/shape_inference.h"
#include "core/train/demo_models.h"
#include "core/train/init.h"

namespace cw {

namespace {

std::string percent(double fraction)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f%%", fraction * 100.0);
    return buf;
}

} // namespace

std::string toString(ValidationMeasure measure)
{
    switch (measure) {
    case ValidationMeasure::None:
        return "none";
    case ValidationMeasure::Accuracy:
        return "accuracy";
    case ValidationMeasure::Agreement:
        return "top1_agreement";
    case ValidationMeasure::SqnrDb:
        return "sqnr_db";
    }
    return "none";
}

Model makeStudent(const Model &teacher, const StudentSpec &spec, std::vector<std::string> *notes)
{
    Model student;
    switch (spec.kind) {
    case StudentKind::Slim: {
        if (!(spec.factor > 0.0 && (spec.factor < 1.0 || (spec.factor == 1.0 && spec.dropBlocks))))
            throw Error("the slim factor (channels kept per layer) must be in (0, 1), got " + std::to_string(spec.factor) +
                        " (1 only with residual blocks removed)");
        student = teacher.deepCopy();
        if (spec.dropBlocks) {
            const std::vector<std::string> blocks = removeResidualBlocks(student);
            if (blocks.empty())
                throw Error("the teacher has no residual block with an identity shortcut to remove");
            if (notes)
                for (const std::string &b : blocks)
                    notes->push_back("residual block ending in " + b + " removed");
        }
        if (spec.factor < 1.0) {
            Recipe r;
            r.prune = PruneConfig{};
            r.prune->method = PruneMethod::Channel;
            r.prune->ratio = 1.0 - spec.factor;
            const PruneResult pruned = pruneModel(student, planLayers(r, student));
            int slimmed = 0;
            for (const PruneReport &rep : pruned.layers) {
                if (!rep.skipped.empty() && notes)
                    notes->push_back(rep.node + " kept whole: " + rep.skipped);
                slimmed += rep.channelsAfter < rep.channelsBefore;
            }
            if (slimmed == 0)
                throw Error("no layer of the teacher can be slimmed (channel pruning leaves every layer whole)");
        }
        if (spec.fresh)
            heInitialize(student, spec.seed);
        break;
    }
    case StudentKind::File:
        student = loadModel(spec.path);
        if (spec.fresh)
            heInitialize(student, spec.seed);
        break;
    case StudentKind::Arch:
        student = buildDemoModel(spec.arch, spec.seed, spec.width);
        break;
    }
    student.analysis.clear(); // the teacher's analyses describe the teacher
    inferShapes(student);
    requireStudentFits(teacher, student);
    return student;
}

DistillResult distill(const Model &teacher, const Model &student, const Dataset &train, const Dataset *eval,
                      const DistillJobOptions &options, const ProgressFn &progress, const StopToken *stop,
                      const LogFn &log, const StepFn &onStep, const DistillEpochFn &onEpoch)
{
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    auto say = [&](const std::string &line) {
        if (log)
            log(line);
    };
    requireStudentFits(teacher, student);
    DistillResult result;
    result.teacherParameters = teacher.graph.parameterCount();
    result.studentParameters = student.graph.parameterCount();
    const bool labelled = eval && !eval->labels.empty();
    const bool measuring = options.measure.measure;
    const double trainEnd = measuring ? 0.85 : 1.0;

    const int threads = options.measure.threads;
    const Session teacherSession(teacher, SessionOptions{threads});
    // Without labels the first output's fidelity says which measure applies: top-1 agreement for logits, else SQNR.
    auto validate = [&](const Model &model, const ProgressFn &p) -> std::optional<double> {
        if (!eval)
            return std::nullopt;
        if (labelled) {
            EvalOptions eo;
            eo.limit = options.measure.evalLimit;
            result.measure = ValidationMeasure::Accuracy;
            return evaluate(Session(model, SessionOptions{threads}), *eval, eo, p, stop).accuracy;
        }
        FidelityOptions fo;
        fo.limit = options.measure.evalLimit;
        const std::vector<OutputFidelity> f =
            measureFidelity(teacherSession, Session(model, SessionOptions{threads}), *eval, fo, p, stop);
        if (f.empty())
            return std::nullopt;
        const bool classes = f.front().top1Agreement >= 0;
        result.measure = classes ? ValidationMeasure::Agreement : ValidationMeasure::SqnrDb;
        result.teacherValidation = classes ? std::optional<double>(1.0) : std::nullopt;
        return classes ? f.front().top1Agreement : f.front().sqnrDb;
    };
    const auto described = [&](double value) {
        switch (result.measure) {
        case ValidationMeasure::Accuracy:
            return "accuracy " + percent(value);
        case ValidationMeasure::Agreement:
            return "top-1 agreement with the teacher " + percent(value);
        case ValidationMeasure::SqnrDb: {
            char buf[64];
            std::snprintf(buf, sizeof buf, "SQNR against the teacher %.2f dB", value);
            return std::string(buf);
        }
        case ValidationMeasure::None:
            break;
        }
        return std::string();
    };
    if (labelled) {
        result.teacherValidation = validate(teacher, progressSlice(progress, 0.0, 0.05, "teacher"));
        say("teacher: " + std::to_string(result.teacherParameters) + " parameters, validation " +
            described(*result.teacherValidation));
    } else {
        say("teacher: " + std::to_string(result.teacherParameters) + " parameters");
    }
    say("student: " + std::to_string(result.studentParameters) + " parameters (" +
        percent(double(result.studentParameters) / double(std::max<int64_t>(1, result.teacherParameters))) +
        " of the teacher)");

    TrainOptions to = options.train;
    to.teacher = &teacher;
    to.distill = options.distill;
    Model work = student.deepCopy();
    const double perEpoch = (trainEnd - 0.05) / double(std::max(1, to.epochs));
    const EpochFn epochDone = [&](const EpochStats &stats, const Model &current) {
        DistillEpoch e;
        e.train = stats;
        const double at = 0.05 + perEpoch * stats.epoch;
        e.validation = validate(current, progressSlice(progress, at - perEpoch * 0.1, at, "validation"));
        e.measure = result.measure;
        e.teacherValidation = result.teacherValidation;
        result.epochs.push_back(e);
        say("epoch " + std::to_string(stats.epoch) + "/" + std::to_string(stats.epochs) + ": loss " +
            std::to_string(stats.loss) + " (hard " + std::to_string(stats.parts.hard) + ", soft " +
            std::to_string(stats.parts.soft) + ", feature " + std::to_string(stats.parts.feature) + ")" +
            (e.validation ? ", validation " + described(*e.validation) : std::string()));
        if (onEpoch)
            onEpoch(e);
    };
    // Training takes 90% of each epoch's share of the progress, validation the rest.
    const ProgressFn trainProgress = progress ? ProgressFn([&](double f, std::string_view stage) {
        const double epochs = double(std::max(1, to.epochs)), e = std::floor(std::min(f * epochs, epochs - 1e-9));
        progress(0.05 + perEpoch * (e + (f * epochs - e) * 0.9), std::string("distill, ") + std::string(stage));
    })
                                              : ProgressFn();
    cw::train(work, train, to, trainProgress, stop, epochDone, onStep);

    nlohmann::ordered_json doc;
    doc["teacher"] = teacher.sourcePath;
    doc["temperature"] = floatForJson(to.distill.temperature);
    doc["alpha"] = floatForJson(to.distill.alpha);
    doc["features"] = to.distill.features;
    doc["feature_loss"] = toString(to.distill.featureLoss);
    doc["feature_weight"] = floatForJson(to.distill.featureWeight);
    doc["epochs"] = to.epochs;
    doc["lr"] = floatForJson(to.lr);
    doc["batch_size"] = to.batchSize;
    doc["seed"] = to.seed;
    if (to.augment.active())
        doc["augment"] = {{"shift", to.augment.shift}, {"flip", to.augment.flip}};
    doc["train_data"] = train.name;
    doc["validation"] = toString(result.measure);
    // A figure that is not there, or an infinite SQNR (a student that matches its teacher exactly), is null.
    auto orNull = [](const std::optional<double> &v) {
        return v && std::isfinite(*v) ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
    };
    doc["teacher_validation"] = orNull(result.teacherValidation);
    doc["teacher_parameters"] = result.teacherParameters;
    doc["student_parameters"] = result.studentParameters;
    nlohmann::ordered_json curve = nlohmann::ordered_json::array();
    for (const DistillEpoch &e : result.epochs)
        curve.push_back({{"epoch", e.train.epoch},
                         {"loss", e.train.loss},
                         {"hard", e.train.parts.hard},
                         {"soft", e.train.parts.soft},
                         {"feature", e.train.parts.feature},
                         {"train_accuracy", e.train.accuracy},
                         {"validation", orNull(e.validation)}});
    doc["curve"] = curve;
    work.analysis[kDistillationKey] = doc.dump();

    Variant &variant = result.variant;
    variant.name = "distilled";
    if (measuring) {
        variant.metrics = measureVariant(work, teacher, eval, options.measure, progressSlice(progress, trainEnd, 1.0, "measure"), stop);
        variant.measured = true;
    }
    variant.model = std::move(work);
    result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (progress)
        progress(1.0, "done");
    return result;
}

} // namespace cw
