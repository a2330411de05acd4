// Operator kernels, by ONNX op type (default domain).
//
// A kernel validates shapes and attributes first and calls ctx.fail() with a message on bad input; then it
// computes over Eigen maps of the input buffers. Kernels never modify their inputs; they may return a view
// of an input (Reshape, Flatten, Identity). The Session prefixes every failure with the node name, op type
// and model file, so kernels only say what is wrong ("input 1 has 3 channels, weight expects 4").
//
// Each family of operators registers itself in the table from one function (no static initialisers, so
// nothing is dropped by the static linker).
//
// Opsets. Each registration names the versions of the operator's schema (their since_version) the kernel
// implements, each on purpose: {reluOp, {6, 13, 14}} runs Relu-6, Relu-13 and Relu-14. A model imports one
// opset per domain; a node at opset N uses the schema version in effect at N (the largest since_version
// <= N), so the kernel covers opsets max(kMinOpset, first version) .. maxOpset. maxOpset is kMaxOpset unless
// a later version changed the operator in a way the kernel does not implement; then it is the opset before
// that version. A version counts as implemented when its attributes, inputs, outputs and defaults are;
// element types are a separate matter (a kernel refuses a type it does not compute, naming it), and the
// options a kernel refuses at run time are listed in `limits`. kMaxOpset is the newest default-domain opset
// the whole table has been checked against (ONNX's changelog); models declaring a newer one are refused at
// import. Other domains are versioned on their own: com.microsoft operators are all version 1.
// tests/test_opsets.cpp checks every range against the schema history (tests/tools/onnx_op_versions.py);
// docs/ops.md is `cwb ops --markdown`.
//
// float16 / bfloat16: kernels are written for float32 (and the integer types). findKernel wraps each kernel so
// that 16-bit float inputs arrive widened to float32 and float32 outputs leave rounded back to the node's
// float type (ops.cpp); only the operators that move bytes (Reshape, Concat, Gather, ...) and the casts see
// the 16-bit values themselves.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/base/tensor.h"
#include "core/graph/graph.h"

namespace cw {

struct SparseWeight; // ops/sparse.h
class Session;       // session.h

// A node's slot for what its kernel reads of the node's attributes (OpContext::prepared): a Session keeps one per
// node, filled on the node's first run.
// `made` / `constantsMade` are set, with release, once `value` / `constants` are: a node's call reads them first and
// enters std::call_once only before that (libstdc++'s call_once sets two thread-locals and calls pthread_once each
// time, a measurable part of a node of a small model).
// preparedFromConstants() keeps one object per type asked for (a kernel may ask for its weights' identity and for
// them packed), up to kConstantKinds: the first `constantsCount` entries are made, each tagged with its type's key;
// they are read without the lock, which guards only adding one.
struct PreparedSlot {
    static constexpr int kConstantKinds = 4;
    std::once_flag once;
    std::atomic<bool> made{false};
    std::shared_ptr<const void> value;
    std::mutex constantsMutex;
    std::atomic<int> constantsCount{0};
    std::array<std::pair<const void *, std::shared_ptr<const void>>, kConstantKinds> constants;
};

// A key per type: the address of its own variable.
template <class T> inline constexpr char kPreparedKey = 0;

struct OpContext {
    const Node &node;
    std::vector<const Tensor *> inputs; // nullptr for an omitted optional input
    std::vector<Tensor> outputs;        // one per node output, filled by the kernel
    int threads = 1;                    // threads the kernel may use (OpenMP num_threads)
    // CSR form of the node's constant weight, set by the Session when it is sparse enough (ops/sparse.h).
    const SparseWeight *sparse = nullptr;
    // Set by a Session: no input is written in place while the Session lives (its weights are packed once per
    // buffer); kernels called directly (training, gradient checks) may see weights change in place.
    bool constantInputs = false;
    // Set by a Session: bit k when input k is, on this run, the Session's own constant (an initializer or a value
    // folded at construction; not a feed that overrides it), the same tensor on every run while it lives.
    uint64_t constantMask = 0;
    // Set by a Session built for one run (SessionOptions::runOnce): no algorithm that pays back over many
    // calls (Winograd's weight transform).
    bool runOnce = false;
    // Control flow (If, Loop, Scan): a Session per subgraph attribute, by attribute name, and the values of
    // the enclosing graph the subgraphs read (implicitInputs(node)), by name.
    const std::map<std::string, std::shared_ptr<const Session>> *subgraphs = nullptr;
    std::map<std::string, const Tensor *> outerValues{};

    // Set by a Session: this node's slot for prepared().
    PreparedSlot *slot = nullptr;
    std::shared_ptr<const void> preparedHere{}; // prepared()'s value without a slot

    // What make() parses of the node's attributes (never of its inputs, which a run may feed anew), made on the
    // node's first run in a Session and kept for the next ones: a small model's run takes microseconds, and
    // looking attributes up by name on every call was a measurable part of it. Called outside a Session
    // (training, gradient checks) it is made on every call. One type T per kernel.
    template <class T, class Make>
    const T &prepared(Make &&make)
    {
        if (!slot) {
            preparedHere = std::make_shared<const T>(make());
            return *static_cast<const T *>(preparedHere.get());
        }
        if (!slot->made.load(std::memory_order_acquire))
            std::call_once(slot->once, [&] {
                slot->value = std::make_shared<const T>(make());
                slot->made.store(true, std::memory_order_release);
            });
        return *static_cast<const T *>(slot->value.get());
    }

    // What make() derives from the node's attributes and the inputs `indices`, made once per Session when those
    // inputs are all its constants (constantMask) or omitted, and kept, e.g. weights packed for a kernel: packing
    // them, or recognising packed ones by their bytes, on every call was a measurable part of a small model's run.
    // nullptr when any of them is not a constant this run, or outside a Session: the caller then works from the
    // inputs as they are. One object per type T (PreparedSlot::kConstantKinds at most; nullptr past them).
    template <class T, class Make>
    const T *preparedFromConstants(std::initializer_list<int> indices, Make &&make)
    {
        if (!slot)
            return nullptr;
        for (int i : indices)
            if (hasInput(i) && (i >= 64 || !(constantMask >> i & 1)))
                return nullptr;
        const void *key = &kPreparedKey<T>;
        const auto find = [&](int count) -> const T * {
            for (int k = 0; k < count; ++k)
                if (slot->constants[size_t(k)].first == key)
                    return static_cast<const T *>(slot->constants[size_t(k)].second.get());
            return nullptr;
        };
        if (const T *made = find(slot->constantsCount.load(std::memory_order_acquire)))
            return made;
        std::lock_guard lock(slot->constantsMutex);
        const int count = slot->constantsCount.load(std::memory_order_relaxed);
        if (const T *made = find(count))
            return made;
        if (count == PreparedSlot::kConstantKinds)
            return nullptr;
        slot->constants[size_t(count)] = {key, std::make_shared<const T>(make())};
        slot->constantsCount.store(count + 1, std::memory_order_release);
        return static_cast<const T *>(slot->constants[size_t(count)].second.get());
    }

    bool hasInput(int index) const { return index < int(inputs.size()) && inputs[size_t(index)] != nullptr; }
    const Tensor &input(int index) const; // fails if missing
    // Throws cw::Error(message); the session adds node, op type and file.
    [[noreturn]] void fail(const std::string &message) const;
};

// The default-domain opsets a model may declare (older ones are refused at import, see above for newer ones).
constexpr int64_t kMinOpset = 9;
constexpr int64_t kMaxOpset = 22;

// A kernel: a plain function when registered; findKernel may hand out a wrapper around it (see above).
using OpKernel = std::function<void(OpContext &ctx)>;

// One registration: the kernel, the schema versions it implements, the last opset it covers.
struct KernelEntry {
    OpKernel kernel;
    std::vector<int64_t> versions; // since_versions implemented, ascending
    int64_t maxOpset = kMaxOpset;
    const char *limits = "";       // what the kernel refuses at run time, for docs/ops.md
};
using KernelTable = std::map<std::string, KernelEntry>;

// What `cwb ops` lists: an operator of a domain ("" is the default ONNX domain) and the opsets of that domain
// its kernel covers.
struct OpSupport {
    std::string name, domain;
    int64_t minOpset = 0, maxOpset = 0;
    std::vector<int64_t> versions;
    std::string limits;
};

// nullptr when the op type is not supported.
OpKernel findKernel(const std::string &opType);
// Kernel of an op type in a domain: "" / "ai.onnx" as above; other domains are registered as
// "<domain>:<OpType>" (com.microsoft:QGemm). nullptr when not supported.
OpKernel findKernel(const std::string &opType, const std::string &domain);
// Registered names: "Relu", "com.microsoft:QGemm".
std::vector<std::string> supportedOps();
// Every registered operator with its opset range, default domain first, then by domain and name.
const std::vector<OpSupport> &opSupport();
// The opset range of a registered operator; nullptr when it has no kernel at all.
const OpSupport *findOpSupport(const std::string &opType, const std::string &domain);

// Families (ops/*.cpp).
void registerMathOps(KernelTable &table);        // Gemm, MatMul, Einsum, Add, Sub, Mul, Div, Pow, Mod, Min, Max, Sum,
                                                 // Mean, Equal, Less, Greater, LessOrEqual, GreaterOrEqual, Where, Not,
                                                 // And, Or, Xor, Sqrt, Exp, Log, Erf, Floor, Ceil, Reciprocal, Neg, Abs,
                                                 // Sign
void registerReduceOps(KernelTable &table);      // ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1,
                                                 // ReduceL2, ReduceLogSum, ReduceLogSumExp, ReduceSumSquare, ArgMax,
                                                 // ArgMin, CumSum, TopK
void registerActivationOps(KernelTable &table);  // Relu, Clip, LeakyRelu, Elu, Selu, PRelu, Sigmoid, Tanh, HardSigmoid,
                                                 // HardSwish, Gelu, Softplus, Softsign, Softmax, LogSoftmax
void registerConvOps(KernelTable &table);        // Conv, ConvTranspose, BatchNormalization, InstanceNormalization,
                                                 // LayerNormalization
void registerPoolOps(KernelTable &table);        // MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool
void registerShapeOps(KernelTable &table);       // Flatten, Reshape, Transpose, Concat, Split, Slice, Squeeze, Unsqueeze,
                                                 // Pad, Resize, Constant, Identity, Dropout, Cast, CastLike, Shape, Size,
                                                 // Gather, GatherElements, ConstantOfShape, Range, Expand, Tile
void registerRecurrentOps(KernelTable &table);   // LSTM, GRU, RNN
void registerControlOps(KernelTable &table);     // If, Loop, Scan (ops/control.cpp)
void registerQuantOps(KernelTable &table);       // QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, QLinearConv,
                                                 // QLinearMatMul, ConvInteger, MatMulInteger; com.microsoft: QGemm,
                                                 // QLinearAdd, QLinearMul, QLinearLeakyRelu, QLinearSigmoid,
                                                 // QLinearGlobalAveragePool, QLinearAveragePool, QLinearConcat,
                                                 // QLinearSoftmax (ops/quant.cpp)

} // namespace cw
