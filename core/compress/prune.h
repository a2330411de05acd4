// Pruning: unstructured magnitude (per layer or one global threshold), N:M semi-structured, and structured
// channel pruning that removes output channels from the graph for real, plus iterative pruning with
// fine-tuning between steps.
//
// Unstructured and N:M pruning zero weights in place and return the masks (1 = kept) so fine-tuning keeps
// them zero (TrainOptions::masks). N:M keeps the n largest-magnitude weights of every m consecutive weights
// along the layer's reduction axis (Conv: input channel x kernel, Gemm: the input dimension), ties broken by
// index; a reduction length that is not a multiple of m leaves the trailing partial group dense.
//
// Channel pruning ranks a layer's output channels by the L1 or L2 norm of their weights and removes the
// weakest round(ratio * channels) (at least one channel always stays). Every consumer shrinks consistently:
// the layer's bias, a following BatchNormalization's four vectors, element-wise ops and pooling pass the
// channel set through, and the next Conv / Gemm loses the matching input channels (after a Flatten, the
// matching blocks of H*W inputs). Layers whose outputs meet in an Add (a residual) are pruned as one group
// with a shared channel set ranked by the sum of their norms. A layer whose output reaches the graph output
// directly (the logits) is never channel-pruned. The pruned model computes exactly what the unpruned model
// computes with those channels' weights (and biases, BN scales and shifts) zeroed, up to float rounding.
// Graph surgery follows Flatten(axis 1), a Reshape that flattens [N, C, ...] to [N, C * ...] (its constant
// target shape is rewritten), BatchNormalization, depthwise Conv, element-wise activations, pooling and
// Add/Sub/Mul/Div/Max/Min; any other consumer (another Reshape, Concat, ...) is a cw::Error naming it.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/base/progress.h"
#include "core/base/tensor.h"
#include "core/compress/recipe.h"
#include "core/graph/graph.h"
#include "core/io/dataset.h"
#include "core/train/train.h"

namespace cw {

// Magnitude pruning: the threshold below which |w| is pruned so that `ratio` of the weights become zero
// (ties at the threshold are pruned in index order until the count is exact). The count is
// round(ratio * numel); NaN weights rank as the largest. Throws cw::Error for a ratio outside [0, 1].
// magnitudeThreshold returns the largest pruned magnitude (0 when nothing is pruned).
float magnitudeThreshold(const Tensor &w, double ratio);
Tensor pruneMagnitude(const Tensor &w, double ratio);

struct PruneReport {
    std::string node;
    std::string weight;
    int64_t params = 0;        // weight elements before
    int64_t zeros = 0;         // exact zeros after (unstructured / N:M / block)
    int64_t channelsBefore = 0, channelsAfter = 0; // channel pruning
    std::vector<int64_t> kept;  // channel pruning: the channels kept, as indices of the layer's original channels
    // Channel pruning that the graph around the layer does not allow (a Reshape, Concat or reduction consumes
    // its channels, they reach a graph output, ...): why the layer was left whole. "" otherwise.
    std::string skipped;
};

struct PruneResult {
    std::map<std::string, Tensor> masks;   // weight initializer -> mask (unstructured / N:M / block only)
    std::vector<PruneReport> layers;
};

// Applies one pruning pass to every planned layer (LayerPlan::config.prune set, not skipped) at the given
// ratio scale; a layer whose channels cannot be removed consistently is left whole with the reason in its
// report (PruneReport::skipped), and the others are pruned (1 = the configured ratios; iterative pruning passes smaller fractions; N:M prunes
// round((m - n) * scale) of every m, so the pattern is exactly n:m at scale 1). Layers sharing one
// PruneConfig with scope Global share one magnitude threshold. Mutates `model` (call on a deep copy).
PruneResult pruneModel(Model &model, const std::vector<LayerPlan> &plan, double ratioScale = 1.0);

// Why channel pruning would leave `node` whole under `plan` (PruneReport::skipped of a pruneModel run), "" when
// its channels can be removed: the graph around it cannot be rewritten (a Reshape, Concat or reduction consumes
// them), they reach a graph output, or another layer producing the same channels (the other side of a residual
// Add) is not channel-pruned in `plan`. Nothing is modified; the recipe table shows it before a run.
std::string channelPruneObstacle(const Model &model, const std::string &node, const std::vector<LayerPlan> &plan);

// Block pruning (students of distillation): removes every residual block with an identity shortcut, y = x + f(x),
// where f is a chain of nodes fed by x alone (and weights) whose values nothing outside the block reads, with at
// least one Conv / Gemm / MatMul: the Add's consumers read x instead, and f's nodes and weights go. Blocks with a
// projection shortcut (both Add inputs computed from x) change the shape and stay. Returns the removed Add
// nodes' names, in graph order; shapes are inferred again when any was removed.
std::vector<std::string> removeResidualBlocks(Model &model);

// Building blocks (also used by the GUI's what-if and by tests).
Tensor pruneNM(const Tensor &w, int n, int m, int reductionAxisStart);  // axes >= start form the reduction
// Block pruning: blocks of 16 consecutive output features (along outputAxis) at one input, the block form a Session
// multiplies without their zeros (runtime/sparse.h, sparse::kBlock), ranked by their L2 norm (NaN as the largest);
// round(ratio * blocks) of the weakest are zeroed, ties in index order. A trailing partial block (outputs not a
// multiple of 16) counts as one block. mask (w's shape), when given, gets the zeros too.
Tensor pruneBlocks(const Tensor &w, double ratio, int outputAxis, Tensor *mask = nullptr);
std::vector<int64_t> rankChannels(const Tensor &w, int channelAxis, ChannelNorm norm); // weakest first
// Removes the given output channels of `node` (and the group it belongs to) and updates every consumer.
// Throws cw::Error naming the node when the graph around it cannot be pruned consistently.
void removeChannels(Model &model, const std::string &node, const std::vector<int64_t> &channels);

// Channel pruning's reconstruction (PruneConfig::reconstruct; the least-squares weight reconstruction of He et al.
// 2017 and of AIMET's channel pruning): every Conv (2-D, group 1), Gemm and MatMul of `pruned` whose inputs lost channels
// against `base` is refit by least squares (reconstruct.h's LeastSquares) so that on the first
// `samples` samples of `data` (0: all) its outputs are the base's outputs of the same node on the channels it kept (kept:
// node -> the base's indices of its output channels, PruneReport::kept; a layer not listed kept them all). The
// layers go in graph order, each fit to the inputs the layers before it, already refit, give it; patches of
// convolutions are taken at up to 256 evenly spaced output positions per sample. A Conv or Gemm without a bias
// gets one; a MatMul is fit without. Layers it cannot refit (grouped or 1-D convolutions, ...) stay as pruned,
// with the reason logged.
// damp: LeastSquares::solve's (0: the exact least-squares solution). Needs inputs, not labels. Each refit layer
// runs both models over the samples once (a large model wants fewer samples). Checks `stop` between batches
// (cw::Cancelled; `pruned` may then be partly refit).
void reconstructPruned(Model &pruned, const Model &base, const std::map<std::string, std::vector<int64_t>> &kept,
                       const Dataset &data, int64_t samples, double damp = 0.01, int threads = 0,
                       const ProgressFn &progress = {},
                       const StopToken *stop = nullptr, const std::function<void(const std::string &)> &log = {});

// Iterative pruning: `steps` passes with ratio_k = ratio * (1 - (1 - k / steps)^power), each followed by
// `finetune.epochs` epochs of training on `train` with the masks applied (no fine-tuning when train is null
// or epochs is 0), distilled from `teacher` when finetune.distill is set (the teacher is then required).
// With schedule.reconstruct every pass is followed by reconstructPruned against `model` as it came in, on
// `train` (required then).
// Checks `stop` between steps and batches; on cancel throws cw::Cancelled and leaves `model` as it was.
PruneResult pruneIteratively(Model &model, const std::vector<LayerPlan> &plan, const PruneConfig &schedule,
                             const FinetuneConfig &finetune, const Dataset *train, const ProgressFn &progress = {},
                             const StopToken *stop = nullptr, const std::function<void(const std::string &)> &log = {},
                             const Model *teacher = nullptr);

} // namespace cw
