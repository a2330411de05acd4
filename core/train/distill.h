// Knowledge distillation: the losses that make a student imitate a teacher, and the Distiller that computes
// them batch by batch inside training (train.h, TrainOptions::teacher).
//
// Loss of a batch (every part a mean over the batch):
//   hard    = (1 - alpha) * CE(labels, z_s)
//   soft    = alpha * T^2 * KL(softmax(z_t / T) || softmax(z_s / T))       (Hinton et al. 2015)
//   feature = featureWeight * sum over the feature pairs of the feature loss
// alpha weights the teacher: alpha = 0 is training on labels alone, alpha = 1 on the teacher alone (data without
// labels needs alpha = 1). The T^2 factor keeps the soft gradients' size independent of T.
// Feature (hint) losses compare an intermediate activation of the student with one of the teacher:
//   l2        mean squared error over all elements (FitNets), after the adapter;
//   cosine    1 - cosine similarity of the flattened sample, mean over the batch, after the adapter;
//   attention attention transfer (Zagoruyko & Komodakis 2017): each sample's spatial map sum_c f_c^2,
//             L2-normalised; mean squared difference of the maps. Channel counts may differ (no adapter);
//             the spatial sizes must match.
// When the student's channel count differs from the teacher's (l2, cosine), a learned adapter maps the student
// feature to the teacher's channels: a 1x1 convolution for [N, C, ...] features, a linear layer for [N, C]. It
// trains with the student (same optimizer and learning rate) and is discarded afterwards.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/base/tensor.h"
#include "core/graph/graph.h"

namespace cw {

class Session;
class Trainer;
struct TrainOptions;

enum class FeatureLoss { L2, Cosine, Attention };
std::string toString(FeatureLoss loss);
FeatureLoss parseFeatureLoss(const std::string &text); // "l2", "cosine", "attention"; throws cw::Error

struct DistillConfig {
    float temperature = 4.f;
    float alpha = 0.7f;
    // Activations compared: "NAME" (a value or node name present in both models; a node stands for its first
    // output) or "STUDENT=TEACHER" when they are named differently.
    std::vector<std::string> features;
    FeatureLoss featureLoss = FeatureLoss::L2;
    float featureWeight = 1.f;
};

// The three parts of a batch's loss (already weighted: total = hard + soft + feature).
struct DistillLossParts {
    double hard = 0, soft = 0, feature = 0;
    double total() const { return hard + soft + feature; }
};

// hard + soft parts for logits [N, C]. labels may be null only when alpha == 1. Fills *gradient (d loss / d
// studentLogits) and *parts when given. *correct gets the student's top-1 hits against the labels, or its
// agreement with the teacher's top-1 without labels. Throws cw::Error for mismatched shapes or labels out of
// range. An output of another rank ([N, C, H, W], [N]) is matched to the teacher's by the L2 feature loss (the
// soft part; alpha must be 1), and *correct is -1: there is no top-1 to count.
double distillationLoss(const Tensor &studentLogits, const Tensor &teacherLogits, const std::vector<int64_t> *labels,
                        float temperature, float alpha, Tensor *gradient = nullptr, DistillLossParts *parts = nullptr,
                        int64_t *correct = nullptr);

// One feature loss (unweighted) between equally shaped student and teacher activations ([N, ...]); fills
// *gradient (d loss / d student) when given. Attention needs rank >= 3 and equal spatial sizes only.
double featureLoss(FeatureLoss kind, const Tensor &student, const Tensor &teacher, Tensor *gradient = nullptr);

// Throws cw::Error (naming both shapes) unless both models have one graph input and an output, and the student's
// input and first output have the teacher's shapes (batch aside; unknown dimensions fit anything).
void requireStudentFits(const Model &teacher, const Model &student);

// The learned map from the student's channels to the teacher's: y[n, o, p] = sum_i w[o, i] x[n, i, p] + b[o]
// (axis 1 is the channel axis; p runs over the remaining axes).
struct FeatureAdapter {
    Tensor weight; // [out, in]
    Tensor bias;   // [out]
    Tensor forward(const Tensor &x) const;
    // d loss / d x from d loss / d y; fills the weight and bias gradients.
    Tensor backward(const Tensor &x, const Tensor &dy, Tensor *dWeight, Tensor *dBias) const;
};

// Runs the teacher on each batch and turns student and teacher outputs into the loss and the gradients to
// seed the student's backward pass with. Owns the adapters and their optimizer state.
class Distiller {
public:
    // student: the model the Trainer trains (its graph resolves the feature names); the teacher is copied into
    // an inference Session. Throws cw::Error naming the feature or the model when a name does not resolve, a
    // feature carries no gradient in the student, or the two models' inputs / outputs do not fit.
    Distiller(const Model &teacher, const Model &student, const Trainer &trainer, const DistillConfig &config,
              const TrainOptions &options);
    ~Distiller();

    // The loss of a batch whose forward pass `trainer` just ran on `input`; fills `seeds` (value name ->
    // gradient) for Trainer::backward and the adapters' gradients.
    double loss(const Tensor &input, const Trainer &trainer, const std::vector<int64_t> *labels,
                std::map<std::string, Tensor> *seeds, DistillLossParts *parts, int64_t *correct);
    // The adapters' optimizer step (after Trainer::step, with the same learning rate).
    void step(float lr);

private:
    struct Pair {
        std::string student, teacher; // value names
        std::unique_ptr<FeatureAdapter> adapter;
        Tensor dWeight, dBias;
        Tensor state[4]; // optimizer moments: weight m / v, bias m / v
    };
    DistillConfig m_config;
    const TrainOptions &m_options;
    std::unique_ptr<Session> m_teacher;
    std::string m_teacherOutput, m_studentOutput;
    std::vector<std::string> m_teacherValues; // what each batch asks of the teacher: its output, then the features
    std::vector<Pair> m_pairs;
    int64_t m_step = 0;
};

} // namespace cw
