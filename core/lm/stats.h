// Weight statistics of a language model's tensors, one tensor at a time (read from the mapped checkpoint and
// dequantized on demand): what Inspect shows for a transformer. Besides the moments and the histogram of
// core/analysis/stats.h: each row's range (a row is an output channel of a [out, in] matrix) and each column's
// largest magnitude (an input channel), with the outlier columns, those far above the typical column: the
// channels that make a language model hard to quantize with one scale per row.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/analysis/stats.h"
#include "core/lm/model.h"

namespace cw::lm {

struct WeightStats {
    std::string name;
    Shape shape;      // as the runner uses it (readTensor): [out, in] for a matrix
    std::string type; // as stored: "F32", "Q4_K", ...
    TensorStats all;
    Histogram histogram;
    std::vector<float> rowMin, rowMax;   // per row (output channel); one row for a vector
    std::vector<float> columnAbsMax;     // per column (input channel) of a matrix; empty for a vector
    float typicalColumnAbsMax = 0;       // the median of columnAbsMax
    std::vector<int64_t> outlierColumns; // columnAbsMax > outlierFactor * typicalColumnAbsMax, largest first
};

// cw::Error for a name the model does not have. The tensor is viewed as [rows, last dimension].
WeightStats weightStats(const LanguageModel &model, const std::string &name, int bins = 128, double outlierFactor = 6.0);

} // namespace cw::lm
