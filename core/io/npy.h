// The .npy reader's row-limited form (not a public header: dataset.h declares readNpy and the .npz reader).
#pragma once

#include <cstdint>
#include <string>

#include "core/base/tensor.h"

namespace cw {

// The first maxRows rows of a .npy array (all of them when maxRows is 0 or the array has no more), read without the
// rest: the first sample of a large training file is checked without reading it whole. The file must still hold the
// whole declared array. declaredRows, when given, receives the array's first dimension as the header declares it.
Tensor readNpyRows(const std::string &path, int64_t maxRows, int64_t *declaredRows = nullptr);

} // namespace cw
