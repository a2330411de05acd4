// Seeded weight initialisation: the same seed gives the same weights on every platform.
#pragma once

#include <cstdint>

#include "core/base/tensor.h"
#include "core/graph/graph.h"

namespace cw {

// Standard normal samples from splitmix64 + Box-Muller.
class SeededNormal {
public:
    explicit SeededNormal(uint64_t seed);
    double uniform(); // (0, 1)
    double next();

private:
    uint64_t m_state;
};

// A float32 tensor of N(0, 2 / fanIn) samples (He et al.).
Tensor heNormal(const Shape &shape, int64_t fanIn, SeededNormal &rng);

// Fresh weights for every layer of `model` (a student trained from scratch): the float32 weight of every Conv,
// Gemm and MatMul layer He-initialised, their biases zero, BatchNormalization back to the identity (scale 1,
// shift 0, mean 0, variance 1). Returns the number of layers initialised.
int heInitialize(Model &model, uint64_t seed);

} // namespace cw
