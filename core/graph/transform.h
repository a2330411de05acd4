// Graph transformations that keep a model's function and change its form.
//
// foldBatchNorm(): a BatchNormalization (inference form) right after a Conv or Gemm is an affine map per
// output channel, so it can be absorbed into that layer's weight and bias:
//   s = scale / sqrt(var + epsilon),  W'[m, ...] = s[m] * W[m, ...],  b'[m] = s[m] * (b[m] - mean[m]) + B[m].
// Folded weights are new buffers (Models sharing the old ones are not affected).
//
// widenLayerWeights() / narrowLayerWeights(): pruning, quantization and the sensitivity sweep work on float32
// weights (layerWeight), and half-precision models store them as float16 or bfloat16. Widening replaces such a
// weight of a Conv, ConvTranspose, Gemm or MatMul by its float32 value (exact); the engine runs the mixed graph
// as it is, since kernels widen 16-bit inputs anyway, so every analysis sees the model's own numbers. ONNX
// wants a layer's operands in one type, so narrowing restores it: a widened weight still held as an
// initializer is rounded back to its type (unchanged values round back exactly, pruned zeros stay zero), and
// one that a DequantizeLinear now produces gets a Cast to its type after that node.
#pragma once

#include <map>
#include <string>

#include "core/graph/graph.h"

namespace cw {

// Folds every BatchNormalization whose input comes from a Conv or Gemm whose output has no other consumer
// (and is not a graph output), with all BN parameters and the layer's weight / bias held in initializers
// used by that layer only. The layer takes over the BN's output name, the BN node is removed, and BN
// initializers no other node uses are dropped. A Conv without bias gets one ("<node>.bias"); a folded
// Gemm gets beta = 1 and a [N] bias. Returns the number of BN nodes folded.
int foldBatchNorm(Model &model);

// Gives the nodes of control-flow subgraphs (any depth) names unique in the whole model: an unnamed node
// "<OpType>_<k>", one whose name an earlier node has "<name>_<k>" (the importer names each graph's nodes on
// its own, so two branches both have a "Gemm_0"), so that their layers can be named in recipes and tables.
// Subgraphs are copied where they change. Returns the number of nodes renamed.
int nameSubgraphNodes(Model &model);

// Moves the weights of layers inside control-flow subgraphs (If's branches, Loop's and Scan's body, any depth)
// that a subgraph holds itself — its initializers, which is also what its Constant nodes become at import — to
// the main graph's initializers, and renames the subgraph's references to them (ONNX lets a subgraph read the
// values of its enclosing graphs). The name stays when no other value of the model has it, else gets a
// suffix. So every layer weight is a main-graph initializer (layerNodes): statistics, pruning, quantization
// and the sensitivity sweep reach the layers of silero-vad's sample-rate branches. Subgraphs are copied where
// they change (they are shared between copies of a model). Returns the number of weights moved.
int hoistSubgraphWeights(Model &model);

// Replaces each If of the main graph whose condition `conditions` holds (value name -> its elements, one for a
// condition) by the nodes of the branch it takes, and an Identity per output that gives the branch's outputs the
// If's names. Names the branch defines that the model uses elsewhere are renamed. The caller sorts the graph
// (Graph::sortTopologically). Returns the number of Ifs replaced.
int inlineKnownIfs(Model &model, const std::map<std::string, std::vector<int64_t>> &conditions);

// The float values of a layer's integer weight (graph.h, integerLayerWeights): (W_q - zero point) * scale,
// per tensor, per index along the axis or per block, exact in float32.
Tensor dequantizeLayerWeight(const Graph &graph, const IntegerLayerWeight &weight);

// Turns quantized layers back into float layers, so that a model quantized by this tool or elsewhere can be
// inspected and compressed again (pruned, quantized to other bit-widths and granularities):
//  - a weight-only layer's DequantizeLinear(W_q, scale, zp) becomes an initializer holding its values, under
//    the name the layer reads;
//  - onnxruntime's dynamic quantization, DynamicQuantizeLinear(x) -> ConvInteger / MatMulInteger(x_q, W_q,
//    x_zp, w_zp) -> Cast(float) -> Mul(., Mul(x_scale, w_scale)), becomes Conv / MatMul(x, W), named as the
//    integer node and producing the Mul's output. The float layer computes what the integer one approximates
//    (without the activation rounding).
// QLinearConv, QLinearMatMul and QGemm stay as they are. Nodes and initializers left unused go. Value shapes are
// not updated: run inferShapes afterwards. Returns the layers rewritten.
// Each rewritten layer remembers how its weight was stored, in internal attributes (the bits its integers use,
// the granularity — 0 tensor, 1 channel, 2 group — the group size, symmetric or not), so that a recipe that
// does not quantize it keeps that quantization (planLayers, compress/recipe.h); clearStoredMarks removes them.
int dequantizeIntegerLayers(Model &model);
inline constexpr const char *kStoredBits = "_stored_bits", *kStoredGranularity = "_stored_granularity",
                            *kStoredGroup = "_stored_group", *kStoredSymmetric = "_stored_symmetric";
void clearStoredMarks(Model &model);

// Returns the widened initializers with their original types (empty when the model has none to widen).
std::map<std::string, DType> widenLayerWeights(Model &model);
void narrowLayerWeights(Model &model, const std::map<std::string, DType> &widened);

// The form analyses read layer weights in: 16-bit weights widened (widenLayerWeights, the original types in
// *widened) and quantized layers made float (dequantizeIntegerLayers, their count in *dequantized). Value
// shapes of rewritten layers are not updated (compressionForm, compress/recipe.h, also infers them).
Model floatWeightForm(const Model &model, std::map<std::string, DType> *widened = nullptr, int *dequantized = nullptr);

} // namespace cw
