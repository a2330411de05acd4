// Distillation jobs: a teacher model trains a smaller student (the losses: core/train/distill.h), and the student
// comes back as a variant measured like any compression variant.
//
// Students:
//   slim    a copy of the teacher with every layer's output channels x factor, by the channel-pruning surgery
//           (prune.h: the weakest channels by L1 norm go; layers whose channels cannot be removed, and the
//           logits, stay whole), and / or without its residual blocks that have an identity shortcut
//           (removeResidualBlocks), starting from the teacher's remaining weights or fresh (He init);
//   file    any model (.onnx / .h5) whose input and output fit the teacher's, with its own weights or fresh;
//   arch    a demo architecture (demo_models.h) at a width multiplier, fresh.
// The job: validation of the teacher once, then training with the teacher on every batch (train.h); after each
// epoch the student is validated on the evaluation data (ValidationMeasure: accuracy with labels; without, top-1
// agreement with the teacher, or for an output that is not logits [N, classes] the output's SQNR against the
// teacher's); at the end it is measured like a compression variant (measureVariant, with the teacher as the
// reference). The run, its settings and its curves travel in the variant's Model::analysis["distillation"].
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/compress/compress.h"
#include "core/train/train.h"

namespace cw {

enum class StudentKind { Slim, File, Arch };

struct StudentSpec {
    StudentKind kind = StudentKind::Slim;
    double factor = 0.5;      // slim: fraction of every layer's channels kept, in (0, 1]; 1 with dropBlocks only
    bool dropBlocks = false;  // slim: also remove the residual blocks with an identity shortcut
    std::string path;         // file
    std::string arch = "cnn"; // arch
    double width = 0.25;      // arch: channel multiplier
    bool fresh = false;       // slim / file: He-initialised weights instead of the teacher's / the file's (arch
                              // students are always fresh)
    uint64_t seed = 1;        // fresh weights
};

// The student a spec describes, shapes inferred. *notes (when given) receives what the surgery left whole.
// Throws cw::Error for a factor out of range, an unknown architecture, a file that does not load, or a
// student whose input or output does not fit the teacher's (naming both shapes).
Model makeStudent(const Model &teacher, const StudentSpec &spec, std::vector<std::string> *notes = nullptr);

struct DistillJobOptions {
    DistillConfig distill;
    TrainOptions train;        // epochs, lr, batch size, seed, threads, limit; teacher / distill are set by the job
    CompressOptions measure;   // validation limit (evalLimit), threads, latency settings; measure = false skips
                               // the final measurement
};

// What a validation measures on the evaluation data:
//   Accuracy   top-1 against its labels, in [0, 1];
//   Agreement  without labels, the share of samples whose top-1 class is the teacher's, in [0, 1];
//   SqnrDb     without labels, for a first output that is not logits [N, classes] (an embedding, a mask): that
//              output's signal-to-quantization-noise ratio against the teacher's, in dB (analysis/fidelity.h).
enum class ValidationMeasure { None, Accuracy, Agreement, SqnrDb };
std::string toString(ValidationMeasure measure); // "none", "accuracy", "top1_agreement", "sqnr_db"

// Validation after an epoch: the student's figure in the run's measure; nothing without evaluation data.
struct DistillEpoch {
    EpochStats train;
    ValidationMeasure measure = ValidationMeasure::None;
    std::optional<double> validation;
    std::optional<double> teacherValidation; // the teacher's on the same data (DistillResult::teacherValidation)
};

struct DistillResult {
    Variant variant;
    std::vector<DistillEpoch> epochs;
    ValidationMeasure measure = ValidationMeasure::None;
    // The teacher's figure on the evaluation data: its accuracy; 1 for agreement (itself); none for SQNR (infinite).
    std::optional<double> teacherValidation;
    int64_t teacherParameters = 0, studentParameters = 0; // Graph::parameterCount()
    double seconds = 0;
};

using DistillEpochFn = std::function<void(const DistillEpoch &)>;

// Trains `student` with `teacher` on `train` (labels optional when alpha is 1) and measures it on `eval` (may be
// null). Checks `stop` between batches; a cancelled run throws cw::Cancelled and nothing is kept.
DistillResult distill(const Model &teacher, const Model &student, const Dataset &train, const Dataset *eval,
                      const DistillJobOptions &options, const ProgressFn &progress = {}, const StopToken *stop = nullptr,
                      const LogFn &log = {}, const StepFn &onStep = {}, const DistillEpochFn &onEpoch = {});

inline constexpr const char *kDistillationKey = "distillation";

} // namespace cw
