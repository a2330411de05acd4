// Activations kept in oneDNN's channel-blocked layout between layers.
//
// oneDNN's direct convolutions compute on nChw8c / nChw16c: the channels in groups of b (8 on AVX2, 16 on
// AVX-512), each group's b values of a pixel side by side. A convolution reading and writing the engine's plain
// NCHW has to reorder its input into that layout and its output back, which on the demos at batch 64 was a third
// of the run. So where a convolution's output goes only to operators that can read the blocked layout, it stays
// blocked: the next convolution reads it as it is, a pooling computes on it, an element-wise operator computes
// on it unchanged (it is the same values, permuted), and a global pooling reads it and writes plain NCHW.
//
// A blocked float32 activation [N, C, H, W] (C a multiple of b) is held as the 5-D tensor [N, C / b, H, W, b].
// Where it may appear is decided when a Session is built (fuseForInference, runtime/fusion.h), from the graph
// alone: a value is marked when its producer may write it blocked and every one of its readers may read it so.
// Whether it really is blocked is decided per run by the producer (a convolution that oneDNN does not run
// blocked writes plain NCHW), so a reader marked for it takes either: a 5-D value at a marked input is blocked, a
// 4-D one is plain. The marks are internal node attributes of the Session's private copy of the graph, never
// written to a file; every value a caller names (outputs asked for by name) leaves the Session plain.
//
// Quantized activations (uint8 / int8) are kept channel-last the same way, as one group of all C channels:
// [N, 1, H, W, C]. oneDNN's int8 convolutions on CPUs without AVX-512 read only that layout (NHWC), and a plain
// NCHW input was reordered before every one of them (13 % of imgly-medium's 7-bit run). A QLinearConv writes
// them (its accumulators come channel-last, so the requantization stores them as they are), and a MaxPool, a
// QLinearConcat along the channels and a residual join's QLinearAdd (runtime/fusion.h, dequantizedAdd) read and
// write them; other readers keep the value plain.
#pragma once

#include <vector>

#include "core/base/tensor.h"
#include "core/graph/graph.h"

namespace cw::blocked {

// The node's inputs that may arrive blocked (indices), and whether its output may leave blocked.
inline constexpr const char *kInputs = "_blocked_inputs";
inline constexpr const char *kOutput = "_blocked_output";

// Whether `x`, the node's input `input`, is a blocked activation (marked input, 5-D).
bool arrived(const Node &node, int input, const Tensor &x);
// Whether the node may write its output blocked.
inline bool mayLeave(const Node &node) { return node.attrInt(kOutput, 0) != 0; }

// [N, C / b, H, W, b] -> its plain shape [N, C, H, W].
Shape plainShape(const Tensor &x);
// The plain NCHW copy of a blocked activation (float32, or channel-last integers); on raw buffers, `groups`
// groups (images × channel groups) of `plane` pixels of `block` values.
Tensor toPlain(const Tensor &x);
void toPlain(const float *src, int64_t groups, int64_t plane, int64_t block, float *dst);
// The blocked copy [N, C / b, H, W, b] of a plain [N, C, H, W] (C a multiple of b; b = C: channel-last).
Tensor toBlocked(const Tensor &x, int64_t block);

// Whether the node is one of the element-wise operators that compute on blocked activations unchanged (Add, and
// Relu, LeakyRelu, Sigmoid, Tanh, HardSwish, HardSigmoid, Clip); such a node's inputs go through
// prepareElementwise before its kernel runs.
bool computesElementwise(const Node &node);

// For an element-wise node (Add, Relu, ...) with marked inputs: the inputs it computes on. Unchanged when every
// data input is blocked alike and the node may leave its output blocked; otherwise the blocked ones are replaced
// by plain copies (kept in `copies`), so the kernel sees plain NCHW throughout.
void prepareElementwise(const Node &node, std::vector<const Tensor *> &inputs, std::vector<Tensor> &copies);

// Marks the values of `g` (topologically sorted) that may stay blocked, as described above; returns how many.
int markBlockedValues(Graph &g);

} // namespace cw::blocked
