// Batch-parallel runs: the part of a graph in which every sample is computed on its own, found from the operators
// and the inferred shapes, so that a Session with several threads can give each thread a part of the batch for
// the whole of that region, not a part of each operator. Every operator split across threads hands its output to
// the next one split differently: on this machine's two cores a cheap element-wise node after a split convolution
// took two to three times as long as on one thread, reading half its input from the other core's cache, and each
// node paid a hand-over.
//
// A node is batch-local when its output for sample n depends on sample n of its inputs only: its inputs are
// batched values (the graph inputs, whose leading dimension is the batch symbol, and the outputs of batch-local
// nodes) or constants, every output has the batch symbol as its leading dimension, and its operator, with these
// attributes, keeps the leading axis apart (a convolution, an element-wise operator whose constants broadcast over
// the batch, a Reshape that keeps the batch leading, a reduction that leaves the batch axis alone, ...). Whatever
// reads a batched value otherwise (a reduction over the whole tensor, Shape, a recurrent layer, control flow, an
// operator without a rule here) is outside, and so is everything after it.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/graph/graph.h"

namespace cw {

struct BatchRegion {
    std::vector<char> local;           // per node of the graph
    std::vector<std::string> frontier; // values of local nodes that are graph outputs or read by other nodes
    bool empty() const;
};

// g: a graph whose values have inferred shapes (runtime/shape_inference.h). constant(name): the tensor a value
// holds on every run (an initializer, a folded value), or null. implicit: per node, the values its subgraphs read.
// Empty when the graph inputs do not all lead with one batch symbol.
BatchRegion batchRegion(const Graph &g, const std::function<const Tensor *(const std::string &)> &constant,
                        const std::vector<std::vector<std::string>> &implicit);

// Samples [begin, end) of a tensor whose leading axis is the batch (a copy).
Tensor batchRows(const Tensor &t, int64_t begin, int64_t end);
// The parts' samples in order: parts alike but for their leading size.
Tensor joinBatch(const std::vector<const Tensor *> &parts);

} // namespace cw
