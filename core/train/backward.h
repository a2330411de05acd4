// Backward rules of the trainable operators (internal to the trainer: core/train/train.cpp and its tests).
//
// A rule receives the node, its forward inputs and outputs and the gradient of its first output, and
// fills the gradients of the inputs the trainer asks for (wantGrad). Rules validate what they cannot
// handle and throw cw::Error with a message; the trainer prefixes the node name and operator.
#pragma once

#include <string>
#include <vector>

#include "core/base/tensor.h"
#include "core/graph/graph.h"

namespace cw::detail {

struct BackwardContext {
    const Node &node;
    std::vector<const Tensor *> inputs;  // forward inputs, nullptr for an omitted optional input
    std::vector<const Tensor *> outputs; // forward outputs
    const Tensor &outputGrad;            // d(loss)/d(outputs[0]), same shape as outputs[0]
    const Tensor *saved = nullptr;       // data the forward pass kept for this node (BN: mean, inverse std)
    std::vector<bool> wantGrad;          // per input
    std::vector<Tensor> inputGrads;      // per input, filled where wantGrad (same shape as the input)
    int threads = 1;

    const Tensor &in(int i) const { return *inputs[size_t(i)]; }
    bool has(int i) const { return i < int(inputs.size()) && inputs[size_t(i)] != nullptr; }
    bool want(int i) const { return i < int(wantGrad.size()) && wantGrad[size_t(i)]; }
};

using BackwardFn = void (*)(BackwardContext &ctx);

// nullptr when the operator has no backward rule.
BackwardFn findBackward(const std::string &opType);
std::vector<std::string> differentiableOps();
// Input slots of an operator that hold trainable parameters when fed by a float initializer.
std::vector<int> parameterSlots(const std::string &opType);

// BatchNormalization forward in training mode. x: [N, C, ...], scale / bias / runningMean / runningVar: [C]
// → y: [N, C, ...]; *saved = [2, C] (batch mean, inverse std). With updateRunning, runningMean and
// runningVar are updated in place: running = momentum * running + (1 - momentum) * batch statistic (unbiased
// variance for the running variance).
Tensor batchNormTraining(const Node &node, const Tensor &x, const Tensor &scale, const Tensor &bias,
                         Tensor &runningMean, Tensor &runningVar, bool updateRunning, Tensor *saved, int threads);

// Sums a gradient of shape `from` down to a (numpy-)broadcastable shape `to`.
Tensor unbroadcast(const Tensor &grad, const Shape &to);

} // namespace cw::detail
