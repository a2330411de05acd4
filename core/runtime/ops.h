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
// float16 / bfloat16: kernels are written for float32 (and the integer types). findKernel wraps each kernel so
// that 16-bit float inputs arrive widened to float32 and float32 outputs leave rounded back to the node's
// float type (ops.cpp); only the operators that move bytes (Reshape, Concat, Gather, ...) and the casts see
// the 16-bit values themselves.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/base/tensor.h"
#include "core/graph/graph.h"

namespace cw {

struct SparseWeight; // ops/sparse.h
class Session;       // session.h

struct OpContext {
    const Node &node;
    std::vector<const Tensor *> inputs; // nullptr for an omitted optional input
    std::vector<Tensor> outputs;        // one per node output, filled by the kernel
    int threads = 1;                    // threads the kernel may use (OpenMP num_threads)
    // CSR form of the node's constant weight, set by the Session when it is sparse enough (ops/sparse.h).
    const SparseWeight *sparse = nullptr;
    // Control flow (If, Loop, Scan): a Session per subgraph attribute, by attribute name, and the values of
    // the enclosing graph the subgraphs read (implicitInputs(node)), by name.
    const std::map<std::string, std::shared_ptr<const Session>> *subgraphs = nullptr;
    std::map<std::string, const Tensor *> outerValues{};

    bool hasInput(int index) const { return index < int(inputs.size()) && inputs[size_t(index)] != nullptr; }
    const Tensor &input(int index) const; // fails if missing
    // Throws cw::Error(message); the session adds node, op type and file.
    [[noreturn]] void fail(const std::string &message) const;
};

// A kernel: a plain function when registered; findKernel may hand out a wrapper around it (see above).
using OpKernel = std::function<void(OpContext &ctx)>;
using KernelTable = std::map<std::string, OpKernel>;

// nullptr when the op type is not supported.
OpKernel findKernel(const std::string &opType);
// Kernel of an op type in a domain: "" / "ai.onnx" as above; other domains are registered as
// "<domain>:<OpType>" (com.microsoft:QGemm). nullptr when not supported.
OpKernel findKernel(const std::string &opType, const std::string &domain);
std::vector<std::string> supportedOps();

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
                                                 // QLinearMatMul, ConvInteger, MatMulInteger, com.microsoft:QGemm
                                                 // (ops/quant.cpp)

} // namespace cw
