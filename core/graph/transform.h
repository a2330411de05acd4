// Graph transformations that keep a model's function and change its form.
//
// foldBatchNorm(): a BatchNormalization (inference form) right after a Conv or Gemm is an affine map per
// output channel, so it can be absorbed into that layer's weight and bias:
//   s = scale / sqrt(var + epsilon),  W'[m, ...] = s[m] * W[m, ...],  b'[m] = s[m] * (b[m] - mean[m]) + B[m].
// Folded weights are new buffers (Models sharing the old ones are not affected).
#pragma once

#include "core/graph/graph.h"

namespace cw {

// Folds every BatchNormalization whose input comes from a Conv or Gemm whose output has no other consumer
// (and is not a graph output), with all BN parameters and the layer's weight / bias held in initializers
// used by that layer only. The layer takes over the BN's output name, the BN node is removed, and BN
// initializers no other node uses are dropped. A Conv without bias gets one ("<node>.bias"); a folded
// Gemm gets beta = 1 and a [N] bias. Returns the number of BN nodes folded.
int foldBatchNorm(Model &model);

} // namespace cw
