// Weight statistics per layer and per output channel, and histograms — what the Inspect view and
// `cwb stats` show before anything is compressed.
//
// A "layer" is a node with a float weight initializer (Conv, ConvTranspose, Gemm, MatMul, ...): its first
// float initializer input of rank >= 2 (Model::layers()' weightName); its output channels are on outputChannelAxis (graph.h).
// A quantized model's layers are layers too, with the float values of their integer weights: those a
// DequantizeLinear feeds, dynamic-int8 ConvInteger / MatMulInteger, QLinearConv, QLinearMatMul and QGemm
// (integerLayerWeights); 16-bit weights count in float32 (floatWeightForm, graph/transform.h).
// Moments are merged from per-chunk partial sums, so the layers are processed in parallel in one sweep
// over the weights (plus a second sweep for the outlier count, which needs the mean and std). NaN and Inf
// are counted and excluded from every other statistic.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/graph/graph.h"

namespace cw {

struct TensorStats {
    int64_t count = 0;          // finite values
    int64_t nanCount = 0, infCount = 0;
    double min = 0, max = 0, mean = 0, std = 0; // std: population standard deviation
    double absMax = 0;
    double kurtosis = 0;        // excess kurtosis (0 for a normal distribution; 0 when std = 0)
    double zeroFraction = 0;    // exact zeros / count
    double outlierFraction = 0; // |w - mean| > k * std, / count (0 when std = 0)
};

// Statistics of n values; outlierK is the k of the outlier rule.
TensorStats computeTensorStats(const float *data, int64_t n, double outlierK = 3.0);

struct LayerStats {
    std::string name;    // node name
    std::string op;      // op type
    std::string tensor;  // weight initializer name in the source file
    Shape shape;
    int channelAxis = 0;
    int64_t params = 0;  // weight elements
    TensorStats all;
    std::vector<TensorStats> channels; // per output channel
    // How the file stores a quantized layer's weight (integerLayerWeights, graph.h); the statistics above are
    // of its float values, (q - zero point) * scale.
    struct Stored {
        std::string op;            // the node reading the integers: DequantizeLinear, QLinearConv, ConvInteger, ...
        DType dtype = DType::Int8; // Int8 or UInt8
        int32_t qmin = 0, qmax = 0; // the smallest and largest integer stored
        int32_t zeroPointMin = 0, zeroPointMax = 0;
        int bits = 0;              // what the stored range needs: ceil(log2(qmax - qmin + 1))
        int64_t scales = 0;        // 1 (per tensor), one per output channel, or one per block
        int64_t blockSize = 0;
        double scaleMin = 0, scaleMax = 0;
    };
    std::optional<Stored> stored;
};

struct StatsOptions {
    double outlierK = 3.0;
    bool perChannel = true;
    int threads = 0;     // 0 = all hardware threads
    std::string layer;   // only this node ("" = all layers); unknown name -> cw::Error
};

std::vector<LayerStats> computeLayerStats(const Model &model, const StatsOptions &options = {});

// What LayerStats::stored says of one integer weight of `graph`; nullopt for an empty one.
std::optional<LayerStats::Stored> storedLevels(const Graph &graph, const IntegerLayerWeight &weight);
// The bytes such a weight takes as the native .h5 keeps it: the integers at the bits they use (bit-packed), the
// scales and the zero points.
int64_t storedWeightBytes(const Graph &graph, const IntegerLayerWeight &weight);

struct Histogram {
    double lo = 0, hi = 0;          // range covered; bin i spans [lo + i*w, lo + (i+1)*w), the last bin includes hi
    std::vector<int64_t> counts;
    int64_t nanCount = 0, infCount = 0;
    int64_t below = 0, above = 0;   // finite values outside [lo, hi]
    double binWidth() const { return counts.empty() ? 0 : (hi - lo) / double(counts.size()); }
};

// bins >= 1. With lo == hi == 0 the range is the finite min / max of the data (a constant tensor gets a
// unit-wide range centred on its value, so it still draws as one bar).
Histogram computeHistogram(const float *data, int64_t n, int bins, double lo = 0, double hi = 0);
// The same range in `bins` bins (>= 1): each bin's count goes to the new bin holding its centre.
Histogram rebinHistogram(const Histogram &histogram, int bins);

} // namespace cw
