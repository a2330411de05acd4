// Activation range calibration: the clipping range [lo, hi] of an 8-bit activation grid, chosen from the
// values an activation takes on calibration samples.
//
// Methods (recipe "quantize.activations.calibration"):
//   minmax     — the observed minimum and maximum;
//   percentile — the p-th percentile of the values (one-sided tensors: of x; two-sided: of |x|, giving a
//                range symmetric about zero, clipped to the observed range);
//   mse        — the range that minimises the mean squared quantization error (rounding inside, clipping
//                outside) over a 2048-bin histogram, searched over 1..2048 bins of the range;
//   entropy    — TensorRT's KL-divergence calibration: for each candidate threshold i (from `levels` to 2048
//                bins), the reference distribution P (bins below i, the outliers folded into bin i - 1) is
//                merged into `levels` quantization bins and expanded back over its non-empty bins as Q; the
//                threshold with the smallest KL(P || Q) wins, at the upper edge of its last bin.
// A tensor whose values are all >= 0 (after ReLU) is one-sided: its range is [0, hi] on all 2^bits levels; a
// two-sided tensor uses a histogram of |x| and 2^(bits-1) levels per side. Every range contains 0 (so the
// zero point is exact: padding and ReLU zeros stay exact), and a constant or empty tensor gets a range of
// width > 0.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/analysis/feeds.h"
#include "core/base/progress.h"
#include "core/compress/recipe.h"
#include "core/io/dataset.h"
#include "core/runtime/session.h"

namespace cw {

// values: samples of the activation (finite values); observedMin / observedMax: the exact extremes over every
// element seen (values may be a strided subset). bits: levels = 2^bits.
ActivationRange calibrateRange(const std::vector<float> &values, double observedMin, double observedMax,
                               Calibration method, double percentile = 99.99, int bits = 8);

// The histogram both mse and entropy work on: 2048 bins over [0, top] of x (one-sided) or |x|.
std::vector<double> calibrationHistogram(const std::vector<float> &values, double top, int bins = 2048);
// The threshold (in bins, 1..bins) the entropy method picks on a histogram, for 2^bits / 2 or 2^bits levels.
int entropyThresholdBins(const std::vector<double> &histogram, int levels);

// Runs `session` on the first `samples` rows of `data` (the graph inputs after the first fed as `inputs`
// makes them, feeds.h) and calibrates every named value with `config`.
std::map<std::string, ActivationRange> calibrateActivations(const Session &session, const Dataset &data,
                                                            const std::vector<std::string> &values,
                                                            const ActivationQuantConfig &config,
                                                            const FeedOptions &inputs = {},
                                                            const StopToken *stop = nullptr,
                                                            const ProgressFn &progress = {});

} // namespace cw
