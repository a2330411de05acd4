// Graph model: named nodes in ONNX's vocabulary, initializers (weights), graph inputs and outputs.
//
// A Model is a value: copying it copies the graph and shares the weight buffers (Tensor copies are
// shallow); call Model::deepCopy() before mutating weights of a copy. Every node has a unique name:
// the importers generate "<OpType>_<index>" where a file has none. Value shapes are filled in at load
// time by inferShapes() (core/runtime/shape_inference.h), with symbolic dimensions where sizes vary.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/tensor.h"

namespace cw {

struct Graph;

struct Attribute {
    enum class Kind { Int, Float, String, Ints, Floats, Strings, Tensor, Graph };
    Kind kind = Kind::Int;
    int64_t i = 0;
    float f = 0.f;
    std::string s;
    std::vector<int64_t> ints;
    std::vector<float> floats;
    std::vector<std::string> strings;
    cw::Tensor t;
    // A subgraph (If's branches, Loop's and Scan's body). Shared between copies of the model and never
    // modified once built.
    std::shared_ptr<const cw::Graph> graph;

    static Attribute makeInt(int64_t v);
    static Attribute makeFloat(float v);
    static Attribute makeString(std::string v);
    static Attribute makeInts(std::vector<int64_t> v);
    static Attribute makeFloats(std::vector<float> v);
    static Attribute makeTensor(cw::Tensor v);
    static Attribute makeGraph(cw::Graph g);
};

// A node's attributes by name; looked up by string_view without building a string (kernels read them per call).
using Attributes = std::map<std::string, Attribute, std::less<>>;

// The ONNX default operator set's domain: "" or "ai.onnx".
inline bool isDefaultDomain(const std::string &domain)
{
    return domain.empty() || domain == "ai.onnx";
}

struct Node {
    std::string name;
    std::string opType;
    std::string domain; // "" = ai.onnx
    std::vector<std::string> inputs;  // "" marks an omitted optional input
    std::vector<std::string> outputs;
    Attributes attrs;

    bool hasAttr(std::string_view key) const { return attrs.count(key) != 0; }
    // Typed attribute access; a present attribute of the wrong kind throws cw::Error naming the node.
    int64_t attrInt(std::string_view key, int64_t fallback) const;
    float attrFloat(std::string_view key, float fallback) const;
    std::string attrString(std::string_view key, const std::string &fallback) const;
    std::vector<int64_t> attrInts(std::string_view key, const std::vector<int64_t> &fallback = {}) const;
    std::vector<float> attrFloats(std::string_view key, const std::vector<float> &fallback = {}) const;
    // Number of inputs actually given (trailing "" not counted).
    int inputCount() const;
    bool hasInput(int index) const { return index < int(inputs.size()) && !inputs[size_t(index)].empty(); }
    // The node's subgraphs in attribute-name order (If: else_branch, then_branch; Loop, Scan: body).
    std::vector<const Graph *> subgraphs() const;
    const Graph *subgraph(const std::string &key) const; // null when the node has no such graph attribute
};

// What is known of a value before any run: its dtype and its static shape, in which a dimension is a number or
// a symbol (core/runtime/shape_inference.h).
struct ValueInfo {
    std::string name;
    DType dtype = DType::Float32;
    Shape shape;                       // -1: a dimension without a fixed size
    bool shapeKnown = false;           // false: not even the rank is known
    std::vector<std::string> dimNames; // the symbol of each -1 dimension ("batch", "ceil(height/2)"); may be
                                       // shorter than shape, "" or missing: unnamed

    // The symbol of dimension d ("" when it is a number or unnamed).
    std::string dimName(size_t d) const { return d < dimNames.size() && shape[d] < 0 ? dimNames[d] : std::string(); }
};

// "[batch, 3, height, width]": numbers, symbols, "N" for an unnamed dimension; "?" when the shape is unknown.
std::string shapeToString(const ValueInfo &value);

// The name a dimension of a declared input is bound under: its symbol, or for an unnamed one "N" when leading,
// else "<input>_dim<k>"; "" for a fixed dimension.
std::string symbolOf(const ValueInfo &input, size_t d);

struct Graph {
    std::string name;
    std::vector<Node> nodes; // in a valid topological order after sortTopologically()
    std::map<std::string, Tensor> initializers;
    std::vector<ValueInfo> inputs;  // real inputs only (initializers excluded)
    std::vector<ValueInfo> outputs;
    std::map<std::string, ValueInfo> values; // inferred shapes of every value, by name

    const Node *findNode(const std::string &name) const;
    Node *findNode(const std::string &name);
    // The node producing a value, or nullptr for graph inputs and initializers.
    const Node *producer(const std::string &value) const;
    std::vector<const Node *> consumers(const std::string &value) const;
    bool isInitializer(const std::string &value) const { return initializers.count(value) != 0; }
    // What is known of a value: values[value], else the graph input / output of that name, else a ValueInfo
    // with only the name (unknown shape).
    ValueInfo valueInfo(const std::string &value) const;
    // Reorders nodes so each runs after its producers (the values a node's subgraphs read from this graph
    // count as its inputs); throws cw::Error on a cycle or a missing input. `outer`: names a subgraph may
    // read from its enclosing graphs.
    void sortTopologically(const std::set<std::string> &outer = {});
    // Gives every unnamed node a unique "<OpType>_<index>" name; renames duplicates.
    void ensureUniqueNodeNames();
    int64_t parameterCount() const;  // elements in all initializers
    size_t parameterBytes() const;   // bytes of all initializers
};

// The batch symbol of a graph: the leading dimension's symbol (symbolOf) of the first graph input whose leading
// dimension is symbolic (silero-vad's "batch", an unnamed leading dimension "N"); "" when there is none.
std::string batchSymbol(const Graph &graph);

// The weight a layer compresses: for Conv, ConvTranspose, Gemm and MatMul, the node's first float32
// initializer input of rank >= 2; "" for every other node and for a layer without one (a constant operand of
// an element-wise Max or Mul is not a layer weight, nor are BatchNormalization's vectors). layerNodes applies it
// to the whole model (subgraphs too) for statistics, sensitivity, recipes and the quantization rewrite; the
// Inspect view applies it to the top-level nodes.
std::string layerWeight(const Graph &graph, const Node &node);

// A compressible layer: a node with a layerWeight in the main graph, or a node inside a control-flow subgraph
// (If's branches, Loop's and Scan's body, at any depth) whose weight, as layerWeight defines it, is a main-graph
// initializer the subgraph reads by outer-scope reference (hoistSubgraphWeights, core/graph/transform.h, moves
// a subgraph's own weights there at load). Such a nested layer is compressed weight-only: its weight is
// pruned or quantized where it is stored, and the subgraph is left as it is.
struct LayerNode {
    const Node *node = nullptr;
    std::string weight; // a main-graph initializer
    size_t top = 0;     // index in graph.nodes of the node itself or of the control-flow node containing it
    bool nested = false;
};
// Every layer of `graph` (a main graph): in node order, a control-flow node's nested layers right after the
// layers before it. A weight belongs to one layer: a nested node whose weight a main-graph layer or an earlier
// nested one has is left out, and so is a nested node without a name or whose name another node of the model
// has (layers are found by name). Nested 16-bit weights are not layers (only main-graph ones are widened).
std::vector<LayerNode> layerNodes(const Graph &graph);
// The layer named `name` among layerNodes(graph); null when there is none.
std::optional<LayerNode> findLayer(const Graph &graph, const std::string &name);
// A main-graph node of that name, else a nested layer's node; null when neither exists.
const Node *findLayerNode(const Graph &graph, const std::string &name);

// A layer whose weight the model stores as integers, as the file has it:
//   weight-only:  DequantizeLinear(W_q, scale[, zero point]) producing the weight of a Conv, ConvTranspose, Gemm
//                 or MatMul (the variants this tool writes, onnxruntime's QDQ files; `axis`, and opset 21's
//                 `block_size` in the native .h5), or the opset-17 form of a blocked one that ONNX export
//                 writes: Reshape(W_q, [.., G, B, ..]) -> Cast(float) -> Sub(zero point) -> Mul(scale) -> Reshape;
//   integer ops:  QLinearConv, QLinearMatMul and com.microsoft QGemm, whose inputs are the weight, its scale and
//                 zero point; ConvInteger / MatMulInteger after a DynamicQuantizeLinear, whose weight scale is
//                 an operand of the Mul that rescales their Cast output (onnxruntime's dynamic quantization,
//                 dynamicQuantChain).
// The integer weight, its scale and zero point are main-graph initializers. `layer` names the node whose
// weight it is; the float layer dequantizeIntegerLayers (transform.h) makes of it keeps that name.
struct IntegerLayerWeight {
    std::string layer;
    std::string op;                  // DequantizeLinear (weight-only), QLinearConv, ConvInteger, ...
    std::vector<std::string> dequantize; // weight-only: the nodes from the integers to the weight, the last
                                         // producing `value`, the float weight the layer reads
    std::string value;
    std::string q, scale, zeroPoint; // initializers (the scale and zero point hold one value per scale, in
                                     // order, in whatever shape); zeroPoint "" means 0
    int axis = -1;                   // the axis of q the scales run along; -1: one scale
    int64_t blockSize = 0;           // > 0: one scale per block of blockSize along `axis`
};
// In node order (main graph only).
std::vector<IntegerLayerWeight> integerLayerWeights(const Graph &graph);
// An integer tensor's smallest and largest value and the bits that range needs: ceil(log2(max - min + 1)), at
// least 1 (−7…7: 4; 0…255: 8). One pass; an empty tensor gives 0, 0 and 1 bit.
struct IntegerRange {
    int32_t min = 0, max = 0;
    int bits = 1;
};
IntegerRange integerRange(const Tensor &q);

// onnxruntime's dynamic quantization around a ConvInteger / MatMulInteger `n`:
//   DynamicQuantizeLinear(x) -> n(x_q, W_q, x_zp, w_zp) -> Cast(float) -> Mul(., Mul(x_scale, w_scale)),
// with W_q, w_zp and w_scale initializers; nullopt when `n` is not in that form.
struct DynamicQuantChain {
    const Node *quantize = nullptr, *cast = nullptr, *mul = nullptr, *scaleMul = nullptr;
    std::string weightScale;
};
std::optional<DynamicQuantChain> dynamicQuantChain(const Graph &graph, const Node &n);

// The axis of a layer's weight that indexes output channels: 0, except ConvTranspose (1, per group) and Gemm
// with transB = 0 / MatMul (the last axis); 0 for weights of rank < 2.
int outputChannelAxis(const Node &node, const Shape &weightShape);

// The output-channel and reduction axes of a layer's weight (Conv, ConvTranspose, Gemm, MatMul): the reduction
// axis is the one quantization groups are cut along (Conv: 1, ConvTranspose: 0, Gemm / MatMul: the other of
// the two matrix axes).
void layerAxes(const Node &node, const Shape &weightShape, int *channelAxis, int *reductionAxis);

// The values of the enclosing graph a control-flow node's subgraphs read (ONNX's outer-scope references),
// sorted: for scheduling they are inputs of the node like its explicit ones.
std::vector<std::string> implicitInputs(const Node &node);
// The names a graph reads without defining them (neither its inputs, initializers nor node outputs).
std::vector<std::string> outerNames(const Graph &graph);

// Per-node summary used by `cwb info` and the layer table.
struct LayerInfo {
    std::string name;
    std::string opType;
    std::vector<ValueInfo> inputs;   // non-initializer inputs (name, dtype, static shape)
    std::vector<ValueInfo> outputs;
    std::string weightName;          // first initializer input (the weight), "" if none
    Shape weightShape;
    int64_t params = 0;              // elements of the node's initializer inputs
    size_t bytes = 0;
};
// layers(): one per node, except that a weight-only quantized layer's DequantizeLinear (integerLayerWeights)
// has none: its integer weight, scale and zero point are the layer's. A quantized layer's weightName is its
// integer weight.

struct Model {
    Graph graph;
    int64_t opsetVersion = 17; // of the default domain; nodes imported from ONNX also carry it as "_opset"
    // The opsets of the other domains the ONNX file imports ("com.microsoft" -> 1); absent means version 1.
    std::map<std::string, int64_t> domainOpsets;
    std::string producerName;
    std::string sourcePath;  // file it was read from, "demo", ...
    std::map<std::string, std::string> metadata;
    // Analysis results kept with the model (name -> JSON text, e.g. "sensitivity"): saved in the native .h5
    // as /analysis, ignored by ONNX export.
    std::map<std::string, std::string> analysis;

    Model deepCopy() const;
    std::vector<LayerInfo> layers() const;
};

} // namespace cw
