// Batch-parallel runs: the part of a graph in which every sample is computed on its own, found from the operators
// and the inferred shapes, so that a Session with several threads can give each thread a part of the batch for
// the whole of that region, not a part of each operator. Every operator split across threads hands its output to
// the next one split differently: on this machine's two cores a cheap element-wise node after a split convolution
// took two to three times as long as on one thread, reading half its input from the other core's cache, and each
// node paid a hand-over.
//
// The batch is the leading dimension's symbol of the first graph input that has one ("batch", "N"); a value's batch
// axis is where that symbol stands in its inferred shape (a recurrent state [2, batch, 128] has it second). A node
// is batch-local when its output for sample n depends on sample n of its inputs only: its inputs are batched values
// (graph inputs with the symbol, outputs of batch-local nodes) or fixed ones (constants, and what the graph
// computes per run from inputs without the batch, such as a sample rate, which every part computes alike), each
// output has the symbol once, and its operator, with these attributes, keeps the batch axis apart: a convolution or
// Gemm with the batch leading, an element-wise operator whose fixed inputs broadcast over it, a Reshape that keeps
// it leading, a reduction, Concat, Slice or Gather along other axes, any Transpose, a recurrent layer over its own
// samples. Whatever reads a batched value otherwise (a reduction over the whole tensor, Shape, control flow, an
// operator without a rule here) is outside, and so is everything after it.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/graph/graph.h"

namespace cw {

// How a value that leaves the region is put together from the parts' values.
struct Joint {
    enum class Kind {
        Batch, // joined along `axis`, its batch axis
        Alike, // the same in every part (a size other than the batch's): the first part's
        Size,  // sizes whose element `axis` is the part's size (-1: the scalar itself): the first part's, with the
               // whole batch's size there
    };
    Kind kind = Kind::Batch;
    int axis = 0;
};

struct BatchRegion {
    std::vector<char> local;           // per node of the graph
    std::vector<int> inputAxes;        // per graph input: its batch axis, -1 for one without the batch
    std::vector<std::string> frontier; // values of local nodes that are graph outputs or read by other nodes
    std::vector<Joint> joints;         // how each is joined
    bool empty() const;
};

// g: a graph whose values have inferred shapes (runtime/shape_inference.h). constant(name): the tensor a value
// holds on every run (an initializer, a folded value), or null. implicit: per node, the values its subgraphs read.
// Empty when no graph input leads with a symbol, or the region holds no product (Conv, Gemm, MatMul, a recurrent
// layer): splitting cheap nodes alone does not pay.
BatchRegion batchRegion(const Graph &g, const std::function<const Tensor *(const std::string &)> &constant,
                        const std::vector<std::vector<std::string>> &implicit);

// A copy of `model` for one run's sizes, keeping the batch symbolic: every other symbolic dimension of the graph
// inputs takes its size in `inputShapes` (one per graph input), but one the file leaves unnamed that has the
// batch's size in an input without the batch becomes the batch too (silero-vad's state [2, state_dim1, 128]
// beside its input [N, samples]): a split only cuts axes of equal size together, which every rule above keeps
// apart whatever they mean, and the run checks the sizes. Then each If whose condition is known is replaced
// by the branch it takes, repeatedly (core/graph/transform.h): PyTorch's exports test a size or a rank this
// way (squeeze the time axis when it is 1, unsqueeze an unbatched input), and an If whose outputs' ranks
// depend on such a test stops a batch region, with everything after it. nullopt when nothing changes, or the
// sizes contradict the graph.
std::optional<Model> specializeSizes(const Model &model, const std::vector<Shape> &inputShapes);
// Whether specializeSizes may change the graph: it has a batch symbol and an If, or an unnamed input dimension.
bool specializable(const Graph &g);

// Samples [begin, end) along the batch axis (a copy).
Tensor batchRows(const Tensor &t, int axis, int64_t begin, int64_t end);
// A frontier value of the whole batch (`batch` samples) from the parts' values, in order (for Kind::Batch,
// alike but for their size along the axis).
Tensor join(const std::vector<const Tensor *> &parts, const Joint &joint, int64_t batch);

} // namespace cw
