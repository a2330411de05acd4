// Feeds: one concrete tensor for every graph input, for the analyses that run a model (latency, evaluation,
// sensitivity, activation statistics, `cwb run`).
//
// Models declare inputs with symbolic dimensions ([batch, sequence], a recurrent state [2, batch, 64], a scalar
// sample rate); a run needs sizes. For each graph input, in this order:
//   1. a tensor the caller gives (FeedOptions::tensors: a file, a dataset batch) is used as it is;
//   2. otherwise the input gets a concrete shape and is filled with FeedOptions::values[name] when there is one,
//      else with seeded random data of its dtype.
// The concrete shape of an input that is not given comes from
//   - FeedOptions::shapes[input] (`--shape NAME=d0,d1,...`): its whole shape, checked against the declared one;
//   - else its declaration, with each symbol resolved consistently across inputs: a symbol such as "batch" has
//     one size for every input. A symbol's size is fixed by a given tensor or an explicit input shape in which
//     it occurs, by FeedOptions::shapes[symbol] (`--shape sequence=512`), or, for the batch symbol only, by
//     FeedOptions::batch (default 1). Two sources that disagree are an error naming both.
// A symbol in FeedOptions::sameSize takes the size of the symbol it names once either is fixed.
// The batch symbol is the leading dimension of the first graph input whose leading dimension is symbolic
// (silero-vad's "batch", an unnamed leading dimension "N"). A symbol nothing fixes throws cw::Error naming the
// input, its declared shape and the symbol, and suggesting --shape.
//
// Random data: float inputs (float32, float16, bfloat16) uniform in [-1, 1); uint8 inputs, which is also how
// ONNX bool inputs are held, 0 or 1; other integer inputs (int8, int32, int64) uniform integers in [0, 9]:
// small non-negative values are valid indices, token ids and counts. An input whose value matters to the
// model (silero-vad's sample rate `sr`, which selects the 8 kHz or 16 kHz branch) needs a given tensor or a
// value (`--value sr=16000`). The data depends only on the seed, the input's position in the graph, its dtype
// and its shape, so runs are reproducible.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/base/tensor.h"
#include "core/graph/graph.h"

namespace cw {

struct FeedOptions {
    std::map<std::string, Tensor> tensors; // graph input name -> the data it is fed
    std::map<std::string, double> values;  // graph input name -> every element of it (cast to its dtype)
    // A graph input's name -> its whole concrete shape; or a dimension symbol's name -> {its size}. A name that
    // is both an input and a symbol means the input.
    std::map<std::string, Shape> shapes;
    // A dimension symbol -> another symbol whose size it has in every run (`--shape state_dim1=N`): for models
    // that declare one dimension under two names, such as silero-vad's state [2, state_dim1, 128] whose
    // state_dim1 is the batch N of its input [N, samples].
    std::map<std::string, std::string> sameSize;
    int64_t batch = 0; // size of the batch symbol; 0: as the tensors and shapes fix it, else 1
    uint64_t seed = 1;
};

// Where an input's data comes from.
enum class FeedSource { Given, Value, Random };

struct ResolvedInput {
    std::string name;
    DType dtype = DType::Float32;
    Shape shape; // concrete
    FeedSource source = FeedSource::Random;
};

struct FeedPlan {
    std::vector<ResolvedInput> inputs;      // in graph-input order
    std::map<std::string, int64_t> symbols; // every symbol of the inputs' declarations, resolved
    std::string batchSymbol;                // "" when no input has a symbolic leading dimension
    int64_t batch = 1; // the batch symbol's size; without one, the first input's leading size (1 for a scalar)
};

// The concrete shape and source of every graph input, without making data. Throws cw::Error for a name in
// `options` that is neither a graph input nor (for shapes) a symbol, an explicit shape that contradicts the
// declaration, two sources giving one symbol different sizes, and a symbol nothing fixes.
FeedPlan planFeeds(const Graph &graph, const FeedOptions &options);

// The feeds themselves: the plan's inputs with the given tensors, the values or the random data.
std::map<std::string, Tensor> makeFeeds(const Graph &graph, const FeedOptions &options);
std::map<std::string, Tensor> makeFeeds(const FeedPlan &plan, const FeedOptions &options);

// The feeds of one dataset batch: `batch` for the first graph input (through fittedRows, io/dataset.h), the others as
// `options` make them, so their batch symbol follows the batch's size. `options` may not name the first input
// (cw::Error); its batch is ignored. Samples that do not fit the first input's declared shape throw cw::Error
// naming both sample shapes.
std::map<std::string, Tensor> makeBatchFeeds(const Graph &graph, const FeedOptions &options, const Tensor &batch);
// That check alone: cw::Error when dataset rows `batch` do not fit the first graph input (fittedRows).
void requireRowsFit(const Graph &graph, const Tensor &batch);

// `options` with the dimension symbols of the first graph input's non-leading axes bound to the sizes of the
// dataset rows `rows` (through conformBatch) where nothing binds them yet, so that runs made without the dataset
// (latency) use the size its samples have: an audio model declared [batch, samples] is timed on clips of the
// dataset's length. Symbols already given a size and inputs given a shape or data are left alone.
FeedOptions withSampleShape(const Graph &graph, FeedOptions options, const Tensor &rows);

// Rows per dataset batch: `wanted`, or the fixed leading size of the first graph input when it has one (a model
// exported for batch 1 is evaluated one sample at a time).
int64_t datasetBatchSize(const Graph &graph, int64_t wanted);

// The sizes that concrete shapes of graph inputs give the symbols of their declarations, the batch symbol
// excepted, as FeedOptions::shapes entries (symbol -> {size}); an input that declares no shape keeps its whole
// shape (input -> shape). They fix a model's other dimensions for runs whose batch is set elsewhere (a dataset
// batch, a benchmark's batch): the GUI's input editor feeds every job this way. Throws cw::Error for a name that
// is not a graph input, a shape whose rank or fixed sizes differ from the declaration, a size below 1, and two
// sizes for one symbol.
FeedOptions symbolSizes(const Graph &graph, const std::map<std::string, Shape> &inputShapes);

// The first graph input's declared shape with the sizes `options` give: its whole shape when options.shapes
// names it, else each symbol that options.shapes sizes (itself or through sameSize) replaced by its size
// (others stay -1); empty when the graph has no input or the first declares no shape and none is given. Image folders are cropped to its height and width.
Shape firstInputShape(const Graph &graph, const FeedOptions &options);

// The symbols of the graph inputs' declarations, the batch symbol excepted, that neither `options` (a given
// tensor, an input's or the symbol's shape) nor, with firstFromData, the first input (which a dataset batch
// feeds) fixes; in order of first appearance. A run with these options fails for want of their sizes.
std::vector<std::string> unsizedSymbols(const Graph &graph, const FeedOptions &options, bool firstFromData);

// Seeded random data of a dtype and shape, as described above (`stream` separates the inputs of one seed).
Tensor randomFeed(DType dtype, const Shape &shape, uint64_t seed, uint64_t stream = 0);

} // namespace cw
