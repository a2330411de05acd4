// Session: executes a Model's graph in topological order on the CPU.
//
// Construction validates the graph (every op supported, every input produced) and plans the run: the
// execution order and, for each intermediate value, the step after which it can be freed. Nodes whose
// inputs are all initializers (a weight's DequantizeLinear, shape arithmetic on constants) run once here
// (constant folding); their outputs are kept with the session, so a weight changed in place afterwards is
// not seen by them: build a new Session after editing weights. run() is const
// and thread-safe (no values are kept between runs; the unfused plan below is built once, under a once-flag), so
// one Session can serve several threads.
//
// A float16 / bfloat16 model runs, by default, in float32 between nodes (runtime/half_floats.h): both plans below
// start from that form of the graph; model() stays the graph as given.
//
// For inference the Session runs an optimised copy of the graph (runtime/fusion.h: BatchNormalization folded
// into the layer before it, activations fused into convolutions), which also means a folded weight is a copy:
// build a new Session after editing weights. runAll(), and a run() that names a value the fusions removed
// (as an output or a feed), run the graph as it is, on a second plan built the first time one is needed.
// With several threads, a run of the graph outputs on a batch gives each thread a part of the batch through the
// nodes that keep samples apart (runtime/batch_split.h) and runs the rest on the joined values; for a graph with
// Ifs or unnamed input sizes, on a copy specialised to the run's sizes but the batch, where the Ifs that tested
// them are gone and an unnamed size equal to the batch's is the batch.
// Failures name the node, its op type and the model's source file.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/base/tensor.h"
#include "core/graph/graph.h"
#include "core/runtime/batch_split.h"
#include "core/runtime/half_floats.h"

namespace cw {

struct SparseWeight; // ops/sparse.h
struct OpContext;    // ops.h
struct PreparedSlot; // ops.h

// The time a Session's kernels take node by node, summed over runs and over the threads of a batch-parallel run:
// given to a Session through SessionOptions::profile, and shared with the copies it makes of itself (specialised to
// a run's sizes, the unfused plan), not with its subgraphs', whose time is their If's or Loop's. A node is the
// executed graph's (a fused node stands for the nodes fused into it), known by its first output. Thread-safe.
class NodeProfile {
public:
    struct Entry {
        std::string name; // the node's name, or its first output's where it has none
        std::string opType;
        double seconds = 0;
    };
    void add(const Node &node, double seconds);
    std::vector<Entry> entries() const; // in the order the nodes first ran
    void clear();

private:
    mutable std::mutex m_mutex;
    std::vector<Entry> m_entries;
    std::unordered_map<std::string, size_t> m_index; // by first output
};

struct SessionOptions {
    int threads = 0;     // 0 = all hardware threads
    int outerInputs = 0; // a subgraph's Session: its last graph inputs are values of the enclosing graph,
                         // taken as they come (any dtype and shape)
    bool fuse = true;    // run the optimised graph where it serves (runtime/fusion.h)
    // A float16 / bfloat16 model: in float32 between nodes, or rounded at every node (runtime/half_floats.h).
    HalfFloats halfFloats = HalfFloats::Float32;
    // The Session serves a single run (`cwb run`): the convolutions skip Winograd, whose transformed weights cost
    // memory (about four times the weights) and, made on the first call, more time than they save in one run.
    bool runOnce = false;
    // A run on several threads may give each thread a part of the batch (runtime/batch_split.h). Off for Loop and
    // Scan bodies, whose value shapes are only what the file declares.
    bool splitBatch = true;
    // A batch-parallel run of a graph with Ifs or unnamed input sizes, whose batch region leaves nodes out, may run
    // a copy specialised to its inputs' sizes but the batch (specializeSizes, runtime/batch_split.h), built on the
    // first run with those sizes (not for runOnce). Off for that copy.
    bool specialize = true;
    // Times every kernel call into this profile (NodeProfile); null: not timed.
    std::shared_ptr<NodeProfile> profile = nullptr;
};

class Session {
public:
    explicit Session(Model model, SessionOptions options = {});

    const Model &model() const { return m_model; } // the graph as given (never the fused one)
    // The graph run() executes when the values it is given and asked for are all values of it (the fused one
    // for an inference Session): where a caller that feeds intermediate values should take them from.
    const Graph &executedGraph() const { return executed().graph; }
    int threads() const { return m_threads; }

    // Runs the graph. feeds: graph input name -> tensor. outputs: names to return (default: graph outputs).
    std::map<std::string, Tensor> run(const std::map<std::string, Tensor> &feeds,
                                      const std::vector<std::string> &outputs = {}) const;
    // First graph input -> first graph output.
    Tensor run(const Tensor &input) const;
    // Every value computed (graph inputs and initializers included), for training and activation statistics.
    std::map<std::string, Tensor> runAll(const std::map<std::string, Tensor> &feeds) const;

    // Memory, measured rather than estimated: the bytes this Session holds for every run — the weights of the
    // graph it runs and the values folded at construction (a weight-only quantized layer's float weight) — and
    // the largest total of intermediate values alive at once during a run on `feeds` (a buffer two values share
    // counted once; the feeds, the kernels' scratch space, the CSR forms of sparse weights and oneDNN's reordered
    // copies of int8 weights in its primitive cache not counted).
    int64_t constantBytes() const;
    int64_t peakIntermediateBytes(const std::map<std::string, Tensor> &feeds) const;

private:
    // peak: when given, receives the largest total of intermediate bytes alive at once. threads: the kernels'
    // (0: the Session's).
    std::map<std::string, Tensor> execute(const std::map<std::string, Tensor> &feeds,
                                          const std::vector<std::string> &wanted, bool keepAll,
                                          int64_t *peak = nullptr, int threads = 0) const;
    // The run of the graph outputs on parts of the batch, one per thread, through the batch-local region (the
    // rest on the joined values); false when it does not apply (one thread, one sample, other feeds or outputs).
    bool runSplit(const std::map<std::string, Tensor> &feeds, const std::vector<std::string> &wanted,
                  std::map<std::string, Tensor> &result) const;
    // The Session of the graph specialised to these feeds' sizes (SessionOptions::specialize), or null.
    const Session *specialized(const std::map<std::string, Tensor> &feeds,
                               const std::vector<std::string> &wanted) const;
    // Per node: whether the values `wanted` depend on it, values `given` not recomputed.
    std::vector<char> neededNodes(const std::set<std::string> &wanted,
                                  const std::function<bool(const std::string &)> &given) const;
    // The graph both plans start from: the float32-arithmetic form of a 16-bit model, else m_model.
    const Model &base() const { return m_float32 ? *m_float32 : m_model; }
    // The graph this Session's plan runs: the fused one when fusion changed anything, else base().
    const Model &executed() const { return m_fused ? *m_fused : base(); }
    // The Session of the unfused graph, for what the fused one cannot serve (built on first use).
    const Session &unfused() const;
    Model m_model;
    SessionOptions m_options;
    std::unique_ptr<const Model> m_float32;
    std::unique_ptr<const Model> m_fused;
    // Values of m_model that the optimised plan does not have (fused away, or folded into a weight) or holds as
    // constants inside its subgraphs' Sessions: fed or asked for by name, the unfused plan serves them.
    std::set<std::string> m_fusedAway;
    mutable std::once_flag m_unfusedOnce;
    mutable std::unique_ptr<const Session> m_unfused;
    int m_threads = 1;
    int m_outerInputs = 0;
    // The run plan over value slots: every value the executed graph names has an index, so that a run keeps its
    // values in a vector rather than looking each up by name at every node.
    std::unordered_map<std::string, int> m_slotOf;
    std::vector<std::string> m_slotNames;
    struct Step {
        std::function<void(OpContext &)> kernel; // resolved once (findKernel)
        std::vector<int> inputs, outputs;        // slots, -1 for an omitted one
        // Per input: the initializer or folded value it reads (null for a value computed per run); a run that
        // feeds such a value by name reads the feed instead.
        std::vector<const Tensor *> constants;
        std::vector<int> implicit; // slots of m_implicit, with their constants
        std::vector<const Tensor *> implicitConstants;
        std::vector<int> freeAfter; // intermediates whose last reader this node is
    };
    std::vector<Step> m_steps;
    std::vector<int> m_inputSlots;  // per graph input
    bool m_outputsServed = true;    // no graph output is in m_fusedAway
    // A run of these values from the graph inputs alone: their slots (-1: not a value of the plan, an
    // initializer) and, per node, whether they depend on it. For the graph outputs, and for the batch region's
    // frontier (empty when the Session does not split the batch).
    struct WantedPlan {
        std::vector<std::string> names;
        std::vector<int> valueSlots;
        std::vector<char> needed;
    };
    WantedPlan m_outputsPlan, m_frontierPlan;
    std::vector<char> m_folded;                   // per node: already run at construction
    std::map<std::string, Tensor> m_foldedValues; // outputs of the folded nodes
    // Per node: the CSR form of a sparse constant weight, built once here (ops/sparse.h), or null.
    std::vector<std::shared_ptr<const SparseWeight>> m_sparse;
    // Per node: what its kernel parsed of its attributes (OpContext::prepared).
    std::shared_ptr<PreparedSlot[]> m_prepared;
    // Per node: an element-wise reader of blocked activations (runtime/blocked.h); the values that may be blocked.
    std::vector<char> m_blockedReader;
    std::vector<char> m_blockedSlot;
    // Per node: the values its subgraphs read from this graph, and a Session per subgraph attribute.
    std::vector<std::vector<std::string>> m_implicit;
    std::vector<std::map<std::string, std::shared_ptr<const Session>>> m_subgraphs;
    // The nodes a batch-parallel run gives each thread (runtime/batch_split.h).
    BatchRegion m_batchRegion;
    // Sessions of the graph specialised to the sizes of earlier runs (at most kMaxSpecialized), by those sizes
    // with the batch as -1; null where specialising changed nothing. m_batchDims: per graph input, its dimensions
    // that are the batch; empty when the Session does not specialise.
    std::vector<std::vector<size_t>> m_batchDims;
    mutable std::mutex m_specializedMutex;
    mutable std::map<std::vector<Shape>, std::shared_ptr<const Session>> m_specialized;
};

// Runs a subgraph's Session (OpContext::subgraphs): `formal` feeds the subgraph's own inputs in order, `outer`
// the values it reads from the enclosing graph. Returns its outputs in order.
std::vector<Tensor> runSubgraph(const Session &session, const std::vector<Tensor> &formal,
                                const std::map<std::string, const Tensor *> &outer);

struct OpSupport; // ops.h

// A node the engine cannot run: its operator has no kernel (`kernel` null), or its kernel does not cover the
// opset the node is read at (nodeOpsetVersion).
struct UnsupportedNode {
    std::string name, opType, domain; // domain "" for the default one
    int64_t opset = 0;
    const OpSupport *kernel = nullptr; // the kernel's opset range, when there is a kernel
    std::string subgraph;              // "" at the top level, else the top-level node whose subgraph holds it
    // "node 'x' (Gelu at opset 17; supported at opsets 20–22)", "node 'y' (Foo of domain 'd' version 1)"
    std::string describe() const;
};

// Every such node of the model, subgraphs included, in graph order (what a view marks as blocking).
std::vector<UnsupportedNode> unsupportedNodes(const Model &model);

// Throws cw::Error naming every unsupported node (up to five, then a count) and the file; nothing when all
// nodes are supported.
void requireKernels(const Model &model);

// The opset of its own domain a node is read at: for the default domain the "_opset" the ONNX importer
// stored, else the model's opsetVersion; for another domain Model::domainOpsets (1 when not imported).
int64_t nodeOpsetVersion(const Node &node, const Model &model);

struct OpContext; // ops.h

// Runs a node's kernel on ctx (outputs sized here); a failure is rethrown with describeNode as its prefix.
void runNode(const Node &node, OpContext &ctx, const Model &model);

// Prefix used in error messages: "node 'conv1' (Conv) in 'model.onnx'".
std::string describeNode(const Node &node, const Model &model);

} // namespace cw
