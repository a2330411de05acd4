// Pooling geometry and the max pool over planes, shared by the pooling kernels (ops/pool.cpp) and a Conv with a
// MaxPool fused into it (ops/conv.cpp, runtime/fusion.h). Not a public header.
#pragma once

#include <cstdint>
#include <string>

#include "core/base/tensor.h"
#include "core/graph/graph.h"

namespace cw::ops {

struct PoolGeometry {
    int64_t N = 0, C = 0, inH = 1, inW = 1, outH = 1, outW = 1;
    int64_t kH = 1, kW = 1, sH = 1, sW = 1, dH = 1, dW = 1;
    int64_t padT = 0, padL = 0, padB = 0, padR = 0;
    bool oneD = false;
};

// The geometry of a pooling node over an input of `shape` ([N, C, H, W] or [N, C, L]), from the node's attributes
// kernel_shape, strides, dilations, pads, auto_pad and ceil_mode, each read as `prefix` + its name. Throws
// cw::Error on an inconsistent geometry.
PoolGeometry poolGeometry(const Node &node, const std::string &prefix, const Shape &shape);

// The max pool of `planes` planes of g's geometry, each element `lanes` values side by side (1: plain planes; 8 or
// 16: the planes of a blocked activation, runtime/blocked.h), from src into dst.
void maxPoolPlanes(const float *src, const PoolGeometry &g, int64_t planes, int64_t lanes, float *dst, int threads);

// The max pool of uint8 or int8 values x of g's geometry, plain [N, C, H, W] or channel-last [N, 1, H, W, C]
// (runtime/blocked.h), in the same layout (a QLinearConv with a MaxPool fused into it, ops/quant.cpp).
Tensor maxPoolIntegers(const Tensor &x, const PoolGeometry &g, bool channelsLast, int threads);

} // namespace cw::ops
