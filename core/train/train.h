// Training on the same cw::Model graph that inference runs: no second network representation.
//
// A Trainer walks the model's nodes in topological order (ordinary ops through the forward kernels of
// ops.h; BatchNormalization in training mode with batch statistics), keeps every activation of the batch,
// then walks the nodes in reverse and accumulates gradients for every trainable initializer and for the
// graph input. The loss is softmax cross-entropy on the first graph output (the logits), averaged over the
// batch, or with a teacher (TrainOptions::teacher) the distillation loss of distill.h. An optimizer (SGD
// with momentum or Adam) then updates the initializers in place.
//
// Supported on the gradient path (anything else there is a cw::Error naming the node and operator):
//   Gemm, MatMul (2-D), Conv, BatchNormalization, Relu, LeakyRelu, Clip, MaxPool, AveragePool,
//   GlobalAveragePool, Flatten, Reshape, Identity, Dropout, Add, Sub.
// Dropout is the identity while training in this version (no random masking): it trains like a model
// without dropout, and the exported graph is unchanged.
// BatchNormalization in training mode normalises with the batch mean and biased batch variance and updates
// its running mean / variance initializers: running = momentum * running + (1 - momentum) * batch, with the
// node's `momentum` attribute (default 0.9, ONNX's convention) and the unbiased batch variance for the
// running variance (as PyTorch does, so the inference statistics are not biased low for small batches).
//
// Parallelism: Conv backward splits the batch over worker threads (core/base/parallel.h; per-thread
// weight-gradient buffers summed in thread order), BN and pooling split channels / planes, gemm uses the same thread budget. With a fixed
// thread count (threads = 1 in particular) and seed, two runs give bit-identical weights.
//
// Trainable parameters are the float initializers feeding a weight / bias slot: Gemm B and C, MatMul B,
// Conv W and B, BatchNormalization scale and B, a float initializer operand of Add / Sub. Running statistics,
// Reshape shapes and Clip bounds are not trained.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/base/progress.h"
#include "core/base/tensor.h"
#include "core/graph/graph.h"
#include "core/io/dataset.h"
#include "core/quant/quantize.h"
#include "core/train/distill.h"

namespace cw {

enum class Optimizer { Sgd, Adam };
enum class LrSchedule { Constant, Cosine, Step };

struct TrainOptions {
    int epochs = 5;
    int64_t batchSize = 64;
    float lr = 1e-3f;
    Optimizer optimizer = Optimizer::Adam;
    float momentum = 0.9f;       // SGD momentum (0 = plain SGD)
    float weightDecay = 0.f;     // on weights of rank >= 2 (not biases, not BN): decoupled (AdamW) under Adam, L2 under SGD
    float adamBeta1 = 0.9f, adamBeta2 = 0.999f, adamEpsilon = 1e-8f;
    uint64_t seed = 1;           // shuffling order
    bool shuffle = true;
    // Cosine: lr * (1 + cos(pi * step / totalSteps)) / 2, updated every batch.
    // Step: lr * stepGamma ^ floor(epoch / stepEpochs).
    LrSchedule schedule = LrSchedule::Cosine;
    int stepEpochs = 2;
    float stepGamma = 0.1f;
    int threads = 0;             // 0 = all hardware threads
    int64_t limit = 0;           // > 0: train on the first `limit` samples only
    // Pruning hook: initializer name -> mask of the same shape. After every optimizer step the weight is
    // multiplied by its mask, so weights pruned to zero stay zero while the rest keep training.
    std::map<std::string, Tensor> masks;
    // Quantization-aware training with a straight-through estimator. fakeQuantWeights: weight initializer ->
    // its QuantSpec and axes; forward and backward compute with the weight's quantized values (the same grid
    // as the integer rewrite, core/compress/qrewrite.h), and the gradient of that stand-in is applied unchanged to the
    // float weight. fakeQuantActivations: value name -> [lo, hi]; the value is replaced by its uint8 fake
    // quantization on that range, and its gradient passes where lo <= x <= hi and is zero outside (the
    // clipped straight-through estimator).
    struct FakeQuantWeight {
        QuantSpec spec;
        int channelAxis = 0, reductionAxis = 1;
    };
    std::map<std::string, FakeQuantWeight> fakeQuantWeights;
    std::map<std::string, std::pair<float, float>> fakeQuantActivations;
    // Knowledge distillation: with a teacher, the loss is distill.h's (hard + soft + feature parts) and the
    // teacher runs (inference mode) on every batch; its outputs are never kept beyond the batch. The training
    // data may then have no labels when distill.alpha is 1. The teacher must outlive the call.
    const Model *teacher = nullptr;
    DistillConfig distill;
    // Data augmentation of image batches ([N, C, H, W], or [N, H, W, C] as Dataset::channelsLast says), drawn per
    // sample and per epoch from the seed: a shift by up to `shift` pixels along each spatial axis (zero fill) and,
    // with `flip`, a left-right mirror with probability 1/2. A teacher sees the same augmented batch as the student,
    // so it teaches on inputs it did not memorise. Inactive by default: the batches are the data's samples unchanged.
    struct Augment {
        int shift = 0;
        bool flip = false;
        bool active() const { return shift > 0 || flip; }
    } augment;
};

// One batch augmented as TrainOptions::Augment describes, drawing from rng. x is [N, C, H, W] float32, or
// [N, H, W, C] when channelsLast (an image folder read for an NHWC model): the same draws move the same pixels.
Tensor augmentBatch(const Tensor &x, const TrainOptions::Augment &augment, uint64_t &rng, bool channelsLast = false);

// One optimizer step's update of n parameters from their gradient (Adam or SGD with momentum, by options);
// m and v hold the moments (v is unused by SGD), step is the 1-based step count, decay the weight decay: under
// Adam decoupled as AdamW's (p -= lr * decay * p beside the normalised step), under SGD L2 (decay * p joins the
// gradient).
void optimizerUpdate(const TrainOptions &options, int64_t step, float lr, float decay, float *p, const float *grad,
                     float *m, float *v, int64_t n);

// Statistics of one epoch on the training data, measured during training (training-mode BN, weights
// changing within the epoch).
struct EpochStats {
    int epoch = 0;        // 1-based
    int epochs = 0;
    double loss = 0;      // mean loss (softmax cross-entropy, or the distillation loss with a teacher)
    DistillLossParts parts; // with a teacher: the loss's hard / soft / feature parts (means)
    double accuracy = 0;  // top-1 against the labels (against the teacher's top-1 without labels), in [0, 1]; NaN when
                          // distillation matches an output that is not logits (nothing to count)
    double lr = 0;        // learning rate at the end of the epoch
    double seconds = 0;
    int64_t samples = 0;
};

// One optimizer step (the live curves of a training job).
struct StepStats {
    int64_t step = 0;     // 1-based over the run
    int64_t steps = 0;    // of the run
    int epoch = 0;        // 1-based
    double loss = 0;      // of this batch
    DistillLossParts parts;
    double lr = 0;
};

struct TrainResult {
    std::vector<EpochStats> epochs;
    int64_t steps = 0;
    double seconds = 0;
};

// Softmax cross-entropy of logits [N, C] against labels, averaged over the batch. Fills *gradient (same
// shape as the logits: (softmax - onehot) / N) and *correct (top-1 hits) when given. Throws cw::Error on a
// label outside [0, C).
double softmaxCrossEntropy(const Tensor &logits, const std::vector<int64_t> &labels, Tensor *gradient = nullptr,
                           int64_t *correct = nullptr);

// Forward / backward / optimizer over one model. The Trainer holds a reference: the model's initializers
// are updated in place by step() (and BN running statistics by forward()), so the model must not share
// weight buffers with another Model (use Model::deepCopy(); train() below does this for you).
class Trainer {
public:
    // Validates the graph: every node on the gradient path must have a backward rule. inputGradient also
    // computes d(loss)/d(input) (gradient checks, saliency); training does not need it, and without it the
    // nodes between the input and the first trainable layer need no backward rule.
    Trainer(Model &model, const TrainOptions &options, bool inputGradient = false);

    const std::string &inputName() const { return m_inputName; }
    const std::string &outputName() const { return m_outputName; }
    // Names of the trained initializers, in a fixed order.
    const std::vector<std::string> &parameterNames() const { return m_params; }

    // Forward in training mode on a batch; keeps the activations for backward(). Returns the first output.
    // updateRunningStats = false leaves BN running statistics alone (used by gradient checks).
    Tensor forward(const Tensor &input, bool updateRunningStats = true);
    // Backward from d(loss)/d(output): fills gradients() for every parameter and the graph input.
    void backward(const Tensor &outputGradient);
    // Backward from gradients of several values (the output and intermediate activations a loss reads).
    void backward(const std::map<std::string, Tensor> &valueGradients);
    // An activation of the last forward() (null if it was not computed), and whether gradients flow through it.
    const Tensor *value(const std::string &name) const;
    bool carriesGradient(const std::string &name) const { return m_needsGrad.count(name) > 0; }
    // forward + softmax cross-entropy + backward. Returns the loss; *correct gets the top-1 hits.
    double computeGradients(const Tensor &input, const std::vector<int64_t> &labels, int64_t *correct = nullptr);
    // Gradient by value name (parameters, and the graph input with inputGradient); null if none was computed.
    Tensor gradient(const std::string &name) const;

    // One optimizer step with the current gradients at learning rate lr, then the masks are applied.
    void step(float lr);
    int64_t stepCount() const { return m_step; }

private:
    Model &m_model;
    TrainOptions m_options;
    int m_threads = 1;
    std::string m_inputName, m_outputName;
    std::vector<std::string> m_params;
    std::set<std::string> m_paramSet;
    std::set<std::string> m_needsGrad; // values through which gradients flow
    std::map<std::string, Tensor> m_values;
    std::map<std::string, Tensor> m_grads;
    std::map<std::string, Tensor> m_aux; // per-node saved data (BN batch mean / inverse std), by node name
    std::map<std::string, Tensor> m_state1, m_state2; // momentum / Adam moments, by parameter name
    std::map<std::string, Tensor> m_fakeWeights;      // QAT: quantized stand-ins of this batch, by weight name
    std::map<std::string, Tensor> m_preQuant;         // QAT: activations before fake quantization, by value
    int64_t m_step = 0;
};

// Trains a copy of `model` on `data` (features [N, ...] matching the first graph input, labels in
// [0, classes)) and, only when training completes, replaces the model's initializers with the trained
// ones; a cancelled or failed run leaves `model` exactly as it was. Other Models sharing weight buffers
// with `model` are never modified. Checks `stop` between batches (throws cw::Cancelled), reports progress
// after each batch, calls onStep after each optimizer step and onEpoch after each epoch with the model as
// trained so far (a private copy: valid during the call only; validation runs on it).
using EpochFn = std::function<void(const EpochStats &, const Model &current)>;
using StepFn = std::function<void(const StepStats &)>;
TrainResult train(Model &model, const Dataset &data, const TrainOptions &options, const ProgressFn &progress = {},
                  const StopToken *stop = nullptr, const EpochFn &onEpoch = {}, const StepFn &onStep = {});

// Learning rate at a given step (0-based) and epoch (0-based) under the options' schedule.
float scheduledLr(const TrainOptions &options, int64_t step, int64_t totalSteps, int epoch);

} // namespace cw
